/* SPDX-License-Identifier: Apache-2.0 */
/* The Istio file layout of a sidecar host, and the managed /etc/hosts
 * block, under --root. */
#pragma once

#include <sys/types.h>

#include "config.h"
#include "util.h"

#define HOSTS_BEGIN "# BEGIN meshboot: control-plane names (managed; re-runs replace this block)"
#define HOSTS_END "# END meshboot"

/* The directories an istio-sidecar install expects (bake):
 * /var/lib/istio/envoy, /var/log/istio (istio-proxy), /etc/istio/config.
 * 1 changed, 0 already so, negative errno. */
int layout_dirs_ensure(const char *root, uid_t uid, gid_t gid);

/* The instance files (boot): cluster.env, sidecar.env, /etc/istio/config/mesh.
 * ip: the address to advertise (ISTIO_SVC_IP).  1/0/-errno. */
int layout_files_ensure(const char *root, const struct config *c, const char *ip, uid_t uid, gid_t gid);

/* Text of the three files, for tests and plan (into out). */
void layout_cluster_env(const struct config *c, const char *ip, struct strbuf *out);
void layout_sidecar_env(const struct config *c, struct strbuf *out);
void layout_mesh_config(const struct config *c, struct strbuf *out);

/* /etc/hosts with our block for these entries (none: the block removed),
 * everything else kept byte for byte.  1/0/-errno. */
int hosts_block_ensure(const char *root, const struct host_entry *v, unsigned n);
/* The pure transformation: text in, text out. */
void hosts_block_apply(const char *text, size_t len, const struct host_entry *v, unsigned n, struct strbuf *out);

/* The host's address to advertise: the first IPv4 address of the interface
 * holding the default route (/proc/net/route, getifaddrs), else the first
 * non-loopback address.  0 or -ENOENT. */
int address_detect(char *out, size_t len);
