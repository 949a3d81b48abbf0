/*
 * senml_json.c - the JSON front end of the SenML parser (RFC 8428 section 5).
 *
 * Why by hand, and not jansson
 * - jansson 2.14 (Debian 12) cannot survive a failed allocation while it
 *   lexes: lex_save() drops strbuffer_append_byte()'s failure, and then
 *   assert(c == d) in lex_unget_unsave() aborts the process, or the string
 *   decoder walks past its buffer (akheron/jansson issue 362, open since
 *   2017). Routing it through rp_alloc() with a memory budget would have
 *   let a payload sized to exhaust the budget abort rampartd, and fault
 *   injection could not be tested at all.
 * - A SenML pack needs only a small subset of JSON: one array of objects
 *   whose values are scalars. This reader takes exactly that, strictly
 *   (RFC 8259 grammar), with no recursion and no allocation except one
 *   scratch buffer when a string holds escapes. The unit tests and the
 *   fuzz target compare it with jansson (what it accepts, jansson accepts).
 *
 * Implementation notes
 * - Attacker: every byte. Two passes over at most RP_LIMIT_SENML_PAYLOAD
 *   bytes: count() finds the number of records (to size the output and to
 *   refuse a pack over max_records before anything is allocated), then the
 *   reader walks the grammar
 *       pack   = ws '[' ws record (ws ',' ws record)* ws ']' ws
 *       record = '{' ws [member (ws ',' ws member)*] ws '}'
 *       member = string ws ':' ws (string | number | true | false | null)
 *   An array or object in a value is refused (SenML does not nest).
 * - Strings: raw bytes must be UTF-8 (rp_mqtt_utf8_valid); control
 *   characters are refused; escapes are decoded, \u0000 and unpaired
 *   surrogates refused. A string without escapes is a view into the input;
 *   one with escapes is decoded into the scratch buffer, which lives for
 *   the whole parse (base fields stay in force across records). A decoded
 *   string is never longer than its text, so the scratch never needs more
 *   than the payload's length.
 * - Numbers: the RFC 8259 grammar, an exponent only with a lower-case 'e'
 *   (RFC 8428 section 5), at most RP_LIMIT_SENML_NUMBER_LEN characters,
 *   converted by strtod(), which must consume the whole token (so a
 *   locale other than "C", where '.' is not the decimal point, fails
 *   closed rather than misreading numbers), and must give a finite value.
 * - Keys are decoded like strings, then compared with the labels; a label
 *   twice in a record is refused (duplicates of ignored extensions too).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/mqtt.h"
#include "telemetry/internal.h"
#include "util/alloc.h"

struct jcur {
	rp__senml_ctx *ctx;
	const uint8_t *buf;
	size_t len, pos;
	size_t idx;    /* record being read, or RP__SENML_NO_RECORD */
	char *scratch; /* decoded strings with escapes: at most len bytes in all */
	size_t scratch_used;
};

enum jtype { J_STRING, J_NUMBER, J_TRUE, J_FALSE, J_NULL };

struct jval {
	enum jtype type;
	rp__senml_view s; /* J_STRING */
	double d;         /* J_NUMBER */
};

static rp_status syntax(struct jcur *c, size_t at, const char *what)
{
	return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx, "invalid JSON at byte %zu: %s", at,
			      what);
}

static rp_status ends_early(struct jcur *c)
{
	return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx, "JSON text ends early");
}

static void skip_ws(struct jcur *c)
{
	while (c->pos < c->len) {
		uint8_t b = c->buf[c->pos];

		if (b != ' ' && b != '\t' && b != '\n' && b != '\r') {
			break;
		}
		c->pos++;
	}
}

/* The byte at the cursor, or -1 at the end. */
static int peek(const struct jcur *c)
{
	return c->pos < c->len ? c->buf[c->pos] : -1;
}

/*
 * Number of members of the pack: commas at depth 1 outside strings, up to
 * the bracket that closes the pack, plus one. Exact for any text the
 * reader accepts (never less than what it reads: it splits records only at
 * such commas); for other text the reader fails anyway. Refuses more than
 * max_records.
 */
static rp_status count(rp__senml_ctx *ctx, const uint8_t *buf, size_t len, size_t *n)
{
	size_t i, depth = 0, members = 1;
	int in_string = 0, escaped = 0;

	for (i = 0; i < len; i++) {
		uint8_t b = buf[i];

		if (in_string) {
			if (escaped) {
				escaped = 0;
			} else if (b == '\\') {
				escaped = 1;
			} else if (b == '"') {
				in_string = 0;
			}
		} else if (b == '"') {
			in_string = 1;
		} else if (b == '[' || b == '{') {
			depth++;
		} else if (b == ']' || b == '}') {
			if (depth <= 1) {
				break; /* the end of the pack: what follows is not counted */
			}
			depth--;
		} else if (b == ',' && depth == 1 && ++members > ctx->max_records) {
			return rp__senml_fail(ctx, RP_E_LIMIT, RP__SENML_NO_RECORD,
					      "more than %zu records", ctx->max_records);
		}
	}
	*n = members;
	return RP_OK;
}

