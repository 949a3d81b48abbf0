/*
 * sessions.c - persistent sessions that survive a restart (sessions.h).
 *
 * State
 * - The broker's dirty list (broker core) says what to write; this module
 *   only turns hook calls into store operations.
 * - `pending`: client ids whose row must be deleted but whose delete the
 *   store's queue refused (RP_E_BUSY): the broker cannot keep them (the
 *   session is gone), so they wait here, under the broker lock, and go
 *   first at the next flush. A put of the same client id supersedes one
 *   (the put replaces the row anyway, and comes after in the store's
 *   order).
 * - Counters are atomics: completions run on the storage thread.
 *
 * Order: every write of one client id is queued from under the broker
 * lock, and the store runs operations in the order queued, so a delete
 * and a later put of the same id land in that order.
 */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "core/sessions.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/map.h"

/* "the store's queue is full" at most once a minute. */
#define BUSY_LOG_MS 60000u

struct rp_sessions {
	rp_store *store;
	rp_broker *b;
	rp_server *server; /* NULL until started: no lock needed before */
	rp_loop *loop;
	rp_timer timer;
	unsigned ticks;
	rp_map *pending; /* client id -> (void *)1; under the broker lock */
	uint64_t busy_log_ms;
	uint64_t expired_now; /* output of the sweep in flight (storage thread) */
	atomic_int sweeping;
	atomic_uint_fast64_t written, deleted, expired, failed, busy;
};

/* One queued write: who it was for, to log a failure by name. */
typedef struct op {
	rp_sessions *ss;
	char client_id[RP_LIMIT_MQTT_CLIENT_ID_LEN + 1];
} op;

static op *op_new(rp_sessions *ss, const char *client_id, size_t len)
{
	op *o;

	if (len > RP_LIMIT_MQTT_CLIENT_ID_LEN) {
		return NULL;
	}
	o = rp_alloc(NULL, sizeof(*o));
	if (o != NULL) {
		o->ss = ss;
		memcpy(o->client_id, client_id, len);
		o->client_id[len] = '\0';
	}
	return o;
}

static void log_failed(const char *what, const char *client_id, rp_status st)
{
	char id[80];

	rp_log(RP_LOG_ERROR, "sessions", "session %s: %s: %s",
	       rp_log_escape(id, sizeof(id), (const uint8_t *)client_id, strlen(client_id)), what,
	       rp_status_str(st));
}

/* Storage thread. */
static void on_put(void *ctx, rp_status st)
{
	op *o = ctx;

	if (st == RP_OK) {
		atomic_fetch_add(&o->ss->written, 1);
	} else {
		atomic_fetch_add(&o->ss->failed, 1);
		log_failed("not stored for a restart", o->client_id, st);
	}
	rp_free(NULL, o);
}

/* Storage thread. */
static void on_deleted(void *ctx, rp_status st)
{
	op *o = ctx;

	if (st == RP_OK) {
		atomic_fetch_add(&o->ss->deleted, 1);
	} else {
		atomic_fetch_add(&o->ss->failed, 1);
		log_failed("stored row not deleted", o->client_id, st);
	}
	rp_free(NULL, o);
}

/* Queues the delete of a row. RP_E_BUSY: the store's queue is full (nothing queued). */
static rp_status delete_row(rp_sessions *ss, const char *client_id, size_t len)
{
	op *o = op_new(ss, client_id, len);
	rp_status st;

	if (o == NULL) {
		return RP_E_BUSY; /* out of memory: kept and tried again, as for a full queue */
	}
	st = rp_store_session_delete(ss->store, o->client_id, on_deleted, o);
	if (st != RP_OK && st != RP_E_BUSY) {
		atomic_fetch_add(&ss->failed, 1);
		log_failed("stored row not deleted", o->client_id, st);
	}
	if (st != RP_OK) {
		rp_free(NULL, o); /* not queued: done is not called */
	}
	return st;
}

