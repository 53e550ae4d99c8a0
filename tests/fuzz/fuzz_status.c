/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness: the status.json reader (status_parse), the one parser
 * `meshboot status` runs over a file another process wrote.  Invariants:
 * a refused input leaves the record zeroed; an accepted one has bounded,
 * NUL-terminated fields and renders (JSON and text) without trouble, and
 * its JSON is a fixed point: parse(render(x)) succeeds and renders the
 * same bytes again. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_fields(const struct run_status *st)
{
	if (st->n_steps > STATUS_MAX_STEPS || st->n_notes > STATUS_MAX_NOTES ||
	    !memchr(st->version, '\0', sizeof(st->version)) || !memchr(st->stage, '\0', sizeof(st->stage)) ||
	    !memchr(st->instance_id, '\0', sizeof(st->instance_id)) || (unsigned)st->state > RUN_FAILED ||
	    !(st->started >= 0 && st->started <= STATUS_MAX_TIME) || !(st->finished >= 0 && st->finished <= STATUS_MAX_TIME))
		abort();
	for (unsigned i = 0; i < st->n_steps; i++) {
		const struct step_record *s = &st->steps[i];
		if (!memchr(s->name, '\0', sizeof(s->name)) || !memchr(s->error, '\0', sizeof(s->error)) ||
		    (unsigned)s->result > STEP_SKIPPED || !(s->seconds >= 0 && s->seconds <= STATUS_MAX_TIME))
			abort();
	}
	for (unsigned i = 0; i < st->n_notes; i++)
		if (!memchr(st->notes[i], '\0', sizeof(st->notes[i])))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct run_status zero;
	struct run_status *st = malloc(sizeof(*st)), *again = malloc(sizeof(*again));
	if (!st || !again)
		abort();
	int r = status_parse((const char *)data, size, st);
	if (r != 0) {
		if (r != -EBADMSG || memcmp(st, &zero, sizeof(*st)) != 0)
			abort();
		goto out;
	}
	check_fields(st);
	struct strbuf a, b, t;
	sb_init(&a);
	sb_init(&b);
	sb_init(&t);
	if (status_render_json(st, &a) < 0 || status_render_text(st, false, &t) < 0 ||
	    status_render_text(st, true, &t) < 0)
		abort();
	if (a.len > STATUS_MAX_FILE || status_parse(a.buf, a.len, again) != 0)
		abort();
	check_fields(again);
	if (status_render_json(again, &b) < 0 || a.len != b.len || memcmp(a.buf, b.buf, a.len) != 0)
		abort();
	for (size_t i = 0; i < t.len; i++)  /* text output: no control characters but newlines */
		if (((unsigned char)t.buf[i] < 0x20 && t.buf[i] != '\n') || t.buf[i] == 0x7f)
			abort();
	sb_free(&a);
	sb_free(&b);
	sb_free(&t);
out:
	free(st);
	free(again);
	return 0;
}
