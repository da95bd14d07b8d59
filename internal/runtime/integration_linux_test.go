package runtime_test

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/runtime"
	"github.com/berth-project/berth/internal/testbundle"
)

var berthBin string

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Println("runtime integration tests need root; skipping")
		os.Exit(0)
	}
	berthBin = os.Getenv("BERTH_BINARY")
	if berthBin == "" {
		dir, err := os.MkdirTemp("", "berth-bin")
		if err != nil {
			panic(err)
		}
		berthBin = filepath.Join(dir, "berth")
		cmd := exec.Command("go", "build", "-tags", "netgo osusergo", "-ldflags", `-extldflags "-static"`, "-o", berthBin, "github.com/berth-project/berth/cmd/berth")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if err := cmd.Run(); err != nil {
			panic("build berth: " + err.Error())
		}
		defer os.RemoveAll(dir)
	}
	os.Exit(m.Run())
}

var idSeq atomic.Int64

type env struct {
	t      *testing.T
	root   string
	bundle string
	id     string
	spec   *specs.Spec
	goInit bool // set up containers with the Go init, not the first stage
}

// bothInits runs a test once with each way of setting up a container: the
// first stage (package nsexec) and the Go init (BERTH_RUNTIME_INIT=go),
// which must behave alike. newEnv reads the choice from the test's name.
func bothInits(t *testing.T, fn func(t *testing.T)) {
	t.Run("init=stage", fn)
	t.Run("init=go", fn)
}

// newEnv makes a busybox bundle whose process runs args.
func newEnv(t *testing.T, args ...string) *env {
	t.Helper()
	dir := t.TempDir()
	spec := runtime.ExampleSpec()
	spec.Process.Terminal = false
	spec.Process.Args = args
	spec.Root.Readonly = false
	e := &env{t: t, root: filepath.Join(dir, "state"), bundle: filepath.Join(dir, "bundle"),
		id: fmt.Sprintf("t%d-%d", os.Getpid(), idSeq.Add(1)), spec: spec, goInit: strings.Contains(t.Name(), "/init=go")}
	spec.Linux.CgroupsPath = "/berth-test/" + e.id
	if err := testbundle.Rootfs(filepath.Join(e.bundle, "rootfs")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command(berthBin, "runtime", "--root", e.root, "delete", "-f", e.id).Run()
	})
	return e
}

func (e *env) write() {
	e.t.Helper()
	if err := testbundle.WriteSpec(e.bundle, e.spec); err != nil {
		e.t.Fatal(err)
	}
}

// berth runs `berth runtime --root ROOT args...` in the bundle dir.
func (e *env) berth(stdin io.Reader, args ...string) (string, string, int) {
	e.t.Helper()
	cmd := exec.Command(berthBin, append([]string{"runtime", "--root", e.root}, args...)...)
	cmd.Dir = e.bundle
	cmd.Stdin = stdin
	cmd.Env = e.environ()
	// Files, not pipes: a detached container keeps its stdio open.
	outF, _ := os.CreateTemp(e.t.TempDir(), "out")
	errF, _ := os.CreateTemp(e.t.TempDir(), "err")
	defer outF.Close()
	defer errF.Close()
	cmd.Stdout, cmd.Stderr = outF, errF
	err := cmd.Run()
	out, _ := os.ReadFile(outF.Name())
	errb, _ := os.ReadFile(errF.Name())
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			e.t.Fatalf("run berth: %v", err)
		}
		code = ee.ExitCode()
	}
	return string(out), string(errb), code
}

func (e *env) environ() []string {
	if e.goInit {
		return append(os.Environ(), runtime.InitEnvVar+"=go")
	}
	return os.Environ()
}

// run writes the spec and runs the container to completion.
func (e *env) run() (string, string, int) {
	e.t.Helper()
	e.write()
	return e.berth(nil, "run", e.id)
}

