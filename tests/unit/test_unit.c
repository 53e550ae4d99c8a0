/* SPDX-License-Identifier: Apache-2.0 */
/* Unit command lines: role flags from the configuration, systemd quoting. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "config-parse.h"
#include "unit.h"

#define D "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char *exec_line(const char *yaml, enum role r)
{
	struct config c;
	struct diag_list d = { 0 };
	config_init(&c);
	int rc = config_parse_buffer("t", yaml, strlen(yaml), &c, &d);
	if (rc != 0) {
		struct strbuf sb;
		sb_init(&sb);
		diag_render(&d, &sb);
		print_error("%s", sb.buf);
		sb_free(&sb);
	}
	assert_int_equal(rc, 0);
	char **argv = NULL;
	assert_int_equal(unit_exec_argv(&c, r, &argv), 0);
	struct strbuf sb;
	sb_init(&sb);
	for (char **w = argv; *w; w++) {
		if (w != argv)
			sb_putc(&sb, ' ');
		unit_quote_arg(&sb, *w);
	}
	strv_free(argv);
	diag_list_free(&d);
	config_free(&c);
	return sb_steal(&sb);
}

static void test_etcd_flags(void **state)
{
	(void)state;
	char *l = exec_line("version: 1\nroles: [etcd]\nmesh: {instance_ip: 10.0.0.11}\n"
	                    "artifacts: {etcd: {url: \"https://e.example/e.tgz\", version: \"3.4\", exec: etcd, sha256: " D "}}\n"
	                    "etcd:\n  name: etcd1\n  initial_cluster:\n"
	                    "    - {name: etcd0, peer_url: \"http://10.0.0.10:2380\"}\n"
	                    "    - {name: etcd1, peer_url: \"http://10.0.0.11:2380\"}\n",
	                    ROLE_ETCD);
	assert_string_equal(l, "/opt/meshboot/etcd/current/etcd --name=etcd1 --data-dir=/var/lib/etcd "
	                       "--listen-client-urls=http://0.0.0.0:2379 --advertise-client-urls=http://10.0.0.11:2379 "
	                       "--listen-peer-urls=http://0.0.0.0:2380 --initial-advertise-peer-urls=http://10.0.0.11:2380 "
	                       "--initial-cluster=etcd0=http://10.0.0.10:2380,etcd1=http://10.0.0.11:2380 "
	                       "--initial-cluster-state=new --initial-cluster-token=meshboot-etcd");
	free(l);
}

static void test_apiserver_flags_and_quoting(void **state)
{
	(void)state;
	char *l = exec_line("version: 1\nroles: [apiserver]\n"
	                    "artifacts: {apiserver: {url: \"https://a.example/a.tgz\", version: \"1.7.3\", "
	                    "exec: bin/kube-apiserver, sha256: " D ", args: [\"-v\", \"2\", \"a b\", \"100%\", \"$HOME\", \"q\\\"\"]}}\n",
	                    ROLE_APISERVER);
	assert_string_equal(l, "/opt/meshboot/apiserver/current/bin/kube-apiserver "
	                       "--etcd-servers=http://127.0.0.1:2379 --service-cluster-ip-range=10.99.0.0/16 "
	                       "--insecure-bind-address=127.0.0.1 --insecure-port=8080 -v 2 \"a b\" 100%% $$HOME \"q\\\"\"");
	free(l);
}

static void test_unit_names(void **state)
{
	(void)state;
	assert_string_equal(unit_name(ROLE_SIDECAR), "istio-sidecar.service");
	assert_string_equal(unit_name(ROLE_ISTIOD), "istiod.service");
	assert_string_equal(unit_name(ROLE_ETCD), "istio-etcd.service");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_etcd_flags),
		cmocka_unit_test(test_apiserver_flags_and_quoting),
		cmocka_unit_test(test_unit_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
