package runtime

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/runtime/seccomp"
)

// Init is the entry point of a container's init or exec'd process (the
// binary re-executed with InitCommand). It never returns: it execs the
// user's process or exits non-zero after telling the parent why.
func Init() {
	// Everything below changes per-thread state (namespaces, credentials,
	// capabilities, seccomp) that must be the state of the thread that execs.
	goruntime.LockOSThread()
	syncFD, err := strconv.Atoi(os.Getenv(envSyncFD))
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth: this command is internal to the runtime")
		os.Exit(2)
	}
	unix.CloseOnExec(syncFD)
	sync := os.NewFile(uintptr(syncFD), "sync")
	err = initMain(sync)
	if err == nil {
		err = errors.New("init returned without exec")
	}
	if readySent {
		// The parent has stopped listening: stderr is all we have.
		fmt.Fprintln(os.Stderr, "berth init:", err)
	} else if werr := writeMsg(sync, syncMsg{Type: msgError, Error: err.Error()}); werr != nil {
		fmt.Fprintln(os.Stderr, "berth init:", err)
	}
	os.Exit(1)
}

// readySent: the parent has been told setup succeeded and no longer reads
// the sync socket.
var readySent bool

// procDirFD is where /proc is when the container's root has none
// (containers without a mount namespace); AT_FDCWD otherwise.
var procDirFD = unix.AT_FDCWD

func initMain(sync *os.File) error {
	msgs := bufio.NewReader(sync)
	m, err := readMsg(msgs)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if m.Type != msgConfig || m.Config == nil {
		return fmt.Errorf("expected config, got %q", m.Type)
	}
	cfg := m.Config
	for _, k := range []string{envSyncFD, envFifoFD, envConsoleFD} {
		defer os.Unsetenv(k)
	}
	if cfg.Exec {
		return execProcess(cfg, sync)
	}
	return initContainer(cfg, sync, msgs)
}

func fdFromEnv(name string) *os.File {
	n, err := strconv.Atoi(os.Getenv(name))
	if err != nil {
		return nil
	}
	unix.CloseOnExec(n)
	return os.NewFile(uintptr(n), name)
}

func hasNamespace(spec *specs.Spec, t specs.LinuxNamespaceType) bool {
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}

func initContainer(cfg *initConfig, sync *os.File, msgs *bufio.Reader) error {
	spec := cfg.Spec
	p := cfg.Process
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	if !hasNamespace(spec, specs.MountNamespace) {
		// Sharing the runtime's mount namespace: nothing may be mounted
		// (it would land on the host); only enter the rootfs.
		return initWithoutMountNS(cfg, sync, msgs)
	}
	var listener *os.File
	if spec.Linux.Seccomp != nil && spec.Linux.Seccomp.ListenerPath != "" {
		// Connect now: the host path is out of reach after pivot_root.
		conn, err := net.Dial("unix", spec.Linux.Seccomp.ListenerPath)
		if err != nil {
			return fmt.Errorf("connect to seccomp listener %s: %w", spec.Linux.Seccomp.ListenerPath, err)
		}
		listener, err = conn.(*net.UnixConn).File()
		conn.Close()
		if err != nil {
			return err
		}
		defer listener.Close()
	}
	rs, err := prepareRootfs(cfg)
	if err != nil {
		return err
	}
	if p.Terminal {
		console := fdFromEnv(envConsoleFD)
		if console == nil {
			return fmt.Errorf("terminal requested but no console socket")
		}
		if err := setupConsole(console, p, cfg.Rootfs, true); err != nil {
			return err
		}
		console.Close()
	}
	if err := createHooks(cfg, sync, msgs); err != nil {
		return err
	}
	if cfg.NoPivot || rootIsRamfs() {
		err = moveRoot(cfg.Rootfs)
	} else {
		err = pivotRoot(cfg.Rootfs)
	}
	if err != nil {
		return err
	}
	if p, ok := propagationFlags[spec.Linux.RootfsPropagation]; ok {
		if err := unix.Mount("", "/", "", p, ""); err != nil {
			return fmt.Errorf("set rootfs propagation %s: %w", spec.Linux.RootfsPropagation, err)
		}
	}
	if err := kernelSettings(spec); err != nil {
		return err
	}
	if err := finalizeRootfs(spec, rs); err != nil {
		return err
	}
	return finishInit(cfg, sync, listener)
}

