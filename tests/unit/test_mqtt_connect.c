/*
 * test_mqtt_connect.c - CONNECT and CONNACK, MQTT 3.1.1 and 5.0.
 *
 * Section numbers: MQTT 5.0 3.1 / 3.2 (3.1.1 has the same rule unless
 * noted). Every wire packet is hand-written with its fields named.
 */
#include "mqtt_test_util.h"

/* ---- CONNECT 3.1.1 ----------------------------------------------------- */

static const uint8_t connect311_min[] = {
	0x10, 0x0D,                     /* CONNECT, remaining 13 */
	0x00, 0x04, 'M', 'Q', 'T', 'T', /* protocol name */
	0x04,                           /* protocol level 4 */
	0x02,                           /* flags: clean session */
	0x00, 0x3C,                     /* keep alive 60 */
	0x00, 0x01, 'c',                /* client id "c" */
};

static const uint8_t connect311_full[] = {
	0x10, 0x33,                        /* CONNECT, remaining 51 */
	0x00, 0x04, 'M',  'Q',  'T',  'T', /* protocol name */
	0x04,                              /* protocol level 4 */
	0xEE,                              /* user, pass, will retain, will QoS 1, will, clean */
	0x01, 0x2C,                        /* keep alive 300 */
	0x00, 0x05, 'd',  'e',  'v',  '-', '1', /* client id "dev-1" */
	0x00, 0x0C, 'd',  'e',  'v',  '/', '1', '/', 's', 't', 'a', 't', 'u', 's', /* will topic */
	0x00, 0x07, 'o',  'f',  'f',  'l', 'i', 'n', 'e', /* will payload "offline" */
	0x00, 0x04, 'u',  's',  'e',  'r',                /* user name "user" */
	0x00, 0x03, 0x00, 0xFF, 0x01,                     /* password: binary 00 FF 01 */
};

/* Empty client id with clean session: allowed [MQTT-3.1.3-7]. */
static const uint8_t connect311_empty_id[] = {
	0x10, 0x0C,                     /* CONNECT, remaining 12 */
	0x00, 0x04, 'M', 'Q', 'T', 'T', /* protocol name */
	0x04,                           /* level 4 */
	0x02,                           /* clean session */
	0x00, 0x00,                     /* keep alive 0: off */
	0x00, 0x00,                     /* client id "" */
};

static void test_connect311_min(void **state)
{
	rp_mqtt_packet pkt;
	const rp_mqtt_connect *c = &pkt.u.connect;

	(void)state;
	VALID(connect311_min, 0);
	VALID(connect311_min, RP_MQTT_V311);
	DECODE_OK(connect311_min, 0, &pkt);
	assert_int_equal(pkt.type, RP_MQTT_CONNECT);
	assert_int_equal(c->version, RP_MQTT_V311);
	assert_int_equal(c->clean_start, 1);
	assert_int_equal(c->keepalive, 60);
	assert_str(c->client_id, "c");
	assert_ptr_equal(c->client_id.p, connect311_min + 14);
	assert_int_equal(c->will_flag, 0);
	assert_int_equal(c->will_qos, 0);
	assert_int_equal(c->will_retain, 0);
	assert_int_equal(c->has_username, 0);
	assert_int_equal(c->has_password, 0);
	/* Unused under 3.1.1: left empty. */
	assert_int_equal(c->props.present, 0);
	assert_int_equal(c->props.user_prop_count, 0);
	assert_int_equal(c->will_props.present, 0);
}

static void test_connect311_full(void **state)
{
	static const uint8_t pw[] = {0x00, 0xFF, 0x01};
	rp_mqtt_packet pkt;
	const rp_mqtt_connect *c = &pkt.u.connect;

	(void)state;
	VALID(connect311_full, 0);
	DECODE_OK(connect311_full, 0, &pkt);
	assert_int_equal(c->version, RP_MQTT_V311);
	assert_int_equal(c->clean_start, 1);
	assert_int_equal(c->keepalive, 300);
	assert_str(c->client_id, "dev-1");
	assert_int_equal(c->will_flag, 1);
	assert_int_equal(c->will_qos, 1);
	assert_int_equal(c->will_retain, 1);
	assert_str(c->will_topic, "dev/1/status");
	assert_str(c->will_payload, "offline");
	assert_int_equal(c->has_username, 1);
	assert_str(c->username, "user");
	assert_int_equal(c->has_password, 1);
	assert_int_equal(c->password.len, 3);
	assert_memory_equal(c->password.p, pw, 3);
	assert_view_in(c->password, connect311_full);
	assert_view_in(c->will_topic, connect311_full);
}

static void test_connect311_empty_client_id(void **state)
{
	rp_mqtt_packet pkt;

	(void)state;
	VALID(connect311_empty_id, 0);
	DECODE_OK(connect311_empty_id, 0, &pkt);
	assert_int_equal(pkt.u.connect.client_id.len, 0);
	assert_int_equal(pkt.u.connect.keepalive, 0);
}

/* ---- CONNECT 5.0 ------------------------------------------------------- */

static const uint8_t connect5_min[] = {
	0x10, 0x0E,                     /* CONNECT, remaining 14 */
	0x00, 0x04, 'M', 'Q', 'T', 'T', /* protocol name */
	0x05,                           /* protocol level 5 */
	0x02,                           /* clean start */
	0x00, 0x3C,                     /* keep alive 60 */
	0x00,                           /* property length 0 */
	0x00, 0x01, 'c',                /* client id "c" */
};

static const uint8_t connect5_full[] = {
	0x10, 0x88, 0x01,                  /* CONNECT, remaining 136 */
	0x00, 0x04, 'M',  'Q',  'T',  'T', /* protocol name */
	0x05,                              /* protocol level 5 */
	0xD6,                              /* user, pass, will QoS 2, will, clean start */
	0x00, 0x0A,                        /* keep alive 10 */
	0x31,                              /* property length 49 */
	0x11, 0x00, 0x00, 0x0E, 0x10,      /* session expiry 3600 */
	0x15, 0x00, 0x05, 'S',  'C',  'R',  'A',  'M',           /* auth method "SCRAM" */
	0x16, 0x00, 0x02, 0x01, 0x02,                            /* auth data 01 02 */
	0x17, 0x00,                                              /* request problem info 0 */
	0x19, 0x01,                                              /* request response info 1 */
	0x21, 0x00, 0x14,                                        /* receive maximum 20 */
	0x22, 0x00, 0x0A,                                        /* topic alias maximum 10 */
	0x26, 0x00, 0x02, 'k',  '1',  0x00, 0x02, 'v', '1',      /* user property k1=v1 */
	0x26, 0x00, 0x02, 'k',  '2',  0x00, 0x00,                /* user property k2="" */
	0x27, 0x00, 0x01, 0x00, 0x00,                            /* maximum packet size 65536 */
	0x00, 0x08, 'v',  '5',  'c',  'l',  'i',  'e', 'n', 't', /* client id "v5client" */
	0x2B,                                                    /* will property length 43 */
	0x01, 0x01,                   /* payload format indicator 1 (UTF-8) */
	0x02, 0x00, 0x00, 0x00, 0x78, /* message expiry 120 */
	0x03, 0x00, 0x0A, 't',  'e',  'x',  't',  '/', 'p', 'l', 'a', 'i', 'n', /* content type */
	0x08, 0x00, 0x03, 'r',  '/',  '1',                            /* response topic "r/1" */
	0x09, 0x00, 0x02, 0xCA, 0xFE,                                 /* correlation data CA FE */
	0x18, 0x00, 0x00, 0x00, 0x1E,                                 /* will delay 30 */
	0x26, 0x00, 0x01, 'w',  0x00, 0x01, 'x',                      /* user property w=x */
	0x00, 0x09, 'l',  'a',  's',  't',  '/',  'w', 'i', 'l', 'l', /* will topic "last/will" */
	0x00, 0x03, 'b',  'y',  'e',                                  /* will payload "bye" */
	0x00, 0x01, 'u',                                              /* user name "u" */
	0x00, 0x01, 'p',                                              /* password "p" */
};

