/*
 * test_mqtt_utf8.c - UTF-8 strings (MQTT 5.0 / 3.1.1 section 1.5.4 [1.5.3]):
 * well-formed per RFC 3629 (no overlong forms, no surrogates U+D800..U+DFFF,
 * nothing above U+10FFFF) and no U+0000 [MQTT-1.5.4-1], [MQTT-1.5.4-2].
 *
 * rp_mqtt_utf8_valid() is checked against a straightforward reference
 * decoder over every 1-, 2- and 3-byte input and a grid of 4-byte inputs;
 * each input sits in an exactly-sized heap buffer so that AddressSanitizer
 * catches a read past a truncated sequence.
 */
#include "mqtt_test_util.h"

/* Reference: decode code points one by one, the obvious way. */
static int ref_valid(const uint8_t *s, size_t n)
{
	size_t i = 0, k, len;
	uint32_t cp;

	while (i < n) {
		uint8_t c = s[i];

		if (c < 0x80u) {
			if (c == 0) {
				return 0;
			}
			i++;
			continue;
		}
		if ((c & 0xE0u) == 0xC0u) {
			len = 2;
			cp = c & 0x1Fu;
		} else if ((c & 0xF0u) == 0xE0u) {
			len = 3;
			cp = c & 0x0Fu;
		} else if ((c & 0xF8u) == 0xF0u) {
			len = 4;
			cp = c & 0x07u;
		} else {
			return 0;
		}
		if (n - i < len) {
			return 0;
		}
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xC0u) != 0x80u) {
				return 0;
			}
			cp = (cp << 6) | (s[i + k] & 0x3Fu);
		}
		if ((len == 2 && cp < 0x80u) || (len == 3 && cp < 0x800u) ||
		    (len == 4 && cp < 0x10000u)) {
			return 0; /* overlong */
		}
		if (cp > 0x10FFFFu || (cp >= 0xD800u && cp <= 0xDFFFu)) {
			return 0;
		}
		i += len;
	}
	return 1;
}

static int valid_heap(const uint8_t *s, size_t n)
{
	uint8_t *h = tu_heap_copy(s, n);
	int v = rp_mqtt_utf8_valid(h, n);

	free(h);
	return v;
}

#define UTF8(lit, want)                                                                            \
	do {                                                                                       \
		int v_ = valid_heap((const uint8_t *)(lit), sizeof(lit) - 1u);                     \
		if (v_ != (want)) {                                                                \
			tu_print_hex("utf8 input", (const uint8_t *)(lit), sizeof(lit) - 1u);      \
			fail_msg("rp_mqtt_utf8_valid = %d, expected %d", v_, want);                \
		}                                                                                  \
	} while (0)

static void test_utf8_valid_cases(void **state)
{
	(void)state;
	UTF8("", 1);
	UTF8("hello/world", 1);
	UTF8("\x01\x1f\x7f", 1);             /* controls: discouraged, not forbidden */
	UTF8("\xc2\x80", 1);                 /* U+0080, smallest two-byte */
	UTF8("\xdf\xbf", 1);                 /* U+07FF */
	UTF8("\xe0\xa0\x80", 1);             /* U+0800, smallest three-byte */
	UTF8("\xed\x9f\xbf", 1);             /* U+D7FF, below the surrogates */
	UTF8("\xee\x80\x80", 1);             /* U+E000, above them */
	UTF8("\xef\xbb\xbf", 1);             /* U+FEFF BOM [MQTT-1.5.4-3] */
	UTF8("\xef\xbf\xbe\xef\xbf\xbf", 1); /* U+FFFE U+FFFF noncharacters */
	UTF8("\xf0\x90\x80\x80", 1);         /* U+10000, smallest four-byte */
	UTF8("\xf0\x9f\x98\x80", 1);         /* U+1F600 */
	UTF8("\xf4\x8f\xbf\xbf", 1);         /* U+10FFFF, the largest */
	UTF8("A\xf0\xaa\x9b\x94", 1);        /* "A" U+2A6D4 (spec 1.5.4 example) */
}

