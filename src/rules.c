/* SPDX-License-Identifier: Apache-2.0 */
/* Build the sidecar capture rule set as data, and render it as
 * iptables-save text.  The rule order follows istio-iptables.sh (Istio
 * 1.3/1.4 VM script); docs/istio-iptables-compat.md lists the differences. */
#include "rules.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define TPROXY_MASK 0xffffffffu

static const char *const builtin_chains[RULE_TABLE_MAX][6] = {
	[RULE_TABLE_MANGLE] = { "PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING", NULL },
	[RULE_TABLE_NAT] = { "PREROUTING", "INPUT", "OUTPUT", "POSTROUTING", NULL },
};

const char *rule_table_name(enum rule_table t)
{
	switch (t) {
	case RULE_TABLE_MANGLE:
		return "mangle";
	case RULE_TABLE_NAT:
		return "nat";
	default:
		return NULL;
	}
}

bool rule_chain_is_builtin(const char *chain)
{
	static const char *const all[] = { "PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING" };

	if (!chain)
		return false;
	for (size_t i = 0; i < ELEMENTSOF(all); i++)
		if (strcmp(chain, all[i]) == 0)
			return true;
	return false;
}

static bool table_has_builtin(enum rule_table t, const char *chain)
{
	for (size_t i = 0; builtin_chains[t][i]; i++)
		if (strcmp(builtin_chains[t][i], chain) == 0)
			return true;
	return false;
}

/* Chain names end up in iptables-restore input: keep them to a safe
 * alphabet so that no name can inject text. */
static bool chain_name_valid(const char *s)
{
	size_t n;

	if (!s || !s[0])
		return false;
	n = strlen(s);
	if (n > 28) /* XT_EXTENSION_MAXNAMELEN - 1 */
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
		if (i == 0 && c == '-')
			return false;
	}
	return true;
}

/* Kernel rules (dev_valid_name) plus a conservative alphabet: letters,
 * digits, '_', '-', '.', '@', and a trailing '+' (iptables wildcard). */
static bool iface_name_valid(const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	if (n == 0 || n >= IFNAMSIZ || n == max)
		return false;
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '@' ||
			  (c == '-' && i > 0) || (c == '+' && i > 0 && i == n - 1);
		if (!ok)
			return false;
	}
	return true;
}

void ruleset_init(struct ruleset *rs, int family)
{
	memset(rs, 0, sizeof(*rs));
	rs->family = family;
}

void ruleset_free(struct ruleset *rs)
{
	if (!rs)
		return;
	free(rs->rules);
	ruleset_init(rs, rs->family);
}

