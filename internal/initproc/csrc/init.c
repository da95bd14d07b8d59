/*
 * berth-init: the init process of `run --init` containers, mounted at
 * /sbin/docker-init as Docker mounts tini there. It runs the command as
 * its child, forwards the signals it gets to it, reaps every zombie that
 * is reparented to it, and exits with the command's status (128+signal
 * when a signal ended it).
 *
 * Usage: docker-init [--] COMMAND [ARG...]
 */
#include "sys.h"

static int spawn(char **argv, char **envp, const uint64_t *oldmask)
{
	int pid = sys_fork();
	if (pid != 0)
		return pid;
	/* A process group of its own that owns the terminal, if there is one
	 * (SIGTTOU is still blocked here). */
	sys2(SYS_setpgid, 0, 0);
	int pgrp = sys_getpid();
	sys_ioctl(0, TIOCSPGRP, &pgrp);
	sys_sigprocmask(SIG_SETMASK, oldmask, NULL);

	const char *cmd = argv[0];
	int err = ENOENT;
	if (strchr(cmd, '/')) {
		err = -sys_execve(cmd, argv, envp);
	} else {
		const char *path = getenv_(envp, "PATH");
		if (!path)
			path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
		char buf[4096];
		size_t cl = strlen(cmd);
		for (const char *p = path;;) {
			const char *end = strchr(p, ':');
			size_t dl = end ? (size_t)(end - p) : strlen(p);
			if (dl + cl + 2 <= sizeof buf) {
				size_t n = 0;
				if (dl == 0)
					buf[n++] = '.';
				memcpy(buf + n, p, dl);
				n += dl;
				buf[n++] = '/';
				memcpy(buf + n, cmd, cl + 1);
				int e = -sys_execve(buf, argv, envp);
				if (e == EACCES)
					err = EACCES;
				else if (e != ENOENT && e != ENOTDIR && err != EACCES)
					err = e;
			}
			if (!end)
				break;
			p = end + 1;
		}
	}
	say("berth-init: exec ", cmd, " failed: ", errstr(err), NULL);
	sys_exit(err == ENOENT ? 127 : 126);
}

int main(int argc, char **argv, char **envp)
{
	int i = 1;
	if (i < argc && strcmp(argv[i], "--") == 0)
		i++;
	if (i >= argc) {
		say("usage: docker-init [--] COMMAND [ARG...]", NULL);
		return 1;
	}
	if (sys_getpid() != 1)
		sys_prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

	/* Every signal but the ones a fault raises waits for sigtimedwait. */
	uint64_t all = ~(uint64_t)0, old;
	uint64_t sync_sigs = (1UL << (4 - 1)) | (1UL << (5 - 1)) | (1UL << (6 - 1)) | (1UL << (7 - 1)) |
			     (1UL << (8 - 1)) | (1UL << (11 - 1)) | (1UL << (31 - 1));
	all &= ~sync_sigs;
	sys_sigprocmask(SIG_SETMASK, &all, &old);

	int child = spawn(argv + i, envp, &old);
	if (child < 0) {
		say("berth-init: fork failed: ", errstr(-child), NULL);
		return 1;
	}
	for (;;) {
		struct siginfo si;
		int sig = (int)sys4(SYS_rt_sigtimedwait, &all, &si, NULL, 8);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			sys_kill(child, sig);
			continue;
		}
		for (;;) {
			int status;
			int pid = sys_wait4(-1, &status, WNOHANG);
			if (pid <= 0)
				break;
			if (pid == child) {
				if (WIFEXITED(status))
					return WEXITSTATUS(status);
				if (WIFSIGNALED(status))
					return 128 + WTERMSIG(status);
				return 255;
			}
		}
	}
}
