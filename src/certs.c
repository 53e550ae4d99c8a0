/* SPDX-License-Identifier: Apache-2.0 */
/* Certificate primitives on OpenSSL 3 (see certs.h). */
#include "certs.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "util.h"

#define BACKDATE_SECS 300
#define CHAIN_MAX_CERTS 8
#define CA_CN "meshboot mesh root CA"

/* ---- cleanup helpers ------------------------------------------------------ */

static inline void biop(BIO **p) { BIO_free(*p); }
static inline void x509p(X509 **p) { X509_free(*p); }
static inline void x509reqp(X509_REQ **p) { X509_REQ_free(*p); }
static inline void pkeyp(EVP_PKEY **p) { EVP_PKEY_free(*p); }
static inline void gensp(GENERAL_NAMES **p) { GENERAL_NAMES_free(*p); }
static inline void extsp(STACK_OF(X509_EXTENSION) **p) { sk_X509_EXTENSION_pop_free(*p, X509_EXTENSION_free); }
static inline void x509skp(STACK_OF(X509) **p) { sk_X509_pop_free(*p, X509_free); }
static inline void storep(X509_STORE **p) { X509_STORE_free(*p); }
static inline void storectxp(X509_STORE_CTX **p) { X509_STORE_CTX_free(*p); }
static inline void bnp(BIGNUM **p) { BN_free(*p); }
#define _cleanup_bio_ __attribute__((cleanup(biop)))
#define _cleanup_x509_ __attribute__((cleanup(x509p)))
#define _cleanup_x509req_ __attribute__((cleanup(x509reqp)))
#define _cleanup_pkey_ __attribute__((cleanup(pkeyp)))
#define _cleanup_gens_ __attribute__((cleanup(gensp)))
#define _cleanup_exts_ __attribute__((cleanup(extsp)))
#define _cleanup_x509sk_ __attribute__((cleanup(x509skp)))
#define _cleanup_store_ __attribute__((cleanup(storep)))
#define _cleanup_storectx_ __attribute__((cleanup(storectxp)))
#define _cleanup_bn_ __attribute__((cleanup(bnp)))

/* ---- small helpers ------------------------------------------------------- */

/* The last OpenSSL reason (never data), and the queue cleared. */
static const char *ossl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *s = e ? ERR_reason_error_string(e) : NULL;
	ERR_clear_error();
	return s ? s : "unknown OpenSSL error";
}

/* A fail with the OpenSSL reason appended. */
#define OSSL_FAIL(r, what) err_fmt(err, errlen, (r), "%s: %s", (what), ossl_reason())

static int check_len(const char *what, const char *pem, size_t len, char *err, size_t errlen)
{
	if (!pem || len == 0)
		return err_fmt(err, errlen, -EBADMSG, "%s: empty", what);
	if (len > CERTS_PEM_MAX)
		return err_fmt(err, errlen, -EFBIG, "%s: %zu bytes, more than the limit of %u", what, len,
		               CERTS_PEM_MAX);
	return 0;
}

/* Never prompt for a pass phrase: an encrypted key is an error. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

static int parse_cert(const char *what, const char *pem, size_t len, X509 **out, char *err, size_t errlen)
{
	int r = check_len(what, pem, len, err, errlen);
	if (r < 0)
		return r;
	_cleanup_bio_ BIO *b = BIO_new_mem_buf(pem, (int)len);
	if (!b)
		return err_fmt(err, errlen, -ENOMEM, "%s: out of memory", what);
	*out = PEM_read_bio_X509(b, NULL, no_passphrase, NULL);
	if (!*out)
		return OSSL_FAIL(-EBADMSG, what);
	return 0;
}

static int parse_key(const char *what, const char *pem, size_t len, EVP_PKEY **out, char *err, size_t errlen)
{
	int r = check_len(what, pem, len, err, errlen);
	if (r < 0)
		return r;
	_cleanup_bio_ BIO *b = BIO_new_mem_buf(pem, (int)len);
	if (!b)
		return err_fmt(err, errlen, -ENOMEM, "%s: out of memory", what);
	*out = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL);
	if (!*out)
		return OSSL_FAIL(-EBADMSG, what);
	return 0;
}

/* A memory BIO that wipes its buffer when freed (secure heap if any). */
static BIO *bio_new_out(bool secret)
{
	return BIO_new(secret ? BIO_s_secmem() : BIO_s_mem());
}

/* Copy the BIO's contents into a malloc'd NUL-terminated string. */
static int bio_take(BIO *b, char **out, size_t *out_len, char *err, size_t errlen)
{
	char *data = NULL;
	long n = BIO_get_mem_data(b, &data);
	if (n <= 0 || !data)
		return err_fmt(err, errlen, -EIO, "empty PEM output");
	char *s = malloc((size_t)n + 1);
	if (!s)
		return err_fmt(err, errlen, -ENOMEM, "out of memory");
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	*out = s;
	if (out_len)
		*out_len = (size_t)n;
	return 0;
}

