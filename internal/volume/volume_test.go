package volume

import (
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/berth-project/berth/internal/errdefs"
)

func TestStore(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, "db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := OpenStore(db, filepath.Join(dir, "volumes"))
	if err != nil {
		t.Fatal(err)
	}
	v, created, err := s.Create("data", map[string]string{"a": "b"}, nil)
	if err != nil || !created || v.Labels["a"] != "b" {
		t.Fatalf("create: %v %v %+v", err, created, v)
	}
	if _, created, _ := s.Create("data", nil, nil); created {
		t.Fatal("second create made a new volume")
	}
	if _, _, err := s.Create("bad/name", nil, nil); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("bad name: %v", err)
	}
	os.WriteFile(filepath.Join(s.Path("data"), "f"), []byte("12345"), 0o644)
	if s.Size("data") != 5 {
		t.Fatalf("size %d", s.Size("data"))
	}
	list, _ := s.List()
	if len(list) != 1 || list[0].Name != "data" {
		t.Fatalf("list %v", list)
	}
	if err := s.Remove("data"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("data"); !errdefs.IsNotFound(err) {
		t.Fatalf("get after remove: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "volumes", "data")); !os.IsNotExist(err) {
		t.Fatal("data left")
	}
}
