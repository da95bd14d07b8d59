package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/archive"
	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/engine/events"
	engineimages "github.com/berth-project/berth/internal/engine/images"
	"github.com/berth-project/berth/internal/hello"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/oci"
	"github.com/berth-project/berth/internal/snapshot"
	"github.com/berth-project/berth/internal/snapshot/native"
	"github.com/berth-project/berth/internal/snapshot/overlay"
	"github.com/berth-project/berth/internal/testbundle"
)

// openImages opens the content and image stores and the snapshotter
// (overlay, or plain copies where overlayfs does not work) under
// dataRoot, and the image service over them.
func openImages(dataRoot string, bus *events.Bus, vols engineimages.VolumeUsage) (*engineimages.Service, snapshot.Snapshotter, error) {
	cs, err := content.New(filepath.Join(dataRoot, "content"))
	if err != nil {
		return nil, nil, fmt.Errorf("content store: %w", err)
	}
	store, err := image.NewStore(dataRoot, cs)
	if err != nil {
		return nil, nil, err
	}
	sn, err := overlay.NewOverlay(filepath.Join(dataRoot, "snapshots", "overlay"))
	if err != nil {
		if sn, err = native.NewNative(filepath.Join(dataRoot, "snapshots", "native")); err != nil {
			return nil, nil, fmt.Errorf("snapshotter: %w", err)
		}
	}
	// Unpacks a killed daemon left halfway (this daemon owns dataRoot).
	if _, err := image.RemoveStaleExtractions(context.Background(), sn, 0); err != nil {
		return nil, nil, fmt.Errorf("remove stale extractions: %w", err)
	}
	return engineimages.New(engineimages.Config{Store: store, Snapshotter: sn, Events: bus, Volumes: vols}), sn, nil
}

// seedBusybox imports a busybox image made from the host's static
// busybox when the store has no "busybox" yet, so that berth runs
// something offline from the first start.
func seedBusybox(ctx context.Context, store *image.Store) error {
	if _, err := store.Resolve(ctx, "busybox"); err == nil {
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
	if _, err := store.Import(ctx, pr, image.CommitOptions{Name: "busybox:latest", Config: cfg, Comment: "busybox from the host's busybox-static"}); err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("import busybox: %w", err)
	}
	return nil
}

// seedHello stores the built-in hello image (internal/hello) when the
// store has no "hello" yet.
func seedHello(ctx context.Context, store *image.Store) error {
	if !hello.Available() {
		return nil
	}
	if _, err := store.Resolve(ctx, hello.Name); err == nil {
		return nil
	}
	cfg := &image.RunConfig{ImageConfig: ocispec.ImageConfig{Cmd: hello.Cmd}}
	_, err := store.Import(ctx, bytes.NewReader(hello.Layer()), image.CommitOptions{
		Name: hello.Name, Config: cfg, Created: hello.Created, Comment: "berth's built-in hello image",
	})
	if err != nil {
		return fmt.Errorf("store the hello image: %w", err)
	}
	return nil
}

// countImages counts the images (image IDs, named or not, as Docker
// counts them), for /info.
func countImages(store *image.Store) func(context.Context) int {
	return func(ctx context.Context) int {
		list, err := store.List(ctx)
		if err != nil {
			return 0
		}
		ids := map[digest.Digest]bool{}
		for _, img := range list {
			ids[store.ID(ctx, img)] = true
		}
		return len(ids)
	}
}
