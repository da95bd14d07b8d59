package archive

import (
	"fmt"
	"os"
	"sort"

	"golang.org/x/sys/unix"
)

// tree opens files below a root directory without following any symlink,
// so that a tree being changed while it is read (a running container's
// upper dir) cannot redirect the reads outside it.
type tree struct {
	fd   int
	path string
}

func openTree(p string) (*tree, error) {
	fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	return &tree{fd: fd, path: p}, nil
}

func (t *tree) close() { unix.Close(t.fd) }

// open opens rel (a path relative to the tree root, "" for the root) for
// reading.
func (t *tree) open(rel string, flags int) (*os.File, error) {
	if rel == "" {
		rel = "."
	}
	fd, err := unix.Openat2(t.fd, rel, &unix.OpenHow{
		Flags:   uint64(unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW | flags),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s in %s: %w", rel, t.path, err)
	}
	return os.NewFile(uintptr(fd), rel), nil
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
