/* SPDX-License-Identifier: Apache-2.0 */
#include "iptc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libiptc/libip6tc.h>
#include <libiptc/libiptc.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/xt_TPROXY.h>
#include <linux/netfilter/xt_mark.h>
#include <linux/netfilter/xt_owner.h>
#include <linux/netfilter/xt_socket.h>
#include <linux/netfilter/xt_tcpudp.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>

#include "util.h"

/* A chain name as libiptc takes it (xt_chainlabel). */
#define CHAIN_NAME_MAX ((int)sizeof(xt_chainlabel))

static const char *const our_chains[] = {
	RULE_CHAIN_REDIRECT, RULE_CHAIN_IN_REDIRECT, RULE_CHAIN_INBOUND,
	RULE_CHAIN_OUTPUT, RULE_CHAIN_DIVERT, RULE_CHAIN_TPROXY,
};

static bool chain_is_ours(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(our_chains); i++)
		if (strcmp(name, our_chains[i]) == 0)
			return true;
	return false;
}


/* ---- matches and target: the same bytes for both families ------------- */

static void *blob_add(struct strbuf *b, const char *name, uint8_t rev, size_t datalen, bool target)
{
	size_t hdr = target ? sizeof(struct xt_entry_target) : sizeof(struct xt_entry_match);
	size_t size = XT_ALIGN(hdr) + XT_ALIGN(datalen);
	size_t at = b->len;
	char zero[256] = { 0 };
	if (size > sizeof(zero))
		return NULL;
	sb_append(b, zero, size);
	if (sb_ok(b) < 0)
		return NULL;
	if (target) {
		struct xt_entry_target *t = (struct xt_entry_target *)(b->buf + at);
		t->u.user.target_size = (uint16_t)size;
		snprintf(t->u.user.name, sizeof(t->u.user.name), "%s", name);
		t->u.user.revision = rev;
		return t->data;
	}
	struct xt_entry_match *m = (struct xt_entry_match *)(b->buf + at);
	m->u.user.match_size = (uint16_t)size;
	snprintf(m->u.user.name, sizeof(m->u.user.name), "%s", name);
	m->u.user.revision = rev;
	return m->data;
}

/* Matches then the target of r, as iptables 1.8 encodes them.  *target_at
 * is the offset of the target inside the blob. */
