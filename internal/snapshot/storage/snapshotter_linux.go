package storage

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/berth-project/berth/internal/mount"
	"github.com/berth-project/berth/internal/snapshot"
)

// Driver lays out snapshots on disk for one kind of snapshotter. Every
// snapshot owns the directory Dir(root, id); its tree lives in FSDir.
type Driver interface {
	// Create fills the (existing, empty) directory of new snapshot id.
	// parents are the IDs of its parent chain, nearest first.
	Create(ctx context.Context, id string, kind snapshot.Kind, parents []string) error
	// Mounts returns the mounts that show snapshot id.
	Mounts(id string, kind snapshot.Kind, parents []string) []mount.Mount
	// Overlay reports whether FSDir of an active snapshot is an overlay
	// upper dir (otherwise it holds the whole tree).
	Overlay() bool
}

// Dir is the directory holding everything of snapshot id.
func Dir(root, id string) string { return filepath.Join(root, "snapshots", id) }

// FSDir is the tree of snapshot id: an overlay layer or a full copy.
func FSDir(root, id string) string { return filepath.Join(root, "snapshots", id, "fs") }

// Snapshotter implements snapshot.Snapshotter on top of a Driver.
type Snapshotter struct {
	root   string
	store  *Store
	driver Driver
}

var _ snapshot.Snapshotter = (*Snapshotter)(nil)

// New opens the snapshotter in root with the given driver and removes the
// directories that a crash left without metadata.
func New(root string, driver Driver) (*Snapshotter, error) {
	store, err := OpenStore(root)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(root, "snapshots"), 0o700); err != nil {
		return nil, fmt.Errorf("create snapshots dir: %w", err)
	}
	s := &Snapshotter{root: root, store: store, driver: driver}
	if err := s.recoverBatches(); err != nil {
		return nil, err
	}
	if err := s.removeOrphans(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Snapshotter) removeOrphans() error {
	return s.store.Exclusive(func(db *DB) error {
		ids := map[string]bool{}
		for _, r := range db.Snapshots {
			ids[r.ID] = true
		}
		entries, err := os.ReadDir(filepath.Join(s.root, "snapshots"))
		if err != nil {
			return fmt.Errorf("list snapshots: %w", err)
		}
		for _, e := range entries {
			if !ids[e.Name()] {
				if err := os.RemoveAll(Dir(s.root, e.Name())); err != nil {
					return fmt.Errorf("remove orphaned snapshot dir: %w", err)
				}
			}
		}
		return nil
	})
}

// Prepare implements snapshot.Snapshotter.
func (s *Snapshotter) Prepare(ctx context.Context, key, parent string, labels map[string]string) ([]mount.Mount, error) {
	return s.create(ctx, snapshot.KindActive, key, parent, labels)
}

// View implements snapshot.Snapshotter.
func (s *Snapshotter) View(ctx context.Context, key, parent string, labels map[string]string) ([]mount.Mount, error) {
	return s.create(ctx, snapshot.KindView, key, parent, labels)
}

