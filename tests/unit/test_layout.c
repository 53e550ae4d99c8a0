/* SPDX-License-Identifier: Apache-2.0 */
/* The Istio files of a sidecar host and the managed /etc/hosts block. */
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
#include "layout.h"

static const char *const yaml =
	"version: 1\nroles: [sidecar]\n"
	"mesh: {discovery_address: \"istio-pilot:15010\", ca_address: \"istio-citadel:8060\", service: \"my app\", "
	"namespace: shop, trust_domain: example.org}\n"
	"artifacts: {sidecar: {url: \"https://s.example/s.deb\", version: \"1\", exec: s, "
	"sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef}}\n"
	"certs: {root: {pem: \"-----BEGIN CERTIFICATE-----\\nx\\n-----END CERTIFICATE-----\\n\"}}\n"
	"redirect: {inbound_ports: [9080, 9443], exclude_inbound_ports: [15090], outbound_cidrs: [10.0.0.0/8], "
	"exclude_outbound_cidrs: [10.1.0.0/16], exclude_outbound_ports: [53], mode: TPROXY}\n";

static void load(struct config *c)
{
	struct diag_list d = { 0 };
	config_init(c);
	assert_int_equal(config_parse_buffer("t", yaml, strlen(yaml), c, &d), 0);
	diag_list_free(&d);
}

static void test_env_files(void **state)
{
	(void)state;
	struct config c;
	load(&c);
	struct strbuf sb;
	sb_init(&sb);
	layout_cluster_env(&c, "10.0.0.5", &sb);
	assert_non_null(strstr(sb.buf, "\nISTIO_SERVICE_CIDR=10.0.0.0/8\nISTIO_INBOUND_PORTS=9080,9443\n"
	                               "ISTIO_LOCAL_EXCLUDE_PORTS=15090\nISTIO_SERVICE=\"my app\"\n"
	                               "ISTIO_NAMESPACE=shop\nISTIO_SVC_IP=10.0.0.5\nISTIO_TRUST_DOMAIN=example.org\n"
	                               "CA_ADDR=istio-citadel:8060\nPILOT_ADDRESS=istio-pilot:15010\n"));
	sb_free(&sb);
	sb_init(&sb);
	layout_sidecar_env(&c, &sb);
	assert_non_null(strstr(sb.buf, "\nENVOY_USER=istio-proxy\nENVOY_PORT=15001\nINBOUND_CAPTURE_PORT=15006\n"
	                               "ISTIO_INBOUND_INTERCEPTION_MODE=TPROXY\nISTIO_INBOUND_TPROXY_MARK=1337\n"
	                               "ISTIO_INBOUND_TPROXY_ROUTE_TABLE=133\nISTIO_SERVICE_EXCLUDE_CIDR=10.1.0.0/16\n"
	                               "ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE=53\n"));
	sb_free(&sb);
	sb_init(&sb);
	layout_mesh_config(&c, &sb);
	assert_non_null(strstr(sb.buf, "\ntrustDomain: \"example.org\"\ndefaultConfig:\n  discoveryAddress: \"istio-pilot:15010\"\n"));
	sb_free(&sb);
	config_free(&c);
}

static void test_hosts_block(void **state)
{
	(void)state;
	const struct host_entry two[] = { { (char *)"istio-pilot", (char *)"10.0.0.2" },
	                                  { (char *)"istio-citadel", (char *)"10.0.0.3" } };
	const char *orig = "127.0.0.1\tlocalhost\n::1 localhost ip6-localhost\n# a comment\n10.9.9.9 db";
	struct strbuf a, b, c;
	sb_init(&a);
	sb_init(&b);
	sb_init(&c);
	hosts_block_apply(orig, strlen(orig), two, 2, &a);
	assert_string_equal(a.buf, "127.0.0.1\tlocalhost\n::1 localhost ip6-localhost\n# a comment\n10.9.9.9 db\n"
	                           HOSTS_BEGIN "\n10.0.0.2\tistio-pilot\n10.0.0.3\tistio-citadel\n" HOSTS_END "\n");
	/* a re-run replaces the block, never duplicates it */
	hosts_block_apply(a.buf, a.len, two + 1, 1, &b);
	assert_string_equal(b.buf, "127.0.0.1\tlocalhost\n::1 localhost ip6-localhost\n# a comment\n10.9.9.9 db\n"
	                           HOSTS_BEGIN "\n10.0.0.3\tistio-citadel\n" HOSTS_END "\n");
	/* no entries: the block goes, the rest stays */
	hosts_block_apply(b.buf, b.len, NULL, 0, &c);
	assert_string_equal(c.buf, "127.0.0.1\tlocalhost\n::1 localhost ip6-localhost\n# a comment\n10.9.9.9 db\n");
	sb_free(&a);
	sb_free(&b);
	sb_free(&c);
}

static void test_files_in_root(void **state)
{
	(void)state;
	char root[] = "/tmp/meshboot-layout-XXXXXX";
	assert_non_null(mkdtemp(root));
	struct config c;
	load(&c);
	uid_t uid = getuid() == 0 ? 1337 : getuid();
	gid_t gid = getuid() == 0 ? 1337 : getgid();
	assert_int_equal(layout_dirs_ensure(root, uid, gid), 1);
	assert_int_equal(layout_dirs_ensure(root, uid, gid), 0);
	assert_int_equal(layout_files_ensure(root, &c, "10.0.0.5", uid, gid), 1);
	char p[256];
	struct stat st1, st2;
	snprintf(p, sizeof(p), "%s/var/lib/istio/envoy/cluster.env", root);
	assert_int_equal(stat(p, &st1), 0);
	assert_int_equal(st1.st_mode & 07777, 0644);
	assert_int_equal(st1.st_uid, uid);
	/* identical again: untouched */
	assert_int_equal(layout_files_ensure(root, &c, "10.0.0.5", uid, gid), 0);
	assert_int_equal(stat(p, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	/* another address: rewritten */
	assert_int_equal(layout_files_ensure(root, &c, "10.0.0.6", uid, gid), 1);
	const struct host_entry one[] = { { (char *)"istio-pilot", (char *)"10.0.0.2" } };
	assert_int_equal(hosts_block_ensure(root, one, 1), 1);
	assert_int_equal(hosts_block_ensure(root, one, 1), 0);
	assert_int_equal(hosts_block_ensure(root, NULL, 0), 1);
	config_free(&c);
	/* clean up the scratch root */
	static const char *const files[] = { "/var/lib/istio/envoy/cluster.env", "/var/lib/istio/envoy/sidecar.env",
	                                     "/etc/istio/config/mesh", "/etc/hosts" };
	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		snprintf(p, sizeof(p), "%s%s", root, files[i]);
		unlink(p);
	}
	static const char *const dirs[] = { "/var/lib/istio/envoy", "/var/lib/istio", "/var/lib", "/var/log/istio",
	                                    "/var/log", "/var", "/etc/istio/config", "/etc/istio", "/etc" };
	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		snprintf(p, sizeof(p), "%s%s", root, dirs[i]);
		rmdir(p);
	}
	assert_int_equal(rmdir(root), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env_files),
		cmocka_unit_test(test_hosts_block),
		cmocka_unit_test(test_files_in_root),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
