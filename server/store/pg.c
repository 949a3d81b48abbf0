/*
 * pg.c - the PostgreSQL back end (libpq).
 *
 * One connection, used by one thread at a time (the opener for the
 * migrations, then the storage thread). Statements are prepared on first
 * use per connection (names "rp<slot>") and forgotten on reconnect.
 * Parameters go as text, except blobs (binary); results come back binary
 * (integers and doubles in network order, text and bytea as raw bytes),
 * so nothing is parsed from text and bytea needs no unescaping.
 *
 * Errors are classified by SQLSTATE: a lost connection (class 08, 57P01..3,
 * or CONNECTION_BAD) and serialisation failures, deadlocks and lock
 * timeouts are transient; the storage thread reconnects (PQreset) and
 * retries. Only the primary message is kept for logs: DETAIL lines carry
 * row values.
 *
 * Bulk inserts (telemetry) go as one INSERT ... SELECT FROM unnest($1, ...)
 * with one binary array per column: one round trip, one statement and one
 * executor start for the whole group commit, where a prepared INSERT per
 * row costs a round trip each (8,000 rows/s; docs/performance.md). The
 * arrays are built in a buffer the connection keeps (no allocation per
 * batch once it has grown); one statement takes at most BULK_ROWS rows and
 * about BULK_BYTES of arrays, so the buffer stays small whatever the batch.
 * The statement is atomic, and it runs inside the batch's transaction, so
 * failures are classified and retried exactly as a single row's. The
 * statement fails with 23503 if a row names a device that does not exist
 * (schema version 4 has no foreign key on telemetry; telemetry.c), a hard
 * failure: the storage thread splits the batch.
 *
 * The storage thread's BEGIN is not sent on its own: begin_txn() marks it
 * pending, and the transaction's first statement carries it, both in one
 * round trip (pipeline mode: BEGIN, the statement, a sync). Under load a
 * round trip costs about a tenth of a telemetry batch (docs/store.md).
 * A bulk insert that is the whole transaction (a batch of telemetry only)
 * carries the COMMIT as well: BEGIN, INSERT, COMMIT, sync, one round trip
 * per batch. Whether a batch may be retried then depends on what the
 * server said before the connection broke (pg_pipeline()): an error for
 * BEGIN or the INSERT (a FATAL one included) means the COMMIT never ran,
 * and the batch is retried as before; no answer, or the connection
 * breaking during the COMMIT, leaves the outcome unknown, which the
 * storage thread reports as for a COMMIT sent alone (RP_E_IO, no retry).
 * Any other transaction sends its COMMIT alone, after its statements.
 *
 * Session settings, after every (re)connect: statement_timeout and
 * lock_timeout from the options, client_min_messages=warning (no NOTICE
 * chatter from IF NOT EXISTS), client_encoding UTF8 (forced in the
 * connection parameters, after the URL, so a URL cannot change it).
 */
#include "store/internal.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/log.h"

/* Type OIDs of the binary results we read (pg_type.dat). */
#define OID_BOOL   16
#define OID_BYTEA  17
#define OID_INT8   20
#define OID_INT2   21
#define OID_INT4   23
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_TEXT   25

/* One bulk statement: at most this many rows, and about this many bytes of
 * arrays (more only for a single row larger than that). */
#define BULK_ROWS  4096u
#define BULK_BYTES (1024u * 1024u)
/* A binary array's header: ndim, flags, element type, size, lower bound. */
#define ARRAY_HDR 20u

typedef struct pg_db {
	rp__store_db base;
	PGconn *conn;
	unsigned statement_ms;
	unsigned lock_ms;
	unsigned char prepared[RP__SQL_COUNT];
	PGresult *res;
	int row, nrows;
	uint64_t changes;
	char num[RP__STORE_MAX_PARAMS][32];
	uint8_t *buf; /* bulk arrays, cap bytes */
	size_t cap;
	int begin_pending; /* BEGIN goes with the next statement */
	int broken;        /* a pipelined exchange went off track: reconnect */
} pg_db;

