/*
 * server/auth/totp.h - time-based one-time passwords (RFC 6238), the
 * operators' second factor.
 *
 * Model
 * - What authenticator apps do: HMAC-SHA1, 6 digits, 30-second steps,
 *   a 20-byte key shown as unpadded base32 in an otpauth:// URI (a QR
 *   code). SHA-256 and SHA-512, 7 or 8 digits and 60-second steps are
 *   supported for the RFC's test vectors and for tokens that need them.
 * - A step is floor(unix_time / period). rp_totp_verify() accepts the code
 *   of now's step or of up to `skew` steps either side (clock drift,
 *   typing time), and only of a step AFTER `last_step`, the step of the
 *   last code this operator got accepted. On success it returns the
 *   matched step; the caller MUST store it as the new last_step before it
 *   answers, with a conditional write (UPDATE ... WHERE last_step < new),
 *   so that two logins racing with one code cannot both pass. A code is
 *   thus accepted once, and a code older than an accepted one never.
 * - Every candidate code is computed and compared in constant time
 *   (CRYPTO_memcmp on the digit strings); none is skipped early.
 * - A wrong code MUST be counted as a login failure by the throttle
 *   (throttle.h): 6 digits are guessable without it.
 *
 * Conventions
 * - Keys are `const uint8_t *key, size_t key_len`, 1 to
 *   RP_LIMIT_TOTP_KEY_LEN bytes, owned by the caller (a secret: wipe it).
 *   params NULL means the defaults (SHA1, 6, 30 s, skew 1).
 * - No allocation through the server's allocator (OpenSSL's HMAC may
 *   allocate internally); nothing logs; safe from any thread.
 */
#ifndef RP_SERVER_AUTH_TOTP_H
#define RP_SERVER_AUTH_TOTP_H

#include <stddef.h>
#include <stdint.h>

#include "rampart/limits.h"
#include "rampart/status.h"

typedef enum rp_totp_alg { RP_TOTP_SHA1 = 0, RP_TOTP_SHA256, RP_TOTP_SHA512 } rp_totp_alg;

typedef struct rp_totp_params {
	rp_totp_alg alg;
	uint32_t digits;   /* 6, 7 or 8 */
	uint32_t period_s; /* 30 or 60 */
	uint32_t skew;     /* steps accepted each side, 0 .. RP_LIMIT_TOTP_SKEW */
} rp_totp_params;

/* Longest provisioning URI, NUL included. */
#define RP_TOTP_URI_CAP 512u

/* The defaults: SHA1, 6 digits, 30 s, skew RP_DEFAULT_TOTP_SKEW. */
void rp_totp_params_default(rp_totp_params *p);

/* RP_OK or RP_E_INVALID_ARG (an unsupported algorithm or value, p NULL). */
rp_status rp_totp_params_check(const rp_totp_params *p);

/* Makes a new key: RP_TOTP_KEY_LEN random bytes. RP_OK or RP_E_CRYPTO. */
rp_status rp_totp_key_new(uint8_t key[RP_TOTP_KEY_LEN]);

/* The step of unix time now_s (0 if params are invalid). */
uint64_t rp_totp_step(const rp_totp_params *params, uint64_t now_s);

/*
 * The code of `step` (RFC 4226's HOTP with the step as counter), as a
 * number below 10^digits. Returns RP_OK, RP_E_CRYPTO, RP_E_INVALID_ARG
 * (params, key length).
 */
rp_status rp_totp_code(const rp_totp_params *params, const uint8_t *key, size_t key_len,
		       uint64_t step, uint32_t *code);

/*
 * Parses a code as typed: exactly params->digits ASCII digits (leading
 * zeros are part of the code), nothing else. Returns RP_OK or
 * RP_E_MALFORMED (RP_E_INVALID_ARG for bad params or code NULL).
 */
rp_status rp_totp_code_parse(const rp_totp_params *params, const uint8_t *buf, size_t len,
			     uint32_t *code);

/*
 * Verifies the typed code buf[0 .. len) at unix time now_s, refusing
 * steps at or before last_step (0 for an operator who never used a code).
 * Returns RP_OK with *new_step set to the matched step; RP_E_AUTH (wrong
 * code, malformed code); RP_E_STATE (the code is right but its step was
 * already used: a replay, worth an audit entry); RP_E_CRYPTO;
 * RP_E_INVALID_ARG. Anything but RP_OK MUST be treated as a failure.
 */
rp_status rp_totp_verify(const rp_totp_params *params, const uint8_t *key, size_t key_len,
			 const uint8_t *buf, size_t len, uint64_t now_s, uint64_t last_step,
			 uint64_t *new_step);

/*
 * Writes the provisioning URI for an authenticator app:
 *   otpauth://totp/Rampart:<name>?secret=<BASE32>&issuer=Rampart
 * followed by &algorithm=, &digits=, &period= only where params differ
 * from the defaults. The name (1 .. RP_LIMIT_OPERATOR_NAME_LEN bytes of
 * UTF-8) is percent-encoded: every byte but A-Z a-z 0-9 - . _ ~ becomes
 * %XX. The URI holds the key: show it once, never log it.
 * Returns RP_OK; RP_E_BUF_TOO_SMALL (RP_TOTP_URI_CAP is always enough);
 * RP_E_INVALID_ARG (name empty, too long or not UTF-8; key length; params).
 */
rp_status rp_totp_uri(const rp_totp_params *params, const uint8_t *name, size_t name_len,
		      const uint8_t *key, size_t key_len, char *out, size_t cap, size_t *out_len);

#endif /* RP_SERVER_AUTH_TOTP_H */
