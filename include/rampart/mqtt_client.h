/*
 * rampart/mqtt_client.h - the device side's MQTT client, as a state machine.
 *
 * The client speaks MQTT 5.0 or 3.1.1 (chosen at init) over a connection
 * that the caller owns. It is sans-I/O: it never touches a socket, a clock
 * or a random number generator. The caller feeds it the bytes read from the
 * connection (rp_mqttc_input), sends the bytes it gives (rp_mqttc_output,
 * rp_mqttc_consumed), tells it the time, and asks it when it next needs to
 * be woken (rp_mqttc_tick). Packets are read and written by the codec of
 * rampart/mqtt.h; this layer adds the connection and session state:
 * CONNECT/CONNACK, packet identifiers, the QoS 1 and 2 flows both ways,
 * session resumption, keep alive, flow control and the server's limits.
 *
 * A typical loop:
 *
 *     rp_mqttc_connect(&c, &opts, now());
 *     for (;;) {
 *         while (rp_mqttc_output(&c, &out, &n) == RP_OK && n != 0)
 *             rp_mqttc_consumed(&c, send(sock, out, n));   (or fewer bytes)
 *         if (rp_mqttc_get_state(&c) == RP_MQTTC_CLOSED)
 *             break;                          close the socket, rp_mqttc_reset()
 *         rp_mqttc_tick(&c, now(), &deadline);
 *         wait for the socket or the deadline;
 *         rx_len += recv(sock, rx + rx_len, sizeof(rx) - rx_len);
 *         st = rp_mqttc_input(&c, rx, rx_len, now(), &used, on_event, ctx);
 *         memmove(rx, rx + used, rx_len - used); rx_len -= used;
 *         (RP_E_BUSY: send output, then call rp_mqttc_input again)
 *     }
 *
 * Conventions
 * - Memory: the client allocates nothing. The caller provides, at init, the
 *   rp_mqttc object, the in-flight slots, the output buffer and (in the
 *   configuration) the store of received QoS 2 packet identifiers and the
 *   optional topic alias table. All of them MUST stay valid, and MUST NOT
 *   be touched by the caller, until the client is no longer used. The
 *   fields of rp_mqttc and rp_mqttc_slot are private.
 * - Messages published at QoS 1 or 2 are not copied: the topic, the payload
 *   and the properties given to rp_mqttc_publish() MUST stay valid and
 *   unchanged until the client reports the message finished
 *   (RP_MQTTC_EV_PUBLISH_DONE or RP_MQTTC_EV_PUBLISH_LOST with its packet
 *   identifier), because it may have to send it again after a reconnect.
 *   QoS 0 messages, SUBSCRIBE and UNSUBSCRIBE entries and CONNECT options are
 *   encoded at once and may be reused when the call returns.
 * - Input: rp_mqttc_input() reads whole packets from the start of the
 *   caller's buffer and reports how many bytes it used. The bytes of an
 *   incomplete packet are not used: the caller keeps them and presents them
 *   again, followed by more, at the start of the next call. So the receive
 *   buffer MUST hold at least cfg.limits.max_packet bytes (the largest
 *   packet the client accepts, announced to an MQTT 5 server).
 * - Events: rp_mqttc_input() reports what the server did through a callback
 *   (rp_mqttc_event_fn). Views in an event (topic, payload, properties,
 *   reason codes) point into the caller's input buffer or into the client's
 *   storage and are valid only until the callback returns. The callback MAY
 *   call rp_mqttc_publish(), rp_mqttc_subscribe(), rp_mqttc_unsubscribe()
 *   and rp_mqttc_disconnect() on the same client; any other call on it from
 *   inside the callback returns RP_E_STATE.
 * - Time: every now_ms is a monotonic clock in milliseconds, of any origin;
 *   it MUST NOT go backwards. Deadlines are on the same clock.
 * - Errors: a function that returns an error changes nothing, except where
 *   its comment says otherwise. A protocol violation by the server is
 *   sticky: the client closes the connection (state RP_MQTTC_CLOSED), keeps
 *   the status for rp_mqttc_error() and the reason code for
 *   rp_mqttc_reason(), and queues its DISCONNECT (MQTT 5) until
 *   rp_mqttc_reset(). RP_NEED_MORE and RP_E_BUSY are not failures: they say
 *   "give me more bytes" and "send my output first".
 * - NULL is allowed only where a comment says so; elsewhere it gives
 *   RP_E_INVALID_ARG.
 * - Threads: one client is used by one thread at a time; different clients
 *   share nothing.
 *
 * Attacker model: every byte given to rp_mqttc_input() may come from an
 * attacker (a compromised server, or a man in the middle when TLS is not
 * used). Packets are framed with the announced maximum size before any body
 * is read, decoded by the strict codec, and checked against the connection
 * state: packet identifiers the client does not hold, more QoS 2 messages
 * than its Receive Maximum, topic aliases it did not offer, packets out of
 * order. Each is a protocol violation that closes the connection with the
 * reason code MQTT 5 names for it.
 */
