package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/berth-project/berth/internal/archive"
	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/image/reference"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Format is an archive format for Save.
type Format int

const (
	// FormatDocker is `docker save`'s format as Docker 25+ writes it: an
	// OCI layout with uncompressed layers plus manifest.json and
	// repositories, readable by old and new docker load and podman load.
	FormatDocker Format = iota
	// FormatOCI is a plain OCI image layout with the blobs as stored.
	FormatOCI
)

// LabelUncompressed on a compressed layer blob names its uncompressed copy,
// which Save makes once and keeps for later saves.
const LabelUncompressed = content.LabelGCRefContent + "uncompressed"

// layoutSink receives the files of a layout.
type layoutSink interface {
	has(name string) bool
	add(name string, size int64, r io.Reader) error
}

type tarSink struct {
	tw   *tar.Writer
	seen map[string]bool
}

func (t *tarSink) has(name string) bool { return t.seen[name] }

func (t *tarSink) add(name string, size int64, r io.Reader) error {
	t.seen[name] = true
	hdr := &tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
	if err := t.tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := io.CopyN(t.tw, r, size)
	return err
}

func (t *tarSink) dir(name string) error {
	if t.seen[name] {
		return nil
	}
	t.seen[name] = true
	return t.tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Typeflag: tar.TypeDir, ModTime: time.Unix(0, 0), Format: tar.FormatPAX})
}

type dirSink struct{ root string }

func (d dirSink) has(name string) bool {
	_, err := os.Stat(filepath.Join(d.root, name))
	return err == nil
}

func (d dirSink) add(name string, size int64, r io.Reader) error {
	p := filepath.Join(d.root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, r, size); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), p)
}

func blobName(d digest.Digest) string { return "blobs/" + d.Algorithm().String() + "/" + d.Encoded() }

// saveItem is one image to save with the names it is saved under.
type saveItem struct {
	target ocispec.Descriptor
	names  []string // normalised
}

// collect resolves refs, grouping names of the same target, as docker
// save does: a repository alone (busybox) saves each of its tags, a tag
// saves that tag, and an ID or a digest reference saves the image without
// a name (an archive carries tags only, never RepoDigests).
func (s *Store) collect(ctx context.Context, refs []string) ([]*saveItem, error) {
	var items []*saveItem
	byTarget := map[digest.Digest]*saveItem{}
	add := func(img Image, name string) {
		it := byTarget[img.Target.Digest]
		if it == nil {
			it = &saveItem{target: img.Target}
			byTarget[img.Target.Digest] = it
			items = append(items, it)
		}
		if name != "" && !contains(it.names, name) {
			it.names = append(it.names, name)
		}
	}
	for _, ref := range refs {
		tags, err := s.repositoryTags(ctx, ref)
		if err != nil {
			return nil, err
		}
		for _, t := range tags {
			add(t, t.Name)
		}
		if len(tags) > 0 {
			continue
		}
		img, err := s.Resolve(ctx, ref)
		if err != nil {
			return nil, err
		}
		name := ""
		if n, err := normalizeName(ref); err == nil && n == img.Name && img.Tagged() {
			name = n
		}
		add(img, name)
	}
	return items, nil
}

