package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	engine "github.com/berth-project/berth/internal/engine/containers"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/oci"
	"github.com/berth-project/berth/internal/testbundle"
)

// dirImages serves images that are plain directories (for now: a busybox
// root filesystem made from the host's busybox-static), with an overlay
// writable layer per container. It stands in for the image store until
// that one can unpack images into snapshots; both sit behind
// containers.Images.
type dirImages struct {
	root   string // <data-root>/dirimages
	layers string // <data-root>/layers
	mu     sync.Mutex
	images map[string]dirImage // by name
}

type dirImage struct {
	id     string
	dir    string
	config ocispec.ImageConfig
}

func newDirImages(dataRoot string) (*dirImages, error) {
	d := &dirImages{
		root:   filepath.Join(dataRoot, "dirimages"),
		layers: filepath.Join(dataRoot, "layers"),
		images: map[string]dirImage{},
	}
	for _, p := range []string{d.root, d.layers} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			return nil, err
		}
	}
	if err := d.addBusybox(); err != nil {
		return nil, err
	}
	return d, nil
}

// addBusybox registers "busybox" from the host's static busybox.
func (d *dirImages) addBusybox() error {
	dir := filepath.Join(d.root, "busybox")
	if _, err := os.Stat(filepath.Join(dir, "bin", "busybox")); err != nil {
		if _, err := testbundle.Busybox(); err != nil {
			return nil // no busybox on this host: no built-in image
		}
		tmp := dir + ".tmp"
		os.RemoveAll(tmp)
		if err := testbundle.Rootfs(tmp); err != nil {
			return fmt.Errorf("make busybox image: %w", err)
		}
		os.RemoveAll(dir)
		if err := os.Rename(tmp, dir); err != nil {
			return err
		}
	}
	sum := sha256.Sum256([]byte("berth-dirimage:busybox"))
	d.images["busybox"] = dirImage{
		id:  "sha256:" + hex.EncodeToString(sum[:]),
		dir: dir,
		config: ocispec.ImageConfig{
			Env: []string{"PATH=" + oci.DefaultPath},
			Cmd: []string{"sh"},
		},
	}
	return nil
}

func normalizeRef(ref string) string {
	ref = strings.TrimPrefix(ref, "docker.io/")
	ref = strings.TrimPrefix(ref, "library/")
	return strings.TrimSuffix(ref, ":latest")
}

func (d *dirImages) Resolve(_ context.Context, ref string) (engine.Image, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if img, ok := d.images[normalizeRef(ref)]; ok {
		return engine.Image{ID: img.id, Ref: ref, Config: img.config}, nil
	}
	for _, img := range d.images {
		if img.id == ref || strings.HasPrefix(strings.TrimPrefix(img.id, "sha256:"), ref) {
			return engine.Image{ID: img.id, Ref: ref, Config: img.config}, nil
		}
	}
	return engine.Image{}, errdefs.NotFoundf("No such image: %s", ref)
}

func (d *dirImages) byID(id string) (dirImage, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, img := range d.images {
		if img.id == id {
			return img, true
		}
	}
	return dirImage{}, false
}

func (d *dirImages) Mount(_ context.Context, containerID, imageID, target string) error {
	if isMountpoint(target) {
		return nil
	}
	img, ok := d.byID(imageID)
	if !ok {
		return errdefs.NotFoundf("No such image: %s", imageID)
	}
	layer := filepath.Join(d.layers, containerID)
	upper, work := filepath.Join(layer, "upper"), filepath.Join(layer, "work")
	for _, p := range []string{upper, work} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", img.dir, upper, work)
	if err := unix.Mount("overlay", target, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount overlay on %s: %w", target, err)
	}
	return nil
}

func (d *dirImages) Unmount(_ context.Context, _ string, target string) error {
	for isMountpoint(target) {
		if err := unix.Unmount(target, 0); err != nil {
			if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
				return fmt.Errorf("unmount %s: %w", target, err)
			}
		}
	}
	return nil
}

func (d *dirImages) Release(_ context.Context, containerID string) error {
	return os.RemoveAll(filepath.Join(d.layers, containerID))
}

func (d *dirImages) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.images)
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
