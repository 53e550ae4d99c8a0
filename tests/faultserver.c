/* SPDX-License-Identifier: Apache-2.0 */
/*
 * faultserver: a fault-injecting HTTP/1.1 server for the fetch tests
 * (tests/integration/httpfix.sh).
 *
 *   faultserver --root DIR --log FILE [--port N] [--port-file FILE]
 *               [--https-base URL] [--slow-ms MS] [--max-time SEC]
 *
 * Listens on 127.0.0.1 and [::1] only (IPv6 when the host has it), port N
 * (0, the default: a free port, the same on both), and writes the port to
 * --port-file (atomically: a reader sees the whole number or no file).
 * Serves the regular files under DIR; the first path component of a
 * request selects how, the rest names the file: GET /MODE/NAME.
 *
 *   ok          the file, with ETag, Last-Modified, Accept-Ranges and a
 *               single Range (bytes=N-, N-M, -S; 416 past the end),
 *               If-Range (an ETag, strong comparison, or the exact
 *               Last-Modified date) and HEAD; keep-alive
 *   wrong       other bytes, same length (the middle byte inverted)
 *   truncate    every response ends after half its body, the full
 *               Content-Length announced, then the connection is closed
 *   reset       half the body, then a TCP reset (every time)
 *   503xN       503 for the first N requests for this path, then as ok
 *   flaky50     503 for half the requests, at random, the others as ok
 *               (the fleet benchmark)
 *   429         429 with "Retry-After: 2" for the first request, then as ok
 *   norange     the first request truncated at half (Accept-Ranges and an
 *               ETag announced); after that Range is ignored: 200, all of it
 *   flip        other content on every request (variant K: the middle
 *               byte xor K, a new ETag and Last-Modified), never the file's;
 *               the first response truncated at half; Range/If-Range as ok
 *   endless     200, chunked, the file repeated without end (stops at 1 GiB
 *               or when the client goes away)
 *   liar-short  Content-Length half the body, then the whole body, close
 *   liar-long   Content-Length twice the body plus 1 MiB, the body, close
 *   slow        200 with the full Content-Length, then one byte every
 *               --slow-ms (default 2000) milliseconds
 *   redir-http  302 to http://127.0.0.1:PORT/ok/NAME
 *   redir-https 302 to URL/NAME, URL from --https-base (500 without it)
 *   redir-file  302 to file:///etc/passwd
 *   redir-loop  302 to itself
 *   redirN      (N 1..99) N redirects in a row, then /ok/NAME: 302 to
 *               /redir(N-1)/NAME, from redir1 to /ok/NAME
 *   hang        no response: waits until the client goes away (logged as
 *               status 0)
 *   404         404
 *   halfrange   the first request truncated at half; after that a Range
 *               request for bytes=N- gets a 206 whose Content-Range (and
 *               body) starts at N/2, not N; without Range 200, all of it
 *   resume      the first request truncated at half; after that as ok
 *   resume-lm   as resume, without an ETag: If-Range must carry the date
 *
 * "The first request", "per path": requests are counted per request target
 * (query string included, so ?k=1 starts a fresh count), across
 * connections.  Every response is logged to FILE as one line:
 *
 *   MS METHOD PATH range=<Range or -> if-range=<If-Range or -> -> STATUS BYTES
 *
 * MS: CLOCK_MONOTONIC milliseconds when the request arrived; BYTES: body
 * bytes actually sent.  The line is written when the response ends, so
 * lines of concurrent requests may be out of MS order.
 *
 * One process per connection (fork), at most MAX_CHILDREN at once; counters
 * live in a shared mapping.  Children die with the server (PR_SET_PDEATHSIG)
 * and after CHILD_SECONDS; the server exits on SIGTERM/SIGINT or after
 * --max-time seconds (default 600), ending its children first.
 * Exit status: 0 ok, 1 failure, 2 usage.
 */
#include <arpa/inet.h>
#include <sys/random.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHILDREN 64
#define CHILD_SECONDS 120          /* a connection's whole life */
#define IO_TIMEOUT_SEC 10          /* waiting for a request, or for the client to read */
#define REQ_MAX 16384              /* request line and headers */
#define FILE_MAX (256u << 20)      /* largest file served */
#define ENDLESS_MAX (1ull << 30)   /* the endless body stops here */
#define COUNTERS 1024
#define PATH_MAX_LEN 512

