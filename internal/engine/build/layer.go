package build

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/archive"
	"github.com/berth-project/berth/internal/build"
	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/mount"
	"github.com/berth-project/berth/internal/snapshot"
)

// entry is one or more tar entries of a layer being synthesized: a header
// with a way to read the data, or a writer of several entries (an archive
// that ADD extracts).
type entry struct {
	hdr   tar.Header
	open  func() (io.ReadCloser, error)
	write func(tw *tar.Writer) error
}

// chainOf returns the chain ID of the top of layers ("" for none).
func chainOf(layers []build.Layer) digest.Digest {
	if len(layers) == 0 {
		return ""
	}
	return layers[len(layers)-1].Chain
}

// nextChain is the chain ID of diffID on top of parent (image-spec's
// identity.ChainID).
func nextChain(parent, diffID digest.Digest) digest.Digest {
	if parent == "" {
		return diffID
	}
	return digest.FromString(parent.String() + " " + diffID.String())
}

// writeLayer makes a layer of entries on top of the snapshot parent: the
// tar is applied into a new active snapshot and stored as a blob in one
// pass, then the snapshot is committed under its chain ID.
func (s *session) writeLayer(ctx context.Context, parent digest.Digest, entries []entry) (*build.Layer, error) {
	key := "build-" + content.RandomID()
	if _, err := s.sn.Prepare(ctx, key, parent.String(), nil); err != nil {
		return nil, fmt.Errorf("prepare layer: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = s.sn.Remove(context.WithoutCancel(ctx), key)
		}
	}()
	dir, overlay, err := s.sn.UpperDir(ctx, key)
	if err != nil {
		return nil, err
	}
	var parents []string
	if overlay {
		if parents, err = snapshot.LowerDirs(ctx, s.sn, key); err != nil {
			return nil, err
		}
	}
	pr := tarEntries(entries)
	layer, err := s.storeAndApply(ctx, pr, func(r io.Reader) error {
		_, _, err := archive.Apply(ctx, dir, r, archive.ApplyOptions{Overlay: overlay, Parents: parents, NoDigest: true})
		return err
	})
	pr.CloseWithError(errors.New("layer write ended"))
	if err != nil {
		return nil, err
	}
	if err := s.commitSnapshot(ctx, key, parent, layer); err != nil {
		return nil, err
	}
	committed = true
	return layer, nil
}

// tarEntries streams entries as a tar; a failure reaches the reader.
func tarEntries(entries []entry) *io.PipeReader {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := writeEntries(tw, entries)
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

func writeEntries(tw *tar.Writer, entries []entry) error {
	buf := make([]byte, 256<<10)
	for i := range entries {
		e := &entries[i]
		if e.write != nil {
			if err := e.write(tw); err != nil {
				return err
			}
			continue
		}
		if err := tw.WriteHeader(&e.hdr); err != nil {
			return fmt.Errorf("layer entry %s: %w", e.hdr.Name, err)
		}
		if e.open == nil || e.hdr.Typeflag != tar.TypeReg {
			continue
		}
		r, err := e.open()
		if err != nil {
			return err
		}
		n, err := io.CopyBuffer(tw, r, buf)
		r.Close()
		if err != nil {
			return fmt.Errorf("layer entry %s: %w", e.hdr.Name, err)
		}
		if n != e.hdr.Size {
			return fmt.Errorf("layer entry %s: file changed size while copied", e.hdr.Name)
		}
	}
	return nil
}

// storeAndApply streams a layer tar into the content store while apply
// (if any) consumes the same bytes; the stream is hashed once, by the
// store, and its digest is the layer's diff ID.
func (s *session) storeAndApply(ctx context.Context, r io.Reader, apply func(io.Reader) error) (*build.Layer, error) {
	w, err := s.blobWriter(ctx)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	if apply != nil {
		if err := apply(io.TeeReader(r, w)); err != nil {
			return nil, err
		}
	}
	// Apply stops at the end-of-archive marker: store the rest too.
	if _, err := io.Copy(w, r); err != nil {
		return nil, err
	}
	size := w.Offset()
	blob, err := s.commitBlob(ctx, w)
	if err != nil {
		return nil, err
	}
	return &build.Layer{DiffID: blob, Blob: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: blob, Size: size}}, nil
}

// commitSnapshot commits the active snapshot key as the chain of layer on
// top of parent; a snapshot of that chain made meanwhile by someone else
// is as good as ours.
func (s *session) commitSnapshot(ctx context.Context, key string, parent digest.Digest, layer *build.Layer) error {
	layer.Chain = nextChain(parent, layer.DiffID)
	err := s.sn.Commit(ctx, layer.Chain.String(), key, map[string]string{image.LabelSnapshotDiffID: layer.DiffID.String()})
	if errors.Is(err, snapshot.ErrAlreadyExists) {
		return s.sn.Remove(ctx, key)
	}
	if err != nil {
		return fmt.Errorf("commit layer: %w", err)
	}
	return nil
}

// view mounts a read-only view of the snapshot chain (an empty directory
// for none) and returns its path and how to release it.
func (s *session) view(ctx context.Context, chain digest.Digest) (string, func(), error) {
	dir, err := os.MkdirTemp(s.work, "view-")
	if err != nil {
		return "", nil, err
	}
	if chain == "" {
		return dir, func() { os.Remove(dir) }, nil
	}
	key := "build-view-" + content.RandomID()
	mounts, err := s.sn.View(ctx, key, chain.String(), nil)
	if err != nil {
		os.Remove(dir)
		return "", nil, fmt.Errorf("view of %s: %w", chain, err)
	}
	if err := mount.All(mounts, dir); err != nil {
		_ = s.sn.Remove(ctx, key)
		os.Remove(dir)
		return "", nil, fmt.Errorf("mount view of %s: %w", chain, err)
	}
	return dir, func() {
		_ = mount.UnmountAll(dir)
		_ = s.sn.Remove(context.WithoutCancel(ctx), key)
		os.Remove(dir)
	}, nil
}

// relIn returns p relative to root ("" for root itself); p must be root or below it.
func relIn(root, p string) string {
	r := strings.TrimPrefix(strings.TrimPrefix(p, root), string(filepath.Separator))
	return filepath.ToSlash(r)
}
