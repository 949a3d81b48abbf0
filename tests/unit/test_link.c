/*
 * test_link.c - the device's connection manager (device/link, rampart/link.h).
 *
 * Two parts:
 * - The backoff policy as pure functions: bounds, growth, cap, no
 *   overflow, and a statistical check that delays drawn with RAND_bytes
 *   spread over the whole interval (chi-square over 20 bins, min and max
 *   near the ends, mean near the middle).
 * - The link itself, driven by rp_link_run() in the main thread against a
 *   scripted MQTT 5 server over real mutual TLS in another thread
 *   (tests/support/mqttsrv.h: OpenSSL, the fleet PKI of
 *   tests/support/testpki, packets read and written with the shared
 *   codec). The scripts check every packet the link sends
 *   (CONNECT with clean start 0 and the session expiry, SUBSCRIBE with
 *   Retain Handling 1, resends with DUP and the same packet identifier)
 *   and drop the connection at chosen moments; the main thread checks the
 *   events, the done callbacks, the backoff attempts and delays, and the
 *   refusals of a server with the wrong certificate or name.
 *
 * A failure inside the server thread is recorded (cmocka is not
 * thread-safe) and asserted by the main thread when the script has ended.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "mqttsrv.h"
#include "rampart/link.h"
#include "rampart/mqtt.h"
#include "rampart/tls_client.h"
#include "testpki.h"
#include "tlssrv.h"

static testpki_fleet F;
static testpki_id other_server; /* CN localhost, issued by another CA */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ==== 1. backoff: pure functions ============================================= */

static void test_backoff_ceiling(void **state)
{
	rp_link_backoff b = {.base_ms = 1000, .cap_ms = 300000, .stable_ms = 60000};
	rp_link_backoff big = {.base_ms = 0x80000000u, .cap_ms = UINT32_MAX};
	rp_link_backoff odd = {.base_ms = 500, .cap_ms = 100};
	uint32_t a, prev = 0;

	(void)state;
	/* Growth: doubles from base until the cap, then stays there. */
	assert_int_equal(rp_link_backoff_ceiling(&b, 0), 1000);
	assert_int_equal(rp_link_backoff_ceiling(&b, 1), 2000);
	assert_int_equal(rp_link_backoff_ceiling(&b, 2), 4000);
	assert_int_equal(rp_link_backoff_ceiling(&b, 8), 256000);
	assert_int_equal(rp_link_backoff_ceiling(&b, 9), 300000);
	for (a = 0; a < 100; a++) {
		uint32_t c = rp_link_backoff_ceiling(&b, a);

		assert_true(c >= prev);
		assert_true(c <= b.cap_ms);
		assert_true(c == b.cap_ms || c == prev * 2u || a == 0);
		prev = c;
	}
	assert_int_equal(rp_link_backoff_ceiling(&b, UINT32_MAX), 300000);
	/* No overflow: base * 2 does not fit 32 bits. */
	assert_int_equal(rp_link_backoff_ceiling(&big, 0), 0x80000000u);
	assert_int_equal(rp_link_backoff_ceiling(&big, 1), UINT32_MAX);
	assert_int_equal(rp_link_backoff_ceiling(&big, 40), UINT32_MAX);
	/* An inconsistent policy never exceeds its cap. */
	assert_int_equal(rp_link_backoff_ceiling(&odd, 0), 100);
	assert_int_equal(rp_link_backoff_ceiling(NULL, 3), 0);
	assert_int_equal(rp_link_backoff_delay(NULL, 3, 12345), 0);
}

static void test_backoff_bounds(void **state)
{
	rp_link_backoff b = {.base_ms = 1000, .cap_ms = 300000};
	rp_link_backoff big = {.base_ms = 1, .cap_ms = UINT32_MAX};
	uint32_t a, i;

	(void)state;
	for (a = 0; a < 40; a++) {
		uint32_t c = rp_link_backoff_ceiling(&b, a);

		/* Both ends of the interval are reachable, nothing beyond. */
		assert_int_equal(rp_link_backoff_delay(&b, a, 0), 0);
		assert_int_equal(rp_link_backoff_delay(&b, a, UINT32_MAX), c);
		assert_int_equal(rp_link_backoff_delay(&b, a, 0x80000000u), (c + 1u) / 2u);
		for (i = 0; i < 1000; i++) {
			uint32_t r = i * 4294967u + a;

			assert_true(rp_link_backoff_delay(&b, a, r) <= c);
		}
	}
	/* The largest interval there is: still inside, no wrap to 0. */
	assert_int_equal(rp_link_backoff_delay(&big, 32, UINT32_MAX), UINT32_MAX);
	assert_int_equal(rp_link_backoff_delay(&big, 32, UINT32_MAX - 1u), UINT32_MAX - 1u);
	/* Monotonic in rnd. */
	for (i = 1; i < 100000; i += 7) {
		assert_true(rp_link_backoff_delay(&b, 5, i * 42949u) >=
			    rp_link_backoff_delay(&b, 5, (i - 1u) * 42949u));
	}
}

