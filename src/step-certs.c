/* SPDX-License-Identifier: Apache-2.0 */
/* The certificate steps (see step-certs.h).  certs_ensure works in two
 * halves: certs_prepare computes and checks everything in memory (nothing
 * on disk changes when any check fails), certs_install writes the result,
 * the key before the chain, so that a crash in between leaves a key whose
 * certificate does not match it, which the next run replaces. */
#include "step-certs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "certs.h"
#include "fetch.h"
#include "istioca.h"
#include "log.h"
#include "runonce.h"
#include "util.h"

#define CA_LIFETIME_DAYS 3650

/* A malloc'd buffer; a secret one is wiped before it is freed. */
struct buf {
	char *p;
	size_t n;
	bool secret;
};

static void buf_free(struct buf *b)
{
	if (b->p && b->secret)
		OPENSSL_cleanse(b->p, b->n + 1);
	free(b->p);
	b->p = NULL;
	b->n = 0;
}

static int buf_dup(struct buf *b, const char *s, size_t n)
{
	b->p = malloc(n + 1);
	if (!b->p)
		return -ENOMEM;
	memcpy(b->p, s, n);
	b->p[n] = '\0';
	b->n = n;
	return 0;
}

/* Read a file under root into b: -ENOENT when absent. */
static int buf_read(struct buf *b, const char *root, const char *path, bool secret)
{
	b->secret = secret;
	return root_read_all(root, path, CERTS_PEM_MAX, &b->p, &b->n);
}

/* Everything certs_install writes, computed and checked first. */
struct certs_plan {
	struct buf root_pem;
	char root_from[160];     /* for the log line: "inline", the URL, "the mesh CA" */
	bool untimed;            /* the clock is before the root's notBefore and that is allowed */
	/* the CA this host signs with (mode local, or the mesh CA it creates) */
	struct buf ca_cert, ca_key;
	bool ca_layout;          /* write /etc/cacerts (Citadel, istiod) */
	bool ca_created;
	/* the workload identity */
	char spiffe[512];
	struct buf key, csr, chain;
	bool key_new;
	const char *key_foreign; /* why the key on disk is not this instance's, or NULL */
	char key_record[256];    /* RUNONCE_INSTANCE_DIR/<id>/key.sha256 */
	char key_fp[65];         /* what it records: the key's public fingerprint */
	bool chain_kept;
	const char *issued_by;   /* "" when no certificate */
	/* mode none: a certificate on disk that is not for the new key goes;
	 * one for the key that does not check out stays, with a warning */
	bool chain_stale;
	char chain_warning[512];
};

static void plan_free(struct certs_plan *p)
{
	buf_free(&p->root_pem);
	buf_free(&p->ca_cert);
	buf_free(&p->ca_key);
	buf_free(&p->key);
	buf_free(&p->csr);
	buf_free(&p->chain);
}

static bool certs_needed(const struct config *c)
{
	return c->roles[ROLE_SIDECAR] || c->roles[ROLE_CITADEL] || c->roles[ROLE_ISTIOD] || c->certs.root_pem ||
	       c->certs.root_url;
}

static bool ca_role(const struct config *c)
{
	return c->roles[ROLE_CITADEL] || c->roles[ROLE_ISTIOD];
}

/* ---- the root of trust ---------------------------------------------------- */

static void trust_path(const char *fp, char *out, size_t len)
{
	snprintf(out, len, "%s/%s.pem", TRUST_CACHE_DIR, fp);
}

/* Check a root certificate: it parses, matches the pin (when fetched), is
 * a CA within its validity.  A clock before notBefore passes only with
 * certs.root.allow_not_yet_valid (then *untimed is set). */
static int root_verify(const struct config *c, const char *pem, size_t n, const char *where, bool *untimed, char *err,
                       size_t errlen)
{
	char fp[65], why[512];
	int r = certs_root_check(pem, n, time(NULL), fp, why, sizeof(why));
	if (fp[0] && c->certs.root_url && strcasecmp(fp, c->certs.root_sha256) != 0)
		return err_fmt(err, errlen, -EBADMSG,
		               "%s: fingerprint mismatch: the certificate's SHA-256 is %s, certs.root.sha256 pins %s",
		               where, fp, c->certs.root_sha256);
	if (r == -ETIME && c->certs.root_allow_not_yet_valid) {
		*untimed = true;
		return 0;
	}
	if (r == -ETIME)
		return err_fmt(err, errlen, r, "%s: %s (certs.root.allow_not_yet_valid: true proceeds anyway)", where,
		               why);
	if (r < 0)
		return err_fmt(err, errlen, r, "%s: %s", where, why);
	return 0;
}

