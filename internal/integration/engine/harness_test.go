package engine

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/cli"
	"github.com/berth-project/berth/internal/daemon"
	"github.com/berth-project/berth/internal/network/dns"
	registrycli "github.com/berth-project/berth/internal/registry/cli"
	"github.com/berth-project/berth/internal/runtime"
	runtimecli "github.com/berth-project/berth/internal/runtime/cli"
	"github.com/berth-project/berth/internal/shim"
)

const (
	runcPath   = "/usr/sbin/runc"
	dockerPath = "/usr/local/bin/docker"
	mainEnv    = "BERTH_TEST_MAIN"
)

// TestMain lets this test binary act as the berth binary (daemon, shim and
// CLI) when the harness runs it with BERTH_TEST_MAIN=1.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == runtime.InitCommand {
		runtime.Init() // a container's init under berth's runtime
		return
	}
	if os.Getenv(mainEnv) == "1" && len(os.Args) > 1 {
		switch os.Args[1] {
		case "runtime":
			os.Exit(runtimecli.Main(os.Args[2:]))
		case "daemon":
			os.Exit(daemon.Main(os.Args[2:]))
		case "shim":
			os.Exit(shim.Main(os.Args[2:]))
		case "dns-resolver":
			os.Exit(dns.Main(os.Args[2:]))
		case "registry":
			os.Exit(registrycli.Main(os.Args[2:]))
		default:
			os.Exit(cli.Main(os.Args[1:]))
		}
	}
	os.Exit(m.Run())
}

// env is one running daemon with its own socket, state and cgroup parent.
type env struct {
	t            *testing.T
	dir          string
	sock         string
	dataRoot     string
	cgroupParent string
	// net is the daemon's own link prefix, nftables table and address
	// pool, unique per test daemon.
	net     netSettings
	runtime string
	cmd     *exec.Cmd
	exited  chan struct{} // closed once cmd is waited for
	client  *client.Client
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := os.Stat(runcPath); err != nil {
		t.Skip("needs runc at " + runcPath)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newEnv starts a daemon and registers its teardown: every container and
// volume is removed, the daemon stopped, its cgroups and directories
// deleted.
func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvRuntime(t, testRuntime())
}

// newEnvRuntime is newEnv with the daemon's default OCI runtime.
func newEnvRuntime(t *testing.T, rt string) *env {
	t.Helper()
	requireRoot(t)
	dir, err := os.MkdirTemp("", "bi")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{
		t: t, dir: dir,
		sock:         filepath.Join(dir, "berth.sock"),
		dataRoot:     filepath.Join(dir, "data"),
		cgroupParent: "/berth-test-" + randHex(4),
		net:          newNetSettings(t),
		runtime:      rt,
	}
	// Registered first: a daemon that fails to come up is torn down too.
	t.Cleanup(e.teardown)
	e.startDaemon()
	c, err := client.New(client.WithHost("unix://"+e.sock), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	e.client = c
	return e
}

func (e *env) startDaemon() {
	e.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		e.t.Fatal(err)
	}
	logf, err := os.OpenFile(filepath.Join(e.dir, "daemon.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		e.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(exe, "daemon", "-H", "unix://"+e.sock, "--data-root", e.dataRoot,
		"--exec-root", filepath.Join(e.dir, "run"), "--default-runtime", e.runtime, "--cgroup-parent", e.cgroupParent)
	cmd.Args = append(cmd.Args, e.net.Flags()...)
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.cmd = cmd
	exited := make(chan struct{})
	e.exited = exited
	go func() { cmd.Wait(); close(exited) }()
	// A loaded machine may take many seconds to start a daemon (it seeds
	// images and sets up networking before it listens).
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if c, err := net.Dial("unix", e.sock); err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			e.t.Fatalf("daemon exited before it listened: %s", e.daemonLog())
		default:
		}
	}
	e.t.Fatalf("daemon did not come up within 60 s: %s", e.daemonLog())
}

func (e *env) daemonLog() string {
	b, _ := os.ReadFile(filepath.Join(e.dir, "daemon.log"))
	return string(b)
}

// testRuntime is the OCI runtime the tests use: runc, or
// $BERTH_TEST_RUNTIME (e.g. "berth" to run the suite on berth's own).
func testRuntime() string {
	if v := os.Getenv("BERTH_TEST_RUNTIME"); v != "" {
		return v
	}
	return "runc"
}

