/*
 * Unit tests of server/auth/password: Argon2id known answers (the
 * reference implementation's own vectors), interoperability with
 * libargon2's encoder, strict PHC parsing, caps checked before Argon2
 * runs, rehash decisions, the password policy, generated passwords,
 * allocation failure and the in-flight bound.
 *
 * Most tests use tiny cost parameters through an explicit
 * rp_password_params; test_production_params runs the defaults once and
 * prints the time per hash.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <argon2.h>

#include "auth/password.h"
#include "util/alloc.h"

#define S(lit)  (const uint8_t *)(lit), (sizeof(lit) - 1u)
#define PS(lit) (lit), (sizeof(lit) - 1u)

/* Test parameters: 64 KiB, 1 pass, 1 lane. */
static const rp_password_params fast = {64, 1, 1, 4};

/* From phc-winner-argon2's src/test.c (Argon2id, "password", "somesalt"). */
static const char kat_m256_p1[] =
	"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4";
static const char kat_m256_p2[] =
	"$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc";
static const char kat_m64mib[] =
	"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
static const char kat_m256mib[] =
	"$argon2id$v=19$m=262144,t=2,p=1$c29tZXNhbHQ$eP4eyR+zqlZX1y5xCFTkw9m5GYx0L5YWwvCFvtlbLow";

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------------
 * Known answers and interoperability
 * ------------------------------------------------------------------------ */

static void test_known_answers(void **state)
{
	(void)state;
	assert_int_equal(rp_password_verify(NULL, PS(kat_m256_p1), S("password")), RP_OK);
	assert_int_equal(rp_password_verify(NULL, PS(kat_m256_p2), S("password")), RP_OK);
	assert_int_equal(rp_password_verify(NULL, PS(kat_m256_p1), S("passwore")), RP_E_AUTH);
	assert_int_equal(rp_password_verify(NULL, PS(kat_m256_p1), S("password ")), RP_E_AUTH);
	assert_int_equal(rp_password_verify(NULL, PS(kat_m256_p1), S("")), RP_E_AUTH);
	/* A string need not be NUL-terminated: a prefix of it is another string. */
	assert_int_equal(
		rp_password_verify(NULL, kat_m256_p1, sizeof(kat_m256_p1) - 2u, S("password")),
		RP_E_MALFORMED);
	/* 64 MiB, as in production. */
	assert_int_equal(rp_password_verify(NULL, PS(kat_m64mib), S("password")), RP_OK);
	assert_int_equal(rp_password_in_flight(), 0);
}

static void test_hash_roundtrip_and_libargon2(void **state)
{
	char a[RP_PASSWORD_PHC_CAP], b[RP_PASSWORD_PHC_CAP];
	size_t n = 0;
	size_t before = rp_alloc_in_use();

	(void)state;
	assert_int_equal(rp_password_hash(&fast, S("correct horse battery"), a, sizeof(a), &n),
			 RP_OK);
	assert_int_equal(n, strlen(a));
	assert_int_equal(strncmp(a, "$argon2id$v=19$m=64,t=1,p=1$", 28), 0);
	assert_int_equal(rp_password_verify(&fast, a, n, S("correct horse battery")), RP_OK);
	assert_int_equal(rp_password_verify(&fast, a, n, S("correct horse batterY")), RP_E_AUTH);
	/* libargon2's own decoder and verifier accept what we write. */
	assert_int_equal(argon2id_verify(a, "correct horse battery", 21), ARGON2_OK);
	/* A fresh salt each time. */
	assert_int_equal(rp_password_hash(&fast, S("correct horse battery"), b, sizeof(b), NULL),
			 RP_OK);
	assert_string_not_equal(a, b);
	/* The empty password is hashed like any other (the policy refuses it elsewhere). */
	assert_int_equal(rp_password_hash(&fast, NULL, 0, a, sizeof(a), &n), RP_OK);
	assert_int_equal(rp_password_verify(&fast, a, n, NULL, 0), RP_OK);
	assert_int_equal(rp_alloc_in_use(), before);
}

