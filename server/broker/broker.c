/*
 * broker.c - sessions, routing, the retained store and the counters.
 *
 * Routing: a message is matched against the subscription tree once; each
 * matching subscription gets one delivery at min(published QoS, granted
 * QoS), which respects [MQTT-3.3.4-2] for overlapping subscriptions.
 * A delivery is queued on its session and the session's client, if any,
 * is pumped: it sends while its in-flight window allows.
 *
 * Bounded queues: a session holds at most max_queued_messages and
 * max_queued_bytes. A QoS 0 message that does not fit is dropped and
 * counted; a QoS 1/2 message that does not fit is refused, counted and
 * logged, never lost silently.
 */
#include <string.h>

#include "broker/internal.h"
#include "util/log.h"

/* At most one "refused" log line per session in this period. */
#define DROP_LOG_MS 10000u

/* Most identities or addresses with their own counters (memory bound). */
#define MAX_COUNTER_KEYS RP_LIMIT_TRACKED_IDENTITIES

void rp_broker_limits_default(rp_broker_limits *l)
{
	memset(l, 0, sizeof(*l));
	rp_mqtt_limits_default(&l->mqtt);
	l->max_packet_preauth = RP_LIMIT_MQTT_PREAUTH_PACKET;
	l->receive_max = 32;
	l->max_inflight = 32;
	l->topic_alias_max = 16;
	l->keepalive_max = 300;
	l->session_expiry_max = 7u * 24u * 3600u;
	l->max_subscriptions = 64;
	l->max_queued_messages = 1000;
	l->max_queued_bytes = 1u << 20;
	l->connect_timeout_ms = 10000;
	l->device_msg_rate = 100;
	l->device_msg_burst = 200;
	l->device_byte_rate = 256u * 1024u;
	l->device_byte_burst = 1u << 20;
	l->rate_grace_ms = 10000;
}

rp_broker *rp_broker_new(const rp_broker_limits *lim, const rp_policy *policy)
{
	rp_broker *b = rp_calloc(NULL, 1, sizeof(*b));

	if (b == NULL) {
		return NULL;
	}
	b->lim = *lim;
	b->policy = policy;
	b->tree = rp_tree_new(NULL, &b->lim.mqtt);
	b->sessions = rp_map_new(NULL);
	b->retained = rp_map_new(NULL);
	b->retained_per_device = rp_map_new(NULL);
	b->by_id = rp_map_new(NULL);
	b->by_addr = rp_map_new(NULL);
	b->banned = rp_map_new(NULL);
	if (b->tree == NULL || b->sessions == NULL || b->retained == NULL ||
	    b->retained_per_device == NULL || b->by_id == NULL || b->by_addr == NULL ||
	    b->banned == NULL) {
		rp_broker_free(b);
		return NULL;
	}
	return b;
}

static void free_values(rp_map *m)
{
	size_t cur = 0, len;
	const void *key;
	void *v;

	while (m != NULL && rp_map_next(m, &cur, &key, &len, &v)) {
		rp_free(NULL, v);
	}
}

void rp_broker_free(rp_broker *b)
{
	size_t cur = 0, len;
	const void *key;
	void *v;

	if (b == NULL) {
		return;
	}
	/* The process ends, not the sessions: their stored rows stay. */
	b->session_hook = NULL;
	/* End every session: collect first, the map cannot change while walked. */
	while (b->sessions != NULL && rp_map_count(b->sessions) > 0) {
		cur = 0;
		if (!rp_map_next(b->sessions, &cur, &key, &len, &v)) {
			break;
		}
		rp__session_end(b, v);
	}
	cur = 0;
	while (b->retained != NULL && rp_map_next(b->retained, &cur, &key, &len, &v)) {
		rp__msg_unref(v);
	}
	free_values(b->by_id);
	free_values(b->by_addr);
	rp_map_free(b->banned); /* values are markers, not allocations */
	rp_map_free(b->sessions);
	rp_map_free(b->retained);
	rp_map_free(b->retained_per_device);
	rp_map_free(b->by_id);
	rp_map_free(b->by_addr);
	rp_tree_free(b->tree);
	rp_free(NULL, b);
}

