/* SPDX-License-Identifier: Apache-2.0 */
/* Run once per instance, one run at a time (runonce.h). */
#include "autoconf.h"

#include "runonce.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

#define ID_FILE_MAX 4096

bool runonce_id_valid(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > RUNONCE_ID_MAX || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
		return false;
	return strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* A small regular file inside root (symlinks resolve inside root; a FIFO
 * or device is refused without blocking). */
static int read_small(const char *root, const char *path, char **out, size_t *len)
{
	_cleanup_close_ int fd = root_open(root, path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0);
	if (fd < 0)
		return fd;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	if (st.st_size > ID_FILE_MAX)
		return -EFBIG;
	return fd_read_all(fd, ID_FILE_MAX, out, len);
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

int runonce_instance_id(const char *root, char *out, size_t len)
{
	static const char *const files[] = { RUNONCE_CLOUD_INIT_ID, RUNONCE_MACHINE_ID };
	for (size_t f = 0; f < ELEMENTSOF(files); f++) {
		_cleanup_free_ char *text = NULL;
		size_t n = 0;
		int r = read_small(root, files[f], &text, &n);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		const char *s = text;
		while (n && is_space(*s))
			s++, n--;
		while (n && is_space(s[n - 1]))
			n--;
		if (n == 0 || (n == 13 && memcmp(s, "uninitialized", 13) == 0))
			continue;
		char id[RUNONCE_ID_MAX + 1];
		if (n <= RUNONCE_ID_MAX && !memchr(s, '\0', n)) {
			memcpy(id, s, n);
			id[n] = '\0';
		} else {
			id[0] = '\0';
		}
		if (!id[0] || !runonce_id_valid(id)) {
			unsigned char md[EVP_MAX_MD_SIZE];
			unsigned mdl = 0;
			if (EVP_Digest(s, n, md, &mdl, EVP_sha256(), NULL) != 1 || mdl != 32)
				return -EIO;
			for (unsigned i = 0; i < 32; i++)
				snprintf(id + 2 * i, 3, "%02x", md[i]);
		}
		if (strlen(id) >= len)
			return -ENOBUFS;
		strcpy(out, id);
		return 0;
	}
	return -ENOENT;
}

static int instance_dir(const char *id, char *buf, size_t len)
{
	if (!runonce_id_valid(id))
		return -EINVAL;
	int n = snprintf(buf, len, RUNONCE_INSTANCE_DIR "/%s", id);
	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

int runonce_done(const char *root, const char *id)
{
	char dir[256], path[300];
	int r = instance_dir(id, dir, sizeof(dir));
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/done", dir);
	_cleanup_close_ int fd = root_open(root, path, O_PATH | O_NOFOLLOW, 0);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode))
		return 1;
	return S_ISDIR(st.st_mode) ? -EISDIR : S_ISLNK(st.st_mode) ? -ELOOP : -EINVAL;
}

int runonce_mark(const char *root, const char *id)
{
	char dir[256];
	int r = instance_dir(id, dir, sizeof(dir));
	if (r < 0)
		return r;
	_cleanup_close_ int dfd = root_mkdir_p(root, dir, 0755);
	if (dfd < 0)
		return dfd;
	time_t now = time(NULL);
	struct tm tm;
	char when[64], text[160];
	if (!gmtime_r(&now, &tm) || strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -EOVERFLOW;
	int n = snprintf(text, sizeof(text), "finished=%s\nversion=%s\n", when, PACKAGE_VERSION);
	if (n < 0 || (size_t)n >= sizeof(text))
		return -ENAMETOOLONG;
	return dirfd_write_atomic(dfd, "done", text, (size_t)n, 0644);
}

int runonce_clear(const char *root, const char *id)
{
	char dir[256];
	int r = instance_dir(id, dir, sizeof(dir));
	if (r < 0)
		return r;
	_cleanup_close_ int dfd = root_open(root, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return dfd;
	if (unlinkat(dfd, "done", 0) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fsync(dfd) < 0)
		return -errno;
	/* the instance directory, when that was all it held */
	_cleanup_close_ int parent = root_open(root, RUNONCE_INSTANCE_DIR, O_RDONLY | O_DIRECTORY, 0);
	if (parent >= 0)
		unlinkat(parent, id, AT_REMOVEDIR);
	return 1;
}

/* ---- the run lock --------------------------------------------------------- */

static long ms_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* The pid a holder wrote, or 0. */
static long holder_pid(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *end;
	long pid = strtol(buf, &end, 10);
	return pid > 0 && end != buf && (*end == '\n' || *end == '\0') ? pid : 0;
}

int runonce_lock(const char *root, unsigned wait_ms, char *err, size_t errlen)
{
	_cleanup_free_ char *shown = path_in_root(root, RUNONCE_LOCK_PATH);
	const char *name = shown ? shown : RUNONCE_LOCK_PATH;
	_cleanup_close_ int dfd = root_mkdir_p(root, "/run", 0755);
	if (dfd < 0)
		return err_fmt(err, errlen, dfd, "cannot create the directory of %s: %s", name, strerror(-dfd));
	_cleanup_close_ int fd = openat(dfd, "meshboot.lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
	                                0644);
	if (fd < 0)
		return err_fmt(err, errlen, -errno, "cannot open %s: %s", name, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0)
		return err_fmt(err, errlen, -errno, "cannot stat %s: %s", name, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_fmt(err, errlen, -EINVAL, "%s is not a regular file", name);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK)
			return err_fmt(err, errlen, -errno, "cannot lock %s: %s", name, strerror(errno));
		long left = (long)wait_ms - ms_since(&t0);
		if (left <= 0) {
			long pid = holder_pid(fd);
			if (pid > 0)
				return err_fmt(err, errlen, -EBUSY, "another meshboot run (pid %ld) holds %s", pid, name);
			return err_fmt(err, errlen, -EBUSY, "another meshboot run holds %s", name);
		}
		struct timespec ts = { 0, (left < 20 ? left : 20) * 1000000L };
		nanosleep(&ts, NULL);
	}
	/* ours: say who holds it (best effort; the lock is what counts) */
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != (ssize_t)n) {
		/* an empty or partial pid reads as "unknown" to a waiter */
	}
	int r = fd;
	fd = -1;
	return r;
}

int runonce_lock_probe(const char *root)
{
	_cleanup_close_ int fd = root_open(root, RUNONCE_LOCK_PATH, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK, 0);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return 0;
	for (;;) {
		if (flock(fd, LOCK_SH | LOCK_NB) == 0)
			return 0;  /* closing the fd releases it */
		if (errno != EINTR)
			return errno == EWOULDBLOCK ? 1 : -errno;
	}
}
