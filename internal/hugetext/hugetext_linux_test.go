package hugetext

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestClaim(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "markers")
	now := time.Unix(1_800_000_000, 0)
	f, ok := claim(dir, "1-2-3.4", now)
	if !ok {
		t.Fatal("first attempt refused")
	}
	f.Close()
	b, err := os.ReadFile(filepath.Join(dir, "1-2-3.4"))
	if err != nil || string(b) != "tried       1800000000\n" {
		t.Fatalf("marker = %q, %v", b, err)
	}
	if _, ok := claim(dir, "1-2-3.4", now.Add(30*time.Second)); ok {
		t.Error("a second attempt within a minute was allowed")
	}
	f, ok = claim(dir, "9-9-9.9", now.Add(30*time.Second))
	if !ok {
		t.Fatal("another binary was refused")
	}
	f.Close()
	f, ok = claim(dir, "1-2-3.4", now.Add(61*time.Second))
	if !ok {
		t.Fatal("an attempt after a minute was refused")
	}
	// What the stage writes when no chunk became huge.
	if _, err := f.WriteAt([]byte("unsupported"), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, ok := claim(dir, "1-2-3.4", now.Add(time.Hour)); ok {
		t.Error("a binary on a filesystem without large folios was tried again")
	}
}

// The chunks are whole 2 MB chunks of the test binary's read-only
// segments, in its read-only mappings.
func TestChunks(t *testing.T) {
	chunks, err := Chunks()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	maps := selfMaps(t, exe)
	if len(maps) == 0 {
		t.Fatalf("no mapping of %s in /proc/self/maps", exe)
	}
	fi, err := os.Stat(exe)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 8*chunk && len(chunks) == 0 {
		t.Fatalf("no whole 2 MB chunk in a %d-byte binary", fi.Size())
	}
	for _, c := range chunks {
		if c[0]%chunk != 0 || c[1]-c[0] != chunk {
			t.Errorf("chunk %#x-%#x is not an aligned 2 MB chunk", c[0], c[1])
		}
		in := false
		for _, m := range maps {
			if m.start <= c[0] && c[1] <= m.end {
				in = true
				if strings.Contains(m.perms, "w") {
					t.Errorf("chunk %#x-%#x is in a writable mapping %s", c[0], c[1], m.perms)
				}
			}
		}
		if !in {
			t.Errorf("chunk %#x-%#x is not inside one mapping of %s", c[0], c[1], exe)
		}
	}
}

type mapping struct {
	start, end uint64
	perms      string
}

func selfMaps(t *testing.T, exe string) []mapping {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe {
			continue
		}
		lo, hi, _ := strings.Cut(fields[0], "-")
		a, _ := strconv.ParseUint(lo, 16, 64)
		b, _ := strconv.ParseUint(hi, 16, 64)
		out = append(out, mapping{a, b, fields[1]})
	}
	return out
}

// hugeChunks maps path at a 2 MB-aligned address, touches each whole
// chunk and returns how many the kernel mapped with a huge page, which it
// does when the page cache holds that chunk as one 2 MB folio.
func hugeChunks(t *testing.T, path string) (huge, whole int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	whole = int(fi.Size() / chunk)
	length := uintptr(whole) * chunk
	reserve, err := unix.MmapPtr(-1, 0, nil, length+chunk, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.MunmapPtr(reserve, length+chunk)
	base := (uintptr(reserve) + chunk - 1) &^ (chunk - 1)
	// An address inside the reservation, not Go memory.
	hint := *(*unsafe.Pointer)(unsafe.Pointer(&base))
	p, err := unix.MmapPtr(int(f.Fd()), 0, hint, length, unix.PROT_READ, unix.MAP_SHARED|unix.MAP_FIXED)
	if err != nil {
		t.Fatal(err)
	}
	mem := unsafe.Slice((*byte)(p), length)
	for c := 0; c < whole; c++ {
		sink += mem[c*chunk]
	}
	regions, err := scan(uint64(base), uint64(base+length), pageIsHuge, pageIsHuge)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range regions {
		huge += int((r.end - r.start) / chunk)
	}
	return huge, whole
}

// sink keeps the reads that fault pages in.
var sink byte

// smallPages leaves path in the page cache in small pages, as after a
// reboot: written out, dropped, read back by page faults.
func smallPages(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	mem, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(mem); i += 4096 {
		sink += mem[i]
	}
	unix.Munmap(mem)
	if huge, _ := hugeChunks(t, path); huge != 0 {
		t.Fatalf("%s: %d chunks still in huge pages after reading it back by page faults", path, huge)
	}
}

// berthCopy copies $BERTH_BINARY into dir.
func berthCopy(t *testing.T, dir string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	src := os.Getenv("BERTH_BINARY")
	if src == "" {
		t.Skip("needs the berth binary in $BERTH_BINARY (make test sets it)")
	}
	if _, err := scan(0, 4096, pageIsHuge, pageIsHuge); errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL) {
		t.Skipf("the kernel has no PAGEMAP_SCAN: %v", err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	dst := filepath.Join(dir, "berth")
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(markerFile(t, dst)) })
	return dst
}