static void test_utf8_invalid_cases(void **state)
{
	(void)state;
	/* U+0000 [MQTT-1.5.4-2], plain and overlong. */
	UTF8("\x00", 0);
	UTF8("a\x00", 0);
	UTF8("\xc0\x80", 0);
	UTF8("\xe0\x80\x80", 0);
	UTF8("\xf0\x80\x80\x80", 0);
	/* Overlong forms. */
	UTF8("\xc0\xaf", 0); /* '/' in two bytes */
	UTF8("\xc1\xbf", 0);
	UTF8("\xe0\x9f\xbf", 0);     /* U+07FF in three bytes */
	UTF8("\xf0\x8f\xbf\xbf", 0); /* U+FFFF in four bytes */
	/* Surrogates [MQTT-1.5.4-1]. */
	UTF8("\xed\xa0\x80", 0);             /* U+D800 */
	UTF8("\xed\xbf\xbf", 0);             /* U+DFFF */
	UTF8("\xed\xa0\xbd\xed\xb8\x80", 0); /* a CESU-8 pair */
	/* Above U+10FFFF. */
	UTF8("\xf4\x90\x80\x80", 0); /* U+110000 */
	UTF8("\xf5\x80\x80\x80", 0);
	UTF8("\xf7\xbf\xbf\xbf", 0);
	UTF8("\xf8\x88\x80\x80\x80", 0);     /* five-byte form */
	UTF8("\xfc\x84\x80\x80\x80\x80", 0); /* six-byte form */
	UTF8("\xfe", 0);
	UTF8("\xff", 0);
	/* Lone and stray continuation bytes. */
	UTF8("\x80", 0);
	UTF8("\xbf", 0);
	UTF8("a\x80"
	     "b",
	     0);
	UTF8("\xc3\xa9\xa9", 0);
	/* Bad continuation bytes. */
	UTF8("\xc3\x28", 0);
	UTF8("\xc3\xc3", 0);
	UTF8("\xe2\x28\xa1", 0);
	UTF8("\xe2\x82\x28", 0);
	UTF8("\xf0\x28\x8c\xbc", 0);
	UTF8("\xf0\x90\x28\xbc", 0);
	UTF8("\xf0\x9f\x98\x28", 0);
	/* Truncated at the end of the buffer. */
	UTF8("\xc3", 0);
	UTF8("\xe2\x82", 0);
	UTF8("\xf0\x9f\x98", 0);
	UTF8("ok\xf0", 0);
}

/* Every input of one and two bytes. */
static void test_utf8_exhaustive_short(void **state)
{
	uint8_t b[2];
	unsigned x, y;

	(void)state;
	for (x = 0; x < 256; x++) {
		b[0] = (uint8_t)x;
		assert_int_equal(valid_heap(b, 1), ref_valid(b, 1));
		for (y = 0; y < 256; y++) {
			b[1] = (uint8_t)y;
			if (rp_mqtt_utf8_valid(b, 2) != ref_valid(b, 2)) {
				fail_msg("%02X %02X: %d, reference %d", x, y,
					 rp_mqtt_utf8_valid(b, 2), ref_valid(b, 2));
			}
		}
	}
}

/* Every three-byte input. */
static void test_utf8_exhaustive_three(void **state)
{
	uint8_t b[3];
	unsigned x, y, z;

	(void)state;
	for (x = 0; x < 256; x++) {
		for (y = 0; y < 256; y++) {
			for (z = 0; z < 256; z++) {
				b[0] = (uint8_t)x;
				b[1] = (uint8_t)y;
				b[2] = (uint8_t)z;
				if (rp_mqtt_utf8_valid(b, 3) != ref_valid(b, 3)) {
					fail_msg("%02X %02X %02X: %d, reference %d", x, y, z,
						 rp_mqtt_utf8_valid(b, 3), ref_valid(b, 3));
				}
			}
		}
	}
}

/* Four-byte inputs: every lead byte with every second byte, and a grid. */
static void test_utf8_four_bytes(void **state)
{
	static const uint8_t edges[] = {0x00, 0x01, 0x3F, 0x7F, 0x80, 0x81, 0x8F, 0x90,
					0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xE0, 0xF0, 0xFF};
	uint8_t b[4];
	unsigned x, y;
	size_t i, j, k;

	(void)state;
	for (x = 0xC0; x < 256; x++) {
		for (y = 0; y < 256; y++) {
			b[0] = (uint8_t)x;
			b[1] = (uint8_t)y;
			b[2] = 0x80;
			b[3] = 0xBF;
			assert_int_equal(rp_mqtt_utf8_valid(b, 4), ref_valid(b, 4));
		}
		for (i = 0; i < sizeof(edges); i++) {
			for (j = 0; j < sizeof(edges); j++) {
				for (k = 0; k < sizeof(edges); k++) {
					b[0] = (uint8_t)x;
					b[1] = edges[i];
					b[2] = edges[j];
					b[3] = edges[k];
					if (rp_mqtt_utf8_valid(b, 4) != ref_valid(b, 4)) {
						fail_msg("%02X %02X %02X %02X", b[0], b[1], b[2],
							 b[3]);
					}
				}
			}
		}
	}
}

/* Every strict prefix of a multi-byte sequence, alone in its buffer. */
static void test_utf8_truncated_no_overread(void **state)
{
	static const char *const seqs[] = {
		"\xc3\xa9", "\xe2\x82\xac", "\xef\xbf\xbf", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf",
	};
	size_t i, k;

	(void)state;
	for (i = 0; i < TU_ARRAY_LEN(seqs); i++) {
		size_t n = strlen(seqs[i]);

		assert_true(valid_heap((const uint8_t *)seqs[i], n));
		for (k = 1; k < n; k++) {
			assert_false(valid_heap((const uint8_t *)seqs[i], k));
		}
	}
	/* Length 0 reads nothing. */
	assert_true(valid_heap((const uint8_t *)"", 0));
}

