// Package registry is berth's OCI distribution-spec registry server
// (`berth registry serve`): pull, push (monolithic, chunked, cross-repository
// mount), tag listing, catalog, deletion and the referrers API over one
// digest-addressed content store; htpasswd basic auth, a read-only mode, a
// pull-through cache of an upstream registry and garbage collection.
package registry

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/content"
)

// Options configures a Server.
type Options struct {
	// Root holds the content store, repository metadata and uploads.
	Root string
	// ReadOnly refuses every request that would change the registry.
	ReadOnly bool
	// Users, if set, requires HTTP basic auth (see LoadHtpasswd).
	Users *Htpasswd
	// Upstream, if set, makes the registry a pull-through cache of it.
	Upstream Upstream
	// TagTTL is how long a tag fetched from the upstream is served without
	// asking the upstream again (0: 1 minute).
	TagTTL time.Duration
	// Logger gets one line per failed request (nil: discard).
	Logger *slog.Logger
}

// Server serves the distribution API. It is an http.Handler.
type Server struct {
	opts    Options
	content *content.Store
	meta    *meta
	uploads *uploads
	fills   *fills
	log     *slog.Logger
	closing chan struct{}
	once    sync.Once
}

// New opens (creating it if needed) the registry rooted at opts.Root.
func New(opts Options) (*Server, error) {
	if opts.Root == "" {
		return nil, fmt.Errorf("registry: no root directory")
	}
	cs, err := content.New(filepath.Join(opts.Root, "content"))
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	m, err := newMeta(filepath.Join(opts.Root, "repositories"))
	if err != nil {
		return nil, err
	}
	up, err := newUploads(filepath.Join(opts.Root, "uploads"), cs)
	if err != nil {
		return nil, err
	}
	if opts.TagTTL == 0 {
		opts.TagTTL = time.Minute
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, content: cs, meta: m, uploads: up, fills: newFills(), log: log, closing: make(chan struct{})}
	go s.uploads.janitor(s.closing)
	return s, nil
}

// Close releases open uploads (their data stays and can be resumed).
func (s *Server) Close() error {
	s.once.Do(func() { close(s.closing) })
	s.uploads.closeAll()
	return nil
}

// route is a parsed /v2/ request path.
type route struct {
	kind string // "base", "catalog", "tags", "manifest", "blob", "uploads", "upload", "referrers"
	name string // repository
	ref  string // tag, digest or upload id
}

// parseRoute splits a /v2/ path. Repository names may contain "/" and even
// components named "blobs" or "manifests", so the route is recognised from
// the end of the path.
func parseRoute(p string) (route, bool) {
	if p == "/v2/" || p == "/v2" {
		return route{kind: "base"}, true
	}
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return route{}, false
	}
	if rest == "_catalog" {
		return route{kind: "catalog"}, true
	}
	if name, ok := strings.CutSuffix(rest, "/blobs/uploads/"); ok {
		return route{kind: "uploads", name: name}, true
	}
	if name, ok := strings.CutSuffix(rest, "/blobs/uploads"); ok {
		return route{kind: "uploads", name: name}, true
	}
	if name, ok := strings.CutSuffix(rest, "/tags/list"); ok {
		return route{kind: "tags", name: name}, true
	}
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 {
		return route{}, false
	}
	ref := rest[i+1:]
	head := rest[:i]
	j := strings.LastIndexByte(head, '/')
	if j <= 0 {
		return route{}, false
	}
	name, verb := head[:j], head[j+1:]
	switch verb {
	case "manifests":
		return route{kind: "manifest", name: name, ref: ref}, true
	case "blobs":
		return route{kind: "blob", name: name, ref: ref}, true
	case "referrers":
		return route{kind: "referrers", name: name, ref: ref}, true
	case "uploads":
		if n, ok := strings.CutSuffix(name, "/blobs"); ok {
			return route{kind: "upload", name: n, ref: ref}, true
		}
	}
	return route{}, false
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if s.opts.Users != nil && !s.opts.Users.authenticate(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="berth-registry"`)
		s.fail(w, r, errorf(CodeUnauthorized, "authentication required"))
		return
	}
	rt, ok := parseRoute(r.URL.Path)
	if !ok {
		s.fail(w, r, errorf(CodeNameInvalid, "invalid repository name or path %q", r.URL.Path))
		return
	}
	if rt.name != "" && !validName(rt.name) {
		s.fail(w, r, errorf(CodeNameInvalid, "invalid repository name").withDetail(map[string]string{"name": rt.name}))
		return
	}
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	if write && (s.opts.ReadOnly || s.opts.Upstream != nil) {
		msg := "the registry is read-only"
		if s.opts.Upstream != nil {
			msg = "the registry is a pull-through cache: pushing and deleting are not supported"
		}
		s.fail(w, r, errorf(CodeUnsupported, "%s", msg))
		return
	}
	var err error
	switch rt.kind {
	case "base":
		err = s.allow(r, http.MethodGet, http.MethodHead)
		if err == nil {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "2")
			if r.Method == http.MethodGet {
				w.Write([]byte("{}"))
			}
		}
	case "catalog":
		if err = s.allow(r, http.MethodGet); err == nil {
			err = s.catalog(w, r)
		}
	case "tags":
		if err = s.allow(r, http.MethodGet); err == nil {
			err = s.tagsList(w, r, rt.name)
		}
	case "manifest":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			err = s.getManifest(w, r, rt.name, rt.ref)
		case http.MethodPut:
			err = s.putManifest(w, r, rt.name, rt.ref)
		case http.MethodDelete:
			err = s.deleteManifest(w, r, rt.name, rt.ref)
		default:
			err = s.allow(r)
		}
	case "blob":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			err = s.getBlob(w, r, rt.name, rt.ref)
		case http.MethodDelete:
			err = s.deleteBlob(w, r, rt.name, rt.ref)
		default:
			err = s.allow(r)
		}
	case "uploads":
		if err = s.allow(r, http.MethodPost); err == nil {
			err = s.startUpload(w, r, rt.name)
		}
	case "upload":
		switch r.Method {
		case http.MethodGet:
			err = s.uploadStatus(w, r, rt.name, rt.ref)
		case http.MethodPatch:
			err = s.patchUpload(w, r, rt.name, rt.ref)
		case http.MethodPut:
			err = s.finishUpload(w, r, rt.name, rt.ref)
		case http.MethodDelete:
			err = s.cancelUpload(w, r, rt.name, rt.ref)
		default:
			err = s.allow(r)
		}
	case "referrers":
		if err = s.allow(r, http.MethodGet); err == nil {
			err = s.referrers(w, r, rt.name, rt.ref)
		}
	}
	if err != nil {
		s.fail(w, r, err)
	}
}

// allow fails with 405 unless the request's method is one of methods.
func (s *Server) allow(r *http.Request, methods ...string) error {
	for _, m := range methods {
		if r.Method == m {
			return nil
		}
	}
	return errorf(CodeUnsupported, "method %s not allowed here", r.Method)
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	re := asError(err)
	if re.Code == CodeUnknown {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else if re.Code != CodeUnauthorized {
		s.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, r, re)
}

// lease keeps garbage collection (possibly in another process) away while
// a request links new content.
func (s *Server) lease(ctx context.Context) (func(), error) {
	l, err := s.content.Lease(ctx)
	if err != nil {
		return nil, err
	}
	return func() { l.Release() }, nil
}
