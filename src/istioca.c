/* SPDX-License-Identifier: Apache-2.0 */
/* The Istio CA client (see istioca.h): protobuf and gRPC framing by hand,
 * one unary call over libcurl's easy interface, retried by hand. */
#include "istioca.h"

#include <ctype.h>
#include <stdarg.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "util.h"

#define FRAME_HEADER 5
#define STATUS_MAX 16          /* a grpc-status value, as text */
#define MESSAGE_RAW_MAX 2048   /* grpc-message as received (longer is cut) */
#define MESSAGE_SHOWN_MAX 256  /* grpc-message in err */
#define CTYPE_MAX 128

/* ---- protobuf and gRPC framing (pure) ---- */

static size_t varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* A varint at *p (before end): 0 and *p advanced, -EAGAIN truncated,
 * -EOVERFLOW more than 64 bits (an 11th byte, or a 10th above 1). */
static int varint_get(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;
	for (unsigned i = 0; i < 10; i++) {
		if (*p + i >= end)
			return -EAGAIN;
		uint8_t b = (*p)[i];
		if (i == 9 && b > 1)
			return -EOVERFLOW;
		r |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*p += i + 1;
			*v = r;
			return 0;
		}
	}
	return -EOVERFLOW;
}

int istioca_request_encode(const char *csr, size_t csr_len, int64_t validity_sec, uint8_t **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	if (!csr || csr_len == 0)
		return -EINVAL;
	if (csr_len > ISTIOCA_CSR_MAX)
		return -EFBIG;
	/* frame header, tag, length (<= 3 bytes for 64 KiB), csr, tag, 10-byte varint */
	uint8_t *b = malloc(FRAME_HEADER + 1 + 10 + csr_len + 1 + 10);
	if (!b)
		return -ENOMEM;
	size_t n = FRAME_HEADER;
	b[n++] = 0x0a;  /* field 1, wire type 2 */
	n += varint_put(b + n, csr_len);
	memcpy(b + n, csr, csr_len);
	n += csr_len;
	if (validity_sec != 0) {
		b[n++] = 0x18;  /* field 3, wire type 0; int64: two's complement */
		n += varint_put(b + n, (uint64_t)validity_sec);
	}
	size_t m = n - FRAME_HEADER;
	b[0] = 0;  /* not compressed */
	b[1] = (uint8_t)(m >> 24);
	b[2] = (uint8_t)(m >> 16);
	b[3] = (uint8_t)(m >> 8);
	b[4] = (uint8_t)m;
	*out = b;
	*out_len = n;
	return 0;
}

/* The one message inside a unary response body. */
static int frame_unwrap(const uint8_t *body, size_t len, const uint8_t **msg, size_t *msg_len, char *err, size_t errlen)
{
	if (len == 0)
		return err_fmt(err, errlen, -EPROTO, "empty response body: no gRPC message");
	if (len < FRAME_HEADER)
		return err_fmt(err, errlen, -EPROTO, "truncated gRPC frame header (%zu bytes)", len);
	if (body[0] & 1)
		return err_fmt(err, errlen, -EPROTO, "compressed gRPC message (meshboot accepts identity only)");
	if (body[0] != 0)
		return err_fmt(err, errlen, -EPROTO, "gRPC frame with unknown flags 0x%02x", body[0]);
	size_t n = (size_t)body[1] << 24 | (size_t)body[2] << 16 | (size_t)body[3] << 8 | body[4];
	size_t rest = len - FRAME_HEADER;
	if (n > rest)
		return err_fmt(err, errlen, -EPROTO, "truncated gRPC frame: its header says %zu bytes, %zu follow", n, rest);
	if (n < rest && rest - n >= FRAME_HEADER)
		return err_fmt(err, errlen, -EPROTO, "more than one gRPC message in a unary response");
	if (n < rest)
		return err_fmt(err, errlen, -EPROTO, "%zu trailing bytes after the gRPC message", rest - n);
	*msg = body + FRAME_HEADER;
	*msg_len = n;
	return 0;
}

static bool text_printable(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 0x20 && s[i] < 0x7f) || s[i] == '\n' || s[i] == '\r' || s[i] == '\t'))
			return false;
	return true;
}

