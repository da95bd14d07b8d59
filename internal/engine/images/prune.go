package images

import (
	"context"
	"strconv"
	"time"

	imagetypes "github.com/moby/moby/api/types/image"

	"github.com/berth-project/berth/internal/errdefs"
)

// Prune is POST /images/prune: it deletes the dangling images no
// container uses (every unused image with the filter dangling=false),
// created before until and matching the label filters, with their
// untagged parents, and reports the bytes freed.
func (s *Service) Prune(ctx context.Context, filters map[string][]string) (imagetypes.PruneReport, error) {
	danglingOnly := true
	var until *time.Time
	for k, vs := range filters {
		switch k {
		case "dangling":
			for _, v := range vs {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return imagetypes.PruneReport{}, errdefs.InvalidArgumentf("invalid filter 'dangling=%s'", v)
				}
				danglingOnly = b
			}
		case "until":
			for _, v := range vs {
				t, err := parseTimestamp(v, time.Now())
				if err != nil {
					return imagetypes.PruneReport{}, err
				}
				until = &t
			}
		case "label", "label!":
		default:
			return imagetypes.PruneReport{}, errdefs.InvalidArgumentf("invalid filter '%s'", k)
		}
	}
	s.removeMu.Lock()
	defer s.removeMu.Unlock()
	d := &deleter{s: s, ctx: ctx, out: []imagetypes.DeleteResponse{}}
	if err := d.load(); err != nil {
		return imagetypes.PruneReport{}, err
	}
	used := s.usedBy()
	for _, e := range d.all {
		switch {
		case len(d.kids[e.id.String()]) > 0, used[e.id.String()] > 0:
			continue
		case danglingOnly && !e.dangling():
			continue
		case until != nil && !e.created.Before(*until):
			continue
		case !labelsMatch(e.r.Config.Config.Labels, filters["label"], false),
			!labelsMatch(e.r.Config.Config.Labels, filters["label!"], true):
			continue
		}
		if err := d.delete(e.id, true, true, true); err != nil {
			return imagetypes.PruneReport{}, err
		}
	}
	if err := d.collect(); err != nil {
		return imagetypes.PruneReport{}, err
	}
	rep := imagetypes.PruneReport{ImagesDeleted: d.out, SpaceReclaimed: uint64(max(d.freed, 0))}
	if len(rep.ImagesDeleted) == 0 {
		rep.ImagesDeleted = nil
	}
	return rep, nil
}
