/*
 * test_mqtt_publish.c - PUBLISH, MQTT 3.1.1 and 5.0 (section 3.3).
 */
#include "mqtt_test_util.h"

/* ---- valid packets ----------------------------------------------------- */

static const uint8_t pub311_qos0[] = {
	0x30, 0x09,                /* PUBLISH QoS 0, remaining 9 */
	0x00, 0x03, 'a', '/', 'b', /* topic "a/b" */
	'2',  '1',  '.', '5',      /* payload "21.5" */
};

static const uint8_t pub311_qos1_retain[] = {
	0x33, 0x09,                /* PUBLISH QoS 1 retain, remaining 9 */
	0x00, 0x03, 'a', '/', 'b', /* topic "a/b" */
	0x00, 0x0A,                /* packet id 10 */
	'o',  'n',                 /* payload "on" */
};

static const uint8_t pub311_qos2_dup[] = {
	0x3C, 0x08,       /* PUBLISH DUP QoS 2, remaining 8 */
	0x00, 0x01, 'x',  /* topic "x" */
	0xFF, 0xFF,       /* packet id 65535 */
	0x00, 0xFF, 0x01, /* binary payload */
};

static const uint8_t pub311_empty_payload[] = {
	0x30, 0x03,      /* PUBLISH QoS 0, remaining 3 */
	0x00, 0x01, 't', /* topic "t"; no payload */
};

static const uint8_t pub311_dollar_utf8[] = {
	0x31, 0x0A, /* PUBLISH QoS 0 retain, remaining 10 */
	0x00, 0x08, '$', 'S', 'Y', 'S', '/', 'c', 0xC3, 0xA9, /* "$SYS/cé" */
};

static const uint8_t pub5_min[] = {
	0x30, 0x05,      /* PUBLISH QoS 0, remaining 5 */
	0x00, 0x01, 't', /* topic "t" */
	0x00,            /* property length 0 */
	'x',             /* payload "x" */
};

static const uint8_t pub5_full[] = {
	0x33, 0x4B,                   /* PUBLISH QoS 1 retain, remaining 75 */
	0x00, 0x03, 'a',  '/',  'b',  /* topic "a/b" */
	0x12, 0x34,                   /* packet id 0x1234 */
	0x3D,                         /* property length 61 */
	0x01, 0x01,                   /* payload format indicator 1 */
	0x02, 0x00, 0x00, 0x00, 0x3C, /* message expiry 60 */
	0x03, 0x00, 0x0A, 't',  'e',  'x',  't', '/', 'p', 'l', 'a', 'i', 'n', /* content type */
	0x08, 0x00, 0x07, 'r',  'e',  'p',  'l', 'y', '/', '1', /* response topic "reply/1" */
	0x09, 0x00, 0x04, 'i',  'd',  '4',  '2',                /* correlation data "id42" */
	0x0B, 0x01,                                             /* subscription identifier 1 */
	0x0B, 0xFF, 0xFF, 0xFF, 0x7F,            /* subscription identifier 268435455 */
	0x23, 0x00, 0x05,                        /* topic alias 5 */
	0x26, 0x00, 0x01, 'a',  0x00, 0x01, '1', /* user property a=1 */
	0x26, 0x00, 0x01, 'a',  0x00, 0x01, '2', /* user property a=2 */
	'h',  0xC3, 0xA9, 'l',  'l',  'o',       /* payload "héllo" (UTF-8) */
};

/* MQTT 5: a zero-length topic with a topic alias (3.3.2.1). */
static const uint8_t pub5_alias_only[] = {
	0x30, 0x07,             /* PUBLISH QoS 0, remaining 7 */
	0x00, 0x00,             /* topic "" */
	0x03, 0x23, 0x00, 0x07, /* topic alias 7 */
	'x',                    /* payload */
};

static void test_publish311(void **state)
{
	rp_mqtt_packet pkt;
	const rp_mqtt_publish *p = &pkt.u.publish;

	(void)state;
	VALID(pub311_qos0, RP_MQTT_V311);
	VALID(pub311_qos1_retain, RP_MQTT_V311);
	VALID(pub311_qos2_dup, RP_MQTT_V311);
	VALID(pub311_empty_payload, RP_MQTT_V311);
	VALID(pub311_dollar_utf8, RP_MQTT_V311);

	DECODE_OK(pub311_qos0, RP_MQTT_V311, &pkt);
	assert_int_equal(pkt.type, RP_MQTT_PUBLISH);
	assert_int_equal(p->dup, 0);
	assert_int_equal(p->qos, 0);
	assert_int_equal(p->retain, 0);
	assert_int_equal(p->packet_id, 0);
	assert_str(p->topic, "a/b");
	assert_ptr_equal(p->topic.p, pub311_qos0 + 4);
	assert_str(p->payload, "21.5");
	assert_ptr_equal(p->payload.p, pub311_qos0 + 7);
	assert_int_equal(p->props.present, 0);

	DECODE_OK(pub311_qos1_retain, RP_MQTT_V311, &pkt);
	assert_int_equal(p->qos, 1);
	assert_int_equal(p->retain, 1);
	assert_int_equal(p->dup, 0);
	assert_int_equal(p->packet_id, 10);
	assert_str(p->payload, "on");

	DECODE_OK(pub311_qos2_dup, RP_MQTT_V311, &pkt);
	assert_int_equal(p->qos, 2);
	assert_int_equal(p->dup, 1);
	assert_int_equal(p->retain, 0);
	assert_int_equal(p->packet_id, 0xFFFF);
	assert_int_equal(p->payload.len, 3);
	assert_int_equal(p->payload.p[1], 0xFF);

	DECODE_OK(pub311_empty_payload, RP_MQTT_V311, &pkt);
	assert_int_equal(p->payload.len, 0);

	DECODE_OK(pub311_dollar_utf8, RP_MQTT_V311, &pkt);
	assert_str(p->topic, "$SYS/c\xc3\xa9");
	assert_int_equal(p->payload.len, 0);
}

