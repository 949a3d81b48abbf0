/*
 * test_senml_write.c - the device's SenML writer (lib/senml, rampart/senml.h).
 *
 * Every pack the writer makes is read back by rampartd's own parser
 * (server/telemetry), so "rampartd accepts what the device SDK writes" is
 * what is tested, not a string compare alone: names, units, decimals
 * (exactly), booleans, escaped strings, base and relative times, a record
 * without a time after one with; then the boundaries: a record that does
 * not fit leaves the pack as it was, and finishing always fits; refused
 * names, units, times, exponents and strings write nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "rampart/senml.h"
#include "telemetry/senml.h"

static const int64_t T0 = 1790000000123LL; /* 2026-09-21, ms */
static const int64_t NOW = 1790000100000LL;

static void parse_ok(const uint8_t *buf, size_t len, rp_senml_pack *p)
{
	char why[200] = "";
	rp_status st = rp_senml_parse(buf, len, RP_SENML_JSON, NOW, NULL, p, why, sizeof(why));

	if (st != RP_OK) {
		fail_msg("rampartd refuses %.*s: %s", (int)len, (const char *)buf, why);
	}
}

static void test_round_trip(void **state)
{
	uint8_t buf[1024];
	rp_senml_writer w;
	rp_senml_pack p;
	size_t len;
	const uint8_t s[] = "say \"hi\"\\\n\x01 caf\xc3\xa9";

	(void)state;
	memset(&p, 0, sizeof(p));
	rp_senml_init(&w, buf, sizeof(buf));
	assert_int_equal(rp_senml_number(&w, "temp", "Cel", 215, -1, T0), RP_OK);
	assert_int_equal(rp_senml_number(&w, "energy", "Wh", -7, 3, T0 + 1500), RP_OK);
	assert_int_equal(rp_senml_number(&w, "tiny", NULL, 5, -6, T0 - 250), RP_OK);
	assert_int_equal(rp_senml_bool(&w, "door/open", NULL, 1, 0), RP_OK);
	assert_int_equal(rp_senml_string(&w, "fw.state", NULL, s, sizeof(s) - 1u, T0), RP_OK);
	assert_int_equal(rp_senml_number(&w, "zero", "%", 0, 5, T0), RP_OK);
	assert_int_equal(rp_senml_count(&w), 6);
	assert_int_equal(rp_senml_finish(&w, &len), RP_OK);
	assert_string_equal((const char *)memcpy((char[1024]){0}, buf, len),
			    "[{\"bt\":1790000000.123,\"n\":\"temp\",\"u\":\"Cel\",\"v\":21.5},"
			    "{\"t\":1.500,\"n\":\"energy\",\"u\":\"Wh\",\"v\":-7000},"
			    "{\"t\":-0.250,\"n\":\"tiny\",\"v\":0.000005},"
			    "{\"t\":-1790000000.123,\"n\":\"door/open\",\"vb\":true},"
			    "{\"t\":0.000,\"n\":\"fw.state\",\"vs\":\"say "
			    "\\\"hi\\\"\\\\\\u000a\\u0001 caf\xc3\xa9\"},"
			    "{\"t\":0.000,\"n\":\"zero\",\"u\":\"%\",\"v\":0}]");
	parse_ok(buf, len, &p);
	assert_int_equal(p.count, 6);
	assert_string_equal(p.records[0].name, "temp");
	assert_string_equal(p.records[0].unit, "Cel");
	assert_true(p.records[0].number == 21.5);
	assert_int_equal(p.records[0].time_ms, T0);
	assert_true(p.records[1].number == -7000.0);
	assert_int_equal(p.records[1].time_ms, T0 + 1500);
	assert_true(fabs(p.records[2].number - 0.000005) < 1e-18);
	assert_int_equal(p.records[2].time_ms, T0 - 250);
	/* No time: bt + t = 0, "when received". */
	assert_int_equal(p.records[3].kind, RP_SENML_BOOL);
	assert_true(p.records[3].boolean);
	assert_int_equal(p.records[3].time_ms, NOW);
	assert_int_equal(p.records[4].kind, RP_SENML_STRING);
	assert_int_equal(p.records[4].str_len, sizeof(s) - 1u);
	assert_memory_equal(p.records[4].str, s, sizeof(s) - 1u);
	assert_true(p.records[5].number == 0.0);
	rp_senml_pack_free(&p);
}

static void test_no_time_first(void **state)
{
	uint8_t buf[256];
	rp_senml_writer w;
	rp_senml_pack p;
	size_t len;

	(void)state;
	memset(&p, 0, sizeof(p));
	rp_senml_init(&w, buf, sizeof(buf));
	assert_int_equal(rp_senml_number(&w, "a", NULL, INT64_MIN, 0, 0), RP_OK);
	assert_int_equal(rp_senml_number(&w, "b", NULL, INT64_MAX, -30, T0), RP_OK);
	assert_int_equal(rp_senml_finish(&w, &len), RP_OK);
	parse_ok(buf, len, &p);
	assert_int_equal(p.records[0].time_ms, NOW);
	assert_true(p.records[0].number == (double)INT64_MIN);
	assert_int_equal(p.records[1].time_ms, T0);
	rp_senml_pack_free(&p);
}

