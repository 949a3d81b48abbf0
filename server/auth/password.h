/*
 * server/auth/password.h - operator passwords: Argon2id hashes in PHC
 * strings, the password policy, and generated passwords.
 *
 * Model
 * - A stored password is a PHC string as libargon2 and most tools write it:
 *       $argon2id$v=19$m=65536,t=3,p=1$<salt>$<tag>
 *   (salt and tag in unpadded standard base64). Only Argon2id, version 19,
 *   and exactly this field order are accepted, with m, t, p, salt and tag
 *   lengths within the caps of rampart/limits.h. The string is parsed and
 *   checked BEFORE Argon2 runs: a stored hash asking for 4 GiB or a
 *   thousand passes is refused, not computed.
 * - Cost parameters come from configuration (rp_password_params). A
 *   configuration MUST pass rp_password_params_check(), which enforces the
 *   floors (RP_MIN_ARGON2_*) and caps. rp_password_hash() itself enforces
 *   only the caps and Argon2's own minima, so that tests can run with tiny
 *   parameters.
 * - Verification recomputes the tag with the stored parameters and salt
 *   and compares in constant time. When the stored parameters differ from
 *   the configured ones, rp_password_needs_rehash() says so, and the caller
 *   re-hashes the password it just verified.
 * - Unknown accounts: the caller runs rp_password_verify_dummy() so that a
 *   login for a name that does not exist costs the same time as one for a
 *   name that does (no account enumeration by timing).
 * - Memory: Argon2's m KiB come from rp_alloc() (so allocation failure can
 *   be injected and is RP_E_NOMEM) and are wiped by libargon2 before they
 *   are freed. At most params->max_hashes computations run at once in the
 *   process; one more is refused at once with RP_E_NOMEM ("busy": answer
 *   503 and do not count it as a login attempt). This bounds memory under
 *   a login flood.
 *
 * Conventions
 * - Passwords are `const uint8_t *pw, size_t len` (UTF-8, not
 *   NUL-terminated) and belong to the caller, who MUST wipe them
 *   (rp_wipe) when done. This module copies a password only into a stack
 *   buffer that it wipes before returning.
 * - params NULL means the defaults (RP_DEFAULT_ARGON2_*).
 * - Never log a password or a PHC string; nothing here logs.
 * - Threads: every function is safe from any thread; the only shared
 *   state is the atomic count of computations in flight.
 */
#ifndef RP_SERVER_AUTH_PASSWORD_H
#define RP_SERVER_AUTH_PASSWORD_H

#include <stddef.h>
#include <stdint.h>

#include "rampart/limits.h"
#include "rampart/status.h"

typedef struct rp_password_params {
	uint32_t m_kib;      /* memory in KiB (Argon2 m) */
	uint32_t t;          /* passes (Argon2 t) */
	uint32_t p;          /* lanes and threads (Argon2 p) */
	uint32_t max_hashes; /* computations at once in the process */
} rp_password_params;

/* A parsed PHC string. */
typedef struct rp_password_phc {
	uint32_t m_kib, t, p;
	size_t salt_len, hash_len;
	uint8_t salt[RP_LIMIT_ARGON2_SALT_LEN];
	uint8_t hash[RP_LIMIT_ARGON2_HASH_LEN];
} rp_password_phc;

/* Bytes to hold a PHC string written by rp_password_hash(), NUL included. */
#define RP_PASSWORD_PHC_CAP (RP_LIMIT_PHC_LEN + 1u)
/* Bytes to hold a generated password, NUL included. */
#define RP_PASSWORD_GENERATED_CAP (RP_PASSWORD_GENERATED_LEN + 1u)

/* The defaults: m=64 MiB, t=3, p=1, 2 at once (RP_DEFAULT_*). */
void rp_password_params_default(rp_password_params *p);

/*
 * Checks configured parameters: RP_MIN_ARGON2_* <= value <= RP_LIMIT_*,
 * m >= 8 * p, 1 <= max_hashes <= RP_LIMIT_PASSWORD_HASHES. Returns RP_OK
 * or RP_E_CONFIG (p NULL included).
 */
rp_status rp_password_params_check(const rp_password_params *p);

/*
 * Hashes pw[0 .. len) with a fresh 16-byte salt into a PHC string in
 * out[0 .. cap) (NUL-terminated; RP_PASSWORD_PHC_CAP is always enough).
 * Does not apply the password policy (rp_password_policy_check).
 * Returns RP_OK; RP_E_LIMIT (len > RP_LIMIT_PASSWORD_LEN, or params beyond
 * the caps or below Argon2's minima); RP_E_NOMEM (no memory, or
 * max_hashes computations already running); RP_E_CRYPTO (no randomness,
 * Argon2 failed); RP_E_BUF_TOO_SMALL; RP_E_INVALID_ARG.
 */
