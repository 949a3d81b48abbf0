/*
 * rampart/mqtt.h - the MQTT 3.1.1 and 5.0 packet codec.
 *
 * One codec serves the broker and the device SDK. It is sans-I/O: bytes in,
 * packets out; packets in, bytes out. It never allocates, never calls the OS
 * and keeps no state between calls, so it is safe from any thread as long as
 * the buffers passed to one call are not changed during that call.
 *
 * Conventions
 * - Versions: RP_MQTT_V311 (protocol level 4) and RP_MQTT_V5 (level 5). Every
 *   function that reads or writes a packet other than CONNECT takes the
 *   version agreed by the connection; CONNECT carries its own.
 * - Decoding gives views: every rp_mqtt_str and rp_mqtt_bin in a decoded
 *   packet points into the caller's input buffer, which MUST outlive the
 *   packet. Nothing is copied.
 * - Decoding is strict: every rule that MQTT 3.1.1 or 5.0 makes normative for
 *   a receiver is checked, and each broken rule has its own rp_status, so
 *   rp_mqtt_reason_for() can give the reason code to send back.
 *   A decoded packet is a valid packet; no field needs checking again.
 * - Encoding validates the packet the same way (a Rampart peer never sends a
 *   malformed packet), computes the exact size first and writes only into
 *   out[0 .. cap). On failure nothing useful is in out.
 * - Limits arrive as an rp_mqtt_limits value, never as a compile-time
 *   switch. rp_mqtt_limits_default() fills one; rp_mqtt_limits_clamp() lowers
 *   any field above its hard cap in rampart/limits.h.
 * - NULL pointers are allowed only where a comment says so; passing NULL
 *   elsewhere returns RP_E_INVALID_ARG.
 *
 * Attacker model: every byte given to a decoder may come from an
 * unauthenticated peer. Lengths read from the wire are never trusted: every
 * read is bounded by the remaining length, and the remaining length is
 * bounded by the buffer and by limits->max_packet before anything is read.
 */
#ifndef RAMPART_MQTT_H
#define RAMPART_MQTT_H

#include <stddef.h>
#include <stdint.h>

#include "rampart/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Protocol levels. */
#define RP_MQTT_V311 4u
#define RP_MQTT_V5   5u

/* Control packet types (fixed header, high nibble). */
typedef enum rp_mqtt_type {
	RP_MQTT_CONNECT = 1,
	RP_MQTT_CONNACK = 2,
	RP_MQTT_PUBLISH = 3,
	RP_MQTT_PUBACK = 4,
	RP_MQTT_PUBREC = 5,
	RP_MQTT_PUBREL = 6,
	RP_MQTT_PUBCOMP = 7,
	RP_MQTT_SUBSCRIBE = 8,
	RP_MQTT_SUBACK = 9,
	RP_MQTT_UNSUBSCRIBE = 10,
	RP_MQTT_UNSUBACK = 11,
	RP_MQTT_PINGREQ = 12,
	RP_MQTT_PINGRESP = 13,
	RP_MQTT_DISCONNECT = 14,
	RP_MQTT_AUTH = 15 /* MQTT 5 only */
} rp_mqtt_type;

