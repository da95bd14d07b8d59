package images

import (
	"context"
	"strings"

	eventtypes "github.com/moby/moby/api/types/events"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image/reference"
)

// Tag is POST /images/{name}/tag: repo[:tag] (tag defaults to latest)
// then names the image source names.
func (s *Service) Tag(ctx context.Context, source, repo, tag string) error {
	if repo == "" {
		return errdefs.InvalidArgumentf("repository name must have at least one component")
	}
	named, err := reference.ParseNamed(repo)
	if err != nil {
		return errdefs.InvalidArgumentf("Error parsing reference: %q is not a valid repository/tag: invalid reference format", repo)
	}
	if reference.Digest(named) != "" {
		return errdefs.InvalidArgumentf("refusing to create a tag with a digest reference")
	}
	if tag != "" {
		if strings.HasPrefix(tag, "sha256:") || (len(tag) == 64 && isHex(tag)) {
			return errdefs.InvalidArgumentf("refusing to create an ambiguous tag using digest algorithm as name")
		}
		if named, err = reference.WithTag(named, tag); err != nil {
			return errdefs.InvalidArgumentf("invalid tag format")
		}
	}
	_, r, err := s.lookup(ctx, source)
	if err != nil {
		return err
	}
	img, err := s.store.Tag(ctx, source, named.String())
	if err != nil {
		return err
	}
	s.emit(eventtypes.ActionTag, r.ID().String(), reference.Familiar(img.Name))
	return nil
}

func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
