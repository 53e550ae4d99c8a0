/* SPDX-License-Identifier: Apache-2.0 */
#include "unit.h"

#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

const char *unit_name(enum role r)
{
	static const char *const units[ROLE_MAX + 1] = {
		[ROLE_SIDECAR] = "istio-sidecar.service", [ROLE_PILOT] = "istio-pilot.service",
		[ROLE_MIXER] = "istio-mixer.service", [ROLE_CITADEL] = "istio-citadel.service",
		[ROLE_APISERVER] = "istio-apiserver.service", [ROLE_ETCD] = "istio-etcd.service",
		[ROLE_ISTIOD] = "istiod.service", [ROLE_MAX] = "meshboot-redirect.service",
	};
	return (unsigned)r <= ROLE_MAX ? units[r] : "?";
}

const char *unit_name_any(int role_or_redirect)
{
	return role_or_redirect < 0 ? "?" : unit_name((enum role)role_or_redirect);
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

/* ---- the redirect unit's command line ------------------------------------ */

static void ports_word(struct strbuf *sb, const struct port_list *l)
{
	if (l->all) {
		sb_putc(sb, '*');
		return;
	}
	for (unsigned i = 0; i < l->n; i++)
		sb_printf(sb, "%s%u", i ? "," : "", l->v[i]);
}

static void cidrs_word(struct strbuf *sb, const struct cidr_list *l)
{
	if (l->all) {
		sb_putc(sb, '*');
		return;
	}
	for (unsigned i = 0; i < l->n; i++) {
		char buf[64];
		cidr_format(&l->v[i], buf, sizeof(buf));
		sb_printf(sb, "%s%s", i ? "," : "", buf);
	}
}

static void ids_word(struct strbuf *sb, const uint32_t *ids, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		sb_printf(sb, "%s%u", i ? "," : "", ids[i]);
}

/* Adds FLAG and the word sb holds (consumed). */
static void argv_flag(struct argv_builder *b, const char *flag, struct strbuf *sb)
{
	argv_add(b, "%s", flag);
	if (sb_ok(sb) < 0)
		b->oom = true;
	else
		argv_add(b, "%s", sb->buf ? sb->buf : "");
	sb_free(sb);
	sb_init(sb);
}

int unit_redirect_flags(const struct redirect_config *rc, char ***argv)
{
	struct argv_builder b = { 0 };
	struct strbuf sb;
	sb_init(&sb);
	for (unsigned i = 0; i < rc->n_virtual_interfaces; i++)
		if (strchr(rc->virtual_interfaces[i], ','))
			return -EINVAL;
	argv_add(&b, "-p");
	argv_add(&b, "%u", rc->proxy_port);
	argv_add(&b, "-z");
	argv_add(&b, "%u", rc->inbound_capture_port);
	ids_word(&sb, rc->proxy_uids, rc->n_proxy_uids);
	argv_flag(&b, "-u", &sb);
	ids_word(&sb, rc->proxy_gids, rc->n_proxy_gids);
	argv_flag(&b, "-g", &sb);
	argv_add(&b, "-m");
	argv_add(&b, "%s", rc->mode == INTERCEPT_TPROXY ? "TPROXY" : "REDIRECT");
	/* -b and -i always: the script's defaults (empty) are not the
	 * configuration's ("*"). */
	ports_word(&sb, &rc->inbound_ports);
	argv_flag(&b, "-b", &sb);
	if (rc->exclude_inbound_ports.n) {
		ports_word(&sb, &rc->exclude_inbound_ports);
		argv_flag(&b, "-d", &sb);
	}
	cidrs_word(&sb, &rc->outbound_cidrs);
	argv_flag(&b, "-i", &sb);
	if (rc->exclude_outbound_cidrs.n) {
		cidrs_word(&sb, &rc->exclude_outbound_cidrs);
		argv_flag(&b, "-x", &sb);
	}
	if (rc->exclude_outbound_ports.n) {
		ports_word(&sb, &rc->exclude_outbound_ports);
		argv_flag(&b, "-o", &sb);
	}
	if (rc->n_virtual_interfaces) {
		for (unsigned i = 0; i < rc->n_virtual_interfaces; i++)
			sb_printf(&sb, "%s%s", i ? "," : "", rc->virtual_interfaces[i]);
		argv_flag(&b, "-k", &sb);
	}
	if (!rc->ipv6)
		argv_add(&b, "--no-ipv6");
	sb_free(&sb);
	if (b.oom || !b.v) {
		strv_free(b.v);
		return -ENOMEM;
	}
	*argv = b.v;
	return 0;
}

int unit_redirect_env(const struct redirect_config *rc, char ***env)
{
	struct argv_builder b = { 0 };
	/* An empty vector is still a vector. */
	b.v = calloc(1, sizeof(*b.v));
	b.cap = b.v ? 1 : 0;
	b.oom = !b.v;
	if (rc->tproxy_mark != 1337)
		argv_add(&b, "ISTIO_INBOUND_TPROXY_MARK=%u", rc->tproxy_mark);
	if (rc->tproxy_route_table != 133)
		argv_add(&b, "ISTIO_INBOUND_TPROXY_ROUTE_TABLE=%u", rc->tproxy_route_table);
	if (!rc->loopback_redirect)
		argv_add(&b, "DISABLE_REDIRECTION_ON_LOCAL_LOOPBACK=1");
	if (b.oom) {
		strv_free(b.v);
		return -ENOMEM;
	}
	*env = b.v;
	return 0;
}

/* ---- unit text ------------------------------------------------------------ */

static bool role_here(const struct config *c, enum role r)
{
	return c->roles[r] && artifact_for(c, r);
}

/* User and group names as systemd takes them (and no specifier). */
static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 31 || s[0] == '-' || s[0] == '.' || strspn(s, "0123456789") == n)
		return false;
	for (const char *p = s; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", *p))
			return false;
	return true;
}

