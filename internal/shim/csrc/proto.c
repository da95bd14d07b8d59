/* proto.c: the shim's socket protocol. A request is one text line,
 * "OP key=value ...\n" (exec adds len=N and N bytes of process JSON); the
 * answer is one JSON line. attach and exec go on with output frames
 * (Docker's 8-byte header; stream 0x10 carries the exit code last), the
 * client's further bytes being stdin; events goes on with one JSON state
 * per line until the container is done. */
#include "shim.h"

struct chunk {
	struct chunk *next;
	size_t len, off;
	char data[];
};

static struct watch lw;
static int listening;
static struct conn *conns;
static int nconns;

static void conn_event(struct watch *w, uint32_t events);
void pio_pressure_eased(struct pio *io);

int conns_open(void) { return nconns; }

static void update(struct conn *c)
{
	if (c->dead)
		return;
	uint32_t ev = 0;
	if (!c->rd_closed && !c->read_paused && !c->closing && c->mode != M_WAIT)
		ev |= EPOLLIN;
	if (c->qbytes)
		ev |= EPOLLOUT;
	watch_mod(&c->w, ev);
}

static void do_close(struct conn *c)
{
	if (c->dead)
		return;
	c->dead = 1;
	pio_unsubscribe(c);
	watch_del(&c->w);
	sys_close(c->w.fd);
	for (struct conn **pp = &conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	nconns--;
	while (c->qhead) {
		struct chunk *k = c->qhead;
		c->qhead = k->next;
		xfree(k);
	}
	c->qbytes = 0;
	buf_free(&c->in);
	if (c->refs == 0)
		defer_free(c);
}

void conn_close(struct conn *c) { do_close(c); }

void conn_hold(struct conn *c) { c->refs++; }

void conn_put(struct conn *c)
{
	if (--c->refs == 0 && c->dead)
		defer_free(c);
}

static void flush(struct conn *c)
{
	while (c->qhead) {
		struct chunk *k = c->qhead;
		struct iovec iov = {k->data + k->off, k->len - k->off};
		struct msghdr m = {0};
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		long w = sys3(SYS_sendmsg, c->w.fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w == -EAGAIN || w == -EINTR)
			break;
		if (w < 0) {
			do_close(c);
			return;
		}
		k->off += (size_t)w;
		c->qbytes -= (size_t)w;
		if (k->off < k->len)
			break;
		c->qhead = k->next;
		if (!c->qhead)
			c->qtail = NULL;
		xfree(k);
	}
	if (c->io)
		pio_pressure_eased(c->io);
	if (!c->qhead && c->closing) {
		do_close(c);
		return;
	}
	update(c);
}

int conn_queue_below(struct conn *c, size_t n) { return c->qbytes < n; }

void conn_send(struct conn *c, const char *p, size_t n)
{
	if (c->dead || !n)
		return;
	struct chunk *t = c->qtail;
	struct chunk *k = xmalloc(sizeof *k + n);
	k->next = NULL;
	k->len = n;
	k->off = 0;
	memcpy(k->data, p, n);
	if (t)
		t->next = k;
	else
		c->qhead = k;
	c->qtail = k;
	c->qbytes += n;
	if (c->qhead == k)
		flush(c);
	else
		update(c);
}

void conn_frame(struct conn *c, int stream, const char *p, size_t n)
{
	if (c->dead)
		return;
	struct chunk *k = xmalloc(sizeof *k + 8 + n);
	k->next = NULL;
	k->len = 8 + n;
	k->off = 0;
	char *h = k->data;
	h[0] = (char)stream;
	h[1] = h[2] = h[3] = 0;
	h[4] = (char)(n >> 24);
	h[5] = (char)(n >> 16);
	h[6] = (char)(n >> 8);
	h[7] = (char)n;
	memcpy(h + 8, p, n);
	if (c->qtail)
		c->qtail->next = k;
	else
		c->qhead = k;
	c->qtail = k;
	c->qbytes += k->len;
	if (c->qhead == k)
		flush(c);
	else
		update(c);
}

void conn_reply(struct conn *c, const char *json)
{
	struct buf b = {0};
	buf_str(&b, json);
	buf_ch(&b, '\n');
	conn_send(c, b.p, b.len);
	buf_free(&b);
}

void conn_reply_error(struct conn *c, const char *msg)
{
	struct buf b = {0};
	buf_str(&b, "{\"Error\":");
	buf_json_str(&b, msg, strlen(msg));
	buf_str(&b, "}\n");
	conn_send(c, b.p, b.len);
	buf_free(&b);
	conn_close_after_flush(c);
}

void conn_reply_errno(struct conn *c, const char *prefix, int err)
{
	struct buf m = {0};
	buf_str(&m, prefix);
	buf_str(&m, errstr(err));
	conn_reply_error(c, m.p);
	buf_free(&m);
}

void conn_close_after_flush(struct conn *c)
{
	if (c->dead)
		return;
	c->closing = 1;
	if (!c->qhead)
		do_close(c);
	else
		update(c);
}

void conn_resume_read(struct conn *c)
{
	c->read_paused = 0;
	update(c);
}

void events_publish(const char *json, size_t n, int final)
{
	for (struct conn *c = conns, *next; c; c = next) {
		next = c->next;
		if (c->mode != M_EVENTS || c->dead)
			continue;
		conn_send(c, json, n);
		if (final)
			conn_close_after_flush(c);
	}
}

/* arg finds key=value in the request's words. */
static const char *arg(char **words, int n, const char *key)
{
	size_t l = strlen(key);
	for (int i = 1; i < n; i++)
		if (strncmp(words[i], key, l) == 0 && words[i][l] == '=')
			return words[i] + l + 1;
	return NULL;
}

static long iarg(char **words, int n, const char *key)
{
	const char *v = arg(words, n, key);
	long x = 0;
	if (v && parse_int(v, &x) == 0)
		return x;
	return 0;
}

/* request handles the line c->in[0..n) ('\n' replaced by 0); it returns 1
 * when it consumed the connection's input for good. */
static int request(struct conn *c, char *line)
{
	char *words[16];
	int n = 0;
	for (char *p = line; *p && n < 16;) {
		while (*p == ' ')
			*p++ = 0;
		if (!*p)
			break;
		words[n++] = p;
		while (*p && *p != ' ')
			p++;
	}
	if (n == 0) {
		conn_reply_error(c, "bad request: empty");
		return 1;
	}
	const char *op = words[0];
	size_t l = strlen(op);
	if (l >= sizeof c->op)
		l = sizeof c->op - 1;
	memcpy(c->op, op, l);
	c->op[l] = 0;
	if (strcmp(op, "state") == 0) {
		struct buf b = {0};
		buf_str(&b, "{\"State\":");
		state_json(&b);
		buf_ch(&b, '}');
		conn_reply(c, b.p);
		buf_free(&b);
		conn_close_after_flush(c);
	} else if (strcmp(op, "start") == 0) {
		req_start(c);
	} else if (strcmp(op, "events") == 0) {
		c->mode = M_EVENTS;
		struct buf b = {0};
		buf_str(&b, "{\"State\":");
		state_json(&b);
		buf_ch(&b, '}');
		conn_reply(c, b.p);
		buf_free(&b);
		if (st.status == S_EXITED)
			conn_close_after_flush(c);
	} else if (strcmp(op, "attach") == 0) {
		req_attach(c, iarg(words, n, "stdin") != 0, iarg(words, n, "stdout") != 0, iarg(words, n, "stderr") != 0);
	} else if (strcmp(op, "kill") == 0) {
		c->sig = (int)iarg(words, n, "sig");
		c->all = iarg(words, n, "all") != 0;
		c->stop = iarg(words, n, "stop") != 0;
		req_kill(c);
	} else if (strcmp(op, "resize") == 0) {
		req_resize(c, arg(words, n, "exec"), iarg(words, n, "h"), iarg(words, n, "w"));
	} else if (strcmp(op, "exec") == 0) {
		const char *id = arg(words, n, "id");
		long len = iarg(words, n, "len");
		if (!id || strlen(id) >= sizeof c->exec_id || len <= 0 || len > (16 << 20)) {
			conn_reply_error(c, "bad exec request");
			return 1;
		}
		memcpy(c->exec_id, id, strlen(id) + 1);
		c->tty = iarg(words, n, "tty") != 0;
		c->stdin_ = iarg(words, n, "stdin") != 0;
		c->detach = iarg(words, n, "detach") != 0;
		c->payload = len;
		return 0;
	} else if (strcmp(op, "exec-state") == 0) {
		const char *id = arg(words, n, "id");
		req_exec_state(c, id ? id : "");
	} else if (strcmp(op, "restart-policy") == 0) {
		const char *name = arg(words, n, "name");
		if (!name || strlen(name) >= sizeof cfg.restart) {
			conn_reply_error(c, "no restart policy");
			return 1;
		}
		memcpy(cfg.restart, name, strlen(name) + 1);
		cfg.restart_max = iarg(words, n, "max");
		conn_reply(c, "{}");
		conn_close_after_flush(c);
	} else {
		struct buf b = {0};
		buf_str(&b, "unknown op \"");
		buf_str(&b, op);
		buf_ch(&b, '"');
		conn_reply_error(c, b.p);
		buf_free(&b);
	}
	return 1;
}

static void handle_input(struct conn *c)
{
	if (c->mode != M_REQ)
		return;
	if (c->payload > 0) {
		if ((long)c->in.len < c->payload)
			return;
		c->mode = M_WAIT;
		long len = c->payload;
		c->payload = 0;
		req_exec(c, c->in.p, (size_t)len);
		buf_free(&c->in);
		if (!c->dead)
			update(c);
		return;
	}
	char *nl = memchr(c->in.p, '\n', c->in.len);
	if (!nl) {
		if (c->in.len > 4096)
			conn_reply_error(c, "bad request: line too long");
		return;
	}
	*nl = 0;
	size_t rest = c->in.len - (size_t)(nl + 1 - c->in.p);
	char *line = c->in.p;
	/* keep what follows the line (an exec's payload) */
	struct buf after = {0};
	if (rest)
		buf_add(&after, nl + 1, rest);
	c->mode = M_WAIT;
	c->in.p = NULL;
	c->in.len = c->in.cap = 0;
	int done = request(c, line);
	xfree(line);
	if (!done && !c->dead) {
		c->mode = M_REQ;
		c->in = after;
		update(c);
		handle_input(c);
		return;
	}
	buf_free(&after);
	/* a connection waiting for its answer is not read meanwhile */
	if (!c->dead)
		update(c);
}

static void conn_event(struct watch *w, uint32_t events)
{
	struct conn *c = (struct conn *)w;
	if (events & EPOLLOUT) {
		flush(c);
		if (c->dead)
			return;
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)))
		return;
	if ((events & EPOLLERR) || ((events & EPOLLHUP) && !(events & EPOLLIN))) {
		do_close(c);
		return;
	}
	if (c->rd_closed || c->read_paused || c->closing || c->mode == M_WAIT)
		return;
	char buf[16384];
	ssize_t n = sys_read(c->w.fd, buf, sizeof buf);
	if (n == -EAGAIN || n == -EINTR)
		return;
	if (n <= 0) {
		c->rd_closed = 1;
		switch (c->mode) {
		case M_ATTACH:
		case M_EXEC:
			if (c->fwd_stdin) {
				if (c->close_stdin_on_eof && c->io)
					pio_close_stdin(c->io);
			} else if (c->mode == M_ATTACH) {
				/* without stdin, EOF means the client went away */
				do_close(c);
				return;
			}
			break;
		default:
			do_close(c);
			return;
		}
		update(c);
		return;
	}
	switch (c->mode) {
	case M_REQ:
		buf_add(&c->in, buf, (size_t)n);
		handle_input(c);
		break;
	case M_ATTACH:
	case M_EXEC:
		if (c->fwd_stdin && c->io)
			pio_write_stdin(c->io, buf, (size_t)n, c);
		update(c);
		break;
	default:
		break; /* events: the client has nothing to say */
	}
}

static void accept_conn(struct watch *w, uint32_t events)
{
	(void)events;
	for (;;) {
		int fd = (int)sys4(SYS_accept4, w->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		struct conn *c = xmalloc(sizeof *c);
		memset(c, 0, sizeof *c);
		c->mode = M_REQ;
		c->next = conns;
		conns = c;
		nconns++;
		watch_add(&c->w, fd, EPOLLIN, conn_event);
	}
}

void proto_listen(void)
{
	int fd = unix_listen(cfg.socket);
	if (fd < 0) {
		say("berth-shim: listen on ", cfg.socket, ": ", errstr(-fd), NULL);
		sys_exit(1);
	}
	watch_add(&lw, fd, EPOLLIN, accept_conn);
	listening = 1;
}

void proto_stop_listening(void)
{
	if (!listening)
		return;
	listening = 0;
	watch_del(&lw);
	sys_close(lw.fd);
	sys_unlink(cfg.socket);
}
