package distribution

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/moby/moby/api/types/registry"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/archive"
	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/durable"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/image/platform"
	"github.com/berth-project/berth/internal/image/reference"
	"github.com/berth-project/berth/internal/snapshot"
)

// PullOptions tunes Pull.
type PullOptions struct {
	// Platform picks the manifest of an index (default: this host's).
	Platform *ocispec.Platform
	// Auth are the credentials for the image's registry.
	Auth registry.AuthConfig
	// Progress receives Docker-style progress events.
	Progress Progress
}

// PullResult tells what a pull stored.
type PullResult struct {
	// Name is the record name: docker.io/library/busybox:latest, or
	// name@digest for a pull by digest.
	Name string
	// Digest is the digest of what the reference points at (index or manifest).
	Digest digest.Digest
	// ID is the image ID (config digest) for the chosen platform.
	ID digest.Digest
	// Downloaded reports whether anything new was fetched or the name moved.
	Downloaded bool
}

// Pull fetches the image ref (tag or digest; "busybox" means
// docker.io/library/busybox:latest) into the content store of store, unpacks
// it into sn for the platform, and records it under its name: the tag and
// the digest reference repo@<manifest or index digest> for a pull by tag,
// only the digest reference for a pull by digest (as Docker).
//
// Layers are downloaded in parallel (Options.MaxConcurrentDownloads) and
// unpacked in order as they arrive: the layer whose turn it is is read
// while it is still being written. Blobs already in the store are not
// fetched; an interrupted download resumes with a Range request, here or
// in the next pull. Every blob is verified against its digest and every
// layer against the config's diff ID before anything is committed.
func (c *Client) Pull(ctx context.Context, store *image.Store, sn snapshot.Snapshotter, ref string, opts PullOptions) (PullResult, error) {
	named, err := reference.Parse(ref)
	if err != nil {
		return PullResult{}, errdefs.InvalidArgument(err)
	}
	repo, err := c.Repository(named, opts.Auth, false)
	if err != nil {
		return PullResult{}, err
	}
	matcher := store.Platform()
	if opts.Platform != nil {
		matcher = platform.Only(platform.Normalize(*opts.Platform))
	}
	cs := store.Content()
	lease, err := cs.Lease(ctx)
	if err != nil {
		return PullResult{}, err
	}
	defer lease.Release()
	// Blobs and snapshots are made durable by one flush at the end, not
	// one fsync each (the batches keep a crash from leaving bad content).
	dur, ctx, err := durable.Begin(ctx, cs, sn)
	if err != nil {
		return PullResult{}, err
	}
	defer dur.Flush()

	p := &puller{c: c, repo: repo, cs: cs, sn: sn, progress: opts.Progress, matcher: matcher, explicitPlatform: opts.Platform != nil}
	// The record: repo:tag, or repo@digest for a pull by digest (a tag
	// next to the digest is ignored, as Docker ignores it).
	name := named.String()
	tagOrDigest, progressID := reference.Tag(named), reference.Tag(named)
	if d := reference.Digest(named); d != "" {
		nn, err := reference.WithDigest(named, d)
		if err != nil {
			return PullResult{}, errdefs.InvalidArgument(err)
		}
		name, tagOrDigest, progressID = nn.String(), d.String(), nn.String()
	}
	p.progress.emit(progressID, "Pulling from "+reference.Path(named))

	top, body, err := repo.Manifest(ctx, tagOrDigest)
	if err != nil {
		return PullResult{}, pullError(named, err)
	}
	if err := p.storeBytes(ctx, top, body); err != nil {
		return PullResult{}, err
	}
	man, err := p.choose(ctx, top, body, 0)
	if err != nil {
		return PullResult{}, err
	}
	id, err := p.pullManifest(ctx, man)
	if err != nil {
		return PullResult{}, err
	}

	if err := dur.Flush(); err != nil {
		return PullResult{}, err
	}
	res := PullResult{Name: name, Digest: top.Digest, ID: id, Downloaded: p.downloaded}
	if old, err := store.Get(ctx, name); err != nil || old.Target.Digest != top.Digest {
		res.Downloaded = true
	}
	if _, err := store.Put(ctx, image.Image{Name: name, Target: top}); err != nil {
		return PullResult{}, err
	}
	if reference.Digest(named) == "" {
		// As Docker, a pull by tag also records the digest reference
		// (RepoDigests: repo@<digest of what the tag pointed at>).
		if err := recordDigest(ctx, store, named, top); err != nil {
			return PullResult{}, err
		}
	}
	p.progress.emit("", "Digest: "+top.Digest.String())
	familiar := reference.Familiar(name)
	if res.Downloaded {
		p.progress.emit("", "Status: Downloaded newer image for "+familiar)
	} else {
		p.progress.emit("", "Status: Image is up to date for "+familiar)
	}
	return res, nil
}

