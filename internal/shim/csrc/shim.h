/*
 * berth-shim: the per-container supervisor, in C without libc so that an
 * idle container costs a few pages. One process per container: it holds
 * the container's stdio (pipes or a pty), writes its log (json-file or
 * local, rotated), reaps its init and records how it exited (code, OOM
 * kill, times), applies the restart policy, runs the healthcheck and
 * serves the daemon's small protocol on a unix socket (state, start,
 * events, attach, kill, resize, exec, exec-state, restart-policy). It needs
 * no daemon to do any of that. Heavy, rare work (creating the container
 * with berth's runtime, exec, kill --all, delete, compressing a rotated
 * log) is done by exec'ing the runtime or `berth shim …`.
 *
 * The Go side of the protocol, the config format and the state format are
 * in internal/shim (client.go, config.go).
 */
#ifndef BERTH_SHIM_H
#define BERTH_SHIM_H

#include "sys.h"

/* ---- buf.c: growable byte buffers, JSON, time ---- */
struct buf {
	char *p;
	size_t len, cap;
};
void buf_grow(struct buf *b, size_t n);
void buf_add(struct buf *b, const void *p, size_t n);
void buf_str(struct buf *b, const char *s);
void buf_int(struct buf *b, long v);
void buf_ch(struct buf *b, char c);
/* buf_json_str appends s[0..n) as a JSON string (quotes included), with
 * invalid UTF-8 replaced by U+FFFD as Go's encoder does. */
void buf_json_str(struct buf *b, const char *s, size_t n);
void buf_time(struct buf *b, const struct timespec *ts); /* RFC 3339, UTC, "0001-…" for zero */
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
/* json_string_field finds "key":"..." in a JSON line and unescapes it into
 * out; it returns 0 when found. */
int json_string_field(const char *line, size_t n, const char *key, struct buf *out);
void go_duration(struct buf *b, long ns);
long now_ms(void); /* monotonic */
void now_real(struct timespec *ts);

/* ---- loop.c: epoll, timers, children ---- */
struct watch;
typedef void (*watch_fn)(struct watch *w, uint32_t events);
struct watch {
	int fd;
	uint32_t events;
	watch_fn fn;
	int added;
};
void loop_init(void);
void watch_add(struct watch *w, int fd, uint32_t events, watch_fn fn);
void watch_mod(struct watch *w, uint32_t events);
void watch_del(struct watch *w);

struct timer {
	long at;
	void (*fn)(struct timer *t);
	int active;
	struct timer *next;
};
void timer_set(struct timer *t, long after_ms, void (*fn)(struct timer *t));
void timer_stop(struct timer *t);

struct child {
	int pid;
	void (*done)(struct child *c, int code);
	struct child *next;
};
/* child_watch calls c->done with the exit code (128+signal when killed)
 * when pid ends; an exit reaped before the watch started is remembered. */
void child_watch(struct child *c, int pid, void (*done)(struct child *c, int code));
void child_unwatch(struct child *c);
/* spawn runs argv with fds[0..nfds) as its fds 0..; it returns the pid or
 * -errno. */
int spawn(char *const *argv, const int *fds, int nfds);
void defer_free(void *p);
void loop_run(int (*keep_going)(void));
extern char **environ_;

/* ---- fds ---- */
int set_nonblock(int fd);
int devnull(int flags);
int unix_listen(const char *path);
/* recv_fd accepts one connection on listener lfd and receives the fd it
 * sends (a pty master from the runtime's console socket). */
int recv_fd(int lfd);
int read_file(const char *path, struct buf *out, size_t max);
/* write_file_atomic writes b to path through a temp file and rename. */
int write_file_atomic(const char *path, const char *b, size_t n);

/* ---- log.c ---- */
enum { LOG_NONE, LOG_JSON, LOG_LOCAL };
int log_open_file(void);
void log_close(void);
/* log_line writes one entry; partial means no newline ends it. */
void log_line(int stream, const char *p, size_t n, int partial);
void log_child_done(int pid);
/* log_wait_compress waits for the compression of a rotated file. */
void log_wait_compress(void);

