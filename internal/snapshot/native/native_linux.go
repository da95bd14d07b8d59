// Package native is a Snapshotter that makes every snapshot a full copy of
// its parent, for filesystems where overlayfs cannot be used. Layers are
// applied into the copy with archive.ApplyOptions{Overlay: false}, which
// deletes whited-out files directly.
package native

import (
	"context"
	"fmt"
	"os"

	"github.com/berth-project/berth/internal/mount"
	"github.com/berth-project/berth/internal/snapshot"
	"github.com/berth-project/berth/internal/snapshot/storage"
)

// NewNative returns a plain-copy snapshotter storing its data under root.
func NewNative(root string) (snapshot.Snapshotter, error) {
	s, err := storage.New(root, &driver{root: root})
	if err != nil {
		return nil, fmt.Errorf("native snapshotter: %w", err)
	}
	return s, nil
}

type driver struct{ root string }

func (d *driver) Overlay() bool { return false }

func (d *driver) Create(ctx context.Context, id string, kind snapshot.Kind, parents []string) error {
	dst := storage.FSDir(d.root, id)
	if len(parents) == 0 {
		if err := os.Mkdir(dst, 0o755); err != nil {
			return fmt.Errorf("create snapshot tree: %w", err)
		}
		return nil
	}
	if err := copyTree(ctx, storage.FSDir(d.root, parents[0]), dst); err != nil {
		return fmt.Errorf("copy parent snapshot: %w", err)
	}
	return nil
}

func (d *driver) Mounts(id string, kind snapshot.Kind, parents []string) []mount.Mount {
	access := "rw"
	if kind == snapshot.KindView {
		access = "ro"
	}
	return []mount.Mount{{Type: "bind", Source: storage.FSDir(d.root, id), Options: []string{access, "rbind"}}}
}
