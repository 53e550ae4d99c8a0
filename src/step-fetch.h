/* SPDX-License-Identifier: Apache-2.0 */
/* The fetch step: every configured role's artifact verified, cached,
 * unpacked and installed under --root. */
#pragma once

#include "config.h"

/* Resolve each artifact's digest (inline pin, signed manifest, or an
 * https .sha256 file), take it from the cache or download it (all at once,
 * bounded), verify, cache, unpack into a staging directory and switch
 * <prefix>/<role>/current to it.  All or nothing: when any download or
 * check fails, nothing is added to the cache or installed, partial files
 * are removed, and the roles switched in this run are switched back.
 * Logs one line per artifact.  Returns 1 changed, 0 all already installed,
 * -EBADMSG (bytes or signature wrong, hostile archive), -EREMOTEIO
 * (permanent download failure), -ETIMEDOUT (transient failures outlasted
 * the retries or the deadline), other -errno. */
int fetch_step(const struct config *c, const char *root);
