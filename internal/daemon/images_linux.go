package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/archive"
	"github.com/berth-project/berth/internal/content"
	engine "github.com/berth-project/berth/internal/engine/containers"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/mount"
	"github.com/berth-project/berth/internal/oci"
	"github.com/berth-project/berth/internal/snapshot"
	"github.com/berth-project/berth/internal/snapshot/native"
	"github.com/berth-project/berth/internal/snapshot/overlay"
	"github.com/berth-project/berth/internal/testbundle"
)

// images adapts the image store and a snapshotter to what containers
// need: an image is resolved in the store, unpacked into snapshots on
// first use, and each container gets an active snapshot on top.
type images struct {
	store *image.Store
	sn    snapshot.Snapshotter
}

// openImages opens the content and image stores and the snapshotter
// (overlay, or plain copies where overlayfs does not work) under
// dataRoot.
func openImages(dataRoot string) (*images, error) {
	cs, err := content.New(filepath.Join(dataRoot, "content"))
	if err != nil {
		return nil, fmt.Errorf("content store: %w", err)
	}
	store, err := image.NewStore(dataRoot, cs)
	if err != nil {
		return nil, err
	}
	sn, err := overlay.NewOverlay(filepath.Join(dataRoot, "snapshots", "overlay"))
	if err != nil {
		if sn, err = native.NewNative(filepath.Join(dataRoot, "snapshots", "native")); err != nil {
			return nil, fmt.Errorf("snapshotter: %w", err)
		}
	}
	return &images{store: store, sn: sn}, nil
}

func (i *images) Close() error { return i.sn.Close() }

// seedBusybox imports a busybox image made from the host's static
// busybox when the store has no "busybox" yet, so that berth runs
// something offline from the first start.
func (i *images) seedBusybox(ctx context.Context) error {
	if _, err := i.store.Resolve(ctx, "busybox"); err == nil {
		return nil
	}
	if _, err := testbundle.Busybox(); err != nil {
		return nil // no busybox-static on this host
	}
	dir, err := os.MkdirTemp("", "berth-busybox-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := testbundle.Rootfs(dir); err != nil {
		return fmt.Errorf("busybox rootfs: %w", err)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(archive.Tar(ctx, dir, pw)) }()
	cfg := &image.RunConfig{ImageConfig: ocispec.ImageConfig{Env: []string{"PATH=" + oci.DefaultPath}, Cmd: []string{"sh"}}}
	if _, err := i.store.Import(ctx, pr, image.CommitOptions{Name: "busybox:latest", Config: cfg, Comment: "busybox from the host's busybox-static"}); err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("import busybox: %w", err)
	}
	return nil
}

func (i *images) count(ctx context.Context) int {
	list, err := i.store.List(ctx)
	if err != nil {
		return 0
	}
	n := 0
	for _, img := range list {
		if !img.Dangling() {
			n++
		}
	}
	return n
}

func (i *images) Resolve(ctx context.Context, ref string) (engine.Image, error) {
	img, err := i.store.Resolve(ctx, ref)
	if err != nil {
		if errors.Is(err, image.ErrNotFound) {
			return engine.Image{}, errdefs.NotFoundf("No such image: %s", ref)
		}
		return engine.Image{}, err
	}
	r, err := image.Resolve(ctx, i.store.Content(), img.Target, i.store.Platform())
	if err != nil {
		return engine.Image{}, fmt.Errorf("resolve %s: %w", ref, err)
	}
	out := engine.Image{ID: r.ID().String(), Ref: ref, Config: r.Config.Config.ImageConfig}
	if h := r.Config.Config.Healthcheck; h != nil {
		out.Healthcheck = &dockerspec.HealthcheckConfig{
			Test: h.Test, Interval: time.Duration(h.Interval), Timeout: time.Duration(h.Timeout),
			StartPeriod: time.Duration(h.StartPeriod), StartInterval: time.Duration(h.StartInterval), Retries: h.Retries,
		}
	}
	return out, nil
}

func snapshotKey(containerID string) string { return "container-" + containerID }

func (i *images) Mount(ctx context.Context, containerID, imageID, target string) error {
	if isMountpoint(target) {
		return nil
	}
	key := snapshotKey(containerID)
	mounts, err := i.sn.Mounts(ctx, key)
	if errors.Is(err, snapshot.ErrNotFound) {
		chain, uerr := i.store.Unpack(ctx, i.sn, imageID)
		if uerr != nil {
			return fmt.Errorf("unpack %s: %w", imageID, uerr)
		}
		mounts, err = i.sn.Prepare(ctx, key, chain.String(), nil)
	}
	if err != nil {
		return fmt.Errorf("prepare rootfs: %w", err)
	}
	return mount.All(mounts, target)
}

func (i *images) Unmount(_ context.Context, _ string, target string) error {
	return mount.UnmountAll(target)
}

func (i *images) Release(ctx context.Context, containerID string) error {
	if err := i.sn.Remove(ctx, snapshotKey(containerID)); err != nil && !errors.Is(err, snapshot.ErrNotFound) {
		return fmt.Errorf("remove rootfs snapshot: %w", err)
	}
	return nil
}

// isMountpoint reports whether path is the root of a mount (its device
// differs from its parent's).
func isMountpoint(path string) bool {
	var st, pst unix.Stat_t
	if unix.Lstat(path, &st) != nil || unix.Lstat(filepath.Dir(path), &pst) != nil {
		return false
	}
	return st.Dev != pst.Dev
}
