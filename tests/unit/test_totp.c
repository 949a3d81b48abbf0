/*
 * Unit tests of server/auth/totp: RFC 6238 appendix B vectors (SHA1,
 * SHA256, SHA512), RFC 4226 appendix D vectors, the verification window,
 * replay protection, strict code parsing, and the provisioning URI.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "auth/totp.h"

#define S(lit) (const uint8_t *)(lit), (sizeof(lit) - 1u)

/* RFC 6238 appendix B: the seed of each algorithm (ASCII digits). */
static const uint8_t key1[] = "12345678901234567890";
static const uint8_t key256[] = "12345678901234567890123456789012";
static const uint8_t key512[] = "1234567890123456789012345678901234567890123456789012345678901234";
#define KEY1 key1, 20u

static rp_totp_params params(rp_totp_alg alg, uint32_t digits, uint32_t skew)
{
	rp_totp_params p;

	rp_totp_params_default(&p);
	p.alg = alg;
	p.digits = digits;
	p.skew = skew;
	return p;
}

static void test_rfc6238_vectors(void **state)
{
	static const struct {
		uint64_t t;
		uint32_t sha1, sha256, sha512;
	} v[] = {
		{59u, 94287082u, 46119246u, 90693936u},
		{1111111109u, 7081804u, 68084774u, 25091201u},
		{1111111111u, 14050471u, 67062674u, 99943326u},
		{1234567890u, 89005924u, 91819424u, 93441116u},
		{2000000000u, 69279037u, 90698825u, 38618901u},
		{20000000000u, 65353130u, 77737706u, 47863826u},
	};
	rp_totp_params p1 = params(RP_TOTP_SHA1, 8, 1);
	rp_totp_params p256 = params(RP_TOTP_SHA256, 8, 1);
	rp_totp_params p512 = params(RP_TOTP_SHA512, 8, 1);
	uint32_t code;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint64_t step = rp_totp_step(&p1, v[i].t);

		assert_int_equal(step, v[i].t / 30u);
		assert_int_equal(rp_totp_code(&p1, KEY1, step, &code), RP_OK);
		assert_int_equal(code, v[i].sha1);
		assert_int_equal(rp_totp_code(&p256, key256, 32, step, &code), RP_OK);
		assert_int_equal(code, v[i].sha256);
		assert_int_equal(rp_totp_code(&p512, key512, 64, step, &code), RP_OK);
		assert_int_equal(code, v[i].sha512);
	}
}

static void test_rfc4226_vectors(void **state)
{
	static const uint32_t hotp[10] = {755224u, 287082u, 359152u, 969429u, 338314u,
					  254676u, 287922u, 162583u, 399871u, 520489u};
	uint32_t code;
	uint64_t c;

	(void)state;
	for (c = 0; c < 10; c++) {
		assert_int_equal(rp_totp_code(NULL, KEY1, c, &code), RP_OK);
		assert_int_equal(code, hotp[c]);
	}
}

static void test_verify_window_and_replay(void **state)
{
	rp_totp_params p = params(RP_TOTP_SHA1, 6, 1);
	uint64_t step = 0;
	/* t = 59 is step 1; the codes of steps 0 .. 3 from RFC 4226. */
	const uint64_t t = 59;

	(void)state;
	/* Now's step. */
	assert_int_equal(rp_totp_verify(&p, KEY1, S("287082"), t, 0, &step), RP_OK);
	assert_int_equal(step, 1);
	/* The same code again: a replay. */
	assert_int_equal(rp_totp_verify(&p, KEY1, S("287082"), t, step, &step), RP_E_STATE);
	assert_int_equal(step, 1);
	/* One step ahead is in the window and moves last_step on. */
	assert_int_equal(rp_totp_verify(&p, KEY1, S("359152"), t, 1, &step), RP_OK);
	assert_int_equal(step, 2);
	/* Then the code of step 1 is older than an accepted one: refused. */
	assert_int_equal(rp_totp_verify(&p, KEY1, S("287082"), t, 2, &step), RP_E_STATE);
	/* One step behind is in the window when not used yet: at t = 89 (step 2), step 1. */
	assert_int_equal(rp_totp_verify(&p, KEY1, S("287082"), 89, 0, &step), RP_OK);
	assert_int_equal(step, 1);
	/* last_step 0 means "never": step 0 itself (1970) counts as used. */
	assert_int_equal(rp_totp_verify(&p, KEY1, S("755224"), t, 0, &step), RP_E_STATE);
}

