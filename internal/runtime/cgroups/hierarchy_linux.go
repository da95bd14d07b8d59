package cgroups

import (
	"fmt"
	"github.com/moby/sys/mountinfo"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/runtime/kfile"
)

// mode is how the cgroup hierarchies of a host are laid out.
type mode int

const (
	modeV1      mode = iota + 1 // only cgroup v1 hierarchies
	modeHybrid                  // v1 hierarchies plus a cgroup2 mount below the root
	modeUnified                 // one cgroup2 hierarchy at the root
)

// v1Controllers are the cgroup v1 subsystems the manager knows; named
// hierarchies such as name=systemd are left alone, as runc does.
var v1Controllers = map[string]bool{
	"cpuset": true, "cpu": true, "cpuacct": true, "blkio": true,
	"memory": true, "devices": true, "freezer": true, "net_cls": true,
	"perf_event": true, "net_prio": true, "hugetlb": true, "pids": true,
	"rdma": true, "misc": true,
}

// hierarchy is one mounted cgroup hierarchy.
type hierarchy struct {
	mountpoint string   // where it is mounted
	root       string   // the cgroup that is mounted there ("/" normally)
	subsystems []string // v1 controllers; empty for the unified hierarchy
	unified    bool
}

// layout is the set of hierarchies under one cgroupfs root.
type layout struct {
	mode        mode
	hierarchies []hierarchy
}

// IsCgroup2UnifiedMode reports whether root ("" = /sys/fs/cgroup) is a
// cgroup v2 (unified) hierarchy: a cgroup2 mount, or, for a fake root, a
// directory with a cgroup.controllers file.
func IsCgroup2UnifiedMode(root string) bool {
	if root == "" {
		root = DefaultRoot
	}
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return true
	}
	_, err := os.Stat(filepath.Join(root, "cgroup.controllers"))
	return err == nil
}

// discoverLayout finds the hierarchies under root from the mount table,
// or, when nothing is mounted there (a fake root in tests), from the
// files: cgroup.controllers at root means v2; otherwise every
// subdirectory is a v1 hierarchy named after its comma-separated
// controllers, and a subdirectory with cgroup.controllers is the unified
// hierarchy of a hybrid layout.
func discoverLayout(root, mountinfo string) (*layout, error) {
	mounts, err := cgroupMounts(mountinfo, root)
	if err != nil {
		return nil, err
	}
	if len(mounts) == 0 {
		return fakeLayout(root)
	}
	l := &layout{}
	v1 := false
	for _, h := range mounts {
		if h.unified && h.mountpoint == root {
			return &layout{mode: modeUnified, hierarchies: []hierarchy{h}}, nil
		}
		if !h.unified {
			v1 = true
		}
		l.hierarchies = append(l.hierarchies, h)
	}
	switch {
	case !v1:
		return nil, fmt.Errorf("cgroup layout under %s: only cgroup2 mounts below the root, none at it", root)
	case len(l.hierarchies) > 0 && hasUnified(l.hierarchies):
		l.mode = modeHybrid
	default:
		l.mode = modeV1
	}
	return l, nil
}

func hasUnified(hs []hierarchy) bool {
	for _, h := range hs {
		if h.unified {
			return true
		}
	}
	return false
}

// cgroupMounts lists the cgroup and cgroup2 mounts at or below root. When
// a mountpoint was mounted several times, the last mount wins.
func cgroupMounts(mountinfoPath, root string) ([]hierarchy, error) {
	var mounts []*mountinfo.Info
	var err error
	if mountinfoPath == "/proc/self/mountinfo" {
		mounts, err = HostMounts()
	} else {
		mounts, err = readCgroupMounts(mountinfoPath)
	}
	if err != nil {
		return nil, err
	}
	byPoint := map[string]hierarchy{}
	for _, m := range mounts {
		point := m.Mountpoint
		if point != root && !strings.HasPrefix(point, root+"/") {
			continue
		}
		h := hierarchy{mountpoint: point, root: m.Root, unified: m.FSType == "cgroup2"}
		if !h.unified {
			for _, o := range strings.Split(m.VFSOptions, ",") {
				if v1Controllers[o] {
					h.subsystems = append(h.subsystems, o)
				}
			}
			if len(h.subsystems) == 0 {
				delete(byPoint, point)
				continue // a named hierarchy such as name=systemd
			}
		}
		byPoint[point] = h
	}
	out := make([]hierarchy, 0, len(byPoint))
	for _, h := range byPoint {
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].mountpoint < out[j].mountpoint })
	return out, nil
}

