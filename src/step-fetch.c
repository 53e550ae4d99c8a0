/* SPDX-License-Identifier: Apache-2.0 */
#include "step-fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cache.h"
#include "diag.h"
#include "fetch.h"
#include "install.h"
#include "log.h"
#include "manifest.h"
#include "minisign.h"
#include "unpack.h"
#include "util.h"

struct item {
	enum role role;
	const struct artifact *a;
	enum digest_alg alg;
	char hex[129];
	const char *source;     /* where the digest came from, for the log */
	enum digest_alg also_alg;  /* a second digest to check (the manifest's, */
	char also_hex[129];        /* when the inline pin uses the other algorithm) */
	bool installed;         /* current already points at this version */
	int fd;                 /* the verified artifact (cache or partial) */
	char *partial;          /* partial file name while downloading */
	int job;                /* index into jobs, -1 if not downloaded */
	const struct item *same;/* another role with the same digest (fetched once) */
	bool switched;          /* installed by this run */
	char *staging;          /* unpacked, waiting for the commit */
	int staging_fd;         /* held open (and so locked) until the commit */
	int unpacked;           /* 1 done, negative errno failed, 0 not yet */
};

static int fetch_status_errno(enum fetch_status s)
{
	switch (s) {
	case FETCH_OK: return 0;
	case FETCH_MISMATCH: return -EBADMSG;
	case FETCH_PERMANENT: return -EREMOTEIO;
	default: return -ETIMEDOUT;
	}
}

/* Worse of two step results: a wrong byte beats an unreachable mirror
 * beats a slow one. */
static int worse(int a, int b)
{
	static const int order[] = { -EBADMSG, -EREMOTEIO, -ETIMEDOUT };
	for (size_t i = 0; i < ELEMENTSOF(order); i++)
		if (a == order[i] || b == order[i])
			return order[i];
	return a < 0 ? a : b;
}

static void job_urls(struct fetch_job *j, const struct artifact *a)
{
	j->urls[j->n_urls++] = a->url;
	for (unsigned i = 0; i < a->n_mirrors; i++)
		j->urls[j->n_urls++] = a->mirrors[i];
}

/* The signed release manifest as this run got it: from the cache of a
 * previous run (verified again) or downloaded (cached at the commit). */
struct release {
	struct manifest m;
	char dir[128];          /* /var/cache/meshboot/release/<hash of the URL> */
	char *text, *sig;       /* the downloaded bytes, to cache at the commit */
	size_t text_len, sig_len;
	bool from_cache;
};

static void release_free(struct release *rel)
{
	manifest_free(&rel->m);
	free(rel->text);
	free(rel->sig);
}

/* Verify manifest bytes with the pinned key and parse them.  Logs. */
static int release_check(const struct config *c, const struct minisign_key *key, struct release *rel,
                         const char *text, size_t len, const char *sig, size_t sig_len, const char *what)
{
	char err[512];
	char *trusted = NULL;
	int r = minisign_verify(key, sig, sig_len, text, len, &trusted, err, sizeof(err));
	if (r < 0) {
		log_error("fetch: %s%s: signature %s refused: %s", what, c->release.manifest_url,
		          c->release.signature_url, err);
		free(trusted);
		return -EBADMSG;
	}
	/* the trusted comment is the signer's text: printable characters only */
	for (char *t = trusted; t && *t; t++)
		if ((unsigned char)*t < 0x20 || *t == 0x7f)
			*t = ' ';
	log_info("fetch: release manifest %s%s verified (trusted comment: %.200s)", what, c->release.manifest_url,
	         trusted ? trusted : "");
	free(trusted);
	struct diag_list d = { 0 };
	r = manifest_parse(c->release.manifest_url, text, len, &rel->m, &d);
	if (r < 0) {
		struct strbuf sb;
		sb_init(&sb);
		diag_render(&d, &sb);
		if (sb.buf)
			log_raw(sb.buf);
		sb_free(&sb);
		log_error("fetch: the signed release manifest is malformed");
		r = -EBADMSG;
	}
	diag_list_free(&d);
	return r;
}

/* The manifest: a verified cached copy keeps a baked image offline at
 * boot; otherwise download the manifest and its signature. */
