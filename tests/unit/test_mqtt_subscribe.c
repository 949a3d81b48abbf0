/*
 * test_mqtt_subscribe.c - SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK
 * (sections 3.8 - 3.11), MQTT 3.1.1 and 5.0.
 */
#include "mqtt_test_util.h"

/* ---- SUBSCRIBE: valid -------------------------------------------------- */

static const uint8_t sub311[] = {
	0x82, 0x12,                       /* SUBSCRIBE (flags 0010), remaining 18 */
	0x00, 0x0A,                       /* packet id 10 */
	0x00, 0x03, 'a', '/',  'b', 0x00, /* "a/b", QoS 0 */
	0x00, 0x03, 'c', '/',  '+', 0x01, /* "c/+", QoS 1 */
	0x00, 0x01, '#', 0x02,            /* "#", QoS 2 */
};

static const uint8_t sub5[] = {
	0x82, 0x2D,                             /* SUBSCRIBE, remaining 45 */
	0x00, 0x01,                             /* packet id 1 */
	0x0A,                                   /* property length 10 */
	0x0B, 0x80, 0x01,                       /* subscription identifier 128 */
	0x26, 0x00, 0x01, 'a', 0x00, 0x01, 'b', /* user property a=b */
	0x00, 0x03, 'x',  '/', '#',             /* "x/#" */
	0x2E,                                   /* retain handling 2, RAP, no local, QoS 2 */
	0x00, 0x0E, '$',  's', 'h',  'a',  'r', 'e',  '/',
	'g',  'r',  'p',  '/', 'y',  '/',  '+', 0x11, /* "$share/grp/y/+": retain handling 1, QoS 1
						       */
	0x00, 0x06, '$',  'S', 'Y',  'S',  '/', '#',  0x00, /* "$SYS/#": all options 0 */
};

static void test_subscribe311(void **state)
{
	rp_mqtt_packet pkt;
	const rp_mqtt_subscribe *s = &pkt.u.subscribe;
	rp_mqtt_sub_entry e;
	uint32_t cursor = 0;

	(void)state;
	VALID(sub311, RP_MQTT_V311);
	DECODE_OK(sub311, RP_MQTT_V311, &pkt);
	assert_int_equal(pkt.type, RP_MQTT_SUBSCRIBE);
	assert_int_equal(s->packet_id, 10);
	assert_int_equal(s->count, 3);
	assert_null(s->entries);
	assert_ptr_equal(s->raw, sub311 + 4);
	assert_int_equal(s->raw_len, 16);
	assert_int_equal(s->props.present, 0);

	assert_true(rp_mqtt_sub_next(s, 1, &cursor, &e));
	assert_str(e.filter, "a/b");
	assert_int_equal(e.qos, 0);
	assert_true(rp_mqtt_sub_next(s, 1, &cursor, &e));
	assert_str(e.filter, "c/+");
	assert_int_equal(e.qos, 1);
	assert_true(rp_mqtt_sub_next(s, 1, &cursor, &e));
	assert_str(e.filter, "#");
	assert_int_equal(e.qos, 2);
	assert_int_equal(e.no_local, 0);
	assert_int_equal(e.retain_as_published, 0);
	assert_int_equal(e.retain_handling, 0);
	assert_false(rp_mqtt_sub_next(s, 1, &cursor, &e));
	assert_false(rp_mqtt_sub_next(s, 1, &cursor, &e)); /* stays at the end */
}

static void test_subscribe5(void **state)
{
	rp_mqtt_packet pkt;
	const rp_mqtt_subscribe *s = &pkt.u.subscribe;
	rp_mqtt_sub_entry e;
	rp_mqtt_str name, value, group, inner;
	uint32_t cursor = 0, id = 0;

	(void)state;
	VALID(sub5, RP_MQTT_V5);
	DECODE_OK(sub5, RP_MQTT_V5, &pkt);
	assert_int_equal(s->packet_id, 1);
	assert_int_equal(s->count, 3);
	/* A single subscription identifier (3.8.2.1.2). */
	assert_int_equal(s->props.sub_id_count, 1);
	assert_true(rp_mqtt_props_next(&s->props, RP_MQTT_PROP_SUBSCRIPTION_ID, &cursor, NULL, NULL,
				       &id));
	assert_int_equal(id, 128);
	cursor = 0;
	assert_int_equal(s->props.user_prop_count, 1);
	assert_true(rp_mqtt_props_next(&s->props, RP_MQTT_PROP_USER, &cursor, &name, &value, NULL));
	assert_str(name, "a");
	assert_str(value, "b");

	cursor = 0;
	assert_true(rp_mqtt_sub_next(s, 1, &cursor, &e));
	assert_str(e.filter, "x/#");
	assert_int_equal(e.qos, 2);
	assert_int_equal(e.no_local, 1);
	assert_int_equal(e.retain_as_published, 1);
	assert_int_equal(e.retain_handling, 2);
	assert_true(rp_mqtt_sub_next(s, 1, &cursor, &e));
	assert_str(e.filter, "$share/grp/y/+");
	assert_int_equal(e.qos, 1);
	assert_int_equal(e.no_local, 0);
	assert_int_equal(e.retain_as_published, 0);
	assert_int_equal(e.retain_handling, 1);
	assert_true(rp_mqtt_topic_shared_split(e.filter.p, e.filter.len, &group, &inner));
	assert_str(group, "grp");
	assert_str(inner, "y/+");
	assert_true(rp_mqtt_sub_next(s, 1, &cursor, &e));
	assert_str(e.filter, "$SYS/#");
	assert_int_equal(e.qos, 0);
	assert_false(rp_mqtt_sub_next(s, 1, &cursor, &e));
}

