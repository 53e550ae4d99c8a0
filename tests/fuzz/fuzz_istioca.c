/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness: the Istio CA response decoder (istioca_response_decode),
 * which reads what a network peer sent, and the request encoder.
 * Invariants:
 *  - the input as a whole body, and the input wrapped in a correct gRPC frame
 *    (to reach the protobuf parser with most inputs): a refusal is -EPROTO or
 *    -EBADMSG with a NUL-terminated, non-empty err and no chain; an accepted
 *    chain is NUL-terminated, *chain_len long, within the cap, printable text,
 *    ends in a newline, and decoding it again inside a frame of one entry
 *    gives the same bytes;
 *  - the input as a CSR: the request is the frame of exactly field 1 (the
 *    input) and field 3 (a validity taken from the input), which protoc's
 *    rules say, and it decodes back. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "istioca.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void chain_check(const char *chain, size_t len)
{
	if (!chain || len == 0 || len > ISTIOCA_CHAIN_MAX || strlen(chain) != len || chain[len - 1] != '\n')
		abort();
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)chain[i];
		if (!((c >= 0x20 && c < 0x7f) || c == '\n' || c == '\r' || c == '\t'))
			abort();
	}
}

static void err_check(const char *err, size_t cap)
{
	if (!memchr(err, '\0', cap) || err[0] == '\0')
		abort();
}

/* The chain as one cert_chain entry: decodes to itself. */
static void chain_roundtrip(const char *chain, size_t len)
{
	uint8_t *b = malloc(len + 16);
	if (!b)
		abort();
	size_t n = 5;
	b[n++] = 0x0a;
	for (uint64_t v = len; ; v >>= 7) {
		b[n++] = (uint8_t)(v >= 0x80 ? (v & 0x7f) | 0x80 : v);
		if (v < 0x80)
			break;
	}
	memcpy(b + n, chain, len);
	n += len;
	size_t m = n - 5;
	b[0] = 0;
	b[1] = (uint8_t)(m >> 24);
	b[2] = (uint8_t)(m >> 16);
	b[3] = (uint8_t)(m >> 8);
	b[4] = (uint8_t)m;
	char err[256], *again = NULL;
	size_t again_len = 0;
	if (istioca_response_decode(b, n, &again, &again_len, err, sizeof(err)) != 0 || again_len != len ||
	    memcmp(again, chain, len) != 0)
		abort();
	free(again);
	free(b);
}

static void decode_one(const uint8_t *body, size_t len)
{
	char err[256];
	char *chain = (char *)1;
	size_t chain_len = 1;
	memset(err, 'x', sizeof(err));
	int r = istioca_response_decode(body, len, &chain, &chain_len, err, sizeof(err));
	if (r == 0) {
		chain_check(chain, chain_len);
		chain_roundtrip(chain, chain_len);
		free(chain);
		return;
	}
	if ((r != -EPROTO && r != -EBADMSG) || chain != NULL || chain_len != 0)
		abort();
	err_check(err, sizeof(err));
}

static uint64_t varint_read(const uint8_t **p)
{
	uint64_t v = 0;
	for (unsigned s = 0; ; s += 7) {
		uint8_t b = *(*p)++;
		v |= (uint64_t)(b & 0x7f) << s;
		if (!(b & 0x80))
			return v;
	}
}

/* The request for the input as a CSR: exactly protoc's bytes. */
static void encode_one(const uint8_t *data, size_t size)
{
	int64_t validity = 0;
	if (size >= 8)
		memcpy(&validity, data, 8);
	uint8_t *out = NULL;
	size_t n = 0;
	int r = istioca_request_encode((const char *)data, size, validity, &out, &n);
	if (size == 0 || size > ISTIOCA_CSR_MAX) {
		if (r != (size ? -EFBIG : -EINVAL) || out)
			abort();
		return;
	}
	if (r != 0 || !out || n < 5 + 2 + size)
		abort();
	size_t m = (size_t)out[1] << 24 | (size_t)out[2] << 16 | (size_t)out[3] << 8 | out[4];
	if (out[0] != 0 || m != n - 5)
		abort();
	const uint8_t *p = out + 5, *end = out + n;
	if (*p++ != 0x0a || varint_read(&p) != size || memcmp(p, data, size) != 0)
		abort();
	p += size;
	if (validity != 0) {
		if (*p++ != 0x18 || varint_read(&p) != (uint64_t)validity)
			abort();
	}
	if (p != end)
		abort();
	/* read back as a response, the CSR is the one entry (when it is text) */
	char err[256], *chain = NULL;
	size_t chain_len = 0;
	r = istioca_response_decode(out, n, &chain, &chain_len, err, sizeof(err));
	if (r == 0) {
		if (chain_len < size || memcmp(chain, data, size) != 0)
			abort();
		free(chain);
	} else if (r != -EBADMSG) {
		abort();
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	decode_one(data, size);
	/* the same bytes as the message of a correct frame */
	uint8_t *framed = malloc(size + 5);
	if (!framed)
		abort();
	framed[0] = 0;
	framed[1] = (uint8_t)(size >> 24);
	framed[2] = (uint8_t)(size >> 16);
	framed[3] = (uint8_t)(size >> 8);
	framed[4] = (uint8_t)size;
	if (size)
		memcpy(framed + 5, data, size);
	decode_one(framed, size + 5);
	free(framed);
	encode_one(data, size);
	return 0;
}
