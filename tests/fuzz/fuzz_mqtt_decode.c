/*
 * fuzz_mqtt_decode.c - libFuzzer target for the MQTT codec (rampart/mqtt.h).
 *
 * Input: one option byte, then a byte stream as a broker would read it from
 * a connection. The stream is framed and decoded packet after packet
 * (rp_mqtt_frame_parse, then rp_mqtt_decode, advancing by `consumed`) until
 * an error, RP_NEED_MORE, or the end of the input.
 *
 * Option byte:
 *   bits 0-1  connection version: 0 = none yet (a CONNECT is expected),
 *             1 = RP_MQTT_V311, 2 and 3 = RP_MQTT_V5
 *   bits 2-3  max_packet: 0 = RP_DEFAULT_MQTT_PACKET,
 *             1 = RP_LIMIT_MQTT_PREAUTH_PACKET, 2 = RP_LIMIT_MQTT_PACKET,
 *             3 = 64 bytes
 *   bits 4-5  other limits: 0 = defaults, 1 = hard caps (through clamp),
 *             2 = tight (topic 32 bytes / 4 levels, 2 user properties,
 *             2 entries, 2 subscription ids), 3 = all 1 (zeros, clamped)
 *   bits 6-7  mixed into the choice of the random prefix length
 *
 * Oracles, checked for every packet that decodes (any failure aborts):
 * - framing: frame.total == consumed <= bytes available, header_len 2..5,
 *   total <= max_packet; decoding the packet alone (in a buffer of exactly
 *   its size, so that ASan sees any read past it) gives the same result
 *   as decoding it inside the stream.
 * - every view (strings, binaries, property blocks, reason code lists,
 *   subscription payloads) lies inside the packet's bytes; every string is
 *   valid UTF-8; every field is in its allowed range ("a decoded packet is
 *   a valid packet, no field needs checking again").
 * - rp_mqtt_props_next and rp_mqtt_sub_next walk exactly the counted items.
 * - encoding: rp_mqtt_encoded_size() == encoded length; a buffer one byte
 *   short gives RP_E_BUF_TOO_SMALL and is not written; the encoding decodes
 *   to the same packet (field by field); encoding that again is
 *   byte-identical (decode-then-encode is stable); the same packet given
 *   with caller arrays (user_props, sub_ids, entries) instead of raw
 *   encodes to the same bytes.
 * - the encoder as a validator ("a Rampart peer never sends a malformed
 *   packet"): a few mutants of each packet (fields, flags, properties,
 *   counts, strings cut from the input, the other version) are encoded;
 *   each is either refused, with the same status by rp_mqtt_encoded_size()
 *   and rp_mqtt_encode(), or its bytes decode to the same packet.
 * - every strict prefix tried (the ends of the fixed header, the last byte,
 *   and one pseudo-random length) gives RP_NEED_MORE from both
 *   rp_mqtt_frame_parse and rp_mqtt_decode, with the exact number of
 *   missing bytes once the fixed header is complete.
 * - errors: rp_mqtt_decode reports the same framing error as
 *   rp_mqtt_frame_parse, only statuses its contract lists, and
 *   rp_mqtt_reason_for() maps them as documented.
 * A CONNECT sets the version for the packets after it, as a broker would.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/limits.h"
#include "rampart/mqtt.h"
#include "rampart/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			check_failed(#cond, __LINE__);                                             \
		}                                                                                  \
	} while (0)

/* Most packets decoded from one input: bounds the time one input takes. */
#define MAX_PACKETS 512u
/*
 * Packets of one input that get the costly checks (prefixes, mutants): a
 * bug those find in a later packet is found as easily in an early one.
 */
#define DEEP_PACKETS 8u
/* Most repeated items walked before deciding that a walker loops. */
#define MAX_WALK 100000u

_Noreturn static void check_failed(const char *what, int line)
{
	fprintf(stderr, "fuzz_mqtt_decode: invariant failed at line %d: %s\n", line, what);
	abort();
}

/* The packet being checked: its bytes and the settings it was decoded with. */
struct pctx {
	const uint8_t *base;
	size_t len;
	uint8_t version; /* the version the packet is under (CONNECT: its own) */
	const rp_mqtt_limits *lim;
};

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);

	CHECK(d != NULL);
	if (n) {
		memcpy(d, p, n);
	}
	return d;
}

/* ------------------------------------------------------------------------
 * Limits
 * ------------------------------------------------------------------------ */

static void limits_check_once(void)
{
	static int done;
	rp_mqtt_limits lim;
	unsigned changed;

	if (done) {
		return;
	}
	done = 1;

	rp_mqtt_limits_default(&lim);
	CHECK(lim.max_packet == RP_DEFAULT_MQTT_PACKET);
	CHECK(lim.max_topic_len == RP_DEFAULT_MQTT_TOPIC_LEN);
	CHECK(lim.max_topic_levels == RP_DEFAULT_MQTT_TOPIC_LEVELS);
	CHECK(lim.max_user_props == RP_DEFAULT_MQTT_USER_PROPS);
	CHECK(lim.max_sub_entries == RP_DEFAULT_MQTT_SUB_ENTRIES);
	CHECK(rp_mqtt_limits_clamp(&lim) == 0);

	memset(&lim, 0xff, sizeof(lim));
	changed = rp_mqtt_limits_clamp(&lim);
	CHECK(changed == 6);
	CHECK(lim.max_packet == RP_LIMIT_MQTT_PACKET);
	CHECK(lim.max_topic_len == RP_LIMIT_MQTT_TOPIC_LEN);
	CHECK(lim.max_topic_levels == RP_LIMIT_MQTT_TOPIC_LEVELS);
	CHECK(lim.max_user_props == RP_LIMIT_MQTT_USER_PROPS);
	CHECK(lim.max_sub_entries == RP_LIMIT_MQTT_SUB_ENTRIES);
	CHECK(lim.max_sub_ids == RP_LIMIT_MQTT_SUB_IDS);

	memset(&lim, 0, sizeof(lim));
	changed = rp_mqtt_limits_clamp(&lim);
	CHECK(changed == 6);
	CHECK(lim.max_packet == 2); /* the size of a PINGREQ */
	CHECK(lim.max_topic_len == 1 && lim.max_topic_levels == 1);
	CHECK(lim.max_user_props == 1 && lim.max_sub_entries == 1 && lim.max_sub_ids == 1);
}

static uint8_t pick_version(uint8_t opt)
{
	static const uint8_t versions[4] = {0, RP_MQTT_V311, RP_MQTT_V5, RP_MQTT_V5};

	return versions[opt & 3u];
}

static void pick_limits(uint8_t opt, rp_mqtt_limits *lim)
{
	static const uint32_t max_packet[4] = {RP_DEFAULT_MQTT_PACKET, RP_LIMIT_MQTT_PREAUTH_PACKET,
					       RP_LIMIT_MQTT_PACKET, 64u};

	switch ((opt >> 4) & 3u) {
	case 0:
		rp_mqtt_limits_default(lim);
		break;
	case 1:
		memset(lim, 0xff, sizeof(*lim));
		(void)rp_mqtt_limits_clamp(lim);
		break;
	case 2:
		rp_mqtt_limits_default(lim);
		lim->max_topic_len = 32;
		lim->max_topic_levels = 4;
		lim->max_user_props = 2;
		lim->max_sub_entries = 2;
		lim->max_sub_ids = 2;
		break;
	default:
		memset(lim, 0, sizeof(*lim));
		(void)rp_mqtt_limits_clamp(lim);
		break;
	}
	lim->max_packet = max_packet[(opt >> 2) & 3u];
}

/* ------------------------------------------------------------------------
 * Views and strings
 * ------------------------------------------------------------------------ */

static int inside(const struct pctx *c, const uint8_t *p, size_t n)
{
	uintptr_t b = (uintptr_t)c->base;
	uintptr_t q = (uintptr_t)p;

	if (n == 0) {
		return 1;
	}
	if (p == NULL || q < b || q - b > c->len) {
		return 0;
	}
	return n <= c->len - (size_t)(q - b);
}

static void check_bin(const struct pctx *c, rp_mqtt_bin b)
{
	CHECK(b.len <= RP_MQTT_STR_MAX);
	CHECK(inside(c, b.p, b.len));
}

static void check_str(const struct pctx *c, rp_mqtt_str s)
{
	check_bin(c, s);
	CHECK(rp_mqtt_utf8_valid(s.p, s.len) == 1);
}

/*
 * Well-formed UTF-8 where U+0000 is allowed: a payload marked UTF-8 is
 * "character data" (RFC 3629), not an MQTT string (which excludes U+0000).
 * A 0x00 byte is never inside a multi-byte sequence, so the segments
 * between them can be checked alone.
 */
