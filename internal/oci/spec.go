// Package oci builds the OCI runtime spec of a container: a default spec
// with Docker's security defaults, adjusted by SpecOpt functions built from
// the image config and the create options.
package oci

import (
	"fmt"
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// SpecOpt adjusts a spec.
type SpecOpt func(*specs.Spec) error

// DefaultPath is the PATH a container gets when its image sets none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// DefaultCapabilities is Docker's default capability set.
var DefaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// MaskedPaths and ReadonlyPaths are Docker's defaults.
var (
	MaskedPaths = []string{
		"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
		"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
	}
	ReadonlyPaths = []string{
		"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
	}
)

// New returns the default spec adjusted by opts, in order.
func New(opts ...SpecOpt) (*specs.Spec, error) {
	s, err := Default()
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Default returns Docker's default Linux spec: its capabilities, masked
// and read-only paths, default mounts and device rules, private
// namespaces, and a nofile rlimit no higher than this process's hard limit.
func Default() (*specs.Spec, error) {
	caps := append([]string(nil), DefaultCapabilities...)
	nofile, err := defaultNofile()
	if err != nil {
		return nil, err
	}
	s := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Cwd: "/",
			Env: []string{"PATH=" + DefaultPath},
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  caps,
				Effective: append([]string(nil), caps...),
				Permitted: append([]string(nil), caps...),
			},
			Rlimits: []specs.POSIXRlimit{nofile},
		},
		Root:     &specs.Root{Path: "rootfs"},
		Hostname: "",
		Mounts:   DefaultMounts(),
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace},
			},
			MaskedPaths:   append([]string(nil), MaskedPaths...),
			ReadonlyPaths: append([]string(nil), ReadonlyPaths...),
			Resources:     &specs.LinuxResources{Devices: defaultDeviceRules()},
		},
	}
	if runtime.GOOS != "linux" {
		return nil, fmt.Errorf("containers need Linux")
	}
	return s, nil
}

// DefaultMounts are the filesystems every container gets: /proc, /dev,
// /dev/pts, /dev/shm, /dev/mqueue, /sys and /sys/fs/cgroup.
func DefaultMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
	}
}

func defaultDeviceRules() []specs.LinuxDeviceCgroup {
	i := func(v int64) *int64 { return &v }
	wild := int64(-1)
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: &wild, Minor: &wild, Access: "m"},
		{Allow: true, Type: "b", Major: &wild, Minor: &wild, Access: "m"},
		{Allow: true, Type: "c", Major: i(1), Minor: i(3), Access: "rwm"},    // null
		{Allow: true, Type: "c", Major: i(1), Minor: i(8), Access: "rwm"},    // random
		{Allow: true, Type: "c", Major: i(1), Minor: i(7), Access: "rwm"},    // full
		{Allow: true, Type: "c", Major: i(5), Minor: i(0), Access: "rwm"},    // tty
		{Allow: true, Type: "c", Major: i(1), Minor: i(5), Access: "rwm"},    // zero
		{Allow: true, Type: "c", Major: i(1), Minor: i(9), Access: "rwm"},    // urandom
		{Allow: true, Type: "c", Major: i(136), Minor: &wild, Access: "rwm"}, // pts
		{Allow: true, Type: "c", Major: i(5), Minor: i(2), Access: "rwm"},    // ptmx
		{Allow: true, Type: "c", Major: i(10), Minor: i(200), Access: "rwm"}, // tun
	}
}

// defaultNofile is 1024 soft, this process's hard limit as hard (capped
// at 1048576): never above what the runtime could set.
func defaultNofile() (specs.POSIXRlimit, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return specs.POSIXRlimit{}, fmt.Errorf("getrlimit nofile: %w", err)
	}
	hard := rl.Max
	if hard > 1048576 {
		hard = 1048576
	}
	soft := uint64(1024)
	if soft > hard {
		soft = hard
	}
	return specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Hard: hard, Soft: soft}, nil
}
