/* SPDX-License-Identifier: Apache-2.0 */
/* The certificate steps.
 *
 * trust_ensure (bake and boot): the mesh root from certs.root.url, fetched
 * once, checked against its pinned fingerprint and kept in
 * /var/cache/meshboot/trust/<fingerprint>.pem, so that a baked image boots
 * without network.  An inline root needs nothing here.
 *
 * certs_ensure (boot only: no key may end up in an image): the root of
 * trust in /etc/certs/root-cert.pem, the workload key (kept while it still
 * matches a valid certificate, else new), its SPIFFE CSR, and the
 * certificate chain from the configured CA (local, istio or none), checked
 * against the root before anything is written.  Citadel and istiod hosts
 * also get the plugged-in CA layout in /etc/cacerts, created when no CA is
 * configured.
 *
 * Both return 1 changed, 0 already so, negative errno (logged). */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "status.h"

#define CERTS_DIR "/etc/certs"
#define CACERTS_DIR "/etc/cacerts"
#define TRUST_CACHE_DIR "/var/cache/meshboot/trust"

int trust_ensure(const struct config *c, const char *root);

int certs_ensure(const struct config *c, const char *root, uid_t uid, gid_t gid, bool force, struct run_status *st);
