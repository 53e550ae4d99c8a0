/* SPDX-License-Identifier: Apache-2.0 */
/* The configuration model, schema version 1.  Filled by config_parse()
 * (config-parse.c) from the meshboot section of user-data; every field has
 * its default after config_init().  Documented in meshboot.yaml(5). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "redirect.h"

#define CONFIG_VERSION 1

enum role {
	ROLE_SIDECAR,
	ROLE_PILOT,
	ROLE_MIXER,
	ROLE_CITADEL,
	ROLE_APISERVER,
	ROLE_ETCD,
	ROLE_ISTIOD,
	ROLE_MAX
};
const char *role_name(enum role r);
int role_from_name(const char *s); /* -EINVAL if unknown */

enum digest_alg { DIGEST_NONE, DIGEST_SHA256, DIGEST_SHA512 };
enum archive_fmt { ARCHIVE_AUTO, ARCHIVE_TAR_GZ, ARCHIVE_TAR_XZ, ARCHIVE_TAR_ZST, ARCHIVE_ZIP, ARCHIVE_DEB };
const char *archive_fmt_name(enum archive_fmt f);

#define MAX_MIRRORS 8
#define MAX_ARGS 64
#define MAX_HOSTS 64
#define MAX_SANS 16
#define MAX_ETCD_MEMBERS 16

/* One downloadable component (artifacts.<role>).  Roles share one artifact
 * when the release packs several binaries in one tarball: see artifact_for(). */
struct artifact {
	bool present;
	char *url;
	char *mirrors[MAX_MIRRORS];
	unsigned n_mirrors;
	enum digest_alg alg;     /* DIGEST_NONE: digest comes from the signed manifest */
	char *digest;            /* lower-case hex, 64 or 128 chars */
	char *sha256_url;        /* https only; adds nothing beyond TLS */
	uint64_t size;           /* 0: unknown */
	enum archive_fmt format;
	unsigned strip_components;
	char *version;           /* version label used in the install path */
	char *exec;              /* entry point, relative to the unpacked tree */
	char *args[MAX_ARGS];
	unsigned n_args;
};

struct host_entry {
	char *name;
	char *ip;
};

struct mesh {
	char *trust_domain;      /* default cluster.local */
	char *namespace_;        /* default default */
	char *service_account;   /* default default */
	char *service;           /* ISTIO_SERVICE; default: host name at run time */
	char *instance_ip;       /* NULL: detected at run time */
	char *discovery_address; /* PILOT_ADDRESS, host:port */
	char *ca_address;        /* CA_ADDR, host:port */
	char *service_cidr;      /* ISTIO_SERVICE_CIDR */
	struct host_entry hosts[MAX_HOSTS];
	unsigned n_hosts;
};

struct release_trust {
	char *manifest_url;      /* SHA256SUMS-style file */
	char *signature_url;     /* default: manifest_url + ".minisig" */
	char *public_key;        /* minisign public key, base64 (RW...) */
};

enum ca_mode { CA_MODE_NONE, CA_MODE_LOCAL, CA_MODE_ISTIO };
enum key_type { KEY_EC_P256, KEY_RSA_2048, KEY_RSA_3072 };
const char *ca_mode_name(enum ca_mode m);
const char *key_type_name(enum key_type k);

struct certs {
	char *root_pem;          /* inline root certificate */
	char *root_url;
	char *root_sha256;       /* fingerprint pin for root_url (hex) */
	bool root_allow_not_yet_valid; /* proceed when the clock is before the root's notBefore */
	enum key_type key_type;
	uint32_t lifetime_hours; /* requested leaf lifetime, default 24h*90 */
	char *dns_names[MAX_SANS];
	unsigned n_dns_names;
	char *ip_addresses[MAX_SANS];
	unsigned n_ip_addresses;
	enum ca_mode ca_mode;
	/* local */
	char *ca_cert_pem, *ca_cert_file;
	char *ca_key_pem, *ca_key_file;   /* secret */
	/* istio */
	char *ca_address;        /* default: mesh.ca_address */
	char *token;             /* secret */
	char *token_file;
};

struct etcd_member {
	char *name;
	char *peer_url;
};

struct etcd {
	char *name;
	char *data_dir;              /* default /var/lib/etcd */
	char *listen_client_urls;    /* default http://0.0.0.0:2379 */
	char *advertise_client_urls;
	char *listen_peer_urls;      /* default http://0.0.0.0:2380 */
	char *advertise_peer_urls;
	struct etcd_member initial_cluster[MAX_ETCD_MEMBERS];
	unsigned n_initial_cluster;
	char *initial_cluster_state; /* new | existing */
	char *initial_cluster_token;
};

struct apiserver {
	char *etcd_servers[MAX_ETCD_MEMBERS]; /* default http://127.0.0.1:2379 */
	unsigned n_etcd_servers;
	char *service_cluster_ip_range;       /* default 10.99.0.0/16 */
	uint16_t port;                        /* default 8080 (insecure port, as in the seed) */
	char *bind_address;                   /* default 127.0.0.1 */
};

struct fetch_opts {
	char *ca_bundle;             /* extra CA bundle for https */
	unsigned concurrency;        /* default 4 */
	unsigned retries;            /* per URL, default 5 */
	unsigned deadline_sec;       /* whole-run deadline, default 600 */
	uint64_t max_size;           /* cap for artifacts without a size, default 1 GiB */
	uint64_t max_unpacked_size;  /* cap on an artifact's unpacked bytes, default 4 GiB */
	unsigned connect_timeout_sec;/* default 10 */
	unsigned first_byte_timeout_sec; /* request sent to first response byte, default 30 */
	unsigned low_speed_limit;    /* bytes/s, default 1024 */
	unsigned low_speed_time_sec; /* for this long, default 30 */
	unsigned backoff_base_ms;    /* first retry waits up to this, default 500 */
	unsigned backoff_max_ms;     /* cap, default 30000 */
};
void fetch_opts_init(struct fetch_opts *f);

struct proxy_user {
	char *name;              /* istio-proxy */
	uint32_t uid, gid;       /* 1337 */
};

struct config {
	unsigned version;
	bool roles[ROLE_MAX];
	struct mesh mesh;
	struct artifact artifacts[ROLE_MAX];
	struct release_trust release;
	struct certs certs;
	struct redirect_config redirect;
	struct etcd etcd;
	struct apiserver apiserver;
	struct fetch_opts fetch;
	struct proxy_user user;
	char *install_prefix;    /* default /opt/meshboot */
	bool systemd_start;      /* start units at boot, default true */
};

void config_init(struct config *c);
void config_free(struct config *c);

/* The artifact a role runs from: its own, or NULL if none. */
const struct artifact *artifact_for(const struct config *c, enum role r);
