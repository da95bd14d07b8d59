package build

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/patternmatcher"
	digest "github.com/opencontainers/go-digest"

	"github.com/berth-project/berth/internal/archive"
	"github.com/berth-project/berth/internal/build"
	"github.com/berth-project/berth/internal/errdefs"
)

// srcFile is one file to copy: its tar header (name relative to the copy
// root, "" for the root itself) and how to read its data.
type srcFile struct {
	hdr  tar.Header
	open func() (io.ReadCloser, error)
}

// copyRoot is one source of a COPY/ADD after wildcard expansion.
type copyRoot struct {
	name    string    // base name, for a file copied into a directory
	dir     bool      // copy the directory's contents
	files   []srcFile // a directory's tree (its own entry first), or one file
	archive bool      // ADD: extract the file's entries into the destination
	// fetch, when set, downloads the root when it is copied (ADD of a
	// URL with --checksum: the digest is known without downloading).
	fetch func(context.Context) (copyRoot, error)
}

// sources implements build.Sources.
type sources struct {
	req   build.SourceRequest
	roots []copyRoot // resolved now (context, URLs, heredocs)
	lazy  bool       // image sources: resolved in Copy, from a mounted view
	dgst  digest.Digest
	files []build.FileSum
	count int
}

func (s *sources) Digest() digest.Digest        { return s.dgst }
func (s *sources) Files() []build.FileSum       { return s.files }
func (s *sources) Count() int                   { return s.count }
func (s *sources) source() *build.SourceRequest { return &s.req }

func hasWildcard(p string) bool { return strings.ContainsAny(p, "*?[\\") }

// cleanSource turns a source pattern into a path relative to the source root.
func cleanSource(p string) string {
	p = strings.TrimPrefix(p, "/")
	p = strings.TrimPrefix(p, "./")
	if p == "" || p == "." {
		return ""
	}
	return cleanRel(p)
}

// contextSources resolves patterns against the build context.
func contextSources(c *contextFS, req build.SourceRequest, fetch func(string) (copyRoot, error)) (*sources, error) {
	s := &sources{req: req}
	var excl *patternmatcher.PatternMatcher
	if len(req.Excludes) > 0 {
		var err error
		if excl, err = patternmatcher.New(req.Excludes); err != nil {
			return nil, errdefs.InvalidArgumentf("invalid exclude pattern: %v", err)
		}
	}
	for _, p := range req.Paths {
		if req.AllowURL && isURL(p) {
			r, err := fetch(p)
			if err != nil {
				return nil, err
			}
			s.roots = append(s.roots, r)
			continue
		}
		if isURL(p) {
			return nil, errdefs.InvalidArgumentf("source can't be a URL for %s", req.Cmd)
		}
		rel := cleanSource(p)
		var matches []string
		if hasWildcard(rel) {
			for _, cand := range c.sortedPaths() {
				if ok, _ := filepath.Match(rel, cand); ok {
					matches = append(matches, cand)
				}
			}
			if len(matches) == 0 {
				return nil, errdefs.NotFoundf("%s failed: no source files were specified", req.Cmd)
			}
		} else {
			matches = []string{rel}
		}
		for _, m := range matches {
			r, err := contextRoot(c, m, req, excl)
			if err != nil {
				return nil, err
			}
			s.roots = append(s.roots, r)
		}
	}
	for _, f := range req.Inline {
		data := f.Data
		s.roots = append(s.roots, copyRoot{name: f.Path, files: []srcFile{{
			hdr:  tar.Header{Typeflag: tar.TypeReg, Mode: int64(f.Mode), Size: int64(len(data))},
			open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(data)), nil },
		}}})
	}
	if len(s.roots) == 0 {
		return nil, errdefs.InvalidArgumentf("%s failed: no source files were specified", req.Cmd)
	}
	s.count = len(s.roots)
	s.summarize()
	return s, nil
}

