/*
 * Unit tests of the broker core (server/broker), sans I/O: each test
 * drives clients with encoded packets and decodes what they are sent.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/policy.h"
#include "broker/broker.h"
#include "broker/internal.h" /* the window test lowers receive_max */
#include "util/alloc.h"

static const char policy_text[] = "role device\n"
				  "  publish d/%d/#\n"
				  "  subscribe d/%d/#\n"
				  "role commander\n"
				  "  publish d/+/cmd/#\n"
				  "  subscribe d/+/cmd/+/result\n"
				  "role ingest\n"
				  "  subscribe d/+/telemetry\n"
				  "  subscribe $share/ingest/d/+/telemetry\n"
				  "role relay\n"
				  "  publish r/%d/#\n"
				  "  subscribe r/%d/#\n";

typedef struct tclient {
	rp_client *c;
	int closed_by_core; /* io.close was called */
	int want_write;
	uint8_t version;
	uint8_t out[1 << 16];
	size_t out_len;
} tclient;

typedef struct env {
	rp_policy policy;
	rp_broker *b;
	rp_broker_limits lim;
	uint64_t now;
	rp_mqtt_limits plim;
} env;

static void io_want_write(void *ctx)
{
	((tclient *)ctx)->want_write = 1;
}

static void io_close(void *ctx)
{
	((tclient *)ctx)->closed_by_core = 1;
}

static void no_report(void *ctx, const char *file, unsigned line, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "policy: %s:%u: %s\n", file, line, msg);
}

static int setup(void **state)
{
	env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	assert_int_equal(rp_policy_parse(&e->policy, "test.policy", policy_text,
					 sizeof(policy_text) - 1u, no_report, NULL),
			 RP_OK);
	rp_broker_limits_default(&e->lim);
	e->lim.max_queued_messages = 8;
	e->b = rp_broker_new(&e->lim, &e->policy);
	assert_non_null(e->b);
	e->now = 1000000;
	rp_mqtt_limits_default(&e->plim);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	env *e = *state;

	rp_broker_free(e->b);
	rp_policy_free(&e->policy);
	free(e);
	return 0;
}

static void client_open_from(env *e, tclient *t, const char *id, const char *role, const char *addr)
{
	rp_identity who = {id, role, addr};
	rp_client_io io = {t, io_want_write, io_close};

	memset(t, 0, sizeof(*t));
	t->c = rp_client_new(e->b, &who, &io, e->now);
	assert_non_null(t->c);
}

static void client_open(env *e, tclient *t, const char *id, const char *role)
{
	client_open_from(e, t, id, role, "127.0.0.1");
}

/* Moves the client's pending output into t->out. */
static void drain(tclient *t)
{
	const uint8_t *buf;
	size_t len;

	rp_client_output(t->c, &buf, &len);
	if (len == 0) {
		return;
	}
	assert_true(t->out_len + len <= sizeof(t->out));
	memcpy(t->out + t->out_len, buf, len);
	t->out_len += len;
	rp_client_consumed(t->c, len);
}

static rp_status feed_pkt(env *e, tclient *t, const rp_mqtt_packet *p)
{
	uint8_t buf[4096];
	size_t n, used = 0;
	rp_status st;

	assert_int_equal(rp_mqtt_encode(p, t->version, &e->plim, buf, sizeof(buf), &n), RP_OK);
	st = rp_client_input(t->c, buf, n, &used, e->now);
	drain(t);
	return st;
}

static rp_status feed_raw(env *e, tclient *t, const uint8_t *buf, size_t n)
{
	size_t used = 0;
	rp_status st = rp_client_input(t->c, buf, n, &used, e->now);

	drain(t);
	return st;
}

/* Takes the next packet sent to t; returns 0 when there is none. */
static int next_pkt(env *e, tclient *t, rp_mqtt_packet *p, uint8_t *copy, size_t cap)
{
	size_t used = 0;
	rp_status st;

	drain(t);
	if (t->out_len == 0) {
		return 0;
	}
	assert_true(t->out_len <= cap);
	memcpy(copy, t->out, t->out_len);
	st = rp_mqtt_decode(copy, t->out_len, t->version, &e->plim, p, &used);
	assert_int_equal(st, RP_OK);
	memmove(t->out, t->out + used, t->out_len - used);
	t->out_len -= used;
	return 1;
}

static void close_client(env *e, tclient *t)
{
	rp_client_closed(t->c, e->now);
	rp_client_free(t->c);
	t->c = NULL;
}

static rp_mqtt_str S(const char *s)
{
	rp_mqtt_str r = {(const uint8_t *)s, (uint32_t)strlen(s)};

	return r;
}

static rp_status connect_as(env *e, tclient *t, uint8_t version, const char *client_id, int clean,
			    uint32_t expiry)
{
	rp_mqtt_packet p;

	memset(&p, 0, sizeof(p));
	p.type = RP_MQTT_CONNECT;
	p.u.connect.version = version;
	p.u.connect.clean_start = (uint8_t)clean;
	p.u.connect.keepalive = 30;
	p.u.connect.client_id = S(client_id);
	if (version == RP_MQTT_V5 && expiry != 0) {
		p.u.connect.props.present = RP_MQTT_HAS(RP_MQTT_PROP_SESSION_EXPIRY);
		p.u.connect.props.session_expiry = expiry;
	}
	t->version = version;
	return feed_pkt(e, t, &p);
}