typedef struct grant_ctx {
	const rp_policy *policy;
	const session *s;
} grant_ctx;

static int still_granted(void *ctx, const uint8_t *filter, size_t len)
{
	const grant_ctx *g = ctx;

	return rp_policy_may_subscribe(g->policy, rp__session_role(g->s),
				       (const uint8_t *)rp__session_client_id(g->s), g->s->id_len,
				       filter, len);
}

void rp_broker_set_policy(rp_broker *b, const rp_policy *policy)
{
	size_t cur = 0, len, removed = 0;
	const void *key;
	void *v;

	b->policy = policy;
	/* Subscriptions (and wills) the new policy no longer grants end now. */
	while (rp_map_next(b->sessions, &cur, &key, &len, &v)) {
		session *s = v;
		grant_ctx g = {policy, s};
		size_t n = rp_tree_unsubscribe_if(b->tree, s, still_granted, &g);

		if (n > 0) {
			rp__session_touch(b, s);
		}
		removed += n;
		if (s->will != NULL &&
		    !rp_policy_may_publish(policy, rp__session_role(s),
					   (const uint8_t *)rp__session_client_id(s), s->id_len,
					   s->will->pub.topic.p, s->will->pub.topic.len)) {
			rp__msg_unref(s->will);
			s->will = NULL;
		}
		if (s->client != NULL) {
			rp__client_recheck_will(s->client, policy);
		}
	}
	if (removed > 0) {
		rp_log(RP_LOG_INFO, "broker", "policy reload removed %zu subscriptions", removed);
	}
}

/* ---- counters ---------------------------------------------------------- */

static rp_counters *counters_in(rp_map *m, const char *key, size_t len)
{
	rp_counters *c = rp_map_get(m, key, len);

	if (c != NULL || rp_map_count(m) >= MAX_COUNTER_KEYS) {
		return c;
	}
	c = rp_calloc(NULL, 1, sizeof(*c));
	if (c != NULL && rp_map_put(m, key, len, c, NULL) != RP_OK) {
		rp_free(NULL, c);
		c = NULL;
	}
	return c;
}

/* A sink for counts that have no per-key slot (cap reached, no memory). */
static rp_counters sink;

rp_counters *rp__counters_id(rp_broker *b, const char *id, size_t len)
{
	rp_counters *c = counters_in(b->by_id, id, len);

	return c != NULL ? c : &sink;
}

rp_counters *rp__counters(rp_broker *b, const rp_identity *who)
{
	return rp__counters_id(b, who->id, strlen(who->id));
}

rp_counters *rp__counters_addr(rp_broker *b, const rp_identity *who)
{
	rp_counters *c = counters_in(b->by_addr, who->addr, strlen(who->addr));

	return c != NULL ? c : &sink;
}

const rp_counters *rp_broker_counters_for_id(const rp_broker *b, const char *id)
{
	return rp_map_get(b->by_id, id, strlen(id));
}

const rp_counters *rp_broker_counters_for_addr(const rp_broker *b, const char *addr)
{
	return rp_map_get(b->by_addr, addr, strlen(addr));
}

const rp_counters *rp_broker_totals(const rp_broker *b)
{
	return &b->totals;
}

size_t rp_broker_session_count(const rp_broker *b)
{
	return rp_map_count(b->sessions);
}

size_t rp_broker_retained_count(const rp_broker *b)
{
	return rp_map_count(b->retained);
}

/* ---- sessions ---------------------------------------------------------- */

session *rp__session_get(rp_broker *b, const char *client_id, size_t len)
{
	return rp_map_get(b->sessions, client_id, len);
}

/* A session is resumed by the identity it belongs to only: same id, same role. */
int rp__session_is(const session *s, const rp_identity *who)
{
	return strlen(who->id) == s->id_len &&
	       memcmp(rp__session_client_id(s), who->id, s->id_len) == 0 &&
	       strcmp(rp__session_role(s), who->role) == 0;
}

