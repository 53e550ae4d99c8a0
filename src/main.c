/* SPDX-License-Identifier: Apache-2.0 */
/* meshboot: put a VM or bare-metal host into an Istio mesh at first boot.
 * main() parses arguments into struct args; run() is the flat list of
 * steps for the chosen command. */
#include "autoconf.h"

#include <errno.h>
#include <getopt.h>
#include <string.h>
#include <sysexits.h>

#include "config-parse.h"
#include "log.h"
#include "plan.h"
#include "redirect-flags.h"
#include "source.h"
#include "stage.h"
#include "status.h"
#include "step-fetch.h"
#include "step-redirect.h"

enum command { CMD_NONE, CMD_VALIDATE, CMD_PLAN, CMD_FETCH, CMD_BAKE, CMD_BOOT, CMD_RUN, CMD_CLEAN, CMD_STATUS,
               CMD_REDIRECT };
enum format { FORMAT_TEXT, FORMAT_JSON };

struct args {
	enum command cmd;
	enum format format;
	const char *root;
	const char *config;
	const char *cmdline;
	const char *config_pin;
	bool force;           /* boot, run: again for this instance */
	bool all;             /* clean: the installed versions and the cache too */
	/* redirect */
	struct redirect_config redirect;
	struct redirect_opts redirect_opts;
};

static void diag_print_json(const struct diag_list *d);

static void help(FILE *f)
{
	fprintf(f,
	        "Usage: meshboot [OPTIONS] COMMAND\n"
	        "\n"
	        "Put this host into an Istio service mesh from its cloud-init user-data.\n"
	        "\n"
	        "Commands:\n"
	        "  validate          parse and check the configuration; change nothing\n"
	        "  plan              print every step a run would take, in order\n"
	        "  fetch             download, verify, cache and install the artifacts of the\n"
	        "                    configured roles\n"
	        "  bake              fetch, users, directories and units: everything an image\n"
	        "                    can hold (no keys, no iptables, nothing started)\n"
	        "  boot              the instance's first boot: the rest, once per instance\n"
	        "  run               bake and boot\n"
	        "  clean             undo boot (--all: also the installed versions and cache)\n"
	        "  status            what the last run did (--format json); exit 0 done,\n"
	        "                    1 failed, 2 running, 3 never ran, 4 unreadable record\n"
	        "  redirect [FLAGS] [clean]\n"
	        "                    send traffic through the sidecar (istio-iptables.sh flags;\n"
	        "                    see meshboot redirect -h)\n"
	        "\n"
	        "Options:\n"
	        "  -c, --config SOURCE  configuration: a path, - for stdin, or a URL (default: the\n"
	        "                       kernel command line meshboot.config=, " SOURCE_ETC ",\n"
	        "                       " SOURCE_CLOUD_INIT ")\n"
	        "      --config-sha256 HEX  pin for a --config URL (required for http://)\n"
	        "      --root DIR       operate on the tree at DIR instead of /\n"
	        "      --cmdline FILE   read the kernel command line from FILE (default /proc/cmdline)\n"
	        "      --format FORMAT  text (default) or json\n"
	        "      --force          boot, run: again although this instance is done\n"
	        "      --all            clean: also the installed versions and the cache\n"
	        "  -v, --verbose        more messages\n"
	        "  -q, --quiet          errors only\n"
	        "  -h, --help           this help\n"
	        "  -V, --version        print the version\n"
	        "\n"
	        "Exit status: 0 ok, 64 usage, 65 invalid configuration, 66 no configuration,\n"
	        "69 unavailable, 70 internal error, 71 system error, 74 I/O error,\n"
	        "75 try again (lock busy, retries spent, clock behind), 76 CA protocol error,\n"
	        "77 permission denied, 78 unsupported host firewall.\n"
	        "See meshboot(8) and meshboot.yaml(5).\n");
}

