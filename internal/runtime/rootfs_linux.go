package runtime

import (
	"fmt"
	"github.com/moby/sys/mountinfo"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// rootfsSetup carries what later setup steps need from the mount phase.
type rootfsSetup struct {
	rootfs string
	// remountRO lists mount points (container paths) mounted read-write so
	// they could be filled, to be made read-only once filled.
	remountRO []string
	setupDev  bool
}

// prepareRootfs makes the rootfs a private mount point and mounts everything
// the spec asks for into it. Every destination is resolved inside the rootfs,
// so symlinks in the image cannot redirect a mount onto the host.
func prepareRootfs(cfg *initConfig) (*rootfsSetup, error) {
	spec := cfg.Spec
	rs := &rootfsSetup{rootfs: cfg.Rootfs, setupDev: needsDevSetup(spec)}
	// Slave while setting up, so nothing propagates to the host; the
	// requested rootfsPropagation is applied to the new root after pivot.
	if _, ok := propagationFlags[spec.Linux.RootfsPropagation]; !ok && spec.Linux.RootfsPropagation != "" {
		return nil, fmt.Errorf("invalid rootfsPropagation %q", spec.Linux.RootfsPropagation)
	}
	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return nil, fmt.Errorf("set propagation of /: %w", err)
	}
	if err := parentMountPrivate(cfg.Rootfs); err != nil {
		return nil, err
	}
	if err := unix.Mount(cfg.Rootfs, cfg.Rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return nil, fmt.Errorf("bind rootfs %s onto itself: %w", cfg.Rootfs, err)
	}
	for _, m := range spec.Mounts {
		if err := rs.mount(cfg, m); err != nil {
			return nil, fmt.Errorf("mount %s (%s) on %s: %w", m.Source, m.Type, m.Destination, err)
		}
	}
	if rs.setupDev {
		if err := createDevices(cfg.Rootfs, spec.Linux.Devices, true); err != nil {
			return nil, err
		}
		if err := devSymlinks(cfg.Rootfs); err != nil {
			return nil, err
		}
	} else if len(spec.Linux.Devices) > 0 {
		if err := createDevices(cfg.Rootfs, spec.Linux.Devices, false); err != nil {
			return nil, err
		}
	}
	return rs, nil
}

// needsDevSetup: default devices are created unless /dev is bind mounted
// from the host.
func needsDevSetup(spec *specs.Spec) bool {
	for _, m := range spec.Mounts {
		if filepath.Clean(m.Destination) == "/dev" && isBind(m) {
			return false
		}
	}
	return true
}

func isBind(m specs.Mount) bool {
	if m.Type == "bind" {
		return true
	}
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

// parentMountPrivate makes the mount holding rootfs private if it is shared,
// because pivot_root refuses a shared parent.
func parentMountPrivate(rootfs string) error {
	mi, err := readMountInfo()
	if err != nil {
		return err
	}
	best := ""
	shared := false
	for _, m := range mi {
		if (rootfs == m.Mountpoint || strings.HasPrefix(rootfs, strings.TrimSuffix(m.Mountpoint, "/")+"/")) && len(m.Mountpoint) >= len(best) {
			best = m.Mountpoint
			shared = strings.Contains(m.Optional, "shared:")
		}
	}
	if best != "" && shared {
		if err := unix.Mount("", best, "", unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("make %s private: %w", best, err)
		}
	}
	return nil
}

func readMountInfo() ([]*mountinfo.Info, error) {
	return mountinfo.GetMounts(nil)
}

// target resolves dest inside rootfs, creates it (a directory, or a file when
// isFile) and returns an O_PATH handle on it, checked to be inside rootfs.
// Mounting onto /proc/self/fd/N of that handle closes the window in which a
// symlink could be swapped in.
func target(rootfs, dest string, isFile bool) (*os.File, string, error) {
	path, err := securejoin.SecureJoin(rootfs, dest)
	if err != nil {
		return nil, "", err
	}
	if isFile {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, "", err
		}
		if _, err := os.Lstat(path); os.IsNotExist(err) {
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
			if err != nil {
				return nil, "", err
			}
			f.Close()
		}
	} else if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, "", err
	}
	fd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, "", err
	}
	f := os.NewFile(uintptr(fd), path)
	real, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		f.Close()
		return nil, "", err
	}
	if real != rootfs && !strings.HasPrefix(real, rootfs+"/") {
		f.Close()
		return nil, "", fmt.Errorf("mount target %s resolves outside the rootfs (%s)", dest, real)
	}
	return f, real, nil
}