func (e *env) mustRun() string {
	e.t.Helper()
	out, errs, code := e.run()
	if code != 0 {
		e.t.Fatalf("run exited %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	return out
}

func (e *env) must(args ...string) string {
	e.t.Helper()
	out, errs, code := e.berth(nil, args...)
	if code != 0 {
		e.t.Fatalf("berth runtime %v: exit %d: %s%s", args, code, out, errs)
	}
	return out
}

func (e *env) state() runtime.State {
	e.t.Helper()
	var st runtime.State
	out := e.must("state", e.id)
	if err := jsonUnmarshal(out, &st); err != nil {
		e.t.Fatalf("parse state %q: %v", out, err)
	}
	return st
}

func TestRunExitCodeAndOutput(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		e := newEnv(t, "/bin/sh", "-c", "echo out; echo err >&2; exit 3")
		out, errs, code := e.run()
		if code != 3 || out != "out\n" || !strings.Contains(errs, "err") {
			t.Fatalf("code=%d out=%q err=%q", code, out, errs)
		}
		if _, err := os.Stat(filepath.Join(e.root, e.id)); !os.IsNotExist(err) {
			t.Fatalf("state dir left behind after run: %v", err)
		}
	})
}

func TestNamespacesIsolated(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		e := newEnv(t, "/bin/sh", "-c", `echo pid=$$; hostname; cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '; cat /proc/1/comm; true`)
		e.spec.Hostname = "isolated-host"
		out := e.mustRun()
		lines := strings.Fields(out)
		want := []string{"pid=1", "isolated-host", "lo", "sh"}
		if strings.Join(lines, " ") != strings.Join(want, " ") {
			t.Fatalf("got %q, want %q", lines, want)
		}
	})
}

func TestLifecycleAndCleanup(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		e := newEnv(t, "/bin/sleep", "1000")
		e.write()
		pidFile := filepath.Join(t.TempDir(), "pid")
		e.must("create", "--pid-file", pidFile, e.id)
		st := e.state()
		if st.Status != runtime.Created || st.Pid <= 0 {
			t.Fatalf("after create: %+v", st)
		}
		b, err := os.ReadFile(pidFile)
		if err != nil || strings.TrimSpace(string(b)) != fmt.Sprint(st.Pid) {
			t.Fatalf("pid file %q vs state pid %d: %v", b, st.Pid, err)
		}
		if _, errs, code := e.berth(nil, "delete", e.id); code == 0 || !strings.Contains(errs, "not stopped: created") {
			t.Fatalf("delete of a created container without --force should fail: %d %s", code, errs)
		}
		e.must("start", e.id)
		if st := e.state(); st.Status != runtime.Running {
			t.Fatalf("after start: %s", st.Status)
		}
		if _, errs, code := e.berth(nil, "delete", e.id); code == 0 || !strings.Contains(errs, "not stopped") {
			t.Fatalf("delete of a running container should fail: %d %s", code, errs)
		}
		memCg := "/sys/fs/cgroup/memory/berth-test/" + e.id
		if _, err := os.Stat(memCg); err != nil {
			t.Fatalf("container cgroup missing while running: %v", err)
		}
		e.must("pause", e.id)
		if st := e.state(); st.Status != runtime.Paused {
			t.Fatalf("after pause: %s", st.Status)
		}
		e.must("resume", e.id)
		e.must("kill", e.id, "KILL")
		waitFor(t, func() bool { return e.state().Status == runtime.Stopped })
		e.must("delete", e.id)
		if _, err := os.Stat(memCg); !os.IsNotExist(err) {
			t.Fatalf("cgroup left behind: %v", err)
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", st.Pid)); err == nil && !strings.Contains(string(b), ") Z ") {
			t.Fatalf("process %d still running: %s", st.Pid, b)
		}
		if _, _, code := e.berth(nil, "state", e.id); code == 0 {
			t.Fatal("state of a deleted container should fail")
		}
		if out, _ := exec.Command("grep", "-c", e.bundle, "/proc/self/mountinfo").Output(); strings.TrimSpace(string(out)) != "0" {
			t.Fatalf("mounts left behind: %s", out)
		}
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 60s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLoopbackUp: a container in a network namespace of its own finds "lo"
// up, as with runc and crun (IFF_UP|IFF_LOOPBACK = 0x9; 0x8 when down).
func TestLoopbackUp(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		e := newEnv(t, "/bin/cat", "/sys/class/net/lo/flags")
		if out := strings.TrimSpace(e.mustRun()); out != "0x9" {
			t.Fatalf("lo flags %q, want 0x9 (up)", out)
		}
	})
}

