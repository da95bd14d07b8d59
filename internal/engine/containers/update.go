package containers

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/oci"
)

// Update changes a container's resource limits and restart policy; a
// running container gets the new limits at once (runtime update), its
// shim the new policy.
func (s *Service) Update(ctx context.Context, ref string, upd container.UpdateConfig) ([]string, error) {
	c, unlock, err := s.getLocked(ref)
	if err != nil {
		return nil, err
	}
	defer unlock()
	hc := *c.HostConfig
	r := &hc.Resources
	n := upd.Resources
	if n.Memory != 0 {
		r.Memory = n.Memory
	}
	if n.MemorySwap != 0 {
		r.MemorySwap = n.MemorySwap
	}
	if n.MemoryReservation != 0 {
		r.MemoryReservation = n.MemoryReservation
	}
	if n.NanoCPUs != 0 {
		r.NanoCPUs, r.CPUQuota, r.CPUPeriod = n.NanoCPUs, 0, 0
	}
	if n.CPUShares != 0 {
		r.CPUShares = n.CPUShares
	}
	if n.CpusetCpus != "" {
		r.CpusetCpus = n.CpusetCpus
	}
	if n.CpusetMems != "" {
		r.CpusetMems = n.CpusetMems
	}
	if n.PidsLimit != nil {
		r.PidsLimit = n.PidsLimit
	}
	if upd.RestartPolicy.Name != "" {
		hc.RestartPolicy = upd.RestartPolicy
	}
	if err := validateHostConfig(&hc); err != nil {
		return nil, err
	}
	scratch, err := oci.New(oci.WithResources(hc.Resources))
	if err != nil {
		return nil, err
	}
	res := scratch.Linux.Resources
	res.Devices = nil
	if c.State.Running() {
		if err := s.updateRunning(ctx, c.ID, c.Dir, res, hc.RestartPolicy); err != nil {
			return nil, err
		}
	}
	c.HostConfig = &hc
	if err := s.save(c); err != nil {
		return nil, err
	}
	s.emit(c, eventtypes.ActionUpdate, nil)
	return []string{}, nil
}

// updateRunning applies new limits with the runtime, records them in the
// bundle (for restarts by the shim) and tells the shim the policy.
func (s *Service) updateRunning(ctx context.Context, id, dir string, res *specs.LinuxResources, policy container.RestartPolicy) error {
	c, err := s.store.Get(id)
	if err != nil {
		return err
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	resFile := filepath.Join(dir, "update.json")
	if err := os.WriteFile(resFile, b, 0o600); err != nil {
		return err
	}
	defer os.Remove(resFile)
	rt, err := s.shimRuntime(c)
	if err != nil {
		return err
	}
	if err := runtimeCmd(rt.Argv("update", "--resources", resFile, id)); err != nil {
		return errdefs.InvalidArgument(fmt.Errorf("cannot update container %s: %w", id[:12], err))
	}
	specFile := filepath.Join(dir, "config.json")
	raw, err := os.ReadFile(specFile)
	if err != nil {
		return err
	}
	var spec specs.Spec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return err
	}
	res.Devices = spec.Linux.Resources.Devices
	spec.Linux.Resources = res
	if raw, err = json.Marshal(&spec); err != nil {
		return err
	}
	if err := os.WriteFile(specFile, raw, 0o600); err != nil {
		return err
	}
	return s.shimClient(id).SetRestartPolicy(ctx, string(policy.Name), policy.MaximumRetryCount)
}
