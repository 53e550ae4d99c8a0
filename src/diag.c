/* SPDX-License-Identifier: Apache-2.0 */
#include "diag.h"

#include <string.h>

void diag_add(struct diag_list *l, const char *source, unsigned line, unsigned col,
              const char *fmt, ...)
{
	if (l->n >= DIAG_MAX) {
		l->dropped++;
		return;
	}
	if (l->n == l->cap) {
		unsigned cap = l->cap ? l->cap * 2 : 8;
		struct diag *v = realloc(l->v, cap * sizeof(*v));
		if (!v) {
			l->oom = true;
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	struct strbuf sb;
	sb_init(&sb);
	va_list ap;
	va_start(ap, fmt);
	sb_vprintf(&sb, fmt, ap);
	va_end(ap);
	char *msg = sb_steal(&sb);
	char *src = strdup(source ? source : "<input>");
	if (!msg || !src) {
		free(msg);
		free(src);
		l->oom = true;
		return;
	}
	l->v[l->n++] = (struct diag){ .source = src, .line = line, .col = col, .msg = msg };
}

void diag_list_free(struct diag_list *l)
{
	for (unsigned i = 0; i < l->n; i++) {
		free(l->v[i].source);
		free(l->v[i].msg);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void diag_render(const struct diag_list *l, struct strbuf *out)
{
	for (unsigned i = 0; i < l->n; i++) {
		const struct diag *d = &l->v[i];
		if (d->line)
			sb_printf(out, "%s:%u:%u: %s\n", d->source, d->line, d->col, d->msg);
		else
			sb_printf(out, "%s: %s\n", d->source, d->msg);
	}
	if (l->dropped)
		sb_printf(out, "(%u more errors not shown)\n", l->dropped);
	if (l->oom)
		sb_puts(out, "(out of memory while collecting errors)\n");
}
