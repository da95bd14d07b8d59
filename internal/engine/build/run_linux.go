package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/internal/archive"
	"github.com/berth-project/berth/internal/build"
	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/mount"
	"github.com/berth-project/berth/internal/oci"
	"github.com/berth-project/berth/internal/runtime"
	"github.com/berth-project/berth/internal/runtime/seccomp"
	"github.com/berth-project/berth/internal/snapshot"
)

// Run implements build.Backend: the command runs in a container on a new
// active snapshot of the current layers; its changes become the layer.
// A failing command leaves nothing behind: the snapshot is removed and no
// blob or cache record is written.
func (s *session) Run(ctx context.Context, req build.RunRequest) (*build.Layer, error) {
	parent := chainOf(req.Layers)
	id := content.RandomID()
	key := "build-run-" + id
	mounts, err := s.sn.Prepare(ctx, key, parent.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("prepare RUN rootfs: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = s.sn.Remove(context.WithoutCancel(ctx), key)
		}
	}()
	bundle := filepath.Join(s.work, "run-"+id)
	rootfs := filepath.Join(bundle, "rootfs")
	if err := os.MkdirAll(rootfs, 0o700); err != nil {
		return nil, err
	}
	defer os.RemoveAll(bundle)
	if err := mount.All(mounts, rootfs); err != nil {
		return nil, fmt.Errorf("mount RUN rootfs: %w", err)
	}
	mounted := true
	unmount := func() error {
		if !mounted {
			return nil
		}
		mounted = false
		return mount.UnmountAll(rootfs)
	}
	defer unmount()

	spec, cleanup, err := s.runSpec(ctx, req, bundle, rootfs, id)
	defer cleanup()
	if err != nil {
		return nil, err
	}
	// Mount points the runtime makes in the rootfs are not changes of the
	// step: note which are missing now and remove them afterwards.
	stubs := missingPaths(rootfs, spec)
	if err := writeSpec(bundle, spec); err != nil {
		return nil, err
	}
	code, err := s.runContainer(ctx, id, bundle, req.Stdout, req.Stderr)
	if err != nil {
		return nil, fmt.Errorf("RUN %s: %w", strings.Join(req.Args, " "), err)
	}
	if code != 0 {
		return nil, &runError{cmd: strings.Join(req.Args, " "), code: code}
	}
	removeStubs(rootfs, stubs)
	if err := unmount(); err != nil {
		return nil, fmt.Errorf("unmount RUN rootfs: %w", err)
	}
	upper, overlay, err := s.sn.UpperDir(ctx, key)
	if err != nil {
		return nil, err
	}
	lower := ""
	if overlay {
		if empty, err := dirEmpty(upper); err != nil {
			return nil, err
		} else if empty {
			return nil, nil
		}
	} else if lower, err = snapshot.ParentDir(ctx, s.sn, key); err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(archive.Diff(ctx, lower, upper, pw, archive.DiffOptions{UpperIsOverlay: overlay, SourceDateEpoch: s.opts.SourceDateEpoch}))
	}()
	layer, err := s.storeAndApply(ctx, pr, nil)
	pr.CloseWithError(errors.New("diff ended"))
	if err != nil {
		return nil, fmt.Errorf("store RUN layer: %w", err)
	}
	if err := s.commitSnapshot(ctx, key, parent, layer); err != nil {
		return nil, err
	}
	committed = true
	return layer, nil
}

// runError is Docker's error for a failing RUN.
type runError struct {
	cmd  string
	code int
}

func (e *runError) Error() string {
	return fmt.Sprintf("The command '%s' returned a non-zero code: %d", e.cmd, e.code)
}

// ExitCode returns the command's exit status.
func (e *runError) ExitCode() int { return e.code }

func dirEmpty(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return len(names) == 0, err
}

// runContainer runs the bundle with berth's runtime in this process,
// copying the container's output to stdout/stderr.
func (s *session) runContainer(ctx context.Context, id, bundle string, stdout, stderr io.Writer) (int, error) {
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return -1, err
	}
	defer devnull.Close()
	or, ow, err := os.Pipe()
	if err != nil {
		return -1, err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		io.Copy(stdout, or)
		or.Close()
	}()
	rt := &runtime.Runtime{Root: s.svc.cfg.RuntimeRoot}
	code, err := rt.RunAttached(ctx, "build-"+id, runtime.CreateOpts{Bundle: bundle, Stdio: [3]*os.File{devnull, ow, ow}})
	ow.Close()
	wg.Wait()
	return code, err
}