static int release_load(const struct config *c, const char *root, struct release *rel)
{
	struct minisign_key key;
	if (minisign_key_parse(c->release.public_key, strlen(c->release.public_key), &key) < 0) {
		log_error("fetch: release.public_key is not a minisign public key");
		return -EBADMSG;
	}
	char url_hex[65];
	uint8_t md[32];
	unsigned mdl = 0;
	EVP_Digest(c->release.manifest_url, strlen(c->release.manifest_url), md, &mdl, EVP_sha256(), NULL);
	hex_encode(md, 16, url_hex);
	snprintf(rel->dir, sizeof(rel->dir), CACHE_DIR "/release/%s", url_hex);

	char path[200];
	_cleanup_free_ char *text = NULL, *sig = NULL;
	size_t len = 0, sig_len = 0;
	snprintf(path, sizeof(path), "%s/SHA256SUMS", rel->dir);
	if (root_read_all(root, path, 1u << 20, &text, &len) == 0) {
		snprintf(path, sizeof(path), "%s/SHA256SUMS.minisig", rel->dir);
		if (root_read_all(root, path, 8192, &sig, &sig_len) == 0 &&
		    release_check(c, &key, rel, text, len, sig, sig_len, "(cached) ") == 0) {
			rel->from_cache = true;
			return 0;
		}
		manifest_free(&rel->m);
		log_warn("fetch: the cached release manifest does not verify; fetching it again");
	}

	struct fetch_job jobs[2];
	fetch_job_init(&jobs[0]);
	fetch_job_init(&jobs[1]);
	jobs[0].name = "release manifest";
	jobs[0].urls[jobs[0].n_urls++] = c->release.manifest_url;
	jobs[0].max_size = 1u << 20;
	jobs[0].pinned = true;  /* its signature is checked: http is fine */
	jobs[1].name = "manifest signature";
	jobs[1].urls[jobs[1].n_urls++] = c->release.signature_url;
	jobs[1].max_size = 8192;
	jobs[1].pinned = true;
	int r = fetch_run(jobs, 2, &c->fetch, NULL);
	if (r < 0) {
		log_error("fetch: cannot run the fetcher: %s", strerror(-r));
		goto out;
	}
	if (r > 0) {
		r = 0;
		for (int i = 0; i < 2; i++) {
			if (jobs[i].status != FETCH_OK) {
				log_error("fetch: %s: %s", jobs[i].name, jobs[i].err);
				r = worse(r, fetch_status_errno(jobs[i].status));
			}
		}
		goto out;
	}
	rel->text_len = jobs[0].mem.len;
	rel->text = sb_steal(&jobs[0].mem);
	rel->sig_len = jobs[1].mem.len;
	rel->sig = sb_steal(&jobs[1].mem);
	if (!rel->text || !rel->sig) {
		r = -ENOMEM;
		goto out;
	}
	r = release_check(c, &key, rel, rel->text, rel->text_len, rel->sig, rel->sig_len, "");
out:
	fetch_job_free(&jobs[0]);
	fetch_job_free(&jobs[1]);
	return r;
}

/* At the commit: keep a downloaded manifest for offline runs. */
static int release_store(const char *root, const struct release *rel)
{
	if (rel->from_cache || !rel->text)
		return 0;
	_cleanup_close_ int dfd = root_mkdir_p(root, rel->dir, 0755);
	if (dfd < 0)
		return dfd;
	int r = dirfd_write_atomic(dfd, "SHA256SUMS.minisig", rel->sig, rel->sig_len, 0644);
	if (r == 0)
		r = dirfd_write_atomic(dfd, "SHA256SUMS", rel->text, rel->text_len, 0644);
	return r;
}

/* Istio's .sha256 files: "<hex>" or "<hex>  <name>". https only (checked
 * by the parser); it protects no more than TLS does. */
