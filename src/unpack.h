/* SPDX-License-Identifier: Apache-2.0 */
/* Unpacking a verified artifact into a staging directory with libarchive,
 * streaming, writing every file ourselves relative to the staging
 * directory's fd (openat, O_NOFOLLOW, never through a symlink). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define UNPACK_DEFAULT_MAX_BYTES   (UINT64_C(4) << 30)
#define UNPACK_DEFAULT_MAX_ENTRIES UINT64_C(100000)
/* Entry paths deeper than this many components are refused (keeps the
 * tree removable with one fd per level). */
#define UNPACK_MAX_DEPTH 256

struct unpack_opts {
	enum archive_fmt format;     /* ARCHIVE_AUTO detects tar (plain, gz, xz, zst), zip and .deb;
	                              * ARCHIVE_DEB: extract the data.tar{,.gz,.xz,.zst} member */
	unsigned strip_components;   /* like tar --strip-components ("./" counts as one);
	                              * entries with no component left are skipped */
	uint64_t max_bytes;          /* total size of regular files (holes included); 0: 4 GiB */
	uint64_t max_entries;        /* archive entries read (skipped ones too); 0: 100,000 */
};

struct unpack_stats {
	uint64_t entries;            /* files, directories and symlinks created */
	uint64_t bytes;              /* file data written (logical size) */
};

/* Extract the archive readable from fd (positioned at 0) into dir_fd, an
 * empty directory the caller created.  o may be NULL (defaults), st too.
 *
 * Refused with -EBADMSG and err = "PATH: reason": absolute paths, ".."
 * components, paths through a symlink, hard links, device nodes, fifos,
 * sockets, symlinks with an absolute target or one that climbs out of the
 * tree (or climbs after descending: "a/../.."), a directory replaced by a
 * non-directory or the reverse, corrupt archives.  -EFBIG: more than
 * max_entries entries or max_bytes of file data (counted before each
 * block is written; the header's size is checked first).  -ENOTSUP: the
 * libarchive build would need an external program for a filter.  Other
 * negative errno from the file system.
 *
 * Modes: files mode & 0777, directories (mode & 0755) | 0700; no owner
 * changes; file mtimes from the archive.  On failure the staging directory
 * holds a partial tree: the caller removes it.  Never logs. */
int unpack_archive(int fd, int dir_fd, const struct unpack_opts *o, struct unpack_stats *st,
                   char *err, size_t errlen);
