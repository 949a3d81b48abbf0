/*
 * internal.h - internal to server/broker: messages, sessions, the broker.
 *
 * Objects and lifetimes
 * - rp_msg: one published message, refcounted, immutable once made. The
 *   publisher's bytes are copied once; every queue, in-flight slot and the
 *   retained store holds a reference.
 * - session: the MQTT session of one client id. Owned by the broker's
 *   session map. Holds its subscriptions (in the tree, keyed by the session
 *   pointer), its in-flight window, its queue, and the received QoS 2
 *   packet ids. Bound to at most one client at a time (session->client).
 * - rp_client: one connection's protocol state; points to its session
 *   once CONNECT is accepted.
 *
 * Invariants
 * - session->client == c  <=>  c->session == session (while connected).
 * - queue_bytes == sum of msg sizes in the queue; queue_len == their count.
 * - Every delivery in `inflight` has a distinct non-zero packet id.
 * - A session's identity (id and role) is set when it is made and never
 *   changes; its id is its client id, or the part before ':'.
 */
#ifndef RP_SERVER_BROKER_INTERNAL_H
#define RP_SERVER_BROKER_INTERNAL_H

#include "auth/policy.h"
#include "broker/broker.h"
#include "broker/topic_tree.h"
#include "util/alloc.h"
#include "util/map.h"

typedef struct rp_msg {
	unsigned refs;
	uint64_t created_ms;
	size_t size;         /* bytes held, for queue accounting */
	rp_mqtt_publish pub; /* views into data[]; topic resolved; qos, retain as published */
	uint8_t data[];
} rp_msg;

/* One message on its way to one session. */
typedef struct delivery {
	struct delivery *next; /* queue link */
	rp_msg *msg;
	uint32_t sub_id; /* 0: none */
	uint8_t qos;     /* granted: min(published, subscribed) */
	uint8_t retain;  /* RETAIN flag to send */
	uint16_t packet_id;
	uint8_t state; /* in flight: DS_* */
} delivery;

enum { DS_WAIT_ACK = 1, DS_WAIT_REC, DS_WAIT_COMP };

/*
 * The identity a session belongs to is fixed when it is made: a CONNECT
 * from another identity ends the session and makes a new one. Its id is a
 * prefix of the client id (the whole of it, or "<id>:<instance>" for a
 * service), so only the client id and the role are stored, in names[]
 * after the struct: an idle device's session is about 150 bytes rather
 * than 500 with fixed-size buffers (docs/performance.md, idle memory).
 */
typedef struct session {
	rp_client *client;         /* NULL while offline */
	delivery *inflight;        /* max_inflight slots (msg NULL: free); NULL until first used */
	delivery *q_head, *q_tail; /* waiting for the window or for the client */
	uint16_t *rx_qos2;         /* received QoS 2 ids awaiting PUBREL; NULL until first used */
	rp_msg *will; /* a will waiting for its delay (MQTT 5) after an unclean close */
	struct session *dirty_prev, *dirty_next; /* the dirty list (session_blob.c) */

	uint64_t offline_since_ms;    /* when the client left */
	uint64_t last_refusal_log_ms; /* 0: never logged */
	uint64_t will_at_ms;
	uint64_t cut_log_ms; /* last "not kept" log line; 0: never */
	size_t queue_bytes;

	uint32_t expiry_s; /* after disconnect; 0: ends with the connection */
	uint32_t queue_len;
	uint32_t refused_since_log; /* QoS 1/2 deliveries refused since the last log line */
	uint16_t ninflight;
	uint16_t next_packet_id;
	uint16_t nrx_qos2;

	/* Persistence (session_blob.c). */
	uint8_t version; /* protocol level of the last CONNECT */
	uint8_t dirty;   /* on the broker's dirty list */
	uint8_t stored;  /* the store may hold a row of this client id */

	uint8_t client_id_len; /* bytes of the client id, at most RP_LIMIT_MQTT_CLIENT_ID_LEN */
	uint8_t id_len;        /* the identity's id: the first id_len bytes of the client id */
	uint8_t role_len;      /* the identity's role, after the client id */
	/* The client id, NUL, the role, NUL. Read them with the helpers below. */
	char names[];
} session;

_Static_assert(RP_LIMIT_MQTT_CLIENT_ID_LEN <= UINT8_MAX, "a client id length fits uint8_t");
_Static_assert(RP_IDENTITY_ROLE_MAX <= UINT8_MAX, "a role length fits uint8_t");

/* The session's client id (client_id_len bytes, NUL-terminated). */
static inline const char *rp__session_client_id(const session *s)
{
	return s->names;
}

/* The role of the identity the session belongs to, NUL-terminated. */
static inline const char *rp__session_role(const session *s)
{
	return s->names + s->client_id_len + 1u;
}

/* 1 if s belongs to who (the same id and role; the address may differ). */
int rp__session_is(const session *s, const rp_identity *who);

