/* SPDX-License-Identifier: Apache-2.0 */
/* Where the configuration comes from: --config, else the kernel command
 * line (meshboot.config=SOURCE), /etc/meshboot/meshboot.yaml, cloud-init's
 * stored user-data -- each under --root. */
#pragma once

#include "util.h"

#define SOURCE_ETC "/etc/meshboot/meshboot.yaml"
#define SOURCE_CLOUD_INIT "/var/lib/cloud/instance/user-data.txt"
#define SOURCE_CMDLINE "/proc/cmdline"

struct config_source {
	char *name;   /* for diagnostics: the path as given, "<stdin>", or the URL */
	char *data;
	size_t len;
	char *origin; /* how it was found: "--config", "kernel command line", ... */
};

/* Value of key=VALUE on a kernel command line (last one wins; double
 * quotes allowed around the word).  Returns malloc'd string or NULL. */
char *cmdline_get(const char *cmdline, const char *key);

/* Load the configuration bytes.  explicit: --config value or NULL, with
 * explicit_pin (--config-sha256) or NULL; cmdline_path: file holding the
 * kernel command line (default /proc/cmdline under root), where
 * meshboot.config=SOURCE and meshboot.config_sha256=HEX are read.  A URL
 * source goes through the fetcher: https, http only with the pin, file.
 * Returns 0; -ENOENT when nothing was found (why lists the places looked);
 * -EPROTONOSUPPORT for a URL that is refused; -EBADMSG for a pin mismatch;
 * -EREMOTEIO / -ETIMEDOUT when the download failed; other -errno with why
 * naming the path. */
int source_load(const char *root, const char *explicit, const char *explicit_pin, const char *cmdline_path,
                struct config_source *out, struct strbuf *why);
void source_free(struct config_source *s);
