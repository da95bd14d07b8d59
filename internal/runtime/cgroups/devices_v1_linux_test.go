package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The emulation of the v1 devices controller agrees with the kernel, and
// an unchanged rule set is not rewritten (rewriting fails once the
// cgroup has a child).
func TestDevicesV1MatchesKernel(t *testing.T) {
	requireRoot(t)
	if IsCgroup2UnifiedMode("") {
		t.Skip("host is cgroup v2 only")
	}
	m, err := New(testCgroupPath(t), "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := m.Paths()["devices"]
	if base == "" {
		t.Skip("devices hierarchy not mounted")
	}
	t.Cleanup(func() {
		if err := m.Destroy(); err != nil {
			t.Error(err)
		}
		cleanupTestParent(t, m)
	})
	if err := m.Apply(0); err != nil {
		t.Fatal(err)
	}
	sets := [][]specs.LinuxDeviceCgroup{
		{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: i64p(1), Minor: i64p(3), Access: "r"},
			{Allow: true, Type: "c", Major: i64p(1), Minor: i64p(3), Access: "w"},
			{Allow: true, Type: "c", Major: i64p(1), Minor: i64p(5), Access: "rwm"},
			{Allow: false, Type: "c", Major: i64p(1), Minor: i64p(5), Access: "m"},
			{Allow: true, Type: "b", Access: "m"},
			{Allow: true, Type: "c", Major: i64p(4), Access: "r"},
			{Allow: false, Type: "c", Major: i64p(4), Access: "r"},
		},
		{{Allow: true, Access: "rwm"}},
		{{Allow: true, Access: "rwm"}, {Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: i64p(136), Access: "rw"}},
	}
	for i, set := range sets {
		rules := mustRules(t, set)
		dir := filepath.Join(base, "set"+itoa(int64(i)))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := writeFile(dir, "devices.deny", "a"); err != nil {
			t.Fatal(err)
		}
		for _, r := range rules {
			file := "devices.deny"
			if r.allow {
				file = "devices.allow"
			}
			if err := writeFile(dir, file, r.String()); err != nil {
				t.Fatal(err)
			}
		}
		got, err := readFile(dir, "devices.list")
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.Join(devicesV1Target(rules).list(), "\n"); strings.Join(devicesV1Current(got), "\n") != want {
			t.Errorf("set %d: kernel lists %q, emulation %q", i, got, want)
		}
	}

	// The container's cgroup now has children: new rules are refused by
	// the kernel, while the same rules again are a no-op.
	if err := m.Set(&specs.LinuxResources{Devices: sets[0]}); err == nil {
		t.Error("kernel accepted \"deny a\" in a cgroup with children")
	}
	leaf, err := New(testCgroupPath(t), "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := leaf.Destroy(); err != nil {
			t.Error(err)
		}
	})
	if err := leaf.Set(&specs.LinuxResources{Devices: sets[0]}); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(leaf.Paths()["devices"], "child"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := leaf.Set(&specs.LinuxResources{Devices: sets[0]}); err != nil {
		t.Fatalf("unchanged devices with a child cgroup: %v", err)
	}
}
