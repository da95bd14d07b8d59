package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// Overlay: whiteouts become overlay whiteouts (0/0 char devices) and
	// opaque dirs get the trusted.overlay.opaque=y xattr, for an upper dir
	// that overlayfs will stack. When false (plain-copy snapshots)
	// whiteouts delete the lower files from root directly.
	Overlay bool
	// Parents are the lower dirs under root, newest first (overlay only;
	// see snapshot.LowerDirs). A directory that an entry needs but root
	// lacks is then created with the mode, owner, xattrs and times it has
	// in the nearest lower dir, so that the merged view keeps them;
	// without Parents it is created root-owned with mode 0755.
	Parents []string
	// ImplicitDirs, when set, receives the directories Apply created
	// because entries needed them and the layer did not describe them
	// (parents first), for FixImplicitDirs once the Parents are known.
	ImplicitDirs *[]string
	// NoDigest skips computing the diff ID (Apply returns ""), when the
	// caller verified the stream's digest already.
	NoDigest bool
}

const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
	// whiteoutMeta prefixes AUFS metadata entries (.wh..wh.plnk and the like).
	whiteoutMeta = ".wh..wh."
	xattrPAX     = "SCHILY.xattr."
	overlayXattr = "trusted.overlay."
	opaqueXattr  = "trusted.overlay.opaque"
)

// Apply extracts an uncompressed layer tar into root (a directory) and
// returns the number of bytes of tar read and the digest of the stream
// (the layer's DiffID).
//
// Every path is resolved inside root: names are cleaned relative to root,
// and parents are opened with openat2(RESOLVE_IN_ROOT), so symlinks in the
// layer or in root (absolute or with ..) cannot lead a write outside root.
// Hardlinks whose target lies outside root are refused.
func Apply(ctx context.Context, root string, r io.Reader, opts ApplyOptions) (size int64, diffID digest.Digest, err error) {
	rootfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, "", fmt.Errorf("open layer root %s: %w", root, err)
	}
	defer unix.Close(rootfd)

	digester := digest.Canonical.Digester()
	cr := &countingReader{r: r}
	if !opts.NoDigest {
		cr.r = io.TeeReader(r, digester.Hash())
	}
	a := &applier{
		rootfd:   rootfd,
		opts:     opts,
		unpacked: map[string]bool{},
		buf:      make([]byte, 128<<10),
	}
	if opts.ImplicitDirs != nil {
		a.implicit = map[string]bool{}
	}
	tr := tar.NewReader(cr)
	for {
		if err := ctx.Err(); err != nil {
			return cr.n, "", err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return cr.n, "", fmt.Errorf("read layer tar: %w", err)
		}
		if err := a.entry(hdr, tr); err != nil {
			return cr.n, "", fmt.Errorf("apply %q: %w", hdr.Name, err)
		}
	}
	if err := a.finish(); err != nil {
		return cr.n, "", err
	}
	// The digest covers the whole stream, including the end-of-archive
	// padding that tar.Reader leaves unread.
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return cr.n, "", fmt.Errorf("read layer tar trailer: %w", err)
	}
	if opts.ImplicitDirs != nil {
		*opts.ImplicitDirs = a.implicitDirs()
	}
	if opts.NoDigest {
		return cr.n, "", nil
	}
	return cr.n, digester.Digest(), nil
}

// implicitDirs returns the directories Apply made that are still
// directories the layer did not describe, parents first.
func (a *applier) implicitDirs() []string {
	var out []string
	for rel := range a.implicit {
		dir, base := splitRel(rel)
		fd, err := a.openDir(dir, false)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		err = unix.Fstatat(fd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
		unix.Close(fd)
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			out = append(out, rel)
		}
	}
	sort.Strings(out) // a parent sorts before its children
	return out
}

// FixImplicitDirs gives the directories of dirs (from ApplyOptions.
// ImplicitDirs of an Apply without Parents) in the layer at root the
// metadata they have in the nearest of parents, as Apply with those
// Parents would have done.
func FixImplicitDirs(root string, dirs, parents []string) error {
	if len(dirs) == 0 || len(parents) == 0 {
		return nil
	}
	rootfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open layer root %s: %w", root, err)
	}
	defer unix.Close(rootfd)
	a := &applier{rootfd: rootfd, opts: ApplyOptions{Overlay: true, Parents: parents}}
	for _, rel := range dirs {
		dir, base := splitRel(rel)
		pfd, err := a.openDir(dir, false)
		if err != nil {
			return err
		}
		err = a.copyParentDir(pfd, base, rel)
		unix.Close(pfd)
		if err != nil {
			return fmt.Errorf("fix directory %s: %w", rel, err)
		}
	}
	return a.finish()
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type dirTime struct {
	rel          string
	atime, mtime time.Time
}

