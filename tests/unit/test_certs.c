/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for src/certs.c: a local CA signing EC and RSA workload keys,
 * the results checked by certs_chain_check and by the real openssl CLI
 * (fork/execvp), a two-level chain, and hostile inputs (garbage, expired
 * and not-yet-valid roots, non-CA roots, mismatched keys, other SPIFFE IDs,
 * other roots). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs.h"
#include "util.h"

#define TD "cluster.local"
#define SPIFFE "spiffe://cluster.local/ns/default/sa/default"
#define SPIFFE_OTHER "spiffe://cluster.local/ns/default/sa/other"

struct ca {
	char *cert, *key;
	size_t cert_len, key_len;
};

static void ca_make(struct ca *ca)
{
	char err[256] = "";
	int r = certs_ca_create(TD, 3650, &ca->cert, &ca->cert_len, &ca->key, &ca->key_len, err, sizeof(err));
	if (r != 0)
		fail_msg("certs_ca_create: %d %s", r, err);
	assert_non_null(strstr(ca->cert, "-----BEGIN CERTIFICATE-----"));
	assert_true(str_has_prefix(ca->key, "-----BEGIN PRIVATE KEY-----"));
	assert_int_equal(strlen(ca->cert), ca->cert_len);
	assert_int_equal(strlen(ca->key), ca->key_len);
}

static void ca_free(struct ca *ca)
{
	free(ca->cert);
	if (ca->key)
		OPENSSL_cleanse(ca->key, ca->key_len);
	free(ca->key);
	memset(ca, 0, sizeof(*ca));
}

static void key_free(char *k, size_t n)
{
	if (k)
		OPENSSL_cleanse(k, n);
	free(k);
}

static char *key_make(enum key_type t, size_t *len)
{
	char err[256] = "", *k = NULL;
	int r = certs_key_generate(t, &k, len, err, sizeof(err));
	if (r != 0)
		fail_msg("certs_key_generate: %d %s", r, err);
	assert_true(str_has_prefix(k, "-----BEGIN PRIVATE KEY-----"));
	return k;
}

/* Key -> CSR -> leaf chain signed by ca (SPIFFE name uri). */
static char *issue(const struct ca *ca, const char *key, size_t key_len, const char *uri, size_t *chain_len)
{
	char err[256] = "", *csr = NULL, *chain = NULL;
	size_t csr_len = 0;
	char *dns[] = { "web.default.svc", "web" };
	char *ips[] = { "10.0.0.7", "fd00::7" };
	int r = certs_csr_make(key, key_len, uri, dns, 2, ips, 2, &csr, &csr_len, err, sizeof(err));
	if (r != 0)
		fail_msg("certs_csr_make: %d %s", r, err);
	assert_true(str_has_prefix(csr, "-----BEGIN CERTIFICATE REQUEST-----"));
	r = certs_sign(csr, csr_len, ca->cert, ca->cert_len, ca->key, ca->key_len, 24, &chain, chain_len, err,
	               sizeof(err));
	free(csr);
	if (r != 0)
		fail_msg("certs_sign: %d %s", r, err);
	return chain;
}

static unsigned count_certs(const char *pem)
{
	unsigned n = 0;
	for (const char *p = pem; (p = strstr(p, "-----BEGIN CERTIFICATE-----")); p++)
		n++;
	return n;
}

/* ---- the openssl CLI ---------------------------------------------------- */

static char tmpdir[64];

static char *tmp_write(const char *name, const char *data)
{
	static char path[4][128];
	static unsigned slot;
	char *p = path[slot++ % 4];
	snprintf(p, 128, "%s/%s", tmpdir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, strlen(data), f), strlen(data));
	assert_int_equal(fclose(f), 0);
	return p;
}

