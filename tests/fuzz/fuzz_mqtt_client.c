/*
 * fuzz_mqtt_client.c - libFuzzer target for the MQTT client state machine
 * (rampart/mqtt_client.h): a hostile server, and an application that does
 * whatever the input says in between.
 *
 * Input: two option bytes, then a script of operations. Each operation is
 * one byte, op = byte >> 5 and arg = byte & 31, some followed by data:
 *   0 FEED     n bytes of server data follow (n = arg + 1 for arg < 24, else
 *              (arg - 23) * 64); they are appended to the caller's receive
 *              buffer and rp_mqttc_input() reads it; unused bytes are kept
 *   1 PUBLISH  qos = arg & 3 (3 means 1), retain = arg & 4, payload length
 *              0, 5, 100 or 600 bytes (arg >> 3)
 *   2 SUB      arg & 1: subscribe, else unsubscribe; (arg >> 1 & 3) + 1 filters
 *   3 TICK     the clock moves by 0, 100 ms, 1 s, 5 s, 10 s, 30 s, 60 s or
 *              10 min (arg & 7), then rp_mqttc_tick()
 *   4 DRAIN    everything (arg 31) or arg * 3 bytes of output are sent
 *   5 RECONNECT rp_mqttc_reset(), then rp_mqttc_connect(), clean start = arg & 1
 *   6 DISCONNECT rp_mqttc_disconnect() with a reason from a small table
 *   7 MODE     what the event callback answers and does (see on_event)
 * Option byte 0: bit 0 version (0: MQTT 5, 1: 3.1.1); bits 1-2 output
 * buffer (32, 48, 256, 2048 bytes; an MQTT 5 CONNECT does not fit in 32); bits 3-4 slots (1, 2, 4,
 * 8); bits 5-6 receive maximum (1, 2, 4, 8); bit 7 clean start of the first CONNECT. Option byte 1:
 * bits 0-1 max_packet (64, 256, 1024, 8192); bit 2 topic alias table; bits 3-4 keep alive (0, 1,
 * 10, 60 s); bits 5-7 first MODE.
 *
 * Oracles (any failure aborts):
 * - every byte the client writes decodes, as a server decodes it, into a
 *   valid packet of the connection's version, starting with CONNECT, none
 *   after its DISCONNECT, none larger than the server's Maximum Packet
 *   Size, each of a type a client sends; a PUBLISH, PUBREL, SUBSCRIBE or
 *   UNSUBSCRIBE carries a packet identifier the client holds (per a mirror
 *   of what the application published and what was reported finished);
 *   its DISCONNECT carries rp_mqttc_reason();
 * - events: one CONNACK per connection; PUBLISH_DONE and PUBLISH_LOST only
 *   for messages in flight, each once, with their QoS; a session not
 *   resumed loses every message before the CONNACK is reported; SUBACK
 *   and UNSUBACK only for requests in flight, with one code per filter;
 *   a received QoS 2 message is reported at most once until the client
 *   has answered its PUBREL (exactly once); views lie in the receive
 *   buffer, the alias table or the application's own memory;
 * - statuses: rp_mqttc_input() uses whole packets only, never more than
 *   given, asks for more only below max_packet, and an error leaves the
 *   client CLOSED with that error; tick deadlines lie in the future;
 *   rp_mqttc_inflight() matches the mirror; the output buffer indices
 *   stay in bounds.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/limits.h"
#include "rampart/mqtt.h"
#include "rampart/mqtt_client.h"
#include "rampart/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			check_failed(#cond, __LINE__);                                             \
		}                                                                                  \
	} while (0)

#define RX_CAP    8192u
#define OUT_CAP   8192u
#define MAX_OPS   4096u
#define MAX_SLOTS 8u
#define TOPIC_MAX 64u

_Noreturn static void check_failed(const char *what, int line)
{
	fprintf(stderr, "fuzz_mqtt_client: invariant failed at line %d: %s\n", line, what);
	abort();
}

/* The application's messages: memory that outlives every publish. */
static const uint8_t topic_bytes[] = "d/1/telemetry";
static uint8_t payload_bytes[600];
static const rp_mqtt_sub_entry filters[4] = {
	{{(const uint8_t *)"d/1/cmd/#", 9}, 1, 0, 0, 0},
	{{(const uint8_t *)"d/1/ota/+", 9}, 2, 0, 0, 0},
	{{(const uint8_t *)"$rampart/x", 10}, 0, 0, 0, 0},
	{{(const uint8_t *)"a", 1}, 2, 0, 0, 0},
};

