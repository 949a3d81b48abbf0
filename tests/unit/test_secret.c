/*
 * Unit tests of server/auth/secret (randomness, constant-time compare,
 * base64/base32 with RFC 4648 vectors, SHA-256, tokens) and of
 * server/auth/role (the permission matrix), which has no allocation or
 * state of its own and lives here rather than in a file of its own.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "auth/role.h"
#include "auth/secret.h"

#define S(lit) (const uint8_t *)(lit), (sizeof(lit) - 1u)

/* ------------------------------------------------------------------------
 * Randomness and compare
 * ------------------------------------------------------------------------ */

static void test_random(void **state)
{
	uint8_t a[32], b[32], zero[32] = {0};
	uint8_t big[70000];

	(void)state;
	assert_int_equal(rp_secret_random(a, sizeof(a)), RP_OK);
	assert_int_equal(rp_secret_random(b, sizeof(b)), RP_OK);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_memory_not_equal(a, zero, sizeof(a));
	/* More than one RAND_bytes chunk. */
	memset(big, 0, sizeof(big));
	assert_int_equal(rp_secret_random(big, sizeof(big)), RP_OK);
	assert_memory_not_equal(big + sizeof(big) - 32u, zero, 32u);
	assert_int_equal(rp_secret_random(NULL, 0), RP_OK);
	assert_int_equal(rp_secret_random(NULL, 1), RP_E_INVALID_ARG);
}

static void test_equal(void **state)
{
	(void)state;
	assert_true(rp_secret_equal("abcd", "abcd", 4));
	assert_false(rp_secret_equal("abcd", "abce", 4));
	assert_false(rp_secret_equal("xbcd", "abcd", 4));
	assert_true(rp_secret_equal("a", "b", 0));
}

/* ------------------------------------------------------------------------
 * base64 / base32: RFC 4648 section 10 vectors, and strictness
 * ------------------------------------------------------------------------ */

static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
static const char *const b64[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
static const char *const b32[] = {"", "MY", "MZXQ", "MZXW6", "MZXW6YQ", "MZXW6YTB", "MZXW6YTBOI"};

static void test_b64_vectors(void **state)
{
	char out[32];
	uint8_t raw[32];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		size_t len = strlen(plain[i]);

		assert_int_equal(rp_secret_b64_encode(RP_B64_URL, (const uint8_t *)plain[i], len,
						      out, sizeof(out), &n),
				 RP_OK);
		assert_string_equal(out, b64[i]);
		assert_int_equal(n, strlen(b64[i]));
		assert_int_equal(n, RP_B64_LEN(len));
		assert_int_equal(rp_secret_b64_decode(RP_B64_STD, (const uint8_t *)b64[i],
						      strlen(b64[i]), raw, sizeof(raw), &n),
				 RP_OK);
		assert_int_equal(n, len);
		assert_memory_equal(raw, plain[i], len);
	}
}

static void test_b64_alphabets(void **state)
{
	static const uint8_t bytes[] = {0xfb, 0xff, 0xbf};
	char out[8];
	uint8_t raw[8];
	size_t n;

	(void)state;
	assert_int_equal(rp_secret_b64_encode(RP_B64_URL, bytes, 3, out, sizeof(out), &n), RP_OK);
	assert_string_equal(out, "-_-_");
	assert_int_equal(rp_secret_b64_encode(RP_B64_STD, bytes, 3, out, sizeof(out), &n), RP_OK);
	assert_string_equal(out, "+/+/");
	assert_int_equal(rp_secret_b64_decode(RP_B64_URL, S("-_-_"), raw, sizeof(raw), &n), RP_OK);
	assert_memory_equal(raw, bytes, 3);
	/* Each alphabet refuses the other's two characters. */
	assert_int_equal(rp_secret_b64_decode(RP_B64_URL, S("+/+/"), raw, sizeof(raw), &n),
			 RP_E_MALFORMED);
	assert_int_equal(rp_secret_b64_decode(RP_B64_STD, S("-_-_"), raw, sizeof(raw), &n),
			 RP_E_MALFORMED);
}

