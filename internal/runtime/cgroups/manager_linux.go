package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// group is the container's cgroup in one hierarchy.
type group struct {
	h   hierarchy
	dir string
}

type manager struct {
	mode    mode
	groups  []group           // one per hierarchy
	paths   map[string]string // subsystem -> dir; "" -> unified dir
	created bool              // by this manager: Apply and Set need not again
	// unifiedMade: CreateUnified made the unified group (Create makes
	// the others).
	unifiedMade bool
}

var _ Manager = (*manager)(nil)

// New returns the manager of the container id's cgroup at cgroupsPath
// (spec.Linux.CgroupsPath). An absolute cgroupsPath is relative to each
// hierarchy's root; a relative one is joined onto the calling process's
// own cgroup in that hierarchy, as runc does; "" means /berth/<id>. New
// only computes paths: the same arguments always name the same cgroup,
// and nothing is created before Apply or Set.
func New(cgroupsPath, id string, opts Options) (Manager, error) {
	return newManager(cgroupsPath, id, opts, "/proc/self/mountinfo", "/proc/self/cgroup")
}

func newManager(cgroupsPath, id string, opts Options, mountinfo, procCgroup string) (*manager, error) {
	if cgroupsPath == "" {
		if id == "" || strings.Contains(id, "/") || id == "." || id == ".." {
			return nil, fmt.Errorf("cgroup for container %q: invalid id and no cgroups path", id)
		}
		cgroupsPath = "/berth/" + id
	}
	root := opts.Root
	if root == "" {
		root = DefaultRoot
	}
	root = filepath.Clean(root)
	l, err := layoutFor(root, mountinfo)
	if err != nil {
		return nil, err
	}
	var own map[string]string
	if !filepath.IsAbs(cgroupsPath) {
		if own, err = ParseCgroupFile(procCgroup); err != nil {
			return nil, fmt.Errorf("relative cgroups path %q: %w", cgroupsPath, err)
		}
	}
	m := &manager{mode: l.mode, paths: map[string]string{}}
	for _, h := range l.hierarchies {
		dir, err := cgroupDir(h, cgroupsPath, own)
		if err != nil {
			return nil, err
		}
		m.groups = append(m.groups, group{h: h, dir: dir})
		if h.unified {
			m.paths[""] = dir
			continue
		}
		for _, s := range h.subsystems {
			m.paths[s] = dir
		}
	}
	return m, nil
}

func (m *manager) Paths() map[string]string {
	out := make(map[string]string, len(m.paths))
	for k, v := range m.paths {
		out[k] = v
	}
	return out
}

func (m *manager) Version() int {
	if m.mode == modeUnified {
		return 2
	}
	return 1
}

// unifiedDir is the container's cgroup2 directory, "" if there is none.
func (m *manager) unifiedDir() string { return m.paths[""] }

// subsystemDir is the v1 directory of subsystem s, "" if not mounted.
func (m *manager) subsystemDir(s string) string {
	if m.mode == modeUnified || s == "" {
		return ""
	}
	return m.paths[s]
}

// create makes the cgroup in every hierarchy.
func (m *manager) create() error {
	if m.created {
		return nil
	}
	for _, g := range m.groups {
		if g.h.unified && m.unifiedMade {
			continue
		}
		var err error
		switch {
		case g.h.unified:
			err = createUnified(g.h.mountpoint, g.dir)
		case containsString(g.h.subsystems, "cpuset"):
			err = createCpuset(g.h.mountpoint, g.dir)
		default:
			err = mkdirAll(g.dir)
		}
		if err != nil {
			return fmt.Errorf("create cgroup %s: %w", g.dir, err)
		}
	}
	m.created = true
	return nil
}

func (m *manager) Apply(pid int) error {
	if err := m.create(); err != nil {
		return err
	}
	if pid <= 0 {
		return nil
	}
	for _, g := range m.groups {
		if err := writeFile(g.dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("add pid %d to cgroup: %w", pid, err)
		}
	}
	return nil
}

// mkdirAll is os.MkdirAll(dir, 0o755) that tries the usual case first: a
// new cgroup whose parent exists (one system call instead of three).
func mkdirAll(dir string) error {
	if unix.Mkdir(dir, 0o755) == nil {
		return nil
	}
	return os.MkdirAll(dir, 0o755)
}