// killDaemon kills the daemon with SIGKILL (containers keep running).
func (e *env) killDaemon() {
	e.cmd.Process.Kill()
	<-e.exited
}

// stopDaemon stops the daemon with SIGTERM (SIGKILL after 60 s).
func (e *env) stopDaemon() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
	case <-time.After(60 * time.Second):
		e.cmd.Process.Kill()
		<-e.exited
	}
	e.cmd = nil
}

func (e *env) teardown() {
	ctx := context.Background()
	if e.client != nil {
		if list, err := e.client.ContainerList(ctx, client.ContainerListOptions{All: true}); err == nil {
			for _, c := range list.Items {
				if _, err := e.client.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
					e.t.Errorf("teardown: rm %s: %v", c.ID[:12], err)
				}
			}
		}
		if nets, err := e.client.NetworkList(ctx, client.NetworkListOptions{}); err == nil {
			for _, n := range nets.Items {
				if n.Name != "bridge" && n.Name != "host" && n.Name != "none" {
					e.client.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
				}
			}
		}
		if vols, err := e.client.VolumeList(ctx, client.VolumeListOptions{}); err == nil {
			for _, v := range vols.Items {
				e.client.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true})
			}
		}
		e.client.Close()
	}
	e.stopDaemon()
	e.net.Cleanup(e.t, filepath.Join(e.dir, "run"))
	for _, m := range mountsUnder(e.dir) {
		unix.Unmount(m, unix.MNT_DETACH)
	}
	for _, ctrl := range cgroupControllers() {
		os.Remove(filepath.Join("/sys/fs/cgroup", ctrl, e.cgroupParent))
	}
	if e.t.Failed() {
		e.t.Logf("daemon log:\n%s", e.daemonLog())
	}
	os.RemoveAll(e.dir)
}

// mountsUnder lists mount points below dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			out = append([]string{fields[4]}, out...)
		}
	}
	return out
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

// result is one CLI invocation's outcome.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
}

// cliKind is a client binary: berth (this test binary) or docker.
type cliKind string

const (
	berthCLI  cliKind = "berth"
	dockerCLI cliKind = "docker"
)

// run runs the CLI with args and stdin.
func (e *env) run(kind cliKind, stdin string, args ...string) result {
	e.t.Helper()
	var cmd *exec.Cmd
	switch kind {
	case berthCLI:
		exe, _ := os.Executable()
		cmd = exec.Command(exe, args...)
		// DOCKER_CONFIG: registry credentials in the test's own config.json
		// (the one the docker CLI below uses too), never the user's.
		cmd.Env = append(os.Environ(), mainEnv+"=1", "BERTH_HOST=unix://"+e.sock, "BERTH_NO_AUTOSTART=1",
			"DOCKER_CONFIG="+filepath.Join(e.dir, ".docker"))
	case dockerCLI:
		cmd = exec.Command(dockerPath, args...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+e.sock, "HOME="+e.dir)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			e.t.Fatalf("%s %v: %v", kind, args, err)
		}
		code = ee.ExitCode()
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// runTTY runs the CLI under script(1), so that it has a terminal (of 33
// rows and 111 columns).
func (e *env) runTTY(kind cliKind, stdin string, args ...string) result {
	e.t.Helper()
	bin := dockerPath
	if kind == berthCLI {
		bin, _ = os.Executable()
	}
	// script's terminal starts with no size: give it one the container
	// must see.
	line := "stty rows 33 cols 111; " + bin
	for _, a := range args {
		line += " '" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	cmd := exec.Command("script", "-qec", line, "/dev/null")
	cmd.Env = append(os.Environ(), mainEnv+"=1", "BERTH_HOST=unix://"+e.sock, "BERTH_NO_AUTOSTART=1", "DOCKER_HOST=unix://"+e.sock, "HOME="+e.dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Stdin = strings.NewReader(stdin)
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("script: %v", err)
	}
	return result{stdout: out.String(), code: code}
}

// must runs the CLI and fails the test unless it exits 0.
func (e *env) must(kind cliKind, args ...string) string {
	e.t.Helper()
	r := e.run(kind, "", args...)
	if r.code != 0 {
		e.t.Fatalf("%s %s: %s", kind, strings.Join(args, " "), r)
	}
	return strings.TrimSpace(r.stdout)
}

// eventually polls cond until it holds or a minute passed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
