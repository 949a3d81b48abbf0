/*
 * accounts.c - operators, API tokens and web sessions.
 *
 * Password hashes and TOTP secrets are opaque here (server/auth makes and
 * checks them); they are never logged, and every copy the store makes is
 * wiped when freed (operations and result blocks are freed with
 * rp_free_secret, stack copies with rp_wipe).
 *
 * An operator update is read-change-write in one transaction; on
 * PostgreSQL the read locks the row (FOR UPDATE), so two nodes updating
 * the same operator (a failed-login count, a TOTP step) serialise.
 */
#include "store/internal.h"

#include <string.h>

#include "util/alloc.h"

#define TRY(expr) RP__TRY(expr)

#define OPR_COLS                                                                                   \
	"SELECT name, role, password_hash, totp_secret, totp_required, totp_last_step, "           \
	"failed_logins, locked_until_ms, created_ms, last_login_ms, disabled FROM operators "

static const rp__store_sql q_opr_create = {
	RP__SQL_OPR_CREATE,
	"INSERT INTO operators (name, role, password_hash, totp_secret, totp_required, "
	"totp_last_step, failed_logins, locked_until_ms, created_ms, last_login_ms, disabled) "
	"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
	NULL};
static const rp__store_sql q_opr_get = {RP__SQL_OPR_GET, OPR_COLS "WHERE name = $1", NULL};
static const rp__store_sql q_opr_get_lock = {RP__SQL_OPR_GET_LOCK, OPR_COLS "WHERE name = $1",
					     OPR_COLS "WHERE name = $1 FOR UPDATE"};
static const rp__store_sql q_opr_list = {RP__SQL_OPR_LIST,
					 OPR_COLS "WHERE name > $1 ORDER BY name LIMIT $2", NULL};
static const rp__store_sql q_opr_update = {
	RP__SQL_OPR_UPDATE,
	"UPDATE operators SET role = $2, password_hash = $3, totp_secret = $4, totp_required = $5, "
	"totp_last_step = $6, failed_logins = $7, locked_until_ms = $8, last_login_ms = $9, "
	"disabled = $10 WHERE name = $1",
	NULL};

static rp_status decode_operator(rp__store_db *db, rp__store_op *op)
{
	rp_store_operator *o = rp__res_row(op, sizeof(*o));
	size_t len;

	if (o == NULL) {
		return RP_E_NOMEM;
	}
	o->name = rp__col_str(db, op, 0);
	o->role = rp__role_from(db->be->col_text(db, 1, &len));
	o->password_hash = rp__col_str(db, op, 2);
	o->totp_secret = rp__col_mem(db, op, 3, &o->totp_secret_len);
	o->totp_required = db->be->col_int(db, 4) != 0;
	o->totp_last_step = db->be->col_int(db, 5);
	o->failed_logins = db->be->col_int(db, 6);
	o->locked_until_ms = db->be->col_int(db, 7);
	o->created_ms = db->be->col_int(db, 8);
	o->last_login_ms = db->be->col_int(db, 9);
	o->disabled = db->be->col_int(db, 10) != 0;
	return op->nomem ? RP_E_NOMEM : RP_OK;
}

static rp_status check_flag(rp__store_val *v, int flag)
{
	if (flag != 0 && flag != 1) {
		return RP_E_INVALID_ARG;
	}
	rp__store_int(v, flag);
	return RP_OK;
}

static rp_status check_count(rp__store_val *v, int64_t n)
{
	if (n < 0) {
		return RP_E_INVALID_ARG;
	}
	rp__store_int(v, n);
	return RP_OK;
}

static rp_status check_role(rp__store_val *v, rp_store_role r)
{
	const char *s = rp__role_text(r);

	if (s == NULL) {
		return RP_E_INVALID_ARG;
	}
	return rp__store_text(v, s, RP_LIMIT_STORE_TEXT_LEN, 0);
}

