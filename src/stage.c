/* SPDX-License-Identifier: Apache-2.0 */
#include "stage.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"
#include "log.h"
#include "runonce.h"
#include "status.h"
#include "step-certs.h"
#include "step-fetch.h"
#include "step-redirect.h"
#include "systemd.h"
#include "unit.h"
#include "users.h"
#include "util.h"


struct stage_ctx {
	const struct config *c;
	const struct stage_opts *o;
	struct run_status st;
	uid_t uid;           /* the proxy user's, as it really is */
	gid_t gid;
	uid_t etcd_uid;
	gid_t etcd_gid;
	char ip[64];
};

static int step_fetch(struct stage_ctx *x)
{
	return fetch_step(x->c, x->o->root);
}

static int step_trust(struct stage_ctx *x)
{
	return trust_ensure(x->c, x->o->root);
}

static int step_certs(struct stage_ctx *x)
{
	return certs_ensure(x->c, x->o->root, x->uid, x->gid, x->o->force, &x->st);
}

#define SYSUSERS_CONF "/etc/sysusers.d/meshboot.conf"
#define PROXY_COMMENT "Istio proxy (meshboot)"
#define ETCD_COMMENT "etcd (meshboot)"

/* Our users as a sysusers.d entry, with these ids (-1: allocate). */
static void sysusers_render(const struct config *c, uid_t uid, gid_t gid, uid_t etcd_uid, gid_t etcd_gid,
                            struct strbuf *out)
{
	sb_puts(out, "# Written by meshboot: the system users its units run as.\n");
	users_sysusers_render(c->user.name, uid, gid, "/var/lib/istio", PROXY_COMMENT, out);
	if (c->roles[ROLE_ETCD])
		users_sysusers_render("etcd", etcd_uid, etcd_gid, c->etcd.data_dir, ETCD_COMMENT, out);
}

static int sysusers_write(const char *root, struct strbuf *sb)
{
	return sb_ok(sb) < 0 ? -ENOMEM : root_file_ensure(root, SYSUSERS_CONF, sb->buf, sb->len, 0644, 0, 0);
}

/* The proxy user (and etcd's).  With a running systemd that has
 * systemd-sysusers, they are declared in /etc/sysusers.d and created by
 * it; otherwise (a chroot, an image) written directly, shadow-utils
 * style, and then declared with the ids they got, so that
 * systemd-sysusers on the booted image agrees. */
static int step_users(struct stage_ctx *x)
{
	char err[512];
	const struct config *c = x->c;
	const char *root = x->o->root;
	int changed = 0, r;
	bool via_sysusers = systemd_live(root) && systemd_sysusers_present();
	if (via_sysusers) {
		_cleanup_sb_ struct strbuf sb;
		sb_init(&sb);
		sysusers_render(c, c->user.uid, c->user.gid, (uid_t)-1, (gid_t)-1, &sb);
		uid_t u;
		bool had = users_lookup(root, c->user.name, &u, NULL) == 0 &&
		           (!c->roles[ROLE_ETCD] || users_lookup(root, "etcd", &u, NULL) == 0);
		if ((r = sysusers_write(root, &sb)) < 0) {
			log_error("users: cannot write %s: %s", SYSUSERS_CONF, strerror(-r));
			return r;
		}
		if ((r = systemd_sysusers(SYSUSERS_CONF, err, sizeof(err))) < 0) {
			log_error("users: %s", err);
			return r;
		}
		changed = !had;
	}
	r = users_ensure(root, c->user.name, c->user.uid, c->user.gid, "/var/lib/istio", PROXY_COMMENT, &x->uid,
	                 &x->gid, err, sizeof(err));
	if (r < 0) {
		log_error("users: %s", err);
		return r;
	}
	changed |= r;
	if (c->roles[ROLE_ETCD]) {
		r = users_ensure(root, "etcd", (uid_t)-1, (gid_t)-1, c->etcd.data_dir, ETCD_COMMENT, &x->etcd_uid,
		                 &x->etcd_gid, err, sizeof(err));
		if (r < 0) {
			log_error("users: %s", err);
			return r;
		}
		changed |= r;
	}
	if (!via_sysusers) {
		_cleanup_sb_ struct strbuf sb;
		sb_init(&sb);
		sysusers_render(c, x->uid, x->gid, x->etcd_uid, x->etcd_gid, &sb);
		if ((r = sysusers_write(root, &sb)) < 0) {
			log_error("users: cannot write %s: %s", SYSUSERS_CONF, strerror(-r));
			return r;
		}
		changed |= r;
	}
	log_info("users: %s %s (%u:%u)%s%s", changed ? "created" : "already there:", c->user.name, (unsigned)x->uid,
	         (unsigned)x->gid, c->roles[ROLE_ETCD] ? " and etcd" : "",
	         via_sysusers ? ", by systemd-sysusers" : "");
	return changed > 0;
}

