/*
 * store.c - the storage thread: a bounded queue, group commit, retries.
 *
 * State: one queue of operations (head..tail, `queued` of them), and the
 * counts of operations submitted but not completed (`stats.pending`,
 * `stats.pending_bytes`), which the limits bound. All of it is guarded by
 * `mu`. The storage thread alone touches the database connection and the
 * `batch` array.
 *
 * One round of the storage thread:
 *   1. wait until the queue is not empty (and no test holds it);
 *   2. if the previous batch had more than one operation (we are busy),
 *      linger up to batch_wait_ms for the batch to fill;
 *   3. take up to batch_ops operations; BEGIN; run each (consecutive bulk
 *      inserts, telemetry, together: one back-end call); COMMIT;
 *   4. on a transient error (busy, locked, lost connection before COMMIT),
 *      roll back, back off (doubling) and run the whole batch again, at
 *      most `retries` times; on an operation's hard error, roll back and
 *      run every operation of the batch alone, each in its own
 *      transaction, so one bad operation never fails its neighbours;
 *   5. call each operation's after() and then its done callback (or queue
 *      it again for its next chunk), outside the lock, in queue order.
 *
 * Invariants: every operation accepted by rp__store_submit() reaches
 * complete() exactly once, which calls its callback and frees it; close
 * sets `stopping` (no new submissions), and the thread leaves only when
 * the queue is empty.
 */
#include "store/internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <string.h>
#include <time.h>

#include "rampart/mqtt.h"
#include "util/alloc.h"
#include "util/log.h"

#define ALIGN_UP(n) (((n) + alignof(max_align_t) - 1u) & ~(alignof(max_align_t) - 1u))

enum { TXN_OK, TXN_TRANSIENT, TXN_HARD, TXN_FATAL, TXN_SPLIT };

struct rp_store {
	rp__store_db *db;
	rp_store_options opt;
	int64_t version;
	pthread_mutex_t mu;
	pthread_cond_t work; /* the storage thread waits for operations (monotonic clock) */
	pthread_cond_t room; /* synchronous submitters wait for room in the queue */
	pthread_t thread;
	rp__store_op *head, *tail;
	size_t queued;
	int stopping;
	int hold;
	int linger;
	rp_store_stats stats;
	rp__store_op **batch;  /* opt.batch_ops slots, storage thread only */
	rp__store_span *spans; /* opt.batch_ops slots, storage thread only */
};

/* ------------------------------------------------------------------------
 * Argument constructors
 * ------------------------------------------------------------------------ */

rp_status rp__store_text(rp__store_val *v, const char *s, size_t max, int allow_empty)
{
	size_t len;

	if (s == NULL) {
		return RP_E_INVALID_ARG;
	}
	len = strnlen(s, max + 1u);
	if (len > max) {
		return RP_E_LIMIT;
	}
	if (len == 0 && !allow_empty) {
		return RP_E_INVALID_ARG;
	}
	if (!rp_mqtt_utf8_valid((const uint8_t *)s, len)) {
		return RP_E_UTF8;
	}
	v->t = RP__V_TEXT;
	v->p = s;
	v->len = len;
	return RP_OK;
}

rp_status rp__store_opt_text(rp__store_val *v, const char *s, size_t max)
{
	if (s == NULL) {
		v->t = RP__V_NULL;
		return RP_OK;
	}
	return rp__store_text(v, s, max, 1);
}

rp_status rp__store_hex(rp__store_val *v, const char *s, size_t min, size_t max)
{
	rp_status st = rp__store_text(v, s, max, min == 0);

	if (st != RP_OK) {
		return st;
	}
	if (v->len < min) {
		return RP_E_INVALID_ARG;
	}
	for (size_t i = 0; i < v->len; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return RP_E_INVALID_ARG;
		}
	}
	return RP_OK;
}

rp_status rp__store_blob(rp__store_val *v, const void *p, size_t len, size_t max)
{
	if (p == NULL && len != 0) {
		return RP_E_INVALID_ARG;
	}
	if (len > max) {
		return RP_E_LIMIT;
	}
	v->t = RP__V_BLOB;
	v->p = p == NULL ? "" : p;
	v->len = len;
	return RP_OK;
}

rp_status rp__store_time(rp__store_val *v, int64_t ms)
{
	if (ms < 0 || ms > RP_LIMIT_STORE_TIME_MAX_MS) {
		return RP_E_INVALID_ARG;
	}
	rp__store_int(v, ms);
	return RP_OK;
}

void rp__store_int(rp__store_val *v, int64_t i)
{
	v->t = RP__V_INT;
	v->i = i;
}

rp_status rp__store_limit(rp__store_val *v, size_t limit, size_t cap)
{
	if (limit == 0 || limit > cap) {
		return RP_E_INVALID_ARG;
	}
	rp__store_int(v, (int64_t)limit);
	return RP_OK;
}

/* ------------------------------------------------------------------------
 * Result blocks: [header | rows ...] plus chunks for strings and blobs.
 * Rows may move when the array grows; strings never do, so rows point
 * into chunks only.
 * ------------------------------------------------------------------------ */

