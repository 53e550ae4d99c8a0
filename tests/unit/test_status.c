/* SPDX-License-Identifier: Apache-2.0 */
/* The record of a run (status.c) and run-once / the run lock (runonce.c).
 * Each test works in its own scratch root under /tmp, removed afterwards. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "runonce.h"
#include "status.h"
#include "util.h"

/* ---- scratch roots --------------------------------------------------------- */

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	remove(path);
	return 0;
}

static int setup(void **state)
{
	char *root = strdup("/tmp/meshboot-status-XXXXXX");
	if (!root || !mkdtemp(root))
		return -1;
	*state = root;
	return 0;
}

static int teardown(void **state)
{
	nftw(*state, rm_cb, 64, FTW_DEPTH | FTW_PHYS);
	free(*state);
	return 0;
}

static void pf(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void pf(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < len);
}

/* Write text to root/rel, creating the parent directories. */
static void put_file(const char *root, const char *rel, const void *data, size_t len)
{
	char path[PATH_MAX], dir[PATH_MAX];
	pf(path, sizeof(path), "%s/%s", root, rel);
	pf(dir, sizeof(dir), "%s", rel);
	char *slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		int d = root_mkdir_p(root, dir, 0755);
		assert_true(d >= 0);
		close(d);
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void put_text(const char *root, const char *rel, const char *text)
{
	put_file(root, rel, text, strlen(text));
}

/* Run argv (no shell); its exit status. */
static int run_argv(char *const argv[])
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void assert_valid_json(const char *path)
{
	char *const argv[] = { "python3", "-c", "import json,sys; json.load(open(sys.argv[1], encoding='utf-8'))",
	                       (char *)path, NULL };
	assert_int_equal(run_argv(argv), 0);
}

/* ---- records ------------------------------------------------------------------- */

#define T0 1700000000.0  /* 2023-11-14T22:13:20Z */

static void fixed_record(struct run_status *st)
{
	memset(st, 0, sizeof(*st));
	strcpy(st->version, "0.1.0");
	strcpy(st->stage, "run");
	strcpy(st->instance_id, "i-0abc");
	st->started = T0;
	st->finished = T0 + 12.345;
	st->state = RUN_FAILED;
	st->n_steps = 3;
	strcpy(st->steps[0].name, "fetch");
	st->steps[0].result = STEP_CHANGED;
	st->steps[0].seconds = 0.42;
	strcpy(st->steps[1].name, "redirect");
	st->steps[1].result = STEP_FAILED;
	st->steps[1].seconds = 0.013;
	strcpy(st->steps[1].error, "iptables: line1\nline2 \"quoted\" \\ caf\xc3\xa9");
	strcpy(st->steps[2].name, "certificate");
	st->steps[2].result = STEP_SKIPPED;
	strcpy(st->steps[2].error, "no CA configured");
	st->n_notes = 1;
	strcpy(st->notes[0], "certificate: CSR left for an external signer");
}

static void assert_same_record(const struct run_status *a, const struct run_status *b)
{
	assert_string_equal(a->version, b->version);
	assert_string_equal(a->stage, b->stage);
	assert_string_equal(a->instance_id, b->instance_id);
	assert_int_equal(a->state, b->state);
	assert_true(fabs(a->started - b->started) < 0.0006);
	assert_true(fabs(a->finished - b->finished) < 0.0006);
	assert_int_equal(a->n_steps, b->n_steps);
	for (unsigned i = 0; i < a->n_steps; i++) {
		assert_string_equal(a->steps[i].name, b->steps[i].name);
		assert_int_equal(a->steps[i].result, b->steps[i].result);
		assert_true(fabs(a->steps[i].seconds - b->steps[i].seconds) < 0.0006);
		assert_string_equal(a->steps[i].error, b->steps[i].error);
	}
	assert_int_equal(a->n_notes, b->n_notes);
	for (unsigned i = 0; i < a->n_notes; i++)
		assert_string_equal(a->notes[i], b->notes[i]);
}

static char *render(const struct run_status *st, bool json)
{
	struct strbuf sb;
	sb_init(&sb);
	assert_int_equal(json ? status_render_json(st, &sb) : status_render_text(st, false, &sb), 0);
	return sb_steal(&sb);
}

/* ---- write / read ------------------------------------------------------------------ */

static void test_roundtrip(void **state)
{
	const char *root = *state;
	struct run_status a, b;
	fixed_record(&a);
	mode_t old = umask(077);  /* 0644 whatever the umask */
	int r = status_write(root, &a);
	umask(old);
	assert_int_equal(r, 0);
	char path[PATH_MAX];
	pf(path, sizeof(path), "%s%s", root, STATUS_PATH);
	struct stat s;
	assert_int_equal(lstat(path, &s), 0);
	assert_true(S_ISREG(s.st_mode));
	assert_int_equal(s.st_mode & 07777, 0644);
	assert_valid_json(path);
	assert_int_equal(status_read(root, &b), 0);
	assert_same_record(&a, &b);

	/* deterministic: the same record, the same bytes; rewriting replaces */
	char *text = NULL;
	size_t len = 0;
	assert_int_equal(file_read_all(path, 1 << 20, &text, &len), 0);
	char *again = render(&b, true);
	assert_string_equal(text, again);
	free(again);
	assert_non_null(strstr(text, "\"version\": \"0.1.0\",\n  \"stage\": \"run\",\n  \"instance_id\": \"i-0abc\",\n"
	                             "  \"state\": \"failed\",\n  \"started\": 1700000000.000,\n"
	                             "  \"finished\": 1700000012.345,\n  \"steps\": [\n"
	                             "    {\"name\": \"fetch\", \"result\": \"changed\", \"seconds\": 0.420},\n"));
	free(text);
	b.state = RUN_DONE;
	assert_int_equal(status_write(root, &b), 0);
	struct run_status c;
	assert_int_equal(status_read(root, &c), 0);
	assert_int_equal(c.state, RUN_DONE);

	/* an empty record too */
	memset(&a, 0, sizeof(a));
	assert_int_equal(status_write(root, &a), 0);
	assert_valid_json(path);
	assert_int_equal(status_read(root, &b), 0);
	assert_same_record(&a, &b);
	/* nothing left behind but the file */
	char dir[PATH_MAX];
	pf(dir, sizeof(dir), "%s/var/lib/meshboot", root);
	int n = 0;
	DIR *d = opendir(dir);
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d)); )
		n += e->d_name[0] != '.';
	closedir(d);
	assert_int_equal(n, 1);
}

