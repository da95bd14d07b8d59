package cgroups

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// setV2 writes r into the cgroup2 directory dir. Unified keys are
// written last so that they override the typed fields.
func setV2(dir string, r *specs.LinuxResources) error {
	if c := r.CPU; c != nil {
		if err := setCPUV2(dir, c); err != nil {
			return err
		}
	}
	if r.Memory != nil {
		if err := setMemoryV2(dir, r.Memory); err != nil {
			return err
		}
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		if err := writeFile(dir, "pids.max", pidsLimit(*r.Pids.Limit)); err != nil {
			return err
		}
	}
	if r.BlockIO != nil {
		if err := setIOV2(dir, r.BlockIO); err != nil {
			return err
		}
	}
	if len(r.HugepageLimits) > 0 {
		if err := writeHugetlb(dir, r.HugepageLimits, "max"); err != nil {
			return err
		}
	}
	if len(r.Devices) > 0 {
		if err := setDevicesV2(dir, r.Devices); err != nil {
			return err
		}
	}
	if n := r.Network; n != nil && (n.ClassID != nil || len(n.Priorities) > 0) {
		return errors.New("network classID and priorities need the v1 net_cls/net_prio controllers, absent on cgroup v2")
	}
	if len(r.Rdma) > 0 {
		if err := writeRdma(dir, r.Rdma); err != nil {
			return err
		}
	}
	return setUnified(dir, r.Unified)
}

