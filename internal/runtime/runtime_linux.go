package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/runtime/cgroups"
	"github.com/berth-project/berth/internal/runtime/nsexec"
	"github.com/berth-project/berth/internal/runtime/specjson"
)

const execFifoName = "exec.fifo"

// Runtime manages the containers whose state lives under Root.
type Runtime struct {
	Root string
	// CgroupRoot is the cgroupfs mount root; "" means /sys/fs/cgroup.
	CgroupRoot string
	// Warn reports problems that do not fail the operation (poststart and
	// poststop hook failures, for instance).
	Warn func(format string, args ...any)
	// Debug, when set, receives what the runtime decided (which init
	// sets up a container, and why).
	Debug func(format string, args ...any)
}

func (r *Runtime) warn(format string, args ...any) {
	if r.Warn != nil {
		r.Warn(format, args...)
	}
}

func (r *Runtime) debug(format string, args ...any) {
	if r.Debug != nil {
		r.Debug(format, args...)
	}
}

// initPath describes which init sets up a process, for the debug log.
func initPath(reason string) string {
	if reason == "" {
		return "first stage"
	}
	return "Go init (" + reason + ")"
}

// CreateOpts are the options of create and run.
type CreateOpts struct {
	Bundle        string
	ConsoleSocket string
	PidFile       string
	NoPivot       bool
	NoNewKeyring  bool
	PreserveFDs   int
	// Stdio of the container's init when it has no terminal; nil = ours.
	Stdio [3]*os.File
	// Config is the bundle's config.json when the caller has read it
	// (ReadConfig); nil: create reads it.
	Config *Config
}

func (r *Runtime) cgroupManager(rec *record) (cgroups.Manager, error) {
	path := ""
	if l := rec.someSpec().Linux; l != nil {
		path = l.CgroupsPath
	}
	return cgroups.New(path, rec.ID, cgroups.Options{Root: r.CgroupRoot})
}

// Create sets up a container and leaves its init waiting for Start.
func (r *Runtime) Create(id string, o CreateOpts) error {
	c, _, err := r.create(id, o)
	if err != nil {
		return err
	}
	// The init reports nothing more (after ready it writes to stderr).
	return c.parent.Close()
}

// Config is a bundle's config.json, read and decoded once.
type Config struct {
	raw  []byte
	spec specs.Spec
	err  error // from decoding: create reports it
}

// ReadConfig reads and decodes bundle's config.json, for CreateOpts.Config;
// only a read fails here.
func ReadConfig(bundle string) (*Config, error) {
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("load bundle config: %w", err)
	}
	c := &Config{raw: b}
	c.err = specjson.Unmarshal(b, &c.spec)
	return c, nil
}

// WantsTerminal says whether the config asks for a terminal; false when it
// does not parse (create says why).
func (c *Config) WantsTerminal() bool {
	return c.err == nil && c.spec.Process != nil && c.spec.Process.Terminal
}

// checkedSpec is what checkSpec found: the init's config, and whether the
// spec changed from config.json's (an ignored mountLabel).
type checkedSpec struct {
	changed bool
	cfg     *initConfig
	err     error
}

