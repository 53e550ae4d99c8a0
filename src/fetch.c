/* SPDX-License-Identifier: Apache-2.0 */
#include "fetch.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define MAX_REDIRECTS 5

void hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void fetch_job_init(struct fetch_job *j)
{
	memset(j, 0, sizeof(*j));
	j->fd = -1;
	sb_init(&j->mem);
}

void fetch_job_free(struct fetch_job *j)
{
	sb_free(&j->mem);
}

static double now_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Per-job transfer state. */
struct xfer {
	struct fetch_job *job;
	const struct fetch_opts *o;
	CURL *easy;
	EVP_MD_CTX *md;
	bool active;
	bool done;
	bool reported;            /* hooks->done was called */
	unsigned url;             /* index into job->urls */
	unsigned tries;           /* attempts at this URL */
	double not_before;        /* backoff: earliest start of the next attempt */
	double started, first_byte_at;
	uint64_t offset;          /* resume offset requested in this attempt */
	uint64_t have;            /* bytes in the sink */
	char validator[256];      /* ETag or Last-Modified of the partial content */
	/* response of the current attempt (the last header block) */
	long status;
	char etag[200], last_modified[100];
	bool range_ok, range_checked, headers_done;
	uint64_t content_range_start;
	bool has_content_range;
	double retry_after;
	struct curl_slist *headers;
	const char *abort_reason;  /* set by a callback that stopped the transfer */
	enum fetch_status abort_status;
};

