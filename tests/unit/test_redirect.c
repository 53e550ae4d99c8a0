/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for src/redirect.c: defaults and the strict parsers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "redirect.h"

static void test_config_defaults(void **state)
{
	struct redirect_config rc;

	(void)state;
	memset(&rc, 0xa5, sizeof(rc));
	redirect_config_init(&rc);
	assert_false(rc.enabled);
	assert_int_equal(rc.proxy_port, 15001);
	assert_int_equal(rc.inbound_capture_port, 15006);
	assert_int_equal(rc.n_proxy_uids, 0);
	assert_int_equal(rc.n_proxy_gids, 0);
	assert_int_equal(rc.mode, INTERCEPT_REDIRECT);
	assert_int_equal(rc.tproxy_mark, 1337);
	assert_int_equal(rc.tproxy_route_table, 133);
	assert_true(rc.inbound_ports.all);
	assert_int_equal(rc.inbound_ports.n, 0);
	assert_null(rc.inbound_ports.v);
	assert_false(rc.exclude_inbound_ports.all);
	assert_int_equal(rc.exclude_inbound_ports.n, 0);
	assert_true(rc.outbound_cidrs.all);
	assert_int_equal(rc.outbound_cidrs.n, 0);
	assert_false(rc.exclude_outbound_cidrs.all);
	assert_int_equal(rc.exclude_outbound_cidrs.n, 0);
	assert_false(rc.exclude_outbound_ports.all);
	assert_int_equal(rc.exclude_outbound_ports.n, 0);
	assert_int_equal(rc.n_virtual_interfaces, 0);
	assert_true(rc.loopback_redirect);
	assert_true(rc.ipv6);
	redirect_config_free(&rc);
}

static void test_config_free_twice(void **state)
{
	struct redirect_config rc;
	struct cidr c;

	(void)state;
	redirect_config_init(&rc);
	assert_int_equal(port_list_add(&rc.exclude_inbound_ports, 8080), 0);
	assert_int_equal(port_list_add(&rc.exclude_outbound_ports, 3306), 0);
	assert_int_equal(port_list_add(&rc.inbound_ports, 80), 0);
	assert_int_equal(cidr_parse("10.0.0.0/8", &c), 0);
	assert_int_equal(cidr_list_add(&rc.outbound_cidrs, &c), 0);
	assert_int_equal(cidr_list_add(&rc.exclude_outbound_cidrs, &c), 0);
	redirect_config_free(&rc);
	assert_null(rc.inbound_ports.v);
	assert_int_equal(rc.inbound_ports.n, 0);
	assert_null(rc.outbound_cidrs.v);
	redirect_config_free(&rc);
	redirect_config_free(NULL);
}

static void test_port_parse_ok(void **state)
{
	static const struct { const char *s; uint16_t v; } ok[] = {
		{ "1", 1 }, { "22", 22 }, { "80", 80 }, { "15001", 15001 },
		{ "65535", 65535 }, { "9", 9 }, { "10000", 10000 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint16_t p = 0;
		assert_int_equal(port_parse(ok[i].s, &p), 0);
		assert_int_equal(p, ok[i].v);
	}
}

static void test_port_parse_hostile(void **state)
{
	static const char *const bad[] = {
		"", "0", "00", "65536", "99999", "100000", "-1", "+80", "0x50", "0X50",
		" 80", "80 ", "8 0", "\t80", "80\n", "080", "1e3", "80.0", "80,81",
		"*", "eighty", "4294967377", "18446744073709551696", "8O",
	};
	uint16_t p = 4242;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(port_parse(bad[i], &p), -EINVAL);
		assert_int_equal(p, 4242); /* untouched on failure */
	}
	assert_int_equal(port_parse(NULL, &p), -EINVAL);
	assert_int_equal(port_parse("80", NULL), -EINVAL);
}

static void test_port_parse_long(void **state)
{
	char *s = malloc(100001);
	uint16_t p;

	(void)state;
	assert_non_null(s);
	memset(s, '1', 100000);
	s[100000] = '\0';
	assert_int_equal(port_parse(s, &p), -EINVAL);
	memset(s, '0', 99999);
	s[99999] = '1';
	assert_int_equal(port_parse(s, &p), -EINVAL);
	free(s);
}

