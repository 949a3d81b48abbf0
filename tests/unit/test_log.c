/* Unit tests of server/util/log: escaping of peer-supplied text. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "util/log.h"

static void test_escape_forged_line(void **state)
{
	char out[64];
	/* A client id that tries to start a forged log line. */
	const char id[] = "dev\n2026-01-01 info fake\\\x7f";

	(void)state;
	rp_log_escape(out, sizeof(out), (const uint8_t *)id, sizeof(id) - 1u);
	assert_string_equal(out, "dev\\x0a2026-01-01 info fake\\\\\\x7f");
}

static void test_escape_cut_to_cap(void **state)
{
	char out[8];

	(void)state;
	rp_log_escape(out, sizeof(out), (const uint8_t *)"abcdefgh", 8);
	assert_string_equal(out, "abcd..."); /* 4 + "..." + NUL = 8 */
	rp_log_escape(out, 3, (const uint8_t *)"abc", 3);
	assert_string_equal(out, "");
}

static void test_quote_limits_input(void **state)
{
	char out[2 * 4 + 4];

	(void)state;
	assert_string_equal(rp_quote(out, "\x01z", 2, 2), "\\x01z");
	assert_string_equal(rp_quote(out, "xyz", 3, 2), "xy...");
	assert_string_equal(rp_quote(out, "", 0, 2), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_forged_line),
		cmocka_unit_test(test_escape_cut_to_cap),
		cmocka_unit_test(test_quote_limits_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
