/* SPDX-License-Identifier: Apache-2.0 */
/* Certificate primitives on OpenSSL 3 (libcrypto only): root checks, the
 * workload key, its CSR, a local CA signing a leaf, a self-signed mesh root
 * and the check of a chain before it is installed.  No logging: every
 * function returns 0 or a negative errno and explains itself in err (never
 * with secret material).  PEM inputs are bounded by CERTS_PEM_MAX.  Output
 * buffers are malloc'd and NUL-terminated (the length excludes the NUL);
 * private key buffers must be wiped with OPENSSL_cleanse before free. */
#pragma once

#include <stddef.h>
#include <time.h>

#include "config.h"

#define CERTS_PEM_MAX (64u * 1024u)

/* Parse and check a root certificate (PEM): a CA (basicConstraints CA:TRUE),
 * within its validity period at now.  fp gets the SHA-256 fingerprint of the
 * DER (lower-case hex).  0 / -EBADMSG (garbage, not a CA) / -EKEYEXPIRED /
 * -ETIME (not yet valid: the clock is probably wrong) / -EFBIG.  fp is filled
 * (else empty) as soon as the PEM parses, also when a later check fails. */
int certs_root_check(const char *pem, size_t len, time_t now, char fp[65], char *err, size_t errlen);

/* Generate the workload key: EC P-256 or RSA 2048/3072, PEM (PKCS#8,
 * unencrypted) into *pem; the caller wipes (OPENSSL_cleanse) and frees it. */
int certs_key_generate(enum key_type t, char **pem, size_t *len, char *err, size_t errlen);

/* A CSR signed with key_pem (SHA-256): empty subject, one (critical)
 * subjectAltName extension with URI:spiffe_uri (must start "spiffe://"),
 * then the DNS and IP (v4 or v6 text) names.  -EINVAL for a bad name. */
int certs_csr_make(const char *key_pem, size_t key_len, const char *spiffe_uri, char *const *dns, unsigned n_dns,
                   char *const *ips, unsigned n_ips, char **csr_pem, size_t *csr_len, char *err, size_t errlen);

/* Sign a CSR (its self-signature is verified) with a CA (cert + key PEM):
 * leaf profile: basicConstraints critical CA:FALSE, keyUsage critical
 * digitalSignature + keyEncipherment, extendedKeyUsage serverAuth +
 * clientAuth, the CSR's subject and SANs (URI/DNS/IP only; exactly one URI,
 * a spiffe:// one), subjectKeyIdentifier, authorityKeyIdentifier, a random
 * positive 128-bit serial, SHA-256.  Valid from now - 5 min to now +
 * lifetime_hours (never past the CA's notAfter); other CSR extensions are
 * ignored.  The CA certificate must be a CA (-EBADMSG) with a matching key
 * (else -EKEYREJECTED), not expired (-EKEYEXPIRED).  Returns the leaf PEM,
 * followed by the CA cert PEM when the CA is not self-signed. */
int certs_sign(const char *csr_pem, size_t csr_len, const char *ca_cert_pem, size_t ca_cert_len, const char *ca_key_pem,
               size_t ca_key_len, unsigned lifetime_hours, char **chain_pem, size_t *chain_len, char *err, size_t errlen);

/* A self-signed mesh root CA with a new EC P-256 key: subject
 * O=<trust_domain>, CN=meshboot mesh root CA, basicConstraints critical
 * CA:TRUE, keyUsage critical keyCertSign + cRLSign, SKI, AKI, valid from
 * now - 5 min for lifetime_days.  The key PEM (PKCS#8) is a secret: wipe it. */
int certs_ca_create(const char *trust_domain, unsigned lifetime_days, char **cert_pem, size_t *cert_len, char **key_pem,
                    size_t *key_len, char *err, size_t errlen);

/* Check a chain (leaf first, then intermediates) before installing it: it
 * verifies (X509_verify_cert, now) with only root_pem trusted (also when the
 * root is not self-signed), the leaf's public key is key_pem's, and the leaf
 * carries exactly one URI SAN, equal to spiffe_uri.  0 or -EBADMSG (-EFBIG)
 * with err saying which check failed. */
int certs_chain_check(const char *chain_pem, size_t chain_len, const char *root_pem, size_t root_len, const char *key_pem,
                      size_t key_len, const char *spiffe_uri, char *err, size_t errlen);

/* The same check at no particular time (validity periods ignored): for a
 * host whose clock is known to be behind (certs.root.allow_not_yet_valid). */
int certs_chain_check_untimed(const char *chain_pem, size_t chain_len, const char *root_pem, size_t root_len,
                              const char *key_pem, size_t key_len, const char *spiffe_uri, char *err, size_t errlen);

/* The key parses and is of type t (else -EKEYREJECTED): a kept key must
 * still be what the configuration asks for. */
int certs_key_check(const char *key_pem, size_t key_len, enum key_type t, char *err, size_t errlen);

/* fp gets the SHA-256 of key_pem's public key (DER SubjectPublicKeyInfo),
 * lower-case hex: names a key without revealing it. */
int certs_key_fingerprint(const char *key_pem, size_t key_len, char fp[65], char *err, size_t errlen);

/* The first certificate of chain_pem is for key_pem (-EBADMSG) and not
 * expired at now (-EKEYEXPIRED); *not_after (may be NULL) gets its end. */
int certs_leaf_check(const char *chain_pem, size_t chain_len, const char *key_pem, size_t key_len, time_t now,
                     time_t *not_after, char *err, size_t errlen);

/* 1 when two CSRs ask for the same (subject, public key, extensions: their
 * signed parts are equal), 0 when not, -EBADMSG when one does not parse. */
int certs_csr_same(const char *a, size_t a_len, const char *b, size_t b_len);

/* A CA certificate and its key: a CA, the key matches (-EKEYREJECTED), not
 * expired at now (-EKEYEXPIRED). */
int certs_ca_pair_check(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len, time_t now,
                        char *err, size_t errlen);

/* The chain as certificate files hold it: every certificate re-encoded as
 * PEM (nothing between them), leaf first, any copy of the root after the
 * leaf dropped (istiod sends the root last). */
int certs_chain_normalize(const char *chain_pem, size_t chain_len, const char *root_pem, size_t root_len, char **out,
                          size_t *out_len, char *err, size_t errlen);

/* "valid until <notAfter>" of the first certificate, for log lines. */
int certs_validity_line(const char *pem, size_t len, char *out, size_t outlen);