/* MQTT 5 lets a password come without a user name (3.1.2.9). */
static const uint8_t connect5_pass_no_user[] = {
	0x10, 0x11,                            /* CONNECT, remaining 17 */
	0x00, 0x04, 'M',  'Q', 'T', 'T', 0x05, /* "MQTT" level 5 */
	0x42,                                  /* password, clean start */
	0x00, 0x00,                            /* keep alive 0 */
	0x00,                                  /* no properties */
	0x00, 0x01, 'c',                       /* client id "c" */
	0x00, 0x01, 0x07,                      /* password: 07 */
};

static void test_connect5_min(void **state)
{
	rp_mqtt_packet pkt;

	(void)state;
	VALID(connect5_min, 0);
	VALID(connect5_min, RP_MQTT_V5);
	DECODE_OK(connect5_min, 0, &pkt);
	assert_int_equal(pkt.u.connect.version, RP_MQTT_V5);
	assert_int_equal(pkt.u.connect.props.present, 0);
	assert_int_equal(pkt.u.connect.props.user_prop_count, 0);
	assert_str(pkt.u.connect.client_id, "c");
}

static void test_connect5_full(void **state)
{
	rp_mqtt_packet pkt;
	const rp_mqtt_connect *c = &pkt.u.connect;
	const rp_mqtt_props *p = &c->props;
	const rp_mqtt_props *w = &c->will_props;
	rp_mqtt_str name, value;
	uint32_t cursor = 0;

	(void)state;
	VALID(connect5_full, 0);
	DECODE_OK(connect5_full, 0, &pkt);
	assert_int_equal(c->version, RP_MQTT_V5);
	assert_int_equal(c->clean_start, 1);
	assert_int_equal(c->keepalive, 10);
	assert_int_equal(p->present, RP_MQTT_HAS(RP_MQTT_PROP_SESSION_EXPIRY) |
					     RP_MQTT_HAS(RP_MQTT_PROP_AUTH_METHOD) |
					     RP_MQTT_HAS(RP_MQTT_PROP_AUTH_DATA) |
					     RP_MQTT_HAS(RP_MQTT_PROP_REQUEST_PROBLEM_INFO) |
					     RP_MQTT_HAS(RP_MQTT_PROP_REQUEST_RESPONSE_INFO) |
					     RP_MQTT_HAS(RP_MQTT_PROP_RECEIVE_MAX) |
					     RP_MQTT_HAS(RP_MQTT_PROP_TOPIC_ALIAS_MAX) |
					     RP_MQTT_HAS(RP_MQTT_PROP_MAX_PACKET_SIZE));
	assert_int_equal(p->session_expiry, 3600);
	assert_str(p->auth_method, "SCRAM");
	assert_int_equal(p->auth_data.len, 2);
	assert_int_equal(p->auth_data.p[0], 0x01);
	assert_int_equal(p->auth_data.p[1], 0x02);
	assert_int_equal(p->request_problem_info, 0);
	assert_int_equal(p->request_response_info, 1);
	assert_int_equal(p->receive_max, 20);
	assert_int_equal(p->topic_alias_max, 10);
	assert_int_equal(p->max_packet_size, 65536);
	assert_int_equal(p->user_prop_count, 2);
	assert_null(p->user_props);
	assert_ptr_equal(p->raw, connect5_full + 14);
	assert_int_equal(p->raw_len, 49);
	assert_true(rp_mqtt_props_next(p, RP_MQTT_PROP_USER, &cursor, &name, &value, NULL));
	assert_str(name, "k1");
	assert_str(value, "v1");
	assert_true(rp_mqtt_props_next(p, RP_MQTT_PROP_USER, &cursor, &name, &value, NULL));
	assert_str(name, "k2");
	assert_int_equal(value.len, 0);
	assert_false(rp_mqtt_props_next(p, RP_MQTT_PROP_USER, &cursor, &name, &value, NULL));
	assert_str(c->client_id, "v5client");

	assert_int_equal(c->will_flag, 1);
	assert_int_equal(c->will_qos, 2);
	assert_int_equal(c->will_retain, 0);
	assert_int_equal(w->present, RP_MQTT_HAS(RP_MQTT_PROP_PAYLOAD_FORMAT) |
					     RP_MQTT_HAS(RP_MQTT_PROP_MESSAGE_EXPIRY) |
					     RP_MQTT_HAS(RP_MQTT_PROP_CONTENT_TYPE) |
					     RP_MQTT_HAS(RP_MQTT_PROP_RESPONSE_TOPIC) |
					     RP_MQTT_HAS(RP_MQTT_PROP_CORRELATION_DATA) |
					     RP_MQTT_HAS(RP_MQTT_PROP_WILL_DELAY));
	assert_int_equal(w->payload_format, 1);
	assert_int_equal(w->message_expiry, 120);
	assert_str(w->content_type, "text/plain");
	assert_str(w->response_topic, "r/1");
	assert_int_equal(w->correlation_data.len, 2);
	assert_int_equal(w->correlation_data.p[0], 0xCA);
	assert_int_equal(w->will_delay, 30);
	assert_int_equal(w->user_prop_count, 1);
	cursor = 0;
	assert_true(rp_mqtt_props_next(w, RP_MQTT_PROP_USER, &cursor, &name, &value, NULL));
	assert_str(name, "w");
	assert_str(value, "x");
	assert_str(c->will_topic, "last/will");
	assert_str(c->will_payload, "bye");
	assert_int_equal(c->has_username, 1);
	assert_str(c->username, "u");
	assert_int_equal(c->has_password, 1);
	assert_str(c->password, "p");
}

static void test_connect5_password_without_user(void **state)
{
	rp_mqtt_packet pkt;

	(void)state;
	VALID(connect5_pass_no_user, 0);
	DECODE_OK(connect5_pass_no_user, 0, &pkt);
	assert_int_equal(pkt.u.connect.has_username, 0);
	assert_int_equal(pkt.u.connect.has_password, 1);
	assert_int_equal(pkt.u.connect.password.len, 1);
}

/* ---- CONNECT: malformed, one test per rule ------------------------------ */

/* 3.1.2.1: the protocol name is "MQTT"; anything else is not ours. */
static void test_connect_bad_protocol_name(void **state)
{
	static const uint8_t mqtx[] = {
		0x10, 0x0D, 0x00, 0x04, 'M',  'Q',  'T', 'X', /* protocol name "MQTX" */
		0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, 'c',
	};
	static const uint8_t lower[] = {
		0x10, 0x0D, 0x00, 0x04, 'm',  'q',  't', 't', /* "mqtt": case matters */
		0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, 'c',
	};
	static const uint8_t short_name[] = {
		0x10, 0x0C, 0x00, 0x03, 'M',  'Q',  'T', /* "MQT" */
		0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, 'c',
	};

	(void)state;
	EXPECT_DECODE(mqtx, 0, RP_E_PROTOCOL_VERSION);
	EXPECT_DECODE(lower, 0, RP_E_PROTOCOL_VERSION);
	EXPECT_DECODE(short_name, 0, RP_E_PROTOCOL_VERSION);
}