static int utf8_payload_valid(const uint8_t *p, size_t n)
{
	const uint8_t *nul;

	while (n > 0) {
		nul = memchr(p, 0, n);
		if (nul == NULL) {
			return rp_mqtt_utf8_valid(p, n);
		}
		if (!rp_mqtt_utf8_valid(p, (size_t)(nul - p))) {
			return 0;
		}
		n -= (size_t)(nul - p) + 1;
		p = nul + 1;
	}
	return 1;
}

static int has_wildcard(rp_mqtt_str s)
{
	return s.len && (memchr(s.p, '+', s.len) != NULL || memchr(s.p, '#', s.len) != NULL);
}

static int str_eq(rp_mqtt_str a, rp_mqtt_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* ------------------------------------------------------------------------
 * Properties
 * ------------------------------------------------------------------------ */

/* Where a property may appear: one bit per packet type, bit 0 = will. */
#define IN(t) (1u << (t))
#define WILL  1u

static uint32_t prop_allowed(uint8_t id)
{
	const uint32_t acks =
		IN(RP_MQTT_PUBACK) | IN(RP_MQTT_PUBREC) | IN(RP_MQTT_PUBREL) | IN(RP_MQTT_PUBCOMP);

	switch (id) {
	case RP_MQTT_PROP_PAYLOAD_FORMAT:
	case RP_MQTT_PROP_MESSAGE_EXPIRY:
	case RP_MQTT_PROP_CONTENT_TYPE:
	case RP_MQTT_PROP_RESPONSE_TOPIC:
	case RP_MQTT_PROP_CORRELATION_DATA:
		return IN(RP_MQTT_PUBLISH) | WILL;
	case RP_MQTT_PROP_SUBSCRIPTION_ID:
		return IN(RP_MQTT_PUBLISH) | IN(RP_MQTT_SUBSCRIBE);
	case RP_MQTT_PROP_SESSION_EXPIRY:
		return IN(RP_MQTT_CONNECT) | IN(RP_MQTT_CONNACK) | IN(RP_MQTT_DISCONNECT);
	case RP_MQTT_PROP_ASSIGNED_CLIENT_ID:
	case RP_MQTT_PROP_SERVER_KEEPALIVE:
	case RP_MQTT_PROP_RESPONSE_INFO:
	case RP_MQTT_PROP_MAX_QOS:
	case RP_MQTT_PROP_RETAIN_AVAILABLE:
	case RP_MQTT_PROP_WILDCARD_SUB_AVAILABLE:
	case RP_MQTT_PROP_SUB_ID_AVAILABLE:
	case RP_MQTT_PROP_SHARED_SUB_AVAILABLE:
		return IN(RP_MQTT_CONNACK);
	case RP_MQTT_PROP_AUTH_METHOD:
	case RP_MQTT_PROP_AUTH_DATA:
		return IN(RP_MQTT_CONNECT) | IN(RP_MQTT_CONNACK) | IN(RP_MQTT_AUTH);
	case RP_MQTT_PROP_REQUEST_PROBLEM_INFO:
	case RP_MQTT_PROP_REQUEST_RESPONSE_INFO:
		return IN(RP_MQTT_CONNECT);
	case RP_MQTT_PROP_WILL_DELAY:
		return WILL;
	case RP_MQTT_PROP_SERVER_REFERENCE:
		return IN(RP_MQTT_CONNACK) | IN(RP_MQTT_DISCONNECT);
	case RP_MQTT_PROP_REASON_STRING:
		return IN(RP_MQTT_CONNACK) | acks | IN(RP_MQTT_SUBACK) | IN(RP_MQTT_UNSUBACK) |
		       IN(RP_MQTT_DISCONNECT) | IN(RP_MQTT_AUTH);
	case RP_MQTT_PROP_RECEIVE_MAX:
	case RP_MQTT_PROP_TOPIC_ALIAS_MAX:
	case RP_MQTT_PROP_MAX_PACKET_SIZE:
		return IN(RP_MQTT_CONNECT) | IN(RP_MQTT_CONNACK);
	case RP_MQTT_PROP_TOPIC_ALIAS:
		return IN(RP_MQTT_PUBLISH);
	case RP_MQTT_PROP_USER:
		return 0xffffu & ~(IN(RP_MQTT_PINGREQ) | IN(RP_MQTT_PINGRESP)); /* any, wills too */
	default:
		return 0;
	}
}

static int has(const rp_mqtt_props *pr, uint8_t id)
{
	return (pr->present & RP_MQTT_HAS(id)) != 0;
}

/* Walks the user properties and subscription ids; returns how many of each. */
static void walk_props(const struct pctx *c, const rp_mqtt_props *pr, uint32_t *n_user,
		       uint32_t *n_subid)
{
	uint32_t cursor = 0;
	uint32_t n = 0;
	rp_mqtt_str name, value;
	uint32_t sub_id;

	while (rp_mqtt_props_next(pr, RP_MQTT_PROP_USER, &cursor, &name, &value, NULL) == 1) {
		CHECK(++n <= MAX_WALK);
		check_str(c, name);
		check_str(c, value);
	}
	*n_user = n;

	cursor = 0;
	n = 0;
	while (rp_mqtt_props_next(pr, RP_MQTT_PROP_SUBSCRIPTION_ID, &cursor, NULL, NULL, &sub_id)) {
		CHECK(++n <= MAX_WALK);
		CHECK(sub_id >= 1 && sub_id <= RP_MQTT_VBI_MAX);
	}
	*n_subid = n;
}

/*
 * Checks one decoded property block of a packet of `type` (or a will when
 * `will` is set).
 */
static void check_props(const struct pctx *c, const rp_mqtt_props *pr, uint8_t type, int will)
{
	uint32_t where = will ? WILL : IN(type);
	uint32_t n_user, n_subid;
	uint8_t id;

	if (c->version != RP_MQTT_V5) {
		CHECK(pr->present == 0);
		CHECK(pr->user_prop_count == 0 && pr->sub_id_count == 0);
		CHECK(pr->raw_len == 0);
		return;
	}

	CHECK(pr->user_props == NULL && pr->sub_ids == NULL);
	CHECK(pr->raw_len < RP_MQTT_VBI_MAX);
	CHECK(inside(c, pr->raw, pr->raw_len));
	CHECK(pr->raw_len == 0 || pr->raw != NULL);

	for (id = 0; id < 64; id++) {
		if ((pr->present & RP_MQTT_HAS(id)) == 0) {
			continue;
		}
		/* A property not allowed here must have been refused. */
		CHECK((prop_allowed(id) & where) != 0);
	}

	if (has(pr, RP_MQTT_PROP_PAYLOAD_FORMAT)) {
		CHECK(pr->payload_format <= 1);
	}
	if (has(pr, RP_MQTT_PROP_REQUEST_PROBLEM_INFO)) {
		CHECK(pr->request_problem_info <= 1);
	}
	if (has(pr, RP_MQTT_PROP_REQUEST_RESPONSE_INFO)) {
		CHECK(pr->request_response_info <= 1);
	}
	if (has(pr, RP_MQTT_PROP_MAX_QOS)) {
		CHECK(pr->max_qos <= 1);
	}
	if (has(pr, RP_MQTT_PROP_RETAIN_AVAILABLE)) {
		CHECK(pr->retain_available <= 1);
	}
	if (has(pr, RP_MQTT_PROP_WILDCARD_SUB_AVAILABLE)) {
		CHECK(pr->wildcard_sub_available <= 1);
	}
	if (has(pr, RP_MQTT_PROP_SUB_ID_AVAILABLE)) {
		CHECK(pr->sub_id_available <= 1);
	}
	if (has(pr, RP_MQTT_PROP_SHARED_SUB_AVAILABLE)) {
		CHECK(pr->shared_sub_available <= 1);
	}
	if (has(pr, RP_MQTT_PROP_RECEIVE_MAX)) {
		CHECK(pr->receive_max != 0);
	}
	if (has(pr, RP_MQTT_PROP_MAX_PACKET_SIZE)) {
		CHECK(pr->max_packet_size != 0);
	}
	if (has(pr, RP_MQTT_PROP_TOPIC_ALIAS)) {
		CHECK(pr->topic_alias != 0);
	}
	if (has(pr, RP_MQTT_PROP_CONTENT_TYPE)) {
		check_str(c, pr->content_type);
	}
	if (has(pr, RP_MQTT_PROP_RESPONSE_TOPIC)) {
		/* MQTT-3.3.2-14: a topic name, so no wildcard (and not empty). */
		check_str(c, pr->response_topic);
		CHECK(pr->response_topic.len > 0);
		CHECK(!has_wildcard(pr->response_topic));
	}
	if (has(pr, RP_MQTT_PROP_CORRELATION_DATA)) {
		check_bin(c, pr->correlation_data);
	}
	if (has(pr, RP_MQTT_PROP_ASSIGNED_CLIENT_ID)) {
		check_str(c, pr->assigned_client_id);
	}
	if (has(pr, RP_MQTT_PROP_AUTH_METHOD)) {
		check_str(c, pr->auth_method);
	}
	if (has(pr, RP_MQTT_PROP_AUTH_DATA)) {
		check_bin(c, pr->auth_data);
		/* MQTT 5 3.1.2.11.10: authentication data without a method. */
		CHECK(has(pr, RP_MQTT_PROP_AUTH_METHOD));
	}
	if (has(pr, RP_MQTT_PROP_RESPONSE_INFO)) {
		check_str(c, pr->response_info);
	}
	if (has(pr, RP_MQTT_PROP_SERVER_REFERENCE)) {
		check_str(c, pr->server_reference);
	}
	if (has(pr, RP_MQTT_PROP_REASON_STRING)) {
		check_str(c, pr->reason_string);
	}

	walk_props(c, pr, &n_user, &n_subid);
	CHECK(n_user == pr->user_prop_count);
	CHECK(n_subid == pr->sub_id_count);
	CHECK(pr->user_prop_count <= c->lim->max_user_props);
	if (pr->sub_id_count) {
		CHECK(!will && (type == RP_MQTT_PUBLISH || type == RP_MQTT_SUBSCRIBE));
	}
	if (type == RP_MQTT_SUBSCRIBE) {
		CHECK(pr->sub_id_count <= 1);
	}
	if (type == RP_MQTT_PUBLISH) {
		CHECK(pr->sub_id_count <= c->lim->max_sub_ids);
	}
	if (pr->user_prop_count) {
		CHECK((prop_allowed(RP_MQTT_PROP_USER) & where) != 0);
	}
}

/* ------------------------------------------------------------------------
 * Packets
 * ------------------------------------------------------------------------ */

static void check_connect(const struct pctx *c0, const rp_mqtt_connect *k)
{
	struct pctx c = *c0;

	CHECK(k->version == RP_MQTT_V311 || k->version == RP_MQTT_V5);
	c.version = k->version;
	CHECK(k->clean_start <= 1);
	check_props(&c, &k->props, RP_MQTT_CONNECT, 0);
	check_str(&c, k->client_id);
	CHECK(k->will_flag <= 1 && k->will_qos <= 2 && k->will_retain <= 1);
	if (k->will_flag) {
		check_props(&c, &k->will_props, RP_MQTT_CONNECT, 1);
		check_str(&c, k->will_topic);
		CHECK(rp_mqtt_topic_name_check(k->will_topic.p, k->will_topic.len, c.lim) == RP_OK);
		check_bin(&c, k->will_payload);
		if (has(&k->will_props, RP_MQTT_PROP_PAYLOAD_FORMAT) &&
		    k->will_props.payload_format == 1) {
			CHECK(utf8_payload_valid(k->will_payload.p, k->will_payload.len));
		}
	} else {
		/* MQTT-3.1.2-11/-13/-15: will QoS and retain are 0 without a will. */
		CHECK(k->will_qos == 0 && k->will_retain == 0);
	}
	CHECK(k->has_username <= 1 && k->has_password <= 1);
	if (k->has_username) {
		check_str(&c, k->username);
	}
	if (k->has_password) {
		check_bin(&c, k->password);
		if (k->version == RP_MQTT_V311) {
			/* MQTT-3.1.2-22: no password without a user name in 3.1.1. */
			CHECK(k->has_username);
		}
	}
}

static void check_publish(const struct pctx *c, const rp_mqtt_publish *p)
{
	CHECK(p->qos <= 2 && p->dup <= 1 && p->retain <= 1);
	if (p->qos == 0) {
		CHECK(p->dup == 0);
	} else {
		CHECK(p->packet_id != 0);
	}
	check_props(c, &p->props, RP_MQTT_PUBLISH, 0);
	check_str(c, p->topic);
	if (p->topic.len == 0) {
		CHECK(c->version == RP_MQTT_V5 && has(&p->props, RP_MQTT_PROP_TOPIC_ALIAS));
	} else {
		CHECK(rp_mqtt_topic_name_check(p->topic.p, p->topic.len, c->lim) == RP_OK);
	}
	CHECK(inside(c, p->payload.p, p->payload.len));
	CHECK(p->payload.len == 0 || p->payload.p + p->payload.len == c->base + c->len);
	if (has(&p->props, RP_MQTT_PROP_PAYLOAD_FORMAT) && p->props.payload_format == 1) {
		CHECK(utf8_payload_valid(p->payload.p, p->payload.len));
	}
}

static void check_subscribe(const struct pctx *c, const rp_mqtt_subscribe *s, uint8_t type)
{
	int is_sub = type == RP_MQTT_SUBSCRIBE;
	uint32_t cursor = 0;
	uint32_t n = 0;
	rp_mqtt_sub_entry e;
	rp_mqtt_str group, filter;

	CHECK(s->packet_id != 0);
	check_props(c, &s->props, type, 0);
	CHECK(s->entries == NULL);
	CHECK(s->raw_len > 0 && inside(c, s->raw, s->raw_len));
	CHECK(s->count >= 1 && s->count <= c->lim->max_sub_entries);

	while (rp_mqtt_sub_next(s, is_sub, &cursor, &e) == 1) {
		CHECK(++n <= MAX_WALK);
		check_str(c, e.filter);
		CHECK(rp_mqtt_topic_filter_check(e.filter.p, e.filter.len, c->lim) == RP_OK);
		if (!is_sub) {
			continue;
		}
		CHECK(e.qos <= 2);
		CHECK(e.no_local <= 1 && e.retain_as_published <= 1 && e.retain_handling <= 2);
		if (c->version == RP_MQTT_V311) {
			CHECK(e.no_local == 0 && e.retain_as_published == 0);
			CHECK(e.retain_handling == 0);
		} else if (rp_mqtt_topic_shared_split(e.filter.p, e.filter.len, &group, &filter)) {
			/* MQTT-3.8.3-4: No Local on a shared subscription. */
			CHECK(e.no_local == 0);
		}
	}
	CHECK(n == s->count);
}

static void check_suback(const struct pctx *c, const rp_mqtt_suback *s, uint8_t type)
{
	uint16_t i;

	CHECK(s->packet_id != 0);
	check_props(c, &s->props, type, 0);
	CHECK(s->count <= c->lim->max_sub_entries);
	CHECK(inside(c, s->reason_codes, s->count));
	if (type == RP_MQTT_UNSUBACK && c->version == RP_MQTT_V311) {
		CHECK(s->count == 0);
		return;
	}
	CHECK(s->count >= 1);
	for (i = 0; i < s->count; i++) {
		CHECK(rp_mqtt_reason_valid(type, c->version, s->reason_codes[i]));
	}
}

/* Checks every invariant of a packet decoded from c->base[0 .. c->len). */
static void check_packet(const struct pctx *c, const rp_mqtt_packet *pkt)
{
	CHECK(pkt->type >= RP_MQTT_CONNECT && pkt->type <= RP_MQTT_AUTH);
	CHECK(strcmp(rp_mqtt_type_str(pkt->type), "?") != 0);
	CHECK((c->base[0] >> 4) == pkt->type);

	switch (pkt->type) {
	case RP_MQTT_CONNECT:
		check_connect(c, &pkt->u.connect);
		break;
	case RP_MQTT_CONNACK:
		CHECK(pkt->u.connack.session_present <= 1);
		CHECK(rp_mqtt_reason_valid(RP_MQTT_CONNACK, c->version,
					   pkt->u.connack.reason_code));
		check_props(c, &pkt->u.connack.props, RP_MQTT_CONNACK, 0);
		break;
	case RP_MQTT_PUBLISH:
		check_publish(c, &pkt->u.publish);
		break;
	case RP_MQTT_PUBACK:
	case RP_MQTT_PUBREC:
	case RP_MQTT_PUBREL:
	case RP_MQTT_PUBCOMP:
		CHECK(pkt->u.ack.packet_id != 0);
		if (c->version == RP_MQTT_V311) {
			CHECK(pkt->u.ack.reason_code == 0);
		} else {
			CHECK(rp_mqtt_reason_valid(pkt->type, c->version, pkt->u.ack.reason_code));
		}
		check_props(c, &pkt->u.ack.props, pkt->type, 0);
		break;
	case RP_MQTT_SUBSCRIBE:
	case RP_MQTT_UNSUBSCRIBE:
		check_subscribe(c, &pkt->u.subscribe, pkt->type);
		break;
	case RP_MQTT_SUBACK:
	case RP_MQTT_UNSUBACK:
		check_suback(c, &pkt->u.suback, pkt->type);
		break;
	case RP_MQTT_PINGREQ:
	case RP_MQTT_PINGRESP:
		CHECK(c->len == 2);
		break;
	case RP_MQTT_DISCONNECT:
	case RP_MQTT_AUTH:
		if (c->version == RP_MQTT_V5) {
			CHECK(rp_mqtt_reason_valid(pkt->type, c->version,
						   pkt->u.disconnect.reason_code));
		} else {
			CHECK(pkt->type == RP_MQTT_DISCONNECT && c->len == 2);
		}
		check_props(c, &pkt->u.disconnect.props, pkt->type, 0);
		break;
	default:
		CHECK(0);
	}
}

/* ------------------------------------------------------------------------
 * Field-by-field comparison of two decodings (of different buffers)
 * ------------------------------------------------------------------------ */

/*
 * Flag fields (clean start, retain, dup...) compare as booleans: the encoder
 * writes any non-zero value as 1, and a decoder gives 0 or 1.
 */
#define B(x) ((x) != 0)

/*
 * Iterators over the repeated items of a packet, decoded (raw) or built by
 * a caller (arrays), that stop at the count: the count is what an encoder
 * is told to write.
 */
struct iter {
	uint32_t cursor; /* for the raw walkers */
	uint32_t index;  /* items returned so far */
};

static int user_next(const rp_mqtt_props *p, struct iter *it, rp_mqtt_str *n, rp_mqtt_str *v)
{
	if (it->index >= p->user_prop_count) {
		return 0;
	}
	if (p->user_props != NULL) {
		*n = p->user_props[it->index].name;
		*v = p->user_props[it->index].value;
	} else if (rp_mqtt_props_next(p, RP_MQTT_PROP_USER, &it->cursor, n, v, NULL) != 1) {
		return 0;
	}
	it->index++;
	return 1;
}

static int subid_next(const rp_mqtt_props *p, struct iter *it, uint32_t *id)
{
	if (it->index >= p->sub_id_count) {
		return 0;
	}
	if (p->sub_ids != NULL) {
		*id = p->sub_ids[it->index];
	} else if (rp_mqtt_props_next(p, RP_MQTT_PROP_SUBSCRIPTION_ID, &it->cursor, NULL, NULL,
				      id) != 1) {
		return 0;
	}
	it->index++;
	return 1;
}

static int entry_next(const rp_mqtt_subscribe *s, int is_sub, struct iter *it, rp_mqtt_sub_entry *e)
{
	if (it->index >= s->count) {
		return 0;
	}
	if (s->entries != NULL) {
		*e = s->entries[it->index];
	} else if (rp_mqtt_sub_next(s, is_sub, &it->cursor, e) != 1) {
		return 0;
	}
	it->index++;
	return 1;
}

/* Bits that say nothing: repeated properties are counted instead. */
#define COUNTED_BITS (RP_MQTT_HAS(RP_MQTT_PROP_USER) | RP_MQTT_HAS(RP_MQTT_PROP_SUBSCRIPTION_ID))

static void compare_props(const rp_mqtt_props *a, const rp_mqtt_props *b)
{
	struct iter ia = {0, 0}, ib = {0, 0};
	rp_mqtt_str na, va, nb, vb;
	uint32_t sa, sb;
	int ra, rb;

	CHECK((a->present & ~COUNTED_BITS) == (b->present & ~COUNTED_BITS));
	CHECK(a->user_prop_count == b->user_prop_count);
	CHECK(a->sub_id_count == b->sub_id_count);

#define SAME_INT(id, f)                                                                            \
	do {                                                                                       \
		if (has(a, id)) {                                                                  \
			CHECK(a->f == b->f);                                                       \
		}                                                                                  \
	} while (0)
#define SAME_STR(id, f)                                                                            \
	do {                                                                                       \
		if (has(a, id)) {                                                                  \
			CHECK(str_eq(a->f, b->f));                                                 \
		}                                                                                  \
	} while (0)

	SAME_INT(RP_MQTT_PROP_PAYLOAD_FORMAT, payload_format);
	SAME_INT(RP_MQTT_PROP_REQUEST_PROBLEM_INFO, request_problem_info);
	SAME_INT(RP_MQTT_PROP_REQUEST_RESPONSE_INFO, request_response_info);
	SAME_INT(RP_MQTT_PROP_MAX_QOS, max_qos);
	SAME_INT(RP_MQTT_PROP_RETAIN_AVAILABLE, retain_available);
	SAME_INT(RP_MQTT_PROP_WILDCARD_SUB_AVAILABLE, wildcard_sub_available);
	SAME_INT(RP_MQTT_PROP_SUB_ID_AVAILABLE, sub_id_available);
	SAME_INT(RP_MQTT_PROP_SHARED_SUB_AVAILABLE, shared_sub_available);
	SAME_INT(RP_MQTT_PROP_SERVER_KEEPALIVE, server_keepalive);
	SAME_INT(RP_MQTT_PROP_RECEIVE_MAX, receive_max);
	SAME_INT(RP_MQTT_PROP_TOPIC_ALIAS_MAX, topic_alias_max);
	SAME_INT(RP_MQTT_PROP_TOPIC_ALIAS, topic_alias);
	SAME_INT(RP_MQTT_PROP_MESSAGE_EXPIRY, message_expiry);
	SAME_INT(RP_MQTT_PROP_SESSION_EXPIRY, session_expiry);
	SAME_INT(RP_MQTT_PROP_WILL_DELAY, will_delay);
	SAME_INT(RP_MQTT_PROP_MAX_PACKET_SIZE, max_packet_size);
	SAME_STR(RP_MQTT_PROP_CONTENT_TYPE, content_type);
	SAME_STR(RP_MQTT_PROP_RESPONSE_TOPIC, response_topic);
	SAME_STR(RP_MQTT_PROP_CORRELATION_DATA, correlation_data);
	SAME_STR(RP_MQTT_PROP_ASSIGNED_CLIENT_ID, assigned_client_id);
	SAME_STR(RP_MQTT_PROP_AUTH_METHOD, auth_method);
	SAME_STR(RP_MQTT_PROP_AUTH_DATA, auth_data);
	SAME_STR(RP_MQTT_PROP_RESPONSE_INFO, response_info);
	SAME_STR(RP_MQTT_PROP_SERVER_REFERENCE, server_reference);
	SAME_STR(RP_MQTT_PROP_REASON_STRING, reason_string);
#undef SAME_INT
#undef SAME_STR

	for (;;) {
		ra = user_next(a, &ia, &na, &va);
		rb = user_next(b, &ib, &nb, &vb);
		CHECK(ra == rb);
		if (ra != 1) {
			break;
		}
		CHECK(str_eq(na, nb) && str_eq(va, vb));
	}
	memset(&ia, 0, sizeof(ia));
	memset(&ib, 0, sizeof(ib));
	for (;;) {
		ra = subid_next(a, &ia, &sa);
		rb = subid_next(b, &ib, &sb);
		CHECK(ra == rb);
		if (ra != 1) {
			break;
		}
		CHECK(sa == sb);
	}
}

static void compare_subscribe(const rp_mqtt_subscribe *a, const rp_mqtt_subscribe *b, int is_sub)
{
	struct iter ia = {0, 0}, ib = {0, 0};
	rp_mqtt_sub_entry ea, eb;
	int ra, rb;

	CHECK(a->packet_id == b->packet_id && a->count == b->count);
	compare_props(&a->props, &b->props);
	for (;;) {
		ra = entry_next(a, is_sub, &ia, &ea);
		rb = entry_next(b, is_sub, &ib, &eb);
		CHECK(ra == rb);
		if (ra != 1) {
			break;
		}
		CHECK(str_eq(ea.filter, eb.filter));
		if (is_sub) {
			CHECK(ea.qos == eb.qos && B(ea.no_local) == B(eb.no_local));
			CHECK(B(ea.retain_as_published) == B(eb.retain_as_published));
			CHECK(ea.retain_handling == eb.retain_handling);
		}
	}
}

static void compare_packets(const rp_mqtt_packet *a, const rp_mqtt_packet *b, uint8_t version)
{
	const rp_mqtt_connect *ka = &a->u.connect, *kb = &b->u.connect;
	const rp_mqtt_publish *pa = &a->u.publish, *pb = &b->u.publish;

	CHECK(a->type == b->type);
	switch (a->type) {
	case RP_MQTT_CONNECT:
		CHECK(ka->version == kb->version && B(ka->clean_start) == B(kb->clean_start));
		CHECK(ka->keepalive == kb->keepalive);
		compare_props(&ka->props, &kb->props);
		CHECK(str_eq(ka->client_id, kb->client_id));
		CHECK(B(ka->will_flag) == B(kb->will_flag) && ka->will_qos == kb->will_qos);
		CHECK(B(ka->will_retain) == B(kb->will_retain));
		if (ka->will_flag) {
			compare_props(&ka->will_props, &kb->will_props);
			CHECK(str_eq(ka->will_topic, kb->will_topic));
			CHECK(str_eq(ka->will_payload, kb->will_payload));
		}
		CHECK(B(ka->has_username) == B(kb->has_username));
		CHECK(B(ka->has_password) == B(kb->has_password));
		if (ka->has_username) {
			CHECK(str_eq(ka->username, kb->username));
		}
		if (ka->has_password) {
			CHECK(str_eq(ka->password, kb->password));
		}
		break;
	case RP_MQTT_CONNACK:
		CHECK(B(a->u.connack.session_present) == B(b->u.connack.session_present));
		CHECK(a->u.connack.reason_code == b->u.connack.reason_code);
		compare_props(&a->u.connack.props, &b->u.connack.props);
		break;
	case RP_MQTT_PUBLISH:
		CHECK(B(pa->dup) == B(pb->dup) && pa->qos == pb->qos);
		CHECK(B(pa->retain) == B(pb->retain));
		if (pa->qos) {
			CHECK(pa->packet_id == pb->packet_id);
		}
		CHECK(str_eq(pa->topic, pb->topic));
		compare_props(&pa->props, &pb->props);
		CHECK(str_eq(pa->payload, pb->payload));
		break;
	case RP_MQTT_PUBACK:
	case RP_MQTT_PUBREC:
	case RP_MQTT_PUBREL:
	case RP_MQTT_PUBCOMP:
		CHECK(a->u.ack.packet_id == b->u.ack.packet_id);
		CHECK(a->u.ack.reason_code == b->u.ack.reason_code);
		compare_props(&a->u.ack.props, &b->u.ack.props);
		break;
	case RP_MQTT_SUBSCRIBE:
	case RP_MQTT_UNSUBSCRIBE:
		compare_subscribe(&a->u.subscribe, &b->u.subscribe, a->type == RP_MQTT_SUBSCRIBE);
		break;
	case RP_MQTT_SUBACK:
	case RP_MQTT_UNSUBACK:
		CHECK(a->u.suback.packet_id == b->u.suback.packet_id);
		CHECK(a->u.suback.count == b->u.suback.count);
		CHECK(a->u.suback.count == 0 ||
		      memcmp(a->u.suback.reason_codes, b->u.suback.reason_codes,
			     a->u.suback.count) == 0);
		compare_props(&a->u.suback.props, &b->u.suback.props);
		break;
	case RP_MQTT_DISCONNECT:
	case RP_MQTT_AUTH:
		if (version == RP_MQTT_V5) {
			CHECK(a->u.disconnect.reason_code == b->u.disconnect.reason_code);
			compare_props(&a->u.disconnect.props, &b->u.disconnect.props);
		}
		break;
	default:
		break;
	}
}

static void check_array_form(const rp_mqtt_packet *pkt, uint8_t version, const rp_mqtt_limits *lim,
			     const uint8_t *enc, size_t size);

/* ------------------------------------------------------------------------
 * Encoding round trip
 * ------------------------------------------------------------------------ */

#define CANARY 0xA5u

static int untouched(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] != CANARY) {
			return 0;
		}
	}
	return 1;
}

