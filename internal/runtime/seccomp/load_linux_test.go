package seccomp

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The tests below install filters in a child: the test binary re-executes
// itself to run TestHelperProcess with the scenario named in helperEnv. The
// child locks its goroutine to its thread, loads the scenario's profile on
// that thread only, makes its syscalls and prints what they returned.

const (
	helperEnv = "BERTH_SECCOMP_HELPER"
	argEnv    = "BERTH_SECCOMP_HELPER_ARG"
)

// runtimeAllow lets the Go runtime work on the filtered thread when a
// profile's default action refuses syscalls (the scenarios' own rules go
// first, so they win for the syscalls they name).
func runtimeAllow() specs.LinuxSyscall {
	return specs.LinuxSyscall{Names: defaultAllowed, Action: specs.ActAllow}
}

// sc makes a syscall and formats its outcome as "errno" or "ok:result".
func sc(trap uintptr, args ...uintptr) string {
	var a [6]uintptr
	copy(a[:], args)
	r, _, errno := unix.Syscall6(trap, a[0], a[1], a[2], a[3], a[4], a[5])
	if errno != 0 {
		return strconv.Itoa(int(errno))
	}
	return "ok:" + strconv.FormatUint(uint64(r), 10)
}

func pidOK() string {
	if r := sc(unix.SYS_GETPID); r != "ok:"+strconv.Itoa(os.Getpid()) {
		return "getpid=" + r
	}
	return "pid-ok"
}

func errnoOf(e syscall.Errno) string { return strconv.Itoa(int(e)) }

type scenario struct {
	profile func(arg string) *specs.LinuxSeccomp
	// run makes the syscalls under the filter; fd is Load's result.
	run func(fd int, arg string) string
}