func TestExecAndPs(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		e := newEnv(t, "/bin/sleep", "1000")
		e.write()
		e.must("run", "-d", e.id)
		out := e.must("exec", "--env", "GREETING=hi", "--cwd", "/tmp", e.id, "/bin/sh", "-c", "echo $GREETING from $(pwd) as $(id -u)")
		if out != "hi from /tmp as 0\n" {
			t.Fatalf("exec output %q", out)
		}
		if _, _, code := e.berth(nil, "exec", e.id, "/bin/sh", "-c", "exit 7"); code != 7 {
			t.Fatalf("exec exit code %d, want 7", code)
		}
		out = e.must("ps", "--format", "json", e.id)
		if !strings.HasPrefix(out, "[") || strings.Count(out, ",") < 0 {
			t.Fatalf("ps json %q", out)
		}
		e.must("delete", "-f", e.id)
	})
}

func TestCapabilitiesDropped(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		// Root: the kernel grants the bounding set on exec.
		e := newEnv(t, "/bin/sh", "-c", "grep -E '^Cap(Eff|Bnd|Prm)' /proc/self/status")
		e.spec.Process.Capabilities = &specs.LinuxCapabilities{
			Bounding: []string{"CAP_KILL", "CAP_CHOWN"}, Effective: []string{"CAP_KILL"}, Permitted: []string{"CAP_KILL", "CAP_CHOWN"},
		}
		out := e.mustRun()
		// CAP_CHOWN = bit 0, CAP_KILL = bit 5.
		for _, want := range []string{"CapPrm:\t0000000000000021", "CapBnd:\t0000000000000021"} {
			if !strings.Contains(out, want) {
				t.Fatalf("missing %q in\n%s", want, out)
			}
		}
		// A non-root user keeps exactly its ambient capabilities.
		e = newEnv(t, "/bin/sh", "-c", "grep -E '^Cap(Eff|Amb|Bnd)' /proc/self/status")
		e.spec.Process.User = specs.User{UID: 1000, GID: 1000}
		kill := []string{"CAP_KILL"}
		e.spec.Process.Capabilities = &specs.LinuxCapabilities{Bounding: kill, Effective: kill, Permitted: kill, Inheritable: kill, Ambient: kill}
		out = e.mustRun()
		for _, want := range []string{"CapEff:\t0000000000000020", "CapAmb:\t0000000000000020", "CapBnd:\t0000000000000020"} {
			if !strings.Contains(out, want) {
				t.Fatalf("missing %q in\n%s", want, out)
			}
		}
	})
}

func TestMaskedAndReadonlyPaths(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		e := newEnv(t, "/bin/sh", "-c", "echo timer=$(cat /proc/timer_list | wc -c); echo keys=$(cat /proc/keys | wc -c); echo 1 > /proc/sys/kernel/domainname && echo WRITABLE; grep -c ' /proc/sys proc ro,' /proc/mounts")
		out := e.mustRun()
		if out != "timer=0\nkeys=0\n1\n" {
			t.Fatalf("masked/readonly paths not in place:\n%s", out)
		}
	})
}

func TestReadonlyRootAndMounts(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		host := t.TempDir()
		os.WriteFile(filepath.Join(host, "f"), []byte("from host"), 0o644)
		e := newEnv(t, "/bin/sh", "-c", "touch /x 2>/dev/null && echo ROOTRW; cat /data/f; touch /data/g 2>/dev/null && echo DATARW; echo ok > /scratch/y && cat /scratch/y; grep ' /scratch ' /proc/mounts | cut -d' ' -f3")
		e.spec.Root.Readonly = true
		e.spec.Mounts = append(e.spec.Mounts,
			specs.Mount{Destination: "/data", Type: "bind", Source: host, Options: []string{"rbind", "ro"}},
			specs.Mount{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m"}})
		out := e.mustRun()
		if out != "from hostok\ntmpfs\n" {
			t.Fatalf("got %q", out)
		}
	})
}

func TestSeccompErrno(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		e := newEnv(t, "/bin/sh", "-c", "mkdir /tmp/x; echo rc=$?")
		ret := uint(42) // ENOMSG
		e.spec.Linux.Seccomp = &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: &ret}},
		}
		out, errs, _ := e.run()
		if !strings.Contains(out, "rc=1") || !strings.Contains(errs, "No message of desired type") {
			t.Fatalf("seccomp errno not applied: out=%q err=%q", out, errs)
		}
	})
}

