/*
 * link.c - the device's connection manager (rampart/link.h).
 *
 * Implementation notes
 *
 * State
 * - phase: IDLE (never tried), TLS (TCP connect and handshake, under the
 *   connect deadline), MQTT (the rp_mqttc owns the protocol: CONNECTING
 *   until CONNACK, under its own response timeout, then CONNECTED), WAITING
 *   (no connection; the next attempt at next_attempt).
 * - The rp_mqttc, its slots (max_inflight + 1: one is always left for the
 *   SUBSCRIBE), the output buffer and the receive buffer (both max_packet)
 *   live as long as the link. rp_mqttc_reset() after each connection keeps
 *   the session: QoS 1/2 messages in flight are resent on resumption.
 * - q0: QoS 0 messages published with a done callback, in order, until
 *   their bytes have all been handed to TLS (or the connection is gone).
 * - msgs: the link's copies of QoS 1/2 messages (topic + payload), which
 *   the rp_mqttc points into, from rp_link_publish() until the message's
 *   PUBLISH_DONE. A message the server lost (PUBLISH_LOST: the session was
 *   not resumed) is marked REQUEUE and published again, in its original
 *   order, right after the CONNACK.
 * - attempt: failures since the last connection that stayed up stable_ms;
 *   the next delay is drawn from [0, ceiling(attempt)].
 *
 * Invariants
 * - Exactly one of: phase TLS or MQTT with conn set, or conn NULL.
 * - link_fail() is the only way out of TLS and MQTT, and it is never
 *   called from inside an rp_mqttc callback (on_mq only records what
 *   happened; the pass that called rp_mqttc_input acts on it).
 * - Every message accepted by rp_link_publish with a done callback gets
 *   exactly one call: QoS 1/2 on PUBLISH_DONE, on a failure to publish it
 *   again, or from rp_link_free(); QoS 0 when its bytes went to TLS, or
 *   when the connection ended first (link_fail, rp_link_free).
 *
 * Attacker: the server is authenticated by TLS before any MQTT byte is
 * sent, but its MQTT is still checked by rp_mqttc (a compromised server is
 * in the attacker model of mqtt_client.h). Text from the server (reason
 * strings) is reduced to printable ASCII before it reaches the operator.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "rampart/limits.h"
#include "rampart/link.h"
#include "rampart/mqtt_client.h"

#define WHY_MAX     320u
#define MIN_PACKET  1024u
#define MAX_ROUNDS  64 /* read/feed/flush passes per step: no starving the caller */
#define SERVER_TEXT 96u
/* TCP + TLS, and then CONNACK (and each PINGRESP): 15 s each. */
#define DEFAULT_CONNECT_TIMEOUT_MS 15000u

enum { PH_IDLE, PH_TLS, PH_MQTT, PH_WAITING };
enum { M_FREE, M_INFLIGHT, M_REQUEUE };

struct msg {
	uint8_t *data; /* topic, then payload */
	size_t topic_len;
	size_t payload_len;
	uint64_t seq;
	rp_link_done_fn done;
	void *done_ctx;
	uint16_t packet_id;
	uint8_t qos;
	uint8_t retain;
	uint8_t state;
};

/*
 * A QoS 0 message waiting to be handed to TLS: done when bytes_out reaches
 * mark. The mark is set at the first flush after the publish (the output
 * cannot be asked for inside an MQTT client callback), to everything then
 * waiting: later than the message's own last byte, never earlier.
 */
struct q0 {
	uint64_t mark; /* UINT64_MAX: not set yet */
	rp_link_done_fn done;
	void *done_ctx;
};

struct rp_link {
	rp_link_config cfg; /* its strings point to the copies below */
	char *host;
	char *server_name;
	char *client_id;
	char **topics;
	rp_mqtt_sub_entry *subs;
	size_t ntopics;

	int phase;
	rp_tlsc *conn;
	uint64_t now;
	uint64_t deadline;      /* TLS: end of the TCP connect and handshake */
	uint64_t next_attempt;  /* WAITING */
	uint64_t up_since;      /* CONNACK time */
	uint64_t mqtt_deadline; /* from rp_mqttc_tick */
	uint32_t attempt;
	int up;           /* a CONNACK was accepted on this connection */
	int in_callback;  /* inside rp_link_run or rp_link_free */
	int tx_blocked;   /* the last write waits for the socket */
	int out_pending;  /* rp_link_publish queued output since the last flush */
	int announce;     /* a CONNACK was accepted during the last input */
	int subscribe;    /* the SUBSCRIBE is still to be queued */
	int requeue;      /* messages marked M_REQUEUE wait */
	uint16_t sub_pid; /* the SUBSCRIBE waiting for its SUBACK, or 0 */
	uint8_t session_present;
	rp_status rd_error; /* a read failed; acted on after the input */
	rp_status close_st; /* set by on_mq: why rp_mqttc closed */
	char close_why[WHY_MAX];

	rp_mqttc mq;
	rp_mqttc_slot *slots;
	uint16_t *rx_ids;
	uint8_t *tx;
	uint8_t *rx;
	size_t cap; /* tx and rx: max_packet each */
	size_t rx_len;

	struct msg *msgs;
	uint16_t nmsgs;
	uint64_t seq;
	struct q0 *q0; /* a ring of nmsgs entries */
	uint16_t q0_head;
	uint16_t q0_count;