static int is_state(const char *s, const char *want)
{
	return s != NULL && strcmp(s, want) == 0;
}

/* A SQLSTATE that says the session is gone (class 08, or the server
 * shutting it down or terminating it). */
static int state_lost(const char *state)
{
	return state != NULL && (strncmp(state, "08", 2) == 0 || is_state(state, "57P01") ||
				 is_state(state, "57P02") || is_state(state, "57P03"));
}

/* Classifies the failure in r (may be NULL: no result at all). */
static rp_status pg_fail(pg_db *d, const PGresult *r)
{
	rp__store_db *db = &d->base;
	const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = r != NULL ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	db->failed = 1;
	if (d->broken || PQstatus(d->conn) == CONNECTION_BAD || state_lost(state)) {
		db->conn_lost = 1;
		db->transient = 1;
		db->err = RP_E_IO;
	} else if (is_state(state, "40001") || is_state(state, "40P01")) {
		db->transient = 1;
		db->err = RP_E_BUSY;
	} else if (is_state(state, "55P03")) {
		db->transient = 1;
		db->err = RP_E_TIMEOUT;
	} else if (is_state(state, "57014")) {
		db->err = RP_E_TIMEOUT; /* statement_timeout: the same statement would time out
					   again */
	} else if (is_state(state, "23505")) {
		db->err = RP_E_EXISTS;
	} else if (is_state(state, "23503")) {
		db->err = RP_E_NOT_FOUND;
	} else if (is_state(state, "23514") || is_state(state, "23502")) {
		db->err = RP_E_INVALID_ARG;
	} else if (is_state(state, "42501")) {
		db->err = RP_E_DENIED;
	} else if (r == NULL) {
		db->err = RP_E_NOMEM;
	} else {
		db->err = RP_E_IO;
	}
	if (msg == NULL) {
		msg = PQerrorMessage(d->conn);
	}
	snprintf(db->msg, sizeof(db->msg), "%s%s%s", state != NULL ? state : "",
		 state != NULL ? " " : "", msg != NULL ? msg : "");
	/* libpq's own messages end with a newline. */
	db->msg[strcspn(db->msg, "\n")] = '\0';
	return db->err;
}

static rp_status pg_exec(rp__store_db *db, const char *sql)
{
	pg_db *d = (pg_db *)db;
	PGresult *r;
	ExecStatusType s;
	rp_status st = RP_OK;

	if (d->begin_pending) {
		d->begin_pending = 0;
		if (strcmp(sql, "COMMIT") == 0 || strcmp(sql, "ROLLBACK") == 0) {
			return RP_OK; /* nothing was sent: an empty transaction */
		}
		st = pg_exec(db, "BEGIN");
		if (st != RP_OK) {
			return st;
		}
	}
	r = PQexec(d->conn, sql);
	s = PQresultStatus(r);
	if (r == NULL || (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)) {
		st = pg_fail(d, r);
	} else if (strcmp(sql, "COMMIT") == 0 && strcmp(PQcmdStatus(r), "COMMIT") != 0) {
		/* COMMIT of a failed transaction answers ROLLBACK. */
		db->failed = 1;
		db->err = st = RP_E_IO;
		snprintf(db->msg, sizeof(db->msg), "COMMIT answered %s", PQcmdStatus(r));
	}
	PQclear(r);
	return st;
}

static rp_status pg_internal(pg_db *d, rp_status st, const char *what)
{
	d->base.failed = 1;
	d->base.err = st;
	snprintf(d->base.msg, sizeof(d->base.msg), "%s", what);
	return st;
}

static rp_status pg_begin_txn(rp__store_db *db)
{
	((pg_db *)db)->begin_pending = 1;
	return RP_OK;
}

/* What became of a COMMIT sent in a pipeline. */
enum { COMMIT_NONE, COMMIT_DONE, COMMIT_UNKNOWN };