// recordDigest records repo@desc.Digest (Docker's RepoDigests) for the
// image desc that a pull or push of named found or put in its registry.
// An existing record is left alone.
func recordDigest(ctx context.Context, store *image.Store, named reference.Named, desc ocispec.Descriptor) error {
	dn, err := reference.WithDigest(named, desc.Digest)
	if err != nil {
		return errdefs.InvalidArgument(err)
	}
	if _, err := store.Get(ctx, dn.String()); err == nil {
		return nil
	}
	if _, err := store.Put(ctx, image.Image{Name: dn.String(), Target: desc}); err != nil {
		return fmt.Errorf("record %s: %w", reference.Familiar(dn.String()), err)
	}
	return nil
}

// pullError words a failed manifest fetch as Docker does.
func pullError(named reference.Named, err error) error {
	var re *Error
	if !errors.As(err, &re) {
		return err
	}
	switch {
	case re.Status == 401 || re.Status == 403 || re.Code == "NAME_UNKNOWN" ||
		reference.Domain(named) == DockerHub && re.Status == 404:
		return errdefs.NotFound(fmt.Errorf("pull access denied for %s, repository does not exist or may require 'docker login': %w",
			reference.FamiliarName(named), re))
	case re.Status == 404:
		return errdefs.NotFound(fmt.Errorf("manifest for %s not found: %w", reference.Familiar(named.String()), re))
	}
	return err
}

type puller struct {
	c                *Client
	repo             *Repository
	cs               *content.Store
	sn               snapshot.Snapshotter
	progress         Progress
	matcher          platform.Matcher
	explicitPlatform bool
	downloaded       bool
}

// storeBytes puts a fetched (already verified) manifest into the store.
func (p *puller) storeBytes(ctx context.Context, desc ocispec.Descriptor, b []byte) error {
	if p.cs.Exists(desc.Digest) {
		return nil
	}
	_, _, err := p.cs.WriteBlob(ctx, "pull-"+desc.Digest.String()+"-"+content.RandomID(), bytes.NewReader(b), desc.Digest, desc.Size, nil)
	return err
}

// fetchManifest returns the bytes of a manifest by digest, from the store
// if it is there.
func (p *puller) fetchManifest(ctx context.Context, desc ocispec.Descriptor) (ocispec.Descriptor, []byte, error) {
	if b, err := p.cs.ReadBlob(ctx, desc.Digest); err == nil {
		return desc, b, nil
	}
	got, b, err := p.repo.Manifest(ctx, desc.Digest.String())
	if err != nil {
		return desc, nil, err
	}
	if desc.MediaType == "" {
		desc.MediaType = got.MediaType
	}
	desc.Size = got.Size
	return desc, b, p.storeBytes(ctx, desc, b)
}

