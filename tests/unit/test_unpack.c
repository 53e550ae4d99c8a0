/* SPDX-License-Identifier: Apache-2.0 */
/* Unpacking (unpack.c) and versioned installs (install.c).  Every archive
 * is built here with libarchive's writer, hostile ones included; each test
 * works in its own scratch directory under /tmp, removed afterwards, with
 * a sentinel file outside the staging directory that must stay
 * byte-identical and no new file anywhere outside the staging directory. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "install.h"
#include "unpack.h"
#include "util.h"

#define SENTINEL_TEXT "sentinel: must not change\n"
#define MTIME 1700000000

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

/* ---- scratch directories ----------------------------------------------- */

struct scratch {
	char root[PATH_MAX];     /* /tmp/meshboot-unpack-XXXXXX */
	char staging[PATH_MAX];  /* root/staging: the unpack target */
	char archive[PATH_MAX];  /* root/archive: the archive under test */
	char sentinel[PATH_MAX]; /* root/outside/sentinel */
	int dfd;                 /* staging */
	char *snapshot;          /* everything outside staging and the archive */
};

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	remove(path);
	return 0;
}

static void rm_rf(const char *path)
{
	nftw(path, rm_cb, 64, FTW_DEPTH | FTW_PHYS);
}

/* nftw has no user pointer. */
static struct strbuf *snap_sb;
static const struct scratch *snap_s;

static int snap_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)flag; (void)ftw;
	if (str_has_prefix(path, snap_s->staging) &&
	    (path[strlen(snap_s->staging)] == '\0' || path[strlen(snap_s->staging)] == '/'))
		return 0;
	if (strcmp(path, snap_s->archive) == 0)
		return 0;
	if (strcmp(path, snap_s->root) == 0) { /* its mtime changes with the staging directory */
		sb_printf(snap_sb, "/ %o\n", (unsigned)sb->st_mode);
		return 0;
	}
	sb_printf(snap_sb, "%s %o %lld %lld.%09ld\n", path + strlen(snap_s->root), (unsigned)sb->st_mode,
	          (long long)sb->st_size, (long long)sb->st_mtim.tv_sec, sb->st_mtim.tv_nsec);
	return 0;
}

static char *snapshot(const struct scratch *s)
{
	struct strbuf sb;
	sb_init(&sb);
	snap_sb = &sb;
	snap_s = s;
	assert_int_equal(nftw(s->root, snap_cb, 64, FTW_PHYS), 0);
	return sb_steal(&sb);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static char *read_file(const char *path)
{
	char *data = NULL;
	size_t len;
	assert_int_equal(file_read_all(path, 1 << 20, &data, &len), 0);
	return data;
}

static int setup(void **state)
{
	struct scratch *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	strcpy(s->root, "/tmp/meshboot-unpack-XXXXXX");
	assert_non_null(mkdtemp(s->root));
	pf(s->staging, sizeof(s->staging), "%s/staging", s->root);
	pf(s->archive, sizeof(s->archive), "%s/archive", s->root);
	pf(s->sentinel, sizeof(s->sentinel), "%s/outside/sentinel", s->root);
	char outside[PATH_MAX];
	pf(outside, sizeof(outside), "%s/outside", s->root);
	assert_int_equal(mkdir(s->staging, 0700), 0);
	assert_int_equal(mkdir(outside, 0755), 0);
	write_file(s->sentinel, SENTINEL_TEXT);
	s->dfd = open(s->staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(s->dfd >= 0);
	s->snapshot = snapshot(s);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct scratch *s = *state;
	close(s->dfd);
	rm_rf(s->root);
	free(s->snapshot);
	free(s);
	return 0;
}

static void assert_outside_untouched(const struct scratch *s)
{
	char *text = read_file(s->sentinel);
	assert_string_equal(text, SENTINEL_TEXT);
	free(text);
	char *now = snapshot(s);
	assert_string_equal(now, s->snapshot);
	free(now);
}

/* ---- building archives ------------------------------------------------- */

enum etype { T_FILE, T_DIR, T_LINK, T_HARDLINK, T_CHR, T_FIFO, T_SPARSE };

struct ent {
	const char *path;
	enum etype type;
	unsigned mode;
	const char *data;       /* T_FILE contents; T_LINK / T_HARDLINK target */
	uint64_t zeros;         /* T_FILE: that many zero bytes instead of data; T_SPARSE: the size */
	bool unknown_size;      /* zip: no size in the header (data descriptor) */
};

enum fmt { F_TAR, F_ZIP, F_DEB };

static double now_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Returns false if writing the zeros took more than 10 s. */
static bool write_entries(struct archive *a, const struct ent *e, size_t n)
{
	static char zeros[1 << 20];
	double start = now_sec();
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *ae = archive_entry_new();
		archive_entry_set_pathname(ae, e[i].path);
		archive_entry_set_mtime(ae, MTIME, 0);
		archive_entry_set_perm(ae, e[i].mode ? e[i].mode : 0644);
		switch (e[i].type) {
		case T_FILE:
			archive_entry_set_filetype(ae, AE_IFREG);
			if (e[i].unknown_size)
				archive_entry_unset_size(ae);
			else
				archive_entry_set_size(ae, e[i].data ? (la_int64_t)strlen(e[i].data) : (la_int64_t)e[i].zeros);
			break;
		case T_SPARSE:
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_size(ae, (la_int64_t)e[i].zeros);
			archive_entry_sparse_add_entry(ae, 0, 4096);
			break;
		case T_DIR:
			archive_entry_set_filetype(ae, AE_IFDIR);
			archive_entry_set_perm(ae, e[i].mode ? e[i].mode : 0755);
			break;
		case T_LINK:
			archive_entry_set_filetype(ae, AE_IFLNK);
			archive_entry_set_symlink(ae, e[i].data);
			archive_entry_set_perm(ae, 0777);
			break;
		case T_HARDLINK:
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_hardlink(ae, e[i].data);
			archive_entry_set_size(ae, 0);
			break;
		case T_CHR:
			archive_entry_set_filetype(ae, AE_IFCHR);
			archive_entry_set_rdev(ae, makedev(1, 3));
			break;
		case T_FIFO:
			archive_entry_set_filetype(ae, AE_IFIFO);
			break;
		}
		int r = archive_write_header(a, ae);
		if (r != ARCHIVE_OK)
			fail_msg("write_header(%s): %s", e[i].path, archive_error_string(a));
		if (e[i].type == T_FILE && e[i].data) {
			assert_int_equal(archive_write_data(a, e[i].data, strlen(e[i].data)), (la_ssize_t)strlen(e[i].data));
		} else if (e[i].type == T_FILE) {
			for (uint64_t done = 0; done < e[i].zeros; done += sizeof(zeros)) {
				size_t len = e[i].zeros - done < sizeof(zeros) ? (size_t)(e[i].zeros - done) : sizeof(zeros);
				assert_int_equal(archive_write_data(a, zeros, len), (la_ssize_t)len);
				if (now_sec() - start > 10) {
					archive_entry_free(ae);
					return false;
				}
			}
		} else if (e[i].type == T_SPARSE) {
			assert_int_equal(archive_write_data(a, zeros, 4096), 4096);
		}
		archive_entry_free(ae);
	}
	return true;
}

static void add_filter(struct archive *a, int filter)
{
	switch (filter) {
	case ARCHIVE_FILTER_GZIP: assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK); break;
	case ARCHIVE_FILTER_XZ: assert_int_equal(archive_write_add_filter_xz(a), ARCHIVE_OK); break;
	case ARCHIVE_FILTER_ZSTD: assert_int_equal(archive_write_add_filter_zstd(a), ARCHIVE_OK); break;
	default: break;
	}
}

