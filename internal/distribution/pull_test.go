package distribution

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/api/types/registry"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/image/platform"
	reg "github.com/berth-project/berth/internal/registry"
	"github.com/berth-project/berth/internal/snapshot"
)

// pushed builds an image, stores it in a source env and pushes it to a
// fresh registry as host/name:tag.
func pushed(t *testing.T, tr *testRegistry, name string, ti *testImage) string {
	t.Helper()
	src := newEnv(t)
	ref := tr.host + "/" + name
	ti.store(t, src, ref)
	if _, err := New(Options{}).Push(context.Background(), src.store, ref, PushOptions{}); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	// As Docker, the pushed image has the digest reference now.
	repo := ref[:strings.LastIndex(ref, ":")] // name is repo:tag
	if got := recordNames(t, src.store); got != ref+" "+repo+"@"+ti.desc.Digest.String() {
		t.Fatalf("records after push: %s", got)
	}
	return ref
}

// recordNames lists the record names of a store, tags first (familiar
// form, space-separated).
func recordNames(t *testing.T, store *image.Store) string {
	t.Helper()
	all, err := store.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var tags, digests []string
	for _, r := range all {
		switch {
		case r.Tagged():
			tags = append(tags, r.Name)
		case r.Digested():
			digests = append(digests, r.Name)
		default:
			tags = append(tags, "<dangling>")
		}
	}
	return strings.Join(append(tags, digests...), " ")
}

func TestPullPushRoundTrip(t *testing.T) {
	forEachSnapshotter(t, testPullPushRoundTrip)
}