static void test_publish5(void **state)
{
	rp_mqtt_packet pkt;
	const rp_mqtt_publish *p = &pkt.u.publish;
	rp_mqtt_str name, value;
	uint32_t cursor = 0, id = 0;

	(void)state;
	VALID(pub5_min, RP_MQTT_V5);
	VALID(pub5_full, RP_MQTT_V5);
	VALID(pub5_alias_only, RP_MQTT_V5);

	DECODE_OK(pub5_min, RP_MQTT_V5, &pkt);
	assert_str(p->topic, "t");
	assert_str(p->payload, "x");
	assert_int_equal(p->props.present, 0);

	DECODE_OK(pub5_full, RP_MQTT_V5, &pkt);
	assert_int_equal(p->qos, 1);
	assert_int_equal(p->retain, 1);
	assert_int_equal(p->packet_id, 0x1234);
	assert_str(p->topic, "a/b");
	assert_int_equal(p->props.present, RP_MQTT_HAS(RP_MQTT_PROP_PAYLOAD_FORMAT) |
						   RP_MQTT_HAS(RP_MQTT_PROP_MESSAGE_EXPIRY) |
						   RP_MQTT_HAS(RP_MQTT_PROP_CONTENT_TYPE) |
						   RP_MQTT_HAS(RP_MQTT_PROP_RESPONSE_TOPIC) |
						   RP_MQTT_HAS(RP_MQTT_PROP_CORRELATION_DATA) |
						   RP_MQTT_HAS(RP_MQTT_PROP_TOPIC_ALIAS));
	assert_int_equal(p->props.payload_format, 1);
	assert_int_equal(p->props.message_expiry, 60);
	assert_str(p->props.content_type, "text/plain");
	assert_str(p->props.response_topic, "reply/1");
	assert_str(p->props.correlation_data, "id42");
	assert_int_equal(p->props.topic_alias, 5);
	assert_int_equal(p->props.raw_len, 61);
	assert_ptr_equal(p->props.raw, pub5_full + 10);
	assert_str(p->payload, "h\xc3\xa9llo");

	/* Repeated subscription identifiers, in wire order (3.3.2.3.8). */
	assert_int_equal(p->props.sub_id_count, 2);
	assert_null(p->props.sub_ids);
	assert_true(rp_mqtt_props_next(&p->props, RP_MQTT_PROP_SUBSCRIPTION_ID, &cursor, NULL, NULL,
				       &id));
	assert_int_equal(id, 1);
	assert_true(rp_mqtt_props_next(&p->props, RP_MQTT_PROP_SUBSCRIPTION_ID, &cursor, NULL, NULL,
				       &id));
	assert_int_equal(id, 268435455);
	assert_false(rp_mqtt_props_next(&p->props, RP_MQTT_PROP_SUBSCRIPTION_ID, &cursor, NULL,
					NULL, &id));

	/* User properties, same name twice, order kept. */
	assert_int_equal(p->props.user_prop_count, 2);
	cursor = 0;
	assert_true(rp_mqtt_props_next(&p->props, RP_MQTT_PROP_USER, &cursor, &name, &value, NULL));
	assert_str(name, "a");
	assert_str(value, "1");
	assert_true(rp_mqtt_props_next(&p->props, RP_MQTT_PROP_USER, &cursor, &name, &value, NULL));
	assert_str(name, "a");
	assert_str(value, "2");
	assert_false(
		rp_mqtt_props_next(&p->props, RP_MQTT_PROP_USER, &cursor, &name, &value, NULL));

	DECODE_OK(pub5_alias_only, RP_MQTT_V5, &pkt);
	assert_int_equal(p->topic.len, 0);
	assert_int_equal(p->props.topic_alias, 7);
	assert_str(p->payload, "x");
}

/* ---- malformed, one test per rule -------------------------------------- */

/* [MQTT-3.3.1-4]: QoS 3 is malformed. */
static void test_publish_qos3(void **state)
{
	static const uint8_t qos3[] = {0x36, 0x05, 0x00, 0x01, 't', 0x00, 0x01};
	static const uint8_t qos3_retain_dup[] = {0x3F, 0x05, 0x00, 0x01, 't', 0x00, 0x01};

	(void)state;
	EXPECT_DECODE(qos3, RP_MQTT_V311, RP_E_QOS);
	EXPECT_DECODE(qos3_retain_dup, RP_MQTT_V5, RP_E_QOS);
}

