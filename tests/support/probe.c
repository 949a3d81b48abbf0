/*
 * probe.c - what the integration tests' device programs share (see probe.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "probe.h"

int probe_parse(int argc, char **argv, int first, unsigned extra, probe_opts *o)
{
	int stable = (extra & PROBE_OPT_STABLE) != 0, device = (extra & PROBE_OPT_DEVICE) != 0;
	int i;

	for (i = first; i + 1 < argc; i += 2) {
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
		} else if (stable && strcmp(k, "--stable") == 0) {
			o->stable = strtoul(v, NULL, 10);
		} else if (device && strcmp(k, "--queue") == 0) {
			o->queue = v;
		} else if (device && strcmp(k, "--storage-key") == 0) {
			o->storage_key = v;
		} else if (device && strcmp(k, "--batch-ms") == 0) {
			o->batch_ms = strtoul(v, NULL, 10);
		} else if (device && strcmp(k, "--batch-records") == 0) {
			o->batch_records = strtoul(v, NULL, 10);
		} else {
			return -1;
		}
	}
	if (i != argc || !o->host || !o->port || o->port >= 65536 || !o->ca || !o->cert ||
	    !o->key || !o->id) {
		return -1;
	}
	return device && (!o->queue || !o->storage_key) ? -1 : 0;
}

void probe_out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

void probe_event(const rp_link_event *ev)
{
	char codes[64] = "";
	size_t i, used = 0;

	switch (ev->type) {
	case RP_LINK_EV_CONNECTED:
		probe_out("CONNECTED sp=%u", ev->session_present);
		break;
	case RP_LINK_EV_SUBSCRIBED:
		for (i = 0; i < ev->count && used + 4 < sizeof(codes); i++) {
			used += (size_t)snprintf(codes + used, sizeof(codes) - used, "%s%02x",
						 i != 0 ? "," : "", ev->reason_codes[i]);
		}
		probe_out("SUBSCRIBED codes=%s", codes);
		break;
	case RP_LINK_EV_DISCONNECTED:
		probe_out("DISCONNECTED attempt=%u retry=%u status=\"%s\" why=%s", ev->attempt,
			  ev->retry_in_ms, rp_status_str(ev->status), ev->why);
		break;
	default:
		probe_out("EVENT %u", ev->type);
		break;
	}
}

rp_tlsc_ctx *probe_tls(const probe_opts *o, char *err, size_t cap)
{
	rp_tlsc_config tc;
	rp_tlsc_ctx *ctx = NULL;
	EVP_PKEY *key = NULL;
	FILE *f = fopen(o->key, "r");

	if (f != NULL) {
		key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (key == NULL) {
		snprintf(err, cap, "cannot read the key %s", o->key);
		return NULL;
	}
	memset(&tc, 0, sizeof(tc));
	tc.ca_file = o->ca;
	tc.cert_file = o->cert;
	tc.key = key;
	if (rp_tlsc_ctx_new(&tc, &ctx, err, cap) != RP_OK) {
		ctx = NULL;
	}
	EVP_PKEY_free(key); /* the context holds its own reference */
	return ctx;
}

int probe_loop(const probe_ops *ops)
{
	char line[4096];
	size_t have = 0;
	int quit = 0;

	while (!quit) {
		struct pollfd p[2];
		int t = -1;
		char *nl;

		(void)ops->wants(ops->ctx, &p[1], &t);
		p[0].fd = 0;
		p[0].events = POLLIN;
		p[0].revents = 0;
		if (poll(p, 2, t) < 0 && errno != EINTR) {
			return 1;
		}
		ops->run(ops->ctx);
		if ((p[0].revents & (POLLIN | POLLHUP)) != 0) {
			ssize_t n = read(0, line + have, sizeof(line) - 1 - have);

			if (n <= 0) {
				return 2;
			}
			have += (size_t)n;
		}
		while (!quit && (nl = memchr(line, '\n', have)) != NULL) {
			size_t len = (size_t)(nl - line);

			*nl = '\0';
			ops->line(ops->ctx, line, &quit);
			memmove(line, nl + 1, have - len - 1);
			have -= len + 1;
		}
		if (have == sizeof(line) - 1) {
			have = 0; /* an over-long line: dropped */
		}
	}
	return 0;
}
