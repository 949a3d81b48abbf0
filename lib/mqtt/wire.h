/*
 * wire.h - internal to lib/mqtt: bounded reader and writer, shared checks.
 *
 * The reader never trusts a length it reads: every read first checks what
 * is left in its window, and windows only ever shrink (a property block or
 * a string is a sub-window of the packet, which is a sub-window of the
 * caller's buffer). Sizes are uint32_t and compared as "n > left", never as
 * "pos + n > len", so they cannot wrap.
 *
 * The writer has a counting mode (out == NULL) so that one emit function
 * gives both the size of a packet and its bytes: the size is computed
 * first, checked against the caller's capacity, and only then written.
 */
#ifndef RP_MQTT_WIRE_H
#define RP_MQTT_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "rampart/limits.h"
#include "rampart/mqtt.h"

/* Property "where" for will properties; packet types use their number. */
#define RP__WHERE_WILL 0u

/* ---- reader ------------------------------------------------------------ */

typedef struct rp__rd {
	const uint8_t *p;
	uint32_t len;
	uint32_t pos; /* invariant: pos <= len */
} rp__rd;

static inline uint32_t rp__rd_left(const rp__rd *r)
{
	return r->len - r->pos;
}

static inline rp_status rp__rd_u8(rp__rd *r, uint8_t *v)
{
	if (rp__rd_left(r) < 1u) {
		return RP_E_MALFORMED;
	}
	*v = r->p[r->pos++];
	return RP_OK;
}

static inline rp_status rp__rd_u16(rp__rd *r, uint16_t *v)
{
	if (rp__rd_left(r) < 2u) {
		return RP_E_MALFORMED;
	}
	*v = (uint16_t)(((uint16_t)r->p[r->pos] << 8) | r->p[r->pos + 1u]);
	r->pos += 2u;
	return RP_OK;
}

static inline rp_status rp__rd_u32(rp__rd *r, uint32_t *v)
{
	if (rp__rd_left(r) < 4u) {
		return RP_E_MALFORMED;
	}
	*v = ((uint32_t)r->p[r->pos] << 24) | ((uint32_t)r->p[r->pos + 1u] << 16) |
	     ((uint32_t)r->p[r->pos + 2u] << 8) | (uint32_t)r->p[r->pos + 3u];
	r->pos += 4u;
	return RP_OK;
}

/*
 * Variable byte integer: at most 4 bytes, minimally encoded (a last byte of
 * zero after the first means a shorter encoding existed).
 */
static inline rp_status rp__rd_vbi(rp__rd *r, uint32_t *v)
{
	uint32_t value = 0;
	unsigned i;

	for (i = 0; i < 4u; i++) {
		uint8_t b;

		if (rp__rd_u8(r, &b) != RP_OK) {
			return RP_E_MALFORMED;
		}
		value |= (uint32_t)(b & 0x7Fu) << (7u * i);
		if ((b & 0x80u) == 0) {
			if (i > 0 && b == 0) {
				return RP_E_REMAINING_LENGTH;
			}
			*v = value;
			return RP_OK;
		}
	}
	return RP_E_REMAINING_LENGTH;
}

/* Two-byte length, then that many bytes (not checked for UTF-8 here). */
static inline rp_status rp__rd_bin(rp__rd *r, rp_mqtt_bin *out)
{
	uint16_t n;

	if (rp__rd_u16(r, &n) != RP_OK) {
		return RP_E_MALFORMED;
	}
	if (n > rp__rd_left(r)) {
		return RP_E_MALFORMED;
	}
	out->p = r->p + r->pos;
	out->len = n;
	r->pos += n;
	return RP_OK;
}

/* ---- writer ------------------------------------------------------------ */

typedef struct rp__wr {
	uint8_t *out; /* NULL: count only */
	size_t cap;
	size_t pos;
} rp__wr;

static inline void rp__wr_u8(rp__wr *w, uint8_t v)
{
	if (w->out != NULL && w->pos < w->cap) {
		w->out[w->pos] = v;
	}
	w->pos++;
}

static inline void rp__wr_u16(rp__wr *w, uint16_t v)
{
	rp__wr_u8(w, (uint8_t)(v >> 8));
	rp__wr_u8(w, (uint8_t)v);
}

static inline void rp__wr_u32(rp__wr *w, uint32_t v)
{
	rp__wr_u8(w, (uint8_t)(v >> 24));
	rp__wr_u8(w, (uint8_t)(v >> 16));
	rp__wr_u8(w, (uint8_t)(v >> 8));
	rp__wr_u8(w, (uint8_t)v);
}

/* v MUST be <= RP_MQTT_VBI_MAX (callers check). */
static inline void rp__wr_vbi(rp__wr *w, uint32_t v)
{
	do {
		uint8_t b = (uint8_t)(v & 0x7Fu);

		v >>= 7;
		if (v != 0) {
			b |= 0x80u;
		}
		rp__wr_u8(w, b);
	} while (v != 0);
}

static inline void rp__wr_bytes(rp__wr *w, const uint8_t *p, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		rp__wr_u8(w, p[i]);
	}
}

/* s.len MUST be <= 65535 (callers check). */
static inline void rp__wr_str(rp__wr *w, rp_mqtt_str s)
{
	rp__wr_u16(w, (uint16_t)s.len);
	rp__wr_bytes(w, s.p, s.len);
}

static inline uint32_t rp__vbi_len(uint32_t v)
{
	return v < 128u ? 1u : v < 16384u ? 2u : v < 2097152u ? 3u : 4u;
}

/* ---- shared internals -------------------------------------------------- */

/* UTF-8 well-formedness; U+0000 refused unless allow_nul. */
int rp__mqtt_utf8_check(const uint8_t *s, size_t len, int allow_nul);

/* A string field is valid: at most 65535 bytes, and UTF-8 without U+0000. */
rp_status rp__mqtt_str_check(rp_mqtt_str s);

/*
 * Parses a property block (length prefix included) at r into *out, with the
 * syntax rules: known identifier allowed in `where`, no forbidden duplicate,
 * values that fit in the block, counts within `lim`. Value ranges and UTF-8
 * are left to rp__mqtt_props_check().
 */
rp_status rp__mqtt_props_parse(rp__rd *r, uint8_t where, const rp_mqtt_limits *lim,
			       rp_mqtt_props *out);

/*
 * Semantic checks of a property set for `where` under `version`, shared by
 * the decoder (after parsing) and the encoder.
 */
rp_status rp__mqtt_props_check(const rp_mqtt_props *p, uint8_t where, uint8_t version,
			       const rp_mqtt_limits *lim);

/* Writes a property block with its length prefix (nothing under 3.1.1). */
void rp__mqtt_props_write(rp__wr *w, const rp_mqtt_props *p);

/* 1 if the set holds no property at all. */
int rp__mqtt_props_empty(const rp_mqtt_props *p);

/*
 * Checks a whole packet as both specifications require of a receiver:
 * the single set of semantic rules shared by decoder and encoder.
 */
rp_status rp__mqtt_check(const rp_mqtt_packet *pkt, uint8_t version, const rp_mqtt_limits *lim);

#endif /* RP_MQTT_WIRE_H */
