/*
 * server/store/internal.h - what the store's files share: the back-end
 * interface, operations, arguments and result blocks. Not for other
 * modules; tests use the hooks at the end.
 *
 * Conventions
 * - SQL is written once, in PostgreSQL's placeholder style ($1 .. $n); the
 *   SQLite back end rewrites $n to ?n. Where the dialects differ, an
 *   rp__store_sql carries a second text for PostgreSQL.
 * - A back end has one current statement: query() runs it (the first row,
 *   if any, is ready), next() walks the rows, end() releases it. Columns
 *   are read with col_*(); a text or blob column stays valid until the next
 *   next() or end().
 * - Errors: a failed back-end call sets db->err (an rp_status), db->msg
 *   (the database's text, for logs), db->failed (a statement of this
 *   transaction failed: the transaction must be rolled back), and, when a
 *   retry may cure it, db->transient (busy, locked, serialisation failure,
 *   lost connection) and db->conn_lost (reconnect first).
 * - An operation's run() does its SQL inside a transaction that the
 *   storage thread opened, possibly with other operations (group commit).
 *   It may run more than once (retries, split batches), so it MUST NOT
 *   have effects outside the database except in op->work and op->rows,
 *   which are reset before each run. It returns RP_OK, an error it got
 *   from the back end (db->failed is then set), or a soft status
 *   (RP_E_NOT_FOUND, RP_E_EXISTS, RP_E_DENIED, RP_E_STATE, RP_E_NOMEM)
 *   that it MUST return before it has written anything: the transaction
 *   goes on for the other operations.
 * - An operation with `bulk` set inserts rows and has no run(): the
 *   storage thread hands the rows of consecutive such operations (same
 *   bulk) to the back end's bulk() in one call, so a back end with a
 *   network round trip per statement pays one per run of them, not one
 *   per row.
 *   Those operations share their fate in the transaction: if the call
 *   fails, the batch is split and each runs alone, as any failed batch.
 * - after(), if set, runs on the storage thread once the transaction has
 *   committed, with op->state updated from op->work: it may deliver rows
 *   (load callbacks), set op->st, and set op->again to queue the operation
 *   once more (chunked work: retention, loads, verification).
 */
#ifndef RP_SERVER_STORE_INTERNAL_H
#define RP_SERVER_STORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* ------------------------------------------------------------------------
 * Values: the arguments of an operation, and the parameters of a statement
 * ------------------------------------------------------------------------ */

typedef enum rp__store_vtype {
	RP__V_NULL = 0,
	RP__V_INT,
	RP__V_REAL,
	RP__V_TEXT, /* p: NUL-terminated, len bytes before the NUL */
	RP__V_BLOB, /* p: len bytes, never NULL (an empty blob points at "") */
} rp__store_vtype;

typedef struct rp__store_val {
	rp__store_vtype t;
	int64_t i;
	double d;
	const void *p;
	size_t len;
} rp__store_val;

/* Checked constructors for submissions: RP_OK or the status to return. */
rp_status rp__store_text(rp__store_val *v, const char *s, size_t max, int allow_empty);
rp_status rp__store_opt_text(rp__store_val *v, const char *s, size_t max); /* NULL: SQL NULL */
rp_status rp__store_hex(rp__store_val *v, const char *s, size_t min, size_t max);
rp_status rp__store_blob(rp__store_val *v, const void *p, size_t len, size_t max);
rp_status rp__store_time(rp__store_val *v, int64_t ms);
void rp__store_int(rp__store_val *v, int64_t i);
rp_status rp__store_limit(rp__store_val *v, size_t limit, size_t cap);

/* Returns the status of expr if it is not RP_OK (validation, before anything is taken). */
#define RP__TRY(expr)                                                                              \
	do {                                                                                       \
		rp_status rp__try_st_ = (expr);                                                    \
		if (rp__try_st_ != RP_OK) {                                                        \
			return rp__try_st_;                                                        \
		}                                                                                  \
	} while (0)

