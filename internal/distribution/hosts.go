package distribution

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// DockerHub is the domain of Docker Hub references and its registry host.
const (
	DockerHub     = "docker.io"
	dockerHubHost = "registry-1.docker.io"
)

// DefaultCertsDir is where per-registry CAs and client certificates live,
// as Docker reads them: <dir>/<host[:port]>/ca.crt (or any *.crt), and
// client.cert + client.key pairs (any *.cert with its *.key).
const DefaultCertsDir = "/etc/docker/certs.d"

// endpoint is one place to reach a registry: Docker Hub's host, a mirror,
// or the registry itself, with its HTTP client.
type endpoint struct {
	mu     sync.Mutex
	scheme string // https or http; an insecure registry may switch to http
	host   string // host[:port]
	path   string // path prefix of a mirror URL ("" or "/prefix")
	mirror bool
	// insecure: TLS without verification, with fallback to plain HTTP.
	insecure bool
	client   *http.Client
}

func (e *endpoint) getScheme() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.scheme
}

func (e *endpoint) setScheme(s string) {
	e.mu.Lock()
	e.scheme = s
	e.mu.Unlock()
}

func (e *endpoint) base() string { return e.getScheme() + "://" + e.host + e.path }

// hosts builds and caches endpoints and their HTTP clients.
type hosts struct {
	opts Options

	mu      sync.Mutex
	clients map[string]*http.Client // by scheme://host + tls mode
}

func newHosts(opts Options) *hosts {
	return &hosts{opts: opts, clients: map[string]*http.Client{}}
}

// isInsecure reports whether host may be reached without TLS verification
// (and over plain HTTP): listed in insecure registries (host, host:port or
// CIDR), or on a loopback address, as Docker allows 127.0.0.0/8 by default.
func (h *hosts) isInsecure(host string) bool {
	name := host
	if hst, _, err := net.SplitHostPort(host); err == nil {
		name = hst
	}
	if name == "localhost" {
		return true
	}
	for _, entry := range h.opts.InsecureRegistries {
		entry = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(entry, "http://"), "https://"), "/")
		if entry == host || entry == name {
			return true
		}
		if _, cidr, err := net.ParseCIDR(entry); err == nil {
			if ip := net.ParseIP(name); ip != nil && cidr.Contains(ip) {
				return true
			}
		}
	}
	if ip := net.ParseIP(name); ip != nil && ip.IsLoopback() {
		return true
	}
	// A name that resolves only to loopback addresses is local too.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if addrs, err := net.DefaultResolver.LookupIPAddr(ctx, name); err == nil && len(addrs) > 0 && name != "" {
		for _, a := range addrs {
			if !a.IP.IsLoopback() {
				return false
			}
		}
		return true
	}
	return false
}

// endpoints lists where to reach the registry of domain, in order:
// for docker.io its mirrors then registry-1.docker.io; otherwise the host
// itself (HTTPS, and for insecure registries HTTPS without verification
// falling back to HTTP).
func (h *hosts) endpoints(domain string) ([]*endpoint, error) {
	var out []*endpoint
	if domain == DockerHub {
		for _, m := range h.opts.Mirrors {
			u, err := url.Parse(m)
			if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
				return nil, fmt.Errorf("registry mirror %q: not an http(s) URL", m)
			}
			e := &endpoint{scheme: u.Scheme, host: u.Host, path: strings.TrimSuffix(u.Path, "/"), mirror: true, insecure: h.isInsecure(u.Host)}
			if err := h.attach(e); err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		e := &endpoint{scheme: "https", host: dockerHubHost}
		if err := h.attach(e); err != nil {
			return nil, err
		}
		return append(out, e), nil
	}
	e := &endpoint{scheme: "https", host: domain, insecure: h.isInsecure(domain)}
	if err := h.attach(e); err != nil {
		return nil, err
	}
	return append(out, e), nil
}

// attach gives the endpoint its (cached) HTTP client.
func (h *hosts) attach(e *endpoint) error {
	key := e.scheme + "://" + e.host + fmt.Sprint(e.insecure)
	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := h.clients[key]; ok {
		e.client = c
		return nil
	}
	tlsConf, err := h.tlsConfig(e.host, e.insecure)
	if err != nil {
		return err
	}
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ReadBufferSize:        256 << 10,
		WriteBufferSize:       256 << 10,
		ForceAttemptHTTP2:     true,
	}
	c := &http.Client{Transport: t, CheckRedirect: checkRedirect}
	h.clients[key] = c
	e.client = c
	return nil
}

// checkRedirect keeps the Authorization header only on redirects to the
// same host (blob downloads are often redirected to storage that signs
// its own URLs).
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return fmt.Errorf("stopped after 10 redirects")
	}
	if req.URL.Host != via[0].URL.Host {
		req.Header.Del("Authorization")
	}
	return nil
}

// tlsConfig trusts the system CAs plus <certs.d>/<host>/*.crt, and
// presents <certs.d>/<host>/*.cert with the matching *.key.
func (h *hosts) tlsConfig(host string, insecure bool) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // insecure registries are asked for by configuration
	dir := h.opts.CertsDir
	if dir == "" {
		dir = DefaultCertsDir
	}
	hostDir := filepath.Join(dir, host)
	ents, err := os.ReadDir(hostDir)
	if err != nil {
		return c, nil // no per-registry certificates
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	addedCA := false
	for _, e := range ents {
		p := filepath.Join(hostDir, e.Name())
		switch {
		case strings.HasSuffix(e.Name(), ".crt"):
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("registry CA %s: %w", p, err)
			}
			if !pool.AppendCertsFromPEM(b) {
				return nil, fmt.Errorf("registry CA %s: no PEM certificate", p)
			}
			addedCA = true
		case strings.HasSuffix(e.Name(), ".cert"):
			keyPath := strings.TrimSuffix(p, ".cert") + ".key"
			cert, err := tls.LoadX509KeyPair(p, keyPath)
			if err != nil {
				return nil, fmt.Errorf("registry client certificate %s (key %s): %w", p, keyPath, err)
			}
			c.Certificates = append(c.Certificates, cert)
		case strings.HasSuffix(e.Name(), ".key"):
			if _, err := os.Stat(strings.TrimSuffix(p, ".key") + ".cert"); err != nil {
				return nil, fmt.Errorf("registry client key %s has no matching .cert", p)
			}
		}
	}
	if addedCA {
		c.RootCAs = pool
	}
	return c, nil
}