/*
 * Encodes a decoded packet, decodes the encoding, encodes again: the sizes
 * agree, a short buffer is refused untouched, and the bytes are stable.
 */
static void roundtrip(const rp_mqtt_packet *pkt, uint8_t version, const rp_mqtt_limits *lim)
{
	uint8_t pkt_version = pkt->type == RP_MQTT_CONNECT ? pkt->u.connect.version : version;
	rp_mqtt_packet again;
	struct pctx c;
	size_t size = 0, size2 = 0, out_len = 0, consumed = 0;
	uint8_t *shortbuf, *enc, *enc2, *big;
	rp_status st;

	st = rp_mqtt_encoded_size(pkt, version, lim, &size);
	CHECK(st == RP_OK);
	CHECK(size >= 2 && size <= lim->max_packet);

	/* One byte short: refused, and nothing written. */
	shortbuf = malloc(size - 1);
	CHECK(shortbuf != NULL);
	memset(shortbuf, CANARY, size - 1);
	out_len = 0;
	st = rp_mqtt_encode(pkt, version, lim, shortbuf, size - 1, &out_len);
	CHECK(st == RP_E_BUF_TOO_SMALL);
	CHECK(untouched(shortbuf, size - 1));
	free(shortbuf);

	/* Exactly the size (ASan sees any write past it). */
	enc = malloc(size);
	CHECK(enc != NULL);
	st = rp_mqtt_encode(pkt, version, lim, enc, size, &out_len);
	CHECK(st == RP_OK);
	CHECK(out_len == size);

	/* The same packet with caller arrays instead of raw: the same bytes. */
	check_array_form(pkt, version, lim, enc, size);

	/* More room than needed: same bytes, nothing written past the end. */
	big = malloc(size + 8);
	CHECK(big != NULL);
	memset(big, CANARY, size + 8);
	out_len = 0;
	st = rp_mqtt_encode(pkt, version, lim, big, size + 8, &out_len);
	CHECK(st == RP_OK && out_len == size);
	CHECK(memcmp(big, enc, size) == 0);
	CHECK(untouched(big + size, 8));
	free(big);

	/* The encoding is a valid packet, equal field by field. */
	memset(&again, CANARY, sizeof(again));
	st = rp_mqtt_decode(enc, size, version, lim, &again, &consumed);
	CHECK(st == RP_OK);
	CHECK(consumed == size);
	CHECK(again.type == pkt->type);
	c.base = enc;
	c.len = size;
	c.version = pkt_version;
	c.lim = lim;
	check_packet(&c, &again);
	compare_packets(pkt, &again, pkt_version);

	/* Decode-then-encode is stable. */
	st = rp_mqtt_encoded_size(&again, version, lim, &size2);
	CHECK(st == RP_OK && size2 == size);
	enc2 = malloc(size);
	CHECK(enc2 != NULL);
	st = rp_mqtt_encode(&again, version, lim, enc2, size, &out_len);
	CHECK(st == RP_OK && out_len == size);
	CHECK(memcmp(enc, enc2, size) == 0);

	free(enc2);
	free(enc);
}