func TestUserRlimitsAndEnv(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		e := newEnv(t, "/bin/sh", "-c", "id; ulimit -n; echo $HOME $FOO; umask")
		e.spec.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{29}}
		e.spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 512, Hard: 1024},
			// Small enough to starve a Go runtime: limits must come last.
			{Type: "RLIMIT_AS", Soft: 64 << 20, Hard: 64 << 20}}
		e.spec.Process.Env = append(e.spec.Process.Env, "FOO=bar")
		mask := uint32(0o027)
		e.spec.Process.User.Umask = &mask
		out := e.mustRun()
		want := "uid=1000 gid=1000 groups=29(audio)\n512\n/ bar\n0027\n"
		if out != want {
			t.Fatalf("got %q want %q", out, want)
		}
	})
}

func TestCgroupLimitsApplied(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		e := newEnv(t, "/bin/sleep", "1000")
		limit := int64(64 << 20)
		pids := int64(20)
		shares := uint64(512)
		e.spec.Linux.Resources = &specs.LinuxResources{
			Memory: &specs.LinuxMemory{Limit: &limit},
			Pids:   &specs.LinuxPids{Limit: &pids},
			CPU:    &specs.LinuxCPU{Shares: &shares},
		}
		e.write()
		e.must("run", "-d", e.id)
		defer e.must("delete", "-f", e.id)
		base := "/berth-test/" + e.id
		for file, want := range map[string]string{
			"/sys/fs/cgroup/memory" + base + "/memory.limit_in_bytes": "67108864",
			"/sys/fs/cgroup/pids" + base + "/pids.max":                "20",
			"/sys/fs/cgroup/cpu" + base + "/cpu.shares":               "512",
		} {
			b, err := os.ReadFile(file)
			if err != nil || strings.TrimSpace(string(b)) != want {
				t.Errorf("%s = %q (%v), want %s", file, b, err, want)
			}
		}
		// Inside, the container sees its own cgroup.
		out := e.must("exec", e.id, "/bin/sh", "-c", "cat /sys/fs/cgroup/pids/pids.max")
		if strings.TrimSpace(out) != "20" {
			t.Errorf("pids.max seen inside: %q", out)
		}
		e.must("update", "--pids-limit", "30", e.id)
		if b, _ := os.ReadFile("/sys/fs/cgroup/pids" + base + "/pids.max"); strings.TrimSpace(string(b)) != "30" {
			t.Errorf("update: pids.max = %q", b)
		}
		out = e.must("events", "--stats", e.id)
		if !strings.Contains(out, `"type":"stats"`) || !strings.Contains(out, `"pids"`) {
			t.Errorf("events --stats: %s", out)
		}
	})
}

func TestHooksInOrder(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		e := newEnv(t, "/bin/true")
		shared := t.TempDir()
		log := filepath.Join(shared, "log")
		hook := func(name string) specs.Hook {
			return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "read s; case \"$s\" in *'\"id\":\"" + e.id + "\"'*) echo " + name + " >> " + log + ";; esac"}}
		}
		inContainer := func(name string) specs.Hook {
			return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "echo " + name + " >> /shared/log"}}
		}
		e.spec.Mounts = append(e.spec.Mounts, specs.Mount{Destination: "/shared", Type: "bind", Source: shared, Options: []string{"rbind"}})
		e.spec.Hooks = &specs.Hooks{
			Prestart:        []specs.Hook{hook("prestart")},
			CreateRuntime:   []specs.Hook{hook("createRuntime")},
			CreateContainer: []specs.Hook{hook("createContainer")},
			StartContainer:  []specs.Hook{inContainer("startContainer")},
			Poststart:       []specs.Hook{hook("poststart")},
			Poststop:        []specs.Hook{hook("poststop")},
		}
		e.mustRun()
		b, _ := os.ReadFile(log)
		got := strings.Fields(string(b))
		want := []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}
		// poststart runs after start returns, concurrently with the container
		// process; startContainer runs in the container before exec. Both orders
		// of these two are allowed only in that poststart follows start.
		if len(got) != len(want) || strings.Join(got[:3], " ") != strings.Join(want[:3], " ") || got[5] != "poststop" {
			t.Fatalf("hooks ran as %v, want %v", got, want)
		}
	})
}