static void test_b64_rejects(void **state)
{
	static const char *const bad[] = {
		"Z",        /* len % 4 == 1 */
		"Zm9vY",    /* len % 4 == 1 */
		"Zh",       /* trailing bits not zero: a second spelling of "f" */
		"Zm9",      /* trailing bits not zero */
		"Zg==",     /* padding */
		"Zm9v\n",   /* whitespace */
		"Zm 9v",    /* space */
		"Zm9v!",    /* not in the alphabet */
		"Zm9\x80v", /* high byte */
	};
	uint8_t raw[16];
	size_t i, n = 99;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(rp_secret_b64_decode(RP_B64_URL, (const uint8_t *)bad[i],
						      strlen(bad[i]), raw, sizeof(raw), &n),
				 RP_E_MALFORMED);
		assert_int_equal(n, 99);
	}
	/* A NUL inside. */
	assert_int_equal(
		rp_secret_b64_decode(RP_B64_URL, (const uint8_t *)"Zm\0v", 4, raw, sizeof(raw), &n),
		RP_E_MALFORMED);
	/* Sizes. */
	assert_int_equal(rp_secret_b64_decode(RP_B64_URL, S("Zm9vYmFy"), raw, 5, &n),
			 RP_E_BUF_TOO_SMALL);
	assert_int_equal(rp_secret_b64_decode(RP_B64_URL, S("Zm9vYmFy"), raw, 6, &n), RP_OK);
	assert_int_equal(rp_secret_b64_decode(RP_B64_URL, NULL, 0, NULL, 0, &n), RP_OK);
	assert_int_equal(n, 0);
	assert_int_equal(rp_secret_b64_decode(RP_B64_URL, NULL, 1, raw, 1, &n), RP_E_INVALID_ARG);
	assert_int_equal(rp_secret_b64_decode((rp_b64_alphabet)7, S("Zg"), raw, 1, &n),
			 RP_E_INVALID_ARG);
	{
		char out[4];

		/* The NUL needs room too. */
		assert_int_equal(rp_secret_b64_encode(RP_B64_URL, S("foo"), out, 4, NULL),
				 RP_E_BUF_TOO_SMALL);
		assert_int_equal(rp_secret_b64_encode(RP_B64_URL, S("fo"), out, 4, NULL), RP_OK);
		assert_int_equal(rp_secret_b64_encode(RP_B64_URL, S("f"), NULL, 4, NULL),
				 RP_E_INVALID_ARG);
	}
}

static void test_b32_vectors(void **state)
{
	char out[40];
	uint8_t raw[32];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		size_t len = strlen(plain[i]);

		assert_int_equal(
			rp_secret_b32_encode((const uint8_t *)plain[i], len, out, sizeof(out), &n),
			RP_OK);
		assert_string_equal(out, b32[i]);
		assert_int_equal(n, RP_B32_LEN(len));
		assert_int_equal(rp_secret_b32_decode((const uint8_t *)b32[i], strlen(b32[i]), raw,
						      sizeof(raw), &n),
				 RP_OK);
		assert_int_equal(n, len);
		assert_memory_equal(raw, plain[i], len);
	}
	/* The TOTP key of RFC 6238's SHA1 vectors. */
	assert_int_equal(rp_secret_b32_encode(S("12345678901234567890"), out, sizeof(out), &n),
			 RP_OK);
	assert_string_equal(out, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
}

static void test_b32_rejects(void **state)
{
	static const char *const bad[] = {
		"M",                                       /* impossible lengths: 1, 3, 6 (mod 8) */
		"MZX",      "MZXW6Y", "MZXW6YTBOIM", "MZ", /* trailing bits not zero */
		"MZXR",                                    /* trailing bits not zero */
		"my",                                      /* lower case */
		"MY======",                                /* padding */
		"MZXW1",                                   /* 1 is not in the alphabet */
		"MZXW0",    "MZXW8",  "MZXW 6",
	};
	uint8_t raw[16];
	size_t i, n = 99;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
			rp_secret_b32_decode((const uint8_t *)bad[i], strlen(bad[i]), raw, 16, &n),
			RP_E_MALFORMED);
		assert_int_equal(n, 99);
	}
	assert_int_equal(rp_secret_b32_decode(S("MZXW6YTBOI"), raw, 5, &n), RP_E_BUF_TOO_SMALL);
	assert_int_equal(rp_secret_b32_decode(NULL, 2, raw, 5, &n), RP_E_INVALID_ARG);
	{
		char out[4];

		assert_int_equal(rp_secret_b32_encode(S("fo"), out, 4, NULL), RP_E_BUF_TOO_SMALL);
		assert_int_equal(rp_secret_b32_encode(S("f"), out, 3, NULL), RP_OK);
	}
}

