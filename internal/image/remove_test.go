package image

import (
	"context"
	"errors"
	"reflect"
	"testing"

	digest "github.com/opencontainers/go-digest"
)

func TestRemoveAndPrune(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	a, b := twoImages(t)
	loadBytes(t, s, dockerArchive(t, a, b))
	idA, idB := digest.FromBytes(a.config(t)), digest.FromBytes(b.config(t))

	// By ID, names in two repositories: refused unless forced.
	if _, err := s.Remove(ctx, idA.Encoded()[:12], false, nil); !errors.Is(err, ErrFailedPrecondition) {
		t.Fatalf("want conflict, got %v", err)
	}
	// By name with another name left: untag only.
	res, err := s.Remove(ctx, "localhost:5000/x:y", false, nil)
	if err != nil || !reflect.DeepEqual(res.Untagged, []string{"localhost:5000/x:y"}) || len(res.Deleted) != 0 {
		t.Fatalf("untag: %+v %v", res, err)
	}
	// In use: refused; forced, only untagged and kept dangling.
	inUse := func(id digest.Digest) bool { return id == idA }
	if _, err := s.Remove(ctx, "busybox", false, inUse); !errors.Is(err, ErrFailedPrecondition) {
		t.Fatalf("in use: %v", err)
	}
	res, err = s.Remove(ctx, "busybox", true, inUse)
	if err != nil || len(res.Deleted) != 0 || len(res.Untagged) != 1 {
		t.Fatalf("forced in-use: %+v %v", res, err)
	}
	if img, err := s.Resolve(ctx, idA.String()); err != nil || !img.Dangling() {
		t.Fatalf("in-use image lost: %v", err)
	}
	// Last name: deleted.
	res, err = s.Remove(ctx, "user/app:v1", false, nil)
	if err != nil || !reflect.DeepEqual(res.Deleted, []digest.Digest{idB}) {
		t.Fatalf("delete: %+v %v", res, err)
	}
	// Prune keeps the in-use dangling image, then drops it once unused.
	pr, err := s.Prune(ctx, false, inUse)
	if err != nil || len(pr.Deleted) != 0 {
		t.Fatalf("prune in use: %+v %v", pr, err)
	}
	pr, err = s.Prune(ctx, false, nil)
	if err != nil || !reflect.DeepEqual(pr.Deleted, []digest.Digest{idA}) || pr.SpaceReclaimed == 0 {
		t.Fatalf("prune: %+v %v", pr, err)
	}
	n := 0
	s.Content().Walk(ctx, func(ci contentInfo) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d blobs left after prune", n)
	}
}
