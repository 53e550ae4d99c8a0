/* SPDX-License-Identifier: Apache-2.0 */
/* meshboot redirect's command line: istio-iptables.sh's defaults (from its
 * environment variables and /etc/passwd under --root), the flags, and each
 * hostile value refused with a message naming the flag and the value. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "redirect-flags.h"
#include "util.h"

static const char *const env_vars[] = {
	"ENVOY_PORT", "INBOUND_CAPTURE_PORT", "ISTIO_INBOUND_INTERCEPTION_MODE", "ISTIO_INBOUND_TPROXY_MARK",
	"ISTIO_INBOUND_TPROXY_ROUTE_TABLE", "ISTIO_INBOUND_PORTS", "ISTIO_LOCAL_EXCLUDE_PORTS", "ISTIO_SERVICE_CIDR",
	"ISTIO_SERVICE_EXCLUDE_CIDR", "ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE", "DISABLE_REDIRECTION_ON_LOCAL_LOOPBACK",
	"ENVOY_USER",
};

static int setup(void **state)
{
	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(env_vars); i++)
		unsetenv(env_vars[i]);
	return 0;
}

/* Parse NULL-terminated words after "redirect". */
static int parse(const char *root, struct redirect_config *rc, struct redirect_opts *o, char *err,
                 const char *const *words)
{
	char *argv[32] = { (char *)"redirect" };
	int argc = 1;
	while (words && *words)
		argv[argc++] = (char *)*words++;
	argv[argc] = NULL;
	return redirect_flags_parse(argc, argv, root, rc, o, err, 256);
}

static void test_script_defaults(void **state)
{
	(void)state;
	struct redirect_config rc;
	struct redirect_opts o;
	char err[256];
	assert_int_equal(parse("/nonexistent", &rc, &o, err, NULL), 0);
	assert_false(o.script_flags);
	assert_int_equal(rc.proxy_port, 15001);
	assert_int_equal(rc.inbound_capture_port, 15006);
	/* the script captures nothing without -b and -i */
	assert_false(rc.inbound_ports.all);
	assert_int_equal(rc.inbound_ports.n, 0);
	assert_false(rc.outbound_cidrs.all);
	assert_int_equal(rc.outbound_cidrs.n, 0);
	/* istio-proxy is not in /etc/passwd there: 1337, and root */
	assert_int_equal(rc.n_proxy_uids, 2);
	assert_int_equal(rc.proxy_uids[0], 1337);
	assert_int_equal(rc.proxy_uids[1], 0);
	assert_int_equal(rc.n_proxy_gids, 2);
	assert_int_equal(rc.proxy_gids[0], 1337);
	assert_int_equal(rc.mode, INTERCEPT_REDIRECT);
	assert_true(rc.loopback_redirect);
	assert_true(rc.ipv6);
	assert_int_equal(o.wait_ms, 10000);
	redirect_config_free(&rc);
}

static void test_environment(void **state)
{
	(void)state;
	setenv("ENVOY_PORT", "15101", 1);
	setenv("INBOUND_CAPTURE_PORT", "15106", 1);
	setenv("ISTIO_INBOUND_INTERCEPTION_MODE", "TPROXY", 1);
	setenv("ISTIO_INBOUND_TPROXY_MARK", "77", 1);
	setenv("ISTIO_INBOUND_PORTS", "80,443", 1);
	setenv("ISTIO_SERVICE_CIDR", "*", 1);
	setenv("ISTIO_SERVICE_EXCLUDE_CIDR", "10.1.0.0/16,fd00::/8", 1);
	setenv("ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE", "53", 1);
	setenv("DISABLE_REDIRECTION_ON_LOCAL_LOOPBACK", "1", 1);
	struct redirect_config rc;
	struct redirect_opts o;
	char err[256];
	static const char *const w[] = { "-p", "15201", NULL };
	assert_int_equal(parse("/nonexistent", &rc, &o, err, w), 0);
	assert_true(o.script_flags);
	assert_int_equal(rc.proxy_port, 15201);      /* the flag wins */
	assert_int_equal(rc.inbound_capture_port, 15106);
	assert_int_equal(rc.mode, INTERCEPT_TPROXY);
	assert_int_equal(rc.tproxy_mark, 77);
	assert_int_equal(rc.inbound_ports.n, 2);
	assert_int_equal(rc.inbound_ports.v[1], 443);
	assert_true(rc.outbound_cidrs.all);
	assert_int_equal(rc.exclude_outbound_cidrs.n, 2);
	assert_int_equal(rc.exclude_outbound_ports.v[0], 53);
	assert_false(rc.loopback_redirect);
	redirect_config_free(&rc);
}

