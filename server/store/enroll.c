/*
 * enroll.c - enrollment tokens and enrollments (EST, docs/est.md).
 *
 * Implementation notes
 * - A token row keeps the SHA-256 of the token's text, never the text. Its
 *   tags are one column joined by ',' (a tag is printable ASCII without
 *   ',' or space, as device tags: checked at submission).
 * - rp_store_enroll() is one operation, so one transaction: the checks
 *   (device state, the renewed certificate, the token's use) come before
 *   any write, as internal.h requires of a soft status. The token's use is
 *   a compare-and-set (UPDATE ... WHERE uses < max_uses AND not revoked
 *   AND not expired): on PostgreSQL the row lock and the re-evaluation of
 *   the WHERE under READ COMMITTED make two enrollments racing for the last
 *   use serialise, and the loser changes no row; on SQLite the storage
 *   thread is the only writer. The CHECK (uses <= max_uses) of the table
 *   is the database's own guard behind it. The device and certificate rows
 *   read first are locked (FOR UPDATE) on PostgreSQL, so a revocation
 *   committed by another node meanwhile waits for this transaction or is
 *   seen by it.
 */
#include "store/internal.h"

#include <string.h>

#define TRY(expr) RP__TRY(expr)

/* Room for the tags of one token joined by ',', NUL included. */
#define TAGS_TEXT_CAP (RP_LIMIT_STORE_TAGS * (RP_LIMIT_STORE_TAG_LEN + 1u) + 1u)

#define ENR_COLS                                                                                   \
	"SELECT id, token_hash, device, prefix, max_uses, uses, model, tags, created_by, "         \
	"created_ms, expires_ms, revoked_ms FROM enroll_tokens "

static const rp__store_sql q_enr_create = {
	RP__SQL_ENR_CREATE,
	"INSERT INTO enroll_tokens (id, token_hash, device, prefix, max_uses, uses, model, tags, "
	"created_by, created_ms, expires_ms, revoked_ms) "
	"VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, $9, $10, 0)",
	NULL};
static const rp__store_sql q_enr_get = {RP__SQL_ENR_GET, ENR_COLS "WHERE token_hash = $1", NULL};
static const rp__store_sql q_enr_list = {RP__SQL_ENR_LIST,
					 ENR_COLS "WHERE id > $1 ORDER BY id LIMIT $2", NULL};
static const rp__store_sql q_enr_revoke = {
	RP__SQL_ENR_REVOKE,
	"UPDATE enroll_tokens SET revoked_ms = $2 WHERE id = $1 AND revoked_ms = 0", NULL};
static const rp__store_sql q_enr_exists = {RP__SQL_ENR_EXISTS,
					   "SELECT 1 FROM enroll_tokens WHERE id = $1", NULL};
static const rp__store_sql q_enr_use = {
	RP__SQL_ENR_USE,
	"UPDATE enroll_tokens SET uses = uses + 1 WHERE token_hash = $1 AND uses < max_uses "
	"AND revoked_ms = 0 AND expires_ms > $2",
	NULL};
static const rp__store_sql q_enr_device = {RP__SQL_ENR_DEVICE,
					   "SELECT status FROM devices WHERE id = $1",
					   "SELECT status FROM devices WHERE id = $1 FOR UPDATE"};
static const rp__store_sql q_enr_device_new = {
	RP__SQL_ENR_DEVICE_NEW,
	"INSERT INTO devices (id, status, model, created_ms) VALUES ($1, 'active', $2, $3)", NULL};
static const rp__store_sql q_enr_device_model = {
	RP__SQL_ENR_DEVICE_MODEL, "UPDATE devices SET model = $2 WHERE id = $1", NULL};
static const rp__store_sql q_enr_tags_clear = {
	RP__SQL_ENR_TAGS_CLEAR, "DELETE FROM device_tags WHERE device_id = $1", NULL};
static const rp__store_sql q_enr_tag_add = {
	RP__SQL_ENR_TAG_ADD,
	"INSERT INTO device_tags (device_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING", NULL};
static const rp__store_sql q_enr_cert = {
	RP__SQL_ENR_CERT, "SELECT device_id, status FROM certificates WHERE serial = $1",
	"SELECT device_id, status FROM certificates WHERE serial = $1 FOR UPDATE"};
static const rp__store_sql q_enr_cert_add = {
	RP__SQL_ENR_CERT_ADD,
	"INSERT INTO certificates (serial, device_id, fingerprint, not_after_ms, status, "
	"revoked_at_ms) VALUES ($1, $2, $3, $4, 'valid', 0)",
	NULL};