var scenarios = map[string]scenario{
	"errno": {
		profile: func(string) *specs.LinuxSeccomp {
			return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
				{Names: []string{"getcwd"}, Action: specs.ActErrno, ErrnoRet: uptr(uint(unix.EACCES))},
				{Names: []string{"mkdirat"}, Action: specs.ActErrno, ErrnoRet: uptr(42)},
				{Names: []string{"no_such_syscall"}, Action: specs.ActErrno},
			}}
		},
		run: func(int, string) string {
			buf := make([]byte, 256)
			path := []byte("/nonexistent-berth-dir/x\x00")
			cwd := unix.AT_FDCWD
			return strings.Join([]string{
				sc(unix.SYS_GETCWD, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf))),
				sc(unix.SYS_MKDIRAT, uintptr(cwd), uintptr(unsafe.Pointer(&path[0])), 0o755),
				pidOK(),
				sc(1000),
			}, " ")
		},
	},
	"default-errno": {
		profile: func(string) *specs.LinuxSeccomp {
			return &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: uptr(uint(unix.ENODATA)), Syscalls: []specs.LinuxSyscall{
				{Names: []string{"sethostname"}, Action: specs.ActErrno},
				runtimeAllow(),
			}}
		},
		run: func(int, string) string {
			return strings.Join([]string{
				sc(unix.SYS_ACCT, 0),        // not in the profile: defaultErrnoRet
				sc(unix.SYS_SETHOSTNAME, 0), // ERRNO without errnoRet: EPERM
				sc(1000),                    // beyond the table: ENOSYS
				sc(400),                     // a gap in the table: ENOSYS
				pidOK(),                     // allowed
			}, " ")
		},
	},
	"kill-process": {
		profile: func(string) *specs.LinuxSeccomp {
			return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
				{Names: []string{"kcmp"}, Action: specs.ActKillProcess},
			}}
		},
		run: func(int, string) string { return sc(unix.SYS_KCMP) },
	},
	"trap": {
		profile: func(string) *specs.LinuxSeccomp {
			return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
				{Names: []string{"kcmp"}, Action: specs.ActTrap},
			}}
		},
		run: func(int, string) string { return sc(unix.SYS_KCMP) },
	},
	"log-allow": {
		profile: func(string) *specs.LinuxSeccomp {
			return &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
				{Names: []string{"getppid"}, Action: specs.ActLog},
				{Names: []string{"getpid"}, Action: specs.ActAllow},
				runtimeAllow(),
			}}
		},
		run: func(int, string) string {
			return sc(unix.SYS_GETPPID) + " " + sc(unix.SYS_GETPID) + " " + strconv.Itoa(os.Getpid())
		},
	},
	// arg: "OP VALUE VALUETWO ARG..."; kcmp gets errno 100 when arg 3 matches, else 101.
	"args": {
		profile: func(arg string) *specs.LinuxSeccomp {
			f := strings.Fields(arg)
			v, _ := strconv.ParseUint(f[1], 0, 64)
			v2, _ := strconv.ParseUint(f[2], 0, 64)
			return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
				{Names: []string{"kcmp"}, Action: specs.ActErrno, ErrnoRet: uptr(101)},
				{Names: []string{"kcmp"}, Action: specs.ActErrno, ErrnoRet: uptr(100), Args: []specs.LinuxSeccompArg{
					{Index: 3, Op: specs.LinuxSeccompOperator(f[0]), Value: v, ValueTwo: v2}}},
			}}
		},
		run: func(_ int, arg string) string {
			var out []string
			for _, s := range strings.Fields(arg)[3:] {
				a, _ := strconv.ParseUint(s, 0, 64)
				out = append(out, sc(unix.SYS_KCMP, 0, 0, 0, uintptr(a)))
			}
			return strings.Join(out, " ")
		},
	},
	"and-or": {
		profile: func(string) *specs.LinuxSeccomp {
			return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
				{Names: []string{"kcmp"}, Action: specs.ActErrno, ErrnoRet: uptr(101)},
				{Names: []string{"kcmp"}, Action: specs.ActErrno, ErrnoRet: uptr(100), Args: []specs.LinuxSeccompArg{
					{Index: 0, Value: 1, Op: specs.OpEqualTo}, {Index: 1, Value: 2, Op: specs.OpEqualTo}}},
				{Names: []string{"kcmp"}, Action: specs.ActErrno, ErrnoRet: uptr(100), Args: []specs.LinuxSeccompArg{
					{Index: 4, Value: 1 << 40, Op: specs.OpGreaterEqual}}},
			}}
		},
		run: func(int, string) string {
			return strings.Join([]string{
				sc(unix.SYS_KCMP, 1, 2), sc(unix.SYS_KCMP, 1, 3), sc(unix.SYS_KCMP, 0, 2),
				sc(unix.SYS_KCMP, 0, 0, 0, 0, 1<<40), sc(unix.SYS_KCMP, 0, 0, 0, 0, 1<<40-1),
			}, " ")
		},
	},
	"notify": {
		profile: func(string) *specs.LinuxSeccomp {
			return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
				{Names: []string{"kcmp"}, Action: specs.ActNotify},
			}}
		},
		run: func(fd int, _ string) string {
			if fd < 0 {
				return fmt.Sprintf("no listener fd (%d)", fd)
			}
			link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
			if err != nil {
				return err.Error()
			}
			// Another goroutine, on an unfiltered thread, answers the notification.
			answered := make(chan string, 1)
			go func() { answered <- answerNotification(fd, 4242) }()
			res := sc(unix.SYS_KCMP, 7)
			return strings.ReplaceAll(link, " ", "_") + " " + <-answered + " " + res
		},
	},
	// arg: flags to load with, plus "notify" for a NOTIFY rule and "nnp" for LoadFilter(s, true).
	// It prints getcwd's outcome on another thread, and the listener and no_new_privs state.
	"flags": {
		profile: func(arg string) *specs.LinuxSeccomp {
			s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
				{Names: []string{"getcwd"}, Action: specs.ActErrno, ErrnoRet: uptr(uint(unix.EACCES))},
			}}
			for _, f := range strings.Fields(arg) {
				switch f {
				case "notify":
					s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{"kcmp"}, Action: specs.ActNotify})
				case "nnp":
				default:
					s.Flags = append(s.Flags, specs.LinuxSeccompFlag(f))
				}
			}
			return s
		},
		run: func(fd int, _ string) string {
			other := make(chan string)
			go func() {
				// locked, this goroutine cannot share the filtered thread
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				buf := make([]byte, 256)
				other <- sc(unix.SYS_GETCWD, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
			}()
			nnp, _ := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
			buf := make([]byte, 256)
			here := sc(unix.SYS_GETCWD, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
			return fmt.Sprintf("here=%s other=%s listener=%v nnp=%d", here, <-other, fd >= 0, nnp)
		},
	},
	// arg: the path of an i386 binary, then the architectures to list. The
	// filter refuses getcwd; the i386 binary runs under it.
	"exec386": {
		profile: func(arg string) *specs.LinuxSeccomp {
			s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
				{Names: []string{"getcwd"}, Action: specs.ActErrno, ErrnoRet: uptr(uint(unix.EACCES))},
			}}
			for _, a := range strings.Fields(arg)[1:] {
				s.Architectures = append(s.Architectures, specs.Arch(a))
			}
			return s
		},
		run: func(_ int, arg string) string {
			cmd := exec.Command(strings.Fields(arg)[0])
			out, err := cmd.Output()
			if cmd.ProcessState == nil {
				return "exec:" + err.Error()
			}
			status := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if status.Signaled() {
				return "signal=" + unix.SignalName(status.Signal())
			}
			return strings.TrimSpace(string(out))
		},
	},
	"default-profile": {
		profile: func(arg string) *specs.LinuxSeccomp { return DefaultProfile(strings.Fields(arg)) },
		run: func(int, string) string {
			var out []string
			// ordinary work: files, time, goroutines, a child process
			dir, err := os.MkdirTemp("", "berth-seccomp")
			if err != nil {
				return "mkdtemp:" + err.Error()
			}
			defer os.RemoveAll(dir)
			if err := os.WriteFile(dir+"/f", []byte("hello"), 0o644); err != nil {
				return "write:" + err.Error()
			}
			if b, err := os.ReadFile(dir + "/f"); err != nil || string(b) != "hello" {
				return fmt.Sprintf("read: %q %v", b, err)
			}
			done := make(chan int)
			go func() { done <- os.Getpid() }()
			<-done
			if err := exec.Command("/bin/true").Run(); err != nil {
				return "exec:" + err.Error()
			}
			out = append(out, "ordinary-ok")
			// with caps: EFAULT or EINVAL from the kernel; without: EPERM from the filter
			out = append(out, sc(unix.SYS_MOUNT, 0, 0, 0, 0, 0))
			out = append(out, sc(unix.SYS_UNSHARE, unix.CLONE_NEWUTS))
			out = append(out, sc(unix.SYS_CLONE3, 0, 0))
			out = append(out, sc(unix.SYS_PERSONALITY, 0xffffffff))
			return strings.Join(out, " ")
		},
	},
}

