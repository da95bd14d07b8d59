#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

/* Report an error to the parent over the sync fd as a JSON message, then exit. */
static void bail(const char *what, const char *arg)
{
	char msg[1024];
	int n, fd = -1;
	const char *s = getenv("_BERTH_SYNCFD");
	if (s)
		fd = atoi(s);
	n = snprintf(msg, sizeof(msg), "{\"type\":\"error\",\"error\":\"nsenter: %s %s: %s\"}\n",
		     what, arg ? arg : "", strerror(errno));
	if (fd > 0 && n > 0)
		(void)!write(fd, msg, (size_t)n);
	else
		fprintf(stderr, "%s", msg);
	_exit(1);
}

static int kind_flag(const char *k)
{
	if (!strcmp(k, "user")) return CLONE_NEWUSER;
	if (!strcmp(k, "mnt")) return CLONE_NEWNS;
	if (!strcmp(k, "time")) return CLONE_NEWTIME;
	if (!strcmp(k, "ipc")) return CLONE_NEWIPC;
	if (!strcmp(k, "uts")) return CLONE_NEWUTS;
	if (!strcmp(k, "net")) return CLONE_NEWNET;
	if (!strcmp(k, "pid")) return CLONE_NEWPID;
	if (!strcmp(k, "cgroup")) return CLONE_NEWCGROUP;
	return -1;
}

void berth_nsexec(void)
{
	char *spec, *save = NULL, *tok;
	const char *env = getenv("_BERTH_NSENTER");
	if (!env || !*env)
		return;
	spec = strdup(env);
	if (!spec)
		bail("strdup", NULL);
	for (tok = strtok_r(spec, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(tok, '=');
		int flag, fd;
		if (!eq)
			continue;
		*eq = '\0';
		if (!strcmp(tok, "newtime")) {
			/* A new time namespace with offsets ("clock secs nsecs,...").
			 * Offsets can only be written before any process is inside,
			 * so: unshare (for children), write, then enter it ourselves
			 * through time_for_children (we are still single-threaded). */
			char *p, *save2 = NULL;
			int ofd, tfd;
			if (unshare(CLONE_NEWTIME) < 0)
				bail("unshare", "time");
			if (eq[1]) {
				ofd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
				if (ofd < 0)
					bail("open", "/proc/self/timens_offsets");
				for (p = strtok_r(eq + 1, ",", &save2); p; p = strtok_r(NULL, ",", &save2)) {
					if (write(ofd, p, strlen(p)) < 0)
						bail("write time offset", p);
				}
				close(ofd);
			}
			tfd = open("/proc/self/ns/time_for_children", O_RDONLY | O_CLOEXEC);
			if (tfd < 0)
				bail("open", "/proc/self/ns/time_for_children");
			if (setns(tfd, CLONE_NEWTIME) < 0)
				bail("setns", "/proc/self/ns/time_for_children");
			close(tfd);
			continue;
		}
		if (!strcmp(tok, "unshare")) {
			unsigned long flags = strtoul(eq + 1, NULL, 16);
			if (flags && unshare((int)flags) < 0)
				bail("unshare", eq + 1);
			continue;
		}
		flag = kind_flag(tok);
		if (flag < 0) {
			errno = EINVAL;
			bail("unknown namespace kind", tok);
		}
		fd = open(eq + 1, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			bail("open", eq + 1);
		if (setns(fd, flag) < 0)
			bail("setns", eq + 1);
		close(fd);
		if (flag == CLONE_NEWUSER) {
			/* Act as root of the joined user namespace. */
			if (setresgid(0, 0, 0) < 0)
				bail("setresgid in user namespace", eq + 1);
			if (setresuid(0, 0, 0) < 0)
				bail("setresuid in user namespace", eq + 1);
		}
	}
	free(spec);
	unsetenv("_BERTH_NSENTER");
}