/* ------------------------------------------------------------------------
 * The encoder as a validator: array form, and mutated packets
 * ------------------------------------------------------------------------ */

/* Room for every repeated item a packet may hold, plus a few added. */
#define ROOM_USER  (RP_LIMIT_MQTT_USER_PROPS + 4u)
#define ROOM_SUBID (RP_LIMIT_MQTT_SUB_IDS + 4u)
#define ROOM_ENTRY (RP_LIMIT_MQTT_SUB_ENTRIES + 4u)

/* Caller arrays for one packet: its property blocks, entries, codes. */
struct arrays {
	rp_mqtt_user_prop user[2][ROOM_USER]; /* [0] packet, [1] will */
	uint32_t subid[2][ROOM_SUBID];
	rp_mqtt_sub_entry entry[ROOM_ENTRY];
	uint8_t code[ROOM_ENTRY];
};

/* Moves a property block's repeated items from raw to caller arrays. */
static void props_to_arrays(rp_mqtt_props *p, rp_mqtt_user_prop *user, uint32_t *subid)
{
	struct iter it = {0, 0};
	uint16_t n = 0;

	if (p->user_props == NULL) {
		while (n < ROOM_USER && user_next(p, &it, &user[n].name, &user[n].value)) {
			n++;
		}
		p->user_prop_count = n;
		p->user_props = user;
	}
	if (p->sub_ids == NULL) {
		memset(&it, 0, sizeof(it));
		n = 0;
		while (n < ROOM_SUBID && subid_next(p, &it, &subid[n])) {
			n++;
		}
		p->sub_id_count = n;
		p->sub_ids = subid;
	}
	p->raw = NULL;
	p->raw_len = 0;
}