// choose follows an index to this platform's manifest.
func (p *puller) choose(ctx context.Context, desc ocispec.Descriptor, body []byte, depth int) (ocispec.Descriptor, error) {
	if !image.IsIndex(desc.MediaType) {
		if !image.IsManifest(desc.MediaType) {
			return desc, errdefs.InvalidArgumentf("%s: unsupported media type %q", desc.Digest, desc.MediaType)
		}
		return desc, nil
	}
	if depth > 4 {
		return desc, errdefs.InvalidArgumentf("index nesting too deep at %s", desc.Digest)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(body, &idx); err != nil {
		return desc, errdefs.InvalidArgumentf("index %s: %v", desc.Digest, err)
	}
	var cands []ocispec.Descriptor
	for _, m := range idx.Manifests {
		if m.Annotations["vnd.docker.reference.type"] == "attestation-manifest" || (m.Platform != nil && m.Platform.OS == "unknown") {
			continue
		}
		if m.Platform != nil && !p.matcher.Match(*m.Platform) {
			continue
		}
		cands = append(cands, m)
	}
	sort.SliceStable(cands, func(i, j int) bool {
		a, b := cands[i].Platform, cands[j].Platform
		if a == nil || b == nil {
			return a != nil
		}
		return p.matcher.Less(*a, *b)
	})
	if len(cands) == 0 {
		return desc, errdefs.NotFoundf("no matching manifest for %s in the manifest list entries", p.matcher)
	}
	child, b, err := p.fetchManifest(ctx, cands[0])
	if err != nil {
		return desc, err
	}
	return p.choose(ctx, child, b, depth+1)
}

// layerJob is one layer of the image being pulled.
type layerJob struct {
	desc   ocispec.Descriptor
	diffID digest.Digest
	chain  string
	id     string

	haveBlob     bool // in the store before the pull
	haveSnapshot bool // unpacked before the pull

	dl *download // nil unless this job downloads the blob
}

// pullManifest fetches the config and the layers of an image manifest and
// unpacks them; it returns the image ID.
func (p *puller) pullManifest(ctx context.Context, desc ocispec.Descriptor) (digest.Digest, error) {
	_, body, err := p.fetchManifest(ctx, desc)
	if err != nil {
		return "", err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(body, &m); err != nil || m.Config.Digest.Validate() != nil {
		return "", errdefs.InvalidArgumentf("manifest %s: invalid: %v", desc.Digest, err)
	}
	if !p.cs.Exists(m.Config.Digest) {
		if err := p.fetchSmallBlob(ctx, m.Config); err != nil {
			return "", fmt.Errorf("config %s: %w", m.Config.Digest, err)
		}
	}
	cfg, _, err := image.ReadConfig(ctx, p.cs, m.Config)
	if err != nil {
		return "", err
	}
	if p.explicitPlatform && cfg.OS != "" {
		got := ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
		if !p.matcher.Match(got) {
			return "", errdefs.NotFoundf("image with reference %s was found but its platform (%s) does not match the specified platform (%s)",
				p.repo.Name(), platform.Format(got), p.matcher)
		}
	}
	diffIDs := cfg.RootFS.DiffIDs
	if len(diffIDs) != len(m.Layers) {
		return "", errdefs.InvalidArgumentf("image %s: %d layers but %d diff IDs in its config", desc.Digest, len(m.Layers), len(diffIDs))
	}
	chains := identity.ChainIDs(append([]digest.Digest(nil), diffIDs...))
	jobs := make([]*layerJob, len(m.Layers))
	downloads := map[digest.Digest]*download{}
	for i, l := range m.Layers {
		if err := l.Digest.Validate(); err != nil {
			return "", errdefs.InvalidArgumentf("layer %d: %v", i, err)
		}
		j := &layerJob{desc: l, diffID: diffIDs[i], chain: chains[i].String(), id: ShortID(l.Digest)}
		j.haveBlob = p.cs.Exists(l.Digest)
		if info, err := p.sn.Stat(ctx, j.chain); err == nil && info.Kind == snapshot.KindCommitted {
			j.haveSnapshot = true
		}
		if !j.haveBlob {
			if dl, ok := downloads[l.Digest]; ok {
				j.dl = dl
			} else {
				j.dl = newDownload(l)
				downloads[l.Digest] = j.dl
			}
		}
		jobs[i] = j
	}
	for _, j := range jobs {
		if j.haveBlob && j.haveSnapshot {
			p.progress.emit(j.id, "Already exists")
		} else if j.dl != nil {
			p.progress.emit(j.id, "Pulling fs layer")
		}
	}
	if len(downloads) > 0 {
		p.downloaded = true
	}

	defer func() {
		for _, dl := range downloads {
			dl.close()
		}
	}()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	sem := make(chan struct{}, p.c.opts.MaxConcurrentDownloads)
	started := map[*download]bool{}
	for _, j := range jobs {
		dl := j.dl
		if dl == nil || started[dl] {
			continue
		}
		started[dl] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				dl.finish(context.Cause(ctx))
				return
			}
			defer func() { <-sem }()
			if err := p.download(ctx, dl); err != nil {
				cancel(err)
			}
		}()
	}
	if len(downloads) > 0 {
		for _, j := range jobs {
			if j.dl != nil && !j.haveSnapshot {
				p.progress.emit(j.id, "Waiting")
			}
		}
	}
	unpackErr := p.unpackAll(ctx, jobs)
	if unpackErr != nil {
		cancel(unpackErr)
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return "", err
	}
	if unpackErr != nil {
		return "", unpackErr
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return m.Config.Digest, nil
}

// fetchSmallBlob downloads a config (or other small blob) into the store.
func (p *puller) fetchSmallBlob(ctx context.Context, desc ocispec.Descriptor) error {
	dl := newDownload(desc)
	dl.quiet = true
	defer dl.close()
	return p.download(ctx, dl)
}

// completeBlob waits for the download of a layer whose snapshot exists
// but whose blob the store lacks: the image is whole only with it.
func (p *puller) completeBlob(ctx context.Context, j *layerJob) error {
	if j.dl == nil {
		return nil
	}
	if err := j.dl.wait(ctx); err != nil {
		return err
	}
	p.progress.emit(j.id, "Pull complete")
	return nil
}

// unpackAll unpacks the layers in order, each as soon as the one below is
// done and its own blob is arriving (or stored).
func (p *puller) unpackAll(ctx context.Context, jobs []*layerJob) error {
	if snapshot.CanReparent(p.sn) {
		return p.unpackParallel(ctx, jobs)
	}
	parent := ""
	for _, j := range jobs {
		if j.haveSnapshot {
			if err := p.completeBlob(ctx, j); err != nil {
				return err
			}
			parent = j.chain
			continue
		}
		var src io.ReadCloser
		var err error
		if j.dl != nil {
			src, err = j.dl.reader(ctx)
		} else {
			src, err = p.cs.Open(ctx, j.desc.Digest)
		}
		if err != nil {
			return err
		}
		pr := &progressReader{r: src, progressWriter: progressWriter{p: p.progress, id: j.id, status: "Extracting", total: j.desc.Size}}
		var verified func() error
		if j.dl != nil {
			verified = func() error { return j.dl.wait(ctx) }
		}
		err = image.UnpackLayer(ctx, p.sn, j.chain, parent, j.diffID, func(dir string, overlay bool, parents []string) error {
			return applyLayer(ctx, dir, overlay, parents, pr, j.diffID, verified)
		})
		src.Close()
		if err != nil {
			return fmt.Errorf("layer %s: %w", j.desc.Digest, err)
		}
		p.layerDone(j)
		parent = j.chain
	}
	return nil
}

// layerDone reports a layer unpacked: its extraction at 100%, then
// "Pull complete".
func (p *puller) layerDone(j *layerJob) {
	if p.progress != nil {
		p.progress(Event{ID: j.id, Status: "Extracting", Current: j.desc.Size, Total: j.desc.Size})
	}
	p.progress.emit(j.id, "Pull complete")
}

// layerSource opens the compressed stream of a layer: following its
// download, or from the store.
func (p *puller) layerSource(ctx context.Context, j *layerJob) (io.ReadCloser, error) {
	var src io.ReadCloser
	var err error
	if j.dl != nil {
		src, err = j.dl.reader(ctx)
	} else {
		src, err = p.cs.Open(ctx, j.desc.Digest)
	}
	if err != nil {
		return nil, err
	}
	pr := &progressReader{r: src, progressWriter: progressWriter{p: p.progress, id: j.id, status: "Extracting", total: j.desc.Size}}
	return struct {
		io.Reader
		io.Closer
	}{pr, src}, nil
}

// applied is a layer unpacked into a snapshot of its own, without parent.
type applied struct {
	done     chan struct{}
	key      string
	implicit []string
	err      error
}

// unpackParallel unpacks the layers at the same time, each into a
// snapshot without parent as its blob arrives (on overlay, a layer's
// upper directory does not depend on the layers below it); then, in
// order, each is given its parent (snapshot.Reparent), its implicit
// directories get their parents' metadata (archive.FixImplicitDirs) and it
// is committed under its chain ID, once its blob is verified.
func (p *puller) unpackParallel(ctx context.Context, jobs []*layerJob) error {
	workers := max(2, runtime.NumCPU())
	sem := make(chan struct{}, workers)
	results := make([]*applied, len(jobs))
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		rctx := context.WithoutCancel(ctx)
		for _, a := range results {
			if a != nil && a.key != "" {
				p.sn.Remove(rctx, a.key)
			}
		}
	}()
	for i, j := range jobs {
		if !j.haveSnapshot {
			results[i] = &applied{done: make(chan struct{})}
		}
	}
	// Start the workers in layer order, so that the layers committed first
	// are unpacked first.
	go func() {
		for i, j := range jobs {
			if j.haveSnapshot {
				continue
			}
			a := results[i]
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				a.err = context.Cause(ctx)
				close(a.done)
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				a.key, a.implicit, a.err = p.applyAlone(ctx, j)
				close(a.done)
			}()
		}
	}()
	parent := ""
	for i, j := range jobs {
		if j.haveSnapshot {
			if err := p.completeBlob(ctx, j); err != nil {
				return err
			}
			parent = j.chain
			continue
		}
		a := results[i]
		select {
		case <-a.done:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		if a.err != nil {
			return fmt.Errorf("layer %s: %w", j.desc.Digest, a.err)
		}
		if j.dl != nil {
			if err := j.dl.wait(ctx); err != nil {
				return err
			}
		}
		if err := p.commitLayer(ctx, a, j, parent); err != nil {
			return fmt.Errorf("layer %s: %w", j.desc.Digest, err)
		}
		p.layerDone(j)
		parent = j.chain
	}
	return nil
}