static void test_format_matches_libargon2(void **state)
{
	char ours[RP_PASSWORD_PHC_CAP], theirs[RP_PASSWORD_PHC_CAP];
	rp_password_phc ph;
	size_t n;

	(void)state;
	/* Same inputs through libargon2's encoder and through parse + format. */
	assert_int_equal(argon2id_hash_encoded(3, 64, 1, "correct horse battery staple", 28,
					       "0123456789abcdef", 16, 32, theirs, sizeof(theirs)),
			 ARGON2_OK);
	assert_int_equal(rp_password_phc_parse(theirs, strlen(theirs), &ph), RP_OK);
	assert_int_equal(ph.m_kib, 64);
	assert_int_equal(ph.t, 3);
	assert_int_equal(ph.p, 1);
	assert_int_equal(ph.salt_len, 16);
	assert_int_equal(ph.hash_len, 32);
	assert_memory_equal(ph.salt, "0123456789abcdef", 16);
	assert_int_equal(rp_password_phc_format(&ph, ours, sizeof(ours), &n), RP_OK);
	assert_string_equal(ours, theirs);
	assert_int_equal(
		rp_password_verify(NULL, theirs, strlen(theirs), S("correct horse battery staple")),
		RP_OK);
	/* Format into buffers that are too small, at every size. */
	for (n = 0; n <= strlen(theirs); n++) {
		assert_int_equal(rp_password_phc_format(&ph, ours, n, NULL), RP_E_BUF_TOO_SMALL);
	}
	assert_int_equal(rp_password_phc_format(&ph, ours, n, NULL), RP_OK);
}

/* ------------------------------------------------------------------------
 * PHC parsing
 * ------------------------------------------------------------------------ */

