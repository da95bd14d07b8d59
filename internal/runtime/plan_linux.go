package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/runtime/cgroups"
	"github.com/berth-project/berth/internal/runtime/nsexec"
	"github.com/berth-project/berth/internal/runtime/seccomp"
)

// The first stage (package nsexec) sets up a container process from a plan
// written here, so that no Go runtime starts inside the container. Each
// step below is the Go init's step of the same name (init_linux.go,
// rootfs_linux.go), done by the stage in the same order with the same
// system calls; what the Go init decides at run time from the host (the
// cgroup mounts, /proc/kcore, a ramfs root) is decided here from the same
// host. Specs that need what the stage does not do go to the Go init:
// goInitReason says why.

// InitEnvVar forces the Go init for every container when set to "go"
// (tests and debugging: both init paths must behave alike).
const InitEnvVar = "BERTH_RUNTIME_INIT"

// initNeeds are the facts that decide between the first stage and the Go
// init.
type initNeeds struct {
	exec                 bool // a process exec'd into a running container
	mountNS              bool
	seccompNotify        bool
	createContainerHooks bool
	startContainerHooks  bool
}

func specInitNeeds(spec *specs.Spec, exec bool) initNeeds {
	n := initNeeds{exec: exec, mountNS: hasNamespace(spec, specs.MountNamespace),
		seccompNotify: seccompNotify(spec.Linux.Seccomp)}
	if h := spec.Hooks; h != nil {
		n.createContainerHooks = len(h.CreateContainer) > 0
		n.startContainerHooks = len(h.StartContainer) > 0
	}
	return n
}

// goInitReason says why the process needs the Go init, or "" when the
// first stage can do everything.
func (n initNeeds) goInitReason() string {
	switch {
	case os.Getenv(InitEnvVar) == "go":
		return InitEnvVar + "=go"
	case !n.exec && !n.mountNS:
		return "no mount namespace"
	case n.seccompNotify:
		return "seccomp notify"
	case !n.exec && n.createContainerHooks:
		return "createContainer hooks"
	case !n.exec && n.startContainerHooks:
		return "startContainer hooks"
	}
	return ""
}

// seccompNotify says whether a profile hands syscalls to a listener.
func seccompNotify(s *specs.LinuxSeccomp) bool {
	if s == nil {
		return false
	}
	if s.DefaultAction == specs.ActNotify {
		return true
	}
	for _, sc := range s.Syscalls {
		if sc.Action == specs.ActNotify {
			return true
		}
	}
	return false
}

// needHookSync: the init stops after its mounts so that the runtime runs
// the prestart and createRuntime hooks (and the init its createContainer
// hooks) with the resources of the cgroup in place.
func needHookSync(spec *specs.Spec) bool {
	h := spec.Hooks
	return h != nil && (len(h.Prestart) > 0 || len(h.CreateRuntime) > 0 || len(h.CreateContainer) > 0)
}

// prepareSeccomp compiles the spec's filter (nil without one); a bad
// profile fails create, as the Go init's check does.
func prepareSeccomp(spec *specs.Spec) (*seccomp.Filter, error) {
	if spec.Linux.Seccomp == nil {
		return nil, nil
	}
	f, err := seccomp.Prepare(spec.Linux.Seccomp)
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	return f, nil
}

// initPlan is the plan of a container's init (initContainer).
func initPlan(cfg *initConfig, fds childFDs) (*nsexec.Plan, error) {
	spec, p := cfg.Spec, cfg.Process
	sc, err := prepareSeccomp(spec)
	if err != nil {
		return nil, err
	}
	var pl nsexec.Plan
	pl.Op(nsexec.OpSetsid)
	remountRO, err := rootfsPlan(&pl, cfg)
	if err != nil {
		return nil, err
	}
	if p.Terminal {
		if fds.console < 0 {
			return nil, fmt.Errorf("terminal requested but no console socket")
		}
		consolePlan(&pl, fds.console, p, cfg.Rootfs, true)
	}
	if needHookSync(spec) {
		pl.Op(nsexec.OpHooksSync)
	}
	if cfg.NoPivot || rootIsRamfs() {
		pl.Op(nsexec.OpMoveRoot, cfg.Rootfs)
	} else {
		pl.Op(nsexec.OpPivot, cfg.Rootfs)
	}
	if flag, ok := propagationFlags[spec.Linux.RootfsPropagation]; ok {
		pl.Op(nsexec.OpMount, "", "/", "", flag, "", "set rootfs propagation "+spec.Linux.RootfsPropagation)
	}
	if err := kernelSettingsPlan(&pl, spec); err != nil {
		return nil, err
	}
	// finalizeRootfs
	for _, path := range spec.Linux.ReadonlyPaths {
		pl.Op(nsexec.OpReadonlyPath, path)
	}
	for _, path := range spec.Linux.MaskedPaths {
		pl.Op(nsexec.OpMaskPath, path)
	}
	for _, path := range remountRO {
		pl.Op(nsexec.OpRemountInPlace, path, uint64(unix.MS_RDONLY), fmt.Sprintf("remount %s read-only", path))
	}
	if spec.Root.Readonly {
		pl.Op(nsexec.OpRemountBind, "/", uint64(unix.MS_RDONLY), "make root read-only")
	}
	// finishInit
	if !cfg.NoNewKeyring {
		pl.Op(nsexec.OpKeyring, "_ses."+cfg.ContainerID)
	}
	if err := processPlan(&pl, cfg, p); err != nil {
		return nil, err
	}
	if fds.fifo < 0 {
		return nil, fmt.Errorf("no exec fifo")
	}
	pl.Op(nsexec.OpReady)
	pl.Op(nsexec.OpWaitFifo, fds.fifo)
	if err := credentialsPlan(&pl, cfg, sc); err != nil {
		return nil, err
	}
	execPlan(&pl, cfg)
	return &pl, nil
}

