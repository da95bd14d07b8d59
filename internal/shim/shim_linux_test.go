package shim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/internal/oci"
	"github.com/berth-project/berth/internal/staticprog"
	"github.com/berth-project/berth/internal/testbundle"
)

const runcPath = "/usr/sbin/runc"

func TestBinaryIsReproducible(t *testing.T) {
	staticprog.CheckReproducible(t, ".", "berth-shim", shimBinary, func(out string) error { return staticprog.Build(out, "csrc") })
}

// runtimes are the ways a shim runs containers: runc's command line, and
// berth's runtime in process through `berth shim create` (needs the
// berth binary: $BERTH_BINARY, as make test sets it).
var runtimes = []string{"runc", "berth"}

type fixture struct {
	t    *testing.T
	dir  string
	cfg  *Config
	path string
}

func newFixture(t *testing.T, rt string, args []string, mod func(*Config, *specs.Spec)) *fixture {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	dir, err := os.MkdirTemp("", "bshim")
	if err != nil {
		t.Fatal(err)
	}
	id := "shimtest" + strings.ReplaceAll(filepath.Base(dir), "bshim", "")
	parent := "/berth-shimtest-" + id
	spec, err := oci.New(oci.WithArgs(args...), oci.WithRootfs("rootfs", false), oci.WithCgroupsPath(parent+"/"+id))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{
		ID: id, Bundle: dir, RuntimeRoot: filepath.Join(dir, "rt"),
		Socket: filepath.Join(dir, "s.sock"), StateFile: filepath.Join(dir, "state.json"),
		LogPath: filepath.Join(dir, "log.json"), LogMaxSize: 10 << 20, LogMaxFiles: 3, DeleteOnExit: true,
	}
	switch rt {
	case "runc":
		if _, err := os.Stat(runcPath); err != nil {
			t.Skip("needs runc")
		}
		cfg.Runtime = runcPath
	case "berth":
		berth := os.Getenv("BERTH_BINARY")
		if berth == "" {
			t.Skip("needs the berth binary in $BERTH_BINARY")
		}
		cfg.Runtime, cfg.RuntimeArgs, cfg.Helper, cfg.Berth = berth, []string{"runtime"}, berth, berth
	}
	if mod != nil {
		mod(cfg, spec)
	}
	if err := testbundle.Bundle(dir, spec); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, dir: dir, cfg: cfg, path: filepath.Join(dir, "shim.cfg")}
	if err := WriteConfig(f.path, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		Client{Socket: cfg.Socket}.Kill(context.Background(), int(syscall.SIGKILL), true, true)
		// Not waitExited: a t.Fatal would skip the rest of the cleanup.
		if _, err := f.exited(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "shim.log"))
			t.Logf("shim log:\n%s", b)
		}
		if cfg.Runtime == runcPath {
			// the shim deleted the container; make sure
			_ = syscallRun(runcPath, "--root", cfg.RuntimeRoot, "delete", "--force", id)
		} else {
			_ = syscallRun(cfg.Runtime, "runtime", "--root", cfg.RuntimeRoot, "delete", "--force", id)
		}
		os.RemoveAll(dir)
		ctrls, _ := filepath.Glob("/sys/fs/cgroup/*" + parent)
		for _, c := range ctrls {
			os.Remove(c)
		}
	})
	return f
}

func syscallRun(argv ...string) error {
	p, err := os.StartProcess(argv[0], argv, &os.ProcAttr{})
	if err != nil {
		return err
	}
	_, err = p.Wait()
	return err
}

func (f *fixture) launch() Client {
	f.t.Helper()
	if _, err := Launch(f.path, filepath.Join(f.dir, "shim.log")); err != nil {
		f.t.Fatalf("launch: %v", err)
	}
	return Client{Socket: f.cfg.Socket}
}

