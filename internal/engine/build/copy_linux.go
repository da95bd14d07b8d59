package build

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/berth-project/berth/internal/build"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/oci"
)

// Copy implements build.Backend: it plans the entries of the new layer
// against a read-only view of the current image (where the destination
// is, what exists, who --chown names) and writes them.
func (s *session) Copy(ctx context.Context, req build.CopyRequest) (*build.Layer, error) {
	srcs, ok := req.Sources.(*sources)
	if !ok {
		return nil, fmt.Errorf("copy: foreign sources %T", req.Sources)
	}
	parent := chainOf(req.Layers)
	view, release, err := s.view(ctx, parent)
	if err != nil {
		return nil, err
	}
	defer release()
	roots := srcs.roots
	if srcs.lazy {
		sview, srelease, err := s.view(ctx, chainOf(srcs.req.Image.Layers))
		if err != nil {
			return nil, err
		}
		defer srelease()
		if roots, err = resolveInRoot(sview, srcs.req); err != nil {
			return nil, err
		}
		if len(roots) > 1 && !strings.HasSuffix(req.Dest, "/") {
			return nil, errdefs.InvalidArgumentf("When using %s with more than one source file, the destination must be a directory and end with a /", req.Cmd)
		}
	}
	for i, r := range roots {
		if r.fetch != nil {
			if roots[i], err = r.fetch(ctx); err != nil {
				return nil, err
			}
		}
	}
	p := &planner{view: view, made: map[string]bool{}, now: s.now(req.SourceDateEpoch), epoch: req.SourceDateEpoch,
		preserve: req.PreserveOwner, cmd: req.Cmd}
	if req.Chown != "" {
		o, err := resolveChown(view, req.Chown)
		if err != nil {
			return nil, err
		}
		p.owner = &o
	}
	if req.Chmod != "" {
		m, _ := strconv.ParseUint(req.Chmod, 8, 32)
		mode := int64(m)
		p.chmod = &mode
	}
	for _, r := range roots {
		if err := p.addRoot(r, req.Dest); err != nil {
			return nil, err
		}
	}
	if len(p.entries) == 0 {
		return nil, nil
	}
	return s.writeLayer(ctx, parent, p.entries)
}

// Mkdir implements build.Backend (WORKDIR).
func (s *session) Mkdir(ctx context.Context, layers []build.Layer, dir, user string) (*build.Layer, error) {
	parent := chainOf(layers)
	view, release, err := s.view(ctx, parent)
	if err != nil {
		return nil, err
	}
	defer release()
	p := &planner{view: view, made: map[string]bool{}, now: s.now(s.opts.SourceDateEpoch), epoch: s.opts.SourceDateEpoch, cmd: "WORKDIR"}
	if user != "" {
		u, _, err := oci.ResolveUser(view, user)
		if err != nil {
			return nil, err
		}
		p.owner = &owner{uid: int(u.UID), gid: int(u.GID)}
	}
	if _, err := p.ensureDir(dir); err != nil {
		return nil, err
	}
	if len(p.entries) == 0 {
		return nil, nil
	}
	return s.writeLayer(ctx, parent, p.entries)
}

type owner struct{ uid, gid int }

// planner lists the tar entries of a COPY/ADD/WORKDIR layer.
type planner struct {
	view     string
	entries  []entry
	made     map[string]bool // directories this layer creates
	now      time.Time
	epoch    *time.Time
	owner    *owner
	preserve bool
	chmod    *int64
	cmd      string
}

// lstatRel looks at rel in the view without following a final symlink.
func (p *planner) lstatRel(rel string) (fs.FileInfo, error) {
	return os.Lstat(path.Join(p.view, rel))
}

// resolve follows symlinks of the view path rel within the view.
func (p *planner) resolve(rel string) (string, error) {
	full, err := securejoin.SecureJoin(p.view, rel)
	if err != nil {
		return "", err
	}
	return relIn(p.view, full), nil
}

