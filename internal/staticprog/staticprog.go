// Package staticprog builds berth's small static programs: the C ones
// (berth-shim, berth-init), freestanding x86-64 ELF files without libc
// built from the C files of one directory plus csrc/ here (raw syscalls,
// the entry point, the few libc pieces they use), and the hello image's
// program, assembled from one file (Assemble). The built files are
// committed and embedded in berth; `go generate` rebuilds them byte for
// byte, and each program's test checks that with CheckReproducible.
package staticprog

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// CFlags are the compiler flags: no libc, no PIE, no build id or
// compiler ident (the output depends on the sources and the compiler
// only), unused sections dropped, symbols stripped.
var CFlags = []string{
	"-std=gnu11", "-Os", "-static", "-nostdlib", "-nostartfiles", "-ffreestanding",
	"-fno-stack-protector", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables", "-fno-ident",
	"-fno-pie", "-no-pie", "-fno-tree-loop-distribute-patterns", "-ffunction-sections", "-fdata-sections",
	"-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter",
	"-Wl,--gc-sections", "-Wl,--build-id=none", "-Wl,-z,noexecstack", "-Wl,-z,norelro", "-s",
}

// AsmFlags are the flags of Assemble: a static ELF without libc, build
// ID, PIE or padding, so the output depends on the source and the
// toolchain only.
var AsmFlags = []string{
	"-nostdlib", "-nostartfiles", "-static", "-no-pie", "-s",
	"-Wl,--build-id=none", "-Wl,-n", "-Wl,-z,noexecstack", "-Wl,-z,norelro", "-Wl,--hash-style=gnu",
}

// Compiler is the C compiler (and assembler driver) used.
const Compiler = "gcc"

// baseDir is the directory of this package's csrc/, found relative to
// the program's directory (both live under internal/).
func baseDir(progDir string) string {
	return filepath.Join(progDir, "..", "staticprog", "csrc")
}

// Build compiles the C files of srcDir (with staticprog's csrc) into out
// and writes the compiler's version next to it (out + ".compiler").
func Build(out, srcDir string) error {
	if runtime.GOARCH != "amd64" {
		return fmt.Errorf("static C programs are built for amd64 only, not %s", runtime.GOARCH)
	}
	base := baseDir(filepath.Dir(srcDir))
	srcs, err := filepath.Glob(filepath.Join(srcDir, "*.c"))
	if err != nil || len(srcs) == 0 {
		return fmt.Errorf("no C files in %s", srcDir)
	}
	args := append(append([]string(nil), CFlags...), "-I", base, "-I", srcDir, "-o", out, filepath.Join(base, "lib.c"))
	return compile(out, append(args, srcs...))
}

// Assemble assembles and links the program of one assembly file src into
// out and writes the toolchain's version next to it.
func Assemble(out, src string) error {
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("no program for %s: %w", runtime.GOARCH, err)
	}
	return compile(out, append(append([]string(nil), AsmFlags...), "-o", out, src))
}

// compile runs the compiler with args, which write out, and records its
// version in out + ".compiler".
func compile(out string, args []string) error {
	cmd := exec.Command(Compiler, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "SOURCE_DATE_EPOCH=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w\n%s", Compiler, err, b)
	}
	v, err := CompilerVersion()
	if err != nil {
		return err
	}
	return os.WriteFile(out+".compiler", []byte(v+"\n"), 0o644)
}

// CompilerVersion is the first line of `gcc --version`.
func CompilerVersion() (string, error) {
	b, err := exec.Command(Compiler, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", Compiler, err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(line), nil
}

// CheckReproducible checks that the program embedded is the committed
// file (name in dir), that build makes a small static ELF and that it is
// the committed file byte for byte. With another compiler version than
// the one that built the committed file, a difference is only logged.
func CheckReproducible(t *testing.T, dir, name string, embedded []byte, build func(out string) error) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("static C programs are amd64 only")
	}
	if _, err := exec.LookPath(Compiler); err != nil {
		t.Skip("no C compiler: cannot rebuild " + name)
	}
	committed, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, embedded) {
		t.Fatalf("the embedded %s is not the committed file", name)
	}
	out := filepath.Join(t.TempDir(), name)
	if err := build(out); err != nil {
		t.Fatal(err)
	}
	built, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(built, []byte("\x7fELF")) || len(built) > 256<<10 {
		t.Fatalf("%s: built %d bytes, not a small ELF", name, len(built))
	}
	if bytes.Equal(built, committed) {
		return
	}
	want, _ := os.ReadFile(filepath.Join(dir, name+".compiler"))
	have, _ := CompilerVersion()
	if strings.TrimSpace(string(want)) != have {
		t.Logf("%s differs from its sources' build, but it was built with %q and this is %q", name, strings.TrimSpace(string(want)), have)
		return
	}
	pkg, _ := filepath.Abs(dir)
	t.Fatalf("%s does not match its sources: run go generate ./internal/%s", name, filepath.Base(pkg))
}
