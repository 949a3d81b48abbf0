/*
 * commands.c - commands to devices, and alerts.
 *
 * A command's id is made by the caller (so it can be put in the MQTT
 * message before the row is committed). Alerts get increasing ids from
 * the database (INSERT ... RETURNING, SQLite 3.35+ and PostgreSQL).
 */
#include "store/internal.h"

#include <string.h>

#define TRY(expr) RP__TRY(expr)

static const char *const cmd_status_names[] = {
	[RP_STORE_CMD_PENDING] = "pending", [RP_STORE_CMD_SENT] = "sent",
	[RP_STORE_CMD_DONE] = "done",       [RP_STORE_CMD_FAILED] = "failed",
	[RP_STORE_CMD_EXPIRED] = "expired",
};

static const char *cmd_status_text(rp_store_cmd_status s)
{
	if ((unsigned)s == 0 || (unsigned)s > RP_STORE_CMD_EXPIRED) {
		return NULL;
	}
	return cmd_status_names[s];
}

static rp_store_cmd_status cmd_status_from(const char *s)
{
	for (unsigned i = 1; s != NULL && i <= RP_STORE_CMD_EXPIRED; i++) {
		if (strcmp(s, cmd_status_names[i]) == 0) {
			return (rp_store_cmd_status)i;
		}
	}
	return (rp_store_cmd_status)0;
}

#define CMD_COLS                                                                                   \
	"SELECT id, device_id, name, args, status, result, created_ms, answered_ms FROM commands "

static const rp__store_sql q_cmd_create = {
	RP__SQL_CMD_CREATE,
	"INSERT INTO commands (id, device_id, name, args, status, result, created_ms, answered_ms) "
	"VALUES ($1, $2, $3, $4, 'pending', '', $5, 0)",
	NULL};
static const rp__store_sql q_cmd_status = {
	RP__SQL_CMD_SET_STATUS,
	"UPDATE commands SET status = $2 WHERE id = $1 AND status = 'pending'", NULL};
static const rp__store_sql q_cmd_result = {
	RP__SQL_CMD_SET_RESULT,
	"UPDATE commands SET status = $2, result = $3, answered_ms = $4 WHERE id = $1", NULL};
static const rp__store_sql q_cmd_get = {RP__SQL_CMD_GET, CMD_COLS "WHERE id = $1", NULL};
static const rp__store_sql q_cmd_list = {
	RP__SQL_CMD_LIST,
	CMD_COLS "WHERE device_id = $1 AND (created_ms > $2 OR (created_ms = $2 AND id > $3)) "
		 "ORDER BY created_ms, id LIMIT $4",
	NULL};

static rp_status decode_command(rp__store_db *db, rp__store_op *op)
{
	rp_store_command *c = rp__res_row(op, sizeof(*c));
	size_t len;

	if (c == NULL) {
		return RP_E_NOMEM;
	}
	c->id = rp__col_str(db, op, 0);
	c->device_id = rp__col_str(db, op, 1);
	c->name = rp__col_str(db, op, 2);
	c->args = rp__col_str(db, op, 3);
	c->status = cmd_status_from(db->be->col_text(db, 4, &len));
	c->result = rp__col_str(db, op, 5);
	c->created_ms = db->be->col_int(db, 6);
	c->answered_ms = db->be->col_int(db, 7);
	return op->nomem ? RP_E_NOMEM : RP_OK;
}

rp_status rp_store_command_create(rp_store *st, const rp_store_command *c, rp_store_done_fn done,
				  void *ctx)
{
	rp__store_val a[5];

	if (c == NULL) {
		return RP_E_INVALID_ARG;
	}
	TRY(rp__store_text(&a[0], c->id, RP_LIMIT_STORE_ID_LEN, 0));
	TRY(rp__store_text(&a[1], c->device_id, RP_LIMIT_STORE_ID_LEN, 0));
	TRY(rp__store_text(&a[2], c->name, RP_LIMIT_STORE_TEXT_LEN, 0));
	TRY(rp__store_text(&a[3], c->args != NULL ? c->args : "", RP_LIMIT_STORE_JSON_LEN, 1));
	TRY(rp__store_time(&a[4], c->created_ms));
	return rp__store_submit(
		st,
		&(rp__store_req){
			.name = "command_create", .sql = &q_cmd_create, .args = a, .nargs = 5},
		done, ctx);
}