// applyAlone unpacks a layer into a new snapshot without parent and
// checks its diff ID.
func (p *puller) applyAlone(ctx context.Context, j *layerJob) (string, []string, error) {
	src, err := p.layerSource(ctx, j)
	if err != nil {
		return "", nil, err
	}
	defer src.Close()
	key := "extract-" + content.RandomID() + "-" + j.chain
	dec, err := archive.Decompress(src)
	if err != nil {
		return "", nil, err
	}
	defer dec.Close()
	// An uncompressed layer's blob digest (verified by the download) is its
	// diff ID: no second hash.
	noDigest := j.desc.Digest == j.diffID
	implicit, got, err := image.ApplyAlone(ctx, p.sn, key, dec, noDigest)
	if err != nil {
		return "", nil, err
	}
	if !noDigest && got != j.diffID {
		p.sn.Remove(context.WithoutCancel(ctx), key)
		return "", nil, errdefs.InvalidArgumentf("layer has diff ID %s, its config says %s", got, j.diffID)
	}
	return key, implicit, nil
}

// commitLayer puts an unpacked layer on its parent and commits it.
func (p *puller) commitLayer(ctx context.Context, a *applied, j *layerJob, parent string) error {
	committed, err := image.CommitOn(ctx, p.sn, a.key, parent, j.chain, a.implicit, j.diffID)
	if committed {
		a.key = "" // else a concurrent pull committed it: ours is removed at the end
	}
	return err
}

