/*
 * test_mqtt_frame.c - incremental framing: rp_mqtt_frame_parse() and the
 * framing done by rp_mqtt_decode().
 *
 * Rules (MQTT 3.1.1 / 5.0 section 2.1 and 1.5.5):
 * - type 0 is reserved; AUTH (15) does not exist in 3.1.1;
 * - fixed-header flags are fixed per type (0010 for PUBREL, SUBSCRIBE,
 *   UNSUBSCRIBE; 0000 otherwise), except PUBLISH where QoS 3 and DUP on
 *   QoS 0 are forbidden [MQTT-2.1.3-1], [MQTT-3.3.1-4], [MQTT-3.3.1-2];
 * - the remaining length is 1..4 bytes, minimally encoded [MQTT-1.5.5-1];
 * - a partial buffer gives RP_NEED_MORE and the missing count (exact once
 *   the header is complete); too-large packets are refused from the header.
 */
#include "mqtt_test_util.h"

static uint8_t required_flags(uint8_t type)
{
	return (type == RP_MQTT_PUBREL || type == RP_MQTT_SUBSCRIBE || type == RP_MQTT_UNSUBSCRIBE)
		       ? 2u
		       : 0u;
}

/* Every type but PUBLISH: only its one flag value is accepted. */
static void test_fixed_flags_per_type(void **state)
{
	uint8_t type, flags;

	(void)state;
	for (type = 1; type <= 15; type++) {
		if (type == RP_MQTT_PUBLISH) {
			continue;
		}
		for (flags = 0; flags < 16; flags++) {
			uint8_t buf[2] = {(uint8_t)(type << 4 | flags), 0x00};
			rp_mqtt_frame fr;
			size_t need = 0;
			rp_status st = rp_mqtt_frame_parse(buf, sizeof(buf), RP_MQTT_V5,
							   RP_LIMIT_MQTT_PACKET, &fr, &need);

			if (flags == required_flags(type)) {
				assert_status(st, RP_OK);
				assert_int_equal(fr.type, type);
				assert_int_equal(fr.flags, flags);
				assert_int_equal(fr.header_len, 2);
				assert_int_equal(fr.remaining, 0);
				assert_int_equal(fr.total, 2);
			} else {
				if (st != RP_E_RESERVED_FLAGS) {
					print_error("type %u flags %x\n", type, flags);
				}
				assert_status(st, RP_E_RESERVED_FLAGS);
			}
		}
	}
}

/* The first byte alone is enough to refuse bad flags: no waiting. */
static void test_bad_flags_refused_from_first_byte(void **state)
{
	static const uint8_t pubrel_bad[] = {0x60};    /* PUBREL needs 0010 */
	static const uint8_t sub_bad[] = {0x80};       /* SUBSCRIBE needs 0010 */
	static const uint8_t connect_bad[] = {0x11};   /* CONNECT needs 0000 */
	static const uint8_t publish_qos3[] = {0x36};  /* QoS 3 */
	static const uint8_t reserved_type[] = {0x00}; /* type 0 */
	rp_mqtt_frame fr;
	size_t need = 0;

	(void)state;
	assert_status(rp_mqtt_frame_parse(pubrel_bad, 1, RP_MQTT_V5, 1000, &fr, &need),
		      RP_E_RESERVED_FLAGS);
	assert_status(rp_mqtt_frame_parse(sub_bad, 1, RP_MQTT_V311, 1000, &fr, &need),
		      RP_E_RESERVED_FLAGS);
	assert_status(rp_mqtt_frame_parse(connect_bad, 1, 0, 1000, &fr, &need),
		      RP_E_RESERVED_FLAGS);
	assert_status(rp_mqtt_frame_parse(publish_qos3, 1, RP_MQTT_V5, 1000, &fr, &need), RP_E_QOS);
	assert_status(rp_mqtt_frame_parse(reserved_type, 1, RP_MQTT_V5, 1000, &fr, &need),
		      RP_E_PACKET_TYPE);
}

