package distribution

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/registry"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/image/reference"
)

// PushOptions tunes Push.
type PushOptions struct {
	// Auth are the credentials for the image's registry.
	Auth registry.AuthConfig
	// Progress receives Docker-style progress events.
	Progress Progress
	// ChunkSize > 0 uploads blobs in PATCH requests of at most this many
	// bytes (with Content-Range); 0 sends each blob in one stream (small
	// blobs in a single PUT).
	ChunkSize int64
}

// PushResult tells what a push uploaded.
type PushResult struct {
	Tag    string
	Digest digest.Digest
	Size   int64
}

// monolithicMax: blobs up to this size go in one PUT with the final digest.
const monolithicMax = 1 << 20

// Push uploads the image named ref (a tag; "latest" if none) from store to
// its registry: for each blob a HEAD first, then a cross-repository mount
// from another repository of the same registry that has it, else an upload
// (monolithic, streamed or chunked, resumed after a failure from the
// registry's Range); the manifest goes last. An index whose manifests are
// not all stored is pushed as this platform's manifest. As Docker, the
// image then has the digest reference repo@<pushed digest>.
func (c *Client) Push(ctx context.Context, store *image.Store, ref string, opts PushOptions) (PushResult, error) {
	named, err := reference.Parse(ref)
	if err != nil {
		return PushResult{}, errdefs.InvalidArgument(err)
	}
	if reference.Digest(named) != "" {
		return PushResult{}, errdefs.InvalidArgumentf("cannot push a digest reference")
	}
	img, err := store.Get(ctx, named.String())
	if err != nil {
		if errdefs.IsNotFound(err) || errors.Is(err, image.ErrNotFound) {
			return PushResult{}, errdefs.NotFoundf("An image does not exist locally with the tag: %s", reference.FamiliarName(named))
		}
		return PushResult{}, err
	}
	repo, err := c.Repository(named, opts.Auth, true)
	if err != nil {
		return PushResult{}, err
	}
	cs := store.Content()
	p := &pusher{c: c, repo: repo, cs: cs, opts: opts, progress: opts.Progress, started: map[digest.Digest]*blobPush{}}
	p.progress.emit("", "The push refers to repository ["+named.Name()+"]")

	target := img.Target
	if image.IsIndex(target.MediaType) {
		if _, missing, err := image.Closure(ctx, cs, target); err != nil {
			return PushResult{}, err
		} else if missing {
			r, err := image.Resolve(ctx, cs, target, store.Platform())
			if err != nil {
				return PushResult{}, err
			}
			target = r.Descriptor
		}
	}
	if err := p.mountSources(ctx, store, named); err != nil {
		return PushResult{}, err
	}
	tag := reference.Tag(named)
	if err := p.pushTree(ctx, target, tag, 0); err != nil {
		return PushResult{}, err
	}
	p.progress.emit("", fmt.Sprintf("%s: digest: %s size: %d", tag, target.Digest, target.Size))
	if err := recordDigest(ctx, store, named, target); err != nil {
		return PushResult{}, err
	}
	return PushResult{Tag: tag, Digest: target.Digest, Size: target.Size}, nil
}

type pusher struct {
	c        *Client
	repo     *Repository
	cs       *content.Store
	opts     PushOptions
	progress Progress
	// sources: repositories of the same registry whose images hold a blob.
	sources map[digest.Digest][]string

	mu      sync.Mutex
	started map[digest.Digest]*blobPush
}

type blobPush struct {
	done chan struct{}
	err  error
}

// mountSources finds, among the stored images named on the same registry,
// the repositories holding each blob: candidates for a mount.
func (p *pusher) mountSources(ctx context.Context, store *image.Store, named reference.Named) error {
	p.sources = map[digest.Digest][]string{}
	all, err := store.List(ctx)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, img := range all {
		if img.Dangling() {
			continue
		}
		n, err := reference.ParseNamed(img.Name)
		if err != nil || reference.Domain(n) != p.repo.Domain() || reference.Path(n) == p.repo.Path() {
			continue
		}
		key := reference.Path(n) + "\x00" + img.Target.Digest.String()
		if seen[key] {
			continue
		}
		seen[key] = true
		descs, _, err := image.Closure(ctx, p.cs, img.Target)
		if err != nil {
			continue
		}
		for _, d := range descs {
			if !contains(p.sources[d.Digest], reference.Path(n)) {
				p.sources[d.Digest] = append(p.sources[d.Digest], reference.Path(n))
			}
		}
	}
	return nil
}

