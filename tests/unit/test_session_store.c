/*
 * Unit tests of persistent sessions across restarts: the blob the broker
 * writes (server/broker/session_blob.c), restoring it into a new broker,
 * refusing damaged blobs, the dirty list and its flush, and the store link
 * (server/core/sessions.c) against a real SQLite file.
 *
 * A "restart" here is a second broker (and, for the store, a second
 * rp_store on the same file) given what the first one wrote.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/policy.h"
#include "broker/broker.h"
#include "broker/internal.h"
#include "core/sessions.h"
#include "store/store.h"
#include "util/alloc.h"

static const char policy_text[] = "role device\n"
				  "  publish d/%d/#\n"
				  "  subscribe d/%d/#\n"
				  "role commander\n"
				  "  publish d/+/cmd/#\n"
				  "  subscribe d/+/cmd/+/result\n"
				  "role ingest\n"
				  "  subscribe d/+/telemetry\n"
				  "  subscribe $share/ingest/d/+/telemetry\n";

/* What the session hook was given. */
typedef struct rec {
	int puts, deletes;
	int busy_next; /* answer RP_E_BUSY this many times */
	char last_id[RP_LIMIT_MQTT_CLIENT_ID_LEN + 1];
	uint8_t *blob;
	size_t len;
	uint64_t expires_in;
	char order[256]; /* 'P' put, 'D' delete, in call order */
	size_t norder;
} rec;

typedef struct tclient {
	rp_client *c;
	uint8_t version;
	uint8_t out[1 << 17];
	size_t out_len;
} tclient;

typedef struct env {
	rp_policy policy;
	rp_broker *b;
	rp_broker_limits lim;
	uint64_t now;
	rp_mqtt_limits plim;
	rec r;
} env;

static rp_status rec_hook(void *ctx, const char *cid, size_t cid_len, const uint8_t *blob,
			  size_t len, uint64_t expires_in)
{
	rec *r = ctx;

	assert_int_equal(strlen(cid), cid_len);
	if (r->busy_next > 0) {
		r->busy_next--;
		return RP_E_BUSY;
	}
	snprintf(r->last_id, sizeof(r->last_id), "%s", cid);
	if (r->norder < sizeof(r->order) - 1u) {
		r->order[r->norder++] = blob == NULL ? 'D' : 'P';
	}
	if (blob == NULL) {
		assert_int_equal(len, 0);
		r->deletes++;
		return RP_OK;
	}
	r->puts++;
	free(r->blob);
	r->blob = malloc(len);
	assert_non_null(r->blob);
	memcpy(r->blob, blob, len);
	r->len = len;
	r->expires_in = expires_in;
	return RP_OK;
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
	e->b = rp_broker_new(&e->lim, &e->policy);
	assert_non_null(e->b);
	rp_broker_set_session_hook(e->b, rec_hook, &e->r);
	e->now = 5000000;
	rp_mqtt_limits_default(&e->plim);
	e->plim.max_packet = RP_LIMIT_MQTT_PACKET;
	e->plim.max_topic_len = RP_LIMIT_MQTT_TOPIC_LEN;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	env *e = *state;

	rp_broker_free(e->b);
	rp_policy_free(&e->policy);
	free(e->r.blob);
	free(e);
	return 0;
}

/* A second broker, as after a restart, with the same limits and policy. */
static rp_broker *restarted(env *e)
{
	rp_broker *b = rp_broker_new(&e->lim, &e->policy);

	assert_non_null(b);
	return b;
}

/* ---- clients (as test_broker.c) ---------------------------------------- */

static void client_open(env *e, tclient *t, const char *id, const char *role)
{
	rp_identity who = {id, role, "127.0.0.1"};

	memset(t, 0, sizeof(*t));
	t->c = rp_client_new(e->b, &who, NULL, e->now);
	assert_non_null(t->c);
}

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
	static uint8_t buf[8192];
	size_t n, used = 0;
	rp_status st;

	assert_int_equal(rp_mqtt_encode(p, t->version, &e->plim, buf, sizeof(buf), &n), RP_OK);
	st = rp_client_input(t->c, buf, n, &used, e->now);
	drain(t);
	return st;
}

