package archive

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-project/berth/internal/mount"
)

func changeMap(cs []Change) map[string]ChangeKind {
	m := map[string]ChangeKind{}
	for _, c := range cs {
		m[c.Path] = c.Kind
	}
	return m
}

func checkChanges(t *testing.T, got []Change, want map[string]ChangeKind) {
	t.Helper()
	gm := changeMap(got)
	for p, k := range want {
		if g, ok := gm[p]; !ok || g != k {
			t.Errorf("%s: got kind %v (present %v), want %v; all: %v", p, g, ok, k, got)
		}
	}
	for _, p := range []string{"/bin/ash", "/var/cache/b", "/etc/skel/.profile"} {
		if _, ok := gm[p]; ok {
			t.Errorf("unchanged or deleted-with-parent %s listed: %v", p, got)
		}
	}
}

var wantChanges = map[string]ChangeKind{
	"/etc":                 ChangeModify,
	"/etc/motd":            ChangeAdd,
	"/etc/hostname":        ChangeModify,
	"/etc/skel":            ChangeDelete,
	"/var/cache/a":         ChangeDelete,
	"/usr":                 ChangeAdd,
	"/usr/local/bin/tool":  ChangeAdd,
	"/usr/local/bin/tool2": ChangeAdd,
	"/replace-me/inside":   ChangeAdd,
	"/opaque/new":          ChangeAdd,
}

func TestChangesPlain(t *testing.T) {
	lower, upper := t.TempDir(), t.TempDir()
	mustApply(t, lower, false, baseLayer()...)
	mustApply(t, upper, false, baseLayer()...)
	change(t, upper)
	got, err := Changes(context.Background(), lower, upper, ChangesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkChanges(t, got, wantChanges)
	same, err := Changes(context.Background(), upper, upper, ChangesOptions{})
	if err != nil || len(same) != 0 {
		t.Fatalf("changes of a tree against itself: %v, %v", same, err)
	}
}

func TestChangesOverlay(t *testing.T) {
	tmp := t.TempDir()
	lower, upper, work, merged := filepath.Join(tmp, "lower"), filepath.Join(tmp, "upper"),
		filepath.Join(tmp, "work"), filepath.Join(tmp, "merged")
	for _, d := range []string{lower, upper, work, merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mustApply(t, lower, false, baseLayer()...)
	m := mount.Mount{Type: "overlay", Source: "overlay", Options: []string{
		"lowerdir=" + lower, "upperdir=" + upper, "workdir=" + work, "index=off"}}
	if err := m.Mount(merged); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mount.UnmountAll(merged) })
	change(t, merged)
	got, err := Changes(context.Background(), "", upper, ChangesOptions{UpperIsOverlay: true, Lowers: []string{lower}})
	if err != nil {
		t.Fatal(err)
	}
	checkChanges(t, got, wantChanges)
}

// TestTarDoesNotFollowSwappedSymlinks: a directory of the tree replaced by
// a symlink to the outside (as a running container may do while it is
// exported) is written as a symlink, and nothing outside is read.
func TestTarDoesNotFollowSwappedSymlinks(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustApply(t, root, false, dir("d"), file("d/secret", "inside"))
	src, err := openTree(root)
	if err != nil {
		t.Fatal(err)
	}
	defer src.close()
	if _, err := src.lstat("d/secret"); err != nil {
		t.Fatal(err)
	}
	// Swap d for a symlink after the tree cached nothing about it.
	src2, err := openTree(root)
	if err != nil {
		t.Fatal(err)
	}
	defer src2.close()
	if err := os.RemoveAll(filepath.Join(root, "d")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "d")); err != nil {
		t.Fatal(err)
	}
	if st, err := src2.lstat("d/secret"); err == nil {
		t.Fatalf("lstat through a symlinked directory succeeded: %+v", st)
	}
	if _, err := src2.open("d/secret", 0); err == nil {
		t.Fatal("open through a symlinked directory succeeded")
	}
	if _, err := src2.xattrs("d/secret"); err == nil {
		t.Fatal("xattrs through a symlinked directory succeeded")
	}
	if _, err := src2.readlink("d/secret"); err == nil {
		t.Fatal("readlink through a symlinked directory succeeded")
	}
}
