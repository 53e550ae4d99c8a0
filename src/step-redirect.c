/* SPDX-License-Identifier: Apache-2.0 */
#include "step-redirect.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "iptc.h"
#include "log.h"
#include "netlink.h"
#include "rules.h"
#include "util.h"

static int rules_print(const struct ruleset sets[2])
{
	struct strbuf sb;
	sb_init(&sb);
	for (int f = 0; f < 2; f++) {
		sb_puts(&sb, f == 0 ? "# iptables (IPv4)\n" : "# ip6tables (IPv6)\n");
		ruleset_render_save(&sets[f], &sb);
		ruleset_render_iproute(&sets[f], &sb);
	}
	int r = sb_ok(&sb);
	if (r == 0 && sb.len && fwrite(sb.buf, 1, sb.len, stdout) != sb.len)
		r = -EIO;
	sb_free(&sb);
	return r;
}

/* Route ops of both sets, applied in order; on failure the ones this call
 * added are removed again.  added[] records which (for a later rollback). */
static int routes_apply(const struct ruleset sets[2], bool added[2][RULESET_MAX_ROUTES])
{
	for (int f = 0; f < 2; f++) {
		for (unsigned i = 0; i < sets[f].n_routes; i++) {
			const struct route_op *op = &sets[f].routes[i];
			/* The kernel refuses an IPv6 local route while lo is down. */
			if (op->kind == ROUTE_OP_ROUTE) {
				int k = link_set_up(op->dev);
				if (k < 0) {
					log_error("redirect: cannot bring %s up: %s", op->dev, strerror(-k));
					return k;
				}
			}
			int r = route_op_apply(op);
			if (r < 0) {
				log_error("redirect: %s policy routing (%s) failed: %s", f ? "IPv6" : "IPv4",
				          op->kind == ROUTE_OP_RULE ? "fwmark rule" :
				          op->kind == ROUTE_OP_ROUTE ? "local route" : "address", strerror(-r));
				return r;
			}
			added[f][i] = r > 0;
		}
	}
	return 0;
}

static void routes_undo(const struct ruleset sets[2], bool added[2][RULESET_MAX_ROUTES])
{
	for (int f = 1; f >= 0; f--)
		for (unsigned i = sets[f].n_routes; i-- > 0; )
			if (added[f][i])
				route_op_remove(&sets[f].routes[i]);
}

/* Clean removes the policy routing a TPROXY run with these settings adds. */
static int routes_remove(const struct redirect_config *rc)
{
	struct redirect_config t = *rc;
	t.mode = INTERCEPT_TPROXY;
	t.inbound_ports.all = true;  /* the route ops need inbound capture */
	int changed = 0;
	static const int fams[] = { AF_INET, AF_INET6 };
	for (size_t f = 0; f < ELEMENTSOF(fams); f++) {
		struct ruleset rs;
		if (ruleset_build(&t, fams[f], &rs) < 0)
			continue;
		for (unsigned i = rs.n_routes; i-- > 0; ) {
			int r = route_op_remove(&rs.routes[i]);
			if (r > 0)
				changed = 1;
		}
		ruleset_free(&rs);
	}
	return changed;
}

/* An nf_tables firewall with no legacy rules: refuse to split it. */
static int backend_check(void)
{
	unsigned tables = 0, nft_rules = 0, legacy = 0;
	int r = nft_ruleset_count(&tables, &nft_rules);
	if (r == -EPROTONOSUPPORT)
		return 0;
	if (r < 0) {
		log_error("redirect: cannot read the nf_tables ruleset: %s", strerror(-r));
		return r;
	}
	if (nft_rules == 0)
		return 0;
	r = rules_count_foreign(&legacy);
	if (r < 0) {
		log_error("redirect: cannot read the legacy iptables tables: %s", strerror(-r));
		return r;
	}
	if (legacy == 0) {
		log_error("redirect: this host's firewall lives in nf_tables (%u rules in %u tables, none in the "
		          "legacy iptables tables); meshboot programs the legacy backend and will not split the "
		          "firewall in two. Nothing was changed.", nft_rules, tables);
		return -EMEDIUMTYPE;
	}
	log_warn("redirect: both nf_tables (%u rules) and legacy iptables (%u rules) hold rules; "
	         "meshboot adds to the legacy tables", nft_rules, legacy);
	return 0;
}

/* The virtual interfaces (-k) of the last apply in this network namespace
 * are remembered in the runtime directory ($MESHBOOT_RUNTIME_DIR, default
 * /run/meshboot, keyed by the namespace's inode), so that a later run with
 * other interfaces, or clean, removes exactly the RETURN rules we made. */
struct ifaces {
	char v[2 * REDIRECT_MAX_IFACES][IFNAMSIZ];
	unsigned n;
};

static char *ifaces_state_path(void)
{
	const char *dir = getenv("MESHBOOT_RUNTIME_DIR");
	struct stat st;
	char *p = NULL;
	if (stat("/proc/self/ns/net", &st) < 0)
		return NULL;
	if (asprintf(&p, "%s/redirect-ifaces.%llu", dir && *dir ? dir : "/run/meshboot",
	             (unsigned long long)st.st_ino) < 0)
		return NULL;
	return p;
}

