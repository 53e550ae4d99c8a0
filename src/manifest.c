/* SPDX-License-Identifier: Apache-2.0 */
#include "manifest.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "config.h"

#define SLOTS 16384u  /* hash slots for duplicate names: > 1.6 * MANIFEST_MAX_ENTRIES */

struct parser {
	const char *source;
	struct diag_list *d;
	unsigned errors;
	bool full;        /* over MANIFEST_MAX_ENTRIES: stop */
	struct manifest m;
	size_t cap;
	unsigned *lines;  /* line of each entry, for duplicate messages */
	uint32_t *slots;  /* entry index + 1, 0 = empty */
};

static void parser_error(struct parser *p, unsigned line, unsigned col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void parser_error(struct parser *p, unsigned line, unsigned col, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_add(p->d, p->source, line, col, "%s", msg);
	p->errors++;
}

/* A byte for a message: 'c' when printable ASCII, else 0xHH. */
static const char *byte_show(unsigned char c, char buf[8])
{
	if (c >= 0x20 && c < 0x7f)
		snprintf(buf, 8, "'%c'", c);
	else
		snprintf(buf, 8, "0x%02x", c);
	return buf;
}

static bool is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Offset of the first byte that may not appear in a file name ('/' or a
 * control character), or len when there is none. */
static size_t name_bad_offset(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] == '/' || is_control((unsigned char)s[i]))
			return i;
	return len;
}

