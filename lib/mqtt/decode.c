/*
 * decode.c - framing and decoding of MQTT 3.1.1 and 5.0 packets.
 *
 * State: none. Every call reads one packet from the start of the caller's
 * buffer and fills a packet of views into it.
 *
 * Attacker: every byte. The fixed header is judged on its own first (type,
 * flags, remaining length well-formed and within max_packet, and within
 * the fixed size of the packet types that have one) so that a connection
 * can refuse a packet before buffering its body. Then the body is read
 * through a window of exactly `remaining` bytes: no field can reach the
 * next packet, and anything left over is RP_E_TRAILING. Finally the same
 * semantic checks as the encoder's (check.c) run on the result.
 */
#include <string.h>

#include "wire.h"

/* Fixed-header flags each type must carry (PUBLISH: its own rules). */
static uint8_t required_flags(uint8_t type)
{
	return (type == RP_MQTT_PUBREL || type == RP_MQTT_SUBSCRIBE || type == RP_MQTT_UNSUBSCRIBE)
		       ? 2u
		       : 0u;
}

/*
 * Largest remaining length of the types whose body has a fixed size under
 * `version` (0 = not yet known: the MQTT 5 sizes, which are the larger),
 * or RP_MQTT_VBI_MAX when the body is variable.
 */
static uint32_t max_remaining(uint8_t type, uint8_t version)
{
	switch (type) {
	case RP_MQTT_PINGREQ:
	case RP_MQTT_PINGRESP:
		return 0;
	case RP_MQTT_CONNACK:
	case RP_MQTT_PUBACK:
	case RP_MQTT_PUBREC:
	case RP_MQTT_PUBREL:
	case RP_MQTT_PUBCOMP:
	case RP_MQTT_UNSUBACK:
		return version == RP_MQTT_V311 ? 2u : RP_MQTT_VBI_MAX;
	case RP_MQTT_DISCONNECT:
		return version == RP_MQTT_V311 ? 0u : RP_MQTT_VBI_MAX;
	default:
		return RP_MQTT_VBI_MAX;
	}
}

rp_status rp_mqtt_frame_parse(const uint8_t *buf, size_t len, uint8_t version, uint32_t max_packet,
			      rp_mqtt_frame *frame, size_t *need)
{
	uint32_t remaining = 0;
	uint8_t type, flags;
	size_t i;

	if (buf == NULL || frame == NULL ||
	    (version != 0 && version != RP_MQTT_V311 && version != RP_MQTT_V5)) {
		return RP_E_INVALID_ARG;
	}
	if (len == 0) {
		if (need != NULL) {
			*need = 1;
		}
		return RP_NEED_MORE;
	}
	/* The first byte alone decides type and flags: refuse it at once. */
	type = (uint8_t)(buf[0] >> 4);
	flags = (uint8_t)(buf[0] & 0x0Fu);
	if (type == 0 || (type == RP_MQTT_AUTH && version == RP_MQTT_V311)) {
		return RP_E_PACKET_TYPE;
	}
	if (type == RP_MQTT_PUBLISH) {
		uint8_t qos = (uint8_t)((flags >> 1) & 3u);

		if (qos == 3u || (qos == 0 && (flags & 8u))) {
			return RP_E_QOS; /* [MQTT-3.3.1-4], [MQTT-3.3.1-2] */
		}
	} else if (flags != required_flags(type)) {
		return RP_E_RESERVED_FLAGS; /* [MQTT-2.1.3-1] */
	}

	/* Remaining length: at most 4 bytes, minimal [MQTT-1.5.5-1]. */
	for (i = 1; i <= 4u; i++) {
		uint8_t b;

		if (i >= len) {
			if (need != NULL) {
				*need = 1;
			}
			return RP_NEED_MORE;
		}
		b = buf[i];
		remaining |= (uint32_t)(b & 0x7Fu) << (7u * (i - 1u));
		if ((b & 0x80u) == 0) {
			if (i > 1u && b == 0) {
				return RP_E_REMAINING_LENGTH;
			}
			break;
		}
		if (i == 4u) {
			return RP_E_REMAINING_LENGTH;
		}
	}
	frame->type = type;
	frame->flags = flags;
	frame->header_len = (uint8_t)(i + 1u);
	frame->remaining = remaining;
	/* remaining <= RP_MQTT_VBI_MAX, so total cannot wrap. */
	frame->total = remaining + frame->header_len;

	if (frame->total > max_packet) {
		return RP_E_TOO_LARGE;
	}
	if (remaining > max_remaining(type, version)) {
		return RP_E_TRAILING;
	}
	if (len < frame->total) {
		if (need != NULL) {
			*need = frame->total - len;
		}
		return RP_NEED_MORE;
	}
	return RP_OK;
}