static int res_ok(const PGresult *r)
{
	return r != NULL &&
	       (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
}

/* r is no answer from the server, or its answer that the session is going
 * away: whether a COMMIT being run took effect is unknown. */
static int res_lost(const PGresult *r)
{
	const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	return state == NULL || state_lost(state);
}

/*
 * In one round trip (pipeline mode): BEGIN if begin, the prepared statement
 * `name`, COMMIT if commit, a sync. Returns the first failure's result
 * (BEGIN's, the statement's or COMMIT's; those after a failure are
 * skipped), else the statement's; or NULL with d->broken set when the
 * statement got no answer (a lost connection, mostly; pg_fail() classifies
 * it, and the reconnect, PQreset(), leaves pipeline mode). d->broken is
 * also set when the exchange did not end with the sync.
 *
 * *outcome says what became of the COMMIT. COMMIT_NONE: not sent, or
 * certainly not taken: the server answered a failure of an earlier
 * statement (the transaction is aborted: the COMMIT was skipped) or of the
 * COMMIT itself (a deferred check: rolled back). COMMIT_DONE: committed.
 * COMMIT_UNKNOWN: the connection broke with the COMMIT sent, without the
 * server saying that something before it failed (a FATAL answer to the
 * statement, say from pg_terminate_backend(), is such a saying: the backend
 * ended there, before the COMMIT).
 */
static PGresult *pg_pipeline(pg_db *d, int begin, const char *name, int n,
			     const char *const *values, const int *lengths, const int *formats,
			     int commit, int *outcome)
{
	PGconn *c = d->conn;
	PGresult *res[3] = {NULL, NULL, NULL}; /* BEGIN, the statement, COMMIT */
	PGresult *r, *out = NULL;
	int last = commit ? 2 : 1, failed = -1, answered = -1, synced = 0, queued = 0;

	*outcome = COMMIT_NONE;
	if (PQstatus(c) != CONNECTION_OK || PQenterPipelineMode(c) != 1) {
		d->broken = 1;
		return NULL;
	}
	if ((!begin || PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) == 1) &&
	    PQsendQueryPrepared(c, name, n, values, lengths, formats, 1) == 1 &&
	    (!commit ||
	     (queued = PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0)) == 1) &&
	    PQpipelineSync(c) == 1) {
		/* Each query: its result, then NULL; then the sync. A bound on
		 * the calls: libpq may not be where we think. */
		for (int q = begin ? 0 : 1; q <= last; q++) {
			for (int i = 0; i < 4 && (r = PQgetResult(c)) != NULL; i++) {
				if (res[q] == NULL) {
					res[q] = r;
				} else {
					PQclear(r);
				}
			}
			if (res[q] == NULL) {
				break; /* no answer: the connection is gone */
			}
			answered = q;
			if (failed < 0 && !res_ok(res[q])) {
				failed = q;
			}
		}
		if (answered == last) {
			r = PQgetResult(c);
			synced = r != NULL && PQresultStatus(r) == PGRES_PIPELINE_SYNC;
			PQclear(r);
		}
	}
	if (!synced || PQexitPipelineMode(c) != 1) {
		d->broken = 1;
	}
	if (queued) { /* the COMMIT may have reached the server */
		if (failed < 0 && answered == 2) {
			*outcome = strcmp(PQcmdStatus(res[2]), "COMMIT") == 0 ? COMMIT_DONE
									      : COMMIT_NONE;
		} else if (failed < 0 || (failed == 2 && res_lost(res[2])) ||
			   PQresultErrorField(res[failed], PG_DIAG_SQLSTATE) == NULL) {
			*outcome = COMMIT_UNKNOWN;
		}
	}
	if (failed >= 0) {
		out = res[failed];
		res[failed] = NULL;
	} else if (answered >= 1) {
		out = res[1];
		res[1] = NULL;
	} else {
		d->broken = 1;
	}
	for (int q = 0; q < 3; q++) {
		PQclear(res[q]);
	}
	return out;
}

