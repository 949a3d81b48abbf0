/*
 * server/auth/secret.h - randomness, constant-time comparison, strict
 * base64url / base32 codecs, and the opaque bearer tokens of the console
 * and the REST API (API tokens, web sessions, CSRF tokens).
 *
 * Conventions
 * - Randomness is OpenSSL's RAND_bytes(). A failure is RP_E_CRYPTO and
 *   the output MUST NOT be used; there is no fallback to a weaker source.
 * - Inputs are `const uint8_t *buf, size_t len` (buf may be NULL when len
 *   is 0); text outputs are `char *out, size_t cap, size_t *out_len`: the
 *   text is NUL-terminated, cap counts the NUL, *out_len does not, and
 *   out_len may be NULL. On an error the output is unspecified (an encoder
 *   or decoder MAY have written part of it) and *out_len is not set.
 * - Decoders are strict, because their input comes from peers: a wrong
 *   character, an impossible length, padding, or trailing bits that are
 *   not zero (a second spelling of the same bytes) is RP_E_MALFORMED. So
 *   decode(s) succeeds only for the one s that encode() would produce.
 * - Nothing here allocates through the server's allocator; OpenSSL may
 *   allocate internally for a digest. Nothing logs.
 * - Threads: every function is safe from any thread (no shared state
 *   besides OpenSSL's own, which is thread-safe in OpenSSL 3).
 *
 * Tokens
 * - A token is a fixed prefix naming its kind and 43 base64url characters
 *   of 32 random bytes: "rpt_" API token, "rps_" web session, "rpc_" CSRF
 *   token, "rpe_" enrollment token of a device (47 characters in all).
 *   The prefix lets secret scanners find a leaked token and keeps a
 *   session cookie from being accepted as an API token (each kind is
 *   hashed with its prefix).
 * - The server stores only SHA-256 of the token text. A fast hash is
 *   enough here and wrong for passwords: a token holds 256 random bits, so
 *   an attacker with the stored hashes would need about 2^255 guesses per
 *   token whatever the hash costs, while a password holds a few dozen bits
 *   of human choice and only a slow, memory-hard hash (Argon2id, see
 *   password.h) makes testing candidates expensive. A fast hash also keeps
 *   the per-request check of an API token cheap.
 * - rp_token_parse() checks the exact format before anything is hashed or
 *   looked up, so a lookup never sees attacker-chosen garbage.
 */
#ifndef RP_SERVER_AUTH_SECRET_H
#define RP_SERVER_AUTH_SECRET_H

#include <stddef.h>
#include <stdint.h>

#include "rampart/limits.h"
#include "rampart/status.h"

/* SHA-256 sizes: digest bytes, and lowercase hex text without the NUL. */
#define RP_SHA256_LEN     32u
#define RP_SHA256_HEX_LEN 64u

/*
 * Fills out[0 .. n) with bytes from OpenSSL's CSPRNG. Returns RP_OK,
 * RP_E_CRYPTO (the generator failed; out MUST NOT be used: it is zeroed),
 * or RP_E_INVALID_ARG (out NULL with n > 0).
 */
rp_status rp_secret_random(void *out, size_t n);

/*
 * 1 if a[0 .. n) equals b[0 .. n), else 0, in time that depends on n only
 * (CRYPTO_memcmp). For MACs, hashes, tokens and codes. n 0 gives 1.
 */
int rp_secret_equal(const void *a, const void *b, size_t n);

/* ------------------------------------------------------------------------
 * base64 (RFC 4648) without padding
 * ------------------------------------------------------------------------ */

typedef enum rp_b64_alphabet {
	RP_B64_URL, /* section 5: A-Z a-z 0-9 - _ (tokens, URLs, cookies) */
	RP_B64_STD, /* section 4: A-Z a-z 0-9 + / (PHC strings) */
} rp_b64_alphabet;

/* Characters of the unpadded encoding of n bytes (NUL excluded). */
#define RP_B64_LEN(n) (((n) / 3u) * 4u + (((n) % 3u) * 4u + 2u) / 3u)

/*
 * Encodes buf[0 .. len) without padding. Returns RP_OK,
 * RP_E_BUF_TOO_SMALL (cap < RP_B64_LEN(len) + 1), or RP_E_INVALID_ARG.
 */
rp_status rp_secret_b64_encode(rp_b64_alphabet a, const uint8_t *buf, size_t len, char *out,
			       size_t cap, size_t *out_len);

/*
 * Decodes the unpadded text buf[0 .. len) into out[0 .. cap) (bytes, no
 * NUL). Returns RP_OK with *out_len set; RP_E_MALFORMED (a character not
 * in the alphabet, '=' included; len % 4 == 1; non-zero trailing bits);
 * RP_E_BUF_TOO_SMALL; RP_E_INVALID_ARG.
 */
