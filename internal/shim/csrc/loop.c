/* loop.c: the event loop (epoll), timers, child processes, fd helpers. */
#include "shim.h"

char **environ_;
static int epfd = -1;
static int sigfd = -1;
static struct watch sigw;
static struct timer *timers;
static struct child *children;
static void **graveyard;
static size_t ngrave, capgrave;

/* exits reaped before anyone watched their pid */
#define ORPHANS 64
static struct {
	int pid, code;
} orphans[ORPHANS];
static int norphan;

static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

static void reap(struct watch *w, uint32_t events)
{
	struct signalfd_siginfo si[8];
	(void)events;
	while (sys_read(w->fd, si, sizeof si) > 0) {
	}
	for (;;) {
		int status;
		int pid = sys_wait4(-1, &status, WNOHANG);
		if (pid <= 0)
			break;
		int code = exit_code(status);
		log_child_done(pid);
		struct child **pp = &children, *c;
		for (; (c = *pp); pp = &c->next)
			if (c->pid == pid)
				break;
		if (c) {
			*pp = c->next;
			c->next = NULL;
			c->pid = 0;
			c->done(c, code);
			continue;
		}
		orphans[norphan % ORPHANS].pid = pid;
		orphans[norphan % ORPHANS].code = code;
		norphan++;
	}
}

void loop_init(void)
{
	epfd = (int)sys1(SYS_epoll_create1, EPOLL_CLOEXEC);
	uint64_t mask = 1UL << (SIGCHLD - 1);
	sys_sigprocmask(SIG_BLOCK, &mask, NULL);
	sigfd = (int)sys4(SYS_signalfd4, -1, &mask, 8, O_NONBLOCK | O_CLOEXEC);
	watch_add(&sigw, sigfd, EPOLLIN, reap);
}

void watch_add(struct watch *w, int fd, uint32_t events, watch_fn fn)
{
	w->fd = fd;
	w->fn = fn;
	w->events = events;
	struct epoll_event ev = {events, (uint64_t)(unsigned long)w};
	w->added = sys4(SYS_epoll_ctl, epfd, EPOLL_CTL_ADD, fd, &ev) == 0;
}

void watch_mod(struct watch *w, uint32_t events)
{
	if (!w->added || w->events == events)
		return;
	w->events = events;
	struct epoll_event ev = {events, (uint64_t)(unsigned long)w};
	sys4(SYS_epoll_ctl, epfd, EPOLL_CTL_MOD, w->fd, &ev);
}

