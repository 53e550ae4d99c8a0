/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness: meshboot's own code around OpenSSL's PEM and X.509
 * parsers, fed what a hostile CA, mirror or disk could hand it.  Byte 0
 * picks the path, the rest is the input:
 *   0  a root certificate (certs_root_check);
 *   1  a certificate chain: normalised against, and checked with, a fixed
 *      mesh root and workload key (certs_chain_normalize,
 *      certs_chain_check, certs_leaf_check);
 *   2  a CSR: compared with itself and with ours (certs_csr_same), then
 *      signed by the mesh CA (certs_sign) and the result checked;
 *   3  a CA certificate with our CA key (certs_ca_pair_check), and a CA
 *      key with our CA certificate.
 * The fixed material (a mesh CA, a workload key, its CSR) is made once.
 * Invariants: a chain that passes certs_chain_check normalises, and so
 * does whatever certs_sign issues. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SPIFFE "spiffe://cluster.local/ns/fuzz/sa/fuzz"

static struct {
	bool ready;
	char *ca, *ca_key, *key, *csr;
	size_t ca_len, ca_key_len, key_len, csr_len;
} fx;

static void fixtures_make(void)
{
	char err[256];
	if (fx.ready)
		return;
	if (certs_ca_create("cluster.local", 365, &fx.ca, &fx.ca_len, &fx.ca_key, &fx.ca_key_len, err, sizeof(err)) < 0 ||
	    certs_key_generate(KEY_EC_P256, &fx.key, &fx.key_len, err, sizeof(err)) < 0 ||
	    certs_csr_make(fx.key, fx.key_len, SPIFFE, NULL, 0, NULL, 0, &fx.csr, &fx.csr_len, err, sizeof(err)) < 0)
		abort();
	fx.ready = true;
}

static void chain_path(const char *in, size_t n)
{
	char err[512], *norm = NULL;
	size_t norm_len = 0;
	time_t end;
	int checked = certs_chain_check(in, n, fx.ca, fx.ca_len, fx.key, fx.key_len, SPIFFE, err, sizeof(err));
	certs_chain_check_untimed(in, n, fx.ca, fx.ca_len, fx.key, fx.key_len, SPIFFE, err, sizeof(err));
	certs_leaf_check(in, n, fx.key, fx.key_len, time(NULL), &end, err, sizeof(err));
	int r = certs_chain_normalize(in, n, fx.ca, fx.ca_len, &norm, &norm_len, err, sizeof(err));
	if (checked == 0 && r != 0)
		abort(); /* a chain good enough to install is one we can write */
	if (r == 0 && (!norm || strlen(norm) != norm_len))
		abort();
	free(norm);
}

static void csr_path(const char *in, size_t n)
{
	char err[512], *chain = NULL;
	size_t chain_len = 0;
	certs_csr_same(in, n, in, n);
	certs_csr_same(in, n, fx.csr, fx.csr_len);
	if (certs_sign(in, n, fx.ca, fx.ca_len, fx.ca_key, fx.ca_key_len, 24, &chain, &chain_len, err, sizeof(err)) == 0) {
		if (!chain || strlen(chain) != chain_len)
			abort();
		/* what certs_sign issues is a chain we can write */
		char *norm = NULL;
		size_t norm_len = 0;
		if (certs_chain_normalize(chain, chain_len, fx.ca, fx.ca_len, &norm, &norm_len, err, sizeof(err)) != 0)
			abort();
		free(norm);
		free(chain);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > CERTS_PEM_MAX + 1)
		return 0;
	fixtures_make();
	/* a NUL-terminated copy: the functions take (pointer, length) but
	 * callers hand them C strings */
	char *in = malloc(size);
	if (!in)
		return 0;
	memcpy(in, data + 1, size - 1);
	in[size - 1] = '\0';
	size_t n = size - 1;
	char fp[65], err[512];
	switch (data[0] % 4) {
	case 0:
		certs_root_check(in, n, time(NULL), fp, err, sizeof(err));
		break;
	case 1:
		chain_path(in, n);
		break;
	case 2:
		csr_path(in, n);
		break;
	case 3:
		certs_ca_pair_check(in, n, fx.ca_key, fx.ca_key_len, time(NULL), err, sizeof(err));
		certs_ca_pair_check(fx.ca, fx.ca_len, in, n, time(NULL), err, sizeof(err));
		break;
	}
	free(in);
	return 0;
}
