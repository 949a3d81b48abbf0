/*
 * server/core/retained.h - retained messages that survive a restart.
 *
 * rp_retained_to_store() is the broker's retain hook (rp_broker_set_retain_hook,
 * ctx: the rp_store): every set or cleared retained message is queued as a store
 * write, in order, without waiting (the broker lock is held). At start-up,
 * before any connection, rp_retained_load() gives the broker back what the
 * store holds.
 *
 * The store row keeps the topic, payload and QoS as columns (for operators and
 * the API) and the whole message, as an MQTT 5 PUBLISH, in its props column:
 * that is what is restored, so properties (content type, user properties,
 * ...) come back too. A write the store refuses is logged; the message stays
 * retained in memory.
 */
#ifndef RP_SERVER_CORE_RETAINED_H
#define RP_SERVER_CORE_RETAINED_H

#include <stddef.h>
#include <stdint.h>

#include "broker/broker.h"
#include "store/store.h"

void rp_retained_to_store(void *ctx, const uint8_t *topic, size_t topic_len,
			  const rp_mqtt_publish *pub, const uint8_t *packet, size_t len);

/*
 * Start-up (nothing else running): loads every retained message of `store`
 * into `b`. Rows the broker refuses (over a cap, not a PUBLISH) are logged
 * and skipped. *loaded (may be NULL) gets the number restored. Returns the
 * store's status.
 */
rp_status rp_retained_load(rp_store *store, rp_broker *b, size_t *loaded);

#endif /* RP_SERVER_CORE_RETAINED_H */
