/* SPDX-License-Identifier: Apache-2.0 */
#include "source.h"

#include <errno.h>
#include <string.h>

#include "fetch.h"
#include "userdata.h"

void source_free(struct config_source *s)
{
	free(s->name);
	free(s->data);
	free(s->origin);
	memset(s, 0, sizeof(*s));
}

char *cmdline_get(const char *cmdline, const char *key)
{
	size_t kl = strlen(key);
	char *found = NULL;
	const char *p = cmdline;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p)
			break;
		/* One word; double quotes group spaces, as the kernel does. */
		struct strbuf w;
		sb_init(&w);
		bool q = false;
		for (; *p && (q || (*p != ' ' && *p != '\t' && *p != '\n')); p++) {
			if (*p == '"')
				q = !q;
			else
				sb_putc(&w, *p);
		}
		if (w.buf && strncmp(w.buf, key, kl) == 0 && w.buf[kl] == '=') {
			free(found);
			found = strdup(w.buf + kl + 1);
		}
		sb_free(&w);
	}
	return found;
}

static bool is_url(const char *s)
{
	return str_has_prefix(s, "http://") || str_has_prefix(s, "https://") || str_has_prefix(s, "file://") ||
	       str_has_prefix(s, "ftp://") || str_has_prefix(s, "tftp://");
}

static int load_path(const char *root, const char *path, bool in_root, struct config_source *out,
                     struct strbuf *why)
{
	/* full is for messages; the file is opened inside root (root_open). */
	_cleanup_free_ char *full = in_root ? path_in_root(root, path) : strdup(path);
	if (!full)
		return -ENOMEM;
	int r = in_root ? root_read_all(root, path, USERDATA_MAX, &out->data, &out->len)
	                : file_read_all(path, USERDATA_MAX, &out->data, &out->len);
	if (r == -EFBIG)
		sb_printf(why, "%s: larger than %u bytes; refused", full, USERDATA_MAX);
	else if (r == -ELOOP)
		sb_printf(why, "%s: is a symbolic link; meshboot does not follow links (name the target)", full);
	else if (r < 0)
		sb_printf(why, "%s: %s", full, strerror(-r));
	if (r < 0)
		return r;
	out->name = strdup(full);
	return out->name ? 0 : -ENOMEM;
}

/* A configuration URL, through the fetcher: https, or http with a pin
 * (meshboot.config_sha256= / --config-sha256), or file://. */
static int load_url(const char *url, const char *pin, struct config_source *out, struct strbuf *why)
{
	bool https = str_has_prefix(url, "https://"), file = str_has_prefix(url, "file://");
	bool http = str_has_prefix(url, "http://");
	if (!https && !http && !file) {
		sb_printf(why, "%.200s: configuration URLs are https://, http:// (with a pin) or file://", url);
		return -EPROTONOSUPPORT;
	}
	if (http && !pin) {
		sb_printf(why, "%.200s: a plain http:// configuration needs a SHA-256 pin "
		          "(meshboot.config_sha256= on the kernel command line, or --config-sha256)", url);
		return -EPROTONOSUPPORT;
	}
	struct fetch_opts o;
	fetch_opts_init(&o);
	struct fetch_job j;
	fetch_job_init(&j);
	j.name = "configuration";
	j.urls[j.n_urls++] = url;
	j.max_size = USERDATA_MAX;
	j.pinned = pin != NULL;
	if (pin) {
		j.alg = DIGEST_SHA256;
		snprintf(j.hex, sizeof(j.hex), "%s", pin);
	}
	int r = fetch_run(&j, 1, &o, NULL);
	if (r == 0) {
		out->len = j.mem.len;
		out->data = sb_steal(&j.mem);
		out->name = strdup(url);
		r = out->data && out->name ? 0 : -ENOMEM;
	} else if (r > 0) {
		sb_printf(why, "%s", j.err);
		r = j.status == FETCH_MISMATCH ? -EBADMSG : j.status == FETCH_PERMANENT ? -EREMOTEIO : -ETIMEDOUT;
	} else {
		sb_printf(why, "%.200s: the fetcher cannot run: %s", url, strerror(-r));
	}
	fetch_job_free(&j);
	return r;
}

static bool pin_valid(const char *pin)
{
	if (strlen(pin) != 64)
		return false;
	for (const char *c = pin; *c; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
			return false;
	return true;
}

static int load_one(const char *root, const char *src, const char *pin, bool in_root, struct config_source *out,
                    struct strbuf *why)
{
	if (pin && !pin_valid(pin)) {
		sb_printf(why, "the configuration pin is not a lower-case SHA-256 (64 hexadecimal digits)");
		return -EINVAL;
	}
	if (strcmp(src, "-") == 0) {
		int r = fd_read_all(STDIN_FILENO, USERDATA_MAX, &out->data, &out->len);
		if (r == -EFBIG)
			sb_printf(why, "<stdin>: larger than %u bytes; refused", USERDATA_MAX);
		else if (r < 0)
			sb_printf(why, "<stdin>: %s", strerror(-r));
		if (r < 0)
			return r;
		out->name = strdup("<stdin>");
		return out->name ? 0 : -ENOMEM;
	}
	if (is_url(src))
		return load_url(src, pin, out, why);
	return load_path(root, src, in_root, out, why);
}

int source_load(const char *root, const char *explicit, const char *explicit_pin, const char *cmdline_path,
                struct config_source *out, struct strbuf *why)
{
	memset(out, 0, sizeof(*out));
	int r;
	if (explicit) {
		/* --config paths are the operator's, relative to the cwd, not --root. */
		r = load_one(root, explicit, explicit_pin, false, out, why);
		if (r == 0)
			out->origin = strdup("--config");
		return r;
	}

	_cleanup_free_ char *cl = NULL;
	size_t cll = 0;
	_cleanup_free_ char *clp = cmdline_path ? strdup(cmdline_path) : path_in_root(root, SOURCE_CMDLINE);
	if (!clp)
		return -ENOMEM;
	r = cmdline_path ? file_read_all(cmdline_path, 65536, &cl, &cll)
	                 : root_read_all(root, SOURCE_CMDLINE, 65536, &cl, &cll);
	if (r < 0 && r != -ENOENT) {
		sb_printf(why, "%s: %s", clp, strerror(-r));
		return r;
	}
	if (r == 0) {
		_cleanup_free_ char *v = cmdline_get(cl, "meshboot.config");
		_cleanup_free_ char *pin = cmdline_get(cl, "meshboot.config_sha256");
		if (v) {
			r = load_one(root, v, pin, true, out, why);
			if (r == 0)
				out->origin = strdup("kernel command line");
			return r;
		}
	}

	static const char *const order[] = { SOURCE_ETC, SOURCE_CLOUD_INIT };
	for (size_t i = 0; i < ELEMENTSOF(order); i++) {
		r = load_path(root, order[i], true, out, why);
		if (r == 0) {
			out->origin = strdup(i == 0 ? "meshboot configuration file" : "cloud-init user-data");
			return 0;
		}
		if (r != -ENOENT)
			return r;
		sb_free(why);
	}
	_cleanup_free_ char *a = path_in_root(root, SOURCE_ETC);
	_cleanup_free_ char *b = path_in_root(root, SOURCE_CLOUD_INIT);
	sb_printf(why, "no configuration found: looked at meshboot.config= on the kernel command line (%s), %s and %s",
	          clp, a ? a : SOURCE_ETC, b ? b : SOURCE_CLOUD_INIT);
	return -ENOENT;
}
