/*
 * test_link.c - the device's connection manager (device/link, rampart/link.h).
 *
 * Two parts:
 * - The backoff policy as pure functions: bounds, growth, cap, no
 *   overflow, and a statistical check that delays drawn with RAND_bytes
 *   spread over the whole interval (chi-square over 20 bins, min and max
 *   near the ends, mean near the middle).
 * - The link itself, driven by rp_link_run() in the main thread against a
 *   scripted MQTT 5 server over real mutual TLS in another thread (OpenSSL,
 *   the fleet PKI of tests/support/testpki, packets read and written with
 *   the shared codec). The scripts check every packet the link sends
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

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "rampart/link.h"
#include "rampart/mqtt.h"
#include "rampart/tls_client.h"
#include "testpki.h"

static testpki_fleet F;
static testpki_id other_server; /* CN localhost, issued by another CA */

static const char *P(const char *file)
{
	static char buf[4][512];
	static unsigned next;
	char *b = buf[next++ % 4u];

	assert_non_null(testpki_path(&F, file, b, sizeof(buf[0])));
	return b;
}

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

/* ==== 2. a scripted MQTT 5 server over TLS, in a thread ====================== */

typedef struct msrv msrv;
typedef void (*script_fn)(msrv *s);

struct msrv {
	const testpki_id *id; /* server certificate; NULL: F.server */
	script_fn script;
	int lfd;
	uint16_t port;
	pthread_t thread;
	SSL_CTX *ctx;
	/* the current connection */
	int fd;
	SSL *ssl;
	uint8_t version;
	uint8_t rx[16384];
	size_t rx_len;
	uint8_t pkt[16384];
	/* results */
	atomic_int finished;
	atomic_int handshakes_failed;
	atomic_size_t mqtt_bytes; /* application bytes read, all connections */
	int failed;
	char why[512];
	uint16_t pid; /* scratch for the scripts */
};

static void ms_fail(msrv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ms_fail(msrv *s, const char *fmt, ...)
{
	va_list ap;

	if (s->failed) {
		return; /* keep the first reason */
	}
	s->failed = 1;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

#define MS_CHECK(s, cond)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			ms_fail((s), "%s:%d: %s", __FILE__, __LINE__, #cond);                      \
			return;                                                                    \
		}                                                                                  \
	} while (0)

static void ms_close(msrv *s)
{
	SSL_free(s->ssl);
	s->ssl = NULL;
	if (s->fd >= 0) {
		close(s->fd);
	}
	s->fd = -1;
	s->rx_len = 0;
	s->version = 0;
}

/* Accepts one connection and runs the TLS handshake: 0, or -1. */
static int ms_accept(msrv *s)
{
	struct pollfd p = {.fd = s->lfd, .events = POLLIN};
	struct timeval tv = {.tv_sec = 5};

	ms_close(s);
	if (poll(&p, 1, 10000) != 1) {
		return -1;
	}
	s->fd = accept(s->lfd, NULL, NULL);
	if (s->fd < 0) {
		return -1;
	}
	setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	s->ssl = SSL_new(s->ctx);
	if (s->ssl == NULL || SSL_set_fd(s->ssl, s->fd) != 1 || SSL_accept(s->ssl) != 1) {
		atomic_fetch_add(&s->handshakes_failed, 1);
		ERR_clear_error();
		ms_close(s);
		return -1;
	}
	return 0;
}

/* The next packet from the client (views into s->pkt): 0, or -1 on EOF. */
static int ms_recv(msrv *s, rp_mqtt_packet *pkt)
{
	rp_mqtt_limits lim;

	rp_mqtt_limits_default(&lim);
	for (;;) {
		rp_mqtt_frame fr;
		size_t need = 0, n = 0;
		rp_status st = RP_NEED_MORE;

		if (s->rx_len > 0) {
			st = rp_mqtt_frame_parse(s->rx, s->rx_len, s->version, sizeof(s->pkt), &fr,
						 &need);
		}
		if (st == RP_OK) {
			memcpy(s->pkt, s->rx, fr.total);
			memmove(s->rx, s->rx + fr.total, s->rx_len - fr.total);
			s->rx_len -= fr.total;
			st = rp_mqtt_decode(s->pkt, fr.total, s->version, &lim, pkt, NULL);
			if (st != RP_OK) {
				ms_fail(s, "the link sent an invalid packet: %s",
					rp_status_str(st));
				return -1;
			}
			if (pkt->type == RP_MQTT_CONNECT) {
				s->version = pkt->u.connect.version;
			}
			return 0;
		}
		if (st != RP_NEED_MORE) {
			ms_fail(s, "the link sent a bad frame: %s", rp_status_str(st));
			return -1;
		}
		if (s->ssl == NULL ||
		    SSL_read_ex(s->ssl, s->rx + s->rx_len, sizeof(s->rx) - s->rx_len, &n) != 1) {
			ERR_clear_error();
			return -1;
		}
		s->rx_len += n;
		atomic_fetch_add(&s->mqtt_bytes, n);
	}
}

