/*
 * server/core/server.h - rampartd's network side: listeners and
 * connections on an event loop, joining transports (server/net) to the
 * broker core (server/broker).
 *
 * Conventions
 * - Threads: one worker per event loop. rp_server_new() binds every
 *   listener once per loop (SO_REUSEPORT); rp_server_run() runs loop 0 on
 *   the calling thread and the others on threads it starts. While it runs,
 *   rp_server_drain(), rp_server_set_tls() and rp_server_set_policy() may
 *   be called from loop 0's thread (main's signal handling); they post to
 *   every loop. Each connection belongs to the loop that accepted it. The
 *   broker core is shared and called under one lock; TLS work is done
 *   outside it (docs/architecture.md, "Threads").
 * - A connection goes HANDSHAKE -> MQTT -> CLOSING. Limits before the
 *   handshake completes: max_handshakes in flight and handshake_timeout_ms.
 *   The broker core applies the pre-CONNECT limits after it.
 * - Back pressure: when a client's pending output passes out_pause_bytes,
 *   its socket is no longer read until the output drains (a publisher
 *   that floods a slow subscriber through QoS 0 is slowed at the source
 *   by the subscriber's queue bounds, see docs/broker.md).
 */
#ifndef RP_SERVER_CORE_SERVER_H
#define RP_SERVER_CORE_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "broker/broker.h"
#include "loop/loop.h"

struct rp_tls_ctx;
struct rp_policy;

#define RP_SERVER_MAX_LISTENERS 8u

typedef struct rp_listen_spec {
	char addr[64]; /* "127.0.0.1:8883", "[::1]:1883", "0.0.0.0:8883" */
	int tls;       /* 1: mutual TLS (devices); 0: plain TCP, loopback only */
} rp_listen_spec;

typedef struct rp_server_opts {
	rp_listen_spec listeners[RP_SERVER_MAX_LISTENERS];
	unsigned nlisteners;
	struct rp_tls_ctx *tls; /* borrowed; required if any listener has tls */
	uint32_t max_connections;
	uint32_t max_connections_per_address;
	uint32_t max_handshakes;
	uint32_t handshake_timeout_ms;
	uint32_t connect_rate_per_address; /* token bucket at accept, per second */
	uint32_t connect_burst_per_address;
	uint32_t write_timeout_ms; /* output stalled this long: slow reader, closed */
	size_t out_pause_bytes;
} rp_server_opts;

typedef struct rp_server rp_server;

/* Defaults for the numeric options (no listeners). */
void rp_server_opts_default(rp_server_opts *o);

/*
 * Binds every listener once per loop (SO_REUSEADDR, SO_REUSEPORT; with
 * port 0 the later loops bind the port loop 0 got) and watches them on
 * `loops[0 .. nloops)`, which MUST NOT be running yet. A plain listener on
 * a non-loopback address is refused. On failure *err (if not NULL) points
 * to a static reason. Returns NULL on failure.
 */
rp_server *rp_server_new(rp_loop *const *loops, unsigned nloops, rp_broker *broker,
			 const rp_server_opts *o, const char **err);

/*
 * Runs every loop until loop 0 stops (after a drain, or rp_loop_stop on
 * it), then stops and joins the others. Returns RP_OK, RP_E_IO (a loop
 * failed) or RP_E_NOMEM (a thread could not be started).
 */
rp_status rp_server_run(rp_server *s);

/* Number of loops. */
unsigned rp_server_loops(const rp_server *s);

/* The port a listener is bound to (useful with port 0 in tests). */
uint16_t rp_server_port(const rp_server *s, unsigned listener);

/* Closes the listeners and every connection (flushing nothing). The loops
 * MUST be stopped (rp_server_run returned, or never called). */
void rp_server_free(rp_server *s);

/* Stops accepting; existing connections are closed gracefully (MQTT 5
 * clients get DISCONNECT 0x8B) and rp_server_run() returns when they are
 * gone or after deadline_ms. */
void rp_server_drain(rp_server *s, uint32_t deadline_ms);

/* Replaces the TLS context for new connections (each loop takes its own
 * reference) and closes live TLS connections whose peer certificate no
 * longer verifies against it. */
void rp_server_set_tls(rp_server *s, struct rp_tls_ctx *tls);

/* Replaces the broker's ACL under the broker lock (rp_broker_set_policy). */
void rp_server_set_policy(rp_server *s, const struct rp_policy *policy);

/*
 * The broker lock, for a thread that is not a loop (the storage thread
 * answering telemetry: rp_ingest_done). Every call into the broker core
 * from such a thread MUST hold it; it MUST NOT be taken twice.
 */
void rp_server_broker_lock(rp_server *s);
void rp_server_broker_unlock(rp_server *s);

/* Connections open now, over all loops. */
size_t rp_server_connections(rp_server *s);

#endif /* RP_SERVER_CORE_SERVER_H */
