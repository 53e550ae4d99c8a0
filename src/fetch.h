/* SPDX-License-Identifier: Apache-2.0 */
/* The fetcher: libcurl's multi interface, several downloads at once, each
 * verified (SHA-256/512) while its bytes arrive.  Library code: results and
 * messages go into the jobs; it never logs (the progress line on a tty is
 * the caller's choice through fetch_progress). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "util.h"

enum fetch_status {
	FETCH_OK,
	FETCH_MISMATCH,     /* digest, size or signature: the bytes are wrong */
	FETCH_PERMANENT,    /* 4xx, TLS verification, refused redirect, too large */
	FETCH_TRANSIENT,    /* retries or the deadline ran out */
};

struct fetch_job {
	/* in */
	const char *name;               /* for messages: "pilot 1.0.6" */
	const char *urls[1 + MAX_MIRRORS]; /* tried in turn */
	unsigned n_urls;
	enum digest_alg alg;            /* DIGEST_NONE: not checked (signed content) */
	char hex[129];                  /* expected digest, lower-case */
	uint64_t size;                  /* exact size if known, 0 otherwise */
	uint64_t max_size;              /* cap while receiving */
	bool pinned;                    /* content is pinned: http and redirects to http allowed */
	int fd;                         /* sink: a file opened O_RDWR (truncated and rewritten on restarts); -1: memory */
	/* out */
	struct strbuf mem;              /* sink when fd < 0 */
	enum fetch_status status;
	char actual[129];               /* the digest of what was received (on a mismatch) */
	uint64_t bytes;                 /* so far, then in all */
	uint64_t expected;              /* Content-Length, when the server says (for progress) */
	bool running;                   /* a transfer is under way (for progress) */
	unsigned attempts;              /* over all URLs */
	unsigned url_index;             /* the URL that succeeded (or failed last) */
	double seconds;
	char err[1024];                 /* all failures, newest last, each naming its URL */
	char warn[1024];                /* on success: the failures on the way (e.g. a bad mirror) */
};

/* Download every job, at most o->concurrency at a time, with retries
 * (capped exponential backoff with full jitter, Retry-After honoured),
 * mirrors in turn, resume by Range/If-Range, the size cap, timeouts and
 * o->deadline_sec for the whole call; hooks (may be NULL) see progress and
 * each job as it finishes.  Returns 0 when all are FETCH_OK,
 * else the number of failed jobs (see each job), or a negative errno when
 * the fetcher itself could not run. */
struct fetch_hooks {
	/* about four times a second, and once at the end (final) */
	void (*progress)(const struct fetch_job *jobs, unsigned n, bool final, void *data);
	/* as soon as a job is finished (verified, or failed for good) */
	void (*done)(struct fetch_job *job, unsigned index, void *data);
	void *data;
};
int fetch_run(struct fetch_job *jobs, unsigned n, const struct fetch_opts *o, const struct fetch_hooks *hooks);

void fetch_job_init(struct fetch_job *j);
void fetch_job_free(struct fetch_job *j);

/* Lower-case hex of a digest. */
void hex_encode(const uint8_t *in, size_t n, char *out);
