/*
 * devices.c - devices (with their tags) and certificates.
 *
 * Tags live in their own table (device_tags), indexed by tag, so a filter
 * by tag is an index lookup. A device's tags come back with it as one
 * aggregated column joined by ','; that is why a tag is printable ASCII
 * without ',' or space (checked at submission).
 */
#include "store/internal.h"

#include <stdlib.h>
#include <string.h>

#define TRY(expr) RP__TRY(expr)

#define DEVICE_COLS                                                                                \
	"d.id, d.status, d.model, d.firmware, d.created_ms, d.last_seen_ms, d.last_addr, "
#define TAGS_LITE "(SELECT group_concat(t.tag, ',') FROM device_tags t WHERE t.device_id = d.id)"
#define TAGS_PG                                                                                    \
	"(SELECT string_agg(t.tag, ',' ORDER BY t.tag) FROM device_tags t WHERE t.device_id = "    \
	"d.id)"

static const rp__store_sql q_seen = {
	RP__SQL_DEVICE_SEEN,
	"INSERT INTO devices (id, status, created_ms, last_seen_ms, last_addr) "
	"VALUES ($1, 'active', $3, $3, $2) "
	"ON CONFLICT (id) DO UPDATE SET last_seen_ms = excluded.last_seen_ms, "
	"last_addr = excluded.last_addr WHERE excluded.last_seen_ms >= devices.last_seen_ms",
	NULL};

static const rp__store_sql q_get = {
	RP__SQL_DEVICE_GET, "SELECT " DEVICE_COLS TAGS_LITE " FROM devices d WHERE d.id = $1",
	"SELECT " DEVICE_COLS TAGS_PG " FROM devices d WHERE d.id = $1"};

#define DEVICE_FILTER                                                                              \
	" FROM devices d WHERE d.id > $1"                                                          \
	" AND (CAST($2 AS TEXT) = '' OR d.status = $2)"                                            \
	" AND (CAST($3 AS TEXT) = '' OR d.model = $3)"                                             \
	" AND (CAST($4 AS TEXT) = '' OR d.firmware = $4)"                                          \
	" AND (CAST($5 AS TEXT) = '' OR EXISTS (SELECT 1 FROM device_tags f"                       \
	" WHERE f.device_id = d.id AND f.tag = $5))"                                               \
	" ORDER BY d.id LIMIT $6"

static const rp__store_sql q_list = {RP__SQL_DEVICE_LIST,
				     "SELECT " DEVICE_COLS TAGS_LITE DEVICE_FILTER,
				     "SELECT " DEVICE_COLS TAGS_PG DEVICE_FILTER};

static const rp__store_sql q_exists = {RP__SQL_DEVICE_EXISTS, "SELECT 1 FROM devices WHERE id = $1",
				       NULL};
static const rp__store_sql q_tags_clear = {RP__SQL_DEVICE_TAGS_CLEAR,
					   "DELETE FROM device_tags WHERE device_id = $1", NULL};
static const rp__store_sql q_tag_add = {
	RP__SQL_DEVICE_TAG_ADD,
	"INSERT INTO device_tags (device_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING", NULL};
static const rp__store_sql q_set_status = {RP__SQL_DEVICE_SET_STATUS,
					   "UPDATE devices SET status = $2 WHERE id = $1", NULL};
