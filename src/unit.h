/* SPDX-License-Identifier: Apache-2.0 */
/* systemd units for the roles and for the redirect: names, the command
 * line each runs, the hardened unit text, and writing it under --root. */
#pragma once

#include "config.h"
#include "util.h"

/* The redirect unit, for the functions that take a role or this. */
#define UNIT_REDIRECT ((int)ROLE_MAX)

/* Unit name for a role: istio-<role>.service, istiod.service; for
 * UNIT_REDIRECT meshboot-redirect.service. */
const char *unit_name(enum role r);
/* The same for a role or UNIT_REDIRECT given as an int. */
const char *unit_name_any(int role_or_redirect);

/* The units a configuration runs, into out (room for ROLE_MAX + 1): the
 * redirect's when enabled, then each role with an artifact.  Returns how
 * many. */
unsigned unit_list(const struct config *c, int *out);

/* The argv a role's unit runs: the entry point through the `current`
 * link, role-specific flags built from the configuration (etcd membership,
 * API server endpoints), then the configured args.  *argv is a
 * NULL-terminated malloc'd vector (free with strv_free).  0 or -ENOMEM. */
int unit_exec_argv(const struct config *c, enum role r, char ***argv);

/* Append one word to an ExecStart= line, quoted for systemd: "..." with
 * C escapes when needed, % as %%, $ as $$. */
void unit_quote_arg(struct strbuf *sb, const char *arg);

/* The istio-iptables.sh flags (-p -z -u -g -m -b -i, and -d -x -o -k
 * --no-ipv6 when they say something) after which `meshboot redirect`
 * builds exactly rc's rules, whatever the script's environment variables
 * hold.  *argv is NULL-terminated (strv_free).  0, -EINVAL (an interface
 * name with a comma cannot be said with -k), -ENOMEM. */
int unit_redirect_flags(const struct redirect_config *rc, char ***argv);

/* What those flags cannot say, as NAME=VALUE for Environment=:
 * ISTIO_INBOUND_TPROXY_MARK, ISTIO_INBOUND_TPROXY_ROUTE_TABLE when not the
 * script's 1337 and 133, DISABLE_REDIRECTION_ON_LOCAL_LOOPBACK=1 when
 * loopback_redirect is off.  *env is NULL-terminated, possibly empty.
 * 0 or -ENOMEM. */
int unit_redirect_env(const struct redirect_config *rc, char ***env);

/* Render the unit file text for a role (or UNIT_REDIRECT) from the
 * configuration: [Unit] with Description, Documentation=man:meshboot(8),
 * Wants=/After=network-online.target and the ordering among the units on
 * this host (etcd, then the API server, then Pilot, Mixer, Citadel and
 * istiod, then the sidecar; the sidecar Requires= and comes After= the
 * redirect unit when the redirect is enabled); [Service] with the user,
 * ExecStart= from unit_exec_argv (quoted with unit_quote_arg), the
 * directories the role writes, Restart=on-failure, and the hardening
 * documented in meshboot(8) UNIT HARDENING; [Install]
 * WantedBy=multi-user.target.  Deterministic: the same configuration gives
 * the same bytes.  Appends to out.  0; -EINVAL when the role has no
 * artifact, for the redirect unit when the redirect is not enabled, or
 * when a user name or path holds characters systemd would read otherwise;
 * -ENOMEM. */
int unit_render(const struct config *c, int role_or_redirect, struct strbuf *out);

/* Write the unit to ROOT/etc/systemd/system/<name> (0644, atomically:
 * temp file, fsync, rename, fsync of the directory; every path resolved
 * inside root) and make the link
 * ROOT/etc/systemd/system/multi-user.target.wants/<name> ->
 * /etc/systemd/system/<name>, as `systemctl --root=ROOT enable` would.
 * Returns 1 when something changed, 0 when file and link were already so
 * (neither is touched), or a negative errno with the reason in err. */
/* The unit file alone (bake: installed, not enabled, so that nothing
 * starts before the instance is provisioned).  1 changed, 0 identical
 * already (untouched), negative errno with err. */
int unit_write(const char *root, const struct config *c, int role_or_redirect, char *err, size_t errlen);
/* The WantedBy link, as systemctl --root enable makes it.  1/0/-errno. */
int unit_enable(const char *root, int role_or_redirect, char *err, size_t errlen);
/* Remove the WantedBy link only.  1 removed, 0 absent, -errno. */
int unit_disable(const char *root, int role_or_redirect, char *err, size_t errlen);
int unit_install(const char *root, const struct config *c, int role_or_redirect, char *err, size_t errlen);

/* Remove the unit file and its wants link.  1 removed something, 0 there
 * was nothing, negative errno with err. */
int unit_remove(const char *root, int role_or_redirect, char *err, size_t errlen);

void strv_free(char **v);
