/* SPDX-License-Identifier: Apache-2.0 */
/* The configuration parser over the corpus in tests/corpus: every good
 * file parses clean; every bad file gives exactly the diagnostics in its
 * .expect file (message and line:column), and never a secret. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "config-parse.h"

static int parse(const char *name, const char *data, size_t len, struct config *c, char **diags)
{
	struct diag_list d = { 0 };
	config_init(c);
	int r = config_parse_buffer(name, data, len, c, &d);
	struct strbuf sb;
	sb_init(&sb);
	diag_render(&d, &sb);
	*diags = sb_steal(&sb);
	diag_list_free(&d);
	return r;
}

static char *corpus_read(const char *dir, const char *name, size_t *len)
{
	char path[1024];
	char *buf = NULL;
	snprintf(path, sizeof(path), "%s/%s/%s", CORPUS_DIR, dir, name);
	assert_int_equal(file_read_all(path, 32u << 20, &buf, len), 0);
	return buf;
}

static void test_good_corpus(void **state)
{
	(void)state;
	DIR *d = opendir(CORPUS_DIR "/good");
	assert_non_null(d);
	unsigned n = 0;
	for (struct dirent *e; (e = readdir(d)); ) {
		if (e->d_name[0] == '.')
			continue;
		size_t len;
		char *data = corpus_read("good", e->d_name, &len), *diags;
		struct config c;
		int r = parse(e->d_name, data, len, &c, &diags);
		if (r != 0)
			print_error("%s:\n%s", e->d_name, diags);
		assert_int_equal(r, 0);
		assert_string_equal(diags, "");
		config_free(&c);
		free(diags);
		free(data);
		n++;
	}
	closedir(d);
	assert_true(n >= 8);
}

static void test_bad_corpus(void **state)
{
	(void)state;
	DIR *d = opendir(CORPUS_DIR "/bad");
	assert_non_null(d);
	unsigned n = 0;
	for (struct dirent *e; (e = readdir(d)); ) {
		if (e->d_name[0] == '.' || str_has_suffix(e->d_name, ".expect"))
			continue;
		char ename[300];
		snprintf(ename, sizeof(ename), "%s.expect", e->d_name);
		size_t len, elen;
		char *data = corpus_read("bad", e->d_name, &len), *diags;
		char *expect = corpus_read("bad", ename, &elen);
		struct config c;
		int r = parse(e->d_name, data, len, &c, &diags);
		assert_int_equal(r, -EBADMSG);
		if (strcmp(diags, expect) != 0)
			print_error("%s: got\n%s\nexpected\n%s", e->d_name, diags, expect);
		assert_string_equal(diags, expect);
		assert_null(strstr(diags, "SECRETCANARY"));
		assert_null(strstr(diags, "SECRET CANARY"));
		config_free(&c);
		free(diags);
		free(expect);
		free(data);
		n++;
	}
	closedir(d);
	assert_true(n >= 20);
}

#define SIDECAR_OK \
	"  mesh: {discovery_address: \"pilot:15010\"}\n" \
	"  artifacts:\n" \
	"    sidecar: {url: \"https://s.example/s.deb\", version: \"1\", exec: s, " \
	"sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef}\n" \
	"  certs: {root: {pem: \"-----BEGIN CERTIFICATE-----\\nx\\n-----END CERTIFICATE-----\\n\"}}\n"

static void test_defaults(void **state)
{
	(void)state;
	const char *y = "#cloud-config\nmeshboot:\n  version: 1\n  roles: [sidecar]\n" SIDECAR_OK;
	struct config c;
	char *diags;
	assert_int_equal(parse("t", y, strlen(y), &c, &diags), 0);
	assert_string_equal(c.mesh.trust_domain, "cluster.local");
	assert_string_equal(c.mesh.namespace_, "default");
	assert_string_equal(c.mesh.service_account, "default");
	assert_string_equal(c.user.name, "istio-proxy");
	assert_int_equal(c.user.uid, 1337);
	assert_string_equal(c.install_prefix, "/opt/meshboot");
	assert_true(c.redirect.enabled);
	assert_int_equal(c.redirect.proxy_port, 15001);
	assert_int_equal(c.redirect.inbound_capture_port, 15006);
	assert_int_equal(c.redirect.n_proxy_uids, 1);
	assert_int_equal(c.redirect.proxy_uids[0], 1337);
	assert_int_equal(c.redirect.proxy_gids[0], 1337);
	assert_true(c.redirect.inbound_ports.all);
	assert_true(c.redirect.outbound_cidrs.all);
	assert_true(c.redirect.ipv6);
	assert_int_equal(c.redirect.mode, INTERCEPT_REDIRECT);
	assert_int_equal(c.certs.key_type, KEY_EC_P256);
	assert_int_equal(c.certs.ca_mode, CA_MODE_NONE);
	assert_true(c.systemd_start);
	assert_int_equal(c.artifacts[ROLE_SIDECAR].alg, DIGEST_SHA256);
	config_free(&c);
	free(diags);
}

static void test_values_stored(void **state)
{
	(void)state;
	size_t len;
	char *data = corpus_read("good", "everything.yaml", &len), *diags;
	struct config c;
	assert_int_equal(parse("everything.yaml", data, len, &c, &diags), 0);
	assert_string_equal(c.user.name, "envoy");
	assert_int_equal(c.user.uid, 1400);
	assert_int_equal(c.redirect.mode, INTERCEPT_TPROXY);
	assert_int_equal(c.redirect.n_proxy_uids, 2);
	assert_int_equal(c.redirect.proxy_uids[1], 0);
	assert_false(c.redirect.inbound_ports.all);
	assert_int_equal(c.redirect.inbound_ports.n, 2);
	assert_int_equal(c.redirect.inbound_ports.v[1], 443);
	assert_int_equal(c.redirect.outbound_cidrs.n, 2);
	assert_int_equal(c.redirect.outbound_cidrs.v[1].family, AF_INET6);
	assert_int_equal(c.redirect.exclude_outbound_ports.v[0], 53);
	assert_string_equal(c.redirect.virtual_interfaces[0], "docker0");
	assert_false(c.redirect.loopback_redirect);
	assert_string_equal(c.release.signature_url, "https://mirror.example.com/istio/SHA256SUMS.minisig");
	assert_int_equal(c.artifacts[ROLE_MIXER].format, ARCHIVE_TAR_ZST);
	assert_int_equal(c.artifacts[ROLE_MIXER].strip_components, 2);
	assert_int_equal(c.artifacts[ROLE_PILOT].size, 1234);
	assert_int_equal(c.artifacts[ROLE_SIDECAR].n_mirrors, 1);
	assert_int_equal(c.certs.key_type, KEY_RSA_3072);
	assert_int_equal(c.certs.ca_mode, CA_MODE_ISTIO);
	assert_string_equal(c.certs.ca_address, "istio-citadel:8060");
	assert_int_equal(c.etcd.n_initial_cluster, 2);
	assert_string_equal(c.etcd.initial_cluster[1].name, "etcd1");
	assert_int_equal(c.apiserver.n_etcd_servers, 2);
	assert_false(c.systemd_start);
	assert_int_equal(c.fetch.concurrency, 8);
	config_free(&c);
	free(diags);
	free(data);
}

/* Billion laughs in cloud-init's part of the document: aliases are never
 * expanded, so it costs nothing and meshboot's section still parses. */