// execProcessPlan is the plan of a process exec'd into a running container
// (execProcess).
func execProcessPlan(cfg *initConfig, fds childFDs) (*nsexec.Plan, error) {
	p := cfg.Process
	sc, err := prepareSeccomp(cfg.Spec)
	if err != nil {
		return nil, err
	}
	var pl nsexec.Plan
	if p.Terminal {
		if fds.console < 0 {
			return nil, fmt.Errorf("terminal requested but no console socket")
		}
		pl.Op(nsexec.OpSetsid)
		consolePlan(&pl, fds.console, p, "", false)
	}
	if err := processPlan(&pl, cfg, p); err != nil {
		return nil, err
	}
	if err := credentialsPlan(&pl, cfg, sc); err != nil {
		return nil, err
	}
	execPlan(&pl, cfg)
	return &pl, nil
}

// rootfsPlan is prepareRootfs. It returns the mount points to make
// read-only once they are filled (rootfsSetup.remountRO).
func rootfsPlan(pl *nsexec.Plan, cfg *initConfig) ([]string, error) {
	spec := cfg.Spec
	rootfs := cfg.Rootfs
	if _, ok := propagationFlags[spec.Linux.RootfsPropagation]; !ok && spec.Linux.RootfsPropagation != "" {
		return nil, fmt.Errorf("invalid rootfsPropagation %q", spec.Linux.RootfsPropagation)
	}
	// Slave while setting up, so nothing propagates to the host. (The Go
	// init's parentMountPrivate finds nothing shared after this.)
	pl.Op(nsexec.OpMount, "", "/", "", uint64(unix.MS_SLAVE|unix.MS_REC), "", "set propagation of /")
	pl.Op(nsexec.OpMount, rootfs, rootfs, "", uint64(unix.MS_BIND|unix.MS_REC), "", fmt.Sprintf("bind rootfs %s onto itself", rootfs))
	var remountRO []string
	var cgroupMounts []*mountinfo.Info
	for _, m := range spec.Mounts {
		ctx := fmt.Sprintf("mount %s (%s) on %s", m.Source, m.Type, m.Destination)
		dest := m.Destination
		if !filepath.IsAbs(dest) {
			dest = "/" + dest
		}
		po := parseMountOptions(m.Options)
		if m.Type == "cgroup" || m.Type == "cgroup2" {
			if cgroupMounts == nil {
				// The Go init reads them in the child, whose mount table
				// is a copy of ours.
				var err error
				if cgroupMounts, err = cgroups.HostMounts(); err != nil {
					return nil, err
				}
			}
			remountRO = cgroupMountPlan(pl, cfg, dest, po, ctx, cgroupMounts, remountRO)
			continue
		}
		kind, flags := 0, po.flags
		switch {
		case isBind(m):
			kind = 1
		case m.Type == "mqueue" || m.Type == "sysfs":
			kind = 2
		}
		if kind != 1 && m.Type == "tmpfs" && flags&unix.MS_RDONLY != 0 {
			// Filled later (devices, masked dirs): mount rw, remount ro at the end.
			flags &^= unix.MS_RDONLY
			remountRO = append(remountRO, dest)
		}
		rest := po.flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT)
		props := make([]uint64, len(po.propagation))
		for i, f := range po.propagation {
			props[i] = uint64(f)
		}
		pl.Op(nsexec.OpSpecMount, rootfs, m.Source, dest, m.Type, uint64(flags), po.data, kind,
			uint64(rest), po.attrSet, po.attrClr, props, ctx)
	}
	devs := spec.Linux.Devices
	setupDev := needsDevSetup(spec)
	if setupDev {
		devs = append(append([]specs.LinuxDevice{}, defaultDevices...), devs...)
	}
	for _, d := range devs {
		if err := devicePlan(pl, rootfs, d); err != nil {
			return nil, err
		}
	}
	if setupDev {
		_, err := os.Stat("/proc/kcore")
		pl.Op(nsexec.OpDevSymlinks, rootfs, err == nil)
	}
	return remountRO, nil
}