/* A path that a directive takes as one unquoted word. */
static bool path_ok(const char *s)
{
	if (s[0] != '/')
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || strchr("\"'\\", *p) || *p == 0x7f)
			return false;
	return true;
}

/* A value with systemd's specifiers (%) escaped. */
static void put_value(struct strbuf *sb, const char *s)
{
	for (; *s; s++) {
		if (*s == '%')
			sb_putc(sb, '%');
		sb_putc(sb, *s);
	}
}

static void put_argv(struct strbuf *sb, char **argv)
{
	for (char **w = argv; *w; w++) {
		if (w != argv)
			sb_putc(sb, ' ');
		unit_quote_arg(sb, *w);
	}
}

struct hardening {
	const char *caps;      /* CapabilityBoundingSet= */
	const char *ambient;   /* AmbientCapabilities= */
	const char *families;  /* RestrictAddressFamilies= */
	bool private_users;
	bool proc_subset;      /* ProcSubset=pid */
	bool ip_deny;          /* IPAddressDeny=any */
};

/* The sandbox; each line is explained in meshboot(8), UNIT HARDENING. */
static void put_hardening(struct strbuf *sb, const struct hardening *h)
{
	sb_puts(sb, "UMask=0077\n"
	            "NoNewPrivileges=yes\n");
	sb_printf(sb, "CapabilityBoundingSet=%s\n", h->caps);
	sb_printf(sb, "AmbientCapabilities=%s\n", h->ambient);
	if (h->private_users)
		sb_puts(sb, "PrivateUsers=yes\n");
	sb_puts(sb, "ProtectSystem=strict\n"
	            "ProtectHome=yes\n"
	            "PrivateTmp=yes\n"
	            "PrivateDevices=yes\n"
	            "DevicePolicy=closed\n"
	            "PrivateIPC=yes\n"
	            "PrivateMounts=yes\n"
	            "ProtectKernelTunables=yes\n"
	            "ProtectKernelModules=yes\n"
	            "ProtectKernelLogs=yes\n"
	            "ProtectControlGroups=yes\n"
	            "ProtectClock=yes\n"
	            "ProtectHostname=yes\n"
	            "ProtectProc=invisible\n");
	if (h->proc_subset)
		sb_puts(sb, "ProcSubset=pid\n");
	sb_printf(sb, "RestrictAddressFamilies=%s\n", h->families);
	if (h->ip_deny)
		sb_puts(sb, "IPAddressDeny=any\n");
	sb_puts(sb, "RestrictNamespaces=yes\n"
	            "RestrictRealtime=yes\n"
	            "RestrictSUIDSGID=yes\n"
	            "LockPersonality=yes\n"
	            "MemoryDenyWriteExecute=yes\n"
	            "KeyringMode=private\n"
	            "RemoveIPC=yes\n"
	            "SystemCallArchitectures=native\n"
	            "SystemCallFilter=@system-service\n"
	            "SystemCallFilter=~@privileged @resources\n"
	            "SystemCallErrorNumber=EPERM\n");
}

