package image

import (
	"context"

	"github.com/berth-project/berth/internal/content"
	digest "github.com/opencontainers/go-digest"
)

// GarbageCollect removes blobs that no image record reaches. Roots are
// read after the collector holds its lock, so an image stored by a
// concurrent load (under a lease) is never lost.
func (s *Store) GarbageCollect(ctx context.Context, opts content.GCOptions) (content.GCResult, error) {
	extra := opts.Roots
	opts.Roots = func(ctx context.Context) ([]digest.Digest, error) {
		all, err := s.List(ctx)
		if err != nil {
			return nil, err
		}
		var roots []digest.Digest
		for _, i := range all {
			roots = append(roots, i.Target.Digest)
		}
		held, _, err := s.held(ctx)
		if err != nil {
			return nil, err
		}
		roots = append(roots, held...)
		if extra != nil {
			more, err := extra(ctx)
			if err != nil {
				return nil, err
			}
			roots = append(roots, more...)
		}
		return roots, nil
	}
	return s.cs.GarbageCollect(ctx, nil, opts)
}
