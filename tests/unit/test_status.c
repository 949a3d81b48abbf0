/*
 * test_status.c - rp_status and rp_status_str().
 *
 * Every status has its own fixed text: non-NULL, non-empty, distinct from
 * every other, and never the text given to values outside the enum.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "rampart/status.h"

static void test_ok_is_zero(void **state)
{
	(void)state;
	assert_int_equal(RP_OK, 0);
	assert_int_equal(RP_NEED_MORE, 1);
	/* Need-more is not an error, but it is not RP_OK either. */
	assert_int_not_equal(RP_NEED_MORE, RP_OK);
}

static void test_every_status_has_text(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < (int)RP_STATUS_COUNT_; i++) {
		const char *s = rp_status_str((rp_status)i);

		assert_non_null(s);
		assert_true(strlen(s) > 0);
		if (strcmp(s, "unknown status") == 0) {
			print_error("status %d has no text of its own\n", i);
			fail();
		}
	}
}

static void test_texts_are_distinct(void **state)
{
	int i, j;

	(void)state;
	for (i = 0; i < (int)RP_STATUS_COUNT_; i++) {
		for (j = i + 1; j < (int)RP_STATUS_COUNT_; j++) {
			const char *a = rp_status_str((rp_status)i);
			const char *b = rp_status_str((rp_status)j);

			if (strcmp(a, b) == 0) {
				print_error("status %d and %d share the text \"%s\"\n", i, j, a);
				fail();
			}
		}
	}
}

static void test_out_of_range(void **state)
{
	(void)state;
	assert_string_equal(rp_status_str(RP_STATUS_COUNT_), "unknown status");
	assert_string_equal(rp_status_str((rp_status)(RP_STATUS_COUNT_ + 1)), "unknown status");
	assert_string_equal(rp_status_str((rp_status)1000), "unknown status");
	assert_string_equal(rp_status_str((rp_status)-1), "unknown status");
}

static void test_stable_values(void **state)
{
	(void)state;
	/* Values are part of the ABI within a major version. */
	assert_int_equal(RP_E_INVALID_ARG, 2);
	assert_int_equal(RP_E_BUF_TOO_SMALL, 3);
	assert_int_equal(RP_E_MALFORMED, 4);
	assert_int_equal(RP_E_PROTOCOL + 1, RP_E_NOMEM);
	assert_int_equal(RP_E_EXISTS + 1, RP_STATUS_COUNT_);
}

static void test_text_is_constant(void **state)
{
	(void)state;
	/* The same pointer each time: fixed text, nothing built from input. */
	assert_ptr_equal(rp_status_str(RP_E_UTF8), rp_status_str(RP_E_UTF8));
	assert_string_equal(rp_status_str(RP_OK), rp_status_str(RP_OK));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok_is_zero),
		cmocka_unit_test(test_every_status_has_text),
		cmocka_unit_test(test_texts_are_distinct),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_stable_values),
		cmocka_unit_test(test_text_is_constant),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