/* Every field full of what JSON and terminals choke on: still a file the
 * reader accepts, under the size cap, sanitised the same way each time. */
static void test_worst_case(void **state)
{
	const char *root = *state;
	struct run_status *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	assert_non_null(a);
	assert_non_null(b);
	static const char junk[] = "\"\\\n\t\x01\x1b[31m\x7f\xff\xc3\xa9\xc2\x9b\xe2\x82";
	char *fields[] = { a->version, a->stage, a->instance_id };
	size_t caps[] = { sizeof(a->version), sizeof(a->stage), sizeof(a->instance_id) };
	for (size_t f = 0; f < 3; f++)
		for (size_t i = 0; i < caps[f]; i++)  /* no NUL at all: the writer must bound itself */
			fields[f][i] = junk[i % (sizeof(junk) - 1)];
	a->n_steps = 1000;  /* clamped */
	a->n_notes = 1000;
	a->started = -5;
	a->finished = 1e300;
	a->state = (enum run_state)77;
	for (unsigned i = 0; i < STATUS_MAX_STEPS; i++) {
		for (size_t k = 0; k < sizeof(a->steps[i].name); k++)
			a->steps[i].name[k] = junk[k % (sizeof(junk) - 1)];
		for (size_t k = 0; k < sizeof(a->steps[i].error); k++)
			a->steps[i].error[k] = "\"\\\n"[k % 3];
		a->steps[i].seconds = NAN;
		a->steps[i].result = (enum step_result)(i % 6);
	}
	for (unsigned i = 0; i < STATUS_MAX_NOTES; i++)
		memset(a->notes[i], '"', sizeof(a->notes[i]));
	char *json = render(a, true);
	assert_true(strlen(json) <= STATUS_MAX_FILE);
	assert_int_equal(status_write(root, a), 0);
	char path[PATH_MAX];
	pf(path, sizeof(path), "%s%s", root, STATUS_PATH);
	assert_valid_json(path);
	assert_int_equal(status_read(root, b), 0);
	assert_int_equal(b->n_steps, STATUS_MAX_STEPS);
	assert_int_equal(b->n_notes, STATUS_MAX_NOTES);
	assert_int_equal(b->state, RUN_FAILED);
	assert_true(b->started == 0 && b->finished == STATUS_MAX_TIME);
	assert_int_equal(strlen(b->version), sizeof(b->version) - 1);
	assert_int_equal(strlen(b->steps[0].error), sizeof(b->steps[0].error) - 1);
	assert_null(strchr(b->instance_id, '\x1b'));
	assert_int_equal(b->steps[4].result, STEP_FAILED);  /* out of range: failed */
	char *again = render(b, true);
	assert_string_equal(json, again);  /* sanitising is idempotent */
	/* the text rendering has no control characters but newlines */
	char *text = render(b, false);
	for (const char *p = text; *p; p++)
		assert_true((unsigned char)*p >= 0x20 || *p == '\n');
	assert_null(strstr(text, "\xc2\x9b"));
	free(text);
	free(again);
	free(json);
	free(a);
	free(b);
}

/* ---- the strict reader ---------------------------------------------------------------- */

#define GOOD_HEAD "{\"version\": \"0.1.0\", \"stage\": \"run\", \"instance_id\": \"i-1\", \"state\": \"done\", " \
	"\"started\": 1.5, \"finished\": 2, "
#define GOOD GOOD_HEAD "\"steps\": [{\"name\": \"a\", \"result\": \"changed\", \"seconds\": 0.1}], \"notes\": [\"n\"]}"