static void fmt_time(time_t t, char buf[32])
{
	struct tm tm;
	if (!gmtime_r(&t, &tm) || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, 32, "@%lld", (long long)t);
}

static void fmt_asn1_time(const ASN1_TIME *a, char buf[32])
{
	struct tm tm;
	if (!a || ASN1_TIME_to_tm(a, &tm) != 1 || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, 32, "(unreadable)");
}

static bool is_ca(X509 *x)
{
	uint32_t f = X509_get_extension_flags(x);
	return !(f & EXFLAG_INVALID) && (f & EXFLAG_BCONS) && (f & EXFLAG_CA);
}

/* 16 random bytes, top bit clear and not all zero: a positive 128-bit serial. */
static int set_random_serial(X509 *x, char *err, size_t errlen)
{
	unsigned char buf[16];
	if (RAND_bytes(buf, sizeof(buf)) != 1)
		return OSSL_FAIL(-EIO, "random serial");
	buf[0] &= 0x7f;
	buf[0] |= 0x40; /* full length, never zero */
	_cleanup_bn_ BIGNUM *bn = BN_bin2bn(buf, sizeof(buf), NULL);
	if (!bn)
		return OSSL_FAIL(-ENOMEM, "serial");
	ASN1_INTEGER *sn = X509_get_serialNumber(x);
	if (!sn || !BN_to_ASN1_INTEGER(bn, sn))
		return OSSL_FAIL(-ENOMEM, "serial");
	return 0;
}

/* A fixed extension value (never user data) through the v3 config parser. */
static int add_ext(X509 *x, X509 *issuer, int nid, const char *value, char *err, size_t errlen)
{
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return err_fmt(err, errlen, -EBADMSG, "cannot make the %s extension: %s", OBJ_nid2sn(nid),
		               ossl_reason());
	int ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (ok != 1)
		return OSSL_FAIL(-ENOMEM, "adding an extension");
	return 0;
}

static int set_validity(X509 *x, time_t from, time_t to, char *err, size_t errlen)
{
	if (!ASN1_TIME_set(X509_getm_notBefore(x), from) || !ASN1_TIME_set(X509_getm_notAfter(x), to))
		return OSSL_FAIL(-EINVAL, "validity period");
	return 0;
}

static int write_key(EVP_PKEY *pkey, char **pem, size_t *len, char *err, size_t errlen)
{
	_cleanup_bio_ BIO *b = bio_new_out(true);
	if (!b)
		return err_fmt(err, errlen, -ENOMEM, "out of memory");
	if (PEM_write_bio_PrivateKey(b, pkey, NULL, NULL, 0, NULL, NULL) != 1)
		return OSSL_FAIL(-EIO, "writing the private key");
	return bio_take(b, pem, len, err, errlen);
}

/* ---- certs_root_check ---------------------------------------------------- */

static void sha256_hex(const unsigned char md[32], char fp[65])
{
	for (unsigned i = 0; i < 32; i++)
		snprintf(fp + 2 * i, 3, "%02x", md[i]);
	fp[64] = '\0';
}

int certs_root_check(const char *pem, size_t len, time_t now, char fp[65], char *err, size_t errlen)
{
	_cleanup_x509_ X509 *x = NULL;
	fp[0] = '\0';
	int r = parse_cert("root certificate", pem, len, &x, err, errlen);
	if (r < 0)
		return r;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	if (X509_digest(x, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32)
		return OSSL_FAIL(-EIO, "root certificate fingerprint");
	sha256_hex(md, fp);
	if (!is_ca(x))
		return err_fmt(err, errlen, -EBADMSG, "the root certificate is not a CA (no basicConstraints CA:TRUE)");

	char nb[32], na[32], clk[32];
	fmt_asn1_time(X509_get0_notBefore(x), nb);
	fmt_asn1_time(X509_get0_notAfter(x), na);
	fmt_time(now, clk);
	int c = X509_cmp_time(X509_get0_notBefore(x), &now);
	if (c == 0)
		return err_fmt(err, errlen, -EBADMSG, "the root certificate has an unreadable notBefore");
	if (c > 0)
		return err_fmt(err, errlen, -ETIME,
		               "the clock (%s) is before the root's notBefore (%s); set the time (NTP, RTC) or "
		               "check the root certificate",
		               clk, nb);
	c = X509_cmp_time(X509_get0_notAfter(x), &now);
	if (c == 0)
		return err_fmt(err, errlen, -EBADMSG, "the root certificate has an unreadable notAfter");
	if (c < 0)
		return err_fmt(err, errlen, -EKEYEXPIRED, "the root certificate expired at %s (the clock is %s)", na,
		               clk);

	return 0;
}

/* ---- certs_key_generate -------------------------------------------------- */

static EVP_PKEY *key_new(enum key_type t)
{
	switch (t) {
	case KEY_EC_P256:
		return EVP_EC_gen("P-256");
	case KEY_RSA_2048:
		return EVP_RSA_gen(2048);
	case KEY_RSA_3072:
		return EVP_RSA_gen(3072);
	}
	return NULL;
}

int certs_key_generate(enum key_type t, char **pem, size_t *len, char *err, size_t errlen)
{
	if (t != KEY_EC_P256 && t != KEY_RSA_2048 && t != KEY_RSA_3072)
		return err_fmt(err, errlen, -EINVAL, "unknown key type %d", (int)t);
	_cleanup_pkey_ EVP_PKEY *k = key_new(t);
	if (!k)
		return OSSL_FAIL(-EIO, "key generation");
	return write_key(k, pem, len, err, errlen);
}

/* ---- certs_csr_make ------------------------------------------------------ */

static bool dns_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '.' || *p == '*' || *p == '_'))
			return false;
	return true;
}

