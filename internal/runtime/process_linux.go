package runtime

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/runtime/nsexec"
)

// InitCommand is the hidden first argument with which the runtime re-executes
// itself as a container's init or exec'd process.
const InitCommand = "__berth_init"

const (
	envSyncFD    = nsexec.SyncEnvVar
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
	cmd    *exec.Cmd
	parent *os.File // our end of the sync socketpair
	dec    *json.Decoder
}

type spawnOpts struct {
	// join: namespaces to enter by path. user/mnt/time are entered by the
	// child's C constructor; the rest by the spawning thread (they are
	// inherited through clone).
	join []specs.LinuxNamespace
	// newFlags: namespaces to create with clone.
	newFlags    uintptr
	uidMappings []specs.LinuxIDMapping
	gidMappings []specs.LinuxIDMapping
	// newTime: create a time namespace with these offsets.
	newTime     bool
	timeOffsets map[string]specs.LinuxTimeOffset
	fifo        *os.File // O_PATH handle of exec.fifo (init only)
	console     *os.File // connection to the console socket
	preserve    int
	stdio       [3]*os.File
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

// startChild forks the protected binary as a container process. The spawning
// goroutine's thread enters the namespaces that can be entered by a
// multi-threaded process, so the clone()d child starts inside them.
func startChild(o spawnOpts) (*child, error) {
	bin, err := protectedBinary()
	if err != nil {
		return nil, err
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	parent := os.NewFile(uintptr(fds[0]), "sync-parent")
	childEnd := os.NewFile(uintptr(fds[1]), "sync-child")
	defer childEnd.Close()

	cmd := &exec.Cmd{
		Path: "/proc/self/fd/" + strconv.Itoa(int(bin.Fd())),
		Args: []string{"berth", InitCommand},
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = o.stdio[0], o.stdio[1], o.stdio[2]
	for i := 0; i < o.preserve; i++ {
		cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(3+i), "preserved"))
	}
	env := []string{}
	addFD := func(name string, f *os.File) {
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
		env = append(env, name+"="+strconv.Itoa(2+len(cmd.ExtraFiles)))
	}
	addFD(envSyncFD, childEnd)
	if o.fifo != nil {
		addFD(envFifoFD, o.fifo)
	}
	if o.console != nil {
		addFD(envConsoleFD, o.console)
	}
	var enter []string
	var threadJoin []specs.LinuxNamespace
	for _, ns := range o.join {
		switch ns.Type {
		case specs.UserNamespace:
			// user first: it owns the others
			enter = append([]string{"user=" + ns.Path}, enter...)
		case specs.MountNamespace, specs.TimeNamespace:
			enter = append(enter, nsKind[ns.Type]+"="+ns.Path)
		default:
			threadJoin = append(threadJoin, ns)
		}
	}
	cloneFlags := o.newFlags
	joinsUser := false
	for _, ns := range o.join {
		if ns.Type == specs.UserNamespace {
			joinsUser = true
		}
	}
	if joinsUser && cloneFlags != 0 {
		// Namespaces created while joining a user namespace must be owned by
		// it: the constructor unshares them after setns(user).
		if cloneFlags&unix.CLONE_NEWPID != 0 {
			return nil, fmt.Errorf("creating a new pid namespace while joining an existing user namespace is not supported")
		}
		enter = append(enter, "unshare="+strconv.FormatUint(uint64(cloneFlags), 16))
		cloneFlags = 0
	}
	if o.newTime {
		offs, err := timeOffsets(o.timeOffsets)
		if err != nil {
			return nil, err
		}
		enter = append(enter, "newtime="+offs)
	}
	if len(enter) > 0 {
		env = append(env, nsexec.EnvVar+"="+strings.Join(enter, ";"))
	}
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: cloneFlags}
	if cloneFlags&unix.CLONE_NEWUSER != 0 {
		for _, m := range o.uidMappings {
			cmd.SysProcAttr.UidMappings = append(cmd.SysProcAttr.UidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
		}
		for _, m := range o.gidMappings {
			cmd.SysProcAttr.GidMappings = append(cmd.SysProcAttr.GidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
		}
		cmd.SysProcAttr.GidMappingsEnableSetgroups = true
		// Become root of the new user namespace before exec, or exec as an
		// unmapped uid drops every capability.
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
	}

	if len(threadJoin) == 0 {
		err = cmd.Start()
	} else {
		errc := make(chan error, 1)
		go func() {
			// This thread's namespaces change: never unlock it, so it dies
			// with this goroutine instead of running other Go code.
			goruntime.LockOSThread()
			errc <- startInNamespaces(cmd, threadJoin, o)
		}()
		err = <-errc
	}
	if err != nil {
		parent.Close()
		return nil, fmt.Errorf("start container process: %w", err)
	}
	return &child{cmd: cmd, parent: parent, dec: json.NewDecoder(parent)}, nil
}

func startInNamespaces(cmd *exec.Cmd, join []specs.LinuxNamespace, o spawnOpts) error {
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
	return cmd.Start()
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

func (c *child) expect(want string) error { return expectMsg(c.dec, want) }

// kill ends a half-set-up child and reaps it.
func (c *child) kill() {
	if c.cmd.Process != nil {
		_ = c.cmd.Process.Kill()
		_, _ = c.cmd.Process.Wait()
	}
	c.parent.Close()
}

// waitExec waits until the child execs the user's program (the sync socket
// closes on exec) or reports an error.
func (c *child) waitExec() error {
	m, err := readMsg(c.dec)
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading from container process: %w", err)
	}
	if m.Type == msgError {
		return fmt.Errorf("%s", m.Error)
	}
	return fmt.Errorf("container process sent unexpected %q", m.Type)
}
