package cgroups

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const hybridMountinfo = `22 1 0:21 / / rw,relatime - ext4 /dev/vda1 rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
50 22 0:40 / /mnt/other\040cgroup rw,relatime - cgroup cgroup rw,pids
`

func TestDiscoverLayoutFromMountinfo(t *testing.T) {
	mi := filepath.Join(t.TempDir(), "mountinfo")
	writeTestFile(t, mi, hybridMountinfo)
	l, err := discoverLayout("/sys/fs/cgroup", mi)
	if err != nil {
		t.Fatal(err)
	}
	want := &layout{mode: modeHybrid, hierarchies: []hierarchy{
		{mountpoint: "/sys/fs/cgroup/cpu,cpuacct", root: "/", subsystems: []string{"cpu", "cpuacct"}},
		{mountpoint: "/sys/fs/cgroup/cpuset", root: "/", subsystems: []string{"cpuset"}},
		{mountpoint: "/sys/fs/cgroup/memory", root: "/docker/abc", subsystems: []string{"memory"}},
		{mountpoint: "/sys/fs/cgroup/unified", root: "/", unified: true},
	}}
	if !reflect.DeepEqual(l, want) {
		t.Fatalf("layout %+v\nwant %+v", l, want)
	}
	// The other pids mount is outside the root, and its mountpoint is unescaped.
	l, err = discoverLayout("/mnt/other cgroup", mi)
	if err != nil || l.mode != modeV1 || l.hierarchies[0].subsystems[0] != "pids" {
		t.Fatalf("layout %+v %v", l, err)
	}

	writeTestFile(t, mi, "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n")
	l, err = discoverLayout("/sys/fs/cgroup", mi)
	if err != nil || l.mode != modeUnified || len(l.hierarchies) != 1 {
		t.Fatalf("v2 layout %+v %v", l, err)
	}
}

func TestCgroupDirRelativeUnderMountRoot(t *testing.T) {
	// In a container whose memory hierarchy shows only /docker/abc, our
	// own cgroup /docker/abc/sub is <mountpoint>/sub.
	h := hierarchy{mountpoint: "/sys/fs/cgroup/memory", root: "/docker/abc", subsystems: []string{"memory"}}
	own := map[string]string{"memory": "/docker/abc/sub"}
	if got, err := cgroupDir(h, "ctr", own); err != nil || got != "/sys/fs/cgroup/memory/sub/ctr" {
		t.Fatalf("relative: %q %v", got, err)
	}
	if got, err := cgroupDir(h, "/x/ctr", own); err != nil || got != "/sys/fs/cgroup/memory/x/ctr" {
		t.Fatalf("absolute: %q %v", got, err)
	}
	if _, err := cgroupDir(h, "ctr", map[string]string{"cpu": "/"}); err == nil {
		t.Fatal("no own cgroup for the hierarchy: no error")
	}
}

func TestParseCgroupFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cgroup")
	writeTestFile(t, p, "9:name=systemd:/user.slice\n2:cpu,cpuacct:/a\n4:memory:/process_api/x\n0::/init.scope\n")
	got, err := ParseCgroupFile(p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"name=systemd": "/user.slice", "cpu": "/a", "cpuacct": "/a", "memory": "/process_api/x", "": "/init.scope"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
	writeTestFile(t, p, "garbage\n")
	if _, err := ParseCgroupFile(p); err == nil {
		t.Fatal("malformed file: no error")
	}
}

func TestIsCgroup2UnifiedMode(t *testing.T) {
	v2 := fakeV2Root(t)
	if !IsCgroup2UnifiedMode(v2) {
		t.Error("fake v2 root not detected")
	}
	if IsCgroup2UnifiedMode(t.TempDir()) {
		t.Error("empty dir detected as v2")
	}
}

// A fake hybrid root: v1 hierarchies as directories named after their
// controllers, plus a cgroup2 "unified" directory that alone has hugetlb.
func TestFakeHybridLayout(t *testing.T) {
	root := t.TempDir()
	const leaf = "berth/h1"
	for _, f := range []string{"memory.limit_in_bytes", "memory.soft_limit_in_bytes", "cgroup.procs"} {
		writeTestFile(t, filepath.Join(root, "memory", leaf, f), "")
	}
	for _, f := range []string{"cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cgroup.procs"} {
		writeTestFile(t, filepath.Join(root, "cpu,cpuacct", leaf, f), "")
	}
	writeTestFile(t, filepath.Join(root, "unified", "cgroup.controllers"), "hugetlb")
	writeTestFile(t, filepath.Join(root, "unified", "cgroup.subtree_control"), "")
	writeTestFile(t, filepath.Join(root, "unified", "berth", "cgroup.subtree_control"), "")
	for _, f := range []string{"cgroup.controllers", "hugetlb.2MB.max", "cgroup.procs"} {
		writeTestFile(t, filepath.Join(root, "unified", leaf, f), "")
	}
	writeTestFile(t, filepath.Join(root, "unified", leaf, "cgroup.controllers"), "hugetlb")
	m := newFake(t, "", "h1", root, "")
	want := map[string]string{
		"memory":  filepath.Join(root, "memory", leaf),
		"cpu":     filepath.Join(root, "cpu,cpuacct", leaf),
		"cpuacct": filepath.Join(root, "cpu,cpuacct", leaf),
		"":        filepath.Join(root, "unified", leaf),
	}
	if m.Version() != 1 || !reflect.DeepEqual(m.Paths(), want) {
		t.Fatalf("version %d paths %v", m.Version(), m.Paths())
	}
	if err := m.Apply(77); err != nil {
		t.Fatal(err)
	}
	err := m.Set(&specs.LinuxResources{
		Memory:         &specs.LinuxMemory{Limit: i64p(1 << 30), Reservation: i64p(1 << 29)},
		CPU:            &specs.LinuxCPU{Shares: u64p(256), Quota: i64p(20000), Period: u64p(50000)},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 2 << 20}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for p, v := range map[string]string{
		"memory/" + leaf + "/memory.limit_in_bytes":      "1073741824",
		"memory/" + leaf + "/memory.soft_limit_in_bytes": "536870912",
		"memory/" + leaf + "/cgroup.procs":               "77",
		"cpu,cpuacct/" + leaf + "/cpu.shares":            "256",
		"cpu,cpuacct/" + leaf + "/cpu.cfs_quota_us":      "20000",
		"cpu,cpuacct/" + leaf + "/cpu.cfs_period_us":     "50000",
		"unified/" + leaf + "/hugetlb.2MB.max":           "2097152",
		"unified/" + leaf + "/cgroup.procs":              "77",
		"unified/cgroup.subtree_control":                 "+hugetlb",
		"unified/berth/cgroup.subtree_control":           "+hugetlb",
	} {
		if got := readTestFile(t, filepath.Join(root, p)); got != v {
			t.Errorf("%s = %q, want %q", p, got, v)
		}
	}
	for name, res := range map[string]*specs.LinuxResources{
		"unified map on v1":      {Unified: map[string]string{"memory.high": "1"}},
		"pids controller absent": {Pids: &specs.LinuxPids{Limit: i64p(5)}},
		"swap without memsw":     {Memory: &specs.LinuxMemory{Limit: i64p(1 << 20), Swap: i64p(2 << 20)}},
	} {
		if err := m.Set(res); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.Contains(err.Error(), "set cgroup resources") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, dir := range m.Paths() {
		if fileExists(dir, "") {
			t.Errorf("%s not removed", dir)
		}
	}
}
