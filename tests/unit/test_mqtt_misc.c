/*
 * test_mqtt_misc.c - PINGREQ, PINGRESP, DISCONNECT, AUTH; reason codes
 * (rp_mqtt_reason_valid, rp_mqtt_reason_for); rp_mqtt_type_str; limits.
 */
#include "mqtt_test_util.h"

/* ---- PINGREQ / PINGRESP (3.12, 3.13) ----------------------------------- */

static void test_ping(void **state)
{
	static const uint8_t pingreq[] = {0xC0, 0x00};
	static const uint8_t pingresp[] = {0xD0, 0x00};
	static const uint8_t req_body[] = {0xC0, 0x01, 0x00};
	static const uint8_t resp_body[] = {0xD0, 0x02, 0x00, 0x00};
	static const uint8_t req_flags[] = {0xC1, 0x00};
	static const uint8_t resp_flags[] = {0xD8, 0x00};
	rp_mqtt_packet pkt, got;
	uint8_t out[8];
	size_t n;

	(void)state;
	VALID(pingreq, RP_MQTT_V311);
	VALID(pingreq, RP_MQTT_V5);
	VALID(pingresp, RP_MQTT_V311);
	VALID(pingresp, RP_MQTT_V5);
	DECODE_OK(pingreq, RP_MQTT_V5, &pkt);
	assert_int_equal(pkt.type, RP_MQTT_PINGREQ);
	DECODE_OK(pingresp, RP_MQTT_V311, &pkt);
	assert_int_equal(pkt.type, RP_MQTT_PINGRESP);
	EXPECT_DECODE(req_body, RP_MQTT_V311, RP_E_TRAILING);
	EXPECT_DECODE(req_body, RP_MQTT_V5, RP_E_TRAILING);
	EXPECT_DECODE(resp_body, RP_MQTT_V5, RP_E_TRAILING);
	EXPECT_DECODE(req_flags, RP_MQTT_V311, RP_E_RESERVED_FLAGS);
	EXPECT_DECODE(resp_flags, RP_MQTT_V5, RP_E_RESERVED_FLAGS);

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = RP_MQTT_PINGREQ;
	n = ROUNDTRIP(&pkt, RP_MQTT_V311, out, &got);
	assert_int_equal(n, 2);
	assert_memory_equal(out, pingreq, 2);
	pkt.type = RP_MQTT_PINGRESP;
	n = ROUNDTRIP(&pkt, RP_MQTT_V5, out, &got);
	assert_int_equal(n, 2);
	assert_memory_equal(out, pingresp, 2);
}

/* ---- DISCONNECT (3.14) ------------------------------------------------- */

static const uint8_t disc_empty[] = {0xE0, 0x00};     /* DISCONNECT, no body */
static const uint8_t disc5_rc[] = {0xE0, 0x01, 0x04}; /* with will message */
static const uint8_t disc5_rc0_props0[] = {0xE0, 0x02, 0x00, 0x00};
static const uint8_t disc5_rc0[] = {0xE0, 0x01, 0x00};
static const uint8_t disc5_full[] = {
	0xE0, 0x1C,                              /* DISCONNECT, remaining 28 */
	0x9C,                                    /* use another server */
	0x1A,                                    /* property length 26 */
	0x11, 0x00, 0x00, 0x00, 0x3C,            /* session expiry 60 */
	0x1C, 0x00, 0x04, 's',  'r',  'v',  '2', /* server reference "srv2" */
	0x1F, 0x00, 0x04, 'm',  'o',  'v',  'e', /* reason string "move" */
	0x26, 0x00, 0x01, 'a',  0x00, 0x01, 'b', /* user property a=b */
};

