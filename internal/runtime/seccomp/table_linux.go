package seccomp

import (
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// sysEntry is one syscall of an architecture's table.
type sysEntry struct {
	name string
	nr   int
}

// syscallTable is sorted by name (see gen/main.go).
type syscallTable []sysEntry

func (t syscallTable) lookup(name string) (int, bool) {
	lo, hi := 0, len(t)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t[m].name < name {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(t) && t[lo].name == name {
		return t[lo].nr, true
	}
	return 0, false
}

// numbers returns the table's syscall numbers in ascending order, without duplicates.
func (t syscallTable) numbers() []uint32 {
	nrs := make([]uint32, 0, len(t))
	for _, e := range t {
		nrs = append(nrs, uint32(e.nr))
	}
	sort.Slice(nrs, func(i, j int) bool { return nrs[i] < nrs[j] })
	out := nrs[:0]
	for i, n := range nrs {
		if i == 0 || n != nrs[i-1] {
			out = append(out, n)
		}
	}
	return out
}

// SyscallNumber returns the number of the named syscall on arch, as seen in
// seccomp_data.nr (x32 numbers include __X32_SYSCALL_BIT).
func SyscallNumber(name string, arch specs.Arch) (int, bool) {
	a, ok := archByName[arch]
	if !ok || len(a.table) == 0 {
		return 0, false
	}
	return a.table.lookup(name)
}