// download is the transfer of one blob into the store. Readers follow the
// ingest file as it grows.
type download struct {
	desc  ocispec.Descriptor
	id    string
	quiet bool // no progress events (the config)

	mu      sync.Mutex
	cond    *sync.Cond
	written int64
	started bool
	done    bool
	err     error
	// data is the blob's file, opened when the transfer starts (the
	// ingest file, which Commit unlinks but the descriptor keeps); readers
	// share it through ReadAt. Closed by the puller at the end.
	data io.ReaderAt
	c    io.Closer
}

func newDownload(desc ocispec.Descriptor) *download {
	d := &download{desc: desc, id: ShortID(desc.Digest)}
	d.cond = sync.NewCond(&d.mu)
	return d
}

func (d *download) begin(data io.ReaderAt, c io.Closer, have int64) {
	d.mu.Lock()
	d.started, d.data, d.c, d.written = true, data, c, have
	d.cond.Broadcast()
	d.mu.Unlock()
}

func (d *download) close() {
	d.mu.Lock()
	if d.c != nil {
		d.c.Close()
		d.c = nil
	}
	d.mu.Unlock()
}

func (d *download) advance(n int64) {
	d.mu.Lock()
	d.written += n
	d.cond.Broadcast()
	d.mu.Unlock()
}

