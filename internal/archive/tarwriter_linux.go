package archive

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// tarWriter writes filesystem entries as tar headers: ownership, modes,
// xattrs, devices, and hardlinks among the files it wrote.
type tarWriter struct {
	tw      *tar.Writer
	epoch   *time.Time
	overlay bool // skip overlayfs' private xattrs
	inodes  map[[2]uint64]string
	buf     []byte
	src     *tree // file contents are read from here, by entry name
}

func newTarWriter(w io.Writer, src *tree, epoch *time.Time, overlay bool) *tarWriter {
	return &tarWriter{
		src:     src,
		tw:      tar.NewWriter(w),
		epoch:   epoch,
		overlay: overlay,
		inodes:  map[[2]uint64]string{},
		buf:     make([]byte, 128<<10),
	}
}

func (t *tarWriter) close() error {
	if err := t.tw.Close(); err != nil {
		return fmt.Errorf("finish tar: %w", err)
	}
	return nil
}

// time converts a file time to the one written: whole seconds, clamped to
// SourceDateEpoch when set.
func (t *tarWriter) time(ts unix.Timespec) time.Time {
	tm := time.Unix(ts.Sec, 0).UTC()
	if t.epoch != nil && tm.After(*t.epoch) {
		return t.epoch.UTC().Truncate(time.Second)
	}
	return tm
}

// whiteout writes the OCI whiteout entry for name (a path relative to the
// layer root), timestamped with mtime.
func (t *tarWriter) whiteout(name string, mtime unix.Timespec) error {
	dir, base := filepath.Split(name)
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     dir + whiteoutPrefix + base,
		Mode:     0o644,
		ModTime:  t.time(mtime),
	}
	if err := t.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write whiteout %s: %w", hdr.Name, err)
	}
	return nil
}

// opaque writes the opaque-directory marker for directory name.
func (t *tarWriter) opaque(name string, mtime unix.Timespec) error {
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name + "/" + whiteoutOpaque,
		Mode:     0o644,
		ModTime:  t.time(mtime),
	}
	if err := t.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write opaque marker %s: %w", hdr.Name, err)
	}
	return nil
}

// add writes the entry name of the source tree (stat'ed as st).
func (t *tarWriter) add(name string, st *unix.Stat_t) error {
	hdr := &tar.Header{
		Name:    name,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: t.time(st.Mtim),
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
	case unix.S_IFREG:
		hdr.Typeflag = tar.TypeReg
		hdr.Size = st.Size
		if st.Nlink > 1 {
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := t.inodes[key]; ok {
				hdr.Typeflag = tar.TypeLink
				hdr.Linkname = first
				hdr.Size = 0
			} else {
				t.inodes[key] = name
			}
		}
	case unix.S_IFLNK:
		target, err := t.src.readlink(name)
		if err != nil {
			return err
		}
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = target
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor = int64(unix.Major(st.Rdev))
		hdr.Devminor = int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	case unix.S_IFSOCK:
		return nil // sockets do not belong in layers
	default:
		return fmt.Errorf("unsupported file type %#o", st.Mode&unix.S_IFMT)
	}
	if hdr.Typeflag != tar.TypeLink {
		xattrs, err := t.xattrs(name)
		if err != nil {
			return err
		}
		for k, v := range xattrs {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords[xattrPAX+k] = v
		}
	}
	if err := t.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
		return nil
	}
	f, err := t.src.open(name, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.CopyBuffer(t.tw, io.LimitReader(f, hdr.Size), t.buf)
	if err != nil {
		return fmt.Errorf("copy %s: %w", name, err)
	}
	if n != hdr.Size {
		return fmt.Errorf("copy %s: file shrank from %d to %d bytes while reading", name, hdr.Size, n)
	}
	return nil
}

// xattrs returns the extended attributes of name that belong in a layer.
func (t *tarWriter) xattrs(name string) (map[string]string, error) {
	all, err := t.src.xattrs(name)
	if err != nil {
		return nil, err
	}
	for k := range all {
		if !t.overlay || !strings.HasPrefix(k, overlayXattr) {
			continue
		}
		switch k {
		case overlayXattr + "redirect", overlayXattr + "metacopy":
			// The data lives in a lower layer: this upper dir alone
			// cannot express the change.
			return nil, fmt.Errorf("%s has overlay xattr %s (mounted with redirect_dir or metacopy on); cannot diff it", name, k)
		}
		delete(all, k)
	}
	return all, nil
}

// listXattrs returns p's extended attributes, without following a symlink.
func listXattrs(p string) (map[string]string, error) {
	size, err := unix.Llistxattr(p, nil)
	if err != nil {
		if err == unix.ENOTSUP || err == unix.EOPNOTSUPP {
			return nil, nil
		}
		return nil, fmt.Errorf("list xattrs of %s: %w", p, err)
	}
	if size == 0 {
		return nil, nil
	}
	buf := make([]byte, size)
	size, err = unix.Llistxattr(p, buf)
	if err != nil {
		return nil, fmt.Errorf("list xattrs of %s: %w", p, err)
	}
	out := map[string]string{}
	for _, name := range bytes.Split(buf[:size], []byte{0}) {
		if len(name) == 0 {
			continue
		}
		v, err := getXattr(p, string(name))
		if err != nil {
			if err == unix.ENODATA {
				continue
			}
			return nil, fmt.Errorf("get xattr %s of %s: %w", name, p, err)
		}
		out[string(name)] = string(v)
	}
	return out, nil
}

func getXattr(p, name string) ([]byte, error) {
	size, err := unix.Lgetxattr(p, name, nil)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	size, err = unix.Lgetxattr(p, name, buf)
	if err != nil {
		return nil, err
	}
	return buf[:size], nil
}

// readDirNames returns the names in directory p, sorted.
func readDirNames(p string) ([]string, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("read directory %s: %w", p, err)
	}
	sort.Strings(names)
	return names, nil
}
