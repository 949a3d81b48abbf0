/*
 * props.c - MQTT 5 properties: parse, check, walk, write.
 *
 * One table (prop_info) says, for each identifier, its data type and the
 * packets that may carry it (MQTT 5.0 section 2.2.2.2). Parsing enforces
 * the syntax: identifier known and allowed here [2.2.2.2: otherwise a
 * Malformed Packet], value inside the block, no forbidden duplicate, counts
 * within limits. Checking enforces the value rules and UTF-8 and runs on
 * decoded and to-be-encoded sets alike, so one set of rules covers both
 * directions.
 *
 * Repeated properties are not copied: user properties (anywhere) and
 * subscription identifiers (PUBLISH) are counted, and walked later through
 * the raw block by rp_mqtt_props_next().
 */
#include <string.h>

#include "wire.h"

enum kind { K_NONE = 0, K_BYTE, K_U16, K_U32, K_VBI, K_STR, K_BIN, K_PAIR };

#define W(t)   ((uint16_t)(1u << (t)))
#define W_WILL W(RP__WHERE_WILL)
#define W_ACKS (W(RP_MQTT_PUBACK) | W(RP_MQTT_PUBREC) | W(RP_MQTT_PUBREL) | W(RP_MQTT_PUBCOMP))
#define W_ALL  ((uint16_t)0xFFFFu)

#define PROP_ID_END 0x2Bu

static const struct prop_info {
	uint8_t kind;
	uint16_t where; /* bit per packet type; bit 0 for will properties */
} prop_info[PROP_ID_END] = {
	[RP_MQTT_PROP_PAYLOAD_FORMAT] = {K_BYTE, W(RP_MQTT_PUBLISH) | W_WILL},
	[RP_MQTT_PROP_MESSAGE_EXPIRY] = {K_U32, W(RP_MQTT_PUBLISH) | W_WILL},
	[RP_MQTT_PROP_CONTENT_TYPE] = {K_STR, W(RP_MQTT_PUBLISH) | W_WILL},
	[RP_MQTT_PROP_RESPONSE_TOPIC] = {K_STR, W(RP_MQTT_PUBLISH) | W_WILL},
	[RP_MQTT_PROP_CORRELATION_DATA] = {K_BIN, W(RP_MQTT_PUBLISH) | W_WILL},
	[RP_MQTT_PROP_SUBSCRIPTION_ID] = {K_VBI, W(RP_MQTT_PUBLISH) | W(RP_MQTT_SUBSCRIBE)},
	[RP_MQTT_PROP_SESSION_EXPIRY] = {K_U32, W(RP_MQTT_CONNECT) | W(RP_MQTT_CONNACK) |
							W(RP_MQTT_DISCONNECT)},
	[RP_MQTT_PROP_ASSIGNED_CLIENT_ID] = {K_STR, W(RP_MQTT_CONNACK)},
	[RP_MQTT_PROP_SERVER_KEEPALIVE] = {K_U16, W(RP_MQTT_CONNACK)},
	[RP_MQTT_PROP_AUTH_METHOD] = {K_STR,
				      W(RP_MQTT_CONNECT) | W(RP_MQTT_CONNACK) | W(RP_MQTT_AUTH)},
	[RP_MQTT_PROP_AUTH_DATA] = {K_BIN,
				    W(RP_MQTT_CONNECT) | W(RP_MQTT_CONNACK) | W(RP_MQTT_AUTH)},
	[RP_MQTT_PROP_REQUEST_PROBLEM_INFO] = {K_BYTE, W(RP_MQTT_CONNECT)},
	[RP_MQTT_PROP_WILL_DELAY] = {K_U32, W_WILL},
	[RP_MQTT_PROP_REQUEST_RESPONSE_INFO] = {K_BYTE, W(RP_MQTT_CONNECT)},
	[RP_MQTT_PROP_RESPONSE_INFO] = {K_STR, W(RP_MQTT_CONNACK)},
	[RP_MQTT_PROP_SERVER_REFERENCE] = {K_STR, W(RP_MQTT_CONNACK) | W(RP_MQTT_DISCONNECT)},
	[RP_MQTT_PROP_REASON_STRING] = {K_STR, W(RP_MQTT_CONNACK) | W_ACKS | W(RP_MQTT_SUBACK) |
						       W(RP_MQTT_UNSUBACK) | W(RP_MQTT_DISCONNECT) |
						       W(RP_MQTT_AUTH)},
	[RP_MQTT_PROP_RECEIVE_MAX] = {K_U16, W(RP_MQTT_CONNECT) | W(RP_MQTT_CONNACK)},
	[RP_MQTT_PROP_TOPIC_ALIAS_MAX] = {K_U16, W(RP_MQTT_CONNECT) | W(RP_MQTT_CONNACK)},
	[RP_MQTT_PROP_TOPIC_ALIAS] = {K_U16, W(RP_MQTT_PUBLISH)},
	[RP_MQTT_PROP_MAX_QOS] = {K_BYTE, W(RP_MQTT_CONNACK)},
	[RP_MQTT_PROP_RETAIN_AVAILABLE] = {K_BYTE, W(RP_MQTT_CONNACK)},
	[RP_MQTT_PROP_USER] = {K_PAIR, W_ALL},
	[RP_MQTT_PROP_MAX_PACKET_SIZE] = {K_U32, W(RP_MQTT_CONNECT) | W(RP_MQTT_CONNACK)},
	[RP_MQTT_PROP_WILDCARD_SUB_AVAILABLE] = {K_BYTE, W(RP_MQTT_CONNACK)},
	[RP_MQTT_PROP_SUB_ID_AVAILABLE] = {K_BYTE, W(RP_MQTT_CONNACK)},
	[RP_MQTT_PROP_SHARED_SUB_AVAILABLE] = {K_BYTE, W(RP_MQTT_CONNACK)},
};

