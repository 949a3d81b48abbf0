/*
 * alloc.c - budgets, failure injection and secret wiping over malloc.
 *
 * A block charged to a budget carries a small header with its size, so
 * rp_free() gives the budget back exactly what was charged; the header is
 * max_align_t-sized (32 bytes on x86-64) so that the user part stays
 * aligned for any type. A block without a budget, nearly all of them, has
 * no header: malloc already knows its size (malloc_usable_size()), which
 * is what rp_free_secret() wipes and what rp_alloc_in_use() counts. That
 * is 32 bytes less per block: each idle connection holds several
 * (docs/performance.md). Hence the rule of alloc.h: a block is freed with
 * the budget it was taken with.
 */
#include "alloc.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef union hdr {
	size_t size;
	max_align_t align_;
} hdr;

static atomic_long fail_countdown = -1;
static atomic_size_t in_use;

void rp_alloc_fail_after(long n)
{
	atomic_store(&fail_countdown, n < 0 ? -1 : n);
}

size_t rp_alloc_in_use(void)
{
	return atomic_load(&in_use);
}

/* 1 if this allocation must fail for the test that asked. */
static int injected_failure(void)
{
	long n = atomic_load(&fail_countdown);

	while (n >= 0) {
		if (n == 0) {
			return 1;
		}
		if (atomic_compare_exchange_weak(&fail_countdown, &n, n - 1)) {
			return 0;
		}
	}
	return 0;
}

static int charge(rp_budget *b, size_t size)
{
	if (b == NULL) {
		return 1;
	}
	if (size > b->cap || b->used > b->cap - size) {
		return 0;
	}
	b->used += size;
	return 1;
}

static void uncharge(rp_budget *b, size_t size)
{
	if (b != NULL) {
		b->used = size > b->used ? 0 : b->used - size;
	}
}

void *rp_alloc(rp_budget *b, size_t size)
{
	hdr *h;
	void *p;

	if (size == 0 || size > SIZE_MAX - sizeof(hdr) || injected_failure()) {
		return NULL;
	}
	if (b == NULL) {
		p = malloc(size);
		if (p != NULL) {
			atomic_fetch_add(&in_use, malloc_usable_size(p));
		}
		return p;
	}
	if (!charge(b, size)) {
		return NULL;
	}
	h = malloc(sizeof(hdr) + size);
	if (h == NULL) {
		uncharge(b, size);
		return NULL;
	}
	h->size = size;
	atomic_fetch_add(&in_use, size);
	return h + 1;
}

void *rp_calloc(rp_budget *b, size_t count, size_t size)
{
	void *p;

	if (size != 0 && count > SIZE_MAX / size) {
		return NULL;
	}
	p = rp_alloc(b, count * size);
	if (p != NULL) {
		memset(p, 0, count * size);
	}
	return p;
}

/* rp_realloc() of a block without a budget. */
static void *realloc_plain(void *p, size_t size)
{
	size_t old = malloc_usable_size(p);
	void *n = realloc(p, size);

	if (n != NULL) {
		atomic_fetch_sub(&in_use, old);
		atomic_fetch_add(&in_use, malloc_usable_size(n));
	}
	return n;
}

void *rp_realloc(rp_budget *b, void *p, size_t size)
{
	hdr *h, *n;
	size_t old;

	if (p == NULL) {
		return rp_alloc(b, size);
	}
	if (size == 0 || size > SIZE_MAX - sizeof(hdr) || injected_failure()) {
		return NULL;
	}
	if (b == NULL) {
		return realloc_plain(p, size);
	}
	h = (hdr *)p - 1;
	old = h->size;
	if (size > old && !charge(b, size - old)) {
		return NULL;
	}
	n = realloc(h, sizeof(hdr) + size);
	if (n == NULL) {
		if (size > old) {
			uncharge(b, size - old);
		}
		return NULL;
	}
	if (size < old) {
		uncharge(b, old - size);
		atomic_fetch_sub(&in_use, old - size);
	} else {
		atomic_fetch_add(&in_use, size - old);
	}
	n->size = size;
	return n + 1;
}

void rp_free(rp_budget *b, void *p)
{
	hdr *h;

	if (p == NULL) {
		return;
	}
	if (b == NULL) {
		atomic_fetch_sub(&in_use, malloc_usable_size(p));
		free(p);
		return;
	}
	h = (hdr *)p - 1;
	uncharge(b, h->size);
	atomic_fetch_sub(&in_use, h->size);
	free(h);
}

void rp_wipe(void *p, size_t n)
{
	/* A volatile function pointer: the call cannot be proven dead. */
	static void *(*const volatile set)(void *, int, size_t) = memset;

	if (p != NULL && n != 0) {
		set(p, 0, n);
	}
}

void rp_free_secret(rp_budget *b, void *p)
{
	if (p != NULL) {
		rp_wipe(p, b != NULL ? ((hdr *)p - 1)->size : malloc_usable_size(p));
	}
	rp_free(b, p);
}
