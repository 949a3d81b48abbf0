/*
 * test_mqtt_ack.c - PUBACK, PUBREC, PUBREL, PUBCOMP (sections 3.4 - 3.7).
 *
 * MQTT 5 lets the reason code and property length be left out: remaining
 * length 2 means success without properties, 3 a reason code without
 * properties (3.4.2.1, 3.4.2.2.1). The encoder writes the shortest form.
 */
#include "mqtt_test_util.h"

static const uint8_t ack_types[4] = {RP_MQTT_PUBACK, RP_MQTT_PUBREC, RP_MQTT_PUBREL,
				     RP_MQTT_PUBCOMP};

static uint8_t first_byte(uint8_t type)
{
	return (uint8_t)(type << 4 | (type == RP_MQTT_PUBREL ? 2u : 0u));
}

/* ---- valid ------------------------------------------------------------- */

static const uint8_t puback311[] = {0x40, 0x02, 0x00, 0x01};  /* PUBACK id 1 */
static const uint8_t pubrec311[] = {0x50, 0x02, 0x12, 0x34};  /* PUBREC id 0x1234 */
static const uint8_t pubrel311[] = {0x62, 0x02, 0xFF, 0xFF};  /* PUBREL (flags 0010) id 65535 */
static const uint8_t pubcomp311[] = {0x70, 0x02, 0x00, 0x80}; /* PUBCOMP id 128 */

static const uint8_t puback5_short[] = {
	0x40, 0x02, 0x00, 0x07, /* PUBACK id 7: success, no properties */
};
static const uint8_t puback5_rc[] = {
	0x40, 0x03, 0x00, 0x07, /* PUBACK id 7 */
	0x10,                   /* no matching subscribers */
};
static const uint8_t puback5_rc0_long[] = {
	0x40, 0x04, 0x00, 0x07, /* PUBACK id 7 */
	0x00,                   /* success */
	0x00,                   /* property length 0 */
};
static const uint8_t puback5_rc0_mid[] = {
	0x40, 0x03, 0x00, 0x07, 0x00, /* PUBACK id 7, success, no property length */
};
static const uint8_t pubrec5_props[] = {
	0x50, 0x11,                             /* PUBREC, remaining 17 */
	0x00, 0x02,                             /* packet id 2 */
	0x80,                                   /* unspecified error */
	0x0D,                                   /* property length 13 */
	0x1F, 0x00, 0x03, 'b', 'a',  'd',       /* reason string "bad" */
	0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', /* user property k=v */
};
static const uint8_t pubrel5_not_found[] = {
	0x62, 0x03, 0x00, 0x03, /* PUBREL id 3 */
	0x92,                   /* packet identifier not found */
};
static const uint8_t pubcomp5_rs[] = {
	0x70, 0x08,                  /* PUBCOMP, remaining 8 */
	0x00, 0x04,                  /* packet id 4 */
	0x00,                        /* success */
	0x04, 0x1F, 0x00, 0x01, '?', /* reason string "?" */
};

static void test_acks311(void **state)
{
	rp_mqtt_packet pkt;

	(void)state;
	VALID(puback311, RP_MQTT_V311);
	VALID(pubrec311, RP_MQTT_V311);
	VALID(pubrel311, RP_MQTT_V311);
	VALID(pubcomp311, RP_MQTT_V311);
	DECODE_OK(puback311, RP_MQTT_V311, &pkt);
	assert_int_equal(pkt.type, RP_MQTT_PUBACK);
	assert_int_equal(pkt.u.ack.packet_id, 1);
	assert_int_equal(pkt.u.ack.reason_code, 0);
	assert_int_equal(pkt.u.ack.props.present, 0);
	DECODE_OK(pubrec311, RP_MQTT_V311, &pkt);
	assert_int_equal(pkt.type, RP_MQTT_PUBREC);
	assert_int_equal(pkt.u.ack.packet_id, 0x1234);
	DECODE_OK(pubrel311, RP_MQTT_V311, &pkt);
	assert_int_equal(pkt.type, RP_MQTT_PUBREL);
	assert_int_equal(pkt.u.ack.packet_id, 0xFFFF);
	DECODE_OK(pubcomp311, RP_MQTT_V311, &pkt);
	assert_int_equal(pkt.type, RP_MQTT_PUBCOMP);
	assert_int_equal(pkt.u.ack.packet_id, 0x80);
}

