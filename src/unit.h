/* SPDX-License-Identifier: Apache-2.0 */
/* systemd units for the roles: names, the command line each runs. */
#pragma once

#include "config.h"
#include "util.h"

/* Unit name for a role: istio-<role>.service, istiod.service. */
const char *unit_name(enum role r);

/* The argv a role's unit runs: the entry point through the `current`
 * link, role-specific flags built from the configuration (etcd membership,
 * API server endpoints), then the configured args.  *argv is a
 * NULL-terminated malloc'd vector (free with strv_free).  0 or -ENOMEM. */
int unit_exec_argv(const struct config *c, enum role r, char ***argv);

/* Append one word to an ExecStart= line, quoted for systemd: "..." with
 * C escapes when needed, % as %%, $ as $$. */
void unit_quote_arg(struct strbuf *sb, const char *arg);

void strv_free(char **v);
