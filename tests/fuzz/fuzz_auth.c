/*
 * fuzz_auth.c - libFuzzer target for the parsers of server/auth that read
 * untrusted input: bearer tokens, base64 / base32, PHC strings, TOTP
 * codes, passwords under the policy, role names and operator names in a
 * provisioning URI.
 *
 * Input: one selector byte, then the bytes handed to the parser.
 *   bits 0-2  parser: 0 token, 1 base64url, 2 base64, 3 base32, 4 PHC,
 *             5 TOTP code, 6 password policy, 7 role name / TOTP URI
 *   bits 3-7  options: for 5, digits = 6 + (bits 3-4) % 3 and a time;
 *             for 4, whether a cheap verify runs
 *
 * Oracles (any failure aborts):
 * - Only documented statuses come back.
 * - Decoders: accepted text re-encodes to exactly the same text
 *   (canonical form), the decoded length is as the formula says; and any
 *   input, encoded then decoded, comes back unchanged.
 * - Tokens: an accepted token has the right length and prefix, its hash
 *   checks against itself, and it is refused as any other kind.
 * - PHC: an accepted string formats back to itself, within the caps;
 *   a cheap one (m <= 64 KiB, t <= 2, p = 1) verifies to RP_OK or
 *   RP_E_AUTH only.
 * - TOTP: an accepted code is exactly `digits` ASCII digits and prints
 *   back to itself; verify returns RP_OK, RP_E_AUTH or RP_E_STATE, and
 *   RP_OK only with a step inside the window.
 * - Policy: an accepted password is 12+ code points of valid UTF-8, no
 *   controls, at most 256 bytes.
 * - Role: an accepted name prints back to itself. URI: built exactly for
 *   names of 1..64 bytes of valid UTF-8, and holds only URI characters.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/password.h"
#include "auth/role.h"
#include "auth/secret.h"
#include "auth/totp.h"
#include "rampart/limits.h"
#include "rampart/mqtt.h"
#include "rampart/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			check_failed(#cond, __LINE__);                                             \
		}                                                                                  \
	} while (0)

/* Longest input a decoder is given: keeps the stack buffers small. */
#define MAX_CODEC 1024u

_Noreturn static void check_failed(const char *what, int line)
{
	fprintf(stderr, "fuzz_auth: invariant failed at line %d: %s\n", line, what);
	abort();
}

static void fuzz_token(const uint8_t *d, size_t n)
{
	rp_token_kind k = (rp_token_kind)0, other;
	uint8_t h[RP_SHA256_LEN];
	rp_status st = rp_token_parse(d, n, &k);

	CHECK(st == RP_OK || st == RP_E_MALFORMED);
	if (st != RP_OK) {
		CHECK(rp_token_hash(d, n, RP_TOKEN_API, h) == RP_E_MALFORMED);
		return;
	}
	CHECK(n == RP_TOKEN_LEN);
	CHECK(k == RP_TOKEN_API || k == RP_TOKEN_SESSION || k == RP_TOKEN_CSRF ||
	      k == RP_TOKEN_ENROLL);
	CHECK(memcmp(d,
		     k == RP_TOKEN_API       ? "rpt_"
		     : k == RP_TOKEN_SESSION ? "rps_"
		     : k == RP_TOKEN_CSRF    ? "rpc_"
					     : "rpe_",
		     4) == 0);
	CHECK(rp_token_hash(d, n, k, h) == RP_OK);
	CHECK(rp_token_check(d, n, k, h) == RP_OK);
	other = k == RP_TOKEN_API ? RP_TOKEN_SESSION : RP_TOKEN_API;
	CHECK(rp_token_check(d, n, other, h) == RP_E_AUTH);
}

