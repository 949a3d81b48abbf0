/*
 * session_blob.c - persistent sessions that outlive the process: the dirty
 * list, the flush through the session hook, and the blob (serialise,
 * restore). docs/broker.md ("Persistent sessions across restarts") has the
 * format and the guarantees.
 *
 * State
 * - A session whose durable state changed since it was last written is on
 *   the broker's dirty list (b->dirty_head .. dirty_tail, oldest change
 *   first, each session at most once: s->dirty). rp__session_touch() is
 *   O(1), so a QoS 1 delivery to a persistent session costs a flag test,
 *   not a database write; rp_broker_flush_sessions(), on a timer of the
 *   network half, takes sessions off the list and writes each once.
 * - s->stored: the store may hold a row of s's client id, so the row is
 *   deleted (through the hook) when s ends or stops being persistent.
 *
 * Invariants
 * - s->dirty == 1 <=> s is on the list; b->ndirty is the list's length.
 * - A blob holds every subscription (they always fit: a compile-time
 *   check below) and a prefix, oldest first, of the QoS 1/2 messages.
 *
 * Attacker
 * - The blob comes back from a database. Whoever can write there could
 *   hand the broker anything, so a blob is untrusted input: each length
 *   read from it is checked against the bytes left (written as
 *   `n > left`, which cannot wrap), each count against its hard cap in
 *   rampart/limits.h, each PUBLISH is decoded strictly by the codec under
 *   the hard caps, each filter goes through the codec's and the tree's
 *   checks, and the client id must be one the stored identity may use
 *   (the rule of CONNECT). The verdict starts as RP_E_MALFORMED and turns
 *   to RP_OK only after the last byte was read; any fault ends the half
 *   built session again, so the broker is left as it was.
 * - The current policy and configuration still apply: a subscription the
 *   policy no longer grants, and what lowered caps no longer hold, are
 *   dropped and counted, not refused, so a policy change cannot make a
 *   fleet's sessions vanish at the next restart.
 */
#include <string.h>

#include "broker/internal.h"
#include "util/log.h"

#define MAGIC     "RPS\001" /* "Rampart persistent session", format 1 */
#define MAGIC_LEN 4u

/* Message states in the blob; the in-flight ones are the delivery states. */
enum { REC_QUEUED = 0, REC_WAIT_ACK = 1, REC_WAIT_REC = 2, REC_WAIT_COMP = 3 };
_Static_assert((int)REC_WAIT_ACK == (int)DS_WAIT_ACK && (int)REC_WAIT_REC == (int)DS_WAIT_REC &&
		       (int)REC_WAIT_COMP == (int)DS_WAIT_COMP,
	       "blob states are delivery states");

#define SUB_ID_MAX 268435455u /* MQTT 5 variable byte integer range, 1 .. */

/* Record sizes: the header at its largest, one subscription, one message without its PUBLISH. */
#define HEAD_MAX                                                                                   \
	(MAGIC_LEN + 1u + 1u + 4u + 1u + RP_LIMIT_MQTT_CLIENT_ID_LEN + 1u +                        \
	 RP_LIMIT_MQTT_CLIENT_ID_LEN + 1u + RP_IDENTITY_ROLE_MAX + 2u)
#define SUB_REC(filter_len) (2u + (filter_len) + 1u + 4u)
#define MSG_REC_FIXED       (1u + 1u + 1u + 2u + 4u + 4u)
#define MAX_MSGS            (RP_LIMIT_BROKER_INFLIGHT + RP_LIMIT_BROKER_QUEUED_MESSAGES)

/*
 * At the hard caps, every subscription, every QoS 2 id and the largest
 * message fit one blob: so a session always keeps its subscriptions and
 * at least its oldest message; only later messages can be left out.
 */
_Static_assert(HEAD_MAX + 2u + RP_LIMIT_BROKER_SUBSCRIPTIONS * SUB_REC(RP_LIMIT_MQTT_TOPIC_LEN) +
			       2u + 2u * RP_LIMIT_BROKER_INFLIGHT + 4u + MSG_REC_FIXED +
			       RP_LIMIT_MQTT_PACKET <=
		       RP_LIMIT_STORE_SESSION_LEN,
	       "a session's subscriptions and its oldest message fit one stored session");
_Static_assert(RP_LIMIT_MQTT_CLIENT_ID_LEN <= 255u && RP_IDENTITY_ROLE_MAX <= 255u,
	       "one length byte");