// ensureDir makes sure the absolute directory abs exists in the new
// layer's view, emitting entries for the parts that are missing, and
// returns its path relative to the root with symlinks resolved.
func (p *planner) ensureDir(abs string) (string, error) {
	cur := ""
	for _, comp := range strings.Split(strings.Trim(path.Clean("/"+abs), "/"), "/") {
		if comp == "" {
			continue
		}
		cand := path.Join(cur, comp)
		if p.made[cand] {
			cur = cand
			continue
		}
		st, err := p.lstatRel(cand)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			p.mkdir(cand)
			cur = cand
		case err != nil:
			return "", fmt.Errorf("%s failed: %w", p.cmd, err)
		case st.Mode()&os.ModeSymlink != 0:
			res, err := p.resolve(cand)
			if err != nil {
				return "", fmt.Errorf("%s failed: %w", p.cmd, err)
			}
			if cur, err = p.ensureDir("/" + res); err != nil {
				return "", err
			}
		case st.IsDir():
			cur = cand
		default:
			return "", errdefs.InvalidArgumentf("%s failed: mkdir /%s: not a directory", p.cmd, cand)
		}
	}
	return cur, nil
}

func (p *planner) mkdir(rel string) {
	hdr := tar.Header{Name: rel + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: p.now}
	if p.owner != nil {
		hdr.Uid, hdr.Gid = p.owner.uid, p.owner.gid
	}
	// --chmod is for the copied files; directories made on the way to
	// the destination get 0755, as buildkit makes them.
	p.entries = append(p.entries, entry{hdr: hdr})
	p.made[rel] = true
}

// isDir reports whether the absolute path abs is a directory in the view
// (or one this layer makes).
func (p *planner) isDir(abs string) bool {
	rel, err := p.resolve(abs)
	if err != nil {
		return false
	}
	if p.made[rel] {
		return true
	}
	st, err := os.Stat(path.Join(p.view, rel))
	return err == nil && st.IsDir()
}

// addRoot plans one source into dest.
func (p *planner) addRoot(r copyRoot, dest string) error {
	slash := strings.HasSuffix(dest, "/")
	switch {
	case r.archive:
		dir, err := p.ensureDir(dest)
		if err != nil {
			return err
		}
		f := r.files[0]
		p.entries = append(p.entries, entry{write: func(tw *tar.Writer) error { return p.extract(tw, f, dir) }})
		return nil
	case r.dir:
		dir, err := p.ensureDir(dest)
		if err != nil {
			return err
		}
		for _, f := range r.files {
			if f.hdr.Name == "" {
				continue // the source directory itself: dest keeps its own metadata
			}
			if err := p.addFile(f, path.Join(dir, f.hdr.Name)); err != nil {
				return err
			}
		}
		return nil
	}
	var target string
	if slash || p.isDir(dest) {
		dir, err := p.ensureDir(dest)
		if err != nil {
			return err
		}
		target = path.Join(dir, r.name)
	} else {
		dir, err := p.ensureDir(path.Dir(path.Clean(dest)))
		if err != nil {
			return err
		}
		target = path.Join(dir, path.Base(path.Clean(dest)))
	}
	if target == "" || target == "." {
		return errdefs.InvalidArgumentf("%s failed: cannot copy a file to /", p.cmd)
	}
	if st, err := p.lstatRel(target); err == nil && st.IsDir() && !p.made[target] {
		return errdefs.InvalidArgumentf("%s failed: cannot overwrite directory /%s with a file", p.cmd, target)
	}
	return p.addFile(r.files[0], target)
}

func (p *planner) addFile(f srcFile, name string) error {
	if base := path.Base(name); strings.HasPrefix(base, ".wh.") {
		return errdefs.InvalidArgumentf("%s failed: %s: file names starting with .wh. cannot be stored in an image layer", p.cmd, name)
	}
	hdr := f.hdr
	hdr.Name = name
	if hdr.Typeflag == tar.TypeDir {
		hdr.Name += "/"
		p.made[name] = true
	}
	hdr.PAXRecords = nil
	hdr.Uname, hdr.Gname = "", ""
	hdr.Format = tar.FormatUnknown
	p.fixMeta(&hdr)
	p.entries = append(p.entries, entry{hdr: hdr, open: f.open})
	return nil
}

