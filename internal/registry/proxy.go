package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-project/berth/internal/content"
)

// Upstream is the registry a pull-through cache fills from (see
// internal/distribution for the client that implements it).
type Upstream interface {
	// Resolve returns the digest a tag or digest of repo stands for.
	Resolve(ctx context.Context, repo, ref string) (digest.Digest, error)
	// Manifest fetches a manifest by digest and returns it with its media type.
	Manifest(ctx context.Context, repo string, d digest.Digest) ([]byte, string, error)
	// Blob opens a blob of repo and returns its size (-1 if unknown).
	Blob(ctx context.Context, repo string, d digest.Digest) (io.ReadCloser, int64, error)
	// Tags lists the tags of repo.
	Tags(ctx context.Context, repo string) ([]string, error)
}

// ErrUpstreamNotFound is what an Upstream returns (wrapped) for content the
// upstream does not have.
var ErrUpstreamNotFound = errors.New("not found upstream")

// fillTimeout bounds one fetch from the upstream.
const fillTimeout = 30 * time.Minute

// fills makes concurrent requests for the same missing blob share one
// fetch from the upstream: a fleet pulling one image costs the upstream
// one download.
type fills struct {
	mu sync.Mutex
	m  map[digest.Digest]*fill
}

type fill struct {
	done chan struct{}
	err  error
}

func newFills() *fills { return &fills{m: map[digest.Digest]*fill{}} }

// start returns the fill of d and whether the caller leads it.
func (f *fills) start(d digest.Digest) (*fill, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl, ok := f.m[d]; ok {
		return fl, false
	}
	fl := &fill{done: make(chan struct{})}
	f.m[d] = fl
	return fl, true
}

func (f *fills) end(d digest.Digest, fl *fill, err error) {
	f.mu.Lock()
	delete(f.m, d)
	f.mu.Unlock()
	fl.err = err
	close(fl.done)
}

func upstreamError(err error, notFound *Error) error {
	if notFound != nil && errors.Is(err, ErrUpstreamNotFound) {
		return notFound
	}
	return &Error{Code: CodeUnavailable, Message: "upstream registry: " + err.Error(), cause: err}
}

// proxyManifest serves a manifest in pull-through mode. Digests are
// immutable: once cached they are served locally. Tags are asked of the
// upstream at most once per TagTTL; if the upstream cannot be reached the
// cached tag is served.
func (s *Server) proxyManifest(w http.ResponseWriter, r *http.Request, name, ref string) error {
	ctx := r.Context()
	isDigest := strings.Contains(ref, ":")
	if !isDigest && !validTag(ref) {
		return errManifestUnknown(ref)
	}
	if isDigest {
		d, err := parseDigest(ref)
		if err != nil {
			return err
		}
		if s.meta.hasManifest(name, d) {
			return s.serveManifest(w, r, name, d)
		}
	} else if when, ok := s.meta.tagTime(name, ref); ok && time.Since(when) < s.opts.TagTTL {
		if d, err := s.meta.tag(name, ref); err == nil && s.meta.hasManifest(name, d) {
			return s.serveManifest(w, r, name, d)
		}
	}
	d, err := s.opts.Upstream.Resolve(ctx, name, ref)
	if err != nil {
		if !isDigest && !errors.Is(err, ErrUpstreamNotFound) {
			// Upstream unreachable: serve what the cache has.
			if d, terr := s.meta.tag(name, ref); terr == nil && s.meta.hasManifest(name, d) {
				s.log.Warn("upstream unreachable, serving cached tag", "repo", name, "tag", ref, "err", err)
				return s.serveManifest(w, r, name, d)
			}
		}
		return upstreamError(err, errManifestUnknown(ref))
	}
	if isDigest && d.String() != ref {
		return upstreamError(fmt.Errorf("asked for %s, got %s", ref, d), errManifestUnknown(ref))
	}
	if !s.meta.hasManifest(name, d) {
		if err := s.fillManifest(ctx, name, d); err != nil {
			return err
		}
	}
	if !isDigest {
		unlock := s.meta.lock(name)
		err := s.meta.setTag(name, ref, d)
		unlock()
		if err != nil {
			return err
		}
	}
	return s.serveManifest(w, r, name, d)
}