/* The next packet sent to t, decoded into *p with views into copy; 0 if none. */
static int next_pkt(env *e, tclient *t, rp_mqtt_packet *p, uint8_t *copy, size_t cap)
{
	size_t used = 0;

	drain(t);
	if (t->out_len == 0) {
		return 0;
	}
	assert_true(t->out_len <= cap);
	memcpy(copy, t->out, t->out_len);
	assert_int_equal(rp_mqtt_decode(copy, t->out_len, t->version, &e->plim, p, &used), RP_OK);
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

/* CONNECT; returns the CONNACK's reason code and *present. */
static uint8_t connect_as(env *e, tclient *t, uint8_t version, const char *cid, int clean,
			  uint32_t expiry, uint8_t *present)
{
	rp_mqtt_packet p;
	uint8_t copy[4096];

	memset(&p, 0, sizeof(p));
	p.type = RP_MQTT_CONNECT;
	p.u.connect.version = version;
	p.u.connect.clean_start = (uint8_t)clean;
	p.u.connect.keepalive = 30;
	p.u.connect.client_id = S(cid);
	if (version == RP_MQTT_V5) {
		p.u.connect.props.present = RP_MQTT_HAS(RP_MQTT_PROP_SESSION_EXPIRY);
		p.u.connect.props.session_expiry = expiry;
	}
	t->version = version;
	assert_int_equal(feed_pkt(e, t, &p), RP_OK);
	assert_true(next_pkt(e, t, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_CONNACK);
	if (present != NULL) {
		*present = p.u.connack.session_present;
	}
	return p.u.connack.reason_code;
}

static void open_as(env *e, tclient *t, const char *id, const char *role, uint8_t v, int clean,
		    uint32_t expiry, uint8_t *present)
{
	client_open(e, t, id, role);
	assert_int_equal(connect_as(e, t, v, id, clean, expiry, present), 0);
}

/* SUBSCRIBE with every option; returns the SUBACK code. */
static uint8_t subscribe_opts(env *e, tclient *t, const char *filter, uint8_t qos, uint8_t nl,
			      uint8_t rap, uint8_t rh, uint32_t sub_id)
{
	rp_mqtt_packet p, r;
	rp_mqtt_sub_entry en;
	uint8_t copy[8192];

	memset(&p, 0, sizeof(p));
	memset(&en, 0, sizeof(en));
	en.filter = S(filter);
	en.qos = qos;
	en.no_local = nl;
	en.retain_as_published = rap;
	en.retain_handling = rh;
	p.type = RP_MQTT_SUBSCRIBE;
	p.u.subscribe.packet_id = 7;
	p.u.subscribe.count = 1;
	p.u.subscribe.entries = &en;
	if (sub_id != 0) {
		p.u.subscribe.props.sub_ids = &sub_id;
		p.u.subscribe.props.sub_id_count = 1;
	}
	assert_int_equal(feed_pkt(e, t, &p), RP_OK);
	assert_true(next_pkt(e, t, &r, copy, sizeof(copy)));
	assert_int_equal(r.type, RP_MQTT_SUBACK);
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

/* A PUBLISH with every property a message keeps. */
static rp_status publish_props(env *e, tclient *t, const char *topic, const char *payload,
			       uint8_t qos, uint16_t id)
{
	rp_mqtt_packet p;
	rp_mqtt_user_prop up[2] = {{S("k1"), S("v1")}, {S("k2"), S("v2")}};
	rp_mqtt_props *pp = &p.u.publish.props;

	memset(&p, 0, sizeof(p));
	p.type = RP_MQTT_PUBLISH;
	p.u.publish.topic = S(topic);
	p.u.publish.payload = S(payload);
	p.u.publish.qos = qos;
	p.u.publish.packet_id = id;
	pp->present = RP_MQTT_HAS(RP_MQTT_PROP_PAYLOAD_FORMAT) |
		      RP_MQTT_HAS(RP_MQTT_PROP_MESSAGE_EXPIRY) |
		      RP_MQTT_HAS(RP_MQTT_PROP_CONTENT_TYPE) |
		      RP_MQTT_HAS(RP_MQTT_PROP_RESPONSE_TOPIC) |
		      RP_MQTT_HAS(RP_MQTT_PROP_CORRELATION_DATA);
	pp->payload_format = 1;
	pp->message_expiry = 3600;
	pp->content_type = S("text/plain");
	pp->response_topic = S("d/dev-a/reply");
	pp->correlation_data = S("corr-42");
	pp->user_props = up;
	pp->user_prop_count = 2;
	return feed_pkt(e, t, &p);
}

static void puback(env *e, tclient *t, uint8_t type, uint16_t id)
{
	rp_mqtt_packet p;

	memset(&p, 0, sizeof(p));
	p.type = type;
	p.u.ack.packet_id = id;
	assert_int_equal(feed_pkt(e, t, &p), RP_OK);
}

/* Writes every dirty session through the hook; returns how many puts that made. */
static int flush_all(env *e, rp_broker *b)
{
	int before = e->r.puts;

	assert_int_equal(rp_broker_flush_sessions(b, e->now, 0), RP_OK);
	assert_int_equal(rp_broker_dirty_sessions(b), 0);
	return e->r.puts - before;
}

/* ---- a blob builder, written from docs/broker.md, not from the code ---- */

typedef struct bb {
	uint8_t b[1 << 16];
	size_t n;
} bb;

static void b8(bb *x, unsigned v)
{
	x->b[x->n++] = (uint8_t)v;
}

static void b16(bb *x, unsigned v)
{
	b8(x, v >> 8);
	b8(x, v);
}

static void b32(bb *x, uint32_t v)
{
	b16(x, v >> 16);
	b16(x, v & 0xFFFFu);
}

static void bmem(bb *x, const void *p, size_t n)
{
	memcpy(x->b + x->n, p, n);
	x->n += n;
}

static void btext(bb *x, const char *s)
{
	b8(x, (unsigned)strlen(s));
	bmem(x, s, strlen(s));
}

static void blob_head(bb *x, uint8_t version, uint32_t expiry, const char *cid, const char *id,
		      const char *role)
{
	x->n = 0;
	bmem(x, "RPS\001", 4);
	b8(x, version);
	b8(x, 0);
	b32(x, expiry);
	btext(x, cid);
	btext(x, id);
	btext(x, role);
	b16(x, 0); /* next packet id */
}

static void blob_sub(bb *x, const char *filter, unsigned opts, uint32_t sub_id)
{
	b16(x, (unsigned)strlen(filter));
	bmem(x, filter, strlen(filter));
	b8(x, opts);
	b32(x, sub_id);
}

/* An MQTT 5 PUBLISH (no properties), made by hand; returns its length. */
static size_t pub5(uint8_t *out, unsigned qos, const char *topic, const char *payload)
{
	size_t tl = strlen(topic), pl = strlen(payload), rem = 2u + tl + (qos ? 2u : 0u) + 1u + pl;
	size_t n = 0;

	assert_true(rem < 128u);
	out[n++] = (uint8_t)(0x30u | qos << 1);
	out[n++] = (uint8_t)rem;
	out[n++] = 0;
	out[n++] = (uint8_t)tl;
	memcpy(out + n, topic, tl);
	n += tl;
	if (qos) {
		out[n++] = 0;
		out[n++] = 1;
	}
	out[n++] = 0; /* property length */
	memcpy(out + n, payload, pl);
	return n + pl;
}

static void blob_msg(bb *x, unsigned state, unsigned qos, unsigned retain, unsigned pid,
		     uint32_t sub_id, const uint8_t *pkt, size_t len)
{
	b8(x, state);
	b8(x, qos);
	b8(x, retain);
	b16(x, pid);
	b32(x, sub_id);
	b32(x, (uint32_t)len);
	bmem(x, pkt, len);
}

/* ---- round trips --------------------------------------------------------- */

/*
 * A device's session with every subscription option, a service's shared
 * subscription, and QoS 1/2 messages with properties queued while offline:
 * restored in a new broker, it resumes with session present and gets every
 * message, properties, subscription identifiers and order intact; and the
 * restored session serialises to the very same bytes.
 */
static void test_round_trip_subscriptions_and_queue(void **state)
{
	env *e = *state;
	tclient dev, ing, ops, pub;
	rp_mqtt_packet p;
	uint8_t copy[8192], present = 9;
	uint8_t *blob_dev, *blob_ing = NULL;
	size_t len_dev, len_ing = 0;
	rp_session_restored info;
	rp_broker *b2;
	rp_mqtt_str name, value;
	uint32_t cursor, sub_id;

	open_as(e, &dev, "dev-a", "device", RP_MQTT_V5, 1, 600, NULL);
	assert_int_equal(subscribe_opts(e, &dev, "d/dev-a/cmd/+", 2, 1, 1, 2, 7), 2);
	assert_int_equal(subscribe_opts(e, &dev, "d/dev-a/cfg/#", 1, 0, 0, 1, 268435455u), 1);
	assert_int_equal(subscribe_opts(e, &dev, "d/dev-a/ping", 0, 0, 1, 0, 0), 0);
	close_client(e, &dev);
	open_as(e, &ing, "ingest", "ingest", RP_MQTT_V5, 1, 900, NULL);
	assert_int_equal(subscribe_opts(e, &ing, "$share/ingest/d/+/telemetry", 1, 0, 0, 0, 3), 1);
	close_client(e, &ing);

	/* Offline: QoS 1 and 2 with properties are kept, QoS 0 is not. */
	open_as(e, &ops, "ops", "commander", RP_MQTT_V5, 1, 0, NULL);
	assert_int_equal(publish_props(e, &ops, "d/dev-a/cmd/reboot", "now", 2, 1), RP_OK);
	assert_int_equal(publish(e, &ops, "d/dev-a/cmd/x", "dropped", 0, 0, 0), RP_OK);
	assert_int_equal(publish(e, &ops, "d/dev-a/cmd/fw", "1.2.3", 1, 2, 1), RP_OK);
	open_as(e, &pub, "dev-b", "device", RP_MQTT_V5, 1, 0, NULL);
	assert_int_equal(publish(e, &pub, "d/dev-b/telemetry", "[]", 1, 1, 0), RP_OK);
	close_client(e, &pub);
	close_client(e, &ops);

	e->r.puts = 0;
	assert_int_equal(rp_broker_dirty_sessions(e->b), 2);
	/* Oldest change first: dev-a, then ingest. */
	assert_int_equal(rp_broker_flush_sessions(e->b, e->now, 1), RP_NEED_MORE);
	assert_string_equal(e->r.last_id, "dev-a");
	assert_int_equal(e->r.expires_in, 600u * 1000u);
	blob_dev = e->r.blob;
	len_dev = e->r.len;
	e->r.blob = NULL;
	assert_int_equal(flush_all(e, e->b), 1);
	assert_string_equal(e->r.last_id, "ingest");
	blob_ing = e->r.blob;
	len_ing = e->r.len;
	e->r.blob = NULL;
	assert_int_equal(flush_all(e, e->b), 0); /* nothing changed since */

	/* The restart. */
	b2 = restarted(e);
	rp_broker_set_session_hook(b2, rec_hook, &e->r);
	assert_int_equal(rp_broker_restore_session(b2, "dev-a", blob_dev, len_dev, e->now, &info),
			 RP_OK);
	assert_int_equal(info.subscriptions, 3);
	assert_int_equal(info.messages, 2);
	assert_int_equal(info.subs_dropped + info.msgs_dropped + info.ids_dropped, 0);
	assert_int_equal(rp_broker_restore_session(b2, NULL, blob_ing, len_ing, e->now, &info),
			 RP_OK);
	assert_int_equal(info.subscriptions, 1);
	assert_int_equal(info.messages, 1);
	assert_int_equal(rp_broker_restore_session(b2, "dev-a", blob_dev, len_dev, e->now, NULL),
			 RP_E_EXISTS);
	assert_int_equal(rp_broker_session_count(b2), 2);
	/* Restored sessions are dirty (their expiry now counts from the restart),
	 * and serialise to exactly what was restored. */
	assert_int_equal(rp_broker_dirty_sessions(b2), 2);
	assert_int_equal(rp_broker_flush_sessions(b2, e->now, 1), RP_NEED_MORE);
	assert_int_equal(e->r.len, len_dev);
	assert_memory_equal(e->r.blob, blob_dev, len_dev);
	assert_int_equal(flush_all(e, b2), 1);
	assert_int_equal(e->r.len, len_ing);
	assert_memory_equal(e->r.blob, blob_ing, len_ing);

	rp_broker_free(e->b);
	e->b = b2;
	open_as(e, &dev, "dev-a", "device", RP_MQTT_V5, 0, 600, &present);
	assert_int_equal(present, 1);
	/* The QoS 2 message with its properties, retain as published off. */
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBLISH);
	assert_int_equal(p.u.publish.qos, 2);
	assert_int_equal(p.u.publish.retain, 0);
	assert_memory_equal(p.u.publish.topic.p, "d/dev-a/cmd/reboot", 18);
	assert_memory_equal(p.u.publish.payload.p, "now", 3);
	assert_int_equal(p.u.publish.props.payload_format, 1);
	assert_int_equal(p.u.publish.props.message_expiry, 3600);
	assert_memory_equal(p.u.publish.props.content_type.p, "text/plain", 10);
	assert_memory_equal(p.u.publish.props.response_topic.p, "d/dev-a/reply", 13);
	assert_memory_equal(p.u.publish.props.correlation_data.p, "corr-42", 7);
	assert_int_equal(p.u.publish.props.user_prop_count, 2);
	cursor = 0;
	assert_true(rp_mqtt_props_next(&p.u.publish.props, RP_MQTT_PROP_USER, &cursor, &name,
				       &value, NULL));
	assert_memory_equal(name.p, "k1", 2);
	assert_memory_equal(value.p, "v1", 2);
	cursor = 0;
	assert_true(rp_mqtt_props_next(&p.u.publish.props, RP_MQTT_PROP_SUBSCRIPTION_ID, &cursor,
				       NULL, NULL, &sub_id));
	assert_int_equal(sub_id, 7);
	/* Then the QoS 1 one, retained as published (cfg/# asked for it? no: cmd/+ did). */
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBLISH);
	assert_int_equal(p.u.publish.qos, 1);
	assert_int_equal(p.u.publish.retain, 1);
	assert_memory_equal(p.u.publish.payload.p, "1.2.3", 5);
	assert_false(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	/* No Local survived: its own message on cmd/+ does not come back. */
	assert_int_equal(publish(e, &dev, "d/dev-a/cmd/self", "me", 1, 9, 0), RP_OK);
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBACK);
	assert_false(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	close_client(e, &dev);

	/* The shared subscription too. */
	open_as(e, &ing, "ingest", "ingest", RP_MQTT_V5, 0, 900, &present);
	assert_int_equal(present, 1);
	assert_true(next_pkt(e, &ing, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBLISH);
	assert_memory_equal(p.u.publish.topic.p, "d/dev-b/telemetry", 17);
	close_client(e, &ing);
	free(blob_dev);
	free(blob_ing);
}

/*
 * What was in flight when the server went: PUBLISHes not acknowledged are
 * sent again with DUP and their packet ids, a PUBREL for the one whose
 * PUBREC came, and a QoS 2 PUBLISH the client had sent without PUBREL is
 * not delivered twice when the client sends it again. MQTT 3.1.1 too.
 */
static void inflight_round_trip(env *e, uint8_t v)
{
	tclient dev, ops;
	rp_mqtt_packet p;
	uint8_t copy[8192], present = 9;
	uint16_t id1, id2, id3;
	rp_broker *b2;
	uint8_t *blob;
	size_t len;

	client_open(e, &dev, "dev-a", "device");
	assert_int_equal(connect_as(e, &dev, v, "dev-a", 0, 600, NULL), 0);
	assert_int_equal(subscribe_opts(e, &dev, "d/dev-a/cmd/#", 2, 0, 0, 0, 0), 2);
	open_as(e, &ops, "ops", "commander", RP_MQTT_V5, 1, 0, NULL);
	assert_int_equal(publish(e, &ops, "d/dev-a/cmd/1", "one", 1, 1, 0), RP_OK);
	assert_int_equal(publish(e, &ops, "d/dev-a/cmd/2", "two", 2, 2, 0), RP_OK);
	assert_int_equal(publish(e, &ops, "d/dev-a/cmd/3", "three", 2, 3, 0), RP_OK);
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	id1 = p.u.publish.packet_id;
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	id2 = p.u.publish.packet_id;
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	id3 = p.u.publish.packet_id;
	puback(e, &dev, RP_MQTT_PUBREC, id3); /* PUBREL sent: waits for PUBCOMP */
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBREL);
	/* The device's own QoS 2 PUBLISH, PUBREC'd, no PUBREL yet. */
	assert_int_equal(publish(e, &dev, "d/dev-a/evt", "once", 2, 77, 0), RP_OK);
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBREC);
	/* Then one more, queued behind a window of one... no: the window is wide;
	 * a message published while offline waits in the queue. */
	close_client(e, &dev);
	assert_int_equal(publish(e, &ops, "d/dev-a/cmd/4", "four", 1, 4, 0), RP_OK);
	close_client(e, &ops);
	e->r.puts = 0;
	assert_true(flush_all(e, e->b) >= 1);
	assert_string_equal(e->r.last_id, "dev-a");
	blob = e->r.blob;
	len = e->r.len;
	e->r.blob = NULL;

	b2 = restarted(e);
	assert_int_equal(rp_broker_restore_session(b2, "dev-a", blob, len, e->now, NULL), RP_OK);
	rp_broker_free(e->b);
	e->b = b2;
	rp_broker_set_session_hook(e->b, rec_hook, &e->r);
	client_open(e, &dev, "dev-a", "device");
	assert_int_equal(connect_as(e, &dev, v, "dev-a", 0, 600, &present), 0);
	assert_int_equal(present, 1);
	/* In flight, in the order sent: two PUBLISHes with DUP, one PUBREL. */
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBLISH);
	assert_int_equal(p.u.publish.dup, 1);
	assert_int_equal(p.u.publish.packet_id, id1);
	assert_memory_equal(p.u.publish.payload.p, "one", 3);
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBLISH);
	assert_int_equal(p.u.publish.dup, 1);
	assert_int_equal(p.u.publish.packet_id, id2);
	assert_int_equal(p.u.publish.qos, 2);
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBREL);
	assert_int_equal(p.u.ack.packet_id, id3);
	/* Then the queue. */
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBLISH);
	assert_int_equal(p.u.publish.dup, 0);
	assert_memory_equal(p.u.publish.payload.p, "four", 4);
	assert_int_not_equal(p.u.publish.packet_id, id1);
	assert_int_not_equal(p.u.publish.packet_id, id2);
	assert_int_not_equal(p.u.publish.packet_id, id3);
	assert_false(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	/* The flows complete with the restored ids. */
	puback(e, &dev, RP_MQTT_PUBACK, id1);
	puback(e, &dev, RP_MQTT_PUBCOMP, id3);
	puback(e, &dev, RP_MQTT_PUBREC, id2);
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBREL);
	assert_int_equal(p.u.ack.packet_id, id2);
	/* The resent QoS 2 PUBLISH of the device: PUBREC again, no second delivery. */
	assert_int_equal(publish(e, &dev, "d/dev-a/evt", "once", 2, 77, 0), RP_OK);
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBREC);
	puback(e, &dev, RP_MQTT_PUBREL, 77);
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	assert_int_equal(p.type, RP_MQTT_PUBCOMP);
	assert_int_equal(p.u.ack.reason_code, 0);
	close_client(e, &dev);
	free(blob);
}