func TestFailingHookStopsCreate(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		e := newEnv(t, "/bin/true")
		e.spec.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/false"}}}
		_, errs, code := e.run()
		if code == 0 || !strings.Contains(errs, "createRuntime hook") {
			t.Fatalf("code %d, stderr %q", code, errs)
		}
		if _, err := os.Stat(filepath.Join(e.root, e.id)); !os.IsNotExist(err) {
			t.Fatal("state left behind after a failed hook")
		}
		if _, err := os.Stat("/sys/fs/cgroup/memory/berth-test/" + e.id); !os.IsNotExist(err) {
			t.Fatal("cgroup left behind after a failed hook")
		}
	})
}

func TestNoFDLeaks(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		e := newEnv(t, "/bin/ls", "/proc/self/fd")
		out := e.mustRun()
		if strings.Join(strings.Fields(out), " ") != "0 1 2 3" {
			t.Fatalf("fds in container: %q (want 0 1 2 and ls's own 3)", out)
		}
	})
}

// TestBinaryNotWritableFromContainer tries CVE-2019-5736: from inside the
// container, write to the runtime binary through /proc/<init>/exe while the
// init is still the runtime (created, not started).
func TestBinaryNotWritableFromContainer(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		before := fileHash(t, berthBin)
		e := newEnv(t, "/bin/true")
		e.write()
		e.must("create", e.id)
		out, _, _ := e.berth(nil, "exec", e.id, "/bin/sh", "-c", "echo pwned > /proc/1/exe && echo WROTE; echo pwned >> /proc/1/exe && echo APPENDED; echo end")
		if strings.Contains(out, "WROTE") || strings.Contains(out, "APPENDED") {
			t.Fatalf("container wrote to the runtime binary: %q", out)
		}
		if fileHash(t, berthBin) != before {
			t.Fatal("host binary changed")
		}
		e.must("delete", "-f", e.id)
	})
}

func fileHash(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// TestSymlinkMountTargetStaysInRoot: an absolute symlink in the image must
// not turn a mount destination into a host path.
func TestSymlinkMountTargetStaysInRoot(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		e := newEnv(t, "/bin/sh", "-c", "grep -c ' /evil ' /proc/mounts; ls -d /escape-probe/sub")
		probe := "/escape-probe-" + e.id
		if err := os.Symlink(probe, filepath.Join(e.bundle, "rootfs", "evil")); err != nil {
			t.Fatal(err)
		}
		e.spec.Process.Args = []string{"/bin/sh", "-c", "ls -d " + probe + "/sub"}
		e.spec.Mounts = append(e.spec.Mounts, specs.Mount{Destination: "/evil/sub", Type: "tmpfs", Source: "tmpfs"})
		out := e.mustRun()
		if _, err := os.Lstat(probe); !os.IsNotExist(err) {
			os.RemoveAll(probe)
			t.Fatalf("mount through a symlink created %s on the host", probe)
		}
		if strings.TrimSpace(out) != probe+"/sub" {
			t.Fatalf("mount not inside the rootfs: %q", out)
		}
	})
}

func TestCwdInsideRoot(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		e := newEnv(t, "/bin/pwd")
		e.spec.Process.Cwd = "/../../../tmp"
		if out := e.mustRun(); out != "/tmp\n" {
			t.Fatalf("cwd %q", out)
		}
	})
}

func TestNoPivot(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		e := newEnv(t, "/bin/sh", "-c", "ls /; echo ok")
		e.write()
		out, errs, code := e.berth(nil, "run", "--no-pivot", e.id)
		if code != 0 || !strings.HasSuffix(out, "ok\n") || !strings.Contains(out, "bin") {
			t.Fatalf("no-pivot run: %d %q %q", code, out, errs)
		}
	})
}

func TestUserNamespaceMapping(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		e := newEnv(t, "/bin/sh", "-c", "cat /proc/self/uid_map; id -u")
		e.spec.Linux.Namespaces = append(e.spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		e.spec.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		e.spec.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		if err := exec.Command("chown", "-R", "100000:100000", filepath.Join(e.bundle, "rootfs")).Run(); err != nil {
			t.Fatal(err)
		}
		// The mapped root must be able to reach the bundle.
		for d := filepath.Dir(e.bundle); d != "/" && d != "/tmp"; d = filepath.Dir(d) {
			os.Chmod(d, 0o755)
		}
		out := e.mustRun()
		f := strings.Fields(out)
		if len(f) != 4 || f[0] != "0" || f[1] != "100000" || f[2] != "65536" || f[3] != "0" {
			t.Fatalf("uid_map / id: %q", out)
		}
	})
}

