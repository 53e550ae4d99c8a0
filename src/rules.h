/* SPDX-License-Identifier: Apache-2.0 */
/* The sidecar traffic-capture rule set, as plain data.
 *
 * ruleset_build() turns a redirect_config into the rules istio-iptables.sh
 * (Istio 1.3/1.4 VM script) would install for one address family; backends
 * (iptables-restore text, libiptc, nftables) only translate this data.  See
 * docs/istio-iptables-compat.md for the few deliberate differences. */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redirect.h"
#include "util.h"

/* Tables in the order iptables-save prints them. */
enum rule_table { RULE_TABLE_MANGLE, RULE_TABLE_NAT, RULE_TABLE_MAX };

const char *rule_table_name(enum rule_table t); /* "mangle", "nat" */

/* Chains we create (the names the script uses). */
#define RULE_CHAIN_REDIRECT    "ISTIO_REDIRECT"    /* nat: outbound -> proxy_port */
#define RULE_CHAIN_IN_REDIRECT "ISTIO_IN_REDIRECT" /* nat: inbound -> capture port */
#define RULE_CHAIN_INBOUND     "ISTIO_INBOUND"     /* nat (REDIRECT) or mangle (TPROXY) */
#define RULE_CHAIN_OUTPUT      "ISTIO_OUTPUT"      /* nat */
#define RULE_CHAIN_DIVERT      "ISTIO_DIVERT"      /* mangle, TPROXY only */
#define RULE_CHAIN_TPROXY      "ISTIO_TPROXY"      /* mangle, TPROXY only */

/* True for PREROUTING, INPUT, FORWARD, OUTPUT, POSTROUTING. */
bool rule_chain_is_builtin(const char *chain);

enum rule_verdict {
	RULE_JUMP,     /* -j <jump> (a chain of the same table) */
	RULE_RETURN,   /* -j RETURN */
	RULE_ACCEPT,   /* -j ACCEPT */
	RULE_REDIRECT, /* -j REDIRECT --to-ports <to_port> (nat) */
	RULE_TPROXY,   /* -j TPROXY --on-port <to_port> --tproxy-mark <mark>/<mask> (mangle) */
	RULE_MARK,     /* -j MARK --set-xmark <mark>/<mask> (mangle) */
};

struct rule_addr {
	bool set, neg;
	struct cidr net;   /* family == the rule set's family */
};

struct rule_iface {
	bool neg;
	char name[IFNAMSIZ]; /* "" = no match */
};

struct rule_num {
	bool set, neg;
	uint32_t v;
};

/* One rule, appended to <table>/<chain>.  Matches are ANDed; all unset
 * means "every packet".  The field order is the order iptables-save
 * prints them in. */
struct rule {
	enum rule_table table;
	const char *chain;         /* static string: built-in or RULE_CHAIN_* */
	/* For built-in chains: the script inserts this rule at the head
	 * (-I ... 1) rather than appending.  Rules with head set come first
	 * in their chain in array order; a backend adding to a non-empty
	 * built-in chain must keep them ahead of pre-existing rules. */
	bool head;

	struct rule_addr src, dst;         /* -s, -d */
	struct rule_iface in, out;         /* -i, -o */
	uint8_t proto;                     /* 0 = any, IPPROTO_TCP, IPPROTO_UDP */
	bool proto_neg;
	struct rule_num dport;             /* -m tcp|udp --dport; needs proto */
	bool not_syn;                      /* -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN
	                                    * (! --syn); needs proto tcp */
	bool socket;                       /* -m socket: a local socket owns the packet */
	struct rule_num uid, gid;          /* -m owner --uid-owner/--gid-owner */

	enum rule_verdict verdict;
	const char *jump;                  /* RULE_JUMP: static chain name */
	uint16_t to_port;                  /* RULE_REDIRECT, RULE_TPROXY */
	uint32_t mark, mask;               /* RULE_TPROXY, RULE_MARK */
};

struct rule_chain {
	enum rule_table table;
	const char *name;                  /* static string */
};

/* Policy routing the TPROXY mode needs (and ::6 for IPv6 passthrough);
 * programmed over rtnetlink by a later step. */
enum route_op_kind {
	ROUTE_OP_RULE,   /* ip rule add fwmark <fwmark> lookup <table> */
	ROUTE_OP_ROUTE,  /* ip route add local <prefix> dev <dev> table <table> */
	ROUTE_OP_ADDR,   /* ip addr add <prefix> dev <dev> */
};

struct route_op {
	enum route_op_kind kind;
	int family;                        /* AF_INET or AF_INET6 */
	uint32_t fwmark;                   /* RULE */
	uint32_t table;                    /* RULE, ROUTE */
	struct cidr prefix;                /* ROUTE, ADDR */
	char dev[IFNAMSIZ];                /* ROUTE, ADDR */
};

#define RULESET_MAX_CHAINS 8
#define RULESET_MAX_ROUTES 4

struct ruleset {
	int family;                        /* AF_INET or AF_INET6 */
	struct rule_chain chains[RULESET_MAX_CHAINS]; /* to create, in creation order */
	unsigned n_chains;
	struct rule *rules;                /* per chain: in final order */
	size_t n_rules, cap_rules;
	struct route_op routes[RULESET_MAX_ROUTES];
	unsigned n_routes;
};

void ruleset_init(struct ruleset *rs, int family);
void ruleset_free(struct ruleset *rs);

/* Build the rules for one family (AF_INET or AF_INET6) into *out (which
 * need not be initialised; on failure it is left empty).  A disabled
 * config, or AF_INET6 with rc->ipv6 false, gives an empty rule set.
 * Returns 0, -EAFNOSUPPORT for another family, -EINVAL for an unusable
 * config (no proxy uid, port 0, bad interface name, "*" in an exclusion
 * list, TPROXY with mark or table 0), -ENOMEM.  O(size of the lists). */
int ruleset_build(const struct redirect_config *rc, int family, struct ruleset *out);

/* Append one rule (copied); -ENOMEM.  Amortised O(1). */
int ruleset_add_rule(struct ruleset *rs, const struct rule *r);

/* The rule set in iptables-legacy-save format, exactly as
 * iptables-legacy-save (ip6tables-legacy-save) prints these rules in
 * otherwise empty tables, without the "# Generated/Completed" comments:
 * per used table (mangle, then nat) "*table", built-in chain policies
 * (ACCEPT [0:0]), user chains sorted by name, "-A" lines grouped by
 * chain in the same order, "COMMIT".  Nothing for an empty rule set.
 * Returns 0, -EINVAL (unrenderable rule), -ENOMEM. */
int ruleset_render_save(const struct ruleset *rs, struct strbuf *out);

/* The route ops as comment lines, one per op, in order, e.g.
 * "# ip -4 rule add fwmark 1337 lookup 133",
 * "# ip -4 route add local 0.0.0.0/0 dev lo table 133",
 * "# ip -6 addr add ::6/128 dev lo".  Nothing when there are none.
 * Returns 0, -EINVAL (unknown op, bad device name), -ENOMEM. */
int ruleset_render_iproute(const struct ruleset *rs, struct strbuf *out);
