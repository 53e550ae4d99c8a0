/* SPDX-License-Identifier: Apache-2.0 */
/* The content-addressed artifact cache under --root:
 *   /var/cache/meshboot/<sha256|sha512>/<hex>   verified artifacts (0644)
 *   /var/cache/meshboot/partial/                downloads under way
 * Entries are written temp file -> fsync -> rename -> fsync(dir). */
#pragma once

#include "config.h"

#define CACHE_DIR "/var/cache/meshboot"

const char *digest_alg_name(enum digest_alg a); /* "sha256", "sha512" */

/* The cached artifact, opened read-only; -ENOENT when absent.  verify: hash
 * it again and treat a mismatch as absent (the bad entry is removed). */
int cache_open(const char *root, enum digest_alg alg, const char *hex, bool verify);

/* A partial download file for this artifact (O_RDWR, 0644, created new;
 * its name, relative to the partial dir, returned malloc'd). */
int cache_partial_create(const char *root, enum digest_alg alg, const char *hex, char **name);
void cache_partial_remove(const char *root, const char *name);
/* Remove the partial directory if it is empty (the end of a run). */
void cache_partial_dir_remove(const char *root);

/* Make a complete, verified partial the cache entry: fsync, rename, fsync
 * the directory.  0 or -errno. */
int cache_commit(const char *root, enum digest_alg alg, const char *hex, int fd, const char *name);

/* The digest of what fd holds from offset 0 (lower-case hex into out). */
int digest_fd(int fd, enum digest_alg alg, char out[129]);
