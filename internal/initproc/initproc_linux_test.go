package initproc

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/staticprog"
)

func TestBinaryIsReproducible(t *testing.T) {
	staticprog.CheckReproducible(t, ".", "berth-init", Binary, func(out string) error { return staticprog.Build(out, "csrc") })
}

func install(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bin", "berth-init")
	if err := Install(path); err != nil {
		t.Fatal(err)
	}
	if err := Install(path); err != nil { // unchanged: left alone
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("installed: %v %v", st, err)
	}
	return path
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestPassesOnExitStatus(t *testing.T) {
	init := install(t)
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--", "sh", "-c", "exit 3"}, 3},
		{[]string{"sh", "-c", "exit 0"}, 0},
		{[]string{"--", "sh", "-c", "kill -USR1 $$"}, 128 + int(syscall.SIGUSR1)},
		{[]string{"--", "no-such-command"}, 127},
		{[]string{"--", "/etc/passwd"}, 126},
		{[]string{}, 1},
	} {
		out, err := exec.Command(init, tc.args...).CombinedOutput()
		if got := exitCode(err); got != tc.code {
			t.Errorf("%q: exit %d, want %d (%s)", tc.args, got, tc.code, out)
		}
	}
	out, _ := exec.Command(init, "--", "no-such-command").CombinedOutput()
	if !strings.Contains(string(out), "exec no-such-command failed: no such file or directory") {
		t.Errorf("missing command: %q", out)
	}
}

func TestReapsZombies(t *testing.T) {
	init := install(t)
	dir := t.TempDir()
	// The orphan is reparented to berth-init (a subreaper when it is not
	// pid 1) and exits; reaped, its /proc entry is gone.
	script := `sh -c 'sleep 0.1 & echo $! > ` + dir + `/orphan'; p=$(cat ` + dir + `/orphan); ` +
		`for i in $(seq 1 600); do test -e /proc/$p || exit 0; sleep 0.05; done; exit 1`
	if out, err := exec.Command(init, "--", "sh", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("orphan not reaped: %v %s", err, out)
	}
}

func TestForwardsSignalsAsPid1(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root for a pid namespace")
	}
	init := install(t)
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	cmd := exec.Command(init, "--", "sh", "-c", `trap "exit 9" TERM; echo $$ > `+ready+`; while :; do sleep 0.05; done`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(ready); err == nil && strings.TrimSpace(string(b)) == "2" {
			break // the command is pid 2: berth-init is pid 1
		}
		if time.Now().After(deadline) {
			t.Fatal("the command did not start as pid 2")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// pid 1 of a namespace ignores SIGTERM unless it handles it: berth-init
	// takes it and passes it on.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(cmd.Wait()); code != 9 {
		t.Fatalf("exit %d, want 9 (the trap's)", code)
	}
}