static bool uri_ok(const char *s)
{
	size_t n = strlen(s);
	if (!str_has_prefix(s, "spiffe://") || n <= strlen("spiffe://") || n > 2048)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return false;
	return true;
}

static int gens_push_ia5(GENERAL_NAMES *gens, int type, const char *s)
{
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
	if (!g || !ia5 || ASN1_STRING_set(ia5, s, (int)strlen(s)) != 1) {
		GENERAL_NAME_free(g);
		ASN1_IA5STRING_free(ia5);
		return -ENOMEM;
	}
	GENERAL_NAME_set0_value(g, type, ia5);
	if (sk_GENERAL_NAME_push(gens, g) <= 0) {
		GENERAL_NAME_free(g);
		return -ENOMEM;
	}
	return 0;
}

int certs_csr_make(const char *key_pem, size_t key_len, const char *spiffe_uri, char *const *dns, unsigned n_dns,
                   char *const *ips, unsigned n_ips, char **csr_pem, size_t *csr_len, char *err, size_t errlen)
{
	if (!spiffe_uri || !uri_ok(spiffe_uri))
		return err_fmt(err, errlen, -EINVAL, "the SPIFFE ID must be a spiffe:// URI of printable ASCII");
	if (n_dns > 64 || n_ips > 64)
		return err_fmt(err, errlen, -EINVAL, "too many subject alternative names");

	_cleanup_pkey_ EVP_PKEY *k = NULL;
	int r = parse_key("workload key", key_pem, key_len, &k, err, errlen);
	if (r < 0)
		return r;

	_cleanup_gens_ GENERAL_NAMES *gens = GENERAL_NAMES_new();
	if (!gens)
		return err_fmt(err, errlen, -ENOMEM, "out of memory");
	if (gens_push_ia5(gens, GEN_URI, spiffe_uri) < 0)
		return err_fmt(err, errlen, -ENOMEM, "out of memory");
	for (unsigned i = 0; i < n_dns; i++) {
		if (!dns[i] || !dns_name_ok(dns[i]))
			return err_fmt(err, errlen, -EINVAL, "DNS name %u is not a host name", i + 1);
		if (gens_push_ia5(gens, GEN_DNS, dns[i]) < 0)
			return err_fmt(err, errlen, -ENOMEM, "out of memory");
	}
	for (unsigned i = 0; i < n_ips; i++) {
		ASN1_OCTET_STRING *ip = ips[i] ? a2i_IPADDRESS(ips[i]) : NULL;
		if (!ip) {
			ERR_clear_error();
			return err_fmt(err, errlen, -EINVAL, "IP address %u is not an IPv4 or IPv6 address", i + 1);
		}
		GENERAL_NAME *g = GENERAL_NAME_new();
		if (!g) {
			ASN1_OCTET_STRING_free(ip);
			return err_fmt(err, errlen, -ENOMEM, "out of memory");
		}
		GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
		if (sk_GENERAL_NAME_push(gens, g) <= 0) {
			GENERAL_NAME_free(g);
			return err_fmt(err, errlen, -ENOMEM, "out of memory");
		}
	}

	_cleanup_x509req_ X509_REQ *req = X509_REQ_new();
	_cleanup_exts_ STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	if (!req || !exts)
		return err_fmt(err, errlen, -ENOMEM, "out of memory");
	if (X509_REQ_set_version(req, 0L) != 1 || X509_REQ_set_pubkey(req, k) != 1)
		return OSSL_FAIL(-EIO, "CSR");
	/* Empty subject: the SAN extension is critical (RFC 5280 4.2.1.6). */
	X509_EXTENSION *san = X509V3_EXT_i2d(NID_subject_alt_name, 1, gens);
	if (!san)
		return OSSL_FAIL(-ENOMEM, "CSR subjectAltName");
	if (sk_X509_EXTENSION_push(exts, san) <= 0) {
		X509_EXTENSION_free(san);
		return err_fmt(err, errlen, -ENOMEM, "out of memory");
	}
	if (X509_REQ_add_extensions(req, exts) != 1)
		return OSSL_FAIL(-ENOMEM, "CSR extensions");
	if (X509_REQ_sign(req, k, EVP_sha256()) <= 0)
		return OSSL_FAIL(-EIO, "signing the CSR");

	_cleanup_bio_ BIO *b = bio_new_out(false);
	if (!b)
		return err_fmt(err, errlen, -ENOMEM, "out of memory");
	if (PEM_write_bio_X509_REQ(b, req) != 1)
		return OSSL_FAIL(-EIO, "writing the CSR");
	return bio_take(b, csr_pem, csr_len, err, errlen);
}

