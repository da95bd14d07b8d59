package seccomp

import (
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Actions lists the seccomp actions this package compiles.
func Actions() []string {
	out := make([]string, 0, len(allActions))
	for _, a := range allActions {
		out = append(out, string(a))
	}
	return out
}

// Operators lists the argument comparison operators this package compiles.
func Operators() []string {
	return []string{
		string(specs.OpNotEqual), string(specs.OpLessThan), string(specs.OpLessEqual), string(specs.OpEqualTo),
		string(specs.OpGreaterEqual), string(specs.OpGreaterThan), string(specs.OpMaskedEqual),
	}
}

// Archs lists the architectures this package has syscall tables for.
func Archs() []string {
	var out []string
	for _, a := range []specs.Arch{specs.ArchX86, specs.ArchX86_64, specs.ArchX32, specs.ArchAARCH64} {
		if len(archByName[a].table) > 0 {
			out = append(out, string(a))
		}
	}
	return out
}

// Flags lists the filter flags this package knows.
func Flags() []string {
	out := make([]string, 0, len(knownFlags))
	for _, f := range knownFlags {
		out = append(out, string(f.name))
	}
	return out
}

// SupportedFlags lists the known flags that the running kernel accepts. It
// probes seccomp(2) with a NULL program: a kernel that knows a flag fails
// with EFAULT, one that does not with EINVAL.
func SupportedFlags() []string {
	var out []string
	for _, f := range knownFlags {
		bits := f.bit
		if bits == unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV {
			bits |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER // it is only valid with a listener
		}
		_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, bits, uintptr(unsafe.Pointer(nil)))
		if errno == unix.EFAULT {
			out = append(out, string(f.name))
		}
	}
	return out
}