// createHooks is the hook handshake of an init whose spec has create
// hooks, once its mounts are done: let the parent run prestart and
// createRuntime hooks, then run createContainer hooks here, in the
// container's namespaces.
func createHooks(cfg *initConfig, sync *os.File, msgs *bufio.Reader) error {
	if !needHookSync(cfg.Spec) {
		return nil
	}
	if err := writeMsg(sync, syncMsg{Type: msgHooks}); err != nil {
		return err
	}
	if err := expectMsg(msgs, msgResume); err != nil {
		return err
	}
	if cfg.Spec.Hooks != nil {
		return runHooks("createContainer", cfg.Spec.Hooks.CreateContainer, cfg.State)
	}
	return nil
}

// initWithoutMountNS runs a container that shares the host's mount
// namespace: chroot into the rootfs, no mounts.
func initWithoutMountNS(cfg *initConfig, sync *os.File, msgs *bufio.Reader) error {
	if err := createHooks(cfg, sync, msgs); err != nil {
		return err
	}
	// The rootfs may have no /proc: keep a handle on ours for the fifo.
	proc, err := unix.Open("/proc", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /proc: %w", err)
	}
	procDirFD = proc
	if err := unix.Chroot(cfg.Rootfs); err != nil {
		return fmt.Errorf("chroot %s: %w", cfg.Rootfs, err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	if err := kernelSettings(cfg.Spec); err != nil {
		return err
	}
	return finishInit(cfg, sync, nil)
}

// kernelSettings sets hostname, domainname and sysctls; before /proc/sys
// becomes read-only.
func kernelSettings(spec *specs.Spec) error {
	if hasNamespace(spec, specs.UTSNamespace) {
		if spec.Hostname != "" {
			if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
				return fmt.Errorf("sethostname: %w", err)
			}
		}
		if spec.Domainname != "" {
			if err := unix.Setdomainname([]byte(spec.Domainname)); err != nil {
				return fmt.Errorf("setdomainname: %w", err)
			}
		}
	} else if spec.Hostname != "" {
		return fmt.Errorf("unable to set hostname without a private UTS namespace")
	}
	for k, v := range spec.Linux.Sysctl {
		path := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
		if err := os.WriteFile(path, []byte(v), 0); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", k, v, err)
		}
	}
	return nil
}

// finishInit: what every init does once in its root: hostname, sysctls,
// keyring, process preparation, ready, wait for start, exec.
func finishInit(cfg *initConfig, sync *os.File, listener *os.File) error {
	spec, p := cfg.Spec, cfg.Process
	if !cfg.NoNewKeyring {
		// A fresh session keyring, so the container cannot see the host's keys.
		name := "_ses." + cfg.ContainerID
		if _, err := unix.KeyctlJoinSessionKeyring(name); err != nil && !errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf("join session keyring: %w", err)
		}
	}
	fp, err := prepareProcess(cfg, p)
	if err != nil {
		return err
	}
	if sc := spec.Linux.Seccomp; sc != nil {
		// Report a bad profile at create time; it is loaded after start.
		if _, err := seccomp.Compile(sc); err != nil {
			return fmt.Errorf("seccomp: %w", err)
		}
	}
	if err := writeMsg(sync, syncMsg{Type: msgReady}); err != nil {
		return err
	}
	readySent = true
	// Wait for `start`.
	fifo := fdFromEnv(envFifoFD)
	if fifo == nil {
		return fmt.Errorf("no exec fifo")
	}
	fifoPath := "/proc/self/fd/" + strconv.Itoa(int(fifo.Fd()))
	if procDirFD != unix.AT_FDCWD {
		fifoPath = fifoPath[len("/proc/"):]
	}
	wfd, err := unix.Openat(procDirFD, fifoPath, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	w := os.NewFile(uintptr(wfd), "exec.fifo")
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	if _, err := w.Write([]byte{'0'}); err != nil {
		return fmt.Errorf("write exec fifo: %w", err)
	}
	// w stays open: it is close-on-exec, so `start` sees EOF exactly when
	// the user's process has been exec'd (or this init died), and poststart
	// hooks run after it, as the spec wants.
	fifo.Close()
	if spec.Hooks != nil && len(spec.Hooks.StartContainer) > 0 {
		st := *cfg.State
		st.Status = specs.StateRunning
		if err := runHooks("startContainer", spec.Hooks.StartContainer, &st); err != nil {
			return err
		}
	}
	// Credentials last: after a uid change the process is no longer
	// dumpable and could not reopen the fifo through /proc/self/fd.
	st := *cfg.State
	st.Status = specs.StateRunning
	if err := fp.applyCredentials(listener, &st); err != nil {
		return err
	}
	return fp.exec()
}