static const char *const descriptions[ROLE_MAX + 1] = {
	[ROLE_SIDECAR] = "Istio sidecar proxy (pilot-agent and Envoy)",
	[ROLE_PILOT] = "Istio Pilot (service discovery and proxy configuration)",
	[ROLE_MIXER] = "Istio Mixer (policy and telemetry)",
	[ROLE_CITADEL] = "Istio Citadel (mesh certificate authority)",
	[ROLE_APISERVER] = "Kubernetes API server for the Istio control plane",
	[ROLE_ETCD] = "etcd for the Istio control plane",
	[ROLE_ISTIOD] = "Istio control plane (istiod)",
	[ROLE_MAX] = "Send this host's TCP traffic through the Istio sidecar (iptables)",
};

/* Where the units that come before role r on this host are. */
static void put_after(struct strbuf *sb, const struct config *c, enum role r)
{
	static const enum role tier0[] = { ROLE_ETCD };
	static const enum role tier1[] = { ROLE_ETCD, ROLE_APISERVER };
	static const enum role tier3[] = { ROLE_PILOT, ROLE_MIXER, ROLE_CITADEL, ROLE_ISTIOD };
	const enum role *before = NULL;
	size_t n = 0;
	switch (r) {
	case ROLE_APISERVER:
		before = tier0, n = ELEMENTSOF(tier0);
		break;
	case ROLE_PILOT:
	case ROLE_MIXER:
	case ROLE_CITADEL:
	case ROLE_ISTIOD:
		before = tier1, n = ELEMENTSOF(tier1);
		break;
	case ROLE_SIDECAR:
		before = tier3, n = ELEMENTSOF(tier3);
		break;
	default:
		break;
	}
	sb_puts(sb, "After=network-online.target");
	for (size_t i = 0; i < n; i++)
		if (role_here(c, before[i]))
			sb_printf(sb, " %s", unit_name(before[i]));
	if (r == ROLE_SIDECAR && c->redirect.enabled)
		sb_printf(sb, " %s", unit_name((enum role)UNIT_REDIRECT));
	sb_putc(sb, '\n');
}

/* The sidecar cannot start without its certificate (certs.ca.mode none
 * until the external signer delivers it), and traffic must not be sent to
 * a sidecar that is not running: both units wait for the file. */
#define CERT_CONDITION "# no certificate yet (an external signer's, certs.ca.mode none): neither sidecar nor redirect\n" \
                       "ConditionPathExists=/etc/certs/cert-chain.pem\n"

static int render_redirect(const struct config *c, struct strbuf *sb, char *err, size_t errlen)
{
	char **flags = NULL, **env = NULL;
	int r = unit_redirect_flags(&c->redirect, &flags);
	if (r == -EINVAL)
		return err_fmt(err, errlen, r, "redirect.virtual_interfaces: a name holding a comma cannot be passed to -k");
	if (r < 0 || (r = unit_redirect_env(&c->redirect, &env)) < 0) {
		strv_free(flags);
		return err_fmt(err, errlen, r, "out of memory");
	}
	sb_printf(sb, "Before=%s\n", unit_name(ROLE_SIDECAR));
	sb_puts(sb, CERT_CONDITION);
	sb_puts(sb, "\n[Service]\n"
	            "Type=oneshot\n"
	            "RemainAfterExit=yes\n");
	for (char **e = env; *e; e++)
		sb_printf(sb, "Environment=%s\n", *e);
	/* The sandbox mounts /run read-only: the xtables lock (shared with the
	 * iptables program) must exist before the command starts. */
	sb_puts(sb, "ExecStartPre=+/bin/touch /run/xtables.lock\n");
	sb_puts(sb, "ExecStart=" MESHBOOT_PATH " redirect ");
	put_argv(sb, flags);
	sb_puts(sb, "\nExecStop=" MESHBOOT_PATH " redirect ");
	put_argv(sb, flags);
	sb_puts(sb, " clean\n"
	            "Restart=on-failure\n"
	            "RestartSec=5s\n"
	            "RestartPreventExitStatus=64 65 78\n"
	            "RuntimeDirectory=meshboot\n"
	            "RuntimeDirectoryPreserve=yes\n"
	            "ReadWritePaths=-/run/xtables.lock\n");
	put_hardening(sb, &(const struct hardening){
		.caps = "CAP_NET_ADMIN CAP_NET_RAW",
		.ambient = "",
		.families = "AF_INET AF_INET6 AF_NETLINK",
		.private_users = false,
		.proc_subset = true,
		.ip_deny = true,
	});
	strv_free(flags);
	strv_free(env);
	return 0;
}

