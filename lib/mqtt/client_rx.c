/*
 * client_rx.c - the MQTT client: packets from the server.
 *
 * Attacker: every byte of rp_mqttc_input() is the server's, and the server
 * may be hostile. A packet is framed first, against the Maximum Packet Size
 * the client announced (so a huge remaining length is refused from its
 * header, before the body is waited for), then decoded by the strict codec
 * (a decoded packet is a valid packet), and then checked against the state
 * of the connection and the session:
 * - CONNACK first and only once; no packet a server never sends;
 * - a session present only when the client asked to resume one;
 * - acknowledgements only for packet identifiers the client holds, of the
 *   right kind and at the right stage; SUBACK with one code per filter;
 * - no more unreleased QoS 2 messages than the Receive Maximum announced;
 * - topic aliases only up to the Topic Alias Maximum announced, and an
 *   empty topic only for an alias already set on this connection.
 * A packet that breaks one closes the connection with the reason code
 * MQTT 5 gives for it (rp__mqttc_fail), and is not reported.
 *
 * Answers (PUBACK, PUBREC, PUBREL, PUBCOMP) go into the output buffer,
 * which is the caller's and bounded: a packet that needs one is read only
 * when RP_MQTTC_ACK_MAX bytes are free, else input stops with RP_E_BUSY
 * until the caller has sent output. So input never has to drop an answer.
 */
#include <string.h>

#include "client_int.h"

/* ---- received QoS 2 identifiers ---------------------------------------- */

static long rx_find(const rp_mqttc *c, uint16_t id)
{
	uint16_t i;

	for (i = 0; i < c->rx_count; i++) {
		if (c->rx_ids[i] == id) {
			return (long)i;
		}
	}
	return -1;
}

/* ---- events ------------------------------------------------------------ */

static uint8_t emit(rp_mqttc *c, rp_mqttc_event_fn cb, void *ctx, const rp_mqttc_event *ev)
{
	uint8_t rc;

	if (cb == NULL) {
		return 0;
	}
	c->in_callback = 1;
	rc = cb(ctx, ev);
	c->in_callback = 0;
	return rc;
}

/* The event of a finished or dropped PUBLISH of ours, from its slot. */
static void slot_event(rp_mqttc_event *ev, uint8_t type, const rp_mqttc_slot *s)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->packet_id = s->packet_id;
	ev->qos = s->qos;
	ev->retain = (s->flags & RP__MQTTC_RETAIN) ? 1u : 0u;
	ev->received = type == RP_MQTTC_EV_PUBLISH_LOST && s->stage == RP__MQTTC_WAIT_COMP;
	ev->topic = s->topic;
	ev->payload = s->payload;
}

/* Removes slot i and reports it; the callback may reuse its memory. */
static void slot_finish(rp_mqttc *c, uint16_t i, uint8_t type, uint8_t rc,
			const rp_mqtt_packet *pkt, rp_mqttc_event_fn cb, void *ctx)
{
	rp_mqttc_event ev;

	slot_event(&ev, type, &c->slots[i]);
	ev.reason_code = rc;
	ev.pkt = pkt;
	rp__mqttc_slot_remove(c, i);
	(void)emit(c, cb, ctx, &ev);
}

/* ---- CONNACK ----------------------------------------------------------- */

/* 3.1.1 return codes 1..5 as the MQTT 5 reason codes that mean the same. */
static uint8_t connack_reason(const rp_mqttc *c, uint8_t rc)
{
	static const uint8_t v311[6] = {
		0x00,
		RP_MQTT_RC_UNSUPPORTED_VERSION,
		RP_MQTT_RC_CLIENT_ID_INVALID,
		RP_MQTT_RC_SERVER_UNAVAILABLE,
		RP_MQTT_RC_BAD_USER_OR_PASSWORD,
		RP_MQTT_RC_NOT_AUTHORIZED,
	};

	/* The codec allows only 0..5 under 3.1.1. */
	return c->version == RP_MQTT_V311 && rc < 6u ? v311[rc] : rc;
}

