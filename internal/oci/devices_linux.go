package oci

import (
	"os"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/errdefs"
)

// WithDevices adds host devices (--device) to the container and allows
// them in the device cgroup with their permissions (default "rwm").
func WithDevices(devices []container.DeviceMapping) SpecOpt {
	return func(s *specs.Spec) error {
		for _, d := range devices {
			var st unix.Stat_t
			if err := unix.Stat(d.PathOnHost, &st); err != nil {
				return errdefs.InvalidArgumentf("error gathering device information while adding custom device %q: %v", d.PathOnHost, err)
			}
			typ := ""
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFCHR:
				typ = "c"
			case unix.S_IFBLK:
				typ = "b"
			default:
				return errdefs.InvalidArgumentf("%s is not a device node", d.PathOnHost)
			}
			dst := d.PathInContainer
			if dst == "" {
				dst = d.PathOnHost
			}
			perms := d.CgroupPermissions
			if perms == "" {
				perms = "rwm"
			}
			major, minor := int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev)))
			mode := os.FileMode(st.Mode & 0o777)
			uid, gid := st.Uid, st.Gid
			s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{
				Path: dst, Type: typ, Major: major, Minor: minor, FileMode: &mode, UID: &uid, GID: &gid,
			})
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, specs.LinuxDeviceCgroup{
				Allow: true, Type: typ, Major: &major, Minor: &minor, Access: perms,
			})
		}
		return nil
	}
}