struct inflight {
	uint16_t id;
	uint8_t kind; /* 1 publish, 2 subscribe, 3 unsubscribe */
	uint8_t qos;
	uint16_t count;
	uint16_t epoch; /* the connection it was issued on */
};

/*
 * The latest issue of each packet identifier. The output is checked when
 * the harness drains it, and a hostile server may have acknowledged a
 * packet (by guessing its identifier) before then, so "still in flight"
 * would be the wrong test: "issued as this" is the right one. Identifiers
 * are not reused before 65535 others, more than one input issues.
 */
static struct issued {
	uint32_t run; /* the entry is valid when this is the current run */
	uint8_t kind;
	uint8_t qos;
	uint16_t count;
} issued[65536];
static uint32_t run; /* so that no input pays for clearing the table */

static struct fz {
	rp_mqttc c;
	rp_mqttc_config cfg;
	rp_mqttc_slot slots[MAX_SLOTS];
	uint16_t rx_ids[8];
	uint8_t tx[2048];
	uint8_t alias[4 * (2 + TOPIC_MAX)];
	uint8_t rx[RX_CAP];
	size_t rx_len;

	struct inflight fl[MAX_SLOTS];
	size_t nfl;
	uint16_t epoch;
	size_t srv_cursor;     /* server packets in rx before it are accounted for */
	uint16_t delivered[8]; /* QoS 2 reported, not yet released */
	size_t ndelivered;
	uint32_t server_max;
	int connack_seen;
	int out_closed;
	int expect_connect;

	uint8_t out[OUT_CAP];
	size_t out_len;

	uint8_t version;
	uint8_t mode;
	uint64_t now;
} F;

/* ---- mirror of what is in flight --------------------------------------- */

static long fl_find(uint16_t id, uint8_t kind)
{
	size_t i;

	for (i = 0; i < F.nfl; i++) {
		if (F.fl[i].id == id && F.fl[i].kind == kind) {
			return (long)i;
		}
	}
	return -1;
}

static void fl_add(uint16_t id, uint8_t kind, uint8_t qos, uint16_t count)
{
	size_t i;

	CHECK(id != 0);
	for (i = 0; i < F.nfl; i++) {
		CHECK(F.fl[i].id != id); /* identifiers in flight are distinct */
	}
	CHECK(F.nfl < MAX_SLOTS);
	F.fl[F.nfl].id = id;
	F.fl[F.nfl].kind = kind;
	F.fl[F.nfl].qos = qos;
	F.fl[F.nfl].count = count;
	F.fl[F.nfl].epoch = F.epoch;
	F.nfl++;
	issued[id].run = run;
	issued[id].kind = kind;
	issued[id].qos = qos;
	issued[id].count = count;
}

static void fl_remove(long i)
{
	CHECK(i >= 0 && (size_t)i < F.nfl);
	F.fl[i] = F.fl[--F.nfl];
}

static long delivered_find(uint16_t id)
{
	size_t i;

	for (i = 0; i < F.ndelivered; i++) {
		if (F.delivered[i] == id) {
			return (long)i;
		}
	}
	return -1;
}

static int in_range(const uint8_t *p, size_t len, const uint8_t *base, size_t cap)
{
	return p >= base && len <= cap && (size_t)(p - base) <= cap - len;
}

/* ---- the application --------------------------------------------------- */

static void app_publish(uint8_t arg)
{
	static const uint32_t lens[4] = {0, 5, 100, 600};
	rp_mqttc_message m;
	uint16_t id = 0;
	rp_status st;

	memset(&m, 0, sizeof(m));
	m.topic.p = topic_bytes;
	m.topic.len = sizeof(topic_bytes) - 1;
	m.payload.p = payload_bytes;
	m.payload.len = lens[(arg >> 3) & 3];
	m.qos = (arg & 3) == 3 ? 1 : arg & 3;
	m.retain = (arg & 4) != 0;
	st = rp_mqttc_publish(&F.c, &m, &id);
	CHECK(st == RP_OK || st == RP_E_BUSY || st == RP_E_STATE || st == RP_E_TOO_LARGE ||
	      st == RP_E_BUF_TOO_SMALL || st == RP_E_QOS || st == RP_E_DENIED);
	if (st == RP_OK && m.qos != 0) {
		fl_add(id, 1, m.qos, 0);
	}
}