/*
 * Full jitter: delays drawn as the link draws them (RAND_bytes) cover the
 * whole of [0, ceiling] evenly, at the first attempt and at the cap.
 */
static void test_backoff_spread(void **state)
{
	enum { N = 100000, BINS = 20 };
	rp_link_backoff b = {.base_ms = 1000, .cap_ms = 60000};
	const uint32_t attempts[2] = {0, 20};
	unsigned k;

	(void)state;
	for (k = 0; k < 2; k++) {
		uint32_t c = rp_link_backoff_ceiling(&b, attempts[k]);
		static uint32_t rnd[N];
		unsigned bins[BINS] = {0};
		uint32_t lo = UINT32_MAX, hi = 0;
		double sum = 0, chi = 0, expect = (double)N / BINS;
		unsigned i;

		assert_int_equal(RAND_bytes((unsigned char *)rnd, (int)sizeof(rnd)), 1);
		for (i = 0; i < N; i++) {
			uint32_t d = rp_link_backoff_delay(&b, attempts[k], rnd[i]);
			unsigned bin = (unsigned)((uint64_t)d * BINS / ((uint64_t)c + 1u));

			assert_true(d <= c);
			bins[bin]++;
			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
			sum += d;
		}
		for (i = 0; i < BINS; i++) {
			chi += (bins[i] - expect) * (bins[i] - expect) / expect;
		}
		/*
		 * 19 degrees of freedom: P(chi2 > 64.4) is about 1e-6, so a
		 * uniform generator fails once in a million runs; a delay
		 * that covers half the interval scores about 100,000.
		 */
		if (chi > 64.4) {
			print_error("chi-square %.1f over %u bins (ceiling %u)\n", chi, BINS, c);
		}
		assert_true(chi < 64.4);
		assert_true(lo < c / 1000u + 1u); /* reaches the bottom... */
		assert_true(hi > c - c / 1000u);  /* ...and the top */
		sum = sum / N - c / 2.0;
		assert_true(sum < c * 0.01 && sum > -(c * 0.01));
	}
}

/* ==== 2. the application side ================================================ */

#define MAX_EVENTS 32

typedef struct app {
	rp_link *link;
	int connected, subscribed, disconnected;
	uint8_t session_present[MAX_EVENTS];
	rp_status status[MAX_EVENTS];
	uint32_t attempt[MAX_EVENTS];
	uint32_t retry_in[MAX_EVENTS];
	uint64_t at[MAX_EVENTS]; /* when each DISCONNECTED came */
	char why[MAX_EVENTS][320];
	uint8_t suback[4];
	int messages;
	char topic[128];
	char payload[128];
	int done_calls;
	rp_status done_st;
	uint8_t done_rc;
	int publish_on_message; /* answer a command with telemetry */
	int publish_on_connect;
	int publish_qos0; /* publish_telemetry at QoS 0 instead of 1 */
	rp_status publish_st;
} app;

static void on_done(void *ctx, rp_status st, uint8_t rc)
{
	app *a = ctx;

	a->done_calls++;
	a->done_st = st;
	a->done_rc = rc;
}

static void publish_telemetry(app *a)
{
	rp_link_message m;

	memset(&m, 0, sizeof(m));
	m.topic = "d/dev-0001/telemetry";
	m.payload = (const uint8_t *)"t1";
	m.payload_len = 2;
	m.qos = a->publish_qos0 ? 0 : 1;
	a->publish_st = rp_link_publish(a->link, &m, on_done, a);
}

static void on_event(void *ctx, const rp_link_event *ev)
{
	app *a = ctx;

	assert_non_null(ev->why);
	switch (ev->type) {
	case RP_LINK_EV_CONNECTED:
		assert_true(a->connected < MAX_EVENTS);
		a->session_present[a->connected++] = ev->session_present;
		assert_int_equal(rp_link_get_state(a->link), RP_LINK_CONNECTED);
		if (a->publish_on_connect) {
			a->publish_on_connect = 0;
			publish_telemetry(a);
		}
		break;
	case RP_LINK_EV_SUBSCRIBED:
		a->subscribed++;
		assert_int_equal(ev->count, 1);
		a->suback[0] = ev->reason_codes[0];
		break;
	case RP_LINK_EV_DISCONNECTED:
		assert_true(a->disconnected < MAX_EVENTS);
		a->status[a->disconnected] = ev->status;
		a->attempt[a->disconnected] = ev->attempt;
		a->retry_in[a->disconnected] = ev->retry_in_ms;
		a->at[a->disconnected] = now_ms();
		snprintf(a->why[a->disconnected], sizeof(a->why[0]), "%s", ev->why);
		a->disconnected++;
		assert_int_equal(rp_link_get_state(a->link), RP_LINK_WAITING);
		assert_string_equal(rp_link_last_error(a->link), ev->why);
		break;
	default:
		fail();
	}
}