static void assert_cidr(const char *text, int family, const char *addr, unsigned prefix)
{
	struct cidr c, want = { .family = family, .prefix = (uint8_t)prefix };

	memset(&c, 0x5a, sizeof(c));
	assert_int_equal(inet_pton(family, addr, want.addr), 1);
	assert_int_equal(cidr_parse(text, &c), 0);
	assert_int_equal(c.family, family);
	assert_int_equal(c.prefix, prefix);
	assert_memory_equal(c.addr, want.addr, family == AF_INET ? 4 : 16);
	if (family == AF_INET) {
		static const uint8_t zero[12];
		assert_memory_equal(c.addr + 4, zero, 12);
	}
}

static void test_cidr_parse_ok(void **state)
{
	(void)state;
	assert_cidr("10.0.0.0/8", AF_INET, "10.0.0.0", 8);
	assert_cidr("192.168.0.0/16", AF_INET, "192.168.0.0", 16);
	assert_cidr("1.2.3.4", AF_INET, "1.2.3.4", 32);
	assert_cidr("1.2.3.4/32", AF_INET, "1.2.3.4", 32);
	assert_cidr("0.0.0.0/0", AF_INET, "0.0.0.0", 0);
	assert_cidr("255.255.255.255", AF_INET, "255.255.255.255", 32);
	assert_cidr("10.1.0.0/16", AF_INET, "10.1.0.0", 16);
	assert_cidr("172.16.0.0/12", AF_INET, "172.16.0.0", 12);
	assert_cidr("100.64.0.0/10", AF_INET, "100.64.0.0", 10);
	assert_cidr("0.0.0.0", AF_INET, "0.0.0.0", 32);
	assert_cidr("::1", AF_INET6, "::1", 128);
	assert_cidr("::/0", AF_INET6, "::", 0);
	assert_cidr("fd00::/8", AF_INET6, "fd00::", 8);
	assert_cidr("FD00::/8", AF_INET6, "fd00::", 8);
	assert_cidr("2001:db8::/32", AF_INET6, "2001:db8::", 32);
	assert_cidr("2001:0db8:0000:0000:0000:0000:0000:0001", AF_INET6, "2001:db8::1", 128);
	assert_cidr("fe80::/10", AF_INET6, "fe80::", 10);
	assert_cidr("fd00:1::/32", AF_INET6, "fd00:1::", 32);
}

static void test_cidr_parse_hostile(void **state)
{
	static const char *const bad[] = {
		"", "/", "/8", "1.2.3.4/33", "1.2.3.4/", "1.2.3.4/-1", "1.2.3.4/+8",
		"1.2.3.4/08", "1.2.3.4/ 8", "1.2.3.4/8 ", "1.2.3.4/0x8", "1.2.3.4/8/8",
		"1.2.3.4/1000", "1.2.3.4/4294967304",
		"10.0.0.1/8", "192.168.1.0/16", "1.2.3.4/0", "::1/64", "fd00::1/8", "::1/0",
		"::ffff:1.2.3.4", "::ffff:1.2.3.4/128", "::1.2.3.4", "64:ff9b::1.2.3.4",
		"010.1.1.1", "1.02.3.4", "1.2.3.04", "00.0.0.0", "0x1.2.3.4", "0x0a000000",
		"1.2.3", "1.2.3.4.5", "1..2.3", ".1.2.3", "1.2.3.", "256.1.1.1", "1.2.3.256",
		"1.2.3.1000", "a.b.c.d", "1.2.3.4a", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4\n",
		"1.2.3.-4", "*", "localhost", "::1/129", "fd00::/300", ":::", "::g",
		"1:2:3:4:5:6:7:8:9", "12345::", "fd00::/8/8", "fd00:: /8", "[::1]", "::1%lo",
		"fe80::1%eth0/128", "1,2,3,4", "1.2.3.4,5.6.7.8",
	};
	struct cidr c, orig;

	(void)state;
	memset(&orig, 0x77, sizeof(orig));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = orig;
		if (cidr_parse(bad[i], &c) != -EINVAL)
			fail_msg("cidr_parse accepted \"%s\"", bad[i]);
		assert_memory_equal(&c, &orig, sizeof(c));
	}
	assert_int_equal(cidr_parse(NULL, &c), -EINVAL);
	assert_int_equal(cidr_parse("10.0.0.0/8", NULL), -EINVAL);
}

