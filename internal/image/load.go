package image

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/archive"
	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/durable"
	"github.com/berth-project/berth/internal/image/reference"
)

// Annotations naming images in an OCI layout.
const (
	AnnotationImageName = "io.containerd.image.name" // full reference (Docker, containerd)
	AnnotationRefName   = ocispec.AnnotationRefName  // usually just the tag
)

// LoadedImage is one image a Load stored.
type LoadedImage struct {
	Name   string             // normalised reference; "" when untagged
	ID     digest.Digest      // image ID (config digest)
	Target ocispec.Descriptor // manifest or index the record points at
}

// dockerManifestEntry is one entry of a Docker archive's manifest.json.
type dockerManifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// archiveFile is a regular file of the archive, spooled into the store.
type archiveFile struct {
	digest      digest.Digest
	size        int64
	compression archive.Compression
}

// metadataFiles are kept in memory instead of the content store.
var metadataFiles = map[string]bool{"manifest.json": true, "index.json": true, "oci-layout": true, "repositories": true}

const maxMetadataSize = 32 << 20

type loader struct {
	s     *Store
	files map[string]archiveFile
	links map[string]string
	meta  map[string][]byte
	early *earlyUnpacker // nil: layers are unpacked after the archive
}

// Load reads a Docker archive (`docker save`, old <id>/layer.tar layout or
// the OCI layout with manifest.json that Docker 25+ writes) or an OCI
// image layout archive, with any number of images, in one pass: every
// file is streamed into the content store and verified (blobs/<alg>/<hex>
// against its name). Records are written only at the end, under a content
// lease, so a load that fails or is killed leaves no image behind, only
// unreferenced blobs for GC, and a retry starts afresh. The archive may be
// gzip or zstd compressed, as docker load accepts.
func (s *Store) Load(ctx context.Context, r io.Reader, opts ...LoadOption) ([]LoadedImage, error) {
	var o loadOptions
	for _, opt := range opts {
		opt(&o)
	}
	lease, err := s.cs.Lease(ctx)
	if err != nil {
		return nil, err
	}
	defer lease.Release()
	// Blobs and layers are written unsynced and flushed once, before the
	// records are written (see content.Batch and snapshot.Batch).
	d, ctx, err := durable.Begin(ctx, s.cs, o.sn)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer d.Flush() // what a failed load wrote, so that its batches end
	l := &loader{s: s, files: map[string]archiveFile{}, links: map[string]string{}, meta: map[string][]byte{}}
	l.early = newEarlyUnpacker(ctx, s.cs, o.sn)
	defer l.early.close()
	dec, err := archive.Decompress(r)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer dec.Close()
	if err := l.readArchive(ctx, dec); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	var loaded []LoadedImage
	switch {
	case l.meta["index.json"] != nil:
		loaded, err = l.ociImages(ctx)
	case l.meta["manifest.json"] != nil:
		loaded, err = l.dockerImages(ctx)
	default:
		err = fmt.Errorf("neither manifest.json nor index.json in archive: %w", ErrInvalidArgument)
	}
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if o.sn != nil {
		if err := s.unpackLoaded(ctx, o.sn, loaded, l.early); err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
	}
	if err := d.Flush(); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	return s.storeLoaded(ctx, loaded, time.Time{})
}

func cleanArchivePath(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}