static void test_publish_flags(void **state)
{
	uint8_t flags;

	(void)state;
	for (flags = 0; flags < 16; flags++) {
		uint8_t buf[2] = {(uint8_t)(0x30 | flags), 0x00};
		uint8_t qos = (uint8_t)((flags >> 1) & 3u);
		int dup = (flags & 8u) != 0;
		rp_mqtt_frame fr;
		rp_status st;

		st = rp_mqtt_frame_parse(buf, 2, RP_MQTT_V311, 1000, &fr, NULL);
		if (qos == 3 || (qos == 0 && dup)) {
			/* [MQTT-3.3.1-4] QoS 3; [MQTT-3.3.1-2] DUP must be 0 for QoS 0. */
			assert_status(st, RP_E_QOS);
		} else {
			assert_status(st, RP_OK);
			assert_int_equal(fr.type, RP_MQTT_PUBLISH);
			assert_int_equal(fr.flags, flags);
		}
	}
}

static void test_reserved_type_zero(void **state)
{
	uint8_t flags;
	uint8_t v;

	(void)state;
	for (v = 0; v < 3; v++) {
		uint8_t version = v == 0 ? 0 : v == 1 ? RP_MQTT_V311 : RP_MQTT_V5;

		for (flags = 0; flags < 16; flags++) {
			uint8_t buf[2] = {flags, 0x00};
			rp_mqtt_frame fr;

			assert_status(rp_mqtt_frame_parse(buf, 2, version, 1000, &fr, NULL),
				      RP_E_PACKET_TYPE);
		}
	}
}

static void test_auth_by_version(void **state)
{
	static const uint8_t auth[] = {0xF0, 0x00};
	rp_mqtt_limits lim = tu_limits();
	rp_mqtt_packet pkt;
	rp_mqtt_frame fr;

	(void)state;
	/* MQTT 3.1.1 has no AUTH packet: type 15 is reserved there. */
	assert_status(rp_mqtt_frame_parse(auth, 2, RP_MQTT_V311, 1000, &fr, NULL),
		      RP_E_PACKET_TYPE);
	assert_status(rp_mqtt_decode(auth, 2, RP_MQTT_V311, &lim, &pkt, NULL), RP_E_PACKET_TYPE);
	/* Before CONNECT (version 0) framing lets it through; the caller decides. */
	assert_status(rp_mqtt_frame_parse(auth, 2, 0, 1000, &fr, NULL), RP_OK);
	assert_int_equal(fr.type, RP_MQTT_AUTH);
	assert_status(rp_mqtt_frame_parse(auth, 2, RP_MQTT_V5, 1000, &fr, NULL), RP_OK);
}

/* Variable byte integer boundaries (section 1.5.5 table). */
static void test_remaining_length_boundaries(void **state)
{
	static const struct {
		uint8_t bytes[5];
		uint8_t n;
		uint32_t value;
	} cases[] = {
		{{0x30, 0x00}, 2, 0},
		{{0x30, 0x7F}, 2, 127},
		{{0x30, 0x80, 0x01}, 3, 128},
		{{0x30, 0xFF, 0x7F}, 3, 16383},
		{{0x30, 0x80, 0x80, 0x01}, 4, 16384},
		{{0x30, 0xFF, 0xFF, 0x7F}, 4, 2097151},
		{{0x30, 0x80, 0x80, 0x80, 0x01}, 5, 2097152},
		{{0x30, 0xFF, 0xFF, 0xFF, 0x7F}, 5, 268435455},
	};
	size_t i;

	(void)state;
	for (i = 0; i < TU_ARRAY_LEN(cases); i++) {
		uint8_t *h = tu_heap_copy(cases[i].bytes, cases[i].n);
		rp_mqtt_frame fr;
		size_t need = 0;
		rp_status st;

		st = rp_mqtt_frame_parse(h, cases[i].n, RP_MQTT_V5, UINT32_MAX, &fr, &need);
		if (cases[i].value == 0) {
			assert_status(st, RP_OK);
		} else {
			/* Header complete: frame filled, exact count missing. */
			assert_status(st, RP_NEED_MORE);
			assert_int_equal(need, cases[i].value);
		}
		assert_int_equal(fr.type, RP_MQTT_PUBLISH);
		assert_int_equal(fr.header_len, cases[i].n);
		assert_int_equal(fr.remaining, cases[i].value);
		assert_int_equal(fr.total, cases[i].value + cases[i].n);
		free(h);
	}
}

