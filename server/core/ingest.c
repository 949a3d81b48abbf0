/*
 * ingest.c - device telemetry into the store (ingest.h is the manual).
 *
 * State: the devices recorded as seen recently (a map under the broker
 * lock, so a busy device costs one "seen" write a minute, not one per
 * message), and the retention job in flight.
 *
 * Attacker: a device, through its PUBLISH payload. The SenML parser is
 * strict and bounded (server/telemetry/senml.h); what reaches the store is
 * resolved records of that device only: the device id comes from its
 * verified certificate (rp_identity), never from the payload.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "core/ingest.h"
#include "loop/loop.h"
#include "telemetry/senml.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/map.h"

/* A device's "seen" row is refreshed at most this often. */
#define SEEN_REFRESH_MS 60000u

struct rp_telemetry {
	rp_server *srv;
	rp_store *store;
	rp_map *seen; /* device id -> last "seen" write, ms (as uintptr_t); broker lock */
	rp_senml_limits lim;
	atomic_int expiring; /* a retention job is queued or running */
	uint64_t expired;    /* rows the last job deleted */
};

/* One queued insert. */
typedef struct pending {
	rp_telemetry *tm;
	rp_ingest *ticket; /* NULL: QoS 0 or 2, nobody waits */
	char device[RP_LIMIT_MQTT_CLIENT_ID_LEN + 1];
	size_t records;
} pending;

rp_telemetry *rp_telemetry_new(rp_server *srv, rp_store *store)
{
	rp_telemetry *t = rp_calloc(NULL, 1, sizeof(*t));

	if (t == NULL) {
		return NULL;
	}
	t->srv = srv;
	t->store = store;
	t->seen = rp_map_new(NULL);
	if (t->seen == NULL) {
		rp_free(NULL, t);
		return NULL;
	}
	/* One pack is one store operation: never more records than it takes. */
	t->lim.max_records = RP_LIMIT_SENML_RECORDS < RP_LIMIT_STORE_RECORDS
				     ? RP_LIMIT_SENML_RECORDS
				     : RP_LIMIT_STORE_RECORDS;
	atomic_init(&t->expiring, 0);
	return t;
}

void rp_telemetry_free(rp_telemetry *t)
{
	if (t == NULL) {
		return;
	}
	rp_map_free(t->seen); /* values are numbers, not allocations */
	rp_free(NULL, t);
}

static void on_seen(void *ctx, rp_status st)
{
	(void)ctx;
	if (st != RP_OK) {
		rp_log(RP_LOG_WARN, "telemetry", "a device's last-seen time was not stored: %s",
		       rp_status_str(st));
	}
}

/*
 * Records the device (created on first sight, as active) before its first
 * points: the store runs operations in order, so the insert queued next
 * finds it.
 */
static void mark_seen(rp_telemetry *t, const rp_identity *who, int64_t now)
{
	size_t len = strlen(who->id);
	uintptr_t last = (uintptr_t)rp_map_get(t->seen, who->id, len);

	if (last != 0 && (uint64_t)now - (uint64_t)last < SEEN_REFRESH_MS) {
		return;
	}
	if (rp_map_count(t->seen) >= RP_LIMIT_TRACKED_IDENTITIES) {
		/* Bounded: forget them all; each is written again once. */
		rp_map *fresh = rp_map_new(NULL);

		if (fresh != NULL) {
			rp_map_free(t->seen);
			t->seen = fresh;
		}
	}
	if (rp_store_device_seen(t->store, who->id, who->addr, now, on_seen, NULL) == RP_OK) {
		(void)rp_map_put(t->seen, who->id, len, (void *)(uintptr_t)now, NULL);
	}
}

/* JSON ('[' after white space) or CBOR (an array); 0 if neither. */
static int detect(const uint8_t *p, size_t len, rp_senml_format *fmt)
{
	size_t i = 0;

	while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')) {
		i++;
	}
	if (i < len && p[i] == '[') {
		*fmt = RP_SENML_JSON;
		return 1;
	}
	if (len > 0 && p[0] >= 0x80 && p[0] <= 0x9f) {
		*fmt = RP_SENML_CBOR;
		return 1;
	}
	return 0;
}