static int render_role(const struct config *c, enum role r, struct strbuf *sb, char *err, size_t errlen)
{
	const char *user = r == ROLE_ETCD ? "etcd" : c->user.name;
	if (!name_ok(user))
		return err_fmt(err, errlen, -EINVAL, "user.name \"%.40s\" is not a user name systemd accepts "
		               "(letters, digits, _ . -; at most 31)", user);
	if (r == ROLE_ETCD && !path_ok(c->etcd.data_dir))
		return err_fmt(err, errlen, -EINVAL, "etcd.data_dir \"%.200s\": a path with spaces, quotes or "
		               "backslashes cannot be given to ReadWritePaths=", c->etcd.data_dir);
	char **argv = NULL;
	int k = unit_exec_argv(c, r, &argv);
	if (k < 0)
		return err_fmt(err, errlen, k, k == -EINVAL ? "the %s role has no artifact" : "out of memory",
		               role_name(r));
	bool tproxy = r == ROLE_SIDECAR && c->redirect.enabled && c->redirect.mode == INTERCEPT_TPROXY;
	if (r == ROLE_SIDECAR && c->redirect.enabled)
		sb_printf(sb, "Requires=%s\n", unit_name((enum role)UNIT_REDIRECT));
	if (r == ROLE_SIDECAR)
		sb_puts(sb, CERT_CONDITION);
	sb_puts(sb, "\n[Service]\nType=simple\nUser=");
	put_value(sb, user);
	sb_puts(sb, "\nGroup=");
	put_value(sb, user);
	sb_puts(sb, "\nExecStart=");
	put_argv(sb, argv);
	strv_free(argv);
	sb_puts(sb, "\nRestart=on-failure\n"
	            "RestartSec=5s\n");
	switch (r) {
	case ROLE_SIDECAR:
		sb_puts(sb, "EnvironmentFile=-/var/lib/istio/envoy/cluster.env\n"
		            "EnvironmentFile=-/var/lib/istio/envoy/sidecar.env\n"
		            "LimitNOFILE=65536\n"
		            "StateDirectory=istio\n"
		            "LogsDirectory=istio\n"
		            "ReadWritePaths=-/etc/istio/proxy\n");
		break;
	case ROLE_ETCD:
		sb_puts(sb, "ReadWritePaths=");
		put_value(sb, c->etcd.data_dir);
		sb_putc(sb, '\n');
		break;
	case ROLE_APISERVER:
		/* --cert-dir: the self-signed serving certificate. */
		sb_puts(sb, "RuntimeDirectory=kubernetes\n");
		break;
	default: {
		const char *dir = r == ROLE_ISTIOD ? "istiod" : unit_name(r);
		size_t n = strcspn(dir, ".");
		sb_printf(sb, "StateDirectory=%.*s\nWorkingDirectory=/var/lib/%.*s\n", (int)n, dir, (int)n, dir);
		break;
	}
	}
	put_hardening(sb, &(const struct hardening){
		.caps = tproxy ? "CAP_NET_ADMIN" : "",
		.ambient = tproxy ? "CAP_NET_ADMIN" : "",
		/* AF_NETLINK: getifaddrs(3) and Go's net.Interfaces, with
		 * which Envoy, pilot-agent and istiod find the host's address. */
		.families = "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
		/* In a user namespace CAP_NET_ADMIN would not reach the
		 * host's network namespace. */
		.private_users = !tproxy,
		/* kube-apiserver finds its advertised address in /proc/net/route. */
		.proc_subset = r != ROLE_APISERVER,
		.ip_deny = false,
	});
	return 0;
}

