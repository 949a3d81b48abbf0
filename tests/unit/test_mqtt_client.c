/*
 * test_mqtt_client.c - the MQTT client state machine (rampart/mqtt_client.h).
 *
 * Each test drives one client against a scripted server: the server's
 * packets are made with the codec's encoder (or written by hand when they
 * must be malformed), fed to rp_mqttc_input(), and everything the client
 * writes is decoded again, as a server would, and checked packet by packet.
 * Events are recorded with copies of their views, so a test can look at
 * them after the input buffer is gone.
 */
#include "mqtt_test_util.h"

#include "rampart/mqtt_client.h"

#define MAX_EV  64
#define MAX_OUT 16384

typedef struct ev_rec {
	uint8_t type;
	uint8_t reason;
	uint8_t sp;
	uint8_t qos;
	uint8_t retain;
	uint8_t dup;
	uint8_t received;
	uint16_t id;
	uint16_t count;
	uint8_t codes[8];
	char topic[64];
	char payload[64];
	int has_pkt;
} ev_rec;

typedef struct harness {
	rp_mqttc c;
	rp_mqttc_config cfg;
	rp_mqttc_slot slots[8];
	uint16_t rx_ids[8];
	uint8_t tx[2048];
	uint8_t alias[1024];
	ev_rec ev[MAX_EV];
	size_t nev;
	uint8_t version;
	uint8_t answer;   /* what the callback returns for a PUBLISH */
	int action;       /* what the callback does besides recording */
	rp_status act_st; /* the status of that action */
	uint16_t act_id;  /* the packet id it got */
	uint64_t now;     /* the clock the tests move */
	uint8_t out[MAX_OUT];
	size_t nout, out_pos;
} harness;

/* Actions of the callback (harness.action). */
enum {
	ACT_NONE = 0,
	ACT_PUBLISH_Q1,    /* publish QoS 1 on every PUBLISH event */
	ACT_DISCONNECT,    /* disconnect on the first PUBLISH event */
	ACT_FORBIDDEN,     /* try every call that is not allowed in a callback */
	ACT_REPUBLISH,     /* publish again what was lost */
	ACT_DISCONNECT_ANY /* disconnect on any event */
};

static const rp_mqttc_message msg_q1 = {
	{(const uint8_t *)"t/1", 3}, {(const uint8_t *)"one", 3}, 1, 0, NULL};

static void record(harness *h, const rp_mqttc_event *ev)
{
	ev_rec *r;

	assert_true(h->nev < MAX_EV);
	r = &h->ev[h->nev++];
	memset(r, 0, sizeof(*r));
	r->type = ev->type;
	r->reason = ev->reason_code;
	r->sp = ev->session_present;
	r->qos = ev->qos;
	r->retain = ev->retain;
	r->dup = ev->dup;
	r->received = ev->received;
	r->id = ev->packet_id;
	r->count = ev->count;
	if (ev->count != 0) {
		assert_non_null(ev->reason_codes);
		memcpy(r->codes, ev->reason_codes, ev->count < 8 ? ev->count : 8);
	}
	assert_true(ev->topic.len < sizeof(r->topic));
	if (ev->topic.len != 0) {
		memcpy(r->topic, ev->topic.p, ev->topic.len);
	}
	if (ev->payload.len != 0) {
		memcpy(r->payload, ev->payload.p,
		       ev->payload.len < sizeof(r->payload) - 1 ? ev->payload.len
								: sizeof(r->payload) - 1);
	}
	r->has_pkt = ev->pkt != NULL;
}

static void try_forbidden(harness *h)
{
	const uint8_t *o;
	size_t n, used;
	uint64_t next;
	rp_mqtt_connect k;

	memset(&k, 0, sizeof(k));
	assert_status(rp_mqttc_input(&h->c, NULL, 0, 0, &used, NULL, NULL), RP_E_STATE);
	assert_status(rp_mqttc_tick(&h->c, 0, &next), RP_E_STATE);
	assert_status(rp_mqttc_reset(&h->c), RP_E_STATE);
	assert_status(rp_mqttc_output(&h->c, &o, &n), RP_E_STATE);
	assert_status(rp_mqttc_consumed(&h->c, 0), RP_E_STATE);
	assert_status(rp_mqttc_connect(&h->c, &k, 0), RP_E_STATE);
}

static uint8_t on_event(void *ctx, const rp_mqttc_event *ev)
{
	harness *h = ctx;
	rp_mqttc_message m;

	record(h, ev);
	switch (h->action) {
	case ACT_PUBLISH_Q1:
		if (ev->type == RP_MQTTC_EV_PUBLISH) {
			h->act_st = rp_mqttc_publish(&h->c, &msg_q1, &h->act_id);
		}
		break;
	case ACT_DISCONNECT:
		if (ev->type == RP_MQTTC_EV_PUBLISH) {
			h->act_st = rp_mqttc_disconnect(&h->c, 0);
			h->action = ACT_NONE;
		}
		break;
	case ACT_DISCONNECT_ANY:
		h->act_st = rp_mqttc_disconnect(&h->c, 0);
		h->action = ACT_NONE;
		break;
	case ACT_FORBIDDEN:
		try_forbidden(h);
		break;
	case ACT_REPUBLISH:
		if (ev->type == RP_MQTTC_EV_PUBLISH_LOST) {
			memset(&m, 0, sizeof(m));
			m.topic = ev->topic;
			m.payload = ev->payload;
			m.qos = ev->qos;
			h->act_st = rp_mqttc_publish(&h->c, &m, &h->act_id);
		}
		break;
	default:
		break;
	}
	return ev->type == RP_MQTTC_EV_PUBLISH ? h->answer : 0;
}

/* ---- setup ------------------------------------------------------------- */

static void h_setup(harness *h, uint8_t version, size_t nslots, size_t txcap, uint16_t receive_max)
{
	memset(h, 0, sizeof(*h));
	rp_mqttc_config_default(&h->cfg);
	h->cfg.version = version;
	h->cfg.rx_ids = h->rx_ids;
	h->cfg.receive_max = receive_max;
	h->cfg.limits.max_packet = 1024;
	h->cfg.limits.max_topic_len = 62;
	h->cfg.alias_buf = h->alias;
	h->cfg.alias_cap = 4 * 64; /* 4 aliases of 2 + 62 bytes */
	h->version = version;
	assert_status(rp_mqttc_init(&h->c, &h->cfg, h->slots, nslots, h->tx, txcap), RP_OK);
}

static void h_init(harness *h, uint8_t version)
{
	h_setup(h, version, 8, sizeof(h->tx), 4);
}

/* Takes everything the client has to send. */
static void drain(harness *h)
{
	const uint8_t *o;
	size_t n;

	for (;;) {
		assert_status(rp_mqttc_output(&h->c, &o, &n), RP_OK);
		if (n == 0) {
			return;
		}
		assert_true(h->nout + n <= MAX_OUT);
		memcpy(h->out + h->nout, o, n);
		h->nout += n;
		assert_status(rp_mqttc_consumed(&h->c, n), RP_OK);
	}
}

/* Decodes the next packet the client sent, as a server would. */
static int out_next(harness *h, rp_mqtt_packet *pkt)
{
	rp_mqtt_limits lim = tu_limits();
	size_t consumed = 0;
	uint8_t v;

	drain(h);
	if (h->out_pos == h->nout) {
		return 0;
	}
	v = (h->out[h->out_pos] >> 4) == RP_MQTT_CONNECT ? 0 : h->version;
	assert_status(
		rp_mqtt_decode(h->out + h->out_pos, h->nout - h->out_pos, v, &lim, pkt, &consumed),
		RP_OK);
	h->out_pos += consumed;
	return 1;
}

static void out_expect(harness *h, uint8_t type, rp_mqtt_packet *pkt)
{
	rp_mqtt_packet local;

	if (pkt == NULL) {
		pkt = &local;
	}
	assert_true(out_next(h, pkt));
	if (pkt->type != type) {
		print_error("client sent %s, expected %s\n", rp_mqtt_type_str(pkt->type),
			    rp_mqtt_type_str(type));
		fail();
	}
}

static void out_expect_ack(harness *h, uint8_t type, uint16_t id, uint8_t rc)
{
	rp_mqtt_packet pkt;

	out_expect(h, type, &pkt);
	assert_int_equal(pkt.u.ack.packet_id, id);
	assert_int_equal(pkt.u.ack.reason_code, rc);
}

static void out_none(harness *h)
{
	rp_mqtt_packet pkt;

	if (out_next(h, &pkt)) {
		print_error("client sent %s, expected nothing\n", rp_mqtt_type_str(pkt.type));
		fail();
	}
}

/* ---- the scripted server ----------------------------------------------- */

static size_t enc(const harness *h, const rp_mqtt_packet *pkt, uint8_t *out, size_t cap)
{
	rp_mqtt_limits lim = tu_limits();
	size_t n = 0;

	lim.max_packet = RP_LIMIT_MQTT_PACKET;
	assert_status(rp_mqtt_encode(pkt, h->version, &lim, out, cap, &n), RP_OK);
	return n;
}

/* Feeds bytes in one call; the status must be `want` and, if RP_OK, all used. */
static void feed(harness *h, const uint8_t *b, size_t n, rp_status want)
{
	size_t used = 99999;
	rp_status st = rp_mqttc_input(&h->c, b, n, h->now, &used, on_event, h);

	if (st != want) {
		tu_fail_status(st, want, "rp_mqttc_input", b, n, __FILE__, __LINE__);
	}
	if (st == RP_OK && rp_mqttc_get_state(&h->c) != RP_MQTTC_CLOSED) {
		assert_int_equal(used, n);
	}
}

static void srv(harness *h, const rp_mqtt_packet *pkt, rp_status want)
{
	uint8_t b[2048];

	feed(h, b, enc(h, pkt, b, sizeof(b)), want);
}

static void srv_connack(harness *h, uint8_t sp, uint8_t rc, const rp_mqtt_props *props)
{
	rp_mqtt_packet p;

	memset(&p, 0, sizeof(p));
	p.type = RP_MQTT_CONNACK;
	p.u.connack.session_present = sp;
	p.u.connack.reason_code = rc;
	if (props != NULL) {
		p.u.connack.props = *props;
	}
	srv(h, &p, RP_OK);
}

static void mk_publish(rp_mqtt_packet *p, uint8_t qos, uint16_t id, const char *topic,
		       const char *payload)
{
	memset(p, 0, sizeof(*p));
	p->type = RP_MQTT_PUBLISH;
	p->u.publish.qos = qos;
	p->u.publish.packet_id = qos != 0 ? id : 0;
	p->u.publish.topic.p = (const uint8_t *)topic;
	p->u.publish.topic.len = (uint32_t)strlen(topic);
	p->u.publish.payload.p = (const uint8_t *)payload;
	p->u.publish.payload.len = (uint32_t)strlen(payload);
}

static void srv_publish(harness *h, uint8_t qos, uint16_t id, const char *topic,
			const char *payload, uint8_t dup)
{
	rp_mqtt_packet p;

	mk_publish(&p, qos, id, topic, payload);
	p.u.publish.dup = dup;
	srv(h, &p, RP_OK);
}

static void mk_ack(rp_mqtt_packet *p, uint8_t type, uint16_t id, uint8_t rc)
{
	memset(p, 0, sizeof(*p));
	p->type = type;
	p->u.ack.packet_id = id;
	p->u.ack.reason_code = rc;
}

static void srv_ack(harness *h, uint8_t type, uint16_t id, uint8_t rc, rp_status want)
{
	rp_mqtt_packet p;

	mk_ack(&p, type, id, rc);
	srv(h, &p, want);
}