static void test_uid_from_passwd_under_root(void **state)
{
	(void)state;
	char root[] = "/tmp/meshboot-flags-XXXXXX";
	char path[128];
	assert_non_null(mkdtemp(root));
	snprintf(path, sizeof(path), "%s/etc", root);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/etc/passwd", root);
	static const char pw[] = "root:x:0:0:root:/root:/bin/sh\nistio-proxyx:x:7:7::/:/bin/false\n"
	                         "istio-proxy:x:998:998::/var/lib/istio:/usr/sbin/nologin\nenvoy:x:4000:4000::/:/bin/false\n";
	assert_int_equal(file_write_atomic(path, pw, sizeof(pw) - 1, 0644), 0);
	struct redirect_config rc;
	struct redirect_opts o;
	char err[256];
	assert_int_equal(parse(root, &rc, &o, err, NULL), 0);
	assert_int_equal(rc.proxy_uids[0], 998);
	assert_int_equal(rc.proxy_gids[0], 998);
	redirect_config_free(&rc);
	setenv("ENVOY_USER", "envoy", 1);
	assert_int_equal(parse(root, &rc, &o, err, NULL), 0);
	assert_int_equal(rc.proxy_uids[0], 4000);
	redirect_config_free(&rc);
	unlink(path);
	snprintf(path, sizeof(path), "%s/etc", root);
	rmdir(path);
	assert_int_equal(rmdir(root), 0);
}

static void test_flags(void **state)
{
	(void)state;
	struct redirect_config rc;
	struct redirect_opts o;
	char err[256];
	static const char *const w[] = { "-u", "1337,1338", "-g", "2000", "-m", "TPROXY", "-b", "*", "-d", "8080",
	                                 "-i", "10.0.0.0/8,fd00::/8", "-x", "10.1.0.0/16", "-o", "3306,5432",
	                                 "-k", "eth1,eth2", "-n", "-w", "3", "--no-ipv6", "clean", NULL };
	assert_int_equal(parse("/nonexistent", &rc, &o, err, w), 0);
	assert_int_equal(rc.n_proxy_uids, 2);
	assert_int_equal(rc.proxy_uids[1], 1338);
	assert_int_equal(rc.n_proxy_gids, 1);
	assert_int_equal(rc.proxy_gids[0], 2000);
	assert_true(rc.inbound_ports.all);
	assert_int_equal(rc.exclude_inbound_ports.v[0], 8080);
	assert_int_equal(rc.outbound_cidrs.n, 2);
	assert_int_equal(rc.n_virtual_interfaces, 2);
	assert_string_equal(rc.virtual_interfaces[1], "eth2");
	assert_true(o.dry_run);
	assert_true(o.clean);
	assert_int_equal(o.wait_ms, 3000);
	assert_false(rc.ipv6);
	redirect_config_free(&rc);
}

static void test_hostile(void **state)
{
	(void)state;
	static const struct {
		const char *w[6];
		const char *err;
	} cases[] = {
		{ { "-p", "0" }, "-p: \"0\" is not a port (1-65535)" },
		{ { "-z", "65536" }, "-z: \"65536\" is not a port (1-65535)" },
		{ { "-b", "80,0x50" }, "-b: \"0x50\" is not a port (1-65535), \"*\" or empty" },
		{ { "-d", "*" }, "-d: \"*\" is not a port (1-65535)" },
		{ { "-o", " 80" }, "-o: \" 80\" is not a port (1-65535)" },
		{ { "-i", "10.0.0.1/8" }, "-i: \"10.0.0.1/8\" is not a CIDR (address/prefix, host bits zero)" },
		{ { "-x", "*" }, "-x: \"*\" is not a CIDR (address/prefix, host bits zero)" },
		{ { "-x", "::ffff:1.2.3.4/128" }, "-x: \"::ffff:1.2.3.4/128\" is not a CIDR (address/prefix, host bits zero)" },
		{ { "-u", "-1" }, "-u: \"-1\" is not a numeric id" },
		{ { "-g", "abc" }, "-g: \"abc\" is not a numeric id" },
		{ { "-u", "" }, "-u: needs at least one id" },
		{ { "-m", "redirect" }, "-m: \"redirect\" is neither REDIRECT nor TPROXY" },
		{ { "-k", "averyveryverylongname" }, "-k: \"averyveryverylongname\": interface names are at most 15 characters, at most 16 of them" },
		{ { "-w", "3601" }, "-w: \"3601\" is not a number of seconds (0-3600)" },
		{ { "-q" }, "unknown option -q" },
		{ { "--bogus" }, "unknown option --bogus" },
		{ { "-p" }, "option -p needs a value" },
		{ { "clean", "clean" }, "unexpected argument \"clean\" (only the word clean is accepted)" },
		{ { "apply" }, "unexpected argument \"apply\" (only the word clean is accepted)" },
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct redirect_config rc;
		struct redirect_opts o;
		char err[256];
		assert_int_equal(parse("/nonexistent", &rc, &o, err, cases[i].w), -EINVAL);
		assert_string_equal(err, cases[i].err);
		redirect_config_free(&rc);
	}
	setenv("ENVOY_PORT", "99999", 1);
	struct redirect_config rc;
	struct redirect_opts o;
	char err[256];
	assert_int_equal(parse("/nonexistent", &rc, &o, err, NULL), -EINVAL);
	assert_string_equal(err, "ENVOY_PORT is not a port");
	redirect_config_free(&rc);
	setenv("ENVOY_PORT", "x", 1);
	assert_int_equal(parse("/nonexistent", &rc, &o, err, NULL), -EINVAL);
	assert_string_equal(err, "ENVOY_PORT=\"x\" is not a positive number");
	redirect_config_free(&rc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_script_defaults, setup),
		cmocka_unit_test_setup(test_environment, setup),
		cmocka_unit_test_setup(test_uid_from_passwd_under_root, setup),
		cmocka_unit_test_setup(test_flags, setup),
		cmocka_unit_test_setup(test_hostile, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