func devicePlan(pl *nsexec.Plan, rootfs string, d specs.LinuxDevice) error {
	mode, err := deviceMode(d)
	if err != nil {
		return fmt.Errorf("device %s: %w", d.Path, err)
	}
	uid, gid := deviceOwner(d)
	dev := unix.Mkdev(uint32(d.Major), uint32(d.Minor))
	pl.Op(nsexec.OpDevice, rootfs, d.Path, mode, dev, uid, gid, "device "+d.Path)
	return nil
}

// cgroupMountPlan is mountCgroups.
func cgroupMountPlan(pl *nsexec.Plan, cfg *initConfig, dest string, po parsedMount, ctx string, mi []*mountinfo.Info, remountRO []string) []string {
	rootfs := cfg.Rootfs
	flags := po.flags &^ unix.MS_RDONLY
	ro := po.flags&unix.MS_RDONLY != 0
	v1, v2 := cgroupHierarchies(mi)
	if len(v1) == 0 && v2 != nil {
		// Pure cgroup v2.
		if cfg.NewCgroupNS {
			pl.Op(nsexec.OpTargetMount, rootfs, dest, "cgroup2", "cgroup2", uint64(po.flags), "", ctx)
			return remountRO
		}
		pl.Op(nsexec.OpTargetMount, rootfs, dest, cfg.CgroupPaths[""], "", uint64(unix.MS_BIND|unix.MS_REC), "", ctx)
		pl.Op(nsexec.OpRemountAt, rootfs, dest, uint64(po.flags), ctx)
		return remountRO
	}
	pl.Op(nsexec.OpTargetMount, rootfs, dest, "tmpfs", "tmpfs", uint64(flags), "mode=755", ctx)
	if ro {
		remountRO = append(remountRO, dest)
	}
	for _, h := range v1 {
		name := filepath.Base(h.Mountpoint)
		sub := filepath.Join(dest, name)
		sctx := ctx + ": cgroup " + name
		if cfg.NewCgroupNS {
			var subsystems []string
			for _, o := range strings.Split(h.VFSOptions, ",") {
				if o != "rw" && o != "ro" {
					subsystems = append(subsystems, o)
				}
			}
			pl.Op(nsexec.OpTargetMount, rootfs, sub, "cgroup", "cgroup", uint64(po.flags), strings.Join(subsystems, ","), sctx)
		} else {
			src := cgroupPathFor(cfg.CgroupPaths, name)
			if src == "" {
				src = h.Mountpoint
			}
			pl.Op(nsexec.OpTargetMount, rootfs, sub, src, "", uint64(unix.MS_BIND|unix.MS_REC), "", sctx)
			pl.Op(nsexec.OpRemountAt, rootfs, sub, uint64(po.flags), sctx)
		}
		// cpu,cpuacct → cpu and cpuacct symlinks, as on the host.
		if strings.Contains(name, ",") {
			for _, part := range strings.Split(name, ",") {
				pl.Op(nsexec.OpRootedSymlink, rootfs, name, filepath.Join(dest, part), true, "")
			}
		}
	}
	if v2 != nil {
		name := filepath.Base(v2.Mountpoint)
		sub := filepath.Join(dest, name)
		sctx := ctx + ": cgroup2 " + name
		if cfg.NewCgroupNS {
			pl.Op(nsexec.OpTargetMount, rootfs, sub, "cgroup2", "cgroup2", uint64(po.flags), "", sctx)
		} else {
			src := cfg.CgroupPaths[""]
			if src == "" {
				src = v2.Mountpoint
			}
			pl.Op(nsexec.OpTargetMount, rootfs, sub, src, "", uint64(unix.MS_BIND|unix.MS_REC), "", sctx)
			pl.Op(nsexec.OpRemountAt, rootfs, sub, uint64(po.flags), sctx)
		}
	}
	return remountRO
}

// consolePlan is setupConsole.
func consolePlan(pl *nsexec.Plan, fd int, p *specs.Process, rootfs string, mountConsole bool) {
	var rows, cols uint
	if p.ConsoleSize != nil {
		rows, cols = p.ConsoleSize.Height, p.ConsoleSize.Width
	}
	pl.Op(nsexec.OpConsole, fd, rootfs, mountConsole, p.ConsoleSize != nil, uint64(rows), uint64(cols))
}