static int rule_blob(const struct rule *r, int family, struct strbuf *b, size_t *target_at)
{
	/* blob_add returns pointers into b; each is used before the next add. */
	if (r->dport.set || r->not_syn) {
		if ((r->proto != IPPROTO_TCP && r->proto != IPPROTO_UDP) || (r->not_syn && r->proto != IPPROTO_TCP))
			return -EINVAL;
		struct xt_tcp *t = blob_add(b, r->proto == IPPROTO_TCP ? "tcp" : "udp", 0, sizeof(struct xt_tcp), false);
		if (!t)
			return -ENOMEM;
		t->spts[0] = 0;
		t->spts[1] = 0xffff;
		t->dpts[0] = r->dport.set ? (uint16_t)r->dport.v : 0;
		t->dpts[1] = r->dport.set ? (uint16_t)r->dport.v : 0xffff;
		t->invflags = r->dport.neg ? XT_TCP_INV_DSTPT : 0;
		if (r->not_syn) {
			/* ! --syn: FIN,SYN,RST,ACK must not equal SYN alone */
			t->flg_mask = 0x17;
			t->flg_cmp = 0x02;
			t->invflags |= XT_TCP_INV_FLAGS;
		}
	}
	if (r->socket) {
		/* revision 3, the one iptables picks: iptables-save shows others as
		 * "[unsupported revision]" */
		struct xt_socket_mtinfo3 *s = blob_add(b, "socket", 3, sizeof(*s), false);
		if (!s)
			return -ENOMEM;
	}
	if (r->uid.set || r->gid.set) {
		struct xt_owner_match_info *o = blob_add(b, "owner", 1, sizeof(*o), false);
		if (!o)
			return -ENOMEM;
		if (r->uid.set) {
			o->uid_min = o->uid_max = r->uid.v;
			o->match |= XT_OWNER_UID;
			if (r->uid.neg)
				o->invert |= XT_OWNER_UID;
		}
		if (r->gid.set) {
			o->gid_min = o->gid_max = r->gid.v;
			o->match |= XT_OWNER_GID;
			if (r->gid.neg)
				o->invert |= XT_OWNER_GID;
		}
	}
	*target_at = b->len;
	switch (r->verdict) {
	case RULE_JUMP:
	case RULE_RETURN:
	case RULE_ACCEPT: {
		struct xt_standard_target st;
		size_t at = b->len;
		memset(&st, 0, sizeof(st));
		sb_append(b, (const char *)&st, XT_ALIGN(sizeof(st)));
		if (sb_ok(b) < 0)
			return -ENOMEM;
		struct xt_entry_target *t = (struct xt_entry_target *)(b->buf + at);
		t->u.user.target_size = (uint16_t)XT_ALIGN(sizeof(st));
		const char *label = r->verdict == RULE_JUMP ? r->jump :
		                    r->verdict == RULE_RETURN ? IPTC_LABEL_RETURN : IPTC_LABEL_ACCEPT;
		if (!label || strlen(label) >= sizeof(t->u.user.name))
			return -EINVAL;
		snprintf(t->u.user.name, sizeof(t->u.user.name), "%s", label);
		return 0;
	}
	case RULE_REDIRECT:
		if (family == AF_INET) {
			struct nf_nat_ipv4_multi_range_compat *m = blob_add(b, "REDIRECT", 0, sizeof(*m), true);
			if (!m)
				return -ENOMEM;
			m->rangesize = 1;
			m->range[0].flags = NF_NAT_RANGE_PROTO_SPECIFIED;
			m->range[0].min.tcp.port = m->range[0].max.tcp.port = htons(r->to_port);
		} else {
			struct nf_nat_range *m = blob_add(b, "REDIRECT", 0, sizeof(*m), true);
			if (!m)
				return -ENOMEM;
			m->flags = NF_NAT_RANGE_PROTO_SPECIFIED;
			m->min_proto.tcp.port = m->max_proto.tcp.port = htons(r->to_port);
		}
		return 0;
	case RULE_TPROXY: {
		struct xt_tproxy_target_info_v1 *t = blob_add(b, "TPROXY", 1, sizeof(*t), true);
		if (!t)
			return -ENOMEM;
		t->mark_value = r->mark;
		t->mark_mask = r->mask;
		t->lport = htons(r->to_port);
		return 0;
	}
	case RULE_MARK: {
		struct xt_mark_tginfo2 *m = blob_add(b, "MARK", 2, sizeof(*m), true);
		if (!m)
			return -ENOMEM;
		m->mark = r->mark;
		m->mask = r->mask;
		return 0;
	}
	}
	return -EINVAL;
}

static void iface_set(const struct rule_iface *ri, char name[IFNAMSIZ], unsigned char mask[IFNAMSIZ])
{
	size_t n = strlen(ri->name);
	memset(name, 0, IFNAMSIZ);
	memset(mask, 0, IFNAMSIZ);
	if (n == 0)
		return;
	memcpy(name, ri->name, n < IFNAMSIZ ? n : IFNAMSIZ - 1);
	if (ri->name[n - 1] == '+')
		memset(mask, 0xff, n - 1);
	else
		memset(mask, 0xff, n + 1 < IFNAMSIZ ? n + 1 : IFNAMSIZ);
}

static void prefix_mask(int family, uint8_t prefix, uint8_t out[16])
{
	size_t len = family == AF_INET ? 4 : 16;
	memset(out, 0, 16);
	for (size_t i = 0; i < len; i++) {
		unsigned bits = prefix > 8 * i ? prefix - 8 * i : 0;
		out[i] = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
	}
}

/* Is this an entry we would build for "-i IF -j RETURN" in PREROUTING? */
static bool iface_return_is_ours(const char *iniface, const char *label, bool bare,
                                 const char (*ifaces)[IFNAMSIZ], unsigned n)
{
	if (!bare || strcmp(label, IPTC_LABEL_RETURN) != 0)
		return false;
	for (unsigned i = 0; i < n; i++)
		if (strncmp(iniface, ifaces[i], IFNAMSIZ) == 0)
			return true;
	return false;
}

/* ---- per-family code, instantiated twice ------------------------------- */

/* Where our rules stood in a built-in chain (among the rules that stay),
 * so that a rebuild puts them back in place instead of moving them past
 * foreign rules added since: one slot for the appended jumps, one for the
 * rules the script inserts at the head (head). */
#define SLOTS_MAX 8
struct slot {
	char chain[CHAIN_NAME_MAX];
	unsigned pos;
	bool head;
};

/* Everything of ours in one table, copied out: for change detection
 * (canon) and to put it back when a later table's commit fails. */
struct ours_rule {
	char chain[CHAIN_NAME_MAX];
	unsigned pos;       /* index in a built-in chain */
	bool builtin;
	void *entry;        /* ipt_entry or ip6t_entry, target by label */
};

