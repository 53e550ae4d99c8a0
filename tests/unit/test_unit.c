/* SPDX-License-Identifier: Apache-2.0 */
/* Units: command lines (role flags from the configuration, systemd
 * quoting), the rendered unit text per role and for the redirect, the
 * redirect's flags (they must rebuild the configuration's rules), and
 * writing units under a root. */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "config-parse.h"
#include "redirect-flags.h"
#include "rules.h"
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
	assert_string_equal(unit_name_any(UNIT_REDIRECT), "meshboot-redirect.service");
	assert_string_equal(unit_name_any(ROLE_PILOT), "istio-pilot.service");
	assert_string_equal(unit_name_any(-1), "?");
	assert_string_equal(unit_name_any(UNIT_REDIRECT + 1), "?");
}

/* ---- rendering ----------------------------------------------------------- */

#define ART(r) "  " r ": {url: \"https://a.example/" r ".tgz\", version: \"1.0\", exec: bin/" r ", sha256: " D "}\n"

/* Every role but istiod on one host; the sidecar in REDIRECT mode. */
#define ALL_ROLES \
	"version: 1\nroles: [sidecar, pilot, mixer, citadel, apiserver, etcd]\nmesh: {instance_ip: 10.0.0.5}\n" \
	"etcd: {name: etcd0}\nartifacts:\n" ART("sidecar") ART("pilot") ART("mixer") ART("citadel") \
	ART("apiserver") ART("etcd")
/* A workload host: the sidecar alone. */
#define SIDECAR_ONLY \
	"version: 1\nroles: [sidecar]\nmesh: {discovery_address: \"pilot:15010\"}\n" \
	"certs: {root: {url: \"https://ca.example/root.pem\", sha256: " D "}}\n"
/* istiod and a TPROXY sidecar. */
#define ISTIOD_TPROXY \
	"version: 1\nroles: [istiod, sidecar]\nartifacts:\n" ART("istiod") ART("sidecar") \
	"redirect: {mode: TPROXY, tproxy_mark: 4242, tproxy_route_table: 142}\n"

static void parse(const char *yaml, struct config *c)
{
	struct diag_list d = { 0 };
	config_init(c);
	int rc = config_parse_buffer("t", yaml, strlen(yaml), c, &d);
	if (rc != 0) {
		struct strbuf sb;
		sb_init(&sb);
		diag_render(&d, &sb);
		print_error("%s", sb.buf);
		sb_free(&sb);
	}
	diag_list_free(&d);
	assert_int_equal(rc, 0);
}

static char *render(const struct config *c, int which)
{
	struct strbuf a, b;
	sb_init(&a);
	sb_init(&b);
	assert_int_equal(unit_render(c, which, &a), 0);
	assert_int_equal(unit_render(c, which, &b), 0);
	assert_string_equal(a.buf, b.buf);  /* deterministic */
	sb_free(&b);
	return sb_steal(&a);
}

/* The whole line "KEY=..." of a unit text (static buffer), or NULL. */
static const char *line_of(const char *text, const char *key)
{
	static char line[4096];
	size_t kl = strlen(key);
	for (const char *p = text; p && *p; ) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
			snprintf(line, sizeof(line), "%.*s", (int)n, p);
			return line;
		}
		p = nl ? nl + 1 : NULL;
	}
	return NULL;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; (p = strstr(p, line)); p += n)
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

/* The lines every role's unit has. */
static void common_lines(const char *t)
{
	static const char *const lines[] = {
		"[Unit]", "Documentation=man:meshboot(8)", "Wants=network-online.target", "[Service]",
		"Restart=on-failure", "RestartSec=5s", "UMask=0077", "NoNewPrivileges=yes", "ProtectSystem=strict",
		"ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes", "DevicePolicy=closed", "PrivateIPC=yes",
		"ProtectKernelTunables=yes", "ProtectKernelModules=yes", "ProtectKernelLogs=yes",
		"ProtectControlGroups=yes", "ProtectClock=yes", "ProtectHostname=yes", "ProtectProc=invisible",
		"RestrictNamespaces=yes", "RestrictRealtime=yes", "RestrictSUIDSGID=yes", "LockPersonality=yes",
		"MemoryDenyWriteExecute=yes", "KeyringMode=private", "RemoveIPC=yes", "SystemCallArchitectures=native",
		"SystemCallFilter=@system-service", "SystemCallFilter=~@privileged @resources",
		"SystemCallErrorNumber=EPERM", "[Install]", "WantedBy=multi-user.target",
	};
	for (size_t i = 0; i < ELEMENTSOF(lines); i++) {
		if (!has_line(t, lines[i]))
			print_error("missing line \"%s\" in:\n%s", lines[i], t);
		assert_true(has_line(t, lines[i]));
	}
	assert_true(str_has_suffix(t, "\n[Install]\nWantedBy=multi-user.target\n"));
}