static void test_round_trip_inflight_v5(void **state)
{
	inflight_round_trip(*state, RP_MQTT_V5);
}

static void test_round_trip_inflight_v311(void **state)
{
	inflight_round_trip(*state, RP_MQTT_V311);
}

/*
 * A session at the caps: 1024 subscriptions of 1024-byte filters, and more
 * queued messages of nearly 1 MiB than a stored session holds. The blob
 * stays within RP_LIMIT_STORE_SESSION_LEN, keeps every subscription and
 * the oldest messages (a prefix, in order), and restores.
 */
static void test_round_trip_at_caps(void **state)
{
	env *e = *state;
	static char filter[RP_LIMIT_MQTT_TOPIC_LEN + 1];
	static uint8_t payload[1000u * 1024u];
	rp_session_restored info;
	tclient dev;
	rp_broker *b2;
	size_t reached = 0, left;
	unsigned i;

	rp_broker_free(e->b);
	e->lim.max_subscriptions = RP_LIMIT_BROKER_SUBSCRIPTIONS;
	e->lim.mqtt.max_topic_len = RP_LIMIT_MQTT_TOPIC_LEN;
	e->lim.mqtt.max_packet = RP_LIMIT_MQTT_PACKET;
	e->lim.max_queued_bytes = RP_LIMIT_BROKER_QUEUED_BYTES;
	e->b = rp_broker_new(&e->lim, &e->policy);
	assert_non_null(e->b);
	rp_broker_set_session_hook(e->b, rec_hook, &e->r);
	open_as(e, &dev, "dev-a", "device", RP_MQTT_V5, 1, 600, NULL);
	for (i = 0; i < RP_LIMIT_BROKER_SUBSCRIPTIONS; i++) {
		int n = snprintf(filter, sizeof(filter), "d/dev-a/%04u/", i);

		memset(filter + n, 'x', RP_LIMIT_MQTT_TOPIC_LEN - (size_t)n);
		filter[RP_LIMIT_MQTT_TOPIC_LEN] = '\0';
		assert_int_equal(subscribe_opts(e, &dev, filter, 1, 0, 0, 0, i + 1u), 1);
	}
	close_client(e, &dev);
	/* The last filter is a topic name too: six messages of 1000 KiB to it. */
	for (i = 0; i < 6; i++) {
		memset(payload, 'a' + (int)i, sizeof(payload));
		assert_int_equal(rp_broker_publish(e->b, (const uint8_t *)filter, strlen(filter),
						   payload, sizeof(payload), 1, &reached),
				 RP_OK);
	}
	assert_int_equal(flush_all(e, e->b), 1);
	assert_true(e->r.len <= RP_LIMIT_STORE_SESSION_LEN);
	/* Not one more message record would have fitted. */
	left = RP_LIMIT_STORE_SESSION_LEN - e->r.len;
	assert_true(left < 1000u * 1024u);

	b2 = restarted(e);
	assert_int_equal(rp_broker_restore_session(b2, "dev-a", e->r.blob, e->r.len, e->now, &info),
			 RP_OK);
	assert_int_equal(info.subscriptions, RP_LIMIT_BROKER_SUBSCRIPTIONS);
	assert_int_equal(info.subs_dropped, 0);
	assert_true(info.messages >= 1 && info.messages < 6);
	{
		session *s = rp__session_get(b2, "dev-a", 5);
		const delivery *d;

		assert_non_null(s);
		assert_int_equal(s->queue_len, info.messages);
		for (i = 0, d = s->q_head; d != NULL; d = d->next, i++) {
			assert_int_equal(d->msg->pub.payload.p[0], 'a' + (int)i); /* oldest first */
			assert_int_equal(d->sub_id, RP_LIMIT_BROKER_SUBSCRIPTIONS);
		}
	}
	rp_broker_free(b2);
}

