package oci

import (
	"fmt"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/internal/errdefs"
)

// WithRootfs sets the root filesystem path and whether it is read-only.
func WithRootfs(path string, readonly bool) SpecOpt {
	return func(s *specs.Spec) error {
		s.Root = &specs.Root{Path: path, Readonly: readonly}
		return nil
	}
}

// WithCgroupsPath places the container in cgroup path (cgroupfs style,
// e.g. "/berth/<id>").
func WithCgroupsPath(path string) SpecOpt {
	return func(s *specs.Spec) error {
		s.Linux.CgroupsPath = path
		return nil
	}
}

// WithNetworkMode sets up the network namespace: the host's for "host",
// else one of the container's own (empty for "none"; made and joined by
// path, see WithNetNS, for bridge networks and container:<id>). In a
// namespace of its own a container may bind low ports and ping without
// privileges, as with Docker.
func WithNetworkMode(mode container.NetworkMode) SpecOpt {
	return func(s *specs.Spec) error {
		if mode.IsContainer() && mode.ConnectedContainer() == "" {
			return errdefs.InvalidArgumentf("invalid network mode: invalid container format container:<name|id>")
		}
		if mode.IsHost() {
			removeNamespace(s, specs.NetworkNamespace)
			removeNamespace(s, specs.UTSNamespace)
			s.Hostname = ""
			return nil
		}
		if s.Linux.Sysctl == nil {
			s.Linux.Sysctl = map[string]string{}
		}
		s.Linux.Sysctl["net.ipv4.ip_unprivileged_port_start"] = "0"
		s.Linux.Sysctl["net.ipv4.ping_group_range"] = "0 2147483647"
		return nil
	}
}

// WithNetNS makes the container join the network namespace at path
// ("" keeps a new one).
func WithNetNS(path string) SpecOpt {
	return func(s *specs.Spec) error {
		if path == "" {
			return nil
		}
		for i, ns := range s.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = path
			}
		}
		return nil
	}
}

// WithIPCMode shares the host's IPC namespace for "host".
func WithIPCMode(mode container.IpcMode) SpecOpt {
	return func(s *specs.Spec) error {
		if mode.IsHost() {
			removeNamespace(s, specs.IPCNamespace)
		}
		return nil
	}
}

// WithPIDMode shares the host's PID namespace for "host".
func WithPIDMode(mode container.PidMode) SpecOpt {
	return func(s *specs.Spec) error {
		if mode.IsHost() {
			removeNamespace(s, specs.PIDNamespace)
		}
		return nil
	}
}

func removeNamespace(s *specs.Spec, t specs.LinuxNamespaceType) {
	s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == t })
}

// WithMounts adds mounts, replacing default mounts at the same destination.
func WithMounts(mounts []specs.Mount) SpecOpt {
	return func(s *specs.Spec) error {
		for _, m := range mounts {
			s.Mounts = slices.DeleteFunc(s.Mounts, func(d specs.Mount) bool {
				return d.Destination == m.Destination || strings.HasPrefix(d.Destination, strings.TrimSuffix(m.Destination, "/")+"/") && m.Destination == "/dev"
			})
			s.Mounts = append(s.Mounts, m)
		}
		return nil
	}
}

// WithShmSize sets the size of /dev/shm in bytes (0 keeps 64 MiB).
func WithShmSize(size int64) SpecOpt {
	return func(s *specs.Spec) error {
		if size <= 0 {
			return nil
		}
		for i, m := range s.Mounts {
			if m.Destination == "/dev/shm" && m.Type == "tmpfs" {
				opts := slices.DeleteFunc(append([]string(nil), m.Options...), func(o string) bool { return strings.HasPrefix(o, "size=") })
				s.Mounts[i].Options = append(opts, fmt.Sprintf("size=%d", size))
			}
		}
		return nil
	}
}