/* ---- SUBSCRIBE: malformed, one test per rule --------------------------- */

/* [MQTT-3.8.3-3] (3.1.1), [MQTT-3.8.3-2] (5.0): at least one filter. */
static void test_subscribe_empty(void **state)
{
	static const uint8_t v311[] = {0x82, 0x02, 0x00, 0x01};
	static const uint8_t v5[] = {0x82, 0x03, 0x00, 0x01, 0x00};

	(void)state;
	EXPECT_DECODE(v311, RP_MQTT_V311, RP_E_EMPTY);
	EXPECT_DECODE(v5, RP_MQTT_V5, RP_E_EMPTY);
	assert_int_equal(rp_mqtt_reason_for(RP_E_EMPTY), RP_MQTT_RC_PROTOCOL_ERROR);
}

static void test_subscribe_packet_id_zero(void **state)
{
	static const uint8_t v311[] = {0x82, 0x06, 0x00, 0x00, 0x00, 0x01, 't', 0x00};
	static const uint8_t v5[] = {0x82, 0x07, 0x00, 0x00, 0x00, 0x00, 0x01, 't', 0x00};

	(void)state;
	EXPECT_DECODE(v311, RP_MQTT_V311, RP_E_PACKET_ID);
	EXPECT_DECODE(v5, RP_MQTT_V5, RP_E_PACKET_ID);
}

static void test_subscribe_fixed_flags(void **state)
{
	static const uint8_t flags0[] = {0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 't', 0x00};
	static const uint8_t flags3[] = {0x83, 0x06, 0x00, 0x01, 0x00, 0x01, 't', 0x00};

	(void)state;
	EXPECT_DECODE(flags0, RP_MQTT_V311, RP_E_RESERVED_FLAGS);
	EXPECT_DECODE(flags3, RP_MQTT_V5, RP_E_RESERVED_FLAGS);
}

/* [MQTT-3.8.3-4] (3.1.1): bits 7-2 of the requested QoS byte are reserved. */
static void test_subscribe311_reserved_option_bits(void **state)
{
	unsigned bit;

	(void)state;
	for (bit = 2; bit < 8; bit++) {
		uint8_t w[] = {0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 't', (uint8_t)(1u << bit)};

		EXPECT_DECODE(w, RP_MQTT_V311, RP_E_RESERVED_FLAGS);
	}
}

/* [MQTT-3.8.3-5] (5.0): bits 7-6 of the subscription options are reserved. */
static void test_subscribe5_reserved_option_bits(void **state)
{
	static const uint8_t bit6[] = {0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 't', 0x40};
	static const uint8_t bit7[] = {0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 't', 0x81};
	static const uint8_t all_ok[] = {0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 't', 0x2E};

	(void)state;
	EXPECT_DECODE(bit6, RP_MQTT_V5, RP_E_RESERVED_FLAGS);
	EXPECT_DECODE(bit7, RP_MQTT_V5, RP_E_RESERVED_FLAGS);
	VALID(all_ok, RP_MQTT_V5);
}

/* [MQTT-3-8.3-4] (3.1.1) / 3.8.3.1 (5.0): maximum QoS 3 is malformed. */
static void test_subscribe_qos3(void **state)
{
	static const uint8_t v311[] = {0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 't', 0x03};
	static const uint8_t v5[] = {0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 't', 0x03};
	static const uint8_t v5_second[] = {
		0x82, 0x0B, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x01, /* fine */
		0x00, 0x01, 'b',  0x1F, /* retain handling 1, RAP, NL, QoS 3 */
	};

	(void)state;
	EXPECT_DECODE(v311, RP_MQTT_V311, RP_E_QOS);
	EXPECT_DECODE(v5, RP_MQTT_V5, RP_E_QOS);
	EXPECT_DECODE(v5_second, RP_MQTT_V5, RP_E_QOS);
}

/* 3.8.3.1: retain handling 3 is a Protocol Error. */
static void test_subscribe5_retain_handling_3(void **state)
{
	static const uint8_t w[] = {0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 't', 0x30};

	(void)state;
	EXPECT_DECODE(w, RP_MQTT_V5, RP_E_PROTOCOL);
	assert_int_equal(rp_mqtt_reason_for(RP_E_PROTOCOL), RP_MQTT_RC_PROTOCOL_ERROR);
}

/* [MQTT-3.8.3-4] (5.0): no local on a shared subscription is a Protocol Error. */
static void test_subscribe5_no_local_shared(void **state)
{
	static const uint8_t shared_nl[] = {
		0x82, 0x10, 0x00, 0x01, 0x00, 0x00, 0x0A, '$', 's',
		'h',  'a',  'r',  'e',  '/',  'g',  '/',  't', 0x04, /* no local */
	};
	static const uint8_t shared_ok[] = {
		0x82, 0x10, 0x00, 0x01, 0x00, 0x00, 0x0A, '$', 's',
		'h',  'a',  'r',  'e',  '/',  'g',  '/',  't', 0x09, /* RAP, QoS 1 */
	};
	static const uint8_t not_shared_nl[] = {
		0x82, 0x0F, 0x00, 0x01, 0x00, 0x00, 0x09, '$',
		's',  'h',  'a',  'r',  'e',  'x',  '/',  't', /* "$sharex/t" */
		0x04,                                          /* no local: fine, not shared */
	};

	(void)state;
	EXPECT_DECODE(shared_nl, RP_MQTT_V5, RP_E_PROTOCOL);
	VALID(shared_ok, RP_MQTT_V5);
	VALID(not_shared_nl, RP_MQTT_V5);
}

