/* bucket.c - token buckets in thousandths of a token. */
#include "bucket.h"

void rp_bucket_init(rp_bucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms)
{
	b->rate = rate;
	b->burst = burst;
	b->milli = (uint64_t)burst * 1000u;
	b->last_ms = now_ms;
}

static void refill(rp_bucket *b, uint64_t now_ms)
{
	uint64_t cap = (uint64_t)b->burst * 1000u;

	if (now_ms > b->last_ms) {
		/* rate tokens per second = rate thousandths per millisecond. */
		uint64_t add = (now_ms - b->last_ms) * b->rate;

		b->milli = add >= cap - b->milli ? cap : b->milli + add;
		b->last_ms = now_ms;
	}
}

static uint64_t need_milli(const rp_bucket *b, uint32_t n)
{
	return (uint64_t)(n < b->burst ? n : b->burst) * 1000u;
}

int rp_bucket_take(rp_bucket *b, uint32_t n, uint64_t now_ms)
{
	uint64_t need;

	if (b->rate == 0) {
		return 1;
	}
	refill(b, now_ms);
	need = need_milli(b, n);
	if (b->milli < need) {
		return 0;
	}
	b->milli -= need;
	return 1;
}

uint64_t rp_bucket_wait_ms(rp_bucket *b, uint32_t n, uint64_t now_ms)
{
	uint64_t need;

	if (b->rate == 0) {
		return 0;
	}
	refill(b, now_ms);
	need = need_milli(b, n);
	if (b->milli >= need) {
		return 0;
	}
	return (need - b->milli + b->rate - 1u) / b->rate;
}