/* 3.1.2.2: levels other than 4 and 5 are unsupported (0x84 / return code 1). */
static void test_connect_bad_protocol_level(void **state)
{
	static const uint8_t mqisdp3[] = {
		0x10, 0x0F,                                  /* remaining 15 */
		0x00, 0x06, 'M',  'Q',  'I',  's', 'd', 'p', /* MQTT 3.1 name */
		0x03,                                        /* level 3 */
		0x02, 0x00, 0x3C, 0x00, 0x01, 'c',
	};
	uint8_t wire[sizeof(connect311_min)];
	static const uint8_t levels[] = {0, 1, 2, 3, 6, 7, 0x84, 0xFF};
	size_t i;

	(void)state;
	EXPECT_DECODE(mqisdp3, 0, RP_E_PROTOCOL_VERSION);
	for (i = 0; i < sizeof(levels); i++) {
		memcpy(wire, connect311_min, sizeof(wire));
		wire[8] = levels[i]; /* protocol level */
		EXPECT_DECODE(wire, 0, RP_E_PROTOCOL_VERSION);
	}
	assert_int_equal(rp_mqtt_reason_for(RP_E_PROTOCOL_VERSION), RP_MQTT_RC_UNSUPPORTED_VERSION);
}

/* [MQTT-3.1.2-3]: the reserved flag (bit 0) is 0. */
static void test_connect_reserved_flag(void **state)
{
	static const uint8_t v311[] = {
		0x10, 0x0D, 0x00, 0x04, 'M',
		'Q',  'T',  'T',  0x04, 0x03, /* clean session + reserved bit */
		0x00, 0x3C, 0x00, 0x01, 'c',
	};
	static const uint8_t v5[] = {
		0x10, 0x0E, 0x00, 0x04, 'M',  'Q', 'T', 'T', 0x05, 0x01, /* reserved bit only */
		0x00, 0x3C, 0x00, 0x00, 0x01, 'c',
	};

	(void)state;
	EXPECT_DECODE(v311, 0, RP_E_RESERVED_FLAGS);
	EXPECT_DECODE(v5, 0, RP_E_RESERVED_FLAGS);
	assert_int_equal(rp_mqtt_reason_for(RP_E_RESERVED_FLAGS), RP_MQTT_RC_MALFORMED);
}

/* [MQTT-3.1.2-11]/[MQTT-3.1.2-13]: will flag 0 means will QoS 0. */
static void test_connect_will_qos_without_will(void **state)
{
	static const uint8_t qos1[] = {
		0x10, 0x0D, 0x00, 0x04, 'M',
		'Q',  'T',  'T',  0x04, 0x0A, /* will QoS 1, will flag 0, clean */
		0x00, 0x3C, 0x00, 0x01, 'c',
	};
	static const uint8_t qos2_v5[] = {
		0x10, 0x0E, 0x00, 0x04, 'M',  'Q',
		'T',  'T',  0x05, 0x12, /* will QoS 2, will flag 0, clean */
		0x00, 0x3C, 0x00, 0x00, 0x01, 'c',
	};

	(void)state;
	EXPECT_DECODE(qos1, 0, RP_E_QOS);
	EXPECT_DECODE(qos2_v5, 0, RP_E_QOS);
}

/* [MQTT-3.1.2-15] (3.1.1) / 3.1.2.7: will flag 0 means will retain 0. */
static void test_connect_will_retain_without_will(void **state)
{
	static const uint8_t v311[] = {
		0x10, 0x0D, 0x00, 0x04, 'M',
		'Q',  'T',  'T',  0x04, 0x22, /* will retain, will flag 0, clean */
		0x00, 0x3C, 0x00, 0x01, 'c',
	};
	static const uint8_t v5[] = {
		0x10, 0x0E, 0x00, 0x04, 'M',  'Q',
		'T',  'T',  0x05, 0x20, /* will retain, will flag 0 */
		0x00, 0x3C, 0x00, 0x00, 0x01, 'c',
	};

	(void)state;
	EXPECT_DECODE(v311, 0, RP_E_QOS);
	EXPECT_DECODE(v5, 0, RP_E_QOS);
}

/* [MQTT-3.1.2-12] / 3.1.2.6: will QoS 3 is malformed. */
static void test_connect_will_qos3(void **state)
{
	static const uint8_t v311[] = {
		0x10, 0x13, 0x00, 0x04, 'M', 'Q',  'T',  'T',
		0x04, 0x1E,                                   /* will QoS 3, will flag, clean */
		0x00, 0x3C, 0x00, 0x01, 'c', 0x00, 0x01, 't', /* will topic "t" */
		0x00, 0x01, 'x',                              /* will payload "x" */
	};
	static const uint8_t v5[] = {
		0x10, 0x15, 0x00, 0x04, 'M',  'Q', 'T',
		'T',  0x05, 0x1C,                        /* will QoS 3, will flag */
		0x00, 0x3C, 0x00, 0x00, 0x01, 'c', 0x00, /* will properties: none */
		0x00, 0x01, 't',                         /* will topic "t" */
		0x00, 0x01, 'x',                         /* will payload "x" */
	};

	(void)state;
	EXPECT_DECODE(v311, 0, RP_E_QOS);
	EXPECT_DECODE(v5, 0, RP_E_QOS);
	assert_int_equal(rp_mqtt_reason_for(RP_E_QOS), RP_MQTT_RC_MALFORMED);
}

/*
 * [MQTT-3.1.2-22] (3.1.1 only): a password needs a user name. The header
 * names no status for it; RP_E_QOS ("a QoS/flag combination that is
 * forbidden") is the one it fits.
 */
static void test_connect311_password_without_user(void **state)
{
	static const uint8_t wire[] = {
		0x10, 0x10, 0x00, 0x04, 'M', 'Q',  'T',  'T',
		0x04, 0x42,                                   /* password flag, no user name flag */
		0x00, 0x3C, 0x00, 0x01, 'c', 0x00, 0x01, 'p', /* password "p" */
	};

	(void)state;
	EXPECT_DECODE(wire, 0, RP_E_QOS);
}

/* 1.5.4: the client id is a UTF-8 string: well-formed, no U+0000. */
static void test_connect_client_id_utf8(void **state)
{
	static const uint8_t overlong_nul[] = {
		0x10, 0x0E, 0x00, 0x04, 'M',  'Q',  'T',  'T',
		0x04, 0x02, 0x00, 0x3C, 0x00, 0x02, 0xC0, 0x80, /* client id: overlong U+0000 */
	};
	static const uint8_t nul[] = {
		0x10, 0x0E, 0x00, 0x04, 'M',  'Q',  'T', 'T',
		0x04, 0x02, 0x00, 0x3C, 0x00, 0x02, 'a', 0x00, /* client id: "a" U+0000 */
	};
	static const uint8_t v5_surrogate[] = {
		0x10, 0x10, 0x00, 0x04, 'M',  'Q',  'T',  'T',  0x05,
		0x02, 0x00, 0x3C, 0x00, 0x00, 0x03, 0xED, 0xA0, 0x80, /* client id: U+D800 */
	};

	(void)state;
	EXPECT_DECODE(overlong_nul, 0, RP_E_UTF8);
	EXPECT_DECODE(nul, 0, RP_E_UTF8);
	EXPECT_DECODE(v5_surrogate, 0, RP_E_UTF8);
}

