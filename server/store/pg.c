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
} pg_db;

static int is_state(const char *s, const char *want)
{
	return s != NULL && strcmp(s, want) == 0;
}

/* Classifies the failure in r (may be NULL: no result at all). */
static rp_status pg_fail(pg_db *d, const PGresult *r)
{
	rp__store_db *db = &d->base;
	const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = r != NULL ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	db->failed = 1;
	if (PQstatus(d->conn) == CONNECTION_BAD ||
	    (state != NULL && strncmp(state, "08", 2) == 0) || is_state(state, "57P01") ||
	    is_state(state, "57P02") || is_state(state, "57P03")) {
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
	PGresult *r = PQexec(d->conn, sql);
	ExecStatusType s = PQresultStatus(r);
	rp_status st = RP_OK;

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

static rp_status pg_query(rp__store_db *db, const rp__store_sql *q, const rp__store_val *v,
			  size_t n)
{
	pg_db *d = (pg_db *)db;
	const char *values[RP__STORE_MAX_PARAMS];
	int lengths[RP__STORE_MAX_PARAMS], formats[RP__STORE_MAX_PARAMS];
	char name[16];
	PGresult *r;
	ExecStatusType s;

	if (q->id >= RP__SQL_COUNT || n > RP__STORE_MAX_PARAMS) {
		db->failed = 1;
		db->err = RP_E_INTERNAL;
		return RP_E_INTERNAL;
	}
	snprintf(name, sizeof(name), "rp%u", q->id);
	if (!d->prepared[q->id]) {
		r = PQprepare(d->conn, name, q->pg != NULL ? q->pg : q->sql, 0, NULL);
		if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
			rp_status st = pg_fail(d, r);

			PQclear(r);
			return st;
		}
		PQclear(r);
		d->prepared[q->id] = 1;
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
	r = PQexecPrepared(d->conn, name, (int)n, values, lengths, formats, 1);
	s = PQresultStatus(r);
	if (r == NULL || (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)) {
		rp_status st = pg_fail(d, r);

		PQclear(r);
		return st;
	}
	d->res = r;
	d->row = -1;
	d->nrows = PQntuples(r);
	d->changes = strtoull(PQcmdTuples(r), NULL, 10);
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
	rp_free(NULL, d);
}

static const rp__store_backend pg_backend = {
	.name = "postgresql",
	.begin = "BEGIN",
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
