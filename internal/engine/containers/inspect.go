package containers

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"

	crec "github.com/berth-project/berth/internal/container"
)

// Inspect returns the container in the Engine API's shape, so docker's
// --format templates work on it.
func (s *Service) Inspect(_ context.Context, ref string) (container.InspectResponse, error) {
	c, err := s.store.Get(ref)
	if err != nil {
		return container.InspectResponse{}, err
	}
	return s.inspect(c), nil
}

func (s *Service) inspect(c *crec.Container) container.InspectResponse {
	mounts := c.Mounts
	if mounts == nil {
		mounts = []container.MountPoint{}
	}
	cfg := *c.Config
	if cfg.Hostname == "" {
		cfg.Hostname = c.ID[:12]
	}
	return container.InspectResponse{
		ID:              c.ID,
		Created:         c.Created.Format(time.RFC3339Nano),
		Path:            c.Path,
		Args:            nonNil(c.Args),
		State:           c.State.API(),
		Image:           c.ImageID,
		ResolvConfPath:  filepath.Join(c.Dir, "resolv.conf"),
		HostnamePath:    filepath.Join(c.Dir, "hostname"),
		HostsPath:       filepath.Join(c.Dir, "hosts"),
		LogPath:         c.LogPath,
		Name:            "/" + c.Name,
		RestartCount:    c.RestartCount,
		Driver:          "overlay",
		Platform:        "linux",
		ExecIDs:         s.execIDs(c.ID),
		HostConfig:      c.HostConfig,
		Mounts:          mounts,
		Config:          &cfg,
		NetworkSettings: networkSettings(c),
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Summary returns the container as `GET /containers/json` lists it.
func (s *Service) Summary(c *crec.Container, now time.Time) container.Summary {
	sum := container.Summary{
		ID:      c.ID,
		Names:   []string{"/" + c.Name},
		Image:   c.Image,
		ImageID: c.ImageID,
		Command: strings.Join(append([]string{c.Path}, c.Args...), " "),
		Created: c.Created.Unix(),
		Ports:   portSummary(c),
		Labels:  c.Config.Labels,
		State:   c.State.Status,
		Status:  c.State.Describe(now),
		Mounts:  c.Mounts,
		NetworkSettings: &container.NetworkSettingsSummary{
			Networks: endpoints(c),
		},
	}
	if sum.Mounts == nil {
		sum.Mounts = []container.MountPoint{}
	}
	if h := c.State.Health; h != nil {
		sum.Health = &container.HealthSummary{Status: h.Status, FailingStreak: h.FailingStreak}
	}
	sum.HostConfig.NetworkMode = string(c.HostConfig.NetworkMode)
	return sum
}