/* [MQTT-3.1.3-11]: the will topic is a topic name (no wildcards, not empty). */
static void test_connect_will_topic(void **state)
{
	static const uint8_t plus[] = {
		0x10, 0x14, 0x00, 0x04, 'M', 'Q',  'T',  'T', 0x04, 0x06, /* will flag, clean */
		0x00, 0x3C, 0x00, 0x01, 'c', 0x00, 0x03, 'a', '/',  '+',  /* will topic "a/+" */
		0x00, 0x00,                                               /* will payload "" */
	};
	static const uint8_t hash[] = {
		0x10, 0x12, 0x00, 0x04, 'M',  'Q', 'T',  'T',  0x04,
		0x06, 0x00, 0x3C, 0x00, 0x01, 'c', 0x00, 0x01, '#', /* will topic "#" */
		0x00, 0x00,
	};
	static const uint8_t empty[] = {
		0x10, 0x11, 0x00, 0x04, 'M',  'Q', 'T',  'T',  0x04,
		0x06, 0x00, 0x3C, 0x00, 0x01, 'c', 0x00, 0x00, /* will topic "" */
		0x00, 0x00,
	};
	static const uint8_t bad_utf8[] = {
		0x10, 0x14, 0x00, 0x04, 'M',  'Q',  'T', 'T',  0x05,
		0x06, 0x00, 0x3C, 0x00, 0x00, 0x01, 'c', 0x00, /* will properties: none */
		0x00, 0x01, 0xFF,                              /* will topic: byte FF */
		0x00, 0x00,
	};
	static const uint8_t ok_empty_payload[] = {
		0x10, 0x12, 0x00, 0x04, 'M',  'Q', 'T',  'T',  0x04,
		0x06, 0x00, 0x3C, 0x00, 0x01, 'c', 0x00, 0x01, 't', /* will topic "t" */
		0x00, 0x00,                                         /* will payload "" */
	};

	(void)state;
	EXPECT_DECODE(plus, 0, RP_E_TOPIC_NAME);
	EXPECT_DECODE(hash, 0, RP_E_TOPIC_NAME);
	EXPECT_DECODE(empty, 0, RP_E_TOPIC_NAME);
	EXPECT_DECODE(bad_utf8, 0, RP_E_UTF8);
	VALID(ok_empty_payload, 0);
}

static void test_connect_username_utf8(void **state)
{
	static const uint8_t wire[] = {
		0x10, 0x12, 0x00, 0x04, 'M', 'Q',  'T',  'T',  0x04, 0x82, /* user name, clean */
		0x00, 0x3C, 0x00, 0x01, 'c', 0x00, 0x03, 0xED, 0xBF, 0xBF, /* user name: U+DFFF */
	};

	(void)state;
	EXPECT_DECODE(wire, 0, RP_E_UTF8);
}

/* A field that runs past the packet is malformed. */
static void test_connect_truncated_fields(void **state)
{
	static const uint8_t client_id_long[] = {
		0x10, 0x0D, 0x00, 0x04, 'M',  'Q',  'T', 'T',
		0x04, 0x02, 0x00, 0x3C, 0x00, 0x05, 'c', /* client id says 5 bytes, has 1 */
	};
	static const uint8_t no_keepalive[] = {
		0x10, 0x08, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, /* ends after flags */
	};
	static const uint8_t no_client_id[] = {
		0x10, 0x0A, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C,
	};
	static const uint8_t missing_password[] = {
		0x10, 0x12, 0x00, 0x04, 'M',
		'Q',  'T',  'T',  0x04, 0xC2, /* user name and password flags */
		0x00, 0x3C, 0x00, 0x01, 'c',
		0x00, 0x03, 'u',  's',  'r', /* user name; the password is missing */
	};
	static const uint8_t missing_will[] = {
		0x10, 0x10, 0x00, 0x04, 'M', 'Q',  'T',  'T', 0x04, 0x06, /* will flag */
		0x00, 0x3C, 0x00, 0x01, 'c', 0x00, 0x01, 't', /* will topic; no will payload */
	};
	static const uint8_t name_cut[] = {
		0x10, 0x03, 0x00, 0x04, 'M', /* protocol name cut short */
	};
	static const uint8_t v5_props_long[] = {
		0x10, 0x0E, 0x00, 0x04, 'M',  'Q',  'T',
		'T',  0x05, 0x02, 0x00, 0x3C, 0x05, /* property length 5: more than is left */
		0x00, 0x01, 'c',
	};
	static const uint8_t v5_prop_value_cut[] = {
		0x10, 0x0F, 0x00, 0x04, 'M',  'Q',  'T',  'T',
		0x05, 0x02, 0x00, 0x3C, 0x02, 0x11, 0x00, /* session expiry with 1 of its 4 bytes */
		0x00, 0x00,                               /* client id "" */
	};
	static const uint8_t v5_no_props[] = {
		0x10, 0x0A, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3C,
	};

	(void)state;
	EXPECT_DECODE(client_id_long, 0, RP_E_MALFORMED);
	EXPECT_DECODE(no_keepalive, 0, RP_E_MALFORMED);
	EXPECT_DECODE(no_client_id, 0, RP_E_MALFORMED);
	EXPECT_DECODE(missing_password, 0, RP_E_MALFORMED);
	EXPECT_DECODE(missing_will, 0, RP_E_MALFORMED);
	EXPECT_DECODE(name_cut, 0, RP_E_MALFORMED);
	EXPECT_DECODE(v5_props_long, 0, RP_E_MALFORMED);
	EXPECT_DECODE(v5_prop_value_cut, 0, RP_E_MALFORMED);
	EXPECT_DECODE(v5_no_props, 0, RP_E_MALFORMED);
	assert_int_equal(rp_mqtt_reason_for(RP_E_MALFORMED), RP_MQTT_RC_MALFORMED);
}

static void test_connect_trailing(void **state)
{
	static const uint8_t v311[] = {
		0x10, 0x0E, 0x00, 0x04, 'M',  'Q',  'T', 'T',
		0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, 'c', 0x00, /* one byte after the client id */
	};
	static const uint8_t v311_user_unflagged[] = {
		0x10, 0x10, 0x00, 0x04, 'M', 'Q',  'T',  'T', 0x04, 0x02, /* no user name flag... */
		0x00, 0x3C, 0x00, 0x01, 'c', 0x00, 0x01, 'u',             /* ...but a user name */
	};

	(void)state;
	EXPECT_DECODE(v311, 0, RP_E_TRAILING);
	EXPECT_DECODE(v311_user_unflagged, 0, RP_E_TRAILING);
	assert_int_equal(rp_mqtt_reason_for(RP_E_TRAILING), RP_MQTT_RC_MALFORMED);
}