/* A tag as devices.c takes it: printable ASCII without ',' or space. */
static rp_status check_tag(rp__store_val *v, const char *tag)
{
	TRY(rp__store_text(v, tag, RP_LIMIT_STORE_TAG_LEN, 0));
	for (size_t i = 0; i < v->len; i++) {
		unsigned char c = (unsigned char)tag[i];

		if (c <= 0x20 || c >= 0x7f || c == ',') {
			return RP_E_INVALID_ARG;
		}
	}
	return RP_OK;
}

/* Checks tags[0 .. n) and joins them with ',' into out (TAGS_TEXT_CAP bytes). */
static rp_status join_tags(const char *const *tags, size_t n, char *out)
{
	rp__store_val v;
	size_t used = 0;

	out[0] = '\0';
	if (n > RP_LIMIT_STORE_TAGS) {
		return RP_E_LIMIT;
	}
	if (tags == NULL && n > 0) {
		return RP_E_INVALID_ARG;
	}
	for (size_t i = 0; i < n; i++) {
		TRY(check_tag(&v, tags[i]));
		if (i > 0) {
			out[used++] = ',';
		}
		memcpy(out + used, tags[i], v.len);
		used += v.len;
	}
	out[used] = '\0';
	return RP_OK;
}

/* ------------------------------------------------------------------------
 * Tokens
 * ------------------------------------------------------------------------ */

static rp_status decode_enroll_token(rp__store_db *db, rp__store_op *op)
{
	rp_store_enroll_token *t = rp__res_row(op, sizeof(*t));
	const char *tags;
	char *copy;
	const char **v;
	size_t len, n = 1;

	if (t == NULL) {
		return RP_E_NOMEM;
	}
	t->id = rp__col_str(db, op, 0);
	t->token_hash = rp__col_str(db, op, 1);
	t->device = rp__col_str(db, op, 2);
	t->prefix = db->be->col_int(db, 3) != 0;
	t->max_uses = db->be->col_int(db, 4);
	t->uses = db->be->col_int(db, 5);
	t->model = rp__col_str(db, op, 6);
	t->created_by = rp__col_str(db, op, 8);
	t->created_ms = db->be->col_int(db, 9);
	t->expires_ms = db->be->col_int(db, 10);
	t->revoked_ms = db->be->col_int(db, 11);
	tags = db->be->col_text(db, 7, &len);
	if (tags != NULL && len > 0) {
		copy = rp__res_copy(op, tags, len);
		if (op->nomem) {
			return RP_E_NOMEM;
		}
		for (size_t i = 0; i < len; i++) {
			n += tags[i] == ',';
		}
		v = rp__res_ptrs(op, n);
		if (v == NULL || op->nomem) {
			return RP_E_NOMEM;
		}
		n = 0;
		v[n++] = copy;
		for (size_t i = 0; i < len; i++) {
			if (copy[i] == ',') {
				copy[i] = '\0';
				v[n++] = copy + i + 1;
			}
		}
		t->tags = v;
		t->ntags = n;
	}
	return op->nomem ? RP_E_NOMEM : RP_OK;
}

rp_status rp_store_enroll_token_create(rp_store *st, const rp_store_enroll_token *t,
				       rp_store_done_fn done, void *ctx)
{
	char tags[TAGS_TEXT_CAP];
	rp__store_val a[10];

	if (t == NULL || t->max_uses < 1 || t->max_uses > (int64_t)RP_LIMIT_EST_TOKEN_USES ||
	    (t->prefix != 0 && t->prefix != 1)) {
		return RP_E_INVALID_ARG;
	}
	TRY(rp__store_text(&a[0], t->id, RP_LIMIT_STORE_ID_LEN, 0));
	TRY(rp__store_hex(&a[1], t->token_hash, 64, 64));
	TRY(rp__store_text(&a[2], t->device, RP_LIMIT_STORE_ID_LEN, 0));
	rp__store_int(&a[3], t->prefix);
	rp__store_int(&a[4], t->max_uses);
	TRY(rp__store_text(&a[5], t->model != NULL ? t->model : "", RP_LIMIT_STORE_TEXT_LEN, 1));
	TRY(join_tags(t->tags, t->ntags, tags));
	TRY(rp__store_text(&a[6], tags, TAGS_TEXT_CAP, 1));
	TRY(rp__store_text(&a[7], t->created_by, RP_LIMIT_STORE_ID_LEN, 0));
	TRY(rp__store_time(&a[8], t->created_ms));
	TRY(rp__store_time(&a[9], t->expires_ms));
	return rp__store_submit(st,
				&(rp__store_req){.name = "enroll_token_create",
						 .sql = &q_enr_create,
						 .args = a,
						 .nargs = 10},
				done, ctx);
}

