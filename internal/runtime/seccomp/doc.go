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
// The syscall tables are generated from the kernel uapi headers:
//
//go:generate go run ./gen -out zsyscalls_linux.go
package seccomp
