/*
 * encode.c - encoding of MQTT 3.1.1 and 5.0 packets.
 *
 * One emit function per packet writes the body through an rp__wr. Run with
 * a counting writer it gives the body size; the whole size is checked
 * against limits and the caller's capacity before the same function runs
 * again with the real buffer. Packets are checked by rp__mqtt_check()
 * first, so Rampart never writes a packet its own decoder would refuse.
 *
 * Canonical form: optional fields are left out exactly when the
 * specification allows (MQTT 5 acks, DISCONNECT, AUTH with reason 0 and no
 * properties), and properties are written in identifier order. Decoding
 * and re-encoding therefore reaches a fixed point after one round.
 */
#include "wire.h"

static void emit_connect(rp__wr *w, const rp_mqtt_connect *c)
{
	static const rp_mqtt_str mqtt_name = {(const uint8_t *)"MQTT", 4};
	uint8_t v5 = c->version == RP_MQTT_V5;
	uint8_t flags = 0;

	if (c->clean_start) {
		flags |= 0x02u;
	}
	if (c->will_flag) {
		flags |= (uint8_t)(0x04u | (c->will_qos << 3) | (c->will_retain ? 0x20u : 0));
	}
	if (c->has_password) {
		flags |= 0x40u;
	}
	if (c->has_username) {
		flags |= 0x80u;
	}
	rp__wr_str(w, mqtt_name);
	rp__wr_u8(w, c->version);
	rp__wr_u8(w, flags);
	rp__wr_u16(w, c->keepalive);
	if (v5) {
		rp__mqtt_props_write(w, &c->props);
	}
	rp__wr_str(w, c->client_id);
	if (c->will_flag) {
		if (v5) {
			rp__mqtt_props_write(w, &c->will_props);
		}
		rp__wr_str(w, c->will_topic);
		rp__wr_str(w, c->will_payload);
	}
	if (c->has_username) {
		rp__wr_str(w, c->username);
	}
	if (c->has_password) {
		rp__wr_str(w, c->password);
	}
}

/* MQTT 5 lets an ack, DISCONNECT or AUTH stop early (canonical: shortest). */
static void emit_reason_props(rp__wr *w, uint8_t type, uint8_t rc, const rp_mqtt_props *props)
{
	int no_props = rp__mqtt_props_empty(props);

	if (rc == 0 && no_props) {
		return;
	}
	rp__wr_u8(w, rc);
	if (no_props && type != RP_MQTT_AUTH) {
		return;
	}
	rp__mqtt_props_write(w, props);
}

static void emit_body(rp__wr *w, const rp_mqtt_packet *pkt, uint8_t version)
{
	uint8_t v5 = version == RP_MQTT_V5;
	uint32_t cursor = 0;
	uint16_t n;

	switch (pkt->type) {
	case RP_MQTT_CONNECT:
		emit_connect(w, &pkt->u.connect);
		break;
	case RP_MQTT_CONNACK:
		rp__wr_u8(w, pkt->u.connack.session_present ? 1u : 0u);
		rp__wr_u8(w, pkt->u.connack.reason_code);
		if (v5) {
			rp__mqtt_props_write(w, &pkt->u.connack.props);
		}
		break;
	case RP_MQTT_PUBLISH: {
		const rp_mqtt_publish *p = &pkt->u.publish;

		rp__wr_str(w, p->topic);
		if (p->qos != 0) {
			rp__wr_u16(w, p->packet_id);
		}
		if (v5) {
			rp__mqtt_props_write(w, &p->props);
		}
		rp__wr_bytes(w, p->payload.p, p->payload.len);
		break;
	}
	case RP_MQTT_PUBACK:
	case RP_MQTT_PUBREC:
	case RP_MQTT_PUBREL:
	case RP_MQTT_PUBCOMP:
		rp__wr_u16(w, pkt->u.ack.packet_id);
		if (v5) {
			emit_reason_props(w, pkt->type, pkt->u.ack.reason_code, &pkt->u.ack.props);
		}
		break;
	case RP_MQTT_SUBSCRIBE:
	case RP_MQTT_UNSUBSCRIBE: {
		const rp_mqtt_subscribe *s = &pkt->u.subscribe;
		int is_sub = pkt->type == RP_MQTT_SUBSCRIBE;
		rp_mqtt_sub_entry e;

		rp__wr_u16(w, s->packet_id);
		if (v5) {
			rp__mqtt_props_write(w, &s->props);
		}
		for (n = 0; n < s->count; n++) {
			if (s->entries != NULL) {
				e = s->entries[n];
			} else if (!rp_mqtt_sub_next(s, is_sub, &cursor, &e)) {
				break; /* cannot happen after rp__mqtt_check() */
			}
			rp__wr_str(w, e.filter);
			if (is_sub) {
				rp__wr_u8(w, (uint8_t)(e.qos | (e.no_local ? 0x04u : 0) |
						       (e.retain_as_published ? 0x08u : 0) |
						       (e.retain_handling << 4)));
			}
		}
		break;
	}
	case RP_MQTT_SUBACK:
	case RP_MQTT_UNSUBACK:
		rp__wr_u16(w, pkt->u.suback.packet_id);
		if (v5) {
			rp__mqtt_props_write(w, &pkt->u.suback.props);
		}
		rp__wr_bytes(w, pkt->u.suback.reason_codes, pkt->u.suback.count);
		break;
	case RP_MQTT_DISCONNECT:
	case RP_MQTT_AUTH:
		if (v5) {
			emit_reason_props(w, pkt->type, pkt->u.disconnect.reason_code,
					  &pkt->u.disconnect.props);
		}
		break;
	default: /* PINGREQ, PINGRESP: no body */
		break;
	}
}