struct rp_broker {
	rp_broker_limits lim;
	const rp_policy *policy;
	rp_tree *tree;
	rp_map *sessions;            /* client id -> session */
	rp_map *retained;            /* topic -> rp_msg */
	rp_map *retained_per_device; /* device id -> retained count (as uintptr_t) */
	rp_map *by_id;               /* identity -> rp_counters */
	rp_map *by_addr;             /* address -> rp_counters */
	rp_alert_fn alert;           /* NULL: none */
	void *alert_ctx;
	rp_map *banned; /* identity -> (void *)1: revoked, refused at CONNECT */
	rp_counters totals;
	uint64_t now_ms;
	int pressure;        /* set by a delivery that left a queue above 3/4 of its bound */
	rp_ingest_fn ingest; /* telemetry hook; NULL: none */
	void *ingest_ctx;
	rp_retain_fn retain_hook; /* retained changes, for the store; NULL: none */
	void *retain_ctx;
	int restoring;              /* rp_broker_restore_retained or _session: no hook */
	rp_session_fn session_hook; /* persistent sessions, for the store; NULL: none */
	void *session_ctx;
	session *dirty_head, *dirty_tail; /* sessions to write, oldest change first */
	size_t ndirty;
};

/* ---- messages (msg.c) ---- */

/*
 * Copies a decoded PUBLISH (with `topic` as its resolved topic name) into
 * a new message with one reference. NULL on allocation failure.
 */
rp_msg *rp__msg_new(const rp_mqtt_publish *pub, const rp_mqtt_str *topic, uint64_t now_ms);
void rp__msg_ref(rp_msg *m);
void rp__msg_unref(rp_msg *m);
/* 1 if the message's expiry interval has passed at now_ms. */
int rp__msg_expired(const rp_msg *m, uint64_t now_ms);

/* ---- broker (broker.c) ---- */

rp_counters *rp__counters(rp_broker *b, const rp_identity *who);
/* As rp__counters(), for the identity whose id is id[0, len). */
rp_counters *rp__counters_id(rp_broker *b, const char *id, size_t len);
rp_counters *rp__counters_addr(rp_broker *b, const rp_identity *who);

/* Sessions: find or create for a client id; end one. */
session *rp__session_get(rp_broker *b, const char *client_id, size_t len);
/*
 * Makes the session of client_id (len bytes) for the identity whose id is
 * client_id's first id_len bytes and whose role is `role`: id_len == len,
 * or client_id[id_len] == ':'. NULL on allocation failure or arguments
 * outside those rules.
 */
session *rp__session_create(rp_broker *b, const char *client_id, size_t len, size_t id_len,
			    const char *role);
void rp__session_end(rp_broker *b, session *s);

/* Routes a message to every matching subscription; `from` for No Local. */
/* Offers m to every matching subscription; returns how many matched. */
size_t rp__route(rp_broker *b, rp_msg *m, const session *from);
/* Ends a banned identity's connection: DISCONNECT 0x98 (MQTT 5), then asks
 * its connection layer to close it (io.close; the session ends there). */
void rp__client_ban_kick(rp_client *c);

/* Stores or clears (empty payload) the retained message of m's topic. */
rp_status rp__retain(rp_broker *b, rp_msg *m);

/* Queues retained messages matching `filter` for s (on subscribe). */
void rp__send_retained(rp_broker *b, session *s, const uint8_t *filter, size_t len,
		       const rp_sub_opts *o);

/* ---- persistence (session_blob.c) ---- */

/*
 * The durable state of s changed (subscriptions, QoS 1/2 queue or window,
 * QoS 2 ids, expiry, identity, going offline): puts it on the dirty list
 * for the next rp_broker_flush_sessions(). O(1); nothing for a session
 * that is not persistent and was never written.
 */
void rp__session_touch(rp_broker *b, session *s);

/* s ends: off the dirty list, and its row deleted through the hook. */
void rp__session_forget(rp_broker *b, session *s);

/*
 * Serialises s (docs/broker.md, "Persistent sessions across restarts")
 * into a new block *out of *out_len bytes (rp_free() it): subscriptions,
 * QoS 2 ids, then QoS 1/2 messages oldest first while the blob stays
 * within RP_LIMIT_STORE_SESSION_LEN; *cut and *cut_bytes (may be NULL)
 * get the messages left out. Returns RP_OK or RP_E_NOMEM.
 */
rp_status rp__session_serialise(rp_broker *b, const session *s, uint64_t now_ms, uint8_t **out,
				size_t *out_len, size_t *cut, size_t *cut_bytes);

/* Gives one message to a session: send now, or queue, or count the drop. */
/*
 * Appends m (the caller's reference moves to the queue) to s's queue
 * within the queue caps. Returns 1 (queued), 0 (a cap: not queued), -1 (no
 * memory).
 */
int rp__session_enqueue(rp_broker *b, session *s, rp_msg *m, uint8_t qos, uint8_t retain,
			uint32_t sub_id);
void rp__deliver(rp_broker *b, session *s, rp_msg *m, uint8_t qos, uint8_t retain, uint32_t sub_id);

/* ---- client engine (client.c), used by the broker ---- */

/* Sends queued deliveries while the client's window allows. */
void rp__client_pump(rp_client *c);

/* The session was taken over by another connection: close this one. */
void rp__client_taken_over(rp_client *c);

/* Drops the client's will if `policy` no longer lets it publish there. */
void rp__client_recheck_will(rp_client *c, const rp_policy *policy);

#endif /* RP_SERVER_BROKER_INTERNAL_H */