/* The server's limits and overrides (3.2.2.3); absent means the default. */
static void server_props(rp_mqttc *c, const rp_mqtt_props *p)
{
	if (p->present & RP_MQTT_HAS(RP_MQTT_PROP_RECEIVE_MAX)) {
		c->server_rmax = p->receive_max;
	}
	if (p->present & RP_MQTT_HAS(RP_MQTT_PROP_MAX_PACKET_SIZE)) {
		c->lim_out.max_packet = p->max_packet_size;
	}
	if (p->present & RP_MQTT_HAS(RP_MQTT_PROP_SERVER_KEEPALIVE)) {
		c->keepalive_ms = (uint32_t)p->server_keepalive * 1000u;
	}
	if (p->present & RP_MQTT_HAS(RP_MQTT_PROP_MAX_QOS)) {
		c->server_max_qos = p->max_qos;
	}
	if (p->present & RP_MQTT_HAS(RP_MQTT_PROP_RETAIN_AVAILABLE)) {
		c->server_retain = p->retain_available;
	}
}

/*
 * Drops the PUBLISH slots the new connection cannot carry: all of them
 * when the session was not resumed [MQTT-3.2.2-5], else those now too
 * large. Slots the callbacks add go behind the first n and are kept. All
 * are reported even if a callback disconnects meanwhile: the session
 * state they belong to is gone either way.
 */
static void lose_slots(rp_mqttc *c, int all, rp_mqttc_event_fn cb, void *ctx)
{
	uint16_t i = 0, n = c->nused;

	/* Doomed slots must not be written by a pump a callback runs meanwhile. */
	for (i = 0; all && i < n; i++) {
		c->slots[i].flags &= (uint8_t)~RP__MQTTC_UNSENT;
	}
	i = 0;
	while (i < n) {
		if (!all && rp__mqttc_slot_fits(c, &c->slots[i])) {
			i++;
			continue;
		}
		slot_finish(c, i, RP_MQTTC_EV_PUBLISH_LOST, 0, NULL, cb, ctx);
		n--;
	}
}

static rp_status on_connack(rp_mqttc *c, const rp_mqtt_packet *pkt, rp_mqttc_event_fn cb, void *ctx)
{
	const rp_mqtt_connack *k = &pkt->u.connack;
	rp_mqttc_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = RP_MQTTC_EV_CONNACK;
	ev.reason_code = connack_reason(c, k->reason_code);
	ev.session_present = k->session_present;
	ev.pkt = pkt;
	if (ev.reason_code != 0) {
		c->state = RP_MQTTC_CLOSED;
		c->error = RP_E_DENIED;
		c->reason = ev.reason_code;
		(void)emit(c, cb, ctx, &ev);
		return RP_OK;
	}
	if (k->session_present && c->clean_start) {
		return rp__mqttc_fail(c, RP_E_PROTOCOL, RP_MQTT_RC_PROTOCOL_ERROR); /* 3.2.2.1.1 */
	}
	/* A limit below the client's answers would leave it unable to answer. */
	if ((k->props.present & RP_MQTT_HAS(RP_MQTT_PROP_MAX_PACKET_SIZE)) &&
	    k->props.max_packet_size < RP_MQTTC_ACK_MAX) {
		return rp__mqttc_fail(c, RP_E_PROPERTY_VALUE, RP_MQTT_RC_PROTOCOL_ERROR);
	}
	server_props(c, &k->props);
	c->state = RP_MQTTC_CONNECTED;
	if (!k->session_present) {
		c->rx_count = 0;
	}
	lose_slots(c, !k->session_present, cb, ctx);
	/* Resend before the application's callback can add anything. */
	rp__mqttc_pump(c);
	/* Reported even if a PUBLISH_LOST callback has disconnected since. */
	(void)emit(c, cb, ctx, &ev);
	return RP_OK;
}

/* ---- PUBLISH ----------------------------------------------------------- */

/*
 * The topic of a PUBLISH, through the topic alias if it has one
 * (3.3.2.3.4). The decoder already bounded the topic to max_topic_len,
 * which is what an alias entry holds; the length is checked again here so
 * that the copy below is bounded by this function alone.
 */
