/* Unit tests of server/util/bucket: burst, refill, large requests. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "util/bucket.h"

static void test_burst_then_refill(void **state)
{
	rp_bucket b;
	int i;

	(void)state;
	rp_bucket_init(&b, 10, 5, 1000);
	for (i = 0; i < 5; i++) {
		assert_true(rp_bucket_take(&b, 1, 1000));
	}
	assert_false(rp_bucket_take(&b, 1, 1000));
	/* 10 per second: one token every 100 ms. */
	assert_int_equal(rp_bucket_wait_ms(&b, 1, 1000), 100);
	assert_false(rp_bucket_take(&b, 1, 1099));
	assert_true(rp_bucket_take(&b, 1, 1100));
	/* A long pause refills to the burst, not beyond. */
	for (i = 0; i < 5; i++) {
		assert_true(rp_bucket_take(&b, 1, 60000));
	}
	assert_false(rp_bucket_take(&b, 1, 60000));
}

static void test_large_request_counts_as_burst(void **state)
{
	rp_bucket b;

	(void)state;
	rp_bucket_init(&b, 1000, 4096, 0);
	/* A request above the burst can still pass once the bucket is full. */
	assert_true(rp_bucket_take(&b, 100000, 0));
	assert_false(rp_bucket_take(&b, 100000, 0));
	assert_int_equal(rp_bucket_wait_ms(&b, 100000, 0), 4096);
	assert_true(rp_bucket_take(&b, 100000, 4096));
}

static void test_unlimited_and_clock_backwards(void **state)
{
	rp_bucket b;

	(void)state;
	rp_bucket_init(&b, 0, 0, 0);
	assert_true(rp_bucket_take(&b, 1000000, 0));
	assert_int_equal(rp_bucket_wait_ms(&b, 5, 0), 0);
	rp_bucket_init(&b, 1, 1, 5000);
	assert_true(rp_bucket_take(&b, 1, 5000));
	/* An earlier time refills nothing. */
	assert_false(rp_bucket_take(&b, 1, 4000));
	assert_true(rp_bucket_take(&b, 1, 6000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_refill),
		cmocka_unit_test(test_large_request_counts_as_burst),
		cmocka_unit_test(test_unlimited_and_clock_backwards),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
