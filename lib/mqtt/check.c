/*
 * check.c - the rules both specifications make normative for a receiver,
 * applied to a whole packet.
 *
 * The decoder parses the syntax (lengths, windows, the property table) and
 * then calls rp__mqtt_check(); the encoder calls it before sizing. So a
 * packet Rampart accepts and a packet Rampart sends obey the same rules,
 * and decode-then-encode cannot produce something the decoder refuses.
 *
 * Section numbers refer to MQTT 5.0; 3.1.1 has the same rule unless noted.
 */
#include "wire.h"

static int is_v(uint8_t version)
{
	return version == RP_MQTT_V311 || version == RP_MQTT_V5;
}

static rp_status check_connect(const rp_mqtt_connect *c, const rp_mqtt_limits *lim)
{
	uint8_t v = c->version;
	rp_status st;

	if (!is_v(v)) {
		return RP_E_PROTOCOL_VERSION;
	}
	if (c->will_qos > 2u) {
		return RP_E_QOS; /* [MQTT-3.1.2-12] */
	}
	if (!c->will_flag && (c->will_qos != 0 || c->will_retain)) {
		return RP_E_QOS; /* [MQTT-3.1.2-11], [MQTT-3.1.2-13] */
	}
	if (v == RP_MQTT_V311 && c->has_password && !c->has_username) {
		return RP_E_QOS; /* 3.1.1 [MQTT-3.1.2-22]: a flag combination */
	}
	st = rp__mqtt_props_check(&c->props, RP_MQTT_CONNECT, v, lim);
	if (st != RP_OK) {
		return st;
	}
	st = rp__mqtt_str_check(c->client_id);
	if (st != RP_OK) {
		return st;
	}
	if (c->will_flag) {
		st = rp__mqtt_props_check(&c->will_props, RP__WHERE_WILL, v, lim);
		if (st != RP_OK) {
			return st;
		}
		st = rp_mqtt_topic_name_check(c->will_topic.p, c->will_topic.len, lim);
		if (st != RP_OK) {
			return st;
		}
		if (c->will_payload.len > RP_MQTT_STR_MAX ||
		    (c->will_payload.p == NULL && c->will_payload.len != 0)) {
			return RP_E_INVALID_ARG;
		}
		if ((c->will_props.present & RP_MQTT_HAS(RP_MQTT_PROP_PAYLOAD_FORMAT)) &&
		    c->will_props.payload_format == 1u && c->will_payload.len != 0 &&
		    !rp__mqtt_utf8_check(c->will_payload.p, c->will_payload.len, 1)) {
			return RP_E_PAYLOAD_FORMAT; /* 3.1.3.2.3 */
		}
	}
	if (c->has_username) {
		st = rp__mqtt_str_check(c->username);
		if (st != RP_OK) {
			return st;
		}
	}
	if (c->has_password &&
	    (c->password.len > RP_MQTT_STR_MAX || (c->password.p == NULL && c->password.len))) {
		return RP_E_INVALID_ARG;
	}
	return RP_OK;
}

static rp_status check_connack(const rp_mqtt_connack *c, uint8_t version, const rp_mqtt_limits *lim)
{
	if (!rp_mqtt_reason_valid(RP_MQTT_CONNACK, version, c->reason_code)) {
		return RP_E_REASON_CODE;
	}
	if (c->session_present && c->reason_code != 0) {
		return RP_E_PROTOCOL; /* [MQTT-3.2.2-6] */
	}
	return rp__mqtt_props_check(&c->props, RP_MQTT_CONNACK, version, lim);
}

