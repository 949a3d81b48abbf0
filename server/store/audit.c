/*
 * audit.c - the append-only, hash-chained audit log.
 *
 * Chain (docs/store.md, "Audit chain", is the reference for verifiers):
 *   hash_0 = 32 zero bytes
 *   hash_n = SHA-256(hash_{n-1} || E(entry_n))
 *   E(e)   = "rampart-audit-v1"          (16 bytes, no terminator)
 *            || u64be(id) || u64be(time_ms as two's complement)
 *            || lp(actor) || lp(action) || lp(target) || lp(source) || lp(detail)
 *   lp(s)  = u32be(byte length of s) || the UTF-8 bytes of s
 * Ids are 1, 2, 3, ... without gaps: the store assigns id = head + 1 in
 * the transaction that inserts the entry, so a missing id is a deleted
 * entry. The head (audit_head: last id and hash) moves in that same
 * transaction; on PostgreSQL it is read FOR UPDATE, so appends from
 * several nodes wait for each other and stay one chain.
 *
 * What verification can and cannot see: any change to an entry (or its
 * stored hash) breaks the chain at that entry or the next; deletions leave
 * a gap in the ids; entries cut from the end disagree with the head. A
 * writer who rewrites every entry after a point and the head as well is
 * not detected by the database alone: export the head hash regularly
 * (rampart audit verify prints it) to anchor the chain elsewhere.
 *
 * The attacker: anyone with write access to the database but not to
 * rampartd's memory. The append-only triggers stop mistakes and SQL
 * injection; the chain is for the one who drops the triggers.
 */
#include "store/internal.h"

#include <openssl/evp.h>
#include <string.h>

#include "util/alloc.h"

#define TRY(expr) RP__TRY(expr)

#define AUDIT_TAG  "rampart-audit-v1"
#define AUDIT_PAGE 256

static const rp__store_sql q_head_lock = {
	RP__SQL_AUD_HEAD, "SELECT last_id, last_hash FROM audit_head WHERE one = 1",
	"SELECT last_id, last_hash FROM audit_head WHERE one = 1 FOR UPDATE"};
static const rp__store_sql q_insert = {
	RP__SQL_AUD_INSERT,
	"INSERT INTO audit_log (id, time_ms, actor, action, target, source, detail, hash) "
	"VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
	NULL};
static const rp__store_sql q_move_head = {
	RP__SQL_AUD_MOVE_HEAD, "UPDATE audit_head SET last_id = $1, last_hash = $2 WHERE one = 1",
	NULL};

#define AUDIT_COLS "SELECT id, time_ms, actor, action, target, source, detail, hash FROM audit_log "
#define AUDIT_FILTER                                                                               \
	"AND (CAST($2 AS TEXT) = '' OR actor = $2) AND (CAST($3 AS TEXT) = '' OR action = $3) "    \
	"AND (CAST($4 AS TEXT) = '' OR target = $4) AND time_ms >= $5 AND time_ms < $6 "
static const rp__store_sql q_query_asc = {
	RP__SQL_AUD_QUERY_ASC, AUDIT_COLS "WHERE id > $1 " AUDIT_FILTER "ORDER BY id LIMIT $7",
	NULL};
static const rp__store_sql q_query_desc = {
	RP__SQL_AUD_QUERY_DESC,
	AUDIT_COLS "WHERE id < $1 " AUDIT_FILTER "ORDER BY id DESC LIMIT $7", NULL};
static const rp__store_sql q_page = {
	RP__SQL_AUD_PAGE, AUDIT_COLS "WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3", NULL};

/* Fields of an entry as hashed, in order: actor, action, target, source, detail. */
typedef struct audit_fields {
	const char *s[5];
	size_t len[5];
} audit_fields;

static void put_be(uint8_t *p, uint64_t x, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (uint8_t)x;
		x >>= 8;
	}
}

/* out = SHA-256(prev || E(entry)). RP_OK or RP_E_NOMEM / RP_E_CRYPTO. */
static rp_status chain_hash(const uint8_t prev[32], int64_t id, int64_t time_ms,
			    const audit_fields *f, uint8_t out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t num[16], len[4];
	unsigned outlen = 0;
	rp_status st = RP_E_CRYPTO;
	int ok;

	if (md == NULL) {
		return RP_E_NOMEM;
	}
	put_be(num, (uint64_t)id, 8);
	put_be(num + 8, (uint64_t)time_ms, 8);
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(md, prev, 32) == 1 &&
	     EVP_DigestUpdate(md, AUDIT_TAG, strlen(AUDIT_TAG)) == 1 &&
	     EVP_DigestUpdate(md, num, sizeof(num)) == 1;
	for (int i = 0; ok && i < 5; i++) {
		put_be(len, f->len[i], 4);
		ok = EVP_DigestUpdate(md, len, sizeof(len)) == 1 &&
		     EVP_DigestUpdate(md, f->s[i], f->len[i]) == 1;
	}
	if (ok && EVP_DigestFinal_ex(md, out, &outlen) == 1 && outlen == 32) {
		st = RP_OK;
	}
	EVP_MD_CTX_free(md);
	return st;
}