/* ------------------------------------------------------------------------
 * Statements
 * ------------------------------------------------------------------------ */

/* Slots of the prepared-statement cache, one per statement. */
enum rp__store_sql_id {
	RP__SQL_VERSION_GET,
	RP__SQL_DEVICE_SEEN,
	RP__SQL_DEVICE_GET,
	RP__SQL_DEVICE_LIST,
	RP__SQL_DEVICE_EXISTS,
	RP__SQL_DEVICE_TAGS_CLEAR,
	RP__SQL_DEVICE_TAG_ADD,
	RP__SQL_DEVICE_SET_STATUS,
	RP__SQL_DEVICE_SET_INFO,
	RP__SQL_CERT_ADD,
	RP__SQL_CERT_GET,
	RP__SQL_CERT_LIST_DEVICE,
	RP__SQL_CERT_REVOKE,
	RP__SQL_CERT_LIST_REVOKED,
	RP__SQL_TM_INSERT,
	RP__SQL_TM_INSERT_MANY,
	RP__SQL_TM_QUERY_ASC,
	RP__SQL_TM_QUERY_DESC,
	RP__SQL_TM_AGGREGATE,
	RP__SQL_TM_EXPIRE,
	RP__SQL_CMD_CREATE,
	RP__SQL_CMD_SET_STATUS,
	RP__SQL_CMD_SET_RESULT,
	RP__SQL_CMD_GET,
	RP__SQL_CMD_LIST,
	RP__SQL_RET_PUT,
	RP__SQL_RET_DELETE,
	RP__SQL_RET_PAGE,
	RP__SQL_SES_PUT,
	RP__SQL_SES_DELETE,
	RP__SQL_SES_PAGE,
	RP__SQL_SES_EXPIRE,
	RP__SQL_ALERT_ADD,
	RP__SQL_ALERT_LIST,
	RP__SQL_ALERT_ACK,
	RP__SQL_ALERT_EXISTS,
	RP__SQL_OPR_CREATE,
	RP__SQL_OPR_GET,
	RP__SQL_OPR_GET_LOCK,
	RP__SQL_OPR_LIST,
	RP__SQL_OPR_UPDATE,
	RP__SQL_TOK_CREATE,
	RP__SQL_TOK_GET,
	RP__SQL_TOK_LIST,
	RP__SQL_TOK_REVOKE,
	RP__SQL_TOK_EXISTS,
	RP__SQL_WS_CREATE,
	RP__SQL_WS_GET,
	RP__SQL_WS_DELETE,
	RP__SQL_WS_EXPIRE,
	RP__SQL_AUD_HEAD,
	RP__SQL_AUD_INSERT,
	RP__SQL_AUD_MOVE_HEAD,
	RP__SQL_AUD_QUERY_ASC,
	RP__SQL_AUD_QUERY_DESC,
	RP__SQL_AUD_PAGE,
	RP__SQL_AUD_HEAD_READ,
	RP__SQL_ENR_CREATE,
	RP__SQL_ENR_GET,
	RP__SQL_ENR_LIST,
	RP__SQL_ENR_REVOKE,
	RP__SQL_ENR_EXISTS,
	RP__SQL_ENR_USE,
	RP__SQL_ENR_DEVICE,
	RP__SQL_ENR_DEVICE_NEW,
	RP__SQL_ENR_DEVICE_MODEL,
	RP__SQL_ENR_TAGS_CLEAR,
	RP__SQL_ENR_TAG_ADD,
	RP__SQL_ENR_CERT,
	RP__SQL_ENR_CERT_ADD,
	RP__SQL_CRL_NUMBER_NEXT,
	RP__SQL_COUNT
};

typedef struct rp__store_sql {
	unsigned id;     /* RP__SQL_* */
	const char *sql; /* both dialects, or SQLite's when pg is set */
	const char *pg;  /* PostgreSQL's, or NULL */
} rp__store_sql;

/* Most parameters of one statement. */
#define RP__STORE_MAX_PARAMS 16

