/* SPDX-License-Identifier: Apache-2.0 */
#include "config-parse.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "userdata.h"
#include "ytree.h"

#define STR_MAX 4096          /* ordinary strings */
#define PEM_MAX 65536         /* certificates, keys */

struct pctx {
	const char *source;
	struct diag_list *d;
	struct config *c;
	bool oom;
};

typedef void (*field_fn)(struct pctx *p, const struct ynode *v, void *dst, const void *arg);

struct field {
	const char *key;
	field_fn fn;
	size_t off;
	const void *arg;
};

struct range {
	uint64_t min, max;
};

struct enum_map {
	const char *names[8];
	unsigned n;
};

#define ERR(p, node, ...) diag_add((p)->d, (p)->source, (node)->line, (node)->col, __VA_ARGS__)

static const char *type_name(const struct ynode *v)
{
	switch (v->type) {
	case YN_MAP: return "a mapping";
	case YN_SEQ: return "a list";
	case YN_ALIAS: return "an alias";
	default: return v->plain ? "a scalar" : "a quoted string";
	}
}

/* Only short, printable, non-secret values are echoed in messages. */
static bool echoable(const struct ynode *v)
{
	if (v->type != YN_SCALAR || v->len > 80 || strlen(v->value) != v->len)
		return false;
	for (const unsigned char *s = (const unsigned char *)v->value; *s; s++)
		if (*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static bool want_scalar(struct pctx *p, const struct ynode *v, const char *what)
{
	if (v->type == YN_ALIAS)
		return false;  /* already reported by the alias sweep */
	if (v->type != YN_SCALAR) {
		ERR(p, v, "expected %s, got %s", what, type_name(v));
		return false;
	}
	return true;
}

static bool want_seq(struct pctx *p, const struct ynode *v, const char *what)
{
	if (v->type == YN_ALIAS)
		return false;
	if (v->type != YN_SEQ) {
		ERR(p, v, "expected a list of %s, got %s", what, type_name(v));
		return false;
	}
	return true;
}

static char *dup_or_oom(struct pctx *p, const char *s)
{
	char *r = strdup(s);
	if (!r)
		p->oom = true;
	return r;
}

static void set_str(struct pctx *p, char **dst, const char *s)
{
	free(*dst);
	*dst = dup_or_oom(p, s);
}

/* A single-line string without control characters.  Values go into env
 * files and unit files, where a newline would inject a line. */
static bool str_check(struct pctx *p, const struct ynode *v, const char *what, size_t max)
{
	if (!want_scalar(p, v, what))
		return false;
	if (v->len > max) {
		ERR(p, v, "%s is longer than %zu bytes", what, max);
		return false;
	}
	for (size_t i = 0; i < v->len; i++) {
		unsigned char ch = (unsigned char)v->value[i];
		if (ch < 0x20 || ch == 0x7f) {
			ERR(p, v, "%s contains a control character (byte %zu)", what, i + 1);
			return false;
		}
	}
	return true;
}

static void f_str(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	(void)arg;
	if (str_check(p, v, "a string", STR_MAX))
		set_str(p, dst, v->value);
}

static void f_nonempty(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	(void)arg;
	if (!str_check(p, v, "a string", STR_MAX))
		return;
	if (v->len == 0) {
		ERR(p, v, "must not be empty");
		return;
	}
	set_str(p, dst, v->value);
}

/* PEM text: multi-line, bounded.  Secret when arg != NULL: never echoed. */
static void f_pem(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	bool secret = arg != NULL;
	if (v->type != YN_SCALAR) {
		if (v->type != YN_ALIAS)
			ERR(p, v, "expected PEM text, got %s%s", type_name(v), secret ? " (value not shown)" : "");
		return;
	}
	if (v->len > PEM_MAX || strlen(v->value) != v->len) {
		ERR(p, v, "PEM text longer than %d bytes or containing NUL%s", PEM_MAX,
		    secret ? " (value not shown)" : "");
		return;
	}
	if (!strstr(v->value, "-----BEGIN ")) {
		ERR(p, v, "expected PEM text (a -----BEGIN ... block)%s", secret ? " (value not shown)" : "");
		return;
	}
	char **d = dst;
	if (*d) {
		explicit_bzero(*d, strlen(*d));
		free(*d);
	}
	*d = dup_or_oom(p, v->value);
}

/* A secret single-line value (token): checked, never echoed. */
static void f_secret(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	(void)arg;
	if (v->type != YN_SCALAR) {
		if (v->type != YN_ALIAS)
			ERR(p, v, "expected a string, got %s (value not shown)", type_name(v));
		return;
	}
	bool bad = v->len == 0 || v->len > PEM_MAX || strlen(v->value) != v->len;
	for (size_t i = 0; !bad && i < v->len; i++)
		bad = (unsigned char)v->value[i] < 0x21 || (unsigned char)v->value[i] == 0x7f;
	if (bad) {
		ERR(p, v, "secret must be a non-empty single word of printable characters (value not shown)");
		return;
	}
	char **d = dst;
	if (*d) {
		explicit_bzero(*d, strlen(*d));
		free(*d);
	}
	*d = dup_or_oom(p, v->value);
}

static void f_bool(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	(void)arg;
	static const char *const yes[] = { "true", "yes", "on", "y" };
	static const char *const no[] = { "false", "no", "off", "n" };
	if (!want_scalar(p, v, "a boolean (true or false)"))
		return;
	if (v->plain) {
		for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
			if (strcasecmp(v->value, yes[i]) == 0) {
				*(bool *)dst = true;
				return;
			}
			if (strcasecmp(v->value, no[i]) == 0) {
				*(bool *)dst = false;
				return;
			}
		}
	}
	if (echoable(v))
		ERR(p, v, "expected a boolean (true or false), got \"%s\"%s", v->value, v->plain ? "" : " (quoted)");
	else
		ERR(p, v, "expected a boolean (true or false)");
}

/* Plain decimal integer, no sign, no leading zeros. */
static bool uint_value(struct pctx *p, const struct ynode *v, const struct range *rg, uint64_t *out)
{
	if (!want_scalar(p, v, "an integer"))
		return false;
	bool ok = v->plain && v->len > 0 && v->len <= 20 && (v->len == 1 || v->value[0] != '0');
	uint64_t x = 0;
	for (size_t i = 0; ok && i < v->len; i++) {
		if (!isdigit((unsigned char)v->value[i]) || x > (UINT64_MAX - 9) / 10)
			ok = false;
		else
			x = x * 10 + (uint64_t)(v->value[i] - '0');
	}
	if (!ok || x < rg->min || x > rg->max) {
		if (echoable(v))
			ERR(p, v, "expected an integer from %llu to %llu, got \"%s\"%s",
			    (unsigned long long)rg->min, (unsigned long long)rg->max, v->value,
			    v->plain ? "" : " (quoted: write the number without quotes)");
		else
			ERR(p, v, "expected an integer from %llu to %llu",
			    (unsigned long long)rg->min, (unsigned long long)rg->max);
		return false;
	}
	*out = x;
	return true;
}

static const struct range R_PORT = { 1, 65535 };
static const struct range R_ID = { 1, 2147483646 };
static const struct range R_U32 = { 0, UINT32_MAX };
static const struct range R_U32_1 = { 1, UINT32_MAX };

static void f_u32(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	uint64_t x;
	if (uint_value(p, v, arg ? arg : &R_U32, &x))
		*(uint32_t *)dst = (uint32_t)x;
}

static void f_uint(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	uint64_t x;
	if (uint_value(p, v, arg ? arg : &R_U32, &x))
		*(unsigned *)dst = (unsigned)x;
}

static void f_u64(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	static const struct range all = { 0, UINT64_MAX };
	uint64_t x;
	if (uint_value(p, v, arg ? arg : &all, &x))
		*(uint64_t *)dst = x;
}

static void f_port(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	(void)arg;
	uint64_t x;
	if (uint_value(p, v, &R_PORT, &x))
		*(uint16_t *)dst = (uint16_t)x;
}

static void f_enum(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	const struct enum_map *m = arg;
	if (!want_scalar(p, v, "one of the listed words"))
		return;
	for (unsigned i = 0; i < m->n; i++) {
		if (strcmp(v->value, m->names[i]) == 0) {
			*(int *)dst = (int)i;
			return;
		}
	}
	struct strbuf sb;
	sb_init(&sb);
	for (unsigned i = 0; i < m->n; i++)
		sb_printf(&sb, "%s%s", i ? ", " : "", m->names[i]);
	if (echoable(v))
		ERR(p, v, "\"%s\" is not one of: %s", v->value, sb.buf ? sb.buf : "");
	else
		ERR(p, v, "expected one of: %s", sb.buf ? sb.buf : "");
	sb_free(&sb);
}

static bool hostname_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253)
		return false;
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!(isalnum(c) || c == '-' || c == '_') || (label == 0 && c == '-') || ++label > 63)
			return false;
	}
	return s[n - 1] != '-';
}

