package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/snapshot"
)

// Batch is a snapshot.Batch: snapshots committed under it carry its ID in
// their record until Finish; the metadata is written without fsync
// meanwhile. Its holder keeps batches/<id>.lock flocked, so a
// snapshotter opened later knows whether the batch is still alive.
type Batch struct {
	s    *Snapshotter
	id   string
	lock *os.File
}

// BeginBatch implements snapshot.BeginBatch.
func (s *Snapshotter) BeginBatch() (snapshot.Batch, error) {
	dir := filepath.Join(s.root, "batches")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("snapshot batch: %w", err)
	}
	var id [8]byte
	rand.Read(id[:])
	b := &Batch{s: s, id: hex.EncodeToString(id[:])}
	f, err := os.OpenFile(b.lockPath(), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("snapshot batch: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("snapshot batch: %w", err)
	}
	b.lock = f
	return b, nil
}

func (b *Batch) lockPath() string { return filepath.Join(b.s.root, "batches", b.id+".lock") }

// Root implements snapshot.Batch.
func (b *Batch) Root() string { return b.s.root }

// Finish implements snapshot.Batch.
func (b *Batch) Finish() error {
	if b.lock == nil {
		return nil
	}
	err := b.s.store.update(false, func(db *DB) error {
		changed := false
		for _, r := range db.Snapshots {
			if r.Batch == b.id {
				r.Batch = ""
				changed = true
			}
		}
		if !changed {
			return errNoChange // a batch that committed nothing writes nothing
		}
		return nil
	})
	os.Remove(b.lockPath())
	b.lock.Close()
	b.lock = nil
	if err != nil {
		return fmt.Errorf("finish snapshot batch: %w", err)
	}
	return nil
}

// batchOf returns this snapshotter's batch in ctx, or nil.
func (s *Snapshotter) batchOf(ctx context.Context) *Batch {
	if b, ok := snapshot.BatchOf(ctx).(*Batch); ok && b.s == s && b.lock != nil {
		return b
	}
	return nil
}

// makeDurable flushes the filesystem and clears the batch marks of the
// records, for a snapshot about to be built on them outside a batch.
func (s *Snapshotter) makeDurable(db *DB) error {
	if err := syncFS(s.root); err != nil {
		return err
	}
	for _, r := range db.Snapshots {
		r.Batch = ""
	}
	return nil
}

// chainUnsynced reports whether name or one of its parents is still in a
// batch.
func (db *DB) chainUnsynced(name string) bool {
	for i := 0; name != "" && i <= len(db.Snapshots); i++ {
		r, ok := db.Snapshots[name]
		if !ok {
			return false
		}
		if r.Batch != "" {
			return true
		}
		name = r.Parent
	}
	return false
}

// recoverBatches removes the snapshots of batches whose holder died
// before finishing them, with everything built on them: their data may be
// incomplete (image layers are unpacked again when needed).
func (s *Snapshotter) recoverBatches() error {
	return s.store.Update(func(db *DB) error {
		dead := map[string]bool{}
		for _, r := range db.Snapshots {
			if r.Batch == "" || dead[r.Batch] {
				continue
			}
			p := filepath.Join(s.root, "batches", r.Batch+".lock")
			f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
			if err != nil {
				return fmt.Errorf("recover snapshot batches: %w", err)
			}
			if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err == nil {
				dead[r.Batch] = true
				os.Remove(p)
			} else if !errors.Is(err, unix.EWOULDBLOCK) {
				f.Close()
				return fmt.Errorf("recover snapshot batches: %w", err)
			}
			f.Close()
		}
		if len(dead) == 0 {
			return errNoChange
		}
		removed := map[string]bool{}
		for key, r := range db.Snapshots {
			if dead[r.Batch] {
				removed[key] = true
			}
		}
		for changed := true; changed; {
			changed = false
			for key, r := range db.Snapshots {
				if !removed[key] && r.Parent != "" && removed[r.Parent] {
					removed[key] = true
					changed = true
				}
			}
		}
		for key := range removed {
			delete(db.Snapshots, key) // their directories are orphans now
		}
		return nil
	})
}