// waitExited waits until the shim recorded the container as exited and
// went away.
func (f *fixture) waitExited() *State {
	f.t.Helper()
	st, err := f.exited()
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

// exited is waitExited that returns an error after 60 s.
func (f *fixture) exited() (*State, error) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		st, err := ReadState(f.cfg.StateFile)
		if err == nil && st.Status == StatusExited {
			if _, err := os.Stat(f.cfg.Socket); os.IsNotExist(err) {
				return st, nil
			}
		}
		if os.IsNotExist(err) {
			if _, err := os.Stat(f.cfg.Socket); os.IsNotExist(err) {
				return nil, nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(f.dir, "shim.log"))
	return nil, fmt.Errorf("container did not exit within 60 s; shim log: %s", b)
}

// readAll collects a stream's frames until it ends.
func readAll(t *testing.T, s *Stream) (out, errOut, exit string) {
	t.Helper()
	for {
		typ, p, err := s.ReadFrame()
		if err != nil {
			return
		}
		switch typ {
		case StreamStdout:
			out += string(p)
		case StreamStderr:
			errOut += string(p)
		case StreamExit:
			exit = string(p)
		}
	}
}

func forEachRuntime(t *testing.T, fn func(t *testing.T, rt string)) {
	for _, rt := range runtimes {
		t.Run(rt, func(t *testing.T) { fn(t, rt) })
	}
}

func TestShimRunsAndRecordsExit(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt string) {
		f := newFixture(t, rt, []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, nil)
		c := f.launch()
		ctx := context.Background()
		st, err := c.State(ctx)
		if err != nil || st.Status != StatusCreated || st.Pid == 0 || st.ShimPid == 0 {
			t.Fatalf("state before start: %+v %v", st, err)
		}
		s, err := c.Attach(ctx, false, true, true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		out, errOut, exit := readAll(t, s)
		if out != "out\n" || errOut != "err\n" || exit != "3" {
			t.Fatalf("out=%q err=%q exit=%q", out, errOut, exit)
		}
		st = f.waitExited()
		if st.ExitCode != 3 || st.StartedAt.IsZero() || st.FinishedAt.Before(st.StartedAt) || st.Pid != 0 || st.OOMKilled {
			t.Fatalf("state = %+v", st)
		}
		log, err := os.ReadFile(f.cfg.LogPath)
		if err != nil || !strings.Contains(string(log), `"log":"out\n","stream":"stdout"`) || !strings.Contains(string(log), `"log":"err\n","stream":"stderr"`) {
			t.Fatalf("log = %s (%v)", log, err)
		}
		if _, err := os.Stat(filepath.Join(f.cfg.RuntimeRoot, f.cfg.ID)); !os.IsNotExist(err) {
			t.Fatalf("the runtime still has the container: %v", err)
		}
	})
}

func TestShimReportsCreateErrors(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt string) {
		f := newFixture(t, rt, []string{"no-such-command"}, nil)
		_, err := Launch(f.path, filepath.Join(f.dir, "shim.log"))
		if err == nil || !strings.Contains(err.Error(), "no-such-command") {
			t.Fatalf("launch: %v", err)
		}
		st := f.waitExited()
		if st == nil || st.ExitCode != 128 || st.Error == "" {
			t.Fatalf("state = %+v", st)
		}
	})
}

func TestShimRestartOnFailure(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt string) {
		f := newFixture(t, rt, []string{"sh", "-c", "echo run; exit 1"}, func(c *Config, _ *specs.Spec) {
			c.Restart = RestartPolicy{Name: "on-failure", MaxRetries: 2}
		})
		c := f.launch()
		if _, err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		st := f.waitExited()
		if st.RestartCount != 2 || st.ExitCode != 1 || st.ManuallyStopped {
			t.Fatalf("state = %+v", st)
		}
		log, _ := os.ReadFile(f.cfg.LogPath)
		if n := strings.Count(string(log), `"log":"run\n"`); n != 3 {
			t.Fatalf("%d runs logged, want 3:\n%s", n, log)
		}
	})
}

func TestShimStopDuringBackoff(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt string) {
		f := newFixture(t, rt, []string{"sh", "-c", "exit 2"}, func(c *Config, _ *specs.Spec) {
			c.Restart = RestartPolicy{Name: "always"}
		})
		c := f.launch()
		ctx := context.Background()
		if _, err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		ch, err := c.Events(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for st := range ch {
			if st.Status == StatusRestarting && st.RestartCount >= 3 {
				break
			}
		}
		// kill with stop: during a backoff or a restart's create it ends
		// the restarts
		deadline := time.Now().Add(60 * time.Second)
		for {
			if err := c.Kill(ctx, int(syscall.SIGKILL), false, true); err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		st := f.waitExited()
		if !st.ManuallyStopped || st.Status != StatusExited {
			t.Fatalf("state = %+v", st)
		}
	})
}

