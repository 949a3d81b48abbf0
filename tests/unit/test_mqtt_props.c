/*
 * test_mqtt_props.c - MQTT 5 properties (section 2.2.2 and each packet's
 * property list).
 *
 * The matrix: every one of the 27 properties in every packet type (and the
 * will properties), on the wire and through the encoder. Allowed: decodes,
 * re-encodes to the same bytes, value read back. Not allowed: RP_E_PROPERTY
 * (2.2.2.2: "an Identifier which is not valid for its packet type").
 * Then duplicates, value ranges, UTF-8, truncation, unknown identifiers,
 * and rp_mqtt_props_next().
 */
#include "mqtt_test_util.h"

enum where {
	W_CONNECT,
	W_WILL,
	W_CONNACK,
	W_PUBLISH,
	W_PUBACK,
	W_PUBREC,
	W_PUBREL,
	W_PUBCOMP,
	W_SUBSCRIBE,
	W_SUBACK,
	W_UNSUBSCRIBE,
	W_UNSUBACK,
	W_DISCONNECT,
	W_AUTH,
	W_COUNT
};

static const char *const where_name[W_COUNT] = {
	"CONNECT", "will",      "CONNACK", "PUBLISH",     "PUBACK",   "PUBREC",     "PUBREL",
	"PUBCOMP", "SUBSCRIBE", "SUBACK",  "UNSUBSCRIBE", "UNSUBACK", "DISCONNECT", "AUTH",
};

#define B(w) (1u << (w))
#define ACKS (B(W_PUBACK) | B(W_PUBREC) | B(W_PUBREL) | B(W_PUBCOMP))
#define ALL  ((1u << W_COUNT) - 1u)

/* MQTT 5.0 Table 2-4, checked against each packet's property section. */
static const struct {
	uint8_t id;
	const char *name;
	unsigned where;
} prop_table[27] = {
	{0x01, "payload format indicator", B(W_PUBLISH) | B(W_WILL)},
	{0x02, "message expiry interval", B(W_PUBLISH) | B(W_WILL)},
	{0x03, "content type", B(W_PUBLISH) | B(W_WILL)},
	{0x08, "response topic", B(W_PUBLISH) | B(W_WILL)},
	{0x09, "correlation data", B(W_PUBLISH) | B(W_WILL)},
	{0x0B, "subscription identifier", B(W_PUBLISH) | B(W_SUBSCRIBE)},
	{0x11, "session expiry interval", B(W_CONNECT) | B(W_CONNACK) | B(W_DISCONNECT)},
	{0x12, "assigned client identifier", B(W_CONNACK)},
	{0x13, "server keep alive", B(W_CONNACK)},
	{0x15, "authentication method", B(W_CONNECT) | B(W_CONNACK) | B(W_AUTH)},
	{0x16, "authentication data", B(W_CONNECT) | B(W_CONNACK) | B(W_AUTH)},
	{0x17, "request problem information", B(W_CONNECT)},
	{0x18, "will delay interval", B(W_WILL)},
	{0x19, "request response information", B(W_CONNECT)},
	{0x1A, "response information", B(W_CONNACK)},
	{0x1C, "server reference", B(W_CONNACK) | B(W_DISCONNECT)},
	{0x1F, "reason string",
	 B(W_CONNACK) | ACKS | B(W_SUBACK) | B(W_UNSUBACK) | B(W_DISCONNECT) | B(W_AUTH)},
	{0x21, "receive maximum", B(W_CONNECT) | B(W_CONNACK)},
	{0x22, "topic alias maximum", B(W_CONNECT) | B(W_CONNACK)},
	{0x23, "topic alias", B(W_PUBLISH)},
	{0x24, "maximum QoS", B(W_CONNACK)},
	{0x25, "retain available", B(W_CONNACK)},
	{0x26, "user property", ALL},
	{0x27, "maximum packet size", B(W_CONNECT) | B(W_CONNACK)},
	{0x28, "wildcard subscription available", B(W_CONNACK)},
	{0x29, "subscription identifier available", B(W_CONNACK)},
	{0x2A, "shared subscription available", B(W_CONNACK)},
};

static int is_byte_prop(uint8_t id)
{
	return id == 0x01 || id == 0x17 || id == 0x19 || id == 0x24 || id == 0x25 || id == 0x28 ||
	       id == 0x29 || id == 0x2A;
}

static int is_u16_prop(uint8_t id)
{
	return id == 0x13 || id == 0x21 || id == 0x22 || id == 0x23;
}

static int is_u32_prop(uint8_t id)
{
	return id == 0x02 || id == 0x11 || id == 0x18 || id == 0x27;
}

static int is_bin_prop(uint8_t id)
{
	return id == 0x09 || id == 0x16;
}

static int is_str_prop(uint8_t id)
{
	return id == 0x03 || id == 0x08 || id == 0x12 || id == 0x15 || id == 0x1A || id == 0x1C ||
	       id == 0x1F;
}

