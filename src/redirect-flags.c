/* SPDX-License-Identifier: Apache-2.0 */
#include "redirect-flags.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void redirect_flags_usage(FILE *f)
{
	fprintf(f,
	        "Usage: meshboot [--root DIR] redirect [-p PORT] [-z PORT] [-u UIDS] [-g GIDS] [-m REDIRECT|TPROXY]\n"
	        "                [-b PORTS|*] [-d PORTS] [-i CIDRS|*] [-x CIDRS] [-o PORTS] [-k IFACES]\n"
	        "                [-n] [-w SECONDS] [--no-ipv6] [clean]\n"
	        "       meshboot [-c CONFIG] redirect [-n] [-w SECONDS] [clean]\n"
	        "\n"
	        "Send the host's TCP traffic through the sidecar (Istio's istio-iptables.sh rules,\n"
	        "applied with libiptc, one commit per table).  With none of the script's flags, the\n"
	        "redirect: section of the configuration is used.\n"
	        "\n"
	        "  -p PORT     proxy port for outbound traffic (ENVOY_PORT, 15001)\n"
	        "  -z PORT     inbound capture port, used with -b '*' (INBOUND_CAPTURE_PORT, 15006)\n"
	        "  -u UIDS     uids whose traffic is not captured (uid of ENVOY_USER or istio-proxy, and 0)\n"
	        "  -g GIDS     gids whose traffic is not captured (default: the uids)\n"
	        "  -m MODE     inbound interception: REDIRECT or TPROXY (ISTIO_INBOUND_INTERCEPTION_MODE)\n"
	        "  -b PORTS    inbound ports to capture, '*' for all, '' for none (ISTIO_INBOUND_PORTS)\n"
	        "  -d PORTS    inbound ports not captured under '*'; 22 always (ISTIO_LOCAL_EXCLUDE_PORTS)\n"
	        "  -i CIDRS    outbound ranges to capture, '*' for all, '' for none (ISTIO_SERVICE_CIDR)\n"
	        "  -x CIDRS    outbound ranges not captured (ISTIO_SERVICE_EXCLUDE_CIDR)\n"
	        "  -o PORTS    outbound ports not captured (ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE)\n"
	        "  -k IFACES   virtual interfaces whose inbound traffic counts as outbound\n"
	        "  -n          dry run: print the rules in iptables-save syntax, touch nothing\n"
	        "  -w SECONDS  wait at most this long for the xtables lock (default 10)\n"
	        "      --no-ipv6  leave ip6tables alone\n"
	        "  -h          this help\n"
	        "  clean       remove meshboot's chains, jumps and policy routes\n");
}


/* Comma-separated ports; "*" only where star is allowed. */
static int ports_set(struct port_list *l, const char *s, bool star, const char *flag, char *err, size_t errlen)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
	l->all = false;
	if (star && strcmp(s, "*") == 0) {
		l->all = true;
		return 0;
	}
	_cleanup_free_ char *copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		uint16_t p;
		if (port_parse(t, &p) < 0) {
			err_fmt(err, errlen, 0, "%s: \"%.40s\" is not a port (1-65535)%s", flag, t,
			        star ? ", \"*\" or empty" : "");
			return -EINVAL;
		}
		if (port_list_add(l, p) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int cidrs_set(struct cidr_list *l, const char *s, bool star, const char *flag, char *err, size_t errlen)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
	l->all = false;
	if (star && strcmp(s, "*") == 0) {
		l->all = true;
		return 0;
	}
	_cleanup_free_ char *copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		struct cidr c;
		if (cidr_parse(t, &c) < 0) {
			err_fmt(err, errlen, 0, "%s: \"%.60s\" is not a CIDR (address/prefix, host bits zero)", flag, t);
			return -EINVAL;
		}
		if (cidr_list_add(l, &c) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int ids_set(uint32_t *ids, unsigned *n, const char *s, const char *flag, char *err, size_t errlen)
{
	_cleanup_free_ char *copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	*n = 0;
	for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(t, &end, 10);
		if (errno || *end || end == t || t[0] == '-' || t[0] == '+' || v > UINT32_MAX - 1) {
			err_fmt(err, errlen, 0, "%s: \"%.40s\" is not a numeric id", flag, t);
			return -EINVAL;
		}
		if (*n >= REDIRECT_MAX_IDS) {
			err_fmt(err, errlen, 0, "%s: more than %d ids", flag, REDIRECT_MAX_IDS);
			return -EINVAL;
		}
		ids[(*n)++] = (uint32_t)v;
	}
	if (*n == 0) {
		err_fmt(err, errlen, 0, "%s: needs at least one id", flag);
		return -EINVAL;
	}
	return 0;
}

static int ifaces_set(struct redirect_config *rc, const char *s, char *err, size_t errlen)
{
	_cleanup_free_ char *copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	rc->n_virtual_interfaces = 0;
	for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (strlen(t) >= IFNAMSIZ || rc->n_virtual_interfaces >= REDIRECT_MAX_IFACES) {
			err_fmt(err, errlen, 0, "-k: \"%.40s\": interface names are at most %d characters, at most %d of them",
			        t, IFNAMSIZ - 1, REDIRECT_MAX_IFACES);
			return -EINVAL;
		}
		snprintf(rc->virtual_interfaces[rc->n_virtual_interfaces++], IFNAMSIZ, "%s", t);
	}
	return 0;
}