/* A prepared statement, with the pending BEGIN in front if there is one,
 * and the COMMIT behind it if commit (*outcome: its fate, pg_pipeline()). */
static PGresult *pg_exec_prepared(pg_db *d, const char *name, int n, const char *const *values,
				  const int *lengths, const int *formats, int commit, int *outcome)
{
	int begin = d->begin_pending;

	*outcome = COMMIT_NONE;
	if (begin || commit) {
		d->begin_pending = 0;
		return pg_pipeline(d, begin, name, n, values, lengths, formats, commit, outcome);
	}
	return PQexecPrepared(d->conn, name, n, values, lengths, formats, 1);
}

/* Prepares q on this connection unless it is already; name: its name. */
static rp_status pg_prepare(pg_db *d, const rp__store_sql *q, char name[16])
{
	PGresult *r;

	if (q->id >= RP__SQL_COUNT) {
		return pg_internal(d, RP_E_INTERNAL, "statement slot out of range");
	}
	snprintf(name, 16, "rp%u", q->id);
	if (d->prepared[q->id]) {
		return RP_OK;
	}
	r = PQprepare(d->conn, name, q->pg != NULL ? q->pg : q->sql, 0, NULL);
	if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
		rp_status st = pg_fail(d, r);

		PQclear(r);
		return st;
	}
	PQclear(r);
	d->prepared[q->id] = 1;
	return RP_OK;
}

static rp_status pg_query(rp__store_db *db, const rp__store_sql *q, const rp__store_val *v,
			  size_t n)
{
	pg_db *d = (pg_db *)db;
	const char *values[RP__STORE_MAX_PARAMS];
	int lengths[RP__STORE_MAX_PARAMS], formats[RP__STORE_MAX_PARAMS];
	char name[16];
	int outcome;
	PGresult *r;
	ExecStatusType s;
	rp_status st;

	if (n > RP__STORE_MAX_PARAMS) {
		return pg_internal(d, RP_E_INTERNAL, "too many parameters");
	}
	st = pg_prepare(d, q, name);
	if (st != RP_OK) {
		return st;
	}
	for (size_t i = 0; i < n; i++) {
		lengths[i] = 0;
		formats[i] = 0;
		switch (v[i].t) {
		case RP__V_INT:
			snprintf(d->num[i], sizeof(d->num[i]), "%" PRId64, v[i].i);
			values[i] = d->num[i];
			break;
		case RP__V_REAL:
			snprintf(d->num[i], sizeof(d->num[i]), "%.17g", v[i].d);
			values[i] = d->num[i];
			break;
		case RP__V_TEXT:
			values[i] = v[i].p;
			break;
		case RP__V_BLOB:
			values[i] = v[i].p;
			lengths[i] = (int)v[i].len;
			formats[i] = 1;
			break;
		case RP__V_NULL:
		default:
			values[i] = NULL;
			break;
		}
	}
	r = pg_exec_prepared(d, name, (int)n, values, lengths, formats, 0, &outcome);
	s = PQresultStatus(r);
	if (r == NULL || (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)) {
		st = pg_fail(d, r);
		PQclear(r);
		return st;
	}
	d->res = r;
	d->row = -1;
	d->nrows = PQntuples(r);
	d->changes = strtoull(PQcmdTuples(r), NULL, 10);
	return RP_OK;
}

/* ------------------------------------------------------------------------
 * Bulk inserts: one binary array per column (array_recv's format)
 * ------------------------------------------------------------------------ */

static uint8_t *put_u32(uint8_t *p, uint32_t x)
{
	p[0] = (uint8_t)(x >> 24);
	p[1] = (uint8_t)(x >> 16);
	p[2] = (uint8_t)(x >> 8);
	p[3] = (uint8_t)x;
	return p + 4;
}

static uint8_t *put_u64(uint8_t *p, uint64_t x)
{
	p = put_u32(p, (uint32_t)(x >> 32));
	return put_u32(p, (uint32_t)x);
}

