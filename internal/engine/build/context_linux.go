package build

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/archive"
	"github.com/berth-project/berth/internal/errdefs"
)

// contextFS is a build context received as a tar: file data spooled (see
// spool), an index of entries by path, and the digest of every regular
// file, computed while it arrives.
type contextFS struct {
	spool   *spool
	size    int64
	entries map[string]*ctxEntry // by clean relative path; "" is the root
	kids    map[string][]string  // directory -> child paths, sorted
}

type ctxEntry struct {
	rel      string
	typ      byte // tar.TypeReg, TypeDir, TypeSymlink, TypeChar, TypeBlock, TypeFifo
	mode     int64
	mtime    time.Time
	linkname string
	off      int64
	size     int64
	sum      digest.Digest // content digest of regular files (set by the hasher)
	link     *ctxEntry     // a hardlink's target (whose sum it shares)
	devmajor int64
	devminor int64
}

// readContext spools the (optionally compressed) tar r: in memory from
// pool, the overflow in a temporary file in dir.
func readContext(ctx context.Context, pool *chunkPool, dir string, r io.Reader) (*contextFS, error) {
	c := &contextFS{spool: newSpool(pool, dir), entries: map[string]*ctxEntry{}, kids: map[string][]string{}}
	c.entries[""] = &ctxEntry{typ: tar.TypeDir, mode: 0o755}
	if err := c.read(ctx, r); err != nil {
		c.Close()
		return nil, err
	}
	for _, e := range c.entries {
		if e.link != nil {
			e.sum = e.link.sum
		}
	}
	for d := range c.kids {
		sort.Strings(c.kids[d])
	}
	return c, nil
}

// openTmpFile opens an unlinked file in dir (O_TMPFILE), so that a crash
// leaves nothing behind.
func openTmpFile(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err == nil {
		return os.NewFile(uintptr(fd), dir+"/(tmpfile)"), nil
	}
	f, err := os.CreateTemp(dir, "ctx-")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	return f, nil
}

func (c *contextFS) Close() error { return c.spool.Close() }

func cleanRel(name string) string {
	p := path.Clean("/" + name)
	return strings.TrimPrefix(p, "/")
}

// contentSum is the digest of a context file's content in cache keys:
// SHA-256 (2 GB/s with the SHA extensions of this machine's CPUs),
// computed on a second goroutine while the next data is spooled. BLAKE3
// hashed faster, but its package detected CPU features at init with some
// hundred cpuid instructions, each a trap to the hypervisor here, in every
// start of the berth binary (0.35 ms of each `berth runtime` call).
func contentSum(h hash.Hash) digest.Digest {
	var sum [sha256.Size]byte
	return digest.Digest("sha256:" + hex.EncodeToString(h.Sum(sum[:0])))
}

// chunk is a piece of a file's data handed to the hasher; recycled
// buffers go back to the free list after hashing, spool memory does not.
type chunk struct {
	e       *ctxEntry
	data    []byte
	last    bool
	recycle bool
}

// readData reads a file's data into the spool: straight into its memory
// while it has room (the hasher reads it there), else through a free
// buffer into its file.
func (c *contextFS) readData(tr io.Reader, e *ctxEntry, free chan []byte, work chan chunk) error {
	for {
		var buf []byte
		recycle := false
		if buf = c.spool.space(256 << 10); buf == nil {
			buf, recycle = <-free, true
		}
		n, rerr := io.ReadFull(tr, buf)
		if n > 0 {
			if recycle {
				if _, err := c.spool.Write(buf[:n]); err != nil {
					return fmt.Errorf("build context: spool %s: %w", e.rel, err)
				}
			} else {
				c.spool.commit(n)
			}
			e.size += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			work <- chunk{e: e, data: buf[:n], last: true, recycle: recycle}
			return nil
		}
		if rerr != nil {
			if recycle {
				free <- buf
			}
			return errdefs.InvalidArgumentf("build context: read %s: %v", e.rel, rerr)
		}
		work <- chunk{e: e, data: buf[:n], recycle: recycle}
	}
}

func (c *contextFS) read(ctx context.Context, r io.Reader) error {
	dec, err := archive.Decompress(r)
	if err != nil {
		return errdefs.InvalidArgumentf("build context: %v", err)
	}
	defer dec.Close()
	const nbuf, bufSize = 4, 256 << 10
	free := make(chan []byte, nbuf)
	for i := 0; i < nbuf; i++ {
		free <- make([]byte, bufSize)
	}
	work := make(chan chunk, nbuf)
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		h := sha256.New()
		for ch := range work {
			h.Write(ch.data)
			if ch.last {
				ch.e.sum = contentSum(h)
				h.Reset()
			}
			if ch.recycle {
				free <- ch.data[:bufSize]
			}
		}
	}()
	err = c.readEntries(ctx, tar.NewReader(dec), free, work)
	close(work)
	<-hashed
	return err
}

