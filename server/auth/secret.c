/*
 * secret.c - randomness, constant-time compare, strict codecs, tokens.
 *
 * Implementation notes
 * - The codecs are bit accumulators: encode takes 8 bits in and gives 6
 *   (or 5) out; decode the reverse. Decoding checks, in this order: the
 *   length is one an encoder can produce, every character is in the
 *   alphabet, and the bits left over at the end are zero. The last check
 *   is what makes the encoding canonical (each byte string has exactly one
 *   accepted spelling), so a token or a PHC string cannot be varied into
 *   a second form that a cache, a log or a comparison treats differently.
 * - Character classification is by ranges, not tables; the decoders see
 *   tokens only after a peer presented them, so table-free decoding is
 *   about clarity, not secrecy.
 * - Attacker: everything given to a decoder and to rp_token_parse().
 *   Lengths are checked against cap before anything is written, with
 *   arithmetic that cannot wrap (len / 4 * 3 and so on).
 */
#include "auth/secret.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "util/alloc.h"

static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b32_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static const char *const token_prefix[] = {
	[RP_TOKEN_API] = "rpt_",
	[RP_TOKEN_SESSION] = "rps_",
	[RP_TOKEN_CSRF] = "rpc_",
	[RP_TOKEN_ENROLL] = "rpe_",
};

rp_status rp_secret_random(void *out, size_t n)
{
	uint8_t *p = out;

	if (out == NULL) {
		return n == 0 ? RP_OK : RP_E_INVALID_ARG;
	}
	while (n > 0) {
		/* RAND_bytes takes an int: feed it in chunks. */
		int chunk = n > 65536u ? 65536 : (int)n;

		if (RAND_bytes(p, chunk) != 1) {
			rp_wipe(out, (size_t)(p - (uint8_t *)out) + n);
			return RP_E_CRYPTO;
		}
		p += chunk;
		n -= (size_t)chunk;
	}
	return RP_OK;
}

int rp_secret_equal(const void *a, const void *b, size_t n)
{
	if (n == 0) {
		return 1;
	}
	return CRYPTO_memcmp(a, b, n) == 0;
}

/* ------------------------------------------------------------------------
 * base64
 * ------------------------------------------------------------------------ */

/* The 6-bit value of c in alphabet a, or -1. */
static int b64_value(rp_b64_alphabet a, uint8_t c)
{
	if (c >= 'A' && c <= 'Z') {
		return c - 'A';
	}
	if (c >= 'a' && c <= 'z') {
		return c - 'a' + 26;
	}
	if (c >= '0' && c <= '9') {
		return c - '0' + 52;
	}
	if (a == RP_B64_URL) {
		return c == '-' ? 62 : c == '_' ? 63 : -1;
	}
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

rp_status rp_secret_b64_encode(rp_b64_alphabet a, const uint8_t *buf, size_t len, char *out,
			       size_t cap, size_t *out_len)
{
	const char *chars = a == RP_B64_URL ? b64_url : b64_std;
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t i, o = 0, need;

	if ((buf == NULL && len > 0) || out == NULL || (a != RP_B64_URL && a != RP_B64_STD)) {
		return RP_E_INVALID_ARG;
	}
	/* RP_B64_LEN(len) <= len / 3 * 4 + 3 cannot wrap for len < SIZE_MAX / 2. */
	if (len > SIZE_MAX / 2u) {
		return RP_E_BUF_TOO_SMALL;
	}
	need = RP_B64_LEN(len);
	if (cap <= need) {
		return RP_E_BUF_TOO_SMALL;
	}
	for (i = 0; i < len; i++) {
		acc = (acc << 8) | buf[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = chars[(acc >> bits) & 63u];
		}
		acc &= (1u << bits) - 1u;
	}
	if (bits > 0) {
		out[o++] = chars[(acc << (6 - bits)) & 63u];
	}
	out[o] = '\0';
	if (out_len != NULL) {
		*out_len = o;
	}
	return RP_OK;
}

rp_status rp_secret_b64_decode(rp_b64_alphabet a, const uint8_t *buf, size_t len, uint8_t *out,
			       size_t cap, size_t *out_len)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t i, o = 0, need;

	if ((buf == NULL && len > 0) || (out == NULL && cap > 0) ||
	    (a != RP_B64_URL && a != RP_B64_STD)) {
		return RP_E_INVALID_ARG;
	}
	if (len % 4u == 1u) {
		return RP_E_MALFORMED;
	}
	need = len / 4u * 3u + (len % 4u == 0 ? 0 : len % 4u - 1u);
	for (i = 0; i < len; i++) {
		if (b64_value(a, buf[i]) < 0) {
			return RP_E_MALFORMED;
		}
	}
	if (need > cap) {
		return RP_E_BUF_TOO_SMALL;
	}
	for (i = 0; i < len; i++) {
		acc = (acc << 6) | (uint32_t)b64_value(a, buf[i]);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1u;
		}
	}
	/* Left over: 2 or 4 bits that an encoder sets to zero. */
	if (acc != 0) {
		return RP_E_MALFORMED;
	}
	if (out_len != NULL) {
		*out_len = o;
	}
	return RP_OK;
}

