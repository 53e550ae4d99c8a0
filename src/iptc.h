/* SPDX-License-Identifier: Apache-2.0 */
/* The libiptc backend: puts a struct ruleset into the kernel's legacy
 * iptables tables (nat and mangle, IPv4 and IPv6) and takes it out again.
 * Library functions: they return errors with a message, never log. */
#pragma once

#include "redirect.h"
#include "rules.h"

struct rules_target {
	/* [0] IPv4, [1] IPv6.  An empty rule set (or NULL) removes ours only. */
	const struct ruleset *sets[2];
	/* Virtual interfaces (-k) whose "-i IF -j RETURN" rules at the head of
	 * nat PREROUTING are ours to remove. */
	const char (*ifaces)[IFNAMSIZ];
	unsigned n_ifaces;
};

/* Make meshboot's chains and jumps in the nat and mangle tables of both
 * families exactly target->sets, leaving every other rule as it was.  A
 * table is committed only when its content changes, once; a commit that
 * fails with EAGAIN (another writer) is rebuilt and retried; when a later
 * table's commit fails, the tables already committed are restored to their
 * previous contents.  Never creates a table that does not exist unless it
 * receives rules.  The caller holds the xtables lock.  Returns 1 changed, 0
 * already so, or a negative errno with a message in err. */
int rules_commit(const struct rules_target *target, char *err, size_t errlen);

/* Rules in existing legacy tables (of both families) that are not
 * meshboot's; tables that do not exist are not created.  0 or -errno. */
int rules_count_foreign(unsigned *count);

/* The xtables lock (flock on $XTABLES_LOCKFILE, default /run/xtables.lock),
 * waiting at most wait_ms.  Returns an fd to close, -ETIMEDOUT, -errno. */
int xtables_lock_take(unsigned wait_ms);
const char *xtables_lock_path(void);
