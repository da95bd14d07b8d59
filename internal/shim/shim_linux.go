package shim

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// shim supervises one container.
type shim struct {
	cfg    *Config
	rt     Runtime
	reaper *reaper
	log    *JSONLog
	out    *broadcaster

	mu       sync.Mutex
	state    State
	io       *procIO
	initExit <-chan int
	stopReq  chan struct{} // closed by a stop request
	stopped  bool
	started  chan struct{} // closed once the first start succeeded or failed
	events   map[chan State]struct{}
	// inflight counts requests being handled; the shim lets them finish
	// (for a while) before it exits.
	inflight atomic.Int32
	execs    map[string]*execProc
	oomFile  string
	oomBase  int64
	execSeq  int
	// healthDone ends the healthcheck loop of the current run.
	healthDone chan struct{}
}

func newShim(cfg *Config) (*shim, error) {
	s := &shim{
		cfg:     cfg,
		rt:      Runtime{Binary: cfg.Runtime, Args: cfg.RuntimeArgs, Root: cfg.RuntimeRoot},
		reaper:  newReaper(),
		out:     newBroadcaster(),
		stopReq: make(chan struct{}),
		started: make(chan struct{}),
		events:  map[chan State]struct{}{},
		execs:   map[string]*execProc{},
	}
	s.state = State{Status: StatusCreated, RestartCount: cfg.RestartCount, ShimPid: os.Getpid()}
	if cfg.LogPath != "" {
		l, err := OpenJSONLog(cfg.LogPath, cfg.LogMaxSize, cfg.LogMaxFiles)
		if err != nil {
			return nil, err
		}
		s.log = l
	}
	return s, nil
}

func (s *shim) path(name string) string { return filepath.Join(s.cfg.Bundle, name) }

// create runs `runtime create` with the container's stdio.
func (s *shim) create() error {
	var (
		pio     *procIO
		err     error
		console string
	)
	argv := []string{"--bundle", s.cfg.Bundle, "--pid-file", s.path("init.pid")}
	if s.cfg.Terminal {
		pio, err = nullIO()
		if err != nil {
			return err
		}
		console = s.cfg.Socket + ".pty"
		argv = append(argv, "--console-socket", console)
	} else {
		pio, err = newPipes(s.cfg.OpenStdin)
		if err != nil {
			return err
		}
	}
	var consoleL *consoleListener
	if console != "" {
		l, err := listenConsole(console)
		if err != nil {
			pio.closeChild()
			return err
		}
		consoleL = &consoleListener{l: l, path: console}
		defer consoleL.Close()
	}
	os.Remove(s.path("init.pid"))
	rt := s.rt
	rt.Log = s.path("runtime.log")
	os.Remove(rt.Log)
	_, wait, err := s.reaper.start(rt.Argv("create", append(argv, s.cfg.ID)...), pio.child, false)
	pio.closeChild()
	if err != nil {
		pio.close()
		return fmt.Errorf("start runtime: %w", err)
	}
	if code := <-wait; code != 0 {
		pio.close()
		if pio.outR != nil {
			pio.outR.Close()
			pio.errR.Close()
		}
		return runtimeError("create", code, nil, LastLogError(rt.Log))
	}
	pid, err := readPid(s.path("init.pid"))
	if err != nil {
		pio.close()
		return err
	}
	initExit := s.reaper.watch(pid)
	if consoleL != nil {
		master, err := receiveConsole(consoleL.l)
		if err != nil {
			s.forceDelete()
			return err
		}
		pio.console = master
	}
	s.oomFile, s.oomBase = oomCounter(pid)
	pio.startPumps(s.log, s.out)
	s.mu.Lock()
	s.io = pio
	s.initExit = initExit
	s.state.Pid = pid
	s.mu.Unlock()
	return nil
}

type consoleListener struct {
	l    *net.UnixListener
	path string
}

func (c *consoleListener) Close() error {
	err := c.l.Close()
	os.Remove(c.path)
	return err
}

// start runs `runtime start` and records the container as running.
func (s *shim) start() error {
	if out, code, err := s.run(s.rt.Argv("start", s.cfg.ID)); err != nil || code != 0 {
		if err == nil {
			err = runtimeError("start", code, out, "")
		}
		return err
	}
	s.mu.Lock()
	s.state.Status = StatusRunning
	s.state.StartedAt = time.Now().UTC()
	s.state.ExitCode = 0
	s.state.OOMKilled = false
	s.state.Error = ""
	s.state.Health = nil
	var done chan struct{}
	if s.cfg.Health != nil {
		s.state.Health = &Health{Status: HealthStarting, Log: []HealthResult{}}
		done = make(chan struct{})
		s.healthDone = done
	}
	s.mu.Unlock()
	s.publish()
	if done != nil {
		go s.healthLoop(done)
	}
	return nil
}

