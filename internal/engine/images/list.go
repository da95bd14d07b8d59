package images

import (
	"context"
	"strconv"
	"time"

	imagetypes "github.com/moby/moby/api/types/image"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image/reference"
)

// ListOptions are the parameters of GET /images/json.
type ListOptions struct {
	// All shows intermediate images too (untagged parents of others).
	All bool
	// Filters: dangling, label, label!, reference, before, since, until.
	Filters map[string][]string
	// SharedSize computes the bytes each image shares with others.
	SharedSize bool
	// ContainerCount counts the containers using each image.
	ContainerCount bool
}

// List returns the images matching opts, newest first.
func (s *Service) List(ctx context.Context, opts ListOptions) ([]imagetypes.Summary, error) {
	f, err := parseListFilters(opts.Filters)
	if err != nil {
		return nil, err
	}
	all, err := s.entries(ctx)
	if err != nil {
		return nil, err
	}
	if f.before, err = s.filterTime(ctx, opts.Filters["before"]); err != nil {
		return nil, err
	}
	if f.since, err = s.filterTime(ctx, opts.Filters["since"]); err != nil {
		return nil, err
	}
	kids := children(all)
	var shared map[string]int64
	if opts.SharedSize {
		shared = s.sharedSizes(ctx, all)
	}
	var used map[string]int
	if opts.ContainerCount {
		used = s.usedBy()
	}
	out := []imagetypes.Summary{}
	for _, e := range all {
		if len(kids[e.id.String()]) > 0 && (!opts.All && e.unnamed() || f.dangling != nil && *f.dangling) {
			continue // an intermediate image; dangling=true lists only images without children, as Docker
		}
		if !f.match(e) {
			continue
		}
		sum := s.summary(ctx, e)
		if len(f.references) > 0 {
			// As Docker: only the names the filter matched.
			sum.RepoTags, sum.RepoDigests = matching(sum.RepoTags, f.references), matching(sum.RepoDigests, f.references)
		}
		if shared != nil {
			sum.SharedSize = shared[e.id.String()]
		}
		if used != nil {
			sum.Containers = int64(used[e.id.String()])
		}
		out = append(out, sum)
	}
	return out, nil
}

// summary is an image as GET /images/json lists it; SharedSize and
// Containers are -1 (not computed).
func (s *Service) summary(ctx context.Context, e *entry) imagetypes.Summary {
	target := e.recs[0].Target
	sum := imagetypes.Summary{
		ID: e.id.String(), ParentID: e.parent(), RepoTags: e.tags, RepoDigests: e.digests,
		Size: s.store.Size(ctx, e.r), Labels: e.r.Config.Config.Labels,
		SharedSize: -1, Containers: -1, Descriptor: &target,
	}
	if sum.Labels == nil {
		sum.Labels = map[string]string{}
	}
	if !e.created.IsZero() {
		sum.Created = e.created.Unix()
	}
	return sum
}

type listFilters struct {
	dangling      *bool
	labels        []string
	notLabels     []string
	references    []string
	before, since *time.Time
	until         *time.Time
}

func parseListFilters(filters map[string][]string) (*listFilters, error) {
	f := &listFilters{}
	for k, vs := range filters {
		switch k {
		case "dangling":
			for _, v := range vs {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return nil, errdefs.InvalidArgumentf("invalid filter 'dangling=%s'", v)
				}
				f.dangling = &b
			}
		case "label":
			f.labels = vs
		case "label!":
			f.notLabels = vs
		case "reference":
			f.references = vs
		case "before", "since":
		case "until":
			for _, v := range vs {
				t, err := parseTimestamp(v, time.Now())
				if err != nil {
					return nil, err
				}
				f.until = &t
			}
		default:
			return nil, errdefs.InvalidArgumentf("invalid filter '%s'", k)
		}
	}
	return f, nil
}

// filterTime resolves the image of a before/since filter to its creation
// time.
func (s *Service) filterTime(ctx context.Context, refs []string) (*time.Time, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	_, r, err := s.lookup(ctx, refs[len(refs)-1])
	if err != nil {
		return nil, err
	}
	var t time.Time
	if r.Config.Created != nil {
		t = *r.Config.Created
	}
	return &t, nil
}

func (f *listFilters) match(e *entry) bool {
	// As Docker: dangling=true lists the images without a tag, dangling=false
	// those with a tag or a digest reference (so an image pulled by digest
	// only is listed by both).
	if f.dangling != nil && (*f.dangling && !e.dangling() || !*f.dangling && e.unnamed()) {
		return false
	}
	labels := e.r.Config.Config.Labels
	if !labelsMatch(labels, f.labels, false) || !labelsMatch(labels, f.notLabels, true) {
		return false
	}
	if f.before != nil && !e.created.Before(*f.before) {
		return false
	}
	if f.since != nil && !e.created.After(*f.since) {
		return false
	}
	if f.until != nil && !e.created.Before(*f.until) {
		return false
	}
	if len(f.references) > 0 {
		found := false
		for _, rec := range e.recs {
			if rec.Dangling() {
				continue
			}
			for _, p := range f.references {
				if reference.Match(p, rec.Name) {
					found = true
				}
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// parseTimestamp reads Docker's filter timestamps: unix seconds (with an
// optional fraction), RFC 3339 dates and times, or a duration before now
// ("10m", "24h").
func parseTimestamp(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errdefs.InvalidArgumentf("invalid timestamp %q: use unix seconds, RFC 3339 or a duration such as 24h", v)
}

// matching returns the refs that match one of the reference patterns.
func matching(refs, patterns []string) []string {
	out := []string{}
	for _, r := range refs {
		for _, p := range patterns {
			if reference.Match(p, r) {
				out = append(out, r)
				break
			}
		}
	}
	return out
}
