package mount

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Detached makes m (an overlay or a bind mount) as a mount attached
// nowhere in the mount tree and returns its root directory. Files are
// reached through the descriptor (e.g. "/proc/self/fd/N/..."); the mount
// goes away when the file is closed, or when the process dies, so it can
// never be left behind. It needs the new mount API (Linux 5.2; overlay
// with many layers 6.8).
func Detached(m Mount) (*os.File, error) {
	flags, _, data := parseOptions(m.Options)
	var fd int
	var err error
	switch {
	case m.Type == "overlay":
		fd, err = overlayMountFD(m.Source, flags, data)
	case flags&unix.MS_BIND != 0:
		fd, err = detachedBind(m.Source, flags)
	default:
		err = fmt.Errorf("only overlay and bind mounts can be made detached")
	}
	if err != nil {
		return nil, fmt.Errorf("detached mount %s: %w", m, err)
	}
	return os.NewFile(uintptr(fd), "detached:"+m.Source), nil
}

// detachedBind clones the tree at source (recursively for rbind) and sets
// the attributes flags ask for.
func detachedBind(source string, flags uintptr) (int, error) {
	cloneFlags := unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC
	if flags&unix.MS_REC != 0 {
		cloneFlags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, source, uint(cloneFlags))
	if err != nil {
		return -1, fmt.Errorf("open_tree %s: %w", source, err)
	}
	if attrs := mountAttrs(flags); attrs != 0 {
		attr := &unix.MountAttr{Attr_set: uint64(attrs)}
		setFlags := unix.AT_EMPTY_PATH
		if flags&unix.MS_REC != 0 {
			setFlags |= unix.AT_RECURSIVE
		}
		if err := unix.MountSetattr(fd, "", uint(setFlags), attr); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("mount_setattr %s: %w", source, err)
		}
	}
	return fd, nil
}