static int ms_send(msrv *s, const rp_mqtt_packet *pkt)
{
	rp_mqtt_limits lim;
	uint8_t buf[4096];
	size_t n = 0, w = 0;

	rp_mqtt_limits_default(&lim);
	if (rp_mqtt_encode(pkt, RP_MQTT_V5, &lim, buf, sizeof(buf), &n) != RP_OK) {
		ms_fail(s, "test bug: cannot encode a packet of type %u", pkt->type);
		return -1;
	}
	return SSL_write_ex(s->ssl, buf, n, &w) == 1 && w == n ? 0 : -1;
}

static int ms_connack(msrv *s, uint8_t session_present, uint8_t rc, const char *reason,
		      uint16_t server_keepalive)
{
	rp_mqtt_packet p;

	memset(&p, 0, sizeof(p));
	p.type = RP_MQTT_CONNACK;
	p.u.connack.session_present = session_present;
	p.u.connack.reason_code = rc;
	if (reason != NULL) {
		p.u.connack.props.present |= RP_MQTT_HAS(RP_MQTT_PROP_REASON_STRING);
		p.u.connack.props.reason_string.p = (const uint8_t *)reason;
		p.u.connack.props.reason_string.len = (uint32_t)strlen(reason);
	}
	if (server_keepalive != 0) {
		p.u.connack.props.present |= RP_MQTT_HAS(RP_MQTT_PROP_SERVER_KEEPALIVE);
		p.u.connack.props.server_keepalive = server_keepalive;
	}
	return ms_send(s, &p);
}

static int ms_ack(msrv *s, uint8_t type, uint16_t pid, uint8_t rc)
{
	static const uint8_t granted[1] = {1};
	rp_mqtt_packet p;

	memset(&p, 0, sizeof(p));
	p.type = type;
	if (type == RP_MQTT_SUBACK) {
		p.u.suback.packet_id = pid;
		p.u.suback.count = 1;
		p.u.suback.reason_codes = granted;
	} else {
		p.u.ack.packet_id = pid;
		p.u.ack.reason_code = rc;
	}
	return ms_send(s, &p);
}

static int ms_publish(msrv *s, const char *topic, const char *payload, uint8_t qos, uint16_t pid)
{
	rp_mqtt_packet p;

	memset(&p, 0, sizeof(p));
	p.type = RP_MQTT_PUBLISH;
	p.u.publish.qos = qos;
	p.u.publish.packet_id = pid;
	p.u.publish.topic.p = (const uint8_t *)topic;
	p.u.publish.topic.len = (uint32_t)strlen(topic);
	p.u.publish.payload.p = (const uint8_t *)payload;
	p.u.publish.payload.len = (uint32_t)strlen(payload);
	return ms_send(s, &p);
}

static int str_is(rp_mqtt_str v, const char *want)
{
	return v.len == strlen(want) && memcmp(v.p, want, v.len) == 0;
}

/* Accepts, checks the CONNECT the link sends, answers CONNACK. */
static void ms_expect_connect(msrv *s, uint8_t session_present)
{
	rp_mqtt_packet p;
	const rp_mqtt_connect *c = &p.u.connect;

	MS_CHECK(s, ms_accept(s) == 0);
	MS_CHECK(s, ms_recv(s, &p) == 0);
	MS_CHECK(s, p.type == RP_MQTT_CONNECT);
	MS_CHECK(s, c->version == RP_MQTT_V5);
	MS_CHECK(s, c->clean_start == 0); /* always resume */
	MS_CHECK(s, c->keepalive == 30);
	MS_CHECK(s, str_is(c->client_id, "dev-0001"));
	MS_CHECK(s, (c->props.present & RP_MQTT_HAS(RP_MQTT_PROP_SESSION_EXPIRY)) != 0);
	MS_CHECK(s, c->props.session_expiry == 3600);
	MS_CHECK(s, !c->will_flag && !c->has_username && !c->has_password);
	MS_CHECK(s, ms_connack(s, session_present, 0, NULL, 0) == 0);
}

