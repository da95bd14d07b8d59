// Package hugetext keeps berth's executable in the page cache in huge
// pages.
//
// Every berth command starts the whole 17 MB binary. How its file sits in
// the page cache decides how many page faults that start takes: read back
// after a reboot, or written by the Go linker, the text and read-only data
// are small pages, mapped sixteen at a time by ~160 faults; in 2 MB folios
// they are mapped by one PMD per 2 MB chunk. The difference is 0.3–0.5 ms
// per start here, and 0.6–1 ms per container in runtime-lifecycle
// (docs/ARCHITECTURE.md).
//
// Exit checks, at the end of a command, whether the chunks of the
// executable this process touched are mapped huge (PAGEMAP_SCAN, Linux
// 6.7+). When they are not, it execs the first stage's hugetext mode in
// place of the exiting process, so that no page of the binary stays mapped
// by it: that drops the small pages nobody maps and reads them back through
// a MADV_HUGEPAGE mapping, whose readahead makes 2 MB folios, and exits
// with the command's exit code. This costs one berth command 30–70 ms once
// per boot or install; a file per binary in /run/berth/hugetext limits
// attempts to one a minute (another process may map the old pages) and
// records a filesystem without large folios, which is not tried again.
package hugetext

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/runtime/nsexec"
)

const (
	chunk = 2 << 20

	// PAGEMAP_SCAN (linux/fs.h): _IOWR('f', 16, struct pm_scan_arg).
	pagemapScan   = 0xC0606610
	pageIsPresent = 1 << 3
	pageIsHuge    = 1 << 6

	// MarkerDir holds one file per binary (device, inode, change time)
	// that berth tried to put in huge pages: "STATE UNIXTIME", the state
	// ("tried", or "unsupported", which the stage writes over it) padded
	// to eleven bytes.
	MarkerDir  = "/run/berth/hugetext"
	retryAfter = time.Minute
)

type scanArg struct {
	size, flags, start, end, walkEnd, vec, vecLen, maxPages       uint64
	categoryInverted, categoryMask, categoryAnyofMask, returnMask uint64
}

type pageRegion struct {
	start, end, categories uint64
}

// Exit ends the process with code. When the executable's text is not in
// huge pages and may be put there, the process becomes the first stage's
// hugetext mode first, which exits with code.
func Exit(code int) {
	if os.Geteuid() == 0 {
		if ok, err := Huge(); err == nil && !ok {
			repair(code)
		}
	}
	os.Exit(code)
}

// Restart is called by a starting daemon: when the executable's text is
// not in huge pages and may be put there, the process becomes the first
// stage's hugetext mode, which execs this binary again with the same
// arguments and environment once the page cache holds it in huge pages.
// It returns when it does not.
func Restart() {
	if os.Geteuid() == 0 {
		if ok, err := Huge(); err == nil && !ok {
			repair(1, os.Args...)
		}
	}
}

// Chunks returns the whole 2 MB chunks of the executable's read-only
// segments (text and read-only data), which the kernel can map with one
// PMD each.
func Chunks() ([][2]uint64, error) {
	auxv, err := unix.Auxv()
	if err != nil {
		return nil, err
	}
	var phdr, phnum uint64
	for _, kv := range auxv {
		switch kv[0] {
		case 3: // AT_PHDR
			phdr = uint64(kv[1])
		case 5: // AT_PHNUM
			phnum = uint64(kv[1])
		}
	}
	if phdr == 0 || phnum == 0 || phnum > 64 {
		return nil, errors.New("no program headers in the auxiliary vector")
	}
	// Elf64_Phdr: type, flags, offset, vaddr, paddr, filesz, memsz, align.
	type elfPhdr struct {
		typ, flags                                 uint32
		offset, vaddr, paddr, filesz, memsz, align uint64
	}
	headers := make([]*elfPhdr, phnum)
	for i := range headers {
		// The program headers are in the executable's first segment,
		// mapped for the process's life, outside the Go heap.
		addr := uintptr(phdr + uint64(i)*uint64(unsafe.Sizeof(elfPhdr{})))
		headers[i] = *(**elfPhdr)(unsafe.Pointer(&addr))
	}
	const ptLoad, ptPhdr, pfW = 1, 6, 2
	var bias uint64 // where a position-independent executable was loaded
	for _, p := range headers {
		if p.typ == ptPhdr {
			bias = phdr - p.vaddr
		}
	}
	var out [][2]uint64
	for _, p := range headers {
		start := p.vaddr + bias
		if p.typ != ptLoad || p.flags&pfW != 0 || (start-p.offset)%chunk != 0 {
			continue
		}
		for c := (start + chunk - 1) &^ (chunk - 1); c+chunk <= start+p.filesz; c += chunk {
			out = append(out, [2]uint64{c, c + chunk})
		}
	}
	return out, nil
}