// seccompNotif and seccompNotifResp mirror struct seccomp_notif and seccomp_notif_resp.
type seccompNotif struct {
	id    uint64
	pid   uint32
	flags uint32
	nr    int32
	arch  uint32
	ip    uint64
	args  [6]uint64
}

type seccompNotifResp struct {
	id    uint64
	val   int64
	error int32
	flags uint32
}

func answerNotification(fd int, val int64) string {
	var n seccompNotif
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&n))); e != 0 {
		return "recv:" + e.Error()
	}
	resp := seccompNotifResp{id: n.id, val: val}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&resp))); e != 0 {
		return "send:" + e.Error()
	}
	return fmt.Sprintf("nr=%d,arg0=%d", n.nr, n.args[0])
}

func TestHelperProcess(t *testing.T) {
	name := os.Getenv(helperEnv)
	if name == "" {
		t.Skip("helper process for the seccomp tests")
	}
	sc, ok := scenarios[name]
	if !ok {
		fmt.Printf("unknown scenario %q\n", name)
		os.Exit(3)
	}
	arg := os.Getenv(argEnv)
	runtime.LockOSThread()
	fd, err := LoadFilter(sc.profile(arg), strings.Contains(arg, "nnp"))
	if err != nil {
		fmt.Printf("load: %v\n", err)
		os.Exit(3)
	}
	fmt.Printf("result: %s\n", sc.run(fd, arg))
	os.Exit(0)
}

type childResult struct {
	out    string // what follows "result: "
	stderr string
	status syscall.WaitStatus
}

