/*
 * password.c - Argon2id through libargon2's argon2_ctx(), PHC strings,
 * the password policy, generated passwords.
 *
 * Implementation notes
 * - Why argon2_ctx() and not argon2id_hash_encoded()/argon2id_verify():
 *   the context takes an allocator, so Argon2's m KiB go through
 *   rp_alloc() (failure injection, one accounting), and verification runs
 *   on the output of OUR strict PHC parser, which has already refused
 *   costs beyond the caps; libargon2's own decoder would accept m=4 GiB
 *   and allocate it. The PHC string we write is byte for byte what
 *   argon2id_hash_encoded() writes (a unit test holds us to that).
 * - In flight: an atomic counter of Argon2 computations. A computation
 *   takes a slot with a compare-and-swap below max_hashes or is refused
 *   (RP_E_NOMEM) without waiting: a login flood must not queue up work,
 *   and HTTP workers must not block.
 * - Secrets: the password is copied into a stack buffer (argon2_context
 *   wants a non-const pointer; the caller's buffer is const) that is wiped
 *   on every path; the computed tag is wiped after the compare. libargon2
 *   wipes its memory blocks before handing them to free_block().
 * - Attacker: the PHC string is read from the store, which an attacker
 *   who got write access to the database could have changed. Every field
 *   is length-checked and range-checked before use.
 */
#include "auth/password.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <argon2.h>

#include "auth/secret.h"
#include "rampart/mqtt.h"
#include "util/alloc.h"

#define PHC_PREFIX     "$argon2id$v=19$m="
#define PHC_PREFIX_LEN 17u

/* Unambiguous: no 0 O o 1 l I. */
static const char gen_alphabet[] = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz";
#define GEN_ALPHABET_LEN 56u
typedef char gen_alphabet_size[sizeof(gen_alphabet) - 1u == GEN_ALPHABET_LEN ? 1 : -1];

/* A salt for rp_password_verify_dummy(): its value does not matter. */
static const uint8_t dummy_salt[RP_ARGON2_SALT_LEN] = "rampart-no-user";

static atomic_uint in_flight;

void rp_password_params_default(rp_password_params *p)
{
	p->m_kib = RP_DEFAULT_ARGON2_M_KIB;
	p->t = RP_DEFAULT_ARGON2_T;
	p->p = RP_DEFAULT_ARGON2_P;
	p->max_hashes = RP_DEFAULT_PASSWORD_HASHES;
}

rp_status rp_password_params_check(const rp_password_params *p)
{
	if (p == NULL || p->m_kib < RP_MIN_ARGON2_M_KIB || p->m_kib > RP_LIMIT_ARGON2_M_KIB ||
	    p->t < RP_MIN_ARGON2_T || p->t > RP_LIMIT_ARGON2_T || p->p < 1u ||
	    p->p > RP_LIMIT_ARGON2_P || p->m_kib < 8u * p->p || p->max_hashes < 1u ||
	    p->max_hashes > RP_LIMIT_PASSWORD_HASHES) {
		return RP_E_CONFIG;
	}
	return RP_OK;
}

unsigned rp_password_in_flight(void)
{
	return atomic_load(&in_flight);
}

/* Cost within the caps and Argon2's minima (m >= 8 KiB per lane). */
static int cost_ok(uint32_t m_kib, uint32_t t, uint32_t p)
{
	return p >= 1u && p <= RP_LIMIT_ARGON2_P && t >= 1u && t <= RP_LIMIT_ARGON2_T &&
	       m_kib >= 8u * p && m_kib <= RP_LIMIT_ARGON2_M_KIB;
}

/* ------------------------------------------------------------------------
 * Argon2
 * ------------------------------------------------------------------------ */

static int alloc_block(uint8_t **memory, size_t n)
{
	*memory = rp_alloc(NULL, n);
	return *memory != NULL ? ARGON2_OK : ARGON2_MEMORY_ALLOCATION_ERROR;
}