static void test_verify_edges(void **state)
{
	rp_totp_params p = params(RP_TOTP_SHA1, 6, 1);
	rp_totp_params p0 = params(RP_TOTP_SHA1, 6, 0);
	uint64_t step = 77;

	(void)state;
	/* Two steps away: outside the window. t = 59 is step 1, 969429 is step 3. */
	assert_int_equal(rp_totp_verify(&p, KEY1, S("969429"), 59, 0, &step), RP_E_AUTH);
	assert_int_equal(step, 77);
	/* skew 0: only now's step. */
	assert_int_equal(rp_totp_verify(&p0, KEY1, S("359152"), 59, 0, &step), RP_E_AUTH);
	assert_int_equal(rp_totp_verify(&p0, KEY1, S("287082"), 59, 0, &step), RP_OK);
	assert_int_equal(step, 1);
	/* Time 0: the window is clipped at step 0, not wrapped. */
	assert_int_equal(rp_totp_verify(&p, KEY1, S("287082"), 0, 0, &step), RP_OK);
	assert_int_equal(step, 1);
	/* Wrong code. */
	assert_int_equal(rp_totp_verify(&p, KEY1, S("000000"), 59, 0, &step), RP_E_AUTH);
	/* The last step near the top of the range. */
	assert_int_equal(rp_totp_verify(&p, KEY1, S("287082"), UINT64_MAX, 0, &step), RP_E_AUTH);
	/* Malformed codes are plain failures. */
	assert_int_equal(rp_totp_verify(&p, KEY1, S("28708"), 59, 0, &step), RP_E_AUTH);
	assert_int_equal(rp_totp_verify(&p, KEY1, S("2870822"), 59, 0, &step), RP_E_AUTH);
	assert_int_equal(rp_totp_verify(&p, KEY1, S("287 082"), 59, 0, &step), RP_E_AUTH);
	assert_int_equal(rp_totp_verify(&p, KEY1, NULL, 0, 59, 0, &step), RP_E_AUTH);
	/* Arguments. */
	assert_int_equal(rp_totp_verify(&p, NULL, 20, S("287082"), 59, 0, &step), RP_E_INVALID_ARG);
	assert_int_equal(rp_totp_verify(&p, key1, 0, S("287082"), 59, 0, &step), RP_E_INVALID_ARG);
	assert_int_equal(rp_totp_verify(&p, key512, 65, S("287082"), 59, 0, &step),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp_totp_verify(&p, KEY1, S("287082"), 59, 0, NULL), RP_E_INVALID_ARG);
}

static void test_code_parse(void **state)
{
	static const char *const bad[] = {
		"",
		"12345",
		"1234567",
		"12345a",
		"-12345",
		"+12345",
		" 12345",
		"12345 ",
		"\xd9\xa1\xd9\xa2\xd9\xa3\xd9\xa4\xd9\xa5\xd9\xa6" /* Arabic-Indic */};
	rp_totp_params p8 = params(RP_TOTP_SHA1, 8, 1);
	uint32_t code = 42;
	size_t i;

	(void)state;
	assert_int_equal(rp_totp_code_parse(NULL, S("000123"), &code), RP_OK);
	assert_int_equal(code, 123);
	assert_int_equal(rp_totp_code_parse(NULL, S("999999"), &code), RP_OK);
	assert_int_equal(code, 999999);
	assert_int_equal(rp_totp_code_parse(&p8, S("99999999"), &code), RP_OK);
	assert_int_equal(code, 99999999);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		code = 42;
		assert_int_equal(
			rp_totp_code_parse(NULL, (const uint8_t *)bad[i], strlen(bad[i]), &code),
			RP_E_MALFORMED);
		assert_int_equal(code, 42);
	}
	assert_int_equal(rp_totp_code_parse(NULL,
					    (const uint8_t *)"12\0"
							     "456",
					    6, &code),
			 RP_E_MALFORMED);
	assert_int_equal(rp_totp_code_parse(NULL, NULL, 6, &code), RP_E_MALFORMED);
	assert_int_equal(rp_totp_code_parse(NULL, S("123456"), NULL), RP_E_INVALID_ARG);
}

