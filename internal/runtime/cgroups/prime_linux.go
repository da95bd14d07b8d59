package cgroups

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Prime starts, in the background, a no-op migration of the calling process
// into the cgroup it is already in. Moving a process between cgroups takes
// the kernel's cgroup threadgroup lock for writing, and the first writer
// after a quiet period waits for an RCU grace period (about 10 ms here;
// crun and runc pay it too). Taking it early lets that wait overlap the
// work before the container's real migration, which then finds the lock in
// its slow mode and does not wait again. Best effort: errors are ignored.
func Prime() {
	l, err := layoutFor(DefaultRoot, "/proc/self/mountinfo")
	if err != nil {
		return
	}
	own, err := ParseCgroupFile("/proc/self/cgroup")
	if err != nil {
		return
	}
	for _, h := range l.hierarchies {
		key := ""
		if !h.unified {
			if len(h.subsystems) == 0 {
				continue
			}
			key = h.subsystems[0]
		}
		rel, ok := own[key]
		if !ok {
			continue
		}
		// The mount shows the cgroup h.root at h.mountpoint.
		rel = strings.TrimPrefix(rel, h.root)
		procs := filepath.Join(h.mountpoint, rel, "cgroup.procs")
		pid := strconv.Itoa(os.Getpid())
		go func() { _ = os.WriteFile(procs, []byte(pid), 0) }()
		return
	}
}