// kernelSettingsPlan is kernelSettings.
func kernelSettingsPlan(pl *nsexec.Plan, spec *specs.Spec) error {
	if hasNamespace(spec, specs.UTSNamespace) {
		if spec.Hostname != "" {
			pl.Op(nsexec.OpSethostname, spec.Hostname)
		}
		if spec.Domainname != "" {
			pl.Op(nsexec.OpSetdomainname, spec.Domainname)
		}
	} else if spec.Hostname != "" {
		return fmt.Errorf("unable to set hostname without a private UTS namespace")
	}
	for k, v := range spec.Linux.Sysctl {
		path := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
		pl.Op(nsexec.OpWriteFile, path, v, fmt.Sprintf("sysctl %s=%s", k, v))
	}
	return nil
}

// processPlan is prepareProcess: checks done now, steps done by the stage.
func processPlan(pl *nsexec.Plan, cfg *initConfig, p *specs.Process) error {
	if _, err := loadCaps(p.Capabilities); err != nil {
		return err
	}
	for _, rl := range p.Rlimits {
		if _, ok := rlimitNames[rl.Type]; !ok {
			return fmt.Errorf("unknown rlimit %q", rl.Type)
		}
		if rl.Soft > rl.Hard {
			return fmt.Errorf("rlimit %s: soft limit %d above hard limit %d", rl.Type, rl.Soft, rl.Hard)
		}
	}
	if p.OOMScoreAdj != nil {
		pl.Op(nsexec.OpWriteFile, "/proc/self/oom_score_adj", strconv.Itoa(*p.OOMScoreAdj),
			fmt.Sprintf("set oom_score_adj to %d", *p.OOMScoreAdj))
	}
	pl.Op(nsexec.OpChdir, p.Cwd, fmt.Sprintf("chdir to cwd (%q) set in config.json", p.Cwd))
	pl.Op(nsexec.OpEnv, p.Env)
	pl.Op(nsexec.OpEnvHome, p.User.UID)
	pl.Op(nsexec.OpLookPath, p.Args[0], fmt.Sprintf("exec: %q", p.Args[0]))
	return nil
}

// credentialsPlan is applyCredentials.
func credentialsPlan(pl *nsexec.Plan, cfg *initConfig, sc *seccomp.Filter) error {
	p := cfg.Process
	caps, err := loadCaps(p.Capabilities)
	if err != nil {
		return err
	}
	if p.NoNewPrivileges {
		pl.Op(nsexec.OpPrctl, unix.PR_SET_NO_NEW_PRIVS, 1, "set no_new_privs")
	}
	if sc != nil && !p.NoNewPrivileges {
		pl.Op(nsexec.OpSeccomp, sc.Bytes(), uint64(sc.Flags))
	}
	last := lastCap()
	pl.Op(nsexec.OpDropBounding, caps.bounding.mask(), last)
	pl.Op(nsexec.OpPrctl, unix.PR_SET_KEEPCAPS, 1, "set keepcaps")
	gids := make([]int, len(p.User.AdditionalGids))
	for i, g := range p.User.AdditionalGids {
		gids[i] = int(g)
	}
	pl.Op(nsexec.OpSetUser, p.User.UID, p.User.GID, p.User.AdditionalGids, fmt.Sprintf("setgroups %v", gids))
	pl.Op(nsexec.OpPrctl, unix.PR_SET_KEEPCAPS, 0, "clear keepcaps")
	pl.Op(nsexec.OpCapset, caps.effective.mask(), caps.permitted.mask(), caps.inheritable.mask())
	pl.Op(nsexec.OpAmbient, caps.ambient.mask(), last)
	umask := uint32(0o022)
	if p.User.Umask != nil {
		umask = *p.User.Umask
	}
	pl.Op(nsexec.OpUmask, umask)
	if sc != nil && p.NoNewPrivileges {
		pl.Op(nsexec.OpSeccomp, sc.Bytes(), uint64(sc.Flags))
	}
	return nil
}

// execPlan is finalProcess.exec.
func execPlan(pl *nsexec.Plan, cfg *initConfig) {
	pl.Op(nsexec.OpCloseFrom, 3+cfg.PreserveFDs)
	for _, rl := range cfg.Process.Rlimits {
		pl.Op(nsexec.OpRlimit, rlimitNames[rl.Type], rl.Soft, rl.Hard,
			fmt.Sprintf("set %s to %d:%d", rl.Type, rl.Soft, rl.Hard))
	}
	pl.Op(nsexec.OpResetSignals)
	pl.Op(nsexec.OpExec, cfg.Process.Args)
}
