/* SPDX-License-Identifier: Apache-2.0 */
/* The per-family half of the libiptc backend, included twice by iptc.c
 * with FAM 4 (libip4tc) and FAM 6 (libip6tc): the two libraries have the
 * same calls under different prefixes and entry types. */

#if FAM == 4
#define ENTRY struct ipt_entry
#define TC(x) iptc_##x
#define SFX(x) x##_4
#define IPF ip
#define ADDRLEN 4
#define INV_SRC IPT_INV_SRCIP
#define INV_DST IPT_INV_DSTIP
#define INV_IN IPT_INV_VIA_IN
#define INV_OUT IPT_INV_VIA_OUT
#define INV_PROTO IPT_INV_PROTO
#define FAMILY AF_INET
#define NAMES_FILE "/proc/net/ip_tables_names"
#else
#define ENTRY struct ip6t_entry
#define TC(x) ip6tc_##x
#define SFX(x) x##_6
#define IPF ipv6
#define ADDRLEN 16
#define INV_SRC IP6T_INV_SRCIP
#define INV_DST IP6T_INV_DSTIP
#define INV_IN IP6T_INV_VIA_IN
#define INV_OUT IP6T_INV_VIA_OUT
#define INV_PROTO IP6T_INV_PROTO
#define FAMILY AF_INET6
#define NAMES_FILE "/proc/net/ip6_tables_names"
#endif

static struct xtc_handle *SFX(tc_open)(const char *table) { return TC(init)(table); }
static void SFX(tc_close)(struct xtc_handle *h) { TC(free)(h); }
static int SFX(tc_commit)(struct xtc_handle *h) { return TC(commit)(h); }
static const char *SFX(tc_strerror)(int e) { return TC(strerror)(e); }

/* The kernel entry for one rule (malloc'd). */
static ENTRY *SFX(entry_build)(const struct rule *r, int *err)
{
	struct strbuf b;
	size_t tat = 0;
	sb_init(&b);
	*err = rule_blob(r, FAMILY, &b, &tat);
	if (*err < 0) {
		sb_free(&b);
		return NULL;
	}
	ENTRY *e = calloc(1, sizeof(ENTRY) + b.len);
	if (!e) {
		sb_free(&b);
		*err = -ENOMEM;
		return NULL;
	}
	uint8_t mask[16];
	if (r->src.set) {
		memcpy(&e->IPF.src, r->src.net.addr, ADDRLEN);
		prefix_mask(FAMILY, r->src.net.prefix, mask);
		memcpy(&e->IPF.smsk, mask, ADDRLEN);
		if (r->src.neg)
			e->IPF.invflags |= INV_SRC;
	}
	if (r->dst.set) {
		memcpy(&e->IPF.dst, r->dst.net.addr, ADDRLEN);
		prefix_mask(FAMILY, r->dst.net.prefix, mask);
		memcpy(&e->IPF.dmsk, mask, ADDRLEN);
		if (r->dst.neg)
			e->IPF.invflags |= INV_DST;
	}
	iface_set(&r->in, e->IPF.iniface, e->IPF.iniface_mask);
	if (r->in.neg && r->in.name[0])
		e->IPF.invflags |= INV_IN;
	iface_set(&r->out, e->IPF.outiface, e->IPF.outiface_mask);
	if (r->out.neg && r->out.name[0])
		e->IPF.invflags |= INV_OUT;
	e->IPF.proto = r->proto;
#if FAM == 6
	if (r->proto)
		e->IPF.flags |= IP6T_F_PROTO;
#endif
	if (r->proto_neg)
		e->IPF.invflags |= INV_PROTO;
	e->target_offset = (uint16_t)(sizeof(ENTRY) + tat);
	e->next_offset = (uint16_t)(sizeof(ENTRY) + b.len);
	memcpy(e->elems, b.buf, b.len);
	sb_free(&b);
	return e;
}

/* A rule with no address, interface other than iniface, protocol or match. */
static bool SFX(entry_bare)(const ENTRY *e)
{
	static const ENTRY zero;
	return e->target_offset == sizeof(ENTRY) && e->IPF.proto == 0 && e->IPF.invflags == 0 &&
	       memcmp(&e->IPF.src, &zero.IPF.src, sizeof(e->IPF.src)) == 0 &&
	       memcmp(&e->IPF.dst, &zero.IPF.dst, sizeof(e->IPF.dst)) == 0 &&
	       memcmp(&e->IPF.smsk, &zero.IPF.smsk, sizeof(e->IPF.smsk)) == 0 &&
	       memcmp(&e->IPF.dmsk, &zero.IPF.dmsk, sizeof(e->IPF.dmsk)) == 0 && e->IPF.outiface[0] == '\0';
}

