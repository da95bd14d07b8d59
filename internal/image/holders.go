package image

import (
	"context"
	"sync"

	digest "github.com/opencontainers/go-digest"
)

// Holder keeps blobs and layer snapshots that no image record references
// alive across GarbageCollect and PruneSnapshots (the build cache).
type Holder interface {
	Held(ctx context.Context) (blobs []digest.Digest, snapshots []string, err error)
}

type holders struct {
	mu   sync.Mutex
	list []Holder
}

// AddHolder registers h.
func (s *Store) AddHolder(h Holder) {
	s.holders.mu.Lock()
	defer s.holders.mu.Unlock()
	s.holders.list = append(s.holders.list, h)
}

// held collects what the holders keep.
func (s *Store) held(ctx context.Context) ([]digest.Digest, map[string]bool, error) {
	s.holders.mu.Lock()
	list := append([]Holder(nil), s.holders.list...)
	s.holders.mu.Unlock()
	var blobs []digest.Digest
	snaps := map[string]bool{}
	for _, h := range list {
		b, sn, err := h.Held(ctx)
		if err != nil {
			return nil, nil, err
		}
		blobs = append(blobs, b...)
		for _, n := range sn {
			snaps[n] = true
		}
	}
	return blobs, snaps, nil
}