func contextRoot(c *contextFS, rel string, req build.SourceRequest, excl *patternmatcher.PatternMatcher) (copyRoot, error) {
	e, resolved, err := c.lookup(rel)
	if err != nil {
		return copyRoot{}, errdefs.NotFound(fmt.Errorf("%s failed: file not found in build context or excluded by .dockerignore: %w", req.Cmd, err))
	}
	name := path.Base("/" + rel)
	if e.typ != tar.TypeDir {
		r := copyRoot{name: name, files: []srcFile{c.srcFile(e, "")}}
		if req.Unpack && e.typ == tar.TypeReg && isArchive(c.reader(e)) {
			r.archive = true
		}
		return r, nil
	}
	r := copyRoot{name: name, dir: true}
	err = c.walk(resolved, func(x *ctxEntry) error {
		sub := strings.TrimPrefix(strings.TrimPrefix(x.rel, resolved), "/")
		if resolved == "" {
			sub = x.rel
		}
		if excl != nil && sub != "" {
			if m, _ := excl.MatchesOrParentMatches(sub); m {
				return nil
			}
		}
		r.files = append(r.files, c.srcFile(x, sub))
		return nil
	})
	return r, err
}

func (c *contextFS) srcFile(e *ctxEntry, rel string) srcFile {
	hdr := tar.Header{Name: rel, Typeflag: e.typ, Mode: e.mode, ModTime: e.mtime, Linkname: e.linkname,
		Devmajor: e.devmajor, Devminor: e.devminor}
	f := srcFile{hdr: hdr}
	if e.typ == tar.TypeReg {
		f.hdr.Size = e.size
		f.open = func() (io.ReadCloser, error) { return io.NopCloser(c.reader(e)), nil }
		f.hdr.PAXRecords = map[string]string{paxDigest: e.sum.String()}
	}
	return f
}

// paxDigest carries a context file's content digest in srcFile headers
// (it never reaches a layer).
const paxDigest = "BERTH.digest"

// summarize computes the digest of the sources (paths, types, modes,
// link targets and content digests; never times) and the file list.
func (s *sources) summarize() {
	h := digest.Canonical.Digester()
	fmt.Fprintf(h.Hash(), "%s\x00unpack=%v\x00", s.req.Cmd, s.req.Unpack)
	for _, r := range s.roots {
		fmt.Fprintf(h.Hash(), "root\x00%s\x00%v\x00%v\x00", r.name, r.dir, r.archive)
		for _, f := range r.files {
			fs := fileSum(f)
			fmt.Fprintf(h.Hash(), "%s\x00%s\x00", f.hdr.Name, fs)
			p := r.name
			if f.hdr.Name != "" {
				p = path.Join(r.name, f.hdr.Name)
			}
			s.files = append(s.files, build.FileSum{Path: p, Digest: fs})
		}
	}
	s.dgst = h.Digest()
}

func fileSum(f srcFile) digest.Digest {
	return digest.FromString(fmt.Sprintf("%c\x00%o\x00%s\x00%s\x00%d:%d", f.hdr.Typeflag, f.hdr.Mode, f.hdr.Linkname,
		f.hdr.PAXRecords[paxDigest], f.hdr.Devmajor, f.hdr.Devminor))
}

// imageSources are resolved when copied; the digest is the source's cache
// key (a stage's last step or an image ID) and the patterns.
func imageSources(req build.SourceRequest) *sources {
	s := &sources{req: req, lazy: true, count: len(req.Paths)}
	h := digest.Canonical.Digester()
	fmt.Fprintf(h.Hash(), "from\x00%s\x00", req.Key)
	for _, p := range req.Paths {
		fmt.Fprintf(h.Hash(), "path\x00%s\x00", p)
	}
	for _, p := range req.Excludes {
		fmt.Fprintf(h.Hash(), "exclude\x00%s\x00", p)
	}
	s.dgst = h.Digest()
	return s
}