/* [MQTT-1.5.5-1]: the minimum number of bytes. */
static void test_remaining_length_not_minimal(void **state)
{
	static const struct {
		uint8_t bytes[6];
		uint8_t n;
	} cases[] = {
		{{0x30, 0x80, 0x00}, 3},             /* 0 in two bytes */
		{{0x30, 0xFF, 0x00}, 3},             /* 127 in two bytes */
		{{0x30, 0x81, 0x80, 0x00}, 4},       /* 1 in three bytes */
		{{0x30, 0xFF, 0xFF, 0x00}, 4},       /* 16383 in three bytes */
		{{0x30, 0x80, 0x80, 0x80, 0x00}, 5}, /* 0 in four bytes */
		{{0x30, 0xFF, 0xFF, 0xFF, 0x00}, 5}, /* 2097151 in four bytes */
		{{0xC0, 0x80, 0x00}, 3},             /* PINGREQ, 0 in two bytes */
	};
	size_t i;

	(void)state;
	for (i = 0; i < TU_ARRAY_LEN(cases); i++) {
		uint8_t *h = tu_heap_copy(cases[i].bytes, cases[i].n);
		rp_mqtt_limits lim = tu_limits();
		rp_mqtt_packet pkt;
		rp_mqtt_frame fr;

		assert_status(rp_mqtt_frame_parse(h, cases[i].n, RP_MQTT_V5, UINT32_MAX, &fr, NULL),
			      RP_E_REMAINING_LENGTH);
		assert_status(rp_mqtt_decode(h, cases[i].n, RP_MQTT_V5, &lim, &pkt, NULL),
			      RP_E_REMAINING_LENGTH);
		free(h);
	}
}

/* More than four length bytes: refused as soon as the fourth continues. */
static void test_remaining_length_too_long(void **state)
{
	static const uint8_t four_continue[] = {0x30, 0x80, 0x80, 0x80, 0x80};
	static const uint8_t five_bytes[] = {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F};
	static const uint8_t five_zero[] = {0x30, 0x80, 0x80, 0x80, 0x80, 0x00};
	static const uint8_t ping_long[] = {0xC0, 0x80, 0x80, 0x80, 0x80, 0x01};
	rp_mqtt_frame fr;

	(void)state;
	EXPECT_DECODE(four_continue, RP_MQTT_V5, RP_E_REMAINING_LENGTH);
	EXPECT_DECODE(five_bytes, RP_MQTT_V5, RP_E_REMAINING_LENGTH);
	EXPECT_DECODE(five_zero, RP_MQTT_V311, RP_E_REMAINING_LENGTH);
	EXPECT_DECODE(ping_long, RP_MQTT_V311, RP_E_REMAINING_LENGTH);
	assert_status(rp_mqtt_frame_parse(four_continue, sizeof(four_continue), RP_MQTT_V5,
					  UINT32_MAX, &fr, NULL),
		      RP_E_REMAINING_LENGTH);
}