static void to_hex(const uint8_t in[32], char out[65])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < 32; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[64] = '\0';
}

static int from_hex(const char *s, size_t len, uint8_t out[32])
{
	if (s == NULL || len != 64) {
		return 0;
	}
	for (int i = 0; i < 64; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

		if (v < 0) {
			return 0;
		}
		out[i / 2] = (uint8_t)(i % 2 == 0 ? v << 4 : out[i / 2] | v);
	}
	return 1;
}

/* Reads the head. RP_OK; RP_E_CRYPTO if its hash is not 64 hex digits. */
static rp_status read_head(rp__store_db *db, const rp__store_sql *q, int64_t *id, uint8_t hash[32])
{
	const char *h;
	size_t len = 0;
	rp_status st = RP_OK;
	int r;

	TRY(db->be->query(db, q, NULL, 0));
	r = db->be->next(db);
	if (r == 1) {
		*id = db->be->col_int(db, 0);
		h = db->be->col_text(db, 1, &len);
		if (!from_hex(h, len, hash)) {
			st = RP_E_CRYPTO;
		}
	} else {
		st = r == 0 ? RP_E_CRYPTO : db->err; /* the head row is gone */
	}
	db->be->end(db);
	return st;
}

/* Arguments: [0] time, [1] actor, [2] action, [3] target, [4] source, [5] detail. */
static rp_status run_append(rp__store_db *db, rp__store_op *op)
{
	rp__store_state *w = op->work;
	const rp__store_val *a = op->args;
	uint8_t prev[32], hash[32];
	char hex[65];
	rp__store_val v[8];
	audit_fields f;
	int64_t id = 0;

	TRY(read_head(db, &q_head_lock, &id, prev));
	if (id < 0 || id == INT64_MAX) {
		return RP_E_CRYPTO;
	}
	id++;
	for (int i = 0; i < 5; i++) {
		f.s[i] = a[1 + i].p;
		f.len[i] = a[1 + i].len;
	}
	TRY(chain_hash(prev, id, a[0].i, &f, hash));
	to_hex(hash, hex);
	rp__store_int(&v[0], id);
	for (int i = 0; i < 6; i++) {
		v[1 + i] = a[i];
	}
	v[7].t = RP__V_TEXT;
	v[7].p = hex;
	v[7].len = 64;
	TRY(rp__store_run(db, &q_insert, v, 8, NULL));
	TRY(rp__store_run(db, &q_move_head, (rp__store_val[2]){v[0], v[7]}, 2, NULL));
	w->i = id;
	return RP_OK;
}

