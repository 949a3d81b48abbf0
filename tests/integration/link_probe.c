/*
 * link_probe.c - a device made of the SDK's link (device/link, device/tls),
 * driven line by line by tests/integration/test_link.py.
 *
 *     link_probe --host H --port P [--name N] --ca FILE --cert FILE --key FILE
 *                --id DEVICE_ID [--base MS] [--cap MS] [--stable MS]
 *
 * The key is loaded from its PEM file into an EVP_PKEY and handed to
 * rp_tlsc_ctx_new() as the keystore would hand it. The probe then runs the
 * link with its own poll() on stdin and rp_link_wants(), so the test can
 * talk to it while it connects, reconnects and backs off. The options,
 * the event lines, the key and the loop are tests/support/probe.h's,
 * shared with `test_device --run`.
 *
 * stdin, one command per line:
 *     pub TAG QOS TOPIC PAYLOAD   publish (PAYLOAD: the rest of the line)
 *     stats                       print the link's counters
 *     quit                        rp_link_free (DISCONNECT), exit 0
 * stdout, one line per event (flushed at once):
 *     CONNECTED sp=0|1
 *     SUBSCRIBED codes=01[,..]
 *     DISCONNECTED attempt=N retry=MS status="..." why=...
 *     MSG qos=N topic=T payload=P
 *     PUB TAG status="..."          the answer of rp_link_publish
 *     DONE TAG status="..." rc=0xNN  the end of a message (QoS 0: sent)
 *     STATS attempts=N connects=N failures=N resumed=N republished=N bytes_out=N ...
 *     BYE
 * Exit status: 0 after quit, 1 on a usage or set-up error, 2 if stdin
 * closed without quit.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"
#include "rampart/link.h"
#include "rampart/tls_client.h"

static void on_event(void *ctx, const rp_link_event *ev)
{
	(void)ctx;
	probe_event(ev);
}

static uint8_t on_message(void *ctx, const rp_link_message *m)
{
	(void)ctx;
	probe_out("MSG qos=%u topic=%.*s payload=%.*s", m->qos, (int)m->topic_len, m->topic,
		  (int)m->payload_len, (const char *)m->payload);
	return 0;
}

static void on_done(void *ctx, rp_status st, uint8_t rc)
{
	long tag = (long)(intptr_t)ctx;

	probe_out("DONE %ld status=\"%s\" rc=0x%02x", tag, rp_status_str(st), rc);
}

static void command(void *ctx, char *line, int *quit)
{
	rp_link *l = ctx;
	char *tag, *qos, *topic, *payload, *save = NULL;
	rp_link_message m;
	rp_link_stats s;
	rp_status st;

	if (strcmp(line, "quit") == 0) {
		*quit = 1;
		return;
	}
	if (strcmp(line, "stats") == 0) {
		(void)rp_link_get_stats(l, &s);
		probe_out("STATS attempts=%llu connects=%llu failures=%llu resumed=%llu "
			  "republished=%llu acked=%llu received=%llu bytes_out=%llu bytes_in=%llu "
			  "attempt=%u inflight=%u",
			  (unsigned long long)s.attempts, (unsigned long long)s.connects,
			  (unsigned long long)s.failures, (unsigned long long)s.resumed,
			  (unsigned long long)s.republished, (unsigned long long)s.acked,
			  (unsigned long long)s.received, (unsigned long long)s.bytes_out,
			  (unsigned long long)s.bytes_in, s.attempt, s.inflight);
		return;
	}
	if (strncmp(line, "pub ", 4) == 0) {
		tag = strtok_r(line + 4, " ", &save);
		qos = strtok_r(NULL, " ", &save);
		topic = strtok_r(NULL, " ", &save);
		payload = strtok_r(NULL, "", &save);
		if (tag == NULL || qos == NULL || topic == NULL) {
			probe_out("ERROR usage: pub TAG QOS TOPIC PAYLOAD");
			return;
		}
		memset(&m, 0, sizeof(m));
		m.topic = topic;
		m.qos = (uint8_t)atoi(qos);
		m.payload = (const uint8_t *)(payload != NULL ? payload : "");
		m.payload_len = payload != NULL ? strlen(payload) : 0;
		st = rp_link_publish(l, &m, on_done, (void *)(intptr_t)atol(tag));
		probe_out("PUB %s status=\"%s\"", tag, rp_status_str(st));
		return;
	}
	probe_out("ERROR unknown command: %s", line);
}

static rp_status link_wants(void *ctx, struct pollfd *pfd, int *timeout_ms)
{
	return rp_link_wants(ctx, pfd, timeout_ms);
}

static void link_run(void *ctx)
{
	(void)rp_link_run(ctx, 0);
}

int main(int argc, char **argv)
{
	rp_link_config lc;
	rp_tlsc_ctx *tls = NULL;
	rp_link *link = NULL;
	char err[RP_TLSC_ERROR_MAX];
	int rc = 1;
	rp_status st;
	probe_opts o = {.base = RP_LINK_BACKOFF_BASE_MS,
			.cap = RP_LINK_BACKOFF_CAP_MS,
			.stable = RP_LINK_BACKOFF_STABLE_MS};

	if (probe_parse(argc, argv, 1, PROBE_OPT_STABLE, &o) != 0) {
		fprintf(stderr, "usage: link_probe --host H --port P [--name N] --ca F --cert F "
				"--key F --id ID [--base MS --cap MS --stable MS]\n");
		return 1;
	}
	tls = probe_tls(&o, err, sizeof(err));
	if (tls == NULL) {
		fprintf(stderr, "link_probe: %s\n", err);
		goto out;
	}
	rp_link_config_default(&lc);
	lc.tls = tls;
	lc.host = o.host;
	lc.port = (uint16_t)o.port;
	lc.server_name = o.name;
	lc.client_id = o.id;
	lc.keepalive_s = 20;
	lc.connect_timeout_ms = 5000;
	lc.backoff.base_ms = (uint32_t)o.base;
	lc.backoff.cap_ms = (uint32_t)o.cap;
	lc.backoff.stable_ms = (uint32_t)o.stable;
	lc.on_event = on_event;
	lc.on_message = on_message;
	st = rp_link_new(&lc, &link);
	if (st != RP_OK) {
		fprintf(stderr, "link_probe: rp_link_new: %s\n", rp_status_str(st));
		goto out;
	}
	rc = probe_loop(
		&(probe_ops){.ctx = link, .wants = link_wants, .run = link_run, .line = command});
out:
	rp_link_free(link);
	rp_tlsc_ctx_free(tls);
	if (rc == 0) {
		probe_out("BYE");
	}
	return rc;
}
