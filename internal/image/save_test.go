package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func tarFiles(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		out[hdr.Name] = data
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	ctx := context.Background()
	a, b := twoImages(t)
	for _, src := range []struct {
		name string
		arc  []byte
	}{{"docker", dockerArchive(t, a, b)}, {"oci-gzip-multiarch", ociArchive(t, true, a, b)}} {
		for _, format := range []Format{FormatDocker, FormatOCI} {
			s1 := newTestStore(t)
			loadBytes(t, s1, src.arc)
			var buf bytes.Buffer
			if err := s1.Save(ctx, &buf, []string{"busybox", "localhost:5000/x:y", "user/app:v1"}, format); err != nil {
				t.Fatalf("%s/%d: save: %v", src.name, format, err)
			}
			files := tarFiles(t, buf.Bytes())
			if format == FormatDocker {
				var entries []dockerManifestEntry
				if err := json.Unmarshal(files["manifest.json"], &entries); err != nil || len(entries) != 2 {
					t.Fatalf("manifest.json: %s %v", files["manifest.json"], err)
				}
				if got := strings.Join(entries[0].RepoTags, ","); got != "busybox:latest,localhost:5000/x:y" {
					t.Fatalf("RepoTags %s", got)
				}
				// Layers are uncompressed: their digests are the diff IDs.
				for i, l := range entries[0].Layers {
					if digest.FromBytes(files[l]) != digest.FromBytes(a.layers[i]) {
						t.Fatalf("layer %s is not the uncompressed layer", l)
					}
				}
				if _, ok := files["repositories"]; !ok {
					t.Fatal("no repositories file")
				}
			}
			if _, ok := files["oci-layout"]; !ok {
				t.Fatal("no oci-layout")
			}
			s2 := newTestStore(t)
			loadBytes(t, s2, buf.Bytes())
			for _, name := range []string{"busybox", "localhost:5000/x:y", "user/app:v1"} {
				i1, _ := s1.Get(ctx, name)
				i2, err := s2.Get(ctx, name)
				if err != nil {
					t.Fatalf("%s/%d: %s after round trip: %v", src.name, format, name, err)
				}
				if s1.ID(ctx, i1) != s2.ID(ctx, i2) {
					t.Fatalf("%s/%d: %s changed ID: %s -> %s", src.name, format, name, s1.ID(ctx, i1), s2.ID(ctx, i2))
				}
				if format == FormatOCI && src.name == "docker" && i1.Target.Digest != i2.Target.Digest {
					t.Fatalf("OCI round trip changed target of %s", name)
				}
			}
		}
	}
}

func TestSaveByIDAndDir(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	a, b := twoImages(t)
	loadBytes(t, s, dockerArchive(t, a, b))
	id := digest.FromBytes(a.config(t))
	dir := t.TempDir()
	if err := s.SaveOCIDir(ctx, dir, []string{id.Encoded()[:10]}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveOCIDir(ctx, dir, []string{"user/app:v1"}); err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	raw, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	json.Unmarshal(raw, &idx)
	var names []string
	for _, m := range idx.Manifests {
		names = append(names, m.Annotations[AnnotationImageName])
		if _, err := os.Stat(filepath.Join(dir, blobName(m.Digest))); err != nil {
			t.Fatal(err)
		}
	}
	// By ID the image has no name in the layout (as docker save ID); the
	// tag added later is named.
	if strings.Join(names, ",") != ",docker.io/user/app:v1" {
		t.Fatalf("index names %v", names)
	}
}

// TestSkopeoUmociReadLayout checks a saved OCI layout with the real tools.
func TestSkopeoUmociReadLayout(t *testing.T) {
	skopeo, err1 := exec.LookPath("skopeo")
	umoci, err2 := exec.LookPath("umoci")
	if err1 != nil && err2 != nil {
		t.Skip("skopeo and umoci not installed")
	}
	ctx := context.Background()
	s := newTestStore(t)
	a, _ := twoImages(t)
	a.tags = []string{"busybox:1.36"}
	loadBytes(t, s, ociArchive(t, true, a))
	dir := filepath.Join(t.TempDir(), "layout")
	if err := s.SaveOCIDir(ctx, dir, []string{"busybox:1.36"}); err != nil {
		t.Fatal(err)
	}
	if err1 == nil {
		out, err := exec.Command(skopeo, "inspect", "oci:"+dir+":1.36").CombinedOutput()
		if err != nil {
			t.Fatalf("skopeo inspect: %v\n%s", err, out)
		}
		var info struct {
			Architecture string
			Layers       []string
		}
		if err := json.Unmarshal(out, &info); err != nil || len(info.Layers) != 2 {
			t.Fatalf("skopeo output %s (%v)", out, err)
		}
		out, err = exec.Command(skopeo, "inspect", "--config", "oci:"+dir+":1.36").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "/bin/hello") {
			t.Fatalf("skopeo inspect --config: %v\n%s", err, out)
		}
	}
	if err2 == nil {
		bundle := filepath.Join(t.TempDir(), "bundle")
		out, err := exec.Command(umoci, "unpack", "--rootless", "--image", dir+":1.36", bundle).CombinedOutput()
		if err != nil {
			t.Fatalf("umoci unpack: %v\n%s", err, out)
		}
		if b, err := os.ReadFile(filepath.Join(bundle, "rootfs", "etc", "a")); err != nil || string(b) != "a" {
			t.Fatalf("umoci rootfs: %q %v", b, err)
		}
	}
}

// TestSaveNames: the names an archive carries are docker save's: every
// tag of a repository given alone, the tag given, none for an ID.
func TestSaveNames(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	a, b := twoImages(t)
	loadBytes(t, s, dockerArchive(t, a, b))
	if _, err := s.Tag(ctx, "busybox", "user/app:v0"); err != nil {
		t.Fatal(err)
	}
	id := s.ID(ctx, mustGet(t, s, "busybox"))
	for _, c := range []struct {
		refs []string
		want string
	}{
		{[]string{"user/app"}, `[["user/app:v0"],["user/app:v1"]]`},
		{[]string{"user/app:v1"}, `[["user/app:v1"]]`},
		{[]string{id.Encoded()[:12]}, `[null]`},
		{[]string{id.String(), "localhost:5000/x:y"}, `[["localhost:5000/x:y"]]`},
	} {
		var buf bytes.Buffer
		if err := s.Save(ctx, &buf, c.refs, FormatDocker); err != nil {
			t.Fatalf("save %v: %v", c.refs, err)
		}
		var entries []dockerManifestEntry
		json.Unmarshal(tarFiles(t, buf.Bytes())["manifest.json"], &entries)
		var tags [][]string
		for _, e := range entries {
			tags = append(tags, e.RepoTags)
		}
		if got, _ := json.Marshal(tags); string(got) != c.want {
			t.Errorf("save %v: RepoTags %s, want %s", c.refs, got, c.want)
		}
	}
	if _, err := s.SaveIDs(ctx, []string{"user/none"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("save of a repository without tags: %v", err)
	}
}

func mustGet(t *testing.T, s *Store, name string) Image {
	t.Helper()
	img, err := s.Get(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
