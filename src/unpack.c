/* SPDX-License-Identifier: Apache-2.0 */
#include "unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define UNPACK_MAX_PATH 4095
#define NESTED_BUF (64 * 1024)

struct ctx {
	int root;
	unsigned strip;
	uint64_t max_bytes, max_entries;
	uint64_t headers;
	struct unpack_stats st;
	char *err;
	size_t errlen;
	const char *path; /* raw path of the current entry, NULL between entries */
	/* The last parent directory opened: directories are never removed or
	 * replaced during an extraction, so the fd stays that path. */
	int pc_fd;
	char pc_path[UNPACK_MAX_PATH + 1];
};

/* Copy s for a message: control bytes and backslashes as \xNN, cut at
 * about outlen bytes. */
static const char *esc(char *out, size_t outlen, const char *s)
{
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)s;
	for (; *p && o + 8 < outlen; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '\\')
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", *p);
		else
			out[o++] = (char)*p;
	}
	if (*p && o + 4 <= outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

static int fail(struct ctx *c, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct ctx *c, int r, const char *fmt, ...)
{
	if (!c->err || c->errlen == 0)
		return r;
	char p[320], msg[640];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "%s: %s", c->path ? esc(p, sizeof(p), c->path) : "archive", msg);
	return r;
}

/* Split s on '/' into its non-empty components (s is modified). */
static size_t split(char *s, char **v)
{
	size_t n = 0;
	char *save = NULL;
	for (char *tok = strtok_r(s, "/", &save); tok; tok = strtok_r(NULL, "/", &save))
		v[n++] = tok;
	return n;
}

/* Join v[0..n) with '/' into out, escaped for a message. */
static const char *join_esc(char *out, size_t outlen, char **v, size_t n)
{
	char tmp[UNPACK_MAX_PATH + 1];
	size_t o = 0;
	tmp[0] = '\0';
	for (size_t i = 0; i < n && o < sizeof(tmp) - 1; i++)
		o += (size_t)snprintf(tmp + o, sizeof(tmp) - o, "%s%s", i ? "/" : "", v[i]);
	return esc(out, outlen, tmp);
}

/* An existing non-directory at name may be replaced (tar semantics for a
 * duplicate entry); a directory may not. */