func (r *Runtime) create(id string, o CreateOpts) (c *child, rec *record, err error) {
	if err := validateID(id); err != nil {
		return nil, nil, err
	}
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return nil, nil, err
	}
	config := filepath.Join(bundle, "config.json")
	cfgFile := o.Config
	if cfgFile == nil {
		if cfgFile, err = ReadConfig(bundle); err != nil {
			return nil, nil, err
		}
	}
	if cfgFile.err != nil {
		return nil, nil, fmt.Errorf("parse %s: %w", config, cfgFile.err)
	}
	raw, spec := cfgFile.raw, cfgFile.spec
	if spec.Process != nil && spec.Process.Terminal && o.ConsoleSocket == "" {
		return nil, nil, fmt.Errorf("cannot allocate a terminal without --console-socket")
	}
	// The cloning thread gets its job now (Prestart may have started it):
	// it makes the network namespace while the state directory and the
	// cgroup are made (startChild makes the cgroup and has the child
	// cloned into its unified group while it makes the others).
	so := spawnOpts{preserve: o.PreserveFDs, stdio: stdio(o.Stdio)}
	if l := spec.Linux; l != nil {
		so.uidMappings, so.gidMappings = l.UIDMappings, l.GIDMappings
		for _, ns := range l.Namespaces {
			switch {
			case ns.Path != "":
				so.join = append(so.join, ns)
			case ns.Type == specs.CgroupNamespace:
				so.newCgroupNS = true
			case ns.Type == specs.TimeNamespace:
				so.newTime = true
			default:
				so.newFlags |= uintptr(namespaceFlags[ns.Type])
			}
		}
		so.timeOffsets = l.TimeOffsets
	}
	so.startCloner()
	defer func() {
		if err != nil && c == nil {
			so.cloner.abort()
		}
	}()
	if err := os.MkdirAll(r.Root, 0o711); err != nil {
		return nil, nil, fmt.Errorf("create state root: %w", err)
	}
	dir := r.dir(id)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if os.IsExist(err) {
			return nil, nil, fmt.Errorf("container %q: %w", id, ErrExist)
		}
		return nil, nil, fmt.Errorf("create state dir: %w", err)
	}
	cgroupsPath := ""
	if spec.Linux != nil {
		cgroupsPath = spec.Linux.CgroupsPath
	}
	mgr, err := cgroups.New(cgroupsPath, id, cgroups.Options{Root: r.CgroupRoot})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("cgroups: %w", err)
	}
	so.cgroup = mgr
	defer func() {
		if err != nil {
			if c != nil {
				c.kill()
			}
			_ = mgr.Destroy()
			os.RemoveAll(dir)
		}
	}()

	cgroupPaths := mgr.Paths()
	d := r.checkSpec(&spec, bundle, id, o, so.newCgroupNS, cgroupPaths)
	if d.err != nil {
		return nil, nil, d.err
	}

	fifoPath := filepath.Join(dir, execFifoName)
	if err := unix.Mkfifo(fifoPath, 0o622); err != nil {
		return nil, nil, fmt.Errorf("create exec fifo: %w", err)
	}
	// Past the umask: a container's root in a user namespace must open it.
	if err := os.Chmod(fifoPath, 0o622); err != nil {
		return nil, nil, fmt.Errorf("chmod exec fifo: %w", err)
	}
	fifoFD, err := unix.Open(fifoPath, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open exec fifo: %w", err)
	}
	so.fifo = os.NewFile(uintptr(fifoFD), "exec.fifo")
	defer so.fifo.Close()
	if spec.Process.Terminal {
		conn, err := dialConsole(o.ConsoleSocket)
		if err != nil {
			return nil, nil, err
		}
		defer conn.Close()
		so.console = conn
	}
	// The limits (device rules included) are in place before the init
	// does anything in its cgroup, as runc does: the stage waits for its
	// plan, the Go init for its config.
	setResources := func() error {
		if err := mgr.Set(cgroupResources(&spec)); err != nil {
			return fmt.Errorf("cgroups: set resources: %w", err)
		}
		return nil
	}
	reason := specInitNeeds(&spec, false).goInitReason()
	if reason == "" {
		so.plan = func(fds childFDs) (*nsexec.Plan, error) {
			if err := setResources(); err != nil {
				return nil, err
			}
			return initPlan(d.cfg, fds)
		}
	}
	r.debug("container %s: set up by the %s", id, initPath(reason))
	c, err = startChild(&so)
	if err != nil {
		return nil, nil, err
	}
	cfg := d.cfg
	pid := c.pid
	rec = &record{ID: id, Bundle: bundle, Rootfs: cfg.Rootfs, Created: time.Now().UTC(), Config: raw, spec: &spec,
		InitPid: pid, CgroupPaths: cgroupPaths}
	if d.changed {
		if err := rec.setSpec(&spec); err != nil {
			return c, nil, err
		}
	}
	if reason != "" {
		if err := setResources(); err != nil {
			return c, nil, err
		}
		cfg.State = r.specState(rec, Created)
		if err := c.send(syncMsg{Type: msgConfig, Config: cfg}); err != nil {
			return c, nil, fmt.Errorf("send config to container init: %w", err)
		}
	}
	// The state is saved while the init sets up; the container is not
	// created before the init reports ready.
	start, _, alive := procStat(pid)
	if alive {
		rec.InitStartTime = start
		if err := r.save(rec); err != nil {
			return c, nil, err
		}
	}
	if needHookSync(&spec) {
		if err := c.expect(msgHooks); err != nil {
			return c, nil, err
		}
		st := r.specState(rec, Creating)
		if err := runHooks("prestart", spec.Hooks.Prestart, st); err != nil {
			return c, nil, err
		}
		if err := runHooks("createRuntime", spec.Hooks.CreateRuntime, st); err != nil {
			return c, nil, err
		}
		if err := c.send(syncMsg{Type: msgResume}); err != nil {
			return c, nil, fmt.Errorf("resume container init: %w", err)
		}
	}
	if err := c.expect(msgReady); err != nil {
		return c, nil, err
	}
	if !alive {
		return c, nil, fmt.Errorf("container init exited during setup")
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, pid); err != nil {
			return c, nil, err
		}
	}
	return c, rec, nil
}