rp_status rp_store_operator_create(rp_store *st, const rp_store_operator *o, rp_store_done_fn done,
				   void *ctx)
{
	rp__store_val a[11];

	if (o == NULL) {
		return RP_E_INVALID_ARG;
	}
	TRY(rp__store_text(&a[0], o->name, RP_LIMIT_STORE_ID_LEN, 0));
	TRY(check_role(&a[1], o->role));
	TRY(rp__store_text(&a[2], o->password_hash, RP_LIMIT_STORE_TEXT_LEN, 1));
	TRY(rp__store_blob(&a[3], o->totp_secret, o->totp_secret_len, RP_LIMIT_STORE_SECRET_LEN));
	TRY(check_flag(&a[4], o->totp_required));
	TRY(check_count(&a[5], o->totp_last_step));
	TRY(check_count(&a[6], o->failed_logins));
	TRY(rp__store_time(&a[7], o->locked_until_ms));
	TRY(rp__store_time(&a[8], o->created_ms));
	TRY(rp__store_time(&a[9], o->last_login_ms));
	TRY(check_flag(&a[10], o->disabled));
	return rp__store_submit(
		st,
		&(rp__store_req){
			.name = "operator_create", .sql = &q_opr_create, .args = a, .nargs = 11},
		done, ctx);
}