/* ---- bodies ------------------------------------------------------------ */

static rp_status decode_connect(rp__rd *r, const rp_mqtt_limits *lim, rp_mqtt_connect *c)
{
	static const uint8_t mqtt_name[4] = {'M', 'Q', 'T', 'T'};
	rp_mqtt_bin name;
	uint8_t flags;
	rp_status st;

	/* Protocol name and level: anything but "MQTT" 4 or 5 is not ours (3.1.2.1). */
	if (rp__rd_bin(r, &name) != RP_OK || rp__rd_u8(r, &c->version) != RP_OK) {
		return RP_E_MALFORMED;
	}
	if (name.len != 4u || memcmp(name.p, mqtt_name, 4) != 0 ||
	    (c->version != RP_MQTT_V311 && c->version != RP_MQTT_V5)) {
		return RP_E_PROTOCOL_VERSION;
	}
	if (rp__rd_u8(r, &flags) != RP_OK || rp__rd_u16(r, &c->keepalive) != RP_OK) {
		return RP_E_MALFORMED;
	}
	if (flags & 1u) {
		return RP_E_RESERVED_FLAGS; /* [MQTT-3.1.2-3] */
	}
	c->clean_start = (flags >> 1) & 1u;
	c->will_flag = (flags >> 2) & 1u;
	c->will_qos = (flags >> 3) & 3u;
	c->will_retain = (flags >> 5) & 1u;
	c->has_password = (flags >> 6) & 1u;
	c->has_username = (flags >> 7) & 1u;

	if (c->version == RP_MQTT_V5) {
		st = rp__mqtt_props_parse(r, RP_MQTT_CONNECT, lim, &c->props);
		if (st != RP_OK) {
			return st;
		}
	}
	if (rp__rd_bin(r, &c->client_id) != RP_OK) {
		return RP_E_MALFORMED;
	}
	if (c->will_flag) {
		if (c->version == RP_MQTT_V5) {
			st = rp__mqtt_props_parse(r, RP__WHERE_WILL, lim, &c->will_props);
			if (st != RP_OK) {
				return st;
			}
		}
		if (rp__rd_bin(r, &c->will_topic) != RP_OK ||
		    rp__rd_bin(r, &c->will_payload) != RP_OK) {
			return RP_E_MALFORMED;
		}
	}
	if (c->has_username && rp__rd_bin(r, &c->username) != RP_OK) {
		return RP_E_MALFORMED;
	}
	if (c->has_password && rp__rd_bin(r, &c->password) != RP_OK) {
		return RP_E_MALFORMED;
	}
	return RP_OK;
}

static rp_status decode_connack(rp__rd *r, uint8_t version, const rp_mqtt_limits *lim,
				rp_mqtt_connack *c)
{
	uint8_t flags;

	if (rp__rd_u8(r, &flags) != RP_OK || rp__rd_u8(r, &c->reason_code) != RP_OK) {
		return RP_E_MALFORMED;
	}
	if (flags & 0xFEu) {
		return RP_E_RESERVED_FLAGS; /* [MQTT-3.2.2-1] */
	}
	c->session_present = flags & 1u;
	if (version == RP_MQTT_V5) {
		return rp__mqtt_props_parse(r, RP_MQTT_CONNACK, lim, &c->props);
	}
	return RP_OK;
}

static rp_status decode_publish(rp__rd *r, uint8_t flags, uint8_t version,
				const rp_mqtt_limits *lim, rp_mqtt_publish *p)
{
	rp_status st;

	p->dup = (flags >> 3) & 1u;
	p->qos = (flags >> 1) & 3u;
	p->retain = flags & 1u;
	if (rp__rd_bin(r, &p->topic) != RP_OK) {
		return RP_E_MALFORMED;
	}
	if (p->qos != 0 && rp__rd_u16(r, &p->packet_id) != RP_OK) {
		return RP_E_MALFORMED;
	}
	if (version == RP_MQTT_V5) {
		st = rp__mqtt_props_parse(r, RP_MQTT_PUBLISH, lim, &p->props);
		if (st != RP_OK) {
			return st;
		}
	}
	/* The payload is the rest of the packet (3.3.3). */
	p->payload.p = rp__rd_left(r) != 0 ? r->p + r->pos : NULL;
	p->payload.len = rp__rd_left(r);
	r->pos = r->len;
	return RP_OK;
}

