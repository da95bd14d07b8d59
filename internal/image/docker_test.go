package image

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/peertest"
	digest "github.com/opencontainers/go-digest"
)

// TestDockerInterop: berth's save loads into a running dockerd and runs
// there; `docker save` output loads into berth with the same image ID.
// Skips when no Docker daemon answers.
func TestDockerInterop(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker CLI not installed")
	}
	peertest.Require(t, "a Docker daemon", nil, "docker", "version", "--format", "{{.Server.Version}}")
	ctx := context.Background()
	s := newTestStore(t)
	tag := "berth-test/busybox:" + content.RandomID()
	img := busyboxImage(t, tag)
	loadBytes(t, s, dockerArchive(t, img))
	id := digest.FromBytes(img.config(t))
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })

	file := filepath.Join(t.TempDir(), "berth.tar")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, f, []string{tag}, FormatDocker); err != nil {
		t.Fatal(err)
	}
	f.Close()
	run(t, "docker", "load", "-i", file)
	if got := strings.TrimSpace(run(t, "docker", "image", "inspect", "--format", "{{.Id}}", tag)); got != id.String() {
		t.Fatalf("docker sees ID %s, want %s", got, id)
	}
	if out := run(t, "docker", "run", "--rm", "--network", "none", tag); !strings.Contains(out, "hello from berth") {
		t.Fatalf("docker run output %q", out)
	}
	saved := filepath.Join(t.TempDir(), "docker.tar")
	run(t, "docker", "save", "-o", saved, tag)
	s2 := newTestStore(t)
	sf, err := os.Open(saved)
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	loaded, err := s2.Load(ctx, sf)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 1 || loaded[0].ID != id || loaded[0].Name != "docker.io/"+tag {
		t.Fatalf("loaded %+v, want %s", loaded, id)
	}
}
