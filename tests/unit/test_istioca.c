/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for src/istioca.c: the request's bytes against what protoc's
 * encoder writes (golden), varint edge cases, the response decoder on valid
 * chains and hostile bodies (unknown fields of every wire type, groups,
 * truncation, framing errors, compression, caps), and istioca_sign's own
 * checks (bad requests, a refused connection with retries) without a
 * server. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "istioca.h"
#include "util.h"

#define LEAF "-----BEGIN CERTIFICATE-----\nMIIBleaf\n-----END CERTIFICATE-----\n"
#define INTER "-----BEGIN CERTIFICATE-----\nMIIBinter\n-----END CERTIFICATE-----\n"
#define ROOT "-----BEGIN CERTIFICATE-----\nMIIBroot\n-----END CERTIFICATE-----\n"

/* ---- building bodies ---- */

struct buf {
	uint8_t b[200000];
	size_t n;
};

static void put(struct buf *b, const void *p, size_t n)
{
	assert_true(b->n + n <= sizeof(b->b));
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void put_bytes(struct buf *b, size_t n, ...)
{
	va_list ap;
	va_start(ap, n);
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)va_arg(ap, int);
		put(b, &c, 1);
	}
	va_end(ap);
}

static void put_varint(struct buf *b, uint64_t v)
{
	do {
		uint8_t c = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			c |= 0x80;
		put(b, &c, 1);
	} while (v);
}

/* field 1, wire type 2 */
static void put_entry(struct buf *b, const char *s, size_t n)
{
	put_bytes(b, 1, 0x0a);
	put_varint(b, n);
	put(b, s, n);
}

static void put_str(struct buf *b, const char *s)
{
	put_entry(b, s, strlen(s));
}

/* A gRPC frame around a message. */
static void frame(struct buf *out, const struct buf *msg, uint8_t flags)
{
	out->n = 0;
	put_bytes(out, 5, flags, (int)(msg->n >> 24) & 0xff, (int)(msg->n >> 16) & 0xff, (int)(msg->n >> 8) & 0xff,
	          (int)msg->n & 0xff);
	put(out, msg->b, msg->n);
}

static struct buf msg, body;

static int decode(const struct buf *b, char **chain, size_t *len, char *err, size_t errlen)
{
	err[0] = '\0';
	*chain = (char *)1;
	*len = 77;
	int r = istioca_response_decode(b->b, b->n, chain, len, err, errlen);
	if (r < 0) {
		assert_null(*chain);
		assert_int_equal(*len, 0);
		assert_true(err[0] != '\0');
	} else {
		assert_non_null(*chain);
		assert_int_equal(strlen(*chain), *len);
	}
	return r;
}

static void expect_body(int want, const char *want_err);

/* Decode msg in a frame: the result, err must contain want_err (if r < 0). */
static void expect_msg(int want, const char *want_err)
{
	frame(&body, &msg, 0);
	expect_body(want, want_err);
}

static void expect_chain(const char *want)
{
	char err[256], *chain = NULL;
	size_t len = 0;
	frame(&body, &msg, 0);
	int r = decode(&body, &chain, &len, err, sizeof(err));
	if (r != 0)
		fail_msg("decode: %d %s", r, err);
	assert_string_equal(chain, want);
	free(chain);
}

static void expect_body(int want, const char *want_err)
{
	char err[256], *chain = NULL;
	size_t len = 0;
	int r = decode(&body, &chain, &len, err, sizeof(err));
	if (r != want)
		fail_msg("decode: %d, expected %d (%s)", r, want, err);
	if (want_err && !strstr(err, want_err))
		fail_msg("error \"%s\" lacks \"%s\"", err, want_err);
	free(chain);
}

/* ---- the request ---- */