static uint8_t first_byte(const rp_mqtt_packet *pkt)
{
	uint8_t flags = 0;

	if (pkt->type == RP_MQTT_PUBLISH) {
		const rp_mqtt_publish *p = &pkt->u.publish;

		flags = (uint8_t)((p->dup ? 8u : 0) | (p->qos << 1) | (p->retain ? 1u : 0));
	} else if (pkt->type == RP_MQTT_PUBREL || pkt->type == RP_MQTT_SUBSCRIBE ||
		   pkt->type == RP_MQTT_UNSUBSCRIBE) {
		flags = 2u;
	}
	return (uint8_t)((pkt->type << 4) | flags);
}

/* Checks the packet and returns its body size and whole size. */
static rp_status sizes(const rp_mqtt_packet *pkt, uint8_t version, const rp_mqtt_limits *lim,
		       size_t *body, size_t *total)
{
	rp__wr count = {NULL, 0, 0};
	uint8_t v;
	rp_status st;

	if (pkt == NULL || lim == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (pkt->type == RP_MQTT_CONNECT) {
		v = pkt->u.connect.version;
	} else {
		v = version;
	}
	st = rp__mqtt_check(pkt, v, lim);
	if (st != RP_OK) {
		return st;
	}
	emit_body(&count, pkt, v);
	if (count.pos > RP_MQTT_VBI_MAX) {
		return RP_E_TOO_LARGE;
	}
	*body = count.pos;
	*total = 1u + rp__vbi_len((uint32_t)count.pos) + count.pos;
	if (*total > lim->max_packet) {
		return RP_E_TOO_LARGE;
	}
	return RP_OK;
}

rp_status rp_mqtt_encoded_size(const rp_mqtt_packet *pkt, uint8_t version,
			       const rp_mqtt_limits *lim, size_t *size)
{
	size_t body;

	if (size == NULL) {
		return RP_E_INVALID_ARG;
	}
	return sizes(pkt, version, lim, &body, size);
}

rp_status rp_mqtt_encode(const rp_mqtt_packet *pkt, uint8_t version, const rp_mqtt_limits *lim,
			 uint8_t *out, size_t cap, size_t *out_len)
{
	size_t body, total;
	rp__wr w;
	rp_status st;

	if (out == NULL || out_len == NULL) {
		return RP_E_INVALID_ARG;
	}
	st = sizes(pkt, version, lim, &body, &total);
	if (st != RP_OK) {
		return st;
	}
	if (total > cap) {
		return RP_E_BUF_TOO_SMALL;
	}
	w.out = out;
	w.cap = cap;
	w.pos = 0;
	rp__wr_u8(&w, first_byte(pkt));
	rp__wr_vbi(&w, (uint32_t)body);
	emit_body(&w, pkt, pkt->type == RP_MQTT_CONNECT ? pkt->u.connect.version : version);
	if (w.pos != total) {
		return RP_E_INTERNAL; /* the two passes disagree: a bug, never sent */
	}
	*out_len = total;
	return RP_OK;
}
