package images

import (
	"context"
	"io"
	"strings"

	containertypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"

	"github.com/berth-project/berth/internal/archive"
	crec "github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/image/reference"
)

// CommitOptions are the parameters of POST /commit.
type CommitOptions struct {
	Container string
	Repo, Tag string // the new image's name ("" for none)
	Author    string
	Comment   string
	Changes   []string // Dockerfile instructions applied to the config
	Pause     bool     // freeze the container while its changes are read
	// Config, when set, overrides the container's config in the image
	// (its non-empty fields).
	Config *containertypes.Config
}

// Commit is POST /commit (`docker commit`): the container's changes
// become a new layer on its image, with the container's config (and
// opts.Config and Changes on top) as the image's config. It returns the
// new image's ID.
func (s *Service) Commit(ctx context.Context, opts CommitOptions) (string, error) {
	c, err := s.container(opts.Container)
	if err != nil {
		return "", err
	}
	name, err := imageName(opts.Repo, opts.Tag)
	if err != nil {
		return "", err
	}
	if c.State.Status == containertypes.StateRemoving || c.State.Status == containertypes.StateDead {
		return "", errdefs.Conflictf("You cannot commit container %s which is being removed or dead", c.ID[:12])
	}
	if opts.Pause && c.State.Status == containertypes.StateRunning {
		if err := s.containers.Pause(ctx, c.ID); err != nil && !errdefs.IsConflict(err) {
			return "", err
		} else if err == nil {
			defer s.containers.Unpause(context.WithoutCancel(ctx), c.ID)
		}
	}
	l, err := s.layerDirs(ctx, c)
	if err != nil {
		return "", err
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(archive.Diff(ctx, l.lower, l.upper, pw, archive.DiffOptions{UpperIsOverlay: l.overlay, Exclude: engineMade}))
	}()
	defer pr.Close()
	cfg := runConfig(c.Config)
	if opts.Config != nil {
		overlayConfig(&cfg, opts.Config)
	}
	li, err := s.store.Commit(ctx, c.ImageID, pr, image.CommitOptions{
		Name: name, Config: &cfg, Changes: opts.Changes, Author: opts.Author, Comment: opts.Comment,
		CreatedBy: strings.Join(append([]string{c.Path}, c.Args...), " "),
	})
	if err != nil {
		return "", err
	}
	s.emitCommit(c, li)
	return li.ID.String(), nil
}

func (s *Service) emitCommit(c *crec.Container, li image.LoadedImage) {
	if s.events == nil {
		return
	}
	attrs := map[string]string{"name": c.Name, "image": c.Image, "imageID": li.ID.String()}
	if li.Name != "" {
		attrs["imageRef"] = reference.Familiar(li.Name)
	}
	s.events.Publish(eventtypes.ContainerEventType, eventtypes.ActionCommit, c.ID, attrs)
}

// runConfig is the image config part of a container's config.
func runConfig(c *containertypes.Config) image.RunConfig {
	var out image.RunConfig
	if c == nil {
		return out
	}
	overlayConfig(&out, c)
	return out
}

// overlayConfig sets the fields of c that are not empty on cfg.
func overlayConfig(cfg *image.RunConfig, c *containertypes.Config) {
	if c.User != "" {
		cfg.User = c.User
	}
	if len(c.ExposedPorts) > 0 {
		cfg.ExposedPorts = map[string]struct{}{}
		for p := range c.ExposedPorts {
			cfg.ExposedPorts[p.String()] = struct{}{}
		}
	}
	if len(c.Env) > 0 {
		cfg.Env = append([]string(nil), c.Env...)
	}
	if len(c.Cmd) > 0 {
		cfg.Cmd = append([]string(nil), c.Cmd...)
	}
	if c.Entrypoint != nil {
		cfg.Entrypoint = append([]string(nil), c.Entrypoint...)
	}
	if len(c.Volumes) > 0 {
		cfg.Volumes = map[string]struct{}{}
		for v := range c.Volumes {
			cfg.Volumes[v] = struct{}{}
		}
	}
	if c.WorkingDir != "" {
		cfg.WorkingDir = c.WorkingDir
	}
	if len(c.Labels) > 0 {
		cfg.Labels = map[string]string{}
		for k, v := range c.Labels {
			cfg.Labels[k] = v
		}
	}
	if c.StopSignal != "" {
		cfg.StopSignal = c.StopSignal
	}
	if len(c.OnBuild) > 0 {
		cfg.OnBuild = append([]string(nil), c.OnBuild...)
	}
	if len(c.Shell) > 0 {
		cfg.Shell = append([]string(nil), c.Shell...)
	}
	if h := c.Healthcheck; h != nil {
		cfg.Healthcheck = &image.HealthConfig{
			Test: h.Test, Interval: int64(h.Interval), Timeout: int64(h.Timeout),
			StartPeriod: int64(h.StartPeriod), StartInterval: int64(h.StartInterval), Retries: h.Retries,
		}
	}
}
