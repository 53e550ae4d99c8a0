/* SPDX-License-Identifier: Apache-2.0 */
/* The record of a run (status.h): rendering, the strict reader, printing. */
#include "autoconf.h"

#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "runonce.h"

/* ---- strings ------------------------------------------------------------- */

/* Length of the UTF-8 sequence at s (n bytes available) and its code point,
 * or 0 when invalid (overlong, surrogate, > U+10FFFF, truncated). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) { len = 2; c = s[0] & 0x1f; }
	else if ((s[0] & 0xf0) == 0xe0) { len = 3; c = s[0] & 0x0f; }
	else if ((s[0] & 0xf8) == 0xf0) { len = 4; c = s[0] & 0x07; }
	else return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* Characters a status string may hold: valid UTF-8, no C0/C1 control
 * characters or DEL except \n and \t. */
static bool cp_clean(uint32_t c)
{
	if (c == '\n' || c == '\t')
		return true;
	return !(c < 0x20 || (c >= 0x7f && c <= 0x9f));
}

static bool str_clean(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n; ) {
		uint32_t c;
		size_t l = utf8_decode(p + i, n - i, &c);
		if (l == 0 || !cp_clean(c))
			return false;
		i += l;
	}
	return true;
}

/* Copy field (at most cap - 1 bytes, up to its NUL) into out[cap], every
 * byte of an invalid sequence or a control character replaced by '?': the
 * result is str_clean and has the same length, so it still fits.  The
 * writer uses this, so the reader can be strict. */
static void sanitise(char *out, const char *field, size_t cap)
{
	size_t n = strnlen(field, cap - 1);
	const unsigned char *p = (const unsigned char *)field;
	for (size_t i = 0; i < n; ) {
		uint32_t c;
		size_t l = utf8_decode(p + i, n - i, &c);
		if (l == 0) {
			out[i++] = '?';
		} else if (!cp_clean(c)) {
			for (size_t k = 0; k < l; k++)
				out[i++] = '?';
		} else {
			memcpy(out + i, p + i, l);
			i += l;
		}
	}
	out[n] = '\0';
}

static void copy_field(char *dst, size_t cap, const char *src)
{
	if (!src)
		src = "";
	char *tmp = dst;
	size_t n = strnlen(src, cap - 1);
	memmove(tmp, src, n);
	tmp[n] = '\0';
	sanitise(dst, tmp, cap);
}

#define JSON_FIELD(sb, field) json_field(sb, field, sizeof(field))
static void json_field(struct strbuf *sb, const char *field, size_t cap)
{
	char tmp[512];
	sanitise(tmp, field, cap < sizeof(tmp) ? cap : sizeof(tmp));
	sb_json_str(sb, tmp);
}

/* ---- numbers: plain decimals, rendered to the millisecond ----------------- */

static uint64_t to_ms(double x)
{
	if (!(x >= 0))  /* negative, NaN */
		return 0;
	if (x > STATUS_MAX_TIME)
		x = STATUS_MAX_TIME;
	return (uint64_t)(x * 1000.0 + 0.5);
}

static void put_num(struct strbuf *sb, double x)
{
	uint64_t ms = to_ms(x);
	sb_printf(sb, "%llu.%03llu", (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000));
}

/* Seconds with two decimals (locale-independent). */
static void put_secs(struct strbuf *sb, double x)
{
	uint64_t cs = (to_ms(x) + 5) / 10;
	sb_printf(sb, "%llu.%02llu", (unsigned long long)(cs / 100), (unsigned long long)(cs % 100));
}