static void test_full_pack_keeps_what_fit(void **state)
{
	uint8_t buf[80];
	rp_senml_writer w;
	rp_senml_pack p;
	size_t len, before;
	int n = 0;

	(void)state;
	memset(&p, 0, sizeof(p));
	rp_senml_init(&w, buf, sizeof(buf));
	assert_int_equal(rp_senml_finish(&w, &len), RP_E_EMPTY);
	for (;;) {
		before = w.len;
		rp_status st = rp_senml_number(&w, "temp", "Cel", 215 + n, -1, T0 + n);
		if (st == RP_E_BUF_TOO_SMALL) {
			assert_int_equal(w.len, before);
			break;
		}
		assert_int_equal(st, RP_OK);
		n++;
	}
	assert_true(n >= 1);
	assert_int_equal(rp_senml_count(&w), (size_t)n);
	assert_int_equal(rp_senml_finish(&w, &len), RP_OK);
	assert_true(len <= sizeof(buf));
	parse_ok(buf, len, &p);
	assert_int_equal(p.count, (size_t)n);
	rp_senml_pack_free(&p);

	/* Every capacity from 0 up: either the record fits whole or nothing is written. */
	for (size_t cap = 0; cap < 60; cap++) {
		uint8_t small[60];
		rp_senml_init(&w, small, cap);
		rp_status st = rp_senml_bool(&w, "door", NULL, 0, T0);
		if (st == RP_OK) {
			assert_int_equal(rp_senml_finish(&w, &len), RP_OK);
			assert_true(len <= cap);
			parse_ok(small, len, &p);
			rp_senml_pack_free(&p);
		} else {
			assert_int_equal(st, RP_E_BUF_TOO_SMALL);
			assert_int_equal(rp_senml_count(&w), 0);
		}
	}
}

static void test_refusals(void **state)
{
	uint8_t buf[512];
	rp_senml_writer w;
	char longname[RP_LIMIT_SENML_NAME_LEN + 2];

	(void)state;
	rp_senml_init(&w, buf, sizeof(buf));
	memset(longname, 'a', sizeof(longname) - 1u);
	longname[sizeof(longname) - 1u] = '\0';
	assert_int_equal(rp_senml_number(&w, "", NULL, 1, 0, T0), RP_E_INVALID_ARG);
	assert_int_equal(rp_senml_number(&w, NULL, NULL, 1, 0, T0), RP_E_INVALID_ARG);
	assert_int_equal(rp_senml_number(&w, "-x", NULL, 1, 0, T0), RP_E_INVALID_ARG);
	assert_int_equal(rp_senml_number(&w, "a b", NULL, 1, 0, T0), RP_E_INVALID_ARG);
	assert_int_equal(rp_senml_number(&w, "a\"", NULL, 1, 0, T0), RP_E_INVALID_ARG);
	assert_int_equal(rp_senml_number(&w, longname, NULL, 1, 0, T0), RP_E_INVALID_ARG);
	longname[RP_LIMIT_SENML_NAME_LEN] = '\0';
	assert_int_equal(rp_senml_number(&w, longname, NULL, 1, 0, T0), RP_OK);
	assert_int_equal(rp_senml_number(&w, "x", "", 1, 0, T0), RP_E_INVALID_ARG);
	assert_int_equal(rp_senml_number(&w, "x", "m s", 1, 0, T0), RP_E_INVALID_ARG);
	assert_int_equal(rp_senml_number(&w, "x", NULL, 1, 31, T0), RP_E_INVALID_ARG);
	assert_int_equal(rp_senml_number(&w, "x", NULL, 1, -31, T0), RP_E_INVALID_ARG);
	/* A clock that was never set (1970) is not a time: give 0. */
	assert_int_equal(rp_senml_number(&w, "x", NULL, 1, 0, 5000), RP_E_INVALID_ARG);
	assert_int_equal(rp_senml_number(&w, "x", NULL, 1, 0, -1), RP_E_INVALID_ARG);
	assert_int_equal(rp_senml_bool(&w, "x", NULL, 2, T0), RP_E_INVALID_ARG);
	assert_int_equal(rp_senml_string(&w, "x", NULL, (const uint8_t *)"\xc3", 1, T0),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp_senml_string(&w, "x", NULL, (const uint8_t *)"a\0b", 3, T0),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp_senml_string(&w, "x", NULL, NULL, 1, T0), RP_E_INVALID_ARG);
	/* Only the valid record was written. */
	assert_int_equal(rp_senml_count(&w), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_no_time_first),
		cmocka_unit_test(test_full_pack_keeps_what_fit),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
