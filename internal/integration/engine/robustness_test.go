package engine

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"

	crec "github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/shim"
)

func (e *env) create(cfg *container.Config, hc *container.HostConfig, name string) string {
	e.t.Helper()
	if cfg.Image == "" {
		cfg.Image = "busybox"
	}
	res, err := e.Client.ContainerCreate(context.Background(), client.ContainerCreateOptions{Config: cfg, HostConfig: hc, Name: name})
	if err != nil {
		e.t.Fatalf("create: %v", err)
	}
	return res.ID
}

func (e *env) start(id string) {
	e.t.Helper()
	if _, err := e.Client.ContainerStart(context.Background(), id, client.ContainerStartOptions{}); err != nil {
		e.t.Fatalf("start: %v", err)
	}
}

func (e *env) inspect(id string) container.InspectResponse {
	e.t.Helper()
	res, err := e.Client.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	if err != nil {
		e.t.Fatalf("inspect: %v", err)
	}
	return res.Container
}

func (e *env) waitExit(id string) int64 {
	e.t.Helper()
	w := e.Client.ContainerWait(context.Background(), id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case r := <-w.Result:
		return r.StatusCode
	case err := <-w.Error:
		e.t.Fatalf("wait: %v", err)
	}
	return -1
}

func TestRestartPolicyOnFailure(t *testing.T) {
	eachRuntime(t, func(t *testing.T, e *env) {
		id := e.create(&container.Config{Cmd: []string{"sh", "-c", "exit 2"}},
			&container.HostConfig{RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyOnFailure, MaximumRetryCount: 2}}, "")
		e.start(id)
		eventually(t, "restarts to end", func() bool {
			c := e.inspect(id)
			return c.State.Status == container.StateExited && c.RestartCount == 2
		})
		if c := e.inspect(id); c.State.ExitCode != 2 {
			t.Fatalf("exit code %d", c.State.ExitCode)
		}
	})
}

func TestOOMKilled(t *testing.T) {
	eachRuntime(t, func(t *testing.T, e *env) {
		id := e.create(&container.Config{Cmd: []string{"sh", "-c", "head -c 200000000 /dev/zero | tail"}},
			&container.HostConfig{Resources: container.Resources{Memory: 16 << 20, MemorySwap: 16 << 20}}, "")
		e.start(id)
		if code := e.waitExit(id); code != 137 {
			t.Fatalf("exit code %d", code)
		}
		if c := e.inspect(id); !c.State.OOMKilled {
			t.Fatal("OOMKilled is false")
		}
	})
}

// TestDaemonCrashAndReattach kills the daemon with SIGKILL while a
// container runs; a new daemon finds it running and manages it.
func TestDaemonCrashAndReattach(t *testing.T) {
	eachRuntime(t, func(t *testing.T, e *env) {
		id := e.create(&container.Config{Cmd: []string{"sh", "-c", "echo before; while true; do sleep 0.1; done"}}, nil, "survivor")
		e.start(id)
		e.Kill()
		e.StartProcess()
		c := e.inspect(id)
		if !c.State.Running {
			t.Fatalf("after daemon restart: %+v", c.State)
		}
		if out := e.must(berthCLI, "exec", "survivor", "echo", "again"); out != "again" {
			t.Fatalf("exec after restart: %q", out)
		}
		// The daemon was killed right after the start, maybe before the
		// shell wrote its line: the shim logs it meanwhile.
		eventually(t, "the line written before the daemon restart in the logs", func() bool {
			return strings.Contains(e.must(berthCLI, "logs", "survivor"), "before")
		})
		e.must(berthCLI, "stop", "-t", "1", "survivor")
		if c := e.inspect(id); c.State.Running || c.State.ExitCode != 137 {
			t.Fatalf("after stop: %+v", c.State)
		}
	})
}

