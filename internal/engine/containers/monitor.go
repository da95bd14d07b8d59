package containers

import (
	"context"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"

	crec "github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/shim"
)

// watch follows the shim of a running container until it ends.
func (s *Service) watch(id string) {
	ctx, cancel := context.WithCancel(s.ctx)
	s.mu.Lock()
	if old, ok := s.monitors[id]; ok {
		old()
	}
	s.monitors[id] = cancel
	s.mu.Unlock()
	go s.monitor(ctx, id)
}

func (s *Service) monitor(ctx context.Context, id string) {
	ch, err := s.shimClient(id).Events(ctx)
	if err == nil {
		for st := range ch {
			s.applyShimState(id, &st)
		}
	}
	if ctx.Err() != nil {
		return // the daemon is going away; the shim is not
	}
	s.finish(id)
}

// applyShimState copies what the shim reports into the record.
func (s *Service) applyShimState(id string, st *shim.State) {
	unlock := s.lock(id)
	defer unlock()
	c, err := s.store.Get(id)
	if err != nil {
		return
	}
	if !s.applyState(c, st) {
		return
	}
	if err := s.save(c); err != nil {
		log.Printf("container %s: %v", id, err)
	}
}

// applyState moves c to the shim's state; it reports whether c changed.
func (s *Service) applyState(c *crec.Container, st *shim.State) bool {
	exited := func() {
		s.mu.Lock()
		s.exits[c.ID]++
		s.lastExit[c.ID] = st.ExitCode
		s.mu.Unlock()
	}
	switch st.Status {
	case shim.StatusRunning:
		if c.State.Status == container.StatePaused && c.State.Pid == st.Pid {
			return false
		}
		if c.State.Status == container.StateRunning && c.State.Pid == st.Pid && c.RestartCount == st.RestartCount {
			return s.applyHealth(c, st)
		}
		restarted := c.State.Status == container.StateRestarting
		c.State.SetRunning(st.Pid, st.StartedAt)
		c.RestartCount = st.RestartCount
		if restarted {
			s.emit(c, eventtypes.ActionStart, nil)
		}
		s.applyHealth(c, st)
	case shim.StatusRestarting:
		if c.State.Status == container.StateRestarting {
			return false
		}
		c.State.SetRestarting(st.ExitCode, st.OOMKilled, st.FinishedAt)
		c.RestartCount = st.RestartCount
		exited()
		s.emitExit(c, st)
	case shim.StatusExited:
		if !c.State.Running() {
			return false
		}
		c.State.SetExited(st.ExitCode, st.OOMKilled, st.Error, st.FinishedAt)
		c.RestartCount = st.RestartCount
		if st.ManuallyStopped {
			c.ManuallyStopped = true
		}
		exited()
		s.emitExit(c, st)
	default:
		return false
	}
	return true
}

// applyHealth copies the shim's healthcheck state; it reports a change
// and emits health_status events when the status moves.
func (s *Service) applyHealth(c *crec.Container, st *shim.State) bool {
	if st.Health == nil {
		changed := c.State.Health != nil
		c.State.Health = nil
		return changed
	}
	h := &container.Health{Status: container.HealthStatus(st.Health.Status), FailingStreak: st.Health.FailingStreak, Log: []*container.HealthcheckResult{}}
	for _, r := range st.Health.Log {
		h.Log = append(h.Log, &container.HealthcheckResult{Start: r.Start, End: r.End, ExitCode: r.ExitCode, Output: r.Output})
	}
	old := c.State.Health
	c.State.Health = h
	if old == nil || old.Status != h.Status {
		s.emit(c, eventtypes.Action("health_status: "+string(h.Status)), nil)
	}
	return true
}

func (s *Service) emitExit(c *crec.Container, st *shim.State) {
	if st.OOMKilled {
		s.emit(c, eventtypes.ActionOOM, nil)
	}
	s.emit(c, eventtypes.ActionDie, map[string]string{"exitCode": strconv.Itoa(st.ExitCode)})
}

// finish records the end of a container whose shim is gone: from the
// shim's state file, or, when the shim died without recording an exit,
// by killing what is left and marking the container exited.
func (s *Service) finish(id string) {
	unlock := s.lock(id)
	c, err := s.store.Get(id)
	if err != nil {
		unlock()
		return
	}
	st, err := shim.ReadState(filepath.Join(c.Dir, "state.json"))
	if err != nil || st.Status != shim.StatusExited {
		s.killOrphan(c)
		msg := "shim exited unexpectedly"
		if err != nil {
			msg += ": " + err.Error()
		}
		st = &shim.State{Status: shim.StatusExited, ExitCode: 137, Error: msg, FinishedAt: time.Now().UTC(), RestartCount: c.RestartCount}
	}
	changed := s.applyState(c, st)
	if err := s.deleteRuntimeState(c); err != nil {
		log.Printf("container %s: %v", id, err)
	}
	if s.teardownNetwork(context.Background(), c) {
		changed = true
	}
	if err := s.images.Unmount(context.Background(), c.ID, filepath.Join(c.Dir, "rootfs")); err != nil {
		log.Printf("container %s: unmount rootfs: %v", id, err)
	}
	os.Remove(s.shimSocket(id))
	if changed {
		if err := s.save(c); err != nil {
			log.Printf("container %s: %v", id, err)
		}
	}
	unlock()
	s.mu.Lock()
	delete(s.monitors, id)
	s.mu.Unlock()
	// The container's processes are gone, and so are its execs: forget
	// them once clients had time to inspect their exit codes.
	time.AfterFunc(time.Minute, func() { s.forgetExecs(id) })
	if c.HostConfig.AutoRemove {
		if err := s.Remove(context.Background(), id, RemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			log.Printf("container %s: auto-remove: %v", id, err)
		}
	}
}

// killOrphan kills and deletes a container whose shim is gone.
func (s *Service) killOrphan(c *crec.Container) {
	if err := s.deleteRuntimeState(c); err != nil {
		log.Printf("container %s: %v", c.ID, err)
	}
}

// Restore re-attaches to the shims of containers that were running when
// the daemon stopped, records the exits it missed, and starts containers
// whose restart policy asks for it after their shim is gone.
func (s *Service) Restore(ctx context.Context) {
	for _, c := range s.store.List() {
		if c.State.Status == container.StateRemoving {
			go s.Remove(ctx, c.ID, RemoveOptions{Force: true})
			continue
		}
		if !c.State.Running() {
			continue
		}
		client := s.shimClient(c.ID)
		st, err := client.State(ctx)
		if err == nil {
			s.applyShimState(c.ID, st)
			s.watch(c.ID)
			continue
		}
		s.finish(c.ID)
		c, err = s.store.Get(c.ID)
		if err != nil {
			continue
		}
		p := c.HostConfig.RestartPolicy
		if p.IsAlways() || (p.Name == container.RestartPolicyUnlessStopped && !c.ManuallyStopped) {
			if err := s.Start(ctx, c.ID); err != nil {
				log.Printf("container %s: restart on daemon start: %v", c.ID, err)
			}
		}
	}
}

// forgetExecs drops the finished exec records of a container that is not
// running.
func (s *Service) forgetExecs(id string) {
	if c, err := s.store.Get(id); err == nil && c.State.Running() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for eid, e := range s.execs {
		if e.containerID == id && !e.running {
			delete(s.execs, eid)
		}
	}
}