/* CONNECT-specific property rules (the full matrix is in test_mqtt_props.c). */
static void test_connect5_property_rules(void **state)
{
	static const uint8_t topic_alias[] = {
		0x10, 0x11, 0x00, 0x04, 'M',  'Q',  'T',  'T',
		0x05, 0x02, 0x00, 0x3C, 0x03, 0x23, 0x00, 0x01, /* topic alias: not in CONNECT */
		0x00, 0x01, 'c',
	};
	static const uint8_t receive_max_0[] = {
		0x10, 0x11, 0x00, 0x04, 'M',  'Q',  'T',  'T',
		0x05, 0x02, 0x00, 0x3C, 0x03, 0x21, 0x00, 0x00, /* receive maximum 0 [3.1.2.11.3] */
		0x00, 0x01, 'c',
	};
	static const uint8_t max_packet_0[] = {
		0x10, 0x13, 0x00, 0x04, 'M',  'Q',  'T',  'T',  0x05, 0x02,
		0x00, 0x3C, 0x05, 0x27, 0x00, 0x00, 0x00, 0x00, /* maximum packet size 0
								   [3.1.2.11.4] */
		0x00, 0x01, 'c',
	};
	static const uint8_t problem_info_2[] = {
		0x10, 0x10, 0x00, 0x04, 'M',  'Q',  'T',  'T',
		0x05, 0x02, 0x00, 0x3C, 0x02, 0x17, 0x02, /* request problem information 2 */
		0x00, 0x01, 'c',
	};
	static const uint8_t response_info_2[] = {
		0x10, 0x10, 0x00, 0x04, 'M',  'Q',  'T',  'T',
		0x05, 0x02, 0x00, 0x3C, 0x02, 0x19, 0x02, /* request response information 2 */
		0x00, 0x01, 'c',
	};
	static const uint8_t session_expiry_twice[] = {
		0x10, 0x18, 0x00, 0x04, 'M',  'Q',  'T',  'T',  0x05,
		0x02, 0x00, 0x3C, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x01, /* session expiry 1 */
		0x11, 0x00, 0x00, 0x00, 0x02,                         /* session expiry again */
		0x00, 0x01, 'c',
	};
	static const uint8_t auth_data_no_method[] = {
		0x10, 0x12, 0x00, 0x04, 'M',  'Q',  'T',  'T',  0x05,
		0x02, 0x00, 0x3C, 0x04, 0x16, 0x00, 0x01, 0xAA, /* auth data without auth method */
		0x00, 0x01, 'c',
	};
	static const uint8_t will_session_expiry[] = {
		0x10, 0x19, 0x00, 0x04, 'M',  'Q',  'T',  'T',  0x05, 0x06, 0x00, 0x3C,
		0x00, 0x00, 0x01, 'c',  0x05, 0x11, 0x00, 0x00, 0x00, 0x01, /* will props: session
									       expiry (not allowed)
									     */
		0x00, 0x01, 't',  0x00, 0x00,
	};
	static const uint8_t will_pfi_bad_payload[] = {
		0x10, 0x18, 0x00, 0x04, 'M',  'Q', 'T',  'T',  0x05, 0x06,
		0x00, 0x3C, 0x00, 0x00, 0x01, 'c', 0x02, 0x01, 0x01, /* will props: payload format 1
									(UTF-8) */
		0x00, 0x01, 't',                                     /* will topic "t" */
		0x00, 0x02, 0xC3, 0x28, /* will payload: invalid UTF-8 */
	};
	static const uint8_t will_pfi_0_binary[] = {
		0x10, 0x18, 0x00, 0x04, 'M',  'Q',  'T',  'T',  0x05, 0x06,
		0x00, 0x3C, 0x00, 0x00, 0x01, 'c',  0x02, 0x01, 0x00, /* will props: payload format
									 0 */
		0x00, 0x01, 't',  0x00, 0x02, 0xC3, 0x28, /* binary will payload: fine */
	};
	static const uint8_t will_pfi_2[] = {
		0x10, 0x16, 0x00, 0x04, 'M',  'Q', 'T',  'T',  0x05, 0x06,
		0x00, 0x3C, 0x00, 0x00, 0x01, 'c', 0x02, 0x01, 0x02, /* will props: payload format 2
								      */
		0x00, 0x01, 't',  0x00, 0x00,
	};

	(void)state;
	EXPECT_DECODE(topic_alias, 0, RP_E_PROPERTY);
	EXPECT_DECODE(receive_max_0, 0, RP_E_PROPERTY_VALUE);
	EXPECT_DECODE(max_packet_0, 0, RP_E_PROPERTY_VALUE);
	EXPECT_DECODE(problem_info_2, 0, RP_E_PROPERTY_VALUE);
	EXPECT_DECODE(response_info_2, 0, RP_E_PROPERTY_VALUE);
	EXPECT_DECODE(session_expiry_twice, 0, RP_E_PROPERTY_DUP);
	EXPECT_DECODE(auth_data_no_method, 0, RP_E_PROTOCOL);
	EXPECT_DECODE(will_session_expiry, 0, RP_E_PROPERTY);
	EXPECT_DECODE(will_pfi_bad_payload, 0, RP_E_PAYLOAD_FORMAT);
	VALID(will_pfi_0_binary, 0);
	EXPECT_DECODE(will_pfi_2, 0, RP_E_PROPERTY_VALUE);
}

/* ---- CONNECT: encode --------------------------------------------------- */

static void test_connect_roundtrip_311(void **state)
{
	static const uint8_t pw[] = {0x00, 0x01, 0xFE};
	rp_mqtt_packet pkt, got;
	rp_mqtt_connect *c = &pkt.u.connect;
	uint8_t out[256];

	(void)state;
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = RP_MQTT_CONNECT;
	c->version = RP_MQTT_V311;
	c->clean_start = 0;
	c->keepalive = 0xFFFF;
	c->client_id = TU_STR("sensor-42");
	c->will_flag = 1;
	c->will_qos = 2;
	c->will_retain = 1;
	c->will_topic = TU_STR("sensors/42/lwt");
	c->will_payload = TU_STR("gone");
	c->has_username = 1;
	c->username = TU_STR("alice");
	c->has_password = 1;
	c->password.p = pw;
	c->password.len = sizeof(pw);

	/* The version argument is ignored for CONNECT. */
	ROUNDTRIP(&pkt, RP_MQTT_V5, out, &got);
	assert_int_equal(out[0], 0x10);
	assert_int_equal(out[8], RP_MQTT_V311); /* protocol level */
	assert_int_equal(out[9], 0xF4);         /* user, pass, retain, QoS 2, will */
	assert_int_equal(got.u.connect.version, RP_MQTT_V311);
	assert_int_equal(got.u.connect.clean_start, 0);
	assert_int_equal(got.u.connect.keepalive, 0xFFFF);
	assert_view_eq(got.u.connect.client_id, c->client_id);
	assert_int_equal(got.u.connect.will_flag, 1);
	assert_int_equal(got.u.connect.will_qos, 2);
	assert_int_equal(got.u.connect.will_retain, 1);
	assert_view_eq(got.u.connect.will_topic, c->will_topic);
	assert_view_eq(got.u.connect.will_payload, c->will_payload);
	assert_view_eq(got.u.connect.username, c->username);
	assert_view_eq(got.u.connect.password, c->password);
}