/* Skip the value of an unknown field of wire type wt at *p. */
static int field_skip(const uint8_t **p, const uint8_t *end, unsigned wt)
{
	uint64_t v;
	switch (wt) {
	case 0:
		return varint_get(p, end, &v);
	case 1:
	case 5: {
		size_t w = wt == 1 ? 8 : 4;
		if ((size_t)(end - *p) < w)
			return -EAGAIN;
		*p += w;
		return 0;
	}
	case 2: {
		int r = varint_get(p, end, &v);
		if (r < 0)
			return r;
		if (v > (uint64_t)(end - *p))
			return -EAGAIN;
		*p += v;
		return 0;
	}
	default:
		return -EBADMSG;  /* groups (3, 4) and the undefined 6, 7 */
	}
}

/* Append one cert_chain entry to the chain, within the caps. */
static int entry_add(struct strbuf *out, unsigned index, const uint8_t *s, size_t n, char *err, size_t errlen)
{
	if (index >= ISTIOCA_CHAIN_ENTRIES)
		return err_fmt(err, errlen, -EBADMSG, "more than %u cert_chain entries", ISTIOCA_CHAIN_ENTRIES);
	if (n == 0)
		return err_fmt(err, errlen, -EBADMSG, "cert_chain entry %u is empty", index + 1);
	if (!text_printable(s, n))
		return err_fmt(err, errlen, -EBADMSG, "cert_chain entry %u is not text (PEM)", index + 1);
	bool nl = s[n - 1] != '\n';
	if (n + nl > ISTIOCA_CHAIN_MAX - out->len)
		return err_fmt(err, errlen, -EBADMSG, "the certificate chain is larger than %u bytes", ISTIOCA_CHAIN_MAX);
	sb_append(out, (const char *)s, n);
	if (nl)
		sb_putc(out, '\n');
	return sb_ok(out);
}

/* IstioCertificateResponse { repeated string cert_chain = 1; } */
static int message_parse(const uint8_t *m, size_t len, struct strbuf *out, char *err, size_t errlen)
{
	const uint8_t *p = m, *end = m + len;
	unsigned entries = 0;
	while (p < end) {
		size_t at = (size_t)(p - m);
		uint64_t key, n;
		int r = varint_get(&p, end, &key);
		if (r < 0)
			return err_fmt(err, errlen, -EBADMSG, "response message: bad field tag at byte %zu", at);
		uint64_t field = key >> 3;
		unsigned wt = (unsigned)(key & 7);
		if (field == 0 || field > 0x1fffffff)
			return err_fmt(err, errlen, -EBADMSG, "response message: bad field number at byte %zu", at);
		if (field != 1) {
			r = field_skip(&p, end, wt);
			if (r == -EBADMSG)
				return err_fmt(err, errlen, r, "response message: field %" PRIu64 " has wire type %u (group or undefined)",
				               field, wt);
			if (r < 0)
				return err_fmt(err, errlen, -EBADMSG, "response message: field %" PRIu64 " at byte %zu is truncated",
				               field, at);
			continue;
		}
		if (wt != 2)
			return err_fmt(err, errlen, -EBADMSG, "response message: cert_chain with wire type %u", wt);
		if (varint_get(&p, end, &n) < 0 || n > (uint64_t)(end - p))
			return err_fmt(err, errlen, -EBADMSG, "response message: cert_chain entry at byte %zu is truncated", at);
		r = entry_add(out, entries++, p, (size_t)n, err, errlen);
		if (r < 0)
			return r;
		p += n;
	}
	if (entries == 0)
		return err_fmt(err, errlen, -EBADMSG, "the response holds no certificate chain");
	return 0;
}

int istioca_response_decode(const uint8_t *body, size_t len, char **chain_pem, size_t *chain_len, char *err,
                            size_t errlen)
{
	*chain_pem = NULL;
	*chain_len = 0;
	const uint8_t *m = NULL;
	size_t mlen = 0;
	int r = frame_unwrap(body, len, &m, &mlen, err, errlen);
	if (r < 0)
		return r;
	_cleanup_sb_ struct strbuf out;
	sb_init(&out);
	r = message_parse(m, mlen, &out, err, errlen);
	if (r == -ENOMEM)
		return err_fmt(err, errlen, r, "out of memory");
	if (r < 0)
		return r;
	*chain_len = out.len;
	*chain_pem = sb_steal(&out);
	return *chain_pem ? 0 : err_fmt(err, errlen, -ENOMEM, "out of memory");
}