func readCgroupMounts(mountinfoPath string) ([]*mountinfo.Info, error) {
	f, err := os.Open(mountinfoPath)
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	defer f.Close()
	mounts, err := mountinfo.GetMountsFromReader(f, func(m *mountinfo.Info) (skip, stop bool) {
		return m.FSType != "cgroup" && m.FSType != "cgroup2", false
	})
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	return mounts, nil
}

// HostMounts lists this process's cgroup and cgroup2 mounts, in mount
// table order, read once per process: generating /proc/self/mountinfo is
// not cheap, and the runtime needs the list twice per container (the
// layout here, the container's /sys/fs/cgroup view in package runtime).
// The caller must not modify the entries.
var HostMounts = sync.OnceValues(func() ([]*mountinfo.Info, error) {
	return readCgroupMounts("/proc/self/mountinfo")
})

func fakeLayout(root string) (*layout, error) {
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		return &layout{mode: modeUnified, hierarchies: []hierarchy{{mountpoint: root, root: "/", unified: true}}}, nil
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("cgroup root %s: %w", root, err)
	}
	l := &layout{mode: modeV1}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		if _, err := os.Stat(filepath.Join(dir, "cgroup.controllers")); err == nil {
			l.hierarchies = append(l.hierarchies, hierarchy{mountpoint: dir, root: "/", unified: true})
			l.mode = modeHybrid
			continue
		}
		h := hierarchy{mountpoint: dir, root: "/"}
		for _, s := range strings.Split(e.Name(), ",") {
			if v1Controllers[s] {
				h.subsystems = append(h.subsystems, s)
			}
		}
		if len(h.subsystems) > 0 {
			l.hierarchies = append(l.hierarchies, h)
		}
	}
	if len(l.hierarchies) == 0 || (l.mode == modeHybrid && len(l.hierarchies) == 1) {
		return nil, fmt.Errorf("cgroup root %s: no cgroup hierarchy found", root)
	}
	return l, nil
}

// ParseCgroupFile parses a /proc/<pid>/cgroup file into a map from
// controller to cgroup path. Co-mounted controllers ("cpu,cpuacct") get
// one key each, named hierarchies keep their "name=" key, and the
// unified (cgroup v2) entry has the key "".
func ParseCgroupFile(path string) (map[string]string, error) {
	data, err := kfile.Read(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if line == "" {
			continue
		}
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("parse %s: malformed line %q", path, line)
		}
		if parts[1] == "" {
			out[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out, nil
}

// cgroupDir is where the cgroup at cgroupsPath lives in hierarchy h.
// Absolute paths are relative to the hierarchy's root; relative ones are
// joined onto the cgroup that own (the calling process's cgroups) names
// for this hierarchy.
func cgroupDir(h hierarchy, cgroupsPath string, own map[string]string) (string, error) {
	if filepath.IsAbs(cgroupsPath) {
		return filepath.Join(h.mountpoint, cgroupsPath), nil
	}
	key := ""
	if !h.unified {
		key = h.subsystems[0]
	}
	cur, ok := own[key]
	if !ok {
		return "", fmt.Errorf("relative cgroups path %q: own cgroup for %q: %w", cgroupsPath, hierarchyName(h), os.ErrNotExist)
	}
	// A cgroup namespace or bind mount shows only the subtree at h.root.
	if h.root != "/" && (cur == h.root || strings.HasPrefix(cur, h.root+"/")) {
		cur = strings.TrimPrefix(cur, h.root)
	}
	// Join onto "/" first so that ".." cannot climb above the mount.
	return filepath.Join(h.mountpoint, filepath.Join("/", cur, cgroupsPath)), nil
}

func hierarchyName(h hierarchy) string {
	if h.unified {
		return "unified"
	}
	return strings.Join(h.subsystems, ",")
}
