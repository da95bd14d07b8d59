package content

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestBatchRecovery: blobs committed in a batch whose holder died before
// finishing are re-checked at the next open; a damaged one (its data did
// not reach the disk) is deleted, the others stay.
func TestBatchRecovery(t *testing.T) {
	root := t.TempDir()
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.BeginBatch()
	if err != nil {
		t.Fatal(err)
	}
	ctx := WithBatch(context.Background(), b)
	good, err := s.WriteBytes(ctx, []byte("good blob"), nil)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := s.WriteBytes(ctx, []byte("blob whose data is lost"), nil)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := s.blobPath(bad)
	if err := os.Truncate(p, 0); err != nil { // as after a power loss
		t.Fatal(err)
	}
	// Another process opening the store meanwhile leaves a live batch alone.
	if _, err := New(root); err != nil {
		t.Fatal(err)
	}
	if !s.Exists(bad) {
		t.Fatal("a live batch's blob was checked and deleted")
	}
	b.lock.Unlock() // the holder dies without finishing
	if _, err := New(root); err != nil {
		t.Fatal(err)
	}
	if !s.Exists(good) {
		t.Error("the intact blob of the dead batch was deleted")
	}
	if s.Exists(bad) {
		t.Error("the damaged blob of the dead batch is still there")
	}
	if entries, _ := os.ReadDir(filepath.Join(root, "batches")); len(entries) != 0 {
		t.Errorf("batch markers left: %v", entries)
	}
}

// TestBatchSync: a finished batch leaves its blobs and no marker.
func TestBatchSync(t *testing.T) {
	root := t.TempDir()
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.BeginBatch()
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.WriteBytes(WithBatch(context.Background(), b), []byte("synced"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(filepath.Join(root, "batches")); len(entries) != 0 {
		t.Errorf("batch marker left after Sync: %v", entries)
	}
	if got, err := s.ReadBlob(context.Background(), d); err != nil || string(got) != "synced" {
		t.Fatalf("blob after Sync: %q, %v", got, err)
	}
}