func writeSpec(bundle string, spec *specs.Spec) error {
	b, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o600)
}

// runSpec builds the step container's spec: Docker's defaults, the
// image's user, env and working directory, the network mode, /etc files
// and the --mount mounts.
func (s *session) runSpec(ctx context.Context, req build.RunRequest, bundle, rootfs, id string) (*specs.Spec, func(), error) {
	var cleanups []func()
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	network := req.Network
	var netns string
	switch network {
	case "", "default", "bridge":
		if n := s.svc.stepNetwork(); n != nil {
			// Docker's default: the step joins the default bridge.
			ns, release, err := n.Attach(ctx, id, stepHostname, bundle)
			if err != nil {
				return nil, cleanup, fmt.Errorf("RUN network: %w", err)
			}
			cleanups = append(cleanups, release)
			network, netns = "bridge", ns
		} else {
			network = s.svc.cfg.DefaultNetwork
		}
	case "none", "host":
	default:
		return nil, cleanup, errdefs.InvalidArgumentf("network mode %q is not supported for RUN", network)
	}
	env := req.Env
	cwd := req.Cwd
	if cwd == "" {
		cwd = "/"
	}
	opts := []oci.SpecOpt{
		oci.WithRootfs(rootfs, false),
		oci.WithArgs(req.Args...),
		oci.WithEnv(env),
		oci.WithCwd(cwd),
		oci.WithHostname(stepHostname),
		oci.WithNetworkMode(container.NetworkMode(network)),
		oci.WithUser(rootfs, req.User),
		oci.WithCgroupsPath(path.Join(s.svc.cgroupParent(), "build-"+id)),
	}
	var etc []specs.Mount
	if netns != "" {
		etc = bundleEtcMounts(bundle)
	} else if e, err := etcMounts(bundle, network); err != nil {
		return nil, cleanup, err
	} else {
		etc = e
	}
	opts = append(opts, oci.WithMounts(etc))
	var extra []specs.Mount
	for _, m := range req.Mounts {
		ms, c, err := s.runMount(ctx, m, bundle, &env)
		cleanups = append(cleanups, c)
		if err != nil {
			return nil, cleanup, err
		}
		extra = append(extra, ms...)
	}
	if len(req.Files) > 0 {
		dir := filepath.Join(bundle, "pipes")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, cleanup, err
		}
		for _, f := range req.Files {
			if err := os.WriteFile(filepath.Join(dir, path.Base(f.Path)), []byte(f.Data), os.FileMode(f.Mode)); err != nil {
				return nil, cleanup, err
			}
		}
		extra = append(extra, specs.Mount{Destination: "/dev/pipes", Type: "bind", Source: dir, Options: []string{"rbind", "ro"}})
	}
	opts = append(opts, oci.WithMounts(extra), oci.WithEnv(env))
	spec, err := oci.New(opts...)
	if err != nil {
		return nil, cleanup, err
	}
	if netns != "" {
		for i, ns := range spec.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				spec.Linux.Namespaces[i].Path = netns
			}
		}
	}
	spec.Linux.Seccomp = seccomp.DefaultProfile(spec.Process.Capabilities.Bounding)
	return spec, cleanup, nil
}

// etcMounts writes the step container's /etc/hosts, /etc/resolv.conf and
// /etc/hostname.
func etcMounts(bundle, network string) ([]specs.Mount, error) {
	resolv := "nameserver 127.0.0.1\n"
	if network != "none" {
		if b, err := os.ReadFile("/etc/resolv.conf"); err == nil {
			resolv = string(b)
		}
	}
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tberth-build\n"
	files := []struct{ name, data, dst string }{
		{"hosts", hosts, "/etc/hosts"},
		{"resolv.conf", resolv, "/etc/resolv.conf"},
		{"hostname", "berth-build\n", "/etc/hostname"},
	}
	var out []specs.Mount
	for _, f := range files {
		p := filepath.Join(bundle, f.name)
		if err := os.WriteFile(p, []byte(f.data), 0o644); err != nil {
			return nil, err
		}
		out = append(out, specs.Mount{Destination: f.dst, Type: "bind", Source: p, Options: []string{"rbind", "ro"}})
	}
	return out, nil
}