/* 4.7.1 / 4.8.2: wildcard placement and shared subscription names. */
static void test_subscribe_bad_filters(void **state)
{
	static const char *const bad[] = {
		"a/#/b",       "a#",          "a/b#",          "#/",
		"##",          "+a",          "a/+b",          "a/b+",
		"++",          "a/#/",        "$share//t",     "$share/g",
		"$share/g/",   "$share/g+/t", "$share/+/t",    "$share/#/t",
		"$share/g#/t", "$share/g/a#", "$share/g/a/+x",
	};
	size_t i;

	(void)state;
	for (i = 0; i < TU_ARRAY_LEN(bad); i++) {
		tu_buf body = {.n = 0}, w = {.n = 0}, u = {.n = 0};

		/* SUBSCRIBE 3.1.1 */
		tu_put_u16(&body, 1);
		tu_put_str(&body, bad[i]);
		tu_put_u8(&body, 0x00);
		tu_frame(&w, 0x82, &body);
		/* 3.1.1 has no shared subscriptions: only the wildcard rules. */
		if (strncmp(bad[i], "$share/", 7) != 0) {
			EXPECT_DECODE_N(w.b, w.n, RP_MQTT_V311, RP_E_TOPIC_FILTER);
		}
		/* SUBSCRIBE 5 */
		body.n = 0;
		tu_put_u16(&body, 1);
		tu_put_u8(&body, 0x00);
		tu_put_str(&body, bad[i]);
		tu_put_u8(&body, 0x00);
		tu_frame(&w, 0x82, &body);
		EXPECT_DECODE_N(w.b, w.n, RP_MQTT_V5, RP_E_TOPIC_FILTER);
		/* UNSUBSCRIBE 5 */
		body.n = 0;
		tu_put_u16(&body, 1);
		tu_put_u8(&body, 0x00);
		tu_put_str(&body, bad[i]);
		tu_frame(&u, 0xA2, &body);
		EXPECT_DECODE_N(u.b, u.n, RP_MQTT_V5, RP_E_TOPIC_FILTER);
	}
	assert_int_equal(rp_mqtt_reason_for(RP_E_TOPIC_FILTER), RP_MQTT_RC_TOPIC_FILTER_INVALID);
}

/* [MQTT-4.7.3-1]: a filter is at least one character long. */
static void test_subscribe_empty_filter(void **state)
{
	static const uint8_t v311[] = {0x82, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00};
	static const uint8_t v5[] = {0x82, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00};
	static const uint8_t unsub[] = {0xA2, 0x04, 0x00, 0x01, 0x00, 0x00};

	(void)state;
	EXPECT_DECODE(v311, RP_MQTT_V311, RP_E_TOPIC_FILTER);
	EXPECT_DECODE(v5, RP_MQTT_V5, RP_E_TOPIC_FILTER);
	EXPECT_DECODE(unsub, RP_MQTT_V311, RP_E_TOPIC_FILTER);
}

static void test_subscribe_filter_utf8(void **state)
{
	static const uint8_t bad[] = {0x82, 0x07, 0x00, 0x01, 0x00, 0x02, 0xC0, 0x80, 0x00};
	static const uint8_t nul[] = {0x82, 0x07, 0x00, 0x01, 0x00, 0x02, '#', 0x00, 0x00};

	(void)state;
	EXPECT_DECODE(bad, RP_MQTT_V311, RP_E_UTF8);
	/* "#\0": U+0000 is refused whatever the wildcard rules say. */
	{
		size_t consumed;
		rp_status st = tu_decode_heap(nul, sizeof(nul), RP_MQTT_V311, NULL, &consumed);

		assert_true(st == RP_E_UTF8 || st == RP_E_TOPIC_FILTER);
	}
}

static void test_subscribe_truncated(void **state)
{
	static const uint8_t no_options[] = {0x82, 0x05, 0x00, 0x01, 0x00, 0x01, 't'};
	static const uint8_t filter_long[] = {0x82, 0x05, 0x00, 0x05, 0x00, 0x05, 't'};
	static const uint8_t half_len[] = {0x82, 0x03, 0x00, 0x01, 0x00};
	static const uint8_t no_id[] = {0x82, 0x01, 0x00};
	static const uint8_t v5_props_long[] = {0x82, 0x07, 0x00, 0x01, 0x09,
						0x00, 0x01, 't',  0x00};

	(void)state;
	EXPECT_DECODE(no_options, RP_MQTT_V311, RP_E_MALFORMED);
	EXPECT_DECODE(filter_long, RP_MQTT_V311, RP_E_MALFORMED);
	EXPECT_DECODE(half_len, RP_MQTT_V311, RP_E_MALFORMED);
	EXPECT_DECODE(no_id, RP_MQTT_V311, RP_E_MALFORMED);
	EXPECT_DECODE(v5_props_long, RP_MQTT_V5, RP_E_MALFORMED);
}

