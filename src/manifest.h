/* SPDX-License-Identifier: Apache-2.0 */
/* The release manifest: `sha256sum`/`sha512sum` output (SHA256SUMS), whose
 * signature minisign.c checks.  Artifacts without an inline digest take
 * theirs from here, looked up by the file name of their URL.  Pure
 * functions: problems go to the diag list, nothing is logged. */
#pragma once

#include <stddef.h>

#include "diag.h"

#define MANIFEST_MAX_BYTES (1u << 20)
#define MANIFEST_MAX_ENTRIES 10000
#define MANIFEST_MAX_NAME 255

struct manifest_entry {
	char *name;      /* a plain file name: no '/', no control characters, not "." or ".." */
	int alg;         /* DIGEST_SHA256 or DIGEST_SHA512 (config.h) */
	char hex[129];   /* lower-case hex, 64 or 128 digits */
};

struct manifest {
	struct manifest_entry *v;
	size_t n;
};

/* Parse manifest text: lines "<hex>  <name>" or "<hex> *<name>" (binary
 * mode), the hex 64 (SHA-256) or 128 (SHA-512) digits in either case;
 * blank lines and lines starting with '#' are skipped; CRLF is tolerated.
 * A name listed twice must have the same digest (it is kept once).  Every
 * problem goes to d as source:line:column (one per line, all lines).
 * Returns 0 and fills out (entries in file order), -EBADMSG (out empty),
 * or -ENOMEM. */
int manifest_parse(const char *source, const char *text, size_t len, struct manifest *out,
                   struct diag_list *d);

/* The entry for a file name, or NULL. */
const struct manifest_entry *manifest_find(const struct manifest *m, const char *name);

/* Frees the entries and empties m; safe on an empty or freed manifest. */
void manifest_free(struct manifest *m);

/* The name an artifact URL is looked up by: the last path component of
 * "scheme://authority/path", query and fragment stripped, not
 * percent-decoded.  NULL (errno EINVAL) when the URL has no path, the path
 * ends in '/', or the component is not a name a manifest can list ("." or
 * "..", control characters, '\\', an encoded slash "%2F", over 255 bytes);
 * NULL (errno ENOMEM) when out of memory.  Otherwise malloc'd. */
char *manifest_name_for_url(const char *url);
