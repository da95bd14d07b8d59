package image

import (
	"context"
	"errors"
	"fmt"

	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/image/reference"
	digest "github.com/opencontainers/go-digest"
)

// DeleteResult lists what Remove or Prune did, like the Engine API's
// image delete response: untagged names (familiar form) and deleted IDs.
type DeleteResult struct {
	Untagged []string
	Deleted  []digest.Digest
}

// Remove is `docker rmi`. A name is untagged, and the image deleted if no
// other name keeps it. An ID deletes the image with all its names, but
// (unless force) only if they are all in one repository. inUse (may be
// nil) reports whether containers use an image ID; such an image is not
// removed unless force, and even then only untagged. Blobs are freed by
// the next GarbageCollect.
func (s *Store) Remove(ctx context.Context, ref string, force bool, inUse func(digest.Digest) bool) (DeleteResult, error) {
	var res DeleteResult
	img, err := s.Resolve(ctx, ref)
	if err != nil {
		return res, err
	}
	id := s.ID(ctx, img)
	recs, err := s.Names(ctx, id)
	if err != nil {
		return res, err
	}
	used := inUse != nil && inUse(id)
	byName := false
	if n, err := normalizeName(ref); err == nil && n == img.Name {
		byName = true
	}
	if byName && !img.Dangling() {
		tagged := 0
		for _, r := range recs {
			if !r.Dangling() {
				tagged++
			}
		}
		if tagged > 1 || (used && force) {
			// Other names keep the image (or a container does): untag only.
			if used && tagged == 1 {
				if err := s.makeDangling(ctx, img); err != nil {
					return res, err
				}
			}
			if err := s.Delete(ctx, img.Name); err != nil {
				return res, err
			}
			res.Untagged = append(res.Untagged, reference.Familiar(img.Name))
			return res, nil
		}
	}
	if used {
		return res, fmt.Errorf("unable to delete %s: image is being used by a container: %w", ref, ErrFailedPrecondition)
	}
	if !byName && !force {
		repos := map[string]bool{}
		for _, r := range recs {
			if !r.Dangling() {
				repos[repositoryOf(r.Name)] = true
			}
		}
		if len(repos) > 1 {
			return res, fmt.Errorf("unable to delete %s (must be forced): image is referenced in multiple repositories: %w", ref, ErrFailedPrecondition)
		}
	}
	for _, r := range recs {
		if err := s.Delete(ctx, r.Name); err != nil && !errors.Is(err, ErrNotFound) {
			return res, err
		}
		if !r.Dangling() {
			res.Untagged = append(res.Untagged, reference.Familiar(r.Name))
		}
	}
	res.Deleted = append(res.Deleted, id)
	return res, nil
}

// makeDangling keeps img's target under a dangling record.
func (s *Store) makeDangling(ctx context.Context, img Image) error {
	_, err := s.Put(ctx, Image{Name: DanglingPrefix + img.Target.Digest.String(), Target: img.Target, Labels: img.Labels})
	return err
}

// PruneResult is what Prune removed.
type PruneResult struct {
	DeleteResult
	SpaceReclaimed int64
}

// Prune is `docker image prune`: it deletes the images without a tag
// (digest references do not keep an image, as in Docker; every image when
// all is set) that inUse does not report, then collects the blobs nothing
// references any more.
func (s *Store) Prune(ctx context.Context, all bool, inUse func(digest.Digest) bool) (PruneResult, error) {
	var res PruneResult
	recs, err := s.List(ctx)
	if err != nil {
		return res, err
	}
	tagged := map[digest.Digest]bool{}
	ids := map[string]digest.Digest{}
	for _, r := range recs {
		id := s.ID(ctx, r)
		ids[r.Name] = id
		if r.Tagged() {
			tagged[id] = true
		}
	}
	deleted := map[digest.Digest]bool{}
	for _, r := range recs {
		id := ids[r.Name]
		if (inUse != nil && inUse(id)) || (!all && tagged[id]) {
			continue
		}
		if err := s.Delete(ctx, r.Name); err != nil && !errors.Is(err, ErrNotFound) {
			return res, err
		}
		if !r.Dangling() {
			res.Untagged = append(res.Untagged, reference.Familiar(r.Name))
		}
		if !deleted[id] {
			deleted[id] = true
			res.Deleted = append(res.Deleted, id)
		}
	}
	gc, err := s.GarbageCollect(ctx, content.GCOptions{})
	res.SpaceReclaimed = gc.BytesFreed
	return res, err
}