static rp_status resolve_topic(rp_mqttc *c, const rp_mqtt_publish *p, rp_mqtt_str *topic)
{
	uint8_t *e;
	uint16_t alias;

	*topic = p->topic;
	if ((p->props.present & RP_MQTT_HAS(RP_MQTT_PROP_TOPIC_ALIAS)) == 0) {
		return RP_OK;
	}
	alias = p->props.topic_alias; /* not 0: the codec refuses it */
	if (alias > c->alias_max || p->topic.len > c->alias_entry - 2u) {
		return rp__mqttc_fail(c, RP_E_PROTOCOL, RP_MQTT_RC_TOPIC_ALIAS_INVALID);
	}
	e = c->alias_buf + (size_t)(alias - 1u) * c->alias_entry;
	if (p->topic.len != 0) {
		e[0] = (uint8_t)(p->topic.len >> 8);
		e[1] = (uint8_t)p->topic.len;
		memcpy(e + 2, p->topic.p, p->topic.len);
		return RP_OK;
	}
	topic->len = ((uint32_t)e[0] << 8) | e[1];
	topic->p = e + 2;
	if (topic->len == 0) {
		/* An alias never set on this connection [MQTT-3.3.2-8]. */
		return rp__mqttc_fail(c, RP_E_PROTOCOL, RP_MQTT_RC_PROTOCOL_ERROR);
	}
	return RP_OK;
}

/* The reason code the client answers a message with (see the header). */
static uint8_t answer_reason(const rp_mqttc *c, uint8_t rc)
{
	if (c->version != RP_MQTT_V5) {
		return 0;
	}
	return rp_mqtt_reason_valid(RP_MQTT_PUBACK, RP_MQTT_V5, rc) ? rc : RP_MQTT_RC_UNSPECIFIED;
}

static rp_status on_publish(rp_mqttc *c, const rp_mqtt_packet *pkt, rp_mqttc_event_fn cb, void *ctx)
{
	const rp_mqtt_publish *p = &pkt->u.publish;
	rp_mqttc_event ev;
	rp_status st;
	uint8_t rc;

	memset(&ev, 0, sizeof(ev));
	st = resolve_topic(c, p, &ev.topic);
	if (st != RP_OK) {
		return st;
	}
	if (p->qos == 2u && rx_find(c, p->packet_id) >= 0) {
		/* Already delivered, not yet released: answer, do not deliver again. */
		return rp__mqttc_tx_ack(c, RP_MQTT_PUBREC, p->packet_id, 0);
	}
	if (p->qos == 2u && c->rx_count >= c->rx_max) {
		return rp__mqttc_fail(c, RP_E_LIMIT, RP_MQTT_RC_RECEIVE_MAX_EXCEEDED);
	}
	ev.type = RP_MQTTC_EV_PUBLISH;
	ev.qos = p->qos;
	ev.retain = p->retain;
	ev.dup = p->dup;
	ev.packet_id = p->packet_id;
	ev.payload = p->payload;
	ev.pkt = pkt;
	/* one_packet() checked the room; keep it from the callback's publishes. */
	c->tx_reserve = p->qos != 0 ? RP_MQTTC_ACK_MAX : 0;
	rc = answer_reason(c, emit(c, cb, ctx, &ev));
	c->tx_reserve = 0;
	if (p->qos == 0) {
		return RP_OK;
	}
	/* Delivered: remembered even if the callback closed the connection. */
	if (p->qos == 2u && rc < 0x80u) {
		c->rx_ids[c->rx_count++] = p->packet_id;
	}
	if (c->state != RP_MQTTC_CONNECTED) {
		return RP_OK;
	}
	return rp__mqttc_tx_ack(c, p->qos == 1u ? RP_MQTT_PUBACK : RP_MQTT_PUBREC, p->packet_id,
				rc);
}

static rp_status on_pubrel(rp_mqttc *c, const rp_mqtt_packet *pkt)
{
	uint16_t id = pkt->u.ack.packet_id;
	long i = rx_find(c, id);

	if (i < 0) {
		/* Released before (a resend after reconnect), or never ours. */
		return rp__mqttc_tx_ack(c, RP_MQTT_PUBCOMP, id, RP_MQTT_RC_PACKET_ID_NOT_FOUND);
	}
	c->rx_ids[i] = c->rx_ids[--c->rx_count];
	return rp__mqttc_tx_ack(c, RP_MQTT_PUBCOMP, id, 0);
}

/* ---- acknowledgements of ours ------------------------------------------ */

