package distribution

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/crypto/bcrypt"

	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/image/platform"
	"github.com/berth-project/berth/internal/mount"
	"github.com/berth-project/berth/internal/registry"
	"github.com/berth-project/berth/internal/snapshot"
	"github.com/berth-project/berth/internal/snapshot/native"
	"github.com/berth-project/berth/internal/snapshot/overlay"
)

// env is a local image store with a snapshotter, as the daemon has.
type env struct {
	root  string
	store *image.Store
	sn    snapshot.Snapshotter
}

func newEnv(t testing.TB) *env { return newEnvWith(t, "native") }

// newEnvWith makes an env with the "native" or "overlay" snapshotter
// (overlay: layers unpacked in parallel; skips unless overlayfs works).
func newEnvWith(t testing.TB, kind string) *env {
	t.Helper()
	root := t.TempDir()
	cs, err := content.New(filepath.Join(root, "content"))
	if err != nil {
		t.Fatal(err)
	}
	store, err := image.NewStore(root, cs)
	if err != nil {
		t.Fatal(err)
	}
	var sn snapshot.Snapshotter
	if kind == "overlay" {
		if os.Geteuid() != 0 {
			t.Skip("overlay snapshots need root")
		}
		if sn, err = overlay.NewOverlay(filepath.Join(root, "snapshots")); err != nil {
			t.Skipf("overlayfs does not work here: %v", err)
		}
	} else if sn, err = native.NewNative(filepath.Join(root, "snapshots")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sn.Close() })
	return &env{root: root, store: store, sn: sn}
}

// layerTar builds a layer tar from name → content ("dir/" for a directory).
func layerTar(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		hdr := &tar.Header{Name: n, Mode: 0o644, ModTime: time.Unix(1700000000, 0), Typeflag: tar.TypeReg, Size: int64(len(files[n]))}
		if strings.HasSuffix(n, "/") {
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			tw.Write([]byte(files[n]))
		}
	}
	tw.Close()
	return buf.Bytes()
}

type compression int

const (
	gz compression = iota
	zst
	plain
)

func compress(t testing.TB, raw []byte, c compression) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	switch c {
	case gz:
		w := gzip.NewWriter(&buf)
		w.Write(raw)
		w.Close()
		return buf.Bytes(), ocispec.MediaTypeImageLayerGzip
	case zst:
		w, _ := zstd.NewWriter(&buf)
		w.Write(raw)
		w.Close()
		return buf.Bytes(), ocispec.MediaTypeImageLayerZstd
	}
	return raw, ocispec.MediaTypeImageLayer
}

// testImage is an image built in memory.
type testImage struct {
	layers   [][]byte // blobs as stored (compressed)
	layerMTs []string
	diffIDs  []digest.Digest
	config   []byte
	manifest []byte
	desc     ocispec.Descriptor
}

// buildImage makes an image of the given layers (each a file map) for this
// host's platform.
func buildImage(t testing.TB, comps []compression, layers ...map[string]string) *testImage {
	t.Helper()
	ti := &testImage{}
	for i, files := range layers {
		raw := layerTar(t, files)
		c := gz
		if i < len(comps) {
			c = comps[i]
		}
		blob, mt := compress(t, raw, c)
		ti.layers = append(ti.layers, blob)
		ti.layerMTs = append(ti.layerMTs, mt)
		ti.diffIDs = append(ti.diffIDs, digest.FromBytes(raw))
	}
	p := platform.Host()
	cfg := ocispec.Image{Platform: ocispec.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: ti.diffIDs}, Config: ocispec.ImageConfig{Cmd: []string{"sh"}}}
	ti.config, _ = json.Marshal(cfg)
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(ti.config), Size: int64(len(ti.config))}}
	m.SchemaVersion = 2
	for i, l := range ti.layers {
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: ti.layerMTs[i], Digest: digest.FromBytes(l), Size: int64(len(l))})
	}
	ti.manifest, _ = json.Marshal(m)
	ti.desc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(ti.manifest), Size: int64(len(ti.manifest))}
	return ti
}

