/*
 * client.c - one connection's MQTT protocol engine (server side).
 *
 * State: CS_WAIT_CONNECT until a CONNECT is accepted, then CS_CONNECTED,
 * then CS_CLOSING once a close was decided (input is ignored from then on;
 * pending output, e.g. a DISCONNECT with its reason, is still flushed).
 *
 * Attacker: the peer has a verified certificate but is otherwise
 * untrusted. Before CONNECT only a CONNECT is accepted, within the
 * pre-authentication size cap and the connect deadline; the first byte of
 * anything else closes the connection before its body is buffered. After
 * CONNECT every topic passes the ACL, and every packet the codec limits.
 *
 * Errors are answered as the version allows: MQTT 5 gets a CONNACK or
 * DISCONNECT with the reason code of rp_mqtt_reason_for(); 3.1.1 gets
 * CONNACK return codes for CONNECT refusals and a closed connection for
 * the rest [MQTT-4.8.0-1].
 */
#include <stdio.h>
#include <string.h>

#include "broker/internal.h"
#include "util/bucket.h"
#include "util/log.h"

enum { CS_WAIT_CONNECT, CS_CONNECTED, CS_CLOSING };

/* How long a publisher is not read when its messages fill a subscriber's queue. */
#define BACKPRESSURE_PAUSE_MS 5u

/* Output above this stops pumping queued deliveries (slow reader). */
#define OUT_HIGH_WATER RP_LIMIT_CLIENT_OUTPUT

struct rp_client {
	rp_broker *b;
	rp_client_io io;
	session *s;
	rp_counters *ctr, *ctr_addr; /* this identity's and address's counters, looked up once */
	uint64_t last_rx_ms;
	uint64_t connect_deadline_ms;
	rp_mqtt_limits lim;

	rp_msg *will;
	uint8_t **aliases; /* inbound topic aliases: [alias - 1] -> u16 length + topic */

	/* Rates of a device (service clients: unlimited buckets). */
	rp_bucket msg_rate, byte_rate;
	uint64_t over_since_ms;   /* 0: within its rates */
	uint64_t throttled_until; /* 0: may be read */

	uint8_t *out;
	size_t out_off, out_len, out_cap;

	/* Acknowledgements in PUBLISH order while one waits for the store:
	 * a FIFO of entries, the waiting ones (ingest_waiting) and those
	 * answered already but queued behind them. */
	rp_ingest *acks_head, *acks_tail;

	uint32_t out_max_packet; /* the client's Maximum Packet Size: nothing larger is sent */
	uint32_t will_delay_s;
	uint16_t keepalive_s;
	uint16_t out_window;     /* in-flight deliveries we may have */
	uint16_t ingest_waiting; /* entries waiting for the store */
	uint16_t nacks;          /* entries in the FIFO, at most receive_max */
	uint8_t state;
	uint8_t version;      /* 0 until CONNECT */
	uint8_t normal_close; /* DISCONNECT 0x00: no will */

	/* Pointers into text: the identity's texts, sized to them (the id
	 * first, with room for the longest client id when it is still empty:
	 * the plain listener learns it at CONNECT). */
	rp_identity who;
	char text[];
};

struct rp_ingest {
	rp_ingest *next;
	rp_client *c; /* NULL once the client is gone */
	uint16_t packet_id;
	uint8_t type; /* PUBACK or PUBREC */
	uint8_t done; /* answered: rc is the reason */
	uint8_t rc;
};

/* ---- output ------------------------------------------------------------ */

static int reserve(rp_client *c, size_t n)
{
	size_t need, cap;
	uint8_t *p;

	if (c->out_off > 0 && c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
	}
	if (n <= c->out_cap - c->out_len) {
		return 1;
	}
	/* Compact first, then grow. */
	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
		if (n <= c->out_cap - c->out_len) {
			return 1;
		}
	}
	need = c->out_len + n;
	cap = c->out_cap ? c->out_cap : 1024u;
	while (cap < need) {
		cap *= 2u;
	}
	p = rp_realloc(NULL, c->out, cap);
	if (p == NULL) {
		return 0;
	}
	c->out = p;
	c->out_cap = cap;
	return 1;
}

/* The counters of the client's identity and address (stable pointers, cached). */
static rp_counters *id_ctr(rp_client *c)
{
	if (c->ctr == NULL) {
		c->ctr = rp__counters(c->b, &c->who);
	}
	return c->ctr;
}

static rp_counters *addr_ctr(rp_client *c)
{
	if (c->ctr_addr == NULL) {
		c->ctr_addr = rp__counters_addr(c->b, &c->who);
	}
	return c->ctr_addr;
}

/*
 * Encodes pkt into the output; *size (if not NULL) gets its length.
 * Returns RP_OK, RP_E_NOMEM, RP_E_TOO_LARGE (above the client's Maximum
 * Packet Size [MQTT-3.1.2-25]: not sent), or the encoder's status.
 */
static rp_status send_pkt(rp_client *c, const rp_mqtt_packet *pkt, size_t *size_out)
{
	size_t size, n;
	int was_empty = c->out_len == c->out_off;
	rp_status st;

	st = rp_mqtt_encoded_size(pkt, c->version, &c->lim, &size);
	if (st != RP_OK) {
		return st;
	}
	if (size > c->out_max_packet) {
		return RP_E_TOO_LARGE;
	}
	if (size_out != NULL) {
		*size_out = size;
	}
	if (!reserve(c, size)) {
		return RP_E_NOMEM;
	}
	st = rp_mqtt_encode(pkt, c->version, &c->lim, c->out + c->out_len, c->out_cap - c->out_len,
			    &n);
	if (st != RP_OK) {
		return st;
	}
	c->out_len += n;
	if (was_empty && c->io.want_write != NULL) {
		c->io.want_write(c->io.ctx);
	}
	return RP_OK;
}

void rp_client_output(const rp_client *c, const uint8_t **buf, size_t *len)
{
	*buf = c->out != NULL ? c->out + c->out_off : NULL;
	*len = c->out_len - c->out_off;
}

size_t rp_client_pending(const rp_client *c)
{
	return c->out_len - c->out_off;
}

void rp_client_consumed(rp_client *c, size_t n)
{
	size_t pending = c->out_len - c->out_off;

	c->out_off += n < pending ? n : pending;
	if (c->out_off == c->out_len) {
		/* Drained: an idle connection keeps no output buffer. */
		rp_free(NULL, c->out);
		c->out = NULL;
		c->out_off = c->out_len = c->out_cap = 0;
	}
	/* The reader drained: queued deliveries may go now. */
	if (c->state == CS_CONNECTED) {
		rp__client_pump(c);
	}
}

/* ---- closing ----------------------------------------------------------- */

/* Decides to close; MQTT 5 clients are told why (rc != 0). */
static rp_status close_with(rp_client *c, uint8_t rc)
{
	if (c->state == CS_CONNECTED && c->version == RP_MQTT_V5 && rc != 0 &&
	    rp_mqtt_reason_valid(RP_MQTT_DISCONNECT, RP_MQTT_V5, rc)) {
		rp_mqtt_packet d;

		memset(&d, 0, sizeof(d));
		d.type = RP_MQTT_DISCONNECT;
		d.u.disconnect.reason_code = rc;
		(void)send_pkt(c, &d, NULL);
	}
	c->state = CS_CLOSING;
	return RP_E_CLOSED;
}

static rp_status protocol_error(rp_client *c, rp_status st, const char *what)
{
	char id[80];

	id_ctr(c)->protocol_errors++;
	addr_ctr(c)->protocol_errors++;
	c->b->totals.protocol_errors++;
	rp_log(RP_LOG_INFO, "mqtt", "%s from %s (%s): %s: %s",
	       rp_log_escape(id, sizeof(id), (const uint8_t *)c->who.id, strlen(c->who.id)),
	       c->who.addr, c->who.role, what, rp_status_str(st));
	return close_with(c, rp_mqtt_reason_for(st));
}