static rp_status on_pubrec(rp_mqttc *c, const rp_mqtt_packet *pkt, long i, rp_mqttc_event_fn cb,
			   void *ctx)
{
	const rp_mqtt_ack *a = &pkt->u.ack;
	rp_mqttc_slot *s;

	if (i < 0) {
		/* Not ours: MQTT 5 has a reason for it (4.3.3). */
		return rp__mqttc_tx_ack(c, RP_MQTT_PUBREL, a->packet_id,
					RP_MQTT_RC_PACKET_ID_NOT_FOUND);
	}
	s = &c->slots[i];
	if (s->qos != 2u) {
		return rp__mqttc_fail(c, RP_E_PROTOCOL, RP_MQTT_RC_PROTOCOL_ERROR);
	}
	if (s->stage == RP__MQTTC_WAIT_ACK && a->reason_code >= 0x80u) {
		slot_finish(c, (uint16_t)i, RP_MQTTC_EV_PUBLISH_DONE, a->reason_code, pkt, cb, ctx);
		return RP_OK;
	}
	/* First PUBREC, or a repeated one: (re)send PUBREL [MQTT-4.3.3-4]. */
	s->stage = RP__MQTTC_WAIT_COMP;
	s->flags = (uint8_t)((s->flags & ~RP__MQTTC_UNSENT) | RP__MQTTC_SENT);
	return rp__mqttc_tx_ack(c, RP_MQTT_PUBREL, a->packet_id, 0);
}

static rp_status on_ack(rp_mqttc *c, const rp_mqtt_packet *pkt, rp_mqttc_event_fn cb, void *ctx)
{
	long i = rp__mqttc_slot_find(c, pkt->u.ack.packet_id, RP__MQTTC_PUB);
	const rp_mqttc_slot *s;

	if (pkt->type == RP_MQTT_PUBREC) {
		return on_pubrec(c, pkt, i, cb, ctx);
	}
	if (i < 0) {
		return rp__mqttc_fail(c, RP_E_PROTOCOL, RP_MQTT_RC_PROTOCOL_ERROR);
	}
	s = &c->slots[i];
	/* PUBACK ends QoS 1; PUBCOMP ends QoS 2, and only after PUBREL. */
	if (pkt->type == RP_MQTT_PUBACK ? s->qos != 1u
					: s->qos != 2u || s->stage != RP__MQTTC_WAIT_COMP) {
		return rp__mqttc_fail(c, RP_E_PROTOCOL, RP_MQTT_RC_PROTOCOL_ERROR);
	}
	slot_finish(c, (uint16_t)i, RP_MQTTC_EV_PUBLISH_DONE, pkt->u.ack.reason_code, pkt, cb, ctx);
	return RP_OK;
}

static rp_status on_suback(rp_mqttc *c, const rp_mqtt_packet *pkt, rp_mqttc_event_fn cb, void *ctx)
{
	const rp_mqtt_suback *a = &pkt->u.suback;
	int sub = pkt->type == RP_MQTT_SUBACK;
	long i = rp__mqttc_slot_find(c, a->packet_id, sub ? RP__MQTTC_SUB : RP__MQTTC_UNSUB);
	rp_mqttc_event ev;

	/* One reason code per filter (3.9.3, 3.11.3); none in a 3.1.1 UNSUBACK. */
	if (i < 0 || ((sub || c->version == RP_MQTT_V5) && a->count != c->slots[i].count)) {
		return rp__mqttc_fail(c, RP_E_PROTOCOL, RP_MQTT_RC_PROTOCOL_ERROR);
	}
	rp__mqttc_slot_remove(c, (uint16_t)i);
	memset(&ev, 0, sizeof(ev));
	ev.type = sub ? RP_MQTTC_EV_SUBACK : RP_MQTTC_EV_UNSUBACK;
	ev.packet_id = a->packet_id;
	ev.count = a->count;
	ev.reason_codes = a->reason_codes;
	ev.pkt = pkt;
	(void)emit(c, cb, ctx, &ev);
	return RP_OK;
}

static rp_status on_disconnect(rp_mqttc *c, const rp_mqtt_packet *pkt, rp_mqttc_event_fn cb,
			       void *ctx)
{
	rp_mqttc_event ev;

	/* A 3.1.1 server never sends DISCONNECT; an MQTT 5 one may, any time. */
	if (c->version != RP_MQTT_V5) {
		return rp__mqttc_fail(c, RP_E_PROTOCOL, RP_MQTT_RC_PROTOCOL_ERROR);
	}
	c->state = RP_MQTTC_CLOSED;
	c->error = RP_E_CLOSED;
	c->reason = pkt->u.disconnect.reason_code;
	c->ping_owed = 0;
	memset(&ev, 0, sizeof(ev));
	ev.type = RP_MQTTC_EV_DISCONNECT;
	ev.reason_code = pkt->u.disconnect.reason_code;
	ev.pkt = pkt;
	(void)emit(c, cb, ctx, &ev);
	return RP_OK;
}

