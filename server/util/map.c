/*
 * map.c - chained hash map with a power-of-two bucket array.
 *
 * State: buckets[nbuckets] of singly linked entries; each entry holds its
 * hash, key bytes (inline, after the struct) and value. The table doubles
 * when count exceeds nbuckets (load factor 1); growth failure is harmless
 * (the map works, only slower), so only the entry allocation can fail.
 * Iteration walks buckets in order (see rp_map_next()).
 */
#include "map.h"
#include "siphash.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

typedef struct entry {
	struct entry *next;
	uint64_t hash;
	void *value;
	size_t len;
	uint8_t key[];
} entry;

struct rp_map {
	rp_budget *budget;
	entry **buckets;
	size_t nbuckets; /* power of two */
	size_t count;
	uint64_t k0, k1; /* the SipHash key, random per map */
};

rp_status rp_random(void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);

		if (got < 0) {
			if (errno == EINTR) {
				continue;
			}
			return RP_E_IO;
		}
		p += got;
		n -= (size_t)got;
	}
	return RP_OK;
}

rp_map *rp_map_new(rp_budget *b)
{
	uint8_t seed[16];
	rp_map *m = rp_calloc(b, 1, sizeof(*m));

	if (m == NULL) {
		return NULL;
	}
	m->budget = b;
	m->nbuckets = 16;
	m->buckets = rp_calloc(b, m->nbuckets, sizeof(*m->buckets));
	if (m->buckets == NULL || rp_random(seed, sizeof(seed)) != RP_OK) {
		rp_free(b, m->buckets);
		rp_free(b, m);
		return NULL;
	}
	m->k0 = rp_le64(seed);
	m->k1 = rp_le64(seed + 8);
	rp_wipe(seed, sizeof(seed));
	return m;
}

void rp_map_free(rp_map *m)
{
	if (m == NULL) {
		return;
	}
	for (size_t i = 0; i < m->nbuckets; i++) {
		entry *e = m->buckets[i];

		while (e != NULL) {
			entry *next = e->next;

			rp_free(m->budget, e);
			e = next;
		}
	}
	rp_free(m->budget, m->buckets);
	rp_free(m->budget, m);
}

static entry **find(const rp_map *m, const void *key, size_t len, uint64_t h)
{
	entry **pp = &m->buckets[h & (m->nbuckets - 1u)];

	while (*pp != NULL) {
		entry *e = *pp;

		if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0) {
			return pp;
		}
		pp = &e->next;
	}
	return pp;
}

void *rp_map_get(const rp_map *m, const void *key, size_t len)
{
	entry **pp = find(m, key, len, rp_siphash13(m->k0, m->k1, key, len));

	return *pp != NULL ? (*pp)->value : NULL;
}

/* Doubles the bucket array; on failure the map keeps its size. */
static void grow(rp_map *m)
{
	size_t n = m->nbuckets * 2u;
	entry **nb = rp_calloc(m->budget, n, sizeof(*nb));

	if (nb == NULL) {
		return;
	}
	for (size_t i = 0; i < m->nbuckets; i++) {
		entry *e = m->buckets[i];

		while (e != NULL) {
			entry *next = e->next;
			size_t j = e->hash & (n - 1u);

			e->next = nb[j];
			nb[j] = e;
			e = next;
		}
	}
	rp_free(m->budget, m->buckets);
	m->buckets = nb;
	m->nbuckets = n;
}

rp_status rp_map_put(rp_map *m, const void *key, size_t len, void *value, void **old)
{
	uint64_t h = rp_siphash13(m->k0, m->k1, key, len);
	entry **pp = find(m, key, len, h);
	entry *e;

	if (old != NULL) {
		*old = NULL;
	}
	if (*pp != NULL) {
		if (old != NULL) {
			*old = (*pp)->value;
		}
		(*pp)->value = value;
		return RP_OK;
	}
	if (len > SIZE_MAX - sizeof(entry)) {
		return RP_E_NOMEM;
	}
	e = rp_alloc(m->budget, sizeof(entry) + len);
	if (e == NULL) {
		return RP_E_NOMEM;
	}
	e->next = NULL;
	e->hash = h;
	e->value = value;
	e->len = len;
	if (len != 0) {
		memcpy(e->key, key, len);
	}
	*pp = e;
	m->count++;
	if (m->count > m->nbuckets) {
		grow(m);
	}
	return RP_OK;
}

void *rp_map_del(rp_map *m, const void *key, size_t len)
{
	entry **pp = find(m, key, len, rp_siphash13(m->k0, m->k1, key, len));
	entry *e = *pp;
	void *v;

	if (e == NULL) {
		return NULL;
	}
	*pp = e->next;
	v = e->value;
	rp_free(m->budget, e);
	m->count--;
	return v;
}

size_t rp_map_count(const rp_map *m)
{
	return m->count;
}

/*
 * The cursor encodes (bucket << 20) | index-in-chain. Chains are short
 * (load factor <= 1 under a keyed hash), far below 2^20.
 */
int rp_map_next(const rp_map *m, size_t *cursor, const void **key, size_t *len, void **value)
{
	size_t b = *cursor >> 20, idx = *cursor & 0xFFFFFu;

	while (b < m->nbuckets) {
		entry *e = m->buckets[b];
		size_t k;

		for (k = 0; e != NULL && k < idx; k++) {
			e = e->next;
		}
		if (e != NULL) {
			*key = e->key;
			*len = e->len;
			*value = e->value;
			*cursor = (b << 20) | (idx + 1u);
			return 1;
		}
		b++;
		idx = 0;
	}
	*cursor = b << 20;
	return 0;
}