static void ifaces_add(struct ifaces *l, const char *name)
{
	for (unsigned i = 0; i < l->n; i++)
		if (strcmp(l->v[i], name) == 0)
			return;
	if (l->n < ELEMENTSOF(l->v) && strlen(name) < IFNAMSIZ && *name)
		snprintf(l->v[l->n++], IFNAMSIZ, "%s", name);
}

static void ifaces_state_load(struct ifaces *l)
{
	_cleanup_free_ char *path = ifaces_state_path(), *buf = NULL;
	size_t len;
	if (!path || file_read_all(path, 4096, &buf, &len) < 0)
		return;
	for (char *save = NULL, *t = strtok_r(buf, "\n", &save); t; t = strtok_r(NULL, "\n", &save))
		ifaces_add(l, t);
}

static int ifaces_state_save(const struct redirect_config *rc)
{
	_cleanup_free_ char *path = ifaces_state_path();
	if (!path)
		return -ENOMEM;
	if (rc->n_virtual_interfaces == 0)
		return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
	char *slash = strrchr(path, '/');
	*slash = '\0';
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	*slash = '/';
	struct strbuf sb;
	sb_init(&sb);
	for (unsigned i = 0; i < rc->n_virtual_interfaces; i++)
		sb_printf(&sb, "%s\n", rc->virtual_interfaces[i]);
	int r = sb_ok(&sb);
	if (r == 0)
		r = file_write_atomic(path, sb.buf, sb.len, 0644);
	sb_free(&sb);
	return r;
}

int redirect_apply(const struct redirect_config *rc, const struct redirect_opts *o)
{
	struct ruleset sets[2];
	int r;
	ruleset_init(&sets[0], AF_INET);
	ruleset_init(&sets[1], AF_INET6);
	if (!o->clean) {
		static const int fams[] = { AF_INET, AF_INET6 };
		for (int f = 0; f < 2; f++) {
			r = ruleset_build(rc, fams[f], &sets[f]);
			if (r < 0) {
				log_error("redirect: the %s rules cannot be built from these settings: %s",
				          f ? "IPv6" : "IPv4", strerror(-r));
				goto out;
			}
		}
	}
	if (o->dry_run) {
		r = rules_print(sets);
		if (r < 0)
			log_error("redirect: cannot print the rules: %s", strerror(-r));
		goto out;
	}

	int lock = xtables_lock_take(o->wait_ms);
	if (lock < 0) {
		r = lock;
		if (r == -ETIMEDOUT)
			log_error("redirect: %s is held by another process; gave up after %u s (use -w to wait longer). "
			          "Nothing was changed.", xtables_lock_path(), o->wait_ms / 1000);
		else
			log_error("redirect: cannot take the xtables lock %s: %s", xtables_lock_path(), strerror(-r));
		goto out;
	}
	r = backend_check();
	if (r < 0)
		goto unlock;

	bool added[2][RULESET_MAX_ROUTES] = { { false } };
	if (!o->clean && (r = routes_apply(sets, added)) < 0) {
		routes_undo(sets, added);
		goto unlock;
	}
	struct ifaces ours = { .n = 0 };
	ifaces_state_load(&ours);
	for (unsigned i = 0; i < rc->n_virtual_interfaces; i++)
		ifaces_add(&ours, rc->virtual_interfaces[i]);
	const struct rules_target tg = {
		.sets = { &sets[0], &sets[1] },
		.ifaces = (const char (*)[IFNAMSIZ])ours.v,
		.n_ifaces = ours.n,
	};
	char err[768];
	r = rules_commit(&tg, err, sizeof(err));
	if (r < 0) {
		routes_undo(sets, added);
		log_error("redirect: %s. The firewall was left as it was.", err);
		goto unlock;
	}
	struct redirect_config cleaned = *rc;
	cleaned.n_virtual_interfaces = 0;
	int k = ifaces_state_save(o->clean ? &cleaned : rc);
	if (k < 0)
		log_warn("redirect: cannot record the virtual interfaces in the runtime directory: %s; "
		         "a later run may leave their RETURN rules behind", strerror(-k));
	bool routes_changed = false;
	for (int f = 0; f < 2; f++)
		for (unsigned i = 0; i < sets[f].n_routes; i++)
			routes_changed |= added[f][i];
	if (o->clean && routes_remove(rc) > 0)
		routes_changed = true;
	r = r > 0 || routes_changed;
	if (o->clean)
		log_info("redirect: %s", r ? "removed meshboot's chains, jumps and policy routes" : "nothing of meshboot's was in place");
	else
		log_info("redirect: %s (%s mode, proxy port %u%s)", r ? "rules applied" : "rules already in place",
		         rc->mode == INTERCEPT_TPROXY ? "TPROXY" : "REDIRECT", rc->proxy_port,
		         rc->ipv6 ? ", IPv4 and IPv6" : ", IPv4 only");
unlock:
	close(lock);
out:
	ruleset_free(&sets[0]);
	ruleset_free(&sets[1]);
	return r;
}