rp_status rp_store_command_set_status(rp_store *st, const char *id, rp_store_cmd_status status,
				      rp_store_done_fn done, void *ctx)
{
	rp__store_val a[2];
	const char *s = cmd_status_text(status);

	if (s == NULL) {
		return RP_E_INVALID_ARG;
	}
	TRY(rp__store_text(&a[0], id, RP_LIMIT_STORE_ID_LEN, 0));
	TRY(rp__store_text(&a[1], s, RP_LIMIT_STORE_TEXT_LEN, 0));
	return rp__store_submit(st,
				&(rp__store_req){.name = "command_set_status",
						 .sql = &q_cmd_status,
						 .flags = RP__F_CHANGE,
						 .args = a,
						 .nargs = 2},
				done, ctx);
}

rp_status rp_store_command_set_result(rp_store *st, const char *id, rp_store_cmd_status status,
				      const char *result, int64_t time_ms, rp_store_done_fn done,
				      void *ctx)
{
	rp__store_val a[4];
	const char *s = cmd_status_text(status);

	if (s == NULL) {
		return RP_E_INVALID_ARG;
	}
	TRY(rp__store_text(&a[0], id, RP_LIMIT_STORE_ID_LEN, 0));
	TRY(rp__store_text(&a[1], s, RP_LIMIT_STORE_TEXT_LEN, 0));
	TRY(rp__store_text(&a[2], result != NULL ? result : "", RP_LIMIT_STORE_JSON_LEN, 1));
	TRY(rp__store_time(&a[3], time_ms));
	return rp__store_submit(st,
				&(rp__store_req){.name = "command_set_result",
						 .sql = &q_cmd_result,
						 .flags = RP__F_CHANGE,
						 .args = a,
						 .nargs = 4},
				done, ctx);
}

