package build

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/integration/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// writeContext makes a build context directory from name -> content.
func writeContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// build runs berth build and fails the test unless it succeeds.
func build(t *testing.T, d *harness.Daemon, dir string, args ...string) harness.Result {
	t.Helper()
	r := d.Berth("", "", nil, append(append([]string{"build"}, args...), dir)...)
	if r.Code != 0 {
		t.Fatalf("berth build %v: %s", args, r)
	}
	return r
}

// imageConfig reads an image's config from the daemon's store.
func imageConfig(t *testing.T, d *harness.Daemon, ref string) image.Config {
	t.Helper()
	store := openStore(t, d)
	rec, err := store.Resolve(context.Background(), ref)
	if err != nil {
		t.Fatalf("image %s: %v", ref, err)
	}
	r, err := image.Resolve(context.Background(), store.Content(), rec.Target, store.Platform())
	if err != nil {
		t.Fatal(err)
	}
	return r.Config
}

func openStore(t *testing.T, d *harness.Daemon) *image.Store {
	t.Helper()
	cs, err := content.New(filepath.Join(d.DataRoot, "content"))
	if err != nil {
		t.Fatal(err)
	}
	store, err := image.NewStore(d.DataRoot, cs)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// snapshotNames lists the daemon's snapshots (overlay).
func snapshotNames(t *testing.T, d *harness.Daemon) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.DataRoot, "snapshots", "overlay", "metadata.json"))
	if err != nil {
		return nil
	}
	var db struct {
		Snapshots map[string]json.RawMessage `json:"snapshots"`
	}
	if err := json.Unmarshal(b, &db); err != nil {
		t.Fatalf("snapshot metadata: %v", err)
	}
	var names []string
	for n := range db.Snapshots {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// blobCount counts the blobs in the daemon's content store.
func blobCount(t *testing.T, d *harness.Daemon) int {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(d.DataRoot, "content", "blobs", "sha256"))
	return len(entries)
}
