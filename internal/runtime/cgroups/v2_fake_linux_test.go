package cgroups

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func u64p(v uint64) *uint64 { return &v }
func u16p(v uint16) *uint16 { return &v }
func boolp(v bool) *bool    { return &v }

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readTestFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// v2LeafFiles are the interface files the kernel would create in a
// container's cgroup with the controllers of fakeV2Root.
var v2LeafFiles = []string{
	"cgroup.procs", "cgroup.subtree_control", "cgroup.freeze", "cgroup.events",
	"memory.max", "memory.low", "memory.swap.max", "memory.high",
	"cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle",
	"cpuset.cpus", "cpuset.mems", "pids.max",
	"io.weight", "io.max", "hugetlb.2MB.max", "hugetlb.1GB.max",
}

// fakeV2Root lays out a fake cgroup2 root with an intermediate cgroup
// "berth" (without cgroup.controllers, as a test of inheritance) and
// leaf cgroups at each of leaves.
func fakeV2Root(t *testing.T, leaves ...string) string {
	t.Helper()
	root := t.TempDir()
	writeTestFile(t, filepath.Join(root, "cgroup.controllers"), "cpuset cpu io memory hugetlb pids\n")
	writeTestFile(t, filepath.Join(root, "cgroup.subtree_control"), "")
	writeTestFile(t, filepath.Join(root, "cgroup.procs"), "")
	for _, leaf := range leaves {
		for dir := filepath.Dir(filepath.Join(root, leaf)); dir != root; dir = filepath.Dir(dir) {
			writeTestFile(t, filepath.Join(dir, "cgroup.subtree_control"), "")
		}
		for _, f := range v2LeafFiles {
			writeTestFile(t, filepath.Join(root, leaf, f), "")
		}
	}
	return root
}

func newFake(t *testing.T, cgroupsPath, id, root, procCgroup string) *manager {
	t.Helper()
	if procCgroup == "" {
		procCgroup = filepath.Join(t.TempDir(), "cgroup")
		writeTestFile(t, procCgroup, "0::/\n")
	}
	m, err := newManager(cgroupsPath, id, Options{Root: root}, "/proc/self/mountinfo", procCgroup)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestV2FakeSetAndFreeze(t *testing.T) {
	root := fakeV2Root(t, "berth/ctr1")
	m := newFake(t, "", "ctr1", root, "")
	dir := filepath.Join(root, "berth/ctr1")
	if m.Version() != 2 || !reflect.DeepEqual(m.Paths(), map[string]string{"": dir}) {
		t.Fatalf("version %d paths %v", m.Version(), m.Paths())
	}
	if err := m.Apply(4242); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{root, filepath.Join(root, "berth")} {
		if got := readTestFile(t, filepath.Join(d, "cgroup.subtree_control")); got != "+cpuset +cpu +io +memory +hugetlb +pids" {
			t.Errorf("%s/cgroup.subtree_control = %q", d, got)
		}
	}
	res := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{
			Limit:       i64p(256 << 20),
			Reservation: i64p(128 << 20),
			Swap:        i64p(512 << 20),
			Swappiness:  u64p(10), // no v2 file: ignored
			Kernel:      i64p(1 << 20),
		},
		CPU: &specs.LinuxCPU{
			Shares: u64p(1024),
			Quota:  i64p(50000),
			Period: u64p(100000),
			Burst:  u64p(1000),
			Cpus:   "0-1",
			Mems:   "0",
		},
		Pids: &specs.LinuxPids{Limit: i64p(100)},
		BlockIO: &specs.LinuxBlockIO{
			Weight: u16p(500),
			ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{
				{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 1 << 20},
			},
			ThrottleWriteBpsDevice: []specs.LinuxThrottleDevice{
				{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 2 << 20},
			},
			ThrottleReadIOPSDevice: []specs.LinuxThrottleDevice{
				{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 100},
			},
			ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{
				{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 200},
			},
		},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}},
		Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: i64p(1), Minor: i64p(3), Access: "rwm"},
		},
		Unified: map[string]string{"memory.high": "300000000"},
	}
	if err := m.Set(res); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"cgroup.procs":    "4242",
		"memory.max":      "268435456",
		"memory.low":      "134217728",
		"memory.swap.max": "268435456", // (memory+swap) - memory
		"memory.high":     "300000000",
		"cpu.weight":      "39", // 1 + (1024-2)*9999/262142
		"cpu.max":         "50000 100000",
		"cpu.max.burst":   "1000",
		"cpuset.cpus":     "0-1",
		"cpuset.mems":     "0",
		"pids.max":        "100",
		"io.weight":       "4950", // 1 + (500-10)*9999/990
		"io.max":          "8:0 rbps=1048576 wbps=2097152 riops=100 wiops=200",
		"hugetlb.2MB.max": "4194304",
		"hugetlb.1GB.max": "",
	}
	for f, v := range want {
		if got := readTestFile(t, filepath.Join(dir, f)); got != v {
			t.Errorf("%s = %q, want %q", f, got, v)
		}
	}

	// Only the period changes: the quota is kept; -1 limits are "max".
	if err := m.Set(&specs.LinuxResources{
		CPU:    &specs.LinuxCPU{Period: u64p(200000)},
		Memory: &specs.LinuxMemory{Limit: i64p(-1)},
		Pids:   &specs.LinuxPids{Limit: i64p(-1)},
	}); err != nil {
		t.Fatal(err)
	}
	for f, v := range map[string]string{"cpu.max": "50000 200000", "memory.max": "max", "memory.swap.max": "max", "pids.max": "max"} {
		if got := readTestFile(t, filepath.Join(dir, f)); got != v {
			t.Errorf("after update %s = %q, want %q", f, got, v)
		}
	}

	// Freezer: the fake kernel reports "frozen 1" in cgroup.events.
	writeTestFile(t, filepath.Join(dir, "cgroup.events"), "populated 1\nfrozen 1\n")
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if got := readTestFile(t, filepath.Join(dir, "cgroup.freeze")); got != "1" {
		t.Errorf("cgroup.freeze = %q after Freeze", got)
	}
	if s, err := m.FreezerState(); err != nil || s != Frozen {
		t.Errorf("state %q %v", s, err)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if got := readTestFile(t, filepath.Join(dir, "cgroup.freeze")); got != "0" {
		t.Errorf("cgroup.freeze = %q after Thaw", got)
	}
	if s, err := m.FreezerState(); err != nil || s != Thawed {
		t.Errorf("state %q %v", s, err)
	}

	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("cgroup dir still there: %v", err)
	}
	if err := m.Destroy(); err != nil {
		t.Fatalf("second Destroy: %v", err)
	}
}