/* 3.8.2.1.2: one subscription identifier, 1..268435455. */
static void test_subscribe_sub_id_rules(void **state)
{
	static const uint8_t zero[] = {
		0x82, 0x09, 0x00, 0x01, 0x02, 0x0B, 0x00, 0x00, 0x01, 't', 0x00,
	};
	static const uint8_t twice[] = {
		0x82, 0x0B, 0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x00, 0x01, 't', 0x00,
	};
	static const uint8_t max[] = {
		0x82, 0x0C, 0x00, 0x01, 0x05, 0x0B, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x01, 't', 0x00,
	};
	static const uint8_t not_minimal[] = {
		0x82, 0x0A, 0x00, 0x01, 0x03, 0x0B, 0x81, 0x00, 0x00, 0x01, 't', 0x00,
	};
	static const uint8_t in_unsubscribe[] = {
		0xA2, 0x08, 0x00, 0x01, 0x02, 0x0B, 0x01, 0x00, 0x01, 't',
	};
	static const uint8_t reason_string[] = {
		0x82, 0x0B, 0x00, 0x01, 0x04, 0x1F, 0x00, 0x01, 'r', 0x00, 0x01, 't', 0x00,
	};
	rp_mqtt_packet pkt;
	uint32_t cursor = 0, id = 0;

	(void)state;
	EXPECT_DECODE(zero, RP_MQTT_V5, RP_E_PROPERTY_VALUE);
	EXPECT_DECODE(twice, RP_MQTT_V5, RP_E_PROPERTY_DUP);
	VALID(max, RP_MQTT_V5);
	DECODE_OK(max, RP_MQTT_V5, &pkt);
	assert_true(rp_mqtt_props_next(&pkt.u.subscribe.props, RP_MQTT_PROP_SUBSCRIPTION_ID,
				       &cursor, NULL, NULL, &id));
	assert_int_equal(id, 268435455);
	EXPECT_DECODE(not_minimal, RP_MQTT_V5, RP_E_REMAINING_LENGTH);
	EXPECT_DECODE(in_unsubscribe, RP_MQTT_V5, RP_E_PROPERTY);
	EXPECT_DECODE(reason_string, RP_MQTT_V5, RP_E_PROPERTY);
}

static void test_subscribe_limits(void **state)
{
	static const uint8_t two_entries[] = {
		0x82, 0x0A, 0x00, 0x01, 0x00, 0x01, 'a', 0x00, 0x00, 0x01, 'b', 0x01,
	};
	static const uint8_t three_entries[] = {
		0x82, 0x0E, 0x00, 0x01, 0x00, 0x01, 'a', 0x00,
		0x00, 0x01, 'b',  0x01, 0x00, 0x01, 'c', 0x02,
	};
	static const uint8_t unsub3[] = {
		0xA2, 0x0B, 0x00, 0x01, 0x00, 0x01, 'a', 0x00, 0x01, 'b', 0x00, 0x01, 'c',
	};
	static const uint8_t long_filter[] = {
		0x82, 0x0C, 0x00, 0x01, 0x00, 0x07, 'a', 'b', 'c', 'd', 'e', '/', '#', 0x00,
	};
	static const uint8_t deep_filter[] = {
		0x82, 0x0C, 0x00, 0x01, 0x00, 0x07, '+', '/', '+', '/', '+', '/', '#', 0x00,
	};
	rp_mqtt_limits lim = tu_limits();

	(void)state;
	lim.max_sub_entries = 2;
	VALID_LIM(two_entries, RP_MQTT_V311, &lim);
	EXPECT_DECODE_LIM(three_entries, RP_MQTT_V311, &lim, RP_E_LIMIT);
	EXPECT_DECODE_LIM(unsub3, RP_MQTT_V311, &lim, RP_E_LIMIT);
	lim.max_sub_entries = 3;
	VALID_LIM(three_entries, RP_MQTT_V311, &lim);
	VALID_LIM(unsub3, RP_MQTT_V311, &lim);

	lim = tu_limits();
	lim.max_topic_len = 6;
	EXPECT_DECODE_LIM(long_filter, RP_MQTT_V311, &lim, RP_E_LIMIT);
	lim.max_topic_len = 7;
	VALID_LIM(long_filter, RP_MQTT_V311, &lim);

	lim = tu_limits();
	lim.max_topic_levels = 3;
	EXPECT_DECODE_LIM(deep_filter, RP_MQTT_V311, &lim, RP_E_LIMIT);
	lim.max_topic_levels = 4;
	VALID_LIM(deep_filter, RP_MQTT_V311, &lim);
}

/* ---- UNSUBSCRIBE ------------------------------------------------------- */

static const uint8_t unsub311[] = {
	0xA2, 0x0A,                /* UNSUBSCRIBE (flags 0010), remaining 10 */
	0x00, 0x02,                /* packet id 2 */
	0x00, 0x03, 'a', '/', 'b', /* "a/b" */
	0x00, 0x01, '#',           /* "#" */
};

static const uint8_t unsub5[] = {
	0xA2, 0x1D,                             /* UNSUBSCRIBE, remaining 29 */
	0x00, 0x03,                             /* packet id 3 */
	0x07,                                   /* property length 7 */
	0x26, 0x00, 0x01, 'r', 0x00, 0x01, '1', /* user property r=1 */
	0x00, 0x0A, '$',  's', 'h',  'a',  'r', 'e', '/', 'g', '/', 't', /* "$share/g/t" */
	0x00, 0x05, 'x',  '/', '+',  '/',  'z',                          /* "x/+/z" */
};