/*
 * PUBACK, PUBREC, PUBREL, PUBCOMP. Under MQTT 5 the reason code and the
 * properties may be left out (3.4.2.1): 2 bytes means success, 3 bytes a
 * reason code without properties.
 */
static rp_status decode_ack(rp__rd *r, uint8_t type, uint8_t version, const rp_mqtt_limits *lim,
			    rp_mqtt_ack *a)
{
	if (rp__rd_u16(r, &a->packet_id) != RP_OK) {
		return RP_E_MALFORMED;
	}
	if (version == RP_MQTT_V311 || rp__rd_left(r) == 0) {
		return RP_OK;
	}
	(void)rp__rd_u8(r, &a->reason_code);
	if (rp__rd_left(r) == 0) {
		return RP_OK;
	}
	return rp__mqtt_props_parse(r, type, lim, &a->props);
}

/*
 * SUBSCRIBE and UNSUBSCRIBE: entries are parsed for syntax and counted
 * here, and walked again by the checks through rp_mqtt_sub_next().
 */
static rp_status decode_subscribe(rp__rd *r, uint8_t type, uint8_t version,
				  const rp_mqtt_limits *lim, rp_mqtt_subscribe *s)
{
	int is_sub = (type == RP_MQTT_SUBSCRIBE);
	rp_status st;

	if (rp__rd_u16(r, &s->packet_id) != RP_OK) {
		return RP_E_MALFORMED;
	}
	if (version == RP_MQTT_V5) {
		st = rp__mqtt_props_parse(r, type, lim, &s->props);
		if (st != RP_OK) {
			return st;
		}
	}
	s->raw = rp__rd_left(r) != 0 ? r->p + r->pos : NULL;
	s->raw_len = rp__rd_left(r);
	while (rp__rd_left(r) != 0) {
		rp_mqtt_bin filter;
		uint8_t opts;

		if (rp__rd_bin(r, &filter) != RP_OK) {
			return RP_E_MALFORMED;
		}
		if (is_sub) {
			if (rp__rd_u8(r, &opts) != RP_OK) {
				return RP_E_MALFORMED;
			}
			/* Reserved option bits: 2-7 in 3.1.1, 6-7 in 5.0 [MQTT-3.8.3-5]. */
			if (opts & (version == RP_MQTT_V311 ? 0xFCu : 0xC0u)) {
				return RP_E_RESERVED_FLAGS;
			}
		}
		if (s->count >= lim->max_sub_entries) {
			return RP_E_LIMIT;
		}
		s->count++;
	}
	return RP_OK;
}

static rp_status decode_suback(rp__rd *r, uint8_t type, uint8_t version, const rp_mqtt_limits *lim,
			       rp_mqtt_suback *s)
{
	rp_status st;

	if (rp__rd_u16(r, &s->packet_id) != RP_OK) {
		return RP_E_MALFORMED;
	}
	if (version == RP_MQTT_V5) {
		st = rp__mqtt_props_parse(r, type, lim, &s->props);
		if (st != RP_OK) {
			return st;
		}
	}
	if (rp__rd_left(r) > lim->max_sub_entries) {
		return RP_E_LIMIT;
	}
	s->count = (uint16_t)rp__rd_left(r);
	s->reason_codes = s->count != 0 ? r->p + r->pos : NULL;
	r->pos = r->len;
	return RP_OK;
}

/*
 * DISCONNECT and AUTH under MQTT 5: an empty body means reason 0 and no
 * properties. DISCONNECT may also stop after the reason code (3.14.2.1);
 * AUTH may not (3.15.2: the property length follows the reason code).
 */
static rp_status decode_disconnect(rp__rd *r, uint8_t type, uint8_t version,
				   const rp_mqtt_limits *lim, rp_mqtt_disconnect *d)
{
	if (version == RP_MQTT_V311 || rp__rd_left(r) == 0) {
		return RP_OK;
	}
	(void)rp__rd_u8(r, &d->reason_code);
	if (rp__rd_left(r) == 0) {
		return type == RP_MQTT_AUTH ? RP_E_MALFORMED : RP_OK;
	}
	return rp__mqtt_props_parse(r, type, lim, &d->props);
}

