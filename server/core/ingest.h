/*
 * server/core/ingest.h - device telemetry into the store.
 *
 * A device publishes SenML (RFC 8428), JSON or CBOR, to d/{its id}/telemetry.
 * rp_telemetry_ingest() is the broker's ingestion hook (rp_broker_set_ingest):
 * it parses the pack strictly, records the device as seen, and queues one
 * store insert for the whole pack. A QoS 1 PUBLISH is acknowledged only when
 * that insert has committed: acknowledged means stored.
 *
 * Conventions
 * - Threads: rp_telemetry_ingest() runs under the broker lock on an event
 *   loop, like every broker callback; the store's answer comes on the
 *   storage thread, which takes the broker lock (rp_server_broker_lock) to
 *   send the PUBACK. rp_telemetry_expire() runs on loop 0.
 * - Format: the first byte that is not JSON white space decides: '[' is
 *   JSON; a CBOR array (major type 4, 0x80 .. 0x9f) is CBOR; anything else
 *   is refused as not SenML.
 * - Refusals: a payload that is not valid SenML gets reason 0x99 (Payload
 *   format invalid) and counts as a protocol error of the device; a full
 *   store queue gets 0x97 (Quota exceeded); a failed write 0x80. MQTT
 *   3.1.1 clients cannot be told: see rp_ingest_fn in broker/broker.h.
 * - Lifetime: rp_telemetry_free() only after the store is closed (every
 *   answer has come) and the loops have stopped.
 */
#ifndef RP_SERVER_CORE_INGEST_H
#define RP_SERVER_CORE_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "broker/broker.h"
#include "core/server.h"
#include "store/store.h"

typedef struct rp_telemetry rp_telemetry;

/* NULL on allocation failure. Both pointers are borrowed. */
rp_telemetry *rp_telemetry_new(rp_server *srv, rp_store *store);

void rp_telemetry_free(rp_telemetry *t);

/*
 * The ingestion hook: install with rp_broker_set_ingest(b, rp_telemetry_ingest, t).
 * Telemetry as above. A command result (d/{id}/cmd/{name}/result) is
 * handed to rp_api_command_result() and its PUBACK waits until it is
 * recorded; it is routed like any message either way, since a service may
 * have sent that command over MQTT: a payload that is not the API's result
 * object, or that answers no open API command of this device, is simply
 * not recorded (an answered one is logged). Only a failed write is refused.
 */
rp_status rp_telemetry_ingest(void *ctx, const rp_identity *who, const uint8_t *topic,
			      size_t topic_len, const uint8_t *payload, size_t len, uint8_t qos,
			      rp_ingest *ticket, uint8_t *reason);

/*
 * Retention: queues the deletion of telemetry older than now_ms minus
 * retention_ms, unless the previous one is still running. The store deletes
 * in bounded chunks, each its own transaction, so ingest is never blocked
 * for long.
 */
void rp_telemetry_expire(rp_telemetry *t, int64_t now_ms, int64_t retention_ms);

#endif /* RP_SERVER_CORE_INGEST_H */