/* ---- certs_sign ---------------------------------------------------------- */

/* The CSR's SANs, checked: URI/DNS/IP only, exactly one URI, a spiffe:// one. */
static int csr_sans(X509_REQ *req, GENERAL_NAMES **out, char *err, size_t errlen)
{
	_cleanup_exts_ STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	ERR_clear_error();
	if (!exts)
		return err_fmt(err, errlen, -EBADMSG, "the CSR has no extensions (no SPIFFE ID)");
	int crit = 0;
	GENERAL_NAMES *gens = X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL);
	if (!gens) {
		ERR_clear_error();
		return err_fmt(err, errlen, -EBADMSG, crit == -2 ? "the CSR has several subjectAltName extensions" :
		                                                   "the CSR has no (readable) subjectAltName");
	}
	unsigned n_uri = 0;
	bool spiffe = false;
	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		int type;
		const ASN1_STRING *v = GENERAL_NAME_get0_value(g, &type);
		if (type == GEN_URI) {
			n_uri++;
			int n = ASN1_STRING_length(v);
			const unsigned char *d = ASN1_STRING_get0_data(v);
			spiffe = n > 9 && memcmp(d, "spiffe://", 9) == 0 && !memchr(d, '\0', (size_t)n);
		} else if (type != GEN_DNS && type != GEN_IPADD) {
			GENERAL_NAMES_free(gens);
			return err_fmt(err, errlen, -EBADMSG, "the CSR asks for a name type other than URI, DNS, IP");
		}
	}
	if (n_uri != 1 || !spiffe) {
		GENERAL_NAMES_free(gens);
		return err_fmt(err, errlen, -EBADMSG, "the CSR must carry exactly one URI name, a spiffe:// one");
	}
	*out = gens;
	return 0;
}

/* The CA certificate (it must be a CA) and its key (they must match). */
static int ca_pair_load(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len, X509 **ca,
                        EVP_PKEY **k, char *err, size_t errlen)
{
	int r = parse_cert("CA certificate", cert_pem, cert_len, ca, err, errlen);
	if (r < 0)
		return r;
	if (!is_ca(*ca))
		return err_fmt(err, errlen, -EBADMSG, "the CA certificate is not a CA (no basicConstraints CA:TRUE)");
	r = parse_key("CA key", key_pem, key_len, k, err, errlen);
	if (r < 0)
		return r;
	if (X509_check_private_key(*ca, *k) != 1) {
		ERR_clear_error();
		return err_fmt(err, errlen, -EKEYREJECTED, "the CA key does not match the CA certificate");
	}
	return 0;
}

