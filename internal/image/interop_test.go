package image

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
)

func needSkopeo(t *testing.T) string {
	p, err := exec.LookPath("skopeo")
	if err != nil {
		t.Skip("skopeo not installed")
	}
	return p
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestDockerArchiveReadBySkopeo: skopeo's docker-archive transport is the
// code `podman load` uses; it must read berth's Docker-format save and
// see the same config (image ID).
func TestDockerArchiveReadBySkopeo(t *testing.T) {
	skopeo := needSkopeo(t)
	ctx := context.Background()
	s := newTestStore(t)
	a, b := twoImages(t)
	loadBytes(t, s, ociArchive(t, true, a, b)) // gzip layers: save must uncompress
	file := filepath.Join(t.TempDir(), "save.tar")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, f, []string{"busybox", "user/app:v1"}, FormatDocker); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for name, ti := range map[string]testImage{"busybox:latest": a, "user/app:v1": b} {
		cfg := run(t, skopeo, "inspect", "--config", "--raw", "docker-archive:"+file+":"+name)
		if digest.FromString(cfg) != digest.FromBytes(ti.config(t)) {
			t.Fatalf("%s: skopeo sees another config: %s", name, cfg)
		}
		// Copying verifies every layer against its digest.
		run(t, skopeo, "copy", "docker-archive:"+file+":"+name, "oci:"+filepath.Join(t.TempDir(), "oci")+":t")
	}
}

// TestLoadSkopeoDockerArchive loads a docker-archive written by
// containers/image (podman save's format): <hex>.tar layers.
func TestLoadSkopeoDockerArchive(t *testing.T) {
	skopeo := needSkopeo(t)
	ctx := context.Background()
	s := newTestStore(t)
	a, _ := twoImages(t)
	a.tags = []string{"src:1"}
	loadBytes(t, s, ociArchive(t, false, a))
	dir := filepath.Join(t.TempDir(), "layout")
	if err := s.SaveOCIDir(ctx, dir, []string{"src:1"}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "podman.tar")
	run(t, skopeo, "copy", "oci:"+dir+":1", "docker-archive:"+file+":example.com/team/app:2")
	s2 := newTestStore(t)
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	loaded, err := s2.Load(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 1 || loaded[0].Name != "example.com/team/app:2" || loaded[0].ID != digest.FromBytes(a.config(t)) {
		t.Fatalf("loaded %+v", loaded)
	}
	if _, err := s2.Unpack(ctx, newDirSnapshotter(t), "example.com/team/app:2"); err != nil {
		t.Fatal(err)
	}
}