static void srv_suback(harness *h, uint8_t type, uint16_t id, const uint8_t *codes, uint16_t n,
		       rp_status want)
{
	rp_mqtt_packet p;

	memset(&p, 0, sizeof(p));
	p.type = type;
	p.u.suback.packet_id = id;
	p.u.suback.count = n;
	p.u.suback.reason_codes = codes;
	srv(h, &p, want);
}

static void srv_simple(harness *h, uint8_t type, uint8_t rc, rp_status want)
{
	rp_mqtt_packet p;

	memset(&p, 0, sizeof(p));
	p.type = type;
	p.u.disconnect.reason_code = rc;
	srv(h, &p, want);
}

/* ---- common steps ------------------------------------------------------ */

static void do_connect(harness *h, uint8_t clean_start, uint16_t keepalive)
{
	rp_mqtt_connect k;

	memset(&k, 0, sizeof(k));
	k.client_id = TU_STR("dev-1");
	k.clean_start = clean_start;
	k.keepalive = keepalive;
	if (h->version == RP_MQTT_V5 && !clean_start) {
		k.props.present = RP_MQTT_HAS(RP_MQTT_PROP_SESSION_EXPIRY);
		k.props.session_expiry = 3600;
	}
	assert_status(rp_mqttc_connect(&h->c, &k, h->now), RP_OK);
	assert_int_equal(rp_mqttc_get_state(&h->c), RP_MQTTC_CONNECTING);
	out_expect(h, RP_MQTT_CONNECT, NULL);
}

static void connected(harness *h, uint8_t version)
{
	h_init(h, version);
	do_connect(h, 1, 0);
	srv_connack(h, 0, 0, NULL);
	assert_int_equal(rp_mqttc_get_state(&h->c), RP_MQTTC_CONNECTED);
	assert_int_equal(h->nev, 1);
	h->nev = 0;
}

static uint16_t pub(harness *h, const char *topic, const char *payload, uint8_t qos)
{
	rp_mqttc_message m;
	uint16_t id = 0;

	memset(&m, 0, sizeof(m));
	m.topic.p = (const uint8_t *)topic;
	m.topic.len = (uint32_t)strlen(topic);
	m.payload.p = (const uint8_t *)payload;
	m.payload.len = (uint32_t)strlen(payload);
	m.qos = qos;
	assert_status(rp_mqttc_publish(&h->c, &m, &id), RP_OK);
	return id;
}

/*
 * Closed with `err` and `reason`. A violation by the server is answered
 * with a DISCONNECT under MQTT 5; a refusal, the server's own DISCONNECT and
 * a timeout are not.
 */
static void expect_closed(harness *h, rp_status err, uint8_t reason)
{
	rp_mqtt_packet pkt;

	assert_int_equal(rp_mqttc_get_state(&h->c), RP_MQTTC_CLOSED);
	assert_status(rp_mqttc_error(&h->c), err);
	assert_int_equal(rp_mqttc_reason(&h->c), reason);
	if (h->version == RP_MQTT_V5 && err != RP_E_DENIED && err != RP_E_CLOSED &&
	    err != RP_E_TIMEOUT) {
		out_expect(h, RP_MQTT_DISCONNECT, &pkt);
		assert_int_equal(pkt.u.disconnect.reason_code, reason);
	}
	out_none(h);
}

/* ---- init, connect, CONNACK -------------------------------------------- */

static void test_init_args(void **state)
{
	rp_mqttc_config cfg;
	rp_mqttc_slot slots[2];
	uint16_t ids[2];
	uint8_t tx[64];
	rp_mqttc c;

	(void)state;
	rp_mqttc_config_default(NULL);
	rp_mqttc_config_default(&cfg);
	assert_int_equal(cfg.version, RP_MQTT_V5);
	assert_int_equal(cfg.response_timeout_ms, RP_MQTTC_DEFAULT_RESPONSE_TIMEOUT_MS);
	assert_int_equal(cfg.limits.max_packet, RP_DEFAULT_MQTT_PACKET);
	/* No receive store yet. */
	assert_status(rp_mqttc_init(&c, &cfg, slots, 2, tx, sizeof(tx)), RP_E_INVALID_ARG);
	cfg.rx_ids = ids;
	assert_status(rp_mqttc_init(&c, &cfg, slots, 2, tx, sizeof(tx)), RP_E_INVALID_ARG);
	cfg.receive_max = 2;
	assert_status(rp_mqttc_init(NULL, &cfg, slots, 2, tx, sizeof(tx)), RP_E_INVALID_ARG);
	assert_status(rp_mqttc_init(&c, NULL, slots, 2, tx, sizeof(tx)), RP_E_INVALID_ARG);
	assert_status(rp_mqttc_init(&c, &cfg, NULL, 2, tx, sizeof(tx)), RP_E_INVALID_ARG);
	assert_status(rp_mqttc_init(&c, &cfg, slots, 0, tx, sizeof(tx)), RP_E_INVALID_ARG);
	assert_status(rp_mqttc_init(&c, &cfg, slots, 2, NULL, sizeof(tx)), RP_E_INVALID_ARG);
	assert_status(rp_mqttc_init(&c, &cfg, slots, 2, tx, RP_MQTTC_TXBUF_MIN - 1),
		      RP_E_INVALID_ARG);
	cfg.version = 3;
	assert_status(rp_mqttc_init(&c, &cfg, slots, 2, tx, sizeof(tx)), RP_E_INVALID_ARG);
	cfg.version = RP_MQTT_V311;
	cfg.response_timeout_ms = 0; /* the default */
	assert_status(rp_mqttc_init(&c, &cfg, slots, 2, tx, sizeof(tx)), RP_OK);
	assert_int_equal(rp_mqttc_get_state(&c), RP_MQTTC_IDLE);
	assert_status(rp_mqttc_error(&c), RP_OK);
	assert_int_equal(rp_mqttc_reason(&c), 0);
	assert_int_equal(rp_mqttc_inflight(&c), 0);

	/* Queries on NULL. */
	assert_int_equal(rp_mqttc_get_state(NULL), RP_MQTTC_IDLE);
	assert_status(rp_mqttc_error(NULL), RP_E_INVALID_ARG);
	assert_int_equal(rp_mqttc_reason(NULL), 0);
	assert_int_equal(rp_mqttc_inflight(NULL), 0);
}

static void test_null_args(void **state)
{
	harness h;
	const uint8_t *o;
	size_t n, used;
	uint64_t next;
	uint16_t id;
	rp_mqtt_sub_entry e;
	rp_mqttc_message m = msg_q1;

	(void)state;
	h_init(&h, RP_MQTT_V5);
	memset(&e, 0, sizeof(e));
	assert_status(rp_mqttc_connect(NULL, NULL, 0), RP_E_INVALID_ARG);
	assert_status(rp_mqttc_connect(&h.c, NULL, 0), RP_E_INVALID_ARG);
	assert_status(rp_mqttc_publish(NULL, &m, &id), RP_E_INVALID_ARG);
	assert_status(rp_mqttc_publish(&h.c, NULL, &id), RP_E_INVALID_ARG);
	assert_status(rp_mqttc_publish(&h.c, &m, NULL), RP_E_INVALID_ARG);
	m.qos = 3;
	assert_status(rp_mqttc_publish(&h.c, &m, &id), RP_E_INVALID_ARG);
	assert_status(rp_mqttc_subscribe(NULL, &e, 1, NULL, &id), RP_E_INVALID_ARG);
	assert_status(rp_mqttc_subscribe(&h.c, NULL, 1, NULL, &id), RP_E_INVALID_ARG);
	assert_status(rp_mqttc_subscribe(&h.c, &e, 0, NULL, &id), RP_E_INVALID_ARG);
	assert_status(rp_mqttc_unsubscribe(&h.c, &e, 1, NULL, NULL), RP_E_INVALID_ARG);
	assert_status(rp_mqttc_disconnect(NULL, 0), RP_E_INVALID_ARG);
	assert_status(rp_mqttc_input(NULL, NULL, 0, 0, &used, NULL, NULL), RP_E_INVALID_ARG);
	assert_status(rp_mqttc_input(&h.c, NULL, 1, 0, &used, NULL, NULL), RP_E_INVALID_ARG);
	assert_status(rp_mqttc_input(&h.c, NULL, 0, 0, NULL, NULL, NULL), RP_E_INVALID_ARG);
	assert_status(rp_mqttc_output(NULL, &o, &n), RP_E_INVALID_ARG);
	assert_status(rp_mqttc_output(&h.c, NULL, &n), RP_E_INVALID_ARG);
	assert_status(rp_mqttc_output(&h.c, &o, NULL), RP_E_INVALID_ARG);
	assert_status(rp_mqttc_consumed(NULL, 0), RP_E_INVALID_ARG);
	assert_status(rp_mqttc_consumed(&h.c, 1), RP_E_INVALID_ARG);
	assert_status(rp_mqttc_tick(NULL, 0, &next), RP_E_INVALID_ARG);
	assert_status(rp_mqttc_tick(&h.c, 0, NULL), RP_E_INVALID_ARG);
	assert_status(rp_mqttc_reset(NULL), RP_E_INVALID_ARG);

	/* Not connected: nothing but connect is possible. */
	m.qos = 0;
	assert_status(rp_mqttc_publish(&h.c, &m, &id), RP_E_STATE);
	e.filter = TU_STR("a");
	assert_status(rp_mqttc_subscribe(&h.c, &e, 1, NULL, &id), RP_E_STATE);
	assert_status(rp_mqttc_disconnect(&h.c, 0), RP_E_STATE);
	assert_status(rp_mqttc_input(&h.c, NULL, 0, 0, &used, NULL, NULL), RP_E_STATE);
	assert_status(rp_mqttc_tick(&h.c, 5, &next), RP_OK);
	assert_true(next == RP_MQTTC_NO_DEADLINE);
	assert_status(rp_mqttc_output(&h.c, &o, &n), RP_OK);
	assert_int_equal(n, 0);
}

static void test_connect_v5(void **state)
{
	harness h;
	rp_mqtt_connect k;
	rp_mqtt_packet pkt;
	rp_mqtt_props props;

	(void)state;
	h_init(&h, RP_MQTT_V5);
	memset(&k, 0, sizeof(k));
	k.client_id = TU_STR("dev-1");
	k.clean_start = 1;
	k.keepalive = 30;
	/* The client owns these: whatever the caller says is replaced. */
	k.props.present =
		RP_MQTT_HAS(RP_MQTT_PROP_RECEIVE_MAX) | RP_MQTT_HAS(RP_MQTT_PROP_SESSION_EXPIRY);
	k.props.receive_max = 999;
	k.props.session_expiry = 60;
	assert_status(rp_mqttc_connect(&h.c, &k, 0), RP_OK);
	assert_status(rp_mqttc_connect(&h.c, &k, 0), RP_E_STATE);
	out_expect(&h, RP_MQTT_CONNECT, &pkt);
	assert_int_equal(pkt.u.connect.version, RP_MQTT_V5);
	assert_int_equal(pkt.u.connect.clean_start, 1);
	assert_int_equal(pkt.u.connect.keepalive, 30);
	assert_str(pkt.u.connect.client_id, "dev-1");
	assert_int_equal(pkt.u.connect.props.receive_max, 4);
	assert_int_equal(pkt.u.connect.props.max_packet_size, 1024);
	assert_int_equal(pkt.u.connect.props.topic_alias_max, 4);
	assert_int_equal(pkt.u.connect.props.session_expiry, 60);
	out_none(&h);

	/* CONNACK with the server's limits and an assigned client id. */
	memset(&props, 0, sizeof(props));
	props.present = RP_MQTT_HAS(RP_MQTT_PROP_ASSIGNED_CLIENT_ID) |
			RP_MQTT_HAS(RP_MQTT_PROP_RECEIVE_MAX);
	props.assigned_client_id = TU_STR("x");
	props.receive_max = 10;
	srv_connack(&h, 0, 0, &props);
	assert_int_equal(h.nev, 1);
	assert_int_equal(h.ev[0].type, RP_MQTTC_EV_CONNACK);
	assert_int_equal(h.ev[0].reason, 0);
	assert_int_equal(h.ev[0].sp, 0);
	assert_true(h.ev[0].has_pkt);
	assert_int_equal(rp_mqttc_get_state(&h.c), RP_MQTTC_CONNECTED);
	assert_status(rp_mqttc_error(&h.c), RP_OK);
	out_none(&h);
}

