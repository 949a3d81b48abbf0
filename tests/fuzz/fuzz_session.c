/*
 * fuzz_session: the parser of stored persistent sessions
 * (rp_broker_restore_session, server/broker/session_blob.c). A blob comes
 * back from a database, so it is fuzzed as untrusted input.
 *
 * Input: one option byte, then the blob (docs/broker.md, "Persistent
 * sessions across restarts"; seeds from gen_session_seeds.py).
 *   bit 0     pass the store's key "dev-a" (else NULL: not checked)
 *   bits 1-2  broker limits: 0 defaults; 1 tight (window 2, receive
 *             maximum 2, 3 queued messages, 2 subscriptions); 2 narrow
 *             policy (devices may subscribe to d/{id}/cmd/# only);
 *             3 session expiry maximum 0 (no persistent sessions)
 *   bit 3     after a restore, the session's identity connects (clean
 *             start 0) and reads what is resent; then a tick past expiry
 *
 * Oracles (abort on violation):
 * - restore returns only the statuses its contract lists;
 * - a refused blob leaves the broker as it was: no session, nothing dirty,
 *   no subscription, not a byte more allocated;
 * - a restored blob serialises (through the session hook) within
 *   RP_LIMIT_STORE_SESSION_LEN; that blob restores in a second broker with
 *   the same subscriptions and no more messages (a queued message whose
 *   expiry interval was 0 is gone), and serialises there to the very same
 *   bytes (serialise . restore is the identity on what the broker writes);
 * - everything the broker sends the resuming client decodes;
 * - when both brokers are freed, the allocation wrapper holds exactly what
 *   it held before.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/policy.h"
#include "broker/broker.h"
#include "broker/internal.h"
#include "util/alloc.h"
#include "util/log.h"

static const char policy_text[] = "role device\n"
				  "  publish d/%d/#\n"
				  "  subscribe d/%d/#\n"
				  "role commander\n"
				  "  publish d/+/cmd/#\n"
				  "  subscribe d/+/#\n"
				  "role ingest\n"
				  "  subscribe d/+/telemetry\n"
				  "  subscribe $share/ingest/d/+/telemetry\n";

static const char narrow_text[] = "role device\n"
				  "  publish d/%d/#\n"
				  "  subscribe d/%d/cmd/#\n"
				  "role commander\n"
				  "  subscribe d/+/cmd/+/result\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_session.c:%d: %s\n", __LINE__, #cond);               \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The last blob the hook was given (a copy). */
typedef struct capture {
	uint8_t *blob;
	size_t len;
	int puts;
} capture;

static rp_status hook(void *ctx, const char *cid, size_t cid_len, const uint8_t *blob, size_t len,
		      uint64_t expires_in)
{
	capture *c = ctx;

	(void)expires_in;
	CHECK(strlen(cid) == cid_len);
	if (blob == NULL) {
		return RP_OK;
	}
	CHECK(len > 0 && len <= RP_LIMIT_STORE_SESSION_LEN);
	free(c->blob);
	c->blob = malloc(len);
	CHECK(c->blob != NULL);
	memcpy(c->blob, blob, len);
	c->len = len;
	c->puts++;
	return RP_OK;
}

static int status_listed(rp_status st)
{
	switch (st) {
	case RP_OK:
	case RP_E_EXISTS:
	case RP_E_MALFORMED:
	case RP_E_LIMIT:
	case RP_E_DENIED:
	case RP_E_NOMEM:
	/* codec statuses of a PUBLISH or filter that does not decode */
	case RP_E_REMAINING_LENGTH:
	case RP_E_PACKET_TYPE:
	case RP_E_RESERVED_FLAGS:
	case RP_E_TOO_LARGE:
	case RP_E_UTF8:
	case RP_E_TOPIC_NAME:
	case RP_E_TOPIC_FILTER:
	case RP_E_QOS:
	case RP_E_PROPERTY:
	case RP_E_PROPERTY_DUP:
	case RP_E_PROPERTY_VALUE:
	case RP_E_TRAILING:
	case RP_E_PACKET_ID:
	case RP_E_PAYLOAD_FORMAT:
	case RP_E_PROTOCOL:
		return 1;
	default:
		return 0;
	}
}

static rp_broker *broker_for(unsigned profile, const rp_policy *policy)
{
	rp_broker_limits lim;
	rp_broker *b;

	rp_broker_limits_default(&lim);
	if (profile == 1u) {
		lim.max_inflight = 2;
		lim.receive_max = 2;
		lim.max_queued_messages = 3;
		lim.max_subscriptions = 2;
	} else if (profile == 3u) {
		lim.session_expiry_max = 0;
	}
	b = rp_broker_new(&lim, policy);
	CHECK(b != NULL);
	return b;
}

/* The broker's only session (after a restore), or NULL. */
static session *only_session(rp_broker *b)
{
	size_t cur = 0, len;
	const void *key;
	void *v;

	return rp_map_next(b->sessions, &cur, &key, &len, &v) ? v : NULL;
}

