/*
 * fuzz_broker: drives the broker core (server/broker) with three clients
 * and no sockets.
 *
 * Input: byte 0 picks each client's protocol version (bit i: client i is
 * MQTT 5). Then chunks: [op][len][len bytes]. op % 5:
 *   0..2  bytes for client op (after a valid CONNECT that the harness sends
 *         first, unless bit 3 of byte 0 asks for raw CONNECTs too);
 *   3     advance the clock by len seconds and tick everything;
 *   4     close client (len % 3) abruptly and open it again.
 * Clients: 0 = device "dev-a", 1 = device "dev-b", 2 = service "ops"
 * (role commander).
 *
 * Invariants (abort on violation): everything the broker sends decodes
 * with the codec under the client's version; after the broker is freed,
 * the allocation wrapper holds exactly what it held before.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/policy.h"
#include "broker/broker.h"
#include "util/alloc.h"
#include "util/log.h"

static const char policy_text[] = "role device\n"
				  "  publish d/%d/#\n"
				  "  subscribe d/%d/#\n"
				  "role commander\n"
				  "  publish d/+/cmd/#\n"
				  "  subscribe d/+/#\n";

typedef struct fclient {
	rp_client *c;
	int dead;
	uint8_t in[4096];
	size_t in_len;
} fclient;

static const char *const ids[3] = {"dev-a", "dev-b", "ops"};
static const char *const roles[3] = {"device", "device", "commander"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every byte the broker wants to send must decode as packets of `version`. */
static void check_output(fclient *f)
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
	rp_client_output(f->c, &buf, &len);
	while (pos < len) {
		rp_mqtt_packet p;
		size_t n = 0;
		/* The version the broker answers in: nothing is sent before it is known. */
		uint8_t v = rp_client_version(f->c);
		rp_status st = rp_mqtt_decode(buf + pos, len - pos, v, &lim, &p, &n);

		if (st != RP_OK) {
			abort();
		}
		pos += n;
	}
	rp_client_consumed(f->c, len);
}

static void open_client(rp_broker *b, fclient *f, int i, uint8_t version, int raw, uint64_t now)
{
	rp_identity who;
	rp_mqtt_packet p;
	rp_mqtt_limits lim;
	uint8_t buf[256];
	size_t n, used;

	who = (rp_identity){ids[i], roles[i], "127.0.0.1"};
	f->c = rp_client_new(b, &who, NULL, now);
	if (f->c == NULL) {
		abort();
	}
	f->dead = 0;
	f->in_len = 0;
	if (raw) {
		return;
	}
	memset(&p, 0, sizeof(p));
	p.type = RP_MQTT_CONNECT;
	p.u.connect.version = version;
	p.u.connect.keepalive = 10;
	p.u.connect.client_id.p = (const uint8_t *)ids[i];
	p.u.connect.client_id.len = (uint32_t)strlen(ids[i]);
	if (version == RP_MQTT_V5) {
		p.u.connect.props.present = RP_MQTT_HAS(RP_MQTT_PROP_SESSION_EXPIRY);
		p.u.connect.props.session_expiry = 60;
	}
	rp_mqtt_limits_default(&lim);
	if (rp_mqtt_encode(&p, 0, &lim, buf, sizeof(buf), &n) != RP_OK) {
		abort();
	}
	if (rp_client_input(f->c, buf, n, &used, now) != RP_OK) {
		f->dead = 1;
	}
	check_output(f);
}

static void close_client(fclient *f, uint64_t now)
{
	rp_client_closed(f->c, now);
	rp_client_free(f->c);
	f->c = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t base = rp_alloc_in_use();
	rp_policy policy;
	rp_broker_limits lim;
	rp_broker *b;
	fclient cl[3];
	uint64_t now = 1000000;
	size_t pos = 1;
	int raw;

	if (size < 1) {
		return 0;
	}
	rp_log_set_level(RP_LOG_ERROR);
	raw = (data[0] >> 3) & 1;
	if (rp_policy_parse(&policy, "fuzz", policy_text, sizeof(policy_text) - 1u, NULL, NULL) !=
	    RP_OK) {
		abort();
	}
	rp_broker_limits_default(&lim);
	lim.max_queued_messages = 16;
	lim.max_inflight = 4;
	lim.receive_max = 4;
	b = rp_broker_new(&lim, &policy);
	if (b == NULL) {
		abort();
	}
	memset(cl, 0, sizeof(cl));
	for (int i = 0; i < 3; i++) {
		open_client(b, &cl[i], i, (data[0] >> i) & 1 ? RP_MQTT_V5 : RP_MQTT_V311, raw, now);
	}
	while (pos + 2u <= size) {
		uint8_t op = data[pos] % 5u, len = data[pos + 1];
		const uint8_t *chunk = data + pos + 2u;
		size_t avail = size - pos - 2u < len ? size - pos - 2u : len;

		pos += 2u + avail;
		if (op < 3u) {
			fclient *f = &cl[op];
			size_t used = 0;

			if (f->dead || f->in_len + avail > sizeof(f->in)) {
				continue;
			}
			memcpy(f->in + f->in_len, chunk, avail);
			f->in_len += avail;
			if (rp_client_input(f->c, f->in, f->in_len, &used, now) != RP_OK) {
				f->dead = 1;
			}
			if (used > f->in_len) {
				abort();
			}
			memmove(f->in, f->in + used, f->in_len - used);
			f->in_len -= used;
		} else if (op == 3u) {
			uint64_t next;

			now += (uint64_t)len * 1000u;
			rp_broker_tick(b, now);
			for (int i = 0; i < 3; i++) {
				if (!cl[i].dead && rp_client_tick(cl[i].c, now, &next) != RP_OK) {
					cl[i].dead = 1;
				}
			}
		} else {
			int i = len % 3;

			close_client(&cl[i], now);
			open_client(b, &cl[i], i, (data[0] >> i) & 1 ? RP_MQTT_V5 : RP_MQTT_V311,
				    raw, now);
		}
		for (int i = 0; i < 3; i++) {
			check_output(&cl[i]);
		}
	}
	for (int i = 0; i < 3; i++) {
		close_client(&cl[i], now);
	}
	rp_broker_free(b);
	rp_policy_free(&policy);
	if (rp_alloc_in_use() != base) {
		abort(); /* the broker leaked through the wrapper */
	}
	return 0;
}