/* Reason codes of MQTT 5 (section 2.4), also used to report 3.1.1 errors. */
enum {
	RP_MQTT_RC_SUCCESS = 0x00, /* also: normal disconnection, granted QoS 0 */
	RP_MQTT_RC_GRANTED_QOS1 = 0x01,
	RP_MQTT_RC_GRANTED_QOS2 = 0x02,
	RP_MQTT_RC_DISCONNECT_WITH_WILL = 0x04,
	RP_MQTT_RC_NO_MATCHING_SUBSCRIBERS = 0x10,
	RP_MQTT_RC_NO_SUBSCRIPTION_EXISTED = 0x11,
	RP_MQTT_RC_CONTINUE_AUTH = 0x18,
	RP_MQTT_RC_REAUTHENTICATE = 0x19,
	RP_MQTT_RC_UNSPECIFIED = 0x80,
	RP_MQTT_RC_MALFORMED = 0x81,
	RP_MQTT_RC_PROTOCOL_ERROR = 0x82,
	RP_MQTT_RC_IMPL_SPECIFIC = 0x83,
	RP_MQTT_RC_UNSUPPORTED_VERSION = 0x84,
	RP_MQTT_RC_CLIENT_ID_INVALID = 0x85,
	RP_MQTT_RC_BAD_USER_OR_PASSWORD = 0x86,
	RP_MQTT_RC_NOT_AUTHORIZED = 0x87,
	RP_MQTT_RC_SERVER_UNAVAILABLE = 0x88,
	RP_MQTT_RC_SERVER_BUSY = 0x89,
	RP_MQTT_RC_BANNED = 0x8A,
	RP_MQTT_RC_SERVER_SHUTTING_DOWN = 0x8B,
	RP_MQTT_RC_BAD_AUTH_METHOD = 0x8C,
	RP_MQTT_RC_KEEPALIVE_TIMEOUT = 0x8D,
	RP_MQTT_RC_SESSION_TAKEN_OVER = 0x8E,
	RP_MQTT_RC_TOPIC_FILTER_INVALID = 0x8F,
	RP_MQTT_RC_TOPIC_NAME_INVALID = 0x90,
	RP_MQTT_RC_PACKET_ID_IN_USE = 0x91,
	RP_MQTT_RC_PACKET_ID_NOT_FOUND = 0x92,
	RP_MQTT_RC_RECEIVE_MAX_EXCEEDED = 0x93,
	RP_MQTT_RC_TOPIC_ALIAS_INVALID = 0x94,
	RP_MQTT_RC_PACKET_TOO_LARGE = 0x95,
	RP_MQTT_RC_MESSAGE_RATE_TOO_HIGH = 0x96,
	RP_MQTT_RC_QUOTA_EXCEEDED = 0x97,
	RP_MQTT_RC_ADMINISTRATIVE_ACTION = 0x98,
	RP_MQTT_RC_PAYLOAD_FORMAT_INVALID = 0x99,
	RP_MQTT_RC_RETAIN_NOT_SUPPORTED = 0x9A,
	RP_MQTT_RC_QOS_NOT_SUPPORTED = 0x9B,
	RP_MQTT_RC_USE_ANOTHER_SERVER = 0x9C,
	RP_MQTT_RC_SERVER_MOVED = 0x9D,
	RP_MQTT_RC_SHARED_SUBS_NOT_SUPPORTED = 0x9E,
	RP_MQTT_RC_CONNECTION_RATE_EXCEEDED = 0x9F,
	RP_MQTT_RC_MAX_CONNECT_TIME = 0xA0,
	RP_MQTT_RC_SUB_IDS_NOT_SUPPORTED = 0xA1,
	RP_MQTT_RC_WILDCARD_SUBS_NOT_SUPPORTED = 0xA2
};

/* CONNACK return codes of MQTT 3.1.1 (section 3.2.2.3). */
enum {
	RP_MQTT311_CONNACK_ACCEPTED = 0,
	RP_MQTT311_CONNACK_BAD_VERSION = 1,
	RP_MQTT311_CONNACK_ID_REJECTED = 2,
	RP_MQTT311_CONNACK_SERVER_UNAVAILABLE = 3,
	RP_MQTT311_CONNACK_BAD_USER_OR_PASSWORD = 4,
	RP_MQTT311_CONNACK_NOT_AUTHORIZED = 5
};

