/*
 * retained.c - retained messages that survive a restart (retained.h).
 */
#include <string.h>

#include "core/retained.h"
#include "util/alloc.h"
#include "util/log.h"

static void on_written(void *ctx, rp_status st)
{
	(void)ctx;
	if (st != RP_OK) {
		rp_log(RP_LOG_ERROR, "retained", "a retained message change was not stored: %s",
		       rp_status_str(st));
	}
}

void rp_retained_to_store(void *ctx, const uint8_t *topic, size_t topic_len,
			  const rp_mqtt_publish *pub, const uint8_t *packet, size_t len)
{
	rp_store *store = ctx;
	char *t = rp_alloc(NULL, topic_len + 1u); /* the store takes C strings */
	rp_status st;

	if (t == NULL) {
		st = RP_E_NOMEM;
		goto out;
	}
	memcpy(t, topic, topic_len);
	t[topic_len] = '\0';
	if (pub == NULL) {
		st = rp_store_retained_delete(store, t, on_written, NULL);
	} else {
		rp_store_retained r = {t, pub->payload.p, pub->payload.len, pub->qos, packet, len};

		st = rp_store_retained_put(store, &r, on_written, NULL);
	}
out:
	if (st != RP_OK) {
		char esc[160];

		rp_log(RP_LOG_ERROR, "retained", "the retained message of %s was not queued: %s",
		       rp_log_escape(esc, sizeof(esc), topic, topic_len), rp_status_str(st));
	}
	rp_free(NULL, t);
}

typedef struct load_ctx {
	rp_broker *b;
	size_t loaded, refused;
} load_ctx;

static rp_status on_row(void *ctx, const rp_store_retained *r)
{
	load_ctx *l = ctx;
	rp_status st = rp_broker_restore_retained(l->b, r->props, r->props_len);

	if (st == RP_OK) {
		l->loaded++;
	} else {
		char esc[160];

		l->refused++;
		rp_log(RP_LOG_WARN, "retained", "stored retained message of %s not restored: %s",
		       rp_log_escape(esc, sizeof(esc), (const uint8_t *)r->topic, strlen(r->topic)),
		       rp_status_str(st));
	}
	return RP_OK; /* one bad row does not stop the others */
}

rp_status rp_retained_load(rp_store *store, rp_broker *b, size_t *loaded)
{
	load_ctx l = {b, 0, 0};
	rp_status st = rp_store_retained_load(store, on_row, &l, NULL, NULL);

	if (loaded != NULL) {
		*loaded = l.loaded;
	}
	return st;
}