int ruleset_add_rule(struct ruleset *rs, const struct rule *r)
{
	if (rs->n_rules == rs->cap_rules) {
		size_t cap = rs->cap_rules ? rs->cap_rules * 2 : 32;
		struct rule *nv;

		if (cap < rs->cap_rules || cap > SIZE_MAX / sizeof(*nv))
			return -ENOMEM;
		nv = realloc(rs->rules, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		rs->rules = nv;
		rs->cap_rules = cap;
	}
	rs->rules[rs->n_rules++] = *r;
	return 0;
}

static int ruleset_add_chain(struct ruleset *rs, enum rule_table t, const char *name)
{
	if (rs->n_chains >= RULESET_MAX_CHAINS)
		return -ENOSPC;
	rs->chains[rs->n_chains++] = (struct rule_chain){ .table = t, .name = name };
	return 0;
}

static int ruleset_add_route(struct ruleset *rs, const struct route_op *op)
{
	if (rs->n_routes >= RULESET_MAX_ROUTES)
		return -ENOSPC;
	rs->routes[rs->n_routes++] = *op;
	return 0;
}

/* --- building ---------------------------------------------------------- */

/* Everything ruleset_build needs, worked out once. */
struct build_ctx {
	const struct redirect_config *rc;
	struct ruleset *rs;
	int family;
	struct cidr loopback;     /* 127.0.0.1/32, ::1/128 */
	struct cidr passthrough;  /* 127.0.0.6/32, ::6/128: inbound passthrough source */
	struct cidr any;          /* 0.0.0.0/0, ::/0 */
	bool tproxy;              /* inbound capture via TPROXY (mangle) */
	bool inbound;             /* some inbound port captured */
	enum rule_table in_table; /* where ISTIO_INBOUND lives */
	unsigned n_out_cidrs;     /* outbound_cidrs entries of this family */
};

static struct cidr cidr_host(int family, const char *text)
{
	struct cidr c = { .family = family, .prefix = family == AF_INET ? 32 : 128 };

	(void)!inet_pton(family, text, c.addr);
	return c;
}

static struct rule rule_new(enum rule_table t, const char *chain, enum rule_verdict v)
{
	return (struct rule){ .table = t, .chain = chain, .verdict = v };
}

static struct rule rule_jump(enum rule_table t, const char *chain, const char *to)
{
	struct rule r = rule_new(t, chain, RULE_JUMP);

	r.jump = to;
	return r;
}

static void rule_set_dport(struct rule *r, uint16_t port)
{
	r->proto = IPPROTO_TCP;
	r->dport = (struct rule_num){ .set = true, .v = port };
}

static void rule_set_dst(struct rule *r, const struct cidr *c, bool neg)
{
	r->dst = (struct rule_addr){ .set = true, .neg = neg, .net = *c };
}

static void rule_set_iface(struct rule_iface *i, const char *name)
{
	memset(i, 0, sizeof(*i));
	memcpy(i->name, name, strnlen(name, IFNAMSIZ - 1));
}

static int port_list_check(const struct port_list *l, bool allow_all)
{
	if (l->all && !allow_all)
		return -EINVAL;
	if (l->n && !l->v)
		return -EINVAL;
	for (unsigned i = 0; i < l->n; i++)
		if (l->v[i] == 0)
			return -EINVAL;
	return 0;
}

static int cidr_list_check(const struct cidr_list *l, bool allow_all)
{
	if (l->all && !allow_all)
		return -EINVAL;
	if (l->n && !l->v)
		return -EINVAL;
	for (unsigned i = 0; i < l->n; i++) {
		const struct cidr *c = &l->v[i];
		if (c->family == AF_INET ? c->prefix > 32 :
		    c->family == AF_INET6 ? c->prefix > 128 : true)
			return -EINVAL;
	}
	return 0;
}

static int config_check(const struct redirect_config *rc)
{
	int r;

	if (rc->proxy_port == 0 || rc->inbound_capture_port == 0)
		return -EINVAL;
	if (rc->mode != INTERCEPT_REDIRECT && rc->mode != INTERCEPT_TPROXY)
		return -EINVAL;
	/* Without the proxy's own uid every proxy connection loops back. */
	if (rc->n_proxy_uids == 0 || rc->n_proxy_uids > REDIRECT_MAX_IDS ||
	    rc->n_proxy_gids > REDIRECT_MAX_IDS)
		return -EINVAL;
	if (rc->n_virtual_interfaces > REDIRECT_MAX_IFACES)
		return -EINVAL;
	for (unsigned i = 0; i < rc->n_virtual_interfaces; i++)
		if (!iface_name_valid(rc->virtual_interfaces[i], IFNAMSIZ))
			return -EINVAL;
	if ((r = port_list_check(&rc->inbound_ports, true)) < 0 ||
	    (r = port_list_check(&rc->exclude_inbound_ports, false)) < 0 ||
	    (r = port_list_check(&rc->exclude_outbound_ports, false)) < 0 ||
	    (r = cidr_list_check(&rc->outbound_cidrs, true)) < 0 ||
	    (r = cidr_list_check(&rc->exclude_outbound_cidrs, false)) < 0)
		return r;
	if (rc->mode == INTERCEPT_TPROXY && (rc->inbound_ports.all || rc->inbound_ports.n)) {
		/* fwmark 0 matches nothing; 253..255 are the default/main/local tables. */
		if (rc->tproxy_mark == 0 || rc->tproxy_route_table == 0 ||
		    rc->tproxy_route_table >= 253)
			return -EINVAL;
	}
	return 0;
}

#define ADD(ctx, rule_expr)                                              \
	do {                                                             \
		struct rule _r = (rule_expr);                            \
		int _e = ruleset_add_rule((ctx)->rs, &_r);               \
		if (_e < 0)                                              \
			return _e;                                       \
	} while (0)

/* ISTIO_REDIRECT / ISTIO_IN_REDIRECT: the REDIRECT targets. */
static int build_redirect_chains(struct build_ctx *x)
{
	const struct redirect_config *rc = x->rc;
	struct rule r;

	r = rule_new(RULE_TABLE_NAT, RULE_CHAIN_REDIRECT, RULE_REDIRECT);
	r.proto = IPPROTO_TCP;
	r.to_port = rc->proxy_port;
	ADD(x, r);

	/* The script sends to the capture port (-z) only when every inbound
	 * port is captured; with a port list it keeps the proxy port. */
	r = rule_new(RULE_TABLE_NAT, RULE_CHAIN_IN_REDIRECT, RULE_REDIRECT);
	r.proto = IPPROTO_TCP;
	r.to_port = rc->inbound_ports.all ? rc->inbound_capture_port : rc->proxy_port;
	ADD(x, r);
	return 0;
}

/* ISTIO_DIVERT, ISTIO_TPROXY and the policy route for marked packets. */
static int build_tproxy_chains(struct build_ctx *x)
{
	const struct redirect_config *rc = x->rc;
	struct route_op op;
	struct rule r;
	int e;

	r = rule_new(RULE_TABLE_MANGLE, RULE_CHAIN_DIVERT, RULE_MARK);
	r.mark = rc->tproxy_mark;
	r.mask = TPROXY_MASK;
	ADD(x, r);
	ADD(x, rule_new(RULE_TABLE_MANGLE, RULE_CHAIN_DIVERT, RULE_ACCEPT));

	op = (struct route_op){ .kind = ROUTE_OP_RULE, .family = x->family,
				.fwmark = rc->tproxy_mark, .table = rc->tproxy_route_table };
	if ((e = ruleset_add_route(x->rs, &op)) < 0)
		return e;
	op = (struct route_op){ .kind = ROUTE_OP_ROUTE, .family = x->family,
				.table = rc->tproxy_route_table, .prefix = x->any, .dev = "lo" };
	if ((e = ruleset_add_route(x->rs, &op)) < 0)
		return e;

	r = rule_new(RULE_TABLE_MANGLE, RULE_CHAIN_TPROXY, RULE_TPROXY);
	rule_set_dst(&r, &x->loopback, true);
	r.proto = IPPROTO_TCP;
	r.to_port = rc->proxy_port; /* the script's choice: -z is REDIRECT-only */
	r.mark = rc->tproxy_mark;
	r.mask = TPROXY_MASK;
	ADD(x, r);
	return 0;
}

/* nat PREROUTING rules for virtual interfaces (-k).  The script inserts
 * each at position 1, so the final order is the reverse of its loops:
 * redirects (last CIDR and last interface first), then the RETURNs. */
static int build_virtual_ifaces(struct build_ctx *x)
{
	const struct redirect_config *rc = x->rc;
	unsigned n_if = rc->n_virtual_interfaces;

	if (n_if == 0)
		return 0;
	if (rc->outbound_cidrs.all) {
		for (unsigned i = n_if; i-- > 0;) {
			struct rule r = rule_jump(RULE_TABLE_NAT, "PREROUTING", RULE_CHAIN_REDIRECT);
			r.head = true;
			rule_set_iface(&r.in, rc->virtual_interfaces[i]);
			ADD(x, r);
		}
	} else {
		for (unsigned c = rc->outbound_cidrs.n; c-- > 0;) {
			const struct cidr *net = &rc->outbound_cidrs.v[c];
			if (net->family != x->family)
				continue;
			for (unsigned i = n_if; i-- > 0;) {
				struct rule r = rule_jump(RULE_TABLE_NAT, "PREROUTING", RULE_CHAIN_REDIRECT);
				r.head = true;
				rule_set_dst(&r, net, false);
				rule_set_iface(&r.in, rc->virtual_interfaces[i]);
				ADD(x, r);
			}
		}
	}
	for (unsigned i = n_if; i-- > 0;) {
		struct rule r = rule_new(RULE_TABLE_NAT, "PREROUTING", RULE_RETURN);
		r.head = true;
		rule_set_iface(&r.in, rc->virtual_interfaces[i]);
		ADD(x, r);
	}
	return 0;
}

static int build_inbound(struct build_ctx *x)
{
	const struct redirect_config *rc = x->rc;
	const struct port_list *in = &rc->inbound_ports;
	enum rule_table t = x->in_table;
	struct rule r;

	r = rule_jump(t, "PREROUTING", RULE_CHAIN_INBOUND);
	r.proto = IPPROTO_TCP;
	ADD(x, r);

	/* Not in the script (D9): a connection that was open before the rules
	 * went in is picked up by conntrack mid-stream as new, and nat would
	 * redirect it and break it.  Only a SYN starts a connection to capture. */
	if (!x->tproxy) {
		r = rule_new(t, RULE_CHAIN_INBOUND, RULE_RETURN);
		r.proto = IPPROTO_TCP;
		r.not_syn = true;
		ADD(x, r);
	}

	if (in->all) {
		/* Never capture ssh, then the user's exclusions, then the rest. */
		r = rule_new(t, RULE_CHAIN_INBOUND, RULE_RETURN);
		rule_set_dport(&r, 22);
		ADD(x, r);
		for (unsigned i = 0; i < rc->exclude_inbound_ports.n; i++) {
			r = rule_new(t, RULE_CHAIN_INBOUND, RULE_RETURN);
			rule_set_dport(&r, rc->exclude_inbound_ports.v[i]);
			ADD(x, r);
		}
		if (x->tproxy) {
			r = rule_jump(t, RULE_CHAIN_INBOUND, RULE_CHAIN_DIVERT);
			r.proto = IPPROTO_TCP;
			r.socket = true;
			ADD(x, r);
			r = rule_jump(t, RULE_CHAIN_INBOUND, RULE_CHAIN_TPROXY);
			r.proto = IPPROTO_TCP;
			ADD(x, r);
		} else {
			r = rule_jump(t, RULE_CHAIN_INBOUND, RULE_CHAIN_IN_REDIRECT);
			r.proto = IPPROTO_TCP;
			ADD(x, r);
		}
		return 0;
	}

	for (unsigned i = 0; i < in->n; i++) {
		if (x->tproxy) {
			/* The script appends this socket rule twice; once is enough. */
			r = rule_jump(t, RULE_CHAIN_INBOUND, RULE_CHAIN_DIVERT);
			rule_set_dport(&r, in->v[i]);
			r.socket = true;
			ADD(x, r);
			r = rule_jump(t, RULE_CHAIN_INBOUND, RULE_CHAIN_TPROXY);
		} else {
			r = rule_jump(t, RULE_CHAIN_INBOUND, RULE_CHAIN_IN_REDIRECT);
		}
		rule_set_dport(&r, in->v[i]);
		ADD(x, r);
	}
	return 0;
}

static int build_outbound(struct build_ctx *x)
{
	const struct redirect_config *rc = x->rc;
	const struct cidr_list *inc = &rc->outbound_cidrs;
	const struct cidr_list *exc = &rc->exclude_outbound_cidrs;
	struct rule r;

	r = rule_jump(RULE_TABLE_NAT, "OUTPUT", RULE_CHAIN_OUTPUT);
	r.proto = IPPROTO_TCP;
	ADD(x, r);

	/* D9, as in build_inbound: established connections stay as they are. */
	r = rule_new(RULE_TABLE_NAT, RULE_CHAIN_OUTPUT, RULE_RETURN);
	r.proto = IPPROTO_TCP;
	r.not_syn = true;
	ADD(x, r);

	/* Port exclusions come before anything may redirect to self. */
	for (unsigned i = 0; i < rc->exclude_outbound_ports.n; i++) {
		r = rule_new(RULE_TABLE_NAT, RULE_CHAIN_OUTPUT, RULE_RETURN);
		rule_set_dport(&r, rc->exclude_outbound_ports.v[i]);
		ADD(x, r);
	}

	/* The proxy's inbound passthrough connects from 127.0.0.6 / ::6. */
	r = rule_new(RULE_TABLE_NAT, RULE_CHAIN_OUTPUT, RULE_RETURN);
	r.src = (struct rule_addr){ .set = true, .net = x->passthrough };
	rule_set_iface(&r.out, "lo");
	ADD(x, r);

	/* App calling its own service address via lo goes through the proxy. */
	if (rc->loopback_redirect) {
		r = rule_jump(RULE_TABLE_NAT, RULE_CHAIN_OUTPUT, RULE_CHAIN_IN_REDIRECT);
		rule_set_dst(&r, &x->loopback, true);
		rule_set_iface(&r.out, "lo");
		ADD(x, r);
	}

	/* The proxy's own traffic is never captured. */
	for (unsigned i = 0; i < rc->n_proxy_uids; i++) {
		r = rule_new(RULE_TABLE_NAT, RULE_CHAIN_OUTPUT, RULE_RETURN);
		r.uid = (struct rule_num){ .set = true, .v = rc->proxy_uids[i] };
		ADD(x, r);
	}
	for (unsigned i = 0; i < rc->n_proxy_gids; i++) {
		r = rule_new(RULE_TABLE_NAT, RULE_CHAIN_OUTPUT, RULE_RETURN);
		r.gid = (struct rule_num){ .set = true, .v = rc->proxy_gids[i] };
		ADD(x, r);
	}

	r = rule_new(RULE_TABLE_NAT, RULE_CHAIN_OUTPUT, RULE_RETURN);
	rule_set_dst(&r, &x->loopback, false);
	ADD(x, r);

	for (unsigned i = 0; i < exc->n; i++) {
		if (exc->v[i].family != x->family)
			continue;
		r = rule_new(RULE_TABLE_NAT, RULE_CHAIN_OUTPUT, RULE_RETURN);
		rule_set_dst(&r, &exc->v[i], false);
		ADD(x, r);
	}

	if (inc->all) {
		ADD(x, rule_jump(RULE_TABLE_NAT, RULE_CHAIN_OUTPUT, RULE_CHAIN_REDIRECT));
	} else if (x->n_out_cidrs > 0) {
		for (unsigned i = 0; i < inc->n; i++) {
			if (inc->v[i].family != x->family)
				continue;
			r = rule_jump(RULE_TABLE_NAT, RULE_CHAIN_OUTPUT, RULE_CHAIN_REDIRECT);
			rule_set_dst(&r, &inc->v[i], false);
			ADD(x, r);
		}
		ADD(x, rule_new(RULE_TABLE_NAT, RULE_CHAIN_OUTPUT, RULE_RETURN));
	}
	return 0;
}

static int ruleset_build_into(struct build_ctx *x)
{
	const struct redirect_config *rc = x->rc;
	struct ruleset *rs = x->rs;
	size_t want;
	int e;

	/* One allocation for the common case; growth stays amortised O(1). */
	want = 24 + (size_t)rc->exclude_inbound_ports.n + 3 * (size_t)rc->inbound_ports.n +
	       rc->exclude_outbound_ports.n + rc->exclude_outbound_cidrs.n +
	       (size_t)rc->outbound_cidrs.n * (1 + rc->n_virtual_interfaces) +
	       rc->n_proxy_uids + rc->n_proxy_gids + 2 * (size_t)rc->n_virtual_interfaces;
	rs->rules = calloc(want, sizeof(*rs->rules));
	if (!rs->rules)
		return -ENOMEM;
	rs->cap_rules = want;

	if (x->family == AF_INET6) {
		/* ::6 is not on lo by default (127.0.0.6 is, in 127/8). */
		struct route_op op = { .kind = ROUTE_OP_ADDR, .family = AF_INET6,
				       .prefix = x->passthrough, .dev = "lo" };
		if ((e = ruleset_add_route(rs, &op)) < 0)
			return e;
	}

	if ((e = ruleset_add_chain(rs, RULE_TABLE_NAT, RULE_CHAIN_REDIRECT)) < 0 ||
	    (e = ruleset_add_chain(rs, RULE_TABLE_NAT, RULE_CHAIN_IN_REDIRECT)) < 0)
		return e;
	if ((e = build_redirect_chains(x)) < 0)
		return e;

	if (x->inbound && x->tproxy) {
		if ((e = ruleset_add_chain(rs, RULE_TABLE_MANGLE, RULE_CHAIN_DIVERT)) < 0 ||
		    (e = ruleset_add_chain(rs, RULE_TABLE_MANGLE, RULE_CHAIN_TPROXY)) < 0)
			return e;
		if ((e = build_tproxy_chains(x)) < 0)
			return e;
	}

	/* Head-of-PREROUTING rules precede the appended ISTIO_INBOUND jump. */
	if ((e = build_virtual_ifaces(x)) < 0)
		return e;

	if (x->inbound) {
		if ((e = ruleset_add_chain(rs, x->in_table, RULE_CHAIN_INBOUND)) < 0)
			return e;
		if ((e = build_inbound(x)) < 0)
			return e;
	}

	if ((e = ruleset_add_chain(rs, RULE_TABLE_NAT, RULE_CHAIN_OUTPUT)) < 0)
		return e;
	return build_outbound(x);
}

int ruleset_build(const struct redirect_config *rc, int family, struct ruleset *out)
{
	struct build_ctx x = { .rc = rc, .rs = out, .family = family };
	int e;

	if (!out)
		return -EINVAL;
	ruleset_init(out, family);
	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	if (!rc)
		return -EINVAL;
	if ((e = config_check(rc)) < 0)
		return e;
	if (!rc->enabled || (family == AF_INET6 && !rc->ipv6))
		return 0;

	x.loopback = cidr_host(family, family == AF_INET ? "127.0.0.1" : "::1");
	x.passthrough = cidr_host(family, family == AF_INET ? "127.0.0.6" : "::6");
	x.any = (struct cidr){ .family = family, .prefix = 0 };
	x.tproxy = rc->mode == INTERCEPT_TPROXY;
	x.inbound = rc->inbound_ports.all || rc->inbound_ports.n > 0;
	x.in_table = x.tproxy ? RULE_TABLE_MANGLE : RULE_TABLE_NAT;
	for (unsigned i = 0; i < rc->outbound_cidrs.n; i++)
		if (rc->outbound_cidrs.v[i].family == family)
			x.n_out_cidrs++;

	e = ruleset_build_into(&x);
	if (e < 0)
		ruleset_free(out);
	return e;
}

/* --- rendering --------------------------------------------------------- */

static bool cidr_is_zero_any(const struct cidr *c)
{
	unsigned n = c->family == AF_INET ? 4 : 16;

	if (c->prefix != 0)
		return false;
	for (unsigned i = 0; i < n; i++)
		if (c->addr[i])
			return false;
	return true;
}

static int render_addr(struct strbuf *sb, int family, const struct rule_addr *a, char letter)
{
	char buf[64];

	if (!a->set)
		return 0;
	if (a->net.family != family || a->net.prefix > (family == AF_INET ? 32 : 128))
		return -EINVAL;
	/* iptables-save leaves out a plain "anywhere". */
	if (!a->neg && cidr_is_zero_any(&a->net))
		return 0;
	cidr_format(&a->net, buf, sizeof(buf));
	sb_printf(sb, "%s -%c %s", a->neg ? " !" : "", letter, buf);
	return 0;
}

static int render_iface(struct strbuf *sb, const struct rule_iface *i, char letter)
{
	if (!i->name[0])
		return 0;
	if (!iface_name_valid(i->name, sizeof(i->name)))
		return -EINVAL;
	sb_printf(sb, "%s -%c %s", i->neg ? " !" : "", letter, i->name);
	return 0;
}

static const char *proto_name(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	default:
		return NULL;
	}
}

