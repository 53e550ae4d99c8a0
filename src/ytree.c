/* SPDX-License-Identifier: Apache-2.0 */
#include "ytree.h"

#include <errno.h>
#include <string.h>
#include <yaml.h>

void ytree_free(struct ynode *n)
{
	/* Iterative, so that freeing deep trees cannot overflow the stack. */
	struct ynode **stack = NULL;
	size_t sn = 0, scap = 0;
	struct ynode *cur = n;
	while (cur) {
		for (unsigned i = 0; i < cur->n; i++) {
			if (sn == scap) {
				size_t nc = scap ? scap * 2 : 64;
				struct ynode **ns = realloc(stack, nc * sizeof(*ns));
				if (!ns)
					break;  /* leak rather than crash under OOM */
				stack = ns;
				scap = nc;
			}
			stack[sn++] = cur->items[i];
		}
		free(cur->items);
		free(cur->value);
		free(cur);
		cur = sn ? stack[--sn] : NULL;
	}
	free(stack);
}

struct ynode *ymap_get(const struct ynode *map, const char *key)
{
	if (!map || map->type != YN_MAP)
		return NULL;
	size_t kl = strlen(key);
	for (unsigned i = 0; i + 1 < map->n; i += 2) {
		const struct ynode *k = map->items[i];
		if (k->type == YN_SCALAR && k->len == kl && memcmp(k->value, key, kl) == 0)
			return map->items[i + 1];
	}
	return NULL;
}

static int node_append(struct ynode *parent, struct ynode *child)
{
	if ((parent->n & (parent->n - 1)) == 0) {  /* n is 0 or a power of two: grow */
		unsigned cap = parent->n ? parent->n * 2 : 4;
		struct ynode **v = realloc(parent->items, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		parent->items = v;
	}
	parent->items[parent->n++] = child;
	return 0;
}

static void problem_add(struct diag_list *d, const char *source, unsigned line_offset,
                        const yaml_parser_t *p)
{
	const yaml_mark_t *m = &p->problem_mark;
	const char *what = p->problem ? p->problem : "YAML error";
	if (p->context)
		diag_add(d, source, (unsigned)m->line + 1 + line_offset, (unsigned)m->column + 1,
		         "%s %s (line %u)", what, p->context, (unsigned)p->context_mark.line + 1 + line_offset);
	else
		diag_add(d, source, (unsigned)m->line + 1 + line_offset, (unsigned)m->column + 1, "%s", what);
}

int ytree_parse(const char *source, const char *text, size_t len, unsigned line_offset,
                struct ynode **out, struct diag_list *d)
{
	yaml_parser_t p;
	yaml_event_t ev;
	struct ynode *root = NULL;
	struct ynode *stack[YTREE_MAX_DEPTH + 1];
	unsigned depth = 0, nodes = 0, docs = 0;
	int r = -EBADMSG;
	bool done = false;

	*out = NULL;
	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			if (p.error == YAML_MEMORY_ERROR) {
				r = -ENOMEM;
				goto out;
			}
			problem_add(d, source, line_offset, &p);
			goto out;
		}
		unsigned line = (unsigned)ev.start_mark.line + 1 + line_offset;
		unsigned col = (unsigned)ev.start_mark.column + 1;
		struct ynode *n = NULL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				diag_add(d, source, line, col, "more than one YAML document; user-data holds exactly one");
				yaml_event_delete(&ev);
				goto out;
			}
			break;
		case YAML_SCALAR_EVENT:
		case YAML_ALIAS_EVENT:
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			if (++nodes > YTREE_MAX_NODES) {
				diag_add(d, source, line, col, "more than %d YAML nodes; refused", YTREE_MAX_NODES);
				yaml_event_delete(&ev);
				goto out;
			}
			n = calloc(1, sizeof(*n));
			if (!n) {
				yaml_event_delete(&ev);
				r = -ENOMEM;
				goto out;
			}
			n->line = line;
			n->col = col;
			if (ev.type == YAML_SCALAR_EVENT) {
				n->type = YN_SCALAR;
				n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
				n->anchored = ev.data.scalar.anchor != NULL;
				n->tagged = ev.data.scalar.tag != NULL && !ev.data.scalar.plain_implicit &&
				            !ev.data.scalar.quoted_implicit;
				n->len = ev.data.scalar.length;
				n->value = malloc(n->len + 1);
				if (n->value) {
					memcpy(n->value, ev.data.scalar.value, n->len);
					n->value[n->len] = '\0';
				}
			} else if (ev.type == YAML_ALIAS_EVENT) {
				n->type = YN_ALIAS;
				n->value = strdup((const char *)ev.data.alias.anchor);
			} else if (ev.type == YAML_MAPPING_START_EVENT) {
				n->type = YN_MAP;
				n->anchored = ev.data.mapping_start.anchor != NULL;
				n->tagged = ev.data.mapping_start.tag != NULL && !ev.data.mapping_start.implicit;
			} else {
				n->type = YN_SEQ;
				n->anchored = ev.data.sequence_start.anchor != NULL;
				n->tagged = ev.data.sequence_start.tag != NULL && !ev.data.sequence_start.implicit;
			}
			if ((n->type == YN_SCALAR || n->type == YN_ALIAS) && !n->value) {
				free(n);
				yaml_event_delete(&ev);
				r = -ENOMEM;
				goto out;
			}
			if (depth == 0) {
				root = n;
			} else if (node_append(stack[depth - 1], n) < 0) {
				ytree_free(n);
				yaml_event_delete(&ev);
				r = -ENOMEM;
				goto out;
			}
			if (n->type == YN_MAP || n->type == YN_SEQ) {
				if (depth >= YTREE_MAX_DEPTH) {
					diag_add(d, source, line, col, "YAML nested deeper than %d levels; refused",
					         YTREE_MAX_DEPTH);
					yaml_event_delete(&ev);
					goto out;
				}
				stack[depth++] = n;
			}
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	*out = root;
	root = NULL;
	r = 0;
out:
	ytree_free(root);
	yaml_parser_delete(&p);
	return r;
}