/* Run argv (stdout+stderr into out), return the exit status (-1: no exit). */
static int run(char *const argv[], char *out, size_t outlen)
{
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		close(pfd[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	size_t n = 0;
	ssize_t k;
	while ((k = read(pfd[0], out + n, outlen - 1 - n)) > 0 && n + (size_t)k < outlen - 1)
		n += (size_t)k;
	if (k > 0)
		n += (size_t)k;
	out[n] = '\0';
	char drain[512];
	while (read(pfd[0], drain, sizeof(drain)) > 0)
		;
	close(pfd[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void openssl_checks(const char *root, const char *chain, unsigned n_certs)
{
	static char out[65536];
	char *rootf = tmp_write("root.pem", root);
	char *chainf = tmp_write("chain.pem", chain);
	char *verify[] = { "openssl", "verify", "-CAfile", rootf, "-untrusted", chainf, chainf, NULL };
	char *verify1[] = { "openssl", "verify", "-CAfile", rootf, chainf, NULL };
	int st = run(n_certs == 1 ? verify1 : verify, out, sizeof(out));
	if (st != 0)
		fail_msg("openssl verify: %d: %s", st, out);
	assert_non_null(strstr(out, ": OK"));

	char *text[] = { "openssl", "x509", "-noout", "-text", "-in", chainf, NULL };
	st = run(text, out, sizeof(out));
	if (st != 0)
		fail_msg("openssl x509: %d: %s", st, out);
	assert_non_null(strstr(out, "URI:" SPIFFE));
	assert_non_null(strstr(out, "DNS:web.default.svc"));
	assert_non_null(strstr(out, "IP Address:10.0.0.7"));
	assert_non_null(strstr(out, "CA:FALSE"));
	assert_non_null(strstr(out, "TLS Web Server Authentication, TLS Web Client Authentication"));
	assert_non_null(strstr(out, "Digital Signature, Key Encipherment"));
	assert_non_null(strstr(out, "X509v3 Subject Key Identifier"));
	assert_non_null(strstr(out, "X509v3 Authority Key Identifier"));
	assert_non_null(strstr(out, "Signature Algorithm: ecdsa-with-SHA256")); /* the CA's P-256 key */
}

/* ---- success paths ------------------------------------------------------ */

static void local_ca_roundtrip(enum key_type t)
{
	struct ca ca = { 0 };
	ca_make(&ca);
	char fp[65] = "", err[256] = "";
	assert_int_equal(certs_root_check(ca.cert, ca.cert_len, time(NULL), fp, err, sizeof(err)), 0);
	assert_int_equal(strlen(fp), 64);
	assert_int_equal(strspn(fp, "0123456789abcdef"), 64);

	size_t key_len = 0, chain_len = 0;
	char *key = key_make(t, &key_len);
	char *chain = issue(&ca, key, key_len, SPIFFE, &chain_len);
	assert_int_equal(count_certs(chain), 1); /* the CA is self-signed */
	assert_int_equal(strlen(chain), chain_len);
	int r = certs_chain_check(chain, chain_len, ca.cert, ca.cert_len, key, key_len, SPIFFE, err, sizeof(err));
	if (r != 0)
		fail_msg("certs_chain_check: %d %s", r, err);
	openssl_checks(ca.cert, chain, 1);

	free(chain);
	key_free(key, key_len);
	ca_free(&ca);
}

static void test_ec(void **state)
{
	(void)state;
	local_ca_roundtrip(KEY_EC_P256);
}

static void test_rsa2048(void **state)
{
	(void)state;
	local_ca_roundtrip(KEY_RSA_2048);
}

static void test_ca_subject(void **state)
{
	(void)state;
	static char out[65536];
	struct ca ca = { 0 };
	ca_make(&ca);
	char *f = tmp_write("ca.pem", ca.cert);
	char *text[] = { "openssl", "x509", "-noout", "-text", "-nameopt", "RFC2253", "-in", f, NULL };
	assert_int_equal(run(text, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "Subject: CN=meshboot mesh root CA,O=cluster.local"));
	assert_non_null(strstr(out, "CA:TRUE"));
	assert_non_null(strstr(out, "Certificate Sign, CRL Sign"));
	assert_non_null(strstr(out, "ASN1 OID: prime256v1"));
	ca_free(&ca);
}

/* ---- building odd certificates with OpenSSL directly --------------------- */

static X509 *pem_cert(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	assert_non_null(b);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_non_null(x);
	return x;
}

static EVP_PKEY *pem_key(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	assert_non_null(b);
	EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_non_null(k);
	return k;
}

static char *cert_pem(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	assert_non_null(b);
	assert_int_equal(PEM_write_bio_X509(b, x), 1);
	char *data = NULL;
	long n = BIO_get_mem_data(b, &data);
	char *s = strndup(data, (size_t)n);
	BIO_free(b);
	assert_non_null(s);
	return s;
}

/* ca's certificate with a new validity period (days from now), re-signed. */
static char *resign_validity(const struct ca *ca, long from_days, long to_days)
{
	X509 *x = pem_cert(ca->cert);
	EVP_PKEY *k = pem_key(ca->key);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), from_days * 86400));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), to_days * 86400));
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	char *s = cert_pem(x);
	X509_free(x);
	EVP_PKEY_free(k);
	return s;
}

