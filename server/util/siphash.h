/*
 * server/util/siphash.h - SipHash-1-3, the keyed hash of every table whose
 * keys a peer chooses (client ids, topic levels, addresses).
 *
 * A table keyed by peer data with an unkeyed hash lets the peer choose
 * colliding keys and turn lookups into scans. Each table draws its own
 * 128-bit key (rp_random); SipHash-1-3 is the hash-table variant of
 * SipHash (Aumasson and Bernstein), as in CPython and Rust.
 */
#ifndef RP_SERVER_SIPHASH_H
#define RP_SERVER_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* The key as two little-endian 64-bit words: k0 = bytes 0..7, k1 = 8..15. */
uint64_t rp_siphash13(uint64_t k0, uint64_t k1, const void *data, size_t len);

/* Reads 8 bytes as a little-endian word (for building k0 and k1). */
uint64_t rp_le64(const uint8_t *p);

#endif /* RP_SERVER_SIPHASH_H */