// fixMeta applies ownership, --chmod and time rules to a header.
func (p *planner) fixMeta(hdr *tar.Header) {
	switch {
	case p.owner != nil:
		hdr.Uid, hdr.Gid = p.owner.uid, p.owner.gid
	case !p.preserve:
		hdr.Uid, hdr.Gid = 0, 0
	}
	if p.chmod != nil && hdr.Typeflag != tar.TypeSymlink {
		hdr.Mode = *p.chmod
	}
	if hdr.ModTime.IsZero() {
		hdr.ModTime = p.now
	}
	if p.epoch != nil && hdr.ModTime.After(*p.epoch) {
		hdr.ModTime = *p.epoch
	}
	hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
}

// extract writes the entries of an archive (ADD of a local tar) under dir.
func (p *planner) extract(tw *tar.Writer, f srcFile, dir string) error {
	rc, err := f.open()
	if err != nil {
		return err
	}
	defer rc.Close()
	ar, err := openArchive(rc)
	if err != nil {
		return err
	}
	defer ar.Close()
	tr := tar.NewReader(ar)
	buf := make([]byte, 256<<10)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("ADD failed: read archive: %w", err)
		}
		rel := cleanRel(hdr.Name)
		if rel == "" {
			continue
		}
		if strings.HasPrefix(path.Base(rel), ".wh.") {
			return errdefs.InvalidArgumentf("ADD failed: %s: file names starting with .wh. cannot be stored in an image layer", rel)
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA, tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		case tar.TypeXGlobalHeader:
			continue
		default:
			return errdefs.InvalidArgumentf("ADD failed: %s: unsupported tar entry type %q", rel, hdr.Typeflag)
		}
		out := *hdr
		out.Name = path.Join(dir, rel)
		if hdr.Typeflag == tar.TypeDir {
			out.Name += "/"
		}
		if hdr.Typeflag == tar.TypeRegA {
			out.Typeflag = tar.TypeReg
		}
		if hdr.Typeflag == tar.TypeLink {
			out.Linkname = path.Join(dir, cleanRel(hdr.Linkname))
		}
		out.PAXRecords = nil
		out.Uname, out.Gname = "", ""
		out.Format = tar.FormatUnknown
		if p.owner != nil {
			out.Uid, out.Gid = p.owner.uid, p.owner.gid
		}
		if p.chmod != nil && out.Typeflag != tar.TypeSymlink {
			out.Mode = *p.chmod
		}
		if p.epoch != nil && out.ModTime.After(*p.epoch) {
			out.ModTime = *p.epoch
		}
		out.AccessTime, out.ChangeTime = time.Time{}, time.Time{}
		if err := tw.WriteHeader(&out); err != nil {
			return err
		}
		if out.Typeflag == tar.TypeReg {
			if _, err := io.CopyBuffer(tw, tr, buf); err != nil {
				return err
			}
		}
	}
}

// resolveChown reads --chown=user[:group] against the image's /etc files.
// A user without a group uses the user's numeric ID as group ID, as Docker
// does.
func resolveChown(root, spec string) (owner, error) {
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	uid, err := lookupID(root, "/etc/passwd", userPart)
	if err != nil {
		return owner{}, errdefs.InvalidArgumentf("unable to convert uid/gid chown string to host mapping: can't find uid for user %s: %v", userPart, err)
	}
	gid := uid
	if hasGroup {
		if gid, err = lookupID(root, "/etc/group", groupPart); err != nil {
			return owner{}, errdefs.InvalidArgumentf("unable to convert uid/gid chown string to host mapping: can't find gid for group %s: %v", groupPart, err)
		}
	}
	return owner{uid: uid, gid: gid}, nil
}

func lookupID(root, file, name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("negative id")
		}
		return n, nil
	}
	p, err := securejoin.SecureJoin(root, file)
	if err != nil {
		return 0, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, fmt.Errorf("no %s in the image", file)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 3 && f[0] == name {
			return strconv.Atoi(f[2])
		}
	}
	return 0, fmt.Errorf("no such name in %s", file)
}