/* A valid value of each property, as written on the wire. */
static void put_prop(tu_buf *b, uint8_t id)
{
	tu_put_u8(b, id);
	if (is_byte_prop(id)) {
		tu_put_u8(b, 1);
	} else if (is_u16_prop(id)) {
		tu_put_u16(b, 7);
	} else if (is_u32_prop(id)) {
		tu_put_u32(b, 1000);
	} else if (id == 0x0B) {
		tu_put_vbi(b, 300);
	} else if (is_bin_prop(id)) {
		tu_put_u16(b, 2);
		tu_put_u8(b, 0x00);
		tu_put_u8(b, 0xFF);
	} else if (id == 0x26) {
		tu_put_str(b, "name");
		tu_put_str(b, "value");
	} else {
		tu_put_str(b, "s/1");
	}
}

static const uint8_t bin_value[2] = {0x00, 0xFF};
static const rp_mqtt_user_prop user_value[1] = {
	{{(const uint8_t *)"name", 4}, {(const uint8_t *)"value", 5}},
};
static const uint32_t sub_id_value[1] = {300};

/* The same value set on a property set, for the encoder. */
static void set_prop(rp_mqtt_props *p, uint8_t id)
{
	rp_mqtt_str s = TU_STR("s/1");
	rp_mqtt_bin bin = {bin_value, 2};

	if (id == 0x26) {
		p->user_props = user_value;
		p->user_prop_count = 1;
		return;
	}
	if (id == 0x0B) {
		p->sub_ids = sub_id_value;
		p->sub_id_count = 1;
		return;
	}
	p->present |= RP_MQTT_HAS(id);
	switch (id) {
	case 0x01:
		p->payload_format = 1;
		break;
	case 0x02:
		p->message_expiry = 1000;
		break;
	case 0x03:
		p->content_type = s;
		break;
	case 0x08:
		p->response_topic = s;
		break;
	case 0x09:
		p->correlation_data = bin;
		break;
	case 0x11:
		p->session_expiry = 1000;
		break;
	case 0x12:
		p->assigned_client_id = s;
		break;
	case 0x13:
		p->server_keepalive = 7;
		break;
	case 0x15:
		p->auth_method = s;
		break;
	case 0x16:
		p->auth_data = bin;
		break;
	case 0x17:
		p->request_problem_info = 1;
		break;
	case 0x18:
		p->will_delay = 1000;
		break;
	case 0x19:
		p->request_response_info = 1;
		break;
	case 0x1A:
		p->response_info = s;
		break;
	case 0x1C:
		p->server_reference = s;
		break;
	case 0x1F:
		p->reason_string = s;
		break;
	case 0x21:
		p->receive_max = 7;
		break;
	case 0x22:
		p->topic_alias_max = 7;
		break;
	case 0x23:
		p->topic_alias = 7;
		break;
	case 0x24:
		p->max_qos = 1;
		break;
	case 0x25:
		p->retain_available = 1;
		break;
	case 0x27:
		p->max_packet_size = 1000;
		break;
	case 0x28:
		p->wildcard_sub_available = 1;
		break;
	case 0x29:
		p->sub_id_available = 1;
		break;
	case 0x2A:
		p->shared_sub_available = 1;
		break;
	default:
		fail_msg("no such property 0x%02X", id);
	}
}

/* The decoded set holds exactly what put_prop() wrote (and the method). */
static void check_prop(const rp_mqtt_props *p, uint8_t id, int with_method)
{
	rp_mqtt_props want;

	memset(&want, 0, sizeof(want));
	if (with_method) {
		set_prop(&want, 0x15);
	}
	set_prop(&want, id);
	tu_assert_props_eq(&want, p);
}

/* A packet of `where` around the property block `props` (wire form). */
static void build_wire(tu_buf *out, enum where w, const tu_buf *props)
{
	static const uint8_t first[W_COUNT] = {0x10, 0x10, 0x20, 0x30, 0x40, 0x50, 0x62,
					       0x70, 0x82, 0x90, 0xA2, 0xB0, 0xE0, 0xF0};
	tu_buf body = {.n = 0};

	switch (w) {
	case W_CONNECT:
	case W_WILL:
		tu_put_str(&body, "MQTT");
		tu_put_u8(&body, 5);
		tu_put_u8(&body, w == W_WILL ? 0x06 : 0x02); /* will flag, clean start */
		tu_put_u16(&body, 60);
		if (w == W_CONNECT) {
			tu_put_vbi(&body, (uint32_t)props->n);
			tu_put(&body, props->b, props->n);
		} else {
			tu_put_u8(&body, 0);
		}
		tu_put_str(&body, "c");
		if (w == W_WILL) {
			tu_put_vbi(&body, (uint32_t)props->n);
			tu_put(&body, props->b, props->n);
			tu_put_str(&body, "t"); /* will topic */
			tu_put_u16(&body, 0);   /* empty will payload */
		}
		break;
	case W_CONNACK:
		tu_put_u8(&body, 0);
		tu_put_u8(&body, 0);
		tu_put_vbi(&body, (uint32_t)props->n);
		tu_put(&body, props->b, props->n);
		break;
	case W_PUBLISH:
		tu_put_str(&body, "t");
		tu_put_vbi(&body, (uint32_t)props->n);
		tu_put(&body, props->b, props->n);
		break;
	case W_PUBACK:
	case W_PUBREC:
	case W_PUBREL:
	case W_PUBCOMP:
		tu_put_u16(&body, 1);
		tu_put_u8(&body, 0);
		tu_put_vbi(&body, (uint32_t)props->n);
		tu_put(&body, props->b, props->n);
		break;
	case W_SUBSCRIBE:
	case W_UNSUBSCRIBE:
		tu_put_u16(&body, 1);
		tu_put_vbi(&body, (uint32_t)props->n);
		tu_put(&body, props->b, props->n);
		tu_put_str(&body, "t");
		if (w == W_SUBSCRIBE) {
			tu_put_u8(&body, 0);
		}
		break;
	case W_SUBACK:
	case W_UNSUBACK:
		tu_put_u16(&body, 1);
		tu_put_vbi(&body, (uint32_t)props->n);
		tu_put(&body, props->b, props->n);
		tu_put_u8(&body, 0);
		break;
	case W_DISCONNECT:
	case W_AUTH:
		tu_put_u8(&body, w == W_AUTH ? 0x18 : 0x00);
		tu_put_vbi(&body, (uint32_t)props->n);
		tu_put(&body, props->b, props->n);
		break;
	default:
		fail();
	}
	tu_frame(out, first[w], &body);
}

