/* SPDX-License-Identifier: Apache-2.0 */
/* What a run would do, as data: an ordered list of steps, each with
 * key/value details and an optional text block (rules).  Deterministic:
 * the same configuration and root give the same plan. */
#pragma once

#include "config.h"
#include "util.h"

struct plan_kv {
	char *key;
	char *val;
};

struct plan_step {
	char *kind;    /* manifest, fetch, user, directory, file, unit, certificate, redirect, enable, record */
	char *stage;   /* bake or boot */
	char *title;   /* one line */
	struct plan_kv *kv;
	unsigned n_kv;
	char *block;   /* multi-line text or NULL */
};

struct plan {
	struct plan_step *v;
	unsigned n;
	char *roles;   /* "sidecar, pilot" */
};

/* root: where cache hits are looked up (read only).  0 or -errno. */
int plan_build(const struct config *c, const char *root, struct plan *out);
void plan_free(struct plan *p);
int plan_render_text(const struct plan *p, struct strbuf *out);
int plan_render_json(const struct plan *p, struct strbuf *out);