func (s *Server) fillManifest(ctx context.Context, name string, d digest.Digest) error {
	b, mt, err := s.opts.Upstream.Manifest(ctx, name, d)
	if err != nil {
		return upstreamError(err, errManifestUnknown(d.String()))
	}
	if got := d.Algorithm().FromBytes(b); got != d {
		return upstreamError(fmt.Errorf("manifest %s has digest %s", d, got), nil)
	}
	doc, mt, err := parseManifest(b, mt)
	if err != nil {
		return upstreamError(fmt.Errorf("manifest %s: %w", d, err), nil)
	}
	release, err := s.lease(ctx)
	if err != nil {
		return err
	}
	defer release()
	if _, _, err := s.content.WriteBlob(ctx, "proxy-"+content.RandomID()+content.RandomID(), strings.NewReader(string(b)), d, int64(len(b)), nil); err != nil {
		return fmt.Errorf("cache manifest %s: %w", d, err)
	}
	link := manifestLinkFile{MediaType: mt}
	if doc.Subject != nil {
		link.Subject = doc.Subject.Digest
	}
	unlock := s.meta.lock(name)
	defer unlock()
	return s.meta.putManifest(name, d, link, nil)
}

// proxyBlob serves a blob the cache does not have in repository name:
// from the store if another repository brought it, else fetched from the
// upstream once, streamed to the first client while it is stored.
func (s *Server) proxyBlob(w http.ResponseWriter, r *http.Request, name string, d digest.Digest) error {
	ctx := r.Context()
	for attempt := 0; attempt < 3; attempt++ {
		if s.content.Exists(d) {
			release, err := s.lease(ctx)
			if err != nil {
				return err
			}
			err = s.linkCommitted(name, d)
			release()
			if err != nil {
				return err
			}
			return s.serveBlob(w, r, d)
		}
		fl, leader := s.fills.start(d)
		if !leader {
			select {
			case <-fl.done:
			case <-ctx.Done():
				return ctx.Err()
			}
			if fl.err != nil {
				return fl.err
			}
			continue
		}
		tee := r.Method == http.MethodGet && r.Header.Get("Range") == ""
		served, err := s.fillBlob(ctx, w, name, d, tee)
		s.fills.end(d, fl, err)
		if served {
			// The response is under way: an error can only cut it short.
			if err != nil {
				s.log.Warn("pull-through fill failed", "repo", name, "digest", d, "err", err)
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
	return errBlobUnknown(d)
}

// fillBlob copies blob d from the upstream into the store; with tee it also
// streams it to w (and reports served). The copy goes on when the client
// goes away, so that the next client finds the blob.
func (s *Server) fillBlob(ctx context.Context, w http.ResponseWriter, name string, d digest.Digest, tee bool) (bool, error) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fillTimeout)
	defer cancel()
	rc, size, err := s.opts.Upstream.Blob(fctx, name, d)
	if err != nil {
		return false, upstreamError(err, errBlobUnknown(d))
	}
	defer rc.Close()
	release, err := s.lease(fctx)
	if err != nil {
		return false, err
	}
	defer release()
	expected := size
	if expected < 0 {
		expected = 0
	}
	cw, err := s.content.Writer(fctx, "proxy-"+d.String(), d, expected)
	if isAlreadyExists(err) {
		return false, s.linkCommitted(name, d)
	}
	if err != nil {
		return false, fmt.Errorf("cache blob %s: %w", d, err)
	}
	defer cw.Close()
	if cw.Offset() > 0 {
		// An earlier fill was interrupted: start it again from the beginning.
		cw.Close()
		s.content.Abort(fctx, "proxy-"+d.String())
		if cw, err = s.content.Writer(fctx, "proxy-"+d.String(), d, expected); err != nil {
			return false, fmt.Errorf("cache blob %s: %w", d, err)
		}
		defer cw.Close()
	}
	var dst io.Writer = cw
	if tee {
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Docker-Content-Digest", d.String())
		if size >= 0 {
			h.Set("Content-Length", strconv.FormatInt(size, 10))
		}
		w.WriteHeader(http.StatusOK)
		dst = io.MultiWriter(cw, &clientWriter{w: w})
	}
	if _, err := copyBody(dst, rc); err != nil {
		return tee, upstreamError(fmt.Errorf("fetch blob %s: %w", d, err), nil)
	}
	if _, err := cw.Commit(fctx, nil); err != nil && !isAlreadyExists(err) {
		return tee, upstreamError(fmt.Errorf("blob %s from upstream: %w", d, err), nil)
	}
	return tee, s.linkCommitted(name, d)
}

// clientWriter writes to a client until the first error, then drops the
// rest, so that a client going away does not stop the fill.
type clientWriter struct {
	w   io.Writer
	err error
}

func (c *clientWriter) Write(p []byte) (int, error) {
	if c.err == nil {
		_, c.err = c.w.Write(p)
	}
	return len(p), nil
}

func (s *Server) proxyTags(w http.ResponseWriter, r *http.Request, name string) error {
	tags, err := s.opts.Upstream.Tags(r.Context(), name)
	if err != nil {
		return err
	}
	sort.Strings(tags)
	return writeTags(w, r, name, tags)
}