static void test_need_more_counts(void **state)
{
	static const uint8_t empty[1] = {0};
	static const uint8_t first_only[] = {0x30};
	static const uint8_t len_partial[] = {0x30, 0x80};
	static const uint8_t len_partial3[] = {0x30, 0xFF, 0xFF};
	static const uint8_t header_10[] = {0x30, 0x0A};
	static const uint8_t header_10_part[] = {0x30, 0x0A, 0x00, 0x03, 'a'};
	static const uint8_t header_200[] = {0x30, 0xC8, 0x01};
	rp_mqtt_limits lim = tu_limits();
	rp_mqtt_packet pkt;
	rp_mqtt_frame fr;
	size_t need = 0, consumed = 0;

	(void)state;
	assert_status(rp_mqtt_frame_parse(empty, 0, RP_MQTT_V5, 1000, &fr, &need), RP_NEED_MORE);
	assert_int_equal(need, 1);
	assert_status(rp_mqtt_decode(empty, 0, RP_MQTT_V5, &lim, &pkt, &consumed), RP_NEED_MORE);
	assert_int_equal(consumed, 1);

	assert_status(rp_mqtt_frame_parse(first_only, 1, RP_MQTT_V5, 1000, &fr, &need),
		      RP_NEED_MORE);
	assert_int_equal(need, 1);
	assert_status(rp_mqtt_frame_parse(len_partial, 2, RP_MQTT_V5, 1000, &fr, &need),
		      RP_NEED_MORE);
	assert_int_equal(need, 1);
	assert_status(rp_mqtt_frame_parse(len_partial3, 3, RP_MQTT_V5, UINT32_MAX, &fr, &need),
		      RP_NEED_MORE);
	assert_int_equal(need, 1);

	/* Header complete: exact, and the frame is filled for reservation. */
	assert_status(rp_mqtt_frame_parse(header_10, 2, RP_MQTT_V5, 1000, &fr, &need),
		      RP_NEED_MORE);
	assert_int_equal(need, 10);
	assert_int_equal(fr.total, 12);
	assert_int_equal(fr.remaining, 10);
	assert_status(rp_mqtt_frame_parse(header_10_part, 5, RP_MQTT_V5, 1000, &fr, &need),
		      RP_NEED_MORE);
	assert_int_equal(need, 7);
	assert_status(rp_mqtt_decode(header_10_part, 5, RP_MQTT_V5, &lim, &pkt, &consumed),
		      RP_NEED_MORE);
	assert_int_equal(consumed, 7);
	assert_status(rp_mqtt_frame_parse(header_200, 3, RP_MQTT_V5, 1000, &fr, &need),
		      RP_NEED_MORE);
	assert_int_equal(need, 200);
	assert_int_equal(fr.header_len, 3);
	assert_int_equal(fr.total, 203);
	/* need may be NULL. */
	assert_status(rp_mqtt_frame_parse(header_200, 3, RP_MQTT_V5, 1000, &fr, NULL),
		      RP_NEED_MORE);
}

/* RP_E_TOO_LARGE as soon as the header says so, before any body byte. */
static void test_too_large_from_header(void **state)
{
	static const uint8_t total_100[] = {0x30, 0x62}; /* remaining 98: total 100 */
	static const uint8_t total_101[] = {0x30, 0x63}; /* remaining 99: total 101 */
	static const uint8_t huge[] = {0x30, 0xFF, 0xFF, 0xFF, 0x7F};
	static const uint8_t big_connect[] = {0x10, 0x80, 0x40}; /* remaining 8192 */
	rp_mqtt_limits lim = tu_limits();
	rp_mqtt_packet pkt;
	rp_mqtt_frame fr;
	size_t need = 0;

	(void)state;
	assert_status(rp_mqtt_frame_parse(total_100, 2, RP_MQTT_V5, 100, &fr, &need), RP_NEED_MORE);
	assert_int_equal(need, 98);
	assert_status(rp_mqtt_frame_parse(total_101, 2, RP_MQTT_V5, 100, &fr, &need),
		      RP_E_TOO_LARGE);
	assert_status(rp_mqtt_frame_parse(huge, sizeof(huge), RP_MQTT_V5, RP_LIMIT_MQTT_PACKET, &fr,
					  &need),
		      RP_E_TOO_LARGE);
	/* Before authentication a smaller cap applies. */
	assert_status(
		rp_mqtt_frame_parse(big_connect, 3, 0, RP_LIMIT_MQTT_PREAUTH_PACKET, &fr, &need),
		RP_E_TOO_LARGE);
	assert_status(rp_mqtt_frame_parse(big_connect, 3, 0, RP_LIMIT_MQTT_PACKET, &fr, &need),
		      RP_NEED_MORE);
	assert_int_equal(need, 8192);

	/* rp_mqtt_decode uses lim->max_packet the same way. */
	assert_status(rp_mqtt_decode(huge, sizeof(huge), RP_MQTT_V5, &lim, &pkt, NULL),
		      RP_E_TOO_LARGE);
	lim.max_packet = 100;
	assert_status(rp_mqtt_decode(total_101, 2, RP_MQTT_V5, &lim, &pkt, NULL), RP_E_TOO_LARGE);
}

