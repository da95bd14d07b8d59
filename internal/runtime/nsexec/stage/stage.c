/*
 * berth-nsexec: the first stage of every container process.
 *
 * A freestanding static program (no libc: raw system calls only) that the
 * runtime executes from a sealed memfd (so a container can never reach a
 * writable runtime binary through /proc/<pid>/exe, CVE-2019-5736). It reads
 * a plan from the sync socket (fd argv[1]) and carries it out, operation by
 * operation: join namespaces, mount the root filesystem, create devices,
 * pivot, drop privileges and exec the user's process. The runtime (Go)
 * makes every decision when it writes the plan; this program only performs
 * the steps and reports the first failure. When a spec needs what this
 * program does not do, the plan only joins namespaces and execs the Go init
 * (OP_EXEC_GO).
 *
 * Built by `go generate` (gen.go) into berth-nsexec.amd64 and embedded.
 * The operation numbers are shared with plan.go; TestOpcodesMatch checks.
 */

#include <stdarg.h>

typedef unsigned long u64;
typedef long i64;
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;
typedef unsigned long size_t;

/* ---- system calls (x86_64) ---- */

#define NR_read 0
#define NR_write 1
#define NR_close 3
#define NR_mmap 9
#define NR_munmap 11
#define NR_pwrite64 18
#define NR_madvise 28
#define NR_fdatasync 75
#define NR_fadvise64 221
#define NR_execveat 322
#define NR_rt_sigaction 13
#define NR_rt_sigprocmask 14
#define NR_ioctl 16
#define NR_fcntl 72
#define NR_socket 41
#define NR_sendmsg 46
#define NR_execve 59
#define NR_umask 95
#define NR_getcwd 79
#define NR_chdir 80
#define NR_fchdir 81
#define NR_rmdir 84
#define NR_unlink 87
#define NR_chmod 90
#define NR_lchown 94
#define NR_setsid 112
#define NR_setgroups 116
#define NR_setresuid 117
#define NR_setresgid 119
#define NR_capset 126
#define NR_statfs 137
#define NR_pivot_root 155
#define NR_prctl 157
#define NR_chroot 161
#define NR_mount 165
#define NR_umount2 166
#define NR_sethostname 170
#define NR_setdomainname 171
#define NR_getdents64 217
#define NR_exit_group 231
#define NR_keyctl 250
#define NR_openat 257
#define NR_mkdirat 258
#define NR_mknodat 259
#define NR_newfstatat 262
#define NR_unshare 272
#define NR_symlinkat 266
#define NR_readlinkat 267
#define NR_dup3 292
#define NR_prlimit64 302
#define NR_setns 308
#define NR_seccomp 317
#define NR_close_range 436
#define NR_mount_setattr 442
#define NR_openat2 437

static long sc6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#define SC(n, a, b, c, d, e, f) sc6(NR_##n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

/* ---- constants (Linux UAPI, spelled out so no kernel headers are needed) ---- */

#define AT_FDCWD (-100)
#define AT_SYMLINK_NOFOLLOW 0x100
#define AT_EMPTY_PATH 0x1000
#define AT_RECURSIVE 0x8000
#define O_RDONLY 0
#define O_WRONLY 01
#define O_RDWR 02
#define O_CREAT 0100
#define O_NOCTTY 0400
#define O_DIRECTORY 0200000
#define O_NOFOLLOW 0400000
#define O_CLOEXEC 02000000
#define O_PATH 010000000
#define S_IFMT 0170000
#define S_IFDIR 0040000
#define S_IFLNK 0120000
#define MS_RDONLY 1
#define MS_NOSUID 2
#define MS_NODEV 4
#define MS_NOEXEC 8
#define MS_REMOUNT 32
#define MS_NOATIME 1024
#define MS_NODIRATIME 2048
#define MS_BIND 4096
#define MS_MOVE 8192
#define MS_REC 16384
#define MS_RELATIME (1 << 21)
#define MS_STRICTATIME (1 << 24)
#define MNT_DETACH 2
#define MS_SLAVE (1 << 19)
#define CLONE_NEWUSER 0x10000000
#define CLONE_NEWTIME 0x00000080
#define PR_SET_NAME 15
#define PR_CAPBSET_DROP 24
#define PR_SET_KEEPCAPS 8
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#define SECCOMP_SET_MODE_FILTER 1
#define SECCOMP_FILTER_FLAG_TSYNC 1
#define SECCOMP_FILTER_FLAG_NEW_LISTENER 8
#define KEYCTL_JOIN_SESSION_KEYRING 1
#define CLOSE_RANGE_CLOEXEC 4
#define TIOCSCTTY 0x540E
#define TIOCSWINSZ 0x5414
#define TIOCGPTN 0x80045430
#define TIOCSPTLCK 0x40045431
#define TIOCGPTPEER 0x5441
#define SOL_SOCKET 1
#define SCM_RIGHTS 1
#define SIG_DFL 0
#define SIG_IGN 1

#define EINTR 4
#define ENOENT 2
#define EPERM 1
#define EEXIST 17
#define ENOTDIR 20
#define EISDIR 21
#define EINVAL 22
#define EACCES 13
#define ELOOP 40
#define ENOSYS 38
#define ENAMETOOLONG 36
#define E2BIG 7

#include "errnos.h"

/* ---- tiny libc ---- */

void *memcpy(void *d, const void *s, size_t n)
{
	u8 *dp = d;
	const u8 *sp = s;
	while (n--)
		*dp++ = *sp++;
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	u8 *dp = d;
	const u8 *sp = s;
	if (dp < sp)
		while (n--)
			*dp++ = *sp++;
	else
		while (n--)
			dp[n] = sp[n];
	return d;
}

