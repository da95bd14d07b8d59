/*
 * sys.h: the freestanding base of berth's static C programs (the shim and
 * berth-init): raw Linux syscalls, a process entry point and the few libc
 * pieces they need. No libc: the programs stay a few KB and a process of
 * theirs costs a few pages. x86-64 only.
 */
#ifndef BERTH_SYS_H
#define BERTH_SYS_H

#if !defined(__x86_64__)
#error "berth's static C programs are written for x86-64"
#endif

typedef unsigned long size_t;
typedef long ssize_t;
typedef unsigned long uint64_t;
typedef long int64_t;
typedef unsigned int uint32_t;
typedef int int32_t;
typedef unsigned short uint16_t;
typedef unsigned char uint8_t;
#define NULL ((void *)0)

static inline long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#define sys0(n) sys6(n, 0, 0, 0, 0, 0, 0)
#define sys1(n, a) sys6(n, (long)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b) sys6(n, (long)(a), (long)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c) sys6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys4(n, a, b, c, d) sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define sys5(n, a, b, c, d, e) sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

/* syscall numbers (x86-64) */
#define SYS_read 0
#define SYS_write 1
#define SYS_close 3
#define SYS_fstat 5
#define SYS_lseek 8
#define SYS_mmap 9
#define SYS_munmap 11
#define SYS_brk 12
#define SYS_rt_sigaction 13
#define SYS_rt_sigprocmask 14
#define SYS_ioctl 16
#define SYS_socket 41
#define SYS_connect 42
#define SYS_sendmsg 46
#define SYS_recvmsg 47
#define SYS_shutdown 48
#define SYS_bind 49
#define SYS_listen 50
#define SYS_socketpair 53
#define SYS_clone 56
#define SYS_execve 59
#define SYS_exit 60
#define SYS_wait4 61
#define SYS_kill 62
#define SYS_fcntl 72
#define SYS_chdir 80
#define SYS_getpid 39
#define SYS_setpgid 109
#define SYS_getppid 110
#define SYS_setsid 112
#define SYS_rt_sigtimedwait 128
#define SYS_prctl 157
#define SYS_clock_gettime 228
#define SYS_exit_group 231
#define SYS_epoll_wait 232
#define SYS_epoll_ctl 233
#define SYS_unlinkat 263
#define SYS_renameat 264
#define SYS_openat 257
#define SYS_accept4 288
#define SYS_signalfd4 289
#define SYS_epoll_create1 291
#define SYS_dup3 292
#define SYS_pipe2 293
#define SYS_close_range 436

/* errno values */
#define EPERM 1
#define ENOENT 2
#define ESRCH 3
#define EINTR 4
#define EIO 5
#define EBADF 9
#define ECHILD 10
#define EAGAIN 11
#define ENOMEM 12
#define EACCES 13
#define EEXIST 17
#define ENOTDIR 20
#define EINVAL 22
#define EPIPE 32
#define ENOSYS 38

/* open flags */
#define O_RDONLY 0
#define O_WRONLY 1
#define O_RDWR 2
#define O_CREAT 0100
#define O_EXCL 0200
#define O_NOCTTY 0400
#define O_TRUNC 01000
#define O_APPEND 02000
#define O_NONBLOCK 04000
#define O_DIRECTORY 0200000
#define O_CLOEXEC 02000000
#define AT_FDCWD (-100)

#define F_GETFD 1
#define F_SETFD 2
#define F_GETFL 3
#define F_SETFL 4
#define FD_CLOEXEC 1

/* signals */
#define SIGHUP 1
#define SIGINT 2
#define SIGQUIT 3
#define SIGKILL 9
#define SIGUSR1 10
#define SIGSEGV 11
#define SIGPIPE 13
#define SIGALRM 14
#define SIGTERM 15
#define SIGCHLD 17
#define SIGCONT 18
#define SIGSTOP 19
#define SIGTSTP 20
#define SIGTTIN 21
#define SIGTTOU 22
#define SIGWINCH 28
#define SIG_BLOCK 0
#define SIG_UNBLOCK 1
#define SIG_SETMASK 2
#define SIG_DFL ((void *)0)
#define SIG_IGN ((void *)1)

