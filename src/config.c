/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char *const role_names[ROLE_MAX] = {
	[ROLE_SIDECAR] = "sidecar", [ROLE_PILOT] = "pilot", [ROLE_MIXER] = "mixer",
	[ROLE_CITADEL] = "citadel", [ROLE_APISERVER] = "apiserver", [ROLE_ETCD] = "etcd",
	[ROLE_ISTIOD] = "istiod",
};

const char *role_name(enum role r) { return r < ROLE_MAX ? role_names[r] : "?"; }

int role_from_name(const char *s)
{
	for (int i = 0; i < ROLE_MAX; i++)
		if (strcmp(s, role_names[i]) == 0)
			return i;
	return -EINVAL;
}

const char *archive_fmt_name(enum archive_fmt f)
{
	static const char *const n[] = { "auto", "tar.gz", "tar.xz", "tar.zst", "zip", "deb" };
	return (unsigned)f < ELEMENTSOF(n) ? n[f] : "?";
}

const char *ca_mode_name(enum ca_mode m)
{
	static const char *const n[] = { "none", "local", "istio" };
	return (unsigned)m < ELEMENTSOF(n) ? n[m] : "?";
}

const char *key_type_name(enum key_type k)
{
	static const char *const n[] = { "ec-p256", "rsa-2048", "rsa-3072" };
	return (unsigned)k < ELEMENTSOF(n) ? n[k] : "?";
}

void fetch_opts_init(struct fetch_opts *f)
{
	memset(f, 0, sizeof(*f));
	f->concurrency = 4;
	f->retries = 5;
	f->deadline_sec = 600;
	f->max_size = 1ull << 30;
	f->max_unpacked_size = 4ull << 30;
	f->connect_timeout_sec = 10;
	f->first_byte_timeout_sec = 30;
	f->low_speed_limit = 1024;
	f->low_speed_time_sec = 30;
	f->backoff_base_ms = 500;
	f->backoff_max_ms = 30000;
}

void config_init(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->version = 0;
	c->certs.key_type = KEY_EC_P256;
	c->certs.lifetime_hours = 24 * 90;
	c->certs.ca_mode = CA_MODE_NONE;
	fetch_opts_init(&c->fetch);
	c->user.uid = 1337;
	c->user.gid = 1337;
	c->apiserver.port = 8080;
	c->systemd_start = true;
	redirect_config_init(&c->redirect);
}

static void strv_free(char **v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(v[i]);
}

/* Secrets are wiped before their memory is released. */
static void secret_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void config_free(struct config *c)
{
	struct mesh *m = &c->mesh;
	free(m->trust_domain); free(m->namespace_); free(m->service_account); free(m->service);
	free(m->instance_ip); free(m->discovery_address); free(m->ca_address); free(m->service_cidr);
	for (unsigned i = 0; i < m->n_hosts; i++) {
		free(m->hosts[i].name);
		free(m->hosts[i].ip);
	}
	for (int r = 0; r < ROLE_MAX; r++) {
		struct artifact *a = &c->artifacts[r];
		free(a->url); free(a->digest); free(a->sha256_url); free(a->version); free(a->exec);
		strv_free(a->mirrors, a->n_mirrors);
		strv_free(a->args, a->n_args);
	}
	free(c->release.manifest_url); free(c->release.signature_url); free(c->release.public_key);
	struct certs *k = &c->certs;
	free(k->root_pem); free(k->root_url); free(k->root_sha256);
	strv_free(k->dns_names, k->n_dns_names);
	strv_free(k->ip_addresses, k->n_ip_addresses);
	free(k->ca_cert_pem); free(k->ca_cert_file); free(k->ca_key_file);
	secret_free(k->ca_key_pem);
	free(k->ca_address); free(k->token_file);
	secret_free(k->token);
	struct etcd *e = &c->etcd;
	free(e->name); free(e->data_dir); free(e->listen_client_urls); free(e->advertise_client_urls);
	free(e->listen_peer_urls); free(e->advertise_peer_urls); free(e->initial_cluster_state);
	free(e->initial_cluster_token);
	for (unsigned i = 0; i < e->n_initial_cluster; i++) {
		free(e->initial_cluster[i].name);
		free(e->initial_cluster[i].peer_url);
	}
	strv_free(c->apiserver.etcd_servers, c->apiserver.n_etcd_servers);
	free(c->apiserver.service_cluster_ip_range);
	free(c->apiserver.bind_address);
	free(c->fetch.ca_bundle);
	free(c->user.name);
	free(c->install_prefix);
	redirect_config_free(&c->redirect);
	memset(c, 0, sizeof(*c));
}

const struct artifact *artifact_for(const struct config *c, enum role r)
{
	return r < ROLE_MAX && c->artifacts[r].present ? &c->artifacts[r] : NULL;
}