/* The same packet as a struct; returns the property set to fill. */
static rp_mqtt_props *build_pkt(rp_mqtt_packet *pkt, enum where w)
{
	static const rp_mqtt_sub_entry entry = {{(const uint8_t *)"t", 1}, 0, 0, 0, 0};
	static const uint8_t code0[1] = {0};
	static const uint8_t types[W_COUNT] = {
		RP_MQTT_CONNECT,    RP_MQTT_CONNECT, RP_MQTT_CONNACK,     RP_MQTT_PUBLISH,
		RP_MQTT_PUBACK,     RP_MQTT_PUBREC,  RP_MQTT_PUBREL,      RP_MQTT_PUBCOMP,
		RP_MQTT_SUBSCRIBE,  RP_MQTT_SUBACK,  RP_MQTT_UNSUBSCRIBE, RP_MQTT_UNSUBACK,
		RP_MQTT_DISCONNECT, RP_MQTT_AUTH,
	};

	memset(pkt, 0, sizeof(*pkt));
	pkt->type = types[w];
	switch (w) {
	case W_CONNECT:
	case W_WILL:
		pkt->u.connect.version = RP_MQTT_V5;
		pkt->u.connect.clean_start = 1;
		pkt->u.connect.keepalive = 60;
		pkt->u.connect.client_id = TU_STR("c");
		if (w == W_CONNECT) {
			return &pkt->u.connect.props;
		}
		pkt->u.connect.will_flag = 1;
		pkt->u.connect.will_topic = TU_STR("t");
		return &pkt->u.connect.will_props;
	case W_CONNACK:
		return &pkt->u.connack.props;
	case W_PUBLISH:
		pkt->u.publish.topic = TU_STR("t");
		return &pkt->u.publish.props;
	case W_PUBACK:
	case W_PUBREC:
	case W_PUBREL:
	case W_PUBCOMP:
		pkt->u.ack.packet_id = 1;
		return &pkt->u.ack.props;
	case W_SUBSCRIBE:
	case W_UNSUBSCRIBE:
		pkt->u.subscribe.packet_id = 1;
		pkt->u.subscribe.entries = &entry;
		pkt->u.subscribe.count = 1;
		return &pkt->u.subscribe.props;
	case W_SUBACK:
	case W_UNSUBACK:
		pkt->u.suback.packet_id = 1;
		pkt->u.suback.reason_codes = code0;
		pkt->u.suback.count = 1;
		return &pkt->u.suback.props;
	case W_DISCONNECT:
		return &pkt->u.disconnect.props;
	case W_AUTH:
		pkt->u.disconnect.reason_code = RP_MQTT_RC_CONTINUE_AUTH;
		return &pkt->u.disconnect.props;
	default:
		fail();
		return NULL;
	}
}

static const rp_mqtt_props *decoded_props(const rp_mqtt_packet *pkt, enum where w)
{
	switch (w) {
	case W_CONNECT:
		return &pkt->u.connect.props;
	case W_WILL:
		return &pkt->u.connect.will_props;
	case W_CONNACK:
		return &pkt->u.connack.props;
	case W_PUBLISH:
		return &pkt->u.publish.props;
	case W_SUBSCRIBE:
	case W_UNSUBSCRIBE:
		return &pkt->u.subscribe.props;
	case W_SUBACK:
	case W_UNSUBACK:
		return &pkt->u.suback.props;
	case W_DISCONNECT:
	case W_AUTH:
		return &pkt->u.disconnect.props;
	default:
		return &pkt->u.ack.props;
	}
}

static uint8_t version_for(enum where w)
{
	return (w == W_CONNECT || w == W_WILL) ? 0 : RP_MQTT_V5;
}

/*
 * The property block for testing `id` in `w`: Authentication Data comes
 * with its method (3.1.2.11.10), and an AUTH always has its method
 * (3.15.2.2.2), so that only the property under test decides.
 */