/* MQTT 5 property identifiers (section 2.2.2.2). */
enum {
	RP_MQTT_PROP_PAYLOAD_FORMAT = 0x01,
	RP_MQTT_PROP_MESSAGE_EXPIRY = 0x02,
	RP_MQTT_PROP_CONTENT_TYPE = 0x03,
	RP_MQTT_PROP_RESPONSE_TOPIC = 0x08,
	RP_MQTT_PROP_CORRELATION_DATA = 0x09,
	RP_MQTT_PROP_SUBSCRIPTION_ID = 0x0B,
	RP_MQTT_PROP_SESSION_EXPIRY = 0x11,
	RP_MQTT_PROP_ASSIGNED_CLIENT_ID = 0x12,
	RP_MQTT_PROP_SERVER_KEEPALIVE = 0x13,
	RP_MQTT_PROP_AUTH_METHOD = 0x15,
	RP_MQTT_PROP_AUTH_DATA = 0x16,
	RP_MQTT_PROP_REQUEST_PROBLEM_INFO = 0x17,
	RP_MQTT_PROP_WILL_DELAY = 0x18,
	RP_MQTT_PROP_REQUEST_RESPONSE_INFO = 0x19,
	RP_MQTT_PROP_RESPONSE_INFO = 0x1A,
	RP_MQTT_PROP_SERVER_REFERENCE = 0x1C,
	RP_MQTT_PROP_REASON_STRING = 0x1F,
	RP_MQTT_PROP_RECEIVE_MAX = 0x21,
	RP_MQTT_PROP_TOPIC_ALIAS_MAX = 0x22,
	RP_MQTT_PROP_TOPIC_ALIAS = 0x23,
	RP_MQTT_PROP_MAX_QOS = 0x24,
	RP_MQTT_PROP_RETAIN_AVAILABLE = 0x25,
	RP_MQTT_PROP_USER = 0x26,
	RP_MQTT_PROP_MAX_PACKET_SIZE = 0x27,
	RP_MQTT_PROP_WILDCARD_SUB_AVAILABLE = 0x28,
	RP_MQTT_PROP_SUB_ID_AVAILABLE = 0x29,
	RP_MQTT_PROP_SHARED_SUB_AVAILABLE = 0x2A
};

/*
 * Presence bit of a property in rp_mqtt_props.present: RP_MQTT_HAS(id).
 * User properties and subscription identifiers are counted instead.
 */
#define RP_MQTT_HAS(prop_id) ((uint64_t)1 << (prop_id))

/* A UTF-8 string (validated when decoded) or binary data; a view. */
typedef struct rp_mqtt_str {
	const uint8_t *p; /* may be NULL only when len == 0 */
	uint32_t len;     /* at most 65535, except a PUBLISH payload */
} rp_mqtt_str;

typedef rp_mqtt_str rp_mqtt_bin;

/* One user property: a name and value pair of UTF-8 strings. */
typedef struct rp_mqtt_user_prop {
	rp_mqtt_str name;
	rp_mqtt_str value;
} rp_mqtt_user_prop;

/*
 * The properties of one packet (MQTT 5). Unused under 3.1.1: a decoder
 * leaves it empty and an encoder refuses a non-empty one.
 *
 * A field is meaningful only when its bit is set in `present`. Repeated
 * properties: user properties (any packet) and subscription identifiers
 * (PUBLISH; at most one in SUBSCRIBE) have no bit: the decoder never sets
 * theirs and the encoder ignores it.
 * - Decoded: user_props and sub_ids are NULL; user_prop_count and
 *   sub_id_count count them, and rp_mqtt_props_next() walks them in wire
 *   order through `raw`, the property block inside the input.
 * - To encode: point user_props / sub_ids at caller arrays of the given
 *   counts. If an array is NULL but its count is not zero, the values are
 *   taken from `raw` (so a decoded packet re-encodes as it came).
 */
