/* SPDX-License-Identifier: Apache-2.0 */
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <sys/syscall.h>

void sb_init(struct strbuf *sb) { memset(sb, 0, sizeof(*sb)); }

void sb_free(struct strbuf *sb)
{
	free(sb->buf);
	sb_init(sb);
}

static bool sb_grow(struct strbuf *sb, size_t extra)
{
	if (sb->oom)
		return false;
	if (sb->len + extra + 1 <= sb->cap)
		return true;
	size_t cap = sb->cap ? sb->cap : 256;
	while (cap < sb->len + extra + 1) {
		if (cap > SIZE_MAX / 2) {
			sb->oom = true;
			return false;
		}
		cap *= 2;
	}
	char *n = realloc(sb->buf, cap);
	if (!n) {
		sb->oom = true;
		return false;
	}
	sb->buf = n;
	sb->cap = cap;
	return true;
}

void sb_append(struct strbuf *sb, const char *s, size_t n)
{
	if (!sb_grow(sb, n))
		return;
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

void sb_puts(struct strbuf *sb, const char *s) { sb_append(sb, s, strlen(s)); }
void sb_putc(struct strbuf *sb, char c) { sb_append(sb, &c, 1); }

void sb_vprintf(struct strbuf *sb, const char *fmt, va_list ap)
{
	va_list aq;
	va_copy(aq, ap);
	int n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0) {
		sb->oom = true;
		return;
	}
	if (!sb_grow(sb, (size_t)n))
		return;
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	sb->len += (size_t)n;
}

void sb_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sb_vprintf(sb, fmt, ap);
	va_end(ap);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	size_t n;
	uint32_t cp;
	if ((s[0] & 0xe0) == 0xc0) { n = 2; cp = s[0] & 0x1f; }
	else if ((s[0] & 0xf0) == 0xe0) { n = 3; cp = s[0] & 0x0f; }
	else if ((s[0] & 0xf8) == 0xf0) { n = 4; cp = s[0] & 0x07; }
	else return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void sb_json_str(struct strbuf *sb, const char *s)
{
	sb_putc(sb, '"');
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		if (*p == '"' || *p == '\\') {
			sb_putc(sb, '\\');
			sb_putc(sb, (char)*p++);
		} else if (*p == '\n') {
			sb_puts(sb, "\\n"); p++;
		} else if (*p == '\t') {
			sb_puts(sb, "\\t"); p++;
		} else if (*p < 0x20 || *p == 0x7f) {
			sb_printf(sb, "\\u%04x", *p++);
		} else {
			size_t n = utf8_seq_len(p);
			if (n == 0) {
				sb_puts(sb, "\\ufffd");
				p++;
			} else {
				sb_append(sb, (const char *)p, n);
				p += n;
			}
		}
	}
	sb_putc(sb, '"');
}

int sb_ok(const struct strbuf *sb) { return sb->oom ? -ENOMEM : 0; }

char *sb_steal(struct strbuf *sb)
{
	char *r = sb->oom ? NULL : sb->buf;
	if (!r && !sb->oom)
		r = strdup("");
	if (sb->oom)
		free(sb->buf);
	sb_init(sb);
	return r;
}

int err_fmt(char *err, size_t len, int r, const char *fmt, ...)
{
	if (err && len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return r;
}

bool str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

char *xstrdup_or_null(const char *s) { return s ? strdup(s) : NULL; }

char *path_in_root(const char *root, const char *abs_path)
{
	char *r = NULL;
	if (!root || strcmp(root, "/") == 0)
		return strdup(abs_path);
	size_t rl = strlen(root);
	while (rl > 1 && root[rl - 1] == '/')
		rl--;
	if (asprintf(&r, "%.*s%s%s", (int)rl, root, abs_path[0] == '/' ? "" : "/", abs_path) < 0)
		return NULL;
	return r;
}

int fd_read_all(int fd, size_t max, char **out, size_t *out_len)
{
	struct strbuf sb;
	sb_init(&sb);
	char buf[65536];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int r = -errno;
			sb_free(&sb);
			return r;
		}
		if (n == 0)
			break;
		if (sb.len + (size_t)n > max) {
			sb_free(&sb);
			return -EFBIG;
		}
		sb_append(&sb, buf, (size_t)n);
	}
	size_t len = sb.len;
	char *r = sb_steal(&sb);
	if (!r)
		return -ENOMEM;
	*out = r;
	*out_len = len;
	return 0;
}