static void count_acl_denied(rp_client *c, const rp_mqtt_str *topic, const char *action)
{
	char id[80], t[160];

	id_ctr(c)->acl_denied++;
	addr_ctr(c)->acl_denied++;
	c->b->totals.acl_denied++;
	rp_log(RP_LOG_INFO, "acl", "%s denied for %s (%s) from %s on '%s'", action,
	       rp_log_escape(id, sizeof(id), (const uint8_t *)c->who.id, strlen(c->who.id)),
	       c->who.role, c->who.addr, rp_log_escape(t, sizeof(t), topic->p, topic->len));
}

/* ---- delivering to this client ----------------------------------------- */

static uint16_t next_packet_id(session *s, uint16_t window)
{
	for (;;) {
		uint16_t id = ++s->next_packet_id;
		uint16_t i;
		int used = 0;

		if (id == 0) {
			continue;
		}
		for (i = 0; i < window; i++) {
			if (s->inflight[i].msg != NULL && s->inflight[i].packet_id == id) {
				used = 1;
				break;
			}
		}
		if (!used) {
			return id;
		}
	}
}

/* Encodes one PUBLISH of delivery d (dup for a resend). */
static rp_status send_publish(rp_client *c, const delivery *d, int dup)
{
	rp_mqtt_packet pkt;
	rp_mqtt_publish *p = &pkt.u.publish;
	const rp_msg *m = d->msg;
	size_t size;
	rp_status st;

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = RP_MQTT_PUBLISH;
	*p = m->pub;
	p->qos = d->qos;
	p->retain = d->retain;
	p->dup = (uint8_t)(dup && d->qos > 0);
	p->packet_id = d->qos > 0 ? d->packet_id : 0;
	if (c->version == RP_MQTT_V5) {
		if (p->props.present & RP_MQTT_HAS(RP_MQTT_PROP_MESSAGE_EXPIRY)) {
			/* [MQTT-3.3.2-6]: send the time that is left. */
			uint64_t gone_s = (c->b->now_ms - m->created_ms) / 1000u;

			p->props.message_expiry =
				gone_s >= p->props.message_expiry
					? 1u
					: p->props.message_expiry - (uint32_t)gone_s;
		}
		p->props.sub_ids = &d->sub_id;
		p->props.sub_id_count = d->sub_id != 0 ? 1u : 0u;
	} else {
		memset(&p->props, 0, sizeof(p->props));
	}
	/* Too large for the client: discarded, as if sent [MQTT-3.1.2-25]. */
	st = send_pkt(c, &pkt, &size);
	if (st == RP_OK) {
		id_ctr(c)->msgs_out++;
		id_ctr(c)->bytes_out += size;
		c->b->totals.msgs_out++;
		c->b->totals.bytes_out += size;
	}
	return st;
}

static delivery *free_slot(rp_client *c)
{
	uint16_t i;

	if (c->s->inflight == NULL) {
		/* Idle sessions hold no window; a NULL return just waits for the next pump. */
		c->s->inflight = rp_calloc(NULL, c->b->lim.max_inflight, sizeof(*c->s->inflight));
		if (c->s->inflight == NULL) {
			return NULL;
		}
	}
	for (i = 0; i < c->out_window; i++) {
		if (c->s->inflight[i].msg == NULL) {
			return &c->s->inflight[i];
		}
	}
	return NULL;
}

void rp__client_pump(rp_client *c)
{
	session *s = c->s;
	int moved = 0;

	if (c->state != CS_CONNECTED || s == NULL) {
		return;
	}
	while (s->q_head != NULL && rp_client_pending(c) < OUT_HIGH_WATER) {
		delivery *d = s->q_head;
		delivery *slot = NULL;
		rp_status st;

		if (rp__msg_expired(d->msg, c->b->now_ms)) {
			goto dequeue;
		}
		if (d->qos > 0) {
			slot = free_slot(c);
			if (slot == NULL) {
				break; /* window full: wait for an ack */
			}
			d->packet_id = next_packet_id(s, c->out_window);
		}
		st = send_publish(c, d, 0);
		if (st == RP_E_NOMEM) {
			break; /* try again when output drains */
		}
		if (st == RP_OK && slot != NULL) {
			*slot = *d;
			slot->next = NULL;
			slot->state = d->qos == 1 ? DS_WAIT_ACK : DS_WAIT_REC;
			rp__msg_ref(slot->msg);
			s->ninflight++;
		}
	dequeue:
		moved |= d->qos > 0;
		s->q_head = d->next;
		if (s->q_head == NULL) {
			s->q_tail = NULL;
		}
		s->queue_len--;
		s->queue_bytes -= d->msg->size;
		rp__msg_unref(d->msg);
		rp_free(NULL, d);
	}
	if (moved) {
		/* QoS 1/2 deliveries went from the queue to the window (or expired). */
		rp__session_touch(c->b, s);
	}
}

/* Resends what was in flight when the session was resumed [MQTT-4.4.0-1]. */
static void resend_inflight(rp_client *c)
{
	uint16_t i;

	if (c->s->inflight == NULL) {
		return;
	}
	for (i = 0; i < c->b->lim.max_inflight; i++) {
		delivery *d = &c->s->inflight[i];

		if (d->msg == NULL) {
			continue;
		}
		if (d->state == DS_WAIT_COMP) {
			rp_mqtt_packet rel;

			memset(&rel, 0, sizeof(rel));
			rel.type = RP_MQTT_PUBREL;
			rel.u.ack.packet_id = d->packet_id;
			(void)send_pkt(c, &rel, NULL);
		} else {
			(void)send_publish(c, d, 1);
		}
	}
}

/* ---- CONNECT ----------------------------------------------------------- */

static rp_status refuse_connect(rp_client *c, uint8_t version, uint8_t rc5, uint8_t rc311,
				const char *why)
{
	rp_mqtt_packet ack;
	char id[80];

	id_ctr(c)->connect_refused++;
	addr_ctr(c)->connect_refused++;
	c->b->totals.connect_refused++;
	rp_log(RP_LOG_INFO, "mqtt", "CONNECT refused for %s (%s) from %s: %s",
	       rp_log_escape(id, sizeof(id), (const uint8_t *)c->who.id, strlen(c->who.id)),
	       c->who.role, c->who.addr, why);
	memset(&ack, 0, sizeof(ack));
	ack.type = RP_MQTT_CONNACK;
	c->version = version == RP_MQTT_V5 ? RP_MQTT_V5 : RP_MQTT_V311;
	ack.u.connack.reason_code = c->version == RP_MQTT_V5 ? rc5 : rc311;
	(void)send_pkt(c, &ack, NULL);
	c->state = CS_CLOSING;
	return RP_E_CLOSED;
}

/* The client id a CONNECT may use, from the certificate (never the reverse). */
static int client_id_ok(const rp_client *c, const rp_mqtt_str *cid)
{
	size_t n = strlen(c->who.id);

	if (cid->len == n && memcmp(cid->p, c->who.id, n) == 0) {
		return 1;
	}
	/* A service may run several instances: "<name>:<instance>". */
	return strcmp(c->who.role, "device") != 0 && cid->len > n + 1u &&
	       memcmp(cid->p, c->who.id, n) == 0 && cid->p[n] == ':';
}

/* An identity as a certificate CN may be: 1..128 bytes, no '/', '+', '#', '$' first, controls. */
static int identity_ok(const uint8_t *p, size_t len)
{
	size_t i;

	if (len == 0 || len > RP_LIMIT_MQTT_CLIENT_ID_LEN || p[0] == '$') {
		return 0;
	}
	for (i = 0; i < len; i++) {
		if (p[i] < 0x20u || p[i] == 0x7Fu || p[i] == '/' || p[i] == '+' || p[i] == '#') {
			return 0;
		}
	}
	return 1;
}