_Static_assert(RP_LIMIT_BROKER_SUBSCRIPTIONS <= 65535u && RP_LIMIT_BROKER_INFLIGHT <= 65535u,
	       "two count bytes");

/* "not kept for a restart" at most once a minute per session. */
#define CUT_LOG_MS 60000u

/* ---- the dirty list ---------------------------------------------------- */

static void dirty_unlink(rp_broker *b, session *s)
{
	if (s->dirty_prev != NULL) {
		s->dirty_prev->dirty_next = s->dirty_next;
	} else {
		b->dirty_head = s->dirty_next;
	}
	if (s->dirty_next != NULL) {
		s->dirty_next->dirty_prev = s->dirty_prev;
	} else {
		b->dirty_tail = s->dirty_prev;
	}
	s->dirty_prev = s->dirty_next = NULL;
	s->dirty = 0;
	b->ndirty--;
}

/* Back at the head: a write the store could not take yet keeps its turn. */
static void dirty_push_head(rp_broker *b, session *s)
{
	s->dirty = 1;
	s->dirty_prev = NULL;
	s->dirty_next = b->dirty_head;
	if (b->dirty_head != NULL) {
		b->dirty_head->dirty_prev = s;
	} else {
		b->dirty_tail = s;
	}
	b->dirty_head = s;
	b->ndirty++;
}

void rp__session_touch(rp_broker *b, session *s)
{
	if (s->dirty || (s->expiry_s == 0 && !s->stored)) {
		return;
	}
	s->dirty = 1;
	s->dirty_next = NULL;
	s->dirty_prev = b->dirty_tail;
	if (b->dirty_tail != NULL) {
		b->dirty_tail->dirty_next = s;
	} else {
		b->dirty_head = s;
	}
	b->dirty_tail = s;
	b->ndirty++;
}

void rp__session_forget(rp_broker *b, session *s)
{
	if (s->dirty) {
		dirty_unlink(b, s);
	}
	if (s->stored && b->session_hook != NULL && !b->restoring) {
		/* A refused delete is the hook's to keep (broker.h); nothing to retry here. */
		(void)b->session_hook(b->session_ctx, rp__session_client_id(s), s->client_id_len,
				      NULL, 0, 0);
	}
	s->stored = 0;
}

void rp_broker_set_session_hook(rp_broker *b, rp_session_fn fn, void *ctx)
{
	b->session_hook = fn;
	b->session_ctx = ctx;
}

size_t rp_broker_dirty_sessions(const rp_broker *b)
{
	return b->ndirty;
}

/* ---- writing ------------------------------------------------------------ */

/*
 * A bounded writer. With p NULL it only counts (the size-first pass);
 * otherwise a write past cap sets `over` and writes nothing more.
 */
typedef struct wbuf {
	uint8_t *p;
	size_t len, cap;
	int over;
} wbuf;

static void put(wbuf *w, const void *src, size_t n)
{
	if (w->p != NULL) {
		if (w->over || n > w->cap - w->len) {
			w->over = 1;
			return;
		}
		if (n != 0) {
			memcpy(w->p + w->len, src, n);
		}
	}
	w->len += n;
}

static void put_u8(wbuf *w, uint8_t v)
{
	put(w, &v, 1);
}

static void put_u16(wbuf *w, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	put(w, b, 2);
}

static void put_u32(wbuf *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	put(w, b, 4);
}

/* Every codec limit at its hard cap: what the broker once accepted, it can read back. */
static void hard_limits(rp_mqtt_limits *lim)
{
	rp_mqtt_limits_default(lim);
	lim->max_packet = RP_LIMIT_MQTT_PACKET;
	lim->max_topic_len = RP_LIMIT_MQTT_TOPIC_LEN;
	lim->max_topic_levels = RP_LIMIT_MQTT_TOPIC_LEVELS;
	lim->max_user_props = RP_LIMIT_MQTT_USER_PROPS;
	lim->max_sub_entries = RP_LIMIT_MQTT_SUB_ENTRIES;
	lim->max_sub_ids = RP_LIMIT_MQTT_SUB_IDS;
}

typedef struct subs_ctx {
	wbuf *w;
	uint16_t n;
} subs_ctx;

static void put_sub(void *ctx, const uint8_t *filter, size_t len, const rp_sub_opts *o)
{
	subs_ctx *sc = ctx;

	put_u16(sc->w, (uint16_t)len);
	put(sc->w, filter, len);
	put_u8(sc->w, (uint8_t)(o->qos | o->no_local << 2 | o->retain_as_published << 3 |
				o->retain_handling << 4));
	put_u32(sc->w, o->sub_id);
	sc->n++;
}

