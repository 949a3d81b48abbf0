/*
 * sqlite.c - the SQLite back end (the embedded default).
 *
 * One connection, opened by rp_store_open() on the caller's thread (for
 * the migrations) and then used by the storage thread alone, never by two
 * threads at once: SQLITE_OPEN_NOMUTEX.
 *
 * Durability: WAL with synchronous=FULL. With NORMAL, a WAL commit is
 * safe against a crash of rampartd but not against power loss (the WAL
 * is synced only at checkpoints), and Rampart acknowledges a QoS 1
 * PUBLISH only once it is stored. FULL syncs the WAL at every commit;
 * group commit is what makes that affordable (one fsync per batch).
 *
 * Hardening: SQLITE_DBCONFIG_DEFENSIVE (no writable_schema tricks),
 * trusted_schema off, foreign keys on (checked, not assumed), the file
 * and its directory private to the user (0600, 0700).
 *
 * Statements are prepared once (SQLITE_PREPARE_PERSISTENT) and cached by
 * their RP__SQL_* slot; $n placeholders become ?n.
 */
#include "store/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/log.h"

typedef struct lite_db {
	rp__store_db base;
	sqlite3 *h;
	sqlite3_stmt *stmts[RP__SQL_COUNT];
	sqlite3_stmt *cur;
	int row_ready; /* query() stepped onto a row that next() has not returned yet */
	int done;
} lite_db;

static rp_status lite_fail(lite_db *d, int rc)
{
	rp__store_db *db = &d->base;
	int prim = rc & 0xff;

	db->failed = 1;
	db->transient = prim == SQLITE_BUSY || prim == SQLITE_LOCKED;
	switch (rc) {
	case SQLITE_CONSTRAINT_PRIMARYKEY:
	case SQLITE_CONSTRAINT_UNIQUE:
		db->err = RP_E_EXISTS;
		break;
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		db->err = RP_E_NOT_FOUND;
		break;
	case SQLITE_CONSTRAINT_CHECK:
	case SQLITE_CONSTRAINT_NOTNULL:
		db->err = RP_E_INVALID_ARG;
		break;
	case SQLITE_CONSTRAINT_TRIGGER:
		db->err = RP_E_DENIED; /* the audit log's append-only triggers */
		break;
	default:
		if (db->transient) {
			db->err = RP_E_TIMEOUT;
		} else if (prim == SQLITE_NOMEM) {
			db->err = RP_E_NOMEM;
		} else {
			db->err = RP_E_IO;
		}
		break;
	}
	snprintf(db->msg, sizeof(db->msg), "%s", d->h != NULL ? sqlite3_errmsg(d->h) : "no handle");
	return db->err;
}

static rp_status lite_exec(rp__store_db *db, const char *sql)
{
	lite_db *d = (lite_db *)db;
	int rc = sqlite3_exec(d->h, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK) {
		return lite_fail(d, sqlite3_extended_errcode(d->h));
	}
	return RP_OK;
}

/* At once: BEGIN IMMEDIATE takes the write lock, and waits for it here. */
static rp_status lite_begin_txn(rp__store_db *db)
{
	return lite_exec(db, db->be->begin);
}

static rp_status lite_prepare(lite_db *d, const rp__store_sql *q, sqlite3_stmt **out)
{
	size_t len = strlen(q->sql);
	char *sql = rp_alloc(NULL, len + 1u);
	int rc;

	if (sql == NULL) {
		/* Counted as a failed statement: the operation may have written
		 * before, so its transaction must be rolled back. */
		d->base.err = RP_E_NOMEM;
		d->base.failed = 1;
		snprintf(d->base.msg, sizeof(d->base.msg), "no memory to prepare a statement");
		return RP_E_NOMEM;
	}
	for (size_t i = 0; i <= len; i++) {
		sql[i] = q->sql[i] == '$' && q->sql[i + 1] >= '0' && q->sql[i + 1] <= '9'
				 ? '?'
				 : q->sql[i];
	}
	rc = sqlite3_prepare_v3(d->h, sql, (int)len + 1, SQLITE_PREPARE_PERSISTENT, out, NULL);
	rp_free(NULL, sql);
	if (rc != SQLITE_OK) {
		return lite_fail(d, sqlite3_extended_errcode(d->h));
	}
	return RP_OK;
}

static int lite_bind(sqlite3_stmt *s, int i, const rp__store_val *v)
{
	switch (v->t) {
	case RP__V_INT:
		return sqlite3_bind_int64(s, i, v->i);
	case RP__V_REAL:
		return sqlite3_bind_double(s, i, v->d);
	case RP__V_TEXT:
		return sqlite3_bind_text(s, i, v->p, (int)v->len, SQLITE_STATIC);
	case RP__V_BLOB:
		/* A NULL pointer would bind SQL NULL, not an empty blob. */
		if (v->len == 0) {
			return sqlite3_bind_zeroblob(s, i, 0);
		}
		return sqlite3_bind_blob(s, i, v->p, (int)v->len, SQLITE_STATIC);
	case RP__V_NULL:
	default:
		return sqlite3_bind_null(s, i);
	}
}