static void block_for(tu_buf *props, uint8_t id, enum where w, int allowed)
{
	props->n = 0;
	if ((w == W_AUTH && id != 0x15) || (id == 0x16 && allowed)) {
		put_prop(props, 0x15);
	}
	put_prop(props, id);
}

/* ---- the matrix -------------------------------------------------------- */

static void test_property_matrix_decode(void **state)
{
	size_t i;
	int w;

	(void)state;
	for (i = 0; i < TU_ARRAY_LEN(prop_table); i++) {
		uint8_t id = prop_table[i].id;

		for (w = 0; w < W_COUNT; w++) {
			int allowed = (prop_table[i].where & B(w)) != 0;
			tu_buf props, wire;
			char ctx[96];

			block_for(&props, id, (enum where)w, allowed);
			build_wire(&wire, (enum where)w, &props);
			snprintf(ctx, sizeof(ctx), "%s (0x%02X) in %s", prop_table[i].name, id,
				 where_name[w]);
			if (allowed) {
				rp_mqtt_packet pkt;

				tu_valid_(wire.b, wire.n, version_for((enum where)w), NULL, 1, ctx,
					  __FILE__, __LINE__);
				tu_decode_ok_(wire.b, wire.n, version_for((enum where)w), &pkt, ctx,
					      __FILE__, __LINE__);
				check_prop(decoded_props(&pkt, (enum where)w), id,
					   (w == W_AUTH && id != 0x15) || id == 0x16);
			} else {
				tu_expect_decode_(wire.b, wire.n, version_for((enum where)w), NULL,
						  RP_E_PROPERTY, ctx, __FILE__, __LINE__);
			}
		}
	}
}

static void test_property_matrix_encode(void **state)
{
	size_t i;
	int w;

	(void)state;
	for (i = 0; i < TU_ARRAY_LEN(prop_table); i++) {
		uint8_t id = prop_table[i].id;

		for (w = 0; w < W_COUNT; w++) {
			int allowed = (prop_table[i].where & B(w)) != 0;
			rp_mqtt_packet pkt, got;
			rp_mqtt_props *p = build_pkt(&pkt, (enum where)w);
			uint8_t out[128];
			char ctx[96];

			if ((w == W_AUTH && id != 0x15) || (id == 0x16 && allowed)) {
				set_prop(p, 0x15);
			}
			set_prop(p, id);
			snprintf(ctx, sizeof(ctx), "encode %s (0x%02X) in %s", prop_table[i].name,
				 id, where_name[w]);
			if (allowed) {
				tu_roundtrip_(&pkt, RP_MQTT_V5, NULL, out, sizeof(out), &got, ctx,
					      __FILE__, __LINE__);
				tu_assert_props_eq(p, decoded_props(&got, (enum where)w));
			} else {
				tu_expect_encode_(&pkt, RP_MQTT_V5, NULL, RP_E_PROPERTY, ctx,
						  __FILE__, __LINE__);
			}
			/* No property at all under 3.1.1. */
			if (w != W_AUTH && w != W_CONNECT && w != W_WILL) {
				tu_expect_encode_(&pkt, RP_MQTT_V311, NULL, RP_E_PROPERTY, ctx,
						  __FILE__, __LINE__);
			}
		}
	}
}

/* The encoder refuses presence bits of identifiers that do not exist. */
static void test_property_unknown_bits_encode(void **state)
{
	static const uint8_t unknown[] = {0x04, 0x05, 0x06, 0x07, 0x0A, 0x0C, 0x10, 0x14,
					  0x1B, 0x1D, 0x1E, 0x20, 0x2B, 0x3F, 0x00};
	rp_mqtt_packet pkt;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(unknown); i++) {
		rp_mqtt_props *p = build_pkt(&pkt, W_PUBLISH);
		char ctx[48];

		p->present = RP_MQTT_HAS(unknown[i]);
		snprintf(ctx, sizeof(ctx), "presence bit 0x%02X", unknown[i]);
		tu_expect_encode_(&pkt, RP_MQTT_V5, NULL, RP_E_PROPERTY, ctx, __FILE__, __LINE__);
	}
}

/* Identifiers Table 2-4 does not define. */
static void test_property_unknown_ids(void **state)
{
	static const uint8_t unknown[] = {0x00, 0x04, 0x05, 0x06, 0x07, 0x0A, 0x0C,
					  0x0D, 0x0E, 0x0F, 0x10, 0x14, 0x1B, 0x1D,
					  0x1E, 0x20, 0x2B, 0x2C, 0x40, 0x7F};
	size_t i;
	int w;

	(void)state;
	for (i = 0; i < sizeof(unknown); i++) {
		for (w = 0; w < W_COUNT; w++) {
			tu_buf props = {.n = 0}, wire;
			char ctx[64];

			if (w == W_AUTH) {
				put_prop(&props, 0x15);
			}
			tu_put_u8(&props, unknown[i]);
			tu_put_u8(&props, 0x00); /* something for a value */
			build_wire(&wire, (enum where)w, &props);
			snprintf(ctx, sizeof(ctx), "unknown 0x%02X in %s", unknown[i],
				 where_name[w]);
			tu_expect_decode_(wire.b, wire.n, version_for((enum where)w), NULL,
					  RP_E_PROPERTY, ctx, __FILE__, __LINE__);
		}
	}
}