typedef struct rp_mqtt_props {
	uint64_t present;
	uint8_t payload_format;
	uint8_t request_problem_info;
	uint8_t request_response_info;
	uint8_t max_qos;
	uint8_t retain_available;
	uint8_t wildcard_sub_available;
	uint8_t sub_id_available;
	uint8_t shared_sub_available;
	uint16_t server_keepalive;
	uint16_t receive_max;
	uint16_t topic_alias_max;
	uint16_t topic_alias;
	uint32_t message_expiry;
	uint32_t session_expiry;
	uint32_t will_delay;
	uint32_t max_packet_size;
	rp_mqtt_str content_type;
	rp_mqtt_str response_topic;
	rp_mqtt_bin correlation_data;
	rp_mqtt_str assigned_client_id;
	rp_mqtt_str auth_method;
	rp_mqtt_bin auth_data;
	rp_mqtt_str response_info;
	rp_mqtt_str server_reference;
	rp_mqtt_str reason_string;

	uint16_t user_prop_count;
	uint16_t sub_id_count;
	const rp_mqtt_user_prop *user_props; /* encode: NULL means "from raw" */
	const uint32_t *sub_ids;             /* encode: NULL means "from raw" */
	const uint8_t *raw;                  /* decoded property block (no length prefix) */
	uint32_t raw_len;
} rp_mqtt_props;

/* CONNECT (client to server). */
typedef struct rp_mqtt_connect {
	uint8_t version; /* RP_MQTT_V311 or RP_MQTT_V5 */
	uint8_t clean_start;
	uint16_t keepalive; /* seconds, 0 = off */
	rp_mqtt_props props;
	rp_mqtt_str client_id; /* may be empty */

	uint8_t will_flag;
	uint8_t will_qos;
	uint8_t will_retain;
	rp_mqtt_props will_props; /* MQTT 5 will properties */
	rp_mqtt_str will_topic;
	rp_mqtt_bin will_payload;

	uint8_t has_username;
	uint8_t has_password;
	rp_mqtt_str username;
	rp_mqtt_bin password; /* a secret: never log it */
} rp_mqtt_connect;

/* CONNACK. reason_code: an MQTT 5 reason code, or a 3.1.1 return code. */
typedef struct rp_mqtt_connack {
	uint8_t session_present;
	uint8_t reason_code;
	rp_mqtt_props props;
} rp_mqtt_connack;

/* PUBLISH. */
typedef struct rp_mqtt_publish {
	uint8_t dup;
	uint8_t qos;
	uint8_t retain;
	uint16_t packet_id; /* only when qos > 0; never 0 then */
	rp_mqtt_str topic;  /* may be empty under MQTT 5 when a topic alias is set */
	rp_mqtt_props props;
	rp_mqtt_bin payload; /* the rest of the packet; may be empty */
} rp_mqtt_publish;

/* PUBACK, PUBREC, PUBREL, PUBCOMP. */
typedef struct rp_mqtt_ack {
	uint16_t packet_id;
	uint8_t reason_code; /* MQTT 5; 0 under 3.1.1 */
	rp_mqtt_props props;
} rp_mqtt_ack;

/* One entry of a SUBSCRIBE (options) or UNSUBSCRIBE (options unused). */
typedef struct rp_mqtt_sub_entry {
	rp_mqtt_str filter;
	uint8_t qos;                 /* maximum QoS, 0..2 */
	uint8_t no_local;            /* MQTT 5 */
	uint8_t retain_as_published; /* MQTT 5 */
	uint8_t retain_handling;     /* MQTT 5, 0..2 */
} rp_mqtt_sub_entry;

/*
 * SUBSCRIBE and UNSUBSCRIBE. Decoded: entries is NULL, count is set, and
 * rp_mqtt_sub_next() walks the entries in `raw` (the payload inside the
 * input). To encode: entries points to `count` caller entries, or is NULL
 * and raw/raw_len hold a payload to re-encode.
 */
typedef struct rp_mqtt_subscribe {
	uint16_t packet_id;
	rp_mqtt_props props;
	uint16_t count;
	const rp_mqtt_sub_entry *entries;
	const uint8_t *raw;
	uint32_t raw_len;
} rp_mqtt_subscribe;

/*
 * SUBACK and UNSUBACK: one reason code per filter, in order. Under 3.1.1
 * an UNSUBACK has no reason codes (count 0).
 */
typedef struct rp_mqtt_suback {
	uint16_t packet_id;
	rp_mqtt_props props;
	uint16_t count;
	const uint8_t *reason_codes;
} rp_mqtt_suback;

