package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/mount"
	"golang.org/x/sys/unix"
)

// baseLayer is the lower layer the diff tests change.
func baseLayer() []ent {
	return []ent{
		dir("etc"), file("etc/hostname", "old-host"), file("etc/passwd", "root:x:0:0"),
		dir("etc/skel"), file("etc/skel/.profile", "profile"),
		dir("bin"), file("bin/sh", "shell"), symlink("bin/ash", "sh"),
		dir("var"), dir("var/cache"), file("var/cache/a", "a"), file("var/cache/b", "b"),
		file("replace-me", "file"), dir("dir-to-link"), file("dir-to-link/f", "f"),
		dir("opaque"), file("opaque/old", "old"),
	}
}

// change modifies a tree the way a container would.
func change(t *testing.T, root string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	p := func(rel string) string { return filepath.Join(root, rel) }
	must(os.WriteFile(p("etc/motd"), []byte("hello"), 0o644))
	// Same size, mtime restored to the lower's whole second: only the
	// content tells the change.
	must(os.WriteFile(p("etc/hostname"), []byte("new-host"), 0o644))
	must(os.Chtimes(p("etc/hostname"), testTime, testTime))
	must(os.Chmod(p("etc/passwd"), 0o600))
	must(os.Lchown(p("bin/sh"), 12, 34))
	must(os.RemoveAll(p("etc/skel")))
	must(os.Remove(p("var/cache/a")))
	must(os.Remove(p("replace-me")))
	must(os.Mkdir(p("replace-me"), 0o750))
	must(os.WriteFile(p("replace-me/inside"), []byte("inside"), 0o644))
	must(os.RemoveAll(p("dir-to-link")))
	must(os.Symlink("/etc", p("dir-to-link")))
	must(os.RemoveAll(p("opaque")))
	must(os.Mkdir(p("opaque"), 0o755))
	must(os.WriteFile(p("opaque/new"), []byte("new"), 0o644))
	must(os.MkdirAll(p("usr/local/bin"), 0o755))
	must(os.WriteFile(p("usr/local/bin/tool"), []byte("tool"), 0o755))
	must(os.Link(p("usr/local/bin/tool"), p("usr/local/bin/tool2")))
	must(unix.Lsetxattr(p("usr/local/bin/tool"), "user.tag", []byte("v1"), 0))
	must(unix.Mknod(p("usr/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
}

func diffBytes(t *testing.T, lower, upper string, opts DiffOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Diff(context.Background(), lower, upper, &buf, opts); err != nil {
		t.Fatalf("Diff: %v", err)
	}
	return buf.Bytes()
}

func applyBytes(t *testing.T, root string, layer []byte, overlay bool) {
	t.Helper()
	if _, _, err := Apply(context.Background(), root, bytes.NewReader(layer), ApplyOptions{Overlay: overlay}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func TestDiffPlainRoundTrip(t *testing.T) {
	lower, upper, result := t.TempDir(), t.TempDir(), t.TempDir()
	for _, d := range []string{lower, upper, result} {
		mustApply(t, d, false, baseLayer()...)
	}
	change(t, upper)
	layer := diffBytes(t, lower, upper, DiffOptions{})
	names := tarNames(t, layer)
	for _, n := range []string{"etc/.wh.skel", "var/cache/.wh.a", "etc/hostname", "usr/local/bin/tool2"} {
		if _, ok := names[n]; !ok {
			t.Errorf("diff lacks %s; has %v", n, names)
		}
	}
	for _, n := range []string{"bin/ash", "var/cache/b", "etc/skel/.profile"} {
		if _, ok := names[n]; ok {
			t.Errorf("diff has unchanged or deleted %s", n)
		}
	}
	if names["usr/local/bin/tool2"] != tar.TypeLink {
		t.Errorf("tool2 is not written as a hardlink")
	}
	applyBytes(t, result, layer, false)
	diffDescriptions(t, describe(t, upper), describe(t, result))

	// No changes: an empty layer.
	if n := tarNames(t, diffBytes(t, upper, upper, DiffOptions{})); len(n) != 0 {
		t.Errorf("diff of a tree with itself has entries %v", n)
	}
}

func TestDiffOverlayRoundTrip(t *testing.T) {
	tmp := t.TempDir()
	lower, upper, work, merged, result := filepath.Join(tmp, "lower"), filepath.Join(tmp, "upper"),
		filepath.Join(tmp, "work"), filepath.Join(tmp, "merged"), filepath.Join(tmp, "result")
	for _, d := range []string{lower, upper, work, merged, result} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mustApply(t, lower, false, baseLayer()...)
	mustApply(t, result, false, baseLayer()...)
	m := mount.Mount{Type: "overlay", Source: "overlay", Options: []string{
		"lowerdir=" + lower, "upperdir=" + upper, "workdir=" + work, "index=off"}}
	if err := m.Mount(merged); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mount.UnmountAll(merged) })
	change(t, merged)
	want := describe(t, merged)
	if err := mount.UnmountAll(merged); err != nil {
		t.Fatal(err)
	}
	layer := diffBytes(t, "", upper, DiffOptions{UpperIsOverlay: true})
	names := tarNames(t, layer)
	for _, n := range []string{"etc/.wh.skel", "var/cache/.wh.a", "opaque/.wh..wh..opq", "opaque/new"} {
		if _, ok := names[n]; !ok {
			t.Errorf("diff lacks %s; has %v", n, names)
		}
	}
	applyBytes(t, result, layer, false)
	diffDescriptions(t, want, describe(t, result))

	// The same layer applied as an overlay upper shows the same tree.
	upper2, work2 := filepath.Join(tmp, "upper2"), filepath.Join(tmp, "work2")
	os.Mkdir(upper2, 0o755)
	os.Mkdir(work2, 0o755)
	applyBytes(t, upper2, layer, true)
	m.Options = []string{"lowerdir=" + lower, "upperdir=" + upper2, "workdir=" + work2, "index=off"}
	if err := m.Mount(merged); err != nil {
		t.Fatal(err)
	}
	got := describe(t, merged)
	if err := mount.UnmountAll(merged); err != nil {
		t.Fatal(err)
	}
	// Directory mtimes differ through overlay (whiteouts touch them), the
	// rest must match.
	for _, d := range []string{"etc", "var/cache", "opaque", "usr", "usr/local", "usr/local/bin", "replace-me"} {
		delete(want, d)
		delete(got, d)
	}
	diffDescriptions(t, want, got)
}

func TestDiffReproducible(t *testing.T) {
	epoch := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	var layers [][]byte
	for range 2 {
		lower, upper := t.TempDir(), t.TempDir()
		mustApply(t, lower, false, baseLayer()...)
		mustApply(t, upper, false, baseLayer()...)
		change(t, upper)
		layers = append(layers, diffBytes(t, lower, upper, DiffOptions{SourceDateEpoch: &epoch}))
	}
	if !bytes.Equal(layers[0], layers[1]) {
		t.Errorf("two diffs of the same change differ")
	}
	tr := tar.NewReader(bytes.NewReader(layers[0]))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.ModTime.After(epoch) {
			t.Errorf("%s: mtime %v after SourceDateEpoch", hdr.Name, hdr.ModTime)
		}
	}
}

func TestTarRoundTrip(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	mustApply(t, src, false, baseLayer()...)
	change(t, src)
	var buf bytes.Buffer
	if err := Tar(context.Background(), src, &buf); err != nil {
		t.Fatal(err)
	}
	names := tarNames(t, buf.Bytes())
	if _, ok := names["etc/hostname"]; !ok || len(names) < 10 {
		t.Errorf("tar entries: %v", names)
	}
	applyBytes(t, dst, buf.Bytes(), false)
	diffDescriptions(t, describe(t, src), describe(t, dst))
}

// tarNames returns the entries of a tar by name (directories without the
// trailing slash), checking they are sorted with parents first.
func tarNames(t *testing.T, layer []byte) map[string]byte {
	t.Helper()
	names := map[string]byte{}
	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Clean(hdr.Name)
		if parent := filepath.Dir(name); parent != "." {
			if _, ok := names[parent]; !ok {
				t.Errorf("%s comes before its parent", name)
			}
		}
		names[name] = hdr.Typeflag
	}
}