/* A jump we append (not one of the -k rules at the head): no interface. */
static bool SFX(entry_bare_jump)(const ENTRY *e)
{
	return e->IPF.iniface[0] == '\0' && e->IPF.outiface[0] == '\0';
}

/* Names of all chains (the handle's iterator is reset by changes). */
static int SFX(chains_list)(struct xtc_handle *h, char (**out)[CHAIN_NAME_MAX], unsigned *n)
{
	char (*v)[CHAIN_NAME_MAX] = NULL;
	unsigned cnt = 0, cap = 0;
	for (const char *c = TC(first_chain)(h); c; c = TC(next_chain)(h)) {
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			void *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
		}
		snprintf(v[cnt++], CHAIN_NAME_MAX, "%s", c);
	}
	*out = v;
	*n = cnt;
	return 0;
}

static int SFX(tc_remove_ours)(struct xtc_handle *h, const char (*ifaces)[IFNAMSIZ], unsigned n_ifaces,
                               struct slot *slots, unsigned *n_slots)
{
	char (*chains)[CHAIN_NAME_MAX] = NULL;
	unsigned n = 0;
	int r = SFX(chains_list)(h, &chains, &n);
	if (r < 0)
		return r;
	/* Jumps into our chains (and the -k RETURNs) in the built-in chains,
	 * deleted from the last so the numbers stay valid. */
	for (unsigned i = 0; i < n && r == 0; i++) {
		if (!TC(builtin)(chains[i], h))
			continue;
		unsigned num = 0, del[4096], nd = 0;
		bool slot_set = false, head_set = false;
		for (const ENTRY *e = TC(first_rule)(chains[i], h); e; e = TC(next_rule)(e, h), num++) {
			const char *label = TC(get_target)(e, h);
			if (!label)
				continue;
			bool jump = chain_is_ours(label);
			bool ours = jump || (strcmp(chains[i], "PREROUTING") == 0 &&
			                     iface_return_is_ours(e->IPF.iniface, label, SFX(entry_bare)(e), ifaces, n_ifaces));
			/* Where the first plain jump stood, among the rules that stay:
			 * the new jumps go back there, not after later foreign rules. */
			if (ours && *n_slots < SLOTS_MAX) {
				bool head = !SFX(entry_bare_jump)(e);
				if (head ? !head_set : (jump && !slot_set)) {
					snprintf(slots[*n_slots].chain, sizeof(slots[0].chain), "%s", chains[i]);
					slots[*n_slots].head = head;
					slots[(*n_slots)++].pos = num - nd;
					*(head ? &head_set : &slot_set) = true;
				}
			}
			if (ours && nd < ELEMENTSOF(del))
				del[nd++] = num;
		}
		while (nd > 0 && r == 0)
			if (!TC(delete_num_entry)(chains[i], del[--nd], h))
				r = -errno;
	}
	for (size_t i = 0; i < ELEMENTSOF(our_chains) && r == 0; i++)
		if (TC(is_chain)(our_chains[i], h) && !TC(flush_entries)(our_chains[i], h))
			r = -errno;
	for (size_t i = 0; i < ELEMENTSOF(our_chains) && r == 0; i++)
		if (TC(is_chain)(our_chains[i], h) && !TC(delete_chain)(our_chains[i], h))
			r = -errno;
	free(chains);
	return r;
}

