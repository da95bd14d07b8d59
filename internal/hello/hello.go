// Package hello is berth's built-in "hello" image: a static program of a
// few hundred bytes (hello_<arch>.S, built by `go generate` and embedded
// in the binary) that prints a greeting, in a one-layer image the daemon
// stores on its first start, so `berth run hello` works offline.
package hello

//go:generate go run ./gen

import (
	"archive/tar"
	"bytes"
	"path/filepath"
	"runtime"
	"time"
)

// Name is the image's name.
const Name = "hello:latest"

// Created is the image's creation time, fixed so that the image (and its
// ID) is the same on every machine of an architecture.
var Created = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Cmd is the image's command.
var Cmd = []string{"/hello"}

// Source is the program's source for this architecture, in dir.
func Source(dir string) string { return filepath.Join(dir, "hello_"+runtime.GOARCH+".S") }

// Binary is the file name of the built program for this architecture.
func Binary() string { return "hello-" + runtime.GOARCH }

// Available reports whether this architecture has the program.
func Available() bool { return len(program) > 0 }

// Layer returns the image's only layer: the program at /hello.
func Layer() []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "hello", Mode: 0o755, Size: int64(len(program)), ModTime: Created, Typeflag: tar.TypeReg, Format: tar.FormatUSTAR})
	tw.Write(program)
	tw.Close()
	return buf.Bytes()
}
