// Package storage holds what the snapshotters share: snapshot metadata
// kept in a file under the snapshotter root (written atomically, locked with
// flock so that several processes can use one root), and the Snapshotter
// operations built on it. A Driver supplies the filesystem layout.
package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/snapshot"
)

const (
	metadataFile = "metadata.json"
	lockFile     = "metadata.lock"
)

// Record is the stored state of one snapshot.
type Record struct {
	ID      string            `json:"id"`
	Kind    snapshot.Kind     `json:"kind"`
	Parent  string            `json:"parent,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	Created time.Time         `json:"created"`
	Updated time.Time         `json:"updated"`
	// Usage of a committed snapshot, measured at commit.
	Size   int64 `json:"size,omitempty"`
	Inodes int64 `json:"inodes,omitempty"`
	// Batch is the ID of the batch that committed it, until the batch
	// finished (see Batch).
	Batch string `json:"batch,omitempty"`
}

// DB is the whole metadata: every snapshot by key or name.
type DB struct {
	NextID    uint64             `json:"nextID"`
	Snapshots map[string]*Record `json:"snapshots"`
}

// Get returns the record of key, or an error wrapping snapshot.ErrNotFound.
func (db *DB) Get(key string) (*Record, error) {
	r, ok := db.Snapshots[key]
	if !ok {
		return nil, fmt.Errorf("snapshot %q: %w", key, snapshot.ErrNotFound)
	}
	return r, nil
}

// ParentIDs returns the IDs of the chain of parents of name, nearest first,
// starting with name itself.
func (db *DB) ParentIDs(name string) ([]string, error) {
	var ids []string
	for name != "" {
		r, err := db.Get(name)
		if err != nil {
			return nil, fmt.Errorf("parent chain: %w", err)
		}
		ids = append(ids, r.ID)
		name = r.Parent
		if len(ids) > len(db.Snapshots) {
			return nil, fmt.Errorf("parent chain of %q loops", name)
		}
	}
	return ids, nil
}

// HasChildren reports whether some snapshot has name as parent.
func (db *DB) HasChildren(name string) bool {
	for _, r := range db.Snapshots {
		if r.Parent == name {
			return true
		}
	}
	return false
}

// Info converts the record of key to a snapshot.Info.
func (r *Record) Info(key string) snapshot.Info {
	labels := make(map[string]string, len(r.Labels))
	for k, v := range r.Labels {
		labels[k] = v
	}
	return snapshot.Info{Name: key, Parent: r.Parent, Kind: r.Kind, Labels: labels, Created: r.Created, Updated: r.Updated}
}

// Store is the metadata file of a snapshotter root.
type Store struct {
	root string
}

// OpenStore opens (creating) the metadata store in directory root.
func OpenStore(root string) (*Store, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("create snapshot root: %w", err)
	}
	return &Store{root: root}, nil
}

// lock takes an flock on the lock file; each call opens its own file
// description, so it excludes other goroutines as well as processes.
func (s *Store) lock(how int) (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.root, lockFile), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open metadata lock: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock metadata: %w", err)
	}
	return func() { f.Close() }, nil
}

func (s *Store) read() (*DB, error) {
	db := &DB{NextID: 1, Snapshots: map[string]*Record{}}
	b, err := os.ReadFile(filepath.Join(s.root, metadataFile))
	if errors.Is(err, os.ErrNotExist) {
		return db, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read snapshot metadata: %w", err)
	}
	if err := json.Unmarshal(b, db); err != nil {
		return nil, fmt.Errorf("parse snapshot metadata: %w", err)
	}
	if db.Snapshots == nil {
		db.Snapshots = map[string]*Record{}
	}
	return db, nil
}

// write replaces the metadata file atomically: temp file, fsync, rename,
// fsync of the directory (without sync, only the rename: in a batch).
func (s *Store) write(db *DB, sync bool) error {
	b, err := json.MarshalIndent(db, "", "\t")
	if err != nil {
		return fmt.Errorf("encode snapshot metadata: %w", err)
	}
	tmp, err := os.CreateTemp(s.root, metadataFile+".tmp*")
	if err != nil {
		return fmt.Errorf("write snapshot metadata: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write snapshot metadata: %w", err)
	}
	if sync {
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return fmt.Errorf("sync snapshot metadata: %w", err)
		}
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write snapshot metadata: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(s.root, metadataFile)); err != nil {
		return fmt.Errorf("replace snapshot metadata: %w", err)
	}
	if !sync {
		return nil
	}
	d, err := os.Open(s.root)
	if err != nil {
		return fmt.Errorf("sync snapshot root: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync snapshot root: %w", err)
	}
	return nil
}

// View runs fn on the metadata under a shared lock. fn must not modify db.
func (s *Store) View(fn func(db *DB) error) error {
	unlock, err := s.lock(unix.LOCK_SH)
	if err != nil {
		return err
	}
	defer unlock()
	db, err := s.read()
	if err != nil {
		return err
	}
	return fn(db)
}

// errNoChange from an Update function stores nothing and is not an error.
var errNoChange = errors.New("no change")

// Update runs fn on the metadata under an exclusive lock and stores the
// result (durably) if fn succeeds.
func (s *Store) Update(fn func(db *DB) error) error { return s.update(true, fn) }

func (s *Store) update(sync bool, fn func(db *DB) error) error {
	unlock, err := s.lock(unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	db, err := s.read()
	if err != nil {
		return err
	}
	if err := fn(db); err != nil {
		if errors.Is(err, errNoChange) {
			return nil
		}
		return err
	}
	return s.write(db, sync)
}

// Exclusive runs fn on the metadata under an exclusive lock without
// storing anything; fn must not modify db.
func (s *Store) Exclusive(fn func(db *DB) error) error {
	unlock, err := s.lock(unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	db, err := s.read()
	if err != nil {
		return err
	}
	return fn(db)
}

// NewID allocates a snapshot ID: a short number, never reused.
func (db *DB) NewID() string {
	id := db.NextID
	db.NextID++
	return strconv.FormatUint(id, 10)
}