/* ---- refusing damaged blobs ------------------------------------------- */

/* A broker after a refused restore: as it was. */
static void assert_untouched(rp_broker *b, size_t in_use)
{
	assert_int_equal(rp_broker_session_count(b), 0);
	assert_int_equal(rp_broker_dirty_sessions(b), 0);
	assert_int_equal(rp_tree_count(b->tree), 0);
	assert_int_equal(rp_alloc_in_use(), in_use);
}

static rp_status try_blob(env *e, const char *cid, const bb *x)
{
	return rp_broker_restore_session(e->b, cid, x->b, x->n, e->now, NULL);
}

static void test_restore_refuses_malformed(void **state)
{
	env *e = *state;
	uint8_t pkt[256], bad[256];
	size_t plen, in_use;
	bb *x = malloc(sizeof(*x));
	static const struct {
		unsigned state, qos;
		rp_status want;
	} states[] = {{4, 1, RP_E_MALFORMED}, {1, 2, RP_E_MALFORMED}, {2, 1, RP_E_MALFORMED},
		      {3, 1, RP_E_MALFORMED}, {0, 0, RP_E_MALFORMED}, {0, 3, RP_E_MALFORMED}};

	assert_non_null(x);
	rp_broker_set_session_hook(e->b, NULL, NULL);
	in_use = rp_alloc_in_use();
	plen = pub5(pkt, 1, "d/dev-a/cmd/a", "hi");

	/* The builder agrees with the broker: a good blob restores. */
	blob_head(x, 5, 600, "dev-a", "dev-a", "device");
	b16(x, 1);
	blob_sub(x, "d/dev-a/#", 0x01, 0);
	b16(x, 1);
	b16(x, 9);
	b32(x, 2);
	blob_msg(x, 1, 1, 0, 5, 0, pkt, plen);
	blob_msg(x, 0, 1, 1, 0, 3, pkt, plen);
	assert_int_equal(try_blob(e, "dev-a", x), RP_OK);
	assert_int_equal(rp_broker_session_count(e->b), 1);
	rp_broker_free(e->b);
	e->b = restarted(e);
	in_use = rp_alloc_in_use();

	/* Header. */
	blob_head(x, 5, 600, "dev-a", "dev-a", "device");
	x->b[0] = 'X';
	b16(x, 0);
	b16(x, 0);
	b32(x, 0);
	assert_int_equal(try_blob(e, NULL, x), RP_E_MALFORMED);
	x->b[0] = 'R';
	assert_int_equal(try_blob(e, NULL, x), RP_OK); /* the empty session is valid */
	rp_broker_free(e->b);
	e->b = restarted(e);
	in_use = rp_alloc_in_use();
	x->b[4] = 3; /* MQTT 3.1 */
	assert_int_equal(try_blob(e, NULL, x), RP_E_MALFORMED);
	x->b[4] = 5;
	x->b[5] = 0x80; /* flags */
	assert_int_equal(try_blob(e, NULL, x), RP_E_MALFORMED);
	x->b[5] = 0;
	x->b[6] = x->b[7] = x->b[8] = x->b[9] = 0; /* expiry 0: not persistent */
	assert_int_equal(try_blob(e, NULL, x), RP_E_MALFORMED);
	x->b[6] = 0x7F; /* far above the cap */
	assert_int_equal(try_blob(e, NULL, x), RP_E_LIMIT);
	assert_untouched(e->b, in_use);

	/* Identity: the row's key must match, and the client id must be the identity's. */
	blob_head(x, 5, 600, "dev-a", "dev-a", "device");
	b16(x, 0);
	b16(x, 0);
	b32(x, 0);
	assert_int_equal(try_blob(e, "dev-b", x), RP_E_MALFORMED);
	blob_head(x, 5, 600, "dev-a", "dev-b", "device");
	b16(x, 0);
	b16(x, 0);
	b32(x, 0);
	assert_int_equal(try_blob(e, "dev-a", x), RP_E_DENIED);
	blob_head(x, 5, 600, "dev-a:1", "dev-a", "device"); /* instances are for services */
	b16(x, 0);
	b16(x, 0);
	b32(x, 0);
	assert_int_equal(try_blob(e, NULL, x), RP_E_DENIED);
	blob_head(x, 5, 600, "dev\001", "dev\001", "device"); /* a control character */
	b16(x, 0);
	b16(x, 0);
	b32(x, 0);
	assert_int_equal(try_blob(e, NULL, x), RP_E_MALFORMED);
	blob_head(x, 5, 600, "ops:\001", "ops", "commander"); /* MQTT allows it in a client id */
	b16(x, 0);
	b16(x, 0);
	b32(x, 0);
	assert_int_equal(try_blob(e, NULL, x), RP_OK);
	rp_broker_free(e->b);
	e->b = restarted(e);
	in_use = rp_alloc_in_use();
	blob_head(x, 5, 600, "", "", "device");
	b16(x, 0);
	b16(x, 0);
	b32(x, 0);
	assert_int_equal(try_blob(e, NULL, x), RP_E_MALFORMED);
	assert_untouched(e->b, in_use);

	/* Subscriptions. */
	blob_head(x, 5, 600, "dev-a", "dev-a", "device");
	b16(x, RP_LIMIT_BROKER_SUBSCRIPTIONS + 1u);
	assert_int_equal(try_blob(e, NULL, x), RP_E_LIMIT);
	static const struct {
		const char *filter;
		unsigned opts;
		uint32_t sub_id;
		rp_status want;
	} subs[] = {
		{"d/dev-a/#", 0x03, 0, RP_E_MALFORMED},          /* QoS 3 */
		{"d/dev-a/#", 0x30, 0, RP_E_MALFORMED},          /* retain handling 3 */
		{"d/dev-a/#", 0x40, 0, RP_E_MALFORMED},          /* reserved bit */
		{"d/dev-a/#", 0x01, 268435456u, RP_E_MALFORMED}, /* sub id too large */
		{"d/dev-a/#/x", 0x01, 0, RP_E_TOPIC_FILTER},     /* '#' not last */
		{"$share/g/d/dev-a/x", 0x05, 0, RP_E_MALFORMED}, /* No Local on a shared one */
		{"", 0x01, 0, RP_E_TOPIC_FILTER},                /* empty */
	};
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		blob_head(x, 5, 600, "dev-a", "dev-a", "device");
		b16(x, 1);
		blob_sub(x, subs[i].filter, subs[i].opts, subs[i].sub_id);
		b16(x, 0);
		b32(x, 0);
		assert_int_equal(try_blob(e, NULL, x), subs[i].want);
		assert_untouched(e->b, in_use);
	}
	blob_head(x, 5, 600, "dev-a", "dev-a", "device"); /* the same filter twice */
	b16(x, 2);
	blob_sub(x, "d/dev-a/#", 0x01, 0);
	blob_sub(x, "d/dev-a/#", 0x02, 0);
	b16(x, 0);
	b32(x, 0);
	assert_int_equal(try_blob(e, NULL, x), RP_E_MALFORMED);
	blob_head(x, 5, 600, "dev-a", "dev-a", "device"); /* a filter longer than the cap */
	b16(x, 1);
	b16(x, RP_LIMIT_MQTT_TOPIC_LEN + 1u);
	memset(x->b + x->n, 'a', RP_LIMIT_MQTT_TOPIC_LEN + 1u);
	x->n += RP_LIMIT_MQTT_TOPIC_LEN + 1u;
	b8(x, 1);
	b32(x, 0);
	b16(x, 0);
	b32(x, 0);
	assert_int_equal(try_blob(e, NULL, x), RP_E_LIMIT);
	assert_untouched(e->b, in_use);

	/* Inbound QoS 2 ids: not 0, not twice. */
	blob_head(x, 5, 600, "dev-a", "dev-a", "device");
	b16(x, 0);
	b16(x, 2);
	b16(x, 4);
	b16(x, 4);
	b32(x, 0);
	assert_int_equal(try_blob(e, NULL, x), RP_E_MALFORMED);
	x->b[x->n - 5] = 0;
	x->b[x->n - 6] = 0; /* ids 4, 0 */
	assert_int_equal(try_blob(e, NULL, x), RP_E_MALFORMED);
	blob_head(x, 5, 600, "dev-a", "dev-a", "device");
	b16(x, 0);
	b16(x, RP_LIMIT_BROKER_INFLIGHT + 1u);
	assert_int_equal(try_blob(e, NULL, x), RP_E_LIMIT);
	assert_untouched(e->b, in_use);

	/* Messages. */
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		blob_head(x, 5, 600, "dev-a", "dev-a", "device");
		b16(x, 0);
		b16(x, 0);
		b32(x, 1);
		blob_msg(x, states[i].state, states[i].qos, 0, states[i].state ? 1 : 0, 0, pkt,
			 plen);
		assert_int_equal(try_blob(e, NULL, x), states[i].want);
		assert_untouched(e->b, in_use);
	}
	{
		static const struct {
			unsigned state, qos, retain, pid;
			uint32_t sub_id;
		} f[] = {
			{0, 1, 0, 5, 0},          /* queued with a packet id */
			{1, 1, 0, 0, 0},          /* in flight without one */
			{0, 1, 2, 0, 0},          /* retain 2 */
			{0, 1, 0, 0, 268435456u}, /* sub id too large */
			{0, 2, 0, 0, 0},          /* granted above the message's QoS 1 */
		};
		for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
			blob_head(x, 5, 600, "dev-a", "dev-a", "device");
			b16(x, 0);
			b16(x, 0);
			b32(x, 1);
			blob_msg(x, f[i].state, f[i].qos, f[i].retain, f[i].pid, f[i].sub_id, pkt,
				 plen);
			assert_int_equal(try_blob(e, NULL, x), RP_E_MALFORMED);
			assert_untouched(e->b, in_use);
		}
	}
	blob_head(x, 5, 600, "dev-a", "dev-a", "device"); /* two in flight with one id */
	b16(x, 0);
	b16(x, 0);
	b32(x, 2);
	blob_msg(x, 1, 1, 0, 8, 0, pkt, plen);
	blob_msg(x, 1, 1, 0, 8, 0, pkt, plen);
	assert_int_equal(try_blob(e, NULL, x), RP_E_MALFORMED);
	blob_head(x, 5, 600, "dev-a", "dev-a", "device"); /* not a PUBLISH */
	b16(x, 0);
	b16(x, 0);
	b32(x, 1);
	memcpy(bad, "\xC0\x00", 2); /* PINGREQ */
	blob_msg(x, 0, 1, 0, 0, 0, bad, 2);
	assert_int_equal(try_blob(e, NULL, x), RP_E_MALFORMED);
	blob_head(x, 5, 600, "dev-a", "dev-a", "device"); /* a PUBLISH and a byte more */
	b16(x, 0);
	b16(x, 0);
	b32(x, 1);
	memcpy(bad, pkt, plen);
	bad[plen] = 0;
	blob_msg(x, 0, 1, 0, 0, 0, bad, plen + 1u);
	assert_int_equal(try_blob(e, NULL, x), RP_E_MALFORMED);
	blob_head(x, 5, 600, "dev-a", "dev-a", "device"); /* a QoS 0 PUBLISH */
	b16(x, 0);
	b16(x, 0);
	b32(x, 1);
	blob_msg(x, 0, 1, 0, 0, 0, bad, pub5(bad, 0, "d/dev-a/cmd/a", "hi"));
	assert_int_equal(try_blob(e, NULL, x), RP_E_MALFORMED);
	blob_head(x, 5, 600, "dev-a", "dev-a", "device"); /* a wildcard topic */
	b16(x, 0);
	b16(x, 0);
	b32(x, 1);
	blob_msg(x, 0, 1, 0, 0, 0, bad, pub5(bad, 1, "d/dev-a/+", "hi"));
	assert_int_not_equal(try_blob(e, NULL, x), RP_OK);
	blob_head(x, 5, 600, "dev-a", "dev-a", "device"); /* a packet length past the end */
	b16(x, 0);
	b16(x, 0);
	b32(x, 1);
	blob_msg(x, 0, 1, 0, 0, 0, pkt, plen);
	x->b[x->n - plen - 1u] = (uint8_t)(plen + 1u);
	assert_int_equal(try_blob(e, NULL, x), RP_E_MALFORMED);
	x->b[x->n - plen - 4u] = 0x7F; /* and far past the cap */
	assert_int_equal(try_blob(e, NULL, x), RP_E_LIMIT);
	blob_head(x, 5, 600, "dev-a", "dev-a", "device"); /* too many messages */
	b16(x, 0);
	b16(x, 0);
	b32(x, RP_LIMIT_BROKER_INFLIGHT + RP_LIMIT_BROKER_QUEUED_MESSAGES + 1u);
	assert_int_equal(try_blob(e, NULL, x), RP_E_LIMIT);
	blob_head(x, 5, 600, "dev-a", "dev-a", "device"); /* trailing bytes */
	b16(x, 0);
	b16(x, 0);
	b32(x, 0);
	b8(x, 0);
	assert_int_equal(try_blob(e, NULL, x), RP_E_MALFORMED);
	assert_int_equal(rp_broker_restore_session(e->b, NULL, x->b,
						   RP_LIMIT_STORE_SESSION_LEN + 1u, e->now, NULL),
			 RP_E_LIMIT);
	assert_int_equal(rp_broker_restore_session(e->b, NULL, NULL, 0, e->now, NULL),
			 RP_E_INVALID_ARG);
	assert_untouched(e->b, in_use);
	free(x);
}

