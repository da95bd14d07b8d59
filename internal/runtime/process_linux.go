package runtime

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/runtime/cgroups"
	"github.com/berth-project/berth/internal/runtime/nsexec"
)

// InitCommand is the hidden first argument with which the runtime re-executes
// itself as a container's init or exec'd process.
const InitCommand = "__berth_init"

const (
	envSyncFD    = "_BERTH_SYNCFD"
	envFifoFD    = "_BERTH_FIFOFD"
	envConsoleFD = "_BERTH_CONSOLEFD"
)

var namespaceFlags = map[specs.LinuxNamespaceType]int{
	specs.PIDNamespace:     unix.CLONE_NEWPID,
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace:   unix.CLONE_NEWNS,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.UserNamespace:    unix.CLONE_NEWUSER,
	specs.CgroupNamespace:  unix.CLONE_NEWCGROUP,
	specs.TimeNamespace:    unix.CLONE_NEWTIME,
}

// nsKind is the name of a namespace under /proc/<pid>/ns.
var nsKind = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace: "pid", specs.NetworkNamespace: "net", specs.MountNamespace: "mnt",
	specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts", specs.UserNamespace: "user",
	specs.CgroupNamespace: "cgroup", specs.TimeNamespace: "time",
}

// child is a container init or exec'd process being set up.
type child struct {
	pid    int
	parent *os.File      // our end of the sync socketpair
	msgs   *bufio.Reader // messages on parent
	status unix.WaitStatus
	waited bool
}

type spawnOpts struct {
	// join: namespaces to enter by path. pid, net, ipc and uts are entered
	// by the spawning thread (the child inherits them through clone); user,
	// mnt, time and cgroup by the first stage, which is single-threaded.
	join []specs.LinuxNamespace
	// newFlags: namespaces to create with clone.
	newFlags    uintptr
	uidMappings []specs.LinuxIDMapping
	gidMappings []specs.LinuxIDMapping
	// newTime: create a time namespace with these offsets.
	newTime     bool
	timeOffsets map[string]specs.LinuxTimeOffset
	// newCgroupNS: create a cgroup namespace (first thing once in the
	// cgroup).
	newCgroupNS bool
	// cgroup: the child is born in this cgroup, which startChild makes.
	cgroup cgroups.Manager
	// cloner: the cloning thread, when startCloner started one.
	cloner   *cloner
	fifo     *os.File // O_PATH handle of exec.fifo (init only)
	console  *os.File // connection to the console socket
	preserve int
	stdio    [3]*os.File
	// plan: what the first stage does once in its namespaces (see
	// plan_linux.go), built while the child is cloned, once the cgroup
	// exists; nil means exec the Go init, which then reads its initConfig
	// from the sync socket.
	plan func(fds childFDs) (*nsexec.Plan, error)
}

// childFDs are the descriptor numbers the child gets: stdio, the
// preserved fds from 3, then the sync socket and the optional ones (-1 when
// absent).
type childFDs struct {
	sync, fifo, console, goInit int
}

func (o *spawnOpts) fds() childFDs {
	n := 3 + o.preserve
	f := childFDs{sync: n, fifo: -1, console: -1, goInit: -1}
	n++
	if o.fifo != nil {
		f.fifo, n = n, n+1
	}
	if o.console != nil {
		f.console, n = n, n+1
	}
	if o.plan == nil {
		f.goInit = n
	}
	return f
}

var (
	binOnce sync.Once
	binFile *os.File
	binErr  error
)

// protectedBinary returns an unwritable handle on this binary (see
// makeProtectedBinary). Containers run their setup from it, so a process in
// a container that reaches /proc/<pid>/exe can never write to the host
// binary (CVE-2019-5736).
func protectedBinary() (*os.File, error) {
	binOnce.Do(func() {
		binFile, binErr = makeProtectedBinary()
	})
	return binFile, binErr
}

// makeProtectedBinary prefers a read-only clone of the binary's mount: a
// detached mount (open_tree OPEN_TREE_CLONE, never attached to any mount
// table) made read-only with mount_setattr. Any open for writing through
// /proc/<pid>/exe then fails with EROFS, and it costs a few syscalls where
// copying the binary costs milliseconds. Kernels without the new mount API
// get the sealed memfd copy.
func makeProtectedBinary() (*os.File, error) {
	if f, err := readonlyBinary(); err == nil {
		return f, nil
	}
	return memfdBinary()
}