// resolveInRoot resolves the patterns of an image source inside root (a
// mounted read-only view of the source image): symlinks are followed
// without leaving root, and the trees found are listed without following
// any symlink.
func resolveInRoot(root string, req build.SourceRequest) ([]copyRoot, error) {
	var excl *patternmatcher.PatternMatcher
	if len(req.Excludes) > 0 {
		var err error
		if excl, err = patternmatcher.New(req.Excludes); err != nil {
			return nil, errdefs.InvalidArgumentf("invalid exclude pattern: %v", err)
		}
	}
	var out []copyRoot
	for _, p := range req.Paths {
		rel := cleanSource(p)
		var matches []string
		if hasWildcard(rel) {
			err := filepath.WalkDir(root, func(full string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				r, _ := filepath.Rel(root, full)
				if r == "." {
					return nil
				}
				if ok, _ := filepath.Match(rel, r); ok {
					matches = append(matches, r)
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("%s failed: %w", req.Cmd, err)
			}
			if len(matches) == 0 {
				return nil, errdefs.NotFoundf("%s failed: no source files were specified", req.Cmd)
			}
		} else {
			matches = []string{rel}
		}
		for _, m := range matches {
			full, err := securejoin.SecureJoin(root, m)
			if err != nil {
				return nil, fmt.Errorf("%s failed: %w", req.Cmd, err)
			}
			st, err := os.Stat(full)
			if err != nil {
				return nil, errdefs.NotFound(fmt.Errorf("%s failed: stat %s: %w", req.Cmd, m, errNotExist))
			}
			name := path.Base("/" + m)
			if !st.IsDir() {
				f, err := fileFromFS(full, "")
				if err != nil {
					return nil, err
				}
				out = append(out, copyRoot{name: name, files: []srcFile{f}})
				continue
			}
			r := copyRoot{name: name, dir: true}
			err = filepath.WalkDir(full, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				sub, _ := filepath.Rel(full, p)
				if sub == "." {
					sub = ""
				}
				if excl != nil && sub != "" {
					if m, _ := excl.MatchesOrParentMatches(sub); m {
						if d.IsDir() {
							return filepath.SkipDir
						}
						return nil
					}
				}
				f, err := fileFromFS(p, sub)
				if err != nil {
					return err
				}
				r.files = append(r.files, f)
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("%s failed: %w", req.Cmd, err)
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// fileFromFS describes the file at p (not following a symlink at p).
func fileFromFS(p, rel string) (srcFile, error) {
	st, err := os.Lstat(p)
	if err != nil {
		return srcFile{}, err
	}
	link := ""
	if st.Mode()&os.ModeSymlink != 0 {
		if link, err = os.Readlink(p); err != nil {
			return srcFile{}, err
		}
	}
	hdr, err := tar.FileInfoHeader(st, link)
	if err != nil {
		return srcFile{}, err
	}
	hdr.Name = rel
	hdr.Uname, hdr.Gname = "", ""
	hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
	f := srcFile{hdr: *hdr}
	if hdr.Typeflag == tar.TypeReg {
		f.open = func() (io.ReadCloser, error) { return os.Open(p) }
	}
	return f, nil
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// isArchive reports whether r starts like a tar, possibly gzip, bzip2,
// xz or zstd compressed (what ADD extracts).
func isArchive(r io.Reader) bool {
	br := bufio.NewReaderSize(r, 1024)
	head, _ := br.Peek(512)
	var tr io.Reader
	switch {
	case bytes.HasPrefix(head, []byte{0x42, 0x5A, 0x68}):
		tr = bzip2.NewReader(br)
	case bytes.HasPrefix(head, []byte{0xFD, '7', 'z', 'X', 'Z', 0x00}):
		return false // xz: not supported for extraction; copied as a file
	default:
		dec, err := archive.Decompress(br)
		if err != nil {
			return false
		}
		defer dec.Close()
		tr = dec
	}
	_, err := tar.NewReader(tr).Next()
	return err == nil
}

// openArchive returns the tar stream inside a (compressed) archive.
func openArchive(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 1024)
	head, _ := br.Peek(3)
	if bytes.HasPrefix(head, []byte{0x42, 0x5A, 0x68}) {
		return io.NopCloser(bzip2.NewReader(br)), nil
	}
	return archive.Decompress(br)
}