/* ---- duplicates -------------------------------------------------------- */

static enum where first_allowed(size_t i)
{
	int w;

	for (w = 0; w < W_COUNT; w++) {
		if (prop_table[i].where & B(w)) {
			return (enum where)w;
		}
	}
	fail();
	return W_COUNT;
}

/*
 * "It is a Protocol Error to include <property> more than once": every
 * property but User Property (any packet) and Subscription Identifier
 * (PUBLISH only) - in every packet that allows it.
 */
static void test_property_duplicates(void **state)
{
	size_t i;
	int w;

	(void)state;
	for (i = 0; i < TU_ARRAY_LEN(prop_table); i++) {
		uint8_t id = prop_table[i].id;

		for (w = 0; w < W_COUNT; w++) {
			tu_buf props, wire;
			rp_status want;
			char ctx[96];

			if ((prop_table[i].where & B(w)) == 0) {
				continue;
			}
			block_for(&props, id, (enum where)w, 1);
			put_prop(&props, id);
			build_wire(&wire, (enum where)w, &props);
			if (id == 0x26 || (id == 0x0B && w == W_PUBLISH)) {
				want = RP_OK;
			} else {
				want = RP_E_PROPERTY_DUP;
			}
			snprintf(ctx, sizeof(ctx), "%s twice in %s", prop_table[i].name,
				 where_name[w]);
			tu_expect_decode_(wire.b, wire.n, version_for((enum where)w), NULL, want,
					  ctx, __FILE__, __LINE__);
		}
	}
}

/* A duplicate separated by other properties is still a duplicate. */
static void test_property_duplicate_apart(void **state)
{
	static const uint8_t wire[] = {
		0x30, 0x16, 0x00, 0x01, 't',        /* PUBLISH "t", remaining 22 */
		0x12,                               /* property length 18 */
		0x02, 0x00, 0x00, 0x00, 0x01,       /* message expiry */
		0x26, 0x00, 0x01, 'a',  0x00, 0x00, /* user property a="" */
		0x01, 0x00,                         /* payload format 0 */
		0x02, 0x00, 0x00, 0x00, 0x02,       /* message expiry again */
	};

	(void)state;
	EXPECT_DECODE(wire, RP_MQTT_V5, RP_E_PROPERTY_DUP);
	assert_int_equal(rp_mqtt_reason_for(RP_E_PROPERTY_DUP), RP_MQTT_RC_PROTOCOL_ERROR);
}

/* ---- value ranges ------------------------------------------------------ */

static void check_prop_value(uint8_t id, const uint8_t *val, size_t n, rp_status want)
{
	size_t i;
	int w;

	for (i = 0; i < TU_ARRAY_LEN(prop_table); i++) {
		if (prop_table[i].id != id) {
			continue;
		}
		for (w = 0; w < W_COUNT; w++) {
			tu_buf props = {.n = 0}, wire;
			char ctx[96];

			if ((prop_table[i].where & B(w)) == 0) {
				continue;
			}
			if ((w == W_AUTH && id != 0x15) || id == 0x16) {
				put_prop(&props, 0x15); /* see block_for() */
			}
			tu_put_u8(&props, id);
			tu_put(&props, val, n);
			build_wire(&wire, (enum where)w, &props);
			snprintf(ctx, sizeof(ctx), "%s value %02X.. in %s", prop_table[i].name,
				 val[0], where_name[w]);
			tu_expect_decode_(wire.b, wire.n, version_for((enum where)w), NULL, want,
					  ctx, __FILE__, __LINE__);
		}
	}
}

/* Byte properties are 0 or 1 (3.1.2.11.6, 3.1.2.11.7, 3.2.2.3.4, 3.2.2.3.5, ...). */
static void test_property_byte_values(void **state)
{
	static const uint8_t byte_ids[] = {0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A};
	static const uint8_t v0[] = {0x00}, v1[] = {0x01}, v2[] = {0x02}, vff[] = {0xFF};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(byte_ids); i++) {
		check_prop_value(byte_ids[i], v0, 1, RP_OK);
		check_prop_value(byte_ids[i], v1, 1, RP_OK);
		check_prop_value(byte_ids[i], v2, 1, RP_E_PROPERTY_VALUE);
		check_prop_value(byte_ids[i], vff, 1, RP_E_PROPERTY_VALUE);
	}
	assert_int_equal(rp_mqtt_reason_for(RP_E_PROPERTY_VALUE), RP_MQTT_RC_PROTOCOL_ERROR);
}

/*
 * Zero is a Protocol Error for receive maximum (3.1.2.11.3, 3.2.2.3.3),
 * topic alias (3.3.2.3.4), maximum packet size (3.1.2.11.4, 3.2.2.3.6) and
 * subscription identifier (3.3.2.3.8, 3.8.2.1.2); it is fine for the others.
 */