static uint8_t on_message(void *ctx, const rp_link_message *m)
{
	app *a = ctx;

	a->messages++;
	snprintf(a->topic, sizeof(a->topic), "%.*s", (int)m->topic_len, m->topic);
	snprintf(a->payload, sizeof(a->payload), "%.*s", (int)m->payload_len,
		 (const char *)m->payload);
	if (a->publish_on_message) {
		a->publish_on_message = 0;
		publish_telemetry(a); /* publishing from inside a callback */
	}
	return 0;
}

static rp_tlsc_ctx *device_tls(void)
{
	rp_tlsc_ctx *ctx = tlssrv_device_ctx(&F);

	assert_non_null(ctx);
	return ctx;
}

static void link_config(rp_link_config *cfg, rp_tlsc_ctx *tls, uint16_t port, app *a)
{
	rp_link_config_default(cfg);
	cfg->tls = tls;
	cfg->host = "127.0.0.1";
	cfg->port = port;
	cfg->server_name = "localhost";
	cfg->client_id = "dev-0001";
	cfg->keepalive_s = 30;
	cfg->session_expiry_s = 3600;
	cfg->connect_timeout_ms = 3000;
	cfg->backoff.base_ms = 50;
	cfg->backoff.cap_ms = 200;
	cfg->on_event = on_event;
	cfg->on_message = on_message;
	cfg->ctx = a;
}

/* Runs the link until *flag >= want or timeout_ms; returns 1 if reached. */
static int run_until(rp_link *l, const int *flag, int want, unsigned timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;

	while (*flag < want && now_ms() < end) {
		assert_int_equal(rp_link_run(l, 20), RP_OK);
	}
	return *flag >= want;
}

static void run_for(rp_link *l, unsigned ms)
{
	uint64_t end = now_ms() + ms;

	while (now_ms() < end) {
		assert_int_equal(rp_link_run(l, 10), RP_OK);
	}
}

/*
 * One link test: the scripted server (tests/support/mqttsrv.h), the
 * application, the link's configuration and its TLS context.
 */
typedef struct fixture {
	mqttsrv s;
	app *a;
	rp_link_config cfg;
	rp_tlsc_ctx *tls;
} fixture;

/* Starts the server with script and the certificate server_id (NULL: the
 * fleet's server), and configures the link of application a for it in
 * t->cfg, which the test may change before fx_link(). */
static void fx_start(fixture *t, app *a, mqttsrv_script script, const testpki_id *server_id)
{
	assert_int_equal(
		mqttsrv_start(&t->s, server_id != NULL ? server_id : &F.server, &F.ca, script), 0);
	t->tls = device_tls();
	t->a = a;
	link_config(&t->cfg, t->tls, t->s.port, a);
}

/* Makes the link of t->cfg (state IDLE: nothing sent yet). */
static void fx_link(fixture *t)
{
	assert_int_equal(rp_link_new(&t->cfg, &t->a->link), RP_OK);
	assert_int_equal(rp_link_get_state(t->a->link), RP_LINK_IDLE);
}

/* Frees the link (a clean DISCONNECT if connected) and its TLS context,
 * then waits for the script and checks it passed. */
static void fx_end(fixture *t)
{
	rp_link_free(t->a->link);
	rp_tlsc_ctx_free(t->tls);
	assert_int_equal(mqttsrv_finish(&t->s), 0);
}

/* ==== 3. link tests ============================================================== */

/*
 * Connect, subscribe, a command in, telemetry out (published from the
 * message callback); the server dies before the PUBACK; the link comes back
 * after a delay within [0, base], resumes the session and resends the
 * message with DUP and the same packet identifier; the PUBACK finishes it.
 */
