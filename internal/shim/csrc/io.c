/* io.c: a process's stdio on the shim's side: output to the log, to
 * attached connections and (for probes) to a buffer; input from one
 * attached connection at a time. */
#include "shim.h"

#define MAX_LINE (16 * 1024)
#define HIGH_WATER (1 << 20)
#define LOW_WATER (256 << 10)

static char rbuf[16 * 1024];

static void source_read(struct watch *w, uint32_t events);
static void stdin_ready(struct watch *w, uint32_t events);

struct pio *pio_new(int terminal, int open_stdin, int logs)
{
	struct pio *io = xmalloc(sizeof *io);
	memset(io, 0, sizeof *io);
	io->terminal = terminal;
	io->logs = logs;
	io->console = -1;
	io->in.fd = io->out.w.fd = io->err.w.fd = -1;
	io->child_fds[0] = io->child_fds[1] = io->child_fds[2] = -1;
	io->out.io = io->err.io = io;
	io->out.stream = STREAM_STDOUT;
	io->err.stream = STREAM_STDERR;
	int p[2];
	if (terminal) {
		int n = devnull(O_RDWR);
		if (n < 0)
			goto fail;
		io->child_fds[0] = io->child_fds[1] = io->child_fds[2] = n;
		return io;
	}
	if (open_stdin) {
		if (sys_pipe2(p, O_CLOEXEC) < 0)
			goto fail;
		io->child_fds[0] = p[0];
		io->in.fd = p[1];
		set_nonblock(p[1]);
	} else if ((io->child_fds[0] = devnull(O_RDONLY)) < 0) {
		goto fail;
	}
	if (sys_pipe2(p, O_CLOEXEC) < 0)
		goto fail;
	io->out.w.fd = p[0];
	io->child_fds[1] = p[1];
	if (sys_pipe2(p, O_CLOEXEC) < 0)
		goto fail;
	io->err.w.fd = p[0];
	io->child_fds[2] = p[1];
	set_nonblock(io->out.w.fd);
	set_nonblock(io->err.w.fd);
	return io;
fail:
	pio_close_child(io);
	pio_end(io, -1);
	pio_free(io);
	return NULL;
}

void pio_close_child(struct pio *io)
{
	for (int i = 0; i < 3; i++) {
		int fd = io->child_fds[i];
		if (fd < 0)
			continue;
		for (int j = i; j < 3; j++)
			if (io->child_fds[j] == fd)
				io->child_fds[j] = -1;
		sys_close(fd);
	}
}

/* pio_set_console takes the pty master of a process with a terminal. */
void pio_set_console(struct pio *io, int master)
{
	io->console = master;
	set_nonblock(master);
	io->out.w.fd = master;
	io->in.fd = (int)sys3(SYS_fcntl, master, 1030 /* F_DUPFD_CLOEXEC */, 3);
}

void pio_start(struct pio *io)
{
	if (io->out.w.fd >= 0) {
		io->out.open = 1;
		watch_add(&io->out.w, io->out.w.fd, EPOLLIN, source_read);
	}
	if (io->err.w.fd >= 0 && !io->terminal) {
		io->err.open = 1;
		watch_add(&io->err.w, io->err.w.fd, EPOLLIN, source_read);
	}
	if (io->in.fd >= 0)
		watch_add(&io->in, io->in.fd, 0, stdin_ready);
}

int pio_open_sources(struct pio *io) { return io->out.open + io->err.open; }

#define emit(io, stream, p, n, partial) log_line(stream, p, n, partial)

/* to_log splits output into log entries at newlines; lines longer than
 * MAX_LINE are cut into partial entries. */
static void to_log(struct pio *io, int stream, const char *p, size_t n)
{
	struct linebuf *lb = &io->lines[stream - 1];
	while (n) {
		if (lb->len == 0) {
			/* whole lines straight from the input */
			const char *nl = memchr(p, '\n', n < MAX_LINE ? n : MAX_LINE);
			if (nl) {
				size_t l = (size_t)(nl - p) + 1;
				emit(io, stream, p, l, 0);
				p += l, n -= l;
				continue;
			}
			if (n >= MAX_LINE) {
				emit(io, stream, p, MAX_LINE, 1);
				p += MAX_LINE, n -= MAX_LINE;
				continue;
			}
		}
		size_t room = MAX_LINE - lb->len;
		size_t take = n < room ? n : room;
		const char *nl = memchr(p, '\n', take);
		if (nl)
			take = (size_t)(nl - p) + 1;
		if (!lb->p)
			lb->p = xmalloc(MAX_LINE);
		memcpy(lb->p + lb->len, p, take);
		lb->len += take;
		p += take, n -= take;
		if (nl || lb->len == MAX_LINE) {
			emit(io, stream, lb->p, lb->len, !nl);
			lb->len = 0;
		}
	}
	if (lb->len == 0 && lb->p) {
		xfree(lb->p);
		lb->p = NULL;
	}
}

static void flush_lines(struct pio *io)
{
	for (int s = 0; s < 2; s++) {
		struct linebuf *lb = &io->lines[s];
		if (lb->len)
			emit(io, s + 1, lb->p, lb->len, 1);
		lb->len = 0;
		xfree(lb->p);
		lb->p = NULL;
	}
}

static void set_sources(struct pio *io, uint32_t ev)
{
	if (io->out.open)
		watch_mod(&io->out.w, ev);
	if (io->err.open)
		watch_mod(&io->err.w, ev);
}