func (c *contextFS) readEntries(ctx context.Context, tr *tar.Reader, free chan []byte, work chan chunk) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return errdefs.InvalidArgumentf("build context: read tar: %v", err)
		}
		rel := cleanRel(hdr.Name)
		if rel == "" {
			if hdr.Typeflag == tar.TypeDir {
				c.entries[""].mode = hdr.Mode & 0o7777
			}
			continue
		}
		e := &ctxEntry{rel: rel, mode: hdr.Mode & 0o7777, mtime: hdr.ModTime, typ: hdr.Typeflag}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			e.typ = tar.TypeReg
			e.off = c.size
			if err := c.readData(tr, e, free, work); err != nil {
				return err
			}
			c.size += e.size
		case tar.TypeDir, tar.TypeSymlink, tar.TypeFifo, tar.TypeChar, tar.TypeBlock:
			e.linkname = hdr.Linkname
			e.devmajor, e.devminor = hdr.Devmajor, hdr.Devminor
		case tar.TypeLink:
			t, ok := c.entries[cleanRel(hdr.Linkname)]
			if !ok || t.typ != tar.TypeReg {
				return errdefs.InvalidArgumentf("build context: hardlink %s to %s: target is not an earlier regular file", rel, hdr.Linkname)
			}
			e.typ, e.off, e.size, e.link = tar.TypeReg, t.off, t.size, t
		case tar.TypeXGlobalHeader, tar.TypeXHeader:
			continue
		default:
			return errdefs.InvalidArgumentf("build context: %s: unsupported tar entry type %q", rel, hdr.Typeflag)
		}
		c.add(e)
	}
}

// add indexes e, making implicit parent directories.
func (c *contextFS) add(e *ctxEntry) {
	if old, ok := c.entries[e.rel]; ok {
		if old.typ == tar.TypeDir && e.typ == tar.TypeDir {
			old.mode, old.mtime = e.mode, e.mtime
			return
		}
		if old.typ == tar.TypeDir {
			c.removeTree(e.rel)
		}
		c.entries[e.rel] = e
		return
	}
	c.entries[e.rel] = e
	for child := e.rel; ; {
		parent := path.Dir(child)
		if parent == "." {
			parent = ""
		}
		c.kids[parent] = append(c.kids[parent], child)
		if _, ok := c.entries[parent]; ok {
			return
		}
		c.entries[parent] = &ctxEntry{rel: parent, typ: tar.TypeDir, mode: 0o755}
		child = parent
	}
}

func (c *contextFS) removeTree(rel string) {
	for _, k := range c.kids[rel] {
		c.removeTree(k)
		delete(c.entries, k)
	}
	delete(c.kids, rel)
}

// reader returns the data of a regular file.
func (c *contextFS) reader(e *ctxEntry) io.Reader {
	return io.NewSectionReader(c.spool, e.off, e.size)
}

// ReadFile returns the content of the regular file at rel (symlinks
// followed), for the Dockerfile.
func (c *contextFS) ReadFile(rel string) ([]byte, error) {
	e, _, err := c.lookup(rel)
	if err != nil {
		return nil, err
	}
	if e.typ != tar.TypeReg {
		return nil, fmt.Errorf("%s: not a regular file", rel)
	}
	b := make([]byte, e.size)
	if _, err := c.spool.ReadAt(b, e.off); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b, nil
}

var errNotExist = errors.New("file does not exist")

// lookup resolves rel inside the context, following symlinks (absolute
// ones from the context root) without ever leaving it, and returns the
// entry and its resolved path.
func (c *contextFS) lookup(rel string) (*ctxEntry, string, error) {
	parts := strings.Split(cleanRel(rel), "/")
	cur := ""
	for hops := 0; len(parts) > 0; {
		p := parts[0]
		parts = parts[1:]
		if p == "" || p == "." {
			continue
		}
		if p == ".." {
			cur = parentRel(cur)
			continue
		}
		next := p
		if cur != "" {
			next = cur + "/" + p
		}
		e, ok := c.entries[next]
		if !ok {
			return nil, "", &os.PathError{Op: "stat", Path: rel, Err: errNotExist}
		}
		if e.typ == tar.TypeSymlink {
			if hops++; hops > 255 {
				return nil, "", &os.PathError{Op: "stat", Path: rel, Err: unix.ELOOP}
			}
			target := e.linkname
			if path.IsAbs(target) {
				cur = ""
			}
			parts = append(strings.Split(target, "/"), parts...)
			continue
		}
		if len(parts) > 0 && e.typ != tar.TypeDir {
			return nil, "", &os.PathError{Op: "stat", Path: rel, Err: unix.ENOTDIR}
		}
		cur = next
	}
	return c.entries[cur], cur, nil
}

func parentRel(p string) string {
	d := path.Dir(p)
	if d == "." || d == "/" {
		return ""
	}
	return d
}

// walk calls fn for rel and everything below it, parents first, in name
// order.
func (c *contextFS) walk(rel string, fn func(*ctxEntry) error) error {
	e, ok := c.entries[rel]
	if !ok {
		return nil
	}
	if err := fn(e); err != nil {
		return err
	}
	for _, k := range c.kids[rel] {
		if err := c.walk(k, fn); err != nil {
			return err
		}
	}
	return nil
}

// sortedPaths returns every entry path but the root, sorted (for wildcards).
func (c *contextFS) sortedPaths() []string {
	out := make([]string, 0, len(c.entries))
	for k := range c.entries {
		if k != "" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