/* [MQTT-3.3.1-2]: DUP is 0 on every QoS 0 message. */
static void test_publish_dup_qos0(void **state)
{
	static const uint8_t dup0[] = {0x38, 0x03, 0x00, 0x01, 't'};
	static const uint8_t dup0_v5[] = {0x39, 0x04, 0x00, 0x01, 't', 0x00};

	(void)state;
	EXPECT_DECODE(dup0, RP_MQTT_V311, RP_E_QOS);
	EXPECT_DECODE(dup0_v5, RP_MQTT_V5, RP_E_QOS);
}

/* [MQTT-3.3.2-2]: the topic name has no wildcard characters. */
static void test_publish_topic_wildcards(void **state)
{
	static const uint8_t plus[] = {0x30, 0x05, 0x00, 0x03, 'a', '/', '+'};
	static const uint8_t hash[] = {0x30, 0x03, 0x00, 0x01, '#'};
	static const uint8_t inner_plus[] = {0x30, 0x05, 0x00, 0x03, 'a', '+', 'b'};
	static const uint8_t hash_v5[] = {0x30, 0x06, 0x00, 0x03, 'a', '/', '#', 0x00};

	(void)state;
	EXPECT_DECODE(plus, RP_MQTT_V311, RP_E_TOPIC_NAME);
	EXPECT_DECODE(hash, RP_MQTT_V311, RP_E_TOPIC_NAME);
	EXPECT_DECODE(inner_plus, RP_MQTT_V311, RP_E_TOPIC_NAME);
	EXPECT_DECODE(hash_v5, RP_MQTT_V5, RP_E_TOPIC_NAME);
	assert_int_equal(rp_mqtt_reason_for(RP_E_TOPIC_NAME), RP_MQTT_RC_TOPIC_NAME_INVALID);
}

/* [MQTT-4.7.3-1] / 3.3.2.1: an empty topic only with a topic alias (MQTT 5). */
static void test_publish_empty_topic(void **state)
{
	static const uint8_t v311[] = {0x30, 0x02, 0x00, 0x00};
	static const uint8_t v311_payload[] = {0x30, 0x04, 0x00, 0x00, 'h', 'i'};
	static const uint8_t v5_no_alias[] = {0x30, 0x03, 0x00, 0x00, 0x00};
	static const uint8_t v5_other_prop[] = {
		0x30, 0x08, 0x00, 0x00, 0x05,
		0x02, 0x00, 0x00, 0x00, 0x01, /* message expiry, but no topic alias */
	};

	(void)state;
	EXPECT_DECODE(v311, RP_MQTT_V311, RP_E_TOPIC_NAME);
	EXPECT_DECODE(v311_payload, RP_MQTT_V311, RP_E_TOPIC_NAME);
	EXPECT_DECODE(v5_no_alias, RP_MQTT_V5, RP_E_TOPIC_NAME);
	EXPECT_DECODE(v5_other_prop, RP_MQTT_V5, RP_E_TOPIC_NAME);
}

static void test_publish_topic_utf8(void **state)
{
	static const uint8_t bad[] = {0x30, 0x04, 0x00, 0x02, 0xC3, 0x28};
	static const uint8_t nul[] = {0x30, 0x04, 0x00, 0x02, 'a', 0x00};
	static const uint8_t surrogate_v5[] = {0x30, 0x06, 0x00, 0x03, 0xED, 0xB0, 0x80, 0x00};
	static const uint8_t above_max[] = {0x30, 0x06, 0x00, 0x04, 0xF4, 0x90, 0x80, 0x80};

	(void)state;
	EXPECT_DECODE(bad, RP_MQTT_V311, RP_E_UTF8);
	EXPECT_DECODE(nul, RP_MQTT_V311, RP_E_UTF8);
	EXPECT_DECODE(surrogate_v5, RP_MQTT_V5, RP_E_UTF8);
	EXPECT_DECODE(above_max, RP_MQTT_V311, RP_E_UTF8);
	assert_int_equal(rp_mqtt_reason_for(RP_E_UTF8), RP_MQTT_RC_MALFORMED);
}

/* [MQTT-2.2.1-3] (5.0) / [MQTT-2.3.1-1]: QoS > 0 needs a non-zero packet id. */
static void test_publish_packet_id_zero(void **state)
{
	static const uint8_t qos1[] = {0x32, 0x05, 0x00, 0x01, 't', 0x00, 0x00};
	static const uint8_t qos2_v5[] = {0x34, 0x06, 0x00, 0x01, 't', 0x00, 0x00, 0x00};

	(void)state;
	EXPECT_DECODE(qos1, RP_MQTT_V311, RP_E_PACKET_ID);
	EXPECT_DECODE(qos2_v5, RP_MQTT_V5, RP_E_PACKET_ID);
	assert_int_equal(rp_mqtt_reason_for(RP_E_PACKET_ID), RP_MQTT_RC_PROTOCOL_ERROR);
}

