/* SPDX-License-Identifier: Apache-2.0 */
#include "cache.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fetch.h"
#include "util.h"

const char *digest_alg_name(enum digest_alg a)
{
	return a == DIGEST_SHA512 ? "sha512" : "sha256";
}

int digest_fd(int fd, enum digest_alg alg, char out[129])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md)
		return -ENOMEM;
	int r = 0;
	if (!EVP_DigestInit_ex(md, alg == DIGEST_SHA512 ? EVP_sha512() : EVP_sha256(), NULL)) {
		r = -EIO;
		goto out;
	}
	uint8_t buf[1 << 16];
	for (off_t off = 0;;) {
		ssize_t n = pread(fd, buf, sizeof(buf), off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(md, buf, (size_t)n);
		off += n;
	}
	uint8_t d[EVP_MAX_MD_SIZE];
	unsigned dl = 0;
	EVP_DigestFinal_ex(md, d, &dl);
	hex_encode(d, dl, out);
out:
	EVP_MD_CTX_free(md);
	return r;
}

static int entry_path(char *buf, size_t len, enum digest_alg alg, const char *hex)
{
	int n = snprintf(buf, len, CACHE_DIR "/%s/%s", digest_alg_name(alg), hex);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int cache_open(const char *root, enum digest_alg alg, const char *hex, bool verify)
{
	char path[300];
	int r = entry_path(path, sizeof(path), alg, hex);
	if (r < 0)
		return r;
	int fd = root_open(root, path, O_RDONLY | O_NOFOLLOW, 0);
	if (fd < 0)
		return fd;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -ENOENT;
	}
	if (verify) {
		char got[129];
		r = digest_fd(fd, alg, got);
		if (r < 0 || strcmp(got, hex) != 0) {
			close(fd);
			if (r < 0)
				return r;
			/* a damaged entry: drop it, the caller fetches again */
			char dir[64];
			snprintf(dir, sizeof(dir), CACHE_DIR "/%s", digest_alg_name(alg));
			_cleanup_close_ int dfd = root_open(root, dir, O_RDONLY | O_DIRECTORY, 0);
			if (dfd >= 0)
				unlinkat(dfd, hex, 0);
			return -ENOENT;
		}
	}
	return fd;
}

int cache_partial_create(const char *root, enum digest_alg alg, const char *hex, char **name)
{
	_cleanup_close_ int dfd = root_mkdir_p(root, CACHE_DIR "/partial", 0755);
	if (dfd < 0)
		return dfd;
	char *n = NULL;
	if (asprintf(&n, "%s-%s.%d.part", digest_alg_name(alg), hex, (int)getpid()) < 0)
		return -ENOMEM;
	unlinkat(dfd, n, 0);  /* a leftover of a crashed run of this pid */
	int fd = openat(dfd, n, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		int r = -errno;
		free(n);
		return r;
	}
	*name = n;
	return fd;
}

void cache_partial_remove(const char *root, const char *name)
{
	_cleanup_close_ int dfd = root_open(root, CACHE_DIR "/partial", O_RDONLY | O_DIRECTORY, 0);
	if (dfd >= 0 && name)
		unlinkat(dfd, name, 0);
}

void cache_partial_dir_remove(const char *root)
{
	_cleanup_close_ int dfd = root_open(root, CACHE_DIR, O_RDONLY | O_DIRECTORY, 0);
	if (dfd >= 0)
		unlinkat(dfd, "partial", AT_REMOVEDIR);  /* only if empty */
}

int cache_commit(const char *root, enum digest_alg alg, const char *hex, int fd, const char *name)
{
	char dir[64];
	snprintf(dir, sizeof(dir), CACHE_DIR "/%s", digest_alg_name(alg));
	_cleanup_close_ int dfd = root_mkdir_p(root, dir, 0755);
	if (dfd < 0)
		return dfd;
	_cleanup_close_ int pfd = root_open(root, CACHE_DIR "/partial", O_RDONLY | O_DIRECTORY, 0);
	if (pfd < 0)
		return pfd;
	if (fsync(fd) < 0)
		return -errno;
	if (renameat(pfd, name, dfd, hex) < 0)
		return -errno;
	if (fsync(dfd) < 0)
		return -errno;
	return 0;
}
