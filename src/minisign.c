/* SPDX-License-Identifier: Apache-2.0 */
#include "minisign.h"

#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#define ALG_LEN 2
#define KEY_ID_LEN 8
#define PK_LEN 32
#define ED25519_SIG_LEN 64
#define KEY_BLOB_LEN (ALG_LEN + KEY_ID_LEN + PK_LEN)          /* 42 */
#define SIG_BLOB_LEN (ALG_LEN + KEY_ID_LEN + ED25519_SIG_LEN) /* 74 */
#define BLAKE2B_512_LEN 64

static const char untrusted_prefix[] = "untrusted comment: ";
static const char trusted_prefix[] = "trusted comment: ";


static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Length of the padded base64 text for n bytes. */
static size_t b64_len_for(size_t n)
{
	return (n + 2) / 3 * 4;
}

/* Strict standard base64 (RFC 4648 section 4, padded) of exactly want bytes:
 * the length must be b64_len_for(want), '=' only as the final padding, and
 * the unused bits of the last character zero (one encoding per value).
 * 0 or -EINVAL. */
static int b64_decode_exact(const char *s, size_t n, uint8_t *out, size_t want)
{
	if (n != b64_len_for(want))
		return -EINVAL;
	size_t pad = (3 - want % 3) % 3;
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < n - pad; i++) {
		int v = b64_value((unsigned char)s[i]);
		if (v < 0)
			return -EINVAL;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	for (size_t i = n - pad; i < n; i++)
		if (s[i] != '=')
			return -EINVAL;
	if (o != want || acc != 0)
		return -EINVAL;
	return 0;
}

/* One line of [*p, end): its text without "\n" or "\r\n".  false at end. */
static bool line_next(const char **p, const char *end, const char **line, size_t *line_len)
{
	if (*p >= end)
		return false;
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	const char *stop = nl ? nl : end;
	*line = *p;
	*line_len = (size_t)(stop - *p);
	if (nl && *line_len > 0 && stop[-1] == '\r')
		(*line_len)--;
	*p = nl ? nl + 1 : end;
	return true;
}

void minisign_key_id_format(const uint8_t id[8], char buf[static 17])
{
	static const char hex[] = "0123456789ABCDEF";
	for (unsigned i = 0; i < KEY_ID_LEN; i++) {
		buf[2 * i] = hex[id[KEY_ID_LEN - 1 - i] >> 4];
		buf[2 * i + 1] = hex[id[KEY_ID_LEN - 1 - i] & 0xf];
	}
	buf[16] = '\0';
}

int minisign_key_parse(const char *text, size_t len, struct minisign_key *out)
{
	if (!text || memchr(text, '\0', len))
		return -EINVAL;
	const char *p = text, *end = text + len, *line;
	size_t line_len;
	if (!line_next(&p, end, &line, &line_len))
		return -EINVAL;
	if (line_len >= strlen(untrusted_prefix) - 1 && memcmp(line, untrusted_prefix, strlen(untrusted_prefix) - 1) == 0) {
		if (!line_next(&p, end, &line, &line_len))
			return -EINVAL;
	}
	if (p != end)  /* anything after the key line */
		return -EINVAL;
	uint8_t blob[KEY_BLOB_LEN];
	if (b64_decode_exact(line, line_len, blob, sizeof(blob)) < 0)
		return -EINVAL;
	if (memcmp(blob, "Ed", ALG_LEN) != 0)
		return -EINVAL;
	memcpy(out->id, blob + ALG_LEN, KEY_ID_LEN);
	memcpy(out->pk, blob + ALG_LEN + KEY_ID_LEN, PK_LEN);
	return 0;
}

/* Ed25519 verification of sig over msg.  0 verified, -EBADE not,
 * -ENOMEM, -EIO when OpenSSL cannot set up the check. */
static int ed25519_verify(const uint8_t pk[PK_LEN], const uint8_t sig[ED25519_SIG_LEN],
                          const void *msg, size_t msg_len)
{
	static const unsigned char empty[1];
	int r = -EIO;
	EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, PK_LEN);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx) {
		r = -ENOMEM;
		goto out;
	}
	if (!pkey)
		goto out;
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) != 1)
		goto out;
	/* Only exactly 1 is success: 0 is a bad signature, < 0 an error. */
	r = EVP_DigestVerify(ctx, sig, ED25519_SIG_LEN, msg_len ? msg : empty, msg_len) == 1 ? 0 : -EBADE;
out:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	return r;
}

/* A malformed or truncated signature file: -EBADMSG with a reason. */
#define BADMSG(...) do { err_fmt(err, errlen, 0, __VA_ARGS__); return -EBADMSG; } while (0)

static const char *const sig_line_what[4] = { "untrusted comment", "signature", "trusted comment", "global signature" };

/* Line no (1-4) of a signature file: present, no NUL, no CR inside, and,
 * except for the last one, ended by a newline.  0 or -EBADMSG. */
static int sig_line_take(const char **p, const char *end, unsigned no, const char **line, size_t *len,
                         char *err, size_t errlen)
{
	const char *what = sig_line_what[no - 1];
	if (!line_next(p, end, line, len))
		BADMSG("signature file is truncated: line %u (%s) is missing", no, what);
	const char *nul = memchr(*line, '\0', *len);
	if (nul)
		BADMSG("line %u (%s): NUL byte at column %zu", no, what, (size_t)(nul - *line) + 1);
	const char *cr = memchr(*line, '\r', *len);
	if (cr)
		BADMSG("line %u (%s): carriage return at column %zu", no, what, (size_t)(cr - *line) + 1);
	if (no < 4 && (*p == end && (*p)[-1] != '\n'))
		BADMSG("signature file is truncated: it ends inside line %u (%s)", no, what);
	return 0;
}