static bool build_tar(const char *file, int filter, const struct ent *e, size_t n)
{
	struct archive *a = archive_write_new();
	assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	add_filter(a, filter);
	assert_int_equal(archive_write_open_filename(a, file), ARCHIVE_OK);
	bool ok = write_entries(a, e, n);
	if (!ok)
		archive_write_fail(a);
	archive_write_close(a);
	archive_write_free(a);
	return ok;
}

static void build_zip(const char *file, const struct ent *e, size_t n)
{
	struct archive *a = archive_write_new();
	assert_int_equal(archive_write_set_format_zip(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(a, file), ARCHIVE_OK);
	assert_true(write_entries(a, e, n));
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static void ar_member(struct archive *a, const char *name, const char *data, size_t len)
{
	struct archive_entry *ae = archive_entry_new();
	archive_entry_set_pathname(ae, name);
	archive_entry_set_filetype(ae, AE_IFREG);
	archive_entry_set_perm(ae, 0644);
	archive_entry_set_mtime(ae, MTIME, 0);
	archive_entry_set_size(ae, (la_int64_t)len);
	assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
	assert_int_equal(archive_write_data(a, data, len), (la_ssize_t)len);
	archive_entry_free(ae);
}

/* A .deb: debian-binary, control.tar.xz, data.tar.<filter> holding e. */
static void build_deb(const char *file, int filter, const char *data_name, const struct ent *e, size_t n)
{
	char inner[PATH_MAX];
	pf(inner, sizeof(inner), "%s.data", file);
	assert_true(build_tar(inner, filter, e, n));
	char *data = NULL;
	size_t dlen;
	assert_int_equal(file_read_all(inner, 64 << 20, &data, &dlen), 0);
	unlink(inner);
	const struct ent control[] = { { "./control", T_FILE, 0644, "Package: meshboot-test\n", 0, false } };
	assert_true(build_tar(inner, ARCHIVE_FILTER_XZ, control, 1));
	char *ctl = NULL;
	size_t clen;
	assert_int_equal(file_read_all(inner, 1 << 20, &ctl, &clen), 0);
	unlink(inner);

	struct archive *a = archive_write_new();
	assert_int_equal(archive_write_set_format_ar_svr4(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(a, file), ARCHIVE_OK);
	ar_member(a, "debian-binary", "2.0\n", 4);
	ar_member(a, "control.tar.xz", ctl, clen);
	ar_member(a, data_name, data, dlen);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	free(data);
	free(ctl);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static int unpack_file(const char *file, int dfd, enum archive_fmt f, unsigned strip, uint64_t max_bytes,
                       uint64_t max_entries, struct unpack_stats *st, char *err, size_t errlen)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	struct unpack_opts o = { .format = f, .strip_components = strip, .max_bytes = max_bytes, .max_entries = max_entries };
	int before = count_fds();
	int r = unpack_archive(fd, dfd, &o, st, err, errlen);
	assert_int_equal(count_fds(), before); /* no fd leaked, on any path */
	assert_int_equal(close(fd), 0); /* still ours: libarchive did not close it */
	return r;
}

static void assert_file(const char *dir, const char *rel, const char *text, unsigned mode)
{
	char p[PATH_MAX];
	pf(p, sizeof(p), "%s/%s", dir, rel);
	struct stat st;
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, mode);
	assert_int_equal(st.st_uid, getuid());
	char *got = read_file(p);
	assert_string_equal(got, text);
	free(got);
}

static void assert_link(const char *dir, const char *rel, const char *target)
{
	char p[PATH_MAX], buf[PATH_MAX];
	pf(p, sizeof(p), "%s/%s", dir, rel);
	ssize_t n = readlink(p, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, target);
}

static void assert_missing(const char *dir, const char *rel)
{
	char p[PATH_MAX];
	struct stat st;
	pf(p, sizeof(p), "%s/%s", dir, rel);
	assert_int_equal(lstat(p, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static unsigned mode_of(const char *dir, const char *rel)
{
	char p[PATH_MAX];
	struct stat st;
	pf(p, sizeof(p), "%s/%s", dir, rel);
	assert_int_equal(lstat(p, &st), 0);
	return st.st_mode & 07777;
}

/* ---- good archives ----------------------------------------------------- */

/* The same tree in every format; with the prefix "./" for the .deb. */
#define GOOD_TREE(P) { \
	{ P "pkg-1.0/", T_DIR, 0755, NULL, 0, false }, \
	{ P "pkg-1.0/bin/", T_DIR, 0755, NULL, 0, false }, \
	{ P "pkg-1.0/bin/tool", T_FILE, 0755, "#!/bin/sh\necho tool\n", 0, false }, \
	{ P "pkg-1.0/share/doc/README", T_FILE, 0644, "hello\n", 0, false }, \
	{ P "pkg-1.0/bin/tool-link", T_LINK, 0, "tool", 0, false }, \
	{ P "pkg-1.0/share/up", T_LINK, 0, "../bin/tool", 0, false }, \
	{ P "TOPLEVEL", T_FILE, 0644, "skipped by strip_components\n", 0, false }, \
}

static void assert_good_tree(const struct scratch *s, const struct unpack_stats *st)
{
	assert_file(s->staging, "bin/tool", "#!/bin/sh\necho tool\n", 0755);
	assert_file(s->staging, "share/doc/README", "hello\n", 0644);
	assert_link(s->staging, "bin/tool-link", "tool");
	assert_link(s->staging, "share/up", "../bin/tool");
	assert_missing(s->staging, "TOPLEVEL");
	assert_missing(s->staging, "pkg-1.0");
	assert_int_equal(mode_of(s->staging, "share"), 0755);
	assert_int_equal(mode_of(s->staging, "share/doc"), 0755);
	assert_int_equal(st->entries, 5); /* bin/ and 4 files and links; implicit dirs not counted */
	assert_int_equal(st->bytes, strlen("#!/bin/sh\necho tool\n") + strlen("hello\n"));
	assert_outside_untouched(s);
}

static void good_tar(void **state, int filter, enum archive_fmt fmt)
{
	struct scratch *s = *state;
	const struct ent tree[] = GOOD_TREE("");
	assert_true(build_tar(s->archive, filter, tree, ELEMENTSOF(tree)));
	/* Named format, then detection, into fresh staging directories. */
	for (int pass = 0; pass < 2; pass++) {
		struct unpack_stats st = { 0 };
		char err[512] = "x";
		int r = unpack_file(s->archive, s->dfd, pass ? ARCHIVE_AUTO : fmt, 1, 0, 0, &st, err, sizeof(err));
		assert_string_equal(err, "");
		assert_int_equal(r, 0);
		assert_good_tree(s, &st);
		close(s->dfd);
		rm_rf(s->staging);
		assert_int_equal(mkdir(s->staging, 0700), 0);
		s->dfd = open(s->staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		free(s->snapshot);
		s->snapshot = snapshot(s);
	}
}

static void test_good_tar_gz(void **state) { good_tar(state, ARCHIVE_FILTER_GZIP, ARCHIVE_TAR_GZ); }
static void test_good_tar_xz(void **state) { good_tar(state, ARCHIVE_FILTER_XZ, ARCHIVE_TAR_XZ); }
static void test_good_tar_zst(void **state) { good_tar(state, ARCHIVE_FILTER_ZSTD, ARCHIVE_TAR_ZST); }
static void test_good_plain_tar(void **state) { good_tar(state, ARCHIVE_FILTER_NONE, ARCHIVE_AUTO); }

static void test_good_zip(void **state)
{
	struct scratch *s = *state;
	const struct ent tree[] = GOOD_TREE("");
	build_zip(s->archive, tree, ELEMENTSOF(tree));
	struct unpack_stats st;
	char err[512];
	assert_int_equal(unpack_file(s->archive, s->dfd, ARCHIVE_ZIP, 1, 0, 0, &st, err, sizeof(err)), 0);
	assert_good_tree(s, &st);
}

static void test_good_zip_auto(void **state)
{
	struct scratch *s = *state;
	const struct ent tree[] = GOOD_TREE("");
	build_zip(s->archive, tree, ELEMENTSOF(tree));
	struct unpack_stats st;
	char err[512];
	assert_int_equal(unpack_file(s->archive, s->dfd, ARCHIVE_AUTO, 1, 0, 0, &st, err, sizeof(err)), 0);
	assert_good_tree(s, &st);
}

/* "./pkg-1.0/bin/tool" with strip_components 2 is "bin/tool": like tar,
 * the "." counts. */
static void test_good_deb(void **state)
{
	struct scratch *s = *state;
	const struct ent tree[] = GOOD_TREE("./");
	build_deb(s->archive, ARCHIVE_FILTER_XZ, "data.tar.xz", tree, ELEMENTSOF(tree));
	struct unpack_stats st;
	char err[512];
	int r = unpack_file(s->archive, s->dfd, ARCHIVE_DEB, 2, 0, 0, &st, err, sizeof(err));
	assert_string_equal(err, "");
	assert_int_equal(r, 0);
	assert_good_tree(s, &st);
	assert_missing(s->staging, "control");
	assert_missing(s->staging, "debian-binary");
}

static void test_good_deb_auto_gz_zst(void **state)
{
	struct scratch *s = *state;
	const struct ent tree[] = GOOD_TREE("./");
	const int filters[] = { ARCHIVE_FILTER_GZIP, ARCHIVE_FILTER_ZSTD };
	const char *names[] = { "data.tar.gz", "data.tar.zst" };
	for (int i = 0; i < 2; i++) {
		build_deb(s->archive, filters[i], names[i], tree, ELEMENTSOF(tree));
		struct unpack_stats st;
		char err[512];
		int r = unpack_file(s->archive, s->dfd, ARCHIVE_AUTO, 2, 0, 0, &st, err, sizeof(err));
		assert_string_equal(err, "");
		assert_int_equal(r, 0);
		assert_good_tree(s, &st);
		close(s->dfd);
		rm_rf(s->staging);
		assert_int_equal(mkdir(s->staging, 0700), 0);
		s->dfd = open(s->staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
}

static void test_deb_without_data(void **state)
{
	struct scratch *s = *state;
	struct archive *a = archive_write_new();
	assert_int_equal(archive_write_set_format_ar_svr4(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(a, s->archive), ARCHIVE_OK);
	ar_member(a, "debian-binary", "2.0\n", 4);
	ar_member(a, "control.tar.xz", "x", 1);
	archive_write_close(a);
	archive_write_free(a);
	char err[512];
	assert_int_equal(unpack_file(s->archive, s->dfd, ARCHIVE_DEB, 0, 0, 0, NULL, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "archive: no data.tar member in the .deb");
	assert_outside_untouched(s);
}

/* A named format is checked: a tar.gz is not a tar.xz, and a plain tar
 * is not a tar.gz either (libarchive would read it). */
static void test_wrong_format(void **state)
{
	struct scratch *s = *state;
	const struct ent tree[] = GOOD_TREE("");
	char err[512];
	assert_true(build_tar(s->archive, ARCHIVE_FILTER_GZIP, tree, ELEMENTSOF(tree)));
	assert_int_equal(unpack_file(s->archive, s->dfd, ARCHIVE_TAR_XZ, 0, 0, 0, NULL, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "archive: not a tar.xz archive (compression: gzip)");
	assert_true(build_tar(s->archive, ARCHIVE_FILTER_NONE, tree, ELEMENTSOF(tree)));
	assert_int_equal(unpack_file(s->archive, s->dfd, ARCHIVE_TAR_GZ, 0, 0, 0, NULL, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "archive: not a tar.gz archive (compression: none)");
	assert_int_equal(unpack_file(s->archive, s->dfd, ARCHIVE_ZIP, 0, 0, 0, NULL, err, sizeof(err)), -EBADMSG);
	assert_true(str_has_prefix(err, "archive: corrupt or unreadable archive: "));
	assert_int_equal(unpack_file(s->archive, s->dfd, ARCHIVE_DEB, 0, 0, 0, NULL, err, sizeof(err)), -EBADMSG);
	assert_true(str_has_prefix(err, "archive: corrupt or unreadable archive: "));
	assert_outside_untouched(s);
}

static void test_truncated(void **state)
{
	struct scratch *s = *state;
	const struct ent e[] = { { "big", T_FILE, 0644, NULL, 1 << 20, false } };
	assert_true(build_tar(s->archive, ARCHIVE_FILTER_GZIP, e, 1));
	struct stat st;
	assert_int_equal(stat(s->archive, &st), 0);
	assert_int_equal(truncate(s->archive, st.st_size / 2), 0);
	char err[512];
	assert_int_equal(unpack_file(s->archive, s->dfd, ARCHIVE_AUTO, 0, 0, 0, NULL, err, sizeof(err)), -EBADMSG);
	assert_true(str_has_prefix(err, "big: corrupt file data: "));
	assert_outside_untouched(s);
}

/* Setuid, setgid and sticky bits dropped; directories at most 0755 and
 * always u+rwx. */
static void test_modes(void **state)
{
	struct scratch *s = *state;
	const struct ent e[] = {
		{ "suid", T_FILE, 04755, "x", 0, false },
		{ "sgid", T_FILE, 02711, "x", 0, false },
		{ "open", T_FILE, 0777, "x", 0, false },
		{ "sticky/", T_DIR, 01777, NULL, 0, false },
		{ "setgid-dir/", T_DIR, 02775, NULL, 0, false },
		{ "locked/", T_DIR, 0100, NULL, 0, false },
		{ "locked/inside", T_FILE, 0400, "y", 0, false },
	};
	assert_true(build_tar(s->archive, ARCHIVE_FILTER_GZIP, e, ELEMENTSOF(e)));
	char err[512];
	assert_int_equal(unpack_file(s->archive, s->dfd, ARCHIVE_AUTO, 0, 0, 0, NULL, err, sizeof(err)), 0);
	assert_int_equal(mode_of(s->staging, "suid"), 0755);
	assert_int_equal(mode_of(s->staging, "sgid"), 0711);
	assert_int_equal(mode_of(s->staging, "open"), 0777);
	assert_int_equal(mode_of(s->staging, "sticky"), 0755);
	assert_int_equal(mode_of(s->staging, "setgid-dir"), 0755);
	assert_int_equal(mode_of(s->staging, "locked"), 0700);
	assert_file(s->staging, "locked/inside", "y", 0400);
	/* File times come from the archive. */
	char p[PATH_MAX];
	struct stat st;
	pf(p, sizeof(p), "%s/suid", s->staging);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mtime, MTIME);
	assert_outside_untouched(s);
}

/* A duplicate file entry replaces the first one, as with tar. */
static void test_duplicate_file(void **state)
{
	struct scratch *s = *state;
	const struct ent e[] = {
		{ "f", T_FILE, 0644, "old", 0, false },
		{ "f", T_FILE, 0600, "new", 0, false },
		{ "l", T_LINK, 0, "f", 0, false },
		{ "l", T_FILE, 0644, "was a link", 0, false },
	};
	assert_true(build_tar(s->archive, ARCHIVE_FILTER_NONE, e, ELEMENTSOF(e)));
	char err[512];
	assert_int_equal(unpack_file(s->archive, s->dfd, ARCHIVE_AUTO, 0, 0, 0, NULL, err, sizeof(err)), 0);
	assert_file(s->staging, "f", "new", 0600);
	assert_file(s->staging, "l", "was a link", 0644);
	assert_outside_untouched(s);
}

/* ---- hostile archives -------------------------------------------------- */

static void reset_staging(struct scratch *s)
{
	close(s->dfd);
	rm_rf(s->staging);
	assert_int_equal(mkdir(s->staging, 0700), 0);
	s->dfd = open(s->staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(s->dfd >= 0);
}

static void hostile_as(void **state, enum fmt fmt, const struct ent *e, size_t n, unsigned strip, int expect,
                       const char *expect_err)
{
	struct scratch *s = *state;
	reset_staging(s);
	if (fmt == F_ZIP)
		build_zip(s->archive, e, n);
	else if (fmt == F_DEB)
		build_deb(s->archive, ARCHIVE_FILTER_XZ, "data.tar.xz", e, n);
	else
		assert_true(build_tar(s->archive, ARCHIVE_FILTER_GZIP, e, n));
	char err[512] = "";
	struct unpack_stats st = { 77, 77 };
	int r = unpack_file(s->archive, s->dfd, ARCHIVE_AUTO, strip, 0, 0, &st, err, sizeof(err));
	assert_string_equal(err, expect_err);
	assert_int_equal(r, expect);
	assert_int_equal(st.entries, 77); /* untouched on failure */
	assert_outside_untouched(s);
}

static void hostile(void **state, const struct ent *e, size_t n, int expect, const char *expect_err)
{
	hostile_as(state, F_TAR, e, n, 0, expect, expect_err);
}

static void test_dotdot(void **state)
{
	const struct ent e[] = { { "../outside/evil", T_FILE, 0644, "evil", 0, false } };
	hostile(state, e, 1, -EBADMSG, "../outside/evil: path has a \"..\" component");
	const struct ent e2[] = { { "a/b/../../../outside/sentinel", T_FILE, 0644, "evil", 0, false } };
	hostile(state, e2, 1, -EBADMSG, "a/b/../../../outside/sentinel: path has a \"..\" component");
	hostile_as(state, F_ZIP, e, 1, 0, -EBADMSG, "../outside/evil: path has a \"..\" component");
	/* Even when strip_components would remove the "..". */
	const struct ent e3[] = { { "../x", T_FILE, 0644, "evil", 0, false } };
	hostile_as(state, F_TAR, e3, 1, 1, -EBADMSG, "../x: path has a \"..\" component");
}

static void test_absolute(void **state)
{
	struct scratch *s = *state;
	char abs[PATH_MAX + 16];
	pf(abs, sizeof(abs), "%s/outside/evil", s->root);
	const struct ent e[] = { { "/abs/evil", T_FILE, 0644, "evil", 0, false } };
	hostile(state, e, 1, -EBADMSG, "/abs/evil: absolute path");
	const struct ent e2[] = { { abs, T_FILE, 0644, "evil", 0, false } };
	char want[PATH_MAX + 64];
	pf(want, sizeof(want), "%s: absolute path", abs);
	hostile(state, e2, 1, -EBADMSG, want);
	hostile_as(state, F_DEB, e, 1, 0, -EBADMSG, "/abs/evil: absolute path");
	hostile_as(state, F_ZIP, e, 1, 0, -EBADMSG, "/abs/evil: absolute path");
}

static void test_symlink_absolute_then_through(void **state)
{
	const struct ent e[] = {
		{ "link", T_LINK, 0, "/etc", 0, false },
		{ "link/passwd", T_FILE, 0644, "root::0:0::/:/bin/sh\n", 0, false },
	};
	hostile(state, e, 2, -EBADMSG, "link: symlink to the absolute path \"/etc\" refused");
	hostile_as(state, F_ZIP, e, 2, 0, -EBADMSG, "link: symlink to the absolute path \"/etc\" refused");
}

/* Even an in-tree symlink is never passed through. */
static void test_through_symlink(void **state)
{
	const struct ent e[] = {
		{ "dir/", T_DIR, 0755, NULL, 0, false },
		{ "link", T_LINK, 0, "dir", 0, false },
		{ "link/file", T_FILE, 0644, "x", 0, false },
	};
	hostile(state, e, 3, -EBADMSG, "link/file: passes through the symlink \"link\"");
	const struct ent e2[] = {
		{ "a/b/", T_DIR, 0755, NULL, 0, false },
		{ "a/b/c", T_LINK, 0, ".", 0, false },
		{ "a/b/c/d/e", T_FILE, 0644, "x", 0, false },
	};
	hostile(state, e2, 3, -EBADMSG, "a/b/c/d/e: passes through the symlink \"a/b/c\"");
	const struct ent e3[] = {
		{ "f", T_FILE, 0644, "x", 0, false },
		{ "f/g", T_FILE, 0644, "x", 0, false },
	};
	hostile(state, e3, 2, -EBADMSG, "f/g: passes through \"f\", which is not a directory");
}

static void test_symlink_escapes(void **state)
{
	const struct ent e[] = { { "up", T_LINK, 0, "../../outside", 0, false } };
	hostile(state, e, 1, -EBADMSG, "up: symlink target \"../../outside\" leaves the tree");
	const struct ent e2[] = { { "a/up", T_LINK, 0, "../../outside/sentinel", 0, false } };
	hostile(state, e2, 1, -EBADMSG, "a/up: symlink target \"../../outside/sentinel\" leaves the tree");
	/* "a/s -> .." is fine, but "a/l -> s/../.." would climb from where s leads. */
	const struct ent e3[] = {
		{ "a/s", T_LINK, 0, "..", 0, false },
		{ "a/l", T_LINK, 0, "s/../../outside", 0, false },
	};
	hostile(state, e3, 2, -EBADMSG, "a/l: symlink target \"s/../../outside\" climbs after descending");
	/* strip_components counts: "x/y/up -> ../z" is at the top after stripping 2. */
	const struct ent e4[] = { { "x/y/up", T_LINK, 0, "../z", 0, false } };
	hostile_as(state, F_TAR, e4, 1, 2, -EBADMSG, "x/y/up: symlink target \"../z\" leaves the tree");
	hostile_as(state, F_ZIP, e, 1, 0, -EBADMSG, "up: symlink target \"../../outside\" leaves the tree");
}

static void test_symlink_inside_ok(void **state)
{
	struct scratch *s = *state;
	const struct ent e[] = {
		{ "a/b/c", T_LINK, 0, "../../top", 0, false },
		{ "a/s", T_LINK, 0, "..", 0, false },
		{ "a/t", T_LINK, 0, "./../a/./b", 0, false },
	};
	assert_true(build_tar(s->archive, ARCHIVE_FILTER_GZIP, e, ELEMENTSOF(e)));
	char err[512];
	assert_int_equal(unpack_file(s->archive, s->dfd, ARCHIVE_AUTO, 0, 0, 0, NULL, err, sizeof(err)), 0);
	assert_link(s->staging, "a/b/c", "../../top");
	assert_link(s->staging, "a/s", "..");
	assert_link(s->staging, "a/t", "./../a/./b");
	assert_outside_untouched(s);
}

static void test_hardlinks(void **state)
{
	const struct ent e[] = { { "shadow", T_HARDLINK, 0, "/etc/shadow", 0, false } };
	hostile(state, e, 1, -EBADMSG, "shadow: hard link (to \"/etc/shadow\") refused");
	const struct ent e2[] = {
		{ "a", T_FILE, 0644, "data", 0, false },
		{ "b", T_HARDLINK, 0, "a", 0, false },
	};
	hostile(state, e2, 2, -EBADMSG, "b: hard link (to \"a\") refused");
	hostile_as(state, F_DEB, e2, 2, 0, -EBADMSG, "b: hard link (to \"a\") refused");
}

static void test_special_files(void **state)
{
	const struct ent e[] = { { "dev/null", T_CHR, 0666, NULL, 0, false } };
	hostile(state, e, 1, -EBADMSG, "dev/null: character device refused");
	const struct ent e2[] = { { "fifo", T_FIFO, 0644, NULL, 0, false } };
	hostile(state, e2, 1, -EBADMSG, "fifo: fifo refused");
	/* Refused even where strip_components would skip it. */
	hostile_as(state, F_TAR, e2, 1, 3, -EBADMSG, "fifo: fifo refused");
}

static void test_dir_replaced_by_symlink(void **state)
{
	const struct ent e[] = {
		{ "d/", T_DIR, 0755, NULL, 0, false },
		{ "d/f", T_FILE, 0644, "x", 0, false },
		{ "d", T_LINK, 0, "f", 0, false },
	};
	hostile(state, e, 3, -EBADMSG, "d: a directory replaced by a symlink");
	const struct ent e2[] = {
		{ "d/f", T_FILE, 0644, "x", 0, false },
		{ "d", T_FILE, 0644, "x", 0, false },
	};
	hostile(state, e2, 2, -EBADMSG, "d: a directory replaced by a file");
	const struct ent e3[] = {
		{ "l", T_LINK, 0, "x", 0, false },
		{ "l/", T_DIR, 0755, NULL, 0, false },
	};
	hostile(state, e3, 2, -EBADMSG, "l/: a symlink replaced by a directory");
}

/* 100,001 entries: refused at the last one.  They are directory entries
 * (16 names, repeated) so that the test does not spend its time creating
 * 100,000 inodes; test_max_entries counts files and skipped entries. */
static void test_too_many_entries(void **state)
{
	size_t n = 100001;
	struct ent *e = calloc(n, sizeof(*e));
	char (*names)[16] = calloc(n, sizeof(*names));
	assert_non_null(e);
	assert_non_null(names);
	for (size_t i = 0; i < n; i++) {
		pf(names[i], sizeof(names[i]), "d%02zu/", i % 16);
		e[i] = (struct ent){ names[i], T_DIR, 0755, NULL, 0, false };
	}
	hostile(state, e, n, -EFBIG, "d00/: more than 100000 entries");
	free(e);
	free(names);
}

/* A lower limit; entries skipped by strip_components count too. */
static void test_max_entries(void **state)
{
	struct scratch *s = *state;
	const struct ent e[] = {
		{ "top1", T_FILE, 0644, "", 0, false },
		{ "top2", T_FILE, 0644, "", 0, false },
		{ "p/a", T_FILE, 0644, "", 0, false },
		{ "p/b", T_FILE, 0644, "", 0, false },
	};
	assert_true(build_tar(s->archive, ARCHIVE_FILTER_GZIP, e, ELEMENTSOF(e)));
	char err[512];
	struct unpack_stats st;
	assert_int_equal(unpack_file(s->archive, s->dfd, ARCHIVE_AUTO, 1, 0, 3, &st, err, sizeof(err)), -EFBIG);
	assert_string_equal(err, "p/b: more than 3 entries");
	reset_staging(s);
	assert_int_equal(unpack_file(s->archive, s->dfd, ARCHIVE_AUTO, 1, 0, 4, &st, err, sizeof(err)), 0);
	assert_int_equal(st.entries, 2);
	assert_file(s->staging, "a", "", 0644);
	assert_outside_untouched(s);
}

static uint64_t staged_size(const struct scratch *s, const char *rel)
{
	char p[PATH_MAX];
	struct stat st;
	pf(p, sizeof(p), "%s/%s", s->staging, rel);
	if (lstat(p, &st) < 0)
		return 0;
	return (uint64_t)st.st_size;
}

/* 200 MB of zeros (about 200 KB of gzip) with max_bytes 100 MB: refused
 * from the header's size, before any data is written. */
static void test_bomb_tar_gz(void **state)
{
	struct scratch *s = *state;
	const struct ent e[] = {
		{ "ok", T_FILE, 0644, "fine", 0, false },
		{ "zero", T_FILE, 0644, NULL, 200u << 20, false },
	};
	if (!build_tar(s->archive, ARCHIVE_FILTER_GZIP, e, 2))
		skip();
	struct stat ast;
	assert_int_equal(stat(s->archive, &ast), 0);
	assert_true(ast.st_size < 1 << 20);
	char err[512];
	double t0 = now_sec();
	int r = unpack_file(s->archive, s->dfd, ARCHIVE_AUTO, 0, 100u << 20, 0, NULL, err, sizeof(err));
	assert_true(now_sec() - t0 < 5);
	assert_int_equal(r, -EFBIG);
	assert_string_equal(err, "zero: file data exceeds the limit of 104857600 bytes");
	assert_true(staged_size(s, "zero") == 0);
	assert_outside_untouched(s);
}

/* A 10 GiB sparse file in a 4 KiB-data archive: its size counts. */
static void test_bomb_sparse(void **state)
{
	struct scratch *s = *state;
	const struct ent e[] = { { "sparse", T_SPARSE, 0644, NULL, UINT64_C(10) << 30, false } };
	assert_true(build_tar(s->archive, ARCHIVE_FILTER_GZIP, e, 1));
	char err[512];
	assert_int_equal(unpack_file(s->archive, s->dfd, ARCHIVE_AUTO, 0, 0, 0, NULL, err, sizeof(err)), -EFBIG);
	assert_string_equal(err, "sparse: file data exceeds the limit of 4294967296 bytes");
	assert_outside_untouched(s);
}

/* Without a size in the header (a zip entry with a data descriptor, read
 * from a pipe: libarchive's streaming zip reader), the data is counted as
 * it is written and writing stops at the cap. */
static void test_bomb_streamed_zip(void **state)
{
	struct scratch *s = *state;
	const struct ent e[] = { { "zero", T_FILE, 0644, NULL, 200u << 20, true } };
	build_zip(s->archive, e, 1);
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		int fd = open(s->archive, O_RDONLY);
		char buf[65536];
		ssize_t n;
		while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
			if (write(p[1], buf, (size_t)n) != n)
				break;
		_exit(0);
	}
	close(p[1]);
	struct unpack_opts o = { .format = ARCHIVE_ZIP, .max_bytes = 100u << 20 };
	char err[512];
	int r = unpack_archive(p[0], s->dfd, &o, NULL, err, sizeof(err));
	close(p[0]);
	int status;
	waitpid(pid, &status, 0);
	assert_int_equal(r, -EFBIG);
	assert_string_equal(err, "zero: file data exceeds the limit of 104857600 bytes");
	uint64_t got = staged_size(s, "zero");
	assert_true(got > 0 && got <= 100u << 20);
	assert_outside_untouched(s);
}

/* A sparse file within the cap: holes recreated, the logical size counted. */
static void test_sparse_ok(void **state)
{
	struct scratch *s = *state;
	const struct ent e[] = { { "sparse", T_SPARSE, 0644, NULL, 10u << 20, false } };
	assert_true(build_tar(s->archive, ARCHIVE_FILTER_GZIP, e, 1));
	char err[512];
	struct unpack_stats st;
	assert_int_equal(unpack_file(s->archive, s->dfd, ARCHIVE_AUTO, 0, 0, 0, &st, err, sizeof(err)), 0);
	assert_int_equal(st.bytes, 10u << 20);
	assert_int_equal(staged_size(s, "sparse"), 10u << 20);
	char p[PATH_MAX];
	struct stat sst;
	pf(p, sizeof(p), "%s/sparse", s->staging);
	assert_int_equal(stat(p, &sst), 0);
	assert_true(sst.st_blocks * 512 < (1 << 20)); /* still sparse */
	assert_outside_untouched(s);
}

static void test_empty_archive(void **state)
{
	struct scratch *s = *state;
	assert_true(build_tar(s->archive, ARCHIVE_FILTER_GZIP, NULL, 0));
	char err[512];
	struct unpack_stats st = { 1, 1 };
	assert_int_equal(unpack_file(s->archive, s->dfd, ARCHIVE_AUTO, 0, 0, 0, &st, err, sizeof(err)), 0);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.bytes, 0);
}

/* Deeper than UNPACK_MAX_DEPTH: refused (the tree stays removable). */
static void test_too_deep(void **state)
{
	struct scratch *s = *state;
	char deep[2 * (UNPACK_MAX_DEPTH + 1) + 1] = "";
	for (int i = 0; i <= UNPACK_MAX_DEPTH; i++)
		strcat(deep, i ? "/a" : "a");
	const struct ent e[] = { { deep, T_FILE, 0644, "x", 0, false } };
	assert_true(build_tar(s->archive, ARCHIVE_FILTER_GZIP, e, 1));
	char err[512];
	assert_int_equal(unpack_file(s->archive, s->dfd, ARCHIVE_AUTO, 0, 0, 0, NULL, err, sizeof(err)), -EBADMSG);
	/* Long paths are cut in the message. */
	assert_true(str_has_prefix(err, "a/a/a/a/"));
	assert_true(str_has_suffix(err, "a/...: more than 256 path components"));
	assert_true(strlen(err) < 400);
	assert_outside_untouched(s);
}

/* Control characters in a path do not reach the message raw. */
static void test_err_escaped(void **state)
{
	const struct ent e[] = { { "bad\nname/../x", T_FILE, 0644, "x", 0, false } };
	hostile(state, e, 1, -EBADMSG, "bad\\x0aname/../x: path has a \"..\" component");
}

/* ---- install ----------------------------------------------------------- */

#define PREFIX "/opt/meshboot"
#define COMP "sidecar"
#define D1 "1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"

struct iroot {
	char dir[PATH_MAX];      /* scratch */
	char root[PATH_MAX];     /* dir/root */
	char comp[PATH_MAX];     /* root/opt/meshboot/sidecar */
	char outside[PATH_MAX];  /* dir/outside, holds a sentinel */
};

static int isetup(void **state)
{
	struct iroot *t = calloc(1, sizeof(*t));
	assert_non_null(t);
	strcpy(t->dir, "/tmp/meshboot-install-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	pf(t->root, sizeof(t->root), "%s/root", t->dir);
	pf(t->comp, sizeof(t->comp), "%s%s/%s", t->root, PREFIX, COMP);
	pf(t->outside, sizeof(t->outside), "%s/outside", t->dir);
	assert_int_equal(mkdir(t->root, 0755), 0);
	assert_int_equal(mkdir(t->outside, 0755), 0);
	char p[PATH_MAX + 16];
	pf(p, sizeof(p), "%s/sentinel", t->outside);
	write_file(p, SENTINEL_TEXT);
	*state = t;
	return 0;
}

static int iteardown(void **state)
{
	struct iroot *t = *state;
	rm_rf(t->dir);
	free(t);
	return 0;
}

static void assert_outside_only_sentinel(const struct iroot *t)
{
	char p[PATH_MAX + 16];
	pf(p, sizeof(p), "%s/sentinel", t->outside);
	char *text = read_file(p);
	assert_string_equal(text, SENTINEL_TEXT);
	free(text);
	DIR *d = opendir(t->outside);
	assert_non_null(d);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n++;
	closedir(d);
	assert_int_equal(n, 3); /* ".", "..", "sentinel" */
}

/* Stage a small tree (through unpack_archive) and commit it. */
static int install_version(const struct iroot *t, const char *root, const char *version, const char *digest,
                           char *err, size_t errlen)
{
	int dfd = -1;
	char *staging = NULL;
	int r = install_staging_create(root, PREFIX, COMP, &dfd, &staging, err, errlen);
	if (r < 0)
		return r;
	assert_int_equal(r, 0);
	char archive[PATH_MAX + 16];
	pf(archive, sizeof(archive), "%s/a.tar.gz", t->dir);
	const struct ent e[] = {
		{ "sidecar-x/bin/envoy", T_FILE, 0755, version, 0, false },
		{ "sidecar-x/bin/pilot-agent", T_LINK, 0, "envoy", 0, false },
	};
	assert_true(build_tar(archive, ARCHIVE_FILTER_GZIP, e, 2));
	assert_int_equal(unpack_file(archive, dfd, ARCHIVE_TAR_GZ, 1, 0, 0, NULL, err, errlen), 0);
	unlink(archive);
	r = install_commit(root, PREFIX, COMP, staging, version, digest, err, errlen);
	char p[PATH_MAX + 128];
	pf(p, sizeof(p), "%s%s", root, staging);
	struct stat st;
	if (r >= 0)
		assert_int_equal(lstat(p, &st), -1); /* renamed (1) or removed (0) by the commit */
	install_staging_remove(root, staging);
	assert_int_equal(lstat(p, &st), -1);
	close(dfd);
	free(staging);
	return r;
}

static void assert_current(const struct iroot *t, const char *name)
{
	char p[PATH_MAX + 16];
	pf(p, sizeof(p), "%s/current", t->comp);
	struct stat st;
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_link(t->comp, "current", name);
	assert_null(strchr(name, '/'));
	char f[PATH_MAX + 32];
	pf(f, sizeof(f), "%s/current/bin/envoy", t->comp);
	char *text = read_file(f);
	assert_true(str_has_prefix(name, text)); /* the file holds the version */
	free(text);
}

static bool exists(const struct iroot *t, const char *rel)
{
	char p[PATH_MAX + 128];
	struct stat st;
	pf(p, sizeof(p), "%s/%s", t->comp, rel);
	return lstat(p, &st) == 0;
}

static void test_install_lifecycle(void **state)
{
	struct iroot *t = *state;
	char err[512];
	int fds = count_fds();

	/* Nothing there yet. */
	assert_int_equal(install_is_current(t->root, PREFIX, COMP, "1.0", D1, err, sizeof(err)), 0);
	assert_int_equal(install_rollback(t->root, PREFIX, COMP, err, sizeof(err)), -ENOENT);

	/* First install. */
	assert_int_equal(install_version(t, t->root, "1.0", D1, err, sizeof(err)), 1);
	assert_current(t, "1.0-111111111111");
	assert_false(exists(t, "previous"));
	assert_int_equal(mode_of(t->comp, "1.0-111111111111"), 0755);
	assert_link(t->comp, "1.0-111111111111/bin/pilot-agent", "envoy");
	assert_int_equal(install_is_current(t->root, PREFIX, COMP, "1.0", D1, err, sizeof(err)), 1);
	assert_int_equal(install_rollback(t->root, PREFIX, COMP, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, PREFIX "/" COMP ": no previous version to roll back to");

	/* Again: 0, nothing touched. */
	char vp[PATH_MAX + 32], cp[PATH_MAX + 32];
	pf(vp, sizeof(vp), "%s/1.0-111111111111", t->comp);
	pf(cp, sizeof(cp), "%s/current", t->comp);
	struct stat v0, c0, v1, c1;
	assert_int_equal(lstat(vp, &v0), 0);
	assert_int_equal(lstat(cp, &c0), 0);
	assert_int_equal(install_version(t, t->root, "1.0", D1, err, sizeof(err)), 0);
	assert_int_equal(lstat(vp, &v1), 0);
	assert_int_equal(lstat(cp, &c1), 0);
	assert_int_equal(v0.st_ino, v1.st_ino);
	assert_int_equal(c0.st_ino, c1.st_ino);
	assert_memory_equal(&v0.st_mtim, &v1.st_mtim, sizeof(v0.st_mtim));
	assert_memory_equal(&c0.st_mtim, &c1.st_mtim, sizeof(c0.st_mtim));
	assert_memory_equal(&v0.st_ctim, &v1.st_ctim, sizeof(v0.st_ctim));

	/* Second version: the first is kept as previous. */
	assert_int_equal(install_version(t, t->root, "2.0", D2, err, sizeof(err)), 1);
	assert_current(t, "2.0-222222222222");
	assert_link(t->comp, "previous", "1.0-111111111111");
	assert_true(exists(t, "1.0-111111111111/bin/envoy"));

	/* A stale staging directory, and one in use by another install. */
	char stale[PATH_MAX + 64];
	pf(stale, sizeof(stale), "%s/.staging-stale", t->comp);
	assert_int_equal(mkdir(stale, 0700), 0);
	pf(stale, sizeof(stale), "%s/.staging-stale/file", t->comp);
	write_file(stale, "x");
	int busy_fd;
	char *busy;
	assert_int_equal(install_staging_create(t->root, PREFIX, COMP, &busy_fd, &busy, err, sizeof(err)), 0);

	/* Third version: the first is removed, stale staging too. */
	assert_int_equal(install_version(t, t->root, "3.0-rc.1", D3, err, sizeof(err)), 1);
	assert_current(t, "3.0-rc.1-abcdef012345");
	assert_link(t->comp, "previous", "2.0-222222222222");
	assert_false(exists(t, "1.0-111111111111"));
	assert_false(exists(t, ".staging-stale"));
	char bp[PATH_MAX + 128];
	pf(bp, sizeof(bp), "%s%s", t->root, busy);
	struct stat st;
	assert_int_equal(stat(bp, &st), 0); /* locked: kept */
	install_staging_remove(t->root, busy);
	assert_int_equal(stat(bp, &st), -1);
	close(busy_fd);
	free(busy);

	/* Rollback: current <-> previous; again goes forward. */
	assert_int_equal(install_rollback(t->root, PREFIX, COMP, err, sizeof(err)), 1);
	assert_current(t, "2.0-222222222222");
	assert_link(t->comp, "previous", "3.0-rc.1-abcdef012345");
	assert_int_equal(install_rollback(t->root, PREFIX, COMP, err, sizeof(err)), 1);
	assert_current(t, "3.0-rc.1-abcdef012345");
	assert_int_equal(install_rollback(t->root, PREFIX, COMP, err, sizeof(err)), 1);
	assert_current(t, "2.0-222222222222");

	/* Re-installing the version that is now previous: fresh tree swapped in. */
	assert_int_equal(install_version(t, t->root, "3.0-rc.1", D3, err, sizeof(err)), 1);
	assert_current(t, "3.0-rc.1-abcdef012345");
	assert_link(t->comp, "previous", "2.0-222222222222");

	/* Only the two versions, the two links. */
	DIR *d = opendir(t->comp);
	assert_non_null(d);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n++;
	closedir(d);
	assert_int_equal(n, 6);
	assert_outside_only_sentinel(t);
	assert_int_equal(count_fds(), fds);
}

static void test_install_bad_args(void **state)
{
	struct iroot *t = *state;
	char err[512];
	int fd;
	char *sp;
	assert_int_equal(install_staging_create(t->root, "opt", COMP, &fd, &sp, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "install prefix \"opt\" is not an absolute path");
	assert_int_equal(install_staging_create(t->root, "/opt/../..", COMP, &fd, &sp, err, sizeof(err)), -EINVAL);
	assert_int_equal(install_staging_create(t->root, PREFIX, "../x", &fd, &sp, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "invalid component name \"../x\"");
	assert_int_equal(install_commit(t->root, PREFIX, COMP, "/opt/meshboot/sidecar/.staging-x", "../1", D1, err,
	                                sizeof(err)), -EINVAL);
	assert_string_equal(err, "invalid version \"../1\"");
	assert_int_equal(install_commit(t->root, PREFIX, COMP, "/opt/meshboot/sidecar/.staging-x", "1", "ABC", err,
	                                sizeof(err)), -EINVAL);
	assert_int_equal(install_commit(t->root, PREFIX, COMP, "/etc", "1", D1, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "\"/etc\" is not a staging directory of /opt/meshboot/sidecar");
	/* install_staging_remove refuses anything but a staging directory. */
	char etc[PATH_MAX + 8];
	pf(etc, sizeof(etc), "%s/etc", t->root);
	assert_int_equal(mkdir(etc, 0755), 0);
	install_staging_remove(t->root, "/etc");
	struct stat st;
	assert_int_equal(stat(etc, &st), 0);
}

/* opt -> <outside> (absolute, outside the root on the host): resolved
 * inside the root, so nothing lands in the real directory. */
static void test_install_absolute_symlink_in_root(void **state)
{
	struct iroot *t = *state;
	char link[PATH_MAX + 8];
	pf(link, sizeof(link), "%s/opt", t->root);
	assert_int_equal(symlink(t->outside, link), 0);
	char err[512];
	int fd;
	char *sp;
	/* Dangling inside the root: refused. */
	assert_int_equal(install_staging_create(t->root, PREFIX, COMP, &fd, &sp, err, sizeof(err)), -ENOENT);
	char want[PATH_MAX + 64];
	pf(want, sizeof(want), "/opt: a dangling symlink (resolved inside %s)", t->root);
	assert_string_equal(err, want);
	assert_int_equal(install_version(t, t->root, "1.0", D1, err, sizeof(err)), -ENOENT);
	assert_outside_only_sentinel(t);

	/* With the same path inside the root: installed there. */
	char inside[PATH_MAX * 2];
	pf(inside, sizeof(inside), "mkdir -p '%s%s'", t->root, t->outside);
	assert_int_equal(system(inside), 0);
	assert_int_equal(install_version(t, t->root, "1.0", D1, err, sizeof(err)), 1);
	assert_int_equal(install_version(t, t->root, "2.0", D2, err, sizeof(err)), 1);
	assert_int_equal(install_rollback(t->root, PREFIX, COMP, err, sizeof(err)), 1);
	pf(inside, sizeof(inside), "%s%s/meshboot/" COMP "/current/bin/envoy", t->root, t->outside);
	char *text = read_file(inside);
	assert_string_equal(text, "1.0");
	free(text);
	assert_outside_only_sentinel(t);
}

/* A planted previous -> /absolute is not followed by rollback; a planted
 * component directory symlink is refused. */
static void test_install_planted_links(void **state)
{
	struct iroot *t = *state;
	char err[512];
	assert_int_equal(install_version(t, t->root, "1.0", D1, err, sizeof(err)), 1);
	char p[PATH_MAX + 16];
	pf(p, sizeof(p), "%s/previous", t->comp);
	assert_int_equal(symlink(t->outside, p), 0);
	assert_int_equal(install_rollback(t->root, PREFIX, COMP, err, sizeof(err)), -EINVAL);
	assert_true(strstr(err, "not a version here") != NULL);
	assert_current(t, "1.0-111111111111");
	/* current -> /outside: replaced, and not kept as previous. */
	assert_int_equal(unlink(p), 0);
	pf(p, sizeof(p), "%s/current", t->comp);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink(t->outside, p), 0);
	assert_int_equal(install_version(t, t->root, "2.0", D2, err, sizeof(err)), 1);
	assert_current(t, "2.0-222222222222");
	assert_false(exists(t, "previous"));
	assert_false(exists(t, "1.0-111111111111")); /* not referenced: removed */
	/* The component directory itself a symlink: refused. */
	char other[PATH_MAX + 16];
	pf(other, sizeof(other), "%s/opt/meshboot/other", t->root);
	assert_int_equal(symlink("/opt/meshboot/sidecar", other), 0);
	int fd;
	char *sp;
	assert_int_equal(install_staging_create(t->root, PREFIX, "other", &fd, &sp, err, sizeof(err)), -ENOTDIR);
	assert_string_equal(err, "/opt/meshboot/other is not a directory (a symlink or a file)");
	assert_outside_only_sentinel(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good_tar_gz, setup, teardown),
		cmocka_unit_test_setup_teardown(test_good_tar_xz, setup, teardown),
		cmocka_unit_test_setup_teardown(test_good_tar_zst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_good_plain_tar, setup, teardown),
		cmocka_unit_test_setup_teardown(test_good_zip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_good_zip_auto, setup, teardown),
		cmocka_unit_test_setup_teardown(test_good_deb, setup, teardown),
		cmocka_unit_test_setup_teardown(test_good_deb_auto_gz_zst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deb_without_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dotdot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_absolute, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_absolute_then_through, setup, teardown),
		cmocka_unit_test_setup_teardown(test_through_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_escapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_inside_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hardlinks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_special_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_replaced_by_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bomb_tar_gz, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bomb_sparse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bomb_streamed_zip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sparse_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_archive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_deep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_err_escaped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_lifecycle, isetup, iteardown),
		cmocka_unit_test_setup_teardown(test_install_bad_args, isetup, iteardown),
		cmocka_unit_test_setup_teardown(test_install_absolute_symlink_in_root, isetup, iteardown),
		cmocka_unit_test_setup_teardown(test_install_planted_links, isetup, iteardown),
	};
	if (getenv("TEST_FILTER")) /* e.g. TEST_FILTER='test_install_*' */
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