func testPullPushRoundTrip(t *testing.T, kind string) {
	ctx := context.Background()
	tr := newTestRegistry(t, reg.Options{})
	ti := buildImage(t, []compression{gz, zst, plain},
		map[string]string{"etc/": "", "etc/os-release": "berth test\n"},
		map[string]string{"bin/": "", "bin/tool": "zstd layer"},
		map[string]string{"data": "uncompressed layer"})
	ref := pushed(t, tr, "lib/app:v1", ti)

	dst := newEnvWith(t, kind)
	ev := &events{}
	res, err := New(Options{}).Pull(ctx, dst.store, dst.sn, ref, PullOptions{Progress: ev.progress})
	if err != nil {
		t.Fatal(err)
	}
	if res.Name != ref || res.Digest != ti.desc.Digest || res.ID != digest.FromBytes(ti.config) || !res.Downloaded {
		t.Fatalf("result %+v", res)
	}
	// A pull by tag records the tag and the digest reference (Docker's
	// RepoTags and RepoDigests).
	byDigest := tr.host + "/lib/app@" + ti.desc.Digest.String()
	if got := recordNames(t, dst.store); got != ref+" "+byDigest {
		t.Fatalf("records after pull by tag: %s", got)
	}
	for path, want := range map[string]string{"etc/os-release": "berth test\n", "bin/tool": "zstd layer", "data": "uncompressed layer"} {
		if got := dst.readFile(t, ref, path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	for _, want := range []string{"v1 Pulling from lib/app", ShortID(digest.FromBytes(ti.layers[0])) + " Pull complete",
		" Digest: " + ti.desc.Digest.String(), " Status: Downloaded newer image for " + ref} {
		if !contains(ev.statuses(), want) {
			t.Errorf("missing progress %q in %q", want, ev.statuses())
		}
	}

	// Pull again: nothing fetched.
	before := len(tr.requests("GET /v2/lib/app/blobs/"))
	ev = &events{}
	res, err = New(Options{}).Pull(ctx, dst.store, dst.sn, ref, PullOptions{Progress: ev.progress})
	if err != nil || res.Downloaded {
		t.Fatalf("second pull: %+v %v", res, err)
	}
	if n := len(tr.requests("GET /v2/lib/app/blobs/")); n != before {
		t.Fatalf("second pull fetched %d blobs", n-before)
	}
	if !ev.has(ShortID(digest.FromBytes(ti.layers[1])), "Already exists") || !ev.has("", "Status: Image is up to date for "+ref) {
		t.Fatalf("second pull progress %q", ev.statuses())
	}

	// By digest.
	other := newEnvWith(t, kind)
	ev = &events{}
	res, err = New(Options{}).Pull(ctx, other.store, other.sn, tr.host+"/lib/app:ignored@"+ti.desc.Digest.String(), PullOptions{Progress: ev.progress})
	if err != nil || res.Name != byDigest {
		t.Fatalf("pull by digest: %+v %v", res, err)
	}
	// Only the digest reference: no tag (the one next to the digest is
	// ignored, as by Docker).
	if got := recordNames(t, other.store); got != byDigest {
		t.Fatalf("records after pull by digest: %s", got)
	}
	if !contains(ev.statuses(), byDigest+" Pulling from lib/app") {
		t.Errorf("pull by digest progress %q", ev.statuses())
	}
	if got := other.readFile(t, byDigest, "bin/tool"); got != "zstd layer" {
		t.Fatalf("by digest: %q", got)
	}

	// Unknown tag and repository: NotFound with Docker's wording.
	_, err = New(Options{}).Pull(ctx, other.store, other.sn, tr.host+"/lib/app:nope", PullOptions{})
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "manifest for "+tr.host+"/lib/app:nope not found") {
		t.Fatalf("missing tag: %v", err)
	}
}

func TestPullIndexPicksPlatform(t *testing.T) {
	ctx := context.Background()
	tr := newTestRegistry(t, reg.Options{})
	host := buildImage(t, nil, map[string]string{"which": "host"})
	pushed(t, tr, "multi:one", host)
	// An arm64 (or amd64, on arm hosts) image next to it.
	otherArch := "arm64"
	if platform.Host().Architecture == "arm64" {
		otherArch = "amd64"
	}
	foreign := buildImage(t, nil, map[string]string{"which": "foreign"})
	var fcfg ocispec.Image
	json.Unmarshal(foreign.config, &fcfg)
	fcfg.Platform = ocispec.Platform{OS: "linux", Architecture: otherArch}
	foreign.config = mustJSON(fcfg)
	foreign.rebuild(t)
	pushed(t, tr, "multi:two", foreign)

	hostP, foreignP := platform.Host(), ocispec.Platform{OS: "linux", Architecture: otherArch}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{
		{MediaType: ocispec.MediaTypeImageManifest, Digest: foreign.desc.Digest, Size: foreign.desc.Size, Platform: &foreignP},
		{MediaType: ocispec.MediaTypeImageManifest, Digest: host.desc.Digest, Size: host.desc.Size, Platform: &hostP},
	}}
	idx.SchemaVersion = 2
	ib := mustJSON(idx)
	idxRef := tr.host + "/multi:latest"
	putManifest(t, tr, "multi", "latest", ocispec.MediaTypeImageIndex, ib)

	dst := newEnv(t)
	res, err := New(Options{}).Pull(ctx, dst.store, dst.sn, idxRef, PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != digest.FromBytes(ib) || res.ID != digest.FromBytes(host.config) {
		t.Fatalf("index pull %+v", res)
	}
	if got := dst.readFile(t, idxRef, "which"); got != "host" {
		t.Fatalf("picked %q", got)
	}
	// The foreign manifest's layers were not fetched.
	for _, l := range tr.requests("GET /v2/multi/blobs/" + digest.FromBytes(foreign.layers[0]).String()) {
		if l != "" {
			t.Fatalf("fetched a foreign layer: %v", l)
		}
	}
	// --platform picks the other one.
	dst2 := newEnv(t)
	res, err = New(Options{}).Pull(ctx, dst2.store, dst2.sn, idxRef, PullOptions{Platform: &foreignP})
	if err != nil || res.ID != digest.FromBytes(foreign.config) {
		t.Fatalf("platform pull %+v %v", res, err)
	}
	// A platform the index lacks.
	_, err = New(Options{}).Pull(ctx, dst2.store, dst2.sn, idxRef, PullOptions{Platform: &ocispec.Platform{OS: "linux", Architecture: "s390x"}})
	if !errdefs.IsNotFound(err) {
		t.Fatalf("absent platform: %v", err)
	}
}

// TestPullUnpacksWhileDownloading holds the last layer's download until the
// first layer is unpacked: a pull that waited for every download before
// unpacking would never finish.
func TestPullUnpacksWhileDownloading(t *testing.T) {
	forEachSnapshotter(t, testPullUnpacksWhileDownloading)
}

func testPullUnpacksWhileDownloading(t *testing.T, kind string) {
	ctx := context.Background()
	tr := newTestRegistry(t, reg.Options{})
	ti := buildImage(t, nil, map[string]string{"a": "first"}, map[string]string{"b": "second"}, map[string]string{"c": "third"})
	ref := pushed(t, tr, "slow:latest", ti)
	last := digest.FromBytes(ti.layers[2]).String()
	release := make(chan struct{})
	tr.hook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == "GET" && strings.HasSuffix(r.URL.Path, "/blobs/"+last) {
			select {
			case <-release:
			case <-time.After(60 * time.Second):
			}
		}
		return false
	})
	dst := newEnvWith(t, kind)
	ev := &events{}
	first := ShortID(digest.FromBytes(ti.layers[0]))
	var released atomic.Bool
	progress := func(e Event) {
		ev.progress(e)
		if e.ID == first && e.Status == "Pull complete" && released.CompareAndSwap(false, true) {
			close(release)
		}
	}
	start := time.Now()
	if _, err := New(Options{}).Pull(ctx, dst.store, dst.sn, ref, PullOptions{Progress: progress}); err != nil {
		t.Fatal(err)
	}
	if !released.Load() {
		t.Fatalf("layer 1 was not unpacked while layer 3 downloaded (took %s): %q", time.Since(start), ev.statuses())
	}
	if got := dst.readFile(t, ref, "c"); got != "third" {
		t.Fatalf("c = %q", got)
	}
}

