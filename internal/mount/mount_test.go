package mount

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func isMountPoint(t *testing.T, p string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == p {
			return true
		}
	}
	return false
}

func cleanupMount(t *testing.T, target string) {
	t.Cleanup(func() {
		if err := UnmountAll(target); err != nil {
			t.Errorf("UnmountAll: %v", err)
		}
	})
}

func TestBindReadOnly(t *testing.T) {
	src, target := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	cleanupMount(t, target)
	if err := (Mount{Type: "bind", Source: src, Options: []string{"ro", "rbind"}}).Mount(target); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(target, "f")); err != nil || string(b) != "data" {
		t.Errorf("read through bind: %q, %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(target, "g"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("write through ro bind: %v, want EROFS", err)
	}
	if err := UnmountAll(target); err != nil {
		t.Fatal(err)
	}
	if isMountPoint(t, target) {
		t.Errorf("still mounted")
	}
	// Idempotent, and fine on a missing path.
	if err := UnmountAll(target); err != nil {
		t.Errorf("second UnmountAll: %v", err)
	}
	if err := UnmountAll(filepath.Join(target, "missing")); err != nil {
		t.Errorf("UnmountAll of a missing path: %v", err)
	}
}

func TestUnmountAllStacked(t *testing.T) {
	target := t.TempDir()
	cleanupMount(t, target)
	for i := range 3 {
		if err := (Mount{Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m", fmt.Sprintf("mode=%o", 0o700+i)}}).Mount(target); err != nil {
			t.Fatal(err)
		}
	}
	// A busy mount (open file) is detached lazily.
	f, err := os.Create(filepath.Join(target, "busy"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := UnmountAll(target); err != nil {
		t.Fatal(err)
	}
	if isMountPoint(t, target) {
		t.Errorf("mounts left on target")
	}
}

func TestAllRollsBack(t *testing.T) {
	target := t.TempDir()
	cleanupMount(t, target)
	err := All([]Mount{
		{Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m"}},
		{Type: "bind", Source: filepath.Join(target, "missing"), Options: []string{"rbind"}},
	}, target)
	if err == nil {
		t.Fatal("All with a failing mount succeeded")
	}
	if isMountPoint(t, target) {
		t.Errorf("the first mount was not undone")
	}
}

// testOverlayManyLowers mounts an overlay with so many long lower dirs that
// its options do not fit in a page.
func testOverlayManyLowers(t *testing.T) {
	base := filepath.Join(t.TempDir(), strings.Repeat("long-directory-name-", 3))
	var lowers []string
	for i := range 130 {
		dir := filepath.Join(base, fmt.Sprintf("layer-%03d", i), "fs")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "top"), []byte(fmt.Sprint(i)), 0o644); err != nil {
			t.Fatal(err)
		}
		lowers = append([]string{dir}, lowers...) // newest first
	}
	upper, work, target := filepath.Join(base, "upper"), filepath.Join(base, "work"), t.TempDir()
	for _, d := range []string{upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m := Mount{Type: "overlay", Source: "overlay", Options: []string{
		"index=off", "workdir=" + work, "upperdir=" + upper, "lowerdir=" + strings.Join(lowers, ":")}}
	if n := len(strings.Join(m.Options, ",")); n <= pageSize {
		t.Fatalf("options are only %d bytes", n)
	}
	cleanupMount(t, target)
	if err := m.Mount(target); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(target)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 131 {
		t.Errorf("%d entries, want 131", len(entries))
	}
	if b, err := os.ReadFile(filepath.Join(target, "top")); err != nil || string(b) != "129" {
		t.Errorf("top = %q, %v; want the newest layer's", b, err)
	}
	if err := os.WriteFile(filepath.Join(target, "new"), nil, 0o644); err != nil {
		t.Errorf("write: %v", err)
	}
	if _, err := os.Stat(filepath.Join(upper, "new")); err != nil {
		t.Errorf("write did not land in the upper dir: %v", err)
	}
	// The process working directory is untouched.
	if wd, err := os.Getwd(); err != nil || strings.HasPrefix(wd, base) {
		t.Errorf("working directory changed to %s, %v", wd, err)
	}
}

func TestOverlayManyLowers(t *testing.T) {
	testOverlayManyLowers(t)
}

func TestOverlayManyLowersLegacy(t *testing.T) {
	forceLegacyOverlay = true
	t.Cleanup(func() { forceLegacyOverlay = false })
	testOverlayManyLowers(t)
}

func TestSplitLowerdirs(t *testing.T) {
	got := splitLowerdirs(`/a:/b\:c:d`)
	if fmt.Sprint(got) != "[/a /b:c d]" {
		t.Errorf("splitLowerdirs = %q", got)
	}
}

func TestRelativeOverlayOptions(t *testing.T) {
	dir, opts := relativeOverlayOptions([]string{"index=off", "lowerdir=/s/snapshots/2/fs:/s/snapshots/1/fs",
		"upperdir=/s/snapshots/3/fs", "workdir=/s/snapshots/3/work"})
	want := "[index=off lowerdir=2/fs:1/fs upperdir=3/fs workdir=3/work]"
	if dir != "/s/snapshots" || fmt.Sprint(opts) != want {
		t.Errorf("got %s %v, want /s/snapshots %s", dir, opts, want)
	}
}
