/*
 * client.c - the MQTT client state machine: the application's calls,
 * output, time. Input from the server is client_rx.c.
 *
 * State
 * - state: IDLE -> CONNECTING (CONNECT queued) -> CONNECTED (CONNACK 0)
 *   -> CLOSED (refusal, DISCONNECT either way, violation, timeout); reset()
 *   goes back to IDLE from anywhere and keeps the session.
 * - Output: tx[tx_head .. tx_tail) is waiting to be sent. New packets go at
 *   tx_tail; the waiting bytes are moved to the front only when a packet
 *   would not fit behind them. tx_reserve bytes are kept free while an
 *   event callback runs, for the PUBACK or PUBREC that answers the message
 *   being reported, so that a publish from the callback cannot take them.
 * - Slots: slots[0 .. nused) are the QoS 1/2 PUBLISHes, SUBSCRIBEs and
 *   UNSUBSCRIBEs waiting for an answer, in the order they were published:
 *   a removal closes the gap. A PUBLISH slot marked UNSENT still has its
 *   packet (PUBLISH, or PUBREL at stage WAIT_COMP) to write; the pump
 *   writes them in order and stops at the first that does not fit, so the
 *   server sees them in order (MQTT 5.0 section 4.6), including after a
 *   reconnect, when every PUBLISH slot is UNSENT again.
 * - Received QoS 2 packet identifiers: rx_ids[0 .. rx_count), unordered.
 *
 * Invariants
 * - tx_head <= tx_tail <= txcap, and tx_tail - tx_head + tx_reserve <= txcap.
 * - Packet identifiers of the slots are distinct and never 0.
 * - The PUBLISH slots written since the last CONNACK never outnumber the
 *   server's Receive Maximum (publish refuses past it; the pump stops at it).
 * - Every byte in tx is a packet the codec validated for the connection's
 *   version: the client never sends what its own decoder would refuse.
 *
 * Attacker: the server, through rp_mqttc_input() (client_rx.c). Nothing
 * here reads network bytes; CONNACK values that shape what is sent (Receive
 * Maximum, Maximum Packet Size, Maximum QoS) arrive decoded and range
 * checked by the codec.
 */
#include <string.h>

#include "client_int.h"

void rp_mqttc_config_default(rp_mqttc_config *cfg)
{
	if (cfg == NULL) {
		return;
	}
	memset(cfg, 0, sizeof(*cfg));
	cfg->version = RP_MQTT_V5;
	rp_mqtt_limits_default(&cfg->limits);
	cfg->response_timeout_ms = RP_MQTTC_DEFAULT_RESPONSE_TIMEOUT_MS;
}

/* Topic aliases: each entry is a 2-byte length and max_topic_len bytes. */
static void alias_setup(rp_mqttc *c, const rp_mqttc_config *cfg)
{
	size_t n;

	c->alias_entry = 2u + (size_t)c->lim.max_topic_len;
	n = cfg->alias_buf != NULL ? cfg->alias_cap / c->alias_entry : 0;
	c->alias_max = (uint16_t)(n > 65535u ? 65535u : n);
	c->alias_buf = c->alias_max != 0 ? cfg->alias_buf : NULL;
}

rp_status rp_mqttc_init(rp_mqttc *c, const rp_mqttc_config *cfg, rp_mqttc_slot *slots,
			size_t nslots, uint8_t *txbuf, size_t txcap)
{
	if (c == NULL || cfg == NULL || slots == NULL || nslots == 0 || txbuf == NULL ||
	    txcap < RP_MQTTC_TXBUF_MIN || cfg->rx_ids == NULL || cfg->receive_max == 0 ||
	    (cfg->version != RP_MQTT_V311 && cfg->version != RP_MQTT_V5)) {
		return RP_E_INVALID_ARG;
	}
	memset(c, 0, sizeof(*c));
	c->version = cfg->version;
	c->lim = cfg->limits;
	(void)rp_mqtt_limits_clamp(&c->lim);
	c->lim_out = c->lim;
	c->lim_out.max_packet = RP__MQTTC_PROTOCOL_MAX;
	c->timeout_ms = cfg->response_timeout_ms != 0 ? cfg->response_timeout_ms
						      : RP_MQTTC_DEFAULT_RESPONSE_TIMEOUT_MS;
	c->rx_ids = cfg->rx_ids;
	c->rx_max = cfg->receive_max;
	alias_setup(c, cfg);
	c->slots = slots;
	c->nslots = (uint16_t)(nslots > 65535u ? 65535u : nslots);
	c->tx = txbuf;
	c->txcap = txcap;
	c->next_id = 1;
	c->state = RP_MQTTC_IDLE;
	c->error = RP_OK;
	return RP_OK;
}