// createUnified creates dir below the cgroup2 mount, enabling in each
// ancestor's cgroup.subtree_control every controller it has, so that the
// container's cgroup gets them all (runc does the same).
func createUnified(mountpoint, dir string) error {
	rel, err := filepath.Rel(mountpoint, dir)
	if err != nil {
		return err
	}
	cur := mountpoint
	var inherited []string
	for _, part := range splitPath(rel) {
		available := inherited
		if s, err := readFile(cur, "cgroup.controllers"); err == nil {
			available = strings.Fields(s)
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		inherited = enableControllers(cur, available)
		cur = filepath.Join(cur, part)
		if err := os.Mkdir(cur, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	return nil
}

// enableControllers writes "+c" for every controller to
// dir/cgroup.subtree_control and returns the ones the kernel accepted.
// When writing them all at once fails, each is tried on its own.
func enableControllers(dir string, controllers []string) []string {
	if len(controllers) == 0 {
		return nil
	}
	all := make([]string, len(controllers))
	for i, c := range controllers {
		all[i] = "+" + c
	}
	if err := writeFile(dir, "cgroup.subtree_control", strings.Join(all, " ")); err == nil {
		return controllers
	}
	var ok []string
	for _, c := range controllers {
		if writeFile(dir, "cgroup.subtree_control", "+"+c) == nil {
			ok = append(ok, c)
		}
	}
	return ok
}

// createCpuset creates dir in the v1 cpuset hierarchy. A new cpuset
// cgroup starts with empty cpuset.cpus and cpuset.mems, and no task can
// join it until they are set, so each new level copies its parent's.
func createCpuset(mountpoint, dir string) error {
	rel, err := filepath.Rel(mountpoint, dir)
	if err != nil {
		return err
	}
	cur := mountpoint
	for _, part := range splitPath(rel) {
		parent := cur
		cur = filepath.Join(cur, part)
		if err := os.Mkdir(cur, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if err := copyIfEmpty(parent, cur, f); err != nil {
				return err
			}
		}
	}
	return nil
}

func copyIfEmpty(parent, dir, name string) error {
	v, err := readFile(dir, name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil || strings.TrimSpace(v) != "" {
		return err
	}
	pv, err := readFile(parent, name)
	if err != nil {
		return err
	}
	return writeFile(dir, name, pv)
}

func splitPath(rel string) []string {
	var out []string
	for _, p := range strings.Split(filepath.ToSlash(rel), "/") {
		if p != "" && p != "." {
			out = append(out, p)
		}
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// procsDir is the directory whose processes are the container's.
func (m *manager) procsDir() (string, error) {
	if m.mode == modeUnified {
		return m.unifiedDir(), nil
	}
	for _, s := range []string{"pids", "freezer", "memory", "cpu", "devices", "cpuset", "blkio"} {
		if d := m.subsystemDir(s); d != "" {
			return d, nil
		}
	}
	for _, g := range m.groups {
		return g.dir, nil
	}
	return "", errors.New("no cgroup hierarchy mounted")
}

func (m *manager) Pids() ([]int, error) {
	dir, err := m.procsDir()
	if err != nil {
		return nil, err
	}
	var pids []int
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && p != dir {
				return nil // a child cgroup went away meanwhile
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		ps, err := readProcs(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && p != dir {
				return nil
			}
			return err
		}
		pids = append(pids, ps...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list pids of cgroup %s: %w", dir, err)
	}
	return pids, nil
}

func (m *manager) Destroy() error {
	m.created, m.unifiedMade = false, false
	var errs []error
	seen := map[string]bool{}
	for _, g := range m.groups {
		if seen[g.dir] {
			continue
		}
		seen[g.dir] = true
		if err := removeCgroup(g.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RemoveIfEmpty removes the cgroup of a container known to have no process
// left with one rmdir per hierarchy; it fails (EBUSY) at once, without
// retries, when one is still in use. Destroy removes what is left.
func (m *manager) RemoveIfEmpty() error {
	m.created, m.unifiedMade = false, false
	for _, g := range m.groups {
		if err := unix.Rmdir(g.dir); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("remove cgroup %s: %w", g.dir, err)
		}
	}
	return nil
}

func (m *manager) OOMKillCount() (uint64, error) {
	dir, file := m.unifiedDir(), "memory.events"
	if m.mode != modeUnified {
		dir, file = m.subsystemDir("memory"), "memory.oom_control"
		if dir == "" {
			return 0, errors.New("oom kill count: memory cgroup not mounted")
		}
	}
	kv, err := readKeyed(dir, file)
	if err != nil {
		return 0, fmt.Errorf("oom kill count: %w", err)
	}
	return kv["oom_kill"], nil
}

var (
	hostLayoutOnce sync.Once
	hostLayout     *layout
	hostLayoutErr  error
)

// layoutFor discovers the hierarchies once per process for the real
// cgroupfs: a runtime command or the daemon builds several managers, and
// parsing mountinfo each time showed up in the per-container path.
func layoutFor(root, mountinfo string) (*layout, error) {
	if root != DefaultRoot || mountinfo != "/proc/self/mountinfo" {
		return discoverLayout(root, mountinfo)
	}
	hostLayoutOnce.Do(func() { hostLayout, hostLayoutErr = discoverLayout(root, mountinfo) })
	return hostLayout, hostLayoutErr
}
