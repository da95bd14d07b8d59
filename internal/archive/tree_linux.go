package archive

import (
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"

	"golang.org/x/sys/unix"
)

// tree reads files and their metadata below a root directory without
// following any symlink on the way, so that a tree being changed while it
// is read (a running container's upper dir or root filesystem) cannot
// redirect the reads outside it: directories are opened with openat2
// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, and an entry is looked at only by
// its last name relative to its directory's descriptor.
type tree struct {
	fd   int
	path string
	// The directory whose entries were looked at last, kept open because
	// entries come directory by directory.
	dirRel string
	dirFD  int
}

func openTree(p string) (*tree, error) {
	fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	return &tree{fd: fd, path: p, dirFD: -1}, nil
}

func (t *tree) close() {
	if t.dirFD >= 0 {
		unix.Close(t.dirFD)
		t.dirFD = -1
	}
	unix.Close(t.fd)
}

func (t *tree) openat(rel string, flags int) (int, error) {
	if rel == "" {
		rel = "."
	}
	fd, err := unix.Openat2(t.fd, rel, &unix.OpenHow{
		Flags:   uint64(unix.O_CLOEXEC | unix.O_NOFOLLOW | flags),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return -1, fmt.Errorf("open %s in %s: %w", rel, t.path, err)
	}
	return fd, nil
}

// open opens rel (a path relative to the tree root, "" for the root) for
// reading.
func (t *tree) open(rel string, flags int) (*os.File, error) {
	fd, err := t.openat(rel, unix.O_RDONLY|flags)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), rel), nil
}

// parent returns a descriptor of rel's directory (owned by t) and rel's
// last name; for the root it returns the root and ".".
func (t *tree) parent(rel string) (int, string, error) {
	if rel == "" || rel == "." {
		return t.fd, ".", nil
	}
	dir, base := path.Split(rel)
	dir = path.Clean(dir)
	if dir == "." {
		return t.fd, base, nil
	}
	if t.dirFD >= 0 && t.dirRel == dir {
		return t.dirFD, base, nil
	}
	fd, err := t.openat(dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return -1, "", err
	}
	if t.dirFD >= 0 {
		unix.Close(t.dirFD)
	}
	t.dirFD, t.dirRel = fd, dir
	return fd, base, nil
}

// lstat describes rel itself (a symlink is not followed).
func (t *tree) lstat(rel string) (*unix.Stat_t, error) {
	dfd, base, err := t.parent(rel)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if base == "." {
		err = unix.Fstat(dfd, &st)
	} else {
		err = unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil {
		return nil, fmt.Errorf("stat %s in %s: %w", rel, t.path, err)
	}
	return &st, nil
}

// readlink returns the target of symlink rel.
func (t *tree) readlink(rel string) (string, error) {
	dfd, base, err := t.parent(rel)
	if err != nil {
		return "", err
	}
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(dfd, base, buf)
		if err != nil {
			return "", fmt.Errorf("read symlink %s in %s: %w", rel, t.path, err)
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

// xattrPath returns a path naming rel for the l*xattr calls, valid until
// the next call on t: its directory's descriptor in /proc/self/fd (a
// magic link to that very directory) and its last name, which the l*
// calls do not follow.
func (t *tree) xattrPath(rel string) (string, error) {
	dfd, base, err := t.parent(rel)
	if err != nil {
		return "", err
	}
	return "/proc/self/fd/" + strconv.Itoa(dfd) + "/" + base, nil
}

// xattrs returns rel's extended attributes.
func (t *tree) xattrs(rel string) (map[string]string, error) {
	p, err := t.xattrPath(rel)
	if err != nil {
		return nil, err
	}
	x, err := listXattrs(p)
	if err != nil {
		return nil, fmt.Errorf("%s in %s: %w", rel, t.path, err)
	}
	return x, nil
}

// xattr returns one extended attribute of rel.
func (t *tree) xattr(rel, name string) ([]byte, error) {
	p, err := t.xattrPath(rel)
	if err != nil {
		return nil, err
	}
	return getXattr(p, name)
}

// readDir returns the names in directory rel, sorted.
func (t *tree) readDir(rel string) ([]string, error) {
	f, err := t.open(rel, unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("read directory %s: %w", rel, err)
	}
	sort.Strings(names)
	return names, nil
}