static const char *prog = "faultserver";

static void warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warnx(const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s[%ld]: %s\n", prog, (long)getpid(), msg);
}

/* ---- options and shared state ------------------------------------------- */

static int root_fd = -1;
static int log_fd = -1;
static unsigned short port;
static const char *https_base;
static unsigned slow_ms = 2000;

struct counter {
	char path[PATH_MAX_LEN];
	unsigned count;
};
struct counters {
	int lock;
	unsigned used;
	struct counter c[COUNTERS];
};
static struct counters *shm;

static volatile sig_atomic_t stop_flag;   /* server: SIGTERM/SIGINT */
static volatile sig_atomic_t expired;     /* child: SIGALRM */

static void on_stop(int sig) { (void)sig; stop_flag = 1; }
static void on_alarm(int sig) { (void)sig; expired = 1; }

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	/* an alarm interrupts it: the caller checks `expired` */
	nanosleep(&ts, NULL);
}

/* How many requests for PATH came before this one; counts this one. */
static unsigned counter_bump(const char *path)
{
	unsigned before = UINT_MAX;
	while (__atomic_exchange_n(&shm->lock, 1, __ATOMIC_ACQUIRE))
		sched_yield();
	for (unsigned i = 0; i < shm->used; i++)
		if (strcmp(shm->c[i].path, path) == 0) {
			before = shm->c[i].count++;
			goto out;
		}
	if (shm->used < COUNTERS && strlen(path) < PATH_MAX_LEN) {
		struct counter *c = &shm->c[shm->used++];
		memcpy(c->path, path, strlen(path) + 1);
		c->count = 1;
		before = 0;
	}
out:
	__atomic_store_n(&shm->lock, 0, __ATOMIC_RELEASE);
	return before;
}

/* ---- I/O ---------------------------------------------------------------- */

/* Sends all of buf; returns the bytes that went out (fewer on an error). */
static size_t send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	size_t done = 0;
	while (done < len && !expired) {
		ssize_t n = send(fd, p + done, len - done, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		done += (size_t)n;
	}
	return done;
}

static void log_line(uint64_t t, const char *method, const char *path, const char *range,
		     const char *if_range, int status, uint64_t bytes)
{
	char line[3 * PATH_MAX_LEN + 200];
	int n = snprintf(line, sizeof line, "%" PRIu64 " %s %s range=%s if-range=%s -> %d %" PRIu64 "\n",
			 t, method, path, range, if_range, status, bytes);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line) {
		n = (int)sizeof line - 1;
		line[n - 1] = '\n';
	}
	/* O_APPEND and one write: lines from concurrent children do not mix */
	if (write(log_fd, line, (size_t)n) != n)
		warnx("cannot write the log: %s", strerror(errno));
}

