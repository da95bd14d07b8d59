package seccomp

import (
	"runtime"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Values of seccomp_data.arch (linux/audit.h).
const (
	auditArchX86_64  = 0xc000003e
	auditArchI386    = 0x40000003
	auditArchAArch64 = 0xc00000b7
	auditArchARM     = 0x40000028
)

// x32SyscallBit is __X32_SYSCALL_BIT: x32 syscalls run under AUDIT_ARCH_X86_64
// with this bit set in the syscall number.
const x32SyscallBit = 0x40000000

// archInfo describes one seccomp architecture (ABI) this package can filter.
type archInfo struct {
	name  specs.Arch
	audit uint32
	table syscallTable
	// is64 reports 64-bit syscall arguments: both halves of an argument are
	// compared. Like libseccomp, x32 (32-bit longs and pointers) counts as 32-bit.
	is64 bool
	// nrBase and nrLimit bound this ABI's syscall numbers under its audit arch:
	// x86_64 and x32 share AUDIT_ARCH_X86_64 and are told apart by x32SyscallBit.
	nrBase, nrLimit uint64

	nrsOnce sync.Once
	nrs     []uint32
}

// numbers returns the sorted syscall numbers of a's table, computed once.
func (a *archInfo) numbers() []uint32 {
	a.nrsOnce.Do(func() { a.nrs = a.table.numbers() })
	return a.nrs
}

var (
	archX86_64  = &archInfo{name: specs.ArchX86_64, audit: auditArchX86_64, table: tableX86_64, is64: true, nrBase: 0, nrLimit: x32SyscallBit}
	archX32     = &archInfo{name: specs.ArchX32, audit: auditArchX86_64, table: tableX32, is64: false, nrBase: x32SyscallBit, nrLimit: 1 << 32}
	archX86     = &archInfo{name: specs.ArchX86, audit: auditArchI386, table: tableX86, is64: false, nrBase: 0, nrLimit: 1 << 32}
	archAArch64 = &archInfo{name: specs.ArchAARCH64, audit: auditArchAArch64, table: tableAArch64, is64: true, nrBase: 0, nrLimit: 1 << 32}
)

// archByName holds the architectures that have a syscall table here.
var archByName = map[specs.Arch]*archInfo{
	specs.ArchX86_64:  archX86_64,
	specs.ArchX32:     archX32,
	specs.ArchX86:     archX86,
	specs.ArchAARCH64: archAArch64,
}

// specArchs is every architecture name the runtime-spec defines; a profile may
// list any of them, and those the host cannot run are left out of the filter.
var specArchs = []specs.Arch{
	specs.ArchX86, specs.ArchX86_64, specs.ArchX32, specs.ArchARM, specs.ArchAARCH64,
	specs.ArchMIPS, specs.ArchMIPS64, specs.ArchMIPS64N32, specs.ArchMIPSEL, specs.ArchMIPSEL64,
	specs.ArchMIPSEL64N32, specs.ArchPPC, specs.ArchPPC64, specs.ArchPPC64LE, specs.ArchS390,
	specs.ArchS390X, specs.ArchPARISC, specs.ArchPARISC64, specs.ArchRISCV64, specs.ArchLOONGARCH64,
	specs.ArchM68K, specs.ArchSH, specs.ArchSHEB,
}

// nativeArch returns the seccomp architecture of the running binary and the
// architectures the host kernel can also run (and this package can filter).
func nativeArch() (native *archInfo, compat []*archInfo) {
	switch runtime.GOARCH {
	case "amd64":
		return archX86_64, []*archInfo{archX86, archX32}
	case "386":
		return archX86, nil
	case "arm64":
		return archAArch64, nil
	}
	return nil, nil
}

func isSpecArch(a specs.Arch) bool {
	for _, s := range specArchs {
		if s == a {
			return true
		}
	}
	return false
}