func readonlyBinary() (*os.File, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return nil, err
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, exe, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("open_tree %s: %w", exe, err)
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NODEV}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, attr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("make binary mount read-only: %w", err)
	}
	f := os.NewFile(uintptr(fd), "berth-ro")
	// Prove it: the clone must refuse writers.
	if w, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_WRONLY|unix.O_CLOEXEC, 0); err == nil {
		unix.Close(w)
		f.Close()
		return nil, fmt.Errorf("read-only binary clone is writable")
	}
	return f, nil
}

func memfdBinary() (*os.File, error) {
	exe, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("open own binary: %w", err)
	}
	defer exe.Close()
	if isSealedMemfd(exe) {
		// Already running from a sealed copy: reuse it.
		fd, err := unix.Open("/proc/self/exe", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		return os.NewFile(uintptr(fd), "berth-sealed"), nil
	}
	fd, err := unix.MemfdCreate("berth", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	mf := os.NewFile(uintptr(fd), "berth-sealed")
	st, err := exe.Stat()
	if err != nil {
		mf.Close()
		return nil, err
	}
	var off int64
	for off < st.Size() {
		n, err := unix.Sendfile(fd, int(exe.Fd()), nil, int(st.Size()-off))
		if err != nil {
			mf.Close()
			return nil, fmt.Errorf("copy binary to memfd: %w", err)
		}
		if n == 0 {
			break
		}
		off += int64(n)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		mf.Close()
		return nil, fmt.Errorf("seal memfd: %w", err)
	}
	return mf, nil
}

func isSealedMemfd(f *os.File) bool {
	seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	if err != nil {
		return false
	}
	want := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	return seals&want == want
}

// startChild starts a container process: the first stage (package
// nsexec), born in the container's cgroup and namespaces, and sends it its
// plan.
func startChild(o *spawnOpts) (*child, error) {
	stage, err := nsexec.Stage()
	if err != nil {
		o.cloner.abort()
		return nil, fmt.Errorf("container first stage: %w", err)
	}
	layout := o.fds()
	var ns nsexec.Plan
	cloneFlags, err := namespaceStage(&ns, *o)
	if err != nil {
		o.cloner.abort()
		return nil, err
	}
	o.startCloner()
	cl := o.cloner
	if cl != nil {
		cloneFlags &^= cl.early
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		cl.abort()
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	parent := os.NewFile(uintptr(fds[0]), "sync-parent")
	childEnd := os.NewFile(uintptr(fds[1]), "sync-child")
	defer childEnd.Close()
	fail := func(err error) (*child, error) {
		cl.abort()
		parent.Close()
		return nil, err
	}

	files := []uintptr{o.stdio[0].Fd(), o.stdio[1].Fd(), o.stdio[2].Fd()}
	for i := 0; i < o.preserve; i++ {
		files = append(files, uintptr(3+i))
	}
	files = append(files, childEnd.Fd())
	env := []string{envSyncFD + "=" + strconv.Itoa(layout.sync)}
	if o.fifo != nil {
		files = append(files, o.fifo.Fd())
		env = append(env, envFifoFD+"="+strconv.Itoa(layout.fifo))
	}
	if o.console != nil {
		files = append(files, o.console.Fd())
		env = append(env, envConsoleFD+"="+strconv.Itoa(layout.console))
	}
	if o.plan == nil {
		bin, err := protectedBinary()
		if err != nil {
			return fail(err)
		}
		files = append(files, bin.Fd())
	}

	// Born in the cgroup: clone3 puts the child in the unified one, made
	// first; the stage moves itself into the v1 ones before anything else,
	// unless it starts in a new user namespace, which may not write there:
	// then it is moved by pid (at the cost of the kernel's threadgroup
	// lock).
	cgroupFD, migrate := -1, false
	if o.cgroup != nil {
		if err := o.cgroup.CreateUnified(); err != nil {
			return fail(fmt.Errorf("cgroups: %w", err))
		}
		var tasks []string
		if cgroupFD, tasks, err = o.cgroup.Birthplace(); err != nil {
			return fail(fmt.Errorf("cgroups: %w", err))
		}
		if cgroupFD >= 0 {
			defer unix.Close(cgroupFD)
		}
		if cloneFlags&unix.CLONE_NEWUSER != 0 {
			migrate = true
		} else if len(tasks) > 0 {
			var enter nsexec.Plan
			enter.Op(nsexec.OpEnterCgroup, tasks)
			enter.Append(&ns)
			ns = enter
		}
	}

	// The stage is exec'd through /proc/self/fd/N of the child: N must not
	// be one of the descriptors the child gets (below len(files)), nor one
	// that ForkExec's child moves descriptors to: from one above the
	// highest of files on, one per file plus its error pipe. Otherwise the
	// child may exec its error pipe instead (EACCES), which happens when a
	// daemon starts containers concurrently and low descriptors come free.
	stageFD := int(stage.Fd())
	next := len(files)
	for _, f := range files {
		next = max(next, int(f))
	}
	next++
	if stageFD < len(files) || (stageFD >= next && stageFD <= next+len(files)+1) {
		dup, err := unix.FcntlInt(stage.Fd(), unix.F_DUPFD_CLOEXEC, next+len(files)+2)
		if err != nil {
			return fail(fmt.Errorf("dup first stage: %w", err))
		}
		defer unix.Close(dup)
		stageFD = dup
	}
	attr := &syscall.ProcAttr{Env: env, Files: files, Sys: &syscall.SysProcAttr{Cloneflags: cloneFlags}}
	if cgroupFD >= 0 {
		attr.Sys.UseCgroupFD = true
		attr.Sys.CgroupFD = cgroupFD
	}
	if cloneFlags&unix.CLONE_NEWUSER != 0 {
		for _, m := range o.uidMappings {
			attr.Sys.UidMappings = append(attr.Sys.UidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
		}
		for _, m := range o.gidMappings {
			attr.Sys.GidMappings = append(attr.Sys.GidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
		}
		attr.Sys.GidMappingsEnableSetgroups = true
		// Become root of the new user namespace before exec, or exec as an
		// unmapped uid drops every capability.
		attr.Sys.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
	}
	path := "/proc/self/fd/" + strconv.Itoa(stageFD)
	// The cloning thread clones as soon as its namespaces are ready, while
	// this goroutine makes the rest of the cgroup, writes the limits and
	// builds the plan; the stage does nothing before it reads the plan.
	var pid int
	if cl == nil {
		pid, err = syscall.ForkExec(path, nsexec.Argv(layout.sync), attr)
		if err != nil {
			return fail(fmt.Errorf("start container process: %w", err))
		}
	} else {
		cl.order(path, nsexec.Argv(layout.sync), attr)
	}
	var plan *nsexec.Plan
	if o.cgroup != nil {
		err = o.cgroup.Create()
		if err != nil {
			err = fmt.Errorf("cgroups: %w", err)
		}
	}
	if err == nil {
		if o.plan != nil {
			plan, err = o.plan(layout)
		} else {
			plan = new(nsexec.Plan)
			plan.Op(nsexec.OpExecGo, layout.goInit, []string{"berth", InitCommand})
		}
	}
	// The plan goes into the socket as soon as it is built, before the
	// child exists when the thread has not cloned it yet: the stage finds
	// it when it starts. One born in a new user namespace is first moved
	// into the cgroup by pid.
	send := func() error {
		ns.Append(plan)
		b, err := ns.Bytes()
		if err == nil {
			_, err = parent.Write(b)
		}
		if err != nil {
			return fmt.Errorf("send plan to container process: %w", err)
		}
		return nil
	}
	sent := false
	if err == nil && !migrate {
		err, sent = send(), true
	}
	if cl != nil {
		var cerr error
		pid, cerr = cl.result()
		if cerr != nil {
			parent.Close()
			return nil, fmt.Errorf("start container process: %w", cerr)
		}
	}
	c := &child{pid: pid, parent: parent, msgs: bufio.NewReader(parent)}
	if err != nil {
		c.kill()
		return nil, err
	}
	if migrate {
		if err := o.cgroup.Apply(pid); err != nil {
			c.kill()
			return nil, fmt.Errorf("cgroups: join: %w", err)
		}
	}
	if !sent {
		if err := send(); err != nil {
			c.kill()
			return nil, err
		}
	}
	return c, nil
}

// cloner clones a container process from a thread of its own, which first
// joins the namespaces to join by path and creates the ones made early,
// and dies afterwards (its namespaces are the child's).
//
// The caller hands it the clone through a futex rather than a channel: a
// goroutine woken by a channel waits for a P of the Go scheduler, which
// the caller, busy making the cgroup, keeps for hundreds of microseconds,
// while a thread woken in the kernel goes on at once (its goroutine takes
// one of the spare Ps that run and create have).
type cloner struct {
	// join and early are the thread's job, written once before job
	// leaves jobWaiting.
	join  []specs.LinuxNamespace
	early uintptr // namespaces the thread creates
	job   atomic.Uint32
	// todo is written once, before state leaves clonerWaiting.
	todo  cloneOrder
	state atomic.Uint32
	sent  bool // the caller ordered or aborted
	// res is written once, before finished is set: the caller waits for
	// it in the kernel too.
	res      cloneResult
	finished atomic.Uint32
}

const (
	clonerWaiting = iota
	clonerOrdered
	clonerAborted
)

const (
	jobWaiting = iota
	jobPosted
	jobNone
)

type cloneOrder struct {
	path string
	argv []string
	attr *syscall.ProcAttr
}

type cloneResult struct {
	pid int
	err error
}

// prestarted is a cloning thread started by Prestart, which the next
// startCloner takes.
var prestarted atomic.Pointer[cloner]

// Prestart starts a cloning thread before the spec is known, for the
// command line's run and create, so that it runs, not wakes up, when
// create gives it its job: waking a thread on the other CPU of this VM
// took 0.2–0.5 ms. It waits for its job and its clone polling (and
// yielding its CPU to whatever else is ready) for a few milliseconds
// before it sleeps.
func Prestart() {
	if prestarted.Load() == nil {
		prestarted.Store(newCloner())
	}
}

// startCloner gives o's cloning thread its job, once, if the child needs
// one: for the namespaces to join by path that a process inherits (pid,
// net, ipc, uts), and to create the network, ipc and uts namespaces (a
// network namespace takes 0.3–0.5 ms) while the caller makes the cgroup. A
// new user namespace, or one to join, must own the others: clone or the
// stage makes them all then. Create starts it as soon as the spec is
// decoded; startChild otherwise.
func (o *spawnOpts) startCloner() {
	if o.cloner != nil {
		return
	}
	var join []specs.LinuxNamespace
	joinsUser := false
	for _, n := range o.join {
		switch n.Type {
		case specs.PIDNamespace, specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace:
			join = append(join, n)
		case specs.UserNamespace:
			joinsUser = true
		}
	}
	var early uintptr
	if o.newFlags&unix.CLONE_NEWUSER == 0 && !joinsUser {
		early = o.newFlags & (unix.CLONE_NEWNET | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS)
	}
	c := prestarted.Swap(nil)
	if len(join) == 0 && early == 0 {
		if c != nil {
			c.job.Store(jobNone)
			futexWake(&c.job)
		}
		return
	}
	if c == nil {
		c = newCloner()
	}
	c.join, c.early = join, early
	c.job.Store(jobPosted)
	futexWake(&c.job)
	o.cloner = c
}

func newCloner() *cloner {
	c := &cloner{}
	goOnSpareThread(func() {
		if awaitChange(&c.job, jobWaiting) == jobNone {
			return
		}
		err := joinNamespaces(c.join)
		if err == nil && c.early != 0 {
			if err = unix.Unshare(int(c.early)); err != nil {
				err = fmt.Errorf("create namespaces: %w", err)
			}
		}
		st := awaitChange(&c.state, clonerWaiting)
		switch {
		case st == clonerAborted:
			c.res = cloneResult{err: errors.New("aborted")}
		case err != nil:
			c.res = cloneResult{err: err}
		default:
			pid, err := syscall.ForkExec(c.todo.path, c.todo.argv, c.todo.attr)
			c.res = cloneResult{pid, err}
		}
		c.finished.Store(1)
		futexWake(&c.finished)
	})
	return c
}

// awaitChange waits until *addr is no longer val and returns it: polling,
// yielding the CPU, for up to 3 ms, so that the thread's CPU stays awake,
// then asleep in the kernel.
func awaitChange(addr *atomic.Uint32, val uint32) uint32 {
	deadline := time.Now().Add(3 * time.Millisecond)
	for v := addr.Load(); ; v = addr.Load() {
		if v != val {
			return v
		}
		if time.Now().After(deadline) {
			futexWait(addr, val)
			continue
		}
		_, _, _ = unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
	}
}

// order has the child cloned, once, as soon as the thread is ready;
// result waits for it.
func (c *cloner) order(path string, argv []string, attr *syscall.ProcAttr) {
	c.todo = cloneOrder{path, argv, attr}
	c.sent = true
	c.state.Store(clonerOrdered)
	futexWake(&c.state)
}

func (c *cloner) result() (int, error) {
	for c.finished.Load() == 0 {
		futexWait(&c.finished, 0)
	}
	return c.res.pid, c.res.err
}

// abort lets the thread go without cloning, unless it was ordered to
// clone; nil does nothing.
func (c *cloner) abort() {
	if c != nil && !c.sent {
		c.sent = true
		c.state.Store(clonerAborted)
		futexWake(&c.state)
		_, _ = c.result()
	}
}

// futexWait sleeps in the kernel while *addr is val (or until woken).
func futexWait(addr *atomic.Uint32, val uint32) {
	_, _, _ = unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), linuxFutexWait|linuxFutexPrivate, uintptr(val), 0, 0, 0)
}

// futexWake wakes the thread sleeping on addr.
func futexWake(addr *atomic.Uint32) {
	_, _, _ = unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), linuxFutexWake|linuxFutexPrivate, 1, 0, 0, 0)
}

