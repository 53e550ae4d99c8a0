/* SPDX-License-Identifier: Apache-2.0 */
/* `meshboot redirect`'s command line: istio-iptables.sh's flags with the
 * script's meaning and defaults (environment variables included), and the
 * modern extensions. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "redirect.h"

struct redirect_opts {
	bool script_flags;   /* any of -p -z -u -g -m -b -d -i -x -o -k given */
	bool dry_run;        /* -n */
	bool clean;          /* the word "clean" */
	bool help;           /* -h */
	unsigned wait_ms;    /* -w SECONDS, default 10 s */
};

/* Parse argv (argv[0] is "redirect").  rc receives the script's defaults
 * (ENVOY_PORT, INBOUND_CAPTURE_PORT, ISTIO_INBOUND_INTERCEPTION_MODE,
 * ISTIO_INBOUND_TPROXY_MARK, ISTIO_INBOUND_TPROXY_ROUTE_TABLE,
 * ISTIO_INBOUND_PORTS, ISTIO_LOCAL_EXCLUDE_PORTS, ISTIO_SERVICE_CIDR,
 * ISTIO_SERVICE_EXCLUDE_CIDR, ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE,
 * DISABLE_REDIRECTION_ON_LOCAL_LOOPBACK; uid of ENVOY_USER or istio-proxy in
 * ROOT/etc/passwd, else 1337, plus 0; gids = uids) overridden by the flags.
 * Returns 0, or -EINVAL with the reason in err. */
int redirect_flags_parse(int argc, char **argv, const char *root, struct redirect_config *rc,
                         struct redirect_opts *o, char *err, size_t errlen);

void redirect_flags_usage(FILE *f);