static void test_billion_laughs_outside(void **state)
{
	(void)state;
	struct strbuf sb;
	sb_init(&sb);
	sb_puts(&sb, "#cloud-config\nlol0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
	for (int i = 1; i < 10; i++)
		sb_printf(&sb, "lol%d: &a%d [*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d]\n", i, i, i - 1, i - 1,
		          i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
	sb_puts(&sb, "meshboot:\n  version: 1\n  roles: [sidecar]\n" SIDECAR_OK);
	struct config c;
	char *diags;
	assert_int_equal(parse("laughs", sb.buf, sb.len, &c, &diags), 0);
	config_free(&c);
	free(diags);
	sb_free(&sb);
}

static void test_billion_laughs_inside(void **state)
{
	(void)state;
	struct strbuf sb;
	sb_init(&sb);
	sb_puts(&sb, "meshboot:\n  version: 1\n  roles: [sidecar]\n  mesh:\n    hosts: &a0 [{name: a, ip: 1.1.1.1}]\n");
	for (int i = 1; i < 10; i++)
		sb_printf(&sb, "  x%d: &a%d [*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d]\n", i, i, i - 1, i - 1,
		          i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
	struct config c;
	char *diags;
	assert_int_equal(parse("laughs", sb.buf, sb.len, &c, &diags), -EBADMSG);
	assert_non_null(strstr(diags, "laughs:5:12: YAML anchors (&name) are not allowed"));
	assert_non_null(strstr(diags, "laughs:6:7: YAML anchors (&name) are not allowed"));
	assert_non_null(strstr(diags, "laughs:6:12: YAML aliases (*name) are not allowed"));
	config_free(&c);
	free(diags);
	sb_free(&sb);
}

static void test_deep_nesting(void **state)
{
	(void)state;
	struct strbuf sb;
	sb_init(&sb);
	sb_puts(&sb, "meshboot:\n  version: 1\n  roles: ");
	for (int i = 0; i < 100000; i++)
		sb_putc(&sb, '[');
	struct config c;
	char *diags;
	assert_int_equal(parse("deep", sb.buf, sb.len, &c, &diags), -EBADMSG);
	assert_string_equal(diags, "deep:3:72: YAML nested deeper than 64 levels; refused\n");
	config_free(&c);
	free(diags);
	sb_free(&sb);
}

static void test_huge_scalar(void **state)
{
	(void)state;
	struct strbuf sb;
	sb_init(&sb);
	sb_puts(&sb, "meshboot:\n  version: 1\n  roles: [sidecar]\n  certs: {ca: {token: \"");
	for (int i = 0; i < 200000; i++)
		sb_putc(&sb, 'S');
	sb_puts(&sb, "\"}}\n  mesh:\n    service: ");
	for (int i = 0; i < 100000; i++)
		sb_putc(&sb, 'x');
	sb_puts(&sb, "\n");
	struct config c;
	char *diags;
	assert_int_equal(parse("huge", sb.buf, sb.len, &c, &diags), -EBADMSG);
	assert_non_null(strstr(diags, "huge:4:23: secret must be a non-empty single word of printable characters "
	                              "(value not shown)\n"));
	assert_non_null(strstr(diags, "huge:6:14: a string is longer than 4096 bytes\n"));
	assert_null(strstr(diags, "SSSS"));
	assert_null(strstr(diags, "xxxx"));
	config_free(&c);
	free(diags);
	sb_free(&sb);
}

static void test_too_many_nodes(void **state)
{
	(void)state;
	struct strbuf sb;
	sb_init(&sb);
	sb_puts(&sb, "#cloud-config\npackages: [");
	for (int i = 0; i < 250000; i++)
		sb_puts(&sb, "a,");
	sb_puts(&sb, "a]\nmeshboot: {version: 1}\n");
	struct config c;
	char *diags;
	assert_int_equal(parse("many", sb.buf, sb.len, &c, &diags), -EBADMSG);
	assert_non_null(strstr(diags, "more than 200000 YAML nodes; refused"));
	config_free(&c);
	free(diags);
	sb_free(&sb);
}

/* Control characters would inject lines into env and unit files. */
static void test_control_chars(void **state)
{
	(void)state;
	const char *y = "meshboot:\n  version: 1\n  roles: [sidecar]\n"
	                "  artifacts:\n    sidecar: {url: \"https://s.example/s\", version: \"1\", exec: s, "
	                "sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef, "
	                "args: [\"--x\\nExecStartPre=/bin/sh\", \"a\\u0000b\"]}\n";
	struct config c;
	char *diags;
	assert_int_equal(parse("ctl", y, strlen(y), &c, &diags), -EBADMSG);
	assert_non_null(strstr(diags, "ctl:5:147: an argument string contains a control character (byte 4)\n"));
	assert_non_null(strstr(diags, "ctl:5:176: an argument string contains a control character (byte 2)\n"));
	config_free(&c);
	free(diags);
}

static void test_redirect_defaults_by_role(void **state)
{
	(void)state;
	const char *y = "version: 1\nroles: [pilot]\nartifacts:\n  pilot: {url: \"https://p.example/p\", "
	                "version: \"1\", exec: p, sha256: "
	                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef}\n";
	struct config c;
	char *diags;
	assert_int_equal(parse("cp", y, strlen(y), &c, &diags), 0);
	assert_false(c.redirect.enabled);
	config_free(&c);
	free(diags);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_corpus),
		cmocka_unit_test(test_bad_corpus),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values_stored),
		cmocka_unit_test(test_billion_laughs_outside),
		cmocka_unit_test(test_billion_laughs_inside),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_huge_scalar),
		cmocka_unit_test(test_too_many_nodes),
		cmocka_unit_test(test_control_chars),
		cmocka_unit_test(test_redirect_defaults_by_role),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