/* A whole packet at exactly max_packet decodes; one byte more does not. */
static void test_max_packet_boundary(void **state)
{
	/* PUBLISH QoS 0, topic "a/b", payload "hello": 2 + 5 + 5 = 12 bytes. */
	static const uint8_t pub[] = {
		0x30, 0x0A,                /* PUBLISH, remaining 10 */
		0x00, 0x03, 'a', '/', 'b', /* topic "a/b" */
		'h',  'e',  'l', 'l', 'o', /* payload */
	};
	rp_mqtt_limits lim = tu_limits();
	rp_mqtt_packet pkt;
	size_t size = 0;

	(void)state;
	lim.max_packet = sizeof(pub);
	EXPECT_DECODE_LIM(pub, RP_MQTT_V311, &lim, RP_OK);
	VALID_LIM(pub, RP_MQTT_V311, &lim);
	lim.max_packet = sizeof(pub) - 1u;
	EXPECT_DECODE_LIM(pub, RP_MQTT_V311, &lim, RP_E_TOO_LARGE);

	/* The encoder refuses to write it too. */
	lim.max_packet = sizeof(pub);
	DECODE_OK(pub, RP_MQTT_V311, &pkt);
	assert_status(rp_mqtt_encoded_size(&pkt, RP_MQTT_V311, &lim, &size), RP_OK);
	assert_int_equal(size, sizeof(pub));
	lim.max_packet = sizeof(pub) - 1u;
	EXPECT_ENCODE_LIM(&pkt, RP_MQTT_V311, &lim, RP_E_TOO_LARGE);
}

static void test_invalid_args(void **state)
{
	static const uint8_t ping[] = {0xC0, 0x00};
	rp_mqtt_limits lim = tu_limits();
	rp_mqtt_packet pkt;
	rp_mqtt_frame fr;
	size_t need;

	(void)state;
	assert_status(rp_mqtt_frame_parse(NULL, 2, RP_MQTT_V5, 100, &fr, &need), RP_E_INVALID_ARG);
	assert_status(rp_mqtt_frame_parse(ping, 2, RP_MQTT_V5, 100, NULL, &need), RP_E_INVALID_ARG);
	assert_status(rp_mqtt_frame_parse(ping, 2, 3, 100, &fr, &need), RP_E_INVALID_ARG);
	assert_status(rp_mqtt_frame_parse(ping, 2, 6, 100, &fr, &need), RP_E_INVALID_ARG);
	assert_status(rp_mqtt_frame_parse(ping, 2, RP_MQTT_V311, 100, &fr, &need), RP_OK);
	assert_status(rp_mqtt_frame_parse(ping, 2, 0, 100, &fr, &need), RP_OK);

	assert_status(rp_mqtt_decode(NULL, 2, RP_MQTT_V5, &lim, &pkt, NULL), RP_E_INVALID_ARG);
	assert_status(rp_mqtt_decode(ping, 2, RP_MQTT_V5, NULL, &pkt, NULL), RP_E_INVALID_ARG);
	assert_status(rp_mqtt_decode(ping, 2, RP_MQTT_V5, &lim, NULL, NULL), RP_E_INVALID_ARG);
	/* A packet other than CONNECT needs the connection's version. */
	assert_status(rp_mqtt_decode(ping, 2, 0, &lim, &pkt, NULL), RP_E_INVALID_ARG);
	assert_status(rp_mqtt_decode(ping, 2, 6, &lim, &pkt, NULL), RP_E_INVALID_ARG);
	assert_status(rp_mqtt_decode(ping, 2, RP_MQTT_V311, &lim, &pkt, NULL), RP_OK);
}