static bool name_is_dots(const char *s, size_t len)
{
	return (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.');
}

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;  /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* The slot holding name, or the empty slot where it would go. */
static uint32_t *slot_find(struct parser *p, const char *name)
{
	uint32_t i = name_hash(name) & (SLOTS - 1);
	while (p->slots[i] && strcmp(p->m.v[p->slots[i] - 1].name, name) != 0)
		i = (i + 1) & (SLOTS - 1);
	return &p->slots[i];
}

/* "SHA256 (name) = ..." as written by `sha256sum --tag`. */
static bool line_is_bsd_style(const char *s, size_t len)
{
	size_t i = 0;
	while (i < len && ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
		i++;
	return i > 0 && i + 1 < len && s[i] == ' ' && s[i + 1] == '(';
}

/* Adds one entry; name is checked, hex is lower-case.  false only on ENOMEM. */
static bool parser_add(struct parser *p, unsigned line, unsigned name_col, const char *name, size_t name_len,
                       int alg, const char *hex)
{
	if (!p->slots) {
		p->slots = calloc(SLOTS, sizeof(*p->slots));
		if (!p->slots)
			return false;
	}
	char *n = strndup(name, name_len);
	if (!n)
		return false;
	uint32_t *slot = slot_find(p, n);
	if (*slot) {
		const struct manifest_entry *e = &p->m.v[*slot - 1];
		if (e->alg != alg || strcmp(e->hex, hex) != 0)
			parser_error(p, line, name_col, "\"%s\" is listed again with a different digest (first at line %u)",
			             n, p->lines[*slot - 1]);
		free(n);
		return true;
	}
	if (p->m.n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		if (cap > MANIFEST_MAX_ENTRIES)
			cap = MANIFEST_MAX_ENTRIES;
		struct manifest_entry *v = realloc(p->m.v, cap * sizeof(*v));
		if (!v) {
			free(n);
			return false;
		}
		p->m.v = v;
		unsigned *l = realloc(p->lines, cap * sizeof(*l));
		if (!l) {
			free(n);
			return false;
		}
		p->lines = l;
		p->cap = cap;
	}
	struct manifest_entry *e = &p->m.v[p->m.n];
	e->name = n;
	e->alg = alg;
	memcpy(e->hex, hex, strlen(hex) + 1);
	p->lines[p->m.n] = line;
	*slot = (uint32_t)++p->m.n;
	return true;
}

/* One line without its terminator.  false only on ENOMEM. */
static bool parser_line(struct parser *p, unsigned line, const char *s, size_t len)
{
	char show[8];
	const char *nul = memchr(s, '\0', len);
	if (nul) {
		parser_error(p, line, (unsigned)(nul - s) + 1, "NUL byte");
		return true;
	}
	size_t blank = 0;
	while (blank < len && (s[blank] == ' ' || s[blank] == '\t'))
		blank++;
	if (blank == len || s[0] == '#')
		return true;
	if (s[0] == '\\') {
		parser_error(p, line, 1, "escaped file names (a line starting with '\\') are not supported");
		return true;
	}
	if (line_is_bsd_style(s, len)) {
		parser_error(p, line, 1, "BSD-style line (\"ALG (name) = digest\", from --tag): "
		             "expected \"<hex>  <name>\" as sha256sum writes it");
		return true;
	}

	size_t i = 0;
	while (i < len && s[i] != ' ' && s[i] != '\t') {
		if (!is_hex((unsigned char)s[i])) {
			parser_error(p, line, (unsigned)i + 1, "invalid hex digit %s in the digest",
			             byte_show((unsigned char)s[i], show));
			return true;
		}
		i++;
	}
	if (i == 0) {
		parser_error(p, line, 1, "expected a hex digest at the start of the line");
		return true;
	}
	if (i != 64 && i != 128) {
		parser_error(p, line, 1, "digest has %zu hex digits, expected 64 (SHA-256) or 128 (SHA-512)", i);
		return true;
	}
	if (i == len || (i + 1 == len && s[i] == ' ')) {
		parser_error(p, line, (unsigned)len + 1, "missing file name after the digest");
		return true;
	}
	if (s[i] != ' ') {
		parser_error(p, line, (unsigned)i + 1,
		             "expected two spaces or \" *\" between the digest and the file name, found %s",
		             byte_show((unsigned char)s[i], show));
		return true;
	}
	if (s[i + 1] != ' ' && s[i + 1] != '*') {
		parser_error(p, line, (unsigned)i + 2,
		             "expected two spaces or \" *\" between the digest and the file name, found %s",
		             byte_show((unsigned char)s[i + 1], show));
		return true;
	}
	const char *name = s + i + 2;
	size_t name_len = len - i - 2;
	unsigned name_col = (unsigned)i + 3;
	if (name_len == 0) {
		parser_error(p, line, name_col, "missing file name after the digest");
		return true;
	}
	if (name_len > MANIFEST_MAX_NAME) {
		parser_error(p, line, name_col, "file name is longer than %u bytes", MANIFEST_MAX_NAME);
		return true;
	}
	size_t bad = name_bad_offset(name, name_len);
	if (bad < name_len) {
		if (name[bad] == '/')
			parser_error(p, line, name_col + (unsigned)bad,
			             "file name contains '/': a manifest lists plain file names, not paths");
		else
			parser_error(p, line, name_col + (unsigned)bad, "control character %s in the file name",
			             byte_show((unsigned char)name[bad], show));
		return true;
	}
	if (name_is_dots(name, name_len)) {
		parser_error(p, line, name_col, "file name \"%.*s\" is not allowed", (int)name_len, name);
		return true;
	}
	if (p->m.n == MANIFEST_MAX_ENTRIES) {
		/* a repeat of a known name still costs nothing; a new one is over the limit */
		char *n = strndup(name, name_len);
		if (!n)
			return false;
		bool known = *slot_find(p, n) != 0;
		free(n);
		if (!known) {
			parser_error(p, line, 1, "more than %u entries", MANIFEST_MAX_ENTRIES);
			p->full = true;
			return true;
		}
	}

	char hex[129];
	for (size_t k = 0; k < i; k++)
		hex[k] = (s[k] >= 'A' && s[k] <= 'F') ? (char)(s[k] - 'A' + 'a') : s[k];
	hex[i] = '\0';
	return parser_add(p, line, name_col, name, name_len, i == 64 ? DIGEST_SHA256 : DIGEST_SHA512, hex);
}

int manifest_parse(const char *source, const char *text, size_t len, struct manifest *out,
                   struct diag_list *d)
{
	struct parser p = { .source = source, .d = d };
	*out = (struct manifest){ 0 };
	if (len > MANIFEST_MAX_BYTES) {
		parser_error(&p, 0, 0, "manifest is larger than %u bytes", MANIFEST_MAX_BYTES);
		return -EBADMSG;
	}
	const char *pos = text, *end = text ? text + len : text;
	unsigned line = 0;
	int r = 0;
	while (pos < end) {
		const char *nl = memchr(pos, '\n', (size_t)(end - pos));
		const char *stop = nl ? nl : end;
		size_t line_len = (size_t)(stop - pos);
		if (line_len > 0 && pos[line_len - 1] == '\r')
			line_len--;
		line++;
		if (!parser_line(&p, line, pos, line_len)) {
			r = -ENOMEM;
			break;
		}
		if (p.full)
			break;
		pos = nl ? nl + 1 : end;
	}
	if (r == 0 && p.errors == 0 && p.m.n == 0)
		parser_error(&p, 0, 0, "no file digests found (expected lines \"<hex>  <name>\")");
	if (r == 0 && p.errors)
		r = -EBADMSG;
	free(p.lines);
	free(p.slots);
	if (r < 0) {
		manifest_free(&p.m);
		return r;
	}
	*out = p.m;
	return 0;
}

const struct manifest_entry *manifest_find(const struct manifest *m, const char *name)
{
	if (!m || !name)
		return NULL;
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->v[i].name, name) == 0)
			return &m->v[i];
	return NULL;
}

void manifest_free(struct manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].name);
	free(m->v);
	*m = (struct manifest){ 0 };
}

static bool has_encoded(const char *s, size_t len, const char *enc)
{
	for (size_t i = 0; i + 3 <= len; i++)
		if (strncasecmp(s + i, enc, 3) == 0)
			return true;
	return false;
}

char *manifest_name_for_url(const char *url)
{
	const char *sep = url ? strstr(url, "://") : NULL;
	if (!sep || sep == url) {
		errno = EINVAL;
		return NULL;
	}
	const char *path = sep + 3 + strcspn(sep + 3, "/?#");
	if (*path != '/') {
		errno = EINVAL;
		return NULL;
	}
	const char *end = path + strcspn(path, "?#");
	const char *name = end;
	while (name[-1] != '/')
		name--;
	size_t len = (size_t)(end - name);
	if (len == 0 || len > MANIFEST_MAX_NAME || name_bad_offset(name, len) < len || name_is_dots(name, len) ||
	    memchr(name, '\\', len) || has_encoded(name, len, "%2f") || has_encoded(name, len, "%5c")) {
		errno = EINVAL;
		return NULL;
	}
	char *r = strndup(name, len);
	if (!r)
		errno = ENOMEM;
	return r;
}