/* Fetch certs.root.url into out (not yet verified). */
static int root_fetch(const struct config *c, struct buf *out, char *err, size_t errlen)
{
	struct fetch_job j;
	fetch_job_init(&j);
	j.name = "root certificate";
	j.urls[j.n_urls++] = c->certs.root_url;
	j.max_size = CERTS_PEM_MAX;
	j.pinned = true; /* by the fingerprint, checked after */
	int r = fetch_run(&j, 1, &c->fetch, NULL);
	if (r == 0)
		r = buf_dup(out, j.mem.buf ? j.mem.buf : "", j.mem.len);
	else if (r > 0)
		r = err_fmt(err, errlen, j.status == FETCH_PERMANENT ? -EREMOTEIO : -ETIMEDOUT, "%s", j.err);
	else
		r = err_fmt(err, errlen, r, "%s: the fetcher cannot run: %s", c->certs.root_url, strerror(-r));
	fetch_job_free(&j);
	return r;
}

/* The configured root: inline, or from the trust cache, or fetched.
 * *fetched says it came from the network (and is not cached yet). */
static int root_load(const struct config *c, const char *root, struct certs_plan *p, bool *fetched, char *err,
                     size_t errlen)
{
	*fetched = false;
	if (c->certs.root_pem) {
		snprintf(p->root_from, sizeof(p->root_from), "certs.root.pem");
		int r = buf_dup(&p->root_pem, c->certs.root_pem, strlen(c->certs.root_pem));
		return r < 0 ? r : root_verify(c, p->root_pem.p, p->root_pem.n, "certs.root.pem", &p->untimed, err, errlen);
	}
	char path[256];
	trust_path(c->certs.root_sha256, path, sizeof(path));
	snprintf(p->root_from, sizeof(p->root_from), "%.150s", c->certs.root_url);
	int r = buf_read(&p->root_pem, root, path, false);
	if (r == 0 && root_verify(c, p->root_pem.p, p->root_pem.n, path, &p->untimed, err, errlen) == 0)
		return 0;
	/* absent, or a cached copy that no longer passes: fetch it again */
	buf_free(&p->root_pem);
	p->untimed = false;
	r = root_fetch(c, &p->root_pem, err, errlen);
	if (r < 0)
		return r;
	*fetched = true;
	return root_verify(c, p->root_pem.p, p->root_pem.n, c->certs.root_url, &p->untimed, err, errlen);
}

static int root_cache(const struct config *c, const char *root, const struct buf *pem)
{
	char path[256];
	trust_path(c->certs.root_sha256, path, sizeof(path));
	return root_file_ensure(root, path, pem->p, pem->n, 0644, 0, 0); /* parents made 0755 */
}

int trust_ensure(const struct config *c, const char *root)
{
	if (!c->certs.root_url) {
		log_info("trust: %s", c->certs.root_pem ? "the root certificate is inline" : "no root certificate configured");
		return 0;
	}
	struct certs_plan p = { 0 };
	char err[1024];
	bool fetched;
	int r = root_load(c, root, &p, &fetched, err, sizeof(err));
	if (r < 0) {
		log_error("trust: %s", err);
		goto out;
	}
	if (p.untimed)
		log_warn("trust: the clock is before the root certificate's notBefore; going on because of "
		         "certs.root.allow_not_yet_valid");
	r = fetched ? root_cache(c, root, &p.root_pem) : 0;
	if (r < 0)
		log_error("trust: cannot keep the root certificate in %s: %s", TRUST_CACHE_DIR, strerror(-r));
	else
		log_info("trust: root certificate %s (SHA-256 %.16s…)%s", c->certs.root_url, c->certs.root_sha256,
		         r ? " fetched, verified and cached" : " already cached and verified");
out:
	plan_free(&p);
	return r;
}

/* ---- the CA this host signs with ----------------------------------------- */

