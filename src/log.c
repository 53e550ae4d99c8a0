/* SPDX-License-Identifier: Apache-2.0 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int max_level = LOG_LEVEL_INFO;
static char last_error[512];

const char *log_last_error(void) { return last_error; }
void log_last_error_clear(void) { last_error[0] = '\0'; }

void log_set_max_level(int level) { max_level = level; }
int log_get_max_level(void) { return max_level; }

/* Under systemd, stderr is the journal: prefix "<N>" so priorities survive. */
static int journal_prefix(void)
{
	static int cached = -1;
	if (cached >= 0)
		return cached;
	cached = 0;
	const char *js = getenv("JOURNAL_STREAM");
	struct stat st;
	unsigned long long dev, ino;
	if (js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino)
		cached = 1;
	return cached;
}

void log_msg(int level, const char *fmt, ...)
{
	if (level <= LOG_LEVEL_ERR) {
		/* kept for status.json, whatever the verbosity */
		va_list aq;
		va_start(aq, fmt);
		vsnprintf(last_error, sizeof(last_error), fmt, aq);
		va_end(aq);
	}
	if (level > max_level)
		return;
	static const char *const names[8] = { [3] = "error: ", [4] = "warning: " };
	char buf[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (journal_prefix())
		fprintf(stderr, "<%d>%s%s\n", level, names[level & 7] ? names[level & 7] : "", buf);
	else
		fprintf(stderr, "meshboot: %s%s\n", names[level & 7] ? names[level & 7] : "", buf);
}

void log_raw(const char *text)
{
	fputs(text, stderr);
}
