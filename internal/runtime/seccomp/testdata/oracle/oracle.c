/*
 * oracle: compiles a seccomp profile with libseccomp and writes the BPF
 * program to stdout, so the tests can compare package seccomp's programs with
 * libseccomp's. Built by the tests only when gcc and libseccomp-dev exist.
 *
 * Input (argv[1]), whitespace separated:
 *   default RET                       (hex seccomp return value)
 *   arch NAME                         (libseccomp arch name, repeatable)
 *   rule RET SYSCALL NARGS {INDEX OP VALUE VALUE2}...   (OP: libseccomp enum scmp_compare)
 */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: oracle PROFILE\n");
		return 2;
	}
	FILE *in = fopen(argv[1], "r");
	if (!in) {
		perror("open profile");
		return 2;
	}
	char kw[64];
	unsigned long long def;
	if (fscanf(in, "%63s %llx", kw, &def) != 2 || strcmp(kw, "default")) {
		fprintf(stderr, "profile must start with: default RET\n");
		return 2;
	}
	scmp_filter_ctx ctx = seccomp_init((uint32_t)def);
	if (!ctx) {
		fprintf(stderr, "seccomp_init failed\n");
		return 1;
	}
	while (fscanf(in, "%63s", kw) == 1) {
		if (!strcmp(kw, "arch")) {
			char name[64];
			if (fscanf(in, "%63s", name) != 1)
				return 2;
			int r = seccomp_arch_add(ctx, seccomp_arch_resolve_name(name));
			if (r && r != -EEXIST) {
				fprintf(stderr, "arch %s: %s\n", name, strerror(-r));
				return 1;
			}
			continue;
		}
		unsigned long long ret;
		char name[128];
		int n;
		if (strcmp(kw, "rule") || fscanf(in, "%llx %127s %d", &ret, name, &n) != 3 || n < 0 || n > 6)
			return 2;
		struct scmp_arg_cmp cmp[6];
		for (int i = 0; i < n; i++) {
			unsigned int idx, op;
			unsigned long long a, b;
			if (fscanf(in, "%u %u %llx %llx", &idx, &op, &a, &b) != 4)
				return 2;
			cmp[i].arg = idx;
			cmp[i].op = op;
			cmp[i].datum_a = a;
			cmp[i].datum_b = b;
		}
		int nr = seccomp_syscall_resolve_name(name);
		if (nr == __NR_SCMP_ERROR)
			continue; /* unknown to libseccomp: ignored, as runc does */
		int r = seccomp_rule_add_array(ctx, (uint32_t)ret, nr, n, cmp);
		if (r) {
			fprintf(stderr, "rule %s: %s\n", name, strerror(-r));
			return 1;
		}
	}
	return seccomp_export_bpf(ctx, STDOUT_FILENO) ? 1 : 0;
}
