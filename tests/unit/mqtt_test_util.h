/*
 * mqtt_test_util.h - helpers shared by the MQTT codec unit tests.
 *
 * Only static inline functions and macros, so each test_*.c stays one
 * translation unit. The helpers check the properties every valid packet
 * must have (decodes whole, every strict prefix asks for more, re-encodes
 * to the same bytes) and print the input in hex when a check fails.
 *
 * Heap copies: a decoder is always given an exactly-sized malloc'd copy of
 * the input when only its status matters, so that AddressSanitizer reports
 * any read past the end of the buffer.
 */
#ifndef RAMPART_TESTS_MQTT_TEST_UTIL_H
#define RAMPART_TESTS_MQTT_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/limits.h"
#include "rampart/mqtt.h"
#include "rampart/status.h"

/* A string view of a literal. */
#define TU_STR(lit)     ((rp_mqtt_str){(const uint8_t *)(lit), (uint32_t)(sizeof(lit) - 1u)})
#define TU_NSTR         ((rp_mqtt_str){NULL, 0})
#define TU_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Every property of MQTT 5, in identifier order. */
static const uint8_t tu_all_prop_ids[27] = {
	0x01, 0x02, 0x03, 0x08, 0x09, 0x0B, 0x11, 0x12, 0x13, 0x15, 0x16, 0x17, 0x18, 0x19,
	0x1A, 0x1C, 0x1F, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A,
};

static inline rp_mqtt_limits tu_limits(void)
{
	rp_mqtt_limits lim;

	rp_mqtt_limits_default(&lim);
	return lim;
}

static inline void tu_print_hex(const char *what, const uint8_t *p, size_t len)
{
	size_t i;

	print_error("%s (%zu bytes):", what, len);
	for (i = 0; i < len && i < 96u; i++) {
		print_error(" %02X", p[i]);
	}
	print_error("%s\n", len > 96u ? " ..." : "");
}

static inline void tu_fail_status(rp_status got, rp_status want, const char *ctx,
				  const uint8_t *wire, size_t len, const char *file, int line)
{
	print_error("%s:%d: %s: got %d (%s), expected %d (%s)\n", file, line,
		    ctx != NULL ? ctx : "status", (int)got, rp_status_str(got), (int)want,
		    rp_status_str(want));
	if (wire != NULL) {
		tu_print_hex("input", wire, len);
	}
	_fail(file, line);
}

