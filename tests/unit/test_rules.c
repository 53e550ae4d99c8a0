/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for src/rules.c.  The expected texts are what
 * iptables-legacy-save / ip6tables-legacy-save printed in a scratch network
 * namespace after istio-iptables.sh (istio/istio 40daa99e) ran with the
 * same parameters, except where docs/istio-iptables-compat.md documents a
 * deliberate difference (marked "differs from the script" below).  Every
 * expectation also carries D9's "! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN"
 * as the first rule of ISTIO_OUTPUT and of nat ISTIO_INBOUND, which the
 * script does not have. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "redirect.h"
#include "rules.h"
#include "util.h"

#define NAT                                                                  \
	"*nat\n"                                                             \
	":PREROUTING ACCEPT [0:0]\n"                                         \
	":INPUT ACCEPT [0:0]\n"                                              \
	":OUTPUT ACCEPT [0:0]\n"                                             \
	":POSTROUTING ACCEPT [0:0]\n"
#define MANGLE                                                               \
	"*mangle\n"                                                          \
	":PREROUTING ACCEPT [0:0]\n"                                         \
	":INPUT ACCEPT [0:0]\n"                                              \
	":FORWARD ACCEPT [0:0]\n"                                            \
	":OUTPUT ACCEPT [0:0]\n"                                             \
	":POSTROUTING ACCEPT [0:0]\n"

/* --- helpers ----------------------------------------------------------- */

static void ports_set(struct port_list *l, const char *csv)
{
	char *dup, *save = NULL;

	free(l->v);
	memset(l, 0, sizeof(*l));
	if (strcmp(csv, "*") == 0) {
		l->all = true;
		return;
	}
	dup = strdup(csv);
	assert_non_null(dup);
	for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		uint16_t p;
		assert_int_equal(port_parse(t, &p), 0);
		assert_int_equal(port_list_add(l, p), 0);
	}
	free(dup);
}

static void cidrs_set(struct cidr_list *l, const char *csv)
{
	char *dup, *save = NULL;

	free(l->v);
	memset(l, 0, sizeof(*l));
	if (strcmp(csv, "*") == 0) {
		l->all = true;
		return;
	}
	dup = strdup(csv);
	assert_non_null(dup);
	for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		struct cidr c;
		assert_int_equal(cidr_parse(t, &c), 0);
		assert_int_equal(cidr_list_add(l, &c), 0);
	}
	free(dup);
}

static void ifaces_set(struct redirect_config *rc, const char *csv)
{
	char *dup = strdup(csv), *save = NULL;

	assert_non_null(dup);
	rc->n_virtual_interfaces = 0;
	for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		assert_true(strlen(t) < IFNAMSIZ);
		strcpy(rc->virtual_interfaces[rc->n_virtual_interfaces++], t);
	}
	free(dup);
}

/* The script's defaults (-b "" -i "", nothing excluded), with -u 1337 -g 1337. */
static void cfg_script(struct redirect_config *rc)
{
	redirect_config_init(rc);
	rc->enabled = true;
	rc->inbound_ports.all = false;
	rc->outbound_cidrs.all = false;
	rc->proxy_uids[0] = 1337;
	rc->n_proxy_uids = 1;
	rc->proxy_gids[0] = 1337;
	rc->n_proxy_gids = 1;
}

static char *render(const struct redirect_config *rc, int family)
{
	struct ruleset rs;
	struct strbuf sb;
	char *s;

	sb_init(&sb);
	assert_int_equal(ruleset_build(rc, family, &rs), 0);
	assert_int_equal(rs.family, family);
	assert_int_equal(ruleset_render_save(&rs, &sb), 0);
	ruleset_free(&rs);
	s = sb_steal(&sb);
	assert_non_null(s);
	return s;
}

static char *render_ip(const struct redirect_config *rc, int family)
{
	struct ruleset rs;
	struct strbuf sb;
	char *s;

	sb_init(&sb);
	assert_int_equal(ruleset_build(rc, family, &rs), 0);
	assert_int_equal(ruleset_render_iproute(&rs, &sb), 0);
	ruleset_free(&rs);
	s = sb_steal(&sb);
	assert_non_null(s);
	return s;
}

static void assert_render(const struct redirect_config *rc, int family, const char *want)
{
	char *got = render(rc, family);

	assert_string_equal(got, want);
	free(got);
}

static void assert_render_ip(const struct redirect_config *rc, int family, const char *want)
{
	char *got = render_ip(rc, family);

	assert_string_equal(got, want);
	free(got);
}

/* --- flag sets verified against the script ----------------------------- */