// checkSpec checks the decoded spec and makes the init's config.
func (r *Runtime) checkSpec(spec *specs.Spec, bundle, id string, o CreateOpts, newCgroupNS bool, cgroupPaths map[string]string) checkedSpec {
	if err := Validate(spec); err != nil {
		return checkedSpec{err: err}
	}
	changed := false
	if spec.Linux.MountLabel != "" && !lsmEnabled("selinux") {
		// Mounts carry no label without SELinux; runc and crun ignore it too.
		r.warn("ignoring linux.mountLabel %q: SELinux is not enabled in this kernel", spec.Linux.MountLabel)
		spec.Linux.MountLabel = ""
		changed = true
	}
	rootfs := spec.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}
	if st, err := os.Stat(rootfs); err != nil || !st.IsDir() {
		return checkedSpec{err: fmt.Errorf("rootfs %s: not a directory: %v", rootfs, err)}
	}
	cfg := &initConfig{ContainerID: id, Spec: spec, Process: spec.Process, Rootfs: rootfs,
		NoPivot: o.NoPivot, NoNewKeyring: o.NoNewKeyring, NewCgroupNS: newCgroupNS,
		CgroupPaths: cgroupPaths, PreserveFDs: o.PreserveFDs}
	return checkedSpec{changed: changed, cfg: cfg}
}

func stdio(s [3]*os.File) [3]*os.File {
	def := [3]*os.File{os.Stdin, os.Stdout, os.Stderr}
	for i := range s {
		if s[i] != nil {
			def[i] = s[i]
		}
	}
	return def
}

func dialConsole(path string) (*os.File, error) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("connect to console socket %s: %w", path, err)
	}
	defer conn.Close()
	f, err := conn.(*net.UnixConn).File()
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return f, nil
}

func writePidFile(path string, pid int) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	return nil
}

// Start lets a created container's init exec the user's process.
func (r *Runtime) Start(id string) error {
	rec, err := r.load(id)
	if err != nil {
		return err
	}
	switch st := r.status(rec); st {
	case Created:
	case Stopped:
		return fmt.Errorf("cannot start a container that has stopped")
	default:
		return fmt.Errorf("cannot start an already %s container", st)
	}
	return r.start(rec)
}