static int render(const struct config *c, int which, struct strbuf *out, char *err, size_t errlen)
{
	if (which < 0 || which > UNIT_REDIRECT)
		return err_fmt(err, errlen, -EINVAL, "no unit %d", which);
	if (which == UNIT_REDIRECT && !c->redirect.enabled)
		return err_fmt(err, errlen, -EINVAL, "the configuration does not enable the redirect");
	struct strbuf sb;
	sb_init(&sb);
	sb_printf(&sb, "# %s: written by meshboot from its configuration; the next run replaces it.\n"
	               "[Unit]\n"
	               "Description=%s\n"
	               "Documentation=man:meshboot(8)\n"
	               "Wants=network-online.target\n",
	          unit_name((enum role)which), descriptions[which]);
	put_after(&sb, c, (enum role)which);
	int r = which == UNIT_REDIRECT ? render_redirect(c, &sb, err, errlen)
	                               : render_role(c, (enum role)which, &sb, err, errlen);
	sb_puts(&sb, "\n[Install]\nWantedBy=multi-user.target\n");
	if (r == 0 && (r = sb_ok(&sb)) < 0)
		err_fmt(err, errlen, r, "out of memory");
	if (r == 0)
		sb_append(out, sb.buf, sb.len);
	sb_free(&sb);
	return r == 0 ? sb_ok(out) : r;
}

int unit_render(const struct config *c, int role_or_redirect, struct strbuf *out)
{
	return render(c, role_or_redirect, out, NULL, 0);
}

/* ---- install, remove ------------------------------------------------------ */

#define UNIT_DIR "/etc/systemd/system"
#define WANTS_DIR UNIT_DIR "/multi-user.target.wants"
#define UNIT_MAX_SIZE (1u << 20)

/* 1: dfd/name is a regular file holding exactly text with mode 0644;
 * 0: it is not (absent, other bytes, other mode); negative errno. */
static int file_same(int dfd, const char *name, const struct strbuf *text)
{
	_cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EEXIST;
	if ((st.st_mode & 07777) != 0644 || (size_t)st.st_size != text->len)
		return 0;
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = fd_read_all(fd, UNIT_MAX_SIZE, &buf, &len);
	if (r < 0)
		return r;
	return len == text->len && memcmp(buf, text->buf, len) == 0;
}

/* 1: dfd/name is a symlink to target; 0: absent; -EEXIST: something else. */
static int link_same(int dfd, const char *name, const char *target)
{
	char buf[PATH_MAX];
	ssize_t n = readlinkat(dfd, name, buf, sizeof(buf) - 1);
	if (n < 0)
		return errno == ENOENT ? 0 : errno == EINVAL ? -EEXIST : -errno;
	buf[n] = '\0';
	return strcmp(buf, target) == 0 ? 1 : 2;
}

/* Make dfd/name a symlink to target, replacing a symlink atomically. */
static int link_write(int dfd, const char *name, const char *target)
{
	char tmp[300];
	int r = -EEXIST;
	dirfd_tmp_stale_remove(dfd, name);
	for (int attempt = 0; attempt < 16 && r == -EEXIST; attempt++) {
		snprintf(tmp, sizeof(tmp), ".%.200s.%08x.tmp", name, (unsigned)getpid() * 2654435761u + (unsigned)attempt);
		r = symlinkat(target, dfd, tmp) < 0 ? -errno : 0;
	}
	if (r < 0)
		return r;
	if (renameat(dfd, tmp, dfd, name) < 0) {
		r = -errno;
		unlinkat(dfd, tmp, 0);
		return r;
	}
	return fsync(dfd) < 0 ? -errno : 0;
}

int unit_write(const char *root, const struct config *c, int role_or_redirect, char *err, size_t errlen)
{
	const char *name = unit_name((enum role)role_or_redirect);
	_cleanup_sb_ struct strbuf text;
	sb_init(&text);
	char why[300] = "";
	int r = render(c, role_or_redirect, &text, why, sizeof(why));
	if (r < 0)
		return err_fmt(err, errlen, r, "%s", why[0] ? why : strerror(-r));

	_cleanup_close_ int dfd = root_mkdir_p(root, UNIT_DIR, 0755);
	if (dfd < 0)
		return err_fmt(err, errlen, dfd, "%s: cannot make %s: %s", name, UNIT_DIR, strerror(-dfd));
	r = file_same(dfd, name, &text);
	if (r == -EEXIST)
		return err_fmt(err, errlen, r, "%s/%s exists and is not a regular file (masked?); not replacing it",
		               UNIT_DIR, name);
	if (r < 0)
		return err_fmt(err, errlen, r, "cannot read %s/%s: %s", UNIT_DIR, name, strerror(-r));
	if (r == 1)
		return 0;
	r = dirfd_write_atomic(dfd, name, text.buf, text.len, 0644);
	if (r < 0)
		return err_fmt(err, errlen, r, "cannot write %s/%s: %s", UNIT_DIR, name, strerror(-r));
	return 1;
}

