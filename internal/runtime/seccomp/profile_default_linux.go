package seccomp

import (
	"runtime"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// profileRule is a rule of the default profile with Docker's conditions: it
// applies when the capability set holds every cap of includeCaps and none of
// excludeCaps, and GOARCH is in includeArches (when set) and not in excludeArches.
type profileRule struct {
	names         []string
	action        specs.LinuxSeccompAction
	errnoRet      uint
	args          []specs.LinuxSeccompArg
	includeCaps   []string
	excludeCaps   []string
	includeArches []string
	excludeArches []string
}

// cloneNamespaceFlags is CLONE_NEWNS|CLONE_NEWCGROUP|CLONE_NEWUTS|CLONE_NEWIPC|
// CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNET|CLONE_NEWTIME... as Docker masks
// them (0x7e020000): clone may not create namespaces without CAP_SYS_ADMIN.
const cloneNamespaceFlags = 0x7e020000

// defaultAllowed is the allow-list of Docker's default profile (io_uring
// excluded, as in Docker 25 and later).
var defaultAllowed = []string{
	"accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget", "capset",
	"chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres",
	"clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
	"clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
	"dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
	"epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
	"exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
	"fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
	"fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr",
	"fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
	"ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv",
	"futex_wake", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32",
	"geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer",
	"getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
	"getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
	"getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid",
	"gettimeofday", "getuid", "getuid32", "getxattr", "inotify_add_watch", "inotify_init",
	"inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents",
	"io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit",
	"ipc", "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self",
	"lchown", "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr",
	"_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise",
	"map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat",
	"mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr",
	"mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
	"mq_timedsend_time64", "mq_unlink", "mremap", "mseal", "msgctl", "msgget", "msgrcv", "msgsnd",
	"msync", "munlock", "munlockall", "munmap", "nanosleep", "newfstatat",
	"_newselect", "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe",
	"pipe2", "poll", "ppoll", "ppoll_time64", "prctl",
	"pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6",
	"pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
	"readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg",
	"remap_file_pages", "removexattr", "rename", "renameat", "renameat2", "restart_syscall",
	"rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
	"rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
	"rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam",
	"sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
	"sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
	"sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select",
	"semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile",
	"sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid",
	"setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid",
	"setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
	"setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid",
	"setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr", "shmat",
	"shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask",
	"sigreturn", "socket", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs",
	"statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo",
	"tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
	"timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
	"timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate",
	"truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat",
	"utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
	"writev",
}

func eqArg(index uint, v uint64) []specs.LinuxSeccompArg {
	return []specs.LinuxSeccompArg{{Index: index, Value: v, Op: specs.OpEqualTo}}
}

// defaultRules are the conditional rules of Docker's default profile.
var defaultRules = []profileRule{
	{names: defaultAllowed, action: specs.ActAllow},
	// ptrace and process_vm_* are allowed to all since kernel 4.8 fixed the
	// seccomp bypass through ptrace (every kernel berth supports).
	{names: []string{"process_vm_readv", "process_vm_writev", "ptrace"}, action: specs.ActAllow},
	// personality: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32 and the query 0xffffffff.
	{names: []string{"personality"}, action: specs.ActAllow, args: eqArg(0, 0x0)},
	{names: []string{"personality"}, action: specs.ActAllow, args: eqArg(0, 0x8)},
	{names: []string{"personality"}, action: specs.ActAllow, args: eqArg(0, 0x20000)},
	{names: []string{"personality"}, action: specs.ActAllow, args: eqArg(0, 0x20008)},
	{names: []string{"personality"}, action: specs.ActAllow, args: eqArg(0, 0xffffffff)},
	{names: []string{"sync_file_range2", "swapcontext"}, action: specs.ActAllow, includeArches: []string{"ppc64le"}},
	{names: []string{"arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"},
		action: specs.ActAllow, includeArches: []string{"arm", "arm64"}},
	{names: []string{"arch_prctl"}, action: specs.ActAllow, includeArches: []string{"amd64", "x32"}},
	{names: []string{"modify_ldt"}, action: specs.ActAllow, includeArches: []string{"amd64", "x32", "x86"}},
	{names: []string{"s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"}, action: specs.ActAllow, includeArches: []string{"s390", "s390x"}},
	{names: []string{"riscv_flush_icache"}, action: specs.ActAllow, includeArches: []string{"riscv64"}},
	{names: []string{"open_by_handle_at"}, action: specs.ActAllow, includeCaps: []string{"CAP_DAC_READ_SEARCH"}},
	{names: []string{
		"bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
		"lookup_dcookie", "mount", "mount_setattr", "move_mount", "name_to_handle_at", "open_tree", "perf_event_open",
		"quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount",
		"umount2", "unshare",
	}, action: specs.ActAllow, includeCaps: []string{"CAP_SYS_ADMIN"}},
	{names: []string{"clone"}, action: specs.ActAllow,
		args:        []specs.LinuxSeccompArg{{Index: 0, Value: cloneNamespaceFlags, Op: specs.OpMaskedEqual}},
		excludeCaps: []string{"CAP_SYS_ADMIN"}, excludeArches: []string{"s390", "s390x"}},
	{names: []string{"clone"}, action: specs.ActAllow,
		args:        []specs.LinuxSeccompArg{{Index: 1, Value: cloneNamespaceFlags, Op: specs.OpMaskedEqual}},
		excludeCaps: []string{"CAP_SYS_ADMIN"}, includeArches: []string{"s390", "s390x"}},
	// clone3 passes its flags in memory, out of a filter's reach: without
	// CAP_SYS_ADMIN it fails with ENOSYS, so that libc falls back to clone.
	{names: []string{"clone3"}, action: specs.ActErrno, errnoRet: uint(unix.ENOSYS), excludeCaps: []string{"CAP_SYS_ADMIN"}},
	{names: []string{"reboot"}, action: specs.ActAllow, includeCaps: []string{"CAP_SYS_BOOT"}},
	{names: []string{"chroot"}, action: specs.ActAllow, includeCaps: []string{"CAP_SYS_CHROOT"}},
	{names: []string{"delete_module", "init_module", "finit_module"}, action: specs.ActAllow, includeCaps: []string{"CAP_SYS_MODULE"}},
	{names: []string{"acct"}, action: specs.ActAllow, includeCaps: []string{"CAP_SYS_PACCT"}},
	{names: []string{"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"},
		action: specs.ActAllow, includeCaps: []string{"CAP_SYS_PTRACE"}},
	{names: []string{"iopl", "ioperm"}, action: specs.ActAllow, includeCaps: []string{"CAP_SYS_RAWIO"}},
	{names: []string{"settimeofday", "stime", "clock_settime", "clock_settime64"}, action: specs.ActAllow, includeCaps: []string{"CAP_SYS_TIME"}},
	{names: []string{"vhangup"}, action: specs.ActAllow, includeCaps: []string{"CAP_SYS_TTY_CONFIG"}},
	{names: []string{"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"}, action: specs.ActAllow, includeCaps: []string{"CAP_SYS_NICE"}},
	{names: []string{"syslog"}, action: specs.ActAllow, includeCaps: []string{"CAP_SYSLOG"}},
	{names: []string{"bpf"}, action: specs.ActAllow, includeCaps: []string{"CAP_BPF"}},
	{names: []string{"perf_event_open"}, action: specs.ActAllow, includeCaps: []string{"CAP_PERFMON"}},
}

// defaultArchitectures are the architectures Docker's profile lists for a GOARCH.
var defaultArchitectures = map[string][]specs.Arch{
	"amd64":   {specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
	"386":     {specs.ArchX86},
	"arm64":   {specs.ArchAARCH64, specs.ArchARM},
	"arm":     {specs.ArchARM},
	"riscv64": {specs.ArchRISCV64},
	"s390x":   {specs.ArchS390X, specs.ArchS390},
	"ppc64le": {specs.ArchPPC64LE},
}

// DefaultProfile returns Docker's default seccomp profile resolved for the
// capability set caps ("CAP_SYS_ADMIN" or "SYS_ADMIN", any case) and this
// architecture: an allow-list whose default action is SCMP_ACT_ERRNO with EPERM.
func DefaultProfile(caps []string) *specs.LinuxSeccomp {
	have := map[string]bool{}
	for _, c := range caps {
		have[normalizeCap(c)] = true
	}
	eperm := uint(unix.EPERM)
	s := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: &eperm,
		Architectures:   append([]specs.Arch(nil), defaultArchitectures[runtime.GOARCH]...),
	}
	for _, r := range defaultRules {
		if !r.applies(have, runtime.GOARCH) {
			continue
		}
		sc := specs.LinuxSyscall{
			Names:  append([]string(nil), r.names...),
			Action: r.action,
			Args:   append([]specs.LinuxSeccompArg(nil), r.args...),
		}
		if r.errnoRet != 0 {
			e := r.errnoRet
			sc.ErrnoRet = &e
		}
		s.Syscalls = append(s.Syscalls, sc)
	}
	return s
}

func (r profileRule) applies(caps map[string]bool, goarch string) bool {
	for _, c := range r.includeCaps {
		if !caps[c] {
			return false
		}
	}
	for _, c := range r.excludeCaps {
		if caps[c] {
			return false
		}
	}
	if len(r.includeArches) > 0 && !contains(r.includeArches, goarch) {
		return false
	}
	return !contains(r.excludeArches, goarch)
}

func normalizeCap(c string) string {
	c = strings.ToUpper(strings.TrimSpace(c))
	if !strings.HasPrefix(c, "CAP_") {
		c = "CAP_" + c
	}
	return c
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
