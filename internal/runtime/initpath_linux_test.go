package runtime_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/runtime"
)

// TestInitPathChosen: a container is set up by the first stage unless its
// spec needs the Go init, and --debug says which did it and why.
func TestInitPathChosen(t *testing.T) {
	e := newEnv(t, "/bin/sleep", "1000")
	e.write()
	_, errs, code := e.berth(nil, "--debug", "run", "-d", e.id)
	if code != 0 || !strings.Contains(errs, "container "+e.id+": set up by the first stage") {
		t.Fatalf("run: code %d, stderr %q", code, errs)
	}
	_, errs, code = e.berth(nil, "--debug", "exec", e.id, "/bin/true")
	if code != 0 || !strings.Contains(errs, "exec in container "+e.id+": set up by the first stage") {
		t.Fatalf("exec: code %d, stderr %q", code, errs)
	}
	e.must("delete", "-f", e.id)

	e = newEnv(t, "/bin/true")
	e.spec.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/true"}}}
	e.write()
	_, errs, code = e.berth(nil, "--debug", "run", e.id)
	if code != 0 || !strings.Contains(errs, "set up by the Go init (createContainer hooks)") {
		t.Fatalf("createContainer hooks: code %d, stderr %q", code, errs)
	}

	e = newEnv(t, "/bin/true")
	e.goInit = true
	e.write()
	_, errs, code = e.berth(nil, "--debug", "run", e.id)
	if code != 0 || !strings.Contains(errs, "set up by the Go init ("+runtime.InitEnvVar+"=go)") {
		t.Fatalf("forced Go init: code %d, stderr %q", code, errs)
	}
}

// TestProcessesBornInContainerCgroup: the init and an exec'd process are in
// the container's cgroup in every hierarchy, the unified one included. (They
// get there without a migration, see cgroups.Birthplace: clone3 into the
// unified cgroup, the first stage's own write of 0 to each v1 "tasks".)
func TestProcessesBornInContainerCgroup(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		e := newEnv(t, "/bin/sh", "-c", "cat /proc/self/cgroup; sleep 1000")
		var ns []specs.LinuxNamespace
		for _, n := range e.spec.Linux.Namespaces {
			if n.Type != specs.CgroupNamespace { // show the host's view of the paths
				ns = append(ns, n)
			}
		}
		e.spec.Linux.Namespaces = ns
		e.write()
		e.must("run", "-d", e.id)
		defer e.must("delete", "-f", e.id)
		want := "/berth-test/" + e.id
		check := func(who, cg string) {
			t.Helper()
			n := 0
			for _, line := range strings.Split(strings.TrimSpace(cg), "\n") {
				f := strings.SplitN(line, ":", 3)
				if len(f) != 3 || strings.HasPrefix(f[1], "name=") {
					continue
				}
				n++
				if f[2] != want {
					t.Errorf("%s: %q is not in the container's cgroup %s", who, line, want)
				}
			}
			if n < 2 {
				t.Errorf("%s: no cgroup lines in %q", who, cg)
			}
		}
		cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", e.state().Pid))
		if err != nil {
			t.Fatal(err)
		}
		check("init", string(cg))
		check("exec", e.must("exec", e.id, "/bin/cat", "/proc/self/cgroup"))
	})
}

// TestIgnoredSignalsNotInherited: a caller that ignores SIGHUP and SIGINT
// (nohup, a daemon) must not pass that on: ignored dispositions survive
// execve, and the container's process must start with default ones.
func TestIgnoredSignalsNotInherited(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		e := newEnv(t, "/bin/grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status")
		e.write()
		cmd := exec.Command("/bin/sh", "-c", `trap "" HUP INT; exec "$0" runtime --root "$1" run "$2"`, berthBin, e.root, e.id)
		cmd.Dir = e.bundle
		cmd.Env = e.environ()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("run: %v: %s", err, out)
		}
		for _, want := range []string{"SigIgn:\t0000000000000000", "SigBlk:\t0000000000000000"} {
			if !strings.Contains(string(out), want) {
				t.Fatalf("container signals: %q, want %q", out, want)
			}
		}
	})
}

// TestLimitsInPlaceBeforeSetup: the cgroup's limits, device rules
// included, are written before the init does anything in its cgroup. A
// spec with hundreds of device rules makes writing them take a while: had
// the init made its device nodes meanwhile, mknod would have been denied
// (between "deny all" and the allows) and /dev/null bound from the host.
func TestLimitsInPlaceBeforeSetup(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		e := newEnv(t, "/bin/sh", "-c", "[ -c /dev/null ] && echo chardev; grep -c ' /dev/null ' /proc/self/mountinfo; true")
		rules := []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
		for i := int64(0); i < 400; i++ {
			major, minor := int64(7), i
			rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: "b", Major: &major, Minor: &minor, Access: "r"})
		}
		e.spec.Linux.Resources = &specs.LinuxResources{Devices: rules}
		if out, errs, code := e.run(); code != 0 || out != "chardev\n0\n" {
			t.Fatalf("code %d, stdout %q (want a device node, not a bind mount), stderr %q", code, out, errs)
		}
	})
}

// TestForegroundRunRelaysSignals: `run` in the foreground passes the
// signals it gets to the container's process, as runc does.
func TestForegroundRunRelaysSignals(t *testing.T) {
	bothInits(t, func(t *testing.T) {
		e := newEnv(t, "/bin/sh", "-c", `trap "echo got-term; exit 3" TERM; echo ready; while :; do sleep 0.1; done`)
		e.write()
		cmd := exec.Command(berthBin, "runtime", "--root", e.root, "run", e.id)
		cmd.Dir = e.bundle
		cmd.Env = e.environ()
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(out)
		if line, err := r.ReadString('\n'); err != nil || line != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("container said %q (%v)", line, err)
		}
		if err := cmd.Process.Signal(unix.SIGTERM); err != nil {
			t.Fatal(err)
		}
		rest, _ := io.ReadAll(r)
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 || string(rest) != "got-term\n" {
			t.Fatalf("after SIGTERM: %v, output %q", err, rest)
		}
	})
}