#ifndef RAMPART_MQTT_CLIENT_H
#define RAMPART_MQTT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "rampart/mqtt.h"
#include "rampart/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Time to wait for CONNACK and for PINGRESP, when the configuration says 0. */
#define RP_MQTTC_DEFAULT_RESPONSE_TIMEOUT_MS 10000u

/* rp_mqttc_tick(): no deadline at all (not connected, or keep alive off). */
#define RP_MQTTC_NO_DEADLINE UINT64_MAX

/* The largest acknowledgement the client writes (MQTT 5 with a reason code). */
#define RP_MQTTC_ACK_MAX 5u

/* The smallest output buffer rp_mqttc_init() accepts. */
#define RP_MQTTC_TXBUF_MIN 32u

/* The life of a connection. */
typedef enum rp_mqttc_state {
	RP_MQTTC_IDLE = 0,   /* no connection: after init and reset */
	RP_MQTTC_CONNECTING, /* CONNECT queued, waiting for CONNACK */
	RP_MQTTC_CONNECTED,  /* CONNACK accepted */
	RP_MQTTC_CLOSED      /* over: send the remaining output, close, then reset */
} rp_mqttc_state;

/* Configuration, read once by rp_mqttc_init(). */
typedef struct rp_mqttc_config {
	/* RP_MQTT_V5 or RP_MQTT_V311. */
	uint8_t version;
	/*
	 * What the client accepts from the server. limits.max_packet is
	 * announced as Maximum Packet Size (MQTT 5) and is the size the
	 * caller's receive buffer MUST hold. Fields above their hard cap in
	 * rampart/limits.h are lowered to it (rp_mqtt_limits_clamp).
	 */
	rp_mqtt_limits limits;
	/* How long CONNACK and PINGRESP may take; 0 means the default above. */
	uint32_t response_timeout_ms;
	/*
	 * Store of the packet identifiers of QoS 2 messages received and not
	 * yet released by the server (PUBREL), which exactly-once delivery
	 * needs: rx_ids has receive_max entries. receive_max (at least 1) is
	 * announced as Receive Maximum (MQTT 5); a server that leaves more
	 * QoS 2 messages unreleased breaks the connection (0x93; under 3.1.1,
	 * which has no flow control, the connection is closed all the same).
	 * The store is session state: it survives rp_mqttc_reset().
	 */
	uint16_t *rx_ids;
	uint16_t receive_max;
	/*
	 * Optional (MQTT 5): a table for topic aliases chosen by the server.
	 * Each alias takes 2 + limits.max_topic_len bytes; the client announces
	 * Topic Alias Maximum = alias_cap / that (at most 65535). NULL or too
	 * small: 0, and a server that uses an alias breaks the connection.
	 */
	uint8_t *alias_buf;
	size_t alias_cap;
} rp_mqttc_config;

/* An in-flight slot: one QoS 1/2 PUBLISH, SUBSCRIBE or UNSUBSCRIBE. Private. */
typedef struct rp_mqttc_slot {
	rp_mqtt_str topic;
	rp_mqtt_bin payload;
	const rp_mqtt_props *props;
	uint16_t packet_id;
	uint16_t count; /* SUBSCRIBE, UNSUBSCRIBE: entries */
	uint8_t kind;
	uint8_t stage;
	uint8_t flags;
	uint8_t qos;
} rp_mqttc_slot;