/* inter's certificate re-issued by root: subject CN=intermediate, issuer
 * root's subject, AKI root's SKI, signed by root's key. */
static char *make_intermediate(const struct ca *root, const struct ca *inter)
{
	X509 *r = pem_cert(root->cert), *x = pem_cert(inter->cert);
	EVP_PKEY *rk = pem_key(root->key);
	X509_NAME *n = X509_NAME_new();
	assert_int_equal(X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)TD, -1, -1, 0), 1);
	assert_int_equal(
	        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"intermediate", -1, -1, 0),
	        1);
	assert_int_equal(X509_set_subject_name(x, n), 1);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(r)), 1);
	X509_NAME_free(n);
	int i = X509_get_ext_by_NID(x, NID_authority_key_identifier, -1);
	assert_true(i >= 0);
	X509_EXTENSION_free(X509_delete_ext(x, i));
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, r, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
	assert_true(X509_sign(x, rk, EVP_sha256()) > 0);
	char *s = cert_pem(x);
	X509_free(x);
	X509_free(r);
	EVP_PKEY_free(rk);
	return s;
}

static void test_two_level(void **state)
{
	(void)state;
	struct ca root = { 0 }, inter = { 0 };
	ca_make(&root);
	ca_make(&inter);
	char *icert = make_intermediate(&root, &inter);
	free(inter.cert);
	inter.cert = icert;
	inter.cert_len = strlen(icert);

	char fp[65], err[256] = "";
	assert_int_equal(certs_root_check(inter.cert, inter.cert_len, time(NULL), fp, err, sizeof(err)), 0);

	size_t key_len = 0, chain_len = 0;
	char *key = key_make(KEY_EC_P256, &key_len);
	char *chain = issue(&inter, key, key_len, SPIFFE, &chain_len);
	assert_int_equal(count_certs(chain), 2); /* leaf, then the intermediate */
	assert_non_null(strstr(chain, icert));
	assert_true(strstr(chain, icert) > chain);
	int r = certs_chain_check(chain, chain_len, root.cert, root.cert_len, key, key_len, SPIFFE, err, sizeof(err));
	if (r != 0)
		fail_msg("certs_chain_check: %d %s", r, err);
	openssl_checks(root.cert, chain, 2);

	/* The leaf alone does not reach the root. */
	char *end = strstr(chain, "-----END CERTIFICATE-----");
	assert_non_null(end);
	end[strlen("-----END CERTIFICATE-----")] = '\0';
	r = certs_chain_check(chain, strlen(chain), root.cert, root.cert_len, key, key_len, SPIFFE, err, sizeof(err));
	assert_int_equal(r, -EBADMSG);
	assert_non_null(strstr(err, "does not verify"));
	/* ... but it does when the intermediate is the trust anchor. */
	r = certs_chain_check(chain, strlen(chain), inter.cert, inter.cert_len, key, key_len, SPIFFE, err, sizeof(err));
	assert_int_equal(r, 0);

	free(chain);
	key_free(key, key_len);
	ca_free(&root);
	ca_free(&inter);
}

/* ---- hostile inputs ----------------------------------------------------- */

