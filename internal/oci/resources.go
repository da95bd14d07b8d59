package oci

import (
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/internal/errdefs"
)

// cpuPeriod is the CFS period --cpus is expressed against (Docker's).
const cpuPeriod = 100000

// WithResources maps HostConfig resources (memory, swap, reservation,
// pids limit, cpus, cpu shares/quota/period, cpuset) to the spec.
func WithResources(r container.Resources) SpecOpt {
	return func(s *specs.Spec) error {
		res := s.Linux.Resources
		if r.Memory != 0 || r.MemorySwap != 0 || r.MemoryReservation != 0 {
			if r.Memory < 0 || (r.Memory > 0 && r.Memory < 6*1024*1024) {
				return errdefs.InvalidArgumentf("Minimum memory limit allowed is 6MB")
			}
			m := &specs.LinuxMemory{}
			if r.Memory > 0 {
				m.Limit = ptr(r.Memory)
				swap := r.MemorySwap
				if swap == 0 {
					swap = 2 * r.Memory
				}
				if swap > 0 && swap < r.Memory {
					return errdefs.InvalidArgumentf("Minimum memoryswap limit should be larger than memory limit, see usage")
				}
				m.Swap = ptr(swap)
			}
			if r.MemoryReservation > 0 {
				m.Reservation = ptr(r.MemoryReservation)
			}
			res.Memory = m
		}
		if r.PidsLimit != nil && *r.PidsLimit > 0 {
			res.Pids = &specs.LinuxPids{Limit: ptr(*r.PidsLimit)}
		}
		cpu := &specs.LinuxCPU{}
		set := false
		if r.NanoCPUs > 0 {
			if r.CPUQuota > 0 || r.CPUPeriod > 0 {
				return errdefs.InvalidArgumentf("Conflicting options: Nano CPUs and CPU Period cannot both be set")
			}
			cpu.Period = ptr(uint64(cpuPeriod))
			cpu.Quota = ptr(r.NanoCPUs * cpuPeriod / 1e9)
			set = true
		}
		if r.CPUQuota > 0 {
			cpu.Quota = ptr(r.CPUQuota)
			set = true
		}
		if r.CPUPeriod > 0 {
			cpu.Period = ptr(uint64(r.CPUPeriod))
			set = true
		}
		if r.CPUShares > 0 {
			cpu.Shares = ptr(uint64(r.CPUShares))
			set = true
		}
		if r.CpusetCpus != "" {
			cpu.Cpus = r.CpusetCpus
			set = true
		}
		if r.CpusetMems != "" {
			cpu.Mems = r.CpusetMems
			set = true
		}
		if set {
			res.CPU = cpu
		}
		return nil
	}
}

func ptr[T any](v T) *T { return &v }
