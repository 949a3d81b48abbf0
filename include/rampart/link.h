/*
 * rampart/link.h - a device's connection to rampartd: MQTT 5 over TLS,
 * kept up.
 *
 * The link owns one TLS connection (rampart/tls_client.h) and one MQTT
 * client state machine (rampart/mqtt_client.h) with its buffers, and
 * drives both from rp_link_run(), a loop step built on poll(). It
 * connects, sends CONNECT (clean start 0 and a session expiry, so that the
 * server keeps the session and QoS 1 messages survive reconnects),
 * subscribes to the device's command topics, delivers messages to a
 * callback, publishes, and on any failure closes and reconnects after a
 * random delay (exponential backoff with full jitter):
 *
 *     delay = uniform random in [0, min(cap, base * 2^attempt)]
 *
 * where attempt counts the failures since the last connection that stayed
 * up for stable_ms. The randomness comes from OpenSSL's CSPRNG, so a fleet
 * cut off at the same moment comes back spread over the whole interval
 * instead of all at once. Policy and numbers: docs/device-link.md.
 *
 *     rp_link_config cfg;
 *     rp_link_config_default(&cfg);
 *     cfg.tls = tls;                       (rp_tlsc_ctx_new: root, chain, key)
 *     cfg.host = "rampart.example.com"; cfg.port = 8883;
 *     cfg.client_id = "dev-0001";          (the certificate's CN)
 *     cfg.on_message = on_command; cfg.ctx = app;
 *     rp_link_new(&cfg, &link);
 *     for (;;)
 *         rp_link_run(link, 1000);         (publish from callbacks or between)
 *     rp_link_free(link);
 *
 * Conventions
 * - Memory: the link allocates (this is the Linux platform layer, not the
 *   portable core): rp_link_new() takes about 2 x max_packet plus a small
 *   record per in-flight message. rp_link_publish() copies the topic and
 *   payload of QoS 1 and 2 messages, so the caller's memory is free when it
 *   returns. The strings of rp_link_config are copied by rp_link_new();
 *   cfg.tls is borrowed and MUST stay valid until rp_link_free().
 * - Callbacks run inside rp_link_run() (and rp_link_free() for done
 *   callbacks), on its thread. They MAY call rp_link_publish() and the
 *   read-only functions; rp_link_run() and rp_link_free() from a callback
 *   return RP_E_STATE / are refused. Views in a callback (topic, payload,
 *   properties, reason codes, why) are valid only until it returns.
 * - Publishing needs a connection: rp_link_publish() returns RP_E_STATE
 *   while the link is not CONNECTED (a store-and-forward queue belongs
 *   above the link). QoS 1 and 2 messages accepted stay with the link until
 *   their done callback, across any number of reconnects: resent by the
 *   resumed session, or published again if the server lost the session.
 * - Time: CLOCK_MONOTONIC. Never the wall clock.
 * - NULL: rp_link_free(NULL) does nothing; NULL callbacks are allowed
 *   (events dropped, messages accepted); any other NULL is
 *   RP_E_INVALID_ARG.
 * - Threads: one link is used by one thread at a time.
 */
#ifndef RAMPART_LINK_H
#define RAMPART_LINK_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "rampart/mqtt.h"
#include "rampart/status.h"
#include "rampart/tls_client.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- backoff ----------------------------------------------------------- */

/* Defaults (docs/device-link.md explains the choice). */
#define RP_LINK_BACKOFF_BASE_MS   1000u   /* first retry within 1 s */
#define RP_LINK_BACKOFF_CAP_MS    300000u /* never more than 5 min apart */
#define RP_LINK_BACKOFF_STABLE_MS 60000u  /* up 1 min: the next failure starts over */

/* Attempts above this count as this one (the ceiling is at its cap by then). */
#define RP_LINK_BACKOFF_MAX_ATTEMPT 31u

typedef struct rp_link_backoff {
	uint32_t base_ms;   /* ceiling of the first delay; at least 1 */
	uint32_t cap_ms;    /* largest ceiling; at least base_ms */
	uint32_t stable_ms; /* a connection up this long resets the attempt counter */
} rp_link_backoff;

/*
 * The ceiling of the delay before retry number `attempt` (0 for the first
 * retry after a failure): min(cap_ms, base_ms * 2^attempt), computed
 * without overflow. A pure function. 0 for NULL.
 */
uint32_t rp_link_backoff_ceiling(const rp_link_backoff *b, uint32_t attempt);

/*
 * The delay before retry number `attempt`: `rnd`, a uniformly random
 * 32-bit value, scaled to [0, ceiling] (rnd * (ceiling + 1) / 2^32, so
 * every value in the interval is reachable and the bias is below
 * ceiling / 2^32). A pure function: the link passes RAND_bytes() output.
 * 0 for NULL.
 */
uint32_t rp_link_backoff_delay(const rp_link_backoff *b, uint32_t attempt, uint32_t rnd);

/* ---- the link ------------------------------------------------------------ */

typedef struct rp_link rp_link;

