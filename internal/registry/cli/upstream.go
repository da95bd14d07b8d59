package cli

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/registry"
	digest "github.com/opencontainers/go-digest"
	"github.com/spf13/pflag"

	"github.com/berth-project/berth/internal/distribution"
	"github.com/berth-project/berth/internal/distribution/credentials"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image/reference"
	reg "github.com/berth-project/berth/internal/registry"
)

// Upstream is the registry a pull-through cache fills from, reached with
// berth's registry client.
type Upstream struct {
	c      *distribution.Client
	domain string
	creds  registry.AuthConfig

	mu    sync.Mutex
	repos map[string]*distribution.Repository
}

// NewUpstream returns the upstream at rawURL (https://registry-1.docker.io,
// http://127.0.0.1:5000, …). Empty creds are looked up in Docker's
// config.json.
func NewUpstream(rawURL string, creds registry.AuthConfig) (*Upstream, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("--proxy %q: expected an http(s):// URL of a registry", rawURL)
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("--proxy %q: the URL of a registry has no path", rawURL)
	}
	domain := u.Host
	switch domain {
	case "registry-1.docker.io", "index.docker.io", "docker.io":
		domain = distribution.DockerHub
	}
	opts := distribution.Options{UserAgent: "berth-registry-proxy"}
	if u.Scheme == "http" {
		opts.InsecureRegistries = []string{u.Host}
	}
	if creds.Username == "" && creds.IdentityToken == "" {
		if ac, err := credentials.Default().Get(domain); err == nil {
			creds = ac
		}
	}
	return &Upstream{c: distribution.New(opts), domain: domain, creds: creds, repos: map[string]*distribution.Repository{}}, nil
}

func (u *Upstream) repo(name string) (*distribution.Repository, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if r, ok := u.repos[name]; ok {
		return r, nil
	}
	named, err := reference.ParseNamed(u.domain + "/" + name)
	if err != nil {
		return nil, err
	}
	r, err := u.c.Repository(named, u.creds, false)
	if err != nil {
		return nil, err
	}
	u.repos[name] = r
	return r, nil
}

func upstreamErr(err error) error {
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("%w: %w", reg.ErrUpstreamNotFound, err)
	}
	return err
}

// Resolve implements registry.Upstream.
func (u *Upstream) Resolve(ctx context.Context, repo, ref string) (digest.Digest, error) {
	r, err := u.repo(repo)
	if err != nil {
		return "", err
	}
	desc, err := r.Resolve(ctx, ref)
	if err != nil {
		return "", upstreamErr(err)
	}
	return desc.Digest, nil
}

// Manifest implements registry.Upstream.
func (u *Upstream) Manifest(ctx context.Context, repo string, d digest.Digest) ([]byte, string, error) {
	r, err := u.repo(repo)
	if err != nil {
		return nil, "", err
	}
	desc, b, err := r.Manifest(ctx, d.String())
	if err != nil {
		return nil, "", upstreamErr(err)
	}
	return b, desc.MediaType, nil
}

// Blob implements registry.Upstream.
func (u *Upstream) Blob(ctx context.Context, repo string, d digest.Digest) (io.ReadCloser, int64, error) {
	r, err := u.repo(repo)
	if err != nil {
		return nil, 0, err
	}
	rc, size, err := r.FetchBlob(ctx, d)
	if err != nil {
		return nil, 0, upstreamErr(err)
	}
	return rc, size, nil
}

// Tags implements registry.Upstream.
func (u *Upstream) Tags(ctx context.Context, repo string) ([]string, error) {
	r, err := u.repo(repo)
	if err != nil {
		return nil, err
	}
	tags, err := r.Tags(ctx)
	if err != nil {
		return nil, upstreamErr(err)
	}
	return tags, nil
}

// proxyOptions are the pull-through flags of `berth registry serve`.
type proxyOptions struct {
	url      string
	username string
	password string
	tagTTL   time.Duration
}

func (o *proxyOptions) addFlags(f *pflag.FlagSet) {
	f.StringVar(&o.url, "proxy", "", "be a pull-through cache of this upstream registry URL (e.g. https://registry-1.docker.io)")
	f.StringVar(&o.username, "proxy-username", "", "user name at the upstream (default: from Docker's config.json)")
	f.StringVar(&o.password, "proxy-password", "", "password at the upstream (or $BERTH_PROXY_PASSWORD)")
	f.DurationVar(&o.tagTTL, "proxy-tag-ttl", time.Minute, "how long a tag is served from the cache before the upstream is asked again")
}

func (o *proxyOptions) upstream() (*Upstream, error) {
	if o.url == "" {
		if o.username != "" || o.password != "" {
			return nil, fmt.Errorf("--proxy-username and --proxy-password need --proxy")
		}
		return nil, nil
	}
	pass := o.password
	if pass == "" {
		pass = os.Getenv("BERTH_PROXY_PASSWORD")
	}
	creds := registry.AuthConfig{Username: strings.TrimSpace(o.username), Password: pass}
	return NewUpstream(o.url, creds)
}