func execProcess(cfg *initConfig, sync *os.File) error {
	p := cfg.Process
	if p.Terminal {
		if _, err := unix.Setsid(); err != nil {
			return fmt.Errorf("setsid: %w", err)
		}
		console := fdFromEnv(envConsoleFD)
		if console == nil {
			return fmt.Errorf("terminal requested but no console socket")
		}
		if err := setupConsole(console, p, "", false); err != nil {
			return err
		}
		console.Close()
	}
	fp, err := prepareProcess(cfg, p)
	if err != nil {
		return err
	}
	if err := fp.applyCredentials(nil, nil); err != nil {
		return err
	}
	return fp.exec()
}

// finalProcess is the user's process, resolved and ready to exec.
type finalProcess struct {
	cfg  *initConfig
	p    *specs.Process
	caps *capsConfig
	path string
	env  []string
}

func prepareProcess(cfg *initConfig, p *specs.Process) (*finalProcess, error) {
	fp := &finalProcess{cfg: cfg, p: p}
	var err error
	if fp.caps, err = loadCaps(p.Capabilities); err != nil {
		return nil, err
	}
	for _, rl := range p.Rlimits {
		if _, ok := rlimitNames[rl.Type]; !ok {
			return nil, fmt.Errorf("unknown rlimit %q", rl.Type)
		}
		if rl.Soft > rl.Hard {
			return nil, fmt.Errorf("rlimit %s: soft limit %d above hard limit %d", rl.Type, rl.Soft, rl.Hard)
		}
	}
	if p.OOMScoreAdj != nil {
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(*p.OOMScoreAdj)), 0); err != nil {
			return nil, fmt.Errorf("set oom_score_adj to %d: %w", *p.OOMScoreAdj, err)
		}
	}
	if err := unix.Chdir(p.Cwd); err != nil {
		return nil, fmt.Errorf("chdir to cwd (%q) set in config.json: %w", p.Cwd, err)
	}
	// CVE-2024-21626: a leaked host directory fd as cwd shows up as
	// "(unreachable)"; refuse to run with a cwd outside the container.
	if wd, err := unix.Getwd(); err != nil || !strings.HasPrefix(wd, "/") {
		return nil, fmt.Errorf("current working directory is outside of the container's root (%q)", wd)
	}
	fp.env = p.Env
	if !hasEnv(fp.env, "HOME") {
		fp.env = append(fp.env, "HOME="+homeDir(p.User.UID))
	}
	path, err := lookPath(p.Args[0], fp.env)
	if err != nil {
		return nil, err
	}
	fp.path = path
	return fp, nil
}

// applyCredentials drops to the process's identity: NNP, seccomp (before the
// capability drop when NNP is off, since loading then needs CAP_SYS_ADMIN),
// bounding set, user and groups, then capabilities.
func (fp *finalProcess) applyCredentials(listener *os.File, st *specs.State) error {
	p := fp.p
	sc := fp.cfg.Spec.Linux.Seccomp
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set no_new_privs: %w", err)
		}
	}
	if sc != nil && !p.NoNewPrivileges {
		if err := loadSeccomp(sc, listener, st); err != nil {
			return err
		}
	}
	if err := fp.caps.dropBounding(); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set keepcaps: %w", err)
	}
	if err := setUser(p.User); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("clear keepcaps: %w", err)
	}
	if err := fp.caps.apply(); err != nil {
		return err
	}
	if p.User.Umask != nil {
		unix.Umask(int(*p.User.Umask))
	} else {
		unix.Umask(0o022)
	}
	if sc != nil && p.NoNewPrivileges {
		if err := loadSeccomp(sc, listener, st); err != nil {
			return err
		}
	}
	return nil
}

func loadSeccomp(sc *specs.LinuxSeccomp, listener *os.File, st *specs.State) error {
	fd, err := seccomp.Load(sc)
	if err != nil {
		return fmt.Errorf("load seccomp filter: %w", err)
	}
	if fd < 0 {
		return nil
	}
	defer unix.Close(fd)
	if listener == nil {
		return fmt.Errorf("seccomp notify action without a listenerPath")
	}
	cps := specs.ContainerProcessState{Version: specs.Version, Fds: []string{specs.SeccompFdName},
		Pid: os.Getpid(), Metadata: sc.ListenerMetadata}
	if st != nil {
		cps.State = *st
	}
	b, err := json.Marshal(cps)
	if err != nil {
		return err
	}
	if err := unix.Sendmsg(int(listener.Fd()), b, unix.UnixRights(fd), nil, 0); err != nil {
		return fmt.Errorf("send seccomp fd to listener: %w", err)
	}
	return nil
}