/* Header, subscriptions and QoS 2 ids, then the message count. */
static void put_head(rp_broker *b, const session *s, wbuf *w, uint32_t nmsgs)
{
	size_t at;
	subs_ctx sc = {w, 0};

	put(w, MAGIC, MAGIC_LEN);
	put_u8(w, s->version);
	put_u8(w, 0); /* flags: none defined */
	put_u32(w, s->expiry_s);
	put_u8(w, s->client_id_len);
	put(w, rp__session_client_id(s), s->client_id_len);
	put_u8(w, s->id_len);
	put(w, rp__session_client_id(s), s->id_len);
	put_u8(w, s->role_len);
	put(w, rp__session_role(s), s->role_len);
	put_u16(w, s->next_packet_id);
	at = w->len;
	put_u16(w, 0); /* the count, once known */
	(void)rp_tree_subscriptions(b->tree, s, put_sub, &sc);
	if (w->p != NULL && !w->over) {
		w->p[at] = (uint8_t)(sc.n >> 8);
		w->p[at + 1u] = (uint8_t)sc.n;
	}
	put_u16(w, s->nrx_qos2);
	for (uint16_t i = 0; i < s->nrx_qos2; i++) {
		put_u16(w, s->rx_qos2[i]);
	}
	put_u32(w, nmsgs);
}

/* The PUBLISH of d as stored: the message as published, its time left. */
static void msg_packet(const delivery *d, uint64_t now_ms, rp_mqtt_packet *pkt)
{
	rp_mqtt_publish *p = &pkt->u.publish;
	const rp_msg *m = d->msg;

	memset(pkt, 0, sizeof(*pkt));
	pkt->type = RP_MQTT_PUBLISH;
	*p = m->pub;
	p->dup = 0;
	p->packet_id = p->qos > 0 ? 1u : 0u; /* the delivery's own id is in the record */
	p->props.sub_ids = NULL;
	p->props.sub_id_count = 0;
	p->props.present &= ~RP_MQTT_HAS(RP_MQTT_PROP_TOPIC_ALIAS);
	if (p->props.present & RP_MQTT_HAS(RP_MQTT_PROP_MESSAGE_EXPIRY)) {
		uint64_t gone_s = (now_ms - m->created_ms) / 1000u;

		p->props.message_expiry = gone_s >= p->props.message_expiry
						  ? 1u
						  : p->props.message_expiry - (uint32_t)gone_s;
	}
}

/* The messages of a session in blob order: in flight (in the order sent), then the queue. */
typedef struct msg_iter {
	const delivery **fl;
	size_t nfl, i;
	const delivery *q;
} msg_iter;

/*
 * Where an in-flight packet id stands in the order ids were taken: each
 * new id is ++next_packet_id (client.c), so the newest maps to 65535 and
 * older ones below it, wrapping included. Ascending is oldest first.
 */
static uint16_t id_rank(const session *s, uint16_t id)
{
	return (uint16_t)(id - s->next_packet_id - 1u);
}

/* The in-flight deliveries into fl, oldest first; returns how many. */
static size_t inflight_sorted(const rp_broker *b, const session *s, const delivery **fl)
{
	size_t n = 0, j;

	for (uint16_t i = 0; s->inflight != NULL && i < b->lim.max_inflight; i++) {
		const delivery *d = &s->inflight[i];

		if (d->msg == NULL) {
			continue;
		}
		/* Insertion sort: at most max_inflight entries, once per flush. */
		for (j = n++; j > 0 && id_rank(s, fl[j - 1u]->packet_id) > id_rank(s, d->packet_id);
		     j--) {
			fl[j] = fl[j - 1u];
		}
		fl[j] = d;
	}
	return n;
}

/*
 * The next message worth keeping, with its record state: in-flight ones
 * always (the client may hold them), queued ones at QoS 1/2 and not
 * expired. NULL at the end.
 */
static const delivery *msg_next(msg_iter *it, uint64_t now_ms, uint8_t *state)
{
	if (it->i < it->nfl) {
		const delivery *d = it->fl[it->i++];

		*state = d->state;
		return d;
	}
	while (it->q != NULL) {
		const delivery *d = it->q;

		it->q = d->next;
		if (d->qos > 0 && !rp__msg_expired(d->msg, now_ms)) {
			*state = REC_QUEUED;
			return d;
		}
	}
	return NULL;
}

