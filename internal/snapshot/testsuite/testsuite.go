// Package testsuite is the conformance suite every Snapshotter runs: the
// snapshot life cycle, errors, metadata persistence, and real mounts of
// layer stacks built with archive.Apply.
package testsuite

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/archive"
	"github.com/berth-project/berth/internal/mount"
	"github.com/berth-project/berth/internal/snapshot"
)

// NewFunc makes a snapshotter storing its data in root; it may be called
// several times with the same root (reopen).
type NewFunc func(t *testing.T, root string) snapshot.Snapshotter

// Run runs the conformance suite against the snapshotters newSnapshotter
// makes. It needs root (it mounts).
func Run(t *testing.T, newSnapshotter func(t *testing.T, root string) snapshot.Snapshotter) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newSnapshotter NewFunc)
	}{
		{"Lifecycle", testLifecycle},
		{"Errors", testErrors},
		{"WalkAndLabels", testWalkAndLabels},
		{"Usage", testUsage},
		{"RemoveChain", testRemoveChain},
		{"LayerStack", testLayerStack},
		{"ParentDirMetadata", testParentDirMetadata},
		{"DiffCommit", testDiffCommit},
		{"ManyLayers", testManyLayers},
		{"Reopen", testReopen},
		{"ConcurrentInstances", testConcurrentInstances},
		{"ReadOnlyMounts", testReadOnlyMounts},
		{"Reparent", testReparent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newSnapshotter)
		})
	}
}

// open makes a snapshotter in a fresh root and closes it at the end.
func open(t *testing.T, newSnapshotter NewFunc) (snapshot.Snapshotter, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "snapshots")
	s := newSnapshotter(t, root)
	t.Cleanup(func() { s.Close() })
	return s, root
}

// mountAt mounts mounts on a new directory, unmounted at the end of the test.
func mountAt(t *testing.T, mounts []mount.Mount) string {
	t.Helper()
	target := t.TempDir()
	if err := mount.All(mounts, target); err != nil {
		t.Fatalf("mount %v: %v", mounts, err)
	}
	t.Cleanup(func() {
		if err := mount.UnmountAll(target); err != nil {
			t.Errorf("unmount %s: %v", target, err)
		}
	})
	return target
}

func unmount(t *testing.T, target string) {
	t.Helper()
	if err := mount.UnmountAll(target); err != nil {
		t.Fatalf("unmount: %v", err)
	}
}

// entry is one file of a test layer: a regular file with content, a
// directory (trailing slash), or a whiteout/opaque marker (empty file).
type entry struct{ name, content string }