static rp_status check_publish(const rp_mqtt_publish *p, uint8_t version, const rp_mqtt_limits *lim)
{
	rp_status st;

	if (p->qos > 2u || (p->dup && p->qos == 0)) {
		return RP_E_QOS; /* [MQTT-3.3.1-4], [MQTT-3.3.1-2] */
	}
	if (p->qos != 0 && p->packet_id == 0) {
		return RP_E_PACKET_ID; /* [MQTT-2.2.1-3] */
	}
	st = rp__mqtt_props_check(&p->props, RP_MQTT_PUBLISH, version, lim);
	if (st != RP_OK) {
		return st;
	}
	if (p->topic.len == 0) {
		/* Only MQTT 5 with a topic alias may leave the name empty (3.3.2.1). */
		if (!(p->props.present & RP_MQTT_HAS(RP_MQTT_PROP_TOPIC_ALIAS))) {
			return RP_E_TOPIC_NAME;
		}
	} else {
		st = rp_mqtt_topic_name_check(p->topic.p, p->topic.len, lim);
		if (st != RP_OK) {
			return st;
		}
	}
	if (p->payload.p == NULL && p->payload.len != 0) {
		return RP_E_INVALID_ARG;
	}
	if ((p->props.present & RP_MQTT_HAS(RP_MQTT_PROP_PAYLOAD_FORMAT)) &&
	    p->props.payload_format == 1u && p->payload.len != 0 &&
	    !rp__mqtt_utf8_check(p->payload.p, p->payload.len, 1)) {
		return RP_E_PAYLOAD_FORMAT; /* 3.3.2.3.2 */
	}
	return RP_OK;
}

static rp_status check_ack(uint8_t type, const rp_mqtt_ack *a, uint8_t version,
			   const rp_mqtt_limits *lim)
{
	if (a->packet_id == 0) {
		return RP_E_PACKET_ID;
	}
	if (version == RP_MQTT_V311 ? a->reason_code != 0
				    : !rp_mqtt_reason_valid(type, version, a->reason_code)) {
		return RP_E_REASON_CODE;
	}
	return rp__mqtt_props_check(&a->props, type, version, lim);
}

static rp_status check_sub_entry(const rp_mqtt_sub_entry *e, int is_subscribe, uint8_t version,
				 const rp_mqtt_limits *lim)
{
	rp_status st = rp_mqtt_topic_filter_check(e->filter.p, e->filter.len, lim);

	if (st != RP_OK || !is_subscribe) {
		return st;
	}
	if (e->qos > 2u) {
		return RP_E_QOS; /* [MQTT-3.8.3-4] */
	}
	if (version == RP_MQTT_V311) {
		/* The other option bits are reserved in 3.1.1 [MQTT-3-8.3-4]. */
		if (e->no_local || e->retain_as_published || e->retain_handling) {
			return RP_E_RESERVED_FLAGS;
		}
		return RP_OK;
	}
	if (e->retain_handling > 2u) {
		return RP_E_PROTOCOL; /* 3.8.3.1: Retain Handling 3 is a Protocol Error */
	}
	if (e->no_local && rp_mqtt_topic_shared_split(e->filter.p, e->filter.len, NULL, NULL)) {
		return RP_E_PROTOCOL; /* [MQTT-3.8.3-4]: No Local on a shared subscription */
	}
	return RP_OK;
}

static rp_status check_subscribe(uint8_t type, const rp_mqtt_subscribe *s, uint8_t version,
				 const rp_mqtt_limits *lim)
{
	int is_sub = (type == RP_MQTT_SUBSCRIBE);
	rp_mqtt_sub_entry e;
	uint32_t cursor = 0;
	rp_status st;
	uint16_t n;

	if (s->packet_id == 0) {
		return RP_E_PACKET_ID;
	}
	st = rp__mqtt_props_check(&s->props, type, version, lim);
	if (st != RP_OK) {
		return st;
	}
	if (s->count == 0) {
		return RP_E_EMPTY; /* [MQTT-3.8.3-2], [MQTT-3.10.3-2] */
	}
	if (s->count > lim->max_sub_entries) {
		return RP_E_LIMIT;
	}
	for (n = 0; n < s->count; n++) {
		if (s->entries != NULL) {
			e = s->entries[n];
		} else if (!rp_mqtt_sub_next(s, is_sub, &cursor, &e)) {
			return RP_E_INVALID_ARG; /* fewer in raw than counted */
		}
		st = check_sub_entry(&e, is_sub, version, lim);
		if (st != RP_OK) {
			return st;
		}
	}
	return RP_OK;
}

