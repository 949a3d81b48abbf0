/*
 * senml_cbor.c - the CBOR front end of the SenML parser (RFC 8428 section 6).
 *
 * Implementation notes
 * - libcbor's streaming decoder (cbor_stream_decode) reads one data item
 *   head at a time and reports it through a callback; it allocates
 *   nothing and keeps no state. The callbacks below only copy the item
 *   into a token; all decisions are made here, on the token, by a
 *   grammar two levels deep:
 *       pack   = array(n), 1 <= n <= max_records, of n records
 *       record = map(m), m <= RP_LIMIT_SENML_FIELDS, of m (label, value)
 *       label  = int -6 .. 8 (RFC 8428 table 4) | text (an extension)
 *       value  = uint | negint | float | text | bytes | true | false
 *                (null and undefined only for an ignored extension)
 *   followed by the end of the input. There is no recursion and no
 *   tree: memory does not depend on the input.
 * - Attacker: every head. A length or count is checked against the bytes
 *   left before anything is done with it (libcbor refuses a string longer
 *   than the input with NEDATA; a count is compared here). Strings are
 *   views into the input, valid during the parse; the resolver copies what
 *   it keeps.
 * - Refused on purpose, with a reason: indefinite lengths (RFC 8428 asks
 *   for definite lengths outside SensML streams), every tag (tag 4
 *   decimal fractions included: devices encode numbers as integers or
 *   floats), simple values other than false/true/null/undefined (libcbor
 *   refuses those), break codes, integer labels outside the table (it is
 *   conclusive), text labels that spell a SenML label.
 */
#include <cbor.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "rampart/mqtt.h"
#include "telemetry/internal.h"

enum tok_type {
	TK_NONE = 0,
	TK_UINT,   /* u */
	TK_NEGINT, /* u: the value is -1 - u */
	TK_BYTES,  /* p, len */
	TK_TEXT,   /* p, len */
	TK_ARRAY,  /* u: count */
	TK_MAP,    /* u: count of pairs */
	TK_FLOAT,  /* d */
	TK_BOOL,   /* u: 0 or 1 */
	TK_NULL,
	TK_UNDEF,
	TK_INDEF, /* any indefinite-length head */
	TK_TAG,
	TK_BREAK,
};

struct tok {
	enum tok_type type;
	uint64_t u;
	double d;
	const uint8_t *p;
	size_t len;
};

/* --- Callbacks: each only records what it was given. ------------------- */

#define TOK(c) ((struct tok *)(c))

static void on_uint8(void *c, uint8_t v)
{
	TOK(c)->type = TK_UINT;
	TOK(c)->u = v;
}

static void on_uint16(void *c, uint16_t v)
{
	TOK(c)->type = TK_UINT;
	TOK(c)->u = v;
}

static void on_uint32(void *c, uint32_t v)
{
	TOK(c)->type = TK_UINT;
	TOK(c)->u = v;
}

static void on_uint64(void *c, uint64_t v)
{
	TOK(c)->type = TK_UINT;
	TOK(c)->u = v;
}

static void on_negint8(void *c, uint8_t v)
{
	TOK(c)->type = TK_NEGINT;
	TOK(c)->u = v;
}

static void on_negint16(void *c, uint16_t v)
{
	TOK(c)->type = TK_NEGINT;
	TOK(c)->u = v;
}

static void on_negint32(void *c, uint32_t v)
{
	TOK(c)->type = TK_NEGINT;
	TOK(c)->u = v;
}

static void on_negint64(void *c, uint64_t v)
{
	TOK(c)->type = TK_NEGINT;
	TOK(c)->u = v;
}

static void on_bytes(void *c, cbor_data p, size_t len)
{
	TOK(c)->type = TK_BYTES;
	TOK(c)->p = p;
	TOK(c)->len = len;
}

static void on_text(void *c, cbor_data p, size_t len)
{
	TOK(c)->type = TK_TEXT;
	TOK(c)->p = p;
	TOK(c)->len = len;
}

static void on_indef(void *c)
{
	TOK(c)->type = TK_INDEF;
}

static void on_array(void *c, size_t n)
{
	TOK(c)->type = TK_ARRAY;
	TOK(c)->u = n;
}