type applier struct {
	rootfd   int
	opts     ApplyOptions
	unpacked map[string]bool // paths this layer wrote, for opaque dirs without overlay
	implicit map[string]bool // directories made for entries, not described (ImplicitDirs)
	dirTimes []dirTime
	buf      []byte
}

// cleanName turns a tar entry name into a path relative to root with no
// ".." components; "" means root itself.
func cleanName(name string) string {
	p := path.Clean("/" + name)
	return strings.TrimPrefix(p, "/")
}

func splitRel(rel string) (dir, base string) {
	dir, base = path.Split(rel)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "."
	}
	return dir, base
}

// openDir opens directory rel resolved inside root as an O_PATH fd. With
// create, missing directories are made (mode 0755).
func (a *applier) openDir(rel string, create bool) (int, error) {
	how := &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := unix.Openat2(a.rootfd, rel, how)
	if err == nil || !create || !errors.Is(err, unix.ENOENT) || rel == "." {
		if err != nil {
			return -1, fmt.Errorf("open directory %s in root: %w", rel, err)
		}
		return fd, nil
	}
	dir, base := splitRel(rel)
	pfd, err := a.openDir(dir, true)
	if err != nil {
		return -1, err
	}
	err = unix.Mkdirat(pfd, base, 0o755)
	if err == nil && a.implicit != nil {
		a.implicit[rel] = true
	}
	if err == nil && a.opts.Overlay {
		err = a.copyParentDir(pfd, base, rel)
	} else if errors.Is(err, unix.EEXIST) {
		err = nil
	}
	unix.Close(pfd)
	if err != nil {
		return -1, fmt.Errorf("create directory %s: %w", rel, err)
	}
	fd, err = unix.Openat2(a.rootfd, rel, how)
	if err != nil {
		return -1, fmt.Errorf("open directory %s in root: %w", rel, err)
	}
	return fd, nil
}

// copyParentDir gives the directory base in pfd, just created for rel,
// the metadata of rel in the nearest lower dir that has it.
func (a *applier) copyParentDir(pfd int, base, rel string) error {
	for _, lower := range a.opts.Parents {
		lfd, err := unix.Open(lower, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open lower dir: %w", err)
		}
		fd, err := unix.Openat2(lfd, rel, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
		})
		unix.Close(lfd)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("look up %s in lower dir: %w", rel, err)
		}
		defer unix.Close(fd)
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return fmt.Errorf("stat %s in lower dir: %w", rel, err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0 {
			return nil // deleted in that layer: nothing to copy
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return nil // shadowed by a non-directory: ours replaces it
		}
		if err := unix.Fchownat(pfd, base, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
		// The trailing slash resolves the fd's magic link to the directory.
		xattrs, err := listXattrs(fmt.Sprintf("/proc/self/fd/%d/", fd))
		if err != nil {
			return err
		}
		for name, value := range xattrs {
			if strings.HasPrefix(name, overlayXattr) {
				continue
			}
			if err := setXattrAt(pfd, base, name, []byte(value)); err != nil &&
				!errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EPERM) {
				return err
			}
		}
		if err := unix.Fchmodat(pfd, base, st.Mode&0o7777, 0); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
		a.dirTimes = append(a.dirTimes, dirTime{rel: rel,
			atime: time.Unix(st.Atim.Unix()), mtime: time.Unix(st.Mtim.Unix())})
		return nil
	}
	return nil
}

