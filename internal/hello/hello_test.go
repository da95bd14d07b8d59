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

	"github.com/berth-project/berth/internal/staticprog"
)

// TestReproducible: the embedded program is the committed file, and
// `go generate` makes exactly that file from the source.
func TestReproducible(t *testing.T) {
	if !Available() {
		t.Skipf("no hello program for %s", runtime.GOARCH)
	}
	staticprog.CheckReproducible(t, ".", Binary(), program, func(out string) error {
		return staticprog.Assemble(out, Source("."))
	})
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
