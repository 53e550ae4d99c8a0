/* SPDX-License-Identifier: Apache-2.0 */
/* System users and groups (users.c).  Every test works in its own scratch
 * root under /tmp holding a realistic Debian 12 /etc (passwd, group,
 * shadow, gshadow, login.defs, written here) and the few directories and
 * programs the entries name, so that shadow-utils' own checkers, run as
 * `pwck -r -R ROOT` and `grpck -r -R ROOT`, find nothing to report.  The
 * host's /etc is never read, written or checked. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "users.h"
#include "util.h"

#define SHADOW_GID 42

static const char PASSWD[] =
	"root:x:0:0:root:/root:/bin/bash\n"
	"daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
	"bin:x:2:2:bin:/bin:/usr/sbin/nologin\n"
	"sys:x:3:3:sys:/dev:/usr/sbin/nologin\n"
	"sync:x:4:65534:sync:/bin:/bin/sync\n"
	"games:x:5:60:games:/usr/games:/usr/sbin/nologin\n"
	"man:x:6:12:man:/var/cache/man:/usr/sbin/nologin\n"
	"mail:x:8:8:mail:/var/mail:/usr/sbin/nologin\n"
	"www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n"
	"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
	"_apt:x:42:65534::/nonexistent:/usr/sbin/nologin\n"
	"systemd-network:x:998:998:systemd Network Management:/:/usr/sbin/nologin\n"
	"systemd-timesync:x:997:997:systemd Time Synchronization:/:/usr/sbin/nologin\n"
	"messagebus:x:100:107::/nonexistent:/usr/sbin/nologin\n"
	"sshd:x:101:65534::/run/sshd:/usr/sbin/nologin\n"
	"admin:x:1000:1000:Admin,,,:/home/admin:/bin/bash\n";

static const char GROUP[] =
	"root:x:0:\n"
	"daemon:x:1:\n"
	"bin:x:2:\n"
	"sys:x:3:\n"
	"adm:x:4:admin\n"
	"tty:x:5:\n"
	"mail:x:8:\n"
	"man:x:12:\n"
	"sudo:x:27:admin\n"
	"www-data:x:33:\n"
	"shadow:x:42:\n"
	"games:x:60:\n"
	"users:x:100:admin\n"
	"nogroup:x:65534:\n"
	"systemd-network:x:998:\n"
	"systemd-timesync:x:997:\n"
	"messagebus:x:107:\n"
	"admin:x:1000:\n";

static const char SHADOW[] =
	"root:*:19800:0:99999:7:::\n"
	"daemon:*:19800:0:99999:7:::\n"
	"bin:*:19800:0:99999:7:::\n"
	"sys:*:19800:0:99999:7:::\n"
	"sync:*:19800:0:99999:7:::\n"
	"games:*:19800:0:99999:7:::\n"
	"man:*:19800:0:99999:7:::\n"
	"mail:*:19800:0:99999:7:::\n"
	"www-data:*:19800:0:99999:7:::\n"
	"nobody:*:19800:0:99999:7:::\n"
	"_apt:*:19800:0:99999:7:::\n"
	"systemd-network:!*:19800::::::\n"
	"systemd-timesync:!*:19800::::::\n"
	"messagebus:!:19800::::::\n"
	"sshd:!:19800::::::\n"
	"admin:$y$j9T$Qm5d0xWJcL1pGX4e7WnN1.$3yJ8sJm1c3mJt7QHd8FQ9m0rW7P8u2S4vZ1hQ5sXj7A:19800:0:99999:7:::\n";

static const char GSHADOW[] =
	"root:*::\n"
	"daemon:*::\n"
	"bin:*::\n"
	"sys:*::\n"
	"adm:*::admin\n"
	"tty:*::\n"
	"mail:*::\n"
	"man:*::\n"
	"sudo:*::admin\n"
	"www-data:*::\n"
	"shadow:*::\n"
	"games:*::\n"
	"users:*::admin\n"
	"nogroup:*::\n"
	"systemd-network:!*::\n"
	"systemd-timesync:!*::\n"
	"messagebus:!::\n"
	"admin:!::\n";

/* Debian 12's, abridged: the SYS_ ranges are commented out there too. */
static const char LOGIN_DEFS[] =
	"#\n# /etc/login.defs - Configuration control definitions for the login package.\n#\n"
	"MAIL_DIR        /var/mail\n"
	"FAILLOG_ENAB\t\tyes\n"
	"ENV_PATH        PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games\n"
	"PASS_MAX_DAYS\t99999\n"
	"PASS_MIN_DAYS\t0\n"
	"PASS_WARN_AGE\t7\n"
	"#\n# Min/max values for automatic uid selection in useradd\n#\n"
	"UID_MIN\t\t\t 1000\n"
	"UID_MAX\t\t\t60000\n"
	"# System accounts\n"
	"#SYS_UID_MIN\t\t  101\n"
	"#SYS_UID_MAX\t\t  999\n"
	"GID_MIN\t\t\t 1000\n"
	"GID_MAX\t\t\t60000\n"
	"#SYS_GID_MIN\t\t  101\n"
	"#SYS_GID_MAX\t\t  999\n"
	"LOGIN_RETRIES\t\t5\n"
	"ENCRYPT_METHOD SHA512\n";

/* The directories and programs the entries name (pwck checks them). */
static const char *const TREE_DIRS[] = {
	"/root", "/usr/sbin", "/bin", "/dev", "/usr/games", "/var/cache/man", "/var/mail", "/var/www",
	"/nonexistent", "/run/sshd", "/home/admin", "/var/lib/istio", "/var/lib/etcd",
};
static const char *const TREE_PROGS[] = { "/bin/bash", "/bin/sync", "/usr/sbin/nologin" };

static const char *const DBS[] = { "passwd", "group", "shadow", "gshadow",
                                   "passwd-", "group-", "shadow-", "gshadow-" };
#define NDBS (sizeof(DBS) / sizeof(DBS[0]))

