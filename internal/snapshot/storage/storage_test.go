package storage

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-project/berth/internal/mount"
	"github.com/berth-project/berth/internal/snapshot"
)

// dirDriver makes an empty fs dir per snapshot.
type dirDriver struct {
	root string
	fail bool
}

func (d *dirDriver) Create(ctx context.Context, id string, kind snapshot.Kind, parents []string) error {
	if err := os.Mkdir(FSDir(d.root, id), 0o755); err != nil {
		return err
	}
	if d.fail {
		return errors.New("driver failure")
	}
	return nil
}

func (d *dirDriver) Mounts(id string, kind snapshot.Kind, parents []string) []mount.Mount {
	return []mount.Mount{{Type: "bind", Source: FSDir(d.root, id), Options: []string{"rbind"}}}
}

func (d *dirDriver) Overlay() bool { return false }

func TestOrphansRemovedOnOpen(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := New(root, &dirDriver{root: root})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prepare(ctx, "kept", "", nil); err != nil {
		t.Fatal(err)
	}
	// What a crash between creating a snapshot's files and recording it,
	// or between forgetting it and deleting its files, leaves behind.
	orphan := Dir(root, "99")
	if err := os.MkdirAll(filepath.Join(orphan, "fs", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := New(root, &dirDriver{root: root}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(orphan); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("orphan dir survived: %v", err)
	}
	dir, _, err := s.UpperDir(ctx, "kept")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("recorded snapshot dir removed: %v", err)
	}
}

func TestFailedCreateLeavesNothing(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := New(root, &dirDriver{root: root, fail: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prepare(ctx, "x", "", nil); err == nil {
		t.Fatal("Prepare succeeded with a failing driver")
	}
	if _, err := s.Stat(ctx, "x"); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("Stat after failed Prepare: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "snapshots"))
	if len(entries) != 0 {
		t.Errorf("snapshot dirs left: %v", entries)
	}
}

func TestMetadataFile(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := New(root, &dirDriver{root: root})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prepare(ctx, "a", "", map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "b", "a", nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, metadataFile))
	if err != nil {
		t.Fatal(err)
	}
	var db DB
	if err := json.Unmarshal(b, &db); err != nil {
		t.Fatal(err)
	}
	r := db.Snapshots["b"]
	if len(db.Snapshots) != 1 || r == nil || r.Kind != snapshot.KindCommitted || r.Labels["k"] != "v" || r.ID != "1" || db.NextID != 2 {
		t.Errorf("metadata file: %s", b)
	}
	// No temp files are left next to it.
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if n := e.Name(); n != metadataFile && n != lockFile && n != "snapshots" {
			t.Errorf("unexpected file %s in root", n)
		}
	}
	// A corrupt metadata file is an error, not an empty store.
	if err := os.WriteFile(filepath.Join(root, metadataFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "b"); err == nil || errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("Stat with corrupt metadata: %v", err)
	}
}