/* ---- dispatch ---------------------------------------------------------- */

static rp_status dispatch(rp_mqttc *c, const rp_mqtt_packet *pkt, rp_mqttc_event_fn cb, void *ctx)
{
	/* An MQTT 5 server may end the connection at any time, even before CONNACK. */
	if (pkt->type == RP_MQTT_DISCONNECT) {
		return on_disconnect(c, pkt, cb, ctx);
	}
	/* CONNACK is the first packet from the server, and comes once (3.2). */
	if ((c->state == RP_MQTTC_CONNECTING) != (pkt->type == RP_MQTT_CONNACK)) {
		return rp__mqttc_fail(c, RP_E_PROTOCOL, RP_MQTT_RC_PROTOCOL_ERROR);
	}
	switch (pkt->type) {
	case RP_MQTT_CONNACK:
		return on_connack(c, pkt, cb, ctx);
	case RP_MQTT_PUBLISH:
		return on_publish(c, pkt, cb, ctx);
	case RP_MQTT_PUBACK:
	case RP_MQTT_PUBREC:
	case RP_MQTT_PUBCOMP:
		return on_ack(c, pkt, cb, ctx);
	case RP_MQTT_PUBREL:
		return on_pubrel(c, pkt);
	case RP_MQTT_SUBACK:
	case RP_MQTT_UNSUBACK:
		return on_suback(c, pkt, cb, ctx);
	case RP_MQTT_PINGRESP:
		return RP_OK; /* any packet ends the wait: see one_packet() */
	default:
		/* CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ; AUTH was never asked for. */
		return rp__mqttc_fail(c, RP_E_PROTOCOL, RP_MQTT_RC_PROTOCOL_ERROR);
	}
}

/* 1 if the client answers a packet with this fixed header. */
static int needs_answer(const rp_mqtt_frame *f)
{
	return (f->type == RP_MQTT_PUBLISH && (f->flags & 0x06u) != 0) ||
	       f->type == RP_MQTT_PUBREC || f->type == RP_MQTT_PUBREL;
}

/* Reads one packet at p[0 .. len); *n is its size when it was read. */
static rp_status one_packet(rp_mqttc *c, const uint8_t *p, size_t len, size_t *n,
			    rp_mqttc_event_fn cb, void *ctx)
{
	rp_mqtt_packet pkt;
	rp_mqtt_frame f;
	rp_status st;

	/* The header alone decides type, flags and size: refuse before the body. */
	st = rp_mqtt_frame_parse(p, len, c->version, c->lim.max_packet, &f, NULL);
	if (st == RP_NEED_MORE) {
		return st;
	}
	if (st == RP_OK && needs_answer(&f) && rp__mqttc_room(c) < RP_MQTTC_ACK_MAX) {
		return RP_E_BUSY;
	}
	if (st == RP_OK) {
		st = rp_mqtt_decode(p, f.total, c->version, &c->lim, &pkt, NULL);
	}
	if (st != RP_OK) {
		return rp__mqttc_fail(c, st, rp_mqtt_reason_for(st));
	}
	*n = f.total;
	/* Any packet shows the server alive: no PINGREQ or PINGRESP needed now. */
	c->ping_wait = 0;
	c->ping_owed = 0;
	return dispatch(c, &pkt, cb, ctx);
}

rp_status rp_mqttc_input(rp_mqttc *c, const uint8_t *buf, size_t len, uint64_t now_ms, size_t *used,
			 rp_mqttc_event_fn on_event, void *ctx)
{
	rp_status st;
	size_t n;

	if (c == NULL || used == NULL || (buf == NULL && len != 0)) {
		return RP_E_INVALID_ARG;
	}
	*used = 0;
	if (c->in_callback || (c->state != RP_MQTTC_CONNECTING && c->state != RP_MQTTC_CONNECTED)) {
		return RP_E_STATE;
	}
	if (now_ms > c->now) {
		c->now = now_ms;
	}
	while (*used < len) {
		if (c->state != RP_MQTTC_CONNECTING && c->state != RP_MQTTC_CONNECTED) {
			return RP_OK; /* closed normally: the rest is not read */
		}
		n = 0;
		st = one_packet(c, buf + *used, len - *used, &n, on_event, ctx);
		if (st != RP_OK) {
			return st; /* *used: the start of the packet not read */
		}
		*used += n;
	}
	return RP_OK;
}