static void on_map(void *c, size_t n)
{
	TOK(c)->type = TK_MAP;
	TOK(c)->u = n;
}

static void on_tag(void *c, uint64_t v)
{
	TOK(c)->type = TK_TAG;
	TOK(c)->u = v;
}

static void on_float(void *c, float v)
{
	TOK(c)->type = TK_FLOAT;
	TOK(c)->d = v;
}

static void on_double(void *c, double v)
{
	TOK(c)->type = TK_FLOAT;
	TOK(c)->d = v;
}

static void on_null(void *c)
{
	TOK(c)->type = TK_NULL;
}

static void on_undef(void *c)
{
	TOK(c)->type = TK_UNDEF;
}

static void on_bool(void *c, bool v)
{
	TOK(c)->type = TK_BOOL;
	TOK(c)->u = v ? 1 : 0;
}

static void on_break(void *c)
{
	TOK(c)->type = TK_BREAK;
}

/* Every member set: libcbor calls them without checking for NULL. */
static const struct cbor_callbacks callbacks = {
	.uint8 = on_uint8,
	.uint16 = on_uint16,
	.uint32 = on_uint32,
	.uint64 = on_uint64,
	.negint64 = on_negint64,
	.negint32 = on_negint32,
	.negint16 = on_negint16,
	.negint8 = on_negint8,
	.byte_string_start = on_indef,
	.byte_string = on_bytes,
	.string = on_text,
	.string_start = on_indef,
	.indef_array_start = on_indef,
	.array_start = on_array,
	.indef_map_start = on_indef,
	.map_start = on_map,
	.tag = on_tag,
	.float2 = on_float,
	.float4 = on_float,
	.float8 = on_double,
	.undefined = on_undef,
	.null = on_null,
	.boolean = on_bool,
	.indef_break = on_break,
};

/* --- The grammar --------------------------------------------------------- */

struct cur {
	rp__senml_ctx *ctx;
	const uint8_t *buf;
	size_t len, pos;
	size_t idx; /* record being read, or RP__SENML_NO_RECORD */
};

/* Reads the next head into *t. */
static rp_status next(struct cur *c, struct tok *t)
{
	struct cbor_decoder_result r;

	memset(t, 0, sizeof(*t));
	if (c->pos >= c->len) {
		return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx, "CBOR ends early");
	}
	r = cbor_stream_decode(c->buf + c->pos, c->len - c->pos, &callbacks, t);
	if (r.status == CBOR_DECODER_NEDATA) {
		return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx,
				      "CBOR ends early (item at byte %zu)", c->pos);
	}
	if (r.status != CBOR_DECODER_FINISHED || r.read == 0 || r.read > c->len - c->pos ||
	    t->type == TK_NONE) {
		return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx,
				      "invalid CBOR item at byte %zu", c->pos);
	}
	c->pos += r.read;
	return RP_OK;
}

/* The reason for token t where `what` should have been `expected` ("a number"). */
static rp_status unexpected(struct cur *c, const struct tok *t, const char *what,
			    const char *expected)
{
	switch (t->type) {
	case TK_INDEF:
		return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx,
				      "%s: indefinite-length items are not accepted", what);
	case TK_TAG:
		return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx,
				      "%s: CBOR tags are not accepted (tag %" PRIu64 ")", what,
				      t->u);
	case TK_ARRAY:
	case TK_MAP:
		return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx, "%s: SenML does not nest",
				      what);
	case TK_BREAK:
		return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx, "%s: unexpected break", what);
	default:
		return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx, "%s is not %s", what,
				      expected);
	}
}

static rp_status check_text(struct cur *c, const struct tok *t, const char *what)
{
	if (!rp_mqtt_utf8_valid(t->p, t->len)) {
		return rp__senml_fail(c->ctx, RP_E_UTF8, c->idx,
				      "%s: text string is not UTF-8 without U+0000", what);
	}
	return RP_OK;
}