static int unlink_nondir(struct ctx *c, int pfd, const char *name, const char *what)
{
	struct stat s;
	if (fstatat(pfd, name, &s, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(c, -errno, "cannot inspect the existing entry: %s", strerror(errno));
	if (S_ISDIR(s.st_mode))
		return fail(c, -EBADMSG, "a directory replaced by %s", what);
	if (unlinkat(pfd, name, 0) < 0)
		return fail(c, -errno, "cannot replace the existing entry: %s", strerror(errno));
	return 0;
}

/* Open (creating as needed) the directories v[0..n-1) below the root,
 * never through a symlink.  Returns an fd the caller closes. */
static int open_parent(struct ctx *c, char **v, size_t n, int *out)
{
	char j[320];
	int cur = fcntl(c->root, F_DUPFD_CLOEXEC, 3);
	if (cur < 0)
		return fail(c, -errno, "cannot use the staging directory: %s", strerror(errno));
	for (size_t i = 0; i + 1 < n; i++) {
		const int fl = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
		int nfd = openat(cur, v[i], fl);
		if (nfd < 0 && errno == ENOENT) {
			if (mkdirat(cur, v[i], 0700) < 0 && errno != EEXIST) {
				int e = errno;
				close(cur);
				return fail(c, -e, "cannot create the directory \"%s\": %s",
				            join_esc(j, sizeof(j), v, i + 1), strerror(e));
			}
			nfd = openat(cur, v[i], fl);
			if (nfd >= 0 && fchmod(nfd, 0755) < 0) {
				int e = errno;
				close(nfd);
				close(cur);
				return fail(c, -e, "cannot chmod \"%s\": %s", join_esc(j, sizeof(j), v, i + 1), strerror(e));
			}
		}
		if (nfd < 0) {
			int e = errno;
			struct stat s;
			bool lnk = fstatat(cur, v[i], &s, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(s.st_mode);
			bool notdir = e == ENOTDIR || e == ELOOP;
			close(cur);
			join_esc(j, sizeof(j), v, i + 1);
			if (lnk)
				return fail(c, -EBADMSG, "passes through the symlink \"%s\"", j);
			if (notdir)
				return fail(c, -EBADMSG, "passes through \"%s\", which is not a directory", j);
			return fail(c, -e, "cannot open the directory \"%s\": %s", j, strerror(e));
		}
		close(cur);
		cur = nfd;
	}
	*out = cur;
	return 0;
}

static int write_all_at(int fd, const char *p, size_t len, off_t off)
{
	while (len > 0) {
		ssize_t w = pwrite(fd, p, len, off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
		off += w;
	}
	return 0;
}

/* Account for growing the current file to end; -EFBIG over the cap. */
static int charge(struct ctx *c, uint64_t *end, uint64_t new_end)
{
	if (new_end <= *end)
		return 0;
	uint64_t grow = new_end - *end;
	if (grow > c->max_bytes - c->st.bytes)
		return fail(c, -EFBIG, "file data exceeds the limit of %" PRIu64 " bytes", c->max_bytes);
	c->st.bytes += grow;
	*end = new_end;
	return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = archive_entry_mtime(e);
	ts[1].tv_nsec = archive_entry_mtime_nsec(e);
	if (!archive_entry_mtime_is_set(e) || ts[1].tv_nsec < 0 || ts[1].tv_nsec > 999999999)
		ts[1].tv_nsec = UTIME_OMIT;
}

static int make_file(struct ctx *c, struct archive *a, struct archive_entry *e, int pfd, const char *name)
{
	int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
	/* The header's size first: an honest bomb stops before any write. */
	if (size > 0 && (uint64_t)size > c->max_bytes - c->st.bytes)
		return fail(c, -EFBIG, "file data exceeds the limit of %" PRIu64 " bytes", c->max_bytes);
	int fd = -1;
	for (int tries = 0; fd < 0; tries++) {
		fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
		if (fd >= 0)
			break;
		if (errno != EEXIST || tries > 0)
			return fail(c, -errno, "cannot create the file: %s", strerror(errno));
		int r = unlink_nondir(c, pfd, name, "a file");
		if (r < 0)
			return r;
	}
	int r = 0;
	uint64_t end = 0;
	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;
		int ar = archive_read_data_block(a, &buf, &len, &off);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar != ARCHIVE_OK) {
			const char *m = archive_error_string(a);
			r = fail(c, -EBADMSG, "corrupt file data: %s", m ? m : "read error");
			goto out;
		}
		if (off < 0 || (uint64_t)len > (uint64_t)INT64_MAX - (uint64_t)off) {
			r = fail(c, -EBADMSG, "corrupt file data: bad block offset");
			goto out;
		}
		r = charge(c, &end, (uint64_t)off + len);
		if (r < 0)
			goto out;
		r = write_all_at(fd, buf, len, (off_t)off);
		if (r < 0) {
			r = fail(c, r, "cannot write: %s", strerror(-r));
			goto out;
		}
	}
	if (size > 0 && (uint64_t)size > end) { /* trailing hole of a sparse file */
		r = charge(c, &end, (uint64_t)size);
		if (r < 0)
			goto out;
		if (ftruncate(fd, (off_t)size) < 0) {
			r = fail(c, -errno, "cannot extend: %s", strerror(errno));
			goto out;
		}
	}
	struct timespec ts[2];
	entry_times(e, ts);
	if (fchmod(fd, archive_entry_perm(e) & 0777) < 0 || futimens(fd, ts) < 0) {
		r = fail(c, -errno, "cannot set mode or time: %s", strerror(errno));
		goto out;
	}
	c->st.entries++;
out:
	if (close(fd) < 0 && r == 0)
		r = fail(c, -errno, "cannot write: %s", strerror(errno));
	return r;
}

static int make_dir(struct ctx *c, struct archive_entry *e, int pfd, const char *name)
{
	if (mkdirat(pfd, name, 0700) < 0 && errno != EEXIST)
		return fail(c, -errno, "cannot create the directory: %s", strerror(errno));
	int dfd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		int e2 = errno;
		struct stat s;
		if (fstatat(pfd, name, &s, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(s.st_mode))
			return fail(c, -EBADMSG, "a %s replaced by a directory", S_ISLNK(s.st_mode) ? "symlink" : "file");
		return fail(c, -e2, "cannot open the directory: %s", strerror(e2));
	}
	int r = 0;
	if (fchmod(dfd, (archive_entry_perm(e) & 0755) | 0700) < 0)
		r = fail(c, -errno, "cannot chmod: %s", strerror(errno));
	else
		c->st.entries++;
	close(dfd);
	return r;
}

static int make_link(struct ctx *c, struct archive_entry *e, int pfd, const char *name, const char *target)
{
	for (int tries = 0;; tries++) {
		if (symlinkat(target, pfd, name) == 0)
			break;
		if (errno != EEXIST || tries > 0)
			return fail(c, -errno, "cannot create the symlink: %s", strerror(errno));
		int r = unlink_nondir(c, pfd, name, "a symlink");
		if (r < 0)
			return r;
	}
	struct timespec ts[2];
	entry_times(e, ts);
	if (utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(c, -errno, "cannot set the time: %s", strerror(errno));
	c->st.entries++;
	return 0;
}

/* A symlink at depth `depth` (components of its directory below the
 * root) may point to "../" at most depth times, then only descend:
 * with every link in the tree of that form and every link's directory a
 * real directory, no chain of links resolves outside the tree. */
static int check_link_target(struct ctx *c, const char *target, size_t depth)
{
	char t[320];
	if (strlen(target) > UNPACK_MAX_PATH)
		return fail(c, -EBADMSG, "symlink target too long");
	char buf[UNPACK_MAX_PATH + 1];
	char *v[UNPACK_MAX_PATH / 2 + 2];
	strcpy(buf, target);
	size_t n = split(buf, v), up = 0;
	bool descended = false;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i], ".") == 0)
			continue;
		if (strcmp(v[i], "..") != 0) {
			descended = true;
			continue;
		}
		if (descended)
			return fail(c, -EBADMSG, "symlink target \"%s\" climbs after descending", esc(t, sizeof(t), target));
		if (++up > depth)
			return fail(c, -EBADMSG, "symlink target \"%s\" leaves the tree", esc(t, sizeof(t), target));
	}
	return 0;
}