static void script_session(mqttsrv *s)
{
	rp_mqtt_packet p;
	uint16_t pid = 0;
	int i, got_pub = 0, got_sub = 0;

	mqttsrv_expect_connect(s, 0);
	mqttsrv_expect_subscribe(s);
	MQTTSRV_CHECK(s, !s->failed);
	MQTTSRV_CHECK(s, mqttsrv_publish(s, "d/dev-0001/cmd/reboot", "now", 1, 7) == 0);
	/* The PUBACK of the command and the telemetry the callback publishes,
	 * in either order. */
	for (i = 0; i < 2; i++) {
		MQTTSRV_CHECK(s, mqttsrv_recv(s, &p, 0) == 0);
		if (p.type == RP_MQTT_PUBACK) {
			MQTTSRV_CHECK(s, p.u.ack.packet_id == 7 && p.u.ack.reason_code == 0);
			got_sub++;
			continue;
		}
		MQTTSRV_CHECK(s, p.type == RP_MQTT_PUBLISH && p.u.publish.qos == 1);
		MQTTSRV_CHECK(s, mqttsrv_str_is(p.u.publish.topic, "d/dev-0001/telemetry"));
		MQTTSRV_CHECK(s, !p.u.publish.dup);
		pid = p.u.publish.packet_id;
		got_pub++;
	}
	MQTTSRV_CHECK(s, got_pub == 1 && got_sub == 1);
	got_pub = got_sub = 0;
	mqttsrv_close(s); /* crash: no PUBACK, no DISCONNECT */

	mqttsrv_expect_connect(s, 1);
	MQTTSRV_CHECK(s, !s->failed);
	for (i = 0; i < 2; i++) {
		MQTTSRV_CHECK(s, mqttsrv_recv(s, &p, 0) == 0);
		if (p.type == RP_MQTT_SUBSCRIBE) {
			mqttsrv_check_subscribe(s, &p);
			got_sub++;
			continue;
		}
		MQTTSRV_CHECK(s, p.type == RP_MQTT_PUBLISH);
		MQTTSRV_CHECK(s, p.u.publish.dup == 1);
		MQTTSRV_CHECK(s, p.u.publish.packet_id == pid);
		MQTTSRV_CHECK(s, mqttsrv_str_is(p.u.publish.topic, "d/dev-0001/telemetry"));
		MQTTSRV_CHECK(s, p.u.publish.payload.len == 2 &&
					 !memcmp(p.u.publish.payload.p, "t1", 2));
		MQTTSRV_CHECK(s, mqttsrv_ack(s, RP_MQTT_PUBACK, pid, 0) == 0);
		got_pub++;
	}
	MQTTSRV_CHECK(s, got_pub == 1 && got_sub == 1);
	/* rp_link_free: a clean DISCONNECT (the session stays). */
	MQTTSRV_CHECK(s, mqttsrv_recv(s, &p, 0) == 0);
	MQTTSRV_CHECK(s, p.type == RP_MQTT_DISCONNECT && p.u.disconnect.reason_code == 0);
}

static void test_link_session_resumed(void **state)
{
	fixture t = {0};
	app a = {.publish_on_message = 1};
	rp_link_stats st;

	(void)state;
	fx_start(&t, &a, script_session, NULL);
	fx_link(&t);
	assert_true(run_until(a.link, &a.done_calls, 1, 8000));
	assert_int_equal(a.publish_st, RP_OK);
	assert_int_equal(a.done_st, RP_OK);
	assert_int_equal(a.done_rc, 0);
	assert_int_equal(a.messages, 1);
	assert_string_equal(a.topic, "d/dev-0001/cmd/reboot");
	assert_string_equal(a.payload, "now");
	assert_int_equal(a.connected, 2);
	assert_int_equal(a.session_present[0], 0);
	assert_int_equal(a.session_present[1], 1);
	assert_true(a.subscribed >= 1);
	assert_int_equal(a.suback[0], 1);
	assert_int_equal(a.disconnected, 1);
	assert_true(a.status[0] == RP_E_CLOSED || a.status[0] == RP_E_IO);
	assert_int_equal(a.attempt[0], 0);
	assert_true(a.retry_in[0] <= 50); /* within [0, base] */
	assert_int_equal(rp_link_get_stats(a.link, &st), RP_OK);
	assert_int_equal(st.connects, 2);
	assert_int_equal(st.resumed, 1);
	assert_int_equal(st.acked, 1);
	assert_int_equal(st.republished, 0);
	assert_int_equal(st.received, 1);
	assert_int_equal(st.inflight, 0);
	assert_true(st.bytes_out > 0 && st.bytes_in > 0);
	fx_end(&t);
}

/*
 * The server lost the session (session present 0 after a reconnect): the
 * message in flight is published again as a new message, and finished
 * once.
 */
static void script_session_lost(mqttsrv *s)
{
	rp_mqtt_packet p;
	int i, got_pub = 0;

	mqttsrv_expect_connect(s, 0);
	mqttsrv_expect_subscribe(s);
	MQTTSRV_CHECK(s, !s->failed);
	MQTTSRV_CHECK(s, mqttsrv_recv(s, &p, 0) == 0);
	MQTTSRV_CHECK(s, p.type == RP_MQTT_PUBLISH && p.u.publish.qos == 1);
	mqttsrv_close(s);

	mqttsrv_expect_connect(s, 0);
	MQTTSRV_CHECK(s, !s->failed);
	for (i = 0; i < 2; i++) {
		MQTTSRV_CHECK(s, mqttsrv_recv(s, &p, 0) == 0);
		if (p.type == RP_MQTT_SUBSCRIBE) {
			mqttsrv_check_subscribe(s, &p);
			continue;
		}
		MQTTSRV_CHECK(s, p.type == RP_MQTT_PUBLISH);
		MQTTSRV_CHECK(s, p.u.publish.dup == 0); /* a new message for this session */
		MQTTSRV_CHECK(s, mqttsrv_str_is(p.u.publish.topic, "d/dev-0001/telemetry"));
		MQTTSRV_CHECK(s, mqttsrv_ack(s, RP_MQTT_PUBACK, p.u.publish.packet_id, 0x10) == 0);
		got_pub++;
	}
	MQTTSRV_CHECK(s, got_pub == 1);
	MQTTSRV_CHECK(s, mqttsrv_recv(s, &p, 0) == 0);
	MQTTSRV_CHECK(s, p.type == RP_MQTT_DISCONNECT);
}

