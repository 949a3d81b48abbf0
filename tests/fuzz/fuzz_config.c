/*
 * fuzz_config.c - libFuzzer target for rp_config_parse() (rampartd.conf).
 *
 * Input: the bytes of a configuration file, as they are.
 *
 * Oracles (any failure aborts):
 * - The status is RP_OK exactly when nothing was reported, RP_E_CONFIG
 *   exactly when something was; never anything else.
 * - Every report names the file as given, has a line within the input
 *   (1 .. number of lines) and a non-empty message of printable ASCII
 *   only: values echoed from the file are escaped, so a report cannot
 *   carry control sequences to a terminal or a log.
 * - On RP_OK every value is within its range: hard caps of
 *   rampart/limits.h and the documented minimums; at most 8 listeners of
 *   each kind, plain ones on loopback only; strings NUL-terminated inside
 *   their fields; the pair rules hold (preauth <= max_packet, queue and
 *   byte burst >= max_packet, connect timeout >= handshake timeout); the
 *   codec limits derived from it need no clamping.
 * - Parsing is deterministic: a second parse gives the same bytes and the
 *   same number of reports.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "rampart/limits.h"
#include "rampart/mqtt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			check_failed(#cond, __LINE__);                                             \
		}                                                                                  \
	} while (0)

#define FILE_NAME "fuzz.conf"

_Noreturn static void check_failed(const char *what, int line)
{
	fprintf(stderr, "fuzz_config: invariant failed at line %d: %s\n", line, what);
	abort();
}

struct seen {
	unsigned reports;
	unsigned max_line;
};

static void report(void *ctx, const char *file, unsigned line, const char *msg)
{
	struct seen *s = ctx;
	size_t i, n;

	CHECK(file != NULL && strcmp(file, FILE_NAME) == 0);
	CHECK(msg != NULL);
	n = strlen(msg);
	CHECK(n > 0);
	for (i = 0; i < n; i++) {
		CHECK(msg[i] >= 0x20 && msg[i] < 0x7f);
	}
	CHECK(line >= 1 && line <= s->max_line);
	s->reports++;
}

static void check_str(const char *s, size_t cap)
{
	CHECK(memchr(s, '\0', cap) != NULL);
}

static void check_range(uint32_t v, uint32_t lo, uint32_t hi)
{
	CHECK(v >= lo && v <= hi);
}

static void check_ok(const rp_config *c)
{
	const rp_config_limits *l = &c->limit;
	unsigned i, n_tls = 0, n_plain = 0;
	rp_mqtt_limits lim;

	check_range(c->loops, 0, RP_LIMIT_BROKER_LOOPS);
	check_str(c->data_dir, sizeof(c->data_dir));
	check_str(c->tls_cert, sizeof(c->tls_cert));
	check_str(c->tls_key, sizeof(c->tls_key));
	check_str(c->tls_ca, sizeof(c->tls_ca));
	check_str(c->tls_crl, sizeof(c->tls_crl));
	check_str(c->policy, sizeof(c->policy));
	CHECK(c->data_dir[0] && c->tls_cert[0] && c->tls_key[0] && c->tls_ca[0]);
	CHECK(c->tls_min_version == RP_CONFIG_TLS_1_2 || c->tls_min_version == RP_CONFIG_TLS_1_3);
	CHECK(c->tls_session_tickets <= 1);

	CHECK(c->listener_count >= 1 && c->listener_count <= 2 * RP_LIMIT_BROKER_LISTENERS);
	for (i = 0; i < c->listener_count; i++) {
		const rp_config_listener *x = &c->listeners[i];

		check_str(x->text, sizeof(x->text));
		CHECK(x->family == RP_CONFIG_IPV4 || x->family == RP_CONFIG_IPV6);
		if (x->tls) {
			CHECK(n_plain == 0); /* TLS listeners come first */
			n_tls++;
		} else {
			n_plain++;
			if (x->family == RP_CONFIG_IPV4) {
				CHECK(x->addr[0] == 127);
			} else {
				static const uint8_t one[16] = {[15] = 1};

				CHECK(memcmp(x->addr, one, 16) == 0);
			}
		}
	}
	CHECK(n_tls >= 1 && n_tls <= RP_LIMIT_BROKER_LISTENERS);
	CHECK(n_plain <= RP_LIMIT_BROKER_LISTENERS);

	check_range(l->max_packet, 128, RP_LIMIT_MQTT_PACKET);
	check_range(l->max_packet_preauth, 128, RP_LIMIT_MQTT_PREAUTH_PACKET);
	CHECK(l->max_packet_preauth <= l->max_packet);
	check_range(l->max_topic_len, 32, RP_LIMIT_MQTT_TOPIC_LEN);
	check_range(l->max_topic_levels, 3, RP_LIMIT_MQTT_TOPIC_LEVELS);
	check_range(l->max_user_props, 1, RP_LIMIT_MQTT_USER_PROPS);
	check_range(l->max_sub_entries, 1, RP_LIMIT_MQTT_SUB_ENTRIES);
	check_range(l->max_subscriptions, 1, RP_LIMIT_BROKER_SUBSCRIPTIONS);
	check_range(l->max_inflight, 1, RP_LIMIT_BROKER_INFLIGHT);
	check_range(l->max_queued_messages, 1, RP_LIMIT_BROKER_QUEUED_MESSAGES);
	check_range(l->max_queued_bytes, l->max_packet, RP_LIMIT_BROKER_QUEUED_BYTES);
	check_range(l->max_connections, 1, RP_LIMIT_BROKER_CONNECTIONS);
	check_range(l->max_connections_per_address, 1, RP_LIMIT_BROKER_CONNECTIONS_PER_ADDRESS);
	check_range(l->connect_rate_per_address, 1, RP_LIMIT_BROKER_CONNECT_RATE);
	check_range(l->connect_burst_per_address, 1, RP_LIMIT_BROKER_CONNECT_BURST);
	check_range(l->device_msg_rate, 1, RP_LIMIT_BROKER_MSG_RATE);
	check_range(l->device_msg_burst, 1, RP_LIMIT_BROKER_MSG_BURST);
	check_range(l->device_byte_rate, 128, RP_LIMIT_BROKER_BYTE_RATE);
	check_range(l->device_byte_burst, l->max_packet, RP_LIMIT_BROKER_BYTE_BURST);
	check_range(l->max_handshakes, 1, RP_LIMIT_BROKER_HANDSHAKES);
	check_range(l->handshake_timeout_ms, 100, RP_LIMIT_BROKER_HANDSHAKE_TIMEOUT_MS);
	check_range(l->connect_timeout_ms, l->handshake_timeout_ms,
		    RP_LIMIT_BROKER_CONNECT_TIMEOUT_MS);
	check_range(l->keepalive_max_s, 1, RP_LIMIT_BROKER_KEEPALIVE_S);
	check_range(l->session_expiry_max_s, 0, RP_LIMIT_BROKER_SESSION_EXPIRY_S);
	check_range(l->write_timeout_ms, 100, RP_LIMIT_BROKER_WRITE_TIMEOUT_MS);
	check_range(l->max_client_id_len, 23, RP_LIMIT_MQTT_CLIENT_ID_LEN);

	rp_config_mqtt_limits(c, &lim);
	CHECK(lim.max_packet == l->max_packet);
	CHECK(rp_mqtt_limits_clamp(&lim) == 0);
	rp_config_mqtt_limits_preauth(c, &lim);
	CHECK(lim.max_packet == l->max_packet_preauth);
	CHECK(rp_mqtt_limits_clamp(&lim) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static rp_config a, b;
	struct seen s1, s2;
	rp_status st1, st2;
	size_t i;

	memset(&s1, 0, sizeof(s1));
	s1.max_line = 1;
	for (i = 0; i < size; i++) {
		s1.max_line += data[i] == '\n';
	}
	s2 = s1;

	st1 = rp_config_parse(&a, FILE_NAME, (const char *)data, size, report, &s1);
	CHECK(st1 == RP_OK || st1 == RP_E_CONFIG);
	CHECK((st1 == RP_OK) == (s1.reports == 0));
	if (st1 == RP_OK) {
		check_ok(&a);
	}

	st2 = rp_config_parse(&b, FILE_NAME, (const char *)data, size, report, &s2);
	CHECK(st2 == st1);
	CHECK(s2.reports == s1.reports);
	if (st1 == RP_OK) {
		CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	}
	/* Without a callback: the same verdict. */
	CHECK(rp_config_parse(&b, NULL, (const char *)data, size, NULL, NULL) == st1);
	return 0;
}