int certs_sign(const char *csr_pem, size_t csr_len, const char *ca_cert_pem, size_t ca_cert_len, const char *ca_key_pem,
               size_t ca_key_len, unsigned lifetime_hours, char **chain_pem, size_t *chain_len, char *err, size_t errlen)
{
	if (lifetime_hours == 0 || lifetime_hours > 24u * 366u * 10u)
		return err_fmt(err, errlen, -EINVAL, "leaf lifetime %u hours is out of range", lifetime_hours);

	int r = check_len("CSR", csr_pem, csr_len, err, errlen);
	if (r < 0)
		return r;
	_cleanup_x509req_ X509_REQ *req = NULL;
	{
		_cleanup_bio_ BIO *b = BIO_new_mem_buf(csr_pem, (int)csr_len);
		if (!b)
			return err_fmt(err, errlen, -ENOMEM, "out of memory");
		req = PEM_read_bio_X509_REQ(b, NULL, no_passphrase, NULL);
		if (!req)
			return OSSL_FAIL(-EBADMSG, "CSR");
	}
	EVP_PKEY *req_pub = X509_REQ_get0_pubkey(req);
	if (!req_pub)
		return OSSL_FAIL(-EBADMSG, "CSR public key");
	if (X509_REQ_verify(req, req_pub) != 1)
		return OSSL_FAIL(-EBADMSG, "the CSR's signature does not verify");
	_cleanup_gens_ GENERAL_NAMES *gens = NULL;
	r = csr_sans(req, &gens, err, errlen);
	if (r < 0)
		return r;

	_cleanup_x509_ X509 *ca = NULL;
	_cleanup_pkey_ EVP_PKEY *ca_key = NULL;
	r = ca_pair_load(ca_cert_pem, ca_cert_len, ca_key_pem, ca_key_len, &ca, &ca_key, err, errlen);
	if (r < 0)
		return r;

	time_t now = time(NULL);
	int c = X509_cmp_time(X509_get0_notAfter(ca), &now);
	if (c == 0)
		return err_fmt(err, errlen, -EBADMSG, "the CA certificate has an unreadable notAfter");
	if (c < 0) {
		char na[32];
		fmt_asn1_time(X509_get0_notAfter(ca), na);
		return err_fmt(err, errlen, -EKEYEXPIRED, "the CA certificate expired at %s", na);
	}

	_cleanup_x509_ X509 *x = X509_new();
	if (!x)
		return err_fmt(err, errlen, -ENOMEM, "out of memory");
	if (X509_set_version(x, 2L) != 1 || X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1 ||
	    X509_set_subject_name(x, X509_REQ_get_subject_name(req)) != 1 || X509_set_pubkey(x, req_pub) != 1)
		return OSSL_FAIL(-ENOMEM, "leaf certificate");
	r = set_random_serial(x, err, errlen);
	if (r < 0)
		return r;
	r = set_validity(x, now - BACKDATE_SECS, now + (time_t)lifetime_hours * 3600, err, errlen);
	if (r < 0)
		return r;
	if (X509_cmp_time(X509_get0_notAfter(ca), &(time_t){ now + (time_t)lifetime_hours * 3600 }) < 0 &&
	    X509_set1_notAfter(x, X509_get0_notAfter(ca)) != 1)
		return OSSL_FAIL(-ENOMEM, "leaf notAfter");

	if ((r = add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE", err, errlen)) < 0 ||
	    (r = add_ext(x, ca, NID_key_usage, "critical,digitalSignature,keyEncipherment", err, errlen)) < 0 ||
	    (r = add_ext(x, ca, NID_ext_key_usage, "serverAuth,clientAuth", err, errlen)) < 0 ||
	    (r = add_ext(x, ca, NID_subject_key_identifier, "hash", err, errlen)) < 0 ||
	    (r = add_ext(x, ca, NID_authority_key_identifier, "keyid:always", err, errlen)) < 0)
		return r;
	bool empty_subject = X509_NAME_entry_count(X509_REQ_get_subject_name(req)) == 0;
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, empty_subject ? 1 : 0, X509V3_ADD_DEFAULT) != 1)
		return OSSL_FAIL(-ENOMEM, "leaf subjectAltName");

	if (X509_sign(x, ca_key, EVP_sha256()) <= 0)
		return OSSL_FAIL(-EIO, "signing the leaf certificate");

	_cleanup_bio_ BIO *out = bio_new_out(false);
	if (!out)
		return err_fmt(err, errlen, -ENOMEM, "out of memory");
	if (PEM_write_bio_X509(out, x) != 1)
		return OSSL_FAIL(-EIO, "writing the leaf certificate");
	int ss = X509_self_signed(ca, 1);
	if (ss < 0)
		return OSSL_FAIL(-EBADMSG, "CA certificate");
	ERR_clear_error();
	if (ss == 0 && PEM_write_bio_X509(out, ca) != 1)
		return OSSL_FAIL(-EIO, "writing the CA certificate");
	return bio_take(out, chain_pem, chain_len, err, errlen);
}

/* ---- certs_ca_create ----------------------------------------------------- */