static int hex4(const uint8_t *p, uint32_t *out)
{
	uint32_t v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		uint8_t b = p[i];

		v <<= 4;
		if (b >= '0' && b <= '9') {
			v |= (uint32_t)(b - '0');
		} else if (b >= 'a' && b <= 'f') {
			v |= (uint32_t)(b - 'a' + 10);
		} else if (b >= 'A' && b <= 'F') {
			v |= (uint32_t)(b - 'A' + 10);
		} else {
			return 0;
		}
	}
	*out = v;
	return 1;
}

static size_t put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Decodes the escapes of buf[start .. end) (checked to be UTF-8) into the scratch. */
static rp_status unescape(struct jcur *c, size_t start, size_t end, rp__senml_view *out)
{
	const uint8_t *b = c->buf;
	char *o;
	size_t i = start;

	if (c->scratch == NULL) {
		c->scratch = rp_alloc(NULL, c->len);
		if (c->scratch == NULL) {
			return rp__senml_fail(c->ctx, RP_E_NOMEM, RP__SENML_NO_RECORD,
					      "out of memory");
		}
	}
	/* Room: what is left of the scratch is at least what is left of the input. */
	o = c->scratch + c->scratch_used;
	out->p = o;
	while (i < end) {
		uint32_t cp, lo;

		if (b[i] != '\\') {
			*o++ = (char)b[i++];
			continue;
		}
		/* The scan stopped at the closing quote, so b[i + 1] exists. */
		switch (b[i + 1]) {
		case '"':
		case '\\':
		case '/':
			*o++ = (char)b[i + 1];
			break;
		case 'b':
			*o++ = '\b';
			break;
		case 'f':
			*o++ = '\f';
			break;
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'u':
			if (end - i < 6 || !hex4(b + i + 2, &cp)) {
				return syntax(c, i, "invalid \\u escape");
			}
			if (cp == 0) {
				return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx,
						      "\\u0000 in a string at byte %zu", i);
			}
			if (cp >= 0xDC00 && cp <= 0xDFFF) {
				return rp__senml_fail(c->ctx, RP_E_UTF8, c->idx,
						      "unpaired surrogate escape at byte %zu", i);
			}
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				if (end - i < 12 || b[i + 6] != '\\' || b[i + 7] != 'u' ||
				    !hex4(b + i + 8, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
					return rp__senml_fail(
						c->ctx, RP_E_UTF8, c->idx,
						"unpaired surrogate escape at byte %zu", i);
				}
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				i += 6;
			}
			o += put_utf8(o, cp);
			i += 6;
			continue;
		default:
			return syntax(c, i, "invalid escape");
		}
		i += 2;
	}
	out->len = (size_t)(o - out->p);
	c->scratch_used += out->len;
	return RP_OK;
}

/* A string at the cursor (which is on its '"'). */
static rp_status string(struct jcur *c, rp__senml_view *out)
{
	size_t start = c->pos + 1, i;
	int escapes = 0;

	for (i = start;; i++) {
		if (i >= c->len) {
			return ends_early(c);
		}
		if (c->buf[i] == '"') {
			break;
		}
		if (c->buf[i] < 0x20) {
			return syntax(c, i, "control character in a string");
		}
		if (c->buf[i] == '\\') {
			escapes = 1;
			i++; /* the escaped byte cannot end the string */
		}
	}
	if (!rp_mqtt_utf8_valid(c->buf + start, i - start)) {
		return rp__senml_fail(c->ctx, RP_E_UTF8, c->idx,
				      "string at byte %zu is not valid UTF-8", c->pos);
	}
	c->pos = i + 1;
	if (escapes) {
		return unescape(c, start, i, out);
	}
	out->p = (const char *)c->buf + start;
	out->len = i - start;
	return RP_OK;
}

static int is_digit(int b)
{
	return b >= '0' && b <= '9';
}