rp_status rp_store_audit_append(rp_store *st, const rp_store_audit_entry *e, int64_t *id,
				rp_store_done_fn done, void *ctx)
{
	rp__store_val a[6];

	if (e == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (id != NULL) {
		*id = 0;
	}
	TRY(rp__store_time(&a[0], e->time_ms));
	TRY(rp__store_text(&a[1], e->actor, RP_LIMIT_STORE_ID_LEN, 0));
	TRY(rp__store_text(&a[2], e->action, RP_LIMIT_STORE_TEXT_LEN, 0));
	TRY(rp__store_text(&a[3], e->target != NULL ? e->target : "", RP_LIMIT_STORE_TEXT_LEN, 1));
	TRY(rp__store_text(&a[4], e->source != NULL ? e->source : "", RP_LIMIT_STORE_ADDR_LEN, 1));
	TRY(rp__store_text(&a[5], e->detail != NULL ? e->detail : "", RP_LIMIT_STORE_JSON_LEN, 1));
	return rp__store_submit(st,
				&(rp__store_req){.name = "audit_append",
						 .run = run_append,
						 .args = a,
						 .nargs = 6,
						 .out_i = id},
				done, ctx);
}

static rp_status decode_entry(rp__store_db *db, rp__store_op *op)
{
	rp_store_audit_entry *e = rp__res_row(op, sizeof(*e));

	if (e == NULL) {
		return RP_E_NOMEM;
	}
	e->id = db->be->col_int(db, 0);
	e->time_ms = db->be->col_int(db, 1);
	e->actor = rp__col_str(db, op, 2);
	e->action = rp__col_str(db, op, 3);
	e->target = rp__col_str(db, op, 4);
	e->source = rp__col_str(db, op, 5);
	e->detail = rp__col_str(db, op, 6);
	e->hash = rp__col_str(db, op, 7);
	return op->nomem ? RP_E_NOMEM : RP_OK;
}

rp_status rp_store_audit_query(rp_store *st, const rp_store_audit_filter *f,
			       rp_store_audit_entry **out, size_t *n, rp_store_done_fn done,
			       void *ctx)
{
	rp__store_val a[7];

	if (f == NULL || out == NULL || n == NULL || f->after_id < 0 || f->to_ms < 0) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	*n = 0;
	rp__store_int(&a[0], f->after_id == 0 && f->descending ? INT64_MAX : f->after_id);
	TRY(rp__store_text(&a[1], f->actor != NULL ? f->actor : "", RP_LIMIT_STORE_ID_LEN, 1));
	TRY(rp__store_text(&a[2], f->action != NULL ? f->action : "", RP_LIMIT_STORE_TEXT_LEN, 1));
	TRY(rp__store_text(&a[3], f->target != NULL ? f->target : "", RP_LIMIT_STORE_TEXT_LEN, 1));
	TRY(rp__store_time(&a[4], f->from_ms));
	rp__store_int(&a[5], f->to_ms == 0 ? INT64_MAX : f->to_ms);
	TRY(rp__store_limit(&a[6], f->limit, RP_LIMIT_STORE_PAGE));
	return rp__store_submit(
		st,
		&(rp__store_req){.name = "audit_query",
				 .sql = f->descending ? &q_query_desc : &q_query_asc,
				 .decode = decode_entry,
				 .args = a,
				 .nargs = 7,
				 .out = (void **)out,
				 .out_n = n},
		done, ctx);
}

/* ------------------------------------------------------------------------
 * Verification, one page per transaction
 * ------------------------------------------------------------------------ */

static const rp__store_sql q_head_read = {
	RP__SQL_AUD_HEAD_READ, "SELECT last_id, last_hash FROM audit_head WHERE one = 1", NULL};

typedef struct verify_state {
	rp__store_state base; /* i: first bad id (0: none); u: entries checked; more */
	int started;          /* the head has been read */
	int64_t head_id;
	uint8_t head_hash[32];
	int64_t last_id;  /* last entry found intact (0: none yet) */
	uint8_t prev[32]; /* its hash */
} verify_state;

/* Checks the current row against the chain; returns 0 if it breaks it. */
static int check_row(rp__store_db *db, verify_state *w)
{
	audit_fields f;
	uint8_t want[32], got[32];
	const char *h;
	size_t len;
	int64_t id = db->be->col_int(db, 0);

	if (id != w->last_id + 1) {
		w->base.i = w->last_id + 1; /* deleted, or moved elsewhere */
		return 0;
	}
	for (int i = 0; i < 5; i++) {
		f.s[i] = db->be->col_text(db, 2 + i, &f.len[i]);
		if (f.s[i] == NULL) {
			f.s[i] = "";
			f.len[i] = 0;
		}
	}
	h = db->be->col_text(db, 7, &len);
	if (!from_hex(h, len, got) ||
	    chain_hash(w->prev, id, db->be->col_int(db, 1), &f, want) != RP_OK ||
	    memcmp(want, got, 32) != 0) {
		w->base.i = id;
		return 0;
	}
	w->last_id = id;
	memcpy(w->prev, got, 32);
	w->base.u++;
	return 1;
}

static rp_status run_verify(rp__store_db *db, rp__store_op *op)
{
	verify_state *w = op->work;
	rp__store_val v[3];
	size_t rows = 0;
	rp_status st;
	int r;

	if (!w->started) {
		st = read_head(db, &q_head_read, &w->head_id, w->head_hash);
		if (st == RP_E_CRYPTO) {
			w->base.i = 1; /* the head itself was tampered with */
			w->base.more = 0;
			return RP_OK;
		}
		TRY(st);
		w->started = 1;
		w->base.more = 1;
		return RP_OK;
	}
	rp__store_int(&v[0], w->last_id);
	rp__store_int(&v[1], w->head_id);
	rp__store_int(&v[2], AUDIT_PAGE);
	TRY(db->be->query(db, &q_page, v, 3));
	while ((r = db->be->next(db)) == 1) {
		rows++;
		if (!check_row(db, w)) {
			break;
		}
	}
	db->be->end(db);
	if (r < 0) {
		return db->err;
	}
	if (w->base.i != 0) {
		w->base.more = 0;
	} else if (rows < AUDIT_PAGE) {
		/* The walk reached the head as it was when verification began. */
		if (w->last_id < w->head_id) {
			w->base.i = w->last_id + 1; /* entries cut from the end */
		} else if (w->head_id > 0 && memcmp(w->prev, w->head_hash, 32) != 0) {
			w->base.i = w->head_id;
		}
		w->base.more = 0;
	}
	return RP_OK;
}

static void after_verify(rp__store_op *op)
{
	const verify_state *s = op->state;

	op->again = s->base.more;
	if (!s->base.more && s->base.i != 0) {
		op->st = RP_E_CRYPTO;
	}
}

rp_status rp_store_audit_verify(rp_store *st, int64_t *first_bad, uint64_t *checked,
				rp_store_done_fn done, void *ctx)
{
	if (first_bad == NULL) {
		return RP_E_INVALID_ARG;
	}
	*first_bad = 0;
	if (checked != NULL) {
		*checked = 0;
	}
	return rp__store_submit(st,
				&(rp__store_req){.name = "audit_verify",
						 .run = run_verify,
						 .after = after_verify,
						 .state_size = sizeof(verify_state),
						 .out_i = first_bad,
						 .out_u = checked},
				done, ctx);
}