/* Map a negative errno from a step to a sysexits.h status. */
static int exit_status(int r)
{
	if (r >= 0)
		return EX_OK;
	switch (-r) {
	case 0: return EX_OK;
	case EBADMSG: return EX_DATAERR;
	case EFBIG: return EX_DATAERR;
	case ENOENT: case EISDIR: case ELOOP: return EX_NOINPUT;
	case EPROTONOSUPPORT: return EX_UNAVAILABLE;
	case ENOMEM: return EX_OSERR;
	case EACCES: case EPERM: return EX_NOPERM;
	case ETIMEDOUT: case EAGAIN: return EX_TEMPFAIL;
	case EREMOTEIO: return EX_UNAVAILABLE;
	case EBUSY: return EX_TEMPFAIL;
	case EEXIST: case EADDRINUSE: return EX_CONFIG;
	case EMEDIUMTYPE: return EX_CONFIG;
	case EIO: return EX_IOERR;
	/* certificates */
	case EKEYEXPIRED: case EKEYREJECTED: return EX_DATAERR;
	case ETIME: return EX_TEMPFAIL;         /* the clock is before the root's notBefore */
	case ECONNREFUSED: case EHOSTUNREACH: case ECONNRESET: return EX_TEMPFAIL;
	case EPROTO: return EX_PROTOCOL;        /* the CA does not speak the Istio CA protocol */
	default: return EX_SOFTWARE;
	}
}

/* validate --format json on an invalid configuration: the errors as data. */
static void diag_print_json(const struct diag_list *d)
{
	struct strbuf sb;
	sb_init(&sb);
	sb_puts(&sb, "{\"valid\":false,\"errors\":[");
	for (unsigned i = 0; i < d->n; i++) {
		sb_puts(&sb, i ? ",\n{\"source\":" : "\n{\"source\":");
		sb_json_str(&sb, d->v[i].source);
		sb_printf(&sb, ",\"line\":%u,\"column\":%u,\"message\":", d->v[i].line, d->v[i].col);
		sb_json_str(&sb, d->v[i].msg);
		sb_putc(&sb, '}');
	}
	sb_printf(&sb, "\n],\"more\":%u}\n", d->dropped);
	if (sb_ok(&sb) == 0)
		fputs(sb.buf, stdout);
	sb_free(&sb);
}

/* Step: find, read and validate the configuration.  Logs every problem. */
static int config_load(const struct args *a, struct config *c, struct config_source *src)
{
	struct strbuf why;
	sb_init(&why);
	int r = source_load(a->root, a->config, a->config_pin, a->cmdline, src, &why);
	if (r < 0) {
		log_error("%s", why.buf ? why.buf : strerror(-r));
		sb_free(&why);
		return r;
	}
	sb_free(&why);
	log_debug("configuration from %s: %s (%zu bytes)", src->origin, src->name, src->len);

	struct diag_list d = { 0 };
	r = config_parse_buffer(src->name, src->data, src->len, c, &d);
	if (r == -EBADMSG && a->format == FORMAT_JSON && a->cmd == CMD_VALIDATE)
		diag_print_json(&d);
	if (r < 0) {
		struct strbuf out;
		sb_init(&out);
		diag_render(&d, &out);
		if (out.buf)
			log_raw(out.buf);
		if (r == -EBADMSG)
			log_error("%s: invalid configuration (%u error%s)", src->name, d.n + d.dropped,
			          d.n + d.dropped == 1 ? "" : "s");
		else
			log_error("%s: %s", src->name, strerror(-r));
		sb_free(&out);
	}
	diag_list_free(&d);
	return r;
}

static int print_buffer(struct strbuf *sb)
{
	if (sb_ok(sb) < 0)
		return -ENOMEM;
	if (sb->len && fwrite(sb->buf, 1, sb->len, stdout) != sb->len)
		return -EIO;
	return fflush(stdout) == 0 ? 0 : -EIO;
}

/* Step: print the plan. */
static int plan_print(const struct args *a, const struct config *c)
{
	struct plan p;
	int r = plan_build(c, a->root, &p);
	if (r < 0) {
		log_error("cannot build the plan: %s", strerror(-r));
		return r;
	}
	struct strbuf sb;
	sb_init(&sb);
	r = a->format == FORMAT_JSON ? plan_render_json(&p, &sb) : plan_render_text(&p, &sb);
	if (r == 0)
		r = print_buffer(&sb);
	if (r < 0)
		log_error("cannot print the plan: %s", strerror(-r));
	sb_free(&sb);
	plan_free(&p);
	return r;
}