typedef enum rp_link_state {
	RP_LINK_IDLE = 0,   /* created; the first rp_link_run() connects */
	RP_LINK_CONNECTING, /* TCP, TLS handshake, or waiting for CONNACK */
	RP_LINK_CONNECTED,  /* CONNACK accepted: publish */
	RP_LINK_WAITING     /* failed; waiting for the backoff delay */
} rp_link_state;

/* A message received (on_message), or to publish (rp_link_publish). */
typedef struct rp_link_message {
	const char *topic; /* received: not NUL-terminated; publish: 0 len = strlen */
	size_t topic_len;
	const uint8_t *payload; /* may be NULL when payload_len is 0 */
	size_t payload_len;
	uint8_t qos; /* 0, 1 or 2 */
	uint8_t retain;
	uint8_t dup; /* received only */
	/* Received: the MQTT 5 properties, or NULL. Publish: MUST be NULL. */
	const rp_mqtt_props *props;
} rp_link_message;

typedef enum rp_link_event_type {
	/* CONNACK accepted: session_present says the server resumed the
	 * session (subscriptions and messages in flight kept). */
	RP_LINK_EV_CONNECTED = 1,
	/* SUBACK for the configured topics: count and reason_codes, one per
	 * topic in order (0..2: granted QoS, 0x80 and up: refused, e.g. 0x87
	 * not authorised). */
	RP_LINK_EV_SUBSCRIBED,
	/*
	 * A connection, or an attempt at one, failed or ended: status (the
	 * rp_status of the failure: RP_E_AUTH server certificate refused,
	 * RP_E_DENIED refused by the server, RP_E_TIMEOUT, RP_E_IO, RP_E_CLOSED,
	 * or an MQTT protocol violation) and why, a sentence for the operator
	 * (never secret; server-supplied text in it is reduced to printable
	 * ASCII). The next attempt comes in retry_in_ms; `attempt` is the
	 * backoff attempt number that delay was drawn for.
	 */
	RP_LINK_EV_DISCONNECTED
} rp_link_event_type;

typedef struct rp_link_event {
	uint8_t type; /* rp_link_event_type */
	uint8_t session_present;
	uint16_t count;
	const uint8_t *reason_codes;
	rp_status status;
	const char *why; /* "" when there is nothing to say */
	uint32_t retry_in_ms;
	uint32_t attempt;
} rp_link_event;

typedef void (*rp_link_event_fn)(void *ctx, const rp_link_event *ev);

/*
 * A message from the server. The return value is the reason code of the
 * PUBACK/PUBREC for QoS 1/2: 0 accepts, 0x80 and up refuses (the server
 * does not send it again). Return 0 for QoS 0.
 */
typedef uint8_t (*rp_link_message_fn)(void *ctx, const rp_link_message *msg);

/*
 * The end of a published message.
 * QoS 1 and 2: st RP_OK (reason_code from the PUBACK or PUBCOMP, below
 * 0x80: accepted, 0x10: no subscriber), RP_E_DENIED (the server refused
 * it: reason_code 0x80 and up, e.g. 0x87 not authorised), RP_E_TOO_LARGE
 * (no longer fits the server's Maximum Packet Size after a reconnect),
 * RP_E_CLOSED (rp_link_free() with the message still in flight).
 * QoS 0 (nothing acknowledges it): RP_OK once all its bytes were handed
 * to TLS (sent, not known to be received), RP_E_CLOSED if the connection
 * ended first (the message is lost). reason_code 0.
 */
typedef void (*rp_link_done_fn)(void *ctx, rp_status st, uint8_t reason_code);

typedef struct rp_link_config {
	rp_tlsc_ctx *tls;        /* fleet root, client chain and key; borrowed */
	const char *host;        /* rampartd's address: DNS name or IP literal */
	uint16_t port;           /* e.g. 8883 */
	const char *server_name; /* name its certificate must carry; NULL: host */
	const char *client_id;   /* the device id: its certificate's CN */
	/*
	 * Topic filters to subscribe to after every CONNACK, at sub_qos.
	 * NULL (ntopics 0): the device's command topic "d/{client_id}/cmd/+".
	 * Subscribed with Retain Handling 1, so a resumed subscription does not
	 * bring the retained messages again.
	 */
	const char *const *topics;
	size_t ntopics;
	uint8_t sub_qos;
	uint16_t keepalive_s;        /* MQTT keep alive; default 60 */
	uint32_t session_expiry_s;   /* kept by the server this long offline; default 86400 */
	uint32_t connect_timeout_ms; /* TCP + TLS; then CONNACK, PINGRESP; default 15000 */
	uint32_t max_packet;         /* largest packet in (announced) and out; default 64 KiB */
	uint16_t max_inflight;       /* QoS 1/2 messages awaiting their ack; default 16 */
	rp_link_backoff backoff;
	rp_link_event_fn on_event;     /* may be NULL */
	rp_link_message_fn on_message; /* may be NULL: messages accepted, dropped */
	void *ctx;                     /* passed to both */
} rp_link_config;

/* Fills *cfg with the defaults above; tls, host, port, client_id are still
 * the caller's to set. */
void rp_link_config_default(rp_link_config *cfg);