// TestShimKilled kills a container's shim: the container is reported
// exited with a reason and nothing of it keeps running.
func TestShimKilled(t *testing.T) {
	eachRuntime(t, func(t *testing.T, e *env) {
		id := e.create(&container.Config{Cmd: []string{"sleep", "1000"}}, nil, "")
		e.start(id)
		st, err := shim.ReadState(filepath.Join(e.DataRoot, "containers", id, "state.json"))
		if err != nil {
			t.Fatal(err)
		}
		pid := e.inspect(id).State.Pid
		if err := syscall.Kill(st.ShimPid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		eventually(t, "exited state", func() bool { return !e.inspect(id).State.Running })
		c := e.inspect(id)
		if c.State.ExitCode != 137 || !strings.Contains(c.State.Error, "shim") {
			t.Fatalf("state after shim kill: %+v", c.State)
		}
		eventually(t, "container process gone", func() bool { return !alive(pid) })
	})
}

// TestRemoveLeavesNothing runs 200 create/start/rm cycles (the issue's
// figure; $BERTH_TEST_CYCLES overrides it) on berth's runtime and on runc,
// with containers that run, exit by themselves, restart, have a terminal,
// the local log driver or --init, and checks after each that nothing of
// the container stays behind: mounts, cgroups (every controller), its
// directory, shim socket or runtime state, processes; and at the end that
// the daemon's database has no container left.
func TestRemoveLeavesNothing(t *testing.T) {
	e := newEnvRuntime(t, "berth")
	cycles := 200
	if v := os.Getenv("BERTH_TEST_CYCLES"); v != "" {
		fmt.Sscan(v, &cycles)
	}
	ctx := context.Background()
	controllers := cgroupControllers()
	for i := 0; i < cycles; i++ {
		cfg := &container.Config{Cmd: []string{"sleep", "100"}}
		hc := &container.HostConfig{NetworkMode: "none", Resources: container.Resources{Memory: 64 << 20}}
		if i%2 == 1 {
			hc.Runtime = "runc"
		}
		exited := false
		switch i % 4 {
		case 1:
			cfg.Cmd, exited = []string{"sh", "-c", "echo bye; exit 3"}, true
		case 2:
			hc.LogConfig.Type = "local"
			init := true
			hc.Init = &init
			// A terminal on runc only: berth's runtime sets a v1 devices
			// cgroup (deny all, then allow) while the init sets up, and an
			// init opening /dev/pts/ptmx in that window fails (issue 2).
			cfg.Tty, cfg.OpenStdin = i%8 == 6, true
			if cfg.Tty {
				hc.Runtime = "runc"
			}
		case 3:
			cfg.Cmd = []string{"sh", "-c", "exit 1"}
			hc.RestartPolicy = container.RestartPolicy{Name: container.RestartPolicyAlways}
		}
		id := e.create(cfg, hc, "")
		e.start(id)
		if exited {
			if code := e.waitExit(id); code != 3 {
				t.Fatalf("cycle %d: exit %d", i, code)
			}
		}
		if _, err := e.Client.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true}); err != nil {
			t.Fatalf("cycle %d: rm: %v", i, err)
		}
		for _, m := range mountsUnder(e.Dir) {
			if strings.Contains(m, id) {
				t.Fatalf("cycle %d: mount left: %s", i, m)
			}
		}
		for _, ctrl := range controllers {
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", ctrl, e.CgroupParent, id)); !os.IsNotExist(err) {
				t.Fatalf("cycle %d: %s cgroup left (%v)", i, ctrl, err)
			}
		}
		for _, p := range []string{
			filepath.Join(e.DataRoot, "containers", id),
			filepath.Join(e.Dir, "run", "shim", id+".sock"),
			filepath.Join(e.Dir, "run", "runtime", "berth", id),
			filepath.Join(e.Dir, "run", "runtime", "runc", id),
		} {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Fatalf("cycle %d: %s left (%v)", i, p, err)
			}
		}
	}
	list, err := e.Client.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil || len(list.Items) != 0 {
		t.Fatalf("containers left: %v %v", list.Items, err)
	}
	// Processes: no shim of this daemon, nothing in its cgroups.
	eventually(t, "no shim of this daemon", func() bool { return len(shimsOf(e)) == 0 })
	for _, ctrl := range controllers {
		var procs []string
		filepath.Walk(filepath.Join("/sys/fs/cgroup", ctrl, e.CgroupParent), func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Name() == "cgroup.procs" {
				if b, _ := os.ReadFile(p); len(strings.TrimSpace(string(b))) > 0 {
					procs = append(procs, p+": "+strings.TrimSpace(string(b)))
				}
			}
			return nil
		})
		if len(procs) > 0 {
			t.Fatalf("processes left in %s: %v", ctrl, procs)
		}
	}
	// Database rows: stop the daemon and read its database.
	e.Stop()
	db, err := crec.OpenDB(filepath.Join(e.DataRoot, "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := crec.OpenStore(db)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(store.List()); n != 0 {
		t.Fatalf("%d container records left in the database", n)
	}
}