static void err_add(struct fetch_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void err_add(struct fetch_job *j, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* the same failure again: count it instead of repeating it */
	size_t l = strlen(j->err), ml = strlen(msg);
	const char *last = j->err;
	for (const char *p = j->err; (p = strstr(p, "; ")); p += 2)
		last = p + 2;
	if (l && strncmp(last, msg, ml) == 0 && (last[ml] == '\0' || strncmp(last + ml, " (x", 3) == 0)) {
		unsigned times = last[ml] ? (unsigned)strtoul(last + ml + 3, NULL, 10) : 1;
		snprintf(j->err + (last - j->err) + ml, sizeof(j->err) - (size_t)(last - j->err) - ml, " (x%u)", times + 1);
		return;
	}
	if (l && l + 2 < sizeof(j->err)) {
		j->err[l++] = ';';
		j->err[l++] = ' ';
		j->err[l] = '\0';
	}
	snprintf(j->err + l, sizeof(j->err) - l, "%s", msg);
}

static const EVP_MD *md_for(enum digest_alg a)
{
	return a == DIGEST_SHA512 ? EVP_sha512() : EVP_sha256();
}

/* Forget the partial content: back to zero bytes. */
static int sink_reset(struct xfer *x)
{
	struct fetch_job *j = x->job;
	x->have = 0;
	x->validator[0] = '\0';
	if (j->fd >= 0) {
		if (ftruncate(j->fd, 0) < 0 || lseek(j->fd, 0, SEEK_SET) < 0)
			return -errno;
	} else {
		sb_free(&j->mem);
		sb_init(&j->mem);
	}
	if (!EVP_DigestInit_ex(x->md, md_for(j->alg), NULL))
		return -EIO;
	return 0;
}

static size_t on_header(char *buf, size_t size, size_t n, void *userdata)
{
	struct xfer *x = userdata;
	size_t len = size * n;
	char line[512];
	size_t l = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
	memcpy(line, buf, l);
	line[l] = '\0';
	while (l && (line[l - 1] == '\r' || line[l - 1] == '\n'))
		line[--l] = '\0';
	if (str_has_prefix(line, "HTTP/")) {
		/* a new response (after a redirect or 100-continue): start over */
		const char *sp = strchr(line, ' ');
		x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		x->etag[0] = x->last_modified[0] = '\0';
		x->has_content_range = false;
		x->retry_after = 0;
		return len;
	}
	char *colon = strchr(line, ':');
	if (!colon)
		return len;
	*colon = '\0';
	const char *v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	if (strcasecmp(line, "ETag") == 0)
		snprintf(x->etag, sizeof(x->etag), "%s", v);
	else if (strcasecmp(line, "Last-Modified") == 0)
		snprintf(x->last_modified, sizeof(x->last_modified), "%s", v);
	else if (strcasecmp(line, "Content-Range") == 0) {
		/* "bytes START-END/TOTAL" */
		unsigned long long start;
		if (sscanf(v, "bytes %llu-", &start) == 1) {
			x->content_range_start = start;
			x->has_content_range = true;
		}
	} else if (strcasecmp(line, "Retry-After") == 0) {
		char *end;
		long s = strtol(v, &end, 10);
		if (end != v && s >= 0)
			x->retry_after = (double)(s > 3600 ? 3600 : s);
	}
	return len;
}

/* Bytes of the body: checked against the resume offset and the size cap,
 * hashed, written.  Returning less than given aborts the transfer. */
static size_t on_data(char *buf, size_t size, size_t n, void *userdata)
{
	struct xfer *x = userdata;
	struct fetch_job *j = x->job;
	size_t len = size * n;
	if (x->status >= 300)
		return len;  /* an error page or a redirect's body: not content */
	if (!x->range_checked) {
		x->range_checked = true;
		if (!x->first_byte_at)
			x->first_byte_at = now_sec();
		curl_off_t cl = -1;
		uint64_t cap0 = j->size ? j->size : j->max_size;
		if (curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK && cl >= 0 &&
		    (uint64_t)cl + (x->status == 206 ? x->offset : 0) > cap0) {
			x->abort_reason = j->size ? "announces more bytes than the declared size" : "announces more bytes than the size cap";
			x->abort_status = FETCH_MISMATCH;
			return 0;
		}
		if (x->offset > 0) {
			if (x->status == 206) {
				if (!x->has_content_range || x->content_range_start != x->offset) {
					x->abort_reason = "the server answered a range request with the wrong range";
					x->abort_status = FETCH_TRANSIENT;
					return 0;
				}
			} else if (sink_reset(x) < 0) {
				/* 200 (or a file: URL): the whole content again */
				x->abort_reason = "cannot rewind the download";
				x->abort_status = FETCH_PERMANENT;
				return 0;
			}
		}
	}
	uint64_t cap = j->size ? j->size : j->max_size;
	if (x->have + len > cap) {
		x->abort_reason = j->size ? "more bytes than the declared size" : "larger than the size cap";
		x->abort_status = FETCH_MISMATCH;
		return 0;
	}
	if (j->alg != DIGEST_NONE && !EVP_DigestUpdate(x->md, buf, len)) {
		x->abort_reason = "digest computation failed";
		x->abort_status = FETCH_PERMANENT;
		return 0;
	}
	if (j->fd >= 0) {
		for (size_t done = 0; done < len; ) {
			ssize_t w = write(j->fd, buf + done, len - done);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				x->abort_reason = "cannot write the download to disk";
				x->abort_status = FETCH_PERMANENT;
				return 0;
			}
			done += (size_t)w;
		}
	} else {
		sb_append(&j->mem, buf, len);
		if (sb_ok(&j->mem) < 0) {
			x->abort_reason = "out of memory";
			x->abort_status = FETCH_PERMANENT;
			return 0;
		}
	}
	x->have += len;
	j->bytes = x->have;
	return len;
}

/* The first-byte timeout: libcurl has none for HTTP, so watch progress. */
static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	(void)dltotal; (void)ultotal; (void)ulnow;
	struct xfer *x = userdata;
	if (dlnow > 0 || x->first_byte_at)
		return 0;
	if (now_sec() - x->started > (double)x->o->first_byte_timeout_sec + (double)x->o->connect_timeout_sec) {
		x->abort_reason = "no answer from the server in time";
		x->abort_status = FETCH_TRANSIENT;
		return 1;
	}
	return 0;
}

