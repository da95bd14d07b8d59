package shim

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/internal/oci"
	"github.com/berth-project/berth/internal/testbundle"
)

const runcPath = "/usr/sbin/runc"

func TestMain(m *testing.M) {
	if os.Getenv("BERTH_SHIM_TEST_CHILD") == "1" {
		os.Exit(Main(os.Args[1:]))
	}
	os.Setenv("BERTH_SHIM_TEST_CHILD", "1")
	os.Exit(m.Run())
}

type fixture struct {
	t    *testing.T
	dir  string
	cfg  *Config
	path string
}

func newFixture(t *testing.T, args []string, mod func(*Config, *specs.Spec)) *fixture {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := os.Stat(runcPath); err != nil {
		t.Skip("needs runc")
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
		ID: id, Bundle: dir, Runtime: runcPath, RuntimeRoot: filepath.Join(dir, "runc"),
		Socket: filepath.Join(dir, "s.sock"), StateFile: filepath.Join(dir, "state.json"),
		LogPath: filepath.Join(dir, "log.json"), LogMaxSize: 10 << 20, LogMaxFiles: 3,
	}
	if mod != nil {
		mod(cfg, spec)
	}
	if err := testbundle.Bundle(dir, spec); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, dir: dir, cfg: cfg, path: filepath.Join(dir, "shim.json")}
	if err := WriteConfig(f.path, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		Client{Socket: cfg.Socket}.Kill(context.Background(), int(syscall.SIGKILL), true, true)
		f.waitExited()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "shim.log"))
			t.Logf("shim log:\n%s", b)
		}
		os.RemoveAll(dir)
		ctrls, _ := filepath.Glob("/sys/fs/cgroup/*" + parent)
		for _, c := range ctrls {
			os.Remove(c)
		}
	})
	return f
}

func (f *fixture) launch() Client {
	f.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := Launch([]string{exe}, f.path, filepath.Join(f.dir, "shim.log")); err != nil {
		f.t.Fatalf("launch: %v", err)
	}
	return Client{Socket: f.cfg.Socket}
}

func (f *fixture) waitExited() *State {
	for i := 0; i < 500; i++ {
		st, err := ReadState(f.cfg.StateFile)
		if err == nil && st.Status == StatusExited {
			if _, err := os.Stat(f.cfg.Socket); os.IsNotExist(err) {
				return st
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(f.dir, "shim.log"))
	f.t.Fatalf("container did not exit; shim log: %s", b)
	return nil
}

func TestShimRunsAndRecordsExit(t *testing.T) {
	f := newFixture(t, []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, nil)
	c := f.launch()
	ctx := context.Background()
	s, err := c.Attach(ctx, false, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var out, errOut string
	exit := ""
	for {
		typ, p, err := s.ReadFrame()
		if err != nil {
			break
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
	if out != "out\n" || errOut != "err\n" || exit != "3" {
		t.Fatalf("out=%q err=%q exit=%q", out, errOut, exit)
	}
	st := f.waitExited()
	if st.ExitCode != 3 || st.StartedAt.IsZero() || st.FinishedAt.IsZero() {
		t.Fatalf("state = %+v", st)
	}
	log, err := os.ReadFile(f.cfg.LogPath)
	if err != nil || !strings.Contains(string(log), `"log":"out\n","stream":"stdout"`) || !strings.Contains(string(log), `"stream":"stderr"`) {
		t.Fatalf("log = %s (%v)", log, err)
	}
}

func TestShimRestartOnFailure(t *testing.T) {
	f := newFixture(t, []string{"sh", "-c", "exit 1"}, func(c *Config, _ *specs.Spec) {
		c.Restart = RestartPolicy{Name: "on-failure", MaxRetries: 2}
	})
	c := f.launch()
	if _, err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := f.waitExited()
	if st.RestartCount != 2 || st.ExitCode != 1 {
		t.Fatalf("state = %+v", st)
	}
}

func TestShimStdinExecAndStop(t *testing.T) {
	f := newFixture(t, []string{"sh", "-c", "read line; echo got $line; sleep 100"}, func(c *Config, _ *specs.Spec) {
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
	s.Write([]byte("hello\n"))
	s.CloseWrite()
	typ, p, err := s.ReadFrame()
	if err != nil || typ != StreamStdout || string(p) != "got hello\n" {
		t.Fatalf("frame %d %q %v", typ, p, err)
	}
	proc := specs.Process{Args: []string{"sh", "-c", "echo in-exec; exit 7"}, Cwd: "/", Env: []string{"PATH=/bin"}}
	raw, _ := jsonMarshal(proc)
	es, _, err := c.Exec(ctx, Request{ExecID: "e1", Process: raw})
	if err != nil {
		t.Fatal(err)
	}
	var out, code string
	for {
		typ, p, err := es.ReadFrame()
		if err != nil {
			break
		}
		if typ == StreamStdout {
			out += string(p)
		}
		if typ == StreamExit {
			code = string(p)
		}
	}
	if out != "in-exec\n" || code != "7" {
		t.Fatalf("exec out=%q code=%q", out, code)
	}
	if err := c.Kill(ctx, int(syscall.SIGKILL), false, true); err != nil {
		t.Fatal(err)
	}
	st := f.waitExited()
	if st.ExitCode != 137 || !st.ManuallyStopped {
		t.Fatalf("state = %+v", st)
	}
}

func TestShimHealthcheck(t *testing.T) {
	f := newFixture(t, []string{"sh", "-c", "sleep 1; touch /tmp/ready; sleep 100"}, func(c *Config, _ *specs.Spec) {
		c.Health = &HealthConfig{Test: []string{"CMD-SHELL", "cat /tmp/ready && echo fine"}, Interval: 100 * time.Millisecond, Retries: 2}
	})
	c := f.launch()
	if _, err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var last *Health
	for i := 0; i < 300 && !seen[HealthHealthy]; i++ {
		st, err := c.State(context.Background())
		if err == nil && st.Health != nil {
			seen[st.Health.Status] = true
			last = st.Health
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !seen[HealthUnhealthy] || !seen[HealthHealthy] {
		t.Fatalf("statuses seen: %v (last %+v)", seen, last)
	}
	if n := len(last.Log); n == 0 || last.Log[n-1].ExitCode != 0 || last.Log[n-1].Output != "fine\n" || last.FailingStreak != 0 {
		t.Fatalf("last health: %+v", last)
	}
}
