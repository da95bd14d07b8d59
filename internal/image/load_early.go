package image

import (
	"bufio"
	"context"
	"errors"
	"runtime"
	"sync"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-project/berth/internal/archive"
	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/snapshot"
)

// earlyUnpacker unpacks the layers of a load while the rest of the
// archive still streams in. Which image a layer belongs to, and on which
// parent, is only known once the archive's manifests have been read
// (they come last), so each layer blob is applied into a snapshot of its
// own without parents as soon as it is stored; once the chains are known
// the snapshot is given its parent (snapshot.Reparent), the directories
// the layer did not describe get their parents' metadata
// (archive.FixImplicitDirs), and it is committed under its chain ID.
// Snapshotters that keep full copies (native) cannot do this: layers are
// then unpacked after the archive, one by one.
type earlyUnpacker struct {
	ctx  context.Context
	cs   *content.Store
	sn   snapshot.Snapshotter
	jobs chan *earlyLayer
	wg   sync.WaitGroup

	mu     sync.Mutex
	layers map[digest.Digest]*earlyLayer
}

// earlyLayer is one blob unpacked (or being unpacked) early.
type earlyLayer struct {
	blob        digest.Digest
	compression archive.Compression
	done        chan struct{}

	key      string        // its snapshot
	diffID   digest.Digest // of the uncompressed tar
	implicit []string      // directories to fix once the parents are known
	err      error         // not a layer, or it failed: unpack it the usual way
	taken    bool
}

func newEarlyUnpacker(ctx context.Context, cs *content.Store, sn snapshot.Snapshotter) *earlyUnpacker {
	if sn == nil || !snapshot.CanReparent(sn) {
		return nil
	}
	u := &earlyUnpacker{ctx: ctx, cs: cs, sn: sn, jobs: make(chan *earlyLayer, 256), layers: map[digest.Digest]*earlyLayer{}}
	workers := max(1, runtime.NumCPU()-1)
	for range min(workers, 4) {
		u.wg.Add(1)
		go u.work()
	}
	return u
}

// offer schedules a stored blob for early unpacking.
func (u *earlyUnpacker) offer(blob digest.Digest, compression archive.Compression) {
	if u == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.layers[blob]; ok {
		return
	}
	l := &earlyLayer{blob: blob, compression: compression, done: make(chan struct{})}
	select {
	case u.jobs <- l:
		u.layers[blob] = l
	default: // too many: this one is unpacked the usual way
	}
}

func (u *earlyUnpacker) work() {
	defer u.wg.Done()
	for l := range u.jobs {
		l.err = u.unpack(l)
		close(l.done)
	}
}

var errNotLayer = errors.New("not a layer")

func (u *earlyUnpacker) unpack(l *earlyLayer) error {
	if err := u.ctx.Err(); err != nil {
		return err
	}
	rc, err := u.cs.Open(u.ctx, l.blob)
	if err != nil {
		return err
	}
	defer rc.Close()
	dec, err := archive.Decompress(rc)
	if err != nil {
		return err
	}
	defer dec.Close()
	br := bufio.NewReaderSize(dec, 64<<10)
	if head, err := br.Peek(512); err != nil || string(head[257:262]) != "ustar" {
		return errNotLayer // a config, manifest or anything else
	}
	key := "extract-" + content.RandomID() + "-early-" + l.blob.Encoded()[:12]
	// An uncompressed blob's digest, verified as it was stored, is its diff ID.
	implicit, d, err := ApplyAlone(u.ctx, u.sn, key, br, l.compression == archive.Uncompressed)
	if err != nil {
		return err
	}
	l.implicit = implicit
	if d == "" {
		d = l.blob
	}
	l.key, l.diffID = key, d
	return nil
}

// adopt commits the early snapshot of layer (if there is one with the
// right diff ID) as chain on parent; false means unpack it the usual way.
func (u *earlyUnpacker) adopt(ctx context.Context, layer digest.Digest, diffID digest.Digest, chain, parent string) (bool, error) {
	if u == nil {
		return false, nil
	}
	u.mu.Lock()
	l := u.layers[layer]
	if l == nil || l.taken {
		u.mu.Unlock()
		return false, nil
	}
	l.taken = true
	u.mu.Unlock()
	select {
	case <-l.done:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	if l.err != nil || l.diffID != diffID {
		return false, nil
	}
	committed, err := CommitOn(ctx, u.sn, l.key, parent, chain, l.implicit, diffID)
	if err != nil {
		return false, err
	}
	if committed {
		l.key = "" // nothing to remove; else a concurrent unpack won and close removes ours
	}
	return true, nil
}

// close waits for the workers and removes the snapshots nobody adopted.
func (u *earlyUnpacker) close() {
	if u == nil {
		return
	}
	close(u.jobs)
	u.wg.Wait()
	ctx := context.WithoutCancel(u.ctx)
	for _, l := range u.layers {
		if l.err == nil && l.key != "" {
			u.sn.Remove(ctx, l.key)
		}
	}
}
