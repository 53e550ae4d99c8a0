/* SPDX-License-Identifier: Apache-2.0 */
/* Verification of minisign signatures with OpenSSL's Ed25519 and
 * BLAKE2b-512 (no libsodium).  Formats, as minisign writes them:
 *
 *   public key   "untrusted comment: ..." line (optional here), then
 *                base64("Ed" || key id[8] || Ed25519 public key[32])
 *   .minisig     "untrusted comment: ..."
 *                base64(alg[2] || key id[8] || signature[64])
 *                "trusted comment: TEXT"
 *                base64(Ed25519 over signature[64] || TEXT)
 *
 * alg "Ed" (legacy) signs the data itself, "ED" (minisign's default since
 * 0.8) signs BLAKE2b-512(data).  A key id is 8 raw bytes; minisign shows it
 * as the little-endian 64-bit number in upper-case hex (the bytes reversed),
 * and so do our messages, so they match the comment line of a .pub file.
 * Pure functions: no logging, no I/O. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define MINISIGN_SIG_MAX 8192  /* larger .minisig files are refused */

struct minisign_key {
	uint8_t id[8];
	uint8_t pk[32];
};

/* Parse a public key: the base64 line ("RW...", 56 characters) or a whole
 * .pub file (an "untrusted comment:" line, then the base64 line).  A single
 * trailing LF or CRLF is allowed; nothing else around or inside the base64.
 * Returns 0 or -EINVAL. */
int minisign_key_parse(const char *text, size_t len, struct minisign_key *out);

/* Key id as minisign prints it: 16 upper-case hex digits (buf >= 17). */
void minisign_key_id_format(const uint8_t id[8], char buf[static 17]);

/* Verify the .minisig text sig over data with the pinned key: the key id,
 * the file signature ("Ed" or "ED"), then always the global signature over
 * the trusted comment.  Returns 0 when all hold; -EBADMSG when the
 * signature file is malformed or truncated, -EKEYREJECTED when it names
 * another key, -EBADE when a signature does not verify, -ENOMEM, or -EIO
 * when OpenSSL lacks Ed25519 or BLAKE2b-512.  On
 * failure err (if errlen > 0) says why, naming the line or the key ids;
 * on success it is "".  trusted may be NULL; otherwise *trusted is set to
 * NULL, and on success to the malloc'd trusted comment text (without its
 * prefix; it may hold tabs and other bytes: escape it before printing). */
int minisign_verify(const struct minisign_key *key, const char *sig, size_t sig_len,
                    const void *data, size_t len, char **trusted, char *err, size_t errlen);
