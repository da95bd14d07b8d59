package container

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berth-project/berth/internal/errdefs"
)

var (
	bucketContainers = []byte("containers")
	bucketNames      = []byte("container-names")
)

// Store keeps container records in a bbolt database (each write is a
// transaction fsync'ed to disk, so records survive a crash) with an
// in-memory copy for reads.
type Store struct {
	db *bolt.DB
	mu sync.RWMutex
	// byID holds copies; callers get copies too, so no record is shared.
	byID   map[string]*Container
	byName map[string]string
}

// OpenStore opens (creating if needed) the store in db and loads all
// records.
func OpenStore(db *bolt.DB) (*Store, error) {
	s := &Store{db: db, byID: map[string]*Container{}, byName: map[string]string{}}
	err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketContainers)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketNames); err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			var c Container
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("decode container %s: %w", k, err)
			}
			s.byID[c.ID] = &c
			s.byName[c.Name] = c.ID
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("open container store: %w", err)
	}
	return s, nil
}

// OpenDB opens the daemon's bbolt database file.
func OpenDB(path string) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return db, nil
}

// Add stores a new record; the name must be free.
func (s *Store) Add(c *Container) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.byName[c.Name]; ok {
		return errdefs.Conflictf("Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", c.Name, id)
	}
	if err := s.write(c, ""); err != nil {
		return err
	}
	s.byID[c.ID] = clone(c)
	s.byName[c.Name] = c.ID
	return nil
}

// Update replaces an existing record (a rename moves its name).
func (s *Store) Update(c *Container) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.byID[c.ID]
	if !ok {
		return errdefs.NotFoundf("No such container: %s", c.ID)
	}
	oldName := ""
	if old.Name != c.Name {
		if id, taken := s.byName[c.Name]; taken && id != c.ID {
			return errdefs.Conflictf("Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", c.Name, id)
		}
		oldName = old.Name
	}
	if err := s.write(c, oldName); err != nil {
		return err
	}
	if oldName != "" {
		delete(s.byName, oldName)
		s.byName[c.Name] = c.ID
	}
	s.byID[c.ID] = clone(c)
	return nil
}

func (s *Store) write(c *Container, oldName string) error {
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode container: %w", err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketContainers).Put([]byte(c.ID), data); err != nil {
			return err
		}
		names := tx.Bucket(bucketNames)
		if oldName != "" {
			if err := names.Delete([]byte(oldName)); err != nil {
				return err
			}
		}
		return names.Put([]byte(c.Name), []byte(c.ID))
	})
	if err != nil {
		return fmt.Errorf("store container %s: %w", c.ID, err)
	}
	return nil
}

// Delete removes a record and its name.
func (s *Store) Delete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.byID[id]
	if !ok {
		return errdefs.NotFoundf("No such container: %s", id)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketContainers).Delete([]byte(id)); err != nil {
			return err
		}
		return tx.Bucket(bucketNames).Delete([]byte(c.Name))
	})
	if err != nil {
		return fmt.Errorf("delete container %s: %w", id, err)
	}
	delete(s.byID, id)
	delete(s.byName, c.Name)
	return nil
}

// Get finds a container by full ID, name (with or without "/") or unique
// ID prefix, and returns a copy.
func (s *Store) Get(ref string) (*Container, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if ref == "" {
		return nil, errdefs.NotFoundf("No such container: %s", ref)
	}
	if c, ok := s.byID[ref]; ok {
		return clone(c), nil
	}
	if id, ok := s.byName[strings.TrimPrefix(ref, "/")]; ok {
		return clone(s.byID[id]), nil
	}
	var found *Container
	for id, c := range s.byID {
		if strings.HasPrefix(id, ref) {
			if found != nil {
				return nil, errdefs.InvalidArgumentf("multiple IDs found with provided prefix: %s", ref)
			}
			found = c
		}
	}
	if found == nil {
		return nil, errdefs.NotFoundf("No such container: %s", ref)
	}
	return clone(found), nil
}

// List returns copies of all records, newest first.
func (s *Store) List() []*Container {
	s.mu.RLock()
	out := make([]*Container, 0, len(s.byID))
	for _, c := range s.byID {
		out = append(out, clone(c))
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out
}

// NameInUse reports whether name belongs to a container.
func (s *Store) NameInUse(name string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.byName[strings.TrimPrefix(name, "/")]
	return ok
}

func clone(c *Container) *Container {
	data, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("container record not serializable: %v", err))
	}
	var out Container
	if err := json.Unmarshal(data, &out); err != nil {
		panic(fmt.Sprintf("container record not deserializable: %v", err))
	}
	return &out
}