/* A message record up to its PUBLISH, which is encoded in place after it. */
static void put_msg_head(wbuf *w, const delivery *d, uint8_t state, size_t pkt_len)
{
	put_u8(w, state);
	put_u8(w, d->qos);
	put_u8(w, d->retain);
	put_u16(w, state == REC_QUEUED ? 0 : d->packet_id);
	put_u32(w, d->sub_id);
	put_u32(w, (uint32_t)pkt_len);
}

rp_status rp__session_serialise(rp_broker *b, const session *s, uint64_t now_ms, uint8_t **out,
				size_t *out_len, size_t *cut, size_t *cut_bytes)
{
	const delivery **fl = NULL;
	const delivery *d;
	rp_mqtt_limits lim;
	rp_mqtt_packet pkt;
	msg_iter it;
	wbuf w;
	size_t total, size, ncut = 0, cutb = 0, nfl = 0;
	uint32_t nmsgs = 0, written = 0;
	uint8_t state;
	int full = 0;
	rp_status st = RP_E_NOMEM;

	*out = NULL;
	*out_len = 0;
	hard_limits(&lim);
	if (s->ninflight > 0 && s->inflight != NULL) {
		fl = rp_alloc(NULL, (size_t)b->lim.max_inflight * sizeof(*fl));
		if (fl == NULL) {
			goto out;
		}
		nfl = inflight_sorted(b, s, fl);
	}

	/* Size first: the head, then messages oldest first while the blob stays within its cap. */
	memset(&w, 0, sizeof(w));
	put_head(b, s, &w, 0);
	total = w.len;
	it = (msg_iter){fl, nfl, 0, s->q_head};
	while ((d = msg_next(&it, now_ms, &state)) != NULL) {
		msg_packet(d, now_ms, &pkt);
		if (rp_mqtt_encoded_size(&pkt, RP_MQTT_V5, &lim, &size) != RP_OK) {
			ncut++; /* not a message the codec can write again: cannot happen */
			continue;
		}
		if (full || MSG_REC_FIXED + size > RP_LIMIT_STORE_SESSION_LEN - total) {
			/* A prefix, not the ones that happen to fit: no gap in the order. */
			full = 1;
			ncut++;
			cutb += size;
			continue;
		}
		total += MSG_REC_FIXED + size;
		nmsgs++;
	}

	w = (wbuf){rp_alloc(NULL, total), 0, total, 0};
	if (w.p == NULL) {
		goto out;
	}
	put_head(b, s, &w, nmsgs);
	it = (msg_iter){fl, nfl, 0, s->q_head};
	while (!w.over && written < nmsgs && (d = msg_next(&it, now_ms, &state)) != NULL) {
		size_t n = 0;

		msg_packet(d, now_ms, &pkt);
		if (rp_mqtt_encoded_size(&pkt, RP_MQTT_V5, &lim, &size) != RP_OK) {
			continue; /* skipped when sizing too */
		}
		put_msg_head(&w, d, state, size);
		if (w.over || rp_mqtt_encode(&pkt, RP_MQTT_V5, &lim, w.p + w.len, w.cap - w.len,
					     &n) != RP_OK) {
			w.over = 1;
			break;
		}
		w.len += n;
		written++;
	}
	if (w.over || written != nmsgs || w.len != total) {
		rp_free(NULL, w.p);
		st = RP_E_INTERNAL; /* the two passes disagree: a bug */
		goto out;
	}
	*out = w.p;
	*out_len = w.len;
	st = RP_OK;
out:
	if (cut != NULL) {
		*cut = ncut;
	}
	if (cut_bytes != NULL) {
		*cut_bytes = cutb;
	}
	rp_free(NULL, fl);
	return st;
}

/* How long s outlives its client from now; UINT64_MAX while connected. */
static uint64_t expires_in(const session *s, uint64_t now_ms)
{
	uint64_t total = (uint64_t)s->expiry_s * 1000u, gone;

	if (s->client != NULL) {
		return UINT64_MAX;
	}
	gone = now_ms > s->offline_since_ms ? now_ms - s->offline_since_ms : 0;
	return gone >= total ? 0 : total - gone;
}

static void log_cut(session *s, size_t cut, size_t bytes, uint64_t now_ms)
{
	char id[80];

	if (s->cut_log_ms != 0 && now_ms - s->cut_log_ms < CUT_LOG_MS) {
		return;
	}
	rp_log(RP_LOG_WARN, "broker",
	       "session %s: the newest %zu queued QoS 1/2 message(s) (%zu bytes) are not kept "
	       "for a restart: a stored session holds at most %u bytes",
	       rp_log_escape(id, sizeof(id), (const uint8_t *)rp__session_client_id(s),
			     s->client_id_len),
	       cut, bytes, (unsigned)RP_LIMIT_STORE_SESSION_LEN);
	s->cut_log_ms = now_ms != 0 ? now_ms : 1u;
}