static const rp__store_sql q_set_info = {RP__SQL_DEVICE_SET_INFO,
					 "UPDATE devices SET model = COALESCE($2, model), "
					 "firmware = COALESCE($3, firmware) WHERE id = $1",
					 NULL};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static rp_status decode_device(rp__store_db *db, rp__store_op *op)
{
	rp_store_device *d = rp__res_row(op, sizeof(*d));
	const char *tags;
	size_t len, n = 0;
	char *copy;
	const char **v;

	if (d == NULL) {
		return RP_E_NOMEM;
	}
	d->id = rp__col_str(db, op, 0);
	d->status = rp__device_status_from(db->be->col_text(db, 1, &len));
	d->model = rp__col_str(db, op, 2);
	d->firmware = rp__col_str(db, op, 3);
	d->created_ms = db->be->col_int(db, 4);
	d->last_seen_ms = db->be->col_int(db, 5);
	d->last_addr = rp__col_str(db, op, 6);
	tags = db->be->col_text(db, 7, &len);
	if (tags != NULL && len > 0) {
		copy = rp__res_copy(op, tags, len);
		if (op->nomem) {
			return RP_E_NOMEM;
		}
		for (size_t i = 0; i < len; i++) {
			n += tags[i] == ',';
		}
		n++;
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
		/* SQLite's group_concat has no order of its own. */
		qsort(v, n, sizeof(*v), cmp_str);
		d->tags = v;
		d->ntags = n;
	}
	return op->nomem ? RP_E_NOMEM : RP_OK;
}

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

rp_status rp_store_device_seen(rp_store *st, const char *id, const char *addr, int64_t now_ms,
			       rp_store_done_fn done, void *ctx)
{
	rp__store_val a[3];

	TRY(rp__store_text(&a[0], id, RP_LIMIT_STORE_ID_LEN, 0));
	TRY(rp__store_text(&a[1], addr != NULL ? addr : "", RP_LIMIT_STORE_ADDR_LEN, 1));
	TRY(rp__store_time(&a[2], now_ms));
	return rp__store_submit(
		st, &(rp__store_req){.name = "device_seen", .sql = &q_seen, .args = a, .nargs = 3},
		done, ctx);
}

