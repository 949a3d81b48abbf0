/* rp_status_str(): one fixed text per status, never data from the input. */
#include "rampart/status.h"

static const char *const status_text[RP_STATUS_COUNT_] = {
	[RP_OK] = "ok",
	[RP_NEED_MORE] = "need more bytes",
	[RP_E_INVALID_ARG] = "invalid argument",
	[RP_E_BUF_TOO_SMALL] = "output buffer too small",
	[RP_E_MALFORMED] = "malformed packet",
	[RP_E_REMAINING_LENGTH] = "invalid variable byte integer",
	[RP_E_PACKET_TYPE] = "reserved or unsupported packet type",
	[RP_E_RESERVED_FLAGS] = "reserved flag bits set",
	[RP_E_TOO_LARGE] = "packet too large",
	[RP_E_UTF8] = "invalid UTF-8 string",
	[RP_E_TOPIC_NAME] = "invalid topic name",
	[RP_E_TOPIC_FILTER] = "invalid topic filter",
	[RP_E_QOS] = "invalid QoS or flag combination",
	[RP_E_PROPERTY] = "property not allowed in this packet",
	[RP_E_PROPERTY_DUP] = "duplicate property",
	[RP_E_PROPERTY_VALUE] = "property value out of range",
	[RP_E_REASON_CODE] = "reason code not valid for this packet",
	[RP_E_TRAILING] = "trailing bytes after packet",
	[RP_E_PACKET_ID] = "invalid packet identifier",
	[RP_E_PROTOCOL_VERSION] = "unsupported protocol version",
	[RP_E_PAYLOAD_FORMAT] = "payload is not valid UTF-8",
	[RP_E_EMPTY] = "packet has no entries",
	[RP_E_LIMIT] = "limit exceeded",
	[RP_E_PROTOCOL] = "protocol error",
	[RP_E_NOMEM] = "out of memory",
	[RP_E_IO] = "input/output error",
	[RP_E_TIMEOUT] = "timed out",
	[RP_E_CLOSED] = "connection closed",
	[RP_E_CONFIG] = "invalid configuration",
	[RP_E_AUTH] = "authentication failed",
	[RP_E_DENIED] = "not authorised",
	[RP_E_NOT_FOUND] = "not found",
	[RP_E_STATE] = "invalid state",
	[RP_E_CRYPTO] = "cryptographic failure",
	[RP_E_INTERNAL] = "internal error",
	[RP_E_BUSY] = "busy, try again later",
	[RP_E_EXISTS] = "already exists",
};

const char *rp_status_str(rp_status st)
{
	if ((unsigned)st >= (unsigned)RP_STATUS_COUNT_ || status_text[st] == 0) {
		return "unknown status";
	}
	return status_text[st];
}