func (r *Runtime) start(rec *record) error {
	fifoPath := filepath.Join(r.dir(rec.ID), execFifoName)
	done := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(fifoPath, os.O_RDONLY, 0)
		if err != nil {
			done <- fmt.Errorf("open exec fifo: %w", err)
			return
		}
		defer f.Close()
		var b [1]byte
		n, err := f.Read(b[:])
		if n == 0 && err != nil {
			done <- fmt.Errorf("container init closed the exec fifo: %w", err)
			return
		}
		// EOF comes when the init execs the user's process (its write end
		// is close-on-exec).
		_, _ = io.Copy(io.Discard, f)
		done <- nil
	}()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case err := <-done:
			if err != nil {
				return err
			}
			break wait
		case <-tick.C:
			if !rec.initAlive() {
				// The init may have been started and already exited (a short
				// process): unblock the opener with an empty write and see
				// whether it read the init's byte first.
				if f, err := os.OpenFile(fifoPath, os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
					f.Close()
				}
				if err := <-done; err != nil {
					return fmt.Errorf("container init exited before start")
				}
				break wait
			}
		}
	}
	if err := os.Remove(fifoPath); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove exec fifo: %w", err)
	}
	if h := rec.someSpec().Hooks; h != nil {
		runHooksWarn("poststart", h.Poststart, r.specState(rec, Running), r.warn)
	}
	return nil
}

// Run creates and starts a container. Unless detach is set it waits for the
// container's init to exit, deletes the container and returns the exit code
// (128+signal for a killed init).
func (r *Runtime) Run(id string, o CreateOpts, detach bool) (int, error) {
	pid := make(chan int, 1)
	stop := func() {}
	var armed <-chan struct{}
	if !detach {
		// Set up while the container is made; signals that come before
		// its init exists are relayed once it does.
		armed, stop = forwardSignals(pid)
	}
	c, rec, err := r.create(id, o)
	if err != nil {
		stop()
		return -1, err
	}
	pid <- c.pid
	c.parent.Close()
	if armed != nil {
		// Nothing the user runs starts before its signals are relayed.
		<-armed
	}
	if err := r.start(rec); err != nil {
		stop()
		_ = r.Delete(id, true)
		c.wait()
		return -1, err
	}
	if detach {
		return 0, nil
	}
	ws := c.wait()
	stop()
	code := exitCode(ws)
	// The init is reaped: stopped (destroy kills whatever else of the
	// container still runs).
	if err := r.destroy(rec, Stopped); err != nil {
		return code, err
	}
	return code, nil
}

// forwardedSignals are relayed to a foreground container process, as runc
// does (SIGWINCH reaches it through its terminal).
var forwardedSignals = []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT,
	unix.SIGUSR1, unix.SIGUSR2, unix.SIGCONT, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGPIPE, unix.SIGALRM}

// forwardSignals relays forwardedSignals to the pid that comes on pidc
// (those that come before it once it does) until stop is called; later
// ones are dropped, so none reaches a reused pid. signal.Notify enables
// each signal with a round trip to the Go runtime's signal thread (0.5 ms
// for these twelve here), on the relaying goroutine, off the container's
// path; armed is closed once the signals are caught. They stay caught
// (and dropped) after stop, as in runc, which exits soon after: handing
// them back would cost as many round trips again, while the container is
// being deleted (0.3 ms of every foreground run). For the runtime's command
// line only, whose process ends with the container.
func forwardSignals(pidc <-chan int) (armed <-chan struct{}, stop func()) {
	sigc := make(chan os.Signal, 16)
	done, notified := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex // held while a signal is sent; stop takes it
	stopped := false
	send := func(pid int, s os.Signal) {
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			_ = unix.Kill(pid, s.(syscall.Signal))
		}
	}
	go func() {
		signal.Notify(sigc, forwardedSignals...)
		close(notified)
		pid := 0
		var pending []os.Signal
		for {
			select {
			case <-done:
				return
			case pid = <-pidc:
				pidc = nil
				for _, s := range pending {
					send(pid, s)
				}
				pending = nil
			case s := <-sigc:
				if pid == 0 {
					pending = append(pending, s)
					continue
				}
				send(pid, s)
			}
		}
	}()
	return notified, func() {
		mu.Lock()
		stopped = true
		mu.Unlock()
		close(done)
	}
}