/* ---- the call ---- */

static const char *const grpc_status_names[] = {
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
	"PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
	"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
};

enum {
	GRPC_CANCELLED = 1,
	GRPC_DEADLINE_EXCEEDED = 4,
	GRPC_PERMISSION_DENIED = 7,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_ABORTED = 10,
	GRPC_INTERNAL = 13,
	GRPC_UNAVAILABLE = 14,
	GRPC_UNAUTHENTICATED = 16,
};

static const char *grpc_status_name(unsigned long s)
{
	return s < ELEMENTSOF(grpc_status_names) ? grpc_status_names[s] : "UNKNOWN_STATUS";
}

/* The statuses istio-agent's CA client retries (pkg/security: CARetryOptions). */
static bool grpc_status_retryable(unsigned long s)
{
	return s == GRPC_CANCELLED || s == GRPC_DEADLINE_EXCEEDED || s == GRPC_RESOURCE_EXHAUSTED || s == GRPC_ABORTED ||
	       s == GRPC_INTERNAL || s == GRPC_UNAVAILABLE;
}

static double now_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One attempt's state, filled by libcurl's callbacks. */
struct call {
	double started, first_byte_limit;  /* limit 0: none */
	bool answered;                     /* a response header arrived */
	bool too_big, too_slow;
	struct strbuf body;
	bool has_status;
	char status[STATUS_MAX + 1];
	char message[MESSAGE_RAW_MAX + 1];
	char ctype[CTYPE_MAX + 1];
	char curl_err[CURL_ERROR_SIZE];
};

/* How an attempt ended. */
struct outcome {
	int r;           /* 0 or -errno */
	bool retry;      /* worth another attempt */
	char msg[512];   /* what went wrong, without the address */
};

static void value_copy(char *dst, size_t cap, const char *v, size_t n)
{
	if (n > cap - 1)
		n = cap - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

/* Response headers and (after the body) the HTTP/2 trailers, one line at a
 * time; a new status line starts a new header block. */
static size_t header_take(char *buf, size_t size, size_t nitems, void *data)
{
	struct call *c = data;
	size_t len = size * nitems;
	c->answered = true;
	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		c->has_status = false;
		c->status[0] = c->message[0] = c->ctype[0] = '\0';
		return len;
	}
	const char *colon = memchr(buf, ':', len);
	if (!colon)
		return len;
	size_t name_len = (size_t)(colon - buf);
	const char *v = colon + 1, *end = buf + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	size_t vlen = (size_t)(end - v);
	if (name_len == 11 && strncasecmp(buf, "grpc-status", 11) == 0) {
		c->has_status = true;
		if (vlen > STATUS_MAX) {
			v = "x";  /* too long to be a status: kept as a malformed one */
			vlen = 1;
		}
		value_copy(c->status, sizeof(c->status), v, vlen);
	} else if (name_len == 12 && strncasecmp(buf, "grpc-message", 12) == 0) {
		value_copy(c->message, sizeof(c->message), v, vlen);
	} else if (name_len == 12 && strncasecmp(buf, "content-type", 12) == 0) {
		value_copy(c->ctype, sizeof(c->ctype), v, vlen);
	}
	return len;
}

static size_t body_take(char *buf, size_t size, size_t nitems, void *data)
{
	struct call *c = data;
	size_t len = size * nitems;
	c->answered = true;
	if (len > ISTIOCA_BODY_MAX - c->body.len) {
		c->too_big = true;
		return 0;
	}
	sb_append(&c->body, buf, len);
	return sb_ok(&c->body) < 0 ? 0 : len;
}

/* The first-byte timeout: libcurl has none, so watch for an answer. */
static int progress_check(void *data, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	(void)dltotal; (void)dlnow; (void)ultotal; (void)ulnow;
	struct call *c = data;
	if (c->answered || c->first_byte_limit <= 0 || now_sec() - c->started <= c->first_byte_limit)
		return 0;
	c->too_slow = true;
	return 1;
}