func TestJoinNamespaceByPath(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		a := newEnv(t, "/bin/sleep", "1000")
		a.spec.Hostname = "shared-uts"
		a.write()
		a.must("run", "-d", a.id)
		defer a.must("delete", "-f", a.id)
		pid := a.state().Pid
		b := newEnv(t, "/bin/sh", "-c", "hostname; cat /proc/net/dev | grep -c lo")
		var ns []specs.LinuxNamespace
		for _, n := range b.spec.Linux.Namespaces {
			switch n.Type {
			case specs.UTSNamespace:
				n.Path = fmt.Sprintf("/proc/%d/ns/uts", pid)
			case specs.NetworkNamespace:
				n.Path = fmt.Sprintf("/proc/%d/ns/net", pid)
			}
			ns = append(ns, n)
		}
		b.spec.Linux.Namespaces = ns
		b.spec.Hostname = ""
		out := b.mustRun()
		if out != "shared-uts\n1\n" {
			t.Fatalf("joined namespaces: %q", out)
		}
	})
}

func TestErrorsAreClear(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		e := newEnv(t, "/no/such/binary")
		_, errs, code := e.run()
		if code == 0 || !strings.Contains(errs, "/no/such/binary") {
			t.Fatalf("code %d stderr %q", code, errs)
		}
		_, errs, code = e.berth(nil, "state", "nonexistent")
		if code == 0 || !strings.Contains(errs, "does not exist") {
			t.Fatalf("state of missing: %d %q", code, errs)
		}
	})
}

// TestTerminalThroughConsoleSocket: as containerd and conmon do, receive
// the pty master on a console socket and read the container's output.
func TestTerminalThroughConsoleSocket(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		e := newEnv(t, "/bin/sh", "-c", "tty; echo hello-tty; [ -c /dev/console ] && echo console-ok")
		e.spec.Process.Terminal = true
		e.write()
		sock := filepath.Join(t.TempDir(), "console.sock")
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		got := make(chan string, 1)
		go func() {
			conn, err := ln.AcceptUnix()
			if err != nil {
				got <- err.Error()
				return
			}
			defer conn.Close()
			oob := make([]byte, unix.CmsgSpace(4))
			buf := make([]byte, 64)
			_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
			if err != nil {
				got <- err.Error()
				return
			}
			msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
			fds, _ := unix.ParseUnixRights(&msgs[0])
			master := os.NewFile(uintptr(fds[0]), "master")
			defer master.Close()
			b, _ := io.ReadAll(master) // ends with EIO when the container exits
			got <- string(b)
		}()
		e.must("create", "--console-socket", sock, e.id)
		e.must("start", e.id)
		var out string
		select {
		case out = <-got:
		case <-time.After(60 * time.Second):
			t.Fatal("no output from the terminal within 60 s")
		}
		if !strings.Contains(out, "/dev/pts/0") || !strings.Contains(out, "hello-tty") || !strings.Contains(out, "console-ok") {
			t.Fatalf("terminal output %q", out)
		}
		waitFor(t, func() bool { return e.state().Status == runtime.Stopped })
		e.must("delete", e.id)
	})
}

// TestCgroupMountWithoutCgroupNS: runc's spec template of old had no cgroup
// namespace; the container's own cgroups are bound in, read-only.
func TestCgroupMountWithoutCgroupNS(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		e := newEnv(t, "/bin/sh", "-c", "cat /sys/fs/cgroup/pids/pids.max; touch /sys/fs/cgroup/pids/x 2>/dev/null && echo WRITABLE; grep -c ' /sys/fs/cgroup/pids cgroup ro,' /proc/mounts")
		var ns []specs.LinuxNamespace
		for _, n := range e.spec.Linux.Namespaces {
			if n.Type != specs.CgroupNamespace {
				ns = append(ns, n)
			}
		}
		e.spec.Linux.Namespaces = ns
		limit := int64(42)
		e.spec.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &limit}}
		if out := e.mustRun(); out != "42\n1\n" {
			t.Fatalf("got %q", out)
		}
	})
}