static void test_publish_truncated(void **state)
{
	static const uint8_t topic_long[] = {0x30, 0x03, 0x00, 0x05, 't'};
	static const uint8_t topic_len_cut[] = {0x30, 0x01, 0x00};
	static const uint8_t no_packet_id[] = {0x32, 0x03, 0x00, 0x01, 't'};
	static const uint8_t half_packet_id[] = {0x32, 0x04, 0x00, 0x01, 't', 0x00};
	static const uint8_t v5_no_props[] = {0x30, 0x03, 0x00, 0x01, 't'};
	static const uint8_t v5_props_long[] = {0x30, 0x05, 0x00, 0x01, 't', 0x05, 'x'};
	static const uint8_t v5_props_vbi_cut[] = {0x30, 0x04, 0x00, 0x01, 't', 0x80};
	static const uint8_t v5_props_vbi_long[] = {
		0x30, 0x08, 0x00, 0x01, 't', 0x80, 0x80, 0x80, 0x80, 0x01, /* 5-byte VBI */
	};

	(void)state;
	EXPECT_DECODE(topic_long, RP_MQTT_V311, RP_E_MALFORMED);
	EXPECT_DECODE(topic_len_cut, RP_MQTT_V311, RP_E_MALFORMED);
	EXPECT_DECODE(no_packet_id, RP_MQTT_V311, RP_E_MALFORMED);
	EXPECT_DECODE(half_packet_id, RP_MQTT_V311, RP_E_MALFORMED);
	EXPECT_DECODE(v5_no_props, RP_MQTT_V5, RP_E_MALFORMED);
	EXPECT_DECODE(v5_props_long, RP_MQTT_V5, RP_E_MALFORMED);
	EXPECT_DECODE(v5_props_vbi_cut, RP_MQTT_V5, RP_E_MALFORMED);
	EXPECT_DECODE(v5_props_vbi_long, RP_MQTT_V5, RP_E_REMAINING_LENGTH);
}

/* 3.3.2.3.4: topic alias 0 is a Protocol Error. */
static void test_publish_topic_alias_zero(void **state)
{
	static const uint8_t wire[] = {
		0x30, 0x07, 0x00, 0x01, 't', 0x03, 0x23, 0x00, 0x00, /* topic alias 0 */
	};

	(void)state;
	EXPECT_DECODE(wire, RP_MQTT_V5, RP_E_PROPERTY_VALUE);
}

/* 3.3.2.3.2: payload format indicator is 0 or 1. */
static void test_publish_payload_format_value(void **state)
{
	static const uint8_t pfi2[] = {0x30, 0x06, 0x00, 0x01, 't', 0x02, 0x01, 0x02};
	static const uint8_t pfi_ff[] = {0x30, 0x06, 0x00, 0x01, 't', 0x02, 0x01, 0xFF};

	(void)state;
	EXPECT_DECODE(pfi2, RP_MQTT_V5, RP_E_PROPERTY_VALUE);
	EXPECT_DECODE(pfi_ff, RP_MQTT_V5, RP_E_PROPERTY_VALUE);
}

/* [MQTT-3.3.2-4] 3.3.2.3.2: a payload marked UTF-8 must be well-formed UTF-8. */
static void test_publish_payload_format_utf8(void **state)
{
	static const uint8_t bad[] = {
		0x30, 0x08, 0x00, 0x01, 't', 0x02, 0x01, 0x01, /* payload format 1 */
		0xC3, 0x28,                                    /* invalid UTF-8 payload */
	};
	static const uint8_t surrogate[] = {
		0x30, 0x09, 0x00, 0x01, 't', 0x02, 0x01, 0x01, 0xED, 0xA0, 0x80, /* U+D800 */
	};
	static const uint8_t truncated_seq[] = {
		0x30, 0x08, 0x00, 0x01, 't',
		0x02, 0x01, 0x01, 'a',  0xE2, /* sequence cut at the packet's end */
	};
	static const uint8_t good[] = {
		0x30, 0x0D, 0x00, 0x01, 't',  0x02, 0x01, 0x01,
		0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80, /* "€😀" */
	};
	/*
	 * Unicode well-formedness (the rule for payloads) allows U+0000, which
	 * only UTF-8 *strings* forbid (1.5.4): accepted.
	 */
	static const uint8_t nul_ok[] = {
		0x30, 0x07, 0x00, 0x01, 't', 0x02, 0x01, 0x01, 0x00,
	};
	static const uint8_t binary_pfi0[] = {
		0x30, 0x08, 0x00, 0x01, 't', 0x02, 0x01, 0x00, /* payload format 0 */
		0xC3, 0x28,                                    /* not UTF-8: fine */
	};
	static const uint8_t binary_no_pfi[] = {0x30, 0x06, 0x00, 0x01, 't', 0x00, 0xFF, 0xFE};
	static const uint8_t empty_utf8[] = {0x30, 0x06, 0x00, 0x01, 't', 0x02, 0x01, 0x01};

	(void)state;
	EXPECT_DECODE(bad, RP_MQTT_V5, RP_E_PAYLOAD_FORMAT);
	EXPECT_DECODE(surrogate, RP_MQTT_V5, RP_E_PAYLOAD_FORMAT);
	EXPECT_DECODE(truncated_seq, RP_MQTT_V5, RP_E_PAYLOAD_FORMAT);
	VALID(good, RP_MQTT_V5);
	VALID(nul_ok, RP_MQTT_V5);
	VALID(binary_pfi0, RP_MQTT_V5);
	VALID(binary_no_pfi, RP_MQTT_V5);
	VALID(empty_utf8, RP_MQTT_V5);
	assert_int_equal(rp_mqtt_reason_for(RP_E_PAYLOAD_FORMAT),
			 RP_MQTT_RC_PAYLOAD_FORMAT_INVALID);
}