static void test_connect_args(void **state)
{
	harness h;
	rp_mqtt_connect k;
	char big[200];

	(void)state;
	/* Receive Maximum 65535 is the default: not sent. No alias table: not sent. */
	h_setup(&h, RP_MQTT_V5, 8, 64, 65535);
	h.cfg.alias_buf = NULL;
	assert_status(rp_mqttc_init(&h.c, &h.cfg, h.slots, 8, h.tx, 64), RP_OK);
	memset(&k, 0, sizeof(k));
	k.props.present = RP_MQTT_HAS(RP_MQTT_PROP_AUTH_METHOD);
	k.props.auth_method = TU_STR("SCRAM");
	assert_status(rp_mqttc_connect(&h.c, &k, 0), RP_E_INVALID_ARG);
	/* An invalid CONNECT: the codec's status. */
	memset(&k, 0, sizeof(k));
	k.will_qos = 1;
	assert_status(rp_mqttc_connect(&h.c, &k, 0), RP_E_QOS);
	/* A CONNECT larger than the output buffer. */
	memset(big, 'a', sizeof(big));
	memset(&k, 0, sizeof(k));
	k.client_id.p = (const uint8_t *)big;
	k.client_id.len = sizeof(big);
	assert_status(rp_mqttc_connect(&h.c, &k, 0), RP_E_BUF_TOO_SMALL);
	assert_int_equal(rp_mqttc_get_state(&h.c), RP_MQTTC_IDLE);
	k.client_id.len = 10;
	assert_status(rp_mqttc_connect(&h.c, &k, 0), RP_OK);
	{
		rp_mqtt_packet pkt;

		out_expect(&h, RP_MQTT_CONNECT, &pkt);
		assert_false(pkt.u.connect.props.present & RP_MQTT_HAS(RP_MQTT_PROP_RECEIVE_MAX));
		assert_false(pkt.u.connect.props.present &
			     RP_MQTT_HAS(RP_MQTT_PROP_TOPIC_ALIAS_MAX));
	}

	/* An alias table too small for one topic of the maximum length. */
	h.cfg.alias_buf = h.alias;
	h.cfg.alias_cap = 63;
	assert_status(rp_mqttc_init(&h.c, &h.cfg, h.slots, 8, h.tx, 64), RP_OK);
	assert_int_equal(h.c.alias_max, 0);
	/* More slots than identifiers: 65535 are used. */
	assert_status(rp_mqttc_init(&h.c, &h.cfg, h.slots, 100000, h.tx, 64), RP_OK);
	assert_int_equal(h.c.nslots, 65535);
}

static void test_connack_refused_v5(void **state)
{
	harness h;
	size_t used;

	(void)state;
	h_init(&h, RP_MQTT_V5);
	do_connect(&h, 1, 0);
	srv_connack(&h, 0, RP_MQTT_RC_BAD_USER_OR_PASSWORD, NULL);
	assert_int_equal(h.nev, 1);
	assert_int_equal(h.ev[0].type, RP_MQTTC_EV_CONNACK);
	assert_int_equal(h.ev[0].reason, 0x86);
	/* A refusal is the server's word: nothing to answer. */
	expect_closed(&h, RP_E_DENIED, 0x86);
	assert_status(rp_mqttc_input(&h.c, h.tx, 1, 0, &used, NULL, NULL), RP_E_STATE);
	assert_status(rp_mqttc_reset(&h.c), RP_OK);
	assert_int_equal(rp_mqttc_get_state(&h.c), RP_MQTTC_IDLE);
	assert_status(rp_mqttc_error(&h.c), RP_OK);
}

static void test_connack_refused_v311(void **state)
{
	static const uint8_t want[6] = {0, 0x84, 0x85, 0x88, 0x86, 0x87};
	harness h;
	uint8_t rc;

	(void)state;
	for (rc = 1; rc <= 5; rc++) {
		h_init(&h, RP_MQTT_V311);
		do_connect(&h, 1, 0);
		srv_connack(&h, 0, rc, NULL);
		assert_int_equal(h.ev[0].reason, want[rc]);
		assert_int_equal(rp_mqttc_get_state(&h.c), RP_MQTTC_CLOSED);
		assert_status(rp_mqttc_error(&h.c), RP_E_DENIED);
		out_none(&h);
	}
}

static void test_connack_violations(void **state)
{
	harness h;
	rp_mqtt_props props;

	(void)state;
	/* Session present after a clean start [MQTT-3.2.2-4]. */
	h_init(&h, RP_MQTT_V5);
	do_connect(&h, 1, 0);
	srv(&h, &(rp_mqtt_packet){.type = RP_MQTT_CONNACK, .u.connack = {.session_present = 1}},
	    RP_E_PROTOCOL);
	expect_closed(&h, RP_E_PROTOCOL, 0x82);
	assert_int_equal(h.nev, 0);

	/* A Maximum Packet Size under the client's own acks. */
	h_init(&h, RP_MQTT_V5);
	do_connect(&h, 1, 0);
	memset(&props, 0, sizeof(props));
	props.present = RP_MQTT_HAS(RP_MQTT_PROP_MAX_PACKET_SIZE);
	props.max_packet_size = 4;
	srv(&h, &(rp_mqtt_packet){.type = RP_MQTT_CONNACK, .u.connack = {.props = props}},
	    RP_E_PROPERTY_VALUE);
	expect_closed(&h, RP_E_PROPERTY_VALUE, 0x82);

	/* Anything before CONNACK. */
	h_init(&h, RP_MQTT_V5);
	do_connect(&h, 1, 0);
	srv_simple(&h, RP_MQTT_PINGRESP, 0, RP_E_PROTOCOL);
	expect_closed(&h, RP_E_PROTOCOL, 0x82);

	/* A second CONNACK. */
	connected(&h, RP_MQTT_V5);
	srv(&h, &(rp_mqtt_packet){.type = RP_MQTT_CONNACK}, RP_E_PROTOCOL);
	expect_closed(&h, RP_E_PROTOCOL, 0x82);
	assert_int_equal(h.nev, 0);
}

/* ---- publish, client to server ----------------------------------------- */

static void test_publish_qos0_out(void **state)
{
	harness h;
	rp_mqtt_packet pkt;
	rp_mqttc_message m;

	(void)state;
	connected(&h, RP_MQTT_V5);
	memset(&m, 0, sizeof(m));
	m.topic = TU_STR("d/1/telemetry");
	m.payload = TU_STR("{}");
	m.retain = 1;
	assert_status(rp_mqttc_publish(&h.c, &m, NULL), RP_OK);
	out_expect(&h, RP_MQTT_PUBLISH, &pkt);
	assert_int_equal(pkt.u.publish.qos, 0);
	assert_int_equal(pkt.u.publish.retain, 1);
	assert_str(pkt.u.publish.topic, "d/1/telemetry");
	assert_str(pkt.u.publish.payload, "{}");
	assert_int_equal(rp_mqttc_inflight(&h.c), 0);
	/* An invalid topic: the codec's status. */
	m.topic = TU_STR("a/+");
	assert_status(rp_mqttc_publish(&h.c, &m, NULL), RP_E_TOPIC_NAME);
	out_none(&h);
}

static void test_publish_qos1_out(void **state)
{
	harness h;
	rp_mqtt_packet pkt;
	uint16_t id, id2;

	(void)state;
	connected(&h, RP_MQTT_V5);
	id = pub(&h, "t/a", "x", 1);
	assert_int_equal(id, 1);
	out_expect(&h, RP_MQTT_PUBLISH, &pkt);
	assert_int_equal(pkt.u.publish.qos, 1);
	assert_int_equal(pkt.u.publish.dup, 0);
	assert_int_equal(pkt.u.publish.packet_id, id);
	assert_int_equal(rp_mqttc_inflight(&h.c), 1);
	id2 = pub(&h, "t/b", "y", 1);
	assert_int_equal(id2, 2);
	out_expect(&h, RP_MQTT_PUBLISH, NULL);

	srv_ack(&h, RP_MQTT_PUBACK, id, 0, RP_OK);
	srv_ack(&h, RP_MQTT_PUBACK, id2, RP_MQTT_RC_NO_MATCHING_SUBSCRIBERS, RP_OK);
	assert_int_equal(h.nev, 2);
	assert_int_equal(h.ev[0].type, RP_MQTTC_EV_PUBLISH_DONE);
	assert_int_equal(h.ev[0].id, id);
	assert_int_equal(h.ev[0].qos, 1);
	assert_int_equal(h.ev[0].reason, 0);
	assert_string_equal(h.ev[0].topic, "t/a");
	assert_string_equal(h.ev[0].payload, "x");
	assert_int_equal(h.ev[1].id, id2);
	assert_int_equal(h.ev[1].reason, 0x10);
	assert_int_equal(rp_mqttc_inflight(&h.c), 0);
	out_none(&h);

	/* The same PUBACK again: the identifier is no longer ours. */
	srv_ack(&h, RP_MQTT_PUBACK, id, 0, RP_E_PROTOCOL);
	expect_closed(&h, RP_E_PROTOCOL, 0x82);
}

static void test_publish_qos2_out(void **state)
{
	harness h;
	uint16_t id, id2;

	(void)state;
	connected(&h, RP_MQTT_V5);
	id = pub(&h, "t/a", "x", 2);
	out_expect(&h, RP_MQTT_PUBLISH, NULL);
	srv_ack(&h, RP_MQTT_PUBREC, id, 0, RP_OK);
	out_expect_ack(&h, RP_MQTT_PUBREL, id, 0);
	assert_int_equal(h.nev, 0);
	/* A repeated PUBREC is answered again [MQTT-4.3.3-4]. */
	srv_ack(&h, RP_MQTT_PUBREC, id, 0, RP_OK);
	out_expect_ack(&h, RP_MQTT_PUBREL, id, 0);
	srv_ack(&h, RP_MQTT_PUBCOMP, id, 0, RP_OK);
	assert_int_equal(h.nev, 1);
	assert_int_equal(h.ev[0].type, RP_MQTTC_EV_PUBLISH_DONE);
	assert_int_equal(h.ev[0].qos, 2);
	assert_int_equal(h.ev[0].id, id);
	out_none(&h);

	/* A refusal in PUBREC ends the flow: no PUBREL. */
	id2 = pub(&h, "t/a", "x", 2);
	out_expect(&h, RP_MQTT_PUBLISH, NULL);
	srv_ack(&h, RP_MQTT_PUBREC, id2, RP_MQTT_RC_NOT_AUTHORIZED, RP_OK);
	assert_int_equal(h.nev, 2);
	assert_int_equal(h.ev[1].type, RP_MQTTC_EV_PUBLISH_DONE);
	assert_int_equal(h.ev[1].reason, 0x87);
	assert_int_equal(rp_mqttc_inflight(&h.c), 0);
	out_none(&h);

	/* A PUBREC for an identifier not ours: PUBREL "not found" (4.3.3). */
	srv_ack(&h, RP_MQTT_PUBREC, 77, 0, RP_OK);
	out_expect_ack(&h, RP_MQTT_PUBREL, 77, RP_MQTT_RC_PACKET_ID_NOT_FOUND);
	assert_int_equal(rp_mqttc_get_state(&h.c), RP_MQTTC_CONNECTED);
}