static int do_entry(struct ctx *c, struct archive *a, struct archive_entry *e)
{
	char t[320];
	c->path = archive_entry_pathname(e);
	if (++c->headers > c->max_entries)
		return fail(c, -EFBIG, "more than %" PRIu64 " entries", c->max_entries);
	if (!c->path || !*c->path) {
		c->path = NULL;
		return fail(c, -EBADMSG, "entry %" PRIu64 " has no usable path name", c->headers);
	}
	size_t plen = strlen(c->path);
	if (plen > UNPACK_MAX_PATH)
		return fail(c, -EBADMSG, "path longer than %d bytes", UNPACK_MAX_PATH);
	if (c->path[0] == '/')
		return fail(c, -EBADMSG, "absolute path");

	char buf[UNPACK_MAX_PATH + 1];
	char *v[UNPACK_MAX_PATH / 2 + 2];
	memcpy(buf, c->path, plen + 1);
	size_t n = split(buf, v);
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], "..") == 0)
			return fail(c, -EBADMSG, "path has a \"..\" component");

	const char *hl = archive_entry_hardlink(e);
	if (hl)
		return fail(c, -EBADMSG, "hard link (to \"%s\") refused", esc(t, sizeof(t), hl));
	unsigned type = archive_entry_filetype(e);
	switch (type) {
	case AE_IFREG: case AE_IFDIR: case AE_IFLNK: break;
	case AE_IFCHR: return fail(c, -EBADMSG, "character device refused");
	case AE_IFBLK: return fail(c, -EBADMSG, "block device refused");
	case AE_IFIFO: return fail(c, -EBADMSG, "fifo refused");
	case AE_IFSOCK: return fail(c, -EBADMSG, "socket refused");
	default: return fail(c, -EBADMSG, "unsupported entry type 0%o", type);
	}
	const char *target = NULL;
	if (type == AE_IFLNK) {
		target = archive_entry_symlink(e);
		if (!target || !*target)
			return fail(c, -EBADMSG, "symlink without a target");
		if (target[0] == '/')
			return fail(c, -EBADMSG, "symlink to the absolute path \"%s\" refused", esc(t, sizeof(t), target));
	}

	/* Strip like tar (a "." counts), then drop the "." components. */
	if (n <= c->strip)
		return 0;
	char **w = v + c->strip;
	size_t m = 0;
	for (size_t i = 0; i < n - c->strip; i++)
		if (strcmp(w[i], ".") != 0)
			w[m++] = w[i];
	if (m == 0) {
		if (type == AE_IFDIR)
			return 0; /* "./": the staging directory itself */
		return fail(c, -EBADMSG, "names the top directory");
	}
	if (m > UNPACK_MAX_DEPTH)
		return fail(c, -EBADMSG, "more than %d path components", UNPACK_MAX_DEPTH);
	if (target) {
		int r = check_link_target(c, target, m - 1);
		if (r < 0)
			return r;
	}

	char key[UNPACK_MAX_PATH + 1];
	size_t kl = 0;
	for (size_t i = 0; i + 1 < m; i++) {
		size_t l = strlen(w[i]);
		memcpy(key + kl, w[i], l);
		kl += l;
		key[kl++] = '/';
	}
	key[kl] = '\0';
	int r;
	if (c->pc_fd < 0 || strcmp(key, c->pc_path) != 0) {
		int pfd = -1;
		r = open_parent(c, w, m, &pfd);
		if (r < 0)
			return r;
		if (c->pc_fd >= 0)
			close(c->pc_fd);
		c->pc_fd = pfd;
		memcpy(c->pc_path, key, kl + 1);
	}
	const char *name = w[m - 1];
	if (type == AE_IFREG)
		r = make_file(c, a, e, c->pc_fd, name);
	else if (type == AE_IFDIR)
		r = make_dir(c, e, c->pc_fd, name);
	else
		r = make_link(c, e, c->pc_fd, name, target);
	return r;
}