static void test_acks5_forms(void **state)
{
	rp_mqtt_packet pkt;
	rp_mqtt_str name, value;
	uint32_t cursor = 0;

	(void)state;
	VALID(puback5_short, RP_MQTT_V5);
	VALID(puback5_rc, RP_MQTT_V5);
	/* Valid, but the encoder writes the shorter form. */
	VALID_NC(puback5_rc0_long, RP_MQTT_V5);
	VALID_NC(puback5_rc0_mid, RP_MQTT_V5);
	VALID(pubrec5_props, RP_MQTT_V5);
	VALID(pubrel5_not_found, RP_MQTT_V5);
	VALID(pubcomp5_rs, RP_MQTT_V5);

	DECODE_OK(puback5_short, RP_MQTT_V5, &pkt);
	assert_int_equal(pkt.u.ack.packet_id, 7);
	assert_int_equal(pkt.u.ack.reason_code, 0);
	assert_int_equal(pkt.u.ack.props.present, 0);
	DECODE_OK(puback5_rc, RP_MQTT_V5, &pkt);
	assert_int_equal(pkt.u.ack.reason_code, RP_MQTT_RC_NO_MATCHING_SUBSCRIBERS);
	DECODE_OK(puback5_rc0_long, RP_MQTT_V5, &pkt);
	assert_int_equal(pkt.u.ack.reason_code, 0);
	DECODE_OK(pubrec5_props, RP_MQTT_V5, &pkt);
	assert_int_equal(pkt.type, RP_MQTT_PUBREC);
	assert_int_equal(pkt.u.ack.packet_id, 2);
	assert_int_equal(pkt.u.ack.reason_code, RP_MQTT_RC_UNSPECIFIED);
	assert_int_equal(pkt.u.ack.props.present, RP_MQTT_HAS(RP_MQTT_PROP_REASON_STRING));
	assert_str(pkt.u.ack.props.reason_string, "bad");
	assert_int_equal(pkt.u.ack.props.user_prop_count, 1);
	assert_true(rp_mqtt_props_next(&pkt.u.ack.props, RP_MQTT_PROP_USER, &cursor, &name, &value,
				       NULL));
	assert_str(name, "k");
	assert_str(value, "v");
	DECODE_OK(pubrel5_not_found, RP_MQTT_V5, &pkt);
	assert_int_equal(pkt.type, RP_MQTT_PUBREL);
	assert_int_equal(pkt.u.ack.reason_code, RP_MQTT_RC_PACKET_ID_NOT_FOUND);
	DECODE_OK(pubcomp5_rs, RP_MQTT_V5, &pkt);
	assert_str(pkt.u.ack.props.reason_string, "?");
}

/* The short forms re-encode to the shortest one. */
static void test_acks5_canonical_encoding(void **state)
{
	static const uint8_t shortest[] = {0x40, 0x02, 0x00, 0x07};
	rp_mqtt_limits lim = tu_limits();
	rp_mqtt_packet pkt;
	uint8_t out[16];
	size_t len = 0;

	(void)state;
	DECODE_OK(puback5_rc0_long, RP_MQTT_V5, &pkt);
	assert_status(rp_mqtt_encode(&pkt, RP_MQTT_V5, &lim, out, sizeof(out), &len), RP_OK);
	assert_int_equal(len, sizeof(shortest));
	assert_memory_equal(out, shortest, sizeof(shortest));
	DECODE_OK(puback5_rc0_mid, RP_MQTT_V5, &pkt);
	assert_status(rp_mqtt_encode(&pkt, RP_MQTT_V5, &lim, out, sizeof(out), &len), RP_OK);
	assert_int_equal(len, sizeof(shortest));
	assert_memory_equal(out, shortest, sizeof(shortest));
}

