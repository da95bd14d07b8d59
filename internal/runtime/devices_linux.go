package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func u32(v uint32) *uint32 { return &v }

func fm(m os.FileMode) *os.FileMode { return &m }

// defaultDevices are the nodes every container gets (runtime-spec "Default Devices").
var defaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, FileMode: fm(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5, FileMode: fm(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7, FileMode: fm(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8, FileMode: fm(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9, FileMode: fm(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0, FileMode: fm(0o666), UID: u32(0), GID: u32(0)},
}

// createDevices makes device nodes in rootfs: the defaults (when withDefaults)
// and the spec's. In a user namespace, where mknod is not allowed, the host's
// node is bind mounted instead.
func createDevices(rootfs string, devs []specs.LinuxDevice, withDefaults bool) error {
	all := devs
	if withDefaults {
		all = append(append([]specs.LinuxDevice{}, defaultDevices...), devs...)
	}
	for _, d := range all {
		if err := createDevice(rootfs, d); err != nil {
			return fmt.Errorf("device %s: %w", d.Path, err)
		}
	}
	return nil
}

func createDevice(rootfs string, d specs.LinuxDevice) error {
	path, err := securejoin.SecureJoin(rootfs, d.Path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	mode, err := deviceMode(d)
	if err != nil {
		return err
	}
	_ = os.Remove(path)
	err = unix.Mknod(path, mode, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor))))
	if errors.Is(err, unix.EPERM) {
		return bindDevice(path, d.Path)
	}
	if err != nil {
		return err
	}
	// mknod honours the umask; set the exact mode.
	if err := unix.Chmod(path, mode&0o7777); err != nil {
		return err
	}
	uid, gid := deviceOwner(d)
	return unix.Lchown(path, int(uid), int(gid))
}

// deviceMode is the mknod mode of a spec device: its type and permissions
// (0666 unless fileMode says otherwise).
func deviceMode(d specs.LinuxDevice) (uint32, error) {
	mode := uint32(0o666)
	if d.FileMode != nil {
		mode = uint32(d.FileMode.Perm())
	}
	switch d.Type {
	case "c", "u":
		mode |= unix.S_IFCHR
	case "b":
		mode |= unix.S_IFBLK
	case "p":
		mode |= unix.S_IFIFO
	default:
		return 0, fmt.Errorf("unknown device type %q", d.Type)
	}
	return mode, nil
}

// deviceOwner is a spec device's owner (root unless uid/gid say otherwise).
func deviceOwner(d specs.LinuxDevice) (uid, gid uint32) {
	if d.UID != nil {
		uid = *d.UID
	}
	if d.GID != nil {
		gid = *d.GID
	}
	return uid, gid
}

func bindDevice(path, host string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return err
	}
	f.Close()
	return unix.Mount(host, path, "", unix.MS_BIND, "")
}

func devSymlinks(rootfs string) error {
	links := [][2]string{{"/proc/self/fd", "/dev/fd"}, {"/proc/self/fd/0", "/dev/stdin"},
		{"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"}}
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links = append(links, [2]string{"/proc/kcore", "/dev/core"})
	}
	ptmx, err := securejoin.SecureJoin(rootfs, "/dev/ptmx")
	if err != nil {
		return err
	}
	if _, err := os.Lstat(ptmx); os.IsNotExist(err) {
		links = append(links, [2]string{"pts/ptmx", "/dev/ptmx"})
	} else if err == nil {
		if st, err := os.Lstat(ptmx); err == nil && st.Mode()&os.ModeSymlink == 0 {
			_ = os.Remove(ptmx)
			links = append(links, [2]string{"pts/ptmx", "/dev/ptmx"})
		}
	}
	for _, l := range links {
		p, err := securejoin.SecureJoin(rootfs, l[1])
		if err != nil {
			return err
		}
		if err := os.Symlink(l[0], p); err != nil && !os.IsExist(err) {
			return fmt.Errorf("symlink %s: %w", l[1], err)
		}
	}
	return nil
}