typedef union res_hdr {
	struct {
		union res_chunk *chunks;
		size_t n, cap, row_size;
	} h;
	max_align_t align_;
} res_hdr;

typedef union res_chunk {
	struct {
		union res_chunk *next;
		size_t used, cap;
	} c;
	max_align_t align_;
} res_chunk;

#define RES_HDR(rows) ((res_hdr *)(rows)-1)
#define RES_CHUNK_MIN 4096u

void *rp__res_row(rp__store_op *op, size_t row_size)
{
	res_hdr *h;
	char *row;

	if (op->rows == NULL) {
		h = rp_alloc(NULL, sizeof(*h) + 4u * row_size);
		if (h == NULL) {
			op->nomem = 1;
			return NULL;
		}
		h->h.chunks = NULL;
		h->h.n = 0;
		h->h.cap = 4;
		h->h.row_size = row_size;
		op->rows = h + 1;
	}
	h = RES_HDR(op->rows);
	if (h->h.n == h->h.cap) {
		size_t cap = h->h.cap * 2u;
		res_hdr *nh = rp_realloc(NULL, h, sizeof(*h) + cap * row_size);

		if (nh == NULL) {
			op->nomem = 1;
			return NULL;
		}
		h = nh;
		h->h.cap = cap;
		op->rows = h + 1;
	}
	row = (char *)(h + 1) + h->h.n * row_size;
	memset(row, 0, row_size);
	h->h.n++;
	return row;
}

size_t rp__res_count(const void *rows)
{
	return rows == NULL ? 0 : ((const res_hdr *)rows - 1)->h.n;
}

void rp__res_pop(void *rows)
{
	if (rows != NULL && RES_HDR(rows)->h.n > 0) {
		RES_HDR(rows)->h.n--;
	}
}

/* size bytes in the block's chunks, aligned for any type; NULL: no memory. */
static void *res_space(rp__store_op *op, size_t size)
{
	res_hdr *h;
	res_chunk *c;
	size_t need = ALIGN_UP(size);
	void *p;

	if (op->rows == NULL || need < size) {
		op->nomem = 1;
		return NULL;
	}
	h = RES_HDR(op->rows);
	c = h->h.chunks;
	if (c == NULL || c->c.cap - c->c.used < need) {
		size_t cap = need > RES_CHUNK_MIN ? need : RES_CHUNK_MIN;

		c = rp_alloc(NULL, sizeof(*c) + cap);
		if (c == NULL) {
			op->nomem = 1;
			return NULL;
		}
		c->c.used = 0;
		c->c.cap = cap;
		c->c.next = h->h.chunks;
		h->h.chunks = c;
	}
	p = (char *)(c + 1) + c->c.used;
	c->c.used += need;
	return p;
}

char *rp__res_copy(rp__store_op *op, const void *p, size_t len)
{
	/* Returned on failure, never written: callers check op->nomem first. */
	static char empty[1];
	char *d = len + 1u == 0 ? NULL : res_space(op, len + 1u);

	if (d == NULL) {
		return empty; /* op->nomem is set: the row is dropped */
	}
	if (len > 0) {
		memcpy(d, p, len);
	}
	d[len] = '\0';
	return d;
}

const char **rp__res_ptrs(rp__store_op *op, size_t n)
{
	if (n > SIZE_MAX / sizeof(char *)) {
		op->nomem = 1;
		return NULL;
	}
	return res_space(op, n * sizeof(char *) + 1u);
}

const char *rp__col_str(rp__store_db *db, rp__store_op *op, int col)
{
	size_t len = 0;
	const char *t = db->be->col_text(db, col, &len);

	return rp__res_copy(op, t == NULL ? "" : t, t == NULL ? 0 : len);
}

const uint8_t *rp__col_mem(rp__store_db *db, rp__store_op *op, int col, size_t *len)
{
	const uint8_t *b = db->be->col_blob(db, col, len);

	if (b == NULL) {
		*len = 0;
		b = (const uint8_t *)"";
	}
	return (const uint8_t *)rp__res_copy(op, b, *len);
}

void rp__res_free(void *rows)
{
	res_hdr *h;
	res_chunk *c, *next;

	if (rows == NULL) {
		return;
	}
	h = RES_HDR(rows);
	for (c = h->h.chunks; c != NULL; c = next) {
		next = c->c.next;
		rp_free_secret(NULL, c);
	}
	rp_free_secret(NULL, h);
}

void rp_store_free(void *rows)
{
	rp__res_free(rows);
}

/* ------------------------------------------------------------------------
 * Enumerations as stored
 * ------------------------------------------------------------------------ */

static const char *const device_status_names[] = {
	[RP_STORE_DEVICE_ACTIVE] = "active",
	[RP_STORE_DEVICE_QUARANTINED] = "quarantined",
	[RP_STORE_DEVICE_REVOKED] = "revoked",
	[RP_STORE_DEVICE_DECOMMISSIONED] = "decommissioned",
};