static void test_reader_accepts(void **state)
{
	(void)state;
	struct run_status st;
	static const char *const good[] = {
		GOOD,
		GOOD "\n\n",
		" \t\r\n" GOOD,
		/* any order, compact, escapes a re-serialiser may use */
		"{\"notes\":[],\"steps\":[],\"finished\":0,\"started\":0,\"state\":\"running\",\"instance_id\":\"\","
		"\"stage\":\"\",\"version\":\"\\u0030\\/x\"}",
		GOOD_HEAD "\"steps\": [{\"seconds\": 0, \"error\": \"\\u00e9\\ud83d\\ude00\\n\\t\", \"result\": \"failed\", "
		"\"name\": \"x\"}], \"notes\": []}",
	};
	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		int r = status_parse(good[i], strlen(good[i]), &st);
		if (r != 0)
			fail_msg("refused good[%zu]: %s", i, good[i]);
	}
	assert_int_equal(status_parse(good[4], strlen(good[4]), &st), 0);
	assert_string_equal(st.steps[0].error, "\xc3\xa9\xf0\x9f\x98\x80\n\t");
	assert_int_equal(status_parse(good[3], strlen(good[3]), &st), 0);
	assert_string_equal(st.version, "0/x");
	assert_int_equal(status_parse(GOOD, strlen(GOOD), &st), 0);
	assert_true(st.started == 1.5 && st.finished == 2.0 && st.steps[0].seconds == 0.1);
}

static void refuse(const char *what, const char *text, size_t len)
{
	struct run_status st;
	memset(&st, 0x55, sizeof(st));
	int r = status_parse(text, len, &st);
	if (r != -EBADMSG)
		fail_msg("accepted (%d) %s: %.200s", r, what, text);
	/* refused means zeroed */
	static const struct run_status zero;
	assert_memory_equal(&st, &zero, sizeof(st));
}