/* Packets back to back decode one at a time with the right `consumed`. */
static void test_stream_back_to_back(void **state)
{
	static const uint8_t stream[] = {
		/* PUBLISH QoS 1, topic "t", packet id 7, payload "x" */
		0x32,
		0x06,
		0x00,
		0x01,
		't',
		0x00,
		0x07,
		'x',
		/* PUBACK packet id 7 */
		0x40,
		0x02,
		0x00,
		0x07,
		/* PINGREQ */
		0xC0,
		0x00,
		/* SUBSCRIBE id 2, "a/#" QoS 1 */
		0x82,
		0x08,
		0x00,
		0x02,
		0x00,
		0x03,
		'a',
		'/',
		'#',
		0x01,
		/* DISCONNECT */
		0xE0,
		0x00,
		/* the start of a PUBLISH: 5 of its 7 bytes */
		0x30,
		0x05,
		0x00,
		0x01,
		'z',
	};
	static const uint8_t types[] = {RP_MQTT_PUBLISH, RP_MQTT_PUBACK, RP_MQTT_PINGREQ,
					RP_MQTT_SUBSCRIBE, RP_MQTT_DISCONNECT};
	static const size_t sizes[] = {8, 4, 2, 10, 2};
	rp_mqtt_limits lim = tu_limits();
	uint8_t *h = tu_heap_copy(stream, sizeof(stream));
	size_t off = 0, i, consumed;
	rp_mqtt_packet pkt;

	(void)state;
	for (i = 0; i < TU_ARRAY_LEN(types); i++) {
		consumed = 0;
		assert_status(rp_mqtt_decode(h + off, sizeof(stream) - off, RP_MQTT_V311, &lim,
					     &pkt, &consumed),
			      RP_OK);
		assert_int_equal(pkt.type, types[i]);
		assert_int_equal(consumed, sizes[i]);
		if (i == 0) {
			assert_int_equal(pkt.u.publish.packet_id, 7);
			assert_int_equal(pkt.u.publish.payload.len, 1);
			assert_int_equal(pkt.u.publish.payload.p[0], 'x');
		}
		off += consumed;
	}
	/* The partial PUBLISH: 2 more bytes. */
	consumed = 0;
	assert_status(
		rp_mqtt_decode(h + off, sizeof(stream) - off, RP_MQTT_V311, &lim, &pkt, &consumed),
		RP_NEED_MORE);
	assert_int_equal(consumed, 2);
	free(h);
}

/*
 * A receiver fed one byte at a time: it decodes whenever it can, and gets
 * exactly the packets of the stream, in order, each as soon as complete.
 */
static void test_stream_byte_by_byte(void **state)
{
	static const uint8_t stream[] = {
		/* CONNACK v5: session present 0, success, properties: receive max 10 */
		0x20,
		0x06,
		0x00,
		0x00,
		0x03,
		0x21,
		0x00,
		0x0A,
		/* PUBLISH v5 QoS 2 retain, topic "s/t", id 0x0102, no props, "hi" */
		0x35,
		0x0A,
		0x00,
		0x03,
		's',
		'/',
		't',
		0x01,
		0x02,
		0x00,
		'h',
		'i',
		/* PUBREC id 0x0102, short form */
		0x50,
		0x02,
		0x01,
		0x02,
		/* PUBREL id 0x0102 */
		0x62,
		0x02,
		0x01,
		0x02,
		/* PUBCOMP id 0x0102, reason 0x92 */
		0x70,
		0x03,
		0x01,
		0x02,
		0x92,
		/* PINGRESP */
		0xD0,
		0x00,
		/* DISCONNECT v5, reason 0x8B server shutting down, no props */
		0xE0,
		0x01,
		0x8B,
	};
	static const uint8_t types[] = {RP_MQTT_CONNACK,   RP_MQTT_PUBLISH, RP_MQTT_PUBREC,
					RP_MQTT_PUBREL,    RP_MQTT_PUBCOMP, RP_MQTT_PINGRESP,
					RP_MQTT_DISCONNECT};
	rp_mqtt_limits lim = tu_limits();
	size_t have, start = 0, n = 0;

	(void)state;
	for (have = 1; have <= sizeof(stream); have++) {
		uint8_t *h = tu_heap_copy(stream + start, have - start);
		rp_mqtt_packet pkt;
		size_t consumed = 0;
		rp_status st = rp_mqtt_decode(h, have - start, RP_MQTT_V5, &lim, &pkt, &consumed);

		if (st == RP_OK) {
			assert_true(n < TU_ARRAY_LEN(types));
			assert_int_equal(pkt.type, types[n]);
			assert_int_equal(consumed, have - start);
			start = have;
			n++;
		} else {
			assert_status(st, RP_NEED_MORE);
			assert_true(consumed >= 1);
		}
		free(h);
	}
	assert_int_equal(n, TU_ARRAY_LEN(types));
	assert_int_equal(start, sizeof(stream));
}