void *memset(void *d, int c, size_t n)
{
	u8 *dp = d;
	while (n--)
		*dp++ = (u8)c;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const u8 *x = a, *y = b;
	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

static size_t slen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

static int seq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static int has_prefix(const char *s, const char *p)
{
	while (*p)
		if (*s++ != *p++)
			return 0;
	return 1;
}

/* ---- bounded string building ---- */

#define PATHMAX 4096

struct sb {
	char *p;
	size_t n, cap;
};

static void sb_putn(struct sb *b, const char *s, size_t n)
{
	while (n-- && b->n + 1 < b->cap)
		b->p[b->n++] = *s++;
	b->p[b->n] = 0;
}

static void sb_put(struct sb *b, const char *s) { sb_putn(b, s, slen(s)); }

static void sb_num(struct sb *b, u64 v, int base, int neg)
{
	char t[32];
	int i = 0;
	if (neg)
		sb_putn(b, "-", 1);
	do {
		t[i++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (i--)
		sb_putn(b, &t[i], 1);
}

/* vfmt supports %s %d %ld %u %lu %x %lx %o %c %%. */
static void vfmt(struct sb *b, const char *f, va_list ap)
{
	for (; *f; f++) {
		int lng = 0;
		if (*f != '%') {
			sb_putn(b, f, 1);
			continue;
		}
		f++;
		if (*f == 'l')
			lng = 1, f++;
		switch (*f) {
		case 's':
			sb_put(b, va_arg(ap, const char *));
			break;
		case 'd': {
			i64 v = lng ? va_arg(ap, i64) : va_arg(ap, int);
			sb_num(b, v < 0 ? -(u64)v : (u64)v, 10, v < 0);
			break;
		}
		case 'u':
			sb_num(b, lng ? va_arg(ap, u64) : va_arg(ap, u32), 10, 0);
			break;
		case 'x':
			sb_num(b, lng ? va_arg(ap, u64) : va_arg(ap, u32), 16, 0);
			break;
		case 'o':
			sb_num(b, lng ? va_arg(ap, u64) : va_arg(ap, u32), 8, 0);
			break;
		case 'c': {
			char c = (char)va_arg(ap, int);
			sb_putn(b, &c, 1);
			break;
		}
		default:
			sb_putn(b, f, 1);
		}
	}
}

static void fmt(char *out, size_t cap, const char *f, ...)
{
	struct sb b = {out, 0, cap};
	va_list ap;
	out[0] = 0;
	va_start(ap, f);
	vfmt(&b, f, ap);
	va_end(ap);
}

/* ---- reporting ---- */

static int g_sync = -1; /* the sync socket */
static int g_ready;     /* "ready" sent: the parent no longer reads errors */

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		long r = SC(write, fd, p, n, 0, 0, 0);
		if (r == -EINTR)
			continue;
		if (r <= 0)
			return;
		p += r;
		n -= (size_t)r;
	}
}

static const char *errstr(int e, char *tmp)
{
	if (e > 0 && e < (int)(sizeof(errnames) / sizeof(errnames[0])) && errnames[e])
		return errnames[e];
	fmt(tmp, 32, "errno %d", e);
	return tmp;
}

static void json_str(struct sb *b, const char *s)
{
	for (; *s; s++) {
		u8 c = (u8)*s;
		if (c == '"' || c == '\\') {
			sb_putn(b, "\\", 1);
			sb_putn(b, s, 1);
		} else if (c < 0x20) {
			char t[8];
			fmt(t, sizeof(t), "\\u00%c%c", "0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 15]);
			sb_put(b, t);
		} else {
			sb_putn(b, s, 1);
		}
	}
}

/*
 * fail reports msg (plus ": " and the error text when err > 0) and exits:
 * to the parent as a JSON sync message before "ready", to stderr after.
 */
__attribute__((noreturn)) static void fail(int err, const char *f, ...)
{
	static char msg[8192], out[16384];
	char tmp[32];
	struct sb m = {msg, 0, sizeof(msg)};
	va_list ap;
	va_start(ap, f);
	vfmt(&m, f, ap);
	va_end(ap);
	if (err > 0) {
		sb_put(&m, ": ");
		sb_put(&m, errstr(err, tmp));
	}
	struct sb o = {out, 0, sizeof(out)};
	if (!g_ready && g_sync >= 0) {
		sb_put(&o, "{\"type\":\"error\",\"error\":\"");
		json_str(&o, msg);
		sb_put(&o, "\"");
		if (err > 0) {
			sb_put(&o, ",\"errno\":");
			sb_num(&o, (u64)err, 10, 0);
		}
		sb_put(&o, "}\n");
		write_all(g_sync, out, o.n);
	} else {
		sb_put(&o, "berth init: ");
		sb_put(&o, msg);
		sb_put(&o, "\n");
		write_all(2, out, o.n);
	}
	SC(exit_group, 1, 0, 0, 0, 0, 0);
	for (;;)
		;
}

static void send_msg(const char *type)
{
	char b[64];
	fmt(b, sizeof(b), "{\"type\":\"%s\"}\n", type);
	write_all(g_sync, b, slen(b));
}

/* ---- plan decoding ---- */

#define PLAN_MAGIC "BERTHPL1"
#define PLAN_MAX (8 << 20)
#define MAXARGS 16

static u8 plan[PLAN_MAX];

struct op {
	u32 code, n;
	const u8 *a[MAXARGS];
	u32 l[MAXARGS];
};

static void read_full(int fd, u8 *p, size_t n, const char *what)
{
	while (n) {
		long r = SC(read, fd, p, n, 0, 0, 0);
		if (r == -EINTR)
			continue;
		if (r < 0)
			fail((int)-r, "read %s", what);
		if (r == 0)
			fail(0, "read %s: unexpected end of stream", what);
		p += r;
		n -= (size_t)r;
	}
}

static u32 le32(const u8 *p) { return p[0] | p[1] << 8 | p[2] << 16 | (u32)p[3] << 24; }

static u64 le64(const u8 *p) { return le32(p) | (u64)le32(p + 4) << 32; }

/* Argument accessors: S = NUL-terminated string, U = 64-bit integer. */
static const char *S(const struct op *o, u32 i)
{
	if (i >= o->n || o->l[i] == 0 || o->a[i][o->l[i] - 1] != 0)
		fail(0, "plan: operation %u: argument %u is not a string", o->code, i);
	return (const char *)o->a[i];
}

static u64 U(const struct op *o, u32 i)
{
	if (i >= o->n || o->l[i] != 8)
		fail(0, "plan: operation %u: argument %u is not an integer", o->code, i);
	return le64(o->a[i]);
}

/* L splits a list argument (NUL-terminated strings back to back) into out. */
static int L(const struct op *o, u32 i, char **out, int max)
{
	int n = 0;
	u32 off = 0;
	if (i >= o->n)
		fail(0, "plan: operation %u: missing list argument %u", o->code, i);
	while (off < o->l[i]) {
		const char *s = (const char *)o->a[i] + off;
		u32 k = off;
		while (k < o->l[i] && o->a[i][k])
			k++;
		if (k == o->l[i])
			fail(0, "plan: operation %u: unterminated list entry", o->code);
		if (n + 1 >= max)
			fail(0, "plan: operation %u: list too long", o->code);
		out[n++] = (char *)s;
		off = k + 1;
	}
	out[n] = 0;
	return n;
}

/* ---- path helpers mirroring the Go init (securejoin, os.MkdirAll) ---- */

struct kstat {
	u64 dev, ino, nlink;
	u32 mode, uid, gid, pad0;
	u64 rdev;
	i64 size, blksize, blocks;
	u64 times[6];
	i64 unused[3];
};

struct kstatfs {
	i64 type, bsize, blocks, bfree, bavail, files, ffree;
	int fsid[2];
	i64 namelen, frsize, flags, spare[4];
};

static int do_stat(const char *p, struct kstat *st, int nofollow)
{
	return (int)SC(newfstatat, AT_FDCWD, p, st, nofollow ? AT_SYMLINK_NOFOLLOW : 0, 0, 0);
}

/* g_op names the call that failed in a helper, like Go's *PathError ("mkdir /x"). */
static char g_op[PATHMAX + 64];

static void closefd(int fd) { SC(close, fd, 0, 0, 0, 0, 0); }

static int pathfail(int r, const char *op, const char *path)
{
	fmt(g_op, sizeof(g_op), "%s %s", op, path);
	return r;
}

/* clean_join appends component c (not containing '/') to the absolute,
 * clean path cur, as filepath.Join("/", cur, c) does. */
static void clean_join(char *cur, const char *c, size_t clen)
{
	size_t n = slen(cur);
	if (clen == 0 || (clen == 1 && c[0] == '.'))
		return;
	if (clen == 2 && c[0] == '.' && c[1] == '.') {
		while (n > 0 && cur[n - 1] != '/')
			n--;
		if (n > 0)
			n--; /* the slash */
		cur[n] = 0;
		return;
	}
	if (n + 1 + clen + 1 >= PATHMAX)
		return;
	cur[n++] = '/';
	memcpy(cur + n, c, clen);
	cur[n + clen] = 0;
}

/* securejoin resolves unsafe inside root like filepath-securejoin's
 * SecureJoin: symlinks are expanded with root as "/", ".." stops at root. */
static int securejoin(const char *root, const char *unsafe, char *out)
{
	static char rem[2][PATHMAX * 2];
	char cur[PATHMAX], full[PATHMAX * 2], link[PATHMAX];
	int which = 0, links = 0;
	size_t rl = slen(unsafe);
	if (rl >= sizeof(rem[0]))
		return pathfail(-ENAMETOOLONG, "SecureJoin", unsafe);
	memcpy(rem[0], unsafe, rl + 1);
	cur[0] = 0;
	char *r = rem[0];
	while (*r) {
		char *slash = r;
		while (*slash && *slash != '/')
			slash++;
		size_t plen = (size_t)(slash - r);
		char *part = r;
		r = *slash ? slash + 1 : slash;
		char next[PATHMAX];
		memcpy(next, cur, slen(cur) + 1);
		clean_join(next, part, plen);
		if (next[0] == 0) {
			cur[0] = 0;
			continue;
		}
		fmt(full, sizeof(full), "%s/%s", root, next + 1);
		struct kstat st;
		int e = do_stat(full, &st, 1);
		if (e < 0 && e != -ENOENT && e != -ENOTDIR)
			return pathfail(e, "lstat", full);
		if (e < 0 || (st.mode & S_IFMT) != S_IFLNK) {
			memcpy(cur, next, slen(next) + 1);
			continue;
		}
		if (++links > 255) {
			fmt(g_op, sizeof(g_op), "SecureJoin %s/%s", root, unsafe);
			return -ELOOP;
		}
		long n = SC(readlinkat, AT_FDCWD, full, link, sizeof(link) - 1, 0, 0);
		if (n < 0)
			return pathfail((int)n, "readlink", full);
		link[n] = 0;
		/* remaining = link + "/" + rest */
		char *dst = rem[which ^ 1];
		size_t restlen = slen(r);
		if ((size_t)n + 1 + restlen + 1 > sizeof(rem[0]))
			return pathfail(-ENAMETOOLONG, "SecureJoin", unsafe);
		memmove(dst + n + 1, r, restlen + 1);
		memcpy(dst, link, (size_t)n);
		dst[n] = '/';
		which ^= 1;
		r = dst;
		if (link[0] == '/')
			cur[0] = 0;
	}
	/* filepath.Join(root, "/"+cur): root is clean (the runtime passes an absolute, clean path). */
	if (cur[0])
		fmt(out, PATHMAX, "%s%s", seq(root, "/") ? "" : root, cur);
	else
		fmt(out, PATHMAX, "%s", root);
	return 0;
}

/* mkdir_all is os.MkdirAll(path, 0755). */
static int mkdir_all(const char *path)
{
	struct kstat st;
	if (do_stat(path, &st, 0) == 0) {
		if ((st.mode & S_IFMT) == S_IFDIR)
			return 0;
		return pathfail(-ENOTDIR, "mkdir", path);
	}
	size_t i = slen(path);
	while (i > 0 && path[i - 1] == '/')
		i--;
	size_t j = i;
	while (j > 0 && path[j - 1] != '/')
		j--;
	if (j > 1) {
		char parent[PATHMAX];
		memcpy(parent, path, j - 1);
		parent[j - 1] = 0;
		int e = mkdir_all(parent);
		if (e < 0)
			return e;
	}
	int e = (int)SC(mkdirat, AT_FDCWD, path, 0755, 0, 0, 0);
	if (e < 0) {
		if (do_stat(path, &st, 1) == 0 && (st.mode & S_IFMT) == S_IFDIR)
			return 0;
		return pathfail(e, "mkdir", path);
	}
	return 0;
}

static void dirname(const char *p, char *out)
{
	size_t n = slen(p);
	while (n > 0 && p[n - 1] != '/')
		n--;
	while (n > 1 && p[n - 1] == '/')
		n--;
	if (n == 0) {
		out[0] = '.';
		out[1] = 0;
		return;
	}
	memcpy(out, p, n);
	out[n] = 0;
}

/* create_file makes an empty regular file at path if nothing is there. */
static int create_file(const char *path, int mode)
{
	int fd = (int)SC(openat, AT_FDCWD, path, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, mode, 0, 0);
	if (fd < 0)
		return pathfail(fd, "open", path);
	SC(close, fd, 0, 0, 0, 0, 0);
	return 0;
}

static void procfd(int fd, char *out) { fmt(out, 64, "/proc/self/fd/%d", fd); }

struct open_how {
	u64 flags, mode, resolve;
};

#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_IN_ROOT 0x10

/* fast_target is target() in a few system calls for the usual cases: dest
 * exists inside rootfs with the right type, or only its last component is
 * missing. The kernel resolves the path with rootfs as "/" (openat2
 * RESOLVE_IN_ROOT), as securejoin does with a system call per component.
 * It returns -1 for anything else, and target() takes the long way, which
 * also reports errors. */
static int fast_target(const char *rootfs, const char *dest, int is_file)
{
	static int rootfd = -1;
	static char rootpath[PATHMAX];
	if (rootfd < 0 || !seq(rootpath, rootfs)) {
		if (rootfd >= 0)
			closefd(rootfd);
		/* Opened once the rootfs is bound onto itself (the second
		 * operation of a plan), before any target. */
		rootfd = (int)SC(openat, AT_FDCWD, rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, 0, 0);
		if (rootfd < 0)
			return -1;
		fmt(rootpath, sizeof(rootpath), "%s", rootfs);
	}
	struct open_how how = {O_PATH | O_CLOEXEC, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	int fd = (int)SC(openat2, rootfd, dest, &how, sizeof(how), 0, 0);
	struct kstat st;
	if (fd >= 0) {
		if (SC(newfstatat, fd, "", &st, AT_EMPTY_PATH, 0, 0) < 0 || ((st.mode & S_IFMT) == S_IFDIR) == is_file) {
			closefd(fd);
			return -1;
		}
		return fd;
	}
	if (fd != -ENOENT)
		return -1;
	/* Missing: create its last component under its existing parent. */
	char parent[PATHMAX];
	size_t n = slen(dest);
	while (n > 0 && dest[n - 1] == '/')
		n--;
	size_t i = n;
	while (i > 0 && dest[i - 1] != '/')
		i--;
	const char *name = dest + i;
	size_t nl = n - i;
	if (nl == 0 || nl >= 256 || (nl == 1 && name[0] == '.') || (nl == 2 && name[0] == '.' && name[1] == '.') || i >= PATHMAX)
		return -1;
	char last[256];
	memcpy(last, name, nl);
	last[nl] = 0;
	memcpy(parent, dest, i);
	parent[i] = 0;
	if (i == 0)
		fmt(parent, sizeof(parent), "/");
	struct open_how dhow = {O_PATH | O_DIRECTORY | O_CLOEXEC, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	int pfd = (int)SC(openat2, rootfd, parent, &dhow, sizeof(dhow), 0, 0);
	if (pfd < 0)
		return -1;
	if (is_file) {
		int f = (int)SC(openat, pfd, last, O_CREAT | 0200 /* O_EXCL */ | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644, 0, 0);
		if (f < 0) {
			closefd(pfd);
			return -1;
		}
		closefd(f);
	} else if (SC(mkdirat, pfd, last, 0755, 0, 0, 0) < 0) {
		closefd(pfd);
		return -1;
	}
	fd = (int)SC(openat, pfd, last, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0, 0, 0);
	closefd(pfd);
	return fd;
}

/*
 * target resolves dest inside rootfs, creates it (a directory, or a file
 * when is_file) and returns an O_PATH handle on it, checked to be inside
 * rootfs (the Go init's target()). Failures end the process with ctx.
 */
static int target(const char *ctx, const char *rootfs, const char *dest, int is_file)
{
	char path[PATHMAX], real[PATHMAX], pfd[64];
	int e;
	int fast = fast_target(rootfs, dest, is_file);
	if (fast >= 0)
		return fast;
	g_op[0] = 0;
	if ((e = securejoin(rootfs, dest, path)) < 0)
		fail(-e, "%s: %s", ctx, g_op);
	if (is_file) {
		char dir[PATHMAX];
		struct kstat st;
		dirname(path, dir);
		if ((e = mkdir_all(dir)) < 0)
			fail(-e, "%s: %s", ctx, g_op);
		if (do_stat(path, &st, 1) == -ENOENT && (e = create_file(path, 0644)) < 0)
			fail(-e, "%s: %s", ctx, g_op);
	} else if ((e = mkdir_all(path)) < 0) {
		fail(-e, "%s: %s", ctx, g_op);
	}
	int fd = (int)SC(openat, AT_FDCWD, path, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0, 0, 0);
	if (fd < 0)
		fail(-fd, "%s", ctx);
	procfd(fd, pfd);
	long n = SC(readlinkat, AT_FDCWD, pfd, real, sizeof(real) - 1, 0, 0);
	if (n < 0)
		fail((int)-n, "%s: readlink %s", ctx, pfd);
	real[n] = 0;
	size_t rl = slen(rootfs);
	if (!seq(real, rootfs) && !(has_prefix(real, rootfs) && real[rl] == '/'))
		fail(0, "%s: mount target %s resolves outside the rootfs (%s)", ctx, dest, real);
	return fd;
}

static long do_mount(const char *src, const char *dst, const char *type, u64 flags, const char *data)
{
	return SC(mount, src, dst, type, flags, data, 0);
}

/* statfs_flags are the flags of the mount at p that a bind remount must repeat. */
static u64 statfs_flags(const char *p, u64 mask)
{
	struct kstatfs st;
	if (SC(statfs, p, &st, 0, 0, 0, 0) < 0)
		return 0;
	return (u64)st.flags & mask;
}

#define LOCKED (MS_NODEV | MS_NOSUID | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME)

/* remount_bind is the Go init's remountBind; returns -errno with g_op set. */
static int remount_bind(const char *dst, u64 flags)
{
	flags |= statfs_flags(dst, LOCKED);
	long e = do_mount("", dst, "", MS_BIND | MS_REMOUNT | flags, "");
	if (e < 0) {
		fmt(g_op, sizeof(g_op), "remount bind with flags 0x%lx", flags);
		return (int)e;
	}
	return 0;
}

/* ---- operations ---- */

enum {
	OP_JOIN_NS = 1,
	OP_UNSHARE = 2,
	OP_NEWTIME = 3,
	OP_EXEC_GO = 4,
	OP_SETSID = 5,
	OP_MOUNT = 6,
	OP_SPEC_MOUNT = 7,
	OP_TARGET_MOUNT = 8,
	OP_REMOUNT_AT = 9,
	OP_ROOTED_SYMLINK = 10,
	OP_DEVICE = 11,
	OP_DEV_SYMLINKS = 12,
	OP_CONSOLE = 13,
	OP_HOOKS_SYNC = 14,
	OP_PIVOT = 15,
	OP_MOVE_ROOT = 16,
	OP_SETHOSTNAME = 17,
	OP_SETDOMAINNAME = 18,
	OP_WRITE_FILE = 19,
	OP_READONLY_PATH = 20,
	OP_MASK_PATH = 21,
	OP_REMOUNT_IN_PLACE = 22,
	OP_REMOUNT_BIND = 23,
	OP_KEYRING = 24,
	OP_CHDIR = 25,
	OP_ENV = 26,
	OP_ENV_HOME = 27,
	OP_LOOKPATH = 28,
	OP_READY = 29,
	OP_WAIT_FIFO = 30,
	OP_PRCTL = 31,
	OP_SECCOMP = 32,
	OP_DROP_BOUNDING = 33,
	OP_SETUSER = 34,
	OP_CAPSET = 35,
	OP_AMBIENT = 36,
	OP_UMASK = 37,
	OP_CLOSE_FROM = 38,
	OP_RLIMIT = 39,
	OP_RESET_SIGNALS = 40,
	OP_EXEC = 41,
	OP_END = 42,
	OP_ENTER_CGROUP = 43,
	OP_LOOPBACK_UP = 44,
};

#define MAXLIST 4096
static char *g_env[MAXLIST + 2];
static int g_nenv;
static char g_path[PATHMAX];
static char **g_envp; /* our own environment, for OP_EXEC_GO */

/* join_ns enters the namespaces of consecutive OP_JOIN_NS operations:
 * every path is opened first, since entering a mount namespace changes
 * what /proc shows. A joined user namespace comes first in the plan. */
static void join_ns(const struct op *ops, int n)
{
	int fds[16];
	for (int i = 0; i < n; i++) {
		const char *path = S(&ops[i], 1);
		fds[i] = (int)SC(openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0, 0, 0);
		if (fds[i] < 0)
			fail(-fds[i], "open %s", path);
	}
	for (int i = 0; i < n; i++) {
		u64 type = U(&ops[i], 0);
		const char *path = S(&ops[i], 1);
		long e = SC(setns, fds[i], type, 0, 0, 0, 0);
		if (e < 0)
			fail((int)-e, "setns %s", path);
		closefd(fds[i]);
		if (type == CLONE_NEWUSER) {
			/* Act as root of the joined user namespace. */
			if ((e = SC(setresgid, 0, 0, 0, 0, 0, 0)) < 0)
				fail((int)-e, "setresgid in user namespace %s", path);
			if ((e = SC(setresuid, 0, 0, 0, 0, 0, 0)) < 0)
				fail((int)-e, "setresuid in user namespace %s", path);
		}
	}
}

static void op_newtime(const struct op *o)
{
	const char *offs = S(o, 0);
	long e = SC(unshare, CLONE_NEWTIME, 0, 0, 0, 0, 0);
	if (e < 0)
		fail((int)-e, "create time namespace");
	if (*offs) {
		/* Offsets can only be written before any process is inside. */
		int fd = (int)SC(openat, AT_FDCWD, "/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC, 0, 0, 0);
		if (fd < 0)
			fail(-fd, "open /proc/self/timens_offsets");
		const char *p = offs;
		while (*p) {
			const char *q = p;
			while (*q && *q != ',')
				q++;
			e = SC(write, fd, p, q - p, 0, 0, 0);
			if (e < 0)
				fail((int)-e, "write time offsets");
			p = *q ? q + 1 : q;
		}
		closefd(fd);
	}
	int fd = (int)SC(openat, AT_FDCWD, "/proc/self/ns/time_for_children", O_RDONLY | O_CLOEXEC, 0, 0, 0);
	if (fd < 0)
		fail(-fd, "open /proc/self/ns/time_for_children");
	if ((e = SC(setns, fd, CLONE_NEWTIME, 0, 0, 0, 0)) < 0)
		fail((int)-e, "enter time namespace");
	closefd(fd);
}

static void op_spec_mount(const struct op *o)
{
	const char *rootfs = S(o, 0), *src = S(o, 1), *dest = S(o, 2), *type = S(o, 3);
	u64 flags = U(o, 4);
	const char *data = S(o, 5);
	u64 kind = U(o, 6), rest = U(o, 7), aset = U(o, 8), aclr = U(o, 9);
	const u8 *props = o->a[10];
	u32 nprops = o->l[10] / 8;
	const char *ctx = S(o, 11);
	char dst[64], dst2[64];
	int is_file = 0;
	long e;
	if (kind == 1) {
		struct kstat st;
		if ((e = do_stat(src, &st, 0)) < 0)
			fail((int)-e, "%s: bind source: stat %s", ctx, src);
		is_file = (st.mode & S_IFMT) != S_IFDIR;
	}
	int t = target(ctx, rootfs, dest, is_file);
	procfd(t, dst);
	if (kind == 1) {
		if ((e = do_mount(src, dst, "", MS_BIND | (flags & MS_REC), "")) < 0)
			fail((int)-e, "%s", ctx);
		/* Reopen: the handle points below the new mount. */
		int t2 = target(ctx, rootfs, dest, is_file);
		procfd(t2, dst2);
		if (rest && (e = remount_bind(dst2, rest)) < 0)
			fail((int)-e, "%s: %s", ctx, g_op);
		closefd(t2);
	} else if (kind == 2) {
		/* sysfs, mqueue: without owning the net/ipc namespace the kernel
		 * refuses a new instance; bind the host's instead, as runc does. */
		if ((e = do_mount(src, dst, type, flags, data)) < 0) {
			char host[PATHMAX];
			const char *d = dest;
			while (*d == '/')
				d++;
			fmt(host, sizeof(host), "/%s", d);
			if (do_mount(host, dst, "", MS_BIND | MS_REC, "") < 0)
				fail((int)-e, "%s", ctx);
			if (flags & MS_RDONLY) {
				int t2 = target(ctx, rootfs, dest, 0);
				procfd(t2, dst2);
				if ((e = remount_bind(dst2, flags)) < 0)
					fail((int)-e, "%s: %s", ctx, g_op);
				closefd(t2);
			}
		}
	} else if ((e = do_mount(src, dst, type, flags, data)) < 0) {
		fail((int)-e, "%s", ctx);
	}
	closefd(t);
	if (aset || aclr) {
		u64 attr[4] = {aset, aclr, 0, 0};
		int t3 = target(ctx, rootfs, dest, is_file);
		if ((e = SC(mount_setattr, t3, "", AT_EMPTY_PATH | AT_RECURSIVE, attr, sizeof(attr), 0)) < 0)
			fail((int)-e, "%s: mount_setattr", ctx);
		closefd(t3);
	}
	if (nprops) {
		int t4 = target(ctx, rootfs, dest, is_file);
		procfd(t4, dst);
		for (u32 i = 0; i < nprops; i++)
			if ((e = do_mount("", dst, "", le64(props + 8 * i), "")) < 0)
				fail((int)-e, "%s: set propagation", ctx);
		closefd(t4);
	}
}

static void op_target_mount(const struct op *o)
{
	const char *rootfs = S(o, 0), *dest = S(o, 1), *src = S(o, 2), *type = S(o, 3);
	u64 flags = U(o, 4);
	const char *data = S(o, 5), *ctx = S(o, 6);
	char dst[64];
	int t = target(ctx, rootfs, dest, 0);
	procfd(t, dst);
	long e = do_mount(src, dst, type, flags, data);
	if (e < 0)
		fail((int)-e, "%s", ctx);
	closefd(t);
}

static void op_remount_at(const struct op *o)
{
	const char *rootfs = S(o, 0), *dest = S(o, 1), *ctx = S(o, 3);
	u64 flags = U(o, 2) & ~(u64)(MS_BIND | MS_REC | MS_REMOUNT);
	char dst[64];
	if (!flags)
		return;
	int t = target(ctx, rootfs, dest, 0);
	procfd(t, dst);
	int e = remount_bind(dst, flags);
	if (e < 0)
		fail(-e, "%s: %s", ctx, g_op);
	closefd(t);
}

static void op_rooted_symlink(const struct op *o)
{
	const char *rootfs = S(o, 0), *old = S(o, 1), *path = S(o, 2), *ctx = S(o, 4);
	int ignore = (int)U(o, 3);
	char p[PATHMAX];
	int e = securejoin(rootfs, path, p);
	if (e < 0) {
		if (ignore)
			return;
		fail(-e, "%s", g_op);
	}
	long r = SC(symlinkat, old, AT_FDCWD, p, 0, 0, 0);
	if (r < 0 && !ignore && r != -EEXIST)
		fail((int)-r, "%s", ctx);
}

static void op_device(const struct op *o)
{
	const char *rootfs = S(o, 0), *dpath = S(o, 1);
	u64 mode = U(o, 2), dev = U(o, 3), uid = U(o, 4), gid = U(o, 5);
	const char *ctx = S(o, 6);
	char path[PATHMAX], dir[PATHMAX];
	long e;
	g_op[0] = 0;
	if ((e = securejoin(rootfs, dpath, path)) < 0)
		fail((int)-e, "%s: %s", ctx, g_op);
	dirname(path, dir);
	if ((e = mkdir_all(dir)) < 0)
		fail((int)-e, "%s: %s", ctx, g_op);
	/* os.Remove: unlink, else rmdir; errors ignored. */
	if (SC(unlink, path, 0, 0, 0, 0, 0) < 0)
		SC(rmdir, path, 0, 0, 0, 0, 0);
	e = SC(mknodat, AT_FDCWD, path, mode, dev, 0, 0);
	if (e == -EPERM) {
		/* In a user namespace: bind the host's node instead. */
		if ((e = create_file(path, 0644)) < 0)
			fail((int)-e, "%s: %s", ctx, g_op);
		if ((e = do_mount(dpath, path, "", MS_BIND, "")) < 0)
			fail((int)-e, "%s", ctx);
		return;
	}
	if (e < 0)
		fail((int)-e, "%s", ctx);
	/* mknod honours the umask; set the exact mode. */
	if ((e = SC(chmod, path, mode & 07777, 0, 0, 0, 0)) < 0)
		fail((int)-e, "%s", ctx);
	if ((e = SC(lchown, path, uid, gid, 0, 0, 0)) < 0)
		fail((int)-e, "%s", ctx);
}

static void op_dev_symlinks(const struct op *o)
{
	const char *rootfs = S(o, 0);
	int kcore = (int)U(o, 1);
	const char *links[7][2] = {{"/proc/self/fd", "/dev/fd"}, {"/proc/self/fd/0", "/dev/stdin"},
				   {"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"}};
	int n = 4;
	char ptmx[PATHMAX], p[PATHMAX];
	int e;
	if (kcore) {
		links[n][0] = "/proc/kcore";
		links[n++][1] = "/dev/core";
	}
	if ((e = securejoin(rootfs, "/dev/ptmx", ptmx)) < 0)
		fail(-e, "%s", g_op);
	struct kstat st;
	e = do_stat(ptmx, &st, 1);
	if (e == -ENOENT) {
		links[n][0] = "pts/ptmx";
		links[n++][1] = "/dev/ptmx";
	} else if (e == 0 && (st.mode & S_IFMT) != S_IFLNK) {
		if (SC(unlink, ptmx, 0, 0, 0, 0, 0) < 0)
			SC(rmdir, ptmx, 0, 0, 0, 0, 0);
		links[n][0] = "pts/ptmx";
		links[n++][1] = "/dev/ptmx";
	}
	for (int i = 0; i < n; i++) {
		if ((e = securejoin(rootfs, links[i][1], p)) < 0)
			fail(-e, "%s", g_op);
		long r = SC(symlinkat, links[i][0], AT_FDCWD, p, 0, 0, 0);
		if (r < 0 && r != -EEXIST)
			fail((int)-r, "symlink %s", links[i][1]);
	}
}

struct iovec {
	void *base;
	size_t len;
};

struct msghdr {
	void *name;
	int namelen;
	struct iovec *iov;
	size_t iovlen;
	void *control;
	size_t controllen;
	int flags;
};

struct winsize {
	u16 row, col, xpixel, ypixel;
};

static void op_console(const struct op *o)
{
	int sock = (int)U(o, 0);
	const char *rootfs = S(o, 1);
	int mount_console = (int)U(o, 2), has_size = (int)U(o, 3);
	u16 rows = (u16)U(o, 4), cols = (u16)U(o, 5);
	char ptmx[PATHMAX], slave_path[64], console[PATHMAX];
	int e;
	if (*rootfs) {
		if ((e = securejoin(rootfs, "/dev/pts/ptmx", ptmx)) < 0)
			fail(-e, "%s", g_op);
	} else {
		fmt(ptmx, sizeof(ptmx), "/dev/ptmx");
	}
	int master = (int)SC(openat, AT_FDCWD, ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC, 0, 0, 0);
	if (master < 0)
		fail(-master, "open %s", ptmx);
	int zero = 0;
	long r = SC(ioctl, master, TIOCSPTLCK, &zero, 0, 0, 0);
	if (r < 0)
		fail((int)-r, "unlock pty");
	u32 ptn;
	if ((r = SC(ioctl, master, TIOCGPTN, &ptn, 0, 0, 0)) < 0)
		fail((int)-r, "get pty number");
	fmt(slave_path, sizeof(slave_path), "/dev/pts/%u", ptn);
	/* Open the slave through the master (TIOCGPTPEER): no path lookup. */
	int slave = (int)SC(ioctl, master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC, 0, 0, 0);
	if (slave < 0) {
		char sp[PATHMAX];
		if (*rootfs) {
			if ((e = securejoin(rootfs, slave_path, sp)) < 0)
				fail(-e, "%s", g_op);
		} else {
			fmt(sp, sizeof(sp), "%s", slave_path);
		}
		slave = (int)SC(openat, AT_FDCWD, sp, O_RDWR | O_NOCTTY | O_CLOEXEC, 0, 0, 0);
		if (slave < 0)
			fail(-slave, "open pty slave");
	}
	if (has_size) {
		struct winsize ws = {rows, cols, 0, 0};
		SC(ioctl, slave, TIOCSWINSZ, &ws, 0, 0, 0);
	}
	/* Send the master with the slave's path, as runc does. */
	union {
		u8 b[24];
		u64 align;
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	u64 clen = 16 + 4; /* CMSG_LEN(sizeof(int)) */
	memcpy(ctl.b, &clen, 8);
	int lvl = SOL_SOCKET, typ = SCM_RIGHTS;
	memcpy(ctl.b + 8, &lvl, 4);
	memcpy(ctl.b + 12, &typ, 4);
	memcpy(ctl.b + 16, &master, 4);
	struct iovec iov = {slave_path, slen(slave_path)};
	struct msghdr mh = {0, 0, &iov, 1, ctl.b, 24, 0};
	if ((r = SC(sendmsg, sock, &mh, 0, 0, 0, 0)) < 0)
		fail((int)-r, "send pty master to console socket");
	if (mount_console && *rootfs) {
		char pfd[64];
		if ((e = securejoin(rootfs, "/dev/console", console)) < 0)
			fail(-e, "%s", g_op);
		create_file(console, 0600);
		procfd(slave, pfd);
		if ((r = do_mount(pfd, console, "", MS_BIND, "")) < 0)
			fail((int)-r, "bind pty onto /dev/console");
	}
	for (int i = 0; i < 3; i++)
		if ((r = SC(dup3, slave, i, 0, 0, 0, 0)) < 0)
			fail((int)-r, "dup pty slave");
	if ((r = SC(ioctl, 0, TIOCSCTTY, 0, 0, 0, 0)) < 0)
		fail((int)-r, "set controlling terminal");
	closefd(master);
	closefd(slave);
	closefd(sock);
}

/* read_line reads one line from the sync socket (byte by byte: what
 * follows belongs to the next reader). */
static void read_line(char *buf, size_t cap, const char *what)
{
	size_t n = 0;
	for (;;) {
		char c;
		long r = SC(read, g_sync, &c, 1, 0, 0, 0);
		if (r == -EINTR)
			continue;
		if (r < 0)
			fail((int)-r, "read %s", what);
		if (r == 0)
			fail(0, "read %s: the runtime went away", what);
		if (c == '\n')
			break;
		if (n + 1 < cap)
			buf[n++] = c;
	}
	buf[n] = 0;
}

static int contains(const char *s, const char *sub)
{
	for (; *s; s++)
		if (has_prefix(s, sub))
			return 1;
	return 0;
}

static void op_hooks_sync(void)
{
	char line[4096];
	send_msg("hooks");
	read_line(line, sizeof(line), "resume message");
	if (!contains(line, "\"type\":\"resume\""))
		fail(0, "expected resume from the runtime, got %s", line);
}

static void op_pivot(const struct op *o)
{
	const char *rootfs = S(o, 0);
	long e;
	int oldroot = (int)SC(openat, AT_FDCWD, "/", O_DIRECTORY | O_RDONLY | O_CLOEXEC, 0, 0, 0);
	if (oldroot < 0)
		fail(-oldroot, "open /");
	int newroot = (int)SC(openat, AT_FDCWD, rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC, 0, 0, 0);
	if (newroot < 0)
		fail(-newroot, "open %s", rootfs);
	if ((e = SC(fchdir, newroot, 0, 0, 0, 0, 0)) < 0)
		fail((int)-e, "chdir %s", rootfs);
	if ((e = SC(pivot_root, ".", ".", 0, 0, 0, 0)) < 0)
		fail((int)-e, "pivot_root %s", rootfs);
	if ((e = SC(fchdir, oldroot, 0, 0, 0, 0, 0)) < 0)
		fail((int)-e, "chdir to old root");
	/* The old root must not propagate the unmount back to the host. */
	if ((e = do_mount("", ".", "", MS_SLAVE | MS_REC, "")) < 0)
		fail((int)-e, "make old root slave");
	if ((e = SC(umount2, ".", MNT_DETACH, 0, 0, 0, 0)) < 0)
		fail((int)-e, "detach old root");
	if ((e = SC(chdir, "/", 0, 0, 0, 0, 0)) < 0)
		fail((int)-e, "chdir /");
	closefd(oldroot);
	closefd(newroot);
}

static void op_move_root(const struct op *o)
{
	const char *rootfs = S(o, 0);
	long e;
	if ((e = SC(chdir, rootfs, 0, 0, 0, 0, 0)) < 0)
		fail((int)-e, "chdir %s", rootfs);
	if ((e = do_mount(rootfs, "/", "", MS_MOVE, "")) < 0)
		fail((int)-e, "move rootfs to /");
	if ((e = SC(chroot, ".", 0, 0, 0, 0, 0)) < 0)
		fail((int)-e, "chroot");
	if ((e = SC(chdir, "/", 0, 0, 0, 0, 0)) < 0)
		fail((int)-e, "chdir /");
}

/* write_file is os.WriteFile(path, data, 0). */
static void op_write_file(const struct op *o)
{
	const char *path = S(o, 0), *data = S(o, 1), *ctx = S(o, 2);
	int fd = (int)SC(openat, AT_FDCWD, path, O_WRONLY | O_CREAT | 01000 /* O_TRUNC */ | O_CLOEXEC, 0, 0, 0);
	if (fd < 0)
		fail(-fd, "%s: open %s", ctx, path);
	size_t n = slen(data);
	const char *p = data;
	while (n) {
		long r = SC(write, fd, p, n, 0, 0, 0);
		if (r == -EINTR)
			continue;
		if (r < 0)
			fail((int)-r, "%s: write %s", ctx, path);
		p += r;
		n -= (size_t)r;
	}
	closefd(fd);
}

static void op_readonly_path(const struct op *o)
{
	const char *p = S(o, 0);
	long e = do_mount(p, p, "", MS_BIND | MS_REC, "");
	if (e == -ENOENT)
		return;
	if (e < 0)
		fail((int)-e, "readonly path %s", p);
	if ((e = remount_bind(p, MS_RDONLY | MS_REC)) < 0)
		fail((int)-e, "readonly path %s: %s", p, g_op);
}

static void op_mask_path(const struct op *o)
{
	const char *p = S(o, 0);
	struct kstat st;
	long e = do_stat(p, &st, 0);
	if (e == -ENOENT)
		return;
	if (e < 0)
		fail((int)-e, "mask path %s: stat %s", p, p);
	if ((st.mode & S_IFMT) == S_IFDIR)
		e = do_mount("tmpfs", p, "tmpfs", MS_RDONLY, "");
	else
		e = do_mount("/dev/null", p, "", MS_BIND, "");
	if (e < 0)
		fail((int)-e, "mask path %s", p);
}

static void op_remount_in_place(const struct op *o)
{
	const char *p = S(o, 0), *ctx = S(o, 2);
	u64 flags = U(o, 1);
	struct kstatfs st;
	long e = SC(statfs, p, &st, 0, 0, 0, 0);
	if (e < 0)
		fail((int)-e, "%s: statfs %s", ctx, p);
	u64 keep = (u64)st.flags & (LOCKED | MS_STRICTATIME);
	if ((e = do_mount("", p, "", MS_REMOUNT | flags | keep, "")) < 0)
		fail((int)-e, "%s", ctx);
}

static void op_remount_bind(const struct op *o)
{
	const char *p = S(o, 0), *ctx = S(o, 2);
	int e = remount_bind(p, U(o, 1));
	if (e < 0)
		fail(-e, "%s: %s", ctx, g_op);
}

static void op_chdir(const struct op *o)
{
	const char *cwd = S(o, 0), *ctx = S(o, 1);
	char wd[PATHMAX];
	long e = SC(chdir, cwd, 0, 0, 0, 0, 0);
	if (e < 0)
		fail((int)-e, "%s", ctx);
	/* CVE-2024-21626: a leaked host directory as cwd shows up as
	 * "(unreachable)"; refuse to run with a cwd outside the container. */
	e = SC(getcwd, wd, sizeof(wd), 0, 0, 0, 0);
	if (e < 0)
		wd[0] = 0;
	if (e < 0 || wd[0] != '/')
		fail(0, "current working directory is outside of the container's root (\"%s\")", wd);
}

static const char *env_get(const char *key)
{
	size_t k = slen(key);
	for (int i = 0; i < g_nenv; i++)
		if (has_prefix(g_env[i], key) && g_env[i][k] == '=')
			return g_env[i] + k + 1;
	return 0;
}

/* op_env_home adds HOME from the container's /etc/passwd (or "/"). */
static void op_env_home(const struct op *o)
{
	static char home[PATHMAX + 8];
	static u8 buf[1 << 20];
	char uid[24];
	size_t n = 0;
	if (env_get("HOME"))
		return;
	fmt(uid, sizeof(uid), "%lu", U(o, 0));
	fmt(home, sizeof(home), "HOME=/");
	int fd = (int)SC(openat, AT_FDCWD, "/etc/passwd", O_RDONLY | O_CLOEXEC, 0, 0, 0);
	if (fd >= 0) {
		for (;;) {
			long r = SC(read, fd, buf + n, sizeof(buf) - 1 - n, 0, 0, 0);
			if (r == -EINTR)
				continue;
			if (r <= 0)
				break;
			n += (size_t)r;
			if (n == sizeof(buf) - 1)
				break;
		}
		closefd(fd);
		buf[n] = 0;
		char *line = (char *)buf;
		while (*line) {
			char *end = line;
			while (*end && *end != '\n')
				end++;
			char save = *end;
			*end = 0;
			/* name:pw:uid:gid:gecos:home[:shell] */
			char *f[7];
			int nf = 0;
			char *s = line;
			f[nf++] = s;
			for (; *s && nf < 7; s++)
				if (*s == ':') {
					*s = 0;
					f[nf++] = s + 1;
				}
			int found = nf >= 6 && seq(f[2], uid);
			if (found) {
				fmt(home, sizeof(home), "HOME=%s", f[5]);
				break;
			}
			*end = save;
			line = *end ? end + 1 : end;
		}
	}
	if (g_nenv < MAXLIST)
		g_env[g_nenv++] = home;
	g_env[g_nenv] = 0;
}

/* executable is the Go init's executable(): 0, or -errno / -EISDIR. */
static int executable(const char *p)
{
	struct kstat st;
	int e = do_stat(p, &st, 0);
	if (e < 0)
		return pathfail(e, "stat", p);
	if ((st.mode & S_IFMT) == S_IFDIR) {
		fmt(g_op, sizeof(g_op), "is a directory");
		return -EISDIR;
	}
	if ((st.mode & 0111) == 0) {
		g_op[0] = 0;
		return -EACCES;
	}
	return 0;
}

static void op_lookpath(const struct op *o)
{
	const char *name = S(o, 0), *ctx = S(o, 1);
	int e;
	if (contains(name, "/")) {
		if ((e = executable(name)) < 0) {
			if (e == -EISDIR)
				fail(0, "%s: is a directory", ctx);
			if (!g_op[0])
				fail(-e, "%s", ctx);
			fail(-e, "%s: %s", ctx, g_op);
		}
		fmt(g_path, sizeof(g_path), "%s", name);
		return;
	}
	const char *path = env_get("PATH");
	if (!path || !*path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (;;) {
		const char *q = path;
		while (*q && *q != ':')
			q++;
		char dir[PATHMAX];
		size_t dl = (size_t)(q - path);
		if (dl == 0) {
			dir[0] = '.';
			dl = 1;
		} else {
			if (dl >= PATHMAX)
				dl = PATHMAX - 1;
			memcpy(dir, path, dl);
		}
		dir[dl] = 0;
		fmt(g_path, sizeof(g_path), "%s/%s", dir, name);
		if (executable(g_path) == 0)
			return;
		if (!*q)
			break;
		path = q + 1;
	}
	fail(0, "%s: executable file not found in $PATH", ctx);
}

static void op_wait_fifo(const struct op *o)
{
	int fd = (int)U(o, 0);
	char path[64];
	procfd(fd, path);
	int w = (int)SC(openat, AT_FDCWD, path, O_WRONLY | O_CLOEXEC, 0, 0, 0);
	if (w < 0)
		fail(-w, "open exec fifo");
	long r = SC(write, w, "0", 1, 0, 0, 0);
	if (r < 0)
		fail((int)-r, "write exec fifo");
	/* w stays open: it is close-on-exec, so `start` sees EOF exactly when
	 * the user's process has been exec'd (or this process died). */
	closefd(fd);
}

struct sock_fprog {
	u16 len;
	const void *filter;
};

static void op_seccomp(const struct op *o)
{
	const u8 *prog = o->a[0];
	u32 plen = o->l[0];
	u64 flags = U(o, 1);
	if (plen == 0 || plen % 8)
		fail(0, "plan: bad seccomp program");
	struct sock_fprog fp = {(u16)(plen / 8), prog};
	long r = SC(seccomp, SECCOMP_SET_MODE_FILTER, flags, &fp, 0, 0, 0);
	if (r < 0) {
		const char *hint = "";
		if (r == -EACCES)
			hint = " (needs CAP_SYS_ADMIN or no_new_privs)";
		else if (r == -EINVAL && flags)
			hint = " (a flag may be unsupported by this kernel)";
		char tmp[32];
		fail(0, "load seccomp filter: seccomp: install filter (flags 0x%lx): %s%s", flags, errstr((int)-r, tmp), hint);
	}
	if ((flags & SECCOMP_FILTER_FLAG_TSYNC) && !(flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) && r != 0)
		fail(0, "load seccomp filter: seccomp: TSYNC could not synchronize thread %ld", r);
}

static void op_drop_bounding(const struct op *o)
{
	u64 keep = U(o, 0), last = U(o, 1);
	for (u64 n = 0; n <= last && n < 64; n++) {
		if (keep & (1UL << n))
			continue;
		long r = SC(prctl, PR_CAPBSET_DROP, n, 0, 0, 0, 0);
		if (r < 0 && r != -EINVAL)
			fail((int)-r, "drop capability %lu from bounding set", n);
	}
}

static void op_setuser(const struct op *o)
{
	u64 uid = U(o, 0), gid = U(o, 1);
	const u8 *gids = o->a[2];
	u32 ngids = o->l[2] / 4;
	const char *gctx = S(o, 3);
	static u32 list[65536];
	if (ngids > 65536)
		fail(0, "%s: too many groups", gctx);
	for (u32 i = 0; i < ngids; i++)
		list[i] = le32(gids + 4 * i);
	long r = SC(setgroups, ngids, list, 0, 0, 0, 0);
	if (r < 0 && !(r == -EPERM && ngids == 0))
		fail((int)-r, "%s", gctx);
	if ((r = SC(setresgid, gid, gid, gid, 0, 0, 0)) < 0)
		fail((int)-r, "setgid %lu", gid);
	if ((r = SC(setresuid, uid, uid, uid, 0, 0, 0)) < 0)
		fail((int)-r, "setuid %lu", uid);
}

static void op_capset(const struct op *o)
{
	u64 eff = U(o, 0), perm = U(o, 1), inh = U(o, 2);
	u32 hdr[2] = {0x20080522, 0};
	u32 data[6] = {(u32)eff, (u32)perm, (u32)inh, (u32)(eff >> 32), (u32)(perm >> 32), (u32)(inh >> 32)};
	long r = SC(capset, hdr, data, 0, 0, 0, 0);
	if (r < 0)
		fail((int)-r, "capset");
}

static void op_ambient(const struct op *o)
{
	u64 mask = U(o, 0), last = U(o, 1);
	long r = SC(prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0);
	if (r < 0)
		fail((int)-r, "clear ambient capabilities");
	for (u64 n = 0; n <= last && n < 64; n++)
		if (mask & (1UL << n))
			/* The kernel refuses without the capability in permitted and
			 * inheritable; runc ignores that. */
			SC(prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, n, 0, 0, 0);
}

struct dirent64 {
	u64 ino;
	i64 off;
	u16 reclen;
	u8 type;
	char name[];
};

static void op_close_from(const struct op *o)
{
	u64 min = U(o, 0);
	if (SC(close_range, min, ~0U, CLOSE_RANGE_CLOEXEC, 0, 0, 0) == 0)
		return;
	/* Older kernels: mark each open descriptor close-on-exec. */
	int d = (int)SC(openat, AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, 0, 0);
	if (d < 0)
		fail(-d, "list fds: open /proc/self/fd");
	static u8 buf[32768];
	for (;;) {
		long n = SC(getdents64, d, buf, sizeof(buf), 0, 0, 0);
		if (n < 0)
			fail((int)-n, "list fds");
		if (n == 0)
			break;
		for (long off = 0; off < n;) {
			struct dirent64 *de = (struct dirent64 *)(buf + off);
			off += de->reclen;
			u64 fd = 0;
			const char *s = de->name;
			if (*s < '0' || *s > '9')
				continue;
			for (; *s >= '0' && *s <= '9'; s++)
				fd = fd * 10 + (u64)(*s - '0');
			if (fd >= min && (int)fd != d)
				SC(fcntl, fd, 2 /* F_SETFD */, 1 /* FD_CLOEXEC */, 0, 0, 0);
		}
	}
	closefd(d);
}

static void op_rlimit(const struct op *o)
{
	u64 res = U(o, 0);
	u64 lim[2] = {U(o, 1), U(o, 2)};
	const char *ctx = S(o, 3);
	long r = SC(prlimit64, 0, res, lim, 0, 0, 0);
	if (r < 0)
		fail((int)-r, "%s", ctx);
}

struct ksigaction {
	u64 handler, flags, restorer, mask;
};

/* op_reset_signals: ignored dispositions survive execve; the container's
 * process starts with every signal at its default and none blocked. */
static void op_reset_signals(void)
{
	for (int s = 1; s <= 64; s++) {
		struct ksigaction old, dfl = {SIG_DFL, 0, 0, 0};
		if (s == 9 || s == 19)
			continue;
		if (SC(rt_sigaction, s, 0, &old, 8, 0, 0) == 0 && old.handler == SIG_IGN)
			SC(rt_sigaction, s, &dfl, 0, 8, 0, 0);
	}
	u64 empty = 0;
	SC(rt_sigprocmask, 2 /* SIG_SETMASK */, &empty, 0, 8, 0, 0);
}

static void op_exec(const struct op *o)
{
	static char *args[MAXLIST + 1];
	L(o, 0, args, MAXLIST);
	long r = SC(execve, g_path, args, g_env, 0, 0, 0);
	fail((int)-r, "exec %s", args[0] ? args[0] : g_path);
}

static void op_exec_go(const struct op *o)
{
	static char *args[16];
	char path[64];
	L(o, 1, args, 16);
	procfd((int)U(o, 0), path);
	long r = SC(execve, path, args, g_envp, 0, 0, 0);
	fail((int)-r, "exec the runtime's init");
}

/* op_enter_cgroup moves this process, still single-threaded, into the v1
 * cgroups: "0" in "tasks" moves the calling thread without taking the
 * kernel's threadgroup lock (a migration by pid waits for an RCU grace
 * period). */
static void op_enter_cgroup(const struct op *o)
{
	static char *files[64];
	int n = L(o, 0, files, 64);
	for (int i = 0; i < n; i++) {
		int fd = (int)SC(openat, AT_FDCWD, files[i], O_WRONLY | O_CLOEXEC, 0, 0, 0);
		if (fd < 0)
			fail(-fd, "cgroups: enter: open %s", files[i]);
		long r = SC(write, fd, "0", 1, 0, 0, 0);
		if (r < 0)
			fail((int)-r, "cgroups: enter: write 0 to %s", files[i]);
		closefd(fd);
	}
}

/* op_loopback_up brings "lo" up in the network namespace this process
 * made (runc and crun do too: a process in a new namespace expects
 * 127.0.0.1 to work). */
static void op_loopback_up(void)
{
	struct {
		char name[16];
		short flags;
		char pad[22];
	} ifr = {"lo", 0, {0}};
	int fd = (int)SC(socket, 2 /* AF_INET */, 2 /* SOCK_DGRAM */ | O_CLOEXEC, 0, 0, 0, 0);
	if (fd < 0)
		fail(-fd, "bring up the loopback interface: socket");
	long r = SC(ioctl, fd, 0x8913 /* SIOCGIFFLAGS */, &ifr, 0, 0, 0);
	if (r == 0 && !(ifr.flags & 1 /* IFF_UP */)) {
		ifr.flags |= 1;
		r = SC(ioctl, fd, 0x8914 /* SIOCSIFFLAGS */, &ifr, 0, 0, 0);
	}
	closefd(fd);
	if (r < 0)
		fail((int)-r, "bring up the loopback interface");
}

static void run(const struct op *o)
{
	long r;
	switch (o->code) {
	case OP_ENTER_CGROUP:
		op_enter_cgroup(o);
		break;
	case OP_UNSHARE:
		if ((r = SC(unshare, U(o, 0), 0, 0, 0, 0, 0)) < 0)
			fail((int)-r, "%s", S(o, 1));
		break;
	case OP_NEWTIME:
		op_newtime(o);
		break;
	case OP_EXEC_GO:
		op_exec_go(o);
		break;
	case OP_SETSID:
		if ((r = SC(setsid, 0, 0, 0, 0, 0, 0)) < 0)
			fail((int)-r, "setsid");
		break;
	case OP_MOUNT:
		if ((r = do_mount(S(o, 0), S(o, 1), S(o, 2), U(o, 3), S(o, 4))) < 0)
			fail((int)-r, "%s", S(o, 5));
		break;
	case OP_SPEC_MOUNT:
		op_spec_mount(o);
		break;
	case OP_TARGET_MOUNT:
		op_target_mount(o);
		break;
	case OP_REMOUNT_AT:
		op_remount_at(o);
		break;
	case OP_ROOTED_SYMLINK:
		op_rooted_symlink(o);
		break;
	case OP_DEVICE:
		op_device(o);
		break;
	case OP_DEV_SYMLINKS:
		op_dev_symlinks(o);
		break;
	case OP_CONSOLE:
		op_console(o);
		break;
	case OP_HOOKS_SYNC:
		op_hooks_sync();
		break;
	case OP_PIVOT:
		op_pivot(o);
		break;
	case OP_MOVE_ROOT:
		op_move_root(o);
		break;
	case OP_SETHOSTNAME:
		if ((r = SC(sethostname, S(o, 0), slen(S(o, 0)), 0, 0, 0, 0)) < 0)
			fail((int)-r, "sethostname");
		break;
	case OP_SETDOMAINNAME:
		if ((r = SC(setdomainname, S(o, 0), slen(S(o, 0)), 0, 0, 0, 0)) < 0)
			fail((int)-r, "setdomainname");
		break;
	case OP_WRITE_FILE:
		op_write_file(o);
		break;
	case OP_READONLY_PATH:
		op_readonly_path(o);
		break;
	case OP_MASK_PATH:
		op_mask_path(o);
		break;
	case OP_REMOUNT_IN_PLACE:
		op_remount_in_place(o);
		break;
	case OP_REMOUNT_BIND:
		op_remount_bind(o);
		break;
	case OP_KEYRING:
		r = SC(keyctl, KEYCTL_JOIN_SESSION_KEYRING, S(o, 0), 0, 0, 0, 0);
		if (r < 0 && r != -ENOSYS)
			fail((int)-r, "join session keyring");
		break;
	case OP_CHDIR:
		op_chdir(o);
		break;
	case OP_ENV:
		g_nenv = L(o, 0, g_env, MAXLIST);
		break;
	case OP_ENV_HOME:
		op_env_home(o);
		break;
	case OP_LOOKPATH:
		op_lookpath(o);
		break;
	case OP_READY:
		send_msg("ready");
		g_ready = 1;
		break;
	case OP_WAIT_FIFO:
		op_wait_fifo(o);
		break;
	case OP_PRCTL:
		if ((r = SC(prctl, U(o, 0), U(o, 1), 0, 0, 0, 0)) < 0)
			fail((int)-r, "%s", S(o, 2));
		break;
	case OP_SECCOMP:
		op_seccomp(o);
		break;
	case OP_DROP_BOUNDING:
		op_drop_bounding(o);
		break;
	case OP_SETUSER:
		op_setuser(o);
		break;
	case OP_CAPSET:
		op_capset(o);
		break;
	case OP_AMBIENT:
		op_ambient(o);
		break;
	case OP_UMASK:
		SC(umask, U(o, 0), 0, 0, 0, 0, 0);
		break;
	case OP_CLOSE_FROM:
		op_close_from(o);
		break;
	case OP_RLIMIT:
		op_rlimit(o);
		break;
	case OP_RESET_SIGNALS:
		op_reset_signals();
		break;
	case OP_LOOPBACK_UP:
		op_loopback_up();
		break;
	case OP_EXEC:
		op_exec(o);
		break;
	default:
		fail(0, "plan: unknown operation %u", o->code);
	}
}

/* ---- hugetext: the runtime's executable back into the page cache in huge pages ---- */

/*
 * argv: berth:hugetext hugetext EXE-FD MARKER-FD STATUS [ARGV...]. berth
 * execs this (the same process, so nothing of its binary stays mapped)
 * when its executable's text sits in the page cache in small pages, as
 * after a reboot or a link: each berth start then pays ~100 page faults
 * more. Every 2 MB chunk of EXE-FD that is not one huge page yet is
 * dropped from the page cache (only pages no process maps go) and read
 * back through a MADV_HUGEPAGE mapping, whose readahead makes 2 MB folios
 * that later berth processes map with one PMD each. When no chunk ends up
 * huge (a filesystem without large folios), MARKER-FD gets "unsupported"
 * so berth stops trying. Then it exits with STATUS, the command's exit
 * code, or, given ARGV, execs EXE-FD again with ARGV (a starting daemon).
 * Everything here is best effort.
 */
#define HT_CHUNK (2UL << 20)
#define HT_MAXCHUNKS 512
#define PROT_NONE 0
#define PROT_READ 1
#define MAP_SHARED 1
#define MAP_PRIVATE 2
#define MAP_FIXED 0x10
#define MAP_ANONYMOUS 0x20
#define MADV_HUGEPAGE 14
#define POSIX_FADV_DONTNEED 4
#define PAGEMAP_SCAN 0xC0606610UL
#define PAGE_IS_HUGE (1UL << 6)

struct pm_scan_arg {
	u64 size, flags, start, end, walk_end, vec, vec_len, max_pages;
	u64 category_inverted, category_mask, category_anyof_mask, return_mask;
};

struct page_region {
	u64 start, end, categories;
};

static long atol_or(const char *s, long dflt)
{
	long v = 0;
	int neg = *s == '-';
	if (neg)
		s++;
	if (!*s)
		return dflt;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return dflt;
		v = v * 10 + (*s - '0');
	}
	return neg ? -v : v;
}

/* ht_huge marks in huge[] the chunks of the mapping at base that are
 * mapped by a PMD; returns how many, or -1 without PAGEMAP_SCAN. */
static int ht_huge(int pagemap, u64 base, u64 nchunks, u8 *huge)
{
	static struct page_region vec[HT_MAXCHUNKS];
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.start = base,
		.end = base + nchunks * HT_CHUNK,
		.vec = (u64)vec,
		.vec_len = HT_MAXCHUNKS,
		.category_mask = PAGE_IS_HUGE,
		.return_mask = PAGE_IS_HUGE,
	};
	long n = SC(ioctl, pagemap, PAGEMAP_SCAN, &a, 0, 0, 0);
	if (n < 0)
		return -1;
	int count = 0;
	for (long i = 0; i < n; i++)
		for (u64 c = (vec[i].start - base) / HT_CHUNK; c < nchunks && base + c * HT_CHUNK < vec[i].end; c++)
			if (!huge[c]) {
				huge[c] = 1;
				count++;
			}
	return count;
}

/* ht_touch reads the chunks not marked in huge[], every stride bytes. */
static void ht_touch(volatile const u8 *p, u64 nchunks, const u8 *huge, u64 stride, u64 size)
{
	for (u64 c = 0; c < nchunks; c++)
		if (!huge[c])
			for (u64 o = c * HT_CHUNK; o < (c + 1) * HT_CHUNK && o < size; o += stride)
				(void)p[o];
}

static void hugetext_done(int exe, int marker, int status, char **again)
{
	if (again && *again) {
		closefd(marker);
		SC(fcntl, exe, 2 /* F_SETFD */, 1 /* FD_CLOEXEC */, 0, 0, 0);
		SC(execveat, exe, "", again, g_envp, AT_EMPTY_PATH, 0);
		write_all(2, "berth: hugetext: exec berth again failed\n", 41);
	}
	SC(exit_group, status, 0, 0, 0, 0, 0);
}

static void hugetext_main(char **argv)
{
	int exe = (int)atol_or(argv[2], -1), marker = (int)atol_or(argv[3], -1);
	int status = (int)atol_or(argv[4], 1);
	SC(prctl, PR_SET_NAME, "berth", 0, 0, 0, 0);
	struct kstat st;
	if (exe < 0 || SC(newfstatat, exe, "", &st, AT_EMPTY_PATH, 0, 0) != 0 || st.size <= 0)
		hugetext_done(exe, marker, status, argv + 5);
	u64 nchunks = ((u64)st.size + HT_CHUNK - 1) / HT_CHUNK;
	if (nchunks > HT_MAXCHUNKS)
		nchunks = HT_MAXCHUNKS;
	u64 len = nchunks * HT_CHUNK;
	int pagemap = (int)SC(openat, AT_FDCWD, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC, 0, 0, 0);
	long r = SC(mmap, 0, len + HT_CHUNK, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pagemap < 0 || (r < 0 && r > -4096))
		hugetext_done(exe, marker, status, argv + 5);
	u64 base = ((u64)r + HT_CHUNK - 1) & ~(HT_CHUNK - 1);
	static u8 huge[HT_MAXCHUNKS];
	/* Which chunks are huge already: mapped, touched, scanned. */
	r = SC(mmap, base, len, PROT_READ, MAP_SHARED | MAP_FIXED, exe, 0);
	if (r < 0 && r > -4096)
		hugetext_done(exe, marker, status, argv + 5);
	ht_touch((const u8 *)base, nchunks, huge, HT_CHUNK, (u64)st.size);
	int before = ht_huge(pagemap, base, nchunks, huge);
	if (before < 0 || (u64)before == nchunks)
		hugetext_done(exe, marker, status, argv + 5);
	/* Drop the others (a fresh link leaves dirty pages: write them first). */
	SC(munmap, base, len, 0, 0, 0, 0);
	SC(fdatasync, exe, 0, 0, 0, 0, 0);
	for (u64 c = 0; c < nchunks; c++)
		if (!huge[c])
			SC(fadvise64, exe, c * HT_CHUNK, HT_CHUNK, POSIX_FADV_DONTNEED, 0, 0);
	/* Read them back through a huge-page mapping. */
	r = SC(mmap, base, len, PROT_READ, MAP_SHARED | MAP_FIXED, exe, 0);
	if (r < 0 && r > -4096)
		hugetext_done(exe, marker, status, argv + 5);
	SC(madvise, base, len, MADV_HUGEPAGE, 0, 0, 0);
	ht_touch((const u8 *)base, nchunks, huge, HT_CHUNK, (u64)st.size);
	/*
	 * Then every page: the first read of a page the disk wrote by DMA
	 * costs a virtual machine an exit to its host, which the first berth
	 * command would otherwise pay, page by page (~7 ms here).
	 */
	ht_touch((const u8 *)base, nchunks, huge, 4096, (u64)st.size);
	static u8 after[HT_MAXCHUNKS];
	if (ht_huge(pagemap, base, nchunks, after) == 0 && marker >= 0)
		SC(pwrite64, marker, "unsupported", 11, 0, 0, 0);
	hugetext_done(exe, marker, status, argv + 5);
}

__attribute__((used)) void stage_main(long *sp)
{
	int argc = (int)sp[0];
	char **argv = (char **)(sp + 1);
	g_envp = argv + argc + 1;
	if (argc >= 5 && seq(argv[1], "hugetext"))
		hugetext_main(argv);
	SC(prctl, PR_SET_NAME, "berth:init", 0, 0, 0, 0);
	if (argc < 2) {
		write_all(2, "berth-nsexec: internal to the runtime\n", 38);
		SC(exit_group, 2, 0, 0, 0, 0, 0);
	}
	for (const char *s = argv[1]; *s >= '0' && *s <= '9'; s++)
		g_sync = g_sync < 0 ? *s - '0' : g_sync * 10 + (*s - '0');
	u8 hdr[12];
	read_full(g_sync, hdr, 12, "plan header");
	if (memcmp(hdr, PLAN_MAGIC, 8) != 0)
		fail(0, "plan: bad header");
	u32 len = le32(hdr + 8);
	if (len > PLAN_MAX)
		fail(0, "plan: %u bytes is too large", len);
	read_full(g_sync, plan, len, "plan");
	u32 off = 0;
	struct op joins[16];
	int njoins = 0;
	while (off < len) {
		struct op o;
		if (len - off < 8)
			fail(0, "plan: truncated operation");
		o.code = le32(plan + off);
		o.n = le32(plan + off + 4);
		off += 8;
		if (o.n > MAXARGS)
			fail(0, "plan: operation %u has %u arguments", o.code, o.n);
		for (u32 i = 0; i < o.n; i++) {
			if (len - off < 4)
				fail(0, "plan: truncated argument");
			o.l[i] = le32(plan + off);
			off += 4;
			if (len - off < o.l[i])
				fail(0, "plan: truncated argument");
			o.a[i] = plan + off;
			off += o.l[i];
		}
		if (o.code == OP_JOIN_NS) {
			if (njoins == 16)
				fail(0, "plan: too many namespaces to join");
			joins[njoins++] = o;
			continue;
		}
		if (njoins) {
			join_ns(joins, njoins);
			njoins = 0;
		}
		if (o.code == OP_END)
			break;
		run(&o);
	}
	fail(0, "plan ended without exec");
}

__asm__(".text\n"
	".global _start\n"
	"_start:\n"
	"	xor %rbp, %rbp\n"
	"	mov %rsp, %rdi\n"
	"	and $-16, %rsp\n"
	"	call stage_main\n"
	"	hlt\n");
