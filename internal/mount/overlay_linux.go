package mount

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// forceLegacyOverlay makes overlay mounts use mount(2); tests set it to
// exercise the fallback.
var forceLegacyOverlay = false

// errNewAPIUnsupported means the kernel lacks what mountOverlayFsconfig
// needs, so mount(2) is used instead.
var errNewAPIUnsupported = errors.New("new mount API unsupported for overlay")

func mountOverlay(source, target string, flags uintptr, data []string) error {
	if !forceLegacyOverlay {
		err := mountOverlayFsconfig(source, target, flags, data)
		if !errors.Is(err, errNewAPIUnsupported) {
			return err
		}
	}
	return mountOverlayLegacy(source, target, flags, data)
}

// mountAttrs maps mount(2) flags onto fsmount(2) attributes.
func mountAttrs(flags uintptr) int {
	attrs := 0
	for _, a := range []struct {
		flag uintptr
		attr int
	}{
		{unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY},
		{unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
		{unix.MS_NODEV, unix.MOUNT_ATTR_NODEV},
		{unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
		{unix.MS_NOATIME, unix.MOUNT_ATTR_NOATIME},
		{unix.MS_STRICTATIME, unix.MOUNT_ATTR_STRICTATIME},
		{unix.MS_NODIRATIME, unix.MOUNT_ATTR_NODIRATIME},
	} {
		if flags&a.flag != 0 {
			attrs |= a.attr
		}
	}
	return attrs
}

// mountOverlayFsconfig mounts overlay with fsopen/fsconfig/fsmount/move_mount,
// adding every lower directory with its own "lowerdir+" call.
func mountOverlayFsconfig(source, target string, flags uintptr, data []string) error {
	mfd, err := overlayMountFD(source, flags, data)
	if err != nil {
		return err
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount to %s: %w", target, err)
	}
	return nil
}

// overlayMountFD makes an overlay mount attached nowhere and returns its
// descriptor (fsmount(2)).
func overlayMountFD(source string, flags uintptr, data []string) (int, error) {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
			return -1, fmt.Errorf("%w: fsopen: %w", errNewAPIUnsupported, err)
		}
		return -1, fmt.Errorf("fsopen overlay: %w", err)
	}
	defer unix.Close(fsfd)
	if source != "" {
		if err := unix.FsconfigSetString(fsfd, "source", source); err != nil {
			return -1, fsconfigError(fsfd, "source", err)
		}
	}
	for _, opt := range data {
		key, value, hasValue := strings.Cut(opt, "=")
		switch {
		case key == "lowerdir":
			for i, dir := range splitLowerdirs(value) {
				if err := unix.FsconfigSetString(fsfd, "lowerdir+", dir); err != nil {
					if i == 0 && errors.Is(err, unix.EINVAL) {
						// Kernels before 6.8 do not know "lowerdir+".
						return -1, fmt.Errorf("%w: lowerdir+: %w", errNewAPIUnsupported, err)
					}
					return -1, fsconfigError(fsfd, "lowerdir+ "+dir, err)
				}
			}
		case hasValue:
			if err := unix.FsconfigSetString(fsfd, key, value); err != nil {
				return -1, fsconfigError(fsfd, opt, err)
			}
		default:
			if err := unix.FsconfigSetFlag(fsfd, key); err != nil {
				return -1, fsconfigError(fsfd, opt, err)
			}
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fsconfigError(fsfd, "create", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, mountAttrs(flags))
	if err != nil {
		return -1, fmt.Errorf("fsmount: %w", err)
	}
	return mfd, nil
}

// fsconfigError adds the messages the kernel logged on the fs context.
func fsconfigError(fsfd int, what string, err error) error {
	var msgs []string
	buf := make([]byte, 4096)
	for range 16 {
		n, rerr := unix.Read(fsfd, buf)
		if rerr != nil || n <= 0 {
			break
		}
		msgs = append(msgs, strings.TrimSpace(string(buf[:n])))
	}
	if len(msgs) > 0 {
		return fmt.Errorf("fsconfig %s: %w (%s)", what, err, strings.Join(msgs, "; "))
	}
	return fmt.Errorf("fsconfig %s: %w", what, err)
}

// splitLowerdirs splits a lowerdir value at unescaped colons.
func splitLowerdirs(value string) []string {
	var dirs []string
	var cur strings.Builder
	for i := 0; i < len(value); i++ {
		switch {
		case value[i] == '\\' && i+1 < len(value):
			i++
			cur.WriteByte(value[i])
		case value[i] == ':':
			dirs = append(dirs, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(value[i])
		}
	}
	return append(dirs, cur.String())
}

// mountOverlayLegacy mounts overlay with mount(2). When the option string
// does not fit in a page, the paths are made relative to their longest
// common directory and the mount is done from there, like containerd does.
func mountOverlayLegacy(source, target string, flags uintptr, data []string) error {
	opts := strings.Join(data, ",")
	if len(opts) < pageSize {
		return unix.Mount(source, target, "overlay", flags, opts)
	}
	dir, rel := relativeOverlayOptions(data)
	opts = strings.Join(rel, ",")
	if dir == "" || len(opts) >= pageSize {
		return fmt.Errorf("overlay options are %d bytes, over the %d byte limit of mount(2)", len(opts), pageSize)
	}
	absTarget, err := filepath.Abs(target)
	if err != nil {
		return err
	}
	return inDir(dir, func() error {
		return unix.Mount(source, absTarget, "overlay", flags, opts)
	})
}

// relativeOverlayOptions rewrites the paths of lowerdir, upperdir and
// workdir relative to their longest common directory.
func relativeOverlayOptions(data []string) (string, []string) {
	var paths []string
	for _, opt := range data {
		key, value, _ := strings.Cut(opt, "=")
		switch key {
		case "lowerdir":
			paths = append(paths, splitLowerdirs(value)...)
		case "upperdir", "workdir":
			paths = append(paths, value)
		}
	}
	common := ""
	for i, p := range paths {
		if !filepath.IsAbs(p) {
			return "", data
		}
		if i == 0 {
			common = filepath.Dir(p)
			continue
		}
		for common != "/" && !strings.HasPrefix(p, common+"/") {
			common = filepath.Dir(common)
		}
	}
	if common == "" {
		return "", data
	}
	rel := func(p string) string {
		r, err := filepath.Rel(common, p)
		if err != nil {
			return p
		}
		return r
	}
	out := make([]string, 0, len(data))
	for _, opt := range data {
		key, value, _ := strings.Cut(opt, "=")
		switch key {
		case "lowerdir":
			dirs := splitLowerdirs(value)
			for i, d := range dirs {
				dirs[i] = strings.ReplaceAll(rel(d), ":", `\:`)
			}
			out = append(out, "lowerdir="+strings.Join(dirs, ":"))
		case "upperdir", "workdir":
			out = append(out, key+"="+rel(value))
		default:
			out = append(out, opt)
		}
	}
	return common, out
}

// inDir runs fn with the working directory set to dir, on an OS thread whose
// filesystem attributes were unshared from the rest of the process, so the
// chdir affects no other goroutine. The thread is discarded afterwards.
func inDir(dir string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread exits with this goroutine, as its
		// fs attributes differ from the process's.
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unshare CLONE_FS: %w", err)
			return
		}
		if err := unix.Chdir(dir); err != nil {
			errc <- fmt.Errorf("chdir %s: %w", dir, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