static void expect_encoding(const char *csr, size_t csr_len, int64_t validity, const uint8_t *want, size_t want_len)
{
	uint8_t *out = NULL;
	size_t n = 0;
	assert_int_equal(istioca_request_encode(csr, csr_len, validity, &out, &n), 0);
	if (n != want_len || memcmp(out, want, n) != 0) {
		for (size_t i = 0; i < n && i < 40; i++)
			print_message("%02x ", out[i]);
		print_message("\n");
		fail_msg("encoding differs (%zu bytes, expected %zu)", n, want_len);
	}
	free(out);
}

static void test_encode_golden(void **state)
{
	(void)state;
	/* protoc --encode=istio.v1.auth.IstioCertificateRequest: csr: "ab" */
	static const uint8_t csr_only[] = { 0, 0, 0, 0, 4, 0x0a, 0x02, 'a', 'b' };
	expect_encoding("ab", 2, 0, csr_only, sizeof(csr_only));
	/* csr: "ab" validity_duration: 86400 */
	static const uint8_t day[] = { 0, 0, 0, 0, 8, 0x0a, 0x02, 'a', 'b', 0x18, 0x80, 0xa3, 0x05 };
	expect_encoding("ab", 2, 86400, day, sizeof(day));
	/* validity_duration: 1 */
	static const uint8_t one[] = { 0, 0, 0, 0, 5, 0x0a, 0x01, 'x', 0x18, 0x01 };
	expect_encoding("x", 1, 1, one, sizeof(one));
	/* a negative int64 is ten bytes, two's complement */
	static const uint8_t neg[] = { 0, 0, 0, 0, 14, 0x0a, 0x01, 'x', 0x18, 0xff, 0xff, 0xff, 0xff, 0xff,
	                               0xff, 0xff, 0xff, 0xff, 0x01 };
	expect_encoding("x", 1, -1, neg, sizeof(neg));
	static const uint8_t max[] = { 0, 0, 0, 0, 13, 0x0a, 0x01, 'x', 0x18, 0xff, 0xff, 0xff, 0xff, 0xff,
	                               0xff, 0xff, 0xff, 0x7f };
	expect_encoding("x", 1, INT64_MAX, max, sizeof(max));
	static const uint8_t min[] = { 0, 0, 0, 0, 14, 0x0a, 0x01, 'x', 0x18, 0x80, 0x80, 0x80, 0x80, 0x80,
	                               0x80, 0x80, 0x80, 0x80, 0x01 };
	expect_encoding("x", 1, INT64_MIN, min, sizeof(min));
}

/* The length varint at its boundaries, and the frame length big-endian. */
static void test_encode_lengths(void **state)
{
	(void)state;
	static const struct { size_t n; uint8_t v[3]; size_t vlen; } cases[] = {
		{ 1, { 0x01 }, 1 },
		{ 127, { 0x7f }, 1 },
		{ 128, { 0x80, 0x01 }, 2 },
		{ 300, { 0xac, 0x02 }, 2 },
		{ 16383, { 0xff, 0x7f }, 2 },
		{ 16384, { 0x80, 0x80, 0x01 }, 3 },
		{ ISTIOCA_CSR_MAX, { 0x80, 0x80, 0x04 }, 3 },
	};
	char *csr = malloc(ISTIOCA_CSR_MAX + 1);
	assert_non_null(csr);
	memset(csr, 'C', ISTIOCA_CSR_MAX + 1);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		uint8_t *out = NULL;
		size_t n = 0;
		assert_int_equal(istioca_request_encode(csr, cases[i].n, 0, &out, &n), 0);
		size_t m = 1 + cases[i].vlen + cases[i].n;
		assert_int_equal(n, 5 + m);
		assert_int_equal(out[0], 0);
		assert_int_equal((size_t)out[1] << 24 | (size_t)out[2] << 16 | (size_t)out[3] << 8 | out[4], m);
		assert_int_equal(out[5], 0x0a);
		assert_memory_equal(out + 6, cases[i].v, cases[i].vlen);
		assert_memory_equal(out + 6 + cases[i].vlen, csr, cases[i].n);
		free(out);
	}
	uint8_t *out = (uint8_t *)1;
	size_t n = 9;
	assert_int_equal(istioca_request_encode(csr, ISTIOCA_CSR_MAX + 1, 0, &out, &n), -EFBIG);
	assert_null(out);
	assert_int_equal(n, 0);
	assert_int_equal(istioca_request_encode(csr, 0, 0, &out, &n), -EINVAL);
	assert_int_equal(istioca_request_encode(NULL, 5, 0, &out, &n), -EINVAL);
	free(csr);
}