static void test_garbage(void **state)
{
	(void)state;
	char fp[65], err[256] = "", *out = NULL;
	size_t n = 0;
	const char *g = "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n";
	assert_int_equal(certs_root_check(g, strlen(g), time(NULL), fp, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "root certificate"));
	assert_int_equal(certs_root_check("hello", 5, time(NULL), fp, err, sizeof(err)), -EBADMSG);
	assert_int_equal(certs_root_check("", 0, time(NULL), fp, err, sizeof(err)), -EBADMSG);

	char *big = malloc(CERTS_PEM_MAX + 2);
	assert_non_null(big);
	memset(big, 'A', CERTS_PEM_MAX + 1);
	big[CERTS_PEM_MAX + 1] = '\0';
	assert_int_equal(certs_root_check(big, CERTS_PEM_MAX + 1, time(NULL), fp, err, sizeof(err)), -EFBIG);
	free(big);

	struct ca ca = { 0 };
	ca_make(&ca);
	assert_int_equal(certs_sign(g, strlen(g), ca.cert, ca.cert_len, ca.key, ca.key_len, 24, &out, &n, err,
	                            sizeof(err)),
	                 -EBADMSG);
	assert_null(out);
	assert_int_equal(certs_sign(ca.cert, ca.cert_len, g, strlen(g), ca.key, ca.key_len, 24, &out, &n, err,
	                            sizeof(err)),
	                 -EBADMSG);
	assert_int_equal(certs_csr_make("junk", 4, SPIFFE, NULL, 0, NULL, 0, &out, &n, err, sizeof(err)), -EBADMSG);
	assert_int_equal(certs_chain_check(g, strlen(g), ca.cert, ca.cert_len, ca.key, ca.key_len, SPIFFE, err,
	                                   sizeof(err)),
	                 -EBADMSG);

	/* Bad names for the CSR. */
	size_t key_len = 0;
	char *key = key_make(KEY_EC_P256, &key_len);
	char *bad_ip[] = { "10.0.0.300" };
	char *bad_dns[] = { "a,b=c" };
	assert_int_equal(certs_csr_make(key, key_len, SPIFFE, NULL, 0, bad_ip, 1, &out, &n, err, sizeof(err)), -EINVAL);
	assert_int_equal(certs_csr_make(key, key_len, SPIFFE, bad_dns, 1, NULL, 0, &out, &n, err, sizeof(err)),
	                 -EINVAL);
	assert_int_equal(certs_csr_make(key, key_len, "https://x/y", NULL, 0, NULL, 0, &out, &n, err, sizeof(err)),
	                 -EINVAL);
	assert_null(out);
	key_free(key, key_len);
	ca_free(&ca);
}

static void test_root_validity(void **state)
{
	(void)state;
	struct ca ca = { 0 };
	ca_make(&ca);
	char fp[65], err[256] = "";
	time_t now = time(NULL);
	/* The clock before notBefore: said clearly. */
	assert_int_equal(certs_root_check(ca.cert, ca.cert_len, now - 86400, fp, err, sizeof(err)), -ETIME);
	assert_non_null(strstr(err, "is before the root's notBefore"));
	assert_non_null(strstr(err, "set the time"));
	/* Past notAfter. */
	assert_int_equal(certs_root_check(ca.cert, ca.cert_len, now + 3651L * 86400, fp, err, sizeof(err)),
	                 -EKEYEXPIRED);
	assert_non_null(strstr(err, "expired"));

	/* A root that really expired yesterday. */
	char *expired = resign_validity(&ca, -2, -1);
	assert_int_equal(certs_root_check(expired, strlen(expired), now, fp, err, sizeof(err)), -EKEYEXPIRED);
	/* ... cannot sign either. */
	size_t key_len = 0, n = 0, csr_len = 0;
	char *key = key_make(KEY_EC_P256, &key_len), *csr = NULL, *out = NULL;
	assert_int_equal(certs_csr_make(key, key_len, SPIFFE, NULL, 0, NULL, 0, &csr, &csr_len, err, sizeof(err)), 0);
	assert_int_equal(certs_sign(csr, csr_len, expired, strlen(expired), ca.key, ca.key_len, 24, &out, &n, err,
	                            sizeof(err)),
	                 -EKEYEXPIRED);
	/* A root valid only from tomorrow. */
	char *future = resign_validity(&ca, 1, 30);
	assert_int_equal(certs_root_check(future, strlen(future), now, fp, err, sizeof(err)), -ETIME);

	free(csr);
	free(expired);
	free(future);
	key_free(key, key_len);
	ca_free(&ca);
}

static void test_not_a_ca(void **state)
{
	(void)state;
	struct ca ca = { 0 };
	ca_make(&ca);
	size_t key_len = 0, chain_len = 0, csr_len = 0, n = 0;
	char *key = key_make(KEY_EC_P256, &key_len);
	char *leaf = issue(&ca, key, key_len, SPIFFE, &chain_len);
	char fp[65], err[256] = "", *csr = NULL, *out = NULL;
	assert_int_equal(certs_root_check(leaf, chain_len, time(NULL), fp, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "not a CA"));
	/* A leaf cannot act as the signing CA. */
	assert_int_equal(certs_csr_make(key, key_len, SPIFFE, NULL, 0, NULL, 0, &csr, &csr_len, err, sizeof(err)), 0);
	assert_int_equal(certs_sign(csr, csr_len, leaf, chain_len, key, key_len, 24, &out, &n, err, sizeof(err)),
	                 -EBADMSG);
	assert_non_null(strstr(err, "not a CA"));
	assert_null(out);
	free(csr);
	free(leaf);
	key_free(key, key_len);
	ca_free(&ca);
}