rp_status rp_store_enroll_token_get_by_hash(rp_store *st, const char *token_hash,
					    rp_store_enroll_token **out, rp_store_done_fn done,
					    void *ctx)
{
	rp__store_val a[1];

	if (out == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	TRY(rp__store_hex(&a[0], token_hash, 64, 64));
	return rp__store_submit(st,
				&(rp__store_req){.name = "enroll_token_get",
						 .sql = &q_enr_get,
						 .decode = decode_enroll_token,
						 .flags = RP__F_ONE,
						 .args = a,
						 .nargs = 1,
						 .out = (void **)out},
				done, ctx);
}

rp_status rp_store_enroll_token_list(rp_store *st, const char *after_id, size_t limit,
				     rp_store_enroll_token **out, size_t *n, rp_store_done_fn done,
				     void *ctx)
{
	rp__store_val a[2];

	if (out == NULL || n == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	*n = 0;
	TRY(rp__store_text(&a[0], after_id != NULL ? after_id : "", RP_LIMIT_STORE_ID_LEN, 1));
	TRY(rp__store_limit(&a[1], limit, RP_LIMIT_STORE_PAGE));
	return rp__store_submit(st,
				&(rp__store_req){.name = "enroll_token_list",
						 .sql = &q_enr_list,
						 .decode = decode_enroll_token,
						 .args = a,
						 .nargs = 2,
						 .out = (void **)out,
						 .out_n = n},
				done, ctx);
}

static rp_status run_enr_revoke(rp__store_db *db, rp__store_op *op)
{
	uint64_t changes = 0;

	TRY(rp__store_run(db, &q_enr_revoke, op->args, 2, &changes));
	if (changes > 0) {
		return RP_OK;
	}
	/* Nothing changed: revoked already (RP_OK), or no such token. */
	return rp__store_exists(db, &q_enr_exists, op->args, 1);
}

rp_status rp_store_enroll_token_revoke(rp_store *st, const char *id, int64_t time_ms,
				       rp_store_done_fn done, void *ctx)
{
	rp__store_val a[2];

	TRY(rp__store_text(&a[0], id, RP_LIMIT_STORE_ID_LEN, 0));
	TRY(rp__store_time(&a[1], time_ms));
	return rp__store_submit(st,
				&(rp__store_req){.name = "enroll_token_revoke",
						 .run = run_enr_revoke,
						 .args = a,
						 .nargs = 2},
				done, ctx);
}

/* ------------------------------------------------------------------------
 * Enrollments
 * ------------------------------------------------------------------------ */

/* Argument slots of rp_store_enroll(); the tags follow A_TAGS. */
enum {
	A_DEVICE,
	A_TOKEN, /* text, or NULL */
	A_RENEW, /* text, or NULL */
	A_MODEL, /* text, or NULL */
	A_SET_TAGS,
	A_SERIAL,
	A_FINGERPRINT,
	A_NOT_AFTER,
	A_NOW,
	A_TAGS
};

/*
 * Whether the device exists (*exists) and may enroll: RP_OK, RP_E_STATE
 * (revoked or decommissioned), or the back end's error.
 */
static rp_status device_state(rp__store_db *db, const rp__store_val *id, int *exists)
{
	const char *s;
	size_t len;
	rp_status st = RP_OK;
	int r;

	*exists = 0;
	TRY(db->be->query(db, &q_enr_device, id, 1));
	r = db->be->next(db);
	if (r < 0) {
		st = db->err;
		goto out;
	}
	if (r == 1) {
		*exists = 1;
		s = db->be->col_text(db, 0, &len);
		if (s == NULL || rp__device_status_from(s) == RP_STORE_DEVICE_REVOKED ||
		    rp__device_status_from(s) == RP_STORE_DEVICE_DECOMMISSIONED) {
			st = RP_E_STATE;
		}
	}
out:
	db->be->end(db);
	return st;
}

/* The renewed certificate: this device's and valid, else RP_E_DENIED. */
static rp_status renewed_cert_ok(rp__store_db *db, const rp__store_val *serial,
				 const rp__store_val *device)
{
	const char *dev, *status;
	size_t dlen = 0, slen = 0;
	rp_status st = RP_E_DENIED;
	int r;

	TRY(db->be->query(db, &q_enr_cert, serial, 1));
	r = db->be->next(db);
	if (r < 0) {
		st = db->err;
		goto out;
	}
	if (r == 1) {
		dev = db->be->col_text(db, 0, &dlen);
		status = db->be->col_text(db, 1, &slen);
		if (dev != NULL && status != NULL && dlen == device->len &&
		    memcmp(dev, device->p, dlen) == 0 && strcmp(status, "valid") == 0) {
			st = RP_OK;
		}
	}
out:
	db->be->end(db);
	return st;
}

static rp_status run_enroll(rp__store_db *db, rp__store_op *op)
{
	const rp__store_val *a = op->args;
	rp__store_val v[4];
	uint64_t changes = 0;
	int exists = 0;

	/* Checks first: nothing is written before a soft refusal. */
	TRY(device_state(db, &a[A_DEVICE], &exists));
	if (a[A_RENEW].t != RP__V_NULL) {
		TRY(renewed_cert_ok(db, &a[A_RENEW], &a[A_DEVICE]));
	}
	if (a[A_TOKEN].t != RP__V_NULL) {
		v[0] = a[A_TOKEN];
		v[1] = a[A_NOW];
		TRY(rp__store_run(db, &q_enr_use, v, 2, &changes));
		if (changes == 0) {
			return RP_E_DENIED; /* used up, expired or revoked meanwhile */
		}
	}
	/* Writes. */
	v[0] = a[A_DEVICE];
	if (!exists) {
		v[1] = a[A_MODEL];
		if (v[1].t == RP__V_NULL) {
			v[1].t = RP__V_TEXT;
			v[1].p = "";
			v[1].len = 0;
		}
		v[2] = a[A_NOW];
		TRY(rp__store_run(db, &q_enr_device_new, v, 3, NULL));
	} else if (a[A_MODEL].t != RP__V_NULL) {
		v[1] = a[A_MODEL];
		TRY(rp__store_run(db, &q_enr_device_model, v, 2, NULL));
	}
	if (a[A_SET_TAGS].i != 0) {
		TRY(rp__store_run(db, &q_enr_tags_clear, v, 1, NULL));
		for (size_t i = A_TAGS; i < op->nargs; i++) {
			v[1] = a[i];
			TRY(rp__store_run(db, &q_enr_tag_add, v, 2, NULL));
		}
	}
	v[0] = a[A_SERIAL];
	v[1] = a[A_DEVICE];
	v[2] = a[A_FINGERPRINT];
	v[3] = a[A_NOT_AFTER];
	return rp__store_run(db, &q_enr_cert_add, v, 4, NULL);
}

rp_status rp_store_enroll(rp_store *st, const rp_store_enrollment *e, rp_store_done_fn done,
			  void *ctx)
{
	rp__store_val a[A_TAGS + RP_LIMIT_STORE_TAGS];

	if (e == NULL) {
		return RP_E_INVALID_ARG;
	}
	memset(a, 0, sizeof(a));
	if (e->set_tags && e->ntags > RP_LIMIT_STORE_TAGS) {
		return RP_E_LIMIT;
	}
	if (e->set_tags && e->tags == NULL && e->ntags > 0) {
		return RP_E_INVALID_ARG;
	}
	TRY(rp__store_text(&a[A_DEVICE], e->device_id, RP_LIMIT_STORE_ID_LEN, 0));
	if (e->token_hash != NULL) {
		TRY(rp__store_hex(&a[A_TOKEN], e->token_hash, 64, 64));
	} else {
		a[A_TOKEN].t = RP__V_NULL;
	}
	if (e->renew_serial != NULL) {
		TRY(rp__store_hex(&a[A_RENEW], e->renew_serial, 1, RP_LIMIT_STORE_SERIAL_LEN));
	} else {
		a[A_RENEW].t = RP__V_NULL;
	}
	TRY(rp__store_opt_text(&a[A_MODEL], e->model, RP_LIMIT_STORE_TEXT_LEN));
	rp__store_int(&a[A_SET_TAGS], e->set_tags != 0);
	TRY(rp__store_hex(&a[A_SERIAL], e->cert.serial, 1, RP_LIMIT_STORE_SERIAL_LEN));
	TRY(rp__store_hex(&a[A_FINGERPRINT], e->cert.fingerprint, 64, 64));
	TRY(rp__store_time(&a[A_NOT_AFTER], e->cert.not_after_ms));
	TRY(rp__store_time(&a[A_NOW], e->now_ms));
	for (size_t i = 0; e->set_tags && i < e->ntags; i++) {
		TRY(check_tag(&a[A_TAGS + i], e->tags[i]));
	}
	return rp__store_submit(st,
				&(rp__store_req){.name = "enroll",
						 .run = run_enroll,
						 .args = a,
						 .nargs = A_TAGS + (e->set_tags ? e->ntags : 0)},
				done, ctx);
}
