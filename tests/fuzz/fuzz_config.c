/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness: user-data bytes -> config -> plan (text and JSON).
 * The whole path a hostile user-data file can reach. */
#include <stddef.h>
#include <stdint.h>

#include "config-parse.h"
#include "plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	struct diag_list d = { 0 };
	config_init(&c);
	if (config_parse_buffer("fuzz", (const char *)data, size, &c, &d) == 0) {
		struct plan p;
		if (plan_build(&c, "/nonexistent-fuzz-root", &p) == 0) {
			struct strbuf sb;
			sb_init(&sb);
			plan_render_text(&p, &sb);
			plan_render_json(&p, &sb);
			sb_free(&sb);
			plan_free(&p);
		}
	}
	struct strbuf sb;
	sb_init(&sb);
	diag_render(&d, &sb);
	sb_free(&sb);
	diag_list_free(&d);
	config_free(&c);
	return 0;
}