/* ------------------------------------------------------------------------
 * base32
 * ------------------------------------------------------------------------ */

static int b32_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z') {
		return c - 'A';
	}
	if (c >= '2' && c <= '7') {
		return c - '2' + 26;
	}
	return -1;
}

rp_status rp_secret_b32_encode(const uint8_t *buf, size_t len, char *out, size_t cap,
			       size_t *out_len)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t i, o = 0, need;

	if ((buf == NULL && len > 0) || out == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (len > SIZE_MAX / 4u) {
		return RP_E_BUF_TOO_SMALL;
	}
	need = RP_B32_LEN(len);
	if (cap <= need) {
		return RP_E_BUF_TOO_SMALL;
	}
	for (i = 0; i < len; i++) {
		acc = (acc << 8) | buf[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[o++] = b32_chars[(acc >> bits) & 31u];
		}
		acc &= (1u << bits) - 1u;
	}
	if (bits > 0) {
		out[o++] = b32_chars[(acc << (5 - bits)) & 31u];
	}
	out[o] = '\0';
	if (out_len != NULL) {
		*out_len = o;
	}
	return RP_OK;
}

rp_status rp_secret_b32_decode(const uint8_t *buf, size_t len, uint8_t *out, size_t cap,
			       size_t *out_len)
{
	/* Bytes given by the characters of a last, partial group of 8. */
	static const int8_t tail_bytes[8] = {0, -1, 1, -1, 2, 3, -1, 4};
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t i, o = 0, need;

	if ((buf == NULL && len > 0) || (out == NULL && cap > 0)) {
		return RP_E_INVALID_ARG;
	}
	if (tail_bytes[len % 8u] < 0) {
		return RP_E_MALFORMED;
	}
	need = len / 8u * 5u + (size_t)tail_bytes[len % 8u];
	for (i = 0; i < len; i++) {
		if (b32_value(buf[i]) < 0) {
			return RP_E_MALFORMED;
		}
	}
	if (need > cap) {
		return RP_E_BUF_TOO_SMALL;
	}
	for (i = 0; i < len; i++) {
		acc = (acc << 5) | (uint32_t)b32_value(buf[i]);
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1u;
		}
	}
	if (acc != 0) {
		return RP_E_MALFORMED;
	}
	if (out_len != NULL) {
		*out_len = o;
	}
	return RP_OK;
}

/* ------------------------------------------------------------------------
 * SHA-256
 * ------------------------------------------------------------------------ */

rp_status rp_secret_sha256(const uint8_t *buf, size_t len, uint8_t out[RP_SHA256_LEN])
{
	unsigned int n = 0;
	static const uint8_t empty[1];

	if ((buf == NULL && len > 0) || out == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (EVP_Digest(buf != NULL ? buf : empty, len, out, &n, EVP_sha256(), NULL) != 1 ||
	    n != RP_SHA256_LEN) {
		return RP_E_CRYPTO;
	}
	return RP_OK;
}

void rp_secret_hex(const uint8_t digest[RP_SHA256_LEN], char out[RP_SHA256_HEX_LEN + 1u])
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < RP_SHA256_LEN; i++) {
		out[2u * i] = hex[digest[i] >> 4];
		out[2u * i + 1u] = hex[digest[i] & 15u];
	}
	out[RP_SHA256_HEX_LEN] = '\0';
}