/* Properties counted rather than flagged in `present`. */
#define REPEATED_MASK (RP_MQTT_HAS(RP_MQTT_PROP_USER) | RP_MQTT_HAS(RP_MQTT_PROP_SUBSCRIPTION_ID))

static const struct prop_info *info_for(uint8_t id, uint8_t where)
{
	if (id >= PROP_ID_END || prop_info[id].kind == K_NONE ||
	    (prop_info[id].where & W(where)) == 0) {
		return NULL;
	}
	return &prop_info[id];
}

/* Pointers to the single-valued fields, by identifier. */
static uint8_t *byte_field(rp_mqtt_props *p, uint8_t id)
{
	switch (id) {
	case RP_MQTT_PROP_PAYLOAD_FORMAT:
		return &p->payload_format;
	case RP_MQTT_PROP_REQUEST_PROBLEM_INFO:
		return &p->request_problem_info;
	case RP_MQTT_PROP_REQUEST_RESPONSE_INFO:
		return &p->request_response_info;
	case RP_MQTT_PROP_MAX_QOS:
		return &p->max_qos;
	case RP_MQTT_PROP_RETAIN_AVAILABLE:
		return &p->retain_available;
	case RP_MQTT_PROP_WILDCARD_SUB_AVAILABLE:
		return &p->wildcard_sub_available;
	case RP_MQTT_PROP_SUB_ID_AVAILABLE:
		return &p->sub_id_available;
	case RP_MQTT_PROP_SHARED_SUB_AVAILABLE:
		return &p->shared_sub_available;
	default:
		return NULL;
	}
}

static uint16_t *u16_field(rp_mqtt_props *p, uint8_t id)
{
	switch (id) {
	case RP_MQTT_PROP_SERVER_KEEPALIVE:
		return &p->server_keepalive;
	case RP_MQTT_PROP_RECEIVE_MAX:
		return &p->receive_max;
	case RP_MQTT_PROP_TOPIC_ALIAS_MAX:
		return &p->topic_alias_max;
	case RP_MQTT_PROP_TOPIC_ALIAS:
		return &p->topic_alias;
	default:
		return NULL;
	}
}

static uint32_t *u32_field(rp_mqtt_props *p, uint8_t id)
{
	switch (id) {
	case RP_MQTT_PROP_MESSAGE_EXPIRY:
		return &p->message_expiry;
	case RP_MQTT_PROP_SESSION_EXPIRY:
		return &p->session_expiry;
	case RP_MQTT_PROP_WILL_DELAY:
		return &p->will_delay;
	case RP_MQTT_PROP_MAX_PACKET_SIZE:
		return &p->max_packet_size;
	default:
		return NULL;
	}
}

static rp_mqtt_str *str_field(rp_mqtt_props *p, uint8_t id)
{
	switch (id) {
	case RP_MQTT_PROP_CONTENT_TYPE:
		return &p->content_type;
	case RP_MQTT_PROP_RESPONSE_TOPIC:
		return &p->response_topic;
	case RP_MQTT_PROP_CORRELATION_DATA:
		return &p->correlation_data;
	case RP_MQTT_PROP_ASSIGNED_CLIENT_ID:
		return &p->assigned_client_id;
	case RP_MQTT_PROP_AUTH_METHOD:
		return &p->auth_method;
	case RP_MQTT_PROP_AUTH_DATA:
		return &p->auth_data;
	case RP_MQTT_PROP_RESPONSE_INFO:
		return &p->response_info;
	case RP_MQTT_PROP_SERVER_REFERENCE:
		return &p->server_reference;
	case RP_MQTT_PROP_REASON_STRING:
		return &p->reason_string;
	default:
		return NULL;
	}
}

