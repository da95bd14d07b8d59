package seccomp

import (
	"math/rand"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func uptr(v uint) *uint { return &v }

func mustCompile(t *testing.T, s *specs.LinuxSeccomp) []unix.SockFilter {
	t.Helper()
	prog, err := Compile(s)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return prog
}

func eval(t *testing.T, prog []unix.SockFilter, d seccompData) uint32 {
	t.Helper()
	r, err := runBPF(prog, d)
	if err != nil {
		t.Fatalf("run filter: %v", err)
	}
	return r
}

func nr(t *testing.T, name string, arch specs.Arch) uint32 {
	t.Helper()
	n, ok := SyscallNumber(name, arch)
	if !ok {
		t.Fatalf("no syscall %s on %s", name, arch)
	}
	return uint32(n)
}

func TestSyscallTables(t *testing.T) {
	for _, c := range []struct {
		name string
		arch specs.Arch
		want int
	}{
		{"read", specs.ArchX86_64, 0},
		{"getcwd", specs.ArchX86_64, 79},
		{"clone3", specs.ArchX86_64, 435},
		{"read", specs.ArchX86, 3},
		{"socketcall", specs.ArchX86, 102},
		{"read", specs.ArchX32, x32SyscallBit + 0},
		{"execve", specs.ArchX32, x32SyscallBit + 520},
		{"read", specs.ArchAARCH64, 63},
	} {
		got, ok := SyscallNumber(c.name, c.arch)
		if !ok || got != c.want {
			t.Errorf("SyscallNumber(%s, %s) = %d, %v; want %d", c.name, c.arch, got, ok, c.want)
		}
	}
	if _, ok := SyscallNumber("no_such_syscall", specs.ArchX86_64); ok {
		t.Error("unknown syscall found")
	}
	if _, ok := SyscallNumber("open", specs.ArchAARCH64); ok {
		t.Error("aarch64 has no open(2)")
	}
	if got := tableX86_64.numbers(); got[len(got)-1] < 450 {
		t.Errorf("x86_64 table tops out at %d", got[len(got)-1])
	}
}

func TestCompileActionsAndErrno(t *testing.T) {
	s := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: uptr(61),
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"getcwd"}, Action: specs.ActErrno, ErrnoRet: uptr(uint(unix.EACCES))},
			{Names: []string{"mkdirat"}, Action: specs.ActErrno, ErrnoRet: uptr(42)},
			{Names: []string{"rmdir"}, Action: specs.ActErrno},
			{Names: []string{"getpid", "no_such_syscall"}, Action: specs.ActAllow},
			{Names: []string{"getppid"}, Action: specs.ActLog},
			{Names: []string{"kill"}, Action: specs.ActKill},
			{Names: []string{"tkill"}, Action: specs.ActKillThread},
			{Names: []string{"tgkill"}, Action: specs.ActKillProcess},
			{Names: []string{"uname"}, Action: specs.ActTrap},
			{Names: []string{"ptrace"}, Action: specs.ActTrace, ErrnoRet: uptr(7)},
			{Names: []string{"kcmp"}, Action: specs.ActNotify},
			// the default action: dropped
			{Names: []string{"getuid"}, Action: specs.ActErrno, ErrnoRet: uptr(61)},
		},
	}
	prog := mustCompile(t, s)
	x := specs.ArchX86_64
	for _, c := range []struct {
		name string
		want uint32
	}{
		{"getcwd", unix.SECCOMP_RET_ERRNO | uint32(unix.EACCES)},
		{"mkdirat", unix.SECCOMP_RET_ERRNO | 42},
		{"rmdir", unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{"getpid", unix.SECCOMP_RET_ALLOW},
		{"getppid", unix.SECCOMP_RET_LOG},
		{"kill", unix.SECCOMP_RET_KILL_THREAD},
		{"tkill", unix.SECCOMP_RET_KILL_THREAD},
		{"tgkill", unix.SECCOMP_RET_KILL_PROCESS},
		{"uname", unix.SECCOMP_RET_TRAP},
		{"ptrace", unix.SECCOMP_RET_TRACE | 7},
		{"kcmp", unix.SECCOMP_RET_USER_NOTIF},
		{"getuid", unix.SECCOMP_RET_ERRNO | 61},
		{"read", unix.SECCOMP_RET_ERRNO | 61},
		{"set_mempolicy_home_node", unix.SECCOMP_RET_ERRNO | 61},
	} {
		if got := eval(t, prog, seccompData{nr: nr(t, c.name, x), arch: auditArchX86_64}); got != c.want {
			t.Errorf("%s: got %#x, want %#x", c.name, got, c.want)
		}
	}
	// Numbers the table does not know get ENOSYS: beyond its end, and in its gaps.
	for _, n := range []uint32{1000, 400, 0x3fffffff} {
		if got := eval(t, prog, seccompData{nr: n, arch: auditArchX86_64}); got != retENOSYS {
			t.Errorf("nr %d: got %#x, want ENOSYS", n, got)
		}
	}
	// x32 is not in the profile: its syscalls, and other archs, are killed.
	if got := eval(t, prog, seccompData{nr: x32SyscallBit, arch: auditArchX86_64}); got != retBadArch {
		t.Errorf("x32 read: got %#x, want kill", got)
	}
	for _, arch := range []uint32{auditArchI386, auditArchAArch64, auditArchARM, 0} {
		if got := eval(t, prog, seccompData{nr: 3, arch: arch}); got != retBadArch {
			t.Errorf("arch %#x: got %#x, want kill", arch, got)
		}
	}
}

