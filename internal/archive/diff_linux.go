package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sys/unix"
)

// DiffOptions tune Diff.
type DiffOptions struct {
	// SourceDateEpoch, when set, clamps every timestamp written to it, for
	// reproducible layers.
	SourceDateEpoch *time.Time
	// UpperIsOverlay says upper is an overlay upper dir: whiteouts are 0/0
	// char devices and opaque dirs carry trusted.overlay.opaque=y. lower is
	// then not needed.
	UpperIsOverlay bool
	// Exclude, when set, leaves out the entries (and whole directories)
	// whose path relative to upper ("etc/hostname") it reports.
	Exclude func(rel string) bool
}

// Diff writes to w an uncompressed layer tar of the changes from lower (a
// directory, or "" for none) to upper. For an overlay upper dir the
// overlay whiteouts and opaque xattrs become OCI .wh. entries; for two
// plain directories they are compared by type, mode, owner, xattrs, size
// and mtime, and by content when mtimes have no sub-second part (such as
// files extracted from a tar). Entries are sorted; times are whole seconds.
func Diff(ctx context.Context, lower, upper string, w io.Writer, opts DiffOptions) error {
	src, err := openTree(upper)
	if err != nil {
		return fmt.Errorf("diff: %w", err)
	}
	defer src.close()
	tw := newTarWriter(w, src, opts.SourceDateEpoch, opts.UpperIsOverlay)
	d := &differ{ctx: ctx, lower: lower, upper: upper, src: src, tw: tw, emitted: map[string]bool{}, exclude: opts.Exclude}
	if err := d.walk(opts.UpperIsOverlay); err != nil {
		return err
	}
	return tw.close()
}

func (d *differ) walk(overlay bool) error {
	if overlay {
		return d.overlayDir("")
	}
	return d.plainDir("")
}

// Tar writes the whole tree under root as a tar to w: entries sorted and
// named relative to root, without an entry for root itself. No symlink in
// the tree is followed, not even in the middle of a path (see tree), so a
// tree that changes while it is read cannot make Tar read outside it.
func Tar(ctx context.Context, root string, w io.Writer) error {
	src, err := openTree(root)
	if err != nil {
		return fmt.Errorf("tar: %w", err)
	}
	defer src.close()
	tw := newTarWriter(w, src, nil, false)
	d := &differ{ctx: ctx, upper: root, src: src, tw: tw, emitted: map[string]bool{}}
	if err := d.tree(""); err != nil {
		return err
	}
	return tw.close()
}

// entrySink receives what a differ finds: entries of upper, whiteouts of
// deleted entries and opaque markers (a tarWriter, or a change list).
type entrySink interface {
	add(name string, st *unix.Stat_t) error
	whiteout(name string, mtime unix.Timespec) error
	opaque(name string, mtime unix.Timespec) error
}

type differ struct {
	ctx          context.Context
	lower, upper string
	src          *tree // upper, for reading
	tw           entrySink
	emitted      map[string]bool // directories written, for ensureParents
	exclude      func(rel string) bool
}

func (d *differ) excluded(rel string) bool { return d.exclude != nil && d.exclude(rel) }