/* Step: report a valid configuration. */
static int validate_report(const struct args *a, const struct config *c, const struct config_source *src)
{
	struct strbuf sb;
	sb_init(&sb);
	if (a->format == FORMAT_JSON) {
		sb_puts(&sb, "{\"valid\":true,\"source\":");
		sb_json_str(&sb, src->name);
		sb_puts(&sb, ",\"roles\":[");
		bool first = true;
		for (int r = 0; r < ROLE_MAX; r++) {
			if (!c->roles[r])
				continue;
			sb_puts(&sb, first ? "" : ",");
			sb_json_str(&sb, role_name((enum role)r));
			first = false;
		}
		sb_puts(&sb, "]}\n");
	} else if (log_get_max_level() >= LOG_LEVEL_INFO) {
		sb_printf(&sb, "%s: valid (roles:", src->name);
		for (int r = 0; r < ROLE_MAX; r++)
			if (c->roles[r])
				sb_printf(&sb, " %s", role_name((enum role)r));
		sb_puts(&sb, ")\n");
	}
	int r = print_buffer(&sb);
	sb_free(&sb);
	return r;
}

/* Step: the redirect, from the script's flags or the configuration. */
static int redirect_run(const struct args *a)
{
	if (a->redirect_opts.script_flags || (a->redirect_opts.clean && !a->config))
		return redirect_apply(&a->redirect, &a->redirect_opts);
	struct config c;
	struct config_source src;
	config_init(&c);
	int r = config_load(a, &c, &src);
	if (r >= 0) {
		if (!c.redirect.enabled && !a->redirect_opts.clean) {
			log_error("%s: the configuration does not enable the redirect (it needs the sidecar role)",
			          src.name);
			r = -EBADMSG;
		} else {
			r = redirect_apply(&c.redirect, &a->redirect_opts);
		}
	}
	source_free(&src);
	config_free(&c);
	return r;
}

static int run(const struct args *a)
{
	if (a->cmd == CMD_REDIRECT)
		return exit_status(redirect_run(a));
	if (a->cmd == CMD_STATUS)
		return status_print(a->root, a->format == FORMAT_JSON, stdout);
	struct config c;
	struct config_source src;
	config_init(&c);
	int r = config_load(a, &c, &src);
	if (r >= 0) {
		switch (a->cmd) {
		case CMD_VALIDATE:
			r = validate_report(a, &c, &src);
			break;
		case CMD_PLAN:
			r = plan_print(a, &c);
			break;
		case CMD_FETCH:
			r = fetch_step(&c, a->root);
			break;
		case CMD_BAKE:
		case CMD_BOOT:
		case CMD_RUN:
		case CMD_CLEAN: {
			static const enum stage stages[] = { [CMD_BAKE] = STAGE_BAKE, [CMD_BOOT] = STAGE_BOOT,
			                                     [CMD_RUN] = STAGE_RUN, [CMD_CLEAN] = STAGE_CLEAN };
			struct stage_opts so = { .root = a->root, .force = a->force, .all = a->all };
			r = stage_run(stages[a->cmd], &c, &so);
			break;
		}
		default:
			r = -EINVAL;
		}
	}
	source_free(&src);
	config_free(&c);
	return exit_status(r);
}