/* The token masked wherever it occurs in s (n bytes). */
static void token_mask(char *s, size_t n, const char *token)
{
	size_t tl = token ? strlen(token) : 0;
	if (!tl)
		return;
	for (char *p = s; (p = memmem(p, n - (size_t)(p - s), token, tl)); p += tl)
		memset(p, '*', tl);
}

static int hex_val(char c)
{
	return isdigit((unsigned char)c) ? c - '0' : isxdigit((unsigned char)c) ? (tolower((unsigned char)c) - 'a' + 10) : -1;
}

/* grpc-message for err: percent-decoded, the token masked, non-ASCII and
 * control characters as '?', at most MESSAGE_SHOWN_MAX characters (then
 * "...").  cap >= 8. */
static void message_render(const char *raw, const char *token, char *out, size_t cap)
{
	char dec[MESSAGE_RAW_MAX + 1];
	size_t n = 0;
	for (size_t i = 0; raw[i] && n < MESSAGE_RAW_MAX; i++) {
		int hi, lo;
		if (raw[i] == '%' && (hi = hex_val(raw[i + 1])) >= 0 && (lo = hex_val(raw[i + 2])) >= 0) {
			dec[n++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			dec[n++] = raw[i];
		}
	}
	token_mask(dec, n, token);
	size_t limit = cap - 4 < MESSAGE_SHOWN_MAX ? cap - 4 : MESSAGE_SHOWN_MAX, o = 0;
	for (; o < n && o < limit; o++) {
		unsigned char ch = (unsigned char)dec[o];
		out[o] = ch < 0x20 || ch >= 0x7f ? '?' : (char)ch;
	}
	out[o] = '\0';
	if (o < n)
		memcpy(out + o, "...", 4);
	explicit_bzero(dec, sizeof(dec));
}

static int oc_set(struct outcome *oc, int r, bool retry, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int oc_set(struct outcome *oc, int r, bool retry, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(oc->msg, sizeof(oc->msg), fmt, ap);
	va_end(ap);
	oc->r = r;
	oc->retry = retry;
	return r;
}

/* A libcurl failure: errno and whether to retry. */
static int curl_fail_classify(CURL *e, CURLcode rc, const struct call *c, struct outcome *oc)
{
	const char *detail = c->curl_err[0] ? c->curl_err : curl_easy_strerror(rc);
	long os_errno = 0;
	switch (rc) {
	case CURLE_ABORTED_BY_CALLBACK:
		if (c->too_slow)
			return oc_set(oc, -ETIMEDOUT, true, "no answer within %.0f s", c->first_byte_limit);
		break;
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		if (c->too_big || rc == CURLE_FILESIZE_EXCEEDED)
			return oc_set(oc, -EPROTO, false, "response larger than %u bytes", ISTIOCA_BODY_MAX);
		return oc_set(oc, -ENOMEM, false, "out of memory");
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		return oc_set(oc, -EKEYREJECTED, false,
		              "TLS verification of the server failed (the mesh root is the only trust anchor): %s", detail);
	case CURLE_SSL_CACERT_BADFILE:
		return oc_set(oc, -EINVAL, false, "the mesh root cannot be loaded: %s", detail);
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return oc_set(oc, -EINVAL, false, "%s", detail);
	case CURLE_OUT_OF_MEMORY:
		return oc_set(oc, -ENOMEM, false, "out of memory");
	case CURLE_COULDNT_RESOLVE_HOST:
		return oc_set(oc, -EHOSTUNREACH, true, "%s", detail);
	case CURLE_COULDNT_CONNECT:
		curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &os_errno);
		if (os_errno == EHOSTUNREACH || os_errno == ENETUNREACH)
			return oc_set(oc, -EHOSTUNREACH, true, "%s", detail);
		if (os_errno == ETIMEDOUT)
			return oc_set(oc, -ETIMEDOUT, true, "%s", detail);
		return oc_set(oc, -ECONNREFUSED, true, "%s", detail);
	case CURLE_OPERATION_TIMEDOUT:
		return oc_set(oc, -ETIMEDOUT, true, "%s", detail);
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return oc_set(oc, -ECONNRESET, true, "%s", detail);
	default:
		break;
	}
	return oc_set(oc, -EIO, true, "%s", detail);
}

/* A complete HTTP exchange: HTTP/2, 200, gRPC content type and status. */
static int answer_classify(CURL *e, struct call *c, const char *token, struct outcome *oc)
{
	long version = 0, http = 0;
	curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &version);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &http);
	if (version != CURL_HTTP_VERSION_2_0)
		return oc_set(oc, -EPROTO, false, "the server does not speak HTTP/2 (not a gRPC server)");
	if (http == 401 || http == 403)
		return oc_set(oc, -EACCES, false, "HTTP %ld", http);
	if (http == 408 || http == 429 || (http >= 500 && http <= 599))
		return oc_set(oc, -EIO, true, "HTTP %ld", http);
	if (http != 200)
		return oc_set(oc, -EPROTO, false, "HTTP %ld (not a gRPC answer)", http);
	if (strncasecmp(c->ctype, "application/grpc", 16) != 0 ||
	    (c->ctype[16] && c->ctype[16] != '+' && c->ctype[16] != ';')) {
		char shown[CTYPE_MAX + 1];
		message_render(c->ctype, token, shown, 64);
		return oc_set(oc, -EPROTO, false, "content-type \"%s\", not gRPC", shown);
	}
	if (!c->has_status)
		return oc_set(oc, -EPROTO, false, "no grpc-status in the answer (not a gRPC server?)");
	char *end = NULL;
	errno = 0;
	unsigned long st = strtoul(c->status, &end, 10);
	if (!isdigit((unsigned char)c->status[0]) || *end || errno)
		return oc_set(oc, -EPROTO, false, "malformed grpc-status");
	if (st == 0)
		return oc_set(oc, 0, false, "OK");
	char msg[MESSAGE_SHOWN_MAX + 8];
	message_render(c->message, token, msg, sizeof(msg));
	int r = st == GRPC_UNAUTHENTICATED || st == GRPC_PERMISSION_DENIED ? -EACCES : -EIO;
	return oc_set(oc, r, grpc_status_retryable(st), "gRPC status %lu %s%s%s", st, grpc_status_name(st),
	              msg[0] ? ": " : "", msg);
}