func TestShimStdinExecAndStop(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt string) {
		f := newFixture(t, rt, []string{"sh", "-c", "read line; echo got $line; sleep 100"}, func(c *Config, _ *specs.Spec) {
			c.OpenStdin, c.StdinOnce = true, true
		})
		c := f.launch()
		ctx := context.Background()
		s, err := c.Attach(ctx, true, true, true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Start(ctx); err == nil || !strings.Contains(err.Error(), "already started") {
			t.Fatalf("second start: %v", err)
		}
		s.Write([]byte("hello\n"))
		s.CloseWrite()
		typ, p, err := s.ReadFrame()
		if err != nil || typ != StreamStdout || string(p) != "got hello\n" {
			t.Fatalf("frame %d %q %v", typ, p, err)
		}
		proc := specs.Process{Args: []string{"sh", "-c", "cat; echo in-exec; exit 7"}, Cwd: "/", Env: []string{"PATH=/bin"}}
		raw, _ := json.Marshal(proc)
		es, pid, err := c.Exec(ctx, Request{ExecID: "e1", Process: raw, Stdin: true})
		if err != nil || pid == 0 {
			t.Fatal(pid, err)
		}
		es.Write([]byte("to-exec\n"))
		es.CloseWrite()
		out, _, code := readAll(t, es)
		if out != "to-exec\nin-exec\n" || code != "7" {
			t.Fatalf("exec out=%q code=%q", out, code)
		}
		if r, err := c.ExecState(ctx, "e1"); err != nil || r.Running || r.ExitCode != 7 || r.Pid != pid {
			t.Fatalf("exec state %+v %v", r, err)
		}
		if _, err := c.ExecState(ctx, "nope"); err == nil {
			t.Fatal("state of an unknown exec")
		}
		if _, _, err := c.Exec(ctx, Request{ExecID: "e2", Process: []byte(`{"args":["no-such-binary"],"cwd":"/"}`)}); err == nil {
			t.Fatal("exec of a missing binary succeeded")
		}
		if err := c.Kill(ctx, int(syscall.SIGKILL), false, true); err != nil {
			t.Fatal(err)
		}
		st := f.waitExited()
		if st.ExitCode != 137 || !st.ManuallyStopped {
			t.Fatalf("state = %+v", st)
		}
		if err := c.Kill(ctx, int(syscall.SIGKILL), false, false); err == nil {
			t.Fatal("kill after exit succeeded")
		}
	})
}

func TestShimKillAll(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt string) {
		f := newFixture(t, rt, []string{"sh", "-c", "trap '' TERM; sleep 100 & wait"}, nil)
		c := f.launch()
		ctx := context.Background()
		if _, err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.Kill(ctx, int(syscall.SIGKILL), true, true); err != nil {
			t.Fatal(err)
		}
		if st := f.waitExited(); st.ExitCode != 137 {
			t.Fatalf("state = %+v", st)
		}
	})
}

func TestShimTerminal(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt string) {
		f := newFixture(t, rt, []string{"sh", "-c", "read x; stty size; echo tty=$x; exit 5"}, func(c *Config, s *specs.Spec) {
			c.Terminal, c.OpenStdin = true, true
			s.Process.Terminal = true
		})
		c := f.launch()
		ctx := context.Background()
		if err := c.Resize(ctx, "", 33, 101); err != nil {
			t.Fatal(err)
		}
		if err := c.Resize(ctx, "nope", 1, 1); err == nil {
			t.Fatal("resize of an unknown exec")
		}
		s, err := c.Attach(ctx, true, true, true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		s.Write([]byte("yes\n"))
		out, _, code := readAll(t, s)
		if !strings.Contains(out, "33 101") || !strings.Contains(out, "tty=yes") || code != "5" {
			t.Fatalf("out=%q code=%q", out, code)
		}
		st := f.waitExited()
		if st.ExitCode != 5 {
			t.Fatalf("state = %+v", st)
		}
	})
}