/* Bytes of v as an array element (length word included); 0: not of type t. */
static size_t elem_bytes(const rp__store_val *v, rp__store_vtype t)
{
	if (v->t == RP__V_NULL) {
		return 4u;
	}
	if (v->t != t) {
		return 0;
	}
	switch (t) {
	case RP__V_INT:
	case RP__V_REAL:
		return 4u + 8u;
	case RP__V_TEXT:
	case RP__V_BLOB:
		/* Values are bounded by limits.h far below this; checked anyway, as
		 * the length word is 32 bits. */
		return v->len <= (size_t)INT32_MAX / 2u ? 4u + v->len : 0;
	case RP__V_NULL:
	default:
		return 0;
	}
}

static uint8_t *put_elem(uint8_t *p, const rp__store_val *v)
{
	uint64_t bits;

	switch (v->t) {
	case RP__V_INT:
		p = put_u32(p, 8);
		return put_u64(p, (uint64_t)v->i);
	case RP__V_REAL:
		memcpy(&bits, &v->d, sizeof(bits));
		p = put_u32(p, 8);
		return put_u64(p, bits);
	case RP__V_TEXT:
	case RP__V_BLOB:
		p = put_u32(p, (uint32_t)v->len);
		if (v->len > 0) {
			memcpy(p, v->p, v->len);
		}
		return p + v->len;
	case RP__V_NULL:
	default:
		return put_u32(p, UINT32_MAX); /* -1: NULL */
	}
}

static uint32_t elem_oid(rp__store_vtype t)
{
	switch (t) {
	case RP__V_INT:
		return OID_INT8;
	case RP__V_REAL:
		return OID_FLOAT8;
	case RP__V_TEXT:
		return OID_TEXT;
	case RP__V_BLOB:
		return OID_BYTEA;
	case RP__V_NULL:
	default:
		return 0;
	}
}

/* A cursor over the rows of spans: span si, row ri. */
typedef struct bulk_pos {
	size_t si, ri;
} bulk_pos;

/* The next row at or after *p (advancing past empty spans); NULL at the end. */
static const rp__store_val *bulk_row(const rp__store_span *s, size_t n, size_t ncols, bulk_pos *p)
{
	while (p->si < n && p->ri >= s[p->si].rows) {
		p->si++;
		p->ri = 0;
	}
	return p->si < n ? &s[p->si].v[p->ri * ncols] : NULL;
}

/*
 * Sizes the statement that starts at from: *to is where it ends, *rows its
 * rows, col[c] the bytes of column c's array. RP_OK or RP_E_INTERNAL (a
 * value not of its column's type, or too large).
 */
static rp_status bulk_size(const rp__store_bulk *b, const rp__store_span *s, size_t n,
			   bulk_pos from, bulk_pos *to, size_t *rows, size_t col[])
{
	size_t total = b->ncols * ARRAY_HDR;
	const rp__store_val *v;

	*rows = 0;
	for (size_t c = 0; c < b->ncols; c++) {
		col[c] = ARRAY_HDR;
	}
	while (*rows < BULK_ROWS && (v = bulk_row(s, n, b->ncols, &from)) != NULL) {
		size_t row = 0, e[RP__STORE_MAX_PARAMS];

		for (size_t c = 0; c < b->ncols; c++) {
			e[c] = elem_bytes(&v[c], b->types[c]);
			if (e[c] == 0) {
				return RP_E_INTERNAL;
			}
			row += e[c];
		}
		if (*rows > 0 && total + row > BULK_BYTES) {
			break;
		}
		if (total + row > (size_t)INT32_MAX) {
			return RP_E_INTERNAL;
		}
		for (size_t c = 0; c < b->ncols; c++) {
			col[c] += e[c];
		}
		total += row;
		(*rows)++;
		from.ri++;
	}
	*to = from;
	return RP_OK;
}