static void test_disconnect311(void **state)
{
	static const uint8_t body[] = {0xE0, 0x01, 0x00};
	static const uint8_t flags[] = {0xE2, 0x00};
	rp_mqtt_packet pkt, got;
	uint8_t out[8];

	(void)state;
	VALID(disc_empty, RP_MQTT_V311);
	DECODE_OK(disc_empty, RP_MQTT_V311, &pkt);
	assert_int_equal(pkt.type, RP_MQTT_DISCONNECT);
	assert_int_equal(pkt.u.disconnect.reason_code, 0);
	/* [MQTT-3.14.1-1] (3.1.1): no variable header, no payload. */
	EXPECT_DECODE(body, RP_MQTT_V311, RP_E_TRAILING);
	EXPECT_DECODE(flags, RP_MQTT_V311, RP_E_RESERVED_FLAGS);

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = RP_MQTT_DISCONNECT;
	assert_int_equal(ROUNDTRIP(&pkt, RP_MQTT_V311, out, &got), 2);
	pkt.u.disconnect.reason_code = RP_MQTT_RC_DISCONNECT_WITH_WILL;
	EXPECT_ENCODE(&pkt, RP_MQTT_V311, RP_E_REASON_CODE);
	pkt.u.disconnect.reason_code = 0;
	pkt.u.disconnect.props.present = RP_MQTT_HAS(RP_MQTT_PROP_REASON_STRING);
	pkt.u.disconnect.props.reason_string = TU_STR("bye");
	EXPECT_ENCODE(&pkt, RP_MQTT_V311, RP_E_PROPERTY);
}

static void test_disconnect5(void **state)
{
	rp_mqtt_packet pkt;
	const rp_mqtt_disconnect *d = &pkt.u.disconnect;
	rp_mqtt_str name, value;
	uint32_t cursor = 0;

	(void)state;
	/* 3.14.2.1: reason code and property length may be left out. */
	VALID(disc_empty, RP_MQTT_V5);
	VALID(disc5_rc, RP_MQTT_V5);
	VALID_NC(disc5_rc0_props0, RP_MQTT_V5);
	VALID_NC(disc5_rc0, RP_MQTT_V5);
	VALID(disc5_full, RP_MQTT_V5);

	DECODE_OK(disc_empty, RP_MQTT_V5, &pkt);
	assert_int_equal(d->reason_code, 0);
	assert_int_equal(d->props.present, 0);
	DECODE_OK(disc5_rc, RP_MQTT_V5, &pkt);
	assert_int_equal(d->reason_code, RP_MQTT_RC_DISCONNECT_WITH_WILL);
	DECODE_OK(disc5_full, RP_MQTT_V5, &pkt);
	assert_int_equal(d->reason_code, RP_MQTT_RC_USE_ANOTHER_SERVER);
	assert_int_equal(d->props.present, RP_MQTT_HAS(RP_MQTT_PROP_SESSION_EXPIRY) |
						   RP_MQTT_HAS(RP_MQTT_PROP_SERVER_REFERENCE) |
						   RP_MQTT_HAS(RP_MQTT_PROP_REASON_STRING));
	assert_int_equal(d->props.session_expiry, 60);
	assert_str(d->props.server_reference, "srv2");
	assert_str(d->props.reason_string, "move");
	assert_true(rp_mqtt_props_next(&d->props, RP_MQTT_PROP_USER, &cursor, &name, &value, NULL));
	assert_str(name, "a");
	assert_str(value, "b");
}

static void test_disconnect5_malformed(void **state)
{
	static const uint8_t props_long[] = {0xE0, 0x03, 0x00, 0x05, 0x1F};
	static const uint8_t trailing[] = {0xE0, 0x03, 0x00, 0x00, 0x00};
	static const uint8_t topic_alias[] = {0xE0, 0x05, 0x00, 0x03, 0x23, 0x00, 0x01};
	static const uint8_t auth_method[] = {0xE0, 0x06, 0x00, 0x04, 0x15, 0x00, 0x01, 'm'};
	static const uint8_t reason_twice[] = {
		0xE0, 0x0A, 0x80, 0x08, 0x1F, 0x00, 0x01, 'a', 0x1F, 0x00, 0x01, 'b',
	};
	static const uint8_t reference_bad_utf8[] = {
		0xE0, 0x06, 0x9D, 0x04, 0x1C, 0x00, 0x01, 0xC1,
	};

	(void)state;
	EXPECT_DECODE(props_long, RP_MQTT_V5, RP_E_MALFORMED);
	EXPECT_DECODE(trailing, RP_MQTT_V5, RP_E_TRAILING);
	EXPECT_DECODE(topic_alias, RP_MQTT_V5, RP_E_PROPERTY);
	EXPECT_DECODE(auth_method, RP_MQTT_V5, RP_E_PROPERTY);
	EXPECT_DECODE(reason_twice, RP_MQTT_V5, RP_E_PROPERTY_DUP);
	EXPECT_DECODE(reference_bad_utf8, RP_MQTT_V5, RP_E_UTF8);
}