func procFD(f *os.File) string { return "/proc/self/fd/" + strconv.Itoa(int(f.Fd())) }

func (rs *rootfsSetup) mount(cfg *initConfig, m specs.Mount) error {
	if !filepath.IsAbs(m.Destination) {
		m.Destination = "/" + m.Destination
	}
	po := parseMountOptions(m.Options)
	if m.Type == "cgroup" || m.Type == "cgroup2" {
		return rs.mountCgroups(cfg, m, po)
	}
	bind := isBind(m)
	isFile := false
	if bind {
		st, err := os.Stat(m.Source)
		if err != nil {
			return fmt.Errorf("bind source: %w", err)
		}
		isFile = !st.IsDir()
	}
	t, _, err := target(rs.rootfs, m.Destination, isFile)
	if err != nil {
		return err
	}
	defer t.Close()
	dst := procFD(t)
	if bind {
		if err := unix.Mount(m.Source, dst, "", unix.MS_BIND|(po.flags&unix.MS_REC), ""); err != nil {
			return err
		}
		// Reopen: the handle points below the new mount.
		t2, _, err := target(rs.rootfs, m.Destination, isFile)
		if err != nil {
			return err
		}
		defer t2.Close()
		dst = procFD(t2)
		if rest := po.flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT); rest != 0 {
			if err := remountBind(dst, rest); err != nil {
				return err
			}
		}
	} else {
		flags := po.flags
		data := po.data
		ro := flags&unix.MS_RDONLY != 0
		if ro && (m.Type == "tmpfs") {
			// Filled later (devices, masked dirs): mount rw, remount ro at the end.
			flags &^= unix.MS_RDONLY
			rs.remountRO = append(rs.remountRO, m.Destination)
		}
		if m.Type == "mqueue" || m.Type == "sysfs" {
			if err := unix.Mount(m.Source, dst, m.Type, flags, data); err != nil {
				// Without owning the net/ipc namespace the kernel refuses a new
				// sysfs/mqueue: bind the host's instead, as runc does.
				if err2 := unix.Mount("/"+strings.TrimPrefix(m.Destination, "/"), dst, "", unix.MS_BIND|unix.MS_REC, ""); err2 != nil {
					return err
				}
				if flags&unix.MS_RDONLY != 0 {
					// Through a fresh handle: dst points below the new mount.
					t2, _, err := target(rs.rootfs, m.Destination, false)
					if err != nil {
						return err
					}
					defer t2.Close()
					if err := remountBind(procFD(t2), flags); err != nil {
						return err
					}
				}
			}
		} else if err := unix.Mount(m.Source, dst, m.Type, flags, data); err != nil {
			return err
		}
	}
	if po.attrSet != 0 || po.attrClr != 0 {
		t3, _, err := target(rs.rootfs, m.Destination, isFile)
		if err != nil {
			return err
		}
		defer t3.Close()
		attr := &unix.MountAttr{Attr_set: po.attrSet, Attr_clr: po.attrClr}
		if err := unix.MountSetattr(int(t3.Fd()), "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
			return fmt.Errorf("mount_setattr: %w", err)
		}
	}
	if len(po.propagation) > 0 {
		t4, _, err := target(rs.rootfs, m.Destination, isFile)
		if err != nil {
			return err
		}
		defer t4.Close()
		for _, p := range po.propagation {
			if err := unix.Mount("", procFD(t4), "", p, ""); err != nil {
				return fmt.Errorf("set propagation: %w", err)
			}
		}
	}
	return nil
}