rp_status rp_broker_flush_sessions(rp_broker *b, uint64_t now_ms, size_t max_bytes)
{
	size_t sent = 0;

	b->now_ms = now_ms;
	while (b->dirty_head != NULL) {
		session *s = b->dirty_head;
		uint8_t *blob = NULL;
		size_t len = 0, cut = 0, cut_bytes = 0;
		rp_status st;

		if (max_bytes != 0 && sent >= max_bytes) {
			return RP_NEED_MORE;
		}
		dirty_unlink(b, s);
		if (b->session_hook == NULL) {
			continue;
		}
		if (s->expiry_s == 0) {
			/* No longer persistent (MQTT 5 expiry 0 at CONNECT or DISCONNECT). */
			if (s->stored) {
				st = b->session_hook(b->session_ctx, rp__session_client_id(s),
						     s->client_id_len, NULL, 0, 0);
				if (st == RP_E_BUSY) {
					dirty_push_head(b, s);
					return RP_E_BUSY;
				}
				s->stored = 0;
			}
			continue;
		}
		st = rp__session_serialise(b, s, now_ms, &blob, &len, &cut, &cut_bytes);
		if (st != RP_OK) {
			char id[80];

			rp_log(RP_LOG_ERROR, "broker", "session %s not written: %s",
			       rp_log_escape(id, sizeof(id),
					     (const uint8_t *)rp__session_client_id(s),
					     s->client_id_len),
			       rp_status_str(st));
			dirty_push_head(b, s); /* its turn again at the next flush */
			return st;
		}
		if (cut > 0) {
			log_cut(s, cut, cut_bytes, now_ms);
		}
		st = b->session_hook(b->session_ctx, rp__session_client_id(s), s->client_id_len,
				     blob, len, expires_in(s, now_ms));
		rp_free(NULL, blob);
		if (st == RP_E_BUSY) {
			dirty_push_head(b, s);
			return RP_E_BUSY;
		}
		/* Even when the hook gave up: a row may exist, and deleting none is harmless. */
		s->stored = 1;
		sent += len;
	}
	return RP_OK;
}

/* ---- reading ------------------------------------------------------------ */

/* A reader over the blob; off <= len always, so `len - off` cannot wrap. */
typedef struct rbuf {
	const uint8_t *p;
	size_t len, off;
} rbuf;

/* A view of the next n bytes (n read from the blob: untrusted). */
static int get_view(rbuf *r, size_t n, const uint8_t **v)
{
	if (n > r->len - r->off) {
		return 0;
	}
	*v = r->p + r->off;
	r->off += n;
	return 1;
}

static int get_u8(rbuf *r, uint8_t *v)
{
	const uint8_t *p;

	if (!get_view(r, 1, &p)) {
		return 0;
	}
	*v = p[0];
	return 1;
}

static int get_u16(rbuf *r, uint16_t *v)
{
	const uint8_t *p;

	if (!get_view(r, 2, &p)) {
		return 0;
	}
	*v = (uint16_t)(p[0] << 8 | p[1]);
	return 1;
}

static int get_u32(rbuf *r, uint32_t *v)
{
	const uint8_t *p;

	if (!get_view(r, 4, &p)) {
		return 0;
	}
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
	return 1;
}

/*
 * A length byte and that many bytes: 1 .. max, UTF-8 without U+0000, and
 * without controls unless controls_ok (MQTT allows them in a client id,
 * whose ":instance" part a service chooses; a certificate's CN and role
 * never hold one).
 */
static rp_status get_text(rbuf *r, size_t max, int controls_ok, const uint8_t **v, size_t *len)
{
	uint8_t n;

	if (!get_u8(r, &n) || !get_view(r, n, v)) {
		return RP_E_MALFORMED;
	}
	if (n == 0 || n > max) {
		return n == 0 ? RP_E_MALFORMED : RP_E_LIMIT;
	}
	for (size_t i = 0; i < n && !controls_ok; i++) {
		if ((*v)[i] < 0x20u || (*v)[i] == 0x7Fu) {
			return RP_E_MALFORMED;
		}
	}
	*len = n;
	return rp_mqtt_utf8_valid(*v, n) ? RP_OK : RP_E_MALFORMED;
}

