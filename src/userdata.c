/* SPDX-License-Identifier: Apache-2.0 */
#include "userdata.h"

#include <archive.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#define MIME_MAX_DEPTH 3
#define MIME_MAX_PARTS 64

void userdata_free(struct userdata *u)
{
	free(u->yaml);
	free(u->source);
	memset(u, 0, sizeof(*u));
}

/* Decompress a gzip member with libarchive's raw reader, refusing more
 * than USERDATA_MAX bytes of output.  -EBADMSG: corrupt or truncated;
 * -EFBIG: over the cap. */
static int gzip_inflate(const char *data, size_t len, char **out, size_t *out_len)
{
	struct archive *a = archive_read_new();
	if (!a)
		return -ENOMEM;
	int r = -EBADMSG;
	struct strbuf sb;
	sb_init(&sb);
	archive_read_support_filter_gzip(a);
	archive_read_support_format_raw(a);
	struct archive_entry *e;
	if (archive_read_open_memory(a, data, len) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK)
		goto out;
	char buf[16384];
	for (;;) {
		la_ssize_t n = archive_read_data(a, buf, sizeof(buf));
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		if (sb.len + (size_t)n > USERDATA_MAX) {
			r = -EFBIG;
			goto out;
		}
		sb_append(&sb, buf, (size_t)n);
	}
	if (sb_ok(&sb) < 0) {
		r = -ENOMEM;
		goto out;
	}
	*out_len = sb.len;
	*out = sb_steal(&sb);
	r = *out ? 0 : -ENOMEM;
out:
	sb_free(&sb);
	archive_read_free(a);
	return r;
}

/* A header block: lines "Name: value" (with folded continuation lines)
 * up to an empty line.  Returns the offset of the body, or 0 if the text
 * does not start with a header block. */
struct mime_headers {
	char content_type[256];
	char encoding[64];
	char boundary[128];
	bool has_boundary;
};

static void header_param(const char *value, const char *name, char *out, size_t outlen, bool *found)
{
	size_t nl = strlen(name);
	for (const char *p = value; (p = strchr(p, ';')); ) {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, name, nl) != 0 || p[nl] != '=')
			continue;
		p += nl + 1;
		size_t i = 0;
		if (*p == '"') {
			p++;
			while (*p && *p != '"' && i + 1 < outlen)
				out[i++] = *p++;
		} else {
			while (*p && *p != ';' && *p != ' ' && *p != '\t' && *p != '\r' && i + 1 < outlen)
				out[i++] = *p++;
		}
		out[i] = '\0';
		*found = i > 0;
		return;
	}
}

static size_t headers_parse(const char *s, size_t len, struct mime_headers *h)
{
	memset(h, 0, sizeof(*h));
	size_t pos = 0;
	char line[1024];
	size_t ll = 0;
	bool any = false;
	/* Process one logical header line (unfolded) at a time. */
	while (pos <= len) {
		size_t eol = pos;
		while (eol < len && s[eol] != '\n')
			eol++;
		size_t end = eol;
		if (end > pos && s[end - 1] == '\r')
			end--;
		bool blank = end == pos;
		bool cont = !blank && (s[pos] == ' ' || s[pos] == '\t');
		if (!cont && ll > 0) {
			line[ll] = '\0';
			char *colon = strchr(line, ':');
			if (!colon)
				return 0;
			*colon = '\0';
			char *v = colon + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			if (strcasecmp(line, "Content-Type") == 0) {
				snprintf(h->content_type, sizeof(h->content_type), "%s", v);
				header_param(v, "boundary", h->boundary, sizeof(h->boundary), &h->has_boundary);
			} else if (strcasecmp(line, "Content-Transfer-Encoding") == 0) {
				snprintf(h->encoding, sizeof(h->encoding), "%s", v);
			}
			any = true;
			ll = 0;
		}
		if (blank)
			return any ? (eol < len ? eol + 1 : len) : 0;
		if (eol >= len)
			return 0;  /* headers never ended */
		if (!cont) {
			/* A header name is printable ASCII up to ':' */
			size_t k = pos;
			while (k < end && s[k] != ':' && s[k] > ' ' && s[k] < 0x7f)
				k++;
			if (k == pos || k >= end || s[k] != ':')
				return 0;
		}
		size_t n = end - pos;
		if (ll + n >= sizeof(line) - 1)
			n = sizeof(line) - 1 - ll;
		memcpy(line + ll, s + pos, n);
		ll += n;
		pos = eol + 1;
	}
	return 0;
}

static bool ctype_is(const char *ctype, const char *want)
{
	size_t n = strlen(want);
	return strncasecmp(ctype, want, n) == 0 && (ctype[n] == '\0' || ctype[n] == ';' || ctype[n] == ' ');
}

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