static int sha256_urls_load(const struct config *c, struct item *items, unsigned n)
{
	struct fetch_job jobs[ROLE_MAX];
	unsigned map[ROLE_MAX], nj = 0;
	for (unsigned i = 0; i < n; i++) {
		if (items[i].alg != DIGEST_NONE || !items[i].a->sha256_url)
			continue;
		fetch_job_init(&jobs[nj]);
		jobs[nj].name = role_name(items[i].role);
		jobs[nj].urls[jobs[nj].n_urls++] = items[i].a->sha256_url;
		jobs[nj].max_size = 4096;
		map[nj++] = i;
		log_warn("fetch: %s: digest from %s: this adds no protection beyond TLS; pin sha256 or sign a "
		         "release manifest", role_name(items[i].role), items[i].a->sha256_url);
	}
	if (nj == 0)
		return 0;
	int r = fetch_run(jobs, nj, &c->fetch, NULL);
	if (r >= 0) {
		r = 0;
		for (unsigned k = 0; k < nj; k++) {
			struct item *it = &items[map[k]];
			if (jobs[k].status != FETCH_OK) {
				log_error("fetch: %s: %s", it->a->sha256_url, jobs[k].err);
				r = worse(r, fetch_status_errno(jobs[k].status));
				continue;
			}
			const char *t = jobs[k].mem.buf ? jobs[k].mem.buf : "";
			size_t hl = strspn(t, "0123456789abcdefABCDEF");
			if (hl != 64 || (t[hl] && t[hl] != ' ' && t[hl] != '\n' && t[hl] != '\t' && t[hl] != '\r')) {
				log_error("fetch: %s: not a SHA-256 digest file", it->a->sha256_url);
				r = worse(r, -EBADMSG);
				continue;
			}
			for (size_t i = 0; i < 64; i++)
				it->hex[i] = (char)((t[i] >= 'A' && t[i] <= 'F') ? t[i] - 'A' + 'a' : t[i]);
			it->hex[64] = '\0';
			it->alg = DIGEST_SHA256;
			it->source = "sha256_url";
		}
	} else {
		log_error("fetch: cannot run the fetcher: %s", strerror(-r));
	}
	for (unsigned k = 0; k < nj; k++)
		fetch_job_free(&jobs[k]);
	return r;
}

/* Is <prefix>/<role>/current already <version>-<short digest>? */
static bool installed_already(const struct config *c, const char *root, const struct item *it)
{
	char err[256];
	return install_is_current(root, c->install_prefix, role_name(it->role), it->a->version, it->hex, err,
	                          sizeof(err)) > 0;
}

/* Undo a switch made by this run: back to the previous version, or, for a
 * first install, no current link at all. */
static void install_undo(const struct config *c, const char *root, enum role r)
{
	char err[256], path[600];
	int k = install_rollback(root, c->install_prefix, role_name(r), err, sizeof(err));
	if (k == -ENOENT) {
		snprintf(path, sizeof(path), "%s/%s", c->install_prefix, role_name(r));
		_cleanup_close_ int dfd = root_open(root, path, O_RDONLY | O_DIRECTORY, 0);
		if (dfd >= 0 && unlinkat(dfd, "current", 0) == 0)
			return;
		k = -errno;
		snprintf(err, sizeof(err), "%s", strerror(errno));
	}
	if (k < 0)
		log_error("fetch: %s: cannot switch back to the previous version: %s", role_name(r), err);
}

static void human(uint64_t b, char *buf, size_t len)
{
	if (b >= 1u << 20)
		snprintf(buf, len, "%.1f MiB", (double)b / 1048576.0);
	else if (b >= 1u << 10)
		snprintf(buf, len, "%.1f KiB", (double)b / 1024.0);
	else
		snprintf(buf, len, "%llu B", (unsigned long long)b);
}

/* On a terminal: one line showing every transfer, redrawn in place. */
static void progress_draw(const struct fetch_job *jobs, unsigned n, bool final, void *data)
{
	(void)data;
	struct strbuf sb;
	sb_init(&sb);
	sb_puts(&sb, "\r\033[K");
	if (!final) {
		for (unsigned i = 0; i < n; i++) {
			char have[32];
			human(jobs[i].bytes, have, sizeof(have));
			uint64_t total = jobs[i].size ? jobs[i].size : jobs[i].expected;
			if (total)
				sb_printf(&sb, "%s%s %3u%%", i ? " | " : "", jobs[i].name,
				          (unsigned)(jobs[i].bytes * 100 / total));
			else
				sb_printf(&sb, "%s%s %s", i ? " | " : "", jobs[i].name, have);
		}
	}
	if (sb.buf)
		fputs(sb.buf, stderr);
	fflush(stderr);
	sb_free(&sb);
}

/* Unpack one verified artifact into a fresh staging directory and check
 * that its entry point is there.  Logs; sets it->unpacked. */