static void free_block(uint8_t *memory, size_t n)
{
	(void)n;
	rp_free(NULL, memory);
}

static int take_slot(uint32_t max)
{
	unsigned n = atomic_load(&in_flight);

	while (n < max) {
		if (atomic_compare_exchange_weak(&in_flight, &n, n + 1u)) {
			return 1;
		}
	}
	return 0;
}

static void give_slot(void)
{
	atomic_fetch_sub(&in_flight, 1u);
}

/*
 * The Argon2id tag of pw with the cost and salt of *ph, into
 * tag[0 .. ph->hash_len). The cost MUST have passed cost_ok().
 */
static rp_status compute(rp_password_phc *ph, uint32_t max_hashes, const uint8_t *pw, size_t len,
			 uint8_t *tag)
{
	uint8_t pwbuf[RP_LIMIT_PASSWORD_LEN];
	argon2_context ctx;
	rp_status st;
	int rc;

	if (len > sizeof(pwbuf)) {
		return RP_E_LIMIT;
	}
	if (!take_slot(max_hashes)) {
		return RP_E_NOMEM;
	}
	if (len > 0) {
		memcpy(pwbuf, pw, len);
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.out = tag;
	ctx.outlen = (uint32_t)ph->hash_len;
	ctx.pwd = pwbuf;
	ctx.pwdlen = (uint32_t)len;
	ctx.salt = ph->salt;
	ctx.saltlen = (uint32_t)ph->salt_len;
	ctx.t_cost = ph->t;
	ctx.m_cost = ph->m_kib;
	ctx.lanes = ph->p;
	ctx.threads = ph->p;
	ctx.version = ARGON2_VERSION_13;
	ctx.allocate_cbk = alloc_block;
	ctx.free_cbk = free_block;
	ctx.flags = ARGON2_DEFAULT_FLAGS;
	rc = argon2_ctx(&ctx, Argon2_id);
	if (rc == ARGON2_OK) {
		st = RP_OK;
	} else if (rc == ARGON2_MEMORY_ALLOCATION_ERROR) {
		st = RP_E_NOMEM;
	} else {
		st = RP_E_CRYPTO;
	}
	rp_wipe(pwbuf, sizeof(pwbuf));
	give_slot();
	return st;
}

static uint32_t max_hashes_of(const rp_password_params *params)
{
	return params != NULL ? params->max_hashes : RP_DEFAULT_PASSWORD_HASHES;
}

rp_status rp_password_hash(const rp_password_params *params, const uint8_t *pw, size_t len,
			   char *out, size_t cap, size_t *out_len)
{
	rp_password_params def;
	rp_password_phc ph;
	rp_status st;

	if ((pw == NULL && len > 0) || out == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (params == NULL) {
		rp_password_params_default(&def);
		params = &def;
	}
	if (params->max_hashes < 1u || params->max_hashes > RP_LIMIT_PASSWORD_HASHES) {
		return RP_E_INVALID_ARG;
	}
	if (len > RP_LIMIT_PASSWORD_LEN || !cost_ok(params->m_kib, params->t, params->p)) {
		return RP_E_LIMIT;
	}
	memset(&ph, 0, sizeof(ph));
	ph.m_kib = params->m_kib;
	ph.t = params->t;
	ph.p = params->p;
	ph.salt_len = RP_ARGON2_SALT_LEN;
	ph.hash_len = RP_ARGON2_HASH_LEN;
	st = rp_secret_random(ph.salt, ph.salt_len);
	if (st != RP_OK) {
		goto out;
	}
	st = compute(&ph, params->max_hashes, pw, len, ph.hash);
	if (st != RP_OK) {
		goto out;
	}
	st = rp_password_phc_format(&ph, out, cap, out_len);
out:
	rp_wipe(&ph, sizeof(ph));
	return st;
}

rp_status rp_password_verify(const rp_password_params *params, const char *phc, size_t phc_len,
			     const uint8_t *pw, size_t len)
{
	uint8_t tag[RP_LIMIT_ARGON2_HASH_LEN];
	rp_password_phc ph;
	uint32_t max = max_hashes_of(params);
	rp_status st, verdict = RP_E_AUTH;

	if ((pw == NULL && len > 0) || phc == NULL || max < 1u || max > RP_LIMIT_PASSWORD_HASHES) {
		return RP_E_INVALID_ARG;
	}
	st = rp_password_phc_parse(phc, phc_len, &ph);
	if (st != RP_OK) {
		return st;
	}
	/* No stored password is longer: the policy refused it when it was set. */
	if (len > RP_LIMIT_PASSWORD_LEN) {
		verdict = RP_E_AUTH;
		goto out;
	}
	st = compute(&ph, max, pw, len, tag);
	if (st != RP_OK) {
		verdict = st;
		goto out;
	}
	if (rp_secret_equal(tag, ph.hash, ph.hash_len)) {
		verdict = RP_OK;
	}
out:
	rp_wipe(tag, sizeof(tag));
	rp_wipe(&ph, sizeof(ph));
	return verdict;
}

rp_status rp_password_verify_dummy(const rp_password_params *params, const uint8_t *pw, size_t len)
{
	uint8_t tag[RP_ARGON2_HASH_LEN];
	rp_password_params def;
	rp_password_phc ph;
	rp_status st;

	if (pw == NULL && len > 0) {
		return RP_E_INVALID_ARG;
	}
	if (params == NULL) {
		rp_password_params_default(&def);
		params = &def;
	}
	if (params->max_hashes < 1u || params->max_hashes > RP_LIMIT_PASSWORD_HASHES) {
		return RP_E_INVALID_ARG;
	}
	if (!cost_ok(params->m_kib, params->t, params->p)) {
		return RP_E_AUTH;
	}
	memset(&ph, 0, sizeof(ph));
	ph.m_kib = params->m_kib;
	ph.t = params->t;
	ph.p = params->p;
	ph.salt_len = sizeof(dummy_salt);
	ph.hash_len = sizeof(tag);
	memcpy(ph.salt, dummy_salt, sizeof(dummy_salt));
	/* An over-long password costs a real verify nothing either. */
	st = len > RP_LIMIT_PASSWORD_LEN ? RP_OK : compute(&ph, params->max_hashes, pw, len, tag);
	rp_wipe(tag, sizeof(tag));
	return st == RP_E_NOMEM ? RP_E_NOMEM : RP_E_AUTH;
}

int rp_password_needs_rehash(const rp_password_params *params, const char *phc, size_t phc_len)
{
	rp_password_params def;
	rp_password_phc ph;
	int stale;

	if (params == NULL) {
		rp_password_params_default(&def);
		params = &def;
	}
	if (rp_password_phc_parse(phc, phc_len, &ph) != RP_OK) {
		return 1;
	}
	stale = ph.m_kib != params->m_kib || ph.t != params->t || ph.p != params->p ||
		ph.salt_len != RP_ARGON2_SALT_LEN || ph.hash_len != RP_ARGON2_HASH_LEN;
	rp_wipe(&ph, sizeof(ph));
	return stale;
}

/* ------------------------------------------------------------------------
 * PHC strings
 * ------------------------------------------------------------------------ */

/* Expects the literal lit at s[*pos]; advances past it. */
static int take_lit(const char *s, size_t len, size_t *pos, const char *lit, size_t n)
{
	if (len - *pos < n || memcmp(s + *pos, lit, n) != 0) {
		return 0;
	}
	*pos += n;
	return 1;
}

/* A decimal without sign or leading zero, at most 32 bits. */
static int take_u32(const char *s, size_t len, size_t *pos, uint32_t *out)
{
	uint64_t v = 0;
	size_t i = *pos;

	while (i < len && s[i] >= '0' && s[i] <= '9') {
		if (i - *pos == 10u) {
			return 0;
		}
		v = v * 10u + (uint64_t)(s[i] - '0');
		i++;
	}
	if (i == *pos || (s[*pos] == '0' && i - *pos > 1u) || v > UINT32_MAX) {
		return 0;
	}
	*out = (uint32_t)v;
	*pos = i;
	return 1;
}

/* Base64 (standard, unpadded) of s[*pos .. up to '$' or the end) into out. */
static int take_b64(const char *s, size_t len, size_t *pos, uint8_t *out, size_t cap,
		    size_t *out_len)
{
	const char *end = memchr(s + *pos, '$', len - *pos);
	size_t n = end != NULL ? (size_t)(end - (s + *pos)) : len - *pos;

	if (rp_secret_b64_decode(RP_B64_STD, (const uint8_t *)s + *pos, n, out, cap, out_len) !=
	    RP_OK) {
		return 0;
	}
	*pos += n;
	return 1;
}

rp_status rp_password_phc_parse(const char *phc, size_t len, rp_password_phc *out)
{
	size_t pos = 0;
	rp_password_phc ph;
	rp_status st = RP_E_MALFORMED;

	if (phc == NULL || out == NULL) {
		return RP_E_INVALID_ARG;
	}
	memset(&ph, 0, sizeof(ph));
	if (len > RP_LIMIT_PHC_LEN) {
		goto out;
	}
	if (!take_lit(phc, len, &pos, PHC_PREFIX, PHC_PREFIX_LEN) ||
	    !take_u32(phc, len, &pos, &ph.m_kib) || !take_lit(phc, len, &pos, ",t=", 3u) ||
	    !take_u32(phc, len, &pos, &ph.t) || !take_lit(phc, len, &pos, ",p=", 3u) ||
	    !take_u32(phc, len, &pos, &ph.p) || !take_lit(phc, len, &pos, "$", 1u) ||
	    !take_b64(phc, len, &pos, ph.salt, sizeof(ph.salt), &ph.salt_len) ||
	    !take_lit(phc, len, &pos, "$", 1u) ||
	    !take_b64(phc, len, &pos, ph.hash, sizeof(ph.hash), &ph.hash_len) || pos != len) {
		goto out;
	}
	if (ph.salt_len < RP_ARGON2_SALT_MIN_LEN || ph.hash_len < RP_ARGON2_HASH_MIN_LEN) {
		goto out;
	}
	if (!cost_ok(ph.m_kib, ph.t, ph.p)) {
		st = RP_E_LIMIT;
		goto out;
	}
	*out = ph;
	st = RP_OK;
out:
	rp_wipe(&ph, sizeof(ph));
	return st;
}

rp_status rp_password_phc_format(const rp_password_phc *phc, char *out, size_t cap, size_t *out_len)
{
	size_t n, m;
	int k;

	if (phc == NULL || out == NULL || phc->salt_len > RP_LIMIT_ARGON2_SALT_LEN ||
	    phc->hash_len > RP_LIMIT_ARGON2_HASH_LEN) {
		return RP_E_INVALID_ARG;
	}
	k = snprintf(out, cap, "%s%u,t=%u,p=%u$", PHC_PREFIX, (unsigned)phc->m_kib,
		     (unsigned)phc->t, (unsigned)phc->p);
	if (k < 0 || (size_t)k >= cap) {
		return RP_E_BUF_TOO_SMALL;
	}
	n = (size_t)k;
	if (rp_secret_b64_encode(RP_B64_STD, phc->salt, phc->salt_len, out + n, cap - n, &m) !=
	    RP_OK) {
		return RP_E_BUF_TOO_SMALL;
	}
	n += m;
	if (cap - n < 2u) {
		return RP_E_BUF_TOO_SMALL;
	}
	out[n++] = '$';
	if (rp_secret_b64_encode(RP_B64_STD, phc->hash, phc->hash_len, out + n, cap - n, &m) !=
	    RP_OK) {
		return RP_E_BUF_TOO_SMALL;
	}
	n += m;
	if (out_len != NULL) {
		*out_len = n;
	}
	return RP_OK;
}

/* ------------------------------------------------------------------------
 * Policy and generation
 * ------------------------------------------------------------------------ */

/* Bytes of the UTF-8 sequence led by b (input already validated). */
static size_t seq_len(uint8_t b)
{
	return b < 0x80u ? 1u : b < 0xE0u ? 2u : b < 0xF0u ? 3u : 4u;
}

static int ascii_case_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint8_t x = a[i], y = b[i];

		x = (x >= 'A' && x <= 'Z') ? (uint8_t)(x + 32u) : x;
		y = (y >= 'A' && y <= 'Z') ? (uint8_t)(y + 32u) : y;
		if (x != y) {
			return 0;
		}
	}
	return 1;
}