static rp_status check_suback(uint8_t type, const rp_mqtt_suback *s, uint8_t version,
			      const rp_mqtt_limits *lim)
{
	rp_status st;
	uint16_t n;

	if (s->packet_id == 0) {
		return RP_E_PACKET_ID;
	}
	st = rp__mqtt_props_check(&s->props, type, version, lim);
	if (st != RP_OK) {
		return st;
	}
	if (type == RP_MQTT_UNSUBACK && version == RP_MQTT_V311) {
		/* A 3.1.1 UNSUBACK carries no reason codes. */
		return s->count == 0 ? RP_OK : RP_E_REASON_CODE;
	}
	if (s->count == 0) {
		return RP_E_EMPTY;
	}
	if (s->count > lim->max_sub_entries) {
		return RP_E_LIMIT;
	}
	if (s->reason_codes == NULL) {
		return RP_E_INVALID_ARG;
	}
	for (n = 0; n < s->count; n++) {
		if (!rp_mqtt_reason_valid(type, version, s->reason_codes[n])) {
			return RP_E_REASON_CODE;
		}
	}
	return RP_OK;
}

static rp_status check_disconnect(uint8_t type, const rp_mqtt_disconnect *d, uint8_t version,
				  const rp_mqtt_limits *lim)
{
	if (type == RP_MQTT_AUTH && version != RP_MQTT_V5) {
		return RP_E_PACKET_TYPE;
	}
	if (version == RP_MQTT_V311 ? d->reason_code != 0
				    : !rp_mqtt_reason_valid(type, version, d->reason_code)) {
		return RP_E_REASON_CODE;
	}
	/*
	 * AUTH without an Authentication Method is a Protocol Error
	 * (3.15.2.2.2), except in the zero-length form that 3.15.2.1 allows:
	 * Success without properties.
	 */
	if (type == RP_MQTT_AUTH && !(d->reason_code == 0 && rp__mqtt_props_empty(&d->props)) &&
	    !(d->props.present & RP_MQTT_HAS(RP_MQTT_PROP_AUTH_METHOD))) {
		return RP_E_PROTOCOL;
	}
	return rp__mqtt_props_check(&d->props, type, version, lim);
}

rp_status rp__mqtt_check(const rp_mqtt_packet *pkt, uint8_t version, const rp_mqtt_limits *lim)
{
	if (pkt->type == RP_MQTT_CONNECT) {
		return check_connect(&pkt->u.connect, lim);
	}
	if (!is_v(version)) {
		return RP_E_INVALID_ARG;
	}
	switch (pkt->type) {
	case RP_MQTT_CONNACK:
		return check_connack(&pkt->u.connack, version, lim);
	case RP_MQTT_PUBLISH:
		return check_publish(&pkt->u.publish, version, lim);
	case RP_MQTT_PUBACK:
	case RP_MQTT_PUBREC:
	case RP_MQTT_PUBREL:
	case RP_MQTT_PUBCOMP:
		return check_ack(pkt->type, &pkt->u.ack, version, lim);
	case RP_MQTT_SUBSCRIBE:
	case RP_MQTT_UNSUBSCRIBE:
		return check_subscribe(pkt->type, &pkt->u.subscribe, version, lim);
	case RP_MQTT_SUBACK:
	case RP_MQTT_UNSUBACK:
		return check_suback(pkt->type, &pkt->u.suback, version, lim);
	case RP_MQTT_PINGREQ:
	case RP_MQTT_PINGRESP:
		return RP_OK;
	case RP_MQTT_DISCONNECT:
	case RP_MQTT_AUTH:
		return check_disconnect(pkt->type, &pkt->u.disconnect, version, lim);
	default:
		return RP_E_PACKET_TYPE;
	}
}
