/* SPDX-License-Identifier: Apache-2.0 */
/* root_open: paths resolve inside the root (symlinks, ".."), magic links
 * are refused, and where a seccomp filter answers openat2 with ENOSYS (as
 * systemd's RestrictSUIDSGID= does) "/" falls back to openat and any other
 * root fails. */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "util.h"

static char root[64];

static void put(const char *rel, const char *text)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/meshboot-util.XXXXXX");
	if (!mkdtemp(root))
		return -1;
	char p[256];
	snprintf(p, sizeof(p), "%s/etc", root);
	mkdir(p, 0755);
	put("etc/hosts", "inside\n");
	snprintf(p, sizeof(p), "%s/abs", root);
	if (symlink("/etc", p) < 0)  /* absolute: must mean ROOT/etc */
		return -1;
	snprintf(p, sizeof(p), "%s/up", root);
	if (symlink("../../../../../../etc", p) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char p[256];
	const char *rel[] = { "abs", "up", "etc/hosts", "etc", "" };
	for (size_t i = 0; i < sizeof(rel) / sizeof(*rel); i++) {
		snprintf(p, sizeof(p), "%s/%s", root, rel[i]);
		if (remove(p) < 0 && errno != ENOENT)
			return -1;
	}
	return 0;
}

static void read_expect(const char *r, const char *path, const char *want)
{
	char *text = NULL;
	size_t n = 0;
	assert_int_equal(root_read_all(r, path, 4096, &text, &n), 0);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(text, want, n);
	free(text);
}

static void test_symlinks_stay_inside(void **state)
{
	(void)state;
	read_expect(root, "/etc/hosts", "inside\n");
	read_expect(root, "abs/hosts", "inside\n");           /* the root's /etc */
	read_expect(root, "up/hosts", "inside\n");            /* ".." stops at the root */
	read_expect(root, "../../../etc/hosts", "inside\n");
}

/* the last component is never followed (a file meshboot reads or
 * replaces must not be a link planted to point elsewhere) */
static void test_last_link_refused(void **state)
{
	(void)state;
	char *text = NULL;
	size_t n = 0;
	assert_int_equal(root_read_all(root, "abs", 4096, &text, &n), -ELOOP);
}

static void test_magic_links_refused(void **state)
{
	(void)state;
	int fd = root_open("/", "proc/self/fd/0", O_RDONLY, 0);
	assert_int_equal(fd, -ELOOP);
}

/* In a child: a seccomp filter that answers openat2 with ENOSYS, then
 * root_open under "/" (works, through openat) and under the scratch root
 * (must fail: openat could resolve out of it). */
static int child_enosys(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(*f), .filter = f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return 10;
	char p[256];
	snprintf(p, sizeof(p), "%s/etc/hosts", root);
	int fd = root_open("/", p, O_RDONLY, 0);
	if (fd < 0)
		return 11;
	char buf[16] = "";
	if (read(fd, buf, sizeof(buf) - 1) != 7 || strcmp(buf, "inside\n") != 0)
		return 12;
	close(fd);
	if (root_open(root, "etc/hosts", O_RDONLY, 0) != -ENOSYS)
		return 13;
	return 0;
}

static void test_enosys_fallback(void **state)
{
	(void)state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_enosys());
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_symlinks_stay_inside),
		cmocka_unit_test(test_last_link_refused),
		cmocka_unit_test(test_magic_links_refused),
		cmocka_unit_test(test_enosys_fallback),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