func TestShimHealthcheck(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt string) {
		// The probe passes once the test makes /tmp/ready, after it saw
		// the container unhealthy (a container that made the file itself
		// after a sleep raced the probes on a loaded machine).
		f := newFixture(t, rt, []string{"sleep", "100"}, func(c *Config, s *specs.Spec) {
			c.Health = &HealthConfig{Process: filepath.Join(c.Bundle, "health.json"), Interval: 100 * time.Millisecond, Retries: 2}
			probe := *s.Process
			probe.Args = []string{"/bin/sh", "-c", "cat /tmp/ready && echo fine"}
			b, _ := json.Marshal(&probe)
			if err := os.WriteFile(c.Health.Process, b, 0o600); err != nil {
				t.Fatal(err)
			}
		})
		c := f.launch()
		if _, err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		var last *Health
		poll := func(until string) {
			for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && !seen[until]; {
				st, err := c.State(context.Background())
				if err == nil && st.Health != nil {
					seen[st.Health.Status] = true
					last = st.Health
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		poll(HealthUnhealthy)
		if !seen[HealthUnhealthy] || seen[HealthHealthy] {
			t.Fatalf("statuses seen before the probe could pass: %v (last %+v)", seen, last)
		}
		if err := os.MkdirAll(filepath.Join(f.dir, "rootfs", "tmp"), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(f.dir, "rootfs", "tmp", "ready"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		poll(HealthHealthy)
		if !seen[HealthHealthy] {
			t.Fatalf("statuses seen: %v (last %+v)", seen, last)
		}
		n := len(last.Log)
		if n == 0 || n > 5 || last.Log[n-1].ExitCode != 0 || last.Log[n-1].Output != "fine\n" || last.FailingStreak != 0 {
			t.Fatalf("last health: %+v", last)
		}
		if r := last.Log[0]; r.ExitCode == 0 || r.End.Before(r.Start) || r.Start.IsZero() {
			t.Fatalf("first probe: %+v", r)
		}
	})
}

func TestShimHealthcheckTimeout(t *testing.T) {
	f := newFixture(t, "runc", []string{"sleep", "100"}, func(c *Config, s *specs.Spec) {
		c.Health = &HealthConfig{Process: filepath.Join(c.Bundle, "health.json"), Interval: 50 * time.Millisecond, Timeout: 200 * time.Millisecond, Retries: 1}
		probe := *s.Process
		probe.Args = []string{"sleep", "10"}
		b, _ := json.Marshal(&probe)
		if err := os.WriteFile(c.Health.Process, b, 0o600); err != nil {
			t.Fatal(err)
		}
	})
	c := f.launch()
	if _, err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		st, err := c.State(context.Background())
		if err == nil && st.Health != nil && st.Health.Status == HealthUnhealthy {
			r := st.Health.Log[len(st.Health.Log)-1]
			if r.ExitCode != -1 || r.Output != "Health check exceeded timeout (200ms)" {
				t.Fatalf("probe result %+v", r)
			}
			return
		}
	}
	t.Fatal("never unhealthy")
}

func TestShimJSONLogRotation(t *testing.T) {
	f := newFixture(t, "runc", []string{"sh", "-c", "for i in $(seq 1 40); do echo hello rotation line; done; printf partial; head -c 20000 /dev/zero | tr '\\0' x; echo"}, func(c *Config, _ *specs.Spec) {
		c.LogMaxSize, c.LogMaxFiles = 600, 3
	})
	c := f.launch()
	if _, err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.waitExited()
	path := f.cfg.LogPath
	for _, p := range []string{path, path + ".1", path + ".2"} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Fatal("more files than max-file")
	}
	var entries []LogEntry
	for _, p := range []string{path + ".2", path + ".1", path} {
		b, _ := os.ReadFile(p)
		if len(b) > 600 && bytes.Count(b, []byte("\n")) > 1 {
			t.Fatalf("%s is %d bytes, over max-size with more than one entry", p, len(b))
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			var e LogEntry
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("bad line %q: %v", line, err)
			}
			entries = append(entries, e)
		}
	}
	// the last entries: "partial" + 16 KiB of x cut into a partial entry,
	// then the rest of that line
	n := len(entries)
	if n < 2 || entries[n-2].Log != "partial"+strings.Repeat("x", 16*1024-len("partial")) ||
		entries[n-1].Log != strings.Repeat("x", 20000+len("partial")-16*1024)+"\n" || time.Since(entries[n-1].Time) > time.Minute {
		t.Fatalf("last entries: %d, %q", n, entries[n-1].Log)
	}
}