/* 3.14.2.1: the DISCONNECT reason codes. */
static void test_disconnect5_reason_codes(void **state)
{
	static const uint8_t ok[] = {
		0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
		0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
		0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
	};
	unsigned rc;

	(void)state;
	for (rc = 0; rc < 256; rc++) {
		uint8_t w[] = {0xE0, 0x01, (uint8_t)rc};
		uint8_t wp[] = {0xE0, 0x02, (uint8_t)rc, 0x00};
		int valid = memchr(ok, (int)rc, sizeof(ok)) != NULL;

		EXPECT_DECODE(w, RP_MQTT_V5, valid ? RP_OK : RP_E_REASON_CODE);
		EXPECT_DECODE(wp, RP_MQTT_V5, valid ? RP_OK : RP_E_REASON_CODE);
	}
}

static void test_disconnect5_roundtrip(void **state)
{
	static const rp_mqtt_user_prop up[] = {
		{{(const uint8_t *)"k", 1}, {(const uint8_t *)"", 0}}};
	rp_mqtt_packet pkt, got;
	uint8_t out[64];

	(void)state;
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = RP_MQTT_DISCONNECT;
	assert_int_equal(ROUNDTRIP(&pkt, RP_MQTT_V5, out, &got), 2);
	pkt.u.disconnect.reason_code = RP_MQTT_RC_KEEPALIVE_TIMEOUT;
	assert_int_equal(ROUNDTRIP(&pkt, RP_MQTT_V5, out, &got), 3);
	assert_int_equal(out[2], 0x8D);
	pkt.u.disconnect.props.present = RP_MQTT_HAS(RP_MQTT_PROP_SERVER_REFERENCE) |
					 RP_MQTT_HAS(RP_MQTT_PROP_SESSION_EXPIRY);
	pkt.u.disconnect.props.server_reference = TU_STR("b.example:8883");
	pkt.u.disconnect.props.session_expiry = 0;
	pkt.u.disconnect.props.user_props = up;
	pkt.u.disconnect.props.user_prop_count = 1;
	ROUNDTRIP(&pkt, RP_MQTT_V5, out, &got);
	assert_int_equal(got.u.disconnect.reason_code, RP_MQTT_RC_KEEPALIVE_TIMEOUT);
	tu_assert_props_eq(&pkt.u.disconnect.props, &got.u.disconnect.props);

	pkt.u.disconnect.reason_code = RP_MQTT_RC_GRANTED_QOS1; /* not a DISCONNECT code */
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_REASON_CODE);
	pkt.u.disconnect.reason_code = 0;
	pkt.u.disconnect.props.present = RP_MQTT_HAS(RP_MQTT_PROP_WILL_DELAY);
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_PROPERTY);
}

/* ---- AUTH (3.15) ------------------------------------------------------- */

static const uint8_t auth_continue[] = {
	0xF0, 0x0A,                                /* AUTH, remaining 10 */
	0x18,                                      /* continue authentication */
	0x08,                                      /* property length 8 */
	0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M', /* auth method "SCRAM" */
};

static const uint8_t auth_full[] = {
	0xF0, 0x1C,                                   /* AUTH, remaining 28 */
	0x19,                                         /* re-authenticate */
	0x1A,                                         /* property length 26 */
	0x15, 0x00, 0x05, 'S',  'C',  'R',  'A', 'M', /* auth method "SCRAM" */
	0x16, 0x00, 0x03, 0x00, 0xAB, 0xFF,           /* auth data 00 AB FF */
	0x1F, 0x00, 0x02, 'o',  'k',                  /* reason string "ok" */
	0x26, 0x00, 0x01, 'n',  0x00, 0x01, 'v',      /* user property n=v */
};

static const uint8_t auth_success[] = {
	0xF0, 0x0A, 0x00, 0x08, /* AUTH, success, property length 8 */
	0x15, 0x00, 0x05, 'S',  'C', 'R', 'A', 'M',
};

