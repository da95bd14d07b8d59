package hello

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Compiler builds the program (gcc assembles and links it).
const Compiler = "gcc"

// Flags make a static ELF without libc, build ID, PIE or padding, so the
// output depends on the source and the toolchain only.
var Flags = []string{
	"-nostdlib", "-nostartfiles", "-static", "-no-pie", "-s",
	"-Wl,--build-id=none", "-Wl,-n", "-Wl,-z,noexecstack", "-Wl,-z,norelro", "-Wl,--hash-style=gnu",
}

// Source is the program's source for this architecture, in dir.
func Source(dir string) string { return filepath.Join(dir, "hello_"+runtime.GOARCH+".S") }

// Binary is the file name of the built program for this architecture.
func Binary() string { return "hello-" + runtime.GOARCH }

// Build assembles and links the program from its source in dir into out,
// and writes the toolchain's version to out + ".compiler".
func Build(dir, out string) error {
	src := Source(dir)
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("no hello program for %s: %w", runtime.GOARCH, err)
	}
	cmd := exec.Command(Compiler, append(append([]string(nil), Flags...), "-o", out, src)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "SOURCE_DATE_EPOCH=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v\n%s", Compiler, err, b)
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
