/*
 * senml.c - SenML resolution (RFC 8428, 4.5 and 4.6) and the pack's memory.
 *
 * Implementation notes
 * - The attacker is the device, or whoever holds its key: every byte of
 *   the payload, every count and length in it. The front ends
 *   (senml_json.c, senml_cbor.c) check the syntax and the type of each
 *   field; this file checks everything else, in the same way for both
 *   formats, so that a rule cannot hold in one and not the other.
 * - State: the base fields in force (rp__senml_ctx), carried from record
 *   to record as RFC 8428 section 4 says; base strings are views into the
 *   input or the JSON reader's scratch, valid until the front end returns.
 * - Output: one record array sized from the record count the payload
 *   announces (bounded by max_records before it is allocated), and a list
 *   of arenas ("chunks") for the strings. A chunk never moves once made,
 *   so records may point into it while later chunks are added; each new
 *   chunk is twice the previous one (up to CHUNK_MAX), so at most half of
 *   the arena memory is slack. A row that repeats the previous row's name,
 *   or uses the bu in force, shares that copy. So a pack costs at most
 *   n * (sizeof(rp_senml_record) + RP_LIMIT_SENML_NAME_LEN + 1) bytes for n
 *   records, plus what u, vs and vd take (never more than the payload plus
 *   one NUL per row), plus the slack: about 2 MB for 4096 records, whatever
 *   the payload.
 * - Verdict: the pack is returned only when every record passed; any
 *   failure frees what was built (rp_senml_parse()).
 * - Numbers: every sum (bv + v, bs + s, bt + t) is checked to be finite,
 *   and a time is range-checked as a double before it becomes an integer,
 *   so no conversion is undefined.
 */
#include "telemetry/senml.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "telemetry/internal.h"
#include "util/alloc.h"

/* ------------------------------------------------------------------------
 * Labels
 * ------------------------------------------------------------------------ */

const char *const rp__senml_label_name[RP__SENML_LABELS] = {
	[RP__SENML_BVER] = "bver", [RP__SENML_BN] = "bn", [RP__SENML_BT] = "bt",
	[RP__SENML_BU] = "bu",     [RP__SENML_BV] = "bv", [RP__SENML_BS] = "bs",
	[RP__SENML_N] = "n",       [RP__SENML_U] = "u",   [RP__SENML_V] = "v",
	[RP__SENML_VS] = "vs",     [RP__SENML_VB] = "vb", [RP__SENML_S] = "s",
	[RP__SENML_T] = "t",       [RP__SENML_UT] = "ut", [RP__SENML_VD] = "vd",
};

enum rp__senml_type rp__senml_label_type(enum rp__senml_label l)
{
	switch (l) {
	case RP__SENML_BVER:
		return RP__SENML_T_VERSION;
	case RP__SENML_BN:
	case RP__SENML_BU:
	case RP__SENML_N:
	case RP__SENML_U:
	case RP__SENML_VS:
		return RP__SENML_T_STRING;
	case RP__SENML_VB:
		return RP__SENML_T_BOOL;
	case RP__SENML_VD:
		return RP__SENML_T_DATA;
	default:
		return RP__SENML_T_NUMBER;
	}
}

int rp__senml_label_find(const char *s, size_t len)
{
	int l;

	for (l = 0; l < RP__SENML_LABELS; l++) {
		const char *name = rp__senml_label_name[l];

		if (strlen(name) == len && memcmp(name, s, len) == 0) {
			return l;
		}
	}
	return -1;
}

/* ------------------------------------------------------------------------
 * Reasons
 * ------------------------------------------------------------------------ */

