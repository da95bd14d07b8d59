package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/berth-project/berth/internal/peertest"
	"github.com/berth-project/berth/internal/testimage"
)

// peer runs a peer tool (the real docker against dockerd, podman, skopeo,
// umoci) and fails the test when it fails.
func peer(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	if name == dockerPath {
		cmd.Env = append(os.Environ(), "DOCKER_HOST=unix:///var/run/docker.sock")
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// needPeer skips the test unless the tool is installed and, for docker
// and podman, their engine answers.
func needPeer(t *testing.T, name string) string {
	t.Helper()
	if name == "docker" {
		if _, err := os.Stat(dockerPath); err != nil {
			t.Skip("docker CLI not installed at " + dockerPath)
		}
		peertest.Require(t, "dockerd at /var/run/docker.sock", []string{"DOCKER_HOST=unix:///var/run/docker.sock"},
			dockerPath, "version", "--format", "{{.Server.Version}}")
		return dockerPath
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (hack/install-peers.sh)", name)
	}
	if name == "podman" {
		peertest.Require(t, "podman", nil, p, "info", "--format", "{{.Host.OCIRuntime.Name}}")
	}
	return p
}

// genArchive writes a generated image archive: a busybox layer and
// extra layers of random files.
func genArchive(t *testing.T, name string, extra int, fileSize int64) string {
	t.Helper()
	dir := t.TempDir()
	img := testimage.Image{Name: name, Cmd: []string{"sh"}, Seed: uint64(len(name)), Layers: []testimage.Layer{{Busybox: true}}}
	for i := 0; i < extra; i++ {
		img.Layers = append(img.Layers, testimage.Layer{Dir: "data/" + string(rune('a'+i)), Files: 4, FileSize: fileSize / 4})
	}
	p := filepath.Join(dir, "image.tar")
	if err := testimage.WriteArchive(p, dir, img); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestImageInteropDocker: an archive `docker save` made on the real
// dockerd loads into berth and runs; what `berth save` writes loads into
// dockerd and runs there.
func TestImageInteropDocker(t *testing.T) {
	docker := needPeer(t, "docker")
	e := newEnv(t)
	name := "berth-interop/" + randHex(4) + ":v1"
	t.Cleanup(func() { exec.Command(docker, "-H", "unix:///var/run/docker.sock", "rmi", "-f", name).Run() })
	gen := genArchive(t, name, 2, 1<<20)
	peer(t, docker, "load", "-i", gen)
	fromDocker := filepath.Join(t.TempDir(), "from-docker.tar")
	peer(t, docker, "save", "-o", fromDocker, name)
	peer(t, docker, "rmi", name)

	if out := e.must(berthCLI, "load", "-i", fromDocker); out != "Loaded image: "+name {
		t.Fatalf("berth load of docker save: %q", out)
	}
	if out := e.must(berthCLI, "run", "--rm", name, "sh", "-c", "ls /data | wc -l; echo ran"); out != "2\nran" {
		t.Fatalf("run the image docker saved: %q", out)
	}

	fromBerth := filepath.Join(t.TempDir(), "from-berth.tar")
	e.must(berthCLI, "save", "-o", fromBerth, name)
	if out := peer(t, docker, "load", "-i", fromBerth); !strings.Contains(out, "Loaded image: "+name) {
		t.Fatalf("docker load of berth save: %q", out)
	}
	if out := peer(t, docker, "run", "--rm", "--network", "none", name, "sh", "-c", "ls /data | wc -l; echo ran"); out != "2\nran" {
		t.Fatalf("docker run of the image berth saved: %q", out)
	}
}

// TestImageInteropPodman: `podman load` reads what `berth save` writes,
// and the image runs there.
func TestImageInteropPodman(t *testing.T) {
	podman := needPeer(t, "podman")
	e := newEnv(t)
	name := "berth-interop/" + randHex(4) + ":v1"
	t.Cleanup(func() { exec.Command(podman, "rmi", "-f", "localhost/"+name, name).Run() })
	e.must(berthCLI, "load", "-i", genArchive(t, name, 1, 1<<20))
	saved := filepath.Join(t.TempDir(), "saved.tar")
	e.must(berthCLI, "save", "-o", saved, name)
	if out := peer(t, podman, "load", "-i", saved); !strings.Contains(out, name) {
		t.Fatalf("podman load of berth save: %q", out)
	}
	if out := peer(t, podman, "run", "--rm", "--network", "none", name, "sh", "-c", "ls /data | wc -l"); out != "1" {
		t.Fatalf("podman run of the image berth saved: %q", out)
	}
}

// TestImageInteropOCILayout: the archive `berth save` writes is an OCI
// image layout that skopeo and umoci read.
func TestImageInteropOCILayout(t *testing.T) {
	skopeo := needPeer(t, "skopeo")
	umoci := needPeer(t, "umoci")
	needPeer(t, "tar")
	e := newEnv(t)
	name := "berth-interop/oci:v7"
	e.must(berthCLI, "load", "-i", genArchive(t, name, 1, 1<<20))
	tmp := t.TempDir()
	saved := filepath.Join(tmp, "saved.tar")
	e.must(berthCLI, "save", "-o", saved, name)
	layout := filepath.Join(tmp, "layout")
	os.Mkdir(layout, 0o755)
	peer(t, "tar", "-xf", saved, "-C", layout)

	var info struct {
		Layers       []string
		Architecture string
	}
	out := peer(t, skopeo, "inspect", "oci:"+layout+":v7")
	if err := json.Unmarshal([]byte(out), &info); err != nil || len(info.Layers) != 2 {
		t.Fatalf("skopeo inspect: %v\n%s", err, out)
	}
	bundle := filepath.Join(tmp, "bundle")
	peer(t, umoci, "unpack", "--image", layout+":v7", bundle)
	if _, err := os.Stat(filepath.Join(bundle, "rootfs", "bin", "busybox")); err != nil {
		t.Fatalf("umoci unpack: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(bundle, "rootfs", "data", "a")); len(entries) != 4 {
		t.Fatalf("umoci unpack: data/a has %d files, want 4", len(entries))
	}
}

// TestImageLoadConcurrent: two CLIs load the same archive at once; both
// succeed and the image is stored once, ready to run.
func TestImageLoadConcurrent(t *testing.T) {
	e := newEnv(t)
	name := "berth-test/concurrent:v1"
	archive := genArchive(t, name, 3, 4<<20)
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.run(berthCLI, "", "load", "-i", archive)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.Code != 0 || strings.TrimSpace(r.Stdout) != "Loaded image: "+name {
			t.Fatalf("load %d: %s", i, r)
		}
	}
	if out := e.must(berthCLI, "images", "-q", name); len(lines(out)) != 1 {
		t.Fatalf("images after two loads: %q", out)
	}
	if out := e.must(berthCLI, "run", "--rm", name, "sh", "-c", "ls /data/a /data/b /data/c | grep -c file"); out != "12" {
		t.Fatalf("run: %q", out)
	}
	checkBlobs(t, e)
}

// TestImageLoadKilledDaemon: the daemon is killed (SIGKILL) in the middle
// of a load through the API. After a restart there is no image and no
// blob that claims a digest it does not have, and loading again works.
func TestImageLoadKilledDaemon(t *testing.T) {
	e := newEnv(t)
	name := "berth-test/killed:v1"
	archive := genArchive(t, name, 4, 8<<20)
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pr, pw := io.Pipe()
	fed := make(chan error, 1)
	go func() {
		// Feed two thirds of the archive, then stop: the daemon is in
		// the middle of reading it when it is killed.
		_, err := io.CopyN(pw, f, st.Size()*2/3)
		fed <- err
	}()
	loadDone := make(chan error, 1)
	go func() {
		res, err := e.Client.ImageLoad(context.Background(), pr)
		if err == nil {
			_, err = io.Copy(io.Discard, res)
			res.Close()
		}
		loadDone <- err
	}()
	if err := <-fed; err != nil {
		t.Fatalf("feeding the load: %v", err)
	}
	e.Kill()
	pw.CloseWithError(io.ErrUnexpectedEOF)
	if err := <-loadDone; err == nil {
		t.Fatal("the load through a killed daemon succeeded")
	}
	e.StartProcess()
	if r := e.run(berthCLI, "", "image", "inspect", name); r.Code != 1 {
		t.Fatalf("an image exists after its load was killed: %s", r)
	}
	checkBlobs(t, e)
	// The daemon removed the layers the killed load was unpacking.
	meta, err := os.ReadFile(filepath.Join(e.DataRoot, "snapshots", "overlay", "metadata.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(meta), "extract-") {
		t.Fatalf("half-unpacked layers left after a restart: %s", meta)
	}
	if out := e.must(berthCLI, "load", "-i", archive); out != "Loaded image: "+name {
		t.Fatalf("load again: %q", out)
	}
	if out := e.must(berthCLI, "run", "--rm", name, "sh", "-c", "ls /data/d | grep -c file"); out != "4" {
		t.Fatalf("run after the retry: %q", out)
	}
	checkBlobs(t, e)
}

// checkBlobs verifies that every blob of the daemon's content store has
// the digest it is named by.
func checkBlobs(t *testing.T, e *env) {
	t.Helper()
	dir := filepath.Join(e.DataRoot, "content", "blobs", "sha256")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range entries {
		f, err := os.Open(filepath.Join(dir, ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != ent.Name() {
			t.Errorf("blob %s has digest %s", ent.Name(), got)
		}
	}
}
