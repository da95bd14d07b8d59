package kfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadWrite(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := Write(p, []byte("x")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("write to a missing file: %v (it must exist, as cgroupfs files do)", err)
	}
	big := strings.Repeat("0123456789", 300) // more than one read buffer
	if err := os.WriteFile(p, []byte("old content that is longer"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte(big)); err != nil {
		t.Fatal(err)
	}
	b, err := Read(p)
	if err != nil || string(b) != big {
		t.Fatalf("read back %d bytes (%v), want %d", len(b), err, len(big))
	}
	if _, err := Read(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read of a missing file: %v", err)
	}
	var pe *os.PathError
	if _, err := Read(filepath.Join(p, "under-a-file")); !errors.As(err, &pe) || pe.Op != "open" {
		t.Fatalf("error %v is not an *os.PathError from open", err)
	}
	if b, err := Read("/proc/self/stat"); err != nil || !strings.Contains(string(b), ")") {
		t.Fatalf("procfs: %q %v", b, err)
	}
}