/* On the storage thread: the insert committed, or failed. */
static void on_stored(void *ctx, rp_status st)
{
	pending *p = ctx;
	rp_telemetry *t = p->tm;

	if (st != RP_OK) {
		char id[80];

		rp_log(RP_LOG_ERROR, "telemetry", "%zu points of %s not stored: %s", p->records,
		       rp_log_escape(id, sizeof(id), (const uint8_t *)p->device, strlen(p->device)),
		       rp_status_str(st));
	}
	if (p->ticket != NULL) {
		rp_server_broker_lock(t->srv);
		rp_ingest_done(p->ticket, st == RP_OK ? 0 : RP_MQTT_RC_UNSPECIFIED);
		rp_server_broker_unlock(t->srv);
	}
	rp_free(NULL, p);
}

static void store_point(rp_store_point *d, const rp_senml_record *r, const char *device)
{
	memset(d, 0, sizeof(*d));
	d->device = device;
	d->name = r->name;
	d->time_ms = r->time_ms;
	d->unit = r->unit;
	switch (r->kind) {
	case RP_SENML_STRING:
		d->kind = RP_STORE_STR;
		d->str = r->str;
		break;
	case RP_SENML_BOOL:
		d->kind = RP_STORE_BOOL;
		d->boolean = r->boolean ? 1 : 0;
		break;
	case RP_SENML_DATA:
		d->kind = RP_STORE_DATA;
		d->data = r->data;
		d->data_len = r->data_len;
		break;
	case RP_SENML_NUMBER:
		d->kind = RP_STORE_NUM;
		d->num = r->number;
		break;
	default: /* a sum alone: kept as the number it is */
		d->kind = RP_STORE_NUM;
		d->num = r->sum;
		break;
	}
}

/*
 * On the storage thread: a command result was recorded, or was not one of
 * the API's commands. Only a failed write is refused (the device sends it
 * again); a result the API did not ask for is a plain MQTT message for
 * whichever service sent that command, and was routed as such.
 */
static void on_result(void *ctx, rp_status st)
{
	pending *p = ctx;
	rp_telemetry *t = p->tm;
	uint8_t rc = 0;
	char id[80];

	if (st == RP_E_STATE) {
		rp_log(RP_LOG_INFO, "command", "%s: result not recorded: already answered",
		       rp_log_escape(id, sizeof(id), (const uint8_t *)p->device,
				     strlen(p->device)));
	} else if (st != RP_OK && st != RP_E_NOT_FOUND) {
		rp_log(RP_LOG_WARN, "command", "%s: result not recorded: %s",
		       rp_log_escape(id, sizeof(id), (const uint8_t *)p->device, strlen(p->device)),
		       rp_status_str(st));
		rc = RP_MQTT_RC_UNSPECIFIED;
	}
	if (p->ticket != NULL) {
		rp_server_broker_lock(t->srv);
		rp_ingest_done(p->ticket, rc);
		rp_server_broker_unlock(t->srv);
	}
	rp_free(NULL, p);
}

/*
 * d/{id}/cmd/{name}/result: recorded by the API module when it answers one
 * of its commands (checked there: this device's, of this name, still
 * open). The broker made sure the topic has that shape and the device's
 * own id. The message is routed in every case.
 */
static rp_status command_result(rp_telemetry *t, const rp_identity *who, const uint8_t *topic,
				size_t topic_len, const uint8_t *payload, size_t len,
				rp_ingest *ticket, uint8_t *reason)
{
	size_t skip = 2u + strlen(who->id) + 5u; /* "d/" ID "/cmd/" */
	char name[RP_LIMIT_API_COMMAND_NAME_LEN + 1u], id[80];
	size_t nlen = topic_len - skip - 7u; /* "/result" */
	pending *p;
	rp_status st;

	if (nlen > RP_LIMIT_API_COMMAND_NAME_LEN) {
		return RP_OK; /* no API command has such a name */
	}
	memcpy(name, topic + skip, nlen);
	name[nlen] = 0;
	p = rp_calloc(NULL, 1, sizeof(*p));
	if (p == NULL) {
		*reason = RP_MQTT_RC_UNSPECIFIED;
		return RP_E_NOMEM;
	}
	p->tm = t;
	p->ticket = ticket;
	(void)snprintf(p->device, sizeof(p->device), "%s", who->id);
	st = rp_api_command_result(t->store, who->id, name, payload, len, rp_clock_wall_ms(),
				   on_result, p);
	if (st == RP_OK) {
		return ticket != NULL ? RP_NEED_MORE : RP_OK;
	}
	rp_free(NULL, p);
	if (st == RP_E_MALFORMED) {
		return RP_OK; /* not the API's result object: somebody else's command */
	}
	*reason = st == RP_E_BUSY ? RP_MQTT_RC_QUOTA_EXCEEDED : RP_MQTT_RC_UNSPECIFIED;
	rp_log(RP_LOG_WARN, "command", "%s: result not queued for the store: %s",
	       rp_log_escape(id, sizeof(id), (const uint8_t *)who->id, strlen(who->id)),
	       rp_status_str(st));
	return st;
}

