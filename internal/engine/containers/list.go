package containers

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"

	crec "github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
)

// ListOptions are `GET /containers/json`'s parameters.
type ListOptions struct {
	All     bool
	Limit   int
	Filters map[string][]string
}

// ListSummaries lists containers (running only unless All) matching the
// filters: id, name, label, status, exited, ancestor, before, since.
func (s *Service) ListSummaries(_ context.Context, opts ListOptions) ([]container.Summary, error) {
	for k := range opts.Filters {
		switch k {
		case "id", "name", "label", "status", "exited", "ancestor", "before", "since", "volume", "network", "health":
		default:
			return nil, errdefs.InvalidArgumentf("invalid filter '%s'", k)
		}
	}
	all := s.store.List()
	var before, since *crec.Container
	if v := opts.Filters["before"]; len(v) > 0 {
		c, err := s.store.Get(v[0])
		if err != nil {
			return nil, err
		}
		before = c
	}
	if v := opts.Filters["since"]; len(v) > 0 {
		c, err := s.store.Get(v[0])
		if err != nil {
			return nil, err
		}
		since = c
	}
	now := time.Now()
	out := []container.Summary{}
	for _, c := range all {
		showAll := opts.All || len(opts.Filters["status"]) > 0 || len(opts.Filters["exited"]) > 0 || before != nil || since != nil
		if !showAll && !c.State.Running() {
			continue
		}
		if before != nil && !c.Created.Before(before.Created) {
			continue
		}
		if since != nil && !c.Created.After(since.Created) {
			continue
		}
		if !matches(c, opts.Filters) {
			continue
		}
		out = append(out, s.Summary(c, now))
		if opts.Limit > 0 && len(out) >= opts.Limit {
			break
		}
	}
	return out, nil
}

func matches(c *crec.Container, f map[string][]string) bool {
	any := func(key string, ok func(string) bool) bool {
		vals := f[key]
		if len(vals) == 0 {
			return true
		}
		for _, v := range vals {
			if ok(v) {
				return true
			}
		}
		return false
	}
	return any("id", func(v string) bool { return strings.HasPrefix(c.ID, v) }) &&
		any("name", func(v string) bool { return strings.Contains(c.Name, strings.TrimPrefix(v, "/")) }) &&
		any("status", func(v string) bool { return string(c.State.Status) == v }) &&
		any("exited", func(v string) bool {
			n, err := strconv.Atoi(v)
			return err == nil && c.State.Status == container.StateExited && c.State.ExitCode == n
		}) &&
		any("ancestor", func(v string) bool { return c.Image == v || strings.HasPrefix(c.ImageID, v) }) &&
		any("network", func(v string) bool { return onNetwork(c, v) }) &&
		any("health", func(v string) bool {
			if c.State.Health == nil {
				return v == string(container.NoHealthcheck)
			}
			return string(c.State.Health.Status) == v
		}) &&
		any("volume", func(v string) bool {
			for _, m := range c.Mounts {
				if m.Name == v || m.Destination == v || m.Source == v {
					return true
				}
			}
			return false
		}) &&
		allLabels(c, f["label"])
}

func allLabels(c *crec.Container, wanted []string) bool {
	for _, l := range wanted {
		k, v, hasV := strings.Cut(l, "=")
		got, ok := c.Config.Labels[k]
		if !ok || (hasV && got != v) {
			return false
		}
	}
	return true
}

// Prune removes all stopped containers and returns their IDs.
func (s *Service) Prune(ctx context.Context, filters map[string][]string) (container.PruneReport, error) {
	var rep container.PruneReport
	for _, c := range s.store.List() {
		if c.State.Running() || !allLabels(c, filters["label"]) {
			continue
		}
		if err := s.Remove(ctx, c.ID, RemoveOptions{}); err != nil {
			continue
		}
		rep.ContainersDeleted = append(rep.ContainersDeleted, c.ID)
	}
	return rep, nil
}

// Counts returns how many containers run, are paused and are stopped.
func (s *Service) Counts() (running, paused, stopped int) {
	for _, c := range s.store.List() {
		switch {
		case c.State.Status == container.StatePaused:
			paused++
		case c.State.Running():
			running++
		default:
			stopped++
		}
	}
	return
}

// onNetwork reports whether c is on network v (its name, ID or ID prefix).
func onNetwork(c *crec.Container, v string) bool {
	if string(c.HostConfig.NetworkMode) == v {
		return true
	}
	for name, es := range c.Networks {
		if name == v || es != nil && es.NetworkID != "" && strings.HasPrefix(es.NetworkID, v) {
			return true
		}
	}
	return false
}