struct request {
	const struct istioca_req *q;
	char url[320];
	const uint8_t *body;
	size_t body_len;
	double deadline;              /* 0: none */
};

/* Free a header list, wiping each line first (one holds the token). */
static void headers_free(struct curl_slist *h)
{
	for (struct curl_slist *l = h; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(h);
}

static int header_add(struct curl_slist **h, const char *line)
{
	struct curl_slist *t = curl_slist_append(*h, line);
	if (!t)
		return -ENOMEM;
	*h = t;
	return 0;
}

/* grpc-timeout for the time left: milliseconds, or seconds when that is
 * more than the 8 digits the header allows. */
static int header_timeout_add(struct curl_slist **h, double left)
{
	char line[48];
	long long ms = left < 0.001 ? 1 : (long long)(left * 1000.0);
	if (ms > 99999999)
		snprintf(line, sizeof(line), "grpc-timeout: %lldS", ms / 1000 > 99999999 ? 99999999 : ms / 1000);
	else
		snprintf(line, sizeof(line), "grpc-timeout: %lldm", ms);
	return header_add(h, line);
}

/* The authorization line, built in a buffer wiped at once (the list keeps
 * its own copy, which headers_free wipes). */
static int header_auth_add(struct curl_slist **h, const char *token)
{
	static const char prefix[] = "authorization: Bearer ";
	size_t tl = strlen(token), n = sizeof(prefix) + tl;
	char *line = malloc(n);
	if (!line)
		return -ENOMEM;
	memcpy(line, prefix, sizeof(prefix) - 1);
	memcpy(line + sizeof(prefix) - 1, token, tl + 1);
	int r = header_add(h, line);
	explicit_bzero(line, n);
	free(line);
	return r;
}

/* One attempt's request headers. */
static int headers_build(const struct request *rq, double now, struct curl_slist **out)
{
	static const char *const fixed[] = {
		"content-type: application/grpc", "te: trailers", "grpc-accept-encoding: identity",
		"user-agent: meshboot", "accept:", "expect:",
	};
	struct curl_slist *h = NULL;
	int r = 0;
	for (size_t i = 0; r == 0 && i < ELEMENTSOF(fixed); i++)
		r = header_add(&h, fixed[i]);
	if (r == 0 && rq->deadline > 0)
		r = header_timeout_add(&h, rq->deadline - now);
	if (r == 0 && rq->q->token)
		r = header_auth_add(&h, rq->q->token);
	if (r < 0) {
		headers_free(h);
		return r;
	}
	*out = h;
	return 0;
}

static void easy_setup(CURL *e, const struct request *rq, struct call *c, struct curl_slist *headers)
{
	const struct istioca_req *q = rq->q;
	const struct fetch_opts *fo = q->fo;
	struct curl_blob root = { .data = (void *)q->root_pem, .len = q->root_len, .flags = CURL_BLOB_COPY };
	curl_easy_setopt(e, CURLOPT_URL, rq->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	/* the pinned root and nothing else: no bundle file, no directory */
	curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
	curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &root);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, (const char *)rq->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)ISTIOCA_BODY_MAX);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_take);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_take);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, progress_check);
	curl_easy_setopt(e, CURLOPT_XFERINFODATA, c);
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->curl_err);
	if (fo->connect_timeout_sec)
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)fo->connect_timeout_sec);
	if (fo->low_speed_limit && fo->low_speed_time_sec) {
		/* a server that answers and then stalls */
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, (long)fo->low_speed_limit);
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)fo->low_speed_time_sec);
	}
	if (rq->deadline > 0) {
		double left = rq->deadline - now_sec();
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, left < 0.001 ? 1L : (long)(left * 1000.0));
	}
}

