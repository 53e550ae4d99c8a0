/* SPDX-License-Identifier: Apache-2.0 */
/* System users and groups, written with shadow-utils' discipline (see
 * users.h).  The protocol, as in shadow-utils' lib/commonio.c and glibc's
 * lckpwdf():
 *
 *   1. ROOT/etc/.pwd.lock: open O_CREAT 0600, a write lock on the whole
 *      file, waited for at most 15 s (lckpwdf() uses alarm(15) around
 *      F_SETLKW; a library cannot own SIGALRM, so we poll an open file
 *      description lock, which conflicts with lckpwdf()'s POSIX lock and,
 *      unlike it, also with another thread of this process);
 *   2. <file>.lock for passwd, shadow, group and gshadow (useradd's order):
 *      our pid written (with its NUL, fdatasync) into <file>.<pid>, link()ed
 *      to <file>.lock, nlink checked to be 2; a lock file whose pid is dead
 *      is removed and the link retried; one without a valid pid is an error;
 *   3. each file read (O_NOFOLLOW, bounded), checked line by line; any
 *      malformed line stops everything before a byte is written;
 *   4. per file, in the order group, gshadow, passwd, shadow: the original
 *      copied to <file>- (same owner, mode & 0664 and times, as
 *      create_backup()), the new contents written to <file>+ created 0600,
 *      fchown/fchmod to the original's owner and mode & 0664, fsync,
 *      rename over <file>, fsync of the directory;
 *   5. if a later file fails, the files already replaced get their old
 *      contents back the same way, so the four files never disagree;
 *   6. <file>.lock removed in reverse order, then the .pwd.lock released.
 *
 * New entries go before the first NIS (+/-) line, as commonio_update()
 * puts them (KEEP_NIS_AT_END). */
#include "users.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>

#define DB_MAX_SIZE (16u << 20)   /* per file */
#define LOGIN_DEFS_MAX (1u << 20)
#define LOCK_TIMEOUT_MS 15000u    /* lckpwdf()'s 15 s */
#define NOLOGIN "/usr/sbin/nologin"
#define NAME_MAX_LEN 32           /* shadow-utils' USER_NAME_MAX_LENGTH */
#define ID_INVALID UINT32_MAX

static struct users_test_hooks hooks;

void users_set_test_hooks(const struct users_test_hooks *h)
{
	if (h)
		hooks = *h;
	else
		memset(&hooks, 0, sizeof(hooks));
}

/* In the order the files are written. */
enum { DB_GROUP, DB_GSHADOW, DB_PASSWD, DB_SHADOW, DB_N };

struct dbspec {
	const char *name;
	unsigned nfields;
	mode_t mode;   /* when created */
	bool optional; /* only written when it exists */
};

static const struct dbspec specs[DB_N] = {
	[DB_GROUP] = { "group", 4, 0644, false },
	[DB_GSHADOW] = { "gshadow", 4, 0640, true },
	[DB_PASSWD] = { "passwd", 7, 0644, false },
	[DB_SHADOW] = { "shadow", 9, 0640, false },
};

/* useradd's lock order: passwd, shadow, group, gshadow. */
static const int lock_order[DB_N] = { DB_PASSWD, DB_SHADOW, DB_GROUP, DB_GSHADOW };

struct line {
	const char *s; /* into db->data, no newline */
	size_t len;
	unsigned no;   /* 1-based */
};

struct db {
	const struct dbspec *spec;
	char *path;    /* for messages: ROOT/etc/NAME */
	int fd;        /* the original, or -1 */
	bool exists;
	struct stat st;
	char *data;
	size_t len;
	struct line *lines;
	size_t nlines;
	ssize_t self;  /* the line of the name we manage, or -1 */
	char *add;     /* the entry to add (no newline), or NULL */
	bool written;  /* replaced: restore it if a later file fails */
};

/* ---- small helpers ------------------------------------------------------ */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* shadow-utils' is_valid_user_name() without distribution relaxations. */
static bool name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++) {
		char c = s[i];
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')
			continue;
		if (c == '$' && i == n - 1)
			continue;
		return false;
	}
	return true;
}

