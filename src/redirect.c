/* SPDX-License-Identifier: Apache-2.0 */
/* Redirect parameters: defaults and the strict parsers shared by the YAML
 * layer and the istio-iptables.sh style flags. */
#include "redirect.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Longest text we ever accept for a CIDR: a full IPv6 address
 * (INET6_ADDRSTRLEN - 1 = 45 characters) plus "/128". */
#define CIDR_TEXT_MAX 64

void redirect_config_init(struct redirect_config *r)
{
	memset(r, 0, sizeof(*r));
	r->enabled = false;
	r->proxy_port = 15001;
	r->inbound_capture_port = 15006;
	r->n_proxy_uids = 0;
	r->n_proxy_gids = 0;
	r->mode = INTERCEPT_REDIRECT;
	r->tproxy_mark = 1337;
	r->tproxy_route_table = 133;
	r->inbound_ports.all = true;
	r->outbound_cidrs.all = true;
	r->loopback_redirect = true;
	r->ipv6 = true;
}

static void port_list_clear(struct port_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
	l->all = false;
}

static void cidr_list_clear(struct cidr_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
	l->all = false;
}

void redirect_config_free(struct redirect_config *r)
{
	if (!r)
		return;
	port_list_clear(&r->inbound_ports);
	port_list_clear(&r->exclude_inbound_ports);
	cidr_list_clear(&r->outbound_cidrs);
	cidr_list_clear(&r->exclude_outbound_cidrs);
	port_list_clear(&r->exclude_outbound_ports);
}

/* Parse a decimal number made only of digits, without sign, blanks or
 * leading zeros ("0" itself is fine), with at most max_digits digits. */
static int decimal_parse(const char *s, size_t len, unsigned max_digits, unsigned long *out)
{
	unsigned long v = 0;

	if (len == 0 || len > max_digits)
		return -EINVAL;
	if (len > 1 && s[0] == '0')
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	*out = v;
	return 0;
}

int port_parse(const char *s, uint16_t *out)
{
	unsigned long v;

	if (!s || !out)
		return -EINVAL;
	if (decimal_parse(s, strlen(s), 5, &v) < 0 || v < 1 || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

/* Dotted quad with exactly four decimal octets 0..255, no leading zeros
 * (010.1.1.1 is octal to inet_aton and would be ambiguous). */
static int ipv4_parse(const char *s, size_t len, uint8_t out[4])
{
	size_t i = 0;

	for (int octet = 0; octet < 4; octet++) {
		size_t start = i;
		unsigned long v;

		while (i < len && s[i] != '.')
			i++;
		if (decimal_parse(s + start, i - start, 3, &v) < 0 || v > 255)
			return -EINVAL;
		out[octet] = (uint8_t)v;
		if (octet < 3) {
			if (i >= len) /* missing '.' */
				return -EINVAL;
			i++;
		}
	}
	return i == len ? 0 : -EINVAL;
}

/* IPv6 in hex-group notation only.  Embedded dotted quads (::ffff:1.2.3.4,
 * ::1.2.3.4) are refused: they name IPv4 traffic, which belongs in the IPv4
 * rule set and must be written as a.b.c.d. */
static int ipv6_parse(const char *s, size_t len, uint8_t out[16])
{
	char buf[INET6_ADDRSTRLEN];

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		      (c >= 'A' && c <= 'F') || c == ':'))
			return -EINVAL;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET6, buf, out) != 1)
		return -EINVAL;
	return 0;
}

static bool cidr_host_bits_zero(const uint8_t *addr, unsigned addr_len, unsigned prefix)
{
	for (unsigned i = 0; i < addr_len; i++) {
		unsigned bit0 = i * 8;
		uint8_t host_mask;

		if (prefix >= bit0 + 8)
			continue;
		host_mask = prefix <= bit0 ? 0xff : (uint8_t)(0xff >> (prefix - bit0));
		if (addr[i] & host_mask)
			return false;
	}
	return true;
}

int cidr_parse(const char *s, struct cidr *out)
{
	struct cidr c;
	const char *slash;
	size_t len, addr_len;
	unsigned max_prefix;
	unsigned long prefix;

	if (!s || !out)
		return -EINVAL;
	len = strnlen(s, CIDR_TEXT_MAX + 1);
	if (len == 0 || len > CIDR_TEXT_MAX)
		return -EINVAL;

	memset(&c, 0, sizeof(c));
	slash = memchr(s, '/', len);
	addr_len = slash ? (size_t)(slash - s) : len;

	if (memchr(s, ':', addr_len)) {
		c.family = AF_INET6;
		max_prefix = 128;
		if (ipv6_parse(s, addr_len, c.addr) < 0)
			return -EINVAL;
	} else {
		c.family = AF_INET;
		max_prefix = 32;
		if (ipv4_parse(s, addr_len, c.addr) < 0)
			return -EINVAL;
	}

	if (slash) {
		size_t plen = len - addr_len - 1;
		if (decimal_parse(slash + 1, plen, 3, &prefix) < 0 || prefix > max_prefix)
			return -EINVAL;
	} else {
		prefix = max_prefix;
	}
	if (!cidr_host_bits_zero(c.addr, max_prefix / 8, (unsigned)prefix))
		return -EINVAL;
	c.prefix = (uint8_t)prefix;
	*out = c;
	return 0;
}

/* Lists only ever grow through these helpers, so the capacity is implicit:
 * the next power of two >= n (at least 4).  Reallocate when n reaches it. */
static int list_grow(void **v, unsigned n, size_t elem)
{
	size_t cap;
	void *nv;

	if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
		return 0; /* room left */
	if (n > UINT_MAX / 2)
		return -ENOMEM;
	cap = n == 0 ? 4 : (size_t)n * 2;
	if (cap > SIZE_MAX / elem)
		return -ENOMEM;
	nv = realloc(*v, cap * elem);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	return 0;
}

int port_list_add(struct port_list *l, uint16_t p)
{
	void *v = l->v;
	int r = list_grow(&v, l->n, sizeof(*l->v));

	if (r < 0)
		return r;
	l->v = v;
	l->v[l->n++] = p;
	return 0;
}

int cidr_list_add(struct cidr_list *l, const struct cidr *c)
{
	void *v = l->v;
	int r = list_grow(&v, l->n, sizeof(*l->v));

	if (r < 0)
		return r;
	l->v = v;
	l->v[l->n++] = *c;
	return 0;
}

void cidr_format(const struct cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (!buf || len == 0)
		return;
	if (!c || (c->family != AF_INET && c->family != AF_INET6) ||
	    !inet_ntop(c->family, c->addr, a, sizeof(a))) {
		buf[0] = '\0';
		return;
	}
	snprintf(buf, len, "%s/%u", a, (unsigned)c->prefix);
}
