/*
 * broker_state.c - what the broker keeps across restarts: retained
 * messages and persistent sessions, both opaque bytes here.
 *
 * Loading walks the table in keyset pages, one transaction each, and
 * delivers a page's rows only after its transaction committed (in after()),
 * so a retried transaction never delivers a row twice. Pages are small in
 * rows because rows are large (a retained payload may be 1 MiB, a session
 * 4 MiB): a page holds at most 32 MiB.
 */
#include "store/internal.h"

#include <string.h>

#define TRY(expr) RP__TRY(expr)

#define RETAINED_PAGE 32
#define SESSION_PAGE  8

typedef struct load_state {
	rp__store_state base;
	size_t cursor_len;
	char cursor[RP_LIMIT_MQTT_TOPIC_LEN + 1]; /* key of the last row delivered */
} load_state;

static const rp__store_sql q_ret_put = {
	RP__SQL_RET_PUT,
	"INSERT INTO retained (topic, payload, qos, properties) VALUES ($1, $2, $3, $4) "
	"ON CONFLICT (topic) DO UPDATE SET payload = excluded.payload, qos = excluded.qos, "
	"properties = excluded.properties",
	NULL};
static const rp__store_sql q_ret_delete = {RP__SQL_RET_DELETE,
					   "DELETE FROM retained WHERE topic = $1", NULL};
static const rp__store_sql q_ret_page = {
	RP__SQL_RET_PAGE,
	"SELECT topic, payload, qos, properties FROM retained WHERE topic > $1 "
	"ORDER BY topic LIMIT $2",
	NULL};

static const rp__store_sql q_ses_put = {
	RP__SQL_SES_PUT,
	"INSERT INTO sessions (client_id, state, expires_ms) VALUES ($1, $2, $3) "
	"ON CONFLICT (client_id) DO UPDATE SET state = excluded.state, "
	"expires_ms = excluded.expires_ms",
	NULL};
static const rp__store_sql q_ses_delete = {RP__SQL_SES_DELETE,
					   "DELETE FROM sessions WHERE client_id = $1", NULL};
static const rp__store_sql q_ses_page = {
	RP__SQL_SES_PAGE,
	"SELECT client_id, state, expires_ms FROM sessions WHERE client_id > $1 "
	"ORDER BY client_id LIMIT $2",
	NULL};
static const rp__store_sql q_ses_expire = {RP__SQL_SES_EXPIRE,
					   "DELETE FROM sessions WHERE expires_ms < $1", NULL};

/* ------------------------------------------------------------------------
 * Loading in pages
 * ------------------------------------------------------------------------ */

static rp_status decode_retained(rp__store_db *db, rp__store_op *op)
{
	rp_store_retained *r = rp__res_row(op, sizeof(*r));

	if (r == NULL) {
		return RP_E_NOMEM;
	}
	r->topic = rp__col_str(db, op, 0);
	r->payload = rp__col_mem(db, op, 1, &r->payload_len);
	r->qos = (int)db->be->col_int(db, 2);
	r->props = rp__col_mem(db, op, 3, &r->props_len);
	return op->nomem ? RP_E_NOMEM : RP_OK;
}

static rp_status decode_session(rp__store_db *db, rp__store_op *op)
{
	rp_store_session *s = rp__res_row(op, sizeof(*s));

	if (s == NULL) {
		return RP_E_NOMEM;
	}
	s->client_id = rp__col_str(db, op, 0);
	s->blob = rp__col_mem(db, op, 1, &s->blob_len);
	s->expires_ms = db->be->col_int(db, 2);
	return op->nomem ? RP_E_NOMEM : RP_OK;
}

/* One page after the cursor; the cursor moves to its last key. */
static rp_status run_page(rp__store_db *db, rp__store_op *op, const rp__store_sql *q,
			  rp__store_decode_fn decode, size_t page, size_t row_size)
{
	load_state *w = op->work;
	rp__store_val v[2];
	const char *key;
	size_t n;

	v[0].t = RP__V_TEXT;
	v[0].p = w->cursor;
	v[0].len = w->cursor_len;
	rp__store_int(&v[1], (int64_t)page);
	TRY(rp__store_rows(db, op, q, v, 2, decode, 0));
	n = rp__res_count(op->rows);
	w->base.more = n == page;
	if (n > 0) {
		/* The key is the first field of both row types. */
		key = *(const char *const *)(const void *)((const char *)op->rows +
							   (n - 1) * row_size);
		w->cursor_len = strlen(key);
		if (w->cursor_len >= sizeof(w->cursor)) {
			return RP_E_INTERNAL; /* keys are checked against the limit when stored */
		}
		memcpy(w->cursor, key, w->cursor_len + 1u);
	}
	return RP_OK;
}

static rp_status run_ret_page(rp__store_db *db, rp__store_op *op)
{
	return run_page(db, op, &q_ret_page, decode_retained, RETAINED_PAGE,
			sizeof(rp_store_retained));
}

static rp_status run_ses_page(rp__store_db *db, rp__store_op *op)
{
	return run_page(db, op, &q_ses_page, decode_session, SESSION_PAGE,
			sizeof(rp_store_session));
}

