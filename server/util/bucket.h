/*
 * server/util/bucket.h - token buckets for rate limits.
 *
 * A bucket holds up to `burst` tokens and gains `rate` tokens per second.
 * Tokens are kept in thousandths so that slow rates refill smoothly at
 * millisecond resolution. No allocation, no clock: the caller passes now.
 */
#ifndef RP_SERVER_BUCKET_H
#define RP_SERVER_BUCKET_H

#include <stdint.h>

typedef struct rp_bucket {
	uint64_t milli;   /* tokens * 1000 */
	uint64_t last_ms; /* time of the last refill */
	uint32_t rate;    /* tokens per second; 0: unlimited */
	uint32_t burst;   /* capacity in tokens */
} rp_bucket;

/* A full bucket. rate 0 makes every take succeed. */
void rp_bucket_init(rp_bucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms);

/*
 * Takes n tokens if there are that many (n above burst counts as burst, so
 * a large request is never refused forever). Returns 1 if taken, else 0.
 */
int rp_bucket_take(rp_bucket *b, uint32_t n, uint64_t now_ms);

/* Milliseconds until n tokens will be there (0 if they are now). */
uint64_t rp_bucket_wait_ms(rp_bucket *b, uint32_t n, uint64_t now_ms);

#endif /* RP_SERVER_BUCKET_H */