int unit_enable(const char *root, int role_or_redirect, char *err, size_t errlen)
{
	const char *name = unit_name((enum role)role_or_redirect);
	_cleanup_close_ int wfd = root_mkdir_p(root, WANTS_DIR, 0755);
	if (wfd < 0)
		return err_fmt(err, errlen, wfd, "%s: cannot make %s: %s", name, WANTS_DIR, strerror(-wfd));
	char target[256];
	snprintf(target, sizeof(target), "%s/%s", UNIT_DIR, name);
	int r = link_same(wfd, name, target);
	if (r == -EEXIST)
		return err_fmt(err, errlen, r, "%s/%s exists and is not a symbolic link; not replacing it", WANTS_DIR,
		               name);
	if (r < 0)
		return err_fmt(err, errlen, r, "cannot read %s/%s: %s", WANTS_DIR, name, strerror(-r));
	if (r == 1)
		return 0;
	r = link_write(wfd, name, target);
	if (r < 0)
		return err_fmt(err, errlen, r, "cannot link %s/%s: %s", WANTS_DIR, name, strerror(-r));
	return 1;
}

int unit_install(const char *root, const struct config *c, int role_or_redirect, char *err, size_t errlen)
{
	int a = unit_write(root, c, role_or_redirect, err, errlen);
	if (a < 0)
		return a;
	int b = unit_enable(root, role_or_redirect, err, errlen);
	if (b < 0)
		return b;
	return a | b;
}

/* Unlink dir/name if it is of the given kind (S_IFREG or S_IFLNK).  1 removed, 0 absent. */
static int remove_entry(const char *root, const char *dir, const char *name, mode_t kind, char *err, size_t errlen)
{
	_cleanup_close_ int dfd = root_open(root, dir, O_RDONLY | O_DIRECTORY, 0);
	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return err_fmt(err, errlen, dfd, "cannot open %s: %s", dir, strerror(-dfd));
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		int r = -errno;
		return r == -ENOENT ? 0 : err_fmt(err, errlen, r, "cannot stat %s/%s: %s", dir, name, strerror(-r));
	}
	if ((st.st_mode & S_IFMT) != kind)
		return err_fmt(err, errlen, -EEXIST, "%s/%s is not a %s; leaving it", dir, name,
		               kind == S_IFLNK ? "symbolic link" : "regular file");
	if (unlinkat(dfd, name, 0) < 0) {
		int r = -errno;
		return err_fmt(err, errlen, r, "cannot remove %s/%s: %s", dir, name, strerror(-r));
	}
	if (fsync(dfd) < 0) {
		int r = -errno;
		return err_fmt(err, errlen, r, "cannot sync %s: %s", dir, strerror(-r));
	}
	return 1;
}

int unit_disable(const char *root, int role_or_redirect, char *err, size_t errlen)
{
	if (role_or_redirect < 0 || role_or_redirect > UNIT_REDIRECT)
		return err_fmt(err, errlen, -EINVAL, "no unit %d", role_or_redirect);
	return remove_entry(root, WANTS_DIR, unit_name((enum role)role_or_redirect), S_IFLNK, err, errlen);
}

int unit_remove(const char *root, int role_or_redirect, char *err, size_t errlen)
{
	if (role_or_redirect < 0 || role_or_redirect > UNIT_REDIRECT)
		return err_fmt(err, errlen, -EINVAL, "no unit %d", role_or_redirect);
	const char *name = unit_name((enum role)role_or_redirect);
	int a = remove_entry(root, WANTS_DIR, name, S_IFLNK, err, errlen);
	if (a < 0)
		return a;
	int b = remove_entry(root, UNIT_DIR, name, S_IFREG, err, errlen);
	if (b < 0)
		return b;
	return a || b;
}

unsigned unit_list(const struct config *c, int *out)
{
	unsigned n = 0;
	if (c->redirect.enabled)
		out[n++] = UNIT_REDIRECT;
	for (int r = 0; r < ROLE_MAX; r++)
		if (c->roles[r] && artifact_for(c, (enum role)r))
			out[n++] = r;
	return n;
}