/* Integer label (RFC 8428 table 4) to label; -1 when outside the table. */
static int int_label(const struct tok *t)
{
	static const int8_t pos[] = {
		RP__SENML_N, RP__SENML_U, RP__SENML_V,  RP__SENML_VS, RP__SENML_VB,
		RP__SENML_S, RP__SENML_T, RP__SENML_UT, RP__SENML_VD,
	};
	static const int8_t neg[] = {
		RP__SENML_BVER, RP__SENML_BN, RP__SENML_BT,
		RP__SENML_BU,   RP__SENML_BV, RP__SENML_BS,
	};

	if (t->type == TK_UINT && t->u < sizeof(pos)) {
		return pos[t->u];
	}
	if (t->type == TK_NEGINT && t->u < sizeof(neg)) {
		return neg[t->u];
	}
	return -1;
}

static rp_status unknown_int_label(struct cur *c, const struct tok *t)
{
	if (t->type == TK_NEGINT && t->u < (uint64_t)INT64_MAX) {
		return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx,
				      "unknown integer label %" PRId64
				      " (RFC 8428 table 4 is conclusive)",
				      -1 - (int64_t)t->u);
	}
	return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx,
			      "unknown integer label %s%" PRIu64
			      " (RFC 8428 table 4 is conclusive)",
			      t->type == TK_NEGINT ? "-1-" : "", t->u);
}

/* The value of known label l into raw. */
static rp_status known_value(struct cur *c, int l, rp__senml_raw *raw)
{
	const char *name = rp__senml_label_name[l];
	struct tok t;
	rp_status st;

	st = next(c, &t);
	if (st != RP_OK) {
		return st;
	}
	switch (rp__senml_label_type((enum rp__senml_label)l)) {
	case RP__SENML_T_STRING:
		if (t.type != TK_TEXT) {
			return unexpected(c, &t, name, "a text string");
		}
		st = check_text(c, &t, name);
		if (st != RP_OK) {
			return st;
		}
		raw->s[l].p = (const char *)t.p;
		raw->s[l].len = t.len;
		break;
	case RP__SENML_T_NUMBER:
		if (t.type == TK_UINT) {
			raw->num[l] = (double)t.u;
		} else if (t.type == TK_NEGINT) {
			raw->num[l] = -1.0 - (double)t.u;
		} else if (t.type == TK_FLOAT) {
			if (!isfinite(t.d)) {
				return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx,
						      "%s is not finite", name);
			}
			raw->num[l] = t.d;
		} else {
			return unexpected(c, &t, name, "a number");
		}
		break;
	case RP__SENML_T_BOOL:
		if (t.type != TK_BOOL) {
			return unexpected(c, &t, name, "a boolean");
		}
		raw->vb = (int)t.u;
		break;
	case RP__SENML_T_DATA:
		if (t.type != TK_BYTES) {
			return unexpected(c, &t, name, "a byte string");
		}
		raw->data = t.p;
		raw->data_len = t.len;
		break;
	case RP__SENML_T_VERSION:
		/* RFC 8428 section 6: only an unsigned integer. */
		if (t.type != TK_UINT || t.u == 0) {
			return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx,
					      "bver is not a positive integer");
		}
		raw->version = t.u;
		break;
	}
	raw->have |= RP__SENML_BIT(l);
	return RP_OK;
}

/* The value of an ignored extension: any scalar. */
static rp_status ignored_value(struct cur *c, const char *quoted)
{
	struct tok t;
	rp_status st;

	st = next(c, &t);
	if (st != RP_OK) {
		return st;
	}
	switch (t.type) {
	case TK_TEXT:
		return check_text(c, &t, quoted);
	case TK_UINT:
	case TK_NEGINT:
	case TK_BYTES:
	case TK_FLOAT:
	case TK_BOOL:
	case TK_NULL:
	case TK_UNDEF:
		return RP_OK;
	default:
		return unexpected(c, &t, quoted, "a scalar");
	}
}