/* No field separator, newline or control character. */
static bool field_text_ok(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p == ':' || *p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* A uid/gid: decimal digits, at most 4294967294. */
static bool parse_id(const char *s, size_t n, uint32_t *out)
{
	if (n == 0 || n > 10)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v >= ID_INVALID)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* A shadow number: empty, or an optional '-' and digits. */
static bool shadow_num_ok(const char *s, size_t n)
{
	if (n == 0)
		return true;
	size_t i = s[0] == '-' ? 1 : 0;
	if (i == n || n - i > 18)
		return false;
	for (; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* The i-th (0-based) ':'-separated field of l. */
static void line_field(const struct line *l, unsigned i, const char **s, size_t *n)
{
	const char *p = l->s, *end = l->s + l->len;
	for (; i > 0 && p < end; i--) {
		const char *c = memchr(p, ':', (size_t)(end - p));
		p = c ? c + 1 : end;
	}
	const char *c = memchr(p, ':', (size_t)(end - p));
	*s = p;
	*n = (size_t)((c ? c : end) - p);
}

static uint32_t line_id(const struct line *l, unsigned field)
{
	const char *s;
	size_t n;
	uint32_t v;
	line_field(l, field, &s, &n);
	return parse_id(s, n, &v) ? v : ID_INVALID;
}

static bool line_is_nis(const struct line *l) { return l->len > 0 && (l->s[0] == '+' || l->s[0] == '-'); }

static bool line_name_is(const struct line *l, const char *name)
{
	size_t n = strlen(name);
	return l->len > n && l->s[n] == ':' && memcmp(l->s, name, n) == 0;
}

/* ---- reading and checking the files -------------------------------------- */

static void db_init(struct db *d, int i)
{
	memset(d, 0, sizeof(*d));
	d->spec = &specs[i];
	d->fd = -1;
	d->self = -1;
}

static void db_free(struct db *d)
{
	if (d->fd >= 0)
		close(d->fd);
	free(d->path);
	free(d->data);
	free(d->lines);
	free(d->add);
	const struct dbspec *spec = d->spec;
	memset(d, 0, sizeof(*d));
	d->spec = spec;
	d->fd = -1;
	d->self = -1;
}

static void dbs_free(struct db *db)
{
	for (int i = 0; i < DB_N; i++)
		db_free(&db[i]);
}

/* Split and check every line.  The name we manage may appear once. */
static int db_parse(struct db *d, const char *name, char *err, size_t errlen)
{
	const char *nul = d->len ? memchr(d->data, '\0', d->len) : NULL;
	if (nul) {
		unsigned no = 1;
		for (const char *p = d->data; p < nul; p++)
			no += *p == '\n';
		return err_fmt(err, errlen, -EINVAL, "%s:%u: contains a NUL byte; refusing to change the files", d->path,
		               no);
	}
	size_t cap = 1;
	for (size_t i = 0; i < d->len; i++)
		cap += d->data[i] == '\n';
	d->lines = calloc(cap, sizeof(*d->lines));
	if (!d->lines)
		return err_fmt(err, errlen, -ENOMEM, "%s: out of memory", d->path);
	const char *p = d->data, *end = d->data + d->len;
	unsigned no = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct line *l = &d->lines[d->nlines++];
		l->s = p;
		l->len = (size_t)((nl ? nl : end) - p);
		l->no = ++no;
		p = nl ? nl + 1 : end;

		if (l->len == 0)
			return err_fmt(err, errlen, -EINVAL, "%s:%u: empty line; refusing to change the files", d->path,
			               l->no);
		if (line_is_nis(l))
			continue;
		unsigned fields = 1;
		for (size_t k = 0; k < l->len; k++)
			fields += l->s[k] == ':';
		if (fields != d->spec->nfields)
			return err_fmt(err, errlen, -EINVAL,
			               "%s:%u: malformed line (%u fields, expected %u); refusing to change the files",
			               d->path, l->no, fields, d->spec->nfields);
		const char *f;
		size_t fn;
		line_field(l, 0, &f, &fn);
		if (fn == 0)
			return err_fmt(err, errlen, -EINVAL, "%s:%u: malformed line (empty name); refusing to change the files",
			               d->path, l->no);
		bool ok = true;
		const char *what = "";
		if (d->spec == &specs[DB_PASSWD]) {
			uint32_t v;
			line_field(l, 2, &f, &fn);
			if (!parse_id(f, fn, &v)) {
				ok = false;
				what = "uid";
			} else {
				line_field(l, 3, &f, &fn);
				ok = parse_id(f, fn, &v);
				what = "gid";
			}
		} else if (d->spec == &specs[DB_GROUP]) {
			uint32_t v;
			line_field(l, 2, &f, &fn);
			ok = parse_id(f, fn, &v);
			what = "gid";
		} else if (d->spec == &specs[DB_SHADOW]) {
			for (unsigned k = 2; k < 9 && ok; k++) {
				line_field(l, k, &f, &fn);
				ok = shadow_num_ok(f, fn);
			}
			what = "number";
		}
		if (!ok)
			return err_fmt(err, errlen, -EINVAL, "%s:%u: malformed line (bad %s); refusing to change the files",
			               d->path, l->no, what);
		if (line_name_is(l, name)) {
			if (d->self >= 0)
				return err_fmt(err, errlen, -EINVAL,
				               "%s:%u: a second entry for '%s' (the first is on line %u); refusing to change "
				               "the files", d->path, l->no, name, d->lines[d->self].no);
			d->self = (ssize_t)(d->nlines - 1);
		}
	}
	return 0;
}

/* Read ROOT/etc/NAME: never through a symlink, a regular file, bounded. */
static int db_load(struct db *d, int etcfd, const char *root, const char *name, char *err, size_t errlen)
{
	char abs[64];
	snprintf(abs, sizeof(abs), "/etc/%s", d->spec->name);
	d->path = path_in_root(root, abs);
	if (!d->path)
		return err_fmt(err, errlen, -ENOMEM, "out of memory");
	d->fd = openat(etcfd, d->spec->name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (d->fd < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno == ELOOP)
			return err_fmt(err, errlen, -ELOOP, "%s is a symbolic link; refusing to follow it", d->path);
		return err_fmt(err, errlen, -errno, "%s: %s", d->path, strerror(errno));
	}
	if (fstat(d->fd, &d->st) < 0)
		return err_fmt(err, errlen, -errno, "%s: %s", d->path, strerror(errno));
	if (!S_ISREG(d->st.st_mode))
		return err_fmt(err, errlen, -EINVAL, "%s is not a regular file; refusing to use it", d->path);
	if ((uint64_t)d->st.st_size > DB_MAX_SIZE)
		return err_fmt(err, errlen, -EFBIG, "%s is larger than %u bytes", d->path, DB_MAX_SIZE);
	int r = fd_read_all(d->fd, DB_MAX_SIZE, &d->data, &d->len);
	if (r < 0)
		return err_fmt(err, errlen, r, "%s: %s", d->path, strerror(-r));
	d->exists = true;
	return db_parse(d, name, err, errlen);
}

static int dbs_load(struct db *db, int etcfd, const char *root, const char *name, char *err, size_t errlen)
{
	for (int i = 0; i < DB_N; i++) {
		db_init(&db[i], i);
		int r = db_load(&db[i], etcfd, root, name, err, errlen);
		if (r < 0) {
			for (int j = i + 1; j < DB_N; j++)
				db_init(&db[j], j);
			return r;
		}
	}
	return 0;
}

/* The first entry holding id in field, or NULL. */
static const struct line *db_find_id(const struct db *d, unsigned field, uint32_t id)
{
	for (size_t i = 0; i < d->nlines; i++)
		if (!line_is_nis(&d->lines[i]) && line_id(&d->lines[i], field) == id)
			return &d->lines[i];
	return NULL;
}

static int line_name_len(const struct line *l)
{
	const char *c = memchr(l->s, ':', l->len);
	size_t n = c ? (size_t)(c - l->s) : l->len;
	return n > 64 ? 64 : (int)n;
}

/* ---- login.defs and id allocation (shadow-utils' find_new_[ug]id) -------- */

struct id_range {
	uint32_t min, max;
};

/* Last definition wins (shadow-utils' def_load()); numbers as strtoul(,0). */
static int login_defs_get(const char *data, size_t len, const char *path, const char *key, uint64_t def,
                          uint64_t *out, char *err, size_t errlen)
{
	*out = def;
	size_t klen = strlen(key);
	const char *p = data, *end = data + len;
	unsigned no = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		no++;
		while (p < le && (*p == ' ' || *p == '\t'))
			p++;
		if ((size_t)(le - p) > klen && memcmp(p, key, klen) == 0 && (p[klen] == ' ' || p[klen] == '\t')) {
			/* shadow-utils' def_load(): the rest of the line, trailing
			 * blanks trimmed, leading blanks and quotes skipped, up to a
			 * quote.  (So no comment after a value.) */
			const char *v = p + klen, *ve = le;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t' || ve[-1] == '\r'))
				ve--;
			while (v < ve && (*v == ' ' || *v == '\t' || *v == '"'))
				v++;
			const char *q = memchr(v, '"', (size_t)(ve - v));
			if (q)
				ve = q;
			char buf[32];
			size_t n = (size_t)(ve - v);
			if (n == 0) { /* a key alone: no definition */
				p = nl ? nl + 1 : end;
				continue;
			}
			char *e = NULL;
			unsigned long long val = 0;
			if (n > 0 && n < sizeof(buf) && *v != '-') {
				memcpy(buf, v, n);
				buf[n] = '\0';
				errno = 0;
				val = strtoull(buf, &e, 0);
			}
			if (!e || *e || errno || val >= ID_INVALID)
				return err_fmt(err, errlen, -EINVAL, "%s:%u: %s: not a valid id: '%.*s'", path, no, key,
				               (int)(n > 32 ? 32 : n), v);
			*out = val;
		}
		p = nl ? nl + 1 : end;
	}
	return 0;
}

static int sys_range(const char *root, bool group, struct id_range *rg, char *err, size_t errlen)
{
	_cleanup_free_ char *path = path_in_root(root, "/etc/login.defs");
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (!path)
		return err_fmt(err, errlen, -ENOMEM, "out of memory");
	int r = root_read_all(root, "/etc/login.defs", LOGIN_DEFS_MAX, &data, &len);
	if (r == -ENOENT)
		len = 0;
	else if (r < 0)
		return err_fmt(err, errlen, r, "%s: %s", path, strerror(-r));
	const char *k_sysmin = group ? "SYS_GID_MIN" : "SYS_UID_MIN";
	const char *k_min = group ? "GID_MIN" : "UID_MIN";
	const char *k_sysmax = group ? "SYS_GID_MAX" : "SYS_UID_MAX";
	uint64_t sysmin, min, sysmax;
	if ((r = login_defs_get(data, len, path, k_sysmin, 101, &sysmin, err, errlen)) < 0 ||
	    (r = login_defs_get(data, len, path, k_min, 1000, &min, err, errlen)) < 0)
		return r;
	if ((r = login_defs_get(data, len, path, k_sysmax, min > 0 ? min - 1 : 0, &sysmax, err, errlen)) < 0)
		return r;
	if (sysmax < sysmin)
		return err_fmt(err, errlen, -EINVAL, "%s: invalid configuration: %s (%" PRIu64 "), %s (%" PRIu64
		               "), %s (%" PRIu64 ")", path, k_sysmin, sysmin, k_min, min, k_sysmax, sysmax);
	rg->min = sysmin == 0 ? 1 : (uint32_t)sysmin; /* 0 is root's */
	rg->max = (uint32_t)sysmax;
	if (rg->max < rg->min)
		return err_fmt(err, errlen, -EINVAL, "%s: invalid configuration: %s (%" PRIu64 "), %s (%" PRIu64 ")",
		               path, k_sysmin, sysmin, k_sysmax, sysmax);
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static bool id_used(const uint32_t *used, size_t n, uint32_t id)
{
	return bsearch(&id, used, n, sizeof(*used), cmp_u32) != NULL;
}

/* 65535 and 4294967295 are (uid_t)-1 for 16- and 32-bit ids. */
static bool id_usable(uint32_t id) { return id != UINT16_MAX && id != UINT32_MAX; }

/* find_new_uid()/find_new_gid() for a system account: the preferred id if
 * it is free and in 1..max; else downwards from just below the lowest id
 * used in the range; else downwards from the top. */
static int find_new_id(const struct db *d, unsigned field, struct id_range rg, const uint32_t *preferred,
                       uint32_t *out)
{
	_cleanup_free_ uint32_t *used = malloc((d->nlines ? d->nlines : 1) * sizeof(*used));
	if (!used)
		return -ENOMEM;
	size_t n = 0;
	for (size_t i = 0; i < d->nlines; i++) {
		if (line_is_nis(&d->lines[i]))
			continue;
		uint32_t id = line_id(&d->lines[i], field);
		if (id != ID_INVALID)
			used[n++] = id;
	}
	qsort(used, n, sizeof(*used), cmp_u32);
	if (preferred && *preferred >= 1 && *preferred <= rg.max && id_usable(*preferred) &&
	    !id_used(used, n, *preferred)) {
		*out = *preferred;
		return 0;
	}
	uint32_t lowest = rg.max;
	for (size_t i = 0; i < n; i++)
		if (used[i] >= rg.min && used[i] <= lowest)
			lowest = used[i] - 1;
	if (lowest < rg.min)
		lowest = rg.max;
	for (uint64_t id = (uint64_t)lowest + 1; id-- > rg.min;)
		if (id_usable((uint32_t)id) && !id_used(used, n, (uint32_t)id)) {
			*out = (uint32_t)id;
			return 0;
		}
	if (lowest != rg.max)
		for (uint64_t id = (uint64_t)rg.max + 1; id-- > rg.min;)
			if (id_usable((uint32_t)id) && !id_used(used, n, (uint32_t)id)) {
				*out = (uint32_t)id;
				return 0;
			}
	return -EUSERS;
}

/* ---- what to change ------------------------------------------------------ */

struct request {
	const char *root, *name, *home, *comment;
	uid_t uid;
	gid_t gid;
};

static long days_now(void)
{
	/* shadow-utils' gettime(): SOURCE_DATE_EPOCH when set and sane. */
	time_t t = time(NULL);
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	if (sde && *sde) {
		char *e = NULL;
		errno = 0;
		unsigned long long v = strtoull(sde, &e, 10);
		if (!errno && e && !*e && v <= (unsigned long long)t)
			t = (time_t)v;
	}
	return (long)(t / 86400);
}

/* Decide ids and the entries to add (db[i].add).  0 or -errno with err. */
static int plan(struct db *db, const struct request *q, uint32_t *uid_res, uint32_t *gid_res, char *err,
                size_t errlen)
{
	struct db *g = &db[DB_GROUP], *p = &db[DB_PASSWD];
	const struct line *gl = g->self >= 0 ? &g->lines[g->self] : NULL;
	const struct line *pl = p->self >= 0 ? &p->lines[p->self] : NULL;
	uint32_t want_uid = q->uid == (uid_t)-1 ? ID_INVALID : (uint32_t)q->uid;
	uint32_t want_gid = q->gid == (gid_t)-1 ? ID_INVALID : (uint32_t)q->gid;
	uint32_t g_gid = gl ? line_id(gl, 2) : ID_INVALID;
	uint32_t p_uid = pl ? line_id(pl, 2) : ID_INVALID, p_gid = pl ? line_id(pl, 3) : ID_INVALID;
	const char *name = q->name;

	if (gl && want_gid != ID_INVALID && g_gid != want_gid)
		return err_fmt(err, errlen, -EEXIST, "group '%s' already exists with gid %" PRIu32 ", not %" PRIu32
		               " (%s:%u)", name, g_gid, want_gid, g->path, gl->no);
	if (pl && want_uid != ID_INVALID && p_uid != want_uid)
		return err_fmt(err, errlen, -EEXIST, "user '%s' already exists with uid %" PRIu32 ", not %" PRIu32
		               " (%s:%u)", name, p_uid, want_uid, p->path, pl->no);
	if (pl && want_gid != ID_INVALID && p_gid != want_gid)
		return err_fmt(err, errlen, -EEXIST, "user '%s' already exists with primary gid %" PRIu32 ", not %" PRIu32
		               " (%s:%u)", name, p_gid, want_gid, p->path, pl->no);
	if (pl && gl && p_gid != g_gid)
		return err_fmt(err, errlen, -EEXIST, "user '%s' already exists with primary gid %" PRIu32
		               ", but group '%s' has gid %" PRIu32, name, p_gid, name, g_gid);

	/* The uid. */
	if (pl) {
		*uid_res = p_uid;
	} else if (want_uid != ID_INVALID) {
		const struct line *o = db_find_id(p, 2, want_uid);
		if (o)
			return err_fmt(err, errlen, -EADDRINUSE, "uid %" PRIu32 " is already used by user '%.*s' (%s:%u)",
			               want_uid, line_name_len(o), o->s, p->path, o->no);
		*uid_res = want_uid;
	} else {
		struct id_range rg;
		int r = sys_range(q->root, false, &rg, err, errlen);
		if (r < 0)
			return r;
		r = find_new_id(p, 2, rg, NULL, uid_res);
		if (r == -EUSERS)
			return err_fmt(err, errlen, r, "no free system uid in %" PRIu32 "..%" PRIu32 " for '%s'", rg.min,
			               rg.max, name);
		if (r < 0)
			return err_fmt(err, errlen, r, "%s", strerror(-r));
	}

	/* The gid. */
	if (gl) {
		*gid_res = g_gid;
	} else if (want_gid != ID_INVALID || pl) {
		/* Asked for, or the one the existing user already points at. */
		uint32_t id = want_gid != ID_INVALID ? want_gid : p_gid;
		const struct line *o = db_find_id(g, 2, id);
		if (o && pl && want_gid == ID_INVALID)
			return err_fmt(err, errlen, -EEXIST, "user '%s' already exists with primary gid %" PRIu32
			               ", which is group '%.*s' (%s:%u), not '%s'", name, id, line_name_len(o), o->s,
			               g->path, o->no, name);
		if (o)
			return err_fmt(err, errlen, -EADDRINUSE, "gid %" PRIu32 " is already used by group '%.*s' (%s:%u)",
			               id, line_name_len(o), o->s, g->path, o->no);
		*gid_res = id;
	} else {
		struct id_range rg;
		int r = sys_range(q->root, true, &rg, err, errlen);
		if (r < 0)
			return r;
		r = find_new_id(g, 2, rg, uid_res, gid_res);
		if (r == -EUSERS)
			return err_fmt(err, errlen, r, "no free system gid in %" PRIu32 "..%" PRIu32 " for '%s'", rg.min,
			               rg.max, name);
		if (r < 0)
			return err_fmt(err, errlen, r, "%s", strerror(-r));
	}

	/* The entries that are missing. */
	int n = 0;
	if (!gl)
		n = asprintf(&g->add, "%s:x:%" PRIu32 ":", name, *gid_res);
	if (n >= 0 && db[DB_GSHADOW].exists && db[DB_GSHADOW].self < 0)
		n = asprintf(&db[DB_GSHADOW].add, "%s:!*::", name);
	if (n >= 0 && !pl)
		n = asprintf(&p->add, "%s:x:%" PRIu32 ":%" PRIu32 ":%s:%s:%s", name, *uid_res, *gid_res, q->comment,
		             q->home, NOLOGIN);
	if (n >= 0 && db[DB_SHADOW].self < 0) {
		long days = days_now();
		/* Day 0 would force a password change: shadow-utils leaves it empty. */
		if (days > 0)
			n = asprintf(&db[DB_SHADOW].add, "%s:!*:%ld::::::", name, days);
		else
			n = asprintf(&db[DB_SHADOW].add, "%s:!*:::::::", name);
	}
	if (n < 0)
		return err_fmt(err, errlen, -ENOMEM, "out of memory");
	return 0;
}

static bool plan_changes(const struct db *db)
{
	for (int i = 0; i < DB_N; i++)
		if (db[i].add)
			return true;
	return false;
}

/* ---- locks --------------------------------------------------------------- */

struct locks {
	int pwd_fd;
	bool held[DB_N];
};

/* lckpwdf(): ROOT/etc/.pwd.lock, O_CREAT 0600, a write lock, bounded. */
static int lock_pwd(int etcfd, const char *etc_path, uint64_t start, unsigned timeout_ms, int *out, char *err,
                    size_t errlen)
{
	int fd = openat(etcfd, ".pwd.lock", O_WRONLY | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_fmt(err, errlen, -errno, "%s/.pwd.lock: %s", etc_path, strerror(errno));
	unsigned backoff = 5;
	for (;;) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		if (fcntl(fd, F_OFD_SETLK, &fl) == 0) {
			*out = fd;
			return 0;
		}
		if (errno != EAGAIN && errno != EACCES && errno != EINTR) {
			int r = -errno;
			close(fd);
			return err_fmt(err, errlen, r, "%s/.pwd.lock: %s", etc_path, strerror(-r));
		}
		uint64_t waited = now_ms() - start;
		if (waited >= timeout_ms) {
			struct flock q = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
			pid_t holder = fcntl(fd, F_OFD_GETLK, &q) == 0 && q.l_type != F_UNLCK ? q.l_pid : 0;
			close(fd);
			if (holder > 0)
				return err_fmt(err, errlen, -EBUSY, "%s/.pwd.lock is held by pid %ld; gave up after %u ms",
				               etc_path, (long)holder, timeout_ms);
			return err_fmt(err, errlen, -EBUSY, "%s/.pwd.lock is held by another process; gave up after %u ms",
			               etc_path, timeout_ms);
		}
		uint64_t left = timeout_ms - waited;
		sleep_ms(backoff < left ? backoff : (unsigned)left);
		if (backoff < 100)
			backoff *= 2;
	}
}

/* Parse the pid in a lock file: digits, then a NUL or newline or nothing. */
static pid_t lock_pid(const char *buf, size_t n)
{
	uint64_t v = 0;
	size_t i = 0;
	for (; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) {
		v = v * 10 + (uint64_t)(buf[i] - '0');
		if (v > INT32_MAX)
			return -1;
	}
	if (i == 0 || (i < n && buf[i] != '\0' && buf[i] != '\n') || v == 0)
		return -1;
	return (pid_t)v;
}

/* shadow-utils' do_lock_file(): 1 taken, 0 held by a live process (its
 * pid in *holder), or -errno with err. */
static int try_link_lock(int etcfd, const char *etc_path, const char *name, pid_t *holder, char *err, size_t errlen)
{
	char pidf[80], lockf[80], buf[32];
	long me = (long)getpid();
	snprintf(pidf, sizeof(pidf), "%s.%ld", name, me);
	snprintf(lockf, sizeof(lockf), "%s.lock", name);
	*holder = 0;

	(void)unlinkat(etcfd, pidf, 0); /* a leftover with our own pid */
	int fd = openat(etcfd, pidf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_fmt(err, errlen, -errno, "%s/%s: %s", etc_path, pidf, strerror(errno));
	int len = snprintf(buf, sizeof(buf), "%ld", me) + 1; /* with its NUL, as shadow-utils */
	int r = 0;
	errno = 0;
	if (write(fd, buf, (size_t)len) != len)
		r = errno ? -errno : -EIO;
	else if (fdatasync(fd) < 0)
		r = -errno;
	close(fd);
	if (r < 0) {
		unlinkat(etcfd, pidf, 0);
		return err_fmt(err, errlen, r, "%s/%s: %s", etc_path, pidf, strerror(-r));
	}

	for (int attempt = 0; attempt < 3; attempt++) {
		if (linkat(etcfd, pidf, etcfd, lockf, 0) == 0) {
			struct stat st;
			r = fstatat(etcfd, pidf, &st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
			unlinkat(etcfd, pidf, 0);
			if (r == 0 && st.st_nlink != 2) {
				unlinkat(etcfd, lockf, 0);
				return err_fmt(err, errlen, -EBUSY, "%s/%s: lock file already used (nlink %ju)", etc_path,
				               lockf, (uintmax_t)st.st_nlink);
			}
			if (r < 0) {
				unlinkat(etcfd, lockf, 0);
				return err_fmt(err, errlen, r, "%s/%s: %s", etc_path, pidf, strerror(-r));
			}
			return 1;
		}
		if (errno != EEXIST) {
			r = -errno;
			unlinkat(etcfd, pidf, 0);
			return err_fmt(err, errlen, r, "%s/%s: %s", etc_path, lockf, strerror(-r));
		}
		int lfd = openat(etcfd, lockf, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (lfd < 0) {
			if (errno == ENOENT)
				continue; /* released meanwhile */
			r = -errno;
			unlinkat(etcfd, pidf, 0);
			return err_fmt(err, errlen, r, "%s/%s: %s", etc_path, lockf, strerror(-r));
		}
		ssize_t n = read(lfd, buf, sizeof(buf) - 1);
		close(lfd);
		pid_t pid = n > 0 ? lock_pid(buf, (size_t)n) : -1;
		if (pid <= 0) {
			unlinkat(etcfd, pidf, 0);
			return err_fmt(err, errlen, -EINVAL, "%s/%s: existing lock file without a valid PID", etc_path, lockf);
		}
		if (kill(pid, 0) == 0 || errno == EPERM) {
			unlinkat(etcfd, pidf, 0);
			*holder = pid;
			return 0;
		}
		if (errno != ESRCH) {
			r = -errno;
			unlinkat(etcfd, pidf, 0);
			return err_fmt(err, errlen, r, "%s/%s: %s", etc_path, lockf, strerror(-r));
		}
		/* Stale: its process is gone. */
		if (unlinkat(etcfd, lockf, 0) < 0 && errno != ENOENT) {
			r = -errno;
			unlinkat(etcfd, pidf, 0);
			return err_fmt(err, errlen, r, "cannot remove the stale lock %s/%s: %s", etc_path, lockf,
			               strerror(-r));
		}
	}
	unlinkat(etcfd, pidf, 0);
	return 0;
}

static void unlock_all(int etcfd, struct locks *l)
{
	for (int k = DB_N - 1; k >= 0; k--) {
		int i = lock_order[k];
		if (l->held[i]) {
			char lockf[80];
			snprintf(lockf, sizeof(lockf), "%s.lock", specs[i].name);
			unlinkat(etcfd, lockf, 0);
			l->held[i] = false;
		}
	}
	if (l->pwd_fd >= 0) {
		close(l->pwd_fd); /* releases the lock; the file stays, as with ulckpwdf() */
		l->pwd_fd = -1;
	}
}

static int lock_all(int etcfd, const char *etc_path, struct locks *l, char *err, size_t errlen)
{
	unsigned timeout = hooks.lock_timeout_ms ? hooks.lock_timeout_ms : LOCK_TIMEOUT_MS;
	uint64_t start = now_ms();
	memset(l, 0, sizeof(*l));
	l->pwd_fd = -1;
	int r = lock_pwd(etcfd, etc_path, start, timeout, &l->pwd_fd, err, errlen);
	if (r < 0)
		return r;
	for (int k = 0; k < DB_N; k++) {
		int i = lock_order[k];
		struct stat st;
		if (specs[i].optional && fstatat(etcfd, specs[i].name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		unsigned backoff = 5;
		for (;;) {
			pid_t holder = 0;
			r = try_link_lock(etcfd, etc_path, specs[i].name, &holder, err, errlen);
			if (r > 0)
				break;
			if (r < 0) {
				unlock_all(etcfd, l);
				return r;
			}
			uint64_t waited = now_ms() - start;
			if (waited >= timeout) {
				unlock_all(etcfd, l);
				if (holder > 0)
					return err_fmt(err, errlen, -EBUSY, "%s/%s.lock is held by pid %ld; gave up after %u ms",
					               etc_path, specs[i].name, (long)holder, timeout);
				return err_fmt(err, errlen, -EBUSY, "%s/%s.lock is busy; gave up after %u ms", etc_path,
				               specs[i].name, timeout);
			}
			uint64_t left = timeout - waited;
			sleep_ms(backoff < left ? backoff : (unsigned)left);
			if (backoff < 100)
				backoff *= 2;
		}
		l->held[i] = true;
	}
	return 0;
}

/* ---- writing ------------------------------------------------------------- */

/* Write data to NAME+ (0600, then owner and mode), fsync, rename over
 * `final`.  xattr_src: copy its SELinux label; times: set them. */
static int write_replace(int etcfd, const char *tmpname, const char *final, const void *data, size_t len,
                         mode_t mode, uid_t uid, gid_t gid, int xattr_src, const struct timespec *times,
                         const char *fail_name)
{
	if (unlinkat(etcfd, tmpname, 0) < 0 && errno != ENOENT)
		return -errno;
	int fd = openat(etcfd, tmpname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int r = 0;
	if ((uid != geteuid() || gid != getegid()) && fchown(fd, uid, gid) < 0)
		r = -errno;
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0 && xattr_src >= 0) {
		char label[256];
		ssize_t n = fgetxattr(xattr_src, "security.selinux", label, sizeof(label));
		if (n > 0)
			(void)fsetxattr(fd, "security.selinux", label, (size_t)n, 0); /* best effort */
	}
	const char *p = data;
	for (size_t done = 0; r == 0 && done < len;) {
		ssize_t n = write(fd, p + done, len - done);
		if (n < 0) {
			if (errno != EINTR)
				r = -errno;
			continue;
		}
		done += (size_t)n;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && times && futimens(fd, times) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && fail_name && hooks.fail_file && strcmp(hooks.fail_file, fail_name) == 0)
		r = -(hooks.fail_errno ? hooks.fail_errno : EIO);
	if (r == 0 && renameat(etcfd, tmpname, etcfd, final) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(etcfd, tmpname, 0);
	return r;
}

static mode_t db_mode(const struct db *d) { return d->exists ? (d->st.st_mode & 0664) : d->spec->mode; }

/* The new contents: the entry before the first NIS line, else at the end. */
static char *db_new_contents(const struct db *d, size_t *out_len)
{
	size_t at = d->len;
	bool before_nis = false;
	for (size_t i = 0; i < d->nlines; i++)
		if (line_is_nis(&d->lines[i])) {
			at = (size_t)(d->lines[i].s - d->data);
			before_nis = true;
			break;
		}
	_cleanup_sb_ struct strbuf sb;
	sb_init(&sb);
	if (at)
		sb_append(&sb, d->data, at);
	if (!before_nis && at && d->data[at - 1] != '\n')
		sb_putc(&sb, '\n');
	sb_puts(&sb, d->add);
	sb_putc(&sb, '\n');
	if (d->len > at)
		sb_append(&sb, d->data + at, d->len - at);
	if (sb_ok(&sb) < 0)
		return NULL;
	*out_len = sb.len;
	return sb_steal(&sb);
}

static int db_commit(int etcfd, struct db *d, uid_t new_uid, gid_t new_gid, char *err, size_t errlen)
{
	const char *name = d->spec->name;
	char plus[80], minus[80];
	snprintf(plus, sizeof(plus), "%s+", name);
	snprintf(minus, sizeof(minus), "%s-", name);
	size_t len = 0;
	_cleanup_free_ char *data = db_new_contents(d, &len);
	if (!data)
		return err_fmt(err, errlen, -ENOMEM, "%s: out of memory", d->path);
	uid_t uid = d->exists ? d->st.st_uid : new_uid;
	gid_t gid = d->exists ? d->st.st_gid : new_gid;
	int r;
	if (d->exists) {
		struct timespec times[2] = { d->st.st_atim, d->st.st_mtim };
		r = write_replace(etcfd, plus, minus, d->data, d->len, db_mode(d), uid, gid, d->fd, times, NULL);
		if (r < 0)
			return err_fmt(err, errlen, r, "cannot write the backup %s-: %s", d->path, strerror(-r));
	}
	r = write_replace(etcfd, plus, name, data, len, db_mode(d), uid, gid, d->fd, NULL, name);
	if (r < 0)
		return err_fmt(err, errlen, r, "cannot write %s: %s", d->path, strerror(-r));
	d->written = true;
	if (fsync(etcfd) < 0)
		return err_fmt(err, errlen, -errno, "cannot sync the directory of %s: %s", d->path, strerror(errno));
	return 0;
}

/* Put the old contents back (or remove a file we created). */
static int db_restore(int etcfd, struct db *d)
{
	char plus[80];
	snprintf(plus, sizeof(plus), "%s+", d->spec->name);
	int r;
	if (d->exists) {
		struct timespec times[2] = { d->st.st_atim, d->st.st_mtim };
		r = write_replace(etcfd, plus, d->spec->name, d->data, d->len, db_mode(d), d->st.st_uid, d->st.st_gid,
		                  d->fd, times, NULL);
	} else {
		r = unlinkat(etcfd, d->spec->name, 0) < 0 && errno != ENOENT ? -errno : 0;
	}
	if (r == 0 && fsync(etcfd) < 0)
		r = -errno;
	if (r == 0)
		d->written = false;
	return r;
}

static gid_t shadow_group_gid(const struct db *g)
{
	for (size_t i = 0; i < g->nlines; i++)
		if (!line_is_nis(&g->lines[i]) && line_name_is(&g->lines[i], "shadow")) {
			uint32_t id = line_id(&g->lines[i], 2);
			return id == ID_INVALID ? 0 : (gid_t)id;
		}
	return 0;
}

static int commit_all(int etcfd, struct db *db, char *err, size_t errlen)
{
	gid_t sg = shadow_group_gid(&db[DB_GROUP]);
	for (int i = 0; i < DB_N; i++) {
		if (!db[i].add)
			continue;
		bool secret = i == DB_SHADOW || i == DB_GSHADOW;
		int r = db_commit(etcfd, &db[i], 0, secret ? sg : 0, err, errlen);
		if (r == 0)
			continue;
		/* Undo, latest first, so the files agree again. */
		_cleanup_sb_ struct strbuf sb;
		sb_init(&sb);
		sb_puts(&sb, err && errlen ? err : strerror(-r));
		const char *sep = "; restored ";
		bool failed = false;
		for (int j = i; j >= 0; j--) {
			if (!db[j].written)
				continue;
			int rr = db_restore(etcfd, &db[j]);
			if (rr < 0) {
				sb_printf(&sb, "; restoring %s FAILED: %s", db[j].path, strerror(-rr));
				failed = true;
			} else {
				sb_printf(&sb, "%s%s", sep, db[j].path);
				sep = ", ";
			}
		}
		if (failed)
			sb_puts(&sb, "; the files may disagree: check with pwck and grpck");
		if (sb_ok(&sb) == 0)
			err_fmt(err, errlen, r, "%s", sb.buf);
		return r;
	}
	return 1;
}

/* ---- the API ------------------------------------------------------------- */

int users_ensure(const char *root, const char *name, uid_t uid, gid_t gid, const char *home, const char *comment,
                 uid_t *uid_out, gid_t *gid_out, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (!name || !name_valid(name))
		return err_fmt(err, errlen, -EINVAL, "invalid user name '%.64s'", name ? name : "(null)");
	if (!home)
		home = "/nonexistent";
	if (home[0] != '/' || !field_text_ok(home))
		return err_fmt(err, errlen, -EINVAL, "invalid home directory for '%s': '%.200s'", name, home);
	if (!comment)
		comment = "";
	if (!field_text_ok(comment))
		return err_fmt(err, errlen, -EINVAL, "invalid comment for '%s' (no ':' or control characters)", name);

	_cleanup_free_ char *etc_path = path_in_root(root, "/etc");
	if (!etc_path)
		return err_fmt(err, errlen, -ENOMEM, "out of memory");
	_cleanup_close_ int etcfd = root_open(root, "/etc", O_RDONLY | O_DIRECTORY, 0);
	if (etcfd < 0)
		return err_fmt(err, errlen, etcfd, "%s: %s", etc_path, strerror(-etcfd));

	struct request q = { .root = root, .name = name, .home = home, .comment = comment, .uid = uid, .gid = gid };
	struct db db[DB_N];
	uint32_t u = 0, g = 0;

	/* Already so?  Then nothing is locked or touched.  (Each file is
	 * replaced atomically, so each read is a consistent snapshot.) */
	int r = dbs_load(db, etcfd, root, name, NULL, 0);
	if (r == 0)
		r = plan(db, &q, &u, &g, NULL, 0);
	bool done = r == 0 && !plan_changes(db);
	dbs_free(db);
	if (done) {
		if (uid_out)
			*uid_out = (uid_t)u;
		if (gid_out)
			*gid_out = (gid_t)g;
		return 0;
	}

	/* Otherwise decide again, and write, under the locks. */
	struct locks locks;
	r = lock_all(etcfd, etc_path, &locks, err, errlen);
	if (r < 0)
		return r;
	r = dbs_load(db, etcfd, root, name, err, errlen);
	if (r == 0)
		r = plan(db, &q, &u, &g, err, errlen);
	if (r == 0)
		r = plan_changes(db) ? commit_all(etcfd, db, err, errlen) : 0;
	unlock_all(etcfd, &locks);
	dbs_free(db);
	if (r >= 0) {
		if (uid_out)
			*uid_out = (uid_t)u;
		if (gid_out)
			*gid_out = (gid_t)g;
	}
	return r;
}

int users_lookup(const char *root, const char *name, uid_t *uid, gid_t *gid)
{
	if (!name || !*name || strchr(name, ':') || strchr(name, '\n'))
		return -EINVAL;
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	int r = root_read_all(root, "/etc/passwd", DB_MAX_SIZE, &data, &len);
	if (r < 0)
		return r;
	const char *p = data, *end = data + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct line l = { .s = p, .len = (size_t)((nl ? nl : end) - p) };
		p = nl ? nl + 1 : end;
		if (!line_name_is(&l, name))
			continue;
		unsigned fields = 1;
		for (size_t k = 0; k < l.len; k++)
			fields += l.s[k] == ':';
		uint32_t u = line_id(&l, 2), g = line_id(&l, 3);
		if (fields != 7 || u == ID_INVALID || g == ID_INVALID)
			return -EINVAL;
		if (uid)
			*uid = (uid_t)u;
		if (gid)
			*gid = (gid_t)g;
		return 0;
	}
	return -ENOENT;
}

void users_sysusers_render(const char *name, uid_t uid, gid_t gid, const char *home, const char *comment,
                           struct strbuf *out)
{
	if (gid == (gid_t)-1)
		sb_printf(out, "g %s -\n", name);
	else
		sb_printf(out, "g %s %u\n", name, (unsigned)gid);
	if (uid == (uid_t)-1)
		sb_printf(out, "u %s -:%s", name, name);
	else
		sb_printf(out, "u %s %u:%s", name, (unsigned)uid, name);
	sb_printf(out, " \"%s\" \"%s\" /usr/sbin/nologin\n", comment ? comment : "-", home);
}