/*
 * A bulk insert: rows of ncols values into one table. `one` inserts one
 * row ($1 .. $ncols); a back end without round trips (SQLite) runs it per
 * row. `many` (PostgreSQL text only) inserts any number of rows at once:
 * parameter $k is an array of column k's values, of the SQL type that
 * types[k] maps to (INT bigint, REAL double precision, TEXT text, BLOB
 * bytea). A value is of its column's type or RP__V_NULL.
 */
typedef struct rp__store_bulk {
	rp__store_sql one;
	rp__store_sql many;
	size_t ncols; /* 1 .. RP__STORE_MAX_PARAMS */
	const rp__store_vtype *types;
} rp__store_bulk;

/* rows rows of a bulk insert, ncols values each, one after the other. */
typedef struct rp__store_span {
	const rp__store_val *v;
	size_t rows;
} rp__store_span;

/* ------------------------------------------------------------------------
 * Back ends
 * ------------------------------------------------------------------------ */

typedef struct rp__store_db rp__store_db;

typedef struct rp__store_backend {
	const char *name;  /* "sqlite", "postgresql" */
	const char *begin; /* the statement that opens a write transaction */
	/*
	 * Opens the storage thread's write transaction (begin). A back end
	 * may send it with the statement that follows (PostgreSQL: one round
	 * trip for both); a COMMIT or ROLLBACK right after it then sends
	 * nothing (the transaction is empty). RP_OK or an error, as exec().
	 */
	rp_status (*begin_txn)(rp__store_db *db);
	void (*close)(rp__store_db *db);
	/* A statement without parameters or rows (BEGIN, COMMIT, DDL). */
	rp_status (*exec)(rp__store_db *db, const char *sql);
	rp_status (*query)(rp__store_db *db, const rp__store_sql *q, const rp__store_val *v,
			   size_t n);
	int (*next)(rp__store_db *db); /* 1: a row; 0: no more; -1: error */
	int64_t (*col_int)(rp__store_db *db, int col);
	double (*col_real)(rp__store_db *db, int col);
	/* NULL for SQL NULL; else NUL-terminated, *len bytes. */
	const char *(*col_text)(rp__store_db *db, int col, size_t *len);
	/* NULL for SQL NULL; else *len bytes (a pointer even when *len is 0). */
	const uint8_t *(*col_blob)(rp__store_db *db, int col, size_t *len);
	uint64_t (*changes)(rp__store_db *db); /* rows changed by the last query */
	void (*end)(rp__store_db *db);
	/* Re-establishes a lost connection. RP_OK or an error. */
	rp_status (*reconnect)(rp__store_db *db);
	/*
	 * Inserts the rows of s[0 .. n) with b, in this order, inside the
	 * current transaction. RP_OK, or an error with db->failed set (some
	 * rows may have been written: the transaction must be rolled back).
	 * commit: 1 when nothing else runs in this transaction after this
	 * call; the back end may then send COMMIT with its last statement
	 * (PostgreSQL: one round trip less per batch). If it did: RP_OK with
	 * db->committed set (the transaction is over); or a failure, with
	 * db->commit_unknown set if the COMMIT may have taken effect (the
	 * connection broke after it was sent), else as any failure (the
	 * transaction did not commit and may be retried). A back end that
	 * ignores commit leaves db->committed clear, and COMMIT follows.
	 */
	rp_status (*bulk)(rp__store_db *db, const rp__store_bulk *b, const rp__store_span *s,
			  size_t n, int commit);
} rp__store_backend;

struct rp__store_db {
	const rp__store_backend *be;
	int pg; /* 1: PostgreSQL dialect */
	rp_status err;
	int failed;
	int transient;
	int conn_lost;
	int committed;      /* bulk() committed the transaction (its commit argument) */
	int commit_unknown; /* a COMMIT was sent and its outcome is unknown */
	char msg[160];
};

rp_status rp__store_sqlite_open(const char *path, const rp_store_options *opt, rp__store_db **out);
rp_status rp__store_pg_open(const char *conninfo, const rp_store_options *opt, rp__store_db **out);

