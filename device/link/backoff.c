/*
 * backoff.c - the reconnect delay of the link (rampart/link.h): exponential
 * backoff with full jitter, as pure functions.
 *
 * Full jitter (delay uniform in [0, ceiling]) rather than "ceiling plus a
 * little noise": when a whole fleet loses the server at the same moment,
 * the retries of each round spread over the whole interval, so the server
 * sees a rate of about fleet / ceiling instead of the fleet at once, and
 * the rounds do not stay synchronised. The randomness is the caller's
 * (the link draws it from RAND_bytes), so these functions are testable.
 */
#include "rampart/link.h"

uint32_t rp_link_backoff_ceiling(const rp_link_backoff *b, uint32_t attempt)
{
	if (b == NULL) {
		return 0;
	}
	if (b->base_ms > b->cap_ms) {
		return b->cap_ms; /* an invalid policy never exceeds its cap */
	}
	/* base << attempt <= cap  <=>  base <= cap >> attempt: no overflow. */
	if (attempt >= 32u || b->base_ms > (b->cap_ms >> attempt)) {
		return b->cap_ms;
	}
	return b->base_ms << attempt;
}

uint32_t rp_link_backoff_delay(const rp_link_backoff *b, uint32_t attempt, uint32_t rnd)
{
	uint64_t span;

	if (b == NULL) {
		return 0;
	}
	/* ceiling + 1 <= 2^32, so the product fits in 64 bits and the result
	 * is at most ceiling (rnd < 2^32). */
	span = (uint64_t)rp_link_backoff_ceiling(b, attempt) + 1u;
	return (uint32_t)(((uint64_t)rnd * span) >> 32);
}
