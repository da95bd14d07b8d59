package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/snapshot"
	"github.com/berth-project/berth/internal/snapshot/overlay"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func twoImages(t testing.TB) (testImage, testImage) {
	base := makeLayer(t, map[string]string{"bin/": "", "bin/hello": "#!/bin/sh\necho hi\n"})
	a := testImage{tags: []string{"busybox:latest", "localhost:5000/x:y"}, layers: [][]byte{base, makeLayer(t, map[string]string{"etc/a": "a"})}, cmd: []string{"/bin/hello"}}
	b := testImage{tags: []string{"user/app:v1"}, layers: [][]byte{base, makeLayer(t, map[string]string{"etc/b": "b"})}, cmd: []string{"sh"}}
	return a, b
}

func TestLoadDockerArchive(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	a, b := twoImages(t)
	loaded := loadBytes(t, s, dockerArchive(t, a, b))
	if len(loaded) != 3 {
		t.Fatalf("loaded %+v", loaded)
	}
	wantID := digest.FromBytes(a.config(t))
	for _, name := range []string{"busybox", "docker.io/library/busybox:latest", "localhost:5000/x:y"} {
		img, err := s.Resolve(ctx, name)
		if err != nil {
			t.Fatalf("resolve %s: %v", name, err)
		}
		if id := s.ID(ctx, img); id != wantID {
			t.Fatalf("%s: id %s, want %s", name, id, wantID)
		}
	}
	// By ID prefix and full ID.
	if img, err := s.Resolve(ctx, wantID.Encoded()[:12]); err != nil || s.ID(ctx, img) != wantID {
		t.Fatalf("resolve by short id: %v", err)
	}
	img, _ := s.Get(ctx, "user/app:v1")
	r, err := Resolve(ctx, s.Content(), img.Target, s.Platform())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Manifest.Layers) != 2 || r.Manifest.Layers[0].MediaType != ocispec.MediaTypeImageLayer ||
		r.Manifest.Layers[0].Digest != r.Config.RootFS.DiffIDs[0] || r.Config.Config.Cmd[0] != "sh" {
		t.Fatalf("manifest %+v", r.Manifest)
	}
	// The v1 metadata (json, VERSION) was not stored: blobs are 2 configs,
	// 3 distinct layers, 2 manifests.
	n := 0
	s.Content().Walk(ctx, func(content.Info) error { n++; return nil })
	if n != 7 {
		t.Fatalf("%d blobs in store, want 7", n)
	}
}

func TestLoadOCIArchive(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	a, b := twoImages(t)
	b.tags = nil // untagged: a dangling record
	loaded := loadBytes(t, s, ociArchive(t, true, a, b))
	if len(loaded) != 3 {
		t.Fatalf("loaded %+v", loaded)
	}
	img, err := s.Get(ctx, "localhost:5000/x:y")
	if err != nil {
		t.Fatal(err)
	}
	if img.Target.MediaType != ocispec.MediaTypeImageIndex {
		t.Fatalf("target %+v", img.Target)
	}
	if id := s.ID(ctx, img); id != digest.FromBytes(a.config(t)) {
		t.Fatalf("id %s", id)
	}
	all, _ := s.List(ctx)
	dangling := 0
	for _, i := range all {
		if i.Dangling() {
			dangling++
			if s.ID(ctx, i) != digest.FromBytes(b.config(t)) {
				t.Fatal("dangling record has wrong image")
			}
		}
	}
	if dangling != 1 || len(all) != 3 {
		t.Fatalf("records %+v", all)
	}
}

func TestLoadRejectsCorruptBlob(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	a, _ := twoImages(t)
	arc := ociArchive(t, false, a)
	// Flip a byte inside a layer's gzip data: its name no longer matches.
	layer := gzipBytes(t, a.layers[1])
	i := bytes.Index(arc, layer)
	if i < 0 {
		t.Fatal("layer not found in archive")
	}
	bad := bytes.Clone(arc)
	bad[i+len(layer)/2] ^= 0xff
	if _, err := s.Load(ctx, bytes.NewReader(bad)); !errors.Is(err, content.ErrFailedPrecondition) {
		t.Fatalf("want digest failure, got %v", err)
	}
	if all, _ := s.List(ctx); len(all) != 0 {
		t.Fatalf("records after failed load: %+v", all)
	}
}