static void sub_to_arrays(rp_mqtt_subscribe *s, int is_sub, rp_mqtt_sub_entry *entry)
{
	struct iter it = {0, 0};
	uint16_t n = 0;

	if (s->entries != NULL) {
		return;
	}
	while (n < ROOM_ENTRY && entry_next(s, is_sub, &it, &entry[n])) {
		n++;
	}
	s->count = n;
	s->entries = entry;
	s->raw = NULL;
	s->raw_len = 0;
}

/* The property block(s) of a packet: [0] the packet's, [1] the will's. */
static int props_of(rp_mqtt_packet *m, rp_mqtt_props *out[2])
{
	out[0] = NULL;
	out[1] = NULL;
	switch (m->type) {
	case RP_MQTT_CONNECT:
		out[0] = &m->u.connect.props;
		if (m->u.connect.will_flag) {
			out[1] = &m->u.connect.will_props;
		}
		break;
	case RP_MQTT_CONNACK:
		out[0] = &m->u.connack.props;
		break;
	case RP_MQTT_PUBLISH:
		out[0] = &m->u.publish.props;
		break;
	case RP_MQTT_PUBACK:
	case RP_MQTT_PUBREC:
	case RP_MQTT_PUBREL:
	case RP_MQTT_PUBCOMP:
		out[0] = &m->u.ack.props;
		break;
	case RP_MQTT_SUBSCRIBE:
	case RP_MQTT_UNSUBSCRIBE:
		out[0] = &m->u.subscribe.props;
		break;
	case RP_MQTT_SUBACK:
	case RP_MQTT_UNSUBACK:
		out[0] = &m->u.suback.props;
		break;
	case RP_MQTT_DISCONNECT:
	case RP_MQTT_AUTH:
		out[0] = &m->u.disconnect.props;
		break;
	default:
		return 0;
	}
	return out[1] ? 2 : 1;
}