/* A number at the cursor: -?(0|[1-9][0-9]*)(\.[0-9]+)?(e[+-]?[0-9]+)? */
static rp_status number(struct jcur *c, double *out)
{
	char text[RP_LIMIT_SENML_NUMBER_LEN + 1];
	size_t start = c->pos, n;
	char *end;
	double d;

	if (peek(c) == '-') {
		c->pos++;
	}
	if (peek(c) == '0') {
		c->pos++;
	} else if (is_digit(peek(c))) {
		while (is_digit(peek(c))) {
			c->pos++;
		}
	} else {
		return syntax(c, c->pos, "invalid number");
	}
	if (peek(c) == '.') {
		c->pos++;
		if (!is_digit(peek(c))) {
			return syntax(c, c->pos, "invalid number");
		}
		while (is_digit(peek(c))) {
			c->pos++;
		}
	}
	if (peek(c) == 'E') {
		return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx,
				      "exponent with 'E' at byte %zu (RFC 8428 section 5: 'e')",
				      c->pos);
	}
	if (peek(c) == 'e') {
		c->pos++;
		if (peek(c) == '+' || peek(c) == '-') {
			c->pos++;
		}
		if (!is_digit(peek(c))) {
			return syntax(c, c->pos, "invalid number");
		}
		while (is_digit(peek(c))) {
			c->pos++;
		}
	}
	n = c->pos - start;
	if (n > RP_LIMIT_SENML_NUMBER_LEN) {
		return rp__senml_fail(c->ctx, RP_E_LIMIT, c->idx,
				      "number at byte %zu longer than %u characters", start,
				      RP_LIMIT_SENML_NUMBER_LEN);
	}
	memcpy(text, c->buf + start, n);
	text[n] = '\0';
	errno = 0;
	d = strtod(text, &end);
	if (end != text + n) {
		return rp__senml_fail(c->ctx, RP_E_INTERNAL, c->idx,
				      "strtod() disagrees on the number at byte %zu (locale?)",
				      start);
	}
	if (!isfinite(d)) {
		return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx,
				      "number at byte %zu out of range", start);
	}
	*out = d;
	return RP_OK;
}

static int literal(struct jcur *c, const char *word)
{
	size_t n = strlen(word);

	if (c->len - c->pos >= n && memcmp(c->buf + c->pos, word, n) == 0) {
		c->pos += n;
		return 1;
	}
	return 0;
}

/* A scalar value at the cursor. `what` names it in a reason. */
static rp_status value(struct jcur *c, struct jval *v, const char *what)
{
	int b = peek(c);

	memset(v, 0, sizeof(*v));
	switch (b) {
	case -1:
		return ends_early(c);
	case '"':
		v->type = J_STRING;
		return string(c, &v->s);
	case '[':
	case '{':
		return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx,
				      "%s: SenML does not nest (byte %zu)", what, c->pos);
	case 't':
		v->type = J_TRUE;
		return literal(c, "true") ? RP_OK : syntax(c, c->pos, "invalid literal");
	case 'f':
		v->type = J_FALSE;
		return literal(c, "false") ? RP_OK : syntax(c, c->pos, "invalid literal");
	case 'n':
		v->type = J_NULL;
		return literal(c, "null") ? RP_OK : syntax(c, c->pos, "invalid literal");
	default:
		if (b == '-' || is_digit(b)) {
			v->type = J_NUMBER;
			return number(c, &v->d);
		}
		return syntax(c, c->pos, "expected a value");
	}
}

/* Stores the value of known label l into raw after checking its type. */
static rp_status known(struct jcur *c, int l, const struct jval *v, rp__senml_raw *raw)
{
	const char *name = rp__senml_label_name[l];

	switch (rp__senml_label_type((enum rp__senml_label)l)) {
	case RP__SENML_T_STRING:
	case RP__SENML_T_DATA:
		if (v->type != J_STRING) {
			return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx, "%s is not a string",
					      name);
		}
		raw->s[l] = v->s;
		break;
	case RP__SENML_T_NUMBER:
		if (v->type != J_NUMBER) {
			return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx, "%s is not a number",
					      name);
		}
		raw->num[l] = v->d;
		break;
	case RP__SENML_T_BOOL:
		if (v->type != J_TRUE && v->type != J_FALSE) {
			return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx, "%s is not a boolean",
					      name);
		}
		raw->vb = v->type == J_TRUE;
		break;
	case RP__SENML_T_VERSION:
		/* An integral number in 1 .. 2**32: the conversion is exact. */
		if (v->type != J_NUMBER || !(v->d >= 1.0 && v->d <= 4294967296.0) ||
		    v->d != (double)(uint64_t)v->d) {
			return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx,
					      "bver is not a positive integer");
		}
		raw->version = (uint64_t)v->d;
		break;
	}
	raw->have |= RP__SENML_BIT(l);
	return RP_OK;
}

