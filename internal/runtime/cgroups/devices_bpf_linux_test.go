package cgroups

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func randomName(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// The kernel's verifier accepts every program we generate.
func TestDeviceProgramLoads(t *testing.T) {
	requireRoot(t)
	for i, rules := range [][]specs.LinuxDeviceCgroup{
		{{Allow: false, Access: "rwm"}},
		{{Allow: true, Access: "rwm"}},
		{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: i64p(1), Minor: i64p(3), Access: "rwm"},
			{Allow: true, Type: "c", Major: i64p(136), Access: "rw"},
			{Allow: true, Type: "b", Access: "m"},
			{Allow: false, Type: "c", Major: i64p(1), Minor: i64p(3), Access: "w"},
			{Allow: true, Type: "c", Major: i64p(4095), Minor: i64p(1048575), Access: "r"},
		},
	} {
		fd, err := loadDeviceProgram(deviceFilterProgram(mustRules(t, rules)))
		if err != nil {
			t.Fatalf("rule set %d: %v", i, err)
		}
		unix.Close(fd)
	}
}

// The verifier's complaint reaches the error.
func TestDeviceProgramLoadReportsVerifier(t *testing.T) {
	requireRoot(t)
	// Reads r0 before it is written.
	_, err := loadDeviceProgram([]bpfInsn{{Code: opMov32Reg, Dst: regR1, Src: regR0}, {Code: opExit}})
	if err == nil || !strings.Contains(err.Error(), "verifier") {
		t.Fatalf("err = %v", err)
	}
}

// unifiedTestCgroup makes a cgroup in a real cgroup2 hierarchy (the
// unified one of a hybrid host, or the root of a v2 host).
func unifiedTestCgroup(t *testing.T) string {
	t.Helper()
	requireRoot(t)
	base := DefaultRoot
	if !IsCgroup2UnifiedMode(base) {
		base = filepath.Join(DefaultRoot, "unified")
		if !IsCgroup2UnifiedMode(base) || !isCgroupFS(base) {
			t.Skip("no cgroup2 hierarchy mounted")
		}
	}
	dir := filepath.Join(base, "berth-test-bpf-"+randomName(t))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := removeCgroup(dir); err != nil {
			t.Error(err)
		}
	})
	return dir
}

// runIn runs a shell command as a process born in the cgroup dir.
func runIn(t *testing.T, dir, script string) (string, error) {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The attached program really decides device access, and an update
// replaces it instead of stacking a second one.
func TestDeviceFilterAttach(t *testing.T) {
	dir := unifiedTestCgroup(t)
	rules := mustRules(t, []specs.LinuxDeviceCgroup{
		{Allow: true, Access: "rwm"},
		{Allow: false, Type: "c", Major: i64p(1), Minor: i64p(3), Access: "rwm"}, // /dev/null
	})
	if err := attachDeviceFilter(dir, deviceFilterProgram(rules)); err != nil {
		t.Fatal(err)
	}
	if out, err := runIn(t, dir, "head -c 4 /dev/zero | wc -c"); err != nil || strings.TrimSpace(out) != "4" {
		t.Fatalf("/dev/zero should be readable: %q %v", out, err)
	}
	if out, err := runIn(t, dir, "cat /dev/null"); err == nil || !strings.Contains(out, "not permitted") {
		t.Fatalf("/dev/null should be denied: %q %v", out, err)
	}

	// Update: now /dev/null is fine and /dev/zero is not.
	rules = mustRules(t, []specs.LinuxDeviceCgroup{
		{Allow: true, Access: "rwm"},
		{Allow: false, Type: "c", Major: i64p(1), Minor: i64p(5), Access: "r"},
	})
	if err := attachDeviceFilter(dir, deviceFilterProgram(rules)); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := queryDevicePrograms(fd)
	unix.Close(fd)
	if err != nil || len(ids) != 1 {
		t.Fatalf("attached programs after update: %v %v", ids, err)
	}
	if out, err := runIn(t, dir, "cat /dev/null && echo ok"); err != nil || strings.TrimSpace(out) != "ok" {
		t.Fatalf("/dev/null should be allowed now: %q %v", out, err)
	}
	if out, err := runIn(t, dir, "head -c 1 /dev/zero"); err == nil || !strings.Contains(out, "not permitted") {
		t.Fatalf("/dev/zero should be denied now: %q %v", out, err)
	}
}