static void test_unsubscribe(void **state)
{
	rp_mqtt_packet pkt;
	const rp_mqtt_subscribe *s = &pkt.u.subscribe;
	rp_mqtt_sub_entry e;
	uint32_t cursor = 0;

	(void)state;
	VALID(unsub311, RP_MQTT_V311);
	VALID(unsub5, RP_MQTT_V5);
	DECODE_OK(unsub311, RP_MQTT_V311, &pkt);
	assert_int_equal(pkt.type, RP_MQTT_UNSUBSCRIBE);
	assert_int_equal(s->packet_id, 2);
	assert_int_equal(s->count, 2);
	assert_true(rp_mqtt_sub_next(s, 0, &cursor, &e));
	assert_str(e.filter, "a/b");
	assert_true(rp_mqtt_sub_next(s, 0, &cursor, &e));
	assert_str(e.filter, "#");
	assert_false(rp_mqtt_sub_next(s, 0, &cursor, &e));

	DECODE_OK(unsub5, RP_MQTT_V5, &pkt);
	assert_int_equal(s->packet_id, 3);
	assert_int_equal(s->count, 2);
	assert_int_equal(s->props.user_prop_count, 1);
	cursor = 0;
	assert_true(rp_mqtt_sub_next(s, 0, &cursor, &e));
	assert_str(e.filter, "$share/g/t");
	assert_true(rp_mqtt_sub_next(s, 0, &cursor, &e));
	assert_str(e.filter, "x/+/z");
	assert_false(rp_mqtt_sub_next(s, 0, &cursor, &e));
}

static void test_unsubscribe_malformed(void **state)
{
	static const uint8_t empty311[] = {0xA2, 0x02, 0x00, 0x01};
	static const uint8_t empty5[] = {0xA2, 0x03, 0x00, 0x01, 0x00};
	static const uint8_t id0[] = {0xA2, 0x05, 0x00, 0x00, 0x00, 0x01, 't'};
	static const uint8_t flags0[] = {0xA0, 0x05, 0x00, 0x01, 0x00, 0x01, 't'};
	static const uint8_t cut[] = {0xA2, 0x05, 0x00, 0x01, 0x00, 0x02, 't'};
	static const uint8_t bad_utf8[] = {0xA2, 0x05, 0x00, 0x01, 0x00, 0x01, 0xFF};
	static const uint8_t reason_string[] = {
		0xA2, 0x0A, 0x00, 0x01, 0x04, 0x1F, 0x00, 0x01, 'r', 0x00, 0x01, 't',
	};

	(void)state;
	EXPECT_DECODE(empty311, RP_MQTT_V311, RP_E_EMPTY); /* [MQTT-3.10.3-2] */
	EXPECT_DECODE(empty5, RP_MQTT_V5, RP_E_EMPTY);
	EXPECT_DECODE(id0, RP_MQTT_V311, RP_E_PACKET_ID);
	EXPECT_DECODE(flags0, RP_MQTT_V311, RP_E_RESERVED_FLAGS);
	EXPECT_DECODE(cut, RP_MQTT_V311, RP_E_MALFORMED);
	EXPECT_DECODE(bad_utf8, RP_MQTT_V311, RP_E_UTF8);
	EXPECT_DECODE(reason_string, RP_MQTT_V5, RP_E_PROPERTY);
}

/* ---- SUBACK and UNSUBACK ----------------------------------------------- */

static const uint8_t suback311[] = {
	0x90, 0x06,             /* SUBACK, remaining 6 */
	0x00, 0x0A,             /* packet id 10 */
	0x00, 0x01, 0x02, 0x80, /* granted 0, 1, 2, failure */
};

static const uint8_t suback5[] = {
	0x90, 0x13,                         /* SUBACK, remaining 19 */
	0x00, 0x01,                         /* packet id 1 */
	0x04, 0x1F, 0x00, 0x01, 'r',        /* reason string "r" */
	0x00, 0x01, 0x02, 0x80, 0x83, 0x87, /* every SUBACK reason code */
	0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
};

static const uint8_t unsuback311[] = {
	0xB0, 0x02, /* UNSUBACK, remaining 2 */
	0x00, 0x02, /* packet id 2 */
};

static const uint8_t unsuback5[] = {
	0xB0, 0x0A,                               /* UNSUBACK, remaining 10 */
	0x00, 0x03,                               /* packet id 3 */
	0x00,                                     /* no properties */
	0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91, /* every UNSUBACK reason code */
};

static void test_suback(void **state)
{
	rp_mqtt_packet pkt;
	const rp_mqtt_suback *s = &pkt.u.suback;

	(void)state;
	VALID(suback311, RP_MQTT_V311);
	VALID(suback5, RP_MQTT_V5);
	DECODE_OK(suback311, RP_MQTT_V311, &pkt);
	assert_int_equal(pkt.type, RP_MQTT_SUBACK);
	assert_int_equal(s->packet_id, 10);
	assert_int_equal(s->count, 4);
	assert_ptr_equal(s->reason_codes, suback311 + 4);
	assert_memory_equal(s->reason_codes, suback311 + 4, 4);

	DECODE_OK(suback5, RP_MQTT_V5, &pkt);
	assert_int_equal(s->packet_id, 1);
	assert_str(s->props.reason_string, "r");
	assert_int_equal(s->count, 12);
	assert_int_equal(s->reason_codes[0], 0x00);
	assert_int_equal(s->reason_codes[11], 0xA2);
}

