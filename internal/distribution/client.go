// Package distribution is berth's registry client (Distribution API v2 /
// OCI distribution spec): endpoints with mirrors, TLS per registry and
// insecure registries; anonymous, basic and bearer-token auth; and pull
// (parallel downloads unpacked as they arrive, resumed with Range, digests
// verified) and push (HEAD first, cross-repository mounts, monolithic or
// chunked uploads that resume, manifest last).
package distribution

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/moby/api/types/registry"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/image/reference"
)

// Options configures a Client.
type Options struct {
	// Mirrors are tried, in order, before Docker Hub for docker.io images.
	Mirrors []string
	// InsecureRegistries may be reached without TLS verification or over
	// plain HTTP: host, host:port or CIDR. Loopback hosts always may.
	InsecureRegistries []string
	// CertsDir holds per-registry CAs and client certificates (default
	// /etc/docker/certs.d).
	CertsDir string
	// UserAgent is sent with every request.
	UserAgent string
	// MaxConcurrentDownloads and MaxConcurrentUploads bound the blobs
	// transferred at once (defaults 6 and 5).
	MaxConcurrentDownloads int
	MaxConcurrentUploads   int
	// Retries is how many times a failed transfer is retried (default 5).
	Retries int
}

// Client talks to registries. It is safe for concurrent use; it caches
// HTTP connections and auth tokens.
type Client struct {
	opts  Options
	hosts *hosts

	mu    sync.Mutex
	auths map[string]*authorizer
}

// New returns a client.
func New(opts Options) *Client {
	if opts.UserAgent == "" {
		opts.UserAgent = "berth"
	}
	if opts.MaxConcurrentDownloads <= 0 {
		opts.MaxConcurrentDownloads = 6
	}
	if opts.MaxConcurrentUploads <= 0 {
		opts.MaxConcurrentUploads = 5
	}
	if opts.Retries <= 0 {
		opts.Retries = 5
	}
	return &Client{opts: opts, hosts: newHosts(opts), auths: map[string]*authorizer{}}
}

// Error is an error answered by a registry.
type Error struct {
	Status  int
	Code    string
	Message string
	Detail  any
}

func (e *Error) Error() string {
	code := strings.ToLower(strings.ReplaceAll(e.Code, "_", " "))
	if code == "" {
		code = strings.ToLower(http.StatusText(e.Status))
	}
	if e.Message == "" {
		return code
	}
	// As docker prints registry errors: "manifest unknown: manifest unknown".
	return code + ": " + e.Message
}

// classify gives a registry error its errdefs class.
func classify(e *Error) error {
	switch e.Status {
	case http.StatusNotFound:
		return errdefs.NotFound(e)
	case http.StatusUnauthorized:
		return errdefs.Unauthorized(e)
	case http.StatusForbidden:
		return errdefs.Forbidden(e)
	case http.StatusBadRequest, http.StatusRequestedRangeNotSatisfiable:
		return errdefs.InvalidArgument(e)
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return errdefs.Unavailable(e)
	case http.StatusMethodNotAllowed:
		return errdefs.NotImplemented(e)
	}
	return e
}

