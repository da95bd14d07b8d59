package containers

import (
	"context"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/internal/errdefs"
)

// WaitResult is how a waited-for container ended.
type WaitResult struct {
	ExitCode int
	Err      error
}

// Wait registers a wait for condition ("not-running" by default,
// "next-exit", "removed") and returns a channel that gets the result. The
// registration is done when Wait returns, so a start that follows is seen.
func (s *Service) Wait(ctx context.Context, ref string, cond container.WaitCondition) (<-chan WaitResult, error) {
	c, err := s.store.Get(ref)
	if err != nil {
		return nil, err
	}
	switch cond {
	case "", container.WaitConditionNotRunning, container.WaitConditionNextExit, container.WaitConditionRemoved:
	default:
		return nil, errdefs.InvalidArgumentf("invalid condition: %q", cond)
	}
	id := c.ID
	s.mu.Lock()
	startExits := s.exits[id]
	s.mu.Unlock()
	out := make(chan WaitResult, 1)
	go func() {
		last := c.State.ExitCode
		for {
			ch := s.changes(id)
			c, err := s.store.Get(id)
			if err != nil {
				s.mu.Lock()
				if code, ok := s.lastExit[id]; ok {
					last = code
				}
				s.mu.Unlock()
				if cond == container.WaitConditionRemoved {
					out <- WaitResult{ExitCode: last}
				} else {
					out <- WaitResult{ExitCode: last, Err: err}
				}
				return
			}
			last = c.State.ExitCode
			s.mu.Lock()
			exits := s.exits[id]
			s.mu.Unlock()
			switch cond {
			case container.WaitConditionNextExit:
				if exits > startExits {
					out <- WaitResult{ExitCode: last}
					return
				}
			case container.WaitConditionRemoved:
			default:
				if !c.State.Running() {
					out <- WaitResult{ExitCode: last}
					return
				}
			}
			select {
			case <-ch:
			case <-ctx.Done():
				out <- WaitResult{ExitCode: last, Err: ctx.Err()}
				return
			}
		}
	}()
	return out, nil
}