static int unpack_one(const struct config *c, const char *root, struct item *it)
{
	char err[512];
	int dir_fd = -1;
	const char *name = role_name(it->role);
	int r = install_staging_create(root, c->install_prefix, name, &dir_fd, &it->staging, err, sizeof(err));
	it->staging_fd = dir_fd;
	if (r < 0) {
		log_error("fetch: %s: cannot create a staging directory: %s", name, err);
		return it->unpacked = r;
	}
	struct unpack_opts uo = { .format = it->a->format, .strip_components = it->a->strip_components,
	                          .max_bytes = c->fetch.max_unpacked_size };
	struct unpack_stats us = { 0 };
	/* pread-based readers aside, the fd may be shared (same digest): dup
	 * gives a shared offset, so read through a private open instead */
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", it->fd);
	_cleanup_close_ int fd = open(self, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		log_error("fetch: %s: cannot reopen the verified artifact: %s", name, strerror(errno));
		goto out;
	}
	r = unpack_archive(fd, dir_fd, &uo, &us, err, sizeof(err));
	if (r < 0) {
		log_error("fetch: %s %s: the archive is refused: %s", name, it->a->url, err);
		if (r != -ENOMEM && r != -EIO && r != -ENOSPC)
			r = -EBADMSG;
		goto out;
	}
	/* The entry point must be there before anything can run it. */
	struct stat st;
	if (fstatat(dir_fd, it->a->exec, &st, 0) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111)) {
		log_error("fetch: %s: the archive has no executable %s (artifacts.%s.exec)", name, it->a->exec, name);
		r = -EBADMSG;
		goto out;
	}
	log_debug("fetch: %s: %llu entries, %llu bytes unpacked", name, (unsigned long long)us.entries,
	          (unsigned long long)us.bytes);
	r = 1;
out:
	return it->unpacked = r;
}

/* Unpacking runs on a pool of threads (one per CPU) fed while the
 * downloads go on: an artifact is unpacked as soon as it is verified. */
struct pool {
	const struct config *c;
	const char *root;
	struct item *items;
	unsigned n;
	unsigned queue[ROLE_MAX], head, tail;
	bool closed;
	int result;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t th[ROLE_MAX];
	unsigned nth;
};

static void pool_push(struct pool *p, unsigned i)
{
	pthread_mutex_lock(&p->lock);
	p->queue[p->tail++] = i;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static void *pool_worker(void *arg)
{
	struct pool *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (p->head == p->tail && !p->closed)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->head == p->tail || p->result < 0) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		unsigned i = p->queue[p->head++];
		pthread_mutex_unlock(&p->lock);
		int k = unpack_one(p->c, p->root, &p->items[i]);
		if (k < 0) {
			pthread_mutex_lock(&p->lock);
			if (p->result == 0)
				p->result = k;
			pthread_mutex_unlock(&p->lock);
		}
	}
}

static void pool_start(struct pool *p, const struct config *c, const char *root, struct item *items, unsigned n,
                       unsigned work)
{
	memset(p, 0, sizeof(*p));
	p->c = c;
	p->root = root;
	p->items = items;
	p->n = n;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned want = (unsigned)(cpus > 0 ? cpus : 1);
	if (want > work)
		want = work;
	for (unsigned i = 0; i < want; i++)
		if (pthread_create(&p->th[p->nth], NULL, pool_worker, p) == 0)
			p->nth++;
}

/* Close the queue and wait.  Returns the first unpack failure or 0. */
static int pool_finish(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->closed = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nth; i++)
		pthread_join(p->th[i], NULL);
	/* no thread could start (or all quit early): do what is left here */
	while (p->result == 0 && p->head < p->tail) {
		int k = unpack_one(p->c, p->root, &p->items[p->queue[p->head++]]);
		if (k < 0)
			p->result = k;
	}
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	return p->result;
}

/* Queue an item, and the items that share its bytes. */
static void pool_push_item(struct pool *p, unsigned i)
{
	pool_push(p, i);
	for (unsigned k = 0; k < p->n; k++) {
		struct item *o = &p->items[k];
		if (o->same != &p->items[i] || o->installed)
			continue;
		o->fd = dup(p->items[i].fd);  /* unpack_one reopens it privately */
		if (o->fd < 0) {
			o->unpacked = -errno;
			pthread_mutex_lock(&p->lock);
			if (p->result == 0)
				p->result = o->unpacked;
			pthread_mutex_unlock(&p->lock);
			continue;
		}
		pool_push(p, k);
	}
}