rp_status rp_password_policy_check(const uint8_t *pw, size_t len, const uint8_t *name,
				   size_t name_len, const char **why)
{
	const char *reason = "";
	rp_status st = RP_OK;
	size_t i, chars = 0, k;
	int repeated;

	if ((pw == NULL && len > 0) || (name == NULL && name_len > 0)) {
		st = RP_E_INVALID_ARG;
		reason = "invalid argument";
		goto out;
	}
	if (len > RP_LIMIT_PASSWORD_LEN) {
		st = RP_E_LIMIT;
		reason = "The password is longer than 256 bytes.";
		goto out;
	}
	if (len > 0 && !rp_mqtt_utf8_valid(pw, len)) {
		st = RP_E_UTF8;
		reason = "The password is not valid UTF-8.";
		goto out;
	}
	for (i = 0; i < len; i++) {
		/* In valid UTF-8, bytes below 0x80 are only ever themselves. */
		if (pw[i] < 0x20u || pw[i] == 0x7Fu) {
			st = RP_E_UTF8;
			reason = "The password contains a control character.";
			goto out;
		}
		if ((pw[i] & 0xC0u) != 0x80u) {
			chars++;
		}
	}
	if (chars < RP_MIN_PASSWORD_CHARS) {
		st = RP_E_LIMIT;
		reason = "The password is shorter than 12 characters.";
		goto out;
	}
	k = seq_len(pw[0]);
	repeated = len % k == 0;
	for (i = k; repeated && i < len; i += k) {
		repeated = memcmp(pw, pw + i, k) == 0;
	}
	if (repeated) {
		st = RP_E_DENIED;
		reason = "The password is one character repeated.";
		goto out;
	}
	if (name != NULL && name_len == len && ascii_case_equal(pw, name, len)) {
		st = RP_E_DENIED;
		reason = "The password is the operator name.";
		goto out;
	}
out:
	if (why != NULL) {
		*why = reason;
	}
	return st;
}

