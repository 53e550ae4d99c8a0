/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness: the signed release manifest.  Byte 0 picks the path:
 *   0  manifest_parse over the rest (plus manifest_find, diag_render);
 *   1  minisign_key_parse over the rest;
 *   2  a 56-byte key line, a little-endian u16 signature length, the
 *      .minisig, then the data: key parse, minisign_verify, and when the
 *      signature holds, manifest_parse of the data (the path a release
 *      server reaches).
 * Seeds (tests/fixtures/minisign/make.sh) carry the test key and real
 * minisign signatures, so the verified path is reached from the start.
 * Also checks invariants: the parsed entries are well-formed and found. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "manifest.h"
#include "minisign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void manifest_check(const char *text, size_t len)
{
	struct manifest m;
	struct diag_list d = { 0 };
	int r = manifest_parse("fuzz", text, len, &m, &d);
	if (r == 0) {
		if (m.n == 0 || d.n != 0)
			abort();
		for (size_t i = 0; i < m.n; i++) {
			const struct manifest_entry *e = &m.v[i];
			size_t hex_len = strlen(e->hex);
			if (manifest_find(&m, e->name) != e || e->name[0] == '\0' || strchr(e->name, '/') ||
			    strlen(e->name) > MANIFEST_MAX_NAME ||
			    hex_len != (e->alg == DIGEST_SHA256 ? 64u : e->alg == DIGEST_SHA512 ? 128u : 0u) ||
			    strspn(e->hex, "0123456789abcdef") != hex_len)
				abort();
		}
	} else if (m.n != 0 || m.v != NULL || (d.n == 0 && !d.oom && d.dropped == 0 && r == -EBADMSG)) {
		abort();
	}
	struct strbuf sb;
	sb_init(&sb);
	diag_render(&d, &sb);
	sb_free(&sb);
	diag_list_free(&d);
	manifest_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	const char *rest = (const char *)data + 1;
	size_t rest_len = size - 1;
	struct minisign_key key;
	switch (data[0] % 3) {
	case 0:
		manifest_check(rest, rest_len);
		break;
	case 1:
		if (minisign_key_parse(rest, rest_len, &key) == 0) {
			char id[17];
			minisign_key_id_format(key.id, id);
		}
		break;
	case 2: {
		if (rest_len < 56 + 2 || minisign_key_parse(rest, 56, &key) < 0)
			break;
		size_t sig_len = (size_t)(uint8_t)rest[56] | (size_t)(uint8_t)rest[57] << 8;
		if (sig_len > rest_len - 58)
			sig_len = rest_len - 58;
		const char *sig = rest + 58;
		const char *msg = sig + sig_len;
		size_t msg_len = rest_len - 58 - sig_len;
		char err[256];
		char *trusted = NULL;
		int r = minisign_verify(&key, sig, sig_len, msg, msg_len, &trusted, err, sizeof(err));
		if ((r == 0) != (trusted != NULL) || (r == 0 && err[0] != '\0') || (r != 0 && err[0] == '\0'))
			abort();
		free(trusted);
		if (r == 0)
			manifest_check(msg, msg_len);
		break;
	}
	}
	return 0;
}
