// Package testimage writes image archives in `docker save`'s format from
// generated layers, for tests and benchmarks: a busybox base layer from
// the host's busybox-static and layers of random (incompressible) files,
// so that every engine loads the same bytes and no registry is needed.
package testimage

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/archive"
	"github.com/berth-project/berth/internal/testbundle"
)

// Layer is one layer: a busybox root filesystem, or Files random files
// of FileSize bytes each under Dir.
type Layer struct {
	Busybox  bool
	Dir      string // directory of the generated files, e.g. "data/1"
	Files    int
	FileSize int64
}

// Image is one image of an archive.
type Image struct {
	Name   string // e.g. "bench/big:latest"; "" for an untagged image
	Layers []Layer
	Cmd    []string
	Seed   uint64 // seeds the random file contents
}

// epoch is the time written into layers and configs, so that an archive
// is the same every time.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// WriteArchive writes the images to path as one `docker save` archive
// (Docker 25's layout: blobs/sha256/<hex>, manifest.json, index.json,
// oci-layout), which docker, podman and berth all load. Layers are
// uncompressed tars, as docker save writes them. scratch holds the layer
// files while they are made.
func WriteArchive(path, scratch string, images ...Image) error {
	tmp, err := os.MkdirTemp(scratch, "testimage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	defer out.Close()
	tw := tar.NewWriter(out)
	written := map[digest.Digest]bool{}
	type entry struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	var manifest []entry
	var index ocispec.Index
	index.SchemaVersion = 2
	index.MediaType = ocispec.MediaTypeImageIndex
	for _, img := range images {
		var layers []ocispec.Descriptor
		var diffIDs []digest.Digest
		for i, l := range img.Layers {
			file := filepath.Join(tmp, fmt.Sprintf("layer-%d", len(written)+i))
			d, size, err := writeLayer(file, l, img.Seed+uint64(i)*7919)
			if err != nil {
				return fmt.Errorf("layer %d of %s: %w", i, img.Name, err)
			}
			if !written[d] {
				if err := addFile(tw, blobPath(d), file, size); err != nil {
					return err
				}
				written[d] = true
			}
			os.Remove(file)
			layers = append(layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: d, Size: size})
			diffIDs = append(diffIDs, d)
		}
		created := epoch
		cfg := ocispec.Image{
			Created:  &created,
			Platform: ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH},
			Config:   ocispec.ImageConfig{Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, Cmd: img.Cmd},
			RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
		}
		for range layers {
			cfg.History = append(cfg.History, ocispec.History{Created: &created, CreatedBy: "testimage layer"})
		}
		cfgDesc, err := addJSON(tw, written, ocispec.MediaTypeImageConfig, cfg)
		if err != nil {
			return err
		}
		man := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfgDesc, Layers: layers}
		man.SchemaVersion = 2
		manDesc, err := addJSON(tw, written, ocispec.MediaTypeImageManifest, man)
		if err != nil {
			return err
		}
		e := entry{Config: blobPath(cfgDesc.Digest)}
		for _, l := range layers {
			e.Layers = append(e.Layers, blobPath(l.Digest))
		}
		if img.Name != "" {
			e.RepoTags = []string{img.Name}
			manDesc.Annotations = map[string]string{"io.containerd.image.name": img.Name}
		}
		manifest = append(manifest, e)
		index.Manifests = append(index.Manifests, manDesc)
	}
	for _, f := range []struct {
		name string
		v    any
	}{{"manifest.json", manifest}, {"index.json", index}, {"oci-layout", ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion}}} {
		b, err := json.Marshal(f.v)
		if err != nil {
			return err
		}
		if err := addBytes(tw, f.name, b); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return out.Close()
}

func blobPath(d digest.Digest) string { return "blobs/sha256/" + d.Encoded() }

func addBytes(tw *tar.Writer, name string, b []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err := tw.Write(b)
	return err
}

func addJSON(tw *tar.Writer, written map[digest.Digest]bool, mediaType string, v any) (ocispec.Descriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	d := digest.FromBytes(b)
	if !written[d] {
		if err := addBytes(tw, blobPath(d), b); err != nil {
			return ocispec.Descriptor{}, err
		}
		written[d] = true
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}, nil
}

func addFile(tw *tar.Writer, name, file string, size int64) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err = io.CopyN(tw, f, size)
	return err
}

// writeLayer writes the layer tar to file and returns its digest (its
// diff ID: it is uncompressed) and size.
func writeLayer(file string, l Layer, seed uint64) (digest.Digest, int64, error) {
	f, err := os.Create(file)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	if l.Busybox {
		dir, err := os.MkdirTemp(filepath.Dir(file), "rootfs-")
		if err != nil {
			return "", 0, err
		}
		defer os.RemoveAll(dir)
		if err := testbundle.Rootfs(dir); err != nil {
			return "", 0, err
		}
		if err := archive.Tar(context.Background(), dir, cw); err != nil {
			return "", 0, err
		}
	} else if err := randomFiles(cw, l, seed); err != nil {
		return "", 0, err
	}
	if err := f.Close(); err != nil {
		return "", 0, err
	}
	return digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil))), cw.n, nil
}

func randomFiles(w io.Writer, l Layer, seed uint64) error {
	tw := tar.NewWriter(w)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	dirs := []string{}
	for p := l.Dir; p != "." && p != "/" && p != ""; p = filepath.Dir(p) {
		dirs = append([]string{p}, dirs...)
	}
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Mode: 0o755, ModTime: epoch, Typeflag: tar.TypeDir}); err != nil {
			return err
		}
	}
	buf := make([]byte, 1<<20)
	for i := 0; i < l.Files; i++ {
		name := filepath.Join(l.Dir, fmt.Sprintf("file-%04d", i))
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: l.FileSize, ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		for left := l.FileSize; left > 0; {
			n := min(left, int64(len(buf)))
			for j := 0; j < int(n); j += 8 {
				v := rng.Uint64()
				for k := 0; k < 8 && j+k < int(n); k++ {
					buf[j+k] = byte(v >> (8 * k))
				}
			}
			if _, err := tw.Write(buf[:n]); err != nil {
				return err
			}
			left -= n
		}
	}
	return tw.Close()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
