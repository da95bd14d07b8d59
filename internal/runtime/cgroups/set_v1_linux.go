package cgroups

import (
	"errors"
	"fmt"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// setV1 writes r into the cgroup v1 hierarchies (and, on hybrid hosts,
// huge page limits into the unified one when only it has hugetlb).
func (m *manager) setV1(r *specs.LinuxResources) error {
	if len(r.Unified) > 0 {
		return errors.New("unified resources need cgroup v2, this host uses cgroup v1")
	}
	need := func(subsystem string) (string, error) {
		if dir := m.subsystemDir(subsystem); dir != "" {
			return dir, nil
		}
		return "", fmt.Errorf("the %s cgroup controller is not mounted", subsystem)
	}
	if c := r.CPU; c != nil && (c.Cpus != "" || c.Mems != "") {
		dir, err := need("cpuset")
		if err != nil {
			return err
		}
		if err := setCpusetV1(dir, c); err != nil {
			return err
		}
	}
	if len(r.Devices) > 0 {
		dir, err := need("devices")
		if err != nil {
			return err
		}
		if err := setDevicesV1(dir, r.Devices); err != nil {
			return err
		}
	}
	if r.Memory != nil {
		dir, err := need("memory")
		if err != nil {
			return err
		}
		if err := setMemoryV1(dir, r.Memory); err != nil {
			return err
		}
	}
	if c := r.CPU; c != nil && cpuBandwidthSet(c) {
		dir, err := need("cpu")
		if err != nil {
			return err
		}
		if err := setCPUV1(dir, c); err != nil {
			return err
		}
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		dir, err := need("pids")
		if err != nil {
			return err
		}
		if err := writeFile(dir, "pids.max", pidsLimit(*r.Pids.Limit)); err != nil {
			return err
		}
	}
	if r.BlockIO != nil {
		dir, err := need("blkio")
		if err != nil {
			return err
		}
		if err := setBlkioV1(dir, r.BlockIO); err != nil {
			return err
		}
	}
	if err := m.setHugetlb(r.HugepageLimits); err != nil {
		return err
	}
	if n := r.Network; n != nil {
		if n.ClassID != nil {
			dir, err := need("net_cls")
			if err != nil {
				return err
			}
			if err := writeFile(dir, "net_cls.classid", strconv.FormatUint(uint64(*n.ClassID), 10)); err != nil {
				return err
			}
		}
		if len(n.Priorities) > 0 {
			dir, err := need("net_prio")
			if err != nil {
				return err
			}
			for _, p := range n.Priorities {
				if err := writeFile(dir, "net_prio.ifpriomap", p.Name+" "+strconv.FormatUint(uint64(p.Priority), 10)); err != nil {
					return err
				}
			}
		}
	}
	if len(r.Rdma) > 0 {
		dir, err := need("rdma")
		if err != nil {
			return err
		}
		if err := writeRdma(dir, r.Rdma); err != nil {
			return err
		}
	}
	return nil
}

func setCpusetV1(dir string, c *specs.LinuxCPU) error {
	if c.Cpus != "" {
		if err := writeFile(dir, "cpuset.cpus", c.Cpus); err != nil {
			return err
		}
	}
	if c.Mems != "" {
		if err := writeFile(dir, "cpuset.mems", c.Mems); err != nil {
			return err
		}
	}
	return nil
}

// setDevicesV1 denies everything, then applies the rules in order, as
// runc does; the last matching rule wins like in the v2 eBPF program.
// When devices.list already shows the outcome, nothing is written.
func setDevicesV1(dir string, rules []specs.LinuxDeviceCgroup) error {
	norm, err := normaliseDeviceRules(rules)
	if err != nil {
		return err
	}
	if cur, err := readFile(dir, "devices.list"); err == nil && devicesV1Unchanged(cur, norm) {
		return nil
	}
	if err := writeFile(dir, "devices.deny", "a"); err != nil {
		return err
	}
	for _, d := range norm {
		file := "devices.deny"
		if d.allow {
			file = "devices.allow"
		}
		if err := writeFile(dir, file, d.String()); err != nil {
			return err
		}
	}
	return nil
}

// setMemoryV1 writes the memory limits. memory.memsw.limit_in_bytes must
// never be below memory.limit_in_bytes, so when both change the order of
// the two writes depends on whether the limits grow or shrink.
func setMemoryV1(dir string, mem *specs.LinuxMemory) error {
	limit, swap := i64(mem.Limit), i64(mem.Swap)
	const swapFile = "memory.memsw.limit_in_bytes"
	if limit == -1 && swap == 0 && fileExists(dir, swapFile) {
		swap = -1 // unlimited memory means unlimited memory+swap
	}
	if swap != 0 {
		if err := requireFile(dir, swapFile, "swap limit"); err != nil {
			return err
		}
	}
	if mem.CheckBeforeUpdate != nil && *mem.CheckBeforeUpdate && limit > 0 {
		usage, err := readUint(dir, "memory.usage_in_bytes")
		if err != nil {
			return err
		}
		if usage > uint64(limit) {
			return fmt.Errorf("memory limit %d is below the current usage %d", limit, usage)
		}
	}
	writeLimit := func() error {
		if limit == 0 {
			return nil
		}
		return writeFile(dir, "memory.limit_in_bytes", strconv.FormatInt(limit, 10))
	}
	writeSwap := func() error {
		if swap == 0 {
			return nil
		}
		return writeFile(dir, swapFile, strconv.FormatInt(swap, 10))
	}
	swapFirst := false
	if limit != 0 && swap != 0 {
		cur, err := readUint(dir, "memory.limit_in_bytes")
		if err != nil {
			return err
		}
		swapFirst = swap == -1 || cur < uint64(swap)
	}
	order := []func() error{writeLimit, writeSwap}
	if swapFirst {
		order = []func() error{writeSwap, writeLimit}
	}
	for _, f := range order {
		if err := f(); err != nil {
			return err
		}
	}
	if mem.Reservation != nil && *mem.Reservation != 0 {
		if err := writeFile(dir, "memory.soft_limit_in_bytes", strconv.FormatInt(*mem.Reservation, 10)); err != nil {
			return err
		}
	}
	if mem.Swappiness != nil {
		if *mem.Swappiness > 100 {
			return fmt.Errorf("invalid memory swappiness %d (0-100)", *mem.Swappiness)
		}
		if err := writeFile(dir, "memory.swappiness", strconv.FormatUint(*mem.Swappiness, 10)); err != nil {
			return err
		}
	}
	if mem.DisableOOMKiller != nil && *mem.DisableOOMKiller {
		if err := writeFile(dir, "memory.oom_control", "1"); err != nil {
			return err
		}
	}
	// Kernel and KernelTCP limits are deprecated and ignored, as in runc.
	return nil
}

func cpuBandwidthSet(c *specs.LinuxCPU) bool {
	return c.Shares != nil || c.Quota != nil || c.Period != nil || c.Burst != nil ||
		c.RealtimeRuntime != nil || c.RealtimePeriod != nil || c.Idle != nil
}

func setCPUV1(dir string, c *specs.LinuxCPU) error {
	if s := u64(c.Shares); s != 0 {
		if err := writeFile(dir, "cpu.shares", strconv.FormatUint(s, 10)); err != nil {
			return err
		}
	}
	quota, period := i64(c.Quota), u64(c.Period)
	pendingPeriod := ""
	if period != 0 {
		p := strconv.FormatUint(period, 10)
		if err := writeFile(dir, "cpu.cfs_period_us", p); err != nil {
			// A shorter period can make old_quota/new_period exceed the
			// parent's bandwidth (EINVAL); retry after the quota.
			if !errors.Is(err, unix.EINVAL) || quota == 0 {
				return err
			}
			pendingPeriod = p
		}
	}
	if quota != 0 {
		if err := writeFile(dir, "cpu.cfs_quota_us", strconv.FormatInt(quota, 10)); err != nil {
			return err
		}
		if pendingPeriod != "" {
			if err := writeFile(dir, "cpu.cfs_period_us", pendingPeriod); err != nil {
				return err
			}
		}
	}
	if c.Burst != nil {
		if err := requireFile(dir, "cpu.cfs_burst_us", "cpu burst"); err != nil {
			return err
		}
		if err := writeFile(dir, "cpu.cfs_burst_us", strconv.FormatUint(*c.Burst, 10)); err != nil {
			return err
		}
	}
	if p := u64(c.RealtimePeriod); p != 0 {
		if err := requireFile(dir, "cpu.rt_period_us", "realtime period"); err != nil {
			return err
		}
		if err := writeFile(dir, "cpu.rt_period_us", strconv.FormatUint(p, 10)); err != nil {
			return err
		}
	}
	if rt := i64(c.RealtimeRuntime); rt != 0 {
		if err := requireFile(dir, "cpu.rt_runtime_us", "realtime runtime"); err != nil {
			return err
		}
		if err := writeFile(dir, "cpu.rt_runtime_us", strconv.FormatInt(rt, 10)); err != nil {
			return err
		}
	}
	if c.Idle != nil {
		if err := requireFile(dir, "cpu.idle", "cpu idle"); err != nil {
			return err
		}
		if err := writeFile(dir, "cpu.idle", strconv.FormatInt(*c.Idle, 10)); err != nil {
			return err
		}
	}
	return nil
}

// pidsLimit renders a pids limit; 0 or negative means unlimited.
func pidsLimit(v int64) string {
	if v <= 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

func setBlkioV1(dir string, b *specs.LinuxBlockIO) error {
	if b.Weight != nil && *b.Weight != 0 { // 0 means unset (Docker sends it)
		file := "blkio.weight"
		if !fileExists(dir, file) {
			file = "blkio.bfq.weight"
		}
		if !fileExists(dir, file) {
			return fmt.Errorf("blkio weight requested but neither blkio.weight nor blkio.bfq.weight exists in %s (no CFQ/BFQ I/O scheduler)", dir)
		}
		if err := writeFile(dir, file, strconv.FormatUint(uint64(*b.Weight), 10)); err != nil {
			return err
		}
	}
	if b.LeafWeight != nil && *b.LeafWeight != 0 {
		if err := requireFile(dir, "blkio.leaf_weight", "blkio leaf weight"); err != nil {
			return err
		}
		if err := writeFile(dir, "blkio.leaf_weight", strconv.FormatUint(uint64(*b.LeafWeight), 10)); err != nil {
			return err
		}
	}
	for _, wd := range b.WeightDevice {
		dev := fmt.Sprintf("%d:%d", wd.Major, wd.Minor)
		if wd.Weight != nil {
			file := "blkio.weight_device"
			if !fileExists(dir, file) {
				file = "blkio.bfq.weight_device"
			}
			if err := requireFile(dir, file, "blkio weight device"); err != nil {
				return err
			}
			if err := writeFile(dir, file, dev+" "+strconv.FormatUint(uint64(*wd.Weight), 10)); err != nil {
				return err
			}
		}
		if wd.LeafWeight != nil {
			if err := requireFile(dir, "blkio.leaf_weight_device", "blkio leaf weight device"); err != nil {
				return err
			}
			if err := writeFile(dir, "blkio.leaf_weight_device", dev+" "+strconv.FormatUint(uint64(*wd.LeafWeight), 10)); err != nil {
				return err
			}
		}
	}
	for _, t := range []struct {
		file string
		devs []specs.LinuxThrottleDevice
	}{
		{"blkio.throttle.read_bps_device", b.ThrottleReadBpsDevice},
		{"blkio.throttle.write_bps_device", b.ThrottleWriteBpsDevice},
		{"blkio.throttle.read_iops_device", b.ThrottleReadIOPSDevice},
		{"blkio.throttle.write_iops_device", b.ThrottleWriteIOPSDevice},
	} {
		for _, d := range t.devs {
			if err := requireFile(dir, t.file, "blkio throttling"); err != nil {
				return err
			}
			if err := writeFile(dir, t.file, fmt.Sprintf("%d:%d %d", d.Major, d.Minor, d.Rate)); err != nil {
				return err
			}
		}
	}
	return nil
}
