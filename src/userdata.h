/* SPDX-License-Identifier: Apache-2.0 */
/* User-data unwrapping: gzip, MIME multipart (cloud-init make-mime),
 * #cloud-config or a plain meshboot document -> the one YAML document that
 * holds meshboot's configuration.  Pure function of its input; problems go
 * to the diag list. */
#pragma once

#include "diag.h"

#define USERDATA_MAX (1u << 20)  /* raw and decompressed size cap */

struct userdata {
	char *yaml;          /* NUL-terminated YAML text */
	size_t len;
	char *source;        /* name to use in diagnostics */
	unsigned line_offset;/* lines of the original file before yaml's first line */
};

/* Returns 0 and fills out, or -EBADMSG with the reasons in diags
 * (-ENOMEM on allocation failure). */
int userdata_extract(const char *source, const char *data, size_t len,
                     struct userdata *out, struct diag_list *diags);
void userdata_free(struct userdata *u);