int certs_ca_create(const char *trust_domain, unsigned lifetime_days, char **cert_pem, size_t *cert_len, char **key_pem,
                    size_t *key_len, char *err, size_t errlen)
{
	if (!trust_domain || !*trust_domain || strlen(trust_domain) > 64)
		return err_fmt(err, errlen, -EINVAL, "the trust domain must be 1 to 64 characters");
	if (lifetime_days == 0 || lifetime_days > 36500)
		return err_fmt(err, errlen, -EINVAL, "CA lifetime %u days is out of range", lifetime_days);

	_cleanup_pkey_ EVP_PKEY *k = EVP_EC_gen("P-256");
	if (!k)
		return OSSL_FAIL(-EIO, "CA key generation");
	_cleanup_x509_ X509 *x = X509_new();
	if (!x)
		return err_fmt(err, errlen, -ENOMEM, "out of memory");
	X509_NAME *name = X509_get_subject_name(x);
	if (X509_set_version(x, 2L) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)trust_domain, -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)CA_CN, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, k) != 1)
		return OSSL_FAIL(-EINVAL, "CA certificate");
	int r = set_random_serial(x, err, errlen);
	if (r < 0)
		return r;
	time_t now = time(NULL);
	r = set_validity(x, now - BACKDATE_SECS, now + (time_t)lifetime_days * 86400, err, errlen);
	if (r < 0)
		return r;
	if ((r = add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE", err, errlen)) < 0 ||
	    (r = add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign", err, errlen)) < 0 ||
	    (r = add_ext(x, x, NID_subject_key_identifier, "hash", err, errlen)) < 0 ||
	    (r = add_ext(x, x, NID_authority_key_identifier, "keyid:always", err, errlen)) < 0)
		return r;
	if (X509_sign(x, k, EVP_sha256()) <= 0)
		return OSSL_FAIL(-EIO, "signing the CA certificate");

	_cleanup_bio_ BIO *b = bio_new_out(false);
	if (!b)
		return err_fmt(err, errlen, -ENOMEM, "out of memory");
	if (PEM_write_bio_X509(b, x) != 1)
		return OSSL_FAIL(-EIO, "writing the CA certificate");
	char *c = NULL, *kp = NULL;
	size_t cl = 0, kl = 0;
	r = bio_take(b, &c, &cl, err, errlen);
	if (r < 0)
		return r;
	r = write_key(k, &kp, &kl, err, errlen);
	if (r < 0) {
		free(c);
		return r;
	}
	*cert_pem = c;
	*key_pem = kp;
	if (cert_len)
		*cert_len = cl;
	if (key_len)
		*key_len = kl;
	return 0;
}

/* ---- certs_chain_check --------------------------------------------------- */

static int chain_check(const char *chain_pem, size_t chain_len, const char *root_pem, size_t root_len,
                       const char *key_pem, size_t key_len, const char *spiffe_uri, bool check_time, char *err,
                       size_t errlen)
{
	if (!spiffe_uri || !*spiffe_uri)
		return err_fmt(err, errlen, -EINVAL, "no SPIFFE ID to check");
	int r = check_len("certificate chain", chain_pem, chain_len, err, errlen);
	if (r < 0)
		return r;

	_cleanup_x509_ X509 *leaf = NULL;
	_cleanup_x509sk_ STACK_OF(X509) *untrusted = sk_X509_new_null();
	if (!untrusted)
		return err_fmt(err, errlen, -ENOMEM, "out of memory");
	{
		_cleanup_bio_ BIO *b = BIO_new_mem_buf(chain_pem, (int)chain_len);
		if (!b)
			return err_fmt(err, errlen, -ENOMEM, "out of memory");
		leaf = PEM_read_bio_X509(b, NULL, no_passphrase, NULL);
		if (!leaf)
			return OSSL_FAIL(-EBADMSG, "certificate chain: no leaf certificate");
		for (;;) {
			X509 *x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL);
			if (!x) {
				unsigned long e = ERR_peek_last_error();
				if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
					ERR_clear_error();
					break;
				}
				return OSSL_FAIL(-EBADMSG, "certificate chain: a certificate after the leaf");
			}
			if (sk_X509_num(untrusted) >= CHAIN_MAX_CERTS || sk_X509_push(untrusted, x) <= 0) {
				X509_free(x);
				return err_fmt(err, errlen, -EBADMSG, "certificate chain: more than %d certificates",
				               CHAIN_MAX_CERTS + 1);
			}
		}
	}

	_cleanup_x509_ X509 *root = NULL;
	r = parse_cert("root certificate", root_pem, root_len, &root, err, errlen);
	if (r < 0)
		return r;
	_cleanup_pkey_ EVP_PKEY *k = NULL;
	r = parse_key("workload key", key_pem, key_len, &k, err, errlen);
	if (r < 0)
		return r;

	/* 1. It verifies to the root, the only trust anchor. */
	_cleanup_store_ X509_STORE *store = X509_STORE_new();
	_cleanup_storectx_ X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	if (!store || !ctx)
		return err_fmt(err, errlen, -ENOMEM, "out of memory");
	if (X509_STORE_add_cert(store, root) != 1)
		return OSSL_FAIL(-ENOMEM, "trust store");
	if (X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN | (check_time ? 0 : X509_V_FLAG_NO_CHECK_TIME)) != 1)
		return OSSL_FAIL(-ENOMEM, "trust store");
	if (X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1)
		return OSSL_FAIL(-ENOMEM, "verify context");
	if (X509_verify_cert(ctx) != 1) {
		int e = X509_STORE_CTX_get_error(ctx);
		ERR_clear_error();
		return err_fmt(err, errlen, -EBADMSG, "the chain does not verify to the root: %s (depth %d)",
		               X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(ctx));
	}

	/* 2. The leaf is for our key. */
	EVP_PKEY *leaf_pub = X509_get0_pubkey(leaf);
	if (!leaf_pub || EVP_PKEY_eq(leaf_pub, k) != 1) {
		ERR_clear_error();
		return err_fmt(err, errlen, -EBADMSG, "the leaf certificate is not for the workload key");
	}

	/* 3. Exactly the expected SPIFFE ID. */
	int crit = 0;
	_cleanup_gens_ GENERAL_NAMES *gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, NULL);
	if (!gens) {
		ERR_clear_error();
		return err_fmt(err, errlen, -EBADMSG, "the leaf certificate has no (single, readable) subjectAltName");
	}
	size_t want = strlen(spiffe_uri);
	unsigned n_uri = 0;
	bool match = false;
	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		int type;
		const ASN1_STRING *v = GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(gens, i), &type);
		if (type != GEN_URI)
			continue;
		n_uri++;
		match = ASN1_STRING_length(v) >= 0 && (size_t)ASN1_STRING_length(v) == want &&
		        memcmp(ASN1_STRING_get0_data(v), spiffe_uri, want) == 0;
	}
	if (n_uri != 1 || !match)
		return err_fmt(err, errlen, -EBADMSG, "the leaf certificate's URI names are not exactly %s (%u found)",
		               spiffe_uri, n_uri);
	return 0;
}