static int step_dirs(struct stage_ctx *x)
{
	const struct config *c = x->c;
	const char *root = x->o->root;
	int changed = 0, r = 0;
	if (c->roles[ROLE_SIDECAR] && (r = layout_dirs_ensure(root, x->uid, x->gid)) > 0)
		changed = 1;
	if (r >= 0 && (c->roles[ROLE_CITADEL] || c->roles[ROLE_ISTIOD]) &&
	    (r = root_dir_ensure(root, "/etc/cacerts", 0750, x->uid, x->gid)) > 0)
		changed = 1;
	if (r >= 0 && c->roles[ROLE_ETCD] && (r = root_dir_ensure(root, c->etcd.data_dir, 0700, x->etcd_uid, x->etcd_gid)) > 0)
		changed = 1;
	if (r >= 0 && (r = root_dir_ensure(root, "/var/lib/meshboot", 0755, 0, 0)) > 0)
		changed = 1;
	if (r < 0) {
		log_error("directories: %s", strerror(-r));
		return r;
	}
	log_info("directories: %s", changed ? "created" : "already in place");
	return changed;
}

static int step_units(struct stage_ctx *x)
{
	int units[ROLE_MAX + 1];
	unsigned n = unit_list(x->c, units);
	int changed = 0;
	for (unsigned i = 0; i < n; i++) {
		char err[512];
		int r = unit_write(x->o->root, x->c, units[i], err, sizeof(err));
		if (r < 0) {
			log_error("units: %s: %s", unit_name_any(units[i]), err);
			return r;
		}
		changed |= r;
	}
	log_info("units: %u written%s", n, changed ? "" : " (already up to date)");
	return changed;
}

static int step_instance_files(struct stage_ctx *x)
{
	const struct config *c = x->c;
	if (!c->roles[ROLE_SIDECAR])
		return 0;
	if (c->mesh.instance_ip)
		snprintf(x->ip, sizeof(x->ip), "%s", c->mesh.instance_ip);
	else if (address_detect(x->ip, sizeof(x->ip)) < 0) {
		log_error("instance files: no address to advertise could be detected; set mesh.instance_ip");
		return -EADDRNOTAVAIL;
	}
	int r = layout_files_ensure(x->o->root, c, x->ip, x->uid, x->gid);
	if (r < 0) {
		log_error("instance files: %s", strerror(-r));
		return r;
	}
	log_info("instance files: cluster.env, sidecar.env and the mesh config %s (ISTIO_SVC_IP=%s)",
	         r ? "written" : "already up to date", x->ip);
	return r;
}

static int step_hosts(struct stage_ctx *x)
{
	int r = hosts_block_ensure(x->o->root, x->c->mesh.hosts, x->c->mesh.n_hosts);
	if (r < 0)
		log_error("hosts: cannot update /etc/hosts: %s", strerror(-r));
	else
		log_info("hosts: %u control-plane names %s", x->c->mesh.n_hosts, r ? "written" : "already in place");
	return r;
}

static int step_redirect(struct stage_ctx *x)
{
	/* No certificate, no sidecar: do not send the host's traffic to it
	 * (certs.ca.mode none until the signer delivers; the units wait for
	 * the file too). */
	int cfd = root_open(x->o->root, "/etc/certs/cert-chain.pem", O_PATH, 0);
	if (cfd < 0) {
		log_warn("redirect: not applied: there is no /etc/certs/cert-chain.pem yet, so the sidecar cannot "
		         "start; meshboot-redirect.service applies it at the boot after the certificate arrives");
		status_note(&x->st, "redirect: not applied until /etc/certs/cert-chain.pem exists");
		return 0;
	}
	close(cfd);
	struct redirect_opts ro = { .wait_ms = 10000 };
	struct redirect_config rc = x->c->redirect;
	/* the proxy user as it really is on this host (when the configuration
	 * took the default, its configured uid) */
	if (rc.n_proxy_uids == 1 && rc.proxy_uids[0] == x->c->user.uid)
		rc.proxy_uids[0] = x->uid;
	if (rc.n_proxy_gids == 1 && rc.proxy_gids[0] == x->c->user.gid)
		rc.proxy_gids[0] = x->gid;
	return redirect_apply(&rc, &ro);
}

