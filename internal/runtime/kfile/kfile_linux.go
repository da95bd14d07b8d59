// Package kfile reads and writes the small files of the kernel's pseudo
// file systems (cgroupfs, procfs) with plain system calls. An os.File
// registers such a file with the network poller (cgroupfs files are
// pollable) and switches it to non-blocking mode: four more system calls
// per file, and a container's start touches dozens of them.
package kfile

import (
	"os"

	"golang.org/x/sys/unix"
)

// Read returns the content of the file at path. Errors are *os.PathError,
// as os.ReadFile's.
func Read(path string) ([]byte, error) {
	fd, err := open(path, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// Write writes data to the existing file at path in one write(2), which
// is what cgroupfs expects, truncating it. Errors are *os.PathError.
func Write(path string, data []byte) error {
	fd, err := open(path, unix.O_WRONLY|unix.O_TRUNC)
	if err != nil {
		return err
	}
	for {
		_, err = unix.Write(fd, data)
		if err != unix.EINTR {
			break
		}
	}
	cerr := unix.Close(fd)
	if err != nil {
		return &os.PathError{Op: "write", Path: path, Err: err}
	}
	if cerr != nil {
		return &os.PathError{Op: "close", Path: path, Err: cerr}
	}
	return nil
}

func open(path string, flags int) (int, error) {
	for {
		fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}
