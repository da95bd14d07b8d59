package images

import (
	"context"
	"fmt"
	"io"

	eventtypes "github.com/moby/moby/api/types/events"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/image/reference"
)

// Load is POST /images/load: it stores every image of a Docker archive
// (`docker save`, old or new layout) or OCI archive, unpacked and ready to
// run, and returns Docker's lines naming them ("Loaded image: NAME" or,
// untagged, "Loaded image ID: ID"). A load that fails or is killed
// leaves no image behind.
func (s *Service) Load(ctx context.Context, r io.Reader) ([]string, error) {
	loaded, err := s.store.Load(ctx, r, image.WithUnpack(s.sn))
	if err != nil {
		if !errdefs.Classified(err) {
			// A bad archive is the client's input.
			err = errdefs.InvalidArgument(err)
		}
		return nil, err
	}
	var lines []string
	seen := map[string]bool{}
	for _, li := range loaded {
		line := "Loaded image ID: " + li.ID.String()
		if li.Name != "" {
			line = "Loaded image: " + reference.Familiar(li.Name)
		}
		if seen[line] {
			continue
		}
		seen[line] = true
		lines = append(lines, line)
		name := li.ID.String()
		if li.Name != "" {
			name = reference.Familiar(li.Name)
		}
		s.emit(eventtypes.ActionLoad, li.ID.String(), name)
	}
	if len(lines) == 0 {
		return nil, errdefs.InvalidArgument(fmt.Errorf("the archive has no image for this platform"))
	}
	return lines, nil
}