static void test_unsuback(void **state)
{
	rp_mqtt_packet pkt;
	const rp_mqtt_suback *s = &pkt.u.suback;

	(void)state;
	VALID(unsuback311, RP_MQTT_V311);
	VALID(unsuback5, RP_MQTT_V5);
	DECODE_OK(unsuback311, RP_MQTT_V311, &pkt);
	assert_int_equal(pkt.type, RP_MQTT_UNSUBACK);
	assert_int_equal(s->packet_id, 2);
	assert_int_equal(s->count, 0);
	DECODE_OK(unsuback5, RP_MQTT_V5, &pkt);
	assert_int_equal(s->packet_id, 3);
	assert_int_equal(s->count, 7);
	assert_int_equal(s->reason_codes[1], RP_MQTT_RC_NO_SUBSCRIPTION_EXISTED);
}

static void test_suback_malformed(void **state)
{
	static const uint8_t empty311[] = {0x90, 0x02, 0x00, 0x01};
	static const uint8_t empty5[] = {0x90, 0x03, 0x00, 0x01, 0x00};
	static const uint8_t id0[] = {0x90, 0x03, 0x00, 0x00, 0x00};
	static const uint8_t flags[] = {0x92, 0x03, 0x00, 0x01, 0x00};
	static const uint8_t unsuback_empty5[] = {0xB0, 0x03, 0x00, 0x01, 0x00};
	static const uint8_t unsuback_id0[] = {0xB0, 0x02, 0x00, 0x00};
	static const uint8_t unsuback311_codes[] = {0xB0, 0x03, 0x00, 0x01, 0x00};
	static const uint8_t unsuback_flags[] = {0xB1, 0x02, 0x00, 0x01};
	static const uint8_t short_id[] = {0x90, 0x01, 0x00};
	static const uint8_t sub_id_prop[] = {0x90, 0x06, 0x00, 0x01, 0x02, 0x0B, 0x01, 0x00};
	static const uint8_t props_long[] = {0x90, 0x04, 0x00, 0x01, 0x03, 0x00};

	(void)state;
	EXPECT_DECODE(empty311, RP_MQTT_V311, RP_E_EMPTY);
	EXPECT_DECODE(empty5, RP_MQTT_V5, RP_E_EMPTY);
	EXPECT_DECODE(id0, RP_MQTT_V311, RP_E_PACKET_ID);
	EXPECT_DECODE(flags, RP_MQTT_V311, RP_E_RESERVED_FLAGS);
	EXPECT_DECODE(unsuback_empty5, RP_MQTT_V5, RP_E_EMPTY);
	EXPECT_DECODE(unsuback_id0, RP_MQTT_V311, RP_E_PACKET_ID);
	EXPECT_DECODE(unsuback311_codes, RP_MQTT_V311, RP_E_TRAILING);
	EXPECT_DECODE(unsuback_flags, RP_MQTT_V5, RP_E_RESERVED_FLAGS);
	EXPECT_DECODE(short_id, RP_MQTT_V311, RP_E_MALFORMED);
	EXPECT_DECODE(sub_id_prop, RP_MQTT_V5, RP_E_PROPERTY);
	EXPECT_DECODE(props_long, RP_MQTT_V5, RP_E_MALFORMED);
}

/* 3.9.3 (3.1.1: 0, 1, 2, 0x80) and 3.9.3 / 3.11.3 (5.0) reason codes. */
static void test_suback_reason_codes(void **state)
{
	static const uint8_t sub5_ok[] = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87,
					  0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
	static const uint8_t unsub5_ok[] = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
	unsigned rc;

	(void)state;
	for (rc = 0; rc < 256; rc++) {
		/* SUBACK 3.1.1: id 1, codes 0x00 and rc */
		uint8_t s311[] = {0x90, 0x04, 0x00, 0x01, 0x00, (uint8_t)rc};
		/* SUBACK 5: id 1, no properties, code rc */
		uint8_t s5[] = {0x90, 0x04, 0x00, 0x01, 0x00, (uint8_t)rc};
		/* UNSUBACK 5: id 1, no properties, codes 0x00 and rc */
		uint8_t u5[] = {0xB0, 0x05, 0x00, 0x01, 0x00, 0x00, (uint8_t)rc};
		int ok311 = rc <= 2 || rc == 0x80;
		int ok_s5 = memchr(sub5_ok, (int)rc, sizeof(sub5_ok)) != NULL;
		int ok_u5 = memchr(unsub5_ok, (int)rc, sizeof(unsub5_ok)) != NULL;

		EXPECT_DECODE(s311, RP_MQTT_V311, ok311 ? RP_OK : RP_E_REASON_CODE);
		EXPECT_DECODE(s5, RP_MQTT_V5, ok_s5 ? RP_OK : RP_E_REASON_CODE);
		EXPECT_DECODE(u5, RP_MQTT_V5, ok_u5 ? RP_OK : RP_E_REASON_CODE);
	}
}

static void test_suback_limits(void **state)
{
	static const uint8_t three[] = {0x90, 0x05, 0x00, 0x01, 0x00, 0x01, 0x02};
	static const uint8_t unsuback_three[] = {0xB0, 0x06, 0x00, 0x01, 0x00, 0x00, 0x11, 0x80};
	rp_mqtt_limits lim = tu_limits();

	(void)state;
	lim.max_sub_entries = 3;
	VALID_LIM(three, RP_MQTT_V311, &lim);
	VALID_LIM(unsuback_three, RP_MQTT_V5, &lim);
	lim.max_sub_entries = 2;
	EXPECT_DECODE_LIM(three, RP_MQTT_V311, &lim, RP_E_LIMIT);
	EXPECT_DECODE_LIM(unsuback_three, RP_MQTT_V5, &lim, RP_E_LIMIT);
}