static void test_property_zero_values(void **state)
{
	static const uint8_t z16[] = {0x00, 0x00}, one16[] = {0x00, 0x01}, max16[] = {0xFF, 0xFF};
	static const uint8_t z32[] = {0x00, 0x00, 0x00, 0x00}, one32[] = {0x00, 0x00, 0x00, 0x01};
	static const uint8_t max32[] = {0xFF, 0xFF, 0xFF, 0xFF};
	static const uint8_t zvbi[] = {0x00}, onevbi[] = {0x01};
	static const uint8_t maxvbi[] = {0xFF, 0xFF, 0xFF, 0x7F};

	(void)state;
	check_prop_value(0x21, z16, 2, RP_E_PROPERTY_VALUE);
	check_prop_value(0x21, one16, 2, RP_OK);
	check_prop_value(0x21, max16, 2, RP_OK);
	check_prop_value(0x23, z16, 2, RP_E_PROPERTY_VALUE);
	check_prop_value(0x23, one16, 2, RP_OK);
	check_prop_value(0x23, max16, 2, RP_OK);
	check_prop_value(0x27, z32, 4, RP_E_PROPERTY_VALUE);
	check_prop_value(0x27, one32, 4, RP_OK);
	check_prop_value(0x27, max32, 4, RP_OK);
	check_prop_value(0x0B, zvbi, 1, RP_E_PROPERTY_VALUE);
	check_prop_value(0x0B, onevbi, 1, RP_OK);
	check_prop_value(0x0B, maxvbi, 4, RP_OK);
	/* Zero allowed: topic alias maximum, server keep alive, the intervals. */
	check_prop_value(0x22, z16, 2, RP_OK);
	check_prop_value(0x13, z16, 2, RP_OK);
	check_prop_value(0x11, z32, 4, RP_OK);
	check_prop_value(0x11, max32, 4, RP_OK);
	check_prop_value(0x02, z32, 4, RP_OK);
	check_prop_value(0x18, z32, 4, RP_OK);
}

/* String properties are UTF-8 strings (1.5.4); binary ones are anything. */
static void test_property_string_utf8(void **state)
{
	static const uint8_t bad[][4] = {
		{0x00, 0x02, 0xC3, 0x28}, /* bad continuation */
		{0x00, 0x02, 'a', 0x00},  /* U+0000 */
		{0x00, 0x02, 0xC0, 0x80}, /* overlong U+0000 */
	};
	static const uint8_t binary[] = {0x00, 0x02, 0xC0, 0x80};
	static const uint8_t empty[] = {0x00, 0x00};
	size_t i, k;

	(void)state;
	for (i = 0; i < TU_ARRAY_LEN(prop_table); i++) {
		uint8_t id = prop_table[i].id;

		if (is_str_prop(id)) {
			for (k = 0; k < TU_ARRAY_LEN(bad); k++) {
				check_prop_value(id, bad[k], 4, RP_E_UTF8);
			}
			if (id != 0x08) {
				check_prop_value(id, empty, 2, RP_OK);
			}
		}
		if (is_bin_prop(id)) {
			check_prop_value(id, binary, 4, RP_OK);
			check_prop_value(id, empty, 2, RP_OK);
		}
	}
	/* User property: name and value both checked. */
	{
		static const uint8_t bad_name[] = {0x00, 0x01, 0xFF, 0x00, 0x01, 'v'};
		static const uint8_t bad_value[] = {0x00, 0x01, 'n', 0x00, 0x02, 0xED, 0xA0};
		static const uint8_t both_empty[] = {0x00, 0x00, 0x00, 0x00};

		check_prop_value(0x26, bad_name, sizeof(bad_name), RP_E_UTF8);
		check_prop_value(0x26, bad_value, sizeof(bad_value), RP_E_UTF8);
		check_prop_value(0x26, both_empty, sizeof(both_empty), RP_OK);
	}
}

/* A value cut by the end of the property block is malformed. */
static void test_property_truncated_values(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < TU_ARRAY_LEN(prop_table); i++) {
		uint8_t id = prop_table[i].id;
		enum where w = first_allowed(i);
		tu_buf full = {.n = 0};
		size_t cut;

		if (w == W_AUTH) {
			continue; /* every property of AUTH is also in another packet */
		}
		put_prop(&full, id);
		/* Every cut that leaves the identifier and part of the value. */
		for (cut = 1; cut < full.n; cut++) {
			tu_buf props = {.n = 0}, wire;
			char ctx[96];

			tu_put(&props, full.b, cut);
			build_wire(&wire, w, &props);
			snprintf(ctx, sizeof(ctx), "%s cut to %zu bytes", prop_table[i].name, cut);
			tu_expect_decode_(wire.b, wire.n, version_for(w), NULL, RP_E_MALFORMED, ctx,
					  __FILE__, __LINE__);
		}
	}
}

/* A string whose length runs past its property block, into the packet. */
static void test_property_string_past_block(void **state)
{
	static const uint8_t wire[] = {
		0x30, 0x0A, 0x00, 0x01, 't', 0x04, /* property length 4... */
		0x03, 0x00, 0x04, 'a',             /* ...content type says 4 bytes */
		'b',  'c',  'd',                   /* the payload follows */
	};

	(void)state;
	EXPECT_DECODE(wire, RP_MQTT_V5, RP_E_MALFORMED);
}

/* ---- limits ------------------------------------------------------------ */