rp_status rp_store_device_get(rp_store *st, const char *id, rp_store_device **out,
			      rp_store_done_fn done, void *ctx)
{
	rp__store_val a[1];

	if (out == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	TRY(rp__store_text(&a[0], id, RP_LIMIT_STORE_ID_LEN, 0));
	return rp__store_submit(st,
				&(rp__store_req){.name = "device_get",
						 .sql = &q_get,
						 .decode = decode_device,
						 .flags = RP__F_ONE,
						 .args = a,
						 .nargs = 1,
						 .out = (void **)out},
				done, ctx);
}

rp_status rp_store_device_list(rp_store *st, const rp_store_device_filter *f, rp_store_device **out,
			       size_t *n, rp_store_done_fn done, void *ctx)
{
	rp__store_val a[6];
	const char *status;

	if (f == NULL || out == NULL || n == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	*n = 0;
	if (f->status == RP_STORE_DEVICE_ANY) {
		status = "";
	} else if ((status = rp__device_status_text(f->status)) == NULL) {
		return RP_E_INVALID_ARG;
	}
	TRY(rp__store_text(&a[0], f->after_id != NULL ? f->after_id : "", RP_LIMIT_STORE_ID_LEN,
			   1));
	TRY(rp__store_text(&a[1], status, RP_LIMIT_STORE_TEXT_LEN, 1));
	TRY(rp__store_text(&a[2], f->model != NULL ? f->model : "", RP_LIMIT_STORE_TEXT_LEN, 1));
	TRY(rp__store_text(&a[3], f->firmware != NULL ? f->firmware : "", RP_LIMIT_STORE_TEXT_LEN,
			   1));
	if (f->tag != NULL) {
		TRY(check_tag(&a[4], f->tag));
	} else {
		TRY(rp__store_text(&a[4], "", 0, 1));
	}
	TRY(rp__store_limit(&a[5], f->limit, RP_LIMIT_STORE_PAGE));
	return rp__store_submit(st,
				&(rp__store_req){.name = "device_list",
						 .sql = &q_list,
						 .decode = decode_device,
						 .args = a,
						 .nargs = 6,
						 .out = (void **)out,
						 .out_n = n},
				done, ctx);
}

static rp_status run_set_tags(rp__store_db *db, rp__store_op *op)
{
	rp__store_val v[2];

	TRY(rp__store_exists(db, &q_exists, op->args, 1));
	TRY(rp__store_run(db, &q_tags_clear, op->args, 1, NULL));
	v[0] = op->args[0];
	for (size_t i = 1; i < op->nargs; i++) {
		v[1] = op->args[i];
		TRY(rp__store_run(db, &q_tag_add, v, 2, NULL));
	}
	return RP_OK;
}

rp_status rp_store_device_set_tags(rp_store *st, const char *id, const char *const *tags,
				   size_t ntags, rp_store_done_fn done, void *ctx)
{
	rp__store_val a[1 + RP_LIMIT_STORE_TAGS];

	if (ntags > RP_LIMIT_STORE_TAGS) {
		return RP_E_LIMIT;
	}
	if (tags == NULL && ntags > 0) {
		return RP_E_INVALID_ARG;
	}
	TRY(rp__store_text(&a[0], id, RP_LIMIT_STORE_ID_LEN, 0));
	for (size_t i = 0; i < ntags; i++) {
		TRY(check_tag(&a[1 + i], tags[i]));
	}
	return rp__store_submit(st,
				&(rp__store_req){.name = "device_set_tags",
						 .run = run_set_tags,
						 .args = a,
						 .nargs = 1 + ntags},
				done, ctx);
}

rp_status rp_store_device_set_status(rp_store *st, const char *id, rp_store_device_status status,
				     rp_store_done_fn done, void *ctx)
{
	rp__store_val a[2];
	const char *s = rp__device_status_text(status);

	if (s == NULL) {
		return RP_E_INVALID_ARG;
	}
	TRY(rp__store_text(&a[0], id, RP_LIMIT_STORE_ID_LEN, 0));
	TRY(rp__store_text(&a[1], s, RP_LIMIT_STORE_TEXT_LEN, 0));
	return rp__store_submit(st,
				&(rp__store_req){.name = "device_set_status",
						 .sql = &q_set_status,
						 .flags = RP__F_CHANGE,
						 .args = a,
						 .nargs = 2},
				done, ctx);
}

rp_status rp_store_device_set_info(rp_store *st, const char *id, const char *model,
				   const char *firmware, rp_store_done_fn done, void *ctx)
{
	rp__store_val a[3];

	TRY(rp__store_text(&a[0], id, RP_LIMIT_STORE_ID_LEN, 0));
	TRY(rp__store_opt_text(&a[1], model, RP_LIMIT_STORE_TEXT_LEN));
	TRY(rp__store_opt_text(&a[2], firmware, RP_LIMIT_STORE_TEXT_LEN));
	return rp__store_submit(st,
				&(rp__store_req){.name = "device_set_info",
						 .sql = &q_set_info,
						 .flags = RP__F_CHANGE,
						 .args = a,
						 .nargs = 3},
				done, ctx);
}

/* ------------------------------------------------------------------------
 * Certificates
 * ------------------------------------------------------------------------ */

#define CERT_COLS                                                                                  \
	"SELECT serial, device_id, fingerprint, not_after_ms, status, revoked_at_ms, reason FROM " \
	"certificates "

static const rp__store_sql q_cert_add = {
	RP__SQL_CERT_ADD,
	"INSERT INTO certificates (serial, device_id, fingerprint, not_after_ms, status, "
	"revoked_at_ms) VALUES ($1, $2, $3, $4, 'valid', 0)",
	NULL};
static const rp__store_sql q_cert_get = {RP__SQL_CERT_GET, CERT_COLS "WHERE serial = $1", NULL};
static const rp__store_sql q_cert_list = {
	RP__SQL_CERT_LIST_DEVICE,
	CERT_COLS "WHERE device_id = $1 AND serial > $2 ORDER BY serial LIMIT $3", NULL};
static const rp__store_sql q_cert_revoke = {
	RP__SQL_CERT_REVOKE,
	"UPDATE certificates SET status = 'revoked', revoked_at_ms = $2, reason = $3 "
	"WHERE serial = $1 AND status = 'valid'",
	NULL};
static const rp__store_sql q_cert_revoked = {
	RP__SQL_CERT_LIST_REVOKED,
	CERT_COLS "WHERE status = 'revoked' AND serial > $1 AND not_after_ms >= $2 "
		  "ORDER BY serial LIMIT $3",
	NULL};

static rp_status decode_cert(rp__store_db *db, rp__store_op *op)
{
	rp_store_cert *c = rp__res_row(op, sizeof(*c));
	size_t len;
	const char *s;

	if (c == NULL) {
		return RP_E_NOMEM;
	}
	c->serial = rp__col_str(db, op, 0);
	c->device_id = rp__col_str(db, op, 1);
	c->fingerprint = rp__col_str(db, op, 2);
	c->not_after_ms = db->be->col_int(db, 3);
	s = db->be->col_text(db, 4, &len);
	c->status = s != NULL && strcmp(s, "revoked") == 0 ? RP_STORE_CERT_REVOKED
							   : RP_STORE_CERT_VALID;
	c->revoked_at_ms = db->be->col_int(db, 5);
	c->reason = (int)db->be->col_int(db, 6);
	return op->nomem ? RP_E_NOMEM : RP_OK;
}

rp_status rp_store_cert_add(rp_store *st, const rp_store_cert *c, rp_store_done_fn done, void *ctx)
{
	rp__store_val a[4];

	if (c == NULL) {
		return RP_E_INVALID_ARG;
	}
	TRY(rp__store_hex(&a[0], c->serial, 1, RP_LIMIT_STORE_SERIAL_LEN));
	TRY(rp__store_text(&a[1], c->device_id, RP_LIMIT_STORE_ID_LEN, 0));
	TRY(rp__store_hex(&a[2], c->fingerprint, 64, 64));
	TRY(rp__store_time(&a[3], c->not_after_ms));
	return rp__store_submit(
		st, &(rp__store_req){.name = "cert_add", .sql = &q_cert_add, .args = a, .nargs = 4},
		done, ctx);
}

rp_status rp_store_cert_get(rp_store *st, const char *serial, rp_store_cert **out,
			    rp_store_done_fn done, void *ctx)
{
	rp__store_val a[1];

	if (out == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	TRY(rp__store_hex(&a[0], serial, 1, RP_LIMIT_STORE_SERIAL_LEN));
	return rp__store_submit(st,
				&(rp__store_req){.name = "cert_get",
						 .sql = &q_cert_get,
						 .decode = decode_cert,
						 .flags = RP__F_ONE,
						 .args = a,
						 .nargs = 1,
						 .out = (void **)out},
				done, ctx);
}

rp_status rp_store_cert_list_device(rp_store *st, const char *device_id, const char *after_serial,
				    size_t limit, rp_store_cert **out, size_t *n,
				    rp_store_done_fn done, void *ctx)
{
	rp__store_val a[3];

	if (out == NULL || n == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	*n = 0;
	TRY(rp__store_text(&a[0], device_id, RP_LIMIT_STORE_ID_LEN, 0));
	TRY(rp__store_hex(&a[1], after_serial != NULL ? after_serial : "", 0,
			  RP_LIMIT_STORE_SERIAL_LEN));
	TRY(rp__store_limit(&a[2], limit, RP_LIMIT_STORE_PAGE));
	return rp__store_submit(st,
				&(rp__store_req){.name = "cert_list_device",
						 .sql = &q_cert_list,
						 .decode = decode_cert,
						 .args = a,
						 .nargs = 3,
						 .out = (void **)out,
						 .out_n = n},
				done, ctx);
}

static rp_status run_cert_revoke(rp__store_db *db, rp__store_op *op)
{
	uint64_t changes = 0;

	TRY(rp__store_run(db, &q_cert_revoke, op->args, 3, &changes));
	if (changes > 0) {
		return RP_OK;
	}
	/* Nothing changed: revoked already (RP_OK), or no such serial. */
	return rp__store_exists(db, &q_cert_get, op->args, 1);
}

rp_status rp_store_cert_revoke_reason(rp_store *st, const char *serial, int64_t time_ms, int reason,
				      rp_store_done_fn done, void *ctx)
{
	rp__store_val a[3];

	if (reason < -1 || reason > 10 || reason == 7) {
		return RP_E_INVALID_ARG;
	}
	TRY(rp__store_hex(&a[0], serial, 1, RP_LIMIT_STORE_SERIAL_LEN));
	TRY(rp__store_time(&a[1], time_ms));
	rp__store_int(&a[2], reason);
	return rp__store_submit(
		st,
		&(rp__store_req){
			.name = "cert_revoke", .run = run_cert_revoke, .args = a, .nargs = 3},
		done, ctx);
}

rp_status rp_store_cert_revoke(rp_store *st, const char *serial, int64_t time_ms,
			       rp_store_done_fn done, void *ctx)
{
	return rp_store_cert_revoke_reason(st, serial, time_ms, -1, done, ctx);
}

rp_status rp_store_cert_list_revoked(rp_store *st, const char *after_serial,
				     int64_t not_after_min_ms, size_t limit, rp_store_cert **out,
				     size_t *n, rp_store_done_fn done, void *ctx)
{
	rp__store_val a[3];

	if (out == NULL || n == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	*n = 0;
	TRY(rp__store_hex(&a[0], after_serial != NULL ? after_serial : "", 0,
			  RP_LIMIT_STORE_SERIAL_LEN));
	TRY(rp__store_time(&a[1], not_after_min_ms));
	TRY(rp__store_limit(&a[2], limit, RP_LIMIT_STORE_PAGE));
	return rp__store_submit(st,
				&(rp__store_req){.name = "cert_list_revoked",
						 .sql = &q_cert_revoked,
						 .decode = decode_cert,
						 .args = a,
						 .nargs = 3,
						 .out = (void **)out,
						 .out_n = n},
				done, ctx);
}

/* ------------------------------------------------------------------------
 * CRL numbers
 * ------------------------------------------------------------------------ */

/* One statement, so two writers cannot both read the same last number. */
static const rp__store_sql q_crl_number = {
	RP__SQL_CRL_NUMBER_NEXT,
	"INSERT INTO crl_numbers (issuer, number) VALUES ($1, $2) ON CONFLICT (issuer) DO UPDATE "
	"SET number = max(crl_numbers.number + 1, excluded.number) RETURNING number",
	"INSERT INTO crl_numbers (issuer, number) VALUES ($1, $2) ON CONFLICT (issuer) DO UPDATE "
	"SET number = GREATEST(crl_numbers.number + 1, excluded.number) RETURNING number"};

static rp_status run_crl_number(rp__store_db *db, rp__store_op *op)
{
	rp__store_state *w = op->work;
	int r;

	TRY(db->be->query(db, &q_crl_number, op->args, op->nargs));
	r = db->be->next(db);
	if (r == 1) {
		w->i = db->be->col_int(db, 0);
	}
	db->be->end(db);
	if (r < 0) {
		return db->err;
	}
	return r == 1 && w->i >= 1 ? RP_OK : RP_E_INTERNAL;
}

rp_status rp_store_crl_number_next(rp_store *st, const char *issuer, int64_t min, int64_t *number,
				   rp_store_done_fn done, void *ctx)
{
	rp__store_val a[2];

	if (number == NULL || min < 1 || min == INT64_MAX) {
		return RP_E_INVALID_ARG;
	}
	*number = 0;
	TRY(rp__store_text(&a[0], issuer, RP_LIMIT_STORE_ID_LEN, 0));
	rp__store_int(&a[1], min);
	return rp__store_submit(st,
				&(rp__store_req){.name = "crl_number_next",
						 .run = run_crl_number,
						 .args = a,
						 .nargs = 2,
						 .out_i = number},
				done, ctx);
}
