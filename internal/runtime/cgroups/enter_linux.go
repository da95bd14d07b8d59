package cgroups

import (
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Create creates the cgroup in every hierarchy (idempotent), writing
// nothing else.
func (m *manager) Create() error { return m.create() }

// CreateUnified creates the cgroup in the unified hierarchy only, if
// there is one (idempotent): all that Birthplace's cgroupFD needs, so a
// process can be born in it while Create makes the v1 groups.
func (m *manager) CreateUnified() error {
	if m.created || m.unifiedMade {
		return nil
	}
	for _, g := range m.groups {
		if g.h.unified {
			if err := createUnified(g.h.mountpoint, g.dir); err != nil {
				return fmt.Errorf("create cgroup %s: %w", g.dir, err)
			}
		}
	}
	m.unifiedMade = true
	return nil
}

// Birthplace says how a new process gets into the cgroup (made by Create,
// or in the unified hierarchy by CreateUnified)
// without being migrated: cgroupFD, a handle on the unified (cgroup v2)
// directory for clone3's CLONE_INTO_CGROUP (-1 when there is none), and
// the "tasks" files of the v1 hierarchies, to which the new process,
// still single-threaded, writes "0" to move itself. The caller closes
// cgroupFD.
//
// Migrating a process by writing its pid to cgroup.procs takes the
// kernel's global threadgroup lock, whose writers wait for an RCU grace
// period: milliseconds per container. A thread moving itself (pid 0 in
// "tasks") and a process born in place skip it.
func (m *manager) Birthplace() (cgroupFD int, tasks []string, err error) {
	cgroupFD = -1
	for _, g := range m.groups {
		if !g.h.unified {
			tasks = append(tasks, filepath.Join(g.dir, "tasks"))
			continue
		}
		fd, err := unix.Open(g.dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, nil, fmt.Errorf("open cgroup %s: %w", g.dir, err)
		}
		var st unix.Statfs_t
		if unix.Fstatfs(fd, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			cgroupFD = fd
		} else {
			unix.Close(fd) // a fake cgroupfs (tests): nothing to be born into
		}
	}
	return cgroupFD, tasks, nil
}