void watch_del(struct watch *w)
{
	if (w->added)
		sys4(SYS_epoll_ctl, epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->added = 0;
	w->fn = NULL;
}

void timer_set(struct timer *t, long after_ms, void (*fn)(struct timer *t))
{
	timer_stop(t);
	t->at = now_ms() + after_ms;
	t->fn = fn;
	t->active = 1;
	t->next = timers;
	timers = t;
}

void timer_stop(struct timer *t)
{
	if (!t->active)
		return;
	for (struct timer **pp = &timers; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	t->active = 0;
	t->next = NULL;
}

void child_watch(struct child *c, int pid, void (*done)(struct child *c, int code))
{
	c->done = done;
	int n = norphan < ORPHANS ? norphan : ORPHANS;
	for (int i = 0; i < n; i++) {
		if (orphans[i].pid == pid) {
			orphans[i].pid = 0;
			c->pid = 0;
			done(c, orphans[i].code);
			return;
		}
	}
	c->pid = pid;
	c->next = children;
	children = c;
}

void child_unwatch(struct child *c)
{
	for (struct child **pp = &children; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	c->pid = 0;
	c->next = NULL;
}

int spawn(char *const *argv, const int *fds, int nfds)
{
	int pid = sys_fork();
	if (pid != 0)
		return pid;
	for (int i = 0; i < nfds; i++) {
		if (fds[i] == i)
			sys_fcntl(i, F_SETFD, 0);
		else
			sys_dup3(fds[i], i, 0);
	}
	sys3(SYS_close_range, (unsigned)nfds, ~0U, 0);
	reset_signals();
	int err = -sys_execve(argv[0], argv, environ_);
	say("berth-shim: exec ", argv[0], ": ", errstr(err), NULL);
	sys_exit(127);
}

void defer_free(void *p)
{
	if (ngrave == capgrave) {
		capgrave = capgrave ? capgrave * 2 : 16;
		graveyard = xrealloc(graveyard, capgrave * sizeof *graveyard);
	}
	graveyard[ngrave++] = p;
}

void loop_run(int (*keep_going)(void))
{
	struct epoll_event evs[16];
	while (keep_going()) {
		long timeout = -1;
		long now = now_ms();
		for (struct timer *t = timers; t; t = t->next) {
			long d = t->at - now;
			if (d < 0)
				d = 0;
			if (timeout < 0 || d < timeout)
				timeout = d;
		}
		int n = (int)sys6(SYS_epoll_wait, epfd, (long)evs, 16, timeout, 0, 0);
		for (int i = 0; i < n; i++) {
			struct watch *w = (struct watch *)(unsigned long)evs[i].data;
			if (w->fn)
				w->fn(w, evs[i].events);
		}
		now = now_ms();
		for (int again = 1; again;) {
			again = 0;
			for (struct timer *t = timers; t; t = t->next) {
				if (t->at <= now) {
					timer_stop(t);
					t->fn(t);
					again = 1;
					break;
				}
			}
		}
		for (size_t i = 0; i < ngrave; i++)
			xfree(graveyard[i]);
		ngrave = 0;
	}
}

int set_nonblock(int fd)
{
	int fl = sys_fcntl(fd, F_GETFL, 0);
	if (fl < 0)
		return fl;
	return sys_fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int devnull(int flags) { return sys_open("/dev/null", flags | O_CLOEXEC, 0); }

int unix_listen(const char *path)
{
	struct sockaddr_un a;
	size_t l = strlen(path);
	if (l >= sizeof a.sun_path)
		return -EINVAL;
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	memcpy(a.sun_path, path, l);
	sys_unlink(path);
	int fd = (int)sys3(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return fd;
	int r = (int)sys3(SYS_bind, fd, &a, sizeof a);
	if (r == 0)
		r = (int)sys2(SYS_listen, fd, 64);
	if (r < 0) {
		sys_close(fd);
		return r;
	}
	return fd;
}

int recv_fd(int lfd)
{
	int c = (int)sys4(SYS_accept4, lfd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return c;
	char data[256];
	union {
		struct cmsghdr h;
		char b[64];
	} ctl;
	struct iovec iov = {data, sizeof data};
	struct msghdr m = {0};
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = &ctl;
	m.msg_controllen = sizeof ctl;
	long r = sys3(SYS_recvmsg, c, &m, MSG_CMSG_CLOEXEC);
	sys_close(c);
	if (r < 0)
		return (int)r;
	if (m.msg_controllen < sizeof(struct cmsghdr) + 4 || ctl.h.cmsg_level != SOL_SOCKET || ctl.h.cmsg_type != SCM_RIGHTS)
		return -EINVAL;
	int nfds = (int)((ctl.h.cmsg_len - sizeof(struct cmsghdr)) / 4);
	int *fds = (int *)(ctl.b + sizeof(struct cmsghdr));
	for (int i = 1; i < nfds; i++)
		sys_close(fds[i]);
	return nfds > 0 ? fds[0] : -EINVAL;
}

int read_file(const char *path, struct buf *out, size_t max)
{
	int fd = sys_open(path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	buf_reset(out);
	for (;;) {
		buf_grow(out, 4097);
		ssize_t n = sys_read(fd, out->p + out->len, 4096);
		if (n == -EINTR)
			continue;
		if (n <= 0)
			break;
		out->len += (size_t)n;
		if (out->len > max) {
			/* keep the tail */
			memmove(out->p, out->p + out->len - max, max);
			out->len = max;
		}
	}
	out->p[out->len] = 0;
	sys_close(fd);
	return 0;
}

int write_file_atomic(const char *path, const char *b, size_t n)
{
	struct buf tmp = {0};
	buf_str(&tmp, path);
	buf_str(&tmp, ".tmp");
	int fd = sys_open(tmp.p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int r = fd;
	if (fd >= 0) {
		r = write_all(fd, b, n);
		sys_close(fd);
		if (r == 0)
			r = sys_rename(tmp.p, path);
	}
	buf_free(&tmp);
	return r;
}