static void test_auth5(void **state)
{
	rp_mqtt_packet pkt;
	const rp_mqtt_disconnect *a = &pkt.u.disconnect;
	rp_mqtt_str name, value;
	uint32_t cursor = 0;

	(void)state;
	VALID(auth_continue, RP_MQTT_V5);
	VALID(auth_full, RP_MQTT_V5);
	VALID(auth_success, RP_MQTT_V5);
	DECODE_OK(auth_continue, RP_MQTT_V5, &pkt);
	assert_int_equal(pkt.type, RP_MQTT_AUTH);
	assert_int_equal(a->reason_code, RP_MQTT_RC_CONTINUE_AUTH);
	assert_str(a->props.auth_method, "SCRAM");
	DECODE_OK(auth_full, RP_MQTT_V5, &pkt);
	assert_int_equal(a->reason_code, RP_MQTT_RC_REAUTHENTICATE);
	assert_int_equal(a->props.present, RP_MQTT_HAS(RP_MQTT_PROP_AUTH_METHOD) |
						   RP_MQTT_HAS(RP_MQTT_PROP_AUTH_DATA) |
						   RP_MQTT_HAS(RP_MQTT_PROP_REASON_STRING));
	assert_int_equal(a->props.auth_data.len, 3);
	assert_int_equal(a->props.auth_data.p[2], 0xFF);
	assert_str(a->props.reason_string, "ok");
	assert_true(rp_mqtt_props_next(&a->props, RP_MQTT_PROP_USER, &cursor, &name, &value, NULL));
	assert_str(name, "n");
	DECODE_OK(auth_success, RP_MQTT_V5, &pkt);
	assert_int_equal(a->reason_code, 0);
}

/* MQTT 3.1.1 has no AUTH packet. */
static void test_auth_under_311(void **state)
{
	rp_mqtt_packet pkt;
	static const uint8_t empty[] = {0xF0, 0x00};

	(void)state;
	EXPECT_DECODE(auth_continue, RP_MQTT_V311, RP_E_PACKET_TYPE);
	EXPECT_DECODE(empty, RP_MQTT_V311, RP_E_PACKET_TYPE);
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = RP_MQTT_AUTH;
	pkt.u.disconnect.reason_code = RP_MQTT_RC_CONTINUE_AUTH;
	pkt.u.disconnect.props.present = RP_MQTT_HAS(RP_MQTT_PROP_AUTH_METHOD);
	pkt.u.disconnect.props.auth_method = TU_STR("SCRAM");
	EXPECT_ENCODE(&pkt, RP_MQTT_V311, RP_E_PACKET_TYPE);
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_OK);
}

/* 3.15.2.2.2: "It is a Protocol Error to omit the Authentication Method". */
static void test_auth_requires_method(void **state)
{
	static const uint8_t no_props[] = {
		0xF0, 0x02, 0x18, 0x00, /* continue, property length 0 */
	};
	static const uint8_t reason_only[] = {
		0xF0, 0x06, 0x19, 0x04, 0x1F, 0x00, 0x01, 'x', /* reason string, no method */
	};
	static const uint8_t data_only[] = {
		0xF0, 0x06, 0x18, 0x04, 0x16, 0x00, 0x01, 0x01, /* auth data, no method */
	};
	rp_mqtt_packet pkt;

	(void)state;
	EXPECT_DECODE(no_props, RP_MQTT_V5, RP_E_PROTOCOL);
	EXPECT_DECODE(reason_only, RP_MQTT_V5, RP_E_PROTOCOL);
	EXPECT_DECODE(data_only, RP_MQTT_V5, RP_E_PROTOCOL);

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = RP_MQTT_AUTH;
	pkt.u.disconnect.reason_code = RP_MQTT_RC_CONTINUE_AUTH;
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_PROTOCOL);
}