static int corrupt(struct ctx *c, struct archive *a)
{
	const char *m = archive_error_string(a);
	c->path = NULL;
	return fail(c, -EBADMSG, "corrupt or unreadable archive: %s", m ? m : "unknown error");
}

/* Extract every entry of a, starting with first (already read) if set. */
static int extract_all(struct ctx *c, struct archive *a, struct archive_entry *first)
{
	struct archive_entry *e = first;
	for (;;) {
		if (!e) {
			c->path = NULL;
			int ar = archive_read_next_header(a, &e);
			if (ar == ARCHIVE_EOF)
				return 0;
			if (ar < ARCHIVE_WARN)
				return corrupt(c, a);
		}
		int r = do_entry(c, a, e);
		if (r < 0)
			return r;
		e = NULL;
	}
}

/* Never let libarchive fall back to an external program (ARCHIVE_WARN). */
static int need(struct ctx *c, int ar, const char *what)
{
	if (ar == ARCHIVE_OK)
		return 0;
	c->path = NULL;
	return fail(c, -ENOTSUP, "this libarchive cannot read %s without an external program", what);
}

static int add_filter(struct ctx *c, struct archive *a, int code)
{
	switch (code) {
	case ARCHIVE_FILTER_GZIP: return need(c, archive_read_support_filter_gzip(a), "gzip");
	case ARCHIVE_FILTER_XZ: return need(c, archive_read_support_filter_xz(a), "xz");
	case ARCHIVE_FILTER_ZSTD: return need(c, archive_read_support_filter_zstd(a), "zstd");
	default: return 0;
	}
}