/* ---- the response ---- */

static void test_decode_valid(void **state)
{
	(void)state;
	msg.n = 0;
	put_str(&msg, LEAF);
	expect_chain(LEAF);
	put_str(&msg, ROOT);
	expect_chain(LEAF ROOT);
	msg.n = 0;
	put_str(&msg, LEAF);
	put_str(&msg, INTER);
	put_str(&msg, ROOT);
	expect_chain(LEAF INTER ROOT);
	/* a newline is added where an entry lacks one; tab and CRLF are text */
	msg.n = 0;
	put_str(&msg, "-----BEGIN CERTIFICATE-----\r\nMII\tB\r\n-----END CERTIFICATE-----");
	put_str(&msg, "x");
	expect_chain("-----BEGIN CERTIFICATE-----\r\nMII\tB\r\n-----END CERTIFICATE-----\nx\n");
	/* a non-minimal (padded) length varint is still valid protobuf */
	msg.n = 0;
	put_bytes(&msg, 6, 0x0a, 0x83, 0x80, 0x00, 'a', 'b');
	put_bytes(&msg, 1, 'c');
	expect_chain("abc\n");
}

static void test_decode_unknown_fields(void **state)
{
	(void)state;
	msg.n = 0;
	put_bytes(&msg, 3, 0x10, 0x96, 0x01);                                        /* 2: varint 150 */
	put_str(&msg, LEAF);
	put_bytes(&msg, 9, 0x19, 1, 2, 3, 4, 5, 6, 7, 8);                            /* 3: fixed64 */
	put_bytes(&msg, 5, 0x22, 0x03, 'a', 0, 0xff);                                /* 4: bytes */
	put_bytes(&msg, 5, 0x2d, 0xde, 0xad, 0xbe, 0xef);                            /* 5: fixed32 */
	put_bytes(&msg, 11, 0x30, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01); /* 6: 10-byte varint */
	put_bytes(&msg, 3, 0xc0, 0x3e, 0x00);                                        /* 1000: varint */
	put_bytes(&msg, 4, 0xc8, 0x80, 0x00, 0x00);                                  /* 9: varint, padded key */
	put_bytes(&msg, 6, 0xf8, 0xff, 0xff, 0xff, 0x0f, 0x07);                      /* 2^29-1: varint */
	put_bytes(&msg, 2, 0x3a, 0x00);                                              /* 7: empty bytes */
	put_str(&msg, ROOT);
	put_bytes(&msg, 2, 0x42, 0x00);                                              /* 8: empty bytes, last */
	expect_chain(LEAF ROOT);
}

static void test_decode_bad_wire_types(void **state)
{
	(void)state;
	static const uint8_t keys[] = { 0x13 /* 2: start group */, 0x14 /* 2: end group */, 0x0b /* 1: group */,
		                        0x0c, 0x16 /* 2: wire type 6 */, 0x17 /* 2: wire type 7 */ };
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		msg.n = 0;
		put_str(&msg, LEAF);
		put_bytes(&msg, 1, keys[i]);
		put_bytes(&msg, 4, 0x08, 0x01, 0x14, 0x00);
		expect_msg(-EBADMSG, NULL);
	}
	/* cert_chain as another wire type */
	msg.n = 0;
	put_bytes(&msg, 2, 0x08, 0x01);
	expect_msg(-EBADMSG, "wire type 0");
	msg.n = 0;
	put_bytes(&msg, 5, 0x0d, 1, 2, 3, 4);
	expect_msg(-EBADMSG, "wire type 5");
	/* field number 0, and one past 2^29-1 */
	msg.n = 0;
	put_bytes(&msg, 3, 0x02, 0x01, 'a');
	expect_msg(-EBADMSG, "field number");
	msg.n = 0;
	put_str(&msg, LEAF);
	put_bytes(&msg, 6, 0x80, 0x80, 0x80, 0x80, 0x10, 0x00);
	expect_msg(-EBADMSG, "field number");
}

