package engine

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestScenarios runs the same scenarios with the berth CLI and with the
// real docker CLI pointed at the berth daemon, on berth's own runtime (the
// default: created by the shim's in-process helper) and on runc (through
// its command line).
func TestScenarios(t *testing.T) {
	eachRuntime(t, func(t *testing.T, e *env) {
		kinds := []cliKind{berthCLI}
		if _, err := os.Stat(dockerPath); err == nil {
			kinds = append(kinds, dockerCLI)
		} else {
			t.Logf("no docker CLI at %s: berth's CLI only", dockerPath)
		}
		for _, kind := range kinds {
			t.Run(string(kind), func(t *testing.T) {
				e := *e
				e.t = t
				runScenarios(t, &e, kind)
			})
		}
	})
}

func runScenarios(t *testing.T, e *env, k cliKind) {
	name := func(s string) string { return s + "-" + string(k) }

	t.Run("exit code", func(t *testing.T) {
		if r := e.run(k, "", "run", "--rm", "busybox", "sh", "-c", "exit 3"); r.Code != 3 {
			t.Fatalf("want exit 3: %s", r)
		}
	})
	t.Run("env workdir user", func(t *testing.T) {
		out := e.must(k, "run", "--rm", "-e", "FOO=bar", "-w", "/tmp/wd", "-u", "nobody", "busybox", "sh", "-c", "echo $FOO $(pwd) $(id -u)")
		if out != "bar /tmp/wd 65534" {
			t.Fatalf("got %q", out)
		}
	})
	t.Run("entrypoint", func(t *testing.T) {
		if out := e.must(k, "run", "--rm", "--entrypoint", "echo", "busybox", "from", "entrypoint"); out != "from entrypoint" {
			t.Fatalf("got %q", out)
		}
	})
	t.Run("stdin piping", func(t *testing.T) {
		r := e.run(k, "line one\nline two\n", "run", "-i", "--rm", "busybox", "sh", "-c", "wc -l; exit 4")
		if r.Code != 4 || strings.TrimSpace(r.Stdout) != "2" {
			t.Fatalf("got %s", r)
		}
	})
	t.Run("start errors", func(t *testing.T) {
		if r := e.run(k, "", "run", "--rm", "busybox", "no-such-command"); r.Code != 127 {
			t.Fatalf("missing command: want 127: %s", r)
		}
		if r := e.run(k, "", "run", "--rm", "--entrypoint", "/etc/passwd", "busybox"); r.Code != 126 {
			t.Fatalf("not executable: want 126: %s", r)
		}
		if r := e.run(k, "", "run", "--rm", "no-such-image:v1"); r.Code != 125 {
			t.Fatalf("missing image: want 125: %s", r)
		}
		if r := e.run(k, "", "run", "--no-such-flag", "busybox"); r.Code != 125 {
			t.Fatalf("bad flag: want 125: %s", r)
		}
	})
	t.Run("tty", func(t *testing.T) {
		if _, err := exec.LookPath("script"); err != nil {
			t.Skip("no script(1)")
		}
		r := e.runTTY(k, "", "run", "--rm", "-t", "busybox", "sh", "-c", "tty; echo $TERM; stty size; exit 5")
		if r.Code != 5 || !strings.Contains(r.Stdout, "/dev/pts/0") || !strings.Contains(r.Stdout, "xterm") {
			t.Fatalf("run -t: %s", r)
		}
		if !strings.Contains(r.Stdout, "33 111") {
			t.Fatalf("run -t: console size is not the client's 33x111: %s", r)
		}
		n := name("tty")
		e.must(k, "run", "-d", "--name", n, "busybox", "sleep", "100")
		r = e.runTTY(k, "", "exec", "-t", n, "sh", "-c", "tty; exit 2")
		if r.Code != 2 || !strings.Contains(r.Stdout, "/dev/pts/") {
			t.Fatalf("exec -t: %s", r)
		}
		e.must(k, "rm", "-f", n)
	})
	t.Run("detached lifecycle", func(t *testing.T) {
		n := name("life")
		e.must(k, "run", "-d", "--name", n, "busybox", "sh", "-c", "trap 'exit 0' TERM; echo started; while true; do sleep 0.1; done")
		if out := e.must(k, "inspect", "--format", "{{.State.Running}} {{.Name}}", n); out != "true /"+n {
			t.Fatalf("inspect: %q", out)
		}
		if !strings.Contains(e.must(k, "ps", "--format", "{{.Names}}"), n) {
			t.Fatal("ps does not list the container")
		}
		if out := e.must(k, "exec", n, "sh", "-c", "echo in-exec"); out != "in-exec" {
			t.Fatalf("exec: %q", out)
		}
		if r := e.run(k, "", "exec", n, "sh", "-c", "exit 6"); r.Code != 6 {
			t.Fatalf("exec exit: %s", r)
		}
		if r := e.run(k, "from stdin\n", "exec", "-i", n, "cat"); strings.TrimSpace(r.Stdout) != "from stdin" {
			t.Fatalf("exec -i: %s", r)
		}
		e.must(k, "exec", "-d", n, "touch", "/tmp/detached")
		eventually(t, "detached exec", func() bool { return e.run(k, "", "exec", n, "test", "-f", "/tmp/detached").Code == 0 })
		eventually(t, "log line", func() bool { return strings.Contains(e.must(k, "logs", n), "started") })
		e.must(k, "pause", n)
		if out := e.must(k, "inspect", "--format", "{{.State.Status}} {{.State.Paused}}", n); out != "paused true" {
			t.Fatalf("after pause: %q", out)
		}
		e.must(k, "unpause", n)
		top := e.must(k, "top", n)
		if !strings.Contains(top, "PID") || !strings.Contains(top, "trap") {
			t.Fatalf("top: %q", top)
		}
		e.must(k, "stop", n)
		if out := e.must(k, "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", n); out != "exited 0" {
			t.Fatalf("after stop: %q", out)
		}
		e.must(k, "start", n)
		e.must(k, "rename", n, n+"-renamed")
		e.must(k, "kill", n+"-renamed")
		if out := e.must(k, "inspect", "--format", "{{.State.ExitCode}}", n+"-renamed"); out != "137" {
			t.Fatalf("after kill: %q", out)
		}
		e.must(k, "rm", n+"-renamed")
		if r := e.run(k, "", "inspect", n+"-renamed"); r.Code == 0 {
			t.Fatal("inspect after rm succeeded")
		}
	})
	t.Run("logs streams", func(t *testing.T) {
		n := name("logs")
		e.must(k, "run", "--name", n, "busybox", "sh", "-c", "echo to-out; echo to-err >&2")
		r := e.run(k, "", "logs", n)
		if r.Stdout != "to-out\n" || r.Stderr != "to-err\n" {
			t.Fatalf("logs: %s", r)
		}
		if out := e.must(k, "logs", "--tail", "1", n); out != "" && out != "to-out" {
			t.Fatalf("tail: %q", out)
		}
		e.must(k, "rm", n)
	})
	t.Run("logs follow", func(t *testing.T) {
		n := name("follow")
		e.must(k, "run", "-d", "--name", n, "busybox", "sh", "-c", "for i in 1 2 3; do echo n$i; sleep 0.2; done")
		if out := e.must(k, "logs", "-f", n); out != "n1\nn2\nn3" {
			t.Fatalf("logs -f: %q", out)
		}
		e.must(k, "rm", n)
	})
	t.Run("volumes and binds", func(t *testing.T) {
		vol := name("vol")
		e.must(k, "volume", "create", vol)
		e.must(k, "run", "--rm", "-v", vol+":/data", "busybox", "sh", "-c", "echo kept > /data/f")
		if out := e.must(k, "run", "--rm", "-v", vol+":/data", "busybox", "cat", "/data/f"); out != "kept" {
			t.Fatalf("volume content: %q", out)
		}
		if !strings.Contains(e.must(k, "volume", "ls", "-q"), vol) {
			t.Fatal("volume ls misses the volume")
		}
		e.must(k, "volume", "rm", vol)
		dir := t.TempDir()
		e.must(k, "run", "--rm", "-v", dir+":/b", "busybox", "sh", "-c", "echo written > /b/x")
		if b, _ := os.ReadFile(filepath.Join(dir, "x")); string(b) != "written\n" {
			t.Fatalf("bind write: %q", b)
		}
		if r := e.run(k, "", "run", "--rm", "-v", dir+":/b:ro", "busybox", "touch", "/b/y"); r.Code == 0 {
			t.Fatal("write to a read-only bind succeeded")
		}
		if r := e.run(k, "", "run", "--rm", "--mount", "type=bind,source="+dir+",target=/m,readonly", "busybox", "cat", "/m/x"); r.Stdout != "written\n" {
			t.Fatalf("--mount bind: %s", r)
		}
	})
	t.Run("update devices volumes-from", func(t *testing.T) {
		n := name("upd")
		e.must(k, "run", "-d", "--name", n, "-m", "64m", "-v", "/shared", "busybox", "sh", "-c", "echo shared > /shared/f; sleep 100")
		e.must(k, "update", "-m", "96m", "--memory-swap", "192m", "--pids-limit", "30", n)
		if out := e.must(k, "exec", n, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/pids/pids.max"); out != "100663296\n30" {
			t.Fatalf("after update: %q", out)
		}
		eventually(t, "shared file", func() bool { return e.run(k, "", "exec", n, "test", "-f", "/shared/f").Code == 0 })
		if out := e.must(k, "run", "--rm", "--volumes-from", n+":ro", "busybox", "cat", "/shared/f"); out != "shared" {
			t.Fatalf("volumes-from: %q", out)
		}
		if out := e.must(k, "run", "--rm", "--device", "/dev/null:/dev/other-null", "busybox", "sh", "-c", "echo x > /dev/other-null && echo ok"); out != "ok" {
			t.Fatalf("device: %q", out)
		}
		e.must(k, "rm", "-f", "-v", n)
	})
	t.Run("stats", func(t *testing.T) {
		n := name("stats")
		e.must(k, "run", "-d", "--name", n, "-m", "64m", "busybox", "sleep", "100")
		out := e.must(k, "stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}} {{.MemUsage}}", n)
		if !strings.HasPrefix(out, n+" 1 ") || !strings.HasSuffix(out, "/ 64MiB") {
			t.Fatalf("stats: %q", out)
		}
		e.must(k, "rm", "-f", n)
	})
	t.Run("cp", func(t *testing.T) {
		n := name("cp")
		e.must(k, "run", "-d", "--name", n, "busybox", "sleep", "100")
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "in.txt"), []byte("into the container\n"), 0o644)
		os.MkdirAll(filepath.Join(dir, "tree", "sub"), 0o755)
		os.WriteFile(filepath.Join(dir, "tree", "sub", "f"), []byte("deep\n"), 0o600)
		e.must(k, "cp", filepath.Join(dir, "in.txt"), n+":/tmp/")
		e.must(k, "cp", filepath.Join(dir, "tree"), n+":/tmp/tree2")
		if out := e.must(k, "exec", n, "cat", "/tmp/in.txt", "/tmp/tree2/sub/f"); out != "into the container\ndeep" {
			t.Fatalf("copied in: %q", out)
		}
		if out := e.must(k, "exec", n, "stat", "-c", "%a", "/tmp/tree2/sub/f"); out != "600" {
			t.Fatalf("mode: %q", out)
		}
		e.must(k, "cp", n+":/etc/passwd", filepath.Join(dir, "passwd"))
		if b, _ := os.ReadFile(filepath.Join(dir, "passwd")); !strings.HasPrefix(string(b), "root:") {
			t.Fatalf("copied out: %q", b)
		}
		e.must(k, "stop", "-t", "0", n)
		e.must(k, "cp", n+":/tmp/tree2", filepath.Join(dir, "back"))
		if b, _ := os.ReadFile(filepath.Join(dir, "back", "sub", "f")); string(b) != "deep\n" {
			t.Fatalf("copied out of a stopped container: %q", b)
		}
		e.must(k, "rm", n)
	})
	t.Run("read-only and tmpfs", func(t *testing.T) {
		if r := e.run(k, "", "run", "--rm", "--read-only", "busybox", "touch", "/x"); r.Code == 0 {
			t.Fatal("write to a read-only rootfs succeeded")
		}
		if out := e.must(k, "run", "--rm", "--read-only", "--tmpfs", "/scratch", "busybox", "sh", "-c", "touch /scratch/x && echo ok"); out != "ok" {
			t.Fatalf("tmpfs: %q", out)
		}
	})
	t.Run("capabilities and limits", func(t *testing.T) {
		if out := e.must(k, "run", "--rm", "--cap-drop", "ALL", "busybox", "grep", "CapEff", "/proc/self/status"); !strings.HasSuffix(out, "0000000000000000") {
			t.Fatalf("cap-drop ALL: %q", out)
		}
		if out := e.must(k, "run", "--rm", "-m", "32m", "busybox", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"); out != "33554432" {
			t.Fatalf("memory limit: %q", out)
		}
		if out := e.must(k, "run", "--rm", "busybox", "grep", "^Seccomp:", "/proc/self/status"); !strings.HasSuffix(out, "2") {
			t.Fatalf("no default seccomp filter: %q", out)
		}
		if out := e.must(k, "run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "grep", "^Seccomp:", "/proc/self/status"); !strings.HasSuffix(out, "0") {
			t.Fatalf("seccomp=unconfined: %q", out)
		}
		// The sleeps outlive the loop however slow the machine (they die
		// with the container's pid 1 when the shell exits). The limit
		// leaves room for the threads of runc's Go init, which count
		// while it sets the container up (runc#1914: with 5, a loaded
		// machine saw "cannot start a container that has stopped").
		r := e.run(k, "", "run", "--rm", "--pids-limit", "20", "busybox", "sh", "-c", "for i in $(seq 30); do sleep 600 & done")
		if !strings.Contains(r.Stderr+r.Stdout, "can't fork") {
			t.Fatalf("pids limit not enforced: %s", r)
		}
	})
	t.Run("init", func(t *testing.T) {
		out := e.must(k, "run", "--rm", "--init", "busybox", "sh", "-c", `tr '\0' ' ' < /proc/1/cmdline; echo; echo $$`)
		if !strings.HasPrefix(out, "/sbin/docker-init -- sh -c") || strings.HasSuffix(out, "\n1") {
			t.Fatalf("pid 1 and the command's pid: %q", out)
		}
		if r := e.run(k, "", "run", "--rm", "--init", "busybox", "sh", "-c", "exit 7"); r.Code != 7 {
			t.Fatalf("exit status through berth-init: %s", r)
		}
		// sleep as pid 1 would ignore SIGTERM and be killed (137) at the
		// timeout; under berth-init it gets the signal and dies of it.
		n := name("init")
		e.must(k, "run", "-d", "--init", "--name", n, "busybox", "sleep", "100")
		e.must(k, "stop", "-t", "30", n)
		if out := e.must(k, "inspect", "--format", "{{.State.ExitCode}} {{.HostConfig.Init}} {{.Path}}", n); out != "143 true sleep" {
			t.Fatalf("after stop: %q", out)
		}
		e.must(k, "rm", n)
	})
	t.Run("log drivers", func(t *testing.T) {
		n := name("local")
		e.must(k, "run", "--name", n, "--log-driver", "local", "--log-opt", "max-size=2k", "--log-opt", "max-file=3", "busybox",
			"sh", "-c", "for i in $(seq 1 400); do echo line-$i; done")
		if out := e.must(k, "inspect", "--format", "{{.HostConfig.LogConfig.Type}}", n); out != "local" {
			t.Fatalf("log driver: %q", out)
		}
		out := e.must(k, "logs", n)
		lines := strings.Split(out, "\n")
		if !strings.HasSuffix(out, "line-399\nline-400") || len(lines) < 50 || len(lines) >= 400 {
			t.Fatalf("logs of a rotated local log: %d lines ending %q", len(lines), out[max(0, len(out)-40):])
		}
		if out := e.must(k, "logs", "--tail", "2", n); out != "line-399\nline-400" {
			t.Fatalf("logs --tail 2: %q", out)
		}
		if out := e.must(k, "logs", "--since", "2100-01-01T00:00:00Z", n); out != "" {
			t.Fatalf("logs --since the future: %q", out)
		}
		if r := e.run(k, "", "logs", "-t", "--tail", "1", n); !strings.HasSuffix(strings.TrimSpace(r.Stdout), "Z line-400") {
			t.Fatalf("logs -t: %s", r)
		}
		e.must(k, "rm", n)
		z := name("jsonz")
		e.must(k, "run", "--name", z, "--log-opt", "max-size=1k", "--log-opt", "max-file=3", "--log-opt", "compress=true", "busybox",
			"sh", "-c", "for i in $(seq 1 300); do echo line-$i; done")
		if out := e.must(k, "logs", z); !strings.HasSuffix(out, "line-299\nline-300") || strings.Count(out, "\n") < 14 { // a 1k file holds about 12 entries
			t.Fatalf("logs of a compressed json-file log: %q", out)
		}
		e.must(k, "rm", z)
		f := name("localf")
		e.must(k, "run", "-d", "--name", f, "--log-driver", "local", "busybox", "sh", "-c", "for i in 1 2 3; do echo n$i; echo e$i >&2; sleep 0.2; done")
		if r := e.run(k, "", "logs", "-f", f); r.Code != 0 || r.Stdout != "n1\nn2\nn3\n" || r.Stderr != "e1\ne2\ne3\n" {
			t.Fatalf("logs -f of the local driver: %s", r)
		}
		e.must(k, "rm", f)
		none := name("none")
		e.must(k, "run", "--name", none, "--log-driver", "none", "busybox", "echo", "unlogged")
		if r := e.run(k, "", "logs", none); r.Code == 0 || !strings.Contains(r.Stderr, "configured logging driver does not support reading") {
			t.Fatalf("logs with driver none: %s", r)
		}
		e.must(k, "rm", none)
	})
	t.Run("bad input", func(t *testing.T) {
		before := e.must(k, "ps", "-aq")
		dirs := func() int {
			entries, _ := os.ReadDir(filepath.Join(e.DataRoot, "containers"))
			return len(entries)
		}
		dirsBefore := dirs()
		taken := name("taken")
		e.must(k, "create", "--name", taken, "busybox", "true")
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"run", "--no-such-flag", "busybox"}, "unknown flag: --no-such-flag"},
			{[]string{"run", "-m", "12x", "busybox", "true"}, `invalid argument "12x" for "-m, --memory" flag`},
			{[]string{"run", "--rm", "UPPER/Bad:tag", "true"}, "invalid reference format: repository name (Bad) must be lowercase"},
			{[]string{"run", "--rm", "no-such-image:v1", "true"}, "Unable to find image 'no-such-image:v1' locally"},
			{[]string{"run", "--name", taken, "busybox", "true"}, `The container name "/` + taken + `" is already in use`},
			{[]string{"run", "--name", "bad name!", "busybox", "true"}, "Invalid container name"},
			{[]string{"run", "--log-driver", "syslog", "busybox", "true"}, "no log driver named 'syslog' is registered"},
			{[]string{"run", "--log-opt", "max-file=0", "busybox", "true"}, "max-file cannot be less than 1"},
			{[]string{"run", "--log-driver", "local", "--log-opt", "bogus=1", "busybox", "true"}, "unknown log opt 'bogus' for log driver local"},
			{[]string{"run", "--restart", "sometimes", "busybox", "true"}, "invalid restart policy"},
			{[]string{"run", "--rm", "--restart", "always", "busybox", "true"}, "conflicting options: cannot specify both --restart and --rm"},
			{[]string{"run", "-m", "1k", "busybox", "true"}, "Minimum memory limit allowed is 6MB"},
			{[]string{"run", "--security-opt", "bogus", "busybox", "true"}, `Invalid --security-opt: "bogus"`},
			{[]string{"run", "--security-opt", "seccomp=not-json", "busybox", "true"}, "opening seccomp profile (not-json) failed"},
			{[]string{"run", "--runtime", "no-such-runtime", "busybox", "true"}, "unknown runtime"},
		} {
			r := e.run(k, "", c.args...)
			if r.Code != 125 || !strings.Contains(r.Stderr, c.want) {
				t.Errorf("%q: want exit 125 and %q: %s", c.args, c.want, r)
			}
		}
		// A published port a host program holds: the start fails, and
		// --rm removes the container.
		l, err := net.Listen("tcp4", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		_, hp, _ := net.SplitHostPort(l.Addr().String())
		if r := e.run(k, "", "run", "--rm", "-p", hp+":80", "busybox", "true"); r.Code != 125 || !strings.Contains(r.Stderr, hp) {
			t.Errorf("port in use: want exit 125 naming port %s: %s", hp, r)
		}
		e.must(k, "rm", taken)
		eventually(t, "no container left by the failed runs", func() bool {
			return e.must(k, "ps", "-aq") == before && dirs() == dirsBefore
		})
	})
}