/* DISCONNECT and AUTH: a reason code and properties (MQTT 5). */
typedef struct rp_mqtt_disconnect {
	uint8_t reason_code;
	rp_mqtt_props props;
} rp_mqtt_disconnect;

/* Any packet. `type` selects the member of the union. */
typedef struct rp_mqtt_packet {
	uint8_t type; /* rp_mqtt_type */
	union {
		rp_mqtt_connect connect;
		rp_mqtt_connack connack;
		rp_mqtt_publish publish;
		rp_mqtt_ack ack;               /* PUBACK, PUBREC, PUBREL, PUBCOMP */
		rp_mqtt_subscribe subscribe;   /* SUBSCRIBE, UNSUBSCRIBE */
		rp_mqtt_suback suback;         /* SUBACK, UNSUBACK */
		rp_mqtt_disconnect disconnect; /* DISCONNECT, AUTH */
	} u;                                   /* PINGREQ and PINGRESP have no member */
} rp_mqtt_packet;

/* Limits the decoder enforces (and the encoder, on what it writes). */
typedef struct rp_mqtt_limits {
	uint32_t max_packet;    /* whole packet, fixed header included */
	uint16_t max_topic_len; /* bytes, topic names and filters */
	uint16_t max_topic_levels;
	uint16_t max_user_props;  /* per property block */
	uint16_t max_sub_entries; /* per SUBSCRIBE / UNSUBSCRIBE / SUBACK / UNSUBACK */
	uint16_t max_sub_ids;     /* per PUBLISH */
} rp_mqtt_limits;

/* The defaults of rampart/limits.h. `lim` MUST NOT be NULL. */
void rp_mqtt_limits_default(rp_mqtt_limits *lim);

/*
 * Lowers every field of `lim` above its hard cap to the cap, and raises a
 * zero field to 1 (max_packet to 2, the size of a PINGREQ), since a zero
 * limit would refuse everything. Returns the
 * number of fields changed, so a configuration loader can warn.
 */
unsigned rp_mqtt_limits_clamp(rp_mqtt_limits *lim);

/* ------------------------------------------------------------------------
 * Framing
 * ------------------------------------------------------------------------ */

/* The fixed header of a packet. */
typedef struct rp_mqtt_frame {
	uint8_t type;       /* rp_mqtt_type */
	uint8_t flags;      /* low nibble of the first byte */
	uint8_t header_len; /* 2..5: type byte + remaining length bytes */
	uint32_t remaining; /* remaining length */
	uint32_t total;     /* header_len + remaining */
} rp_mqtt_frame;

/*
 * Reads the fixed header at the start of buf[0 .. len).
 *
 * `version` is RP_MQTT_V311, RP_MQTT_V5, or 0 while no CONNECT has been
 * accepted (then AUTH is allowed through framing, and the caller decides).
 * `max_packet` is the largest whole packet allowed now (a smaller value
 * before authentication).
 *
 * Returns:
 * - RP_OK: *frame is filled; buf holds the whole packet (len >= total).
 * - RP_NEED_MORE: buf is a valid prefix; *need (if not NULL) is the number
 *   of bytes still missing: exact once the header is complete, else 1.
 *   When the header is complete, *frame is filled too, so the caller can
 *   reserve room for `total` bytes. The body is never needed to decide
 *   RP_E_TOO_LARGE: that is reported as soon as the header is read.
 * - RP_E_PACKET_TYPE: type 0, or AUTH under 3.1.1.
 * - RP_E_RESERVED_FLAGS: fixed header flags not as fixed for the type.
 * - RP_E_QOS: PUBLISH with QoS 3, or DUP set on QoS 0.
 * - RP_E_REMAINING_LENGTH: over 4 length bytes, or not minimally encoded.
 * - RP_E_TOO_LARGE: total > max_packet.
 * - RP_E_TRAILING: a type whose body has a fixed size (PINGREQ, PINGRESP;
 *   under 3.1.1 also CONNACK, the acks, UNSUBACK, DISCONNECT) announces a
 *   longer remaining length.
 * - RP_E_INVALID_ARG: buf or frame NULL, or bad version.
 */