/* The SUBSCRIBE of the device's command topic; answers SUBACK. */
static void ms_check_subscribe(msrv *s, const rp_mqtt_packet *p)
{
	rp_mqtt_sub_entry e;
	uint32_t cur = 0;

	MS_CHECK(s, p->type == RP_MQTT_SUBSCRIBE);
	MS_CHECK(s, p->u.subscribe.count == 1);
	MS_CHECK(s, rp_mqtt_sub_next(&p->u.subscribe, 1, &cur, &e) == 1);
	MS_CHECK(s, str_is(e.filter, "d/dev-0001/cmd/+"));
	MS_CHECK(s, e.qos == 1);
	MS_CHECK(s, e.retain_handling == 1);
	MS_CHECK(s, ms_ack(s, RP_MQTT_SUBACK, p->u.subscribe.packet_id, 0) == 0);
}

static void ms_expect_subscribe(msrv *s)
{
	rp_mqtt_packet p;

	MS_CHECK(s, ms_recv(s, &p) == 0);
	ms_check_subscribe(s, &p);
}

static void *ms_main(void *arg)
{
	msrv *s = arg;
	sigset_t pipe_set;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL); /* EPIPE here, not a signal */
	s->script(s);
	ms_close(s);
	atomic_store(&s->finished, 1);
	return NULL;
}

static void ms_start(msrv *s, script_fn script)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	X509_STORE *store = X509_STORE_new();
	const testpki_id *id = s->id != NULL ? s->id : &F.server;

	s->script = script;
	s->fd = -1;
	s->ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(s->ctx);
	assert_non_null(store);
	assert_int_equal(X509_STORE_add_cert(store, F.ca.cert), 1);
	SSL_CTX_set_cert_store(s->ctx, store);
	/* As rampartd: a fleet client certificate is required. */
	SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	assert_int_equal(SSL_CTX_use_certificate(s->ctx, id->cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(s->ctx, id->key), 1);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->lfd, 8), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&s->thread, NULL, ms_main, s), 0);
}

static void ms_finish(msrv *s)
{
	assert_int_equal(pthread_join(s->thread, NULL), 0);
	close(s->lfd);
	SSL_CTX_free(s->ctx);
	if (s->failed) {
		print_error("server script: %s\n", s->why);
	}
	assert_false(s->failed);
}

/* ==== 3. the application side ================================================ */

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
	rp_tlsc_config cfg;
	rp_tlsc_ctx *ctx = NULL;
	char err[256];

	memset(&cfg, 0, sizeof(cfg));
	cfg.ca_file = P("ca.crt");
	cfg.cert_file = P("dev-0001.crt");
	cfg.key = F.device.key;
	assert_int_equal(rp_tlsc_ctx_new(&cfg, &ctx, err, sizeof(err)), RP_OK);
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

/* ==== 4. link tests ============================================================== */

/*
 * Connect, subscribe, a command in, telemetry out (published from the
 * message callback); the server dies before the PUBACK; the link comes back
 * after a delay within [0, base], resumes the session and resends the
 * message with DUP and the same packet identifier; the PUBACK finishes it.
 */
