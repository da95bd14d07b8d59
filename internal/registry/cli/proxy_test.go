package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/api/types/registry"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/distribution"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/image/platform"
	reg "github.com/berth-project/berth/internal/registry"
	"github.com/berth-project/berth/internal/snapshot/native"
)

// pushRaw stores an image (one layer with one file) in a registry by HTTP.
func pushRaw(t *testing.T, base, repo, tag, file string) digest.Digest {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "f", Mode: 0o644, Size: int64(len(file)), Typeflag: tar.TypeReg})
	tw.Write([]byte(file))
	tw.Close()
	layer := buf.Bytes()
	p := platform.Host()
	cfg, _ := json.Marshal(ocispec.Image{Platform: ocispec.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(layer)}}})
	for _, b := range [][]byte{cfg, layer} {
		resp, err := http.Post(base+"/v2/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(b).String(), "application/octet-stream", bytes.NewReader(b))
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("push blob: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))},
		Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(layer), Size: int64(len(layer))}}}
	m.SchemaVersion = 2
	mb, _ := json.Marshal(m)
	req, _ := http.NewRequest("PUT", base+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(mb))
	req.Header.Set("Content-Type", ocispec.MediaTypeImageManifest)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("push manifest: %v %v", resp, err)
	}
	resp.Body.Close()
	return digest.FromBytes(layer)
}

func pullInto(t *testing.T, ref string) string {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	cs, _ := content.New(filepath.Join(root, "content"))
	store, _ := image.NewStore(root, cs)
	sn, err := native.NewNative(filepath.Join(root, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	if _, err := distribution.New(distribution.Options{}).Pull(ctx, store, sn, ref, distribution.PullOptions{}); err != nil {
		return "error: " + err.Error()
	}
	r, err := store.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	return r.Target.Digest.String()
}

// TestPullThroughCache: a fleet of clients pulls one image through the
// cache at once and the upstream serves each blob once; afterwards the
// cache serves with the upstream gone; the cache refuses pushes.
func TestPullThroughCache(t *testing.T) {
	up, err := reg.New(reg.Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	var mu sync.Mutex
	blobGets := map[string]int{}
	var down atomic.Bool
	upHTTP := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if r.Method == "GET" && strings.Contains(r.URL.Path, "/blobs/") {
			mu.Lock()
			blobGets[r.URL.Path]++
			mu.Unlock()
			time.Sleep(50 * time.Millisecond) // let the fleet pile up on the fill
		}
		up.ServeHTTP(w, r)
	}))
	defer upHTTP.Close()
	layer := pushRaw(t, upHTTP.URL, "library/app", "v1", "through the cache")

	upstream, err := NewUpstream(upHTTP.URL, registry.AuthConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cache, err := reg.New(reg.Options{Root: t.TempDir(), Upstream: upstream, TagTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	cacheHTTP := httptest.NewServer(cache)
	defer cacheHTTP.Close()
	host := strings.TrimPrefix(cacheHTTP.URL, "http://")

	var wg sync.WaitGroup
	results := make([]string, 6)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = pullInto(t, host+"/library/app:v1")
		}()
	}
	wg.Wait()
	for _, r := range results {
		if strings.HasPrefix(r, "error") || r != results[0] {
			t.Fatalf("fleet pulls: %q", results)
		}
	}
	mu.Lock()
	for path, n := range blobGets {
		if n != 1 {
			t.Errorf("upstream served %s %d times", path, n)
		}
	}
	if blobGets["/v2/library/app/blobs/"+layer.String()] != 1 {
		t.Errorf("layer not fetched through the cache: %v", blobGets)
	}
	mu.Unlock()

	// Upstream down: the cache still serves the tag and the digest.
	down.Store(true)
	if got := pullInto(t, host+"/library/app:v1"); got != results[0] {
		t.Fatalf("pull with the upstream down: %s", got)
	}
	if got := pullInto(t, host+"/library/app@"+results[0]); got != results[0] {
		t.Fatalf("pull by digest with the upstream down: %s", got)
	}
	// Something never cached cannot be served: a clear error.
	if got := pullInto(t, host+"/library/other:v1"); !strings.Contains(got, "error") {
		t.Fatalf("uncached pull with the upstream down: %s", got)
	}
	// No pushes to a cache.
	resp, err := http.Post(cacheHTTP.URL+"/v2/library/app/blobs/uploads/", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("push to the cache: %s", resp.Status)
	}
}

func TestNewUpstreamRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"registry-1.docker.io", "ftp://x", "https://host/path", ""} {
		if _, err := NewUpstream(u, registry.AuthConfig{}); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
	u, err := NewUpstream("https://registry-1.docker.io", registry.AuthConfig{Username: "x"})
	if err != nil || u.domain != "docker.io" {
		t.Fatalf("hub upstream: %+v %v", u, err)
	}
}