/* ---- io.c: process stdio, output fan-out, connection output ---- */
struct conn;
struct pio;
struct source {
	struct watch w;
	struct pio *io;
	int stream;
	int open;
};
struct linebuf {
	char *p;
	size_t len;
};
struct pio {
	int terminal;
	int logs;		 /* the container's own stdio: output goes to the log */
	int child_fds[3];	 /* the runtime's stdio */
	struct source out, err;	 /* read ends (out is the pty master with a terminal) */
	int console;		 /* pty master or -1 */
	struct watch in;	 /* write end of stdin (a dup of the master with a terminal) */
	struct buf pend;	 /* stdin bytes the process has not taken yet */
	struct conn *stdin_conn; /* connection paused until pend drains */
	struct conn *subs;	 /* attached connections */
	struct linebuf lines[2];
	int paused;
	void (*drained)(struct pio *io); /* every output source hit EOF */
	void *owner;
	/* capture, when set, collects output (health probes) */
	struct buf *capture;
	size_t capture_max;
};
struct pio *pio_new(int terminal, int open_stdin, int logs);
void pio_close_child(struct pio *io);
void pio_start(struct pio *io); /* start reading output */
int pio_write_stdin(struct pio *io, const char *p, size_t n, struct conn *from);
void pio_close_stdin(struct pio *io);
/* pio_stop closes every fd; subscribers get the exit frame with code. */
void pio_end(struct pio *io, int code);
void pio_free(struct pio *io);
void pio_subscribe(struct pio *io, struct conn *c, int out, int err);
void pio_unsubscribe(struct conn *c);
int pio_open_sources(struct pio *io);

/* ---- proto.c: the socket protocol ---- */
enum { M_REQ, M_ATTACH, M_EXEC, M_EVENTS, M_WAIT, M_DONE };
struct chunk;
struct conn {
	struct watch w;
	int mode;
	struct buf in;
	long payload; /* exec: bytes of the process JSON still to read */
	struct chunk *qhead, *qtail;
	size_t qbytes;
	int closing;   /* close once the queue is flushed */
	int rd_closed; /* the peer ended its side */
	int dead;
	int refs; /* pending operations that will answer on it */
	struct pio *io; /* subscribed to */
	int sub_out, sub_err;
	int fwd_stdin;
	int close_stdin_on_eof;
	int read_paused;
	struct conn *next_sub;
	struct conn *next;
	/* the request being served */
	char op[24];
	char exec_id[80];
	int tty, stdin_, detach, sig, all, stop;
};
void proto_listen(void);
void proto_stop_listening(void);
int conns_open(void);
void conn_send(struct conn *c, const char *p, size_t n);
void conn_reply(struct conn *c, const char *json);
void conn_reply_error(struct conn *c, const char *msg);
/* conn_reply_errno answers with the error prefix + strerror(err). */
void conn_reply_errno(struct conn *c, const char *prefix, int err);
void conn_frame(struct conn *c, int stream, const char *p, size_t n);
void conn_close(struct conn *c);
/* conn_hold keeps c's memory for a pending answer (check c->dead);
 * conn_put drops it. */
void conn_hold(struct conn *c);
void conn_put(struct conn *c);
void pio_pressure_eased(struct pio *io);
void pio_set_console(struct pio *io, int master);
void conn_close_after_flush(struct conn *c);
void conn_resume_read(struct conn *c);
void events_publish(const char *json, size_t n, int final);
int conn_queue_below(struct conn *c, size_t n);

#define STREAM_STDOUT 1
#define STREAM_STDERR 2
#define STREAM_EXIT 0x10

/* ---- main.c ---- */
struct config {
	char *id, *bundle, *runtime, *runtime_root, *helper, *berth;
	char *runtime_args[16];
	int nruntime_args;
	char *socket, *state_path;
	int log_driver;
	char *log_path;
	long log_max_size;
	int log_max_files, log_compress;
	int terminal, open_stdin, stdin_once;
	char restart[32];
	long restart_max, restart_count;
	char *health_process;
	long health_interval, health_timeout, health_start_period, health_start_interval, health_retries;
	int delete_on_exit;
};
extern struct config cfg;

enum { S_CREATED, S_RUNNING, S_RESTARTING, S_EXITED };
struct health_result {
	struct timespec start, end;
	int exit_code;
	char *output;
};
#define HEALTH_LOG 5
enum { H_STARTING, H_HEALTHY, H_UNHEALTHY };
struct health {
	int status, failing_streak, nlog;
	struct health_result log[HEALTH_LOG];
};
struct state {
	int status, pid, exit_code, oom_killed;
	char *error;
	struct timespec started, finished;
	long restart_count;
	int manually_stopped, shim_pid;
	int has_health;
	struct health health;
};
extern struct state st;

void state_json(struct buf *b);
void publish(void);
/* requests from proto.c */
void req_start(struct conn *c);
void req_kill(struct conn *c);
void req_resize(struct conn *c, const char *exec_id, long h, long w);
void req_attach(struct conn *c, int in, int out, int err);
void req_exec(struct conn *c, char *process, size_t n);
void req_exec_state(struct conn *c, const char *id);
void runtime_argv(struct buf *store, char **argv, int *argc, const char *log, const char *cmd);
void last_log_error(const char *path, struct buf *out);

#endif