/* The same accessors for a const set (the encoder's view). */
#define CFIELD(fn, p, id) fn((rp_mqtt_props *)(uintptr_t)(p), (id))

/* Reads one value of `kind` (the identifier is already consumed). */
static rp_status read_value(rp__rd *r, uint8_t kind, uint8_t id, rp_mqtt_props *out)
{
	rp_mqtt_str a, b;
	uint32_t v32;

	switch (kind) {
	case K_BYTE:
		return rp__rd_u8(r, byte_field(out, id));
	case K_U16:
		return rp__rd_u16(r, u16_field(out, id));
	case K_U32:
		return rp__rd_u32(r, u32_field(out, id));
	case K_VBI: /* only the subscription identifier */
		return rp__rd_vbi(r, &v32);
	case K_STR:
	case K_BIN:
		return rp__rd_bin(r, str_field(out, id));
	case K_PAIR:
		if (rp__rd_bin(r, &a) != RP_OK || rp__rd_bin(r, &b) != RP_OK) {
			return RP_E_MALFORMED;
		}
		return RP_OK;
	default:
		return RP_E_INTERNAL;
	}
}

rp_status rp__mqtt_props_parse(rp__rd *r, uint8_t where, const rp_mqtt_limits *lim,
			       rp_mqtt_props *out)
{
	uint32_t plen;
	rp__rd pr;
	rp_status st;

	memset(out, 0, sizeof(*out));
	st = rp__rd_vbi(r, &plen);
	if (st != RP_OK) {
		return st;
	}
	/* plen is attacker-controlled: it must fit in what is left. */
	if (plen > rp__rd_left(r)) {
		return RP_E_MALFORMED;
	}
	pr.p = r->p + r->pos;
	pr.len = plen;
	pr.pos = 0;
	r->pos += plen;
	out->raw = plen != 0 ? pr.p : NULL;
	out->raw_len = plen;

	while (rp__rd_left(&pr) > 0) {
		const struct prop_info *info;
		uint8_t id;

		(void)rp__rd_u8(&pr, &id);
		info = info_for(id, where);
		if (info == NULL) {
			return RP_E_PROPERTY;
		}
		if (id == RP_MQTT_PROP_USER) {
			if (out->user_prop_count >= lim->max_user_props) {
				return RP_E_LIMIT;
			}
			out->user_prop_count++;
		} else if (id == RP_MQTT_PROP_SUBSCRIPTION_ID) {
			/* Repeatable in PUBLISH only [MQTT-3.8.2.1.2: once in SUBSCRIBE]. */
			if (where != RP_MQTT_PUBLISH && out->sub_id_count != 0) {
				return RP_E_PROPERTY_DUP;
			}
			if (out->sub_id_count >= lim->max_sub_ids) {
				return RP_E_LIMIT;
			}
			out->sub_id_count++;
		} else {
			if (out->present & RP_MQTT_HAS(id)) {
				return RP_E_PROPERTY_DUP;
			}
			out->present |= RP_MQTT_HAS(id);
		}
		st = read_value(&pr, info->kind, id, out);
		if (st != RP_OK) {
			return st;
		}
	}
	return RP_OK;
}

int rp__mqtt_props_empty(const rp_mqtt_props *p)
{
	return (p->present & ~REPEATED_MASK) == 0 && p->user_prop_count == 0 &&
	       p->sub_id_count == 0;
}

