/*
 * server/util/alloc.h - the one allocation wrapper of the server side.
 *
 * Conventions
 * - Every allocation of rampartd and the tools goes through rp_alloc(),
 *   rp_calloc(), rp_realloc() and rp_free(); nothing calls malloc directly.
 * - Budgets: an allocation may be charged to an rp_budget (for example one
 *   connection before it has authenticated). A charge that would pass the
 *   budget's cap fails with NULL, so one peer cannot take the process's
 *   memory. Pass NULL for an uncharged allocation.
 * - Fault injection (tests): rp_alloc_fail_after(n) makes the n-th next
 *   allocation, and every one after it, fail, until rp_alloc_fail_after(-1).
 *   Tests walk n upwards to prove every failure path is handled.
 * - Sizes are checked for overflow (count * size, size + header).
 * - Thread safety: the functions are safe from any thread. An rp_budget is
 *   owned by one thread (one event loop) at a time.
 */
#ifndef RP_SERVER_ALLOC_H
#define RP_SERVER_ALLOC_H

#include <stddef.h>
#include <stdint.h>

typedef struct rp_budget {
	size_t cap;  /* most bytes charged at once */
	size_t used; /* bytes charged now */
} rp_budget;

/* Returns NULL on failure (size 0 included), never aborts. */
void *rp_alloc(rp_budget *b, size_t size);
void *rp_calloc(rp_budget *b, size_t count, size_t size);
/* Like realloc: on failure returns NULL and leaves p untouched. */
void *rp_realloc(rp_budget *b, void *p, size_t size);
/* NULL is allowed. b MUST be the budget p was charged to (or NULL): a
 * block taken without a budget has no header, so the wrong b frees the
 * wrong address. */
void rp_free(rp_budget *b, void *p);
/* Like rp_free, but first overwrites the block (keys, passwords). */
void rp_free_secret(rp_budget *b, void *p);

/* Tests only: fail from the n-th next allocation on; n < 0 turns it off. */
void rp_alloc_fail_after(long n);

/* Bytes currently allocated through the wrapper, for leak checks and
 * metrics: what malloc gave for a block without a budget (at least what
 * was asked), exactly what was charged for one with. */
size_t rp_alloc_in_use(void);

/* Overwrites n bytes at p in a way the compiler may not remove. */
void rp_wipe(void *p, size_t n);

#endif /* RP_SERVER_ALLOC_H */