// futex(2) operations.
const (
	linuxFutexWait    = 0
	linuxFutexWake    = 1
	linuxFutexPrivate = 128
)

// goOnSpareThread runs fn on a new goroutine locked to an OS thread other
// than the main one (Go parks rather than ends the main thread), which ends
// with the goroutine: fn changes its namespaces for good.
func goOnSpareThread(fn func()) {
	go func() {
		goruntime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			fn()
			return
		}
		// The main thread is ours: a nested goroutine runs fn on another
		// one, and this one is given back once that one is locked.
		locked := make(chan struct{})
		goOnSpareThread(func() {
			close(locked)
			fn()
		})
		<-locked
		goruntime.UnlockOSThread()
	}()
}

func joinNamespaces(join []specs.LinuxNamespace) error {
	for _, ns := range join {
		fd, err := unix.Open(ns.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s namespace %s: %w", ns.Type, ns.Path, err)
		}
		err = unix.Setns(fd, namespaceFlags[ns.Type])
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("join %s namespace %s: %w", ns.Type, ns.Path, err)
		}
	}
	return nil
}

// namespaceStage writes the operations that put the first stage in its
// namespaces (those it has to enter itself) and returns the clone flags
// for the rest.
func namespaceStage(p *nsexec.Plan, o spawnOpts) (uintptr, error) {
	var user, other []specs.LinuxNamespace
	for _, ns := range o.join {
		switch ns.Type {
		case specs.UserNamespace:
			user = append(user, ns) // first: it owns the others
		case specs.MountNamespace, specs.TimeNamespace, specs.CgroupNamespace:
			other = append(other, ns)
		}
	}
	for _, ns := range append(user, other...) {
		p.Op(nsexec.OpJoinNS, namespaceFlags[ns.Type], ns.Path)
	}
	cloneFlags := o.newFlags
	if len(user) > 0 && cloneFlags != 0 {
		// Namespaces created while joining a user namespace must be owned
		// by it: the stage unshares them after setns(user).
		if cloneFlags&unix.CLONE_NEWPID != 0 {
			return 0, fmt.Errorf("creating a new pid namespace while joining an existing user namespace is not supported")
		}
		p.Op(nsexec.OpUnshare, cloneFlags, "unshare namespaces")
		cloneFlags = 0
	}
	if o.newTime {
		offs, err := timeOffsets(o.timeOffsets)
		if err != nil {
			return 0, err
		}
		p.Op(nsexec.OpNewTime, offs)
	}
	if o.newCgroupNS {
		p.Op(nsexec.OpUnshare, unix.CLONE_NEWCGROUP, "create cgroup namespace")
	}
	if o.newFlags&unix.CLONE_NEWNET != 0 {
		p.Op(nsexec.OpLoopbackUp)
	}
	return cloneFlags, nil
}