/*
 * The same device certificate live from two addresses at once: a shared
 * or cloned credential (a device that merely reconnects comes from the
 * same address, or its old connection is already gone).
 */
static void cloned_check(const rp_client *c, const rp_client *old)
{
	char detail[2u * RP_IDENTITY_ADDR_MAX + 32u];

	if (c->b->alert == NULL || strcmp(c->who.role, "device") != 0 ||
	    strcmp(old->who.id, c->who.id) != 0 || strcmp(old->who.addr, c->who.addr) == 0) {
		return;
	}
	/* Addresses are numeric text (inet_ntop): nothing to escape in JSON. */
	(void)snprintf(detail, sizeof(detail), "{\"addresses\":[\"%s\",\"%s\"]}", old->who.addr,
		       c->who.addr);
	c->b->alert(c->b->alert_ctx, "credential_cloned", &c->who, detail);
}

static rp_status handle_connect(rp_client *c, const rp_mqtt_connect *k)
{
	rp_broker *b = c->b;
	const char *cid;
	size_t cid_len;
	int assigned = 0, session_present = 0;
	uint32_t expiry;
	uint16_t ka;
	rp_mqtt_packet ack;
	session *s;

	c->version = k->version;
	if (c->who.id[0] == '\0') {
		/*
		 * The plain loopback listener (development only) has no
		 * certificate: the client id is the identity, held to the rules of
		 * a certificate CN so that it cannot widen its own ACL.
		 */
		if (!identity_ok(k->client_id.p, k->client_id.len)) {
			return refuse_connect(c, k->version, RP_MQTT_RC_CLIENT_ID_INVALID,
					      RP_MQTT311_CONNACK_ID_REJECTED,
					      "plain listener: client id is not a valid identity");
		}
		memcpy(c->text, k->client_id.p, k->client_id.len); /* c->who.id */
		c->text[k->client_id.len] = '\0';
		c->ctr = NULL; /* the identity is known only now */
	}
	if (rp_map_get(b->banned, c->who.id, strlen(c->who.id)) != NULL) {
		return refuse_connect(c, k->version, RP_MQTT_RC_BANNED,
				      RP_MQTT311_CONNACK_NOT_AUTHORIZED, "identity revoked");
	}
	if (!rp_policy_has_role(b->policy, c->who.role)) {
		/* A certificate role the policy does not know: nothing would be allowed. */
		return refuse_connect(c, k->version, RP_MQTT_RC_NOT_AUTHORIZED,
				      RP_MQTT311_CONNACK_NOT_AUTHORIZED,
				      "role unknown to the policy");
	}
	if (k->props.present & RP_MQTT_HAS(RP_MQTT_PROP_AUTH_METHOD)) {
		return refuse_connect(c, k->version, RP_MQTT_RC_BAD_AUTH_METHOD,
				      RP_MQTT311_CONNACK_NOT_AUTHORIZED, "enhanced authentication");
	}
	if (k->client_id.len == 0) {
		/* 3.1.1 allows an empty id only with a clean session [MQTT-3.1.3-7]. */
		if (k->version == RP_MQTT_V311 && !k->clean_start) {
			return refuse_connect(c, k->version, RP_MQTT_RC_CLIENT_ID_INVALID,
					      RP_MQTT311_CONNACK_ID_REJECTED,
					      "empty client id without clean session");
		}
		cid = c->who.id;
		cid_len = strlen(c->who.id);
		assigned = 1;
	} else if (client_id_ok(c, &k->client_id)) {
		cid = (const char *)k->client_id.p;
		cid_len = k->client_id.len;
	} else {
		return refuse_connect(c, k->version, RP_MQTT_RC_CLIENT_ID_INVALID,
				      RP_MQTT311_CONNACK_ID_REJECTED,
				      "client id differs from the certificate identity");
	}
	if (k->will_flag) {
		if (!rp_policy_may_publish(b->policy, c->who.role, (const uint8_t *)c->who.id,
					   strlen(c->who.id), k->will_topic.p, k->will_topic.len)) {
			count_acl_denied(c, &k->will_topic, "will");
			return refuse_connect(c, k->version, RP_MQTT_RC_NOT_AUTHORIZED,
					      RP_MQTT311_CONNACK_NOT_AUTHORIZED,
					      "will topic denied");
		}
	}

	/* Session expiry: 3.1.1 maps clean session to 0 or the maximum. */
	if (k->version == RP_MQTT_V5) {
		expiry = (k->props.present & RP_MQTT_HAS(RP_MQTT_PROP_SESSION_EXPIRY))
				 ? k->props.session_expiry
				 : 0;
	} else {
		expiry = k->clean_start ? 0 : b->lim.session_expiry_max;
	}
	if (expiry > b->lim.session_expiry_max) {
		expiry = b->lim.session_expiry_max;
	}

	s = rp__session_get(b, cid, cid_len);
	if (s != NULL && s->client != NULL) {
		cloned_check(c, s->client);
		rp__client_taken_over(s->client); /* [MQTT-3.1.4-3] */
	}
	if (s != NULL && !k->clean_start && !rp__session_is(s, &c->who)) {
		/*
		 * The same client id from another identity (a certificate of
		 * another role with the same CN): it takes the connection over,
		 * never the state, whose subscriptions were granted to the other.
		 */
		char id[80];

		rp_log(RP_LOG_INFO, "mqtt",
		       "session %s of role %s not resumed by a client of role %s from %s: ended",
		       rp_log_escape(id, sizeof(id), (const uint8_t *)rp__session_client_id(s),
				     s->client_id_len),
		       rp__session_role(s), c->who.role, c->who.addr);
	}
	if (s != NULL && (k->clean_start || !rp__session_is(s, &c->who))) {
		rp__session_end(b, s);
		s = NULL;
	}
	if (s != NULL) {
		session_present = 1;
		if (s->will != NULL) {
			/* Reconnected within the will delay: no will [MQTT-3.1.3-9]. */
			rp__msg_unref(s->will);
			s->will = NULL;
		}
	} else {
		/* cid is the identity's id, or "<id>:<instance>" (client_id_ok). */
		s = rp__session_create(b, cid, cid_len, strlen(c->who.id), c->who.role);
		if (s == NULL) {
			return refuse_connect(c, k->version, RP_MQTT_RC_SERVER_UNAVAILABLE,
					      RP_MQTT311_CONNACK_SERVER_UNAVAILABLE,
					      "out of memory");
		}
	}
	if (k->will_flag) {
		rp_mqtt_publish wp;

		memset(&wp, 0, sizeof(wp));
		wp.qos = k->will_qos;
		wp.retain = k->will_retain;
		wp.topic = k->will_topic;
		wp.payload = k->will_payload;
		wp.props = k->will_props;
		wp.props.present &= ~RP_MQTT_HAS(RP_MQTT_PROP_WILL_DELAY);
		c->will = rp__msg_new(&wp, &k->will_topic, b->now_ms);
		c->will_delay_s = k->will_props.will_delay;
		if (c->will == NULL) {
			return refuse_connect(c, k->version, RP_MQTT_RC_SERVER_UNAVAILABLE,
					      RP_MQTT311_CONNACK_SERVER_UNAVAILABLE,
					      "out of memory");
		}
	}
	s->expiry_s = expiry;
	s->version = k->version;
	s->client = c;
	c->s = s;
	rp__session_touch(b, s);

	/* Keep alive: 0 or above the maximum becomes the maximum (a limit, not an option). */
	ka = k->keepalive;
	if (ka == 0 || ka > b->lim.keepalive_max) {
		ka = b->lim.keepalive_max;
	}
	c->keepalive_s = ka;
	c->out_window = b->lim.max_inflight;
	c->out_max_packet = RP_MQTT_VBI_MAX + 5u;
	if (k->version == RP_MQTT_V5) {
		if ((k->props.present & RP_MQTT_HAS(RP_MQTT_PROP_RECEIVE_MAX)) &&
		    k->props.receive_max < c->out_window) {
			c->out_window = k->props.receive_max;
		}
		if (k->props.present & RP_MQTT_HAS(RP_MQTT_PROP_MAX_PACKET_SIZE)) {
			c->out_max_packet = k->props.max_packet_size;
		}
	}
	c->lim = b->lim.mqtt;
	c->state = CS_CONNECTED;
	id_ctr(c)->connects++;
	b->totals.connects++;

	memset(&ack, 0, sizeof(ack));
	ack.type = RP_MQTT_CONNACK;
	ack.u.connack.session_present = (uint8_t)session_present;
	if (k->version == RP_MQTT_V5) {
		rp_mqtt_props *p = &ack.u.connack.props;

		p->present = RP_MQTT_HAS(RP_MQTT_PROP_RECEIVE_MAX) |
			     RP_MQTT_HAS(RP_MQTT_PROP_MAX_PACKET_SIZE);
		p->receive_max = b->lim.receive_max;
		p->max_packet_size = b->lim.mqtt.max_packet;
		if (b->lim.topic_alias_max > 0) {
			p->present |= RP_MQTT_HAS(RP_MQTT_PROP_TOPIC_ALIAS_MAX);
			p->topic_alias_max = b->lim.topic_alias_max;
		}
		if (assigned) {
			p->present |= RP_MQTT_HAS(RP_MQTT_PROP_ASSIGNED_CLIENT_ID);
			p->assigned_client_id.p = (const uint8_t *)rp__session_client_id(s);
			p->assigned_client_id.len = (uint32_t)s->client_id_len;
		}
		if (ka != k->keepalive) {
			p->present |= RP_MQTT_HAS(RP_MQTT_PROP_SERVER_KEEPALIVE);
			p->server_keepalive = ka;
		}
		if ((k->props.present & RP_MQTT_HAS(RP_MQTT_PROP_SESSION_EXPIRY)) &&
		    expiry != k->props.session_expiry) {
			p->present |= RP_MQTT_HAS(RP_MQTT_PROP_SESSION_EXPIRY);
			p->session_expiry = expiry;
		}
	}
	if (send_pkt(c, &ack, NULL) != RP_OK) {
		return close_with(c, 0);
	}
	if (session_present) {
		resend_inflight(c);
	}
	rp__client_pump(c);
	return RP_OK;
}

