package containers

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"

	"github.com/berth-project/berth/internal/errdefs"
)

// DefaultStopTimeout is how long stop waits before SIGKILL.
const DefaultStopTimeout = 10

// Stop sends the stop signal, waits up to timeout seconds (nil: the
// container's or 10; negative: forever) and then kills.
func (s *Service) Stop(ctx context.Context, ref string, signal string, timeout *int) error {
	c, err := s.store.Get(ref)
	if err != nil {
		return err
	}
	if !c.State.Running() {
		return errdefs.NotModified(fmt.Errorf("container %s is not running", ref))
	}
	if signal == "" {
		signal = c.Config.StopSignal
	}
	sig := syscall.SIGTERM
	if signal != "" {
		if sig, err = ParseSignal(signal); err != nil {
			return err
		}
	}
	t := DefaultStopTimeout
	if c.Config.StopTimeout != nil {
		t = *c.Config.StopTimeout
	}
	if timeout != nil {
		t = *timeout
	}
	if c.State.Status == container.StatePaused {
		if err := s.Unpause(ctx, c.ID); err != nil {
			return err
		}
	}
	client := s.shimClient(c.ID)
	if err := client.Kill(ctx, int(sig), false, true); err != nil && c.State.Status != container.StateRestarting {
		if !isNotRunning(err) {
			return fmt.Errorf("stop %s: %w", c.ID[:12], err)
		}
	}
	defer s.emit(c, eventtypes.ActionStop, nil)
	if t >= 0 {
		wctx, cancel := context.WithTimeout(ctx, time.Duration(t)*time.Second)
		err := s.waitStopped(wctx, c.ID)
		cancel()
		if err == nil {
			return nil
		}
	} else if err := s.waitStopped(ctx, c.ID); err == nil {
		return nil
	}
	s.emit(c, eventtypes.ActionKill, map[string]string{"signal": "9"})
	if err := client.Kill(ctx, int(syscall.SIGKILL), true, true); err != nil && !isNotRunning(err) {
		return fmt.Errorf("kill %s: %w", c.ID[:12], err)
	}
	return s.waitStopped(ctx, c.ID)
}

// Kill sends a signal to the container's init.
func (s *Service) Kill(ctx context.Context, ref, signal string) error {
	c, err := s.store.Get(ref)
	if err != nil {
		return err
	}
	sig := syscall.SIGKILL
	if signal != "" {
		if sig, err = ParseSignal(signal); err != nil {
			return err
		}
	}
	if !c.State.Running() || c.State.Status == container.StateRestarting && sig != syscall.SIGKILL {
		return errdefs.Conflictf("cannot kill container: %s: container %s is not running", ref, c.ID)
	}
	manual := sig == syscall.SIGKILL || sig == syscall.SIGTERM
	s.emit(c, eventtypes.ActionKill, map[string]string{"signal": strconv.Itoa(int(sig))})
	if err := s.shimClient(c.ID).Kill(ctx, int(sig), false, manual); err != nil {
		if isNotRunning(err) {
			return errdefs.Conflictf("cannot kill container: %s: container %s is not running", ref, c.ID)
		}
		return fmt.Errorf("kill %s: %w", c.ID[:12], err)
	}
	if sig == syscall.SIGKILL {
		return s.waitStopped(ctx, c.ID)
	}
	return nil
}

// Restart stops (if running) and starts the container.
func (s *Service) Restart(ctx context.Context, ref, signal string, timeout *int) error {
	if err := s.Stop(ctx, ref, signal, timeout); err != nil && !errdefs.IsNotModified(err) {
		return err
	}
	return s.Start(ctx, ref)
}

// waitStopped waits until the container no longer runs.
func (s *Service) waitStopped(ctx context.Context, id string) error {
	for {
		ch := s.changes(id)
		c, err := s.store.Get(id)
		if err != nil || !c.State.Running() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func isNotRunning(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "not running") || strings.Contains(err.Error(), "shim is not running"))
}

// runtimeCmd runs a runtime subcommand for c and returns its error with
// the runtime's own words.
func runtimeCmd(argv []string) error {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %s", argv[len(argv)-2], strings.TrimSpace(string(out)))
	}
	return nil
}

var signals = map[string]syscall.Signal{
	"ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM, "BUS": syscall.SIGBUS, "CHLD": syscall.SIGCHLD,
	"CONT": syscall.SIGCONT, "FPE": syscall.SIGFPE, "HUP": syscall.SIGHUP, "ILL": syscall.SIGILL,
	"INT": syscall.SIGINT, "IO": syscall.SIGIO, "KILL": syscall.SIGKILL, "PIPE": syscall.SIGPIPE,
	"PROF": syscall.SIGPROF, "PWR": syscall.SIGPWR, "QUIT": syscall.SIGQUIT, "SEGV": syscall.SIGSEGV,
	"STOP": syscall.SIGSTOP, "SYS": syscall.SIGSYS, "TERM": syscall.SIGTERM, "TRAP": syscall.SIGTRAP,
	"TSTP": syscall.SIGTSTP, "TTIN": syscall.SIGTTIN, "TTOU": syscall.SIGTTOU, "URG": syscall.SIGURG,
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "VTALRM": syscall.SIGVTALRM, "WINCH": syscall.SIGWINCH,
	"XCPU": syscall.SIGXCPU, "XFSZ": syscall.SIGXFSZ,
}

// ParseSignal parses "SIGTERM", "TERM" or "15".
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, errdefs.InvalidArgumentf("invalid signal: %s", s)
		}
		return syscall.Signal(n), nil
	}
	sig, ok := signals[strings.TrimPrefix(strings.ToUpper(s), "SIG")]
	if !ok {
		return 0, errdefs.InvalidArgumentf("invalid signal: %s", s)
	}
	return sig, nil
}