rp_status rp_password_generate(char *out, size_t cap, size_t *out_len)
{
	uint8_t rnd[64];
	size_t n = 0, i;
	rp_status st = RP_OK;

	if (out == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (cap < RP_PASSWORD_GENERATED_CAP) {
		return RP_E_BUF_TOO_SMALL;
	}
	while (n < RP_PASSWORD_GENERATED_LEN) {
		st = rp_secret_random(rnd, sizeof(rnd));
		if (st != RP_OK) {
			rp_wipe(out, cap);
			goto out;
		}
		/* Rejection sampling: 224 = 4 * 56, so every symbol is equally likely. */
		for (i = 0; i < sizeof(rnd) && n < RP_PASSWORD_GENERATED_LEN; i++) {
			if (rnd[i] < 4u * GEN_ALPHABET_LEN) {
				out[n++] = gen_alphabet[rnd[i] % GEN_ALPHABET_LEN];
			}
		}
		/* One symbol 24 times (56^-23) would fail the policy: draw again. */
		if (n == RP_PASSWORD_GENERATED_LEN &&
		    rp_password_policy_check((const uint8_t *)out, n, NULL, 0, NULL) != RP_OK) {
			n = 0;
		}
	}
	out[n] = '\0';
	if (out_len != NULL) {
		*out_len = n;
	}
out:
	rp_wipe(rnd, sizeof(rnd));
	return st;
}