static void test_auth_malformed(void **state)
{
	/* 3.15.2.1: reason code and property length go out together or not at all. */
	static const uint8_t rc_only[] = {0xF0, 0x01, 0x18};
	static const uint8_t flags[] = {0xF1, 0x00};
	static const uint8_t method_twice[] = {
		0xF0, 0x0A, 0x18, 0x08, 0x15, 0x00, 0x01, 'a', 0x15, 0x00, 0x01, 'b',
	};
	static const uint8_t session_expiry[] = {
		0xF0, 0x0B, 0x18, 0x09, 0x15, 0x00, 0x01, 'a', 0x11, 0x00, 0x00, 0x00, 0x01,
	};
	static const uint8_t method_bad_utf8[] = {
		0xF0, 0x06, 0x18, 0x04, 0x15, 0x00, 0x01, 0xF8,
	};
	static const uint8_t props_long[] = {0xF0, 0x03, 0x18, 0x09, 0x15};

	(void)state;
	EXPECT_DECODE(rc_only, RP_MQTT_V5, RP_E_MALFORMED);
	EXPECT_DECODE(flags, RP_MQTT_V5, RP_E_RESERVED_FLAGS);
	EXPECT_DECODE(method_twice, RP_MQTT_V5, RP_E_PROPERTY_DUP);
	EXPECT_DECODE(session_expiry, RP_MQTT_V5, RP_E_PROPERTY);
	EXPECT_DECODE(method_bad_utf8, RP_MQTT_V5, RP_E_UTF8);
	EXPECT_DECODE(props_long, RP_MQTT_V5, RP_E_MALFORMED);
}

/* 3.15.2.1: 0x00, 0x18, 0x19 only. */
static void test_auth_reason_codes(void **state)
{
	unsigned rc;

	(void)state;
	for (rc = 0; rc < 256; rc++) {
		uint8_t w[] = {0xF0, 0x06, (uint8_t)rc, 0x04, 0x15, 0x00, 0x01, 'm'};
		int valid = rc == 0x00 || rc == 0x18 || rc == 0x19;

		EXPECT_DECODE(w, RP_MQTT_V5, valid ? RP_OK : RP_E_REASON_CODE);
	}
}

static void test_auth_roundtrip(void **state)
{
	rp_mqtt_packet pkt, got;
	uint8_t out[64];

	(void)state;
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = RP_MQTT_AUTH;
	pkt.u.disconnect.reason_code = RP_MQTT_RC_CONTINUE_AUTH;
	pkt.u.disconnect.props.present =
		RP_MQTT_HAS(RP_MQTT_PROP_AUTH_METHOD) | RP_MQTT_HAS(RP_MQTT_PROP_AUTH_DATA);
	pkt.u.disconnect.props.auth_method = TU_STR("SCRAM-SHA-256");
	pkt.u.disconnect.props.auth_data = TU_STR("r=abc,s=\x01\x02,i=4096");
	ROUNDTRIP(&pkt, RP_MQTT_V5, out, &got);
	assert_int_equal(out[0], 0xF0);
	assert_int_equal(got.type, RP_MQTT_AUTH);
	assert_int_equal(got.u.disconnect.reason_code, RP_MQTT_RC_CONTINUE_AUTH);
	tu_assert_props_eq(&pkt.u.disconnect.props, &got.u.disconnect.props);

	pkt.u.disconnect.reason_code = RP_MQTT_RC_SESSION_TAKEN_OVER; /* not an AUTH code */
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_REASON_CODE);
}

/* ---- reason codes ------------------------------------------------------ */

static int in(const uint8_t *set, size_t n, unsigned rc)
{
	return memchr(set, (int)rc, n) != NULL;
}

