/* SPDX-License-Identifier: Apache-2.0 */
#include "layout.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#define HEADER "# Written by meshboot from the instance's configuration; changes here are replaced.\n"

int layout_dirs_ensure(const char *root, uid_t uid, gid_t gid)
{
	static const struct {
		const char *path;
		mode_t mode;
		bool proxy;
	} dirs[] = {
		{ "/var/lib/istio", 0755, false },
		{ "/var/lib/istio/envoy", 0755, true },
		{ "/var/log/istio", 0755, true },
		{ "/etc/istio", 0755, false },
		{ "/etc/istio/config", 0755, false },
	};
	int changed = 0;
	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		int r = root_dir_ensure(root, dirs[i].path, dirs[i].mode, dirs[i].proxy ? uid : 0,
		                        dirs[i].proxy ? gid : 0);
		if (r < 0)
			return r;
		changed |= r;
	}
	return changed;
}

/* KEY=value for systemd's EnvironmentFile= and a shell's ".": values are
 * validated (no control characters); anything but [A-Za-z0-9,./:*_@+-]
 * gets double quotes with \ and " escaped. */
static void env_put(struct strbuf *sb, const char *key, const char *val)
{
	bool plain = true;
	for (const char *p = val; *p && plain; p++)
		plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,./:*_@+-", *p) != NULL;
	if (plain) {
		sb_printf(sb, "%s=%s\n", key, val);
		return;
	}
	sb_printf(sb, "%s=\"", key);
	for (const char *p = val; *p; p++) {
		if (*p == '"' || *p == '\\' || *p == '$' || *p == '`')
			sb_putc(sb, '\\');
		sb_putc(sb, *p);
	}
	sb_puts(sb, "\"\n");
}

static void ports_csv(const struct port_list *l, struct strbuf *sb)
{
	if (l->all) {
		sb_puts(sb, "*");
		return;
	}
	for (unsigned i = 0; i < l->n; i++)
		sb_printf(sb, "%s%u", i ? "," : "", l->v[i]);
}

static void cidrs_csv(const struct cidr_list *l, struct strbuf *sb)
{
	if (l->all) {
		sb_puts(sb, "*");
		return;
	}
	for (unsigned i = 0; i < l->n; i++) {
		char buf[64];
		cidr_format(&l->v[i], buf, sizeof(buf));
		sb_printf(sb, "%s%s", i ? "," : "", buf);
	}
}

static void env_list(struct strbuf *out, const char *key, void (*fmt)(const void *, struct strbuf *), const void *l)
{
	struct strbuf v;
	sb_init(&v);
	fmt(l, &v);
	env_put(out, key, v.buf ? v.buf : "");
	sb_free(&v);
}

static void ports_fmt(const void *l, struct strbuf *sb) { ports_csv(l, sb); }
static void cidrs_fmt(const void *l, struct strbuf *sb) { cidrs_csv(l, sb); }

void layout_cluster_env(const struct config *c, const char *ip, struct strbuf *out)
{
	const struct redirect_config *r = &c->redirect;
	sb_puts(out, HEADER);
	if (c->mesh.service_cidr)
		env_put(out, "ISTIO_SERVICE_CIDR", c->mesh.service_cidr);
	else
		env_list(out, "ISTIO_SERVICE_CIDR", cidrs_fmt, &r->outbound_cidrs);
	env_list(out, "ISTIO_INBOUND_PORTS", ports_fmt, &r->inbound_ports);
	env_list(out, "ISTIO_LOCAL_EXCLUDE_PORTS", ports_fmt, &r->exclude_inbound_ports);
	env_put(out, "ISTIO_SERVICE", c->mesh.service ? c->mesh.service : "");
	env_put(out, "ISTIO_NAMESPACE", c->mesh.namespace_);
	env_put(out, "ISTIO_SVC_IP", ip ? ip : "");
	env_put(out, "ISTIO_TRUST_DOMAIN", c->mesh.trust_domain);
	if (c->mesh.ca_address)
		env_put(out, "CA_ADDR", c->mesh.ca_address);
	if (c->mesh.discovery_address)
		env_put(out, "PILOT_ADDRESS", c->mesh.discovery_address);
}

void layout_sidecar_env(const struct config *c, struct strbuf *out)
{
	const struct redirect_config *r = &c->redirect;
	char num[32];
	sb_puts(out, HEADER);
	env_put(out, "ENVOY_USER", c->user.name);
	snprintf(num, sizeof(num), "%u", r->proxy_port);
	env_put(out, "ENVOY_PORT", num);
	snprintf(num, sizeof(num), "%u", r->inbound_capture_port);
	env_put(out, "INBOUND_CAPTURE_PORT", num);
	env_put(out, "ISTIO_INBOUND_INTERCEPTION_MODE", r->mode == INTERCEPT_TPROXY ? "TPROXY" : "REDIRECT");
	snprintf(num, sizeof(num), "%u", r->tproxy_mark);
	env_put(out, "ISTIO_INBOUND_TPROXY_MARK", num);
	snprintf(num, sizeof(num), "%u", r->tproxy_route_table);
	env_put(out, "ISTIO_INBOUND_TPROXY_ROUTE_TABLE", num);
	env_list(out, "ISTIO_SERVICE_EXCLUDE_CIDR", cidrs_fmt, &r->exclude_outbound_cidrs);
	env_list(out, "ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE", ports_fmt, &r->exclude_outbound_ports);
}