static void put_iso(struct strbuf *sb, double t)
{
	time_t s = (time_t)(to_ms(t) / 1000);
	struct tm tm;
	char buf[64];
	if (!gmtime_r(&s, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		sb_puts(sb, "?");
	else
		sb_puts(sb, buf);
}

/* ---- names ----------------------------------------------------------------- */

static const char *const result_names[] = {
	[STEP_CHANGED] = "changed", [STEP_UNCHANGED] = "unchanged", [STEP_FAILED] = "failed", [STEP_SKIPPED] = "skipped",
};
static const char *const state_names[] = {
	[RUN_RUNNING] = "running", [RUN_DONE] = "done", [RUN_FAILED] = "failed",
};

/* Out-of-range values render as failed: never claim success by accident. */
const char *step_result_name(enum step_result r)
{
	return (unsigned)r < ELEMENTSOF(result_names) ? result_names[r] : "failed";
}

const char *run_state_name(enum run_state s)
{
	return (unsigned)s < ELEMENTSOF(state_names) ? state_names[s] : "failed";
}

/* ---- building a record ------------------------------------------------------ */

static double now_realtime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_monotonic(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void status_init(struct run_status *st, const char *stage, const char *instance_id)
{
	memset(st, 0, sizeof(*st));
	copy_field(st->version, sizeof(st->version), PACKAGE_VERSION);
	copy_field(st->stage, sizeof(st->stage), stage);
	copy_field(st->instance_id, sizeof(st->instance_id), instance_id);
	st->started = now_realtime();
	st->state = RUN_RUNNING;
}

void status_note(struct run_status *st, const char *fmt, ...)
{
	if (st->n_notes >= STATUS_MAX_NOTES)
		return;
	char *n = st->notes[st->n_notes++];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(n, sizeof(st->notes[0]), fmt, ap);
	va_end(ap);
	sanitise(n, n, sizeof(st->notes[0]));
}

void status_finish(struct run_status *st, bool ok)
{
	st->finished = now_realtime();
	st->state = ok ? RUN_DONE : RUN_FAILED;
}

void status_step_begin(struct run_status *st, const char *name)
{
	st->step_t0 = 0;
	if (st->n_steps >= STATUS_MAX_STEPS)
		return;
	struct step_record *s = &st->steps[st->n_steps++];
	memset(s, 0, sizeof(*s));
	copy_field(s->name, sizeof(s->name), name);
	s->result = STEP_FAILED;  /* until it ends */
	double t = now_monotonic();
	st->step_t0 = t > 0 ? t : 1e-9;
}

void status_step_end(struct run_status *st, int r, const char *error)
{
	if (st->step_t0 <= 0 || st->n_steps == 0 || st->n_steps > STATUS_MAX_STEPS)
		return;
	struct step_record *s = &st->steps[st->n_steps - 1];
	double d = now_monotonic() - st->step_t0;
	s->seconds = d > 0 ? d : 0;
	st->step_t0 = 0;
	if (r > 0) {
		s->result = STEP_CHANGED;
	} else if (r == 0) {
		s->result = STEP_UNCHANGED;
	} else {
		s->result = STEP_FAILED;
		copy_field(s->error, sizeof(s->error), error ? error : strerror(-r));
	}
}

void status_step_skip(struct run_status *st, const char *name, const char *reason)
{
	st->step_t0 = 0;
	if (st->n_steps >= STATUS_MAX_STEPS)
		return;
	struct step_record *s = &st->steps[st->n_steps++];
	memset(s, 0, sizeof(*s));
	copy_field(s->name, sizeof(s->name), name);
	copy_field(s->error, sizeof(s->error), reason);
	s->result = STEP_SKIPPED;
}

/* ---- JSON out ----------------------------------------------------------------- */

int status_render_json(const struct run_status *st, struct strbuf *out)
{
	unsigned n_steps = st->n_steps < STATUS_MAX_STEPS ? st->n_steps : STATUS_MAX_STEPS;
	unsigned n_notes = st->n_notes < STATUS_MAX_NOTES ? st->n_notes : STATUS_MAX_NOTES;
	sb_puts(out, "{\n  \"version\": ");
	JSON_FIELD(out, st->version);
	sb_puts(out, ",\n  \"stage\": ");
	JSON_FIELD(out, st->stage);
	sb_puts(out, ",\n  \"instance_id\": ");
	JSON_FIELD(out, st->instance_id);
	sb_printf(out, ",\n  \"state\": \"%s\",\n  \"started\": ", run_state_name(st->state));
	put_num(out, st->started);
	sb_puts(out, ",\n  \"finished\": ");
	put_num(out, st->finished);
	sb_puts(out, ",\n  \"steps\": [");
	for (unsigned i = 0; i < n_steps; i++) {
		const struct step_record *s = &st->steps[i];
		sb_puts(out, i ? ",\n    {\"name\": " : "\n    {\"name\": ");
		JSON_FIELD(out, s->name);
		sb_printf(out, ", \"result\": \"%s\", \"seconds\": ", step_result_name(s->result));
		put_num(out, s->seconds);
		if (s->error[0]) {
			sb_puts(out, ", \"error\": ");
			JSON_FIELD(out, s->error);
		}
		sb_putc(out, '}');
	}
	sb_puts(out, n_steps ? "\n  ],\n  \"notes\": [" : "],\n  \"notes\": [");
	for (unsigned i = 0; i < n_notes; i++) {
		sb_puts(out, i ? ",\n    " : "\n    ");
		JSON_FIELD(out, st->notes[i]);
	}
	sb_puts(out, n_notes ? "\n  ]\n}\n" : "]\n}\n");
	return sb_ok(out);
}

/* ---- JSON in: exactly what status_render_json writes --------------------------- */

struct jp {
	const char *p, *end;
	unsigned depth;
};

static void skip_ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static bool eat(struct jp *j, char c)
{
	skip_ws(j);
	if (j->p < j->end && *j->p == c) {
		j->p++;
		return true;
	}
	return false;
}

static int open_container(struct jp *j, char c)
{
	if (!eat(j, c) || ++j->depth > STATUS_MAX_DEPTH)
		return -EBADMSG;
	return 0;
}

static int hex4(struct jp *j, uint32_t *v)
{
	if (j->end - j->p < 4)
		return -EBADMSG;
	uint32_t x = 0;
	for (int i = 0; i < 4; i++) {
		char c = *j->p++;
		x <<= 4;
		if (c >= '0' && c <= '9') x |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f') x |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F') x |= (uint32_t)(c - 'A' + 10);
		else return -EBADMSG;
	}
	*v = x;
	return 0;
}

/* A string into out[cap]: must fit (with its NUL) and be str_clean. */
static int parse_string(struct jp *j, char *out, size_t cap)
{
	size_t o = 0;
	if (!eat(j, '"'))
		return -EBADMSG;
	for (;;) {
		if (j->p >= j->end)
			return -EBADMSG;
		unsigned char c = (unsigned char)*j->p++;
		char enc[4];
		size_t n = 1;
		if (c == '"')
			break;
		if (c < 0x20)
			return -EBADMSG;
		if (c != '\\') {
			enc[0] = (char)c;
		} else {
			if (j->p >= j->end)
				return -EBADMSG;
			char e = *j->p++;
			switch (e) {
			case '"': enc[0] = '"'; break;
			case '\\': enc[0] = '\\'; break;
			case '/': enc[0] = '/'; break;
			case 'b': enc[0] = '\b'; break;
			case 'f': enc[0] = '\f'; break;
			case 'n': enc[0] = '\n'; break;
			case 'r': enc[0] = '\r'; break;
			case 't': enc[0] = '\t'; break;
			case 'u': {
				uint32_t cp, lo;
				if (hex4(j, &cp) < 0)
					return -EBADMSG;
				if (cp >= 0xdc00 && cp <= 0xdfff)
					return -EBADMSG;
				if (cp >= 0xd800 && cp <= 0xdbff) {
					if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
						return -EBADMSG;
					j->p += 2;
					if (hex4(j, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
						return -EBADMSG;
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				}
				if (cp < 0x80) {
					enc[0] = (char)cp;
				} else if (cp < 0x800) {
					enc[0] = (char)(0xc0 | cp >> 6);
					enc[1] = (char)(0x80 | (cp & 0x3f));
					n = 2;
				} else if (cp < 0x10000) {
					enc[0] = (char)(0xe0 | cp >> 12);
					enc[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
					enc[2] = (char)(0x80 | (cp & 0x3f));
					n = 3;
				} else {
					enc[0] = (char)(0xf0 | cp >> 18);
					enc[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
					enc[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
					enc[3] = (char)(0x80 | (cp & 0x3f));
					n = 4;
				}
				break;
			}
			default:
				return -EBADMSG;
			}
		}
		if (o + n >= cap)
			return -EBADMSG;
		memcpy(out + o, enc, n);
		o += n;
	}
	out[o] = '\0';
	return str_clean(out, o) ? 0 : -EBADMSG;
}

/* (0|[1-9][0-9]*)(.[0-9]+)?, at most 12 integer and 9 fraction digits,
 * rounded to the millisecond, at most STATUS_MAX_TIME. */
static int parse_number(struct jp *j, double *out)
{
	skip_ws(j);
	const char *p = j->p, *end = j->end;
	uint64_t ip = 0, frac = 0;
	unsigned nd = 0;
	if (p < end && *p == '0') {
		p++;
		nd = 1;
	} else {
		while (p < end && *p >= '0' && *p <= '9') {
			if (++nd > 12)
				return -EBADMSG;
			ip = ip * 10 + (uint64_t)(*p++ - '0');
		}
	}
	if (nd == 0)
		return -EBADMSG;
	if (p < end && *p == '.') {
		p++;
		unsigned fd = 0;
		bool round_up = false;
		while (p < end && *p >= '0' && *p <= '9') {
			if (++fd > 9)
				return -EBADMSG;
			if (fd <= 3)
				frac = frac * 10 + (uint64_t)(*p - '0');
			else if (fd == 4)
				round_up = *p >= '5';
			p++;
		}
		if (fd == 0)
			return -EBADMSG;
		for (; fd < 3; fd++)
			frac *= 10;
		frac += round_up;
	}
	if (p < end && (*p == 'e' || *p == 'E' || *p == '.' || (*p >= '0' && *p <= '9')))
		return -EBADMSG;
	uint64_t ms = ip * 1000 + frac;
	if (ms > (uint64_t)(STATUS_MAX_TIME * 1000))
		return -EBADMSG;
	j->p = p;
	*out = (double)ms / 1000.0;
	return 0;
}

/* An object whose members are among keys (each at most once; all of
 * required); value parses the member's value. */
typedef int (*member_fn)(struct jp *j, size_t key, void *ctx);

static int parse_object(struct jp *j, const char *const *keys, size_t n_keys, unsigned required, member_fn value,
                        void *ctx)
{
	int r = open_container(j, '{');
	if (r < 0)
		return r;
	unsigned seen = 0;
	if (!eat(j, '}')) {
		for (;;) {
			char key[32];
			if (parse_string(j, key, sizeof(key)) < 0)
				return -EBADMSG;
			size_t i = 0;
			while (i < n_keys && strcmp(key, keys[i]) != 0)
				i++;
			if (i == n_keys || (seen & (1u << i)) || !eat(j, ':'))
				return -EBADMSG;
			seen |= 1u << i;
			r = value(j, i, ctx);
			if (r < 0)
				return r;
			if (eat(j, ','))
				continue;
			if (eat(j, '}'))
				break;
			return -EBADMSG;
		}
	}
	j->depth--;
	return (seen & required) == required ? 0 : -EBADMSG;
}

typedef int (*item_fn)(struct jp *j, unsigned i, void *ctx);

static int parse_array(struct jp *j, unsigned max, item_fn item, void *ctx, unsigned *n)
{
	int r = open_container(j, '[');
	if (r < 0)
		return r;
	*n = 0;
	if (!eat(j, ']')) {
		for (;;) {
			if (*n >= max)
				return -EBADMSG;
			r = item(j, *n, ctx);
			if (r < 0)
				return r;
			(*n)++;
			if (eat(j, ','))
				continue;
			if (eat(j, ']'))
				break;
			return -EBADMSG;
		}
	}
	j->depth--;
	return 0;
}

static int parse_enum(struct jp *j, const char *const *names, size_t n, int *out)
{
	char buf[16];
	if (parse_string(j, buf, sizeof(buf)) < 0)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++)
		if (names[i] && strcmp(buf, names[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	return -EBADMSG;
}

enum { SK_NAME, SK_RESULT, SK_SECONDS, SK_ERROR };
static const char *const step_keys[] = { "name", "result", "seconds", "error" };

static int step_member(struct jp *j, size_t key, void *ctx)
{
	struct step_record *s = ctx;
	int v;
	switch (key) {
	case SK_NAME: return parse_string(j, s->name, sizeof(s->name));
	case SK_RESULT:
		if (parse_enum(j, result_names, ELEMENTSOF(result_names), &v) < 0)
			return -EBADMSG;
		s->result = (enum step_result)v;
		return 0;
	case SK_SECONDS: return parse_number(j, &s->seconds);
	case SK_ERROR: return parse_string(j, s->error, sizeof(s->error));
	}
	return -EBADMSG;
}

static int step_item(struct jp *j, unsigned i, void *ctx)
{
	struct run_status *st = ctx;
	return parse_object(j, step_keys, ELEMENTSOF(step_keys), 1u << SK_NAME | 1u << SK_RESULT | 1u << SK_SECONDS,
	                    step_member, &st->steps[i]);
}

static int note_item(struct jp *j, unsigned i, void *ctx)
{
	struct run_status *st = ctx;
	return parse_string(j, st->notes[i], sizeof(st->notes[i]));
}

enum { TK_VERSION, TK_STAGE, TK_INSTANCE, TK_STATE, TK_STARTED, TK_FINISHED, TK_STEPS, TK_NOTES, TK_N };
static const char *const top_keys[] = {
	"version", "stage", "instance_id", "state", "started", "finished", "steps", "notes",
};

static int top_member(struct jp *j, size_t key, void *ctx)
{
	struct run_status *st = ctx;
	int v;
	switch (key) {
	case TK_VERSION: return parse_string(j, st->version, sizeof(st->version));
	case TK_STAGE: return parse_string(j, st->stage, sizeof(st->stage));
	case TK_INSTANCE: return parse_string(j, st->instance_id, sizeof(st->instance_id));
	case TK_STATE:
		if (parse_enum(j, state_names, ELEMENTSOF(state_names), &v) < 0)
			return -EBADMSG;
		st->state = (enum run_state)v;
		return 0;
	case TK_STARTED: return parse_number(j, &st->started);
	case TK_FINISHED: return parse_number(j, &st->finished);
	case TK_STEPS: return parse_array(j, STATUS_MAX_STEPS, step_item, st, &st->n_steps);
	case TK_NOTES: return parse_array(j, STATUS_MAX_NOTES, note_item, st, &st->n_notes);
	}
	return -EBADMSG;
}

int status_parse(const char *text, size_t len, struct run_status *st)
{
	memset(st, 0, sizeof(*st));
	if (len > STATUS_MAX_FILE)
		return -EBADMSG;
	struct jp j = { .p = text, .end = text + len, .depth = 0 };
	int r = parse_object(&j, top_keys, ELEMENTSOF(top_keys), (1u << TK_N) - 1, top_member, st);
	if (r == 0) {
		skip_ws(&j);
		if (j.p != j.end)
			r = -EBADMSG;
	}
	if (r < 0) {
		memset(st, 0, sizeof(*st));
		return -EBADMSG;
	}
	return 0;
}

/* ---- files ------------------------------------------------------------------------ */

int status_write(const char *root, const struct run_status *st)
{
	_cleanup_sb_ struct strbuf sb;
	sb_init(&sb);
	int r = status_render_json(st, &sb);
	if (r < 0)
		return r;
	if (sb.len > STATUS_MAX_FILE)  /* cannot happen: the fields are bounded */
		return -EFBIG;
	_cleanup_close_ int dfd = root_mkdir_p(root, "/var/lib/meshboot", 0755);
	if (dfd < 0)
		return dfd;
	return dirfd_write_atomic(dfd, "status.json", sb.buf, sb.len, 0644);  /* exactly 0644: it fchmods */
}

int status_read(const char *root, struct run_status *st)
{
	memset(st, 0, sizeof(*st));
	/* O_NONBLOCK: a FIFO planted there must not hang `meshboot status` */
	_cleanup_close_ int fd = root_open(root, STATUS_PATH, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK, 0);
	if (fd < 0)
		return fd;
	struct stat s;
	if (fstat(fd, &s) < 0)
		return -errno;
	if (!S_ISREG(s.st_mode))
		return S_ISDIR(s.st_mode) ? -EISDIR : -EBADMSG;
	if ((uint64_t)s.st_size > STATUS_MAX_FILE)
		return -EBADMSG;
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r = fd_read_all(fd, STATUS_MAX_FILE, &text, &len);
	if (r == -EFBIG)
		return -EBADMSG;
	if (r < 0)
		return r;
	return status_parse(text, len, st);
}

/* ---- text out --------------------------------------------------------------------- */

/* A field for a terminal: sanitised; \n becomes newline (or a space when
 * NULL), \t a space. */
#define TEXT_FIELD(sb, field) text_field(sb, field, sizeof(field), NULL)
static void text_field(struct strbuf *sb, const char *field, size_t cap, const char *newline)
{
	char tmp[512];
	sanitise(tmp, field, cap < sizeof(tmp) ? cap : sizeof(tmp));
	for (const char *p = tmp; *p; p++) {
		if (*p == '\n')
			sb_puts(sb, newline ? newline : " ");
		else
			sb_putc(sb, *p == '\t' ? ' ' : *p);
	}
}

int status_render_text(const struct run_status *st, bool lock_held, struct strbuf *out)
{
	unsigned n_steps = st->n_steps < STATUS_MAX_STEPS ? st->n_steps : STATUS_MAX_STEPS;
	unsigned n_notes = st->n_notes < STATUS_MAX_NOTES ? st->n_notes : STATUS_MAX_NOTES;
	if (st->stage[0])
		TEXT_FIELD(out, st->stage);
	else
		sb_puts(out, "meshboot");
	if (st->state == RUN_RUNNING)
		sb_puts(out, lock_held ? " running" : " interrupted");
	else
		sb_printf(out, " %s", run_state_name(st->state));
	sb_puts(out, ": instance ");
	if (st->instance_id[0])
		TEXT_FIELD(out, st->instance_id);
	else
		sb_puts(out, "unknown");
	sb_puts(out, ", started ");
	put_iso(out, st->started);
	if (st->state != RUN_RUNNING) {
		sb_puts(out, ", finished ");
		put_iso(out, st->finished);
		sb_puts(out, " (");
		put_secs(out, st->finished - st->started);
		sb_puts(out, " s)");
	} else if (!lock_held) {
		sb_puts(out, ", never finished (no process holds the run lock)");
	}
	if (st->version[0]) {
		sb_puts(out, ", meshboot ");
		TEXT_FIELD(out, st->version);
	}
	sb_putc(out, '\n');
	for (unsigned i = 0; i < n_steps; i++) {
		const struct step_record *s = &st->steps[i];
		size_t at = out->len;
		sb_puts(out, "  ");
		TEXT_FIELD(out, s->name);
		for (size_t w = out->oom ? 14 : out->len - at; w < 14; w++)
			sb_putc(out, ' ');
		sb_printf(out, " %-10s ", step_result_name(s->result));
		put_secs(out, s->seconds);
		sb_puts(out, " s\n");
		if (s->error[0]) {
			bool failed = s->result != STEP_CHANGED && s->result != STEP_UNCHANGED && s->result != STEP_SKIPPED;
			sb_puts(out, failed ? "    error: " : "    reason: ");
			text_field(out, s->error, sizeof(s->error), failed ? "\n           " : "\n            ");
			sb_putc(out, '\n');
		}
	}
	for (unsigned i = 0; i < n_notes; i++) {
		sb_puts(out, "  note: ");
		TEXT_FIELD(out, st->notes[i]);
		sb_putc(out, '\n');
	}
	return sb_ok(out);
}

/* ---- meshboot status --------------------------------------------------------------- */

static int emit(FILE *out, const struct strbuf *sb, int code)
{
	if (sb_ok(sb) < 0) {
		log_error("status: out of memory");
		return STATUS_EXIT_UNKNOWN;
	}
	if ((sb->len && fwrite(sb->buf, 1, sb->len, out) != sb->len) || fflush(out) != 0) {
		log_error("status: cannot write the output: %s", strerror(errno));
		return STATUS_EXIT_UNKNOWN;
	}
	return code;
}

int status_print(const char *root, bool json, FILE *out)
{
	_cleanup_sb_ struct strbuf sb;
	sb_init(&sb);
	/* Probe first: a run takes the lock before it writes "running". */
	bool held = runonce_lock_probe(root) > 0;
	struct run_status *st = malloc(sizeof(*st));
	if (!st) {
		log_error("status: out of memory");
		return STATUS_EXIT_UNKNOWN;
	}
	int r = status_read(root, st);
	if (r == 0 && st->state == RUN_RUNNING && !held)
		held = runonce_lock_probe(root) > 0;  /* it may have started since */
	int code;
	if (r == -ENOENT) {
		code = held ? STATUS_EXIT_RUNNING : STATUS_EXIT_NEVER;
		if (!json)
			sb_puts(&sb, held ? "a run is starting (it holds the run lock and has recorded nothing yet)\n"
			                  : "meshboot has not run on this host (no " STATUS_PATH ")\n");
	} else if (r < 0) {
		_cleanup_free_ char *path = path_in_root(root, STATUS_PATH);
		log_error("status: cannot read %s: %s", path ? path : STATUS_PATH,
		          r == -EBADMSG ? "not a status file meshboot wrote (malformed or too large)" : strerror(-r));
		free(st);
		return held ? STATUS_EXIT_RUNNING : STATUS_EXIT_UNKNOWN;
	} else {
		code = held ? STATUS_EXIT_RUNNING : st->state == RUN_DONE ? STATUS_EXIT_DONE : STATUS_EXIT_FAILED;
		if (json)
			status_render_json(st, &sb);
		else
			status_render_text(st, held, &sb);
	}
	free(st);
	return emit(out, &sb, code);
}
