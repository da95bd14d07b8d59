package distribution

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/moby/moby/api/types/registry"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/image/platform"
	reg "github.com/berth-project/berth/internal/registry"
)

func TestPushHeadMountChunked(t *testing.T) {
	ctx := context.Background()
	tr := newTestRegistry(t, reg.Options{})
	ti := buildImage(t, nil, map[string]string{"a": strings.Repeat("A", 300000)}, map[string]string{"b": "small"})
	src := newEnv(t)
	first := tr.host + "/team/one:v1"
	ti.store(t, src, first)

	// Chunked upload, 64 KiB per PATCH.
	ev := &events{}
	res, err := New(Options{}).Push(ctx, src.store, first, PushOptions{ChunkSize: 64 << 10, Progress: ev.progress})
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != ti.desc.Digest || res.Tag != "v1" {
		t.Fatalf("result %+v", res)
	}
	patches := tr.requests("PATCH /v2/team/one/blobs/uploads/")
	if len(patches) < 3 {
		t.Fatalf("expected chunked PATCHes, saw %d", len(patches))
	}
	layer0 := ShortID(digest.FromBytes(ti.layers[0]))
	for _, want := range []string{" The push refers to repository [" + first[:strings.LastIndex(first, ":")] + "]",
		layer0 + " Preparing", layer0 + " Pushed", " v1: digest: " + ti.desc.Digest.String()} {
		found := false
		for _, s := range ev.statuses() {
			found = found || strings.HasPrefix(s, want)
		}
		if !found {
			t.Errorf("missing %q in %q", want, ev.statuses())
		}
	}
	// The manifest went last.
	all := tr.requests("")
	if !strings.HasPrefix(all[len(all)-1], "PUT /v2/team/one/manifests/v1") {
		t.Fatalf("last request %q", all[len(all)-1])
	}

	// Again: HEAD finds every layer, nothing is uploaded.
	ev = &events{}
	posts := len(tr.requests("POST "))
	if _, err := New(Options{}).Push(ctx, src.store, first, PushOptions{Progress: ev.progress}); err != nil {
		t.Fatal(err)
	}
	if len(tr.requests("POST ")) != posts || !ev.has(layer0, "Layer already exists") {
		t.Fatalf("second push uploaded: %q", ev.statuses())
	}

	// Same image under another repository of the registry: mounted.
	second := tr.host + "/team/two:v1"
	if _, err := src.store.Tag(ctx, first, second); err != nil {
		t.Fatal(err)
	}
	ev = &events{}
	if _, err := New(Options{}).Push(ctx, src.store, second, PushOptions{Progress: ev.progress}); err != nil {
		t.Fatal(err)
	}
	if !ev.has(layer0, "Mounted from team/one") || len(tr.requests("PATCH /v2/team/two/")) != 0 {
		t.Fatalf("no mount: %q", ev.statuses())
	}

	// Monolithic (small blobs, no chunk size): one PUT with the body.
	ti2 := buildImage(t, nil, map[string]string{"tiny": "t"})
	third := tr.host + "/team/three:v1"
	ti2.store(t, src, third)
	if _, err := New(Options{}).Push(ctx, src.store, third, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := len(tr.requests("PATCH /v2/team/three/")); n != 0 {
		t.Fatalf("monolithic push sent %d PATCHes", n)
	}

	// Pull back what was mounted.
	dst := newEnv(t)
	if _, err := New(Options{}).Pull(ctx, dst.store, dst.sn, second, PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := dst.readFile(t, second, "b"); got != "small" {
		t.Fatalf("b = %q", got)
	}

	// Not stored locally: Docker's wording.
	_, err = New(Options{}).Push(ctx, src.store, tr.host+"/nothing:here", PushOptions{})
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "An image does not exist locally with the tag: "+tr.host+"/nothing") {
		t.Fatalf("missing image: %v", err)
	}
}

// tokenServer is a Docker-Hub-like token service in front of a registry:
// the registry answers 401 with a Bearer challenge unless the request
// carries a token; the token service gives pull tokens to anyone and
// push tokens to the right basic credentials, or for an identity token
// (OAuth2 refresh, POST).
type tokenServer struct {
	srv    *httptest.Server
	mu     sync.Mutex
	issued map[string]string // token → scope
	gets   int
	posts  int
}

func newTokenFront(t *testing.T, tr *testRegistry, user, pass, refresh string) *tokenServer {
	ts := &tokenServer{issued: map[string]string{}}
	ts.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scope := r.URL.Query().Get("scope")
		authed := false
		ts.mu.Lock()
		if r.Method == "POST" {
			ts.posts++
			r.ParseForm()
			scope = r.PostForm.Get("scope")
			authed = r.PostForm.Get("grant_type") == "refresh_token" && r.PostForm.Get("refresh_token") == refresh
			if !authed {
				ts.mu.Unlock()
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
		} else {
			ts.gets++
			u, p, ok := r.BasicAuth()
			if ok && (u != user || p != pass) {
				ts.mu.Unlock()
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			authed = ok
		}
		if !authed {
			scope = strings.ReplaceAll(scope, ",push", "") // anonymous: pull only
		}
		tok := base64.RawURLEncoding.EncodeToString([]byte(digest.FromString(scope + user).String()))[:24]
		ts.issued[tok] = scope
		ts.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires_in": 300})
	}))
	t.Cleanup(ts.srv.Close)
	tr.hook(func(w http.ResponseWriter, r *http.Request) bool {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		ts.mu.Lock()
		scope, ok := ts.issued[tok]
		ts.mu.Unlock()
		needPush := r.Method != "GET" && r.Method != "HEAD"
		if ok && r.URL.Path != "/v2/" && (!needPush || strings.Contains(scope, "push")) {
			return false
		}
		if ok && r.URL.Path == "/v2/" {
			return false
		}
		repo := strings.TrimPrefix(r.URL.Path, "/v2/")
		if i := strings.Index(repo, "/blobs/"); i >= 0 {
			repo = repo[:i]
		} else if i := strings.Index(repo, "/manifests/"); i >= 0 {
			repo = repo[:i]
		}
		action := "pull"
		if needPush {
			action = "pull,push"
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+ts.srv.URL+`/token",service="test-registry",scope="repository:`+repo+`:`+action+`"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
		return true
	})
	return ts
}

func TestBearerTokenFlow(t *testing.T) {
	ctx := context.Background()
	tr := newTestRegistry(t, reg.Options{})
	ts := newTokenFront(t, tr, "bob", "hunter2", "refresh-me")
	ti := buildImage(t, nil, map[string]string{"f": "token"})
	src := newEnv(t)
	ref := tr.host + "/org/app:1"
	ti.store(t, src, ref)

	// Anonymous tokens do not allow pushing.
	_, err := New(Options{}).Push(ctx, src.store, ref, PushOptions{})
	if !errors.Is(err, errdefs.ErrUnauthorized) {
		t.Fatalf("anonymous push: %v", err)
	}
	// Wrong password: the token service refuses.
	_, err = New(Options{}).Push(ctx, src.store, ref, PushOptions{Auth: registry.AuthConfig{Username: "bob", Password: "nope"}})
	if err == nil || !strings.Contains(err.Error(), "incorrect username or password") {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := New(Options{}).Push(ctx, src.store, ref, PushOptions{Auth: registry.AuthConfig{Username: "bob", Password: "hunter2"}}); err != nil {
		t.Fatal(err)
	}
	// Anonymous pull with a pull token; tokens are reused, not fetched per request.
	ts.mu.Lock()
	gets := ts.gets
	ts.mu.Unlock()
	dst := newEnv(t)
	if _, err := New(Options{}).Pull(ctx, dst.store, dst.sn, ref, PullOptions{}); err != nil {
		t.Fatal(err)
	}
	ts.mu.Lock()
	fetched := ts.gets - gets
	ts.mu.Unlock()
	if fetched < 1 || fetched > 2 {
		t.Fatalf("pull fetched %d tokens", fetched)
	}
	if got := dst.readFile(t, ref, "f"); got != "token" {
		t.Fatalf("f = %q", got)
	}
	// An identity token (docker login's refresh token) is exchanged by POST.
	dst2 := newEnv(t)
	if _, err := New(Options{}).Pull(ctx, dst2.store, dst2.sn, ref, PullOptions{Auth: registry.AuthConfig{IdentityToken: "refresh-me"}}); err != nil {
		t.Fatal(err)
	}
	ts.mu.Lock()
	posts := ts.posts
	ts.mu.Unlock()
	if posts == 0 {
		t.Fatal("identity token not used")
	}
}

// TestPushIndex pushes a local multi-platform index whose manifests are
// all stored: the manifests go by digest, the index under the tag; an
// index with a platform missing locally is pushed as this host's manifest.
func TestPushIndex(t *testing.T) {
	ctx := context.Background()
	tr := newTestRegistry(t, reg.Options{})
	src := newEnv(t)
	host := buildImage(t, nil, map[string]string{"which": "host"})
	other := buildImage(t, nil, map[string]string{"which": "other"})
	host.store(t, src, tr.host+"/tmp/host:v1")
	other.store(t, src, tr.host+"/tmp/other:v1")
	hp := platform.Host()
	op := ocispec.Platform{OS: "linux", Architecture: "s390x"}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{
		{MediaType: ocispec.MediaTypeImageManifest, Digest: host.desc.Digest, Size: host.desc.Size, Platform: &hp},
		{MediaType: ocispec.MediaTypeImageManifest, Digest: other.desc.Digest, Size: other.desc.Size, Platform: &op},
	}}
	idx.SchemaVersion = 2
	ib := mustJSON(idx)
	if _, err := src.store.Content().WriteBytes(ctx, ib, nil); err != nil {
		t.Fatal(err)
	}
	ref := tr.host + "/multi/app:v1"
	if _, err := src.store.Put(ctx, image.Image{Name: ref, Target: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(ib), Size: int64(len(ib))}}); err != nil {
		t.Fatal(err)
	}
	res, err := New(Options{}).Push(ctx, src.store, ref, PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != digest.FromBytes(ib) {
		t.Fatalf("pushed %s, want the index %s", res.Digest, digest.FromBytes(ib))
	}
	for _, d := range []digest.Digest{host.desc.Digest, other.desc.Digest} {
		if len(tr.requests("PUT /v2/multi/app/manifests/"+d.String())) != 1 {
			t.Fatalf("manifest %s not pushed by digest: %q", d, tr.requests("PUT "))
		}
	}
	all := tr.requests("PUT /v2/multi/app/manifests/")
	if !strings.HasPrefix(all[len(all)-1], "PUT /v2/multi/app/manifests/v1") {
		t.Fatalf("index not last: %q", all)
	}

	// Pulled here, only this platform comes; pushing it elsewhere sends
	// this platform's manifest.
	dst := newEnv(t)
	if _, err := New(Options{}).Pull(ctx, dst.store, dst.sn, ref, PullOptions{}); err != nil {
		t.Fatal(err)
	}
	again := tr.host + "/multi/again:v1"
	if _, err := dst.store.Tag(ctx, ref, again); err != nil {
		t.Fatal(err)
	}
	res, err = New(Options{}).Push(ctx, dst.store, again, PushOptions{})
	if err != nil || res.Digest != host.desc.Digest {
		t.Fatalf("push of a partial index: %+v %v", res, err)
	}
}