static void test_link_session_lost(void **state)
{
	fixture t = {0};
	app a = {.publish_on_connect = 1};
	rp_link_stats st;

	(void)state;
	fx_start(&t, &a, script_session_lost, NULL);
	fx_link(&t);
	assert_true(run_until(a.link, &a.done_calls, 1, 8000));
	assert_int_equal(a.publish_st, RP_OK);
	assert_int_equal(a.done_st, RP_OK);
	assert_int_equal(a.done_rc, 0x10); /* the PUBACK's reason code reaches the app */
	assert_int_equal(a.connected, 2);
	assert_int_equal(a.session_present[1], 0);
	assert_int_equal(rp_link_get_stats(a.link, &st), RP_OK);
	assert_int_equal(st.republished, 1);
	assert_int_equal(st.acked, 1);
	run_for(a.link, 50);
	assert_int_equal(a.done_calls, 1); /* exactly once */
	fx_end(&t);
}

/*
 * Backoff in the link: four CONNACK refusals make the attempt counter grow
 * (0, 1, 2, 3) with each delay inside its ceiling and never early; a
 * connection that stays up longer than stable_ms resets it (the next
 * failure is attempt 0 again); one that does not, does not (attempt 1).
 */
static void script_refusals(mqttsrv *s)
{
	rp_mqtt_packet p;
	int i;

	for (i = 0; i < 4; i++) {
		MQTTSRV_CHECK(s, mqttsrv_accept(s) == 0);
		MQTTSRV_CHECK(s, mqttsrv_recv(s, &p, 0) == 0 && p.type == RP_MQTT_CONNECT);
		MQTTSRV_CHECK(s, mqttsrv_connack(s, 0, 0x87, "not\x01 now", 0) == 0);
		(void)mqttsrv_recv(s, &p, 0); /* the link closes */
	}
	/* Up for 900 ms (stable_ms is 600), then dropped. */
	mqttsrv_expect_connect(s, 0);
	mqttsrv_expect_subscribe(s);
	nanosleep(&(struct timespec){.tv_nsec = 900 * 1000 * 1000}, NULL);
	mqttsrv_close(s);
	/* Up for a moment only, then dropped. */
	mqttsrv_expect_connect(s, 1);
	mqttsrv_expect_subscribe(s);
	mqttsrv_close(s);
}

static void test_link_backoff_attempts(void **state)
{
	fixture t = {0};
	app a = {0};
	int i;

	(void)state;
	fx_start(&t, &a, script_refusals, NULL);
	t.cfg.backoff.base_ms = 20;
	t.cfg.backoff.cap_ms = 80;
	t.cfg.backoff.stable_ms = 600;
	fx_link(&t);
	assert_true(run_until(a.link, &a.disconnected, 6, 10000));
	for (i = 0; i < 4; i++) {
		uint32_t ceiling = rp_link_backoff_ceiling(&t.cfg.backoff, (uint32_t)i);

		assert_int_equal(a.status[i], RP_E_DENIED);
		assert_int_equal(a.attempt[i], i);
		assert_true(a.retry_in[i] <= ceiling);
		if (strstr(a.why[i], "server refused the connection: 0x87 not authorized") ==
			    NULL ||
		    strstr(a.why[i], "server says \"not? now\"") == NULL) {
			print_error("why: %s\n", a.why[i]);
			fail();
		}
		/* The next attempt did not come before its delay. */
		assert_true(a.at[i + 1] - a.at[i] + 2u >= a.retry_in[i]);
	}
	assert_int_equal(a.connected, 2);
	assert_int_equal(a.attempt[4], 0); /* stayed up 900 ms >= 600: reset */
	assert_int_equal(a.attempt[5], 1); /* up a moment only: counting on */
	fx_end(&t);
}

/* Nothing listens: attempts grow, delays stay inside the ceiling. */
static void test_link_no_server(void **state)
{
	app a = {0};
	rp_link_config cfg;
	rp_tlsc_ctx *tls = device_tls();
	rp_link_stats st;
	uint16_t port;
	int i;

	(void)state;
	assert_int_equal(tlssrv_unused_port(&port), 0);
	link_config(&cfg, tls, port, &a);
	cfg.backoff.base_ms = 10;
	cfg.backoff.cap_ms = 40;
	assert_int_equal(rp_link_new(&cfg, &a.link), RP_OK);
	assert_true(run_until(a.link, &a.disconnected, 8, 5000));
	for (i = 0; i < 8; i++) {
		assert_int_equal(a.status[i], RP_E_IO);
		assert_int_equal(a.attempt[i], i);
		assert_true(a.retry_in[i] <= rp_link_backoff_ceiling(&cfg.backoff, (uint32_t)i));
		assert_non_null(strstr(a.why[i], "cannot connect"));
	}
	assert_int_equal(rp_link_get_stats(a.link, &st), RP_OK);
	assert_true(st.attempts >= 8);
	assert_int_equal(st.connects, 0);
	assert_int_equal(rp_link_get_state(a.link), RP_LINK_WAITING);
	rp_link_free(a.link);
	rp_tlsc_ctx_free(tls);
}