func TestShimLocalLogCompressed(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt string) {
		if os.Getenv("BERTH_BINARY") == "" {
			t.Skip("compression needs the berth binary in $BERTH_BINARY")
		}
		f := newFixture(t, rt, []string{"sh", "-c", "for i in $(seq 1 600); do echo line-$i; done; printf tail"}, func(c *Config, _ *specs.Spec) {
			c.LogDriver, c.LogMaxSize, c.LogMaxFiles, c.LogCompress = "local", 2000, 4, true
			c.LogPath = filepath.Join(c.Bundle, "container.log")
			c.Berth = os.Getenv("BERTH_BINARY")
		})
		c := f.launch()
		if _, err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		f.waitExited()
		path := f.cfg.LogPath
		var data []byte
		for _, p := range []string{path + ".3.gz", path + ".2.gz", path + ".1.gz"} {
			var b []byte
			for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				fh, err := os.Open(p)
				if err != nil {
					continue
				}
				zr, err := gzip.NewReader(fh)
				if err == nil {
					b, err = io.ReadAll(zr)
				}
				fh.Close()
				if err == nil {
					break
				}
			}
			if len(b) == 0 {
				t.Fatalf("%s: missing or empty", p)
			}
			data = append(data, b...)
		}
		if _, err := os.Stat(path + ".4.gz"); !os.IsNotExist(err) {
			t.Fatal("more files than max-file")
		}
		cur, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, cur...)
		var got []LogEntry
		for len(data) > 0 {
			e, n, err := DecodeLocal(data)
			if err != nil {
				t.Fatalf("decode after %d entries: %v", len(got), err)
			}
			got = append(got, e)
			data = data[n:]
		}
		last := got[len(got)-1]
		if last.Log != "tail" || last.Stream != "stdout" {
			t.Fatalf("last entry %+v", last)
		}
		var prevOut string
		for _, e := range got[:len(got)-1] {
			if e.Stream == "stdout" {
				prevOut = e.Log
			}
		}
		if prevOut != "line-600\n" || time.Since(last.Time) > time.Minute {
			t.Fatalf("last stdout line %q; entries %d, last ones %+v", prevOut, len(got), got[len(got)-4:])
		}
	})
}

func TestLocalRecordRoundTrip(t *testing.T) {
	now := time.Unix(1700000000, 123456789).UTC()
	var b []byte
	in := []LogEntry{{Log: "a line\n", Stream: "stdout", Time: now}, {Log: "partial", Stream: "stderr", Time: now}, {Log: "\n", Stream: "stdout", Time: now}}
	for _, e := range in {
		b = EncodeLocal(b, e)
	}
	for i, want := range in {
		e, n, err := DecodeLocal(b)
		if err != nil || e != want {
			t.Fatalf("entry %d: %+v %v, want %+v", i, e, err, want)
		}
		b = b[n:]
	}
	if _, _, err := DecodeLocal(b); err != ErrShortRecord {
		t.Fatalf("empty rest: %v", err)
	}
	rec := EncodeLocal(nil, in[0])
	if _, _, err := DecodeLocal(rec[:len(rec)-1]); err != ErrShortRecord {
		t.Fatalf("cut record: %v", err)
	}
	bad := bytes.Clone(rec)
	bad[len(bad)-1]++
	if _, _, err := DecodeLocal(bad); err == nil || err == ErrShortRecord {
		t.Fatalf("corrupt record: %v", err)
	}
}

func TestWriteConfigRefusesNewlines(t *testing.T) {
	err := WriteConfig(filepath.Join(t.TempDir(), "c"), &Config{ID: "x", Bundle: "/a\nb"})
	if err == nil {
		t.Fatal("a value with a newline was written")
	}
}
