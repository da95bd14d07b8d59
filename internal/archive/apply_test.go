package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

func TestApplyEntryTypes(t *testing.T) {
	root := t.TempDir()
	dirTime := time.Date(2019, 5, 6, 7, 8, 9, 0, time.UTC)
	d := dir("usr")
	d.mtime = dirTime
	d.mode = 0o1775
	suid := file("usr/su", "#!/bin/sh\n")
	suid.mode, suid.uid, suid.gid = 0o4755, 1000, 1001
	xf := file("usr/x", "x")
	xf.xattrs = map[string]string{"user.test": "value", "trusted.overlay.opaque": "y"}
	mustApply(t, root, false,
		d, suid, xf,
		symlink("usr/link", "/usr/su"),
		hardlink("usr/hard", "usr/su"),
		ent{name: "dev/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3},
		ent{name: "dev/loop9", typ: tar.TypeBlock, mode: 0o660, major: 7, minor: 9, gid: 6},
		ent{name: "run/fifo", typ: tar.TypeFifo, mode: 0o600},
	)
	st := lstatT(t, filepath.Join(root, "usr/su"))
	if st.Mode != unix.S_IFREG|0o4755 || st.Uid != 1000 || st.Gid != 1001 || st.Mtim.Sec != testTime.Unix() {
		t.Errorf("usr/su: mode %o uid %d gid %d mtime %d", st.Mode, st.Uid, st.Gid, st.Mtim.Sec)
	}
	if hs := lstatT(t, filepath.Join(root, "usr/hard")); hs.Ino != st.Ino || hs.Nlink != 2 {
		t.Errorf("usr/hard is not a hardlink of usr/su")
	}
	if ds := lstatT(t, filepath.Join(root, "usr")); ds.Mode != unix.S_IFDIR|0o1775 || ds.Mtim.Sec != dirTime.Unix() {
		t.Errorf("usr: mode %o mtime %v, want dir mtime set after children", ds.Mode, time.Unix(ds.Mtim.Sec, 0))
	}
	if target, err := os.Readlink(filepath.Join(root, "usr/link")); err != nil || target != "/usr/su" {
		t.Errorf("usr/link -> %q, %v", target, err)
	}
	if v, err := getXattr(filepath.Join(root, "usr/x"), "user.test"); err != nil || string(v) != "value" {
		t.Errorf("user.test xattr = %q, %v", v, err)
	}
	if _, err := getXattr(filepath.Join(root, "usr/x"), opaqueXattr); err == nil {
		t.Errorf("overlay xattr from the tar was applied")
	}
	if s := lstatT(t, filepath.Join(root, "dev/null")); s.Mode != unix.S_IFCHR|0o666 || s.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("dev/null: mode %o rdev %d", s.Mode, s.Rdev)
	}
	if s := lstatT(t, filepath.Join(root, "dev/loop9")); s.Mode != unix.S_IFBLK|0o660 || s.Rdev != unix.Mkdev(7, 9) || s.Gid != 6 {
		t.Errorf("dev/loop9: mode %o rdev %d gid %d", s.Mode, s.Rdev, s.Gid)
	}
	if s := lstatT(t, filepath.Join(root, "run/fifo")); s.Mode != unix.S_IFIFO|0o600 {
		t.Errorf("run/fifo: mode %o", s.Mode)
	}
	if s := lstatT(t, filepath.Join(root, "run")); s.Mode != unix.S_IFDIR|0o755 {
		t.Errorf("implicit parent run: mode %o", s.Mode)
	}
}

func TestApplyReplaceTypes(t *testing.T) {
	for _, overlay := range []bool{false, true} {
		t.Run(fmt.Sprint("overlay=", overlay), func(t *testing.T) {
			root := t.TempDir()
			mustApply(t, root, overlay, dir("a"), file("a/x", "x"), file("b", "b"), symlink("c", "a"))
			mustApply(t, root, overlay, file("a", "now a file"), dir("b"), file("b/y", "y"), file("c", "c"))
			if b, err := os.ReadFile(filepath.Join(root, "a")); err != nil || string(b) != "now a file" {
				t.Errorf("a = %q, %v", b, err)
			}
			if b, err := os.ReadFile(filepath.Join(root, "b/y")); err != nil || string(b) != "y" {
				t.Errorf("b/y = %q, %v", b, err)
			}
			if st := lstatT(t, filepath.Join(root, "c")); st.Mode&unix.S_IFMT != unix.S_IFREG {
				t.Errorf("c not replaced by a file")
			}
		})
	}
}

