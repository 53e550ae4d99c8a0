/* SPDX-License-Identifier: Apache-2.0 */
/* Redirect parameters (the redirect: section, and istio-iptables.sh flags). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <net/if.h>

enum intercept_mode { INTERCEPT_REDIRECT, INTERCEPT_TPROXY };

/* A list that may also be "*" (all).  all=false and n=0 means empty. */
struct port_list {
	bool all;
	uint16_t *v;
	unsigned n;
};

struct cidr {
	int family;        /* AF_INET or AF_INET6 */
	uint8_t addr[16];  /* network order, host bits zeroed */
	uint8_t prefix;
};

struct cidr_list {
	bool all;
	struct cidr *v;
	unsigned n;
};

#define REDIRECT_MAX_IDS 16
#define REDIRECT_MAX_IFACES 16

struct redirect_config {
	bool enabled;                    /* default: true when the sidecar role is set */
	uint16_t proxy_port;             /* -p, 15001 */
	uint16_t inbound_capture_port;   /* -z, 15006 */
	uint32_t proxy_uids[REDIRECT_MAX_IDS]; /* -u, default: the proxy user's uid */
	unsigned n_proxy_uids;
	uint32_t proxy_gids[REDIRECT_MAX_IDS]; /* -g, default: the proxy user's gid */
	unsigned n_proxy_gids;
	enum intercept_mode mode;        /* -m, REDIRECT */
	uint32_t tproxy_mark;            /* 1337 */
	uint32_t tproxy_route_table;     /* 133 */
	struct port_list inbound_ports;          /* -b, default "*" */
	struct port_list exclude_inbound_ports;  /* -d; 22 always excluded under "*" */
	struct cidr_list outbound_cidrs;         /* -i, default "*" */
	struct cidr_list exclude_outbound_cidrs; /* -x */
	struct port_list exclude_outbound_ports; /* -o */
	char virtual_interfaces[REDIRECT_MAX_IFACES][IFNAMSIZ]; /* -k */
	unsigned n_virtual_interfaces;
	bool loopback_redirect;          /* app -> own VIP via lo goes through the proxy, true */
	bool ipv6;                       /* also program ip6tables, true */
};

void redirect_config_init(struct redirect_config *r);
void redirect_config_free(struct redirect_config *r);

/* Parsing helpers shared by the YAML parser and the -b/-d/-i/-x/-o flags.
 * Return 0 or -EINVAL; never log. */
int port_parse(const char *s, uint16_t *out);          /* 1..65535 */
int cidr_parse(const char *s, struct cidr *out);       /* a.b.c.d[/n], x::y[/n]; host bits must be zero */
int port_list_add(struct port_list *l, uint16_t p);    /* -ENOMEM */
int cidr_list_add(struct cidr_list *l, const struct cidr *c);
/* Format a CIDR as iptables-save prints it (a.b.c.d/n). buf >= 64. */
void cidr_format(const struct cidr *c, char *buf, size_t len);
