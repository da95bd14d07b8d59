package seccomp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The tests here compare this package's programs with libseccomp's (the
// library runc uses), run side by side in the cBPF interpreter, when gcc and
// libseccomp-dev are installed (apt-get install gcc libseccomp-dev).

// libseccompOps is libseccomp's enum scmp_compare.
var libseccompOps = map[specs.LinuxSeccompOperator]int{
	specs.OpNotEqual: 1, specs.OpLessThan: 2, specs.OpLessEqual: 3, specs.OpEqualTo: 4,
	specs.OpGreaterEqual: 5, specs.OpGreaterThan: 6, specs.OpMaskedEqual: 7,
}

var libseccompArchs = map[specs.Arch]string{specs.ArchX86: "x86", specs.ArchX86_64: "x86_64", specs.ArchX32: "x32"}

func buildOracle(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/include/seccomp.h"); err != nil {
		t.Skip("libseccomp-dev is not installed")
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc is not installed")
	}
	bin := filepath.Join(t.TempDir(), "oracle")
	if out, err := exec.Command("gcc", "-O", "-o", bin, "testdata/oracle/oracle.c", "-lseccomp").CombinedOutput(); err != nil {
		t.Fatalf("build oracle: %v\n%s", err, out)
	}
	return bin
}

func libseccompCompile(t *testing.T, oracle string, s *specs.LinuxSeccomp) []unix.SockFilter {
	t.Helper()
	var b bytes.Buffer
	def, err := retValue(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "default %x\n", def)
	for _, a := range s.Architectures {
		fmt.Fprintf(&b, "arch %s\n", libseccompArchs[a])
	}
	for _, r := range s.Syscalls {
		ret, err := retValue(r.Action, r.ErrnoRet)
		if err != nil {
			t.Fatal(err)
		}
		if ret == def {
			continue // libseccomp refuses these; runc skips them
		}
		for _, n := range r.Names {
			fmt.Fprintf(&b, "rule %x %s %d", ret, n, len(r.Args))
			for _, a := range r.Args {
				fmt.Fprintf(&b, " %d %d %x %x", a.Index, libseccompOps[a.Op], a.Value, a.ValueTwo)
			}
			b.WriteString("\n")
		}
	}
	f := filepath.Join(t.TempDir(), "profile")
	if err := os.WriteFile(f, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(oracle, f)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("oracle: %v: %s", err, stderr.String())
	}
	prog := make([]unix.SockFilter, len(out)/8)
	for i := range prog {
		in := out[8*i:]
		prog[i] = unix.SockFilter{Code: binary.LittleEndian.Uint16(in), Jt: in[2], Jf: in[3], K: binary.LittleEndian.Uint32(in[4:])}
	}
	return prog
}

func TestCompareWithLibseccomp(t *testing.T) {
	oracle := buildOracle(t)
	var opRules []specs.LinuxSyscall
	for i, op := range allOps {
		opRules = append(opRules, specs.LinuxSyscall{
			Names: []string{tableX86_64[i*3].name}, Action: specs.ActErrno, ErrnoRet: uptr(uint(50 + i)),
			Args: []specs.LinuxSeccompArg{{Index: uint(i % maxArgs), Op: op, Value: 0x100000005, ValueTwo: 0x100000001}},
		})
	}
	opRules = append(opRules, specs.LinuxSyscall{Names: []string{"kcmp"}, Action: specs.ActErrno, ErrnoRet: uptr(70), Args: []specs.LinuxSeccompArg{
		{Index: 0, Op: specs.OpGreaterThan, Value: 1}, {Index: 1, Op: specs.OpLessEqual, Value: 0x100000000}}})
	profiles := map[string]*specs.LinuxSeccomp{
		"default without caps": DefaultProfile(nil),
		"default with caps":    DefaultProfile([]string{"CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_TIME", "CAP_SYS_BOOT"}),
		"operators":            {DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86, specs.ArchX32}, Syscalls: opRules},
		"i386 multiplexers": {DefaultAction: specs.ActErrno, Architectures: []specs.Arch{specs.ArchX86}, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"bind", "connect", "semget", "shmat", "read", "write"}, Action: specs.ActAllow},
		}},
	}
	argVals := []uint64{0, 1, 2, 5, 8, 13, 21, 0x20008, 0x10000, 0x7e020000, 0xffffffff, 0x100000000, 0x100000001, 0x100000005, 0x200000005, 0xffffffffffffffff}
	for name, s := range profiles {
		ours := mustCompile(t, s)
		theirs := libseccompCompile(t, oracle, s)
		diffs := 0
		for _, a := range []*archInfo{archX86_64, archX86, archX32} {
			for _, e := range a.table {
				for idx := 0; idx < maxArgs; idx++ {
					for _, v := range argVals {
						d := seccompData{nr: uint32(e.nr), arch: a.audit}
						d.args[idx] = v
						got, err := runBPF(ours, d)
						if err != nil {
							t.Fatal(err)
						}
						want, err := runBPF(theirs, d)
						if err != nil {
							t.Fatalf("libseccomp program: %v", err)
						}
						if got != want {
							if diffs++; diffs <= 10 {
								t.Errorf("%s: %s %s args %#x: ours %#x, libseccomp %#x", name, a.name, e.name, d.args, got, want)
							}
						}
					}
				}
			}
		}
		// Other architectures are killed by both.
		for _, arch := range []uint32{auditArchAArch64, auditArchARM} {
			got, _ := runBPF(ours, seccompData{arch: arch})
			want, _ := runBPF(theirs, seccompData{arch: arch})
			if got != want {
				t.Errorf("%s: arch %#x: ours %#x, libseccomp %#x", name, arch, got, want)
			}
		}
		t.Logf("%s: %d instructions (libseccomp: %d), %d differences", name, len(ours), len(theirs), diffs)
	}
}
