package shim

import (
	_ "embed"
	"fmt"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

//go:generate go run ../staticprog/build -o berth-shim csrc

// shimBinary is berth-shim, built from csrc/ by `go generate` (the test
// TestBinaryIsReproducible checks that it matches its sources).
//
//go:embed berth-shim
var shimBinary []byte

var (
	exeOnce sync.Once
	exePath string
	exeErr  error
)

// executable returns the path to exec berth-shim from: a sealed memfd
// (no writable file that a container process able to reach the shim
// could overwrite for every later shim), kept open for the process's life.
func executable() (string, error) {
	exeOnce.Do(func() {
		fd, err := unix.MemfdCreate("berth-shim", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		if err != nil {
			exeErr = fmt.Errorf("berth-shim: memfd: %w", err)
			return
		}
		// Far from the fds 0-3 a child gets: the exec path names this fd.
		hi, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 100)
		unix.Close(fd)
		if err != nil {
			exeErr = fmt.Errorf("berth-shim: memfd: %w", err)
			return
		}
		fd = hi
		f := os.NewFile(uintptr(fd), "berth-shim")
		if _, err := f.Write(shimBinary); err != nil {
			f.Close()
			exeErr = fmt.Errorf("berth-shim: %w", err)
			return
		}
		seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
			f.Close()
			exeErr = fmt.Errorf("berth-shim: seal memfd: %w", err)
			return
		}
		exePath = "/proc/self/fd/" + strconv.Itoa(fd)
		// f stays open (and referenced) for the process's life.
		keep = f
	})
	return exePath, exeErr
}

var keep *os.File