typedef struct head {
	uint8_t version;
	uint32_t expiry_s;
	const uint8_t *cid, *id, *role;
	size_t cid_len, id_len, role_len;
	uint16_t next_packet_id;
} head;

static rp_status get_head(rbuf *r, head *h)
{
	const uint8_t *magic;
	uint8_t flags;
	rp_status st;

	if (!get_view(r, MAGIC_LEN, &magic) || memcmp(magic, MAGIC, MAGIC_LEN) != 0 ||
	    !get_u8(r, &h->version) || !get_u8(r, &flags) || !get_u32(r, &h->expiry_s)) {
		return RP_E_MALFORMED;
	}
	if ((h->version != RP_MQTT_V311 && h->version != RP_MQTT_V5) || flags != 0 ||
	    h->expiry_s == 0) {
		return RP_E_MALFORMED; /* a session that is not persistent is never written */
	}
	if (h->expiry_s > RP_LIMIT_BROKER_SESSION_EXPIRY_S) {
		return RP_E_LIMIT;
	}
	if ((st = get_text(r, RP_LIMIT_MQTT_CLIENT_ID_LEN, 1, &h->cid, &h->cid_len)) != RP_OK ||
	    (st = get_text(r, RP_LIMIT_MQTT_CLIENT_ID_LEN, 0, &h->id, &h->id_len)) != RP_OK ||
	    (st = get_text(r, RP_IDENTITY_ROLE_MAX, 0, &h->role, &h->role_len)) != RP_OK) {
		return st;
	}
	return get_u16(r, &h->next_packet_id) ? RP_OK : RP_E_MALFORMED;
}

/* The client ids an identity may use: CONNECT's rule (client.c), applied to the blob. */
static int client_id_of(const head *h)
{
	int device = h->role_len == 6u && memcmp(h->role, "device", 6) == 0;

	if (h->cid_len == h->id_len && memcmp(h->cid, h->id, h->id_len) == 0) {
		return 1;
	}
	return !device && h->cid_len > h->id_len + 1u && memcmp(h->cid, h->id, h->id_len) == 0 &&
	       h->cid[h->id_len] == ':';
}

/* Packet ids already met in the blob: bit per id, in flight then inbound QoS 2. */
#define SEEN_BYTES (2u * 65536u / 8u)

static int seen_once(uint8_t *seen, int rx, uint16_t id)
{
	size_t bit = (size_t)id + (rx ? 65536u : 0u);
	uint8_t mask = (uint8_t)(1u << (bit % 8u));

	if (seen[bit / 8u] & mask) {
		return 0;
	}
	seen[bit / 8u] |= mask;
	return 1;
}

static rp_status get_subs(rp_broker *b, session *s, rbuf *r, rp_session_restored *info)
{
	rp_mqtt_limits lim;
	uint16_t n;

	hard_limits(&lim);
	if (!get_u16(r, &n)) {
		return RP_E_MALFORMED;
	}
	if (n > RP_LIMIT_BROKER_SUBSCRIPTIONS) {
		return RP_E_LIMIT;
	}
	for (uint16_t i = 0; i < n; i++) {
		const uint8_t *f;
		uint16_t flen;
		uint8_t o8;
		uint32_t sub_id;
		rp_sub_opts o;
		int existed = 0;
		rp_status st;

		if (!get_u16(r, &flen) || !get_view(r, flen, &f) || !get_u8(r, &o8) ||
		    !get_u32(r, &sub_id)) {
			return RP_E_MALFORMED;
		}
		if (flen > RP_LIMIT_MQTT_TOPIC_LEN) {
			return RP_E_LIMIT;
		}
		memset(&o, 0, sizeof(o));
		o.qos = o8 & 3u;
		o.no_local = o8 >> 2 & 1u;
		o.retain_as_published = o8 >> 3 & 1u;
		o.retain_handling = o8 >> 4 & 3u;
		o.sub_id = sub_id;
		if ((o8 & 0xC0u) != 0 || o.qos > 2u || o.retain_handling > 2u ||
		    sub_id > SUB_ID_MAX ||
		    (o.no_local && rp_mqtt_topic_shared_split(f, flen, NULL, NULL))) {
			return RP_E_MALFORMED;
		}
		st = rp_mqtt_topic_filter_check(f, flen, &lim);
		if (st != RP_OK) {
			return st;
		}
		/* Valid; still allowed? Today's policy and max_subscriptions decide. */
		if (!rp_policy_may_subscribe(b->policy, rp__session_role(s),
					     (const uint8_t *)rp__session_client_id(s), s->id_len,
					     f, flen) ||
		    rp_tree_subscriber_count(b->tree, s) >= b->lim.max_subscriptions) {
			info->subs_dropped++;
			continue;
		}
		st = rp_tree_subscribe(b->tree, f, flen, s, &o, &existed);
		if (st == RP_E_LIMIT) {
			info->subs_dropped++; /* over a configured topic limit, not a hard cap */
			continue;
		}
		if (st != RP_OK) {
			return st;
		}
		if (existed) {
			return RP_E_MALFORMED; /* the same filter twice */
		}
		info->subscriptions++;
	}
	return RP_OK;
}