static rp_status lite_query(rp__store_db *db, const rp__store_sql *q, const rp__store_val *v,
			    size_t n)
{
	lite_db *d = (lite_db *)db;
	sqlite3_stmt *s;
	rp_status st;
	int rc;

	if (q->id >= RP__SQL_COUNT || n > RP__STORE_MAX_PARAMS) {
		db->err = RP_E_INTERNAL;
		db->failed = 1;
		return RP_E_INTERNAL;
	}
	if (d->stmts[q->id] == NULL) {
		st = lite_prepare(d, q, &d->stmts[q->id]);
		if (st != RP_OK) {
			return st;
		}
	}
	s = d->stmts[q->id];
	for (size_t i = 0; i < n; i++) {
		rc = lite_bind(s, (int)i + 1, &v[i]);
		if (rc != SQLITE_OK) {
			st = lite_fail(d, rc);
			sqlite3_clear_bindings(s);
			return st;
		}
	}
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		st = lite_fail(d, sqlite3_extended_errcode(d->h));
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		return st;
	}
	d->cur = s;
	d->row_ready = rc == SQLITE_ROW;
	d->done = rc == SQLITE_DONE;
	return RP_OK;
}

static int lite_next(rp__store_db *db)
{
	lite_db *d = (lite_db *)db;
	int rc;

	if (d->cur == NULL || d->done) {
		return 0;
	}
	if (d->row_ready) {
		d->row_ready = 0;
		return 1;
	}
	rc = sqlite3_step(d->cur);
	if (rc == SQLITE_ROW) {
		return 1;
	}
	d->done = 1;
	if (rc == SQLITE_DONE) {
		return 0;
	}
	(void)lite_fail(d, sqlite3_extended_errcode(d->h));
	return -1;
}

static int64_t lite_int(rp__store_db *db, int col)
{
	return sqlite3_column_int64(((lite_db *)db)->cur, col);
}

static double lite_real(rp__store_db *db, int col)
{
	return sqlite3_column_double(((lite_db *)db)->cur, col);
}

static const char *lite_text(rp__store_db *db, int col, size_t *len)
{
	sqlite3_stmt *s = ((lite_db *)db)->cur;
	const unsigned char *t;

	if (sqlite3_column_type(s, col) == SQLITE_NULL) {
		*len = 0;
		return NULL;
	}
	t = sqlite3_column_text(s, col);
	*len = (size_t)sqlite3_column_bytes(s, col);
	return t == NULL ? "" : (const char *)t;
}

static const uint8_t *lite_blob(rp__store_db *db, int col, size_t *len)
{
	sqlite3_stmt *s = ((lite_db *)db)->cur;
	const void *b;

	if (sqlite3_column_type(s, col) == SQLITE_NULL) {
		*len = 0;
		return NULL;
	}
	b = sqlite3_column_blob(s, col);
	*len = (size_t)sqlite3_column_bytes(s, col);
	return b == NULL ? (const uint8_t *)"" : b; /* an empty blob reads as NULL */
}

static uint64_t lite_changes(rp__store_db *db)
{
	return (uint64_t)sqlite3_changes64(((lite_db *)db)->h);
}

static void lite_end(rp__store_db *db)
{
	lite_db *d = (lite_db *)db;

	if (d->cur != NULL) {
		sqlite3_reset(d->cur);
		sqlite3_clear_bindings(d->cur);
		d->cur = NULL;
	}
	d->row_ready = 0;
	d->done = 0;
}

/*
 * One prepared one-row INSERT per row: SQLite runs in this process, so a
 * row costs a bind and a step, and one statement over arrays would only
 * add copying. COMMIT follows as usual (commit is ignored: a COMMIT in
 * the process costs no round trip).
 */
static rp_status lite_bulk(rp__store_db *db, const rp__store_bulk *b, const rp__store_span *s,
			   size_t n, int commit)
{
	(void)commit;
	for (size_t i = 0; i < n; i++) {
		for (size_t r = 0; r < s[i].rows; r++) {
			rp_status st =
				rp__store_run(db, &b->one, &s[i].v[r * b->ncols], b->ncols, NULL);

			if (st != RP_OK) {
				return st;
			}
		}
	}
	return RP_OK;
}

static rp_status lite_reconnect(rp__store_db *db)
{
	(void)db;
	return RP_E_STATE; /* a file does not disconnect */
}

static void lite_close(rp__store_db *db)
{
	lite_db *d = (lite_db *)db;

	if (d == NULL) {
		return;
	}
	lite_end(db);
	for (size_t i = 0; i < RP__SQL_COUNT; i++) {
		sqlite3_finalize(d->stmts[i]);
	}
	sqlite3_close_v2(d->h);
	rp_free(NULL, d);
}