/* Every repeated item of m moved to the caller arrays of a. */
static void packet_to_arrays(rp_mqtt_packet *m, struct arrays *a)
{
	rp_mqtt_props *pr[2];
	int i, n = props_of(m, pr);

	for (i = 0; i < n; i++) {
		props_to_arrays(pr[i], a->user[i], a->subid[i]);
	}
	if (m->type == RP_MQTT_SUBSCRIBE || m->type == RP_MQTT_UNSUBSCRIBE) {
		sub_to_arrays(&m->u.subscribe, m->type == RP_MQTT_SUBSCRIBE, a->entry);
	}
}

/*
 * Any packet the encoder accepts is valid: encoded_size and encode agree,
 * the bytes decode to the same packet, and re-encode identically. A packet
 * it refuses is refused the same way by both functions.
 */
static void check_encoder_verdict(const rp_mqtt_packet *m, uint8_t version,
				  const rp_mqtt_limits *lim)
{
	uint8_t pv = m->type == RP_MQTT_CONNECT ? m->u.connect.version : version;
	uint8_t small[8];
	rp_mqtt_packet back;
	struct pctx c;
	size_t size = 0, size2 = 0, out_len = 0, consumed = 0;
	uint8_t *enc, *enc2;
	rp_status st, st2;

	st = rp_mqtt_encoded_size(m, version, lim, &size);
	st2 = rp_mqtt_encode(m, version, lim, small, sizeof(small), &out_len);
	CHECK(st != RP_NEED_MORE && st != RP_E_BUF_TOO_SMALL);
	if (st != RP_OK) {
		CHECK(st2 == st);
		return;
	}
	CHECK(size >= 2 && size <= lim->max_packet);
	CHECK(size > sizeof(small) ? st2 == RP_E_BUF_TOO_SMALL : st2 == RP_OK);

	enc = malloc(size);
	CHECK(enc != NULL);
	st = rp_mqtt_encode(m, version, lim, enc, size, &out_len);
	CHECK(st == RP_OK && out_len == size);

	memset(&back, CANARY, sizeof(back));
	st = rp_mqtt_decode(enc, size, version, lim, &back, &consumed);
	CHECK(st == RP_OK); /* the encoder wrote a packet the decoder refuses */
	CHECK(consumed == size && back.type == m->type);
	c.base = enc;
	c.len = size;
	c.version = pv;
	c.lim = lim;
	check_packet(&c, &back);
	compare_packets(m, &back, pv);

	st = rp_mqtt_encoded_size(&back, version, lim, &size2);
	CHECK(st == RP_OK && size2 == size);
	enc2 = malloc(size);
	CHECK(enc2 != NULL);
	st = rp_mqtt_encode(&back, version, lim, enc2, size, &out_len);
	CHECK(st == RP_OK && out_len == size && memcmp(enc, enc2, size) == 0);
	free(enc2);
	free(enc);
}

/* A decoded packet rebuilt with caller arrays encodes to the same bytes. */
static void check_array_form(const rp_mqtt_packet *pkt, uint8_t version, const rp_mqtt_limits *lim,
			     const uint8_t *enc, size_t size)
{
	static struct arrays a; /* large; one input at a time */
	rp_mqtt_packet m = *pkt;
	uint8_t *out;
	size_t out_len = 0, size2 = 0;
	rp_status st;

	packet_to_arrays(&m, &a);
	st = rp_mqtt_encoded_size(&m, version, lim, &size2);
	CHECK(st == RP_OK && size2 == size);
	out = malloc(size);
	CHECK(out != NULL);
	st = rp_mqtt_encode(&m, version, lim, out, size, &out_len);
	CHECK(st == RP_OK && out_len == size);
	CHECK(memcmp(out, enc, size) == 0);
	free(out);
}

/* Mutations, chosen by a small generator seeded from the input. */
struct mut {
	uint32_t state;
	const uint8_t *base; /* slices for strings come from here */
	size_t len;
	struct arrays a;
};

static uint32_t rnd(struct mut *mu)
{
	uint32_t x = mu->state ? mu->state : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	mu->state = x;
	return x;
}

/* A random piece of the packet's bytes: often not UTF-8, may hold wildcards. */
static rp_mqtt_str slice(struct mut *mu)
{
	rp_mqtt_str v;
	uint32_t off = rnd(mu) % (uint32_t)(mu->len + 1);
	uint32_t n = rnd(mu) % (uint32_t)(mu->len - off + 1);

	if (rnd(mu) % 2) {
		n = n % 8; /* short ones are likelier to be valid */
	}
	v.p = mu->base + off;
	v.len = n;
	return v;
}

static void set_prop(struct mut *mu, rp_mqtt_props *p, uint8_t id)
{
	uint32_t r = rnd(mu);
	uint8_t b = (uint8_t)(r % 3);
	uint16_t h = r % 4 == 0 ? 0 : (uint16_t)(r >> 8);

	switch (id) {
	case RP_MQTT_PROP_PAYLOAD_FORMAT:
		p->payload_format = b;
		break;
	case RP_MQTT_PROP_REQUEST_PROBLEM_INFO:
		p->request_problem_info = b;
		break;
	case RP_MQTT_PROP_REQUEST_RESPONSE_INFO:
		p->request_response_info = b;
		break;
	case RP_MQTT_PROP_MAX_QOS:
		p->max_qos = b;
		break;
	case RP_MQTT_PROP_RETAIN_AVAILABLE:
		p->retain_available = b;
		break;
	case RP_MQTT_PROP_WILDCARD_SUB_AVAILABLE:
		p->wildcard_sub_available = b;
		break;
	case RP_MQTT_PROP_SUB_ID_AVAILABLE:
		p->sub_id_available = b;
		break;
	case RP_MQTT_PROP_SHARED_SUB_AVAILABLE:
		p->shared_sub_available = b;
		break;
	case RP_MQTT_PROP_SERVER_KEEPALIVE:
		p->server_keepalive = h;
		break;
	case RP_MQTT_PROP_RECEIVE_MAX:
		p->receive_max = h;
		break;
	case RP_MQTT_PROP_TOPIC_ALIAS_MAX:
		p->topic_alias_max = h;
		break;
	case RP_MQTT_PROP_TOPIC_ALIAS:
		p->topic_alias = h;
		break;
	case RP_MQTT_PROP_MESSAGE_EXPIRY:
		p->message_expiry = r;
		break;
	case RP_MQTT_PROP_SESSION_EXPIRY:
		p->session_expiry = r;
		break;
	case RP_MQTT_PROP_WILL_DELAY:
		p->will_delay = r;
		break;
	case RP_MQTT_PROP_MAX_PACKET_SIZE:
		p->max_packet_size = r % 4 == 0 ? 0 : r;
		break;
	case RP_MQTT_PROP_CONTENT_TYPE:
		p->content_type = slice(mu);
		break;
	case RP_MQTT_PROP_RESPONSE_TOPIC:
		p->response_topic = slice(mu);
		break;
	case RP_MQTT_PROP_CORRELATION_DATA:
		p->correlation_data = slice(mu);
		break;
	case RP_MQTT_PROP_ASSIGNED_CLIENT_ID:
		p->assigned_client_id = slice(mu);
		break;
	case RP_MQTT_PROP_AUTH_METHOD:
		p->auth_method = slice(mu);
		break;
	case RP_MQTT_PROP_AUTH_DATA:
		p->auth_data = slice(mu);
		break;
	case RP_MQTT_PROP_RESPONSE_INFO:
		p->response_info = slice(mu);
		break;
	case RP_MQTT_PROP_SERVER_REFERENCE:
		p->server_reference = slice(mu);
		break;
	case RP_MQTT_PROP_REASON_STRING:
		p->reason_string = slice(mu);
		break;
	default:
		break; /* no field: a bit that names no property */
	}
}