/* assert_status(actual, expected): both printed by name on failure. */
#define assert_status(actual, expected)                                                            \
	do {                                                                                       \
		rp_status tu_a_ = (actual), tu_e_ = (expected);                                    \
		if (tu_a_ != tu_e_) {                                                              \
			tu_fail_status(tu_a_, tu_e_, #actual, NULL, 0, __FILE__, __LINE__);        \
		}                                                                                  \
	} while (0)

/* An exactly-sized heap copy (malloc(0) for len 0; never NULL). */
static inline uint8_t *tu_heap_copy(const uint8_t *p, size_t len)
{
	uint8_t *h = malloc(len != 0 ? len : 1u);

	assert_non_null(h);
	if (len != 0) {
		memcpy(h, p, len);
	}
	return h;
}

/* Decodes an exactly-sized heap copy of wire; returns the status. */
static inline rp_status tu_decode_heap(const uint8_t *wire, size_t len, uint8_t version,
				       const rp_mqtt_limits *lim, size_t *consumed)
{
	rp_mqtt_limits def = tu_limits();
	rp_mqtt_packet pkt;
	uint8_t *h = tu_heap_copy(wire, len);
	rp_status st;

	memset(&pkt, 0xA5, sizeof(pkt));
	st = rp_mqtt_decode(h, len, version, lim != NULL ? lim : &def, &pkt, consumed);
	free(h);
	return st;
}

static inline void tu_expect_decode_(const uint8_t *wire, size_t len, uint8_t version,
				     const rp_mqtt_limits *lim, rp_status want, const char *ctx,
				     const char *file, int line)
{
	size_t consumed = 0;
	rp_status st = tu_decode_heap(wire, len, version, lim, &consumed);

	if (st != want) {
		tu_fail_status(st, want, ctx, wire, len, file, line);
	}
	if (st == RP_OK && consumed != len) {
		print_error("%s:%d: %s: consumed %zu of %zu\n", file, line, ctx, consumed, len);
		_fail(file, line);
	}
}

/* EXPECT_DECODE(array, version, status): decode a whole array, check status. */
#define EXPECT_DECODE(arr, version, want)                                                          \
	tu_expect_decode_((arr), sizeof(arr), (version), NULL, (want), #arr, __FILE__, __LINE__)
#define EXPECT_DECODE_LIM(arr, version, lim, want)                                                 \
	tu_expect_decode_((arr), sizeof(arr), (version), (lim), (want), #arr, __FILE__, __LINE__)
#define EXPECT_DECODE_N(p, n, version, want)                                                       \
	tu_expect_decode_((p), (n), (version), NULL, (want), #p, __FILE__, __LINE__)

/*
 * Every strict prefix of a valid packet is RP_NEED_MORE, from both the
 * framer and the decoder, with the exact count once the fixed header is
 * complete (else 1). Each prefix is an exactly-sized heap buffer.
 */
static inline void tu_check_prefixes_(const uint8_t *wire, size_t len, uint8_t version,
				      const rp_mqtt_limits *lim, const char *ctx, const char *file,
				      int line)
{
	rp_mqtt_limits def = tu_limits();
	size_t header_len = 1, k;

	if (lim == NULL) {
		lim = &def;
	}
	/* The fixed header ends at the first length byte without bit 7. */
	while (header_len < len && header_len < 5u && (wire[header_len] & 0x80u) != 0) {
		header_len++;
	}
	header_len++;
	for (k = 0; k < len; k++) {
		uint8_t *h = tu_heap_copy(wire, k);
		size_t want_need = k >= header_len ? len - k : 1u;
		size_t need = 0, consumed = 0;
		rp_mqtt_packet pkt;
		rp_mqtt_frame fr;
		rp_status st;

		st = rp_mqtt_frame_parse(h, k, version, lim->max_packet, &fr, &need);
		if (st != RP_NEED_MORE) {
			print_error("frame_parse of prefix %zu\n", k);
			tu_fail_status(st, RP_NEED_MORE, ctx, wire, len, file, line);
		}
		if (need != want_need) {
			print_error("%s:%d: %s: frame prefix %zu: need %zu, expected %zu\n", file,
				    line, ctx, k, need, want_need);
			_fail(file, line);
		}
		if (k >= header_len && (fr.total != len || fr.header_len != header_len)) {
			print_error("%s:%d: %s: frame prefix %zu: total %u header %u\n", file, line,
				    ctx, k, (unsigned)fr.total, (unsigned)fr.header_len);
			_fail(file, line);
		}
		st = rp_mqtt_decode(h, k, version, lim, &pkt, &consumed);
		if (st != RP_NEED_MORE) {
			print_error("decode of prefix %zu\n", k);
			tu_fail_status(st, RP_NEED_MORE, ctx, wire, len, file, line);
		}
		if (consumed != want_need) {
			print_error("%s:%d: %s: decode prefix %zu: consumed %zu, expected %zu\n",
				    file, line, ctx, k, consumed, want_need);
			_fail(file, line);
		}
		/* NULL need/consumed are allowed. */
		st = rp_mqtt_decode(h, k, version, lim, &pkt, NULL);
		if (st != RP_NEED_MORE) {
			tu_fail_status(st, RP_NEED_MORE, ctx, wire, len, file, line);
		}
		free(h);
	}
}

/*
 * The checks every valid wire packet passes:
 * - it decodes whole (heap copy, exact size), consumed == len;
 * - the same with a next packet's bytes behind it (not looked at);
 * - every strict prefix is RP_NEED_MORE;
 * - if `canonical`: encoded_size == len, re-encoding gives the same bytes,
 *   cap one short is RP_E_BUF_TOO_SMALL with nothing written, and an exact
 *   cap writes nothing past it.
 */
static inline void tu_valid_(const uint8_t *wire, size_t len, uint8_t version,
			     const rp_mqtt_limits *lim, int canonical, const char *ctx,
			     const char *file, int line)
{
	rp_mqtt_limits def = tu_limits();
	rp_mqtt_packet pkt;
	size_t consumed = 0, size = 0, out_len = 0, i;
	uint8_t *h, *out;
	rp_status st;

	if (lim == NULL) {
		lim = &def;
	}
	/* Whole, exactly sized. */
	tu_expect_decode_(wire, len, version, lim, RP_OK, ctx, file, line);

	/* Followed by another packet (PINGREQ) and a partial one. */
	h = malloc(len + 3u);
	assert_non_null(h);
	memcpy(h, wire, len);
	h[len] = 0xC0;
	h[len + 1u] = 0x00;
	h[len + 2u] = 0x30;
	consumed = 0;
	st = rp_mqtt_decode(h, len + 3u, version, lim, &pkt, &consumed);
	if (st != RP_OK) {
		print_error("with bytes behind it\n");
		tu_fail_status(st, RP_OK, ctx, wire, len, file, line);
	}
	if (consumed != len) {
		print_error("%s:%d: %s: consumed %zu with bytes behind, expected %zu\n", file, line,
			    ctx, consumed, len);
		_fail(file, line);
	}
	free(h);

	tu_check_prefixes_(wire, len, version, lim, ctx, file, line);

	if (!canonical) {
		return;
	}
	/* Re-encode from a decode of a heap copy that stays alive meanwhile. */
	h = tu_heap_copy(wire, len);
	st = rp_mqtt_decode(h, len, version, lim, &pkt, NULL);
	if (st != RP_OK) {
		tu_fail_status(st, RP_OK, ctx, wire, len, file, line);
	}
	st = rp_mqtt_encoded_size(&pkt, version, lim, &size);
	if (st != RP_OK) {
		print_error("encoded_size of the decoded packet\n");
		tu_fail_status(st, RP_OK, ctx, wire, len, file, line);
	}
	if (size != len) {
		print_error("%s:%d: %s: encoded_size %zu, expected %zu\n", file, line, ctx, size,
			    len);
		_fail(file, line);
	}
	out = malloc(len + 1u);
	assert_non_null(out);
	/* One short: refused, nothing written. */
	memset(out, 0xA5, len + 1u);
	st = rp_mqtt_encode(&pkt, version, lim, out, len - 1u, &out_len);
	if (st != RP_E_BUF_TOO_SMALL) {
		print_error("encode with cap one short\n");
		tu_fail_status(st, RP_E_BUF_TOO_SMALL, ctx, wire, len, file, line);
	}
	for (i = 0; i < len + 1u; i++) {
		if (out[i] != 0xA5) {
			print_error("%s:%d: %s: byte %zu written with cap one short\n", file, line,
				    ctx, i);
			_fail(file, line);
		}
	}
	/* Exact cap: same bytes, guard untouched. */
	st = rp_mqtt_encode(&pkt, version, lim, out, len, &out_len);
	if (st != RP_OK) {
		print_error("re-encode\n");
		tu_fail_status(st, RP_OK, ctx, wire, len, file, line);
	}
	if (out_len != len || memcmp(out, wire, len) != 0) {
		print_error("%s:%d: %s: re-encoding differs\n", file, line, ctx);
		tu_print_hex("expected", wire, len);
		tu_print_hex("encoded", out, out_len);
		_fail(file, line);
	}
	if (out[len] != 0xA5) {
		print_error("%s:%d: %s: guard byte overwritten\n", file, line, ctx);
		_fail(file, line);
	}
	free(out);
	free(h);
}

/* VALID(array, version): a valid packet in canonical form (see tu_valid_). */
#define VALID(arr, version)                                                                        \
	tu_valid_((arr), sizeof(arr), (version), NULL, 1, #arr, __FILE__, __LINE__)
/* VALID_NC: valid but not canonical (re-encoding may differ, e.g. shorter). */
#define VALID_NC(arr, version)                                                                     \
	tu_valid_((arr), sizeof(arr), (version), NULL, 0, #arr, __FILE__, __LINE__)
#define VALID_LIM(arr, version, lim)                                                               \
	tu_valid_((arr), sizeof(arr), (version), (lim), 1, #arr, __FILE__, __LINE__)

/*
 * Decodes wire in place (views point into the caller's array) and asserts
 * RP_OK and consumed == len.
 */
static inline void tu_decode_ok_(const uint8_t *wire, size_t len, uint8_t version,
				 rp_mqtt_packet *pkt, const char *ctx, const char *file, int line)
{
	rp_mqtt_limits lim = tu_limits();
	size_t consumed = 0;
	rp_status st;

	memset(pkt, 0xA5, sizeof(*pkt));
	st = rp_mqtt_decode(wire, len, version, &lim, pkt, &consumed);
	if (st != RP_OK) {
		tu_fail_status(st, RP_OK, ctx, wire, len, file, line);
	}
	if (consumed != len) {
		print_error("%s:%d: %s: consumed %zu of %zu\n", file, line, ctx, consumed, len);
		_fail(file, line);
	}
}

#define DECODE_OK(arr, version, pkt)                                                               \
	tu_decode_ok_((arr), sizeof(arr), (version), (pkt), #arr, __FILE__, __LINE__)

/* A view equals a literal (also checks that it points inside `within`). */
static inline int tu_str_eq(rp_mqtt_str a, rp_mqtt_str b)
{
	if (a.len != b.len) {
		return 0;
	}
	return a.len == 0 || memcmp(a.p, b.p, a.len) == 0;
}

#define assert_str(view, lit)                                                                      \
	do {                                                                                       \
		rp_mqtt_str tu_v_ = (view);                                                        \
		if (!tu_str_eq(tu_v_, TU_STR(lit))) {                                              \
			print_error("%s:%d: %s is \"%.*s\" (%u), expected \"%s\"\n", __FILE__,     \
				    __LINE__, #view, (int)tu_v_.len,                               \
				    tu_v_.p != NULL ? (const char *)tu_v_.p : "", tu_v_.len, lit); \
			_fail(__FILE__, __LINE__);                                                 \
		}                                                                                  \
	} while (0)

#define assert_view_eq(a, b) assert_true(tu_str_eq((a), (b)))

/* A decoded view lies inside buf[0 .. len). */
#define assert_view_in(view, buf)                                                                  \
	do {                                                                                       \
		rp_mqtt_str tu_w_ = (view);                                                        \
		if (tu_w_.len != 0) {                                                              \
			assert_true(tu_w_.p >= (buf) &&                                            \
				    tu_w_.p + tu_w_.len <= (buf) + sizeof(buf));                   \
		}                                                                                  \
	} while (0)

/* The n-th user property of a set, from its array or its raw block. */
static inline int tu_user_prop_at(const rp_mqtt_props *p, uint16_t n, rp_mqtt_str *name,
				  rp_mqtt_str *value)
{
	uint32_t cursor = 0;
	uint16_t i;

	if (n >= p->user_prop_count) {
		return 0;
	}
	if (p->user_props != NULL) {
		*name = p->user_props[n].name;
		*value = p->user_props[n].value;
		return 1;
	}
	for (i = 0; i <= n; i++) {
		if (!rp_mqtt_props_next(p, RP_MQTT_PROP_USER, &cursor, name, value, NULL)) {
			return 0;
		}
	}
	return 1;
}

static inline int tu_sub_id_at(const rp_mqtt_props *p, uint16_t n, uint32_t *id)
{
	uint32_t cursor = 0;
	uint16_t i;

	if (n >= p->sub_id_count) {
		return 0;
	}
	if (p->sub_ids != NULL) {
		*id = p->sub_ids[n];
		return 1;
	}
	for (i = 0; i <= n; i++) {
		if (!rp_mqtt_props_next(p, RP_MQTT_PROP_SUBSCRIPTION_ID, &cursor, NULL, NULL, id)) {
			return 0;
		}
	}
	return 1;
}

/* Two property sets say the same (want may use arrays, got a raw block). */
static inline void tu_assert_props_eq(const rp_mqtt_props *want, const rp_mqtt_props *got)
{
	const uint64_t counted =
		RP_MQTT_HAS(RP_MQTT_PROP_USER) | RP_MQTT_HAS(RP_MQTT_PROP_SUBSCRIPTION_ID);
	uint64_t pr = want->present & ~counted;
	uint16_t n;

	assert_int_equal(pr, got->present & ~counted);
#define TU_P(id, field)                                                                            \
	if (pr & RP_MQTT_HAS(id)) {                                                                \
		assert_int_equal(want->field, got->field);                                         \
	}
#define TU_S(id, field)                                                                            \
	if (pr & RP_MQTT_HAS(id)) {                                                                \
		assert_view_eq(want->field, got->field);                                           \
	}
	TU_P(RP_MQTT_PROP_PAYLOAD_FORMAT, payload_format)
	TU_P(RP_MQTT_PROP_MESSAGE_EXPIRY, message_expiry)
	TU_S(RP_MQTT_PROP_CONTENT_TYPE, content_type)
	TU_S(RP_MQTT_PROP_RESPONSE_TOPIC, response_topic)
	TU_S(RP_MQTT_PROP_CORRELATION_DATA, correlation_data)
	TU_P(RP_MQTT_PROP_SESSION_EXPIRY, session_expiry)
	TU_S(RP_MQTT_PROP_ASSIGNED_CLIENT_ID, assigned_client_id)
	TU_P(RP_MQTT_PROP_SERVER_KEEPALIVE, server_keepalive)
	TU_S(RP_MQTT_PROP_AUTH_METHOD, auth_method)
	TU_S(RP_MQTT_PROP_AUTH_DATA, auth_data)
	TU_P(RP_MQTT_PROP_REQUEST_PROBLEM_INFO, request_problem_info)
	TU_P(RP_MQTT_PROP_WILL_DELAY, will_delay)
	TU_P(RP_MQTT_PROP_REQUEST_RESPONSE_INFO, request_response_info)
	TU_S(RP_MQTT_PROP_RESPONSE_INFO, response_info)
	TU_S(RP_MQTT_PROP_SERVER_REFERENCE, server_reference)
	TU_S(RP_MQTT_PROP_REASON_STRING, reason_string)
	TU_P(RP_MQTT_PROP_RECEIVE_MAX, receive_max)
	TU_P(RP_MQTT_PROP_TOPIC_ALIAS_MAX, topic_alias_max)
	TU_P(RP_MQTT_PROP_TOPIC_ALIAS, topic_alias)
	TU_P(RP_MQTT_PROP_MAX_QOS, max_qos)
	TU_P(RP_MQTT_PROP_RETAIN_AVAILABLE, retain_available)
	TU_P(RP_MQTT_PROP_MAX_PACKET_SIZE, max_packet_size)
	TU_P(RP_MQTT_PROP_WILDCARD_SUB_AVAILABLE, wildcard_sub_available)
	TU_P(RP_MQTT_PROP_SUB_ID_AVAILABLE, sub_id_available)
	TU_P(RP_MQTT_PROP_SHARED_SUB_AVAILABLE, shared_sub_available)
#undef TU_P
#undef TU_S
	assert_int_equal(want->user_prop_count, got->user_prop_count);
	for (n = 0; n < want->user_prop_count; n++) {
		rp_mqtt_str wn, wv, gn, gv;

		assert_true(tu_user_prop_at(want, n, &wn, &wv));
		assert_true(tu_user_prop_at(got, n, &gn, &gv));
		assert_view_eq(wn, gn);
		assert_view_eq(wv, gv);
	}
	assert_int_equal(want->sub_id_count, got->sub_id_count);
	for (n = 0; n < want->sub_id_count; n++) {
		uint32_t a = 0, b = 0;

		assert_true(tu_sub_id_at(want, n, &a));
		assert_true(tu_sub_id_at(got, n, &b));
		assert_int_equal(a, b);
	}
}

/*
 * Round trip of a built packet: encoded_size, encode (cap one short is
 * refused and writes nothing; exact cap writes nothing past it), decode
 * into *got (views into out, which the caller keeps), re-encode the decoded
 * packet to identical bytes. Returns the encoded length.
 */
static inline size_t tu_roundtrip_(const rp_mqtt_packet *pkt, uint8_t version,
				   const rp_mqtt_limits *lim, uint8_t *out, size_t cap,
				   rp_mqtt_packet *got, const char *ctx, const char *file, int line)
{
	rp_mqtt_limits def = tu_limits();
	size_t size = 0, len = 0, len2 = 0, consumed = 0, i;
	uint8_t *again;
	rp_status st;

	if (lim == NULL) {
		lim = &def;
	}
	st = rp_mqtt_encoded_size(pkt, version, lim, &size);
	if (st != RP_OK) {
		print_error("encoded_size\n");
		tu_fail_status(st, RP_OK, ctx, NULL, 0, file, line);
	}
	assert_true(size >= 2u && size < cap);
	memset(out, 0xA5, cap);
	st = rp_mqtt_encode(pkt, version, lim, out, size - 1u, &len);
	if (st != RP_E_BUF_TOO_SMALL) {
		print_error("encode, cap one short\n");
		tu_fail_status(st, RP_E_BUF_TOO_SMALL, ctx, NULL, 0, file, line);
	}
	for (i = 0; i < cap; i++) {
		if (out[i] != 0xA5) {
			print_error("%s:%d: %s: byte %zu written with cap one short\n", file, line,
				    ctx, i);
			_fail(file, line);
		}
	}
	st = rp_mqtt_encode(pkt, version, lim, out, size, &len);
	if (st != RP_OK) {
		print_error("encode\n");
		tu_fail_status(st, RP_OK, ctx, NULL, 0, file, line);
	}
	if (len != size) {
		print_error("%s:%d: %s: encoded %zu, encoded_size %zu\n", file, line, ctx, len,
			    size);
		_fail(file, line);
	}
	if (out[size] != 0xA5) {
		print_error("%s:%d: %s: guard byte overwritten\n", file, line, ctx);
		_fail(file, line);
	}
	/* The encoding decodes, and every prefix of it asks for more. */
	memset(got, 0xA5, sizeof(*got));
	st = rp_mqtt_decode(out, len, pkt->type == RP_MQTT_CONNECT ? 0 : version, lim, got,
			    &consumed);
	if (st != RP_OK) {
		print_error("decode of the encoding\n");
		tu_fail_status(st, RP_OK, ctx, out, len, file, line);
	}
	assert_int_equal(consumed, len);
	assert_int_equal(got->type, pkt->type);
	tu_check_prefixes_(out, len, pkt->type == RP_MQTT_CONNECT ? 0 : version, lim, ctx, file,
			   line);
	/* Re-encoding the decoded packet gives identical bytes. */
	again = malloc(len);
	assert_non_null(again);
	st = rp_mqtt_encode(got, version, lim, again, len, &len2);
	if (st != RP_OK) {
		print_error("re-encode of the decoded packet\n");
		tu_fail_status(st, RP_OK, ctx, out, len, file, line);
	}
	if (len2 != len || memcmp(again, out, len) != 0) {
		print_error("%s:%d: %s: re-encoding differs\n", file, line, ctx);
		tu_print_hex("first", out, len);
		tu_print_hex("second", again, len2);
		_fail(file, line);
	}
	free(again);
	return len;
}

#define ROUNDTRIP(pkt, version, out, got)                                                          \
	tu_roundtrip_((pkt), (version), NULL, (out), sizeof(out), (got), #pkt, __FILE__, __LINE__)

/* Encoding is refused with `want`, by encoded_size and encode alike. */
static inline void tu_expect_encode_(const rp_mqtt_packet *pkt, uint8_t version,
				     const rp_mqtt_limits *lim, rp_status want, const char *ctx,
				     const char *file, int line)
{
	rp_mqtt_limits def = tu_limits();
	uint8_t out[512];
	size_t size = 0, len = 0;
	rp_status st;

	if (lim == NULL) {
		lim = &def;
	}
	st = rp_mqtt_encoded_size(pkt, version, lim, &size);
	if (st != want) {
		print_error("encoded_size\n");
		tu_fail_status(st, want, ctx, NULL, 0, file, line);
	}
	st = rp_mqtt_encode(pkt, version, lim, out, sizeof(out), &len);
	if (st != want) {
		print_error("encode\n");
		tu_fail_status(st, want, ctx, NULL, 0, file, line);
	}
}

#define EXPECT_ENCODE(pkt, version, want)                                                          \
	tu_expect_encode_((pkt), (version), NULL, (want), #pkt, __FILE__, __LINE__)
#define EXPECT_ENCODE_LIM(pkt, version, lim, want)                                                 \
	tu_expect_encode_((pkt), (version), (lim), (want), #pkt, __FILE__, __LINE__)

/* ---- small byte builders for table-driven tests ------------------------ */

typedef struct tu_buf {
	uint8_t b[1024];
	size_t n;
} tu_buf;

static inline void tu_put(tu_buf *w, const uint8_t *p, size_t n)
{
	assert_true(w->n + n <= sizeof(w->b));
	if (n != 0) {
		memcpy(w->b + w->n, p, n);
	}
	w->n += n;
}

static inline void tu_put_u8(tu_buf *w, uint8_t v)
{
	tu_put(w, &v, 1);
}

static inline void tu_put_u16(tu_buf *w, uint16_t v)
{
	tu_put_u8(w, (uint8_t)(v >> 8));
	tu_put_u8(w, (uint8_t)v);
}

static inline void tu_put_u32(tu_buf *w, uint32_t v)
{
	tu_put_u16(w, (uint16_t)(v >> 16));
	tu_put_u16(w, (uint16_t)v);
}

static inline void tu_put_vbi(tu_buf *w, uint32_t v)
{
	do {
		uint8_t b = (uint8_t)(v & 0x7Fu);

		v >>= 7;
		if (v != 0) {
			b |= 0x80u;
		}
		tu_put_u8(w, b);
	} while (v != 0);
}

static inline void tu_put_str(tu_buf *w, const char *s)
{
	size_t n = strlen(s);

	tu_put_u16(w, (uint16_t)n);
	tu_put(w, (const uint8_t *)s, n);
}

/* A whole packet: first byte, remaining length, body. */
static inline void tu_frame(tu_buf *out, uint8_t first, const tu_buf *body)
{
	out->n = 0;
	tu_put_u8(out, first);
	tu_put_vbi(out, (uint32_t)body->n);
	tu_put(out, body->b, body->n);
}

#endif /* RAMPART_TESTS_MQTT_TEST_UTIL_H */