/* The client. Every field is private: use the functions below. */
typedef struct rp_mqttc {
	rp_mqtt_limits lim;     /* received packets */
	rp_mqtt_limits lim_out; /* sent packets: max_packet is the server's */
	uint8_t version;
	uint8_t state;
	uint8_t clean_start;
	uint8_t ping_owed;
	uint8_t ping_wait;
	uint8_t disconnect_owed;
	uint8_t in_callback;
	uint8_t reason;
	uint8_t server_max_qos;
	uint8_t server_retain;
	uint16_t server_rmax;
	uint16_t next_id;
	uint16_t *rx_ids;
	uint16_t rx_max;
	uint16_t rx_count;
	uint16_t alias_max;
	uint8_t *alias_buf;
	size_t alias_entry;
	rp_mqttc_slot *slots;
	uint16_t nslots;
	uint16_t nused;
	uint8_t *tx;
	size_t txcap;
	size_t tx_head;
	size_t tx_tail;
	size_t tx_reserve;
	rp_status error;
	uint32_t timeout_ms;
	uint32_t keepalive_ms;
	uint64_t now;
	uint64_t last_tx;
	uint64_t ping_sent;
	uint64_t connect_sent;
} rp_mqttc;

/* An application message to publish. */
typedef struct rp_mqttc_message {
	rp_mqtt_str topic;   /* a topic name: no wildcard, not empty */
	rp_mqtt_bin payload; /* may be empty */
	uint8_t qos;         /* 0, 1 or 2 */
	uint8_t retain;
	/*
	 * MQTT 5 properties (message expiry, content type, response topic,
	 * correlation data, user properties, payload format), or NULL. A
	 * Topic Alias or Subscription Identifier is refused: the client does
	 * not use outgoing aliases, and a client may not send the latter.
	 */
	const rp_mqtt_props *props;
} rp_mqttc_message;

/* What rp_mqttc_input() reports. */
typedef enum rp_mqttc_event_type {
	/*
	 * CONNACK. reason_code 0: connected (state CONNECTED, unless a
	 * PUBLISH_LOST callback before it disconnected), session_present
	 * says whether the server resumed the session. Otherwise the server
	 * refused (state CLOSED): reason_code is an MQTT 5 reason code; a
	 * 3.1.1 return code is translated (1 -> 0x84, 2 -> 0x85, 3 -> 0x88,
	 * 4 -> 0x86, 5 -> 0x87). pkt holds the server's properties (assigned
	 * client identifier, server keep alive, reason string...).
	 */
	RP_MQTTC_EV_CONNACK = 1,
	/*
	 * A message from the server: topic (resolved from a topic alias when
	 * one was used), payload, qos, retain, dup, packet_id (QoS 1 and 2).
	 * A QoS 2 message is reported once, even when the server sends it
	 * again; a QoS 1 message sent again (dup) is reported again.
	 */
	RP_MQTTC_EV_PUBLISH,
	/*
	 * One of our QoS 1 or 2 messages is finished: packet_id, qos, topic
	 * and payload (the caller's own), reason_code from the PUBACK, the
	 * PUBREC (a refusal, 0x80 and up) or the PUBCOMP. Its memory may be
	 * reused from now on.
	 */
	RP_MQTTC_EV_PUBLISH_DONE,
	/*
	 * One of our QoS 1 or 2 messages is dropped without an answer: the
	 * server did not resume the session (session present 0), or the
	 * message no longer fits the server's Maximum Packet Size. Reported
	 * just before the RP_MQTTC_EV_CONNACK that caused it. packet_id, qos,
	 * topic, payload as for PUBLISH_DONE; pkt is NULL. The caller may
	 * publish it again; `received` 1 says the server had acknowledged
	 * receiving it (a QoS 2 message at PUBREC), so that publishing it again
	 * may deliver it twice.
	 */
	RP_MQTTC_EV_PUBLISH_LOST,
	/* SUBACK: packet_id, count and reason_codes (one per filter, in order). */
	RP_MQTTC_EV_SUBACK,
	/* UNSUBACK: packet_id, count and reason_codes (MQTT 5; none in 3.1.1). */
	RP_MQTTC_EV_UNSUBACK,
	/*
	 * DISCONNECT from the server (MQTT 5): reason_code; pkt holds the
	 * reason string and server reference. The state is CLOSED.
	 */
	RP_MQTTC_EV_DISCONNECT
} rp_mqttc_event_type;

