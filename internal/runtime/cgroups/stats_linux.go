package cgroups

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// userHZ is the unit of cpuacct.stat (USER_HZ, 100 on every Linux ABI).
const userHZ = 100

func (m *manager) Stats() (*Stats, error) {
	s := &Stats{Hugetlb: map[string]Hugetlb{}}
	var err error
	if m.mode == modeUnified {
		err = statsV2(m.unifiedDir(), s)
	} else {
		err = m.statsV1(s)
	}
	if err != nil {
		return nil, fmt.Errorf("cgroup stats: %w", err)
	}
	return s, nil
}

// optional turns a missing file into "no value".
func optional(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// hugetlbSizes lists the page sizes that have a hugetlb.<size>.<file>
// file in dir.
func hugetlbSizes(dir, file string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(dir, "hugetlb.*."+file))
	if err != nil {
		return nil, err
	}
	var sizes []string
	for _, p := range matches {
		name := strings.TrimPrefix(filepath.Base(p), "hugetlb.")
		size := strings.TrimSuffix(name, "."+file)
		if strings.Contains(size, ".") { // e.g. hugetlb.2MB.rsvd.<file>
			continue
		}
		sizes = append(sizes, size)
	}
	return sizes, nil
}

// parseUintList parses space-separated counters such as
// cpuacct.usage_percpu.
func parseUintList(s string) ([]uint64, error) {
	var out []uint64
	for _, f := range strings.Fields(s) {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parse counter list %q: %w", s, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// parseDevice parses "major:minor".
func parseDevice(s string) (uint64, uint64, error) {
	maj, min, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, fmt.Errorf("parse device %q", s)
	}
	a, err := strconv.ParseUint(maj, 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("parse device %q: %w", s, err)
	}
	b, err := strconv.ParseUint(min, 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("parse device %q: %w", s, err)
	}
	return a, b, nil
}

// ---- cgroup v1 ----

func (m *manager) statsV1(s *Stats) error {
	if dir := m.subsystemDir("cpuacct"); dir != "" {
		if err := cpuacctStats(dir, &s.CPU.Usage); err != nil {
			return err
		}
	}
	if dir := m.subsystemDir("cpu"); dir != "" {
		kv, err := readKeyed(dir, "cpu.stat")
		if err := optional(err); err != nil {
			return err
		}
		s.CPU.Throttling = Throttling{Periods: kv["nr_periods"], ThrottledPeriods: kv["nr_throttled"], ThrottledTime: kv["throttled_time"]}
	}
	if dir := m.subsystemDir("memory"); dir != "" {
		if err := memoryStatsV1(dir, &s.Memory); err != nil {
			return err
		}
	}
	if dir := m.subsystemDir("pids"); dir != "" {
		if err := pidsStats(dir, &s.Pids); err != nil {
			return err
		}
	}
	if dir := m.subsystemDir("blkio"); dir != "" {
		if err := blkioStatsV1(dir, &s.Blkio); err != nil {
			return err
		}
	}
	if dir := m.subsystemDir("hugetlb"); dir != "" {
		return hugetlbStatsV1(dir, s.Hugetlb)
	}
	if dir := m.unifiedDir(); dir != "" {
		return hugetlbStatsV2(dir, s.Hugetlb)
	}
	return nil
}

func cpuacctStats(dir string, u *CPUUsage) error {
	var err error
	if u.Total, err = readUint(dir, "cpuacct.usage"); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		dst  *[]uint64
	}{
		{"cpuacct.usage_percpu", &u.Percpu},
		{"cpuacct.usage_percpu_sys", &u.PercpuKernel},
		{"cpuacct.usage_percpu_user", &u.PercpuUser},
	} {
		v, err := readFile(dir, f.name)
		if err != nil {
			if err := optional(err); err != nil {
				return err
			}
			continue
		}
		if *f.dst, err = parseUintList(v); err != nil {
			return err
		}
	}
	kv, err := readKeyed(dir, "cpuacct.stat")
	if err != nil {
		return optional(err)
	}
	const nsPerTick = 1e9 / userHZ
	u.User = kv["user"] * nsPerTick
	u.Kernel = kv["system"] * nsPerTick
	return nil
}