/* The stream must be compressed as announced (libarchive would also take
 * an uncompressed one). */
static int check_filter(struct ctx *c, struct archive *a, int code, const char *what)
{
	if (code < 0)
		return 0;
	int got = archive_filter_count(a) > 1 ? archive_filter_code(a, 0) : ARCHIVE_FILTER_NONE;
	if (got != code) {
		c->path = NULL;
		return fail(c, -EBADMSG, "not %s (compression: %s)", what,
		            got == ARCHIVE_FILTER_NONE ? "none" : archive_filter_name(a, 0));
	}
	return 0;
}

struct nested {
	struct archive *outer;
	char *buf;
};

static la_ssize_t nested_read(struct archive *a, void *p, const void **buf)
{
	struct nested *n = p;
	la_ssize_t r = archive_read_data(n->outer, n->buf, NESTED_BUF);
	if (r < 0) {
		const char *m = archive_error_string(n->outer);
		archive_set_error(a, archive_errno(n->outer) > 0 ? archive_errno(n->outer) : EIO, "%s",
		                  m ? m : "read error in the .deb");
		return -1;
	}
	*buf = n->buf;
	return r;
}

static int extract_nested_tar(struct ctx *c, struct archive *outer, int code, const char *member)
{
	struct nested n = { .outer = outer, .buf = malloc(NESTED_BUF) };
	struct archive *in = archive_read_new();
	int r;
	if (!n.buf || !in) {
		r = -ENOMEM;
		goto out;
	}
	r = need(c, archive_read_support_format_tar(in), "tar");
	if (r == 0)
		r = add_filter(c, in, code);
	if (r < 0)
		goto out;
	if (archive_read_open(in, &n, NULL, nested_read, NULL) != ARCHIVE_OK) {
		r = corrupt(c, in);
		goto out;
	}
	r = check_filter(c, in, code, member);
	if (r == 0)
		r = extract_all(c, in, NULL);
out:
	if (in)
		archive_read_free(in);
	free(n.buf);
	return r;
}

/* A .deb: "debian-binary", then control.tar.*, then data.tar.*: extract
 * the data member as a nested archive.  first: the outer archive's first
 * header if already read. */
static int extract_deb(struct ctx *c, struct archive *a, struct archive_entry *first)
{
	struct archive_entry *e = first;
	for (unsigned i = 0;; i++, e = NULL) {
		c->path = NULL;
		if (!e) {
			int ar = archive_read_next_header(a, &e);
			if (ar == ARCHIVE_EOF)
				return fail(c, -EBADMSG, "no data.tar member in the .deb");
			if (ar < ARCHIVE_WARN)
				return corrupt(c, a);
		}
		if ((archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) != ARCHIVE_FORMAT_AR)
			return fail(c, -EBADMSG, "not a .deb (not an ar archive)");
		const char *name = archive_entry_pathname(e);
		if (!name)
			return fail(c, -EBADMSG, "not a .deb (member without a name)");
		if (i == 0) {
			if (strcmp(name, "debian-binary") != 0)
				return fail(c, -EBADMSG, "not a .deb (first member is not debian-binary)");
			continue;
		}
		if (!str_has_prefix(name, "data.tar"))
			continue;
		static const struct { const char *suffix; int code; } m[] = {
			{ "", ARCHIVE_FILTER_NONE }, { ".gz", ARCHIVE_FILTER_GZIP },
			{ ".xz", ARCHIVE_FILTER_XZ }, { ".zst", ARCHIVE_FILTER_ZSTD },
		};
		for (size_t k = 0; k < ELEMENTSOF(m); k++)
			if (strcmp(name + strlen("data.tar"), m[k].suffix) == 0)
				return extract_nested_tar(c, a, m[k].code, name);
		char t[320];
		return fail(c, -EBADMSG, "unsupported .deb data member \"%s\"", esc(t, sizeof(t), name));
	}
}