rp_status rp__senml_fail(rp__senml_ctx *ctx, rp_status st, size_t idx, const char *fmt, ...)
{
	va_list ap;
	size_t off = 0;
	int n;

	if (ctx->why == NULL || ctx->why_cap == 0) {
		return st;
	}
	if (idx != RP__SENML_NO_RECORD) {
		n = snprintf(ctx->why, ctx->why_cap, "record %zu: ", idx);
		off = n < 0 ? 0 : (size_t)n;
	}
	if (off < ctx->why_cap) {
		va_start(ap, fmt);
		(void)vsnprintf(ctx->why + off, ctx->why_cap - off, fmt, ap);
		va_end(ap);
	}
	return st;
}

#define QUOTE_MAX 32u
_Static_assert(RP__SENML_QUOTE_CAP >= QUOTE_MAX * 4 + 6, "room for a quoted label");

void rp__senml_quote(char *buf, size_t cap, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	if (cap == 0) {
		return;
	}
	/* Writes what fits; RP__SENML_QUOTE_CAP holds the worst case. */
#define PUT(c)                                                                                     \
	do {                                                                                       \
		if (o + 1 < cap) {                                                                 \
			buf[o++] = (c);                                                            \
		}                                                                                  \
	} while (0)
	PUT('"');
	for (i = 0; i < len && i < QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			PUT((char)c);
		} else {
			PUT('\\');
			PUT('x');
			PUT(hex[c >> 4]);
			PUT(hex[c & 15]);
		}
	}
	PUT('"');
	if (len > QUOTE_MAX) {
		PUT('.');
		PUT('.');
		PUT('.');
	}
#undef PUT
	buf[o] = '\0';
}

/* The server's failure, not the record's: no record index in the reason. */
static rp_status nomem(rp__senml_ctx *ctx)
{
	return rp__senml_fail(ctx, RP_E_NOMEM, RP__SENML_NO_RECORD, "out of memory");
}

/* ------------------------------------------------------------------------
 * Output memory: record array and string arenas
 * ------------------------------------------------------------------------ */

struct rp__senml_chunk {
	struct rp__senml_chunk *next;
	size_t used, cap;
	char data[];
};

#define CHUNK_MIN 1024u
#define CHUNK_MAX (64u * 1024u)

/* n + 1 bytes of the pack's arena, the last one set to NUL; NULL when out of memory. */
static char *arena_alloc(rp_senml_pack *pack, size_t n)
{
	struct rp__senml_chunk *c = pack->chunks_;
	size_t need = n + 1;
	char *p;

	if (c == NULL || c->cap - c->used < need) {
		size_t cap = c == NULL ? CHUNK_MIN : c->cap * 2;

		if (cap > CHUNK_MAX) {
			cap = CHUNK_MAX;
		}
		if (cap < need) {
			cap = need;
		}
		c = rp_alloc(NULL, sizeof(*c) + cap);
		if (c == NULL) {
			return NULL;
		}
		c->next = pack->chunks_;
		c->used = 0;
		c->cap = cap;
		pack->chunks_ = c;
	}
	p = c->data + c->used;
	c->used += need;
	p[n] = '\0';
	return p;
}

/* A NUL-terminated copy of a[0 .. alen) followed by b[0 .. blen) in the pack's arena. */
static char *arena_copy2(rp_senml_pack *pack, const void *a, size_t alen, const void *b,
			 size_t blen)
{
	char *p = arena_alloc(pack, alen + blen);

	if (p != NULL) {
		if (alen > 0) {
			memcpy(p, a, alen);
		}
		if (blen > 0) {
			memcpy(p + alen, b, blen);
		}
	}
	return p;
}

void rp_senml_pack_free(rp_senml_pack *pack)
{
	struct rp__senml_chunk *c, *next;

	if (pack == NULL) {
		return;
	}
	for (c = pack->chunks_; c != NULL; c = next) {
		next = c->next;
		rp_free(NULL, c);
	}
	rp_free(NULL, pack->records);
	memset(pack, 0, sizeof(*pack));
}