/* ------------------------------------------------------------------------
 * Tokens
 * ------------------------------------------------------------------------ */

static int kind_known(rp_token_kind kind)
{
	return kind == RP_TOKEN_API || kind == RP_TOKEN_SESSION || kind == RP_TOKEN_CSRF ||
	       kind == RP_TOKEN_ENROLL;
}

rp_status rp_token_new(rp_token_kind kind, rp_token *out)
{
	uint8_t raw[RP_TOKEN_RANDOM_LEN];
	rp_status st;

	if (out == NULL || !kind_known(kind)) {
		return RP_E_INVALID_ARG;
	}
	st = rp_secret_random(raw, sizeof(raw));
	if (st != RP_OK) {
		goto out;
	}
	memcpy(out->text, token_prefix[kind], RP_TOKEN_PREFIX_LEN);
	st = rp_secret_b64_encode(RP_B64_URL, raw, sizeof(raw), out->text + RP_TOKEN_PREFIX_LEN,
				  sizeof(out->text) - RP_TOKEN_PREFIX_LEN, NULL);
out:
	rp_wipe(raw, sizeof(raw));
	if (st != RP_OK) {
		rp_token_wipe(out);
	}
	return st;
}

rp_status rp_token_parse(const uint8_t *buf, size_t len, rp_token_kind *kind)
{
	uint8_t raw[RP_TOKEN_RANDOM_LEN];
	size_t n = 0;
	rp_token_kind k;
	rp_status st;

	if (buf == NULL || len != RP_TOKEN_LEN) {
		return RP_E_MALFORMED;
	}
	for (k = RP_TOKEN_API; k <= RP_TOKEN_ENROLL; k++) {
		if (memcmp(buf, token_prefix[k], RP_TOKEN_PREFIX_LEN) == 0) {
			break;
		}
	}
	if (k > RP_TOKEN_ENROLL) {
		return RP_E_MALFORMED;
	}
	/* The decoder checks alphabet and canonical trailing bits. */
	st = rp_secret_b64_decode(RP_B64_URL, buf + RP_TOKEN_PREFIX_LEN, len - RP_TOKEN_PREFIX_LEN,
				  raw, sizeof(raw), &n);
	rp_wipe(raw, sizeof(raw));
	if (st != RP_OK || n != RP_TOKEN_RANDOM_LEN) {
		return RP_E_MALFORMED;
	}
	if (kind != NULL) {
		*kind = k;
	}
	return RP_OK;
}

rp_status rp_token_hash(const uint8_t *buf, size_t len, rp_token_kind expect,
			uint8_t out[RP_SHA256_LEN])
{
	rp_token_kind k;

	if (out == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (rp_token_parse(buf, len, &k) != RP_OK || k != expect) {
		return RP_E_MALFORMED;
	}
	return rp_secret_sha256(buf, len, out);
}

rp_status rp_token_hash_hex(const uint8_t *buf, size_t len, rp_token_kind expect,
			    char out[RP_SHA256_HEX_LEN + 1u])
{
	uint8_t digest[RP_SHA256_LEN];
	rp_status st;

	if (out == NULL) {
		return RP_E_INVALID_ARG;
	}
	st = rp_token_hash(buf, len, expect, digest);
	if (st == RP_OK) {
		rp_secret_hex(digest, out);
	}
	return st;
}

rp_status rp_token_check(const uint8_t *buf, size_t len, rp_token_kind expect,
			 const uint8_t stored[RP_SHA256_LEN])
{
	uint8_t digest[RP_SHA256_LEN];
	rp_status verdict = RP_E_AUTH;

	if (stored == NULL || rp_token_hash(buf, len, expect, digest) != RP_OK) {
		return RP_E_AUTH;
	}
	if (rp_secret_equal(digest, stored, RP_SHA256_LEN)) {
		verdict = RP_OK;
	}
	rp_wipe(digest, sizeof(digest));
	return verdict;
}

void rp_token_wipe(rp_token *t)
{
	if (t != NULL) {
		rp_wipe(t, sizeof(*t));
	}
}
