package hello

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestReproducible: the embedded program is the committed file, and
// `go generate` (Build) makes exactly that file from the source.
func TestReproducible(t *testing.T) {
	if !Available() {
		t.Skipf("no hello program for %s", runtime.GOARCH)
	}
	committed, err := os.ReadFile(Binary())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, program) {
		t.Fatal("the embedded program is not the committed file")
	}
	if _, err := exec.LookPath(Compiler); err != nil {
		t.Skip("no " + Compiler + ": cannot rebuild the program")
	}
	out := filepath.Join(t.TempDir(), Binary())
	if err := Build(".", out); err != nil {
		t.Fatal(err)
	}
	built, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(built, committed) {
		return
	}
	want, _ := os.ReadFile(Binary() + ".compiler")
	have, _ := CompilerVersion()
	if strings.TrimSpace(string(want)) != have {
		t.Skipf("the committed program was built with %q, this toolchain is %q: cannot compare", strings.TrimSpace(string(want)), have)
	}
	t.Fatal("the committed program does not match its source: run go generate ./internal/hello")
}

// TestProgram runs the program: a small static ELF that prints the
// greeting and exits 0.
func TestProgram(t *testing.T) {
	if !Available() {
		t.Skipf("no hello program for %s", runtime.GOARCH)
	}
	if len(program) > 64<<10 || !bytes.HasPrefix(program, []byte("\x7fELF")) {
		t.Fatalf("program: %d bytes, not a small ELF", len(program))
	}
	p := filepath.Join(t.TempDir(), "hello")
	if err := os.WriteFile(p, program, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(p).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "\nHello from berth!\n") {
		t.Fatalf("output: %q", out)
	}
}

// TestLayer: the layer holds /hello and nothing else, the same bytes
// every time.
func TestLayer(t *testing.T) {
	if !Available() {
		t.Skipf("no hello program for %s", runtime.GOARCH)
	}
	l := Layer()
	if !bytes.Equal(l, Layer()) {
		t.Fatal("two layers differ")
	}
	tr := tar.NewReader(bytes.NewReader(l))
	hdr, err := tr.Next()
	if err != nil || hdr.Name != "hello" || hdr.Mode != 0o755 {
		t.Fatalf("first entry: %+v, %v", hdr, err)
	}
	b, _ := io.ReadAll(tr)
	if !bytes.Equal(b, program) {
		t.Fatal("/hello is not the program")
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Fatalf("more than one entry: %v", err)
	}
}
