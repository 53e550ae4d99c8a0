/* SPDX-License-Identifier: Apache-2.0 */
/* User-data bytes -> validated struct config.  Every problem is collected
 * in d (all of them, in one pass) as SOURCE:LINE:COLUMN: message; secret
 * values never appear in a message.  Returns 0, -EBADMSG (invalid; see d)
 * or -ENOMEM.  On failure c is left initialised and must still be freed. */
#pragma once

#include "config.h"
#include "diag.h"

int config_parse_buffer(const char *source, const char *data, size_t len,
                        struct config *c, struct diag_list *d);
