package image

import (
	"context"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/snapshot/native"
)

type fixedHolder struct {
	blobs []digest.Digest
	snaps []string
}

func (h fixedHolder) Held(context.Context) ([]digest.Digest, []string, error) {
	return h.blobs, h.snaps, nil
}

// TestHoldersKeepBlobsAndSnapshots: what a Holder names survives GC and
// snapshot pruning although no image references it.
func TestHoldersKeepBlobsAndSnapshots(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	held, err := s.Content().WriteBytes(ctx, []byte("held layer"), nil)
	if err != nil {
		t.Fatal(err)
	}
	loose, err := s.Content().WriteBytes(ctx, []byte("loose layer"), nil)
	if err != nil {
		t.Fatal(err)
	}
	sn, err := native.NewNative(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	heldChain, looseChain := digest.FromString("held chain").String(), digest.FromString("loose chain").String()
	for _, name := range []string{heldChain, looseChain} {
		if _, err := sn.Prepare(ctx, "k-"+name, "", nil); err != nil {
			t.Fatal(err)
		}
		if err := sn.Commit(ctx, name, "k-"+name, nil); err != nil {
			t.Fatal(err)
		}
	}
	s.AddHolder(fixedHolder{blobs: []digest.Digest{held}, snaps: []string{heldChain}})
	if _, err := s.GarbageCollect(ctx, content.GCOptions{StaleIngest: -1}); err != nil {
		t.Fatal(err)
	}
	if !s.Content().Exists(held) || s.Content().Exists(loose) {
		t.Errorf("after GC: held blob exists %v, loose blob exists %v", s.Content().Exists(held), s.Content().Exists(loose))
	}
	removed, err := s.PruneSnapshots(ctx, sn)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != looseChain {
		t.Errorf("pruned %v, want only %s", removed, looseChain)
	}
	if _, err := sn.Stat(ctx, heldChain); err != nil {
		t.Errorf("held snapshot gone: %v", err)
	}
}
