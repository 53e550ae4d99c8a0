/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for src/minisign.c and src/manifest.c: signatures made by the
 * real minisign tool (tests/fixtures/minisign/make.sh), hostile signature
 * files and manifests with their exact messages, URL file names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "config.h"
#include "diag.h"
#include "manifest.h"
#include "minisign.h"
#include "util.h"

#ifndef FIXTURES_DIR
#error "FIXTURES_DIR must name tests/fixtures/minisign"
#endif

#define KEY_FILE "test-only-DO-NOT-USE.pub"
#define OTHER_KEY_FILE "other-test-only-DO-NOT-USE.pub"
#define TRUSTED "timestamp:1700000000\tfile:SHA256SUMS\tmeshboot test release"
#define HEX0 "0000000000000000000000000000000000000000000000000000000000000000"
#define HEXA "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* The fixture file name, read whole (NUL-terminated). */
static char *fixture_read(const char *name, size_t *len)
{
	char path[512];
	char *buf = NULL;
	size_t n = 0;
	snprintf(path, sizeof(path), "%s/%s", FIXTURES_DIR, name);
	int r = file_read_all(path, 1u << 20, &buf, &n);
	if (r < 0)
		fail_msg("cannot read %s: %s", path, strerror(-r));
	if (len)
		*len = n;
	return buf;
}

static void key_load(const char *name, struct minisign_key *k)
{
	size_t len;
	char *text = fixture_read(name, &len);
	assert_int_equal(minisign_key_parse(text, len, k), 0);
	free(text);
}

/* The key id in a .pub file's comment ("... minisign public key HEX"). */
static void key_comment_id(const char *name, char id[17])
{
	char *text = fixture_read(name, NULL);
	const char *p = strstr(text, "minisign public key ");
	assert_non_null(p);
	memcpy(id, p + strlen("minisign public key "), 16);
	id[16] = '\0';
	free(text);
}

/* Verify sig (a fixture or text) over the fixture manifest. */
static int verify_text(const char *sig, size_t sig_len, const char *data_file, char **trusted,
                       char *err, size_t errlen)
{
	struct minisign_key k;
	size_t len;
	key_load(KEY_FILE, &k);
	char *data = fixture_read(data_file, &len);
	int r = minisign_verify(&k, sig, sig_len, data, len, trusted, err, errlen);
	free(data);
	return r;
}

static int verify_fixture(const char *sig_file, const char *data_file, char **trusted, char *err, size_t errlen)
{
	size_t sig_len;
	char *sig = fixture_read(sig_file, &sig_len);
	int r = verify_text(sig, sig_len, data_file, trusted, err, errlen);
	free(sig);
	return r;
}

/* ---- keys ---------------------------------------------------------------- */

static void test_key_parse_forms(void **state)
{
	(void)state;
	size_t len;
	char *pub = fixture_read(KEY_FILE, &len);
	struct minisign_key from_file, from_line, k;
	assert_int_equal(minisign_key_parse(pub, len, &from_file), 0);

	const char *line = strchr(pub, '\n') + 1;
	size_t line_len = strlen(line);
	assert_int_equal(line_len, 57);  /* 56 and "\n" */
	assert_int_equal(minisign_key_parse(line, line_len, &from_line), 0);
	assert_memory_equal(&from_file, &from_line, sizeof(from_file));
	assert_int_equal(minisign_key_parse(line, 56, &k), 0);  /* no newline */
	assert_memory_equal(&from_file, &k, sizeof(k));

	char crlf[128];
	snprintf(crlf, sizeof(crlf), "%.56s\r\n", line);
	assert_int_equal(minisign_key_parse(crlf, strlen(crlf), &k), 0);
	assert_memory_equal(&from_file, &k, sizeof(k));

	/* the id as minisign prints it: the bytes reversed */
	char want[17], got[17];
	key_comment_id(KEY_FILE, want);
	minisign_key_id_format(from_file.id, got);
	assert_string_equal(got, want);
	free(pub);
}