func runChild(t *testing.T, name, arg string) childResult {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+name, argEnv+"="+arg)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run helper %s: %v", name, err)
	}
	res := childResult{stderr: stderr.String(), status: cmd.ProcessState.Sys().(syscall.WaitStatus)}
	defer func() { t.Logf("helper %s %q: %q, status %#x", name, arg, res.out, res.status) }()
	for _, line := range strings.Split(stdout.String(), "\n") {
		if r, ok := strings.CutPrefix(line, "result: "); ok {
			res.out = r
		}
	}
	if strings.Contains(stdout.String(), "load: ") {
		t.Fatalf("helper %s: %s", name, stdout.String())
	}
	return res
}

func wantOutput(t *testing.T, name, arg, want string) {
	t.Helper()
	r := runChild(t, name, arg)
	if r.out != want {
		t.Errorf("%s: got %q, want %q (status %v, stderr %q)", name, r.out, want, r.status, r.stderr)
	}
}

func requireSeccomp(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loading a filter without no_new_privs needs CAP_SYS_ADMIN")
	}
}

func TestLoadErrno(t *testing.T) {
	requireSeccomp(t)
	// getcwd -> EACCES, mkdirat -> 42, getpid untouched, an unknown number runs as usual.
	wantOutput(t, "errno", "", fmt.Sprintf("%d 42 pid-ok %d", unix.EACCES, unix.ENOSYS))
}

func TestLoadDefaultErrnoAndENOSYS(t *testing.T) {
	requireSeccomp(t)
	wantOutput(t, "default-errno", "", fmt.Sprintf("%d %d %d %d pid-ok", unix.ENODATA, unix.EPERM, unix.ENOSYS, unix.ENOSYS))
}

func TestLoadKillProcess(t *testing.T) {
	requireSeccomp(t)
	r := runChild(t, "kill-process", "")
	if !r.status.Signaled() || r.status.Signal() != unix.SIGSYS {
		t.Fatalf("child status %v (out %q), want killed by SIGSYS", r.status, r.out)
	}
	if r.out != "" {
		t.Errorf("child printed %q after the killing syscall", r.out)
	}
}

func TestLoadTrap(t *testing.T) {
	requireSeccomp(t)
	r := runChild(t, "trap", "")
	// The Go runtime does not handle SIGSYS: it dies reporting the signal.
	if r.status.Exited() && r.status.ExitStatus() == 0 || r.out != "" {
		t.Fatalf("child survived the trap: status %v, out %q", r.status, r.out)
	}
	if !strings.Contains(r.stderr, "SIGSYS") {
		t.Errorf("child stderr does not mention SIGSYS: %q", r.stderr)
	}
}

func TestLoadLogAndAllow(t *testing.T) {
	requireSeccomp(t)
	r := runChild(t, "log-allow", "")
	f := strings.Fields(r.out)
	if len(f) != 3 || f[0] != fmt.Sprintf("ok:%d", os.Getpid()) || f[1] != "ok:"+f[2] {
		t.Fatalf("got %q (stderr %q), want getppid = our pid and getpid = the child's pid", r.out, r.stderr)
	}
}

func TestLoadArgOperators(t *testing.T) {
	requireSeccomp(t)
	for _, c := range []struct {
		op     specs.LinuxSeccompOperator
		v, v2  uint64
		values []uint64
	}{
		{specs.OpEqualTo, 0x100000005, 0, []uint64{0x100000005, 5, 0x200000005}},
		{specs.OpNotEqual, 0x100000005, 0, []uint64{0x100000005, 5, 0x100000006}},
		{specs.OpLessThan, 0x100000000, 0, []uint64{0xffffffff, 0x100000000, 0x100000001, 0}},
		{specs.OpLessEqual, 0x100000000, 0, []uint64{0xffffffff, 0x100000000, 0x100000001}},
		{specs.OpGreaterThan, 0x100000000, 0, []uint64{0xffffffff, 0x100000000, 0x100000001, 0x200000000}},
		{specs.OpGreaterEqual, 0x100000000, 0, []uint64{0xffffffff, 0x100000000, 0x100000001}},
		{specs.OpMaskedEqual, 0xff000000ff, 0x1200000034, []uint64{0x1200000034, 0xab12cdef0034, 0x1300000034, 0x1200000035}},
	} {
		arg := fmt.Sprintf("%s %#x %#x", c.op, c.v, c.v2)
		var want []string
		for _, a := range c.values {
			arg += fmt.Sprintf(" %#x", a)
			if cmpGo(c.op, a, c.v, c.v2) {
				want = append(want, "100")
			} else {
				want = append(want, "101")
			}
		}
		wantOutput(t, "args", arg, strings.Join(want, " "))
	}
}