/* 3.3.2.3.8: subscription identifier 0 is a Protocol Error. */
static void test_publish_sub_id_zero(void **state)
{
	static const uint8_t zero[] = {0x30, 0x06, 0x00, 0x01, 't', 0x02, 0x0B, 0x00};
	static const uint8_t zero_after_good[] = {
		0x30, 0x08, 0x00, 0x01, 't', 0x04, 0x0B, 0x03, 0x0B, 0x00,
	};

	(void)state;
	EXPECT_DECODE(zero, RP_MQTT_V5, RP_E_PROPERTY_VALUE);
	EXPECT_DECODE(zero_after_good, RP_MQTT_V5, RP_E_PROPERTY_VALUE);
}

/* [MQTT-3.3.2-14]: the response topic is a topic name: no wildcards. */
static void test_publish_response_topic(void **state)
{
	static const uint8_t hash[] = {
		0x30, 0x09, 0x00, 0x01, 't', 0x05, 0x08, 0x00, 0x02, 'a', '#',
	};
	static const uint8_t bad_utf8[] = {
		0x30, 0x08, 0x00, 0x01, 't', 0x04, 0x08, 0x00, 0x01, 0xFF,
	};

	(void)state;
	/* The header names no status; a bad property value it is. */
	EXPECT_DECODE(hash, RP_MQTT_V5, RP_E_PROPERTY_VALUE);
	EXPECT_DECODE(bad_utf8, RP_MQTT_V5, RP_E_UTF8);
}

static void test_publish_string_props_utf8(void **state)
{
	static const uint8_t content_type[] = {
		0x30, 0x08, 0x00, 0x01, 't', 0x04, 0x03, 0x00, 0x01, 0xC0,
	};
	static const uint8_t user_name_nul[] = {
		0x30, 0x0B, 0x00, 0x01, 't', 0x07, 0x26, 0x00, 0x01, 0x00, 0x00, 0x01, 'v',
	};
	static const uint8_t user_value_bad[] = {
		0x30, 0x0B, 0x00, 0x01, 't', 0x07, 0x26, 0x00, 0x01, 'k', 0x00, 0x01, 0x80,
	};
	/* Correlation data is binary: anything goes. */
	static const uint8_t correlation_binary[] = {
		0x30, 0x09, 0x00, 0x01, 't', 0x05, 0x09, 0x00, 0x02, 0x00, 0xFF,
	};

	(void)state;
	EXPECT_DECODE(content_type, RP_MQTT_V5, RP_E_UTF8);
	EXPECT_DECODE(user_name_nul, RP_MQTT_V5, RP_E_UTF8);
	EXPECT_DECODE(user_value_bad, RP_MQTT_V5, RP_E_UTF8);
	VALID(correlation_binary, RP_MQTT_V5);
}

static void test_publish_property_rules(void **state)
{
	static const uint8_t session_expiry[] = {
		0x30, 0x09, 0x00, 0x01, 't', 0x05, 0x11, 0x00, 0x00, 0x00, 0x01,
	};
	static const uint8_t unknown_id[] = {0x30, 0x06, 0x00, 0x01, 't', 0x02, 0x04, 0x00};
	static const uint8_t expiry_twice[] = {
		0x30, 0x0E, 0x00, 0x01, 't',  0x0A,
		0x02, 0x00, 0x00, 0x00, 0x01, /* message expiry */
		0x02, 0x00, 0x00, 0x00, 0x01, /* message expiry again */
	};
	static const uint8_t alias_twice[] = {
		0x30, 0x0A, 0x00, 0x01, 't', 0x06, 0x23, 0x00, 0x01, 0x23, 0x00, 0x02,
	};

	(void)state;
	EXPECT_DECODE(session_expiry, RP_MQTT_V5, RP_E_PROPERTY);
	EXPECT_DECODE(unknown_id, RP_MQTT_V5, RP_E_PROPERTY);
	EXPECT_DECODE(expiry_twice, RP_MQTT_V5, RP_E_PROPERTY_DUP);
	EXPECT_DECODE(alias_twice, RP_MQTT_V5, RP_E_PROPERTY_DUP);
}

/* ---- limits of rp_mqtt_limits ----------------------------------------- */