int certs_chain_check(const char *chain_pem, size_t chain_len, const char *root_pem, size_t root_len, const char *key_pem,
                      size_t key_len, const char *spiffe_uri, char *err, size_t errlen)
{
	return chain_check(chain_pem, chain_len, root_pem, root_len, key_pem, key_len, spiffe_uri, true, err, errlen);
}

int certs_chain_check_untimed(const char *chain_pem, size_t chain_len, const char *root_pem, size_t root_len,
                              const char *key_pem, size_t key_len, const char *spiffe_uri, char *err, size_t errlen)
{
	return chain_check(chain_pem, chain_len, root_pem, root_len, key_pem, key_len, spiffe_uri, false, err, errlen);
}

/* ---- checks of what is already on disk ------------------------------------ */

static int key_is_type(EVP_PKEY *k, enum key_type t)
{
	switch (t) {
	case KEY_EC_P256: {
		char group[32] = "";
		size_t gl = 0;
		return EVP_PKEY_is_a(k, "EC") &&
		       EVP_PKEY_get_group_name(k, group, sizeof(group), &gl) == 1 && strcmp(group, "prime256v1") == 0;
	}
	case KEY_RSA_2048:
		return EVP_PKEY_is_a(k, "RSA") && EVP_PKEY_get_bits(k) == 2048;
	case KEY_RSA_3072:
		return EVP_PKEY_is_a(k, "RSA") && EVP_PKEY_get_bits(k) == 3072;
	}
	return 0;
}

int certs_key_check(const char *key_pem, size_t key_len, enum key_type t, char *err, size_t errlen)
{
	_cleanup_pkey_ EVP_PKEY *k = NULL;
	int r = parse_key("workload key", key_pem, key_len, &k, err, errlen);
	if (r < 0)
		return r;
	if (!key_is_type(k, t)) {
		ERR_clear_error();
		return err_fmt(err, errlen, -EKEYREJECTED, "the workload key is not %s", key_type_name(t));
	}
	return 0;
}

int certs_key_fingerprint(const char *key_pem, size_t key_len, char fp[65], char *err, size_t errlen)
{
	_cleanup_pkey_ EVP_PKEY *k = NULL;
	fp[0] = '\0';
	int r = parse_key("workload key", key_pem, key_len, &k, err, errlen);
	if (r < 0)
		return r;
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(k, &der);
	if (n <= 0) {
		ERR_clear_error();
		return err_fmt(err, errlen, -ENOMEM, "cannot encode the workload key's public key");
	}
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	int ok = EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32;
	OPENSSL_free(der);
	if (!ok)
		return OSSL_FAIL(-EIO, "workload key fingerprint");
	sha256_hex(md, fp);
	return 0;
}