static void test_property_user_limit_per_block(void **state)
{
	static const uint8_t wire[] = {
		0x10, 0x30, /* CONNECT, remaining 48 */
		0x00, 0x04, 'M',  'Q',  'T',  'T',  0x05, 0x06, 0x00, 0x3C, 0x0E, /* properties: two
										     user properties
										   */
		0x26, 0x00, 0x01, 'a',  0x00, 0x01, '1',  0x26, 0x00, 0x01, 'b',  0x00,
		0x01, '2',  0x00, 0x01, 'c', /* client id */
		0x0E,                        /* will properties: two more */
		0x26, 0x00, 0x01, 'x',  0x00, 0x01, '3',  0x26, 0x00, 0x01, 'y',  0x00,
		0x01, '4',  0x00, 0x01, 't',  0x00, 0x00, /* will topic, empty payload */
	};
	rp_mqtt_limits lim = tu_limits();

	(void)state;
	/* "Per property block": two and two pass a limit of two. */
	lim.max_user_props = 2;
	VALID_LIM(wire, 0, &lim);
	lim.max_user_props = 1;
	EXPECT_DECODE_LIM(wire, 0, &lim, RP_E_LIMIT);
}

static void test_property_user_limit_encode(void **state)
{
	static rp_mqtt_user_prop many[RP_LIMIT_MQTT_USER_PROPS + 1];
	rp_mqtt_limits lim = tu_limits();
	rp_mqtt_packet pkt;
	rp_mqtt_props *p = build_pkt(&pkt, W_DISCONNECT);
	size_t i;

	(void)state;
	for (i = 0; i < TU_ARRAY_LEN(many); i++) {
		many[i].name = TU_STR("k");
		many[i].value = TU_STR("v");
	}
	p->user_props = many;
	p->user_prop_count = lim.max_user_props;
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_OK);
	p->user_prop_count = (uint16_t)(lim.max_user_props + 1u);
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_LIMIT);
}

/* ---- rp_mqtt_props_next ------------------------------------------------ */

static const uint8_t interleaved[] = {
	0x30, 0x29, 0x00, 0x01, 't',                  /* PUBLISH "t", remaining 41 */
	0x24,                                         /* property length 36 */
	0x26, 0x00, 0x01, 'a',  0x00, 0x01, '1',      /* user a=1 */
	0x0B, 0x05,                                   /* subscription id 5 */
	0x03, 0x00, 0x01, 'c',                        /* content type "c" */
	0x26, 0x00, 0x01, 'b',  0x00, 0x02, '2', '2', /* user b=22 */
	0x0B, 0x80, 0x01,                             /* subscription id 128 */
	0x23, 0x00, 0x09,                             /* topic alias 9 */
	0x26, 0x00, 0x01, 'a',  0x00, 0x01, '3',      /* user a=3 (same name again) */
	0x0B, 0x07,                                   /* subscription id 7 */
	'p',                                          /* payload */
};

static void test_props_next_walks_in_wire_order(void **state)
{
	static const char *const names[] = {"a", "b", "a"};
	static const char *const values[] = {"1", "22", "3"};
	static const uint32_t ids[] = {5, 128, 7};
	rp_mqtt_packet pkt;
	const rp_mqtt_props *p = &pkt.u.publish.props;
	rp_mqtt_str name, value;
	uint32_t cursor = 0, id = 0;
	size_t i;

	(void)state;
	/* Not in canonical order (re-encoding sorts by identifier). */
	VALID_NC(interleaved, RP_MQTT_V5);
	DECODE_OK(interleaved, RP_MQTT_V5, &pkt);
	assert_int_equal(p->user_prop_count, 3);
	assert_int_equal(p->sub_id_count, 3);
	assert_str(p->content_type, "c");
	assert_int_equal(p->topic_alias, 9);
	assert_str(pkt.u.publish.payload, "p");

	for (i = 0; i < 3; i++) {
		assert_true(rp_mqtt_props_next(p, RP_MQTT_PROP_USER, &cursor, &name, &value, NULL));
		assert_true(tu_str_eq(name, (rp_mqtt_str){(const uint8_t *)names[i],
							  (uint32_t)strlen(names[i])}));
		assert_true(tu_str_eq(value, (rp_mqtt_str){(const uint8_t *)values[i],
							   (uint32_t)strlen(values[i])}));
		assert_view_in(name, interleaved);
	}
	assert_false(rp_mqtt_props_next(p, RP_MQTT_PROP_USER, &cursor, &name, &value, NULL));
	assert_false(rp_mqtt_props_next(p, RP_MQTT_PROP_USER, &cursor, &name, &value, NULL));

	cursor = 0;
	for (i = 0; i < 3; i++) {
		/* Outputs the kind does not use may be NULL. */
		assert_true(rp_mqtt_props_next(p, RP_MQTT_PROP_SUBSCRIPTION_ID, &cursor, NULL, NULL,
					       &id));
		assert_int_equal(id, ids[i]);
	}
	assert_false(rp_mqtt_props_next(p, RP_MQTT_PROP_SUBSCRIPTION_ID, &cursor, NULL, NULL, &id));
	cursor = 0;
	assert_true(rp_mqtt_props_next(p, RP_MQTT_PROP_USER, &cursor, &name, NULL, NULL));
	assert_str(name, "a");
}