/* Every cut of a real blob is refused and leaves nothing; so does every allocation failure. */
static void test_restore_truncations_and_allocation_failures(void **state)
{
	env *e = *state;
	tclient dev, ops;
	size_t in_use, len;
	uint8_t *blob, *cut;
	long n;

	open_as(e, &dev, "dev-a", "device", RP_MQTT_V5, 1, 600, NULL);
	assert_int_equal(subscribe_opts(e, &dev, "d/dev-a/cmd/+", 2, 1, 1, 2, 7), 2);
	assert_int_equal(subscribe_opts(e, &dev, "d/dev-a/cfg/#", 1, 0, 0, 0, 0), 1);
	assert_int_equal(publish(e, &dev, "d/dev-a/q2", "x", 2, 5, 0), RP_OK); /* an rx id */
	close_client(e, &dev);
	open_as(e, &ops, "ops", "commander", RP_MQTT_V5, 1, 0, NULL);
	assert_int_equal(publish_props(e, &ops, "d/dev-a/cmd/a", "1", 1, 1), RP_OK);
	assert_int_equal(publish(e, &ops, "d/dev-a/cmd/b", "2", 2, 2, 0), RP_OK);
	close_client(e, &ops);
	assert_int_equal(flush_all(e, e->b), 1);
	blob = e->r.blob;
	len = e->r.len;
	e->r.blob = NULL;
	rp_broker_free(e->b);
	e->b = restarted(e);
	in_use = rp_alloc_in_use();

	for (size_t i = 0; i < len; i++) {
		cut = malloc(i + 1u); /* exactly i bytes for ASan (+1: malloc(0)) */
		assert_non_null(cut);
		memcpy(cut, blob, i);
		assert_int_not_equal(rp_broker_restore_session(e->b, NULL, cut, i, e->now, NULL),
				     RP_OK);
		assert_untouched(e->b, in_use);
		free(cut);
	}
	for (n = 0;; n++) {
		rp_status st;

		rp_alloc_fail_after(n);
		st = rp_broker_restore_session(e->b, "dev-a", blob, len, e->now, NULL);
		rp_alloc_fail_after(-1);
		if (st == RP_OK) {
			break;
		}
		assert_int_equal(st, RP_E_NOMEM);
		assert_untouched(e->b, in_use);
	}
	assert_true(n > 5);
	assert_int_equal(rp_broker_session_count(e->b), 1);
	free(blob);
}