/*
 * Creates a link (state IDLE; nothing is sent until rp_link_run()).
 * Returns RP_OK and *out; RP_E_INVALID_ARG (NULL cfg/out, no tls, host,
 * port or client_id, a client id that cannot be a topic level (/, +, #) or
 * longer than RP_LIMIT_MQTT_CLIENT_ID_LEN, an invalid topic filter or more
 * than RP_DEFAULT_MQTT_SUB_ENTRIES of them, sub_qos above 2, backoff base 0
 * or cap below base, max_inflight 0 or 65535, max_packet below 1 KiB or
 * above RP_LIMIT_MQTT_PACKET); RP_E_NOMEM. *out is NULL on failure.
 * connect_timeout_ms 0 means the default; session_expiry_s 0 means the
 * server ends the session at each disconnect (messages in flight are then
 * published again after the next CONNACK).
 */
rp_status rp_link_new(const rp_link_config *cfg, rp_link **out);

/*
 * One loop step: does the work that is due (connect, handshake, send,
 * receive and deliver, keep alive, reconnect), waits at most timeout_ms
 * (0: not at all; negative: until something happens) for the socket or the
 * next deadline, and does the work that became due. Connection failures
 * are not errors here: they are RP_LINK_EV_DISCONNECTED events, followed by
 * a reconnect after the backoff delay.
 *
 * Returns RP_OK; RP_E_INVALID_ARG (NULL); RP_E_STATE (from a callback);
 * RP_E_IO (poll() itself failed, not EINTR).
 */
rp_status rp_link_run(rp_link *l, int timeout_ms);

/*
 * For an application with its own poll loop: the descriptor and events to
 * watch (pfd->fd is -1 when there is none, e.g. while waiting to retry)
 * and *timeout_ms, the most to wait before calling rp_link_run(l, 0).
 * Returns RP_OK or RP_E_INVALID_ARG.
 */
rp_status rp_link_wants(const rp_link *l, struct pollfd *pfd, int *timeout_ms);

/*
 * Publishes msg (msg->props MUST be NULL). QoS 0 is encoded into the
 * output at once (the caller's memory is free on return). QoS 1 and 2 are
 * copied and kept until acknowledged. `done` (may be NULL) is called once
 * with done_ctx, from a later rp_link_run() or rp_link_free(), as
 * rp_link_done_fn says.
 *
 * Returns RP_OK; RP_E_STATE (not CONNECTED); RP_E_BUSY (run the loop and
 * try again: messages the server lost are being published again first,
 * max_inflight messages in flight, the server's Receive Maximum reached,
 * or, for QoS 0, no room in the output now, or max_inflight QoS 0 messages
 * with a done callback not sent yet); RP_E_INVALID_ARG (NULL, qos above 2,
 * props set); RP_E_TOO_LARGE (above the server's Maximum Packet Size);
 * RP_E_BUF_TOO_SMALL (above max_packet); RP_E_QOS, RP_E_DENIED (the
 * server's Maximum QoS, Retain Available); RP_E_NOMEM; or the codec's
 * status for a bad topic (RP_E_TOPIC_NAME, RP_E_UTF8, RP_E_LIMIT).
 */
rp_status rp_link_publish(rp_link *l, const rp_link_message *msg, rp_link_done_fn done,
			  void *done_ctx);

/* The state; RP_LINK_IDLE for NULL. */
rp_link_state rp_link_get_state(const rp_link *l);

/* Why the last connection or attempt failed; "" if none did. Never NULL. */
const char *rp_link_last_error(const rp_link *l);

/* Counters, for health reports and tests. */
typedef struct rp_link_stats {
	uint64_t attempts;      /* connection attempts started */
	uint64_t connects;      /* CONNACKs accepted */
	uint64_t failures;      /* attempts and connections that failed or ended */
	uint64_t resumed;       /* CONNACKs with session present */
	uint64_t published;     /* rp_link_publish() accepted */
	uint64_t acked;         /* QoS 1/2 done with RP_OK */
	uint64_t republished;   /* lost by the server, published again */
	uint64_t received;      /* messages delivered to on_message */
	uint64_t bytes_out;     /* MQTT bytes handed to TLS */
	uint64_t bytes_in;      /* MQTT bytes read from TLS */
	uint32_t attempt;       /* backoff attempt counter now */
	uint32_t next_retry_ms; /* WAITING: time left before the next attempt */
	uint32_t inflight;      /* QoS 1/2 messages held by the link */
} rp_link_stats;

/* Fills *out. Returns RP_OK or RP_E_INVALID_ARG. */
rp_status rp_link_get_stats(const rp_link *l, rp_link_stats *out);

/*
 * Ends the link: if connected, sends DISCONNECT (0x00: the session stays
 * on the server for session_expiry_s, the will is not published) and TLS
 * close_notify as far as the socket takes them without waiting; calls the
 * done callback of every message still in flight with RP_E_CLOSED; frees
 * everything. NULL: nothing. From a callback: refused (nothing happens).
 */
void rp_link_free(rp_link *l);

#ifdef __cplusplus
}
#endif

#endif /* RAMPART_LINK_H */