/* Every (type, code) pair against the tables of MQTT 5.0 (3.x.2.x / 3.9.3 / 3.11.3). */
static void test_reason_valid_v5(void **state)
{
	static const uint8_t connack[] = {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86,
					  0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
					  0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F};
	static const uint8_t puback[] = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
	static const uint8_t pubrel[] = {0x00, 0x92};
	static const uint8_t suback[] = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87,
					 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
	static const uint8_t unsuback[] = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
	static const uint8_t disconnect[] = {
		0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
		0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
		0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
	};
	static const uint8_t auth[] = {0x00, 0x18, 0x19};
	unsigned rc;

	(void)state;
	for (rc = 0; rc < 256; rc++) {
		uint8_t r = (uint8_t)rc;

		assert_int_equal(rp_mqtt_reason_valid(RP_MQTT_CONNACK, RP_MQTT_V5, r),
				 in(connack, sizeof(connack), rc));
		assert_int_equal(rp_mqtt_reason_valid(RP_MQTT_PUBACK, RP_MQTT_V5, r),
				 in(puback, sizeof(puback), rc));
		assert_int_equal(rp_mqtt_reason_valid(RP_MQTT_PUBREC, RP_MQTT_V5, r),
				 in(puback, sizeof(puback), rc));
		assert_int_equal(rp_mqtt_reason_valid(RP_MQTT_PUBREL, RP_MQTT_V5, r),
				 in(pubrel, sizeof(pubrel), rc));
		assert_int_equal(rp_mqtt_reason_valid(RP_MQTT_PUBCOMP, RP_MQTT_V5, r),
				 in(pubrel, sizeof(pubrel), rc));
		assert_int_equal(rp_mqtt_reason_valid(RP_MQTT_SUBACK, RP_MQTT_V5, r),
				 in(suback, sizeof(suback), rc));
		assert_int_equal(rp_mqtt_reason_valid(RP_MQTT_UNSUBACK, RP_MQTT_V5, r),
				 in(unsuback, sizeof(unsuback), rc));
		assert_int_equal(rp_mqtt_reason_valid(RP_MQTT_DISCONNECT, RP_MQTT_V5, r),
				 in(disconnect, sizeof(disconnect), rc));
		assert_int_equal(rp_mqtt_reason_valid(RP_MQTT_AUTH, RP_MQTT_V5, r),
				 in(auth, sizeof(auth), rc));
		/* Packets that carry no reason code allow none. */
		assert_int_equal(rp_mqtt_reason_valid(RP_MQTT_CONNECT, RP_MQTT_V5, r), 0);
		assert_int_equal(rp_mqtt_reason_valid(RP_MQTT_PUBLISH, RP_MQTT_V5, r), 0);
		assert_int_equal(rp_mqtt_reason_valid(RP_MQTT_SUBSCRIBE, RP_MQTT_V5, r), 0);
		assert_int_equal(rp_mqtt_reason_valid(RP_MQTT_UNSUBSCRIBE, RP_MQTT_V5, r), 0);
		assert_int_equal(rp_mqtt_reason_valid(RP_MQTT_PINGREQ, RP_MQTT_V5, r), 0);
		assert_int_equal(rp_mqtt_reason_valid(RP_MQTT_PINGRESP, RP_MQTT_V5, r), 0);
		assert_int_equal(rp_mqtt_reason_valid(0, RP_MQTT_V5, r), 0);
	}
}

/* 3.1.1: CONNACK return codes 0..5 (3.2.2.3); SUBACK 0, 1, 2, 0x80 (3.9.3). */
static void test_reason_valid_311(void **state)
{
	unsigned rc;

	(void)state;
	for (rc = 0; rc < 256; rc++) {
		assert_int_equal(rp_mqtt_reason_valid(RP_MQTT_CONNACK, RP_MQTT_V311, (uint8_t)rc),
				 rc <= 5);
		assert_int_equal(rp_mqtt_reason_valid(RP_MQTT_SUBACK, RP_MQTT_V311, (uint8_t)rc),
				 rc <= 2 || rc == 0x80);
	}
}

/*
 * The reason code for each decoding failure. The header's list is followed,
 * except RP_E_PROPERTY: MQTT 5.0 section 2.2.2.2 makes an identifier not
 * valid for its packet type a Malformed Packet (0x81), not a Protocol Error.
 */