func lstat(p string) (*unix.Stat_t, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

func isDir(st *unix.Stat_t) bool { return st.Mode&unix.S_IFMT == unix.S_IFDIR }

// emit writes upper's entry rel.
func (d *differ) emit(rel string, st *unix.Stat_t) error {
	if err := d.ctx.Err(); err != nil {
		return err
	}
	if err := d.tw.add(rel, st); err != nil {
		return fmt.Errorf("add %s: %w", rel, err)
	}
	if isDir(st) {
		d.emitted[rel] = true
	}
	return nil
}

// ensureParents writes the directories above rel not written yet, so that
// their modes and owners travel with the change.
func (d *differ) ensureParents(rel string) error {
	dir := path.Dir(rel)
	if dir == "." || d.emitted[dir] {
		return nil
	}
	if err := d.ensureParents(dir); err != nil {
		return err
	}
	st, err := d.src.lstat(dir)
	if err != nil {
		return fmt.Errorf("stat %s: %w", dir, err)
	}
	return d.emit(dir, st)
}

// tree writes everything below directory rel of upper.
func (d *differ) tree(rel string) error {
	names, err := d.src.readDir(rel)
	if err != nil {
		return err
	}
	for _, name := range names {
		child := path.Join(rel, name)
		if d.excluded(child) {
			continue
		}
		st, err := d.src.lstat(child)
		if err != nil {
			return err
		}
		if err := d.emit(child, st); err != nil {
			return err
		}
		if isDir(st) {
			if err := d.tree(child); err != nil {
				return err
			}
		}
	}
	return nil
}

// overlayDir writes directory rel of an overlay upper dir.
func (d *differ) overlayDir(rel string) error {
	names, err := d.src.readDir(rel)
	if err != nil {
		return err
	}
	for _, name := range names {
		child := path.Join(rel, name)
		if d.excluded(child) {
			continue
		}
		st, err := d.src.lstat(child)
		if err != nil {
			return err
		}
		if isOverlayWhiteout(st) {
			if err := d.tw.whiteout(child, st.Mtim); err != nil {
				return err
			}
			continue
		}
		if err := d.emit(child, st); err != nil {
			return err
		}
		if !isDir(st) {
			continue
		}
		if v, err := d.src.xattr(child, opaqueXattr); err == nil && string(v) == "y" {
			if err := d.tw.opaque(child, st.Mtim); err != nil {
				return err
			}
		}
		if err := d.overlayDir(child); err != nil {
			return err
		}
	}
	return nil
}

// plainDir compares directory rel of upper with lower's.
func (d *differ) plainDir(rel string) error {
	upperNames, err := d.src.readDir(rel)
	if err != nil {
		return err
	}
	var lowerNames []string
	if d.lower != "" {
		lp := filepath.Join(d.lower, rel)
		if st, err := lstat(lp); err == nil && isDir(st) {
			if lowerNames, err = readDirNames(lp); err != nil {
				return err
			}
		}
	}
	inUpper := make(map[string]bool, len(upperNames))
	for _, n := range upperNames {
		inUpper[n] = true
	}
	inLower := make(map[string]bool, len(lowerNames))
	names := append([]string(nil), upperNames...)
	for _, n := range lowerNames {
		inLower[n] = true
		if !inUpper[n] {
			names = append(names, n)
		}
	}
	sort.Strings(names)

	for _, name := range names {
		child := path.Join(rel, name)
		if d.excluded(child) {
			continue
		}
		if !inUpper[name] {
			if err := d.ensureParents(child); err != nil {
				return err
			}
			parent, err := d.src.lstat(rel)
			if err != nil {
				return err
			}
			if err := d.tw.whiteout(child, parent.Mtim); err != nil {
				return err
			}
			continue
		}
		ust, err := d.src.lstat(child)
		if err != nil {
			return err
		}
		if !inLower[name] {
			if err := d.addNew(child, ust); err != nil {
				return err
			}
			continue
		}
		lp := filepath.Join(d.lower, child)
		lst, err := lstat(lp)
		if err != nil {
			return fmt.Errorf("stat lower %s: %w", child, err)
		}
		same, err := sameFile(d.src, child, lp, ust, lst)
		if err != nil {
			return fmt.Errorf("compare %s: %w", child, err)
		}
		if isDir(ust) && isDir(lst) {
			if !same {
				if err := d.ensureParents(child); err != nil {
					return err
				}
				if err := d.emit(child, ust); err != nil {
					return err
				}
			}
			if err := d.plainDir(child); err != nil {
				return err
			}
			continue
		}
		if !same {
			// Also a directory replaced by a file or the reverse:
			// Apply replaces whatever is there.
			if err := d.addNew(child, ust); err != nil {
				return err
			}
		}
	}
	return nil
}

// addNew writes entry rel of upper and, for a directory, all below it.
func (d *differ) addNew(rel string, st *unix.Stat_t) error {
	if err := d.ensureParents(rel); err != nil {
		return err
	}
	if err := d.emit(rel, st); err != nil {
		return err
	}
	if isDir(st) {
		return d.tree(rel)
	}
	return nil
}

// sameFile reports whether upper file rel (stat u) is unchanged from lower
// file lp (stat l).
func sameFile(upper *tree, rel, lp string, u, l *unix.Stat_t) (bool, error) {
	if u.Mode != l.Mode || u.Uid != l.Uid || u.Gid != l.Gid {
		return false, nil
	}
	ux, err := upper.xattrs(rel)
	if err != nil {
		return false, err
	}
	lx, err := listXattrs(lp)
	if err != nil {
		return false, err
	}
	if !maps.Equal(ux, lx) {
		return false, nil
	}
	switch u.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return true, nil
	case unix.S_IFLNK:
		ut, err := upper.readlink(rel)
		if err != nil {
			return false, err
		}
		lt, err := os.Readlink(lp)
		if err != nil {
			return false, err
		}
		return ut == lt, nil
	case unix.S_IFCHR, unix.S_IFBLK:
		return u.Rdev == l.Rdev, nil
	case unix.S_IFREG:
		if u.Size != l.Size || u.Mtim != l.Mtim {
			return false, nil
		}
		if u.Mtim.Nsec != 0 {
			return true, nil
		}
		// Whole-second mtimes (set by tar extraction, touch -d, ...) may
		// hide a change: compare the content.
		return sameContent(upper, rel, lp)
	default:
		return u.Mtim == l.Mtim, nil
	}
}

func sameContent(upper *tree, rel, b string) (bool, error) {
	fa, err := upper.open(rel, 0)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	ba := make([]byte, 64<<10)
	bb := make([]byte, 64<<10)
	for {
		na, erra := io.ReadFull(fa, ba)
		nb, errb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		aDone := errors.Is(erra, io.EOF) || errors.Is(erra, io.ErrUnexpectedEOF)
		bDone := errors.Is(errb, io.EOF) || errors.Is(errb, io.ErrUnexpectedEOF)
		if aDone || bDone {
			return aDone == bDone, nil
		}
		if erra != nil {
			return false, erra
		}
		if errb != nil {
			return false, errb
		}
	}
}