/* The TLS refusals: a server from another CA, a server with another name.
 * The link reports why and never sends an MQTT byte. */
static void script_handshakes(mqttsrv *s)
{
	(void)mqttsrv_accept(s); /* fails */
}

static void refused(const testpki_id *server_id, const char *name, const char *needle)
{
	fixture t = {0};
	app a = {0};
	rp_link_stats st;

	fx_start(&t, &a, script_handshakes, server_id);
	t.cfg.server_name = name;
	t.cfg.backoff.base_ms = 5000; /* one attempt in this test */
	t.cfg.backoff.cap_ms = 5000;
	fx_link(&t);
	assert_true(run_until(a.link, &a.disconnected, 1, 5000));
	assert_int_equal(mqttsrv_finish(&t.s), 0);
	assert_int_equal(a.status[0], RP_E_AUTH);
	if (strstr(a.why[0], needle) == NULL) {
		print_error("why: \"%s\", expected \"%s\"\n", a.why[0], needle);
		fail();
	}
	assert_int_equal(a.connected, 0);
	assert_int_equal(atomic_load(&t.s.handshakes_failed), 1);
	assert_int_equal(atomic_load(&t.s.mqtt_bytes), 0);
	assert_int_equal(rp_link_get_stats(a.link, &st), RP_OK);
	assert_int_equal(st.bytes_out, 0); /* not one MQTT byte left the device */
	assert_int_equal(rp_link_get_state(a.link), RP_LINK_WAITING);
	rp_link_free(a.link);
	rp_tlsc_ctx_free(t.tls);
}

static void test_link_refuses_other_ca(void **state)
{
	(void)state;
	refused(&other_server, "localhost", "server certificate does not chain to the fleet root");
}

static void test_link_refuses_wrong_name(void **state)
{
	(void)state;
	refused(&F.server, "rampart.example.com", "server name mismatch");
}

/* A server that stops answering: PINGREQ unanswered, the link gives up
 * after the response timeout and reports RP_E_TIMEOUT. */
static void script_silent(mqttsrv *s)
{
	rp_mqtt_packet p;

	MQTTSRV_CHECK(s, mqttsrv_accept(s) == 0);
	MQTTSRV_CHECK(s, mqttsrv_recv(s, &p, 0) == 0 && p.type == RP_MQTT_CONNECT);
	MQTTSRV_CHECK(s, mqttsrv_connack(s, 0, 0, NULL, 1) == 0); /* Server Keep Alive: 1 s */
	mqttsrv_expect_subscribe(s);
	MQTTSRV_CHECK(s, mqttsrv_recv(s, &p, 0) == 0);
	MQTTSRV_CHECK(s, p.type == RP_MQTT_PINGREQ);
	(void)mqttsrv_recv(s, &p, 0); /* no PINGRESP; wait for the link to go */
}

static void test_link_keepalive_timeout(void **state)
{
	fixture t = {0};
	app a = {0};

	(void)state;
	fx_start(&t, &a, script_silent, NULL);
	t.cfg.connect_timeout_ms = 1000; /* also the PINGRESP timeout */
	t.cfg.backoff.base_ms = 5000;
	t.cfg.backoff.cap_ms = 5000;
	fx_link(&t);
	assert_true(run_until(a.link, &a.disconnected, 1, 5000));
	assert_int_equal(a.connected, 1);
	assert_int_equal(a.status[0], RP_E_TIMEOUT);
	assert_non_null(strstr(a.why[0], "presumed dead"));
	fx_end(&t);
}

/* rp_link_wants() with an application's own poll(): the same work gets done. */
static void script_external(mqttsrv *s)
{
	rp_mqtt_packet p;

	mqttsrv_expect_connect(s, 0);
	mqttsrv_expect_subscribe(s);
	MQTTSRV_CHECK(s, mqttsrv_recv(s, &p, 0) == 0);
	MQTTSRV_CHECK(s, p.type == RP_MQTT_PUBLISH && p.u.publish.qos == 1);
	MQTTSRV_CHECK(s, mqttsrv_ack(s, RP_MQTT_PUBACK, p.u.publish.packet_id, 0x87) == 0);
	MQTTSRV_CHECK(s, mqttsrv_recv(s, &p, 0) == 0 && p.type == RP_MQTT_DISCONNECT);
}