static void test_ack_violations(void **state)
{
	harness h;
	uint16_t q1, q2;

	(void)state;
	/* PUBACK for a QoS 2 message. */
	connected(&h, RP_MQTT_V5);
	q2 = pub(&h, "t", "x", 2);
	srv_ack(&h, RP_MQTT_PUBACK, q2, 0, RP_E_PROTOCOL);
	out_expect(&h, RP_MQTT_PUBLISH, NULL);
	expect_closed(&h, RP_E_PROTOCOL, 0x82);

	/* PUBREC for a QoS 1 message. */
	connected(&h, RP_MQTT_V5);
	q1 = pub(&h, "t", "x", 1);
	out_expect(&h, RP_MQTT_PUBLISH, NULL);
	srv_ack(&h, RP_MQTT_PUBREC, q1, 0, RP_E_PROTOCOL);
	expect_closed(&h, RP_E_PROTOCOL, 0x82);

	/* PUBCOMP before PUBREC. */
	connected(&h, RP_MQTT_V5);
	q2 = pub(&h, "t", "x", 2);
	out_expect(&h, RP_MQTT_PUBLISH, NULL);
	srv_ack(&h, RP_MQTT_PUBCOMP, q2, 0, RP_E_PROTOCOL);
	expect_closed(&h, RP_E_PROTOCOL, 0x82);

	/* PUBCOMP for a QoS 1 message. */
	connected(&h, RP_MQTT_V5);
	q1 = pub(&h, "t", "x", 1);
	out_expect(&h, RP_MQTT_PUBLISH, NULL);
	srv_ack(&h, RP_MQTT_PUBCOMP, q1, 0, RP_E_PROTOCOL);
	expect_closed(&h, RP_E_PROTOCOL, 0x82);

	/* PUBCOMP for nothing. */
	connected(&h, RP_MQTT_V5);
	srv_ack(&h, RP_MQTT_PUBCOMP, 9, 0, RP_E_PROTOCOL);
	expect_closed(&h, RP_E_PROTOCOL, 0x82);
	assert_int_equal(h.nev, 0);
}

static void test_publish_refusals(void **state)
{
	harness h;
	rp_mqttc_message m;
	rp_mqtt_props props, mp;
	uint16_t id;
	char big[1100];

	(void)state;
	h_init(&h, RP_MQTT_V5);
	do_connect(&h, 1, 0);
	memset(&props, 0, sizeof(props));
	props.present = RP_MQTT_HAS(RP_MQTT_PROP_MAX_QOS) |
			RP_MQTT_HAS(RP_MQTT_PROP_RETAIN_AVAILABLE) |
			RP_MQTT_HAS(RP_MQTT_PROP_MAX_PACKET_SIZE);
	props.max_qos = 1;
	props.retain_available = 0;
	props.max_packet_size = 40;
	srv_connack(&h, 0, 0, &props);

	memset(&m, 0, sizeof(m));
	m.topic = TU_STR("t");
	m.qos = 2;
	assert_status(rp_mqttc_publish(&h.c, &m, &id), RP_E_QOS);
	m.qos = 1;
	m.retain = 1;
	assert_status(rp_mqttc_publish(&h.c, &m, &id), RP_E_DENIED);
	m.retain = 0;
	/* Over the server's Maximum Packet Size. */
	memset(big, 'p', sizeof(big));
	m.payload.p = (const uint8_t *)big;
	m.payload.len = 40;
	assert_status(rp_mqttc_publish(&h.c, &m, &id), RP_E_TOO_LARGE);
	/* Properties a client may not send. */
	m.payload.len = 1;
	memset(&mp, 0, sizeof(mp));
	mp.present = RP_MQTT_HAS(RP_MQTT_PROP_TOPIC_ALIAS);
	mp.topic_alias = 1;
	m.props = &mp;
	assert_status(rp_mqttc_publish(&h.c, &m, &id), RP_E_INVALID_ARG);
	memset(&mp, 0, sizeof(mp));
	mp.sub_id_count = 1;
	assert_status(rp_mqttc_publish(&h.c, &m, &id), RP_E_INVALID_ARG);
	/* Allowed properties travel with the message. */
	memset(&mp, 0, sizeof(mp));
	mp.present = RP_MQTT_HAS(RP_MQTT_PROP_MESSAGE_EXPIRY);
	mp.message_expiry = 30;
	assert_status(rp_mqttc_publish(&h.c, &m, &id), RP_OK);
	{
		rp_mqtt_packet pkt;

		out_expect(&h, RP_MQTT_PUBLISH, &pkt);
		assert_int_equal(pkt.u.publish.props.message_expiry, 30);
	}
	assert_int_equal(h.nev, 1);

	/* Larger than the output buffer (the server allows anything). */
	connected(&h, RP_MQTT_V5);
	m.props = NULL;
	m.payload.len = sizeof(big);
	h.c.txcap = 1024; /* smaller than the message, as if configured so */
	assert_status(rp_mqttc_publish(&h.c, &m, &id), RP_E_BUF_TOO_SMALL);
}

/* ---- publish, server to client ----------------------------------------- */

static void test_publish_in(void **state)
{
	harness h;

	(void)state;
	connected(&h, RP_MQTT_V5);
	srv_publish(&h, 0, 0, "c/0", "zero", 0);
	srv_publish(&h, 1, 5, "c/1", "one", 0);
	out_expect_ack(&h, RP_MQTT_PUBACK, 5, 0);
	/* A QoS 1 message sent again is reported again (at least once). */
	srv_publish(&h, 1, 5, "c/1", "one", 1);
	out_expect_ack(&h, RP_MQTT_PUBACK, 5, 0);
	srv_publish(&h, 2, 6, "c/2", "two", 0);
	out_expect_ack(&h, RP_MQTT_PUBREC, 6, 0);
	/* A QoS 2 message sent again before PUBREL: answered, not reported. */
	srv_publish(&h, 2, 6, "c/2", "two", 1);
	out_expect_ack(&h, RP_MQTT_PUBREC, 6, 0);
	assert_int_equal(h.nev, 4);
	assert_int_equal(h.ev[0].type, RP_MQTTC_EV_PUBLISH);
	assert_int_equal(h.ev[0].qos, 0);
	assert_string_equal(h.ev[0].topic, "c/0");
	assert_string_equal(h.ev[0].payload, "zero");
	assert_int_equal(h.ev[1].qos, 1);
	assert_int_equal(h.ev[1].id, 5);
	assert_int_equal(h.ev[2].dup, 1);
	assert_int_equal(h.ev[3].qos, 2);
	assert_int_equal(h.ev[3].id, 6);
	assert_string_equal(h.ev[3].payload, "two");

	srv_ack(&h, RP_MQTT_PUBREL, 6, 0, RP_OK);
	out_expect_ack(&h, RP_MQTT_PUBCOMP, 6, 0);
	/* PUBREL again (after a reconnect, say): PUBCOMP "not found". */
	srv_ack(&h, RP_MQTT_PUBREL, 6, 0, RP_OK);
	out_expect_ack(&h, RP_MQTT_PUBCOMP, 6, RP_MQTT_RC_PACKET_ID_NOT_FOUND);
	/* Released: the same identifier is a new message now. */
	srv_publish(&h, 2, 6, "c/2", "again", 0);
	out_expect_ack(&h, RP_MQTT_PUBREC, 6, 0);
	assert_int_equal(h.nev, 5);
	assert_string_equal(h.ev[4].payload, "again");
	out_none(&h);
}

static void test_publish_in_refused(void **state)
{
	harness h;

	(void)state;
	connected(&h, RP_MQTT_V5);
	h.answer = RP_MQTT_RC_NOT_AUTHORIZED;
	srv_publish(&h, 1, 1, "c", "x", 0);
	out_expect_ack(&h, RP_MQTT_PUBACK, 1, 0x87);
	h.answer = RP_MQTT_RC_PAYLOAD_FORMAT_INVALID;
	srv_publish(&h, 2, 2, "c", "x", 0);
	out_expect_ack(&h, RP_MQTT_PUBREC, 2, 0x99);
	/* A refused QoS 2 message is not remembered. */
	srv_ack(&h, RP_MQTT_PUBREL, 2, 0, RP_OK);
	out_expect_ack(&h, RP_MQTT_PUBCOMP, 2, RP_MQTT_RC_PACKET_ID_NOT_FOUND);
	/* Not a PUBACK reason code: sent as unspecified error. */
	h.answer = 0x42;
	srv_publish(&h, 1, 3, "c", "x", 0);
	out_expect_ack(&h, RP_MQTT_PUBACK, 3, 0x80);
	/* QoS 0: the answer is ignored. */
	srv_publish(&h, 0, 0, "c", "x", 0);
	out_none(&h);
	assert_int_equal(h.nev, 4);
}

static void test_receive_max_in(void **state)
{
	harness h;

	(void)state;
	h_setup(&h, RP_MQTT_V5, 8, sizeof(h.tx), 2);
	do_connect(&h, 1, 0);
	srv_connack(&h, 0, 0, NULL);
	srv_publish(&h, 2, 1, "c", "a", 0);
	srv_publish(&h, 2, 2, "c", "b", 0);
	/* QoS 1 does not stay in flight: the client answers at once. */
	srv_publish(&h, 1, 3, "c", "c", 0);
	out_expect_ack(&h, RP_MQTT_PUBREC, 1, 0);
	out_expect_ack(&h, RP_MQTT_PUBREC, 2, 0);
	out_expect_ack(&h, RP_MQTT_PUBACK, 3, 0);
	{
		rp_mqtt_packet p;

		mk_publish(&p, 2, 4, "c", "d");
		srv(&h, &p, RP_E_LIMIT);
	}
	expect_closed(&h, RP_E_LIMIT, RP_MQTT_RC_RECEIVE_MAX_EXCEEDED);
	assert_int_equal(h.nev, 4);
}

/* ---- flow control out -------------------------------------------------- */

static void test_receive_max_out(void **state)
{
	harness h;
	rp_mqtt_props props;
	rp_mqttc_message m = msg_q1;
	uint16_t a, b, c;

	(void)state;
	h_setup(&h, RP_MQTT_V5, 3, sizeof(h.tx), 4);
	do_connect(&h, 1, 0);
	memset(&props, 0, sizeof(props));
	props.present = RP_MQTT_HAS(RP_MQTT_PROP_RECEIVE_MAX);
	props.receive_max = 2;
	srv_connack(&h, 0, 0, &props);
	a = pub(&h, "t", "a", 1);
	b = pub(&h, "t", "b", 2);
	/* The server's quota is 2 [MQTT-4.9.0-2]. */
	assert_status(rp_mqttc_publish(&h.c, &m, &c), RP_E_BUSY);
	/* QoS 0 is not counted. */
	pub(&h, "t", "z", 0);
	srv_ack(&h, RP_MQTT_PUBACK, a, 0, RP_OK);
	c = pub(&h, "t", "c", 1);
	assert_int_equal(c, 3);
	out_expect(&h, RP_MQTT_PUBLISH, NULL);
	out_expect(&h, RP_MQTT_PUBLISH, NULL);
	out_expect(&h, RP_MQTT_PUBLISH, NULL);
	out_expect(&h, RP_MQTT_PUBLISH, NULL);
	out_none(&h);
	/* Now the slots (3) are the bound: b, c and a subscription. */
	{
		rp_mqtt_sub_entry e;
		uint16_t sid;

		memset(&e, 0, sizeof(e));
		e.filter = TU_STR("c/#");
		assert_status(rp_mqttc_subscribe(&h.c, &e, 1, NULL, &sid), RP_OK);
		assert_status(rp_mqttc_subscribe(&h.c, &e, 1, NULL, &sid), RP_E_BUSY);
		srv_ack(&h, RP_MQTT_PUBREC, b, 0, RP_OK);
		assert_status(rp_mqttc_publish(&h.c, &m, &a), RP_E_BUSY);
	}
	assert_int_equal(rp_mqttc_inflight(&h.c), 3);
}