/* ---- the dirty list and the flush ---------------------------------------- */

static void test_dirty_and_flush(void **state)
{
	env *e = *state;
	tclient dev, plain;
	rp_mqtt_packet p;
	uint8_t copy[4096];
	int i;

	/* A session that is not persistent is never written. */
	open_as(e, &plain, "dev-b", "device", RP_MQTT_V5, 1, 0, NULL);
	assert_int_equal(subscribe_opts(e, &plain, "d/dev-b/#", 1, 0, 0, 0, 0), 1);
	assert_int_equal(rp_broker_dirty_sessions(e->b), 0);
	close_client(e, &plain);

	/* A persistent one: dirty at CONNECT and SUBSCRIBE, once. */
	open_as(e, &dev, "dev-a", "device", RP_MQTT_V311, 0, 0, NULL);
	assert_int_equal(subscribe_opts(e, &dev, "d/dev-a/#", 1, 0, 0, 0, 0), 1);
	assert_int_equal(rp_broker_dirty_sessions(e->b), 1);
	assert_int_equal(flush_all(e, e->b), 1);
	assert_int_equal(e->r.expires_in, UINT64_MAX); /* connected: no expiry */

	/* QoS 0 traffic never makes it dirty. */
	for (i = 0; i < 5; i++) {
		assert_int_equal(publish(e, &dev, "d/dev-a/t", "0", 0, 0, 0), RP_OK);
		assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	}
	assert_int_equal(rp_broker_dirty_sessions(e->b), 0);
	/* QoS 1: delivered and acknowledged, many times: one write per flush. */
	for (i = 0; i < 20; i++) {
		assert_int_equal(publish(e, &dev, "d/dev-a/t", "1", 1, (uint16_t)(i + 1), 0),
				 RP_OK);
		while (next_pkt(e, &dev, &p, copy, sizeof(copy))) {
			if (p.type == RP_MQTT_PUBLISH) {
				puback(e, &dev, RP_MQTT_PUBACK, p.u.publish.packet_id);
			}
		}
	}
	assert_int_equal(rp_broker_dirty_sessions(e->b), 1);
	assert_int_equal(flush_all(e, e->b), 1);

	/* Going offline: dirty, with the expiry running. */
	close_client(e, &dev);
	assert_int_equal(flush_all(e, e->b), 1);
	assert_int_equal(e->r.expires_in, (uint64_t)e->lim.session_expiry_max * 1000u);

	/* A full store queue: the session keeps its turn; the next flush writes it. */
	assert_int_equal(rp_broker_publish(e->b, (const uint8_t *)"d/dev-a/t", 9,
					   (const uint8_t *)"q", 1, 1, &(size_t){0}),
			 RP_OK);
	e->r.busy_next = 1;
	assert_int_equal(rp_broker_flush_sessions(e->b, e->now, 0), RP_E_BUSY);
	assert_int_equal(rp_broker_dirty_sessions(e->b), 1);
	assert_int_equal(flush_all(e, e->b), 1);

	/* The byte bound: one session per flush when the bound is 1 byte. */
	open_as(e, &dev, "dev-a", "device", RP_MQTT_V311, 0, 0, NULL);
	open_as(e, &plain, "dev-d", "device", RP_MQTT_V5, 1, 60, NULL);
	assert_int_equal(rp_broker_dirty_sessions(e->b), 2);
	assert_int_equal(rp_broker_flush_sessions(e->b, e->now, 1), RP_NEED_MORE);
	assert_int_equal(rp_broker_dirty_sessions(e->b), 1);
	assert_int_equal(rp_broker_flush_sessions(e->b, e->now, 1), RP_OK);
	close_client(e, &plain);
	close_client(e, &dev);
	assert_int_equal(flush_all(e, e->b), 2);

	/* Without a hook the list is only emptied. */
	rp_broker_set_session_hook(e->b, NULL, NULL);
	open_as(e, &dev, "dev-a", "device", RP_MQTT_V311, 0, 0, NULL);
	assert_int_equal(rp_broker_dirty_sessions(e->b), 1);
	assert_int_equal(rp_broker_flush_sessions(e->b, e->now, 0), RP_OK);
	assert_int_equal(rp_broker_dirty_sessions(e->b), 0);
	close_client(e, &dev);
}