/* Delivers a committed page, then asks for the next one. */
static void after_page(rp__store_op *op)
{
	const load_state *s = op->state;
	size_t n = rp__res_count(op->rows);
	rp_status st = RP_OK;

	for (size_t i = 0; i < n && st == RP_OK; i++) {
		if (op->retained_fn != NULL) {
			st = op->retained_fn(op->fn_ctx, (const rp_store_retained *)op->rows + i);
		} else {
			st = op->session_fn(op->fn_ctx, (const rp_store_session *)op->rows + i);
		}
	}
	rp__res_free(op->rows);
	op->rows = NULL;
	op->st = st;
	op->again = st == RP_OK && s->base.more;
}

rp_status rp_store_retained_load(rp_store *st, rp_store_retained_fn row, void *row_ctx,
				 rp_store_done_fn done, void *ctx)
{
	if (row == NULL) {
		return RP_E_INVALID_ARG;
	}
	return rp__store_submit(st,
				&(rp__store_req){.name = "retained_load",
						 .run = run_ret_page,
						 .after = after_page,
						 .state_size = sizeof(load_state),
						 .retained_fn = row,
						 .fn_ctx = row_ctx},
				done, ctx);
}

rp_status rp_store_session_load(rp_store *st, rp_store_session_fn row, void *row_ctx,
				rp_store_done_fn done, void *ctx)
{
	if (row == NULL) {
		return RP_E_INVALID_ARG;
	}
	return rp__store_submit(st,
				&(rp__store_req){.name = "session_load",
						 .run = run_ses_page,
						 .after = after_page,
						 .state_size = sizeof(load_state),
						 .session_fn = row,
						 .fn_ctx = row_ctx},
				done, ctx);
}

/* ------------------------------------------------------------------------
 * Writes
 * ------------------------------------------------------------------------ */

rp_status rp_store_retained_put(rp_store *st, const rp_store_retained *r, rp_store_done_fn done,
				void *ctx)
{
	rp__store_val a[4];

	if (r == NULL) {
		return RP_E_INVALID_ARG;
	}
	TRY(rp__store_text(&a[0], r->topic, RP_LIMIT_MQTT_TOPIC_LEN, 0));
	TRY(rp__store_blob(&a[1], r->payload, r->payload_len, RP_LIMIT_STORE_BLOB_LEN));
	if (r->qos < 0 || r->qos > 2) {
		return RP_E_INVALID_ARG;
	}
	rp__store_int(&a[2], r->qos);
	TRY(rp__store_blob(&a[3], r->props, r->props_len, RP_LIMIT_STORE_BLOB_LEN));
	return rp__store_submit(
		st,
		&(rp__store_req){.name = "retained_put", .sql = &q_ret_put, .args = a, .nargs = 4},
		done, ctx);
}

rp_status rp_store_retained_delete(rp_store *st, const char *topic, rp_store_done_fn done,
				   void *ctx)
{
	rp__store_val a[1];

	TRY(rp__store_text(&a[0], topic, RP_LIMIT_MQTT_TOPIC_LEN, 0));
	return rp__store_submit(
		st,
		&(rp__store_req){
			.name = "retained_delete", .sql = &q_ret_delete, .args = a, .nargs = 1},
		done, ctx);
}

rp_status rp_store_session_put(rp_store *st, const rp_store_session *s, rp_store_done_fn done,
			       void *ctx)
{
	rp__store_val a[3];

	if (s == NULL) {
		return RP_E_INVALID_ARG;
	}
	TRY(rp__store_text(&a[0], s->client_id, RP_LIMIT_STORE_ID_LEN, 0));
	TRY(rp__store_blob(&a[1], s->blob, s->blob_len, RP_LIMIT_STORE_SESSION_LEN));
	TRY(rp__store_time(&a[2], s->expires_ms));
	return rp__store_submit(
		st,
		&(rp__store_req){.name = "session_put", .sql = &q_ses_put, .args = a, .nargs = 3},
		done, ctx);
}

rp_status rp_store_session_delete(rp_store *st, const char *client_id, rp_store_done_fn done,
				  void *ctx)
{
	rp__store_val a[1];

	TRY(rp__store_text(&a[0], client_id, RP_LIMIT_STORE_ID_LEN, 0));
	return rp__store_submit(
		st,
		&(rp__store_req){
			.name = "session_delete", .sql = &q_ses_delete, .args = a, .nargs = 1},
		done, ctx);
}

rp_status rp_store_session_expire(rp_store *st, int64_t now_ms, uint64_t *deleted,
				  rp_store_done_fn done, void *ctx)
{
	rp__store_val a[1];

	if (deleted != NULL) {
		*deleted = 0;
	}
	TRY(rp__store_time(&a[0], now_ms));
	return rp__store_submit(st,
				&(rp__store_req){.name = "session_expire",
						 .sql = &q_ses_expire,
						 .flags = RP__F_COUNT,
						 .args = a,
						 .nargs = 1,
						 .out_u = deleted},
				done, ctx);
}