/* Everything sent to c decodes under its version. */
static void check_output(rp_client *c)
{
	rp_mqtt_limits lim;
	const uint8_t *buf;
	size_t len, pos = 0;

	rp_mqtt_limits_default(&lim);
	lim.max_packet = RP_LIMIT_MQTT_PACKET;
	lim.max_topic_len = RP_LIMIT_MQTT_TOPIC_LEN;
	lim.max_topic_levels = RP_LIMIT_MQTT_TOPIC_LEVELS;
	lim.max_user_props = RP_LIMIT_MQTT_USER_PROPS;
	lim.max_sub_entries = RP_LIMIT_MQTT_SUB_ENTRIES;
	rp_client_output(c, &buf, &len);
	while (pos < len) {
		rp_mqtt_packet p;
		size_t n = 0;

		CHECK(rp_mqtt_decode(buf + pos, len - pos, rp_client_version(c), &lim, &p, &n) ==
		      RP_OK);
		pos += n;
	}
	rp_client_consumed(c, len);
}

/* The session's own identity resumes it; then it leaves and the session expires. */
static void resume(rp_broker *b, uint64_t now)
{
	session *s = only_session(b);
	char id[RP_LIMIT_MQTT_CLIENT_ID_LEN + 1];
	rp_identity who;
	rp_mqtt_packet p;
	rp_mqtt_limits lim;
	uint8_t buf[512];
	size_t n = 0, used = 0;
	uint8_t version;
	rp_client *c;

	CHECK(s != NULL);
	version = s->version;
	memcpy(id, rp__session_client_id(s), s->id_len);
	id[s->id_len] = '\0';
	who = (rp_identity){id, rp__session_role(s), "127.0.0.1"};
	c = rp_client_new(b, &who, NULL, now);
	CHECK(c != NULL);
	memset(&p, 0, sizeof(p));
	p.type = RP_MQTT_CONNECT;
	p.u.connect.version = version;
	p.u.connect.keepalive = 10;
	p.u.connect.client_id.p = (const uint8_t *)rp__session_client_id(s);
	p.u.connect.client_id.len = (uint32_t)s->client_id_len;
	if (version == RP_MQTT_V5) {
		p.u.connect.props.present = RP_MQTT_HAS(RP_MQTT_PROP_SESSION_EXPIRY);
		p.u.connect.props.session_expiry = 60;
	}
	rp_mqtt_limits_default(&lim);
	CHECK(rp_mqtt_encode(&p, 0, &lim, buf, sizeof(buf), &n) == RP_OK);
	(void)rp_client_input(c, buf, n, &used, now);
	check_output(c);
	rp_client_closed(c, now);
	rp_client_free(c);
	rp_broker_tick(b, now + 3600u * 1000u * 24u * 31u);
	CHECK(rp_broker_session_count(b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t base = rp_alloc_in_use(), before;
	rp_session_restored info, info2;
	capture cap = {NULL, 0, 0}, cap2 = {NULL, 0, 0};
	rp_policy policy;
	rp_broker *b, *b2;
	unsigned profile;
	uint64_t now = 1000000;
	const uint8_t *blob;
	rp_status st;

	if (size < 1) {
		return 0;
	}
	rp_log_set_level(RP_LOG_ERROR);
	profile = (data[0] >> 1) & 3u;
	if (profile == 2u) {
		CHECK(rp_policy_parse(&policy, "fuzz", narrow_text, sizeof(narrow_text) - 1u, NULL,
				      NULL) == RP_OK);
	} else {
		CHECK(rp_policy_parse(&policy, "fuzz", policy_text, sizeof(policy_text) - 1u, NULL,
				      NULL) == RP_OK);
	}
	b = broker_for(profile, &policy);
	rp_broker_set_session_hook(b, hook, &cap);
	blob = data + 1; /* ends where data ends: ASan sees a read past it */
	before = rp_alloc_in_use();
	st = rp_broker_restore_session(b, (data[0] & 1u) ? "dev-a" : NULL, blob, size - 1u, now,
				       &info);
	CHECK(status_listed(st));
	if (st != RP_OK) {
		CHECK(rp_broker_session_count(b) == 0 && rp_broker_dirty_sessions(b) == 0);
		CHECK(rp_tree_count(b->tree) == 0);
		CHECK(rp_alloc_in_use() == before);
		CHECK(info.subscriptions == 0 && info.messages == 0);
		goto out;
	}
	CHECK(rp_broker_session_count(b) == 1 && rp_broker_dirty_sessions(b) == 1);
	CHECK(rp_tree_count(b->tree) == info.subscriptions);
	/* A second restore of the same client id is refused, and changes nothing. */
	CHECK(rp_broker_restore_session(b, NULL, blob, size - 1u, now, NULL) == RP_E_EXISTS);

	/* What it writes restores to the same, and writes the same again. */
	CHECK(rp_broker_flush_sessions(b, now, 0) == RP_OK && cap.puts == 1);
	b2 = broker_for(profile, &policy);
	rp_broker_set_session_hook(b2, hook, &cap2);
	CHECK(rp_broker_restore_session(b2, NULL, cap.blob, cap.len, now, &info2) == RP_OK);
	CHECK(info2.subscriptions == info.subscriptions && info2.messages <= info.messages);
	CHECK(info2.subs_dropped + info2.msgs_dropped + info2.ids_dropped == 0);
	CHECK(rp_broker_flush_sessions(b2, now, 0) == RP_OK && cap2.puts == 1);
	CHECK(cap2.len == cap.len && memcmp(cap2.blob, cap.blob, cap.len) == 0);
	rp_broker_free(b2);

	if (data[0] & 8u) {
		resume(b, now);
	}
out:
	rp_broker_free(b);
	rp_policy_free(&policy);
	free(cap.blob);
	free(cap2.blob);
	CHECK(rp_alloc_in_use() == base);
	return 0;
}