struct ours {
	char chains[RULESET_MAX_CHAINS][CHAIN_NAME_MAX];
	unsigned n_chains;
	struct ours_rule *v;
	size_t n, cap;
	struct strbuf canon;
};

static void ours_free(struct ours *o)
{
	for (size_t i = 0; i < o->n; i++)
		free(o->v[i].entry);
	free(o->v);
	sb_free(&o->canon);
	memset(o, 0, sizeof(*o));
}

struct tc_ops {
	int family;
	const char *names_file;  /* /proc/net/ip_tables_names */
	struct xtc_handle *(*open)(const char *table);
	void (*close)(struct xtc_handle *h);
	int (*remove_ours)(struct xtc_handle *h, const char (*ifaces)[IFNAMSIZ], unsigned n, struct slot *slots,
	                   unsigned *n_slots);
	int (*add)(struct xtc_handle *h, const struct ruleset *rs, enum rule_table t, struct slot *slots,
	           unsigned n_slots);
	int (*snapshot)(struct xtc_handle *h, const char (*ifaces)[IFNAMSIZ], unsigned n, struct ours *o);
	int (*restore)(struct xtc_handle *h, const struct ours *o, const char (*ifaces)[IFNAMSIZ], unsigned n);
	int (*count_foreign)(struct xtc_handle *h, unsigned *count);
	int (*commit)(struct xtc_handle *h);
	const char *(*strerror)(int err);
};

#define FAM 4
#include "iptc-family.h"
#undef FAM
#define FAM 6
#include "iptc-family.h"
#undef FAM

static const struct tc_ops *const families[2] = { &tc_ops_4, &tc_ops_6 };

/* Does the legacy table already exist in this network namespace? */
static bool table_exists(const struct tc_ops *o, const char *table)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (file_read_all(o->names_file, 65536, &buf, &len) < 0)
		return false;
	for (char *save = NULL, *t = strtok_r(buf, "\n", &save); t; t = strtok_r(NULL, "\n", &save))
		if (strcmp(t, table) == 0)
			return true;
	return false;
}

static bool ruleset_uses(const struct ruleset *rs, enum rule_table t)
{
	if (!rs)
		return false;
	for (unsigned i = 0; i < rs->n_chains; i++)
		if (rs->chains[i].table == t)
			return true;
	for (size_t i = 0; i < rs->n_rules; i++)
		if (rs->rules[i].table == t)
			return true;
	return false;
}

struct pending {
	const struct tc_ops *o;
	const char *table;
	struct ours before;  /* our rules as they were, for a rollback */
};

/* Put a committed table's rules of ours back as they were; all other rules
 * were never touched, so this restores the whole table. */
static int table_restore(const struct pending *p, const struct rules_target *tg)
{
	struct xtc_handle *h = p->o->open(p->table);
	if (!h)
		return -errno;
	int r = p->o->restore(h, &p->before, tg->ifaces, tg->n_ifaces);
	if (r == 0 && !p->o->commit(h))
		r = errno ? -errno : -EIO;
	p->o->close(h);
	return r;
}

/* Rebuild our part of the table and commit it if it differs: one read of
 * the table, one commit.  1 committed (before then holds our old rules), 0
 * the same already, negative errno. */
static int table_apply(const struct tc_ops *o, const char *table, enum rule_table t,
                       const struct rules_target *tg, struct ours *before, char *err, size_t errlen)
{
	const struct ruleset *rs = tg->sets[o->family == AF_INET ? 0 : 1];
	const char *fam = o->family == AF_INET ? "IPv4" : "IPv6";
	for (int attempt = 0; attempt < 3; attempt++) {
		struct ours after = { .n_chains = 0 };
		struct slot slots[SLOTS_MAX];
		unsigned n_slots = 0;
		int r;
		memset(before, 0, sizeof(*before));
		struct xtc_handle *h = o->open(table);
		if (!h) {
			r = errno ? -errno : -EIO;
			err_fmt(err, errlen, 0, "%s table %s: %s", fam, table, o->strerror(-r));
			return r;
		}
		if ((r = o->snapshot(h, tg->ifaces, tg->n_ifaces, before)) < 0 ||
		    (r = o->remove_ours(h, tg->ifaces, tg->n_ifaces, slots, &n_slots)) < 0 ||
		    (r = o->add(h, rs, t, slots, n_slots)) < 0 ||
		    (r = o->snapshot(h, tg->ifaces, tg->n_ifaces, &after)) < 0)
			goto fail;
		if (before->canon.len == after.canon.len &&
		    (after.canon.len == 0 || memcmp(before->canon.buf, after.canon.buf, after.canon.len) == 0)) {
			r = 0;
			goto done;
		}
		if (!o->commit(h)) {
			r = errno ? -errno : -EIO;
			if (r == -EAGAIN) {
				ours_free(&after);
				ours_free(before);
				o->close(h);
				continue;
			}
			goto fail;
		}
		ours_free(&after);
		o->close(h);
		return 1;
	fail:
		err_fmt(err, errlen, 0, "%s table %s: %s", fam, table, r == -ENOMEM ? "out of memory" : o->strerror(-r));
	done:
		ours_free(&after);
		ours_free(before);
		o->close(h);
		return r;
	}
	err_fmt(err, errlen, 0, "%s table %s: changed by another writer during every attempt", fam, table);
	return -EAGAIN;
}

