package storage

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/berth-project/berth/internal/snapshot"
)

func commitIn(t *testing.T, ctx context.Context, s *Snapshotter, name, parent string) {
	t.Helper()
	if _, err := s.Prepare(ctx, "extract-"+name, parent, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, name, "extract-"+name, nil); err != nil {
		t.Fatal(err)
	}
}

func exists(s *Snapshotter, key string) bool {
	_, err := s.Stat(context.Background(), key)
	return err == nil
}

// TestBatchAbandoned: the snapshots of a batch whose holder died before
// finishing it are removed by the next open, with what was built on them
// in other batches; their directories go too.
func TestBatchAbandoned(t *testing.T) {
	root := t.TempDir()
	s, err := New(root, &dirDriver{root: root})
	if err != nil {
		t.Fatal(err)
	}
	commitIn(t, context.Background(), s, "durable", "")
	ctx, b, err := snapshot.BeginBatch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	commitIn(t, ctx, s, "base", "durable")
	commitIn(t, ctx, s, "child", "base")
	ctx2, b2, err := snapshot.BeginBatch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	commitIn(t, ctx2, s, "other", "child")
	if err := b2.Finish(); err != nil {
		t.Fatal(err)
	}
	var baseDir string
	s.store.View(func(db *DB) error { baseDir = Dir(root, db.Snapshots["base"].ID); return nil })

	// Another process opening the root meanwhile keeps a live batch.
	if _, err := New(root, &dirDriver{root: root}); err != nil {
		t.Fatal(err)
	}
	if !exists(s, "base") {
		t.Fatal("a live batch's snapshot was removed")
	}
	b.(*Batch).lock.Close() // the holder dies without finishing
	if _, err := New(root, &dirDriver{root: root}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"base", "child", "other"} {
		if exists(s, k) {
			t.Errorf("%s survived its dead batch", k)
		}
	}
	if !exists(s, "durable") {
		t.Error("the snapshot committed outside the batch was removed")
	}
	if _, err := os.Stat(baseDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory of a removed snapshot: %v", err)
	}
}

// TestBatchFinished: finished batches and snapshots prepared outside a
// batch on top of a live one's make the snapshots durable for good.
func TestBatchFinished(t *testing.T) {
	root := t.TempDir()
	s, err := New(root, &dirDriver{root: root})
	if err != nil {
		t.Fatal(err)
	}
	ctx, b, err := snapshot.BeginBatch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	commitIn(t, ctx, s, "finished", "")
	if err := b.Finish(); err != nil {
		t.Fatal(err)
	}
	ctx, b, err = snapshot.BeginBatch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	commitIn(t, ctx, s, "layer", "")
	// A container's snapshot on the layer, outside the batch.
	if _, err := s.Prepare(context.Background(), "container", "layer", nil); err != nil {
		t.Fatal(err)
	}
	b.(*Batch).lock.Close()
	if _, err := New(root, &dirDriver{root: root}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"finished", "layer", "container"} {
		if !exists(s, k) {
			t.Errorf("%s was removed", k)
		}
	}
}