// pushTree pushes a manifest or index with everything below it; ref is
// the tag for the top, "" (by digest) for children.
func (p *pusher) pushTree(ctx context.Context, desc ocispec.Descriptor, tag string, depth int) error {
	if depth > 4 {
		return errdefs.InvalidArgumentf("index nesting too deep at %s", desc.Digest)
	}
	body, err := p.cs.ReadBlob(ctx, desc.Digest)
	if err != nil {
		return err
	}
	mt := desc.MediaType
	switch {
	case image.IsIndex(mt):
		var idx ocispec.Index
		if err := json.Unmarshal(body, &idx); err != nil {
			return errdefs.InvalidArgumentf("index %s: %v", desc.Digest, err)
		}
		for _, m := range idx.Manifests {
			if err := p.pushTree(ctx, m, "", depth+1); err != nil {
				return err
			}
		}
	case image.IsManifest(mt):
		var m ocispec.Manifest
		if err := json.Unmarshal(body, &m); err != nil {
			return errdefs.InvalidArgumentf("manifest %s: %v", desc.Digest, err)
		}
		if err := p.pushBlobs(ctx, m); err != nil {
			return err
		}
	default:
		return errdefs.InvalidArgumentf("%s: cannot push media type %q", desc.Digest, mt)
	}
	ref := tag
	if ref == "" {
		ref = desc.Digest.String()
	}
	if _, err := p.repo.PutManifest(ctx, ref, mt, body); err != nil {
		return err
	}
	return nil
}

// pushBlobs uploads the config and layers of a manifest, in parallel.
func (p *pusher) pushBlobs(ctx context.Context, m ocispec.Manifest) error {
	blobs := []ocispec.Descriptor{}
	for _, l := range m.Layers {
		if len(l.URLs) > 0 && !p.cs.Exists(l.Digest) {
			continue // a non-distributable layer stays where its URLs say
		}
		blobs = append(blobs, l)
	}
	blobs = append(blobs, m.Config)
	for _, b := range blobs[:len(blobs)-1] {
		p.progress.emit(ShortID(b.Digest), "Preparing")
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, p.c.opts.MaxConcurrentUploads)
	var wg sync.WaitGroup
	for i, b := range blobs {
		isConfig := i == len(blobs)-1
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.pushBlobOnce(ctx, b, sem, isConfig); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// pushBlobOnce pushes a blob unless another manifest of this push is
// already pushing it.
func (p *pusher) pushBlobOnce(ctx context.Context, desc ocispec.Descriptor, sem chan struct{}, quiet bool) error {
	p.mu.Lock()
	bp, ok := p.started[desc.Digest]
	if !ok {
		bp = &blobPush{done: make(chan struct{})}
		p.started[desc.Digest] = bp
	}
	p.mu.Unlock()
	if ok {
		select {
		case <-bp.done:
			return bp.err
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	progress := p.progress
	if quiet {
		progress = nil
	}
	id := ShortID(desc.Digest)
	progress.emit(id, "Waiting")
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		bp.err = context.Cause(ctx)
		close(bp.done)
		return bp.err
	}
	bp.err = p.pushBlob(ctx, desc, progress)
	<-sem
	close(bp.done)
	return bp.err
}

func (p *pusher) pushBlob(ctx context.Context, desc ocispec.Descriptor, progress Progress) error {
	id := ShortID(desc.Digest)
	exists, err := p.repo.BlobExists(ctx, desc.Digest)
	if err != nil {
		return err
	}
	if exists {
		progress.emit(id, "Layer already exists")
		return nil
	}
	var session *uploadSession
	for _, from := range p.sources[desc.Digest] {
		mounted, s, err := p.mount(ctx, desc.Digest, from)
		if err != nil {
			return err
		}
		if mounted {
			progress.emit(id, "Mounted from "+from)
			return nil
		}
		if s != nil {
			session = s
			break
		}
	}
	if err := p.upload(ctx, desc, session, progress); err != nil {
		return fmt.Errorf("push blob %s: %w", desc.Digest, err)
	}
	progress.emit(id, "Pushed")
	return nil
}

// uploadSession is an upload under way: where to send the next request.
type uploadSession struct {
	ep  *endpoint
	loc *url.URL
}

func (p *pusher) sessionFrom(resp *http.Response, ep *endpoint) (*uploadSession, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, fmt.Errorf("registry answered %s without a Location", resp.Status)
	}
	base, err := url.Parse(ep.base() + "/v2/" + p.repo.path + "/blobs/uploads/")
	if err != nil {
		return nil, err
	}
	u, err := base.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("bad upload Location %q: %w", loc, err)
	}
	return &uploadSession{ep: ep, loc: u}, nil
}

// mount asks the registry to link blob d from repository from. It reports
// success, or the upload session the registry opened instead.
func (p *pusher) mount(ctx context.Context, d digest.Digest, from string) (bool, *uploadSession, error) {
	q := url.Values{}
	q.Set("mount", d.String())
	q.Set("from", from)
	resp, ep, err := p.repo.do(ctx, request{method: "POST", path: "blobs/uploads/", query: q,
		scopes: []string{"repository:" + from + ":pull"}, body: emptyBody, contentLength: 0})
	if err != nil {
		return false, nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusCreated:
		return true, nil, nil
	case http.StatusAccepted:
		s, err := p.sessionFrom(resp, ep)
		return false, s, err
	}
	return false, nil, nil // not allowed to mount: upload instead
}

func emptyBody() (io.Reader, error) { return bytes.NewReader(nil), nil }

func (p *pusher) startSession(ctx context.Context) (*uploadSession, error) {
	resp, ep, err := p.repo.do(ctx, request{method: "POST", path: "blobs/uploads/", body: emptyBody, contentLength: 0})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return nil, responseError(resp)
	}
	return p.sessionFrom(resp, ep)
}