static void test_link_external_loop(void **state)
{
	fixture t = {0};
	app a = {.publish_on_connect = 1};
	uint64_t end;

	(void)state;
	fx_start(&t, &a, script_external, NULL);
	fx_link(&t);
	end = now_ms() + 5000;
	while (a.done_calls == 0 && now_ms() < end) {
		struct pollfd pfd;
		int timeout = -1;

		assert_int_equal(rp_link_wants(a.link, &pfd, &timeout), RP_OK);
		assert_true(pfd.fd >= -1);
		if (timeout < 0 || timeout > 100) {
			timeout = 100;
		}
		assert_true(poll(&pfd, pfd.fd >= 0 ? 1 : 0, timeout) >= 0);
		assert_int_equal(rp_link_run(a.link, 0), RP_OK);
	}
	assert_int_equal(a.done_calls, 1);
	/* The server refused the message: 0x87 reaches the application. */
	assert_int_equal(a.done_st, RP_E_DENIED);
	assert_int_equal(a.done_rc, 0x87);
	fx_end(&t);
}

/* A message still in flight when the link is freed: done with RP_E_CLOSED. */
static void script_no_ack(mqttsrv *s)
{
	rp_mqtt_packet p;

	mqttsrv_expect_connect(s, 0);
	mqttsrv_expect_subscribe(s);
	MQTTSRV_CHECK(s, mqttsrv_recv(s, &p, 0) == 0 && p.type == RP_MQTT_PUBLISH);
	MQTTSRV_CHECK(s, mqttsrv_recv(s, &p, 0) == 0 && p.type == RP_MQTT_DISCONNECT);
}

static void test_link_free_in_flight(void **state)
{
	fixture t = {0};
	app a = {.publish_on_connect = 1};
	rp_link_stats st;

	(void)state;
	fx_start(&t, &a, script_no_ack, NULL);
	fx_link(&t);
	assert_true(run_until(a.link, &a.subscribed, 1, 5000));
	run_for(a.link, 50);
	assert_int_equal(a.publish_st, RP_OK);
	assert_int_equal(rp_link_get_stats(a.link, &st), RP_OK);
	assert_int_equal(st.inflight, 1);
	assert_int_equal(a.done_calls, 0);
	rp_link_free(a.link);
	a.link = NULL;
	assert_int_equal(a.done_calls, 1);
	assert_int_equal(a.done_st, RP_E_CLOSED);
	fx_end(&t);
}

/* A server that breaks MQTT: the link closes with the reason, sends its
 * DISCONNECT (0x82), and says why. */
static void script_violation(mqttsrv *s)
{
	rp_mqtt_packet p;

	mqttsrv_expect_connect(s, 0);
	mqttsrv_expect_subscribe(s);
	MQTTSRV_CHECK(s, mqttsrv_ack(s, RP_MQTT_PUBACK, 999, 0) == 0); /* nothing in flight */
	MQTTSRV_CHECK(s, mqttsrv_recv(s, &p, 0) == 0);
	MQTTSRV_CHECK(s, p.type == RP_MQTT_DISCONNECT && p.u.disconnect.reason_code == 0x82);
}

static void test_link_protocol_violation(void **state)
{
	fixture t = {0};
	app a = {0};

	(void)state;
	fx_start(&t, &a, script_violation, NULL);
	t.cfg.backoff.base_ms = 5000;
	t.cfg.backoff.cap_ms = 5000;
	fx_link(&t);
	assert_true(run_until(a.link, &a.disconnected, 1, 5000));
	assert_int_equal(a.status[0], RP_E_PROTOCOL);
	if (strstr(a.why[0], "server broke the MQTT protocol") == NULL ||
	    strstr(a.why[0], "DISCONNECT 0x82 sent") == NULL) {
		print_error("why: %s\n", a.why[0]);
		fail();
	}
	fx_end(&t);
}

/* QoS 0 with a done callback: called once its bytes went to TLS. */
static void script_qos0(mqttsrv *s)
{
	rp_mqtt_packet p;

	mqttsrv_expect_connect(s, 0);
	mqttsrv_expect_subscribe(s);
	MQTTSRV_CHECK(s, mqttsrv_recv(s, &p, 0) == 0);
	MQTTSRV_CHECK(s, p.type == RP_MQTT_PUBLISH && p.u.publish.qos == 0);
	MQTTSRV_CHECK(s, mqttsrv_str_is(p.u.publish.topic, "d/dev-0001/telemetry"));
	MQTTSRV_CHECK(s, mqttsrv_recv(s, &p, 0) == 0 && p.type == RP_MQTT_DISCONNECT);
}

static void test_link_qos0_done(void **state)
{
	fixture t = {0};
	app a = {.publish_on_connect = 1, .publish_qos0 = 1};

	(void)state;
	fx_start(&t, &a, script_qos0, NULL);
	fx_link(&t);
	assert_true(run_until(a.link, &a.done_calls, 1, 5000));
	assert_int_equal(a.publish_st, RP_OK);
	assert_int_equal(a.done_st, RP_OK);
	run_for(a.link, 30);
	assert_int_equal(a.done_calls, 1);
	rp_link_free(a.link);
	a.link = NULL;
	assert_int_equal(a.done_calls, 1); /* not again at free */
	fx_end(&t);
}