/* Room for size bytes in d->buf. */
static rp_status bulk_reserve(pg_db *d, size_t size)
{
	uint8_t *p;

	if (size <= d->cap) {
		return RP_OK;
	}
	p = rp_realloc(NULL, d->buf, size);
	if (p == NULL) {
		return pg_internal(d, RP_E_NOMEM, "no memory for a bulk insert");
	}
	d->buf = p;
	d->cap = size;
	return RP_OK;
}

/* Writes column c of the rows rows from `from` on (bulk_size counted them) as
 * a binary array at p. */
static void bulk_column(const rp__store_bulk *b, size_t c, const rp__store_span *s, size_t n,
			bulk_pos from, size_t rows, uint8_t *p)
{
	uint8_t *flags;
	const rp__store_val *v;
	int nulls = 0;

	p = put_u32(p, 1); /* one dimension */
	flags = p;
	p += 4;
	p = put_u32(p, elem_oid(b->types[c]));
	p = put_u32(p, (uint32_t)rows);
	p = put_u32(p, 1); /* lower bound */
	for (size_t i = 0; i < rows && (v = bulk_row(s, n, b->ncols, &from)) != NULL; i++) {
		nulls |= v[c].t == RP__V_NULL;
		p = put_elem(p, &v[c]);
		from.ri++;
	}
	(void)put_u32(flags, (uint32_t)nulls);
}

/*
 * The answer r to one bulk statement of rows rows; final: it carried the
 * transaction's COMMIT, whose fate is outcome. The statement checks the
 * devices it names and fails (23503) if one is missing; fewer rows than
 * sent is still checked, in case a statement ever only skips them.
 */
static rp_status bulk_result(pg_db *d, PGresult *r, size_t rows, int final, int outcome)
{
	rp__store_db *db = &d->base;
	rp_status st;

	if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
		st = pg_fail(d, r);
		db->commit_unknown = final && outcome == COMMIT_UNKNOWN;
		return st;
	}
	if (strtoull(PQcmdTuples(r), NULL, 10) != rows) {
		if (final && outcome != COMMIT_NONE) {
			/* Kept, or maybe kept: the batch must not run again. */
			db->commit_unknown = 1;
			return pg_internal(d, RP_E_INTERNAL,
					   "bulk insert committed fewer rows than it was given");
		}
		return pg_internal(d, RP_E_NOT_FOUND,
				   "bulk insert: a row names a device that does not exist");
	}
	if (!final) {
		return RP_OK;
	}
	if (outcome == COMMIT_DONE) {
		db->committed = 1;
		return RP_OK;
	}
	if (outcome == COMMIT_UNKNOWN) {
		st = pg_fail(d, NULL); /* d->broken: the connection is gone */
		db->commit_unknown = 1;
		return st;
	}
	/* The statement went in and the COMMIT answered something else. */
	return pg_internal(d, RP_E_IO, "COMMIT did not commit");
}

static rp_status pg_bulk(rp__store_db *db, const rp__store_bulk *b, const rp__store_span *s,
			 size_t n, int commit)
{
	pg_db *d = (pg_db *)db;
	const char *values[RP__STORE_MAX_PARAMS];
	int lengths[RP__STORE_MAX_PARAMS], formats[RP__STORE_MAX_PARAMS];
	size_t col[RP__STORE_MAX_PARAMS];
	bulk_pos at = {0, 0}, to;
	char name[16];
	rp_status st;
	int final, outcome;

	if (b->ncols == 0 || b->ncols > RP__STORE_MAX_PARAMS) {
		return pg_internal(d, RP_E_INTERNAL, "bulk insert: bad column count");
	}
	st = pg_prepare(d, &b->many, name);
	if (st != RP_OK) {
		return st;
	}
	while (bulk_row(s, n, b->ncols, &at) != NULL) {
		size_t rows, off = 0;
		PGresult *r;

		if (bulk_size(b, s, n, at, &to, &rows, col) != RP_OK) {
			return pg_internal(d, RP_E_INTERNAL, "bulk insert: bad value");
		}
		for (size_t c = 0; c < b->ncols; c++) {
			off += col[c];
		}
		st = bulk_reserve(d, off);
		if (st != RP_OK) {
			return st;
		}
		off = 0;
		for (size_t c = 0; c < b->ncols; c++) {
			bulk_column(b, c, s, n, at, rows, d->buf + off);
			values[c] = (const char *)d->buf + off;
			lengths[c] = (int)col[c];
			formats[c] = 1;
			off += col[c];
		}
		/* The last statement of a bulk that is the whole transaction
		 * carries the COMMIT (and BEGIN, if it is the first as well). */
		final = commit && bulk_row(s, n, b->ncols, &to) == NULL;
		r = pg_exec_prepared(d, name, (int)b->ncols, values, lengths, formats, final,
				     &outcome);
		st = bulk_result(d, r, rows, final, outcome);
		PQclear(r);
		if (st != RP_OK) {
			return st;
		}
		at = to;
	}
	return RP_OK;
}