static void test_publish_limits(void **state)
{
	static const uint8_t len8[] = {0x30, 0x0A, 0x00, 0x08, 'a', 'b',
				       'c',  'd',  'e',  'f',  'g', 'h'};
	static const uint8_t len9[] = {
		0x30, 0x0B, 0x00, 0x09, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i',
	};
	static const uint8_t levels3[] = {0x30, 0x07, 0x00, 0x05, 'a', '/', 'b', '/', 'c'};
	static const uint8_t levels4[] = {0x30, 0x09, 0x00, 0x07, 'a', '/',
					  'b',  '/',  'c',  '/',  'd'};
	static const uint8_t levels4_empty[] = {0x30, 0x05, 0x00, 0x03, '/', '/', '/'};
	static const uint8_t users2[] = {
		0x30, 0x12, 0x00, 0x01, 't',  0x0E, 0x26, 0x00, 0x01, 'a',
		0x00, 0x01, '1',  0x26, 0x00, 0x01, 'b',  0x00, 0x01, '2',
	};
	static const uint8_t users3[] = {
		0x30, 0x19, 0x00, 0x01, 't',  0x15, 0x26, 0x00, 0x01, 'a', 0x00, 0x01, '1', 0x26,
		0x00, 0x01, 'b',  0x00, 0x01, '2',  0x26, 0x00, 0x01, 'c', 0x00, 0x01, '3',
	};
	static const uint8_t subids2[] = {
		0x30, 0x08, 0x00, 0x01, 't', 0x04, 0x0B, 0x01, 0x0B, 0x02,
	};
	static const uint8_t subids3[] = {
		0x30, 0x0A, 0x00, 0x01, 't', 0x06, 0x0B, 0x01, 0x0B, 0x02, 0x0B, 0x03,
	};
	rp_mqtt_limits lim = tu_limits();

	(void)state;
	lim.max_topic_len = 8;
	VALID_LIM(len8, RP_MQTT_V311, &lim);
	EXPECT_DECODE_LIM(len9, RP_MQTT_V311, &lim, RP_E_LIMIT);

	lim = tu_limits();
	lim.max_topic_levels = 3;
	VALID_LIM(levels3, RP_MQTT_V311, &lim);
	EXPECT_DECODE_LIM(levels4, RP_MQTT_V311, &lim, RP_E_LIMIT);
	EXPECT_DECODE_LIM(levels4_empty, RP_MQTT_V311, &lim, RP_E_LIMIT);

	lim = tu_limits();
	lim.max_user_props = 2;
	VALID_LIM(users2, RP_MQTT_V5, &lim);
	EXPECT_DECODE_LIM(users3, RP_MQTT_V5, &lim, RP_E_LIMIT);

	lim = tu_limits();
	lim.max_sub_ids = 2;
	VALID_LIM(subids2, RP_MQTT_V5, &lim);
	EXPECT_DECODE_LIM(subids3, RP_MQTT_V5, &lim, RP_E_LIMIT);
	assert_int_equal(rp_mqtt_reason_for(RP_E_LIMIT), RP_MQTT_RC_QUOTA_EXCEEDED);
}

/* ---- encode ------------------------------------------------------------ */

static void base_publish(rp_mqtt_packet *pkt)
{
	memset(pkt, 0, sizeof(*pkt));
	pkt->type = RP_MQTT_PUBLISH;
	pkt->u.publish.topic = TU_STR("t");
	pkt->u.publish.payload = TU_STR("p");
}

static void test_publish_roundtrip_311(void **state)
{
	rp_mqtt_packet pkt, got;
	uint8_t out[128];
	uint8_t q;

	(void)state;
	for (q = 0; q <= 2; q++) {
		base_publish(&pkt);
		pkt.u.publish.qos = q;
		pkt.u.publish.retain = 1;
		pkt.u.publish.dup = q != 0;
		pkt.u.publish.packet_id = q != 0 ? (uint16_t)(0x100 + q) : 0;
		pkt.u.publish.topic = TU_STR("home/kitchen/temp");
		pkt.u.publish.payload = TU_STR("\x00\x01\x02");
		ROUNDTRIP(&pkt, RP_MQTT_V311, out, &got);
		assert_int_equal(out[0], 0x30 | (q != 0 ? 0x08 : 0) | (q << 1) | 0x01);
		assert_int_equal(got.u.publish.qos, q);
		assert_int_equal(got.u.publish.dup, q != 0);
		assert_int_equal(got.u.publish.retain, 1);
		assert_int_equal(got.u.publish.packet_id, pkt.u.publish.packet_id);
		assert_view_eq(got.u.publish.topic, pkt.u.publish.topic);
		assert_view_eq(got.u.publish.payload, pkt.u.publish.payload);
	}
	/* An empty payload. */
	base_publish(&pkt);
	pkt.u.publish.payload = TU_NSTR;
	ROUNDTRIP(&pkt, RP_MQTT_V311, out, &got);
	assert_int_equal(got.u.publish.payload.len, 0);
}