void layout_mesh_config(const struct config *c, struct strbuf *out)
{
	sb_puts(out, HEADER);
	sb_puts(out, "trustDomain: ");
	sb_json_str(out, c->mesh.trust_domain);  /* a JSON string is a YAML string */
	sb_puts(out, "\ndefaultConfig:\n  discoveryAddress: ");
	sb_json_str(out, c->mesh.discovery_address ? c->mesh.discovery_address : "");
	sb_printf(out, "\n  proxyAdminPort: 15000\n  interceptionMode: %s\n",
	          c->redirect.mode == INTERCEPT_TPROXY ? "TPROXY" : "REDIRECT");
}

int layout_files_ensure(const char *root, const struct config *c, const char *ip, uid_t uid, gid_t gid)
{
	struct strbuf sb[3];
	for (int i = 0; i < 3; i++)
		sb_init(&sb[i]);
	layout_cluster_env(c, ip, &sb[0]);
	layout_sidecar_env(c, &sb[1]);
	layout_mesh_config(c, &sb[2]);
	static const char *const paths[] = {
		"/var/lib/istio/envoy/cluster.env", "/var/lib/istio/envoy/sidecar.env", "/etc/istio/config/mesh",
	};
	int changed = 0, r = 0;
	for (int i = 0; i < 3 && r >= 0; i++) {
		if ((r = sb_ok(&sb[i])) < 0)
			break;
		bool proxy = i < 2;
		r = root_file_ensure(root, paths[i], sb[i].buf, sb[i].len, 0644, proxy ? uid : 0, proxy ? gid : 0);
		if (r > 0)
			changed = 1;
	}
	for (int i = 0; i < 3; i++)
		sb_free(&sb[i]);
	return r < 0 ? r : changed;
}

void hosts_block_apply(const char *text, size_t len, const struct host_entry *v, unsigned n, struct strbuf *out)
{
	/* every line outside our block, as it was */
	bool inside = false;
	for (size_t pos = 0; pos < len; ) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) + 1 : len;
		size_t ll = end - pos - (nl ? 1 : 0);
		if (ll == strlen(HOSTS_BEGIN) && memcmp(text + pos, HOSTS_BEGIN, ll) == 0)
			inside = true;
		else if (inside && ll == strlen(HOSTS_END) && memcmp(text + pos, HOSTS_END, ll) == 0)
			inside = false;
		else if (!inside) {
			sb_append(out, text + pos, end - pos);
			if (!nl)
				sb_putc(out, '\n');
		}
		pos = end;
	}
	if (n == 0)
		return;
	sb_puts(out, HOSTS_BEGIN "\n");
	for (unsigned i = 0; i < n; i++)
		sb_printf(out, "%s\t%s\n", v[i].ip, v[i].name);
	sb_puts(out, HOSTS_END "\n");
}

int hosts_block_ensure(const char *root, const struct host_entry *v, unsigned n)
{
	_cleanup_free_ char *old = NULL;
	size_t len = 0;
	int r = root_read_all(root, "/etc/hosts", 1u << 20, &old, &len);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == -ENOENT && n == 0)
		return 0;
	struct strbuf sb;
	sb_init(&sb);
	hosts_block_apply(old ? old : "", len, v, n, &sb);
	r = sb_ok(&sb);
	if (r == 0)
		r = root_file_ensure(root, "/etc/hosts", sb.buf ? sb.buf : "", sb.len, 0644, 0, 0);
	sb_free(&sb);
	return r;
}

int address_detect(char *out, size_t len)
{
	char ifname[IFNAMSIZ] = "";
	_cleanup_free_ char *routes = NULL;
	size_t rl;
	if (file_read_all("/proc/net/route", 1u << 20, &routes, &rl) == 0) {
		/* Iface Destination Gateway ...: the default route has Destination 00000000 */
		for (char *save = NULL, *line = strtok_r(routes, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char name[IFNAMSIZ + 1] = "", dest[16];
			if (sscanf(line, "%16s %15s", name, dest) == 2 && strcmp(dest, "00000000") == 0) {
				name[IFNAMSIZ - 1] = '\0';
				memcpy(ifname, name, IFNAMSIZ);
				break;
			}
		}
	}
	struct ifaddrs *ifa = NULL;
	if (getifaddrs(&ifa) < 0)
		return -errno;
	int r = -ENOENT;
	for (int pass = 0; pass < 2 && r < 0; pass++) {
		for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
			if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK))
				continue;
			if (pass == 0 && (!ifname[0] || strcmp(i->ifa_name, ifname) != 0))
				continue;
			const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)i->ifa_addr;
			if (inet_ntop(AF_INET, &sin->sin_addr, out, (socklen_t)len))
				r = 0;
			break;
		}
	}
	freeifaddrs(ifa);
	return r;
}