/* The canonical re-encoding keeps the order within each repeated property. */
static void test_props_next_reencoded_order(void **state)
{
	static const uint8_t canonical[] = {
		0x30, 0x29, 0x00, 0x01, 't',  0x24, 0x03, 0x00, 0x01, 'c', /* content type */
		0x0B, 0x05, 0x0B, 0x80, 0x01, 0x0B, 0x07, /* subscription ids 5, 128, 7 */
		0x23, 0x00, 0x09,                         /* topic alias */
		0x26, 0x00, 0x01, 'a',  0x00, 0x01, '1',  0x26, 0x00, 0x01, 'b', 0x00,
		0x02, '2',  '2',  0x26, 0x00, 0x01, 'a',  0x00, 0x01, '3',  'p',
	};
	rp_mqtt_limits lim = tu_limits();
	rp_mqtt_packet pkt;
	uint8_t out[64];
	size_t len = 0;

	(void)state;
	VALID(canonical, RP_MQTT_V5);
	DECODE_OK(interleaved, RP_MQTT_V5, &pkt);
	assert_status(rp_mqtt_encode(&pkt, RP_MQTT_V5, &lim, out, sizeof(out), &len), RP_OK);
	assert_int_equal(len, sizeof(canonical));
	assert_memory_equal(out, canonical, sizeof(canonical));
}

static void test_props_next_edges(void **state)
{
	rp_mqtt_packet pkt;
	rp_mqtt_props empty;
	rp_mqtt_str name, value;
	uint32_t cursor = 0, id = 0;

	(void)state;
	memset(&empty, 0, sizeof(empty));
	/* No properties at all. */
	assert_false(rp_mqtt_props_next(&empty, RP_MQTT_PROP_USER, &cursor, &name, &value, NULL));
	cursor = 0;
	assert_false(
		rp_mqtt_props_next(&empty, RP_MQTT_PROP_SUBSCRIPTION_ID, &cursor, NULL, NULL, &id));
	/* Only the repeated kinds are walked. */
	DECODE_OK(interleaved, RP_MQTT_V5, &pkt);
	cursor = 0;
	assert_false(rp_mqtt_props_next(&pkt.u.publish.props, RP_MQTT_PROP_CONTENT_TYPE, &cursor,
					&name, &value, &id));
	cursor = 0;
	assert_false(rp_mqtt_props_next(&pkt.u.publish.props, RP_MQTT_PROP_TOPIC_ALIAS, &cursor,
					&name, &value, &id));
	/* A set with properties but none of the kind. */
	{
		static const uint8_t one[] = {0x30, 0x09, 0x00, 0x01, 't', 0x05, 0x02, 0, 0, 0, 1};

		DECODE_OK(one, RP_MQTT_V5, &pkt);
		cursor = 0;
		assert_false(rp_mqtt_props_next(&pkt.u.publish.props, RP_MQTT_PROP_USER, &cursor,
						&name, &value, NULL));
	}
}

/*
 * To encode, a NULL array with a non-zero count takes the values from raw:
 * a hand-made block works like a decoded one.
 */
static void test_props_from_raw_block(void **state)
{
	static const uint8_t raw[] = {
		0x26, 0x00, 0x01, 'x',  0x00, 0x01, 'y',  0x0B,
		0x2A, 0x26, 0x00, 0x02, 'x',  '2',  0x00, 0x00,
	};
	static const uint8_t want[] = {
		0x30, 0x14, 0x00, 0x01, 't',  0x10, 0x0B, 0x2A, 0x26, 0x00, 0x01,
		'x',  0x00, 0x01, 'y',  0x26, 0x00, 0x02, 'x',  '2',  0x00, 0x00,
	};
	rp_mqtt_limits lim = tu_limits();
	rp_mqtt_packet pkt;
	rp_mqtt_props *p = build_pkt(&pkt, W_PUBLISH);
	uint8_t out[64];
	size_t len = 0;

	(void)state;
	p->raw = raw;
	p->raw_len = sizeof(raw);
	p->user_prop_count = 2;
	p->sub_id_count = 1;
	assert_status(rp_mqtt_encode(&pkt, RP_MQTT_V5, &lim, out, sizeof(out), &len), RP_OK);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	VALID(want, RP_MQTT_V5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_property_matrix_decode),
		cmocka_unit_test(test_property_matrix_encode),
		cmocka_unit_test(test_property_unknown_bits_encode),
		cmocka_unit_test(test_property_unknown_ids),
		cmocka_unit_test(test_property_duplicates),
		cmocka_unit_test(test_property_duplicate_apart),
		cmocka_unit_test(test_property_byte_values),
		cmocka_unit_test(test_property_zero_values),
		cmocka_unit_test(test_property_string_utf8),
		cmocka_unit_test(test_property_truncated_values),
		cmocka_unit_test(test_property_string_past_block),
		cmocka_unit_test(test_property_user_limit_per_block),
		cmocka_unit_test(test_property_user_limit_encode),
		cmocka_unit_test(test_props_next_walks_in_wire_order),
		cmocka_unit_test(test_props_next_reencoded_order),
		cmocka_unit_test(test_props_next_edges),
		cmocka_unit_test(test_props_from_raw_block),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