rp_status rp__senml_begin(rp__senml_ctx *ctx, size_t n)
{
	if (n == 0 || n > ctx->max_records || ctx->out->records != NULL) {
		return rp__senml_fail(ctx, RP_E_INTERNAL, RP__SENML_NO_RECORD, "bad record count");
	}
	ctx->out->records = rp_calloc(NULL, n, sizeof(rp_senml_record));
	if (ctx->out->records == NULL) {
		return nomem(ctx);
	}
	ctx->cap = n;
	return RP_OK;
}

/* ------------------------------------------------------------------------
 * Field rules
 * ------------------------------------------------------------------------ */

static int is_alnum(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* RFC 8428 4.5.1: A-Z a-z 0-9 - : . / _ */
static int is_name_char(unsigned char c)
{
	return is_alnum(c) || c == '-' || c == ':' || c == '.' || c == '/' || c == '_';
}

/* The characters of the SenML units registries (RFC 8428 12.1, RFC 8798). */
static int is_unit_char(unsigned char c)
{
	return is_alnum(c) || c == '%' || c == '/' || c == '.' || c == '-' || c == '_';
}

/* Index of the first byte of v outside the name set, or v.len. */
static size_t bad_name_char(rp__senml_view v)
{
	size_t i;

	for (i = 0; i < v.len && is_name_char((unsigned char)v.p[i]); i++) {
	}
	return i;
}

static rp_status check_unit(rp__senml_ctx *ctx, size_t idx, const char *label, rp__senml_view u)
{
	size_t i;

	if (u.len == 0) {
		return rp__senml_fail(ctx, RP_E_MALFORMED, idx, "%s is empty", label);
	}
	if (u.len > RP_LIMIT_SENML_UNIT_LEN) {
		return rp__senml_fail(ctx, RP_E_LIMIT, idx, "%s longer than %u bytes", label,
				      RP_LIMIT_SENML_UNIT_LEN);
	}
	for (i = 0; i < u.len; i++) {
		if (!is_unit_char((unsigned char)u.p[i])) {
			return rp__senml_fail(ctx, RP_E_MALFORMED, idx,
					      "%s: byte %zu is not A-Z a-z 0-9 %% / . - _", label,
					      i);
		}
	}
	return RP_OK;
}

static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z') {
		return c - 'A';
	}
	if (c >= 'a' && c <= 'z') {
		return c - 'a' + 26;
	}
	if (c >= '0' && c <= '9') {
		return c - '0' + 52;
	}
	if (c == '-') {
		return 62;
	}
	if (c == '_') {
		return 63;
	}
	return -1;
}

/*
 * Decodes unpadded base64url s[0 .. n) into out (room for *out_len, which
 * the caller computed with b64url_len()). Refuses any byte outside the
 * alphabet ('=' included) and bits left over in the last character: one
 * text per octet string.
 */
static int b64url_decode(const char *s, size_t n, uint8_t *out)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		int v = b64url_value((unsigned char)s[i]);

		if (v < 0) {
			return 0;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1u;
		}
	}
	/* Left over: 0, 2 or 4 bits, which must be zero. */
	return acc == 0;
}

/* Decoded length of n base64url characters, or SIZE_MAX when n cannot be a length. */
static size_t b64url_len(size_t n)
{
	if (n % 4 == 1) {
		return SIZE_MAX;
	}
	return n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
}

/*
 * Resolved time in ms: seconds t (bt + t, finite), relative to now_ms when
 * below 2**28. Checked against 0 .. RP_LIMIT_SENML_TIME_MAX_MS before any
 * conversion to an integer.
 */
static rp_status resolve_time(rp__senml_ctx *ctx, size_t idx, double t, int64_t *out)
{
	double ms;

	if (!isfinite(t)) {
		return rp__senml_fail(ctx, RP_E_MALFORMED, idx, "bt + t is not finite");
	}
	ms = t * 1000.0;
	if (t < RP_SENML_RELATIVE_TIME_S) {
		ms += (double)ctx->now_ms;
	}
	if (!(ms >= 0.0 && ms <= (double)RP_LIMIT_SENML_TIME_MAX_MS)) {
		return rp__senml_fail(ctx, RP_E_MALFORMED, idx,
				      "time %.17g s resolves outside 1970 .. 9999", t);
	}
	*out = (int64_t)(ms + 0.5);
	if (*out > RP_LIMIT_SENML_TIME_MAX_MS) {
		*out = RP_LIMIT_SENML_TIME_MAX_MS;
	}
	return RP_OK;
}