// shimsOf lists the pids of berth-shim processes serving this daemon's
// containers (their config lives under its data root).
func shimsOf(e *env) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, d := range entries {
		var pid int
		if _, err := fmt.Sscan(d.Name(), &pid); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err == nil && strings.HasPrefix(string(b), "berth-shim\x00"+e.DataRoot+"/") {
			out = append(out, pid)
		}
	}
	return out
}

// TestConcurrentCLIs runs 20 CLI invocations at once.
func TestConcurrentCLIs(t *testing.T) {
	e := newEnv(t)
	var wg sync.WaitGroup
	errs := make(chan string, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			args := []string{"ps", "-a"}
			if i%2 == 0 {
				args = []string{"run", "--rm", "busybox", "true"}
			}
			if r := e.run(berthCLI, "", args...); r.Code != 0 {
				errs <- r.String()
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestCLIAutoStart runs 20 CLIs at once with no daemon: one daemon is
// started for them and all succeed.
func TestCLIAutoStart(t *testing.T) {
	requireRoot(t)
	dir, err := os.MkdirTemp("", "ba")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "berth.sock")
	exe, _ := os.Executable()
	envv := append(os.Environ(), mainEnv+"=1", "BERTH_HOST=unix://"+sock,
		"BERTH_DATA_ROOT="+filepath.Join(dir, "data"), "BERTH_EXEC_ROOT="+filepath.Join(dir, "run"), "BERTH_DEFAULT_RUNTIME=runc")
	// The auto-started daemon takes its own names on the host too.
	ns := newNetSettings(t)
	envv = append(envv, "BERTH_BRIDGE_PREFIX="+ns.Prefix, "BERTH_NFT_TABLE="+ns.Table, "BERTH_DEFAULT_ADDRESS_POOL=base="+ns.Pool.String()+",size=24")
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(dir, "run", "berth.pid")); err == nil {
			var pid int
			fmt.Sscan(string(b), &pid)
			if pid > 0 {
				// Not eventually: a t.Fatal here would skip the rest of
				// the cleanup.
				syscall.Kill(pid, syscall.SIGTERM)
				deadline := time.Now().Add(60 * time.Second)
				for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				if syscall.Kill(pid, 0) == nil {
					t.Errorf("the auto-started daemon %d did not exit within 60 s of SIGTERM; killed", pid)
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		ns.Cleanup(t, filepath.Join(dir, "run"))
		for _, m := range mountsUnder(dir) {
			unix.Unmount(m, unix.MNT_DETACH)
		}
		os.RemoveAll(dir)
	})
	var wg sync.WaitGroup
	errs := make(chan string, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(exe, "version", "--format", "{{.Server.Version}}")
			cmd.Env = envv
			if out, err := cmd.CombinedOutput(); err != nil || len(out) == 0 {
				errs <- fmt.Sprintf("%v: %s", err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "data", "daemon.log"))
	if n := strings.Count(string(log), "serving"); n != 1 {
		t.Fatalf("%d daemons started:\n%s", n, log)
	}
}

// TestEvents follows a container's life on /events.
func TestEvents(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := client.Filters{}
	f.Add("type", "container")
	// The client sends its request in the background: it may reach the
	// daemon after the create. Since (a time before anything of this
	// fresh daemon happened) makes the daemon replay what came before.
	since := time.Now().Add(-time.Minute)
	res := e.Client.Events(ctx, client.EventsListOptions{Filters: f, Since: fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond())})
	id := e.create(&container.Config{Cmd: []string{"sh", "-c", "exit 3"}}, nil, "evented")
	e.start(id)
	e.waitExit(id)
	e.must(berthCLI, "rm", "evented")
	want := []string{"create", "start", "die", "destroy"}
	for _, w := range want {
		select {
		case m := <-res.Messages:
			if string(m.Action) != w || m.Actor.ID != id || m.Actor.Attributes["name"] != "evented" {
				t.Fatalf("got %s %s %v, want %s", m.Action, m.Actor.ID, m.Actor.Attributes, w)
			}
			if w == "die" && m.Actor.Attributes["exitCode"] != "3" {
				t.Fatalf("die without exit code: %v", m.Actor.Attributes)
			}
		case err := <-res.Err:
			t.Fatal(err)
		case <-time.After(60 * time.Second):
			t.Fatalf("no %s event within 60 s", w)
		}
	}
}

// TestHealthcheck: starting, unhealthy while the check fails, healthy
// once it passes, as inspect, ps and events tell.
func TestHealthcheck(t *testing.T) {
	eachRuntime(t, func(t *testing.T, e *env) {
		// The check passes once the test writes /tmp/ok, after it saw
		// the container unhealthy (a container that made the file itself
		// after a sleep raced the probes on a loaded machine).
		e.must(berthCLI, "run", "-d", "--name", "hc", "--health-cmd", "cat /tmp/ok", "--health-interval", "100ms",
			"--health-retries", "2", "busybox", "sleep", "100")
		eventually(t, "unhealthy", func() bool {
			st := e.inspect("hc").State
			if st.Health != nil && st.Health.Status == container.Healthy {
				t.Fatalf("healthy before the check could pass: %+v", st.Health)
			}
			return st.Health != nil && st.Health.Status == container.Unhealthy
		})
		e.must(berthCLI, "exec", "hc", "sh", "-c", "echo ready > /tmp/ok")
		eventually(t, "healthy", func() bool {
			st := e.inspect("hc").State
			return st.Health != nil && st.Health.Status == container.Healthy
		})
		h := e.inspect("hc").State.Health
		if last := h.Log[len(h.Log)-1]; last.ExitCode != 0 || last.Output != "ready\n" {
			t.Fatalf("last probe %+v", last)
		}
		if out := e.must(berthCLI, "ps", "--filter", "name=hc", "--format", "{{.Status}}"); !strings.HasSuffix(out, "(healthy)") {
			t.Fatalf("ps status %q", out)
		}
	})
}

// TestRestartAlwaysAfterShimLoss: with the daemon down, a container's
// shim dies (as in a host reboot); the next daemon records the exit and
// starts the container again because of its restart policy.
func TestRestartAlwaysAfterShimLoss(t *testing.T) {
	eachRuntime(t, func(t *testing.T, e *env) {
		id := e.create(&container.Config{Cmd: []string{"sleep", "1000"}},
			&container.HostConfig{RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyAlways}}, "")
		e.start(id)
		oldPid := e.inspect(id).State.Pid
		st, err := shim.ReadState(filepath.Join(e.DataRoot, "containers", id, "state.json"))
		if err != nil {
			t.Fatal(err)
		}
		e.Kill()
		if err := syscall.Kill(st.ShimPid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		e.StartProcess()
		eventually(t, "restarted container", func() bool {
			c := e.inspect(id)
			return c.State.Running && c.State.Pid != oldPid
		})
		eventually(t, "old container process gone", func() bool { return !alive(oldPid) })
	})
}

// eachRuntime runs fn on a daemon of each OCI runtime: berth's own (the
// default, created by the shim's in-process helper) and runc (its command
// line); $BERTH_TEST_RUNTIME picks one.
func eachRuntime(t *testing.T, fn func(t *testing.T, e *env)) {
	runtimes := []string{"berth", "runc"}
	if v := os.Getenv("BERTH_TEST_RUNTIME"); v != "" {
		runtimes = []string{v}
	}
	for _, rt := range runtimes {
		t.Run(rt, func(t *testing.T) { fn(t, newEnvRuntime(t, rt)) })
	}
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
