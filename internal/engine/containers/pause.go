package containers

import (
	"context"
	"fmt"

	"github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"

	"github.com/berth-project/berth/internal/errdefs"
)

// Pause freezes all processes of the container.
func (s *Service) Pause(ctx context.Context, ref string) error {
	return s.freeze(ctx, ref, true)
}

// Unpause thaws a paused container.
func (s *Service) Unpause(ctx context.Context, ref string) error {
	return s.freeze(ctx, ref, false)
}

func (s *Service) freeze(_ context.Context, ref string, pause bool) error {
	c, unlock, err := s.getLocked(ref)
	if err != nil {
		return err
	}
	defer unlock()
	cmd := "resume"
	if pause {
		if c.State.Status == container.StatePaused {
			return errdefs.Conflictf("container %s is already paused", c.ID)
		}
		if err := c.State.SetPaused(); err != nil {
			return errdefs.Conflictf("container %s is not running", c.ID)
		}
		cmd = "pause"
	} else if err := c.State.SetUnpaused(); err != nil {
		return errdefs.Conflictf("container %s is not paused", c.ID)
	}
	rt, err := s.shimRuntime(c)
	if err != nil {
		return err
	}
	if err := runtimeCmd(rt.Argv(cmd, c.ID)); err != nil {
		return fmt.Errorf("%s %s: %w", cmd, c.ID[:12], err)
	}
	if err := s.save(c); err != nil {
		return err
	}
	if pause {
		s.emit(c, eventtypes.ActionPause, nil)
	} else {
		s.emit(c, eventtypes.ActionUnPause, nil)
	}
	return nil
}
