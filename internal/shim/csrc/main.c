/* main.c: configuration, the container's lifecycle (create, start,
 * supervise, restart), kill/attach/exec/resize requests, healthchecks and
 * the state file. See shim.h. */
#include "shim.h"

struct config cfg;
struct state st;

enum { P_CREATING, P_CREATED, P_STARTING, P_RUNNING, P_DRAINING, P_CLEANUP, P_BACKOFF, P_DONE };
static int phase = P_CREATING;
static int first_run = 1;
static int stopped;
static int ready_fd = -1;
static int exit_status;
static struct pio *cio;
static struct child init_child, helper_child, rt_child;
static int init_done, init_code;
static struct timespec init_finished, start_requested;
static struct conn *start_conn;
static struct timer start_timer, drain_timer, backoff_timer, linger_timer, health_timer;
static int lingered;
static long ran_since;
static struct buf oom_file;
static long oom_base;
static int helper_fd = -1;
static struct watch helper_w;
static struct buf helper_in;
static int console_lfd = -1;
static struct buf console_path;
static int exec_seq;

struct exec {
	struct exec *next;
	char id[80];
	int n;
	int pid, running, exit_code, exited, tty, stdin_, detach, probe, timed_out;
	struct pio *io;
	struct child rt, proc;
	struct conn *conn;
	int console_lfd;
	struct timer drain, timeout;
	struct buf capture;
	struct timespec started;
};
static struct exec *execs;
static int nexecs;
static struct exec *probe;

static void done(void);
static void create(void);
static void health_schedule(void);
static void probe_done(struct exec *e, int code, const char *msg);

#define container_of(p, type, field) ((type *)((char *)(p) - __builtin_offsetof(type, field)))

/* ---- paths and commands ---- */

static void bundle_path(struct buf *b, const char *name)
{
	buf_reset(b);
	buf_str(b, cfg.bundle);
	buf_ch(b, '/');
	buf_str(b, name);
}

static void seq_path(struct buf *b, const char *prefix, int n, const char *suffix)
{
	buf_reset(b);
	buf_str(b, cfg.bundle);
	buf_ch(b, '/');
	buf_str(b, prefix);
	buf_int(b, n);
	buf_str(b, suffix);
}

struct args {
	char *v[48];
	int n;
};