static void test_key_parse_garbage(void **state)
{
	(void)state;
	char *pub = fixture_read(KEY_FILE, NULL);
	char line[57];
	memcpy(line, strchr(pub, '\n') + 1, 56);
	line[56] = '\0';
	free(pub);

	char buf[256];
	const char *plain[] = {
		"", "\n", "RW", "RWQ=", "untrusted comment: x\n", "untrusted comment: x",
		"not a key at all", "-----BEGIN PUBLIC KEY-----\n",
	};
	struct minisign_key k;
	memset(&k, 0x5a, sizeof(k));
	for (size_t i = 0; i < ELEMENTSOF(plain); i++)
		assert_int_equal(minisign_key_parse(plain[i], strlen(plain[i]), &k), -EINVAL);

	/* the line with something around or inside it */
	struct { const char *before, *after; size_t keep; } forms[] = {
		{ " ", "", 56 }, { "", " ", 56 }, { "", "\n\n", 56 }, { "", "\r", 56 }, { "", "\t", 56 },
		{ "", "\nRWQ", 56 }, { "", "", 55 }, { "", "A", 56 }, { "", "=", 56 }, { "", "==", 56 },
		{ "", "\nuntrusted comment: x\n", 56 }, { "comment: x\n", "", 56 }, { "\n", "", 56 },
		{ "untrusted comment: x\n\n", "", 56 }, { "untrusted comment: x\r", "", 56 },
	};
	for (size_t i = 0; i < ELEMENTSOF(forms); i++) {
		snprintf(buf, sizeof(buf), "%s%.*s%s", forms[i].before, (int)forms[i].keep, line, forms[i].after);
		if (minisign_key_parse(buf, strlen(buf), &k) != -EINVAL)
			fail_msg("form %zu accepted", i);
	}
	snprintf(buf, sizeof(buf), "%.28s %s", line, line + 28);
	assert_int_equal(minisign_key_parse(buf, strlen(buf), &k), -EINVAL);

	/* one character outside the alphabet (URL-safe, '='), in the middle */
	const char bad_chars[] = { '-', '_', '=', '.', '\0', '\x80' };
	for (size_t i = 0; i < sizeof(bad_chars); i++) {
		memcpy(buf, line, 57);
		buf[30] = bad_chars[i];
		assert_int_equal(minisign_key_parse(buf, 56, &k), -EINVAL);
	}

	/* right length, wrong algorithm: "ED" is only for signatures */
	uint8_t blob[42];
	assert_int_equal(EVP_DecodeBlock(blob, (const unsigned char *)line, 56), 42);
	blob[1] = 'D';
	assert_int_equal(EVP_EncodeBlock((unsigned char *)buf, blob, 42), 56);
	assert_int_equal(minisign_key_parse(buf, 56, &k), -EINVAL);
	/* the out parameter is untouched on failure */
	uint8_t untouched[sizeof(k)];
	memset(untouched, 0x5a, sizeof(untouched));
	assert_memory_equal(&k, untouched, sizeof(k));
}

/* ---- signatures from minisign -------------------------------------------- */