static void test_packet_ids(void **state)
{
	harness h;
	uint16_t a, b, c;

	(void)state;
	connected(&h, RP_MQTT_V5);
	h.c.next_id = 65534;
	a = pub(&h, "t", "a", 1);
	b = pub(&h, "t", "b", 1);
	c = pub(&h, "t", "c", 1);
	assert_int_equal(a, 65534);
	assert_int_equal(b, 65535);
	assert_int_equal(c, 1);
	/* Identifiers in use are skipped after the wrap. */
	h.c.next_id = 65534;
	srv_ack(&h, RP_MQTT_PUBACK, b, 0, RP_OK);
	assert_int_equal(pub(&h, "t", "d", 1), 65535);
	assert_int_equal(pub(&h, "t", "e", 1), 2);
}

/* ---- subscribe --------------------------------------------------------- */

static void test_subscribe(void **state)
{
	static const uint8_t codes[3] = {0x00, 0x01, 0x80};
	harness h;
	rp_mqtt_sub_entry e[3];
	rp_mqtt_props props;
	rp_mqtt_packet pkt;
	uint16_t id, uid;

	(void)state;
	connected(&h, RP_MQTT_V5);
	memset(e, 0, sizeof(e));
	e[0].filter = TU_STR("d/1/cmd/#");
	e[0].qos = 1;
	e[1].filter = TU_STR("d/1/ota/+");
	e[1].qos = 2;
	e[2].filter = TU_STR("$rampart/x");
	memset(&props, 0, sizeof(props));
	props.sub_id_count = 1;
	props.sub_ids = (const uint32_t[]){7};
	assert_status(rp_mqttc_subscribe(&h.c, e, 3, &props, &id), RP_OK);
	out_expect(&h, RP_MQTT_SUBSCRIBE, &pkt);
	assert_int_equal(pkt.u.subscribe.packet_id, id);
	assert_int_equal(pkt.u.subscribe.count, 3);
	assert_int_equal(pkt.u.subscribe.props.sub_id_count, 1);

	srv_suback(&h, RP_MQTT_SUBACK, id, codes, 3, RP_OK);
	assert_int_equal(h.nev, 1);
	assert_int_equal(h.ev[0].type, RP_MQTTC_EV_SUBACK);
	assert_int_equal(h.ev[0].id, id);
	assert_int_equal(h.ev[0].count, 3);
	assert_memory_equal(h.ev[0].codes, codes, 3);

	assert_status(rp_mqttc_unsubscribe(&h.c, e, 2, NULL, &uid), RP_OK);
	out_expect(&h, RP_MQTT_UNSUBSCRIBE, &pkt);
	assert_int_equal(pkt.u.subscribe.count, 2);
	srv_suback(&h, RP_MQTT_UNSUBACK, uid, (const uint8_t[]){0x00, 0x11}, 2, RP_OK);
	assert_int_equal(h.ev[1].type, RP_MQTTC_EV_UNSUBACK);
	assert_int_equal(h.ev[1].codes[1], 0x11);
	assert_int_equal(rp_mqttc_inflight(&h.c), 0);

	/* An invalid filter: the codec's status, nothing taken. */
	e[0].filter = TU_STR("a/#/b");
	assert_status(rp_mqttc_subscribe(&h.c, e, 1, NULL, &id), RP_E_TOPIC_FILTER);
	assert_int_equal(rp_mqttc_inflight(&h.c), 0);
	out_none(&h);

	/* A SUBACK with a code per filter, or it is a violation. */
	e[0].filter = TU_STR("a");
	assert_status(rp_mqttc_subscribe(&h.c, e, 2, NULL, &id), RP_OK);
	srv_suback(&h, RP_MQTT_SUBACK, id, codes, 1, RP_E_PROTOCOL);
	out_expect(&h, RP_MQTT_SUBSCRIBE, NULL);
	expect_closed(&h, RP_E_PROTOCOL, 0x82);

	/* A SUBACK for an UNSUBSCRIBE. */
	connected(&h, RP_MQTT_V5);
	assert_status(rp_mqttc_unsubscribe(&h.c, e, 1, NULL, &id), RP_OK);
	srv_suback(&h, RP_MQTT_SUBACK, id, codes, 1, RP_E_PROTOCOL);
	out_expect(&h, RP_MQTT_UNSUBSCRIBE, NULL);
	expect_closed(&h, RP_E_PROTOCOL, 0x82);
}

/* ---- session resumption ------------------------------------------------ */

/* Three messages in flight at each stage, then the connection drops. */
static void three_in_flight(harness *h, uint16_t *a, uint16_t *b, uint16_t *c)
{
	h_init(h, RP_MQTT_V5);
	do_connect(h, 0, 0);
	srv_connack(h, 0, 0, NULL);
	h->nev = 0;
	*a = pub(h, "t/a", "a", 1);
	*b = pub(h, "t/b", "b", 2);
	*c = pub(h, "t/c", "c", 2);
	out_expect(h, RP_MQTT_PUBLISH, NULL);
	out_expect(h, RP_MQTT_PUBLISH, NULL);
	out_expect(h, RP_MQTT_PUBLISH, NULL);
	srv_ack(h, RP_MQTT_PUBREC, *c, 0, RP_OK);
	out_expect_ack(h, RP_MQTT_PUBREL, *c, 0);
	/* And a QoS 2 message from the server, not yet released. */
	srv_publish(h, 2, 40, "c", "in", 0);
	out_expect_ack(h, RP_MQTT_PUBREC, 40, 0);
	assert_int_equal(h->nev, 1);
	h->nev = 0;
	/* A subscription waiting for its SUBACK is forgotten by reset. */
	{
		rp_mqtt_sub_entry e;
		uint16_t sid;

		memset(&e, 0, sizeof(e));
		e.filter = TU_STR("s");
		assert_status(rp_mqttc_subscribe(&h->c, &e, 1, NULL, &sid), RP_OK);
		out_expect(h, RP_MQTT_SUBSCRIBE, NULL);
	}
	assert_status(rp_mqttc_reset(&h->c), RP_OK);
	assert_int_equal(rp_mqttc_inflight(&h->c), 3);
	assert_int_equal(rp_mqttc_get_state(&h->c), RP_MQTTC_IDLE);
}

static void test_resume_session(void **state)
{
	harness h;
	rp_mqtt_packet pkt;
	uint16_t a, b, c;

	(void)state;
	three_in_flight(&h, &a, &b, &c);
	h.now = 5000;
	do_connect(&h, 0, 0);
	/* Nothing is resent before the server says the session is there. */
	out_none(&h);
	srv_connack(&h, 1, 0, NULL);
	assert_int_equal(h.nev, 1);
	assert_int_equal(h.ev[0].type, RP_MQTTC_EV_CONNACK);
	assert_int_equal(h.ev[0].sp, 1);
	/* In the original order, PUBLISH with DUP, PUBREL for QoS 2 at PUBREC. */
	out_expect(&h, RP_MQTT_PUBLISH, &pkt);
	assert_int_equal(pkt.u.publish.packet_id, a);
	assert_int_equal(pkt.u.publish.dup, 1);
	assert_int_equal(pkt.u.publish.qos, 1);
	assert_str(pkt.u.publish.topic, "t/a");
	out_expect(&h, RP_MQTT_PUBLISH, &pkt);
	assert_int_equal(pkt.u.publish.packet_id, b);
	assert_int_equal(pkt.u.publish.dup, 1);
	assert_int_equal(pkt.u.publish.qos, 2);
	out_expect_ack(&h, RP_MQTT_PUBREL, c, 0);
	out_none(&h);

	/* The server resends its unreleased QoS 2 message: not delivered again. */
	srv_publish(&h, 2, 40, "c", "in", 1);
	out_expect_ack(&h, RP_MQTT_PUBREC, 40, 0);
	srv_ack(&h, RP_MQTT_PUBREL, 40, 0, RP_OK);
	out_expect_ack(&h, RP_MQTT_PUBCOMP, 40, 0);
	assert_int_equal(h.nev, 1);

	srv_ack(&h, RP_MQTT_PUBACK, a, 0, RP_OK);
	srv_ack(&h, RP_MQTT_PUBREC, b, 0, RP_OK);
	out_expect_ack(&h, RP_MQTT_PUBREL, b, 0);
	srv_ack(&h, RP_MQTT_PUBCOMP, b, 0, RP_OK);
	srv_ack(&h, RP_MQTT_PUBCOMP, c, 0, RP_OK);
	assert_int_equal(h.nev, 4);
	assert_int_equal(rp_mqttc_inflight(&h.c), 0);
	out_none(&h);
}

static void test_resume_not_present(void **state)
{
	harness h;
	uint16_t a, b, c;

	(void)state;
	three_in_flight(&h, &a, &b, &c);
	do_connect(&h, 0, 0);
	srv_connack(&h, 0, 0, NULL);
	/* The session is gone [MQTT-3.2.2-5]: every message is reported lost. */
	assert_int_equal(h.nev, 4);
	assert_int_equal(h.ev[0].type, RP_MQTTC_EV_PUBLISH_LOST);
	assert_int_equal(h.ev[0].id, a);
	assert_string_equal(h.ev[0].topic, "t/a");
	assert_false(h.ev[0].has_pkt);
	assert_int_equal(h.ev[0].received, 0);
	assert_int_equal(h.ev[1].id, b);
	assert_int_equal(h.ev[1].received, 0);
	assert_int_equal(h.ev[2].id, c);
	assert_int_equal(h.ev[2].qos, 2);
	/* The server had c (PUBREC): publishing it again may deliver it twice. */
	assert_int_equal(h.ev[2].received, 1);
	assert_int_equal(h.ev[3].type, RP_MQTTC_EV_CONNACK);
	assert_int_equal(rp_mqttc_inflight(&h.c), 0);
	out_none(&h);
	/* And the server's QoS 2 message is forgotten too. */
	srv_ack(&h, RP_MQTT_PUBREL, 40, 0, RP_OK);
	out_expect_ack(&h, RP_MQTT_PUBCOMP, 40, RP_MQTT_RC_PACKET_ID_NOT_FOUND);

	/* The callback may publish a lost message again, at once. */
	three_in_flight(&h, &a, &b, &c);
	h.action = ACT_REPUBLISH;
	do_connect(&h, 0, 0);
	srv_connack(&h, 0, 0, NULL);
	assert_status(h.act_st, RP_OK);
	assert_int_equal(rp_mqttc_inflight(&h.c), 3);
	out_expect(&h, RP_MQTT_PUBLISH, NULL);
	out_expect(&h, RP_MQTT_PUBLISH, NULL);
	out_expect(&h, RP_MQTT_PUBLISH, NULL);
	out_none(&h);
}