int unpack_archive(int fd, int dir_fd, const struct unpack_opts *o, struct unpack_stats *st,
                   char *err, size_t errlen)
{
	static const struct unpack_opts defaults = { .format = ARCHIVE_AUTO };
	if (!o)
		o = &defaults;
	struct ctx c = {
		.root = dir_fd,
		.strip = o->strip_components,
		.max_bytes = o->max_bytes ? o->max_bytes : UNPACK_DEFAULT_MAX_BYTES,
		.max_entries = o->max_entries ? o->max_entries : UNPACK_DEFAULT_MAX_ENTRIES,
		.err = err,
		.errlen = errlen,
		.pc_fd = -1,
	};
	if (err && errlen)
		err[0] = '\0';
	struct archive *a = archive_read_new();
	if (!a)
		return -ENOMEM;

	int r = 0, code = -1;
	const char *what = NULL;
	switch (o->format) {
	case ARCHIVE_AUTO:
		r = need(&c, archive_read_support_format_tar(a), "tar");
		if (r == 0)
			r = need(&c, archive_read_support_format_zip(a), "zip");
		if (r == 0)
			r = need(&c, archive_read_support_format_ar(a), "ar");
		if (r == 0)
			r = add_filter(&c, a, ARCHIVE_FILTER_GZIP);
		if (r == 0)
			r = add_filter(&c, a, ARCHIVE_FILTER_XZ);
		if (r == 0)
			r = add_filter(&c, a, ARCHIVE_FILTER_ZSTD);
		break;
	case ARCHIVE_TAR_GZ: code = ARCHIVE_FILTER_GZIP; what = "a tar.gz archive"; break;
	case ARCHIVE_TAR_XZ: code = ARCHIVE_FILTER_XZ; what = "a tar.xz archive"; break;
	case ARCHIVE_TAR_ZST: code = ARCHIVE_FILTER_ZSTD; what = "a tar.zst archive"; break;
	case ARCHIVE_ZIP:
		r = need(&c, archive_read_support_format_zip(a), "zip");
		code = ARCHIVE_FILTER_NONE;
		what = "a zip archive";
		break;
	case ARCHIVE_DEB:
		r = need(&c, archive_read_support_format_ar(a), "ar");
		code = ARCHIVE_FILTER_NONE;
		what = "a .deb";
		break;
	default:
		r = fail(&c, -EINVAL, "unknown archive format %d", (int)o->format);
	}
	if (r == 0 && code > ARCHIVE_FILTER_NONE) {
		/* All three, so that a mismatch is named rather than "unrecognized". */
		r = need(&c, archive_read_support_format_tar(a), "tar");
		if (r == 0)
			r = add_filter(&c, a, ARCHIVE_FILTER_GZIP);
		if (r == 0)
			r = add_filter(&c, a, ARCHIVE_FILTER_XZ);
		if (r == 0)
			r = add_filter(&c, a, ARCHIVE_FILTER_ZSTD);
	}
	if (r < 0)
		goto out;
	if (archive_read_open_fd(a, fd, 64 * 1024) != ARCHIVE_OK) {
		r = corrupt(&c, a);
		goto out;
	}
	r = check_filter(&c, a, code, what);
	if (r < 0)
		goto out;
	if (o->format == ARCHIVE_DEB) {
		r = extract_deb(&c, a, NULL);
	} else {
		struct archive_entry *e;
		int ar = archive_read_next_header(a, &e);
		if (ar == ARCHIVE_EOF)
			r = 0;
		else if (ar < ARCHIVE_WARN)
			r = corrupt(&c, a);
		else if (o->format == ARCHIVE_AUTO &&
		         (archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_AR)
			r = extract_deb(&c, a, e);
		else
			r = extract_all(&c, a, e);
	}
out:
	archive_read_free(a);
	if (c.pc_fd >= 0)
		close(c.pc_fd);
	if (r == 0 && st)
		*st = c.st;
	return r;
}