rp_status rp_mqtt_frame_parse(const uint8_t *buf, size_t len, uint8_t version, uint32_t max_packet,
			      rp_mqtt_frame *frame, size_t *need);

/* ------------------------------------------------------------------------
 * Decoding
 * ------------------------------------------------------------------------ */

/*
 * Decodes one whole packet from the start of buf[0 .. len): framing, then
 * the body, then the checks of both specifications. On RP_OK, *pkt holds
 * views into buf and *consumed (if not NULL) is the packet's length; bytes
 * after it are not looked at (they belong to the next packet).
 *
 * `version`: the connection's protocol level. For CONNECT it may be 0 and
 * the level is taken from the packet. For any other packet it MUST be
 * RP_MQTT_V311 or RP_MQTT_V5.
 *
 * Rules that need connection state are left to the caller: a second
 * CONNECT, topic alias above the negotiated maximum, a Subscription
 * Identifier in a PUBLISH sent by a client, packet identifiers in use.
 *
 * Returns RP_OK, RP_NEED_MORE (with *consumed set to the bytes still
 * missing when known, else 1), any error of rp_mqtt_frame_parse(), or:
 * - RP_E_MALFORMED: a field runs past the packet, or a length disagrees.
 * - RP_E_TRAILING: bytes left after the last field of the packet.
 * - RP_E_UTF8, RP_E_TOPIC_NAME, RP_E_TOPIC_FILTER, RP_E_QOS, RP_E_PROPERTY,
 *   RP_E_PROPERTY_DUP, RP_E_PROPERTY_VALUE, RP_E_REASON_CODE,
 *   RP_E_PACKET_ID, RP_E_PROTOCOL_VERSION, RP_E_PAYLOAD_FORMAT, RP_E_EMPTY,
 *   RP_E_RESERVED_FLAGS (CONNECT flags, subscription options),
 *   RP_E_LIMIT (a limit of `lim` other than max_packet), RP_E_PROTOCOL.
 */
rp_status rp_mqtt_decode(const uint8_t *buf, size_t len, uint8_t version, const rp_mqtt_limits *lim,
			 rp_mqtt_packet *pkt, size_t *consumed);

/*
 * Walks the repeated properties of a decoded (or raw-backed) property block.
 * *cursor MUST be 0 on the first call. Returns 1 and fills the outputs for
 * each user property (kind RP_MQTT_PROP_USER: *name, *value) or subscription
 * identifier (kind RP_MQTT_PROP_SUBSCRIPTION_ID: *sub_id), in wire order;
 * 0 at the end. Only the kind asked for is returned. Outputs not used by the
 * kind may be NULL.
 */
int rp_mqtt_props_next(const rp_mqtt_props *props, uint8_t kind, uint32_t *cursor,
		       rp_mqtt_str *name, rp_mqtt_str *value, uint32_t *sub_id);

/*
 * Walks the entries of a decoded SUBSCRIBE or UNSUBSCRIBE (is_subscribe
 * selects the layout). *cursor MUST be 0 on the first call. Returns 1 and
 * fills *entry for each entry in order, 0 at the end.
 */
int rp_mqtt_sub_next(const rp_mqtt_subscribe *sub, int is_subscribe, uint32_t *cursor,
		     rp_mqtt_sub_entry *entry);

/* ------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------ */

/*
 * Computes the exact encoded size of *pkt, after validating it as a decoder
 * would. `version` as for rp_mqtt_decode() (ignored for CONNECT).
 * Returns RP_OK with *size set, or the rp_status a decoder would give the
 * packet, or RP_E_TOO_LARGE if it exceeds lim->max_packet.
 */
rp_status rp_mqtt_encoded_size(const rp_mqtt_packet *pkt, uint8_t version,
			       const rp_mqtt_limits *lim, size_t *size);