int root_open(const char *root, const char *path, int flags, mode_t mode)
{
	_cleanup_close_ int rfd = open(root && *root ? root : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return -errno;
	while (*path == '/')
		path++;
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, rfd, *path ? path : ".", &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS && (!root || !*root || strcmp(root, "/") == 0))
		/* systemd's RestrictSUIDSGID= (meshboot-firstboot.service has it)
		 * answers openat2 with ENOSYS.  Under "/" nothing can resolve
		 * outside the root anyway: plain openat is the same lookup. */
		fd = openat(rfd, *path ? path : ".", flags | O_CLOEXEC, how.mode);
	return fd < 0 ? -errno : (int)fd;
}

static int fd_read_file(int fd, size_t max, char **out, size_t *out_len)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
		return -EINVAL;
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max)
		return -EFBIG;
	return fd_read_all(fd, max, out, out_len);
}

int file_read_all(const char *path, size_t max, char **out, size_t *out_len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	return fd_read_file(fd, max, out, out_len);
}

int root_read_all(const char *root, const char *path, size_t max, char **out, size_t *out_len)
{
	_cleanup_close_ int fd = root_open(root, path, O_RDONLY | O_NOFOLLOW | O_NOCTTY, 0);
	if (fd < 0)
		return fd;
	return fd_read_file(fd, max, out, out_len);
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	_cleanup_free_ char *dir = strdup(path);
	if (!dir)
		return -ENOMEM;
	char *slash = strrchr(dir, '/');
	const char *base = slash ? slash + 1 : path;
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	return dirfd_write_atomic(dfd, base, data, len, mode);
}

int dirfd_write_atomic(int dfd, const char *base, const void *data, size_t len, mode_t mode)
{
	return dirfd_write_atomic_owned(dfd, base, data, len, mode, (uid_t)-1, (gid_t)-1);
}

/* Remove the temp files of base that a writer killed before its rename
 * left in dfd (".BASE.XXXXXXXX.tmp").  Writers of one file are serialised
 * (meshboot's run lock), so any such file is a dead one's.  Best effort. */
DIR *dirfd_opendir(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return d;
}

void dirfd_tmp_stale_remove(int dfd, const char *base)
{
	DIR *d = dirfd_opendir(dfd, ".");
	if (!d)
		return;
	size_t bl = strlen(base);
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		size_t nl = strlen(n);
		/* "." base "." 8 hex ".tmp" */
		if (nl != bl + 14 || n[0] != '.' || strncmp(n + 1, base, bl) != 0 || n[bl + 1] != '.' ||
		    strcmp(n + bl + 10, ".tmp") != 0 || strspn(n + bl + 2, "0123456789abcdef") != 8)
			continue;
		unlinkat(dfd, n, 0);
	}
	closedir(d);
}

int dirfd_write_atomic_owned(int dfd, const char *base, const void *data, size_t len, mode_t mode, uid_t uid,
                             gid_t gid)
{
	char tmp[300];
	int fd = -1;
	dirfd_tmp_stale_remove(dfd, base);
	for (int attempt = 0; attempt < 16 && fd < 0; attempt++) {
		unsigned rnd = 0;
		if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
			rnd = (unsigned)getpid() * 2654435761u ^ (unsigned)attempt * 40503u;
		snprintf(tmp, sizeof(tmp), ".%.200s.%08x.tmp", base, rnd);
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd < 0 && errno != EEXIST)
			return -errno;
	}
	if (fd < 0)
		return -EEXIST;
	int r = 0;
	const char *p = data;
	for (size_t done = 0; done < len; ) {
		ssize_t n = write(fd, p + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		done += (size_t)n;
	}
	/* owner and exact mode before the file gets its name (the umask may
	 * have narrowed the mode; a secret is created narrow and never wider) */
	if (r == 0 && (uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) < 0)
		r = -errno;
	struct stat st;
	if (r == 0 && fstat(fd, &st) < 0)
		r = -errno;
	if (r == 0 && (st.st_mode & 07777) != mode && fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && renameat(dfd, tmp, dfd, base) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(dfd, tmp, 0);
		return r;
	}
	return fsync(dfd) < 0 ? -errno : 0;
}

int root_mkdir_p(const char *root, const char *path, mode_t mode)
{
	_cleanup_free_ char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	size_t len = strlen(p);
	while (len > 1 && p[len - 1] == '/')
		p[--len] = '\0';
	int fd = root_open(root, p, O_RDONLY | O_DIRECTORY, 0);
	if (fd != -ENOENT)
		return fd;
	/* Walk down from the root, creating what is missing. */
	for (char *slash = p + 1; ; slash++) {
		slash = strchr(slash, '/');
		if (slash)
			*slash = '\0';
		int d = root_open(root, p, O_RDONLY | O_DIRECTORY, 0);
		if (d == -ENOENT) {
			char *last = strrchr(p, '/');
			*last = '\0';
			_cleanup_close_ int parent = root_open(root, *p ? p : "/", O_RDONLY | O_DIRECTORY, 0);
			*last = '/';
			if (parent < 0)
				return parent;
			if (mkdirat(parent, last + 1, mode) < 0 && errno != EEXIST)
				return -errno;
			d = root_open(root, p, O_RDONLY | O_DIRECTORY, 0);
		}
		if (d < 0)
			return d;
		if (!slash)
			return d;
		close(d);
		*slash = '/';
	}
}

