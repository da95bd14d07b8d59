// Package cgroups manages the control groups of one container: it creates
// the cgroup in every mounted hierarchy (cgroup v1, v2 or the hybrid of
// both), moves processes in, writes resource limits from an OCI runtime
// spec, freezes and thaws, reads statistics and removes the cgroup again.
//
// It is berth's counterpart of runc's libcontainer/cgroups/fs and fs2:
// plain file writes under the cgroupfs mounts, no systemd.
package cgroups

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultRoot is where the cgroup filesystems are mounted on every
// mainstream distribution.
const DefaultRoot = "/sys/fs/cgroup"

// Freezer states reported by Manager.FreezerState.
const (
	Frozen = "FROZEN"
	Thawed = "THAWED"
)

// Options tunes New.
type Options struct {
	// Root is the cgroupfs mount root; "" means /sys/fs/cgroup. Tests pass
	// a fake root in a temporary directory.
	Root string
}

// Manager controls the cgroup of one container.
type Manager interface {
	// Apply creates the cgroup in every hierarchy (idempotent) and moves
	// pid in. A pid <= 0 only creates the cgroup.
	Apply(pid int) error
	// Create creates the cgroup in every hierarchy (idempotent).
	Create() error
	// CreateUnified creates the cgroup in the unified hierarchy only
	// (idempotent), which is all Birthplace's cgroupFD needs.
	CreateUnified() error
	// Birthplace says how a new process is born in the created cgroup
	// instead of being migrated into it; see the implementation.
	Birthplace() (cgroupFD int, tasks []string, err error)
	// Set creates the cgroup if needed and writes the limits of r; nil
	// and unset fields leave the current values alone.
	Set(r *specs.LinuxResources) error
	// Freeze freezes every process of the cgroup and waits until the
	// kernel reports the cgroup frozen.
	Freeze() error
	// Thaw resumes the processes of a frozen cgroup.
	Thaw() error
	// FreezerState reports Frozen or Thawed.
	FreezerState() (string, error)
	// Pids lists every process in the cgroup and its descendants.
	Pids() ([]int, error)
	// Stats reads the resource usage of the cgroup.
	Stats() (*Stats, error)
	// OOMKillCount is the number of processes the OOM killer killed in
	// the cgroup.
	OOMKillCount() (uint64, error)
	// Destroy removes the cgroup (descendants first) from every
	// hierarchy; a cgroup that does not exist is not an error.
	Destroy() error
	// RemoveIfEmpty removes the cgroup with one rmdir per hierarchy and
	// fails without retrying when one is in use.
	RemoveIfEmpty() error
	// Paths maps each subsystem to its absolute directory; the key ""
	// is the unified (cgroup v2) directory.
	Paths() map[string]string
	// Version is 2 on a pure cgroup v2 host and 1 otherwise (hybrid
	// hosts report 1).
	Version() int
}