func setCPUV2(dir string, c *specs.LinuxCPU) error {
	if w := sharesToWeight(u64(c.Shares)); w != 0 {
		if err := writeFile(dir, "cpu.weight", strconv.FormatUint(w, 10)); err != nil {
			return err
		}
	}
	if c.Idle != nil {
		if err := writeFile(dir, "cpu.idle", strconv.FormatInt(*c.Idle, 10)); err != nil {
			return err
		}
	}
	if quota, period := i64(c.Quota), u64(c.Period); quota != 0 || period != 0 {
		var v string
		switch {
		case quota > 0:
			v = strconv.FormatInt(quota, 10)
		case quota < 0:
			v = "max"
		default: // only the period changes: keep the current quota
			v = "max"
			if cur, err := readFile(dir, "cpu.max"); err == nil && len(strings.Fields(cur)) > 0 {
				v = strings.Fields(cur)[0]
			}
		}
		if period != 0 {
			v += " " + strconv.FormatUint(period, 10)
		}
		if err := writeFile(dir, "cpu.max", v); err != nil {
			return err
		}
	}
	if c.Burst != nil {
		if err := writeFile(dir, "cpu.max.burst", strconv.FormatUint(*c.Burst, 10)); err != nil {
			return err
		}
	}
	if i64(c.RealtimeRuntime) != 0 || u64(c.RealtimePeriod) != 0 {
		return errors.New("realtime cpu scheduling limits are not available on cgroup v2")
	}
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

// setMemoryV2 writes memory.swap.max, memory.max and memory.low. Swap
// in the spec is memory+swap; cgroup v2 limits swap alone. Swappiness
// and the OOM-killer switch have no cgroup v2 file and are ignored, as
// runc does.
func setMemoryV2(dir string, mem *specs.LinuxMemory) error {
	limit := i64(mem.Limit)
	swap, err := swapToV2(i64(mem.Swap), limit)
	if err != nil {
		return err
	}
	if swap != 0 {
		if !fileExists(dir, "memory.swap.max") {
			if swap == -1 && i64(mem.Swap) == 0 {
				swap = 0 // implied by an unlimited memory limit; no swap accounting here
			} else if err := requireFile(dir, "memory.swap.max", "swap limit"); err != nil {
				return err
			}
		}
	}
	if mem.CheckBeforeUpdate != nil && *mem.CheckBeforeUpdate && limit > 0 {
		usage, err := readUint(dir, "memory.current")
		if err != nil {
			return err
		}
		if usage > uint64(limit) {
			return fmt.Errorf("memory limit %d is below the current usage %d", limit, usage)
		}
	}
	if swap != 0 {
		if err := writeFile(dir, "memory.swap.max", limitString(swap)); err != nil {
			return err
		}
	}
	if limit != 0 {
		if err := writeFile(dir, "memory.max", limitString(limit)); err != nil {
			return err
		}
	}
	if res := i64(mem.Reservation); res != 0 {
		if err := writeFile(dir, "memory.low", limitString(res)); err != nil {
			return err
		}
	}
	return nil
}

// setIOV2 writes io weights (io.bfq.weight when the BFQ scheduler is in
// use, io.weight otherwise) and io.max throttling, one line per device.
// The CFQ-only leaf weights have no cgroup v2 equivalent and are ignored.
func setIOV2(dir string, b *specs.LinuxBlockIO) error {
	bfq := fileExists(dir, "io.bfq.weight")
	if b.Weight != nil && *b.Weight != 0 {
		var err error
		if bfq {
			err = writeFile(dir, "io.bfq.weight", strconv.FormatUint(uint64(*b.Weight), 10))
		} else if err = requireFile(dir, "io.weight", "io weight"); err == nil {
			err = writeFile(dir, "io.weight", strconv.FormatUint(blkioWeightToIOWeight(*b.Weight), 10))
		}
		if err != nil {
			return err
		}
	}
	for _, wd := range b.WeightDevice {
		if wd.Weight == nil {
			continue
		}
		dev := fmt.Sprintf("%d:%d", wd.Major, wd.Minor)
		var err error
		if bfq {
			err = writeFile(dir, "io.bfq.weight", dev+" "+strconv.FormatUint(uint64(*wd.Weight), 10))
		} else if err = requireFile(dir, "io.weight", "io weight device"); err == nil {
			err = writeFile(dir, "io.weight", dev+" "+strconv.FormatUint(blkioWeightToIOWeight(*wd.Weight), 10))
		}
		if err != nil {
			return err
		}
	}
	var order []string
	lines := map[string][]string{}
	for _, t := range []struct {
		key  string
		devs []specs.LinuxThrottleDevice
	}{
		{"rbps", b.ThrottleReadBpsDevice},
		{"wbps", b.ThrottleWriteBpsDevice},
		{"riops", b.ThrottleReadIOPSDevice},
		{"wiops", b.ThrottleWriteIOPSDevice},
	} {
		for _, d := range t.devs {
			dev := fmt.Sprintf("%d:%d", d.Major, d.Minor)
			if _, ok := lines[dev]; !ok {
				order = append(order, dev)
			}
			rate := strconv.FormatUint(d.Rate, 10)
			if d.Rate == 0 {
				rate = "max" // 0 removes the limit
			}
			lines[dev] = append(lines[dev], t.key+"="+rate)
		}
	}
	if len(order) > 0 {
		if err := requireFile(dir, "io.max", "io throttling"); err != nil {
			return err
		}
	}
	for _, dev := range order {
		if err := writeFile(dir, "io.max", dev+" "+strings.Join(lines[dev], " ")); err != nil {
			return err
		}
	}
	return nil
}

// setDevicesV2 compiles the rules into an eBPF program and attaches it.
// On a fake root (not a cgroup2 filesystem, in tests) the program is
// still generated, so bad rules fail the same way, but not attached.
func setDevicesV2(dir string, rules []specs.LinuxDeviceCgroup) error {
	norm, err := normaliseDeviceRules(rules)
	if err != nil {
		return err
	}
	prog := deviceFilterProgram(norm)
	if !isCgroupFS(dir) {
		return nil
	}
	return attachDeviceFilter(dir, prog)
}

// setUnified writes each key of a spec's unified map as an interface
// file, in sorted order.
func setUnified(dir string, unified map[string]string) error {
	keys := make([]string, 0, len(unified))
	for k := range unified {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "" || strings.ContainsAny(k, "/\x00") || k[0] == '.' || !strings.Contains(k, ".") {
			return fmt.Errorf("unified resource %q: not a cgroup interface file name", k)
		}
		if err := writeFile(dir, k, unified[k]); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				ctrl := k[:strings.IndexByte(k, '.')]
				return fmt.Errorf("unified resource %q: no such file (is the %s controller enabled?): %w", k, ctrl, err)
			}
			return fmt.Errorf("unified resource %q: %w", k, err)
		}
	}
	return nil
}
