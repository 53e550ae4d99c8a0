/* SPDX-License-Identifier: Apache-2.0 */
/* Run once per instance, one run at a time.
 *
 * The instance id names the machine this boot belongs to (cloud-init's
 * instance id, else the systemd machine id); a run that finished marks
 * ROOT/var/lib/meshboot/instance/<id>/done, so a later boot of the same
 * instance skips the work and a clone (new id) does it again.  A run holds
 * an flock on /run/meshboot.lock (tmpfs: gone after a reboot, released by
 * the kernel when the holder dies), which is also how `meshboot status`
 * tells a live run from one that died. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define RUNONCE_LOCK_PATH "/run/meshboot.lock"
#define RUNONCE_INSTANCE_DIR "/var/lib/meshboot/instance"
#define RUNONCE_CLOUD_INIT_ID "/var/lib/cloud/data/instance-id"
#define RUNONCE_MACHINE_ID "/etc/machine-id"
#define RUNONCE_ID_MAX 64  /* longer ids are hashed */

/* An id safe as one path component: 1..RUNONCE_ID_MAX of [A-Za-z0-9._-],
 * not "." or "..".  Everything runonce_instance_id returns is. */
bool runonce_id_valid(const char *id);

/* The instance id: ROOT/var/lib/cloud/data/instance-id (cloud-init), else
 * ROOT/etc/machine-id; surrounding whitespace trimmed.  An empty file, or
 * systemd's "uninitialized" (an image not yet booted), counts as absent.
 * An id that is not runonce_id_valid becomes the hex SHA-256 of its bytes
 * (64 characters).  0, -ENOENT if neither file has one, -ENOBUFS if out
 * (len) is too small (65 always suffices), other -errno. */
int runonce_instance_id(const char *root, char *out, size_t len);

/* ROOT/var/lib/meshboot/instance/<id>/done: 1 present, 0 absent, -errno
 * (-EINVAL for an invalid id). */
int runonce_done(const char *root, const char *id);
/* Write it: atomically, 0644, "finished=<ISO 8601 UTC>\nversion=<meshboot>\n".
 * 0 or -errno. */
int runonce_mark(const char *root, const char *id);
/* Remove it (and the instance directory when empty): 1 removed, 0 absent,
 * -errno. */
int runonce_clear(const char *root, const char *id);

/* Take the run lock: flock(LOCK_EX) on ROOT/run/meshboot.lock (ROOT/run
 * created if needed; the real /run when root is "/"), at once or within
 * wait_ms, then write our pid into it.  Returns the fd to keep open (close
 * it to release), -EBUSY with err naming the holder's pid when it stays
 * held, or -errno with err explaining. */
int runonce_lock(const char *root, unsigned wait_ms, char *err, size_t errlen);
/* 1 if a process (another open file description) holds the run lock now,
 * 0 if not (or there is no lock file), -errno.  Changes nothing. */
int runonce_lock_probe(const char *root);