static void test_connect_roundtrip_5(void **state)
{
	static const rp_mqtt_user_prop ups[] = {
		{{(const uint8_t *)"region", 6}, {(const uint8_t *)"eu", 2}},
		{{(const uint8_t *)"region", 6}, {(const uint8_t *)"us", 2}}, /* repeats kept */
	};
	static const rp_mqtt_user_prop wups[] = {
		{{(const uint8_t *)"why", 3}, {(const uint8_t *)"power", 5}},
	};
	rp_mqtt_packet pkt, got;
	rp_mqtt_connect *c = &pkt.u.connect;
	uint8_t out[512];

	(void)state;
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = RP_MQTT_CONNECT;
	c->version = RP_MQTT_V5;
	c->clean_start = 1;
	c->keepalive = 30;
	c->props.present =
		RP_MQTT_HAS(RP_MQTT_PROP_SESSION_EXPIRY) | RP_MQTT_HAS(RP_MQTT_PROP_RECEIVE_MAX) |
		RP_MQTT_HAS(RP_MQTT_PROP_MAX_PACKET_SIZE) |
		RP_MQTT_HAS(RP_MQTT_PROP_TOPIC_ALIAS_MAX) |
		RP_MQTT_HAS(RP_MQTT_PROP_REQUEST_RESPONSE_INFO) |
		RP_MQTT_HAS(RP_MQTT_PROP_REQUEST_PROBLEM_INFO) |
		RP_MQTT_HAS(RP_MQTT_PROP_AUTH_METHOD) | RP_MQTT_HAS(RP_MQTT_PROP_AUTH_DATA);
	c->props.session_expiry = 0xFFFFFFFFu;
	c->props.receive_max = 65535;
	c->props.max_packet_size = 268435460u;
	c->props.topic_alias_max = 0;
	c->props.request_response_info = 1;
	c->props.request_problem_info = 0;
	c->props.auth_method = TU_STR("PLAIN");
	c->props.auth_data = TU_STR("\x00secret");
	c->props.user_props = ups;
	c->props.user_prop_count = 2;
	c->client_id = TU_NSTR; /* empty, with clean start */
	c->will_flag = 1;
	c->will_qos = 1;
	c->will_props.present =
		RP_MQTT_HAS(RP_MQTT_PROP_WILL_DELAY) | RP_MQTT_HAS(RP_MQTT_PROP_PAYLOAD_FORMAT) |
		RP_MQTT_HAS(RP_MQTT_PROP_MESSAGE_EXPIRY) | RP_MQTT_HAS(RP_MQTT_PROP_CONTENT_TYPE) |
		RP_MQTT_HAS(RP_MQTT_PROP_RESPONSE_TOPIC) |
		RP_MQTT_HAS(RP_MQTT_PROP_CORRELATION_DATA);
	c->will_props.will_delay = 60;
	c->will_props.payload_format = 1;
	c->will_props.message_expiry = 3600;
	c->will_props.content_type = TU_STR("application/json");
	c->will_props.response_topic = TU_STR("resp/42");
	c->will_props.correlation_data = TU_STR("\xde\xad");
	c->will_props.user_props = wups;
	c->will_props.user_prop_count = 1;
	c->will_topic = TU_STR("lwt/42");
	c->will_payload = TU_STR("{\"state\":\"\xc3\xa9teint\"}");
	c->has_password = 1; /* without a user name: fine in MQTT 5 */
	c->password = TU_STR("pw");

	ROUNDTRIP(&pkt, RP_MQTT_V5, out, &got);
	assert_int_equal(got.u.connect.version, RP_MQTT_V5);
	assert_int_equal(got.u.connect.clean_start, 1);
	assert_int_equal(got.u.connect.keepalive, 30);
	tu_assert_props_eq(&c->props, &got.u.connect.props);
	assert_int_equal(got.u.connect.client_id.len, 0);
	assert_int_equal(got.u.connect.will_flag, 1);
	assert_int_equal(got.u.connect.will_qos, 1);
	assert_int_equal(got.u.connect.will_retain, 0);
	tu_assert_props_eq(&c->will_props, &got.u.connect.will_props);
	assert_view_eq(got.u.connect.will_topic, c->will_topic);
	assert_view_eq(got.u.connect.will_payload, c->will_payload);
	assert_int_equal(got.u.connect.has_username, 0);
	assert_int_equal(got.u.connect.has_password, 1);
	assert_view_eq(got.u.connect.password, c->password);
}

static void base_connect(rp_mqtt_packet *pkt, uint8_t version)
{
	memset(pkt, 0, sizeof(*pkt));
	pkt->type = RP_MQTT_CONNECT;
	pkt->u.connect.version = version;
	pkt->u.connect.clean_start = 1;
	pkt->u.connect.client_id = TU_STR("c");
}

static void test_connect_encoder_refuses(void **state)
{
	rp_mqtt_packet pkt;

	(void)state;
	base_connect(&pkt, RP_MQTT_V311);
	EXPECT_ENCODE(&pkt, 0, RP_OK);

	/* Properties under 3.1.1. */
	pkt.u.connect.props.present = RP_MQTT_HAS(RP_MQTT_PROP_SESSION_EXPIRY);
	EXPECT_ENCODE(&pkt, 0, RP_E_PROPERTY);
	base_connect(&pkt, RP_MQTT_V311);
	pkt.u.connect.props.user_prop_count = 1;
	pkt.u.connect.props.user_props = (const rp_mqtt_user_prop[]){{TU_STR("a"), TU_STR("b")}};
	EXPECT_ENCODE(&pkt, 0, RP_E_PROPERTY);

	/* Unsupported versions. */
	base_connect(&pkt, 3);
	EXPECT_ENCODE(&pkt, 0, RP_E_PROTOCOL_VERSION);
	base_connect(&pkt, 6);
	EXPECT_ENCODE(&pkt, 0, RP_E_PROTOCOL_VERSION);

	/* Will QoS 3; will QoS or retain without the will flag. */
	base_connect(&pkt, RP_MQTT_V5);
	pkt.u.connect.will_flag = 1;
	pkt.u.connect.will_topic = TU_STR("t");
	pkt.u.connect.will_qos = 3;
	EXPECT_ENCODE(&pkt, 0, RP_E_QOS);
	base_connect(&pkt, RP_MQTT_V5);
	pkt.u.connect.will_qos = 1;
	EXPECT_ENCODE(&pkt, 0, RP_E_QOS);
	base_connect(&pkt, RP_MQTT_V311);
	pkt.u.connect.will_retain = 1;
	EXPECT_ENCODE(&pkt, 0, RP_E_QOS);

	/* A will topic with a wildcard. */
	base_connect(&pkt, RP_MQTT_V311);
	pkt.u.connect.will_flag = 1;
	pkt.u.connect.will_topic = TU_STR("a/#");
	EXPECT_ENCODE(&pkt, 0, RP_E_TOPIC_NAME);

	/* Password without user name under 3.1.1. */
	base_connect(&pkt, RP_MQTT_V311);
	pkt.u.connect.has_password = 1;
	pkt.u.connect.password = TU_STR("p");
	EXPECT_ENCODE(&pkt, 0, RP_E_QOS);

	/* Client id that is not UTF-8. */
	base_connect(&pkt, RP_MQTT_V5);
	pkt.u.connect.client_id = TU_STR("\xc0\xaf");
	EXPECT_ENCODE(&pkt, 0, RP_E_UTF8);

	/* A CONNACK-only property in CONNECT. */
	base_connect(&pkt, RP_MQTT_V5);
	pkt.u.connect.props.present = RP_MQTT_HAS(RP_MQTT_PROP_MAX_QOS);
	EXPECT_ENCODE(&pkt, 0, RP_E_PROPERTY);

	/* Receive maximum 0. */
	base_connect(&pkt, RP_MQTT_V5);
	pkt.u.connect.props.present = RP_MQTT_HAS(RP_MQTT_PROP_RECEIVE_MAX);
	pkt.u.connect.props.receive_max = 0;
	EXPECT_ENCODE(&pkt, 0, RP_E_PROPERTY_VALUE);

	/* Will payload marked UTF-8 that is not. */
	base_connect(&pkt, RP_MQTT_V5);
	pkt.u.connect.will_flag = 1;
	pkt.u.connect.will_topic = TU_STR("t");
	pkt.u.connect.will_props.present = RP_MQTT_HAS(RP_MQTT_PROP_PAYLOAD_FORMAT);
	pkt.u.connect.will_props.payload_format = 1;
	pkt.u.connect.will_payload = TU_STR("\xff");
	EXPECT_ENCODE(&pkt, 0, RP_E_PAYLOAD_FORMAT);

	/* NULL arguments. */
	{
		rp_mqtt_limits lim = tu_limits();
		uint8_t out[64];
		size_t n;

		base_connect(&pkt, RP_MQTT_V5);
		assert_status(rp_mqtt_encoded_size(NULL, 0, &lim, &n), RP_E_INVALID_ARG);
		assert_status(rp_mqtt_encoded_size(&pkt, 0, NULL, &n), RP_E_INVALID_ARG);
		assert_status(rp_mqtt_encoded_size(&pkt, 0, &lim, NULL), RP_E_INVALID_ARG);
		assert_status(rp_mqtt_encode(NULL, 0, &lim, out, sizeof(out), &n),
			      RP_E_INVALID_ARG);
		assert_status(rp_mqtt_encode(&pkt, 0, NULL, out, sizeof(out), &n),
			      RP_E_INVALID_ARG);
		assert_status(rp_mqtt_encode(&pkt, 0, &lim, NULL, sizeof(out), &n),
			      RP_E_INVALID_ARG);
		assert_status(rp_mqtt_encode(&pkt, 0, &lim, out, sizeof(out), NULL),
			      RP_E_INVALID_ARG);
	}
}