func TestV2FakeErrors(t *testing.T) {
	root := fakeV2Root(t, "c")
	dir := filepath.Join(root, "c")
	if err := os.Remove(filepath.Join(dir, "memory.swap.max")); err != nil {
		t.Fatal(err)
	}
	m := newFake(t, "/c", "", root, "")
	for name, res := range map[string]*specs.LinuxResources{
		"swap without accounting": {Memory: &specs.LinuxMemory{Limit: i64p(1 << 20), Swap: i64p(2 << 20)}},
		"swap below memory":       {Memory: &specs.LinuxMemory{Limit: i64p(2 << 20), Swap: i64p(1 << 20)}},
		"realtime":                {CPU: &specs.LinuxCPU{RealtimeRuntime: i64p(1000)}},
		"net_cls":                 {Network: &specs.LinuxNetwork{ClassID: func() *uint32 { v := uint32(1); return &v }()}},
		"unknown unified key":     {Unified: map[string]string{"nosuch.file": "1"}},
		"unified path":            {Unified: map[string]string{"../memory.max": "1"}},
		"unknown page size":       {HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "64KB", Limit: 1}}},
		"bad device rule":         {Devices: []specs.LinuxDeviceCgroup{{Type: "z"}}},
	} {
		err := m.Set(res)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		t.Logf("%s: %v", name, err)
	}
	// Unlimited memory implies unlimited swap, which is fine without
	// swap accounting.
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64p(-1)}}); err != nil {
		t.Errorf("unlimited memory: %v", err)
	}
	if err := m.Set(nil); err != nil {
		t.Errorf("nil resources: %v", err)
	}
}

func TestV2FakePaths(t *testing.T) {
	root := fakeV2Root(t)
	proc := filepath.Join(t.TempDir(), "cgroup")
	writeTestFile(t, proc, "0::/user.slice/session-1.scope\n")
	for _, tc := range []struct{ path, id, want string }{
		{"/abs/ctr", "x", "abs/ctr"},
		{"", "ctr2", "berth/ctr2"},
		{"rel/ctr", "x", "user.slice/session-1.scope/rel/ctr"},
		{"../../../../escape", "x", "escape"},
	} {
		m := newFake(t, tc.path, tc.id, root, proc)
		if got := m.Paths()[""]; got != filepath.Join(root, tc.want) {
			t.Errorf("New(%q, %q): %s, want %s", tc.path, tc.id, got, filepath.Join(root, tc.want))
		}
		// Deterministic: a second manager names the same cgroup.
		if again := newFake(t, tc.path, tc.id, root, proc); !reflect.DeepEqual(again.Paths(), m.Paths()) {
			t.Errorf("paths differ: %v vs %v", again.Paths(), m.Paths())
		}
	}
	if _, err := newManager("", "", Options{Root: root}, "/proc/self/mountinfo", proc); err == nil {
		t.Error("no path and no id: no error")
	}
	if _, err := newManager("", "a/b", Options{Root: root}, "/proc/self/mountinfo", proc); err == nil {
		t.Error("id with a slash: no error")
	}
}

