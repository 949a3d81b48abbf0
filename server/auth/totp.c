/*
 * totp.c - RFC 6238 codes, verification with replay protection, and the
 * provisioning URI.
 *
 * Implementation notes
 * - A code is HMAC(key, step as 8 big-endian bytes), dynamically
 *   truncated (RFC 4226 section 5.3) to 31 bits, modulo 10^digits. It is
 *   compared as its zero-padded digit string against the typed digits with
 *   CRYPTO_memcmp, for every step of the window, without early exit.
 * - Replay: a step is usable only if it is after last_step. The window is
 *   walked from the oldest step up and the newest matching usable step
 *   wins, so last_step only moves forward.
 * - Attacker: the typed code (any bytes; parsed strictly) and the time
 *   (from our clock, but steps near 0 or near 2^64 are handled: the window
 *   is clipped, never wrapped).
 */
#include "auth/totp.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/secret.h"
#include "rampart/mqtt.h"
#include "util/alloc.h"

#define ISSUER     "Rampart"
#define MAX_DIGITS 8u

static const uint32_t pow10[MAX_DIGITS + 1u] = {
	1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u, 100000000u,
};

void rp_totp_params_default(rp_totp_params *p)
{
	p->alg = RP_TOTP_SHA1;
	p->digits = 6;
	p->period_s = 30;
	p->skew = RP_DEFAULT_TOTP_SKEW;
}

rp_status rp_totp_params_check(const rp_totp_params *p)
{
	if (p == NULL ||
	    (p->alg != RP_TOTP_SHA1 && p->alg != RP_TOTP_SHA256 && p->alg != RP_TOTP_SHA512)) {
		return RP_E_INVALID_ARG;
	}
	if (p->digits < 6u || p->digits > MAX_DIGITS ||
	    (p->period_s != 30u && p->period_s != 60u) || p->period_s > RP_LIMIT_TOTP_PERIOD_S ||
	    p->skew > RP_LIMIT_TOTP_SKEW) {
		return RP_E_INVALID_ARG;
	}
	return RP_OK;
}

/* params, or the defaults in *def when params is NULL; NULL if invalid. */
static const rp_totp_params *pick(const rp_totp_params *params, rp_totp_params *def)
{
	if (params == NULL) {
		rp_totp_params_default(def);
		return def;
	}
	return rp_totp_params_check(params) == RP_OK ? params : NULL;
}

rp_status rp_totp_key_new(uint8_t key[RP_TOTP_KEY_LEN])
{
	return rp_secret_random(key, RP_TOTP_KEY_LEN);
}

uint64_t rp_totp_step(const rp_totp_params *params, uint64_t now_s)
{
	rp_totp_params def;
	const rp_totp_params *p = pick(params, &def);

	return p != NULL ? now_s / p->period_s : 0;
}

static const EVP_MD *md_of(rp_totp_alg alg)
{
	switch (alg) {
	case RP_TOTP_SHA256:
		return EVP_sha256();
	case RP_TOTP_SHA512:
		return EVP_sha512();
	default:
		return EVP_sha1();
	}
}

/* The code of step; p already checked. */
static rp_status code_of(const rp_totp_params *p, const uint8_t *key, size_t key_len, uint64_t step,
			 uint32_t *code)
{
	uint8_t msg[8], mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0, off, i;
	uint32_t bin;
	rp_status st = RP_E_CRYPTO;

	for (i = 0; i < 8u; i++) {
		msg[7u - i] = (uint8_t)(step >> (8u * i));
	}
	if (HMAC(md_of(p->alg), key, (int)key_len, msg, sizeof(msg), mac, &mac_len) == NULL ||
	    mac_len < 20u) {
		goto out;
	}
	off = mac[mac_len - 1u] & 0x0Fu;
	bin = ((uint32_t)(mac[off] & 0x7Fu) << 24) | ((uint32_t)mac[off + 1u] << 16) |
	      ((uint32_t)mac[off + 2u] << 8) | (uint32_t)mac[off + 3u];
	*code = bin % pow10[p->digits];
	st = RP_OK;
out:
	rp_wipe(mac, sizeof(mac));
	return st;
}

rp_status rp_totp_code(const rp_totp_params *params, const uint8_t *key, size_t key_len,
		       uint64_t step, uint32_t *code)
{
	rp_totp_params def;
	const rp_totp_params *p = pick(params, &def);

	if (p == NULL || key == NULL || key_len == 0 || key_len > RP_LIMIT_TOTP_KEY_LEN ||
	    code == NULL) {
		return RP_E_INVALID_ARG;
	}
	return code_of(p, key, key_len, step, code);
}