/* ---- output ------------------------------------------------------------ */

size_t rp__mqttc_room(const rp_mqttc *c)
{
	size_t taken = c->tx_tail - c->tx_head + c->tx_reserve;

	return taken >= c->txcap ? 0 : c->txcap - taken;
}

rp_status rp__mqttc_tx(rp_mqttc *c, const rp_mqtt_packet *pkt)
{
	size_t size = 0, n = 0;
	rp_status st;

	st = rp_mqtt_encoded_size(pkt, c->version, &c->lim_out, &size);
	if (st != RP_OK) {
		return st;
	}
	if (size > c->txcap) {
		return RP_E_BUF_TOO_SMALL;
	}
	if (size > rp__mqttc_room(c)) {
		return RP_E_BUSY;
	}
	/* Room exists in all, but perhaps not behind the waiting bytes. */
	if (c->txcap - c->tx_tail < size) {
		memmove(c->tx, c->tx + c->tx_head, c->tx_tail - c->tx_head);
		c->tx_tail -= c->tx_head;
		c->tx_head = 0;
	}
	st = rp_mqtt_encode(pkt, c->version, &c->lim_out, c->tx + c->tx_tail, c->txcap - c->tx_tail,
			    &n);
	if (st == RP_OK) {
		c->tx_tail += n;
		/* Keep alive counts from here; c->now is never later than the truth. */
		c->last_tx = c->now;
	}
	return st;
}

rp_status rp__mqttc_tx_ack(rp_mqttc *c, uint8_t type, uint16_t packet_id, uint8_t reason_code)
{
	rp_mqtt_packet pkt;

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = type;
	pkt.u.ack.packet_id = packet_id;
	pkt.u.ack.reason_code = c->version == RP_MQTT_V5 ? reason_code : 0;
	return rp__mqttc_tx(c, &pkt);
}

static rp_status tx_simple(rp_mqttc *c, uint8_t type, uint8_t reason_code)
{
	rp_mqtt_packet pkt;

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = type;
	pkt.u.disconnect.reason_code = c->version == RP_MQTT_V5 ? reason_code : 0;
	return rp__mqttc_tx(c, &pkt);
}

void rp__mqttc_slot_packet(const rp_mqttc *c, const rp_mqttc_slot *s, rp_mqtt_packet *pkt)
{
	(void)c;
	memset(pkt, 0, sizeof(*pkt));
	if (s->stage == RP__MQTTC_WAIT_COMP) {
		pkt->type = RP_MQTT_PUBREL;
		pkt->u.ack.packet_id = s->packet_id;
		return;
	}
	pkt->type = RP_MQTT_PUBLISH;
	pkt->u.publish.qos = s->qos;
	pkt->u.publish.dup = (s->flags & RP__MQTTC_SENT) ? 1u : 0u;
	pkt->u.publish.retain = (s->flags & RP__MQTTC_RETAIN) ? 1u : 0u;
	pkt->u.publish.packet_id = s->packet_id;
	pkt->u.publish.topic = s->topic;
	pkt->u.publish.payload = s->payload;
	if (s->props != NULL) {
		pkt->u.publish.props = *s->props;
	}
}

/* In client.c, not client_rx.c, so that its packet is not on the input path's frame. */
int rp__mqttc_slot_fits(const rp_mqttc *c, const rp_mqttc_slot *s)
{
	rp_mqtt_packet pkt;
	size_t size;

	rp__mqttc_slot_packet(c, s, &pkt);
	return rp_mqtt_encoded_size(&pkt, c->version, &c->lim_out, &size) == RP_OK;
}