static int ca_load_configured(const struct config *c, const char *root, struct certs_plan *p, char *err,
                              size_t errlen)
{
	const struct certs *k = &c->certs;
	int r;
	if (k->ca_cert_pem)
		r = buf_dup(&p->ca_cert, k->ca_cert_pem, strlen(k->ca_cert_pem));
	else if ((r = buf_read(&p->ca_cert, root, k->ca_cert_file, false)) < 0)
		return err_fmt(err, errlen, r, "certs.ca.cert_file %s: %s", k->ca_cert_file, strerror(-r));
	if (r < 0)
		return r;
	p->ca_key.secret = true;
	if (k->ca_key_pem)
		r = buf_dup(&p->ca_key, k->ca_key_pem, strlen(k->ca_key_pem));
	else if ((r = buf_read(&p->ca_key, root, k->ca_key_file, true)) < 0)
		return err_fmt(err, errlen, r, "certs.ca.key_file %s: %s", k->ca_key_file, strerror(-r));
	if (r < 0)
		return r;
	char why[512];
	r = certs_ca_pair_check(p->ca_cert.p, p->ca_cert.n, p->ca_key.p, p->ca_key.n, time(NULL), why, sizeof(why));
	if (r < 0)
		return err_fmt(err, errlen, r, "certs.ca: %s", why);
	return 0;
}

/* The mesh CA of a Citadel/istiod host without one configured: the one in
 * /etc/cacerts while it is sound (never rotated by --force: the mesh trusts
 * it), else a new self-signed root. */
static int ca_load_or_create(const struct config *c, const char *root, struct certs_plan *p, char *err,
                             size_t errlen)
{
	char why[512];
	p->ca_key.secret = true;
	if (buf_read(&p->ca_cert, root, CACERTS_DIR "/ca-cert.pem", false) == 0 &&
	    buf_read(&p->ca_key, root, CACERTS_DIR "/ca-key.pem", true) == 0 &&
	    certs_ca_pair_check(p->ca_cert.p, p->ca_cert.n, p->ca_key.p, p->ca_key.n, time(NULL), why, sizeof(why)) == 0)
		return 0;
	buf_free(&p->ca_cert);
	buf_free(&p->ca_key);
	p->ca_key.secret = true;
	int r = certs_ca_create(c->mesh.trust_domain, CA_LIFETIME_DAYS, &p->ca_cert.p, &p->ca_cert.n, &p->ca_key.p,
	                        &p->ca_key.n, why, sizeof(why));
	if (r < 0)
		return err_fmt(err, errlen, r, "creating the mesh CA: %s", why);
	p->ca_created = true;
	return 0;
}

/* ---- the workload identity ------------------------------------------------ */

static int token_load(const struct config *c, const char *root, struct buf *tok, char *err, size_t errlen)
{
	tok->secret = true;
	int r;
	if (c->certs.token)
		r = buf_dup(tok, c->certs.token, strlen(c->certs.token));
	else if ((r = buf_read(tok, root, c->certs.token_file, true)) < 0)
		return err_fmt(err, errlen, r, "certs.ca.token_file %s: %s", c->certs.token_file, strerror(-r));
	if (r < 0)
		return r;
	while (tok->n > 0 && (tok->p[tok->n - 1] == '\n' || tok->p[tok->n - 1] == '\r' || tok->p[tok->n - 1] == ' '))
		tok->p[--tok->n] = '\0';
	if (tok->n == 0 || strlen(tok->p) != tok->n)
		return err_fmt(err, errlen, -EINVAL, "the CA token is empty or holds a NUL byte");
	return 0;
}

/* Was the key on disk made for this instance?  Its record (the public key's
 * fingerprint, written with it) must be there and match: a key that came
 * with a cloned disk or an image made from a provisioned host must not
 * become a second instance's identity. */
static bool key_ours(const char *root, struct certs_plan *p)
{
	char why[256];
	struct buf rec = { 0 };
	p->key_foreign = NULL;
	if (buf_read(&rec, root, p->key_record, false) < 0 || rec.n < 64)
		p->key_foreign = "has no record";
	else if (certs_key_fingerprint(p->key.p, p->key.n, p->key_fp, why, sizeof(why)) < 0 ||
	         memcmp(rec.p, p->key_fp, 64) != 0)
		p->key_foreign = "is not the key recorded";
	buf_free(&rec);
	if (p->key_foreign)
		p->key_fp[0] = '\0';
	return !p->key_foreign;
}

/* Keep the key on disk?  Only without --force, when it was made for this
 * instance, of the configured type, and still matching an unexpired
 * certificate (or, in mode none, the CSR that waits for its signer). */