static void test_verify_prehashed(void **state)
{
	(void)state;
	char err[256] = "x";
	char *trusted = NULL;
	char *sig = fixture_read("SHA256SUMS.minisig", NULL);
	assert_non_null(strstr(sig, "\nRU"));  /* "ED" encodes as "RU" */
	free(sig);
	assert_int_equal(verify_fixture("SHA256SUMS.minisig", "SHA256SUMS", &trusted, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(trusted, TRUSTED);
	free(trusted);
	/* trusted and err are optional */
	assert_int_equal(verify_fixture("SHA256SUMS.minisig", "SHA256SUMS", NULL, NULL, 0), 0);
}

static void test_verify_legacy(void **state)
{
	(void)state;
	char err[256];
	char *trusted = NULL;
	char *sig = fixture_read("SHA256SUMS.legacy.minisig", NULL);
	assert_non_null(strstr(sig, "\nRW"));  /* "Ed" encodes as "RW" */
	free(sig);
	assert_int_equal(verify_fixture("SHA256SUMS.legacy.minisig", "SHA256SUMS", &trusted, err, sizeof(err)), 0);
	assert_string_equal(trusted, TRUSTED);
	free(trusted);
}

static void test_verify_flipped(void **state)
{
	(void)state;
	char err[256];
	char *trusted = (char *)"not reset";
	assert_int_equal(verify_fixture("SHA256SUMS.flipped.minisig", "SHA256SUMS", &trusted, err, sizeof(err)), -EBADE);
	assert_null(trusted);
	assert_string_equal(err, "the file signature (line 2, prehashed \"ED\") does not verify: "
	                         "the data is not what was signed");
}

static void test_verify_truncated(void **state)
{
	(void)state;
	char err[256];
	assert_int_equal(verify_fixture("SHA256SUMS.truncated.minisig", "SHA256SUMS", NULL, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "signature file is truncated: it ends inside line 2 (signature)");
}

static void test_verify_wrong_key(void **state)
{
	(void)state;
	char err[256], want[256], pinned[17], signer[17];
	char *trusted = NULL;
	key_comment_id(KEY_FILE, pinned);
	key_comment_id(OTHER_KEY_FILE, signer);
	assert_string_not_equal(pinned, signer);
	assert_int_equal(verify_fixture("SHA256SUMS.wrong-key.minisig", "SHA256SUMS", &trusted, err, sizeof(err)),
	                 -EKEYREJECTED);
	assert_null(trusted);
	snprintf(want, sizeof(want), "signed with key id %s, but the pinned key id is %s", signer, pinned);
	assert_string_equal(err, want);

	/* with the other key pinned, the same file verifies */
	struct minisign_key other;
	size_t sig_len, len;
	key_load(OTHER_KEY_FILE, &other);
	char *sig = fixture_read("SHA256SUMS.wrong-key.minisig", &sig_len);
	char *data = fixture_read("SHA256SUMS", &len);
	assert_int_equal(minisign_verify(&other, sig, sig_len, data, len, NULL, err, sizeof(err)), 0);
	free(sig);
	free(data);
}

static void test_verify_tampered_comment(void **state)
{
	(void)state;
	char err[256];
	char *trusted = NULL;
	assert_int_equal(verify_fixture("SHA256SUMS.tampered-comment.minisig", "SHA256SUMS", &trusted, err, sizeof(err)),
	                 -EBADE);
	assert_null(trusted);
	assert_string_equal(err, "the trusted comment (line 3) does not verify against the global signature (line 4)");
}

static void test_verify_modified_manifest(void **state)
{
	(void)state;
	char err[256];
	assert_int_equal(verify_fixture("SHA256SUMS.minisig", "SHA256SUMS.modified", NULL, err, sizeof(err)), -EBADE);
	assert_string_equal(err, "the file signature (line 2, prehashed \"ED\") does not verify: "
	                         "the data is not what was signed");
	assert_int_equal(verify_fixture("SHA256SUMS.legacy.minisig", "SHA256SUMS.modified", NULL, err, sizeof(err)),
	                 -EBADE);
	assert_string_equal(err, "the file signature (line 2, legacy \"Ed\") does not verify: "
	                         "the data is not what was signed");

	/* one byte more or less, empty data */
	struct minisign_key k;
	size_t sig_len, len;
	key_load(KEY_FILE, &k);
	char *sig = fixture_read("SHA256SUMS.minisig", &sig_len);
	char *data = fixture_read("SHA256SUMS", &len);
	assert_int_equal(minisign_verify(&k, sig, sig_len, data, len - 1, NULL, NULL, 0), -EBADE);
	assert_int_equal(minisign_verify(&k, sig, sig_len, data, len + 1, NULL, NULL, 0), -EBADE);  /* the NUL */
	assert_int_equal(minisign_verify(&k, sig, sig_len, NULL, 0, NULL, NULL, 0), -EBADE);
	free(sig);
	free(data);
}

/* The good signature file's four lines, for in-memory variants. */
struct sig_lines {
	char l[4][256];
};

static void sig_lines_load(const char *name, struct sig_lines *s)
{
	char *text = fixture_read(name, NULL);
	char *p = text;
	for (int i = 0; i < 4; i++) {
		char *nl = strchr(p, '\n');
		assert_non_null(nl);
		*nl = '\0';
		snprintf(s->l[i], sizeof(s->l[i]), "%s", p);
		p = nl + 1;
	}
	assert_string_equal(p, "");
	free(text);
}

static void test_verify_malformed(void **state)
{
	(void)state;
	struct sig_lines s;
	sig_lines_load("SHA256SUMS.minisig", &s);
	char l2_short[256], l2_badchar[256], l2_noncanon[256], l2_alg[256], l4_bad[256];
	snprintf(l2_short, sizeof(l2_short), "%.96s", s.l[1]);
	snprintf(l2_badchar, sizeof(l2_badchar), "%s", s.l[1]);
	l2_badchar[50] = '-';
	/* 74 bytes end in one '=': the last character carries 2 unused bits */
	snprintf(l2_noncanon, sizeof(l2_noncanon), "%s", s.l[1]);
	assert_int_equal(l2_noncanon[99], '=');
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t v = (size_t)(strchr(b64, l2_noncanon[98]) - b64);
	assert_int_equal(v & 3, 0);
	l2_noncanon[98] = b64[v + 1];  /* same bytes, one unused bit set */
	uint8_t blob[75];
	assert_int_equal(EVP_DecodeBlock(blob, (const unsigned char *)s.l[1], 100), 75);  /* counts the pad */
	blob[0] = 'X';
	blob[1] = 'y';
	assert_int_equal(EVP_EncodeBlock((unsigned char *)l2_alg, blob, 74), 100);
	snprintf(l4_bad, sizeof(l4_bad), "%s", s.l[3]);
	l4_bad[10] = ' ';

	struct {
		const char *l1, *l2, *l3, *l4, *tail;
		const char *err;
	} cases[] = {
		{ "untrusted comment", NULL, NULL, NULL, "",
		  "line 1 (untrusted comment): does not start with \"untrusted comment: \"" },
		{ "trusted comment: x", NULL, NULL, NULL, "",
		  "line 1 (untrusted comment): does not start with \"untrusted comment: \"" },
		{ NULL, l2_short, NULL, NULL, "", "line 2 (signature): 96 characters, expected 100 (base64 of 74 bytes)" },
		{ NULL, "", NULL, NULL, "", "line 2 (signature): 0 characters, expected 100 (base64 of 74 bytes)" },
		{ NULL, l2_badchar, NULL, NULL, "", "line 2 (signature): invalid base64" },
		{ NULL, l2_noncanon, NULL, NULL, "", "line 2 (signature): invalid base64" },
		{ NULL, l2_alg, NULL, NULL, "", "line 2 (signature): unsupported algorithm 0x5879 (expected \"Ed\" or \"ED\")" },
		{ NULL, NULL, "trusted comment:x", NULL, "",
		  "line 3 (trusted comment): does not start with \"trusted comment: \"" },
		{ NULL, NULL, "untrusted comment: x", NULL, "",
		  "line 3 (trusted comment): does not start with \"trusted comment: \"" },
		{ NULL, NULL, NULL, l4_bad, "", "line 4 (global signature): invalid base64" },
		{ NULL, NULL, NULL, "", "", "line 4 (global signature): 0 characters, expected 88 (base64 of 64 bytes)" },
		{ NULL, NULL, NULL, NULL, "\n", "line 5: unexpected content after the global signature" },
		{ NULL, NULL, NULL, NULL, "untrusted comment: again\n", "line 5: unexpected content after the global signature" },
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char text[2048], err[256];
		snprintf(text, sizeof(text), "%s\n%s\n%s\n%s\n%s", cases[i].l1 ? cases[i].l1 : s.l[0],
		         cases[i].l2 ? cases[i].l2 : s.l[1], cases[i].l3 ? cases[i].l3 : s.l[2],
		         cases[i].l4 ? cases[i].l4 : s.l[3], cases[i].tail);
		int r = verify_text(text, strlen(text), "SHA256SUMS", NULL, err, sizeof(err));
		if (r != -EBADMSG || strcmp(err, cases[i].err) != 0)
			fail_msg("case %zu: got %d \"%s\", want \"%s\"", i, r, err, cases[i].err);
	}

	char text[10000], err[256];
	assert_int_equal(verify_text("", 0, "SHA256SUMS", NULL, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "signature file is empty");
	assert_int_equal(verify_text(NULL, 5, "SHA256SUMS", NULL, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "signature file is empty");

	snprintf(text, sizeof(text), "%s\n", s.l[0]);
	assert_int_equal(verify_text(text, strlen(text), "SHA256SUMS", NULL, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "signature file is truncated: line 2 (signature) is missing");
	snprintf(text, sizeof(text), "%s\n%s\n%s\n", s.l[0], s.l[1], s.l[2]);
	assert_int_equal(verify_text(text, strlen(text), "SHA256SUMS", NULL, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "signature file is truncated: line 4 (global signature) is missing");
	/* cut inside the last line */
	snprintf(text, sizeof(text), "%s\n%s\n%s\n%.40s", s.l[0], s.l[1], s.l[2], s.l[3]);
	assert_int_equal(verify_text(text, strlen(text), "SHA256SUMS", NULL, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "line 4 (global signature): 40 characters, expected 88 (base64 of 64 bytes)");

	/* NUL and a lone CR inside a line */
	snprintf(text, sizeof(text), "%s\n%s\n%s\n%s\n", s.l[0], s.l[1], s.l[2], s.l[3]);
	size_t len = strlen(text);
	text[strlen(s.l[0]) + 1 + strlen(s.l[1]) + 1 + 20] = '\0';
	assert_int_equal(verify_text(text, len, "SHA256SUMS", NULL, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "line 3 (trusted comment): NUL byte at column 21");
	text[strlen(s.l[0]) + 1 + strlen(s.l[1]) + 1 + 20] = '\r';
	assert_int_equal(verify_text(text, len, "SHA256SUMS", NULL, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "line 3 (trusted comment): carriage return at column 21");

	/* over 8 KiB: a long untrusted comment */
	memset(text, 'c', sizeof(text));
	int n = snprintf(text, sizeof(text), "untrusted comment: ");
	text[n] = 'c';
	snprintf(text + 8000, sizeof(text) - 8000, "\n%s\n%s\n%s\n", s.l[1], s.l[2], s.l[3]);
	len = strlen(text);
	assert_true(len > 8192);
	assert_int_equal(verify_text(text, len, "SHA256SUMS", NULL, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "signature file is larger than 8192 bytes");
	/* just under the cap still verifies */
	snprintf(text + 7800, sizeof(text) - 7800, "\n%s\n%s\n%s\n", s.l[1], s.l[2], s.l[3]);
	assert_true(strlen(text) <= 8192);
	assert_int_equal(verify_text(text, strlen(text), "SHA256SUMS", NULL, err, sizeof(err)), 0);

	/* a short err buffer is truncated, not overrun */
	char small[8];
	assert_int_equal(verify_text("x\n", 2, "SHA256SUMS", NULL, small, sizeof(small)), -EBADMSG);
	assert_string_equal(small, "line 1 ");
	/* an HTML error page instead of the signature */
	const char *html = "<html>\n<head><title>404 Not Found</title></head>\n<body></body>\n</html>\n\n";
	assert_int_equal(verify_text(html, strlen(html), "SHA256SUMS", NULL, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "line 1 (untrusted comment): does not start with \"untrusted comment: \"");
	assert_int_equal(verify_text("x", 1, "SHA256SUMS", NULL, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "signature file is truncated: it ends inside line 1 (untrusted comment)");
}

static void test_verify_line_endings(void **state)
{
	(void)state;
	struct sig_lines s;
	char text[2048], err[256];
	char *trusted = NULL;
	sig_lines_load("SHA256SUMS.minisig", &s);
	/* CRLF, and no final newline, are fine */
	snprintf(text, sizeof(text), "%s\r\n%s\r\n%s\r\n%s\r\n", s.l[0], s.l[1], s.l[2], s.l[3]);
	assert_int_equal(verify_text(text, strlen(text), "SHA256SUMS", &trusted, err, sizeof(err)), 0);
	assert_string_equal(trusted, TRUSTED);
	free(trusted);
	snprintf(text, sizeof(text), "%s\n%s\n%s\n%s", s.l[0], s.l[1], s.l[2], s.l[3]);
	assert_int_equal(verify_text(text, strlen(text), "SHA256SUMS", NULL, err, sizeof(err)), 0);
	/* the untrusted comment is not covered by anything */
	snprintf(text, sizeof(text), "untrusted comment: \n%s\n%s\n%s\n", s.l[1], s.l[2], s.l[3]);
	assert_int_equal(verify_text(text, strlen(text), "SHA256SUMS", NULL, err, sizeof(err)), 0);
	/* a trailing space in the trusted comment is part of it */
	snprintf(text, sizeof(text), "%s\n%s\n%s \n%s\n", s.l[0], s.l[1], s.l[2], s.l[3]);
	assert_int_equal(verify_text(text, strlen(text), "SHA256SUMS", NULL, err, sizeof(err)), -EBADE);
	assert_string_equal(err, "the trusted comment (line 3) does not verify against the global signature (line 4)");
}

static void test_verify_bad_key_material(void **state)
{
	(void)state;
	size_t sig_len, len;
	char err[256];
	char *sig = fixture_read("SHA256SUMS.minisig", &sig_len);
	char *data = fixture_read("SHA256SUMS", &len);
	struct minisign_key k;
	key_load(KEY_FILE, &k);
	/* right id, other public key bytes: no longer a valid signer */
	k.pk[5] ^= 0x40;
	assert_int_equal(minisign_verify(&k, sig, sig_len, data, len, NULL, err, sizeof(err)), -EBADE);
	memset(k.pk, 0, sizeof(k.pk));
	assert_int_equal(minisign_verify(&k, sig, sig_len, data, len, NULL, err, sizeof(err)), -EBADE);
	memset(k.pk, 0xff, sizeof(k.pk));
	assert_int_equal(minisign_verify(&k, sig, sig_len, data, len, NULL, err, sizeof(err)), -EBADE);
	free(sig);
	free(data);
}

/* ---- manifest -------------------------------------------------------------- */

static void test_manifest_fixture(void **state)
{
	(void)state;
	size_t len;
	char *text = fixture_read("SHA256SUMS", &len);
	struct manifest m;
	struct diag_list d = { 0 };
	assert_int_equal(manifest_parse("SHA256SUMS", text, len, &m, &d), 0);
	assert_int_equal(d.n, 0);
	assert_int_equal(m.n, 4);
	assert_string_equal(m.v[0].name, "istio-sidecar.deb");
	assert_string_equal(m.v[0].hex, "a93588eca3804c5b507766cfed33890662ee46d34124e6ef25da99980a643108");
	assert_int_equal(m.v[0].alg, DIGEST_SHA256);
	const struct manifest_entry *e = manifest_find(&m, "etcd-v3.5.0-linux-amd64.tar.gz");  /* binary mode */
	assert_non_null(e);
	assert_ptr_equal(e, &m.v[3]);
	assert_int_equal(e->alg, DIGEST_SHA256);
	assert_int_equal(strlen(e->hex), 64);
	assert_null(manifest_find(&m, "*etcd-v3.5.0-linux-amd64.tar.gz"));
	assert_null(manifest_find(&m, "istio-sidecar"));
	assert_null(manifest_find(&m, "ISTIO-SIDECAR.DEB"));
	assert_null(manifest_find(&m, ""));
	assert_null(manifest_find(&m, NULL));
	assert_null(manifest_find(NULL, "istio-sidecar.deb"));
	manifest_free(&m);
	manifest_free(&m);
	assert_null(m.v);
	assert_int_equal(m.n, 0);
	free(text);
}

static void test_manifest_variants(void **state)
{
	(void)state;
	const char text[] =
		"# release 1.0.0\r\n"
		"\r\n"
		"   \t\n"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA  upper.tar.gz\r\n"
		HEX0 HEX0 " *big.iso\n"
		HEX0 "  name with spaces \n"
		HEX0 "  caf\xc3\xa9.txt\n"
		"#" HEX0 "  commented\n"
		HEXA "  upper.tar.gz\n"      /* the same again: kept once */
		HEX0 "   leading-space";     /* no final newline; name " leading-space" */
	struct manifest m;
	struct diag_list d = { 0 };
	assert_int_equal(manifest_parse("m", text, sizeof(text) - 1, &m, &d), 0);
	assert_int_equal(d.n, 0);
	assert_int_equal(m.n, 5);
	assert_string_equal(m.v[0].name, "upper.tar.gz");
	assert_string_equal(m.v[0].hex, HEXA);
	assert_int_equal(m.v[1].alg, DIGEST_SHA512);
	assert_string_equal(m.v[1].name, "big.iso");
	assert_string_equal(m.v[1].hex, HEX0 HEX0);
	assert_string_equal(m.v[2].name, "name with spaces ");
	assert_string_equal(m.v[3].name, "caf\xc3\xa9.txt");
	assert_string_equal(m.v[4].name, " leading-space");
	assert_null(manifest_find(&m, "commented"));
	manifest_free(&m);
}

/* Parses text and expects -EBADMSG with exactly the rendered diagnostics. */
static void manifest_expect(const char *text, size_t len, const char *want)
{
	struct manifest m = { (void *)1, 7 };
	struct diag_list d = { 0 };
	int r = manifest_parse("SUMS", text, len, &m, &d);
	struct strbuf sb;
	sb_init(&sb);
	diag_render(&d, &sb);
	if (r != -EBADMSG || strcmp(sb.buf ? sb.buf : "", want) != 0)
		fail_msg("input \"%.80s\": got %d\n%s\nwant\n%s", text, r, sb.buf ? sb.buf : "", want);
	assert_null(m.v);
	assert_int_equal(m.n, 0);
	sb_free(&sb);
	diag_list_free(&d);
}

static void test_manifest_hostile(void **state)
{
	(void)state;
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ HEX0 "  ../x\n", "SUMS:1:69: file name contains '/': a manifest lists plain file names, not paths\n" },
		{ HEX0 "  /etc/shadow\n", "SUMS:1:67: file name contains '/': a manifest lists plain file names, not paths\n" },
		{ HEX0 " *dir/file\n", "SUMS:1:70: file name contains '/': a manifest lists plain file names, not paths\n" },
		{ HEX0 "  ..\n", "SUMS:1:67: file name \"..\" is not allowed\n" },
		{ HEX0 "  .\n", "SUMS:1:67: file name \".\" is not allowed\n" },
		{ HEX0 "  a\x1b[31mred\n", "SUMS:1:68: control character 0x1b in the file name\n" },
		{ HEX0 "  a\rb\n", "SUMS:1:68: control character 0x0d in the file name\n" },
		{ HEX0 "  a\tb\n", "SUMS:1:68: control character 0x09 in the file name\n" },
		{ HEX0 "  a\x7f\n", "SUMS:1:68: control character 0x7f in the file name\n" },
		{ HEX0 "  \n", "SUMS:1:67: missing file name after the digest\n" },
		{ HEX0 " \n", "SUMS:1:66: missing file name after the digest\n" },
		{ HEX0 "\n", "SUMS:1:65: missing file name after the digest\n" },
		{ HEX0 " name\n", "SUMS:1:66: expected two spaces or \" *\" between the digest and the file name, found 'n'\n" },
		{ HEX0 "\tname\n", "SUMS:1:65: expected two spaces or \" *\" between the digest and the file name, found 0x09\n" },
		{ HEX0 " \tname\n", "SUMS:1:66: expected two spaces or \" *\" between the digest and the file name, found 0x09\n" },
		{ "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde  x\n",
		  "SUMS:1:1: digest has 63 hex digits, expected 64 (SHA-256) or 128 (SHA-512)\n" },
		{ "d41d8cd98f00b204e9800998ecf8427e  x\n",
		  "SUMS:1:1: digest has 32 hex digits, expected 64 (SHA-256) or 128 (SHA-512)\n" },
		{ HEX0 "0  x\n", "SUMS:1:1: digest has 65 hex digits, expected 64 (SHA-256) or 128 (SHA-512)\n" },
		{ "0000g" HEX0 "  x\n", "SUMS:1:5: invalid hex digit 'g' in the digest\n" },
		{ "\xef\xbb\xbf" HEX0 "  x\n", "SUMS:1:1: invalid hex digit 0xef in the digest\n" },
		{ "  " HEX0 "  x\n", "SUMS:1:1: expected a hex digest at the start of the line\n" },
		{ "\\" HEX0 "  a\\\\b\n", "SUMS:1:1: escaped file names (a line starting with '\\') are not supported\n" },
		{ "SHA256 (x) = " HEX0 "\n",
		  "SUMS:1:1: BSD-style line (\"ALG (name) = digest\", from --tag): expected \"<hex>  <name>\" as sha256sum writes it\n" },
		{ "", "SUMS: no file digests found (expected lines \"<hex>  <name>\")\n" },
		{ "# only a comment\n\n", "SUMS: no file digests found (expected lines \"<hex>  <name>\")\n" },
		{ HEX0 "  dup\n" HEXA "  other\n" HEXA "  dup\n",
		  "SUMS:3:67: \"dup\" is listed again with a different digest (first at line 1)\n" },
		{ HEX0 "  dup\n" HEX0 HEX0 "  dup\n",
		  "SUMS:2:131: \"dup\" is listed again with a different digest (first at line 1)\n" },
		/* every error in one pass, one per line, good lines in between */
		{ HEX0 "  ok\n../x\n" HEX0 "  ../x\n\n" HEX0 "  ok2\r\n" HEXA "  ok\n",
		  "SUMS:2:1: invalid hex digit '.' in the digest\n"
		  "SUMS:3:69: file name contains '/': a manifest lists plain file names, not paths\n"
		  "SUMS:6:67: \"ok\" is listed again with a different digest (first at line 1)\n" },
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		manifest_expect(cases[i].text, strlen(cases[i].text), cases[i].want);

	/* a NUL byte */
	const char nul[] = HEX0 "  a\0b\n";
	manifest_expect(nul, sizeof(nul) - 1, "SUMS:1:68: NUL byte\n");

	/* names: 255 bytes pass, 256 do not */
	char text[600];
	snprintf(text, sizeof(text), HEX0 "  %0255d\n", 0);
	struct manifest m;
	struct diag_list d = { 0 };
	assert_int_equal(manifest_parse("SUMS", text, strlen(text), &m, &d), 0);
	manifest_free(&m);
	snprintf(text, sizeof(text), HEX0 "  %0256d\n", 0);
	manifest_expect(text, strlen(text), "SUMS:1:67: file name is longer than 255 bytes\n");

	/* no text at all */
	assert_int_equal(manifest_parse("SUMS", NULL, 0, &m, &d), -EBADMSG);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.v[0].msg, "no file digests found (expected lines \"<hex>  <name>\")");
	diag_list_free(&d);

	/* NULL source names "<input>" */
	assert_int_equal(manifest_parse(NULL, "x", 1, &m, &d), -EBADMSG);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.v[0].source, "<input>");
	diag_list_free(&d);
}

static void test_manifest_limits(void **state)
{
	(void)state;
	/* more than 1 MiB */
	size_t big = MANIFEST_MAX_BYTES + 1;
	char *text = malloc(big);
	assert_non_null(text);
	memset(text, '#', big);
	manifest_expect(text, big, "SUMS: manifest is larger than 1048576 bytes\n");
	free(text);

	/* 10,000 entries pass, the 10,001st is refused and parsing stops */
	struct strbuf sb;
	sb_init(&sb);
	for (unsigned i = 0; i < MANIFEST_MAX_ENTRIES; i++)
		sb_printf(&sb, HEX0 "  f%u\n", i);
	sb_printf(&sb, HEX0 "  f0\n");  /* a repeat is not a new entry */
	struct manifest m;
	struct diag_list d = { 0 };
	assert_int_equal(sb_ok(&sb), 0);
	assert_int_equal(manifest_parse("SUMS", sb.buf, sb.len, &m, &d), 0);
	assert_int_equal(m.n, MANIFEST_MAX_ENTRIES);
	assert_non_null(manifest_find(&m, "f9999"));
	manifest_free(&m);
	sb_printf(&sb, HEX0 "  one-too-many\n" HEX0 "  ../not-reached\n");
	manifest_expect(sb.buf, sb.len, "SUMS:10002:1: more than 10000 entries\n");
	sb_free(&sb);

	/* at most DIAG_MAX messages, the rest counted */
	sb_init(&sb);
	for (unsigned i = 0; i < 150; i++)
		sb_puts(&sb, "x\n");
	assert_int_equal(manifest_parse("SUMS", sb.buf, sb.len, &m, &d), -EBADMSG);
	assert_int_equal(d.n, DIAG_MAX);
	assert_int_equal(d.dropped, 50);
	assert_int_equal(d.v[99].line, 100);
	diag_list_free(&d);
	sb_free(&sb);
}

static void test_name_for_url(void **state)
{
	(void)state;
	static const struct {
		const char *url, *name;
	} cases[] = {
		{ "https://example.com/istio/1.0.0/istio-sidecar.deb", "istio-sidecar.deb" },
		{ "https://example.com/a/istio.tar.gz?X-Amz-Signature=ab/cd#frag", "istio.tar.gz" },
		{ "https://example.com/a/istio.tar.gz#x/y", "istio.tar.gz" },
		{ "https://user@example.com:8443/x", "x" },
		{ "http://[::1]:8080/dl/etcd-v3.5.0-linux-amd64.tar.gz", "etcd-v3.5.0-linux-amd64.tar.gz" },
		{ "file:///srv/mirror/istio.deb", "istio.deb" },
		{ "https://example.com/a%20b.tar.gz", "a%20b.tar.gz" },  /* not decoded */
		{ "https://example.com/..a", "..a" },
		{ "https://example.com", NULL },
		{ "https://example.com/", NULL },
		{ "https://example.com/dir/", NULL },
		{ "https://example.com?x=/y", NULL },
		{ "https://example.com#/y", NULL },
		{ "https://example.com/a/..", NULL },
		{ "https://example.com/a/.", NULL },
		{ "https://example.com/a/..?x", NULL },
		{ "https://example.com/a/?name=x.deb", NULL },
		{ "https://example.com/a/x%2Fy", NULL },
		{ "https://example.com/a/x%2fy", NULL },
		{ "https://example.com/a/x%5cy", NULL },
		{ "https://example.com/a/x\\y", NULL },
		{ "https://example.com/a/x\ny", NULL },
		{ "https://example.com/a/x\x7f", NULL },
		{ "istio.deb", NULL },
		{ "/srv/istio.deb", NULL },
		{ "://host/x", NULL },
		{ "", NULL },
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		errno = 0;
		char *got = manifest_name_for_url(cases[i].url);
		if (cases[i].name) {
			if (!got || strcmp(got, cases[i].name) != 0)
				fail_msg("%s: got %s, want %s", cases[i].url, got ? got : "NULL", cases[i].name);
		} else {
			if (got)
				fail_msg("%s: got %s, want NULL", cases[i].url, got);
			assert_int_equal(errno, EINVAL);
		}
		free(got);
	}
	assert_null(manifest_name_for_url(NULL));

	char url[400];
	snprintf(url, sizeof(url), "https://h/%0255d", 0);
	char *got = manifest_name_for_url(url);
	assert_non_null(got);
	free(got);
	snprintf(url, sizeof(url), "https://h/%0256d", 0);
	assert_null(manifest_name_for_url(url));
}

/* The whole path: verify the manifest, then look an artifact up in it. */
static void test_verified_lookup(void **state)
{
	(void)state;
	size_t sig_len, len;
	struct minisign_key k;
	key_load(KEY_FILE, &k);
	char *sig = fixture_read("SHA256SUMS.minisig", &sig_len);
	char *data = fixture_read("SHA256SUMS", &len);
	char err[256];
	assert_int_equal(minisign_verify(&k, sig, sig_len, data, len, NULL, err, sizeof(err)), 0);
	struct manifest m;
	struct diag_list d = { 0 };
	assert_int_equal(manifest_parse("SHA256SUMS", data, len, &m, &d), 0);
	char *name = manifest_name_for_url("https://releases.example/istio/1.0.0/istio-1.0.0-linux.tar.gz?token=x");
	assert_non_null(name);
	const struct manifest_entry *e = manifest_find(&m, name);
	assert_non_null(e);
	assert_string_equal(e->hex, "5944db412ddf59d8cc27f0218320f449c96f704e96440578f0296764da191b2f");
	free(name);
	manifest_free(&m);
	free(sig);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_parse_forms),
		cmocka_unit_test(test_key_parse_garbage),
		cmocka_unit_test(test_verify_prehashed),
		cmocka_unit_test(test_verify_legacy),
		cmocka_unit_test(test_verify_flipped),
		cmocka_unit_test(test_verify_truncated),
		cmocka_unit_test(test_verify_wrong_key),
		cmocka_unit_test(test_verify_tampered_comment),
		cmocka_unit_test(test_verify_modified_manifest),
		cmocka_unit_test(test_verify_malformed),
		cmocka_unit_test(test_verify_line_endings),
		cmocka_unit_test(test_verify_bad_key_material),
		cmocka_unit_test(test_manifest_fixture),
		cmocka_unit_test(test_manifest_variants),
		cmocka_unit_test(test_manifest_hostile),
		cmocka_unit_test(test_manifest_limits),
		cmocka_unit_test(test_name_for_url),
		cmocka_unit_test(test_verified_lookup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