/* One attempt: 0 with the body in c->body, or the outcome to judge. */
static int attempt_run(const struct request *rq, struct call *c, struct outcome *oc)
{
	const struct fetch_opts *fo = rq->q->fo;
	struct curl_slist *headers = NULL;
	c->started = now_sec();
	c->first_byte_limit = (double)fo->connect_timeout_sec + (double)fo->first_byte_timeout_sec;
	CURL *e = curl_easy_init();
	if (!e || headers_build(rq, c->started, &headers) < 0) {
		curl_easy_cleanup(e);
		return oc_set(oc, -ENOMEM, false, "out of memory");
	}
	easy_setup(e, rq, c, headers);
	CURLcode rc = curl_easy_perform(e);
	int r = rc == CURLE_OK ? answer_classify(e, c, rq->q->token, oc) : curl_fail_classify(e, rc, c, oc);
	curl_easy_cleanup(e);
	headers_free(headers);
	return r;
}

/* Full jitter: uniform in [0, min(max, base * 2^(n-1))), not past the deadline. */
static void backoff_sleep(const struct fetch_opts *fo, unsigned attempt, double deadline)
{
	double cap = (double)fo->backoff_base_ms / 1000.0, max = (double)fo->backoff_max_ms / 1000.0;
	for (unsigned i = 1; i < attempt && cap < max; i++)
		cap *= 2;
	if (cap > max)
		cap = max;
	uint32_t rnd = 0;
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (uint32_t)random();
	double delay = cap * ((double)rnd / 4294967296.0);
	if (deadline > 0 && now_sec() + delay > deadline)
		delay = deadline - now_sec();
	if (delay <= 0)
		return;
	struct timespec ts = { .tv_sec = (time_t)delay, .tv_nsec = (long)((delay - (double)(time_t)delay) * 1e9) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* host:port or [v6]:port, in the characters a URL authority may take
 * here (no userinfo, path, query; '%' only in a bracketed v6 zone). */
static bool address_valid(const char *a)
{
	size_t n = strlen(a);
	if (n == 0 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)a[i]) && !strchr(".-_:[]%", a[i]))
			return false;
	if (strchr(a, '%') && a[0] != '[')
		return false;
	const char *colon = strrchr(a, ':');
	if (!colon || colon == a || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    strlen(colon + 1) > 5 || atoi(colon + 1) < 1 || atoi(colon + 1) > 65535)
		return false;
	if (a[0] == '[')
		return colon[-1] == ']';
	return !memchr(a, ':', (size_t)(colon - a)) && !strchr(a, '[') && !strchr(a, ']');
}

static bool token_valid(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > ISTIOCA_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
			return false;
	return true;
}