// stepHostname is the host name of RUN steps.
const stepHostname = "berth-build"

// bundleEtcMounts mounts the /etc files the network attachment wrote
// into the bundle.
func bundleEtcMounts(bundle string) []specs.Mount {
	var out []specs.Mount
	for _, f := range []struct{ name, dst string }{{"hosts", "/etc/hosts"}, {"resolv.conf", "/etc/resolv.conf"}, {"hostname", "/etc/hostname"}} {
		out = append(out, specs.Mount{Destination: f.dst, Type: "bind", Source: filepath.Join(bundle, f.name), Options: []string{"rbind", "ro"}})
	}
	return out
}

// runMount turns one RUN --mount into spec mounts (and env for secrets).
func (s *session) runMount(ctx context.Context, m build.RunMount, bundle string, env *[]string) ([]specs.Mount, func(), error) {
	none := func() {}
	switch m.Type {
	case "tmpfs":
		opts := "mode=1777"
		if m.Size > 0 {
			opts += fmt.Sprintf(",size=%d", m.Size)
		}
		mnt := oci.TmpfsMount(m.Target, opts)
		mnt.Options = []string{"nosuid", "nodev", "mode=1777"}
		if m.Size > 0 {
			mnt.Options = append(mnt.Options, fmt.Sprintf("size=%d", m.Size))
		}
		return []specs.Mount{mnt}, none, nil
	case "cache":
		dir, unlock, err := s.svc.cacheMount(m)
		if err != nil {
			return nil, none, err
		}
		opt := "rw"
		if m.ReadOnly {
			opt = "ro"
		}
		return []specs.Mount{{Destination: m.Target, Type: "bind", Source: dir, Options: []string{"rbind", opt}}}, unlock, nil
	case "secret":
		data, ok := s.secrets[m.SecretID]
		if !ok {
			if m.Required {
				return nil, none, errdefs.InvalidArgumentf("secret %s: not provided (berth build --secret id=%s,src=FILE)", m.SecretID, m.SecretID)
			}
			return nil, none, nil
		}
		if m.Env != "" {
			*env = append(*env, m.Env+"="+string(data))
		}
		if m.Target == "" {
			return nil, none, nil
		}
		dir, err := os.MkdirTemp(s.svc.secretDir(), "secret-")
		if err != nil {
			return nil, none, err
		}
		clean := func() { os.RemoveAll(dir) }
		mode := os.FileMode(0o400)
		if m.Mode != nil {
			mode = os.FileMode(*m.Mode)
		}
		p := filepath.Join(dir, "secret")
		if err := os.WriteFile(p, data, mode); err != nil {
			return nil, clean, err
		}
		if err := os.Chmod(p, mode); err != nil {
			return nil, clean, err
		}
		uid, gid := 0, 0
		if m.UID != nil {
			uid = int(*m.UID)
		}
		if m.GID != nil {
			gid = int(*m.GID)
		}
		if err := os.Chown(p, uid, gid); err != nil {
			return nil, clean, err
		}
		return []specs.Mount{{Destination: m.Target, Type: "bind", Source: p, Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"}}}, clean, nil
	case "bind":
		src, ok := (*m.Sources).(*sources)
		if !ok {
			return nil, none, fmt.Errorf("bind mount: foreign sources")
		}
		dir, clean, err := s.materialize(ctx, src, bundle)
		if err != nil {
			return nil, clean, err
		}
		opt := "ro"
		if !m.ReadOnly {
			opt = "rw" // a private copy: writes are discarded with it
		}
		return []specs.Mount{{Destination: m.Target, Type: "bind", Source: dir, Options: []string{"rbind", opt}}}, clean, nil
	}
	return nil, none, errdefs.InvalidArgumentf("unsupported mount type %q", m.Type)
}

// materialize writes the files of a bind mount's source into a private
// directory (so a read-write bind mount changes nothing outside the step).
func (s *session) materialize(ctx context.Context, src *sources, bundle string) (string, func(), error) {
	dir, err := os.MkdirTemp(bundle, "bind-")
	if err != nil {
		return "", func() {}, err
	}
	roots := src.roots
	var release func()
	if src.lazy {
		view, rel, err := s.view(ctx, chainOf(src.req.Image.Layers))
		if err != nil {
			return "", func() {}, err
		}
		release = rel
		if roots, err = resolveInRoot(view, src.req); err != nil {
			release()
			return "", func() {}, err
		}
	}
	clean := func() {
		if release != nil {
			release()
		}
	}
	if len(roots) != 1 {
		return "", clean, errdefs.InvalidArgumentf("RUN --mount=type=bind: source must name one file or directory")
	}
	r := roots[0]
	var entries []entry
	if r.dir {
		for _, f := range r.files {
			if f.hdr.Name == "" {
				continue
			}
			hdr := f.hdr
			hdr.PAXRecords = nil
			if hdr.Typeflag == '5' {
				hdr.Name += "/"
			}
			entries = append(entries, entry{hdr: hdr, open: f.open})
		}
	} else {
		hdr := r.files[0].hdr
		hdr.Name = r.name
		hdr.PAXRecords = nil
		entries = append(entries, entry{hdr: hdr, open: r.files[0].open})
	}
	pr := tarEntries(entries)
	if _, _, err := archive.Apply(ctx, dir, pr, archive.ApplyOptions{}); err != nil {
		pr.CloseWithError(err)
		return "", clean, fmt.Errorf("RUN --mount=type=bind: %w", err)
	}
	if !r.dir {
		return filepath.Join(dir, r.name), clean, nil
	}
	return dir, clean, nil
}

// cacheMount returns the directory of a cache mount (made on first use,
// with the mount's owner and mode) and a function that ends this use;
// sharing=locked and private serialise the users of one cache.
func (svc *Service) cacheMount(m build.RunMount) (string, func(), error) {
	sum := sha256.Sum256([]byte(m.CacheID))
	dir := filepath.Join(svc.cfg.Root, "mounts", hex.EncodeToString(sum[:16]))
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		tmp := dir + ".tmp-" + content.RandomID()[:8]
		mode := os.FileMode(0o755)
		if m.Mode != nil {
			mode = os.FileMode(*m.Mode)
		}
		if err := os.MkdirAll(tmp, mode); err != nil {
			return "", nil, err
		}
		os.Chmod(tmp, mode)
		uid, gid := 0, 0
		if m.UID != nil {
			uid = int(*m.UID)
		}
		if m.GID != nil {
			gid = int(*m.GID)
		}
		if err := os.Chown(tmp, uid, gid); err != nil {
			return "", nil, err
		}
		if err := os.Rename(tmp, dir); err != nil {
			os.RemoveAll(tmp)
		}
	}
	if m.Sharing == "locked" || m.Sharing == "private" {
		l := svc.cacheLock(dir)
		l.Lock()
		return dir, l.Unlock, nil
	}
	return dir, func() {}, nil
}

func (svc *Service) cacheLock(dir string) *sync.Mutex {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if svc.cacheLocks == nil {
		svc.cacheLocks = map[string]*sync.Mutex{}
	}
	l, ok := svc.cacheLocks[dir]
	if !ok {
		l = &sync.Mutex{}
		svc.cacheLocks[dir] = l
	}
	return l
}

// missingPaths returns the mount destinations of spec (and their parents)
// that do not exist in rootfs yet, deepest first, resolved in rootfs.
func missingPaths(rootfs string, spec *specs.Spec) []string {
	seen := map[string]bool{}
	var out []string
	var dests []string
	for _, m := range spec.Mounts {
		dests = append(dests, m.Destination)
	}
	for _, d := range dests {
		for p := path.Clean(d); p != "/" && p != "."; p = path.Dir(p) {
			full, err := securejoin.SecureJoin(rootfs, p)
			if err != nil {
				break
			}
			if _, err := os.Lstat(full); err == nil {
				break
			}
			if !seen[full] {
				seen[full] = true
				out = append(out, full)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// removeStubs removes the mount points the runtime made, if they are
// still empty.
func removeStubs(rootfs string, stubs []string) {
	for _, p := range stubs {
		st, err := os.Lstat(p)
		if err != nil {
			continue
		}
		if st.IsDir() || (st.Mode().IsRegular() && st.Size() == 0) {
			os.Remove(p) // fails on a non-empty directory, which stays
		}
	}
}