/* ---- encode ------------------------------------------------------------ */

static void test_subscribe_roundtrip(void **state)
{
	static const rp_mqtt_sub_entry e311[] = {
		{{(const uint8_t *)"dev/+/telemetry", 15}, 1, 0, 0, 0},
		{{(const uint8_t *)"#", 1}, 2, 0, 0, 0},
	};
	static const rp_mqtt_sub_entry e5[] = {
		{{(const uint8_t *)"a/b", 3}, 0, 1, 1, 2},
		{{(const uint8_t *)"$share/workers/jobs/#", 21}, 2, 0, 1, 1},
		{{(const uint8_t *)"+", 1}, 1, 0, 0, 0},
	};
	static const uint32_t sid[] = {42};
	rp_mqtt_packet pkt, got;
	rp_mqtt_sub_entry e;
	uint8_t out[256];
	uint32_t cursor = 0;
	size_t i;

	(void)state;
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = RP_MQTT_SUBSCRIBE;
	pkt.u.subscribe.packet_id = 9;
	pkt.u.subscribe.entries = e311;
	pkt.u.subscribe.count = 2;
	ROUNDTRIP(&pkt, RP_MQTT_V311, out, &got);
	assert_int_equal(out[0], 0x82);
	assert_int_equal(got.u.subscribe.packet_id, 9);
	assert_int_equal(got.u.subscribe.count, 2);
	for (i = 0; i < 2; i++) {
		assert_true(rp_mqtt_sub_next(&got.u.subscribe, 1, &cursor, &e));
		assert_view_eq(e.filter, e311[i].filter);
		assert_int_equal(e.qos, e311[i].qos);
	}

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = RP_MQTT_SUBSCRIBE;
	pkt.u.subscribe.packet_id = 65535;
	pkt.u.subscribe.entries = e5;
	pkt.u.subscribe.count = 3;
	pkt.u.subscribe.props.sub_ids = sid;
	pkt.u.subscribe.props.sub_id_count = 1;
	ROUNDTRIP(&pkt, RP_MQTT_V5, out, &got);
	tu_assert_props_eq(&pkt.u.subscribe.props, &got.u.subscribe.props);
	cursor = 0;
	for (i = 0; i < 3; i++) {
		assert_true(rp_mqtt_sub_next(&got.u.subscribe, 1, &cursor, &e));
		assert_view_eq(e.filter, e5[i].filter);
		assert_int_equal(e.qos, e5[i].qos);
		assert_int_equal(e.no_local, e5[i].no_local);
		assert_int_equal(e.retain_as_published, e5[i].retain_as_published);
		assert_int_equal(e.retain_handling, e5[i].retain_handling);
	}
	assert_false(rp_mqtt_sub_next(&got.u.subscribe, 1, &cursor, &e));

	/* UNSUBSCRIBE: options are not written. */
	pkt.type = RP_MQTT_UNSUBSCRIBE;
	memset(&pkt.u.subscribe.props, 0, sizeof(pkt.u.subscribe.props));
	ROUNDTRIP(&pkt, RP_MQTT_V5, out, &got);
	assert_int_equal(out[0], 0xA2);
	assert_int_equal(got.u.subscribe.count, 3);
	cursor = 0;
	for (i = 0; i < 3; i++) {
		assert_true(rp_mqtt_sub_next(&got.u.subscribe, 0, &cursor, &e));
		assert_view_eq(e.filter, e5[i].filter);
	}
	ROUNDTRIP(&pkt, RP_MQTT_V311, out, &got);
}

static void test_subscribe_encoder_refuses(void **state)
{
	rp_mqtt_sub_entry e = {{(const uint8_t *)"t", 1}, 0, 0, 0, 0};
	rp_mqtt_packet pkt;
	rp_mqtt_limits lim = tu_limits();
	static const uint32_t two_ids[] = {1, 2};
	static const rp_mqtt_sub_entry three[] = {
		{{(const uint8_t *)"a", 1}, 0, 0, 0, 0},
		{{(const uint8_t *)"b", 1}, 0, 0, 0, 0},
		{{(const uint8_t *)"c", 1}, 0, 0, 0, 0},
	};

	(void)state;
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = RP_MQTT_SUBSCRIBE;
	pkt.u.subscribe.packet_id = 1;
	pkt.u.subscribe.entries = &e;
	pkt.u.subscribe.count = 1;
	EXPECT_ENCODE(&pkt, RP_MQTT_V311, RP_OK);

	pkt.u.subscribe.count = 0;
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_EMPTY);
	pkt.u.subscribe.count = 1;
	pkt.u.subscribe.packet_id = 0;
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_PACKET_ID);
	pkt.u.subscribe.packet_id = 1;

	e.qos = 3;
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_QOS);
	e.qos = 0;
	e.retain_handling = 3;
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_PROTOCOL);
	e.retain_handling = 0;
	e.no_local = 1;
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_OK);
	EXPECT_ENCODE(&pkt, RP_MQTT_V311, RP_E_RESERVED_FLAGS); /* no options in 3.1.1 */
	e.filter = TU_STR("$share/g/t");
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_PROTOCOL);
	e.no_local = 0;
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_OK);
	e.filter = TU_STR("a/#/b");
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_TOPIC_FILTER);
	e.filter = TU_STR("$share/g");
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_TOPIC_FILTER);
	e.filter = TU_STR("t");

	pkt.u.subscribe.props.sub_ids = two_ids;
	pkt.u.subscribe.props.sub_id_count = 2;
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_PROPERTY_DUP);
	pkt.u.subscribe.props.sub_id_count = 1;
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_OK);
	EXPECT_ENCODE(&pkt, RP_MQTT_V311, RP_E_PROPERTY);
	pkt.type = RP_MQTT_UNSUBSCRIBE;
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_PROPERTY); /* no sub id in UNSUBSCRIBE */
	pkt.type = RP_MQTT_SUBSCRIBE;
	memset(&pkt.u.subscribe.props, 0, sizeof(pkt.u.subscribe.props));

	pkt.u.subscribe.entries = three;
	pkt.u.subscribe.count = 3;
	lim.max_sub_entries = 2;
	EXPECT_ENCODE_LIM(&pkt, RP_MQTT_V5, &lim, RP_E_LIMIT);
	lim.max_sub_entries = 3;
	EXPECT_ENCODE_LIM(&pkt, RP_MQTT_V5, &lim, RP_OK);
}