static const char *const role_names[] = {
	[RP_STORE_ROLE_VIEWER] = "viewer",
	[RP_STORE_ROLE_OPERATOR] = "operator",
	[RP_STORE_ROLE_ADMIN] = "admin",
	[RP_STORE_ROLE_AUDITOR] = "auditor",
};

const char *rp__device_status_text(rp_store_device_status s)
{
	if ((unsigned)s == 0 || (unsigned)s > RP_STORE_DEVICE_DECOMMISSIONED) {
		return NULL;
	}
	return device_status_names[s];
}

rp_store_device_status rp__device_status_from(const char *s)
{
	if (s == NULL) {
		return RP_STORE_DEVICE_ANY;
	}
	for (unsigned i = 1; i <= RP_STORE_DEVICE_DECOMMISSIONED; i++) {
		if (strcmp(s, device_status_names[i]) == 0) {
			return (rp_store_device_status)i;
		}
	}
	return RP_STORE_DEVICE_ANY;
}

const char *rp__role_text(rp_store_role r)
{
	if ((unsigned)r == 0 || (unsigned)r > RP_STORE_ROLE_AUDITOR) {
		return NULL;
	}
	return role_names[r];
}

rp_store_role rp__role_from(const char *s)
{
	if (s == NULL) {
		return (rp_store_role)0;
	}
	for (unsigned i = 1; i <= RP_STORE_ROLE_AUDITOR; i++) {
		if (strcmp(s, role_names[i]) == 0) {
			return (rp_store_role)i;
		}
	}
	return (rp_store_role)0;
}

/* ------------------------------------------------------------------------
 * Back-end helpers
 * ------------------------------------------------------------------------ */

void rp__store_db_clear(rp__store_db *db)
{
	db->err = RP_OK;
	db->failed = 0;
	db->transient = 0;
	db->conn_lost = 0;
	db->committed = 0;
	db->commit_unknown = 0;
	db->msg[0] = '\0';
}

rp_status rp__store_run(rp__store_db *db, const rp__store_sql *q, const rp__store_val *v, size_t n,
			uint64_t *changes)
{
	rp_status st = db->be->query(db, q, v, n);

	if (st == RP_OK && changes != NULL) {
		*changes = db->be->changes(db);
	}
	db->be->end(db);
	return st;
}

rp_status rp__store_exists(rp__store_db *db, const rp__store_sql *q, const rp__store_val *v,
			   size_t n)
{
	rp_status st = db->be->query(db, q, v, n);
	int r;

	if (st != RP_OK) {
		return st;
	}
	r = db->be->next(db);
	db->be->end(db);
	if (r < 0) {
		return db->err;
	}
	return r == 1 ? RP_OK : RP_E_NOT_FOUND;
}

rp_status rp__store_rows(rp__store_db *db, rp__store_op *op, const rp__store_sql *q,
			 const rp__store_val *v, size_t n, rp__store_decode_fn decode, int one)
{
	size_t rows = 0;
	rp_status st = db->be->query(db, q, v, n);
	int r;

	if (st != RP_OK) {
		return st;
	}
	while ((r = db->be->next(db)) == 1) {
		st = decode(db, op);
		if (st != RP_OK) {
			break;
		}
		rows++;
	}
	if (r < 0) {
		st = db->err;
	}
	db->be->end(db);
	if (st == RP_OK && one && rows == 0) {
		st = RP_E_NOT_FOUND;
	}
	return st;
}

static rp_status run_generic(rp__store_db *db, rp__store_op *op)
{
	rp__store_state *w = op->work;
	uint64_t changes = 0;
	rp_status st;

	if (op->decode != NULL) {
		return rp__store_rows(db, op, op->sql, op->args, op->nargs, op->decode,
				      (op->flags & RP__F_ONE) != 0);
	}
	st = rp__store_run(db, op->sql, op->args, op->nargs, &changes);
	if (st != RP_OK) {
		return st;
	}
	if ((op->flags & RP__F_CHANGE) != 0 && changes == 0) {
		return RP_E_NOT_FOUND;
	}
	if ((op->flags & RP__F_COUNT) != 0) {
		w->u += changes;
	}
	return RP_OK;
}

/* ROLLBACK, keeping the error that caused it. */
static void rollback(rp__store_db *db)
{
	rp_status err = db->err;
	int failed = db->failed, transient = db->transient, lost = db->conn_lost;
	char msg[sizeof(db->msg)];

	memcpy(msg, db->msg, sizeof(msg));
	(void)db->be->exec(db, "ROLLBACK");
	db->err = err;
	db->failed = failed;
	db->transient = transient;
	db->conn_lost = lost;
	memcpy(db->msg, msg, sizeof(msg));
}

static void log_db_failure(const rp__store_db *db, const char *what, size_t n, rp_status st)
{
	char esc[200];

	rp_log(RP_LOG_WARN, "store", "%s (%zu operation%s) failed: %s: %s", what, n,
	       n == 1 ? "" : "s", rp_status_str(st),
	       rp_log_escape(esc, sizeof(esc), (const uint8_t *)db->msg, strlen(db->msg)));
}