/* ---- CONNACK ----------------------------------------------------------- */

static const uint8_t connack311_ok[] = {
	0x20, 0x02, /* CONNACK, remaining 2 */
	0x00,       /* acknowledge flags: no session */
	0x00,       /* return code 0: accepted */
};

static const uint8_t connack311_session[] = {
	0x20, 0x02, 0x01, /* session present */
	0x00,             /* accepted */
};

static const uint8_t connack311_refused[] = {
	0x20, 0x02, 0x00, 0x05, /* return code 5: not authorized */
};

static const uint8_t connack5_min[] = {
	0x20, 0x03, /* CONNACK, remaining 3 */
	0x00,       /* no session */
	0x00,       /* reason: success */
	0x00,       /* property length 0 */
};

static const uint8_t connack5_full[] = {
	0x20, 0x51,                                        /* CONNACK, remaining 81 */
	0x01,                                              /* session present */
	0x00,                                              /* success */
	0x4E,                                              /* property length 78 */
	0x11, 0x00, 0x00, 0x00, 0x00,                      /* session expiry 0 */
	0x12, 0x00, 0x06, 'a',  'u',  't',  'o', '-', '1', /* assigned client id */
	0x13, 0x00, 0x1E,                                  /* server keep alive 30 */
	0x15, 0x00, 0x05, 'S',  'C',  'R',  'A', 'M',      /* auth method */
	0x16, 0x00, 0x01, 0x00,                            /* auth data 00 */
	0x1A, 0x00, 0x05, 'r',  'e',  's',  'p', '/',      /* response information */
	0x1C, 0x00, 0x05, 'o',  't',  'h',  'e', 'r',      /* server reference */
	0x1F, 0x00, 0x02, 'o',  'k',                       /* reason string */
	0x21, 0x00, 0x64,                                  /* receive maximum 100 */
	0x22, 0x00, 0x00,                                  /* topic alias maximum 0 (allowed) */
	0x24, 0x01,                                        /* maximum QoS 1 */
	0x25, 0x00,                                        /* retain available 0 */
	0x26, 0x00, 0x01, 'a',  0x00, 0x01, 'b',           /* user property a=b */
	0x27, 0x00, 0x00, 0x04, 0x00,                      /* maximum packet size 1024 */
	0x28, 0x01,                                        /* wildcard subscription available */
	0x29, 0x00,                                        /* subscription ids not available */
	0x2A, 0x01,                                        /* shared subscription available */
};

static const uint8_t connack5_refused[] = {
	0x20, 0x08,                 /* CONNACK, remaining 8 */
	0x00,                       /* no session */
	0x9C,                       /* use another server */
	0x05,                       /* property length 5 */
	0x1C, 0x00, 0x02, 's', '2', /* server reference "s2" */
};

static void test_connack311(void **state)
{
	rp_mqtt_packet pkt;

	(void)state;
	VALID(connack311_ok, RP_MQTT_V311);
	VALID(connack311_session, RP_MQTT_V311);
	VALID(connack311_refused, RP_MQTT_V311);
	DECODE_OK(connack311_session, RP_MQTT_V311, &pkt);
	assert_int_equal(pkt.type, RP_MQTT_CONNACK);
	assert_int_equal(pkt.u.connack.session_present, 1);
	assert_int_equal(pkt.u.connack.reason_code, 0);
	assert_int_equal(pkt.u.connack.props.present, 0);
	DECODE_OK(connack311_refused, RP_MQTT_V311, &pkt);
	assert_int_equal(pkt.u.connack.session_present, 0);
	assert_int_equal(pkt.u.connack.reason_code, RP_MQTT311_CONNACK_NOT_AUTHORIZED);
}

static void test_connack5(void **state)
{
	rp_mqtt_packet pkt;
	const rp_mqtt_props *p = &pkt.u.connack.props;
	rp_mqtt_str name, value;
	uint32_t cursor = 0;

	(void)state;
	VALID(connack5_min, RP_MQTT_V5);
	VALID(connack5_full, RP_MQTT_V5);
	VALID(connack5_refused, RP_MQTT_V5);
	DECODE_OK(connack5_min, RP_MQTT_V5, &pkt);
	assert_int_equal(pkt.u.connack.session_present, 0);
	assert_int_equal(pkt.u.connack.reason_code, 0);
	assert_int_equal(p->present, 0);

	DECODE_OK(connack5_full, RP_MQTT_V5, &pkt);
	assert_int_equal(pkt.u.connack.session_present, 1);
	assert_int_equal(pkt.u.connack.reason_code, 0);
	assert_int_equal(p->present,
			 RP_MQTT_HAS(0x11) | RP_MQTT_HAS(0x12) | RP_MQTT_HAS(0x13) |
				 RP_MQTT_HAS(0x15) | RP_MQTT_HAS(0x16) | RP_MQTT_HAS(0x1A) |
				 RP_MQTT_HAS(0x1C) | RP_MQTT_HAS(0x1F) | RP_MQTT_HAS(0x21) |
				 RP_MQTT_HAS(0x22) | RP_MQTT_HAS(0x24) | RP_MQTT_HAS(0x25) |
				 RP_MQTT_HAS(0x27) | RP_MQTT_HAS(0x28) | RP_MQTT_HAS(0x29) |
				 RP_MQTT_HAS(0x2A));
	assert_int_equal(p->session_expiry, 0);
	assert_str(p->assigned_client_id, "auto-1");
	assert_int_equal(p->server_keepalive, 30);
	assert_str(p->auth_method, "SCRAM");
	assert_int_equal(p->auth_data.len, 1);
	assert_int_equal(p->auth_data.p[0], 0);
	assert_str(p->response_info, "resp/");
	assert_str(p->server_reference, "other");
	assert_str(p->reason_string, "ok");
	assert_int_equal(p->receive_max, 100);
	assert_int_equal(p->topic_alias_max, 0);
	assert_int_equal(p->max_qos, 1);
	assert_int_equal(p->retain_available, 0);
	assert_int_equal(p->max_packet_size, 1024);
	assert_int_equal(p->wildcard_sub_available, 1);
	assert_int_equal(p->sub_id_available, 0);
	assert_int_equal(p->shared_sub_available, 1);
	assert_int_equal(p->user_prop_count, 1);
	assert_true(rp_mqtt_props_next(p, RP_MQTT_PROP_USER, &cursor, &name, &value, NULL));
	assert_str(name, "a");
	assert_str(value, "b");
	assert_false(rp_mqtt_props_next(p, RP_MQTT_PROP_USER, &cursor, &name, &value, NULL));

	DECODE_OK(connack5_refused, RP_MQTT_V5, &pkt);
	assert_int_equal(pkt.u.connack.reason_code, RP_MQTT_RC_USE_ANOTHER_SERVER);
	assert_str(p->server_reference, "s2");
}