rp_status rp_store_operator_get(rp_store *st, const char *name, rp_store_operator **out,
				rp_store_done_fn done, void *ctx)
{
	rp__store_val a[1];

	if (out == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	TRY(rp__store_text(&a[0], name, RP_LIMIT_STORE_ID_LEN, 0));
	return rp__store_submit(st,
				&(rp__store_req){.name = "operator_get",
						 .sql = &q_opr_get,
						 .decode = decode_operator,
						 .flags = RP__F_ONE,
						 .args = a,
						 .nargs = 1,
						 .out = (void **)out},
				done, ctx);
}

rp_status rp_store_operator_list(rp_store *st, const char *after_name, size_t limit,
				 rp_store_operator **out, size_t *n, rp_store_done_fn done,
				 void *ctx)
{
	rp__store_val a[2];

	if (out == NULL || n == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	*n = 0;
	TRY(rp__store_text(&a[0], after_name != NULL ? after_name : "", RP_LIMIT_STORE_ID_LEN, 1));
	TRY(rp__store_limit(&a[1], limit, RP_LIMIT_STORE_PAGE));
	return rp__store_submit(st,
				&(rp__store_req){.name = "operator_list",
						 .sql = &q_opr_list,
						 .decode = decode_operator,
						 .args = a,
						 .nargs = 2,
						 .out = (void **)out,
						 .out_n = n},
				done, ctx);
}

/* Update arguments: [0] name, [1] fields, then the new values. */
enum {
	UA_NAME,
	UA_FIELDS,
	UA_ROLE,
	UA_HASH,
	UA_SECRET,
	UA_REQUIRED,
	UA_STEP,
	UA_FAILED,
	UA_LOCKED,
	UA_LOGIN,
	UA_DISABLED,
	UA_COUNT
};

typedef struct opr_row {
	char role[16];
	char hash[RP_LIMIT_STORE_TEXT_LEN + 1];
	uint8_t secret[RP_LIMIT_STORE_SECRET_LEN];
	size_t hash_len, secret_len;
	int64_t required, step, failed, locked, login, disabled;
} opr_row;

/* Reads the locked row into r. RP_OK, RP_E_NOT_FOUND, or the back end's error. */
static rp_status read_operator(rp__store_db *db, rp__store_op *op, opr_row *r)
{
	const char *t;
	const uint8_t *b;
	size_t len;
	rp_status st = RP_OK;
	int n;

	TRY(db->be->query(db, &q_opr_get_lock, op->args, 1));
	n = db->be->next(db);
	if (n != 1) {
		st = n == 0 ? RP_E_NOT_FOUND : db->err;
		goto out;
	}
	t = db->be->col_text(db, 1, &len);
	if (t == NULL || len >= sizeof(r->role)) {
		st = RP_E_INTERNAL;
		goto out;
	}
	memcpy(r->role, t, len + 1u);
	t = db->be->col_text(db, 2, &len);
	b = db->be->col_blob(db, 3, &r->secret_len);
	if (t == NULL || len > RP_LIMIT_STORE_TEXT_LEN || b == NULL ||
	    r->secret_len > sizeof(r->secret)) {
		st = RP_E_INTERNAL; /* stored values beyond the limits: not ours */
		goto out;
	}
	memcpy(r->hash, t, len + 1u);
	r->hash_len = len;
	memcpy(r->secret, b, r->secret_len);
	r->required = db->be->col_int(db, 4);
	r->step = db->be->col_int(db, 5);
	r->failed = db->be->col_int(db, 6);
	r->locked = db->be->col_int(db, 7);
	r->login = db->be->col_int(db, 9);
	r->disabled = db->be->col_int(db, 10);
out:
	db->be->end(db);
	return st;
}

static rp_status run_opr_update(rp__store_db *db, rp__store_op *op)
{
	const rp__store_val *a = op->args;
	unsigned f = (unsigned)a[UA_FIELDS].i;
	rp__store_val v[10];
	opr_row r;
	rp_status st;

	memset(&r, 0, sizeof(r));
	st = read_operator(db, op, &r);
	if (st != RP_OK) {
		goto out;
	}
	if ((f & RP_STORE_OPF_TOTP_STEP) != 0) {
		if (a[UA_STEP].i <= r.step) {
			st = RP_E_DENIED; /* a replayed (or older) TOTP code */
			goto out;
		}
		r.step = a[UA_STEP].i;
	}
	v[0] = a[UA_NAME];
	v[1].t = RP__V_TEXT;
	v[1].p = r.role;
	v[1].len = strlen(r.role);
	if ((f & RP_STORE_OPF_ROLE) != 0) {
		v[1] = a[UA_ROLE];
	}
	v[2].t = RP__V_TEXT;
	v[2].p = r.hash;
	v[2].len = r.hash_len;
	if ((f & RP_STORE_OPF_PASSWORD) != 0) {
		v[2] = a[UA_HASH];
	}
	v[3].t = RP__V_BLOB;
	v[3].p = r.secret;
	v[3].len = r.secret_len;
	if ((f & RP_STORE_OPF_TOTP_SECRET) != 0) {
		v[3] = a[UA_SECRET];
	}
	rp__store_int(&v[4], (f & RP_STORE_OPF_TOTP_REQUIRED) != 0 ? a[UA_REQUIRED].i : r.required);
	rp__store_int(&v[5], r.step);
	if ((f & RP_STORE_OPF_FAILED) != 0) {
		r.failed = a[UA_FAILED].i;
	}
	if ((f & RP_STORE_OPF_FAILED_INC) != 0 && r.failed < INT64_MAX) {
		r.failed++;
	}
	rp__store_int(&v[6], r.failed);
	rp__store_int(&v[7], (f & RP_STORE_OPF_LOCKED_UNTIL) != 0 ? a[UA_LOCKED].i : r.locked);
	rp__store_int(&v[8], (f & RP_STORE_OPF_LAST_LOGIN) != 0 ? a[UA_LOGIN].i : r.login);
	rp__store_int(&v[9], (f & RP_STORE_OPF_DISABLED) != 0 ? a[UA_DISABLED].i : r.disabled);
	st = rp__store_run(db, &q_opr_update, v, 10, NULL);
out:
	rp_wipe(&r, sizeof(r));
	return st;
}

rp_status rp_store_operator_update(rp_store *st, const char *name, const rp_store_operator_patch *p,
				   rp_store_done_fn done, void *ctx)
{
	rp__store_val a[UA_COUNT];
	const rp_store_operator *v;

	if (p == NULL || (p->fields & ~0x3ffu) != 0) {
		return RP_E_INVALID_ARG;
	}
	v = &p->v;
	memset(a, 0, sizeof(a));
	TRY(rp__store_text(&a[UA_NAME], name, RP_LIMIT_STORE_ID_LEN, 0));
	rp__store_int(&a[UA_FIELDS], (int64_t)p->fields);
	if ((p->fields & RP_STORE_OPF_ROLE) != 0) {
		TRY(check_role(&a[UA_ROLE], v->role));
	}
	if ((p->fields & RP_STORE_OPF_PASSWORD) != 0) {
		TRY(rp__store_text(&a[UA_HASH], v->password_hash, RP_LIMIT_STORE_TEXT_LEN, 1));
	}
	if ((p->fields & RP_STORE_OPF_TOTP_SECRET) != 0) {
		TRY(rp__store_blob(&a[UA_SECRET], v->totp_secret, v->totp_secret_len,
				   RP_LIMIT_STORE_SECRET_LEN));
	}
	if ((p->fields & RP_STORE_OPF_TOTP_REQUIRED) != 0) {
		TRY(check_flag(&a[UA_REQUIRED], v->totp_required));
	}
	if ((p->fields & RP_STORE_OPF_TOTP_STEP) != 0) {
		TRY(check_count(&a[UA_STEP], v->totp_last_step));
	}
	if ((p->fields & RP_STORE_OPF_FAILED) != 0) {
		TRY(check_count(&a[UA_FAILED], v->failed_logins));
	}
	if ((p->fields & RP_STORE_OPF_LOCKED_UNTIL) != 0) {
		TRY(rp__store_time(&a[UA_LOCKED], v->locked_until_ms));
	}
	if ((p->fields & RP_STORE_OPF_LAST_LOGIN) != 0) {
		TRY(rp__store_time(&a[UA_LOGIN], v->last_login_ms));
	}
	if ((p->fields & RP_STORE_OPF_DISABLED) != 0) {
		TRY(check_flag(&a[UA_DISABLED], v->disabled));
	}
	return rp__store_submit(st,
				&(rp__store_req){.name = "operator_update",
						 .run = run_opr_update,
						 .args = a,
						 .nargs = UA_COUNT},
				done, ctx);
}

/* ------------------------------------------------------------------------
 * API tokens
 * ------------------------------------------------------------------------ */

#define TOK_COLS                                                                                   \
	"SELECT id, token_hash, operator, role, created_ms, expires_ms, revoked_ms FROM "          \
	"api_tokens "

static const rp__store_sql q_tok_create = {
	RP__SQL_TOK_CREATE,
	"INSERT INTO api_tokens (id, token_hash, operator, role, created_ms, expires_ms, "
	"revoked_ms) VALUES ($1, $2, $3, $4, $5, $6, 0)",
	NULL};
static const rp__store_sql q_tok_get = {RP__SQL_TOK_GET, TOK_COLS "WHERE token_hash = $1", NULL};
static const rp__store_sql q_tok_list = {
	RP__SQL_TOK_LIST, TOK_COLS "WHERE operator = $1 AND id > $2 ORDER BY id LIMIT $3", NULL};
static const rp__store_sql q_tok_revoke = {
	RP__SQL_TOK_REVOKE,
	"UPDATE api_tokens SET revoked_ms = $2 WHERE id = $1 AND revoked_ms = 0", NULL};
static const rp__store_sql q_tok_exists = {RP__SQL_TOK_EXISTS,
					   "SELECT 1 FROM api_tokens WHERE id = $1", NULL};

static rp_status decode_token(rp__store_db *db, rp__store_op *op)
{
	rp_store_token *t = rp__res_row(op, sizeof(*t));
	size_t len;

	if (t == NULL) {
		return RP_E_NOMEM;
	}
	t->id = rp__col_str(db, op, 0);
	t->token_hash = rp__col_str(db, op, 1);
	t->operator_name = rp__col_str(db, op, 2);
	t->role = rp__role_from(db->be->col_text(db, 3, &len));
	t->created_ms = db->be->col_int(db, 4);
	t->expires_ms = db->be->col_int(db, 5);
	t->revoked_ms = db->be->col_int(db, 6);
	return op->nomem ? RP_E_NOMEM : RP_OK;
}

rp_status rp_store_token_create(rp_store *st, const rp_store_token *t, rp_store_done_fn done,
				void *ctx)
{
	rp__store_val a[6];

	if (t == NULL) {
		return RP_E_INVALID_ARG;
	}
	TRY(rp__store_text(&a[0], t->id, RP_LIMIT_STORE_ID_LEN, 0));
	TRY(rp__store_hex(&a[1], t->token_hash, 64, 64));
	TRY(rp__store_text(&a[2], t->operator_name, RP_LIMIT_STORE_ID_LEN, 0));
	TRY(check_role(&a[3], t->role));
	TRY(rp__store_time(&a[4], t->created_ms));
	TRY(rp__store_time(&a[5], t->expires_ms));
	return rp__store_submit(
		st,
		&(rp__store_req){
			.name = "token_create", .sql = &q_tok_create, .args = a, .nargs = 6},
		done, ctx);
}

rp_status rp_store_token_get_by_hash(rp_store *st, const char *token_hash, rp_store_token **out,
				     rp_store_done_fn done, void *ctx)
{
	rp__store_val a[1];

	if (out == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	TRY(rp__store_hex(&a[0], token_hash, 64, 64));
	return rp__store_submit(st,
				&(rp__store_req){.name = "token_get",
						 .sql = &q_tok_get,
						 .decode = decode_token,
						 .flags = RP__F_ONE,
						 .args = a,
						 .nargs = 1,
						 .out = (void **)out},
				done, ctx);
}

rp_status rp_store_token_list(rp_store *st, const char *operator_name, const char *after_id,
			      size_t limit, rp_store_token **out, size_t *n, rp_store_done_fn done,
			      void *ctx)
{
	rp__store_val a[3];

	if (out == NULL || n == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	*n = 0;
	TRY(rp__store_text(&a[0], operator_name, RP_LIMIT_STORE_ID_LEN, 0));
	TRY(rp__store_text(&a[1], after_id != NULL ? after_id : "", RP_LIMIT_STORE_ID_LEN, 1));
	TRY(rp__store_limit(&a[2], limit, RP_LIMIT_STORE_PAGE));
	return rp__store_submit(st,
				&(rp__store_req){.name = "token_list",
						 .sql = &q_tok_list,
						 .decode = decode_token,
						 .args = a,
						 .nargs = 3,
						 .out = (void **)out,
						 .out_n = n},
				done, ctx);
}

static rp_status run_tok_revoke(rp__store_db *db, rp__store_op *op)
{
	uint64_t changes = 0;

	TRY(rp__store_run(db, &q_tok_revoke, op->args, 2, &changes));
	if (changes > 0) {
		return RP_OK;
	}
	return rp__store_exists(db, &q_tok_exists, op->args, 1);
}

rp_status rp_store_token_revoke(rp_store *st, const char *id, int64_t time_ms,
				rp_store_done_fn done, void *ctx)
{
	rp__store_val a[2];

	TRY(rp__store_text(&a[0], id, RP_LIMIT_STORE_ID_LEN, 0));
	TRY(rp__store_time(&a[1], time_ms));
	if (time_ms == 0) {
		return RP_E_INVALID_ARG; /* 0 means "not revoked" */
	}
	return rp__store_submit(
		st,
		&(rp__store_req){
			.name = "token_revoke", .run = run_tok_revoke, .args = a, .nargs = 2},
		done, ctx);
}

/* ------------------------------------------------------------------------
 * Web sessions
 * ------------------------------------------------------------------------ */

static const rp__store_sql q_ws_create = {
	RP__SQL_WS_CREATE,
	"INSERT INTO web_sessions (id_hash, operator, csrf_hash, created_ms, expires_ms) "
	"VALUES ($1, $2, $3, $4, $5)",
	NULL};
static const rp__store_sql q_ws_get = {
	RP__SQL_WS_GET,
	"SELECT id_hash, operator, csrf_hash, created_ms, expires_ms FROM web_sessions "
	"WHERE id_hash = $1",
	NULL};
static const rp__store_sql q_ws_delete = {RP__SQL_WS_DELETE,
					  "DELETE FROM web_sessions WHERE id_hash = $1", NULL};
static const rp__store_sql q_ws_expire = {RP__SQL_WS_EXPIRE,
					  "DELETE FROM web_sessions WHERE expires_ms < $1", NULL};

static rp_status decode_websession(rp__store_db *db, rp__store_op *op)
{
	rp_store_websession *w = rp__res_row(op, sizeof(*w));

	if (w == NULL) {
		return RP_E_NOMEM;
	}
	w->id_hash = rp__col_str(db, op, 0);
	w->operator_name = rp__col_str(db, op, 1);
	w->csrf_hash = rp__col_str(db, op, 2);
	w->created_ms = db->be->col_int(db, 3);
	w->expires_ms = db->be->col_int(db, 4);
	return op->nomem ? RP_E_NOMEM : RP_OK;
}

rp_status rp_store_websession_create(rp_store *st, const rp_store_websession *w,
				     rp_store_done_fn done, void *ctx)
{
	rp__store_val a[5];

	if (w == NULL) {
		return RP_E_INVALID_ARG;
	}
	TRY(rp__store_hex(&a[0], w->id_hash, 64, 64));
	TRY(rp__store_text(&a[1], w->operator_name, RP_LIMIT_STORE_ID_LEN, 0));
	TRY(rp__store_hex(&a[2], w->csrf_hash, 64, 64));
	TRY(rp__store_time(&a[3], w->created_ms));
	TRY(rp__store_time(&a[4], w->expires_ms));
	return rp__store_submit(
		st,
		&(rp__store_req){
			.name = "websession_create", .sql = &q_ws_create, .args = a, .nargs = 5},
		done, ctx);
}

rp_status rp_store_websession_get(rp_store *st, const char *id_hash, rp_store_websession **out,
				  rp_store_done_fn done, void *ctx)
{
	rp__store_val a[1];

	if (out == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	TRY(rp__store_hex(&a[0], id_hash, 64, 64));
	return rp__store_submit(st,
				&(rp__store_req){.name = "websession_get",
						 .sql = &q_ws_get,
						 .decode = decode_websession,
						 .flags = RP__F_ONE,
						 .args = a,
						 .nargs = 1,
						 .out = (void **)out},
				done, ctx);
}

rp_status rp_store_websession_delete(rp_store *st, const char *id_hash, rp_store_done_fn done,
				     void *ctx)
{
	rp__store_val a[1];

	TRY(rp__store_hex(&a[0], id_hash, 64, 64));
	return rp__store_submit(st,
				&(rp__store_req){.name = "websession_delete",
						 .sql = &q_ws_delete,
						 .flags = RP__F_CHANGE,
						 .args = a,
						 .nargs = 1},
				done, ctx);
}

rp_status rp_store_websession_expire(rp_store *st, int64_t now_ms, uint64_t *deleted,
				     rp_store_done_fn done, void *ctx)
{
	rp__store_val a[1];

	if (deleted != NULL) {
		*deleted = 0;
	}
	TRY(rp__store_time(&a[0], now_ms));
	return rp__store_submit(st,
				&(rp__store_req){.name = "websession_expire",
						 .sql = &q_ws_expire,
						 .flags = RP__F_COUNT,
						 .args = a,
						 .nargs = 1,
						 .out_u = deleted},
				done, ctx);
}