static void app_subscribe(uint8_t arg)
{
	uint16_t count = (uint16_t)(((arg >> 1) & 3) + 1), id = 0;
	rp_status st;

	if (arg & 1) {
		st = rp_mqttc_subscribe(&F.c, filters, count, NULL, &id);
	} else {
		st = rp_mqttc_unsubscribe(&F.c, filters, count, NULL, &id);
	}
	CHECK(st == RP_OK || st == RP_E_BUSY || st == RP_E_STATE || st == RP_E_TOO_LARGE ||
	      st == RP_E_BUF_TOO_SMALL);
	if (st == RP_OK) {
		fl_add(id, (arg & 1) ? 2 : 3, 0, count);
	}
}

static void app_disconnect(uint8_t arg)
{
	static const uint8_t reasons[4] = {0x00, 0x04, 0x80, 0x42};
	rp_status st = rp_mqttc_disconnect(&F.c, reasons[arg & 3]);

	CHECK(st == RP_OK || st == RP_E_STATE || st == RP_E_INVALID_ARG);
}

/* ---- events ------------------------------------------------------------ */

static void ev_connack(const rp_mqttc_event *ev)
{
	const rp_mqtt_props *p;

	CHECK(!F.connack_seen);
	F.connack_seen = 1;
	CHECK(ev->pkt != NULL && ev->pkt->type == RP_MQTT_CONNACK);
	if (ev->reason_code != 0) {
		CHECK(ev->reason_code >= 0x80);
		return;
	}
	p = &ev->pkt->u.connack.props;
	if (p->present & RP_MQTT_HAS(RP_MQTT_PROP_MAX_PACKET_SIZE)) {
		F.server_max = p->max_packet_size;
	}
	if (!ev->session_present) {
		size_t i;

		/*
		 * Every message of the old session was reported lost before this
		 * (the callbacks of those reports may have published new ones).
		 */
		for (i = 0; i < F.nfl; i++) {
			CHECK(F.fl[i].kind != 1 || F.fl[i].epoch == F.epoch);
		}
		F.ndelivered = 0;
	}
}

/*
 * Accounts for the server packets the client read before the one at rx
 * offset `upto`: a PUBREL releases a QoS 2 identifier. They decoded once
 * already (the client read them), so they decode again.
 */
static void catch_up(size_t upto)
{
	while (F.srv_cursor < upto) {
		rp_mqtt_packet pkt;
		size_t n = 0;
		long i;

		CHECK(rp_mqtt_decode(F.rx + F.srv_cursor, F.rx_len - F.srv_cursor, F.version,
				     &F.c.lim, &pkt, &n) == RP_OK);
		if (F.srv_cursor + n > upto) {
			break; /* the packet being reported */
		}
		if (pkt.type == RP_MQTT_PUBREL) {
			i = delivered_find(pkt.u.ack.packet_id);
			if (i >= 0) {
				F.delivered[i] = F.delivered[--F.ndelivered];
			}
		}
		F.srv_cursor += n;
	}
}

static void ev_publish(const rp_mqttc_event *ev, uint8_t answer)
{
	uint8_t sent;

	CHECK(ev->qos <= 2);
	CHECK(ev->topic.len != 0 && ev->topic.len <= TOPIC_MAX);
	CHECK(in_range(ev->topic.p, ev->topic.len, F.rx, F.rx_len) ||
	      in_range(ev->topic.p, ev->topic.len, F.alias, sizeof(F.alias)));
	CHECK(ev->payload.len == 0 || in_range(ev->payload.p, ev->payload.len, F.rx, F.rx_len));
	CHECK(ev->pkt != NULL && ev->pkt->type == RP_MQTT_PUBLISH);
	if (ev->qos != 2) {
		return;
	}
	/* The packet's own topic field (even an empty one) lies inside it. */
	catch_up((size_t)(ev->pkt->u.publish.topic.p - F.rx));
	/* Exactly once: not reported again before the server released it. */
	CHECK(delivered_find(ev->packet_id) < 0);
	/* An answer PUBACK cannot carry is sent as 0x80: a refusal, not remembered. */
	sent = rp_mqtt_reason_valid(RP_MQTT_PUBACK, RP_MQTT_V5, answer) ? answer : 0x80;
	if (F.version == RP_MQTT_V311 || sent < 0x80) {
		CHECK(F.ndelivered < 8);
		F.delivered[F.ndelivered++] = ev->packet_id;
	}
}