	rp_link_stats stats;
	char why[WHY_MAX];
};

/* ---- small helpers ---------------------------------------------------------- */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static char *dup_str(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);

	if (d != NULL) {
		memcpy(d, s, n);
	}
	return d;
}

/* Text from the server, made safe for a log line: printable ASCII only. */
static void server_text(char *out, size_t cap, const rp_mqtt_props *p)
{
	size_t i, n;

	out[0] = '\0';
	if (p == NULL || !(p->present & RP_MQTT_HAS(RP_MQTT_PROP_REASON_STRING)) ||
	    p->reason_string.len == 0) {
		return;
	}
	n = p->reason_string.len < cap - 1 ? p->reason_string.len : cap - 1;
	for (i = 0; i < n; i++) {
		uint8_t ch = p->reason_string.p[i];

		out[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	out[n] = '\0';
}

static const char *reason_name(uint8_t rc)
{
	switch (rc) {
	case RP_MQTT_RC_SUCCESS:
		return "normal";
	case RP_MQTT_RC_UNSPECIFIED:
		return "unspecified error";
	case RP_MQTT_RC_MALFORMED:
		return "malformed packet";
	case RP_MQTT_RC_PROTOCOL_ERROR:
		return "protocol error";
	case RP_MQTT_RC_IMPL_SPECIFIC:
		return "implementation specific error";
	case RP_MQTT_RC_UNSUPPORTED_VERSION:
		return "unsupported protocol version";
	case RP_MQTT_RC_CLIENT_ID_INVALID:
		return "client identifier not valid (it must be the certificate's CN)";
	case RP_MQTT_RC_BAD_USER_OR_PASSWORD:
		return "bad user name or password";
	case RP_MQTT_RC_NOT_AUTHORIZED:
		return "not authorized";
	case RP_MQTT_RC_SERVER_UNAVAILABLE:
		return "server unavailable";
	case RP_MQTT_RC_SERVER_BUSY:
		return "server busy";
	case RP_MQTT_RC_BANNED:
		return "banned (device revoked?)";
	case RP_MQTT_RC_SERVER_SHUTTING_DOWN:
		return "server shutting down";
	case RP_MQTT_RC_KEEPALIVE_TIMEOUT:
		return "keep alive timeout";
	case RP_MQTT_RC_SESSION_TAKEN_OVER:
		return "session taken over (another connection with this identity)";
	case RP_MQTT_RC_PACKET_TOO_LARGE:
		return "packet too large";
	case RP_MQTT_RC_MESSAGE_RATE_TOO_HIGH:
		return "message rate too high";
	case RP_MQTT_RC_QUOTA_EXCEEDED:
		return "quota exceeded";
	case RP_MQTT_RC_ADMINISTRATIVE_ACTION:
		return "administrative action";
	case RP_MQTT_RC_USE_ANOTHER_SERVER:
		return "use another server";
	case RP_MQTT_RC_SERVER_MOVED:
		return "server moved";
	case RP_MQTT_RC_CONNECTION_RATE_EXCEEDED:
		return "connection rate exceeded";
	case RP_MQTT_RC_MAX_CONNECT_TIME:
		return "maximum connect time";
	default:
		return "reason code";
	}
}

/* "0x87 not authorized" and the server's reason string, if any. */
static void describe_reason(char *out, size_t cap, const char *what, uint8_t rc,
			    const rp_mqtt_props *p)
{
	char text[SERVER_TEXT];

	server_text(text, sizeof(text), p);
	(void)snprintf(out, cap, "%s: 0x%02X %s%s%s%s", what, rc, reason_name(rc),
		       text[0] != '\0' ? " (server says \"" : "", text,
		       text[0] != '\0' ? "\")" : "");
}

static void emit(rp_link *l, const rp_link_event *ev)
{
	if (l->cfg.on_event != NULL) {
		l->cfg.on_event(l->cfg.ctx, ev);
	}
}

/* ---- messages ------------------------------------------------------------------ */

static struct msg *msg_by_pid(rp_link *l, uint16_t pid)
{
	uint16_t i;

	for (i = 0; i < l->nmsgs; i++) {
		if (l->msgs[i].state == M_INFLIGHT && l->msgs[i].packet_id == pid) {
			return &l->msgs[i];
		}
	}
	return NULL;
}

/* The message is over: its one done callback, then the slot is free. */
static void msg_finish(rp_link *l, struct msg *m, rp_status st, uint8_t rc)
{
	rp_link_done_fn done = m->done;
	void *ctx = m->done_ctx;

	free(m->data);
	memset(m, 0, sizeof(*m));
	m->state = M_FREE;
	if (st == RP_OK) {
		l->stats.acked++;
	}
	if (l->stats.inflight > 0) {
		l->stats.inflight--;
	}
	if (done != NULL) {
		done(ctx, st, rc);
	}
}

/* QoS 0: the oldest waiting messages whose bytes all went to TLS are done
 * (RP_OK); with `lost` (the connection is gone), all of them are
 * (RP_E_CLOSED). */
static void q0_complete(rp_link *l, int lost)
{
	while (l->q0_count > 0) {
		struct q0 e = l->q0[l->q0_head];

		if (!lost && e.mark > l->stats.bytes_out) {
			return;
		}
		l->q0_head = (uint16_t)((l->q0_head + 1u) % l->nmsgs);
		l->q0_count--;
		e.done(e.done_ctx, lost ? RP_E_CLOSED : RP_OK, 0);
	}
}

/* Sets the marks still unset, now that `waiting` bytes wait to be sent. */
static void q0_mark(rp_link *l, size_t waiting)
{
	uint16_t i;

	for (i = 0; i < l->q0_count; i++) {
		struct q0 *e = &l->q0[(l->q0_head + i) % l->nmsgs];

		if (e->mark == UINT64_MAX) {
			e->mark = l->stats.bytes_out + waiting;
		}
	}
}

static rp_mqttc_message msg_view(const struct msg *m)
{
	rp_mqttc_message mm;

	memset(&mm, 0, sizeof(mm));
	mm.topic.p = m->data;
	mm.topic.len = (uint32_t)m->topic_len;
	mm.payload.p = m->payload_len != 0 ? m->data + m->topic_len : NULL;
	mm.payload.len = (uint32_t)m->payload_len;
	mm.qos = m->qos;
	mm.retain = m->retain;
	return mm;
}

/*
 * Publishes again, oldest first, the messages the server lost. Stops at
 * the first RP_E_BUSY (l->requeue stays set); a message that can no longer
 * be published at all is finished with the reason.
 */
static void requeue_lost(rp_link *l)
{
	for (;;) {
		struct msg *first = NULL;
		rp_mqttc_message mm;
		uint16_t i, pid = 0;
		rp_status st;

		for (i = 0; i < l->nmsgs; i++) {
			if (l->msgs[i].state == M_REQUEUE &&
			    (first == NULL || l->msgs[i].seq < first->seq)) {
				first = &l->msgs[i];
			}
		}
		if (first == NULL) {
			l->requeue = 0;
			return;
		}
		mm = msg_view(first);
		st = rp_mqttc_publish(&l->mq, &mm, &pid);
		if (st == RP_E_BUSY || st == RP_E_STATE) {
			l->requeue = 1;
			return;
		}
		if (st != RP_OK) {
			msg_finish(l, first, st, 0);
			continue;
		}
		first->packet_id = pid;
		first->state = M_INFLIGHT;
		l->stats.republished++;
	}
}

/* ---- events from the MQTT client (record only: see the invariants) ---------------- */

static uint8_t on_mq(void *ctx, const rp_mqttc_event *ev)
{
	rp_link *l = ctx;
	rp_link_message m;
	struct msg *mine;

	switch (ev->type) {
	case RP_MQTTC_EV_CONNACK:
		if (ev->reason_code == 0) {
			l->announce = 1;
			l->session_present = ev->session_present;
		} else {
			l->close_st = RP_E_DENIED;
			describe_reason(l->close_why, sizeof(l->close_why),
					"server refused the connection", ev->reason_code,
					ev->pkt != NULL ? &ev->pkt->u.connack.props : NULL);
		}
		return 0;
	case RP_MQTTC_EV_PUBLISH:
		l->stats.received++;
		if (l->cfg.on_message == NULL) {
			return 0;
		}
		memset(&m, 0, sizeof(m));
		m.topic = (const char *)ev->topic.p;
		m.topic_len = ev->topic.len;
		m.payload = ev->payload.p;
		m.payload_len = ev->payload.len;
		m.qos = ev->qos;
		m.retain = ev->retain;
		m.dup = ev->dup;
		m.props = ev->pkt != NULL ? &ev->pkt->u.publish.props : NULL;
		return l->cfg.on_message(l->cfg.ctx, &m);
	case RP_MQTTC_EV_PUBLISH_DONE:
		mine = msg_by_pid(l, ev->packet_id);
		if (mine != NULL) {
			msg_finish(l, mine, ev->reason_code >= 0x80 ? RP_E_DENIED : RP_OK,
				   ev->reason_code);
		}
		return 0;
	case RP_MQTTC_EV_PUBLISH_LOST:
		mine = msg_by_pid(l, ev->packet_id);
		if (mine != NULL) {
			mine->state = M_REQUEUE;
			mine->packet_id = 0;
			l->requeue = 1;
		}
		return 0;
	case RP_MQTTC_EV_SUBACK:
		if (ev->packet_id == l->sub_pid && l->sub_pid != 0) {
			rp_link_event le;

			l->sub_pid = 0;
			memset(&le, 0, sizeof(le));
			le.type = RP_LINK_EV_SUBSCRIBED;
			le.count = ev->count;
			le.reason_codes = ev->reason_codes;
			le.why = "";
			emit(l, &le);
		}
		return 0;
	case RP_MQTTC_EV_DISCONNECT:
		l->close_st = RP_E_CLOSED;
		describe_reason(l->close_why, sizeof(l->close_why), "server disconnected",
				ev->reason_code,
				ev->pkt != NULL ? &ev->pkt->u.disconnect.props : NULL);
		return 0;
	default:
		return 0;
	}
}

/* ---- connection life ---------------------------------------------------------------- */

static uint32_t random32(void)
{
	uint32_t r;

	/* Without randomness, wait the longest: never synchronise a fleet on
	 * a short delay. */
	if (RAND_bytes((unsigned char *)&r, (int)sizeof(r)) != 1) {
		return UINT32_MAX;
	}
	return r;
}

/*
 * The connection (or attempt) is over: close it, keep the session, draw
 * the delay, tell the application. The only way out of TLS and MQTT.
 */
static void link_fail(rp_link *l, rp_status st, const char *why)
{
	rp_link_event ev;
	uint32_t delay;

	(void)snprintf(l->why, sizeof(l->why), "%s", why);
	rp_tlsc_close(l->conn);
	l->conn = NULL;
	(void)rp_mqttc_reset(&l->mq); /* QoS 0 output not yet sent is gone */
	l->rx_len = 0;
	l->tx_blocked = 0;
	l->out_pending = 0;
	l->announce = 0;
	l->subscribe = 0;
	l->sub_pid = 0;
	l->rd_error = RP_OK;
	l->close_st = RP_OK;
	l->close_why[0] = '\0';
	if (l->up && l->now - l->up_since >= l->cfg.backoff.stable_ms) {
		l->attempt = 0;
	}
	l->up = 0;
	delay = rp_link_backoff_delay(&l->cfg.backoff, l->attempt, random32());
	memset(&ev, 0, sizeof(ev));
	ev.type = RP_LINK_EV_DISCONNECTED;
	ev.status = st;
	ev.why = l->why;
	ev.retry_in_ms = delay;
	ev.attempt = l->attempt;
	if (l->attempt < RP_LINK_BACKOFF_MAX_ATTEMPT) {
		l->attempt++;
	}
	l->next_attempt = l->now + delay;
	l->phase = PH_WAITING;
	l->stats.failures++;
	q0_complete(l, 1);
	emit(l, &ev);
}

/*
 * The TLS connection failed under MQTT. Under TLS 1.3 the server judges
 * the device's certificate after the client has finished its handshake
 * and sent its CONNECT: its alert and close may then reach the device as a
 * bare reset, the alert lost. A connection that ends before any answer to
 * the CONNECT says so, for the operator.
 */
static void conn_fail(rp_link *l, rp_status st)
{
	char why[WHY_MAX];

	if (st != RP_E_DENIED && !l->up && rp_mqttc_get_state(&l->mq) == RP_MQTTC_CONNECTING) {
		(void)snprintf(why, sizeof(why),
			       "%.160s; closed before any answer to CONNECT: the server may "
			       "have refused the client certificate",
			       rp_tlsc_error(l->conn));
		link_fail(l, st, why);
		return;
	}
	link_fail(l, st, rp_tlsc_error(l->conn));
}

/*
 * The last output of a connection that is ending (a DISCONNECT), as far as
 * the socket takes it now: no waiting, and a failure changes nothing.
 */
static void drain_quietly(rp_link *l)
{
	const uint8_t *out = NULL;
	size_t n = 0, w = 0;

	while (l->conn != NULL && rp_mqttc_output(&l->mq, &out, &n) == RP_OK && n != 0 &&
	       rp_tlsc_write(l->conn, out, n, &w) == RP_OK) {
		q0_mark(l, n);
		(void)rp_mqttc_consumed(&l->mq, w);
		l->stats.bytes_out += w;
		q0_complete(l, 0);
	}
}

/* Sends what the client has to send, as far as the socket takes it. */
static rp_status flush(rp_link *l, int *progress)
{
	for (;;) {
		const uint8_t *out = NULL;
		size_t n = 0, w = 0;
		rp_status st;

		if (rp_mqttc_output(&l->mq, &out, &n) != RP_OK || n == 0) {
			l->tx_blocked = 0;
			l->out_pending = 0;
			q0_mark(l, 0);
			q0_complete(l, 0);
			return RP_OK;
		}
		q0_mark(l, n);
		st = rp_tlsc_write(l->conn, out, n, &w);
		if (st == RP_NEED_MORE) {
			l->tx_blocked = 1;
			l->out_pending = 0;
			return RP_OK;
		}
		if (st != RP_OK) {
			conn_fail(l, st);
			return st;
		}
		(void)rp_mqttc_consumed(&l->mq, w);
		l->stats.bytes_out += w;
		*progress = 1;
		q0_complete(l, 0);
	}
}

static void read_some(rp_link *l, int *progress)
{
	size_t n = 0;
	rp_status st;

	if (l->rd_error != RP_OK || l->rx_len >= l->cap) {
		return;
	}
	st = rp_tlsc_read(l->conn, l->rx + l->rx_len, l->cap - l->rx_len, &n);
	if (st == RP_OK) {
		l->rx_len += n;
		l->stats.bytes_in += n;
		*progress = 1;
	} else if (st != RP_NEED_MORE) {
		l->rd_error = st; /* after the bytes already read are handled */
	}
}

static void feed(rp_link *l, int *progress)
{
	while (l->rx_len > 0 && rp_mqttc_get_state(&l->mq) != RP_MQTTC_CLOSED) {
		size_t used = 0;
		rp_status st;

		st = rp_mqttc_input(&l->mq, l->rx, l->rx_len, l->now, &used, on_mq, l);
		if (used > 0) {
			memmove(l->rx, l->rx + used, l->rx_len - used);
			l->rx_len -= used;
			*progress = 1;
		}
		if (st != RP_OK || used == 0) {
			/* NEED_MORE: wait for bytes; BUSY: flush first; anything
			 * else closed the client, handled by after_input. */
			return;
		}
	}
}

static void subscribe_now(rp_link *l)
{
	rp_link_event ev;
	uint16_t pid = 0;
	rp_status st;

	st = rp_mqttc_subscribe(&l->mq, l->subs, (uint16_t)l->ntopics, NULL, &pid);
	if (st == RP_E_BUSY) {
		return; /* again after the next flush */
	}
	l->subscribe = 0;
	if (st == RP_OK) {
		l->sub_pid = pid;
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.type = RP_LINK_EV_SUBSCRIBED;
	ev.status = st;
	ev.why = "the SUBSCRIBE could not be sent";
	emit(l, &ev);
}

/* Acts on what the input did. Returns RP_OK while the connection lives. */
static rp_status after_input(rp_link *l)
{
	char why[WHY_MAX];

	if (rp_mqttc_get_state(&l->mq) == RP_MQTTC_CLOSED) {
		rp_status st = rp_mqttc_error(&l->mq);

		if (l->close_st != RP_OK) {
			st = l->close_st;
			(void)snprintf(why, sizeof(why), "%s", l->close_why);
		} else if (st == RP_E_TIMEOUT) {
			(void)snprintf(why, sizeof(why), "%s",
				       l->up ? "no answer from the server within the response "
					       "timeout: connection presumed dead"
					     : "no CONNACK from the server in time");
		} else {
			(void)snprintf(
				why, sizeof(why),
				"server broke the MQTT protocol (%s); DISCONNECT 0x%02X sent",
				rp_status_str(st), rp_mqttc_reason(&l->mq));
			if (st == RP_OK) {
				st = RP_E_PROTOCOL;
			}
		}
		drain_quietly(l); /* our DISCONNECT, if any */
		link_fail(l, st, why);
		return st;
	}
	if (l->rd_error != RP_OK) {
		rp_status st = l->rd_error;

		conn_fail(l, st);
		return st;
	}
	if (l->announce) {
		rp_link_event ev;

		l->announce = 0;
		l->up = 1;
		l->up_since = l->now;
		l->stats.connects++;
		if (l->session_present) {
			l->stats.resumed++;
		}
		l->subscribe = 1;
		l->requeue = 1;
		requeue_lost(l);
		subscribe_now(l);
		memset(&ev, 0, sizeof(ev));
		ev.type = RP_LINK_EV_CONNECTED;
		ev.session_present = l->session_present;
		ev.why = "";
		emit(l, &ev);
		return RP_OK;
	}
	if (rp_mqttc_get_state(&l->mq) == RP_MQTTC_CONNECTED) {
		if (l->requeue) {
			requeue_lost(l);
		}
		if (l->subscribe) {
			subscribe_now(l);
		}
	}
	return RP_OK;
}

static rp_status tick(rp_link *l)
{
	uint64_t next = RP_MQTTC_NO_DEADLINE;
	rp_status st = rp_mqttc_tick(&l->mq, l->now, &next);

	l->mqtt_deadline = next;
	if (st == RP_E_TIMEOUT) {
		link_fail(l, st,
			  l->up ? "no answer from the server within the response timeout "
				  "(keep alive): connection presumed dead"
				: "no CONNACK from the server in time");
	}
	return st;
}

/* PH_MQTT: everything that can be done now without waiting. */
static void mqtt_step(rp_link *l)
{
	int rounds;

	if (tick(l) != RP_OK) {
		return;
	}
	for (rounds = 0; rounds < MAX_ROUNDS; rounds++) {
		int progress = 0;

		if (flush(l, &progress) != RP_OK) {
			return;
		}
		read_some(l, &progress);
		feed(l, &progress);
		if (after_input(l) != RP_OK) {
			return;
		}
		if (!progress) {
			break;
		}
	}
	/* The callbacks may have published: send it, and learn the deadline. */
	if (tick(l) == RP_OK) {
		int progress = 0;

		(void)flush(l, &progress);
	}
}

static void mqtt_begin(rp_link *l)
{
	rp_mqtt_connect c;
	char why[WHY_MAX];
	rp_status st;

	memset(&c, 0, sizeof(c));
	c.version = RP_MQTT_V5;
	c.clean_start = 0; /* resume the session: QoS 1 survives reconnects */
	c.keepalive = l->cfg.keepalive_s;
	c.client_id.p = (const uint8_t *)l->client_id;
	c.client_id.len = (uint32_t)strlen(l->client_id);
	c.props.present = RP_MQTT_HAS(RP_MQTT_PROP_SESSION_EXPIRY);
	c.props.session_expiry = l->cfg.session_expiry_s;
	st = rp_mqttc_connect(&l->mq, &c, l->now);
	if (st != RP_OK) {
		(void)snprintf(why, sizeof(why), "cannot build the CONNECT: %s", rp_status_str(st));
		link_fail(l, st, why);
		return;
	}
	l->phase = PH_MQTT;
	mqtt_step(l);
}

static void tls_step(rp_link *l)
{
	char why[WHY_MAX];
	rp_status st;

	if (l->now >= l->deadline) {
		(void)snprintf(
			why, sizeof(why),
			"TCP connect and TLS handshake with %s:%u did not finish within %u ms",
			l->host, (unsigned)l->cfg.port, l->cfg.connect_timeout_ms);
		link_fail(l, RP_E_TIMEOUT, why);
		return;
	}
	st = rp_tlsc_handshake(l->conn);
	if (st == RP_NEED_MORE) {
		return;
	}
	if (st != RP_OK) {
		link_fail(l, st, rp_tlsc_error(l->conn));
		return;
	}
	mqtt_begin(l);
}

static void attempt_start(rp_link *l)
{
	char why[RP_TLSC_ERROR_MAX];
	rp_status st;

	l->stats.attempts++;
	st = rp_tlsc_start(l->cfg.tls, l->host, l->cfg.port, l->server_name, &l->conn, why,
			   sizeof(why));
	if (st != RP_OK) {
		link_fail(l, st, why);
		return;
	}
	l->phase = PH_TLS;
	l->deadline = l->now + l->cfg.connect_timeout_ms;
	tls_step(l);
}

/* Everything that is due now. */
static void advance(rp_link *l)
{
	l->now = mono_ms();
	switch (l->phase) {
	case PH_IDLE:
		attempt_start(l);
		break;
	case PH_WAITING:
		if (l->now >= l->next_attempt) {
			attempt_start(l);
		}
		break;
	case PH_TLS:
		tls_step(l);
		break;
	case PH_MQTT:
		mqtt_step(l);
		break;
	default:
		break;
	}
}

/* ---- public ------------------------------------------------------------------------------ */

void rp_link_config_default(rp_link_config *cfg)
{
	if (cfg == NULL) {
		return;
	}
	memset(cfg, 0, sizeof(*cfg));
	cfg->sub_qos = 1;
	cfg->keepalive_s = 60;
	cfg->session_expiry_s = 86400;
	cfg->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
	cfg->max_packet = 64u * 1024u;
	cfg->max_inflight = 16;
	cfg->backoff.base_ms = RP_LINK_BACKOFF_BASE_MS;
	cfg->backoff.cap_ms = RP_LINK_BACKOFF_CAP_MS;
	cfg->backoff.stable_ms = RP_LINK_BACKOFF_STABLE_MS;
}

static int client_id_ok(const char *id)
{
	size_t i, n = strlen(id);

	if (n == 0 || n > RP_LIMIT_MQTT_CLIENT_ID_LEN) {
		return 0;
	}
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)id[i];

		if (ch < 0x20 || ch == 0x7f || ch == '/' || ch == '+' || ch == '#') {
			return 0;
		}
	}
	return 1;
}

static rp_status config_check(const rp_link_config *cfg)
{
	if (cfg->tls == NULL || cfg->host == NULL || cfg->host[0] == '\0' || cfg->port == 0 ||
	    cfg->client_id == NULL || !client_id_ok(cfg->client_id) || cfg->sub_qos > 2 ||
	    cfg->backoff.base_ms == 0 || cfg->backoff.cap_ms < cfg->backoff.base_ms ||
	    cfg->max_inflight == 0 || cfg->max_inflight == UINT16_MAX ||
	    cfg->max_packet < MIN_PACKET || cfg->max_packet > RP_LIMIT_MQTT_PACKET ||
	    (cfg->ntopics != 0 && cfg->topics == NULL) ||
	    cfg->ntopics > RP_DEFAULT_MQTT_SUB_ENTRIES) {
		return RP_E_INVALID_ARG;
	}
	return RP_OK;
}

static rp_status copy_topics(rp_link *l, const rp_link_config *cfg)
{
	rp_mqtt_limits lim;
	size_t i, n = cfg->ntopics != 0 ? cfg->ntopics : 1;

	rp_mqtt_limits_default(&lim);
	l->topics = calloc(n, sizeof(*l->topics));
	l->subs = calloc(n, sizeof(*l->subs));
	if (l->topics == NULL || l->subs == NULL) {
		return RP_E_NOMEM;
	}
	l->ntopics = n;
	for (i = 0; i < n; i++) {
		if (cfg->ntopics != 0) {
			l->topics[i] = cfg->topics[i] != NULL ? dup_str(cfg->topics[i]) : NULL;
			if (cfg->topics[i] == NULL) {
				return RP_E_INVALID_ARG;
			}
		} else {
			size_t len = strlen(l->client_id) + sizeof("d//cmd/+");

			l->topics[i] = malloc(len);
			if (l->topics[i] != NULL) {
				(void)snprintf(l->topics[i], len, "d/%s/cmd/+", l->client_id);
			}
		}
		if (l->topics[i] == NULL) {
			return RP_E_NOMEM;
		}
		if (rp_mqtt_topic_filter_check((const uint8_t *)l->topics[i], strlen(l->topics[i]),
					       &lim) != RP_OK) {
			return RP_E_INVALID_ARG;
		}
		l->subs[i].filter.p = (const uint8_t *)l->topics[i];
		l->subs[i].filter.len = (uint32_t)strlen(l->topics[i]);
		l->subs[i].qos = cfg->sub_qos;
		/* A resumed subscription does not bring the retained messages again. */
		l->subs[i].retain_handling = 1;
	}
	return RP_OK;
}

rp_status rp_link_new(const rp_link_config *cfg, rp_link **out)
{
	rp_mqttc_config mc;
	rp_link *l = NULL;
	rp_status st = RP_E_NOMEM;

	if (out == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	if (cfg == NULL || config_check(cfg) != RP_OK) {
		return RP_E_INVALID_ARG;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		return RP_E_NOMEM;
	}
	l->cfg = *cfg;
	if (l->cfg.connect_timeout_ms == 0) {
		l->cfg.connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
	}
	l->host = dup_str(cfg->host);
	l->server_name = dup_str(cfg->server_name != NULL ? cfg->server_name : cfg->host);
	l->client_id = dup_str(cfg->client_id);
	if (l->host == NULL || l->server_name == NULL || l->client_id == NULL) {
		goto out;
	}
	l->cfg.host = l->host;
	l->cfg.server_name = l->server_name;
	l->cfg.client_id = l->client_id;
	st = copy_topics(l, cfg);
	if (st != RP_OK) {
		goto out;
	}
	l->cfg.topics = NULL; /* the copies are l->topics */
	l->cfg.ntopics = l->ntopics;
	st = RP_E_NOMEM;
	l->cap = cfg->max_packet;
	l->nmsgs = cfg->max_inflight;
	l->slots = calloc((size_t)l->nmsgs + 1u, sizeof(*l->slots));
	l->rx_ids = calloc(l->nmsgs, sizeof(*l->rx_ids));
	l->msgs = calloc(l->nmsgs, sizeof(*l->msgs));
	l->q0 = calloc(l->nmsgs, sizeof(*l->q0));
	l->tx = malloc(l->cap);
	l->rx = malloc(l->cap);
	if (l->slots == NULL || l->rx_ids == NULL || l->msgs == NULL || l->q0 == NULL ||
	    l->tx == NULL || l->rx == NULL) {
		goto out;
	}
	rp_mqttc_config_default(&mc);
	mc.version = RP_MQTT_V5;
	mc.limits.max_packet = cfg->max_packet;
	mc.response_timeout_ms = l->cfg.connect_timeout_ms;
	mc.rx_ids = l->rx_ids;
	mc.receive_max = l->nmsgs;
	st = rp_mqttc_init(&l->mq, &mc, l->slots, (size_t)l->nmsgs + 1u, l->tx, l->cap);
	if (st != RP_OK) {
		goto out;
	}
	l->phase = PH_IDLE;
	*out = l;
	l = NULL;
	st = RP_OK;
out:
	rp_link_free(l);
	return st;
}

rp_status rp_link_wants(const rp_link *l, struct pollfd *pfd, int *timeout_ms)
{
	uint64_t now, until = UINT64_MAX;

	if (l == NULL || pfd == NULL || timeout_ms == NULL) {
		return RP_E_INVALID_ARG;
	}
	now = mono_ms();
	pfd->fd = -1;
	pfd->events = 0;
	pfd->revents = 0;
	switch (l->phase) {
	case PH_IDLE:
		until = now;
		break;
	case PH_WAITING:
		until = l->next_attempt;
		break;
	case PH_TLS:
		pfd->fd = rp_tlsc_fd(l->conn);
		pfd->events = rp_tlsc_events(l->conn);
		until = l->deadline;
		break;
	case PH_MQTT:
		pfd->fd = rp_tlsc_fd(l->conn);
		if (l->rx_len < l->cap) {
			pfd->events |= POLLIN;
		}
		if (l->tx_blocked) {
			pfd->events |= rp_tlsc_events(l->conn);
		}
		if (pfd->events == 0) {
			pfd->events = POLLIN;
		}
		until = l->mqtt_deadline;
		/* Bytes OpenSSL already holds are invisible to poll(); output
		 * published since the last step is not sent yet. */
		if ((l->rx_len < l->cap && rp_tlsc_pending(l->conn) > 0) ||
		    (l->out_pending && !l->tx_blocked)) {
			until = now;
		}
		break;
	default:
		break;
	}
	if (until == UINT64_MAX || until == RP_MQTTC_NO_DEADLINE) {
		*timeout_ms = -1;
	} else if (until <= now) {
		*timeout_ms = 0;
	} else {
		*timeout_ms = until - now > (uint64_t)INT_MAX ? INT_MAX : (int)(until - now);
	}
	return RP_OK;
}

rp_status rp_link_run(rp_link *l, int timeout_ms)
{
	struct pollfd pfd;
	rp_status st = RP_OK;
	int wait = 0, n;

	if (l == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (l->in_callback) {
		return RP_E_STATE;
	}
	l->in_callback = 1;
	advance(l);
	(void)rp_link_wants(l, &pfd, &wait);
	if (timeout_ms >= 0 && (wait < 0 || timeout_ms < wait)) {
		wait = timeout_ms;
	}
	if (wait != 0) {
		n = poll(&pfd, pfd.fd >= 0 ? 1u : 0u, wait);
		if (n < 0 && errno != EINTR) {
			st = RP_E_IO;
		}
	}
	advance(l);
	l->in_callback = 0;
	return st;
}

rp_status rp_link_publish(rp_link *l, const rp_link_message *msg, rp_link_done_fn done,
			  void *done_ctx)
{
	rp_mqttc_message mm;
	struct msg *m = NULL;
	size_t tlen;
	uint16_t i, pid = 0;
	rp_status st;

	if (l == NULL || msg == NULL || msg->topic == NULL || msg->qos > 2 || msg->props != NULL ||
	    (msg->payload == NULL && msg->payload_len != 0)) {
		return RP_E_INVALID_ARG;
	}
	tlen = msg->topic_len != 0 ? msg->topic_len : strlen(msg->topic);
	if (tlen > RP_MQTT_STR_MAX || msg->payload_len > RP_LIMIT_MQTT_PACKET) {
		return RP_E_TOO_LARGE;
	}
	if (l->phase != PH_MQTT || rp_mqttc_get_state(&l->mq) != RP_MQTTC_CONNECTED) {
		return RP_E_STATE;
	}
	if (l->requeue) {
		requeue_lost(l);
		if (l->requeue) {
			return RP_E_BUSY; /* older messages go first */
		}
	}
	memset(&mm, 0, sizeof(mm));
	mm.topic.p = (const uint8_t *)msg->topic;
	mm.topic.len = (uint32_t)tlen;
	mm.payload.p = msg->payload;
	mm.payload.len = (uint32_t)msg->payload_len;
	mm.qos = msg->qos;
	mm.retain = msg->retain;
	if (msg->qos == 0) {
		if (done != NULL && l->q0_count == l->nmsgs) {
			return RP_E_BUSY;
		}
		st = rp_mqttc_publish(&l->mq, &mm, NULL);
		if (st != RP_OK) {
			return st;
		}
		l->stats.published++;
		l->out_pending = 1;
		if (done != NULL) {
			struct q0 *e = &l->q0[(l->q0_head + l->q0_count) % l->nmsgs];

			e->mark = UINT64_MAX;
			e->done = done;
			e->done_ctx = done_ctx;
			l->q0_count++;
		}
		return RP_OK;
	}
	for (i = 0; i < l->nmsgs && m == NULL; i++) {
		if (l->msgs[i].state == M_FREE) {
			m = &l->msgs[i];
		}
	}
	if (m == NULL) {
		return RP_E_BUSY;
	}
	m->data = malloc(tlen + msg->payload_len + 1u);
	if (m->data == NULL) {
		return RP_E_NOMEM;
	}
	memcpy(m->data, msg->topic, tlen);
	if (msg->payload_len != 0) {
		memcpy(m->data + tlen, msg->payload, msg->payload_len);
	}
	m->topic_len = tlen;
	m->payload_len = msg->payload_len;
	m->qos = msg->qos;
	m->retain = msg->retain;
	mm = msg_view(m);
	st = rp_mqttc_publish(&l->mq, &mm, &pid);
	if (st != RP_OK) {
		free(m->data);
		memset(m, 0, sizeof(*m));
		return st;
	}
	m->state = M_INFLIGHT;
	m->packet_id = pid;
	m->seq = ++l->seq;
	m->done = done;
	m->done_ctx = done_ctx;
	l->stats.published++;
	l->stats.inflight++;
	l->out_pending = 1;
	return RP_OK;
}

rp_link_state rp_link_get_state(const rp_link *l)
{
	if (l == NULL) {
		return RP_LINK_IDLE;
	}
	switch (l->phase) {
	case PH_TLS:
		return RP_LINK_CONNECTING;
	case PH_MQTT:
		return rp_mqttc_get_state(&l->mq) == RP_MQTTC_CONNECTED ? RP_LINK_CONNECTED
									: RP_LINK_CONNECTING;
	case PH_WAITING:
		return RP_LINK_WAITING;
	default:
		return RP_LINK_IDLE;
	}
}

const char *rp_link_last_error(const rp_link *l)
{
	return l != NULL ? l->why : "";
}

rp_status rp_link_get_stats(const rp_link *l, rp_link_stats *out)
{
	uint64_t now;

	if (l == NULL || out == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = l->stats;
	out->attempt = l->attempt;
	out->next_retry_ms = 0;
	if (l->phase == PH_WAITING) {
		now = mono_ms();
		if (l->next_attempt > now) {
			uint64_t left = l->next_attempt - now;

			out->next_retry_ms = left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
		}
	}
	return RP_OK;
}

void rp_link_free(rp_link *l)
{
	size_t i;

	if (l == NULL || l->in_callback) {
		return;
	}
	l->in_callback = 1;
	if (l->conn != NULL && l->phase == PH_MQTT &&
	    rp_mqttc_get_state(&l->mq) == RP_MQTTC_CONNECTED &&
	    rp_mqttc_disconnect(&l->mq, RP_MQTT_RC_SUCCESS) == RP_OK) {
		drain_quietly(l); /* no waiting: a DISCONNECT fits any socket buffer */
	}
	rp_tlsc_close(l->conn);
	l->conn = NULL;
	for (i = 0; l->msgs != NULL && i < l->nmsgs; i++) {
		if (l->msgs[i].state != M_FREE) {
			msg_finish(l, &l->msgs[i], RP_E_CLOSED, 0);
		}
	}
	q0_complete(l, 1);
	for (i = 0; l->topics != NULL && i < l->ntopics; i++) {
		free(l->topics[i]);
	}
	free(l->topics);
	free(l->subs);
	free(l->slots);
	free(l->rx_ids);
	free(l->msgs);
	free(l->q0);
	free(l->tx);
	free(l->rx);
	free(l->host);
	free(l->server_name);
	free(l->client_id);
	free(l);
}
