package mount

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// flag describes how a mount(8) option maps onto mount(2) flags.
type flag struct {
	clear bool
	flag  uintptr
}

var flagOptions = map[string]flag{
	"async":         {true, unix.MS_SYNCHRONOUS},
	"atime":         {true, unix.MS_NOATIME},
	"bind":          {false, unix.MS_BIND},
	"defaults":      {false, 0},
	"dev":           {true, unix.MS_NODEV},
	"diratime":      {true, unix.MS_NODIRATIME},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"exec":          {true, unix.MS_NOEXEC},
	"mand":          {false, unix.MS_MANDLOCK},
	"noatime":       {false, unix.MS_NOATIME},
	"nodev":         {false, unix.MS_NODEV},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"noexec":        {false, unix.MS_NOEXEC},
	"nomand":        {true, unix.MS_MANDLOCK},
	"norelatime":    {true, unix.MS_RELATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"nosuid":        {false, unix.MS_NOSUID},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
	"relatime":      {false, unix.MS_RELATIME},
	"remount":       {false, unix.MS_REMOUNT},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"suid":          {true, unix.MS_NOSUID},
	"sync":          {false, unix.MS_SYNCHRONOUS},
}

var propagationOptions = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// parseOptions splits options into mount(2) flags, propagation flags and
// the filesystem specific data options.
func parseOptions(options []string) (flags, propagation uintptr, data []string) {
	for _, o := range options {
		if f, ok := flagOptions[o]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
			continue
		}
		if p, ok := propagationOptions[o]; ok {
			propagation |= p
			continue
		}
		data = append(data, o)
	}
	return flags, propagation, data
}

// Mount mounts m on target, which must exist. Overlay mounts use the new
// mount API (fsopen/fsconfig/fsmount/move_mount) with one "lowerdir+" call
// per layer, so the number of layers is not limited by the page-sized data
// of mount(2); on kernels without it they fall back to mount(2), shortening
// long option strings with paths relative to their common directory.
func (m Mount) Mount(target string) error {
	flags, propagation, data := parseOptions(m.Options)
	var err error
	switch {
	case m.Type == "overlay":
		err = mountOverlay(m.Source, target, flags, data)
	case flags&unix.MS_BIND != 0:
		err = mountBind(m.Source, target, flags, data)
	default:
		err = unix.Mount(m.Source, target, m.Type, flags, strings.Join(data, ","))
	}
	if err != nil {
		return fmt.Errorf("mount %s on %s: %w", m, target, err)
	}
	if propagation != 0 {
		if err := unix.Mount("", target, "", propagation, ""); err != nil {
			return fmt.Errorf("set propagation of %s: %w", target, err)
		}
	}
	return nil
}

// mountBind bind mounts source on target; mount(2) ignores most flags of a
// new bind mount, so they are applied with a remount.
func mountBind(source, target string, flags uintptr, data []string) error {
	if err := unix.Mount(source, target, "", flags&(unix.MS_BIND|unix.MS_REC), strings.Join(data, ",")); err != nil {
		return err
	}
	rest := flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT)
	if rest == 0 {
		return nil
	}
	if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|rest, ""); err != nil {
		_ = unix.Unmount(target, unix.MNT_DETACH)
		return fmt.Errorf("remount %s with flags %#x: %w", target, rest, err)
	}
	return nil
}

// All mounts mounts on target in order. If one fails, the mounts already
// made are undone.
func All(mounts []Mount, target string) error {
	for _, m := range mounts {
		if err := m.Mount(target); err != nil {
			if uerr := UnmountAll(target); uerr != nil {
				return errors.Join(err, uerr)
			}
			return err
		}
	}
	return nil
}

// UnmountAll unmounts every mount stacked on target. A busy mount is
// detached lazily. It is not an error when nothing is mounted on target or
// target does not exist.
func UnmountAll(target string) error {
	for range 1000 {
		err := unix.Unmount(target, unix.UMOUNT_NOFOLLOW)
		if errors.Is(err, unix.EBUSY) {
			err = unix.Unmount(target, unix.UMOUNT_NOFOLLOW|unix.MNT_DETACH)
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			// EINVAL: target is not a mount point (any more).
			return nil
		default:
			return fmt.Errorf("unmount %s: %w", target, err)
		}
	}
	return fmt.Errorf("unmount %s: too many stacked mounts", target)
}

// pageSize bounds the data argument of mount(2).
var pageSize = os.Getpagesize()