/* Applies missing migrations (schema.c). *version: the database's version. */
rp_status rp__store_migrate(rp__store_db *db, int64_t *version);

/* Resets the error state before a transaction. */
void rp__store_db_clear(rp__store_db *db);

/*
 * Runs q with v[0 .. n) and ends it; *changes (may be NULL) receives the
 * rows changed. For INSERT, UPDATE, DELETE.
 */
rp_status rp__store_run(rp__store_db *db, const rp__store_sql *q, const rp__store_val *v, size_t n,
			uint64_t *changes);

/* Runs the query q (a SELECT) with v[0 .. n): RP_OK if it gives a row,
 * RP_E_NOT_FOUND if none, else the failure. */
rp_status rp__store_exists(rp__store_db *db, const rp__store_sql *q, const rp__store_val *v,
			   size_t n);

/* ------------------------------------------------------------------------
 * Operations
 * ------------------------------------------------------------------------ */

typedef struct rp__store_op rp__store_op;
typedef rp_status (*rp__store_run_fn)(rp__store_db *db, rp__store_op *op);
typedef void (*rp__store_after_fn)(rp__store_op *op);
/* Appends the current row of db to op->rows. RP_OK or RP_E_NOMEM. */
typedef rp_status (*rp__store_decode_fn)(rp__store_db *db, rp__store_op *op);

/* Flags of the generic run (an operation without its own run function). */
#define RP__F_ONE    1u /* rows: RP_E_NOT_FOUND when there is none */
#define RP__F_CHANGE 2u /* statement: RP_E_NOT_FOUND when no row changed */
#define RP__F_COUNT  4u /* statement: add the rows changed to state.u */

/* The scalar outputs every operation has at the start of its state. */
typedef struct rp__store_state {
	int64_t i;  /* -> *out_i (ids, first bad audit entry) */
	uint64_t u; /* -> *out_u (rows deleted, entries checked) */
	int more;   /* chunked work: another round is needed */
} rp__store_state;

struct rp__store_op {
	rp__store_op *next;
	const char *name; /* for logs */
	rp__store_run_fn run;
	rp__store_after_fn after;
	rp_store_done_fn done;
	/* A bulk insert (run is not used): args hold nargs / bulk->ncols rows. */
	const rp__store_bulk *bulk;
	void *ctx;
	size_t size; /* bytes of this block, charged to the queue */
	rp_status st;
	int again;
	int db_error; /* st came from the database (logged, counted) */
	int nomem;    /* a result allocation failed during this run */
	rp__store_val *args;
	size_t nargs;
	/* Generic run: one statement over args, decoding rows if decode is set. */
	const rp__store_sql *sql;
	rp__store_decode_fn decode;
	unsigned flags;
	/* Working copy (run) and committed state, state_size bytes each,
	 * both starting with an rp__store_state. */
	void *work;
	void *state;
	size_t state_size;
	/* Rows being built (a result block), NULL until the first row. */
	void *rows;
	/* Where results go when the operation completes. */
	void **out;
	size_t *out_n;
	int64_t *out_i;
	uint64_t *out_u;
	rp_store_retained_fn retained_fn;
	rp_store_session_fn session_fn;
	void *fn_ctx;
};

/* A submission: what rp__store_submit() copies into a new operation. */
typedef struct rp__store_req {
	const char *name;
	rp__store_run_fn run;       /* NULL: the generic run over sql, decode, flags */
	const rp__store_bulk *bulk; /* set: a bulk insert of args (run is NULL) */
	rp__store_after_fn after;
	const rp__store_val *args;
	size_t nargs;
	const rp__store_sql *sql;
	rp__store_decode_fn decode;
	unsigned flags;
	size_t state_size; /* 0: sizeof(rp__store_state) */
	void **out;
	size_t *out_n;
	int64_t *out_i;
	uint64_t *out_u;
	rp_store_retained_fn retained_fn;
	rp_store_session_fn session_fn;
	void *fn_ctx;
} rp__store_req;