static void ev_done(const rp_mqttc_event *ev)
{
	long i = fl_find(ev->packet_id, 1);

	CHECK(i >= 0);
	CHECK(F.fl[i].qos == ev->qos);
	CHECK(ev->topic.p == topic_bytes && ev->payload.p == payload_bytes);
	CHECK((ev->type == RP_MQTTC_EV_PUBLISH_LOST) == (ev->pkt == NULL));
	CHECK(!ev->received || (ev->type == RP_MQTTC_EV_PUBLISH_LOST && ev->qos == 2));
	fl_remove(i);
}

static void ev_suback(const rp_mqttc_event *ev)
{
	long i = fl_find(ev->packet_id, ev->type == RP_MQTTC_EV_SUBACK ? 2 : 3);

	CHECK(i >= 0);
	if (ev->type == RP_MQTTC_EV_SUBACK || F.version == RP_MQTT_V5) {
		CHECK(ev->count == F.fl[i].count);
		CHECK(in_range(ev->reason_codes, ev->count, F.rx, F.rx_len));
	} else {
		CHECK(ev->count == 0);
	}
	fl_remove(i);
}

/*
 * MODE: arg & 7 picks the answer to a PUBLISH (0, 0x10, 0x80, 0x83, 0x87,
 * 0x97, 0x99, 0x42 an invalid one); arg >> 3 what the callback does: 0
 * nothing, 1 publish QoS 1, 2 subscribe, 3 disconnect.
 */
static uint8_t on_event(void *ctx, const rp_mqttc_event *ev)
{
	static const uint8_t answers[8] = {0x00, 0x10, 0x80, 0x83, 0x87, 0x97, 0x99, 0x42};
	uint8_t answer = answers[F.mode & 7];

	(void)ctx;
	CHECK(F.c.in_callback);
	switch (ev->type) {
	case RP_MQTTC_EV_CONNACK:
		ev_connack(ev);
		break;
	case RP_MQTTC_EV_PUBLISH:
		ev_publish(ev, answer);
		break;
	case RP_MQTTC_EV_PUBLISH_DONE:
	case RP_MQTTC_EV_PUBLISH_LOST:
		ev_done(ev);
		break;
	case RP_MQTTC_EV_SUBACK:
	case RP_MQTTC_EV_UNSUBACK:
		ev_suback(ev);
		break;
	case RP_MQTTC_EV_DISCONNECT:
		CHECK(F.version == RP_MQTT_V5);
		CHECK(rp_mqttc_get_state(&F.c) == RP_MQTTC_CLOSED);
		break;
	default:
		CHECK(0);
	}
	switch ((F.mode >> 3) & 3) {
	case 1:
		app_publish(1 | 8);
		break;
	case 2:
		app_subscribe(3);
		break;
	case 3:
		app_disconnect(0);
		break;
	default:
		break;
	}
	return answer;
}

/* ---- output, as the server reads it ------------------------------------ */

static void check_out_packet(const rp_mqtt_packet *pkt, size_t size)
{
	const struct issued *is;

	CHECK(!F.out_closed);
	CHECK(F.expect_connect == (pkt->type == RP_MQTT_CONNECT));
	F.expect_connect = 0;
	/* CONNECT went before the server said its maximum. */
	CHECK(size <= F.server_max || pkt->type == RP_MQTT_CONNECT);
	switch (pkt->type) {
	case RP_MQTT_CONNECT:
		CHECK(pkt->u.connect.version == F.version);
		break;
	case RP_MQTT_PUBLISH:
		is = &issued[pkt->u.publish.packet_id];
		CHECK(pkt->u.publish.qos == 0 ||
		      (is->run == run && is->kind == 1 && is->qos == pkt->u.publish.qos));
		break;
	case RP_MQTT_PUBREL:
		/* Ours at QoS 2, or "not found" (MQTT 5) for a PUBREC not ours. */
		is = &issued[pkt->u.ack.packet_id];
		CHECK((is->run == run && is->kind == 1 && is->qos == 2) ||
		      F.version == RP_MQTT_V311 ||
		      pkt->u.ack.reason_code == RP_MQTT_RC_PACKET_ID_NOT_FOUND);
		break;
	case RP_MQTT_SUBSCRIBE:
	case RP_MQTT_UNSUBSCRIBE:
		is = &issued[pkt->u.subscribe.packet_id];
		CHECK(is->run == run && is->kind == (pkt->type == RP_MQTT_SUBSCRIBE ? 2 : 3));
		CHECK(is->count == pkt->u.subscribe.count);
		break;
	case RP_MQTT_DISCONNECT:
		CHECK(rp_mqttc_get_state(&F.c) == RP_MQTTC_CLOSED);
		CHECK(pkt->u.disconnect.reason_code == rp_mqttc_reason(&F.c));
		F.out_closed = 1;
		break;
	case RP_MQTT_PUBACK:
	case RP_MQTT_PUBREC:
	case RP_MQTT_PUBCOMP:
	case RP_MQTT_PINGREQ:
		break;
	default:
		CHECK(0); /* not a packet a client sends */
	}
}