/* Writes the slots still to be written, in order, within the server's quota. */
static void pump_slots(rp_mqttc *c)
{
	rp_mqtt_packet pkt;
	uint32_t npub = 0;
	uint16_t i;

	for (i = 0; i < c->nused; i++) {
		rp_mqttc_slot *s = &c->slots[i];

		if (s->kind != RP__MQTTC_PUB) {
			continue;
		}
		npub++;
		if ((s->flags & RP__MQTTC_UNSENT) == 0) {
			continue;
		}
		/* After a reconnect the server's Receive Maximum may be lower. */
		if (npub > c->server_rmax) {
			return;
		}
		rp__mqttc_slot_packet(c, s, &pkt);
		if (rp__mqttc_tx(c, &pkt) != RP_OK) {
			return; /* no room: the rest waits, in order */
		}
		s->flags = (uint8_t)((s->flags & ~RP__MQTTC_UNSENT) | RP__MQTTC_SENT);
	}
}

void rp__mqttc_pump(rp_mqttc *c)
{
	if (c->disconnect_owed) {
		if (tx_simple(c, RP_MQTT_DISCONNECT, c->reason) == RP_OK) {
			c->disconnect_owed = 0;
		}
		return;
	}
	if (c->state != RP_MQTTC_CONNECTED) {
		return;
	}
	if (c->ping_owed && tx_simple(c, RP_MQTT_PINGREQ, 0) == RP_OK) {
		c->ping_owed = 0;
	}
	pump_slots(c);
}

rp_status rp__mqttc_fail(rp_mqttc *c, rp_status st, uint8_t reason)
{
	/* A reason DISCONNECT cannot carry (0x84 for a CONNECT) is a protocol error. */
	if (!rp_mqtt_reason_valid(RP_MQTT_DISCONNECT, RP_MQTT_V5, reason) || reason < 0x80u) {
		reason = RP_MQTT_RC_PROTOCOL_ERROR;
	}
	c->state = RP_MQTTC_CLOSED;
	c->error = st;
	c->reason = reason;
	c->ping_owed = 0;
	/* 3.1.1 has no reason codes, and its DISCONNECT would discard the will. */
	c->disconnect_owed = c->version == RP_MQTT_V5;
	rp__mqttc_pump(c);
	return st;
}