static void test_decode_truncated(void **state)
{
	(void)state;
	static const struct { uint8_t b[12]; size_t n; } cases[] = {
		{ { 0x0a }, 1 },                               /* tag, no length */
		{ { 0x0a, 0x80 }, 2 },                         /* length varint cut */
		{ { 0x0a, 0x05, 'a', 'b' }, 4 },               /* length past the end */
		{ { 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f }, 6 }, /* a huge length */
		{ { 0x10 }, 1 },                               /* varint field, no value */
		{ { 0x10, 0x80, 0x80 }, 3 },                   /* varint cut */
		{ { 0x19, 1, 2, 3, 4, 5, 6, 7 }, 8 },          /* fixed64 short by one */
		{ { 0x1d, 1, 2, 3 }, 4 },                      /* fixed32 short by one */
		{ { 0x22, 0x04, 'a' }, 3 },                    /* bytes cut */
		{ { 0x22, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 }, 11 }, /* 2^64-1 long */
		{ { 0x80 }, 1 },                               /* tag varint cut */
		/* an 11-byte varint, and a 10-byte one over 64 bits */
		{ { 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 }, 12 },
		{ { 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02 }, 11 },
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		msg.n = 0;
		put_str(&msg, LEAF);
		put(&msg, cases[i].b, cases[i].n);
		expect_msg(-EBADMSG, NULL);
	}
}

static void test_decode_framing(void **state)
{
	(void)state;
	msg.n = 0;
	put_str(&msg, LEAF);
	/* no body, a short header */
	body.n = 0;
	expect_body(-EPROTO, "empty");
	for (size_t n = 1; n < 5; n++) {
		frame(&body, &msg, 0);
		body.n = n;
		expect_body(-EPROTO, "truncated gRPC frame header");
	}
	/* the message cut short */
	frame(&body, &msg, 0);
	body.n -= 1;
	expect_body(-EPROTO, "truncated gRPC frame");
	frame(&body, &msg, 0);
	body.n = 5;
	expect_body(-EPROTO, "truncated gRPC frame");
	/* the length says less than there is */
	frame(&body, &msg, 0);
	put_bytes(&body, 3, 0, 0, 0);
	expect_body(-EPROTO, "trailing bytes");
	/* a length past 2^31 */
	frame(&body, &msg, 0);
	body.b[1] = 0x80;
	expect_body(-EPROTO, "truncated");
	/* two messages in a unary answer */
	frame(&body, &msg, 0);
	size_t one = body.n;
	put(&body, body.b, one);
	expect_body(-EPROTO, "more than one");
	/* compressed, and unknown flag bits */
	frame(&body, &msg, 1);
	expect_body(-EPROTO, "compressed");
	frame(&body, &msg, 2);
	expect_body(-EPROTO, "flags");
	frame(&body, &msg, 0x80);
	expect_body(-EPROTO, "flags");
	/* an empty message in a proper frame: no chain */
	msg.n = 0;
	expect_msg(-EBADMSG, "no certificate chain");
}