/* Parses what the client sent so far; a partial packet waits for the rest. */
static void parse_output(void)
{
	rp_mqtt_limits lim;
	size_t pos = 0;

	rp_mqtt_limits_default(&lim);
	lim.max_packet = RP_LIMIT_MQTT_PACKET;
	lim.max_topic_len = RP_LIMIT_MQTT_TOPIC_LEN;
	while (pos < F.out_len) {
		rp_mqtt_packet pkt;
		rp_mqtt_frame fr;
		size_t n = 0;
		uint8_t v = F.expect_connect ? 0 : F.version;
		rp_status st;

		st = rp_mqtt_frame_parse(F.out + pos, F.out_len - pos, v, lim.max_packet, &fr,
					 NULL);
		if (st == RP_NEED_MORE) {
			break;
		}
		CHECK(st == RP_OK);
		st = rp_mqtt_decode(F.out + pos, fr.total, v, &lim, &pkt, &n);
		CHECK(st == RP_OK && n == fr.total);
		check_out_packet(&pkt, n);
		pos += n;
	}
	memmove(F.out, F.out + pos, F.out_len - pos);
	F.out_len -= pos;
}

static void drain(uint8_t arg)
{
	const uint8_t *o;
	size_t n;

	CHECK(rp_mqttc_output(&F.c, &o, &n) == RP_OK);
	CHECK(F.c.tx_head <= F.c.tx_tail && F.c.tx_tail <= F.c.txcap);
	if (arg != 31 && n > (size_t)arg * 3) {
		n = (size_t)arg * 3;
	}
	CHECK(F.out_len + n <= OUT_CAP);
	memcpy(F.out + F.out_len, o, n);
	F.out_len += n;
	CHECK(rp_mqttc_consumed(&F.c, n) == RP_OK);
	parse_output();
}

/* ---- input and time ---------------------------------------------------- */

static void feed(const uint8_t *p, size_t n)
{
	size_t used = 0;
	rp_status st;

	if (n > RX_CAP - F.rx_len) {
		n = RX_CAP - F.rx_len;
	}
	memcpy(F.rx + F.rx_len, p, n);
	F.rx_len += n;
	F.srv_cursor = 0;
	st = rp_mqttc_input(&F.c, F.rx, F.rx_len, F.now, &used, on_event, NULL);
	CHECK(!F.c.in_callback);
	CHECK(used <= F.rx_len);
	if (st == RP_OK) {
		CHECK(used == F.rx_len || rp_mqttc_get_state(&F.c) == RP_MQTTC_CLOSED);
	} else if (st == RP_NEED_MORE) {
		/* Only a packet within max_packet is waited for. */
		CHECK(used < F.rx_len && F.rx_len - used < F.cfg.limits.max_packet);
	} else if (st == RP_E_BUSY) {
		CHECK(used < F.rx_len);
	} else if (st != RP_E_STATE) {
		CHECK(rp_mqttc_get_state(&F.c) == RP_MQTTC_CLOSED);
		CHECK(rp_mqttc_error(&F.c) == st);
		CHECK(rp_mqttc_reason(&F.c) >= 0x80);
	}
	if (st != RP_E_STATE) {
		catch_up(used);
	}
	memmove(F.rx, F.rx + used, F.rx_len - used);
	F.rx_len -= used;
	if (st == RP_E_STATE || rp_mqttc_get_state(&F.c) == RP_MQTTC_CLOSED) {
		F.rx_len = 0; /* the caller closes the connection */
	}
}

static void tick(uint8_t arg)
{
	static const uint32_t steps[8] = {0, 100, 1000, 5000, 10000, 30000, 60000, 600000};
	uint64_t next = 0;
	rp_status st;

	F.now += steps[arg & 7];
	st = rp_mqttc_tick(&F.c, F.now, &next);
	CHECK(st == RP_OK || st == RP_E_TIMEOUT);
	if (st == RP_E_TIMEOUT) {
		CHECK(rp_mqttc_get_state(&F.c) == RP_MQTTC_CLOSED);
		CHECK(rp_mqttc_error(&F.c) == RP_E_TIMEOUT);
	}
	CHECK(next == RP_MQTTC_NO_DEADLINE || next > F.now);
}