/* ------------------------------------------------------------------------
 * The storage thread
 * ------------------------------------------------------------------------ */

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000u),
			      .tv_nsec = (long)(ms % 1000u) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static void op_reset(rp__store_op *op)
{
	rp__res_free(op->rows);
	op->rows = NULL;
	op->nomem = 0;
	op->db_error = 0;
	op->again = 0;
	op->st = RP_OK;
	memcpy(op->work, op->state, op->state_size);
}

static void fail_all(rp__store_op **ops, size_t n, rp_status st)
{
	for (size_t i = 0; i < n; i++) {
		ops[i]->st = st;
		ops[i]->db_error = 1;
		rp__res_free(ops[i]->rows);
		ops[i]->rows = NULL;
	}
}

/*
 * Runs ops[0] and the operations right after it with the same bulk insert
 * as one back-end call (order kept: an operation queued after them still
 * runs after them). Returns how many it ran; each op->st is the call's
 * status. Which operation a failure belongs to is not known here: the
 * batch is split and each runs alone.
 */
static size_t run_bulk(rp_store *st, rp__store_op **ops, size_t n)
{
	rp__store_db *db = st->db;
	const rp__store_bulk *b = ops[0]->bulk;
	size_t k = 0;
	rp_status s;

	while (k < n && ops[k]->bulk == b) {
		op_reset(ops[k]);
		st->spans[k].v = ops[k]->args;
		st->spans[k].rows = ops[k]->nargs / b->ncols;
		k++;
	}
	/* The whole transaction: the back end may commit with it. */
	s = db->be->bulk(db, b, st->spans, k, k == n);
	if (s != RP_OK && !db->failed) {
		/* Rows may have been written: the transaction must not commit. */
		db->failed = 1;
		db->err = s;
	}
	for (size_t i = 0; i < k; i++) {
		ops[i]->st = s;
	}
	return k;
}

/* One transaction over ops[0 .. n). Returns TXN_OK, _TRANSIENT, _HARD or _FATAL. */
static int transaction(rp_store *st, rp__store_op **ops, size_t n)
{
	rp__store_db *db = st->db;
	size_t k;

	rp__store_db_clear(db);
	if (db->be->begin_txn(db) != RP_OK) {
		fail_all(ops, n, db->err);
		return db->transient ? TXN_TRANSIENT : TXN_FATAL;
	}
	for (size_t i = 0; i < n; i += k) {
		rp__store_op *op = ops[i];

		if (op->bulk != NULL) {
			k = run_bulk(st, &ops[i], n - i);
		} else {
			k = 1;
			op_reset(op);
			op->st = op->run(db, op);
			if (op->st == RP_OK && op->nomem) {
				op->st = RP_E_NOMEM;
			}
		}
		if (db->failed && db->commit_unknown) {
			/* bulk() sent COMMIT: whether it took effect is unknown. */
			fail_all(ops, n, RP_E_IO);
			return TXN_FATAL;
		}
		if (db->failed) {
			rollback(db);
			if (db->transient) {
				fail_all(ops, n, db->err);
				return TXN_TRANSIENT;
			}
			for (size_t j = i; j < i + k; j++) {
				ops[j]->db_error = 1;
				if (ops[j]->st == RP_OK) {
					ops[j]->st = db->err != RP_OK ? db->err : RP_E_INTERNAL;
				}
				rp__res_free(ops[j]->rows);
				ops[j]->rows = NULL;
			}
			return TXN_HARD;
		}
	}
	if (!db->committed && db->be->exec(db, "COMMIT") != RP_OK) {
		if (db->conn_lost) {
			/* COMMIT was sent: whether it took effect is unknown. */
			fail_all(ops, n, RP_E_IO);
			return TXN_FATAL;
		}
		rollback(db);
		fail_all(ops, n, db->err);
		return db->transient ? TXN_TRANSIENT : TXN_HARD;
	}
	return TXN_OK;
}

/*
 * Runs ops[0 .. n) in one transaction, retrying transient failures with
 * back-off. Returns TXN_OK (committed, after() called), TXN_SPLIT (n > 1
 * and an operation failed: run them alone), or TXN_FATAL (each op->st set).
 */