session *rp__session_create(rp_broker *b, const char *client_id, size_t len, size_t id_len,
			    const char *role)
{
	size_t role_len = strlen(role);
	session *s;

	if (len == 0 || len > RP_LIMIT_MQTT_CLIENT_ID_LEN || id_len == 0 || id_len > len ||
	    (id_len < len && client_id[id_len] != ':') || role_len > RP_IDENTITY_ROLE_MAX) {
		return NULL;
	}
	/* Sized to its names: see internal.h. */
	s = rp_calloc(NULL, 1, sizeof(*s) + len + 1u + role_len + 1u);
	if (s == NULL) {
		return NULL;
	}
	memcpy(s->names, client_id, len);
	memcpy(s->names + len + 1u, role, role_len);
	s->client_id_len = (uint8_t)len;
	s->id_len = (uint8_t)id_len;
	s->role_len = (uint8_t)role_len;
	/* The in-flight window and the QoS 2 ids come with the first use (client.c). */
	if (rp_map_put(b->sessions, client_id, len, s, NULL) != RP_OK) {
		rp_free(NULL, s);
		return NULL;
	}
	return s;
}

void rp__session_end(rp_broker *b, session *s)
{
	delivery *d = s->q_head;
	uint16_t i;

	if (s->will != NULL) {
		/* [MQTT-3.1.3-9]: the will goes out at the latest when the session ends. */
		rp_msg *w = s->will;

		s->will = NULL;
		if (w->pub.retain) {
			(void)rp__retain(b, w);
		}
		rp__route(b, w, NULL);
		rp__msg_unref(w);
	}
	rp_tree_unsubscribe_all(b->tree, s);
	while (d != NULL) {
		delivery *next = d->next;

		rp__msg_unref(d->msg);
		rp_free(NULL, d);
		d = next;
	}
	for (i = 0; s->inflight != NULL && i < b->lim.max_inflight; i++) {
		rp__msg_unref(s->inflight[i].msg);
	}
	rp__session_forget(b, s);
	(void)rp_map_del(b->sessions, rp__session_client_id(s), s->client_id_len);
	rp_free(NULL, s->inflight);
	rp_free(NULL, s->rx_qos2);
	rp_free(NULL, s);
}

/* ---- delivery ---------------------------------------------------------- */

/*
 * A delivery that could not be queued: counted for the broker and the
 * subscriber, and for QoS 1/2 logged, at most once per session every
 * DROP_LOG_MS with the number refused since, so a flood cannot flood the
 * log as well.
 */
static void refused(rp_broker *b, session *s, uint8_t qos, const char *why)
{
	rp_counters *c = rp__counters_id(b, rp__session_client_id(s), s->id_len);
	char id[80];

	if (qos == 0) {
		b->totals.dropped_qos0++;
		c->dropped_qos0++;
		return;
	}
	b->totals.dropped_qos12++;
	c->dropped_qos12++;
	s->refused_since_log++;
	if (s->last_refusal_log_ms != 0 && b->now_ms - s->last_refusal_log_ms < DROP_LOG_MS) {
		return;
	}
	rp_log(RP_LOG_WARN, "broker", "session %s: %u QoS 1/2 message(s) refused (%s)",
	       rp_log_escape(id, sizeof(id), (const uint8_t *)rp__session_client_id(s),
			     s->client_id_len),
	       s->refused_since_log, why);
	s->refused_since_log = 0;
	s->last_refusal_log_ms = b->now_ms != 0 ? b->now_ms : 1u;
}

int rp__session_enqueue(rp_broker *b, session *s, rp_msg *m, uint8_t qos, uint8_t retain,
			uint32_t sub_id)
{
	delivery *d;

	if (s->queue_len >= b->lim.max_queued_messages || m->size > b->lim.max_queued_bytes ||
	    s->queue_bytes > b->lim.max_queued_bytes - m->size) {
		return 0;
	}
	d = rp_calloc(NULL, 1, sizeof(*d));
	if (d == NULL) {
		return -1;
	}
	d->msg = m;
	d->qos = qos;
	d->retain = retain;
	d->sub_id = sub_id;
	if (s->q_tail != NULL) {
		s->q_tail->next = d;
	} else {
		s->q_head = d;
	}
	s->q_tail = d;
	s->queue_len++;
	s->queue_bytes += m->size;
	return 1;
}

