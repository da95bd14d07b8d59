// Package harness runs a real berth daemon for end-to-end tests: the test
// binary itself acts as berth (daemon, shim, CLI, container init) when the
// harness starts it, and every daemon gets its own socket, data root and
// cgroup parent, all removed when the test ends.
package harness

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

	"github.com/berth-project/berth/internal/dispatch"
	registrycli "github.com/berth-project/berth/internal/registry/cli"
)

// DockerCLI is the docker CLI used against test daemons: docker 28
// (legacy builder with DOCKER_BUILDKIT=0).
const DockerCLI = "/usr/local/bin/docker"

// MainEnv set to 1 makes a test binary using Main act as berth.
const MainEnv = "BERTH_TEST_MAIN"

// Main is TestMain of a package using the harness: it runs berth's
// subcommands when the harness runs the test binary as berth.
func Main(m *testing.M) {
	if args := os.Args[1:]; dispatch.IsInit(args) || (os.Getenv(MainEnv) == "1" && len(args) > 0) {
		os.Exit(dispatch.Run(args))
	}
	os.Exit(m.Run())
}

// RequireRoot skips tests that need root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
}

// RandHex returns n random bytes in hex.
func RandHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Daemon is one running berth daemon.
type Daemon struct {
	t            testing.TB
	Dir          string
	Sock         string
	DataRoot     string
	ExecRoot     string
	CgroupParent string
	// Runtime is the daemon's default OCI runtime.
	Runtime string
	// Net are the daemon's own link prefix, nftables table and pool.
	Net    NetSettings
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd is waited for
	Client *client.Client
}

// Start starts a daemon on berth's own runtime (see StartRuntime).
func Start(t testing.TB) *Daemon {
	t.Helper()
	return StartRuntime(t, "berth")
}

// StartRuntime starts a daemon whose default OCI runtime is rt and
// registers its teardown: its containers, networks and volumes removed,
// the daemon stopped, what it made on the host removed, mounts under its
// directory unmounted, its cgroups and files removed.
func StartRuntime(t testing.TB, rt string) *Daemon {
	t.Helper()
	RequireRoot(t)
	dir, err := os.MkdirTemp("", "bh")
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{t: t, Dir: dir, Sock: filepath.Join(dir, "s.sock"), DataRoot: filepath.Join(dir, "data"),
		ExecRoot: filepath.Join(dir, "run"), CgroupParent: "/berth-test-" + RandHex(4), Runtime: rt, Net: NewNetSettings(t)}
	t.Cleanup(d.teardown)
	d.StartProcess()
	c, err := client.New(client.WithHost("unix://"+d.Sock), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	d.Client = c
	return d
}

// StartProcess (re)starts the daemon process on the same state.
func (d *Daemon) StartProcess() {
	d.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		d.t.Fatal(err)
	}
	logf, err := os.OpenFile(filepath.Join(d.Dir, "daemon.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(exe, "daemon", "-H", "unix://"+d.Sock, "--data-root", d.DataRoot,
		"--exec-root", d.ExecRoot, "--default-runtime", d.Runtime, "--cgroup-parent", d.CgroupParent)
	cmd.Args = append(cmd.Args, d.Net.Flags()...)
	cmd.Env = append(os.Environ(), MainEnv+"=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.cmd = cmd
	exited := make(chan struct{})
	d.exited = exited
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("unix", d.Sock); err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			d.t.Fatalf("daemon exited before it listened: %s", d.Log())
		default:
		}
		time.Sleep(10 * time.Millisecond)
	}
	d.t.Fatalf("daemon did not come up within 60 s: %s", d.Log())
}

// Stop stops the daemon process (SIGTERM, then SIGKILL after 60 s).
func (d *Daemon) Stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(60 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
	}
	d.cmd = nil
}

// Kill kills the daemon process with SIGKILL.
func (d *Daemon) Kill() {
	if d.cmd != nil && d.cmd.Process != nil {
		d.cmd.Process.Kill()
		<-d.exited
		d.cmd = nil
	}
}

// Log returns the daemon's log.
func (d *Daemon) Log() string {
	b, _ := os.ReadFile(filepath.Join(d.Dir, "daemon.log"))
	return string(b)
}

func (d *Daemon) teardown() {
	ctx := context.Background()
	if d.Client != nil && d.cmd != nil {
		if list, err := d.Client.ContainerList(ctx, client.ContainerListOptions{All: true}); err == nil {
			for _, c := range list.Items {
				if _, err := d.Client.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
					d.t.Errorf("teardown: rm %s: %v", c.ID[:12], err)
				}
			}
		}
		if nets, err := d.Client.NetworkList(ctx, client.NetworkListOptions{}); err == nil {
			for _, n := range nets.Items {
				if n.Name != "bridge" && n.Name != "host" && n.Name != "none" {
					d.Client.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
				}
			}
		}
		if vols, err := d.Client.VolumeList(ctx, client.VolumeListOptions{}); err == nil {
			for _, v := range vols.Items {
				d.Client.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true})
			}
		}
	}
	if d.Client != nil {
		d.Client.Close()
	}
	d.Stop()
	d.Net.Cleanup(d.t, d.ExecRoot)
	for _, m := range mountsUnder(d.Dir) {
		unix.Unmount(m, unix.MNT_DETACH)
	}
	removeCgroups(d.CgroupParent)
	if d.t.Failed() {
		d.t.Logf("daemon log:\n%s", d.Log())
	}
	os.RemoveAll(d.Dir)
}