static int attempt_start(struct xfer *x, CURLM *multi)
{
	struct fetch_job *j = x->job;
	const struct fetch_opts *o = x->o;
	const char *url = j->urls[x->url];
	CURL *e = curl_easy_init();
	if (!e)
		return -ENOMEM;
	x->easy = e;
	x->status = 0;
	x->etag[0] = x->last_modified[0] = '\0';
	x->range_checked = x->has_content_range = false;
	x->retry_after = 0;
	x->abort_reason = NULL;
	x->first_byte_at = 0;
	x->started = now_sec();
	x->offset = 0;
	curl_slist_free_all(x->headers);
	x->headers = NULL;
	/* Resume a partial download only with a validator to make it safe. */
	if (x->have > 0 && x->validator[0]) {
		char range[64], ifr[300];
		x->offset = x->have;
		snprintf(range, sizeof(range), "%llu-", (unsigned long long)x->have);
		curl_easy_setopt(e, CURLOPT_RANGE, range);
		snprintf(ifr, sizeof(ifr), "If-Range: %s", x->validator);
		x->headers = curl_slist_append(NULL, ifr);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
	} else if (x->have > 0 && sink_reset(x) < 0) {
		return -EIO;
	}
	bool pinned = j->pinned;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http,file");
	/* Redirects: a few, to https only (or http when the bytes are pinned),
	 * never to file: from the network. */
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)MAX_REDIRECTS);
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, pinned ? "https,http" : "https");
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->ca_bundle) {
		/* in addition to the system's CAs */
		curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_bundle);
		curl_easy_setopt(e, CURLOPT_CAPATH, "/etc/ssl/certs");
	}
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)o->connect_timeout_sec);
	if (o->low_speed_limit) {
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, (long)o->low_speed_limit);
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)o->low_speed_time_sec);
	}
	uint64_t cap = j->size ? j->size : j->max_size;
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)(cap - (x->offset < cap ? x->offset : cap)));
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(e, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "meshboot/" "0");
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, NULL);  /* the bytes as stored: they are digested */
	x->tries++;
	j->attempts++;
	x->active = true;
	if (curl_multi_add_handle(multi, e) != CURLM_OK) {
		x->active = false;
		return -EIO;
	}
	return 0;
}

/* Next attempt: same URL after a backoff, or the next mirror. */
static void attempt_next(struct xfer *x, bool transient, double deadline)
{
	struct fetch_job *j = x->job;
	const struct fetch_opts *o = x->o;
	if (transient && x->tries <= o->retries) {
		/* full jitter: uniform in [0, min(cap, base * 2^n)) */
		double cap = (double)o->backoff_base_ms / 1000.0;
		for (unsigned i = 1; i < x->tries && cap < (double)o->backoff_max_ms / 1000.0; i++)
			cap *= 2;
		if (cap > (double)o->backoff_max_ms / 1000.0)
			cap = (double)o->backoff_max_ms / 1000.0;
		uint32_t r = 0;
		if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
			r = (uint32_t)random();
		double delay = cap * ((double)r / 4294967296.0);
		if (x->retry_after > delay)
			delay = x->retry_after;
		x->not_before = now_sec() + delay;
		if (x->not_before < deadline)
			return;
	}
	/* this URL is done with: the next mirror starts from zero */
	x->url++;
	x->tries = 0;
	x->not_before = 0;
	if (x->have > 0)
		sink_reset(x);
	if (x->url >= j->n_urls) {
		x->done = true;
		j->url_index = j->n_urls - 1;
	}
}