static void test_connack_malformed(void **state)
{
	static const uint8_t flags_reserved_311[] = {0x20, 0x02, 0x02, 0x00};
	static const uint8_t flags_reserved_5[] = {0x20, 0x03, 0x80, 0x00, 0x00};
	static const uint8_t session_refused_311[] = {
		0x20, 0x02, 0x01, /* session present... */
		0x02,             /* ...with return code 2 [MQTT-3.2.2-4] */
	};
	static const uint8_t session_refused_5[] = {
		0x20, 0x03, 0x01, /* session present... */
		0x87, 0x00,       /* ...with reason 0x87 [MQTT-3.2.2-6] */
	};
	static const uint8_t short_311[] = {0x20, 0x01, 0x00};
	static const uint8_t trailing_311[] = {0x20, 0x03, 0x00, 0x00, 0x00};
	static const uint8_t no_props_5[] = {0x20, 0x02, 0x00, 0x00}; /* property length missing */
	static const uint8_t trailing_5[] = {0x20, 0x04, 0x00, 0x00, 0x00, 0x00};
	static const uint8_t max_qos_2[] = {0x20, 0x05, 0x00, 0x00, 0x02, 0x24, 0x02};
	static const uint8_t topic_alias_in_connack[] = {
		0x20, 0x06, 0x00, 0x00, 0x03, 0x23, 0x00, 0x01, /* topic alias */
	};
	static const uint8_t will_delay_in_connack[] = {
		0x20, 0x08, 0x00, 0x00, 0x05, 0x18, 0x00, 0x00, 0x00, 0x01,
	};

	(void)state;
	EXPECT_DECODE(flags_reserved_311, RP_MQTT_V311, RP_E_RESERVED_FLAGS);
	EXPECT_DECODE(flags_reserved_5, RP_MQTT_V5, RP_E_RESERVED_FLAGS);
	EXPECT_DECODE(session_refused_311, RP_MQTT_V311, RP_E_PROTOCOL);
	EXPECT_DECODE(session_refused_5, RP_MQTT_V5, RP_E_PROTOCOL);
	EXPECT_DECODE(short_311, RP_MQTT_V311, RP_E_MALFORMED);
	EXPECT_DECODE(trailing_311, RP_MQTT_V311, RP_E_TRAILING);
	EXPECT_DECODE(no_props_5, RP_MQTT_V5, RP_E_MALFORMED);
	EXPECT_DECODE(trailing_5, RP_MQTT_V5, RP_E_TRAILING);
	EXPECT_DECODE(max_qos_2, RP_MQTT_V5, RP_E_PROPERTY_VALUE);
	EXPECT_DECODE(topic_alias_in_connack, RP_MQTT_V5, RP_E_PROPERTY);
	EXPECT_DECODE(will_delay_in_connack, RP_MQTT_V5, RP_E_PROPERTY);
}

/* Return codes 0..5 (3.1.1, 3.2.2.3); reason codes of MQTT 5 3.2.2.2. */
static void test_connack_reason_codes(void **state)
{
	static const uint8_t v5_ok[] = {
		0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
		0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
	};
	unsigned rc;

	(void)state;
	for (rc = 0; rc < 256; rc++) {
		uint8_t w311[] = {0x20, 0x02, 0x00, (uint8_t)rc};
		uint8_t w5[] = {0x20, 0x03, 0x00, (uint8_t)rc, 0x00};
		int ok5 = memchr(v5_ok, (int)rc, sizeof(v5_ok)) != NULL;

		if (rc <= 5) {
			EXPECT_DECODE(w311, RP_MQTT_V311, RP_OK);
		} else {
			EXPECT_DECODE(w311, RP_MQTT_V311, RP_E_REASON_CODE);
		}
		if (ok5) {
			EXPECT_DECODE(w5, RP_MQTT_V5, RP_OK);
		} else {
			EXPECT_DECODE(w5, RP_MQTT_V5, RP_E_REASON_CODE);
		}
	}
}

static void test_connack_roundtrip(void **state)
{
	static const rp_mqtt_user_prop up[] = {
		{{(const uint8_t *)"x", 1}, {(const uint8_t *)"y", 1}}};
	rp_mqtt_packet pkt, got;
	uint8_t out[256];

	(void)state;
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = RP_MQTT_CONNACK;
	pkt.u.connack.session_present = 1;
	ROUNDTRIP(&pkt, RP_MQTT_V311, out, &got);
	assert_int_equal(got.u.connack.session_present, 1);
	assert_int_equal(out[0], 0x20);
	assert_int_equal(out[1], 0x02);

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = RP_MQTT_CONNACK;
	pkt.u.connack.reason_code = RP_MQTT_RC_BAD_AUTH_METHOD;
	pkt.u.connack.props.present = RP_MQTT_HAS(RP_MQTT_PROP_REASON_STRING) |
				      RP_MQTT_HAS(RP_MQTT_PROP_MAX_QOS) |
				      RP_MQTT_HAS(RP_MQTT_PROP_SERVER_KEEPALIVE) |
				      RP_MQTT_HAS(RP_MQTT_PROP_ASSIGNED_CLIENT_ID) |
				      RP_MQTT_HAS(RP_MQTT_PROP_RESPONSE_INFO);
	pkt.u.connack.props.reason_string = TU_STR("use SCRAM");
	pkt.u.connack.props.max_qos = 0;
	pkt.u.connack.props.server_keepalive = 0;
	pkt.u.connack.props.assigned_client_id = TU_STR("gen-\xe2\x82\xac");
	pkt.u.connack.props.response_info = TU_STR("");
	pkt.u.connack.props.user_props = up;
	pkt.u.connack.props.user_prop_count = 1;
	ROUNDTRIP(&pkt, RP_MQTT_V5, out, &got);
	assert_int_equal(got.u.connack.session_present, 0);
	assert_int_equal(got.u.connack.reason_code, RP_MQTT_RC_BAD_AUTH_METHOD);
	tu_assert_props_eq(&pkt.u.connack.props, &got.u.connack.props);

	/* The encoder refuses what the decoder refuses. */
	pkt.u.connack.session_present = 1; /* with a failure code */
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_PROTOCOL);
	pkt.u.connack.session_present = 0;
	pkt.u.connack.reason_code = RP_MQTT_RC_GRANTED_QOS1; /* not a CONNACK code */
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_REASON_CODE);
	pkt.u.connack.reason_code = 0;
	EXPECT_ENCODE(&pkt, RP_MQTT_V311, RP_E_PROPERTY); /* properties under 3.1.1 */
	memset(&pkt.u.connack.props, 0, sizeof(pkt.u.connack.props));
	pkt.u.connack.reason_code = 6;
	EXPECT_ENCODE(&pkt, RP_MQTT_V311, RP_E_REASON_CODE);
	pkt.u.connack.reason_code = 0;
	pkt.u.connack.props.present = RP_MQTT_HAS(RP_MQTT_PROP_RETAIN_AVAILABLE);
	pkt.u.connack.props.retain_available = 2;
	EXPECT_ENCODE(&pkt, RP_MQTT_V5, RP_E_PROPERTY_VALUE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect311_min),
		cmocka_unit_test(test_connect311_full),
		cmocka_unit_test(test_connect311_empty_client_id),
		cmocka_unit_test(test_connect5_min),
		cmocka_unit_test(test_connect5_full),
		cmocka_unit_test(test_connect5_password_without_user),
		cmocka_unit_test(test_connect_bad_protocol_name),
		cmocka_unit_test(test_connect_bad_protocol_level),
		cmocka_unit_test(test_connect_reserved_flag),
		cmocka_unit_test(test_connect_will_qos_without_will),
		cmocka_unit_test(test_connect_will_retain_without_will),
		cmocka_unit_test(test_connect_will_qos3),
		cmocka_unit_test(test_connect311_password_without_user),
		cmocka_unit_test(test_connect_client_id_utf8),
		cmocka_unit_test(test_connect_will_topic),
		cmocka_unit_test(test_connect_username_utf8),
		cmocka_unit_test(test_connect_truncated_fields),
		cmocka_unit_test(test_connect_trailing),
		cmocka_unit_test(test_connect5_property_rules),
		cmocka_unit_test(test_connect_roundtrip_311),
		cmocka_unit_test(test_connect_roundtrip_5),
		cmocka_unit_test(test_connect_encoder_refuses),
		cmocka_unit_test(test_connack311),
		cmocka_unit_test(test_connack5),
		cmocka_unit_test(test_connack_malformed),
		cmocka_unit_test(test_connack_reason_codes),
		cmocka_unit_test(test_connack_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
