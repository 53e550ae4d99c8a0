/* SPDX-License-Identifier: Apache-2.0 */
/* The record of a run: /var/lib/meshboot/status.json under --root, what
 * `meshboot status` prints.  The file is written by status_write (atomic,
 * 0644, deterministic key order, every string sanitised and escaped) and
 * read back by a strict reader that accepts only what the writer produces
 * (any JSON whitespace and \u escapes aside).  A run writes it at its start
 * (state running) and at its end; while it runs it holds the run lock
 * (runonce.h), which is how `status` tells a live run from a dead one. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "util.h"

#define STATUS_PATH "/var/lib/meshboot/status.json"
#define STATUS_MAX_FILE (64u * 1024u)  /* the reader refuses larger files */
#define STATUS_MAX_DEPTH 4             /* and deeper nesting */
#define STATUS_MAX_STEPS 32
#define STATUS_MAX_NOTES 8
#define STATUS_MAX_TIME 1e11           /* seconds; larger values are clamped (writer) or refused (reader) */

/* `meshboot status` exit codes. */
enum status_exit {
	STATUS_EXIT_DONE = 0,
	STATUS_EXIT_FAILED = 1,   /* the last run failed, or died (state running, lock not held) */
	STATUS_EXIT_RUNNING = 2,  /* a run holds the run lock now */
	STATUS_EXIT_NEVER = 3,    /* no status file, no run */
	STATUS_EXIT_UNKNOWN = 4,  /* the status file is unreadable or malformed (reason on stderr) */
};

enum step_result { STEP_CHANGED, STEP_UNCHANGED, STEP_FAILED, STEP_SKIPPED };

struct step_record {
	char name[32];
	enum step_result result;
	double seconds;
	char error[512];   /* "" unless the step failed (or was skipped, with the reason) */
};

enum run_state { RUN_RUNNING, RUN_DONE, RUN_FAILED };

struct run_status {
	char version[32];       /* meshboot's */
	char stage[16];         /* bake, boot, run, clean */
	char instance_id[128];
	double started, finished;  /* unix time, seconds (finished 0 while running) */
	enum run_state state;
	struct step_record steps[STATUS_MAX_STEPS];
	unsigned n_steps;
	char notes[STATUS_MAX_NOTES][256];
	unsigned n_notes;  /* e.g. "certificate: CSR left for an external signer" */
	/* private to status_step_begin/end: CLOCK_MONOTONIC start of the open
	 * step, 0 when none is open.  Not written to the file. */
	double step_t0;
};

/* Zero st and start a run: meshboot's version, stage, instance id (either
 * may be NULL), started = now, state running. */
void status_init(struct run_status *st, const char *stage, const char *instance_id);
/* Append a note (dropped beyond STATUS_MAX_NOTES; truncated to fit). */
void status_note(struct run_status *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* End the run: finished = now, state done (ok) or failed. */
void status_finish(struct run_status *st, bool ok);

/* Open a step record: name, the CLOCK_MONOTONIC start.  Beyond
 * STATUS_MAX_STEPS steps are not recorded (begin and end do nothing). */
void status_step_begin(struct run_status *st, const char *name);
/* Close the open step with a step's return value: > 0 changed, 0
 * unchanged, < 0 failed (error, or strerror(-r) when NULL), and its
 * duration.  No open step: nothing happens. */
void status_step_end(struct run_status *st, int r, const char *error);
/* Mark a step skipped (duration 0); reason may be NULL. */
void status_step_skip(struct run_status *st, const char *name, const char *reason);

const char *step_result_name(enum step_result r);
const char *run_state_name(enum run_state s);

/* The file's JSON (what status_write writes; deterministic, ends in "\n"). */
int status_render_json(const struct run_status *st, struct strbuf *out);
/* For people: a header line, one line per step, errors and notes.  lock_held
 * tells a live run (state running) from an interrupted one. */
int status_render_text(const struct run_status *st, bool lock_held, struct strbuf *out);

/* Write ROOT/var/lib/meshboot/status.json (creating the directories):
 * 0644 whatever the umask, atomic.  0 or -errno. */
int status_write(const char *root, const struct run_status *st);
/* Parse exactly what status_write produces: at most STATUS_MAX_FILE bytes,
 * nesting STATUS_MAX_DEPTH, every key once, no unknown keys, strings valid
 * UTF-8 that fit their field, no control characters but \n and \t, numbers
 * plain decimals in [0, STATUS_MAX_TIME].  0, or -EBADMSG (st zeroed). */
int status_parse(const char *text, size_t len, struct run_status *st);
/* Read and parse ROOT/var/lib/meshboot/status.json.  -ENOENT when never
 * written, -EBADMSG when malformed or too large, other -errno. */
int status_read(const char *root, struct run_status *st);

/* `meshboot status [--format json]`: print the record to out and return the
 * exit code (enum status_exit).  json prints the file re-serialised (nothing
 * when there is no file).  Reasons for STATUS_EXIT_UNKNOWN go to stderr. */
int status_print(const char *root, bool json, FILE *out);