static int render_rule(struct strbuf *sb, int family, const struct rule *r)
{
	const char *proto = NULL;
	int e;

	sb_printf(sb, "-A %s", r->chain);
	if ((e = render_addr(sb, family, &r->src, 's')) < 0 ||
	    (e = render_addr(sb, family, &r->dst, 'd')) < 0 ||
	    (e = render_iface(sb, &r->in, 'i')) < 0 ||
	    (e = render_iface(sb, &r->out, 'o')) < 0)
		return e;
	if (r->proto) {
		proto = proto_name(r->proto);
		if (!proto)
			return -EINVAL;
		sb_printf(sb, "%s -p %s", r->proto_neg ? " !" : "", proto);
	} else if (r->proto_neg) {
		return -EINVAL;
	}
	if (r->dport.set) {
		/* iptables only loads the port match for a positive protocol. */
		if (!proto || r->proto_neg || r->dport.v == 0 || r->dport.v > 65535)
			return -EINVAL;
		sb_printf(sb, " -m %s%s --dport %u", proto, r->dport.neg ? " !" : "",
			  (unsigned)r->dport.v);
	}
	if (r->not_syn) {
		if (r->proto != IPPROTO_TCP || r->proto_neg)
			return -EINVAL;
		sb_printf(sb, "%s ! --tcp-flags FIN,SYN,RST,ACK SYN", r->dport.set ? "" : " -m tcp");
	}
	if (r->socket)
		sb_puts(sb, " -m socket");
	if (r->uid.set || r->gid.set) {
		sb_puts(sb, " -m owner");
		if (r->uid.set)
			sb_printf(sb, "%s --uid-owner %u", r->uid.neg ? " !" : "", (unsigned)r->uid.v);
		if (r->gid.set)
			sb_printf(sb, "%s --gid-owner %u", r->gid.neg ? " !" : "", (unsigned)r->gid.v);
	}

	switch (r->verdict) {
	case RULE_JUMP:
		if (!chain_name_valid(r->jump))
			return -EINVAL;
		sb_printf(sb, " -j %s", r->jump);
		break;
	case RULE_RETURN:
		sb_puts(sb, " -j RETURN");
		break;
	case RULE_ACCEPT:
		sb_puts(sb, " -j ACCEPT");
		break;
	case RULE_REDIRECT:
		if (r->table != RULE_TABLE_NAT || r->to_port == 0)
			return -EINVAL;
		sb_printf(sb, " -j REDIRECT --to-ports %u", (unsigned)r->to_port);
		break;
	case RULE_TPROXY:
		if (r->table != RULE_TABLE_MANGLE || r->to_port == 0)
			return -EINVAL;
		sb_printf(sb, " -j TPROXY --on-port %u --on-ip %s --tproxy-mark 0x%x/0x%x",
			  (unsigned)r->to_port, family == AF_INET ? "0.0.0.0" : "::",
			  (unsigned)r->mark, (unsigned)r->mask);
		break;
	case RULE_MARK:
		if (r->table != RULE_TABLE_MANGLE)
			return -EINVAL;
		sb_printf(sb, " -j MARK --set-xmark 0x%x/0x%x", (unsigned)r->mark, (unsigned)r->mask);
		break;
	default:
		return -EINVAL;
	}
	sb_putc(sb, '\n');
	return 0;
}

