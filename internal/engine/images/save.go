package images

import (
	"context"
	"errors"
	"io"

	eventtypes "github.com/moby/moby/api/types/events"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
)

// CheckSave makes sure every ref names an image, so that Save's errors
// come before its first byte.
func (s *Service) CheckSave(ctx context.Context, refs []string) error {
	if len(refs) == 0 {
		return errdefs.InvalidArgumentf("no images to save")
	}
	for _, ref := range refs {
		if _, err := s.store.SaveIDs(ctx, []string{ref}); err != nil {
			if errors.Is(err, image.ErrNotFound) {
				return noSuchImage(ref)
			}
			return err
		}
	}
	return nil
}

// Save is GET /images/get: the images refs name as one archive in
// `docker save`'s format, which is also an OCI image layout. As docker
// save: a repository alone stands for each of its tags, a tag is saved
// with its name, an ID or a digest reference without one.
func (s *Service) Save(ctx context.Context, refs []string, w io.Writer) error {
	if err := s.store.Save(ctx, w, refs, image.FormatDocker); err != nil {
		return err
	}
	for _, ref := range refs {
		ids, _ := s.store.SaveIDs(ctx, []string{ref})
		for _, id := range ids {
			s.emit(eventtypes.ActionSave, id.String(), ref)
		}
	}
	return nil
}
