/*
 * server/core/alerts.h - what the broker notices, into the store as alerts.
 *
 * rp_alerts_hook() is the broker's alert hook (rp_broker_set_alert_hook):
 * it logs the event (WARN) and adds an alert to the store, at most one per
 * kind and identity every RP_LIMIT_ALERT_REPEAT_MS (limits.h), so a cloned credential that
 * keeps taking its twin's connection over cannot flood the store. The
 * alerts are read through GET /api/v1/alerts.
 *
 * Conventions
 * - Threads: the hook runs under the broker lock (any loop); the store's
 *   answer comes on the storage thread and only logs.
 * - Lifetime: rp_alerts_free() after the store is closed.
 */
#ifndef RP_SERVER_CORE_ALERTS_H
#define RP_SERVER_CORE_ALERTS_H

#include "broker/broker.h"
#include "store/store.h"

typedef struct rp_alerts rp_alerts;

/* NULL on allocation failure. The store is borrowed. */
rp_alerts *rp_alerts_new(rp_store *store);

void rp_alerts_free(rp_alerts *a);

/* The hook: rp_broker_set_alert_hook(b, rp_alerts_hook, a). */
void rp_alerts_hook(void *ctx, const char *kind, const rp_identity *who, const char *detail_json);

#endif /* RP_SERVER_CORE_ALERTS_H */