static void test_ca_key_mismatch(void **state)
{
	(void)state;
	struct ca a = { 0 }, b = { 0 };
	ca_make(&a);
	ca_make(&b);
	size_t key_len = 0, csr_len = 0, n = 0;
	char *key = key_make(KEY_EC_P256, &key_len), *csr = NULL, *out = NULL, err[256] = "";
	assert_int_equal(certs_csr_make(key, key_len, SPIFFE, NULL, 0, NULL, 0, &csr, &csr_len, err, sizeof(err)), 0);
	assert_int_equal(certs_sign(csr, csr_len, a.cert, a.cert_len, b.key, b.key_len, 24, &out, &n, err,
	                            sizeof(err)),
	                 -EKEYREJECTED);
	assert_non_null(strstr(err, "the CA key does not match the CA certificate"));
	assert_null(strstr(err, "PRIVATE"));
	assert_null(out);
	free(csr);
	key_free(key, key_len);
	ca_free(&a);
	ca_free(&b);
}

static void test_chain_mismatches(void **state)
{
	(void)state;
	struct ca ca = { 0 }, other = { 0 };
	ca_make(&ca);
	ca_make(&other);
	size_t key_len = 0, key2_len = 0, chain_len = 0, chain2_len = 0;
	char *key = key_make(KEY_EC_P256, &key_len), *key2 = key_make(KEY_RSA_2048, &key2_len), err[256] = "";
	char *chain = issue(&ca, key, key_len, SPIFFE, &chain_len);

	/* Another key. */
	assert_int_equal(certs_chain_check(chain, chain_len, ca.cert, ca.cert_len, key2, key2_len, SPIFFE, err,
	                                   sizeof(err)),
	                 -EBADMSG);
	assert_non_null(strstr(err, "not for the workload key"));
	assert_null(strstr(err, "PRIVATE"));
	/* Another SPIFFE ID expected ... */
	assert_int_equal(certs_chain_check(chain, chain_len, ca.cert, ca.cert_len, key, key_len, SPIFFE_OTHER, err,
	                                   sizeof(err)),
	                 -EBADMSG);
	assert_non_null(strstr(err, "URI names"));
	/* ... a prefix of it ... */
	assert_int_equal(certs_chain_check(chain, chain_len, ca.cert, ca.cert_len, key, key_len,
	                                   "spiffe://cluster.local/ns/default/sa/def", err, sizeof(err)),
	                 -EBADMSG);
	/* ... or a chain issued for another one. */
	char *chain2 = issue(&ca, key, key_len, SPIFFE_OTHER, &chain2_len);
	assert_int_equal(certs_chain_check(chain2, chain2_len, ca.cert, ca.cert_len, key, key_len, SPIFFE, err,
	                                   sizeof(err)),
	                 -EBADMSG);
	assert_non_null(strstr(err, "URI names"));
	/* Another root. */
	assert_int_equal(certs_chain_check(chain, chain_len, other.cert, other.cert_len, key, key_len, SPIFFE, err,
	                                   sizeof(err)),
	                 -EBADMSG);
	assert_non_null(strstr(err, "does not verify to the root"));
	/* The right things still pass. */
	assert_int_equal(certs_chain_check(chain, chain_len, ca.cert, ca.cert_len, key, key_len, SPIFFE, err,
	                                   sizeof(err)),
	                 0);

	free(chain);
	free(chain2);
	key_free(key, key_len);
	key_free(key2, key2_len);
	ca_free(&ca);
	ca_free(&other);
}

static void test_rsa3072_key(void **state)
{
	(void)state;
	size_t len = 0;
	char *k = key_make(KEY_RSA_3072, &len);
	EVP_PKEY *p = pem_key(k);
	assert_int_equal(EVP_PKEY_get_bits(p), 3072);
	EVP_PKEY_free(p);
	key_free(k, len);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_certs.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return root_rm_rf("/", tmpdir) < 0 ? -1 : 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ec),
		cmocka_unit_test(test_rsa2048),
		cmocka_unit_test(test_ca_subject),
		cmocka_unit_test(test_two_level),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_root_validity),
		cmocka_unit_test(test_not_a_ca),
		cmocka_unit_test(test_ca_key_mismatch),
		cmocka_unit_test(test_chain_mismatches),
		cmocka_unit_test(test_rsa3072_key),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