func (a *applier) entry(hdr *tar.Header, r io.Reader) error {
	rel := cleanName(hdr.Name)
	if rel == "" {
		// The root itself belongs to the snapshotter.
		return nil
	}
	dir, base := splitRel(rel)
	if strings.HasPrefix(base, whiteoutPrefix) {
		return a.whiteout(dir, base)
	}
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return nil
	case tar.TypeReg, tar.TypeGNUSparse, '\x00', tar.TypeDir, tar.TypeSymlink, tar.TypeLink,
		tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return fmt.Errorf("unsupported tar entry type %q", hdr.Typeflag)
	}

	pfd, err := a.openDir(dir, true)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)

	wasWhiteout := false
	var st unix.Stat_t
	switch err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); {
	case err == nil:
		isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		if hdr.Typeflag == tar.TypeDir && isDir {
			break // merge into the existing directory
		}
		if hdr.Typeflag == tar.TypeLink && cleanName(hdr.Linkname) == rel {
			return nil // a hardlink to itself
		}
		wasWhiteout = isOverlayWhiteout(&st)
		if err := removeAllAt(pfd, base); err != nil {
			return fmt.Errorf("replace existing %s: %w", rel, err)
		}
	case errors.Is(err, unix.ENOENT):
	default:
		return fmt.Errorf("stat %s: %w", rel, err)
	}

	if a.implicit != nil {
		delete(a.implicit, rel) // described by the layer after all
	}
	if err := a.create(pfd, base, rel, hdr, r); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeLink {
		// A hardlink shares the metadata of its target.
		a.markUnpacked(rel)
		return nil
	}
	if wasWhiteout && hdr.Typeflag == tar.TypeDir && a.opts.Overlay {
		// The layer deleted and recreated this directory: hide the lower one.
		if err := setXattrAt(pfd, base, opaqueXattr, []byte("y")); err != nil {
			return err
		}
	}
	if err := a.setMetadata(pfd, base, rel, hdr); err != nil {
		return err
	}
	a.markUnpacked(rel)
	return nil
}

// markUnpacked records that this layer wrote rel, and so holds its parents.
func (a *applier) markUnpacked(rel string) {
	for rel != "." && !a.unpacked[rel] {
		a.unpacked[rel] = true
		rel, _ = splitRel(rel)
	}
}

func (a *applier) create(pfd int, base, rel string, hdr *tar.Header, r io.Reader) error {
	mode := uint32(hdr.Mode & 0o7777)
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("mkdir: %w", err)
		}
	case tar.TypeReg, tar.TypeGNUSparse, '\x00':
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return fmt.Errorf("create file: %w", err)
		}
		f := os.NewFile(uintptr(fd), rel)
		_, err = io.CopyBuffer(fileWriter{f}, r, a.buf)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write file: %w", err)
		}
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return fmt.Errorf("symlink: %w", err)
		}
	case tar.TypeLink:
		return a.hardlink(pfd, base, hdr.Linkname)
	case tar.TypeChar:
		if err := unix.Mknodat(pfd, base, unix.S_IFCHR|mode, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))); err != nil {
			return fmt.Errorf("mknod: %w", err)
		}
	case tar.TypeBlock:
		if err := unix.Mknodat(pfd, base, unix.S_IFBLK|mode, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))); err != nil {
			return fmt.Errorf("mknod: %w", err)
		}
	case tar.TypeFifo:
		if err := unix.Mkfifoat(pfd, base, mode); err != nil {
			return fmt.Errorf("mkfifo: %w", err)
		}
	}
	return nil
}

// fileWriter hides os.File's ReadFrom so that io.CopyBuffer uses the buffer.
type fileWriter struct{ f *os.File }

func (w fileWriter) Write(p []byte) (int, error) { return w.f.Write(p) }

// hardlink links base in pfd to the layer path target, resolved in root.
func (a *applier) hardlink(pfd int, base, target string) error {
	if c := path.Clean(target); c == ".." || strings.HasPrefix(c, "../") {
		return fmt.Errorf("hardlink target %q is outside the layer root", target)
	}
	trel := cleanName(target)
	if trel == "" {
		return fmt.Errorf("hardlink to the layer root")
	}
	tdir, tbase := splitRel(trel)
	tfd, err := a.openDir(tdir, false)
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", target, err)
	}
	defer unix.Close(tfd)
	// Flags 0: a symlink target is linked itself, never followed.
	if err := unix.Linkat(tfd, tbase, pfd, base, 0); err != nil {
		return fmt.Errorf("hardlink to %q: %w", target, err)
	}
	return nil
}