static bool ruleset_has_chain(const struct ruleset *rs, enum rule_table t, const char *name)
{
	for (unsigned i = 0; i < rs->n_chains; i++)
		if (rs->chains[i].table == t && strcmp(rs->chains[i].name, name) == 0)
			return true;
	return false;
}

/* Every rule must sit in a chain iptables-restore will know, and jump to
 * one of our chains in the same table. */
static int ruleset_check(const struct ruleset *rs)
{
	for (unsigned i = 0; i < rs->n_chains; i++) {
		const struct rule_chain *c = &rs->chains[i];
		if ((unsigned)c->table >= RULE_TABLE_MAX || !chain_name_valid(c->name) ||
		    rule_chain_is_builtin(c->name))
			return -EINVAL;
		for (unsigned j = 0; j < i; j++)
			if (rs->chains[j].table == c->table && strcmp(rs->chains[j].name, c->name) == 0)
				return -EINVAL;
	}
	for (size_t i = 0; i < rs->n_rules; i++) {
		const struct rule *r = &rs->rules[i];
		if ((unsigned)r->table >= RULE_TABLE_MAX || !r->chain)
			return -EINVAL;
		if (!table_has_builtin(r->table, r->chain) &&
		    !ruleset_has_chain(rs, r->table, r->chain))
			return -EINVAL;
		if (r->verdict == RULE_JUMP &&
		    (!r->jump || !ruleset_has_chain(rs, r->table, r->jump)))
			return -EINVAL;
	}
	return 0;
}

