/*
 * server/broker/broker.h - the MQTT broker core: sessions, routing, ACL.
 *
 * The core is sans-I/O like the codec: the network layer feeds it the bytes
 * a client sent (rp_client_input) and drains the bytes to send back
 * (rp_client_output / rp_client_consumed). It never touches a socket, so
 * the fuzz target drives it directly.
 *
 * Conventions
 * - Threads: in this version one broker runs on one event loop; every call
 *   is made from that loop's thread. (Cross-loop delivery is the next
 *   step; see docs/broker.md.)
 * - Identity comes from the verified certificate (rp_identity), never from
 *   the MQTT client id: a device's client id must equal its device id, or
 *   be empty and is then assigned.
 * - Lifetime: rp_client is created per accepted, authenticated connection
 *   and freed by the network layer after rp_client_closed(). Sessions
 *   outlive clients when their expiry says so; the broker owns them.
 * - Every refusal is counted per identity and per source address
 *   (rp_broker_counters) and logged without secrets.
 */
#ifndef RP_SERVER_BROKER_H
#define RP_SERVER_BROKER_H

#include <stddef.h>
#include <stdint.h>

#include "rampart/limits.h"
#include "rampart/mqtt.h"
#include "rampart/status.h"

struct rp_policy;

typedef struct rp_broker rp_broker;
typedef struct rp_client rp_client;

/* Limits of the broker, from the configuration (already clamped). */
typedef struct rp_broker_limits {
	rp_mqtt_limits mqtt;          /* after CONNECT is accepted */
	uint32_t max_packet_preauth;  /* before: the CONNECT itself */
	uint16_t receive_max;         /* inbound QoS 1/2 window we grant */
	uint16_t max_inflight;        /* outbound QoS 1/2 window we use at most */
	uint16_t topic_alias_max;     /* inbound topic aliases we accept */
	uint16_t keepalive_max;       /* seconds; 0 from a client means this */
	uint32_t session_expiry_max;  /* seconds */
	uint32_t max_subscriptions;   /* per session */
	uint32_t max_queued_messages; /* per session */
	size_t max_queued_bytes;      /* per session */
	uint32_t connect_timeout_ms;  /* accept to CONNECT accepted */
	/* Per-device rates (token buckets; 0 rate: unlimited). Service clients are not limited. */
	uint32_t device_msg_rate, device_msg_burst;   /* PUBLISH packets per second */
	uint32_t device_byte_rate, device_byte_burst; /* PUBLISH bytes per second */
	uint32_t rate_grace_ms; /* over the limit this long: DISCONNECT 0x96 */
} rp_broker_limits;

/* The defaults of include/rampart/limits.h. */
void rp_broker_limits_default(rp_broker_limits *l);

/* Longest role name (the TLS layer takes roles of 1 to 32 characters from
 * urn:rampart:role:<name>) and longest peer address text (INET6_ADDRSTRLEN
 * is 46 with its NUL). */
#define RP_IDENTITY_ROLE_MAX 32u
#define RP_IDENTITY_ADDR_MAX 47u

/*
 * Who is at the other end, from the verified certificate: three
 * NUL-terminated texts, never NULL. rp_client_new() copies them, sized to
 * them (at most RP_LIMIT_MQTT_CLIENT_ID_LEN, RP_IDENTITY_ROLE_MAX and
 * RP_IDENTITY_ADDR_MAX bytes; longer is cut), and hands its copy, valid as
 * long as the client, to the hooks: an idle connection holds about 30
 * bytes of identity, not 210 of fixed buffers (docs/performance.md).
 */
typedef struct rp_identity {
	const char *id;   /* device id or service name (CN); "" on the plain listener */
	const char *role; /* "device", or a service role */
	const char *addr; /* peer address, for logs and counters */
} rp_identity;