/* One transfer finished: classify it. */
static void attempt_done(struct xfer *x, CURLcode rc, double deadline)
{
	struct fetch_job *j = x->job;
	const char *url = j->urls[x->url];
	long status = 0;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	char *scheme = NULL;
	curl_easy_getinfo(x->easy, CURLINFO_SCHEME, &scheme);
	bool is_http = scheme && strncasecmp(scheme, "http", 4) == 0;
	x->active = false;

	/* keep a validator for resuming this content */
	if (x->etag[0] && x->etag[0] != 'W')
		snprintf(x->validator, sizeof(x->validator), "%s", x->etag);
	else if (x->last_modified[0])
		snprintf(x->validator, sizeof(x->validator), "%s", x->last_modified);
	else
		x->validator[0] = '\0';

	/* A connection that broke after exactly the declared size (a server
	 * announcing more than it has) is judged by its digest, not retried. */
	bool complete = j->size && x->have == j->size && (rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR);
	if (rc == CURLE_FILESIZE_EXCEEDED && !x->abort_reason) {
		x->abort_reason = j->size ? "announces more bytes than the declared size" : "announces more bytes than the size cap";
		x->abort_status = FETCH_MISMATCH;
	}
	if (complete || (rc == CURLE_OK && (!is_http || status == 200 || status == 206))) {
		if (j->size && x->have != j->size) {
			err_add(j, "%s: %llu bytes, the declared size is %llu", url, (unsigned long long)x->have,
			        (unsigned long long)j->size);
			j->status = FETCH_MISMATCH;
			attempt_next(x, false, deadline);
			return;
		}
		if (j->alg != DIGEST_NONE) {
			uint8_t d[EVP_MAX_MD_SIZE];
			unsigned dl = 0;
			EVP_DigestFinal_ex(x->md, d, &dl);
			hex_encode(d, dl, j->actual);
			if (strcmp(j->actual, j->hex) != 0) {
				err_add(j, "%s: %s mismatch: expected %s, got %s", url,
				        j->alg == DIGEST_SHA512 ? "sha512" : "sha256", j->hex, j->actual);
				j->status = FETCH_MISMATCH;
				x->validator[0] = '\0';
				attempt_next(x, false, deadline);
				return;
			}
		}
		j->status = FETCH_OK;
		j->bytes = x->have;
		j->url_index = x->url;
		/* what went wrong before (another mirror's bad bytes) stays visible */
		snprintf(j->warn, sizeof(j->warn), "%s", j->err);
		j->err[0] = '\0';
		x->done = true;
		return;
	}

	bool transient;
	enum fetch_status st = FETCH_TRANSIENT;
	if (x->abort_reason) {
		err_add(j, "%s: %s", url, x->abort_reason);
		st = x->abort_status;
		transient = st == FETCH_TRANSIENT;
		if (st == FETCH_TRANSIENT && strstr(x->abort_reason, "wrong range"))
			sink_reset(x);
	} else if (rc == CURLE_OK && status == 416 && x->offset > 0) {
		/* the resume point is past what the server now has: start over */
		err_add(j, "%s: HTTP 416 to a resume at byte %llu", url, (unsigned long long)x->offset);
		sink_reset(x);
		transient = true;
	} else if (rc == CURLE_OK) {
		err_add(j, "%s: HTTP %ld", url, status);
		transient = status >= 500 || status == 429 || status == 408;
		st = transient ? FETCH_TRANSIENT : FETCH_PERMANENT;
	} else {
		switch (rc) {
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_TOO_MANY_REDIRECTS:
		case CURLE_URL_MALFORMAT:
		case CURLE_FILE_COULDNT_READ_FILE:
		case CURLE_REMOTE_ACCESS_DENIED:
		case CURLE_RANGE_ERROR:
			transient = false;
			st = FETCH_PERMANENT;
			break;
		default:
			transient = true;
		}
		if (rc == CURLE_UNSUPPORTED_PROTOCOL)
			err_add(j, "%s: %s (a redirect to a scheme meshboot refuses?)", url, curl_easy_strerror(rc));
		else
			err_add(j, "%s: %s", url, curl_easy_strerror(rc));
		if (rc == CURLE_RANGE_ERROR)
			sink_reset(x);
	}
	/* Without a validator a partial download cannot be resumed safely. */
	if (x->have > 0 && !x->validator[0])
		sink_reset(x);
	j->status = st;
	attempt_next(x, transient, deadline);
}