static rp_status decode_body(rp__rd *r, const rp_mqtt_frame *f, uint8_t version,
			     const rp_mqtt_limits *lim, rp_mqtt_packet *pkt)
{
	switch (f->type) {
	case RP_MQTT_CONNECT:
		return decode_connect(r, lim, &pkt->u.connect);
	case RP_MQTT_CONNACK:
		return decode_connack(r, version, lim, &pkt->u.connack);
	case RP_MQTT_PUBLISH:
		return decode_publish(r, f->flags, version, lim, &pkt->u.publish);
	case RP_MQTT_PUBACK:
	case RP_MQTT_PUBREC:
	case RP_MQTT_PUBREL:
	case RP_MQTT_PUBCOMP:
		return decode_ack(r, f->type, version, lim, &pkt->u.ack);
	case RP_MQTT_SUBSCRIBE:
	case RP_MQTT_UNSUBSCRIBE:
		return decode_subscribe(r, f->type, version, lim, &pkt->u.subscribe);
	case RP_MQTT_SUBACK:
	case RP_MQTT_UNSUBACK:
		return decode_suback(r, f->type, version, lim, &pkt->u.suback);
	case RP_MQTT_PINGREQ:
	case RP_MQTT_PINGRESP:
		return RP_OK;
	case RP_MQTT_DISCONNECT:
	case RP_MQTT_AUTH:
		return decode_disconnect(r, f->type, version, lim, &pkt->u.disconnect);
	default:
		return RP_E_PACKET_TYPE;
	}
}

rp_status rp_mqtt_decode(const uint8_t *buf, size_t len, uint8_t version, const rp_mqtt_limits *lim,
			 rp_mqtt_packet *pkt, size_t *consumed)
{
	rp_mqtt_frame f;
	size_t need = 1;
	uint8_t body_version;
	rp__rd r;
	rp_status st;

	if (buf == NULL || lim == NULL || pkt == NULL) {
		return RP_E_INVALID_ARG;
	}
	st = rp_mqtt_frame_parse(buf, len, version, lim->max_packet, &f, &need);
	if (st == RP_NEED_MORE && consumed != NULL) {
		*consumed = need;
	}
	if (st != RP_OK) {
		return st;
	}
	if (f.type != RP_MQTT_CONNECT && version == 0) {
		return RP_E_INVALID_ARG; /* the caller must know the version by now */
	}
	memset(pkt, 0, sizeof(*pkt));
	pkt->type = f.type;
	r.p = buf + f.header_len;
	r.len = f.remaining;
	r.pos = 0;
	st = decode_body(&r, &f, version, lim, pkt);
	if (st != RP_OK) {
		return st;
	}
	if (rp__rd_left(&r) != 0) {
		return RP_E_TRAILING;
	}
	body_version = f.type == RP_MQTT_CONNECT ? pkt->u.connect.version : version;
	st = rp__mqtt_check(pkt, body_version, lim);
	if (st != RP_OK) {
		return st;
	}
	if (consumed != NULL) {
		*consumed = f.total;
	}
	return RP_OK;
}

int rp_mqtt_sub_next(const rp_mqtt_subscribe *sub, int is_subscribe, uint32_t *cursor,
		     rp_mqtt_sub_entry *entry)
{
	rp__rd r;
	uint8_t opts = 0;

	if (sub == NULL || cursor == NULL || entry == NULL || sub->raw == NULL ||
	    *cursor >= sub->raw_len) {
		return 0;
	}
	r.p = sub->raw;
	r.len = sub->raw_len;
	r.pos = *cursor;
	memset(entry, 0, sizeof(*entry));
	if (rp__rd_bin(&r, &entry->filter) != RP_OK) {
		return 0;
	}
	if (is_subscribe && rp__rd_u8(&r, &opts) != RP_OK) {
		return 0;
	}
	entry->qos = opts & 3u;
	entry->no_local = (opts >> 2) & 1u;
	entry->retain_as_published = (opts >> 3) & 1u;
	entry->retain_handling = (opts >> 4) & 3u;
	*cursor = r.pos;
	return 1;
}