static uint8_t expect_connack(env *e, tclient *t, uint8_t *session_present)
{
	rp_mqtt_packet p;
	uint8_t copy[4096];

	assert_true(next_pkt(e, t, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_CONNACK);
	if (session_present != NULL) {
		*session_present = p.u.connack.session_present;
	}
	return p.u.connack.reason_code;
}

static void open_connected(env *e, tclient *t, const char *id, const char *role, uint8_t v)
{
	client_open(e, t, id, role);
	assert_int_equal(connect_as(e, t, v, id, 1, 0), RP_OK);
	assert_int_equal(expect_connack(e, t, NULL), 0);
	assert_true(rp_client_connected(t->c));
}

static uint8_t subscribe(env *e, tclient *t, const char *filter, uint8_t qos)
{
	rp_mqtt_packet p, r;
	rp_mqtt_sub_entry en;
	uint8_t copy[4096];

	memset(&p, 0, sizeof(p));
	memset(&en, 0, sizeof(en));
	en.filter = S(filter);
	en.qos = qos;
	p.type = RP_MQTT_SUBSCRIBE;
	p.u.subscribe.packet_id = 7;
	p.u.subscribe.count = 1;
	p.u.subscribe.entries = &en;
	assert_int_equal(feed_pkt(e, t, &p), RP_OK);
	assert_true(next_pkt(e, t, &r, copy, sizeof(copy)));
	assert_int_equal(r.type, RP_MQTT_SUBACK);
	assert_int_equal(r.u.suback.packet_id, 7);
	assert_int_equal(r.u.suback.count, 1);
	return r.u.suback.reason_codes[0];
}

static rp_status publish(env *e, tclient *t, const char *topic, const char *payload, uint8_t qos,
			 uint16_t id, int retain)
{
	rp_mqtt_packet p;

	memset(&p, 0, sizeof(p));
	p.type = RP_MQTT_PUBLISH;
	p.u.publish.topic = S(topic);
	p.u.publish.payload = S(payload);
	p.u.publish.qos = qos;
	p.u.publish.packet_id = id;
	p.u.publish.retain = (uint8_t)retain;
	return feed_pkt(e, t, &p);
}

/* ---- tests ------------------------------------------------------------- */

static void test_connect_identity_from_certificate(void **state)
{
	env *e = *state;
	tclient a, b, c3;
	rp_mqtt_packet p;
	uint8_t copy[4096];

	/* Same client id as the certificate: accepted. */
	open_connected(e, &a, "dev-a", "device", RP_MQTT_V5);
	close_client(e, &a);

	/* Another device's id: refused with 0x85 (v5) and 0x02 (3.1.1). */
	client_open(e, &b, "dev-b", "device");
	assert_int_equal(connect_as(e, &b, RP_MQTT_V5, "dev-a", 1, 0), RP_E_CLOSED);
	assert_int_equal(expect_connack(e, &b, NULL), RP_MQTT_RC_CLIENT_ID_INVALID);
	close_client(e, &b);
	client_open(e, &c3, "dev-b", "device");
	assert_int_equal(connect_as(e, &c3, RP_MQTT_V311, "dev-a", 1, 0), RP_E_CLOSED);
	assert_int_equal(expect_connack(e, &c3, NULL), RP_MQTT311_CONNACK_ID_REJECTED);
	close_client(e, &c3);
	assert_int_equal(rp_broker_counters_for_id(e->b, "dev-b")->connect_refused, 2);

	/* Empty client id: assigned from the certificate (v5 says so). */
	client_open(e, &a, "dev-a", "device");
	assert_int_equal(connect_as(e, &a, RP_MQTT_V5, "", 1, 0), RP_OK);
	assert_true(next_pkt(e, &a, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_CONNACK);
	assert_int_equal(p.u.connack.reason_code, 0);
	assert_true(p.u.connack.props.present & RP_MQTT_HAS(RP_MQTT_PROP_ASSIGNED_CLIENT_ID));
	assert_int_equal(p.u.connack.props.assigned_client_id.len, 5);
	assert_memory_equal(p.u.connack.props.assigned_client_id.p, "dev-a", 5);
	close_client(e, &a);
}

static void test_first_packet_must_be_connect(void **state)
{
	env *e = *state;
	tclient t;
	const uint8_t ping[] = {0xC0, 0x00};

	client_open(e, &t, "dev-a", "device");
	assert_int_equal(feed_raw(e, &t, ping, sizeof(ping)), RP_E_CLOSED);
	assert_int_equal(t.out_len, 0);
	close_client(e, &t);
}

static void test_device_isolation(void **state)
{
	env *e = *state;
	tclient a, b;
	rp_mqtt_packet p;
	uint8_t copy[4096];

	open_connected(e, &a, "dev-a", "device", RP_MQTT_V5);
	open_connected(e, &b, "dev-b", "device", RP_MQTT_V5);
	assert_int_equal(subscribe(e, &a, "d/dev-a/cmd/#", 1), 1);
	/* b may not read a's topics, nor everything. */
	assert_int_equal(subscribe(e, &b, "d/dev-a/#", 1), RP_MQTT_RC_NOT_AUTHORIZED);
	assert_int_equal(subscribe(e, &b, "#", 0), RP_MQTT_RC_NOT_AUTHORIZED);
	assert_int_equal(subscribe(e, &b, "d/+/telemetry", 0), RP_MQTT_RC_NOT_AUTHORIZED);
	/* b may not write a's topics: PUBACK 0x87 and a gets nothing. */
	assert_int_equal(publish(e, &b, "d/dev-a/cmd/reboot", "x", 1, 3, 0), RP_OK);
	assert_true(next_pkt(e, &b, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBACK);
	assert_int_equal(p.u.ack.reason_code, RP_MQTT_RC_NOT_AUTHORIZED);
	assert_int_equal(a.out_len, 0);
	assert_int_equal(rp_broker_counters_for_id(e->b, "dev-b")->acl_denied, 4);
	assert_int_equal(rp_broker_counters_for_addr(e->b, "127.0.0.1")->acl_denied, 4);
	/* The reserved namespace. */
	assert_int_equal(publish(e, &a, "$rampart/x", "x", 0, 0, 0), RP_OK);
	close_client(e, &a);
	close_client(e, &b);
}

static void test_acl_denied_v311_closes(void **state)
{
	env *e = *state;
	tclient b;

	open_connected(e, &b, "dev-b", "device", RP_MQTT_V311);
	/* 3.1.1 has no way to say no: the connection is closed [MQTT-3.3.5-2]. */
	assert_int_equal(publish(e, &b, "d/dev-a/cmd/x", "x", 1, 1, 0), RP_E_CLOSED);
	assert_int_equal(b.out_len, 0);
	close_client(e, &b);
}

static void test_service_command_reaches_device(void **state)
{
	env *e = *state;
	tclient dev, svc;
	rp_mqtt_packet p;
	uint8_t copy[4096];

	open_connected(e, &dev, "dev-a", "device", RP_MQTT_V311);
	assert_int_equal(subscribe(e, &dev, "d/dev-a/cmd/#", 1), 1);
	open_connected(e, &svc, "ops", "commander", RP_MQTT_V5);
	assert_int_equal(publish(e, &svc, "d/dev-a/cmd/reboot", "now", 1, 9, 0), RP_OK);
	assert_true(next_pkt(e, &svc, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBACK);
	assert_int_equal(p.u.ack.reason_code, 0);
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBLISH);
	assert_int_equal(p.u.publish.qos, 1);
	assert_memory_equal(p.u.publish.topic.p, "d/dev-a/cmd/reboot", 18);
	assert_memory_equal(p.u.publish.payload.p, "now", 3);
	close_client(e, &dev);
	close_client(e, &svc);
}

static void test_qos1_inflight_and_window(void **state)
{
	env *e = *state;
	tclient dev, svc;
	rp_mqtt_packet p, ack;
	uint8_t copy[4096];
	uint16_t ids[40];
	int n = 0, i;

	open_connected(e, &dev, "dev-a", "device", RP_MQTT_V5);
	assert_int_equal(subscribe(e, &dev, "d/dev-a/cmd/#", 1), 1);
	open_connected(e, &svc, "ops", "commander", RP_MQTT_V5);
	/* More than the window (32): the rest waits in the queue (bound 8). */
	for (i = 0; i < 36; i++) {
		assert_int_equal(publish(e, &svc, "d/dev-a/cmd/x", "p", 1, (uint16_t)(i + 1), 0),
				 RP_OK);
	}
	while (next_pkt(e, &dev, &p, copy, sizeof(copy))) {
		assert_int_equal(p.type, RP_MQTT_PUBLISH);
		assert_int_not_equal(p.u.publish.packet_id, 0);
		ids[n++] = p.u.publish.packet_id;
	}
	assert_int_equal(n, 32);
	/* One ack frees one slot: the next queued message goes. */
	memset(&ack, 0, sizeof(ack));
	ack.type = RP_MQTT_PUBACK;
	ack.u.ack.packet_id = ids[0];
	assert_int_equal(feed_pkt(e, &dev, &ack), RP_OK);
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBLISH);
	assert_false(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	close_client(e, &dev);
	close_client(e, &svc);
}

static void test_qos2_exactly_once(void **state)
{
	env *e = *state;
	tclient dev, sub;
	rp_mqtt_packet p, rel;
	uint8_t copy[4096];

	open_connected(e, &sub, "ops", "commander", RP_MQTT_V5);
	assert_int_equal(subscribe(e, &sub, "d/+/cmd/+/result", 2), 2);
	open_connected(e, &dev, "dev-a", "device", RP_MQTT_V5);
	assert_int_equal(publish(e, &dev, "d/dev-a/cmd/x/result", "ok", 2, 5, 0), RP_OK);
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBREC);
	/* The same PUBLISH again (lost PUBREC): acknowledged, not delivered twice. */
	assert_int_equal(publish(e, &dev, "d/dev-a/cmd/x/result", "ok", 2, 5, 0), RP_OK);
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBREC);
	memset(&rel, 0, sizeof(rel));
	rel.type = RP_MQTT_PUBREL;
	rel.u.ack.packet_id = 5;
	assert_int_equal(feed_pkt(e, &dev, &rel), RP_OK);
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBCOMP);
	assert_int_equal(p.u.ack.reason_code, 0);
	/* PUBREL for an unknown id: PUBCOMP 0x92. */
	assert_int_equal(feed_pkt(e, &dev, &rel), RP_OK);
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	assert_int_equal(p.u.ack.reason_code, RP_MQTT_RC_PACKET_ID_NOT_FOUND);

	/* The subscriber got it once, QoS 2, and completes the flow. */
	assert_true(next_pkt(e, &sub, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBLISH);
	assert_int_equal(p.u.publish.qos, 2);
	memset(&rel, 0, sizeof(rel));
	rel.type = RP_MQTT_PUBREC;
	rel.u.ack.packet_id = p.u.publish.packet_id;
	assert_false(next_pkt(e, &sub, &p, copy, sizeof(copy)));
	assert_int_equal(feed_pkt(e, &sub, &rel), RP_OK);
	assert_true(next_pkt(e, &sub, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBREL);
	rel.type = RP_MQTT_PUBCOMP;
	assert_int_equal(feed_pkt(e, &sub, &rel), RP_OK);
	assert_false(next_pkt(e, &sub, &p, copy, sizeof(copy)));
	close_client(e, &dev);
	close_client(e, &sub);
}

static void test_retained(void **state)
{
	env *e = *state;
	tclient dev, late;
	rp_mqtt_packet p;
	uint8_t copy[4096];

	open_connected(e, &dev, "dev-a", "device", RP_MQTT_V5);
	assert_int_equal(publish(e, &dev, "d/dev-a/state", "on", 0, 0, 1), RP_OK);
	assert_int_equal(rp_broker_retained_count(e->b), 1);
	close_client(e, &dev);
	open_connected(e, &late, "dev-a", "device", RP_MQTT_V5);
	assert_int_equal(subscribe(e, &late, "d/dev-a/#", 1), 1);
	assert_true(next_pkt(e, &late, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBLISH);
	assert_int_equal(p.u.publish.retain, 1);
	assert_memory_equal(p.u.publish.payload.p, "on", 2);
	/* An empty retained message clears the topic. */
	assert_int_equal(publish(e, &late, "d/dev-a/state", "", 0, 0, 1), RP_OK);
	assert_int_equal(rp_broker_retained_count(e->b), 0);
	close_client(e, &late);
}

static void will_connect(rp_mqtt_packet *p, const char *will_topic)
{
	memset(p, 0, sizeof(*p));
	p->type = RP_MQTT_CONNECT;
	p->u.connect.version = RP_MQTT_V5;
	p->u.connect.clean_start = 1;
	p->u.connect.client_id = S("dev-a");
	p->u.connect.will_flag = 1;
	p->u.connect.will_topic = S(will_topic);
	p->u.connect.will_payload = S("bye");
}

static void test_will(void **state)
{
	env *e = *state;
	tclient dev, svc;
	rp_mqtt_packet p, d;
	uint8_t copy[4096];

	open_connected(e, &svc, "ops", "commander", RP_MQTT_V5);
	assert_int_equal(subscribe(e, &svc, "d/+/cmd/+/result", 0), 0);
	for (int normal = 0; normal < 2; normal++) {
		client_open(e, &dev, "dev-a", "device");
		will_connect(&p, "d/dev-a/cmd/gone/result");
		dev.version = RP_MQTT_V5;
		assert_int_equal(feed_pkt(e, &dev, &p), RP_OK);
		assert_int_equal(expect_connack(e, &dev, NULL), 0);
		if (normal) {
			memset(&d, 0, sizeof(d));
			d.type = RP_MQTT_DISCONNECT;
			assert_int_equal(feed_pkt(e, &dev, &d), RP_E_CLOSED);
		}
		close_client(e, &dev);
		if (normal) {
			assert_false(next_pkt(e, &svc, &p, copy, sizeof(copy)));
		} else {
			assert_true(next_pkt(e, &svc, &p, copy, sizeof(copy)));
			assert_int_equal(p.type, RP_MQTT_PUBLISH);
			assert_memory_equal(p.u.publish.payload.p, "bye", 3);
		}
	}
	/* A will topic outside the device's namespace is refused at CONNECT. */
	client_open(e, &dev, "dev-a", "device");
	will_connect(&p, "d/dev-b/cmd/x");
	dev.version = RP_MQTT_V5;
	assert_int_equal(feed_pkt(e, &dev, &p), RP_E_CLOSED);
	assert_int_equal(expect_connack(e, &dev, NULL), RP_MQTT_RC_NOT_AUTHORIZED);
	close_client(e, &dev);
	close_client(e, &svc);
}

static void test_persistent_session(void **state)
{
	env *e = *state;
	tclient dev, svc;
	rp_mqtt_packet p;
	uint8_t copy[4096], present = 0;

	client_open(e, &dev, "dev-a", "device");
	assert_int_equal(connect_as(e, &dev, RP_MQTT_V5, "dev-a", 1, 3600), RP_OK);
	assert_int_equal(expect_connack(e, &dev, &present), 0);
	assert_int_equal(present, 0);
	assert_int_equal(subscribe(e, &dev, "d/dev-a/cmd/#", 1), 1);
	close_client(e, &dev);
	assert_int_equal(rp_broker_session_count(e->b), 1);

	open_connected(e, &svc, "ops", "commander", RP_MQTT_V5);
	assert_int_equal(publish(e, &svc, "d/dev-a/cmd/a", "1", 1, 1, 0), RP_OK);
	assert_int_equal(publish(e, &svc, "d/dev-a/cmd/b", "0", 0, 0, 0), RP_OK);

	client_open(e, &dev, "dev-a", "device");
	assert_int_equal(connect_as(e, &dev, RP_MQTT_V5, "dev-a", 0, 3600), RP_OK);
	assert_int_equal(expect_connack(e, &dev, &present), 0);
	assert_int_equal(present, 1);
	/* The QoS 1 message waited; the QoS 0 one did not. */
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBLISH);
	assert_memory_equal(p.u.publish.topic.p, "d/dev-a/cmd/a", 13);
	assert_false(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	close_client(e, &dev);
	/* Expiry ends the session. */
	e->now += 3601u * 1000u;
	rp_broker_tick(e->b, e->now);
	assert_int_equal(rp_broker_session_count(e->b), 1); /* "ops" ends with its connection */
	close_client(e, &svc);
	assert_int_equal(rp_broker_session_count(e->b), 0);
}

static void test_offline_queue_bound_counted(void **state)
{
	env *e = *state;
	tclient dev, svc;

	client_open(e, &dev, "dev-a", "device");
	assert_int_equal(connect_as(e, &dev, RP_MQTT_V5, "dev-a", 1, 600), RP_OK);
	assert_int_equal(expect_connack(e, &dev, NULL), 0);
	assert_int_equal(subscribe(e, &dev, "d/dev-a/cmd/#", 1), 1);
	close_client(e, &dev);
	open_connected(e, &svc, "ops", "commander", RP_MQTT_V5);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(publish(e, &svc, "d/dev-a/cmd/x", "p", 1, (uint16_t)(i + 1), 0),
				 RP_OK);
	}
	/* The queue holds 8: two were refused and counted, not lost silently. */
	assert_int_equal(rp_broker_totals(e->b)->dropped_qos12, 2);
	/* Counted for the subscriber too: its monitoring sees who is falling behind. */
	assert_int_equal(rp_broker_counters_for_id(e->b, "dev-a")->dropped_qos12, 2);
	close_client(e, &svc);
}

/*
 * A service's session under "<name>:<instance>" belongs to the identity
 * <name> (the session keeps that identity as a prefix of its client id):
 * the ACL re-check at a policy reload (%d is the name), the counters of
 * refused deliveries, resumption and a ban all go by the name; the
 * instance is no identity, and another role with the same name does not
 * resume the session.
 */
static void test_service_instance_session(void **state)
{
	env *e = *state;
	tclient a, b, c;
	rp_mqtt_packet p;
	uint8_t copy[4096], present = 9;
	size_t kicked = 9;
	int n = 0;

	client_open(e, &a, "rl", "relay");
	assert_int_equal(connect_as(e, &a, RP_MQTT_V5, "rl:1", 1, 600), RP_OK);
	assert_int_equal(expect_connack(e, &a, &present), 0);
	assert_int_equal(present, 0);
	assert_int_equal(subscribe(e, &a, "r/rl/#", 1), 1);
	close_client(e, &a);
	/* Offline: the queue holds 8, the two refused count for "rl". */
	client_open(e, &b, "rl", "relay");
	assert_int_equal(connect_as(e, &b, RP_MQTT_V5, "rl:2", 1, 0), RP_OK);
	assert_int_equal(expect_connack(e, &b, NULL), 0);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(publish(e, &b, "r/rl/x", "p", 1, (uint16_t)(i + 1), 0), RP_OK);
	}
	assert_int_equal(rp_broker_counters_for_id(e->b, "rl")->dropped_qos12, 2);
	assert_null(rp_broker_counters_for_id(e->b, "rl:1"));
	/* r/rl/# is still granted to role relay, id "rl": the reload keeps it. */
	rp_broker_set_policy(e->b, &e->policy);
	client_open(e, &a, "rl", "relay");
	assert_int_equal(connect_as(e, &a, RP_MQTT_V5, "rl:1", 0, 600), RP_OK);
	assert_int_equal(expect_connack(e, &a, &present), 0);
	assert_int_equal(present, 1);
	assert_int_equal(publish(e, &b, "r/rl/live", "q", 0, 0, 0), RP_OK);
	while (next_pkt(e, &a, &p, copy, sizeof(copy))) {
		assert_int_equal(p.type, RP_MQTT_PUBLISH);
		n++;
	}
	assert_int_equal(n, 9); /* the 8 queued, then the live one */
	close_client(e, &a);
	/* The same name with another role: not the session's identity. */
	client_open(e, &c, "rl", "commander");
	assert_int_equal(connect_as(e, &c, RP_MQTT_V5, "rl:1", 0, 600), RP_OK);
	assert_int_equal(expect_connack(e, &c, &present), 0);
	assert_int_equal(present, 0);
	/* Banning the instance bans nobody; banning the name kicks both. */
	assert_int_equal(rp_broker_ban(e->b, "rl:1", &kicked), RP_OK);
	assert_int_equal(kicked, 0);
	assert_int_equal(rp_broker_ban(e->b, "rl", &kicked), RP_OK);
	assert_int_equal(kicked, 2);
	assert_true(b.closed_by_core);
	assert_true(c.closed_by_core);
	close_client(e, &b);
	close_client(e, &c);
}

/*
 * What an idle device costs the broker core, in bytes allocated through
 * rp_alloc(): its client, its session (sized to its client id), its
 * counters and their map entries. A guard for the idle-memory figure of
 * docs/performance.md (about 620 bytes here under ASan, which counts what
 * was asked, 660 with glibc's usable sizes; 780 when the client held its
 * identity in fixed buffers, 1,150 when a session held
 * fixed buffers for the longest client id and a second copy of the
 * identity): a change that grows it must say why and raise the bound.
 */
static void test_idle_device_footprint(void **state)
{
	enum { N = 64, BOUND = 700 };
	env *e = *state;
	tclient *t = calloc(N, sizeof(*t));
	size_t before, per;
	char id[32];

	assert_non_null(t);
	before = rp_alloc_in_use();
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "dev-%05d", i);
		open_connected(e, &t[i], id, "device", RP_MQTT_V311);
	}
	per = (rp_alloc_in_use() - before) / N;
	print_message("idle device: %zu bytes in the broker core\n", per);
	assert_true(per <= BOUND);
	for (int i = 0; i < N; i++) {
		close_client(e, &t[i]);
	}
	free(t);
}