static const rp__store_backend lite_backend = {
	.name = "sqlite",
	.begin = "BEGIN IMMEDIATE",
	.begin_txn = lite_begin_txn,
	.close = lite_close,
	.exec = lite_exec,
	.query = lite_query,
	.next = lite_next,
	.col_int = lite_int,
	.col_real = lite_real,
	.col_text = lite_text,
	.col_blob = lite_blob,
	.changes = lite_changes,
	.end = lite_end,
	.reconnect = lite_reconnect,
	.bulk = lite_bulk,
};

/* Creates the missing directories above path, mode 0700. */
static rp_status make_parents(const char *path)
{
	size_t len = strlen(path);
	char *p = rp_alloc(NULL, len + 1u);
	rp_status st = RP_OK;

	if (p == NULL) {
		return RP_E_NOMEM;
	}
	memcpy(p, path, len + 1u);
	for (size_t i = 1; i < len; i++) {
		if (p[i] != '/') {
			continue;
		}
		p[i] = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST) {
			rp_log(RP_LOG_ERROR, "store", "cannot create directory %s: %s", p,
			       strerror(errno));
			st = RP_E_IO;
			goto out;
		}
		p[i] = '/';
	}
out:
	rp_free(NULL, p);
	return st;
}

/* Creates the file 0600 (SQLite would use 0644), or narrows an existing one. */
static rp_status make_file(const char *path)
{
	struct stat sb;
	rp_status st = RP_OK;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0) {
		rp_log(RP_LOG_ERROR, "store", "cannot open %s: %s", path, strerror(errno));
		return RP_E_IO;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		rp_log(RP_LOG_ERROR, "store", "%s is not a regular file", path);
		st = RP_E_IO;
		goto out;
	}
	if ((sb.st_mode & 0077) != 0) {
		rp_log(RP_LOG_WARN, "store", "%s was readable by others; mode set to 0600", path);
		if (fchmod(fd, 0600) != 0) {
			rp_log(RP_LOG_ERROR, "store", "cannot chmod %s: %s", path, strerror(errno));
			st = RP_E_IO;
		}
	}
out:
	close(fd);
	return st;
}

/* Runs a PRAGMA that answers one value, and checks it. */
static rp_status pragma_expect(lite_db *d, const char *sql, const char *want)
{
	sqlite3_stmt *s = NULL;
	rp_status st = RP_OK;
	int rc = sqlite3_prepare_v2(d->h, sql, -1, &s, NULL);

	if (rc != SQLITE_OK) {
		return lite_fail(d, sqlite3_extended_errcode(d->h));
	}
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		st = rc == SQLITE_DONE ? RP_E_CONFIG : lite_fail(d, sqlite3_extended_errcode(d->h));
	} else if (strcmp((const char *)sqlite3_column_text(s, 0), want) != 0) {
		st = RP_E_CONFIG;
	}
	if (st == RP_E_CONFIG) {
		rp_log(RP_LOG_ERROR, "store", "sqlite: \"%s\" did not answer %s", sql, want);
	}
	sqlite3_finalize(s);
	return st;
}

rp_status rp__store_sqlite_open(const char *path, const rp_store_options *opt, rp__store_db **out)
{
	lite_db *d = NULL;
	rp_status st;
	int rc;

	st = make_parents(path);
	if (st != RP_OK) {
		return st;
	}
	st = make_file(path);
	if (st != RP_OK) {
		return st;
	}
	d = rp_calloc(NULL, 1, sizeof(*d));
	if (d == NULL) {
		return RP_E_NOMEM;
	}
	d->base.be = &lite_backend;
	d->base.pg = 0;
	rc = sqlite3_open_v2(path, &d->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rp_log(RP_LOG_ERROR, "store", "cannot open %s: %s", path,
		       d->h != NULL ? sqlite3_errmsg(d->h) : sqlite3_errstr(rc));
		st = rc == SQLITE_NOMEM ? RP_E_NOMEM : RP_E_IO;
		goto out;
	}
	sqlite3_extended_result_codes(d->h, 1);
	sqlite3_db_config(d->h, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
	sqlite3_db_config(d->h, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
	sqlite3_busy_timeout(d->h, (int)opt->busy_timeout_ms);
	st = pragma_expect(d, "PRAGMA journal_mode=WAL", "wal");
	if (st != RP_OK) {
		goto out;
	}
	st = lite_exec(&d->base, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
				 "PRAGMA journal_size_limit=67108864;");
	if (st != RP_OK) {
		rp_log(RP_LOG_ERROR, "store", "sqlite settings: %s", d->base.msg);
		goto out;
	}
	st = pragma_expect(d, "PRAGMA foreign_keys", "1");
	if (st != RP_OK) {
		goto out;
	}
	st = pragma_expect(d, "PRAGMA synchronous", "2");
	if (st != RP_OK) {
		goto out;
	}
	*out = &d->base;
	d = NULL;
out:
	if (d != NULL) {
		if (st != RP_E_NOMEM && st != RP_E_CONFIG && d->base.msg[0] != '\0') {
			rp_log(RP_LOG_ERROR, "store", "sqlite %s: %s", path, d->base.msg);
		}
		lite_close(&d->base);
	}
	return st;
}