/* Decoder round trip for base64 (alphabet 0, 1) or base32 (2). */
static void fuzz_codec(int which, const uint8_t *d, size_t n)
{
	uint8_t raw[MAX_CODEC], back[MAX_CODEC];
	char text[2u * MAX_CODEC + 2u];
	size_t rn = 0, tn = 0, bn = 0;
	rp_status st;

	if (n > MAX_CODEC) {
		n = MAX_CODEC;
	}
	/* Text -> bytes -> text. */
	st = which == 2 ? rp_secret_b32_decode(d, n, raw, sizeof(raw), &rn)
			: rp_secret_b64_decode(which == 0 ? RP_B64_URL : RP_B64_STD, d, n, raw,
					       sizeof(raw), &rn);
	CHECK(st == RP_OK || st == RP_E_MALFORMED);
	if (st == RP_OK) {
		st = which == 2 ? rp_secret_b32_encode(raw, rn, text, sizeof(text), &tn)
				: rp_secret_b64_encode(which == 0 ? RP_B64_URL : RP_B64_STD, raw,
						       rn, text, sizeof(text), &tn);
		CHECK(st == RP_OK);
		CHECK(tn == n && memcmp(text, d, n) == 0);
		CHECK(which == 2 ? RP_B32_LEN(rn) == n : RP_B64_LEN(rn) == n);
	}
	/* Bytes -> text -> bytes, for any input. */
	st = which == 2 ? rp_secret_b32_encode(d, n, text, sizeof(text), &tn)
			: rp_secret_b64_encode(which == 0 ? RP_B64_URL : RP_B64_STD, d, n, text,
					       sizeof(text), &tn);
	CHECK(st == RP_OK && strlen(text) == tn);
	st = which == 2 ? rp_secret_b32_decode((const uint8_t *)text, tn, back, sizeof(back), &bn)
			: rp_secret_b64_decode(which == 0 ? RP_B64_URL : RP_B64_STD,
					       (const uint8_t *)text, tn, back, sizeof(back), &bn);
	CHECK(st == RP_OK && bn == n && (n == 0 || memcmp(back, d, n) == 0));
}

static void fuzz_phc(uint8_t opt, const uint8_t *d, size_t n)
{
	static const rp_password_params cheap = {64, 1, 1, 4};
	char s[RP_LIMIT_PHC_LEN + 1u], out[RP_PASSWORD_PHC_CAP];
	rp_password_phc ph;
	size_t on = 0;
	rp_status st;

	if (n > RP_LIMIT_PHC_LEN + 8u) {
		n = RP_LIMIT_PHC_LEN + 8u;
	}
	/* Through a char buffer, as a store would hand it over (not NUL-terminated). */
	st = rp_password_phc_parse((const char *)d, n, &ph);
	CHECK(st == RP_OK || st == RP_E_MALFORMED || st == RP_E_LIMIT);
	(void)rp_password_needs_rehash(&cheap, (const char *)d, n);
	if (st != RP_OK) {
		return;
	}
	CHECK(n <= RP_LIMIT_PHC_LEN);
	CHECK(ph.m_kib <= RP_LIMIT_ARGON2_M_KIB && ph.m_kib >= 8u * ph.p);
	CHECK(ph.t >= 1u && ph.t <= RP_LIMIT_ARGON2_T && ph.p >= 1u && ph.p <= RP_LIMIT_ARGON2_P);
	CHECK(ph.salt_len >= RP_ARGON2_SALT_MIN_LEN && ph.salt_len <= RP_LIMIT_ARGON2_SALT_LEN);
	CHECK(ph.hash_len >= RP_ARGON2_HASH_MIN_LEN && ph.hash_len <= RP_LIMIT_ARGON2_HASH_LEN);
	CHECK(rp_password_phc_format(&ph, out, sizeof(out), &on) == RP_OK);
	CHECK(on == n && memcmp(out, d, n) == 0);
	if ((opt & 8u) && ph.m_kib <= 64u && ph.t <= 2u && ph.p == 1u) {
		memcpy(s, d, n);
		st = rp_password_verify(&cheap, s, n, (const uint8_t *)"password", 8);
		CHECK(st == RP_OK || st == RP_E_AUTH);
	}
}