struct done_ctx {
	struct pool *pool;
	struct item *items;
	unsigned n;
};

/* fetch hook: a verified download goes straight to the unpackers. */
static void download_done(struct fetch_job *j, unsigned index, void *data)
{
	struct done_ctx *d = data;
	if (j->status != FETCH_OK)
		return;
	for (unsigned i = 0; i < d->n; i++)
		if (d->items[i].job == (int)index)
			pool_push_item(d->pool, i);
}

/* The directories a failed fetch must not leave behind: those that did
 * not exist when it started (the install prefix, each role's directory,
 * the cache, and their missing parents).  On failure they are removed,
 * deepest first, if they are empty (anything in them stays). */
#define NEW_DIRS_MAX 32
struct new_dirs {
	char *path[NEW_DIRS_MAX];
	unsigned n;
};

static void new_dirs_note(struct new_dirs *d, const char *root, const char *path)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return;
	while (buf[0] == '/' && buf[1]) {
		int fd = root_open(root, buf, O_PATH | O_DIRECTORY, 0);
		if (fd >= 0) {
			close(fd);
			return;
		}
		bool seen = false;
		for (unsigned i = 0; i < d->n && !seen; i++)
			seen = strcmp(d->path[i], buf) == 0;
		if (!seen && d->n < NEW_DIRS_MAX && (d->path[d->n] = strdup(buf)))
			d->n++;
		char *slash = strrchr(buf, '/');
		slash[slash == buf] = '\0';
	}
}

static int path_depth_cmp(const void *a, const void *b)
{
	size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
	return la < lb ? 1 : la > lb ? -1 : 0;
}

static void new_dirs_free(struct new_dirs *d, const char *root, bool remove)
{
	qsort(d->path, d->n, sizeof(d->path[0]), path_depth_cmp);
	for (unsigned i = 0; i < d->n; i++) {
		char *slash = strrchr(d->path[i], '/');
		if (remove && slash) {
			*slash = '\0';
			int pfd = root_open(root, slash == d->path[i] ? "/" : d->path[i], O_RDONLY | O_DIRECTORY, 0);
			if (pfd >= 0) {
				unlinkat(pfd, slash + 1, AT_REMOVEDIR); /* only if empty */
				close(pfd);
			}
		}
		free(d->path[i]);
	}
	d->n = 0;
}