static rp_status get_rx_ids(rp_broker *b, session *s, rbuf *r, uint8_t *seen,
			    rp_session_restored *info)
{
	uint16_t n, id;

	if (!get_u16(r, &n)) {
		return RP_E_MALFORMED;
	}
	if (n > RP_LIMIT_BROKER_INFLIGHT) {
		return RP_E_LIMIT;
	}
	for (uint16_t i = 0; i < n; i++) {
		if (!get_u16(r, &id) || id == 0 || !seen_once(seen, 1, id)) {
			return RP_E_MALFORMED;
		}
		if (s->nrx_qos2 >= b->lim.receive_max) {
			info->ids_dropped++;
			continue;
		}
		if (s->rx_qos2 == NULL) {
			s->rx_qos2 = rp_calloc(NULL, b->lim.receive_max, sizeof(*s->rx_qos2));
			if (s->rx_qos2 == NULL) {
				return RP_E_NOMEM;
			}
		}
		s->rx_qos2[s->nrx_qos2++] = id;
	}
	return RP_OK;
}

/* Appends a restored message to s's queue, within today's bounds; m's reference is taken. */
static int queue_restored(rp_broker *b, session *s, rp_msg *m, uint8_t qos, uint8_t retain,
			  uint32_t sub_id)
{
	return rp__session_enqueue(b, s, m, qos, retain, sub_id);
}

/* One message record: decoded, checked, then in flight, queued, or dropped (counted). */
static rp_status get_msg(rp_broker *b, session *s, rbuf *r, uint8_t *seen, uint64_t now_ms,
			 rp_session_restored *info)
{
	uint8_t state, qos, retain;
	uint16_t pid;
	uint32_t sub_id, plen;
	const uint8_t *bytes;
	rp_mqtt_limits lim;
	rp_mqtt_packet pkt;
	const rp_mqtt_publish *p = &pkt.u.publish;
	size_t used = 0;
	rp_msg *m;
	rp_status st;
	int q;

	if (!get_u8(r, &state) || !get_u8(r, &qos) || !get_u8(r, &retain) || !get_u16(r, &pid) ||
	    !get_u32(r, &sub_id) || !get_u32(r, &plen)) {
		return RP_E_MALFORMED;
	}
	if (plen > RP_LIMIT_MQTT_PACKET) {
		return RP_E_LIMIT;
	}
	/* The type from the first byte: any other packet is refused before the codec sees it. */
	if (!get_view(r, plen, &bytes) || plen < 2u || bytes[0] >> 4 != RP_MQTT_PUBLISH ||
	    state > REC_WAIT_COMP || qos < 1u || qos > 2u || retain > 1u || sub_id > SUB_ID_MAX ||
	    (state == REC_QUEUED ? pid != 0 : pid == 0 || !seen_once(seen, 0, pid)) ||
	    (state == REC_WAIT_ACK && qos != 1u) || (state >= REC_WAIT_REC && qos != 2u)) {
		return RP_E_MALFORMED;
	}
	hard_limits(&lim);
	st = rp_mqtt_decode(bytes, plen, RP_MQTT_V5, &lim, &pkt, &used);
	if (st == RP_NEED_MORE || (st == RP_OK && used != plen)) {
		return RP_E_MALFORMED;
	}
	if (st != RP_OK) {
		return st;
	}
	if (pkt.type != RP_MQTT_PUBLISH || p->qos < qos || p->topic.len == 0 ||
	    (p->props.present & RP_MQTT_HAS(RP_MQTT_PROP_TOPIC_ALIAS)) ||
	    p->props.sub_id_count != 0) {
		return RP_E_MALFORMED;
	}
	m = rp__msg_new(p, &p->topic, now_ms);
	if (m == NULL) {
		return RP_E_NOMEM;
	}
	if (state != REC_QUEUED && s->ninflight < b->lim.max_inflight) {
		delivery *slot;

		if (s->inflight == NULL) {
			s->inflight = rp_calloc(NULL, b->lim.max_inflight, sizeof(*s->inflight));
			if (s->inflight == NULL) {
				rp__msg_unref(m);
				return RP_E_NOMEM;
			}
		}
		/* Restored in-flight deliveries fill the window from slot 0, in blob order. */
		slot = &s->inflight[s->ninflight++];
		slot->msg = m;
		slot->qos = qos;
		slot->retain = retain;
		slot->sub_id = sub_id;
		slot->packet_id = pid;
		slot->state = state;
		info->messages++;
		return RP_OK;
	}
	/*
	 * A window lowered since: a PUBLISH not yet acknowledged is sent again
	 * from the queue (with a new packet id); one whose PUBREL was sent has
	 * reached the client already and is dropped.
	 */
	q = state == REC_WAIT_COMP ? 0 : queue_restored(b, s, m, qos, retain, sub_id);
	if (q < 0) {
		rp__msg_unref(m);
		return RP_E_NOMEM;
	}
	if (q == 0) {
		rp__msg_unref(m);
		info->msgs_dropped++;
		return RP_OK;
	}
	info->messages++;
	return RP_OK;
}