/* Printable, no spaces lost: control and non-ASCII bytes become '?'. */
static void sanitize(char *s, size_t max)
{
	size_t i;
	for (i = 0; s[i] && i < max; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			s[i] = '?';
	s[i < max ? i : max] = '\0';
}

/* ---- requests ----------------------------------------------------------- */

struct request {
	char method[16];
	char target[PATH_MAX_LEN];
	char range[256];          /* "" when absent */
	char if_range[256];
	bool close;               /* Connection: close, or HTTP/1.0 */
	bool bad;
};

struct conn {
	int fd;
	char buf[REQ_MAX];
	size_t len;               /* bytes in buf */
};

static void copy_value(char *dst, size_t size, const char *v)
{
	while (*v == ' ' || *v == '\t')
		v++;
	size_t n = strlen(v);
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n >= size)
		n = size - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

/* Reads one request head.  1: got one, 0: the client closed or timed out. */
static int read_request(struct conn *c, struct request *r)
{
	memset(r, 0, sizeof *r);
	char *end;
	for (;;) {
		end = NULL;
		for (size_t i = 0; i + 1 < c->len; i++) {
			if (c->buf[i] == '\n' && c->buf[i + 1] == '\n') {
				end = c->buf + i + 2;
				break;
			}
			if (i + 3 < c->len && memcmp(c->buf + i, "\r\n\r\n", 4) == 0) {
				end = c->buf + i + 4;
				break;
			}
		}
		if (end)
			break;
		if (c->len == sizeof c->buf) {
			r->bad = true;
			return 1;
		}
		ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
		if (n < 0 && errno == EINTR && !expired)
			continue;
		if (n <= 0)
			return 0;
		c->len += (size_t)n;
	}
	size_t headlen = (size_t)(end - c->buf);
	char head[REQ_MAX + 1];
	memcpy(head, c->buf, headlen);
	head[headlen] = '\0';
	memmove(c->buf, end, c->len - headlen);
	c->len -= headlen;

	char *save = NULL;
	char *line = strtok_r(head, "\r\n", &save);
	if (!line) {
		r->bad = true;
		return 1;
	}
	char ver[16] = "";
	char method[sizeof r->method], target[sizeof r->target];
	_Static_assert(sizeof method == 16 && sizeof target == 512, "the sscanf widths below");
	int got = sscanf(line, "%15s %511s %15s", method, target, ver);
	if (got != 3 || strncmp(ver, "HTTP/1.", 7) != 0 || target[0] != '/') {
		r->bad = true;
		return 1;
	}
	memcpy(r->method, method, sizeof method);
	memcpy(r->target, target, sizeof target);
	r->close = strcmp(ver, "HTTP/1.0") == 0;
	while ((line = strtok_r(NULL, "\r\n", &save))) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		const char *v = colon + 1;
		if (strcasecmp(line, "Range") == 0)
			copy_value(r->range, sizeof r->range, v);
		else if (strcasecmp(line, "If-Range") == 0)
			copy_value(r->if_range, sizeof r->if_range, v);
		else if (strcasecmp(line, "Connection") == 0) {
			if (strcasestr(v, "close"))
				r->close = true;
		} else if (strcasecmp(line, "Content-Length") == 0 || strcasecmp(line, "Transfer-Encoding") == 0) {
			/* no request bodies here */
			char val[32];
			copy_value(val, sizeof val, v);
			if (strcmp(val, "0") != 0)
				r->bad = true;
		}
	}
	sanitize(r->range, sizeof r->range - 1);
	sanitize(r->if_range, sizeof r->if_range - 1);
	sanitize(r->target, sizeof r->target - 1);
	sanitize(r->method, sizeof r->method - 1);
	return 1;
}

/* ---- responses ---------------------------------------------------------- */

struct file {
	unsigned char *data;
	size_t size;
	struct timespec mtime;
};

/* NAME: letters, digits, "._-/", no empty, "." or ".." component. */
static bool name_ok(const char *name)
{
	if (!*name || *name == '/')
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-/", *p))
			return false;
	for (const char *p = name; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n;
		if (*p == '/')
			p++;
	}
	return true;
}