func (d *download) finish(err error) {
	d.mu.Lock()
	if !d.done {
		d.done, d.err = true, err
	}
	d.cond.Broadcast()
	d.mu.Unlock()
}

// wait returns when the blob is committed (verified), or failed.
func (d *download) wait(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { d.mu.Lock(); d.cond.Broadcast(); d.mu.Unlock() })
	defer stop()
	d.mu.Lock()
	defer d.mu.Unlock()
	for !d.done && ctx.Err() == nil {
		d.cond.Wait()
	}
	if d.done {
		return d.err
	}
	return context.Cause(ctx)
}

// reader returns a reader of the blob that follows the download.
func (d *download) reader(ctx context.Context) (io.ReadCloser, error) {
	stop := context.AfterFunc(ctx, func() { d.mu.Lock(); d.cond.Broadcast(); d.mu.Unlock() })
	d.mu.Lock()
	for !d.started && !d.done && ctx.Err() == nil {
		d.cond.Wait()
	}
	data, err := d.data, d.err
	d.mu.Unlock()
	stop()
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	if data == nil {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("blob %s: download did not start", d.desc.Digest)
	}
	return &followReader{ctx: ctx, d: d, r: data}, nil
}

// followReader reads a blob file up to what the download has written,
// waiting for more until the download ends.
type followReader struct {
	ctx context.Context
	d   *download
	r   io.ReaderAt
	off int64
}

func (f *followReader) Read(p []byte) (int, error) {
	d := f.d
	stop := context.AfterFunc(f.ctx, func() { d.mu.Lock(); d.cond.Broadcast(); d.mu.Unlock() })
	defer stop()
	d.mu.Lock()
	for f.off >= d.written && !d.done && f.ctx.Err() == nil {
		d.cond.Wait()
	}
	avail, done, err := d.written-f.off, d.done, d.err
	d.mu.Unlock()
	if avail <= 0 {
		if f.ctx.Err() != nil {
			return 0, context.Cause(f.ctx)
		}
		if err != nil {
			return 0, err
		}
		if done {
			return 0, io.EOF
		}
	}
	if int64(len(p)) > avail {
		p = p[:avail]
	}
	n, rerr := f.r.ReadAt(p, f.off)
	f.off += int64(n)
	if rerr == io.EOF && n == len(p) {
		rerr = nil
	}
	if rerr == io.EOF {
		return n, fmt.Errorf("blob %s: file shorter than written data", d.desc.Digest)
	}
	return n, rerr
}

func (f *followReader) Close() error { return nil }

