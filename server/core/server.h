/*
 * server/core/server.h - rampartd's network side: listeners and
 * connections on an event loop, joining transports (server/net) to the
 * broker core (server/broker).
 *
 * Conventions
 * - Threads: this version runs one event loop; every function is called
 *   from its thread, except rp_server_stop() (any thread, signal-safe is
 *   not required: main uses signalfd).
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
 * Binds every listener (SO_REUSEADDR, SO_REUSEPORT) and starts accepting
 * on `loop`. A plain listener on a non-loopback address is refused with
 * RP_E_CONFIG. On failure *err (if not NULL) points to a static reason.
 * Returns NULL on failure.
 */
rp_server *rp_server_new(rp_loop *loop, rp_broker *broker, const rp_server_opts *o,
			 const char **err);

/* The port a listener is bound to (useful with port 0 in tests). */
uint16_t rp_server_port(const rp_server *s, unsigned listener);

/* Closes the listeners and every connection (flushing nothing). */
void rp_server_free(rp_server *s);

/* Stops accepting; existing connections are closed gracefully (MQTT 5
 * clients get DISCONNECT 0x8B) and the loop stops when they are gone or
 * after deadline_ms. */
void rp_server_drain(rp_server *s, uint32_t deadline_ms);

/* Replaces the TLS context for new connections and closes live TLS
 * connections whose peer certificate no longer verifies against it. */
void rp_server_set_tls(rp_server *s, struct rp_tls_ctx *tls);

/* Connections open now. */
size_t rp_server_connections(const rp_server *s);

#endif /* RP_SERVER_CORE_SERVER_H */