static void test_reason_for(void **state)
{
	static const struct {
		rp_status st;
		uint8_t rc;
	} map[] = {
		{RP_OK, 0x00},
		{RP_E_TOO_LARGE, 0x95},
		{RP_E_TOPIC_NAME, 0x90},
		{RP_E_TOPIC_FILTER, 0x8F},
		{RP_E_PROTOCOL_VERSION, 0x84},
		{RP_E_PAYLOAD_FORMAT, 0x99},
		{RP_E_LIMIT, 0x97},
		/* Protocol Errors. */
		{RP_E_PROPERTY_DUP, 0x82},
		{RP_E_PROPERTY_VALUE, 0x82},
		{RP_E_PACKET_ID, 0x82},
		{RP_E_EMPTY, 0x82},
		{RP_E_PROTOCOL, 0x82},
		/* Malformed Packets. */
		{RP_E_MALFORMED, 0x81},
		{RP_E_REMAINING_LENGTH, 0x81},
		{RP_E_RESERVED_FLAGS, 0x81},
		{RP_E_UTF8, 0x81},
		{RP_E_QOS, 0x81},
		{RP_E_TRAILING, 0x81},
		{RP_E_REASON_CODE, 0x81},
		{RP_E_PROPERTY, 0x81},
		{RP_E_PACKET_TYPE, 0x81},
	};
	size_t i;
	int s;

	(void)state;
	for (i = 0; i < TU_ARRAY_LEN(map); i++) {
		if (rp_mqtt_reason_for(map[i].st) != map[i].rc) {
			print_error("rp_mqtt_reason_for(%s) = 0x%02X, expected 0x%02X\n",
				    rp_status_str(map[i].st), rp_mqtt_reason_for(map[i].st),
				    map[i].rc);
			fail();
		}
	}
	/* Every failure maps to a failure code (>= 0x80) usable in a DISCONNECT. */
	for (s = RP_E_INVALID_ARG; s < (int)RP_STATUS_COUNT_; s++) {
		uint8_t rc = rp_mqtt_reason_for((rp_status)s);

		assert_true(rc >= 0x80);
		if (s == RP_E_PROTOCOL_VERSION) {
			/* Only a CONNECT can fail so: answered in the CONNACK. */
			assert_true(rp_mqtt_reason_valid(RP_MQTT_CONNACK, RP_MQTT_V5, rc));
			continue;
		}
		if (!rp_mqtt_reason_valid(RP_MQTT_DISCONNECT, RP_MQTT_V5, rc)) {
			print_error("%s -> 0x%02X, not a DISCONNECT code\n",
				    rp_status_str((rp_status)s), rc);
			fail();
		}
	}
}

/* Each decoding failure's code can be sent in a CONNACK as well. */
static void test_reason_for_in_connack(void **state)
{
	int s;

	(void)state;
	for (s = RP_E_MALFORMED; s <= RP_E_PROTOCOL; s++) {
		uint8_t rc = rp_mqtt_reason_for((rp_status)s);

		if (s == RP_E_TOPIC_FILTER) {
			continue; /* a CONNECT holds no topic filter; 0x8F is not for CONNACK */
		}
		if (!rp_mqtt_reason_valid(RP_MQTT_CONNACK, RP_MQTT_V5, rc)) {
			print_error("%s -> 0x%02X, not a CONNACK code\n",
				    rp_status_str((rp_status)s), rc);
			fail();
		}
	}
}

static void test_type_str(void **state)
{
	static const char *const names[] = {
		"CONNECT",  "CONNACK", "PUBLISH",   "PUBACK",     "PUBREC",
		"PUBREL",   "PUBCOMP", "SUBSCRIBE", "SUBACK",     "UNSUBSCRIBE",
		"UNSUBACK", "PINGREQ", "PINGRESP",  "DISCONNECT", "AUTH",
	};
	unsigned t;

	(void)state;
	for (t = 1; t <= 15; t++) {
		assert_string_equal(rp_mqtt_type_str((uint8_t)t), names[t - 1]);
	}
	assert_string_equal(rp_mqtt_type_str(0), "?");
	assert_string_equal(rp_mqtt_type_str(16), "?");
	assert_string_equal(rp_mqtt_type_str(255), "?");
}

/* ---- limits ------------------------------------------------------------ */

static void test_limits_default(void **state)
{
	rp_mqtt_limits lim;

	(void)state;
	memset(&lim, 0xEE, sizeof(lim));
	rp_mqtt_limits_default(&lim);
	assert_int_equal(lim.max_packet, RP_DEFAULT_MQTT_PACKET);
	assert_int_equal(lim.max_topic_len, RP_DEFAULT_MQTT_TOPIC_LEN);
	assert_int_equal(lim.max_topic_levels, RP_DEFAULT_MQTT_TOPIC_LEVELS);
	assert_int_equal(lim.max_user_props, RP_DEFAULT_MQTT_USER_PROPS);
	assert_int_equal(lim.max_sub_entries, RP_DEFAULT_MQTT_SUB_ENTRIES);
	assert_in_range(lim.max_sub_ids, 1, RP_LIMIT_MQTT_SUB_IDS);
	/* The defaults are within the caps: clamping changes nothing. */
	assert_int_equal(rp_mqtt_limits_clamp(&lim), 0);
	assert_int_equal(lim.max_packet, RP_DEFAULT_MQTT_PACKET);
}