func TestApplyWhiteoutsPlain(t *testing.T) {
	root := t.TempDir()
	mustApply(t, root, false,
		dir("a"), file("a/x", "x"), file("a/y", "y"),
		dir("b"), file("b/z", "z"),
		dir("d"), file("d/old", "old"), dir("d/sub"), file("d/sub/old2", "old2"),
	)
	mustApply(t, root, false,
		file(".wh.b", ""),
		file("a/.wh.x", ""),
		file("d/new", "new"), // before the opaque marker
		dir("d/sub"),
		file("d/.wh..wh..opq", ""),
		file("d/sub/new2", "new2"),
		file("nodir/.wh.gone", ""), // whiteout in a missing dir
		file(".wh..wh.plnk", ""),   // aufs metadata is ignored
	)
	got := describe(t, root)
	for _, p := range []string{"a/x", "b", "b/z", "d/old", "d/sub/old2", "nodir"} {
		if _, ok := got[p]; ok {
			t.Errorf("%s still exists", p)
		}
	}
	for _, p := range []string{"a/y", "d/new", "d/sub", "d/sub/new2"} {
		if _, ok := got[p]; !ok {
			t.Errorf("%s is missing", p)
		}
	}
	for p := range got {
		if filepath.Base(p)[:min(4, len(filepath.Base(p)))] == ".wh." {
			t.Errorf("whiteout entry %s was extracted", p)
		}
	}
}

func TestApplyWhiteoutsOverlay(t *testing.T) {
	upper := t.TempDir()
	mustApply(t, upper, true,
		file(".wh.b", ""),
		file("a/.wh.x", ""),
		dir("d"),
		file("d/.wh..wh..opq", ""),
		file("d/new", "new"),
		file(".wh.e", ""),
		dir("e"), // deleted and recreated: must become opaque
	)
	for _, p := range []string{"b", "a/x"} {
		st := lstatT(t, filepath.Join(upper, p))
		if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
			t.Errorf("%s: mode %o rdev %d, want a 0/0 char device", p, st.Mode, st.Rdev)
		}
	}
	for _, p := range []string{"d", "e"} {
		if v, err := getXattr(filepath.Join(upper, p), opaqueXattr); err != nil || string(v) != "y" {
			t.Errorf("%s: opaque xattr %q, %v", p, v, err)
		}
	}
	if exists(filepath.Join(upper, ".wh.b")) || exists(filepath.Join(upper, "d/.wh..wh..opq")) {
		t.Errorf("whiteout entries extracted as files")
	}
}

