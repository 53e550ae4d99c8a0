/* SPDX-License-Identifier: Apache-2.0 */
/* Diagnostics collected by parsers: every problem found in one pass,
 * each naming its place as SOURCE:LINE:COLUMN (line/column 1-based;
 * 0 means "whole input"). Parsers fill a list; steps print it. */
#pragma once

#include "util.h"

#define DIAG_MAX 100

struct diag {
	char *source;
	unsigned line, col;
	char *msg;
};

struct diag_list {
	struct diag *v;
	unsigned n, cap;
	unsigned dropped;  /* past DIAG_MAX */
	bool oom;
};

void diag_add(struct diag_list *l, const char *source, unsigned line, unsigned col,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void diag_list_free(struct diag_list *l);
/* "SOURCE:LINE:COL: msg\n" per entry, then a count of dropped ones. */
void diag_render(const struct diag_list *l, struct strbuf *out);
