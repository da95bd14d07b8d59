package distribution_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/distribution"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/image/platform"
	registrycli "github.com/berth-project/berth/internal/registry/cli"
	"github.com/berth-project/berth/internal/snapshot"
	"github.com/berth-project/berth/internal/snapshot/native"
	"github.com/berth-project/berth/internal/testport"
)

// The test binary doubles as `berth registry`, so that these tests kill a
// real registry process.
func TestMain(m *testing.M) {
	if os.Getenv("BERTH_TEST_REGISTRY_MAIN") == "1" {
		os.Exit(registrycli.Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}

var listenRe = regexp.MustCompile(`url=http://(127\.0\.0\.1:[0-9]+)`)

type registryProc struct {
	t    *testing.T
	addr string
	root string
	cmd  *exec.Cmd
}

// start runs `berth registry serve` on addr (the same port across
// restarts) and waits until it listens.
func (p *registryProc) start() {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		cmd := exec.Command(os.Args[0], "serve", "--addr", p.addr, "--root", p.root)
		cmd.Env = append(os.Environ(), "BERTH_TEST_REGISTRY_MAIN=1")
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			p.t.Fatal(err)
		}
		up := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				if listenRe.MatchString(sc.Text()) {
					up <- true
				}
			}
			up <- false
		}()
		if <-up {
			p.cmd = cmd
			return
		}
		cmd.Wait()
		// The port may still be held by the killed process's socket.
		if time.Now().After(deadline) {
			p.t.Fatalf("registry did not start on %s", p.addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *registryProc) kill() {
	if p.cmd != nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
		p.cmd = nil
	}
}

func newStore(t *testing.T) (*image.Store, snapshot.Snapshotter) {
	root := t.TempDir()
	cs, err := content.New(filepath.Join(root, "content"))
	if err != nil {
		t.Fatal(err)
	}
	store, err := image.NewStore(root, cs)
	if err != nil {
		t.Fatal(err)
	}
	sn, err := native.NewNative(filepath.Join(root, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sn.Close() })
	return store, sn
}

// bigImage stores an image with one uncompressed layer holding size random
// bytes in a file, named ref.
func bigImage(t *testing.T, store *image.Store, ref string, size int) []byte {
	ctx := context.Background()
	data := make([]byte, size)
	rand.Read(data)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "blob", Mode: 0o644, Size: int64(size), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)})
	tw.Write(data)
	tw.Close()
	layer := buf.Bytes()
	p := platform.Host()
	cfg, _ := json.Marshal(ocispec.Image{Platform: ocispec.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(layer)}}})
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))},
		Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(layer), Size: int64(len(layer))}}}
	m.SchemaVersion = 2
	mb, _ := json.Marshal(m)
	for _, b := range [][]byte{cfg, layer, mb} {
		if _, _, err := store.Content().WriteBlob(ctx, "t-"+content.RandomID(), bytes.NewReader(b), digest.FromBytes(b), int64(len(b)), nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.Put(ctx, image.Image{Name: ref, Target: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mb), Size: int64(len(mb))}}); err != nil {
		t.Fatal(err)
	}
	return data
}

// TestPushAndPullSurviveRegistryKill kills the registry process (SIGKILL)
// in the middle of a chunked upload and again in the middle of a
// download, restarts it on the same port and root, and checks that the
// client's retries finish both transfers with verified content.
func TestPushAndPullSurviveRegistryKill(t *testing.T) {
	ctx := context.Background()
	// The registry restarts on its port: one that no other process's
	// connection or listener takes meanwhile (below the ephemeral range).
	reg := &registryProc{t: t, addr: testport.Free(t), root: t.TempDir()}
	reg.start()
	t.Cleanup(reg.kill)

	src, _ := newStore(t)
	ref := reg.addr + "/survivor:latest"
	data := bigImage(t, src, ref, 48<<20)

	var mu sync.Mutex
	var statuses []string
	killed := false
	killAt := func(status string) distribution.Progress {
		return func(e distribution.Event) {
			mu.Lock()
			defer mu.Unlock()
			if e.Status != "Pushing" && e.Status != "Downloading" {
				statuses = append(statuses, e.ID+" "+e.Status)
			}
			if !killed && e.Status == status && e.Current >= 16<<20 && e.Current < e.Total {
				killed = true
				reg.kill()
				reg.start()
			}
		}
	}
	c := distribution.New(distribution.Options{})
	if _, err := c.Push(ctx, src, ref, distribution.PushOptions{ChunkSize: 4 << 20, Progress: killAt("Pushing")}); err != nil {
		t.Fatalf("push across a registry kill: %v (%q)", err, statuses)
	}
	if !killed || !strings.Contains(strings.Join(statuses, "\n"), "Retrying in") {
		t.Fatalf("the registry was not killed mid-upload (killed=%v): %q", killed, statuses)
	}

	mu.Lock()
	killed, statuses = false, nil
	mu.Unlock()
	dst, sn := newStore(t)
	if _, err := c.Pull(ctx, dst, sn, ref, distribution.PullOptions{Progress: killAt("Downloading")}); err != nil {
		t.Fatalf("pull across a registry kill: %v (%q)", err, statuses)
	}
	if !killed || !strings.Contains(strings.Join(statuses, "\n"), "Retrying in") {
		t.Fatalf("the registry was not killed mid-download (killed=%v): %q", killed, statuses)
	}
	chain, err := dst.Unpack(ctx, sn, ref)
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := sn.View(ctx, "check", chain.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Remove(ctx, "check")
	got, err := os.ReadFile(filepath.Join(mounts[0].Source, "blob"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("content after the kills differs (%d bytes, %v)", len(got), err)
	}
}