static void test_limits_clamp_high(void **state)
{
	rp_mqtt_limits lim;

	(void)state;
	lim.max_packet = UINT32_MAX;
	lim.max_topic_len = UINT16_MAX;
	lim.max_topic_levels = UINT16_MAX;
	lim.max_user_props = UINT16_MAX;
	lim.max_sub_entries = UINT16_MAX;
	lim.max_sub_ids = UINT16_MAX;
	assert_int_equal(rp_mqtt_limits_clamp(&lim), 6);
	assert_int_equal(lim.max_packet, RP_LIMIT_MQTT_PACKET);
	assert_int_equal(lim.max_topic_len, RP_LIMIT_MQTT_TOPIC_LEN);
	assert_int_equal(lim.max_topic_levels, RP_LIMIT_MQTT_TOPIC_LEVELS);
	assert_int_equal(lim.max_user_props, RP_LIMIT_MQTT_USER_PROPS);
	assert_int_equal(lim.max_sub_entries, RP_LIMIT_MQTT_SUB_ENTRIES);
	assert_int_equal(lim.max_sub_ids, RP_LIMIT_MQTT_SUB_IDS);
	/* Idempotent. */
	assert_int_equal(rp_mqtt_limits_clamp(&lim), 0);

	/* Exactly at the caps: nothing changes; one above: clamped. */
	lim.max_packet = RP_LIMIT_MQTT_PACKET + 1u;
	lim.max_topic_len = RP_LIMIT_MQTT_TOPIC_LEN;
	assert_int_equal(rp_mqtt_limits_clamp(&lim), 1);
	assert_int_equal(lim.max_packet, RP_LIMIT_MQTT_PACKET);
	assert_int_equal(lim.max_topic_len, RP_LIMIT_MQTT_TOPIC_LEN);
}

static void test_limits_clamp_zero(void **state)
{
	rp_mqtt_limits lim;

	(void)state;
	memset(&lim, 0, sizeof(lim));
	assert_int_equal(rp_mqtt_limits_clamp(&lim), 6);
	/* A zero limit would refuse everything: raised (max_packet to a PINGREQ's 2). */
	assert_int_equal(lim.max_packet, 2);
	assert_int_equal(lim.max_topic_len, 1);
	assert_int_equal(lim.max_topic_levels, 1);
	assert_int_equal(lim.max_user_props, 1);
	assert_int_equal(lim.max_sub_entries, 1);
	assert_int_equal(lim.max_sub_ids, 1);

	/* Lower values within range are kept as configured. */
	lim.max_packet = 512;
	lim.max_topic_len = 64;
	lim.max_topic_levels = 4;
	lim.max_user_props = 2;
	lim.max_sub_entries = 3;
	lim.max_sub_ids = 1;
	assert_int_equal(rp_mqtt_limits_clamp(&lim), 0);
	assert_int_equal(lim.max_packet, 512);
	assert_int_equal(lim.max_topic_len, 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ping),
		cmocka_unit_test(test_disconnect311),
		cmocka_unit_test(test_disconnect5),
		cmocka_unit_test(test_disconnect5_malformed),
		cmocka_unit_test(test_disconnect5_reason_codes),
		cmocka_unit_test(test_disconnect5_roundtrip),
		cmocka_unit_test(test_auth5),
		cmocka_unit_test(test_auth_under_311),
		cmocka_unit_test(test_auth_requires_method),
		cmocka_unit_test(test_auth_malformed),
		cmocka_unit_test(test_auth_reason_codes),
		cmocka_unit_test(test_auth_roundtrip),
		cmocka_unit_test(test_reason_valid_v5),
		cmocka_unit_test(test_reason_valid_311),
		cmocka_unit_test(test_reason_for),
		cmocka_unit_test(test_reason_for_in_connack),
		cmocka_unit_test(test_type_str),
		cmocka_unit_test(test_limits_default),
		cmocka_unit_test(test_limits_clamp_high),
		cmocka_unit_test(test_limits_clamp_zero),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