static void test_reader_refuses(void **state)
{
	(void)state;
	static const struct { const char *what, *text; } bad[] = {
		{ "empty", "" },
		{ "not an object", "[]" },
		{ "null", "null" },
		{ "empty object", "{}" },
		{ "missing key", "{\"version\": \"x\"}" },
		{ "unknown key", GOOD_HEAD "\"steps\": [], \"notes\": [], \"extra\": 1}" },
		{ "unknown step key", GOOD_HEAD "\"steps\": [{\"name\": \"a\", \"result\": \"changed\", \"seconds\": 0, "
		  "\"pid\": 1}], \"notes\": []}" },
		{ "duplicate key", GOOD_HEAD "\"steps\": [], \"notes\": [], \"notes\": []}" },
		{ "missing step key", GOOD_HEAD "\"steps\": [{\"name\": \"a\", \"result\": \"changed\"}], \"notes\": []}" },
		{ "trailing garbage", GOOD "x" },
		{ "two documents", GOOD GOOD },
		{ "trailing comma", GOOD_HEAD "\"steps\": [], \"notes\": [],}" },
		{ "comma in array", GOOD_HEAD "\"steps\": [], \"notes\": [\"a\",]}" },
		{ "BOM", "\xef\xbb\xbf" GOOD },
		{ "comment", "/* */" GOOD },
		{ "string for number", GOOD_HEAD "\"steps\": [{\"name\": \"a\", \"result\": \"changed\", \"seconds\": \"1\"}], "
		  "\"notes\": []}" },
		{ "number for string", "{\"version\": 1, \"stage\": \"run\", \"instance_id\": \"i\", \"state\": \"done\", "
		  "\"started\": 1, \"finished\": 2, \"steps\": [], \"notes\": []}" },
		{ "null for string", "{\"version\": null, \"stage\": \"run\", \"instance_id\": \"i\", \"state\": \"done\", "
		  "\"started\": 1, \"finished\": 2, \"steps\": [], \"notes\": []}" },
		{ "bool for number", GOOD_HEAD "\"steps\": [{\"name\": \"a\", \"result\": \"changed\", \"seconds\": true}], "
		  "\"notes\": []}" },
		{ "object for array", GOOD_HEAD "\"steps\": {}, \"notes\": []}" },
		{ "number in notes", GOOD_HEAD "\"steps\": [], \"notes\": [1]}" },
		{ "unknown state", "{\"version\": \"\", \"stage\": \"\", \"instance_id\": \"\", \"state\": \"ok\", "
		  "\"started\": 1, \"finished\": 2, \"steps\": [], \"notes\": []}" },
		{ "unknown result", GOOD_HEAD "\"steps\": [{\"name\": \"a\", \"result\": \"good\", \"seconds\": 0}], "
		  "\"notes\": []}" },
		{ "negative", GOOD_HEAD "\"steps\": [{\"name\": \"a\", \"result\": \"changed\", \"seconds\": -1}], \"notes\": []}" },
		{ "exponent", GOOD_HEAD "\"steps\": [{\"name\": \"a\", \"result\": \"changed\", \"seconds\": 1e3}], \"notes\": []}" },
		{ "leading zero", GOOD_HEAD "\"steps\": [{\"name\": \"a\", \"result\": \"changed\", \"seconds\": 01}], \"notes\": []}" },
		{ "bare dot", GOOD_HEAD "\"steps\": [{\"name\": \"a\", \"result\": \"changed\", \"seconds\": 1.}], \"notes\": []}" },
		{ "NaN", GOOD_HEAD "\"steps\": [{\"name\": \"a\", \"result\": \"changed\", \"seconds\": NaN}], \"notes\": []}" },
		{ "huge number", GOOD_HEAD "\"steps\": [{\"name\": \"a\", \"result\": \"changed\", \"seconds\": "
		  "100000000001}], \"notes\": []}" },
		{ "long fraction", GOOD_HEAD "\"steps\": [{\"name\": \"a\", \"result\": \"changed\", \"seconds\": "
		  "0.0000000001}], \"notes\": []}" },
		{ "deep nesting", "{\"version\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[" },
		{ "nested step", GOOD_HEAD "\"steps\": [[{\"name\": \"a\", \"result\": \"changed\", \"seconds\": 0}]], "
		  "\"notes\": []}" },
		{ "raw newline in string", GOOD_HEAD "\"steps\": [], \"notes\": [\"a\nb\"]}" },
		{ "escaped NUL", GOOD_HEAD "\"steps\": [], \"notes\": [\"a\\u0000b\"]}" },
		{ "escaped ESC", GOOD_HEAD "\"steps\": [], \"notes\": [\"\\u001b[31m\"]}" },
		{ "escaped CR", GOOD_HEAD "\"steps\": [], \"notes\": [\"a\\rb\"]}" },
		{ "C1 control", GOOD_HEAD "\"steps\": [], \"notes\": [\"\xc2\x9b" "31m\"]}" },
		{ "DEL", GOOD_HEAD "\"steps\": [], \"notes\": [\"\x7f\"]}" },
		{ "lone high surrogate", GOOD_HEAD "\"steps\": [], \"notes\": [\"\\ud83d\"]}" },
		{ "lone low surrogate", GOOD_HEAD "\"steps\": [], \"notes\": [\"\\ude00\"]}" },
		{ "bad escape", GOOD_HEAD "\"steps\": [], \"notes\": [\"\\x41\"]}" },
		{ "short \\u", GOOD_HEAD "\"steps\": [], \"notes\": [\"\\u12\"]}" },
		{ "invalid UTF-8", GOOD_HEAD "\"steps\": [], \"notes\": [\"\xff\"]}" },
		{ "overlong UTF-8", GOOD_HEAD "\"steps\": [], \"notes\": [\"\xc0\xaf\"]}" },
		{ "UTF-8 surrogate", GOOD_HEAD "\"steps\": [], \"notes\": [\"\xed\xa0\x80\"]}" },
		{ "truncated UTF-8", GOOD_HEAD "\"steps\": [], \"notes\": [\"\xe2\x82\"]}" },
		{ "stage too long", "{\"version\": \"\", \"stage\": \"0123456789abcdef\", \"instance_id\": \"\", "
		  "\"state\": \"done\", \"started\": 1, \"finished\": 2, \"steps\": [], \"notes\": []}" },
		{ "single quotes", "{'version': ''}" },
		{ "unquoted key", "{version: \"\"}" },
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		refuse(bad[i].what, bad[i].text, strlen(bad[i].text));

	/* every proper prefix of a good document */
	for (size_t n = 0; n < strlen(GOOD); n++)
		refuse("truncated", GOOD, n);
	/* a NUL anywhere */
	char buf[sizeof(GOOD)];
	for (size_t n = 0; n < strlen(GOOD); n++) {
		memcpy(buf, GOOD, sizeof(GOOD));
		buf[n] = '\0';
		refuse("NUL", buf, strlen(GOOD));
	}

	/* huge strings: one byte over each field, a 1 MiB string, over 64 KiB */
	struct strbuf sb;
	sb_init(&sb);
	sb_puts(&sb, GOOD_HEAD "\"steps\": [], \"notes\": [\"");
	for (int i = 0; i < 256; i++)
		sb_putc(&sb, 'x');
	sb_puts(&sb, "\"]}");
	refuse("note of 256 bytes", sb.buf, sb.len);
	sb_free(&sb);
	sb_puts(&sb, GOOD_HEAD "\"steps\": [], \"notes\": [\"");
	for (int i = 0; i < 255; i++)
		sb_putc(&sb, 'x');
	sb_puts(&sb, "\"]}");
	struct run_status st;
	assert_int_equal(status_parse(sb.buf, sb.len, &st), 0);  /* 255 fits */
	sb_free(&sb);
	sb_puts(&sb, GOOD_HEAD "\"steps\": [], \"notes\": [\"");
	for (int i = 0; i < (1 << 20); i++)
		sb_putc(&sb, 'x');
	sb_puts(&sb, "\"]}");
	refuse("1 MiB string", sb.buf, sb.len);
	sb_free(&sb);
	sb_puts(&sb, GOOD_HEAD "\"steps\": [], \"notes\": []}");
	while (sb.len <= STATUS_MAX_FILE)
		sb_putc(&sb, ' ');
	refuse("over 64 KiB of whitespace", sb.buf, sb.len);
	sb_free(&sb);
	/* 33 steps, 9 notes */
	sb_puts(&sb, GOOD_HEAD "\"steps\": [");
	for (int i = 0; i < 33; i++)
		sb_printf(&sb, "%s{\"name\": \"s\", \"result\": \"changed\", \"seconds\": 0}", i ? "," : "");
	sb_puts(&sb, "], \"notes\": []}");
	refuse("33 steps", sb.buf, sb.len);
	sb_free(&sb);
	sb_puts(&sb, GOOD_HEAD "\"steps\": [], \"notes\": [\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\"]}");
	refuse("9 notes", sb.buf, sb.len);
	sb_free(&sb);
}

/* The same through the file: too large, a directory, a FIFO (no hang),
 * a symlink, never written. */
static void test_read_files(void **state)
{
	const char *root = *state;
	struct run_status st;
	assert_int_equal(status_read(root, &st), -ENOENT);
	char *big = malloc(STATUS_MAX_FILE + 2);
	assert_non_null(big);
	memset(big, ' ', STATUS_MAX_FILE + 2);
	memcpy(big, GOOD, strlen(GOOD));
	put_file(root, STATUS_PATH, big, STATUS_MAX_FILE + 1);
	assert_int_equal(status_read(root, &st), -EBADMSG);
	put_file(root, STATUS_PATH, big, STATUS_MAX_FILE);
	assert_int_equal(status_read(root, &st), 0);
	free(big);
	put_file(root, STATUS_PATH, GOOD "\0", strlen(GOOD) + 1);
	assert_int_equal(status_read(root, &st), -EBADMSG);

	char path[PATH_MAX];
	pf(path, sizeof(path), "%s%s", root, STATUS_PATH);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkfifo(path, 0644), 0);
	assert_int_equal(status_read(root, &st), -EBADMSG);
	assert_int_equal(unlink(path), 0);
	put_text(root, "elsewhere.json", GOOD);
	assert_int_equal(symlink("/elsewhere.json", path), 0);
	assert_true(status_read(root, &st) < 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(status_read(root, &st), -EISDIR);
}

/* ---- output ------------------------------------------------------------------------ */

static void test_text_exact(void **state)
{
	(void)state;
	struct run_status st;
	fixed_record(&st);
	char *text = render(&st, false);
	assert_string_equal(text,
	                    "run failed: instance i-0abc, started 2023-11-14T22:13:20Z, finished 2023-11-14T22:13:32Z "
	                    "(12.35 s), meshboot 0.1.0\n"
	                    "  fetch        changed    0.42 s\n"
	                    "  redirect     failed     0.01 s\n"
	                    "    error: iptables: line1\n"
	                    "           line2 \"quoted\" \\ caf\xc3\xa9\n"
	                    "  certificate  skipped    0.00 s\n"
	                    "    reason: no CA configured\n"
	                    "  note: certificate: CSR left for an external signer\n");
	free(text);
	st.state = RUN_RUNNING;
	st.finished = 0;
	st.n_steps = 1;
	st.n_notes = 0;
	strcpy(st.instance_id, "i-\x1b]0;pwned\x07");
	text = render(&st, false);
	assert_string_equal(text,
	                    "run interrupted: instance i-?]0;pwned?, started 2023-11-14T22:13:20Z, never finished "
	                    "(no process holds the run lock), meshboot 0.1.0\n"
	                    "  fetch        changed    0.42 s\n");
	free(text);
	struct strbuf sb;
	sb_init(&sb);
	assert_int_equal(status_render_text(&st, true, &sb), 0);
	assert_true(str_has_prefix(sb.buf, "run running: instance i-?]0;pwned?, started 2023-11-14T22:13:20Z, meshboot 0.1.0\n"));
	sb_free(&sb);
}

/* A child that takes the run lock and holds it until told (or for hold_ms). */
struct holder {
	pid_t pid;
	int release;  /* write end: close to release */
};

static struct holder hold_lock(const char *root, unsigned hold_ms)
{
	int ready[2], release[2];
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(release), 0);
	struct holder h;
	h.pid = fork();
	assert_true(h.pid >= 0);
	if (h.pid == 0) {
		close(ready[0]);
		close(release[1]);
		char err[256];
		int fd = runonce_lock(root, 0, err, sizeof(err));
		char c = fd >= 0 ? 'y' : 'n';
		if (write(ready[1], &c, 1) != 1)
			_exit(2);
		if (hold_ms) {
			struct timespec ts = { hold_ms / 1000, (long)(hold_ms % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		} else {
			while (read(release[0], &c, 1) > 0)
				;
		}
		_exit(fd >= 0 ? 0 : 1);
	}
	close(ready[1]);
	close(release[0]);
	char c = 0;
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(c, 'y');
	close(ready[0]);
	h.release = release[1];
	return h;
}

static void release_lock(struct holder *h)
{
	close(h->release);
	int st;
	assert_int_equal(waitpid(h->pid, &st, 0), h->pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static int print_to(const char *root, bool json, char **out)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	int code = status_print(root, json, f);
	fclose(f);
	*out = buf;
	return code;
}

static void test_print_codes(void **state)
{
	const char *root = *state;
	char *out;
	/* never ran */
	assert_int_equal(print_to(root, false, &out), STATUS_EXIT_NEVER);
	assert_string_equal(out, "meshboot has not run on this host (no /var/lib/meshboot/status.json)\n");
	free(out);
	assert_int_equal(print_to(root, true, &out), STATUS_EXIT_NEVER);
	assert_string_equal(out, "");
	free(out);
	/* a run starting: lock held, nothing recorded */
	struct holder h = hold_lock(root, 0);
	assert_int_equal(runonce_lock_probe(root), 1);
	assert_int_equal(print_to(root, false, &out), STATUS_EXIT_RUNNING);
	free(out);
	release_lock(&h);
	assert_int_equal(runonce_lock_probe(root), 0);

	/* done, failed */
	struct run_status st;
	fixed_record(&st);
	st.state = RUN_DONE;
	assert_int_equal(status_write(root, &st), 0);
	assert_int_equal(print_to(root, false, &out), STATUS_EXIT_DONE);
	assert_true(str_has_prefix(out, "run done: instance i-0abc"));
	free(out);
	st.state = RUN_FAILED;
	assert_int_equal(status_write(root, &st), 0);
	assert_int_equal(print_to(root, false, &out), STATUS_EXIT_FAILED);
	assert_true(str_has_prefix(out, "run failed: "));
	free(out);
	/* json: the file as written */
	assert_int_equal(print_to(root, true, &out), STATUS_EXIT_FAILED);
	char path[PATH_MAX];
	pf(path, sizeof(path), "%s%s", root, STATUS_PATH);
	char *file = NULL;
	size_t len;
	assert_int_equal(file_read_all(path, 1 << 20, &file, &len), 0);
	assert_string_equal(out, file);
	free(file);
	free(out);

	/* running: a forked child holds the lock */
	st.state = RUN_RUNNING;
	st.finished = 0;
	assert_int_equal(status_write(root, &st), 0);
	h = hold_lock(root, 0);
	assert_int_equal(print_to(root, false, &out), STATUS_EXIT_RUNNING);
	assert_true(str_has_prefix(out, "run running: "));
	free(out);
	assert_int_equal(print_to(root, true, &out), STATUS_EXIT_RUNNING);
	assert_non_null(strstr(out, "\"state\": \"running\""));
	free(out);
	/* a finished record while a new run holds the lock is still "running" */
	st.state = RUN_DONE;
	assert_int_equal(status_write(root, &st), 0);
	assert_int_equal(print_to(root, false, &out), STATUS_EXIT_RUNNING);
	free(out);
	release_lock(&h);

	/* "running" but nobody holds the lock: the run died */
	st.state = RUN_RUNNING;
	assert_int_equal(status_write(root, &st), 0);
	assert_int_equal(print_to(root, false, &out), STATUS_EXIT_FAILED);
	assert_true(str_has_prefix(out, "run interrupted: "));
	free(out);

	/* a file meshboot did not write */
	put_text(root, STATUS_PATH, "{\"state\": \"done\"}");
	assert_int_equal(print_to(root, false, &out), STATUS_EXIT_UNKNOWN);
	assert_string_equal(out, "");
	free(out);
}

/* ---- step helpers ------------------------------------------------------------------- */

static void test_steps(void **state)
{
	(void)state;
	struct run_status st;
	status_init(&st, "boot", "i-9");
	assert_string_equal(st.stage, "boot");
	assert_string_equal(st.instance_id, "i-9");
	assert_true(st.version[0] != '\0');
	assert_int_equal(st.state, RUN_RUNNING);
	assert_true(fabs(st.started - (double)time(NULL)) < 5);

	status_step_begin(&st, "fetch");
	struct timespec ts = { 0, 30 * 1000000L };
	nanosleep(&ts, NULL);
	status_step_end(&st, 1, NULL);
	status_step_begin(&st, "user");
	status_step_end(&st, 0, "ignored for success");
	status_step_begin(&st, "redirect");
	status_step_end(&st, -EACCES, NULL);
	status_step_begin(&st, "units");
	status_step_end(&st, -EIO, "systemctl said no");
	status_step_end(&st, 1, NULL);  /* no open step: nothing */
	status_step_skip(&st, "certificate", "no CA");
	assert_int_equal(st.n_steps, 5);
	assert_int_equal(st.steps[0].result, STEP_CHANGED);
	assert_true(st.steps[0].seconds >= 0.029 && st.steps[0].seconds < 5);
	assert_int_equal(st.steps[1].result, STEP_UNCHANGED);
	assert_string_equal(st.steps[1].error, "");
	assert_int_equal(st.steps[2].result, STEP_FAILED);
	assert_string_equal(st.steps[2].error, strerror(EACCES));
	assert_int_equal(st.steps[3].result, STEP_FAILED);
	assert_string_equal(st.steps[3].error, "systemctl said no");
	assert_int_equal(st.steps[4].result, STEP_SKIPPED);
	assert_string_equal(st.steps[4].error, "no CA");

	/* beyond 32 steps nothing is recorded, nothing overflows */
	for (int i = 0; i < 40; i++) {
		status_step_begin(&st, "a-name-much-longer-than-thirty-one-bytes");
		status_step_end(&st, -EIO, NULL);
	}
	assert_int_equal(st.n_steps, STATUS_MAX_STEPS);
	assert_int_equal(strlen(st.steps[10].name), 31);

	for (int i = 0; i < 10; i++)
		status_note(&st, "note %d: %s", i, "bad \xff byte");
	assert_int_equal(st.n_notes, STATUS_MAX_NOTES);
	assert_string_equal(st.notes[7], "note 7: bad ? byte");
	status_finish(&st, false);
	assert_int_equal(st.state, RUN_FAILED);
	assert_true(st.finished >= st.started);
}

/* ---- instance id ----------------------------------------------------------------------- */

static void test_instance_id(void **state)
{
	const char *root = *state;
	char id[128];
	assert_int_equal(runonce_instance_id(root, id, sizeof(id)), -ENOENT);
	/* machine-id: an image not yet booted has none */
	put_text(root, RUNONCE_MACHINE_ID, "");
	assert_int_equal(runonce_instance_id(root, id, sizeof(id)), -ENOENT);
	put_text(root, RUNONCE_MACHINE_ID, "uninitialized\n");
	assert_int_equal(runonce_instance_id(root, id, sizeof(id)), -ENOENT);
	put_text(root, RUNONCE_MACHINE_ID, "0123456789abcdef0123456789abcdef\n");
	assert_int_equal(runonce_instance_id(root, id, sizeof(id)), 0);
	assert_string_equal(id, "0123456789abcdef0123456789abcdef");
	/* cloud-init's is preferred */
	put_text(root, RUNONCE_CLOUD_INIT_ID, "  i-0123456789abcdef0\r\n");
	assert_int_equal(runonce_instance_id(root, id, sizeof(id)), 0);
	assert_string_equal(id, "i-0123456789abcdef0");
	put_text(root, RUNONCE_CLOUD_INIT_ID, "\n");  /* empty: the machine id */
	assert_int_equal(runonce_instance_id(root, id, sizeof(id)), 0);
	assert_string_equal(id, "0123456789abcdef0123456789abcdef");

	/* hostile ids are hashed: hex, fixed length, valid, distinct */
	static const char *const hostile[] = { "../x", "..", ".", "a/b", "x y", "i-\x1b[31m", "caf\xc3\xa9", "a\0b" };
	char seen[ELEMENTSOF(hostile) + 1][128];
	for (size_t i = 0; i < ELEMENTSOF(hostile); i++) {
		size_t n = i == ELEMENTSOF(hostile) - 1 ? 3 : strlen(hostile[i]);
		put_file(root, RUNONCE_CLOUD_INIT_ID, hostile[i], n);
		assert_int_equal(runonce_instance_id(root, id, sizeof(id)), 0);
		assert_int_equal(strlen(id), 64);
		assert_int_equal(strspn(id, "0123456789abcdef"), 64);
		assert_true(runonce_id_valid(id));
		strcpy(seen[i], id);
		for (size_t k = 0; k < i; k++)
			assert_string_not_equal(seen[k], id);
	}
	char longid[201];
	memset(longid, 'a', 200);
	longid[200] = '\0';
	put_text(root, RUNONCE_CLOUD_INIT_ID, longid);
	assert_int_equal(runonce_instance_id(root, id, sizeof(id)), 0);
	assert_int_equal(strlen(id), 64);
	assert_true(runonce_id_valid(id));
	assert_string_not_equal(id, longid);
	/* 64 valid characters are kept; the output must fit */
	longid[64] = '\0';
	put_text(root, RUNONCE_CLOUD_INIT_ID, longid);
	assert_int_equal(runonce_instance_id(root, id, sizeof(id)), 0);
	assert_string_equal(id, longid);
	assert_int_equal(runonce_instance_id(root, id, 64), -ENOBUFS);
	assert_int_equal(runonce_instance_id(root, id, 65), 0);
	/* a symlink resolves inside the root; a directory is an error */
	char path[PATH_MAX];
	pf(path, sizeof(path), "%s%s", root, RUNONCE_CLOUD_INIT_ID);
	unlink(path);
	assert_int_equal(symlink("/etc/machine-id", path), 0);
	assert_int_equal(runonce_instance_id(root, id, sizeof(id)), 0);
	assert_string_equal(id, "0123456789abcdef0123456789abcdef");
	unlink(path);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(runonce_instance_id(root, id, sizeof(id)), -EISDIR);

	assert_false(runonce_id_valid(""));
	assert_false(runonce_id_valid(".."));
	assert_false(runonce_id_valid("a/b"));
	assert_true(runonce_id_valid("i-0abc_1.2"));
}

/* ---- run once ------------------------------------------------------------------------------- */

static void test_mark_done_clear(void **state)
{
	const char *root = *state;
	assert_int_equal(runonce_done(root, "i-1"), 0);
	assert_int_equal(runonce_clear(root, "i-1"), 0);
	mode_t old = umask(077);
	int r = runonce_mark(root, "i-1");
	umask(old);
	assert_int_equal(r, 0);
	assert_int_equal(runonce_done(root, "i-1"), 1);
	assert_int_equal(runonce_done(root, "i-2"), 0);
	char path[PATH_MAX];
	pf(path, sizeof(path), "%s/var/lib/meshboot/instance/i-1/done", root);
	struct stat s;
	assert_int_equal(lstat(path, &s), 0);
	assert_int_equal(s.st_mode & 07777, 0644);
	char *text = NULL;
	size_t len;
	assert_int_equal(file_read_all(path, 4096, &text, &len), 0);
	assert_true(str_has_prefix(text, "finished=20"));
	assert_non_null(strstr(text, "Z\nversion="));
	assert_true(str_has_suffix(text, "\n"));
	free(text);
	assert_int_equal(runonce_mark(root, "i-1"), 0);  /* again: fine */
	assert_int_equal(runonce_clear(root, "i-1"), 1);
	assert_int_equal(runonce_done(root, "i-1"), 0);
	assert_int_equal(runonce_clear(root, "i-1"), 0);
	pf(path, sizeof(path), "%s/var/lib/meshboot/instance/i-1", root);
	assert_int_equal(lstat(path, &s), -1);  /* the empty directory went too */

	/* ids that are not path components are refused */
	assert_int_equal(runonce_done(root, "../x"), -EINVAL);
	assert_int_equal(runonce_mark(root, "../x"), -EINVAL);
	assert_int_equal(runonce_clear(root, ".."), -EINVAL);
	/* a symlink planted as done does not count */
	put_text(root, "var/lib/meshboot/instance/i-3/x", "");
	pf(path, sizeof(path), "%s/var/lib/meshboot/instance/i-3/done", root);
	assert_int_equal(symlink("x", path), 0);
	assert_true(runonce_done(root, "i-3") < 0);
}

static long ms_between(const struct timespec *a, const struct timespec *b)
{
	return (long)(b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

static void test_lock(void **state)
{
	const char *root = *state;
	char err[256] = "";
	assert_int_equal(runonce_lock_probe(root), 0);  /* no lock file: not running */
	int fd = runonce_lock(root, 0, err, sizeof(err));
	assert_true(fd >= 0);
	char path[PATH_MAX];
	pf(path, sizeof(path), "%s/run/meshboot.lock", root);
	char *text = NULL;
	size_t len;
	assert_int_equal(file_read_all(path, 64, &text, &len), 0);
	char want[32];
	pf(want, sizeof(want), "%ld\n", (long)getpid());
	assert_string_equal(text, want);
	free(text);
	close(fd);

	/* contention: a child holds it; a short wait gives up naming the pid */
	struct holder h = hold_lock(root, 0);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fd = runonce_lock(root, 150, err, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(fd, -EBUSY);
	char pid[32];
	pf(pid, sizeof(pid), "(pid %ld)", (long)h.pid);
	if (!strstr(err, pid))
		fail_msg("no holder pid in \"%s\"", err);
	assert_non_null(strstr(err, "/run/meshboot.lock"));
	long ms = ms_between(&t0, &t1);
	assert_true(ms >= 150 && ms < 2000);
	assert_int_equal(runonce_lock(root, 0, err, sizeof(err)), -EBUSY);  /* no wait */
	assert_int_equal(runonce_lock_probe(root), 1);
	release_lock(&h);
	assert_int_equal(runonce_lock_probe(root), 0);

	/* a holder that lets go within the wait: we get it */
	h = hold_lock(root, 100);
	fd = runonce_lock(root, 5000, err, sizeof(err));
	assert_true(fd >= 0);
	release_lock(&h);
	close(fd);
	/* the lock dies with its holder */
	int st;
	h = hold_lock(root, 0);
	kill(h.pid, SIGKILL);
	waitpid(h.pid, &st, 0);
	close(h.release);
	assert_int_equal(runonce_lock_probe(root), 0);
	fd = runonce_lock(root, 0, err, sizeof(err));
	assert_true(fd >= 0);
	close(fd);

	/* not a regular file: refused, not followed */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_true(runonce_lock(root, 0, err, sizeof(err)) < 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkfifo(path, 0644), 0);
	assert_int_equal(runonce_lock(root, 0, err, sizeof(err)), -EINVAL);
	assert_int_equal(runonce_lock_probe(root), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_worst_case, setup, teardown),
		cmocka_unit_test(test_reader_accepts),
		cmocka_unit_test(test_reader_refuses),
		cmocka_unit_test_setup_teardown(test_read_files, setup, teardown),
		cmocka_unit_test(test_text_exact),
		cmocka_unit_test_setup_teardown(test_print_codes, setup, teardown),
		cmocka_unit_test(test_steps),
		cmocka_unit_test_setup_teardown(test_instance_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mark_done_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