/* Counters of refusals and traffic, per identity or per address. */
typedef struct rp_counters {
	uint64_t connects;
	uint64_t connect_refused;
	uint64_t acl_denied;
	uint64_t protocol_errors;
	uint64_t msgs_in, bytes_in;
	uint64_t msgs_out, bytes_out;
	uint64_t dropped_qos0;  /* a full queue dropped a QoS 0 message */
	uint64_t dropped_qos12; /* a full queue refused a QoS 1/2 message (logged) */
	uint64_t rate_exceeded; /* disconnected with 0x96 after the grace period */
} rp_counters;

/*
 * Creates a broker. `policy` is the ACL (borrowed; MUST outlive the broker
 * or be replaced with rp_broker_set_policy). Returns NULL on allocation
 * failure.
 */
rp_broker *rp_broker_new(const rp_broker_limits *lim, const struct rp_policy *policy);

/* Frees the broker, its sessions and retained messages. Clients MUST be
 * closed and freed first. */
void rp_broker_free(rp_broker *b);

/* Replaces the ACL (SIGHUP). Live subscriptions that the new policy no
 * longer grants are removed. */
void rp_broker_set_policy(rp_broker *b, const struct rp_policy *policy);

/* Session expiry and will delays: call about once a second. */
void rp_broker_tick(rp_broker *b, uint64_t now_ms);

/* Counters for an identity or an address, NULL if never seen. */
const rp_counters *rp_broker_counters_for_id(const rp_broker *b, const char *id);
const rp_counters *rp_broker_counters_for_addr(const rp_broker *b, const char *addr);
/* Whole-broker totals. */
const rp_counters *rp_broker_totals(const rp_broker *b);

/* Number of sessions (connected or not) and of retained messages. */
size_t rp_broker_session_count(const rp_broker *b);
size_t rp_broker_retained_count(const rp_broker *b);

/* ---- telemetry ingestion ---------------------------------------------- */

/* One QoS 1 PUBLISH whose PUBACK waits for the store (opaque). */
typedef struct rp_ingest rp_ingest;

/*
 * The ingestion hook, called under the broker's serialisation (the same
 * thread rules as every call here) for each PUBLISH a device sends to its
 * own telemetry topic, d/{its id}/telemetry, or to the result topic of one
 * of its commands, d/{its id}/cmd/{name}/result (name: one topic level),
 * once the ACL allowed it and before it is routed. topic[0 .. topic_len)
 * is the topic (after alias resolution). `t` is non-NULL for QoS 1 only.
 * Returns:
 * - RP_OK: go on (a QoS 1 PUBLISH is acknowledged at once);
 * - RP_NEED_MORE: QoS 1, the hook kept `t` and MUST call rp_ingest_done(t)
 *   exactly once, later (any thread, under the same serialisation): the
 *   PUBACK waits for it, so acknowledged means stored. Acknowledgements
 *   of one client keep the order of its PUBLISHes [MQTT-4.6.0-2];
 * - any error, with *reason set: the message is refused and not routed.
 *   MQTT 5 clients get *reason in the PUBACK/PUBREC (QoS 1/2) and the
 *   message is dropped at QoS 0. RP_MQTT_RC_PAYLOAD_FORMAT_INVALID counts a
 *   protocol error for the device; MQTT 3.1.1 clients, which cannot be
 *   told, get a plain acknowledgement for it (closing would only make them
 *   send the same broken payload again) and are disconnected for any other
 *   reason (a store that cannot take it: they send it again later).
 * At most limits.receive_max QoS 1 PUBLISHes of a client wait: past that an
 * MQTT 5 client broke its Receive Maximum (DISCONNECT 0x93) and an MQTT
 * 3.1.1 client is not read until one completes.
 */
typedef rp_status (*rp_ingest_fn)(void *ctx, const rp_identity *who, const uint8_t *topic,
				  size_t topic_len, const uint8_t *payload, size_t len, uint8_t qos,
				  rp_ingest *t, uint8_t *reason);

/* Installs the hook (NULL: none). */
void rp_broker_set_ingest(rp_broker *b, rp_ingest_fn fn, void *ctx);