typedef struct rp_mqttc_event {
	uint8_t type; /* rp_mqttc_event_type */
	uint8_t reason_code;
	uint8_t session_present;
	uint8_t qos;
	uint8_t retain;
	uint8_t dup;
	uint8_t received; /* PUBLISH_LOST only */
	uint16_t packet_id;
	uint16_t count;
	const uint8_t *reason_codes;
	rp_mqtt_str topic;
	rp_mqtt_bin payload;
	/* The decoded packet behind the event (all its properties), or NULL. */
	const rp_mqtt_packet *pkt;
} rp_mqttc_event;

/*
 * The event callback. Its return value matters only for
 * RP_MQTTC_EV_PUBLISH at QoS 1 or 2 under MQTT 5: it is the reason code of
 * the PUBACK or PUBREC the client answers with. 0 accepts the message; a
 * code from 0x80 refuses it (0x80 unspecified, 0x83 implementation
 * specific, 0x87 not authorised, 0x97 quota exceeded, 0x99 payload format
 * invalid); a refused QoS 2 message is not remembered. A value MQTT 5 does
 * not allow in a PUBACK is sent as 0x80. Return 0 for every other event.
 */
typedef uint8_t (*rp_mqttc_event_fn)(void *ctx, const rp_mqttc_event *ev);

/*
 * Fills *cfg with MQTT 5, the default limits of rampart/limits.h, the
 * default response timeout, and no storage (rx_ids NULL, receive_max 0,
 * no alias table): the caller MUST still provide rx_ids and receive_max.
 */
void rp_mqttc_config_default(rp_mqttc_config *cfg);

/*
 * Prepares *c (state IDLE) with the caller's storage: `nslots` in-flight
 * slots (the most QoS 1/2 messages, subscriptions and unsubscriptions
 * waiting for an answer at once; at most 65535 are used) and an output
 * buffer of `txcap` bytes, which bounds the largest packet the client can
 * send. *cfg is copied; the storage it names is used from now on.
 *
 * Returns RP_OK, or RP_E_INVALID_ARG: a NULL pointer, nslots 0, txcap below
 * RP_MQTTC_TXBUF_MIN, a version other than 4 or 5, receive_max 0 or rx_ids
 * NULL.
 */
rp_status rp_mqttc_init(rp_mqttc *c, const rp_mqttc_config *cfg, rp_mqttc_slot *slots,
			size_t nslots, uint8_t *txbuf, size_t txcap);

/*
 * Queues a CONNECT built from *opts (state IDLE -> CONNECTING) and starts
 * the CONNACK deadline. The client sets the protocol version and, under
 * MQTT 5, the Receive Maximum, Maximum Packet Size and Topic Alias Maximum
 * properties from its configuration (whatever opts->props says of them);
 * everything else (client identifier, clean start, keep alive, session
 * expiry, will, user name, password, user properties) is the caller's.
 * opts->clean_start 0 asks the server to resume the session: messages still
 * in flight from an earlier connection are sent again once it has.
 *
 * Returns RP_OK; RP_E_STATE when not IDLE or inside a callback;
 * RP_E_INVALID_ARG for a NULL pointer or an Authentication Method (enhanced
 * authentication is not supported); RP_E_BUF_TOO_SMALL when the CONNECT is
 * larger than the output buffer; or the codec's status for an invalid
 * CONNECT (rp_mqtt_encoded_size).
 */