static bool key_keep(const struct config *c, const char *root, struct certs_plan *p, const struct buf *chain_old,
                     const struct buf *csr_old, bool force)
{
	char why[256];
	if (force || !p->key.p || certs_key_check(p->key.p, p->key.n, c->certs.key_type, why, sizeof(why)) < 0 ||
	    !key_ours(root, p))
		return false;
	if (chain_old->p) /* a certificate for another key, or expired: rotate */
		return certs_leaf_check(chain_old->p, chain_old->n, p->key.p, p->key.n, time(NULL), NULL, why,
		                        sizeof(why)) == 0;
	return c->certs.ca_mode == CA_MODE_NONE && !p->ca_key.p && csr_old->p && p->csr.p &&
	       certs_csr_same(csr_old->p, csr_old->n, p->csr.p, p->csr.n) == 1;
}

static int chain_check(const struct certs_plan *p, const char *chain, size_t n, char *err, size_t errlen)
{
	return (p->untimed ? certs_chain_check_untimed : certs_chain_check)(chain, n, p->root_pem.p, p->root_pem.n,
	                                                                    p->key.p, p->key.n, p->spiffe, err, errlen);
}

static int csr_build(const struct config *c, struct certs_plan *p, char *err, size_t errlen)
{
	buf_free(&p->csr);
	return certs_csr_make(p->key.p, p->key.n, p->spiffe, c->certs.dns_names, c->certs.n_dns_names,
	                      c->certs.ip_addresses, c->certs.n_ip_addresses, &p->csr.p, &p->csr.n, err, errlen);
}

/* Ask the configured CA for a chain for p->csr. */
static int chain_obtain(const struct config *c, const char *root, struct certs_plan *p, char *err, size_t errlen)
{
	char why[1024];
	int r;
	struct buf raw = { 0 };
	if (p->ca_key.p) {
		r = certs_sign(p->csr.p, p->csr.n, p->ca_cert.p, p->ca_cert.n, p->ca_key.p, p->ca_key.n,
		               c->certs.lifetime_hours, &raw.p, &raw.n, why, sizeof(why));
		p->issued_by = p->ca_created ? "the mesh CA created here" : "the local CA";
		if (r < 0) {
			err_fmt(err, errlen, r, "signing locally: %s", why);
			goto out;
		}
	} else {
		struct buf tok = { 0 };
		r = token_load(c, root, &tok, err, errlen);
		if (r < 0)
			return r;
		struct istioca_req q = {
			.address = c->certs.ca_address,
			.root_pem = p->root_pem.p,
			.root_len = p->root_pem.n,
			.token = tok.p,
			.csr_pem = p->csr.p,
			.csr_len = p->csr.n,
			.validity_sec = (int64_t)c->certs.lifetime_hours * 3600,
			.fo = &c->fetch,
		};
		r = istioca_sign(&q, &raw.p, &raw.n, why, sizeof(why));
		buf_free(&tok);
		p->issued_by = "the Istio CA";
		if (r < 0) {
			err_fmt(err, errlen, r, "the Istio CA at %s", why);
			goto out;
		}
	}
	r = certs_chain_normalize(raw.p, raw.n, p->root_pem.p, p->root_pem.n, &p->chain.p, &p->chain.n, why,
	                          sizeof(why));
	if (r == 0)
		r = chain_check(p, p->chain.p, p->chain.n, why, sizeof(why));
	if (r < 0)
		err_fmt(err, errlen, r, "the certificate from %s is refused, nothing installed: %s", p->issued_by, why);
out:
	buf_free(&raw);
	return r;
}

static int certs_prepare(const struct config *c, const char *root, const char *instance_id, bool force,
                         struct certs_plan *p, char *err, size_t errlen)
{
	const struct certs *k = &c->certs;
	bool fetched = false;
	int r;

	/* 1. The root, and the CA this host signs with. */
	if (k->ca_mode == CA_MODE_LOCAL) {
		p->ca_layout = ca_role(c);
		r = ca_load_configured(c, root, p, err, errlen);
		if (r < 0)
			return r;
		if (k->root_pem || k->root_url)
			r = root_load(c, root, p, &fetched, err, errlen);
		else {
			snprintf(p->root_from, sizeof(p->root_from), "the CA certificate");
			r = buf_dup(&p->root_pem, p->ca_cert.p, p->ca_cert.n);
			if (r == 0)
				r = root_verify(c, p->root_pem.p, p->root_pem.n, "the CA certificate", &p->untimed, err,
				                errlen);
		}
	} else if (ca_role(c) && !k->root_pem && !k->root_url) {
		p->ca_layout = true;
		r = ca_load_or_create(c, root, p, err, errlen);
		if (r < 0)
			return r;
		snprintf(p->root_from, sizeof(p->root_from), "the mesh CA");
		r = buf_dup(&p->root_pem, p->ca_cert.p, p->ca_cert.n);
	} else {
		r = root_load(c, root, p, &fetched, err, errlen);
	}
	if (r < 0)
		return r;