/*
 * The store answered for t: reason 0 sends the PUBACK (with those of later
 * PUBLISHes that were waiting behind it), another reason refuses it (MQTT
 * 5; an MQTT 3.1.1 client is disconnected). If the client has gone, t is
 * only freed. Wakes the client's connection through its io callbacks.
 */
void rp_ingest_done(rp_ingest *t, uint8_t reason);

/* ---- alerts --------------------------------------------------------------- */

/*
 * What the broker sees that an operator should know, called under the
 * broker's serialisation (the hook must not call into the broker):
 * - "credential_cloned": a device's certificate connected from an address
 *   while a connection of the same identity from another address was live
 *   (a shared or cloned credential; the older connection is taken over,
 *   as MQTT requires). detail is JSON: {"addresses": [OLD, NEW]}.
 * The hook decides what to store and how often (the broker calls it for
 * every occurrence).
 */
typedef void (*rp_alert_fn)(void *ctx, const char *kind, const rp_identity *who,
			    const char *detail_json);

/* Installs the hook (NULL: none). */
void rp_broker_set_alert_hook(rp_broker *b, rp_alert_fn fn, void *ctx);

/* ---- revoked identities -------------------------------------------------- */

/*
 * Bans an identity (a certificate's device or service id) for the life of
 * the broker: its connected clients are kicked now (MQTT 5 DISCONNECT 0x98
 * Administrative action; 3.1.1: the connection is closed), and every later
 * CONNECT by it is refused (0x8A Banned; 3.1.1: 5 Not authorized), until
 * the process ends. For revocation: rampartd bans every revoked device at
 * start-up and at once when one is revoked, so a revoked certificate that
 * still verifies (no CRL yet) cannot reconnect. Under the broker's
 * serialisation, from any thread; kicks reach other loops as any kick.
 * *kicked is the number of clients kicked. Returns RP_OK, RP_E_INVALID_ARG
 * (an empty or too long id), RP_E_NOMEM.
 */
rp_status rp_broker_ban(rp_broker *b, const char *id, size_t *kicked);

/* 1 if id was banned. */
int rp_broker_banned(const rp_broker *b, const char *id);

/* ---- messages from the server itself ------------------------------------ */

/*
 * Publishes payload[0 .. len) to topic as the server (no publisher
 * session: no ACL, no rate limit, not retained, no properties), e.g. a
 * command from the REST API to d/{id}/cmd/{name}. Under the broker's
 * serialisation, from any thread (rp_server_broker_lock). Each matching
 * subscription gets it as rp__deliver would give any message (an offline
 * persistent session queues it at QoS 1 or 2). *reached is the number of
 * subscriptions that matched. Returns RP_OK (reached at least one),
 * RP_E_NOT_FOUND (nobody subscribed: the message is gone), RP_E_INVALID_ARG
 * (topic not a valid topic name within the limits, as
 * rp_mqtt_topic_name_check() says; a payload above max_packet; qos above
 * 2), RP_E_NOMEM.
 */
rp_status rp_broker_publish(rp_broker *b, const uint8_t *topic, size_t topic_len,
			    const uint8_t *payload, size_t len, uint8_t qos, size_t *reached);

/* ---- retained messages that outlive the process ------------------------ */

/*
 * Called (under the broker's serialisation) whenever the retained message
 * of a topic is set or cleared: `pub` is the message (NULL: cleared), and
 * packet[0 .. len) the same as one MQTT 5 PUBLISH (topic, QoS, properties,
 * payload; retain set) for rp_broker_restore_retained() after a restart.
 * The hook must not call into the broker.
 */
typedef void (*rp_retain_fn)(void *ctx, const uint8_t *topic, size_t topic_len,
			     const rp_mqtt_publish *pub, const uint8_t *packet, size_t len);

/* Installs the hook (NULL: none). */
void rp_broker_set_retain_hook(rp_broker *b, rp_retain_fn fn, void *ctx);

