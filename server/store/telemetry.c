/*
 * telemetry.c - the hot path (batch insert), series queries, aggregates
 * and retention.
 *
 * One insert operation holds a whole batch (a SenML pack): its records are
 * copied into the operation in one allocation, nine arguments per record,
 * laid out as the INSERT's parameters. It is a bulk insert (internal.h):
 * the storage thread gives the rows of all consecutive insert operations
 * of its group commit to the back end at once. SQLite runs the one-row
 * INSERT per row (a function call each); PostgreSQL sends them all in one
 * INSERT ... SELECT FROM unnest(arrays), one round trip, instead of one
 * round trip per row. The batch is atomic: a record for an unknown device
 * fails the operation (SQLite: the foreign key; PostgreSQL: the statement's
 * own check, the same 23503), not the others of its group commit (the storage thread
 * splits the group and runs each alone).
 *
 * Retention deletes by rowid in chunks, one transaction per chunk, and
 * queues itself again behind whatever arrived meanwhile.
 */
#include "store/internal.h"

#include <math.h>
#include <string.h>

#define TRY(expr) RP__TRY(expr)

/* Arguments per record, in the order of q_insert's parameters. */
#define REC_ARGS 9

#define INSERT_COLS                                                                                \
	"INSERT INTO telemetry (device_id, name, time_ms, kind, v_num, v_str, v_bool, v_data, "    \
	"unit) "

/* The columns' types, for PostgreSQL's arrays (kind and v_bool are SMALLINT:
 * INSERT casts the bigints). */
static const rp__store_vtype insert_types[REC_ARGS] = {
	RP__V_TEXT, RP__V_TEXT, RP__V_INT,  RP__V_INT,  RP__V_REAL,
	RP__V_TEXT, RP__V_INT,  RP__V_BLOB, RP__V_TEXT,
};

static const rp__store_bulk q_insert = {
	.one = {RP__SQL_TM_INSERT, INSERT_COLS "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", NULL},
	/* PostgreSQL has no foreign key on telemetry (schema version 4): the
	 * devices named are locked as a foreign key would lock them, and a row
	 * whose device is not found fails the statement with 23503 as the
	 * foreign key did (rp_telemetry_no_device() raises it; a CASE, so it
	 * runs only for such a row). The statement must fail rather than skip
	 * the row: pg.c may send the COMMIT with it. Rows go in in the order
	 * of the arrays (the queue's), whatever the plan: ids follow it. */
	.many = {RP__SQL_TM_INSERT_MANY,
		 "WITH d AS (SELECT id FROM devices WHERE id = ANY ($1::text[]) FOR KEY "
		 "SHARE) " INSERT_COLS
		 "SELECT u.device_id, u.name, u.time_ms, u.kind, u.v_num, u.v_str, "
		 "u.v_bool, u.v_data, u.unit FROM unnest($1::text[], $2::text[], "
		 "$3::bigint[], $4::bigint[], $5::float8[], $6::text[], $7::bigint[], "
		 "$8::bytea[], $9::text[]) WITH ORDINALITY AS u (device_id, name, "
		 "time_ms, kind, v_num, v_str, v_bool, v_data, unit, n) "
		 "WHERE CASE WHEN u.device_id IN (SELECT id FROM d) THEN true "
		 "ELSE rp_telemetry_no_device(u.device_id) END ORDER BY u.n",
		 NULL},
	.ncols = REC_ARGS,
	.types = insert_types,
};

#define SERIES_COLS "SELECT id, time_ms, kind, v_num, v_str, v_bool, v_data, unit FROM telemetry "
static const rp__store_sql q_query_asc = {
	RP__SQL_TM_QUERY_ASC,
	SERIES_COLS "WHERE device_id = $1 AND name = $2 AND time_ms >= $3 AND time_ms < $4 "
		    "AND (time_ms > $5 OR (time_ms = $5 AND id > $6)) "
		    "ORDER BY time_ms, id LIMIT $7",
	NULL};
static const rp__store_sql q_query_desc = {
	RP__SQL_TM_QUERY_DESC,
	SERIES_COLS "WHERE device_id = $1 AND name = $2 AND time_ms >= $3 AND time_ms < $4 "
		    "AND (time_ms < $5 OR (time_ms = $5 AND id < $6)) "
		    "ORDER BY time_ms DESC, id DESC LIMIT $7",
	NULL};

static const rp__store_sql q_aggregate = {
	RP__SQL_TM_AGGREGATE,
	"SELECT (time_ms - $3) / $5 AS bucket, MIN(v_num), MAX(v_num), AVG(v_num), COUNT(v_num) "
	"FROM telemetry WHERE device_id = $1 AND name = $2 AND time_ms >= $3 AND time_ms < $4 "
	"AND kind = 0 GROUP BY bucket ORDER BY bucket",
	NULL};