static int SFX(tc_add)(struct xtc_handle *h, const struct ruleset *rs, enum rule_table t,
                       struct slot *slots, unsigned n_slots)
{
	if (!rs)
		return 0;
	for (unsigned i = 0; i < rs->n_chains; i++)
		if (rs->chains[i].table == t && !TC(create_chain)(rs->chains[i].name, h))
			return -errno;
	/* Head rules go to the top of their built-in chain, in array order. */
	struct {
		const char *chain;
		unsigned n;
	} heads[8];
	unsigned n_heads = 0;
	for (size_t i = 0; i < rs->n_rules; i++) {
		const struct rule *ru = &rs->rules[i];
		if (ru->table != t)
			continue;
		int err = 0;
		ENTRY *e = SFX(entry_build)(ru, &err);
		if (!e)
			return err;
		int ok;
		if (ru->head) {
			unsigned k = 0;
			while (k < n_heads && strcmp(heads[k].chain, ru->chain) != 0)
				k++;
			if (k == n_heads) {
				if (n_heads == ELEMENTSOF(heads)) {
					free(e);
					return -E2BIG;
				}
				heads[n_heads].chain = ru->chain;
				heads[n_heads++].n = 0;
			}
			unsigned base = 0;
			for (unsigned q = 0; q < n_slots; q++)
				if (slots[q].head && strcmp(slots[q].chain, ru->chain) == 0)
					base = slots[q].pos;
			ok = TC(insert_entry)(ru->chain, e, base + heads[k].n++, h);
		} else {
			struct slot *sl = NULL;
			for (unsigned k = 0; k < n_slots && !sl; k++)
				if (!slots[k].head && strcmp(slots[k].chain, ru->chain) == 0)
					sl = &slots[k];
			/* Head rules already inserted above this slot shift it down. */
			unsigned shift = 0;
			for (unsigned k = 0; sl && k < n_heads; k++)
				if (strcmp(heads[k].chain, ru->chain) == 0)
					shift = heads[k].n;
			ok = sl ? TC(insert_entry)(ru->chain, e, sl->pos++ + shift, h) : TC(append_entry)(ru->chain, e, h);
		}
		int saved = errno;
		free(e);
		if (!ok)
			return -saved;
	}
	return 0;
}

static bool SFX(label_is_standard)(struct xtc_handle *h, const char *label)
{
	return strcmp(label, IPTC_LABEL_ACCEPT) == 0 || strcmp(label, IPTC_LABEL_DROP) == 0 ||
	       strcmp(label, IPTC_LABEL_QUEUE) == 0 || strcmp(label, IPTC_LABEL_RETURN) == 0 ||
	       label[0] == '\0' || TC(is_chain)(label, h);
}

/* Canonical bytes of one rule (no counters): to compare our rules before
 * and after a rebuild.  Matches go by name, revision and data: the kernel
 * copies a name only up to its NUL, the rest of the field is noise. */
static void SFX(entry_dump)(struct xtc_handle *h, const ENTRY *e, const char *label, struct strbuf *out)
{
	sb_append(out, (const char *)&e->IPF, sizeof(e->IPF));
	for (size_t at = sizeof(ENTRY); at + sizeof(struct xt_entry_match) <= e->target_offset; ) {
		const struct xt_entry_match *m = (const void *)((const char *)e + at);
		size_t ms = m->u.match_size;
		if (ms < sizeof(*m) || at + ms > e->target_offset)
			break;
		sb_printf(out, "m %.*s/%u:", (int)sizeof(m->u.user.name), m->u.user.name, m->u.user.revision);
		sb_append(out, (const char *)m->data, ms - sizeof(*m));
		at += ms;
	}
	sb_printf(out, "->%s", label);
	if (!SFX(label_is_standard)(h, label)) {
		const struct xt_entry_target *t = (const void *)((const char *)e + e->target_offset);
		sb_printf(out, "/%u:", t->u.user.revision);
		if (t->u.target_size >= sizeof(*t))
			sb_append(out, (const char *)t->data, t->u.target_size - sizeof(*t));
	}
	sb_putc(out, '\n');
}

static int SFX(ours_push)(struct ours *o, struct xtc_handle *h, const char *chain, unsigned pos, bool builtin,
                          const ENTRY *e, const char *label)
{
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 32;
		struct ours_rule *v = realloc(o->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		o->v = v;
		o->cap = cap;
	}
	ENTRY *copy = malloc(e->next_offset);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, e, e->next_offset);
	/* a jump or verdict is re-added by its label */
	if (SFX(label_is_standard)(h, label)) {
		struct xt_entry_target *t = (void *)((char *)copy + copy->target_offset);
		memset(t->u.user.name, 0, sizeof(t->u.user.name));
		snprintf(t->u.user.name, sizeof(t->u.user.name), "%s", label);
	}
	struct ours_rule *r = &o->v[o->n++];
	snprintf(r->chain, sizeof(r->chain), "%s", chain);
	r->pos = pos;
	r->builtin = builtin;
	r->entry = copy;
	sb_printf(&o->canon, "%s %u ", chain, builtin ? pos : 0);
	SFX(entry_dump)(h, e, label, &o->canon);
	return 0;
}