/* Rows go when sessions end: expiry, clean start, expiry 0; never-written ones cost nothing. */
static void test_deletes(void **state)
{
	env *e = *state;
	tclient dev;

	/* Written, then expired: one delete. */
	open_as(e, &dev, "dev-a", "device", RP_MQTT_V5, 1, 10, NULL);
	close_client(e, &dev);
	assert_int_equal(flush_all(e, e->b), 1);
	e->now += 11000u;
	rp_broker_tick(e->b, e->now);
	assert_int_equal(rp_broker_session_count(e->b), 0);
	assert_int_equal(e->r.deletes, 1);

	/* Never written (ended before a flush): nothing to delete. */
	open_as(e, &dev, "dev-a", "device", RP_MQTT_V5, 1, 10, NULL);
	close_client(e, &dev);
	e->now += 11000u;
	rp_broker_tick(e->b, e->now);
	assert_int_equal(e->r.deletes, 1);
	assert_int_equal(rp_broker_dirty_sessions(e->b), 0);

	/* Clean start: the old row goes before the new session's row comes. */
	open_as(e, &dev, "dev-a", "device", RP_MQTT_V5, 1, 600, NULL);
	close_client(e, &dev);
	assert_int_equal(flush_all(e, e->b), 1);
	e->r.norder = 0;
	open_as(e, &dev, "dev-a", "device", RP_MQTT_V5, 1, 600, NULL);
	assert_int_equal(flush_all(e, e->b), 1);
	assert_int_equal(e->r.norder, 2);
	assert_memory_equal(e->r.order, "DP", 2);

	/* Resumed with expiry 0: no longer persistent, its row goes at the flush. */
	close_client(e, &dev);
	e->r.norder = 0;
	open_as(e, &dev, "dev-a", "device", RP_MQTT_V5, 0, 0, NULL);
	assert_int_equal(rp_broker_flush_sessions(e->b, e->now, 0), RP_OK);
	assert_int_equal(e->r.norder, 1);
	assert_memory_equal(e->r.order, "D", 1);
	close_client(e, &dev); /* ends with its connection; nothing more to delete */
	assert_int_equal(e->r.norder, 1);
	assert_int_equal(rp_broker_session_count(e->b), 0);

	/* Freeing the broker (a shutdown) deletes nothing. */
	open_as(e, &dev, "dev-a", "device", RP_MQTT_V5, 1, 600, NULL);
	close_client(e, &dev);
	assert_int_equal(flush_all(e, e->b), 1);
	e->r.norder = 0;
	rp_broker_free(e->b);
	e->b = restarted(e);
	assert_int_equal(e->r.norder, 0);
}

/*
 * A session keeps its identity as a prefix of its client id, with its role
 * after it, in storage sized to them (internal.h): rp__session_create()
 * takes only what that layout can hold, and the names read back as given.
 */
static void test_session_names(void **state)
{
	env *e = *state;
	char id[RP_LIMIT_MQTT_CLIENT_ID_LEN + 2];
	char role[RP_IDENTITY_ROLE_MAX + 2];
	rp_identity who;
	session *s;

	s = rp__session_create(e->b, "ops:7", 5, 3, "commander");
	assert_non_null(s);
	assert_ptr_equal(rp__session_get(e->b, "ops:7", 5), s);
	assert_int_equal(s->client_id_len, 5);
	assert_string_equal(rp__session_client_id(s), "ops:7");
	assert_int_equal(s->id_len, 3);
	assert_string_equal(rp__session_role(s), "commander");
	who = (rp_identity){"ops", "commander", "192.0.2.1"};
	assert_true(rp__session_is(s, &who)); /* the address does not matter */
	who.role = "device";
	assert_false(rp__session_is(s, &who));
	who.role = "commander";
	who.id = "ops:7";
	assert_false(rp__session_is(s, &who));
	who.id = "op";
	assert_false(rp__session_is(s, &who));
	rp__session_end(e->b, s);

	/* The id is the whole client id or the part before ':', never empty. */
	assert_null(rp__session_create(e->b, "ops7", 4, 3, "commander"));
	assert_null(rp__session_create(e->b, "ops", 3, 4, "commander"));
	assert_null(rp__session_create(e->b, "ops", 3, 0, "commander"));
	assert_null(rp__session_create(e->b, "", 0, 0, "device"));
	/* The longest client id and role fit; one byte more does not. */
	memset(id, 'a', sizeof(id));
	memset(role, 'r', sizeof(role));
	role[RP_IDENTITY_ROLE_MAX] = '\0';
	s = rp__session_create(e->b, id, RP_LIMIT_MQTT_CLIENT_ID_LEN, RP_LIMIT_MQTT_CLIENT_ID_LEN,
			       role);
	assert_non_null(s);
	assert_int_equal(strlen(rp__session_client_id(s)), RP_LIMIT_MQTT_CLIENT_ID_LEN);
	assert_string_equal(rp__session_role(s), role);
	rp__session_end(e->b, s);
	assert_null(rp__session_create(e->b, id, RP_LIMIT_MQTT_CLIENT_ID_LEN + 1u,
				       RP_LIMIT_MQTT_CLIENT_ID_LEN + 1u, "device"));
	role[RP_IDENTITY_ROLE_MAX] = 'r';
	role[RP_IDENTITY_ROLE_MAX + 1] = '\0';
	assert_null(rp__session_create(e->b, "ops", 3, 3, role));
	assert_int_equal(rp_broker_session_count(e->b), 0);
}

/*
 * A restored session belongs to its identity: another role with the same
 * CN gets a fresh session (not the subscriptions granted to the other),
 * and the policy of the restart decides which subscriptions come back.
 */
static void test_identity_and_policy(void **state)
{
	env *e = *state;
	tclient dev, svc, ops;
	rp_session_restored info;
	rp_mqtt_packet p;
	uint8_t copy[4096], present = 9;
	uint8_t *blob;
	size_t len;
	rp_policy narrow;
	static const char narrow_text[] = "role device\n"
					  "  publish d/%d/#\n"
					  "  subscribe d/%d/cmd/#\n";

	open_as(e, &dev, "dev-a", "device", RP_MQTT_V5, 1, 600, NULL);
	assert_int_equal(subscribe_opts(e, &dev, "d/dev-a/cmd/#", 1, 0, 0, 0, 0), 1);
	assert_int_equal(subscribe_opts(e, &dev, "d/dev-a/cfg/#", 1, 0, 0, 0, 0), 1);
	close_client(e, &dev);
	assert_int_equal(flush_all(e, e->b), 1);
	blob = e->r.blob;
	len = e->r.len;
	e->r.blob = NULL;

	/* A certificate "dev-a" of role commander may use the client id, not the session. */
	rp_broker_free(e->b);
	e->b = restarted(e);
	rp_broker_set_session_hook(e->b, rec_hook, &e->r);
	assert_int_equal(rp_broker_restore_session(e->b, "dev-a", blob, len, e->now, NULL), RP_OK);
	e->r.deletes = 0;
	open_as(e, &svc, "dev-a", "commander", RP_MQTT_V5, 0, 600, &present);
	assert_int_equal(present, 0);
	assert_int_equal(e->r.deletes, 1);
	assert_int_equal(rp_tree_count(e->b->tree), 0);
	open_as(e, &ops, "ops", "commander", RP_MQTT_V5, 1, 0, NULL);
	assert_int_equal(publish(e, &ops, "d/dev-a/cmd/x", "1", 1, 1, 0), RP_OK);
	assert_false(next_pkt(e, &svc, &p, copy, sizeof(copy)));
	close_client(e, &svc);
	close_client(e, &ops);

	/* The policy of the restart narrows what comes back. */
	rp_broker_free(e->b);
	assert_int_equal(rp_policy_parse(&narrow, "narrow.policy", narrow_text,
					 sizeof(narrow_text) - 1u, no_report, NULL),
			 RP_OK);
	e->b = rp_broker_new(&e->lim, &narrow);
	assert_non_null(e->b);
	assert_int_equal(rp_broker_restore_session(e->b, "dev-a", blob, len, e->now, &info), RP_OK);
	assert_int_equal(info.subscriptions, 1);
	assert_int_equal(info.subs_dropped, 1);
	assert_int_equal(rp_tree_count(e->b->tree), 1);
	/* And so does a lowered cap. */
	rp_broker_free(e->b);
	e->lim.max_subscriptions = 1;
	e->b = restarted(e);
	assert_int_equal(rp_broker_restore_session(e->b, "dev-a", blob, len, e->now, &info), RP_OK);
	assert_int_equal(info.subscriptions, 1);
	assert_int_equal(info.subs_dropped, 1);
	/* The right identity resumes. */
	open_as(e, &dev, "dev-a", "device", RP_MQTT_V5, 0, 600, &present);
	assert_int_equal(present, 1);
	close_client(e, &dev);
	rp_broker_free(e->b);
	e->b = restarted(e);
	rp_policy_free(&narrow);
	free(blob);
}