// remountAt applies flags to the bind mount just made at dest, through a
// fresh handle (one opened before the mount points beneath it).
func (rs *rootfsSetup) remountAt(dest string, flags uintptr) error {
	flags &^= unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT
	if flags == 0 {
		return nil
	}
	t, _, err := target(rs.rootfs, dest, false)
	if err != nil {
		return err
	}
	defer t.Close()
	return remountBind(procFD(t), flags)
}

// remountBind applies flags to a bind mount, keeping the flags the kernel
// locked on the source (nodev, nosuid, noexec, atime flags in a user
// namespace), which a remount must repeat or it fails with EPERM.
func remountBind(dst string, flags uintptr) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dst, &st); err == nil {
		locked := uintptr(st.Flags) & (unix.MS_NODEV | unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME)
		flags |= locked
	}
	if err := unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|flags, ""); err != nil {
		return fmt.Errorf("remount bind with flags %#x: %w", flags, err)
	}
	return nil
}

// mountCgroups mounts the cgroup filesystem. With a cgroup namespace of its
// own the container gets real cgroup mounts rooted at its cgroup; without,
// its own cgroup directories are bound in. Either way the layout mirrors the
// host: one directory per v1 hierarchy plus "unified", or a cgroup2 root.
// cgroupHierarchies picks the host's cgroup mounts under /sys/fs/cgroup
// from its mount table: the v1 hierarchies and the unified one (nil if
// none).
func cgroupHierarchies(mi []*mountinfo.Info) (v1 []*mountinfo.Info, v2 *mountinfo.Info) {
	for _, h := range mi {
		switch h.FSType {
		case "cgroup":
			if strings.HasPrefix(h.Mountpoint, "/sys/fs/cgroup/") {
				v1 = append(v1, h)
			}
		case "cgroup2":
			if strings.HasPrefix(h.Mountpoint, "/sys/fs/cgroup") {
				v2 = h
			}
		}
	}
	return v1, v2
}

func (rs *rootfsSetup) mountCgroups(cfg *initConfig, m specs.Mount, po parsedMount) error {
	flags := po.flags &^ unix.MS_RDONLY
	ro := po.flags&unix.MS_RDONLY != 0
	mi, err := readMountInfo()
	if err != nil {
		return err
	}
	v1, v2 := cgroupHierarchies(mi)
	t, _, err := target(rs.rootfs, m.Destination, false)
	if err != nil {
		return err
	}
	defer t.Close()
	if len(v1) == 0 && v2 != nil {
		// Pure cgroup v2.
		if cfg.NewCgroupNS {
			return unix.Mount("cgroup2", procFD(t), "cgroup2", po.flags, "")
		}
		if err := unix.Mount(cfg.CgroupPaths[""], procFD(t), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return err
		}
		return rs.remountAt(m.Destination, po.flags)
	}
	if err := unix.Mount("tmpfs", procFD(t), "tmpfs", flags, "mode=755"); err != nil {
		return err
	}
	base := m.Destination
	if ro {
		rs.remountRO = append(rs.remountRO, base)
	}
	for _, h := range v1 {
		name := filepath.Base(h.Mountpoint)
		sub, _, err := target(rs.rootfs, filepath.Join(base, name), false)
		if err != nil {
			return err
		}
		var subsystems []string
		for _, o := range strings.Split(h.VFSOptions, ",") {
			if o == "rw" || o == "ro" {
				continue
			}
			subsystems = append(subsystems, o)
		}
		if cfg.NewCgroupNS {
			err = unix.Mount("cgroup", procFD(sub), "cgroup", po.flags, strings.Join(subsystems, ","))
		} else {
			src := cgroupPathFor(cfg.CgroupPaths, name)
			if src == "" {
				src = h.Mountpoint
			}
			err = unix.Mount(src, procFD(sub), "", unix.MS_BIND|unix.MS_REC, "")
			if err == nil {
				err = rs.remountAt(filepath.Join(base, name), po.flags)
			}
		}
		sub.Close()
		if err != nil {
			return fmt.Errorf("cgroup %s: %w", name, err)
		}
		// cpu,cpuacct → cpu and cpuacct symlinks, as on the host.
		if strings.Contains(name, ",") {
			for _, part := range strings.Split(name, ",") {
				link, err := securejoin.SecureJoin(rs.rootfs, filepath.Join(base, part))
				if err == nil {
					_ = os.Symlink(name, link)
				}
			}
		}
	}
	if v2 != nil {
		name := filepath.Base(v2.Mountpoint)
		sub, _, err := target(rs.rootfs, filepath.Join(base, name), false)
		if err != nil {
			return err
		}
		if cfg.NewCgroupNS {
			err = unix.Mount("cgroup2", procFD(sub), "cgroup2", po.flags, "")
		} else {
			src := cfg.CgroupPaths[""]
			if src == "" {
				src = v2.Mountpoint
			}
			err = unix.Mount(src, procFD(sub), "", unix.MS_BIND|unix.MS_REC, "")
			if err == nil {
				err = rs.remountAt(filepath.Join(base, name), po.flags)
			}
		}
		sub.Close()
		if err != nil {
			return fmt.Errorf("cgroup2 %s: %w", name, err)
		}
	}
	return nil
}

