package volumes

import (
	"context"

	"github.com/moby/moby/api/types/volume"
)

// Usage returns every volume with its size and reference count, for
// system df.
func (s *Service) Usage(_ context.Context) ([]volume.Volume, error) {
	all, err := s.store.List()
	if err != nil {
		return nil, err
	}
	out := make([]volume.Volume, 0, len(all))
	for _, v := range all {
		out = append(out, s.api(v, true))
	}
	return out, nil
}