/* A policy reload that removes subscriptions makes the session dirty. */
static void test_policy_reload_dirties(void **state)
{
	env *e = *state;
	tclient dev;
	rp_policy narrow;
	static const char narrow_text[] = "role device\n"
					  "  subscribe d/%d/cmd/#\n";

	open_as(e, &dev, "dev-a", "device", RP_MQTT_V5, 1, 600, NULL);
	assert_int_equal(subscribe_opts(e, &dev, "d/dev-a/cfg/#", 1, 0, 0, 0, 0), 1);
	close_client(e, &dev);
	assert_int_equal(flush_all(e, e->b), 1);
	assert_int_equal(rp_policy_parse(&narrow, "narrow.policy", narrow_text,
					 sizeof(narrow_text) - 1u, no_report, NULL),
			 RP_OK);
	rp_broker_set_policy(e->b, &narrow);
	assert_int_equal(rp_broker_dirty_sessions(e->b), 1);
	assert_int_equal(flush_all(e, e->b), 1);
	rp_broker_set_policy(e->b, &e->policy);
	rp_policy_free(&narrow);
}

/* ---- with the store ------------------------------------------------------- */

typedef struct sdir {
	char dir[64];
	char url[96];
} sdir;

static void sdir_make(sdir *d)
{
	snprintf(d->dir, sizeof(d->dir), "/tmp/rp-test-sessions-XXXXXX");
	assert_non_null(mkdtemp(d->dir));
	snprintf(d->url, sizeof(d->url), "sqlite:%s/rampart.db", d->dir);
}

static void sdir_remove(sdir *d)
{
	char path[128];
	static const char *const files[] = {"rampart.db", "rampart.db-wal", "rampart.db-shm"};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", d->dir, files[i]);
		(void)unlink(path);
	}
	assert_int_equal(rmdir(d->dir), 0);
}

static void test_store_round_trip(void **state)
{
	env *e = *state;
	sdir d;
	rp_store *st;
	rp_sessions *ss;
	rp_sessions_stats stats;
	tclient dev, ops;
	rp_mqtt_packet p;
	uint8_t copy[4096], present = 9;
	size_t restored = 9, skipped = 9;
	static const uint8_t junk[] = "RPS\001 not a session";
	rp_store_session bad = {"dev-z", junk, sizeof(junk), 0};

	sdir_make(&d);
	assert_int_equal(rp_store_open(d.url, NULL, &st), RP_OK);
	rp_broker_set_session_hook(e->b, NULL, NULL);
	assert_int_equal(rp_sessions_open(st, e->b, e->now, &ss, &restored, &skipped), RP_OK);
	assert_int_equal(restored, 0);
	assert_int_equal(skipped, 0);

	open_as(e, &dev, "dev-a", "device", RP_MQTT_V5, 1, 600, NULL);
	assert_int_equal(subscribe_opts(e, &dev, "d/dev-a/cmd/#", 1, 0, 0, 0, 4), 1);
	close_client(e, &dev);
	open_as(e, &dev, "dev-b", "device", RP_MQTT_V311, 0, 0, NULL); /* ends below */
	close_client(e, &dev);
	open_as(e, &ops, "ops", "commander", RP_MQTT_V5, 1, 0, NULL);
	assert_int_equal(rp_sessions_flush(ss, e->now), RP_OK);
	/* Changes after the flush: written by the final flush at stop. */
	assert_int_equal(publish(e, &ops, "d/dev-a/cmd/1", "one", 1, 1, 0), RP_OK);
	assert_int_equal(publish(e, &ops, "d/dev-a/cmd/2", "two", 1, 2, 0), RP_OK);
	close_client(e, &ops);
	/* dev-b's session ends (clean start): its row goes. */
	open_as(e, &dev, "dev-b", "device", RP_MQTT_V311, 1, 0, NULL);
	close_client(e, &dev);
	rp_sessions_stop(ss, e->now);
	assert_int_equal(rp_store_session_put(st, &bad, NULL, NULL), RP_OK);
	rp_store_close(st);
	rp_sessions_stats_get(ss, &stats);
	assert_int_equal(stats.written, 3); /* dev-a twice, dev-b once */
	assert_int_equal(stats.deleted, 1);
	assert_int_equal(stats.failed, 0);
	rp_sessions_free(ss);

	/* The restart. */
	rp_broker_free(e->b);
	e->b = restarted(e);
	e->now += 3600000u; /* the monotonic clock of another process */
	assert_int_equal(rp_store_open(d.url, NULL, &st), RP_OK);
	assert_int_equal(rp_sessions_open(st, e->b, e->now, &ss, &restored, &skipped), RP_OK);
	assert_int_equal(restored, 1);
	assert_int_equal(skipped, 1); /* dev-z's junk: logged and left */
	assert_int_equal(rp_broker_session_count(e->b), 1);
	open_as(e, &dev, "dev-a", "device", RP_MQTT_V5, 0, 600, &present);
	assert_int_equal(present, 1);
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	assert_memory_equal(p.u.publish.payload.p, "one", 3);
	assert_true(next_pkt(e, &dev, &p, copy, sizeof(copy)));
	assert_memory_equal(p.u.publish.payload.p, "two", 3);
	close_client(e, &dev);
	/* Expired in the broker: the row goes too. */
	e->now += 601000u;
	rp_broker_tick(e->b, e->now);
	assert_int_equal(rp_broker_session_count(e->b), 0);
	rp_sessions_stop(ss, e->now);
	rp_store_close(st);
	rp_sessions_free(ss);

	/* Nothing but the junk is left. */
	rp_broker_free(e->b);
	e->b = restarted(e);
	assert_int_equal(rp_store_open(d.url, NULL, &st), RP_OK);
	assert_int_equal(rp_sessions_open(st, e->b, e->now, &ss, &restored, &skipped), RP_OK);
	assert_int_equal(restored, 0);
	assert_int_equal(skipped, 1);
	rp_sessions_stop(ss, e->now);
	rp_store_close(st);
	rp_sessions_free(ss);
	sdir_remove(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip_subscriptions_and_queue, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_round_trip_inflight_v5, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip_inflight_v311, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip_at_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_refuses_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_truncations_and_allocation_failures,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirty_and_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deletes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity_and_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_reload_dirties, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_round_trip, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