// timeOffsets renders offsets for the nsexec constructor: one
// "clock secs nsecs" per clock, comma-separated.
func timeOffsets(offs map[string]specs.LinuxTimeOffset) (string, error) {
	var parts []string
	for clock, off := range offs {
		switch clock {
		case "monotonic", "boottime":
		default:
			return "", fmt.Errorf("time namespace offset for unknown clock %q", clock)
		}
		parts = append(parts, fmt.Sprintf("%s %d %d", clock, off.Secs, off.Nanosecs))
	}
	sort.Strings(parts)
	return strings.Join(parts, ","), nil
}

func (c *child) send(m syncMsg) error { return writeMsg(c.parent, m) }

func (c *child) expect(want string) error { return expectMsg(c.msgs, want) }

// wait reaps the child once and returns its status.
func (c *child) wait() unix.WaitStatus {
	if c.waited {
		return c.status
	}
	for {
		_, err := unix.Wait4(c.pid, &c.status, 0, nil)
		if err != unix.EINTR {
			break
		}
	}
	c.waited = true
	return c.status
}

// kill ends a half-set-up child and reaps it.
func (c *child) kill() {
	_ = unix.Kill(c.pid, unix.SIGKILL)
	c.wait()
	c.parent.Close()
}

// waitExec waits until the child execs the user's program (the sync socket
// closes on exec) or reports an error.
func (c *child) waitExec() error {
	m, err := readMsg(c.msgs)
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading from container process: %w", err)
	}
	if m.Type == msgError {
		return m.err()
	}
	return fmt.Errorf("container process sent unexpected %q", m.Type)
}
