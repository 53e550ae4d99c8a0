/* SPDX-License-Identifier: Apache-2.0 */
/* The plan: order of steps, cache hits, determinism, JSON well-formedness. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "config-parse.h"
#include "plan.h"

#define DIGEST "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
static const char *const yaml =
	"#cloud-config\nmeshboot:\n  version: 1\n  roles: [sidecar]\n"
	"  mesh: {discovery_address: \"pilot:15010\", hosts: [{name: pilot, ip: 10.0.0.2}]}\n"
	"  artifacts:\n    sidecar: {url: \"https://s.example/s.deb\", version: \"1.0.6\", exec: bin/agent, "
	"args: [proxy], sha256: " DIGEST "}\n"
	"  certs:\n    root: {pem: \"-----BEGIN CERTIFICATE-----\\nx\\n-----END CERTIFICATE-----\\n\"}\n"
	"    ca: {mode: istio, address: \"istiod:15012\", token: SECRETCANARY}\n"
	"  redirect: {exclude_outbound_cidrs: [169.254.169.254/32], ipv6: false}\n";

static void load(struct config *c)
{
	struct diag_list d = { 0 };
	config_init(c);
	assert_int_equal(config_parse_buffer("t", yaml, strlen(yaml), c, &d), 0);
	diag_list_free(&d);
}

static char *render(const struct config *c, const char *root, bool json)
{
	struct plan p;
	struct strbuf sb;
	sb_init(&sb);
	assert_int_equal(plan_build(c, root, &p), 0);
	assert_int_equal(json ? plan_render_json(&p, &sb) : plan_render_text(&p, &sb), 0);
	plan_free(&p);
	return sb_steal(&sb);
}

static const char *find_after(const char *hay, const char *needle, const char *after)
{
	const char *a = strstr(hay, after);
	assert_non_null(a);
	const char *n = strstr(a, needle);
	if (!n)
		print_error("\"%s\" not after \"%s\"\n", needle, after);
	assert_non_null(n);
	return n;
}

static void test_order_and_content(void **state)
{
	(void)state;
	struct config c;
	load(&c);
	char *t = render(&c, "/nonexistent", false);
	/* fetch, then user, files, unit, certificate, redirect, enable, record */
	const char *p = find_after(t, "fetch: fetch, verify and unpack sidecar 1.0.6", "Plan for roles: sidecar");
	p = find_after(p, "cache       /var/cache/meshboot/sha256/" DIGEST " (miss)", "fetch:");
	p = find_after(p, "install     /opt/meshboot/sidecar/1.0.6-0123456789ab/", "cache");
	p = find_after(p, "user: system user and group istio-proxy", "install");
	p = find_after(p, "file: /var/lib/istio/envoy/cluster.env", "user:");
	p = find_after(p, "entry   10.0.0.2 pilot", "/etc/hosts (managed block)");
	p = find_after(p, "ExecStart   /opt/meshboot/sidecar/current/bin/agent proxy", "unit: /etc/systemd/system/istio-sidecar.service");
	p = find_after(p, "san              URI:spiffe://cluster.local/ns/default/sa/default", "certificate:");
	p = find_after(p, "token            inline (not shown)", "san");
	p = find_after(p, "| -A ISTIO_OUTPUT -d 169.254.169.254/32 -j RETURN", "redirect: iptables rules");
	p = find_after(p, "enable: enable and start units", "COMMIT");
	find_after(p, "record: /var/lib/meshboot/status.json", "enable:");
	assert_null(strstr(t, "ip6tables"));
	assert_null(strstr(t, "SECRETCANARY"));
	free(t);
	config_free(&c);
}

static void test_cache_hit(void **state)
{
	(void)state;
	char root[] = "/tmp/meshboot-plan-XXXXXX";
	assert_non_null(mkdtemp(root));
	char path[256];
	snprintf(path, sizeof(path), "%s/var", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/var/cache", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/var/cache/meshboot", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/var/cache/meshboot/sha256", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/var/cache/meshboot/sha256/%s", root, DIGEST);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	close(fd);
	struct config c;
	load(&c);
	char *t = render(&c, root, false);
	assert_non_null(strstr(t, DIGEST " (hit)"));
	free(t);
	config_free(&c);
	unlink(path);
	for (int i = 0; i < 4; i++) {
		char *slash = strrchr(path, '/');
		*slash = '\0';
		rmdir(path);
	}
	assert_int_equal(rmdir(root), 0);
}

static void test_deterministic_json(void **state)
{
	(void)state;
	struct config c;
	load(&c);
	char *a = render(&c, "/nonexistent", true);
	char *b = render(&c, "/nonexistent", true);
	assert_string_equal(a, b);
	assert_true(str_has_prefix(a, "{\"roles\":[\"sidecar\"],\"steps\":[\n{\"kind\":\"fetch\",\"stage\":\"bake\""));
	assert_non_null(strstr(a, "[\"digest\",\"sha256:" DIGEST "\"]"));
	assert_non_null(strstr(a, "\"text\":\"*nat\\n"));
	assert_true(str_has_suffix(a, "\n]}\n"));
	free(a);
	free(b);
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_content),
		cmocka_unit_test(test_cache_hit),
		cmocka_unit_test(test_deterministic_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
