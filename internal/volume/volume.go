// Package volume holds named volume records and their store: metadata in
// the daemon's bbolt database, data under <root>/<name>/_data (the local
// driver).
package volume

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berth-project/berth/internal/errdefs"
)

// AnonymousLabel marks volumes created without a name.
const AnonymousLabel = "com.docker.volume.anonymous"

var bucket = []byte("volumes")

var validName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`) }) // compiled on first use, not at every start

// Volume is one volume's record.
type Volume struct {
	Name      string
	Driver    string
	Labels    map[string]string
	Options   map[string]string
	CreatedAt time.Time
}

// Anonymous reports whether the volume was created without a name.
func (v *Volume) Anonymous() bool { _, ok := v.Labels[AnonymousLabel]; return ok }

// Store keeps volume records and their directories.
type Store struct {
	db   *bolt.DB
	root string
	mu   sync.Mutex
}

// OpenStore opens the store over db with data under root.
func OpenStore(db *bolt.DB, root string) (*Store, error) {
	if err := os.MkdirAll(root, 0o701); err != nil {
		return nil, fmt.Errorf("create volume root: %w", err)
	}
	err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open volume store: %w", err)
	}
	return &Store{db: db, root: root}, nil
}

// Path is the directory containers mount for volume name.
func (s *Store) Path(name string) string { return filepath.Join(s.root, name, "_data") }

// Create makes a volume; an existing one with the same name is returned
// as is (Docker's behaviour).
func (s *Store) Create(name string, labels, opts map[string]string) (*Volume, bool, error) {
	if !validName().MatchString(name) {
		return nil, false, errdefs.InvalidArgumentf("create %s: %q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path", name, name)
	}
	for k := range opts {
		return nil, false, errdefs.InvalidArgumentf("create %s: invalid option key: %q", name, k)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, err := s.get(name); err == nil {
		return v, false, nil
	}
	v := &Volume{Name: name, Driver: "local", Labels: labels, Options: opts, CreatedAt: time.Now().UTC()}
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	if v.Options == nil {
		v.Options = map[string]string{}
	}
	if err := os.MkdirAll(s.Path(name), 0o755); err != nil {
		return nil, false, fmt.Errorf("create volume %s: %w", name, err)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, false, err
	}
	err = s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put([]byte(name), data) })
	if err != nil {
		os.RemoveAll(filepath.Join(s.root, name))
		return nil, false, fmt.Errorf("store volume %s: %w", name, err)
	}
	return v, true, nil
}

// Get returns a volume.
func (s *Store) Get(name string) (*Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.get(name)
}

func (s *Store) get(name string) (*Volume, error) {
	var v *Volume
	err := s.db.View(func(tx *bolt.Tx) error {
		data := tx.Bucket(bucket).Get([]byte(name))
		if data == nil {
			return errdefs.NotFoundf("get %s: no such volume", name)
		}
		v = &Volume{}
		return json.Unmarshal(data, v)
	})
	return v, err
}

// List returns all volumes by name.
func (s *Store) List() ([]*Volume, error) {
	var out []*Volume
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(_, data []byte) error {
			var v Volume
			if err := json.Unmarshal(data, &v); err != nil {
				return err
			}
			out = append(out, &v)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// Remove deletes a volume's data and record.
func (s *Store) Remove(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.get(name); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(s.root, name)); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Delete([]byte(name)) })
}

// Size returns the bytes used under the volume's data directory.
func (s *Store) Size(name string) int64 {
	var n int64
	filepath.Walk(s.Path(name), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}
