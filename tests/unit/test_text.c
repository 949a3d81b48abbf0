/*
 * test_text.c - lib/util/text.c: configuration lines, values, escaping.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "rampart/text.h"

static void test_line_split(void **state)
{
	rp_text_line l;
	const char *why = NULL;

	(void)state;
	assert_int_equal(rp_text_line_split("  key \t a value  ", 17, &l, &why), 1);
	assert_int_equal(l.word_len, 3);
	assert_memory_equal(l.word, "key", 3);
	assert_int_equal(l.rest_len, 7);
	assert_memory_equal(l.rest, "a value", 7);
	assert_int_equal(rp_text_line_split("key", 3, &l, &why), 1);
	assert_int_equal(l.rest_len, 0);
	assert_int_equal(rp_text_line_split("   ", 3, &l, &why), 0);
	assert_int_equal(rp_text_line_split("  # key value", 13, &l, &why), 0);
	assert_int_equal(rp_text_line_split("", 0, &l, &why), 0);
	/* '#' after the key is part of the value: no end-of-line comments. */
	assert_int_equal(rp_text_line_split("k v # c", 7, &l, &why), 1);
	assert_int_equal(l.rest_len, 5);
	assert_int_equal(rp_text_line_split("k\0v", 3, &l, &why), -1);
	assert_string_equal(why, "line holds a NUL byte");
	assert_int_equal(rp_text_line_split("k \xff", 3, &l, &why), -1);
	assert_string_equal(why, "line is not valid UTF-8");
}

typedef struct seen {
	unsigned n;
	unsigned numbers[8];
	char text[8][16];
} seen;

static void collect(void *ctx, unsigned number, const char *s, size_t n)
{
	seen *x = ctx;

	assert_true(x->n < 8 && n < 16);
	x->numbers[x->n] = number;
	memcpy(x->text[x->n], s, n);
	x->text[x->n][n] = '\0';
	x->n++;
}

static void test_lines(void **state)
{
	static const char in[] = "\xEF\xBB\xBF"
				 "a 1\r\n\n"
				 "b 2\n"
				 "c\r 3\r\n"
				 "last";
	seen x;

	(void)state;
	memset(&x, 0, sizeof(x));
	rp_text_lines(in, sizeof(in) - 1u, collect, &x);
	assert_int_equal(x.n, 5);
	assert_string_equal(x.text[0], "a 1"); /* BOM and CR gone */
	assert_string_equal(x.text[1], "");    /* an empty line still counts */
	assert_string_equal(x.text[2], "b 2");
	assert_string_equal(x.text[3], "c\r 3"); /* only a CR before LF ends a line */
	assert_string_equal(x.text[4], "last");  /* no LF at the end */
	assert_int_equal(x.numbers[4], 5);
	memset(&x, 0, sizeof(x));
	rp_text_lines("", 0, collect, &x);
	assert_int_equal(x.n, 0);
	rp_text_lines("\n", 1, collect, &x);
	assert_int_equal(x.n, 1);
}

static void test_values(void **state)
{
	uint64_t v;
	const char *end;

	(void)state;
	assert_true(rp_text_count("0", &v) && v == 0);
	assert_true(rp_text_count("18446744073709551615", &v) && v == UINT64_MAX);
	assert_true(rp_text_count("99999999999999999999999", &v) && v == UINT64_MAX);
	assert_false(rp_text_count("", &v));
	assert_false(rp_text_count("-1", &v));
	assert_false(rp_text_count("1k", &v));
	assert_true(rp_text_size("16", &v) && v == 16);
	assert_true(rp_text_size("16k", &v) && v == 16384);
	assert_true(rp_text_size("2M", &v) && v == 2u * 1024u * 1024u);
	assert_true(rp_text_size("1g", &v) && v == 1024u * 1024u * 1024u);
	assert_true(rp_text_size("99999999999g", &v) && v == UINT64_MAX);
	assert_false(rp_text_size("1kb", &v));
	assert_false(rp_text_size("k", &v));
	assert_true(rp_text_size_at("10k/s", &v, &end) && v == 10240 && strcmp(end, "/s") == 0);
	assert_true(rp_text_duration_ms("250ms", &v) && v == 250);
	assert_true(rp_text_duration_ms("30s", &v) && v == 30000);
	assert_true(rp_text_duration_ms("5m", &v) && v == 300000);
	assert_true(rp_text_duration_ms("2h", &v) && v == 7200000);
	assert_true(rp_text_duration_ms("1d", &v) && v == 86400000);
	assert_false(rp_text_duration_ms("30", &v));
	assert_false(rp_text_duration_ms("30S", &v));
	assert_false(rp_text_duration_ms("s", &v));
	assert_false(rp_text_duration_ms("1 s", &v));
}

static void test_escape(void **state)
{
	char out[64];

	(void)state;
	assert_string_equal(
		rp_text_escape(out, sizeof(out), (const uint8_t *)"a\\b\n\x01\xff", 6, 64),
		"a\\\\b\\x0a\\x01\\xff");
	/* Cut by max_in. */
	assert_string_equal(rp_text_escape(out, sizeof(out), (const uint8_t *)"abcdef", 6, 3),
			    "abc...");
	/* Cut by cap: never past it. */
	memset(out, 'X', sizeof(out));
	assert_string_equal(rp_text_escape(out, 8, (const uint8_t *)"abcdefgh", 8, 100), "abcd...");
	assert_int_equal(out[8], 'X');
	assert_string_equal(rp_text_escape(out, 6, (const uint8_t *)"\x01\x02", 2, 100), "...");
	assert_string_equal(rp_text_escape(out, 2, (const uint8_t *)"ab", 2, 100), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_split),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