static int req_check(const struct istioca_req *q, char *err, size_t errlen)
{
	if (!q->address || !address_valid(q->address))
		return err_fmt(err, errlen, -EINVAL, "the CA address is not host:port");
	if (!q->root_pem || q->root_len == 0)
		return err_fmt(err, errlen, -EINVAL, "%s: no mesh root to verify the CA with", q->address);
	if (q->token && !token_valid(q->token))
		return err_fmt(err, errlen, -EINVAL, "%s: the token is empty, too long or has characters a header cannot carry",
		               q->address);
	if (!q->csr_pem || q->csr_len == 0 || q->csr_len > ISTIOCA_CSR_MAX)
		return err_fmt(err, errlen, -EINVAL, "%s: no CSR, or one over %u bytes", q->address, ISTIOCA_CSR_MAX);
	if (q->validity_sec < 0)
		return err_fmt(err, errlen, -EINVAL, "%s: negative validity", q->address);
	if (!q->fo)
		return err_fmt(err, errlen, -EINVAL, "%s: no transfer options", q->address);
	return 0;
}

static int curl_ready(void)
{
	static bool ready;
	if (!ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -EIO;
		ready = true;
	}
	return 0;
}

static int deadline_reached(const struct fetch_opts *fo, struct outcome *oc)
{
	char last[sizeof(oc->msg)];
	memcpy(last, oc->msg, sizeof(last));
	return oc_set(oc, -ETIMEDOUT, false, "deadline of %u s reached; last: %.400s", fo->deadline_sec, last);
}

/* The attempts, with backoff between them; the last outcome in oc. */
static int attempts_run(struct request *rq, struct call *c, struct outcome *oc, unsigned *attempts)
{
	const struct fetch_opts *fo = rq->q->fo;
	for (unsigned n = 1;; n++) {
		*attempts = n;
		sb_free(&c->body);
		memset(c, 0, sizeof(*c));
		sb_init(&c->body);
		int r = attempt_run(rq, c, oc);
		if (r == 0 || (r < 0 && !oc->retry))
			return r;
		if (rq->deadline > 0 && now_sec() + 0.001 >= rq->deadline)
			return deadline_reached(fo, oc);
		if (n > fo->retries)
			return r;
		backoff_sleep(fo, n, rq->deadline);
		if (rq->deadline > 0 && now_sec() + 0.001 >= rq->deadline)
			return deadline_reached(fo, oc);
	}
}

int istioca_sign(const struct istioca_req *q, char **chain_pem, size_t *chain_len, char *err, size_t errlen)
{
	*chain_pem = NULL;
	*chain_len = 0;
	int r = req_check(q, err, errlen);
	if (r < 0)
		return r;
	if (curl_ready() < 0)
		return err_fmt(err, errlen, -EIO, "%s: libcurl cannot be initialised", q->address);
	struct request rq = { .q = q };
	snprintf(rq.url, sizeof(rq.url), "https://%s%s", q->address, ISTIOCA_PATH);
	_cleanup_free_ uint8_t *body = NULL;
	r = istioca_request_encode(q->csr_pem, q->csr_len, q->validity_sec, &body, &rq.body_len);
	if (r < 0)
		return err_fmt(err, errlen, r, "%s: cannot encode the request", q->address);
	rq.body = body;
	if (q->fo->deadline_sec)
		rq.deadline = now_sec() + q->fo->deadline_sec;
	struct call *c = calloc(1, sizeof(*c));
	struct outcome oc = { 0 };
	unsigned attempts = 0;
	if (!c)
		return err_fmt(err, errlen, -ENOMEM, "%s: out of memory", q->address);
	sb_init(&c->body);
	r = attempts_run(&rq, c, &oc, &attempts);
	if (r == 0) {
		char derr[256] = "";
		r = istioca_response_decode((const uint8_t *)c->body.buf, c->body.len, chain_pem, chain_len, derr, sizeof(derr));
		if (r < 0)
			oc_set(&oc, r, false, "%s", derr);
	}
	sb_free(&c->body);
	free(c);
	if (r == 0)
		return 0;
	if (attempts > 1)
		return err_fmt(err, errlen, r, "%s: %s (%u attempts)", q->address, oc.msg, attempts);
	return err_fmt(err, errlen, r, "%s: %s", q->address, oc.msg);
}