static void test_sha256(void **state)
{
	uint8_t d[RP_SHA256_LEN];
	char hex[RP_SHA256_HEX_LEN + 1u];

	(void)state;
	assert_int_equal(rp_secret_sha256(S("abc"), d), RP_OK);
	rp_secret_hex(d, hex);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(rp_secret_sha256(NULL, 0, d), RP_OK);
	rp_secret_hex(d, hex);
	assert_string_equal(hex,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_int_equal(rp_secret_sha256(NULL, 1, d), RP_E_INVALID_ARG);
}

/* ------------------------------------------------------------------------
 * Tokens
 * ------------------------------------------------------------------------ */

static void test_token_new_parse(void **state)
{
	static const struct {
		rp_token_kind kind;
		const char *prefix;
	} kinds[] = {{RP_TOKEN_API, "rpt_"},
		     {RP_TOKEN_SESSION, "rps_"},
		     {RP_TOKEN_CSRF, "rpc_"},
		     {RP_TOKEN_ENROLL, "rpe_"}};
	rp_token a, b;
	rp_token_kind k;
	size_t i;

	(void)state;
	assert_int_equal(RP_TOKEN_LEN, 47);
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		assert_int_equal(rp_token_new(kinds[i].kind, &a), RP_OK);
		assert_int_equal(rp_token_new(kinds[i].kind, &b), RP_OK);
		assert_int_equal(strlen(a.text), RP_TOKEN_LEN);
		assert_memory_equal(a.text, kinds[i].prefix, 4);
		assert_string_not_equal(a.text, b.text);
		assert_int_equal(rp_token_parse((const uint8_t *)a.text, RP_TOKEN_LEN, &k), RP_OK);
		assert_int_equal(k, kinds[i].kind);
	}
	rp_token_wipe(&a);
	assert_int_equal(a.text[0], 0);
	rp_token_wipe(NULL);
	assert_int_equal(rp_token_new((rp_token_kind)0, &a), RP_E_INVALID_ARG);
	assert_int_equal(rp_token_new((rp_token_kind)9, &a), RP_E_INVALID_ARG);
	assert_int_equal(rp_token_new(RP_TOKEN_API, NULL), RP_E_INVALID_ARG);
}

static void test_token_rejects(void **state)
{
	/* 43 characters after the prefix; 'A' ends a canonical token. */
	static const char good[] = "rpt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	char t[64];
	size_t i;

	(void)state;
	assert_int_equal(sizeof(good) - 1u, RP_TOKEN_LEN);
	assert_int_equal(rp_token_parse((const uint8_t *)good, RP_TOKEN_LEN, NULL), RP_OK);
	/* Lengths. */
	assert_int_equal(rp_token_parse((const uint8_t *)good, RP_TOKEN_LEN - 1u, NULL),
			 RP_E_MALFORMED);
	memcpy(t, good, sizeof(good));
	t[RP_TOKEN_LEN] = 'A';
	assert_int_equal(rp_token_parse((const uint8_t *)t, RP_TOKEN_LEN + 1u, NULL),
			 RP_E_MALFORMED);
	assert_int_equal(rp_token_parse(NULL, RP_TOKEN_LEN, NULL), RP_E_MALFORMED);
	assert_int_equal(rp_token_parse((const uint8_t *)"", 0, NULL), RP_E_MALFORMED);
	/* Prefixes. */
	static const char *const prefixes[] = {"rpx_", "RPT_", "rpt-", "xpt_", "rpt\0"};
	for (i = 0; i < 5; i++) {
		memcpy(t, good, sizeof(good));
		memcpy(t, prefixes[i], 4);
		assert_int_equal(rp_token_parse((const uint8_t *)t, RP_TOKEN_LEN, NULL),
				 RP_E_MALFORMED);
	}
	/* Characters outside base64url, anywhere. */
	static const char badch[] = {'+', '/', '=', '.', ' ', '\0', '\n', (char)0xC3};
	for (i = 0; i < sizeof(badch); i++) {
		memcpy(t, good, sizeof(good));
		t[4u + i * 5u] = badch[i];
		assert_int_equal(rp_token_parse((const uint8_t *)t, RP_TOKEN_LEN, NULL),
				 RP_E_MALFORMED);
	}
	/* Non-canonical last character: its two low bits must be zero. */
	memcpy(t, good, sizeof(good));
	t[RP_TOKEN_LEN - 1u] = 'B';
	assert_int_equal(rp_token_parse((const uint8_t *)t, RP_TOKEN_LEN, NULL), RP_E_MALFORMED);
	t[RP_TOKEN_LEN - 1u] = 'E';
	assert_int_equal(rp_token_parse((const uint8_t *)t, RP_TOKEN_LEN, NULL), RP_OK);
	t[RP_TOKEN_LEN - 1u] = '_';
	assert_int_equal(rp_token_parse((const uint8_t *)t, RP_TOKEN_LEN, NULL), RP_E_MALFORMED);
	t[RP_TOKEN_LEN - 1u] = 'w';
	assert_int_equal(rp_token_parse((const uint8_t *)t, RP_TOKEN_LEN, NULL), RP_OK);
}