func layerTar(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(e.content)), ModTime: time.Unix(1600000000, 0)}
		if strings.HasSuffix(e.name, "/") {
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// commitLayer prepares a snapshot on parent, applies the layer into its
// upper dir and commits it as name.
func commitLayer(t *testing.T, s snapshot.Snapshotter, name, parent string, entries ...entry) {
	t.Helper()
	commitTar(t, s, name, parent, layerTar(t, entries))
}

// commitTar is commitLayer with a ready-made layer tar.
func commitTar(t *testing.T, s snapshot.Snapshotter, name, parent string, layer []byte) {
	t.Helper()
	ctx := context.Background()
	key := "extract-" + name
	if _, err := s.Prepare(ctx, key, parent, nil); err != nil {
		t.Fatalf("prepare %s: %v", key, err)
	}
	dir, overlay, err := s.UpperDir(ctx, key)
	if err != nil {
		t.Fatalf("upper dir of %s: %v", key, err)
	}
	parents, err := snapshot.LowerDirs(ctx, s, key)
	if err != nil {
		t.Fatalf("lower dirs of %s: %v", key, err)
	}
	if _, _, err := archive.Apply(ctx, dir, bytes.NewReader(layer), archive.ApplyOptions{Overlay: overlay, Parents: parents}); err != nil {
		t.Fatalf("apply layer %s: %v", name, err)
	}
	if err := s.Commit(ctx, name, key, nil); err != nil {
		t.Fatalf("commit %s: %v", name, err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatalf("write %s: %v", p, err)
	}
}

func listDir(t *testing.T, p string) []string {
	t.Helper()
	entries, err := os.ReadDir(p)
	if err != nil {
		t.Fatalf("read dir %s: %v", p, err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func testLifecycle(t *testing.T, newSnapshotter NewFunc) {
	ctx := context.Background()
	s, _ := open(t, newSnapshotter)

	mounts, err := s.Prepare(ctx, "base-active", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := s.Stat(ctx, "base-active"); err != nil || info.Kind != snapshot.KindActive || info.Parent != "" {
		t.Fatalf("Stat(base-active) = %+v, %v", info, err)
	}
	target := mountAt(t, mounts)
	writeFile(t, filepath.Join(target, "etc/hostname"), "base")
	unmount(t, target)
	if err := s.Commit(ctx, "base", "base-active", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "base-active"); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("Stat of the committed key: %v, want ErrNotFound", err)
	}
	info, err := s.Stat(ctx, "base")
	if err != nil || info.Kind != snapshot.KindCommitted || info.Name != "base" || info.Created.IsZero() || info.Updated.Before(info.Created) {
		t.Fatalf("Stat(base) = %+v, %v", info, err)
	}

	// A view shows the parent read-only.
	mounts, err = s.View(ctx, "view", "base", nil)
	if err != nil {
		t.Fatal(err)
	}
	view := mountAt(t, mounts)
	if got := readFile(t, filepath.Join(view, "etc/hostname")); got != "base" {
		t.Errorf("view: etc/hostname = %q", got)
	}
	if err := os.WriteFile(filepath.Join(view, "new"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("writing into a view: %v, want EROFS", err)
	}

	// An active child sees the parent and writes without touching it.
	mounts, err = s.Prepare(ctx, "child", "base", nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Mounts(ctx, "child")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(again) != fmt.Sprint(mounts) {
		t.Errorf("Mounts = %v, Prepare returned %v", again, mounts)
	}
	child := mountAt(t, mounts)
	if got := readFile(t, filepath.Join(child, "etc/hostname")); got != "base" {
		t.Errorf("child: etc/hostname = %q", got)
	}
	writeFile(t, filepath.Join(child, "etc/hostname"), "child")
	writeFile(t, filepath.Join(child, "new"), "new")
	if got := readFile(t, filepath.Join(view, "etc/hostname")); got != "base" {
		t.Errorf("after the child wrote, view: etc/hostname = %q", got)
	}
	if info, err := s.Stat(ctx, "child"); err != nil || info.Parent != "base" || info.Kind != snapshot.KindActive {
		t.Errorf("Stat(child) = %+v, %v", info, err)
	}
	unmount(t, child)
	if err := s.Commit(ctx, "child-committed", "child", nil); err != nil {
		t.Fatal(err)
	}
	mounts, err = s.View(ctx, "child-view", "child-committed", nil)
	if err != nil {
		t.Fatal(err)
	}
	cv := mountAt(t, mounts)
	if got := readFile(t, filepath.Join(cv, "etc/hostname")); got != "child" {
		t.Errorf("committed child: etc/hostname = %q", got)
	}
	if got := listDir(t, cv); fmt.Sprint(got) != "[etc new]" {
		t.Errorf("committed child has %v", got)
	}

	// A view of nothing is an empty read-only tree.
	mounts, err = s.View(ctx, "empty-view", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, mountAt(t, mounts)); len(got) != 0 {
		t.Errorf("empty view has %v", got)
	}
}

func testErrors(t *testing.T, newSnapshotter NewFunc) {
	ctx := context.Background()
	s, _ := open(t, newSnapshotter)
	commitLayer(t, s, "base", "", entry{"f", "f"})
	if _, err := s.Prepare(ctx, "active", "base", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.View(ctx, "view", "base", nil); err != nil {
		t.Fatal(err)
	}
	check := func(what string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", what, err, want)
		}
	}
	_, err := s.Prepare(ctx, "active", "", nil)
	check("Prepare of an existing key", err, snapshot.ErrAlreadyExists)
	_, err = s.View(ctx, "base", "", nil)
	check("View over a committed name", err, snapshot.ErrAlreadyExists)
	_, err = s.Prepare(ctx, "x", "missing", nil)
	check("Prepare on a missing parent", err, snapshot.ErrNotFound)
	_, err = s.Prepare(ctx, "x", "active", nil)
	check("Prepare on an active parent", err, snapshot.ErrFailedPrecondition)
	_, err = s.View(ctx, "x", "view", nil)
	check("View on a view", err, snapshot.ErrFailedPrecondition)
	check("Commit of a view", s.Commit(ctx, "x", "view", nil), snapshot.ErrFailedPrecondition)
	check("Commit of a committed", s.Commit(ctx, "x", "base", nil), snapshot.ErrFailedPrecondition)
	check("Commit onto an existing name", s.Commit(ctx, "base", "active", nil), snapshot.ErrAlreadyExists)
	check("Commit of a missing key", s.Commit(ctx, "x", "missing", nil), snapshot.ErrNotFound)
	_, err = s.Stat(ctx, "missing")
	check("Stat of a missing key", err, snapshot.ErrNotFound)
	_, err = s.Mounts(ctx, "missing")
	check("Mounts of a missing key", err, snapshot.ErrNotFound)
	_, err = s.Mounts(ctx, "base")
	check("Mounts of a committed", err, snapshot.ErrFailedPrecondition)
	_, _, err = s.UpperDir(ctx, "view")
	check("UpperDir of a view", err, snapshot.ErrFailedPrecondition)
	_, err = s.Usage(ctx, "missing")
	check("Usage of a missing key", err, snapshot.ErrNotFound)
	check("Remove of a missing key", s.Remove(ctx, "missing"), snapshot.ErrNotFound)
	check("Remove of a parent", s.Remove(ctx, "base"), snapshot.ErrFailedPrecondition)
	if _, err := s.Stat(ctx, "base"); err != nil {
		t.Errorf("refused Remove removed base: %v", err)
	}
	// The failed calls changed nothing.
	var names []string
	s.Walk(ctx, func(info snapshot.Info) error { names = append(names, info.Name); return nil })
	if fmt.Sprint(names) != "[active base view]" {
		t.Errorf("snapshots after failed calls: %v", names)
	}
}

func testWalkAndLabels(t *testing.T, newSnapshotter NewFunc) {
	ctx := context.Background()
	s, _ := open(t, newSnapshotter)
	if _, err := s.Prepare(ctx, "b-active", "", map[string]string{"stage": "prepare"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "b", "b-active", map[string]string{"chain": "sha256:b"}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"role": "container"}
	if _, err := s.Prepare(ctx, "c", "b", labels); err != nil {
		t.Fatal(err)
	}
	labels["role"] = "changed by the caller"
	if _, err := s.View(ctx, "a", "b", nil); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := s.Walk(ctx, func(info snapshot.Info) error {
		got = append(got, fmt.Sprintf("%s/%s/%v/%v", info.Name, info.Parent, info.Kind, info.Labels))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a/b/View/map[]", "b//Committed/map[chain:sha256:b]", "c/b/Active/map[role:container]"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Walk:\n got %v\nwant %v", got, want)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.Walk(ctx, func(snapshot.Info) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("Walk did not stop at the first error: %v after %d calls", err, n)
	}
}

func testUsage(t *testing.T, newSnapshotter NewFunc) {
	ctx := context.Background()
	s, _ := open(t, newSnapshotter)
	mounts, err := s.Prepare(ctx, "active", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	target := mountAt(t, mounts)
	writeFile(t, filepath.Join(target, "dir/big"), strings.Repeat("x", 1<<20))
	u, err := s.Usage(ctx, "active")
	if err != nil {
		t.Fatal(err)
	}
	if u.Size < 1<<20 || u.Inodes < 2 {
		t.Errorf("active usage %+v, want >= 1 MiB and >= 2 inodes", u)
	}
	unmount(t, target)
	if err := s.Commit(ctx, "layer", "active", nil); err != nil {
		t.Fatal(err)
	}
	cu, err := s.Usage(ctx, "layer")
	if err != nil {
		t.Fatal(err)
	}
	if cu.Size < 1<<20 || cu.Inodes != u.Inodes {
		t.Errorf("committed usage %+v, active was %+v", cu, u)
	}
}

func testRemoveChain(t *testing.T, newSnapshotter NewFunc) {
	ctx := context.Background()
	s, root := open(t, newSnapshotter)
	commitLayer(t, s, "l1", "", entry{"a", "1"})
	commitLayer(t, s, "l2", "l1", entry{"b", "2"})
	if _, err := s.View(ctx, "v", "l2", nil); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"l1", "l2"} {
		if err := s.Remove(ctx, key); !errors.Is(err, snapshot.ErrFailedPrecondition) {
			t.Errorf("Remove(%s) with children: %v", key, err)
		}
	}
	for _, key := range []string{"v", "l2", "l1"} {
		if err := s.Remove(ctx, key); err != nil {
			t.Fatalf("Remove(%s): %v", key, err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, snapshot.ErrNotFound) {
			t.Errorf("Stat(%s) after Remove: %v", key, err)
		}
	}
	// Nothing is left on disk but the snapshotter's own bookkeeping.
	var leftovers []string
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() && !strings.HasPrefix(filepath.Base(p), "metadata") {
			leftovers = append(leftovers, p)
		}
		return nil
	})
	if len(leftovers) > 0 {
		t.Errorf("files left after removing everything: %v", leftovers)
	}
}

// testLayerStack stacks three layers with a whiteout and an opaque
// directory and checks the tree through the mounts.
func testLayerStack(t *testing.T, newSnapshotter NewFunc) {
	ctx := context.Background()
	s, _ := open(t, newSnapshotter)
	commitLayer(t, s, "l1", "",
		entry{"etc/", ""}, entry{"etc/passwd", "root"}, entry{"etc/group", "root"},
		entry{"var/", ""}, entry{"var/cache/", ""}, entry{"var/cache/old1", "1"}, entry{"var/cache/old2", "2"},
		entry{"tmp/", ""}, entry{"tmp/junk", "junk"})
	commitLayer(t, s, "l2", "l1",
		entry{"etc/.wh.group", ""},
		entry{"var/cache/", ""}, entry{"var/cache/.wh..wh..opq", ""}, entry{"var/cache/new", "new"},
		entry{".wh.tmp", ""}, entry{"etc/motd", "hello"})
	commitLayer(t, s, "l3", "l2",
		entry{"etc/passwd", "root\nuser"}, entry{"tmp/", ""}, entry{"tmp/fresh", "fresh"})

	check := func(t *testing.T, dir string) {
		t.Helper()
		want := map[string]string{"etc": "[motd passwd]", "var/cache": "[new]", "tmp": "[fresh]", ".": "[etc tmp var]"}
		for d, names := range want {
			if got := fmt.Sprint(listDir(t, filepath.Join(dir, d))); got != names {
				t.Errorf("%s has %s, want %s", d, got, names)
			}
		}
		if got := readFile(t, filepath.Join(dir, "etc/passwd")); got != "root\nuser" {
			t.Errorf("etc/passwd = %q", got)
		}
	}
	mounts, err := s.View(ctx, "view", "l3", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("View", func(t *testing.T) { check(t, mountAt(t, mounts)) })
	mounts, err = s.Prepare(ctx, "rw", "l3", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("Active", func(t *testing.T) {
		dir := mountAt(t, mounts)
		check(t, dir)
		if err := os.Remove(filepath.Join(dir, "etc/motd")); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "var/cache/old1"), "back")
		if got := fmt.Sprint(listDir(t, filepath.Join(dir, "etc"))); got != "[passwd]" {
			t.Errorf("etc after rm has %s", got)
		}
	})
	// The middle layer alone.
	mounts, err = s.View(ctx, "view2", "l2", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("Middle", func(t *testing.T) {
		dir := mountAt(t, mounts)
		if got := fmt.Sprint(listDir(t, dir)); got != "[etc var]" {
			t.Errorf("l2 root has %s", got)
		}
		if got := readFile(t, filepath.Join(dir, "etc/passwd")); got != "root" {
			t.Errorf("l2 etc/passwd = %q", got)
		}
	})
}

// testParentDirMetadata checks that a layer writing into a directory of
// a lower layer, without an entry for the directory itself, keeps the
// directory's mode and owner.
func testParentDirMetadata(t *testing.T, newSnapshotter NewFunc) {
	ctx := context.Background()
	s, _ := open(t, newSnapshotter)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, hdr := range []*tar.Header{
		{Name: "home/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "home/user/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 1000, Gid: 1001},
		{Name: "home/user/a", Typeflag: tar.TypeReg, Mode: 0o600, Uid: 1000, Gid: 1001},
	} {
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	commitTar(t, s, "l1", "", buf.Bytes())
	commitLayer(t, s, "l2", "l1", entry{"home/user/b", "b"}, entry{"home/user/.wh.a", ""})
	mounts, err := s.View(ctx, "view", "l2", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := mountAt(t, mounts)
	if got := fmt.Sprint(listDir(t, filepath.Join(dir, "home/user"))); got != "[b]" {
		t.Errorf("home/user has %s", got)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(dir, "home/user"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode != unix.S_IFDIR|0o750 || st.Uid != 1000 || st.Gid != 1001 {
		t.Errorf("home/user: mode %o owner %d:%d, want the lower layer's 40750 1000:1001", st.Mode, st.Uid, st.Gid)
	}
}

// contents maps each path under dir to its type, mode and content.
func contents(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		desc := info.Mode().String()
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += " " + string(b)
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// testDiffCommit changes a container's snapshot through its mounts, turns
// the change into a layer with archive.Diff, and checks that the layer
// applied on the same parent reproduces the container's tree.
func testDiffCommit(t *testing.T, newSnapshotter NewFunc) {
	ctx := context.Background()
	s, _ := open(t, newSnapshotter)
	commitLayer(t, s, "base", "",
		entry{"etc/", ""}, entry{"etc/passwd", "root"}, entry{"etc/skel/", ""}, entry{"etc/skel/.profile", "p"},
		entry{"bin/", ""}, entry{"bin/sh", "sh"}, entry{"var/", ""}, entry{"var/log/", ""}, entry{"var/log/old", "old"})
	mounts, err := s.Prepare(ctx, "container", "base", nil)
	if err != nil {
		t.Fatal(err)
	}
	rootfs := mountAt(t, mounts)
	writeFile(t, filepath.Join(rootfs, "etc/passwd"), "root\nuser")
	writeFile(t, filepath.Join(rootfs, "home/user/.bashrc"), "rc")
	for _, p := range []string{"etc/skel", "var/log/old"} {
		if err := os.RemoveAll(filepath.Join(rootfs, p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(rootfs, "bin/sh"), 0o4755); err != nil {
		t.Fatal(err)
	}
	// Replace a directory of the parent with a new one of the same name.
	if err := os.RemoveAll(filepath.Join(rootfs, "var/log")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(rootfs, "var/log/new"), "new")
	want := contents(t, rootfs)
	unmount(t, rootfs)

	upper, overlay, err := s.UpperDir(ctx, "container")
	if err != nil {
		t.Fatal(err)
	}
	lower := ""
	if !overlay {
		mounts, err := s.View(ctx, "base-view", "base", nil)
		if err != nil {
			t.Fatal(err)
		}
		lower = mountAt(t, mounts)
	}
	var layer bytes.Buffer
	if err := archive.Diff(ctx, lower, upper, &layer, archive.DiffOptions{UpperIsOverlay: overlay}); err != nil {
		t.Fatalf("Diff: %v", err)
	}
	commitTar(t, s, "committed", "base", layer.Bytes())
	mounts, err = s.View(ctx, "check", "committed", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := contents(t, mountAt(t, mounts))
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("committed layer shows\n%v\nthe container had\n%v", got, want)
	}
}

// testManyLayers mounts a stack of 130 layers: more lower dirs than fit in
// the page that mount(2) takes for options.
func testManyLayers(t *testing.T, newSnapshotter NewFunc) {
	ctx := context.Background()
	s, _ := open(t, newSnapshotter)
	const layers = 130
	parent := ""
	for i := range layers {
		name := fmt.Sprintf("sha256:%064d", i) // chain-ID-like names
		commitLayer(t, s, name, parent, entry{fmt.Sprintf("f%03d", i), fmt.Sprint(i)}, entry{"top", fmt.Sprint(i)})
		parent = name
	}
	check := func(t *testing.T, mounts []mount.Mount) {
		dir := mountAt(t, mounts)
		names := listDir(t, dir)
		if len(names) != layers+1 || names[0] != "f000" || names[layers-1] != fmt.Sprintf("f%03d", layers-1) {
			t.Errorf("%d entries: %v...", len(names), names[:min(3, len(names))])
		}
		if got := readFile(t, filepath.Join(dir, "top")); got != fmt.Sprint(layers-1) {
			t.Errorf("top = %q, want the newest layer's", got)
		}
	}
	mounts, err := s.Prepare(ctx, "rw", parent, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("Active", func(t *testing.T) { check(t, mounts) })
	mounts, err = s.View(ctx, "ro", parent, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("View", func(t *testing.T) { check(t, mounts) })
}

func testReopen(t *testing.T, newSnapshotter NewFunc) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "snapshots")
	s := newSnapshotter(t, root)
	commitLayer(t, s, "base", "", entry{"f", "base"})
	if _, err := s.Prepare(ctx, "active", "base", map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	dir, _, err := s.UpperDir(ctx, "active")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "g"), "written before reopen")
	var before []snapshot.Info
	s.Walk(ctx, func(i snapshot.Info) error { before = append(before, i); return nil })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = newSnapshotter(t, root)
	t.Cleanup(func() { s.Close() })
	var after []snapshot.Info
	s.Walk(ctx, func(i snapshot.Info) error { after = append(after, i); return nil })
	if len(before) != 2 || len(after) != len(before) {
		t.Fatalf("before reopen %v, after %v", before, after)
	}
	for i := range before {
		b, a := before[i], after[i]
		if a.Name != b.Name || a.Parent != b.Parent || a.Kind != b.Kind || fmt.Sprint(a.Labels) != fmt.Sprint(b.Labels) ||
			!a.Created.Equal(b.Created) || !a.Updated.Equal(b.Updated) {
			t.Errorf("snapshot changed over reopen: %+v -> %+v", b, a)
		}
	}
	mounts, err := s.Mounts(ctx, "active")
	if err != nil {
		t.Fatal(err)
	}
	target := mountAt(t, mounts)
	if readFile(t, filepath.Join(target, "f")) != "base" || readFile(t, filepath.Join(target, "g")) != "written before reopen" {
		t.Errorf("contents lost over reopen")
	}
	unmount(t, target)
	if err := s.Commit(ctx, "next", "active", nil); err != nil {
		t.Fatal(err)
	}
	// New snapshots after reopen get fresh storage.
	commitLayer(t, s, "other", "", entry{"h", "other"})
	mounts, err = s.View(ctx, "v", "next", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(listDir(t, mountAt(t, mounts))); got != "[f g]" {
		t.Errorf("next has %s", got)
	}
}

// testConcurrentInstances uses one root from two snapshotter instances at
// once, as two processes would.
func testConcurrentInstances(t *testing.T, newSnapshotter NewFunc) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "snapshots")
	s1 := newSnapshotter(t, root)
	t.Cleanup(func() { s1.Close() })
	commitLayer(t, s1, "base", "", entry{"f", "base"})
	s2 := newSnapshotter(t, root)
	t.Cleanup(func() { s2.Close() })

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		s := s1
		if i%2 == 1 {
			s = s2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Prepare(ctx, fmt.Sprintf("c%02d", i), "base", nil); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	dirs := map[string]string{}
	n := 0
	s1.Walk(ctx, func(info snapshot.Info) error {
		n++
		if info.Kind != snapshot.KindActive {
			return nil
		}
		dir, _, err := s2.UpperDir(ctx, info.Name)
		if err != nil {
			t.Error(err)
		}
		if other, ok := dirs[dir]; ok {
			t.Errorf("%s and %s share %s", other, info.Name, dir)
		}
		dirs[dir] = info.Name
		return nil
	})
	if n != 21 {
		t.Errorf("%d snapshots, want 21", n)
	}
}

// testReadOnlyMounts: a read-only view of an active snapshot, mounted
// while the snapshot itself is mounted writable, shows its parents and
// its own changes; ParentDir (full-copy snapshotters) shows the parent.
func testReadOnlyMounts(t *testing.T, newSnapshotter NewFunc) {
	ctx := context.Background()
	s, _ := open(t, newSnapshotter)
	commitLayer(t, s, "base", "", entry{"etc/", ""}, entry{"etc/base", "base"})
	mounts, err := s.Prepare(ctx, "container", "base", nil)
	if err != nil {
		t.Fatal(err)
	}
	rw := mountAt(t, mounts)
	writeFile(t, filepath.Join(rw, "etc/new"), "new")
	ro, err := snapshot.ReadOnlyMounts(ctx, s, "container")
	if err != nil {
		t.Fatal(err)
	}
	view := mountAt(t, ro)
	if got := readFile(t, filepath.Join(view, "etc/base")); got != "base" {
		t.Errorf("etc/base in the read-only view: %q", got)
	}
	if got := readFile(t, filepath.Join(view, "etc/new")); got != "new" {
		t.Errorf("etc/new in the read-only view: %q", got)
	}
	if err := os.WriteFile(filepath.Join(view, "etc/other"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("write into the read-only view: %v, want EROFS", err)
	}
	if _, err := snapshot.ReadOnlyMounts(ctx, s, "base"); !errors.Is(err, snapshot.ErrFailedPrecondition) {
		t.Errorf("read-only mounts of a committed snapshot: %v", err)
	}
	dir, err := snapshot.ParentDir(ctx, s, "container")
	if err != nil {
		t.Fatal(err)
	}
	if dir != "" {
		if got := readFile(t, filepath.Join(dir, "etc/base")); got != "base" {
			t.Errorf("parent dir: etc/base %q", got)
		}
		if _, err := os.Stat(filepath.Join(dir, "etc/new")); err == nil {
			t.Errorf("parent dir has the child's new file")
		}
	}
}

// testReparent: a layer unpacked into a parentless snapshot and then
// given its parent shows the parent's files under its own.
func testReparent(t *testing.T, newSnapshotter NewFunc) {
	ctx := context.Background()
	s, _ := open(t, newSnapshotter)
	commitLayer(t, s, "base", "", entry{"etc/", ""}, entry{"etc/base", "base"})
	if _, err := s.Prepare(ctx, "early", "", nil); err != nil {
		t.Fatal(err)
	}
	if !snapshot.CanReparent(s) {
		if err := snapshot.Reparent(ctx, s, "early", "base"); !errors.Is(err, snapshot.ErrFailedPrecondition) {
			t.Fatalf("Reparent where unsupported: %v", err)
		}
		return
	}
	dir, _, err := s.UpperDir(ctx, "early")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "etc/early"), "early")
	if err := snapshot.Reparent(ctx, s, "early", "base"); err != nil {
		t.Fatal(err)
	}
	if info, err := s.Stat(ctx, "early"); err != nil || info.Parent != "base" {
		t.Fatalf("Stat after Reparent: %+v, %v", info, err)
	}
	if err := s.Commit(ctx, "layer2", "early", nil); err != nil {
		t.Fatal(err)
	}
	mounts, err := s.View(ctx, "view", "layer2", nil)
	if err != nil {
		t.Fatal(err)
	}
	view := mountAt(t, mounts)
	if got := listDir(t, filepath.Join(view, "etc")); fmt.Sprint(got) != "[base early]" {
		t.Errorf("etc after reparenting: %v", got)
	}
	if err := snapshot.Reparent(ctx, s, "layer2", ""); !errors.Is(err, snapshot.ErrFailedPrecondition) {
		t.Errorf("Reparent of a committed snapshot: %v", err)
	}
	if _, err := s.Prepare(ctx, "child-holder", "", nil); err != nil {
		t.Fatal(err)
	}
	if err := snapshot.Reparent(ctx, s, "child-holder", "missing"); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("Reparent onto a missing parent: %v", err)
	}
}