static int attempt(rp_store *st, rp__store_op **ops, size_t n)
{
	rp__store_db *db = st->db;
	unsigned tries = 0, delay = st->opt.retry_ms;

	for (;;) {
		int r = transaction(st, ops, n);

		if (r == TXN_OK) {
			pthread_mutex_lock(&st->mu);
			st->stats.commits++;
			if (n > 1) {
				st->stats.batches++;
			}
			if (n > st->stats.max_batch) {
				st->stats.max_batch = n;
			}
			pthread_mutex_unlock(&st->mu);
			for (size_t i = 0; i < n; i++) {
				if (ops[i]->st != RP_OK) {
					continue; /* a soft failure: nothing of it was kept */
				}
				memcpy(ops[i]->state, ops[i]->work, ops[i]->state_size);
				if (ops[i]->after != NULL) {
					ops[i]->after(ops[i]);
				}
			}
			return TXN_OK;
		}
		if (r == TXN_TRANSIENT && tries < st->opt.retries) {
			tries++;
			pthread_mutex_lock(&st->mu);
			st->stats.retries++;
			pthread_mutex_unlock(&st->mu);
			rp_log(RP_LOG_DEBUG, "store", "transient failure (%s), retry %u in %u ms",
			       rp_status_str(db->err), tries, delay);
			sleep_ms(delay);
			delay = delay * 2u > RP_LIMIT_STORE_RETRY_MAX_MS
					? RP_LIMIT_STORE_RETRY_MAX_MS
					: delay * 2u;
			if (db->conn_lost && db->be->reconnect(db) == RP_OK) {
				pthread_mutex_lock(&st->mu);
				st->stats.reconnects++;
				pthread_mutex_unlock(&st->mu);
				rp_log(RP_LOG_INFO, "store", "reconnected to the database");
			}
			continue;
		}
		if (r == TXN_HARD && n > 1) {
			return TXN_SPLIT;
		}
		if (n == 1) {
			log_db_failure(db, ops[0]->name, 1, ops[0]->st);
		} else {
			log_db_failure(db, "batch", n, ops[0]->st);
		}
		return TXN_FATAL;
	}
}

/*
 * Writes the outputs, frees op, then calls done (a synchronous caller may
 * return, and check memory, as soon as done has run).
 */
static void complete(rp__store_op *op)
{
	const rp__store_state *s = op->state;
	rp_store_done_fn done = op->done;
	void *ctx = op->ctx;
	rp_status st = op->st;

	if (op->st == RP_OK) {
		if (op->out != NULL) {
			*op->out = op->rows;
			op->rows = NULL;
		}
		if (op->out_n != NULL) {
			*op->out_n = rp__res_count(op->out != NULL ? *op->out : op->rows);
		}
	} else {
		if (op->out != NULL) {
			*op->out = NULL;
		}
		if (op->out_n != NULL) {
			*op->out_n = 0;
		}
	}
	rp__res_free(op->rows);
	op->rows = NULL;
	if (op->out_i != NULL) {
		*op->out_i = s->i;
	}
	if (op->out_u != NULL) {
		*op->out_u = s->u;
	}
	rp_free_secret(NULL, op);
	done(ctx, st);
}

/*
 * After a batch: queues again the operations with more to do, and
 * completes the others. Counters move before the callbacks run, so that
 * whoever a callback wakes sees them up to date.
 */
static void finish(rp_store *st, rp__store_op **ops, size_t n)
{
	rp__store_op *again = NULL, *last = NULL;
	size_t completed = 0, bytes = 0;
	uint64_t failed = 0;

	pthread_mutex_lock(&st->mu);
	for (size_t i = 0; i < n; i++) {
		rp__store_op *op = ops[i];

		if (op->again && op->st == RP_OK) {
			if (!st->stopping) {
				op->next = NULL;
				if (last != NULL) {
					last->next = op;
				} else {
					again = op;
				}
				last = op;
				st->queued++;
				ops[i] = NULL;
				continue;
			}
			op->st = RP_E_CLOSED;
		}
		completed++;
		bytes += op->size;
		failed += op->db_error != 0;
	}
	if (again != NULL) {
		if (st->tail != NULL) {
			st->tail->next = again;
		} else {
			st->head = again;
		}
		st->tail = last;
	}
	st->stats.completed += completed;
	st->stats.failed += failed;
	st->stats.pending -= completed;
	st->stats.pending_bytes -= bytes;
	if (completed > 0) {
		pthread_cond_broadcast(&st->room);
	}
	pthread_mutex_unlock(&st->mu);
	for (size_t i = 0; i < n; i++) {
		if (ops[i] != NULL) {
			complete(ops[i]);
		}
	}
}

static void process(rp_store *st, rp__store_op **ops, size_t n)
{
	if (attempt(st, ops, n) == TXN_SPLIT) {
		pthread_mutex_lock(&st->mu);
		st->stats.splits++;
		pthread_mutex_unlock(&st->mu);
		rp_log(RP_LOG_DEBUG, "store", "batch of %zu failed; running its operations alone",
		       n);
		for (size_t i = 0; i < n; i++) {
			(void)attempt(st, &ops[i], 1);
		}
	}
	finish(st, ops, n);
}

/* Called with mu held: waits up to batch_wait_ms for a full batch. */
static void linger(rp_store *st)
{
	struct timespec dl;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_nsec += (long)st->opt.batch_wait_ms * 1000000L;
	while (dl.tv_nsec >= 1000000000L) {
		dl.tv_nsec -= 1000000000L;
		dl.tv_sec++;
	}
	while (!st->stopping && st->queued < st->opt.batch_ops) {
		if (pthread_cond_timedwait(&st->work, &st->mu, &dl) == ETIMEDOUT) {
			break;
		}
	}
}