static int render_chain_rules(struct strbuf *sb, const struct ruleset *rs,
			      enum rule_table t, const char *chain)
{
	for (size_t i = 0; i < rs->n_rules; i++) {
		const struct rule *r = &rs->rules[i];
		int e;

		if (r->table != t || strcmp(r->chain, chain) != 0)
			continue;
		if ((e = render_rule(sb, rs->family, r)) < 0)
			return e;
	}
	return 0;
}

int ruleset_render_save(const struct ruleset *rs, struct strbuf *out)
{
	int e;

	if (rs->family != AF_INET && rs->family != AF_INET6)
		return -EINVAL;
	if ((e = ruleset_check(rs)) < 0)
		return e;

	for (int t = 0; t < RULE_TABLE_MAX; t++) {
		const char *user[RULESET_MAX_CHAINS];
		unsigned n_user = 0;
		bool used = false;

		for (unsigned i = 0; i < rs->n_chains; i++)
			if (rs->chains[i].table == (enum rule_table)t)
				user[n_user++] = rs->chains[i].name;
		for (size_t i = 0; i < rs->n_rules && !used; i++)
			used = rs->rules[i].table == (enum rule_table)t;
		if (!used && n_user == 0)
			continue;

		/* libiptc keeps user chains sorted by name. */
		for (unsigned i = 1; i < n_user; i++) {
			const char *c = user[i];
			unsigned j = i;
			for (; j > 0 && strcmp(user[j - 1], c) > 0; j--)
				user[j] = user[j - 1];
			user[j] = c;
		}

		sb_printf(out, "*%s\n", rule_table_name((enum rule_table)t));
		for (size_t i = 0; builtin_chains[t][i]; i++)
			sb_printf(out, ":%s ACCEPT [0:0]\n", builtin_chains[t][i]);
		for (unsigned i = 0; i < n_user; i++)
			sb_printf(out, ":%s - [0:0]\n", user[i]);
		for (size_t i = 0; builtin_chains[t][i]; i++)
			if ((e = render_chain_rules(out, rs, (enum rule_table)t, builtin_chains[t][i])) < 0)
				return e;
		for (unsigned i = 0; i < n_user; i++)
			if ((e = render_chain_rules(out, rs, (enum rule_table)t, user[i])) < 0)
				return e;
		sb_puts(out, "COMMIT\n");
	}
	return sb_ok(out);
}

int ruleset_render_iproute(const struct ruleset *rs, struct strbuf *out)
{
	for (unsigned i = 0; i < rs->n_routes; i++) {
		const struct route_op *op = &rs->routes[i];
		const char *fam = op->family == AF_INET6 ? "-6" : "-4";
		char pfx[64];

		if (op->kind != ROUTE_OP_RULE && !iface_name_valid(op->dev, sizeof(op->dev)))
			return -EINVAL;
		switch (op->kind) {
		case ROUTE_OP_RULE:
			sb_printf(out, "# ip %s rule add fwmark %u lookup %u\n", fam,
				  (unsigned)op->fwmark, (unsigned)op->table);
			break;
		case ROUTE_OP_ROUTE:
			cidr_format(&op->prefix, pfx, sizeof(pfx));
			sb_printf(out, "# ip %s route add local %s dev %s table %u\n", fam, pfx,
				  op->dev, (unsigned)op->table);
			break;
		case ROUTE_OP_ADDR:
			cidr_format(&op->prefix, pfx, sizeof(pfx));
			sb_printf(out, "# ip %s addr add %s dev %s\n", fam, pfx, op->dev);
			break;
		default:
			return -EINVAL;
		}
	}
	return sb_ok(out);
}
