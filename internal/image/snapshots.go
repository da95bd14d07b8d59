package image

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/snapshot"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
)

// RemoveStaleExtractions removes the temporary snapshots ("extract-*")
// that an unpack or load killed midway left behind, if they are older
// than minAge (so that a concurrent unpack in another process keeps its
// own). A daemon calls it at start. It returns how many it removed.
func RemoveStaleExtractions(ctx context.Context, sn snapshot.Snapshotter, minAge time.Duration) (int, error) {
	var stale []string
	err := sn.Walk(ctx, func(i snapshot.Info) error {
		if strings.HasPrefix(i.Name, "extract-") && i.Kind != snapshot.KindCommitted && time.Since(i.Created) >= minAge {
			stale = append(stale, i.Name)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range stale {
		if err := sn.Remove(ctx, k); err == nil {
			n++
		}
	}
	return n, nil
}

// PruneSnapshots removes committed layer snapshots (named by chain ID)
// that no image record of s needs and no Holder keeps, leaves first. A snapshot that
// still has children, such as a container's active snapshot, stays, and
// so do its parents. It returns the removed snapshot names.
func (s *Store) PruneSnapshots(ctx context.Context, sn snapshot.Snapshotter) ([]string, error) {
	_, keep, err := s.held(ctx)
	if err != nil {
		return nil, err
	}
	recs, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		res, err := Resolve(ctx, s.cs, r.Target, s.platform)
		if err != nil {
			continue
		}
		for _, c := range identity.ChainIDs(append([]digest.Digest(nil), res.Config.RootFS.DiffIDs...)) {
			keep[c.String()] = true
		}
	}
	var candidates []string
	if err := sn.Walk(ctx, func(i snapshot.Info) error {
		if i.Kind == snapshot.KindCommitted && !keep[i.Name] && digest.Digest(i.Name).Validate() == nil {
			candidates = append(candidates, i.Name)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	var removed []string
	for progress := true; progress && len(candidates) > 0; {
		progress = false
		var left []string
		for _, name := range candidates {
			err := sn.Remove(ctx, name)
			switch {
			case err == nil || errors.Is(err, snapshot.ErrNotFound):
				removed = append(removed, name)
				progress = true
			case errors.Is(err, snapshot.ErrFailedPrecondition):
				left = append(left, name) // has children (yet)
			default:
				return removed, fmt.Errorf("remove snapshot %s: %w", name, err)
			}
		}
		candidates = left
	}
	return removed, nil
}