rp_status rp_broker_restore_session(rp_broker *b, const char *client_id, const uint8_t *blob,
				    size_t len, uint64_t now_ms, rp_session_restored *info)
{
	rp_session_restored none;
	rbuf r = {blob, len, 0};
	uint8_t *seen = NULL;
	session *s = NULL;
	uint32_t nmsgs;
	char role[RP_IDENTITY_ROLE_MAX + 1];
	head h;
	rp_status st;

	if (info == NULL) {
		info = &none;
	}
	memset(info, 0, sizeof(*info));
	if (blob == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (len > RP_LIMIT_STORE_SESSION_LEN) {
		return RP_E_LIMIT;
	}
	st = get_head(&r, &h);
	if (st != RP_OK) {
		return st;
	}
	if (client_id != NULL &&
	    (strlen(client_id) != h.cid_len || memcmp(client_id, h.cid, h.cid_len) != 0)) {
		return RP_E_MALFORMED; /* the row's key and the blob disagree */
	}
	if (!client_id_of(&h)) {
		return RP_E_DENIED;
	}
	if (rp__session_get(b, (const char *)h.cid, h.cid_len) != NULL) {
		return RP_E_EXISTS;
	}
	if (b->lim.session_expiry_max == 0) {
		return RP_E_LIMIT; /* configured without persistent sessions */
	}

	b->now_ms = now_ms;
	b->restoring = 1;
	st = RP_E_NOMEM;
	memcpy(role, h.role, h.role_len); /* get_head: 1..RP_IDENTITY_ROLE_MAX bytes, no NUL */
	role[h.role_len] = '\0';
	seen = rp_calloc(NULL, 1, SEEN_BYTES);
	/* client_id_of(): the identity's id is the client id's first id_len bytes. */
	s = rp__session_create(b, (const char *)h.cid, h.cid_len, h.id_len, role);
	if (seen == NULL || s == NULL) {
		goto out;
	}
	s->version = h.version;
	s->expiry_s =
		h.expiry_s < b->lim.session_expiry_max ? h.expiry_s : b->lim.session_expiry_max;
	s->offline_since_ms = now_ms; /* the expiry counts from the restart */
	s->next_packet_id = h.next_packet_id;

	if ((st = get_subs(b, s, &r, info)) != RP_OK ||
	    (st = get_rx_ids(b, s, &r, seen, info)) != RP_OK) {
		goto out;
	}
	st = RP_E_MALFORMED;
	if (!get_u32(&r, &nmsgs)) {
		goto out;
	}
	if (nmsgs > MAX_MSGS) {
		st = RP_E_LIMIT;
		goto out;
	}
	for (uint32_t i = 0; i < nmsgs; i++) {
		st = get_msg(b, s, &r, seen, now_ms, info);
		if (st != RP_OK) {
			goto out;
		}
	}
	st = RP_E_MALFORMED;
	if (r.off != r.len) {
		goto out; /* trailing bytes */
	}
	/* Written again at the next flush, with the expiry that now counts from the restart. */
	s->stored = 1;
	rp__session_touch(b, s);
	st = RP_OK;
out:
	if (st != RP_OK && s != NULL) {
		rp__session_end(b, s); /* stored is 0: no hook, and the broker is as it was */
		memset(info, 0, sizeof(*info));
	}
	b->restoring = 0;
	rp_free(NULL, seen);
	return st;
}