/* No flags: -u/-g default to "<istio-proxy uid>,0" (1337,0 here). */
static void test_script_defaults(void **state)
{
	struct redirect_config rc;

	(void)state;
	cfg_script(&rc);
	rc.proxy_uids[1] = 0;
	rc.n_proxy_uids = 2;
	rc.proxy_gids[1] = 0;
	rc.n_proxy_gids = 2;
	assert_render(&rc, AF_INET,
		NAT
		":ISTIO_IN_REDIRECT - [0:0]\n"
		":ISTIO_OUTPUT - [0:0]\n"
		":ISTIO_REDIRECT - [0:0]\n"
		"-A OUTPUT -p tcp -j ISTIO_OUTPUT\n"
		"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"-A ISTIO_OUTPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN\n"
		"-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 0 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --gid-owner 0 -j RETURN\n"
		"-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN\n"
		"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"COMMIT\n");
	assert_render(&rc, AF_INET6,
		NAT
		":ISTIO_IN_REDIRECT - [0:0]\n"
		":ISTIO_OUTPUT - [0:0]\n"
		":ISTIO_REDIRECT - [0:0]\n"
		"-A OUTPUT -p tcp -j ISTIO_OUTPUT\n"
		"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"-A ISTIO_OUTPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_OUTPUT -s ::6/128 -o lo -j RETURN\n"
		"-A ISTIO_OUTPUT ! -d ::1/128 -o lo -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 0 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --gid-owner 0 -j RETURN\n"
		"-A ISTIO_OUTPUT -d ::1/128 -j RETURN\n"
		"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"COMMIT\n");
	assert_render_ip(&rc, AF_INET, "");
	assert_render_ip(&rc, AF_INET6, "# ip -6 addr add ::6/128 dev lo\n");
	redirect_config_free(&rc);
}

/* -b "*" -d "8080,9090" -i "*" */
static void test_inbound_all_with_excludes(void **state)
{
	struct redirect_config rc;

	(void)state;
	cfg_script(&rc);
	ports_set(&rc.inbound_ports, "*");
	ports_set(&rc.exclude_inbound_ports, "8080,9090");
	cidrs_set(&rc.outbound_cidrs, "*");
	assert_render(&rc, AF_INET,
		NAT
		":ISTIO_INBOUND - [0:0]\n"
		":ISTIO_IN_REDIRECT - [0:0]\n"
		":ISTIO_OUTPUT - [0:0]\n"
		":ISTIO_REDIRECT - [0:0]\n"
		"-A PREROUTING -p tcp -j ISTIO_INBOUND\n"
		"-A OUTPUT -p tcp -j ISTIO_OUTPUT\n"
		"-A ISTIO_INBOUND -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 22 -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 8080 -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 9090 -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006\n"
		"-A ISTIO_OUTPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN\n"
		"-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN\n"
		"-A ISTIO_OUTPUT -j ISTIO_REDIRECT\n"
		"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"COMMIT\n");
	/* Differs from the script: it omits the final ISTIO_INBOUND jump
	 * to ISTIO_IN_REDIRECT in its IPv6 part. */
	assert_render(&rc, AF_INET6,
		NAT
		":ISTIO_INBOUND - [0:0]\n"
		":ISTIO_IN_REDIRECT - [0:0]\n"
		":ISTIO_OUTPUT - [0:0]\n"
		":ISTIO_REDIRECT - [0:0]\n"
		"-A PREROUTING -p tcp -j ISTIO_INBOUND\n"
		"-A OUTPUT -p tcp -j ISTIO_OUTPUT\n"
		"-A ISTIO_INBOUND -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 22 -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 8080 -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 9090 -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006\n"
		"-A ISTIO_OUTPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_OUTPUT -s ::6/128 -o lo -j RETURN\n"
		"-A ISTIO_OUTPUT ! -d ::1/128 -o lo -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -d ::1/128 -j RETURN\n"
		"-A ISTIO_OUTPUT -j ISTIO_REDIRECT\n"
		"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"COMMIT\n");
	redirect_config_free(&rc);
}

/* -b "80,443" -i "*": listed ports keep the proxy port (-z unused). */
static void test_inbound_list(void **state)
{
	struct redirect_config rc;

	(void)state;
	cfg_script(&rc);
	ports_set(&rc.inbound_ports, "80,443");
	ports_set(&rc.exclude_inbound_ports, "8080"); /* ignored without "*" */
	cidrs_set(&rc.outbound_cidrs, "*");
	assert_render(&rc, AF_INET,
		NAT
		":ISTIO_INBOUND - [0:0]\n"
		":ISTIO_IN_REDIRECT - [0:0]\n"
		":ISTIO_OUTPUT - [0:0]\n"
		":ISTIO_REDIRECT - [0:0]\n"
		"-A PREROUTING -p tcp -j ISTIO_INBOUND\n"
		"-A OUTPUT -p tcp -j ISTIO_OUTPUT\n"
		"-A ISTIO_INBOUND -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 80 -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 443 -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"-A ISTIO_OUTPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN\n"
		"-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN\n"
		"-A ISTIO_OUTPUT -j ISTIO_REDIRECT\n"
		"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"COMMIT\n");
	assert_render(&rc, AF_INET6,
		NAT
		":ISTIO_INBOUND - [0:0]\n"
		":ISTIO_IN_REDIRECT - [0:0]\n"
		":ISTIO_OUTPUT - [0:0]\n"
		":ISTIO_REDIRECT - [0:0]\n"
		"-A PREROUTING -p tcp -j ISTIO_INBOUND\n"
		"-A OUTPUT -p tcp -j ISTIO_OUTPUT\n"
		"-A ISTIO_INBOUND -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 80 -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 443 -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"-A ISTIO_OUTPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_OUTPUT -s ::6/128 -o lo -j RETURN\n"
		"-A ISTIO_OUTPUT ! -d ::1/128 -o lo -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -d ::1/128 -j RETURN\n"
		"-A ISTIO_OUTPUT -j ISTIO_REDIRECT\n"
		"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"COMMIT\n");
	redirect_config_free(&rc);
}

/* -b "" -i "*": no ISTIO_INBOUND chain, no PREROUTING jump. */
static void test_inbound_empty(void **state)
{
	struct redirect_config rc;
	struct ruleset rs;

	(void)state;
	cfg_script(&rc);
	cidrs_set(&rc.outbound_cidrs, "*");
	assert_render(&rc, AF_INET,
		NAT
		":ISTIO_IN_REDIRECT - [0:0]\n"
		":ISTIO_OUTPUT - [0:0]\n"
		":ISTIO_REDIRECT - [0:0]\n"
		"-A OUTPUT -p tcp -j ISTIO_OUTPUT\n"
		"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"-A ISTIO_OUTPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN\n"
		"-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN\n"
		"-A ISTIO_OUTPUT -j ISTIO_REDIRECT\n"
		"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"COMMIT\n");
	assert_render(&rc, AF_INET6,
		NAT
		":ISTIO_IN_REDIRECT - [0:0]\n"
		":ISTIO_OUTPUT - [0:0]\n"
		":ISTIO_REDIRECT - [0:0]\n"
		"-A OUTPUT -p tcp -j ISTIO_OUTPUT\n"
		"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"-A ISTIO_OUTPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_OUTPUT -s ::6/128 -o lo -j RETURN\n"
		"-A ISTIO_OUTPUT ! -d ::1/128 -o lo -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -d ::1/128 -j RETURN\n"
		"-A ISTIO_OUTPUT -j ISTIO_REDIRECT\n"
		"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"COMMIT\n");

	/* TPROXY mode with no inbound ports: no mangle table, no routes. */
	rc.mode = INTERCEPT_TPROXY;
	assert_int_equal(ruleset_build(&rc, AF_INET, &rs), 0);
	assert_int_equal(rs.n_routes, 0);
	for (size_t i = 0; i < rs.n_rules; i++)
		assert_int_equal(rs.rules[i].table, RULE_TABLE_NAT);
	ruleset_free(&rs);
	redirect_config_free(&rc);
}

/* -b "*" -i "10.0.0.0/8,192.168.0.0/16" -x "10.1.0.0/16" */
static void test_outbound_cidrs(void **state)
{
	struct redirect_config rc;

	(void)state;
	cfg_script(&rc);
	ports_set(&rc.inbound_ports, "*");
	cidrs_set(&rc.outbound_cidrs, "10.0.0.0/8,192.168.0.0/16");
	cidrs_set(&rc.exclude_outbound_cidrs, "10.1.0.0/16");
	assert_render(&rc, AF_INET,
		NAT
		":ISTIO_INBOUND - [0:0]\n"
		":ISTIO_IN_REDIRECT - [0:0]\n"
		":ISTIO_OUTPUT - [0:0]\n"
		":ISTIO_REDIRECT - [0:0]\n"
		"-A PREROUTING -p tcp -j ISTIO_INBOUND\n"
		"-A OUTPUT -p tcp -j ISTIO_OUTPUT\n"
		"-A ISTIO_INBOUND -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 22 -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006\n"
		"-A ISTIO_OUTPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN\n"
		"-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN\n"
		"-A ISTIO_OUTPUT -d 10.1.0.0/16 -j RETURN\n"
		"-A ISTIO_OUTPUT -d 10.0.0.0/8 -j ISTIO_REDIRECT\n"
		"-A ISTIO_OUTPUT -d 192.168.0.0/16 -j ISTIO_REDIRECT\n"
		"-A ISTIO_OUTPUT -j RETURN\n"
		"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"COMMIT\n");
	/* Only IPv4 ranges given: the IPv6 set has no inclusion rules at all
	 * (as in the script: nothing redirected, no final RETURN).  Differs
	 * from the script only by the ISTIO_INBOUND catch-all. */
	assert_render(&rc, AF_INET6,
		NAT
		":ISTIO_INBOUND - [0:0]\n"
		":ISTIO_IN_REDIRECT - [0:0]\n"
		":ISTIO_OUTPUT - [0:0]\n"
		":ISTIO_REDIRECT - [0:0]\n"
		"-A PREROUTING -p tcp -j ISTIO_INBOUND\n"
		"-A OUTPUT -p tcp -j ISTIO_OUTPUT\n"
		"-A ISTIO_INBOUND -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 22 -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006\n"
		"-A ISTIO_OUTPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_OUTPUT -s ::6/128 -o lo -j RETURN\n"
		"-A ISTIO_OUTPUT ! -d ::1/128 -o lo -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -d ::1/128 -j RETURN\n"
		"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"COMMIT\n");
	redirect_config_free(&rc);
}

/* Mixed families: each CIDR goes only into its own family's set. */
static void test_outbound_cidrs_mixed_families(void **state)
{
	struct redirect_config rc;

	(void)state;
	cfg_script(&rc);
	ports_set(&rc.inbound_ports, "*");
	cidrs_set(&rc.outbound_cidrs, "10.0.0.0/8,fd00::/8,192.168.0.0/16");
	cidrs_set(&rc.exclude_outbound_cidrs, "10.1.0.0/16,fd00:1::/32");
	assert_render(&rc, AF_INET,
		NAT
		":ISTIO_INBOUND - [0:0]\n"
		":ISTIO_IN_REDIRECT - [0:0]\n"
		":ISTIO_OUTPUT - [0:0]\n"
		":ISTIO_REDIRECT - [0:0]\n"
		"-A PREROUTING -p tcp -j ISTIO_INBOUND\n"
		"-A OUTPUT -p tcp -j ISTIO_OUTPUT\n"
		"-A ISTIO_INBOUND -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 22 -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006\n"
		"-A ISTIO_OUTPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN\n"
		"-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN\n"
		"-A ISTIO_OUTPUT -d 10.1.0.0/16 -j RETURN\n"
		"-A ISTIO_OUTPUT -d 10.0.0.0/8 -j ISTIO_REDIRECT\n"
		"-A ISTIO_OUTPUT -d 192.168.0.0/16 -j ISTIO_REDIRECT\n"
		"-A ISTIO_OUTPUT -j RETURN\n"
		"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"COMMIT\n");
	/* Differs from the script only by the ISTIO_INBOUND catch-all. */
	assert_render(&rc, AF_INET6,
		NAT
		":ISTIO_INBOUND - [0:0]\n"
		":ISTIO_IN_REDIRECT - [0:0]\n"
		":ISTIO_OUTPUT - [0:0]\n"
		":ISTIO_REDIRECT - [0:0]\n"
		"-A PREROUTING -p tcp -j ISTIO_INBOUND\n"
		"-A OUTPUT -p tcp -j ISTIO_OUTPUT\n"
		"-A ISTIO_INBOUND -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 22 -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006\n"
		"-A ISTIO_OUTPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_OUTPUT -s ::6/128 -o lo -j RETURN\n"
		"-A ISTIO_OUTPUT ! -d ::1/128 -o lo -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -d ::1/128 -j RETURN\n"
		"-A ISTIO_OUTPUT -d fd00:1::/32 -j RETURN\n"
		"-A ISTIO_OUTPUT -d fd00::/8 -j ISTIO_REDIRECT\n"
		"-A ISTIO_OUTPUT -j RETURN\n"
		"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"COMMIT\n");
	redirect_config_free(&rc);
}

/* -m TPROXY -b "80,443" -i "*".  Differs from the script: it appends the
 * "-m socket -j ISTIO_DIVERT" rule twice per port. */
static void test_tproxy_list(void **state)
{
	struct redirect_config rc;
	struct ruleset rs;

	(void)state;
	cfg_script(&rc);
	rc.mode = INTERCEPT_TPROXY;
	ports_set(&rc.inbound_ports, "80,443");
	cidrs_set(&rc.outbound_cidrs, "*");
	assert_render(&rc, AF_INET,
		MANGLE
		":ISTIO_DIVERT - [0:0]\n"
		":ISTIO_INBOUND - [0:0]\n"
		":ISTIO_TPROXY - [0:0]\n"
		"-A PREROUTING -p tcp -j ISTIO_INBOUND\n"
		"-A ISTIO_DIVERT -j MARK --set-xmark 0x539/0xffffffff\n"
		"-A ISTIO_DIVERT -j ACCEPT\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 80 -m socket -j ISTIO_DIVERT\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 80 -j ISTIO_TPROXY\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 443 -m socket -j ISTIO_DIVERT\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 443 -j ISTIO_TPROXY\n"
		"-A ISTIO_TPROXY ! -d 127.0.0.1/32 -p tcp -j TPROXY --on-port 15001 --on-ip 0.0.0.0 --tproxy-mark 0x539/0xffffffff\n"
		"COMMIT\n"
		NAT
		":ISTIO_IN_REDIRECT - [0:0]\n"
		":ISTIO_OUTPUT - [0:0]\n"
		":ISTIO_REDIRECT - [0:0]\n"
		"-A OUTPUT -p tcp -j ISTIO_OUTPUT\n"
		"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"-A ISTIO_OUTPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN\n"
		"-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN\n"
		"-A ISTIO_OUTPUT -j ISTIO_REDIRECT\n"
		"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"COMMIT\n");

	/* The policy routing, as data and as text. */
	assert_int_equal(ruleset_build(&rc, AF_INET, &rs), 0);
	assert_int_equal(rs.n_routes, 2);
	assert_int_equal(rs.routes[0].kind, ROUTE_OP_RULE);
	assert_int_equal(rs.routes[0].family, AF_INET);
	assert_int_equal(rs.routes[0].fwmark, 1337);
	assert_int_equal(rs.routes[0].table, 133);
	assert_int_equal(rs.routes[1].kind, ROUTE_OP_ROUTE);
	assert_int_equal(rs.routes[1].family, AF_INET);
	assert_int_equal(rs.routes[1].table, 133);
	assert_int_equal(rs.routes[1].prefix.family, AF_INET);
	assert_int_equal(rs.routes[1].prefix.prefix, 0);
	assert_string_equal(rs.routes[1].dev, "lo");
	ruleset_free(&rs);
	assert_render_ip(&rc, AF_INET,
		"# ip -4 rule add fwmark 1337 lookup 133\n"
		"# ip -4 route add local 0.0.0.0/0 dev lo table 133\n");
	redirect_config_free(&rc);
}

/* -m TPROXY -b "*" -d "8080" -i "*" */
static void test_tproxy_all(void **state)
{
	struct redirect_config rc;

	(void)state;
	cfg_script(&rc);
	rc.mode = INTERCEPT_TPROXY;
	ports_set(&rc.inbound_ports, "*");
	ports_set(&rc.exclude_inbound_ports, "8080");
	cidrs_set(&rc.outbound_cidrs, "*");
	assert_render(&rc, AF_INET,
		MANGLE
		":ISTIO_DIVERT - [0:0]\n"
		":ISTIO_INBOUND - [0:0]\n"
		":ISTIO_TPROXY - [0:0]\n"
		"-A PREROUTING -p tcp -j ISTIO_INBOUND\n"
		"-A ISTIO_DIVERT -j MARK --set-xmark 0x539/0xffffffff\n"
		"-A ISTIO_DIVERT -j ACCEPT\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 22 -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 8080 -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -m socket -j ISTIO_DIVERT\n"
		"-A ISTIO_INBOUND -p tcp -j ISTIO_TPROXY\n"
		"-A ISTIO_TPROXY ! -d 127.0.0.1/32 -p tcp -j TPROXY --on-port 15001 --on-ip 0.0.0.0 --tproxy-mark 0x539/0xffffffff\n"
		"COMMIT\n"
		NAT
		":ISTIO_IN_REDIRECT - [0:0]\n"
		":ISTIO_OUTPUT - [0:0]\n"
		":ISTIO_REDIRECT - [0:0]\n"
		"-A OUTPUT -p tcp -j ISTIO_OUTPUT\n"
		"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006\n"
		"-A ISTIO_OUTPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN\n"
		"-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN\n"
		"-A ISTIO_OUTPUT -j ISTIO_REDIRECT\n"
		"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"COMMIT\n");
	/* Differs from the script, which has no IPv6 TPROXY: the IPv6 set
	 * mirrors the IPv4 one (ip6tables-legacy-save verified). */
	assert_render(&rc, AF_INET6,
		MANGLE
		":ISTIO_DIVERT - [0:0]\n"
		":ISTIO_INBOUND - [0:0]\n"
		":ISTIO_TPROXY - [0:0]\n"
		"-A PREROUTING -p tcp -j ISTIO_INBOUND\n"
		"-A ISTIO_DIVERT -j MARK --set-xmark 0x539/0xffffffff\n"
		"-A ISTIO_DIVERT -j ACCEPT\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 22 -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 8080 -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -m socket -j ISTIO_DIVERT\n"
		"-A ISTIO_INBOUND -p tcp -j ISTIO_TPROXY\n"
		"-A ISTIO_TPROXY ! -d ::1/128 -p tcp -j TPROXY --on-port 15001 --on-ip :: --tproxy-mark 0x539/0xffffffff\n"
		"COMMIT\n"
		NAT
		":ISTIO_IN_REDIRECT - [0:0]\n"
		":ISTIO_OUTPUT - [0:0]\n"
		":ISTIO_REDIRECT - [0:0]\n"
		"-A OUTPUT -p tcp -j ISTIO_OUTPUT\n"
		"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006\n"
		"-A ISTIO_OUTPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_OUTPUT -s ::6/128 -o lo -j RETURN\n"
		"-A ISTIO_OUTPUT ! -d ::1/128 -o lo -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -d ::1/128 -j RETURN\n"
		"-A ISTIO_OUTPUT -j ISTIO_REDIRECT\n"
		"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"COMMIT\n");
	assert_render_ip(&rc, AF_INET6,
		"# ip -6 addr add ::6/128 dev lo\n"
		"# ip -6 rule add fwmark 1337 lookup 133\n"
		"# ip -6 route add local ::/0 dev lo table 133\n");
	redirect_config_free(&rc);
}

/* ISTIO_INBOUND_TPROXY_MARK=1338 ISTIO_INBOUND_TPROXY_ROUTE_TABLE=134 */
static void test_tproxy_mark_and_table(void **state)
{
	struct redirect_config rc;
	char *got;

	(void)state;
	cfg_script(&rc);
	rc.mode = INTERCEPT_TPROXY;
	rc.tproxy_mark = 1338;
	rc.tproxy_route_table = 134;
	ports_set(&rc.inbound_ports, "*");
	cidrs_set(&rc.outbound_cidrs, "*");
	got = render(&rc, AF_INET);
	assert_non_null(strstr(got, "-A ISTIO_DIVERT -j MARK --set-xmark 0x53a/0xffffffff\n"));
	assert_non_null(strstr(got, "-A ISTIO_TPROXY ! -d 127.0.0.1/32 -p tcp -j TPROXY --on-port 15001 "
				    "--on-ip 0.0.0.0 --tproxy-mark 0x53a/0xffffffff\n"));
	free(got);
	assert_render_ip(&rc, AF_INET,
		"# ip -4 rule add fwmark 1338 lookup 134\n"
		"# ip -4 route add local 0.0.0.0/0 dev lo table 134\n");
	redirect_config_free(&rc);
}

/* -k "eth1,eth2" -b "*" -i "*" */
static void test_virtual_interfaces_all(void **state)
{
	struct redirect_config rc;
	struct ruleset rs;
	unsigned heads = 0;

	(void)state;
	cfg_script(&rc);
	ifaces_set(&rc, "eth1,eth2");
	ports_set(&rc.inbound_ports, "*");
	cidrs_set(&rc.outbound_cidrs, "*");
	assert_render(&rc, AF_INET,
		NAT
		":ISTIO_INBOUND - [0:0]\n"
		":ISTIO_IN_REDIRECT - [0:0]\n"
		":ISTIO_OUTPUT - [0:0]\n"
		":ISTIO_REDIRECT - [0:0]\n"
		"-A PREROUTING -i eth2 -j ISTIO_REDIRECT\n"
		"-A PREROUTING -i eth1 -j ISTIO_REDIRECT\n"
		"-A PREROUTING -i eth2 -j RETURN\n"
		"-A PREROUTING -i eth1 -j RETURN\n"
		"-A PREROUTING -p tcp -j ISTIO_INBOUND\n"
		"-A OUTPUT -p tcp -j ISTIO_OUTPUT\n"
		"-A ISTIO_INBOUND -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 22 -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006\n"
		"-A ISTIO_OUTPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN\n"
		"-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN\n"
		"-A ISTIO_OUTPUT -j ISTIO_REDIRECT\n"
		"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"COMMIT\n");

	/* The interface rules are marked as head-of-chain insertions. */
	assert_int_equal(ruleset_build(&rc, AF_INET, &rs), 0);
	for (size_t i = 0; i < rs.n_rules; i++) {
		const struct rule *r = &rs.rules[i];
		if (r->head) {
			heads++;
			assert_string_equal(r->chain, "PREROUTING");
			assert_true(rule_chain_is_builtin(r->chain));
			assert_true(r->in.name[0] != '\0');
		}
	}
	assert_int_equal(heads, 4);
	ruleset_free(&rs);
	redirect_config_free(&rc);
}

/* -k "eth1,eth2" -b "*" -i "10.0.0.0/8,192.168.0.0/16,fd00::/8" */
static void test_virtual_interfaces_cidrs(void **state)
{
	struct redirect_config rc;

	(void)state;
	cfg_script(&rc);
	ifaces_set(&rc, "eth1,eth2");
	ports_set(&rc.inbound_ports, "*");
	cidrs_set(&rc.outbound_cidrs, "10.0.0.0/8,192.168.0.0/16,fd00::/8");
	assert_render(&rc, AF_INET,
		NAT
		":ISTIO_INBOUND - [0:0]\n"
		":ISTIO_IN_REDIRECT - [0:0]\n"
		":ISTIO_OUTPUT - [0:0]\n"
		":ISTIO_REDIRECT - [0:0]\n"
		"-A PREROUTING -d 192.168.0.0/16 -i eth2 -j ISTIO_REDIRECT\n"
		"-A PREROUTING -d 192.168.0.0/16 -i eth1 -j ISTIO_REDIRECT\n"
		"-A PREROUTING -d 10.0.0.0/8 -i eth2 -j ISTIO_REDIRECT\n"
		"-A PREROUTING -d 10.0.0.0/8 -i eth1 -j ISTIO_REDIRECT\n"
		"-A PREROUTING -i eth2 -j RETURN\n"
		"-A PREROUTING -i eth1 -j RETURN\n"
		"-A PREROUTING -p tcp -j ISTIO_INBOUND\n"
		"-A OUTPUT -p tcp -j ISTIO_OUTPUT\n"
		"-A ISTIO_INBOUND -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 22 -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006\n"
		"-A ISTIO_OUTPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN\n"
		"-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN\n"
		"-A ISTIO_OUTPUT -d 10.0.0.0/8 -j ISTIO_REDIRECT\n"
		"-A ISTIO_OUTPUT -d 192.168.0.0/16 -j ISTIO_REDIRECT\n"
		"-A ISTIO_OUTPUT -j RETURN\n"
		"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"COMMIT\n");
	/* Differs from the script: it forgets the interface RETURNs (and the
	 * ISTIO_INBOUND catch-all) in its IPv6 part. */
	assert_render(&rc, AF_INET6,
		NAT
		":ISTIO_INBOUND - [0:0]\n"
		":ISTIO_IN_REDIRECT - [0:0]\n"
		":ISTIO_OUTPUT - [0:0]\n"
		":ISTIO_REDIRECT - [0:0]\n"
		"-A PREROUTING -d fd00::/8 -i eth2 -j ISTIO_REDIRECT\n"
		"-A PREROUTING -d fd00::/8 -i eth1 -j ISTIO_REDIRECT\n"
		"-A PREROUTING -i eth2 -j RETURN\n"
		"-A PREROUTING -i eth1 -j RETURN\n"
		"-A PREROUTING -p tcp -j ISTIO_INBOUND\n"
		"-A OUTPUT -p tcp -j ISTIO_OUTPUT\n"
		"-A ISTIO_INBOUND -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 22 -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006\n"
		"-A ISTIO_OUTPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_OUTPUT -s ::6/128 -o lo -j RETURN\n"
		"-A ISTIO_OUTPUT ! -d ::1/128 -o lo -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -d ::1/128 -j RETURN\n"
		"-A ISTIO_OUTPUT -d fd00::/8 -j ISTIO_REDIRECT\n"
		"-A ISTIO_OUTPUT -j RETURN\n"
		"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"COMMIT\n");
	redirect_config_free(&rc);
}

/* -u "1337,1338,0" -g "1337,2000" -b "*" -i "*": order kept, uids first. */
static void test_uid_gid_order(void **state)
{
	struct redirect_config rc;

	(void)state;
	cfg_script(&rc);
	rc.proxy_uids[0] = 1337;
	rc.proxy_uids[1] = 1338;
	rc.proxy_uids[2] = 0;
	rc.n_proxy_uids = 3;
	rc.proxy_gids[0] = 1337;
	rc.proxy_gids[1] = 2000;
	rc.n_proxy_gids = 2;
	ports_set(&rc.inbound_ports, "*");
	cidrs_set(&rc.outbound_cidrs, "*");
	assert_render(&rc, AF_INET,
		NAT
		":ISTIO_INBOUND - [0:0]\n"
		":ISTIO_IN_REDIRECT - [0:0]\n"
		":ISTIO_OUTPUT - [0:0]\n"
		":ISTIO_REDIRECT - [0:0]\n"
		"-A PREROUTING -p tcp -j ISTIO_INBOUND\n"
		"-A OUTPUT -p tcp -j ISTIO_OUTPUT\n"
		"-A ISTIO_INBOUND -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 22 -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006\n"
		"-A ISTIO_OUTPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN\n"
		"-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 1338 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 0 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --gid-owner 2000 -j RETURN\n"
		"-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN\n"
		"-A ISTIO_OUTPUT -j ISTIO_REDIRECT\n"
		"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"COMMIT\n");
	redirect_config_free(&rc);
}

/* -o "3306,5432" -b "*" -i "*": port exclusions head ISTIO_OUTPUT. */
static void test_exclude_outbound_ports(void **state)
{
	struct redirect_config rc;

	(void)state;
	cfg_script(&rc);
	ports_set(&rc.exclude_outbound_ports, "3306,5432");
	ports_set(&rc.inbound_ports, "*");
	cidrs_set(&rc.outbound_cidrs, "*");
	assert_render(&rc, AF_INET,
		NAT
		":ISTIO_INBOUND - [0:0]\n"
		":ISTIO_IN_REDIRECT - [0:0]\n"
		":ISTIO_OUTPUT - [0:0]\n"
		":ISTIO_REDIRECT - [0:0]\n"
		"-A PREROUTING -p tcp -j ISTIO_INBOUND\n"
		"-A OUTPUT -p tcp -j ISTIO_OUTPUT\n"
		"-A ISTIO_INBOUND -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 22 -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006\n"
		"-A ISTIO_OUTPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_OUTPUT -p tcp -m tcp --dport 3306 -j RETURN\n"
		"-A ISTIO_OUTPUT -p tcp -m tcp --dport 5432 -j RETURN\n"
		"-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN\n"
		"-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN\n"
		"-A ISTIO_OUTPUT -j ISTIO_REDIRECT\n"
		"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"COMMIT\n");
	redirect_config_free(&rc);
}

/* -p 15002 -z 15007, with "*" and with a port list. */
static void test_proxy_and_capture_ports(void **state)
{
	struct redirect_config rc;

	(void)state;
	cfg_script(&rc);
	rc.proxy_port = 15002;
	rc.inbound_capture_port = 15007;
	ports_set(&rc.inbound_ports, "*");
	cidrs_set(&rc.outbound_cidrs, "*");
	assert_render(&rc, AF_INET,
		NAT
		":ISTIO_INBOUND - [0:0]\n"
		":ISTIO_IN_REDIRECT - [0:0]\n"
		":ISTIO_OUTPUT - [0:0]\n"
		":ISTIO_REDIRECT - [0:0]\n"
		"-A PREROUTING -p tcp -j ISTIO_INBOUND\n"
		"-A OUTPUT -p tcp -j ISTIO_OUTPUT\n"
		"-A ISTIO_INBOUND -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 22 -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15007\n"
		"-A ISTIO_OUTPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN\n"
		"-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN\n"
		"-A ISTIO_OUTPUT -j ISTIO_REDIRECT\n"
		"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15002\n"
		"COMMIT\n");
	ports_set(&rc.inbound_ports, "8080");
	assert_render(&rc, AF_INET,
		NAT
		":ISTIO_INBOUND - [0:0]\n"
		":ISTIO_IN_REDIRECT - [0:0]\n"
		":ISTIO_OUTPUT - [0:0]\n"
		":ISTIO_REDIRECT - [0:0]\n"
		"-A PREROUTING -p tcp -j ISTIO_INBOUND\n"
		"-A OUTPUT -p tcp -j ISTIO_OUTPUT\n"
		"-A ISTIO_INBOUND -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 8080 -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15002\n"
		"-A ISTIO_OUTPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN\n"
		"-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN\n"
		"-A ISTIO_OUTPUT -j ISTIO_REDIRECT\n"
		"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15002\n"
		"COMMIT\n");
	redirect_config_free(&rc);
}

/* DISABLE_REDIRECTION_ON_LOCAL_LOOPBACK=1 -b "*" -i "*" */
static void test_no_loopback_redirect(void **state)
{
	struct redirect_config rc;
	char *got;

	(void)state;
	cfg_script(&rc);
	rc.loopback_redirect = false;
	ports_set(&rc.inbound_ports, "*");
	cidrs_set(&rc.outbound_cidrs, "*");
	assert_render(&rc, AF_INET,
		NAT
		":ISTIO_INBOUND - [0:0]\n"
		":ISTIO_IN_REDIRECT - [0:0]\n"
		":ISTIO_OUTPUT - [0:0]\n"
		":ISTIO_REDIRECT - [0:0]\n"
		"-A PREROUTING -p tcp -j ISTIO_INBOUND\n"
		"-A OUTPUT -p tcp -j ISTIO_OUTPUT\n"
		"-A ISTIO_INBOUND -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -m tcp --dport 22 -j RETURN\n"
		"-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT\n"
		"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006\n"
		"-A ISTIO_OUTPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN\n"
		"-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
		"-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN\n"
		"-A ISTIO_OUTPUT -j ISTIO_REDIRECT\n"
		"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"COMMIT\n");
	/* Differs from the script, whose IPv6 part ignores the switch. */
	got = render(&rc, AF_INET6);
	assert_null(strstr(got, "! -d ::1/128 -o lo"));
	assert_non_null(strstr(got, "-A ISTIO_OUTPUT -s ::6/128 -o lo -j RETURN\n"));
	free(got);
	redirect_config_free(&rc);
}

/* --- the config layer's defaults, switches, errors ---------------------- */

static void test_meshboot_defaults(void **state)
{
	struct redirect_config rc;
	char *got;

	(void)state;
	redirect_config_init(&rc);
	rc.enabled = true;
	rc.proxy_uids[0] = 998;
	rc.n_proxy_uids = 1;
	rc.proxy_gids[0] = 997;
	rc.n_proxy_gids = 1;
	got = render(&rc, AF_INET);
	/* -b "*" -i "*" */
	assert_non_null(strstr(got, "-A ISTIO_INBOUND -p tcp -m tcp --dport 22 -j RETURN\n"
				    "-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT\n"));
	assert_non_null(strstr(got, "-A ISTIO_OUTPUT -m owner --uid-owner 998 -j RETURN\n"
				    "-A ISTIO_OUTPUT -m owner --gid-owner 997 -j RETURN\n"));
	assert_non_null(strstr(got, "-A ISTIO_OUTPUT -j ISTIO_REDIRECT\n"));
	free(got);
	redirect_config_free(&rc);
}

static void test_disabled_and_no_ipv6(void **state)
{
	struct redirect_config rc;
	struct ruleset rs;

	(void)state;
	cfg_script(&rc);
	rc.enabled = false;
	assert_render(&rc, AF_INET, "");
	assert_render(&rc, AF_INET6, "");
	assert_render_ip(&rc, AF_INET6, "");
	rc.enabled = true;
	rc.ipv6 = false;
	assert_int_equal(ruleset_build(&rc, AF_INET6, &rs), 0);
	assert_int_equal(rs.n_rules, 0);
	assert_int_equal(rs.n_chains, 0);
	assert_int_equal(rs.n_routes, 0);
	ruleset_free(&rs);
	assert_render(&rc, AF_INET6, "");
	assert_int_equal(ruleset_build(&rc, AF_INET, &rs), 0);
	assert_true(rs.n_rules > 0);
	ruleset_free(&rs);
	redirect_config_free(&rc);
}

static void assert_build_fails(const struct redirect_config *rc, int family, int err)
{
	struct ruleset rs;

	memset(&rs, 0x3c, sizeof(rs));
	assert_int_equal(ruleset_build(rc, family, &rs), err);
	assert_null(rs.rules);
	assert_int_equal(rs.n_rules, 0);
	assert_int_equal(rs.n_chains, 0);
	ruleset_free(&rs);
}

static void test_build_errors(void **state)
{
	struct redirect_config rc;

	(void)state;
	cfg_script(&rc);
	assert_build_fails(&rc, AF_UNIX, -EAFNOSUPPORT);
	assert_build_fails(&rc, 0, -EAFNOSUPPORT);
	assert_build_fails(NULL, AF_INET, -EINVAL);
	assert_int_equal(ruleset_build(&rc, AF_INET, NULL), -EINVAL);

	rc.n_proxy_uids = 0;
	assert_build_fails(&rc, AF_INET, -EINVAL);
	rc.n_proxy_uids = REDIRECT_MAX_IDS + 1;
	assert_build_fails(&rc, AF_INET, -EINVAL);
	rc.n_proxy_uids = 1;
	rc.n_proxy_gids = REDIRECT_MAX_IDS + 1;
	assert_build_fails(&rc, AF_INET, -EINVAL);
	rc.n_proxy_gids = 1;

	rc.proxy_port = 0;
	assert_build_fails(&rc, AF_INET, -EINVAL);
	rc.proxy_port = 15001;
	rc.inbound_capture_port = 0;
	assert_build_fails(&rc, AF_INET, -EINVAL);
	rc.inbound_capture_port = 15006;

	rc.mode = (enum intercept_mode)7;
	assert_build_fails(&rc, AF_INET, -EINVAL);
	rc.mode = INTERCEPT_TPROXY;
	ports_set(&rc.inbound_ports, "80");
	rc.tproxy_mark = 0;
	assert_build_fails(&rc, AF_INET, -EINVAL);
	rc.tproxy_mark = 1337;
	rc.tproxy_route_table = 254; /* main */
	assert_build_fails(&rc, AF_INET, -EINVAL);
	rc.tproxy_route_table = 0;
	assert_build_fails(&rc, AF_INET, -EINVAL);
	rc.tproxy_route_table = 133;
	rc.mode = INTERCEPT_REDIRECT;

	/* "*" makes no sense in an exclusion list. */
	rc.exclude_inbound_ports.all = true;
	assert_build_fails(&rc, AF_INET, -EINVAL);
	rc.exclude_inbound_ports.all = false;
	rc.exclude_outbound_ports.all = true;
	assert_build_fails(&rc, AF_INET, -EINVAL);
	rc.exclude_outbound_ports.all = false;
	rc.exclude_outbound_cidrs.all = true;
	assert_build_fails(&rc, AF_INET, -EINVAL);
	rc.exclude_outbound_cidrs.all = false;

	/* Port 0 and broken CIDRs smuggled past the parsers. */
	ports_set(&rc.exclude_outbound_ports, "80");
	rc.exclude_outbound_ports.v[0] = 0;
	assert_build_fails(&rc, AF_INET, -EINVAL);
	ports_set(&rc.exclude_outbound_ports, "80");
	cidrs_set(&rc.outbound_cidrs, "10.0.0.0/8");
	rc.outbound_cidrs.v[0].prefix = 33;
	assert_build_fails(&rc, AF_INET, -EINVAL);
	rc.outbound_cidrs.v[0].prefix = 8;
	rc.outbound_cidrs.v[0].family = AF_UNIX;
	assert_build_fails(&rc, AF_INET, -EINVAL);
	cidrs_set(&rc.outbound_cidrs, "*");

	/* Interface names that could inject text or are not names at all. */
	static const char *const bad_if[] = {
		"", "eth0\n-A", "eth 0", "-i", "+", "eth/0", "..", ".", "eth0!", "a\"b", "eth#",
	};
	for (size_t i = 0; i < sizeof(bad_if) / sizeof(bad_if[0]); i++) {
		rc.n_virtual_interfaces = 1;
		memset(rc.virtual_interfaces[0], 0, IFNAMSIZ);
		memcpy(rc.virtual_interfaces[0], bad_if[i], strlen(bad_if[i]));
		assert_build_fails(&rc, AF_INET, -EINVAL);
	}
	memset(rc.virtual_interfaces[0], 'a', IFNAMSIZ); /* unterminated */
	assert_build_fails(&rc, AF_INET, -EINVAL);
	rc.n_virtual_interfaces = REDIRECT_MAX_IFACES + 1;
	assert_build_fails(&rc, AF_INET, -EINVAL);
	rc.n_virtual_interfaces = 1;
	strcpy(rc.virtual_interfaces[0], "veth+");
	{
		char *got = render(&rc, AF_INET);
		assert_non_null(strstr(got, "-A PREROUTING -i veth+ -j ISTIO_REDIRECT\n"));
		free(got);
	}
	redirect_config_free(&rc);
}

/* 1000 excluded CIDRs (the benchmark's size) and 1000 included ones with
 * two virtual interfaces: the right rules, in order, built quickly. */
static void test_many_cidrs(void **state)
{
	struct redirect_config rc;
	struct ruleset rs;
	struct strbuf sb;
	char line[96], *text, *pos;
	clock_t t0;

	(void)state;
	cfg_script(&rc);
	ports_set(&rc.inbound_ports, "*");
	cidrs_set(&rc.outbound_cidrs, "*");
	for (unsigned i = 0; i < 1000; i++) {
		struct cidr c = { .family = AF_INET, .prefix = 24 };
		c.addr[0] = 10;
		c.addr[1] = (uint8_t)(i >> 8);
		c.addr[2] = (uint8_t)i;
		assert_int_equal(cidr_list_add(&rc.exclude_outbound_cidrs, &c), 0);
	}
	t0 = clock();
	assert_int_equal(ruleset_build(&rc, AF_INET, &rs), 0);
	sb_init(&sb);
	assert_int_equal(ruleset_render_save(&rs, &sb), 0);
	text = sb_steal(&sb);
	ruleset_free(&rs);
	pos = text;
	for (unsigned i = 0; i < 1000; i++) {
		snprintf(line, sizeof(line), "-A ISTIO_OUTPUT -d 10.%u.%u.0/24 -j RETURN\n", i >> 8, i & 255);
		pos = strstr(pos, line);
		assert_non_null(pos);
	}
	assert_non_null(strstr(pos, "-A ISTIO_OUTPUT -j ISTIO_REDIRECT\n"));
	free(text);
	/* IPv6 set: none of them. */
	assert_int_equal(ruleset_build(&rc, AF_INET6, &rs), 0);
	for (size_t i = 0; i < rs.n_rules; i++)
		assert_true(!rs.rules[i].dst.set || rs.rules[i].dst.net.family == AF_INET6);
	ruleset_free(&rs);

	/* Included CIDRs x interfaces. */
	free(rc.outbound_cidrs.v);
	rc.outbound_cidrs = rc.exclude_outbound_cidrs;
	memset(&rc.exclude_outbound_cidrs, 0, sizeof(rc.exclude_outbound_cidrs));
	ifaces_set(&rc, "eth1,eth2");
	assert_int_equal(ruleset_build(&rc, AF_INET, &rs), 0);
	{
		size_t pre = 0, out_redirect = 0;
		for (size_t i = 0; i < rs.n_rules; i++) {
			const struct rule *r = &rs.rules[i];
			if (strcmp(r->chain, "PREROUTING") == 0 && r->dst.set)
				pre++;
			if (strcmp(r->chain, RULE_CHAIN_OUTPUT) == 0 && r->verdict == RULE_JUMP &&
			    strcmp(r->jump, RULE_CHAIN_REDIRECT) == 0 && r->dst.set)
				out_redirect++;
		}
		assert_int_equal(pre, 2000);
		assert_int_equal(out_redirect, 1000);
	}
	sb_init(&sb);
	assert_int_equal(ruleset_render_save(&rs, &sb), 0);
	assert_non_null(strstr(sb.buf, "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n"
				       ":OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
				       ":ISTIO_INBOUND - [0:0]\n:ISTIO_IN_REDIRECT - [0:0]\n"
				       ":ISTIO_OUTPUT - [0:0]\n:ISTIO_REDIRECT - [0:0]\n"
				       "-A PREROUTING -d 10.3.231.0/24 -i eth2 -j ISTIO_REDIRECT\n"
				       "-A PREROUTING -d 10.3.231.0/24 -i eth1 -j ISTIO_REDIRECT\n"
				       "-A PREROUTING -d 10.3.230.0/24 -i eth2 -j ISTIO_REDIRECT\n"));
	sb_free(&sb);
	ruleset_free(&rs);
	/* Generous bound; the real cost is well under a millisecond. */
	assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 2.0);
	redirect_config_free(&rc);
}

/* --- hand-built rule sets: renderer forms and checks -------------------- */

static struct cidr cidr_of(const char *s)
{
	struct cidr c;

	assert_int_equal(cidr_parse(s, &c), 0);
	return c;
}

/* Forms checked against iptables-legacy-save by hand (negations, udp,
 * uid+gid in one owner match, "anywhere" elided unless negated). */
static void test_render_forms(void **state)
{
	struct ruleset rs;
	struct strbuf sb;
	struct rule r;

	(void)state;
	ruleset_init(&rs, AF_INET);
	rs.chains[rs.n_chains++] = (struct rule_chain){ RULE_TABLE_NAT, "T1" };

	r = (struct rule){ .table = RULE_TABLE_NAT, .chain = "T1", .verdict = RULE_RETURN };
	r.src = (struct rule_addr){ .set = true, .neg = true, .net = cidr_of("10.0.0.0/8") };
	r.in.neg = true;
	strcpy(r.in.name, "eth0");
	r.out.neg = true;
	strcpy(r.out.name, "lo+");
	r.proto = IPPROTO_TCP;
	r.dport = (struct rule_num){ .set = true, .neg = true, .v = 22 };
	r.uid = (struct rule_num){ .set = true, .neg = true, .v = 5 };
	r.gid = (struct rule_num){ .set = true, .v = 7 };
	assert_int_equal(ruleset_add_rule(&rs, &r), 0);

	r = (struct rule){ .table = RULE_TABLE_NAT, .chain = "T1", .verdict = RULE_RETURN };
	r.proto = IPPROTO_TCP;
	r.proto_neg = true;
	r.dst = (struct rule_addr){ .set = true, .net = cidr_of("0.0.0.0/0") };
	assert_int_equal(ruleset_add_rule(&rs, &r), 0);

	r = (struct rule){ .table = RULE_TABLE_NAT, .chain = "T1", .verdict = RULE_RETURN };
	r.dst = (struct rule_addr){ .set = true, .neg = true, .net = cidr_of("0.0.0.0/0") };
	assert_int_equal(ruleset_add_rule(&rs, &r), 0);

	r = (struct rule){ .table = RULE_TABLE_NAT, .chain = "T1", .verdict = RULE_REDIRECT };
	r.proto = IPPROTO_UDP;
	r.dport = (struct rule_num){ .set = true, .v = 53 };
	r.to_port = 15053;
	assert_int_equal(ruleset_add_rule(&rs, &r), 0);

	r = (struct rule){ .table = RULE_TABLE_NAT, .chain = "T1", .verdict = RULE_ACCEPT };
	r.uid = (struct rule_num){ .set = true, .v = 4294967294u };
	assert_int_equal(ruleset_add_rule(&rs, &r), 0);

	r = (struct rule){ .table = RULE_TABLE_MANGLE, .chain = "PREROUTING", .verdict = RULE_MARK,
			   .mark = 0xffffffffu, .mask = 0xffffffffu };
	assert_int_equal(ruleset_add_rule(&rs, &r), 0);

	sb_init(&sb);
	assert_int_equal(ruleset_render_save(&rs, &sb), 0);
	assert_string_equal(sb.buf,
		MANGLE
		"-A PREROUTING -j MARK --set-xmark 0xffffffff/0xffffffff\n"
		"COMMIT\n"
		NAT
		":T1 - [0:0]\n"
		"-A T1 ! -s 10.0.0.0/8 ! -i eth0 ! -o lo+ -p tcp -m tcp ! --dport 22 -m owner ! --uid-owner 5 --gid-owner 7 -j RETURN\n"
		"-A T1 ! -p tcp -j RETURN\n"
		"-A T1 ! -d 0.0.0.0/0 -j RETURN\n"
		"-A T1 -p udp -m udp --dport 53 -j REDIRECT --to-ports 15053\n"
		"-A T1 -m owner --uid-owner 4294967294 -j ACCEPT\n"
		"COMMIT\n");
	sb_free(&sb);

	/* IPv6 forms. */
	ruleset_free(&rs);
	ruleset_init(&rs, AF_INET6);
	rs.chains[rs.n_chains++] = (struct rule_chain){ RULE_TABLE_MANGLE, "D" };
	r = (struct rule){ .table = RULE_TABLE_MANGLE, .chain = "D", .verdict = RULE_ACCEPT };
	r.src = (struct rule_addr){ .set = true, .net = cidr_of("2001:db8::1") };
	r.dst = (struct rule_addr){ .set = true, .net = cidr_of("fd00:0:0:1::/64") };
	assert_int_equal(ruleset_add_rule(&rs, &r), 0);
	r = (struct rule){ .table = RULE_TABLE_MANGLE, .chain = "D", .verdict = RULE_ACCEPT };
	r.dst = (struct rule_addr){ .set = true, .neg = true, .net = cidr_of("::/0") };
	assert_int_equal(ruleset_add_rule(&rs, &r), 0);
	r = (struct rule){ .table = RULE_TABLE_MANGLE, .chain = "D", .verdict = RULE_ACCEPT };
	r.dst = (struct rule_addr){ .set = true, .net = cidr_of("::/0") };
	assert_int_equal(ruleset_add_rule(&rs, &r), 0);
	sb_init(&sb);
	assert_int_equal(ruleset_render_save(&rs, &sb), 0);
	assert_string_equal(sb.buf,
		MANGLE
		":D - [0:0]\n"
		"-A D -s 2001:db8::1/128 -d fd00:0:0:1::/64 -j ACCEPT\n"
		"-A D ! -d ::/0 -j ACCEPT\n"
		"-A D -j ACCEPT\n"
		"COMMIT\n");
	sb_free(&sb);
	ruleset_free(&rs);
}

static void assert_render_rejects(const struct rule *r, int family)
{
	struct ruleset rs;
	struct strbuf sb;

	ruleset_init(&rs, family);
	rs.chains[rs.n_chains++] = (struct rule_chain){ RULE_TABLE_NAT, "T1" };
	rs.chains[rs.n_chains++] = (struct rule_chain){ RULE_TABLE_MANGLE, "M1" };
	assert_int_equal(ruleset_add_rule(&rs, r), 0);
	sb_init(&sb);
	assert_int_equal(ruleset_render_save(&rs, &sb), -EINVAL);
	sb_free(&sb);
	ruleset_free(&rs);
}

static void test_render_rejects(void **state)
{
	struct rule r;
	struct ruleset rs;
	struct strbuf sb;

	(void)state;
	/* Jump to a chain we did not declare, or across tables. */
	r = (struct rule){ .table = RULE_TABLE_NAT, .chain = "T1", .verdict = RULE_JUMP, .jump = "NOPE" };
	assert_render_rejects(&r, AF_INET);
	r.jump = "M1";
	assert_render_rejects(&r, AF_INET);
	r.jump = NULL;
	assert_render_rejects(&r, AF_INET);
	/* Undeclared chain; FORWARD does not exist in nat. */
	r = (struct rule){ .table = RULE_TABLE_NAT, .chain = "X", .verdict = RULE_RETURN };
	assert_render_rejects(&r, AF_INET);
	r.chain = "FORWARD";
	assert_render_rejects(&r, AF_INET);
	/* --dport without a positive protocol. */
	r = (struct rule){ .table = RULE_TABLE_NAT, .chain = "T1", .verdict = RULE_RETURN };
	r.dport = (struct rule_num){ .set = true, .v = 80 };
	assert_render_rejects(&r, AF_INET);
	r.proto = IPPROTO_TCP;
	r.proto_neg = true;
	assert_render_rejects(&r, AF_INET);
	r.proto_neg = false;
	r.dport.v = 70000;
	assert_render_rejects(&r, AF_INET);
	r.dport.set = false;
	r.proto = IPPROTO_ICMP;
	assert_render_rejects(&r, AF_INET);
	/* Address of the wrong family. */
	r = (struct rule){ .table = RULE_TABLE_NAT, .chain = "T1", .verdict = RULE_RETURN };
	r.dst = (struct rule_addr){ .set = true, .net = cidr_of("::1") };
	assert_render_rejects(&r, AF_INET);
	/* Interface name with a newline. */
	r = (struct rule){ .table = RULE_TABLE_NAT, .chain = "T1", .verdict = RULE_RETURN };
	strcpy(r.out.name, "lo\n");
	assert_render_rejects(&r, AF_INET);
	/* Targets in the wrong table. */
	r = (struct rule){ .table = RULE_TABLE_NAT, .chain = "T1", .verdict = RULE_TPROXY, .to_port = 1 };
	assert_render_rejects(&r, AF_INET);
	r = (struct rule){ .table = RULE_TABLE_MANGLE, .chain = "M1", .verdict = RULE_REDIRECT, .to_port = 1 };
	assert_render_rejects(&r, AF_INET);
	r = (struct rule){ .table = RULE_TABLE_NAT, .chain = "T1", .verdict = RULE_MARK };
	assert_render_rejects(&r, AF_INET);
	r = (struct rule){ .table = RULE_TABLE_NAT, .chain = "T1", .verdict = RULE_REDIRECT };
	assert_render_rejects(&r, AF_INET);
	r = (struct rule){ .table = RULE_TABLE_NAT, .chain = "T1", .verdict = (enum rule_verdict)99 };
	assert_render_rejects(&r, AF_INET);

	/* Bad chain declarations. */
	ruleset_init(&rs, AF_INET);
	rs.chains[rs.n_chains++] = (struct rule_chain){ RULE_TABLE_NAT, "BAD NAME" };
	sb_init(&sb);
	assert_int_equal(ruleset_render_save(&rs, &sb), -EINVAL);
	rs.chains[0].name = "OUTPUT";
	assert_int_equal(ruleset_render_save(&rs, &sb), -EINVAL);
	rs.chains[0].name = "A";
	rs.chains[rs.n_chains++] = (struct rule_chain){ RULE_TABLE_NAT, "A" };
	assert_int_equal(ruleset_render_save(&rs, &sb), -EINVAL);
	rs.family = AF_UNIX;
	assert_int_equal(ruleset_render_save(&rs, &sb), -EINVAL);
	sb_free(&sb);
	ruleset_free(&rs);

	/* Route ops: device names are checked, unknown kinds refused. */
	ruleset_init(&rs, AF_INET6);
	rs.routes[rs.n_routes++] = (struct route_op){ .kind = ROUTE_OP_ADDR, .family = AF_INET6,
						      .prefix = cidr_of("::6"), .dev = "lo\n" };
	sb_init(&sb);
	assert_int_equal(ruleset_render_iproute(&rs, &sb), -EINVAL);
	sb_free(&sb);
	rs.routes[0].dev[2] = '\0';
	rs.routes[0].kind = (enum route_op_kind)9;
	sb_init(&sb);
	assert_int_equal(ruleset_render_iproute(&rs, &sb), -EINVAL);
	sb_free(&sb);
	rs.routes[0].kind = ROUTE_OP_ADDR;
	sb_init(&sb);
	assert_int_equal(ruleset_render_iproute(&rs, &sb), 0);
	assert_string_equal(sb.buf, "# ip -6 addr add ::6/128 dev lo\n");
	sb_free(&sb);
	ruleset_free(&rs);
}

static void test_helpers(void **state)
{
	(void)state;
	assert_string_equal(rule_table_name(RULE_TABLE_MANGLE), "mangle");
	assert_string_equal(rule_table_name(RULE_TABLE_NAT), "nat");
	assert_null(rule_table_name(RULE_TABLE_MAX));
	assert_true(rule_chain_is_builtin("PREROUTING"));
	assert_true(rule_chain_is_builtin("OUTPUT"));
	assert_false(rule_chain_is_builtin(RULE_CHAIN_OUTPUT));
	assert_false(rule_chain_is_builtin("prerouting"));
	assert_false(rule_chain_is_builtin(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_script_defaults),
		cmocka_unit_test(test_inbound_all_with_excludes),
		cmocka_unit_test(test_inbound_list),
		cmocka_unit_test(test_inbound_empty),
		cmocka_unit_test(test_outbound_cidrs),
		cmocka_unit_test(test_outbound_cidrs_mixed_families),
		cmocka_unit_test(test_tproxy_list),
		cmocka_unit_test(test_tproxy_all),
		cmocka_unit_test(test_tproxy_mark_and_table),
		cmocka_unit_test(test_virtual_interfaces_all),
		cmocka_unit_test(test_virtual_interfaces_cidrs),
		cmocka_unit_test(test_uid_gid_order),
		cmocka_unit_test(test_exclude_outbound_ports),
		cmocka_unit_test(test_proxy_and_capture_ports),
		cmocka_unit_test(test_no_loopback_redirect),
		cmocka_unit_test(test_meshboot_defaults),
		cmocka_unit_test(test_disabled_and_no_ipv6),
		cmocka_unit_test(test_build_errors),
		cmocka_unit_test(test_many_cidrs),
		cmocka_unit_test(test_render_forms),
		cmocka_unit_test(test_render_rejects),
		cmocka_unit_test(test_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