/* PostgreSQL's telemetry has no index on id (schema version 4): by ctid. */
static const rp__store_sql q_expire = {
	RP__SQL_TM_EXPIRE,
	"DELETE FROM telemetry WHERE id IN (SELECT id FROM telemetry WHERE time_ms < $1 LIMIT $2)",
	"DELETE FROM telemetry WHERE ctid = ANY (ARRAY (SELECT ctid FROM telemetry "
	"WHERE time_ms < $1 LIMIT $2))"};

/* The nine checked arguments of one record. */
static rp_status point_args(const rp_store_point *p, rp__store_val v[REC_ARGS])
{
	memset(v, 0, REC_ARGS * sizeof(*v));
	TRY(rp__store_text(&v[0], p->device, RP_LIMIT_STORE_ID_LEN, 0));
	TRY(rp__store_text(&v[1], p->name, RP_LIMIT_STORE_TEXT_LEN, 0));
	TRY(rp__store_time(&v[2], p->time_ms));
	rp__store_int(&v[3], (int64_t)p->kind);
	switch (p->kind) {
	case RP_STORE_NUM:
		if (!isfinite(p->num)) {
			return RP_E_INVALID_ARG;
		}
		v[4].t = RP__V_REAL;
		v[4].d = p->num;
		break;
	case RP_STORE_STR:
		TRY(rp__store_text(&v[5], p->str, RP_LIMIT_STORE_VALUE_LEN, 1));
		break;
	case RP_STORE_BOOL:
		if (p->boolean != 0 && p->boolean != 1) {
			return RP_E_INVALID_ARG;
		}
		rp__store_int(&v[6], p->boolean);
		break;
	case RP_STORE_DATA:
		TRY(rp__store_blob(&v[7], p->data, p->data_len, RP_LIMIT_STORE_VALUE_LEN));
		break;
	default:
		return RP_E_INVALID_ARG;
	}
	TRY(rp__store_text(&v[8], p->unit != NULL ? p->unit : "", RP_LIMIT_STORE_TEXT_LEN, 1));
	return RP_OK;
}

rp_status rp_store_telemetry_insert(rp_store *st, const rp_store_point *pts, size_t n,
				    rp_store_done_fn done, void *ctx)
{
	rp__store_val v[REC_ARGS];
	rp__store_op *op;
	size_t bytes = 0;
	char *data;

	if (st == NULL || pts == NULL || n == 0) {
		return RP_E_INVALID_ARG;
	}
	if (n > RP_LIMIT_STORE_RECORDS) {
		return RP_E_LIMIT;
	}
	for (size_t i = 0; i < n; i++) {
		TRY(point_args(&pts[i], v));
		for (size_t k = 0; k < REC_ARGS; k++) {
			bytes += rp__store_val_bytes(&v[k]);
		}
	}
	op = rp__store_op_new(&(rp__store_req){.name = "telemetry_insert", .bulk = &q_insert},
			      n * REC_ARGS, bytes, &data);
	if (op == NULL) {
		return RP_E_NOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		(void)point_args(&pts[i], v); /* checked above */
		for (size_t k = 0; k < REC_ARGS; k++) {
			rp__store_val_copy(&op->args[i * REC_ARGS + k], &v[k], &data);
		}
	}
	return rp__store_op_queue(st, op, done, ctx);
}

static rp_status decode_point(rp__store_db *db, rp__store_op *op)
{
	rp_store_point *p = rp__res_row(op, sizeof(*p));
	const rp_store_point *first;
	size_t len;

	if (p == NULL) {
		return RP_E_NOMEM;
	}
	/* Every row is of the same series: one copy of its names. */
	if (rp__res_count(op->rows) == 1) {
		p->device = rp__res_copy(op, op->args[0].p, op->args[0].len);
		p->name = rp__res_copy(op, op->args[1].p, op->args[1].len);
	} else {
		first = op->rows;
		p->device = first->device;
		p->name = first->name;
	}
	p->seq = db->be->col_int(db, 0);
	p->time_ms = db->be->col_int(db, 1);
	p->kind = (rp_store_kind)db->be->col_int(db, 2);
	switch (p->kind) {
	case RP_STORE_NUM:
		p->num = db->be->col_real(db, 3);
		break;
	case RP_STORE_STR:
		p->str = rp__col_str(db, op, 4);
		break;
	case RP_STORE_BOOL:
		p->boolean = db->be->col_int(db, 5) != 0;
		break;
	case RP_STORE_DATA:
	default:
		p->data = rp__col_mem(db, op, 6, &len);
		p->data_len = len;
		break;
	}
	p->unit = rp__col_str(db, op, 7);
	return op->nomem ? RP_E_NOMEM : RP_OK;
}