static void test_params(void **state)
{
	rp_totp_params p;
	uint32_t code;

	(void)state;
	rp_totp_params_default(&p);
	assert_int_equal(p.alg, RP_TOTP_SHA1);
	assert_int_equal(p.digits, 6);
	assert_int_equal(p.period_s, 30);
	assert_int_equal(p.skew, 1);
	assert_int_equal(rp_totp_params_check(&p), RP_OK);
	p.digits = 5;
	assert_int_equal(rp_totp_params_check(&p), RP_E_INVALID_ARG);
	p.digits = 9;
	assert_int_equal(rp_totp_params_check(&p), RP_E_INVALID_ARG);
	rp_totp_params_default(&p);
	p.period_s = 45;
	assert_int_equal(rp_totp_params_check(&p), RP_E_INVALID_ARG);
	assert_int_equal(rp_totp_step(&p, 1000), 0);
	assert_int_equal(rp_totp_code(&p, KEY1, 1, &code), RP_E_INVALID_ARG);
	rp_totp_params_default(&p);
	p.skew = RP_LIMIT_TOTP_SKEW + 1u;
	assert_int_equal(rp_totp_params_check(&p), RP_E_INVALID_ARG);
	rp_totp_params_default(&p);
	p.alg = (rp_totp_alg)7;
	assert_int_equal(rp_totp_params_check(&p), RP_E_INVALID_ARG);
	assert_int_equal(rp_totp_params_check(NULL), RP_E_INVALID_ARG);
	/* 60-second steps. */
	rp_totp_params_default(&p);
	p.period_s = 60;
	assert_int_equal(rp_totp_step(&p, 119), 1);
	assert_int_equal(rp_totp_step(NULL, 119), 3);
}

static void test_key_new(void **state)
{
	uint8_t a[RP_TOTP_KEY_LEN], b[RP_TOTP_KEY_LEN];

	(void)state;
	assert_int_equal(rp_totp_key_new(a), RP_OK);
	assert_int_equal(rp_totp_key_new(b), RP_OK);
	assert_memory_not_equal(a, b, sizeof(a));
}

static void test_uri(void **state)
{
	char out[RP_TOTP_URI_CAP];
	size_t n = 0, i;
	rp_totp_params p;
	uint8_t name[RP_LIMIT_OPERATOR_NAME_LEN + 1u];

	(void)state;
	assert_int_equal(rp_totp_uri(NULL, S("alice"), KEY1, out, sizeof(out), &n), RP_OK);
	assert_string_equal(out, "otpauth://totp/Rampart:alice?secret="
				 "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Rampart");
	assert_int_equal(n, strlen(out));
	/* Everything but unreserved characters is percent-encoded. */
	assert_int_equal(
		rp_totp_uri(NULL, S("Bob Smith/\xc3\xa4:&?=#%+a-._~"), KEY1, out, sizeof(out), &n),
		RP_OK);
	assert_string_equal(out, "otpauth://totp/Rampart:Bob%20Smith%2F%C3%A4%3A%26%3F%3D%23%25%"
				 "2Ba-._~?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Rampart");
	/* Non-default parameters are spelled out. */
	p = params(RP_TOTP_SHA512, 8, 1);
	p.period_s = 60;
	assert_int_equal(rp_totp_uri(&p, S("a"), key1, 10, out, sizeof(out), &n), RP_OK);
	assert_string_equal(out, "otpauth://totp/Rampart:a?secret=GEZDGNBVGY3TQOJQ&issuer=Rampart"
				 "&algorithm=SHA512&digits=8&period=60");
	/* The longest name and key fit RP_TOTP_URI_CAP. */
	memset(name, '/', sizeof(name));
	p.alg = RP_TOTP_SHA256;
	assert_int_equal(
		rp_totp_uri(&p, name, RP_LIMIT_OPERATOR_NAME_LEN, key512, 64, out, sizeof(out), &n),
		RP_OK);
	assert_true(n < RP_TOTP_URI_CAP);
	/* Too small, at every size. */
	assert_int_equal(rp_totp_uri(NULL, S("alice"), KEY1, out, sizeof(out), &n), RP_OK);
	for (i = 1; i <= n; i++) {
		char small[128];

		assert_int_equal(rp_totp_uri(NULL, S("alice"), KEY1, small, i, NULL),
				 RP_E_BUF_TOO_SMALL);
	}
	/* Refused names and keys. */
	assert_int_equal(rp_totp_uri(NULL, S(""), KEY1, out, sizeof(out), &n), RP_E_INVALID_ARG);
	assert_int_equal(rp_totp_uri(NULL, name, sizeof(name), KEY1, out, sizeof(out), &n),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp_totp_uri(NULL, S("a\xc3"), KEY1, out, sizeof(out), &n),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp_totp_uri(NULL, (const uint8_t *)"a\0b", 3, KEY1, out, sizeof(out), &n),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp_totp_uri(NULL, S("alice"), key1, 0, out, sizeof(out), &n),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp_totp_uri(NULL, S("alice"), key512, 65, out, sizeof(out), &n),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp_totp_uri(NULL, S("alice"), KEY1, NULL, 10, &n), RP_E_INVALID_ARG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc6238_vectors),
		cmocka_unit_test(test_rfc4226_vectors),
		cmocka_unit_test(test_verify_window_and_replay),
		cmocka_unit_test(test_verify_edges),
		cmocka_unit_test(test_code_parse),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_key_new),
		cmocka_unit_test(test_uri),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
