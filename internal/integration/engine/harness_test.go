package engine

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/integration/harness"
)

const (
	runcPath   = "/usr/sbin/runc"
	dockerPath = harness.DockerCLI
	mainEnv    = harness.MainEnv
)

// TestMain lets this test binary act as the berth binary (daemon, shim and
// CLI) when the harness runs it.
func TestMain(m *testing.M) { harness.Main(m) }

// env is one running daemon (the shared harness) and the test that
// drives it; scenarios run per CLI copy env with their subtest's t.
type env struct {
	*harness.Daemon
	t *testing.T
}

// result is one CLI invocation's outcome.
type result = harness.Result

func requireRoot(t *testing.T) {
	t.Helper()
	harness.RequireRoot(t)
	if _, err := os.Stat(runcPath); err != nil {
		t.Skip("needs runc at " + runcPath)
	}
}

var (
	randHex        = harness.RandHex
	mountsUnder    = harness.MountsUnder
	newNetSettings = harness.NewNetSettings
)

// newEnv starts a daemon on the test runtime (see testRuntime).
func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvRuntime(t, testRuntime())
}

// newEnvRuntime is newEnv with the daemon's default OCI runtime.
func newEnvRuntime(t *testing.T, rt string) *env {
	t.Helper()
	requireRoot(t)
	return &env{Daemon: harness.StartRuntime(t, rt), t: t}
}

// testRuntime is the OCI runtime the tests use: runc, or
// $BERTH_TEST_RUNTIME (e.g. "berth" to run the suite on berth's own).
func testRuntime() string {
	if v := os.Getenv("BERTH_TEST_RUNTIME"); v != "" {
		return v
	}
	return "runc"
}

func cgroupControllers() []string {
	entries, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

// cliKind is a client binary: berth (this test binary) or docker.
type cliKind string

const (
	berthCLI  cliKind = "berth"
	dockerCLI cliKind = "docker"
)

func (e *env) cmd(kind cliKind, args ...string) *exec.Cmd {
	if kind == dockerCLI {
		return e.DockerCmd(args...)
	}
	return e.BerthCmd(args...)
}

// run runs the CLI with args and stdin.
func (e *env) run(kind cliKind, stdin string, args ...string) result {
	e.t.Helper()
	return harness.Run(e.t, e.cmd(kind, args...), stdin)
}

// runTTY runs the CLI with a terminal (of 33 rows and 111 columns).
func (e *env) runTTY(kind cliKind, stdin string, args ...string) result {
	e.t.Helper()
	return harness.RunTTY(e.t, e.cmd(kind, args...), stdin)
}

// must runs the CLI and fails the test unless it exits 0.
func (e *env) must(kind cliKind, args ...string) string {
	e.t.Helper()
	r := e.run(kind, "", args...)
	if r.Code != 0 {
		e.t.Fatalf("%s %s: %s", kind, strings.Join(args, " "), r)
	}
	return strings.TrimSpace(r.Stdout)
}

// eventually polls cond until it holds or a minute passed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	harness.Eventually(t, what, cond)
}