static void script_session(msrv *s)
{
	rp_mqtt_packet p;
	int i, got_pub = 0, got_sub = 0;

	ms_expect_connect(s, 0);
	ms_expect_subscribe(s);
	MS_CHECK(s, !s->failed);
	MS_CHECK(s, ms_publish(s, "d/dev-0001/cmd/reboot", "now", 1, 7) == 0);
	/* The PUBACK of the command and the telemetry the callback publishes,
	 * in either order. */
	for (i = 0; i < 2; i++) {
		MS_CHECK(s, ms_recv(s, &p) == 0);
		if (p.type == RP_MQTT_PUBACK) {
			MS_CHECK(s, p.u.ack.packet_id == 7 && p.u.ack.reason_code == 0);
			got_sub++;
			continue;
		}
		MS_CHECK(s, p.type == RP_MQTT_PUBLISH && p.u.publish.qos == 1);
		MS_CHECK(s, str_is(p.u.publish.topic, "d/dev-0001/telemetry"));
		MS_CHECK(s, !p.u.publish.dup);
		s->pid = p.u.publish.packet_id;
		got_pub++;
	}
	MS_CHECK(s, got_pub == 1 && got_sub == 1);
	got_pub = got_sub = 0;
	ms_close(s); /* crash: no PUBACK, no DISCONNECT */

	ms_expect_connect(s, 1);
	MS_CHECK(s, !s->failed);
	for (i = 0; i < 2; i++) {
		MS_CHECK(s, ms_recv(s, &p) == 0);
		if (p.type == RP_MQTT_SUBSCRIBE) {
			ms_check_subscribe(s, &p);
			got_sub++;
			continue;
		}
		MS_CHECK(s, p.type == RP_MQTT_PUBLISH);
		MS_CHECK(s, p.u.publish.dup == 1);
		MS_CHECK(s, p.u.publish.packet_id == s->pid);
		MS_CHECK(s, str_is(p.u.publish.topic, "d/dev-0001/telemetry"));
		MS_CHECK(s,
			 p.u.publish.payload.len == 2 && !memcmp(p.u.publish.payload.p, "t1", 2));
		MS_CHECK(s, ms_ack(s, RP_MQTT_PUBACK, s->pid, 0) == 0);
		got_pub++;
	}
	MS_CHECK(s, got_pub == 1 && got_sub == 1);
	/* rp_link_free: a clean DISCONNECT (the session stays). */
	MS_CHECK(s, ms_recv(s, &p) == 0);
	MS_CHECK(s, p.type == RP_MQTT_DISCONNECT && p.u.disconnect.reason_code == 0);
}

static void test_link_session_resumed(void **state)
{
	msrv s = {0};
	app a = {.publish_on_message = 1};
	rp_link_config cfg;
	rp_tlsc_ctx *tls = device_tls();
	rp_link_stats st;

	(void)state;
	ms_start(&s, script_session);
	link_config(&cfg, tls, s.port, &a);
	assert_int_equal(rp_link_new(&cfg, &a.link), RP_OK);
	assert_int_equal(rp_link_get_state(a.link), RP_LINK_IDLE);
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
	rp_link_free(a.link);
	rp_tlsc_ctx_free(tls);
	ms_finish(&s);
}

/*
 * The server lost the session (session present 0 after a reconnect): the
 * message in flight is published again as a new message, and finished
 * once.
 */
static void script_session_lost(msrv *s)
{
	rp_mqtt_packet p;
	int i, got_pub = 0;

	ms_expect_connect(s, 0);
	ms_expect_subscribe(s);
	MS_CHECK(s, !s->failed);
	MS_CHECK(s, ms_recv(s, &p) == 0);
	MS_CHECK(s, p.type == RP_MQTT_PUBLISH && p.u.publish.qos == 1);
	ms_close(s);

	ms_expect_connect(s, 0);
	MS_CHECK(s, !s->failed);
	for (i = 0; i < 2; i++) {
		MS_CHECK(s, ms_recv(s, &p) == 0);
		if (p.type == RP_MQTT_SUBSCRIBE) {
			ms_check_subscribe(s, &p);
			continue;
		}
		MS_CHECK(s, p.type == RP_MQTT_PUBLISH);
		MS_CHECK(s, p.u.publish.dup == 0); /* a new message for this session */
		MS_CHECK(s, str_is(p.u.publish.topic, "d/dev-0001/telemetry"));
		MS_CHECK(s, ms_ack(s, RP_MQTT_PUBACK, p.u.publish.packet_id, 0x10) == 0);
		got_pub++;
	}
	MS_CHECK(s, got_pub == 1);
	MS_CHECK(s, ms_recv(s, &p) == 0);
	MS_CHECK(s, p.type == RP_MQTT_DISCONNECT);
}

