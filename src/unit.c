/* SPDX-License-Identifier: Apache-2.0 */
#include "unit.h"

#include <errno.h>
#include <string.h>

const char *unit_name(enum role r)
{
	static const char *const units[ROLE_MAX] = {
		[ROLE_SIDECAR] = "istio-sidecar.service", [ROLE_PILOT] = "istio-pilot.service",
		[ROLE_MIXER] = "istio-mixer.service", [ROLE_CITADEL] = "istio-citadel.service",
		[ROLE_APISERVER] = "istio-apiserver.service", [ROLE_ETCD] = "istio-etcd.service",
		[ROLE_ISTIOD] = "istiod.service",
	};
	return r < ROLE_MAX ? units[r] : "?";
}

void strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

struct argv_builder {
	char **v;
	size_t n, cap;
	bool oom;
};

static void argv_add(struct argv_builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void argv_add(struct argv_builder *b, const char *fmt, ...)
{
	if (b->oom)
		return;
	if (b->n + 2 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		char **v = realloc(b->v, cap * sizeof(*v));
		if (!v) {
			b->oom = true;
			return;
		}
		b->v = v;
		b->cap = cap;
	}
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(&b->v[b->n], fmt, ap);
	va_end(ap);
	if (r < 0) {
		b->oom = true;
		return;
	}
	b->v[++b->n] = NULL;
}

/* "http://IP:port" for the advertised URLs when none are configured. */
static void etcd_flags(struct argv_builder *b, const struct config *c)
{
	const struct etcd *e = &c->etcd;
	const char *ip = c->mesh.instance_ip ? c->mesh.instance_ip : "127.0.0.1";
	bool v6 = strchr(ip, ':') != NULL;
	argv_add(b, "--name=%s", e->name);
	argv_add(b, "--data-dir=%s", e->data_dir);
	argv_add(b, "--listen-client-urls=%s", e->listen_client_urls);
	if (e->advertise_client_urls)
		argv_add(b, "--advertise-client-urls=%s", e->advertise_client_urls);
	else
		argv_add(b, "--advertise-client-urls=http://%s%s%s:2379", v6 ? "[" : "", ip, v6 ? "]" : "");
	argv_add(b, "--listen-peer-urls=%s", e->listen_peer_urls);
	if (e->advertise_peer_urls)
		argv_add(b, "--initial-advertise-peer-urls=%s", e->advertise_peer_urls);
	else
		argv_add(b, "--initial-advertise-peer-urls=http://%s%s%s:2380", v6 ? "[" : "", ip, v6 ? "]" : "");
	if (e->n_initial_cluster) {
		struct strbuf sb;
		sb_init(&sb);
		for (unsigned i = 0; i < e->n_initial_cluster; i++)
			sb_printf(&sb, "%s%s=%s", i ? "," : "", e->initial_cluster[i].name, e->initial_cluster[i].peer_url);
		if (sb_ok(&sb) < 0)
			b->oom = true;
		else
			argv_add(b, "--initial-cluster=%s", sb.buf);
		sb_free(&sb);
	}
	argv_add(b, "--initial-cluster-state=%s", e->initial_cluster_state);
	argv_add(b, "--initial-cluster-token=%s", e->initial_cluster_token);
}

static void apiserver_flags(struct argv_builder *b, const struct config *c)
{
	const struct apiserver *a = &c->apiserver;
	struct strbuf sb;
	sb_init(&sb);
	for (unsigned i = 0; i < a->n_etcd_servers; i++)
		sb_printf(&sb, "%s%s", i ? "," : "", a->etcd_servers[i]);
	if (sb_ok(&sb) < 0)
		b->oom = true;
	else
		argv_add(b, "--etcd-servers=%s", sb.buf ? sb.buf : "");
	sb_free(&sb);
	argv_add(b, "--service-cluster-ip-range=%s", a->service_cluster_ip_range);
	argv_add(b, "--insecure-bind-address=%s", a->bind_address);
	argv_add(b, "--insecure-port=%u", a->port);
}

int unit_exec_argv(const struct config *c, enum role r, char ***argv)
{
	const struct artifact *a = artifact_for(c, r);
	struct argv_builder b = { 0 };
	if (!a)
		return -EINVAL;
	argv_add(&b, "%s/%s/current/%s", c->install_prefix, role_name(r), a->exec);
	if (r == ROLE_ETCD)
		etcd_flags(&b, c);
	else if (r == ROLE_APISERVER)
		apiserver_flags(&b, c);
	for (unsigned i = 0; i < a->n_args; i++)
		argv_add(&b, "%s", a->args[i]);
	if (b.oom) {
		strv_free(b.v);
		return -ENOMEM;
	}
	*argv = b.v;
	return 0;
}

void unit_quote_arg(struct strbuf *sb, const char *arg)
{
	bool plain = *arg != '\0';
	for (const char *p = arg; *p && plain; p++)
		plain = !strchr(" \t\"'\\;", *p) && (unsigned char)*p >= 0x21;
	if (!plain)
		sb_putc(sb, '"');
	for (const char *p = arg; *p; p++) {
		if (*p == '%')
			sb_puts(sb, "%%");
		else if (*p == '$')
			sb_puts(sb, "$$");
		else if (!plain && (*p == '"' || *p == '\\'))
			sb_printf(sb, "\\%c", *p);
		else
			sb_putc(sb, *p);
	}
	if (!plain)
		sb_putc(sb, '"');
}