func markerFile(t *testing.T, path string) string {
	m, err := MarkerFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A berth command whose binary is in small pages ends by putting it in
// huge pages, and still exits with its own status and output.
func TestExitPutsBinaryInHugePages(t *testing.T) {
	dir := t.TempDir()
	berth := berthCopy(t, dir)
	smallPages(t, berth)
	cmd := exec.Command(berth, "runtime", "--root", filepath.Join(dir, "state"), "state", "no-such-container")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v (want status 1); output %q", err, out)
	}
	if want := `berth runtime: error: container "no-such-container": container does not exist`; !strings.Contains(string(out), want) {
		t.Errorf("output %q, want %q", out, want)
	}
	b, err := os.ReadFile(markerFile(t, berth))
	if err != nil {
		t.Fatalf("no attempt recorded: %v", err)
	}
	if strings.HasPrefix(string(b), "unsupported") {
		t.Skipf("%s: the filesystem has no large folios", dir)
	}
	if !strings.HasPrefix(string(b), "tried ") {
		t.Errorf("marker %q", b)
	}
	if huge, whole := hugeChunks(t, berth); huge != whole {
		t.Errorf("%d of %d whole 2 MB chunks in huge pages after a command", huge, whole)
	}

	// A starting daemon does it first, then runs with the same arguments.
	if err := os.Remove(markerFile(t, berth)); err != nil {
		t.Fatal(err)
	}
	smallPages(t, berth)
	cmd = exec.Command(berth, "daemon", "--help")
	out, err = cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Usage of berth daemon") {
		t.Fatalf("daemon --help: %v, output %q", err, out)
	}
	if huge, whole := hugeChunks(t, berth); huge != whole {
		t.Errorf("%d of %d whole 2 MB chunks in huge pages after a daemon start", huge, whole)
	}
}

// On a filesystem without large folios the attempt is recorded as
// unsupported and not made again.
func TestUnsupportedFilesystemIsNotTriedAgain(t *testing.T) {
	dir := t.TempDir()
	if os.Geteuid() == 0 {
		if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "huge=never,size=64m"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	}
	berth := berthCopy(t, dir)
	run := func() {
		out, err := exec.Command(berth, "runtime", "--version").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "berth runtime version") {
			t.Fatalf("runtime --version: %v, output %q", err, out)
		}
	}
	run()
	marker := markerFile(t, berth)
	b, err := os.ReadFile(marker)
	if err != nil || !strings.HasPrefix(string(b), "unsupported ") {
		t.Fatalf("marker %q, %v; want unsupported", b, err)
	}
	// Make the record old: an unsupported filesystem is still not tried.
	old := time.Now().Add(-time.Hour)
	if err := os.WriteFile(marker, fmt.Appendf(nil, "%-11s %d\n", "unsupported", old.Unix()), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(marker)
	run()
	fi2, err := os.Stat(marker)
	if err != nil || !fi2.ModTime().Equal(fi.ModTime()) {
		t.Errorf("the marker was rewritten: %v", err)
	}
}