static void test_token_hash_check(void **state)
{
	rp_token a, b;
	uint8_t h[RP_SHA256_LEN], d[RP_SHA256_LEN];
	char hex[RP_SHA256_HEX_LEN + 1u], hex2[RP_SHA256_HEX_LEN + 1u];

	(void)state;
	assert_int_equal(rp_token_new(RP_TOKEN_SESSION, &a), RP_OK);
	assert_int_equal(rp_token_new(RP_TOKEN_SESSION, &b), RP_OK);
	/* The stored form is SHA-256 of the text, prefix included. */
	assert_int_equal(rp_token_hash((const uint8_t *)a.text, RP_TOKEN_LEN, RP_TOKEN_SESSION, h),
			 RP_OK);
	assert_int_equal(rp_secret_sha256((const uint8_t *)a.text, RP_TOKEN_LEN, d), RP_OK);
	assert_memory_equal(h, d, sizeof(h));
	assert_int_equal(
		rp_token_hash_hex((const uint8_t *)a.text, RP_TOKEN_LEN, RP_TOKEN_SESSION, hex),
		RP_OK);
	rp_secret_hex(d, hex2);
	assert_string_equal(hex, hex2);
	/* A session token is not an API token. */
	assert_int_equal(rp_token_hash((const uint8_t *)a.text, RP_TOKEN_LEN, RP_TOKEN_API, h),
			 RP_E_MALFORMED);
	assert_int_equal(rp_token_hash((const uint8_t *)a.text, RP_TOKEN_LEN, RP_TOKEN_SESSION, h),
			 RP_OK);
	assert_int_equal(rp_token_check((const uint8_t *)a.text, RP_TOKEN_LEN, RP_TOKEN_SESSION, h),
			 RP_OK);
	assert_int_equal(rp_token_check((const uint8_t *)b.text, RP_TOKEN_LEN, RP_TOKEN_SESSION, h),
			 RP_E_AUTH);
	assert_int_equal(rp_token_check((const uint8_t *)a.text, RP_TOKEN_LEN, RP_TOKEN_CSRF, h),
			 RP_E_AUTH);
	assert_int_equal(rp_token_check((const uint8_t *)a.text, 10, RP_TOKEN_SESSION, h),
			 RP_E_AUTH);
	assert_int_equal(
		rp_token_check((const uint8_t *)a.text, RP_TOKEN_LEN, RP_TOKEN_SESSION, NULL),
		RP_E_AUTH);
	assert_int_equal(
		rp_token_hash((const uint8_t *)a.text, RP_TOKEN_LEN, RP_TOKEN_SESSION, NULL),
		RP_E_INVALID_ARG);
	rp_token_wipe(&a);
	rp_token_wipe(&b);
}

/* ------------------------------------------------------------------------
 * Roles
 * ------------------------------------------------------------------------ */

static void test_role_matrix(void **state)
{
	/* Rows: viewer, operator, admin, auditor (docs/operators.md). */
	static const struct {
		rp_perm perm;
		int allow[4];
	} m[] = {
		{RP_PERM_SELF, {1, 1, 1, 1}},           {RP_PERM_DEVICE_READ, {1, 1, 1, 1}},
		{RP_PERM_TELEMETRY_READ, {1, 1, 1, 1}}, {RP_PERM_ALERT_READ, {1, 1, 1, 1}},
		{RP_PERM_DEVICE_COMMAND, {0, 1, 1, 0}}, {RP_PERM_DEVICE_WRITE, {0, 1, 1, 0}},
		{RP_PERM_ALERT_WRITE, {0, 1, 1, 0}},    {RP_PERM_DEVICE_ADMIN, {0, 0, 1, 0}},
		{RP_PERM_OTA_READ, {0, 0, 1, 1}},       {RP_PERM_OTA_WRITE, {0, 0, 1, 0}},
		{RP_PERM_REPORT_READ, {0, 0, 1, 1}},    {RP_PERM_REPORT_RUN, {0, 0, 1, 0}},
		{RP_PERM_OPERATOR_READ, {0, 0, 1, 1}},  {RP_PERM_OPERATOR_ADMIN, {0, 0, 1, 0}},
		{RP_PERM_TOKEN_READ, {0, 0, 1, 1}},     {RP_PERM_TOKEN_ADMIN, {0, 0, 1, 0}},
		{RP_PERM_AUDIT_READ, {0, 0, 1, 1}},     {RP_PERM_SETTINGS_READ, {0, 0, 1, 1}},
		{RP_PERM_SETTINGS_WRITE, {0, 0, 1, 0}},
	};
	size_t i;
	int r;

	(void)state;
	/* The table above names every permission once. */
	assert_int_equal(sizeof(m) / sizeof(m[0]), RP_PERM_COUNT_);
	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		assert_int_equal(m[i].perm, (rp_perm)i);
		assert_non_null(rp_perm_name(m[i].perm));
		for (r = 0; r < 4; r++) {
			assert_int_equal(rp_role_allows((rp_role)r, m[i].perm), m[i].allow[r]);
		}
	}
	/* Default deny for values outside the enums. */
	assert_false(rp_role_allows(RP_ROLE_COUNT_, RP_PERM_SELF));
	assert_false(rp_role_allows((rp_role)-1, RP_PERM_SELF));
	assert_false(rp_role_allows(RP_ROLE_ADMIN, RP_PERM_COUNT_));
	assert_false(rp_role_allows(RP_ROLE_ADMIN, (rp_perm)-1));
	assert_null(rp_perm_name(RP_PERM_COUNT_));
}