func TestTruncatedLoadThenRetry(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	a, b := twoImages(t)
	arc := dockerArchive(t, a, b)
	for _, cut := range []int{len(arc) / 3, len(arc) - 1100} {
		if _, err := s.Load(ctx, bytes.NewReader(arc[:cut])); err == nil {
			t.Fatalf("truncated archive (%d of %d bytes) loaded", cut, len(arc))
		}
		if all, _ := s.List(ctx); len(all) != 0 {
			t.Fatalf("records after truncated load: %+v", all)
		}
	}
	loaded := loadBytes(t, s, arc)
	if len(loaded) != 3 {
		t.Fatalf("retry loaded %+v", loaded)
	}
	// The orphans of the failed attempts are collectable; the image stays whole.
	if _, err := s.GarbageCollect(ctx, content.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"busybox", "user/app:v1"} {
		img, _ := s.Get(ctx, name)
		if _, missing, err := Closure(ctx, s.Content(), img.Target); err != nil || missing {
			t.Fatalf("%s incomplete after gc: %v", name, err)
		}
	}
}

func TestConcurrentLoads(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	a, b := twoImages(t)
	for _, arc := range [][]byte{dockerArchive(t, a, b), ociArchive(t, true, a, b)} {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = s.Load(ctx, bytes.NewReader(arc))
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	all, _ := s.List(ctx)
	if len(all) != 3 {
		t.Fatalf("records %+v", all)
	}
}

// TestTwoProcessesLoad runs two processes loading one archive into one
// store at once (the test binary re-executed as a loader).
func TestTwoProcessesLoad(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	a, b := twoImages(t)
	path := writeTemp(t, dockerArchive(t, a, b))
	root := s.dir[:len(s.dir)-len("/images")]
	var cmds []*exec.Cmd
	for range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLoad$")
		cmd.Env = append(os.Environ(), "BERTH_TEST_LOAD_ROOT="+root, "BERTH_TEST_LOAD_ARCHIVE="+path)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Log(out.String())
			}
		})
		cmds = append(cmds, cmd)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("loader process: %v", err)
		}
	}
	all, _ := s.List(ctx)
	if len(all) != 3 {
		t.Fatalf("records %+v", all)
	}
	for _, img := range all {
		if _, missing, err := Closure(ctx, s.Content(), img.Target); err != nil || missing {
			t.Fatalf("%s incomplete: %v", img.Name, err)
		}
	}
}

func TestHelperLoad(t *testing.T) {
	root, path := os.Getenv("BERTH_TEST_LOAD_ROOT"), os.Getenv("BERTH_TEST_LOAD_ARCHIVE")
	if root == "" {
		t.Skip("helper for TestTwoProcessesLoad")
	}
	cs, err := content.New(root + "/content")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewStore(root, cs)
	if err != nil {
		t.Fatal(err)
	}
	var in io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		in = f
	}
	var opts []LoadOption
	if os.Getenv("BERTH_TEST_LOAD_UNPACK") != "" {
		sn, err := overlay.NewOverlay(root + "/snapshots")
		if err != nil {
			t.Fatal(err)
		}
		defer sn.Close()
		opts = append(opts, WithUnpack(sn))
	}
	if _, err := s.Load(context.Background(), in, opts...); err != nil {
		t.Fatal(err)
	}
}

// TestTwoProcessesLoadUnpack runs two processes loading and unpacking one
// archive into one store and one overlay snapshotter at once: both
// succeed, every layer is committed once, durable, and nothing is left
// half-unpacked.
func TestTwoProcessesLoadUnpack(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	ctx := context.Background()
	s := newTestStore(t)
	root := s.dir[:len(s.dir)-len("/images")]
	sn, err := overlay.NewOverlay(root + "/snapshots")
	if err != nil {
		t.Skipf("overlay snapshotter unavailable: %v", err)
	}
	defer sn.Close()
	a, b := twoImages(t)
	a.layers = append(a.layers, makeLayer(t, map[string]string{"big/": "", "big/file": strings.Repeat("y", 3<<20)}))
	path := writeTemp(t, dockerArchive(t, a, b))
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLoad$")
		cmd.Env = append(os.Environ(), "BERTH_TEST_LOAD_ROOT="+root, "BERTH_TEST_LOAD_ARCHIVE="+path, "BERTH_TEST_LOAD_UNPACK=1")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, &out)
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("loader process %d: %v\n%s", i, err, outs[i])
		}
	}
	meta, err := os.ReadFile(root + "/snapshots/metadata.json")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(meta), `"batch"`) {
		t.Errorf("snapshots still marked as in a batch: %s", meta)
	}
	n := 0
	sn.Walk(ctx, func(i snapshot.Info) error {
		if i.Kind != snapshot.KindCommitted {
			t.Errorf("left over snapshot %+v", i)
		}
		n++
		return nil
	})
	if want := len(a.layers) + len(b.layers) - 1; n != want { // b shares a's first layer
		t.Errorf("%d snapshots, want %d", n, want)
	}
	for _, name := range []string{"busybox:latest", "user/app:v1"} {
		if _, err := s.Unpack(ctx, sn, name); err != nil {
			t.Fatal(err)
		}
	}
	if entries, _ := os.ReadDir(root + "/content/batches"); len(entries) != 0 {
		t.Errorf("content batch markers left: %v", entries)
	}
}