rp_status rp_telemetry_ingest(void *ctx, const rp_identity *who, const uint8_t *topic,
			      size_t topic_len, const uint8_t *payload, size_t len, uint8_t qos,
			      rp_ingest *ticket, uint8_t *reason)
{
	rp_telemetry *t = ctx;
	rp_senml_pack pack;
	rp_senml_format fmt;
	rp_store_point *pts = NULL;
	pending *p = NULL;
	int64_t now = rp_clock_wall_ms();
	char why[160], id[80];
	rp_status st;

	(void)qos;
	if (topic_len < 10u || memcmp(topic + topic_len - 10u, "/telemetry", 10) != 0) {
		return command_result(t, who, topic, topic_len, payload, len, ticket, reason);
	}
	memset(&pack, 0, sizeof(pack));
	if (!detect(payload, len, &fmt)) {
		*reason = RP_MQTT_RC_PAYLOAD_FORMAT_INVALID;
		rp_log(RP_LOG_INFO, "telemetry", "%s: payload refused: neither SenML JSON nor CBOR",
		       rp_log_escape(id, sizeof(id), (const uint8_t *)who->id, strlen(who->id)));
		return RP_E_MALFORMED;
	}
	st = rp_senml_parse(payload, len, fmt, now, &t->lim, &pack, why, sizeof(why));
	if (st != RP_OK) {
		*reason = rp_senml_rejected(st) ? RP_MQTT_RC_PAYLOAD_FORMAT_INVALID
						: RP_MQTT_RC_UNSPECIFIED;
		rp_log(RP_LOG_INFO, "telemetry", "%s: payload refused: %s",
		       rp_log_escape(id, sizeof(id), (const uint8_t *)who->id, strlen(who->id)),
		       why);
		return st;
	}
	pts = rp_calloc(NULL, pack.count, sizeof(*pts));
	p = rp_calloc(NULL, 1, sizeof(*p));
	if (pts == NULL || p == NULL) {
		st = RP_E_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < pack.count; i++) {
		store_point(&pts[i], &pack.records[i], who->id);
	}
	p->tm = t;
	p->ticket = ticket;
	p->records = pack.count;
	(void)snprintf(p->device, sizeof(p->device), "%s", who->id);
	mark_seen(t, who, now);
	/* The store copies the points: pack and pts are freed below. */
	st = rp_store_telemetry_insert(t->store, pts, pack.count, on_stored, p);
	if (st == RP_OK) {
		p = NULL; /* on_stored frees it */
	}
out:
	rp_free(NULL, p);
	rp_free(NULL, pts);
	rp_senml_pack_free(&pack);
	if (st != RP_OK) {
		*reason = st == RP_E_BUSY ? RP_MQTT_RC_QUOTA_EXCEEDED : RP_MQTT_RC_UNSPECIFIED;
		rp_log(RP_LOG_WARN, "telemetry", "%s: points not queued for the store: %s",
		       rp_log_escape(id, sizeof(id), (const uint8_t *)who->id, strlen(who->id)),
		       rp_status_str(st));
		return st;
	}
	return ticket != NULL ? RP_NEED_MORE : RP_OK;
}

static void on_expired(void *ctx, rp_status st)
{
	rp_telemetry *t = ctx;

	if (st != RP_OK && st != RP_E_CLOSED) {
		rp_log(RP_LOG_WARN, "telemetry", "retention: %s", rp_status_str(st));
	} else if (t->expired > 0) {
		rp_log(RP_LOG_INFO, "telemetry", "retention: %llu points deleted",
		       (unsigned long long)t->expired);
	}
	atomic_store(&t->expiring, 0);
}

void rp_telemetry_expire(rp_telemetry *t, int64_t now_ms, int64_t retention_ms)
{
	if (retention_ms <= 0 || atomic_exchange(&t->expiring, 1) != 0) {
		return;
	}
	t->expired = 0;
	if (rp_store_telemetry_expire(t->store, now_ms - retention_ms, &t->expired, on_expired,
				      t) != RP_OK) {
		atomic_store(&t->expiring, 0); /* tried again at the next tick */
	}
}
