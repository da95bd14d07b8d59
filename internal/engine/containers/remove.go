package containers

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	eventtypes "github.com/moby/moby/api/types/events"

	crec "github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
)

// RemoveOptions are rm's flags.
type RemoveOptions struct {
	Force         bool
	RemoveVolumes bool
}

// Remove deletes a container: kills it when forced, then removes its
// runtime state, rootfs, writable layer, anonymous volumes (with
// RemoveVolumes), directory and record.
func (s *Service) Remove(ctx context.Context, ref string, opts RemoveOptions) error {
	c, err := s.store.Get(ref)
	if err != nil {
		return err
	}
	if c.State.Running() && opts.Force {
		client := s.shimClient(c.ID)
		if err := client.Kill(ctx, int(syscall.SIGKILL), true, true); err != nil && !isNotRunning(err) {
			return fmt.Errorf("kill %s: %w", c.ID[:12], err)
		}
		if err := s.waitStopped(ctx, c.ID); err != nil {
			return err
		}
	}
	unlock := s.lock(c.ID)
	defer unlock()
	if c, err = s.store.Get(c.ID); err != nil {
		return err
	}
	if err := c.State.SetRemoving(opts.Force); err != nil {
		return err
	}
	if err := s.store.Update(c); err != nil {
		return err
	}
	return s.cleanup(ctx, c, opts.RemoveVolumes)
}

func (s *Service) cleanup(ctx context.Context, c *crec.Container, removeVolumes bool) error {
	if rt, err := s.shimRuntime(c); err == nil {
		argv := rt.Argv("delete", "--force", c.ID)
		_ = exec.Command(argv[0], argv[1:]...).Run()
	}
	s.teardownNetwork(ctx, c)
	if err := s.images.Unmount(ctx, c.ID, filepath.Join(c.Dir, "rootfs")); err != nil {
		return fmt.Errorf("remove %s: %w", c.ID[:12], err)
	}
	if err := s.images.Release(ctx, c.ID); err != nil {
		return fmt.Errorf("remove %s: %w", c.ID[:12], err)
	}
	if err := s.releaseMounts(ctx, c, removeVolumes); err != nil {
		return fmt.Errorf("remove %s: %w", c.ID[:12], err)
	}
	os.Remove(s.shimSocket(c.ID))
	if err := os.RemoveAll(c.Dir); err != nil {
		return fmt.Errorf("remove %s: %w", c.ID[:12], err)
	}
	if err := s.store.Delete(c.ID); err != nil {
		return err
	}
	id := c.ID
	time.AfterFunc(time.Minute, func() {
		s.mu.Lock()
		delete(s.exits, id)
		delete(s.lastExit, id)
		s.mu.Unlock()
	})
	s.mu.Lock()
	delete(s.locks, c.ID)
	for id, e := range s.execs {
		if e.containerID == c.ID {
			delete(s.execs, id)
		}
	}
	s.mu.Unlock()
	s.failPendingAttaches(c.ID, errdefs.NotFoundf("container %s was removed", c.ID))
	s.emit(c, eventtypes.ActionDestroy, nil)
	s.notify(c.ID)
	return nil
}