// TestWithoutMountNamespace: a container sharing the host's mount namespace
// is only chrooted; nothing is mounted.
func TestWithoutMountNamespace(t *testing.T) {
	e := newEnv(t, "/bin/sh", "-c", "ls /bin/busybox && echo in-rootfs")
	var ns []specs.LinuxNamespace
	for _, n := range e.spec.Linux.Namespaces {
		if n.Type != specs.MountNamespace {
			ns = append(ns, n)
		}
	}
	e.spec.Linux.Namespaces = ns
	if out := e.mustRun(); out != "/bin/busybox\nin-rootfs\n" {
		t.Fatalf("got %q", out)
	}
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), e.bundle) {
		t.Fatal("something was mounted in the host's mount namespace")
	}
}

// TestPoststopFailureRunsRemainingHooks: a failing poststop hook is a
// warning; the next hook still runs and delete succeeds.
func TestPoststopFailureRunsRemainingHooks(t *testing.T) {
	e := newEnv(t, "/bin/true")
	mark := filepath.Join(t.TempDir(), "second")
	e.spec.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/false"}, {Path: "/bin/touch", Args: []string{"touch", mark}}}}
	_, errs, code := e.run()
	if code != 0 {
		t.Fatalf("run failed: %d %s", code, errs)
	}
	if !strings.Contains(errs, "poststop hook #0") {
		t.Fatalf("no warning for the failing hook: %q", errs)
	}
	if _, err := os.Stat(mark); err != nil {
		t.Fatal("second poststop hook did not run")
	}
}

// TestTimeNamespaceOffsets: a new time namespace with a boottime offset
// shifts /proc/uptime inside the container.
func TestTimeNamespaceOffsets(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		if _, err := os.Stat("/proc/self/ns/time"); err != nil {
			t.Skip("kernel without time namespaces")
		}
		e := newEnv(t, "/bin/sh", "-c", "cut -d. -f1 /proc/uptime; grep boottime /proc/self/timens_offsets")
		e.spec.Linux.Namespaces = append(e.spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
		e.spec.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Secs: 10 * 365 * 86400}}
		out := e.mustRun()
		f := strings.Fields(out)
		if len(f) != 4 || f[1] != "boottime" || f[2] != "315360000" {
			t.Fatalf("offsets: %q", out)
		}
		var up int64
		fmt.Sscan(f[0], &up)
		if up < 315360000 {
			t.Fatalf("uptime %d inside does not include the offset", up)
		}
	})
}

// TestLSMLabelsRefused: this kernel has no AppArmor or SELinux, so asking
// for a profile or label fails at create, clearly, leaving nothing behind.
func TestLSMLabelsRefused(t *testing.T) {
	e := newEnv(t, "/bin/true")
	e.spec.Process.ApparmorProfile = "docker-default"
	_, errs, code := e.run()
	if code == 0 || !strings.Contains(errs, "AppArmor is not enabled") {
		t.Fatalf("apparmor: code %d, %q", code, errs)
	}
	e.spec.Process.ApparmorProfile = ""
	e.spec.Process.SelinuxLabel = "system_u:system_r:container_t:s0"
	_, errs, code = e.run()
	if code == 0 || !strings.Contains(errs, "SELinux is not enabled") {
		t.Fatalf("selinux: code %d, %q", code, errs)
	}
	if _, err := os.Stat(filepath.Join(e.root, e.id)); !os.IsNotExist(err) {
		t.Fatal("state left behind")
	}
}