// download fetches a blob into the store, resuming an earlier partial
// download of it, retrying with backoff and Range requests. It marks dl
// finished either way.
func (p *puller) download(ctx context.Context, dl *download) (err error) {
	defer func() { dl.finish(err) }()
	progress := p.progress
	if dl.quiet {
		progress = nil
	}

	ref := "pull-" + dl.desc.Digest.String()
	var w *content.Writer
	for {
		w, err = p.cs.Writer(ctx, ref, dl.desc.Digest, dl.desc.Size)
		if errors.Is(err, content.ErrUnavailable) {
			// Another pull is fetching the same blob: wait for it.
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		break
	}
	if errors.Is(err, content.ErrAlreadyExists) {
		ra, err := p.cs.ReaderAt(ctx, dl.desc.Digest)
		if err != nil {
			return err
		}
		dl.begin(ra, ra, ra.Size())
		progress.emit(dl.id, "Download complete")
		return nil
	}
	if err != nil {
		return err
	}
	defer w.Close()
	f, err := w.OpenData()
	if err != nil {
		return err
	}
	dl.begin(f, f, w.Offset())
	pw := &progressWriter{w: notifyWriter{w, dl}, p: progress, id: dl.id, status: "Downloading", total: dl.desc.Size}
	pw.n = w.Offset()
	backoff := 200 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err = p.fetchInto(ctx, dl, w, pw)
		if err == nil {
			break
		}
		if err := p.c.retry(ctx, progress, dl.id, attempt, &backoff, err); err != nil {
			if ctx.Err() != nil {
				return err
			}
			return fmt.Errorf("download %s: %w", dl.desc.Digest, err)
		}
	}
	if progress != nil {
		progress(Event{ID: dl.id, Status: "Downloading", Current: w.Offset(), Total: dl.desc.Size})
	}
	progress.emit(dl.id, "Verifying Checksum")
	if _, err := w.Commit(ctx, nil); err != nil && !errors.Is(err, content.ErrAlreadyExists) {
		return fmt.Errorf("blob %s: %w", dl.desc.Digest, err)
	}
	progress.emit(dl.id, "Download complete")
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// fetchInto copies the rest of the blob (from w.Offset()) into w.
func (p *puller) fetchInto(ctx context.Context, dl *download, w *content.Writer, dst io.Writer) error {
	if dl.desc.Size > 0 && w.Offset() >= dl.desc.Size {
		return nil
	}
	rc, start, err := p.repo.OpenBlob(ctx, dl.desc.Digest, w.Offset())
	if err != nil {
		return err
	}
	defer rc.Close()
	if skip := w.Offset() - start; skip > 0 {
		// The registry ignored the Range: skip what we have.
		if _, err := io.CopyN(io.Discard, rc, skip); err != nil {
			return err
		}
	}
	_, err = copyBuffer(dst, rc)
	if err == nil && dl.desc.Size > 0 && w.Offset() < dl.desc.Size {
		err = io.ErrUnexpectedEOF
	}
	return err
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

func copyBuffer(dst io.Writer, src io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	return io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, *bp)
}

// notifyWriter tells the download how much is written, for its readers.
type notifyWriter struct {
	w  io.Writer
	dl *download
}

func (n notifyWriter) Write(p []byte) (int, error) {
	k, err := n.w.Write(p)
	n.dl.advance(int64(k))
	return k, err
}

// retry decides after a failed attempt (the attempt-th, from 0) of a
// transfer: it returns ctx's cause when ctx ended, err when err is not
// worth another attempt or the attempts are used up; otherwise it says
// "Retrying in N seconds" as docker does, waits backoff, doubles it (up
// to 10 s) and returns nil.
func (c *Client) retry(ctx context.Context, progress Progress, id string, attempt int, backoff *time.Duration, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if attempt >= c.opts.Retries || !retryable(err) {
		return err
	}
	secs := max(1, int(*backoff/time.Second))
	progress.emit(id, fmt.Sprintf("Retrying in %d second%s", secs, plural(secs)))
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-time.After(*backoff):
	}
	*backoff = min(*backoff*2, 10*time.Second)
	return nil
}

// retryable reports whether a failed transfer is worth another attempt.
func retryable(err error) bool {
	if errors.Is(err, content.ErrFailedPrecondition) || errors.Is(err, context.Canceled) {
		return false
	}
	var re *Error
	if errors.As(err, &re) {
		return re.Status >= 500 || re.Status == 429 || re.Status == 408
	}
	if errdefs.IsNotFound(err) || errdefs.IsInvalidArgument(err) || errors.Is(err, errdefs.ErrUnauthorized) || errors.Is(err, errdefs.ErrForbidden) {
		return false
	}
	return true // network errors, unexpected EOF
}

// applyLayer applies a layer stream into dir, checks its diff ID and
// waits for verified (the blob's digest check, if it is still
// downloading).
func applyLayer(ctx context.Context, dir string, overlay bool, parents []string, r io.Reader, diffID digest.Digest, verified func() error) error {
	dec, err := archive.Decompress(r)
	if err != nil {
		return err
	}
	_, got, err := archive.Apply(ctx, dir, dec, archive.ApplyOptions{Overlay: overlay, Parents: parents})
	dec.Close()
	if err != nil {
		return err
	}
	if got != diffID {
		return errdefs.InvalidArgumentf("layer has diff ID %s, its config says %s", got, diffID)
	}
	if verified != nil {
		return verified()
	}
	return nil
}