static void test_link_session_lost(void **state)
{
	msrv s = {0};
	app a = {.publish_on_connect = 1};
	rp_link_config cfg;
	rp_tlsc_ctx *tls = device_tls();
	rp_link_stats st;

	(void)state;
	ms_start(&s, script_session_lost);
	link_config(&cfg, tls, s.port, &a);
	assert_int_equal(rp_link_new(&cfg, &a.link), RP_OK);
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
	rp_link_free(a.link);
	rp_tlsc_ctx_free(tls);
	ms_finish(&s);
}

/*
 * Backoff in the link: four CONNACK refusals make the attempt counter grow
 * (0, 1, 2, 3) with each delay inside its ceiling and never early; a
 * connection that stays up longer than stable_ms resets it (the next
 * failure is attempt 0 again); one that does not, does not (attempt 1).
 */
static void script_refusals(msrv *s)
{
	rp_mqtt_packet p;
	int i;

	for (i = 0; i < 4; i++) {
		MS_CHECK(s, ms_accept(s) == 0);
		MS_CHECK(s, ms_recv(s, &p) == 0 && p.type == RP_MQTT_CONNECT);
		MS_CHECK(s, ms_connack(s, 0, 0x87, "not\x01 now", 0) == 0);
		(void)ms_recv(s, &p); /* the link closes */
	}
	/* Up for 900 ms (stable_ms is 600), then dropped. */
	ms_expect_connect(s, 0);
	ms_expect_subscribe(s);
	nanosleep(&(struct timespec){.tv_nsec = 900 * 1000 * 1000}, NULL);
	ms_close(s);
	/* Up for a moment only, then dropped. */
	ms_expect_connect(s, 1);
	ms_expect_subscribe(s);
	ms_close(s);
}

static void test_link_backoff_attempts(void **state)
{
	msrv s = {0};
	app a = {0};
	rp_link_config cfg;
	rp_tlsc_ctx *tls = device_tls();
	int i;

	(void)state;
	ms_start(&s, script_refusals);
	link_config(&cfg, tls, s.port, &a);
	cfg.backoff.base_ms = 20;
	cfg.backoff.cap_ms = 80;
	cfg.backoff.stable_ms = 600;
	assert_int_equal(rp_link_new(&cfg, &a.link), RP_OK);
	assert_true(run_until(a.link, &a.disconnected, 6, 10000));
	for (i = 0; i < 4; i++) {
		uint32_t ceiling = rp_link_backoff_ceiling(&cfg.backoff, (uint32_t)i);

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
	rp_link_free(a.link);
	rp_tlsc_ctx_free(tls);
	ms_finish(&s);
}

/* Nothing listens: attempts grow, delays stay inside the ceiling. */
static void test_link_no_server(void **state)
{
	struct sockaddr_in sa;
	socklen_t alen = sizeof(sa);
	app a = {0};
	rp_link_config cfg;
	rp_tlsc_ctx *tls = device_tls();
	rp_link_stats st;
	int fd, i;

	(void)state;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &alen), 0);
	close(fd);
	link_config(&cfg, tls, ntohs(sa.sin_port), &a);
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
static void script_handshakes(msrv *s)
{
	(void)ms_accept(s); /* fails */
}