// Huge reports whether every chunk of Chunks that this process has
// touched is mapped by a huge page (true when none is touched). It fails
// on kernels without PAGEMAP_SCAN.
func Huge() (bool, error) {
	chunks, err := Chunks()
	if err != nil || len(chunks) == 0 {
		return true, err
	}
	regions, err := scan(chunks[0][0], chunks[len(chunks)-1][1], pageIsPresent, pageIsPresent|pageIsHuge)
	if err != nil {
		return false, err
	}
	for _, r := range regions {
		if r.categories&pageIsHuge != 0 {
			continue
		}
		for _, c := range chunks {
			if r.start < c[1] && c[0] < r.end {
				return false, nil
			}
		}
	}
	return true, nil
}

// scan returns the regions of this process's pages in [start, end) that
// have every category of mask, with their categories of ret
// (PAGEMAP_SCAN).
func scan(start, end, mask, ret uint64) ([]pageRegion, error) {
	// Not os.Open: this runs at the end of every command, and a first
	// os.Open sets up the Go runtime's poller.
	fd, err := unix.Open("/proc/self/pagemap", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: "/proc/self/pagemap", Err: err}
	}
	defer unix.Close(fd)
	vec := make([]pageRegion, 256)
	arg := scanArg{
		start:        start,
		end:          end,
		vec:          uint64(uintptr(unsafe.Pointer(&vec[0]))),
		vecLen:       uint64(len(vec)),
		categoryMask: mask,
		returnMask:   ret,
	}
	arg.size = uint64(unsafe.Sizeof(arg))
	n, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), pagemapScan, uintptr(unsafe.Pointer(&arg)))
	if errno != 0 {
		return nil, fmt.Errorf("PAGEMAP_SCAN: %w", errno)
	}
	return vec[:n], nil
}

// repair execs the first stage's hugetext mode unless the marker says not
// to; it returns only when it did not. The stage exits with code, or execs
// the binary again with again.
func repair(code int, again ...string) {
	exe, err := os.Open("/proc/self/exe")
	if err != nil {
		return
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(exe.Fd()), &st); err != nil {
		exe.Close()
		return
	}
	marker, ok := claim(MarkerDir, markerKey(&st), time.Now())
	if !ok {
		exe.Close()
		return
	}
	stage, err := nsexec.Stage()
	if err != nil {
		exe.Close()
		marker.Close()
		return
	}
	// The stage's handles must survive the exec; the stage itself is
	// executed through its descriptor.
	defer exe.Close()
	defer marker.Close()
	for _, f := range []*os.File{exe, marker} {
		if _, err := unix.FcntlInt(f.Fd(), unix.F_SETFD, 0); err != nil {
			return
		}
	}
	argv := append([]string{"berth:hugetext", "hugetext", strconv.Itoa(int(exe.Fd())), strconv.Itoa(int(marker.Fd())), strconv.Itoa(code)}, again...)
	env := []string(nil)
	if len(again) > 0 {
		env = os.Environ()
	}
	_ = unix.Exec(fmt.Sprintf("/proc/self/fd/%d", stage.Fd()), argv, env)
}

// MarkerFile returns the file in MarkerDir that records attempts on the
// binary at path.
func MarkerFile(path string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "", &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return filepath.Join(MarkerDir, markerKey(&st)), nil
}

// markerKey names a binary by device, inode and change time, so that a
// new file on a reused inode is a new binary.
func markerKey(st *unix.Stat_t) string {
	return fmt.Sprintf("%d-%d-%d.%09d", st.Dev, st.Ino, st.Ctim.Sec, st.Ctim.Nsec)
}

// claim records an attempt on the binary key at now in its file in dir
// and returns that file open for the stage, unless the file holds an
// attempt younger than retryAfter or says the binary's filesystem cannot.
func claim(dir, key string, now time.Time) (*os.File, bool) {
	path := filepath.Join(dir, key)
	if b, err := os.ReadFile(path); err == nil {
		f := strings.Fields(string(b))
		if len(f) == 2 {
			t, _ := strconv.ParseInt(f[1], 10, 64)
			if f[0] == "unsupported" || now.Sub(time.Unix(t, 0)) < retryAfter {
				return nil, false
			}
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, false
	}
	if _, err := fmt.Fprintf(f, "%-11s %d\n", "tried", now.Unix()); err != nil {
		f.Close()
		return nil, false
	}
	return f, true
}