static int pg_next(rp__store_db *db)
{
	pg_db *d = (pg_db *)db;

	if (d->res == NULL || d->row + 1 >= d->nrows) {
		return 0;
	}
	d->row++;
	return 1;
}

static uint64_t be_u(const unsigned char *p, int len)
{
	uint64_t x = 0;

	for (int i = 0; i < len; i++) {
		x = (x << 8) | p[i];
	}
	return x;
}

static int64_t pg_int(rp__store_db *db, int col)
{
	pg_db *d = (pg_db *)db;
	const unsigned char *p;
	int len;

	if (PQgetisnull(d->res, d->row, col)) {
		return 0;
	}
	p = (const unsigned char *)PQgetvalue(d->res, d->row, col);
	len = PQgetlength(d->res, d->row, col);
	switch (PQftype(d->res, col)) {
	case OID_INT8:
		return len == 8 ? (int64_t)be_u(p, 8) : 0;
	case OID_INT4:
		return len == 4 ? (int64_t)(int32_t)(uint32_t)be_u(p, 4) : 0;
	case OID_INT2:
		return len == 2 ? (int64_t)(int16_t)(uint16_t)be_u(p, 2) : 0;
	case OID_BOOL:
		return len == 1 ? p[0] != 0 : 0;
	default:
		return 0;
	}
}

static double pg_real(rp__store_db *db, int col)
{
	pg_db *d = (pg_db *)db;
	const unsigned char *p;
	uint64_t bits;
	uint32_t bits32;
	double x;
	float f;

	if (PQgetisnull(d->res, d->row, col)) {
		return 0.0;
	}
	p = (const unsigned char *)PQgetvalue(d->res, d->row, col);
	switch (PQftype(d->res, col)) {
	case OID_FLOAT8:
		bits = be_u(p, 8);
		memcpy(&x, &bits, sizeof(x));
		return x;
	case OID_FLOAT4:
		bits32 = (uint32_t)be_u(p, 4);
		memcpy(&f, &bits32, sizeof(f));
		return f;
	default:
		return (double)pg_int(db, col);
	}
}

static const char *pg_text(rp__store_db *db, int col, size_t *len)
{
	pg_db *d = (pg_db *)db;

	if (PQgetisnull(d->res, d->row, col)) {
		*len = 0;
		return NULL;
	}
	/* Binary text is the raw bytes, and libpq adds a NUL after every value. */
	*len = (size_t)PQgetlength(d->res, d->row, col);
	return PQgetvalue(d->res, d->row, col);
}

static const uint8_t *pg_blob(rp__store_db *db, int col, size_t *len)
{
	return (const uint8_t *)pg_text(db, col, len);
}

static uint64_t pg_changes(rp__store_db *db)
{
	return ((pg_db *)db)->changes;
}

static void pg_end(rp__store_db *db)
{
	pg_db *d = (pg_db *)db;

	PQclear(d->res);
	d->res = NULL;
	d->row = -1;
	d->nrows = 0;
}