/* ------------------------------------------------------------------------
 * Resolution of one record
 * ------------------------------------------------------------------------ */

#define BASE_LABELS                                                                                \
	(RP__SENML_BIT(RP__SENML_BVER) | RP__SENML_BIT(RP__SENML_BN) |                             \
	 RP__SENML_BIT(RP__SENML_BT) | RP__SENML_BIT(RP__SENML_BU) | RP__SENML_BIT(RP__SENML_BV) | \
	 RP__SENML_BIT(RP__SENML_BS))
#define VALUE_LABELS                                                                               \
	(RP__SENML_BIT(RP__SENML_V) | RP__SENML_BIT(RP__SENML_VS) | RP__SENML_BIT(RP__SENML_VB) |  \
	 RP__SENML_BIT(RP__SENML_VD))

#define HAS(raw, l) (((raw)->have & RP__SENML_BIT(l)) != 0)

/* Version and base fields: they apply to this record and those after it. */
static rp_status apply_base(rp__senml_ctx *ctx, size_t idx, const rp__senml_raw *raw)
{
	unsigned version = ctx->version;
	rp_status st;

	if (HAS(raw, RP__SENML_BVER)) {
		if (raw->version > RP_SENML_VERSION) {
			return rp__senml_fail(ctx, RP_E_PROTOCOL_VERSION, idx,
					      "bver %" PRIu64
					      " is above %u, the version understood",
					      raw->version, RP_SENML_VERSION);
		}
		version = (unsigned)raw->version;
	}
	/* RFC 8428 4.4: every record of a pack has the same version. */
	if (idx == 0) {
		ctx->out->version = version;
	} else if (version != ctx->out->version) {
		return rp__senml_fail(ctx, RP_E_PROTOCOL_VERSION, idx,
				      "version %u differs from the pack's %u", version,
				      ctx->out->version);
	}
	ctx->version = version;

	if (HAS(raw, RP__SENML_BN)) {
		rp__senml_view bn = raw->s[RP__SENML_BN];
		size_t bad = bad_name_char(bn);

		if (bn.len > RP_LIMIT_SENML_NAME_LEN) {
			return rp__senml_fail(ctx, RP_E_LIMIT, idx, "bn longer than %u bytes",
					      RP_LIMIT_SENML_NAME_LEN);
		}
		if (bad < bn.len) {
			return rp__senml_fail(ctx, RP_E_MALFORMED, idx,
					      "bn: byte %zu is not A-Z a-z 0-9 - : . / _", bad);
		}
		ctx->bn = bn;
	}
	if (HAS(raw, RP__SENML_BU)) {
		st = check_unit(ctx, idx, "bu", raw->s[RP__SENML_BU]);
		if (st != RP_OK) {
			return st;
		}
		ctx->bu = raw->s[RP__SENML_BU];
		ctx->has_bu = 1;
		ctx->bu_copy = NULL;
	}
	if (HAS(raw, RP__SENML_BT)) {
		ctx->bt = raw->num[RP__SENML_BT];
	}
	if (HAS(raw, RP__SENML_BV)) {
		ctx->bv = raw->num[RP__SENML_BV];
		ctx->has_bv = 1;
	}
	if (HAS(raw, RP__SENML_BS)) {
		ctx->bs = raw->num[RP__SENML_BS];
		ctx->has_bs = 1;
	}
	return RP_OK;
}