static void test_publish_roundtrip_5(void **state)
{
	static const uint32_t ids[] = {1, 127, 128, 16383, 16384, 268435455};
	static const rp_mqtt_user_prop ups[] = {
		{{(const uint8_t *)"unit", 4},
		 {(const uint8_t *)"\xc2\xb0"
				   "C",
		  3}},
		{{(const uint8_t *)"", 0}, {(const uint8_t *)"", 0}},
	};
	rp_mqtt_packet pkt, got;
	uint8_t out[256];

	(void)state;
	base_publish(&pkt);
	pkt.u.publish.qos = 2;
	pkt.u.publish.packet_id = 77;
	pkt.u.publish.props.present =
		RP_MQTT_HAS(RP_MQTT_PROP_PAYLOAD_FORMAT) |
		RP_MQTT_HAS(RP_MQTT_PROP_MESSAGE_EXPIRY) | RP_MQTT_HAS(RP_MQTT_PROP_CONTENT_TYPE) |
		RP_MQTT_HAS(RP_MQTT_PROP_RESPONSE_TOPIC) |
		RP_MQTT_HAS(RP_MQTT_PROP_CORRELATION_DATA) | RP_MQTT_HAS(RP_MQTT_PROP_TOPIC_ALIAS);
	pkt.u.publish.props.payload_format = 1;
	pkt.u.publish.props.message_expiry = 0xFFFFFFFFu;
	pkt.u.publish.props.content_type = TU_STR("application/senml+json");
	pkt.u.publish.props.response_topic = TU_STR("rsp/$x");
	pkt.u.publish.props.correlation_data = TU_STR("\x00\xff");
	pkt.u.publish.props.topic_alias = 65535;
	pkt.u.publish.props.sub_ids = ids;
	pkt.u.publish.props.sub_id_count = TU_ARRAY_LEN(ids);
	pkt.u.publish.props.user_props = ups;
	pkt.u.publish.props.user_prop_count = TU_ARRAY_LEN(ups);
	pkt.u.publish.payload = TU_STR("[{\"n\":\"t\",\"v\":21.5}]");
	ROUNDTRIP(&pkt, RP_MQTT_V5, out, &got);
	assert_int_equal(got.u.publish.qos, 2);
	assert_int_equal(got.u.publish.packet_id, 77);
	tu_assert_props_eq(&pkt.u.publish.props, &got.u.publish.props);
	assert_view_eq(got.u.publish.payload, pkt.u.publish.payload);

	/* Topic alias with an empty topic. */
	base_publish(&pkt);
	pkt.u.publish.topic = TU_NSTR;
	pkt.u.publish.props.present = RP_MQTT_HAS(RP_MQTT_PROP_TOPIC_ALIAS);
	pkt.u.publish.props.topic_alias = 3;
	ROUNDTRIP(&pkt, RP_MQTT_V5, out, &got);
	assert_int_equal(got.u.publish.topic.len, 0);
	assert_int_equal(got.u.publish.props.topic_alias, 3);
}

/* A payload long enough for a three-byte remaining length. */
static void test_publish_roundtrip_large(void **state)
{
	static uint8_t payload[20000];
	static uint8_t out[20100];
	rp_mqtt_packet pkt, got;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(payload); i++) {
		payload[i] = (uint8_t)(i * 7u);
	}
	base_publish(&pkt);
	pkt.u.publish.qos = 1;
	pkt.u.publish.packet_id = 1;
	pkt.u.publish.payload.p = payload;
	pkt.u.publish.payload.len = sizeof(payload);
	n = ROUNDTRIP(&pkt, RP_MQTT_V5, out, &got);
	/* 20000 + topic 3 + id 2 + props 1 = 20006 = 0xA6 0x9C 0x01. */
	assert_int_equal(n, 1 + 3 + 20006);
	assert_int_equal(out[1], 0xA6);
	assert_int_equal(out[2], 0x9C);
	assert_int_equal(out[3], 0x01);
	assert_int_equal(got.u.publish.payload.len, sizeof(payload));
	assert_memory_equal(got.u.publish.payload.p, payload, sizeof(payload));
}