int rp_mqtt_props_next(const rp_mqtt_props *props, uint8_t kind, uint32_t *cursor,
		       rp_mqtt_str *name, rp_mqtt_str *value, uint32_t *sub_id)
{
	rp__rd r;

	if (props == NULL || cursor == NULL || props->raw == NULL ||
	    (kind != RP_MQTT_PROP_USER && kind != RP_MQTT_PROP_SUBSCRIPTION_ID)) {
		return 0;
	}
	r.p = props->raw;
	r.len = props->raw_len;
	r.pos = *cursor;
	if (r.pos > r.len) {
		return 0;
	}
	while (rp__rd_left(&r) > 0) {
		rp_mqtt_props scratch;
		rp_mqtt_str a, b;
		uint32_t v = 0;
		uint8_t id;

		(void)rp__rd_u8(&r, &id);
		if (id >= PROP_ID_END || prop_info[id].kind == K_NONE) {
			return 0;
		}
		if (id == RP_MQTT_PROP_USER) {
			if (rp__rd_bin(&r, &a) != RP_OK || rp__rd_bin(&r, &b) != RP_OK) {
				return 0;
			}
		} else if (id == RP_MQTT_PROP_SUBSCRIPTION_ID) {
			if (rp__rd_vbi(&r, &v) != RP_OK) {
				return 0;
			}
		} else {
			memset(&scratch, 0, sizeof(scratch));
			if (read_value(&r, prop_info[id].kind, id, &scratch) != RP_OK) {
				return 0;
			}
			continue;
		}
		if (id != kind) {
			continue;
		}
		*cursor = r.pos;
		if (id == RP_MQTT_PROP_USER) {
			if (name != NULL) {
				*name = a;
			}
			if (value != NULL) {
				*value = b;
			}
		} else if (sub_id != NULL) {
			*sub_id = v;
		}
		return 1;
	}
	*cursor = r.pos;
	return 0;
}

/* Value rules that are not syntax: [MQTT-3.1.2-x], [MQTT-3.2.2-x], 3.3.2.3. */
static rp_status value_check(const rp_mqtt_props *p, uint8_t id)
{
	const uint8_t *b = CFIELD(byte_field, p, id);
	const uint16_t *h = CFIELD(u16_field, p, id);
	const uint32_t *w = CFIELD(u32_field, p, id);
	const rp_mqtt_str *s = CFIELD(str_field, p, id);
	uint32_t i;

	if (b != NULL && *b > 1u) {
		return RP_E_PROPERTY_VALUE; /* every byte property is 0 or 1 */
	}
	if (h != NULL && *h == 0 && id != RP_MQTT_PROP_SERVER_KEEPALIVE &&
	    id != RP_MQTT_PROP_TOPIC_ALIAS_MAX) {
		return RP_E_PROPERTY_VALUE; /* receive maximum and topic alias: not 0 */
	}
	if (w != NULL && *w == 0 && id == RP_MQTT_PROP_MAX_PACKET_SIZE) {
		return RP_E_PROPERTY_VALUE;
	}
	if (s == NULL) {
		return RP_OK;
	}
	if (s->len > RP_MQTT_STR_MAX || (s->p == NULL && s->len != 0)) {
		return RP_E_INVALID_ARG;
	}
	if (prop_info[id].kind == K_STR && s->len != 0 && !rp__mqtt_utf8_check(s->p, s->len, 0)) {
		return RP_E_UTF8;
	}
	if (id == RP_MQTT_PROP_RESPONSE_TOPIC) {
		/* [MQTT-3.3.2-14]: a topic name, so no wildcard; and not empty. */
		if (s->len == 0) {
			return RP_E_PROPERTY_VALUE;
		}
		for (i = 0; i < s->len; i++) {
			if (s->p[i] == '+' || s->p[i] == '#') {
				return RP_E_PROPERTY_VALUE;
			}
		}
	}
	return RP_OK;
}

/* Checks the repeated properties, from the arrays or from the raw block. */
static rp_status repeated_check(const rp_mqtt_props *p, uint8_t where, const rp_mqtt_limits *lim)
{
	uint32_t cursor = 0, n = 0, sub_id = 0;
	rp_mqtt_str name, value;
	rp_status st;

	if (p->user_prop_count > lim->max_user_props) {
		return RP_E_LIMIT;
	}
	if (p->sub_id_count != 0 && info_for(RP_MQTT_PROP_SUBSCRIPTION_ID, where) == NULL) {
		return RP_E_PROPERTY;
	}
	if (where != RP_MQTT_PUBLISH && p->sub_id_count > 1u) {
		return RP_E_PROPERTY_DUP;
	}
	if (p->sub_id_count > lim->max_sub_ids) {
		return RP_E_LIMIT;
	}
	for (n = 0; n < p->user_prop_count; n++) {
		if (p->user_props != NULL) {
			name = p->user_props[n].name;
			value = p->user_props[n].value;
		} else if (!rp_mqtt_props_next(p, RP_MQTT_PROP_USER, &cursor, &name, &value,
					       NULL)) {
			return RP_E_INVALID_ARG; /* fewer in raw than counted */
		}
		st = rp__mqtt_str_check(name);
		if (st == RP_OK) {
			st = rp__mqtt_str_check(value);
		}
		if (st != RP_OK) {
			return st;
		}
	}
	cursor = 0;
	for (n = 0; n < p->sub_id_count; n++) {
		if (p->sub_ids != NULL) {
			sub_id = p->sub_ids[n];
		} else if (!rp_mqtt_props_next(p, RP_MQTT_PROP_SUBSCRIPTION_ID, &cursor, NULL, NULL,
					       &sub_id)) {
			return RP_E_INVALID_ARG;
		}
		/* [MQTT-3.8.2.1.2]: 1 to 268,435,455; 0 is a Protocol Error. */
		if (sub_id == 0 || sub_id > RP_MQTT_VBI_MAX) {
			return RP_E_PROPERTY_VALUE;
		}
	}
	return RP_OK;
}

