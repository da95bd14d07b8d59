package shim

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"
)

// readyFd is the pipe on which the shim reports to its launcher that the
// container is created (or why not).
const readyFd = 3

// startTimeout bounds how long a created container waits for its start
// request before the shim gives up and deletes it.
const startTimeout = 5 * time.Minute

// Main runs the shim: `berth shim CONFIG`. It returns the process's exit
// code.
func Main(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: berth shim CONFIG.json")
		return 2
	}
	cfg, err := ReadConfig(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "shim:", err)
		return 1
	}
	if err := run(cfg); err != nil {
		fmt.Fprintf(os.Stderr, "shim %s: %v\n", cfg.ID, err)
		return 1
	}
	return 0
}

func run(cfg *Config) error {
	signal.Ignore(unix.SIGHUP, unix.SIGPIPE, unix.SIGINT)
	ready := readyPipe()
	report := func(r Response) {
		if ready != nil {
			b, _ := json.Marshal(r)
			ready.Write(b)
			ready.Close()
			ready = nil
		}
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		report(errResponse(err))
		return fmt.Errorf("set child subreaper: %w", err)
	}
	s, err := newShim(cfg)
	if err != nil {
		report(errResponse(err))
		return err
	}
	os.Remove(cfg.Socket)
	l, err := net.Listen("unix", cfg.Socket)
	if err != nil {
		report(errResponse(err))
		return fmt.Errorf("listen: %w", err)
	}
	defer os.Remove(cfg.Socket)
	defer l.Close()
	if err := s.create(); err != nil {
		s.state.Status = StatusExited
		s.state.ExitCode = 128
		s.state.Error = err.Error()
		s.state.FinishedAt = time.Now().UTC()
		s.publish()
		report(errResponse(err))
		return err
	}
	s.publish()
	go s.serve(l)
	report(Response{Pid: s.state.Pid})

	select {
	case <-s.started:
	case <-time.After(startTimeout):
		s.forceDelete()
		return fmt.Errorf("no start request within %s", startTimeout)
	}
	s.mu.Lock()
	failed := s.state.Status == StatusExited
	s.mu.Unlock()
	if !failed {
		s.supervise()
	}
	l.Close()
	for deadline := time.Now().Add(2 * time.Second); s.inflight.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if s.log != nil {
		s.log.Close()
	}
	return nil
}

func readyPipe() *os.File {
	if _, err := unix.FcntlInt(readyFd, unix.F_GETFD, 0); err != nil {
		return nil
	}
	return os.NewFile(readyFd, "ready")
}