/* Name: bn + n, checked as a whole (RFC 8428 4.5.1) and copied into the pack. */
static rp_status resolve_name(rp__senml_ctx *ctx, size_t idx, const rp__senml_raw *raw,
			      rp_senml_record *rec)
{
	rp__senml_view n = {NULL, 0};
	size_t bad, len;
	const char *p;

	if (HAS(raw, RP__SENML_N)) {
		n = raw->s[RP__SENML_N];
	}
	if (n.len > RP_LIMIT_SENML_NAME_LEN || ctx->bn.len > RP_LIMIT_SENML_NAME_LEN - n.len) {
		return rp__senml_fail(ctx, RP_E_LIMIT, idx, "bn + n longer than %u bytes",
				      RP_LIMIT_SENML_NAME_LEN);
	}
	len = ctx->bn.len + n.len;
	if (len == 0) {
		return rp__senml_fail(ctx, RP_E_MALFORMED, idx, "no name (neither bn nor n)");
	}
	bad = bad_name_char(n);
	if (bad < n.len) {
		return rp__senml_fail(ctx, RP_E_MALFORMED, idx,
				      "n: byte %zu is not A-Z a-z 0-9 - : . / _", bad);
	}
	if (!is_alnum((unsigned char)(ctx->bn.len > 0 ? ctx->bn.p[0] : n.p[0]))) {
		return rp__senml_fail(ctx, RP_E_MALFORMED, idx,
				      "name does not start with A-Z a-z 0-9");
	}
	if (ctx->last_name != NULL && ctx->last_name_len == len &&
	    (ctx->bn.len == 0 || memcmp(ctx->last_name, ctx->bn.p, ctx->bn.len) == 0) &&
	    (n.len == 0 || memcmp(ctx->last_name + ctx->bn.len, n.p, n.len) == 0)) {
		p = ctx->last_name;
	} else {
		p = arena_copy2(ctx->out, ctx->bn.p, ctx->bn.len, n.p, n.len);
		if (p == NULL) {
			return nomem(ctx);
		}
		ctx->last_name = p;
		ctx->last_name_len = len;
	}
	rec->name = p;
	rec->name_len = len;
	return RP_OK;
}

static rp_status resolve_value(rp__senml_ctx *ctx, size_t idx, const rp__senml_raw *raw,
			       rp_senml_record *rec)
{
	if (HAS(raw, RP__SENML_V)) {
		double v = raw->num[RP__SENML_V];

		if (ctx->has_bv) {
			v += ctx->bv;
		}
		if (!isfinite(v)) {
			return rp__senml_fail(ctx, RP_E_MALFORMED, idx, "bv + v is not finite");
		}
		rec->kind = RP_SENML_NUMBER;
		rec->number = v;
	} else if (HAS(raw, RP__SENML_VS)) {
		rp__senml_view vs = raw->s[RP__SENML_VS];

		if (vs.len > RP_LIMIT_SENML_STRING_LEN) {
			return rp__senml_fail(ctx, RP_E_LIMIT, idx, "vs longer than %u bytes",
					      RP_LIMIT_SENML_STRING_LEN);
		}
		if (memchr(vs.p, '\0', vs.len) != NULL) {
			return rp__senml_fail(ctx, RP_E_MALFORMED, idx, "vs holds U+0000");
		}
		rec->str = arena_copy2(ctx->out, vs.p, vs.len, NULL, 0);
		if (rec->str == NULL) {
			return nomem(ctx);
		}
		rec->kind = RP_SENML_STRING;
		rec->str_len = vs.len;
	} else if (HAS(raw, RP__SENML_VB)) {
		rec->kind = RP_SENML_BOOL;
		rec->boolean = raw->vb != 0;
	} else if (HAS(raw, RP__SENML_VD)) {
		const uint8_t *d = raw->data;
		size_t n = raw->data_len;
		char *p;

		if (raw->data_is_b64) {
			n = b64url_len(raw->s[RP__SENML_VD].len);
			if (n == SIZE_MAX) {
				return rp__senml_fail(ctx, RP_E_MALFORMED, idx,
						      "vd is not unpadded base64url");
			}
		}
		if (n > RP_LIMIT_SENML_DATA_LEN) {
			return rp__senml_fail(ctx, RP_E_LIMIT, idx, "vd longer than %u bytes",
					      RP_LIMIT_SENML_DATA_LEN);
		}
		p = arena_alloc(ctx->out, n);
		if (p == NULL) {
			return nomem(ctx);
		}
		if (!raw->data_is_b64) {
			if (n > 0) {
				memcpy(p, d, n);
			}
		} else if (!b64url_decode(raw->s[RP__SENML_VD].p, raw->s[RP__SENML_VD].len,
					  (uint8_t *)p)) {
			return rp__senml_fail(ctx, RP_E_MALFORMED, idx,
					      "vd is not unpadded base64url");
		}
		rec->kind = RP_SENML_DATA;
		rec->data = (const uint8_t *)p;
		rec->data_len = n;
	}
	return RP_OK;
}