rp_status rp_store_command_get(rp_store *st, const char *id, rp_store_command **out,
			       rp_store_done_fn done, void *ctx)
{
	rp__store_val a[1];

	if (out == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	TRY(rp__store_text(&a[0], id, RP_LIMIT_STORE_ID_LEN, 0));
	return rp__store_submit(st,
				&(rp__store_req){.name = "command_get",
						 .sql = &q_cmd_get,
						 .decode = decode_command,
						 .flags = RP__F_ONE,
						 .args = a,
						 .nargs = 1,
						 .out = (void **)out},
				done, ctx);
}

rp_status rp_store_command_list(rp_store *st, const char *device_id, int64_t after_created_ms,
				const char *after_id, size_t limit, rp_store_command **out,
				size_t *n, rp_store_done_fn done, void *ctx)
{
	rp__store_val a[4];

	if (out == NULL || n == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	*n = 0;
	TRY(rp__store_text(&a[0], device_id, RP_LIMIT_STORE_ID_LEN, 0));
	if (after_id == NULL) {
		rp__store_int(&a[1], -1); /* before every row: times are >= 0 */
		TRY(rp__store_text(&a[2], "", 0, 1));
	} else {
		TRY(rp__store_time(&a[1], after_created_ms));
		TRY(rp__store_text(&a[2], after_id, RP_LIMIT_STORE_ID_LEN, 1));
	}
	TRY(rp__store_limit(&a[3], limit, RP_LIMIT_STORE_PAGE));
	return rp__store_submit(st,
				&(rp__store_req){.name = "command_list",
						 .sql = &q_cmd_list,
						 .decode = decode_command,
						 .args = a,
						 .nargs = 4,
						 .out = (void **)out,
						 .out_n = n},
				done, ctx);
}

/* ------------------------------------------------------------------------
 * Alerts
 * ------------------------------------------------------------------------ */

static const rp__store_sql q_alert_add = {
	RP__SQL_ALERT_ADD,
	"INSERT INTO alerts (device_id, kind, severity, detail, created_ms) "
	"VALUES ($1, $2, $3, $4, $5) RETURNING id",
	NULL};
static const rp__store_sql q_alert_list = {
	RP__SQL_ALERT_LIST,
	"SELECT id, device_id, kind, severity, detail, created_ms, ack_by, ack_ms FROM alerts "
	"WHERE id < $1 AND (CAST($2 AS TEXT) = '' OR device_id = $2) "
	"AND (CAST($3 AS TEXT) = '' OR kind = $3) AND severity >= $4 "
	"AND (CAST($5 AS INTEGER) = 0 OR ack_ms = 0) ORDER BY id DESC LIMIT $6",
	NULL};
static const rp__store_sql q_alert_ack = {
	RP__SQL_ALERT_ACK,
	"UPDATE alerts SET ack_by = $2, ack_ms = $3 WHERE id = $1 AND ack_ms = 0", NULL};
static const rp__store_sql q_alert_exists = {RP__SQL_ALERT_EXISTS,
					     "SELECT 1 FROM alerts WHERE id = $1", NULL};

static rp_status run_alert_add(rp__store_db *db, rp__store_op *op)
{
	rp__store_state *w = op->work;
	int r;

	TRY(db->be->query(db, &q_alert_add, op->args, op->nargs));
	r = db->be->next(db);
	if (r == 1) {
		w->i = db->be->col_int(db, 0);
	}
	db->be->end(db);
	if (r < 0) {
		return db->err;
	}
	return r == 1 ? RP_OK : RP_E_INTERNAL;
}

rp_status rp_store_alert_add(rp_store *st, const rp_store_alert *al, int64_t *id,
			     rp_store_done_fn done, void *ctx)
{
	rp__store_val a[5];

	if (al == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (id != NULL) {
		*id = 0;
	}
	TRY(rp__store_text(&a[0], al->device_id, RP_LIMIT_STORE_ID_LEN, 0));
	TRY(rp__store_text(&a[1], al->kind, RP_LIMIT_STORE_TEXT_LEN, 0));
	if (al->severity < RP_STORE_SEV_INFO || al->severity > RP_STORE_SEV_CRITICAL) {
		return RP_E_INVALID_ARG;
	}
	rp__store_int(&a[2], (int64_t)al->severity);
	TRY(rp__store_text(&a[3], al->detail != NULL ? al->detail : "", RP_LIMIT_STORE_JSON_LEN,
			   1));
	TRY(rp__store_time(&a[4], al->created_ms));
	return rp__store_submit(st,
				&(rp__store_req){.name = "alert_add",
						 .run = run_alert_add,
						 .args = a,
						 .nargs = 5,
						 .out_i = id},
				done, ctx);
}

static rp_status decode_alert(rp__store_db *db, rp__store_op *op)
{
	rp_store_alert *al = rp__res_row(op, sizeof(*al));

	if (al == NULL) {
		return RP_E_NOMEM;
	}
	al->id = db->be->col_int(db, 0);
	al->device_id = rp__col_str(db, op, 1);
	al->kind = rp__col_str(db, op, 2);
	al->severity = (rp_store_severity)db->be->col_int(db, 3);
	al->detail = rp__col_str(db, op, 4);
	al->created_ms = db->be->col_int(db, 5);
	al->ack_by = rp__col_str(db, op, 6);
	al->ack_ms = db->be->col_int(db, 7);
	return op->nomem ? RP_E_NOMEM : RP_OK;
}

rp_status rp_store_alert_list(rp_store *st, const rp_store_alert_filter *f, rp_store_alert **out,
			      size_t *n, rp_store_done_fn done, void *ctx)
{
	rp__store_val a[6];

	if (f == NULL || out == NULL || n == NULL || f->before_id < 0) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	*n = 0;
	if (f->min_severity < RP_STORE_SEV_ANY || f->min_severity > RP_STORE_SEV_CRITICAL) {
		return RP_E_INVALID_ARG;
	}
	rp__store_int(&a[0], f->before_id == 0 ? INT64_MAX : f->before_id);
	TRY(rp__store_text(&a[1], f->device_id != NULL ? f->device_id : "", RP_LIMIT_STORE_ID_LEN,
			   1));
	TRY(rp__store_text(&a[2], f->kind != NULL ? f->kind : "", RP_LIMIT_STORE_TEXT_LEN, 1));
	rp__store_int(&a[3], (int64_t)f->min_severity);
	rp__store_int(&a[4], f->unacked_only != 0);
	TRY(rp__store_limit(&a[5], f->limit, RP_LIMIT_STORE_PAGE));
	return rp__store_submit(st,
				&(rp__store_req){.name = "alert_list",
						 .sql = &q_alert_list,
						 .decode = decode_alert,
						 .args = a,
						 .nargs = 6,
						 .out = (void **)out,
						 .out_n = n},
				done, ctx);
}

static rp_status run_alert_ack(rp__store_db *db, rp__store_op *op)
{
	uint64_t changes = 0;
	rp_status st;

	TRY(rp__store_run(db, &q_alert_ack, op->args, 3, &changes));
	if (changes > 0) {
		return RP_OK;
	}
	/* Nothing changed: acknowledged already (RP_E_STATE), or no such alert. */
	st = rp__store_exists(db, &q_alert_exists, op->args, 1);
	return st == RP_OK ? RP_E_STATE : st;
}

rp_status rp_store_alert_ack(rp_store *st, int64_t id, const char *operator_name, int64_t time_ms,
			     rp_store_done_fn done, void *ctx)
{
	rp__store_val a[3];

	if (id <= 0) {
		return RP_E_INVALID_ARG;
	}
	rp__store_int(&a[0], id);
	TRY(rp__store_text(&a[1], operator_name, RP_LIMIT_STORE_ID_LEN, 0));
	TRY(rp__store_time(&a[2], time_ms));
	return rp__store_submit(
		st,
		&(rp__store_req){.name = "alert_ack", .run = run_alert_ack, .args = a, .nargs = 3},
		done, ctx);
}
