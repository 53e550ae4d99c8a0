/* SPDX-License-Identifier: Apache-2.0 */
#include "plan.h"

#include "autoconf.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "cache.h"
#include "rules.h"
#include "unit.h"

void plan_free(struct plan *p)
{
	for (unsigned i = 0; i < p->n; i++) {
		struct plan_step *s = &p->v[i];
		for (unsigned k = 0; k < s->n_kv; k++) {
			free(s->kv[k].key);
			free(s->kv[k].val);
		}
		free(s->kv);
		free(s->kind);
		free(s->stage);
		free(s->title);
		free(s->block);
	}
	free(p->v);
	free(p->roles);
	memset(p, 0, sizeof(*p));
}

/* Builder state: the first allocation failure sticks. */
struct pb {
	struct plan *p;
	struct plan_step *cur;
	bool oom;
};

static char *vfmt(struct pb *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static char *vfmt(struct pb *b, const char *fmt, va_list ap)
{
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0) {
		b->oom = true;
		return NULL;
	}
	return s;
}

static void step(struct pb *b, const char *kind, const char *stage, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void step(struct pb *b, const char *kind, const char *stage, const char *fmt, ...)
{
	b->cur = NULL;
	if (b->oom)
		return;
	struct plan_step *v = realloc(b->p->v, (b->p->n + 1) * sizeof(*v));
	if (!v) {
		b->oom = true;
		return;
	}
	b->p->v = v;
	struct plan_step *s = &v[b->p->n++];
	memset(s, 0, sizeof(*s));
	va_list ap;
	va_start(ap, fmt);
	s->title = vfmt(b, fmt, ap);
	va_end(ap);
	s->kind = strdup(kind);
	s->stage = strdup(stage);
	if (!s->kind || !s->stage)
		b->oom = true;
	b->cur = s;
}

static void kv(struct pb *b, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void kv(struct pb *b, const char *key, const char *fmt, ...)
{
	if (b->oom || !b->cur)
		return;
	struct plan_step *s = b->cur;
	struct plan_kv *v = realloc(s->kv, (s->n_kv + 1) * sizeof(*v));
	if (!v) {
		b->oom = true;
		return;
	}
	s->kv = v;
	va_list ap;
	va_start(ap, fmt);
	char *val = vfmt(b, fmt, ap);
	va_end(ap);
	char *k = strdup(key);
	if (!k || !val) {
		free(k);
		free(val);
		b->oom = true;
		return;
	}
	v[s->n_kv++] = (struct plan_kv){ k, val };
}

static void block(struct pb *b, const char *text)
{
	if (b->oom || !b->cur)
		return;
	free(b->cur->block);
	b->cur->block = strdup(text);
	if (!b->cur->block)
		b->oom = true;
}


static void plan_fetch(struct pb *b, const struct config *c, const char *root)
{
	if (c->release.manifest_url) {
		step(b, "manifest", "bake", "verify the signed release manifest");
		kv(b, "url", "%s", c->release.manifest_url);
		kv(b, "signature", "%s", c->release.signature_url);
		kv(b, "public_key", "%s", c->release.public_key);
	}
	for (int r = 0; r < ROLE_MAX; r++) {
		const struct artifact *a = artifact_for(c, (enum role)r);
		if (!a || !c->roles[r])
			continue;
		const char *name = role_name((enum role)r);
		step(b, "fetch", "bake", "fetch, verify and unpack %s %s", name, a->version);
		kv(b, "component", "%s", name);
		kv(b, "url", "%s", a->url);
		for (unsigned i = 0; i < a->n_mirrors; i++)
			kv(b, "mirror", "%s", a->mirrors[i]);
		if (a->alg != DIGEST_NONE)
			kv(b, "digest", "%s:%s", digest_alg_name(a->alg), a->digest);
		else if (c->release.manifest_url)
			kv(b, "digest", "from the signed manifest");
		else
			kv(b, "digest", "from %s (TLS only)", a->sha256_url);
		if (a->size)
			kv(b, "size", "%llu", (unsigned long long)a->size);
		else
			kv(b, "size", "at most %llu", (unsigned long long)c->fetch.max_size);
		kv(b, "format", "%s", archive_fmt_name(a->format));
		if (a->strip_components)
			kv(b, "strip_components", "%u", a->strip_components);
		char shortd[40] = "<digest from the manifest>";
		if (a->alg != DIGEST_NONE) {
			/* the cache's own lookup; not re-hashed: plan stays cheap */
			_cleanup_close_ int fd = cache_open(root, a->alg, a->digest, false);
			kv(b, "cache", CACHE_DIR "/%s/%s (%s)", digest_alg_name(a->alg), a->digest, fd >= 0 ? "hit" : "miss");
			snprintf(shortd, sizeof(shortd), "%.12s", a->digest);
		}
		kv(b, "install", "%s/%s/%s-%s/", c->install_prefix, name, a->version, shortd);
		kv(b, "current", "%s/%s/current -> %s-%s", c->install_prefix, name, a->version, shortd);
		kv(b, "exec", "%s/%s/current/%s", c->install_prefix, name, a->exec);
	}
}

static void plan_users(struct pb *b, const struct config *c)
{
	step(b, "user", "bake", "system user and group %s", c->user.name);
	kv(b, "name", "%s", c->user.name);
	kv(b, "uid", "%u", c->user.uid);
	kv(b, "gid", "%u", c->user.gid);
	kv(b, "files", "/etc/passwd /etc/group /etc/shadow");
	if (c->roles[ROLE_ETCD]) {
		step(b, "user", "bake", "system user and group etcd");
		kv(b, "name", "etcd");
		kv(b, "uid", "allocated from the system range");
	}
}

static void file_step(struct pb *b, const char *stage, const char *path, const char *mode, const char *owner,
                      const char *what)
{
	step(b, "file", stage, "%s", path);
	kv(b, "mode", "%s", mode);
	kv(b, "owner", "%s", owner);
	kv(b, "content", "%s", what);
}

static void dir_step(struct pb *b, const char *stage, const char *path, const char *mode, const char *owner)
{
	step(b, "directory", stage, "%s", path);
	kv(b, "mode", "%s", mode);
	kv(b, "owner", "%s", owner);
}

static void plan_files(struct pb *b, const struct config *c)
{
	char owner[160];
	snprintf(owner, sizeof(owner), "%s:%s", c->user.name, c->user.name);
	if (c->roles[ROLE_SIDECAR]) {
		dir_step(b, "bake", "/var/lib/istio/envoy", "0755", owner);
		dir_step(b, "bake", "/var/log/istio", "0755", owner);
		dir_step(b, "bake", "/etc/istio/config", "0755", "root:root");
		file_step(b, "boot", "/var/lib/istio/envoy/cluster.env", "0644", owner,
		          "ISTIO_SERVICE_CIDR, ISTIO_INBOUND_PORTS, ISTIO_LOCAL_EXCLUDE_PORTS, ISTIO_SVC_IP, "
		          "ISTIO_SERVICE, ISTIO_NAMESPACE, CA_ADDR, PILOT_ADDRESS");
		kv(b, "ISTIO_SERVICE", "%s", c->mesh.service ? c->mesh.service : "<host name>");
		kv(b, "ISTIO_NAMESPACE", "%s", c->mesh.namespace_);
		kv(b, "ISTIO_SVC_IP", "%s", c->mesh.instance_ip ? c->mesh.instance_ip : "<detected at run time>");
		kv(b, "PILOT_ADDRESS", "%s", c->mesh.discovery_address ? c->mesh.discovery_address : "");
		if (c->mesh.ca_address)
			kv(b, "CA_ADDR", "%s", c->mesh.ca_address);
		if (c->mesh.service_cidr)
			kv(b, "ISTIO_SERVICE_CIDR", "%s", c->mesh.service_cidr);
		file_step(b, "boot", "/var/lib/istio/envoy/sidecar.env", "0644", owner,
		          "proxy user, ports and interception mode for the sidecar agent");
		file_step(b, "boot", "/etc/istio/config/mesh", "0644", "root:root",
		          "mesh config: trust domain, discovery address");
	}
	if (c->roles[ROLE_CITADEL] || c->roles[ROLE_ISTIOD])
		dir_step(b, "bake", "/etc/cacerts", "0750", owner);
	if (c->roles[ROLE_ETCD])
		dir_step(b, "bake", c->etcd.data_dir, "0700", "etcd:etcd");
	if (c->mesh.n_hosts) {
		step(b, "file", "boot", "/etc/hosts (managed block)");
		kv(b, "mode", "0644");
		kv(b, "owner", "root:root");
		for (unsigned i = 0; i < c->mesh.n_hosts; i++)
			kv(b, "entry", "%s %s", c->mesh.hosts[i].ip, c->mesh.hosts[i].name);
	}
}

static void plan_units(struct pb *b, const struct config *c)
{
	if (c->redirect.enabled) {
		char **flags = NULL;
		if (unit_redirect_flags(&c->redirect, &flags) < 0) {
			b->oom = true;
			return;
		}
		struct strbuf es;
		sb_init(&es);
		sb_puts(&es, MESHBOOT_PATH " redirect");
		for (char **w = flags; *w; w++) {
			sb_putc(&es, ' ');
			unit_quote_arg(&es, *w);
		}
		step(b, "unit", "bake", "/etc/systemd/system/%s", unit_name_any(UNIT_REDIRECT));
		kv(b, "mode", "0644");
		kv(b, "ExecStart", "%s", es.buf ? es.buf : "");
		kv(b, "Type", "oneshot (the rules again at every boot, before the sidecar)");
		kv(b, "Before", "istio-sidecar.service");
		kv(b, "WantedBy", "multi-user.target");
		sb_free(&es);
		strv_free(flags);
	}
	for (int r = 0; r < ROLE_MAX; r++) {
		const struct artifact *a = artifact_for(c, (enum role)r);
		if (!c->roles[r] || !a)
			continue;
		const char *unit = unit_name((enum role)r);
		step(b, "unit", "bake", "/etc/systemd/system/%s", unit);
		kv(b, "mode", "0644");
		char **argv = NULL;
		if (unit_exec_argv(c, (enum role)r, &argv) < 0) {
			b->oom = true;
			return;
		}
		struct strbuf es;
		sb_init(&es);
		for (char **w = argv; *w; w++) {
			if (w != argv)
				sb_putc(&es, ' ');
			unit_quote_arg(&es, *w);
		}
		kv(b, "ExecStart", "%s", es.buf ? es.buf : "");
		sb_free(&es);
		strv_free(argv);
		kv(b, "User", "%s", r == ROLE_ETCD ? "etcd" : c->user.name);
		kv(b, "After", "network-online.target");
		kv(b, "Restart", "on-failure");
		kv(b, "WantedBy", "multi-user.target");
	}
}

static void plan_certs(struct pb *b, const struct config *c)
{
	bool sidecar = c->roles[ROLE_SIDECAR];
	bool citadel = c->roles[ROLE_CITADEL] || c->roles[ROLE_ISTIOD];
	if (!sidecar && !citadel)
		return;
	char owner[160];
	snprintf(owner, sizeof(owner), "%s:%s", c->user.name, c->user.name);
	bool root_given = c->certs.root_pem || c->certs.root_url;
	bool mesh_ca = citadel && c->certs.ca_mode != CA_MODE_LOCAL && !root_given;
	if (c->certs.root_url) {
		step(b, "certificate", "bake", "root of trust: fetch it, pinned by its fingerprint, into the cache");
		kv(b, "url", "%s", c->certs.root_url);
		kv(b, "sha256", "%s (of the certificate's DER)", c->certs.root_sha256);
		kv(b, "cache", "/var/cache/meshboot/trust/%s.pem", c->certs.root_sha256);
	}
	if (mesh_ca) {
		step(b, "certificate", "boot", "create the mesh CA (self-signed root) unless /etc/cacerts holds one");
		kv(b, "files", "/etc/cacerts/ca-cert.pem /etc/cacerts/ca-key.pem (0600) /etc/cacerts/root-cert.pem "
		               "/etc/cacerts/cert-chain.pem");
	} else if (citadel && c->certs.ca_mode == CA_MODE_LOCAL) {
		step(b, "certificate", "boot", "install the delivered CA as Istio's plugged-in CA");
		kv(b, "files", "/etc/cacerts/ca-cert.pem /etc/cacerts/ca-key.pem (0600) /etc/cacerts/root-cert.pem "
		               "/etc/cacerts/cert-chain.pem");
	}
	step(b, "certificate", "boot", "workload identity spiffe://%s/ns/%s/sa/%s", c->mesh.trust_domain,
	     c->mesh.namespace_, c->mesh.service_account);
	kv(b, "root", "/etc/certs/root-cert.pem (0644) from %s",
	   c->certs.root_pem ? "the inline PEM" : c->certs.root_url ? c->certs.root_url :
	   mesh_ca ? "the mesh CA created here" : "the CA certificate");
	if (c->certs.root_sha256)
		kv(b, "root_sha256", "%s", c->certs.root_sha256);
	kv(b, "key", "/etc/certs/key.pem (0600 %s), %s, generated on this host; kept across this instance's boots, "
	   "replaced on a clone (recorded in /var/lib/meshboot/instance/ID/key.sha256)", owner,
	   key_type_name(c->certs.key_type));
	kv(b, "san", "URI:spiffe://%s/ns/%s/sa/%s", c->mesh.trust_domain, c->mesh.namespace_,
	   c->mesh.service_account);
	for (unsigned i = 0; i < c->certs.n_dns_names; i++)
		kv(b, "san", "DNS:%s", c->certs.dns_names[i]);
	for (unsigned i = 0; i < c->certs.n_ip_addresses; i++)
		kv(b, "san", "IP:%s", c->certs.ip_addresses[i]);
	kv(b, "csr", "/etc/certs/csr.pem (0644)");
	kv(b, "lifetime_hours", "%u", c->certs.lifetime_hours);
	kv(b, "check", "the chain verifies to the root, is for the key, carries only this SPIFFE ID; else nothing is written");
	switch (c->certs.ca_mode) {
	case CA_MODE_LOCAL:
		kv(b, "ca", "local: signed here with the delivered CA (%s)",
		   c->certs.ca_cert_file ? c->certs.ca_cert_file : "inline certificate");
		kv(b, "cert", "/etc/certs/cert-chain.pem (0644)");
		break;
	case CA_MODE_ISTIO:
		kv(b, "ca", "istio: IstioCertificateService/CreateCertificate at %s", c->certs.ca_address);
		kv(b, "token", "%s", c->certs.token_file ? c->certs.token_file : "inline (not shown)");
		kv(b, "cert", "/etc/certs/cert-chain.pem (0644)");
		break;
	default:
		if (mesh_ca) {
			kv(b, "ca", "the mesh CA on this host");
			kv(b, "cert", "/etc/certs/cert-chain.pem (0644)");
		} else {
			kv(b, "ca", "none: CSR left at /etc/certs/csr.pem for an external signer");
		}
	}
}

static void plan_redirect(struct pb *b, const struct config *c)
{
	if (!c->redirect.enabled)
		return;
	static const int fams[] = { AF_INET, AF_INET6 };
	for (size_t i = 0; i < ELEMENTSOF(fams); i++) {
		if (fams[i] == AF_INET6 && !c->redirect.ipv6)
			continue;
		struct ruleset rs;
		int r = ruleset_build(&c->redirect, fams[i], &rs);
		if (r < 0) {
			if (r == -ENOMEM)
				b->oom = true;
			step(b, "redirect", "boot", "redirect rules (%s): cannot be built: %s",
			     fams[i] == AF_INET ? "IPv4" : "IPv6", strerror(-r));
			continue;
		}
		struct strbuf sb;
		sb_init(&sb);
		ruleset_render_save(&rs, &sb);
		ruleset_render_iproute(&rs, &sb);
		step(b, "redirect", "boot", "%s rules (libiptc, one commit per table)",
		     fams[i] == AF_INET ? "iptables" : "ip6tables");
		kv(b, "family", "%s", fams[i] == AF_INET ? "ipv4" : "ipv6");
		kv(b, "mode", "%s", c->redirect.mode == INTERCEPT_TPROXY ? "TPROXY" : "REDIRECT");
		kv(b, "when", "/etc/certs/cert-chain.pem exists (no certificate, no sidecar to send traffic to)");
		if (sb_ok(&sb) < 0)
			b->oom = true;
		else
			block(b, sb.buf ? sb.buf : "");
		sb_free(&sb);
		ruleset_free(&rs);
	}
}

static void plan_enable(struct pb *b, const struct config *c)
{
	struct strbuf sb;
	sb_init(&sb);
	if (c->redirect.enabled)
		sb_puts(&sb, unit_name_any(UNIT_REDIRECT));
	for (int r = 0; r < ROLE_MAX; r++)
		if (c->roles[r] && artifact_for(c, (enum role)r))
			sb_printf(&sb, "%s%s", sb.len ? " " : "", unit_name((enum role)r));
	if (sb.len) {
		step(b, "enable", "boot", "enable%s units", c->systemd_start ? " and start" : "");
		kv(b, "units", "%s", sb.buf);
		kv(b, "start", "%s", c->systemd_start ? "yes (live systemd only)" : "no");
	}
	sb_free(&sb);
}

int plan_build(const struct config *c, const char *root, struct plan *out)
{
	memset(out, 0, sizeof(*out));
	struct pb b = { .p = out };
	struct strbuf roles;
	sb_init(&roles);
	for (int r = 0; r < ROLE_MAX; r++)
		if (c->roles[r])
			sb_printf(&roles, "%s%s", roles.len ? ", " : "", role_name((enum role)r));
	out->roles = sb_steal(&roles);
	if (!out->roles)
		b.oom = true;
	plan_fetch(&b, c, root);
	plan_users(&b, c);
	plan_files(&b, c);
	plan_units(&b, c);
	plan_certs(&b, c);
	plan_redirect(&b, c);
	plan_enable(&b, c);
	step(&b, "record", "boot", "/var/lib/meshboot/status.json");
	kv(&b, "mode", "0644");
	kv(&b, "run_once", "/var/lib/meshboot/instance/<instance-id>/done");
	if (b.oom) {
		plan_free(out);
		return -ENOMEM;
	}
	return 0;
}

int plan_render_text(const struct plan *p, struct strbuf *out)
{
	sb_printf(out, "Plan for roles: %s (%u steps)\n", p->roles, p->n);
	for (unsigned i = 0; i < p->n; i++) {
		const struct plan_step *s = &p->v[i];
		sb_printf(out, "\n%2u. [%s] %s: %s\n", i + 1, s->stage, s->kind, s->title);
		size_t w = 0;
		for (unsigned k = 0; k < s->n_kv; k++)
			if (strlen(s->kv[k].key) > w)
				w = strlen(s->kv[k].key);
		for (unsigned k = 0; k < s->n_kv; k++)
			sb_printf(out, "      %-*s  %s\n", (int)w + 1, s->kv[k].key, s->kv[k].val);
		if (s->block && *s->block) {
			const char *l = s->block;
			while (*l) {
				size_t n = strcspn(l, "\n");
				sb_printf(out, "      | %.*s\n", (int)n, l);
				l += n;
				if (*l)
					l++;
			}
		}
	}
	return sb_ok(out);
}

int plan_render_json(const struct plan *p, struct strbuf *out)
{
	sb_puts(out, "{\"roles\":[");
	/* roles as an array: split the joined list */
	const char *r = p->roles;
	bool first = true;
	while (r && *r) {
		size_t n = strcspn(r, ",");
		char name[32];
		snprintf(name, sizeof(name), "%.*s", (int)n, r);
		sb_puts(out, first ? "" : ",");
		sb_json_str(out, name);
		first = false;
		r += n;
		while (*r == ',' || *r == ' ')
			r++;
	}
	sb_puts(out, "],\"steps\":[");
	for (unsigned i = 0; i < p->n; i++) {
		const struct plan_step *s = &p->v[i];
		sb_puts(out, i ? ",\n{" : "\n{");
		sb_puts(out, "\"kind\":");
		sb_json_str(out, s->kind);
		sb_puts(out, ",\"stage\":");
		sb_json_str(out, s->stage);
		sb_puts(out, ",\"title\":");
		sb_json_str(out, s->title);
		sb_puts(out, ",\"details\":[");
		for (unsigned k = 0; k < s->n_kv; k++) {
			sb_puts(out, k ? ",[" : "[");
			sb_json_str(out, s->kv[k].key);
			sb_putc(out, ',');
			sb_json_str(out, s->kv[k].val);
			sb_putc(out, ']');
		}
		sb_putc(out, ']');
		if (s->block) {
			sb_puts(out, ",\"text\":");
			sb_json_str(out, s->block);
		}
		sb_putc(out, '}');
	}
	sb_puts(out, "\n]}\n");
	return sb_ok(out);
}
