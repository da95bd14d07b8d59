package cgroups

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// testParent holds this package's test cgroups; other packages' tests
// use their own parents, so removing it never races with them.
const testParent = "berth-cgroups-test"

// testCgroupPath is an absolute cgroups path unique to the test.
func testCgroupPath(t *testing.T) string {
	return "/" + testParent + "/" + randomName(t)
}

// cleanupTestParent removes the parent cgroups of testCgroupPath once
// they are empty (another test run may still use them: then they stay).
func cleanupTestParent(t *testing.T, m Manager) {
	t.Helper()
	for _, dir := range m.Paths() {
		parent := filepath.Dir(dir)
		if filepath.Base(parent) != testParent {
			continue
		}
		if err := unix.Rmdir(parent); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.ENOTEMPTY) {
			t.Errorf("remove %s: %v", parent, err)
		}
	}
}

func readCgroupFile(t *testing.T, m Manager, subsystem, file string) string {
	t.Helper()
	dir := m.Paths()[subsystem]
	if dir == "" {
		t.Fatalf("no %q hierarchy", subsystem)
	}
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestV1Real runs the whole life cycle against the real cgroup v1 (or
// hybrid) hierarchies of the host.
func TestV1Real(t *testing.T) {
	requireRoot(t)
	if IsCgroup2UnifiedMode("") {
		t.Skip("host is cgroup v2 only")
	}
	m, err := New(testCgroupPath(t), "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Version() != 1 {
		t.Fatalf("version %d on a v1 host", m.Version())
	}
	paths := m.Paths()
	for _, s := range []string{"memory", "cpu", "cpuacct", "cpuset", "pids", "devices", "freezer"} {
		if paths[s] == "" {
			t.Skipf("%s hierarchy not mounted", s)
		}
	}
	t.Cleanup(func() {
		if err := m.Destroy(); err != nil {
			t.Error(err)
		}
		cleanupTestParent(t, m)
	})

	// The child waits until it is in the cgroup, burns some CPU there,
	// says so, then sleeps.
	cmd := exec.Command("/bin/sh", "-c", `read x; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo busy-done; exec sleep 100`)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	killed := false
	kill := func() {
		if !killed {
			killed = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(kill)

	if err := m.Apply(pid); err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(pid); err != nil { // idempotent
		t.Fatal(err)
	}
	swapAccounting := fileExists(paths["memory"], "memory.memsw.limit_in_bytes")
	mem := &specs.LinuxMemory{Limit: i64p(64 << 20), Reservation: i64p(32 << 20), Swappiness: u64p(10)}
	if swapAccounting {
		mem.Swap = i64p(128 << 20)
	}
	res := &specs.LinuxResources{
		Memory: mem,
		CPU:    &specs.LinuxCPU{Shares: u64p(512), Quota: i64p(50000), Period: u64p(100000), Cpus: "0", Mems: "0"},
		Pids:   &specs.LinuxPids{Limit: i64p(50)},
		Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: i64p(1), Minor: i64p(3), Access: "rwm"},
			{Allow: true, Type: "c", Major: i64p(1), Minor: i64p(5), Access: "r"},
		},
	}
	if err := m.Set(res); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ subsystem, file, want string }{
		{"memory", "memory.limit_in_bytes", "67108864"},
		{"memory", "memory.soft_limit_in_bytes", "33554432"},
		{"memory", "memory.swappiness", "10"},
		{"cpu", "cpu.shares", "512"},
		{"cpu", "cpu.cfs_quota_us", "50000"},
		{"cpu", "cpu.cfs_period_us", "100000"},
		{"cpuset", "cpuset.cpus", "0"},
		{"cpuset", "cpuset.mems", "0"},
		{"pids", "pids.max", "50"},
		{"devices", "devices.list", "c 1:3 rwm\nc 1:5 r"},
	} {
		if got := readCgroupFile(t, m, c.subsystem, c.file); got != c.want {
			t.Errorf("%s = %q, want %q", c.file, got, c.want)
		}
	}
	if swapAccounting {
		if got := readCgroupFile(t, m, "memory", "memory.memsw.limit_in_bytes"); got != "134217728" {
			t.Errorf("memory.memsw.limit_in_bytes = %q", got)
		}
		// Raising then lowering both limits needs the writes in the
		// right order, or the kernel refuses memsw < memory.
		for _, lim := range [][2]int64{{256 << 20, 512 << 20}, {32 << 20, 48 << 20}} {
			if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64p(lim[0]), Swap: i64p(lim[1])}}); err != nil {
				t.Fatalf("memory %d swap %d: %v", lim[0], lim[1], err)
			}
			if got := readCgroupFile(t, m, "memory", "memory.memsw.limit_in_bytes"); got != itoa(lim[1]) {
				t.Errorf("memsw = %s, want %d", got, lim[1])
			}
			if got := readCgroupFile(t, m, "memory", "memory.limit_in_bytes"); got != itoa(lim[0]) {
				t.Errorf("memory limit = %s, want %d", got, lim[0])
			}
		}
	}

	// blkio weight needs a CFQ/BFQ scheduler: when the files are
	// missing, asking for it fails clearly.
	blkio := &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16p(300)}}
	if dir := paths["blkio"]; dir != "" {
		if fileExists(dir, "blkio.weight") || fileExists(dir, "blkio.bfq.weight") {
			if err := m.Set(blkio); err != nil {
				t.Fatal(err)
			}
		} else if err := m.Set(blkio); err == nil || !strings.Contains(err.Error(), "blkio weight") {
			t.Errorf("blkio weight without scheduler support: %v", err)
		}
	}

	if _, err := stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "busy-done\n" {
		t.Fatalf("child said %q, %v", line, err)
	}

	pids, err := m.Pids()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pids, pid) {
		t.Fatalf("Pids() = %v, lacks %d", pids, pid)
	}

	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if s, err := m.FreezerState(); err != nil || s != Frozen {
		t.Fatalf("state after Freeze: %q %v", s, err)
	}
	if got := readCgroupFile(t, m, "freezer", "freezer.state"); got != Frozen {
		t.Fatalf("freezer.state = %q", got)
	}
	if st, err := os.ReadFile("/proc/" + itoa(int64(pid)) + "/status"); err == nil {
		for _, l := range strings.Split(string(st), "\n") {
			if strings.HasPrefix(l, "State:") {
				t.Logf("frozen child: %s", l)
			}
		}
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if s, err := m.FreezerState(); err != nil || s != Thawed {
		t.Fatalf("state after Thaw: %q %v", s, err)
	}

	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.CPU.Usage.Total == 0 || len(st.CPU.Usage.Percpu) == 0 {
		t.Errorf("no cpu usage: %+v", st.CPU)
	}
	wantLimit := uint64(64 << 20)
	if swapAccounting {
		wantLimit = 32 << 20 // lowered above
	}
	if st.Memory.Usage.Usage == 0 || st.Memory.Usage.Limit != wantLimit || len(st.Memory.Raw) == 0 {
		t.Errorf("memory stats: %+v", st.Memory.Usage)
	}
	if st.Pids.Current == 0 || st.Pids.Limit != 50 {
		t.Errorf("pids stats: %+v", st.Pids)
	}
	if b, err := json.Marshal(st); err == nil {
		t.Logf("stats: %s", b)
	}
	if n, err := m.OOMKillCount(); err != nil || n != 0 {
		t.Errorf("OOMKillCount = %d, %v", n, err)
	}

	t.Run("hugetlb", func(t *testing.T) {
		dir := m.Paths()["hugetlb"]
		if dir == "" {
			dir = m.Paths()[""]
		}
		if dir == "" || !(fileExists(dir, "hugetlb.2MB.max") || fileExists(dir, "hugetlb.2MB.limit_in_bytes")) {
			t.Skip("no hugetlb controller with a 2MB page size in any hierarchy")
		}
		if err := m.Set(&specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}}); err != nil {
			t.Fatal(err)
		}
		file := "hugetlb.2MB.max"
		if m.Paths()["hugetlb"] != "" {
			file = "hugetlb.2MB.limit_in_bytes"
		}
		if got, err := readFile(dir, file); err != nil || got != "4194304" {
			t.Fatalf("%s = %q, %v", file, got, err)
		}
		st, err := m.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := st.Hugetlb["2MB"]; !ok {
			t.Errorf("no 2MB hugetlb stats: %+v", st.Hugetlb)
		}
	})

	kill()
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	for s, dir := range m.Paths() {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%q cgroup %s still there: %v", s, dir, err)
		}
	}
}

// A second manager built from the same arguments (as `berth runtime
// pause` would) controls the same cgroup.
func TestV1RealSecondManager(t *testing.T) {
	requireRoot(t)
	if IsCgroup2UnifiedMode("") {
		t.Skip("host is cgroup v2 only")
	}
	name := testCgroupPath(t)
	a, err := New(name, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Destroy(); err != nil {
			t.Error(err)
		}
		cleanupTestParent(t, a)
	})
	cmd := exec.Command("sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if err := a.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	b, err := New(name, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Freeze(); err != nil {
		t.Fatal(err)
	}
	if s, err := a.FreezerState(); err != nil || s != Frozen {
		t.Fatalf("state %q %v", s, err)
	}
	if err := b.Thaw(); err != nil {
		t.Fatal(err)
	}
	pids, err := b.Pids()
	if err != nil || !slices.Contains(pids, cmd.Process.Pid) {
		t.Fatalf("pids %v %v", pids, err)
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