/* 0 when the CONNECT does not fit the output buffer: the run ends. */
static int connect(uint8_t clean_start, uint16_t keepalive)
{
	rp_mqtt_connect k;
	rp_status st;

	memset(&k, 0, sizeof(k));
	k.client_id.p = (const uint8_t *)"dev-1";
	k.client_id.len = 5;
	k.clean_start = clean_start;
	k.keepalive = keepalive;
	if (F.version == RP_MQTT_V5) {
		k.props.present = RP_MQTT_HAS(RP_MQTT_PROP_SESSION_EXPIRY);
		k.props.session_expiry = 600;
	}
	st = rp_mqttc_connect(&F.c, &k, F.now);
	CHECK(st == RP_OK || st == RP_E_BUF_TOO_SMALL);
	if (st != RP_OK) {
		CHECK(rp_mqttc_get_state(&F.c) == RP_MQTTC_IDLE);
		return 0;
	}
	F.expect_connect = 1;
	F.connack_seen = 0;
	F.epoch++;
	F.out_closed = 0;
	F.server_max = RP_MQTT_VBI_MAX + RP_MQTT_FIXED_HEADER_MAX;
	return 1;
}

static int reconnect(uint8_t arg, uint16_t keepalive)
{
	size_t i = 0;

	CHECK(rp_mqttc_reset(&F.c) == RP_OK);
	/* SUBSCRIBE and UNSUBSCRIBE in flight are forgotten. */
	while (i < F.nfl) {
		if (F.fl[i].kind != 1) {
			fl_remove((long)i);
		} else {
			i++;
		}
	}
	F.rx_len = 0;
	F.out_len = 0;
	return connect(arg & 1, keepalive);
}

/* ---- entry point ------------------------------------------------------- */

static void setup(uint8_t o0, uint8_t o1)
{
	static const size_t txcaps[4] = {32, 48, 256, 2048};
	static const uint32_t max_packets[4] = {64, 256, 1024, 8192};

	memset(&F, 0, sizeof(F));
	run++;
	memset(payload_bytes, 'p', sizeof(payload_bytes));
	F.version = (o0 & 1) ? RP_MQTT_V311 : RP_MQTT_V5;
	rp_mqttc_config_default(&F.cfg);
	F.cfg.version = F.version;
	F.cfg.limits.max_packet = max_packets[o1 & 3];
	F.cfg.limits.max_topic_len = TOPIC_MAX;
	F.cfg.rx_ids = F.rx_ids;
	F.cfg.receive_max = (uint16_t)(1u << ((o0 >> 5) & 3));
	if (o1 & 4) {
		F.cfg.alias_buf = F.alias;
		F.cfg.alias_cap = sizeof(F.alias);
	}
	F.mode = (uint8_t)((o1 >> 5) << 3);
	CHECK(rp_mqttc_init(&F.c, &F.cfg, F.slots, 1u << ((o0 >> 3) & 3), F.tx,
			    txcaps[(o0 >> 1) & 3]) == RP_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t keepalives[4] = {0, 1, 10, 60};
	uint16_t keepalive;
	size_t pos = 2;
	unsigned ops;

	if (size < 2) {
		return 0;
	}
	setup(data[0], data[1]);
	keepalive = keepalives[(data[1] >> 3) & 3];
	if (!connect((data[0] >> 7) & 1, keepalive)) {
		return 0;
	}
	for (ops = 0; pos < size && ops < MAX_OPS; ops++) {
		uint8_t op = data[pos] >> 5, arg = data[pos] & 31;
		size_t n;

		pos++;
		switch (op) {
		case 0:
			n = arg < 24 ? (size_t)arg + 1 : (size_t)(arg - 23) * 64;
			if (n > size - pos) {
				n = size - pos;
			}
			feed(data + pos, n);
			pos += n;
			break;
		case 1:
			app_publish(arg);
			break;
		case 2:
			app_subscribe(arg);
			break;
		case 3:
			tick(arg);
			break;
		case 4:
			drain(arg);
			break;
		case 5:
			if (!reconnect(arg, keepalive)) {
				return 0;
			}
			break;
		case 6:
			app_disconnect(arg);
			break;
		default:
			F.mode = arg;
			break;
		}
		CHECK(rp_mqttc_inflight(&F.c) == F.nfl);
	}
	drain(31);
	return 0;
}