static void test_decode_entries(void **state)
{
	(void)state;
	/* only unknown fields: no chain */
	msg.n = 0;
	put_bytes(&msg, 3, 0x10, 0x01, 0x1d);
	put_bytes(&msg, 4, 1, 2, 3, 4);
	expect_msg(-EBADMSG, "no certificate chain");
	/* an empty entry */
	msg.n = 0;
	put_str(&msg, LEAF);
	put_bytes(&msg, 2, 0x0a, 0x00);
	expect_msg(-EBADMSG, "entry 2 is empty");
	/* not text */
	static const char *const bad[] = { "a\0b", "\x1b[31m", "caf\xc3\xa9", "\x7f", "a\vb" };
	static const size_t bad_len[] = { 3, 5, 5, 1, 3 };
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		msg.n = 0;
		put_entry(&msg, bad[i], bad_len[i]);
		expect_msg(-EBADMSG, "entry 1 is not text");
	}
	/* the entry cap */
	msg.n = 0;
	for (unsigned i = 0; i < ISTIOCA_CHAIN_ENTRIES; i++)
		put_str(&msg, "e\n");
	char want[2 * ISTIOCA_CHAIN_ENTRIES + 1] = "";
	for (unsigned i = 0; i < ISTIOCA_CHAIN_ENTRIES; i++)
		strcat(want, "e\n");
	expect_chain(want);
	put_str(&msg, "e\n");
	expect_msg(-EBADMSG, "more than 16");
}

static void test_decode_size(void **state)
{
	(void)state;
	static char big[ISTIOCA_CHAIN_MAX + 2];
	memset(big, 'A', sizeof(big));
	/* exactly the cap: two halves, each ending in a newline */
	size_t half = ISTIOCA_CHAIN_MAX / 2;
	big[half - 1] = '\n';
	msg.n = 0;
	put_entry(&msg, big, half);
	put_entry(&msg, big, half);
	char err[256], *chain = NULL;
	size_t len = 0;
	frame(&body, &msg, 0);
	assert_int_equal(decode(&body, &chain, &len, err, sizeof(err)), 0);
	assert_int_equal(len, ISTIOCA_CHAIN_MAX);
	free(chain);
	/* one byte more */
	msg.n = 0;
	put_entry(&msg, big, half);
	put_entry(&msg, big, half);
	put_entry(&msg, "\n", 1);
	expect_msg(-EBADMSG, "larger than");
	/* a single entry of the cap without its newline: the added one is too many */
	msg.n = 0;
	memset(big, 'A', sizeof(big));
	put_entry(&msg, big, ISTIOCA_CHAIN_MAX);
	expect_msg(-EBADMSG, "larger than");
	/* exactly the cap, with its own newline */
	big[ISTIOCA_CHAIN_MAX - 1] = '\n';
	big[ISTIOCA_CHAIN_MAX] = '\0';
	msg.n = 0;
	put_entry(&msg, big, ISTIOCA_CHAIN_MAX);
	expect_chain(big);
}

/* A body the encoder made is not a response, but its framing is sound:
 * field 1 holds the CSR text, field 3 is skipped as an unknown varint. */
static void test_encode_decode(void **state)
{
	(void)state;
	uint8_t *out = NULL;
	size_t n = 0;
	assert_int_equal(istioca_request_encode(LEAF, strlen(LEAF), 3600, &out, &n), 0);
	char err[256], *chain = NULL;
	size_t len = 0;
	assert_int_equal(istioca_response_decode(out, n, &chain, &len, err, sizeof(err)), 0);
	assert_string_equal(chain, LEAF);
	free(chain);
	free(out);
}

/* ---- istioca_sign without a server ---- */

static struct fetch_opts fo;

static int sign_with(const char *address, const char *token, int64_t validity, char *err, size_t errlen)
{
	struct istioca_req q = {
		.address = address, .root_pem = ROOT, .root_len = strlen(ROOT), .token = token,
		.csr_pem = LEAF, .csr_len = strlen(LEAF), .validity_sec = validity, .fo = &fo,
	};
	char *chain = (char *)1;
	size_t len = 5;
	err[0] = '\0';
	int r = istioca_sign(&q, &chain, &len, err, errlen);
	assert_null(chain);
	assert_int_equal(len, 0);
	return r;
}