func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// State returns a container's OCI state.
func (r *Runtime) State(id string) (*State, error) {
	rec, err := r.load(id)
	if err != nil {
		return nil, err
	}
	return r.ociState(rec), nil
}

// List returns the state of every container under Root.
func (r *Runtime) List() ([]*State, error) {
	ents, err := os.ReadDir(r.Root)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []*State
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		rec, err := r.load(e.Name())
		if err != nil {
			continue
		}
		out = append(out, r.ociState(rec))
	}
	return out, nil
}

// Kill sends sig to the container's init, or with all to every process in
// its cgroup.
func (r *Runtime) Kill(id string, sig unix.Signal, all bool) error {
	rec, err := r.load(id)
	if err != nil {
		return err
	}
	if r.status(rec) == Stopped && !all {
		return fmt.Errorf("container not running")
	}
	if all {
		return r.signalAll(rec, sig)
	}
	if err := unix.Kill(rec.InitPid, sig); err != nil {
		return fmt.Errorf("signal init process %d: %w", rec.InitPid, err)
	}
	return nil
}

func (r *Runtime) signalAll(rec *record, sig unix.Signal) error {
	m, err := r.cgroupManager(rec)
	if err != nil {
		return err
	}
	paused := false
	if st, err := m.FreezerState(); err == nil && st == "FROZEN" {
		paused = true
	} else if sig == unix.SIGKILL {
		// Freeze so nothing forks while we signal.
		if err := m.Freeze(); err == nil {
			defer m.Thaw()
		}
	}
	pids, err := m.Pids()
	if err != nil {
		return fmt.Errorf("list container processes: %w", err)
	}
	self := os.Getpid()
	for _, p := range pids {
		if p == self {
			continue // never ourselves, whatever is in the cgroup
		}
		if err := unix.Kill(p, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("signal process %d: %w", p, err)
		}
	}
	if paused && sig == unix.SIGKILL {
		_ = m.Thaw()
	}
	return nil
}

// Delete removes a stopped (or, with force, any) container: its processes,
// cgroup and state; poststop hooks run last.
func (r *Runtime) Delete(id string, force bool) error {
	rec, err := r.load(id)
	if err != nil {
		return err
	}
	st := r.status(rec)
	if st != Stopped && !force {
		// The spec: deleting a container that is not stopped (created
		// included) fails and leaves it alone. Engines pass --force.
		return fmt.Errorf("cannot delete container %s that is not stopped: %s", id, st)
	}
	return r.destroy(rec, st)
}

func (r *Runtime) destroy(rec *record, st Status) error {
	m, err := r.cgroupManager(rec)
	if err != nil {
		return err
	}
	if st == Stopped && rec.ownPidNamespace() && m.RemoveIfEmpty() == nil {
		// Nothing of the container runs: the cgroup is gone already.
		return r.removeState(rec)
	}
	if st != Stopped {
		_ = unix.Kill(rec.InitPid, unix.SIGKILL)
	}
	pids, err := m.Pids()
	if err == nil && len(pids) > 0 {
		_ = r.signalAll(rec, unix.SIGKILL)
	}
	// Nothing left (the usual case after run): no need to wait.
	if err != nil || len(pids) > 0 || st != Stopped {
		if err := waitGone(rec, m, 10*time.Second); err != nil {
			return err
		}
	}
	if err := m.Destroy(); err != nil {
		return fmt.Errorf("remove cgroup: %w", err)
	}
	return r.removeState(rec)
}

