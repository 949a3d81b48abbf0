/*
 * server/util/map.h - a hash map from byte-string keys to pointers.
 *
 * Conventions
 * - Keys are copied into the map; values are the caller's pointers, never
 *   freed by the map.
 * - Keys come from peers (client ids, topics, addresses), so the hash is
 *   SipHash-1-3 (util/siphash.h) under a random per-map key: a peer cannot choose keys that
 *   collide and turn lookups into linear scans.
 * - Not thread-safe: the owner serialises access.
 * - Allocation goes through server/util/alloc.h, charged to the map's
 *   budget (NULL: uncharged).
 */
#ifndef RP_SERVER_MAP_H
#define RP_SERVER_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "rampart/status.h"
#include "util/alloc.h"

typedef struct rp_map rp_map;

/* NULL on allocation failure or if no random key could be had. */
rp_map *rp_map_new(rp_budget *b);

/* Frees the map and its keys (not the values). NULL is allowed. */
void rp_map_free(rp_map *m);

/* The value for key, or NULL. */
void *rp_map_get(const rp_map *m, const void *key, size_t len);

/*
 * Sets key to value. If key was present, *old (if not NULL) receives the
 * previous value, else NULL. Returns RP_OK or RP_E_NOMEM (map unchanged).
 */
rp_status rp_map_put(rp_map *m, const void *key, size_t len, void *value, void **old);

/* Removes key; returns its value, or NULL if it was absent. */
void *rp_map_del(rp_map *m, const void *key, size_t len);

/* Number of keys. */
size_t rp_map_count(const rp_map *m);

/*
 * Iteration: *cursor MUST be 0 first. Returns 1 with the next key and value,
 * 0 at the end. The map MUST NOT be changed during an iteration.
 */
int rp_map_next(const rp_map *m, size_t *cursor, const void **key, size_t *len, void **value);

/* Fills buf with n random bytes from the kernel. RP_OK or RP_E_IO. */
rp_status rp_random(void *buf, size_t n);

#endif /* RP_SERVER_MAP_H */
