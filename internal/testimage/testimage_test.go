package testimage

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteArchive(t *testing.T) {
	dir := t.TempDir()
	img := Image{Name: "test/gen:v1", Cmd: []string{"true"}, Seed: 7, Layers: []Layer{
		{Dir: "a", Files: 3, FileSize: 10000}, {Dir: "b/c", Files: 1, FileSize: 3 << 20},
	}}
	p1, p2 := filepath.Join(dir, "1.tar"), filepath.Join(dir, "2.tar")
	for _, p := range []string{p1, p2} {
		if err := WriteArchive(p, dir, img); err != nil {
			t.Fatal(err)
		}
	}
	b1, _ := os.ReadFile(p1)
	b2, _ := os.ReadFile(p2)
	if !bytes.Equal(b1, b2) {
		t.Fatal("two archives of the same images differ")
	}
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b1))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[hdr.Name] = b
	}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("manifest.json: %v %s", err, files["manifest.json"])
	}
	if len(manifest[0].Layers) != 2 || manifest[0].RepoTags[0] != "test/gen:v1" {
		t.Fatalf("manifest: %+v", manifest[0])
	}
	for _, l := range append(manifest[0].Layers, manifest[0].Config) {
		sum := sha256.Sum256(files[l])
		if !strings.HasSuffix(l, hex.EncodeToString(sum[:])) {
			t.Errorf("%s does not have the digest it is named by", l)
		}
	}
	if n := len(files[manifest[0].Layers[1]]); n < 3<<20 {
		t.Errorf("second layer is %d bytes, want at least 3 MiB", n)
	}
}