/* Enable (the WantedBy link, as systemctl enable makes it) and, with a
 * live systemd and systemd.start, start the units. */
static int step_enable(struct stage_ctx *x)
{
	int units[ROLE_MAX + 1];
	unsigned n = unit_list(x->c, units);
	const char *root = x->o->root;
	int changed = 0;
	for (unsigned i = 0; i < n; i++) {
		char err[512];
		int r = unit_enable(root, units[i], err, sizeof(err));
		if (r < 0) {
			log_error("enable: %s", err);
			return r;
		}
		changed |= r;
	}
	if (systemd_live(root)) {
		char err[256];
		const char *const reload[] = { "daemon-reload", NULL };
		int r = systemctl(err, sizeof(err), reload);
		for (unsigned i = 0; r == 0 && x->c->systemd_start && i < n; i++) {
			/* --no-block: meshboot may itself run in a unit these are ordered after */
			const char *const start[] = { "start", "--no-block", unit_name_any(units[i]), NULL };
			r = systemctl(err, sizeof(err), start);
		}
		if (r < 0) {
			log_error("enable: %s", err);
			return r;
		}
	}
	log_info("enable: %u units enabled%s", n,
	         systemd_live(root) && x->c->systemd_start ? " and started" : " (started at the next boot)");
	return changed;
}

static int step_mark(struct stage_ctx *x)
{
	int r = runonce_mark(x->o->root, x->st.instance_id);
	if (r < 0)
		log_error("run-once: cannot record this instance as done: %s", strerror(-r));
	return r < 0 ? r : 1;
}

/* Test-only: MESHBOOT_TEST_KILL_AFTER=N kills the process (SIGKILL, no
 * cleanup) once N steps have ended, to prove that any step boundary is a
 * safe place to die (tests/integration/crash.sh). */
static void crash_point(const struct run_status *st)
{
	const char *k = getenv("MESHBOOT_TEST_KILL_AFTER");
	if (k && *k && (unsigned)atoi(k) == st->n_steps)
		kill(getpid(), SIGKILL);
}

/* Run one step, recording it; stop at the first failure. */
#define STEP(x, name, fn)                                                          \
	do {                                                                       \
		status_step_begin(&(x)->st, (name));                               \
		log_last_error_clear();                                            \
		int _r = fn(x);                                                    \
		status_step_end(&(x)->st, _r, _r < 0 ? log_last_error() : NULL);   \
		crash_point(&(x)->st);                                             \
		if (_r < 0) {                                                      \
			r = _r;                                                    \
			goto out;                                                  \
		}                                                                  \
	} while (0)

static const char *const stage_names[] = { "bake", "boot", "run", "clean" };

static int stage_clean(struct stage_ctx *x);

int stage_run(enum stage s, const struct config *c, const struct stage_opts *o)
{
	struct stage_ctx x = { .c = c, .o = o, .uid = c->user.uid, .gid = c->user.gid };
	char err[256], id[128] = "";
	int r = runonce_lock(o->root, 60000, err, sizeof(err));
	if (r < 0) {
		log_error("%s: another meshboot is running: %s", stage_names[s], err);
		return r;
	}
	int lock = r;
	if (s != STAGE_BAKE && runonce_instance_id(o->root, id, sizeof(id)) < 0) {
		log_error("%s: no instance id (neither /var/lib/cloud/data/instance-id nor /etc/machine-id)",
		          stage_names[s]);
		r = -ENOENT;
		close(lock);
		return r;
	}
	if ((s == STAGE_BOOT || s == STAGE_RUN) && !o->force && runonce_done(o->root, id) > 0) {
		log_info("%s: instance %s was provisioned already; nothing to do (--force runs it again)",
		         stage_names[s], id);
		close(lock);
		return 0;
	}
	status_init(&x.st, stage_names[s], id);
	status_write(o->root, &x.st);  /* "running" for meshboot status */
	r = 0;
	switch (s) {
	case STAGE_BAKE:
		STEP(&x, "fetch", step_fetch);
		STEP(&x, "trust", step_trust);
		STEP(&x, "users", step_users);
		STEP(&x, "directories", step_dirs);
		STEP(&x, "units", step_units);
		break;
	case STAGE_BOOT:
	case STAGE_RUN:
		STEP(&x, "fetch", step_fetch);
		STEP(&x, "trust", step_trust);
		STEP(&x, "users", step_users);
		STEP(&x, "directories", step_dirs);
		STEP(&x, "units", step_units);
		STEP(&x, "files", step_instance_files);
		/* hosts first: the CA may be one of the control-plane names */
		STEP(&x, "hosts", step_hosts);
		STEP(&x, "certificates", step_certs);
		if (c->redirect.enabled)
			STEP(&x, "redirect", step_redirect);
		STEP(&x, "enable", step_enable);
		STEP(&x, "run-once", step_mark);
		break;
	case STAGE_CLEAN:
		r = stage_clean(&x);
		break;
	}
out:
	status_finish(&x.st, r >= 0);
	int k = status_write(o->root, &x.st);
	if (k < 0)
		log_warn("cannot write %s: %s", STATUS_PATH, strerror(-k));
	close(lock);
	return r < 0 ? r : 0;
}