static void test_resume_smaller_server(void **state)
{
	harness h;
	rp_mqtt_props props;
	rp_mqtt_packet pkt;
	uint16_t a, b, c;

	(void)state;
	/* A lower Receive Maximum: only as many as it allows are resent. */
	three_in_flight(&h, &a, &b, &c);
	do_connect(&h, 0, 0);
	memset(&props, 0, sizeof(props));
	props.present = RP_MQTT_HAS(RP_MQTT_PROP_RECEIVE_MAX);
	props.receive_max = 1;
	srv_connack(&h, 1, 0, &props);
	out_expect(&h, RP_MQTT_PUBLISH, &pkt);
	assert_int_equal(pkt.u.publish.packet_id, a);
	out_none(&h);
	srv_ack(&h, RP_MQTT_PUBACK, a, 0, RP_OK);
	out_expect(&h, RP_MQTT_PUBLISH, &pkt);
	assert_int_equal(pkt.u.publish.packet_id, b);
	out_none(&h);

	/* A lower Maximum Packet Size: what no longer fits is lost. */
	h_init(&h, RP_MQTT_V5);
	do_connect(&h, 0, 0);
	srv_connack(&h, 0, 0, NULL);
	a = pub(&h, "t/a", "a long payload, longer than the new maximum", 1);
	b = pub(&h, "t/b", "b", 1);
	out_expect(&h, RP_MQTT_PUBLISH, NULL);
	out_expect(&h, RP_MQTT_PUBLISH, NULL);
	assert_status(rp_mqttc_reset(&h.c), RP_OK);
	h.nev = 0;
	do_connect(&h, 0, 0);
	memset(&props, 0, sizeof(props));
	props.present = RP_MQTT_HAS(RP_MQTT_PROP_MAX_PACKET_SIZE);
	props.max_packet_size = 20;
	srv_connack(&h, 1, 0, &props);
	assert_int_equal(h.nev, 2);
	assert_int_equal(h.ev[0].type, RP_MQTTC_EV_PUBLISH_LOST);
	assert_int_equal(h.ev[0].id, a);
	assert_int_equal(h.ev[1].type, RP_MQTTC_EV_CONNACK);
	out_expect(&h, RP_MQTT_PUBLISH, &pkt);
	assert_int_equal(pkt.u.publish.packet_id, b);
	out_none(&h);
}

/* ---- keep alive and deadlines ------------------------------------------ */

static void test_keepalive(void **state)
{
	harness h;
	uint64_t next = 0;

	(void)state;
	h_init(&h, RP_MQTT_V5);
	do_connect(&h, 1, 10);
	srv_connack(&h, 0, 0, NULL);
	assert_status(rp_mqttc_tick(&h.c, 5000, &next), RP_OK);
	assert_int_equal(next, 10000);
	out_none(&h);
	assert_status(rp_mqttc_tick(&h.c, 10000, &next), RP_OK);
	out_expect(&h, RP_MQTT_PINGREQ, NULL);
	assert_int_equal(next, 10000 + RP_MQTTC_DEFAULT_RESPONSE_TIMEOUT_MS);
	/* Waiting: no second PINGREQ. */
	assert_status(rp_mqttc_tick(&h.c, 12000, &next), RP_OK);
	assert_int_equal(next, 10000 + RP_MQTTC_DEFAULT_RESPONSE_TIMEOUT_MS);
	out_none(&h);
	h.now = 13000;
	srv_simple(&h, RP_MQTT_PINGRESP, 0, RP_OK);
	assert_status(rp_mqttc_tick(&h.c, 13000, &next), RP_OK);
	assert_int_equal(next, 20000);

	/* A packet queued later moves the keep alive, dated by the last call. */
	h.now = 15000;
	assert_status(rp_mqttc_tick(&h.c, 15000, &next), RP_OK);
	pub(&h, "t", "x", 0);
	out_expect(&h, RP_MQTT_PUBLISH, NULL);
	assert_status(rp_mqttc_tick(&h.c, 16000, &next), RP_OK);
	assert_int_equal(next, 25000);

	/* No answer to the next PINGREQ: timed out, no DISCONNECT. */
	assert_status(rp_mqttc_tick(&h.c, 25000, &next), RP_OK);
	out_expect(&h, RP_MQTT_PINGREQ, NULL);
	assert_status(rp_mqttc_tick(&h.c, 35000, &next), RP_E_TIMEOUT);
	assert_true(next == RP_MQTTC_NO_DEADLINE);
	expect_closed(&h, RP_E_TIMEOUT, 0);
	assert_status(rp_mqttc_tick(&h.c, 36000, &next), RP_OK);
	assert_true(next == RP_MQTTC_NO_DEADLINE);
}

static void test_keepalive_other_packets(void **state)
{
	harness h;
	uint64_t next = 0;
	rp_mqtt_props props;

	(void)state;
	/* The server's keep alive replaces the client's (3.2.2.3.14). */
	h_init(&h, RP_MQTT_V5);
	do_connect(&h, 1, 60);
	memset(&props, 0, sizeof(props));
	props.present = RP_MQTT_HAS(RP_MQTT_PROP_SERVER_KEEPALIVE);
	props.server_keepalive = 3;
	srv_connack(&h, 0, 0, &props);
	assert_status(rp_mqttc_tick(&h.c, 0, &next), RP_OK);
	assert_int_equal(next, 3000);
	assert_status(rp_mqttc_tick(&h.c, 3000, &next), RP_OK);
	out_expect(&h, RP_MQTT_PINGREQ, NULL);
	/* Any packet from the server ends the wait. */
	h.now = 4000;
	srv_publish(&h, 0, 0, "c", "x", 0);
	assert_status(rp_mqttc_tick(&h.c, 4000, &next), RP_OK);
	assert_int_equal(next, 6000);

	/* Keep alive 0: no deadline. */
	connected(&h, RP_MQTT_V5);
	assert_status(rp_mqttc_tick(&h.c, 1000000, &next), RP_OK);
	assert_true(next == RP_MQTTC_NO_DEADLINE);
	out_none(&h);
}

static void test_connack_timeout(void **state)
{
	harness h;
	uint64_t next = 0;

	(void)state;
	h_init(&h, RP_MQTT_V5);
	h.now = 100;
	do_connect(&h, 1, 0);
	assert_status(rp_mqttc_tick(&h.c, 200, &next), RP_OK);
	assert_int_equal(next, 100 + RP_MQTTC_DEFAULT_RESPONSE_TIMEOUT_MS);
	/* The clock never goes back: an older time is ignored. */
	assert_status(rp_mqttc_tick(&h.c, 50, &next), RP_OK);
	assert_status(rp_mqttc_tick(&h.c, 100 + RP_MQTTC_DEFAULT_RESPONSE_TIMEOUT_MS, &next),
		      RP_E_TIMEOUT);
	expect_closed(&h, RP_E_TIMEOUT, 0);
}

static void test_ping_without_room(void **state)
{
	harness h;
	uint64_t next = 0;
	const uint8_t *o;
	size_t n;

	(void)state;
	h_setup(&h, RP_MQTT_V5, 8, RP_MQTTC_TXBUF_MIN, 4);
	do_connect(&h, 1, 1);
	srv_connack(&h, 0, 0, NULL);
	/* Fill the output and do not send it. */
	pub(&h, "t", "0123456789012345678901234", 0);
	assert_status(rp_mqttc_output(&h.c, &o, &n), RP_OK);
	assert_int_equal(n, RP_MQTTC_TXBUF_MIN - 1);
	assert_status(rp_mqttc_tick(&h.c, 1000, &next), RP_OK);
	assert_int_equal(next, 1000 + RP_MQTTC_DEFAULT_RESPONSE_TIMEOUT_MS);
	/* The PINGREQ is owed, and written once there is room. */
	out_expect(&h, RP_MQTT_PUBLISH, NULL);
	out_expect(&h, RP_MQTT_PINGREQ, NULL);
	out_none(&h);
}

/* ---- limits, malformed input ------------------------------------------- */

static void test_oversize_in(void **state)
{
	/* PUBLISH announcing 2000 bytes: refused from the header alone. */
	static const uint8_t hdr[] = {0x30, 0xD0, 0x0F};
	harness h;

	(void)state;
	connected(&h, RP_MQTT_V5);
	feed(&h, hdr, 2, RP_NEED_MORE);
	feed(&h, hdr, sizeof(hdr), RP_E_TOO_LARGE);
	expect_closed(&h, RP_E_TOO_LARGE, RP_MQTT_RC_PACKET_TOO_LARGE);
	assert_int_equal(h.nev, 0);
}

struct bad_case {
	const char *name;
	uint8_t bytes[40];
	size_t len;
	rp_status st;
	uint8_t reason;
};

