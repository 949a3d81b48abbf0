/*
 * rampart/status.h - the one status type of Rampart.
 *
 * Conventions
 * - Every fallible function of Rampart returns an rp_status. RP_OK is zero,
 *   so `if (st != RP_OK)` and `if (st)` both read as "failed".
 * - RP_NEED_MORE is not an error: an incremental parser returns it when the
 *   input is a valid prefix and says elsewhere how many bytes it still needs.
 * - Each failure has its own name, so that a caller can pick the right
 *   protocol reason code or HTTP status without parsing a message.
 *   rp_status_str() gives a short, fixed English text for logs; it never
 *   contains data from the input, so it cannot leak secrets.
 * - Values are stable within a major version; new names are appended.
 *
 * This header is part of the portable core (C99, no OS, no allocation).
 */
#ifndef RAMPART_STATUS_H
#define RAMPART_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rp_status {
	RP_OK = 0,
	/* Incremental input: a valid prefix, more bytes are needed. */
	RP_NEED_MORE,

	/* Arguments and buffers (caller errors). */
	RP_E_INVALID_ARG,   /* NULL where not allowed, or a value out of range */
	RP_E_BUF_TOO_SMALL, /* output buffer cannot hold the result */

	/* MQTT wire format: each names the rule that was broken. */
	RP_E_MALFORMED,        /* truncated field or length that disagrees with the packet */
	RP_E_REMAINING_LENGTH, /* variable byte integer over-long or not minimal */
	RP_E_PACKET_TYPE,      /* reserved packet type, or one the version lacks */
	RP_E_RESERVED_FLAGS,   /* a reserved bit is not as the specification fixes it */
	RP_E_TOO_LARGE,        /* packet larger than the configured maximum */
	RP_E_UTF8,             /* string not well-formed UTF-8, or holds U+0000 */
	RP_E_TOPIC_NAME,       /* topic name empty, or holds a wildcard */
	RP_E_TOPIC_FILTER,     /* topic filter with a misplaced wildcard or bad share name */
	RP_E_QOS,              /* QoS 3, or a QoS/flag combination that is forbidden */
	RP_E_PROPERTY,         /* property unknown or not allowed in this packet */
	RP_E_PROPERTY_DUP,     /* property that may appear once appears twice */
	RP_E_PROPERTY_VALUE,   /* property value outside its allowed range */
	RP_E_REASON_CODE,      /* reason code not valid for this packet */
	RP_E_TRAILING,         /* bytes left over after the last field */
	RP_E_PACKET_ID,        /* packet identifier zero where it must not be */
	RP_E_PROTOCOL_VERSION, /* protocol name or level not supported */
	RP_E_PAYLOAD_FORMAT,   /* payload marked UTF-8 is not well-formed UTF-8 */
	RP_E_EMPTY,            /* SUBSCRIBE/UNSUBSCRIBE/SUBACK/UNSUBACK with no entries */
	RP_E_LIMIT,            /* a configured limit (topic length, depth, entries) exceeded */
	RP_E_PROTOCOL,         /* any other protocol violation */

	/* Run-time failures of the platform layers (used by later modules). */
	RP_E_NOMEM,     /* allocation refused (budget or system) */
	RP_E_IO,        /* read or write failed */
	RP_E_TIMEOUT,   /* a deadline passed */
	RP_E_CLOSED,    /* the peer closed the connection */
	RP_E_CONFIG,    /* invalid configuration */
	RP_E_AUTH,      /* authentication failed */
	RP_E_DENIED,    /* authenticated but not authorised */
	RP_E_NOT_FOUND, /* no such object */
	RP_E_STATE,     /* call not valid in the current state */
	RP_E_CRYPTO,    /* a cryptographic operation or verification failed */
	RP_E_INTERNAL,  /* a bug: an invariant did not hold */

	/* Storage (server/store). */
	RP_E_BUSY,   /* a bounded queue is full: back pressure, try again later */
	RP_E_EXISTS, /* an object with that key already exists */

	RP_STATUS_COUNT_ /* not a status: the number of names above */
} rp_status;

/*
 * Returns a short constant English description of st, or "unknown status"
 * for a value outside the enum. Never NULL.
 */
const char *rp_status_str(rp_status st);

#ifdef __cplusplus
}
#endif

#endif /* RAMPART_STATUS_H */
