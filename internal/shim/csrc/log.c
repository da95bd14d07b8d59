/* log.c: the container's log in Docker's json-file format or its local
 * driver's format (protobuf entries framed by their big-endian length
 * before and after), rotated by size. With compress, rotated files are
 * gzipped by `berth shim compress` (FILE.N.gz), as Docker does. */
#include "shim.h"

static int log_fd = -1;
static long log_size;
static int compress_pid;
static struct buf line;

int log_open_file(void)
{
	if (cfg.log_driver == LOG_NONE || !cfg.log_path)
		return 0;
	log_fd = sys_open(cfg.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (log_fd < 0)
		return log_fd;
	struct stat s;
	if (sys_fstat(log_fd, &s) == 0)
		log_size = s.st_size;
	return 0;
}

void log_close(void)
{
	if (log_fd >= 0)
		sys_close(log_fd);
	log_fd = -1;
	buf_free(&line);
}

void log_wait_compress(void)
{
	if (compress_pid) {
		int status;
		sys_wait4(compress_pid, &status, 0);
		compress_pid = 0;
	}
}

void log_child_done(int pid)
{
	if (pid == compress_pid)
		compress_pid = 0;
}

static void numbered(struct buf *b, int i, int gz)
{
	buf_reset(b);
	buf_str(b, cfg.log_path);
	buf_ch(b, '.');
	buf_int(b, i);
	if (gz)
		buf_str(b, ".gz");
}

static void rotate(void)
{
	struct buf a = {0}, b = {0};
	int gz = cfg.log_compress;
	sys_close(log_fd);
	log_fd = -1;
	log_wait_compress(); /* the previous rotation's file must be compressed before it moves */
	if (cfg.log_max_files > 1) {
		for (int i = cfg.log_max_files - 1; i > 1; i--) {
			numbered(&a, i - 1, gz);
			numbered(&b, i, gz);
			sys_rename(a.p, b.p);
		}
		numbered(&b, 1, 0);
		sys_rename(cfg.log_path, b.p);
		if (gz && cfg.berth) {
			char *argv[] = {cfg.berth, "shim", "compress", b.p, NULL};
			int fds[3] = {devnull(O_RDONLY), 2, 2};
			int pid = spawn(argv, fds, 3);
			sys_close(fds[0]);
			if (pid > 0)
				compress_pid = pid;
		}
	}
	log_fd = sys_open(cfg.log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
	log_size = 0;
	buf_free(&a);
	buf_free(&b);
}

static void varint(struct buf *b, uint64_t v)
{
	while (v >= 0x80) {
		buf_ch(b, (char)(v | 0x80));
		v >>= 7;
	}
	buf_ch(b, (char)v);
}

static void be32(char *p, uint32_t v)
{
	p[0] = (char)(v >> 24);
	p[1] = (char)(v >> 16);
	p[2] = (char)(v >> 8);
	p[3] = (char)v;
}

void log_line(int stream, const char *p, size_t n, int partial)
{
	if (log_fd < 0)
		return;
	const char *name = stream == STREAM_STDERR ? "stderr" : "stdout";
	struct timespec now;
	now_real(&now);
	buf_reset(&line);
	if (cfg.log_driver == LOG_JSON) {
		buf_str(&line, "{\"log\":");
		buf_json_str(&line, p, n);
		buf_str(&line, ",\"stream\":\"");
		buf_str(&line, name);
		buf_str(&line, "\",\"time\":");
		buf_time(&line, &now);
		buf_str(&line, "}\n");
	} else {
		if (!partial && n && p[n - 1] == '\n')
			n--;
		buf_add(&line, "\0\0\0\0", 4);
		buf_ch(&line, 0x0a);
		varint(&line, strlen(name));
		buf_str(&line, name);
		buf_ch(&line, 0x10);
		varint(&line, (uint64_t)now.tv_sec * 1000000000UL + (uint64_t)now.tv_nsec);
		if (n) {
			buf_ch(&line, 0x1a);
			varint(&line, n);
			buf_add(&line, p, n);
		}
		if (partial) {
			buf_ch(&line, 0x20);
			buf_ch(&line, 1);
		}
		uint32_t size = (uint32_t)(line.len - 4);
		be32(line.p, size);
		buf_add(&line, "\0\0\0\0", 4);
		be32(line.p + line.len - 4, size);
	}
	if (cfg.log_max_size > 0 && log_size > 0 && log_size + (long)line.len > cfg.log_max_size)
		rotate();
	if (log_fd < 0)
		return;
	if (write_all(log_fd, line.p, line.len) == 0)
		log_size += (long)line.len;
	if (line.cap > 4096)
		buf_free(&line);
}