func TestLoadArgsAndOr(t *testing.T) {
	requireSeccomp(t)
	wantOutput(t, "and-or", "", "100 101 101 100 101")
}

func TestLoadNotify(t *testing.T) {
	requireSeccomp(t)
	wantOutput(t, "notify", "", fmt.Sprintf("anon_inode:seccomp_notify nr=%d,arg0=7 ok:4242", unix.SYS_KCMP))
}

func TestLoadDefaultProfile(t *testing.T) {
	requireSeccomp(t)
	// Without CAP_SYS_ADMIN the filter refuses mount and unshare, and clone3 gets ENOSYS.
	wantOutput(t, "default-profile", "CAP_CHOWN CAP_KILL", fmt.Sprintf("ordinary-ok %d %d %d ok:0", unix.EPERM, unix.EPERM, unix.ENOSYS))
	// With it they reach the kernel: mount fails on its NULL arguments, unshare
	// works, clone3 fails on its NULL argument.
	r := runChild(t, "default-profile", "CAP_SYS_ADMIN")
	f := strings.Fields(r.out)
	if len(f) != 5 || f[0] != "ordinary-ok" || f[1] == errnoOf(unix.EPERM) || f[2] != "ok:0" || f[3] == errnoOf(unix.ENOSYS) {
		t.Errorf("with CAP_SYS_ADMIN: got %q (stderr %q)", r.out, r.stderr)
	}
}

func TestLoadFlags(t *testing.T) {
	requireSeccomp(t)
	for _, c := range []struct{ arg, want string }{
		{"", "here=13 other=ok:0 listener=false nnp=0"},
		{"nnp", "here=13 other=ok:0 listener=false nnp=1"},
		{"SECCOMP_FILTER_FLAG_TSYNC", "here=13 other=13 listener=false nnp=0"},
		{"SECCOMP_FILTER_FLAG_TSYNC notify", "here=13 other=13 listener=true nnp=0"},
		{"SECCOMP_FILTER_FLAG_LOG SECCOMP_FILTER_FLAG_SPEC_ALLOW", "here=13 other=ok:0 listener=false nnp=0"},
		{"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV notify", "here=13 other=ok:0 listener=true nnp=0"},
		{"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", "here=13 other=ok:0 listener=false nnp=0"},
	} {
		r := runChild(t, "flags", c.arg)
		// getcwd's result is the length of the path including its NUL
		got := r.out
		if i := strings.Index(got, "other=ok:"); i >= 0 {
			j := strings.Index(got[i:], " ")
			got = got[:i] + "other=ok:0" + got[i+j:]
		}
		if got != c.want {
			t.Errorf("flags %q: got %q, want %q (stderr %q)", c.arg, r.out, c.want, r.stderr)
		}
	}
}

// TestLoadI386 runs a real i386 program under filters with and without
// SCMP_ARCH_X86, so the arch check and the i386 table meet the kernel.
func TestLoadI386(t *testing.T) {
	requireSeccomp(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("i386 compat only tested on amd64")
	}
	bin := filepath.Join(t.TempDir(), "getcwd386")
	build := exec.Command("go", "build", "-o", bin, "./testdata/getcwd386")
	build.Env = append(os.Environ(), "GOARCH=386", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build i386 helper: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin).Output(); err != nil || strings.TrimSpace(string(out)) != "getcwd=0" {
		t.Skipf("this kernel does not run i386 programs: %q %v", out, err)
	}
	wantOutput(t, "exec386", bin+" SCMP_ARCH_X86", fmt.Sprintf("getcwd=%d", unix.EACCES))
	// Without SCMP_ARCH_X86 every i386 syscall is a bad arch: killed.
	wantOutput(t, "exec386", bin, "signal=SIGSYS")
}
