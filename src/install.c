/* SPDX-License-Identifier: Apache-2.0 */
#include "install.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define SHORT_LEN 12
#define NAME_MAX_LEN 128
#define STAGING_PREFIX ".staging-"
#define TMP_LINK_PREFIX ".link-"


/* A single path component we create or accept as a link target:
 * [A-Za-z0-9._+~@-], not starting with '.', at most 128 bytes. */
static bool valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > NAME_MAX_LEN || s[0] == '.')
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      strchr("._+~@-", *p)))
			return false;
	return true;
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* "<anything>-<12 lower-case hex>": a version tree we made. */
static bool is_version_dir_name(const char *s)
{
	size_t n = strlen(s);
	return valid_name(s) && n > SHORT_LEN + 1 && s[n - SHORT_LEN - 1] == '-' && is_hex(s + n - SHORT_LEN, SHORT_LEN);
}

/* The component directory's path inside root: "/" + prefix components +
 * component, with empty components collapsed.  Refuses "." and ".."
 * (harmless under RESOLVE_IN_ROOT, but they would make the staging path
 * ambiguous). */
static int component_path(const char *prefix, const char *component, char **out, char *err, size_t errlen)
{
	if (!prefix || prefix[0] != '/')
		return err_fmt(err, errlen, -EINVAL, "install prefix \"%s\" is not an absolute path", prefix ? prefix : "");
	if (!component || !valid_name(component))
		return err_fmt(err, errlen, -EINVAL, "invalid component name \"%s\"", component ? component : "");
	struct strbuf sb;
	sb_init(&sb);
	for (const char *p = prefix; *p; ) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		if (n == 0)
			break;
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
			sb_free(&sb);
			return err_fmt(err, errlen, -EINVAL, "install prefix \"%s\" has a \".\" or \"..\" component", prefix);
		}
		sb_putc(&sb, '/');
		sb_append(&sb, p, n);
		p += n;
	}
	sb_putc(&sb, '/');
	sb_puts(&sb, component);
	if (sb_ok(&sb) < 0) {
		sb_free(&sb);
		return -ENOMEM;
	}
	*out = sb_steal(&sb);
	return *out ? 0 : -ENOMEM;
}

/* Open the component directory (path from component_path) inside root,
 * creating it and its parents (mode 0755) when create is set.  Symlinks
 * in the prefix resolve inside root; the component directory itself must
 * not be one.  Returns an O_RDONLY directory fd or -errno (with err). */
