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
 * talk to it while it connects, reconnects and backs off.
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
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "rampart/link.h"
#include "rampart/tls_client.h"

typedef struct opts {
	const char *host, *name, *ca, *cert, *key, *id;
	unsigned long port, base, cap, stable;
} opts;

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void on_event(void *ctx, const rp_link_event *ev)
{
	char codes[64] = "";
	size_t i, used = 0;

	(void)ctx;
	switch (ev->type) {
	case RP_LINK_EV_CONNECTED:
		out("CONNECTED sp=%u", ev->session_present);
		break;
	case RP_LINK_EV_SUBSCRIBED:
		for (i = 0; i < ev->count && used + 4 < sizeof(codes); i++) {
			used += (size_t)snprintf(codes + used, sizeof(codes) - used, "%s%02x",
						 i != 0 ? "," : "", ev->reason_codes[i]);
		}
		out("SUBSCRIBED codes=%s", codes);
		break;
	case RP_LINK_EV_DISCONNECTED:
		out("DISCONNECTED attempt=%u retry=%u status=\"%s\" why=%s", ev->attempt,
		    ev->retry_in_ms, rp_status_str(ev->status), ev->why);
		break;
	default:
		out("EVENT %u", ev->type);
		break;
	}
}

static uint8_t on_message(void *ctx, const rp_link_message *m)
{
	(void)ctx;
	out("MSG qos=%u topic=%.*s payload=%.*s", m->qos, (int)m->topic_len, m->topic,
	    (int)m->payload_len, (const char *)m->payload);
	return 0;
}

static void on_done(void *ctx, rp_status st, uint8_t rc)
{
	long tag = (long)(intptr_t)ctx;

	out("DONE %ld status=\"%s\" rc=0x%02x", tag, rp_status_str(st), rc);
}

static void command(rp_link *l, char *line, int *quit)
{
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
		out("STATS attempts=%llu connects=%llu failures=%llu resumed=%llu republished=%llu "
		    "acked=%llu received=%llu bytes_out=%llu bytes_in=%llu attempt=%u inflight=%u",
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
			out("ERROR usage: pub TAG QOS TOPIC PAYLOAD");
			return;
		}
		memset(&m, 0, sizeof(m));
		m.topic = topic;
		m.qos = (uint8_t)atoi(qos);
		m.payload = (const uint8_t *)(payload != NULL ? payload : "");
		m.payload_len = payload != NULL ? strlen(payload) : 0;
		st = rp_link_publish(l, &m, on_done, (void *)(intptr_t)atol(tag));
		out("PUB %s status=\"%s\"", tag, rp_status_str(st));
		return;
	}
	out("ERROR unknown command: %s", line);
}

static int parse(int argc, char **argv, opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->base = RP_LINK_BACKOFF_BASE_MS;
	o->cap = RP_LINK_BACKOFF_CAP_MS;
	o->stable = RP_LINK_BACKOFF_STABLE_MS;
	for (i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];

		if (strcmp(k, "--host") == 0) {
			o->host = v;
		} else if (strcmp(k, "--port") == 0) {
			o->port = strtoul(v, NULL, 10);
		} else if (strcmp(k, "--name") == 0) {
			o->name = v;
		} else if (strcmp(k, "--ca") == 0) {
			o->ca = v;
		} else if (strcmp(k, "--cert") == 0) {
			o->cert = v;
		} else if (strcmp(k, "--key") == 0) {
			o->key = v;
		} else if (strcmp(k, "--id") == 0) {
			o->id = v;
		} else if (strcmp(k, "--base") == 0) {
			o->base = strtoul(v, NULL, 10);
		} else if (strcmp(k, "--cap") == 0) {
			o->cap = strtoul(v, NULL, 10);
		} else if (strcmp(k, "--stable") == 0) {
			o->stable = strtoul(v, NULL, 10);
		} else {
			return -1;
		}
	}
	return i == argc && o->host && o->port && o->port < 65536 && o->ca && o->cert && o->key &&
			       o->id
		       ? 0
		       : -1;
}

static EVP_PKEY *load_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	if (f == NULL) {
		return NULL;
	}
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return k;
}

int main(int argc, char **argv)
{
	rp_tlsc_config tc;
	rp_link_config lc;
	rp_tlsc_ctx *tls = NULL;
	rp_link *link = NULL;
	EVP_PKEY *key = NULL;
	char err[RP_TLSC_ERROR_MAX], line[4096];
	size_t have = 0;
	int quit = 0, rc = 1, eof = 0;
	rp_status st;
	opts o;

	if (parse(argc, argv, &o) != 0) {
		fprintf(stderr, "usage: link_probe --host H --port P [--name N] --ca F --cert F "
				"--key F --id ID [--base MS --cap MS --stable MS]\n");
		return 1;
	}
	key = load_key(o.key);
	if (key == NULL) {
		fprintf(stderr, "link_probe: cannot read the key %s\n", o.key);
		goto out;
	}
	memset(&tc, 0, sizeof(tc));
	tc.ca_file = o.ca;
	tc.cert_file = o.cert;
	tc.key = key;
	st = rp_tlsc_ctx_new(&tc, &tls, err, sizeof(err));
	if (st != RP_OK) {
		fprintf(stderr, "link_probe: %s\n", err);
		goto out;
	}
	EVP_PKEY_free(key); /* the context holds its own reference */
	key = NULL;
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
	while (!quit) {
		struct pollfd p[2];
		int t = -1;
		char *nl;

		(void)rp_link_wants(link, &p[1], &t);
		p[0].fd = eof ? -1 : 0;
		p[0].events = POLLIN;
		p[0].revents = 0;
		if (poll(p, 2, t) < 0 && errno != EINTR) {
			break;
		}
		(void)rp_link_run(link, 0);
		if (!eof && (p[0].revents & (POLLIN | POLLHUP)) != 0) {
			ssize_t n = read(0, line + have, sizeof(line) - 1 - have);

			if (n <= 0) {
				eof = 1;
				rc = 2;
				break;
			}
			have += (size_t)n;
		}
		while (!quit && (nl = memchr(line, '\n', have)) != NULL) {
			size_t len = (size_t)(nl - line);

			*nl = '\0';
			command(link, line, &quit);
			memmove(line, nl + 1, have - len - 1);
			have -= len + 1;
		}
		if (have == sizeof(line) - 1) {
			have = 0; /* an over-long line: dropped */
		}
	}
	if (quit) {
		rc = 0;
	}
out:
	rp_link_free(link);
	rp_tlsc_ctx_free(tls);
	EVP_PKEY_free(key);
	if (rc == 0) {
		out("BYE");
	}
	return rc;
}