/*
 * Encodes *pkt into out[0 .. cap). Returns RP_OK with *out_len set, the
 * errors of rp_mqtt_encoded_size(), or RP_E_BUF_TOO_SMALL when cap is less
 * than the size (nothing is written then).
 */
rp_status rp_mqtt_encode(const rp_mqtt_packet *pkt, uint8_t version, const rp_mqtt_limits *lim,
			 uint8_t *out, size_t cap, size_t *out_len);

/* ------------------------------------------------------------------------
 * Strings, topics and reason codes
 * ------------------------------------------------------------------------ */

/*
 * 1 if s[0 .. len) is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF) without U+0000, else 0.
 */
int rp_mqtt_utf8_valid(const uint8_t *s, size_t len);

/*
 * Checks a topic name (for PUBLISH and wills): not empty, no '+' or '#',
 * at most lim->max_topic_len bytes and lim->max_topic_levels levels, valid
 * UTF-8. Returns RP_OK, RP_E_TOPIC_NAME, RP_E_UTF8 or RP_E_LIMIT.
 */
rp_status rp_mqtt_topic_name_check(const uint8_t *t, size_t len, const rp_mqtt_limits *lim);

/*
 * Checks a topic filter: not empty, '#' only as the whole last level, '+'
 * only as a whole level, and for a shared subscription ("$share/NAME/F") a
 * non-empty NAME without '/', '+' or '#' and a valid non-empty F. Limits and
 * UTF-8 as for names. Returns RP_OK, RP_E_TOPIC_FILTER, RP_E_UTF8 or
 * RP_E_LIMIT.
 */
rp_status rp_mqtt_topic_filter_check(const uint8_t *f, size_t len, const rp_mqtt_limits *lim);

/*
 * Splits a shared subscription filter "$share/NAME/F". Returns 1 and sets
 * *group and *filter (views into f) when f is one, else 0 (f untouched).
 * Assumes f passed rp_mqtt_topic_filter_check().
 */
int rp_mqtt_topic_shared_split(const uint8_t *f, size_t len, rp_mqtt_str *group,
			       rp_mqtt_str *filter);

/*
 * 1 if topic name t matches filter f, else 0. '+' matches one whole level,
 * '#' the parent level and everything below; a topic starting with '$' is
 * not matched by a filter starting with '+' or '#'. A shared subscription
 * filter must be split first. Both are assumed valid.
 */
int rp_mqtt_topic_match(const uint8_t *f, size_t flen, const uint8_t *t, size_t tlen);

/*
 * The MQTT 5 reason code to send for a decoding failure `st` (in a
 * DISCONNECT, or a CONNACK if the failing packet was the CONNECT):
 * RP_E_TOO_LARGE -> 0x95, RP_E_TOPIC_NAME -> 0x90, RP_E_TOPIC_FILTER ->
 * 0x8F, RP_E_PROTOCOL_VERSION -> 0x84, RP_E_PAYLOAD_FORMAT -> 0x99,
 * RP_E_LIMIT -> 0x97; what the specification calls a Protocol Error
 * (RP_E_PROPERTY_DUP, RP_E_PROPERTY_VALUE, RP_E_PACKET_ID, RP_E_EMPTY,
 * RP_E_PROTOCOL) -> 0x82; every other failure, RP_E_PROPERTY included
 * (section 2.2.2.2), is a Malformed Packet -> 0x81. RP_OK -> 0x00.
 */
uint8_t rp_mqtt_reason_for(rp_status st);

/*
 * 1 if `rc` is a reason code MQTT 5 allows in a packet of `type` (for
 * SUBACK and UNSUBACK: in their lists), else 0. Under 3.1.1 (`version`
 * RP_MQTT_V311) checks CONNACK return codes and SUBACK codes.
 */
int rp_mqtt_reason_valid(uint8_t type, uint8_t version, uint8_t rc);

/* Name of a packet type for logs ("CONNECT"...), "?" if unknown. */
const char *rp_mqtt_type_str(uint8_t type);

#ifdef __cplusplus
}
#endif

#endif /* RAMPART_MQTT_H */