// TestSeccompNotifyListener: with SCMP_ACT_NOTIFY the runtime hands the
// listener fd and the container state to listenerPath. Closing the fd makes
// the notified syscall fail with ENOSYS.
func TestSeccompNotifyListener(t *testing.T) {
	e := newEnv(t, "/bin/sh", "-c", "mkdir /tmp/x; echo rc=$?")
	sock := filepath.Join(t.TempDir(), "seccomp.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	e.spec.Linux.Seccomp = &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow, ListenerPath: sock, ListenerMetadata: "test-meta",
		Architectures: []specs.Arch{specs.ArchX86_64},
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActNotify}},
	}
	got := make(chan string, 1)
	go func() {
		conn, err := ln.AcceptUnix()
		if err != nil {
			got <- err.Error()
			return
		}
		defer conn.Close()
		buf := make([]byte, 64<<10)
		oob := make([]byte, unix.CmsgSpace(4))
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			got <- err.Error()
			return
		}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		if len(msgs) == 1 {
			if fds, err := unix.ParseUnixRights(&msgs[0]); err == nil && len(fds) == 1 {
				unix.Close(fds[0]) // no supervisor: pending syscalls get ENOSYS
			}
		}
		got <- string(buf[:n])
	}()
	out, errs, code := e.run()
	var msg string
	select {
	case msg = <-got:
	case <-time.After(60 * time.Second):
		t.Fatal("nothing received on the listener socket within 60 s")
	}
	var cps specs.ContainerProcessState
	if err := jsonUnmarshal(msg, &cps); err != nil {
		t.Fatalf("listener message %q: %v", msg, err)
	}
	if len(cps.Fds) != 1 || cps.Fds[0] != specs.SeccompFdName || cps.Metadata != "test-meta" || cps.State.ID != e.id {
		t.Fatalf("listener message: %+v", cps)
	}
	if code != 0 || !strings.Contains(out, "rc=1") || !strings.Contains(errs, "Function not implemented") {
		t.Fatalf("container: code %d out %q err %q", code, out, errs)
	}
}

// TestCLISurfaces: list, kill --all, features, spec and the JSON error log
// that containerd reads.
func TestCLISurfaces(t *testing.T) {
	e := newEnv(t, "/bin/sh", "-c", "sleep 1000 & sleep 1000 & wait")
	e.write()
	e.must("run", "-d", e.id)
	if out := e.must("list", "-q"); !strings.Contains(out, e.id) {
		t.Fatalf("list -q: %q", out)
	}
	var states []runtime.State
	if err := jsonUnmarshal(e.must("list", "-f", "json"), &states); err != nil || len(states) != 1 || states[0].ID != e.id || states[0].Status != runtime.Running {
		t.Fatalf("list -f json: %+v %v", states, err)
	}
	if out := e.must("list"); !strings.HasPrefix(out, "ID") || !strings.Contains(out, "running") {
		t.Fatalf("list table: %q", out)
	}
	// run -d returns once the shell is exec'd, before it has forked the
	// two sleeps: wait for all three.
	var pids []int
	var perr error
	waitFor(t, func() bool {
		perr = jsonUnmarshal(e.must("ps", "-f", "json", e.id), &pids)
		return perr == nil && len(pids) == 3
	})
	if perr != nil || len(pids) != 3 {
		t.Fatalf("ps: %v %v", pids, perr)
	}
	e.must("kill", "--all", e.id, "9")
	waitFor(t, func() bool { return e.state().Status == runtime.Stopped })
	e.must("delete", e.id)

	var f struct {
		OCIVersionMax string   `json:"ociVersionMax"`
		Hooks         []string `json:"hooks"`
		Linux         struct {
			Namespaces []string `json:"namespaces"`
			Seccomp    struct {
				Enabled bool     `json:"enabled"`
				Actions []string `json:"actions"`
			} `json:"seccomp"`
		} `json:"linux"`
	}
	if err := jsonUnmarshal(e.must("features"), &f); err != nil || f.OCIVersionMax == "" || len(f.Hooks) != 6 ||
		len(f.Linux.Namespaces) != 8 || !f.Linux.Seccomp.Enabled || len(f.Linux.Seccomp.Actions) < 8 {
		t.Fatalf("features: %+v %v", f, err)
	}

	dir := t.TempDir()
	cmd := exec.Command(berthBin, "runtime", "spec", "--bundle", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("spec: %v %s", err, out)
	}
	var s specs.Spec
	b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if err := jsonUnmarshal(string(b), &s); err != nil || s.Root.Path != "rootfs" || s.Process.Args[0] != "sh" {
		t.Fatalf("spec template: %v", err)
	}
	if out, err := exec.Command(berthBin, "runtime", "spec", "--bundle", dir).CombinedOutput(); err == nil {
		t.Fatalf("spec over an existing config.json should fail: %s", out)
	}

	log := filepath.Join(t.TempDir(), "log.json")
	_, _, code := e.berth(nil, "--log", log, "--log-format", "json", "state", "no-such-container")
	b, _ = os.ReadFile(log)
	var entry map[string]string
	if code == 0 || jsonUnmarshal(strings.TrimSpace(string(b)), &entry) != nil || entry["level"] != "error" || !strings.Contains(entry["msg"], "does not exist") {
		t.Fatalf("json log: code %d, %q", code, b)
	}
}