func memoryEntryV1(dir, prefix string, e *MemoryEntry) error {
	for _, f := range []struct {
		name string
		dst  *uint64
	}{
		{prefix + "usage_in_bytes", &e.Usage},
		{prefix + "max_usage_in_bytes", &e.Max},
		{prefix + "failcnt", &e.Failcnt},
		{prefix + "limit_in_bytes", &e.Limit},
	} {
		v, err := readUintIfExists(dir, f.name)
		if err != nil {
			return err
		}
		*f.dst = v
	}
	return nil
}

func memoryStatsV1(dir string, mem *Memory) error {
	raw, err := readKeyed(dir, "memory.stat")
	if err != nil {
		return err
	}
	mem.Raw = raw
	mem.Cache = raw["cache"]
	for prefix, e := range map[string]*MemoryEntry{
		"memory.":          &mem.Usage,
		"memory.memsw.":    &mem.Swap,
		"memory.kmem.":     &mem.Kernel,
		"memory.kmem.tcp.": &mem.KernelTCP,
	} {
		if err := memoryEntryV1(dir, prefix, e); err != nil {
			return err
		}
	}
	return nil
}

func pidsStats(dir string, p *Pids) error {
	var err error
	if p.Current, err = readUintIfExists(dir, "pids.current"); err != nil {
		return err
	}
	limit, err := readUintIfExists(dir, "pids.max")
	if err != nil {
		return err
	}
	if limit != math.MaxUint64 {
		p.Limit = limit
	}
	return nil
}

// blkioStatsV1 reads the CFQ counters, or the BFQ ones, or else the
// throttling layer's, like runc.
func blkioStatsV1(dir string, b *Blkio) error {
	type file struct {
		name string
		dst  *[]BlkioEntry
	}
	cfq := []file{
		{"blkio.io_service_bytes_recursive", &b.IoServiceBytesRecursive},
		{"blkio.io_serviced_recursive", &b.IoServicedRecursive},
		{"blkio.io_queued_recursive", &b.IoQueuedRecursive},
		{"blkio.io_service_time_recursive", &b.IoServiceTimeRecursive},
		{"blkio.io_wait_time_recursive", &b.IoWaitTimeRecursive},
		{"blkio.io_merged_recursive", &b.IoMergedRecursive},
		{"blkio.time_recursive", &b.IoTimeRecursive},
		{"blkio.sectors_recursive", &b.SectorsRecursive},
	}
	bfq := []file{
		{"blkio.bfq.io_service_bytes_recursive", &b.IoServiceBytesRecursive},
		{"blkio.bfq.io_serviced_recursive", &b.IoServicedRecursive},
	}
	throttle := []file{
		{"blkio.throttle.io_service_bytes_recursive", &b.IoServiceBytesRecursive},
		{"blkio.throttle.io_serviced_recursive", &b.IoServicedRecursive},
	}
	files := throttle
	switch {
	case fileExists(dir, cfq[0].name):
		files = cfq
	case fileExists(dir, bfq[0].name):
		files = bfq
	}
	for _, f := range files {
		entries, err := readBlkioFile(dir, f.name)
		if err := optional(err); err != nil {
			return err
		}
		*f.dst = entries
	}
	return nil
}

// readBlkioFile parses "major:minor [op] value" lines; "Total" lines are
// skipped.
func readBlkioFile(dir, name string) ([]BlkioEntry, error) {
	s, err := readFile(dir, name)
	if err != nil {
		return nil, err
	}
	var out []BlkioEntry
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] == "Total" {
			continue
		}
		maj, min, err := parseDevice(f[0])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		e := BlkioEntry{Major: maj, Minor: min}
		val := f[1]
		if len(f) == 3 {
			e.Op, val = f[1], f[2]
		}
		if e.Value, err = strconv.ParseUint(val, 10, 64); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, e)
	}
	return out, nil
}

func hugetlbStatsV1(dir string, out map[string]Hugetlb) error {
	sizes, err := hugetlbSizes(dir, "usage_in_bytes")
	if err != nil {
		return err
	}
	for _, size := range sizes {
		var h Hugetlb
		p := "hugetlb." + size + "."
		if h.Usage, err = readUint(dir, p+"usage_in_bytes"); err != nil {
			return err
		}
		if h.Max, err = readUintIfExists(dir, p+"max_usage_in_bytes"); err != nil {
			return err
		}
		if h.Failcnt, err = readUintIfExists(dir, p+"failcnt"); err != nil {
			return err
		}
		out[size] = h
	}
	return nil
}

