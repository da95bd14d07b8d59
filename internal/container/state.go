package container

import (
	"fmt"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/internal/errdefs"
)

// State is a container's run state. Its transitions are the methods below;
// they refuse moves the state machine does not allow with Conflict errors.
type State struct {
	Status     container.ContainerState
	Pid        int
	ExitCode   int
	OOMKilled  bool
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
	// Health is the healthcheck state while the container runs with one.
	Health *container.Health `json:",omitempty"`
}

// NewState is the state of a just created container.
func NewState() State { return State{Status: container.StateCreated} }

// Running reports whether the container has a live process (running,
// paused or restarting under its supervisor).
func (s *State) Running() bool {
	switch s.Status {
	case container.StateRunning, container.StatePaused, container.StateRestarting:
		return true
	}
	return false
}

// CanStart checks that the container may be started.
func (s *State) CanStart() error {
	switch s.Status {
	case container.StateCreated, container.StateExited:
		return nil
	case container.StateRunning, container.StateRestarting:
		return errdefs.NotModified(fmt.Errorf("container already started"))
	case container.StatePaused:
		return errdefs.Conflictf("cannot start a paused container, try unpause instead")
	case container.StateRemoving:
		return errdefs.Conflictf("container is marked for removal and cannot be started")
	default:
		return errdefs.Conflictf("container is %s and cannot be started", s.Status)
	}
}

// SetRunning moves to running with init pid.
func (s *State) SetRunning(pid int, at time.Time) {
	s.Status = container.StateRunning
	s.Pid = pid
	s.Health = nil
	s.ExitCode = 0
	s.OOMKilled = false
	s.Error = ""
	s.StartedAt = at
}

// SetRestarting records an exit after which the supervisor will restart.
func (s *State) SetRestarting(exitCode int, oom bool, at time.Time) {
	s.Status = container.StateRestarting
	s.Pid = 0
	s.ExitCode = exitCode
	s.OOMKilled = oom
	s.FinishedAt = at
}

// SetExited records the final exit of the container's process.
func (s *State) SetExited(exitCode int, oom bool, errMsg string, at time.Time) {
	s.Status = container.StateExited
	s.Pid = 0
	s.Health = nil
	s.ExitCode = exitCode
	s.OOMKilled = oom
	s.Error = errMsg
	s.FinishedAt = at
}

// SetStartFailed records a start that never got the process running.
func (s *State) SetStartFailed(exitCode int, errMsg string, at time.Time) {
	s.SetExited(exitCode, false, errMsg, at)
	if s.StartedAt.IsZero() {
		s.Status = container.StateCreated
	}
}

// SetPaused moves a running container to paused.
func (s *State) SetPaused() error {
	if s.Status != container.StateRunning {
		return errdefs.Conflictf("container is not running")
	}
	s.Status = container.StatePaused
	return nil
}

// SetUnpaused moves a paused container back to running.
func (s *State) SetUnpaused() error {
	if s.Status != container.StatePaused {
		return errdefs.Conflictf("container is not paused")
	}
	s.Status = container.StateRunning
	return nil
}

// SetRemoving marks the container for removal; force allows it while the
// container runs (the caller then kills it).
func (s *State) SetRemoving(force bool) error {
	if s.Status == container.StateRemoving {
		return errdefs.Conflictf("removal of container is already in progress")
	}
	if s.Running() && !force {
		if s.Status == container.StatePaused {
			return errdefs.Conflictf("cannot remove container: container is paused; unpause the container before stopping or removing")
		}
		return errdefs.Conflictf("cannot remove container: container is %s: stop the container before removing or force remove", s.Status)
	}
	s.Status = container.StateRemoving
	return nil
}

// SetDead marks a container whose removal failed: nothing runs, rm may
// try again.
func (s *State) SetDead() {
	s.Status = container.StateDead
	s.Pid = 0
	s.Health = nil
}

// API returns the state in the Engine API's shape.
func (s *State) API() *container.State {
	st := &container.State{
		Status:     s.Status,
		Running:    s.Running(),
		Paused:     s.Status == container.StatePaused,
		Restarting: s.Status == container.StateRestarting,
		OOMKilled:  s.OOMKilled,
		Dead:       s.Status == container.StateDead,
		Pid:        s.Pid,
		ExitCode:   s.ExitCode,
		Error:      s.Error,
		StartedAt:  formatTime(s.StartedAt),
		FinishedAt: formatTime(s.FinishedAt),
		Health:     s.Health,
	}
	return st
}

func (s *State) healthSuffix() string {
	if s.Health == nil {
		return ""
	}
	if s.Health.Status == container.Starting {
		return " (health: starting)"
	}
	return " (" + string(s.Health.Status) + ")"
}

// Describe returns Docker's human status: "Up 3 minutes", "Exited (0) 2
// seconds ago", "Created".
func (s *State) Describe(now time.Time) string {
	switch s.Status {
	case container.StateRunning:
		return "Up " + HumanDuration(now.Sub(s.StartedAt)) + s.healthSuffix()
	case container.StatePaused:
		return "Up " + HumanDuration(now.Sub(s.StartedAt)) + " (Paused)"
	case container.StateRestarting:
		return fmt.Sprintf("Restarting (%d) %s ago", s.ExitCode, HumanDuration(now.Sub(s.FinishedAt)))
	case container.StateExited:
		if s.FinishedAt.IsZero() {
			return "Created"
		}
		return fmt.Sprintf("Exited (%d) %s ago", s.ExitCode, HumanDuration(now.Sub(s.FinishedAt)))
	case container.StateRemoving:
		return "Removal In Progress"
	case container.StateDead:
		return "Dead"
	default:
		return "Created"
	}
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// HumanDuration prints d the way Docker's go-units HumanDuration does.
func HumanDuration(d time.Duration) string {
	if seconds := int(d.Seconds()); seconds < 1 {
		return "Less than a second"
	} else if seconds == 1 {
		return "1 second"
	} else if seconds < 60 {
		return fmt.Sprintf("%d seconds", seconds)
	} else if minutes := int(d.Minutes()); minutes == 1 {
		return "About a minute"
	} else if minutes < 60 {
		return fmt.Sprintf("%d minutes", minutes)
	} else if hours := int(d.Hours() + 0.5); hours == 1 {
		return "About an hour"
	} else if hours < 48 {
		return fmt.Sprintf("%d hours", hours)
	} else if hours < 24*7*2 {
		return fmt.Sprintf("%d days", hours/24)
	} else if hours < 24*30*2 {
		return fmt.Sprintf("%d weeks", hours/24/7)
	} else if hours < 24*365*2 {
		return fmt.Sprintf("%d months", hours/24/30)
	}
	return fmt.Sprintf("%d years", int(d.Hours())/24/365)
}