struct k_sigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

struct signalfd_siginfo {
	uint32_t ssi_signo;
	int32_t ssi_errno;
	int32_t ssi_code;
	uint32_t ssi_pid;
	uint32_t ssi_uid;
	int32_t ssi_fd;
	uint32_t ssi_tid;
	uint32_t ssi_band;
	uint32_t ssi_overrun;
	uint32_t ssi_trapno;
	int32_t ssi_status;
	int32_t ssi_int;
	uint64_t ssi_ptr;
	uint64_t ssi_utime;
	uint64_t ssi_stime;
	uint64_t ssi_addr;
	uint8_t pad[48];
};

struct siginfo {
	int si_signo;
	int si_errno;
	int si_code;
	int pad0;
	int si_pid;
	int si_uid;
	int si_status;
	char rest[100];
};

/* wait */
#define WNOHANG 1
#define WIFEXITED(s) (((s)&0x7f) == 0)
#define WEXITSTATUS(s) (((s)&0xff00) >> 8)
#define WIFSIGNALED(s) (((signed char)(((s)&0x7f) + 1) >> 1) > 0)
#define WTERMSIG(s) ((s)&0x7f)

/* epoll */
#define EPOLLIN 0x001
#define EPOLLOUT 0x004
#define EPOLLERR 0x008
#define EPOLLHUP 0x010
#define EPOLLRDHUP 0x2000
#define EPOLL_CTL_ADD 1
#define EPOLL_CTL_DEL 2
#define EPOLL_CTL_MOD 3
#define EPOLL_CLOEXEC O_CLOEXEC
struct epoll_event {
	uint32_t events;
	uint64_t data;
} __attribute__((packed));

/* sockets */
#define AF_UNIX 1
#define SOCK_STREAM 1
#define SOCK_NONBLOCK O_NONBLOCK
#define SOCK_CLOEXEC O_CLOEXEC
#define SOL_SOCKET 1
#define SCM_RIGHTS 1
#define SHUT_WR 1
#define MSG_NOSIGNAL 0x4000
#define MSG_DONTWAIT 0x40
#define MSG_CMSG_CLOEXEC 0x40000000
struct sockaddr_un {
	uint16_t sun_family;
	char sun_path[108];
};
struct iovec {
	void *iov_base;
	size_t iov_len;
};
struct msghdr {
	void *msg_name;
	int msg_namelen;
	struct iovec *msg_iov;
	size_t msg_iovlen;
	void *msg_control;
	size_t msg_controllen;
	int msg_flags;
};
struct cmsghdr {
	size_t cmsg_len;
	int cmsg_level;
	int cmsg_type;
};

/* misc */
#define CLOCK_REALTIME 0
#define CLOCK_MONOTONIC 1
struct timespec {
	long tv_sec;
	long tv_nsec;
};
#define PR_SET_NAME 15
#define PR_SET_CHILD_SUBREAPER 36
#define PR_SET_PDEATHSIG 1
#define TIOCSWINSZ 0x5414
#define TIOCSCTTY 0x540E
#define TIOCGPGRP 0x540F
#define TIOCSPGRP 0x5410
struct winsize {
	uint16_t ws_row, ws_col, ws_xpixel, ws_ypixel;
};
#define PROT_READ 1
#define PROT_WRITE 2
#define MAP_PRIVATE 2
#define MAP_ANONYMOUS 0x20
#define CLOSE_RANGE_CLOEXEC 4

struct stat {
	uint64_t st_dev, st_ino, st_nlink;
	uint32_t st_mode, st_uid, st_gid, pad0;
	uint64_t st_rdev;
	int64_t st_size, st_blksize, st_blocks;
	uint64_t st_atime_, st_atime_nsec, st_mtime_, st_mtime_nsec, st_ctime_, st_ctime_nsec;
	int64_t unused[3];
};