func TestCompileNoENOSYSWhenDefaultAllows(t *testing.T) {
	for _, def := range []specs.LinuxSeccompAction{specs.ActAllow, specs.ActLog} {
		s := &specs.LinuxSeccomp{DefaultAction: def, Syscalls: []specs.LinuxSyscall{{Names: []string{"getcwd"}, Action: specs.ActErrno}}}
		prog := mustCompile(t, s)
		want, _ := retValue(def, nil)
		for _, n := range []uint32{1000, 400, 0} {
			if got := eval(t, prog, seccompData{nr: n, arch: auditArchX86_64}); got != want {
				t.Errorf("default %s, nr %d: got %#x, want %#x", def, n, got, want)
			}
		}
	}
}

func TestCompileArchitectures(t *testing.T) {
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86, specs.ArchX32, specs.ArchPPC64LE},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"getcwd"}, Action: specs.ActErrno, ErrnoRet: uptr(13)},
			{Names: []string{"socketcall", "arch_prctl"}, Action: specs.ActErrno, ErrnoRet: uptr(14)},
			{Names: []string{"personality"}, Action: specs.ActErrno, ErrnoRet: uptr(15), Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0xffffffff, Op: specs.OpEqualTo}}},
		},
	}
	prog := mustCompile(t, s)
	errno := func(e uint32) uint32 { return unix.SECCOMP_RET_ERRNO | e }
	for _, c := range []struct {
		desc string
		d    seccompData
		want uint32
	}{
		{"x86_64 getcwd", seccompData{nr: 79, arch: auditArchX86_64}, errno(13)},
		{"x86_64 arch_prctl", seccompData{nr: 158, arch: auditArchX86_64}, errno(14)},
		{"x86_64 read", seccompData{nr: 0, arch: auditArchX86_64}, unix.SECCOMP_RET_ALLOW},
		{"i386 getcwd", seccompData{nr: 183, arch: auditArchI386}, errno(13)},
		{"i386 socketcall", seccompData{nr: 102, arch: auditArchI386}, errno(14)},
		{"i386 nr 79 (settimeofday)", seccompData{nr: 79, arch: auditArchI386}, unix.SECCOMP_RET_ALLOW},
		// 32-bit ABI: only the low half of an argument exists.
		{"i386 personality", seccompData{nr: 136, arch: auditArchI386, args: [6]uint64{0xffffffff}}, errno(15)},
		{"x86_64 personality high half", seccompData{nr: 135, arch: auditArchX86_64, args: [6]uint64{0x1ffffffff}}, unix.SECCOMP_RET_ALLOW},
		{"x32 getcwd", seccompData{nr: x32SyscallBit + 79, arch: auditArchX86_64}, errno(13)},
		{"x32 arch_prctl", seccompData{nr: x32SyscallBit + 158, arch: auditArchX86_64}, errno(14)},
		{"x32 read", seccompData{nr: x32SyscallBit, arch: auditArchX86_64}, unix.SECCOMP_RET_ALLOW},
		{"aarch64", seccompData{nr: 17, arch: auditArchAArch64}, retBadArch},
	} {
		if got := eval(t, prog, c.d); got != c.want {
			t.Errorf("%s: got %#x, want %#x", c.desc, got, c.want)
		}
	}

	// Without x32 in the profile, x32 syscall numbers are a bad arch.
	s.Architectures = []specs.Arch{specs.ArchX86}
	prog = mustCompile(t, s)
	if got := eval(t, prog, seccompData{nr: x32SyscallBit + 79, arch: auditArchX86_64}); got != retBadArch {
		t.Errorf("x32 without x32 in profile: got %#x", got)
	}
}