static void *storage_main(void *arg)
{
	rp_store *st = arg;

	pthread_mutex_lock(&st->mu);
	for (;;) {
		size_t n = 0;

		while (!st->stopping && (st->head == NULL || st->hold)) {
			pthread_cond_wait(&st->work, &st->mu);
		}
		if (st->head == NULL) {
			break; /* stopping, and nothing left */
		}
		if (st->linger && st->opt.batch_wait_ms > 0) {
			linger(st);
		}
		while (st->head != NULL && n < st->opt.batch_ops) {
			st->batch[n++] = st->head;
			st->head = st->head->next;
		}
		if (st->head == NULL) {
			st->tail = NULL;
		}
		st->queued -= n;
		pthread_mutex_unlock(&st->mu);
		process(st, st->batch, n);
		pthread_mutex_lock(&st->mu);
		st->linger = n > 1;
	}
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

/* ------------------------------------------------------------------------
 * Submission
 * ------------------------------------------------------------------------ */

typedef struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fin;
	rp_status st;
} waiter;

static void sync_done(void *ctx, rp_status st)
{
	waiter *w = ctx;

	pthread_mutex_lock(&w->mu);
	w->st = st;
	w->fin = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static rp_status enqueue(rp_store *st, rp__store_op *op, int wait)
{
	rp_status s;

	pthread_mutex_lock(&st->mu);
	for (;;) {
		if (st->stopping) {
			s = RP_E_STATE;
			break;
		}
		if (op->size > st->opt.queue_bytes) {
			s = RP_E_LIMIT;
			break;
		}
		if (st->stats.pending < st->opt.queue_ops &&
		    st->stats.pending_bytes <= st->opt.queue_bytes - op->size) {
			s = RP_OK;
			break;
		}
		if (!wait) {
			st->stats.rejected++;
			s = RP_E_BUSY;
			break;
		}
		pthread_cond_wait(&st->room, &st->mu);
	}
	if (s == RP_OK) {
		op->next = NULL;
		if (st->tail != NULL) {
			st->tail->next = op;
		} else {
			st->head = op;
		}
		st->tail = op;
		st->queued++;
		st->stats.submitted++;
		st->stats.pending++;
		st->stats.pending_bytes += op->size;
		pthread_cond_signal(&st->work);
	}
	pthread_mutex_unlock(&st->mu);
	return s;
}

rp__store_op *rp__store_op_new(const rp__store_req *r, size_t nargs, size_t bytes, char **data)
{
	size_t ssz, size;
	rp__store_op *op;
	char *p;

	ssz = ALIGN_UP(r->state_size != 0 ? r->state_size : sizeof(rp__store_state));
	if (nargs > SIZE_MAX / 2u / sizeof(rp__store_val) || bytes > SIZE_MAX / 4u) {
		return NULL;
	}
	size = ALIGN_UP(sizeof(*op)) + ALIGN_UP(nargs * sizeof(rp__store_val)) + 2u * ssz + bytes;
	op = rp_calloc(NULL, 1, size);
	if (op == NULL) {
		return NULL;
	}
	p = (char *)op + ALIGN_UP(sizeof(*op));
	op->args = (rp__store_val *)(void *)p;
	op->nargs = nargs;
	p += ALIGN_UP(nargs * sizeof(rp__store_val));
	op->work = p;
	op->state = p + ssz;
	op->state_size = ssz;
	*data = p + 2u * ssz;
	op->name = r->name;
	op->run = r->run != NULL ? r->run : run_generic;
	op->bulk = r->bulk;
	op->sql = r->sql;
	op->decode = r->decode;
	op->flags = r->flags;
	op->after = r->after;
	op->size = size;
	op->out = r->out;
	op->out_n = r->out_n;
	op->out_i = r->out_i;
	op->out_u = r->out_u;
	op->retained_fn = r->retained_fn;
	op->session_fn = r->session_fn;
	op->fn_ctx = r->fn_ctx;
	return op;
}

size_t rp__store_val_bytes(const rp__store_val *v)
{
	return v->t == RP__V_TEXT || v->t == RP__V_BLOB ? v->len + 1u : 0;
}

void rp__store_val_copy(rp__store_val *dst, const rp__store_val *src, char **data)
{
	*dst = *src;
	if (src->t == RP__V_TEXT || src->t == RP__V_BLOB) {
		if (src->len > 0) {
			memcpy(*data, src->p, src->len);
		}
		(*data)[src->len] = '\0';
		dst->p = *data;
		*data += src->len + 1u;
	}
}

rp_status rp__store_op_queue(rp_store *st, rp__store_op *op, rp_store_done_fn done, void *ctx)
{
	waiter w;
	rp_status s;

	if (st == NULL) {
		rp_free_secret(NULL, op);
		return RP_E_INVALID_ARG;
	}
	if (done != NULL) {
		op->done = done;
		op->ctx = ctx;
		s = enqueue(st, op, 0);
		if (s != RP_OK) {
			rp_free_secret(NULL, op);
		}
		return s;
	}
	if (pthread_equal(pthread_self(), st->thread)) {
		rp_free_secret(NULL, op);
		return RP_E_STATE; /* it would wait for itself */
	}
	memset(&w, 0, sizeof(w));
	if (pthread_mutex_init(&w.mu, NULL) != 0) {
		rp_free_secret(NULL, op);
		return RP_E_NOMEM;
	}
	if (pthread_cond_init(&w.cv, NULL) != 0) {
		pthread_mutex_destroy(&w.mu);
		rp_free_secret(NULL, op);
		return RP_E_NOMEM;
	}
	op->done = sync_done;
	op->ctx = &w;
	s = enqueue(st, op, 1);
	if (s != RP_OK) {
		rp_free_secret(NULL, op);
	} else {
		pthread_mutex_lock(&w.mu);
		while (!w.fin) {
			pthread_cond_wait(&w.cv, &w.mu);
		}
		pthread_mutex_unlock(&w.mu);
		s = w.st;
	}
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	return s;
}

rp_status rp__store_submit(rp_store *st, const rp__store_req *r, rp_store_done_fn done, void *ctx)
{
	size_t bytes = 0;
	rp__store_op *op;
	char *data;

	if (st == NULL) {
		return RP_E_INVALID_ARG;
	}
	for (size_t i = 0; i < r->nargs; i++) {
		bytes += rp__store_val_bytes(&r->args[i]);
	}
	op = rp__store_op_new(r, r->nargs, bytes, &data);
	if (op == NULL) {
		return RP_E_NOMEM;
	}
	for (size_t i = 0; i < r->nargs; i++) {
		rp__store_val_copy(&op->args[i], &r->args[i], &data);
	}
	return rp__store_op_queue(st, op, done, ctx);
}

/* ------------------------------------------------------------------------
 * Lifecycle
 * ------------------------------------------------------------------------ */

static rp_status option(size_t *v, size_t def, size_t cap, const char *name)
{
	if (*v == 0) {
		*v = def;
	} else if (*v > cap) {
		rp_log(RP_LOG_ERROR, "store", "option %s = %zu is above its cap %zu", name, *v,
		       cap);
		return RP_E_CONFIG;
	}
	return RP_OK;
}

static rp_status option_u(unsigned *v, unsigned def, unsigned cap, const char *name)
{
	size_t x = *v;
	rp_status st = option(&x, def, cap, name);

	*v = (unsigned)x;
	return st;
}

static rp_status resolve_options(const rp_store_options *in, rp_store_options *o)
{
	rp_status st;

	memset(o, 0, sizeof(*o));
	if (in != NULL) {
		*o = *in;
	}
	if ((st = option(&o->queue_ops, RP_DEFAULT_STORE_QUEUE_OPS, RP_LIMIT_STORE_QUEUE_OPS,
			 "queue_ops")) != RP_OK ||
	    (st = option(&o->queue_bytes, RP_DEFAULT_STORE_QUEUE_BYTES, RP_LIMIT_STORE_QUEUE_BYTES,
			 "queue_bytes")) != RP_OK ||
	    (st = option(&o->batch_ops, RP_DEFAULT_STORE_BATCH_OPS, RP_LIMIT_STORE_BATCH_OPS,
			 "batch_ops")) != RP_OK ||
	    (st = option_u(&o->batch_wait_ms, RP_DEFAULT_STORE_BATCH_WAIT_MS,
			   RP_LIMIT_STORE_BATCH_WAIT_MS, "batch_wait_ms")) != RP_OK ||
	    (st = option_u(&o->retries, RP_DEFAULT_STORE_RETRIES, RP_LIMIT_STORE_RETRIES,
			   "retries")) != RP_OK ||
	    (st = option_u(&o->retry_ms, RP_DEFAULT_STORE_RETRY_MS, RP_LIMIT_STORE_RETRY_MAX_MS,
			   "retry_ms")) != RP_OK ||
	    (st = option_u(&o->busy_timeout_ms, RP_DEFAULT_STORE_BUSY_TIMEOUT_MS,
			   RP_LIMIT_STORE_BUSY_TIMEOUT_MS, "busy_timeout_ms")) != RP_OK ||
	    (st = option_u(&o->statement_ms, RP_DEFAULT_STORE_STATEMENT_MS,
			   RP_LIMIT_STORE_STATEMENT_MS, "statement_ms")) != RP_OK ||
	    (st = option(&o->retention_chunk, RP_DEFAULT_STORE_RETENTION_CHUNK,
			 RP_LIMIT_STORE_RETENTION_CHUNK, "retention_chunk")) != RP_OK) {
		return st;
	}
	return RP_OK;
}

static rp_status init_sync(rp_store *st)
{
	pthread_condattr_t ca;
	int ok;

	if (pthread_mutex_init(&st->mu, NULL) != 0) {
		return RP_E_NOMEM;
	}
	if (pthread_condattr_init(&ca) != 0) {
		pthread_mutex_destroy(&st->mu);
		return RP_E_NOMEM;
	}
	ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
	     pthread_cond_init(&st->work, &ca) == 0;
	pthread_condattr_destroy(&ca);
	if (!ok) {
		pthread_mutex_destroy(&st->mu);
		return RP_E_NOMEM;
	}
	if (pthread_cond_init(&st->room, NULL) != 0) {
		pthread_cond_destroy(&st->work);
		pthread_mutex_destroy(&st->mu);
		return RP_E_NOMEM;
	}
	return RP_OK;
}

static void fini_sync(rp_store *st)
{
	pthread_cond_destroy(&st->room);
	pthread_cond_destroy(&st->work);
	pthread_mutex_destroy(&st->mu);
}

rp_status rp_store_open(const char *url, const rp_store_options *opt, rp_store **out)
{
	rp_store *st = NULL;
	int synced = 0;
	rp_status s;

	if (url == NULL || out == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	st = rp_calloc(NULL, 1, sizeof(*st));
	if (st == NULL) {
		return RP_E_NOMEM;
	}
	s = resolve_options(opt, &st->opt);
	if (s != RP_OK) {
		goto out;
	}
	st->batch = rp_calloc(NULL, st->opt.batch_ops, sizeof(*st->batch));
	st->spans = rp_calloc(NULL, st->opt.batch_ops, sizeof(*st->spans));
	if (st->batch == NULL || st->spans == NULL) {
		s = RP_E_NOMEM;
		goto out;
	}
	if (strncmp(url, "sqlite:", 7) == 0) {
		if (url[7] == '\0') {
			rp_log(RP_LOG_ERROR, "store", "sqlite: URL without a path");
			s = RP_E_INVALID_ARG;
			goto out;
		}
		s = rp__store_sqlite_open(url + 7, &st->opt, &st->db);
	} else if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0) {
		s = rp__store_pg_open(url, &st->opt, &st->db);
	} else {
		/* Not logged: it might be a mistyped PostgreSQL URL with a password. */
		rp_log(RP_LOG_ERROR, "store",
		       "unknown store URL scheme (want sqlite:PATH or postgresql://...)");
		s = RP_E_INVALID_ARG;
	}
	if (s != RP_OK) {
		goto out;
	}
	s = rp__store_migrate(st->db, &st->version);
	if (s != RP_OK) {
		goto out;
	}
	s = init_sync(st);
	if (s != RP_OK) {
		goto out;
	}
	synced = 1;
	if (pthread_create(&st->thread, NULL, storage_main, st) != 0) {
		rp_log(RP_LOG_ERROR, "store", "cannot start the storage thread");
		s = RP_E_NOMEM;
		goto out;
	}
	rp_log(RP_LOG_INFO, "store", "%s store open, schema version %lld", st->db->be->name,
	       (long long)st->version);
	*out = st;
	st = NULL;
out:
	if (st != NULL) {
		if (synced) {
			fini_sync(st);
		}
		if (st->db != NULL) {
			st->db->be->close(st->db);
		}
		rp_free(NULL, st->batch);
		rp_free(NULL, st->spans);
		rp_free(NULL, st);
	}
	return s;
}

void rp_store_close(rp_store *st)
{
	if (st == NULL) {
		return;
	}
	pthread_mutex_lock(&st->mu);
	st->stopping = 1;
	st->hold = 0;
	pthread_cond_broadcast(&st->work);
	pthread_cond_broadcast(&st->room);
	pthread_mutex_unlock(&st->mu);
	pthread_join(st->thread, NULL);
	st->db->be->close(st->db);
	fini_sync(st);
	rp_free(NULL, st->batch);
	rp_free(NULL, st->spans);
	rp_free(NULL, st);
}

const char *rp_store_backend(const rp_store *st)
{
	return st->db->be->name;
}

int64_t rp_store_schema_version(const rp_store *st)
{
	return st->version;
}

void rp_store_stats_get(rp_store *st, rp_store_stats *out)
{
	pthread_mutex_lock(&st->mu);
	*out = st->stats;
	pthread_mutex_unlock(&st->mu);
}

size_t rp__store_retention_chunk(const rp_store *st)
{
	return st->opt.retention_chunk;
}

/* ------------------------------------------------------------------------
 * Test hooks
 * ------------------------------------------------------------------------ */

static rp_status run_raw(rp__store_db *db, rp__store_op *op)
{
	return db->be->exec(db, op->args[0].p);
}

rp_status rp__store_raw_sql(rp_store *st, const char *sql)
{
	rp__store_val a[1];
	rp_status s = rp__store_text(&a[0], sql, RP_LIMIT_STORE_JSON_LEN, 0);

	if (s != RP_OK) {
		return s;
	}
	return rp__store_submit(
		st, &(rp__store_req){.name = "raw_sql", .run = run_raw, .args = a, .nargs = 1},
		NULL, NULL);
}

void rp__store_hold(rp_store *st, int hold)
{
	pthread_mutex_lock(&st->mu);
	st->hold = hold;
	pthread_cond_broadcast(&st->work);
	pthread_mutex_unlock(&st->mu);
}