static void pg_notice(void *arg, const char *message)
{
	char esc[200];

	(void)arg;
	rp_log(RP_LOG_DEBUG, "store", "postgresql: %s",
	       rp_log_escape(esc, sizeof(esc), (const uint8_t *)message, strcspn(message, "\n")));
}

/* Settings of a new session. */
static rp_status pg_session(pg_db *d)
{
	char sql[160];

	PQsetNoticeProcessor(d->conn, pg_notice, NULL);
	snprintf(sql, sizeof(sql),
		 "SET statement_timeout = %u; SET lock_timeout = %u; "
		 "SET client_min_messages = warning",
		 d->statement_ms, d->lock_ms);
	return pg_exec(&d->base, sql);
}

static rp_status pg_reconnect(rp__store_db *db)
{
	pg_db *d = (pg_db *)db;

	pg_end(db);
	memset(d->prepared, 0, sizeof(d->prepared));
	d->begin_pending = 0;
	d->broken = 0;
	PQreset(d->conn);
	if (PQstatus(d->conn) != CONNECTION_OK) {
		return RP_E_IO;
	}
	return pg_session(d);
}

static void pg_close(rp__store_db *db)
{
	pg_db *d = (pg_db *)db;

	if (d == NULL) {
		return;
	}
	pg_end(db);
	PQfinish(d->conn);
	rp_free(NULL, d->buf);
	rp_free(NULL, d);
}

static const rp__store_backend pg_backend = {
	.name = "postgresql",
	.begin = "BEGIN",
	.begin_txn = pg_begin_txn,
	.close = pg_close,
	.exec = pg_exec,
	.query = pg_query,
	.next = pg_next,
	.col_int = pg_int,
	.col_real = pg_real,
	.col_text = pg_text,
	.col_blob = pg_blob,
	.changes = pg_changes,
	.end = pg_end,
	.reconnect = pg_reconnect,
	.bulk = pg_bulk,
};

rp_status rp__store_pg_open(const char *conninfo, const rp_store_options *opt, rp__store_db **out)
{
	/* Later keywords win: defaults before the URL, forced settings after. */
	const char *const keys[] = {"connect_timeout", "application_name", "dbname",
				    "client_encoding", NULL};
	const char *vals[] = {"10", "rampartd", conninfo, "UTF8", NULL};
	pg_db *d;
	rp_status st;

	d = rp_calloc(NULL, 1, sizeof(*d));
	if (d == NULL) {
		return RP_E_NOMEM;
	}
	d->base.be = &pg_backend;
	d->base.pg = 1;
	d->row = -1;
	d->statement_ms = opt->statement_ms;
	d->lock_ms = opt->busy_timeout_ms;
	d->conn = PQconnectdbParams(keys, vals, 1);
	if (d->conn == NULL) {
		st = RP_E_NOMEM;
		goto out;
	}
	if (PQstatus(d->conn) != CONNECTION_OK) {
		const char *m = PQerrorMessage(d->conn);
		char esc[300];

		/* libpq's message names host and user, never the password. */
		rp_log(RP_LOG_ERROR, "store", "cannot connect to PostgreSQL: %s",
		       rp_log_escape(esc, sizeof(esc), (const uint8_t *)m, strcspn(m, "\n")));
		st = RP_E_IO;
		goto out;
	}
	if (PQserverVersion(d->conn) < 100000) {
		rp_log(RP_LOG_ERROR, "store", "PostgreSQL %d is too old: 10 or later is needed",
		       PQserverVersion(d->conn));
		st = RP_E_CONFIG;
		goto out;
	}
	st = pg_session(d);
	if (st != RP_OK) {
		rp_log(RP_LOG_ERROR, "store", "postgresql session settings: %s", d->base.msg);
		goto out;
	}
	*out = &d->base;
	d = NULL;
out:
	if (d != NULL) {
		pg_close(&d->base);
	}
	return st;
}
