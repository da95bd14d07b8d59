package overlay

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/mount"
	"github.com/berth-project/berth/internal/snapshot"
	"github.com/berth-project/berth/internal/snapshot/storage"
	"github.com/berth-project/berth/internal/snapshot/testsuite"
)

func newTestSnapshotter(t *testing.T, root string) snapshot.Snapshotter {
	s, err := NewOverlay(root)
	if err != nil {
		t.Fatalf("NewOverlay: %v", err)
	}
	return s
}

func TestOverlay(t *testing.T) {
	testsuite.Run(t, newTestSnapshotter)
}

func TestMountShapes(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "root")
	s := newTestSnapshotter(t, root)
	defer s.Close()
	for i, name := range []string{"l1", "l2"} {
		parent := ""
		if i > 0 {
			parent = "l1"
		}
		if _, err := s.Prepare(ctx, name+"-active", parent, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, name, name+"-active", nil); err != nil {
			t.Fatal(err)
		}
	}
	shape := func(m []mount.Mount) string {
		var parts []string
		for _, o := range m[0].Options {
			key, _, _ := strings.Cut(o, "=")
			parts = append(parts, key)
		}
		return m[0].Type + ":" + strings.Join(parts, ",")
	}
	for _, tc := range []struct {
		view   bool
		parent string
		want   string
	}{
		{false, "", "bind:rw,rbind"},
		{true, "", "bind:ro,rbind"},
		{true, "l1", "bind:ro,rbind"},
		{false, "l1", "overlay:index,workdir,upperdir,lowerdir"},
		{true, "l2", "overlay:index,ro,lowerdir"},
	} {
		key := fmt.Sprintf("%v-%s", tc.view, tc.parent)
		var m []mount.Mount
		var err error
		if tc.view {
			m, err = s.View(ctx, key, tc.parent, nil)
		} else {
			m, err = s.Prepare(ctx, key, tc.parent, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.NewReplacer("index,", "", "redirect_dir,", "", "metacopy,", "").Replace(shape(m)); got != strings.Replace(tc.want, "index,", "", 1) {
			t.Errorf("%s: mounts %v, want %s", key, m, tc.want)
		}
	}
	// Lower dirs are newest first.
	m, err := s.View(ctx, "order", "l2", nil)
	if err != nil {
		t.Fatal(err)
	}
	lower := m[0].Options[len(m[0].Options)-1]
	want := "lowerdir=" + storage.FSDir(root, "2") + ":" + storage.FSDir(root, "1")
	if lower != want {
		t.Errorf("lowerdir option %q, want %q", lower, want)
	}
}

func TestUnusableFilesystem(t *testing.T) {
	// overlayfs cannot use an overlay mount as its upper dir's filesystem.
	tmp := t.TempDir()
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(tmp, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	merged := filepath.Join(tmp, "merged")
	m := mount.Mount{Type: "overlay", Source: "overlay", Options: []string{
		"lowerdir=" + filepath.Join(tmp, "lower"), "upperdir=" + filepath.Join(tmp, "upper"), "workdir=" + filepath.Join(tmp, "work")}}
	if err := m.Mount(merged); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mount.UnmountAll(merged) })
	if s, err := NewOverlay(filepath.Join(merged, "root")); err == nil {
		s.Close()
		t.Skip("this kernel stacks overlay upper dirs on overlayfs")
	}
}