// removeState runs the poststop hooks and removes the container's state,
// once its processes and cgroup are gone.
func (r *Runtime) removeState(rec *record) error {
	if h := rec.someSpec().Hooks; h != nil {
		runHooksWarn("poststop", h.Poststop, r.specState(rec, Stopped), r.warn)
	}
	// Usually the state dir holds state.json alone (start removed the fifo).
	dir := r.dir(rec.ID)
	if unix.Unlink(filepath.Join(dir, "state.json")) == nil && unix.Rmdir(dir) == nil {
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove state: %w", err)
	}
	return nil
}

func waitGone(rec *record, m cgroups.Manager, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for d := time.Millisecond; ; d = min(d*2, 50*time.Millisecond) {
		alive := rec.initAlive()
		pids, _ := m.Pids()
		if !alive && len(livePids(pids)) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("container processes did not exit within %s", timeout)
		}
		time.Sleep(d)
	}
}

// livePids drops zombies: they have left the cgroup's accounting for rmdir
// purposes only once reaped, but they no longer run.
func livePids(pids []int) []int {
	var out []int
	for _, p := range pids {
		if _, st, ok := procStat(p); ok && st != 'Z' && st != 'X' {
			out = append(out, p)
		}
	}
	return out
}

// Pause freezes every process of a running container.
func (r *Runtime) Pause(id string) error {
	rec, err := r.load(id)
	if err != nil {
		return err
	}
	if st := r.status(rec); st != Running {
		return fmt.Errorf("container not running (%s)", st)
	}
	m, err := r.cgroupManager(rec)
	if err != nil {
		return err
	}
	return m.Freeze()
}

// Resume thaws a paused container.
func (r *Runtime) Resume(id string) error {
	rec, err := r.load(id)
	if err != nil {
		return err
	}
	if st := r.status(rec); st != Paused {
		return fmt.Errorf("container not paused (%s)", st)
	}
	m, err := r.cgroupManager(rec)
	if err != nil {
		return err
	}
	return m.Thaw()
}

// Pids lists the processes of a container.
func (r *Runtime) Pids(id string) ([]int, error) {
	rec, err := r.load(id)
	if err != nil {
		return nil, err
	}
	m, err := r.cgroupManager(rec)
	if err != nil {
		return nil, err
	}
	return m.Pids()
}

// Stats returns the container's cgroup statistics.
func (r *Runtime) Stats(id string) (*cgroups.Stats, error) {
	rec, err := r.load(id)
	if err != nil {
		return nil, err
	}
	if r.status(rec) == Stopped {
		return nil, fmt.Errorf("container %s is not running", id)
	}
	m, err := r.cgroupManager(rec)
	if err != nil {
		return nil, err
	}
	return m.Stats()
}

// Update changes the resources of a container.
func (r *Runtime) Update(id string, res *specs.LinuxResources) error {
	rec, err := r.load(id)
	if err != nil {
		return err
	}
	if r.status(rec) == Stopped {
		return fmt.Errorf("container %s is not running", id)
	}
	m, err := r.cgroupManager(rec)
	if err != nil {
		return err
	}
	if err := m.Set(res); err != nil {
		return err
	}
	spec, err := rec.fullSpec()
	if err != nil {
		return err
	}
	if spec.Linux.Resources == nil {
		spec.Linux.Resources = &specs.LinuxResources{}
	}
	mergeResources(spec.Linux.Resources, res)
	if err := rec.setSpec(spec); err != nil {
		return err
	}
	return r.save(rec)
}

func mergeResources(dst, src *specs.LinuxResources) {
	if src.Memory != nil {
		dst.Memory = src.Memory
	}
	if src.CPU != nil {
		dst.CPU = src.CPU
	}
	if src.Pids != nil {
		dst.Pids = src.Pids
	}
	if src.BlockIO != nil {
		dst.BlockIO = src.BlockIO
	}
	if len(src.HugepageLimits) > 0 {
		dst.HugepageLimits = src.HugepageLimits
	}
	if len(src.Unified) > 0 {
		dst.Unified = src.Unified
	}
}

