/* SPDX-License-Identifier: Apache-2.0 */
/* The stages: bake (image build), boot (an instance's first boot), run
 * (both), clean (undo a boot).  Each is a flat list of steps; a step
 * returns 1 changed / 0 already so / negative errno, logs what it did,
 * and is recorded in /var/lib/meshboot/status.json.  The first failed step
 * stops the stage; what ran before it stays consistent and the next run
 * converges. */
#pragma once

#include "config.h"

enum stage { STAGE_BAKE, STAGE_BOOT, STAGE_RUN, STAGE_CLEAN };

struct stage_opts {
	const char *root;
	bool force;       /* boot again although this instance is done; new keys */
	bool all;         /* clean: also the installed versions and the cache */
};

/* 0 (also: boot already done for this instance), or negative errno. */
int stage_run(enum stage s, const struct config *c, const struct stage_opts *o);
