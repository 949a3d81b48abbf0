/* Unit tests of server/util/alloc: budgets, overflow, failure injection. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <malloc.h>
#include <string.h>

#include "util/alloc.h"

static void test_budget_caps_and_returns(void **state)
{
	rp_budget b = {100, 0};
	void *p, *q;

	(void)state;
	p = rp_alloc(&b, 60);
	assert_non_null(p);
	assert_int_equal(b.used, 60);
	/* 60 + 41 > 100: refused, budget unchanged. */
	assert_null(rp_alloc(&b, 41));
	assert_int_equal(b.used, 60);
	q = rp_alloc(&b, 40);
	assert_non_null(q);
	assert_int_equal(b.used, 100);
	/* Growing past the cap fails and leaves the block as it was. */
	assert_null(rp_realloc(&b, q, 41));
	assert_int_equal(b.used, 100);
	/* Shrinking gives bytes back. */
	q = rp_realloc(&b, q, 10);
	assert_non_null(q);
	assert_int_equal(b.used, 70);
	rp_free(&b, p);
	rp_free(&b, q);
	assert_int_equal(b.used, 0);
}

static void test_overflow_and_zero(void **state)
{
	(void)state;
	assert_null(rp_alloc(NULL, 0));
	assert_null(rp_alloc(NULL, SIZE_MAX));
	assert_null(rp_alloc(NULL, SIZE_MAX - 8));
	assert_null(rp_calloc(NULL, SIZE_MAX / 2, 3));
	assert_null(rp_realloc(NULL, NULL, 0));
	rp_free(NULL, NULL);
	rp_free_secret(NULL, NULL);
}

static void test_injection_and_in_use(void **state)
{
	size_t base = rp_alloc_in_use();
	void *a, *b, *c;

	(void)state;
	rp_alloc_fail_after(2);
	a = rp_alloc(NULL, 16);
	b = rp_calloc(NULL, 4, 4);
	c = rp_alloc(NULL, 16);
	assert_non_null(a);
	assert_non_null(b);
	assert_null(c);
	/* It stays failing until turned off. */
	assert_null(rp_alloc(NULL, 1));
	assert_null(rp_realloc(NULL, a, 32));
	rp_alloc_fail_after(-1);
	/* Without a budget, a block counts what malloc gave it. */
	assert_int_equal(rp_alloc_in_use(), base + malloc_usable_size(a) + malloc_usable_size(b));
	assert_true(malloc_usable_size(a) >= 16);
	assert_memory_equal(b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	a = rp_realloc(NULL, a, 64);
	assert_non_null(a);
	assert_true(malloc_usable_size(a) >= 64);
	assert_int_equal(rp_alloc_in_use(), base + malloc_usable_size(a) + malloc_usable_size(b));
	rp_free(NULL, a);
	rp_free_secret(NULL, b);
	assert_int_equal(rp_alloc_in_use(), base);
}

static void test_wipe(void **state)
{
	uint8_t key[32];

	(void)state;
	memset(key, 0xA5, sizeof(key));
	rp_wipe(key, sizeof(key));
	for (size_t i = 0; i < sizeof(key); i++) {
		assert_int_equal(key[i], 0);
	}
	rp_wipe(NULL, 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budget_caps_and_returns),
		cmocka_unit_test(test_overflow_and_zero),
		cmocka_unit_test(test_injection_and_in_use),
		cmocka_unit_test(test_wipe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