/* Copy out everything of ours in the table: our chains with their rules,
 * our jumps and -k rules in the built-in chains with their positions. */
static int SFX(tc_snapshot)(struct xtc_handle *h, const char (*ifaces)[IFNAMSIZ], unsigned n_ifaces,
                            struct ours *o)
{
	char (*chains)[CHAIN_NAME_MAX] = NULL;
	unsigned n = 0;
	int r = SFX(chains_list)(h, &chains, &n);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < n && r == 0; i++) {
		bool builtin = TC(builtin)(chains[i], h);
		bool mine = chain_is_ours(chains[i]);
		if (!builtin && !mine)
			continue;
		if (mine && o->n_chains < ELEMENTSOF(o->chains)) {
			snprintf(o->chains[o->n_chains++], CHAIN_NAME_MAX, "%s", chains[i]);
			sb_printf(&o->canon, "chain %s\n", chains[i]);
		}
		unsigned num = 0;
		for (const ENTRY *e = TC(first_rule)(chains[i], h); e && r == 0; e = TC(next_rule)(e, h), num++) {
			const char *label = TC(get_target)(e, h);
			if (!label)
				continue;
			bool ours = mine || chain_is_ours(label) ||
			            (strcmp(chains[i], "PREROUTING") == 0 &&
			             iface_return_is_ours(e->IPF.iniface, label, SFX(entry_bare)(e), ifaces, n_ifaces));
			if (ours)
				r = SFX(ours_push)(o, h, chains[i], num, builtin, e, label);
		}
	}
	free(chains);
	return r < 0 ? r : sb_ok(&o->canon);
}

/* Put a snapshot back: ours removed, then the saved chains and rules. */
static int SFX(tc_restore)(struct xtc_handle *h, const struct ours *o, const char (*ifaces)[IFNAMSIZ],
                           unsigned n_ifaces)
{
	struct slot slots[SLOTS_MAX];
	unsigned n_slots = 0;
	int r = SFX(tc_remove_ours)(h, ifaces, n_ifaces, slots, &n_slots);
	for (unsigned i = 0; i < o->n_chains && r == 0; i++)
		if (!TC(create_chain)(o->chains[i], h))
			r = -errno;
	/* positions were taken in ascending order: inserting in that order
	 * rebuilds each built-in chain exactly */
	for (size_t i = 0; i < o->n && r == 0; i++) {
		const struct ours_rule *ru = &o->v[i];
		int ok = ru->builtin ? TC(insert_entry)(ru->chain, ru->entry, ru->pos, h)
		                     : TC(append_entry)(ru->chain, ru->entry, h);
		if (!ok)
			r = -errno;
	}
	return r;
}

static int SFX(tc_count_foreign)(struct xtc_handle *h, unsigned *count)
{
	for (const char *c = TC(first_chain)(h); c; c = TC(next_chain)(h)) {
		if (chain_is_ours(c))
			continue;
		bool builtin = TC(builtin)(c, h);
		for (const ENTRY *e = TC(first_rule)(c, h); e; e = TC(next_rule)(e, h)) {
			const char *label = TC(get_target)(e, h);
			if (!(builtin && label && chain_is_ours(label)))
				(*count)++;
		}
	}
	return 0;
}

static const struct tc_ops SFX(tc_ops) = {
	.family = FAMILY,
	.names_file = NAMES_FILE,
	.open = SFX(tc_open),
	.close = SFX(tc_close),
	.remove_ours = SFX(tc_remove_ours),
	.add = SFX(tc_add),
	.snapshot = SFX(tc_snapshot),
	.restore = SFX(tc_restore),
	.count_foreign = SFX(tc_count_foreign),
	.commit = SFX(tc_commit),
	.strerror = SFX(tc_strerror),
};

#undef ENTRY
#undef TC
#undef SFX
#undef IPF
#undef ADDRLEN
#undef INV_SRC
#undef INV_DST
#undef INV_IN
#undef INV_OUT
#undef INV_PROTO
#undef FAMILY
#undef NAMES_FILE