	/* 2. The key: kept or new; its CSR. */
	snprintf(p->spiffe, sizeof(p->spiffe), "spiffe://%s/ns/%s/sa/%s", c->mesh.trust_domain, c->mesh.namespace_,
	         c->mesh.service_account);
	struct buf chain_old = { 0 }, csr_old = { 0 };
	buf_read(&p->key, root, CERTS_DIR "/key.pem", true);
	buf_read(&chain_old, root, CERTS_DIR "/cert-chain.pem", false);
	buf_read(&csr_old, root, CERTS_DIR "/csr.pem", false);
	if (p->key.p && certs_key_check(p->key.p, p->key.n, k->key_type, err, errlen) == 0)
		r = csr_build(c, p, err, errlen);
	snprintf(p->key_record, sizeof(p->key_record), RUNONCE_INSTANCE_DIR "/%s/key.sha256", instance_id);
	if (r == 0 && !key_keep(c, root, p, &chain_old, &csr_old, force)) {
		buf_free(&p->key);
		p->key.secret = true;
		r = certs_key_generate(k->key_type, &p->key.p, &p->key.n, err, errlen);
		p->key_new = r == 0;
		if (r == 0)
			r = csr_build(c, p, err, errlen);
	}

	if (r == 0 && !p->key_fp[0])  /* a kept key's was taken by key_ours */
		r = certs_key_fingerprint(p->key.p, p->key.n, p->key_fp, err, errlen);

	/* the CSR on disk when it asks for the same (its signature differs each time) */
	if (r == 0 && !p->key_new && csr_old.p && certs_csr_same(csr_old.p, csr_old.n, p->csr.p, p->csr.n) == 1) {
		buf_free(&p->csr);
		p->csr = csr_old;
		csr_old = (struct buf){ 0 };
	}

	/* 3. The chain: the one on disk while it still checks out, else a new one. */
	char why[512];
	if (r == 0 && !p->key_new && chain_old.p && chain_check(p, chain_old.p, chain_old.n, why, sizeof(why)) == 0) {
		p->chain = chain_old;
		chain_old.p = NULL;
		p->chain_kept = true;
		p->issued_by = "the certificate on disk";
	} else if (r == 0 && (p->ca_key.p || k->ca_mode == CA_MODE_ISTIO)) {
		r = chain_obtain(c, root, p, err, errlen);
	} else if (r == 0) {
		p->issued_by = "";
		if (chain_old.p && p->key_new)
			p->chain_stale = true;
		else if (chain_old.p)
			snprintf(p->chain_warning, sizeof(p->chain_warning), "%s", why);
	}
	buf_free(&chain_old);
	buf_free(&csr_old);
	return r;
}

/* ---- writing -------------------------------------------------------------- */

