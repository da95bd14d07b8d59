package network

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/berth-project/berth/internal/errdefs"
)

var bucket = []byte("networks")

// Store keeps network records in the daemon's bbolt database, with an
// in-memory copy for reads.
type Store struct {
	db   *bolt.DB
	mu   sync.RWMutex
	byID map[string]*Network
}

// OpenStore opens the store in db and loads its records.
func OpenStore(db *bolt.DB) (*Store, error) {
	s := &Store{db: db, byID: map[string]*Network{}}
	err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			var n Network
			if err := json.Unmarshal(v, &n); err != nil {
				return fmt.Errorf("decode network %s: %w", k, err)
			}
			s.byID[n.ID] = &n
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("open network store: %w", err)
	}
	return s, nil
}

// Put stores n (new or changed).
func (s *Store) Put(n *Network) error {
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put([]byte(n.ID), b) }); err != nil {
		return fmt.Errorf("store network %s: %w", n.Name, err)
	}
	c := *n
	s.byID[n.ID] = &c
	return nil
}

// Delete removes the record of id.
func (s *Store) Delete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Delete([]byte(id)) }); err != nil {
		return fmt.Errorf("delete network %s: %w", id, err)
	}
	delete(s.byID, id)
	return nil
}

// List returns copies of all records, predefined first, then by name.
func (s *Store) List() []*Network {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Network, 0, len(s.byID))
	for _, n := range s.byID {
		c := *n
		out = append(out, &c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Get finds a network by full ID, name or unique ID prefix, as Docker
// does.
func (s *Store) Get(ref string) (*Network, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if ref == "" {
		return nil, errdefs.NotFoundf("network %s not found", ref)
	}
	if n, ok := s.byID[ref]; ok {
		c := *n
		return &c, nil
	}
	for _, n := range s.byID {
		if n.Name == ref {
			c := *n
			return &c, nil
		}
	}
	var found []*Network
	for id, n := range s.byID {
		if len(ref) <= len(id) && id[:len(ref)] == ref {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 0:
		return nil, errdefs.NotFoundf("network %s not found", ref)
	case 1:
		c := *found[0]
		return &c, nil
	default:
		return nil, errdefs.InvalidArgumentf("network %s is ambiguous (%d matches found based on ID prefix)", ref, len(found))
	}
}