// sessionOffset asks how many bytes the registry holds for the session.
func (p *pusher) sessionOffset(ctx context.Context, s *uploadSession) (int64, error) {
	resp, _, err := p.repo.do(ctx, request{method: "GET", url: s.loc, ep: s.ep})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		return 0, responseError(resp)
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		if ns, err := p.sessionFrom(resp, s.ep); err == nil {
			s.loc = ns.loc
		}
	}
	return rangeEnd(resp.Header.Get("Range")), nil
}

// rangeEnd turns a Range header "0-N" into the byte count N+1 (0 for
// "0-0" or none, as registries answer for an empty session).
func rangeEnd(h string) int64 {
	h = strings.TrimPrefix(strings.TrimPrefix(h, "bytes="), "bytes ")
	_, end, ok := strings.Cut(h, "-")
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(end, 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n + 1
}

// upload sends a blob through a session (a new one if s is nil) and
// completes it with the digest. A failed attempt resumes from the Range
// the registry reports, or starts a new session if the old one is gone.
func (p *pusher) upload(ctx context.Context, desc ocispec.Descriptor, s *uploadSession, progress Progress) error {
	ra, err := p.cs.ReaderAt(ctx, desc.Digest)
	if err != nil {
		return err
	}
	defer ra.Close()
	size := ra.Size()
	id := ShortID(desc.Digest)
	pw := &progressWriter{p: progress, id: id, status: "Pushing", total: size}
	backoff := 200 * time.Millisecond
	var offset int64
	for attempt := 0; ; attempt++ {
		if s == nil {
			if s, err = p.startSession(ctx); err == nil {
				offset = 0
			}
		}
		if err == nil {
			err = p.send(ctx, s, desc.Digest, ra, offset, size, pw)
		}
		if err == nil {
			return nil
		}
		if err := p.c.retry(ctx, progress, id, attempt, &backoff, err); err != nil {
			return err
		}
		if s != nil {
			// Resume where the registry got to, if the session survived.
			if off, serr := p.sessionOffset(ctx, s); serr == nil && off <= size {
				offset = off
			} else {
				s = nil
			}
		}
		err = nil
	}
}

// send uploads ra[offset:size] through the session and finishes it.
func (p *pusher) send(ctx context.Context, s *uploadSession, d digest.Digest, ra content.ReaderAt, offset, size int64, pw *progressWriter) error {
	section := func(from, n int64) func() (io.Reader, error) {
		return func() (io.Reader, error) {
			return &progressReader{r: io.NewSectionReader(ra, from, n), progressWriter: progressWriter{p: pw.p, id: pw.id, status: pw.status, total: size, n: from}}, nil
		}
	}
	octet := http.Header{"Content-Type": {"application/octet-stream"}}
	finish := func(body func() (io.Reader, error), n int64, hdr http.Header) error {
		u := *s.loc
		q := u.Query()
		q.Set("digest", d.String())
		u.RawQuery = q.Encode()
		resp, _, err := p.repo.do(ctx, request{method: "PUT", url: &u, ep: s.ep, header: hdr, body: body, contentLength: n})
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusAccepted {
			return responseError(resp)
		}
		return nil
	}
	if p.opts.ChunkSize <= 0 && offset == 0 && size <= monolithicMax {
		return finish(section(0, size), size, octet)
	}
	chunk := p.opts.ChunkSize
	for offset < size {
		n := size - offset
		hdr := http.Header{"Content-Type": {"application/octet-stream"}}
		if chunk > 0 {
			n = min(n, chunk)
		}
		if chunk > 0 || offset > 0 {
			hdr.Set("Content-Range", fmt.Sprintf("%d-%d", offset, offset+n-1))
		}
		resp, _, err := p.repo.do(ctx, request{method: "PATCH", url: s.loc, ep: s.ep, header: hdr, body: section(offset, n), contentLength: n})
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusNoContent {
			return responseError(resp)
		}
		if ns, err := p.sessionFrom(resp, s.ep); err == nil {
			s.loc = ns.loc
		}
		offset += n
	}
	return finish(emptyBody, 0, nil)
}