// ExecOpts are the options of exec.
type ExecOpts struct {
	ConsoleSocket string
	PidFile       string
	Detach        bool
	PreserveFDs   int
	Stdio         [3]*os.File
}

// Exec runs process inside a running container. Unless detached it waits and
// returns the process's exit code.
func (r *Runtime) Exec(ctx context.Context, id string, p *specs.Process, o ExecOpts) (int, error) {
	rec, err := r.load(id)
	if err != nil {
		return -1, err
	}
	switch st := r.status(rec); st {
	case Running, Created:
	case Paused:
		return -1, fmt.Errorf("cannot exec in a paused container")
	default:
		return -1, fmt.Errorf("cannot exec in a stopped container")
	}
	if p == nil || len(p.Args) == 0 {
		return -1, fmt.Errorf("exec: process args are empty")
	}
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	if p.Terminal && o.ConsoleSocket == "" {
		return -1, fmt.Errorf("cannot allocate a terminal without --console-socket")
	}
	m, err := r.cgroupManager(rec)
	if err != nil {
		return -1, fmt.Errorf("cgroups: %w", err)
	}
	so := spawnOpts{preserve: o.PreserveFDs, stdio: stdio(o.Stdio), cgroup: m}
	spec, err := rec.fullSpec()
	if err != nil {
		return -1, err
	}
	for _, ns := range spec.Linux.Namespaces {
		path := fmt.Sprintf("/proc/%d/ns/%s", rec.InitPid, nsKind[ns.Type])
		if sameNamespace(path, nsKind[ns.Type]) {
			continue
		}
		so.join = append(so.join, specs.LinuxNamespace{Type: ns.Type, Path: path})
	}
	if p.Terminal {
		conn, err := dialConsole(o.ConsoleSocket)
		if err != nil {
			return -1, err
		}
		defer conn.Close()
		so.console = conn
	}
	cfg := &initConfig{Exec: true, ContainerID: id, Spec: spec, Process: p, Rootfs: rec.Rootfs, PreserveFDs: o.PreserveFDs}
	reason := specInitNeeds(spec, true).goInitReason()
	if reason == "" {
		so.plan = func(fds childFDs) (*nsexec.Plan, error) { return execProcessPlan(cfg, fds) }
	}
	r.debug("exec in container %s: set up by the %s", id, initPath(reason))
	c, err := startChild(&so)
	if err != nil {
		return -1, err
	}
	if reason != "" {
		if err := c.send(syncMsg{Type: msgConfig, Config: cfg}); err != nil {
			c.kill()
			return -1, fmt.Errorf("send config to exec process: %w", err)
		}
	}
	if err := c.waitExec(); err != nil {
		c.kill()
		return -1, err
	}
	c.parent.Close()
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, c.pid); err != nil {
			return -1, err
		}
	}
	if o.Detach {
		return 0, nil
	}
	pid := make(chan int, 1)
	pid <- c.pid
	armed, stop := forwardSignals(pid)
	<-armed
	ws := c.wait()
	stop()
	return exitCode(ws), nil
}

func sameNamespace(path, kind string) bool {
	var a, b unix.Stat_t
	if unix.Stat(path, &a) != nil || unix.Stat("/proc/self/ns/"+kind, &b) != nil {
		return false
	}
	return a.Ino == b.Ino && a.Dev == b.Dev
}

// Spec returns the spec a container was created with.
func (r *Runtime) Spec(id string) (*specs.Spec, error) {
	rec, err := r.load(id)
	if err != nil {
		return nil, err
	}
	return rec.fullSpec()
}

// MountOptions lists the mount options the runtime understands.
func MountOptions() []string {
	var out []string
	for k := range mountFlags {
		out = append(out, k)
	}
	for k := range propagationFlags {
		out = append(out, k)
	}
	for k := range recAttrs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