static int certs_install(const char *root, const struct certs_plan *p, uid_t uid, gid_t gid)
{
	int changed = 0, r;
	if (p->ca_layout) {
		/* Istio's plugged-in CA files, where the Citadel/istiod unit reads them */
		if ((r = root_dir_ensure(root, CACERTS_DIR, 0750, uid, gid)) < 0 ||
		    (changed |= r, r = root_file_ensure(root, CACERTS_DIR "/ca-key.pem", p->ca_key.p, p->ca_key.n, 0600, uid,
	                                        gid)) < 0 ||
		    (changed |= r, r = root_file_ensure(root, CACERTS_DIR "/ca-cert.pem", p->ca_cert.p, p->ca_cert.n, 0644,
		                                        uid, gid)) < 0 ||
		    (changed |= r, r = root_file_ensure(root, CACERTS_DIR "/root-cert.pem", p->root_pem.p, p->root_pem.n,
		                                        0644, uid, gid)) < 0 ||
		    (changed |= r, r = root_file_ensure(root, CACERTS_DIR "/cert-chain.pem", p->ca_cert.p, p->ca_cert.n,
		                                        0644, uid, gid)) < 0)
			return r;
		changed |= r;
	}
	if ((r = root_dir_ensure(root, CERTS_DIR, 0755, uid, gid)) < 0 ||
	    (changed |= r, r = root_file_ensure(root, CERTS_DIR "/root-cert.pem", p->root_pem.p, p->root_pem.n, 0644,
	                                        uid, gid)) < 0 ||
	    (changed |= r, r = root_file_ensure(root, CERTS_DIR "/key.pem", p->key.p, p->key.n, 0600, uid, gid)) < 0)
		return r;
	changed |= r;
	/* the CSR: what an external signer (mode none) or a renewal needs */
	if ((r = root_file_ensure(root, CERTS_DIR "/csr.pem", p->csr.p, p->csr.n, 0644, uid, gid)) < 0)
		return r;
	changed |= r;
	if (p->chain.p) {
		if ((r = root_file_ensure(root, CERTS_DIR "/cert-chain.pem", p->chain.p, p->chain.n, 0644, uid, gid)) < 0)
			return r;
		changed |= r;
	} else if (p->chain_stale) {
		if ((r = root_rm_rf(root, CERTS_DIR "/cert-chain.pem")) < 0)
			return r;
		changed |= r;
	}
	/* last: a crash before it makes the next run rotate the key again */
	char dir[sizeof(p->key_record)], line[66];
	snprintf(dir, sizeof(dir), "%s", p->key_record);
	*strrchr(dir, '/') = '\0';
	snprintf(line, sizeof(line), "%s\n", p->key_fp);
	_cleanup_close_ int dfd = root_mkdir_p(root, dir, 0755);
	if (dfd < 0)
		return dfd;
	if ((r = root_file_ensure(root, p->key_record, line, strlen(line), 0644, 0, 0)) < 0)
		return r;
	return changed | r;
}

int certs_ensure(const struct config *c, const char *root, uid_t uid, gid_t gid, bool force, struct run_status *st)
{
	const char *instance_id = st->instance_id;
	if (!certs_needed(c)) {
		log_info("certificates: none needed (no sidecar, Citadel or istiod, no certs.root)");
		return 0;
	}
	struct certs_plan p = { 0 };
	char err[2048];
	int r = certs_prepare(c, root, instance_id, force, &p, err, sizeof(err));
	if (r < 0) {
		log_error("certificates: %s", err);
		goto out;
	}
	if (p.untimed)
		log_warn("certificates: the clock is before the root certificate's notBefore; validity periods are "
		         "not checked (certs.root.allow_not_yet_valid)");
	r = certs_install(root, &p, uid, gid);
	if (r < 0) {
		log_error("certificates: cannot write %s: %s", CERTS_DIR, strerror(-r));
		goto out;
	}
	char until[64] = "";
	if (p.chain.p)
		certs_validity_line(p.chain.p, p.chain.n, until, sizeof(until));
	if (p.key_foreign && p.key_new && !force)
		log_info("certificates: the key in %s/key.pem %s for instance %s in %s (a cloned disk, an image made "
		         "from a provisioned host, or a run killed before recording it): replaced", CERTS_DIR,
		         p.key_foreign, instance_id, p.key_record);
	if (p.ca_created)
		log_info("certificates: created the mesh CA (%s/ca-cert.pem, %s days)", CACERTS_DIR, "3650");
	if (!p.chain.p) {
		log_info("certificates: %s %s key and its CSR for %s in %s/csr.pem wait for an external signer "
		         "(certs.ca.mode none)", p.key_new ? "new" : "kept", key_type_name(c->certs.key_type), p.spiffe,
		         CERTS_DIR);
		status_note(st, "certificates: %s/csr.pem waits for an external signer (certs.ca.mode none)", CERTS_DIR);
		if (p.chain_stale)
			log_info("certificates: removed %s/cert-chain.pem: it was for the old key", CERTS_DIR);
		if (p.chain_warning[0]) {
			log_warn("certificates: %s/cert-chain.pem does not check out, left as it is: %s", CERTS_DIR,
			         p.chain_warning);
			status_note(st, "certificates: %s/cert-chain.pem does not check out: %s", CERTS_DIR, p.chain_warning);
		}
	} else {
		status_note(st, "certificate: %s, %s", p.spiffe, until);
		log_info("certificates: %s %s key; certificate for %s %s %s, %s; root from %s",
		         p.key_new ? "new" : "kept", key_type_name(c->certs.key_type), p.spiffe,
		         p.chain_kept ? "kept:" : "issued by", p.chain_kept ? "still valid" : p.issued_by, until,
		         p.root_from);
	}
out:
	plan_free(&p);
	return r;
}
