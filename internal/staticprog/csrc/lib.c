/* lib.c: the libc pieces berth's static C programs use. */
#include <stdarg.h>
#include "sys.h"

__asm__(".text\n"
	".global _start\n"
	"_start:\n"
	"	xor %rbp, %rbp\n"
	"	mov %rsp, %rdi\n"
	"	and $-16, %rsp\n"
	"	call start_c\n"
	"	hlt\n");

__attribute__((used, noreturn)) void start_c(long *sp)
{
	int argc = (int)sp[0];
	char **argv = (char **)(sp + 1);
	char **envp = argv + argc + 1;
	sys_exit(main(argc, argv, envp));
}

void *memcpy(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;
	while (n--)
		*dp++ = *sp++;
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;
	if (dp < sp) {
		while (n--)
			*dp++ = *sp++;
	} else {
		while (n--)
			dp[n] = sp[n];
	}
	return d;
}

void *memset(void *d, int c, size_t n)
{
	unsigned char *dp = d;
	while (n--)
		*dp++ = (unsigned char)c;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

void *memchr(const void *s, int c, size_t n)
{
	const unsigned char *p = s;
	for (; n; n--, p++)
		if (*p == (unsigned char)c)
			return (void *)p;
	return NULL;
}

size_t strlen(const char *s)
{
	const char *p = s;
	while (*p)
		p++;
	return (size_t)(p - s);
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			return 0;
	}
	return 0;
}

char *strchr(const char *s, int c)
{
	for (;; s++) {
		if (*s == (char)c)
			return (char *)s;
		if (!*s)
			return NULL;
	}
}

/*
 * The allocator: power-of-two size classes from 16 bytes to 64 KB carved
 * from brk and kept on free lists; larger blocks are mmap'ed and unmapped
 * on free. A header before each block records its class.
 */
#define MIN_SHIFT 4
#define MAX_SHIFT 16
#define HDR 16

static void *free_lists[MAX_SHIFT + 1];
static char *heap_cur, *heap_end;

static void *more_heap(size_t n)
{
	if (!heap_cur) {
		heap_cur = heap_end = (char *)sys1(SYS_brk, 0);
	}
	if ((size_t)(heap_end - heap_cur) < n) {
		size_t grow = (n + 65535) & ~(size_t)65535;
		char *want = heap_end + grow;
		char *got = (char *)sys1(SYS_brk, want);
		if (got != want)
			return NULL;
		heap_end = want;
	}
	void *p = heap_cur;
	heap_cur += n;
	return p;
}

void *xmalloc(size_t n)
{
	size_t total = n + HDR;
	int shift = MIN_SHIFT;
	while (shift <= MAX_SHIFT && ((size_t)1 << shift) < total)
		shift++;
	char *p;
	if (shift > MAX_SHIFT) {
		size_t len = (total + 4095) & ~(size_t)4095;
		long r = sys6(SYS_mmap, 0, (long)len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (r < 0 && r > -4096) {
			say("out of memory", NULL);
			sys_exit(70);
		}
		p = (char *)r;
		*(size_t *)p = len;
		*(int *)(p + 8) = 0;
		return p + HDR;
	}
	if (free_lists[shift]) {
		p = free_lists[shift];
		free_lists[shift] = *(void **)p;
	} else {
		p = more_heap((size_t)1 << shift);
		if (!p) {
			say("out of memory", NULL);
			sys_exit(70);
		}
	}
	*(size_t *)p = 0;
	*(int *)(p + 8) = shift;
	return p + HDR;
}

void xfree(void *ptr)
{
	if (!ptr)
		return;
	char *p = (char *)ptr - HDR;
	int shift = *(int *)(p + 8);
	if (shift == 0) {
		sys2(SYS_munmap, p, *(size_t *)p);
		return;
	}
	*(void **)p = free_lists[shift];
	free_lists[shift] = p;
}

static size_t block_size(void *ptr)
{
	char *p = (char *)ptr - HDR;
	int shift = *(int *)(p + 8);
	if (shift == 0)
		return *(size_t *)p - HDR;
	return ((size_t)1 << shift) - HDR;
}

void *xrealloc(void *ptr, size_t n)
{
	if (!ptr)
		return xmalloc(n);
	size_t have = block_size(ptr);
	if (n <= have)
		return ptr;
	void *q = xmalloc(n);
	memcpy(q, ptr, have);
	xfree(ptr);
	return q;
}

char *strdup_(const char *s)
{
	size_t n = strlen(s);
	char *p = xmalloc(n + 1);
	memcpy(p, s, n + 1);
	return p;
}

int fmt_int(char *b, long v)
{
	char tmp[24];
	int n = 0, len = 0;
	unsigned long u = v < 0 ? -(unsigned long)v : (unsigned long)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		b[len++] = '-';
	while (n)
		b[len++] = tmp[--n];
	b[len] = 0;
	return len;
}

int parse_int(const char *s, long *out)
{
	long v = 0;
	int neg = 0;
	if (*s == '-')
		neg = 1, s++;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	*out = neg ? -v : v;
	return 0;
}

int write_all(int fd, const void *b, size_t n)
{
	const char *p = b;
	while (n) {
		ssize_t w = sys_write(fd, p, n);
		if (w == -EINTR)
			continue;
		if (w < 0)
			return (int)w;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

const char *errstr(int err)
{
	switch (err) {
	case EPERM: return "operation not permitted";
	case ENOENT: return "no such file or directory";
	case ESRCH: return "no such process";
	case EINTR: return "interrupted system call";
	case EIO: return "input/output error";
	case EBADF: return "bad file descriptor";
	case EAGAIN: return "resource temporarily unavailable";
	case ENOMEM: return "cannot allocate memory";
	case EACCES: return "permission denied";
	case EEXIST: return "file exists";
	case ENOTDIR: return "not a directory";
	case EINVAL: return "invalid argument";
	case EPIPE: return "broken pipe";
	case ENOSYS: return "function not implemented";
	}
	return "error";
}

void say(const char *s, ...)
{
	char buf[1024];
	size_t n = 0;
	va_list ap;
	va_start(ap, s);
	for (const char *p = s; p; p = va_arg(ap, const char *)) {
		size_t l = strlen(p);
		if (l > sizeof buf - 1 - n)
			l = sizeof buf - 1 - n;
		memcpy(buf + n, p, l);
		n += l;
	}
	va_end(ap);
	buf[n++] = '\n';
	write_all(2, buf, n);
}

const char *getenv_(char **envp, const char *name)
{
	size_t l = strlen(name);
	for (; envp && *envp; envp++)
		if (strncmp(*envp, name, l) == 0 && (*envp)[l] == '=')
			return *envp + l + 1;
	return NULL;
}

/* reset_signals gives a child the signal state a fresh process
 * has: nothing blocked, nothing ignored. */
void reset_signals(void)
{
	struct k_sigaction dfl = {SIG_DFL, 0, 0, 0};
	for (int sig = 1; sig < 65; sig++)
		if (sig != SIGKILL && sig != SIGSTOP && sig != 32 && sig != 33)
			sys_sigaction(sig, &dfl, NULL);
	uint64_t none = 0;
	sys_sigprocmask(SIG_SETMASK, &none, NULL);
}