/* ---- malformed --------------------------------------------------------- */

/* [MQTT-2.2.1-3] / 2.3.1: packet identifier 0 is not allowed. */
static void test_acks_packet_id_zero(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		uint8_t w311[] = {first_byte(ack_types[i]), 0x02, 0x00, 0x00};
		uint8_t w5[] = {first_byte(ack_types[i]), 0x03, 0x00, 0x00, 0x00};

		EXPECT_DECODE(w311, RP_MQTT_V311, RP_E_PACKET_ID);
		EXPECT_DECODE(w311, RP_MQTT_V5, RP_E_PACKET_ID);
		EXPECT_DECODE(w5, RP_MQTT_V5, RP_E_PACKET_ID);
	}
}

/* Fixed header flags: 0010 for PUBREL, 0000 for the others. */
static void test_acks_fixed_flags(void **state)
{
	static const uint8_t pubrel_0[] = {0x60, 0x02, 0x00, 0x01};
	static const uint8_t pubrel_3[] = {0x63, 0x02, 0x00, 0x01};
	static const uint8_t puback_2[] = {0x42, 0x02, 0x00, 0x01};
	static const uint8_t pubrec_1[] = {0x51, 0x02, 0x00, 0x01};
	static const uint8_t pubcomp_8[] = {0x78, 0x02, 0x00, 0x01};

	(void)state;
	EXPECT_DECODE(pubrel_0, RP_MQTT_V311, RP_E_RESERVED_FLAGS);
	EXPECT_DECODE(pubrel_3, RP_MQTT_V5, RP_E_RESERVED_FLAGS);
	EXPECT_DECODE(puback_2, RP_MQTT_V311, RP_E_RESERVED_FLAGS);
	EXPECT_DECODE(pubrec_1, RP_MQTT_V5, RP_E_RESERVED_FLAGS);
	EXPECT_DECODE(pubcomp_8, RP_MQTT_V311, RP_E_RESERVED_FLAGS);
}

static void test_acks_too_short(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		uint8_t none[] = {first_byte(ack_types[i]), 0x00};
		uint8_t one[] = {first_byte(ack_types[i]), 0x01, 0x00};

		EXPECT_DECODE(none, RP_MQTT_V311, RP_E_MALFORMED);
		EXPECT_DECODE(one, RP_MQTT_V311, RP_E_MALFORMED);
		EXPECT_DECODE(none, RP_MQTT_V5, RP_E_MALFORMED);
		EXPECT_DECODE(one, RP_MQTT_V5, RP_E_MALFORMED);
	}
}

/* 3.1.1: the remaining length is exactly 2. */
static void test_acks311_trailing(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		uint8_t three[] = {first_byte(ack_types[i]), 0x03, 0x00, 0x01, 0x00};
		uint8_t four[] = {first_byte(ack_types[i]), 0x04, 0x00, 0x01, 0x00, 0x00};

		EXPECT_DECODE(three, RP_MQTT_V311, RP_E_TRAILING);
		EXPECT_DECODE(four, RP_MQTT_V311, RP_E_TRAILING);
	}
}

