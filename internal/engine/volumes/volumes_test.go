package volumes

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/moby/api/types/volume"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-project/berth/internal/engine/events"
	"github.com/berth-project/berth/internal/errdefs"
	vrec "github.com/berth-project/berth/internal/volume"
)

func newService(t *testing.T) (*Service, *events.Bus) {
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, "db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := vrec.OpenStore(db, filepath.Join(dir, "volumes"))
	if err != nil {
		t.Fatal(err)
	}
	bus := events.New()
	return New(store, bus), bus
}

func TestRefCountsAndRemoval(t *testing.T) {
	ctx := context.Background()
	s, bus := newService(t)
	_, live, cancel := bus.Subscribe(time.Time{})
	defer cancel()
	named, _, err := s.Acquire(ctx, "data", "c1")
	if err != nil || named != "data" {
		t.Fatalf("acquire: %q %v", named, err)
	}
	if m := <-live; m.Action != "create" || m.Actor.ID != "data" {
		t.Fatalf("event %+v", m)
	}
	anon, path, err := s.Acquire(ctx, "", "c1")
	if err != nil || len(anon) != 64 || filepath.Base(path) != "_data" {
		t.Fatalf("anonymous: %q %q %v", anon, path, err)
	}
	if err := s.Remove(ctx, "data", false); !errdefs.IsConflict(err) {
		t.Fatalf("remove in use: %v", err)
	}
	list, _ := s.List(ctx, map[string][]string{"dangling": {"false"}})
	if len(list.Volumes) != 2 {
		t.Fatalf("in use: %+v", list.Volumes)
	}
	if err := s.Release(ctx, "data", "c1", true); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, anon, "c1", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Inspect(ctx, anon); !errdefs.IsNotFound(err) {
		t.Fatalf("anonymous volume kept after rm -v: %v", err)
	}
	if _, err := s.Inspect(ctx, "data"); err != nil {
		t.Fatalf("named volume removed: %v", err)
	}
	rep, err := s.Prune(ctx, nil)
	if err != nil || len(rep.VolumesDeleted) != 0 {
		t.Fatalf("prune keeps named volumes: %+v %v", rep, err)
	}
	rep, _ = s.Prune(ctx, map[string][]string{"all": {"true"}})
	if len(rep.VolumesDeleted) != 1 {
		t.Fatalf("prune all: %+v", rep)
	}
	if _, err := s.Create(ctx, volume.CreateRequest{Name: "x", Driver: "nfs"}); !errdefs.IsNotFound(err) {
		t.Fatalf("unknown driver: %v", err)
	}
}