void rp__client_recheck_will(rp_client *c, const rp_policy *policy)
{
	if (c->will != NULL &&
	    !rp_policy_may_publish(policy, c->who.role, (const uint8_t *)c->who.id,
				   strlen(c->who.id), c->will->pub.topic.p,
				   c->will->pub.topic.len)) {
		rp__msg_unref(c->will);
		c->will = NULL;
	}
}

void rp_client_kick(rp_client *c, uint8_t reason)
{
	(void)close_with(c, reason);
}

void rp__client_ban_kick(rp_client *c)
{
	char id[80];

	rp_log(RP_LOG_WARN, "mqtt", "%s from %s (%s): revoked: disconnected",
	       rp_log_escape(id, sizeof(id), (const uint8_t *)c->who.id, strlen(c->who.id)),
	       c->who.addr, c->who.role);
	(void)close_with(c, RP_MQTT_RC_ADMINISTRATIVE_ACTION);
	if (c->io.close != NULL) {
		c->io.close(c->io.ctx);
	}
}

void rp__client_taken_over(rp_client *c)
{
	(void)close_with(c, RP_MQTT_RC_SESSION_TAKEN_OVER);
	/* The old connection ends abnormally: its will goes out now. */
	if (c->will != NULL && !c->normal_close) {
		if (c->will->pub.retain) {
			(void)rp__retain(c->b, c->will);
		}
		rp__route(c->b, c->will, NULL);
	}
	rp__msg_unref(c->will);
	c->will = NULL;
	/* Detach now: the new connection owns the session from here on. */
	if (c->s != NULL) {
		c->s->client = NULL;
		c->s = NULL;
	}
	if (c->io.close != NULL) {
		c->io.close(c->io.ctx);
	}
}

/* ---- PUBLISH from the client ------------------------------------------- */

static rp_status puback(rp_client *c, uint8_t type, uint16_t id, uint8_t rc)
{
	rp_mqtt_packet a;

	memset(&a, 0, sizeof(a));
	a.type = type;
	a.u.ack.packet_id = id;
	a.u.ack.reason_code = c->version == RP_MQTT_V5 ? rc : 0;
	return send_pkt(c, &a, NULL) == RP_OK ? RP_OK : close_with(c, 0);
}

/* Sends the answered acknowledgements at the head of the FIFO. */
static rp_status acks_flush(rp_client *c)
{
	rp_status st = RP_OK;

	while (c->acks_head != NULL && c->acks_head->done) {
		rp_ingest *t = c->acks_head;

		c->acks_head = t->next;
		if (c->acks_head == NULL) {
			c->acks_tail = NULL;
		}
		c->nacks--;
		if (st == RP_OK && c->state == CS_CONNECTED) {
			if (t->rc != 0 && c->version == RP_MQTT_V311) {
				st = close_with(c, 0); /* 3.1.1 cannot be told no */
			} else {
				st = puback(c, t->type, t->packet_id, t->rc);
			}
		}
		rp_free(NULL, t);
	}
	return st;
}

static void acks_push(rp_client *c, rp_ingest *t)
{
	t->next = NULL;
	if (c->acks_tail != NULL) {
		c->acks_tail->next = t;
	} else {
		c->acks_head = t;
	}
	c->acks_tail = t;
	c->nacks++;
}

/* An acknowledgement, in order behind those that wait for the store. */
static rp_status ack_in_order(rp_client *c, uint8_t type, uint16_t id, uint8_t rc)
{
	rp_ingest *t;

	if (c->acks_head == NULL) {
		return puback(c, type, id, rc);
	}
	t = rp_calloc(NULL, 1, sizeof(*t));
	if (t == NULL) {
		return close_with(c, RP_MQTT_RC_SERVER_BUSY);
	}
	t->c = c;
	t->packet_id = id;
	t->type = type;
	t->done = 1;
	t->rc = rc;
	acks_push(c, t);
	return RP_OK;
}

void rp_ingest_done(rp_ingest *t, uint8_t reason)
{
	rp_client *c = t->c;

	if (c == NULL) {
		rp_free(NULL, t); /* the client went away meanwhile */
		return;
	}
	t->done = 1;
	t->rc = reason;
	c->ingest_waiting--;
	if (acks_flush(c) != RP_OK && c->io.close != NULL) {
		c->io.close(c->io.ctx);
	}
}

/*
 * 1 if topic is one the ingestion hook takes from this client: a device's
 * own d/{id}/telemetry or d/{id}/cmd/{name}/result, name one non-empty
 * level (a PUBLISH topic has no wildcards: the codec checked).
 */
static int own_ingested(const rp_client *c, const rp_mqtt_str *topic)
{
	size_t idlen = strlen(c->who.id), rest;
	const uint8_t *r, *slash;

	if (strcmp(c->who.role, "device") != 0 || idlen == 0 || topic->len < idlen + 3u ||
	    memcmp(topic->p, "d/", 2) != 0 || memcmp(topic->p + 2, c->who.id, idlen) != 0) {
		return 0;
	}
	r = topic->p + 2 + idlen;
	rest = topic->len - 2u - idlen;
	if (rest == 10u && memcmp(r, "/telemetry", 10) == 0) {
		return 1;
	}
	/* "/cmd/" NAME "/result" */
	if (rest < 5u + 1u + 7u || memcmp(r, "/cmd/", 5) != 0 ||
	    memcmp(r + rest - 7u, "/result", 7) != 0) {
		return 0;
	}
	slash = memchr(r + 5, '/', rest - 5u);
	return slash == r + rest - 7u && slash > r + 5;
}

