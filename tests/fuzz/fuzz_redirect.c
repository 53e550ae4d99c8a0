/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness: `meshboot redirect` arguments (NUL-separated words) ->
 * flags parser -> rule sets for both families -> iptables-save text.  The
 * whole path hostile flags (or environment-style lists) can reach without
 * touching the kernel. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "redirect-flags.h"
#include "rules.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[66];
	int argc = 0;
	_cleanup_free_ char *buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[argc++] = (char *)"redirect";
	for (char *p = buf; p < buf + size && argc < 64; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;

	struct redirect_config rc;
	struct redirect_opts o;
	char err[256];
	if (redirect_flags_parse(argc, argv, "/nonexistent-fuzz-root", &rc, &o, err, sizeof(err)) == 0) {
		static const int fams[] = { AF_INET, AF_INET6 };
		for (int f = 0; f < 2; f++) {
			struct ruleset rs;
			if (ruleset_build(&rc, fams[f], &rs) == 0) {
				struct strbuf sb;
				sb_init(&sb);
				ruleset_render_save(&rs, &sb);
				ruleset_render_iproute(&rs, &sb);
				sb_free(&sb);
				ruleset_free(&rs);
			}
		}
	}
	redirect_config_free(&rc);
	return 0;
}