static int step_disable(struct stage_ctx *x)
{
	int units[ROLE_MAX + 1];
	unsigned n = unit_list(x->c, units);
	const char *root = x->o->root;
	int changed = 0;
	if (systemd_live(root)) {
		char err[256];
		for (unsigned i = n; i-- > 0; ) {
			const char *const stop[] = { "stop", unit_name_any(units[i]), NULL };
			if (systemctl(err, sizeof(err), stop) < 0)
				log_warn("clean: %s", err);
		}
	}
	for (unsigned i = 0; i < n; i++) {
		char err[512];
		int r = unit_disable(root, units[i], err, sizeof(err));
		if (r < 0) {
			log_error("clean: %s", err);
			return r;
		}
		changed |= r;
	}
	if (x->o->all) {
		for (unsigned i = 0; i < n; i++) {
			char err[256];
			int r = unit_remove(root, units[i], err, sizeof(err));
			if (r < 0) {
				log_error("clean: %s: %s", unit_name_any(units[i]), err);
				return r;
			}
			changed |= r;
		}
	}
	if (systemd_live(root)) {
		char err[256];
		const char *const reload[] = { "daemon-reload", NULL };
		if (systemctl(err, sizeof(err), reload) < 0)
			log_warn("clean: %s", err);
	}
	log_info("clean: units stopped and disabled%s", x->o->all ? ", unit files removed" : "");
	return changed;
}

static int step_unredirect(struct stage_ctx *x)
{
	struct redirect_opts ro = { .wait_ms = 10000, .clean = true };
	return redirect_apply(&x->c->redirect, &ro);
}

static int step_unhosts(struct stage_ctx *x)
{
	int r = hosts_block_ensure(x->o->root, NULL, 0);
	if (r < 0)
		log_error("clean: cannot update /etc/hosts: %s", strerror(-r));
	return r;
}

static int step_unmark(struct stage_ctx *x)
{
	int r = runonce_clear(x->o->root, x->st.instance_id);
	if (r < 0)
		log_error("clean: cannot clear the run-once record: %s", strerror(-r));
	return r;
}

static int step_uninstall(struct stage_ctx *x)
{
	/* --all: the installed versions and the cache (everything bake made
	 * but the users, which may own files elsewhere) */
	int changed = 0;
	char path[600];
	for (int r = 0; r < ROLE_MAX; r++) {
		if (!x->c->roles[r])
			continue;
		snprintf(path, sizeof(path), "%s/%s", x->c->install_prefix, role_name((enum role)r));
		int k = root_rm_rf(x->o->root, path);
		if (k < 0) {
			log_error("clean: cannot remove %s: %s", path, strerror(-k));
			return k;
		}
		changed |= k;
	}
	int k = root_rm_rf(x->o->root, "/var/cache/meshboot");
	if (k < 0) {
		log_error("clean: cannot remove the cache: %s", strerror(-k));
		return k;
	}
	log_info("clean: installed versions and the cache removed");
	return changed | k;
}

static int stage_clean(struct stage_ctx *x)
{
	int r = 0;
	STEP(x, "disable", step_disable);
	if (x->c->redirect.enabled)
		STEP(x, "redirect", step_unredirect);
	STEP(x, "hosts", step_unhosts);
	STEP(x, "run-once", step_unmark);
	if (x->o->all)
		STEP(x, "uninstall", step_uninstall);
out:
	return r;
}