func TestDecompress(t *testing.T) {
	layer := makeTar(t, dir("etc"), file("etc/hostname", "berth\n"), file("big", string(bytes.Repeat([]byte("0123456789"), 100000))))
	want := digest.FromBytes(layer)

	var gz bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(layer)
	gw.Close()
	var zs bytes.Buffer
	zw, err := zstd.NewWriter(&zs)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(layer)
	zw.Close()

	for name, blob := range map[string][]byte{"plain": layer, "gzip": gz.Bytes(), "zstd": zs.Bytes()} {
		t.Run(name, func(t *testing.T) {
			if c := DetectCompression(blob); c.String() != map[string]string{"plain": "uncompressed", "gzip": "gzip", "zstd": "zstd"}[name] {
				t.Errorf("DetectCompression = %v", c)
			}
			rc, err := Decompress(bytes.NewReader(blob))
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			root := t.TempDir()
			size, diffID, err := Apply(context.Background(), root, rc, ApplyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if size != int64(len(layer)) || diffID != want {
				t.Errorf("size %d diffID %s, want %d %s", size, diffID, len(layer), want)
			}
			if b, err := os.ReadFile(filepath.Join(root, "etc/hostname")); err != nil || string(b) != "berth\n" {
				t.Errorf("etc/hostname = %q, %v", b, err)
			}
		})
	}
	t.Run("corrupt gzip", func(t *testing.T) {
		rc, err := Decompress(bytes.NewReader(gz.Bytes()[:len(gz.Bytes())/2]))
		if err == nil {
			_, _, err = Apply(context.Background(), t.TempDir(), rc, ApplyOptions{})
			rc.Close()
		}
		if err == nil {
			t.Errorf("truncated gzip layer applied without error")
		}
	})
}

func TestApplyDigestMatchesStream(t *testing.T) {
	layer := makeTar(t, file("a", "a"))
	// Extra zero blocks after the end marker are part of the blob.
	layer = append(layer, make([]byte, 4096)...)
	size, diffID, err := Apply(context.Background(), t.TempDir(), bytes.NewReader(layer), ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(len(layer)) || diffID.Encoded() != fmt.Sprintf("%x", sha256.Sum256(layer)) {
		t.Errorf("size %d digest %s, want %d sha256 of the whole stream", size, diffID, len(layer))
	}
}

func TestApplyCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := Apply(ctx, t.TempDir(), bytes.NewReader(makeTar(t, file("a", "a"))), ApplyOptions{})
	if err == nil {
		t.Errorf("Apply with a canceled context succeeded")
	}
}

func TestApplyOverlayParents(t *testing.T) {
	lower, upper := t.TempDir(), t.TempDir()
	home := dir("home")
	home.mode, home.uid, home.gid = 0o700, 1000, 1000
	home.xattrs = map[string]string{"user.origin": "lower"}
	mustApply(t, lower, false, dir("var"), home, file("home/old", "old"))
	_, _, err := Apply(context.Background(), upper, bytes.NewReader(makeTar(t, file("home/new", "new"), file("home/.wh.old", ""), file("etc/x", "x"))),
		ApplyOptions{Overlay: true, Parents: []string{t.TempDir(), lower}})
	if err != nil {
		t.Fatal(err)
	}
	st := lstatT(t, filepath.Join(upper, "home"))
	if st.Mode != unix.S_IFDIR|0o700 || st.Uid != 1000 || st.Gid != 1000 || st.Mtim.Sec != testTime.Unix() {
		t.Errorf("home in upper: mode %o uid %d gid %d mtime %d; want the lower's", st.Mode, st.Uid, st.Gid, st.Mtim.Sec)
	}
	if v, err := getXattr(filepath.Join(upper, "home"), "user.origin"); err != nil || string(v) != "lower" {
		t.Errorf("home xattr = %q, %v", v, err)
	}
	// Directories no lower has get the defaults.
	if st := lstatT(t, filepath.Join(upper, "etc")); st.Mode != unix.S_IFDIR|0o755 || st.Uid != 0 {
		t.Errorf("etc: mode %o uid %d", st.Mode, st.Uid)
	}
}

func TestApplyOpaqueKeepsOwnLayer(t *testing.T) {
	for _, overlay := range []bool{false, true} {
		t.Run(fmt.Sprint("overlay=", overlay), func(t *testing.T) {
			root := t.TempDir()
			if !overlay {
				mustApply(t, root, false, dir("d"), file("d/old", "old"), dir("d/sub"), file("d/sub/old", "old"), file("keep", "lower"))
			}
			mustApply(t, root, overlay,
				file("d/sub/new", "new"), // parents created implicitly
				file("d/.wh..wh..opq", ""),
				file("own", "own"),
				file(".wh.own", ""), // same-layer whiteouts hide nothing of their layer
			)
			got := describe(t, root)
			for _, p := range []string{"d/sub/new", "own"} {
				if _, ok := got[p]; !ok {
					t.Errorf("%s was removed", p)
				}
			}
			if !overlay {
				for _, p := range []string{"d/old", "d/sub/old"} {
					if _, ok := got[p]; ok {
						t.Errorf("%s survived the opaque marker", p)
					}
				}
			}
		})
	}
}

// TestFixImplicitDirs: applying a layer without its parents and fixing
// the implicit directories afterwards gives what applying it with them
// gives.
func TestFixImplicitDirs(t *testing.T) {
	start := time.Now().Unix()
	lower, withParents, later := t.TempDir(), t.TempDir(), t.TempDir()
	home := dir("home")
	home.mode, home.uid, home.gid = 0o700, 1000, 1000
	home.xattrs = map[string]string{"user.origin": "lower"}
	mustApply(t, lower, false, dir("var"), home, dir("home/sub"), file("home/old", "old"))
	layer := makeTar(t, file("home/new", "new"), file("home/.wh.old", ""), file("home/sub/deep/x", "x"),
		file("etc/x", "x"), dir("var"), file("var/y", "y"))
	parents := []string{t.TempDir(), lower}
	if _, _, err := Apply(context.Background(), withParents, bytes.NewReader(layer), ApplyOptions{Overlay: true, Parents: parents}); err != nil {
		t.Fatal(err)
	}
	var implicit []string
	_, d, err := Apply(context.Background(), later, bytes.NewReader(layer), ApplyOptions{Overlay: true, ImplicitDirs: &implicit, NoDigest: true})
	if err != nil {
		t.Fatal(err)
	}
	if d != "" {
		t.Errorf("NoDigest returned digest %s", d)
	}
	want := []string{"etc", "home", "home/sub", "home/sub/deep"}
	if fmt.Sprint(implicit) != fmt.Sprint(want) {
		t.Errorf("implicit dirs %v, want %v", implicit, want)
	}
	if err := FixImplicitDirs(later, implicit, parents); err != nil {
		t.Fatal(err)
	}
	// Entries that neither the layer nor a parent dates (implicit
	// directories, whiteout devices) get the time they were made: the two
	// applies may fall into different seconds.
	diffDescriptions(t, madeSince(describe(t, withParents), start), madeSince(describe(t, later), start))
}

// madeSince replaces mtimes at or after start (the test's own start) by
// "now", so trees made at different moments compare equal.
func madeSince(descs map[string]string, start int64) map[string]string {
	re := regexp.MustCompile(`mtime=(\d+)`)
	out := make(map[string]string, len(descs))
	for k, v := range descs {
		out[k] = re.ReplaceAllStringFunc(v, func(m string) string {
			if sec, err := strconv.ParseInt(m[len("mtime="):], 10, 64); err == nil && sec >= start {
				return "mtime=now"
			}
			return m
		})
	}
	return out
}