static void mutate_props(struct mut *mu, rp_mqtt_props *p, int which)
{
	uint32_t r = rnd(mu);
	uint8_t id = (uint8_t)(rnd(mu) % 64u);
	rp_mqtt_user_prop *u;

	switch (r % 5) {
	case 0: /* add or remove a property */
		p->present ^= RP_MQTT_HAS(id);
		set_prop(mu, p, id);
		break;
	case 1: /* a new value for one */
		set_prop(mu, p, id);
		break;
	case 2: /* user properties as arrays: add, change or drop one */
		props_to_arrays(p, mu->a.user[which], mu->a.subid[which]);
		u = mu->a.user[which];
		if (r % 3 == 0 && p->user_prop_count > 0) {
			p->user_prop_count--;
		} else if (r % 3 == 1 && p->user_prop_count < ROOM_USER) {
			u[p->user_prop_count].name = slice(mu);
			u[p->user_prop_count].value = slice(mu);
			p->user_prop_count++;
		} else if (p->user_prop_count > 0) {
			u[rnd(mu) % p->user_prop_count].value = slice(mu);
		}
		break;
	case 3: /* subscription identifiers as arrays: add (maybe 0 or too big) or drop */
		props_to_arrays(p, mu->a.user[which], mu->a.subid[which]);
		if (r % 2 == 0 && p->sub_id_count > 0) {
			p->sub_id_count--;
		} else if (p->sub_id_count < ROOM_SUBID) {
			mu->a.subid[which][p->sub_id_count++] = rnd(mu) % 4 == 0 ? 0 : rnd(mu) >> 3;
		}
		break;
	default: /* a count that disagrees with raw */
		if (p->user_props == NULL) {
			p->user_prop_count = (uint16_t)(p->user_prop_count + (r % 2 ? 1 : -1));
		}
		break;
	}
}

static void mutate_connect(struct mut *mu, rp_mqtt_connect *k)
{
	uint32_t r = rnd(mu);

	switch (r % 9) {
	case 0:
		k->version = (uint8_t)(rnd(mu) % 7);
		break;
	case 1:
		k->clean_start = (uint8_t)(rnd(mu) % 3);
		break;
	case 2:
		k->keepalive = (uint16_t)rnd(mu);
		break;
	case 3:
		k->client_id = slice(mu);
		break;
	case 4:
		if (k->will_flag) {
			k->will_flag = 0;
		} else {
			k->will_flag = 1;
			k->will_qos = 0;
			k->will_retain = 0;
			memset(&k->will_props, 0, sizeof(k->will_props));
			k->will_topic = slice(mu);
			k->will_payload = slice(mu);
		}
		break;
	case 5:
		k->will_qos = (uint8_t)(rnd(mu) % 4);
		break;
	case 6:
		k->will_retain = (uint8_t)(rnd(mu) % 3);
		break;
	case 7:
		k->has_username = (uint8_t)!k->has_username;
		k->username = slice(mu);
		break;
	default:
		k->has_password = (uint8_t)!k->has_password;
		k->password = slice(mu);
		break;
	}
}

static void mutate_publish(struct mut *mu, rp_mqtt_publish *p)
{
	switch (rnd(mu) % 6) {
	case 0:
		p->qos = (uint8_t)(rnd(mu) % 4);
		p->packet_id = (uint16_t)(rnd(mu) % 3);
		break;
	case 1:
		p->dup = (uint8_t)(rnd(mu) % 3);
		break;
	case 2:
		p->retain = (uint8_t)(rnd(mu) % 3);
		break;
	case 3:
		p->topic = slice(mu);
		break;
	case 4:
		p->payload = slice(mu);
		break;
	default:
		p->packet_id = (uint16_t)(rnd(mu) % 3);
		break;
	}
}

static void mutate_subscribe(struct mut *mu, rp_mqtt_subscribe *s, int is_sub)
{
	uint32_t r = rnd(mu);
	rp_mqtt_sub_entry *e;

	switch (r % 4) {
	case 0:
		s->packet_id = (uint16_t)(rnd(mu) % 3);
		break;
	case 1: /* a count that disagrees with raw */
		if (s->entries == NULL) {
			s->count = (uint16_t)(s->count + (rnd(mu) % 2 ? 1 : -1));
		}
		break;
	case 2: /* change one entry */
		sub_to_arrays(s, is_sub, mu->a.entry);
		if (s->count == 0) {
			break;
		}
		e = &mu->a.entry[rnd(mu) % s->count];
		switch (rnd(mu) % 5) {
		case 0:
			e->filter = slice(mu);
			break;
		case 1:
			e->qos = (uint8_t)(rnd(mu) % 4);
			break;
		case 2:
			e->no_local = (uint8_t)(rnd(mu) % 3);
			break;
		case 3:
			e->retain_as_published = (uint8_t)(rnd(mu) % 3);
			break;
		default:
			e->retain_handling = (uint8_t)(rnd(mu) % 4);
			break;
		}
		break;
	default: /* add or drop an entry */
		sub_to_arrays(s, is_sub, mu->a.entry);
		if (r % 2 == 0 && s->count > 0) {
			s->count--;
		} else if (s->count < ROOM_ENTRY) {
			memset(&mu->a.entry[s->count], 0, sizeof(mu->a.entry[0]));
			mu->a.entry[s->count].filter = slice(mu);
			s->count++;
		}
		break;
	}
}

static void mutate_suback(struct mut *mu, rp_mqtt_suback *s)
{
	uint32_t r = rnd(mu);
	rp_mqtt_str v;

	if (r % 3 == 0) {
		s->packet_id = (uint16_t)(rnd(mu) % 3);
	} else if (r % 3 == 1) {
		v = slice(mu);
		s->reason_codes = v.p;
		s->count = (uint16_t)(v.len < ROOM_ENTRY ? v.len : ROOM_ENTRY);
	} else if (s->count > 0 && s->count <= ROOM_ENTRY) {
		memmove(mu->a.code, s->reason_codes, s->count); /* may be a.code already */
		mu->a.code[rnd(mu) % s->count] = (uint8_t)rnd(mu);
		s->reason_codes = mu->a.code;
	}
}

/* One change to m (or to the version it is encoded for). */
static void mutate(struct mut *mu, rp_mqtt_packet *m, uint8_t *version)
{
	rp_mqtt_props *pr[2];
	uint32_t r = rnd(mu);
	int n;

	if (r % 8 == 0) {
		*version = *version == RP_MQTT_V5 ? RP_MQTT_V311 : RP_MQTT_V5;
		return;
	}
	if (r % 8 <= 3) {
		n = props_of(m, pr);
		if (n > 0) {
			n = (int)(rnd(mu) % (uint32_t)n);
			mutate_props(mu, pr[n], n);
			return;
		}
	}
	switch (m->type) {
	case RP_MQTT_CONNECT:
		mutate_connect(mu, &m->u.connect);
		break;
	case RP_MQTT_CONNACK:
		if (r % 2) {
			m->u.connack.session_present = (uint8_t)(rnd(mu) % 3);
		} else {
			m->u.connack.reason_code = (uint8_t)rnd(mu);
		}
		break;
	case RP_MQTT_PUBLISH:
		mutate_publish(mu, &m->u.publish);
		break;
	case RP_MQTT_PUBACK:
	case RP_MQTT_PUBREC:
	case RP_MQTT_PUBREL:
	case RP_MQTT_PUBCOMP:
		if (r % 2) {
			m->u.ack.packet_id = (uint16_t)(rnd(mu) % 3);
		} else {
			m->u.ack.reason_code = (uint8_t)rnd(mu);
		}
		break;
	case RP_MQTT_SUBSCRIBE:
	case RP_MQTT_UNSUBSCRIBE:
		mutate_subscribe(mu, &m->u.subscribe, m->type == RP_MQTT_SUBSCRIBE);
		break;
	case RP_MQTT_SUBACK:
	case RP_MQTT_UNSUBACK:
		mutate_suback(mu, &m->u.suback);
		break;
	case RP_MQTT_DISCONNECT:
	case RP_MQTT_AUTH:
		m->u.disconnect.reason_code = (uint8_t)rnd(mu);
		break;
	default:
		break;
	}
}

/* A few mutants of a decoded packet, each judged by check_encoder_verdict(). */
static void check_mutants(const rp_mqtt_packet *pkt, uint8_t version, const rp_mqtt_limits *lim,
			  const uint8_t *bytes, size_t len, uint32_t seed)
{
	static struct mut mu; /* large; one input at a time */
	rp_mqtt_packet m;
	uint8_t v;
	unsigned i, k, changes;

	mu.state = seed;
	mu.base = bytes;
	mu.len = len;
	for (i = 0; i < 4; i++) {
		m = *pkt;
		v = version ? version : RP_MQTT_V5;
		changes = 1 + rnd(&mu) % 3;
		for (k = 0; k < changes; k++) {
			mutate(&mu, &m, &v);
		}
		check_encoder_verdict(&m, v, lim);
	}
}

/* ------------------------------------------------------------------------
 * Prefixes and errors
 * ------------------------------------------------------------------------ */