func (s *Snapshotter) create(ctx context.Context, kind snapshot.Kind, key, parent string, labels map[string]string) ([]mount.Mount, error) {
	if key == "" {
		return nil, fmt.Errorf("create snapshot: empty key: %w", snapshot.ErrFailedPrecondition)
	}
	var rec *Record
	var parents []string
	batch := s.batchOf(ctx)
	err := s.store.update(batch == nil, func(db *DB) error {
		if _, ok := db.Snapshots[key]; ok {
			return fmt.Errorf("snapshot %q: %w", key, snapshot.ErrAlreadyExists)
		}
		if parent != "" {
			if err := s.checkParent(db, parent, batch == nil); err != nil {
				return err
			}
			var err error
			if parents, err = db.ParentIDs(parent); err != nil {
				return err
			}
		}
		now := time.Now().UTC()
		rec = &Record{ID: db.NewID(), Kind: kind, Parent: parent, Labels: maps.Clone(labels), Created: now, Updated: now}
		dir := Dir(s.root, rec.ID)
		if err := os.Mkdir(dir, 0o700); err != nil {
			return fmt.Errorf("create snapshot dir: %w", err)
		}
		if err := s.driver.Create(ctx, rec.ID, kind, parents); err != nil {
			os.RemoveAll(dir)
			return err
		}
		db.Snapshots[key] = rec
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create snapshot %q: %w", key, err)
	}
	return s.driver.Mounts(rec.ID, kind, parents), nil
}

// Mounts implements snapshot.Snapshotter.
func (s *Snapshotter) Mounts(ctx context.Context, key string) ([]mount.Mount, error) {
	rec, parents, err := s.tree(key, true)
	if err != nil {
		return nil, fmt.Errorf("mounts of %q: %w", key, err)
	}
	return s.driver.Mounts(rec.ID, rec.Kind, parents), nil
}

// tree reads the record of snapshot key and the IDs of its parents,
// newest first; active or view snapshots only when uncommitted is set.
func (s *Snapshotter) tree(key string, uncommitted bool) (*Record, []string, error) {
	var rec *Record
	var parents []string
	err := s.store.View(func(db *DB) error {
		var err error
		if rec, err = db.Get(key); err != nil {
			return err
		}
		if uncommitted && rec.Kind == snapshot.KindCommitted {
			return fmt.Errorf("snapshot %q is committed: %w", key, snapshot.ErrFailedPrecondition)
		}
		parents, err = db.ParentIDs(rec.Parent)
		return err
	})
	return rec, parents, err
}

// Commit implements snapshot.Snapshotter.
func (s *Snapshotter) Commit(ctx context.Context, name, key string, labels map[string]string) error {
	batch := s.batchOf(ctx)
	err := s.store.update(batch == nil, func(db *DB) error {
		rec, err := db.Get(key)
		if err != nil {
			return err
		}
		if rec.Kind != snapshot.KindActive {
			return fmt.Errorf("snapshot %q is %v, not active: %w", key, rec.Kind, snapshot.ErrFailedPrecondition)
		}
		if name == "" {
			return fmt.Errorf("empty name: %w", snapshot.ErrFailedPrecondition)
		}
		if _, ok := db.Snapshots[name]; ok {
			return fmt.Errorf("snapshot %q: %w", name, snapshot.ErrAlreadyExists)
		}
		usage, err := DiskUsage(FSDir(s.root, rec.ID))
		if err != nil {
			return err
		}
		// The layer's data reaches the disk before the metadata says it
		// is committed, so a machine crash cannot leave a committed
		// snapshot with missing contents; in a batch, the record says
		// so until the batch's one flush (see Batch).
		if batch == nil {
			if err := syncFS(FSDir(s.root, rec.ID)); err != nil {
				return err
			}
		} else {
			rec.Batch = batch.id
		}
		rec.Kind = snapshot.KindCommitted
		rec.Updated = time.Now().UTC()
		rec.Size, rec.Inodes = usage.Size, usage.Inodes
		if labels != nil {
			rec.Labels = maps.Clone(labels)
		}
		delete(db.Snapshots, key)
		db.Snapshots[name] = rec
		return nil
	})
	if err != nil {
		return fmt.Errorf("commit %q as %q: %w", key, name, err)
	}
	return nil
}

// Stat implements snapshot.Snapshotter.
func (s *Snapshotter) Stat(ctx context.Context, key string) (snapshot.Info, error) {
	var info snapshot.Info
	err := s.store.View(func(db *DB) error {
		rec, err := db.Get(key)
		if err != nil {
			return err
		}
		info = rec.Info(key)
		return nil
	})
	return info, err
}

// Usage implements snapshot.Snapshotter.
func (s *Snapshotter) Usage(ctx context.Context, key string) (snapshot.Usage, error) {
	var rec Record
	err := s.store.View(func(db *DB) error {
		r, err := db.Get(key)
		if err != nil {
			return err
		}
		rec = *r
		return nil
	})
	if err != nil {
		return snapshot.Usage{}, err
	}
	if rec.Kind == snapshot.KindCommitted {
		return snapshot.Usage{Size: rec.Size, Inodes: rec.Inodes}, nil
	}
	return DiskUsage(FSDir(s.root, rec.ID))
}

// Remove implements snapshot.Snapshotter.
func (s *Snapshotter) Remove(ctx context.Context, key string) error {
	var id string
	err := s.store.update(s.batchOf(ctx) == nil, func(db *DB) error {
		rec, err := db.Get(key)
		if err != nil {
			return err
		}
		if db.HasChildren(key) {
			return fmt.Errorf("snapshot %q has children: %w", key, snapshot.ErrFailedPrecondition)
		}
		id = rec.ID
		delete(db.Snapshots, key)
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove snapshot: %w", err)
	}
	// The metadata is gone; should this fail or crash, the directory is an
	// orphan that New removes.
	if err := os.RemoveAll(Dir(s.root, id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove snapshot %q files: %w", key, err)
	}
	return nil
}

// Walk implements snapshot.Snapshotter.
func (s *Snapshotter) Walk(ctx context.Context, fn func(snapshot.Info) error) error {
	var infos []snapshot.Info
	err := s.store.View(func(db *DB) error {
		for key, rec := range db.Snapshots {
			infos = append(infos, rec.Info(key))
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name < infos[j].Name })
	for _, info := range infos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

// UpperDir implements snapshot.Snapshotter.
func (s *Snapshotter) UpperDir(ctx context.Context, key string) (string, bool, error) {
	var id string
	err := s.store.View(func(db *DB) error {
		rec, err := db.Get(key)
		if err != nil {
			return err
		}
		if rec.Kind != snapshot.KindActive {
			return fmt.Errorf("snapshot %q is %v, not active: %w", key, rec.Kind, snapshot.ErrFailedPrecondition)
		}
		id = rec.ID
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("upper dir of %q: %w", key, err)
	}
	return FSDir(s.root, id), s.driver.Overlay(), nil
}

// LowerDirs returns the FSDirs of the parents of snapshot key, newest
// first, when the driver stacks them with overlayfs (see snapshot.LowerDirs).
func (s *Snapshotter) LowerDirs(ctx context.Context, key string) ([]string, error) {
	if !s.driver.Overlay() {
		return nil, nil
	}
	_, parents, err := s.tree(key, false)
	if err != nil {
		return nil, fmt.Errorf("lower dirs of %q: %w", key, err)
	}
	var dirs []string
	for _, id := range parents {
		dirs = append(dirs, FSDir(s.root, id))
	}
	return dirs, nil
}

// Close implements snapshot.Snapshotter; it holds no resources between calls.
func (s *Snapshotter) Close() error { return nil }

// ReadOnlyMounts returns read-only mounts showing the whole tree of the
// active or view snapshot key (see snapshot.ReadOnlyMounts): overlay
// stacks its own dir on its parents' as lower dirs, without a work dir,
// so the snapshot may be mounted writable elsewhere at the same time.
func (s *Snapshotter) ReadOnlyMounts(ctx context.Context, key string) ([]mount.Mount, error) {
	rec, parents, err := s.tree(key, true)
	if err != nil {
		return nil, fmt.Errorf("read-only mounts of %q: %w", key, err)
	}
	if s.driver.Overlay() {
		parents = append([]string{rec.ID}, parents...)
	}
	return s.driver.Mounts(rec.ID, snapshot.KindView, parents), nil
}

// ParentDir returns the directory holding the whole tree of the parent of
// snapshot key when the driver keeps full copies ("" for overlay, or
// without a parent; see snapshot.ParentDir).
func (s *Snapshotter) ParentDir(ctx context.Context, key string) (string, error) {
	if s.driver.Overlay() {
		return "", nil
	}
	var dir string
	err := s.store.View(func(db *DB) error {
		rec, err := db.Get(key)
		if err != nil {
			return err
		}
		if rec.Parent == "" {
			return nil
		}
		p, err := db.Get(rec.Parent)
		if err != nil {
			return err
		}
		dir = FSDir(s.root, p.ID)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("parent dir of %q: %w", key, err)
	}
	return dir, nil
}

// checkParent checks that parent is a committed snapshot to build on and,
// outside a batch (unbatched), makes its chain durable first: nothing
// outside a batch is built on data that may not be on disk yet.
func (s *Snapshotter) checkParent(db *DB, parent string, unbatched bool) error {
	p, err := db.Get(parent)
	if err != nil {
		return fmt.Errorf("parent: %w", err)
	}
	if p.Kind != snapshot.KindCommitted {
		return fmt.Errorf("parent %q is %v, not committed: %w", parent, p.Kind, snapshot.ErrFailedPrecondition)
	}
	if unbatched && db.chainUnsynced(parent) {
		return s.makeDurable(db)
	}
	return nil
}

// CanReparent reports whether Reparent works: with overlay, a snapshot's
// directory holds its own layer only, so its parents can change.
func (s *Snapshotter) CanReparent() bool { return s.driver.Overlay() }

// Reparent makes the active snapshot key, which nothing is built on, a
// child of the committed snapshot parent (see snapshot.Reparent).
func (s *Snapshotter) Reparent(ctx context.Context, key, parent string) error {
	if !s.driver.Overlay() {
		return fmt.Errorf("reparent %q: snapshots of this snapshotter hold their parents: %w", key, snapshot.ErrFailedPrecondition)
	}
	batch := s.batchOf(ctx)
	err := s.store.update(batch == nil, func(db *DB) error {
		rec, err := db.Get(key)
		if err != nil {
			return err
		}
		if rec.Kind != snapshot.KindActive {
			return fmt.Errorf("snapshot %q is %v, not active: %w", key, rec.Kind, snapshot.ErrFailedPrecondition)
		}
		if db.HasChildren(key) {
			return fmt.Errorf("snapshot %q has children: %w", key, snapshot.ErrFailedPrecondition)
		}
		if parent != "" {
			if err := s.checkParent(db, parent, batch == nil); err != nil {
				return err
			}
		}
		rec.Parent = parent
		rec.Updated = time.Now().UTC()
		return nil
	})
	if err != nil {
		return fmt.Errorf("reparent %q: %w", key, err)
	}
	return nil
}
