/* SPDX-License-Identifier: Apache-2.0 */
/* System users and groups under --root, written the way shadow-utils
 * writes them (no useradd is executed): glibc's lckpwdf() lock
 * (ROOT/etc/.pwd.lock) plus shadow-utils' <file>.lock link locks, every
 * file checked before any is written, <file>- backups, <file>+ written with
 * the original's mode and owner, fsync, rename, fsync of the directory,
 * and the earlier files restored when a later one fails.  Everything is
 * resolved inside root (openat2 RESOLVE_IN_ROOT); the four files are never
 * followed through a symlink.  Library functions: they never log. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Make sure system group `name` exists with gid (or, gid == (gid_t)-1,
 * any: allocated as `groupadd -r`/`useradd -r` allocate, see below) and
 * system user `name` with uid likewise, primary group that group, home,
 * shell /usr/sbin/nologin and comment (NULL: empty), in ROOT/etc/group,
 * ROOT/etc/gshadow (only if it exists), ROOT/etc/passwd and
 * ROOT/etc/shadow ("name:!*:DAYS::::::"; created 0640 root:shadow, or
 * root:root without a shadow group, when missing).  DAYS honours
 * SOURCE_DATE_EPOCH as shadow-utils does.
 *
 * Allocation is shadow-utils' find_new_uid()/find_new_gid() for system
 * accounts over the files under root: the range is SYS_UID_MIN..SYS_UID_MAX
 * (SYS_GID_*) from ROOT/etc/login.defs (defaults 101 and UID_MIN-1, i.e.
 * 999), searched downwards from just below the lowest id already used in
 * the range, then from the top; a new group prefers the user's uid as its
 * gid when that gid is free (useradd -r -U).
 *
 * An existing user or group of that name with another id is -EEXIST (err
 * names both ids); an existing one with the same ids is left as it is;
 * another name already holding a requested id is -EADDRINUSE.  A malformed
 * line in any of the files is -EINVAL with err naming FILE:LINE, and no
 * file is touched.  The locks are waited for up to 15 s, then -EBUSY.
 * Returns 1 changed, 0 already so, or a negative errno with err set; the
 * resolved ids in *uid_out and *gid_out (either may be NULL). */
int users_ensure(const char *root, const char *name, uid_t uid, gid_t gid, const char *home, const char *comment,
                 uid_t *uid_out, gid_t *gid_out, char *err, size_t errlen);

/* Look a user up in ROOT/etc/passwd (no lock, no NSS): 0 and its ids,
 * -ENOENT, or -errno (-EINVAL for a malformed entry of that name). */
int users_lookup(const char *root, const char *name, uid_t *uid, gid_t *gid);

/* The same user and group as a sysusers.d(5) entry (append to out):
 * "g NAME GID" and "u NAME UID:NAME "COMMENT" HOME /usr/sbin/nologin",
 * "-" for an id to allocate.  comment and home hold no '"' or space
 * (callers pass fixed strings and validated paths). */
struct strbuf;
void users_sysusers_render(const char *name, uid_t uid, gid_t gid, const char *home, const char *comment,
                           struct strbuf *out);

/* Tests only.  lock_timeout_ms: how long to wait for the locks (0: 15 s).
 * fail_file ("group", "gshadow", "passwd", "shadow"): when that file's
 * new contents are written, fail with -fail_errno just before renaming
 * them into place, as a failed write would.  NULL resets everything. */
struct users_test_hooks {
	unsigned lock_timeout_ms;
	const char *fail_file;
	int fail_errno;
};
void users_set_test_hooks(const struct users_test_hooks *h);
