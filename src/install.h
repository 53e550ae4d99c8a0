/* SPDX-License-Identifier: Apache-2.0 */
/* Versioned installs under --root:
 *
 *   <prefix>/<component>/<version>-<short>/   one tree per version (short:
 *                                              first 12 hex digits of the digest)
 *   <prefix>/<component>/current  -> <version>-<short>   (relative symlink)
 *   <prefix>/<component>/previous -> the version current pointed to before
 *   <prefix>/<component>/.staging-<16 hex>/   a tree being unpacked
 *
 * Every path is resolved inside root (openat2 RESOLVE_IN_ROOT: symlinks,
 * absolute ones too, resolve within root, ".." cannot leave it); the
 * component directory itself and everything below it is handled with
 * *at() calls on single names, never following a symlink.  The component
 * directory is flock()ed while it changes, and each staging directory
 * while its fd is open, so concurrent runs do not remove each other's
 * staging trees.  Nothing here logs.
 *
 * Usage:
 *   install_staging_create(...&fd, &staging)   unpack into fd
 *   install_commit(..., staging, version, digest)
 *   close(fd), free(staging)
 *   on any failure: install_staging_remove(root, staging)  (a no-op once committed)
 */
#pragma once

#include <stddef.h>

/* Create <prefix>/<component>/ (and the prefix) inside root if needed and
 * an empty, locked staging directory in it (mode 0700).  *dir_fd: the
 * staging directory (O_RDONLY; keep it open until install_commit);
 * *staging_path: its path inside root, malloc'd.  0 or -errno with err. */
int install_staging_create(const char *root, const char *prefix, const char *component,
                           int *dir_fd, char **staging_path, char *err, size_t errlen);

/* Make the staging tree <version>-<short> (syncfs, chmod 0755, atomic
 * rename; an existing tree of that name is atomically exchanged and
 * removed), point current at it (atomic rename of a new symlink), keep
 * the old current target as previous, fsync the directory, then remove
 * older versions, unlocked .staging-* directories and leftover temporary
 * links.  When current already points at an existing <version>-<short>,
 * returns 0 and touches nothing installed (the staging tree is removed).
 * 1 changed, 0 already so, -errno with err (the staging tree is left for
 * install_staging_remove). */
int install_commit(const char *root, const char *prefix, const char *component,
                   const char *staging_path, const char *version, const char *hex_digest,
                   char *err, size_t errlen);

/* install_commit for a caller that has made every staging tree durable
 * itself (one syncfs for several commits on the same filesystem). */
int install_commit_synced(const char *root, const char *prefix, const char *component,
                          const char *staging_path, const char *version, const char *hex_digest,
                          char *err, size_t errlen);

/* Swap current and previous atomically (RENAME_EXCHANGE): a second
 * rollback goes forward again.  1 changed, 0 if previous equals current,
 * -ENOENT when there is nothing to roll back to, other -errno with err. */
int install_rollback(const char *root, const char *prefix, const char *component,
                     char *err, size_t errlen);

/* 1 if current points at an existing <version>-<short>, 0 if not (also
 * when nothing is installed), -errno with err.  Lets a run skip fetching
 * and unpacking an artifact that is already installed. */
int install_is_current(const char *root, const char *prefix, const char *component,
                       const char *version, const char *hex_digest, char *err, size_t errlen);

/* rm -rf of a staging directory (its last component must start with
 * ".staging-"), inside root, never following links.  Missing: no-op. */
void install_staging_remove(const char *root, const char *staging_path);