static void test_keepalive_and_connect_deadline(void **state)
{
	env *e = *state;
	tclient t, slow;
	rp_mqtt_packet p;
	uint8_t copy[4096];
	uint64_t next = 0;

	open_connected(e, &t, "dev-a", "device", RP_MQTT_V5);
	assert_int_equal(rp_client_tick(t.c, e->now + 44000u, &next), RP_OK);
	assert_int_equal(next, e->now + 45000u);
	assert_int_equal(rp_client_tick(t.c, e->now + 45000u, &next), RP_E_CLOSED);
	drain(&t);
	assert_true(next_pkt(e, &t, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_DISCONNECT);
	assert_int_equal(p.u.disconnect.reason_code, RP_MQTT_RC_KEEPALIVE_TIMEOUT);
	close_client(e, &t);

	/* Connected at TCP/TLS level but no CONNECT within the deadline. */
	client_open(e, &slow, "dev-b", "device");
	assert_int_equal(rp_client_tick(slow.c, e->now + e->lim.connect_timeout_ms, &next),
			 RP_E_CLOSED);
	close_client(e, &slow);
}

static void test_malformed_after_connect(void **state)
{
	env *e = *state;
	tclient t;
	rp_mqtt_packet p;
	uint8_t copy[4096];
	/* PUBLISH QoS 0 to a topic with a wildcard. */
	const uint8_t bad[] = {0x30, 0x06, 0x00, 0x03, 'a', '/', '#', 0x00};

	open_connected(e, &t, "dev-a", "device", RP_MQTT_V5);
	assert_int_equal(feed_raw(e, &t, bad, sizeof(bad)), RP_E_CLOSED);
	assert_true(next_pkt(e, &t, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_DISCONNECT);
	assert_int_equal(p.u.disconnect.reason_code, RP_MQTT_RC_TOPIC_NAME_INVALID);
	assert_int_equal(rp_broker_counters_for_id(e->b, "dev-a")->protocol_errors, 1);
	close_client(e, &t);
}

static void test_unsupported_version(void **state)
{
	env *e = *state;
	tclient t;
	/* CONNECT "MQTT" level 3. */
	const uint8_t c3[] = {0x10, 0x0c, 0x00, 0x04, 'M',  'Q',  'T',
			      'T',  0x03, 0x02, 0x00, 0x3c, 0x00, 0x00};

	client_open(e, &t, "dev-a", "device");
	assert_int_equal(feed_raw(e, &t, c3, sizeof(c3)), RP_E_CLOSED);
	/* 3.1.1-format CONNACK with return code 1. */
	assert_int_equal(t.out_len, 4);
	assert_int_equal(t.out[0], 0x20);
	assert_int_equal(t.out[3], 0x01);
	close_client(e, &t);
}

static void test_session_takeover(void **state)
{
	env *e = *state;
	tclient a1, a2;
	rp_mqtt_packet p;
	uint8_t copy[4096];

	open_connected(e, &a1, "dev-a", "device", RP_MQTT_V5);
	open_connected(e, &a2, "dev-a", "device", RP_MQTT_V5);
	assert_true(a1.closed_by_core);
	drain(&a1);
	assert_true(next_pkt(e, &a1, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_DISCONNECT);
	assert_int_equal(p.u.disconnect.reason_code, RP_MQTT_RC_SESSION_TAKEN_OVER);
	close_client(e, &a1);
	/* The new connection keeps working. */
	assert_int_equal(subscribe(e, &a2, "d/dev-a/#", 0), 0);
	close_client(e, &a2);
}

static void test_topic_alias(void **state)
{
	env *e = *state;
	tclient dev, svc;
	rp_mqtt_packet p;
	uint8_t copy[4096];

	open_connected(e, &svc, "ops", "commander", RP_MQTT_V5);
	open_connected(e, &dev, "dev-a", "device", RP_MQTT_V5);
	assert_int_equal(subscribe(e, &dev, "d/dev-a/cmd/#", 0), 0);
	memset(&p, 0, sizeof(p));
	p.type = RP_MQTT_PUBLISH;
	p.u.publish.topic = S("d/dev-a/cmd/x");
	p.u.publish.payload = S("1");
	p.u.publish.props.present = RP_MQTT_HAS(RP_MQTT_PROP_TOPIC_ALIAS);
	p.u.publish.props.topic_alias = 3;
	assert_int_equal(feed_pkt(e, &svc, &p), RP_OK);
	/* Now by alias alone. */
	p.u.publish.topic = S("");
	p.u.publish.payload = S("2");
	assert_int_equal(feed_pkt(e, &svc, &p), RP_OK);
	for (int i = 0; i < 2; i++) {
		assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
		assert_int_equal(p.u.publish.topic.len, 13);
		assert_false(p.u.publish.props.present & RP_MQTT_HAS(RP_MQTT_PROP_TOPIC_ALIAS));
	}
	/* An alias above the maximum: DISCONNECT 0x94. */
	memset(&p, 0, sizeof(p));
	p.type = RP_MQTT_PUBLISH;
	p.u.publish.topic = S("d/dev-a/cmd/y");
	p.u.publish.props.present = RP_MQTT_HAS(RP_MQTT_PROP_TOPIC_ALIAS);
	p.u.publish.props.topic_alias = (uint16_t)(e->lim.topic_alias_max + 1u);
	assert_int_equal(feed_pkt(e, &svc, &p), RP_E_CLOSED);
	assert_true(next_pkt(e, &svc, &p, copy, sizeof(copy)));
	assert_int_equal(p.u.disconnect.reason_code, RP_MQTT_RC_TOPIC_ALIAS_INVALID);
	close_client(e, &dev);
	close_client(e, &svc);
}

static void test_shared_subscription_once_per_group(void **state)
{
	env *e = *state;
	tclient i1, i2, dev;
	rp_mqtt_packet p;
	uint8_t copy[4096];
	int got1 = 0, got2 = 0;

	open_connected(e, &i1, "ingest", "ingest", RP_MQTT_V5);
	client_open(e, &i2, "ingest", "ingest");
	assert_int_equal(connect_as(e, &i2, RP_MQTT_V5, "ingest:2", 1, 0), RP_OK);
	assert_int_equal(expect_connack(e, &i2, NULL), 0);
	assert_int_equal(subscribe(e, &i1, "$share/ingest/d/+/telemetry", 1), 1);
	assert_int_equal(subscribe(e, &i2, "$share/ingest/d/+/telemetry", 1), 1);
	open_connected(e, &dev, "dev-a", "device", RP_MQTT_V5);
	for (int k = 0; k < 10; k++) {
		assert_int_equal(publish(e, &dev, "d/dev-a/telemetry", "t", 0, 0, 0), RP_OK);
	}
	while (next_pkt(e, &i1, &p, copy, sizeof(copy))) {
		got1++;
	}
	while (next_pkt(e, &i2, &p, copy, sizeof(copy))) {
		got2++;
	}
	assert_int_equal(got1 + got2, 10);
	assert_true(got1 > 0 && got2 > 0);
	close_client(e, &dev);
	close_client(e, &i1);
	close_client(e, &i2);
}

static void test_unknown_role_refused(void **state)
{
	env *e = *state;
	tclient t;

	client_open(e, &t, "svc-x", "no-such-role");
	assert_int_equal(connect_as(e, &t, RP_MQTT_V5, "svc-x", 1, 0), RP_E_CLOSED);
	assert_int_equal(expect_connack(e, &t, NULL), RP_MQTT_RC_NOT_AUTHORIZED);
	close_client(e, &t);
}

/* A device over its message rate is slowed, then disconnected with 0x96. */
static void test_device_rate_slowed_then_disconnected(void **state)
{
	env *e = *state;
	tclient dev, svc;
	rp_mqtt_packet p;
	uint8_t buf[64], copy[4096];
	size_t n, used = 0;
	int sent = 0, read_late = 0;
	uint64_t t;
	rp_status st;

	rp_broker_free(e->b);
	e->lim.device_msg_rate = 10;
	e->lim.device_msg_burst = 5;
	e->lim.rate_grace_ms = 2000;
	e->b = rp_broker_new(&e->lim, &e->policy);
	assert_non_null(e->b);
	open_connected(e, &dev, "dev-a", "device", RP_MQTT_V5);
	open_connected(e, &svc, "ops", "commander", RP_MQTT_V5);
	/* Service clients are not limited by device rates. */
	for (int i = 0; i < 50; i++) {
		assert_int_equal(publish(e, &svc, "d/dev-a/cmd/x", "", 0, 0, 0), RP_OK);
	}
	memset(&p, 0, sizeof(p));
	p.type = RP_MQTT_PUBLISH;
	p.u.publish.topic = S("d/dev-a/t");
	assert_int_equal(rp_mqtt_encode(&p, RP_MQTT_V5, &e->plim, buf, sizeof(buf), &n), RP_OK);
	/* The burst passes; the sixth packet is left unread and reading pauses. */
	for (int i = 0; i < 6; i++) {
		assert_int_equal(rp_client_input(dev.c, buf, n, &used, e->now), RP_OK);
		sent += used == n;
	}
	assert_int_equal(sent, 5);
	assert_int_equal(rp_client_throttled_until(dev.c), e->now + 100u);
	/* Read again when told: one token, one packet; the flood stays over its rate. */
	t = rp_client_throttled_until(dev.c);
	for (;;) {
		st = rp_client_input(dev.c, buf, n, &used, t);
		if (st != RP_OK) {
			break;
		}
		if (used == n) {
			read_late++;
			continue; /* the device keeps sending: next packet at once */
		}
		t = rp_client_throttled_until(dev.c);
		assert_true(t > 0);
	}
	/* Slowed to 10 per second for the 2 s grace, then DISCONNECT 0x96. */
	assert_int_equal(st, RP_E_CLOSED);
	assert_in_range(read_late, 19, 21);
	assert_in_range(t, e->now + 2000u, e->now + 2100u);
	drain(&dev);
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_DISCONNECT);
	assert_int_equal(p.u.disconnect.reason_code, RP_MQTT_RC_MESSAGE_RATE_TOO_HIGH);
	assert_int_equal(rp_broker_counters_for_id(e->b, "dev-a")->rate_exceeded, 1);
	close_client(e, &dev);
	close_client(e, &svc);
}

/* The plain development listener: the client id is the identity, held to CN rules. */
static void test_plain_listener_identity(void **state)
{
	env *e = *state;
	tclient t;

	client_open(e, &t, "", "device");
	assert_int_equal(connect_as(e, &t, RP_MQTT_V5, "d/x", 1, 0), RP_E_CLOSED);
	assert_int_equal(expect_connack(e, &t, NULL), RP_MQTT_RC_CLIENT_ID_INVALID);
	close_client(e, &t);
	client_open(e, &t, "", "device");
	assert_int_equal(connect_as(e, &t, RP_MQTT_V5, "", 1, 0), RP_E_CLOSED);
	assert_int_equal(expect_connack(e, &t, NULL), RP_MQTT_RC_CLIENT_ID_INVALID);
	close_client(e, &t);
	client_open(e, &t, "", "device");
	assert_int_equal(connect_as(e, &t, RP_MQTT_V5, "dev-a", 1, 0), RP_OK);
	assert_int_equal(expect_connack(e, &t, NULL), 0);
	/* The device ACL applies to that identity. */
	assert_int_equal(subscribe(e, &t, "d/dev-a/#", 0), 0);
	assert_int_equal(subscribe(e, &t, "d/dev-b/#", 0), RP_MQTT_RC_NOT_AUTHORIZED);
	close_client(e, &t);
}

/* A publisher whose messages fill a subscriber's queue is slowed. */
static void test_backpressure_slows_publisher(void **state)
{
	env *e = *state;
	tclient dev, svc;
	int i;

	client_open(e, &dev, "dev-a", "device");
	assert_int_equal(connect_as(e, &dev, RP_MQTT_V5, "dev-a", 1, 600), RP_OK);
	assert_int_equal(expect_connack(e, &dev, NULL), 0);
	assert_int_equal(subscribe(e, &dev, "d/dev-a/cmd/#", 1), 1);
	close_client(e, &dev); /* offline: its queue (bound 8) fills */
	open_connected(e, &svc, "ops", "commander", RP_MQTT_V5);
	for (i = 0; i < 7; i++) {
		assert_int_equal(publish(e, &svc, "d/dev-a/cmd/x", "p", 1, (uint16_t)(i + 1), 0),
				 RP_OK);
		/* Above 3/4 of the bound (more than 6 of 8): the publisher is paused. */
		if (i < 6) {
			assert_int_equal(rp_client_throttled_until(svc.c), 0);
		}
	}
	assert_int_equal(rp_client_throttled_until(svc.c), e->now + 5u);
	assert_int_equal(rp_broker_totals(e->b)->dropped_qos12, 0);
	close_client(e, &svc);
}

/* The retained store is bounded per device namespace; clearing gives room back. */
/* ---- telemetry ingestion hook ------------------------------------------ */

typedef struct fake_store {
	rp_ingest *held[8];
	size_t nheld;
	int calls;
	int refuse;      /* answer "payload format invalid" */
	char topic[128]; /* of the last call */
} fake_store;

static rp_status fake_ingest(void *ctx, const rp_identity *who, const uint8_t *topic,
			     size_t topic_len, const uint8_t *payload, size_t len, uint8_t qos,
			     rp_ingest *t, uint8_t *reason)
{
	fake_store *f = ctx;

	(void)payload;
	(void)len;
	assert_string_equal(who->role, "device");
	assert_true(topic_len < sizeof(f->topic));
	memcpy(f->topic, topic, topic_len);
	f->topic[topic_len] = 0;
	f->calls++;
	if (f->refuse) {
		*reason = RP_MQTT_RC_PAYLOAD_FORMAT_INVALID;
		return RP_E_MALFORMED;
	}
	if (qos == 1) {
		assert_non_null(t);
		assert_true(f->nheld < 8);
		f->held[f->nheld++] = t;
		return RP_NEED_MORE;
	}
	assert_null(t);
	return RP_OK;
}

/* Acknowledged means stored: the PUBACK of a device's QoS 1 telemetry waits
 * for the store, later acknowledgements of the same client wait behind it
 * (PUBLISH order), and the message is routed at once all the same. */
static void test_ingest_puback_after_store(void **state)
{
	env *e = *state;
	tclient dev, svc;
	fake_store f;
	rp_mqtt_packet p;
	uint8_t copy[4096];

	memset(&f, 0, sizeof(f));
	rp_broker_set_ingest(e->b, fake_ingest, &f);
	open_connected(e, &svc, "svc", "ingest", RP_MQTT_V5);
	assert_int_equal(subscribe(e, &svc, "d/+/telemetry", 0), 0);
	open_connected(e, &dev, "dev-a", "device", RP_MQTT_V5);
	assert_int_equal(publish(e, &dev, "d/dev-a/telemetry", "[{\"n\":\"t\",\"v\":1}]", 1, 1, 0),
			 RP_OK);
	assert_int_equal(f.calls, 1);
	assert_int_equal(f.nheld, 1);
	assert_false(next_pkt(e, &dev, &p, copy, sizeof(copy))); /* no PUBACK yet */
	assert_true(next_pkt(e, &svc, &p, copy, sizeof(copy)));  /* routed at once */
	assert_int_equal(p.type, RP_MQTT_PUBLISH);
	/* Not telemetry: acknowledged by the broker alone, but after id 1. */
	assert_int_equal(publish(e, &dev, "d/dev-a/other", "x", 1, 2, 0), RP_OK);
	assert_int_equal(publish(e, &dev, "d/dev-a/telemetry", "y", 1, 3, 0), RP_OK);
	assert_int_equal(f.nheld, 2);
	assert_false(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	/* The store answers the second one first: still nothing (order). */
	rp_ingest_done(f.held[1], 0);
	assert_false(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	rp_ingest_done(f.held[0], 0);
	for (uint16_t id = 1; id <= 3; id++) {
		assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
		assert_int_equal(p.type, RP_MQTT_PUBACK);
		assert_int_equal(p.u.ack.packet_id, id);
		assert_int_equal(p.u.ack.reason_code, 0);
	}
	/* A failed write is reported to the device (it will send again). */
	assert_int_equal(publish(e, &dev, "d/dev-a/telemetry", "z", 1, 4, 0), RP_OK);
	rp_ingest_done(f.held[2], RP_MQTT_RC_IMPL_SPECIFIC);
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	assert_int_equal(p.u.ack.packet_id, 4);
	assert_int_equal(p.u.ack.reason_code, RP_MQTT_RC_IMPL_SPECIFIC);
	/* The client leaves while the store works: the answer finds nobody. */
	assert_int_equal(publish(e, &dev, "d/dev-a/telemetry", "w", 1, 5, 0), RP_OK);
	close_client(e, &dev);
	rp_ingest_done(f.held[3], 0); /* freed, nothing sent (ASan: no leak, no use after free) */
	/* Another device's topic or a service is never handed to the hook. */
	f.calls = 0;
	assert_int_equal(publish(e, &svc, "d/dev-a/telemetry", "no", 0, 0, 0), RP_OK);
	assert_int_equal(f.calls, 0);
	close_client(e, &svc);
	rp_broker_set_ingest(e->b, NULL, NULL);
}

/* A command's result, d/{own id}/cmd/{name}/result, goes to the hook too
 * (with its topic); look-alikes do not. */
static void test_ingest_command_results(void **state)
{
	env *e = *state;
	tclient dev;
	fake_store f;
	static const char *const not_taken[] = {
		"d/dev-a/cmd/reboot",  "d/dev-a/cmd//result",        "d/dev-a/cmd/a/b/result",
		"d/dev-a/cmd/result",  "d/dev-a/cmd/reboot/results", "d/dev-ab/cmd/x/result",
		"d/dev-a/telemetry/x", "d/dev-a/cmdx/reboot/result",
	};

	memset(&f, 0, sizeof(f));
	rp_broker_set_ingest(e->b, fake_ingest, &f);
	open_connected(e, &dev, "dev-a", "device", RP_MQTT_V5);
	assert_int_equal(publish(e, &dev, "d/dev-a/cmd/reboot/result", "{}", 0, 0, 0), RP_OK);
	assert_int_equal(f.calls, 1);
	assert_string_equal(f.topic, "d/dev-a/cmd/reboot/result");
	for (size_t i = 0; i < sizeof(not_taken) / sizeof(not_taken[0]); i++) {
		f.calls = 0;
		(void)publish(e, &dev, not_taken[i], "{}", 0, 0, 0);
		if (f.calls != 0) {
			fail_msg("%s was handed to the hook", not_taken[i]);
		}
	}
	close_client(e, &dev);
	rp_broker_set_ingest(e->b, NULL, NULL);
}

typedef struct alert_log {
	int calls;
	char kind[32], id[RP_LIMIT_MQTT_CLIENT_ID_LEN + 1], detail[128];
} alert_log;

static void record_alert(void *ctx, const char *kind, const rp_identity *who, const char *detail)
{
	alert_log *l = ctx;

	l->calls++;
	snprintf(l->kind, sizeof(l->kind), "%s", kind);
	snprintf(l->id, sizeof(l->id), "%s", who->id);
	snprintf(l->detail, sizeof(l->detail), "%s", detail);
}

/* One device certificate live from two addresses at once is a cloned or
 * shared credential: alert. A reconnect from the same address, or a
 * service's second instance, is not. */
static void test_cloned_credential_alert(void **state)
{
	env *e = *state;
	tclient a, b, c, s1, s2;
	alert_log l;

	memset(&l, 0, sizeof(l));
	rp_broker_set_alert_hook(e->b, record_alert, &l);
	client_open_from(e, &a, "dev-a", "device", "192.0.2.1");
	assert_int_equal(connect_as(e, &a, RP_MQTT_V5, "dev-a", 1, 0), RP_OK);
	client_open_from(e, &b, "dev-a", "device", "192.0.2.1");
	assert_int_equal(connect_as(e, &b, RP_MQTT_V5, "dev-a", 1, 0), RP_OK);
	assert_int_equal(l.calls, 0); /* same address: a reconnect */
	client_open_from(e, &c, "dev-a", "device", "198.51.100.7");
	assert_int_equal(connect_as(e, &c, RP_MQTT_V5, "dev-a", 1, 0), RP_OK);
	assert_int_equal(l.calls, 1);
	assert_string_equal(l.kind, "credential_cloned");
	assert_string_equal(l.id, "dev-a");
	assert_string_equal(l.detail, "{\"addresses\":[\"192.0.2.1\",\"198.51.100.7\"]}");
	client_open_from(e, &s1, "svc", "ingest", "192.0.2.1");
	assert_int_equal(connect_as(e, &s1, RP_MQTT_V5, "svc", 1, 0), RP_OK);
	client_open_from(e, &s2, "svc", "ingest", "192.0.2.2");
	assert_int_equal(connect_as(e, &s2, RP_MQTT_V5, "svc", 1, 0), RP_OK);
	assert_int_equal(l.calls, 1); /* services may run anywhere */
	close_client(e, &a);
	close_client(e, &b);
	close_client(e, &c);
	close_client(e, &s1);
	close_client(e, &s2);
	rp_broker_set_alert_hook(e->b, NULL, NULL);
}

/* Revocation: a banned identity is kicked now (DISCONNECT 0x98, closed by
 * its connection layer), and refused at every later CONNECT (0x8A; 3.1.1:
 * not authorized); other identities are untouched. */
static void test_ban(void **state)
{
	env *e = *state;
	tclient dev, other, again, old;
	rp_mqtt_packet p;
	uint8_t copy[4096];
	size_t kicked = 9;

	open_connected(e, &dev, "dev-a", "device", RP_MQTT_V5);
	open_connected(e, &other, "dev-b", "device", RP_MQTT_V5);
	assert_false(rp_broker_banned(e->b, "dev-a"));
	assert_int_equal(rp_broker_ban(e->b, "dev-a", &kicked), RP_OK);
	assert_int_equal(kicked, 1);
	assert_true(rp_broker_banned(e->b, "dev-a"));
	assert_true(dev.closed_by_core);
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_DISCONNECT);
	assert_int_equal(p.u.disconnect.reason_code, RP_MQTT_RC_ADMINISTRATIVE_ACTION);
	assert_false(other.closed_by_core);
	close_client(e, &dev);
	/* Back with the same (still verifying) certificate: refused. */
	client_open(e, &again, "dev-a", "device");
	(void)connect_as(e, &again, RP_MQTT_V5, "dev-a", 1, 0);
	assert_int_equal(expect_connack(e, &again, NULL), RP_MQTT_RC_BANNED);
	close_client(e, &again);
	client_open(e, &old, "dev-a", "device");
	(void)connect_as(e, &old, RP_MQTT_V311, "dev-a", 1, 0);
	assert_int_equal(expect_connack(e, &old, NULL), RP_MQTT311_CONNACK_NOT_AUTHORIZED);
	close_client(e, &old);
	/* Banning again, or an identity with nobody connected, kicks nobody. */
	assert_int_equal(rp_broker_ban(e->b, "dev-a", &kicked), RP_OK);
	assert_int_equal(kicked, 0);
	assert_int_equal(rp_broker_ban(e->b, "", &kicked), RP_E_INVALID_ARG);
	close_client(e, &other);
}

/* The server publishes (a REST command): subscribers get it, an offline
 * persistent session queues it, nobody subscribed is RP_E_NOT_FOUND, and
 * wildcards or oversized topics are refused. */
static void test_server_publish(void **state)
{
	env *e = *state;
	tclient dev;
	rp_mqtt_packet p;
	uint8_t copy[4096];
	size_t reached = 99;
	static const uint8_t t[] = "d/dev-a/cmd/reboot";

	open_connected(e, &dev, "dev-a", "device", RP_MQTT_V5);
	assert_int_equal(rp_broker_publish(e->b, (const uint8_t *)"d/dev-a/cmd/x", 13,
					   (const uint8_t *)"1", 1, 1, &reached),
			 RP_E_NOT_FOUND);
	assert_int_equal(reached, 0);
	assert_int_equal(subscribe(e, &dev, "d/dev-a/cmd/+", 1), 1);
	assert_int_equal(rp_broker_publish(e->b, t, sizeof(t) - 1, (const uint8_t *)"{\"id\":1}", 8,
					   1, &reached),
			 RP_OK);
	assert_int_equal(reached, 1);
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBLISH);
	assert_int_equal(p.u.publish.qos, 1);
	assert_int_equal(p.u.publish.topic.len, sizeof(t) - 1);
	assert_memory_equal(p.u.publish.topic.p, t, sizeof(t) - 1);
	assert_int_equal(p.u.publish.payload.len, 8);
	assert_int_equal(rp_broker_publish(e->b, (const uint8_t *)"d/+/cmd/x", 9,
					   (const uint8_t *)"1", 1, 1, &reached),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp_broker_publish(e->b, (const uint8_t *)"d/#", 3, (const uint8_t *)"1", 1,
					   0, &reached),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp_broker_publish(e->b, t, 0, (const uint8_t *)"1", 1, 0, &reached),
			 RP_E_INVALID_ARG);
	assert_int_equal(
		rp_broker_publish(e->b, t, sizeof(t) - 1, (const uint8_t *)"1", 1, 3, &reached),
		RP_E_INVALID_ARG);
	close_client(e, &dev);
}

/* A payload the hook refuses: MQTT 5 gets the reason and a protocol error
 * is counted; MQTT 3.1.1, which cannot be told, gets a plain PUBACK (the
 * error is counted). Nothing is routed. A full window of waiting acknowledgements is the client's
 * Receive Maximum: MQTT 5 past it is a violation. */
static void test_ingest_refusals_and_window(void **state)
{
	env *e = *state;
	tclient dev, svc, old;
	fake_store f;
	rp_mqtt_packet p;
	uint8_t copy[4096];
	const rp_counters *ctr;

	memset(&f, 0, sizeof(f));
	f.refuse = 1;
	rp_broker_set_ingest(e->b, fake_ingest, &f);
	open_connected(e, &svc, "svc", "ingest", RP_MQTT_V5);
	assert_int_equal(subscribe(e, &svc, "d/+/telemetry", 0), 0);
	open_connected(e, &dev, "dev-a", "device", RP_MQTT_V5);
	assert_int_equal(publish(e, &dev, "d/dev-a/telemetry", "garbage", 1, 1, 0), RP_OK);
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBACK);
	assert_int_equal(p.u.ack.reason_code, RP_MQTT_RC_PAYLOAD_FORMAT_INVALID);
	assert_false(next_pkt(e, &svc, &p, copy, sizeof(copy)));
	ctr = rp_broker_counters_for_id(e->b, "dev-a");
	assert_non_null(ctr);
	assert_int_equal(ctr->protocol_errors, 1);
	/* 3.1.1 cannot be told: acknowledged, dropped, counted, still connected. */
	open_connected(e, &old, "dev-b", "device", RP_MQTT_V311);
	assert_int_equal(publish(e, &old, "d/dev-b/telemetry", "garbage", 1, 1, 0), RP_OK);
	assert_true(next_pkt(e, &old, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBACK);
	assert_false(next_pkt(e, &svc, &p, copy, sizeof(copy)));
	assert_int_equal(rp_broker_counters_for_id(e->b, "dev-b")->protocol_errors, 1);
	close_client(e, &old);
	/* The window: receive_max acknowledgements waiting, one more is a violation. */
	f.refuse = 0;
	e->b->lim.receive_max = 2;
	assert_int_equal(publish(e, &dev, "d/dev-a/telemetry", "a", 1, 2, 0), RP_OK);
	assert_int_equal(publish(e, &dev, "d/dev-a/telemetry", "b", 1, 3, 0), RP_OK);
	assert_int_equal(publish(e, &dev, "d/dev-a/telemetry", "c", 1, 4, 0), RP_E_CLOSED);
	close_client(e, &dev);
	rp_ingest_done(f.held[0], 0);
	rp_ingest_done(f.held[1], 0);
	close_client(e, &svc);
	rp_broker_set_ingest(e->b, NULL, NULL);
}

/* ---- retained messages across a restart --------------------------------- */

typedef struct retain_log {
	int calls;
	int cleared;
	uint8_t packet[512];
	size_t len;
} retain_log;

static void record_retain(void *ctx, const uint8_t *topic, size_t topic_len,
			  const rp_mqtt_publish *pub, const uint8_t *packet, size_t len)
{
	retain_log *r = ctx;

	assert_memory_equal(topic, "d/dev-a/state", topic_len);
	r->calls++;
	if (pub == NULL) {
		assert_null(packet);
		r->cleared++;
		return;
	}
	assert_true(len <= sizeof(r->packet));
	memcpy(r->packet, packet, len);
	r->len = len;
}

static void test_retained_restored(void **state)
{
	env *e = *state;
	tclient dev, sub;
	retain_log r;
	rp_broker *b2;
	rp_mqtt_packet p;
	uint8_t copy[4096];
	static const uint8_t junk[] = {0x30, 0x02, 0x00, 0x00};

	memset(&r, 0, sizeof(r));
	rp_broker_set_retain_hook(e->b, record_retain, &r);
	open_connected(e, &dev, "dev-a", "device", RP_MQTT_V5);
	assert_int_equal(publish(e, &dev, "d/dev-a/state", "online", 1, 1, 1), RP_OK);
	assert_int_equal(r.calls, 1);
	assert_true(r.len > 0);
	close_client(e, &dev);
	/* "After a restart": a new broker restores it, without calling the hook. */
	b2 = rp_broker_new(&e->lim, &e->policy);
	assert_non_null(b2);
	rp_broker_set_retain_hook(b2, record_retain, &r);
	assert_int_equal(rp_broker_restore_retained(b2, r.packet, r.len), RP_OK);
	assert_int_equal(r.calls, 1);
	assert_int_equal(rp_broker_retained_count(b2), 1);
	assert_int_equal(rp_broker_restore_retained(b2, junk, sizeof(junk)), RP_E_MALFORMED);
	assert_int_not_equal(rp_broker_restore_retained(b2, r.packet, r.len - 1u), RP_OK);
	{
		rp_broker *keep = e->b;

		e->b = b2;
		open_connected(e, &sub, "dev-a", "device", RP_MQTT_V5);
		assert_int_equal(subscribe(e, &sub, "d/dev-a/#", 1), 1);
		assert_true(next_pkt(e, &sub, &p, copy, sizeof(copy)));
		assert_int_equal(p.type, RP_MQTT_PUBLISH);
		assert_int_equal(p.u.publish.retain, 1);
		assert_int_equal(p.u.publish.qos, 1);
		assert_memory_equal(p.u.publish.payload.p, "online", 6);
		/* Cleared: the hook hears of it. */
		assert_int_equal(publish(e, &sub, "d/dev-a/state", "", 0, 0, 1), RP_OK);
		assert_int_equal(r.cleared, 1);
		close_client(e, &sub);
		e->b = keep;
	}
	rp_broker_free(b2);
	rp_broker_set_retain_hook(e->b, NULL, NULL);
}

static void test_retained_per_device_cap(void **state)
{
	env *e = *state;
	tclient dev;
	char topic[64];
	unsigned i;

	open_connected(e, &dev, "dev-a", "device", RP_MQTT_V5);
	for (i = 0; i < RP_LIMIT_BROKER_RETAINED_PER_DEVICE + 5u; i++) {
		snprintf(topic, sizeof(topic), "d/dev-a/r/%u", i);
		assert_int_equal(publish(e, &dev, topic, "v", 0, 0, 1), RP_OK);
	}
	assert_int_equal(rp_broker_retained_count(e->b), RP_LIMIT_BROKER_RETAINED_PER_DEVICE);
	/* Replacing a stored topic is always allowed; a new one is not. */
	assert_int_equal(publish(e, &dev, "d/dev-a/r/0", "w", 0, 0, 1), RP_OK);
	assert_int_equal(rp_broker_retained_count(e->b), RP_LIMIT_BROKER_RETAINED_PER_DEVICE);
	/* Clearing one makes room for one. */
	assert_int_equal(publish(e, &dev, "d/dev-a/r/1", "", 0, 0, 1), RP_OK);
	assert_int_equal(publish(e, &dev, "d/dev-a/r/new", "v", 0, 0, 1), RP_OK);
	assert_int_equal(rp_broker_retained_count(e->b), RP_LIMIT_BROKER_RETAINED_PER_DEVICE);
	close_client(e, &dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_connect_identity_from_certificate, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_first_packet_must_be_connect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_isolation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_acl_denied_v311_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_service_command_reaches_device, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_qos1_inflight_and_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qos2_exactly_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retained, setup, teardown),
		cmocka_unit_test_setup_teardown(test_will, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persistent_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offline_queue_bound_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_service_instance_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_device_footprint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keepalive_and_connect_deadline, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_malformed_after_connect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsupported_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_takeover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_topic_alias, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_subscription_once_per_group, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unknown_role_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_listener_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backpressure_slows_publisher, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ingest_puback_after_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ingest_command_results, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_publish, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ban, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cloned_credential_alert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ingest_refusals_and_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retained_restored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retained_per_device_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_rate_slowed_then_disconnected, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