/* A strict prefix of a valid packet is RP_NEED_MORE, with the right count. */
static void check_prefix(const uint8_t *pkt, const rp_mqtt_frame *fr, size_t plen, uint8_t version,
			 const rp_mqtt_limits *lim)
{
	rp_mqtt_frame f;
	rp_mqtt_packet p;
	size_t need = 0, consumed = 0;
	size_t missing = fr->total - plen;
	uint8_t *copy;
	rp_status st;

	CHECK(plen >= 1 && plen < fr->total);
	copy = dup_bytes(pkt, plen); /* exact size: a read past the prefix is caught */

	memset(&f, 0, sizeof(f));
	st = rp_mqtt_frame_parse(copy, plen, version, lim->max_packet, &f, &need);
	CHECK(st == RP_NEED_MORE);
	if (plen >= fr->header_len) {
		CHECK(need == missing);
		CHECK(f.type == fr->type && f.flags == fr->flags);
		CHECK(f.header_len == fr->header_len && f.remaining == fr->remaining);
		CHECK(f.total == fr->total);
	} else {
		CHECK(need == 1);
	}

	st = rp_mqtt_decode(copy, plen, version, lim, &p, &consumed);
	CHECK(st == RP_NEED_MORE);
	if (plen >= fr->header_len) {
		CHECK(consumed == missing);
	} else {
		CHECK(consumed == 1);
	}
	free(copy);
}

static void check_prefixes(const uint8_t *pkt, const rp_mqtt_frame *fr, uint8_t version,
			   const rp_mqtt_limits *lim, uint32_t seed)
{
	size_t total = fr->total;
	size_t i;

	/* One pseudo-random length, from the packet's bytes (FNV-1a). */
	for (i = 0; i < total; i++) {
		seed = (seed ^ pkt[i]) * 16777619u;
	}
	check_prefix(pkt, fr, 1 + seed % (total - 1), version, lim);

	check_prefix(pkt, fr, 1, version, lim);
	check_prefix(pkt, fr, total - 1, version, lim);
	if (fr->header_len > 1 && fr->header_len - 1u < total) {
		check_prefix(pkt, fr, fr->header_len - 1u, version, lim);
	}
	if (fr->header_len < total) {
		check_prefix(pkt, fr, fr->header_len, version, lim);
	}
}

static int decode_error_allowed(rp_status st, uint8_t version)
{
	switch (st) {
	case RP_E_PACKET_TYPE:
	case RP_E_RESERVED_FLAGS:
	case RP_E_QOS:
	case RP_E_REMAINING_LENGTH:
	case RP_E_TOO_LARGE:
	case RP_E_MALFORMED:
	case RP_E_TRAILING:
	case RP_E_UTF8:
	case RP_E_TOPIC_NAME:
	case RP_E_TOPIC_FILTER:
	case RP_E_PROPERTY:
	case RP_E_PROPERTY_DUP:
	case RP_E_PROPERTY_VALUE:
	case RP_E_REASON_CODE:
	case RP_E_PACKET_ID:
	case RP_E_PROTOCOL_VERSION:
	case RP_E_PAYLOAD_FORMAT:
	case RP_E_EMPTY:
	case RP_E_LIMIT:
	case RP_E_PROTOCOL:
		return 1;
	case RP_E_INVALID_ARG:
		/* Only for a packet other than CONNECT before any CONNECT. */
		return version == 0;
	default:
		return 0;
	}
}

static void check_reason(rp_status st)
{
	uint8_t rc = rp_mqtt_reason_for(st);
	const char *s = rp_status_str(st);

	CHECK(s != NULL && strcmp(s, "unknown status") != 0);
	if (st == RP_E_INVALID_ARG) {
		return;
	}
	CHECK(rc >= 0x80);
	switch (st) {
	case RP_E_TOO_LARGE:
		CHECK(rc == RP_MQTT_RC_PACKET_TOO_LARGE);
		break;
	case RP_E_TOPIC_NAME:
		CHECK(rc == RP_MQTT_RC_TOPIC_NAME_INVALID);
		break;
	case RP_E_TOPIC_FILTER:
		CHECK(rc == RP_MQTT_RC_TOPIC_FILTER_INVALID);
		break;
	case RP_E_PROTOCOL_VERSION:
		CHECK(rc == RP_MQTT_RC_UNSUPPORTED_VERSION);
		break;
	case RP_E_PAYLOAD_FORMAT:
		CHECK(rc == RP_MQTT_RC_PAYLOAD_FORMAT_INVALID);
		break;
	case RP_E_LIMIT:
		CHECK(rc == RP_MQTT_RC_QUOTA_EXCEEDED);
		break;
	case RP_E_PROPERTY_DUP:
	case RP_E_PROPERTY_VALUE:
	case RP_E_PACKET_ID:
	case RP_E_EMPTY:
	case RP_E_PROTOCOL:
		CHECK(rc == RP_MQTT_RC_PROTOCOL_ERROR);
		break;
	default:
		CHECK(rc == RP_MQTT_RC_MALFORMED);
		break;
	}
	/* The broker can send it in a CONNACK or a DISCONNECT. */
	CHECK(rp_mqtt_reason_valid(RP_MQTT_CONNACK, RP_MQTT_V5, rc) ||
	      rp_mqtt_reason_valid(RP_MQTT_DISCONNECT, RP_MQTT_V5, rc));
}

/* ------------------------------------------------------------------------
 * Entry point
 * ------------------------------------------------------------------------ */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rp_mqtt_limits lim;
	rp_mqtt_frame fr;
	rp_mqtt_packet pkt, alone;
	struct pctx c;
	const uint8_t *p;
	uint8_t *copy;
	uint8_t version;
	size_t rem, need, consumed, consumed2;
	unsigned n;
	rp_status fst, st, st2;

	limits_check_once();
	if (size < 1) {
		return 0;
	}
	version = pick_version(data[0]);
	pick_limits(data[0], &lim);
	p = data + 1;
	rem = size - 1;

	for (n = 0; rem > 0 && n < MAX_PACKETS; n++) {
		need = 0;
		memset(&fr, 0, sizeof(fr));
		fst = rp_mqtt_frame_parse(p, rem, version, lim.max_packet, &fr, &need);
		memset(&pkt, CANARY, sizeof(pkt));
		consumed = 0;
		st = rp_mqtt_decode(p, rem, version, &lim, &pkt, &consumed);

		if (fst != RP_OK) {
			CHECK(st != RP_OK);
			if (version != 0 || (p[0] >> 4) == RP_MQTT_CONNECT) {
				CHECK(st == fst);
			}
			if (fst == RP_NEED_MORE) {
				CHECK(need >= 1);
				if (st == RP_NEED_MORE) {
					CHECK(consumed == need);
				}
			} else {
				CHECK(decode_error_allowed(fst, version));
				check_reason(fst);
			}
			break;
		}

		CHECK(fr.header_len >= 2 && fr.header_len <= RP_MQTT_FIXED_HEADER_MAX);
		CHECK(fr.total == fr.header_len + fr.remaining);
		CHECK(fr.total <= rem && fr.total <= lim.max_packet);
		CHECK(fr.type == (p[0] >> 4) && fr.flags == (p[0] & 0x0fu));

		/* The packet alone, in a buffer of exactly its size. */
		copy = dup_bytes(p, fr.total);
		memset(&alone, CANARY, sizeof(alone));
		consumed2 = 0;
		st2 = rp_mqtt_decode(copy, fr.total, version, &lim, &alone, &consumed2);
		CHECK(st2 == st);
		if (st != RP_OK) {
			CHECK(st != RP_NEED_MORE);
			CHECK(decode_error_allowed(st, version));
			check_reason(st);
			free(copy);
			break;
		}
		CHECK(consumed == fr.total && consumed2 == fr.total && consumed <= rem);
		CHECK(pkt.type == fr.type && alone.type == fr.type);

		c.base = copy;
		c.len = fr.total;
		c.version = version;
		c.lim = &lim;
		check_packet(&c, &alone);
		c.base = p;
		check_packet(&c, &pkt);
		compare_packets(&pkt, &alone,
				pkt.type == RP_MQTT_CONNECT ? pkt.u.connect.version : version);

		roundtrip(&alone, version, &lim);
		if (n < DEEP_PACKETS) {
			check_prefixes(copy, &fr, version, &lim, 2166136261u ^ (data[0] >> 6));
			check_mutants(&alone, version, &lim, copy, fr.total,
				      (uint32_t)(fr.total * 2654435761u) ^ copy[fr.total - 1] ^ n);
		}

		/* A broker speaks the CONNECT's version from then on. */
		if (alone.type == RP_MQTT_CONNECT) {
			version = alone.u.connect.version;
		}
		free(copy);
		p += consumed;
		rem -= consumed;
	}
	return 0;
}