// cgroupPathFor finds the container's directory in a v1 hierarchy named like
// "cpu,cpuacct" from the manager's subsystem → path map.
func cgroupPathFor(paths map[string]string, hierarchy string) string {
	for _, sub := range strings.Split(hierarchy, ",") {
		if p, ok := paths[sub]; ok && p != "" {
			return p
		}
		if p, ok := paths[strings.TrimPrefix(sub, "name=")]; ok && p != "" {
			return p
		}
	}
	return ""
}

// pivotRoot makes rootfs the root of the mount namespace and detaches the
// old root.
func pivotRoot(rootfs string) error {
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root %s: %w", rootfs, err)
	}
	if err := unix.Fchdir(oldroot); err != nil {
		return err
	}
	// The old root must not propagate the unmount back to the host.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make old root slave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	return unix.Chdir("/")
}

// moveRoot is the --no-pivot path (and the one for a rootfs on ramfs, where
// pivot_root is impossible): move the rootfs over / and chroot into it.
func moveRoot(rootfs string) error {
	if err := unix.Chdir(rootfs); err != nil {
		return err
	}
	if err := unix.Mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move rootfs to /: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	return unix.Chdir("/")
}

func rootIsRamfs() bool {
	var st unix.Statfs_t
	if err := unix.Statfs("/", &st); err != nil {
		return false
	}
	return st.Type == unix.RAMFS_MAGIC || st.Type == unix.TMPFS_MAGIC && isInitramfs()
}

func isInitramfs() bool {
	mi, err := readMountInfo()
	if err != nil || len(mi) == 0 {
		return false
	}
	return mi[0].Mountpoint == "/" && mi[0].FSType == "rootfs"
}

// finalizeRootfs runs after pivot_root: read-only and masked paths,
// deferred read-only remounts, a read-only root.
func finalizeRootfs(spec *specs.Spec, rs *rootfsSetup) error {
	for _, p := range spec.Linux.ReadonlyPaths {
		if err := readonlyPath(p); err != nil {
			return fmt.Errorf("readonly path %s: %w", p, err)
		}
	}
	for _, p := range spec.Linux.MaskedPaths {
		if err := maskPath(p); err != nil {
			return fmt.Errorf("mask path %s: %w", p, err)
		}
	}
	for _, p := range rs.remountRO {
		if err := remountInPlace(p, unix.MS_RDONLY); err != nil {
			return fmt.Errorf("remount %s read-only: %w", p, err)
		}
	}
	if spec.Root.Readonly {
		if err := remountBind("/", unix.MS_RDONLY); err != nil {
			return fmt.Errorf("make root read-only: %w", err)
		}
	}
	return nil
}

func remountInPlace(p string, flags uintptr) error {
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return err
	}
	keep := uintptr(st.Flags) & (unix.MS_NODEV | unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME | unix.MS_STRICTATIME)
	return unix.Mount("", p, "", unix.MS_REMOUNT|flags|keep, "")
}

func readonlyPath(p string) error {
	if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	return remountBind(p, unix.MS_RDONLY|unix.MS_REC)
}

func maskPath(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	if st.IsDir() {
		return unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY, "")
	}
	return unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
}