/* snprintf that fails the test instead of truncating. */
static void pf(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void pf(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < len);
}

struct scratch {
	char root[PATH_MAX];
	char etc[PATH_MAX];
	char outside[PATH_MAX]; /* a sentinel next to the root, never to change */
	char top[PATH_MAX];
};

static struct scratch S;

static void etc_path(char *out, size_t len, const char *name) { pf(out, len, "%s/%s", S.etc, name); }

static void write_file(const char *path, const char *data, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	size_t len = strlen(data);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

static void write_etc(const char *name, const char *data, mode_t mode, gid_t gid)
{
	char p[PATH_MAX];
	etc_path(p, sizeof(p), name);
	write_file(p, data, mode);
	if (geteuid() == 0)
		assert_int_equal(chown(p, 0, gid), 0);
}

/* malloc'd contents, or NULL if missing. */
static char *read_path(const char *path, size_t *len)
{
	char *d = NULL;
	size_t l = 0;
	int r = file_read_all(path, 64u << 20, &d, &l);
	if (r == -ENOENT)
		return NULL;
	assert_int_equal(r, 0);
	if (len)
		*len = l;
	return d;
}

static char *read_etc(const char *name)
{
	char p[PATH_MAX];
	etc_path(p, sizeof(p), name);
	return read_path(p, NULL);
}

static void append_etc(const char *name, const char *line)
{
	char p[PATH_MAX];
	etc_path(p, sizeof(p), name);
	int fd = open(p, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
	close(fd);
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	remove(path);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	memset(&S, 0, sizeof(S));
	pf(S.top, sizeof(S.top), "/tmp/meshboot-users-XXXXXX");
	assert_non_null(mkdtemp(S.top));
	pf(S.root, sizeof(S.root), "%s/root", S.top);
	pf(S.etc, sizeof(S.etc), "%s/etc", S.root);
	pf(S.outside, sizeof(S.outside), "%s/outside", S.top);
	assert_int_equal(mkdir(S.root, 0755), 0);
	assert_int_equal(mkdir(S.etc, 0755), 0);
	write_file(S.outside, "sentinel: must not change\n", 0644);
	write_etc("passwd", PASSWD, 0644, 0);
	write_etc("group", GROUP, 0644, 0);
	write_etc("shadow", SHADOW, 0640, SHADOW_GID);
	write_etc("gshadow", GSHADOW, 0640, SHADOW_GID);
	write_etc("login.defs", LOGIN_DEFS, 0644, 0);
	for (size_t i = 0; i < ELEMENTSOF(TREE_DIRS); i++) {
		int fd = root_mkdir_p(S.root, TREE_DIRS[i], 0755);
		assert_true(fd >= 0);
		close(fd);
	}
	for (size_t i = 0; i < ELEMENTSOF(TREE_PROGS); i++) {
		char p[PATH_MAX];
		pf(p, sizeof(p), "%s%s", S.root, TREE_PROGS[i]);
		write_file(p, "", 0755);
	}
	unsetenv("SOURCE_DATE_EPOCH");
	users_set_test_hooks(NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	users_set_test_hooks(NULL);
	unsetenv("SOURCE_DATE_EPOCH");
	char *s = read_path(S.outside, NULL);
	bool sentinel_ok = s && strcmp(s, "sentinel: must not change\n") == 0;
	free(s);
	nftw(S.top, rm_cb, 64, FTW_DEPTH | FTW_PHYS);
	assert_true(sentinel_ok);
	return 0;
}

/* ---- snapshots of the eight files --------------------------------------- */

struct snap {
	char *data[NDBS];
	size_t len[NDBS];
	struct stat st[NDBS];
};

static void snap_take(struct snap *sn)
{
	memset(sn, 0, sizeof(*sn));
	for (size_t i = 0; i < NDBS; i++) {
		char p[PATH_MAX];
		etc_path(p, sizeof(p), DBS[i]);
		if (lstat(p, &sn->st[i]) < 0) {
			assert_int_equal(errno, ENOENT);
			continue;
		}
		if (S_ISLNK(sn->st[i].st_mode)) { /* compare the link itself */
			char t[PATH_MAX + 16] = "symlink:";
			ssize_t n = readlink(p, t + 8, sizeof(t) - 9);
			assert_true(n > 0);
			t[8 + n] = '\0';
			sn->data[i] = strdup(t);
			sn->len[i] = strlen(t);
			continue;
		}
		sn->data[i] = read_path(p, &sn->len[i]);
		assert_non_null(sn->data[i]);
	}
}

static void snap_free(struct snap *sn)
{
	for (size_t i = 0; i < NDBS; i++)
		free(sn->data[i]);
}

/* Same bytes, mode and owner; same inode too if `untouched`. */
static void snap_assert_same(const struct snap *a, const struct snap *b, bool untouched, size_t nfiles)
{
	for (size_t i = 0; i < nfiles; i++) {
		if (!a->data[i] || !b->data[i]) {
			if (a->data[i] != b->data[i])
				fail_msg("%s: exists before %d, after %d", DBS[i], !!a->data[i], !!b->data[i]);
			continue;
		}
		if (a->len[i] != b->len[i] || memcmp(a->data[i], b->data[i], a->len[i]) != 0)
			fail_msg("%s changed:\n--- before\n%s--- after\n%s", DBS[i], a->data[i], b->data[i]);
		assert_int_equal(a->st[i].st_mode, b->st[i].st_mode);
		assert_int_equal(a->st[i].st_uid, b->st[i].st_uid);
		assert_int_equal(a->st[i].st_gid, b->st[i].st_gid);
		if (untouched) {
			assert_int_equal(a->st[i].st_ino, b->st[i].st_ino);
			assert_int_equal(a->st[i].st_mtim.tv_sec, b->st[i].st_mtim.tv_sec);
			assert_int_equal(a->st[i].st_mtim.tv_nsec, b->st[i].st_mtim.tv_nsec);
		}
	}
}

/* No lock, pid, temporary or backup-temporary file left in /etc. */
static void assert_no_leftovers(void)
{
	DIR *d = opendir(S.etc);
	assert_non_null(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		const char *n = e->d_name;
		bool bad = (str_has_suffix(n, ".lock") && strcmp(n, ".pwd.lock") != 0) || str_has_suffix(n, "+");
		const char *dot = strrchr(n, '.');
		if (dot && dot != n && dot[1] >= '0' && dot[1] <= '9')
			bad = true; /* <file>.<pid> */
		if (bad)
			fail_msg("left over in /etc: %s", n);
	}
	closedir(d);
}

/* The line of `name` in an /etc file (malloc'd, no newline), or NULL. */
static char *entry(const char *file, const char *name)
{
	char *d = read_etc(file);
	assert_non_null(d);
	size_t n = strlen(name);
	char *r = NULL;
	for (char *l = d; *l;) {
		char *nl = strchr(l, '\n');
		size_t ll = nl ? (size_t)(nl - l) : strlen(l);
		if (ll > n && l[n] == ':' && memcmp(l, name, n) == 0) {
			r = strndup(l, ll);
			break;
		}
		l = nl ? nl + 1 : l + ll;
	}
	free(d);
	return r;
}

static void assert_entry(const char *file, const char *name, const char *want)
{
	char *got = entry(file, name);
	if (!got || strcmp(got, want) != 0)
		fail_msg("%s: '%s' is '%s', want '%s'", file, name, got ? got : "(none)", want);
	free(got);
}

static void assert_stat(const char *name, mode_t mode, gid_t gid)
{
	char p[PATH_MAX];
	struct stat st;
	etc_path(p, sizeof(p), name);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, mode);
	if (geteuid() == 0) {
		assert_int_equal(st.st_uid, 0);
		assert_int_equal(st.st_gid, gid);
	}
}

/* ---- shadow-utils' checkers, run on the scratch root ------------------- */

/* fork + execvp, stdout and stderr captured; returns the exit status. */
static int run_tool(const char *const argv[], char *out, size_t outlen)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		const char *path = getenv("PATH");
		char np[4096];
		snprintf(np, sizeof(np), "%s:/usr/sbin:/sbin", path ? path : "/usr/bin:/bin");
		setenv("PATH", np, 1);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	size_t n = 0;
	for (;;) {
		ssize_t k = read(p[0], out + n, outlen - 1 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += (size_t)k;
		if (n == outlen - 1)
			break;
	}
	out[n] = '\0';
	close(p[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* pwck -r -R ROOT and grpck -r -R ROOT: no complaint at all.  -R chroots,
 * so this needs root; otherwise it is skipped (and says so). */
static void assert_shadow_tools_clean(void)
{
	if (geteuid() != 0) {
		print_message("# not root: pwck/grpck -R not run\n");
		return;
	}
	const char *pw[] = { "pwck", "-r", "-R", S.root, NULL };
	const char *gr[] = { "grpck", "-r", "-R", S.root, NULL };
	char out[8192];
	int rc = run_tool(pw, out, sizeof(out));
	if (rc != 0 || out[0])
		fail_msg("pwck -r -R %s: exit %d:\n%s", S.root, rc, out);
	rc = run_tool(gr, out, sizeof(out));
	if (rc != 0 || out[0])
		fail_msg("grpck -r -R %s: exit %d:\n%s", S.root, rc, out);
}

static int ensure(const char *name, uid_t uid, gid_t gid, const char *home, uid_t *u, gid_t *g, char *err,
                  size_t errlen)
{
	return users_ensure(S.root, name, uid, gid, home, "Istio", u, g, err, errlen);
}

/* ---- tests --------------------------------------------------------------- */

static void test_create(void **state)
{
	(void)state;
	assert_shadow_tools_clean(); /* the fixture itself is clean */
	setenv("SOURCE_DATE_EPOCH", "1700000000", 1); /* day 19675 */
	struct snap before, after;
	snap_take(&before);
	char err[512] = "";
	uid_t u = 0;
	gid_t g = 0;
	int r = users_ensure(S.root, "istio-proxy", 1337, 1337, "/var/lib/istio", "Istio sidecar", &u, &g, err,
	                     sizeof(err));
	if (r != 1)
		fail_msg("users_ensure: %d: %s", r, err);
	assert_int_equal(u, 1337);
	assert_int_equal(g, 1337);
	assert_string_equal(err, "");

	assert_entry("passwd", "istio-proxy", "istio-proxy:x:1337:1337:Istio sidecar:/var/lib/istio:/usr/sbin/nologin");
	assert_entry("group", "istio-proxy", "istio-proxy:x:1337:");
	assert_entry("shadow", "istio-proxy", "istio-proxy:!*:19675::::::");
	assert_entry("gshadow", "istio-proxy", "istio-proxy:!*::");
	assert_stat("passwd", 0644, 0);
	assert_stat("group", 0644, 0);
	assert_stat("shadow", 0640, SHADOW_GID);
	assert_stat("gshadow", 0640, SHADOW_GID);

	/* Everything else kept, the entry appended. */
	snap_take(&after);
	for (size_t i = 0; i < 4; i++) {
		assert_true(after.len[i] > before.len[i]);
		assert_memory_equal(after.data[i], before.data[i], before.len[i]);
		assert_true(after.data[i][after.len[i] - 1] == '\n');
	}
	/* The backups are the old files, with their mode, owner and mtime. */
	for (size_t i = 0; i < 4; i++) {
		assert_non_null(after.data[i + 4]);
		assert_int_equal(after.len[i + 4], before.len[i]);
		assert_memory_equal(after.data[i + 4], before.data[i], before.len[i]);
		assert_int_equal(after.st[i + 4].st_mode, before.st[i].st_mode);
		assert_int_equal(after.st[i + 4].st_uid, before.st[i].st_uid);
		assert_int_equal(after.st[i + 4].st_gid, before.st[i].st_gid);
		assert_int_equal(after.st[i + 4].st_mtim.tv_sec, before.st[i].st_mtim.tv_sec);
		assert_int_equal(after.st[i + 4].st_mtim.tv_nsec, before.st[i].st_mtim.tv_nsec);
	}
	snap_free(&before);
	snap_free(&after);
	assert_no_leftovers();

	/* lckpwdf()'s lock file stays, 0600, as glibc leaves it. */
	assert_stat(".pwd.lock", 0600, 0);

	uid_t lu = 0;
	gid_t lg = 0;
	assert_int_equal(users_lookup(S.root, "istio-proxy", &lu, &lg), 0);
	assert_int_equal(lu, 1337);
	assert_int_equal(lg, 1337);
	assert_shadow_tools_clean();
}

static void test_again_untouched(void **state)
{
	(void)state;
	char err[512] = "";
	assert_int_equal(ensure("istio-proxy", 1337, 1337, "/var/lib/istio", NULL, NULL, err, sizeof(err)), 1);
	struct snap a, b;
	snap_take(&a);
	uid_t u = 0;
	gid_t g = 0;
	int r = ensure("istio-proxy", 1337, 1337, "/var/lib/istio", &u, &g, err, sizeof(err));
	if (r != 0)
		fail_msg("again: %d: %s", r, err);
	assert_int_equal(u, 1337);
	assert_int_equal(g, 1337);
	/* Any ids: the existing ones. */
	u = 0;
	g = 0;
	assert_int_equal(ensure("istio-proxy", (uid_t)-1, (gid_t)-1, "/elsewhere", &u, &g, err, sizeof(err)), 0);
	assert_int_equal(u, 1337);
	assert_int_equal(g, 1337);
	snap_take(&b);
	snap_assert_same(&a, &b, true, NDBS);
	snap_free(&a);
	snap_free(&b);
	assert_no_leftovers();
}

static void test_conflict_other_id(void **state)
{
	(void)state;
	char err[512] = "";
	assert_int_equal(ensure("istio-proxy", 1337, 1337, "/var/lib/istio", NULL, NULL, err, sizeof(err)), 1);
	struct snap a, b;
	snap_take(&a);

	int r = ensure("istio-proxy", 1338, 1338, "/var/lib/istio", NULL, NULL, err, sizeof(err));
	assert_int_equal(r, -EEXIST);
	print_message("# %s\n", err);
	assert_non_null(strstr(err, "1337"));
	assert_non_null(strstr(err, "1338"));
	assert_non_null(strstr(err, "istio-proxy"));

	/* Same uid, other gid. */
	r = ensure("istio-proxy", 1337, 1338, "/var/lib/istio", NULL, NULL, err, sizeof(err));
	assert_int_equal(r, -EEXIST);
	assert_non_null(strstr(err, "gid 1337"));
	assert_non_null(strstr(err, "1338"));

	/* A user exists whose primary group is someone else's. */
	append_etc("passwd", "etcd:x:1500:1000::/var/lib/etcd:/usr/sbin/nologin\n");
	append_etc("shadow", "etcd:!*:19800::::::\n");
	snap_free(&a);
	snap_take(&a);
	r = ensure("etcd", 1500, (gid_t)-1, "/var/lib/etcd", NULL, NULL, err, sizeof(err));
	assert_int_equal(r, -EEXIST);
	print_message("# %s\n", err);
	assert_non_null(strstr(err, "1000"));
	assert_non_null(strstr(err, "'admin'"));

	snap_take(&b);
	snap_assert_same(&a, &b, true, NDBS);
	snap_free(&a);
	snap_free(&b);
	assert_no_leftovers();
}

static void test_id_in_use(void **state)
{
	(void)state;
	char err[512] = "";
	struct snap a, b;
	snap_take(&a);
	int r = ensure("istio-proxy", 1000, 1337, "/var/lib/istio", NULL, NULL, err, sizeof(err));
	assert_int_equal(r, -EADDRINUSE);
	print_message("# %s\n", err);
	assert_non_null(strstr(err, "uid 1000"));
	assert_non_null(strstr(err, "'admin'"));
	assert_non_null(strstr(err, "/etc/passwd:16"));

	r = ensure("istio-proxy", 1337, SHADOW_GID, "/var/lib/istio", NULL, NULL, err, sizeof(err));
	assert_int_equal(r, -EADDRINUSE);
	print_message("# %s\n", err);
	assert_non_null(strstr(err, "gid 42"));
	assert_non_null(strstr(err, "'shadow'"));

	snap_take(&b);
	snap_assert_same(&a, &b, true, NDBS);
	snap_free(&a);
	snap_free(&b);
	assert_no_leftovers();
}

/* Debian's login.defs leaves SYS_UID_MIN/MAX at shadow-utils' defaults,
 * 101..999; 101 (sshd) is the lowest used, so the search starts at the top. */
static void test_allocate_default_range(void **state)
{
	(void)state;
	char err[512] = "";
	uid_t u = 0;
	gid_t g = 0;
	int r = ensure("etcd", (uid_t)-1, (gid_t)-1, "/var/lib/etcd", &u, &g, err, sizeof(err));
	if (r != 1)
		fail_msg("%d: %s", r, err);
	assert_int_equal(u, 999);
	assert_int_equal(g, 999);
	assert_entry("passwd", "etcd", "etcd:x:999:999:Istio:/var/lib/etcd:/usr/sbin/nologin");
	assert_entry("group", "etcd", "etcd:x:999:");

	/* 999, 998 and 997 are taken now. */
	r = ensure("etcd-2", (uid_t)-1, (gid_t)-1, "/var/lib/etcd", &u, &g, err, sizeof(err));
	if (r != 1)
		fail_msg("%d: %s", r, err);
	assert_int_equal(u, 996);
	assert_int_equal(g, 996);

	/* A given uid, any gid: the group takes the uid's number when free. */
	r = ensure("pilot", 1337, (gid_t)-1, "/var/lib/istio", &u, &g, err, sizeof(err));
	if (r != 1)
		fail_msg("%d: %s", r, err);
	assert_int_equal(u, 1337);
	/* 1337 > SYS_GID_MAX is not preferred; 107 (messagebus) is the lowest
	 * gid used in 101..999, so shadow-utils takes the one below it. */
	assert_int_equal(g, 106);

	/* A given gid, any uid. */
	r = ensure("mixer", (uid_t)-1, 2000, "/var/lib/istio", &u, &g, err, sizeof(err));
	if (r != 1)
		fail_msg("%d: %s", r, err);
	assert_int_equal(u, 995);
	assert_int_equal(g, 2000);
	assert_shadow_tools_clean();
}

/* login.defs honoured, and shadow-utils' order: just below the lowest id
 * used in the range, else from the top (checked against useradd -r -U). */
static void test_allocate_login_defs(void **state)
{
	(void)state;
	write_etc("login.defs", "SYS_UID_MIN 200\n  SYS_UID_MAX\t300  \n"
	                        "SYS_GID_MIN \"0x190\"\nSYS_GID_MAX 450\nSYS_GID_MAX 440\n", 0644, 0);
	append_etc("passwd", "u250:x:250:65534::/nonexistent:/usr/sbin/nologin\n");
	append_etc("shadow", "u250:!*:19800::::::\n");
	append_etc("group", "g249:x:249:\n");
	append_etc("gshadow", "g249:!*::\n");
	char err[512] = "";
	uid_t u = 0;
	gid_t g = 0;
	int r = ensure("etcd", (uid_t)-1, (gid_t)-1, "/var/lib/etcd", &u, &g, err, sizeof(err));
	if (r != 1)
		fail_msg("%d: %s", r, err);
	assert_int_equal(u, 249);      /* below u250, not 300 */
	assert_int_equal(g, 440);      /* 249 is g249's; 400..440 (0x190, last SYS_GID_MAX wins) from the top */
	assert_shadow_tools_clean();

	/* The bottom of the range in use: from the top. */
	append_etc("passwd", "u200:x:200:65534::/nonexistent:/usr/sbin/nologin\n");
	append_etc("shadow", "u200:!*:19800::::::\n");
	r = ensure("citadel", (uid_t)-1, (gid_t)-1, "/var/lib/istio", &u, &g, err, sizeof(err));
	if (r != 1)
		fail_msg("%d: %s", r, err);
	assert_int_equal(u, 300);
	assert_int_equal(g, 300); /* preferred: the uid, free and <= SYS_GID_MAX */

	/* Full. */
	write_etc("login.defs", "SYS_UID_MIN 200\nSYS_UID_MAX 200\n", 0644, 0);
	struct snap a, b;
	snap_take(&a);
	r = ensure("galley", (uid_t)-1, (gid_t)-1, "/var/lib/istio", &u, &g, err, sizeof(err));
	assert_int_equal(r, -EUSERS);
	print_message("# %s\n", err);
	assert_non_null(strstr(err, "200..200"));

	/* Nonsense. */
	write_etc("login.defs", "SYS_UID_MIN 500\nSYS_UID_MAX 400\n", 0644, 0);
	r = ensure("galley", (uid_t)-1, (gid_t)-1, "/var/lib/istio", &u, &g, err, sizeof(err));
	assert_int_equal(r, -EINVAL);
	print_message("# %s\n", err);
	write_etc("login.defs", "SYS_UID_MIN 1x\n", 0644, 0);
	r = ensure("galley", (uid_t)-1, (gid_t)-1, "/var/lib/istio", &u, &g, err, sizeof(err));
	assert_int_equal(r, -EINVAL);
	assert_non_null(strstr(err, "/etc/login.defs:1"));
	/* No comments after a value: shadow-utils cannot parse that either. */
	write_etc("login.defs", "#\nSYS_UID_MIN 100 # system\n", 0644, 0);
	r = ensure("galley", (uid_t)-1, (gid_t)-1, "/var/lib/istio", &u, &g, err, sizeof(err));
	assert_int_equal(r, -EINVAL);
	print_message("# %s\n", err);
	assert_non_null(strstr(err, "/etc/login.defs:2"));
	snap_take(&b);
	snap_assert_same(&a, &b, true, NDBS);
	snap_free(&a);
	snap_free(&b);
	assert_no_leftovers();
}

static void test_malformed_refused(void **state)
{
	(void)state;
	static const struct {
		const char *file, *line, *where;
	} cases[] = {
		{ "group", "broken:x\n", "/etc/group:19:" },
		{ "passwd", "broken:x:12a:1::/:/bin/sh\n", "/etc/passwd:17:" },
		{ "passwd", "\n", "/etc/passwd:17:" },
		{ "shadow", "broken:!:soon::::::\n", "/etc/shadow:17:" },
		{ "gshadow", "broken:!:\n", "/etc/gshadow:19:" },
		{ "passwd", "istio-proxy:x:1337:1337::/:/usr/sbin/nologin\nistio-proxy:x:1337:1337::/:/bin/sh\n",
		  "/etc/passwd:18:" },
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char p[PATH_MAX];
		etc_path(p, sizeof(p), cases[i].file);
		char *orig = read_path(p, NULL);
		struct stat ost;
		assert_int_equal(stat(p, &ost), 0);
		append_etc(cases[i].file, cases[i].line);
		struct snap a, b;
		snap_take(&a);
		char err[512] = "";
		int r = ensure("istio-proxy", 1337, 1337, "/var/lib/istio", NULL, NULL, err, sizeof(err));
		assert_int_equal(r, -EINVAL);
		print_message("# %s\n", err);
		if (!strstr(err, cases[i].where))
			fail_msg("case %zu: '%s' does not name %s", i, err, cases[i].where);
		snap_take(&b);
		snap_assert_same(&a, &b, true, NDBS);
		snap_free(&a);
		snap_free(&b);
		assert_no_leftovers();
		write_file(p, orig, ost.st_mode & 07777);
		free(orig);
	}
	/* A NUL byte. */
	char p[PATH_MAX];
	etc_path(p, sizeof(p), "group");
	int fd = open(p, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x:x:5\0:\n", 8), 8);
	close(fd);
	char err[512] = "";
	assert_int_equal(ensure("istio-proxy", 1337, 1337, "/var/lib/istio", NULL, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "/etc/group:19: contains a NUL"));
}

static pid_t dead_pid(void)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return pid;
}

static void test_stale_lock_removed(void **state)
{
	(void)state;
	char p[PATH_MAX], buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld", (long)dead_pid()) + 1; /* with its NUL, as shadow-utils writes */
	etc_path(p, sizeof(p), "passwd.lock");
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, (size_t)n), n);
	close(fd);
	/* and one for group with a newline, as other tools write it */
	etc_path(p, sizeof(p), "group.lock");
	snprintf(buf, sizeof(buf), "%ld\n", (long)dead_pid());
	write_file(p, buf, 0600);

	char err[512] = "";
	int r = ensure("istio-proxy", 1337, 1337, "/var/lib/istio", NULL, NULL, err, sizeof(err));
	if (r != 1)
		fail_msg("%d: %s", r, err);
	assert_no_leftovers();

	/* A lock file without a pid is an error (shadow-utils refuses it too). */
	etc_path(p, sizeof(p), "shadow.lock");
	write_file(p, "garbage", 0600);
	struct snap a, b;
	snap_take(&a);
	r = ensure("etcd", 1500, 1500, "/var/lib/etcd", NULL, NULL, err, sizeof(err));
	assert_int_equal(r, -EINVAL);
	print_message("# %s\n", err);
	assert_non_null(strstr(err, "shadow.lock"));
	snap_take(&b);
	snap_assert_same(&a, &b, true, NDBS);
	snap_free(&a);
	snap_free(&b);
	char *still = read_path(p, NULL);
	assert_non_null(still);
	assert_string_equal(still, "garbage");
	free(still);
	unlink(p);
	assert_no_leftovers();
}

/* A child that takes a lock, says so, and holds it until told to go. */
struct holder {
	pid_t pid;
	int go; /* write end: closing it releases the child */
};

static struct holder hold_pwd_lock(bool take_fcntl_lock)
{
	int ready[2], go[2];
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		close(go[1]);
		if (take_fcntl_lock) {
			char p[PATH_MAX];
			etc_path(p, sizeof(p), ".pwd.lock");
			int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
			struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
			if (fd < 0 || fcntl(fd, F_SETLKW, &fl) < 0)
				_exit(1);
		}
		if (write(ready[1], "1", 1) != 1)
			_exit(1);
		char c;
		while (read(go[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	char c;
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	return (struct holder){ .pid = pid, .go = go[1] };
}

static void release(struct holder *h)
{
	close(h->go);
	int st;
	assert_int_equal(waitpid(h->pid, &st, 0), h->pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_live_lock_busy(void **state)
{
	(void)state;
	users_set_test_hooks(&(struct users_test_hooks){ .lock_timeout_ms = 300 });
	struct holder h = hold_pwd_lock(true);
	struct snap a, b;
	snap_take(&a);
	char err[512] = "", want[64];
	struct timespec s, e;
	clock_gettime(CLOCK_MONOTONIC, &s);
	int r = ensure("istio-proxy", 1337, 1337, "/var/lib/istio", NULL, NULL, err, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &e);
	long ms = (e.tv_sec - s.tv_sec) * 1000 + (e.tv_nsec - s.tv_nsec) / 1000000;
	assert_int_equal(r, -EBUSY);
	print_message("# after %ld ms: %s\n", ms, err);
	assert_true(ms >= 290); /* millisecond rounding on both sides */
	assert_true(ms < 5000);
	assert_non_null(strstr(err, "/etc/.pwd.lock"));
	snprintf(want, sizeof(want), "pid %ld", (long)h.pid);
	assert_non_null(strstr(err, want));
	snap_take(&b);
	snap_assert_same(&a, &b, true, NDBS);
	snap_free(&b);
	assert_no_leftovers();

	/* Released: it goes through, waiting as long as it takes (within the bound). */
	release(&h);
	users_set_test_hooks(NULL);
	r = ensure("istio-proxy", 1337, 1337, "/var/lib/istio", NULL, NULL, err, sizeof(err));
	if (r != 1)
		fail_msg("%d: %s", r, err);

	/* A <file>.lock whose process is alive is busy too, and left alone. */
	users_set_test_hooks(&(struct users_test_hooks){ .lock_timeout_ms = 200 });
	h = hold_pwd_lock(false);
	char p[PATH_MAX], buf[32];
	etc_path(p, sizeof(p), "shadow.lock");
	int n = snprintf(buf, sizeof(buf), "%ld", (long)h.pid) + 1;
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, (size_t)n), n);
	close(fd);
	snap_free(&a);
	snap_take(&a);
	r = ensure("etcd", 1500, 1500, "/var/lib/etcd", NULL, NULL, err, sizeof(err));
	assert_int_equal(r, -EBUSY);
	print_message("# %s\n", err);
	assert_non_null(strstr(err, "shadow.lock"));
	snprintf(want, sizeof(want), "pid %ld", (long)h.pid);
	assert_non_null(strstr(err, want));
	snap_take(&b);
	snap_assert_same(&a, &b, true, NDBS);
	snap_free(&a);
	snap_free(&b);
	size_t len = 0;
	char *still = read_path(p, &len);
	assert_non_null(still);
	assert_int_equal(len, (size_t)n);
	free(still);
	char pl[PATH_MAX];
	etc_path(pl, sizeof(pl), "passwd.lock");
	assert_int_equal(access(pl, F_OK), -1); /* ours were released */

	/* Its process gone, the lock is stale and taken over. */
	release(&h);
	r = ensure("etcd", 1500, 1500, "/var/lib/etcd", NULL, NULL, err, sizeof(err));
	if (r != 1)
		fail_msg("%d: %s", r, err);
	assert_no_leftovers();
	assert_shadow_tools_clean();
}

static void test_symlinks_refused(void **state)
{
	(void)state;
	char p[PATH_MAX], real[PATH_MAX];
	etc_path(p, sizeof(p), "passwd");
	etc_path(real, sizeof(real), "real-passwd");
	assert_int_equal(rename(p, real), 0);
	assert_int_equal(symlink("real-passwd", p), 0);
	struct snap a, b;
	snap_take(&a);
	char err[512] = "";
	int r = ensure("istio-proxy", 1337, 1337, "/var/lib/istio", NULL, NULL, err, sizeof(err));
	assert_int_equal(r, -ELOOP);
	print_message("# %s\n", err);
	assert_non_null(strstr(err, "/etc/passwd is a symbolic link"));
	assert_int_equal(users_lookup(S.root, "root", NULL, NULL), -ELOOP);
	snap_take(&b);
	snap_assert_same(&a, &b, true, NDBS); /* group, written first, untouched */
	snap_free(&a);
	snap_free(&b);
	char *d = read_path(real, NULL);
	assert_string_equal(d, PASSWD);
	free(d);
	struct stat st;
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_no_leftovers();

	/* A symlinked shadow pointing out of the root: refused, not followed. */
	assert_int_equal(unlink(p), 0);
	assert_int_equal(rename(real, p), 0);
	etc_path(p, sizeof(p), "shadow");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink(S.outside, p), 0);
	r = ensure("istio-proxy", 1337, 1337, "/var/lib/istio", NULL, NULL, err, sizeof(err));
	assert_int_equal(r, -ELOOP);
	assert_int_equal(unlink(p), 0);
	write_etc("shadow", SHADOW, 0640, SHADOW_GID);

	/* Planted symlinks where the backup and the temporary file go are
	 * replaced, never written through (teardown checks the sentinel). */
	char plus[PATH_MAX], minus[PATH_MAX];
	etc_path(plus, sizeof(plus), "group+");
	etc_path(minus, sizeof(minus), "passwd-");
	assert_int_equal(symlink(S.outside, plus), 0);
	assert_int_equal(symlink(S.outside, minus), 0);
	r = ensure("istio-proxy", 1337, 1337, "/var/lib/istio", NULL, NULL, err, sizeof(err));
	if (r != 1)
		fail_msg("%d: %s", r, err);
	assert_int_equal(lstat(minus, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	d = read_path(minus, NULL);
	assert_string_equal(d, PASSWD);
	free(d);
	assert_int_equal(lstat(plus, &st), -1);
	assert_no_leftovers();

	/* /etc itself a symlink inside the root (absolute): resolved in the root. */
	char etc2[PATH_MAX];
	pf(etc2, sizeof(etc2), "%s/etc.real", S.root);
	assert_int_equal(rename(S.etc, etc2), 0);
	assert_int_equal(symlink("/etc.real", S.etc), 0);
	r = ensure("etcd", 1500, 1500, "/var/lib/etcd", NULL, NULL, err, sizeof(err));
	if (r != 1)
		fail_msg("%d: %s", r, err);
	pf(p, sizeof(p), "%s/passwd", etc2);
	d = read_path(p, NULL);
	assert_non_null(strstr(d, "\netcd:x:1500:1500:"));
	free(d);
}

static void test_injected_failure_restores(void **state)
{
	(void)state;
	static const char *const fail_at[] = { "gshadow", "passwd", "shadow" };
	for (size_t i = 0; i < ELEMENTSOF(fail_at); i++) {
		struct snap a, b;
		snap_take(&a);
		users_set_test_hooks(&(struct users_test_hooks){ .fail_file = fail_at[i], .fail_errno = EIO });
		char err[1024] = "";
		int r = ensure("istio-proxy", 1337, 1337, "/var/lib/istio", NULL, NULL, err, sizeof(err));
		users_set_test_hooks(NULL);
		assert_int_equal(r, -EIO);
		print_message("# %s\n", err);
		assert_non_null(strstr(err, "restored"));
		assert_non_null(strstr(err, "/etc/group"));
		assert_null(strstr(err, "FAILED"));
		snap_take(&b);
		snap_assert_same(&a, &b, false, 4); /* the four files: old bytes, mode, owner */
		/* The one that failed was never replaced. */
		for (size_t k = 0; k < 4; k++)
			if (strcmp(DBS[k], fail_at[i]) == 0)
				assert_int_equal(a.st[k].st_ino, b.st[k].st_ino);
		snap_free(&a);
		snap_free(&b);
		assert_no_leftovers();
		assert_shadow_tools_clean();
	}
	char err[512] = "";
	int r = ensure("istio-proxy", 1337, 1337, "/var/lib/istio", NULL, NULL, err, sizeof(err));
	if (r != 1)
		fail_msg("%d: %s", r, err);
	assert_shadow_tools_clean();
}

static void test_nis_and_missing_files(void **state)
{
	(void)state;
	/* New entries go before the NIS compat lines. */
	append_etc("passwd", "+::::::\n");
	append_etc("group", "+:::\n");
	char err[512] = "";
	int r = ensure("istio-proxy", 1337, 1337, "/var/lib/istio", NULL, NULL, err, sizeof(err));
	if (r != 1)
		fail_msg("%d: %s", r, err);
	char *d = read_etc("passwd");
	assert_true(str_has_suffix(d, "\nistio-proxy:x:1337:1337:Istio:/var/lib/istio:/usr/sbin/nologin\n+::::::\n"));
	free(d);
	d = read_etc("group");
	assert_true(str_has_suffix(d, "\nistio-proxy:x:1337:\n+:::\n"));
	free(d);

	/* No gshadow: none made.  No shadow: made 0640 root:shadow (which
	 * takes root).  A last line without its newline gets one. */
	if (geteuid() != 0) {
		print_message("# not root: creating a root:shadow file not tried\n");
		return;
	}
	char p[PATH_MAX];
	etc_path(p, sizeof(p), "gshadow");
	assert_int_equal(unlink(p), 0);
	etc_path(p, sizeof(p), "shadow");
	assert_int_equal(unlink(p), 0);
	etc_path(p, sizeof(p), "shadow-");
	assert_int_equal(unlink(p), 0);
	write_etc("group", "root:x:0:\nshadow:x:42:", 0644, 0);
	write_etc("passwd", "root:x:0:0:root:/root:/bin/bash", 0644, 0);
	setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
	uid_t u;
	gid_t g;
	r = ensure("istio-proxy", (uid_t)-1, (gid_t)-1, "/var/lib/istio", &u, &g, err, sizeof(err));
	if (r != 1)
		fail_msg("%d: %s", r, err);
	assert_int_equal(u, 999);
	assert_int_equal(g, 999);
	d = read_etc("group");
	assert_string_equal(d, "root:x:0:\nshadow:x:42:\nistio-proxy:x:999:\n");
	free(d);
	d = read_etc("passwd");
	assert_string_equal(d, "root:x:0:0:root:/root:/bin/bash\nistio-proxy:x:999:999:Istio:/var/lib/istio:/usr/sbin/nologin\n");
	free(d);
	d = read_etc("shadow");
	assert_string_equal(d, "istio-proxy:!*:19675::::::\n");
	free(d);
	assert_stat("shadow", 0640, SHADOW_GID);
	assert_null(read_etc("gshadow"));
	assert_null(read_etc("shadow-"));
	/* Existing user and group, a missing shadow line: added, ids kept. */
	write_etc("shadow", "", 0640, SHADOW_GID);
	r = ensure("istio-proxy", 999, 999, "/var/lib/istio", NULL, NULL, err, sizeof(err));
	assert_int_equal(r, 1);
	d = read_etc("shadow");
	assert_string_equal(d, "istio-proxy:!*:19675::::::\n");
	free(d);
	assert_no_leftovers();
}

static void test_lookup_and_args(void **state)
{
	(void)state;
	uid_t u = 1;
	gid_t g = 1;
	assert_int_equal(users_lookup(S.root, "root", &u, &g), 0);
	assert_int_equal(u, 0);
	assert_int_equal(g, 0);
	assert_int_equal(users_lookup(S.root, "sshd", &u, &g), 0);
	assert_int_equal(u, 101);
	assert_int_equal(g, 65534);
	assert_int_equal(users_lookup(S.root, "istio-proxy", &u, &g), -ENOENT);
	assert_int_equal(users_lookup(S.root, "roo", &u, &g), -ENOENT);
	assert_int_equal(users_lookup(S.root, "a:b", &u, &g), -EINVAL);
	char missing[PATH_MAX];
	pf(missing, sizeof(missing), "%s/nothing", S.top);
	assert_int_equal(users_lookup(missing, "root", &u, &g), -ENOENT);

	char err[256];
	static const char *const bad_names[] = { "", "Istio", "1proxy", "a:b", "istio proxy",
	                                         "a23456789012345678901234567890123" };
	for (size_t i = 0; i < ELEMENTSOF(bad_names); i++)
		assert_int_equal(ensure(bad_names[i], 1337, 1337, "/", NULL, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(ensure("ok", 1337, 1337, "relative", NULL, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(ensure("ok", 1337, 1337, "/a:b", NULL, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(users_ensure(S.root, "ok", 1337, 1337, "/", "x\ny", NULL, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(users_ensure(missing, "ok", 1337, 1337, "/", NULL, NULL, NULL, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nothing/etc"));
	/* err may be NULL; a tiny err is truncated, not overrun. */
	assert_int_equal(users_ensure(S.root, "istio-proxy", 1000, 1337, "/", NULL, NULL, NULL, NULL, 0), -EADDRINUSE);
	char tiny[8];
	assert_int_equal(users_ensure(S.root, "istio-proxy", 1000, 1337, "/", NULL, NULL, NULL, tiny, sizeof(tiny)),
	                 -EADDRINUSE);
	assert_int_equal(strlen(tiny), 7);
	/* A trailing '$' is a valid (machine account) name; NULL home is /nonexistent. */
	u = 0;
	assert_int_equal(users_ensure(S.root, "host$", 1400, 1400, NULL, NULL, &u, NULL, err, sizeof(err)), 1);
	assert_entry("passwd", "host$", "host$:x:1400:1400::/nonexistent:/usr/sbin/nologin");
	assert_shadow_tools_clean();
}

/* The sysusers.d rendering: fixed and allocated ids, quoted fields. */
static void test_sysusers_render(void **state)
{
	(void)state;
	struct strbuf sb;
	sb_init(&sb);
	users_sysusers_render("istio-proxy", 1337, 1338, "/var/lib/istio", "Istio proxy (meshboot)", &sb);
	users_sysusers_render("etcd", (uid_t)-1, (gid_t)-1, "/var/lib/etcd", NULL, &sb);
	assert_int_equal(sb_ok(&sb), 0);
	assert_string_equal(sb.buf, "g istio-proxy 1338\n"
	                            "u istio-proxy 1337:istio-proxy \"Istio proxy (meshboot)\" \"/var/lib/istio\" /usr/sbin/nologin\n"
	                            "g etcd -\n"
	                            "u etcd -:etcd \"-\" \"/var/lib/etcd\" /usr/sbin/nologin\n");
	sb_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_again_untouched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conflict_other_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_id_in_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allocate_default_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allocate_login_defs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_lock_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_lock_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlinks_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_injected_failure_restores, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nis_and_missing_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup_and_args, setup, teardown),
		cmocka_unit_test(test_sysusers_render),
	};
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