static void test_publish_encoder_refuses(void **state)
{
	static const uint32_t zero_id[] = {5, 0};
	static const uint32_t big_id[] = {268435456u};
	static const uint32_t many_ids[] = {1, 2, 3};
	static const uint8_t payload_70k[70000];
	rp_mqtt_packet pkt;
	rp_mqtt_limits lim = tu_limits();

	(void)state;
	base_publish(&pkt);
	EXPECT_ENCODE(&pkt, RP_MQTT_V311, RP_OK);

	base_publish(&pkt);
	pkt.u.publish.qos = 3;
	pkt.u.publish.packet_id = 1;
	EXPECT_ENCODE(&pkt, RP_MQTT_V311, RP_E_QOS);

	base_publish(&pkt);
	pkt.u.publish.dup = 1; /* on QoS 0 */
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_QOS);

	base_publish(&pkt);
	pkt.u.publish.qos = 1; /* packet id 0 */
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_PACKET_ID);

	base_publish(&pkt);
	pkt.u.publish.topic = TU_STR("a/+");
	EXPECT_ENCODE(&pkt, RP_MQTT_V311, RP_E_TOPIC_NAME);

	base_publish(&pkt);
	pkt.u.publish.topic = TU_NSTR; /* without a topic alias */
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_TOPIC_NAME);
	EXPECT_ENCODE(&pkt, RP_MQTT_V311, RP_E_TOPIC_NAME);

	base_publish(&pkt);
	pkt.u.publish.props.present = RP_MQTT_HAS(RP_MQTT_PROP_MESSAGE_EXPIRY);
	EXPECT_ENCODE(&pkt, RP_MQTT_V311, RP_E_PROPERTY); /* properties in 3.1.1 */
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_OK);

	base_publish(&pkt);
	pkt.u.publish.topic = TU_NSTR;
	pkt.u.publish.props.present = RP_MQTT_HAS(RP_MQTT_PROP_TOPIC_ALIAS);
	pkt.u.publish.props.topic_alias = 1;
	EXPECT_ENCODE(&pkt, RP_MQTT_V311, RP_E_PROPERTY); /* no aliases in 3.1.1 */

	base_publish(&pkt);
	pkt.u.publish.props.present = RP_MQTT_HAS(RP_MQTT_PROP_TOPIC_ALIAS);
	pkt.u.publish.props.topic_alias = 0;
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_PROPERTY_VALUE);

	base_publish(&pkt);
	pkt.u.publish.props.present = RP_MQTT_HAS(RP_MQTT_PROP_PAYLOAD_FORMAT);
	pkt.u.publish.props.payload_format = 1;
	pkt.u.publish.payload = TU_STR("\xc3");
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_PAYLOAD_FORMAT);

	base_publish(&pkt);
	pkt.u.publish.props.sub_ids = zero_id;
	pkt.u.publish.props.sub_id_count = 2;
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_PROPERTY_VALUE);
	pkt.u.publish.props.sub_ids = big_id;
	pkt.u.publish.props.sub_id_count = 1;
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_PROPERTY_VALUE);
	pkt.u.publish.props.sub_ids = many_ids;
	pkt.u.publish.props.sub_id_count = 3;
	lim.max_sub_ids = 2;
	EXPECT_ENCODE_LIM(&pkt, RP_MQTT_V5, &lim, RP_E_LIMIT);

	base_publish(&pkt);
	pkt.u.publish.props.present = RP_MQTT_HAS(RP_MQTT_PROP_SESSION_EXPIRY);
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_PROPERTY);

	base_publish(&pkt);
	pkt.u.publish.topic = TU_STR("a/b/c/d/e");
	lim = tu_limits();
	lim.max_topic_levels = 4;
	EXPECT_ENCODE_LIM(&pkt, RP_MQTT_V5, &lim, RP_E_LIMIT);
	lim.max_topic_levels = 5;
	EXPECT_ENCODE_LIM(&pkt, RP_MQTT_V5, &lim, RP_OK);

	/* Views that cannot be written: NULL with a length, a string over 65535. */
	base_publish(&pkt);
	pkt.u.publish.payload.p = NULL;
	pkt.u.publish.payload.len = 3;
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_INVALID_ARG);
	base_publish(&pkt);
	pkt.u.publish.topic.p = NULL;
	pkt.u.publish.topic.len = 1;
	EXPECT_ENCODE(&pkt, RP_MQTT_V311, RP_E_INVALID_ARG);
	base_publish(&pkt);
	pkt.u.publish.props.present = RP_MQTT_HAS(RP_MQTT_PROP_CORRELATION_DATA);
	pkt.u.publish.props.correlation_data.p = payload_70k;
	pkt.u.publish.props.correlation_data.len = sizeof(payload_70k);
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_INVALID_ARG);

	/* A bad version argument for a non-CONNECT packet. */
	base_publish(&pkt);
	EXPECT_ENCODE(&pkt, 0, RP_E_INVALID_ARG);
	EXPECT_ENCODE(&pkt, 3, RP_E_INVALID_ARG);
}

/* Encoding into a buffer one short writes nothing, for every version. */
static void test_publish_buf_too_small(void **state)
{
	rp_mqtt_limits lim = tu_limits();
	rp_mqtt_packet pkt;
	uint8_t out[64];
	size_t size = 0, len = 0, cap, i;

	(void)state;
	base_publish(&pkt);
	pkt.u.publish.topic = TU_STR("x/y");
	pkt.u.publish.payload = TU_STR("0123456789");
	assert_status(rp_mqtt_encoded_size(&pkt, RP_MQTT_V5, &lim, &size), RP_OK);
	assert_int_equal(size, 2 + 5 + 1 + 10);
	for (cap = 0; cap < size; cap++) {
		memset(out, 0xA5, sizeof(out));
		assert_status(rp_mqtt_encode(&pkt, RP_MQTT_V5, &lim, out, cap, &len),
			      RP_E_BUF_TOO_SMALL);
		for (i = 0; i < sizeof(out); i++) {
			assert_int_equal(out[i], 0xA5);
		}
	}
	memset(out, 0xA5, sizeof(out));
	assert_status(rp_mqtt_encode(&pkt, RP_MQTT_V5, &lim, out, size, &len), RP_OK);
	assert_int_equal(len, size);
	for (i = size; i < sizeof(out); i++) {
		assert_int_equal(out[i], 0xA5);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_publish311),
		cmocka_unit_test(test_publish5),
		cmocka_unit_test(test_publish_qos3),
		cmocka_unit_test(test_publish_dup_qos0),
		cmocka_unit_test(test_publish_topic_wildcards),
		cmocka_unit_test(test_publish_empty_topic),
		cmocka_unit_test(test_publish_topic_utf8),
		cmocka_unit_test(test_publish_packet_id_zero),
		cmocka_unit_test(test_publish_truncated),
		cmocka_unit_test(test_publish_topic_alias_zero),
		cmocka_unit_test(test_publish_payload_format_value),
		cmocka_unit_test(test_publish_payload_format_utf8),
		cmocka_unit_test(test_publish_sub_id_zero),
		cmocka_unit_test(test_publish_response_topic),
		cmocka_unit_test(test_publish_string_props_utf8),
		cmocka_unit_test(test_publish_property_rules),
		cmocka_unit_test(test_publish_limits),
		cmocka_unit_test(test_publish_roundtrip_311),
		cmocka_unit_test(test_publish_roundtrip_5),
		cmocka_unit_test(test_publish_roundtrip_large),
		cmocka_unit_test(test_publish_encoder_refuses),
		cmocka_unit_test(test_publish_buf_too_small),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