static void test_phc_rejects(void **state)
{
	static const struct {
		const char *s;
		rp_status st;
	} bad[] = {
		/* Other algorithms and versions. */
		{"$argon2i$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/"
		 "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		 RP_E_MALFORMED},
		{"$argon2d$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/"
		 "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		 RP_E_MALFORMED},
		{"$argon2id$v=16$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/"
		 "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		 RP_E_MALFORMED},
		{"$argon2id$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		 RP_E_MALFORMED},
		{"argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/"
		 "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		 RP_E_MALFORMED},
		/* Field order, extra fields, numbers. */
		{"$argon2id$v=19$t=2,m=256,p=1$c29tZXNhbHQ$nf65EOgLrQMR/"
		 "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		 RP_E_MALFORMED},
		{"$argon2id$v=19$m=256,t=2,p=1,keyid=x$c29tZXNhbHQ$nf65EOgLrQMR/"
		 "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		 RP_E_MALFORMED},
		{"$argon2id$v=19$m=0256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/"
		 "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		 RP_E_MALFORMED},
		{"$argon2id$v=19$m=+256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/"
		 "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		 RP_E_MALFORMED},
		{"$argon2id$v=19$m=,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/"
		 "4",
		 RP_E_MALFORMED},
		{"$argon2id$v=19$m=256, "
		 "t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		 RP_E_MALFORMED},
		{"$argon2id$v=19$m=4294967296,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/"
		 "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		 RP_E_MALFORMED},
		{"$argon2id$v=19$m=10000000000,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/"
		 "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		 RP_E_MALFORMED},
		/* Base64: padding, non-canonical tail, wrong alphabet, sizes. */
		{"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ=$nf65EOgLrQMR/"
		 "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		 RP_E_MALFORMED},
		{"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHR$nf65EOgLrQMR/"
		 "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		 RP_E_MALFORMED},
		{"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR_"
		 "uIPnA4rEsF5h7TKyQwu9U1bMCHGi-4",
		 RP_E_MALFORMED},
		{"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbA$nf65EOgLrQMR/"
		 "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		 RP_E_MALFORMED}, /* 7-byte salt */
		{"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4r",
		 RP_E_MALFORMED}, /* 15-byte tag */
		{"$argon2id$v=19$m=256,t=2,p=1$$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		 RP_E_MALFORMED},
		{"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$", RP_E_MALFORMED},
		{"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ", RP_E_MALFORMED},
		{"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/"
		 "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4$",
		 RP_E_MALFORMED},
		{"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/"
		 "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4\n",
		 RP_E_MALFORMED},
		{"", RP_E_MALFORMED},
		/* Costs beyond the caps or below Argon2's minima: refused before Argon2 runs. */
		{"$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/"
		 "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		 RP_E_LIMIT},
		{"$argon2id$v=19$m=4294967295,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/"
		 "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		 RP_E_LIMIT},
		{"$argon2id$v=19$m=256,t=1000,p=1$c29tZXNhbHQ$nf65EOgLrQMR/"
		 "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		 RP_E_LIMIT},
		{"$argon2id$v=19$m=256,t=0,p=1$c29tZXNhbHQ$nf65EOgLrQMR/"
		 "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		 RP_E_LIMIT},
		{"$argon2id$v=19$m=256,t=2,p=0$c29tZXNhbHQ$nf65EOgLrQMR/"
		 "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		 RP_E_LIMIT},
		{"$argon2id$v=19$m=256,t=2,p=5$c29tZXNhbHQ$nf65EOgLrQMR/"
		 "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		 RP_E_LIMIT},
		{"$argon2id$v=19$m=15,t=2,p=2$c29tZXNhbHQ$nf65EOgLrQMR/"
		 "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		 RP_E_LIMIT},
	};
	static const char nul_inside[] = "$argon2id$v=19$m=256,t=2,p=1$c29tZXNh\0HQ$"
					 "nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4";
	rp_password_phc ph;
	char big[RP_LIMIT_PHC_LEN + 8u];
	size_t i, before = rp_alloc_in_use();
	double t0;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (rp_password_phc_parse(bad[i].s, strlen(bad[i].s), &ph) != bad[i].st) {
			print_message("case %zu: %s\n", i, bad[i].s);
		}
		assert_int_equal(rp_password_phc_parse(bad[i].s, strlen(bad[i].s), &ph), bad[i].st);
		t0 = now_s();
		assert_int_equal(
			rp_password_verify(NULL, bad[i].s, strlen(bad[i].s), S("password")),
			bad[i].st);
		/* Refused without running Argon2 (which would take far longer). */
		assert_true(now_s() - t0 < 0.05);
	}
	/* A NUL inside. */
	assert_int_equal(rp_password_phc_parse(PS(nul_inside), &ph), RP_E_MALFORMED);
	/* Longer than the cap: refused on length alone. */
	memset(big, 'A', sizeof(big));
	memcpy(big, kat_m256_p1, strlen(kat_m256_p1));
	assert_int_equal(rp_password_phc_parse(big, sizeof(big), &ph), RP_E_MALFORMED);
	assert_int_equal(rp_password_phc_parse(NULL, 0, &ph), RP_E_INVALID_ARG);
	assert_int_equal(rp_password_phc_parse(kat_m256_p1, 10, NULL), RP_E_INVALID_ARG);
	/* The largest accepted cost parses (and is not run here). */
	assert_int_equal(rp_password_phc_parse(PS(kat_m256mib), &ph), RP_OK);
	assert_int_equal(ph.m_kib, RP_LIMIT_ARGON2_M_KIB);
	assert_int_equal(rp_alloc_in_use(), before);
}

static void test_needs_rehash(void **state)
{
	char a[RP_PASSWORD_PHC_CAP];
	size_t n;
	rp_password_params p = fast;

	(void)state;
	assert_int_equal(rp_password_hash(&fast, S("correct horse battery"), a, sizeof(a), &n),
			 RP_OK);
	assert_false(rp_password_needs_rehash(&fast, a, n));
	p.t = 2;
	assert_true(rp_password_needs_rehash(&p, a, n));
	p = fast;
	p.m_kib = 128;
	assert_true(rp_password_needs_rehash(&p, a, n));
	p = fast;
	p.p = 2;
	assert_true(rp_password_needs_rehash(&p, a, n));
	/* 8-byte salt: rehash even with the same cost. */
	p.m_kib = 256;
	p.t = 2;
	p.p = 1;
	assert_true(rp_password_needs_rehash(&p, PS(kat_m256_p1)));
	/* Against the defaults, and for garbage. */
	assert_true(rp_password_needs_rehash(NULL, PS(kat_m64mib)));
	assert_true(rp_password_needs_rehash(NULL, "", 0));
	assert_true(rp_password_needs_rehash(NULL, PS("$2b$12$abcdefghijklmnopqrstuv")));
}

/* ------------------------------------------------------------------------
 * Parameters, limits, allocation failure, in-flight bound
 * ------------------------------------------------------------------------ */

static void test_params(void **state)
{
	rp_password_params p;
	char out[RP_PASSWORD_PHC_CAP];
	uint8_t longpw[RP_LIMIT_PASSWORD_LEN + 1u];

	(void)state;
	rp_password_params_default(&p);
	assert_int_equal(p.m_kib, 65536);
	assert_int_equal(p.t, 3);
	assert_int_equal(p.p, 1);
	assert_int_equal(rp_password_params_check(&p), RP_OK);
	assert_int_equal(rp_password_params_check(NULL), RP_E_CONFIG);
	/* Floors: configuration may not weaken the hash. */
	p.m_kib = RP_MIN_ARGON2_M_KIB - 1u;
	assert_int_equal(rp_password_params_check(&p), RP_E_CONFIG);
	rp_password_params_default(&p);
	p.t = 1;
	assert_int_equal(rp_password_params_check(&p), RP_E_CONFIG);
	/* Caps. */
	rp_password_params_default(&p);
	p.m_kib = RP_LIMIT_ARGON2_M_KIB + 1u;
	assert_int_equal(rp_password_params_check(&p), RP_E_CONFIG);
	rp_password_params_default(&p);
	p.p = RP_LIMIT_ARGON2_P + 1u;
	assert_int_equal(rp_password_params_check(&p), RP_E_CONFIG);
	rp_password_params_default(&p);
	p.max_hashes = 0;
	assert_int_equal(rp_password_params_check(&p), RP_E_CONFIG);
	p.max_hashes = RP_LIMIT_PASSWORD_HASHES + 1u;
	assert_int_equal(rp_password_params_check(&p), RP_E_CONFIG);
	assert_int_equal(rp_password_hash(&p, S("x"), out, sizeof(out), NULL), RP_E_INVALID_ARG);
	/* rp_password_hash enforces the caps, not the floors. */
	p = fast;
	p.t = RP_LIMIT_ARGON2_T + 1u;
	assert_int_equal(rp_password_hash(&p, S("x"), out, sizeof(out), NULL), RP_E_LIMIT);
	p = fast;
	p.m_kib = 7;
	assert_int_equal(rp_password_hash(&p, S("x"), out, sizeof(out), NULL), RP_E_LIMIT);
	/* Password length. */
	memset(longpw, 'a', sizeof(longpw));
	assert_int_equal(rp_password_hash(&fast, longpw, sizeof(longpw), out, sizeof(out), NULL),
			 RP_E_LIMIT);
	assert_int_equal(
		rp_password_hash(&fast, longpw, sizeof(longpw) - 1u, out, sizeof(out), NULL),
		RP_OK);
	assert_int_equal(rp_password_verify(&fast, out, strlen(out), longpw, sizeof(longpw) - 1u),
			 RP_OK);
	assert_int_equal(rp_password_verify(&fast, out, strlen(out), longpw, sizeof(longpw)),
			 RP_E_AUTH);
	/* Arguments. */
	assert_int_equal(rp_password_hash(&fast, NULL, 1, out, sizeof(out), NULL),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp_password_hash(&fast, S("x"), NULL, 10, NULL), RP_E_INVALID_ARG);
	assert_int_equal(rp_password_hash(&fast, S("x"), out, 20, NULL), RP_E_BUF_TOO_SMALL);
	assert_int_equal(rp_password_verify(&fast, NULL, 0, S("x")), RP_E_INVALID_ARG);
	assert_int_equal(rp_password_verify(&fast, PS(kat_m256_p1), NULL, 3), RP_E_INVALID_ARG);
}

static void test_alloc_failure(void **state)
{
	char out[RP_PASSWORD_PHC_CAP];
	size_t before = rp_alloc_in_use();

	(void)state;
	rp_alloc_fail_after(0);
	assert_int_equal(
		rp_password_hash(&fast, S("correct horse battery"), out, sizeof(out), NULL),
		RP_E_NOMEM);
	assert_int_equal(rp_password_verify(&fast, PS(kat_m256_p1), S("password")), RP_E_NOMEM);
	assert_int_equal(rp_password_verify_dummy(&fast, S("password")), RP_E_NOMEM);
	rp_alloc_fail_after(-1);
	assert_int_equal(rp_password_in_flight(), 0);
	assert_int_equal(rp_alloc_in_use(), before);
	assert_int_equal(rp_password_verify(&fast, PS(kat_m256_p1), S("password")), RP_OK);
}

static void test_dummy(void **state)
{
	rp_password_params p = fast;

	(void)state;
	assert_int_equal(rp_password_verify_dummy(&fast, S("password")), RP_E_AUTH);
	assert_int_equal(rp_password_verify_dummy(&fast, NULL, 0), RP_E_AUTH);
	p.m_kib = 1;
	assert_int_equal(rp_password_verify_dummy(&p, S("password")), RP_E_AUTH);
	assert_int_equal(rp_password_verify_dummy(&fast, NULL, 5), RP_E_INVALID_ARG);
}

struct racer {
	int ok, busy, other;
};

static void *race(void *arg)
{
	/* 4 MiB, one at a time in the whole process. */
	static const rp_password_params one = {4096, 1, 1, 1};
	struct racer *r = arg;
	int i;

	for (i = 0; i < 20; i++) {
		rp_status st = rp_password_verify_dummy(&one, S("password"));

		if (st == RP_E_AUTH) {
			r->ok++;
		} else if (st == RP_E_NOMEM) {
			r->busy++;
		} else {
			r->other++;
		}
	}
	return NULL;
}

static void test_in_flight_bound(void **state)
{
	struct racer r[3];
	pthread_t th[3];
	int i;

	(void)state;
	memset(r, 0, sizeof(r));
	for (i = 0; i < 3; i++) {
		assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
	}
	for (i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
	}
	for (i = 0; i < 3; i++) {
		assert_int_equal(r[i].other, 0);
		assert_int_equal(r[i].ok + r[i].busy, 20);
	}
	print_message("in-flight bound 1: %d, %d, %d computed; %d, %d, %d refused busy\n", r[0].ok,
		      r[1].ok, r[2].ok, r[0].busy, r[1].busy, r[2].busy);
	assert_int_equal(rp_password_in_flight(), 0);
}

static void test_production_params(void **state)
{
	char out[RP_PASSWORD_PHC_CAP];
	size_t n;
	double t0, t1, t2;

	(void)state;
	t0 = now_s();
	assert_int_equal(
		rp_password_hash(NULL, S("correct horse battery staple"), out, sizeof(out), &n),
		RP_OK);
	t1 = now_s();
	assert_int_equal(strncmp(out, "$argon2id$v=19$m=65536,t=3,p=1$", 31), 0);
	assert_int_equal(rp_password_verify(NULL, out, n, S("correct horse battery staple")),
			 RP_OK);
	t2 = now_s();
	assert_false(rp_password_needs_rehash(NULL, out, n));
	print_message("Argon2id m=64 MiB t=3 p=1: hash %.0f ms, verify %.0f ms (this build)\n",
		      (t1 - t0) * 1e3, (t2 - t1) * 1e3);
}

/* ------------------------------------------------------------------------
 * Policy and generation
 * ------------------------------------------------------------------------ */

static void test_policy(void **state)
{
	static const struct {
		const char *pw;
		rp_status st;
	} cases[] = {
		{"correct horse", RP_OK},
		{"abcdefghijkl", RP_OK},     /* 12 characters */
		{"abcdefghijk", RP_E_LIMIT}, /* 11 */
		{"", RP_E_LIMIT},
		{"\xc3\xa9t\xc3\xa9 \xc3\xa0 Paris!",
		 RP_OK}, /* "ete a Paris!" with accents: 12 code points */
		{"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		 "\xc3\xa9",
		 RP_E_LIMIT}, /* 11 code points, 22 bytes */
		{"aaaaaaaaaaaa", RP_E_DENIED},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", RP_E_DENIED},
		{"\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82"
		 "\xac"
		 "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac",
		 RP_E_DENIED}, /* twelve euro signs */
		{"aaaaaaaaaaab", RP_OK},
		{"abababababab", RP_OK},
		{"correct\thorse", RP_E_UTF8},
		{"correct\nhorse", RP_E_UTF8},
		{"correct\x7fhorse", RP_E_UTF8},
		{"correct horse\xc3", RP_E_UTF8},             /* truncated sequence */
		{"correct horse\xc0\x80", RP_E_UTF8},         /* overlong NUL */
		{"correct horse\xed\xa0\x80", RP_E_UTF8},     /* surrogate */
		{"correct horse\xf4\x90\x80\x80", RP_E_UTF8}, /* above U+10FFFF */
		{"Alice-Operator", RP_E_DENIED},              /* the name, in another case */
		{"alice-operator!", RP_OK},
	};
	static const uint8_t name[] = "alice-operator";
	uint8_t buf[RP_LIMIT_PASSWORD_LEN + 1u];
	const char *why = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (rp_password_policy_check((const uint8_t *)cases[i].pw, strlen(cases[i].pw),
					     name, sizeof(name) - 1u, NULL) != cases[i].st) {
			print_message("case %zu\n", i);
		}
		assert_int_equal(rp_password_policy_check((const uint8_t *)cases[i].pw,
							  strlen(cases[i].pw), name,
							  sizeof(name) - 1u, &why),
				 cases[i].st);
		assert_non_null(why);
		assert_int_equal(why[0] == '\0', cases[i].st == RP_OK);
	}
	/* A NUL inside. */
	assert_int_equal(
		rp_password_policy_check((const uint8_t *)"correct\0horse", 13, NULL, 0, &why),
		RP_E_UTF8);
	/* 256 bytes pass, 257 do not. */
	for (i = 0; i < sizeof(buf); i++) {
		buf[i] = (uint8_t)('a' + i % 26u);
	}
	assert_int_equal(rp_password_policy_check(buf, RP_LIMIT_PASSWORD_LEN, NULL, 0, NULL),
			 RP_OK);
	assert_int_equal(rp_password_policy_check(buf, sizeof(buf), NULL, 0, &why), RP_E_LIMIT);
	assert_string_equal(why, "The password is longer than 256 bytes.");
	assert_int_equal(rp_password_policy_check(NULL, 3, NULL, 0, &why), RP_E_INVALID_ARG);
}

static void test_generate(void **state)
{
	static const char alphabet[] = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz";
	char a[RP_PASSWORD_GENERATED_CAP], b[RP_PASSWORD_GENERATED_CAP];
	size_t n = 0, i;
	int seen[256];

	(void)state;
	assert_int_equal(strlen(alphabet), 56);
	memset(seen, 0, sizeof(seen));
	assert_int_equal(rp_password_generate(a, sizeof(a), &n), RP_OK);
	assert_int_equal(n, RP_PASSWORD_GENERATED_LEN);
	assert_int_equal(strlen(a), RP_PASSWORD_GENERATED_LEN);
	assert_int_equal(rp_password_policy_check((const uint8_t *)a, n, NULL, 0, NULL), RP_OK);
	assert_int_equal(rp_password_generate(b, sizeof(b), NULL), RP_OK);
	assert_string_not_equal(a, b);
	/* Only unambiguous symbols, over many draws; and most symbols do appear. */
	for (i = 0; i < 200; i++) {
		size_t k;

		assert_int_equal(rp_password_generate(a, sizeof(a), NULL), RP_OK);
		for (k = 0; k < RP_PASSWORD_GENERATED_LEN; k++) {
			assert_non_null(strchr(alphabet, a[k]));
			seen[(uint8_t)a[k]] = 1;
		}
	}
	for (i = 0, n = 0; i < 256; i++) {
		n += (size_t)seen[i];
	}
	assert_int_equal(n, 56);
	assert_int_equal(rp_password_generate(a, RP_PASSWORD_GENERATED_LEN, NULL),
			 RP_E_BUF_TOO_SMALL);
	assert_int_equal(rp_password_generate(NULL, 100, NULL), RP_E_INVALID_ARG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answers),
		cmocka_unit_test(test_hash_roundtrip_and_libargon2),
		cmocka_unit_test(test_format_matches_libargon2),
		cmocka_unit_test(test_phc_rejects),
		cmocka_unit_test(test_needs_rehash),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_alloc_failure),
		cmocka_unit_test(test_dummy),
		cmocka_unit_test(test_in_flight_bound),
		cmocka_unit_test(test_production_params),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_generate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
