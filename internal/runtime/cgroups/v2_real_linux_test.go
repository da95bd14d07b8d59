package cgroups

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// realV2Root is a real cgroup2 mount: /sys/fs/cgroup on a v2 host, or
// the unified mount of a hybrid host. Its core files (cgroup.procs,
// cgroup.freeze, cgroup.events, cpu.stat) and the eBPF device hook work
// whatever controllers it has.
func realV2Root(t *testing.T) string {
	t.Helper()
	requireRoot(t)
	for _, root := range []string{DefaultRoot, filepath.Join(DefaultRoot, "unified")} {
		var st unix.Statfs_t
		if unix.Statfs(root, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return root
		}
	}
	t.Skip("no cgroup2 mount")
	return ""
}

// TestV2RealCore drives a v2 manager against a real cgroup2 mount used as
// Root: create, join, device program, freeze/thaw, pids, stats, destroy.
func TestV2RealCore(t *testing.T) {
	root := realV2Root(t)
	m, err := New(testCgroupPath(t), "", Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if m.Version() != 2 {
		t.Fatalf("version %d for cgroup2 root %s", m.Version(), root)
	}
	dir := m.Paths()[""]
	t.Cleanup(func() {
		if err := m.Destroy(); err != nil {
			t.Error(err)
		}
		cleanupTestParent(t, m)
	})
	// Deny /dev/null to the container, allow the rest.
	if err := m.Set(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: true, Access: "rwm"},
		{Allow: false, Type: "c", Major: i64p(1), Minor: i64p(3), Access: "rwm"},
	}}); err != nil {
		t.Fatal(err)
	}
	if out, err := runIn(t, dir, "cat /dev/null"); err == nil || !strings.Contains(out, "not permitted") {
		t.Fatalf("/dev/null should be denied: %q %v", out, err)
	}

	cmd := exec.Command("sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	pids, err := m.Pids()
	if err != nil || !slices.Contains(pids, cmd.Process.Pid) {
		t.Fatalf("pids %v %v", pids, err)
	}
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if s, err := m.FreezerState(); err != nil || s != Frozen {
		t.Fatalf("state after Freeze: %q %v", s, err)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if s, err := m.FreezerState(); err != nil || s != Thawed {
		t.Fatalf("state after Thaw: %q %v", s, err)
	}
	if _, err := m.Stats(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s still there: %v", dir, err)
	}
}