static void fuzz_totp(uint8_t opt, const uint8_t *d, size_t n)
{
	static const uint8_t key[] = "12345678901234567890";
	rp_totp_params p;
	char text[16];
	uint32_t code = 0;
	uint64_t now, step = 0, last;
	rp_status st;
	size_t i;

	rp_totp_params_default(&p);
	p.digits = 6u + (uint32_t)((opt >> 3) & 3u) % 3u;
	st = rp_totp_code_parse(&p, d, n, &code);
	CHECK(st == RP_OK || st == RP_E_MALFORMED);
	if (st == RP_OK) {
		CHECK(n == p.digits);
		for (i = 0; i < n; i++) {
			CHECK(d[i] >= '0' && d[i] <= '9');
		}
		snprintf(text, sizeof(text), "%0*u", (int)p.digits, (unsigned)code);
		CHECK(memcmp(text, d, n) == 0);
	}
	/* A time and a last step taken from the option byte, small and huge. */
	now = (opt & 0x80u) ? UINT64_MAX - (uint64_t)opt : (uint64_t)opt * 1000003u;
	last = (opt & 0x40u) ? now / 30u : 0;
	st = rp_totp_verify(&p, key, 20, d, n, now, last, &step);
	CHECK(st == RP_OK || st == RP_E_AUTH || st == RP_E_STATE);
	if (st == RP_OK) {
		CHECK(step > last && step + 1u >= now / 30u && step <= now / 30u + 1u);
	}
}

static void fuzz_policy(const uint8_t *d, size_t n)
{
	const char *why = NULL;
	rp_status st = rp_password_policy_check(d, n, (const uint8_t *)"admin", 5, &why);
	size_t i, chars = 0;

	CHECK(why != NULL);
	CHECK(st == RP_OK || st == RP_E_LIMIT || st == RP_E_UTF8 || st == RP_E_DENIED);
	if (st != RP_OK) {
		CHECK(why[0] != '\0');
		return;
	}
	CHECK(n <= RP_LIMIT_PASSWORD_LEN && rp_mqtt_utf8_valid(d, n));
	for (i = 0; i < n; i++) {
		CHECK(d[i] >= 0x20u && d[i] != 0x7Fu);
		chars += (d[i] & 0xC0u) != 0x80u;
	}
	CHECK(chars >= RP_MIN_PASSWORD_CHARS);
}

static void fuzz_names(const uint8_t *d, size_t n)
{
	static const uint8_t key[RP_TOTP_KEY_LEN] = {1, 2, 3};
	char uri[RP_TOTP_URI_CAP];
	rp_role r;
	size_t un = 0, i;
	rp_status st = rp_role_parse(d, n, &r);

	CHECK(st == RP_OK || st == RP_E_NOT_FOUND);
	if (st == RP_OK) {
		CHECK(rp_role_name(r) != NULL && strlen(rp_role_name(r)) == n &&
		      memcmp(rp_role_name(r), d, n) == 0);
	}
	st = rp_totp_uri(NULL, d, n, key, sizeof(key), uri, sizeof(uri), &un);
	CHECK((st == RP_OK) ==
	      (n >= 1u && n <= RP_LIMIT_OPERATOR_NAME_LEN && rp_mqtt_utf8_valid(d, n)));
	if (st == RP_OK) {
		CHECK(strlen(uri) == un);
		for (i = 0; i < un; i++) {
			CHECK(uri[i] > 0x20 && uri[i] < 0x7F && uri[i] != '#' && uri[i] != ' ');
		}
	} else {
		CHECK(st == RP_E_INVALID_ARG);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t sel;

	if (size == 0) {
		return 0;
	}
	sel = data[0];
	data++;
	size--;
	switch (sel & 7u) {
	case 0:
		fuzz_token(data, size);
		break;
	case 1:
	case 2:
		fuzz_codec((sel & 7u) - 1, data, size);
		break;
	case 3:
		fuzz_codec(2, data, size);
		break;
	case 4:
		fuzz_phc(sel, data, size);
		break;
	case 5:
		fuzz_totp(sel, data, size);
		break;
	case 6:
		fuzz_policy(data, size);
		break;
	default:
		fuzz_names(data, size);
		break;
	}
	return 0;
}
