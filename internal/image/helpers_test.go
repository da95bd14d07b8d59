package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/image/platform"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func newTestStore(t testing.TB) *Store {
	t.Helper()
	root := t.TempDir()
	cs, err := content.New(root + "/content")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewStore(root, cs)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// makeLayer builds an uncompressed layer tar; a name ending in / is a dir.
func makeLayer(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range sortedNames(files) {
		hdr := &tar.Header{Name: name, Mode: 0o644, ModTime: time.Unix(1700000000, 0), Typeflag: tar.TypeReg, Size: int64(len(files[name]))}
		if name[len(name)-1] == '/' {
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			tw.Write([]byte(files[name]))
		}
	}
	tw.Close()
	return buf.Bytes()
}

func sortedNames(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func gzipBytes(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// testImage is an image to put into a test archive.
type testImage struct {
	tags   []string
	layers [][]byte // uncompressed tars
	arch   string
	cmd    []string
}

func (ti testImage) config(t testing.TB) []byte {
	arch := ti.arch
	if arch == "" {
		arch = platform.Host().Architecture
	}
	var cfg Config
	cfg.OS, cfg.Architecture = "linux", arch
	created := time.Unix(1700000000, 0).UTC()
	cfg.Created = &created
	cfg.Config.Cmd = ti.cmd
	cfg.Config.Env = []string{"PATH=/bin"}
	cfg.RootFS.Type = "layers"
	for i, l := range ti.layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, digest.FromBytes(l))
		cfg.History = append(cfg.History, ocispec.History{Created: &created, CreatedBy: fmt.Sprintf("layer %d", i)})
	}
	cfg.History = append(cfg.History, ocispec.History{Created: &created, CreatedBy: "CMD", EmptyLayer: true})
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type tarBuilder struct {
	t  testing.TB
	tw *tar.Writer
}

func (b tarBuilder) file(name string, data []byte) {
	if err := b.tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		b.t.Fatal(err)
	}
	b.tw.Write(data)
}

func (b tarBuilder) json(name string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		b.t.Fatal(err)
	}
	b.file(name, data)
}

// dockerArchive writes the classic `docker save` layout:
// <id>/layer.tar, <id>/json, <id>/VERSION, <config>.json, manifest.json,
// repositories. Shared layers are symlinks, as Docker writes them.
func dockerArchive(t testing.TB, images ...testImage) []byte {
	var buf bytes.Buffer
	tb := tarBuilder{t, tar.NewWriter(&buf)}
	var manifest []dockerManifestEntry
	repos := map[string]map[string]string{}
	written := map[digest.Digest]string{}
	for _, ti := range images {
		cfg := ti.config(t)
		cfgName := digest.FromBytes(cfg).Encoded() + ".json"
		tb.file(cfgName, cfg)
		e := dockerManifestEntry{Config: cfgName, RepoTags: ti.tags}
		for i, l := range ti.layers {
			d := digest.FromBytes(l)
			id := digest.FromString(fmt.Sprint(cfgName, i)).Encoded()
			tb.file(id+"/VERSION", []byte("1.0"))
			tb.file(id+"/json", []byte(`{"id":"`+id+`"}`))
			if prev, ok := written[d]; ok {
				tb.tw.WriteHeader(&tar.Header{Name: id + "/layer.tar", Typeflag: tar.TypeSymlink, Linkname: "../" + prev + "/layer.tar"})
			} else {
				tb.file(id+"/layer.tar", l)
				written[d] = id
			}
			e.Layers = append(e.Layers, id+"/layer.tar")
		}
		manifest = append(manifest, e)
		for _, tag := range ti.tags {
			repo, tg, _ := cut(tag)
			if repos[repo] == nil {
				repos[repo] = map[string]string{}
			}
			repos[repo][tg] = digest.FromBytes(cfg).Encoded()
		}
	}
	tb.json("manifest.json", manifest)
	tb.json("repositories", repos)
	tb.tw.Close()
	return buf.Bytes()
}

func cut(tag string) (string, string, bool) {
	for i := len(tag) - 1; i >= 0; i-- {
		if tag[i] == ':' {
			return tag[:i], tag[i+1:], true
		}
		if tag[i] == '/' {
			break
		}
	}
	return tag, "latest", false
}

// ociArchive writes an OCI layout tar with gzip layers; each image gets a
// manifest, wrapped in an index with a foreign-platform entry whose blobs
// are absent when multiArch is set.
func ociArchive(t testing.TB, multiArch bool, images ...testImage) []byte {
	var buf bytes.Buffer
	tb := tarBuilder{t, tar.NewWriter(&buf)}
	tb.json("oci-layout", ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	var index ocispec.Index
	index.SchemaVersion = 2
	index.MediaType = ocispec.MediaTypeImageIndex
	blob := func(b []byte) digest.Digest {
		d := digest.FromBytes(b)
		tb.file("blobs/sha256/"+d.Encoded(), b)
		return d
	}
	for _, ti := range images {
		cfg := ti.config(t)
		man := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest,
			Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: blob(cfg), Size: int64(len(cfg))}}
		man.SchemaVersion = 2
		for _, l := range ti.layers {
			gz := gzipBytes(t, l)
			man.Layers = append(man.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: blob(gz), Size: int64(len(gz))})
		}
		mb, _ := json.Marshal(man)
		host := platform.Host()
		desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: blob(mb), Size: int64(len(mb)), Platform: &host}
		if multiArch {
			other := ocispec.Platform{OS: "linux", Architecture: "s390x"}
			sub := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{
				{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("absent s390x manifest"), Size: 10, Platform: &other},
				desc,
			}}
			sub.SchemaVersion = 2
			ib, _ := json.Marshal(sub)
			desc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: blob(ib), Size: int64(len(ib))}
		} else {
			desc.Platform = nil
		}
		for _, tag := range ti.tags {
			d := desc
			_, tg, _ := cut(tag)
			d.Annotations = map[string]string{AnnotationImageName: tag, AnnotationRefName: tg}
			index.Manifests = append(index.Manifests, d)
		}
		if len(ti.tags) == 0 {
			index.Manifests = append(index.Manifests, desc)
		}
	}
	tb.json("index.json", index)
	tb.tw.Close()
	return buf.Bytes()
}

func loadBytes(t testing.TB, s *Store, b []byte) []LoadedImage {
	t.Helper()
	loaded, err := s.Load(context.Background(), bytes.NewReader(b))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return loaded
}

func writeTemp(t testing.TB, b []byte) string {
	f, err := os.CreateTemp(t.TempDir(), "archive-*.tar")
	if err != nil {
		t.Fatal(err)
	}
	f.Write(b)
	f.Close()
	return f.Name()
}