static int u32_env(const char *name, uint32_t def, uint32_t *out, char *err, size_t errlen)
{
	const char *v = getenv(name);
	*out = def;
	if (!v || !*v)
		return 0;
	char *end;
	errno = 0;
	unsigned long x = strtoul(v, &end, 10);
	if (errno || *end || x == 0 || x > UINT32_MAX || v[0] == '-') {
		err_fmt(err, errlen, 0, "%s=\"%.40s\" is not a positive number", name, v);
		return -EINVAL;
	}
	*out = (uint32_t)x;
	return 0;
}

/* uid of name in ROOT/etc/passwd, or -ENOENT. */
static int passwd_uid(const char *root, const char *name, uint32_t *uid)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (root_read_all(root, "/etc/passwd", 16u << 20, &buf, &len) < 0)
		return -ENOENT;
	size_t nl = strlen(name);
	for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, name, nl) != 0 || l[nl] != ':')
			continue;
		char *f = strchr(l + nl + 1, ':');
		if (!f)
			return -ENOENT;
		char *end;
		unsigned long v = strtoul(f + 1, &end, 10);
		if (*end != ':' || v > UINT32_MAX)
			return -ENOENT;
		*uid = (uint32_t)v;
		return 0;
	}
	return -ENOENT;
}

int redirect_flags_parse(int argc, char **argv, const char *root, struct redirect_config *rc,
                         struct redirect_opts *o, char *err, size_t errlen)
{
	enum { OPT_NO_IPV6 = 0x100 };
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "wait", required_argument, NULL, 'w' },
		{ "no-ipv6", no_argument, NULL, OPT_NO_IPV6 },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int r;
	memset(o, 0, sizeof(*o));
	o->wait_ms = 10000;
	err[0] = '\0';

	/* The script's defaults, from its environment variables. */
	redirect_config_init(rc);
	rc->enabled = true;
	const char *env;
	uint32_t v;
	if ((r = u32_env("ENVOY_PORT", 15001, &v, err, errlen)) < 0 || v > 65535)
		return r < 0 ? r : (err_fmt(err, errlen, 0, "ENVOY_PORT is not a port"), -EINVAL);
	rc->proxy_port = (uint16_t)v;
	if ((r = u32_env("INBOUND_CAPTURE_PORT", 15006, &v, err, errlen)) < 0 || v > 65535)
		return r < 0 ? r : (err_fmt(err, errlen, 0, "INBOUND_CAPTURE_PORT is not a port"), -EINVAL);
	rc->inbound_capture_port = (uint16_t)v;
	if ((r = u32_env("ISTIO_INBOUND_TPROXY_MARK", 1337, &rc->tproxy_mark, err, errlen)) < 0 ||
	    (r = u32_env("ISTIO_INBOUND_TPROXY_ROUTE_TABLE", 133, &rc->tproxy_route_table, err, errlen)) < 0)
		return r;
	env = getenv("ISTIO_INBOUND_INTERCEPTION_MODE");
	rc->mode = env && strcmp(env, "TPROXY") == 0 ? INTERCEPT_TPROXY : INTERCEPT_REDIRECT;
	struct {
		const char *var, *flag;
		int kind;  /* 0 ports with *, 1 ports, 2 cidrs with *, 3 cidrs */
		void *dst;
	} envs[] = {
		{ "ISTIO_INBOUND_PORTS", "ISTIO_INBOUND_PORTS", 0, &rc->inbound_ports },
		{ "ISTIO_LOCAL_EXCLUDE_PORTS", "ISTIO_LOCAL_EXCLUDE_PORTS", 1, &rc->exclude_inbound_ports },
		{ "ISTIO_SERVICE_CIDR", "ISTIO_SERVICE_CIDR", 2, &rc->outbound_cidrs },
		{ "ISTIO_SERVICE_EXCLUDE_CIDR", "ISTIO_SERVICE_EXCLUDE_CIDR", 3, &rc->exclude_outbound_cidrs },
		{ "ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE", "ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE", 1,
		  &rc->exclude_outbound_ports },
	};
	for (size_t i = 0; i < ELEMENTSOF(envs); i++) {
		env = getenv(envs[i].var);
		if (!env)
			env = "";
		r = envs[i].kind < 2 ? ports_set(envs[i].dst, env, envs[i].kind == 0, envs[i].flag, err, errlen)
		                     : cidrs_set(envs[i].dst, env, envs[i].kind == 2, envs[i].flag, err, errlen);
		if (r < 0)
			return r;
	}
	env = getenv("DISABLE_REDIRECTION_ON_LOCAL_LOOPBACK");
	rc->loopback_redirect = !(env && *env);

	bool uids_given = false, gids_given = false;
	int c;
	optind = 0;  /* glibc: 0 fully reinitialises getopt (1 would keep a half-read option cluster) */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:p:z:u:g:m:b:d:i:x:o:k:nw:h", longopts, NULL)) != -1) {
		uint16_t port;
		switch (c) {
		case 'p':
		case 'z':
			if (port_parse(optarg, &port) < 0) {
				err_fmt(err, errlen, 0, "-%c: \"%.40s\" is not a port (1-65535)", c, optarg);
				return -EINVAL;
			}
			*(c == 'p' ? &rc->proxy_port : &rc->inbound_capture_port) = port;
			o->script_flags = true;
			break;
		case 'u':
		case 'g':
			r = c == 'u' ? ids_set(rc->proxy_uids, &rc->n_proxy_uids, optarg, "-u", err, errlen)
			             : ids_set(rc->proxy_gids, &rc->n_proxy_gids, optarg, "-g", err, errlen);
			if (r < 0)
				return r;
			*(c == 'u' ? &uids_given : &gids_given) = true;
			o->script_flags = true;
			break;
		case 'm':
			if (strcmp(optarg, "REDIRECT") == 0)
				rc->mode = INTERCEPT_REDIRECT;
			else if (strcmp(optarg, "TPROXY") == 0)
				rc->mode = INTERCEPT_TPROXY;
			else {
				err_fmt(err, errlen, 0, "-m: \"%.40s\" is neither REDIRECT nor TPROXY", optarg);
				return -EINVAL;
			}
			o->script_flags = true;
			break;
		case 'b':
		case 'd':
		case 'o':
			r = ports_set(c == 'b' ? &rc->inbound_ports : c == 'd' ? &rc->exclude_inbound_ports
			                                                        : &rc->exclude_outbound_ports,
			              optarg, c == 'b', c == 'b' ? "-b" : c == 'd' ? "-d" : "-o", err, errlen);
			if (r < 0)
				return r;
			o->script_flags = true;
			break;
		case 'i':
		case 'x':
			r = cidrs_set(c == 'i' ? &rc->outbound_cidrs : &rc->exclude_outbound_cidrs, optarg, c == 'i',
			              c == 'i' ? "-i" : "-x", err, errlen);
			if (r < 0)
				return r;
			o->script_flags = true;
			break;
		case 'k':
			if ((r = ifaces_set(rc, optarg, err, errlen)) < 0)
				return r;
			o->script_flags = true;
			break;
		case 'n':
			o->dry_run = true;
			break;
		case 'w': {
			char *end;
			errno = 0;
			unsigned long s = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || s > 3600) {
				err_fmt(err, errlen, 0, "-w: \"%.40s\" is not a number of seconds (0-3600)", optarg);
				return -EINVAL;
			}
			o->wait_ms = (unsigned)s * 1000;
			break;
		}
		case OPT_NO_IPV6:
			rc->ipv6 = false;
			break;
		case 'h':
			o->help = true;
			return 0;
		case ':':
			err_fmt(err, errlen, 0, "option -%c needs a value", optopt);
			return -EINVAL;
		default:
			if (optopt)
				err_fmt(err, errlen, 0, "unknown option -%c", optopt);
			else
				err_fmt(err, errlen, 0, "unknown option %.60s", argv[optind - 1]);
			return -EINVAL;
		}
	}
	for (; optind < argc; optind++) {
		if (strcmp(argv[optind], "clean") == 0 && !o->clean) {
			o->clean = true;
			continue;
		}
		err_fmt(err, errlen, 0, "unexpected argument \"%.60s\" (only the word clean is accepted)", argv[optind]);
		return -EINVAL;
	}

	/* -u default: ENVOY_USER's (or istio-proxy's) uid, else 1337, and root. */
	if (!uids_given) {
		const char *user = getenv("ENVOY_USER");
		uint32_t uid = 1337;
		passwd_uid(root, user && *user ? user : "istio-proxy", &uid);
		rc->proxy_uids[0] = uid;
		rc->proxy_uids[1] = 0;
		rc->n_proxy_uids = 2;
	}
	if (!gids_given) {
		memcpy(rc->proxy_gids, rc->proxy_uids, sizeof(rc->proxy_gids));
		rc->n_proxy_gids = rc->n_proxy_uids;
	}
	return 0;
}
