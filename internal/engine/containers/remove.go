package containers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"
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
	// Under the lock, a record already marked removing is one whose
	// removal failed or was cut short (a daemon crash): go on with it.
	if c.State.Status != container.StateRemoving {
		if err := c.State.SetRemoving(opts.Force); err != nil {
			return err
		}
		if err := s.store.Update(c); err != nil {
			return err
		}
	}
	if err := s.cleanup(ctx, c, opts.RemoveVolumes); err != nil {
		// As Docker: a container that could not be removed is dead; rm
		// tries again.
		c.State.SetDead()
		if uerr := s.save(c); uerr != nil {
			return errors.Join(err, uerr)
		}
		return err
	}
	return nil
}

func (s *Service) cleanup(ctx context.Context, c *crec.Container, removeVolumes bool) error {
	if err := s.deleteRuntimeState(c); err != nil {
		return fmt.Errorf("remove %s: %w", c.ID[:12], err)
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
	if err := removeDir(c.Dir); err != nil {
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

// removeDir removes a container's directory. A shim that is still ending
// writes nothing there after it reported the exit, but a file may appear
// between RemoveAll's listing and its rmdir when something else did (a
// log compression): try again a few times.
func removeDir(dir string) error {
	var err error
	for i := 0; i < 5; i++ {
		if err = os.RemoveAll(dir); err == nil || !errors.Is(err, syscall.ENOTEMPTY) {
			return err
		}
	}
	return err
}