rp_status rp__senml_record(rp__senml_ctx *ctx, size_t idx, const rp__senml_raw *raw)
{
	unsigned values = raw->have & VALUE_LABELS;
	rp_senml_record rec;
	rp_status st;

	if (raw->have == 0) {
		return rp__senml_fail(ctx, RP_E_MALFORMED, idx, "no SenML field");
	}
	st = apply_base(ctx, idx, raw);
	if (st != RP_OK) {
		return st;
	}
	if ((raw->have & ~(unsigned)BASE_LABELS) == 0) {
		return RP_OK; /* base fields only: context for the records after it */
	}
	if (values & (values - 1)) {
		const char *first = NULL, *second = NULL;
		int l;

		for (l = RP__SENML_V; l <= RP__SENML_VD; l++) {
			if ((values & RP__SENML_BIT(l)) == 0) {
				continue;
			}
			if (first == NULL) {
				first = rp__senml_label_name[l];
			} else if (second == NULL) {
				second = rp__senml_label_name[l];
			}
		}
		return rp__senml_fail(ctx, RP_E_MALFORMED, idx, "two values (%s and %s)", first,
				      second);
	}
	if (values == 0 && !HAS(raw, RP__SENML_S)) {
		return rp__senml_fail(ctx, RP_E_MALFORMED, idx, "no value (v, vs, vb, vd or s)");
	}
	if (ctx->out->count >= ctx->cap) {
		return rp__senml_fail(ctx, RP_E_INTERNAL, idx, "more records than announced");
	}

	memset(&rec, 0, sizeof(rec));
	st = resolve_name(ctx, idx, raw, &rec);
	if (st != RP_OK) {
		return st;
	}
	if (HAS(raw, RP__SENML_U)) {
		rp__senml_view u = raw->s[RP__SENML_U];

		st = check_unit(ctx, idx, "u", u);
		if (st != RP_OK) {
			return st;
		}
		rec.unit = arena_copy2(ctx->out, u.p, u.len, NULL, 0);
		if (rec.unit == NULL) {
			return nomem(ctx);
		}
		rec.unit_len = u.len;
	} else if (ctx->has_bu) {
		if (ctx->bu_copy == NULL) {
			ctx->bu_copy = arena_copy2(ctx->out, ctx->bu.p, ctx->bu.len, NULL, 0);
			if (ctx->bu_copy == NULL) {
				return nomem(ctx);
			}
		}
		rec.unit = ctx->bu_copy;
		rec.unit_len = ctx->bu.len;
	}
	st = resolve_time(ctx, idx, ctx->bt + (HAS(raw, RP__SENML_T) ? raw->num[RP__SENML_T] : 0.0),
			  &rec.time_ms);
	if (st != RP_OK) {
		return st;
	}
	st = resolve_value(ctx, idx, raw, &rec);
	if (st != RP_OK) {
		return st;
	}
	if (HAS(raw, RP__SENML_S) || ctx->has_bs) {
		double s = ctx->has_bs ? ctx->bs : 0.0;

		if (HAS(raw, RP__SENML_S)) {
			s += raw->num[RP__SENML_S];
		}
		if (!isfinite(s)) {
			return rp__senml_fail(ctx, RP_E_MALFORMED, idx, "bs + s is not finite");
		}
		rec.has_sum = true;
		rec.sum = s;
	}
	if (HAS(raw, RP__SENML_UT)) {
		double ut = raw->num[RP__SENML_UT];

		if (!(ut >= 0.0) || !isfinite(ut)) {
			return rp__senml_fail(ctx, RP_E_MALFORMED, idx, "ut is negative");
		}
		rec.has_update_time = true;
		rec.update_time_s = ut;
	}
	ctx->out->records[ctx->out->count++] = rec;
	return RP_OK;
}