static void deliver(struct pio *io, int stream, const char *p, size_t n)
{
	if (io->capture && io->capture->len < io->capture_max) {
		size_t room = io->capture_max - io->capture->len;
		buf_add(io->capture, p, n < room ? n : room);
	}
	if (io->logs)
		to_log(io, stream, p, n);
	for (struct conn *c = io->subs; c; c = c->next_sub) {
		if ((stream == STREAM_STDOUT && !c->sub_out) || (stream == STREAM_STDERR && !c->sub_err))
			continue;
		conn_frame(c, stream, p, n);
		if (c->qbytes > HIGH_WATER && !io->paused) {
			io->paused = 1;
			set_sources(io, 0);
		}
	}
}

/* pio_pressure_eased resumes reading output once every attached
 * connection has taken most of what was queued for it. */
void pio_pressure_eased(struct pio *io)
{
	if (!io->paused)
		return;
	for (struct conn *c = io->subs; c; c = c->next_sub)
		if (!conn_queue_below(c, LOW_WATER))
			return;
	io->paused = 0;
	set_sources(io, EPOLLIN);
}

static void source_close(struct source *s)
{
	if (!s->open)
		return;
	s->open = 0;
	watch_del(&s->w);
	struct pio *io = s->io;
	if (io->console >= 0 && s->w.fd == io->console)
		io->console = -1;
	sys_close(s->w.fd);
	s->w.fd = -1;
	if (!pio_open_sources(io)) {
		if (io->logs)
			flush_lines(io);
		if (io->drained)
			io->drained(io);
	}
}

static void source_read(struct watch *w, uint32_t events)
{
	struct source *s = (struct source *)w;
	(void)events;
	ssize_t n = sys_read(w->fd, rbuf, sizeof rbuf);
	if (n > 0) {
		deliver(s->io, s->stream, rbuf, (size_t)n);
		return;
	}
	if (n == -EAGAIN || n == -EINTR)
		return;
	source_close(s); /* EOF, or EIO from a pty whose other side is gone */
}

static void stdin_done(struct pio *io)
{
	watch_del(&io->in);
	sys_close(io->in.fd);
	io->in.fd = -1;
	buf_free(&io->pend);
	if (io->stdin_conn) {
		struct conn *c = io->stdin_conn;
		io->stdin_conn = NULL;
		conn_resume_read(c);
	}
}

static void stdin_ready(struct watch *w, uint32_t events)
{
	struct pio *io = (struct pio *)((char *)w - __builtin_offsetof(struct pio, in));
	if (events & (EPOLLERR | EPOLLHUP)) {
		stdin_done(io);
		return;
	}
	while (io->pend.len) {
		ssize_t n = sys_write(w->fd, io->pend.p, io->pend.len);
		if (n == -EAGAIN)
			return;
		if (n < 0) {
			stdin_done(io);
			return;
		}
		memmove(io->pend.p, io->pend.p + n, io->pend.len - (size_t)n);
		io->pend.len -= (size_t)n;
	}
	buf_free(&io->pend);
	watch_mod(w, 0);
	if (io->stdin_conn) {
		struct conn *c = io->stdin_conn;
		io->stdin_conn = NULL;
		conn_resume_read(c);
	}
}

int pio_write_stdin(struct pio *io, const char *p, size_t n, struct conn *from)
{
	if (io->in.fd < 0)
		return -EPIPE;
	if (!io->pend.len) {
		while (n) {
			ssize_t w = sys_write(io->in.fd, p, n);
			if (w == -EINTR)
				continue;
			if (w == -EAGAIN)
				break;
			if (w < 0) {
				stdin_done(io);
				return -EPIPE;
			}
			p += w, n -= (size_t)w;
		}
		if (!n)
			return 0;
	}
	buf_add(&io->pend, p, n);
	watch_mod(&io->in, EPOLLOUT);
	if (from) {
		io->stdin_conn = from;
		from->read_paused = 1;
	}
	return 0;
}

void pio_close_stdin(struct pio *io)
{
	if (io->terminal || io->in.fd < 0)
		return;
	/* what is pending is dropped: the writer went away */
	stdin_done(io);
}

void pio_subscribe(struct pio *io, struct conn *c, int out, int err)
{
	c->io = io;
	c->sub_out = out;
	c->sub_err = err;
	c->next_sub = io->subs;
	io->subs = c;
}

void pio_unsubscribe(struct conn *c)
{
	struct pio *io = c->io;
	if (!io)
		return;
	for (struct conn **pp = &io->subs; *pp; pp = &(*pp)->next_sub) {
		if (*pp == c) {
			*pp = c->next_sub;
			break;
		}
	}
	if (io->stdin_conn == c)
		io->stdin_conn = NULL;
	c->io = NULL;
	c->next_sub = NULL;
	pio_pressure_eased(io);
}

void pio_end(struct pio *io, int code)
{
	if (io->in.fd >= 0)
		stdin_done(io);
	io->drained = NULL;
	if (io->out.open)
		source_close(&io->out);
	if (io->err.open)
		source_close(&io->err);
	for (int s = 0; s < 2; s++) {
		xfree(io->lines[s].p);
		io->lines[s].p = NULL;
		io->lines[s].len = 0;
	}
	if (io->console >= 0) {
		if (io->out.w.fd == io->console)
			io->out.w.fd = -1;
		sys_close(io->console);
	}
	io->console = -1;
	if (io->out.w.fd >= 0 && !io->out.open)
		sys_close(io->out.w.fd);
	if (io->err.w.fd >= 0 && !io->err.open)
		sys_close(io->err.w.fd);
	io->out.w.fd = io->err.w.fd = -1;
	char t[24];
	int n = fmt_int(t, code);
	while (io->subs) {
		struct conn *c = io->subs;
		if (code >= 0)
			conn_frame(c, STREAM_EXIT, t, (size_t)n);
		pio_unsubscribe(c);
		conn_close_after_flush(c);
	}
}

void pio_free(struct pio *io)
{
	buf_free(&io->pend);
	defer_free(io);
}