static int base64_decode(const char *s, size_t len, char **out, size_t *out_len)
{
	char *o = malloc(len / 4 * 3 + 4);
	if (!o)
		return -ENOMEM;
	size_t n = 0;
	uint32_t acc = 0;
	int bits = 0, pad = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r' || c == '\n' || c == ' ' || c == '\t')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		int v = b64val(c);
		if (v < 0 || pad) {
			free(o);
			return -EBADMSG;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	if (pad > 2 || bits >= 6) {
		free(o);
		return -EBADMSG;
	}
	o[n] = '\0';
	*out = o;
	*out_len = n;
	return 0;
}

static unsigned count_lines(const char *s, size_t n)
{
	unsigned c = 0;
	for (size_t i = 0; i < n; i++)
		c += s[i] == '\n';
	return c;
}

/* Does this cloud-config text hold a top-level meshboot key?  A line that
 * starts, in column 1, with "meshboot:" (or the quoted key). */
static bool text_has_meshboot(const char *s, size_t len)
{
	static const char *const keys[] = { "meshboot:", "meshboot :", "\"meshboot\":", "'meshboot':" };
	for (size_t pos = 0; pos < len; ) {
		for (size_t k = 0; k < ELEMENTSOF(keys); k++) {
			size_t kl = strlen(keys[k]);
			if (len - pos >= kl && memcmp(s + pos, keys[k], kl) == 0)
				return true;
		}
		const char *nl = memchr(s + pos, '\n', len - pos);
		if (!nl)
			break;
		pos = (size_t)(nl - s) + 1;
	}
	return false;
}

struct found {
	char *text;
	size_t len;
	unsigned line_offset;
	bool direct;       /* text is a slice of the original input (offset valid) */
	unsigned part;     /* 1-based part number, 0 if not from MIME */
	unsigned part_line;
	unsigned count;
};

static int mime_walk(const char *source, const char *s, size_t len, unsigned base_line, bool direct,
                     unsigned depth, struct found *f, unsigned *partno, struct diag_list *d);

/* Handle one MIME entity (headers + body) found at s. */
static int mime_entity(const char *source, const char *s, size_t len, unsigned base_line, bool direct,
                       unsigned depth, struct found *f, unsigned *partno, struct diag_list *d)
{
	struct mime_headers h;
	size_t body = headers_parse(s, len, &h);
	if (body == 0) {
		diag_add(d, source, base_line + 1, 1, "MIME part %u has no valid header block", *partno);
		return -EBADMSG;
	}
	if (ctype_is(h.content_type, "multipart/mixed") || ctype_is(h.content_type, "multipart/alternative")) {
		if (depth >= MIME_MAX_DEPTH) {
			diag_add(d, source, base_line + 1, 1, "MIME multipart nested more than %d levels deep",
			         MIME_MAX_DEPTH);
			return -EBADMSG;
		}
		return mime_walk(source, s, len, base_line, direct, depth + 1, f, partno, d);
	}
	if (!ctype_is(h.content_type, "text/cloud-config"))
		return 0;  /* shell scripts, boothooks...: cloud-init's, not ours */
	const char *bs = s + body;
	size_t bl = len - body;
	_cleanup_free_ char *decoded = NULL;
	size_t dl = 0;
	bool part_direct = direct;
	if (strcasecmp(h.encoding, "base64") == 0) {
		if (base64_decode(bs, bl, &decoded, &dl) < 0) {
			diag_add(d, source, base_line + count_lines(s, body) + 1, 1, "MIME part %u: invalid base64 body",
			         *partno);
			return -EBADMSG;
		}
		bs = decoded;
		bl = dl;
		part_direct = false;
	} else if (h.encoding[0] && strcasecmp(h.encoding, "7bit") != 0 &&
	           strcasecmp(h.encoding, "8bit") != 0 && strcasecmp(h.encoding, "binary") != 0) {
		diag_add(d, source, base_line + 1, 1, "MIME part %u: unsupported Content-Transfer-Encoding \"%.40s\"",
		         *partno, h.encoding);
		return -EBADMSG;
	}
	if (!text_has_meshboot(bs, bl))
		return 0;
	f->count++;
	if (f->count > 1) {
		diag_add(d, source, base_line + 1, 1,
		         "MIME parts %u (line %u) and %u both hold a meshboot: key; exactly one part may",
		         f->part, f->part_line, *partno);
		return -EBADMSG;
	}
	f->text = malloc(bl + 1);
	if (!f->text)
		return -ENOMEM;
	memcpy(f->text, bs, bl);
	f->text[bl] = '\0';
	f->len = bl;
	f->part = *partno;
	f->part_line = base_line + 1;
	f->direct = part_direct;
	f->line_offset = part_direct ? base_line + count_lines(s, body) : 0;
	return 0;
}

/* Split a multipart entity into parts by its boundary. */
static int mime_walk(const char *source, const char *s, size_t len, unsigned base_line, bool direct,
                     unsigned depth, struct found *f, unsigned *partno, struct diag_list *d)
{
	struct mime_headers h;
	size_t body = headers_parse(s, len, &h);
	if (!h.has_boundary) {
		diag_add(d, source, base_line + 1, 1, "multipart user-data without a boundary parameter");
		return -EBADMSG;
	}
	char delim[160];
	int dl = snprintf(delim, sizeof(delim), "--%s", h.boundary);
	size_t dlen = (size_t)dl;
	size_t pos = body;
	bool closed = false;
	size_t part_start = 0;
	bool in_part = false;
	unsigned parts = 0;
	int r = 0;
	while (pos < len) {
		const char *nl = memchr(s + pos, '\n', len - pos);
		size_t eol = nl ? (size_t)(nl - s) : len;
		size_t end = eol;
		if (end > pos && s[end - 1] == '\r')
			end--;
		bool is_delim = end - pos >= dlen && memcmp(s + pos, delim, dlen) == 0;
		if (is_delim) {
			bool is_close = end - pos >= dlen + 2 && s[pos + dlen] == '-' && s[pos + dlen + 1] == '-';
			if (in_part) {
				/* The CRLF before a delimiter belongs to the delimiter. */
				size_t pend = pos;
				if (pend > part_start && s[pend - 1] == '\n')
					pend--;
				if (pend > part_start && s[pend - 1] == '\r')
					pend--;
				(*partno)++;
				if (++parts > MIME_MAX_PARTS) {
					diag_add(d, source, base_line + count_lines(s, pos) + 1, 1, "more than %d MIME parts",
					         MIME_MAX_PARTS);
					return -EBADMSG;
				}
				int k = mime_entity(source, s + part_start, pend - part_start,
				                    base_line + count_lines(s, part_start), direct, depth, f, partno, d);
				if (k < 0 && r == 0)
					r = k;
			}
			if (is_close) {
				closed = true;
				break;
			}
			in_part = true;
			part_start = eol < len ? eol + 1 : len;
		}
		pos = eol + 1;
	}
	if (r < 0)
		return r;
	if (parts == 0 && !in_part) {
		diag_add(d, source, base_line + 1, 1,
		         "MIME boundary \"%.70s\" declared in Content-Type never appears in the body", h.boundary);
		return -EBADMSG;
	}
	if (!closed) {
		diag_add(d, source, base_line + count_lines(s, len) + (len && s[len - 1] != '\n'), 1,
		         "MIME message ends without its closing boundary \"%.70s--\" (truncated user-data?)", delim);
		return -EBADMSG;
	}
	return 0;
}

static bool looks_like_mime(const char *s, size_t len)
{
	static const char *const starts[] = { "Content-Type:", "MIME-Version:" };
	for (size_t i = 0; i < ELEMENTSOF(starts); i++) {
		size_t n = strlen(starts[i]);
		if (len >= n && strncasecmp(s, starts[i], n) == 0)
			return true;
	}
	return false;
}

int userdata_extract(const char *source, const char *data, size_t len,
                     struct userdata *out, struct diag_list *diags)
{
	memset(out, 0, sizeof(*out));
	_cleanup_free_ char *inflated = NULL;
	_cleanup_free_ char *gzname = NULL;
	bool direct = true;
	if (len >= 2 && (unsigned char)data[0] == 0x1f && (unsigned char)data[1] == 0x8b) {
		size_t il = 0;
		int r = gzip_inflate(data, len, &inflated, &il);
		if (r == -EFBIG) {
			diag_add(diags, source, 0, 0, "gzip user-data decompresses to more than %u bytes; refused",
			         USERDATA_MAX);
			return -EBADMSG;
		}
		if (r == -EBADMSG) {
			diag_add(diags, source, 0, 0, "gzip user-data is corrupt or truncated");
			return -EBADMSG;
		}
		if (r < 0)
			return r;
		data = inflated;
		len = il;
		if (asprintf(&gzname, "%s(gunzipped)", source) < 0) {
			gzname = NULL;
			return -ENOMEM;
		}
		source = gzname;
	}
	if (memchr(data, '\0', len)) {
		const char *nul = memchr(data, '\0', len);
		diag_add(diags, source, count_lines(data, (size_t)(nul - data)) + 1, 1,
		         "user-data contains NUL bytes; not a text document");
		return -EBADMSG;
	}
	struct found f = { 0 };
	if (looks_like_mime(data, len)) {
		unsigned partno = 0;
		int r = mime_walk(source, data, len, 0, direct, 0, &f, &partno, diags);
		if (r < 0) {
			free(f.text);
			return r;
		}
		if (f.count == 0) {
			diag_add(diags, source, 1, 1,
			         "no text/cloud-config part of the MIME user-data holds a meshboot: key");
			return -EBADMSG;
		}
	} else {
		if (len >= 2 && data[0] == '#' && data[1] == '!') {
			diag_add(diags, source, 1, 1, "user-data is a script (#!), not a #cloud-config document");
			return -EBADMSG;
		}
		f.text = malloc(len + 1);
		if (!f.text)
			return -ENOMEM;
		memcpy(f.text, data, len);
		f.text[len] = '\0';
		f.len = len;
		f.direct = direct;
	}
	if (f.direct || !f.part)
		out->source = strdup(source);
	else if (asprintf(&out->source, "%s(part %u)", source, f.part) < 0)
		out->source = NULL;
	if (!out->source) {
		free(f.text);
		return -ENOMEM;
	}
	out->yaml = f.text;
	out->len = f.len;
	out->line_offset = f.direct ? f.line_offset : 0;
	return 0;
}