static void test_link_config_refusals(void **state)
{
	rp_link_config cfg;
	rp_tlsc_ctx *tls = device_tls();
	rp_link *l = NULL;
	rp_link_message m;
	app a = {0};
	const char *bad_topics[1] = {"d/dev-0001/#/x"};
	const char *good_topics[2] = {"d/dev-0001/cmd/+", "d/dev-0001/ota/#"};

	(void)state;
	link_config(&cfg, tls, 8883, &a);
	assert_int_equal(rp_link_new(NULL, &l), RP_E_INVALID_ARG);
	assert_int_equal(rp_link_new(&cfg, NULL), RP_E_INVALID_ARG);
	cfg.client_id = "dev/0001";
	assert_int_equal(rp_link_new(&cfg, &l), RP_E_INVALID_ARG);
	cfg.client_id = "";
	assert_int_equal(rp_link_new(&cfg, &l), RP_E_INVALID_ARG);
	cfg.client_id = "dev-0001";
	cfg.topics = bad_topics;
	cfg.ntopics = 1;
	assert_int_equal(rp_link_new(&cfg, &l), RP_E_INVALID_ARG);
	cfg.topics = NULL;
	cfg.ntopics = 0;
	cfg.backoff.base_ms = 0;
	assert_int_equal(rp_link_new(&cfg, &l), RP_E_INVALID_ARG);
	cfg.backoff.base_ms = 500;
	cfg.backoff.cap_ms = 100;
	assert_int_equal(rp_link_new(&cfg, &l), RP_E_INVALID_ARG);
	cfg.backoff.cap_ms = 1000;
	cfg.max_packet = 100;
	assert_int_equal(rp_link_new(&cfg, &l), RP_E_INVALID_ARG);
	cfg.max_packet = 65536;
	cfg.port = 0;
	assert_int_equal(rp_link_new(&cfg, &l), RP_E_INVALID_ARG);
	cfg.port = 8883;
	cfg.tls = NULL;
	assert_int_equal(rp_link_new(&cfg, &l), RP_E_INVALID_ARG);
	assert_null(l);
	cfg.tls = tls;
	cfg.topics = good_topics;
	cfg.ntopics = 2;
	assert_int_equal(rp_link_new(&cfg, &l), RP_OK);

	/* Not connected yet: publishing is refused, not queued. */
	memset(&m, 0, sizeof(m));
	m.topic = "d/dev-0001/telemetry";
	m.qos = 1;
	assert_int_equal(rp_link_publish(l, &m, NULL, NULL), RP_E_STATE);
	m.qos = 0;
	assert_int_equal(rp_link_publish(l, &m, on_done, &a), RP_E_STATE);
	m.props = &(rp_mqtt_props){0};
	assert_int_equal(rp_link_publish(l, &m, NULL, NULL), RP_E_INVALID_ARG);
	m.props = NULL;
	m.qos = 3;
	assert_int_equal(rp_link_publish(l, &m, NULL, NULL), RP_E_INVALID_ARG);
	assert_int_equal(rp_link_publish(NULL, &m, NULL, NULL), RP_E_INVALID_ARG);
	assert_int_equal(rp_link_run(NULL, 0), RP_E_INVALID_ARG);
	assert_int_equal(rp_link_get_state(NULL), RP_LINK_IDLE);
	assert_string_equal(rp_link_last_error(l), "");
	rp_link_free(l);
	rp_link_free(NULL);
	rp_tlsc_ctx_free(tls);
}

/* ==== setup ======================================================================= */

static int setup(void **state)
{
	testpki_spec srv_spec = {
		.cn = "localhost", .san = "DNS:localhost,IP:127.0.0.1", .server = 1};

	(void)state;
	if (testpki_fleet_new(&F) != 0 || testpki_issue(&other_server, &srv_spec, &F.other_ca)) {
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	testpki_id_free(&other_server);
	testpki_fleet_free(&F);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_ceiling),
		cmocka_unit_test(test_backoff_bounds),
		cmocka_unit_test(test_backoff_spread),
		cmocka_unit_test(test_link_config_refusals),
		cmocka_unit_test(test_link_session_resumed),
		cmocka_unit_test(test_link_session_lost),
		cmocka_unit_test(test_link_backoff_attempts),
		cmocka_unit_test(test_link_no_server),
		cmocka_unit_test(test_link_refuses_other_ca),
		cmocka_unit_test(test_link_refuses_wrong_name),
		cmocka_unit_test(test_link_keepalive_timeout),
		cmocka_unit_test(test_link_external_loop),
		cmocka_unit_test(test_link_free_in_flight),
		cmocka_unit_test(test_link_qos0_done),
		cmocka_unit_test(test_link_protocol_violation),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