/* One record (the cursor is on its first byte) into raw. */
static rp_status record(struct jcur *c, rp__senml_raw *raw)
{
	rp__senml_view ext[RP_LIMIT_SENML_FIELDS];
	size_t n_ext = 0, fields = 0, j;
	char q[RP__SENML_QUOTE_CAP];
	rp__senml_view key;
	struct jval v;
	rp_status st;
	int b = peek(c);

	memset(raw, 0, sizeof(*raw));
	raw->data_is_b64 = 1;
	if (b != '{') {
		if (b == '[' || b == '"' || b == 't' || b == 'f' || b == 'n' || b == '-' ||
		    is_digit(b)) {
			return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx, "not an object");
		}
		return b < 0 ? ends_early(c) : syntax(c, c->pos, "expected a record");
	}
	c->pos++;
	skip_ws(c);
	if (peek(c) == '}') {
		c->pos++;
		return RP_OK;
	}
	for (;;) {
		int l;

		if (++fields > RP_LIMIT_SENML_FIELDS) {
			return rp__senml_fail(c->ctx, RP_E_LIMIT, c->idx, "more than %u fields",
					      RP_LIMIT_SENML_FIELDS);
		}
		if (peek(c) != '"') {
			return peek(c) < 0 ? ends_early(c) : syntax(c, c->pos, "expected a label");
		}
		st = string(c, &key);
		if (st != RP_OK) {
			return st;
		}
		skip_ws(c);
		if (peek(c) != ':') {
			return peek(c) < 0 ? ends_early(c) : syntax(c, c->pos, "expected ':'");
		}
		c->pos++;
		skip_ws(c);
		rp__senml_quote(q, sizeof(q), key.p, key.len);
		st = value(c, &v, q);
		if (st != RP_OK) {
			return st;
		}
		l = rp__senml_label_find(key.p, key.len);
		if (l >= 0) {
			if (raw->have & RP__SENML_BIT(l)) {
				return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx,
						      "duplicate label %s", q);
			}
			st = known(c, l, &v, raw);
			if (st != RP_OK) {
				return st;
			}
		} else {
			if (key.len > 0 && key.p[key.len - 1] == '_') {
				return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx,
						      "unknown label %s must be understood", q);
			}
			for (j = 0; j < n_ext; j++) {
				if (ext[j].len == key.len &&
				    memcmp(ext[j].p, key.p, key.len) == 0) {
					return rp__senml_fail(c->ctx, RP_E_MALFORMED, c->idx,
							      "duplicate label %s", q);
				}
			}
			ext[n_ext++] = key; /* an extension: ignored (RFC 8428 4.4) */
		}
		skip_ws(c);
		if (peek(c) == '}') {
			c->pos++;
			return RP_OK;
		}
		if (peek(c) != ',') {
			return peek(c) < 0 ? ends_early(c)
					   : syntax(c, c->pos, "expected ',' or '}'");
		}
		c->pos++;
		skip_ws(c);
	}
}

static rp_status pack(struct jcur *c)
{
	rp__senml_ctx *ctx = c->ctx;
	rp__senml_raw raw;
	size_t n = 0, i;
	rp_status st;

	st = count(ctx, c->buf, c->len, &n);
	if (st != RP_OK) {
		return st;
	}
	skip_ws(c);
	if (peek(c) == '{') {
		return rp__senml_fail(ctx, RP_E_MALFORMED, RP__SENML_NO_RECORD,
				      "the pack is not an array");
	}
	if (peek(c) != '[') {
		return peek(c) < 0 ? ends_early(c) : syntax(c, c->pos, "expected '['");
	}
	c->pos++;
	skip_ws(c);
	if (peek(c) == ']') {
		return rp__senml_fail(ctx, RP_E_EMPTY, RP__SENML_NO_RECORD, "empty pack");
	}
	st = rp__senml_begin(ctx, n);
	for (i = 0; st == RP_OK; i++) {
		if (i >= n) {
			return rp__senml_fail(ctx, RP_E_INTERNAL, i, "more records than counted");
		}
		c->idx = i;
		st = record(c, &raw);
		if (st != RP_OK) {
			return st;
		}
		st = rp__senml_record(ctx, i, &raw);
		if (st != RP_OK) {
			return st;
		}
		skip_ws(c);
		if (peek(c) == ']') {
			c->pos++;
			break;
		}
		if (peek(c) != ',') {
			return peek(c) < 0 ? ends_early(c)
					   : syntax(c, c->pos, "expected ',' or ']'");
		}
		c->pos++;
		skip_ws(c);
	}
	if (st != RP_OK) {
		return st;
	}
	c->idx = RP__SENML_NO_RECORD;
	skip_ws(c);
	if (c->pos != c->len) {
		return rp__senml_fail(ctx, RP_E_TRAILING, RP__SENML_NO_RECORD,
				      "%zu byte(s) after the pack, at byte %zu", c->len - c->pos,
				      c->pos);
	}
	return RP_OK;
}

rp_status rp__senml_json(rp__senml_ctx *ctx, const uint8_t *buf, size_t len)
{
	struct jcur c = {ctx, buf, len, 0, RP__SENML_NO_RECORD, NULL, 0};
	rp_status st;

	st = pack(&c);
	/* The resolver has copied into the pack everything it keeps. */
	rp_free(NULL, c.scratch);
	return st;
}
