// Package durable makes what one image load, pull or build writes durable
// with one flush at its end instead of an fsync per blob and per layer:
// blobs are written in a content batch and layer snapshots in a snapshot
// batch (which keep a crash from leaving bad content meanwhile), then one
// syncfs per filesystem ends both.
package durable

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/snapshot"
)

// Batch is the content and snapshot batches of one operation.
type Batch struct {
	content *content.Batch
	snap    snapshot.Batch
	done    bool
	err     error
}

// Begin starts the batches of cs and sn (nil: blobs only) and returns the
// context under which writes join them.
func Begin(ctx context.Context, cs *content.Store, sn snapshot.Snapshotter) (*Batch, context.Context, error) {
	cb, err := cs.BeginBatch()
	if err != nil {
		return nil, ctx, err
	}
	b := &Batch{content: cb}
	ctx, b.snap, err = snapshot.BeginBatch(content.WithBatch(ctx, cb), sn)
	if err != nil {
		cb.Sync()
		return nil, ctx, err
	}
	return b, ctx, nil
}

// Flush flushes the filesystems of the content store and of the
// snapshots (once when they are one) and ends the batches; later calls
// return the first call's result. When the flush fails the batches stay
// open, so that the next start checks what they hold.
func (b *Batch) Flush() error {
	if b.done {
		return b.err
	}
	b.done = true
	var err error
	flushed := map[uint64]bool{}
	for _, r := range []string{b.content.Root(), b.snap.Root()} {
		if r == "" {
			continue
		}
		var st unix.Stat_t
		if serr := unix.Stat(r, &st); serr == nil {
			if flushed[st.Dev] {
				continue
			}
			flushed[st.Dev] = true
		}
		err = errors.Join(err, content.Syncfs(r))
	}
	if err != nil {
		b.err = fmt.Errorf("flush: %w", err)
		return b.err
	}
	b.err = b.end()
	return b.err
}

// End ends the batches without a flush: only for an operation that wrote
// nothing into them.
func (b *Batch) End() error {
	if b.done {
		return b.err
	}
	b.done = true
	b.err = b.end()
	return b.err
}

func (b *Batch) end() error { return errors.Join(b.snap.Finish(), b.content.Finish()) }