int fetch_step(const struct config *c, const char *root)
{
	struct item items[ROLE_MAX];
	struct fetch_job jobs[ROLE_MAX];
	struct release rel = { .from_cache = false };
	unsigned n = 0, nj = 0;
	int r = 0;
	struct new_dirs made = { .n = 0 };
	new_dirs_note(&made, root, CACHE_DIR);
	for (int ro = 0; ro < ROLE_MAX; ro++) {
		const struct artifact *a = artifact_for(c, (enum role)ro);
		if (!a || !c->roles[ro])
			continue;
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s/%s", c->install_prefix, role_name((enum role)ro));
		new_dirs_note(&made, root, dir);
		struct item *it = &items[n++];
		memset(it, 0, sizeof(*it));
		it->role = (enum role)ro;
		it->a = a;
		it->fd = -1;
		it->staging_fd = -1;
		it->job = -1;
		if (a->alg != DIGEST_NONE) {
			it->alg = a->alg;
			snprintf(it->hex, sizeof(it->hex), "%s", a->digest);
			it->source = "pinned";
		}
	}

	/* 1. digests: with a release manifest every artifact must be listed,
	 * and match an inline pin too */
	if (c->release.manifest_url && n > 0) {
		if ((r = release_load(c, root, &rel)) < 0)
			goto out;
		for (unsigned i = 0; i < n; i++) {
			struct item *it = &items[i];
			_cleanup_free_ char *fname = manifest_name_for_url(it->a->url);
			const struct manifest_entry *e = fname ? manifest_find(&rel.m, fname) : NULL;
			if (!e) {
				log_error("fetch: %s: %s is not in the signed release manifest %s", role_name(it->role),
				          fname ? fname : it->a->url, c->release.manifest_url);
				r = worse(r, -EBADMSG);
				continue;
			}
			if (it->alg == (enum digest_alg)e->alg && strcmp(it->hex, e->hex) != 0) {
				log_error("fetch: %s: the inline %s pin %s differs from the signed manifest's %s",
				          role_name(it->role), digest_alg_name(it->alg), it->hex, e->hex);
				r = worse(r, -EBADMSG);
				continue;
			}
			if (it->alg != DIGEST_NONE && it->alg != (enum digest_alg)e->alg) {
				/* pinned with the other algorithm: both are checked */
				it->also_alg = (enum digest_alg)e->alg;
				snprintf(it->also_hex, sizeof(it->also_hex), "%s", e->hex);
				continue;
			}
			it->alg = (enum digest_alg)e->alg;
			snprintf(it->hex, sizeof(it->hex), "%s", e->hex);
			it->source = it->source ? "pinned and signed manifest" : "signed manifest";
		}
		if (r < 0)
			goto out;
	}
	if ((r = sha256_urls_load(c, items, n)) < 0)
		goto out;

	/* 2. what is installed or cached already; the rest is downloaded */
	for (unsigned i = 0; i < n; i++) {
		struct item *it = &items[i];
		if ((it->installed = installed_already(c, root, it)))
			continue;
		for (unsigned k = 0; k < i; k++)
			if (!items[k].installed && items[k].alg == it->alg && strcmp(items[k].hex, it->hex) == 0)
				it->same = &items[k];
		if (it->same)
			continue;
		it->fd = cache_open(root, it->alg, it->hex, true);
		if (it->fd >= 0)
			continue;
		if (it->fd != -ENOENT) {
			log_error("fetch: cannot read the cache: %s", strerror(-it->fd));
			r = it->fd;
			goto out;
		}
		it->fd = cache_partial_create(root, it->alg, it->hex, &it->partial);
		if (it->fd < 0) {
			log_error("fetch: cannot create a download file under %s%s: %s", root, CACHE_DIR,
			          strerror(-it->fd));
			r = it->fd;
			goto out;
		}
		struct fetch_job *j = &jobs[nj];
		fetch_job_init(j);
		j->name = role_name(it->role);
		job_urls(j, it->a);
		j->alg = it->alg;
		snprintf(j->hex, sizeof(j->hex), "%s", it->hex);
		j->size = it->a->size;
		j->max_size = c->fetch.max_size;
		j->pinned = true;
		j->fd = it->fd;
		it->job = (int)nj++;
	}

	/* 3. downloads, all at once; each verified artifact is unpacked into
	 * a staging directory right away, nothing is committed yet */
	unsigned work = 0;
	for (unsigned i = 0; i < n; i++)
		work += !items[i].installed;
	struct pool pool;
	pool_start(&pool, c, root, items, n, work);
	for (unsigned i = 0; i < n; i++)
		if (!items[i].installed && !items[i].same && items[i].job < 0)
			pool_push_item(&pool, i);  /* from the cache */
	if (nj > 0) {
		bool tty = isatty(STDERR_FILENO) && log_get_max_level() >= LOG_LEVEL_INFO;
		struct done_ctx dc = { &pool, items, n };
		struct fetch_hooks hooks = { .progress = tty ? progress_draw : NULL, .done = download_done, .data = &dc };
		int k = fetch_run(jobs, nj, &c->fetch, &hooks);
		if (k < 0) {
			log_error("fetch: cannot run the fetcher: %s", strerror(-k));
			r = k;
		}
		for (unsigned i = 0; i < n && k >= 0; i++) {
			struct item *it = &items[i];
			if (it->job < 0)
				continue;
			struct fetch_job *j = &jobs[it->job];
			if (j->status != FETCH_OK) {
				log_error("fetch: %s %s: %s", role_name(it->role), it->a->version, j->err);
				r = worse(r, fetch_status_errno(j->status));
			}
		}
	}
	int k = pool_finish(&pool);
	if (r == 0 && k < 0)
		r = k;
	if (r < 0)
		goto out;

	for (unsigned i = 0; i < n; i++) {
		struct item *it = &items[i];
		if (it->installed || it->also_alg == DIGEST_NONE)
			continue;
		char got[129];
		const struct item *src = it->same ? it->same : it;
		int k2 = digest_fd(src->fd, it->also_alg, got);
		if (k2 < 0 || strcmp(got, it->also_hex) != 0) {
			log_error("fetch: %s: %s: %s mismatch with the signed manifest: expected %s, got %s",
			          role_name(it->role), it->a->url, digest_alg_name(it->also_alg), it->also_hex,
			          k2 < 0 ? strerror(-k2) : got);
			r = -EBADMSG;
			goto out;
		}
	}
	if ((k = release_store(root, &rel)) < 0) {
		log_error("fetch: cannot keep the release manifest in the cache: %s", strerror(-k));
		r = k;
		goto out;
	}

	/* 4. everything verified and unpacked: make it durable once, then
	 * commit: the cache entries, then each role's version and current */
	for (unsigned i = 0; i < n; i++) {
		struct item *it = &items[i];
		if (it->job < 0)
			continue;
		int k2 = cache_commit(root, it->alg, it->hex, it->fd, it->partial);
		if (k2 < 0) {
			log_error("fetch: cannot store %s in the cache: %s", role_name(it->role), strerror(-k2));
			r = k2;
			goto out;
		}
		free(it->partial);
		it->partial = NULL;
	}
	/* one flush for every staging tree (they share the prefix's filesystem) */
	for (unsigned i = 0; i < n; i++) {
		if (items[i].staging_fd >= 0) {
			if (syncfs(items[i].staging_fd) < 0) {
				r = -errno;
				log_error("fetch: cannot flush the unpacked files to disk: %s", strerror(errno));
				goto out;
			}
			break;
		}
	}
	int changed = 0;
	for (unsigned i = 0; i < n; i++) {
		struct item *it = &items[i];
		if (it->installed)
			continue;
		char err[512];
		k = install_commit_synced(root, c->install_prefix, role_name(it->role), it->staging, it->a->version, it->hex,
		                   err, sizeof(err));
		if (k < 0) {
			log_error("fetch: %s: cannot install: %s", role_name(it->role), err);
			r = k;
			goto out;
		}
		it->switched = k > 0;
		changed |= k > 0;
	}
	for (unsigned i = 0; i < n; i++) {
		struct item *it = &items[i];
		char size[32];
		if (it->installed) {
			log_info("fetch: %s %s: already installed (%s:%.12s)", role_name(it->role), it->a->version,
			         digest_alg_name(it->alg), it->hex);
		} else if (it->job >= 0) {
			struct fetch_job *j = &jobs[it->job];
			human(j->bytes, size, sizeof(size));
			double rate = j->seconds > 0 ? (double)j->bytes / j->seconds / 1048576.0 : 0;
			char retries[32] = "";
			if (j->attempts > 1)
				snprintf(retries, sizeof(retries), ", %u %s", j->attempts - 1, j->attempts == 2 ? "retry" : "retries");
			if (j->warn[0])
				log_warn("fetch: %s %s: on the way: %s", role_name(it->role), it->a->version, j->warn);
			log_info("fetch: %s %s: %s in %.2f s (%.1f MiB/s) from %s%s, %s digest verified", role_name(it->role),
			         it->a->version, size, j->seconds, rate, j->urls[j->url_index], retries, it->source);
		} else {
			log_info("fetch: %s %s: from the cache (%s:%.12s, %s digest verified)", role_name(it->role),
			         it->a->version, digest_alg_name(it->alg), it->hex, it->source);
		}
	}
	r = changed;
out:
	if (r < 0) {
		/* all or nothing: switch back what this run switched */
		for (unsigned i = 0; i < n; i++)
			if (items[i].switched)
				install_undo(c, root, items[i].role);
	}
	for (unsigned i = 0; i < n; i++) {
		install_staging_remove(root, items[i].staging);  /* a no-op once committed */
		if (items[i].staging_fd >= 0)
			close(items[i].staging_fd);
		free(items[i].staging);
		if (items[i].partial)
			cache_partial_remove(root, items[i].partial);
		free(items[i].partial);
		if (items[i].fd >= 0)
			close(items[i].fd);
	}
	if (nj > 0)
		cache_partial_dir_remove(root);
	new_dirs_free(&made, root, r < 0);
	for (unsigned i = 0; i < nj; i++)
		fetch_job_free(&jobs[i]);
	release_free(&rel);
	return r;
}
