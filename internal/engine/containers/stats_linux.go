package containers

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"

	crec "github.com/berth-project/berth/internal/container"
)

// statsInterval is the gap between the two CPU samples of one stats
// answer and between streamed answers.
const statsInterval = time.Second

// Stats sends resource usage samples of the container to send: one (with
// a CPU sample taken statsInterval earlier unless oneShot) or, with
// stream, one per interval until ctx ends or send fails.
func (s *Service) Stats(ctx context.Context, ref string, stream, oneShot bool, send func(container.StatsResponse) error) error {
	c, err := s.store.Get(ref)
	if err != nil {
		return err
	}
	prev := s.sample(c)
	if !oneShot || stream {
		select {
		case <-time.After(statsInterval):
		case <-ctx.Done():
			return nil
		}
	}
	for {
		c, err = s.store.Get(c.ID)
		if err != nil {
			return err
		}
		cur := s.sample(c)
		cur.PreCPUStats, cur.PreRead = prev.CPUStats, prev.Read
		if err := send(cur); err != nil || !stream {
			return err
		}
		prev = cur
		select {
		case <-time.After(statsInterval):
		case <-ctx.Done():
			return nil
		}
	}
}

// sample reads the container's cgroup counters (v1 hierarchies, or the
// v2 unified one) and the host's CPU time.
func (s *Service) sample(c *crec.Container) container.StatsResponse {
	st := container.StatsResponse{ID: c.ID, Name: "/" + c.Name, OSType: "linux", Read: time.Now()}
	if !c.State.Running() {
		return st
	}
	rel := filepath.Join(s.cgroupParent(), c.ID)
	v1 := func(ctrl, file string) (uint64, bool) {
		return readUint(filepath.Join("/sys/fs/cgroup", ctrl, rel, file))
	}
	v2 := func(file string) (uint64, bool) { return readUint(filepath.Join("/sys/fs/cgroup", rel, file)) }
	st.CPUStats.SystemUsage = hostCPUNanos()
	st.CPUStats.OnlineCPUs = uint32(runtime.NumCPU())
	if n, ok := v1("cpuacct", "cpuacct.usage"); ok {
		st.CPUStats.CPUUsage.TotalUsage = n
		mem := &st.MemoryStats
		mem.Usage, _ = v1("memory", "memory.usage_in_bytes")
		mem.MaxUsage, _ = v1("memory", "memory.max_usage_in_bytes")
		mem.Failcnt, _ = v1("memory", "memory.failcnt")
		mem.Limit, _ = v1("memory", "memory.limit_in_bytes")
		mem.Stats = readKeyValues(filepath.Join("/sys/fs/cgroup/memory", rel, "memory.stat"))
		st.PidsStats.Current, _ = v1("pids", "pids.current")
		st.PidsStats.Limit, _ = v1("pids", "pids.max")
	} else {
		cpu := readKeyValues(filepath.Join("/sys/fs/cgroup", rel, "cpu.stat"))
		st.CPUStats.CPUUsage.TotalUsage = cpu["usage_usec"] * 1000
		st.CPUStats.CPUUsage.UsageInUsermode = cpu["user_usec"] * 1000
		st.CPUStats.CPUUsage.UsageInKernelmode = cpu["system_usec"] * 1000
		st.MemoryStats.Usage, _ = v2("memory.current")
		st.MemoryStats.Limit, _ = v2("memory.max")
		st.MemoryStats.Stats = readKeyValues(filepath.Join("/sys/fs/cgroup", rel, "memory.stat"))
		st.PidsStats.Current, _ = v2("pids.current")
		st.PidsStats.Limit, _ = v2("pids.max")
	}
	if st.MemoryStats.Limit == 0 || st.MemoryStats.Limit > hostMemory() {
		st.MemoryStats.Limit = hostMemory()
	}
	st.NumProcs = uint32(st.PidsStats.Current)
	return st
}

func readUint(path string) (uint64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n, err == nil
}

func readKeyValues(path string) map[string]uint64 {
	out := map[string]uint64{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}

// hostCPUNanos is the host's total CPU time from /proc/stat, in ns.
func hostCPUNanos() uint64 {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 1 && fields[0] == "cpu" {
			var ticks uint64
			for _, v := range fields[1:8] {
				n, _ := strconv.ParseUint(v, 10, 64)
				ticks += n
			}
			return ticks * (1e9 / 100) // USER_HZ is 100 on Linux
		}
	}
	return 0
}

func hostMemory() uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			n, _ := strconv.ParseUint(fields[1], 10, 64)
			return n * 1024
		}
	}
	return 0
}
