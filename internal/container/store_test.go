package container

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/internal/errdefs"
)

func newRecord(id, name string) *Container {
	return &Container{ID: id, Name: name, Created: time.Now(), Config: &container.Config{Image: "busybox"}, HostConfig: &container.HostConfig{}, State: NewState()}
}

func TestStoreSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "berth.db")
	db, err := OpenDB(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(db)
	if err != nil {
		t.Fatal(err)
	}
	a := newRecord("aaaa1111", "web")
	if err := s.Add(a); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(newRecord("bbbb2222", "web")); !errdefs.IsConflict(err) {
		t.Fatalf("duplicate name: %v", err)
	}
	a.State.SetRunning(42, time.Now())
	a.Name = "web2"
	if err := s.Update(a); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, err = OpenDB(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err = OpenStore(db)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"aaaa1111", "web2", "/web2", "aaa"} {
		got, err := s.Get(ref)
		if err != nil {
			t.Fatalf("Get(%q): %v", ref, err)
		}
		if got.State.Pid != 42 || got.State.Status != container.StateRunning {
			t.Fatalf("state not kept: %+v", got.State)
		}
	}
	if _, err := s.Get("web"); !errdefs.IsNotFound(err) {
		t.Fatalf("old name still resolves: %v", err)
	}
	if err := s.Add(newRecord("aaaa3333", "other")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("aaaa"); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("ambiguous prefix: %v", err)
	}
	if err := s.Delete("aaaa1111"); err != nil {
		t.Fatal(err)
	}
	if s.NameInUse("web2") || len(s.List()) != 1 {
		t.Fatal("delete left the record or its name")
	}
}

func TestStateMachine(t *testing.T) {
	s := NewState()
	if err := s.CanStart(); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPaused(); !errdefs.IsConflict(err) {
		t.Fatalf("pause a created container: %v", err)
	}
	now := time.Now()
	s.SetRunning(10, now)
	if err := s.CanStart(); !errdefs.IsNotModified(err) {
		t.Fatalf("start running: %v", err)
	}
	if err := s.SetRemoving(false); !errdefs.IsConflict(err) {
		t.Fatalf("remove running without force: %v", err)
	}
	if err := s.SetPaused(); err != nil {
		t.Fatal(err)
	}
	if api := s.API(); !api.Paused || !api.Running || api.Status != container.StatePaused {
		t.Fatalf("paused API state: %+v", api)
	}
	if err := s.SetUnpaused(); err != nil {
		t.Fatal(err)
	}
	s.SetExited(137, true, "", now.Add(time.Second))
	if api := s.API(); api.Running || !api.OOMKilled || api.ExitCode != 137 {
		t.Fatalf("exited API state: %+v", api)
	}
	if got := s.Describe(now.Add(3 * time.Second)); got != "Exited (137) 2 seconds ago" {
		t.Fatalf("Describe = %q", got)
	}
	if err := s.SetRemoving(false); err != nil {
		t.Fatal(err)
	}

	failed := NewState()
	failed.SetStartFailed(127, "exec failed", now)
	if failed.Status != container.StateCreated || failed.ExitCode != 127 {
		t.Fatalf("failed first start: %+v", failed)
	}
}