// cmpGo is the reference semantics of the operators on 64-bit values.
func cmpGo(op specs.LinuxSeccompOperator, arg, v, v2 uint64) bool {
	switch op {
	case specs.OpEqualTo:
		return arg == v
	case specs.OpNotEqual:
		return arg != v
	case specs.OpLessThan:
		return arg < v
	case specs.OpLessEqual:
		return arg <= v
	case specs.OpGreaterThan:
		return arg > v
	case specs.OpGreaterEqual:
		return arg >= v
	case specs.OpMaskedEqual:
		return arg&v == v2
	}
	panic(op)
}

var allOps = []specs.LinuxSeccompOperator{
	specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
	specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual,
}

// interesting returns values around v's halves.
func interesting(vs ...uint64) []uint64 {
	out := []uint64{0, 1, 0xffffffff, 1 << 32, 0xffffffffffffffff}
	for _, v := range vs {
		for _, d := range []uint64{0, 1, 1 << 32} {
			out = append(out, v, v+d, v-d, v^(1<<63), v&0xffffffff, v&^0xffffffff)
		}
	}
	return out
}

func TestCompileArgOperators(t *testing.T) {
	rnd := rand.New(rand.NewSource(1))
	values := []uint64{0, 5, 0xffffffff, 0x100000005, 0x500000000, 0xffffffff00000000, 0x7fffffffffffffff}
	for i := 0; i < 5; i++ {
		values = append(values, rnd.Uint64())
	}
	for _, op := range allOps {
		for _, v := range values {
			v2 := v & 0x0f0f0f0f0f0f0f0f
			s := &specs.LinuxSeccomp{
				DefaultAction: specs.ActAllow,
				Syscalls: []specs.LinuxSyscall{{
					Names: []string{"kcmp"}, Action: specs.ActErrno, ErrnoRet: uptr(100),
					Args: []specs.LinuxSeccompArg{{Index: 3, Op: op, Value: v, ValueTwo: v2}},
				}},
			}
			prog := mustCompile(t, s)
			for _, arg := range interesting(v, v2) {
				got := eval(t, prog, seccompData{nr: 312, arch: auditArchX86_64, args: [6]uint64{3: arg}})
				want := uint32(unix.SECCOMP_RET_ALLOW)
				if cmpGo(op, arg, v, v2) {
					want = unix.SECCOMP_RET_ERRNO | 100
				}
				if got != want {
					t.Errorf("%s value %#x valueTwo %#x, arg %#x: got %#x want %#x", op, v, v2, arg, got, want)
				}
			}
		}
	}
}