static void refused(const testpki_id *server_id, const char *name, const char *needle)
{
	msrv s = {.id = server_id};
	app a = {0};
	rp_link_config cfg;
	rp_tlsc_ctx *tls = device_tls();
	rp_link_stats st;

	ms_start(&s, script_handshakes);
	link_config(&cfg, tls, s.port, &a);
	cfg.server_name = name;
	cfg.backoff.base_ms = 5000; /* one attempt in this test */
	cfg.backoff.cap_ms = 5000;
	assert_int_equal(rp_link_new(&cfg, &a.link), RP_OK);
	assert_true(run_until(a.link, &a.disconnected, 1, 5000));
	ms_finish(&s);
	assert_int_equal(a.status[0], RP_E_AUTH);
	if (strstr(a.why[0], needle) == NULL) {
		print_error("why: \"%s\", expected \"%s\"\n", a.why[0], needle);
		fail();
	}
	assert_int_equal(a.connected, 0);
	assert_int_equal(atomic_load(&s.handshakes_failed), 1);
	assert_int_equal(atomic_load(&s.mqtt_bytes), 0);
	assert_int_equal(rp_link_get_stats(a.link, &st), RP_OK);
	assert_int_equal(st.bytes_out, 0); /* not one MQTT byte left the device */
	assert_int_equal(rp_link_get_state(a.link), RP_LINK_WAITING);
	rp_link_free(a.link);
	rp_tlsc_ctx_free(tls);
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
static void script_silent(msrv *s)
{
	rp_mqtt_packet p;

	MS_CHECK(s, ms_accept(s) == 0);
	MS_CHECK(s, ms_recv(s, &p) == 0 && p.type == RP_MQTT_CONNECT);
	MS_CHECK(s, ms_connack(s, 0, 0, NULL, 1) == 0); /* Server Keep Alive: 1 s */
	ms_expect_subscribe(s);
	MS_CHECK(s, ms_recv(s, &p) == 0);
	MS_CHECK(s, p.type == RP_MQTT_PINGREQ);
	(void)ms_recv(s, &p); /* no PINGRESP; wait for the link to go */
}

static void test_link_keepalive_timeout(void **state)
{
	msrv s = {0};
	app a = {0};
	rp_link_config cfg;
	rp_tlsc_ctx *tls = device_tls();

	(void)state;
	ms_start(&s, script_silent);
	link_config(&cfg, tls, s.port, &a);
	cfg.connect_timeout_ms = 1000; /* also the PINGRESP timeout */
	cfg.backoff.base_ms = 5000;
	cfg.backoff.cap_ms = 5000;
	assert_int_equal(rp_link_new(&cfg, &a.link), RP_OK);
	assert_true(run_until(a.link, &a.disconnected, 1, 5000));
	assert_int_equal(a.connected, 1);
	assert_int_equal(a.status[0], RP_E_TIMEOUT);
	assert_non_null(strstr(a.why[0], "presumed dead"));
	rp_link_free(a.link);
	rp_tlsc_ctx_free(tls);
	ms_finish(&s);
}

/* rp_link_wants() with an application's own poll(): the same work gets done. */
static void script_external(msrv *s)
{
	rp_mqtt_packet p;

	ms_expect_connect(s, 0);
	ms_expect_subscribe(s);
	MS_CHECK(s, ms_recv(s, &p) == 0);
	MS_CHECK(s, p.type == RP_MQTT_PUBLISH && p.u.publish.qos == 1);
	MS_CHECK(s, ms_ack(s, RP_MQTT_PUBACK, p.u.publish.packet_id, 0x87) == 0);
	MS_CHECK(s, ms_recv(s, &p) == 0 && p.type == RP_MQTT_DISCONNECT);
}

static void test_link_external_loop(void **state)
{
	msrv s = {0};
	app a = {.publish_on_connect = 1};
	rp_link_config cfg;
	rp_tlsc_ctx *tls = device_tls();
	uint64_t end;

	(void)state;
	ms_start(&s, script_external);
	link_config(&cfg, tls, s.port, &a);
	assert_int_equal(rp_link_new(&cfg, &a.link), RP_OK);
	end = now_ms() + 5000;
	while (a.done_calls == 0 && now_ms() < end) {
		struct pollfd pfd;
		int t = -1;

		assert_int_equal(rp_link_wants(a.link, &pfd, &t), RP_OK);
		assert_true(pfd.fd >= -1);
		if (t < 0 || t > 100) {
			t = 100;
		}
		assert_true(poll(&pfd, pfd.fd >= 0 ? 1 : 0, t) >= 0);
		assert_int_equal(rp_link_run(a.link, 0), RP_OK);
	}
	assert_int_equal(a.done_calls, 1);
	/* The server refused the message: 0x87 reaches the application. */
	assert_int_equal(a.done_st, RP_E_DENIED);
	assert_int_equal(a.done_rc, 0x87);
	rp_link_free(a.link);
	rp_tlsc_ctx_free(tls);
	ms_finish(&s);
}

/* A message still in flight when the link is freed: done with RP_E_CLOSED. */
static void script_no_ack(msrv *s)
{
	rp_mqtt_packet p;

	ms_expect_connect(s, 0);
	ms_expect_subscribe(s);
	MS_CHECK(s, ms_recv(s, &p) == 0 && p.type == RP_MQTT_PUBLISH);
	MS_CHECK(s, ms_recv(s, &p) == 0 && p.type == RP_MQTT_DISCONNECT);
}

static void test_link_free_in_flight(void **state)
{
	msrv s = {0};
	app a = {.publish_on_connect = 1};
	rp_link_config cfg;
	rp_tlsc_ctx *tls = device_tls();
	rp_link_stats st;

	(void)state;
	ms_start(&s, script_no_ack);
	link_config(&cfg, tls, s.port, &a);
	assert_int_equal(rp_link_new(&cfg, &a.link), RP_OK);
	assert_true(run_until(a.link, &a.subscribed, 1, 5000));
	run_for(a.link, 50);
	assert_int_equal(a.publish_st, RP_OK);
	assert_int_equal(rp_link_get_stats(a.link, &st), RP_OK);
	assert_int_equal(st.inflight, 1);
	assert_int_equal(a.done_calls, 0);
	rp_link_free(a.link);
	assert_int_equal(a.done_calls, 1);
	assert_int_equal(a.done_st, RP_E_CLOSED);
	rp_tlsc_ctx_free(tls);
	ms_finish(&s);
}

/* A server that breaks MQTT: the link closes with the reason, sends its
 * DISCONNECT (0x82), and says why. */
static void script_violation(msrv *s)
{
	rp_mqtt_packet p;

	ms_expect_connect(s, 0);
	ms_expect_subscribe(s);
	MS_CHECK(s, ms_ack(s, RP_MQTT_PUBACK, 999, 0) == 0); /* nothing in flight */
	MS_CHECK(s, ms_recv(s, &p) == 0);
	MS_CHECK(s, p.type == RP_MQTT_DISCONNECT && p.u.disconnect.reason_code == 0x82);
}

static void test_link_protocol_violation(void **state)
{
	msrv s = {0};
	app a = {0};
	rp_link_config cfg;
	rp_tlsc_ctx *tls = device_tls();

	(void)state;
	ms_start(&s, script_violation);
	link_config(&cfg, tls, s.port, &a);
	cfg.backoff.base_ms = 5000;
	cfg.backoff.cap_ms = 5000;
	assert_int_equal(rp_link_new(&cfg, &a.link), RP_OK);
	assert_true(run_until(a.link, &a.disconnected, 1, 5000));
	assert_int_equal(a.status[0], RP_E_PROTOCOL);
	if (strstr(a.why[0], "server broke the MQTT protocol") == NULL ||
	    strstr(a.why[0], "DISCONNECT 0x82 sent") == NULL) {
		print_error("why: %s\n", a.why[0]);
		fail();
	}
	ms_finish(&s);
	rp_link_free(a.link);
	rp_tlsc_ctx_free(tls);
}

/* QoS 0 with a done callback: called once its bytes went to TLS. */
static void script_qos0(msrv *s)
{
	rp_mqtt_packet p;

	ms_expect_connect(s, 0);
	ms_expect_subscribe(s);
	MS_CHECK(s, ms_recv(s, &p) == 0);
	MS_CHECK(s, p.type == RP_MQTT_PUBLISH && p.u.publish.qos == 0);
	MS_CHECK(s, str_is(p.u.publish.topic, "d/dev-0001/telemetry"));
	MS_CHECK(s, ms_recv(s, &p) == 0 && p.type == RP_MQTT_DISCONNECT);
}

static void test_link_qos0_done(void **state)
{
	msrv s = {0};
	app a = {.publish_on_connect = 1, .publish_qos0 = 1};
	rp_link_config cfg;
	rp_tlsc_ctx *tls = device_tls();

	(void)state;
	ms_start(&s, script_qos0);
	link_config(&cfg, tls, s.port, &a);
	assert_int_equal(rp_link_new(&cfg, &a.link), RP_OK);
	assert_true(run_until(a.link, &a.done_calls, 1, 5000));
	assert_int_equal(a.publish_st, RP_OK);
	assert_int_equal(a.done_st, RP_OK);
	run_for(a.link, 30);
	assert_int_equal(a.done_calls, 1);
	rp_link_free(a.link);
	assert_int_equal(a.done_calls, 1); /* not again at free */
	rp_tlsc_ctx_free(tls);
	ms_finish(&s);
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