static void test_suback_roundtrip(void **state)
{
	static const uint8_t codes311[] = {0x00, 0x01, 0x02, 0x80};
	static const uint8_t codes5[] = {0x00, 0x9E, 0xA1, 0xA2};
	static const uint8_t ucodes5[] = {0x11, 0x00};
	static const uint8_t bad5[] = {0x00, 0x03};
	rp_mqtt_packet pkt, got;
	uint8_t out[64];

	(void)state;
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = RP_MQTT_SUBACK;
	pkt.u.suback.packet_id = 5;
	pkt.u.suback.reason_codes = codes311;
	pkt.u.suback.count = 4;
	ROUNDTRIP(&pkt, RP_MQTT_V311, out, &got);
	assert_int_equal(got.u.suback.count, 4);
	assert_memory_equal(got.u.suback.reason_codes, codes311, 4);
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_OK);

	pkt.u.suback.reason_codes = codes5;
	pkt.u.suback.props.present = RP_MQTT_HAS(RP_MQTT_PROP_REASON_STRING);
	pkt.u.suback.props.reason_string = TU_STR("no shared");
	ROUNDTRIP(&pkt, RP_MQTT_V5, out, &got);
	assert_memory_equal(got.u.suback.reason_codes, codes5, 4);
	tu_assert_props_eq(&pkt.u.suback.props, &got.u.suback.props);
	EXPECT_ENCODE(&pkt, RP_MQTT_V311, RP_E_PROPERTY);
	memset(&pkt.u.suback.props, 0, sizeof(pkt.u.suback.props));
	EXPECT_ENCODE(&pkt, RP_MQTT_V311, RP_E_REASON_CODE); /* 0x9E is not 3.1.1 */

	pkt.u.suback.reason_codes = bad5;
	pkt.u.suback.count = 2;
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_REASON_CODE);
	pkt.u.suback.count = 0;
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_EMPTY);
	pkt.u.suback.count = 1;
	pkt.u.suback.packet_id = 0;
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_PACKET_ID);

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = RP_MQTT_UNSUBACK;
	pkt.u.suback.packet_id = 6;
	ROUNDTRIP(&pkt, RP_MQTT_V311, out, &got);
	assert_int_equal(got.u.suback.count, 0);
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_EMPTY);
	pkt.u.suback.reason_codes = ucodes5;
	pkt.u.suback.count = 2;
	ROUNDTRIP(&pkt, RP_MQTT_V5, out, &got);
	assert_int_equal(got.u.suback.count, 2);
	assert_memory_equal(got.u.suback.reason_codes, ucodes5, 2);
	/* A 3.1.1 UNSUBACK has no reason codes to carry. */
	EXPECT_ENCODE(&pkt, RP_MQTT_V311, RP_E_REASON_CODE);
	pkt.u.suback.reason_codes = codes311;
	pkt.u.suback.count = 2; /* 0x01 is a SUBACK code, not an UNSUBACK one */
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_REASON_CODE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_subscribe311),
		cmocka_unit_test(test_subscribe5),
		cmocka_unit_test(test_subscribe_empty),
		cmocka_unit_test(test_subscribe_packet_id_zero),
		cmocka_unit_test(test_subscribe_fixed_flags),
		cmocka_unit_test(test_subscribe311_reserved_option_bits),
		cmocka_unit_test(test_subscribe5_reserved_option_bits),
		cmocka_unit_test(test_subscribe_qos3),
		cmocka_unit_test(test_subscribe5_retain_handling_3),
		cmocka_unit_test(test_subscribe5_no_local_shared),
		cmocka_unit_test(test_subscribe_bad_filters),
		cmocka_unit_test(test_subscribe_empty_filter),
		cmocka_unit_test(test_subscribe_filter_utf8),
		cmocka_unit_test(test_subscribe_truncated),
		cmocka_unit_test(test_subscribe_sub_id_rules),
		cmocka_unit_test(test_subscribe_limits),
		cmocka_unit_test(test_unsubscribe),
		cmocka_unit_test(test_unsubscribe_malformed),
		cmocka_unit_test(test_suback),
		cmocka_unit_test(test_unsuback),
		cmocka_unit_test(test_suback_malformed),
		cmocka_unit_test(test_suback_reason_codes),
		cmocka_unit_test(test_suback_limits),
		cmocka_unit_test(test_subscribe_roundtrip),
		cmocka_unit_test(test_subscribe_encoder_refuses),
		cmocka_unit_test(test_suback_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