func TestCompileRuleCombination(t *testing.T) {
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{
			// AND of two args, and of two conditions on the same arg
			{Names: []string{"kcmp"}, Action: specs.ActErrno, ErrnoRet: uptr(101), Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 1, Op: specs.OpEqualTo}, {Index: 1, Value: 2, Op: specs.OpEqualTo}}},
			{Names: []string{"kcmp"}, Action: specs.ActErrno, ErrnoRet: uptr(102), Args: []specs.LinuxSeccompArg{
				{Index: 2, Value: 10, Op: specs.OpGreaterEqual}, {Index: 2, Value: 20, Op: specs.OpLessThan}}},
			// OR: two rules with the same action
			{Names: []string{"getpriority"}, Action: specs.ActErrno, ErrnoRet: uptr(103), Args: []specs.LinuxSeccompArg{{Index: 0, Value: 7, Op: specs.OpEqualTo}}},
			{Names: []string{"getpriority"}, Action: specs.ActErrno, ErrnoRet: uptr(103), Args: []specs.LinuxSeccompArg{{Index: 1, Value: 9, Op: specs.OpEqualTo}}},
			// conditional rules go before the unconditional one
			{Names: []string{"setpriority"}, Action: specs.ActErrno, ErrnoRet: uptr(105)},
			{Names: []string{"setpriority"}, Action: specs.ActErrno, ErrnoRet: uptr(104), Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: specs.OpEqualTo}}},
		},
	}
	prog := mustCompile(t, s)
	e := func(n uint32) uint32 { return unix.SECCOMP_RET_ERRNO | n }
	const allow = unix.SECCOMP_RET_ALLOW
	for _, c := range []struct {
		nr   uint32
		args [6]uint64
		want uint32
	}{
		{312, [6]uint64{1, 2}, e(101)},
		{312, [6]uint64{1, 3}, allow},
		{312, [6]uint64{0, 2}, allow},
		{312, [6]uint64{1<<32 | 1, 2}, allow},
		{312, [6]uint64{2: 10}, e(102)},
		{312, [6]uint64{2: 19}, e(102)},
		{312, [6]uint64{2: 20}, allow},
		{312, [6]uint64{2: 9}, allow},
		{140, [6]uint64{7, 0}, e(103)},
		{140, [6]uint64{0, 9}, e(103)},
		{140, [6]uint64{7, 9}, e(103)},
		{140, [6]uint64{8, 8}, allow},
		{141, [6]uint64{1}, e(104)},
		{141, [6]uint64{2}, e(105)},
	} {
		if got := eval(t, prog, seccompData{nr: c.nr, arch: auditArchX86_64, args: c.args}); got != c.want {
			t.Errorf("nr %d args %v: got %#x want %#x", c.nr, c.args, got, c.want)
		}
	}
}