// SaveIDs returns the IDs of the images that Save would write for refs
// (an error if a ref names nothing).
func (s *Store) SaveIDs(ctx context.Context, refs []string) ([]digest.Digest, error) {
	items, err := s.collect(ctx, refs)
	if err != nil {
		return nil, err
	}
	var ids []digest.Digest
	for _, it := range items {
		if id := s.ID(ctx, Image{Target: it.target}); !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// repositoryTags returns the tag records of ref's repository when ref is a
// repository name alone (no tag, no digest), sorted by name.
func (s *Store) repositoryTags(ctx context.Context, ref string) ([]Image, error) {
	named, err := reference.ParseNamed(ref)
	if err != nil || reference.Tag(named) != "" || reference.Digest(named) != "" {
		return nil, nil
	}
	all, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []Image
	for _, r := range all {
		if r.Tagged() && repositoryOf(r.Name) == named.Name() {
			out = append(out, r)
		}
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Save writes the images refs name (names or IDs) to w as a tar archive
// in the given format.
func (s *Store) Save(ctx context.Context, w io.Writer, refs []string, format Format) error {
	tw := tar.NewWriter(w)
	sink := &tarSink{tw: tw, seen: map[string]bool{}}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := sink.dir(d); err != nil {
			return fmt.Errorf("save: %w", err)
		}
	}
	if err := s.save(ctx, sink, refs, format, nil); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}

// SaveOCIDir writes the images as an OCI image layout in dir, adding to
// an existing layout there (entries with the same name are replaced).
func (s *Store) SaveOCIDir(ctx context.Context, dir string, refs []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	var existing []ocispec.Descriptor
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	switch {
	case err == nil:
		var idx ocispec.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			return fmt.Errorf("save: existing index.json: %v: %w", err, ErrInvalidArgument)
		}
		existing = idx.Manifests
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("save: %w", err)
	}
	if err := s.save(ctx, dirSink{root: dir}, refs, FormatOCI, existing); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}

func (s *Store) save(ctx context.Context, sink layoutSink, refs []string, format Format, existing []ocispec.Descriptor) error {
	lease, err := s.cs.Lease(ctx) // keeps uncompressed layer copies from GC meanwhile
	if err != nil {
		return err
	}
	defer lease.Release()
	items, err := s.collect(ctx, refs)
	if err != nil {
		return err
	}
	var index []ocispec.Descriptor
	var dockerEntries []dockerManifestEntry
	repositories := map[string]map[string]string{}
	for _, it := range items {
		var top ocispec.Descriptor
		if format == FormatDocker {
			entry, desc, err := s.saveDockerImage(ctx, sink, it.target)
			if err != nil {
				return err
			}
			top = desc
			for _, n := range it.names {
				named, err := reference.Parse(n)
				if err != nil {
					return err
				}
				entry.RepoTags = append(entry.RepoTags, reference.Familiar(n))
				repo := reference.FamiliarName(named)
				if repositories[repo] == nil {
					repositories[repo] = map[string]string{}
				}
				repositories[repo][reference.Tag(named)] = path.Base(entry.Config)
			}
			dockerEntries = append(dockerEntries, entry)
		} else {
			desc, err := s.saveOCIImage(ctx, sink, it.target)
			if err != nil {
				return err
			}
			top = desc
		}
		if len(it.names) == 0 {
			index = append(index, top)
		}
		for _, n := range it.names {
			d := top
			named, _ := reference.Parse(n)
			d.Annotations = map[string]string{AnnotationImageName: n, AnnotationRefName: reference.Tag(named)}
			index = append(index, d)
		}
	}
	// Merge with an existing layout: later names replace earlier ones.
	var merged []ocispec.Descriptor
	for _, d := range existing {
		replaced := false
		for _, n := range index {
			if n.Annotations[AnnotationRefName] != "" && n.Annotations[AnnotationRefName] == d.Annotations[AnnotationRefName] {
				replaced = true
			}
		}
		if !replaced {
			merged = append(merged, d)
		}
	}
	merged = append(merged, index...)
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: merged}
	idx.SchemaVersion = 2
	if err := addJSON(sink, "index.json", idx); err != nil {
		return err
	}
	if format == FormatDocker {
		if dockerEntries == nil {
			dockerEntries = []dockerManifestEntry{}
		}
		if err := addJSON(sink, "manifest.json", dockerEntries); err != nil {
			return err
		}
	}
	if err := addJSON(sink, "oci-layout", ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion}); err != nil {
		return err
	}
	if format == FormatDocker && len(repositories) > 0 {
		// Docker writes the legacy file only when it has a tag to name.
		return addJSON(sink, "repositories", repositories)
	}
	return nil
}

func addJSON(sink layoutSink, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	return sink.add(name, int64(len(b)), bytes.NewReader(b))
}

func (s *Store) addBlob(ctx context.Context, sink layoutSink, d ocispec.Descriptor) error {
	name := blobName(d.Digest)
	if sink.has(name) {
		return nil
	}
	ra, err := s.cs.ReaderAt(ctx, d.Digest)
	if err != nil {
		return err
	}
	defer ra.Close()
	return sink.add(name, ra.Size(), io.NewSectionReader(ra, 0, ra.Size()))
}

func (s *Store) addBytes(sink layoutSink, b []byte) (digest.Digest, error) {
	d := digest.FromBytes(b)
	name := blobName(d)
	if sink.has(name) {
		return d, nil
	}
	return d, sink.add(name, int64(len(b)), bytes.NewReader(b))
}

