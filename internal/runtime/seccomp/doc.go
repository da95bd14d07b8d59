// Package seccomp compiles OCI runtime-spec seccomp profiles into classic BPF
// programs and installs them with seccomp(2), in pure Go (no libseccomp).
//
// The generated program checks seccomp_data.arch first (an architecture that
// the profile does not list gets SCMP_ACT_KILL, as with libseccomp), then finds
// the syscall number's rules with a binary search over number ranges. Syscall
// numbers this package's tables do not know (newer than the tables, or gaps in
// them) return ENOSYS instead of the default action unless that action lets the
// syscall through, as runc's patchbpf does, so that programs probing for new
// syscalls fall back to old ones.
//
// Rule semantics follow runc with libseccomp: names unknown to an
// architecture's table are skipped; a rule whose action (and errno) is the
// default action is dropped; the conditions of one rule are ANDed (also when
// they name the same argument); for one syscall the conditional rules are
// tried in profile order and the first that matches decides, then the first
// unconditional rule, then the default action. Arguments are compared as
// 64-bit values (high half, then low half) on 64-bit ABIs and as their low 32
// bits on i386. ERRNO and TRACE use the rule's errnoRet, EPERM without one.
//
// The syscall tables are generated from the kernel uapi headers:
//
//go:generate go run ./gen -out zsyscalls_linux.go
package seccomp