rp_status rp_secret_b64_decode(rp_b64_alphabet a, const uint8_t *buf, size_t len, uint8_t *out,
			       size_t cap, size_t *out_len);

/* ------------------------------------------------------------------------
 * base32 (RFC 4648 section 6, A-Z 2-7) without padding: TOTP keys
 * ------------------------------------------------------------------------ */

/* Characters of the unpadded encoding of n bytes (NUL excluded). */
#define RP_B32_LEN(n) (((n) / 5u) * 8u + (((n) % 5u) * 8u + 4u) / 5u)

/* As rp_secret_b64_encode(), with RP_B32_LEN. */
rp_status rp_secret_b32_encode(const uint8_t *buf, size_t len, char *out, size_t cap,
			       size_t *out_len);

/*
 * As rp_secret_b64_decode(): upper case only, no padding, len % 8 not 1,
 * 3 or 6, trailing bits zero.
 */
rp_status rp_secret_b32_decode(const uint8_t *buf, size_t len, uint8_t *out, size_t cap,
			       size_t *out_len);

/* ------------------------------------------------------------------------
 * SHA-256
 * ------------------------------------------------------------------------ */

/* SHA-256 of buf[0 .. len). RP_OK, RP_E_CRYPTO, RP_E_INVALID_ARG. */
rp_status rp_secret_sha256(const uint8_t *buf, size_t len, uint8_t out[RP_SHA256_LEN]);

/* Lowercase hex of a digest into out (RP_SHA256_HEX_LEN + 1 bytes, NUL-terminated). */
void rp_secret_hex(const uint8_t digest[RP_SHA256_LEN], char out[RP_SHA256_HEX_LEN + 1u]);

/* ------------------------------------------------------------------------
 * Opaque bearer tokens
 * ------------------------------------------------------------------------ */

typedef enum rp_token_kind {
	RP_TOKEN_API = 1, /* "rpt_": automation, Authorization: Bearer */
	RP_TOKEN_SESSION, /* "rps_": the web session cookie */
	RP_TOKEN_CSRF,    /* "rpc_": the synchronizer token of a session */
	RP_TOKEN_ENROLL,  /* "rpe_": a device's one-time enrollment token (EST) */
} rp_token_kind;

#define RP_TOKEN_PREFIX_LEN 4u
#define RP_TOKEN_LEN        (RP_TOKEN_PREFIX_LEN + RP_B64_LEN(RP_TOKEN_RANDOM_LEN)) /* 47 */

/* A token's text, NUL-terminated. Secret: wipe it (rp_token_wipe). */
typedef struct rp_token {
	char text[RP_TOKEN_LEN + 1u];
} rp_token;

/*
 * Makes a new token of `kind`. Returns RP_OK, RP_E_CRYPTO (no randomness;
 * out is wiped), or RP_E_INVALID_ARG (unknown kind, out NULL).
 */
rp_status rp_token_new(rp_token_kind kind, rp_token *out);

/*
 * Checks that buf[0 .. len) is exactly a token: a known prefix, 43
 * base64url characters, canonical trailing bits. Sets *kind (may be NULL).
 * Returns RP_OK or RP_E_MALFORMED (buf NULL included).
 */
rp_status rp_token_parse(const uint8_t *buf, size_t len, rp_token_kind *kind);

/*
 * The stored form of a token: SHA-256 of its text, after rp_token_parse()
 * and a check that its kind is `expect`. Returns RP_OK, RP_E_MALFORMED
 * (not a token, or another kind), RP_E_CRYPTO.
 */
rp_status rp_token_hash(const uint8_t *buf, size_t len, rp_token_kind expect,
			uint8_t out[RP_SHA256_LEN]);

/* As rp_token_hash(), as lowercase hex (a database key). */
rp_status rp_token_hash_hex(const uint8_t *buf, size_t len, rp_token_kind expect,
			    char out[RP_SHA256_HEX_LEN + 1u]);

/*
 * Whether the presented token buf[0 .. len), of kind `expect`, is the one
 * whose stored hash is `stored` (constant-time compare of the hashes). For
 * the CSRF check, where the expected value is known before the request.
 * Returns RP_OK or RP_E_AUTH (malformed, other kind, or different).
 */
rp_status rp_token_check(const uint8_t *buf, size_t len, rp_token_kind expect,
			 const uint8_t stored[RP_SHA256_LEN]);

/* Overwrites a token (NULL allowed). */
void rp_token_wipe(rp_token *t);

#endif /* RP_SERVER_AUTH_SECRET_H */
