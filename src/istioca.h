/* SPDX-License-Identifier: Apache-2.0 */
/* The Istio CA protocol as istio-agent speaks it: the gRPC unary call
 * istio.v1.auth.IstioCertificateService/CreateCertificate over HTTP/2 + TLS
 * (libcurl), messages encoded by hand.  Library code: never logs; errors in
 * err never contain the token. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define ISTIOCA_PATH "/istio.v1.auth.IstioCertificateService/CreateCertificate"
#define ISTIOCA_CSR_MAX (64u * 1024u)       /* request: the CSR's PEM */
#define ISTIOCA_TOKEN_MAX (16u * 1024u)     /* request: the bearer token */
#define ISTIOCA_BODY_MAX (1024u * 1024u)    /* response body as received */
#define ISTIOCA_CHAIN_MAX (64u * 1024u)     /* the decoded chain (= CERTS_PEM_MAX) */
#define ISTIOCA_CHAIN_ENTRIES 16

struct istioca_req {
	const char *address;          /* host:port ([v6]:port allowed) */
	const char *root_pem;         /* the pinned mesh root: the only trust anchor for the server */
	size_t root_len;
	const char *token;            /* bearer token (secret), NULL for none */
	const char *csr_pem;
	size_t csr_len;
	int64_t validity_sec;         /* IstioCertificateRequest.validity_duration (>= 0; 0: the CA's default) */
	const struct fetch_opts *fo;  /* retries, backoff_base_ms/backoff_max_ms, connect_timeout_sec,
	                                 first_byte_timeout_sec, low_speed_limit/low_speed_time_sec,
	                                 deadline_sec (config.h); ca_bundle is not used */
};

/* Send the CSR and return the certificate chain: the PEM strings of
 * IstioCertificateResponse.cert_chain concatenated in order (each ending in
 * a newline), malloc'd and NUL-terminated (*chain_len excludes the NUL).
 *
 * The request: POST https://<address>/istio.v1.auth.IstioCertificateService/
 * CreateCertificate over HTTP/2 (ALPN; an HTTP/1 answer is refused), TLS 1.2+
 * verified (peer and host name) against root_pem alone (no system store),
 * no redirects, content-type application/grpc, te: trailers,
 * grpc-accept-encoding: identity, grpc-timeout from the deadline left, and
 * authorization: Bearer <token> when there is a token.
 *
 * Retries: up to fo->retries more attempts, each after a capped exponential
 * backoff with full jitter (uniform in [0, min(backoff_max_ms,
 * backoff_base_ms * 2^(n-1))), as fetch.c), all within fo->deadline_sec
 * (0: no overall deadline); an attempt also ends when no answer arrives
 * within connect_timeout_sec + first_byte_timeout_sec, or below
 * low_speed_limit for low_speed_time_sec.  Proxies: as libcurl takes them
 * from the environment (https_proxy, no_proxy); TLS stays end to end.
 * Retried: connection failures (refused, unreachable, timed out, reset, broken
 * HTTP/2 stream), HTTP 408/429/5xx, and the gRPC statuses istio-agent
 * retries (CANCELLED, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED,
 * INTERNAL, UNAVAILABLE).  Never retried: UNAUTHENTICATED,
 * PERMISSION_DENIED, INVALID_ARGUMENT and every other gRPC status, TLS
 * verification failures, protocol violations, a bad response message.
 *
 * Returns 0, or
 *   -EINVAL       a bad request (address, token characters, CSR, validity, root)
 *   -EACCES       UNAUTHENTICATED / PERMISSION_DENIED (or HTTP 401/403)
 *   -EPROTO       not gRPC / not HTTP/2 / malformed answer (frame, no grpc-status,
 *                 content-type, HTTP status other than 200, body over 1 MiB)
 *   -EBADMSG      the response message is bad (see istioca_response_decode)
 *   -ECONNREFUSED / -ETIMEDOUT / -EHOSTUNREACH / -ECONNRESET
 *                 transport, after the retries (-ETIMEDOUT also: deadline)
 *   -EKEYREJECTED the server's certificate does not verify to root_pem (or
 *                 is not for the address)
 *   -EIO          any other gRPC status (also retried ones, after the retries),
 *                 HTTP 5xx after the retries, other libcurl failures
 *   -ENOMEM
 * err names the address and then the gRPC status name and number and
 * grpc-message (percent-decoded, non-ASCII and control characters replaced,
 * the token masked should the server echo it, bounded), or the HTTP status,
 * or the libcurl error; " (N attempts)" when there were several. */
int istioca_sign(const struct istioca_req *q, char **chain_pem, size_t *chain_len, char *err, size_t errlen);

/* Pure parts, exposed for tests and the fuzzer: */

/* gRPC frame (flag 0, 4-byte big-endian length) around the protobuf
 * IstioCertificateRequest { string csr = 1; int64 validity_duration = 3; }
 * exactly as protoc's encoder writes it: field 1 (tag 0x0a, varint length,
 * the bytes), then field 3 (tag 0x18, varint; a negative value takes 10
 * bytes) unless validity_sec is 0.  malloc'd into *out.  0, -EINVAL (no
 * CSR), -EFBIG (CSR over ISTIOCA_CSR_MAX), -ENOMEM. */
int istioca_request_encode(const char *csr, size_t csr_len, int64_t validity_sec, uint8_t **out, size_t *out_len);

/* Parse a whole gRPC response body: exactly one uncompressed frame
 * (compressed flag set, other flag bits, no/truncated frame, trailing bytes,
 * a second frame -> -EPROTO) holding IstioCertificateResponse { repeated
 * string cert_chain = 1; }: unknown fields of wire types 0, 1, 2 and 5 are
 * skipped; groups (3, 4), wire types 6/7, field number 0, field 1 with
 * another wire type, truncated or overlong varints and lengths past the end
 * -> -EBADMSG.  cert_chain entries must be non-empty printable ASCII text
 * (plus tab, CR, LF), at most ISTIOCA_CHAIN_ENTRIES of them and
 * ISTIOCA_CHAIN_MAX bytes of output in all; zero entries -> -EBADMSG.  On
 * success *chain_pem is the entries concatenated in order, a newline added
 * after any entry that lacks one (malloc'd, NUL-terminated); on failure it
 * is NULL and *chain_len 0.  Also -ENOMEM. */
int istioca_response_decode(const uint8_t *body, size_t len, char **chain_pem, size_t *chain_len, char *err,
                            size_t errlen);