/* The broker's hook (broker.h), under the broker lock. */
static rp_status hook(void *ctx, const char *client_id, size_t client_id_len, const uint8_t *blob,
		      size_t len, uint64_t expires_in_ms)
{
	rp_sessions *ss = ctx;
	int64_t now = rp_clock_wall_ms();
	rp_store_session row;
	rp_status st;
	op *o;

	if (blob == NULL) {
		if (delete_row(ss, client_id, client_id_len) == RP_E_BUSY &&
		    rp_map_put(ss->pending, client_id, client_id_len, (void *)1, NULL) != RP_OK) {
			atomic_fetch_add(&ss->failed, 1);
			rp_log(RP_LOG_ERROR, "sessions",
			       "a stored session's row is not deleted (out of memory); its expiry "
			       "will remove it");
		}
		return RP_OK; /* kept here if need be: the broker has nothing to retry */
	}
	(void)rp_map_del(ss->pending, client_id, client_id_len); /* the put replaces the row */
	o = op_new(ss, client_id, client_id_len);
	if (o == NULL) {
		return RP_E_BUSY; /* stays dirty, tried again at the next flush */
	}
	row.client_id = o->client_id;
	row.blob = blob;
	row.blob_len = len;
	/* A connected session does not expire: the latest time the store takes. */
	row.expires_ms = expires_in_ms >= (uint64_t)(RP_LIMIT_STORE_TIME_MAX_MS - now)
				 ? RP_LIMIT_STORE_TIME_MAX_MS
				 : now + (int64_t)expires_in_ms;
	st = rp_store_session_put(ss->store, &row, on_put, o);
	if (st != RP_OK && st != RP_E_BUSY) {
		atomic_fetch_add(&ss->failed, 1);
		log_failed("not stored for a restart", o->client_id, st);
	}
	if (st != RP_OK) {
		rp_free(NULL, o); /* not queued: done is not called */
	}
	return st;
}

/* Deletes refused earlier, oldest first; stops at a full queue. Under the broker lock. */
static rp_status retry_pending(rp_sessions *ss)
{
	char key[RP_LIMIT_MQTT_CLIENT_ID_LEN + 1];
	const void *k;
	size_t cur, len;
	void *v;

	for (;;) {
		cur = 0;
		if (!rp_map_next(ss->pending, &cur, &k, &len, &v)) {
			return RP_OK;
		}
		if (len >= sizeof(key)) {
			return RP_E_INTERNAL; /* only client ids are put there */
		}
		memcpy(key, k, len); /* the map's key goes with the entry */
		key[len] = '\0';
		if (delete_row(ss, key, len) == RP_E_BUSY) {
			return RP_E_BUSY;
		}
		(void)rp_map_del(ss->pending, key, len);
	}
}

static rp_status flush(rp_sessions *ss, uint64_t now_ms, size_t max_bytes)
{
	rp_status st;

	if (ss->server != NULL) {
		rp_server_broker_lock(ss->server);
	}
	st = retry_pending(ss);
	if (st == RP_OK) {
		st = rp_broker_flush_sessions(ss->b, now_ms, max_bytes);
	}
	if (ss->server != NULL) {
		rp_server_broker_unlock(ss->server);
	}
	if (st == RP_E_BUSY) {
		atomic_fetch_add(&ss->busy, 1);
		if (ss->busy_log_ms == 0 || now_ms - ss->busy_log_ms >= BUSY_LOG_MS) {
			rp_log(RP_LOG_WARN, "sessions",
			       "the store's queue is full: session writes wait for the next flush");
			ss->busy_log_ms = now_ms != 0 ? now_ms : 1u;
		}
	}
	return st;
}

rp_status rp_sessions_flush(rp_sessions *ss, uint64_t now_ms)
{
	return flush(ss, now_ms, RP_SESSIONS_FLUSH_BYTES);
}

/* Storage thread. */
static void on_swept(void *ctx, rp_status st)
{
	rp_sessions *ss = ctx;

	if (st != RP_OK && st != RP_E_CLOSED) {
		rp_log(RP_LOG_WARN, "sessions", "expired sessions not deleted: %s",
		       rp_status_str(st));
	} else if (ss->expired_now > 0) {
		atomic_fetch_add(&ss->expired, ss->expired_now);
		rp_log(RP_LOG_INFO, "sessions", "%llu expired stored session%s deleted",
		       (unsigned long long)ss->expired_now, ss->expired_now == 1 ? "" : "s");
	}
	atomic_store(&ss->sweeping, 0);
}

/* Rows past their expiry (and the grace) go; one sweep at a time (expired_now). */
static void sweep(rp_sessions *ss)
{
	int64_t before = rp_clock_wall_ms() - (int64_t)RP_SESSIONS_EXPIRE_GRACE_MS;

	if (before < 0 || atomic_exchange(&ss->sweeping, 1) != 0) {
		return;
	}
	ss->expired_now = 0;
	if (rp_store_session_expire(ss->store, before, &ss->expired_now, on_swept, ss) != RP_OK) {
		atomic_store(&ss->sweeping, 0); /* a full queue: the next sweep */
	}
}

static void on_timer(rp_loop *loop, void *arg)
{
	rp_sessions *ss = arg;

	(void)flush(ss, rp_loop_now(loop), RP_SESSIONS_FLUSH_BYTES);
	if (++ss->ticks >= RP_SESSIONS_EXPIRE_MS / RP_SESSIONS_FLUSH_MS) {
		ss->ticks = 0;
		sweep(ss);
	}
	(void)rp_timer_start(loop, &ss->timer, RP_SESSIONS_FLUSH_MS, on_timer, ss);
}

typedef struct load_ctx {
	rp_sessions *ss;
	uint64_t now_ms;
	size_t restored, skipped;
} load_ctx;