// TestCompileLongJumps makes a program far longer than a conditional jump
// reaches and checks that every syscall still gets its outcome.
func TestCompileLongJumps(t *testing.T) {
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
	want := map[uint32]uint32{}
	for i, e := range tableX86_64 {
		if i%2 == 0 {
			continue
		}
		// every other syscall: allowed only when arg0 == its number, else errno i%4000
		errno := uint(i%4000 + 1)
		s.Syscalls = append(s.Syscalls,
			specs.LinuxSyscall{Names: []string{e.name}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: uint64(e.nr), Op: specs.OpEqualTo}}},
			specs.LinuxSyscall{Names: []string{e.name}, Action: specs.ActErrno, ErrnoRet: &errno})
		want[uint32(e.nr)] = unix.SECCOMP_RET_ERRNO | uint32(errno)
	}
	prog := mustCompile(t, s)
	if len(prog) < 3*256 {
		t.Fatalf("program has only %d instructions; the test wants long jumps", len(prog))
	}
	for _, e := range tableX86_64 {
		n := uint32(e.nr)
		w, ok := want[n]
		if !ok {
			w = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
		}
		if got := eval(t, prog, seccompData{nr: n, arch: auditArchX86_64, args: [6]uint64{uint64(n) + 1}}); got != w {
			t.Errorf("%s: got %#x want %#x", e.name, got, w)
		}
		if ok {
			if got := eval(t, prog, seccompData{nr: n, arch: auditArchX86_64, args: [6]uint64{uint64(n)}}); got != unix.SECCOMP_RET_ALLOW {
				t.Errorf("%s with matching arg: got %#x", e.name, got)
			}
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, c := range []struct {
		s    *specs.LinuxSeccomp
		want string
	}{
		{nil, "no profile"},
		{&specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_BOGUS"}, `"SCMP_ACT_BOGUS"`},
		{&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: "SCMP_ACT_NOPE"}}}, `"SCMP_ACT_NOPE"`},
		{&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"SCMP_ARCH_VAX"}}, `"SCMP_ARCH_VAX"`},
		{&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Op: "SCMP_CMP_ODD"}}}}}, `"SCMP_CMP_ODD"`},
		{&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}}, "index 6"},
		{&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, DefaultErrnoRet: uptr(1)}, "defaultErrnoRet"},
		{&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno, ErrnoRet: uptr(70000)}}}, "16 bits"},
		{&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow, ErrnoRet: uptr(1)}}}, "errnoRet"},
	} {
		_, err := Compile(c.s)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Compile: error %v, want one mentioning %s", err, c.want)
		}
	}
	if _, err := Load(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_BOGUS"}}); err == nil || !strings.Contains(err.Error(), "SECCOMP_FILTER_FLAG_BOGUS") {
		t.Errorf("Load with bad flag: %v", err)
	}
}

func TestFeatures(t *testing.T) {
	if len(Actions()) != 9 || len(Operators()) != 7 {
		t.Errorf("Actions %v, Operators %v", Actions(), Operators())
	}
	if !strings.Contains(strings.Join(Archs(), ","), "SCMP_ARCH_X86_64") {
		t.Errorf("Archs: %v", Archs())
	}
	if len(Flags()) != 4 {
		t.Errorf("Flags: %v", Flags())
	}
	sup := SupportedFlags()
	if !strings.Contains(strings.Join(sup, ","), "SECCOMP_FILTER_FLAG_LOG") {
		t.Errorf("SupportedFlags: %v (kernel 4.14+ has LOG)", sup)
	}
	t.Logf("supported flags: %v", sup)
}