int certs_leaf_check(const char *chain_pem, size_t chain_len, const char *key_pem, size_t key_len, time_t now,
                     time_t *not_after, char *err, size_t errlen)
{
	_cleanup_x509_ X509 *leaf = NULL;
	_cleanup_pkey_ EVP_PKEY *k = NULL;
	int r = parse_cert("certificate", chain_pem, chain_len, &leaf, err, errlen);
	if (r < 0)
		return r;
	r = parse_key("workload key", key_pem, key_len, &k, err, errlen);
	if (r < 0)
		return r;
	EVP_PKEY *pub = X509_get0_pubkey(leaf);
	if (!pub || EVP_PKEY_eq(pub, k) != 1) {
		ERR_clear_error();
		return err_fmt(err, errlen, -EBADMSG, "the certificate is not for the workload key");
	}
	struct tm tm;
	if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) != 1)
		return err_fmt(err, errlen, -EBADMSG, "the certificate has an unreadable notAfter");
	time_t na = timegm(&tm);
	if (not_after)
		*not_after = na;
	if (na <= now) {
		char buf[32];
		fmt_time(na, buf);
		return err_fmt(err, errlen, -EKEYEXPIRED, "the certificate expired at %s", buf);
	}
	return 0;
}

/* The DER of the CSR's signed part (subject, key, attributes): equal for
 * two CSRs that ask for the same thing with the same key. */
static int csr_tbs(const char *pem, size_t len, unsigned char **der, int *der_len)
{
	if (!pem || len == 0 || len > CERTS_PEM_MAX)
		return -EBADMSG;
	_cleanup_bio_ BIO *b = BIO_new_mem_buf(pem, (int)len);
	if (!b)
		return -ENOMEM;
	_cleanup_x509req_ X509_REQ *req = PEM_read_bio_X509_REQ(b, NULL, no_passphrase, NULL);
	if (!req) {
		ERR_clear_error();
		return -EBADMSG;
	}
	*der = NULL;
	*der_len = i2d_re_X509_REQ_tbs(req, der);
	if (*der_len <= 0) {
		ERR_clear_error();
		return -EBADMSG;
	}
	return 0;
}

int certs_csr_same(const char *a, size_t a_len, const char *b, size_t b_len)
{
	unsigned char *da = NULL, *db = NULL;
	int la = 0, lb = 0;
	int r = csr_tbs(a, a_len, &da, &la);
	if (r == 0)
		r = csr_tbs(b, b_len, &db, &lb);
	if (r == 0)
		r = la == lb && memcmp(da, db, (size_t)la) == 0;
	OPENSSL_free(da);
	OPENSSL_free(db);
	return r;
}

int certs_ca_pair_check(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len, time_t now,
                        char *err, size_t errlen)
{
	_cleanup_x509_ X509 *ca = NULL;
	_cleanup_pkey_ EVP_PKEY *k = NULL;
	int r = ca_pair_load(cert_pem, cert_len, key_pem, key_len, &ca, &k, err, errlen);
	if (r < 0)
		return r;
	int c = X509_cmp_time(X509_get0_notAfter(ca), &now);
	if (c <= 0) {
		char na[32];
		fmt_asn1_time(X509_get0_notAfter(ca), na);
		return err_fmt(err, errlen, -EKEYEXPIRED, "the CA certificate expired at %s", na);
	}
	return 0;
}

int certs_chain_normalize(const char *chain_pem, size_t chain_len, const char *root_pem, size_t root_len, char **out,
                          size_t *out_len, char *err, size_t errlen)
{
	int r = check_len("certificate chain", chain_pem, chain_len, err, errlen);
	if (r < 0)
		return r;
	_cleanup_x509_ X509 *root = NULL;
	r = parse_cert("root certificate", root_pem, root_len, &root, err, errlen);
	if (r < 0)
		return r;
	_cleanup_bio_ BIO *in = BIO_new_mem_buf(chain_pem, (int)chain_len);
	_cleanup_bio_ BIO *o = bio_new_out(false);
	if (!in || !o)
		return err_fmt(err, errlen, -ENOMEM, "out of memory");
	unsigned n = 0;
	for (;;) {
		_cleanup_x509_ X509 *x = PEM_read_bio_X509(in, NULL, no_passphrase, NULL);
		if (!x) {
			unsigned long e = ERR_peek_last_error();
			if (n > 0 && ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
				ERR_clear_error();
				break;
			}
			return OSSL_FAIL(-EBADMSG, "certificate chain");
		}
		if (++n > CHAIN_MAX_CERTS + 1)
			return err_fmt(err, errlen, -EBADMSG, "certificate chain: more than %d certificates",
			               CHAIN_MAX_CERTS + 1);
		if (n > 1 && X509_cmp(x, root) == 0)
			continue;
		if (PEM_write_bio_X509(o, x) != 1)
			return OSSL_FAIL(-EIO, "writing the chain");
	}
	return bio_take(o, out, out_len, err, errlen);
}

int certs_validity_line(const char *pem, size_t len, char *out, size_t outlen)
{
	_cleanup_x509_ X509 *x = NULL;
	char err[8];
	int r = parse_cert("certificate", pem, len, &x, err, sizeof(err));
	if (r < 0)
		return r;
	char na[32];
	fmt_asn1_time(X509_get0_notAfter(x), na);
	snprintf(out, outlen, "valid until %s", na);
	return 0;
}