void rp__deliver(rp_broker *b, session *s, rp_msg *m, uint8_t qos, uint8_t retain, uint32_t sub_id)
{
	if (s->client == NULL && qos == 0) {
		return; /* an offline session does not keep QoS 0 */
	}
	if (s->queue_len >= b->lim.max_queued_messages || m->size > b->lim.max_queued_bytes ||
	    s->queue_bytes > b->lim.max_queued_bytes - m->size) {
		refused(b, s, qos, "queue full");
		return;
	}
	if (rp__session_enqueue(b, s, m, qos, retain, sub_id) <= 0) {
		refused(b, s, qos, "out of memory");
		return;
	}
	rp__msg_ref(m);
	if (s->queue_len > b->lim.max_queued_messages / 4u * 3u ||
	    s->queue_bytes > b->lim.max_queued_bytes / 4u * 3u) {
		b->pressure = 1; /* the publisher will be slowed (client.c) */
	}
	if (qos > 0) {
		rp__session_touch(b, s); /* QoS 0 is not kept: it never costs a write */
	}
	if (s->client != NULL) {
		rp__client_pump(s->client);
	}
}

typedef struct route_ctx {
	rp_broker *b;
	rp_msg *m;
	const session *from;
	size_t reached; /* sessions the message was offered to */
} route_ctx;

static void route_visit(void *ctx, void *subscriber, const rp_sub_opts *o, int shared)
{
	route_ctx *rc = ctx;
	session *s = subscriber;
	uint8_t qos = rc->m->pub.qos < o->qos ? rc->m->pub.qos : o->qos;

	(void)shared;
	if (o->no_local && s == rc->from) {
		return;
	}
	rc->reached++;
	rp__deliver(rc->b, s, rc->m, qos, o->retain_as_published ? rc->m->pub.retain : 0,
		    o->sub_id);
}

size_t rp__route(rp_broker *b, rp_msg *m, const session *from)
{
	route_ctx rc = {b, m, from, 0};

	rp_tree_match(b->tree, m->pub.topic.p, m->pub.topic.len, route_visit, &rc);
	return rc.reached;
}

rp_status rp_broker_publish(rp_broker *b, const uint8_t *topic, size_t topic_len,
			    const uint8_t *payload, size_t len, uint8_t qos, size_t *reached)
{
	rp_mqtt_publish pub;
	rp_mqtt_str t;
	rp_msg *m;

	*reached = 0;
	if (qos > 2u || len > b->lim.mqtt.max_packet ||
	    rp_mqtt_topic_name_check(topic, topic_len, &b->lim.mqtt) != RP_OK) {
		return RP_E_INVALID_ARG;
	}
	memset(&pub, 0, sizeof(pub));
	pub.qos = qos;
	pub.payload.p = payload;
	pub.payload.len = len;
	t.p = topic;
	t.len = (uint32_t)topic_len;
	m = rp__msg_new(&pub, &t, b->now_ms);
	if (m == NULL) {
		return RP_E_NOMEM;
	}
	*reached = rp__route(b, m, NULL);
	rp__msg_unref(m);
	b->pressure = 0; /* nobody to slow down: the caller is not a connection */
	return *reached > 0 ? RP_OK : RP_E_NOT_FOUND;
}

/* The device namespace of a topic: "ID" of "d/ID/...", or 0 if none. */
static size_t device_of(const rp_mqtt_str *t, const uint8_t **id)
{
	size_t i;

	if (t->len < 3u || t->p[0] != 'd' || t->p[1] != '/') {
		return 0;
	}
	for (i = 2; i < t->len && t->p[i] != '/'; i++) {
	}
	*id = t->p + 2;
	return i - 2u;
}

/* Adds delta (+1 or -1) to the retained count of m's device namespace. */
static void retained_count(rp_broker *b, const rp_msg *m, int delta)
{
	const uint8_t *id = NULL;
	size_t n = device_of(&m->pub.topic, &id);
	uintptr_t v;

	if (n == 0) {
		return;
	}
	v = (uintptr_t)rp_map_get(b->retained_per_device, id, n);
	v = delta > 0 ? v + 1u : (v > 0 ? v - 1u : 0);
	if (v == 0) {
		(void)rp_map_del(b->retained_per_device, id, n);
	} else {
		/* A failed put leaves the count low: the cap errs towards storing. */
		(void)rp_map_put(b->retained_per_device, id, n, (void *)v, NULL);
	}
}

