package images

import (
	"context"
	"errors"

	imagetypes "github.com/moby/moby/api/types/image"

	"github.com/berth-project/berth/internal/image"
)

// History is GET /images/{name}/history: one entry per history entry
// of the config, newest first; only the top one carries the ID and tags.
func (s *Service) History(ctx context.Context, ref string) ([]imagetypes.HistoryResponseItem, error) {
	items, err := s.store.History(ctx, ref)
	if errors.Is(err, image.ErrNotFound) {
		if _, _, lerr := s.lookup(ctx, ref); lerr != nil {
			return nil, lerr
		}
	}
	if err != nil {
		return nil, err
	}
	out := make([]imagetypes.HistoryResponseItem, 0, len(items))
	for _, it := range items {
		out = append(out, imagetypes.HistoryResponseItem{
			ID: it.ID, Created: it.Created, CreatedBy: it.CreatedBy, Tags: it.Tags, Size: it.Size, Comment: it.Comment,
		})
	}
	return out, nil
}
