package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/berth-project/berth/internal/archive"
	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/snapshot"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
)

// LoadOption tunes Load.
type LoadOption func(*loadOptions)

type loadOptions struct {
	sn snapshot.Snapshotter
}

// WithUnpack makes Load unpack the loaded images into sn as well. On an
// overlay snapshotter every layer is extracted while it streams in, in
// parallel with storing its blob, so a load followed by a run reads the
// archive once; elsewhere the images are unpacked after the load.
func WithUnpack(sn snapshot.Snapshotter) LoadOption {
	return func(o *loadOptions) { o.sn = sn }
}

// scratchLayer is a layer extracted during the load into a parentless
// snapshot, waiting to be moved under its parent chain.
type scratchLayer struct {
	key    string
	dir    string
	diffID digest.Digest
	err    error
	used   bool
}

// streamUnpacker extracts layer-looking archive files as they stream by.
type streamUnpacker struct {
	sn       snapshot.Snapshotter
	disabled bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	byName   map[string]*scratchLayer
}

func newStreamUnpacker(sn snapshot.Snapshotter) *streamUnpacker {
	return &streamUnpacker{sn: sn, byName: map[string]*scratchLayer{}}
}

// looksLikeLayer: compressed data or a tar header (ustar magic).
func looksLikeLayer(head []byte) bool {
	if archive.DetectCompression(head) != archive.Uncompressed {
		return true
	}
	return len(head) >= 262 && string(head[257:262]) == "ustar"
}

// start begins extracting the file name and returns the writer to copy its
// data into, or nil when it is not extracted.
func (u *streamUnpacker) start(ctx context.Context, name string, head []byte) io.WriteCloser {
	if u == nil || u.disabled || !looksLikeLayer(head) {
		return nil
	}
	key := "extract-" + content.RandomID() + "-stream"
	if _, err := u.sn.Prepare(ctx, key, "", nil); err != nil {
		u.disabled = true
		return nil
	}
	dir, overlay, err := u.sn.UpperDir(ctx, key)
	if err != nil || !overlay {
		u.sn.Remove(context.WithoutCancel(ctx), key)
		u.disabled = true
		return nil
	}
	sc := &scratchLayer{key: key, dir: dir}
	u.mu.Lock()
	u.byName[name] = sc
	u.mu.Unlock()
	pr, pw := io.Pipe()
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		defer pr.Close()
		dec, err := archive.Decompress(pr)
		if err == nil {
			_, sc.diffID, err = archive.Apply(ctx, dir, dec, archive.ApplyOptions{Overlay: true})
			dec.Close()
		}
		sc.err = err
		io.Copy(io.Discard, pr) // never block the loader
	}()
	return &teeTarget{w: pw}
}

// teeTarget swallows write errors: extraction is best effort, the blob
// write must not fail because of it.
type teeTarget struct {
	w      *io.PipeWriter
	failed bool
}

func (t *teeTarget) Write(p []byte) (int, error) {
	if !t.failed {
		if _, err := t.w.Write(p); err != nil {
			t.failed = true
		}
	}
	return len(p), nil
}

func (t *teeTarget) Close() error { return t.w.Close() }

// abort stops extracting name (its data will not come).
func (u *streamUnpacker) abort(tw io.WriteCloser) {
	if tw != nil {
		tw.(*teeTarget).w.CloseWithError(errors.New("load aborted"))
	}
}

// finish commits the loaded images' layers: from the scratch extractions
// where they match the config's diff IDs, by a normal unpack otherwise.
func (u *streamUnpacker) finish(ctx context.Context, l *loader, loaded []LoadedImage) error {
	u.wg.Wait()
	done := map[digest.Digest]bool{}
	for _, li := range loaded {
		if done[li.Target.Digest] {
			continue
		}
		done[li.Target.Digest] = true
		r, err := Resolve(ctx, l.s.cs, li.Target, l.s.platform)
		if errors.Is(err, ErrNotFound) {
			continue // not for this platform
		}
		if err != nil {
			return err
		}
		if err := u.unpack(ctx, l.s.cs, r); err != nil {
			return fmt.Errorf("unpack %s: %w", r.ID(), err)
		}
	}
	return nil
}

func (u *streamUnpacker) unpack(ctx context.Context, cs *content.Store, r Resolved) error {
	diffIDs := r.Config.RootFS.DiffIDs
	if len(diffIDs) != len(r.Manifest.Layers) {
		return fmt.Errorf("%d layers but %d diff IDs: %w", len(r.Manifest.Layers), len(diffIDs), ErrInvalidArgument)
	}
	chains := identity.ChainIDs(append([]digest.Digest(nil), diffIDs...))
	parent := ""
	for i, layer := range r.Manifest.Layers {
		chain := chains[i].String()
		var err error
		if info, serr := u.sn.Stat(ctx, chain); serr == nil && info.Kind == snapshot.KindCommitted {
			err = nil
		} else if sc := u.scratchFor(diffIDs[i]); sc != nil {
			err = commitMoved(ctx, u.sn, sc.dir, chain, parent)
		} else {
			err = unpackLayer(ctx, cs, u.sn, layer, diffIDs[i], chain, parent)
		}
		if err != nil {
			return fmt.Errorf("layer %d (%s): %w", i, layer.Digest, err)
		}
		parent = chain
	}
	return nil
}

// scratchFor returns an unused extraction with the given diff ID.
func (u *streamUnpacker) scratchFor(diffID digest.Digest) *scratchLayer {
	for _, sc := range u.byName {
		if !sc.used && sc.err == nil && sc.diffID == diffID {
			sc.used = true
			return sc
		}
	}
	return nil
}

// cleanup removes the scratch snapshots.
func (u *streamUnpacker) cleanup(ctx context.Context) {
	if u == nil {
		return
	}
	u.wg.Wait()
	for _, sc := range u.byName {
		u.sn.Remove(context.WithoutCancel(ctx), sc.key)
	}
}
