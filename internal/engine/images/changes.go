package images

import (
	"context"
	"sort"
	"strings"

	containertypes "github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/internal/archive"
)

// Changes is GET /containers/{id}/changes (`docker diff`): the paths the
// container added (A), changed (C) or deleted (D) in its filesystem,
// sorted.
func (s *Service) Changes(ctx context.Context, ref string) ([]containertypes.FilesystemChange, error) {
	c, err := s.container(ref)
	if err != nil {
		return nil, err
	}
	l, err := s.layerDirs(ctx, c)
	if err != nil {
		return nil, err
	}
	changes, err := archive.Changes(ctx, l.lower, l.upper, archive.ChangesOptions{UpperIsOverlay: l.overlay, Lowers: l.lowers, Exclude: engineMade})
	if err != nil {
		return nil, err
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].Path < changes[j].Path })
	out := make([]containertypes.FilesystemChange, 0, len(changes))
	for i, ch := range changes {
		if ch.Kind == archive.ChangeModify && engineMadeDirs[ch.Path] &&
			(i+1 == len(changes) || !strings.HasPrefix(changes[i+1].Path, ch.Path+"/")) {
			continue // changed only by the engine's mount points
		}
		out = append(out, containertypes.FilesystemChange{Kind: containertypes.ChangeType(ch.Kind), Path: ch.Path})
	}
	return out, nil
}