rp_status rp_mqttc_connect(rp_mqttc *c, const rp_mqtt_connect *opts, uint64_t now_ms);

/*
 * Publishes *msg. QoS 0 is written to the output at once. QoS 1 and 2 take
 * a slot and a packet identifier (*packet_id, which may be NULL for QoS 0)
 * and are written as soon as the output has room, in the order published;
 * the slot is freed by RP_MQTTC_EV_PUBLISH_DONE or _LOST.
 *
 * Returns RP_OK; RP_E_STATE when not CONNECTED; RP_E_INVALID_ARG for NULL
 * or a qos above 2 or a forbidden property; RP_E_QOS for a qos above the
 * server's Maximum QoS; RP_E_DENIED for retain when the server has no
 * retained messages; RP_E_TOO_LARGE when the packet exceeds the server's
 * Maximum Packet Size; RP_E_BUF_TOO_SMALL when it exceeds the output
 * buffer; RP_E_BUSY when no slot is free, the server's Receive Maximum is
 * reached, or (QoS 0) the output has no room now or messages are waiting
 * to be written; or the codec's status for an invalid packet.
 */
rp_status rp_mqttc_publish(rp_mqttc *c, const rp_mqttc_message *msg, uint16_t *packet_id);

/*
 * Queues a SUBSCRIBE of `count` entries (filter and options) with
 * properties *props (MQTT 5; NULL for none), and sets *packet_id. The
 * SUBACK is reported as RP_MQTTC_EV_SUBACK.
 *
 * Returns RP_OK; RP_E_STATE when not CONNECTED; RP_E_INVALID_ARG for NULL
 * entries, packet_id or count 0; RP_E_BUSY when no slot is free or the
 * output has no room now; RP_E_TOO_LARGE, RP_E_BUF_TOO_SMALL as for
 * publish; or the codec's status for an invalid packet.
 */
rp_status rp_mqttc_subscribe(rp_mqttc *c, const rp_mqtt_sub_entry *entries, uint16_t count,
			     const rp_mqtt_props *props, uint16_t *packet_id);

/*
 * Queues an UNSUBSCRIBE of the filters of `count` entries (options are
 * ignored). Reported as RP_MQTTC_EV_UNSUBACK. Returns as subscribe.
 */
rp_status rp_mqttc_unsubscribe(rp_mqttc *c, const rp_mqtt_sub_entry *entries, uint16_t count,
			       const rp_mqtt_props *props, uint16_t *packet_id);

/*
 * Ends the connection from the client's side: queues a DISCONNECT (MQTT 5:
 * with reason_code, e.g. 0x00 normal or 0x04 with will message; 3.1.1: no
 * reason, and the will is discarded) and goes to CLOSED. The session, if
 * the server keeps it, can be resumed later.
 *
 * Returns RP_OK; RP_E_STATE when not CONNECTING or CONNECTED;
 * RP_E_INVALID_ARG for a reason code MQTT 5 does not allow in DISCONNECT.
 */
rp_status rp_mqttc_disconnect(rp_mqttc *c, uint8_t reason_code);

/*
 * Reads the packets at the start of buf[0 .. len), received at now_ms, and
 * reports each through on_event (NULL: events are dropped and every
 * message is accepted). *used is the number of bytes read: whole packets
 * only.
 *
 * Returns:
 * - RP_OK: all of buf is used, or the connection has ended normally (the
 *   server refused the CONNECT, sent DISCONNECT, or the callback called
 *   rp_mqttc_disconnect): state CLOSED and the rest is not read.
 * - RP_NEED_MORE: buf[*used .. len) is the start of a packet: keep it and
 *   call again with more bytes after it.
 * - RP_E_BUSY: the next packet needs an answer and the output has no room:
 *   send output, then call again with buf + *used.
 * - RP_E_STATE: not CONNECTING or CONNECTED, or inside a callback.
 * - RP_E_INVALID_ARG: c, buf or used NULL (buf may be NULL when len is 0).
 * - Anything else: the server broke the protocol. The status names the
 *   rule (the codec's statuses, RP_E_PROTOCOL for a packet that is valid
 *   but wrong here, RP_E_LIMIT for Receive Maximum exceeded); the client is
 *   CLOSED and, under MQTT 5, its DISCONNECT carries rp_mqttc_reason().
 *   The packets before the bad one have been reported; it has not.
 */