static void test_cidr_parse_long(void **state)
{
	size_t n = 1 << 20;
	char *s = malloc(n + 1);
	struct cidr c;

	(void)state;
	assert_non_null(s);
	memset(s, '1', n);
	s[n] = '\0';
	assert_int_equal(cidr_parse(s, &c), -EINVAL);
	/* A valid CIDR followed by a long tail. */
	memcpy(s, "10.0.0.0/8", 10);
	memset(s + 10, '0', n - 10);
	assert_int_equal(cidr_parse(s, &c), -EINVAL);
	/* Long run of colons and zeros. */
	for (size_t i = 0; i < n; i++)
		s[i] = (i % 2) ? ':' : '0';
	assert_int_equal(cidr_parse(s, &c), -EINVAL);
	free(s);
}

static void assert_format(const char *in, const char *want)
{
	struct cidr c;
	char buf[64];

	assert_int_equal(cidr_parse(in, &c), 0);
	cidr_format(&c, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void test_cidr_format(void **state)
{
	struct cidr bad = { .family = 12345 };
	char buf[64] = "x";

	(void)state;
	assert_format("10.0.0.0/8", "10.0.0.0/8");
	assert_format("1.2.3.4", "1.2.3.4/32");
	assert_format("0.0.0.0/0", "0.0.0.0/0");
	assert_format("::1", "::1/128");
	assert_format("::/0", "::/0");
	assert_format("FD00::/8", "fd00::/8");
	assert_format("2001:0db8:0:0:0:0:0:1", "2001:db8::1/128");
	assert_format("fd00:0:0:1::/64", "fd00:0:0:1::/64");
	cidr_format(&bad, buf, sizeof(buf));
	assert_string_equal(buf, "");
	/* Truncates safely. */
	assert_int_equal(cidr_parse("192.168.100.200", &bad), 0);
	cidr_format(&bad, buf, 8);
	assert_string_equal(buf, "192.168");
}

static void test_port_list_add_many(void **state)
{
	struct port_list l = { 0 };

	(void)state;
	for (unsigned i = 0; i < 70000; i++)
		assert_int_equal(port_list_add(&l, (uint16_t)(i % 65535 + 1)), 0);
	assert_int_equal(l.n, 70000);
	assert_false(l.all);
	for (unsigned i = 0; i < 70000; i++)
		assert_int_equal(l.v[i], i % 65535 + 1);
	free(l.v);
}

static void test_cidr_list_add_many(void **state)
{
	struct cidr_list l = { 0 };
	struct cidr c;

	(void)state;
	for (unsigned i = 0; i < 5000; i++) {
		c = (struct cidr){ .family = AF_INET, .prefix = 32 };
		c.addr[0] = 10;
		c.addr[2] = (uint8_t)(i >> 8);
		c.addr[3] = (uint8_t)i;
		assert_int_equal(cidr_list_add(&l, &c), 0);
	}
	assert_int_equal(l.n, 5000);
	for (unsigned i = 0; i < 5000; i++) {
		assert_int_equal(l.v[i].addr[2], (uint8_t)(i >> 8));
		assert_int_equal(l.v[i].addr[3], (uint8_t)i);
	}
	free(l.v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_config_free_twice),
		cmocka_unit_test(test_port_parse_ok),
		cmocka_unit_test(test_port_parse_hostile),
		cmocka_unit_test(test_port_parse_long),
		cmocka_unit_test(test_cidr_parse_ok),
		cmocka_unit_test(test_cidr_parse_hostile),
		cmocka_unit_test(test_cidr_parse_long),
		cmocka_unit_test(test_cidr_format),
		cmocka_unit_test(test_port_list_add_many),
		cmocka_unit_test(test_cidr_list_add_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
