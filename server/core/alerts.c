/*
 * alerts.c - the broker's alerts into the store (alerts.h is the manual).
 *
 * State: when each (kind, identity) last made an alert, in a map guarded
 * by the broker lock (the hook's only caller). The map is bounded like
 * every per-identity map: past RP_LIMIT_TRACKED_IDENTITIES it starts again
 * empty, which at worst repeats an alert once.
 */
#include "core/alerts.h"

#include <stdio.h>
#include <string.h>

#include "loop/loop.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/map.h"

struct rp_alerts {
	rp_store *store;
	rp_map *last; /* "kind id" -> last alert, wall ms (as uintptr_t) */
};

rp_alerts *rp_alerts_new(rp_store *store)
{
	rp_alerts *a = rp_calloc(NULL, 1, sizeof(*a));

	if (a == NULL) {
		return NULL;
	}
	a->store = store;
	a->last = rp_map_new(NULL);
	if (a->last == NULL) {
		rp_free(NULL, a);
		return NULL;
	}
	return a;
}

void rp_alerts_free(rp_alerts *a)
{
	if (a == NULL) {
		return;
	}
	rp_map_free(a->last); /* values are numbers */
	rp_free(NULL, a);
}

static void on_added(void *ctx, rp_status st)
{
	(void)ctx;
	if (st != RP_OK) {
		rp_log(RP_LOG_ERROR, "alert", "an alert was not stored: %s", rp_status_str(st));
	}
}

/* 1 if this kind of alert for this identity was not made recently. */
static int due(rp_alerts *a, const char *kind, const char *id, int64_t now)
{
	char key[64 + RP_LIMIT_MQTT_CLIENT_ID_LEN + 2u];
	int n = snprintf(key, sizeof(key), "%s %s", kind, id);
	uintptr_t last;

	if (n < 0 || (size_t)n >= sizeof(key)) {
		return 1;
	}
	last = (uintptr_t)rp_map_get(a->last, key, (size_t)n);
	if (last != 0 && (uint64_t)now - (uint64_t)last < RP_LIMIT_ALERT_REPEAT_MS) {
		return 0;
	}
	if (rp_map_count(a->last) >= RP_LIMIT_TRACKED_IDENTITIES) {
		rp_map *fresh = rp_map_new(NULL);

		if (fresh != NULL) {
			rp_map_free(a->last);
			a->last = fresh;
		}
	}
	(void)rp_map_put(a->last, key, (size_t)n, (void *)(uintptr_t)now, NULL);
	return 1;
}

void rp_alerts_hook(void *ctx, const char *kind, const rp_identity *who, const char *detail_json)
{
	rp_alerts *a = ctx;
	rp_store_alert al;
	int64_t now = rp_clock_wall_ms();
	char id[80];

	rp_log(RP_LOG_WARN, "alert", "%s: %s (%s) %s", kind,
	       rp_log_escape(id, sizeof(id), (const uint8_t *)who->id, strlen(who->id)), who->role,
	       detail_json);
	if (!due(a, kind, who->id, now)) {
		return;
	}
	memset(&al, 0, sizeof(al));
	al.device_id = who->id;
	al.kind = kind;
	al.severity = RP_STORE_SEV_CRITICAL;
	al.detail = detail_json;
	al.created_ms = now;
	if (rp_store_alert_add(a->store, &al, NULL, on_added, NULL) != RP_OK) {
		rp_log(RP_LOG_ERROR, "alert", "%s for %s not queued for the store", kind, id);
	}
}