rp_status rp_mqttc_input(rp_mqttc *c, const uint8_t *buf, size_t len, uint64_t now_ms, size_t *used,
			 rp_mqttc_event_fn on_event, void *ctx);

/*
 * Gives the bytes waiting to be sent: *out and *out_len (0 when nothing
 * waits). First writes what is owed and now fits (messages waiting for
 * room, messages to send again after a reconnect, PINGREQ, DISCONNECT).
 * The bytes stay valid until the next call on the client other than
 * rp_mqttc_get_state/error/reason.
 * Returns RP_OK, RP_E_INVALID_ARG for a NULL pointer, or RP_E_STATE inside
 * a callback.
 */
rp_status rp_mqttc_output(rp_mqttc *c, const uint8_t **out, size_t *out_len);

/*
 * Tells the client that the first n bytes given by rp_mqttc_output() were
 * sent. Returns RP_OK; RP_E_INVALID_ARG when c is NULL or n is more than
 * what was waiting; RP_E_STATE inside a callback.
 */
rp_status rp_mqttc_consumed(rp_mqttc *c, size_t n);

/*
 * Lets time pass: queues a PINGREQ when the keep alive is due, and checks
 * the CONNACK and PINGRESP deadlines. Sets *next_deadline_ms (when tick
 * should be called next, at the latest; RP_MQTTC_NO_DEADLINE if never).
 * Keep alive counts from the last packet queued, dated by the last now_ms
 * the client was given before it: never later than the truth, so a
 * PINGREQ is never late.
 *
 * Returns RP_OK; RP_E_TIMEOUT when CONNACK or a PINGRESP (or any packet
 * after a PINGREQ) did not come in time: the client is CLOSED and sends no
 * DISCONNECT (the connection is presumed dead); RP_E_INVALID_ARG for NULL;
 * RP_E_STATE inside a callback. In IDLE and CLOSED it only sets the
 * deadline (none).
 */
rp_status rp_mqttc_tick(rp_mqttc *c, uint64_t now_ms, uint64_t *next_deadline_ms);

/*
 * Forgets the connection (after the socket is closed, whatever the state)
 * and keeps the session: QoS 1/2 messages in flight and received QoS 2
 * identifiers. Pending output, the sticky error and the topic aliases are
 * dropped. SUBSCRIBE and UNSUBSCRIBE still waiting for their ack are
 * forgotten without an event (their ack will not come): subscribe again
 * after the next CONNACK if it matters. State IDLE: call rp_mqttc_connect.
 * Returns RP_OK, RP_E_INVALID_ARG for NULL, or RP_E_STATE inside a callback.
 */
rp_status rp_mqttc_reset(rp_mqttc *c);

/* The state; RP_MQTTC_IDLE for NULL. */
rp_mqttc_state rp_mqttc_get_state(const rp_mqttc *c);

/*
 * Why the connection ended: RP_OK (still open, or closed by the client),
 * RP_E_DENIED (CONNACK refused), RP_E_CLOSED (DISCONNECT from the server),
 * RP_E_TIMEOUT, or the protocol violation rp_mqttc_input() returned.
 * RP_E_INVALID_ARG for NULL.
 */
rp_status rp_mqttc_error(const rp_mqttc *c);

/*
 * The reason code of the end of the connection: the CONNACK refusal, the
 * server's DISCONNECT, or the one the client sent (or would send, under
 * 3.1.1) in its DISCONNECT. 0 while open and for NULL.
 */
uint8_t rp_mqttc_reason(const rp_mqttc *c);

/* QoS 1/2 messages and (un)subscriptions waiting for an answer; 0 for NULL. */
size_t rp_mqttc_inflight(const rp_mqttc *c);

#ifdef __cplusplus
}
#endif

#endif /* RAMPART_MQTT_CLIENT_H */