/* Test-only fault injection: MESHBOOT_TEST_FAIL_COMMIT=<4|6>:<table> makes
 * that table's apply fail after the earlier ones were committed. */
static bool fault_injected(const struct tc_ops *o, const char *table)
{
	const char *f = getenv("MESHBOOT_TEST_FAIL_COMMIT");
	char want[32];
	snprintf(want, sizeof(want), "%d:%s", o->family == AF_INET ? 4 : 6, table);
	return f && strcmp(f, want) == 0;
}

int rules_commit(const struct rules_target *tg, char *err, size_t errlen)
{
	/* nat first, so that a mangle table we create is the newer one and
	 * iptables-save lists it first, as after istio-iptables.sh. */
	static const struct {
		enum rule_table t;
		const char *name;
	} tables[] = { { RULE_TABLE_NAT, "nat" }, { RULE_TABLE_MANGLE, "mangle" } };
	struct pending done[4];
	unsigned n_done = 0;
	int r = 0;
	err[0] = '\0';
	for (int f = 0; f < 2; f++) {
		const struct tc_ops *o = families[f];
		for (size_t i = 0; i < ELEMENTSOF(tables); i++) {
			if (!ruleset_uses(tg->sets[f], tables[i].t) && !table_exists(o, tables[i].name))
				continue;
			if (fault_injected(o, tables[i].name)) {
				err_fmt(err, errlen, 0, "IPv%d table %s: injected failure (MESHBOOT_TEST_FAIL_COMMIT)",
				        f ? 6 : 4, tables[i].name);
				r = -EIO;
				goto rollback;
			}
			struct pending *p = &done[n_done];
			p->o = o;
			p->table = tables[i].name;
			r = table_apply(o, tables[i].name, tables[i].t, tg, &p->before, err, errlen);
			if (r < 0)
				goto rollback;
			if (r > 0)
				n_done++;
		}
	}
	for (unsigned i = 0; i < n_done; i++)
		ours_free(&done[i].before);
	return n_done > 0;
rollback:
	for (unsigned i = n_done; i-- > 0; ) {
		int k = table_restore(&done[i], tg);
		if (k < 0) {
			size_t l = strlen(err);
			snprintf(err + l, errlen - l, "; restoring IPv%d table %s also failed: %s",
			         done[i].o->family == AF_INET ? 4 : 6, done[i].table, done[i].o->strerror(-k));
		}
		ours_free(&done[i].before);
	}
	return r;
}

int rules_count_foreign(unsigned *count)
{
	*count = 0;
	for (int f = 0; f < 2; f++) {
		const struct tc_ops *o = families[f];
		_cleanup_free_ char *buf = NULL;
		size_t len;
		if (file_read_all(o->names_file, 65536, &buf, &len) < 0)
			continue;
		for (char *save = NULL, *t = strtok_r(buf, "\n", &save); t; t = strtok_r(NULL, "\n", &save)) {
			struct xtc_handle *h = o->open(t);
			if (!h)
				return -errno;
			unsigned n = 0;
			int r = o->count_foreign(h, &n);
			o->close(h);
			if (r < 0)
				return r;
			*count += n;
		}
	}
	return 0;
}

const char *xtables_lock_path(void)
{
	const char *p = getenv("XTABLES_LOCKFILE");
	return p && *p ? p : "/run/xtables.lock";
}

int xtables_lock_take(unsigned wait_ms)
{
	int fd = open(xtables_lock_path(), O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			int r = -errno;
			close(fd);
			return r;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		long ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (ms >= (long)wait_ms) {
			close(fd);
			return -ETIMEDOUT;
		}
		struct timespec ts = { 0, 50 * 1000000 };
		nanosleep(&ts, NULL);
	}
}