/*
 * Hands a device's telemetry or command result to the ingestion hook. Returns RP_OK (go
 * on; *deferred 1 if the PUBACK waits for the store), or the result of
 * refusing it (*refused 1).
 */
static rp_status ingest(rp_client *c, const rp_mqtt_publish *p, const rp_mqtt_str *topic,
			int *deferred, int *refused)
{
	rp_broker *b = c->b;
	rp_ingest *t = NULL;
	uint8_t rc = RP_MQTT_RC_IMPL_SPECIFIC;
	rp_status st;

	if (p->qos == 1) {
		t = rp_calloc(NULL, 1, sizeof(*t));
		if (t == NULL) {
			*refused = 1;
			return c->version == RP_MQTT_V5
				       ? ack_in_order(c, RP_MQTT_PUBACK, p->packet_id,
						      RP_MQTT_RC_SERVER_BUSY)
				       : close_with(c, 0);
		}
		t->c = c;
		t->packet_id = p->packet_id;
		t->type = RP_MQTT_PUBACK;
	}
	st = b->ingest(b->ingest_ctx, &c->who, topic->p, topic->len, p->payload.p, p->payload.len,
		       p->qos, t, &rc);
	if (st == RP_NEED_MORE && t != NULL) {
		acks_push(c, t);
		c->ingest_waiting++;
		*deferred = 1;
		return RP_OK;
	}
	rp_free(NULL, t);
	if (st == RP_OK || st == RP_NEED_MORE) {
		return RP_OK;
	}
	*refused = 1;
	if (rc == RP_MQTT_RC_PAYLOAD_FORMAT_INVALID) {
		id_ctr(c)->protocol_errors++;
		addr_ctr(c)->protocol_errors++;
		b->totals.protocol_errors++;
	}
	if (c->version == RP_MQTT_V311) {
		if (rc == RP_MQTT_RC_PAYLOAD_FORMAT_INVALID) {
			/* Acknowledged and dropped (counted, logged by the hook): closing
			 * would only make the device send the same broken pack forever. */
			return p->qos == 0
				       ? RP_OK
				       : ack_in_order(c,
						      p->qos == 1 ? RP_MQTT_PUBACK : RP_MQTT_PUBREC,
						      p->packet_id, 0);
		}
		return close_with(c, 0);
	}
	if (p->qos == 0) {
		return RP_OK;
	}
	return ack_in_order(c, p->qos == 1 ? RP_MQTT_PUBACK : RP_MQTT_PUBREC, p->packet_id, rc);
}

/* Resolves the topic of an MQTT 5 PUBLISH with a topic alias (3.3.2.3.4). */
static rp_status resolve_alias(rp_client *c, const rp_mqtt_publish *p, rp_mqtt_str *topic)
{
	uint16_t a = p->props.topic_alias;
	uint8_t *slot;

	if (!(p->props.present & RP_MQTT_HAS(RP_MQTT_PROP_TOPIC_ALIAS))) {
		*topic = p->topic;
		return RP_OK;
	}
	if (a > c->b->lim.topic_alias_max) {
		return RP_E_PROTOCOL; /* 0x94 below */
	}
	if (c->aliases == NULL) {
		c->aliases = rp_calloc(NULL, c->b->lim.topic_alias_max, sizeof(*c->aliases));
		if (c->aliases == NULL) {
			return RP_E_NOMEM;
		}
	}
	if (p->topic.len == 0) {
		slot = c->aliases[a - 1u];
		if (slot == NULL) {
			return RP_E_STATE; /* alias never set: Protocol Error */
		}
		topic->len = (uint32_t)(slot[0] << 8 | slot[1]);
		topic->p = slot + 2;
		return RP_OK;
	}
	slot = rp_realloc(NULL, c->aliases[a - 1u], 2u + p->topic.len);
	if (slot == NULL) {
		return RP_E_NOMEM;
	}
	slot[0] = (uint8_t)(p->topic.len >> 8);
	slot[1] = (uint8_t)p->topic.len;
	memcpy(slot + 2, p->topic.p, p->topic.len);
	c->aliases[a - 1u] = slot;
	*topic = p->topic;
	return RP_OK;
}

static int rx_qos2_has(const session *s, uint16_t id, uint16_t *at)
{
	uint16_t i;

	for (i = 0; i < s->nrx_qos2; i++) {
		if (s->rx_qos2[i] == id) {
			if (at != NULL) {
				*at = i;
			}
			return 1;
		}
	}
	return 0;
}

/*
 * The device's rates, before a PUBLISH of wire_len bytes is handled.
 * Returns RP_OK to go on, RP_NEED_MORE to leave the packet unread until
 * throttled_until, or RP_E_CLOSED (DISCONNECT 0x96) when the device has
 * been over its rate for longer than the grace period.
 */
static rp_status rate_check(rp_client *c, size_t wire_len, uint64_t now)
{
	uint32_t n = wire_len > UINT32_MAX ? UINT32_MAX : (uint32_t)wire_len;
	uint64_t wait = rp_bucket_wait_ms(&c->msg_rate, 1, now);
	uint64_t wait_bytes = rp_bucket_wait_ms(&c->byte_rate, n, now);

	if (wait_bytes > wait) {
		wait = wait_bytes;
	}
	if (wait == 0) {
		(void)rp_bucket_take(&c->msg_rate, 1, now);
		(void)rp_bucket_take(&c->byte_rate, n, now);
		/*
		 * Within its rate only if this packet did not have to wait: a
		 * flooding device, read one token at a time, stays "over".
		 */
		if (c->throttled_until == 0) {
			c->over_since_ms = 0;
		}
		c->throttled_until = 0;
		return RP_OK;
	}
	if (c->over_since_ms == 0) {
		c->over_since_ms = now;
	}
	if (now - c->over_since_ms >= c->b->lim.rate_grace_ms) {
		char id[80];

		id_ctr(c)->rate_exceeded++;
		c->b->totals.rate_exceeded++;
		rp_log(RP_LOG_INFO, "mqtt", "%s from %s over its rate for %u ms: disconnected",
		       rp_log_escape(id, sizeof(id), (const uint8_t *)c->who.id, strlen(c->who.id)),
		       c->who.addr, c->b->lim.rate_grace_ms);
		return close_with(c, RP_MQTT_RC_MESSAGE_RATE_TOO_HIGH);
	}
	/* Slowed first: nothing more is read from this device until then. */
	c->throttled_until = now + wait;
	return RP_NEED_MORE;
}

uint64_t rp_client_throttled_until(const rp_client *c)
{
	return c->throttled_until;
}