int fetch_run(struct fetch_job *jobs, unsigned n, const struct fetch_opts *o, const struct fetch_hooks *hooks)
{
	static bool curl_ready;
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -EIO;
		curl_ready = true;
	}
	double last_report = 0;
	struct xfer *xs = calloc(n ? n : 1, sizeof(*xs));
	CURLM *multi = curl_multi_init();
	int r = 0;
	if (!xs || !multi) {
		r = -ENOMEM;
		goto out;
	}
	double t0 = now_sec(), deadline = t0 + o->deadline_sec;
	for (unsigned i = 0; i < n; i++) {
		xs[i].job = &jobs[i];
		xs[i].o = o;
		xs[i].md = EVP_MD_CTX_new();
		if (!xs[i].md || !EVP_DigestInit_ex(xs[i].md, md_for(jobs[i].alg), NULL)) {
			r = -ENOMEM;
			goto out;
		}
		jobs[i].status = FETCH_TRANSIENT;
		jobs[i].err[0] = '\0';
		if (jobs[i].n_urls == 0) {
			xs[i].done = true;
			jobs[i].status = FETCH_PERMANENT;
			err_add(&jobs[i], "no URL");
		}
		if (jobs[i].fd >= 0 && (ftruncate(jobs[i].fd, 0) < 0 || lseek(jobs[i].fd, 0, SEEK_SET) < 0)) {
			r = -errno;
			goto out;
		}
	}
	for (;;) {
		unsigned active = 0, waiting = 0;
		double now = now_sec(), next_wake = deadline;
		/* start what may start */
		for (unsigned i = 0; i < n; i++) {
			struct xfer *x = &xs[i];
			if (x->done || x->active)
				continue;
			if (now >= deadline) {
				err_add(x->job, "deadline of %u s reached", o->deadline_sec);
				x->job->status = FETCH_TRANSIENT;
				x->done = true;
				continue;
			}
			waiting++;
			if (x->not_before > now) {
				if (x->not_before < next_wake)
					next_wake = x->not_before;
				continue;
			}
			unsigned running = 0;
			for (unsigned k = 0; k < n; k++)
				running += xs[k].active;
			if (running >= o->concurrency)
				continue;
			if (attempt_start(x, multi) < 0) {
				err_add(x->job, "%s: cannot start the transfer", x->job->urls[x->url]);
				x->job->status = FETCH_PERMANENT;
				x->done = true;
			}
		}
		for (unsigned i = 0; i < n; i++)
			active += xs[i].active;
		if (!active && !waiting)
			break;
		int still = 0;
		curl_multi_perform(multi, &still);
		CURLMsg *m;
		int left;
		bool finished = false;
		while ((m = curl_multi_info_read(multi, &left))) {
			finished = true;
			if (m->msg != CURLMSG_DONE)
				continue;
			struct xfer *x = NULL;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			CURLcode rc = m->data.result;
			attempt_done(x, rc, deadline);
			curl_multi_remove_handle(multi, x->easy);
			curl_easy_cleanup(x->easy);
			x->easy = NULL;
			x->job->seconds = now_sec() - t0;
		}
		/* the deadline also ends transfers in flight */
		if (now_sec() >= deadline) {
			for (unsigned i = 0; i < n; i++) {
				struct xfer *x = &xs[i];
				if (!x->active)
					continue;
				curl_multi_remove_handle(multi, x->easy);
				curl_easy_cleanup(x->easy);
				x->easy = NULL;
				x->active = false;
				x->done = true;
				err_add(x->job, "%s: deadline of %u s reached", x->job->urls[x->url], o->deadline_sec);
				x->job->status = FETCH_TRANSIENT;
			}
			continue;
		}
		for (unsigned i = 0; hooks && hooks->done && i < n; i++) {
			if (xs[i].done && !xs[i].reported) {
				xs[i].reported = true;
				hooks->done(&jobs[i], i, hooks->data);
			}
		}
		if (hooks && hooks->progress && now_sec() - last_report >= 0.25) {
			last_report = now_sec();
			for (unsigned i = 0; i < n; i++) {
				curl_off_t cl = -1;
				if (xs[i].easy && curl_easy_getinfo(xs[i].easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK &&
				    cl > 0)
					jobs[i].expected = (uint64_t)cl + xs[i].offset;
				jobs[i].running = xs[i].active;
			}
			hooks->progress(jobs, n, false, hooks->data);
		}
		/* attempts that just ended may have set a (short) backoff */
		next_wake = deadline;
		for (unsigned i = 0; i < n; i++) {
			const struct xfer *x = &xs[i];
			if (x->done || x->active)
				continue;
			double t = x->not_before > now_sec() ? x->not_before : now_sec();
			if (t < next_wake)
				next_wake = t;
		}
		if (finished)
			continue;  /* something ended: start the next at once, no wait */
		long timeout_ms = (long)((next_wake - now_sec()) * 1000.0);
		if (timeout_ms > 200 || timeout_ms < 0)
			timeout_ms = timeout_ms < 0 ? 0 : 200;
		curl_multi_poll(multi, NULL, 0, (int)timeout_ms, NULL);
	}
	for (unsigned i = 0; i < n; i++) {
		jobs[i].running = false;
		if (jobs[i].status != FETCH_OK)
			r++;
		if (hooks && hooks->done && !xs[i].reported) {
			xs[i].reported = true;
			hooks->done(&jobs[i], i, hooks->data);
		}
	}
	if (hooks && hooks->progress)
		hooks->progress(jobs, n, true, hooks->data);
out:
	for (unsigned i = 0; xs && i < n; i++) {
		if (xs[i].easy) {
			curl_multi_remove_handle(multi, xs[i].easy);
			curl_easy_cleanup(xs[i].easy);
		}
		curl_slist_free_all(xs[i].headers);
		EVP_MD_CTX_free(xs[i].md);
	}
	free(xs);
	if (multi)
		curl_multi_cleanup(multi);
	return r;
}