static void test_acks5_malformed_props(void **state)
{
	static const uint8_t props_long[] = {
		0x40, 0x05, 0x00, 0x01, 0x00, 0x05, 0x1F, /* property length 5, 1 byte left */
	};
	static const uint8_t trailing[] = {
		0x40, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00, /* a byte after the properties */
	};
	static const uint8_t not_allowed[] = {
		0x40, 0x07, 0x00, 0x01, 0x00, 0x03, 0x23, 0x00, 0x01, /* topic alias */
	};
	static const uint8_t reason_twice[] = {
		0x50, 0x0C, 0x00, 0x01, 0x80, 0x08, 0x1F, 0x00, 0x01, 'a', /* reason string */
		0x1F, 0x00, 0x01, 'b',                                     /* reason string again */
	};
	static const uint8_t reason_bad_utf8[] = {
		0x70, 0x08, 0x00, 0x01, 0x00, 0x04, 0x1F, 0x00, 0x01, 0xFE,
	};
	static const uint8_t sub_id[] = {
		0x62, 0x06, 0x00, 0x01, 0x00, 0x02, 0x0B, 0x01, /* subscription id */
	};

	(void)state;
	EXPECT_DECODE(props_long, RP_MQTT_V5, RP_E_MALFORMED);
	EXPECT_DECODE(trailing, RP_MQTT_V5, RP_E_TRAILING);
	EXPECT_DECODE(not_allowed, RP_MQTT_V5, RP_E_PROPERTY);
	EXPECT_DECODE(reason_twice, RP_MQTT_V5, RP_E_PROPERTY_DUP);
	EXPECT_DECODE(reason_bad_utf8, RP_MQTT_V5, RP_E_UTF8);
	EXPECT_DECODE(sub_id, RP_MQTT_V5, RP_E_PROPERTY);
}

/* Reason codes: 3.4.2.1 (PUBACK), 3.5.2.1 (PUBREC), 3.6.2.1, 3.7.2.1. */
static void test_acks5_reason_codes(void **state)
{
	static const uint8_t pub_ok[] = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
	static const uint8_t rel_ok[] = {0x00, 0x92};
	size_t i;
	unsigned rc;

	(void)state;
	for (i = 0; i < 4; i++) {
		int is_pub = ack_types[i] == RP_MQTT_PUBACK || ack_types[i] == RP_MQTT_PUBREC;
		const uint8_t *ok = is_pub ? pub_ok : rel_ok;
		size_t nok = is_pub ? sizeof(pub_ok) : sizeof(rel_ok);

		for (rc = 0; rc < 256; rc++) {
			uint8_t w[] = {first_byte(ack_types[i]), 0x03, 0x00, 0x01, (uint8_t)rc};
			uint8_t wp[] = {
				first_byte(ack_types[i]), 0x04, 0x00, 0x01, (uint8_t)rc, 0x00};
			int valid = memchr(ok, (int)rc, nok) != NULL;

			EXPECT_DECODE(w, RP_MQTT_V5, valid ? RP_OK : RP_E_REASON_CODE);
			EXPECT_DECODE(wp, RP_MQTT_V5, valid ? RP_OK : RP_E_REASON_CODE);
		}
	}
	assert_int_equal(rp_mqtt_reason_for(RP_E_REASON_CODE), RP_MQTT_RC_MALFORMED);
}

static void test_acks_user_props_limit(void **state)
{
	static const uint8_t users2[] = {
		0x40, 0x12, 0x00, 0x01, 0x00, 0x0E, 0x26, 0x00, 0x01, 'a',
		0x00, 0x01, '1',  0x26, 0x00, 0x01, 'a',  0x00, 0x01, '2',
	};
	rp_mqtt_limits lim = tu_limits();

	(void)state;
	lim.max_user_props = 2;
	VALID_LIM(users2, RP_MQTT_V5, &lim);
	lim.max_user_props = 1;
	EXPECT_DECODE_LIM(users2, RP_MQTT_V5, &lim, RP_E_LIMIT);
}

/* ---- encode ------------------------------------------------------------ */