/*
 * Start-up: makes the PUBLISH packet (as the hook gave it) a retained
 * message again, within the retained caps, without calling the hook.
 * Returns RP_OK, RP_E_LIMIT (a cap), RP_E_NOMEM, or a codec status for a
 * packet that is not a retained PUBLISH. Its message expiry restarts.
 */
rp_status rp_broker_restore_retained(rp_broker *b, const uint8_t *packet, size_t len);

/* ---- persistent sessions that outlive the process ---------------------- */

/*
 * The session hook, called under the broker's serialisation:
 * - from rp_broker_flush_sessions(), with blob[0 .. len) (len > 0): the
 *   durable state of a persistent session that changed since it was last
 *   written (docs/broker.md, "Persistent sessions across restarts"), for
 *   rp_broker_restore_session() after a restart. expires_in_ms is how long
 *   the session outlives its client from now: UINT64_MAX while a client is
 *   connected (it does not expire then);
 * - with blob NULL (len 0, expires_in_ms 0) as soon as a session that was
 *   written ends or stops being persistent (expiry, clean start, expiry 0,
 *   a client of another identity): its row goes.
 * client_id[0 .. client_id_len) is NUL-terminated. The hook MUST NOT call
 * into the broker and MUST NOT block; it copies what it keeps. Returns:
 * RP_OK (queued); RP_E_BUSY (cannot be taken now: a written session stays
 * dirty and the flush stops; a delete cannot be retried by the broker, so
 * the hook MUST keep it itself and return RP_OK); any other status (given
 * up, the hook logged it).
 */
typedef rp_status (*rp_session_fn)(void *ctx, const char *client_id, size_t client_id_len,
				   const uint8_t *blob, size_t len, uint64_t expires_in_ms);

/* Installs the hook (NULL: none). */
void rp_broker_set_session_hook(rp_broker *b, rp_session_fn fn, void *ctx);

/*
 * Writes the dirty sessions through the hook, oldest change first, until
 * none is left, the hook answers RP_E_BUSY, or the blobs handed over reach
 * max_bytes (0: no bound). A persistent session becomes dirty when its
 * subscriptions, QoS 1/2 queue, in-flight window, QoS 2 packet ids,
 * expiry or identity change, or its client goes; QoS 0 traffic never makes
 * it dirty. Without a hook the dirty list is only emptied. Messages that
 * did not fit a blob are logged, at most once a minute per session.
 * Returns RP_OK (none left), RP_NEED_MORE (max_bytes reached), RP_E_BUSY.
 */
rp_status rp_broker_flush_sessions(rp_broker *b, uint64_t now_ms, size_t max_bytes);

/* Sessions waiting for rp_broker_flush_sessions(). */
size_t rp_broker_dirty_sessions(const rp_broker *b);

/* What rp_broker_restore_session() kept and what the configuration no longer allowed. */
typedef struct rp_session_restored {
	size_t subscriptions; /* restored */
	size_t messages;      /* restored: queued or in flight */
	size_t subs_dropped;  /* no longer granted by the policy, or above max_subscriptions */
	size_t msgs_dropped;  /* above the queue bounds or the in-flight window */
	size_t ids_dropped;   /* inbound QoS 2 packet ids above receive_max */
} rp_session_restored;

/*
 * Start-up, before any client connects: re-creates the offline session a
 * blob of the hook describes, with its identity, subscriptions, QoS 2
 * packet ids and QoS 1/2 messages (queued, or in flight with their packet
 * ids and states), without calling the hook. The blob is untrusted (it
 * comes from a database): it is checked strictly against the hard caps of
 * rampart/limits.h, and any structural fault refuses all of it. What only
 * the current configuration refuses (a subscription the policy no longer
 * grants, lowered caps) is dropped and counted in *info (may be NULL).
 * client_id (NUL-terminated; NULL: not checked) is the store's key: the
 * blob's client id must be the same. The session's expiry interval counts
 * from now_ms (the broker's monotonic clock), and so does a message
 * expiry, from the time that was left when the blob was written. The
 * session is marked dirty, so that the next flush writes its new expiry.
 * Returns RP_OK, RP_E_EXISTS (a session of that client id exists),
 * RP_E_MALFORMED (truncated, trailing bytes, a field out of range),
 * RP_E_LIMIT (a count or length above its hard cap), RP_E_DENIED (the
 * client id is not one the identity may use), a codec status for a
 * message that does not decode, RP_E_NOMEM. On error the broker is as it
 * was.
 */