static int open_component_dir(const char *root, const char *cpath, bool create, char *err, size_t errlen)
{
	size_t len = strlen(cpath);
	_cleanup_close_ int prev = root_open(root, "/", O_PATH | O_DIRECTORY, 0);
	if (prev < 0)
		return err_fmt(err, errlen, prev, "cannot open the root \"%s\": %s", root ? root : "/", strerror(-prev));
	for (size_t i = 1; i <= len; i++) {
		if (i < len && cpath[i] != '/')
			continue;
		bool last = i == len;
		_cleanup_free_ char *partial = strndup(cpath, i);
		if (!partial)
			return -ENOMEM;
		const char *name = strrchr(partial, '/') + 1;
		int flags = O_DIRECTORY | (last ? O_RDONLY | O_NOFOLLOW : O_PATH);
		int fd = root_open(root, partial, flags, 0);
		if (fd == -ENOENT && create) {
			bool made = mkdirat(prev, name, 0755) == 0;
			if (!made && errno != EEXIST)
				return err_fmt(err, errlen, -errno, "cannot create %s: %s", partial, strerror(errno));
			if (made) {
				int dfd = openat(prev, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (dfd >= 0) {
					(void)fchmod(dfd, 0755);
					close(dfd);
				}
			}
			fd = root_open(root, partial, flags, 0);
			if (fd == -ENOENT)
				return err_fmt(err, errlen, fd, "%s: a dangling symlink (resolved inside %s)", partial,
				            root ? root : "/");
		}
		if (fd < 0) {
			if (fd == -ELOOP || fd == -ENOTDIR)
				return err_fmt(err, errlen, fd, "%s is %s", partial,
				            last ? "not a directory (a symlink or a file)" : "not a directory");
			return err_fmt(err, errlen, fd, "cannot open %s: %s", partial, strerror(-fd));
		}
		if (last)
			return fd;
		close(prev);
		prev = fd;
	}
	return err_fmt(err, errlen, -EINVAL, "empty install path");
}

static int lock_dir(int fd, int how, const char *what, char *err, size_t errlen)
{
	while (flock(fd, how) < 0) {
		if (errno != EINTR)
			return err_fmt(err, errlen, -errno, "cannot lock %s: %s", what, strerror(errno));
	}
	return 0;
}

/* Target of the symlink name in dfd: 1 with buf filled, 0 if there is
 * none, -EINVAL if name is not a symlink, other -errno. */
static int read_link(int dfd, const char *name, char *buf, size_t len)
{
	ssize_t n = readlinkat(dfd, name, buf, len - 1);
	if (n < 0)
		return errno == ENOENT ? 0 : -errno;
	if ((size_t)n >= len - 1)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	return 1;
}

static int read_link_checked(int dfd, const char *name, char *buf, size_t len, const char *cpath,
                             char *err, size_t errlen)
{
	int r = read_link(dfd, name, buf, len);
	if (r == -EINVAL)
		return err_fmt(err, errlen, -EEXIST, "%s/%s exists and is not a symlink", cpath, name);
	if (r < 0)
		return err_fmt(err, errlen, r, "cannot read %s/%s: %s", cpath, name, strerror(-r));
	return r;
}

static bool is_dir_at(int dfd, const char *name)
{
	struct stat s;
	return fstatat(dfd, name, &s, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(s.st_mode);
}

static void random_hex(char *out, size_t nbytes)
{
	unsigned char b[16];
	if (nbytes > sizeof(b))
		nbytes = sizeof(b);
	if (getrandom(b, nbytes, 0) != (ssize_t)nbytes) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)out;
		for (size_t i = 0; i < nbytes; i++, x = x * 6364136223846793005u + 1442695040888963407u)
			b[i] = (unsigned char)(x >> 56);
	}
	for (size_t i = 0; i < nbytes; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/* Create a symlink to target under a fresh temporary name in dfd. */
static int tmp_symlink(int dfd, const char *target, char *name, size_t len)
{
	for (int tries = 0; tries < 16; tries++) {
		char hex[17];
		random_hex(hex, 8);
		snprintf(name, len, TMP_LINK_PREFIX "%s", hex);
		if (symlinkat(target, dfd, name) == 0)
			return 0;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

static int version_dir_name(const char *version, const char *hex, char *out, size_t len, char *err, size_t errlen)
{
	if (!version || !valid_name(version))
		return err_fmt(err, errlen, -EINVAL, "invalid version \"%s\"", version ? version : "");
	if (!hex || strlen(hex) < SHORT_LEN || !is_hex(hex, strlen(hex)))
		return err_fmt(err, errlen, -EINVAL, "invalid digest \"%s\" (lower-case hex, at least %d digits)",
		            hex ? hex : "", SHORT_LEN);
	snprintf(out, len, "%s-%.*s", version, SHORT_LEN, hex);
	return 0;
}

int install_staging_create(const char *root, const char *prefix, const char *component,
                           int *dir_fd, char **staging_path, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	_cleanup_free_ char *cpath = NULL;
	int r = component_path(prefix, component, &cpath, err, errlen);
	if (r < 0)
		return r;
	_cleanup_close_ int cdir = open_component_dir(root, cpath, true, err, errlen);
	if (cdir < 0)
		return cdir;
	/* Under the component lock: a commit's cleanup cannot see the new
	 * directory before it is locked. */
	r = lock_dir(cdir, LOCK_EX, cpath, err, errlen);
	if (r < 0)
		return r;
	char name[64];
	for (int tries = 0;; tries++) {
		char hex[33];
		random_hex(hex, 8);
		snprintf(name, sizeof(name), STAGING_PREFIX "%s", hex);
		if (mkdirat(cdir, name, 0700) == 0)
			break;
		if (errno != EEXIST || tries >= 16)
			return err_fmt(err, errlen, -errno, "cannot create a staging directory in %s: %s", cpath,
			            strerror(errno));
	}
	int fd = openat(cdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		dirfd_rm_rf(cdir, name);
		return err_fmt(err, errlen, r, "cannot open %s/%s: %s", cpath, name, strerror(-r));
	}
	char *path = NULL;
	if (asprintf(&path, "%s/%s", cpath, name) < 0) {
		close(fd);
		dirfd_rm_rf(cdir, name);
		return -ENOMEM;
	}
	*dir_fd = fd;
	*staging_path = path;
	return 0;
}

/* Remove what a commit leaves behind: version trees other than keep[],
 * staging directories nobody holds, temporary links.  Best effort. */
static void cleanup(int cdir, const char *keep1, const char *keep2)
{
	DIR *d = dirfd_opendir(cdir, ".");
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		if (str_has_prefix(n, STAGING_PREFIX)) {
			int sfd = openat(cdir, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sfd < 0)
				continue;
			if (flock(sfd, LOCK_EX | LOCK_NB) == 0)
				dirfd_rm_rf(cdir, n);
			close(sfd);
		} else if (str_has_prefix(n, TMP_LINK_PREFIX)) {
			struct stat s;
			if (fstatat(cdir, n, &s, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(s.st_mode))
				unlinkat(cdir, n, 0);
		} else if (is_version_dir_name(n) && strcmp(n, keep1) != 0 && (!keep2 || strcmp(n, keep2) != 0) &&
		           is_dir_at(cdir, n)) {
			dirfd_rm_rf(cdir, n);
		}
	}
	closedir(d);
}

/* The staging path must be <component dir>/.staging-*. */
static int staging_name(const char *cpath, const char *staging_path, const char **name, char *err, size_t errlen)
{
	size_t cl = strlen(cpath);
	if (!staging_path || strncmp(staging_path, cpath, cl) != 0 || staging_path[cl] != '/' ||
	    !str_has_prefix(staging_path + cl + 1, STAGING_PREFIX) || strchr(staging_path + cl + 1, '/'))
		return err_fmt(err, errlen, -EINVAL, "\"%s\" is not a staging directory of %s",
		            staging_path ? staging_path : "", cpath);
	*name = staging_path + cl + 1;
	return 0;
}

static int commit(const char *root, const char *prefix, const char *component,
                  const char *staging_path, const char *version, const char *hex_digest,
                  char *err, size_t errlen, bool sync)
{
	if (err && errlen)
		err[0] = '\0';
	char vname[NAME_MAX_LEN + 1];
	_cleanup_free_ char *cpath = NULL;
	const char *sname = NULL;
	int r = version_dir_name(version, hex_digest, vname, sizeof(vname), err, errlen);
	if (r == 0)
		r = component_path(prefix, component, &cpath, err, errlen);
	if (r == 0)
		r = staging_name(cpath, staging_path, &sname, err, errlen);
	if (r < 0)
		return r;
	_cleanup_close_ int cdir = open_component_dir(root, cpath, false, err, errlen);
	if (cdir < 0)
		return cdir;
	r = lock_dir(cdir, LOCK_EX, cpath, err, errlen);
	if (r < 0)
		return r;

	char cur[PATH_MAX];
	int have_cur = read_link_checked(cdir, "current", cur, sizeof(cur), cpath, err, errlen);
	if (have_cur < 0)
		return have_cur;
	bool same = have_cur && strcmp(cur, vname) == 0;
	if (same && is_dir_at(cdir, vname)) {
		dirfd_rm_rf(cdir, sname); /* the unneeded staging tree; nothing installed changes */
		return 0;
	}

	/* The staging tree: on disk before it gets its name. */
	{
		_cleanup_close_ int sfd = openat(cdir, sname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sfd < 0)
			return err_fmt(err, errlen, -errno, "cannot open %s: %s", staging_path, strerror(errno));
		if (fchmod(sfd, 0755) < 0 || (sync && syncfs(sfd) < 0))
			return err_fmt(err, errlen, -errno, "cannot sync %s: %s", staging_path, strerror(errno));
	}
	if (renameat2(cdir, sname, cdir, vname, RENAME_NOREPLACE) < 0) {
		if (errno != EEXIST)
			return err_fmt(err, errlen, -errno, "cannot rename %s to %s/%s: %s", staging_path, cpath, vname,
			            strerror(errno));
		/* A tree of that name exists (the previous version, or debris):
		 * swap it out atomically, then remove it. */
		if (renameat2(cdir, sname, cdir, vname, RENAME_EXCHANGE) < 0)
			return err_fmt(err, errlen, -errno, "cannot replace %s/%s: %s", cpath, vname, strerror(errno));
		dirfd_rm_rf(cdir, sname);
	}

	if (!same) {
		char tmp[64];
		r = tmp_symlink(cdir, vname, tmp, sizeof(tmp));
		if (r < 0)
			return err_fmt(err, errlen, r, "cannot create a symlink in %s: %s", cpath, strerror(-r));
		if (have_cur) {
			/* current <-> tmp: current is new, tmp holds the old target. */
			if (renameat2(cdir, tmp, cdir, "current", RENAME_EXCHANGE) < 0) {
				r = -errno;
				unlinkat(cdir, tmp, 0);
				return err_fmt(err, errlen, r, "cannot switch %s/current: %s", cpath, strerror(-r));
			}
			if (valid_name(cur) && strcmp(cur, vname) != 0) {
				if (renameat(cdir, tmp, cdir, "previous") < 0)
					return err_fmt(err, errlen, -errno, "cannot update %s/previous: %s", cpath,
					            strerror(errno));
			} else {
				unlinkat(cdir, tmp, 0);
			}
		} else if (renameat(cdir, tmp, cdir, "current") < 0) {
			r = -errno;
			unlinkat(cdir, tmp, 0);
			return err_fmt(err, errlen, r, "cannot create %s/current: %s", cpath, strerror(-r));
		}
	}
	if (fsync(cdir) < 0)
		return err_fmt(err, errlen, -errno, "cannot sync %s: %s", cpath, strerror(errno));

	char prev[PATH_MAX];
	bool have_prev = read_link(cdir, "previous", prev, sizeof(prev)) == 1 && valid_name(prev);
	cleanup(cdir, vname, have_prev ? prev : NULL);
	(void)fsync(cdir);
	return 1;
}

int install_rollback(const char *root, const char *prefix, const char *component, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	_cleanup_free_ char *cpath = NULL;
	int r = component_path(prefix, component, &cpath, err, errlen);
	if (r < 0)
		return r;
	_cleanup_close_ int cdir = open_component_dir(root, cpath, false, err, errlen);
	if (cdir < 0)
		return cdir;
	r = lock_dir(cdir, LOCK_EX, cpath, err, errlen);
	if (r < 0)
		return r;
	char cur[PATH_MAX], prev[PATH_MAX];
	int hc = read_link_checked(cdir, "current", cur, sizeof(cur), cpath, err, errlen);
	if (hc < 0)
		return hc;
	int hp = read_link_checked(cdir, "previous", prev, sizeof(prev), cpath, err, errlen);
	if (hp < 0)
		return hp;
	if (!hc)
		return err_fmt(err, errlen, -ENOENT, "%s: nothing is installed", cpath);
	if (!hp)
		return err_fmt(err, errlen, -ENOENT, "%s: no previous version to roll back to", cpath);
	if (!valid_name(prev))
		return err_fmt(err, errlen, -EINVAL, "%s/previous points at \"%s\", not a version here", cpath, prev);
	if (strcmp(cur, prev) == 0)
		return 0;
	if (!is_dir_at(cdir, prev))
		return err_fmt(err, errlen, -ENOENT, "%s/%s (the previous version) is missing", cpath, prev);
	if (renameat2(cdir, "current", cdir, "previous", RENAME_EXCHANGE) < 0)
		return err_fmt(err, errlen, -errno, "cannot swap %s/current and previous: %s", cpath, strerror(errno));
	if (fsync(cdir) < 0)
		return err_fmt(err, errlen, -errno, "cannot sync %s: %s", cpath, strerror(errno));
	return 1;
}

int install_is_current(const char *root, const char *prefix, const char *component,
                       const char *version, const char *hex_digest, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	char vname[NAME_MAX_LEN + 1];
	_cleanup_free_ char *cpath = NULL;
	int r = version_dir_name(version, hex_digest, vname, sizeof(vname), err, errlen);
	if (r == 0)
		r = component_path(prefix, component, &cpath, err, errlen);
	if (r < 0)
		return r;
	_cleanup_close_ int cdir = open_component_dir(root, cpath, false, err, errlen);
	if (cdir == -ENOENT) {
		if (err && errlen)
			err[0] = '\0';
		return 0;
	}
	if (cdir < 0)
		return cdir;
	char cur[PATH_MAX];
	int hc = read_link_checked(cdir, "current", cur, sizeof(cur), cpath, err, errlen);
	if (hc < 0)
		return hc;
	return hc && strcmp(cur, vname) == 0 && is_dir_at(cdir, vname);
}

void install_staging_remove(const char *root, const char *staging_path)
{
	if (!staging_path)
		return;
	const char *slash = strrchr(staging_path, '/');
	if (!slash || !str_has_prefix(slash + 1, STAGING_PREFIX))
		return;
	_cleanup_free_ char *dir = strndup(staging_path, (size_t)(slash - staging_path));
	if (!dir)
		return;
	_cleanup_close_ int dfd = root_open(root, *dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
	if (dfd < 0)
		return;
	dirfd_rm_rf(dfd, slash + 1);
}

int install_commit(const char *root, const char *prefix, const char *component, const char *staging_path,
                   const char *version, const char *hex_digest, char *err, size_t errlen)
{
	return commit(root, prefix, component, staging_path, version, hex_digest, err, errlen, true);
}

int install_commit_synced(const char *root, const char *prefix, const char *component, const char *staging_path,
                          const char *version, const char *hex_digest, char *err, size_t errlen)
{
	return commit(root, prefix, component, staging_path, version, hex_digest, err, errlen, false);
}