static void test_render_roles(void **state)
{
	(void)state;
	struct config c;
	parse(ALL_ROLES, &c);
	static const struct {
		enum role r;
		const char *exec, *user, *after, *dirs;
	} want[] = {
		{ ROLE_SIDECAR, "ExecStart=/opt/meshboot/sidecar/current/bin/sidecar", "istio-proxy",
		  "After=network-online.target istio-pilot.service istio-mixer.service istio-citadel.service "
		  "meshboot-redirect.service", "LogsDirectory=istio" },
		{ ROLE_PILOT, "ExecStart=/opt/meshboot/pilot/current/bin/pilot", "istio-proxy",
		  "After=network-online.target istio-etcd.service istio-apiserver.service",
		  "WorkingDirectory=/var/lib/istio-pilot" },
		{ ROLE_MIXER, "ExecStart=/opt/meshboot/mixer/current/bin/mixer", "istio-proxy",
		  "After=network-online.target istio-etcd.service istio-apiserver.service",
		  "StateDirectory=istio-mixer" },
		{ ROLE_CITADEL, "ExecStart=/opt/meshboot/citadel/current/bin/citadel", "istio-proxy",
		  "After=network-online.target istio-etcd.service istio-apiserver.service",
		  "StateDirectory=istio-citadel" },
		{ ROLE_APISERVER, "ExecStart=/opt/meshboot/apiserver/current/bin/apiserver "
		  "--etcd-servers=http://127.0.0.1:2379 --service-cluster-ip-range=10.99.0.0/16 "
		  "--insecure-bind-address=127.0.0.1 --insecure-port=8080", "istio-proxy",
		  "After=network-online.target istio-etcd.service", "RuntimeDirectory=kubernetes" },
		{ ROLE_ETCD, "ExecStart=/opt/meshboot/etcd/current/bin/etcd --name=etcd0 --data-dir=/var/lib/etcd "
		  "--listen-client-urls=http://0.0.0.0:2379 --advertise-client-urls=http://10.0.0.5:2379 "
		  "--listen-peer-urls=http://0.0.0.0:2380 --initial-advertise-peer-urls=http://10.0.0.5:2380 "
		  "--initial-cluster-state=new --initial-cluster-token=meshboot-etcd", "etcd",
		  "After=network-online.target", "ReadWritePaths=/var/lib/etcd" },
	};
	for (size_t i = 0; i < ELEMENTSOF(want); i++) {
		char *t = render(&c, want[i].r);
		common_lines(t);
		char head[128];
		snprintf(head, sizeof(head), "# %s: ", unit_name(want[i].r));
		assert_true(str_has_prefix(t, head));
		assert_string_equal(line_of(t, "ExecStart"), want[i].exec);
		assert_string_equal(line_of(t, "After"), want[i].after);
		assert_true(has_line(t, want[i].dirs));
		assert_true(has_line(t, "Type=simple"));
		char u[64];
		snprintf(u, sizeof(u), "User=%s", want[i].user);
		assert_true(has_line(t, u));
		snprintf(u, sizeof(u), "Group=%s", want[i].user);
		assert_true(has_line(t, u));
		/* no role but the TPROXY sidecar has a capability */
		assert_string_equal(line_of(t, "CapabilityBoundingSet"), "CapabilityBoundingSet=");
		assert_string_equal(line_of(t, "AmbientCapabilities"), "AmbientCapabilities=");
		assert_true(has_line(t, "PrivateUsers=yes"));
		assert_string_equal(line_of(t, "RestrictAddressFamilies"),
		                    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK");
		assert_null(line_of(t, "IPAddressDeny"));
		assert_true(has_line(t, "ProcSubset=pid") == (want[i].r != ROLE_APISERVER));
		assert_true((line_of(t, "Requires") != NULL) == (want[i].r == ROLE_SIDECAR));
		free(t);
	}
	/* the REDIRECT sidecar */
	char *t = render(&c, ROLE_SIDECAR);
	assert_string_equal(line_of(t, "Requires"), "Requires=meshboot-redirect.service");
	assert_true(has_line(t, "EnvironmentFile=-/var/lib/istio/envoy/cluster.env"));
	assert_true(has_line(t, "EnvironmentFile=-/var/lib/istio/envoy/sidecar.env"));
	assert_true(has_line(t, "ReadWritePaths=-/etc/istio/proxy"));
	assert_true(has_line(t, "StateDirectory=istio"));
	free(t);
	/* istiod alone on its host: no unit to wait for */
	struct strbuf sb;
	sb_init(&sb);
	assert_int_equal(unit_render(&c, ROLE_ISTIOD, &sb), -EINVAL);  /* no istiod artifact */
	assert_int_equal(unit_render(&c, -1, &sb), -EINVAL);
	assert_int_equal(unit_render(&c, UNIT_REDIRECT + 1, &sb), -EINVAL);
	assert_int_equal(sb.len, 0);
	sb_free(&sb);
	config_free(&c);
}

static void test_render_tproxy_sidecar_and_istiod(void **state)
{
	(void)state;
	struct config c;
	parse(ISTIOD_TPROXY, &c);
	char *t = render(&c, ROLE_SIDECAR);
	common_lines(t);
	assert_string_equal(line_of(t, "CapabilityBoundingSet"), "CapabilityBoundingSet=CAP_NET_ADMIN");
	assert_string_equal(line_of(t, "AmbientCapabilities"), "AmbientCapabilities=CAP_NET_ADMIN");
	assert_null(line_of(t, "PrivateUsers"));  /* the capability must reach the host's namespace */
	assert_string_equal(line_of(t, "After"), "After=network-online.target istiod.service meshboot-redirect.service");
	free(t);
	t = render(&c, ROLE_ISTIOD);
	common_lines(t);
	assert_string_equal(line_of(t, "ExecStart"), "ExecStart=/opt/meshboot/istiod/current/bin/istiod");
	assert_string_equal(line_of(t, "After"), "After=network-online.target");
	assert_true(has_line(t, "StateDirectory=istiod"));
	assert_true(has_line(t, "WorkingDirectory=/var/lib/istiod"));
	free(t);
	config_free(&c);
}

static void test_render_redirect_unit(void **state)
{
	(void)state;
	struct config c;
	parse(ISTIOD_TPROXY, &c);
	char *t = render(&c, UNIT_REDIRECT);
	assert_string_equal(t,
		"# meshboot-redirect.service: written by meshboot from its configuration; the next run replaces it.\n"
		"[Unit]\n"
		"Description=Send this host's TCP traffic through the Istio sidecar (iptables)\n"
		"Documentation=man:meshboot(8)\n"
		"Wants=network-online.target\n"
		"After=network-online.target\n"
		"Before=istio-sidecar.service\n"
		"# no certificate yet (an external signer's, certs.ca.mode none): neither sidecar nor redirect\n"
		"ConditionPathExists=/etc/certs/cert-chain.pem\n"
		"\n"
		"[Service]\n"
		"Type=oneshot\n"
		"RemainAfterExit=yes\n"
		"Environment=ISTIO_INBOUND_TPROXY_MARK=4242\n"
		"Environment=ISTIO_INBOUND_TPROXY_ROUTE_TABLE=142\n"
		"ExecStartPre=+/bin/touch /run/xtables.lock\n"
		"ExecStart=" MESHBOOT_PATH " redirect -p 15001 -z 15006 -u 1337 -g 1337 -m TPROXY -b * -i *\n"
		"ExecStop=" MESHBOOT_PATH " redirect -p 15001 -z 15006 -u 1337 -g 1337 -m TPROXY -b * -i * clean\n"
		"Restart=on-failure\n"
		"RestartSec=5s\n"
		"RestartPreventExitStatus=64 65 78\n"
		"RuntimeDirectory=meshboot\n"
		"RuntimeDirectoryPreserve=yes\n"
		"ReadWritePaths=-/run/xtables.lock\n"
		"UMask=0077\n"
		"NoNewPrivileges=yes\n"
		"CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW\n"
		"AmbientCapabilities=\n"
		"ProtectSystem=strict\n"
		"ProtectHome=yes\n"
		"PrivateTmp=yes\n"
		"PrivateDevices=yes\n"
		"DevicePolicy=closed\n"
		"PrivateIPC=yes\n"
		"PrivateMounts=yes\n"
		"ProtectKernelTunables=yes\n"
		"ProtectKernelModules=yes\n"
		"ProtectKernelLogs=yes\n"
		"ProtectControlGroups=yes\n"
		"ProtectClock=yes\n"
		"ProtectHostname=yes\n"
		"ProtectProc=invisible\n"
		"ProcSubset=pid\n"
		"RestrictAddressFamilies=AF_INET AF_INET6 AF_NETLINK\n"
		"IPAddressDeny=any\n"
		"RestrictNamespaces=yes\n"
		"RestrictRealtime=yes\n"
		"RestrictSUIDSGID=yes\n"
		"LockPersonality=yes\n"
		"MemoryDenyWriteExecute=yes\n"
		"KeyringMode=private\n"
		"RemoveIPC=yes\n"
		"SystemCallArchitectures=native\n"
		"SystemCallFilter=@system-service\n"
		"SystemCallFilter=~@privileged @resources\n"
		"SystemCallErrorNumber=EPERM\n"
		"\n"
		"[Install]\n"
		"WantedBy=multi-user.target\n");
	free(t);
	config_free(&c);

	/* No redirect, no redirect unit, and the sidecar does not require one. */
	parse(SIDECAR_ONLY "artifacts:\n" ART("sidecar")
	      "redirect: {enabled: false}\n", &c);
	struct strbuf sb;
	sb_init(&sb);
	assert_int_equal(unit_render(&c, UNIT_REDIRECT, &sb), -EINVAL);
	sb_free(&sb);
	t = render(&c, ROLE_SIDECAR);
	assert_null(line_of(t, "Requires"));
	assert_string_equal(line_of(t, "After"), "After=network-online.target");
	assert_true(has_line(t, "PrivateUsers=yes"));
	free(t);
	config_free(&c);
}

/* Values systemd would read otherwise are refused, specifiers escaped. */
static void test_render_refuses_and_escapes(void **state)
{
	(void)state;
	struct config c;
	struct strbuf sb;
	parse("version: 1\nroles: [etcd]\netcd: {name: e0, data_dir: \"/srv/etcd data\"}\nartifacts:\n" ART("etcd"), &c);
	sb_init(&sb);
	assert_int_equal(unit_render(&c, ROLE_ETCD, &sb), -EINVAL);
	sb_free(&sb);
	config_free(&c);

	parse("version: 1\nroles: [pilot]\nuser: {name: \"a b\"}\nartifacts:\n" ART("pilot"), &c);
	sb_init(&sb);
	assert_int_equal(unit_render(&c, ROLE_PILOT, &sb), -EINVAL);
	sb_free(&sb);
	config_free(&c);

	parse(SIDECAR_ONLY "artifacts:\n" ART("sidecar")
	      "redirect: {virtual_interfaces: [\"a,b\"]}\n", &c);
	sb_init(&sb);
	assert_int_equal(unit_render(&c, UNIT_REDIRECT, &sb), -EINVAL);
	sb_free(&sb);
	char err[256];
	assert_int_equal(unit_install("/nonexistent-root", &c, UNIT_REDIRECT, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "comma"));
	config_free(&c);

	parse("version: 1\nroles: [etcd]\netcd: {name: e0, data_dir: \"/srv/100%\"}\nartifacts:\n" ART("etcd"), &c);
	char *t = render(&c, ROLE_ETCD);
	assert_true(has_line(t, "ReadWritePaths=/srv/100%%"));
	assert_non_null(strstr(line_of(t, "ExecStart"), " --data-dir=/srv/100%% "));
	free(t);
	config_free(&c);
}

/* ---- the redirect unit's flags rebuild the configuration's rules ---------- */

static const char *const script_env[] = {
	"ENVOY_PORT", "INBOUND_CAPTURE_PORT", "ISTIO_INBOUND_INTERCEPTION_MODE", "ISTIO_INBOUND_TPROXY_MARK",
	"ISTIO_INBOUND_TPROXY_ROUTE_TABLE", "ISTIO_INBOUND_PORTS", "ISTIO_LOCAL_EXCLUDE_PORTS", "ISTIO_SERVICE_CIDR",
	"ISTIO_SERVICE_EXCLUDE_CIDR", "ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE", "ENVOY_USER",
	"DISABLE_REDIRECTION_ON_LOCAL_LOOPBACK",
};

static char *rules_text(const struct redirect_config *rc)
{
	struct strbuf sb;
	sb_init(&sb);
	static const int fams[] = { AF_INET, AF_INET6 };
	for (size_t f = 0; f < ELEMENTSOF(fams); f++) {
		struct ruleset rs;
		int r = ruleset_build(rc, fams[f], &rs);
		if (r < 0)
			print_error("ruleset_build(%s): %s\n", fams[f] == AF_INET ? "IPv4" : "IPv6", strerror(-r));
		assert_int_equal(r, 0);
		assert_int_equal(ruleset_render_save(&rs, &sb), 0);
		assert_int_equal(ruleset_render_iproute(&rs, &sb), 0);
		ruleset_free(&rs);
	}
	return sb_steal(&sb);
}

static void flags_roundtrip(const char *redirect_yaml, const char *want_flags, const char *want_env)
{
	char yaml[2048];
	snprintf(yaml, sizeof(yaml), SIDECAR_ONLY
	                             "artifacts:\n" ART("sidecar") "redirect: %s\n", redirect_yaml);
	struct config c;
	parse(yaml, &c);
	char **flags = NULL, **env = NULL;
	assert_int_equal(unit_redirect_flags(&c.redirect, &flags), 0);
	assert_int_equal(unit_redirect_env(&c.redirect, &env), 0);

	/* what the unit says */
	char *t = render(&c, UNIT_REDIRECT);
	struct strbuf sb;
	sb_init(&sb);
	sb_puts(&sb, "ExecStart=" MESHBOOT_PATH " redirect");
	for (char **w = flags; *w; w++) {
		sb_putc(&sb, ' ');
		unit_quote_arg(&sb, *w);
	}
	assert_string_equal(sb.buf + strlen("ExecStart=" MESHBOOT_PATH " redirect "), want_flags);
	assert_string_equal(line_of(t, "ExecStart"), sb.buf);
	sb_puts(&sb, " clean");
	assert_string_equal(line_of(t, "ExecStop") + strlen("ExecStop="), sb.buf + strlen("ExecStart="));
	sb_free(&sb);
	sb_init(&sb);
	for (char **e = env; *e; e++)
		sb_printf(&sb, "%s%s", e == env ? "" : " ", *e);
	assert_string_equal(sb.buf ? sb.buf : "", want_env);
	for (char **e = env; *e; e++) {
		char line[256];
		snprintf(line, sizeof(line), "Environment=%s", *e);
		assert_true(has_line(t, line));
	}
	sb_free(&sb);
	free(t);

	/* what `meshboot redirect` makes of it, in the environment the unit gives */
	for (size_t i = 0; i < ELEMENTSOF(script_env); i++)
		unsetenv(script_env[i]);
	for (char **e = env; *e; e++)
		putenv(*e);
	size_t n = 0;
	while (flags[n])
		n++;
	char **argv = calloc(n + 2, sizeof(*argv));
	assert_non_null(argv);
	argv[0] = (char *)"redirect";
	memcpy(argv + 1, flags, n * sizeof(*argv));
	struct redirect_config rc;
	struct redirect_opts o;
	char err[256];
	int r = redirect_flags_parse((int)n + 1, argv, "/nonexistent", &rc, &o, err, sizeof(err));
	if (r < 0)
		print_error("%s\n", err);
	assert_int_equal(r, 0);
	assert_true(o.script_flags);
	assert_false(o.clean);
	char *from_config = rules_text(&c.redirect), *from_flags = rules_text(&rc);
	assert_string_equal(from_flags, from_config);
	assert_true(strlen(from_config) > 0);
	assert_int_equal(rc.tproxy_mark, c.redirect.tproxy_mark);
	assert_int_equal(rc.tproxy_route_table, c.redirect.tproxy_route_table);
	free(from_flags);
	free(from_config);
	for (size_t i = 0; i < ELEMENTSOF(script_env); i++)
		unsetenv(script_env[i]);  /* before env, which putenv lent them, is freed */
	redirect_config_free(&rc);
	free(argv);
	strv_free(flags);
	strv_free(env);
	config_free(&c);
}

static void test_redirect_flags_reproduce_config(void **state)
{
	(void)state;
	flags_roundtrip("{}", "-p 15001 -z 15006 -u 1337 -g 1337 -m REDIRECT -b * -i *", "");
	flags_roundtrip("{mode: TPROXY, tproxy_mark: 4242, tproxy_route_table: 142, inbound_ports: [80, 443],"
	                " exclude_outbound_cidrs: [169.254.169.254/32, \"fd00::/8\"], exclude_outbound_ports: [53, 8500],"
	                " virtual_interfaces: [docker0, \"veth+\"], loopback_redirect: false, proxy_uids: [1400, 0],"
	                " proxy_gids: [1401], proxy_port: 16001, inbound_capture_port: 16006}",
	                "-p 16001 -z 16006 -u 1400,0 -g 1401 -m TPROXY -b 80,443 -i * "
	                "-x 169.254.169.254/32,fd00::/8 -o 53,8500 -k docker0,veth+",
	                "ISTIO_INBOUND_TPROXY_MARK=4242 ISTIO_INBOUND_TPROXY_ROUTE_TABLE=142 "
	                "DISABLE_REDIRECTION_ON_LOCAL_LOOPBACK=1");
	/* empty lists are said explicitly: the script's defaults are empty, the configuration's "*" */
	flags_roundtrip("{inbound_ports: [], outbound_cidrs: [10.0.0.0/8, \"fd00::/8\"], exclude_inbound_ports: [9100],"
	                " ipv6: false}",
	                "-p 15001 -z 15006 -u 1337 -g 1337 -m REDIRECT -b \"\" -d 9100 -i 10.0.0.0/8,fd00::/8 --no-ipv6", "");
	flags_roundtrip("{outbound_cidrs: [], exclude_inbound_ports: [9100, 15090]}",
	                "-p 15001 -z 15006 -u 1337 -g 1337 -m REDIRECT -b * -d 9100,15090 -i \"\"", "");
}

/* ---- install, remove ------------------------------------------------------ */

static char *scratch(void)
{
	char *d = strdup("/tmp/meshboot-unit-test.XXXXXX");
	assert_non_null(d);
	assert_non_null(mkdtemp(d));
	return d;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

static void rm_rf(const char *dir)
{
	assert_int_equal(nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static char *path_of(const char *root, const char *rel)
{
	char *p = NULL;
	assert_true(asprintf(&p, "%s%s", root, rel) > 0);
	return p;
}

static void test_install_and_remove(void **state)
{
	(void)state;
	struct config c;
	parse(ISTIOD_TPROXY, &c);
	char *root = scratch(), err[512] = "";
	char *file = path_of(root, "/etc/systemd/system/istio-sidecar.service");
	char *link = path_of(root, "/etc/systemd/system/multi-user.target.wants/istio-sidecar.service");
	mode_t old = umask(077);  /* the mode must not depend on it */

	int r = unit_install(root, &c, ROLE_SIDECAR, err, sizeof(err));
	if (r < 0)
		print_error("%s\n", err);
	assert_int_equal(r, 1);
	struct stat st1, l1, st2, l2;
	assert_int_equal(lstat(file, &st1), 0);
	assert_true(S_ISREG(st1.st_mode));
	assert_int_equal(st1.st_mode & 07777, 0644);
	char *text = NULL, *want = render(&c, ROLE_SIDECAR);
	size_t len;
	assert_int_equal(file_read_all(file, 1 << 20, &text, &len), 0);
	assert_string_equal(text, want);
	free(text);
	char target[256];
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(target, "/etc/systemd/system/istio-sidecar.service");
	assert_int_equal(lstat(link, &l1), 0);

	/* again: nothing to do, nothing touched */
	assert_int_equal(unit_install(root, &c, ROLE_SIDECAR, err, sizeof(err)), 0);
	assert_int_equal(lstat(file, &st2), 0);
	assert_int_equal(lstat(link, &l2), 0);
	assert_true(st1.st_ino == st2.st_ino);
	assert_true(st1.st_mtim.tv_sec == st2.st_mtim.tv_sec && st1.st_mtim.tv_nsec == st2.st_mtim.tv_nsec);
	assert_true(l1.st_ino == l2.st_ino);
	assert_true(l1.st_mtim.tv_sec == l2.st_mtim.tv_sec && l1.st_mtim.tv_nsec == l2.st_mtim.tv_nsec);

	/* an edited file, a wrong mode, a wrong link: put right */
	FILE *f = fopen(file, "a");
	assert_non_null(f);
	fputs("Environment=X=1\n", f);
	fclose(f);
	assert_int_equal(unit_install(root, &c, ROLE_SIDECAR, err, sizeof(err)), 1);
	assert_int_equal(file_read_all(file, 1 << 20, &text, &len), 0);
	assert_string_equal(text, want);
	free(text);
	assert_int_equal(chmod(file, 0600), 0);
	assert_int_equal(unit_install(root, &c, ROLE_SIDECAR, err, sizeof(err)), 1);
	assert_int_equal(lstat(file, &st2), 0);
	assert_int_equal(st2.st_mode & 07777, 0644);
	assert_int_equal(unlink(link), 0);
	assert_int_equal(symlink("/dev/null", link), 0);
	assert_int_equal(unit_install(root, &c, ROLE_SIDECAR, err, sizeof(err)), 1);
	n = readlink(link, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(target, "/etc/systemd/system/istio-sidecar.service");

	/* the redirect unit too */
	assert_int_equal(unit_install(root, &c, UNIT_REDIRECT, err, sizeof(err)), 1);
	assert_int_equal(unit_install(root, &c, UNIT_REDIRECT, err, sizeof(err)), 0);

	/* remove: file and link go; a second time there is nothing */
	assert_int_equal(unit_remove(root, ROLE_SIDECAR, err, sizeof(err)), 1);
	assert_int_equal(lstat(file, &st2), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(lstat(link, &l2), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(unit_remove(root, ROLE_SIDECAR, err, sizeof(err)), 0);
	assert_int_equal(unit_remove(root, UNIT_REDIRECT, err, sizeof(err)), 1);
	assert_int_equal(unit_remove(root, ROLE_ETCD, err, sizeof(err)), 0);

	/* something that is not ours is left alone */
	assert_int_equal(mkdir(file, 0755), 0);
	assert_int_equal(unit_install(root, &c, ROLE_SIDECAR, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(unit_remove(root, ROLE_SIDECAR, err, sizeof(err)), -EEXIST);
	assert_int_equal(rmdir(file), 0);
	assert_int_equal(unit_install(root, &c, ROLE_SIDECAR, err, sizeof(err)), 1);
	assert_int_equal(unlink(link), 0);
	assert_int_equal(mkdir(link, 0755), 0);
	assert_int_equal(unit_install(root, &c, ROLE_SIDECAR, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "not a symbolic link"));
	assert_int_equal(rmdir(link), 0);

	umask(old);
	free(want);
	free(file);
	free(link);
	rm_rf(root);
	free(root);
	config_free(&c);
}

/* Paths resolve inside the root: an absolute symlink in the tree points
 * into it, not at the host's /etc. */
static void test_install_stays_in_root(void **state)
{
	(void)state;
	struct config c;
	parse(ISTIOD_TPROXY, &c);
	char *root = scratch(), err[512] = "";
	char *etc = path_of(root, "/etc"), *alt = path_of(root, "/alt");
	assert_int_equal(mkdir(alt, 0755), 0);
	assert_int_equal(symlink("/alt", etc), 0);
	int r = unit_install(root, &c, ROLE_ISTIOD, err, sizeof(err));
	if (r < 0)
		print_error("%s\n", err);
	assert_int_equal(r, 1);
	char *in = path_of(root, "/alt/systemd/system/istiod.service");
	struct stat st;
	assert_int_equal(lstat(in, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(unit_remove(root, ROLE_ISTIOD, err, sizeof(err)), 1);
	assert_int_equal(lstat(in, &st), -1);
	free(in);
	free(etc);
	free(alt);
	rm_rf(root);
	free(root);
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_etcd_flags),
		cmocka_unit_test(test_apiserver_flags_and_quoting),
		cmocka_unit_test(test_unit_names),
		cmocka_unit_test(test_render_roles),
		cmocka_unit_test(test_render_tproxy_sidecar_and_istiod),
		cmocka_unit_test(test_render_redirect_unit),
		cmocka_unit_test(test_render_refuses_and_escapes),
		cmocka_unit_test(test_redirect_flags_reproduce_config),
		cmocka_unit_test(test_install_and_remove),
		cmocka_unit_test(test_install_stays_in_root),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