rp_status rp_password_hash(const rp_password_params *params, const uint8_t *pw, size_t len,
			   char *out, size_t cap, size_t *out_len);

/*
 * Verifies pw[0 .. len) against the stored PHC string phc[0 .. phc_len)
 * (not necessarily NUL-terminated). params gives max_hashes only: the
 * cost is the stored one.
 * Returns RP_OK (match); RP_E_AUTH (no match, or len >
 * RP_LIMIT_PASSWORD_LEN); RP_E_MALFORMED (not an Argon2id v19 PHC string);
 * RP_E_LIMIT (stored parameters beyond the caps); RP_E_NOMEM (as
 * rp_password_hash: answer "busy"); RP_E_CRYPTO; RP_E_INVALID_ARG.
 * Anything but RP_OK MUST be treated as "not authenticated".
 */
rp_status rp_password_verify(const rp_password_params *params, const char *phc, size_t phc_len,
			     const uint8_t *pw, size_t len);

/*
 * For a login whose account does not exist: spends what a verify with the
 * configured parameters spends, then returns RP_E_AUTH (or RP_E_NOMEM
 * when busy, as rp_password_verify). Never RP_OK.
 */
rp_status rp_password_verify_dummy(const rp_password_params *params, const uint8_t *pw, size_t len);

/*
 * 1 if the stored string should be replaced by a new hash of the same
 * password: it does not parse, or its m, t, p, salt or tag length differ
 * from params (NULL: the defaults) and the written lengths. Else 0.
 */
int rp_password_needs_rehash(const rp_password_params *params, const char *phc, size_t phc_len);

/*
 * Parses a PHC string strictly (see Model) into *out. Returns RP_OK,
 * RP_E_MALFORMED (syntax, other algorithm or version, numbers with leading
 * zeros or beyond 32 bits, non-canonical base64, salt or tag too short or
 * long), RP_E_LIMIT (m, t or p beyond the caps or below Argon2's minima),
 * RP_E_INVALID_ARG. Exposed for the fuzzer and for tools.
 */
rp_status rp_password_phc_parse(const char *phc, size_t len, rp_password_phc *out);

/*
 * Writes *phc as a PHC string (NUL-terminated). For every string s that
 * rp_password_phc_parse() accepts, formatting the result gives s back.
 * Returns RP_OK, RP_E_BUF_TOO_SMALL, RP_E_INVALID_ARG (lengths beyond
 * the caps).
 */
rp_status rp_password_phc_format(const rp_password_phc *phc, char *out, size_t cap,
				 size_t *out_len);

/*
 * The policy for passwords an operator chooses. Accepts pw[0 .. len) if
 * it is valid UTF-8 without U+0000 or other C0 controls or DEL, has at
 * least RP_MIN_PASSWORD_CHARS code points and at most
 * RP_LIMIT_PASSWORD_LEN bytes, is not one code point repeated, and is not
 * the account name name[0 .. name_len) (name may be NULL).
 * Returns RP_OK; RP_E_LIMIT (too short or too long); RP_E_UTF8 (encoding
 * or control characters); RP_E_DENIED (weak: repeated, or the name);
 * RP_E_INVALID_ARG. *why (may be NULL) receives a fixed English sentence
 * for the operator, never containing the password; "" on RP_OK.
 * Unicode normalisation is the client's job (the console sends NFC).
 */
rp_status rp_password_policy_check(const uint8_t *pw, size_t len, const uint8_t *name,
				   size_t name_len, const char **why);

/*
 * Writes a random password for `rampart init` into out (NUL-terminated,
 * RP_PASSWORD_GENERATED_LEN characters from a 56-symbol alphabet without
 * 0 O o 1 l I; about 139 bits). It passes rp_password_policy_check().
 * Returns RP_OK, RP_E_CRYPTO (out wiped), RP_E_BUF_TOO_SMALL (cap <
 * RP_PASSWORD_GENERATED_CAP), RP_E_INVALID_ARG.
 */
rp_status rp_password_generate(char *out, size_t cap, size_t *out_len);

/* Argon2 computations running now (metrics, tests). */
unsigned rp_password_in_flight(void);

#endif /* RP_SERVER_AUTH_PASSWORD_H */