func TestV2FakeStats(t *testing.T) {
	root := fakeV2Root(t, "s")
	dir := filepath.Join(root, "s")
	for f, v := range map[string]string{
		"cpu.stat":            "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 10\nnr_throttled 2\nthrottled_usec 300\n",
		"memory.stat":         "anon 4096\nfile 8192\nkernel 1024\nsock 512\n",
		"memory.current":      "16384\n",
		"memory.peak":         "32768\n",
		"memory.max":          "1048576\n",
		"memory.events":       "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
		"memory.swap.current": "100\n",
		"memory.swap.max":     "max\n",
		"pids.current":        "3\n",
		"pids.max":            "max\n",
		"io.stat":             "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n253:1 rbytes=1 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
		"hugetlb.2MB.current": "2097152\n",
		"hugetlb.2MB.events":  "max 1\n",
		"hugetlb.1GB.current": "0\n",
	} {
		writeTestFile(t, filepath.Join(dir, f), v)
	}
	m := newFake(t, "/s", "", root, "")
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := &Stats{
		CPU: CPU{
			Usage:      CPUUsage{Total: 1500000, User: 1000000, Kernel: 500000},
			Throttling: Throttling{Periods: 10, ThrottledPeriods: 2, ThrottledTime: 300000},
		},
		Memory: Memory{
			Cache:     8192,
			Usage:     MemoryEntry{Limit: 1048576, Usage: 16384, Max: 32768, Failcnt: 3},
			Swap:      MemoryEntry{Limit: math.MaxUint64, Usage: 16484},
			Kernel:    MemoryEntry{Usage: 1024},
			KernelTCP: MemoryEntry{Usage: 512},
			Raw:       map[string]uint64{"anon": 4096, "file": 8192, "kernel": 1024, "sock": 512},
		},
		Pids: Pids{Current: 3},
		Blkio: Blkio{
			IoServiceBytesRecursive: []BlkioEntry{{8, 0, "Read", 4096}, {8, 0, "Write", 8192}, {253, 1, "Read", 1}, {253, 1, "Write", 0}},
			IoServicedRecursive:     []BlkioEntry{{8, 0, "Read", 1}, {8, 0, "Write", 2}, {253, 1, "Read", 1}, {253, 1, "Write", 0}},
		},
		Hugetlb: map[string]Hugetlb{"2MB": {Usage: 2097152, Failcnt: 1}, "1GB": {}},
	}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("stats:\n%+v\nwant:\n%+v", st, want)
	}
	if n, err := m.OOMKillCount(); err != nil || n != 1 {
		t.Errorf("OOMKillCount = %d, %v", n, err)
	}
	// The JSON uses runc's field names.
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"cpu":{"usage":{"total":1500000`, `"throttling":{"periods":10,"throttledPeriods":2,"throttledTime":300000}`,
		`"memory":{"cache":8192,"usage":{"limit":1048576`, `"pids":{"current":3}`, `"ioServiceBytesRecursive":[{"major":8,"op":"Read","value":4096}`,
		`"hugetlb":{"1GB":{"failcnt":0},"2MB":{"usage":2097152,"failcnt":1}}`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s:\n%s", key, b)
		}
	}
}

func TestV2FakePids(t *testing.T) {
	root := fakeV2Root(t, "p", "p/child/grandchild")
	writeTestFile(t, filepath.Join(root, "p/cgroup.procs"), "10\n11\n")
	writeTestFile(t, filepath.Join(root, "p/child/cgroup.procs"), "")
	writeTestFile(t, filepath.Join(root, "p/child/grandchild/cgroup.procs"), "12\n")
	m := newFake(t, "/p", "", root, "")
	pids, err := m.Pids()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pids, []int{10, 11, 12}) {
		t.Fatalf("pids %v", pids)
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "p")); !os.IsNotExist(err) {
		t.Fatalf("not removed: %v", err)
	}
}