/* thin wrappers: negative return values are -errno */
static inline ssize_t sys_read(int fd, void *b, size_t n) { return sys3(SYS_read, fd, b, n); }
static inline ssize_t sys_write(int fd, const void *b, size_t n) { return sys3(SYS_write, fd, b, n); }
static inline int sys_open(const char *p, int flags, int mode) { return (int)sys4(SYS_openat, AT_FDCWD, p, flags, mode); }
static inline int sys_close(int fd) { return (int)sys1(SYS_close, fd); }
static inline int sys_dup3(int a, int b, int flags) { return (int)sys3(SYS_dup3, a, b, flags); }
static inline int sys_pipe2(int *fds, int flags) { return (int)sys2(SYS_pipe2, fds, flags); }
static inline int sys_kill(int pid, int sig) { return (int)sys2(SYS_kill, pid, sig); }
static inline int sys_getpid(void) { return (int)sys0(SYS_getpid); }
static inline int sys_fork(void) { return (int)sys5(SYS_clone, SIGCHLD, 0, 0, 0, 0); }
static inline int sys_execve(const char *p, char *const *argv, char *const *envp) { return (int)sys3(SYS_execve, p, argv, envp); }
static inline int sys_wait4(int pid, int *status, int options) { return (int)sys4(SYS_wait4, pid, status, options, 0); }
static inline int sys_unlink(const char *p) { return (int)sys3(SYS_unlinkat, AT_FDCWD, p, 0); }
static inline int sys_rename(const char *a, const char *b) { return (int)sys4(SYS_renameat, AT_FDCWD, a, AT_FDCWD, b); }
static inline int sys_fcntl(int fd, int cmd, long arg) { return (int)sys3(SYS_fcntl, fd, cmd, arg); }
static inline int sys_ioctl(int fd, unsigned long req, void *arg) { return (int)sys3(SYS_ioctl, fd, req, arg); }
static inline int sys_prctl(int op, long a, long b, long c, long d) { return (int)sys5(SYS_prctl, op, a, b, c, d); }
static inline int sys_sigprocmask(int how, const uint64_t *set, uint64_t *old) { return (int)sys4(SYS_rt_sigprocmask, how, set, old, 8); }
static inline int sys_sigaction(int sig, const struct k_sigaction *act, struct k_sigaction *old) { return (int)sys4(SYS_rt_sigaction, sig, act, old, 8); }
static inline int sys_fstat(int fd, struct stat *st) { return (int)sys2(SYS_fstat, fd, st); }
static inline long sys_lseek(int fd, long off, int whence) { return sys3(SYS_lseek, fd, off, whence); }
static inline int sys_setsid(void) { return (int)sys0(SYS_setsid); }
static inline int sys_chdir(const char *p) { return (int)sys1(SYS_chdir, p); }
static inline __attribute__((noreturn)) void sys_exit(int code)
{
	for (;;)
		sys1(SYS_exit_group, code);
}
static inline void clock_now(int clock, struct timespec *ts) { sys2(SYS_clock_gettime, clock, ts); }

/* lib.c */
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
void *memchr(const void *s, int c, size_t n);
char *strdup_(const char *s);
void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
void xfree(void *p);
/* fmt_int writes v in decimal into b (at least 21 bytes) and returns the length. */
int fmt_int(char *b, long v);
/* parse_int parses a decimal integer; it returns 0 on success. */
int parse_int(const char *s, long *out);
/* write_all writes all of b, retrying on EINTR/short writes (blocking fds). */
int write_all(int fd, const void *b, size_t n);
/* errstr names a (positive) errno value. */
const char *errstr(int err);
/* say writes strings to stderr, the NULL-terminated list joined. */
void say(const char *s, ...);
const char *getenv_(char **envp, const char *name);
void reset_signals(void);

int main(int argc, char **argv, char **envp);

#endif
