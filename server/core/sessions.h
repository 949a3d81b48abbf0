/*
 * server/core/sessions.h - persistent sessions that survive a restart.
 *
 * The broker keeps a list of the persistent sessions whose durable state
 * changed (broker.h, rp_broker_flush_sessions). This module is its link to
 * the store: every RP_SESSIONS_FLUSH_MS, on loop 0 and under the broker
 * lock, it serialises the dirty sessions and queues their writes without
 * waiting (rp_store_session_put); the row of a session that ends is
 * deleted as it ends; every RP_SESSIONS_EXPIRE_MS, rows whose expiry has
 * passed are deleted (rp_store_session_expire). At start-up, before any
 * listener opens, rp_sessions_open() gives the broker back what the store
 * holds. docs/broker.md, "Persistent sessions across restarts", is the
 * long form.
 *
 * Conventions
 * - Durability: a change reaches the store's queue at most one flush
 *   interval after it happened, so a SIGKILL (or a power cut) loses the
 *   changes of the last interval, at most. rp_sessions_stop() writes every
 *   dirty session, and rp_store_close() then commits every queued write:
 *   after SIGTERM nothing is lost.
 * - Threads: rp_sessions_open() at start-up, while nothing else calls the
 *   broker. The timer runs on the loop given to rp_sessions_start() and
 *   takes the server's broker lock; so do rp_sessions_flush() and
 *   rp_sessions_stop() once a server is given (before that, nothing else
 *   may call the broker). The store's completions run on the storage thread
 *   and touch only atomics.
 * - Lifetime: open after the broker and the store; start once the server
 *   exists; stop after rp_server_run() returned and the API stopped, before
 *   rp_store_close(); free after rp_store_close() (completions hold it).
 * - Secrets: client ids are logged escaped; blobs never.
 */
#ifndef RP_SERVER_CORE_SESSIONS_H
#define RP_SERVER_CORE_SESSIONS_H

#include <stddef.h>
#include <stdint.h>

#include "broker/broker.h"
#include "core/server.h"
#include "loop/loop.h"
#include "store/store.h"

/* How often dirty sessions are written: what a SIGKILL can lose. */
#define RP_SESSIONS_FLUSH_MS 1000u

/*
 * Bytes of blobs queued per flush; the rest waits for the next one. Bounds
 * the time one flush holds the broker lock (serialising) and the share of
 * the store's queue (RP_DEFAULT_STORE_QUEUE_BYTES, 64 MiB) sessions take
 * from telemetry in one second.
 */
#define RP_SESSIONS_FLUSH_BYTES (8u * 1024u * 1024u)

/*
 * How often expired rows are deleted, and how long after its expiry a row
 * goes: a grace so that a row is not deleted under a session the broker
 * still holds (its monotonic clock and the wall clock drift apart, and the
 * broker expires sessions once a second, deleting their rows itself).
 */
#define RP_SESSIONS_EXPIRE_MS       60000u
#define RP_SESSIONS_EXPIRE_GRACE_MS 60000u

/* A final flush waits at most this long for room in the store's queue. */
#define RP_SESSIONS_STOP_WAIT_MS 30000u

typedef struct rp_sessions rp_sessions;

/*
 * Start-up, before any client: restores every stored session into b
 * (rp_broker_restore_session, expiry counting from now_ms, b's monotonic
 * clock); a row the broker refuses is logged with its client id and left
 * in the store (its expiry removes it). Then installs the session hook.
 * *restored and *skipped (may be NULL) get the counts. Returns RP_OK with
 * *out set, RP_E_NOMEM, or the store's status for the load (then *out is
 * NULL and the hook is not installed).
 */
rp_status rp_sessions_open(rp_store *store, rp_broker *b, uint64_t now_ms, rp_sessions **out,
			   size_t *restored, size_t *skipped);

/*
 * Starts the flush timer on `loop` (loop 0); flushes take `server`'s
 * broker lock from now on. Returns RP_OK or the timer's status.
 */
rp_status rp_sessions_start(rp_sessions *ss, rp_loop *loop, rp_server *server);

/*
 * One flush now: rows of ended sessions the store could not take earlier,
 * then the dirty sessions, at most RP_SESSIONS_FLUSH_BYTES of them.
 * Returns as rp_broker_flush_sessions(). The timer calls it; tests too.
 */
rp_status rp_sessions_flush(rp_sessions *ss, uint64_t now_ms);

/*
 * Shutdown: stops the timer, writes every dirty session and pending delete
 * (waiting for room in the store's queue, at most RP_SESSIONS_STOP_WAIT_MS),
 * logs what could not be written, and uninstalls the hook, so that
 * sessions ended later (rp_server_free) leave their rows alone. NULL is
 * allowed.
 */
void rp_sessions_stop(rp_sessions *ss, uint64_t now_ms);

/* After rp_store_close(). NULL is allowed. */
void rp_sessions_free(rp_sessions *ss);

/* Counters since open, for logs and tests. */
typedef struct rp_sessions_stats {
	uint64_t written; /* rows put, committed */
	uint64_t deleted; /* rows deleted, committed (ended sessions) */
	uint64_t expired; /* rows deleted by the expiry sweep */
	uint64_t failed;  /* writes the store refused or failed */
	uint64_t busy;    /* flushes stopped by a full store queue */
	size_t pending;   /* deletes waiting for room in the store's queue */
} rp_sessions_stats;

/* Call with the broker lock held, or while nothing else runs (pending). */
void rp_sessions_stats_get(rp_sessions *ss, rp_sessions_stats *out);

#endif /* RP_SERVER_CORE_SESSIONS_H */
