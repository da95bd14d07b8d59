package images

import (
	"context"
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
		if _, _, err := s.lookup(ctx, ref); err != nil {
			return err
		}
	}
	return nil
}

// Save is GET /images/get: the images refs name (names or IDs, several
// names of one image kept) as one archive in `docker save`'s format,
// which is also an OCI image layout.
func (s *Service) Save(ctx context.Context, refs []string, w io.Writer) error {
	if err := s.store.Save(ctx, w, refs, image.FormatDocker); err != nil {
		return err
	}
	for _, ref := range refs {
		if _, r, err := s.lookup(ctx, ref); err == nil {
			s.emit(eventtypes.ActionSave, r.ID().String(), ref)
		}
	}
	return nil
}