rp_status rp_store_telemetry_query(rp_store *st, const rp_store_series_query *q,
				   rp_store_point **out, size_t *n, rp_store_done_fn done,
				   void *ctx)
{
	rp__store_val a[7];

	if (q == NULL || out == NULL || n == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	*n = 0;
	TRY(rp__store_text(&a[0], q->device, RP_LIMIT_STORE_ID_LEN, 0));
	TRY(rp__store_text(&a[1], q->name, RP_LIMIT_STORE_TEXT_LEN, 0));
	TRY(rp__store_time(&a[2], q->from_ms));
	if (q->to_ms < 0) {
		return RP_E_INVALID_ARG;
	}
	rp__store_int(&a[3], q->to_ms);
	if (q->has_cursor) {
		rp__store_int(&a[4], q->after_time_ms);
		rp__store_int(&a[5], q->after_seq);
	} else {
		/* Before every row in the chosen order (times are >= 0). */
		rp__store_int(&a[4], q->descending ? INT64_MAX : -1);
		rp__store_int(&a[5], 0);
	}
	TRY(rp__store_limit(&a[6], q->limit, RP_LIMIT_STORE_SERIES_ROWS));
	return rp__store_submit(
		st,
		&(rp__store_req){.name = "telemetry_query",
				 .sql = q->descending ? &q_query_desc : &q_query_asc,
				 .decode = decode_point,
				 .args = a,
				 .nargs = 7,
				 .out = (void **)out,
				 .out_n = n},
		done, ctx);
}

static rp_status decode_bucket(rp__store_db *db, rp__store_op *op)
{
	rp_store_agg_row *r = rp__res_row(op, sizeof(*r));

	if (r == NULL) {
		return RP_E_NOMEM;
	}
	/* from + bucket * interval stays below to: no overflow. */
	r->start_ms = op->args[2].i + db->be->col_int(db, 0) * op->args[4].i;
	r->min = db->be->col_real(db, 1);
	r->max = db->be->col_real(db, 2);
	r->avg = db->be->col_real(db, 3);
	r->count = (uint64_t)db->be->col_int(db, 4);
	return RP_OK;
}

rp_status rp_store_telemetry_aggregate(rp_store *st, const rp_store_agg_query *q,
				       rp_store_agg_row **out, size_t *n, rp_store_done_fn done,
				       void *ctx)
{
	rp__store_val a[5];
	uint64_t span, buckets;

	if (q == NULL || out == NULL || n == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	*n = 0;
	TRY(rp__store_text(&a[0], q->device, RP_LIMIT_STORE_ID_LEN, 0));
	TRY(rp__store_text(&a[1], q->name, RP_LIMIT_STORE_TEXT_LEN, 0));
	TRY(rp__store_time(&a[2], q->from_ms));
	if (q->to_ms <= q->from_ms || q->interval_ms <= 0) {
		return RP_E_INVALID_ARG;
	}
	span = (uint64_t)q->to_ms - (uint64_t)q->from_ms;
	buckets = span / (uint64_t)q->interval_ms + (span % (uint64_t)q->interval_ms != 0);
	if (buckets > RP_LIMIT_STORE_BUCKETS) {
		return RP_E_LIMIT;
	}
	rp__store_int(&a[3], q->to_ms);
	rp__store_int(&a[4], q->interval_ms);
	return rp__store_submit(st,
				&(rp__store_req){.name = "telemetry_aggregate",
						 .sql = &q_aggregate,
						 .decode = decode_bucket,
						 .args = a,
						 .nargs = 5,
						 .out = (void **)out,
						 .out_n = n},
				done, ctx);
}

static rp_status run_expire(rp__store_db *db, rp__store_op *op)
{
	rp__store_state *w = op->work;
	uint64_t changes = 0;

	TRY(rp__store_run(db, &q_expire, op->args, 2, &changes));
	w->u += changes;
	w->more = changes >= (uint64_t)op->args[1].i;
	return RP_OK;
}

static void after_chunk(rp__store_op *op)
{
	op->again = ((const rp__store_state *)op->state)->more;
}

rp_status rp_store_telemetry_expire(rp_store *st, int64_t before_ms, uint64_t *deleted,
				    rp_store_done_fn done, void *ctx)
{
	rp__store_val a[2];

	if (st == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (deleted != NULL) {
		*deleted = 0;
	}
	TRY(rp__store_time(&a[0], before_ms));
	rp__store_int(&a[1], (int64_t)rp__store_retention_chunk(st));
	return rp__store_submit(st,
				&(rp__store_req){.name = "telemetry_expire",
						 .run = run_expire,
						 .after = after_chunk,
						 .args = a,
						 .nargs = 2,
						 .out_u = deleted},
				done, ctx);
}
