/* SPDX-License-Identifier: Apache-2.0 */
/* User-data unwrapping: MIME structure, encodings, gzip, and the
 * positions errors are reported at. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "source.h"
#include "userdata.h"

static int extract(const char *text, struct userdata *u, char **diags)
{
	struct diag_list d = { 0 };
	int r = userdata_extract("ud", text, strlen(text), u, &d);
	struct strbuf sb;
	sb_init(&sb);
	diag_render(&d, &sb);
	*diags = sb_steal(&sb);
	diag_list_free(&d);
	return r;
}

#define PART_YAML "#cloud-config\nmeshboot:\n  version: 1\n"

static void test_plain_passthrough(void **state)
{
	(void)state;
	struct userdata u;
	char *diags;
	assert_int_equal(extract(PART_YAML, &u, &diags), 0);
	assert_string_equal(u.yaml, PART_YAML);
	assert_string_equal(u.source, "ud");
	assert_int_equal(u.line_offset, 0);
	userdata_free(&u);
	free(diags);
}

/* CRLF line ends, folded Content-Type header, preamble, 7bit part. */
static void test_mime_crlf_folded(void **state)
{
	(void)state;
	const char *m =
		"Content-Type: multipart/mixed;\r\n boundary=\"b1\"\r\nMIME-Version: 1.0\r\n\r\n"
		"preamble text\r\n"
		"--b1\r\nContent-Type: text/x-shellscript\r\n\r\n#!/bin/sh\r\nmeshboot: not this one\r\n"
		"--b1\r\nContent-Type: text/cloud-config\r\n\r\n#cloud-config\r\nmeshboot:\r\n  version: 1\r\n"
		"--b1--\r\nepilogue\r\n";
	struct userdata u;
	char *diags;
	assert_int_equal(extract(m, &u, &diags), 0);
	assert_string_equal(u.yaml, "#cloud-config\r\nmeshboot:\r\n  version: 1");
	assert_string_equal(u.source, "ud");
	assert_int_equal(u.line_offset, 13);
	userdata_free(&u);
	free(diags);
}

static void test_mime_base64_part_named(void **state)
{
	(void)state;
	/* base64 of PART_YAML */
	const char *m =
		"Content-Type: multipart/mixed; boundary=zz\n\n"
		"--zz\nContent-Type: text/cloud-config; charset=\"utf-8\"\nContent-Transfer-Encoding: base64\n\n"
		"I2Nsb3VkLWNvbmZpZwptZXNoYm9vdDoKICB2ZXJzaW9uOiAxCg==\n--zz--\n";
	struct userdata u;
	char *diags;
	assert_int_equal(extract(m, &u, &diags), 0);
	assert_string_equal(u.yaml, PART_YAML);
	assert_string_equal(u.source, "ud(part 1)");
	assert_int_equal(u.line_offset, 0);
	userdata_free(&u);
	free(diags);
}

static void test_mime_nested(void **state)
{
	(void)state;
	const char *m =
		"Content-Type: multipart/mixed; boundary=outer\n\n"
		"--outer\nContent-Type: multipart/mixed; boundary=inner\n\n"
		"--inner\nContent-Type: text/cloud-config\n\n" PART_YAML "--inner--\n"
		"--outer--\n";
	struct userdata u;
	char *diags;
	assert_int_equal(extract(m, &u, &diags), 0);
	/* the line break before a delimiter belongs to the delimiter (RFC 2046) */
	assert_string_equal(u.yaml, "#cloud-config\nmeshboot:\n  version: 1");
	userdata_free(&u);
	free(diags);
}

static void test_mime_errors(void **state)
{
	(void)state;
	static const struct {
		const char *in, *diag;
	} cases[] = {
		{ "Content-Type: multipart/mixed\n\n--x\n\n", "ud:1:1: multipart user-data without a boundary parameter\n" },
		{ "Content-Type: multipart/mixed; boundary=q\n\n--q\nContent-Type: text/cloud-config\n"
		  "Content-Transfer-Encoding: base64\n\n!!!notbase64\n--q--\n",
		  "ud:7:1: MIME part 1: invalid base64 body\n" },
		{ "Content-Type: multipart/mixed; boundary=q\n\n--q\nContent-Type: text/cloud-config\n"
		  "Content-Transfer-Encoding: quoted-printable\n\nmeshboot: {}\n--q--\n",
		  "ud:4:1: MIME part 1: unsupported Content-Transfer-Encoding \"quoted-printable\"\n" },
		{ "Content-Type: multipart/mixed; boundary=q\n\n--q\nthis is not a header\n\n--q--\n",
		  "ud:4:1: MIME part 1 has no valid header block\n" },
		{ "#!/bin/bash\nmeshboot:\n", "ud:1:1: user-data is a script (#!), not a #cloud-config document\n" },
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct userdata u;
		char *diags;
		assert_int_equal(extract(cases[i].in, &u, &diags), -EBADMSG);
		assert_string_equal(diags, cases[i].diag);
		free(diags);
	}
}

static void test_cmdline(void **state)
{
	(void)state;
	char *v = cmdline_get("BOOT_IMAGE=/vmlinuz root=/dev/vda1 meshboot.config=https://a.example/x quiet\n",
	                      "meshboot.config");
	assert_string_equal(v, "https://a.example/x");
	free(v);
	v = cmdline_get("meshboot.config=/a meshboot.config=\"/b c\" meshboot.configx=/d", "meshboot.config");
	assert_string_equal(v, "/b c");
	free(v);
	assert_null(cmdline_get("xmeshboot.config=/a meshboot.config", "meshboot.config"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_passthrough),
		cmocka_unit_test(test_mime_crlf_folded),
		cmocka_unit_test(test_mime_base64_part_named),
		cmocka_unit_test(test_mime_nested),
		cmocka_unit_test(test_mime_errors),
		cmocka_unit_test(test_cmdline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