// store puts the image's blobs into e and records it as name.
func (ti *testImage) store(t testing.TB, e *env, name string) {
	t.Helper()
	ctx := context.Background()
	cs := e.store.Content()
	for _, b := range append([][]byte{ti.config, ti.manifest}, ti.layers...) {
		if _, _, err := cs.WriteBlob(ctx, "test-"+content.RandomID(), bytes.NewReader(b), digest.FromBytes(b), int64(len(b)), nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.store.Put(ctx, image.Image{Name: name, Target: ti.desc}); err != nil {
		t.Fatal(err)
	}
}

// testRegistry is berth's registry server on a loopback port.
type testRegistry struct {
	srv  *registry.Server
	http *httptest.Server
	host string // 127.0.0.1:port

	mu    sync.Mutex
	hooks []func(w http.ResponseWriter, r *http.Request) bool
	log   []string
}

func newTestRegistry(t testing.TB, opts registry.Options) *testRegistry {
	t.Helper()
	if opts.Root == "" {
		opts.Root = t.TempDir()
	}
	s, err := registry.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	tr := &testRegistry{srv: s}
	tr.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		tr.log = append(tr.log, r.Method+" "+r.URL.Path+" "+r.Header.Get("Range"))
		hooks := append([]func(http.ResponseWriter, *http.Request) bool(nil), tr.hooks...)
		tr.mu.Unlock()
		for _, h := range hooks {
			if h(w, r) {
				return
			}
		}
		s.ServeHTTP(w, r)
	}))
	tr.host = strings.TrimPrefix(tr.http.URL, "http://")
	t.Cleanup(func() { tr.http.Close(); s.Close() })
	return tr
}

// hook intercepts requests: it returns true when it answered.
func (tr *testRegistry) hook(h func(w http.ResponseWriter, r *http.Request) bool) {
	tr.mu.Lock()
	tr.hooks = append(tr.hooks, h)
	tr.mu.Unlock()
}

func (tr *testRegistry) requests(prefix string) []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []string
	for _, l := range tr.log {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// readFile reads a file of the unpacked image top.
func (e *env) readFile(t testing.TB, ref, path string) string {
	t.Helper()
	var b []byte
	e.inTop(t, ref, func(root string) {
		var err error
		if b, err = os.ReadFile(filepath.Join(root, path)); err != nil {
			t.Fatal(err)
		}
	})
	return string(b)
}

// inTop calls fn with a mount of a view of the unpacked image top.
func (e *env) inTop(t testing.TB, ref string, fn func(root string)) {
	t.Helper()
	ctx := context.Background()
	chain, err := e.store.Unpack(ctx, e.sn, ref)
	if err != nil {
		t.Fatal(err)
	}
	key := "view-" + content.RandomID()
	mounts, err := e.sn.View(ctx, key, chain.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.sn.Remove(ctx, key)
	target := t.TempDir()
	if err := mount.All(mounts, target); err != nil {
		t.Fatal(err)
	}
	defer mount.UnmountAll(target)
	fn(target)
}

// events collects progress events.
type events struct {
	mu  sync.Mutex
	all []Event
}

func (ev *events) progress(e Event) {
	ev.mu.Lock()
	ev.all = append(ev.all, e)
	ev.mu.Unlock()
}

func (ev *events) has(id, status string) bool {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for _, e := range ev.all {
		if (id == "*" || e.ID == id) && strings.HasPrefix(e.Status, status) {
			return true
		}
	}
	return false
}

func (ev *events) statuses() []string {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	var out []string
	for _, e := range ev.all {
		if e.Status != "Downloading" && e.Status != "Extracting" && e.Status != "Pushing" {
			out = append(out, e.ID+" "+e.Status)
		}
	}
	return out
}

// rebuild recomputes the manifest after the config changed.
func (ti *testImage) rebuild(t testing.TB) {
	t.Helper()
	var m ocispec.Manifest
	json.Unmarshal(ti.manifest, &m)
	m.Config.Digest, m.Config.Size = digest.FromBytes(ti.config), int64(len(ti.config))
	ti.manifest = mustJSON(m)
	ti.desc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(ti.manifest), Size: int64(len(ti.manifest))}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// putManifest stores a manifest in the registry directly.
func putManifest(t testing.TB, tr *testRegistry, repo, ref, mt string, body []byte) {
	t.Helper()
	req, _ := http.NewRequest("PUT", tr.http.URL+"/v2/"+repo+"/manifests/"+ref, bytes.NewReader(body))
	req.Header.Set("Content-Type", mt)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("put manifest: %s", resp.Status)
	}
}

func htpasswd(t testing.TB, user, pass string) *registry.Htpasswd {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "htpasswd")
	os.WriteFile(p, []byte(user+":"+string(hash)+"\n"), 0o600)
	h, err := registry.LoadHtpasswd(p)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// statMode returns the mode of a path in the unpacked image top.
func (e *env) statMode(t testing.TB, ref, path string) os.FileMode {
	t.Helper()
	var mode os.FileMode
	e.inTop(t, ref, func(root string) {
		st, err := os.Stat(filepath.Join(root, path))
		if err != nil {
			t.Fatal(err)
		}
		mode = st.Mode()
	})
	return mode
}