// saveOCIImage writes the target's whole closure; if some blobs of an
// index are absent (a partial multi-platform pull), it writes just this
// host's manifest instead.
func (s *Store) saveOCIImage(ctx context.Context, sink layoutSink, target ocispec.Descriptor) (ocispec.Descriptor, error) {
	all, missing, err := Closure(ctx, s.cs, target)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if missing {
		r, err := Resolve(ctx, s.cs, target, s.platform)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		target = r.Descriptor
		all, missing, err = Closure(ctx, s.cs, target)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		if missing {
			return ocispec.Descriptor{}, fmt.Errorf("image %s is incomplete: %w", target.Digest, ErrNotFound)
		}
	}
	// Children first, so that a streaming reader sees blobs before the
	// manifests naming them.
	for i := len(all) - 1; i >= 0; i-- {
		if err := s.addBlob(ctx, sink, all[i]); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	if target.MediaType == "" {
		target.MediaType, _ = mediaTypeOf(ctx, s.cs, target)
	}
	return target, nil
}

// saveDockerImage writes this host's manifest of target with uncompressed
// layers (as docker load requires: layer digest = diff ID).
func (s *Store) saveDockerImage(ctx context.Context, sink layoutSink, target ocispec.Descriptor) (dockerManifestEntry, ocispec.Descriptor, error) {
	r, err := Resolve(ctx, s.cs, target, s.platform)
	if err != nil {
		return dockerManifestEntry{}, ocispec.Descriptor{}, err
	}
	if len(r.Config.RootFS.DiffIDs) != len(r.Manifest.Layers) {
		return dockerManifestEntry{}, ocispec.Descriptor{}, fmt.Errorf("image %s: %d layers, %d diff IDs: %w", r.ID(), len(r.Manifest.Layers), len(r.Config.RootFS.DiffIDs), ErrInvalidArgument)
	}
	man := r.Manifest
	man.Layers = nil
	changed := false
	entry := dockerManifestEntry{Config: blobName(r.ID())}
	for i, l := range r.Manifest.Layers {
		ul := l
		if IsCompressedLayer(l.MediaType) {
			ul, err = s.uncompressed(ctx, l, r.Config.RootFS.DiffIDs[i])
			if err != nil {
				return entry, ocispec.Descriptor{}, err
			}
			changed = true
		}
		if err := s.addBlob(ctx, sink, ul); err != nil {
			return entry, ocispec.Descriptor{}, err
		}
		man.Layers = append(man.Layers, ul)
		entry.Layers = append(entry.Layers, blobName(ul.Digest))
	}
	if err := s.addBlob(ctx, sink, r.Manifest.Config); err != nil {
		return entry, ocispec.Descriptor{}, err
	}
	desc := r.Descriptor
	if !changed {
		if err := s.addBlob(ctx, sink, desc); err != nil {
			return entry, ocispec.Descriptor{}, err
		}
		return entry, desc, nil
	}
	// The layers changed, so this is a new manifest; write it as OCI.
	man.MediaType = ocispec.MediaTypeImageManifest
	man.Config.MediaType = ocispec.MediaTypeImageConfig
	b, err := json.Marshal(man)
	if err != nil {
		return entry, ocispec.Descriptor{}, fmt.Errorf("encode manifest: %w", err)
	}
	d, err := s.addBytes(sink, b)
	if err != nil {
		return entry, ocispec.Descriptor{}, err
	}
	return entry, ocispec.Descriptor{MediaType: man.MediaType, Digest: d, Size: int64(len(b))}, nil
}

// uncompressed returns the uncompressed copy of a compressed layer,
// making it (verified against diffID) if needed.
func (s *Store) uncompressed(ctx context.Context, layer ocispec.Descriptor, diffID digest.Digest) (ocispec.Descriptor, error) {
	mt := ocispec.MediaTypeImageLayer
	if info, err := s.cs.Info(ctx, diffID); err == nil {
		return ocispec.Descriptor{MediaType: mt, Digest: diffID, Size: info.Size}, nil
	}
	rc, err := s.cs.Open(ctx, layer.Digest)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer rc.Close()
	dec, err := archive.Decompress(rc)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("decompress %s: %w", layer.Digest, err)
	}
	defer dec.Close()
	_, size, err := s.cs.WriteBlob(ctx, "uncompress-"+diffID.String()+"-"+content.RandomID(), dec, diffID, 0, nil)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("uncompress layer %s: %w", layer.Digest, err)
	}
	if _, err := s.cs.UpdateLabels(ctx, layer.Digest, map[string]string{LabelUncompressed: diffID.String()}); err != nil {
		return ocispec.Descriptor{}, err
	}
	return ocispec.Descriptor{MediaType: mt, Digest: diffID, Size: size}, nil
}