static bool ip_valid(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* host:port where host is a DNS name, an IPv4 address or [IPv6]. */
static bool hostport_valid(const char *s)
{
	char host[256];
	const char *colon;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof(host))
			return false;
		memcpy(host, s + 1, (size_t)(rb - s - 1));
		host[rb - s - 1] = '\0';
		unsigned char b[16];
		if (inet_pton(AF_INET6, host, b) != 1)
			return false;
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host))
			return false;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		if (!hostname_valid(host))
			return false;
	}
	uint16_t port;
	return port_parse(colon + 1, &port) == 0;
}

static void f_hostport(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	(void)arg;
	if (!str_check(p, v, "host:port", 300))
		return;
	if (!hostport_valid(v->value)) {
		if (echoable(v))
			ERR(p, v, "\"%s\" is not host:port (a DNS name, IPv4 address or [IPv6] address, and a port 1-65535)",
			    v->value);
		else
			ERR(p, v, "expected host:port");
		return;
	}
	set_str(p, dst, v->value);
}

static void f_ip(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	(void)arg;
	if (!str_check(p, v, "an IP address", 64))
		return;
	if (!ip_valid(v->value)) {
		if (echoable(v))
			ERR(p, v, "\"%s\" is not an IPv4 or IPv6 address", v->value);
		else
			ERR(p, v, "expected an IPv4 or IPv6 address");
		return;
	}
	set_str(p, dst, v->value);
}

static void f_cidr_str(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	(void)arg;
	struct cidr c;
	if (!str_check(p, v, "a CIDR", 64))
		return;
	if (cidr_parse(v->value, &c) < 0) {
		if (echoable(v))
			ERR(p, v, "\"%s\" is not a CIDR (address/prefix with the host bits zero)", v->value);
		else
			ERR(p, v, "expected a CIDR");
		return;
	}
	set_str(p, dst, v->value);
}

enum url_kind { URL_FETCH, URL_HTTPS_ONLY, URL_SERVICE };

/* scheme://authority/path.  URL_FETCH: https, http or file; URL_HTTPS_ONLY:
 * https; URL_SERVICE (etcd/apiserver endpoints): http or https with a port. */
static const char *url_problem(const char *s, enum url_kind kind)
{
	const char *rest;
	bool is_file = false;
	if (str_has_prefix(s, "https://"))
		rest = s + 8;
	else if (str_has_prefix(s, "http://") && kind != URL_HTTPS_ONLY)
		rest = s + 7;
	else if (str_has_prefix(s, "file://") && kind == URL_FETCH) {
		rest = s + 7;
		is_file = true;
	} else
		return kind == URL_HTTPS_ONLY ? "must be an https:// URL" :
		       kind == URL_SERVICE ? "must be an http:// or https:// URL" :
		                             "must be an https://, http:// or file:// URL";
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if (*c <= 0x20 || *c >= 0x7f || *c == '"' || *c == '\\' || *c == '<' || *c == '>')
			return "contains a space, quote or non-ASCII character (percent-encode it)";
	if (is_file)
		return rest[0] == '/' && rest[1] ? NULL : "file:// URL needs an absolute path (file:///path)";
	size_t alen = strcspn(rest, "/?#");
	if (alen == 0)
		return "has no host";
	char auth[300];
	if (alen >= sizeof(auth))
		return "host part too long";
	memcpy(auth, rest, alen);
	auth[alen] = '\0';
	if (strchr(auth, '@'))
		return "must not carry credentials (user@host)";
	char host[300];
	const char *port = NULL;
	if (auth[0] == '[') {
		char *rb = strchr(auth, ']');
		if (!rb)
			return "has an unterminated [IPv6] host";
		*rb = '\0';
		snprintf(host, sizeof(host), "%s", auth + 1);
		unsigned char b[16];
		if (inet_pton(AF_INET6, host, b) != 1)
			return "has an invalid [IPv6] host";
		if (rb[1] == ':')
			port = rb + 2;
		else if (rb[1])
			return "has garbage after the [IPv6] host";
	} else {
		char *colon = strchr(auth, ':');
		if (colon) {
			*colon = '\0';
			port = colon + 1;
		}
		snprintf(host, sizeof(host), "%s", auth);
		if (!hostname_valid(host))
			return "has an invalid host name";
	}
	uint16_t pn;
	if (port && port_parse(port, &pn) < 0)
		return "has an invalid port";
	return NULL;
}

static bool url_check(struct pctx *p, const struct ynode *v, enum url_kind kind)
{
	if (!str_check(p, v, "a URL", 2048))
		return false;
	const char *why = url_problem(v->value, kind);
	if (why) {
		if (echoable(v))
			ERR(p, v, "URL \"%s\" %s", v->value, why);
		else
			ERR(p, v, "URL %s", why);
		return false;
	}
	return true;
}

static void f_url(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	enum url_kind kind = arg ? *(const enum url_kind *)arg : URL_FETCH;
	if (url_check(p, v, kind))
		set_str(p, dst, v->value);
}

static const enum url_kind K_HTTPS = URL_HTTPS_ONLY;
static const enum url_kind K_SERVICE = URL_SERVICE;