static void test_sign_bad_requests(void **state)
{
	(void)state;
	char err[512];
	fetch_opts_init(&fo);
	static const char *const bad_addresses[] = {
		"", "istiod", "istiod:", "istiod:0", "istiod:65536", "istiod:15012/x", "user@istiod:15012",
		"::1:15012", "[::1]", "[::1:15012", "istiod :15012", "istiod:15012\n", "a?b:1", "a#b:1",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad_addresses); i++)
		assert_int_equal(sign_with(bad_addresses[i], NULL, 0, err, sizeof(err)), -EINVAL);
	/* a token a header cannot carry is refused, and not shown */
	static const char *const bad_tokens[] = { "", "sekrit\r\nx-evil: 1", "sekrit token", "sekrit\x7f" };
	for (size_t i = 0; i < ELEMENTSOF(bad_tokens); i++) {
		assert_int_equal(sign_with("127.0.0.1:1", bad_tokens[i], 0, err, sizeof(err)), -EINVAL);
		assert_null(strstr(err, "sekrit"));
	}
	assert_int_equal(sign_with("127.0.0.1:1", NULL, -1, err, sizeof(err)), -EINVAL);
	struct istioca_req q = { .address = "127.0.0.1:1", .root_pem = ROOT, .root_len = 0, .csr_pem = LEAF,
		                 .csr_len = strlen(LEAF), .fo = &fo };
	char *chain = NULL;
	size_t len = 0;
	assert_int_equal(istioca_sign(&q, &chain, &len, err, sizeof(err)), -EINVAL);
	q.root_len = strlen(ROOT);
	q.csr_len = 0;
	assert_int_equal(istioca_sign(&q, &chain, &len, err, sizeof(err)), -EINVAL);
	q.csr_len = strlen(LEAF);
	q.fo = NULL;
	assert_int_equal(istioca_sign(&q, &chain, &len, err, sizeof(err)), -EINVAL);
}

/* A port nobody listens on (bound, then closed). */
static unsigned closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void test_sign_refused(void **state)
{
	(void)state;
	char err[512], address[64];
	fetch_opts_init(&fo);
	fo.retries = 2;
	fo.backoff_base_ms = 1;
	fo.backoff_max_ms = 5;
	fo.deadline_sec = 30;
	snprintf(address, sizeof(address), "127.0.0.1:%u", closed_port());
	int r = sign_with(address, "sekrit-token", 3600, err, sizeof(err));
	if (r != -ECONNREFUSED)
		fail_msg("%d %s", r, err);
	assert_true(str_has_prefix(err, address));
	assert_non_null(strstr(err, "(3 attempts)"));
	assert_null(strstr(err, "sekrit"));
	/* without retries: one attempt */
	fo.retries = 0;
	assert_int_equal(sign_with(address, NULL, 0, err, sizeof(err)), -ECONNREFUSED);
	assert_null(strstr(err, "attempts"));
	/* IPv6 literal syntax passes the check (refused or unreachable) */
	snprintf(address, sizeof(address), "[::1]:%u", closed_port());
	r = sign_with(address, NULL, 0, err, sizeof(err));
	assert_true(r == -ECONNREFUSED || r == -EHOSTUNREACH || r == -EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_golden),
		cmocka_unit_test(test_encode_lengths),
		cmocka_unit_test(test_decode_valid),
		cmocka_unit_test(test_decode_unknown_fields),
		cmocka_unit_test(test_decode_bad_wire_types),
		cmocka_unit_test(test_decode_truncated),
		cmocka_unit_test(test_decode_framing),
		cmocka_unit_test(test_decode_entries),
		cmocka_unit_test(test_decode_size),
		cmocka_unit_test(test_encode_decode),
		cmocka_unit_test(test_sign_bad_requests),
		cmocka_unit_test(test_sign_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