// setUser switches the calling thread's ids (x/sys/unix calls are raw,
// per-thread syscalls: only this thread, which execs, needs them).
func setUser(u specs.User) error {
	gids := make([]int, len(u.AdditionalGids))
	for i, g := range u.AdditionalGids {
		gids[i] = int(g)
	}
	if err := unix.Setgroups(gids); err != nil && !(errors.Is(err, unix.EPERM) && len(gids) == 0) {
		return fmt.Errorf("setgroups %v: %w", gids, err)
	}
	if err := unix.Setresgid(int(u.GID), int(u.GID), int(u.GID)); err != nil {
		return fmt.Errorf("setgid %d: %w", u.GID, err)
	}
	if err := unix.Setresuid(int(u.UID), int(u.UID), int(u.UID)); err != nil {
		return fmt.Errorf("setuid %d: %w", u.UID, err)
	}
	return nil
}

func (fp *finalProcess) exec() error {
	if err := closeExtraFDs(3 + fp.cfg.PreserveFDs); err != nil {
		return err
	}
	// Limits last: RLIMIT_AS or RLIMIT_DATA could starve this Go process.
	for _, rl := range fp.p.Rlimits {
		if err := unix.Prlimit(0, rlimitNames[rl.Type], &unix.Rlimit{Cur: rl.Soft, Max: rl.Hard}, nil); err != nil {
			return fmt.Errorf("set %s to %d:%d: %w", rl.Type, rl.Soft, rl.Hard, err)
		}
	}
	resetSignals()
	err := unix.Exec(fp.path, fp.p.Args, fp.env)
	return fmt.Errorf("exec %s: %w", fp.p.Args[0], err)
}

type sigaction struct {
	handler, flags, restorer, mask uint64
}

// resetSignals gives the user's process default signal dispositions and
// an empty mask: ignored dispositions survive execve, and the runtime's
// caller (a shell, a daemon) may have ignored SIGHUP or SIGINT.
func resetSignals() {
	const sigIgn = 1
	for sig := 1; sig <= 64; sig++ {
		if sig == int(unix.SIGKILL) || sig == int(unix.SIGSTOP) {
			continue
		}
		var old sigaction
		_, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0)
		if errno == 0 && old.handler == sigIgn {
			dfl := sigaction{}
			unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&dfl)), 0, 8, 0, 0)
		}
	}
	var empty uint64
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&empty)), 0, 8, 0, 0)
}

// closeExtraFDs marks every descriptor from min on close-on-exec, so nothing
// of the runtime's leaks into the container (CVE-2024-21626).
func closeExtraFDs(min int) error {
	if err := unix.CloseRange(uint(min), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return nil
	}
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list fds: %w", err)
	}
	names, err := d.Readdirnames(-1)
	self := int(d.Fd())
	if err != nil {
		d.Close()
		return err
	}
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err != nil || fd < min || fd == self {
			continue
		}
		unix.CloseOnExec(fd)
	}
	d.Close()
	return nil
}

func hasEnv(env []string, key string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, key+"=") {
			return true
		}
	}
	return false
}

func getEnv(env []string, key string) string {
	for _, e := range env {
		if strings.HasPrefix(e, key+"=") {
			return e[len(key)+1:]
		}
	}
	return ""
}

// homeDir finds uid's home in the container's /etc/passwd ("/" if none).
func homeDir(uid uint32) string {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return "/"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(sc.Text(), ":")
		if len(parts) >= 6 && parts[2] == strconv.FormatUint(uint64(uid), 10) {
			return parts[5]
		}
	}
	return "/"
}

// lookPath finds the executable like execvp would, in the container's PATH.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		if err := executable(name); err != nil {
			return "", fmt.Errorf("exec: %q: %w", name, err)
		}
		return name, nil
	}
	path := getEnv(env, "PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + name
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", name)
}

func executable(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("is a directory")
	}
	if st.Mode()&0o111 == 0 {
		return os.ErrPermission
	}
	return nil
}

var rlimitNames = map[string]int{
	"RLIMIT_CPU": unix.RLIMIT_CPU, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_DATA": unix.RLIMIT_DATA,
	"RLIMIT_STACK": unix.RLIMIT_STACK, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK,
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
}