/* Tells the retain hook about a change (m NULL: the topic was cleared). */
static void retain_changed(rp_broker *b, const rp_mqtt_str *topic, const rp_msg *m)
{
	rp_mqtt_packet pkt;
	rp_mqtt_publish *p = &pkt.u.publish;
	rp_mqtt_limits lim;
	uint8_t *buf = NULL;
	size_t size = 0, len = 0;

	if (b->retain_hook == NULL || b->restoring) {
		return;
	}
	if (m == NULL) {
		b->retain_hook(b->retain_ctx, topic->p, topic->len, NULL, NULL, 0);
		return;
	}
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = RP_MQTT_PUBLISH;
	*p = m->pub;
	p->retain = 1;
	p->dup = 0;
	p->packet_id = p->qos > 0 ? 1u : 0u;
	p->props.sub_ids = NULL;
	p->props.sub_id_count = 0;
	p->props.present &= ~RP_MQTT_HAS(RP_MQTT_PROP_TOPIC_ALIAS);
	rp_mqtt_limits_default(&lim);
	lim.max_packet = RP_LIMIT_MQTT_PACKET;
	if (rp_mqtt_encoded_size(&pkt, RP_MQTT_V5, &lim, &size) != RP_OK ||
	    (buf = rp_alloc(NULL, size)) == NULL ||
	    rp_mqtt_encode(&pkt, RP_MQTT_V5, &lim, buf, size, &len) != RP_OK) {
		char t[160];

		rp_log(RP_LOG_WARN, "broker", "retained message of %s not kept for a restart",
		       rp_log_escape(t, sizeof(t), topic->p, topic->len));
	} else {
		b->retain_hook(b->retain_ctx, topic->p, topic->len, &m->pub, buf, len);
	}
	rp_free(NULL, buf);
}

rp_status rp__retain(rp_broker *b, rp_msg *m)
{
	const uint8_t *id = NULL;
	size_t n;
	void *old = NULL;
	rp_status st;

	if (m->pub.payload.len == 0) {
		/* [MQTT-3.3.1-6]: an empty retained message clears the topic. */
		old = rp_map_del(b->retained, m->pub.topic.p, m->pub.topic.len);
		if (old != NULL) {
			retained_count(b, old, -1);
			rp__msg_unref(old);
			retain_changed(b, &m->pub.topic, NULL);
		}
		return RP_OK;
	}
	if (rp_map_get(b->retained, m->pub.topic.p, m->pub.topic.len) == NULL) {
		/* A new topic: within the caps, or not stored (the message still goes out). */
		n = device_of(&m->pub.topic, &id);
		if (rp_map_count(b->retained) >= RP_LIMIT_BROKER_RETAINED ||
		    (n != 0 && (uintptr_t)rp_map_get(b->retained_per_device, id, n) >=
				       RP_LIMIT_BROKER_RETAINED_PER_DEVICE)) {
			return RP_E_LIMIT;
		}
		retained_count(b, m, +1);
	}
	st = rp_map_put(b->retained, m->pub.topic.p, m->pub.topic.len, m, &old);
	if (st != RP_OK) {
		retained_count(b, m, -1);
		return st;
	}
	rp__msg_ref(m);
	rp__msg_unref(old);
	retain_changed(b, &m->pub.topic, m);
	return RP_OK;
}

void rp__send_retained(rp_broker *b, session *s, const uint8_t *filter, size_t len,
		       const rp_sub_opts *o)
{
	size_t cur = 0, klen;
	const void *key;
	void *v;

	/*
	 * A linear walk of the retained store, once per subscription. Retained
	 * messages are one per topic and device fleets keep few; an index by
	 * topic level is the tree's job if this ever shows in a profile.
	 */
	while (rp_map_next(b->retained, &cur, &key, &klen, &v)) {
		rp_msg *m = v;

		if (rp__msg_expired(m, b->now_ms) || !rp_mqtt_topic_match(filter, len, key, klen)) {
			continue;
		}
		rp__deliver(b, s, m, m->pub.qos < o->qos ? m->pub.qos : o->qos, 1, o->sub_id);
	}
}