func TestDefaultProfileCompile(t *testing.T) {
	x := specs.ArchX86_64
	for _, c := range []struct {
		caps               []string
		unshare, clone3    uint32
		cloneNewns, chroot uint32
	}{
		{nil, unix.SECCOMP_RET_ERRNO | 1, unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS), unix.SECCOMP_RET_ERRNO | 1, unix.SECCOMP_RET_ERRNO | 1},
		{[]string{"CAP_SYS_ADMIN", "sys_chroot"}, unix.SECCOMP_RET_ALLOW, unix.SECCOMP_RET_ALLOW, unix.SECCOMP_RET_ALLOW, unix.SECCOMP_RET_ALLOW},
	} {
		s := DefaultProfile(c.caps)
		if s.DefaultAction != specs.ActErrno || s.DefaultErrnoRet == nil || *s.DefaultErrnoRet != uint(unix.EPERM) {
			t.Fatalf("default action %s %v", s.DefaultAction, s.DefaultErrnoRet)
		}
		prog := mustCompile(t, s)
		t.Logf("caps %v: %d instructions", c.caps, len(prog))
		for _, k := range []struct {
			d    seccompData
			want uint32
		}{
			{seccompData{nr: nr(t, "read", x), arch: auditArchX86_64}, unix.SECCOMP_RET_ALLOW},
			{seccompData{nr: nr(t, "unshare", x), arch: auditArchX86_64}, c.unshare},
			{seccompData{nr: nr(t, "clone3", x), arch: auditArchX86_64}, c.clone3},
			{seccompData{nr: nr(t, "clone", x), arch: auditArchX86_64, args: [6]uint64{unix.CLONE_NEWNS}}, c.cloneNewns},
			{seccompData{nr: nr(t, "clone", x), arch: auditArchX86_64, args: [6]uint64{unix.CLONE_VM | unix.CLONE_VFORK}}, unix.SECCOMP_RET_ALLOW},
			{seccompData{nr: nr(t, "chroot", x), arch: auditArchX86_64}, c.chroot},
			{seccompData{nr: nr(t, "arch_prctl", x), arch: auditArchX86_64}, unix.SECCOMP_RET_ALLOW},
			{seccompData{nr: nr(t, "read", specs.ArchX86), arch: auditArchI386}, unix.SECCOMP_RET_ALLOW},
			{seccompData{nr: nr(t, "mount", specs.ArchX86), arch: auditArchI386}, c.unshare},
			{seccompData{nr: nr(t, "read", specs.ArchX32), arch: auditArchX86_64}, unix.SECCOMP_RET_ALLOW},
			{seccompData{nr: nr(t, "personality", x), arch: auditArchX86_64, args: [6]uint64{0xffffffff}}, unix.SECCOMP_RET_ALLOW},
			{seccompData{nr: nr(t, "personality", x), arch: auditArchX86_64, args: [6]uint64{1}}, unix.SECCOMP_RET_ERRNO | 1},
			{seccompData{nr: 1000, arch: auditArchX86_64}, retENOSYS},
		} {
			if got := eval(t, prog, k.d); got != k.want {
				t.Errorf("caps %v nr %#x args %v: got %#x want %#x", c.caps, k.d.nr, k.d.args[:2], got, k.want)
			}
		}
	}
}

func TestCompileI386Multiplexers(t *testing.T) {
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: []specs.Arch{specs.ArchX86},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"bind", "semget"}, Action: specs.ActAllow},
			{Names: []string{"connect"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 2, Value: 16, Op: specs.OpEqualTo}}},
		},
	}
	prog := mustCompile(t, s)
	x86 := specs.ArchX86
	eperm := unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	for _, c := range []struct {
		nr   uint32
		arg0 uint64
		want uint32
	}{
		{nr(t, "bind", x86), 0, unix.SECCOMP_RET_ALLOW},
		{nr(t, "socketcall", x86), 2, unix.SECCOMP_RET_ALLOW}, // SYS_BIND
		{nr(t, "socketcall", x86), 3, eperm},                  // SYS_CONNECT: its rule has conditions
		{nr(t, "socketcall", x86), 1, eperm},                  // SYS_SOCKET
		{nr(t, "ipc", x86), 2, unix.SECCOMP_RET_ALLOW},        // SEMGET
		{nr(t, "ipc", x86), 1, eperm},
	} {
		if got := eval(t, prog, seccompData{nr: c.nr, arch: auditArchI386, args: [6]uint64{c.arg0}}); got != c.want {
			t.Errorf("nr %d arg0 %d: got %#x want %#x", c.nr, c.arg0, got, c.want)
		}
	}
	// x86_64 has no multiplexer: nothing changes there.
	if got := eval(t, prog, seccompData{nr: nr(t, "bind", specs.ArchX86_64), arch: auditArchX86_64}); got != unix.SECCOMP_RET_ALLOW {
		t.Errorf("x86_64 bind: %#x", got)
	}
}

// BenchmarkPrepareDefaultProfile: the runtime compiles the profile of every
// container an engine creates (Docker's default, here) while it clones the
// container's process.
func BenchmarkPrepareDefaultProfile(b *testing.B) {
	p := DefaultProfile([]string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID"})
	for i := 0; i < b.N; i++ {
		if _, err := Prepare(p); err != nil {
			b.Fatal(err)
		}
	}
}