// run runs a runtime command that does not own the container's stdio and
// returns its combined output.
func (s *shim) run(argv []string) ([]byte, int, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, 0, err
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		r.Close()
		w.Close()
		return nil, 0, err
	}
	_, wait, err := s.reaper.start(argv, []*os.File{devnull, w, w}, false)
	w.Close()
	devnull.Close()
	if err != nil {
		r.Close()
		return nil, 0, fmt.Errorf("run %s: %w", argv[0], err)
	}
	out, _ := io.ReadAll(r)
	r.Close()
	return out, <-wait, nil
}

func (s *shim) forceDelete() {
	_, _, _ = s.run(s.rt.Argv("delete", "--force", s.cfg.ID))
}

// publish writes the state file and sends the state to event subscribers.
func (s *shim) publish() {
	s.mu.Lock()
	st := s.state
	for ch := range s.events {
		select {
		case ch <- st:
		default:
		}
	}
	s.mu.Unlock()
	if err := WriteState(s.cfg.StateFile, &st); err != nil {
		fmt.Fprintf(os.Stderr, "shim: write state: %v\n", err)
	}
}

// supervise waits for the container's init to exit, records how, and
// restarts it as the policy says; it returns when the container is done.
func (s *shim) supervise() {
	for {
		s.mu.Lock()
		initExit, pio := s.initExit, s.io
		s.mu.Unlock()
		code := <-initExit
		s.mu.Lock()
		if s.healthDone != nil {
			close(s.healthDone)
			s.healthDone = nil
		}
		s.state.Health = nil
		s.mu.Unlock()
		pio.waitPumps(2 * time.Second)
		pio.close()
		if pio.console != nil {
			pio.console.Close()
		}
		oom := s.oomKilled()
		s.forceDelete()
		now := time.Now().UTC()
		s.out.closeAll(code)

		s.mu.Lock()
		ranFor := now.Sub(s.state.StartedAt)
		restart := !s.stopped && s.shouldRestart(code)
		s.state.Pid = 0
		s.state.ExitCode = code
		s.state.OOMKilled = oom
		s.state.FinishedAt = now
		if restart {
			s.state.Status = StatusRestarting
			s.state.RestartCount++
		} else {
			s.state.Status = StatusExited
			s.state.ManuallyStopped = s.stopped
		}
		count := s.state.RestartCount
		s.mu.Unlock()
		s.publish()
		if !restart {
			return
		}
		if !s.backoff(count, ranFor) {
			s.mu.Lock()
			s.state.Status = StatusExited
			s.state.ManuallyStopped = true
			s.mu.Unlock()
			s.publish()
			return
		}
		err := s.create()
		if err == nil {
			if err = s.start(); err != nil {
				s.forceDelete()
			}
		}
		if err != nil {
			s.mu.Lock()
			s.state.Status = StatusExited
			s.state.ExitCode = 128
			s.state.Error = err.Error()
			s.mu.Unlock()
			s.publish()
			return
		}
	}
}

func (s *shim) shouldRestart(code int) bool {
	p := s.cfg.Restart
	switch p.Name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		return code != 0 && (p.MaxRetries <= 0 || s.state.RestartCount < p.MaxRetries)
	}
	return false
}

// backoff sleeps before a restart: 100ms doubling per restart up to a
// minute, back to 100ms when the container had run for 10s. It returns
// false when a stop request came in meanwhile.
func (s *shim) backoff(count int, ranFor time.Duration) bool {
	d := 100 * time.Millisecond
	if ranFor < 10*time.Second {
		for i := 1; i < count && d < time.Minute; i++ {
			d *= 2
		}
	}
	if d > time.Minute {
		d = time.Minute
	}
	select {
	case <-time.After(d):
		return true
	case <-s.stopReq:
		return false
	}
}

// requestStop marks the container as stopped by the user: no restart.
func (s *shim) requestStop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		s.stopped = true
		close(s.stopReq)
	}
}

func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("bad pid file %s: %q", path, b)
	}
	return pid, nil
}

// oomCounter finds the memory cgroup of pid and the value of its oom_kill
// counter (cgroup v1 memory.oom_control or v2 memory.events).
func oomCounter(pid int) (string, int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", 0
	}
	defer f.Close()
	var v1, v2 string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" && parts[0] == "0" {
			v2 = parts[2]
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "memory" {
				v1 = parts[2]
			}
		}
	}
	var file string
	switch {
	case v1 != "":
		file = filepath.Join("/sys/fs/cgroup/memory", v1, "memory.oom_control")
	case v2 != "":
		file = filepath.Join("/sys/fs/cgroup", v2, "memory.events")
	default:
		return "", 0
	}
	n, ok := readOOMKill(file)
	if !ok {
		return "", 0
	}
	return file, n
}

func readOOMKill(file string) (int64, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == "oom_kill" {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

func (s *shim) oomKilled() bool {
	if s.oomFile == "" {
		return false
	}
	n, ok := readOOMKill(s.oomFile)
	return ok && n > s.oomBase
}