/* Packets a server must not send, after a CONNACK that accepted the client. */
static const struct bad_case bad_v5[] = {
	{"reserved type 0", {0x00, 0x00}, 2, RP_E_PACKET_TYPE, 0x81},
	{"PUBACK reserved flags", {0x41, 0x02, 0x00, 0x01}, 4, RP_E_RESERVED_FLAGS, 0x81},
	{"remaining length 5 bytes",
	 {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01},
	 6,
	 RP_E_REMAINING_LENGTH,
	 0x81},
	{"PUBLISH QoS 3", {0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01}, 7, RP_E_QOS, 0x81},
	{"PUBLISH topic past end", {0x30, 0x03, 0x00, 0x09, 'a'}, 5, RP_E_MALFORMED, 0x81},
	{"PUBLISH wildcard topic", {0x30, 0x04, 0x00, 0x01, '#', 0x00}, 6, RP_E_TOPIC_NAME, 0x90},
	{"PUBLISH bad UTF-8", {0x30, 0x04, 0x00, 0x01, 0xC0, 0x00}, 6, RP_E_UTF8, 0x81},
	{"PUBLISH packet id 0",
	 {0x32, 0x06, 0x00, 0x01, 'a', 0x00, 0x00, 0x00},
	 8,
	 RP_E_PACKET_ID,
	 0x82},
	{"PUBLISH alias above maximum",
	 {0x30, 0x07, 0x00, 0x01, 'a', 0x03, 0x23, 0x00, 0x05},
	 9,
	 RP_E_PROTOCOL,
	 0x94},
	{"PUBLISH unknown alias",
	 {0x30, 0x06, 0x00, 0x00, 0x03, 0x23, 0x00, 0x02},
	 8,
	 RP_E_PROTOCOL,
	 0x82},
	{"PUBACK bad reason", {0x40, 0x03, 0x00, 0x01, 0x05}, 5, RP_E_REASON_CODE, 0x81},
	{"PINGRESP with a body", {0xD0, 0x01, 0x00}, 3, RP_E_TRAILING, 0x81},
	{"property duplicate",
	 {0x30, 0x0A, 0x00, 0x01, 'a', 0x06, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00},
	 12,
	 RP_E_PROPERTY_DUP,
	 0x82},
	{"CONNECT from the server",
	 {0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00},
	 15,
	 RP_E_PROTOCOL,
	 0x82},
	{"CONNECT of level 6 (0x84 is no DISCONNECT reason)",
	 {0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x06, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00},
	 15,
	 RP_E_PROTOCOL_VERSION,
	 0x82},
	{"SUBSCRIBE from the server",
	 {0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x00},
	 9,
	 RP_E_PROTOCOL,
	 0x82},
	{"PINGREQ from the server", {0xC0, 0x00}, 2, RP_E_PROTOCOL, 0x82},
	{"AUTH never asked for", {0xF0, 0x00}, 2, RP_E_PROTOCOL, 0x82},
	{"SUBACK for nothing", {0x90, 0x04, 0x00, 0x01, 0x00, 0x00}, 6, RP_E_PROTOCOL, 0x82},
	{"UNSUBACK for nothing", {0xB0, 0x04, 0x00, 0x01, 0x00, 0x00}, 6, RP_E_PROTOCOL, 0x82},
	{"PUBACK for nothing", {0x40, 0x02, 0x00, 0x01}, 4, RP_E_PROTOCOL, 0x82},
	{"topic over the limit",
	 {0x30, 0x43, 0x00, 0x3F, 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'},
	 0, /* built below */
	 RP_E_LIMIT,
	 0x97},
};

static void test_malformed_v5(void **state)
{
	harness h;
	size_t i;

	(void)state;
	for (i = 0; i < TU_ARRAY_LEN(bad_v5); i++) {
		const struct bad_case *b = &bad_v5[i];
		uint8_t buf[128];
		size_t len = b->len;

		memcpy(buf, b->bytes, sizeof(b->bytes));
		if (len == 0) {
			/* PUBLISH with a 63-byte topic (the limit is 62), no props. */
			buf[0] = 0x30;
			buf[1] = 2 + 63 + 1;
			buf[2] = 0;
			buf[3] = 63;
			memset(buf + 4, 'a', 63);
			buf[4 + 63] = 0;
			len = 2 + 2 + 63 + 1;
		}
		connected(&h, RP_MQTT_V5);
		print_message("bad case: %s\n", b->name);
		feed(&h, buf, len, b->st);
		expect_closed(&h, b->st, b->reason);
		assert_int_equal(h.nev, 0);
		/* Sticky: more input is refused until reset. */
		feed(&h, buf, len, RP_E_STATE);
	}
}

static void test_topic_alias(void **state)
{
	harness h;
	rp_mqtt_packet p;

	(void)state;
	connected(&h, RP_MQTT_V5);
	mk_publish(&p, 0, 0, "d/1/cmd/reboot", "1");
	p.u.publish.props.present = RP_MQTT_HAS(RP_MQTT_PROP_TOPIC_ALIAS);
	p.u.publish.props.topic_alias = 4;
	srv(&h, &p, RP_OK);
	p.u.publish.topic = TU_NSTR;
	p.u.publish.payload = TU_STR("2");
	srv(&h, &p, RP_OK);
	/* Set again to another topic. */
	p.u.publish.topic = TU_STR("x");
	srv(&h, &p, RP_OK);
	p.u.publish.topic = TU_NSTR;
	srv(&h, &p, RP_OK);
	assert_int_equal(h.nev, 4);
	assert_string_equal(h.ev[0].topic, "d/1/cmd/reboot");
	assert_string_equal(h.ev[1].topic, "d/1/cmd/reboot");
	assert_string_equal(h.ev[1].payload, "2");
	assert_string_equal(h.ev[2].topic, "x");
	assert_string_equal(h.ev[3].topic, "x");

	/* Aliases last one connection. */
	assert_status(rp_mqttc_reset(&h.c), RP_OK);
	do_connect(&h, 1, 0);
	srv_connack(&h, 0, 0, NULL);
	srv(&h, &p, RP_E_PROTOCOL);
	expect_closed(&h, RP_E_PROTOCOL, 0x82);
}

/* ---- output back pressure ---------------------------------------------- */

static void test_backpressure(void **state)
{
	harness h;
	uint8_t b[64];
	size_t n, used, k;
	rp_mqtt_packet p;
	const uint8_t *o;
	uint16_t id;
	rp_mqttc_message m;

	(void)state;
	h_setup(&h, RP_MQTT_V5, 8, RP_MQTTC_TXBUF_MIN, 4);
	do_connect(&h, 1, 0);
	srv_connack(&h, 0, 0, NULL);
	h.nev = 0;
	/* 28 bytes waiting: 4 left, fewer than an answer needs. */
	pub(&h, "t", "0123456789012345678901", 0);
	assert_status(rp_mqttc_output(&h.c, &o, &k), RP_OK);
	assert_int_equal(k, 28);
	mk_publish(&p, 1, 9, "c", "x");
	n = enc(&h, &p, b, sizeof(b));
	assert_status(rp_mqttc_input(&h.c, b, n, 0, &used, on_event, &h), RP_E_BUSY);
	assert_int_equal(used, 0);
	assert_int_equal(h.nev, 0);
	/* QoS 0 input needs no answer and goes through. */
	srv_publish(&h, 0, 0, "c", "x", 0);
	assert_int_equal(h.nev, 1);
	/* QoS 1 publishes wait for room, in order; QoS 0 cannot pass them. */
	id = pub(&h, "t", "one", 1);
	m = msg_q1;
	m.qos = 0;
	assert_status(rp_mqttc_publish(&h.c, &m, NULL), RP_E_BUSY);
	/* Partly sent: the rest is kept, moved to the front, and the PUBLISH goes behind. */
	assert_status(rp_mqttc_output(&h.c, &o, &k), RP_OK);
	assert_int_equal(k, 28);
	memcpy(h.out + h.nout, o, 10);
	h.nout += 10;
	assert_status(rp_mqttc_consumed(&h.c, 10), RP_OK);
	assert_status(rp_mqttc_output(&h.c, &o, &k), RP_OK);
	assert_int_equal(k, 18 + 11);
	out_expect(&h, RP_MQTT_PUBLISH, &p);
	assert_int_equal(p.u.publish.qos, 0);
	out_expect(&h, RP_MQTT_PUBLISH, &p);
	assert_int_equal(p.u.publish.packet_id, id);
	/* Room again: the same input is read now. */
	assert_status(rp_mqttc_input(&h.c, b, n, 0, &used, on_event, &h), RP_OK);
	assert_int_equal(used, n);
	out_expect_ack(&h, RP_MQTT_PUBACK, 9, 0);
	assert_int_equal(h.nev, 2);
}

static void test_disconnect_owed(void **state)
{
	harness h;
	const uint8_t *o;
	size_t k;

	(void)state;
	h_setup(&h, RP_MQTT_V5, 8, RP_MQTTC_TXBUF_MIN, 4);
	do_connect(&h, 1, 0);
	srv_connack(&h, 0, 0, NULL);
	pub(&h, "t", "012345678901234567890123", 0);
	assert_status(rp_mqttc_output(&h.c, &o, &k), RP_OK);
	assert_int_equal(k, 30);
	/* A violation with no room for the DISCONNECT: it is written later. */
	srv_ack(&h, RP_MQTT_PUBACK, 5, 0, RP_E_PROTOCOL);
	assert_status(rp_mqttc_output(&h.c, &o, &k), RP_OK);
	assert_int_equal(k, 30);
	out_expect(&h, RP_MQTT_PUBLISH, NULL);
	expect_closed(&h, RP_E_PROTOCOL, 0x82);
}

/* ---- splitting the input at every byte --------------------------------- */

/* One scripted session; the server's bytes arrive in pieces of `chunk`. */
static void scripted(harness *h, size_t chunk)
{
	static const uint8_t codes[2] = {0x01, 0x02};
	uint8_t stream[1024], rx[1024];
	size_t n = 0, rx_len = 0, fed = 0, used;
	rp_mqtt_sub_entry e[2];
	rp_mqtt_packet p;
	uint16_t a, b, s;
	rp_status st;

	h_init(h, RP_MQTT_V5);
	do_connect(h, 1, 0);
	srv_connack(h, 0, 0, NULL);
	h->nev = 0;
	a = pub(h, "t/a", "a", 1);
	b = pub(h, "t/b", "b", 2);
	memset(e, 0, sizeof(e));
	e[0].filter = TU_STR("c/1");
	e[1].filter = TU_STR("c/2");
	assert_status(rp_mqttc_subscribe(&h->c, e, 2, NULL, &s), RP_OK);

	mk_ack(&p, RP_MQTT_PUBACK, a, 0);
	n += enc(h, &p, stream + n, sizeof(stream) - n);
	mk_ack(&p, RP_MQTT_PUBREC, b, 0);
	n += enc(h, &p, stream + n, sizeof(stream) - n);
	mk_ack(&p, RP_MQTT_PUBCOMP, b, 0);
	n += enc(h, &p, stream + n, sizeof(stream) - n);
	memset(&p, 0, sizeof(p));
	p.type = RP_MQTT_SUBACK;
	p.u.suback.packet_id = s;
	p.u.suback.count = 2;
	p.u.suback.reason_codes = codes;
	n += enc(h, &p, stream + n, sizeof(stream) - n);
	mk_publish(&p, 0, 0, "c/1", "zero");
	n += enc(h, &p, stream + n, sizeof(stream) - n);
	mk_publish(&p, 1, 3, "c/1", "one");
	n += enc(h, &p, stream + n, sizeof(stream) - n);
	mk_publish(&p, 2, 4, "c/2", "two, a longer payload to cross more boundaries");
	n += enc(h, &p, stream + n, sizeof(stream) - n);
	p.u.publish.dup = 1;
	n += enc(h, &p, stream + n, sizeof(stream) - n);
	mk_ack(&p, RP_MQTT_PUBREL, 4, 0);
	n += enc(h, &p, stream + n, sizeof(stream) - n);
	memset(&p, 0, sizeof(p));
	p.type = RP_MQTT_PINGRESP;
	n += enc(h, &p, stream + n, sizeof(stream) - n);
	p.type = RP_MQTT_DISCONNECT;
	p.u.disconnect.reason_code = RP_MQTT_RC_SERVER_SHUTTING_DOWN;
	n += enc(h, &p, stream + n, sizeof(stream) - n);

	/* The caller's receive loop: append, input, keep the unused rest. */
	while (fed < n || rx_len != 0) {
		size_t k = n - fed < chunk ? n - fed : chunk;

		memcpy(rx + rx_len, stream + fed, k);
		rx_len += k;
		fed += k;
		st = rp_mqttc_input(&h->c, rx, rx_len, 0, &used, on_event, h);
		assert_true(st == RP_OK || st == RP_NEED_MORE);
		assert_true(used <= rx_len);
		if (st == RP_NEED_MORE) {
			assert_true(used < rx_len);
		}
		memmove(rx, rx + used, rx_len - used);
		rx_len -= used;
		if (rp_mqttc_get_state(&h->c) == RP_MQTTC_CLOSED) {
			assert_int_equal(fed, n);
			assert_int_equal(rx_len, 0);
			break;
		}
		if (k == 0) {
			assert_int_equal(rx_len, 0);
			break;
		}
		drain(h);
	}
	drain(h);
}

static void test_split_input(void **state)
{
	static harness whole, piece;
	size_t chunk;

	(void)state;
	scripted(&whole, 4096);
	assert_int_equal(whole.nev, 7);
	assert_int_equal(whole.ev[0].type, RP_MQTTC_EV_PUBLISH_DONE);
	assert_int_equal(whole.ev[1].type, RP_MQTTC_EV_PUBLISH_DONE);
	assert_int_equal(whole.ev[1].qos, 2);
	assert_int_equal(whole.ev[2].type, RP_MQTTC_EV_SUBACK);
	assert_int_equal(whole.ev[3].type, RP_MQTTC_EV_PUBLISH);
	assert_int_equal(whole.ev[5].type, RP_MQTTC_EV_PUBLISH);
	assert_string_equal(whole.ev[5].topic, "c/2");
	assert_int_equal(whole.ev[6].type, RP_MQTTC_EV_DISCONNECT);
	assert_int_equal(whole.ev[6].reason, 0x8B);
	assert_status(rp_mqttc_error(&whole.c), RP_E_CLOSED);
	for (chunk = 1; chunk <= 40; chunk++) {
		scripted(&piece, chunk);
		assert_int_equal(piece.nev, whole.nev);
		assert_memory_equal(piece.ev, whole.ev, sizeof(whole.ev[0]) * whole.nev);
		assert_int_equal(piece.nout, whole.nout);
		assert_memory_equal(piece.out, whole.out, whole.nout);
		assert_int_equal(rp_mqttc_get_state(&piece.c), RP_MQTTC_CLOSED);
	}
}

/* ---- 3.1.1 ------------------------------------------------------------- */

static void test_v311(void **state)
{
	harness h;
	rp_mqtt_packet pkt;
	rp_mqtt_sub_entry e;
	uint16_t id, q2;

	(void)state;
	connected(&h, RP_MQTT_V311);
	id = pub(&h, "t", "x", 1);
	out_expect(&h, RP_MQTT_PUBLISH, &pkt);
	srv_ack(&h, RP_MQTT_PUBACK, id, 0, RP_OK);
	q2 = pub(&h, "t", "x", 2);
	out_expect(&h, RP_MQTT_PUBLISH, NULL);
	srv_ack(&h, RP_MQTT_PUBREC, q2, 0, RP_OK);
	out_expect_ack(&h, RP_MQTT_PUBREL, q2, 0);
	srv_ack(&h, RP_MQTT_PUBCOMP, q2, 0, RP_OK);
	/* No reason codes in 3.1.1: an answer is always 0. */
	h.answer = 0x87;
	srv_publish(&h, 2, 3, "c", "y", 0);
	out_expect_ack(&h, RP_MQTT_PUBREC, 3, 0);
	srv_ack(&h, RP_MQTT_PUBREL, 3, 0, RP_OK);
	out_expect_ack(&h, RP_MQTT_PUBCOMP, 3, 0);
	srv_ack(&h, RP_MQTT_PUBREL, 3, 0, RP_OK);
	out_expect_ack(&h, RP_MQTT_PUBCOMP, 3, 0);
	srv_ack(&h, RP_MQTT_PUBREC, 99, 0, RP_OK);
	out_expect_ack(&h, RP_MQTT_PUBREL, 99, 0);
	/* SUBACK codes; an UNSUBACK has none. */
	memset(&e, 0, sizeof(e));
	e.filter = TU_STR("c/#");
	assert_status(rp_mqttc_subscribe(&h.c, &e, 1, NULL, &id), RP_OK);
	out_expect(&h, RP_MQTT_SUBSCRIBE, NULL);
	srv_suback(&h, RP_MQTT_SUBACK, id, (const uint8_t[]){0x80}, 1, RP_OK);
	assert_status(rp_mqttc_unsubscribe(&h.c, &e, 1, NULL, &id), RP_OK);
	out_expect(&h, RP_MQTT_UNSUBSCRIBE, NULL);
	srv_suback(&h, RP_MQTT_UNSUBACK, id, NULL, 0, RP_OK);
	assert_int_equal(h.nev, 5);
	assert_int_equal(h.ev[3].codes[0], 0x80);
	assert_int_equal(h.ev[4].type, RP_MQTTC_EV_UNSUBACK);
	assert_int_equal(h.ev[4].count, 0);
	out_none(&h);

	/* A violation closes without DISCONNECT (it would discard the will). */
	srv_ack(&h, RP_MQTT_PUBACK, 42, 0, RP_E_PROTOCOL);
	expect_closed(&h, RP_E_PROTOCOL, 0x82);
	out_none(&h);

	/* A 3.1.1 server never sends DISCONNECT. */
	connected(&h, RP_MQTT_V311);
	feed(&h, (const uint8_t[]){0xE0, 0x00}, 2, RP_E_PROTOCOL);
	expect_closed(&h, RP_E_PROTOCOL, 0x82);

	/* The client's DISCONNECT has no reason code. */
	connected(&h, RP_MQTT_V311);
	assert_status(rp_mqttc_disconnect(&h.c, 0x42), RP_OK);
	out_expect(&h, RP_MQTT_DISCONNECT, NULL);
	assert_int_equal(rp_mqttc_reason(&h.c), 0);
	out_none(&h);
}

/* ---- ending the connection --------------------------------------------- */

static void test_server_disconnect(void **state)
{
	harness h;
	rp_mqtt_packet p;
	uint8_t b[64];
	size_t n;

	(void)state;
	connected(&h, RP_MQTT_V5);
	memset(&p, 0, sizeof(p));
	p.type = RP_MQTT_DISCONNECT;
	p.u.disconnect.reason_code = RP_MQTT_RC_SESSION_TAKEN_OVER;
	p.u.disconnect.props.present = RP_MQTT_HAS(RP_MQTT_PROP_REASON_STRING);
	p.u.disconnect.props.reason_string = TU_STR("bye");
	n = enc(&h, &p, b, sizeof(b));
	/* Bytes behind the DISCONNECT are not read. */
	b[n] = 0xC0;
	b[n + 1] = 0x00;
	feed(&h, b, n + 2, RP_OK);
	assert_int_equal(h.nev, 1);
	assert_int_equal(h.ev[0].type, RP_MQTTC_EV_DISCONNECT);
	assert_int_equal(h.ev[0].reason, 0x8E);
	assert_true(h.ev[0].has_pkt);
	expect_closed(&h, RP_E_CLOSED, 0x8E);

	/* Before CONNACK too. */
	h_init(&h, RP_MQTT_V5);
	do_connect(&h, 1, 0);
	srv_simple(&h, RP_MQTT_DISCONNECT, RP_MQTT_RC_SERVER_BUSY, RP_OK);
	assert_int_equal(h.ev[0].reason, 0x89);
	assert_status(rp_mqttc_error(&h.c), RP_E_CLOSED);
}

static void test_client_disconnect(void **state)
{
	harness h;
	rp_mqtt_packet pkt;

	(void)state;
	connected(&h, RP_MQTT_V5);
	/* 0x05 is not a DISCONNECT reason code. */
	assert_status(rp_mqttc_disconnect(&h.c, 0x05), RP_E_INVALID_ARG);
	assert_status(rp_mqttc_disconnect(&h.c, RP_MQTT_RC_DISCONNECT_WITH_WILL), RP_OK);
	assert_status(rp_mqttc_disconnect(&h.c, 0), RP_E_STATE);
	out_expect(&h, RP_MQTT_DISCONNECT, &pkt);
	assert_int_equal(pkt.u.disconnect.reason_code, 0x04);
	out_none(&h);
	assert_int_equal(rp_mqttc_get_state(&h.c), RP_MQTTC_CLOSED);
	assert_status(rp_mqttc_error(&h.c), RP_OK);
	assert_int_equal(rp_mqttc_reason(&h.c), 0x04);

	/* While waiting for CONNACK. */
	h_init(&h, RP_MQTT_V5);
	do_connect(&h, 1, 0);
	assert_status(rp_mqttc_disconnect(&h.c, 0), RP_OK);
	out_expect(&h, RP_MQTT_DISCONNECT, NULL);
	assert_status(rp_mqttc_reset(&h.c), RP_OK);
	do_connect(&h, 1, 0);
}

/* ---- callbacks --------------------------------------------------------- */

static void test_callback_reentry(void **state)
{
	harness h;
	rp_mqtt_packet pkt;

	(void)state;
	/* Publishing from the callback: the answer still goes first. */
	connected(&h, RP_MQTT_V5);
	h.action = ACT_PUBLISH_Q1;
	srv_publish(&h, 1, 7, "c", "x", 0);
	assert_status(h.act_st, RP_OK);
	out_expect(&h, RP_MQTT_PUBLISH, &pkt);
	assert_int_equal(pkt.u.publish.packet_id, h.act_id);
	out_expect_ack(&h, RP_MQTT_PUBACK, 7, 0);
	out_none(&h);

	/* Everything else is refused inside a callback. */
	h.action = ACT_FORBIDDEN;
	srv_publish(&h, 0, 0, "c", "x", 0);
	assert_int_equal(h.nev, 2);

	/* Disconnecting from the callback of a QoS 1 message: no PUBACK. */
	connected(&h, RP_MQTT_V5);
	h.action = ACT_DISCONNECT;
	srv_publish(&h, 1, 8, "c", "x", 0);
	out_expect(&h, RP_MQTT_DISCONNECT, NULL);
	out_none(&h);

	/* ... of a QoS 2 message: no PUBREC, but it is remembered as delivered. */
	h_init(&h, RP_MQTT_V5);
	do_connect(&h, 0, 0);
	srv_connack(&h, 0, 0, NULL);
	h.action = ACT_DISCONNECT;
	srv_publish(&h, 2, 9, "c", "x", 0);
	out_expect(&h, RP_MQTT_DISCONNECT, NULL);
	out_none(&h);
	assert_status(rp_mqttc_reset(&h.c), RP_OK);
	do_connect(&h, 0, 0);
	srv_connack(&h, 1, 0, NULL);
	h.nev = 0;
	srv_publish(&h, 2, 9, "c", "x", 1);
	assert_int_equal(h.nev, 0);
	out_expect_ack(&h, RP_MQTT_PUBREC, 9, 0);

	/*
	 * Disconnecting from a LOST callback: the other lost messages and the
	 * CONNACK are still reported (the session is gone all the same).
	 */
	h_init(&h, RP_MQTT_V5);
	do_connect(&h, 0, 0);
	srv_connack(&h, 0, 0, NULL);
	pub(&h, "t", "a", 1);
	pub(&h, "t", "b", 1);
	assert_status(rp_mqttc_reset(&h.c), RP_OK);
	h.nev = 0;
	do_connect(&h, 0, 0);
	h.action = ACT_DISCONNECT_ANY;
	srv_connack(&h, 0, 0, NULL);
	assert_int_equal(h.nev, 3);
	assert_int_equal(h.ev[0].type, RP_MQTTC_EV_PUBLISH_LOST);
	assert_int_equal(h.ev[1].type, RP_MQTTC_EV_PUBLISH_LOST);
	assert_int_equal(h.ev[2].type, RP_MQTTC_EV_CONNACK);
	assert_int_equal(rp_mqttc_inflight(&h.c), 0);
	assert_int_equal(rp_mqttc_get_state(&h.c), RP_MQTTC_CLOSED);
	out_expect(&h, RP_MQTT_DISCONNECT, NULL);
	out_none(&h);

	/* No callback at all: events are dropped, messages accepted. */
	connected(&h, RP_MQTT_V5);
	{
		uint8_t b[64];
		size_t n, used;

		mk_publish(&pkt, 1, 3, "c", "x");
		n = enc(&h, &pkt, b, sizeof(b));
		assert_status(rp_mqttc_input(&h.c, b, n, 0, &used, NULL, NULL), RP_OK);
		assert_int_equal(used, n);
		out_expect_ack(&h, RP_MQTT_PUBACK, 3, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_args),
		cmocka_unit_test(test_null_args),
		cmocka_unit_test(test_connect_v5),
		cmocka_unit_test(test_connect_args),
		cmocka_unit_test(test_connack_refused_v5),
		cmocka_unit_test(test_connack_refused_v311),
		cmocka_unit_test(test_connack_violations),
		cmocka_unit_test(test_publish_qos0_out),
		cmocka_unit_test(test_publish_qos1_out),
		cmocka_unit_test(test_publish_qos2_out),
		cmocka_unit_test(test_ack_violations),
		cmocka_unit_test(test_publish_refusals),
		cmocka_unit_test(test_publish_in),
		cmocka_unit_test(test_publish_in_refused),
		cmocka_unit_test(test_receive_max_in),
		cmocka_unit_test(test_receive_max_out),
		cmocka_unit_test(test_packet_ids),
		cmocka_unit_test(test_subscribe),
		cmocka_unit_test(test_resume_session),
		cmocka_unit_test(test_resume_not_present),
		cmocka_unit_test(test_resume_smaller_server),
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_keepalive_other_packets),
		cmocka_unit_test(test_connack_timeout),
		cmocka_unit_test(test_ping_without_room),
		cmocka_unit_test(test_oversize_in),
		cmocka_unit_test(test_malformed_v5),
		cmocka_unit_test(test_topic_alias),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_disconnect_owed),
		cmocka_unit_test(test_split_input),
		cmocka_unit_test(test_v311),
		cmocka_unit_test(test_server_disconnect),
		cmocka_unit_test(test_client_disconnect),
		cmocka_unit_test(test_callback_reentry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