// removeCgroups removes parent and the cgroups below it in every hierarchy.
func removeCgroups(parent string) {
	entries, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		root := filepath.Join("/sys/fs/cgroup", e.Name(), parent)
		var dirs []string
		filepath.WalkDir(root, func(p string, de os.DirEntry, err error) error {
			if err == nil && de.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			os.Remove(dirs[i])
		}
	}
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

// MountsUnder reports the mount points below dir (for leak checks).
func MountsUnder(dir string) []string { return mountsUnder(dir) }

// Result is one CLI invocation's outcome.
type Result struct {
	Stdout, Stderr string
	Code           int
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.Code, r.Stdout, r.Stderr)
}

// BerthCmd is the berth CLI (this test binary) with args, talking to the
// daemon; registry credentials live in the daemon's own DOCKER_CONFIG
// (the one the docker CLI uses too), never the user's.
func (d *Daemon) BerthCmd(args ...string) *exec.Cmd {
	exe, _ := os.Executable()
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), MainEnv+"=1", "BERTH_HOST=unix://"+d.Sock, "BERTH_NO_AUTOSTART=1",
		"DOCKER_CONFIG="+filepath.Join(d.Dir, ".docker"))
	return cmd
}

// DockerCmd is the docker CLI with args, talking to the daemon.
func (d *Daemon) DockerCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(DockerCLI, args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+d.Sock, "HOME="+d.Dir)
	return cmd
}

// Berth runs the berth CLI against the daemon, in dir ("" for the test's).
func (d *Daemon) Berth(dir, stdin string, env []string, args ...string) Result {
	d.t.Helper()
	cmd := d.BerthCmd(args...)
	cmd.Env = append(cmd.Env, env...)
	cmd.Dir = dir
	return Run(d.t, cmd, stdin)
}

// Docker runs the docker CLI against the daemon.
func (d *Daemon) Docker(dir, stdin string, env []string, args ...string) Result {
	d.t.Helper()
	cmd := d.DockerCmd(args...)
	cmd.Env = append(cmd.Env, env...)
	cmd.Dir = dir
	return Run(d.t, cmd, stdin)
}

// Run runs cmd with stdin and returns its outcome; it fails the test
// only when cmd cannot run at all.
func Run(t testing.TB, cmd *exec.Cmd, stdin string) Result {
	t.Helper()
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
			t.Fatalf("%v: %v", cmd.Args, err)
		}
		code = ee.ExitCode()
	}
	return Result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

// RunTTY runs cmd under script(1), so that it has a terminal of 33 rows
// and 111 columns; stdout and stderr both go to Result.Stdout.
func RunTTY(t testing.TB, cmd *exec.Cmd, stdin string) Result {
	t.Helper()
	// script's terminal starts with no size: give it one the program
	// must see.
	line := "stty rows 33 cols 111; " + cmd.Path
	for _, a := range cmd.Args[1:] {
		line += " '" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	sc := exec.Command("script", "-qec", line, "/dev/null")
	sc.Env, sc.Dir = cmd.Env, cmd.Dir
	var out bytes.Buffer
	sc.Stdout, sc.Stderr = &out, &out
	sc.Stdin = strings.NewReader(stdin)
	err := sc.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("script: %v", err)
	}
	return Result{Stdout: out.String(), Code: code}
}

// Must runs berth and fails the test unless it exits 0; it returns stdout.
func (d *Daemon) Must(args ...string) string {
	d.t.Helper()
	r := d.Berth("", "", nil, args...)
	if r.Code != 0 {
		d.t.Fatalf("berth %s: %s", strings.Join(args, " "), r)
	}
	return strings.TrimSpace(r.Stdout)
}

// Eventually polls cond until it holds or 60 seconds passed.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// StartRegistry runs `berth registry serve` (this test binary) with args
// on a free loopback port and a fresh root, killed when the test ends; it
// returns the registry's host:port.
func StartRegistry(t testing.TB, args ...string) string {
	t.Helper()
	exe, _ := os.Executable()
	cmd := exec.Command(exe, append([]string{"registry", "serve", "--addr", "127.0.0.1:0", "--root", t.TempDir()}, args...)...)
	cmd.Env = append(os.Environ(), MainEnv+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGKILL); cmd.Wait() })
	found := registrycli.ListeningURL(stderr)
	select {
	case u := <-found:
		return strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
	case <-time.After(60 * time.Second):
		t.Fatal("berth registry did not start within 60 s")
	}
	return ""
}
