package image

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-project/berth/internal/peertest"
)

// podman runs podman on a private storage root, so the test neither sees
// nor touches the host's images.
func podman(t *testing.T, root string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command("podman", podmanArgs(root, args...)...).CombinedOutput()
	return string(out), err
}

// podmanArgs are podman's arguments for args on the storage under root.
func podmanArgs(root string, args ...string) []string {
	return append([]string{"--root", filepath.Join(root, "storage"), "--runroot", filepath.Join(root, "run"),
		"--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none"}, args...)
}

// TestPodmanInterop: berth's Docker-format save loads into podman and
// runs there; podman's docker-archive and oci-archive saves load into
// berth with the same image ID.
func TestPodmanInterop(t *testing.T) {
	if _, err := exec.LookPath("podman"); err != nil {
		t.Skip("podman not installed")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	probe := t.TempDir()
	peertest.Require(t, "podman", nil, append([]string{"podman"}, podmanArgs(probe, "info", "--format", "{{.Host.OCIRuntime.Name}}")...)...)
	ctx := context.Background()
	s := newTestStore(t)
	img := busyboxImage(t, "berth-test/busybox:1")
	loadBytes(t, s, dockerArchive(t, img))
	id := digest.FromBytes(img.config(t))
	root := t.TempDir()
	t.Cleanup(func() {
		podman(t, root, "rm", "-af")
		podman(t, root, "system", "reset", "-f")
		exec.Command("umount", "-R", filepath.Join(root, "storage")).Run()
	})

	file := filepath.Join(t.TempDir(), "berth.tar")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, f, []string{"berth-test/busybox:1"}, FormatDocker); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if out, err := podman(t, root, "load", "-i", file); err != nil {
		t.Fatalf("podman load: %v\n%s", err, out)
	}
	out, err := podman(t, root, "image", "inspect", "--format", "{{.Id}}", "docker.io/berth-test/busybox:1")
	if err != nil || strings.TrimSpace(out) != id.Encoded() {
		t.Fatalf("podman image inspect: %v\n%s\nwant %s", err, out, id.Encoded())
	}
	out, err = podman(t, root, "run", "--rm", "--network", "none", "docker.io/berth-test/busybox:1")
	if err != nil {
		t.Logf("podman run failed (environment?): %v\n%s", err, out)
	} else if !strings.Contains(out, "hello from berth") {
		t.Fatalf("podman run output %q", out)
	}

	for _, format := range []string{"docker-archive", "oci-archive"} {
		out := filepath.Join(t.TempDir(), format+".tar")
		if o, err := podman(t, root, "save", "--format", format, "-o", out, "docker.io/berth-test/busybox:1"); err != nil {
			t.Fatalf("podman save %s: %v\n%s", format, err, o)
		}
		s2 := newTestStore(t)
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		loaded, err := s2.Load(ctx, f)
		f.Close()
		if err != nil {
			t.Fatalf("load podman %s: %v", format, err)
		}
		if len(loaded) != 1 || loaded[0].ID != id {
			t.Fatalf("podman %s loaded %+v, want ID %s", format, loaded, id)
		}
	}
}