// TestKilledLoadThenRetry kills a loading process with SIGKILL midway
// and checks that nothing half-loaded is visible and a retry works.
func TestKilledLoadThenRetry(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	big := makeLayer(t, map[string]string{"big": strings.Repeat("x", 4<<20)})
	a, b := twoImages(t)
	a.layers = append(a.layers, big)
	arc := dockerArchive(t, a, b)
	root := s.dir[:len(s.dir)-len("/images")]
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLoad$")
	cmd.Env = append(os.Environ(), "BERTH_TEST_LOAD_ROOT="+root, "BERTH_TEST_LOAD_ARCHIVE=-")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Feed half; the write returns once the loader has consumed most of it.
	if _, err := stdin.Write(arc[:len(arc)/2]); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	stdin.Close()
	if all, _ := s.List(ctx); len(all) != 0 {
		t.Fatalf("records after killed load: %+v", all)
	}
	// Every committed blob is intact.
	s.Content().Walk(ctx, func(i content.Info) error {
		b, err := s.Content().ReadBlob(ctx, i.Digest)
		if err != nil || digest.FromBytes(b) != i.Digest {
			t.Errorf("blob %s corrupt: %v", i.Digest, err)
		}
		return nil
	})
	if loaded := loadBytes(t, s, arc); len(loaded) != 3 {
		t.Fatalf("retry loaded %+v", loaded)
	}
	if _, err := s.Unpack(ctx, newDirSnapshotter(t), "busybox"); err != nil {
		t.Fatal(err)
	}
}

// rawTarHeader encodes one ustar header block.
func rawTarHeader(name string, typ byte, size int64) []byte {
	b := make([]byte, 512)
	copy(b[0:100], name)
	copy(b[100:108], fmt.Sprintf("%07o\x00", 0o644))
	copy(b[108:116], fmt.Sprintf("%07o\x00", 0))
	copy(b[116:124], fmt.Sprintf("%07o\x00", 0))
	copy(b[124:136], fmt.Sprintf("%011o\x00", size))
	copy(b[136:148], fmt.Sprintf("%011o\x00", 0))
	b[156] = typ
	copy(b[257:265], "ustar\x0000")
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

func paxRecord(k, v string) string {
	n := len(k) + len(v) + 3
	for {
		r := fmt.Sprintf("%d %s=%s\n", n, k, v)
		if len(r) == n {
			return r
		}
		n = len(r)
	}
}

func pad512(b []byte) []byte { return append(b, make([]byte, (512-len(b)%512)%512)...) }

// TestLoadRefusesSparse: a PAX GNU sparse entry can describe terabytes of
// holes in a few bytes; Load must refuse it rather than write them out.
func TestLoadRefusesSparse(t *testing.T) {
	pax := paxRecord("GNU.sparse.major", "1") + paxRecord("GNU.sparse.minor", "0") +
		paxRecord("GNU.sparse.name", "big") + paxRecord("GNU.sparse.realsize", "1099511627776")
	var arc []byte
	arc = append(arc, rawTarHeader("PaxHeaders/big", 'x', int64(len(pax)))...)
	arc = append(arc, pad512([]byte(pax))...)
	arc = append(arc, rawTarHeader("GNUSparseFile.0/big", '0', 512)...)
	arc = append(arc, pad512([]byte("1\n1099511627775\n1\n"))...) // one data byte at the very end
	arc = append(arc, make([]byte, 1024)...)
	s := newTestStore(t)
	_, err := s.Load(context.Background(), bytes.NewReader(arc))
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "sparse") {
		t.Fatalf("want refusal, got %v", err)
	}
}

func TestLoadCompressedArchive(t *testing.T) {
	s := newTestStore(t)
	a, _ := twoImages(t)
	loaded := loadBytes(t, s, gzipBytes(t, dockerArchive(t, a)))
	if len(loaded) != 2 || loaded[0].ID != digest.FromBytes(a.config(t)) {
		t.Fatalf("loaded %+v", loaded)
	}
	// A truncated compressed archive fails too.
	gz := gzipBytes(t, dockerArchive(t, a))
	if _, err := s.Load(context.Background(), bytes.NewReader(gz[:len(gz)-20])); err == nil {
		t.Fatal("truncated gzip archive loaded")
	}
}
