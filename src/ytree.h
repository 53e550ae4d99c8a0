/* SPDX-License-Identifier: Apache-2.0 */
/* libyaml event stream -> a small positioned node tree.  Aliases are kept
 * as YN_ALIAS leaves (never expanded), so no input can make the tree grow
 * beyond the number of events.  Limits: YTREE_MAX_NODES nodes, YTREE_MAX_DEPTH
 * levels.  Positions are 1-based and already shifted by line_offset. */
#pragma once

#include "diag.h"

#define YTREE_MAX_NODES 200000
#define YTREE_MAX_DEPTH 64

enum ynode_type { YN_SCALAR, YN_MAP, YN_SEQ, YN_ALIAS };

struct ynode {
	enum ynode_type type;
	unsigned line, col;
	bool plain;        /* scalar written without quotes or block style */
	bool anchored;     /* carries &anchor */
	bool tagged;       /* carries an explicit !tag */
	char *value;       /* scalar text (NUL-terminated; may contain NUL: see len) */
	size_t len;
	struct ynode **items; /* SEQ: items; MAP: key0, val0, key1, val1, ... */
	unsigned n;
};

/* Parse one YAML document.  On a syntax error adds "SOURCE:L:C: <libyaml
 * problem>" to d and returns -EBADMSG.  *out is NULL for an empty stream. */
int ytree_parse(const char *source, const char *text, size_t len, unsigned line_offset,
                struct ynode **out, struct diag_list *d);
void ytree_free(struct ynode *n);

/* Value for key in a mapping (the first occurrence: a duplicate is an
 * error the parser reports, and the first is the one it uses), or NULL. */
struct ynode *ymap_get(const struct ynode *map, const char *key);