/* Comma-separated service URLs (etcd's own flag syntax). */
static void f_urlcsv(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	(void)arg;
	if (!str_check(p, v, "a URL list", STR_MAX))
		return;
	_cleanup_free_ char *copy = strdup(v->value);
	if (!copy) {
		p->oom = true;
		return;
	}
	char *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		const char *why = url_problem(t, URL_SERVICE);
		if (why) {
			ERR(p, v, "URL \"%.80s\" %s", t, why);
			return;
		}
	}
	if (v->len == 0) {
		ERR(p, v, "must not be empty");
		return;
	}
	set_str(p, dst, v->value);
}

static bool hex_valid(const char *s, size_t want)
{
	if (strlen(s) != want)
		return false;
	for (; *s; s++)
		if (!isxdigit((unsigned char)*s))
			return false;
	return true;
}

static char *hex_lower(struct pctx *p, const char *s)
{
	char *r = dup_or_oom(p, s);
	for (char *c = r; c && *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return r;
}

static void f_sha256hex(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	(void)arg;
	if (!str_check(p, v, "a SHA-256 digest", 200))
		return;
	if (!hex_valid(v->value, 64)) {
		ERR(p, v, "expected a SHA-256 digest: 64 hexadecimal digits (got %zu characters)", v->len);
		return;
	}
	free(*(char **)dst);
	*(char **)dst = hex_lower(p, v->value);
}

/* Fixed-size string lists (char *v[N] followed by unsigned n). */
struct strlist_arg {
	unsigned max;
	size_t count_off;   /* offset of the count from the array */
	field_fn item;      /* checker/storer for one item */
	const void *item_arg;
	const char *what;
};

static void f_strlist(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	const struct strlist_arg *a = arg;
	if (!want_seq(p, v, a->what))
		return;
	char **arr = dst;
	unsigned *count = (unsigned *)((char *)dst + a->count_off);
	for (unsigned i = 0; i < v->n; i++) {
		if (*count >= a->max) {
			ERR(p, v->items[i], "more than %u %s", a->max, a->what);
			return;
		}
		char *s = NULL;
		a->item(p, v->items[i], &s, a->item_arg);
		if (s)
			arr[(*count)++] = s;
	}
}

#define STRLIST(type, arr, cnt, mx, fn, farg, what_) \
	(&(const struct strlist_arg){ .max = (mx), .count_off = offsetof(type, cnt) - offsetof(type, arr), \
	                              .item = (fn), .item_arg = (farg), .what = (what_) })

/* "*" or a list; "all" flag then the dynamic array. */
static bool star_or_list(struct pctx *p, const struct ynode *v, bool *all, const char *what)
{
	if (v->type == YN_SCALAR) {
		if (strcmp(v->value, "*") == 0) {
			*all = true;
			return false;
		}
		ERR(p, v, "expected \"*\" or a list of %s", what);
		return false;
	}
	*all = false;
	return want_seq(p, v, what);
}

static void f_portlist(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	struct port_list *l = dst;
	bool star_ok = arg != NULL;
	if (star_ok) {
		if (!star_or_list(p, v, &l->all, "ports"))
			return;
	} else if (!want_seq(p, v, "ports")) {
		return;
	}
	for (unsigned i = 0; i < v->n; i++) {
		uint64_t x;
		if (!uint_value(p, v->items[i], &R_PORT, &x))
			continue;
		if (port_list_add(l, (uint16_t)x) < 0)
			p->oom = true;
	}
}

static void f_cidrlist(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	struct cidr_list *l = dst;
	if (arg) {
		if (!star_or_list(p, v, &l->all, "CIDRs"))
			return;
	} else if (!want_seq(p, v, "CIDRs")) {
		return;
	}
	for (unsigned i = 0; i < v->n; i++) {
		const struct ynode *it = v->items[i];
		struct cidr c;
		if (!str_check(p, it, "a CIDR", 64))
			continue;
		if (cidr_parse(it->value, &c) < 0) {
			if (echoable(it))
				ERR(p, it, "\"%s\" is not a CIDR (address/prefix with the host bits zero)", it->value);
			else
				ERR(p, it, "expected a CIDR");
			continue;
		}
		if (cidr_list_add(l, &c) < 0)
			p->oom = true;
	}
}

static const int STAR_OK = 1;

/* uid/gid lists: uint32_t v[REDIRECT_MAX_IDS] then unsigned n. */
static void f_idlist(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	(void)arg;
	if (!want_seq(p, v, "ids"))
		return;
	uint32_t *ids = dst;
	unsigned *n = (unsigned *)(ids + REDIRECT_MAX_IDS);
	for (unsigned i = 0; i < v->n; i++) {
		uint64_t x;
		if (*n >= REDIRECT_MAX_IDS) {
			ERR(p, v->items[i], "more than %d ids", REDIRECT_MAX_IDS);
			return;
		}
		if (uint_value(p, v->items[i], &R_U32, &x))
			ids[(*n)++] = (uint32_t)x;
	}
}

static void f_iflist(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	(void)arg;
	struct redirect_config *r = dst;
	if (!want_seq(p, v, "interface names"))
		return;
	for (unsigned i = 0; i < v->n; i++) {
		const struct ynode *it = v->items[i];
		if (!str_check(p, it, "an interface name", 64))
			continue;
		bool ok = it->len > 0 && it->len < IFNAMSIZ;
		for (size_t k = 0; ok && k < it->len; k++)
			ok = it->value[k] != '/' && it->value[k] != ' ' && it->value[k] != ':';
		if (!ok) {
			ERR(p, it, "not a network interface name (1-%d characters, no '/', ':' or space)", IFNAMSIZ - 1);
			continue;
		}
		if (r->n_virtual_interfaces >= REDIRECT_MAX_IFACES) {
			ERR(p, it, "more than %d virtual interfaces", REDIRECT_MAX_IFACES);
			return;
		}
		snprintf(r->virtual_interfaces[r->n_virtual_interfaces++], IFNAMSIZ, "%s", it->value);
	}
}

/* ---- sections ---------------------------------------------------------- */

static unsigned edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 40 || lb > 40)
		return 99;
	unsigned prev[41], cur[41];
	for (size_t j = 0; j <= lb; j++)
		prev[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned del = prev[j] + 1, ins = cur[j - 1] + 1;
			unsigned sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			cur[j] = del < ins ? (del < sub ? del : sub) : (ins < sub ? ins : sub);
		}
		memcpy(prev, cur, sizeof(unsigned) * (lb + 1));
	}
	return prev[lb];
}