/* 0 ok, -1 no such file. */
static int file_load(const char *name, struct file *f)
{
	memset(f, 0, sizeof *f);
	int fd = openat(root_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > FILE_MAX) {
		close(fd);
		return -1;
	}
	f->size = (size_t)st.st_size;
	f->mtime = st.st_mtim;
	f->data = malloc(f->size ? f->size : 1);
	if (!f->data) {
		close(fd);
		return -1;
	}
	size_t got = 0;
	while (got < f->size) {
		ssize_t n = read(fd, f->data + got, f->size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got != f->size) {
		free(f->data);
		f->data = NULL;
		return -1;
	}
	return 0;
}

static void http_date(time_t t, char *out, size_t size)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	/* the C locale's names, as HTTP wants them */
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const mons[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	snprintf(out, size, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
		 mons[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 206: return "Partial Content";
	case 302: return "Found";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 416: return "Range Not Satisfiable";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

/* A short response with a text body (errors, redirects).  Returns the body
 * bytes sent. */
static uint64_t send_simple(int fd, const struct request *r, int status, const char *extra, bool close_it)
{
	char body[128];
	int blen = snprintf(body, sizeof body, "%d %s\n", status, reason(status));
	char head[4096];
	int hlen = snprintf(head, sizeof head,
			    "HTTP/1.1 %d %s\r\nServer: faultserver\r\nContent-Type: text/plain\r\n"
			    "Content-Length: %d\r\n%s%s\r\n",
			    status, reason(status), blen, extra ? extra : "", close_it ? "Connection: close\r\n" : "");
	if (hlen < 0 || (size_t)hlen >= sizeof head)
		return 0;
	if (send_all(fd, head, (size_t)hlen) != (size_t)hlen)
		return 0;
	if (strcmp(r->method, "HEAD") == 0)
		return 0;
	return send_all(fd, body, (size_t)blen);
}

/* Range "bytes=A-B" against SIZE: 1 a satisfiable range in [*from, *to],
 * 0 ignore it (absent, malformed, several), -1 unsatisfiable. */
static int parse_range(const char *s, size_t size, size_t *from, size_t *to)
{
	if (!*s || strncasecmp(s, "bytes=", 6) != 0 || strchr(s, ','))
		return 0;
	s += 6;
	while (*s == ' ')
		s++;
	char *e;
	if (*s == '-') {
		if (!isdigit((unsigned char)s[1]))
			return 0;
		unsigned long long n = strtoull(s + 1, &e, 10);
		if (*e)
			return 0;
		if (n == 0 || size == 0)
			return -1;
		*from = n >= size ? 0 : size - (size_t)n;
		*to = size - 1;
		return 1;
	}
	if (!isdigit((unsigned char)*s))
		return 0;
	unsigned long long a = strtoull(s, &e, 10);
	if (*e != '-')
		return 0;
	s = e + 1;
	unsigned long long b = ULLONG_MAX;
	if (*s) {
		if (!isdigit((unsigned char)*s))
			return 0;
		b = strtoull(s, &e, 10);
		if (*e || b < a)
			return 0;
	}
	if (a >= size)
		return -1;
	*from = (size_t)a;
	*to = b >= size ? size - 1 : (size_t)b;
	return 1;
}

enum cut { CUT_NONE, CUT_HALF_CLOSE, CUT_HALF_RESET };

struct plan {
	int status;                 /* 200 or 206 as decided by the range logic */
	unsigned variant;           /* 0: the file; else the middle byte xor variant */
	bool etag;                  /* send an ETag */
	bool honour_range;
	bool wrong_start;           /* halfrange: Content-Range starts at N/2 */
	enum cut cut;
	bool slow;
	bool endless;
	int liar;                   /* -1 short, 1 long */
};

/* Serves F per PLAN.  Returns the body bytes sent; *keep: the connection
 * may carry another request. */
static uint64_t send_file(int fd, const struct request *r, struct file *f, struct plan *p, bool *keep,
			  int *status_out)
{
	*keep = false;
	if (p->variant && f->size)
		f->data[f->size / 2] ^= (unsigned char)p->variant;
	char etag[96], lm[64];
	time_t mt = f->mtime.tv_sec + (time_t)p->variant;
	snprintf(etag, sizeof etag, "\"%zx-%llx-%lx-%u\"", f->size, (unsigned long long)mt,
		 (unsigned long)f->mtime.tv_nsec, p->variant);
	http_date(mt, lm, sizeof lm);

	size_t from = 0, to = f->size ? f->size - 1 : 0;
	int status = 200;
	if (p->honour_range && r->range[0]) {
		bool cond = true;
		if (r->if_range[0]) {
			if (r->if_range[0] == '"')
				cond = p->etag && strcmp(r->if_range, etag) == 0;
			else if (r->if_range[0] == 'W' && r->if_range[1] == '/')
				cond = false;
			else
				cond = strcmp(r->if_range, lm) == 0;
		}
		if (cond) {
			int k = parse_range(r->range, f->size, &from, &to);
			if (k < 0) {
				char extra[64];
				snprintf(extra, sizeof extra, "Content-Range: bytes */%zu\r\n", f->size);
				*status_out = 416;
				uint64_t n = send_simple(fd, r, 416, extra, r->close);
				*keep = !r->close;
				return n;
			}
			if (k > 0)
				status = 206;
		}
	}
	if (status == 206 && p->wrong_start && from > 0)
		from /= 2;
	size_t body = f->size ? to - from + 1 : 0;
	*status_out = status;

	char clen[96] = "", crange[96] = "", etag_h[128] = "";
	if (p->endless)
		snprintf(clen, sizeof clen, "Transfer-Encoding: chunked\r\n");
	else {
		uint64_t announced = body;
		if (p->liar < 0)
			announced = body / 2;
		else if (p->liar > 0)
			announced = (uint64_t)body * 2 + (1u << 20);
		snprintf(clen, sizeof clen, "Content-Length: %" PRIu64 "\r\n", announced);
	}
	if (status == 206)
		snprintf(crange, sizeof crange, "Content-Range: bytes %zu-%zu/%zu\r\n", from, to, f->size);
	if (p->etag)
		snprintf(etag_h, sizeof etag_h, "ETag: %s\r\n", etag);
	bool closing = r->close || p->cut != CUT_NONE || p->liar || p->endless || p->slow;
	char head[1024];
	int hlen = snprintf(head, sizeof head,
			    "HTTP/1.1 %d %s\r\nServer: faultserver\r\nContent-Type: application/octet-stream\r\n"
			    "%s%sAccept-Ranges: bytes\r\n%sLast-Modified: %s\r\n%s\r\n",
			    status, reason(status), clen, crange, etag_h, lm, closing ? "Connection: close\r\n" : "");
	if (hlen < 0 || (size_t)hlen >= sizeof head || send_all(fd, head, (size_t)hlen) != (size_t)hlen)
		return 0;
	if (strcmp(r->method, "HEAD") == 0) {
		*keep = !closing;
		return 0;
	}

	const unsigned char *data = f->data + from;
	if (p->endless) {
		uint64_t sent = 0;
		size_t chunk = f->size ? f->size : 1;
		if (chunk > 16384)
			chunk = 16384;
		size_t off = 0;
		while (!expired && sent < ENDLESS_MAX) {
			unsigned char buf[16384 + 32];
			int n = snprintf((char *)buf, 32, "%zx\r\n", chunk);
			for (size_t i = 0; i < chunk; i++) {
				buf[(size_t)n + i] = f->size ? f->data[off] : 'x';
				off = f->size ? (off + 1) % f->size : 0;
			}
			memcpy(buf + (size_t)n + chunk, "\r\n", 2);
			size_t total = (size_t)n + chunk + 2;
			if (send_all(fd, buf, total) != total)
				break;
			sent += chunk;
		}
		return sent;
	}
	if (p->slow) {
		uint64_t sent = 0;
		for (size_t i = 0; i < body && !expired; i++) {
			if (send_all(fd, data + i, 1) != 1)
				break;
			sent++;
			if (i + 1 < body)
				sleep_ms(slow_ms);
		}
		return sent;
	}
	size_t want = body;
	if (p->cut != CUT_NONE)
		want = body / 2;
	uint64_t sent = send_all(fd, data, want);
	if (p->cut == CUT_HALF_RESET) {
		/* let the half reach the client, then reset */
		sleep_ms(200);
		struct linger lg = { 1, 0 };
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	}
	*keep = !closing && sent == want;
	return sent;
}

/* Answers one request.  Returns whether the connection may go on. */
static bool respond(int fd, const struct request *r, uint64_t t)
{
	const char *range = r->range[0] ? r->range : "-";
	const char *if_range = r->if_range[0] ? r->if_range : "-";
	int status = 0;
	uint64_t bytes = 0;
	bool keep = !r->close;

	if (r->bad) {
		status = 400;
		bytes = send_simple(fd, r, status, NULL, true);
		log_line(t, r->method[0] ? r->method : "-", r->target[0] ? r->target : "-", range, if_range,
			 status, bytes);
		return false;
	}
	unsigned before = counter_bump(r->target);
	/* MODE and NAME: /MODE/NAME[?query] */
	char mode[64] = "", name[PATH_MAX_LEN] = "";
	const char *s = r->target + 1;
	size_t mlen = strcspn(s, "/");
	if (mlen < sizeof mode && s[mlen] == '/') {
		memcpy(mode, s, mlen);
		size_t nlen = strcspn(s + mlen + 1, "?#");
		memcpy(name, s + mlen + 1, nlen);
		name[nlen] = '\0';
	}
	bool get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
	unsigned n;
	char extra[2 * PATH_MAX_LEN + 300];

	if (!get) {
		status = 405;
		bytes = send_simple(fd, r, status, "Allow: GET, HEAD\r\n", r->close);
		goto done;
	}
	if (!mode[0] || !name_ok(name)) {
		status = 404;
		bytes = send_simple(fd, r, status, NULL, r->close);
		goto done;
	}

	/* status-only modes */
	if (strcmp(mode, "hang") == 0) {
		/* until the client closes (or the connection's time is up) */
		char sink[512];
		while (!expired) {
			ssize_t k = recv(fd, sink, sizeof sink, 0);
			if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK))
				break;
		}
		keep = false;
		goto done;
	}
	if (strcmp(mode, "404") == 0) {
		status = 404;
		bytes = send_simple(fd, r, status, NULL, r->close);
		goto done;
	}
	if (sscanf(mode, "503x%u", &n) == 1 && before < n) {
		status = 503;
		bytes = send_simple(fd, r, status, NULL, r->close);
		goto done;
	}
	if (strcmp(mode, "flaky50") == 0) {
		uint8_t coin = 0;
		if (getrandom(&coin, 1, 0) == 1 && (coin & 1)) {
			status = 503;
			bytes = send_simple(fd, r, status, NULL, r->close);
			goto done;
		}
	}
	if (strcmp(mode, "429") == 0 && before == 0) {
		status = 429;
		bytes = send_simple(fd, r, status, "Retry-After: 2\r\n", r->close);
		goto done;
	}
	extra[0] = '\0';
	if (strcmp(mode, "redir-http") == 0)
		snprintf(extra, sizeof extra, "Location: http://127.0.0.1:%u/ok/%s\r\n", port, name);
	else if (strcmp(mode, "redir-https") == 0 && https_base)
		snprintf(extra, sizeof extra, "Location: %s/%s\r\n", https_base, name);
	else if (strcmp(mode, "redir-file") == 0)
		snprintf(extra, sizeof extra, "Location: file:///etc/passwd\r\n");
	else if (strcmp(mode, "redir-loop") == 0)
		snprintf(extra, sizeof extra, "Location: http://127.0.0.1:%u%s\r\n", port, r->target);
	else if (sscanf(mode, "redir%u", &n) == 1 && n >= 1 && n < 100 && isdigit((unsigned char)mode[5])) {
		if (n == 1)
			snprintf(extra, sizeof extra, "Location: http://127.0.0.1:%u/ok/%s\r\n", port, name);
		else
			snprintf(extra, sizeof extra, "Location: http://127.0.0.1:%u/redir%u/%s\r\n", port, n - 1, name);
	} else if (strcmp(mode, "redir-https") == 0) {
		status = 500;
		bytes = send_simple(fd, r, status, NULL, r->close);
		goto done;
	}
	if (extra[0]) {
		status = 302;
		bytes = send_simple(fd, r, status, extra, r->close);
		goto done;
	}

	struct plan p = { .etag = true, .honour_range = true };
	if (strcmp(mode, "ok") == 0 || strncmp(mode, "503x", 4) == 0 || strcmp(mode, "429") == 0 ||
	    strcmp(mode, "flaky50") == 0)
		;
	else if (strcmp(mode, "wrong") == 0)
		p.variant = 0xff;
	else if (strcmp(mode, "truncate") == 0)
		p.cut = CUT_HALF_CLOSE;
	else if (strcmp(mode, "reset") == 0)
		p.cut = CUT_HALF_RESET;
	else if (strcmp(mode, "norange") == 0) {
		if (before == 0)
			p.cut = CUT_HALF_CLOSE;
		else
			p.honour_range = false;
	} else if (strcmp(mode, "flip") == 0) {
		p.variant = before % 255 + 1;
		if (before == 0)
			p.cut = CUT_HALF_CLOSE;
	} else if (strcmp(mode, "endless") == 0)
		p.endless = true;
	else if (strcmp(mode, "liar-short") == 0)
		p.liar = -1;
	else if (strcmp(mode, "liar-long") == 0)
		p.liar = 1;
	else if (strcmp(mode, "slow") == 0)
		p.slow = true;
	else if (strcmp(mode, "halfrange") == 0) {
		if (before == 0)
			p.cut = CUT_HALF_CLOSE;
		else
			p.wrong_start = true;
	} else if (strcmp(mode, "resume") == 0 || strcmp(mode, "resume-lm") == 0) {
		if (before == 0)
			p.cut = CUT_HALF_CLOSE;
		p.etag = strcmp(mode, "resume") == 0;
	} else {
		status = 404;
		bytes = send_simple(fd, r, status, NULL, r->close);
		goto done;
	}
	/* halfrange: every Range gets the wrong 206, If-Range or not */
	struct request plain = *r;
	if (p.wrong_start)
		plain.if_range[0] = '\0';
	struct file f;
	if (file_load(name, &f) < 0) {
		status = 404;
		bytes = send_simple(fd, r, status, NULL, r->close);
		goto done;
	}
	bytes = send_file(fd, &plain, &f, &p, &keep, &status);
	free(f.data);
done:
	log_line(t, r->method, r->target, range, if_range, status, bytes);
	return keep && !r->close;
}

static void serve(int fd)
{
	struct timeval tv = { IO_TIMEOUT_SEC, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct conn *c = malloc(sizeof *c);
	if (!c)
		return;
	c->fd = fd;
	c->len = 0;
	struct request r;
	while (!expired && read_request(c, &r) == 1) {
		if (!respond(fd, &r, now_ms()))
			break;
	}
	free(c);
}

/* ---- the server --------------------------------------------------------- */

static int listen_on(int family, unsigned short want, unsigned short *got)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof ss);
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(want);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof *a;
	} else {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(want);
		a->sin6_addr = in6addr_loopback;
		len = sizeof *a;
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 1024) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		close(fd);
		return -1;
	}
	*got = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
				       : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