// responseError reads a registry error body.
func responseError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &Error{Status: resp.StatusCode}
	var eb struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Detail  any    `json:"detail"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &eb) == nil && len(eb.Errors) > 0 {
		e.Code, e.Message, e.Detail = eb.Errors[0].Code, eb.Errors[0].Message, eb.Errors[0].Detail
	} else if s := strings.TrimSpace(string(body)); s != "" && len(s) < 512 && !strings.HasPrefix(s, "<") {
		e.Message = s
	}
	if e.Code == "" {
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			e.Code = "UNAUTHORIZED"
			if e.Message == "" {
				e.Message = "authentication required"
			}
		case http.StatusForbidden:
			e.Code = "DENIED"
		case http.StatusTooManyRequests:
			e.Code = "TOOMANYREQUESTS"
		}
	}
	return classify(e)
}

// Repository is one repository of a registry, with the credentials to
// use there.
type Repository struct {
	c      *Client
	named  reference.Named
	domain string
	path   string
	scope  string
	eps    []*endpoint
	push   bool
	creds  registry.AuthConfig

	mu  sync.Mutex
	cur int
}

// Repository returns the repository of named (a normalised reference; its
// tag or digest is ignored). push asks for push access.
func (c *Client) Repository(named reference.Named, creds registry.AuthConfig, push bool) (*Repository, error) {
	domain := reference.Domain(named)
	eps, err := c.hosts.endpoints(domain)
	if err != nil {
		return nil, err
	}
	if push {
		// Mirrors are for pulling only.
		var own []*endpoint
		for _, e := range eps {
			if !e.mirror {
				own = append(own, e)
			}
		}
		eps = own
	}
	r := &Repository{c: c, named: named, domain: domain, path: reference.Path(named), eps: eps, push: push, creds: creds}
	r.scope = "repository:" + r.path + ":pull"
	if push {
		r.scope += ",push"
	}
	return r, nil
}

// Name is the repository's normalised name (docker.io/library/busybox).
func (r *Repository) Name() string { return r.named.Name() }

// Path is the repository's path on its registry (library/busybox).
func (r *Repository) Path() string { return r.path }

// Domain is the registry's domain (docker.io, localhost:5000).
func (r *Repository) Domain() string { return r.domain }

func (c *Client) authorizerFor(e *endpoint, creds registry.AuthConfig) *authorizer {
	key := e.host + "\x00" + creds.Username + "\x00" + creds.Password + "\x00" + creds.IdentityToken + "\x00" + creds.RegistryToken
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.auths[key]
	if !ok {
		a = newAuthorizer(creds, e.client, c.opts.UserAgent)
		c.auths[key] = a
	}
	return a
}

// request describes one registry request.
type request struct {
	method string
	path   string // after /v2/<repository>/
	url    *url.URL
	query  url.Values
	header http.Header
	// body makes the request body, again for each attempt; nil: none.
	body          func() (io.Reader, error)
	contentLength int64
	scopes        []string // extra scopes (a mount's source)
	// ep pins the request to an endpoint (uploads continue where they began).
	ep *endpoint
}

// errEndpoint marks a failure that is worth trying the next endpoint for.
type errEndpoint struct{ err error }

func (e errEndpoint) Error() string { return e.err.Error() }
func (e errEndpoint) Unwrap() error { return e.err }

// do sends a request to the first endpoint that answers (mirrors first
// for pulls), authenticating on a 401. An insecure registry's HTTPS
// endpoint that does not speak TLS falls back to plain HTTP.
func (r *Repository) do(ctx context.Context, rq request) (*http.Response, *endpoint, error) {
	eps := r.eps
	start := 0
	if rq.ep != nil {
		eps = []*endpoint{rq.ep}
	} else {
		r.mu.Lock()
		start = r.cur
		r.mu.Unlock()
	}
	var lastErr error
	for i := start; i < len(eps); i++ {
		ep := eps[i]
		resp, err := r.doEndpoint(ctx, ep, rq)
		var ee errEndpoint
		if errors.As(err, &ee) && i+1 < len(eps) {
			lastErr = err
			continue
		}
		if err != nil {
			return nil, ep, err
		}
		if ep.mirror && resp.StatusCode >= 400 && i+1 < len(eps) {
			// A mirror that cannot serve this: on to the next one.
			resp.Body.Close()
			lastErr = fmt.Errorf("mirror %s: %s", ep.host, resp.Status)
			continue
		}
		if rq.ep == nil && i != start {
			r.mu.Lock()
			r.cur = i
			r.mu.Unlock()
		}
		return resp, ep, nil
	}
	if lastErr == nil {
		lastErr = errors.New("no registry endpoint")
	}
	return nil, nil, lastErr
}

func (r *Repository) doEndpoint(ctx context.Context, ep *endpoint, rq request) (*http.Response, error) {
	scopes := append([]string{r.scope}, rq.scopes...)
	a := r.c.authorizerFor(ep, r.creds)
	for attempt := 0; ; attempt++ {
		u := rq.url
		if u == nil {
			u = &url.URL{Scheme: ep.getScheme(), Host: ep.host, Path: ep.path + "/v2/" + r.path + "/" + rq.path}
			if rq.query != nil {
				u.RawQuery = rq.query.Encode()
			}
		} else if sch := ep.getScheme(); u.Host == ep.host && u.Scheme != sch {
			c := *u
			c.Scheme = sch
			u = &c
		}
		var body io.Reader
		if rq.body != nil {
			b, err := rq.body()
			if err != nil {
				return nil, err
			}
			body = b
		}
		req, err := http.NewRequestWithContext(ctx, rq.method, u.String(), body)
		if err != nil {
			return nil, err
		}
		for k, v := range rq.header {
			req.Header[k] = v
		}
		req.Header.Set("User-Agent", r.c.opts.UserAgent)
		if rq.body != nil {
			req.ContentLength = rq.contentLength
			if rq.contentLength == 0 {
				req.Body = http.NoBody
			}
		}
		if err := a.authorize(ctx, req, scopes); err != nil {
			return nil, err
		}
		resp, err := ep.client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if ep.insecure && u.Scheme == "https" && attempt == 0 && notTLS(err) {
				ep.setScheme("http")
				continue
			}
			return nil, errEndpoint{fmt.Errorf("%s %s: %w", rq.method, redact(u), err)}
		}
		if resp.StatusCode == http.StatusUnauthorized && attempt < 2 {
			// Retry when the challenge is new to us, or when this request
			// went out before another one learnt it.
			learnt := a.learn(resp, scopes)
			if learnt || req.Header.Get("Authorization") == "" && a.canAnswer() {
				resp.Body.Close()
				continue
			}
		}
		return resp, nil
	}
}

// notTLS reports whether a transport error means the server does not speak
// TLS (or cannot be verified), so that plain HTTP is worth a try.
func notTLS(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "server gave HTTP response to HTTPS client") ||
		strings.Contains(msg, "tls:") || strings.Contains(msg, "first record does not look like a TLS handshake")
}

func redact(u *url.URL) string {
	c := *u
	c.RawQuery = ""
	return c.String()
}

// manifestAccept lists the manifest media types berth understands.
var manifestAccept = strings.Join([]string{ocispec.MediaTypeImageIndex, image.MediaTypeDockerManifestList,
	ocispec.MediaTypeImageManifest, image.MediaTypeDockerManifest}, ", ")

// maxManifestSize bounds the manifests berth reads.
const maxManifestSize = 16 << 20

// Manifest fetches a manifest by tag or digest and verifies its digest.
// It returns the manifest's descriptor (media type, digest, size) and bytes.
func (r *Repository) Manifest(ctx context.Context, ref string) (ocispec.Descriptor, []byte, error) {
	resp, _, err := r.do(ctx, request{method: "GET", path: "manifests/" + ref, header: http.Header{"Accept": {manifestAccept}}})
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ocispec.Descriptor{}, nil, fmt.Errorf("manifest %s:%s: %w", r.Name(), ref, responseError(resp))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestSize+1))
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("manifest %s:%s: %w", r.Name(), ref, err)
	}
	if len(body) > maxManifestSize {
		return ocispec.Descriptor{}, nil, fmt.Errorf("manifest %s:%s is larger than %d bytes", r.Name(), ref, maxManifestSize)
	}
	want := digest.Digest("")
	if strings.Contains(ref, ":") {
		want = digest.Digest(ref)
	} else if h := resp.Header.Get("Docker-Content-Digest"); h != "" {
		want = digest.Digest(h)
	}
	var d digest.Digest
	if want != "" && want.Validate() == nil {
		d = want.Algorithm().FromBytes(body)
		if d != want {
			return ocispec.Descriptor{}, nil, errdefs.InvalidArgumentf("manifest %s:%s has digest %s, expected %s", r.Name(), ref, d, want)
		}
	} else {
		d = digest.FromBytes(body)
	}
	return ocispec.Descriptor{MediaType: manifestMediaType(resp.Header.Get("Content-Type"), body), Digest: d, Size: int64(len(body))}, body, nil
}

// manifestMediaType is the Content-Type, or the manifest's own mediaType
// when the server answered a generic type.
func manifestMediaType(ct string, body []byte) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && mt != "" && mt != "application/json" && mt != "text/plain" && mt != "application/octet-stream" {
		return mt
	}
	var probe struct {
		MediaType string          `json:"mediaType"`
		Manifests json.RawMessage `json:"manifests"`
	}
	json.Unmarshal(body, &probe)
	switch {
	case probe.MediaType != "":
		return probe.MediaType
	case probe.Manifests != nil:
		return ocispec.MediaTypeImageIndex
	}
	return ocispec.MediaTypeImageManifest
}

// Resolve returns the digest a tag (or digest) stands for, with a HEAD
// request when the registry answers Docker-Content-Digest.
func (r *Repository) Resolve(ctx context.Context, ref string) (ocispec.Descriptor, error) {
	resp, _, err := r.do(ctx, request{method: "HEAD", path: "manifests/" + ref, header: http.Header{"Accept": {manifestAccept}}})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		d := digest.Digest(resp.Header.Get("Docker-Content-Digest"))
		size, _ := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
		if d.Validate() == nil && (!strings.Contains(ref, ":") || d.String() == ref) {
			mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
			return ocispec.Descriptor{MediaType: mt, Digest: d, Size: size}, nil
		}
	} else if resp.StatusCode != http.StatusMethodNotAllowed && resp.StatusCode != http.StatusBadRequest {
		return ocispec.Descriptor{}, fmt.Errorf("manifest %s:%s: %w", r.Name(), ref, classify(&Error{Status: resp.StatusCode, Code: codeForStatus(resp.StatusCode)}))
	}
	desc, _, err := r.Manifest(ctx, ref)
	return desc, err
}

func codeForStatus(status int) string {
	switch status {
	case http.StatusNotFound:
		return "MANIFEST_UNKNOWN"
	case http.StatusUnauthorized:
		return "UNAUTHORIZED"
	case http.StatusForbidden:
		return "DENIED"
	}
	return ""
}

// OpenBlob opens blob d from offset (a Range request when offset > 0). It
// returns the reader and the offset it starts at: 0 if the registry
// ignored the Range.
func (r *Repository) OpenBlob(ctx context.Context, d digest.Digest, offset int64) (io.ReadCloser, int64, error) {
	h := http.Header{}
	if offset > 0 {
		h.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, _, err := r.do(ctx, request{method: "GET", path: "blobs/" + d.String(), header: h})
	if err != nil {
		return nil, 0, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.Body, 0, nil
	case http.StatusPartialContent:
		if !strings.HasPrefix(resp.Header.Get("Content-Range"), "bytes "+strconv.FormatInt(offset, 10)+"-") {
			resp.Body.Close()
			return nil, 0, fmt.Errorf("blob %s: unexpected Content-Range %q", d, resp.Header.Get("Content-Range"))
		}
		return resp.Body, offset, nil
	}
	defer resp.Body.Close()
	return nil, 0, fmt.Errorf("blob %s: %w", d, responseError(resp))
}

// FetchBlob opens blob d and returns its size (-1 if the registry does not
// say).
func (r *Repository) FetchBlob(ctx context.Context, d digest.Digest) (io.ReadCloser, int64, error) {
	resp, _, err := r.do(ctx, request{method: "GET", path: "blobs/" + d.String()})
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, 0, fmt.Errorf("blob %s: %w", d, responseError(resp))
	}
	return resp.Body, resp.ContentLength, nil
}

// BlobExists asks (HEAD) whether the repository has blob d.
func (r *Repository) BlobExists(ctx context.Context, d digest.Digest) (bool, error) {
	resp, _, err := r.do(ctx, request{method: "HEAD", path: "blobs/" + d.String()})
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("blob %s: %w", d, classify(&Error{Status: resp.StatusCode, Code: codeForStatus(resp.StatusCode)}))
}

// Tags lists the repository's tags, following pagination links.
func (r *Repository) Tags(ctx context.Context) ([]string, error) {
	var all []string
	q := url.Values{}
	var next *url.URL
	for page := 0; page < 10000; page++ {
		rq := request{method: "GET", path: "tags/list", query: q}
		if next != nil {
			rq = request{method: "GET", url: next}
		}
		resp, ep, err := r.do(ctx, rq)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			err := responseError(resp)
			resp.Body.Close()
			return nil, fmt.Errorf("tags of %s: %w", r.Name(), err)
		}
		var tl struct {
			Tags []string `json:"tags"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&tl)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("tags of %s: %w", r.Name(), err)
		}
		all = append(all, tl.Tags...)
		link := resp.Header.Get("Link")
		if link == "" {
			return all, nil
		}
		target := strings.TrimPrefix(strings.SplitN(link, ">", 2)[0], "<")
		base, _ := url.Parse(ep.base() + "/")
		if next, err = base.Parse(target); err != nil {
			return nil, fmt.Errorf("tags of %s: bad Link %q", r.Name(), link)
		}
	}
	return all, nil
}

// PutManifest uploads a manifest under ref (tag or digest) and checks the
// digest the registry computed.
func (r *Repository) PutManifest(ctx context.Context, ref string, mediaType string, body []byte) (digest.Digest, error) {
	d := digest.FromBytes(body)
	resp, _, err := r.do(ctx, request{method: "PUT", path: "manifests/" + ref, header: http.Header{"Content-Type": {mediaType}},
		body: func() (io.Reader, error) { return bytes.NewReader(body), nil }, contentLength: int64(len(body))})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("push manifest %s:%s: %w", r.Name(), ref, responseError(resp))
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" && got != d.String() {
		return "", fmt.Errorf("push manifest %s:%s: the registry computed digest %s, expected %s", r.Name(), ref, got, d)
	}
	return d, nil
}