/* ------------------------------------------------------------------------
 * Entry points
 * ------------------------------------------------------------------------ */

int rp_senml_rejected(rp_status st)
{
	switch (st) {
	case RP_OK:
	case RP_NEED_MORE:
	case RP_E_NOMEM:
	case RP_E_INVALID_ARG:
	case RP_E_INTERNAL:
		return 0;
	default:
		return 1;
	}
}

rp_status rp_senml_parse(const uint8_t *buf, size_t len, rp_senml_format fmt, int64_t now_ms,
			 const rp_senml_limits *lim, rp_senml_pack *out, char *why, size_t why_cap)
{
	rp__senml_ctx ctx;
	size_t max_payload = RP_LIMIT_SENML_PAYLOAD;
	rp_status st;

	if (why != NULL && why_cap > 0) {
		why[0] = '\0';
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.why = why;
	ctx.why_cap = why != NULL ? why_cap : 0;
	if (out == NULL) {
		return rp__senml_fail(&ctx, RP_E_INVALID_ARG, RP__SENML_NO_RECORD,
				      "no output pack");
	}
	memset(out, 0, sizeof(*out));
	if ((buf == NULL && len > 0) || (fmt != RP_SENML_JSON && fmt != RP_SENML_CBOR) ||
	    now_ms < 0 || now_ms > RP_LIMIT_SENML_TIME_MAX_MS) {
		return rp__senml_fail(&ctx, RP_E_INVALID_ARG, RP__SENML_NO_RECORD,
				      "invalid argument");
	}
	ctx.max_records = RP_LIMIT_SENML_RECORDS;
	if (lim != NULL && lim->max_payload != 0 && lim->max_payload < max_payload) {
		max_payload = lim->max_payload;
	}
	if (lim != NULL && lim->max_records != 0 && lim->max_records < ctx.max_records) {
		ctx.max_records = lim->max_records;
	}
	ctx.now_ms = now_ms;
	ctx.out = out;
	ctx.version = RP_SENML_VERSION;

	if (len > max_payload) {
		return rp__senml_fail(&ctx, RP_E_TOO_LARGE, RP__SENML_NO_RECORD,
				      "payload of %zu bytes is above %zu", len, max_payload);
	}
	if (len == 0) {
		return rp__senml_fail(&ctx, RP_E_EMPTY, RP__SENML_NO_RECORD, "empty payload");
	}
	if (fmt == RP_SENML_JSON) {
		st = rp__senml_json(&ctx, buf, len);
	} else {
		st = rp__senml_cbor(&ctx, buf, len);
	}
	if (st == RP_OK && out->count == 0) {
		st = rp__senml_fail(&ctx, RP_E_EMPTY, RP__SENML_NO_RECORD,
				    "no measurement: every record holds base fields only");
	}
	if (st != RP_OK) {
		rp_senml_pack_free(out);
		return st;
	}
	if (why != NULL && why_cap > 0) {
		why[0] = '\0';
	}
	return RP_OK;
}