/* Global options, before the command and (for validate and plan) after it. */
static int global_opts_parse(int argc, char **argv, struct args *a)
{
	enum { OPT_ROOT = 0x100, OPT_FORMAT, OPT_CMDLINE, OPT_CONFIG_PIN, OPT_FORCE, OPT_ALL };
	static const struct option opts[] = {
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "config-sha256", required_argument, NULL, OPT_CONFIG_PIN },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "config", required_argument, NULL, 'c' },
		{ "root", required_argument, NULL, OPT_ROOT },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "cmdline", required_argument, NULL, OPT_CMDLINE },
		{ NULL, 0, NULL, 0 }
	};
	int o;
	while ((o = getopt_long(argc, argv, "+hVvqc:", opts, NULL)) != -1) {
		switch (o) {
		case 'h':
			help(stdout);
			return 0;
		case 'V':
			printf("meshboot %s\n", PACKAGE_VERSION);
			return 0;
		case 'v':
			log_set_max_level(LOG_LEVEL_DEBUG);
			break;
		case 'q':
			log_set_max_level(LOG_LEVEL_ERR);
			break;
		case 'c':
			a->config = optarg;
			break;
		case OPT_ROOT:
			if (optarg[0] != '/') {
				fprintf(stderr, "meshboot: --root needs an absolute path\n");
				return -EINVAL;
			}
			a->root = optarg;
			break;
		case OPT_FORMAT:
			if (strcmp(optarg, "text") == 0)
				a->format = FORMAT_TEXT;
			else if (strcmp(optarg, "json") == 0)
				a->format = FORMAT_JSON;
			else {
				fprintf(stderr, "meshboot: --format takes text or json\n");
				return -EINVAL;
			}
			break;
		case OPT_CMDLINE:
			a->cmdline = optarg;
			break;
		case OPT_CONFIG_PIN:
			a->config_pin = optarg;
			break;
		case OPT_FORCE:
			a->force = true;
			break;
		case OPT_ALL:
			a->all = true;
			break;
		default:
			fprintf(stderr, "Try 'meshboot --help'.\n");
			return -EINVAL;
		}
	}
	return 1;
}

/* Returns 1 to run, 0 to exit 0 (help, version), -EINVAL for a usage error. */
static int args_parse(int argc, char **argv, struct args *a)
{
	int r = global_opts_parse(argc, argv, a);
	if (r <= 0)
		return r;
	if (optind >= argc) {
		fprintf(stderr, "meshboot: no command given (validate, plan, fetch, bake, boot, run, clean, status, redirect). Try 'meshboot --help'.\n");
		return -EINVAL;
	}
	const char *cmd = argv[optind];
	if (strcmp(cmd, "redirect") == 0) {
		char err[256];
		a->cmd = CMD_REDIRECT;
		r = redirect_flags_parse(argc - optind, argv + optind, a->root, &a->redirect, &a->redirect_opts,
		                         err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "meshboot redirect: %s. Try 'meshboot redirect -h'.\n", err);
			return r;
		}
		if (a->redirect_opts.help) {
			redirect_flags_usage(stdout);
			return 0;
		}
		return 1;
	}
	if (strcmp(cmd, "validate") == 0)
		a->cmd = CMD_VALIDATE;
	else if (strcmp(cmd, "plan") == 0)
		a->cmd = CMD_PLAN;
	else if (strcmp(cmd, "fetch") == 0)
		a->cmd = CMD_FETCH;
	else if (strcmp(cmd, "bake") == 0)
		a->cmd = CMD_BAKE;
	else if (strcmp(cmd, "boot") == 0)
		a->cmd = CMD_BOOT;
	else if (strcmp(cmd, "run") == 0)
		a->cmd = CMD_RUN;
	else if (strcmp(cmd, "clean") == 0)
		a->cmd = CMD_CLEAN;
	else if (strcmp(cmd, "status") == 0)
		a->cmd = CMD_STATUS;
	else {
		fprintf(stderr, "meshboot: unknown command \"%.60s\" (validate, plan, fetch, bake, boot, run, clean, status, redirect). Try 'meshboot --help'.\n",
		        cmd);
		return -EINVAL;
	}
	/* the commands but redirect take the global options after them too */
	int sub_argc = argc - optind;
	char **sub_argv = argv + optind;
	optind = 0;  /* glibc: 0 fully reinitialises getopt (1 would keep a half-read option cluster) */
	r = global_opts_parse(sub_argc, sub_argv, a);
	if (r <= 0)
		return r;
	if (optind < sub_argc) {
		fprintf(stderr, "meshboot: %s takes no arguments\n", cmd);
		return -EINVAL;
	}
	return 1;
}

int main(int argc, char **argv)
{
	struct args a = { .root = "/" };
	redirect_config_init(&a.redirect);
	int r = args_parse(argc, argv, &a);
	if (r > 0)
		r = run(&a);
	else
		r = r < 0 ? EX_USAGE : EX_OK;
	redirect_config_free(&a.redirect);
	return r;
}