/*
 * Copies r (arguments included) into a new operation and queues it; waits
 * for it when done is NULL. Returns as the public functions do.
 */
rp_status rp__store_submit(rp_store *st, const rp__store_req *r, rp_store_done_fn done, void *ctx);

/*
 * The two halves of rp__store_submit(), for operations that fill their
 * arguments in place (a telemetry batch): a new operation with nargs
 * argument slots and a data area of `bytes` (*data), args not set; then
 * queueing (and waiting, when done is NULL), which frees op on error.
 * rp__store_op_new() returns NULL when out of memory.
 */
rp__store_op *rp__store_op_new(const rp__store_req *r, size_t nargs, size_t bytes, char **data);
rp_status rp__store_op_queue(rp_store *st, rp__store_op *op, rp_store_done_fn done, void *ctx);
/* Data bytes a copy of v takes; copies v into *data (advanced). */
size_t rp__store_val_bytes(const rp__store_val *v);
void rp__store_val_copy(rp__store_val *dst, const rp__store_val *src, char **data);

/* The store's retention chunk (rows per retention transaction). */
size_t rp__store_retention_chunk(const rp_store *st);

/*
 * Runs q with v[0 .. n) and appends each row with decode. one: RP_E_NOT_FOUND
 * if there is no row. Returns RP_OK, the back end's error, or decode's.
 */
rp_status rp__store_rows(rp__store_db *db, rp__store_op *op, const rp__store_sql *q,
			 const rp__store_val *v, size_t n, rp__store_decode_fn decode, int one);

/* ------------------------------------------------------------------------
 * Result blocks (rows for the caller; freed with rp_store_free)
 * ------------------------------------------------------------------------ */

/* A new zeroed row of row_size bytes at the end of op->rows; NULL: no memory. */
void *rp__res_row(rp__store_op *op, size_t row_size);
/* Number of rows in op->rows. */
size_t rp__res_count(const void *rows);
/* Drops the last row (a row that could not be completed). */
void rp__res_pop(void *rows);
/*
 * Copies len bytes (and a NUL) into the block of op->rows; returns the
 * copy. On allocation failure sets op->nomem and returns "" (so decoders
 * can go on and check op->nomem once per row).
 */
char *rp__res_copy(rp__store_op *op, const void *p, size_t len);

/* Column helpers over rp__res_copy(): SQL NULL reads as "" / empty. */
const char *rp__col_str(rp__store_db *db, rp__store_op *op, int col);
const uint8_t *rp__col_mem(rp__store_db *db, rp__store_op *op, int col, size_t *len);

/* Pointer array for n strings in the block (device tags); NULL: no memory. */
const char **rp__res_ptrs(rp__store_op *op, size_t n);

/* Frees a block (with rp_free_secret). NULL is allowed. */
void rp__res_free(void *rows);

/* ------------------------------------------------------------------------
 * Enumerations as stored (text), both ways. *_from_text returns 0 if unknown.
 * ------------------------------------------------------------------------ */

const char *rp__device_status_text(rp_store_device_status s);
rp_store_device_status rp__device_status_from(const char *s);
const char *rp__role_text(rp_store_role r);
rp_store_role rp__role_from(const char *s);

/* ------------------------------------------------------------------------
 * Test hooks
 * ------------------------------------------------------------------------ */

/*
 * Runs raw SQL (one or more statements, no parameters) on the storage
 * thread in its own transaction, synchronously. For tests that play the
 * attacker with database access (tampering with the audit log) or the
 * future (a newer schema). RP_OK or the database's status.
 */
rp_status rp__store_raw_sql(rp_store *st, const char *sql);

/*
 * hold 1: the storage thread takes no new batch until hold 0 (or close),
 * so tests can fill the queue and make one batch of known content.
 */
void rp__store_hold(rp_store *st, int hold);

#endif /* RP_SERVER_STORE_INTERNAL_H */