/*
 * The same rule in every UTF-8 string field of a packet (sample of bad
 * sequences x fields): topic, filter, client id, user name, will topic,
 * user property name and value, string properties.
 */
static void test_utf8_in_packet_fields(void **state)
{
	static const char *const bad[] = {
		"\x00", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80", "\xe2\x82",
	};
	size_t i;

	(void)state;
	for (i = 0; i < TU_ARRAY_LEN(bad); i++) {
		size_t n = strlen(bad[i]) != 0 ? strlen(bad[i]) : 1u; /* "\x00" has length 1 */
		tu_buf body, w;

		/* PUBLISH topic (3.1.1) */
		body.n = 0;
		tu_put_u16(&body, (uint16_t)n);
		tu_put(&body, (const uint8_t *)bad[i], n);
		tu_frame(&w, 0x30, &body);
		EXPECT_DECODE_N(w.b, w.n, RP_MQTT_V311, RP_E_UTF8);

		/* UNSUBSCRIBE filter (3.1.1) */
		body.n = 0;
		tu_put_u16(&body, 1);
		tu_put_u16(&body, (uint16_t)n);
		tu_put(&body, (const uint8_t *)bad[i], n);
		tu_frame(&w, 0xA2, &body);
		EXPECT_DECODE_N(w.b, w.n, RP_MQTT_V311, RP_E_UTF8);

		/* CONNECT client id and user name (3.1.1) */
		body.n = 0;
		tu_put_str(&body, "MQTT");
		tu_put_u8(&body, 4);
		tu_put_u8(&body, 0x02);
		tu_put_u16(&body, 0);
		tu_put_u16(&body, (uint16_t)n);
		tu_put(&body, (const uint8_t *)bad[i], n);
		tu_frame(&w, 0x10, &body);
		EXPECT_DECODE_N(w.b, w.n, 0, RP_E_UTF8);
		body.n = 0;
		tu_put_str(&body, "MQTT");
		tu_put_u8(&body, 4);
		tu_put_u8(&body, 0x82);
		tu_put_u16(&body, 0);
		tu_put_str(&body, "c");
		tu_put_u16(&body, (uint16_t)n);
		tu_put(&body, (const uint8_t *)bad[i], n);
		tu_frame(&w, 0x10, &body);
		EXPECT_DECODE_N(w.b, w.n, 0, RP_E_UTF8);

		/* Will topic (5.0) */
		body.n = 0;
		tu_put_str(&body, "MQTT");
		tu_put_u8(&body, 5);
		tu_put_u8(&body, 0x06);
		tu_put_u16(&body, 0);
		tu_put_u8(&body, 0);
		tu_put_str(&body, "c");
		tu_put_u8(&body, 0);
		tu_put_u16(&body, (uint16_t)n);
		tu_put(&body, (const uint8_t *)bad[i], n);
		tu_put_u16(&body, 0);
		tu_frame(&w, 0x10, &body);
		EXPECT_DECODE_N(w.b, w.n, 0, RP_E_UTF8);

		/* Reason string in DISCONNECT (5.0) */
		body.n = 0;
		tu_put_u8(&body, 0x80);
		tu_put_u8(&body, (uint8_t)(3u + n));
		tu_put_u8(&body, 0x1F);
		tu_put_u16(&body, (uint16_t)n);
		tu_put(&body, (const uint8_t *)bad[i], n);
		tu_frame(&w, 0xE0, &body);
		EXPECT_DECODE_N(w.b, w.n, RP_MQTT_V5, RP_E_UTF8);
	}
}

/* [MQTT-1.5.4-3]: a BOM is kept, not skipped or stripped. */
static void test_utf8_bom_kept(void **state)
{
	static const uint8_t pub[] = {
		0x30, 0x06, 0x00, 0x04, 0xEF, 0xBB, 0xBF, 'a', /* topic U+FEFF "a" */
	};
	rp_mqtt_packet pkt;

	(void)state;
	VALID(pub, RP_MQTT_V311);
	DECODE_OK(pub, RP_MQTT_V311, &pkt);
	assert_int_equal(pkt.u.publish.topic.len, 4);
	assert_ptr_equal(pkt.u.publish.topic.p, pub + 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_valid_cases),
		cmocka_unit_test(test_utf8_invalid_cases),
		cmocka_unit_test(test_utf8_exhaustive_short),
		cmocka_unit_test(test_utf8_exhaustive_three),
		cmocka_unit_test(test_utf8_four_bytes),
		cmocka_unit_test(test_utf8_truncated_no_overread),
		cmocka_unit_test(test_utf8_in_packet_fields),
		cmocka_unit_test(test_utf8_bom_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