// TestPullResumesInterruptedDownload cuts the first transfer of a layer
// half-way: the client retries with a Range request and the blob verifies.
func TestPullResumesInterruptedDownload(t *testing.T) {
	forEachSnapshotter(t, testPullResumesInterruptedDownload)
}

func testPullResumesInterruptedDownload(t *testing.T, kind string) {
	ctx := context.Background()
	tr := newTestRegistry(t, reg.Options{})
	big := strings.Repeat("incompressible? no, but large enough. ", 200000)
	ti := buildImage(t, []compression{plain}, map[string]string{"big": big})
	ref := pushed(t, tr, "resume:latest", ti)
	layer := digest.FromBytes(ti.layers[0]).String()
	var cut atomic.Bool
	tr.hook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != "GET" || !strings.HasSuffix(r.URL.Path, "/blobs/"+layer) || !cut.CompareAndSwap(false, true) {
			return false
		}
		// Send half of the blob, then drop the connection.
		w.Header().Set("Content-Length", fmt.Sprint(len(ti.layers[0])))
		w.WriteHeader(200)
		w.Write(ti.layers[0][:len(ti.layers[0])/2])
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return true
	})
	dst := newEnvWith(t, kind)
	ev := &events{}
	if _, err := New(Options{}).Pull(ctx, dst.store, dst.sn, ref, PullOptions{Progress: ev.progress}); err != nil {
		t.Fatal(err)
	}
	if got := dst.readFile(t, ref, "big"); got != big {
		t.Fatal("content differs after resume")
	}
	var ranged bool
	for _, l := range tr.requests("GET /v2/resume/blobs/" + layer) {
		if strings.HasSuffix(l, fmt.Sprintf(" bytes=%d-", len(ti.layers[0])/2)) {
			ranged = true
		}
	}
	if !ranged || !ev.has("*", "Retrying in") {
		t.Fatalf("no Range retry: %q; %q", tr.requests("GET /v2/resume/blobs/"), ev.statuses())
	}
}