static int split_path(const char *path, char **dir, const char **base)
{
	*dir = strdup(path);
	if (!*dir)
		return -ENOMEM;
	char *slash = strrchr(*dir, '/');
	if (!slash || !slash[1])
		return -EINVAL;
	*base = path + (slash - *dir) + 1;
	if (slash == *dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	return 0;
}

int root_file_ensure(const char *root, const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
                     gid_t gid)
{
	_cleanup_free_ char *dir = NULL;
	const char *base;
	int r = split_path(path, &dir, &base);
	if (r < 0)
		return r;
	_cleanup_close_ int dfd = root_mkdir_p(root, dir, 0755);
	if (dfd < 0)
		return dfd;
	uid_t want_uid = uid == (uid_t)-1 ? 0 : uid;
	gid_t want_gid = gid == (gid_t)-1 ? 0 : gid;
	_cleanup_close_ int fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0) {
		struct stat st;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == mode && st.st_uid == want_uid &&
		    st.st_gid == want_gid && (size_t)st.st_size == len) {
			_cleanup_free_ char *old = NULL;
			size_t ol = 0;
			bool same = fd_read_all(fd, len + 1, &old, &ol) == 0 && ol == len && memcmp(old, data, len) == 0;
			if (old)  /* it may be a key: no copy outlives the comparison */
				explicit_bzero(old, ol);
			if (same)
				return 0;
		}
	}
	r = dirfd_write_atomic_owned(dfd, base, data, len, mode, want_uid, want_gid);
	return r < 0 ? r : 1;
}

int root_dir_ensure(const char *root, const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	_cleanup_close_ int before = root_open(root, path, O_RDONLY | O_DIRECTORY, 0);
	_cleanup_close_ int fd = before >= 0 ? dup(before) : root_mkdir_p(root, path, mode);
	if (fd < 0)
		return fd;
	int changed = before < 0;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	uid_t want_uid = uid == (uid_t)-1 ? 0 : uid;
	gid_t want_gid = gid == (gid_t)-1 ? 0 : gid;
	if ((st.st_uid != want_uid || st.st_gid != want_gid)) {
		if (fchown(fd, want_uid, want_gid) < 0)
			return -errno;
		changed = 1;
	}
	if ((st.st_mode & 07777) != mode) {
		if (fchmod(fd, mode) < 0)
			return -errno;
		changed = 1;
	}
	return changed;
}

#define RM_MAX_DEPTH 512

static int rm_rf_depth(int dfd, const char *name, unsigned depth)
{
	struct stat s;
	if (fstatat(dfd, name, &s, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(s.st_mode))
		return unlinkat(dfd, name, 0) < 0 ? (errno == ENOENT ? 0 : -errno) : 1;
	if (depth >= RM_MAX_DEPTH)
		return -ELOOP;
	DIR *d = dirfd_opendir(dfd, name);
	if (!d)
		return -errno;
	/* Everything inside, then the directory; a second pass for what
	 * appeared while the first ran. */
	int r = 0;
	for (int pass = 0; pass < 2; pass++) {
		struct dirent *de;
		errno = 0;
		while ((de = readdir(d))) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			int q = rm_rf_depth(dirfd(d), de->d_name, depth + 1);
			if (q < 0 && r == 0)
				r = q;
			errno = 0;
		}
		if (errno && r == 0)
			r = -errno;
		if (unlinkat(dfd, name, AT_REMOVEDIR) == 0) {
			r = 1;
			break;
		}
		if (errno == ENOENT) {
			r = 0;
			break;
		}
		if (errno != ENOTEMPTY || r < 0) {
			if (r == 0)
				r = -errno;
			break;
		}
		rewinddir(d);
	}
	closedir(d);
	return r;
}

int dirfd_rm_rf(int dfd, const char *name)
{
	return rm_rf_depth(dfd, name, 0);
}

int root_rm_rf(const char *root, const char *path)
{
	_cleanup_free_ char *dir = NULL;
	const char *base;
	int r = split_path(path, &dir, &base);
	if (r < 0)
		return r;
	_cleanup_close_ int pfd = root_open(root, dir, O_RDONLY | O_DIRECTORY, 0);
	if (pfd < 0)
		return pfd == -ENOENT ? 0 : pfd;
	return dirfd_rm_rf(pfd, base);
}
