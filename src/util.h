/* SPDX-License-Identifier: Apache-2.0 */
/* Small shared helpers: cleanup attributes, a growable string buffer,
 * root-relative file access.  Error convention everywhere in meshboot:
 * functions return >= 0 on success and a negative errno on failure. */
#pragma once

#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd) { if (*fd >= 0) close(*fd); }
static inline void fclosep(FILE **f) { if (*f) fclose(*f); }
#define _cleanup_free_ __attribute__((cleanup(freep)))
#define _cleanup_close_ __attribute__((cleanup(closep)))
#define _cleanup_fclose_ __attribute__((cleanup(fclosep)))

/* Growable NUL-terminated buffer.  On allocation failure the buffer
 * remembers it (oom) and later appends are no-ops; check sb_ok() once. */
struct strbuf {
	char *buf;
	size_t len, cap;
	bool oom;
};

void sb_init(struct strbuf *sb);
void sb_free(struct strbuf *sb);
void sb_append(struct strbuf *sb, const char *s, size_t n);
void sb_puts(struct strbuf *sb, const char *s);
void sb_putc(struct strbuf *sb, char c);
void sb_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_vprintf(struct strbuf *sb, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* JSON string literal, quotes included; invalid UTF-8 bytes become U+FFFD. */
void sb_json_str(struct strbuf *sb, const char *s);
/* Returns 0, or -ENOMEM if any append failed. */
int sb_ok(const struct strbuf *sb);
/* Hands the buffer to the caller (never NULL unless oom) and resets sb. */
char *sb_steal(struct strbuf *sb);
static inline void sb_freep(struct strbuf *sb) { sb_free(sb); }
#define _cleanup_sb_ __attribute__((cleanup(sb_freep)))

/* The error convention of library functions that explain themselves:
 * format into err (if err and len), return r. */
int err_fmt(char *err, size_t len, int r, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

bool str_has_prefix(const char *s, const char *prefix);
bool str_has_suffix(const char *s, const char *suffix);
char *xstrdup_or_null(const char *s);

/* Join root and an absolute path ("/" root gives the path unchanged).
 * Returns a malloc'd string or NULL on ENOMEM. */
char *path_in_root(const char *root, const char *abs_path);

/* Read a whole regular file (opened O_NOFOLLOW|O_CLOEXEC) up to max bytes.
 * -EFBIG when larger, -ENOENT etc. as from open(2).  *out is NUL-terminated. */
int file_read_all(const char *path, size_t max, char **out, size_t *out_len);
/* Open path inside root as if root were "/": symlinks (also absolute
 * ones) resolve within root, ".." cannot leave it, magic links (/proc/PID/fd)
 * are refused (openat2 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS).  Where
 * openat2 is refused (ENOSYS: a seccomp filter such as systemd's
 * RestrictSUIDSGID=) and root is "/", a plain openat: the same lookup, but
 * magic links are followed.  Under another root that is an error.
 * O_CLOEXEC is added.  Returns an fd or a negative errno. */
int root_open(const char *root, const char *path, int flags, mode_t mode);
/* file_read_all for a path inside root (see root_open); the last component
 * must not be a symlink. */
int root_read_all(const char *root, const char *path, size_t max, char **out, size_t *out_len);
/* Make the directory path (and its parents) inside root, as root_open
 * resolves it (symlinks stay inside root); new directories get mode.
 * Returns an O_DIRECTORY fd of path, or -errno. */
int root_mkdir_p(const char *root, const char *path, mode_t mode);

/* Write a file atomically: a temp file in the same directory (created with
 * mode, O_EXCL|O_NOFOLLOW), fsync, rename over path, fsync the directory.
 * The directory must exist.  0 or -errno; on failure path is unchanged. */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* The same for the entry name in the directory dfd. */
int dirfd_write_atomic(int dfd, const char *name, const void *data, size_t len, mode_t mode);
/* The same, the temp file chowned to uid:gid before the rename (-1: keep). */
int dirfd_write_atomic_owned(int dfd, const char *name, const void *data, size_t len, mode_t mode, uid_t uid,
                             gid_t gid);

/* Remove ".BASE.XXXXXXXX.tmp" entries in dfd: the temp files (or links)
 * of a writer of BASE killed before its rename.  Best effort; the atomic
 * writers call it before they write. */
void dirfd_tmp_stale_remove(int dfd, const char *base);
/* The directory name ("." for dfd itself) under dfd, not through a
 * symlink, as a DIR stream; NULL with errno set on failure. */
DIR *dirfd_opendir(int dfd, const char *name);

/* Make path inside root a regular file with exactly this content, mode
 * and owner (uid/gid -1: root's default, 0): written atomically when
 * anything differs, untouched otherwise.  Parents are created 0755.  A
 * new file is created with mode (0600 for a secret: never wider, never
 * chmod-ed after); the old content read to compare is wiped.
 * 1 changed, 0 already so, negative errno. */
int root_file_ensure(const char *root, const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
                     gid_t gid);
/* rm -rf of path inside root, never following a symlink (a link is
 * removed, not its target).  1 removed, 0 absent, negative errno. */
int root_rm_rf(const char *root, const char *path);
/* The same for the entry name in the directory dfd. */
int dirfd_rm_rf(int dfd, const char *name);

/* A directory with this mode and owner (created or fixed).  1/0/-errno. */
int root_dir_ensure(const char *root, const char *path, mode_t mode, uid_t uid, gid_t gid);
/* Same for an fd (stdin). */
int fd_read_all(int fd, size_t max, char **out, size_t *out_len);