static int write_port_file(const char *path)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof tmp)
		return -1;
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%u\n", port);
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: %s --root DIR --log FILE [--port N] [--port-file FILE] [--https-base URL]\n"
			"       [--slow-ms MS] [--max-time SEC]\n", prog);
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *e;
	errno = 0;
	unsigned long v = strtoul(s, &e, 10);
	if (!isdigit((unsigned char)*s) || *e || errno || v > max)
		return false;
	*out = v;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "root", required_argument, NULL, 'r' },
		{ "log", required_argument, NULL, 'l' },
		{ "port-file", required_argument, NULL, 'f' },
		{ "https-base", required_argument, NULL, 's' },
		{ "slow-ms", required_argument, NULL, 'w' },
		{ "max-time", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *root = NULL, *logpath = NULL, *port_file = NULL;
	unsigned long want_port = 0, max_time = 600, v;
	int o;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'p':
			if (!parse_uint(optarg, 65535, &want_port)) {
				usage();
				return 2;
			}
			break;
		case 'r': root = optarg; break;
		case 'l': logpath = optarg; break;
		case 'f': port_file = optarg; break;
		case 's': https_base = optarg; break;
		case 'w':
			if (!parse_uint(optarg, 600000, &v)) {
				usage();
				return 2;
			}
			slow_ms = (unsigned)v;
			break;
		case 't':
			if (!parse_uint(optarg, 86400, &max_time) || max_time == 0) {
				usage();
				return 2;
			}
			break;
		case 'h': usage(); return 0;
		default: usage(); return 2;
		}
	}
	if (!root || !logpath || optind != argc) {
		usage();
		return 2;
	}
	if (https_base && strlen(https_base) > 200) {
		warnx("--https-base is too long");
		return 2;
	}
	int status = 1;
	int lfd[2] = { -1, -1 };
	pid_t kids[MAX_CHILDREN];
	unsigned nkids = 0;

	root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0) {
		warnx("%s: %s", root, strerror(errno));
		return 1;
	}
	log_fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (log_fd < 0) {
		warnx("%s: %s", logpath, strerror(errno));
		close(root_fd);
		return 1;
	}
	shm = mmap(NULL, sizeof *shm, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED) {
		warnx("mmap: %s", strerror(errno));
		shm = NULL;
		goto out;
	}
	memset(shm, 0, sizeof *shm);

	/* the same port on 127.0.0.1 and ::1; a random one may be taken on ::1 */
	for (int tries = 0; tries < 20; tries++) {
		unsigned short p4 = 0, p6 = 0;
		lfd[0] = listen_on(AF_INET, (unsigned short)want_port, &p4);
		if (lfd[0] < 0) {
			warnx("listen on 127.0.0.1:%lu: %s", want_port, strerror(errno));
			goto out;
		}
		lfd[1] = listen_on(AF_INET6, p4, &p6);
		if (lfd[1] >= 0 || errno == EADDRNOTAVAIL || errno == EAFNOSUPPORT) {
			if (lfd[1] < 0)
				warnx("no IPv6 loopback (%s): 127.0.0.1 only", strerror(errno));
			port = p4;
			break;
		}
		int e = errno;
		close(lfd[0]);
		lfd[0] = -1;
		if (want_port != 0 || e != EADDRINUSE) {
			warnx("listen on [::1]:%u: %s", p4, strerror(e));
			goto out;
		}
	}
	if (lfd[0] < 0) {
		warnx("no port free on both 127.0.0.1 and ::1");
		goto out;
	}
	if (port_file && write_port_file(port_file) < 0) {
		warnx("%s: %s", port_file, strerror(errno));
		goto out;
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	uint64_t end = now_ms() + (uint64_t)max_time * 1000u;
	pid_t parent = getpid();
	while (!stop_flag && now_ms() < end) {
		/* reap */
		for (unsigned i = 0; i < nkids;) {
			if (waitpid(kids[i], NULL, WNOHANG) == kids[i])
				kids[i] = kids[--nkids];
			else
				i++;
		}
		if (nkids == MAX_CHILDREN) {
			sleep_ms(20);
			continue;
		}
		struct pollfd pfd[2] = { { lfd[0], POLLIN, 0 }, { lfd[1], POLLIN, 0 } };
		int n = poll(pfd, lfd[1] >= 0 ? 2 : 1, 100);
		if (n <= 0)
			continue;
		for (int i = 0; i < 2 && nkids < MAX_CHILDREN; i++) {
			if (lfd[i] < 0 || !(pfd[i].revents & POLLIN))
				continue;
			int cfd = accept4(lfd[i], NULL, NULL, SOCK_CLOEXEC);
			if (cfd < 0)
				continue;
			pid_t pid = fork();
			if (pid < 0) {
				warnx("fork: %s", strerror(errno));
				close(cfd);
				continue;
			}
			if (pid == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				if (getppid() != parent)
					_exit(0);
				close(lfd[0]);
				if (lfd[1] >= 0)
					close(lfd[1]);
				struct sigaction ca;
				memset(&ca, 0, sizeof ca);
				ca.sa_handler = on_alarm; /* no SA_RESTART: blocking calls return */
				sigaction(SIGALRM, &ca, NULL);
				ca.sa_handler = SIG_DFL;
				sigaction(SIGTERM, &ca, NULL);
				sigaction(SIGINT, &ca, NULL);
				alarm(CHILD_SECONDS);
				serve(cfd);
				close(cfd);
				_exit(0);
			}
			kids[nkids++] = pid;
			close(cfd);
		}
	}
	status = 0;
out:
	/* end the children this server started, then wait for them */
	for (unsigned i = 0; i < nkids; i++)
		kill(kids[i], SIGTERM);
	for (int w = 0; w < 40 && nkids; w++) {
		for (unsigned i = 0; i < nkids;) {
			if (waitpid(kids[i], NULL, WNOHANG) == kids[i])
				kids[i] = kids[--nkids];
			else
				i++;
		}
		if (nkids)
			sleep_ms(50);
	}
	for (unsigned i = 0; i < nkids; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	for (int i = 0; i < 2; i++)
		if (lfd[i] >= 0)
			close(lfd[i]);
	if (shm)
		munmap(shm, sizeof *shm);
	close(log_fd);
	close(root_fd);
	return status;
}