void rp_broker_tick(rp_broker *b, uint64_t now_ms)
{
	session *ending[64];
	size_t cur = 0, len, n = 0, i;
	const void *key;
	void *v;

	b->now_ms = now_ms;
	/* Collect, then act: the session map cannot change while walked. */
	while (rp_map_next(b->sessions, &cur, &key, &len, &v)) {
		session *s = v;

		if (s->client != NULL) {
			continue;
		}
		if (s->will != NULL && now_ms >= s->will_at_ms) {
			rp_msg *w = s->will;

			s->will = NULL;
			if (w->pub.retain) {
				(void)rp__retain(b, w);
			}
			rp__route(b, w, NULL);
			rp__msg_unref(w);
		}
		if (now_ms - s->offline_since_ms >= (uint64_t)s->expiry_s * 1000u &&
		    n < sizeof(ending) / sizeof(ending[0])) {
			ending[n++] = s;
		}
	}
	for (i = 0; i < n; i++) {
		rp__session_end(b, ending[i]);
	}
}

void rp_broker_set_ingest(rp_broker *b, rp_ingest_fn fn, void *ctx)
{
	b->ingest = fn;
	b->ingest_ctx = ctx;
}

void rp_broker_set_retain_hook(rp_broker *b, rp_retain_fn fn, void *ctx)
{
	b->retain_hook = fn;
	b->retain_ctx = ctx;
}

rp_status rp_broker_restore_retained(rp_broker *b, const uint8_t *packet, size_t len)
{
	rp_mqtt_packet pkt;
	rp_mqtt_limits lim;
	size_t used = 0;
	rp_msg *m;
	rp_status st;

	rp_mqtt_limits_default(&lim);
	lim.max_packet = RP_LIMIT_MQTT_PACKET;
	st = rp_mqtt_decode(packet, len, RP_MQTT_V5, &lim, &pkt, &used);
	if (st == RP_NEED_MORE || (st == RP_OK && used != len)) {
		return RP_E_MALFORMED;
	}
	if (st != RP_OK) {
		return st;
	}
	if (pkt.type != RP_MQTT_PUBLISH || !pkt.u.publish.retain ||
	    pkt.u.publish.payload.len == 0) {
		return RP_E_MALFORMED;
	}
	m = rp__msg_new(&pkt.u.publish, &pkt.u.publish.topic, b->now_ms);
	if (m == NULL) {
		return RP_E_NOMEM;
	}
	b->restoring = 1;
	st = rp__retain(b, m);
	b->restoring = 0;
	rp__msg_unref(m);
	return st;
}

rp_status rp_broker_ban(rp_broker *b, const char *id, size_t *kicked)
{
	size_t len = strlen(id), cursor = 0, klen;
	const void *key;
	void *val;
	rp_status st;

	*kicked = 0;
	if (len == 0 || len > RP_LIMIT_MQTT_CLIENT_ID_LEN) {
		return RP_E_INVALID_ARG;
	}
	st = rp_map_put(b->banned, id, len, (void *)1, NULL);
	if (st != RP_OK) {
		return st;
	}
	/* A device's client id is its identity; a service's is "name:instance":
	 * every session of the identity goes, whatever its client id. */
	while (rp_map_next(b->sessions, &cursor, &key, &klen, &val)) {
		session *s = val;

		if (s->client != NULL && s->id_len == len &&
		    memcmp(rp__session_client_id(s), id, len) == 0) {
			rp__client_ban_kick(s->client);
			(*kicked)++;
		}
	}
	return RP_OK;
}

int rp_broker_banned(const rp_broker *b, const char *id)
{
	return rp_map_get(b->banned, id, strlen(id)) != NULL;
}

void rp_broker_set_alert_hook(rp_broker *b, rp_alert_fn fn, void *ctx)
{
	b->alert = fn;
	b->alert_ctx = ctx;
}