rp_status rp_totp_code_parse(const rp_totp_params *params, const uint8_t *buf, size_t len,
			     uint32_t *code)
{
	rp_totp_params def;
	const rp_totp_params *p = pick(params, &def);
	uint32_t v = 0;
	size_t i;

	if (p == NULL || code == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (buf == NULL || len != p->digits) {
		return RP_E_MALFORMED;
	}
	for (i = 0; i < len; i++) {
		if (buf[i] < '0' || buf[i] > '9') {
			return RP_E_MALFORMED;
		}
		v = v * 10u + (uint32_t)(buf[i] - '0');
	}
	*code = v;
	return RP_OK;
}

/* code as exactly `digits` decimal digits, zero-padded, into out. */
static void digits_of(uint32_t code, uint32_t digits, char *out)
{
	uint32_t i;

	for (i = digits; i > 0; i--) {
		out[i - 1u] = (char)('0' + code % 10u);
		code /= 10u;
	}
}

rp_status rp_totp_verify(const rp_totp_params *params, const uint8_t *key, size_t key_len,
			 const uint8_t *buf, size_t len, uint64_t now_s, uint64_t last_step,
			 uint64_t *new_step)
{
	rp_totp_params def;
	const rp_totp_params *p = pick(params, &def);
	char want[MAX_DIGITS];
	uint64_t now, lo, hi, s, matched = 0;
	uint32_t code, typed;
	int ok = 0, replay = 0;
	rp_status st = RP_E_AUTH;

	if (p == NULL || key == NULL || key_len == 0 || key_len > RP_LIMIT_TOTP_KEY_LEN ||
	    new_step == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (rp_totp_code_parse(p, buf, len, &typed) != RP_OK) {
		return RP_E_AUTH;
	}
	now = now_s / p->period_s;
	lo = now >= p->skew ? now - p->skew : 0;
	hi = now <= UINT64_MAX - p->skew ? now + p->skew : UINT64_MAX;
	for (s = lo;; s++) {
		int eq;

		if (code_of(p, key, key_len, s, &code) != RP_OK) {
			st = RP_E_CRYPTO;
			goto out;
		}
		digits_of(code, p->digits, want);
		eq = CRYPTO_memcmp(want, buf, p->digits) == 0;
		if (eq && s > last_step) {
			ok = 1;
			matched = s;
		} else if (eq) {
			replay = 1;
		}
		if (s == hi) {
			break;
		}
	}
	if (ok) {
		*new_step = matched;
		st = RP_OK;
	} else if (replay) {
		st = RP_E_STATE;
	}
out:
	rp_wipe(want, sizeof(want));
	rp_wipe(&code, sizeof(code));
	return st;
}

/* ------------------------------------------------------------------------
 * Provisioning URI
 * ------------------------------------------------------------------------ */

/* Appends s[0 .. n) to out at *o if it fits (leaving room for the NUL). */
static int put(char *out, size_t cap, size_t *o, const char *s, size_t n)
{
	if (cap - *o <= n) {
		return 0;
	}
	memcpy(out + *o, s, n);
	*o += n;
	return 1;
}

static int unreserved(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

rp_status rp_totp_uri(const rp_totp_params *params, const uint8_t *name, size_t name_len,
		      const uint8_t *key, size_t key_len, char *out, size_t cap, size_t *out_len)
{
	static const char hex[] = "0123456789ABCDEF";
	static const char *const alg_names[] = {"SHA1", "SHA256", "SHA512"};
	rp_totp_params def;
	const rp_totp_params *p = pick(params, &def);
	char b32[RP_B32_LEN(RP_LIMIT_TOTP_KEY_LEN) + 1u];
	char num[32];
	size_t o = 0, i, n = 0;
	rp_status st = RP_E_BUF_TOO_SMALL;
	int k;

	if (p == NULL || name == NULL || name_len == 0 || name_len > RP_LIMIT_OPERATOR_NAME_LEN ||
	    !rp_mqtt_utf8_valid(name, name_len) || key == NULL || key_len == 0 ||
	    key_len > RP_LIMIT_TOTP_KEY_LEN || out == NULL || cap == 0) {
		return RP_E_INVALID_ARG;
	}
	if (!put(out, cap, &o, "otpauth://totp/" ISSUER ":", 23u)) {
		goto out;
	}
	for (i = 0; i < name_len; i++) {
		char esc[3] = {'%', hex[name[i] >> 4], hex[name[i] & 15u]};

		if (unreserved(name[i]) ? !put(out, cap, &o, (const char *)name + i, 1u)
					: !put(out, cap, &o, esc, 3u)) {
			goto out;
		}
	}
	if (rp_secret_b32_encode(key, key_len, b32, sizeof(b32), &n) != RP_OK ||
	    !put(out, cap, &o, "?secret=", 8u) || !put(out, cap, &o, b32, n) ||
	    !put(out, cap, &o, "&issuer=" ISSUER, 15u)) {
		goto out;
	}
	if (p->alg != RP_TOTP_SHA1) {
		k = snprintf(num, sizeof(num), "&algorithm=%s", alg_names[p->alg]);
		if (k < 0 || !put(out, cap, &o, num, (size_t)k)) {
			goto out;
		}
	}
	if (p->digits != 6u) {
		k = snprintf(num, sizeof(num), "&digits=%u", (unsigned)p->digits);
		if (k < 0 || !put(out, cap, &o, num, (size_t)k)) {
			goto out;
		}
	}
	if (p->period_s != 30u) {
		k = snprintf(num, sizeof(num), "&period=%u", (unsigned)p->period_s);
		if (k < 0 || !put(out, cap, &o, num, (size_t)k)) {
			goto out;
		}
	}
	out[o] = '\0';
	if (out_len != NULL) {
		*out_len = o;
	}
	st = RP_OK;
out:
	rp_wipe(b32, sizeof(b32));
	if (st != RP_OK) {
		rp_wipe(out, cap);
	}
	return st;
}