rp_status rp__mqtt_props_check(const rp_mqtt_props *p, uint8_t where, uint8_t version,
			       const rp_mqtt_limits *lim)
{
	uint64_t present = p->present & ~REPEATED_MASK;
	rp_status st;
	uint8_t id;

	if (version != RP_MQTT_V5) {
		return rp__mqtt_props_empty(p) ? RP_OK : RP_E_PROPERTY;
	}
	if ((present >> PROP_ID_END) != 0 || (present & 1u) != 0) {
		return RP_E_PROPERTY; /* a bit for an identifier that does not exist */
	}
	for (id = 1; id < PROP_ID_END; id++) {
		if ((present & RP_MQTT_HAS(id)) == 0) {
			continue;
		}
		if (info_for(id, where) == NULL) {
			return RP_E_PROPERTY;
		}
		st = value_check(p, id);
		if (st != RP_OK) {
			return st;
		}
	}
	/* Authentication Data without a method is a Protocol Error [3.1.2.11.10]. */
	if ((present & RP_MQTT_HAS(RP_MQTT_PROP_AUTH_DATA)) &&
	    !(present & RP_MQTT_HAS(RP_MQTT_PROP_AUTH_METHOD))) {
		return RP_E_PROTOCOL;
	}
	return repeated_check(p, where, lim);
}

static void write_user_props(rp__wr *w, const rp_mqtt_props *p)
{
	uint32_t cursor = 0;
	rp_mqtt_str name, value;
	uint16_t n;

	for (n = 0; n < p->user_prop_count; n++) {
		if (p->user_props != NULL) {
			name = p->user_props[n].name;
			value = p->user_props[n].value;
		} else if (!rp_mqtt_props_next(p, RP_MQTT_PROP_USER, &cursor, &name, &value,
					       NULL)) {
			return; /* cannot happen after rp__mqtt_props_check() */
		}
		rp__wr_u8(w, RP_MQTT_PROP_USER);
		rp__wr_str(w, name);
		rp__wr_str(w, value);
	}
}

static void write_sub_ids(rp__wr *w, const rp_mqtt_props *p)
{
	uint32_t cursor = 0, v = 0;
	uint16_t n;

	for (n = 0; n < p->sub_id_count; n++) {
		if (p->sub_ids != NULL) {
			v = p->sub_ids[n];
		} else if (!rp_mqtt_props_next(p, RP_MQTT_PROP_SUBSCRIPTION_ID, &cursor, NULL, NULL,
					       &v)) {
			return;
		}
		rp__wr_u8(w, RP_MQTT_PROP_SUBSCRIPTION_ID);
		rp__wr_vbi(w, v);
	}
}

/* The properties in canonical order: by identifier, repeats in their order. */
static void write_body(rp__wr *w, const rp_mqtt_props *p)
{
	uint8_t id;

	for (id = 1; id < PROP_ID_END; id++) {
		if (id == RP_MQTT_PROP_USER) {
			write_user_props(w, p);
			continue;
		}
		if (id == RP_MQTT_PROP_SUBSCRIPTION_ID) {
			write_sub_ids(w, p);
			continue;
		}
		if ((p->present & RP_MQTT_HAS(id)) == 0 || prop_info[id].kind == K_NONE) {
			continue;
		}
		rp__wr_u8(w, id);
		switch (prop_info[id].kind) {
		case K_BYTE:
			rp__wr_u8(w, *CFIELD(byte_field, p, id));
			break;
		case K_U16:
			rp__wr_u16(w, *CFIELD(u16_field, p, id));
			break;
		case K_U32:
			rp__wr_u32(w, *CFIELD(u32_field, p, id));
			break;
		default: /* K_STR, K_BIN */
			rp__wr_str(w, *CFIELD(str_field, p, id));
			break;
		}
	}
}

void rp__mqtt_props_write(rp__wr *w, const rp_mqtt_props *p)
{
	rp__wr count = {NULL, 0, 0};

	write_body(&count, p);
	rp__wr_vbi(w, (uint32_t)count.pos);
	write_body(w, p);
}