static void test_role_covers(void **state)
{
	int r;

	(void)state;
	for (r = 0; r < RP_ROLE_COUNT_; r++) {
		assert_true(rp_role_covers((rp_role)r, (rp_role)r));
		assert_true(rp_role_covers(RP_ROLE_ADMIN, (rp_role)r));
	}
	assert_true(rp_role_covers(RP_ROLE_OPERATOR, RP_ROLE_VIEWER));
	assert_false(rp_role_covers(RP_ROLE_VIEWER, RP_ROLE_OPERATOR));
	assert_true(rp_role_covers(RP_ROLE_AUDITOR, RP_ROLE_VIEWER));
	assert_false(rp_role_covers(RP_ROLE_AUDITOR, RP_ROLE_OPERATOR));
	assert_false(rp_role_covers(RP_ROLE_OPERATOR, RP_ROLE_AUDITOR));
	assert_false(rp_role_covers(RP_ROLE_OPERATOR, RP_ROLE_ADMIN));
	assert_false(rp_role_covers(RP_ROLE_ADMIN, RP_ROLE_COUNT_));
	assert_false(rp_role_covers(RP_ROLE_COUNT_, RP_ROLE_VIEWER));
}

static void test_role_parse_print(void **state)
{
	static const char *const names[] = {"viewer", "operator", "admin", "auditor"};
	rp_role r = RP_ROLE_COUNT_;
	int i;

	(void)state;
	for (i = 0; i < 4; i++) {
		assert_string_equal(rp_role_name((rp_role)i), names[i]);
		assert_int_equal(rp_role_parse((const uint8_t *)names[i], strlen(names[i]), &r),
				 RP_OK);
		assert_int_equal(r, i);
	}
	r = RP_ROLE_VIEWER;
	assert_int_equal(rp_role_parse(S("Admin"), &r), RP_E_NOT_FOUND);
	assert_int_equal(rp_role_parse(S("admin "), &r), RP_E_NOT_FOUND);
	assert_int_equal(rp_role_parse(S("admi"), &r), RP_E_NOT_FOUND);
	assert_int_equal(rp_role_parse((const uint8_t *)"admin\0", 6, &r), RP_E_NOT_FOUND);
	assert_int_equal(rp_role_parse(S(""), &r), RP_E_NOT_FOUND);
	assert_int_equal(rp_role_parse(S("root"), &r), RP_E_NOT_FOUND);
	assert_int_equal(r, RP_ROLE_VIEWER);
	assert_int_equal(rp_role_parse(NULL, 3, &r), RP_E_INVALID_ARG);
	assert_int_equal(rp_role_parse(S("admin"), NULL), RP_E_INVALID_ARG);
	assert_null(rp_role_name(RP_ROLE_COUNT_));
	assert_null(rp_role_name((rp_role)-1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random),           cmocka_unit_test(test_equal),
		cmocka_unit_test(test_b64_vectors),      cmocka_unit_test(test_b64_alphabets),
		cmocka_unit_test(test_b64_rejects),      cmocka_unit_test(test_b32_vectors),
		cmocka_unit_test(test_b32_rejects),      cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_token_new_parse),  cmocka_unit_test(test_token_rejects),
		cmocka_unit_test(test_token_hash_check), cmocka_unit_test(test_role_matrix),
		cmocka_unit_test(test_role_covers),      cmocka_unit_test(test_role_parse_print),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
