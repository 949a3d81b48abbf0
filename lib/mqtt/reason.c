/*
 * reason.c - reason codes valid per packet, status to reason code, limits.
 */
#include "wire.h"

#define BIT(n) ((uint32_t)1u << (n))

/*
 * Reason codes from 0x80 up, as a 64-bit set of (rc - 0x80), per packet type
 * (MQTT 5.0 section 2.4 and each packet's reason code table).
 */
#define HI(rc) ((uint64_t)1u << ((rc)-0x80u))

static const uint64_t connack_hi = HI(0x80) | HI(0x81) | HI(0x82) | HI(0x83) | HI(0x84) | HI(0x85) |
				   HI(0x86) | HI(0x87) | HI(0x88) | HI(0x89) | HI(0x8A) | HI(0x8C) |
				   HI(0x90) | HI(0x95) | HI(0x97) | HI(0x99) | HI(0x9A) | HI(0x9B) |
				   HI(0x9C) | HI(0x9D) | HI(0x9F);
static const uint64_t puback_hi =
	HI(0x80) | HI(0x83) | HI(0x87) | HI(0x90) | HI(0x91) | HI(0x97) | HI(0x99);
static const uint64_t pubrel_hi = HI(0x92);
static const uint64_t suback_hi = HI(0x80) | HI(0x83) | HI(0x87) | HI(0x8F) | HI(0x91) | HI(0x97) |
				  HI(0x9E) | HI(0xA1) | HI(0xA2);
static const uint64_t unsuback_hi = HI(0x80) | HI(0x83) | HI(0x87) | HI(0x8F) | HI(0x91);
static const uint64_t disconnect_hi =
	HI(0x80) | HI(0x81) | HI(0x82) | HI(0x83) | HI(0x87) | HI(0x89) | HI(0x8B) | HI(0x8D) |
	HI(0x8E) | HI(0x8F) | HI(0x90) | HI(0x93) | HI(0x94) | HI(0x95) | HI(0x96) | HI(0x97) |
	HI(0x98) | HI(0x99) | HI(0x9A) | HI(0x9B) | HI(0x9C) | HI(0x9D) | HI(0x9E) | HI(0x9F) |
	HI(0xA0) | HI(0xA1) | HI(0xA2);

/* low_ok: codes 0x00..0x1F as bits; hi_set: codes 0x80..0xBF as bits. */
static int in_set(uint8_t rc, uint32_t low_ok, uint64_t hi_set)
{
	if (rc < 0x20u) {
		return (low_ok & BIT(rc)) != 0;
	}
	if (rc >= 0x80u && rc < 0xC0u) {
		return (hi_set & ((uint64_t)1u << (rc - 0x80u))) != 0;
	}
	return 0;
}

int rp_mqtt_reason_valid(uint8_t type, uint8_t version, uint8_t rc)
{
	if (version == RP_MQTT_V311) {
		switch (type) {
		case RP_MQTT_CONNACK:
			return rc <= RP_MQTT311_CONNACK_NOT_AUTHORIZED;
		case RP_MQTT_SUBACK:
			return rc <= 2u || rc == 0x80u;
		default:
			return rc == 0;
		}
	}
	if (version != RP_MQTT_V5) {
		return 0;
	}
	switch (type) {
	case RP_MQTT_CONNACK:
		return in_set(rc, BIT(0), connack_hi);
	case RP_MQTT_PUBACK:
	case RP_MQTT_PUBREC:
		return in_set(rc, BIT(0) | BIT(0x10), puback_hi);
	case RP_MQTT_PUBREL:
	case RP_MQTT_PUBCOMP:
		return in_set(rc, BIT(0), pubrel_hi);
	case RP_MQTT_SUBACK:
		return in_set(rc, BIT(0) | BIT(1) | BIT(2), suback_hi);
	case RP_MQTT_UNSUBACK:
		return in_set(rc, BIT(0) | BIT(0x11), unsuback_hi);
	case RP_MQTT_DISCONNECT:
		return in_set(rc, BIT(0) | BIT(4), disconnect_hi);
	case RP_MQTT_AUTH:
		return in_set(rc, BIT(0) | BIT(0x18) | BIT(0x19), 0);
	default:
		return 0;
	}
}