static rp_status record(struct cur *c, rp__senml_raw *raw)
{
	rp__senml_view ext[RP_LIMIT_SENML_FIELDS];
	size_t n_ext = 0, i, j, m;
	char q[RP__SENML_QUOTE_CAP];
	struct tok t;
	rp_status st;

	memset(raw, 0, sizeof(*raw));
	st = next(c, &t);
	if (st != RP_OK) {
		return st;
	}
	if (t.type != TK_MAP) {
		return t.type == TK_INDEF
			       ? unexpected(c, &t, "record", "a map")
			       : rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx, "not a map");
	}
	if (t.u > RP_LIMIT_SENML_FIELDS) {
		return rp__senml_fail(c->ctx, RP_E_LIMIT, c->idx, "more than %u fields",
				      RP_LIMIT_SENML_FIELDS);
	}
	m = (size_t)t.u;
	for (i = 0; i < m; i++) {
		int l;

		st = next(c, &t);
		if (st != RP_OK) {
			return st;
		}
		if (t.type == TK_UINT || t.type == TK_NEGINT) {
			l = int_label(&t);
			if (l < 0) {
				return unknown_int_label(c, &t);
			}
			if (raw->have & RP__SENML_BIT(l)) {
				return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx,
						      "duplicate label %s",
						      rp__senml_label_name[l]);
			}
			st = known_value(c, l, raw);
			if (st != RP_OK) {
				return st;
			}
			continue;
		}
		if (t.type != TK_TEXT) {
			return unexpected(c, &t, "a label", "an integer or a text string");
		}
		rp__senml_quote(q, sizeof(q), (const char *)t.p, t.len);
		st = check_text(c, &t, q);
		if (st != RP_OK) {
			return st;
		}
		if (rp__senml_label_find((const char *)t.p, t.len) >= 0) {
			return rp__senml_fail(
				c->ctx, RP_E_MALFORMED, c->idx,
				"text label %s: CBOR uses integer labels for SenML's own", q);
		}
		if (t.len > 0 && t.p[t.len - 1] == '_') {
			return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx,
					      "unknown label %s must be understood", q);
		}
		for (j = 0; j < n_ext; j++) {
			if (ext[j].len == t.len && memcmp(ext[j].p, t.p, t.len) == 0) {
				return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx,
						      "duplicate label %s", q);
			}
		}
		ext[n_ext].p = (const char *)t.p;
		ext[n_ext].len = t.len;
		n_ext++;
		st = ignored_value(c, q);
		if (st != RP_OK) {
			return st;
		}
	}
	return RP_OK;
}

rp_status rp__senml_cbor(rp__senml_ctx *ctx, const uint8_t *buf, size_t len)
{
	struct cur c = {ctx, buf, len, 0, RP__SENML_NO_RECORD};
	rp__senml_raw raw;
	struct tok t;
	size_t i, n;
	rp_status st;

	st = next(&c, &t);
	if (st != RP_OK) {
		return st;
	}
	if (t.type == TK_INDEF || t.type == TK_TAG) {
		return unexpected(&c, &t, "the pack", "an array");
	}
	if (t.type != TK_ARRAY) {
		return rp__senml_fail(ctx, RP_E_MALFORMED, RP__SENML_NO_RECORD,
				      "the pack is not an array");
	}
	if (t.u == 0) {
		return rp__senml_fail(ctx, RP_E_EMPTY, RP__SENML_NO_RECORD, "empty pack");
	}
	if (t.u > ctx->max_records) {
		return rp__senml_fail(ctx, RP_E_LIMIT, RP__SENML_NO_RECORD, "more than %zu records",
				      ctx->max_records);
	}
	/* Each record takes at least one byte: do not allocate for what is not there. */
	if (t.u > len - c.pos) {
		return rp__senml_fail(ctx, RP_E_MALFORMED, RP__SENML_NO_RECORD,
				      "CBOR ends early (%" PRIu64
				      " records announced, %zu byte(s) left)",
				      t.u, len - c.pos);
	}
	n = (size_t)t.u;
	st = rp__senml_begin(ctx, n);
	for (i = 0; i < n && st == RP_OK; i++) {
		c.idx = i;
		st = record(&c, &raw);
		if (st == RP_OK) {
			st = rp__senml_record(ctx, i, &raw);
		}
	}
	if (st == RP_OK && c.pos != len) {
		st = rp__senml_fail(ctx, RP_E_TRAILING, RP__SENML_NO_RECORD,
				    "%zu byte(s) after the pack", len - c.pos);
	}
	return st;
}