// WithTmpfs mounts a tmpfs at each key with the options of its value
// ("size=64m,mode=1777"), as --tmpfs does.
func WithTmpfs(tmpfs map[string]string) SpecOpt {
	return func(s *specs.Spec) error {
		var mounts []specs.Mount
		for dst, opts := range tmpfs {
			mounts = append(mounts, TmpfsMount(dst, opts))
		}
		slices.SortFunc(mounts, func(a, b specs.Mount) int { return strings.Compare(a.Destination, b.Destination) })
		return WithMounts(mounts)(s)
	}
}

// TmpfsMount is a tmpfs mount at dst with Docker's defaults
// (noexec,nosuid,nodev) plus opts (comma-separated).
func TmpfsMount(dst, opts string) specs.Mount {
	o := []string{"noexec", "nosuid", "nodev"}
	if opts != "" {
		o = append(o, strings.Split(opts, ",")...)
	}
	return specs.Mount{Destination: dst, Type: "tmpfs", Source: "tmpfs", Options: o}
}

// WithCapabilities adds and drops capabilities ("NET_ADMIN" or
// "CAP_NET_ADMIN", "ALL").
func WithCapabilities(add, drop []string) SpecOpt {
	return func(s *specs.Spec) error {
		caps := append([]string(nil), s.Process.Capabilities.Bounding...)
		norm := func(c string) string {
			c = strings.ToUpper(strings.TrimSpace(c))
			if c != "ALL" && !strings.HasPrefix(c, "CAP_") {
				c = "CAP_" + c
			}
			return c
		}
		for _, d := range drop {
			d = norm(d)
			if d == "ALL" {
				caps = nil
				continue
			}
			caps = slices.DeleteFunc(caps, func(c string) bool { return c == d })
		}
		for _, a := range add {
			a = norm(a)
			if a == "ALL" {
				caps = AllCapabilities()
				continue
			}
			if !slices.Contains(caps, a) {
				caps = append(caps, a)
			}
		}
		setCaps(s, caps)
		return nil
	}
}

func setCaps(s *specs.Spec, caps []string) {
	s.Process.Capabilities = &specs.LinuxCapabilities{
		Bounding:  caps,
		Effective: append([]string(nil), caps...),
		Permitted: append([]string(nil), caps...),
	}
}

// AllCapabilities lists every capability the kernel headers know.
func AllCapabilities() []string {
	return []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
		"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
		"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
		"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
		"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
		"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
		"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
		"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
		"CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
	}
}

// WithPrivileged gives all capabilities, unmasks /proc and /sys, and
// allows all devices.
func WithPrivileged(on bool) SpecOpt {
	return func(s *specs.Spec) error {
		if !on {
			return nil
		}
		setCaps(s, AllCapabilities())
		s.Linux.MaskedPaths = nil
		s.Linux.ReadonlyPaths = nil
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		for i, m := range s.Mounts {
			if m.Type == "sysfs" || m.Type == "cgroup" {
				s.Mounts[i].Options = slices.DeleteFunc(append([]string(nil), m.Options...), func(o string) bool { return o == "ro" })
				s.Mounts[i].Options = append(s.Mounts[i].Options, "rw")
			}
		}
		return nil
	}
}

// WithUlimits sets rlimits ("nofile", "nproc", ...), replacing defaults.
func WithUlimits(ulimits []*container.Ulimit) SpecOpt {
	return func(s *specs.Spec) error {
		for _, u := range ulimits {
			if u == nil {
				continue
			}
			typ := "RLIMIT_" + strings.ToUpper(u.Name)
			s.Process.Rlimits = slices.DeleteFunc(s.Process.Rlimits, func(r specs.POSIXRlimit) bool { return r.Type == typ })
			s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: typ, Soft: uint64(u.Soft), Hard: uint64(u.Hard)})
		}
		return nil
	}
}

// WithSysctls sets kernel parameters in the container's namespaces.
func WithSysctls(sysctls map[string]string) SpecOpt {
	return func(s *specs.Spec) error {
		if len(sysctls) == 0 {
			return nil
		}
		if s.Linux.Sysctl == nil {
			s.Linux.Sysctl = map[string]string{}
		}
		for k, v := range sysctls {
			s.Linux.Sysctl[k] = v
		}
		return nil
	}
}