static void test_acks_roundtrip(void **state)
{
	static const rp_mqtt_user_prop up[] = {
		{{(const uint8_t *)"trace", 5}, {(const uint8_t *)"00-ab", 5}}};
	rp_mqtt_packet pkt, got;
	uint8_t out[128];
	size_t i, n;

	(void)state;
	for (i = 0; i < 4; i++) {
		uint8_t t = ack_types[i];

		/* 3.1.1 */
		memset(&pkt, 0, sizeof(pkt));
		pkt.type = t;
		pkt.u.ack.packet_id = (uint16_t)(1000 + i);
		n = ROUNDTRIP(&pkt, RP_MQTT_V311, out, &got);
		assert_int_equal(n, 4);
		assert_int_equal(out[0], first_byte(t));
		assert_int_equal(got.u.ack.packet_id, 1000 + i);

		/* MQTT 5, success, no properties: 4 bytes. */
		n = ROUNDTRIP(&pkt, RP_MQTT_V5, out, &got);
		assert_int_equal(n, 4);

		/* MQTT 5, a failure code without properties: 5 bytes. */
		pkt.u.ack.reason_code = (t == RP_MQTT_PUBREL || t == RP_MQTT_PUBCOMP)
						? RP_MQTT_RC_PACKET_ID_NOT_FOUND
						: RP_MQTT_RC_QUOTA_EXCEEDED;
		n = ROUNDTRIP(&pkt, RP_MQTT_V5, out, &got);
		assert_int_equal(n, 5);
		assert_int_equal(out[4], pkt.u.ack.reason_code);
		assert_int_equal(got.u.ack.reason_code, pkt.u.ack.reason_code);

		/* MQTT 5 with properties. */
		pkt.u.ack.props.present = RP_MQTT_HAS(RP_MQTT_PROP_REASON_STRING);
		pkt.u.ack.props.reason_string = TU_STR("quota");
		pkt.u.ack.props.user_props = up;
		pkt.u.ack.props.user_prop_count = 1;
		n = ROUNDTRIP(&pkt, RP_MQTT_V5, out, &got);
		assert_int_equal(n, 2 + 2 + 1 + 1 + 8 + 15);
		tu_assert_props_eq(&pkt.u.ack.props, &got.u.ack.props);

		/* Success with properties keeps the reason code byte. */
		pkt.u.ack.reason_code = 0;
		n = ROUNDTRIP(&pkt, RP_MQTT_V5, out, &got);
		assert_int_equal(out[4], 0x00);
		assert_int_equal(n, 2 + 2 + 1 + 1 + 8 + 15);
	}
}

static void test_acks_encoder_refuses(void **state)
{
	rp_mqtt_packet pkt;
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		memset(&pkt, 0, sizeof(pkt));
		pkt.type = ack_types[i];
		EXPECT_ENCODE(&pkt, RP_MQTT_V311, RP_E_PACKET_ID);
		EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_PACKET_ID);
		pkt.u.ack.packet_id = 1;
		pkt.u.ack.reason_code = 0x81; /* malformed: not for acks */
		EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_REASON_CODE);
		/* 3.1.1 has no reason code to carry it. */
		pkt.u.ack.reason_code = 0x80;
		EXPECT_ENCODE(&pkt, RP_MQTT_V311, RP_E_REASON_CODE);
		pkt.u.ack.reason_code = 0;
		pkt.u.ack.props.present = RP_MQTT_HAS(RP_MQTT_PROP_REASON_STRING);
		pkt.u.ack.props.reason_string = TU_STR("x");
		EXPECT_ENCODE(&pkt, RP_MQTT_V311, RP_E_PROPERTY);
		EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_OK);
		pkt.u.ack.props.present = RP_MQTT_HAS(RP_MQTT_PROP_CONTENT_TYPE);
		pkt.u.ack.props.content_type = TU_STR("x");
		EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_PROPERTY);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_acks311),
		cmocka_unit_test(test_acks5_forms),
		cmocka_unit_test(test_acks5_canonical_encoding),
		cmocka_unit_test(test_acks_packet_id_zero),
		cmocka_unit_test(test_acks_fixed_flags),
		cmocka_unit_test(test_acks_too_short),
		cmocka_unit_test(test_acks311_trailing),
		cmocka_unit_test(test_acks5_malformed_props),
		cmocka_unit_test(test_acks5_reason_codes),
		cmocka_unit_test(test_acks_user_props_limit),
		cmocka_unit_test(test_acks_roundtrip),
		cmocka_unit_test(test_acks_encoder_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
