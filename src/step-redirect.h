/* SPDX-License-Identifier: Apache-2.0 */
/* The redirect step: put the capture rules in place (or take them out). */
#pragma once

#include "redirect-flags.h"
#include "redirect.h"

/* Apply (or with o->clean remove) the rules for rc in the current network
 * namespace, with the xtables lock held for at most o->wait_ms of waiting.
 * Refuses a host whose firewall lives in nf_tables (-EMEDIUMTYPE).  With
 * o->dry_run prints the rules and touches nothing.  Logs what it did.
 * Returns 1 changed, 0 already so, negative errno. */
int redirect_apply(const struct redirect_config *rc, const struct redirect_opts *o);