// TestPullRefusesCorruptBlob serves a layer with one byte flipped: the pull
// fails and nothing of the image is committed.
func TestPullRefusesCorruptBlob(t *testing.T) {
	forEachSnapshotter(t, testPullRefusesCorruptBlob)
}

func testPullRefusesCorruptBlob(t *testing.T, kind string) {
	ctx := context.Background()
	tr := newTestRegistry(t, reg.Options{})
	ti := buildImage(t, []compression{plain}, map[string]string{"f": strings.Repeat("x", 10000)})
	ref := pushed(t, tr, "corrupt:latest", ti)
	layer := digest.FromBytes(ti.layers[0]).String()
	tr.hook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != "GET" || !strings.HasSuffix(r.URL.Path, "/blobs/"+layer) {
			return false
		}
		bad := bytes.Clone(ti.layers[0])
		bad[600] ^= 1
		w.Header().Set("Content-Length", fmt.Sprint(len(bad)))
		w.Write(bad)
		return true
	})
	dst := newEnvWith(t, kind)
	_, err := New(Options{}).Pull(ctx, dst.store, dst.sn, ref, PullOptions{})
	if err == nil {
		t.Fatal("corrupt layer accepted")
	}
	if dst.store.Content().Exists(digest.Digest(layer)) {
		t.Fatal("corrupt blob stored")
	}
	if _, err := dst.store.Get(ctx, ref); !errors.Is(err, image.ErrNotFound) {
		t.Fatalf("image recorded: %v", err)
	}
	n := 0
	dst.sn.Walk(ctx, func(snapshot.Info) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d snapshots left", n)
	}
}