rp_status rp_mqttc_output(rp_mqttc *c, const uint8_t **out, size_t *out_len)
{
	if (c == NULL || out == NULL || out_len == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (c->in_callback) {
		return RP_E_STATE;
	}
	rp__mqttc_pump(c);
	*out = c->tx + c->tx_head;
	*out_len = c->tx_tail - c->tx_head;
	return RP_OK;
}

rp_status rp_mqttc_consumed(rp_mqttc *c, size_t n)
{
	if (c == NULL || n > c->tx_tail - c->tx_head) {
		return RP_E_INVALID_ARG;
	}
	if (c->in_callback) {
		return RP_E_STATE;
	}
	c->tx_head += n;
	if (c->tx_head == c->tx_tail) {
		c->tx_head = 0;
		c->tx_tail = 0;
	}
	return RP_OK;
}

/* ---- slots ------------------------------------------------------------- */

long rp__mqttc_slot_find(const rp_mqttc *c, uint16_t packet_id, uint8_t kind)
{
	uint16_t i;

	for (i = 0; i < c->nused; i++) {
		if (c->slots[i].packet_id == packet_id && (kind == 0 || c->slots[i].kind == kind)) {
			return (long)i;
		}
	}
	return -1;
}

void rp__mqttc_slot_remove(rp_mqttc *c, uint16_t i)
{
	memmove(&c->slots[i], &c->slots[i + 1u], (size_t)(c->nused - i - 1u) * sizeof(c->slots[0]));
	c->nused--;
}

/*
 * The next packet identifier no slot holds. Callers check nused < nslots
 * <= 65535 first, so at most 65534 identifiers are taken and the loop ends.
 */
static uint16_t new_packet_id(rp_mqttc *c)
{
	for (;;) {
		uint16_t id = c->next_id;

		c->next_id = (uint16_t)(id == 65535u ? 1u : id + 1u);
		if (rp__mqttc_slot_find(c, id, 0) < 0) {
			return id;
		}
	}
}

static rp_mqttc_slot *slot_add(rp_mqttc *c, uint8_t kind)
{
	rp_mqttc_slot *s = &c->slots[c->nused++];

	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->packet_id = new_packet_id(c);
	return s;
}

static uint32_t pub_count(const rp_mqttc *c)
{
	uint32_t n = 0;
	uint16_t i;

	for (i = 0; i < c->nused; i++) {
		n += c->slots[i].kind == RP__MQTTC_PUB;
	}
	return n;
}

static int has_unsent(const rp_mqttc *c)
{
	uint16_t i;

	for (i = 0; i < c->nused; i++) {
		if (c->slots[i].flags & RP__MQTTC_UNSENT) {
			return 1;
		}
	}
	return 0;
}

/* ---- connect ----------------------------------------------------------- */

/* The properties the client owns in its CONNECT (MQTT 5). */
static void connect_props(const rp_mqttc *c, rp_mqtt_props *p)
{
	const uint64_t owned = RP_MQTT_HAS(RP_MQTT_PROP_RECEIVE_MAX) |
			       RP_MQTT_HAS(RP_MQTT_PROP_MAX_PACKET_SIZE) |
			       RP_MQTT_HAS(RP_MQTT_PROP_TOPIC_ALIAS_MAX);

	p->present &= ~owned;
	/* 65535 is the value when absent (3.1.2.11.3). */
	if (c->rx_max != 65535u) {
		p->present |= RP_MQTT_HAS(RP_MQTT_PROP_RECEIVE_MAX);
		p->receive_max = c->rx_max;
	}
	p->present |= RP_MQTT_HAS(RP_MQTT_PROP_MAX_PACKET_SIZE);
	p->max_packet_size = c->lim.max_packet;
	if (c->alias_max != 0) {
		p->present |= RP_MQTT_HAS(RP_MQTT_PROP_TOPIC_ALIAS_MAX);
		p->topic_alias_max = c->alias_max;
	}
}

/* What the connection starts with, before CONNACK says otherwise. */
static void connection_defaults(rp_mqttc *c)
{
	uint16_t i;

	c->lim_out.max_packet = RP__MQTTC_PROTOCOL_MAX;
	c->server_rmax = 65535u;
	c->server_max_qos = 2u;
	c->server_retain = 1u;
	c->ping_owed = 0;
	c->ping_wait = 0;
	/* Topic aliases live as long as one network connection (3.3.2.3.4). */
	for (i = 0; i < c->alias_max; i++) {
		c->alias_buf[(size_t)i * c->alias_entry] = 0;
		c->alias_buf[(size_t)i * c->alias_entry + 1u] = 0;
	}
}

rp_status rp_mqttc_connect(rp_mqttc *c, const rp_mqtt_connect *opts, uint64_t now_ms)
{
	rp_mqtt_packet pkt;
	rp_status st;

	if (c == NULL || opts == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (c->state != RP_MQTTC_IDLE || c->in_callback) {
		return RP_E_STATE;
	}
	if (opts->props.present & RP_MQTT_HAS(RP_MQTT_PROP_AUTH_METHOD)) {
		return RP_E_INVALID_ARG; /* AUTH exchanges are not supported */
	}
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = RP_MQTT_CONNECT;
	pkt.u.connect = *opts;
	pkt.u.connect.version = c->version;
	if (c->version == RP_MQTT_V5) {
		connect_props(c, &pkt.u.connect.props);
	}
	if (now_ms > c->now) {
		c->now = now_ms;
	}
	connection_defaults(c);
	st = rp__mqttc_tx(c, &pkt);
	if (st != RP_OK) {
		return st;
	}
	c->state = RP_MQTTC_CONNECTING;
	c->clean_start = opts->clean_start ? 1u : 0u;
	c->keepalive_ms = (uint32_t)opts->keepalive * 1000u;
	c->connect_sent = c->now;
	return RP_OK;
}

/* ---- publish, subscribe, disconnect ------------------------------------ */

/* What the server said it accepts, and what a client may not send. */
static rp_status publish_allowed(const rp_mqttc *c, const rp_mqttc_message *msg)
{
	if (msg->props != NULL && ((msg->props->present & RP_MQTT_HAS(RP_MQTT_PROP_TOPIC_ALIAS)) ||
				   msg->props->sub_id_count != 0)) {
		return RP_E_INVALID_ARG; /* [MQTT-3.3.4-6]; no outgoing aliases */
	}
	if (msg->qos > c->server_max_qos) {
		return RP_E_QOS; /* [MQTT-3.2.2-11] */
	}
	if (msg->retain && !c->server_retain) {
		return RP_E_DENIED; /* [MQTT-3.2.2-14] */
	}
	return RP_OK;
}

rp_status rp_mqttc_publish(rp_mqttc *c, const rp_mqttc_message *msg, uint16_t *packet_id)
{
	rp_mqttc_slot probe, *s;
	rp_mqtt_packet pkt;
	size_t size = 0;
	rp_status st;

	if (c == NULL || msg == NULL || msg->qos > 2u || (msg->qos != 0 && packet_id == NULL)) {
		return RP_E_INVALID_ARG;
	}
	if (c->state != RP_MQTTC_CONNECTED) {
		return RP_E_STATE;
	}
	st = publish_allowed(c, msg);
	if (st != RP_OK) {
		return st;
	}
	memset(&probe, 0, sizeof(probe));
	probe.kind = RP__MQTTC_PUB;
	probe.topic = msg->topic;
	probe.payload = msg->payload;
	probe.props = msg->props;
	probe.qos = msg->qos;
	probe.flags = msg->retain ? RP__MQTTC_RETAIN : 0;
	probe.packet_id = 1; /* any identifier: the size does not depend on it */
	rp__mqttc_slot_packet(c, &probe, &pkt);
	st = rp_mqtt_encoded_size(&pkt, c->version, &c->lim_out, &size);
	if (st != RP_OK) {
		return st;
	}
	if (size > c->txcap) {
		return RP_E_BUF_TOO_SMALL;
	}
	if (msg->qos == 0) {
		/* Not ahead of QoS 1/2 messages still waiting for room. */
		return has_unsent(c) ? RP_E_BUSY : rp__mqttc_tx(c, &pkt);
	}
	if (c->nused >= c->nslots || pub_count(c) >= c->server_rmax) {
		return RP_E_BUSY;
	}
	s = slot_add(c, RP__MQTTC_PUB);
	probe.packet_id = s->packet_id;
	probe.flags |= RP__MQTTC_UNSENT;
	*s = probe;
	*packet_id = s->packet_id;
	rp__mqttc_pump(c);
	return RP_OK;
}

static rp_status sub_common(rp_mqttc *c, uint8_t type, const rp_mqtt_sub_entry *entries,
			    uint16_t count, const rp_mqtt_props *props, uint16_t *packet_id)
{
	rp_mqtt_packet pkt;
	rp_mqttc_slot *s;
	rp_status st;

	if (c == NULL || entries == NULL || count == 0 || packet_id == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (c->state != RP_MQTTC_CONNECTED) {
		return RP_E_STATE;
	}
	if (c->nused >= c->nslots) {
		return RP_E_BUSY;
	}
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = type;
	pkt.u.subscribe.count = count;
	pkt.u.subscribe.entries = entries;
	if (props != NULL) {
		pkt.u.subscribe.props = *props;
	}
	/* Taken only if the packet is written; the identifier is free till then. */
	s = slot_add(c, type == RP_MQTT_SUBSCRIBE ? RP__MQTTC_SUB : RP__MQTTC_UNSUB);
	pkt.u.subscribe.packet_id = s->packet_id;
	st = rp__mqttc_tx(c, &pkt);
	if (st != RP_OK) {
		c->nused--;
		return st;
	}
	s->count = count;
	*packet_id = s->packet_id;
	return RP_OK;
}

rp_status rp_mqttc_subscribe(rp_mqttc *c, const rp_mqtt_sub_entry *entries, uint16_t count,
			     const rp_mqtt_props *props, uint16_t *packet_id)
{
	return sub_common(c, RP_MQTT_SUBSCRIBE, entries, count, props, packet_id);
}

rp_status rp_mqttc_unsubscribe(rp_mqttc *c, const rp_mqtt_sub_entry *entries, uint16_t count,
			       const rp_mqtt_props *props, uint16_t *packet_id)
{
	return sub_common(c, RP_MQTT_UNSUBSCRIBE, entries, count, props, packet_id);
}

rp_status rp_mqttc_disconnect(rp_mqttc *c, uint8_t reason_code)
{
	if (c == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (c->state != RP_MQTTC_CONNECTING && c->state != RP_MQTTC_CONNECTED) {
		return RP_E_STATE;
	}
	if (c->version == RP_MQTT_V5 &&
	    !rp_mqtt_reason_valid(RP_MQTT_DISCONNECT, RP_MQTT_V5, reason_code)) {
		return RP_E_INVALID_ARG;
	}
	c->state = RP_MQTTC_CLOSED;
	c->error = RP_OK;
	c->reason = c->version == RP_MQTT_V5 ? reason_code : 0;
	c->ping_owed = 0;
	c->disconnect_owed = 1;
	rp__mqttc_pump(c);
	return RP_OK;
}

/* ---- time -------------------------------------------------------------- */

static rp_status timed_out(rp_mqttc *c)
{
	/* No DISCONNECT: the connection is presumed dead, writing may block. */
	c->state = RP_MQTTC_CLOSED;
	c->error = RP_E_TIMEOUT;
	c->ping_owed = 0;
	return RP_E_TIMEOUT;
}

/* Keep alive of a connected client: PINGREQ when due, then its deadline. */
static rp_status keepalive(rp_mqttc *c, uint64_t *next)
{
	uint64_t due;

	if (c->keepalive_ms == 0) {
		return RP_OK;
	}
	if (!c->ping_wait) {
		due = c->last_tx + c->keepalive_ms;
		if (c->now < due) {
			*next = due;
			return RP_OK;
		}
		c->ping_owed = 1;
		c->ping_wait = 1;
		c->ping_sent = c->now;
		rp__mqttc_pump(c);
	}
	due = c->ping_sent + c->timeout_ms;
	if (c->now >= due) {
		return timed_out(c);
	}
	*next = due;
	return RP_OK;
}

rp_status rp_mqttc_tick(rp_mqttc *c, uint64_t now_ms, uint64_t *next_deadline_ms)
{
	uint64_t due;

	if (c == NULL || next_deadline_ms == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (c->in_callback) {
		return RP_E_STATE;
	}
	*next_deadline_ms = RP_MQTTC_NO_DEADLINE;
	if (now_ms > c->now) {
		c->now = now_ms;
	}
	if (c->state == RP_MQTTC_CONNECTING) {
		due = c->connect_sent + c->timeout_ms;
		if (c->now >= due) {
			return timed_out(c);
		}
		*next_deadline_ms = due;
		return RP_OK;
	}
	if (c->state == RP_MQTTC_CONNECTED) {
		return keepalive(c, next_deadline_ms);
	}
	return RP_OK;
}

/* ---- reset and queries ------------------------------------------------- */

rp_status rp_mqttc_reset(rp_mqttc *c)
{
	uint16_t i = 0;

	if (c == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (c->in_callback) {
		return RP_E_STATE;
	}
	/* (UN)SUBSCRIBEs are not resent (4.4): their acks will never come. */
	while (i < c->nused) {
		if (c->slots[i].kind != RP__MQTTC_PUB) {
			rp__mqttc_slot_remove(c, i);
			continue;
		}
		/* Every PUBLISH and PUBREL in flight is sent again on resumption. */
		c->slots[i].flags |= RP__MQTTC_UNSENT;
		i++;
	}
	c->state = RP_MQTTC_IDLE;
	c->error = RP_OK;
	c->reason = 0;
	c->tx_head = 0;
	c->tx_tail = 0;
	c->tx_reserve = 0;
	c->disconnect_owed = 0;
	c->ping_owed = 0;
	c->ping_wait = 0;
	return RP_OK;
}

rp_mqttc_state rp_mqttc_get_state(const rp_mqttc *c)
{
	return c != NULL ? (rp_mqttc_state)c->state : RP_MQTTC_IDLE;
}

rp_status rp_mqttc_error(const rp_mqttc *c)
{
	return c != NULL ? c->error : RP_E_INVALID_ARG;
}

uint8_t rp_mqttc_reason(const rp_mqttc *c)
{
	return c != NULL ? c->reason : 0;
}

size_t rp_mqttc_inflight(const rp_mqttc *c)
{
	return c != NULL ? c->nused : 0;
}