static rp_status handle_publish(rp_client *c, const rp_mqtt_publish *p, size_t wire_len)
{
	rp_broker *b = c->b;
	session *s = c->s;
	rp_mqtt_str topic;
	rp_msg *m;
	rp_status st;
	int deferred = 0;

	id_ctr(c)->msgs_in++;
	id_ctr(c)->bytes_in += wire_len;
	b->totals.msgs_in++;
	b->totals.bytes_in += wire_len;
	if (p->props.sub_id_count != 0) {
		return protocol_error(c, RP_E_PROTOCOL, "Subscription Identifier from a client");
	}
	st = resolve_alias(c, p, &topic);
	if (st == RP_E_PROTOCOL) {
		id_ctr(c)->protocol_errors++;
		return close_with(c, RP_MQTT_RC_TOPIC_ALIAS_INVALID);
	}
	if (st == RP_E_STATE) {
		return protocol_error(c, RP_E_PROTOCOL, "unknown topic alias");
	}
	if (st != RP_OK) {
		return close_with(c, RP_MQTT_RC_IMPL_SPECIFIC);
	}
	if (p->qos == 2 && rx_qos2_has(s, p->packet_id, NULL)) {
		/* A resent QoS 2 PUBLISH: acknowledge again, deliver once [MQTT-4.3.3-10]. */
		return puback(c, RP_MQTT_PUBREC, p->packet_id, 0);
	}
	if (p->qos == 2 && s->rx_qos2 == NULL) {
		s->rx_qos2 = rp_calloc(NULL, b->lim.receive_max, sizeof(*s->rx_qos2));
		if (s->rx_qos2 == NULL) {
			return close_with(c, RP_MQTT_RC_SERVER_BUSY);
		}
	}
	if (p->qos == 2 && s->nrx_qos2 >= b->lim.receive_max) {
		id_ctr(c)->protocol_errors++;
		return close_with(c, RP_MQTT_RC_RECEIVE_MAX_EXCEEDED); /* [MQTT-3.3.4-9] */
	}
	if (!rp_policy_may_publish(b->policy, c->who.role, (const uint8_t *)c->who.id,
				   strlen(c->who.id), topic.p, topic.len)) {
		count_acl_denied(c, &topic, "publish");
		if (c->version == RP_MQTT_V311) {
			/* [MQTT-3.3.5-2]: 3.1.1 cannot say no; the connection is closed. */
			return close_with(c, 0);
		}
		if (p->qos == 0) {
			return RP_OK;
		}
		return puback(c, p->qos == 1 ? RP_MQTT_PUBACK : RP_MQTT_PUBREC, p->packet_id,
			      RP_MQTT_RC_NOT_AUTHORIZED);
	}
	if (b->ingest != NULL && own_ingested(c, &topic)) {
		int refused = 0;

		st = ingest(c, p, &topic, &deferred, &refused);
		if (st != RP_OK || refused) {
			return st;
		}
	}
	m = rp__msg_new(p, &topic, b->now_ms);
	if (m == NULL) {
		if (p->qos == 0 || c->version == RP_MQTT_V311) {
			return p->qos == 0 ? RP_OK : close_with(c, 0);
		}
		return puback(c, p->qos == 1 ? RP_MQTT_PUBACK : RP_MQTT_PUBREC, p->packet_id,
			      RP_MQTT_RC_IMPL_SPECIFIC);
	}
	if (p->retain && (st = rp__retain(b, m)) != RP_OK) {
		char id[80];

		rp_log(RP_LOG_INFO, "broker", "retained message of %s not stored: %s",
		       rp_log_escape(id, sizeof(id), (const uint8_t *)c->who.id, strlen(c->who.id)),
		       st == RP_E_LIMIT ? "retained limit reached" : rp_status_str(st));
	}
	b->pressure = 0;
	rp__route(b, m, s);
	rp__msg_unref(m);
	if (b->pressure) {
		/*
		 * Back pressure: a subscriber's queue is filling up. The publisher
		 * is not read for a moment, so subscribers drain before the queue
		 * bound has to refuse anything.
		 */
		c->throttled_until = b->now_ms + BACKPRESSURE_PAUSE_MS;
	}
	if (p->qos == 1) {
		return deferred ? RP_OK : ack_in_order(c, RP_MQTT_PUBACK, p->packet_id, 0);
	}
	if (p->qos == 2) {
		s->rx_qos2[s->nrx_qos2++] = p->packet_id;
		rp__session_touch(b, s);
		return ack_in_order(c, RP_MQTT_PUBREC, p->packet_id, 0);
	}
	return RP_OK;
}

/* ---- acknowledgements from the client ---------------------------------- */

static delivery *inflight_find(rp_client *c, uint16_t id, uint8_t state)
{
	uint16_t i;

	if (c->s->inflight == NULL) {
		return NULL;
	}
	for (i = 0; i < c->b->lim.max_inflight; i++) {
		delivery *d = &c->s->inflight[i];

		if (d->msg != NULL && d->packet_id == id && d->state == state) {
			return d;
		}
	}
	return NULL;
}

static void inflight_done(rp_client *c, delivery *d)
{
	rp__msg_unref(d->msg);
	memset(d, 0, sizeof(*d));
	c->s->ninflight--;
	rp__session_touch(c->b, c->s);
	rp__client_pump(c);
}

static rp_status handle_ack(rp_client *c, const rp_mqtt_packet *pkt)
{
	const rp_mqtt_ack *a = &pkt->u.ack;
	delivery *d;

	switch (pkt->type) {
	case RP_MQTT_PUBACK:
		d = inflight_find(c, a->packet_id, DS_WAIT_ACK);
		if (d != NULL) {
			inflight_done(c, d);
		}
		return RP_OK;
	case RP_MQTT_PUBREC:
		d = inflight_find(c, a->packet_id, DS_WAIT_REC);
		if (d == NULL) {
			return puback(c, RP_MQTT_PUBREL, a->packet_id,
				      RP_MQTT_RC_PACKET_ID_NOT_FOUND);
		}
		if (a->reason_code >= 0x80u) {
			inflight_done(c, d); /* the receiver refused: the flow ends */
			return RP_OK;
		}
		d->state = DS_WAIT_COMP;
		rp__session_touch(c->b, c->s);
		return puback(c, RP_MQTT_PUBREL, a->packet_id, 0);
	case RP_MQTT_PUBCOMP:
		d = inflight_find(c, a->packet_id, DS_WAIT_COMP);
		if (d != NULL) {
			inflight_done(c, d);
		}
		return RP_OK;
	default: { /* PUBREL */
		uint16_t at;

		if (!rx_qos2_has(c->s, a->packet_id, &at)) {
			return puback(c, RP_MQTT_PUBCOMP, a->packet_id,
				      RP_MQTT_RC_PACKET_ID_NOT_FOUND);
		}
		c->s->rx_qos2[at] = c->s->rx_qos2[--c->s->nrx_qos2];
		rp__session_touch(c->b, c->s);
		return puback(c, RP_MQTT_PUBCOMP, a->packet_id, 0);
	}
	}
}

/* ---- SUBSCRIBE and UNSUBSCRIBE ----------------------------------------- */

/* Returns the SUBACK code; *existed tells whether it replaced a subscription. */
static uint8_t subscribe_one(rp_client *c, const rp_mqtt_sub_entry *e, uint32_t sub_id,
			     int *existed)
{
	rp_broker *b = c->b;
	rp_sub_opts o;
	rp_status st;

	if (!rp_policy_may_subscribe(b->policy, c->who.role, (const uint8_t *)c->who.id,
				     strlen(c->who.id), e->filter.p, e->filter.len)) {
		count_acl_denied(c, &e->filter, "subscribe");
		return c->version == RP_MQTT_V5 ? RP_MQTT_RC_NOT_AUTHORIZED : 0x80u;
	}
	memset(&o, 0, sizeof(o));
	o.qos = e->qos;
	o.no_local = e->no_local;
	o.retain_as_published = e->retain_as_published;
	o.retain_handling = e->retain_handling;
	o.sub_id = sub_id;
	*existed = 0;
	st = rp_tree_subscribe(b->tree, e->filter.p, e->filter.len, c->s, &o, existed);
	if (st != RP_OK) {
		return c->version == RP_MQTT_V5 ? RP_MQTT_RC_IMPL_SPECIFIC : 0x80u;
	}
	/* Replacing a subscription is always allowed; adding one only under the cap. */
	if (!*existed && rp_tree_subscriber_count(b->tree, c->s) > b->lim.max_subscriptions) {
		int gone = 0;

		(void)rp_tree_unsubscribe(b->tree, e->filter.p, e->filter.len, c->s, &gone);
		return c->version == RP_MQTT_V5 ? RP_MQTT_RC_QUOTA_EXCEEDED : 0x80u;
	}
	rp__session_touch(b, c->s);
	return e->qos; /* granted as asked: QoS 2 is supported */
}