uint8_t rp_mqtt_reason_for(rp_status st)
{
	switch (st) {
	case RP_OK:
		return RP_MQTT_RC_SUCCESS;
	case RP_E_TOO_LARGE:
		return RP_MQTT_RC_PACKET_TOO_LARGE;
	case RP_E_TOPIC_NAME:
		return RP_MQTT_RC_TOPIC_NAME_INVALID;
	case RP_E_TOPIC_FILTER:
		return RP_MQTT_RC_TOPIC_FILTER_INVALID;
	case RP_E_PROTOCOL_VERSION:
		return RP_MQTT_RC_UNSUPPORTED_VERSION;
	case RP_E_PAYLOAD_FORMAT:
		return RP_MQTT_RC_PAYLOAD_FORMAT_INVALID;
	case RP_E_LIMIT:
		return RP_MQTT_RC_QUOTA_EXCEEDED;
	/* The specification calls these a Protocol Error. */
	case RP_E_PROPERTY_DUP:
	case RP_E_PROPERTY_VALUE:
	case RP_E_PACKET_ID:
	case RP_E_EMPTY:
	case RP_E_PROTOCOL:
		return RP_MQTT_RC_PROTOCOL_ERROR;
	/* Everything else is a Malformed Packet (section 2.2.2.2 for properties). */
	default:
		return RP_MQTT_RC_MALFORMED;
	}
}

const char *rp_mqtt_type_str(uint8_t type)
{
	static const char *const names[16] = {"?",         "CONNECT",  "CONNACK",     "PUBLISH",
					      "PUBACK",    "PUBREC",   "PUBREL",      "PUBCOMP",
					      "SUBSCRIBE", "SUBACK",   "UNSUBSCRIBE", "UNSUBACK",
					      "PINGREQ",   "PINGRESP", "DISCONNECT",  "AUTH"};

	return type < 16u ? names[type] : "?";
}

void rp_mqtt_limits_default(rp_mqtt_limits *lim)
{
	if (lim == NULL) {
		return;
	}
	lim->max_packet = RP_DEFAULT_MQTT_PACKET;
	lim->max_topic_len = RP_DEFAULT_MQTT_TOPIC_LEN;
	lim->max_topic_levels = RP_DEFAULT_MQTT_TOPIC_LEVELS;
	lim->max_user_props = RP_DEFAULT_MQTT_USER_PROPS;
	lim->max_sub_entries = RP_DEFAULT_MQTT_SUB_ENTRIES;
	lim->max_sub_ids = RP_LIMIT_MQTT_SUB_IDS;
}

/* Keeps *v within [lo, hi]; counts a change. */
static void clamp32(uint32_t *v, uint32_t lo, uint32_t hi, unsigned *changed)
{
	if (*v < lo) {
		*v = lo;
		(*changed)++;
	} else if (*v > hi) {
		*v = hi;
		(*changed)++;
	}
}

static void clamp16(uint16_t *v, uint16_t lo, uint16_t hi, unsigned *changed)
{
	uint32_t x = *v;

	clamp32(&x, lo, hi, changed);
	*v = (uint16_t)x;
}

unsigned rp_mqtt_limits_clamp(rp_mqtt_limits *lim)
{
	unsigned changed = 0;

	if (lim == NULL) {
		return 0;
	}
	/* The smallest packet (PINGREQ) is two bytes. */
	clamp32(&lim->max_packet, 2u, RP_LIMIT_MQTT_PACKET, &changed);
	clamp16(&lim->max_topic_len, 1u, RP_LIMIT_MQTT_TOPIC_LEN, &changed);
	clamp16(&lim->max_topic_levels, 1u, RP_LIMIT_MQTT_TOPIC_LEVELS, &changed);
	clamp16(&lim->max_user_props, 1u, RP_LIMIT_MQTT_USER_PROPS, &changed);
	clamp16(&lim->max_sub_entries, 1u, RP_LIMIT_MQTT_SUB_ENTRIES, &changed);
	clamp16(&lim->max_sub_ids, 1u, RP_LIMIT_MQTT_SUB_IDS, &changed);
	return changed;
}
