/* SPDX-License-Identifier: Apache-2.0 */
/* Test driver for the unit writer (tests/integration/units.sh), until the
 * bake command exists:
 *
 *   unit-writer list CONFIG            the units CONFIG runs, one a line
 *   unit-writer render CONFIG UNIT     a unit's text (UNIT: a role or "redirect")
 *   unit-writer install ROOT CONFIG    unit_install each; "NAME changed|unchanged"
 *   unit-writer remove ROOT CONFIG     unit_remove each; "NAME removed|absent"
 *   unit-writer words FILE KEY         the words of the first KEY= line of a
 *                                      unit file, as systemd splits them
 *                                      (quotes, C escapes, %% and $$; the
 *                                      ExecStart prefixes - @ + ! : dropped),
 *                                      one a line
 *
 * Exit 0, 1 on any failure (with a message on stderr). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-parse.h"
#include "unit.h"

static int load(const char *path, struct config *c)
{
	char *buf = NULL;
	size_t len;
	int r = file_read_all(path, 1u << 20, &buf, &len);
	config_init(c);
	if (r < 0) {
		fprintf(stderr, "unit-writer: %s: %s\n", path, strerror(-r));
		return -1;
	}
	struct diag_list d = { 0 };
	r = config_parse_buffer(path, buf, len, c, &d);
	free(buf);
	if (r < 0) {
		struct strbuf sb;
		sb_init(&sb);
		diag_render(&d, &sb);
		fprintf(stderr, "unit-writer: %s is not valid:\n%s", path, sb.buf ? sb.buf : "");
		sb_free(&sb);
	}
	diag_list_free(&d);
	return r < 0 ? -1 : 0;
}

/* systemd's word splitting of a directive's value, enough for ExecStart=. */
static int words(const char *file, const char *key)
{
	char *buf = NULL;
	size_t len;
	int r = file_read_all(file, 1u << 20, &buf, &len);
	if (r < 0) {
		fprintf(stderr, "unit-writer: %s: %s\n", file, strerror(-r));
		return 1;
	}
	size_t kl = strlen(key);
	const char *p = NULL;
	for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (strncmp(l, key, kl) == 0 && l[kl] == '=') {
			p = l + kl + 1;
			break;
		}
	if (!p) {
		fprintf(stderr, "unit-writer: %s: no %s= line\n", file, key);
		free(buf);
		return 1;
	}
	bool first = true;
	int rc = 0;
	for (;;) {
		p += strspn(p, " \t");
		if (!*p)
			break;
		struct strbuf w;
		sb_init(&w);
		if (first)
			p += strspn(p, "-@+!:");
		char quote = 0;
		for (; *p; p++) {
			if (!quote && (*p == ' ' || *p == '\t'))
				break;
			if (!quote && (*p == '"' || *p == '\'')) {
				quote = *p;
				continue;
			}
			if (quote && *p == quote) {
				quote = 0;
				continue;
			}
			if (*p == '\\' && p[1]) {
				p++;
				switch (*p) {
				case 'n': sb_putc(&w, '\n'); break;
				case 't': sb_putc(&w, '\t'); break;
				default: sb_putc(&w, *p); break;
				}
				continue;
			}
			if ((*p == '%' || *p == '$') && p[1] == *p) {
				sb_putc(&w, *p++);
				continue;
			}
			if (*p == '%' || *p == '$') {
				fprintf(stderr, "unit-writer: %s: unescaped %c in %s=\n", file, *p, key);
				rc = 1;
			}
			sb_putc(&w, *p);
		}
		if (quote) {
			fprintf(stderr, "unit-writer: %s: unterminated quote in %s=\n", file, key);
			rc = 1;
		}
		if (w.buf && strchr(w.buf, '\n')) {
			fprintf(stderr, "unit-writer: %s: a word holds a newline\n", file);
			rc = 1;
		}
		printf("%s\n", w.buf ? w.buf : "");
		sb_free(&w);
		first = false;
	}
	free(buf);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "words") == 0)
		return words(argv[2], argv[3]);
	bool list = argc == 3 && strcmp(argv[1], "list") == 0;
	bool render = argc == 4 && strcmp(argv[1], "render") == 0;
	bool install = argc == 4 && strcmp(argv[1], "install") == 0;
	bool remove = argc == 4 && strcmp(argv[1], "remove") == 0;
	if (!list && !render && !install && !remove) {
		fprintf(stderr, "usage: unit-writer list CONFIG | render CONFIG UNIT | install ROOT CONFIG | "
		                "remove ROOT CONFIG | words FILE KEY\n");
		return 1;
	}
	struct config c;
	if (load(install || remove ? argv[3] : argv[2], &c) < 0) {
		config_free(&c);
		return 1;
	}
	int rc = 0;
	if (render) {
		int which = strcmp(argv[3], "redirect") == 0 ? UNIT_REDIRECT : role_from_name(argv[3]);
		struct strbuf sb;
		sb_init(&sb);
		int r = which < 0 ? which : unit_render(&c, which, &sb);
		if (r < 0) {
			fprintf(stderr, "unit-writer: %s: %s\n", argv[3], strerror(-r));
			rc = 1;
		} else {
			fwrite(sb.buf, 1, sb.len, stdout);
		}
		sb_free(&sb);
	} else {
		int units[ROLE_MAX + 1];
		unsigned n = unit_list(&c, units);
		for (unsigned i = 0; i < n; i++) {
			char err[512];
			int r = list ? 0 : install ? unit_install(argv[2], &c, units[i], err, sizeof(err))
			                           : unit_remove(argv[2], units[i], err, sizeof(err));
			if (r < 0) {
				fprintf(stderr, "unit-writer: %s: %s\n", unit_name_any(units[i]), err);
				rc = 1;
				continue;
			}
			if (list)
				printf("%s\n", unit_name_any(units[i]));
			else
				printf("%s %s\n", unit_name_any(units[i]),
				       install ? (r ? "changed" : "unchanged") : (r ? "removed" : "absent"));
		}
	}
	config_free(&c);
	return rc;
}
