package image

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/snapshot"
)

// durability makes what a load or pull writes durable with one flush per
// filesystem at its end, instead of an fsync per blob and per layer: the
// content and snapshot batches it holds keep crash safety meanwhile.
type durability struct {
	ctx     context.Context
	content *content.Batch
	snap    snapshot.Batch
	done    bool
}

func (s *Store) beginDurability(ctx context.Context, sn snapshot.Snapshotter) (*durability, error) {
	cb, err := s.cs.BeginBatch()
	if err != nil {
		return nil, err
	}
	d := &durability{ctx: content.WithBatch(ctx, cb), content: cb}
	if sn != nil {
		if d.ctx, d.snap, err = snapshot.BeginBatch(d.ctx, sn); err != nil {
			cb.Sync()
			return nil, err
		}
	}
	return d, nil
}

// flush flushes the filesystems of the content store and the snapshots
// (once if they are the same) and finishes the batches.
func (d *durability) flush() error {
	if d.done {
		return nil
	}
	d.done = true
	roots := []string{d.content.Root()}
	if d.snap != nil && d.snap.Root() != "" {
		roots = append(roots, d.snap.Root())
	}
	var err error
	flushed := map[uint64]bool{}
	for _, r := range roots {
		var st unix.Stat_t
		if serr := unix.Stat(r, &st); serr == nil && flushed[st.Dev] {
			continue
		} else if serr == nil {
			flushed[st.Dev] = true
		}
		err = errors.Join(err, content.Syncfs(r))
	}
	if err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	if d.snap != nil {
		err = d.snap.Finish()
	}
	return errors.Join(err, d.content.Finish())
}

// end flushes what a failed load wrote, so that its batches end.
func (d *durability) end() { d.flush() }