func TestPullFromMirror(t *testing.T) {
	ctx := context.Background()
	mirror := newTestRegistry(t, reg.Options{})
	ti := buildImage(t, nil, map[string]string{"hello": "from the mirror"})
	src := newEnv(t)
	ti.store(t, src, mirror.host+"/library/busybox:latest")
	if _, err := New(Options{}).Push(ctx, src.store, mirror.host+"/library/busybox:latest", PushOptions{}); err != nil {
		t.Fatal(err)
	}
	dst := newEnv(t)
	// registry-1.docker.io is not reachable here: the mirror must serve.
	c := New(Options{Mirrors: []string{"http://" + mirror.host}})
	res, err := c.Pull(ctx, dst.store, dst.sn, "busybox", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Name != "docker.io/library/busybox:latest" {
		t.Fatalf("name %q", res.Name)
	}
	if got := dst.readFile(t, "busybox", "hello"); got != "from the mirror" {
		t.Fatalf("hello = %q", got)
	}
}

func TestPullWithBasicAuth(t *testing.T) {
	ctx := context.Background()
	users := htpasswd(t, "alice", "secret")
	tr := newTestRegistry(t, reg.Options{Users: users})
	ti := buildImage(t, nil, map[string]string{"f": "private"})
	src := newEnv(t)
	ref := tr.host + "/private:latest"
	ti.store(t, src, ref)
	alice := registry.AuthConfig{Username: "alice", Password: "secret"}
	if _, err := New(Options{}).Push(ctx, src.store, ref, PushOptions{}); !errdefs.IsNotFound(err) && !errors.Is(err, errdefs.ErrUnauthorized) {
		t.Fatalf("anonymous push: %v", err)
	}
	if _, err := New(Options{}).Push(ctx, src.store, ref, PushOptions{Auth: alice}); err != nil {
		t.Fatal(err)
	}
	dst := newEnv(t)
	if _, err := New(Options{}).Pull(ctx, dst.store, dst.sn, ref, PullOptions{Auth: registry.AuthConfig{Username: "alice", Password: "wrong"}}); err == nil {
		t.Fatal("wrong password accepted")
	}
	if _, err := New(Options{}).Pull(ctx, dst.store, dst.sn, ref, PullOptions{Auth: alice}); err != nil {
		t.Fatal(err)
	}
	if got := dst.readFile(t, ref, "f"); got != "private" {
		t.Fatalf("f = %q", got)
	}
}

// forEachSnapshotter runs a pull test with plain-copy snapshots (layers
// unpacked one after the other) and overlay (layers unpacked in parallel).
func forEachSnapshotter(t *testing.T, test func(t *testing.T, kind string)) {
	for _, kind := range []string{"native", "overlay"} {
		t.Run(kind, func(t *testing.T) { test(t, kind) })
	}
}

// TestPullImplicitDirsKeepParentMetadata: a layer that adds tmp/x without
// describing tmp/ must not change the mode of tmp from the layer below,
// also when the layers are unpacked in parallel (fixed up at commit).
func TestPullImplicitDirsKeepParentMetadata(t *testing.T) {
	forEachSnapshotter(t, func(t *testing.T, kind string) {
		ctx := context.Background()
		tr := newTestRegistry(t, reg.Options{})
		ti := buildImage(t, nil, map[string]string{"tmp/": ""}, map[string]string{"tmp/x": "in tmp"})
		// Make tmp/ sticky and world-writable in the first layer.
		ti.layers[0], ti.layerMTs[0] = compress(t, stickyTmpLayer(t), gz)
		ti.diffIDs[0] = digest.FromBytes(stickyTmpLayer(t))
		var cfg ocispec.Image
		json.Unmarshal(ti.config, &cfg)
		cfg.RootFS.DiffIDs = ti.diffIDs
		ti.config = mustJSON(cfg)
		var m ocispec.Manifest
		json.Unmarshal(ti.manifest, &m)
		m.Layers[0].Digest, m.Layers[0].Size = digest.FromBytes(ti.layers[0]), int64(len(ti.layers[0]))
		ti.manifest = mustJSON(m)
		ti.rebuild(t)
		ref := pushed(t, tr, "implicit:latest", ti)
		dst := newEnvWith(t, kind)
		if _, err := New(Options{}).Pull(ctx, dst.store, dst.sn, ref, PullOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := dst.readFile(t, ref, "tmp/x"); got != "in tmp" {
			t.Fatalf("tmp/x = %q", got)
		}
		if mode := dst.statMode(t, ref, "tmp"); mode&os.ModeSticky == 0 || mode.Perm() != 0o777 {
			t.Fatalf("tmp has mode %v, want sticky 0777", mode)
		}
	})
}

func stickyTmpLayer(t *testing.T) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "tmp/", Mode: 0o1777, Typeflag: tar.TypeDir, ModTime: time.Unix(1700000000, 0)})
	tw.Close()
	return buf.Bytes()
}

// TestConcurrentPullsOfOneImage: pulls of the same image into one store at
// once all succeed and leave one set of snapshots and no temporary ones.
func TestConcurrentPullsOfOneImage(t *testing.T) {
	forEachSnapshotter(t, func(t *testing.T, kind string) {
		ctx := context.Background()
		tr := newTestRegistry(t, reg.Options{})
		ti := buildImage(t, nil, map[string]string{"a": strings.Repeat("a", 100000)}, map[string]string{"b": "b"}, map[string]string{"c": "c"})
		ref := pushed(t, tr, "same:latest", ti)
		dst := newEnvWith(t, kind)
		errs := make(chan error, 4)
		for range 4 {
			go func() {
				_, err := New(Options{}).Pull(ctx, dst.store, dst.sn, ref, PullOptions{})
				errs <- err
			}()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if got := dst.readFile(t, ref, "c"); got != "c" {
			t.Fatalf("c = %q", got)
		}
		var names []string
		dst.sn.Walk(ctx, func(i snapshot.Info) error { names = append(names, i.Name); return nil })
		if len(names) != 3 {
			t.Fatalf("snapshots after concurrent pulls: %q", names)
		}
	})
}
