package image

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/berth-project/berth/internal/image/reference"
	digest "github.com/opencontainers/go-digest"
)

// ID returns the image ID of a record: the config digest of the manifest
// chosen for this host (the target digest if none can be resolved).
func (s *Store) ID(ctx context.Context, img Image) digest.Digest {
	r, err := Resolve(ctx, s.cs, img.Target, s.platform)
	if err != nil {
		return img.Target.Digest
	}
	return r.ID()
}

// Resolve finds an image by name (a tag or a digest reference such as
// repo@sha256:..., which names only what a pull or push recorded, as in
// Docker), or by full or abbreviated ID (config digest) or target digest.
// Tagged records are preferred.
func (s *Store) Resolve(ctx context.Context, ref string) (Image, error) {
	if img, err := s.Get(ctx, ref); err == nil {
		return img, nil
	}
	hexID, _, ok := reference.ParseID(ref)
	if !ok {
		return Image{}, fmt.Errorf("image %q: %w", ref, ErrNotFound)
	}
	all, err := s.List(ctx)
	if err != nil {
		return Image{}, err
	}
	var found []Image
	ids := map[digest.Digest]bool{}
	for _, img := range all {
		id := s.ID(ctx, img)
		if strings.HasPrefix(id.Encoded(), hexID) || strings.HasPrefix(img.Target.Digest.Encoded(), hexID) {
			found = append(found, img)
			ids[id] = true
		}
	}
	if len(found) == 0 {
		return Image{}, fmt.Errorf("image %q: %w", ref, ErrNotFound)
	}
	if len(ids) > 1 {
		return Image{}, fmt.Errorf("image ID prefix %q is ambiguous: %w", ref, ErrInvalidArgument)
	}
	sort.SliceStable(found, func(i, j int) bool { return !found[i].Dangling() && found[j].Dangling() })
	return found[0], nil
}

func repositoryOf(name string) string {
	n, err := reference.ParseNamed(name)
	if err != nil {
		return ""
	}
	return n.Name()
}

// Names returns every record pointing at the same image ID as img.
func (s *Store) Names(ctx context.Context, id digest.Digest) ([]Image, error) {
	all, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []Image
	for _, i := range all {
		if s.ID(ctx, i) == id {
			out = append(out, i)
		}
	}
	return out, nil
}