static bool key_echoable(const struct ynode *k)
{
	if (k->type != YN_SCALAR || k->len == 0 || k->len > 64)
		return false;
	for (size_t i = 0; i < k->len; i++) {
		char c = k->value[i];
		if (!(isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

static void unknown_key(struct pctx *p, const struct ynode *k, const char *where,
                        const struct field *fields, const char *const *names)
{
	if (!key_echoable(k)) {
		ERR(p, k, "unknown key in %s (not shown: not a plain identifier)", where);
		return;
	}
	const char *best = NULL;
	unsigned bd = 3;
	for (unsigned i = 0; fields && fields[i].key; i++) {
		unsigned dd = edit_distance(k->value, fields[i].key);
		if (dd < bd) {
			bd = dd;
			best = fields[i].key;
		}
	}
	for (unsigned i = 0; names && names[i]; i++) {
		unsigned dd = edit_distance(k->value, names[i]);
		if (dd < bd) {
			bd = dd;
			best = names[i];
		}
	}
	if (best)
		ERR(p, k, "unknown key \"%s\" in %s; did you mean \"%s\"?", k->value, where, best);
	else
		ERR(p, k, "unknown key \"%s\" in %s", k->value, where);
}

/* Keys must be plain identifiers, once each. Returns false if the pair
 * is to be skipped. */
static bool key_check(struct pctx *p, const struct ynode *map, unsigned i, const char *where)
{
	const struct ynode *k = map->items[i];
	if (k->type != YN_SCALAR) {
		if (k->type != YN_ALIAS)
			ERR(p, k, "a key in %s must be a plain word, not %s", where, type_name(k));
		return false;
	}
	if (strlen(k->value) != k->len) {
		ERR(p, k, "a key in %s contains a NUL character", where);
		return false;
	}
	for (unsigned j = 0; j < i; j += 2) {
		const struct ynode *o = map->items[j];
		if (o->type == YN_SCALAR && o->len == k->len && memcmp(o->value, k->value, k->len) == 0) {
			if (key_echoable(k))
				ERR(p, k, "duplicate key \"%s\" in %s (first at line %u, column %u)", k->value, where,
				    o->line, o->col);
			else
				ERR(p, k, "duplicate key in %s (first at line %u, column %u)", where, o->line, o->col);
			return false;
		}
	}
	return true;
}

static bool want_map(struct pctx *p, const struct ynode *v, const char *where)
{
	if (v->type == YN_ALIAS)
		return false;
	if (v->type != YN_MAP) {
		ERR(p, v, "%s must be a mapping, got %s", where, type_name(v));
		return false;
	}
	return true;
}

static void section_parse(struct pctx *p, const struct ynode *map, const struct field *fields,
                          void *base, const char *where)
{
	if (!want_map(p, map, where))
		return;
	for (unsigned i = 0; i + 1 < map->n; i += 2) {
		if (!key_check(p, map, i, where))
			continue;
		const struct ynode *k = map->items[i];
		const struct field *f = NULL;
		for (unsigned j = 0; fields[j].key; j++)
			if (strcmp(fields[j].key, k->value) == 0)
				f = &fields[j];
		if (!f) {
			unknown_key(p, k, where, fields, NULL);
			continue;
		}
		f->fn(p, map->items[i + 1], (char *)base + f->off, f->arg);
	}
}

/* A nested section: arg is the field table, dst the struct it fills. */
struct sub_arg {
	const struct field *fields;
	const char *where;
};

static void f_section(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	const struct sub_arg *s = arg;
	section_parse(p, v, s->fields, dst, s->where);
}

static const struct enum_map E_FORMAT = { { "auto", "tar.gz", "tar.xz", "tar.zst", "zip", "deb" }, 6 };
static const struct enum_map E_KEY = { { "ec-p256", "rsa-2048", "rsa-3072" }, 3 };
static const struct enum_map E_CAMODE = { { "none", "local", "istio" }, 3 };
static const struct enum_map E_MODE = { { "REDIRECT", "TPROXY" }, 2 };

/* Relative path inside an unpacked artifact: no leading '/', no '..'. */
static void f_relpath(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	(void)arg;
	if (!str_check(p, v, "a relative path", 1024))
		return;
	const char *s = v->value;
	bool bad = s[0] == '\0' || s[0] == '/';
	for (const char *c = s; !bad && *c; ) {
		size_t n = strcspn(c, "/");
		if (n == 2 && c[0] == '.' && c[1] == '.')
			bad = true;
		c += n;
		if (*c == '/')
			c++;
	}
	if (bad) {
		ERR(p, v, "must be a path relative to the unpacked artifact, without \"..\"");
		return;
	}
	set_str(p, dst, s);
}

static void f_abspath(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	(void)arg;
	if (!str_check(p, v, "an absolute path", 1024))
		return;
	const char *s = v->value;
	bool bad = s[0] != '/' || strstr(s, "/../") || str_has_suffix(s, "/..");
	if (bad) {
		ERR(p, v, "must be an absolute path without \"..\"");
		return;
	}
	set_str(p, dst, s);
}

/* Version labels become directory names. */
static void f_version(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	(void)arg;
	if (!str_check(p, v, "a version label", 64))
		return;
	bool ok = v->len > 0 && v->value[0] != '.' && v->value[0] != '-';
	for (size_t i = 0; ok && i < v->len; i++) {
		char c = v->value[i];
		ok = isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_' || c == '+' || c == '~';
	}
	if (!ok) {
		ERR(p, v, "version label may hold only letters, digits and . - _ + ~ (and not start with . or -)");
		return;
	}
	set_str(p, dst, v->value);
}

static void f_arg(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	(void)arg;
	if (str_check(p, v, "an argument string", STR_MAX))
		set_str(p, dst, v->value);
}

/* Both digests land in the same two fields; the key decides the algorithm. */
static void f_digest(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	struct artifact *a = dst;
	enum digest_alg alg = (enum digest_alg)(intptr_t)arg;
	size_t want = alg == DIGEST_SHA256 ? 64 : 128;
	if (!str_check(p, v, "a digest", 300))
		return;
	if (!hex_valid(v->value, want)) {
		ERR(p, v, "expected a %s digest: %zu hexadecimal digits (got %zu characters)",
		    alg == DIGEST_SHA256 ? "SHA-256" : "SHA-512", want, v->len);
		return;
	}
	if (a->alg != DIGEST_NONE) {
		ERR(p, v, "give one of sha256 and sha512, not both");
		return;
	}
	a->alg = alg;
	a->digest = hex_lower(p, v->value);
}

#define A(f) offsetof(struct artifact, f)
static const struct field artifact_fields[] = {
	{ "url", f_url, A(url), NULL },
	{ "mirrors", f_strlist, A(mirrors),
	  STRLIST(struct artifact, mirrors, n_mirrors, MAX_MIRRORS, f_url, NULL, "mirror URLs") },
	{ "sha256", f_digest, 0, (const void *)(intptr_t)DIGEST_SHA256 },
	{ "sha512", f_digest, 0, (const void *)(intptr_t)DIGEST_SHA512 },
	{ "sha256_url", f_url, A(sha256_url), &K_HTTPS },
	{ "size", f_u64, A(size), NULL },
	{ "format", f_enum, A(format), &E_FORMAT },
	{ "strip_components", f_uint, A(strip_components), &(const struct range){ 0, 16 } },
	{ "version", f_version, A(version), NULL },
	{ "exec", f_relpath, A(exec), NULL },
	{ "args", f_strlist, A(args), STRLIST(struct artifact, args, n_args, MAX_ARGS, f_arg, NULL, "arguments") },
	{ NULL, NULL, 0, NULL }
};
#undef A

static void f_artifacts(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	(void)dst; (void)arg;
	static const char *const names[] = { "sidecar", "pilot", "mixer", "citadel", "apiserver", "etcd", "istiod", NULL };
	if (!want_map(p, v, "artifacts"))
		return;
	for (unsigned i = 0; i + 1 < v->n; i += 2) {
		if (!key_check(p, v, i, "artifacts"))
			continue;
		const struct ynode *k = v->items[i];
		int r = role_from_name(k->value);
		if (r < 0) {
			unknown_key(p, k, "artifacts (keys are role names)", NULL, names);
			continue;
		}
		char where[64];
		snprintf(where, sizeof(where), "artifacts.%s", k->value);
		struct artifact *a = &p->c->artifacts[r];
		a->present = true;
		section_parse(p, v->items[i + 1], artifact_fields, a, where);
	}
}

static void f_roles(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	(void)dst; (void)arg;
	if (!want_seq(p, v, "roles"))
		return;
	for (unsigned i = 0; i < v->n; i++) {
		const struct ynode *it = v->items[i];
		if (!want_scalar(p, it, "a role name"))
			continue;
		int r = role_from_name(it->value);
		if (r < 0) {
			if (echoable(it))
				ERR(p, it, "unknown role \"%s\" (roles: sidecar, pilot, mixer, citadel, apiserver, etcd, istiod)",
				    it->value);
			else
				ERR(p, it, "unknown role (roles: sidecar, pilot, mixer, citadel, apiserver, etcd, istiod)");
			continue;
		}
		if (p->c->roles[r])
			ERR(p, it, "role \"%s\" listed twice", it->value);
		p->c->roles[r] = true;
	}
}

static void f_hosts(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	(void)arg;
	struct mesh *m = dst;
	static const struct field host_fields[] = {
		{ "name", f_nonempty, offsetof(struct host_entry, name), NULL },
		{ "ip", f_ip, offsetof(struct host_entry, ip), NULL },
		{ NULL, NULL, 0, NULL }
	};
	if (!want_seq(p, v, "host entries"))
		return;
	for (unsigned i = 0; i < v->n; i++) {
		if (m->n_hosts >= MAX_HOSTS) {
			ERR(p, v->items[i], "more than %d host entries", MAX_HOSTS);
			return;
		}
		struct host_entry *h = &m->hosts[m->n_hosts++];
		const struct ynode *it = v->items[i];
		section_parse(p, it, host_fields, h, "mesh.hosts entry");
		if (it->type != YN_MAP)
			continue;
		if (!ymap_get(it, "name") || !ymap_get(it, "ip"))
			ERR(p, it, "a hosts entry needs both name and ip");
		else if (h->name && !hostname_valid(h->name))
			ERR(p, ymap_get(it, "name"), "\"%.80s\" is not a valid host name", h->name);
	}
}

static void f_members(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	(void)arg;
	struct etcd *e = dst;
	static const struct field mfields[] = {
		{ "name", f_nonempty, offsetof(struct etcd_member, name), NULL },
		{ "peer_url", f_url, offsetof(struct etcd_member, peer_url), &K_SERVICE },
		{ NULL, NULL, 0, NULL }
	};
	if (!want_seq(p, v, "etcd members"))
		return;
	for (unsigned i = 0; i < v->n; i++) {
		if (e->n_initial_cluster >= MAX_ETCD_MEMBERS) {
			ERR(p, v->items[i], "more than %d etcd members", MAX_ETCD_MEMBERS);
			return;
		}
		struct etcd_member *mb = &e->initial_cluster[e->n_initial_cluster++];
		section_parse(p, v->items[i], mfields, mb, "etcd.initial_cluster entry");
		if (v->items[i]->type == YN_MAP && (!ymap_get(v->items[i], "name") || !ymap_get(v->items[i], "peer_url")))
			ERR(p, v->items[i], "an initial_cluster entry needs name and peer_url");
	}
}

#define M(f) offsetof(struct mesh, f)
static const struct field mesh_fields[] = {
	{ "trust_domain", f_nonempty, M(trust_domain), NULL },
	{ "namespace", f_nonempty, M(namespace_), NULL },
	{ "service_account", f_nonempty, M(service_account), NULL },
	{ "service", f_str, M(service), NULL },
	{ "instance_ip", f_ip, M(instance_ip), NULL },
	{ "discovery_address", f_hostport, M(discovery_address), NULL },
	{ "ca_address", f_hostport, M(ca_address), NULL },
	{ "service_cidr", f_cidr_str, M(service_cidr), NULL },
	{ "hosts", f_hosts, 0, NULL },
	{ NULL, NULL, 0, NULL }
};
#undef M

static const struct field release_fields[] = {
	{ "manifest_url", f_url, offsetof(struct release_trust, manifest_url), NULL },
	{ "signature_url", f_url, offsetof(struct release_trust, signature_url), NULL },
	{ "public_key", f_nonempty, offsetof(struct release_trust, public_key), NULL },
	{ NULL, NULL, 0, NULL }
};

#define K(f) offsetof(struct certs, f)
static const struct field root_fields[] = {
	{ "pem", f_pem, K(root_pem), NULL },
	{ "url", f_url, K(root_url), NULL },
	{ "sha256", f_sha256hex, K(root_sha256), NULL },
	{ "allow_not_yet_valid", f_bool, K(root_allow_not_yet_valid), NULL },
	{ NULL, NULL, 0, NULL }
};
static const int SECRET = 1;
static const struct field ca_fields[] = {
	{ "mode", f_enum, K(ca_mode), &E_CAMODE },
	{ "cert", f_pem, K(ca_cert_pem), NULL },
	{ "cert_file", f_abspath, K(ca_cert_file), NULL },
	{ "key", f_pem, K(ca_key_pem), &SECRET },
	{ "key_file", f_abspath, K(ca_key_file), NULL },
	{ "address", f_hostport, K(ca_address), NULL },
	{ "token", f_secret, K(token), NULL },
	{ "token_file", f_abspath, K(token_file), NULL },
	{ NULL, NULL, 0, NULL }
};
static const struct field certs_fields[] = {
	{ "root", f_section, 0, &(const struct sub_arg){ root_fields, "certs.root" } },
	{ "key_type", f_enum, K(key_type), &E_KEY },
	{ "lifetime_hours", f_u32, K(lifetime_hours), &(const struct range){ 1, 24 * 3650 } },
	{ "dns_names", f_strlist, K(dns_names),
	  STRLIST(struct certs, dns_names, n_dns_names, MAX_SANS, f_nonempty, NULL, "DNS names") },
	{ "ip_addresses", f_strlist, K(ip_addresses),
	  STRLIST(struct certs, ip_addresses, n_ip_addresses, MAX_SANS, f_ip, NULL, "IP addresses") },
	{ "ca", f_section, 0, &(const struct sub_arg){ ca_fields, "certs.ca" } },
	{ NULL, NULL, 0, NULL }
};
#undef K

#define R(f) offsetof(struct redirect_config, f)
static const struct field redirect_fields[] = {
	{ "enabled", f_bool, R(enabled), NULL },
	{ "proxy_port", f_port, R(proxy_port), NULL },
	{ "inbound_capture_port", f_port, R(inbound_capture_port), NULL },
	{ "proxy_uids", f_idlist, R(proxy_uids), NULL },
	{ "proxy_gids", f_idlist, R(proxy_gids), NULL },
	{ "mode", f_enum, R(mode), &E_MODE },
	{ "tproxy_mark", f_u32, R(tproxy_mark), &R_U32_1 },
	{ "tproxy_route_table", f_u32, R(tproxy_route_table), &(const struct range){ 1, 252 } },
	{ "inbound_ports", f_portlist, R(inbound_ports), &STAR_OK },
	{ "exclude_inbound_ports", f_portlist, R(exclude_inbound_ports), NULL },
	{ "outbound_cidrs", f_cidrlist, R(outbound_cidrs), &STAR_OK },
	{ "exclude_outbound_cidrs", f_cidrlist, R(exclude_outbound_cidrs), NULL },
	{ "exclude_outbound_ports", f_portlist, R(exclude_outbound_ports), NULL },
	{ "virtual_interfaces", f_iflist, 0, NULL },
	{ "loopback_redirect", f_bool, R(loopback_redirect), NULL },
	{ "ipv6", f_bool, R(ipv6), NULL },
	{ NULL, NULL, 0, NULL }
};
#undef R

#define E(f) offsetof(struct etcd, f)
static const struct field etcd_fields[] = {
	{ "name", f_nonempty, E(name), NULL },
	{ "data_dir", f_abspath, E(data_dir), NULL },
	{ "listen_client_urls", f_urlcsv, E(listen_client_urls), NULL },
	{ "advertise_client_urls", f_urlcsv, E(advertise_client_urls), NULL },
	{ "listen_peer_urls", f_urlcsv, E(listen_peer_urls), NULL },
	{ "advertise_peer_urls", f_urlcsv, E(advertise_peer_urls), NULL },
	{ "initial_cluster", f_members, 0, NULL },
	{ "initial_cluster_state", f_nonempty, E(initial_cluster_state), NULL },
	{ "initial_cluster_token", f_nonempty, E(initial_cluster_token), NULL },
	{ NULL, NULL, 0, NULL }
};
#undef E

static const struct field apiserver_fields[] = {
	{ "etcd_servers", f_strlist, offsetof(struct apiserver, etcd_servers),
	  STRLIST(struct apiserver, etcd_servers, n_etcd_servers, MAX_ETCD_MEMBERS, f_url, &K_SERVICE, "etcd URLs") },
	{ "service_cluster_ip_range", f_cidr_str, offsetof(struct apiserver, service_cluster_ip_range), NULL },
	{ "port", f_port, offsetof(struct apiserver, port), NULL },
	{ "bind_address", f_ip, offsetof(struct apiserver, bind_address), NULL },
	{ NULL, NULL, 0, NULL }
};

#define F(f) offsetof(struct fetch_opts, f)
static const struct field fetch_fields[] = {
	{ "ca_bundle", f_abspath, F(ca_bundle), NULL },
	{ "concurrency", f_uint, F(concurrency), &(const struct range){ 1, 64 } },
	{ "retries", f_uint, F(retries), &(const struct range){ 0, 100 } },
	{ "deadline_sec", f_uint, F(deadline_sec), &(const struct range){ 1, 86400 } },
	{ "max_size", f_u64, F(max_size), &(const struct range){ 1, 1ull << 40 } },
	{ "max_unpacked_size", f_u64, F(max_unpacked_size), &(const struct range){ 1, 1ull << 42 } },
	{ "connect_timeout_sec", f_uint, F(connect_timeout_sec), &(const struct range){ 1, 3600 } },
	{ "first_byte_timeout_sec", f_uint, F(first_byte_timeout_sec), &(const struct range){ 1, 3600 } },
	{ "low_speed_limit", f_uint, F(low_speed_limit), &(const struct range){ 0, 1u << 30 } },
	{ "low_speed_time_sec", f_uint, F(low_speed_time_sec), &(const struct range){ 1, 3600 } },
	{ "backoff_base_ms", f_uint, F(backoff_base_ms), &(const struct range){ 1, 600000 } },
	{ "backoff_max_ms", f_uint, F(backoff_max_ms), &(const struct range){ 1, 3600000 } },
	{ NULL, NULL, 0, NULL }
};
#undef F

static const struct field user_fields[] = {
	{ "name", f_nonempty, offsetof(struct proxy_user, name), NULL },
	{ "uid", f_u32, offsetof(struct proxy_user, uid), &R_ID },
	{ "gid", f_u32, offsetof(struct proxy_user, gid), &R_ID },
	{ NULL, NULL, 0, NULL }
};

static const struct field systemd_fields[] = {
	{ "start", f_bool, 0, NULL },
	{ NULL, NULL, 0, NULL }
};

static void f_version_num(struct pctx *p, const struct ynode *v, void *dst, const void *arg)
{
	(void)arg;
	uint64_t x;
	static const struct range any = { 0, 1000000 };
	if (v->type == YN_SCALAR && !(v->plain && isdigit((unsigned char)v->value[0]))) {
		ERR(p, v, "version must be the plain number %d", CONFIG_VERSION);
		return;
	}
	if (!uint_value(p, v, &any, &x))
		return;
	if (x != CONFIG_VERSION) {
		ERR(p, v, "configuration version %llu is not supported; this meshboot reads version %d",
		    (unsigned long long)x, CONFIG_VERSION);
		return;
	}
	*(unsigned *)dst = (unsigned)x;
}

#define C(f) offsetof(struct config, f)
static const struct field top_fields[] = {
	{ "version", f_version_num, C(version), NULL },
	{ "roles", f_roles, 0, NULL },
	{ "install_prefix", f_abspath, C(install_prefix), NULL },
	{ "user", f_section, C(user), &(const struct sub_arg){ user_fields, "user" } },
	{ "mesh", f_section, C(mesh), &(const struct sub_arg){ mesh_fields, "mesh" } },
	{ "release", f_section, C(release), &(const struct sub_arg){ release_fields, "release" } },
	{ "artifacts", f_artifacts, 0, NULL },
	{ "certs", f_section, C(certs), &(const struct sub_arg){ certs_fields, "certs" } },
	{ "redirect", f_section, C(redirect), &(const struct sub_arg){ redirect_fields, "redirect" } },
	{ "etcd", f_section, C(etcd), &(const struct sub_arg){ etcd_fields, "etcd" } },
	{ "apiserver", f_section, C(apiserver), &(const struct sub_arg){ apiserver_fields, "apiserver" } },
	{ "fetch", f_section, C(fetch), &(const struct sub_arg){ fetch_fields, "fetch" } },
	{ "systemd", f_section, C(systemd_start), &(const struct sub_arg){ systemd_fields, "systemd" } },
	{ NULL, NULL, 0, NULL }
};
#undef C

/* Aliases, anchors and tags are refused anywhere in meshboot's section:
 * a configuration says what it means in plain text. */
static void sweep_yaml_features(struct pctx *p, const struct ynode *n, unsigned depth)
{
	if (n->type == YN_ALIAS)
		ERR(p, n, "YAML aliases (*name) are not allowed in meshboot's configuration");
	else if (n->anchored)
		ERR(p, n, "YAML anchors (&name) are not allowed in meshboot's configuration");
	else if (n->tagged)
		ERR(p, n, "YAML tags (!tag) are not allowed in meshboot's configuration");
	if (depth > YTREE_MAX_DEPTH)
		return;
	for (unsigned i = 0; i < n->n; i++)
		sweep_yaml_features(p, n->items[i], depth + 1);
}

/* The node a diagnostic about path should point at: the deepest existing. */
static const struct ynode *node_at(const struct ynode *sec, const char *a, const char *b, const char *c)
{
	const struct ynode *n = sec, *x;
	const char *path[] = { a, b, c };
	for (unsigned i = 0; i < 3 && path[i]; i++) {
		if (!(x = ymap_get(n, path[i])))
			break;
		n = x;
	}
	return n;
}

static const struct ynode *role_item(const struct ynode *sec, enum role r)
{
	const struct ynode *roles = ymap_get(sec, "roles");
	for (unsigned i = 0; roles && roles->type == YN_SEQ && i < roles->n; i++)
		if (roles->items[i]->type == YN_SCALAR && strcmp(roles->items[i]->value, role_name(r)) == 0)
			return roles->items[i];
	return roles ? roles : sec;
}

static bool is_http(const char *u) { return u && str_has_prefix(u, "http://"); }

static int minisign_key_check(const char *b64)
{
	/* "Ed" + 8-byte key id + 32-byte Ed25519 key = 42 bytes = 56 base64 chars. */
	if (strlen(b64) != 56 || b64[0] != 'R' || b64[1] != 'W')
		return -EINVAL;
	for (const char *c = b64; *c; c++)
		if (!(isalnum((unsigned char)*c) || *c == '+' || *c == '/'))
			return -EINVAL;
	return 0;
}

/* Cross-field rules and defaults that depend on other keys. */
static void config_check(struct pctx *p, const struct ynode *sec)
{
	struct config *c = p->c;
	if (!ymap_get(sec, "version"))
		ERR(p, sec, "missing required key \"version\" (this meshboot reads version: %d)", CONFIG_VERSION);
	const struct ynode *roles = ymap_get(sec, "roles");
	bool any = false;
	for (int r = 0; r < ROLE_MAX; r++)
		any |= c->roles[r];
	if (!roles)
		ERR(p, sec, "missing required key \"roles\" (any of sidecar, pilot, mixer, citadel, apiserver, etcd, istiod)");
	else if (!any && roles->type == YN_SEQ && roles->n == 0)
		ERR(p, roles, "roles must name at least one role");

	bool manifest = c->release.manifest_url != NULL;
	const struct ynode *rel = ymap_get(sec, "release");
	if (rel && rel->type == YN_MAP) {
		if (manifest && !c->release.public_key)
			ERR(p, rel, "release.manifest_url needs release.public_key (the minisign key that signs it)");
		if (!manifest && (c->release.public_key || c->release.signature_url))
			ERR(p, rel, "release needs manifest_url");
		if (c->release.public_key && minisign_key_check(c->release.public_key) < 0)
			ERR(p, ymap_get(rel, "public_key"),
			    "public_key is not a minisign public key (56 base64 characters starting with RW)");
	}

	for (int r = 0; r < ROLE_MAX; r++) {
		struct artifact *a = &c->artifacts[r];
		const struct ynode *an = node_at(sec, "artifacts", role_name((enum role)r), NULL);
		if (c->roles[r] && !a->present) {
			ERR(p, role_item(sec, (enum role)r), "role %s needs artifacts.%s (where to fetch it from)",
			    role_name((enum role)r), role_name((enum role)r));
			continue;
		}
		if (!a->present)
			continue;
		if (!c->roles[r])
			ERR(p, node_at(sec, "artifacts", role_name((enum role)r), NULL) ,
			    "artifacts.%s is configured but %s is not in roles", role_name((enum role)r),
			    role_name((enum role)r));
		if (an->type != YN_MAP)
			continue;
		if (!ymap_get(an, "url"))
			ERR(p, an, "artifacts.%s needs url", role_name((enum role)r));
		if (!ymap_get(an, "version"))
			ERR(p, an, "artifacts.%s needs version (a label for its install directory)", role_name((enum role)r));
		if (!ymap_get(an, "exec"))
			ERR(p, an, "artifacts.%s needs exec (the entry point to run, relative to the unpacked tree)",
			    role_name((enum role)r));
		bool pinned = a->alg != DIGEST_NONE || manifest;
		if (!pinned && !a->sha256_url)
			ERR(p, an, "artifacts.%s has no digest: give sha256 or sha512, or a signed release manifest",
			    role_name((enum role)r));
		if (!pinned && is_http(a->url))
			ERR(p, ymap_get(an, "url"), "plain http:// is accepted only for an artifact pinned by digest "
			    "(sha256/sha512 or a signed release manifest)");
		for (unsigned i = 0; i < a->n_mirrors; i++)
			if (!pinned && is_http(a->mirrors[i]))
				ERR(p, node_at(sec, "artifacts", role_name((enum role)r), "mirrors"),
				    "mirror %u is plain http://, accepted only for an artifact pinned by digest", i + 1);
	}

	/* Certificates. */
	struct certs *k = &c->certs;
	const struct ynode *root = node_at(sec, "certs", "root", NULL);
	if (k->root_pem && k->root_url)
		ERR(p, root, "certs.root takes pem or url, not both");
	if (k->root_url && !k->root_sha256)
		ERR(p, root, "certs.root.url needs sha256 (the fingerprint of the root certificate)");
	if (k->root_sha256 && !k->root_url)
		ERR(p, root, "certs.root.sha256 pins a fetched root: give url as well");
	bool local_ca = c->roles[ROLE_CITADEL] || c->roles[ROLE_ISTIOD];
	bool root_given = root != sec && root->type == YN_MAP && (ymap_get(root, "pem") || ymap_get(root, "url"));
	if (c->roles[ROLE_SIDECAR] && !root_given && !local_ca)
		ERR(p, role_item(sec, ROLE_SIDECAR),
		    "the sidecar needs certs.root (the mesh root certificate: pem, or url + sha256)");
	/* Presence, not validity, decides these: an invalid value was already
	 * reported and must not also count as missing. */
	const struct ynode *ca = node_at(sec, "certs", "ca", NULL);
#define HAS(key) (ca != sec && ca->type == YN_MAP && ymap_get(ca, key) != NULL)
	if (k->ca_mode == CA_MODE_LOCAL) {
		if (HAS("cert") + HAS("cert_file") != 1)
			ERR(p, ca, "certs.ca mode local needs exactly one of cert and cert_file");
		if (HAS("key") + HAS("key_file") != 1)
			ERR(p, ca, "certs.ca mode local needs exactly one of key and key_file");
	} else if (HAS("cert") || HAS("cert_file") || HAS("key") || HAS("key_file")) {
		ERR(p, ca, "certs.ca cert/key are used only with mode: local");
	}
	if (k->ca_mode == CA_MODE_ISTIO) {
		if (HAS("token") + HAS("token_file") != 1)
			ERR(p, ca, "certs.ca mode istio needs exactly one of token and token_file");
		if (!HAS("address") && !c->mesh.ca_address)
			ERR(p, ca, "certs.ca mode istio needs address (or mesh.ca_address)");
		if (!root_given)
			ERR(p, ca, "certs.ca mode istio needs certs.root to verify the CA server");
	} else if (HAS("token") || HAS("token_file") || HAS("address")) {
		ERR(p, ca, "certs.ca token/token_file/address are used only with mode: istio");
	}
#undef HAS

	/* Redirect: on by default for sidecars, refused without one. */
	const struct ynode *rd = ymap_get(sec, "redirect");
	const struct ynode *en = rd ? ymap_get(rd, "enabled") : NULL;
	if (!en)
		c->redirect.enabled = c->roles[ROLE_SIDECAR];
	else if (c->redirect.enabled && !c->roles[ROLE_SIDECAR])
		ERR(p, en, "redirect.enabled needs the sidecar role: traffic would go to a proxy that is not installed");
	if (c->redirect.n_proxy_uids == 0)
		c->redirect.proxy_uids[c->redirect.n_proxy_uids++] = c->user.uid;
	if (c->redirect.n_proxy_gids == 0)
		c->redirect.proxy_gids[c->redirect.n_proxy_gids++] = c->user.gid;

	/* Sidecars need to know where discovery lives, unless it runs here. */
	if (c->roles[ROLE_SIDECAR] && !c->mesh.discovery_address) {
		if (c->roles[ROLE_PILOT] || c->roles[ROLE_ISTIOD])
			c->mesh.discovery_address = dup_or_oom(p, "127.0.0.1:15010");
		else
			ERR(p, role_item(sec, ROLE_SIDECAR), "the sidecar needs mesh.discovery_address (Pilot or istiod, host:port)");
	}

	/* etcd membership. */
	if (c->roles[ROLE_ETCD]) {
		struct etcd *e = &c->etcd;
		const struct ynode *en2 = ymap_get(sec, "etcd");
		if (!e->name) {
			ERR(p, en2 ? en2 : role_item(sec, ROLE_ETCD), "the etcd role needs etcd.name (this member's name)");
		} else if (e->n_initial_cluster) {
			bool self = false;
			for (unsigned i = 0; i < e->n_initial_cluster; i++)
				self |= e->initial_cluster[i].name && strcmp(e->initial_cluster[i].name, e->name) == 0;
			if (!self)
				ERR(p, node_at(sec, "etcd", "initial_cluster", NULL),
				    "etcd.initial_cluster does not list this member (%.60s)", e->name);
		}
		if (e->initial_cluster_state && strcmp(e->initial_cluster_state, "new") != 0 &&
		    strcmp(e->initial_cluster_state, "existing") != 0)
			ERR(p, node_at(sec, "etcd", "initial_cluster_state", NULL),
			    "initial_cluster_state must be new or existing");
	}
}

static void defaults_fill(struct pctx *p)
{
	struct config *c = p->c;
#define DEF(field, val) do { if (!(field)) (field) = dup_or_oom(p, (val)); } while (0)
	DEF(c->mesh.trust_domain, "cluster.local");
	DEF(c->mesh.namespace_, "default");
	DEF(c->mesh.service_account, "default");
	DEF(c->user.name, "istio-proxy");
	DEF(c->install_prefix, "/opt/meshboot");
	if (c->release.manifest_url && !c->release.signature_url) {
		if (asprintf(&c->release.signature_url, "%s.minisig", c->release.manifest_url) < 0) {
			c->release.signature_url = NULL;
			p->oom = true;
		}
	}
	if (c->certs.ca_mode == CA_MODE_ISTIO && !c->certs.ca_address && c->mesh.ca_address)
		c->certs.ca_address = dup_or_oom(p, c->mesh.ca_address);
	if (c->roles[ROLE_ETCD]) {
		DEF(c->etcd.data_dir, "/var/lib/etcd");
		DEF(c->etcd.listen_client_urls, "http://0.0.0.0:2379");
		DEF(c->etcd.listen_peer_urls, "http://0.0.0.0:2380");
		DEF(c->etcd.initial_cluster_state, "new");
		DEF(c->etcd.initial_cluster_token, "meshboot-etcd");
	}
	if (c->roles[ROLE_APISERVER]) {
		if (c->apiserver.n_etcd_servers == 0) {
			char *s = dup_or_oom(p, "http://127.0.0.1:2379");
			if (s)
				c->apiserver.etcd_servers[c->apiserver.n_etcd_servers++] = s;
		}
		DEF(c->apiserver.service_cluster_ip_range, "10.99.0.0/16");
		DEF(c->apiserver.bind_address, "127.0.0.1");
	}
#undef DEF
}

int config_parse_buffer(const char *source, const char *data, size_t len,
                        struct config *c, struct diag_list *d)
{
	struct userdata ud;
	unsigned before = d->n;
	int r = userdata_extract(source, data, len, &ud, d);
	if (r < 0)
		return r;
	struct ynode *doc = NULL;
	r = ytree_parse(ud.source, ud.yaml, ud.len, ud.line_offset, &doc, d);
	if (r < 0)
		goto out;
	struct pctx p = { .source = ud.source, .d = d, .c = c };
	bool cloud_config = str_has_prefix(ud.yaml, "#cloud-config");
	if (!doc || (doc->type == YN_SCALAR && doc->len == 0)) {
		diag_add(d, ud.source, 0, 0, "empty document: no meshboot configuration");
		r = -EBADMSG;
		goto out;
	}
	if (doc->type != YN_MAP) {
		diag_add(d, ud.source, doc->line, doc->col, "the document must be a mapping, got %s", type_name(doc));
		r = -EBADMSG;
		goto out;
	}
	const struct ynode *sec = doc;
	const struct ynode *wrapped = NULL, *wrapped_key = NULL;
	for (unsigned i = 0; i + 1 < doc->n; i += 2) {
		const struct ynode *k = doc->items[i];
		if (k->type == YN_SCALAR && strcmp(k->value, "meshboot") == 0) {
			if (wrapped) {
				ERR(&p, k, "duplicate top-level key \"meshboot\" (the first, at line %u, is used)",
				    wrapped_key->line);
				continue;
			}
			wrapped_key = k;
			wrapped = doc->items[i + 1];
		}
	}
	if (wrapped) {
		sec = wrapped;
		if (sec->type == YN_SCALAR && sec->len == 0 && sec->plain) {
			ERR(&p, sec, "meshboot: is empty");
			r = -EBADMSG;
			goto out;
		}
	} else if (cloud_config) {
		diag_add(d, ud.source, 1, 1, "#cloud-config user-data without a meshboot: key");
		r = -EBADMSG;
		goto out;
	}
	sweep_yaml_features(&p, sec, 0);
	section_parse(&p, sec, top_fields, c, wrapped ? "meshboot" : "the configuration");
	if (sec->type == YN_MAP)
		config_check(&p, sec);
	defaults_fill(&p);
	if (p.oom)
		r = -ENOMEM;
	else
		r = d->n > before || d->dropped ? -EBADMSG : 0;
out:
	ytree_free(doc);
	userdata_free(&ud);
	return r;
}