static rp_status handle_subscribe(rp_client *c, const rp_mqtt_subscribe *sub)
{
	uint8_t codes[RP_LIMIT_MQTT_SUB_ENTRIES];
	uint8_t existed_before[RP_LIMIT_MQTT_SUB_ENTRIES];
	uint32_t sub_id = 0, cursor = 0;
	rp_mqtt_sub_entry e;
	rp_mqtt_packet ack;
	uint16_t n = 0;

	if (sub->props.sub_id_count != 0) {
		uint32_t pc = 0;

		(void)rp_mqtt_props_next(&sub->props, RP_MQTT_PROP_SUBSCRIPTION_ID, &pc, NULL, NULL,
					 &sub_id);
	}
	while (n < sub->count && rp_mqtt_sub_next(sub, 1, &cursor, &e)) {
		int existed = 0;

		/* Retain Handling 1 needs to know whether the subscription is new. */
		codes[n] = subscribe_one(c, &e, sub_id, &existed);
		existed_before[n] = (uint8_t)existed;
		n++;
	}
	memset(&ack, 0, sizeof(ack));
	ack.type = RP_MQTT_SUBACK;
	ack.u.suback.packet_id = sub->packet_id;
	ack.u.suback.count = n;
	ack.u.suback.reason_codes = codes;
	if (send_pkt(c, &ack, NULL) != RP_OK) {
		return close_with(c, 0);
	}
	/* Retained messages after the SUBACK, for non-shared granted subscriptions. */
	cursor = 0;
	for (uint16_t i = 0; i < n && rp_mqtt_sub_next(sub, 1, &cursor, &e); i++) {
		rp_sub_opts o;

		if (codes[i] >= 0x80u || e.retain_handling == 2u ||
		    rp_mqtt_topic_shared_split(e.filter.p, e.filter.len, NULL, NULL)) {
			continue;
		}
		if (e.retain_handling == 1u && existed_before[i]) {
			continue;
		}
		memset(&o, 0, sizeof(o));
		o.qos = e.qos;
		o.sub_id = sub_id;
		rp__send_retained(c->b, c->s, e.filter.p, e.filter.len, &o);
	}
	return RP_OK;
}

static rp_status handle_unsubscribe(rp_client *c, const rp_mqtt_subscribe *uns)
{
	uint8_t codes[RP_LIMIT_MQTT_SUB_ENTRIES];
	uint32_t cursor = 0;
	rp_mqtt_sub_entry e;
	rp_mqtt_packet ack;
	uint16_t n = 0;

	while (n < uns->count && rp_mqtt_sub_next(uns, 0, &cursor, &e)) {
		int existed = 0;

		if (rp_tree_unsubscribe(c->b->tree, e.filter.p, e.filter.len, c->s, &existed) !=
		    RP_OK) {
			codes[n++] = RP_MQTT_RC_IMPL_SPECIFIC;
			continue;
		}
		if (existed) {
			rp__session_touch(c->b, c->s);
		}
		codes[n++] = existed ? 0u : RP_MQTT_RC_NO_SUBSCRIPTION_EXISTED;
	}
	memset(&ack, 0, sizeof(ack));
	ack.type = RP_MQTT_UNSUBACK;
	ack.u.suback.packet_id = uns->packet_id;
	if (c->version == RP_MQTT_V5) {
		ack.u.suback.count = n;
		ack.u.suback.reason_codes = codes;
	}
	return send_pkt(c, &ack, NULL) == RP_OK ? RP_OK : close_with(c, 0);
}

/* ---- dispatch ---------------------------------------------------------- */

static rp_status handle_disconnect(rp_client *c, const rp_mqtt_disconnect *d)
{
	if (c->version == RP_MQTT_V5 &&
	    (d->props.present & RP_MQTT_HAS(RP_MQTT_PROP_SESSION_EXPIRY))) {
		/* [MQTT-3.14.2-2]: 0 at CONNECT cannot become non-zero. */
		if (c->s->expiry_s == 0 && d->props.session_expiry != 0) {
			return protocol_error(c, RP_E_PROTOCOL, "session expiry set at DISCONNECT");
		}
		c->s->expiry_s = d->props.session_expiry < c->b->lim.session_expiry_max
					 ? d->props.session_expiry
					 : c->b->lim.session_expiry_max;
		rp__session_touch(c->b, c->s);
	}
	/* 0x04 asks for the will; anything else from the client discards it. */
	c->normal_close = d->reason_code != RP_MQTT_RC_DISCONNECT_WITH_WILL;
	c->state = CS_CLOSING;
	return RP_E_CLOSED;
}

static rp_status handle_packet(rp_client *c, const rp_mqtt_packet *pkt, size_t wire_len)
{
	rp_mqtt_packet resp;

	switch (pkt->type) {
	case RP_MQTT_PUBLISH:
		return handle_publish(c, &pkt->u.publish, wire_len);
	case RP_MQTT_PUBACK:
	case RP_MQTT_PUBREC:
	case RP_MQTT_PUBREL:
	case RP_MQTT_PUBCOMP:
		return handle_ack(c, pkt);
	case RP_MQTT_SUBSCRIBE:
		return handle_subscribe(c, &pkt->u.subscribe);
	case RP_MQTT_UNSUBSCRIBE:
		return handle_unsubscribe(c, &pkt->u.subscribe);
	case RP_MQTT_PINGREQ:
		memset(&resp, 0, sizeof(resp));
		resp.type = RP_MQTT_PINGRESP;
		return send_pkt(c, &resp, NULL) == RP_OK ? RP_OK : close_with(c, 0);
	case RP_MQTT_DISCONNECT:
		return handle_disconnect(c, &pkt->u.disconnect);
	default:
		/* A second CONNECT [MQTT-3.1.0-2], AUTH without enhanced auth, or a
		 * packet only a server sends. */
		return protocol_error(c, RP_E_PROTOCOL, rp_mqtt_type_str(pkt->type));
	}
}

/* The protocol level of a CONNECT that failed to decode, if readable. */
static uint8_t peek_connect_version(const uint8_t *buf, size_t len)
{
	rp_mqtt_frame f;
	size_t need;

	if (rp_mqtt_frame_parse(buf, len, 0, RP_MQTT_VBI_MAX, &f, &need) != RP_OK && len < 2u) {
		return 0;
	}
	/* Remaining length bytes, then 00 04 'M' 'Q' 'T' 'T' level. */
	for (size_t i = 1; i < len && i < 5u; i++) {
		if ((buf[i] & 0x80u) == 0) {
			size_t at = i + 1u + 6u;

			return at < len ? buf[at] : 0;
		}
	}
	return 0;
}