rp_status rp_broker_restore_session(rp_broker *b, const char *client_id, const uint8_t *blob,
				    size_t len, uint64_t now_ms, rp_session_restored *info);

/* ---- clients ----------------------------------------------------------- */

/* How the core reaches the network layer of one client. */
typedef struct rp_client_io {
	void *ctx;
	/* Output became non-empty: start watching for writability. */
	void (*want_write)(void *ctx);
	/*
	 * Close the connection once the pending output is flushed. Called when
	 * another connection takes the session over; it MUST NOT free the
	 * client synchronously (the core is in the middle of another client's
	 * input): mark it and close from the loop.
	 */
	void (*close)(void *ctx);
} rp_client_io;

/* A client for an authenticated transport. NULL on allocation failure. */
rp_client *rp_client_new(rp_broker *b, const rp_identity *who, const rp_client_io *io,
			 uint64_t now_ms);

/*
 * Feeds bytes received from the client. Whole packets are handled; *used
 * (never NULL) is how many bytes were consumed: the caller keeps the rest
 * and calls again with more. Returns:
 * - RP_OK: keep reading (*need_more may tell how many bytes are missing);
 * - RP_E_CLOSED: the client must be closed (after flushing output: a
 *   DISCONNECT or CONNACK with the reason may be queued). Every other
 *   failure is turned into this after being answered and counted.
 */
rp_status rp_client_input(rp_client *c, const uint8_t *buf, size_t len, size_t *used,
			  uint64_t now_ms);

/* The pending output: *len bytes at *buf (0 when nothing is pending). */
void rp_client_output(const rp_client *c, const uint8_t **buf, size_t *len);

/* n bytes of the output were written. */
void rp_client_consumed(rp_client *c, size_t n);

/*
 * Timers: returns RP_E_CLOSED if the client must be closed now (keepalive
 * or CONNECT deadline passed), else RP_OK. *next_ms is when to call again.
 */
rp_status rp_client_tick(rp_client *c, uint64_t now_ms, uint64_t *next_ms);

/*
 * The transport is gone (or about to be closed by us). Publishes the will
 * unless the client disconnected normally, detaches or ends the session.
 * Call once; then rp_client_free().
 */
void rp_client_closed(rp_client *c, uint64_t now_ms);

void rp_client_free(rp_client *c);

/*
 * The server ends the connection (shutdown, revocation): MQTT 5 clients
 * get a DISCONNECT with `reason`; the client is closing from now on.
 */
void rp_client_kick(rp_client *c, uint8_t reason);

/* 1 once CONNECT was accepted. */
int rp_client_connected(const rp_client *c);

/* The protocol level answered in (0 before a CONNECT was read). */
uint8_t rp_client_version(const rp_client *c);

/* Largest packet the client may send now (smaller before CONNECT). */
uint32_t rp_client_max_packet(const rp_client *c);

/* Output bytes pending (for back pressure decisions by the network layer). */
size_t rp_client_pending(const rp_client *c);

/*
 * When the client is over its rate, the time before which the network
 * layer MUST NOT read it (its unconsumed input waits); 0 when not
 * throttled. rp_client_input() sets it and leaves the over-rate packet
 * unconsumed.
 */
uint64_t rp_client_throttled_until(const rp_client *c);

#endif /* RP_SERVER_BROKER_H */