func (a *applier) setMetadata(pfd int, base, rel string, hdr *tar.Header) error {
	if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	for key, value := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(key, xattrPAX)
		if !ok || strings.HasPrefix(name, overlayXattr) {
			// overlayfs' own xattrs from a tar could forge opaque dirs or
			// redirects; whiteouts are expressed as .wh. entries instead.
			continue
		}
		if err := setXattrAt(pfd, base, name, []byte(value)); err != nil {
			if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EOPNOTSUPP) {
				continue // the filesystem or our privileges do not allow it
			}
			return err
		}
	}
	if hdr.Typeflag != tar.TypeSymlink {
		// After chown, which clears setuid and setgid bits.
		if err := unix.Fchmodat(pfd, base, uint32(hdr.Mode&0o7777), 0); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	if hdr.Typeflag == tar.TypeDir {
		// Writing children changes a directory's times: set them at the end.
		a.dirTimes = append(a.dirTimes, dirTime{rel: rel, atime: atime, mtime: hdr.ModTime})
		return nil
	}
	return setTimesAt(pfd, base, atime, hdr.ModTime)
}

func setTimesAt(pfd int, base string, atime, mtime time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	if err := unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

// setXattrAt sets an xattr on base in directory pfd without following a
// symlink at base.
func setXattrAt(pfd int, base, name string, value []byte) error {
	p := fmt.Sprintf("/proc/self/fd/%d/%s", pfd, base)
	if err := unix.Lsetxattr(p, name, value, 0); err != nil {
		return fmt.Errorf("set xattr %s: %w", name, err)
	}
	return nil
}

func isOverlayWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

// whiteout handles a .wh. entry named base in directory dir.
func (a *applier) whiteout(dir, base string) error {
	if base == whiteoutOpaque {
		if a.opts.Overlay {
			fd, err := a.openDir(dir, true)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			if err := setXattrAt(fd, ".", opaqueXattr, []byte("y")); err != nil {
				return err
			}
			return nil
		}
		return a.clearOpaque(dir)
	}
	if strings.HasPrefix(base, whiteoutMeta) {
		return nil // AUFS metadata, meaningless here
	}
	name := strings.TrimPrefix(base, whiteoutPrefix)
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("invalid whiteout %q", base)
	}
	if target := path.Join(dir, name); a.unpacked[target] {
		// A whiteout hides lower layers only, never an entry of its own
		// layer (OCI image spec).
		return nil
	}
	if a.opts.Overlay {
		fd, err := a.openDir(dir, true)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := removeAllAt(fd, name); err != nil {
			return err
		}
		if err := unix.Mknodat(fd, name, unix.S_IFCHR, 0); err != nil {
			return fmt.Errorf("create overlay whiteout %s: %w", name, err)
		}
		return nil
	}
	fd, err := a.openDir(dir, false)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil // nothing to delete
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return removeAllAt(fd, name)
}

// clearOpaque deletes what lower layers left in dir: everything this layer
// did not write itself.
func (a *applier) clearOpaque(dir string) error {
	fd, err := a.openDir(dir, true)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return a.clearAt(fd, dir)
}

func (a *applier) clearAt(fd int, dir string) error {
	dfd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	f := os.NewFile(uintptr(dfd), dir)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	for _, name := range names {
		rel := path.Join(dir, name)
		if rel == "." {
			rel = name
		}
		if !a.unpacked[rel] {
			if err := removeAllAt(dfd, name); err != nil {
				return err
			}
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("stat %s: %w", rel, err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			cfd, err := unix.Openat(dfd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("open %s: %w", rel, err)
			}
			err = a.clearAt(cfd, rel)
			unix.Close(cfd)
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// finish sets directory times, now that their children are written.
func (a *applier) finish() error {
	for i := len(a.dirTimes) - 1; i >= 0; i-- {
		dt := a.dirTimes[i]
		dir, base := splitRel(dt.rel)
		fd, err := a.openDir(dir, false)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // removed by a later whiteout
			}
			return err
		}
		err = setTimesAt(fd, base, dt.atime, dt.mtime)
		unix.Close(fd)
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("%s: %w", dt.rel, err)
		}
	}
	return nil
}

// removeAllAt removes name in directory dirfd and, if it is a directory,
// everything below it. Symlinks are removed, never followed. A missing
// name is not an error.
func removeAllAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s for removal: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	names, err := f.Readdirnames(-1)
	if err == nil {
		for _, n := range names {
			if err = removeAllAt(fd, n); err != nil {
				break
			}
		}
	}
	f.Close()
	if err != nil {
		return err
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove directory %s: %w", name, err)
	}
	return nil
}