/* Storage thread, while the main thread waits: nothing else calls the broker. */
static rp_status on_row(void *ctx, const rp_store_session *row)
{
	load_ctx *l = ctx;
	rp_session_restored info;
	rp_status st = rp_broker_restore_session(l->ss->b, row->client_id, row->blob, row->blob_len,
						 l->now_ms, &info);
	char id[80];

	rp_log_escape(id, sizeof(id), (const uint8_t *)row->client_id, strlen(row->client_id));
	if (st != RP_OK) {
		l->skipped++;
		rp_log(RP_LOG_WARN, "sessions", "stored session %s not restored: %s", id,
		       rp_status_str(st));
		return RP_OK; /* one bad row does not stop the others */
	}
	l->restored++;
	if (info.subs_dropped + info.msgs_dropped + info.ids_dropped > 0) {
		rp_log(RP_LOG_WARN, "sessions",
		       "session %s restored without what today's policy and limits refuse: %zu "
		       "subscription(s), %zu message(s), %zu QoS 2 packet id(s)",
		       id, info.subs_dropped, info.msgs_dropped, info.ids_dropped);
	}
	return RP_OK;
}

rp_status rp_sessions_open(rp_store *store, rp_broker *b, uint64_t now_ms, rp_sessions **out,
			   size_t *restored, size_t *skipped)
{
	rp_sessions *ss;
	load_ctx l;
	rp_status st;

	*out = NULL;
	ss = rp_calloc(NULL, 1, sizeof(*ss));
	if (ss == NULL) {
		return RP_E_NOMEM;
	}
	ss->store = store;
	ss->b = b;
	atomic_init(&ss->sweeping, 0);
	atomic_init(&ss->written, 0);
	atomic_init(&ss->deleted, 0);
	atomic_init(&ss->expired, 0);
	atomic_init(&ss->failed, 0);
	atomic_init(&ss->busy, 0);
	ss->pending = rp_map_new(NULL);
	if (ss->pending == NULL) {
		st = RP_E_NOMEM;
		goto out;
	}
	l = (load_ctx){ss, now_ms, 0, 0};
	st = rp_store_session_load(store, on_row, &l, NULL, NULL);
	if (restored != NULL) {
		*restored = l.restored;
	}
	if (skipped != NULL) {
		*skipped = l.skipped;
	}
	if (st != RP_OK) {
		goto out;
	}
	rp_broker_set_session_hook(b, hook, ss);
	*out = ss;
	ss = NULL;
out:
	rp_sessions_free(ss);
	return st;
}

rp_status rp_sessions_start(rp_sessions *ss, rp_loop *loop, rp_server *server)
{
	rp_status st = rp_timer_start(loop, &ss->timer, RP_SESSIONS_FLUSH_MS, on_timer, ss);

	if (st == RP_OK) {
		ss->loop = loop;
		ss->server = server;
	}
	return st;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {0, (long)ms * 1000000L};

	(void)nanosleep(&ts, NULL);
}

void rp_sessions_stop(rp_sessions *ss, uint64_t now_ms)
{
	uint64_t deadline;
	rp_status st;

	if (ss == NULL) {
		return;
	}
	if (ss->loop != NULL) {
		rp_timer_stop(ss->loop, &ss->timer);
	}
	/*
	 * Everything, however much: the loops have stopped, so the lock is
	 * free but for the storage thread's acknowledgements. A full queue
	 * drains while we wait outside the lock (its completions take it).
	 */
	deadline = rp_clock_ms() + RP_SESSIONS_STOP_WAIT_MS;
	while ((st = flush(ss, now_ms, 0)) == RP_E_BUSY && rp_clock_ms() < deadline) {
		sleep_ms(10);
	}
	if (ss->server != NULL) {
		rp_server_broker_lock(ss->server);
	}
	if (st != RP_OK) {
		rp_log(RP_LOG_ERROR, "sessions",
		       "%zu session(s) and %zu deletion(s) not written at shutdown: %s",
		       rp_broker_dirty_sessions(ss->b), rp_map_count(ss->pending),
		       rp_status_str(st));
	}
	rp_broker_set_session_hook(ss->b, NULL, NULL);
	if (ss->server != NULL) {
		rp_server_broker_unlock(ss->server);
	}
}

void rp_sessions_free(rp_sessions *ss)
{
	if (ss == NULL) {
		return;
	}
	rp_map_free(ss->pending);
	rp_free(NULL, ss);
}

void rp_sessions_stats_get(rp_sessions *ss, rp_sessions_stats *out)
{
	out->written = atomic_load(&ss->written);
	out->deleted = atomic_load(&ss->deleted);
	out->expired = atomic_load(&ss->expired);
	out->failed = atomic_load(&ss->failed);
	out->busy = atomic_load(&ss->busy);
	out->pending = rp_map_count(ss->pending);
}