static void add(struct args *a, char *s)
{
	if (a->n < 47)
		a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

/* rt_args starts a runtime command line: RUNTIME [ARGS] --root R [--log L
 * --log-format json] CMD. */
static void rt_args(struct args *a, char *log, char *cmd)
{
	a->n = 0;
	add(a, cfg.runtime);
	for (int i = 0; i < cfg.nruntime_args; i++)
		add(a, cfg.runtime_args[i]);
	if (cfg.runtime_root) {
		add(a, "--root");
		add(a, cfg.runtime_root);
	}
	if (log) {
		add(a, "--log");
		add(a, log);
		add(a, "--log-format");
		add(a, "json");
	}
	add(a, cmd);
}

/* run_quiet spawns a command whose output goes to the shim's log. */
static int run_quiet(struct args *a)
{
	int fds[3] = {devnull(O_RDONLY), 2, 2};
	int pid = spawn(a->v, fds, 3);
	if (fds[0] >= 0)
		sys_close(fds[0]);
	return pid;
}

void last_log_error(const char *path, struct buf *out)
{
	struct buf data = {0}, level = {0}, msg = {0};
	buf_reset(out);
	if (read_file(path, &data, 64 * 1024) == 0) {
		char *p = data.p, *end = data.p + data.len;
		while (p < end) {
			char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
			if (json_string_field(p, n, "level", &level) == 0 &&
			    (strcmp(level.p, "error") == 0 || strcmp(level.p, "fatal") == 0) &&
			    json_string_field(p, n, "msg", &msg) == 0) {
				buf_reset(out);
				buf_add(out, msg.p, msg.len);
			}
			p += n + 1;
		}
	}
	buf_free(&data);
	buf_free(&level);
	buf_free(&msg);
}

/* runtime_error formats a failed runtime command as the Go shim did:
 * "runtime CMD failed: MESSAGE". */
static void runtime_error(struct buf *out, const char *cmd, int code, const char *log)
{
	struct buf msg = {0};
	if (log)
		last_log_error(log, &msg);
	buf_reset(out);
	buf_str(out, "runtime ");
	buf_str(out, cmd);
	buf_str(out, " failed: ");
	if (msg.len) {
		buf_add(out, msg.p, msg.len);
	} else {
		buf_str(out, "exit status ");
		buf_int(out, code);
	}
	buf_free(&msg);
}

static int read_pid(const char *path)
{
	struct buf b = {0};
	long pid = 0;
	if (read_file(path, &b, 64) == 0) {
		while (b.len && (b.p[b.len - 1] == '\n' || b.p[b.len - 1] == ' '))
			b.p[--b.len] = 0;
		if (parse_int(b.p, &pid) != 0)
			pid = 0;
	}
	buf_free(&b);
	return pid > 0 ? (int)pid : 0;
}

/* ---- state ---- */

static const char *status_name(int s)
{
	switch (s) {
	case S_CREATED: return "created";
	case S_RUNNING: return "running";
	case S_RESTARTING: return "restarting";
	}
	return "exited";
}

static const char *health_name(int s)
{
	switch (s) {
	case H_HEALTHY: return "healthy";
	case H_UNHEALTHY: return "unhealthy";
	}
	return "starting";
}

static void json_bool(struct buf *b, int v) { buf_str(b, v ? "true" : "false"); }

void state_json(struct buf *b)
{
	buf_str(b, "{\"Status\":\"");
	buf_str(b, status_name(st.status));
	buf_str(b, "\",\"Pid\":");
	buf_int(b, st.pid);
	buf_str(b, ",\"ExitCode\":");
	buf_int(b, st.exit_code);
	buf_str(b, ",\"OOMKilled\":");
	json_bool(b, st.oom_killed);
	if (st.error) {
		buf_str(b, ",\"Error\":");
		buf_json_str(b, st.error, strlen(st.error));
	}
	buf_str(b, ",\"StartedAt\":");
	buf_time(b, &st.started);
	buf_str(b, ",\"FinishedAt\":");
	buf_time(b, &st.finished);
	buf_str(b, ",\"RestartCount\":");
	buf_int(b, st.restart_count);
	buf_str(b, ",\"ManuallyStopped\":");
	json_bool(b, st.manually_stopped);
	buf_str(b, ",\"ShimPid\":");
	buf_int(b, st.shim_pid);
	if (st.has_health) {
		struct health *h = &st.health;
		buf_str(b, ",\"Health\":{\"Status\":\"");
		buf_str(b, health_name(h->status));
		buf_str(b, "\",\"FailingStreak\":");
		buf_int(b, h->failing_streak);
		buf_str(b, ",\"Log\":[");
		for (int i = 0; i < h->nlog; i++) {
			struct health_result *r = &h->log[i];
			if (i)
				buf_ch(b, ',');
			buf_str(b, "{\"Start\":");
			buf_time(b, &r->start);
			buf_str(b, ",\"End\":");
			buf_time(b, &r->end);
			buf_str(b, ",\"ExitCode\":");
			buf_int(b, r->exit_code);
			buf_str(b, ",\"Output\":");
			buf_json_str(b, r->output ? r->output : "", r->output ? strlen(r->output) : 0);
			buf_ch(b, '}');
		}
		buf_str(b, "]}");
	}
	buf_ch(b, '}');
}

void publish(void)
{
	struct buf b = {0};
	state_json(&b);
	int r = write_file_atomic(cfg.state_path, b.p, b.len);
	if (r < 0)
		say("berth-shim: write state: ", errstr(-r), NULL);
	buf_ch(&b, '\n');
	events_publish(b.p, b.len, st.status == S_EXITED);
	buf_free(&b);
}

static void set_error(const char *msg)
{
	xfree(st.error);
	st.error = msg ? strdup_(msg) : NULL;
}

static void report_ready(const char *err)
{
	if (ready_fd < 0)
		return;
	struct buf b = {0};
	if (err) {
		buf_str(&b, "{\"Error\":");
		buf_json_str(&b, err, strlen(err));
		buf_ch(&b, '}');
	} else {
		buf_str(&b, "{\"Pid\":");
		buf_int(&b, st.pid);
		buf_ch(&b, '}');
	}
	write_all(ready_fd, b.p, b.len);
	buf_free(&b);
	sys_close(ready_fd);
	ready_fd = -1;
}

/* ---- OOM ---- */

static int read_oom_kill(long *n)
{
	struct buf b = {0};
	int found = -1;
	if (oom_file.len && read_file(oom_file.p, &b, 4096) == 0) {
		for (char *p = b.p; p && *p;) {
			if (strncmp(p, "oom_kill ", 9) == 0) {
				char *e = strchr(p, '\n');
				if (e)
					*e = 0;
				if (parse_int(p + 9, n) == 0)
					found = 0;
				break;
			}
			p = strchr(p, '\n');
			if (p)
				p++;
		}
	}
	buf_free(&b);
	return found;
}

static void oom_counter(int pid)
{
	struct buf path = {0}, b = {0};
	buf_str(&path, "/proc/");
	buf_int(&path, pid);
	buf_str(&path, "/cgroup");
	buf_reset(&oom_file);
	char *v1 = NULL, *v2 = NULL;
	if (read_file(path.p, &b, 65536) == 0) {
		for (char *line = b.p; line && *line;) {
			char *nl = strchr(line, '\n');
			if (nl)
				*nl = 0;
			char *c1 = strchr(line, ':');
			char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
			if (c2) {
				*c2 = 0;
				if (strcmp(line, "0") == 0 && c1 + 1 == c2)
					v2 = c2 + 1;
				for (char *ctl = c1 + 1; ctl && *ctl;) {
					char *comma = strchr(ctl, ',');
					size_t l = comma ? (size_t)(comma - ctl) : strlen(ctl);
					if (l == 6 && strncmp(ctl, "memory", 6) == 0)
						v1 = c2 + 1;
					ctl = comma ? comma + 1 : NULL;
				}
			}
			line = nl ? nl + 1 : NULL;
		}
	}
	if (v1) {
		buf_str(&oom_file, "/sys/fs/cgroup/memory");
		buf_str(&oom_file, v1);
		buf_str(&oom_file, "/memory.oom_control");
	} else if (v2) {
		buf_str(&oom_file, "/sys/fs/cgroup");
		buf_str(&oom_file, v2);
		buf_str(&oom_file, "/memory.events");
	}
	oom_base = 0;
	if (read_oom_kill(&oom_base) != 0)
		buf_reset(&oom_file);
	buf_free(&path);
	buf_free(&b);
}

static int oom_killed(void)
{
	long n = 0;
	return oom_file.len && read_oom_kill(&n) == 0 && n > oom_base;
}

/* ---- lifecycle ---- */

static void close_console_listener(int *lfd, struct buf *path)
{
	if (*lfd >= 0) {
		sys_close(*lfd);
		sys_unlink(path->p);
	}
	*lfd = -1;
}

static void helper_close(void)
{
	if (helper_fd < 0)
		return;
	watch_del(&helper_w);
	sys_close(helper_fd);
	helper_fd = -1;
	buf_free(&helper_in);
}

static void end_cio(int code)
{
	if (!cio)
		return;
	pio_close_child(cio);
	pio_end(cio, code);
	pio_free(cio);
	cio = NULL;
}

static void finish_with_delete(void (*then)(void));
static void publish_and_done(void);

static void create_failed(const char *msg)
{
	timer_stop(&start_timer);
	helper_close();
	close_console_listener(&console_lfd, &console_path);
	end_cio(-1);
	st.status = S_EXITED;
	st.pid = 0;
	st.exit_code = 128;
	set_error(msg);
	now_real(&st.finished);
	publish();
	if (first_run) {
		report_ready(msg);
		exit_status = 1;
		say("berth-shim ", cfg.id, ": ", msg, NULL);
	}
	done();
}

static void init_exited(struct child *c, int code);
static void cio_drained(struct pio *io);
static void do_start(struct conn *c);

static void start_timeout(struct timer *t)
{
	(void)t;
	say("berth-shim ", cfg.id, ": no start request within 5m0s", NULL);
	exit_status = 1;
	if (cfg.helper)
		helper_close(); /* the helper deletes the container on EOF */
	end_cio(-1);
	st.status = S_EXITED;
	publish();
	if (cfg.helper)
		done();
	else
		finish_with_delete(done);
}

static int helper_pending_stop;

static void record_stopped(void)
{
	st.status = S_EXITED;
	st.manually_stopped = 1;
	st.pid = 0;
	publish_and_done();
}

/* stop_before_start ends a restart that a stop request overtook while the
 * container was being created: it is deleted without having run, and the
 * state is written once the runtime is done with it. */
static void stop_before_start(void)
{
	phase = P_CLEANUP;
	child_unwatch(&init_child);
	end_cio(-1);
	if (cfg.helper) {
		helper_pending_stop = 1;
		helper_close(); /* the helper deletes the container on EOF and exits */
	} else {
		finish_with_delete(record_stopped);
	}
}

static void on_created(int pid)
{
	st.pid = pid;
	if (cfg.terminal) {
		int fd = recv_fd(console_lfd);
		close_console_listener(&console_lfd, &console_path);
		if (fd < 0) {
			struct buf m = {0};
			buf_str(&m, "receive console: ");
			buf_str(&m, errstr(-fd));
			sys_kill(pid, SIGKILL);
			create_failed(m.p);
			buf_free(&m);
			return;
		}
		pio_set_console(cio, fd);
	}
	init_done = 0;
	oom_counter(pid);
	cio->drained = cio_drained;
	pio_start(cio);
	phase = P_CREATED;
	child_watch(&init_child, pid, init_exited);
	if (!first_run && stopped) {
		stop_before_start();
		return;
	}
	if (first_run) {
		publish();
		report_ready(NULL);
		timer_set(&start_timer, 5 * 60 * 1000, start_timeout);
	} else {
		do_start(NULL);
	}
}

static void on_started(const char *err);

static void helper_line(char *line)
{
	if (strncmp(line, "created ", 8) == 0) {
		long pid = 0;
		if (parse_int(line + 8, &pid) != 0 || pid <= 0) {
			create_failed("runtime helper: bad pid");
			return;
		}
		on_created((int)pid);
	} else if (strcmp(line, "started") == 0) {
		on_started(NULL);
		helper_close();
	} else if (strncmp(line, "error ", 6) == 0) {
		if (phase == P_CREATING)
			create_failed(line + 6);
		else if (phase == P_STARTING)
			on_started(line + 6);
	}
}

static void helper_read(struct watch *w, uint32_t events)
{
	char b[4096];
	(void)events;
	ssize_t n = sys_read(w->fd, b, sizeof b);
	if (n == -EAGAIN || n == -EINTR)
		return;
	if (n > 0) {
		buf_add(&helper_in, b, (size_t)n);
		char *nl;
		while (helper_fd >= 0 && helper_in.len && (nl = memchr(helper_in.p, '\n', helper_in.len))) {
			*nl = 0;
			size_t used = (size_t)(nl + 1 - helper_in.p);
			struct buf line = {0};
			buf_str(&line, helper_in.p);
			memmove(helper_in.p, nl + 1, helper_in.len - used);
			helper_in.len -= used;
			helper_line(line.p);
			buf_free(&line);
		}
		return;
	}
	helper_close();
	if (phase == P_CREATING)
		create_failed("runtime helper exited before creating the container");
	else if (phase == P_STARTING)
		on_started("runtime helper exited before starting the container");
}

static void helper_exited(struct child *c, int code)
{
	(void)c;
	(void)code;
	if (helper_pending_stop) {
		helper_pending_stop = 0;
		record_stopped();
	}
}

static void rt_create_done(struct child *c, int code)
{
	(void)c;
	struct buf log = {0}, pidf = {0};
	bundle_path(&log, "runtime.log");
	bundle_path(&pidf, "init.pid");
	if (code != 0) {
		struct buf m = {0};
		runtime_error(&m, "create", code, log.p);
		create_failed(m.p);
		buf_free(&m);
	} else {
		int pid = read_pid(pidf.p);
		if (pid)
			on_created(pid);
		else
			create_failed("runtime create wrote no pid file");
	}
	buf_free(&log);
	buf_free(&pidf);
}

static void create(void)
{
	phase = P_CREATING;
	cio = pio_new(cfg.terminal, cfg.open_stdin, 1);
	if (!cio) {
		create_failed("create the container's stdio: too many open files");
		return;
	}
	struct buf log = {0}, pidf = {0};
	bundle_path(&log, "runtime.log");
	bundle_path(&pidf, "init.pid");
	sys_unlink(pidf.p);
	sys_unlink(log.p);
	if (cfg.terminal) {
		buf_reset(&console_path);
		buf_str(&console_path, cfg.socket);
		buf_str(&console_path, ".pty");
		console_lfd = unix_listen(console_path.p);
		if (console_lfd < 0) {
			struct buf m = {0};
			buf_str(&m, "console socket: ");
			buf_str(&m, errstr(-console_lfd));
			create_failed(m.p);
			buf_free(&m);
			goto out;
		}
	}
	struct args a = {0};
	int pid;
	if (cfg.helper) {
		int sv[2];
		if (sys4(SYS_socketpair, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
			create_failed("socketpair: too many open files");
			goto out;
		}
		add(&a, cfg.helper);
		add(&a, "shim");
		add(&a, "create");
		add(&a, "--root");
		add(&a, cfg.runtime_root);
		add(&a, "--bundle");
		add(&a, cfg.bundle);
		add(&a, "--log");
		add(&a, log.p);
		if (cfg.terminal) {
			add(&a, "--console-socket");
			add(&a, console_path.p);
		}
		add(&a, cfg.id);
		int fds[4] = {cio->child_fds[0], cio->child_fds[1], cio->child_fds[2], sv[1]};
		pid = spawn(a.v, fds, 4);
		sys_close(sv[1]);
		pio_close_child(cio);
		if (pid < 0) {
			sys_close(sv[0]);
			create_failed("start the runtime helper failed");
			goto out;
		}
		helper_fd = sv[0];
		set_nonblock(helper_fd);
		watch_add(&helper_w, helper_fd, EPOLLIN, helper_read);
		child_watch(&helper_child, pid, helper_exited);
	} else {
		rt_args(&a, log.p, "create");
		add(&a, "--bundle");
		add(&a, cfg.bundle);
		add(&a, "--pid-file");
		add(&a, pidf.p);
		if (cfg.terminal) {
			add(&a, "--console-socket");
			add(&a, console_path.p);
		}
		add(&a, cfg.id);
		pid = spawn(a.v, cio->child_fds, 3);
		pio_close_child(cio);
		if (pid < 0) {
			create_failed("start runtime failed");
			goto out;
		}
		child_watch(&rt_child, pid, rt_create_done);
	}
out:
	buf_free(&log);
	buf_free(&pidf);
}

static void reply_state(struct conn *c)
{
	struct buf b = {0};
	buf_str(&b, "{\"State\":");
	state_json(&b);
	buf_str(&b, ",\"Pid\":");
	buf_int(&b, st.pid);
	buf_ch(&b, '}');
	conn_reply(c, b.p);
	buf_free(&b);
	conn_close_after_flush(c);
}

static void begin_drain(void);

static struct buf start_error;

/* start_failed records a failed start once the runtime has deleted the
 * container, and answers the start request: nothing is written after the
 * answer, so that the daemon may remove the container's directory. */
static void start_failed(void)
{
	struct conn *c = start_conn;
	start_conn = NULL;
	st.status = S_EXITED;
	st.exit_code = 128;
	st.pid = 0;
	set_error(start_error.p);
	now_real(&st.finished);
	publish();
	if (c) {
		if (!c->dead)
			conn_reply_error(c, start_error.p);
		conn_put(c);
	}
	buf_free(&start_error);
	done();
}

static void on_started(const char *err)
{
	struct conn *c = start_conn;
	if (err) {
		buf_reset(&start_error);
		if (strncmp(err, "runtime ", 8) != 0)
			buf_str(&start_error, "runtime start failed: ");
		buf_str(&start_error, err);
		helper_close();
		if (init_child.pid)
			child_unwatch(&init_child);
		end_cio(-1);
		if (cfg.helper)
			start_failed(); /* the helper deleted the container */
		else
			finish_with_delete(start_failed);
		return;
	}
	start_conn = NULL;
	st.status = S_RUNNING;
	st.started = start_requested; /* before the init can have exited */
	st.exit_code = 0;
	st.oom_killed = 0;
	set_error(NULL);
	for (int i = 0; i < st.health.nlog; i++)
		xfree(st.health.log[i].output);
	memset(&st.health, 0, sizeof st.health);
	st.has_health = cfg.health_process != NULL;
	ran_since = now_ms();
	phase = P_RUNNING;
	first_run = 0;
	publish();
	if (c) {
		if (!c->dead)
			reply_state(c);
		conn_put(c);
	}
	if (st.has_health)
		health_schedule();
	if (init_done)
		begin_drain();
}

static void rt_start_done(struct child *ch, int code)
{
	(void)ch;
	if (code == 0) {
		on_started(NULL);
		return;
	}
	struct buf log = {0}, m = {0};
	bundle_path(&log, "runtime.log");
	runtime_error(&m, "start", code, log.p);
	on_started(m.p);
	buf_free(&log);
	buf_free(&m);
}

static void do_start(struct conn *c)
{
	timer_stop(&start_timer);
	now_real(&start_requested);
	phase = P_STARTING;
	if (c) {
		conn_hold(c);
		c->mode = M_WAIT;
	}
	start_conn = c;
	if (cfg.helper) {
		if (helper_fd < 0 || write_all(helper_fd, "start\n", 6) != 0)
			on_started("runtime helper is gone");
		return;
	}
	struct buf log = {0};
	bundle_path(&log, "runtime.log");
	struct args a = {0};
	rt_args(&a, log.p, "start");
	add(&a, cfg.id);
	int pid = run_quiet(&a);
	buf_free(&log);
	if (pid < 0) {
		on_started("start runtime failed");
		return;
	}
	child_watch(&rt_child, pid, rt_start_done);
}

void req_start(struct conn *c)
{
	if (phase != P_CREATED || st.status != S_CREATED) {
		conn_reply_error(c, "container already started");
		return;
	}
	do_start(c);
}

static int should_restart(int code)
{
	if (strcmp(cfg.restart, "always") == 0 || strcmp(cfg.restart, "unless-stopped") == 0)
		return 1;
	if (strcmp(cfg.restart, "on-failure") == 0)
		return code != 0 && (cfg.restart_max <= 0 || st.restart_count < cfg.restart_max);
	return 0;
}

static void restart_now(struct timer *t)
{
	(void)t;
	create();
}

static void backoff_start(void)
{
	long d = 100;
	if (now_ms() - ran_since < 10000) {
		for (long i = 1; i < st.restart_count && d < 60000; i++)
			d *= 2;
	}
	if (d > 60000)
		d = 60000;
	phase = P_BACKOFF;
	timer_set(&backoff_timer, d, restart_now);
}

static void (*after_delete)(void);
static void deleted(struct child *c, int code)
{
	(void)c;
	(void)code;
	void (*then)(void) = after_delete;
	after_delete = NULL;
	if (then)
		then();
}

static void publish_and_done(void)
{
	publish();
	done();
}

/* finish_with_delete runs `runtime delete --force`, then `then` (NULL:
 * publish the state and end). */
static void finish_with_delete(void (*then)(void))
{
	struct buf log = {0};
	bundle_path(&log, "runtime.log");
	struct args a = {0};
	rt_args(&a, log.p, "delete");
	add(&a, "--force");
	add(&a, cfg.id);
	after_delete = then ? then : publish_and_done;
	int pid = run_quiet(&a);
	buf_free(&log);
	if (pid < 0) {
		deleted(NULL, 1);
		return;
	}
	child_watch(&rt_child, pid, deleted);
}

static int exit_oom;

/* record_exit publishes how the container ended: the last thing the shim
 * writes, so that the daemon may remove the container's directory once
 * the state says exited. */
static void record_exit(void)
{
	log_wait_compress();
	st.pid = 0;
	st.exit_code = init_code;
	st.oom_killed = exit_oom;
	st.finished = init_finished;
	st.status = S_EXITED;
	st.manually_stopped = stopped;
	publish_and_done();
}

static void finish_run(void)
{
	timer_stop(&drain_timer);
	phase = P_CLEANUP;
	exit_oom = oom_killed();
	end_cio(init_code);
	if (stopped || !should_restart(init_code)) {
		if (cfg.delete_on_exit)
			finish_with_delete(record_exit);
		else
			record_exit();
		return;
	}
	st.pid = 0;
	st.exit_code = init_code;
	st.oom_killed = exit_oom;
	st.finished = init_finished;
	st.status = S_RESTARTING;
	st.restart_count++;
	publish();
	if (cfg.helper)
		backoff_start(); /* the helper deletes the old container first */
	else
		finish_with_delete(backoff_start);
}

static void drain_timeout(struct timer *t)
{
	(void)t;
	if (phase == P_DRAINING)
		finish_run();
}

static void cio_drained(struct pio *io)
{
	(void)io;
	if (phase == P_DRAINING)
		finish_run();
}

static void stop_probe(void);

static void begin_drain(void)
{
	phase = P_DRAINING;
	timer_stop(&health_timer);
	stop_probe();
	st.has_health = 0;
	if (!cio || !pio_open_sources(cio)) {
		finish_run();
		return;
	}
	timer_set(&drain_timer, 2000, drain_timeout);
}

static void init_exited(struct child *c, int code)
{
	(void)c;
	init_done = 1;
	init_code = code;
	now_real(&init_finished);
	if (phase == P_RUNNING)
		begin_drain();
}

static void request_stop(void)
{
	stopped = 1;
	if (phase == P_BACKOFF) {
		timer_stop(&backoff_timer);
		st.status = S_EXITED;
		st.manually_stopped = 1;
		publish();
		done();
	}
}

static void linger_over(struct timer *t)
{
	(void)t;
	lingered = 1;
}

static void done(void)
{
	phase = P_DONE;
	timer_stop(&start_timer);
	timer_stop(&health_timer);
	proto_stop_listening();
	timer_set(&linger_timer, 2000, linger_over);
}

static int keep_going(void)
{
	if (phase != P_DONE)
		return 1;
	if (lingered)
		return 0;
	return conns_open() > 0 || after_delete != NULL;
}

/* ---- requests ---- */

static void kill_all_done(struct child *ch, int code);
struct killreq {
	struct child ch;
	struct conn *c;
	int sig;
};

static void kill_all_done(struct child *ch, int code)
{
	struct killreq *k = (struct killreq *)ch;
	struct conn *c = k->c;
	/* The runtime refuses a container whose init just exited (runc: "not
	 * running"): that one is ending anyway. Else signal the init at least. */
	if (code != 0 && (init_done || st.status != S_RUNNING || sys_kill(st.pid, k->sig) == 0))
		code = 0;
	if (!c->dead) {
		if (code == 0) {
			conn_reply(c, "{}");
			conn_close_after_flush(c);
		} else {
			struct buf m = {0};
			buf_str(&m, "runtime kill failed: exit status ");
			buf_int(&m, code);
			conn_reply_error(c, m.p);
			buf_free(&m);
		}
	}
	conn_put(c);
	defer_free(k);
}

void req_kill(struct conn *c)
{
	int status = st.status;
	if (c->stop)
		request_stop(); /* during a backoff, that ends the container */
	if (status != S_RUNNING) {
		if (status == S_RESTARTING && c->stop) {
			conn_reply(c, "{}");
			conn_close_after_flush(c);
			return;
		}
		conn_reply_error(c, "container is not running");
		return;
	}
	int sig = c->sig ? c->sig : SIGKILL;
	if (init_done) {
		/* already gone: its exit is being recorded */
		conn_reply(c, "{}");
		conn_close_after_flush(c);
		return;
	}
	if (c->all) {
		/* every process of the container, also a frozen one: the runtime
		 * knows its cgroup */
		struct buf log = {0}, s = {0};
		bundle_path(&log, "runtime.log");
		buf_int(&s, sig);
		struct args a = {0};
		rt_args(&a, NULL, "kill");
		add(&a, "--all");
		add(&a, cfg.id);
		add(&a, s.p);
		int pid = run_quiet(&a);
		buf_free(&log);
		buf_free(&s);
		if (pid < 0) {
			conn_reply_error(c, "start runtime failed");
			return;
		}
		struct killreq *k = xmalloc(sizeof *k);
		memset(k, 0, sizeof *k);
		k->c = c;
		k->sig = sig;
		conn_hold(c);
		c->mode = M_WAIT;
		child_watch(&k->ch, pid, kill_all_done);
		return;
	}
	int r = sys_kill(st.pid, sig);
	if (r < 0) {
		conn_reply_errno(c, "signal init process: ", -r);
		return;
	}
	conn_reply(c, "{}");
	conn_close_after_flush(c);
}

static struct exec *find_exec(const char *id)
{
	for (struct exec *e = execs; e; e = e->next)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

void req_resize(struct conn *c, const char *exec_id, long h, long w)
{
	int console = -1;
	if (exec_id && *exec_id) {
		struct exec *e = find_exec(exec_id);
		if (e && e->io)
			console = e->io->console;
	} else if (cio) {
		console = cio->console;
	}
	if (console < 0) {
		conn_reply_error(c, "resize: process has no terminal");
		return;
	}
	struct winsize ws = {(uint16_t)h, (uint16_t)w, 0, 0};
	int r = sys_ioctl(console, TIOCSWINSZ, &ws);
	if (r < 0) {
		conn_reply_errno(c, "resize: ", -r);
		return;
	}
	conn_reply(c, "{}");
	conn_close_after_flush(c);
}

void req_attach(struct conn *c, int in, int out, int err)
{
	if (!cio || st.status == S_EXITED || phase >= P_DRAINING) {
		conn_reply_error(c, "container is not running");
		return;
	}
	conn_reply(c, "{}");
	c->mode = M_ATTACH;
	pio_subscribe(cio, c, out, err);
	if (in && cfg.open_stdin) {
		c->fwd_stdin = 1;
		c->close_stdin_on_eof = cfg.stdin_once && !cfg.terminal;
	}
	conn_resume_read(c);
}

/* ---- exec ---- */

static void exec_finish(struct exec *e)
{
	timer_stop(&e->drain);
	timer_stop(&e->timeout);
	e->running = 0;
	struct pio *io = e->io;
	e->io = NULL;
	if (io) {
		pio_end(io, e->exit_code);
		pio_free(io);
	}
	if (e->probe)
		probe_done(e, e->timed_out ? -1 : e->exit_code, NULL);
}

static void exec_drain_timeout(struct timer *t) { exec_finish(container_of(t, struct exec, drain)); }

static void exec_drained(struct pio *io)
{
	struct exec *e = io->owner;
	if (e->exited)
		exec_finish(e);
}

static void exec_exited(struct child *ch, int code)
{
	struct exec *e = container_of(ch, struct exec, proc);
	e->exited = 1;
	e->exit_code = code;
	if (!e->io || !pio_open_sources(e->io))
		exec_finish(e);
	else
		timer_set(&e->drain, 2000, exec_drain_timeout);
}

static void forget_exec(struct exec *e)
{
	for (struct exec **pp = &execs; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			nexecs--;
			break;
		}
	}
	buf_free(&e->capture);
	defer_free(e);
}

static void exec_failed(struct exec *e, const char *msg)
{
	if (e->conn) {
		if (!e->conn->dead)
			conn_reply_error(e->conn, msg);
		conn_put(e->conn);
		e->conn = NULL;
	}
	if (e->io) {
		pio_close_child(e->io);
		pio_end(e->io, -1);
		pio_free(e->io);
		e->io = NULL;
	}
	if (e->probe) {
		probe_done(e, -1, msg);
		return;
	}
	forget_exec(e);
}

static void exec_rt_done(struct child *ch, int code)
{
	struct exec *e = container_of(ch, struct exec, rt);
	struct buf proc = {0}, pidf = {0}, log = {0}, sock = {0};
	seq_path(&proc, "exec-", e->n, ".json");
	seq_path(&pidf, "exec-", e->n, ".pid");
	seq_path(&log, "exec-", e->n, ".log");
	buf_str(&sock, cfg.socket);
	buf_ch(&sock, '.');
	buf_int(&sock, e->n);
	buf_str(&sock, ".pty");
	sys_unlink(proc.p);
	if (code != 0) {
		struct buf m = {0};
		runtime_error(&m, "exec", code, log.p);
		sys_unlink(log.p);
		close_console_listener(&e->console_lfd, &sock);
		exec_failed(e, m.p);
		buf_free(&m);
		goto out;
	}
	sys_unlink(log.p);
	int pid = read_pid(pidf.p);
	sys_unlink(pidf.p);
	if (!pid) {
		close_console_listener(&e->console_lfd, &sock);
		exec_failed(e, "runtime exec wrote no pid file");
		goto out;
	}
	if (e->tty) {
		int fd = recv_fd(e->console_lfd);
		close_console_listener(&e->console_lfd, &sock);
		if (fd < 0) {
			sys_kill(pid, SIGKILL);
			exec_failed(e, "receive console failed");
			goto out;
		}
		pio_set_console(e->io, fd);
	}
	e->pid = pid;
	e->running = 1;
	e->io->owner = e;
	e->io->drained = exec_drained;
	struct conn *c = e->conn;
	e->conn = NULL;
	if (c) {
		if (!c->dead) {
			struct buf b = {0};
			buf_str(&b, "{\"Pid\":");
			buf_int(&b, pid);
			buf_str(&b, ",\"Running\":true}");
			conn_reply(c, b.p);
			buf_free(&b);
			if (e->detach) {
				conn_close_after_flush(c);
			} else {
				c->mode = M_EXEC;
				pio_subscribe(e->io, c, 1, 1);
				c->fwd_stdin = e->stdin_;
				c->close_stdin_on_eof = !e->tty;
				conn_resume_read(c);
			}
		}
		conn_put(c);
	}
	pio_start(e->io);
	if (e->timed_out)
		sys_kill(pid, SIGKILL); /* a probe whose time ran out while it was being started */
	child_watch(&e->proc, pid, exec_exited);
out:
	buf_free(&proc);
	buf_free(&pidf);
	buf_free(&log);
	buf_free(&sock);
}

/* start_exec runs `runtime exec -d` for process file procfile. */
static struct exec *start_exec(const char *id, int tty, int in, int detach, const char *procfile, struct conn *c,
			       const char **err)
{
	*err = NULL;
	if (st.status != S_RUNNING || init_done || phase != P_RUNNING) {
		*err = "container is not running";
		return NULL;
	}
	struct exec *e = xmalloc(sizeof *e);
	memset(e, 0, sizeof *e);
	size_t l = strlen(id);
	if (l >= sizeof e->id)
		l = sizeof e->id - 1;
	memcpy(e->id, id, l);
	e->n = ++exec_seq;
	e->tty = tty;
	e->stdin_ = in;
	e->detach = detach;
	e->console_lfd = -1;
	e->io = pio_new(tty, in, 0);
	if (!e->io) {
		xfree(e);
		*err = "create the exec's stdio failed";
		return NULL;
	}
	e->io->owner = e;
	struct buf pidf = {0}, log = {0}, sock = {0};
	seq_path(&pidf, "exec-", e->n, ".pid");
	seq_path(&log, "exec-", e->n, ".log");
	struct args a = {0};
	rt_args(&a, log.p, "exec");
	add(&a, "--process");
	add(&a, (char *)procfile);
	add(&a, "--pid-file");
	add(&a, pidf.p);
	add(&a, "-d");
	if (tty) {
		buf_str(&sock, cfg.socket);
		buf_ch(&sock, '.');
		buf_int(&sock, e->n);
		buf_str(&sock, ".pty");
		e->console_lfd = unix_listen(sock.p);
		add(&a, "--tty");
		add(&a, "--console-socket");
		add(&a, sock.p);
	}
	add(&a, cfg.id);
	int pid = spawn(a.v, e->io->child_fds, 3);
	pio_close_child(e->io);
	buf_free(&pidf);
	buf_free(&log);
	if (pid < 0) {
		close_console_listener(&e->console_lfd, &sock);
		buf_free(&sock);
		pio_end(e->io, -1);
		pio_free(e->io);
		xfree(e);
		*err = "start runtime failed";
		return NULL;
	}
	buf_free(&sock);
	if (c) {
		conn_hold(c);
		c->mode = M_WAIT;
		e->conn = c;
	}
	e->next = execs;
	execs = e;
	nexecs++;
	if (nexecs > 256) {
		/* forget the oldest finished execs */
		struct exec *last = NULL;
		for (struct exec *x = execs; x; x = x->next)
			if (!x->running && !x->probe && x->pid)
				last = x;
		if (last)
			forget_exec(last);
	}
	child_watch(&e->rt, pid, exec_rt_done);
	return e;
}

void req_exec(struct conn *c, char *process, size_t n)
{
	if (find_exec(c->exec_id)) {
		conn_reply_error(c, "exec already exists");
		return;
	}
	struct buf procfile = {0};
	seq_path(&procfile, "exec-", exec_seq + 1, ".json");
	int fd = sys_open(procfile.p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write_all(fd, process, n) != 0) {
		if (fd >= 0)
			sys_close(fd);
		conn_reply_error(c, "write exec process failed");
		buf_free(&procfile);
		return;
	}
	sys_close(fd);
	const char *err;
	struct exec *e = start_exec(c->exec_id, c->tty, c->stdin_, c->detach, procfile.p, c, &err);
	if (!e) {
		sys_unlink(procfile.p);
		conn_reply_error(c, err);
	}
	buf_free(&procfile);
}

void req_exec_state(struct conn *c, const char *id)
{
	struct exec *e = find_exec(id);
	if (!e || e->probe) {
		struct buf m = {0};
		buf_str(&m, "no such exec: ");
		buf_str(&m, id);
		conn_reply_error(c, m.p);
		buf_free(&m);
		return;
	}
	struct buf b = {0};
	buf_str(&b, "{\"Pid\":");
	buf_int(&b, e->pid);
	if (e->running)
		buf_str(&b, ",\"Running\":true");
	if (e->exit_code) {
		buf_str(&b, ",\"ExitCode\":");
		buf_int(&b, e->exit_code);
	}
	buf_ch(&b, '}');
	conn_reply(c, b.p);
	buf_free(&b);
	conn_close_after_flush(c);
}

/* ---- healthcheck ---- */

#define HEALTH_OUTPUT_MAX 4096

static void health_fire(struct timer *t);

static void health_schedule(void)
{
	long wait = cfg.health_interval;
	struct timespec now;
	now_real(&now);
	long since = (now.tv_sec - st.started.tv_sec) * 1000000000L + (now.tv_nsec - st.started.tv_nsec);
	if (since < cfg.health_start_period && cfg.health_start_interval > 0)
		wait = cfg.health_start_interval;
	timer_set(&health_timer, wait / 1000000, health_fire);
}

static void probe_timeout(struct timer *t)
{
	struct exec *e = container_of(t, struct exec, timeout);
	e->timed_out = 1;
	if (e->pid && e->running)
		sys_kill(e->pid, SIGKILL);
}

static void health_fire(struct timer *t)
{
	(void)t;
	if (phase != P_RUNNING || probe)
		return;
	const char *err;
	char id[32] = "health";
	struct exec *e = start_exec(id, 0, 0, 1, cfg.health_process, NULL, &err);
	struct timespec now;
	now_real(&now);
	if (!e) {
		struct exec tmp;
		memset(&tmp, 0, sizeof tmp);
		tmp.started = now;
		probe_done(&tmp, -1, err);
		return;
	}
	e->probe = 1;
	e->started = now;
	e->io->capture = &e->capture;
	e->io->capture_max = HEALTH_OUTPUT_MAX;
	probe = e;
	timer_set(&e->timeout, cfg.health_timeout / 1000000, probe_timeout);
}

static void stop_probe(void)
{
	if (probe && probe->pid && probe->running)
		sys_kill(probe->pid, SIGKILL);
}

static void probe_done(struct exec *e, int code, const char *msg)
{
	struct health_result r;
	memset(&r, 0, sizeof r);
	r.start = e->started;
	now_real(&r.end);
	r.exit_code = code;
	struct buf out = {0};
	if (msg) {
		buf_str(&out, msg);
	} else if (e->timed_out) {
		buf_str(&out, "Health check exceeded timeout (");
		go_duration(&out, cfg.health_timeout);
		buf_ch(&out, ')');
		r.exit_code = -1;
	} else {
		buf_add(&out, e->capture.p ? e->capture.p : "", e->capture.len);
	}
	r.output = out.p ? out.p : strdup_("");
	if (e == probe) {
		probe = NULL;
		forget_exec(e);
	}
	if (phase != P_RUNNING || !st.has_health) {
		xfree(r.output);
		return;
	}
	struct health *h = &st.health;
	if (h->nlog == HEALTH_LOG) {
		xfree(h->log[0].output);
		memmove(&h->log[0], &h->log[1], (HEALTH_LOG - 1) * sizeof h->log[0]);
		h->nlog--;
	}
	h->log[h->nlog++] = r;
	long since = (r.start.tv_sec - st.started.tv_sec) * 1000000000L + (r.start.tv_nsec - st.started.tv_nsec);
	int in_start = since < cfg.health_start_period;
	if (r.exit_code == 0) {
		h->status = H_HEALTHY;
		h->failing_streak = 0;
	} else if (in_start && h->status == H_STARTING) {
		/* failures during the start period do not count */
	} else {
		h->failing_streak++;
		if (h->failing_streak >= cfg.health_retries)
			h->status = H_UNHEALTHY;
	}
	publish();
	health_schedule();
}

/* ---- configuration ---- */

static int config_line(char *k, char *v)
{
	long n = 0;
#define STR(name, field)                                                                                               \
	if (strcmp(k, name) == 0) {                                                                                    \
		cfg.field = strdup_(v);                                                                                \
		return 0;                                                                                              \
	}
#define INT(name, field)                                                                                               \
	if (strcmp(k, name) == 0) {                                                                                    \
		if (parse_int(v, &n) != 0)                                                                             \
			return -1;                                                                                     \
		cfg.field = n;                                                                                         \
		return 0;                                                                                              \
	}
	STR("id", id)
	STR("bundle", bundle)
	STR("runtime", runtime)
	STR("runtime-root", runtime_root)
	STR("helper", helper)
	STR("berth", berth)
	STR("socket", socket)
	STR("state", state_path)
	STR("log-path", log_path)
	STR("health-process", health_process)
	INT("log-max-size", log_max_size)
	INT("log-max-files", log_max_files)
	INT("log-compress", log_compress)
	INT("terminal", terminal)
	INT("open-stdin", open_stdin)
	INT("stdin-once", stdin_once)
	INT("restart-max", restart_max)
	INT("restart-count", restart_count)
	INT("health-interval", health_interval)
	INT("health-timeout", health_timeout)
	INT("health-start-period", health_start_period)
	INT("health-start-interval", health_start_interval)
	INT("health-retries", health_retries)
	INT("delete-on-exit", delete_on_exit)
#undef STR
#undef INT
	if (strcmp(k, "runtime-arg") == 0) {
		if (cfg.nruntime_args >= 16)
			return -1;
		cfg.runtime_args[cfg.nruntime_args++] = strdup_(v);
		return 0;
	}
	if (strcmp(k, "restart") == 0) {
		if (strlen(v) >= sizeof cfg.restart)
			return -1;
		memcpy(cfg.restart, v, strlen(v) + 1);
		return 0;
	}
	if (strcmp(k, "log-driver") == 0) {
		if (strcmp(v, "json-file") == 0)
			cfg.log_driver = LOG_JSON;
		else if (strcmp(v, "local") == 0)
			cfg.log_driver = LOG_LOCAL;
		else if (strcmp(v, "none") == 0)
			cfg.log_driver = LOG_NONE;
		else
			return -1;
		return 0;
	}
	return 0; /* unknown keys: a newer daemon's, ignored */
}

static const char *read_config(const char *path)
{
	struct buf b = {0};
	if (read_file(path, &b, 1 << 20) != 0)
		return "read shim config: cannot open it";
	for (char *line = b.p; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		char *sp = strchr(line, ' ');
		if (sp) {
			*sp = 0;
			if (config_line(line, sp + 1) != 0)
				return "read shim config: bad value";
		}
		line = nl ? nl + 1 : NULL;
	}
	buf_free(&b);
	if (!cfg.id || !cfg.bundle || !cfg.runtime || !cfg.socket || !cfg.state_path)
		return "read shim config: id, bundle, runtime, socket and state are required";
	if (cfg.health_interval <= 0)
		cfg.health_interval = 30000000000L;
	if (cfg.health_timeout <= 0)
		cfg.health_timeout = 30000000000L;
	if (cfg.health_retries <= 0)
		cfg.health_retries = 3;
	if (cfg.log_max_files < 1)
		cfg.log_max_files = 1;
	return NULL;
}

int main(int argc, char **argv, char **envp)
{
	environ_ = envp;
	sys_prctl(PR_SET_NAME, (long)"berth-shim", 0, 0, 0);
	struct k_sigaction ign = {SIG_IGN, 0, 0, 0};
	sys_sigaction(SIGPIPE, &ign, NULL);
	sys_sigaction(SIGHUP, &ign, NULL);
	sys_sigaction(SIGINT, &ign, NULL);
	if (sys_fcntl(3, F_GETFD, 0) >= 0) {
		ready_fd = 3;
		sys_fcntl(3, F_SETFD, FD_CLOEXEC);
	}
	if (argc != 2) {
		say("usage: berth-shim CONFIG", NULL);
		report_ready("usage: berth-shim CONFIG");
		return 2;
	}
	const char *err = read_config(argv[1]);
	if (err) {
		say("berth-shim: ", err, NULL);
		report_ready(err);
		return 1;
	}
	sys_prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	st.status = S_CREATED;
	st.restart_count = cfg.restart_count;
	st.shim_pid = sys_getpid();
	loop_init();
	int r = log_open_file();
	if (r < 0) {
		struct buf m = {0};
		buf_str(&m, "open log: ");
		buf_str(&m, errstr(-r));
		say("berth-shim: ", m.p, NULL);
		report_ready(m.p);
		return 1;
	}
	proto_listen();
	create();
	loop_run(keep_going);
	log_close();
	proto_stop_listening();
	return exit_status;
}