// ---- cgroup v2 ----

func statsV2(dir string, s *Stats) error {
	cpu, err := readKeyed(dir, "cpu.stat")
	if err := optional(err); err != nil {
		return err
	}
	s.CPU.Usage = CPUUsage{Total: cpu["usage_usec"] * 1000, User: cpu["user_usec"] * 1000, Kernel: cpu["system_usec"] * 1000}
	s.CPU.Throttling = Throttling{Periods: cpu["nr_periods"], ThrottledPeriods: cpu["nr_throttled"], ThrottledTime: cpu["throttled_usec"] * 1000}
	if err := memoryStatsV2(dir, &s.Memory); err != nil {
		return err
	}
	if err := pidsStats(dir, &s.Pids); err != nil {
		return err
	}
	if err := ioStatsV2(dir, &s.Blkio); err != nil {
		return err
	}
	return hugetlbStatsV2(dir, s.Hugetlb)
}

func memoryStatsV2(dir string, mem *Memory) error {
	raw, err := readKeyed(dir, "memory.stat")
	if err != nil {
		return optional(err)
	}
	mem.Raw = raw
	mem.Cache = raw["file"]
	read := func(name string) (uint64, error) { return readUintIfExists(dir, name) }
	if mem.Usage.Usage, err = read("memory.current"); err != nil {
		return err
	}
	if mem.Usage.Max, err = read("memory.peak"); err != nil {
		return err
	}
	if mem.Usage.Limit, err = read("memory.max"); err != nil {
		return err
	}
	events, err := readKeyed(dir, "memory.events")
	if err := optional(err); err != nil {
		return err
	}
	mem.Usage.Failcnt = events["max"]
	// Like cgroup v1's memsw, swap counts memory plus swap.
	swapCur, err := read("memory.swap.current")
	if err != nil {
		return err
	}
	mem.Swap.Usage = mem.Usage.Usage + swapCur
	if fileExists(dir, "memory.swap.max") {
		swapMax, err := read("memory.swap.max")
		if err != nil {
			return err
		}
		mem.Swap.Limit = math.MaxUint64
		if swapMax != math.MaxUint64 && mem.Usage.Limit != math.MaxUint64 {
			mem.Swap.Limit = swapMax + mem.Usage.Limit
		}
	}
	mem.Kernel.Usage = raw["kernel"]
	mem.KernelTCP.Usage = raw["sock"]
	return nil
}

// ioStatsV2 parses io.stat ("8:0 rbytes=… wbytes=… rios=… wios=…").
func ioStatsV2(dir string, b *Blkio) error {
	s, err := readFile(dir, "io.stat")
	if err != nil {
		return optional(err)
	}
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		maj, min, err := parseDevice(f[0])
		if err != nil {
			return fmt.Errorf("io.stat: %w", err)
		}
		for _, kv := range f[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return fmt.Errorf("io.stat: %w", err)
			}
			e := BlkioEntry{Major: maj, Minor: min, Value: n}
			switch k {
			case "rbytes":
				e.Op = "Read"
				b.IoServiceBytesRecursive = append(b.IoServiceBytesRecursive, e)
			case "wbytes":
				e.Op = "Write"
				b.IoServiceBytesRecursive = append(b.IoServiceBytesRecursive, e)
			case "rios":
				e.Op = "Read"
				b.IoServicedRecursive = append(b.IoServicedRecursive, e)
			case "wios":
				e.Op = "Write"
				b.IoServicedRecursive = append(b.IoServicedRecursive, e)
			}
		}
	}
	return nil
}

func hugetlbStatsV2(dir string, out map[string]Hugetlb) error {
	sizes, err := hugetlbSizes(dir, "current")
	if err != nil {
		return err
	}
	for _, size := range sizes {
		var h Hugetlb
		if h.Usage, err = readUint(dir, "hugetlb."+size+".current"); err != nil {
			return err
		}
		ev, err := readKeyed(dir, "hugetlb."+size+".events")
		if err := optional(err); err != nil {
			return err
		}
		h.Failcnt = ev["max"]
		out[size] = h
	}
	return nil
}