rp_status rp_client_input(rp_client *c, const uint8_t *buf, size_t len, size_t *used,
			  uint64_t now_ms)
{
	size_t pos = 0;
	rp_status st = RP_OK;

	*used = 0;
	c->b->now_ms = now_ms;
	if (c->state == CS_CLOSING) {
		*used = len; /* closing: input is ignored */
		return RP_E_CLOSED;
	}
	if (len > 0) {
		c->last_rx_ms = now_ms;
	}
	while (pos < len && c->state != CS_CLOSING) {
		rp_mqtt_packet pkt;
		size_t n = 0;

		if (c->state == CS_WAIT_CONNECT && (buf[pos] >> 4) != RP_MQTT_CONNECT) {
			/* [MQTT-3.1.0-1]: the first packet must be CONNECT; judged on byte one. */
			st = protocol_error(c, RP_E_PROTOCOL, "first packet is not CONNECT");
			break;
		}
		st = rp_mqtt_decode(buf + pos, len - pos, c->version, &c->lim, &pkt, &n);
		if (st == RP_NEED_MORE) {
			st = RP_OK;
			break;
		}
		if (st != RP_OK) {
			if (c->state == CS_WAIT_CONNECT) {
				uint8_t v = peek_connect_version(buf + pos, len - pos);

				id_ctr(c)->protocol_errors++;
				c->b->totals.protocol_errors++;
				if (st == RP_E_PROTOCOL_VERSION || v == RP_MQTT_V5) {
					st = refuse_connect(c, v, rp_mqtt_reason_for(st),
							    RP_MQTT311_CONNACK_BAD_VERSION,
							    rp_status_str(st));
				} else {
					st = protocol_error(c, st, "CONNECT");
				}
				break;
			}
			st = protocol_error(c, st, "packet");
			break;
		}
		if (pkt.type == RP_MQTT_PUBLISH && c->state == CS_CONNECTED) {
			st = rate_check(c, n, now_ms);
			if (st == RP_NEED_MORE) {
				st = RP_OK; /* the packet stays unread */
				break;
			}
			if (st != RP_OK) {
				break;
			}
			if (pkt.u.publish.qos > 0 && c->nacks >= c->b->lim.receive_max) {
				/* Its acknowledgements wait for the store and fill the window. */
				if (c->version == RP_MQTT_V5) {
					id_ctr(c)->protocol_errors++;
					st = close_with(c, RP_MQTT_RC_RECEIVE_MAX_EXCEEDED);
					break;
				}
				c->throttled_until =
					now_ms + 1u; /* 3.1.1: unread until one completes */
				st = RP_OK;
				break;
			}
		}
		pos += n;
		if (c->state == CS_WAIT_CONNECT) {
			st = handle_connect(c, &pkt.u.connect);
		} else {
			st = handle_packet(c, &pkt, n);
		}
		if (st != RP_OK || c->throttled_until > now_ms) {
			break; /* closing, or slowed: the rest waits */
		}
	}
	*used = c->state == CS_CLOSING ? len : pos;
	return c->state == CS_CLOSING ? RP_E_CLOSED : st;
}

/* ---- lifecycle --------------------------------------------------------- */

/* Copies the n bytes of s to *p as a text; returns the copy. */
static const char *put_text(char **p, const char *s, size_t n, size_t room)
{
	char *t = *p;

	memcpy(t, s, n);
	t[n] = '\0';
	*p += room;
	return t;
}

rp_client *rp_client_new(rp_broker *b, const rp_identity *who, const rp_client_io *io,
			 uint64_t now_ms)
{
	const char *id = who->id != NULL ? who->id : "";
	const char *role = who->role != NULL ? who->role : "";
	const char *addr = who->addr != NULL ? who->addr : "";
	size_t id_len = strnlen(id, RP_LIMIT_MQTT_CLIENT_ID_LEN);
	size_t role_len = strnlen(role, RP_IDENTITY_ROLE_MAX);
	size_t addr_len = strnlen(addr, RP_IDENTITY_ADDR_MAX);
	size_t id_room = id_len > 0 ? id_len + 1u : RP_LIMIT_MQTT_CLIENT_ID_LEN + 1u;
	rp_client *c = rp_calloc(NULL, 1, sizeof(*c) + id_room + role_len + 1u + addr_len + 1u);
	char *p;

	if (c == NULL) {
		return NULL;
	}
	c->b = b;
	p = c->text;
	c->who.id = put_text(&p, id, id_len, id_room);
	c->who.role = put_text(&p, role, role_len, role_len + 1u);
	c->who.addr = put_text(&p, addr, addr_len, addr_len + 1u);
	if (io != NULL) {
		c->io = *io;
	}
	c->state = CS_WAIT_CONNECT;
	c->out_max_packet = RP_MQTT_VBI_MAX + 5u;
	c->lim = b->lim.mqtt;
	c->lim.max_packet = b->lim.max_packet_preauth;
	c->last_rx_ms = now_ms;
	c->connect_deadline_ms = now_ms + b->lim.connect_timeout_ms;
	b->now_ms = now_ms;
	if (strcmp(c->who.role, "device") == 0) {
		rp_bucket_init(&c->msg_rate, b->lim.device_msg_rate, b->lim.device_msg_burst,
			       now_ms);
		rp_bucket_init(&c->byte_rate, b->lim.device_byte_rate, b->lim.device_byte_burst,
			       now_ms);
	} else {
		rp_bucket_init(&c->msg_rate, 0, 0, now_ms);
		rp_bucket_init(&c->byte_rate, 0, 0, now_ms);
	}
	return c;
}

int rp_client_connected(const rp_client *c)
{
	return c->state == CS_CONNECTED;
}

uint8_t rp_client_version(const rp_client *c)
{
	return c->version;
}

uint32_t rp_client_max_packet(const rp_client *c)
{
	return c->lim.max_packet;
}

rp_status rp_client_tick(rp_client *c, uint64_t now_ms, uint64_t *next_ms)
{
	uint64_t limit;

	c->b->now_ms = now_ms;
	if (c->state == CS_WAIT_CONNECT) {
		*next_ms = c->connect_deadline_ms;
		if (now_ms >= c->connect_deadline_ms) {
			c->state = CS_CLOSING;
			return RP_E_CLOSED;
		}
		return RP_OK;
	}
	if (c->state != CS_CONNECTED) {
		*next_ms = now_ms + 1000u;
		return RP_E_CLOSED;
	}
	/* [MQTT-3.1.2-24]: one and a half keep alive periods without a packet. */
	limit = (uint64_t)c->keepalive_s * 1500u;
	*next_ms = c->last_rx_ms + limit;
	if (now_ms - c->last_rx_ms >= limit) {
		return close_with(c, RP_MQTT_RC_KEEPALIVE_TIMEOUT);
	}
	return RP_OK;
}

void rp_client_closed(rp_client *c, uint64_t now_ms)
{
	rp_broker *b = c->b;
	session *s = c->s;

	b->now_ms = now_ms;
	c->state = CS_CLOSING;
	/* Waiting acknowledgements: the store's answers find no client. */
	while (c->acks_head != NULL) {
		rp_ingest *t = c->acks_head;

		c->acks_head = t->next;
		if (t->done) {
			rp_free(NULL, t);
		} else {
			t->c = NULL;
		}
	}
	c->acks_tail = NULL;
	c->ingest_waiting = 0;
	c->nacks = 0;
	if (s == NULL) {
		rp__msg_unref(c->will);
		c->will = NULL;
		return;
	}
	s->client = NULL;
	c->s = NULL;
	/* Queued QoS 0 is for the connection, not the session. */
	if (c->will != NULL && !c->normal_close) {
		if (c->will_delay_s == 0 || s->expiry_s == 0) {
			if (c->will->pub.retain) {
				(void)rp__retain(b, c->will);
			}
			rp__route(b, c->will, NULL);
			rp__msg_unref(c->will);
		} else {
			rp__msg_unref(s->will);
			s->will = c->will;
			s->will_at_ms = now_ms + (uint64_t)c->will_delay_s * 1000u;
		}
	} else {
		rp__msg_unref(c->will);
	}
	c->will = NULL;
	s->offline_since_ms = now_ms;
	if (s->expiry_s == 0) {
		rp__session_end(b, s);
	} else {
		rp__session_touch(b, s); /* its expiry now runs */
	}
}

void rp_client_free(rp_client *c)
{
	if (c == NULL) {
		return;
	}
	if (c->aliases != NULL) {
		for (uint16_t i = 0; i < c->b->lim.topic_alias_max; i++) {
			rp_free(NULL, c->aliases[i]);
		}
		rp_free(NULL, c->aliases);
	}
	rp__msg_unref(c->will);
	rp_free(NULL, c->out);
	rp_free(NULL, c);
}