func (l *loader) readArchive(ctx context.Context, r io.Reader) (err error) {
	cr := &countingReader{r: r}
	tr := tar.NewReader(cr)
	br := bufio.NewReaderSize(nil, 1<<16)
	copyBuf := make([]byte, 1<<20)
	seq := 0
	cm := newCommitter(ctx, l)
	defer func() {
		if werr := cm.wait(); err == nil {
			err = werr
		}
	}()
	var dataEnd int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			// archive/tar also reports EOF for a stream cut at a header
			// boundary; only the two zero blocks mark a complete archive.
			if cr.n-dataEnd < 2*512 {
				return fmt.Errorf("read archive: truncated, no end-of-archive marker: %w", io.ErrUnexpectedEOF)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		dataEnd = cr.n + (hdr.Size+511)/512*512
		name := cleanArchivePath(hdr.Name)
		switch hdr.Typeflag {
		case tar.TypeSymlink:
			target := hdr.Linkname
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(name), target)
			}
			l.links[name] = cleanArchivePath(target)
			continue
		case tar.TypeLink:
			l.links[name] = cleanArchivePath(hdr.Linkname)
			continue
		case tar.TypeReg, tar.TypeRegA:
		default:
			continue
		}
		if isSparse(hdr) {
			// A few bytes of sparse map can stand for terabytes of holes.
			return fmt.Errorf("%s: sparse files are not allowed in image archives: %w", name, ErrInvalidArgument)
		}
		if metadataFiles[name] {
			if hdr.Size > maxMetadataSize {
				return fmt.Errorf("%s is too large: %w", name, ErrInvalidArgument)
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				return fmt.Errorf("read %s: %w", name, err)
			}
			l.meta[name] = b
			continue
		}
		if base := path.Base(name); base == "VERSION" || (base == "json" && strings.Count(name, "/") == 1) {
			continue // legacy v1 metadata, not needed
		}
		var expected digest.Digest
		if dir, enc := path.Split(name); strings.HasPrefix(dir, "blobs/") {
			expected = digest.NewDigestFromEncoded(digest.Algorithm(strings.TrimSuffix(strings.TrimPrefix(dir, "blobs/"), "/")), enc)
			if expected.Validate() != nil {
				expected = ""
			}
		}
		br.Reset(tr)
		head, _ := br.Peek(4)
		f := archiveFile{size: hdr.Size, compression: archive.DetectCompression(head)}
		if expected != "" && l.s.cs.Exists(expected) {
			f.digest = expected
			cm.record(name, f)
			continue // already stored; tar skips the data
		}
		seq++
		w, err := l.s.cs.Writer(ctx, fmt.Sprintf("load-%s-%d", content.RandomID(), seq), expected, hdr.Size)
		if errors.Is(err, content.ErrAlreadyExists) {
			f.digest = expected
			cm.record(name, f)
			continue
		}
		if err != nil {
			return fmt.Errorf("store %s: %w", name, err)
		}
		if _, err := io.CopyBuffer(w, br, copyBuf); err != nil {
			w.Close()
			l.s.cs.Abort(ctx, w.Ref())
			return fmt.Errorf("store %s: %w", name, err)
		}
		if err := cm.commit(name, f, w); err != nil {
			return err
		}
	}
}

// file resolves links and returns the stored file at p.
func (l *loader) file(p string) (archiveFile, error) {
	p = cleanArchivePath(p)
	for range 16 {
		if f, ok := l.files[p]; ok {
			return f, nil
		}
		t, ok := l.links[p]
		if !ok {
			break
		}
		p = t
	}
	return archiveFile{}, fmt.Errorf("%s missing from archive: %w", p, ErrInvalidArgument)
}

// storeLoaded writes the records of a load, import or commit and fills in
// normalised names; tagTime is the tag time of the names (zero for a
// load, as in Docker).
func (s *Store) storeLoaded(ctx context.Context, loaded []LoadedImage, tagTime time.Time) ([]LoadedImage, error) {
	for i, li := range loaded {
		name := DanglingPrefix + li.Target.Digest.String()
		if li.Name != "" {
			n, err := reference.Parse(li.Name)
			if err != nil {
				return nil, fmt.Errorf("load: image name: %w", err)
			}
			name = n.String()
			loaded[i].Name = name
		} else if others, err := s.targetNamed(ctx, li.Target.Digest); err == nil && others {
			continue // an untagged image that is tagged already needs no dangling record
		}
		img := Image{Name: name, Target: li.Target}
		if li.Name != "" {
			img.TagTime = tagTime
		}
		if _, err := s.Put(ctx, img); err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
	}
	return loaded, nil
}

func (s *Store) targetNamed(ctx context.Context, d digest.Digest) (bool, error) {
	all, err := s.List(ctx)
	if err != nil {
		return false, err
	}
	return referenced(all, d), nil
}

// countingReader counts the bytes archive/tar consumed (it reads whole
// blocks and does not seek when the reader cannot).
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func isSparse(hdr *tar.Header) bool {
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}