int minisign_verify(const struct minisign_key *key, const char *sig, size_t sig_len,
                    const void *data, size_t len, char **trusted, char *err, size_t errlen)
{
	if (trusted)
		*trusted = NULL;
	err_fmt(err, errlen, 0, "%s", "");
	if (!sig)
		sig_len = 0;
	if (sig_len > MINISIGN_SIG_MAX)
		BADMSG("signature file is larger than %u bytes", (unsigned)MINISIGN_SIG_MAX);
	if (sig_len == 0)
		BADMSG("signature file is empty");

	const char *p = sig, *end = sig + sig_len, *line;
	size_t line_len;
	int r = sig_line_take(&p, end, 1, &line, &line_len, err, errlen);
	if (r < 0)
		return r;
	if (line_len < strlen(untrusted_prefix) || memcmp(line, untrusted_prefix, strlen(untrusted_prefix)) != 0)
		BADMSG("line 1 (untrusted comment): does not start with \"%s\"", untrusted_prefix);

	r = sig_line_take(&p, end, 2, &line, &line_len, err, errlen);
	if (r < 0)
		return r;
	uint8_t blob[SIG_BLOB_LEN];
	if (line_len != b64_len_for(SIG_BLOB_LEN))
		BADMSG("line 2 (signature): %zu characters, expected %zu (base64 of %u bytes)",
		       line_len, b64_len_for(SIG_BLOB_LEN), (unsigned)SIG_BLOB_LEN);
	if (b64_decode_exact(line, line_len, blob, sizeof(blob)) < 0)
		BADMSG("line 2 (signature): invalid base64");
	bool prehashed;
	if (memcmp(blob, "ED", ALG_LEN) == 0)
		prehashed = true;
	else if (memcmp(blob, "Ed", ALG_LEN) == 0)
		prehashed = false;
	else
		BADMSG("line 2 (signature): unsupported algorithm 0x%02x%02x (expected \"Ed\" or \"ED\")",
		       blob[0], blob[1]);

	r = sig_line_take(&p, end, 3, &line, &line_len, err, errlen);
	if (r < 0)
		return r;
	if (line_len < strlen(trusted_prefix) || memcmp(line, trusted_prefix, strlen(trusted_prefix)) != 0)
		BADMSG("line 3 (trusted comment): does not start with \"%s\"", trusted_prefix);
	const char *comment = line + strlen(trusted_prefix);
	size_t comment_len = line_len - strlen(trusted_prefix);

	r = sig_line_take(&p, end, 4, &line, &line_len, err, errlen);
	if (r < 0)
		return r;
	uint8_t global_sig[ED25519_SIG_LEN];
	if (line_len != b64_len_for(ED25519_SIG_LEN))
		BADMSG("line 4 (global signature): %zu characters, expected %zu (base64 of %u bytes)",
		       line_len, b64_len_for(ED25519_SIG_LEN), (unsigned)ED25519_SIG_LEN);
	if (b64_decode_exact(line, line_len, global_sig, sizeof(global_sig)) < 0)
		BADMSG("line 4 (global signature): invalid base64");
	if (p != end)
		BADMSG("line 5: unexpected content after the global signature");

	const uint8_t *sig_id = blob + ALG_LEN;
	const uint8_t *file_sig = blob + ALG_LEN + KEY_ID_LEN;
	if (memcmp(sig_id, key->id, KEY_ID_LEN) != 0) {
		char got[17], want[17];
		minisign_key_id_format(sig_id, got);
		minisign_key_id_format(key->id, want);
		err_fmt(err, errlen, 0, "signed with key id %s, but the pinned key id is %s", got, want);
		return -EKEYREJECTED;
	}

	if (prehashed) {
		uint8_t md[BLAKE2B_512_LEN];
		unsigned md_len = 0;
		static const unsigned char empty[1];
		if (EVP_Digest(len ? data : empty, len, md, &md_len, EVP_blake2b512(), NULL) != 1 ||
		    md_len != sizeof(md)) {
			ERR_clear_error();
			err_fmt(err, errlen, 0, "OpenSSL cannot compute BLAKE2b-512");
			return -EIO;
		}
		r = ed25519_verify(key->pk, file_sig, md, sizeof(md));
	} else {
		r = ed25519_verify(key->pk, file_sig, data, len);
	}
	if (r == -EBADE)
		err_fmt(err, errlen, 0, "the file signature (line 2, %s) does not verify: the data is not what was signed",
		        prehashed ? "prehashed \"ED\"" : "legacy \"Ed\"");
	else if (r < 0)
		err_fmt(err, errlen, 0, "OpenSSL cannot check an Ed25519 signature");
	if (r < 0)
		return r;

	uint8_t *global_msg = malloc(ED25519_SIG_LEN + comment_len);
	if (!global_msg) {
		err_fmt(err, errlen, 0, "out of memory");
		return -ENOMEM;
	}
	memcpy(global_msg, file_sig, ED25519_SIG_LEN);
	memcpy(global_msg + ED25519_SIG_LEN, comment, comment_len);
	r = ed25519_verify(key->pk, global_sig, global_msg, ED25519_SIG_LEN + comment_len);
	free(global_msg);
	if (r == -EBADE)
		err_fmt(err, errlen, 0, "the trusted comment (line 3) does not verify against the global signature (line 4)");
	else if (r < 0)
		err_fmt(err, errlen, 0, "OpenSSL cannot check an Ed25519 signature");
	if (r < 0)
		return r;

	if (trusted) {
		char *t = strndup(comment, comment_len);
		if (!t) {
			err_fmt(err, errlen, 0, "out of memory");
			return -ENOMEM;
		}
		*trusted = t;
	}
	return 0;
}