/* A framing error in the second packet does not affect the first. */
static void test_stream_error_after_good_packet(void **state)
{
	static const uint8_t stream[] = {
		0xC0, 0x00,       /* PINGREQ */
		0x62, 0x02, 0x00, /* PUBREL... */
	};
	static const uint8_t bad_second[] = {
		0xD0, 0x00,       /* PINGRESP */
		0x40, 0x80, 0x00, /* PUBACK with a non-minimal length */
	};
	rp_mqtt_limits lim = tu_limits();
	rp_mqtt_packet pkt;
	size_t consumed = 0;

	(void)state;
	assert_status(rp_mqtt_decode(stream, sizeof(stream), RP_MQTT_V311, &lim, &pkt, &consumed),
		      RP_OK);
	assert_int_equal(consumed, 2);
	assert_status(rp_mqtt_decode(stream + 2, 3, RP_MQTT_V311, &lim, &pkt, &consumed),
		      RP_NEED_MORE);
	assert_int_equal(consumed, 1);
	assert_status(
		rp_mqtt_decode(bad_second, sizeof(bad_second), RP_MQTT_V5, &lim, &pkt, &consumed),
		RP_OK);
	assert_int_equal(consumed, 2);
	assert_status(rp_mqtt_decode(bad_second + 2, 3, RP_MQTT_V5, &lim, &pkt, &consumed),
		      RP_E_REMAINING_LENGTH);
}

/* The frame of a packet longer than 127 bytes: a two-byte length. */
static void test_two_byte_length_packet(void **state)
{
	uint8_t wire[3 + 200];
	rp_mqtt_packet pkt;
	size_t i;

	(void)state;
	/* PUBLISH QoS 0, topic "big", 195 payload bytes: remaining 200. */
	wire[0] = 0x30;
	wire[1] = 0xC8; /* 200 = 0x48 | 0x80, then 0x01 */
	wire[2] = 0x01;
	wire[3] = 0x00;
	wire[4] = 0x03;
	wire[5] = 'b';
	wire[6] = 'i';
	wire[7] = 'g';
	for (i = 8; i < sizeof(wire); i++) {
		wire[i] = (uint8_t)i;
	}
	VALID(wire, RP_MQTT_V311);
	DECODE_OK(wire, RP_MQTT_V311, &pkt);
	assert_int_equal(pkt.u.publish.payload.len, 195);
	assert_ptr_equal(pkt.u.publish.payload.p, wire + 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_flags_per_type),
		cmocka_unit_test(test_bad_flags_refused_from_first_byte),
		cmocka_unit_test(test_publish_flags),
		cmocka_unit_test(test_reserved_type_zero),
		cmocka_unit_test(test_auth_by_version),
		cmocka_unit_test(test_remaining_length_boundaries),
		cmocka_unit_test(test_remaining_length_not_minimal),
		cmocka_unit_test(test_remaining_length_too_long),
		cmocka_unit_test(test_need_more_counts),
		cmocka_unit_test(test_too_large_from_header),
		cmocka_unit_test(test_max_packet_boundary),
		cmocka_unit_test(test_invalid_args),
		cmocka_unit_test(test_stream_back_to_back),
		cmocka_unit_test(test_stream_byte_by_byte),
		cmocka_unit_test(test_stream_error_after_good_packet),
		cmocka_unit_test(test_two_byte_length_packet),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
