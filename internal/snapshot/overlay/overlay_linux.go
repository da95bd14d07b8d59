// Package overlay is a Snapshotter that stacks layers with overlayfs: each
// snapshot directory (named by a short number) holds an upper dir "fs" and
// a "work" dir, and a snapshot's parents are its lower dirs, newest first.
package overlay

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-project/berth/internal/mount"
	"github.com/berth-project/berth/internal/snapshot"
	"github.com/berth-project/berth/internal/snapshot/storage"
)

// NewOverlay returns an overlayfs snapshotter storing its data under root.
// It fails if overlayfs cannot be used on root's filesystem.
func NewOverlay(root string) (snapshot.Snapshotter, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("overlay snapshotter: %w", err)
	}
	if err := probe(root); err != nil {
		return nil, fmt.Errorf("overlay snapshotter: overlayfs is unusable on %s: %w", root, err)
	}
	d := &driver{root: root}
	// With the inodes index on, reusing an upper dir with other lowers
	// (after a crash, or a lower shared by many mounts) can fail; turn it
	// off where the kernel has it, like containerd.
	// Renamed directories (redirect_dir) and metadata-only copy-ups
	// (metacopy) would leave upper dirs that archive.Diff cannot turn
	// into layers: keep them off even where the kernel defaults them on.
	for _, opt := range []string{"index", "redirect_dir", "metacopy"} {
		if _, err := os.Stat("/sys/module/overlay/parameters/" + opt); err == nil {
			d.extra = append(d.extra, opt+"=off")
		}
	}
	s, err := storage.New(root, d)
	if err != nil {
		return nil, fmt.Errorf("overlay snapshotter: %w", err)
	}
	return s, nil
}

// probe mounts a small overlay inside root.
func probe(root string) (err error) {
	dir, err := os.MkdirTemp(root, "probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var paths []string
	for _, name := range []string{"lower1", "lower2", "upper", "work", "merged"} {
		p := filepath.Join(dir, name)
		if err := os.Mkdir(p, 0o700); err != nil {
			return err
		}
		paths = append(paths, p)
	}
	m := mount.Mount{Type: "overlay", Source: "overlay", Options: []string{
		"lowerdir=" + paths[0] + ":" + paths[1], "upperdir=" + paths[2], "workdir=" + paths[3]}}
	if err := m.Mount(paths[4]); err != nil {
		return err
	}
	defer func() {
		if uerr := mount.UnmountAll(paths[4]); uerr != nil && err == nil {
			err = uerr
		}
	}()
	return os.WriteFile(filepath.Join(paths[4], "probe"), nil, 0o600)
}

type driver struct {
	root  string
	extra []string // options added to every overlay mount
}

func (d *driver) Overlay() bool { return true }

func (d *driver) Create(ctx context.Context, id string, kind snapshot.Kind, parents []string) error {
	if err := os.Mkdir(storage.FSDir(d.root, id), 0o755); err != nil {
		return fmt.Errorf("create upper dir: %w", err)
	}
	if err := os.Mkdir(filepath.Join(storage.Dir(d.root, id), "work"), 0o700); err != nil {
		return fmt.Errorf("create work dir: %w", err)
	}
	return nil
}

func (d *driver) Mounts(id string, kind snapshot.Kind, parents []string) []mount.Mount {
	access := "rw"
	if kind == snapshot.KindView {
		access = "ro"
	}
	switch {
	case len(parents) == 0:
		return []mount.Mount{{Type: "bind", Source: storage.FSDir(d.root, id), Options: []string{access, "rbind"}}}
	case kind == snapshot.KindView && len(parents) == 1:
		// overlay needs an upper dir or two lowers; one read-only layer
		// is just a bind mount.
		return []mount.Mount{{Type: "bind", Source: storage.FSDir(d.root, parents[0]), Options: []string{"ro", "rbind"}}}
	}
	lowers := make([]string, len(parents))
	for i, p := range parents {
		lowers[i] = storage.FSDir(d.root, p)
	}
	opts := append([]string(nil), d.extra...)
	if kind == snapshot.KindView {
		opts = append(opts, "ro")
	} else {
		opts = append(opts,
			"workdir="+filepath.Join(storage.Dir(d.root, id), "work"),
			"upperdir="+storage.FSDir(d.root, id))
	}
	opts = append(opts, "lowerdir="+strings.Join(lowers, ":"))
	return []mount.Mount{{Type: "overlay", Source: "overlay", Options: opts}}
}
