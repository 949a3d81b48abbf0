/*
 * parse.c - the pure parsers and checks of the REST API: identifiers,
 * query strings, pagination cursors, cookies, CSRF tokens, the Origin
 * check, JSON bodies and the body of each route that takes one.
 *
 * Implementation notes
 * - Attacker: every byte given here comes from a client (or, for command
 *   results, from a device). Lengths are checked before anything is
 *   copied; every copy goes to a buffer whose size the limits fix
 *   (RP_LIMIT_API_QUERY_LEN, RP_LIMIT_API_CURSOR_LEN), never to one sized
 *   by the input.
 * - Strictness: one spelling per value. Integers have no sign, no leading
 *   zero and no blanks; cursors are canonical base64url of a canonical
 *   text; unknown query parameters and unknown JSON fields are refused,
 *   not ignored, so a misspelt filter never silently returns everything.
 * - Reasons (`why`) name the parameter or field, quoted with every byte
 *   outside printable ASCII written \xNN, and never quote a value.
 * - No allocation except jansson's (json.c routes it through rp_alloc) and
 *   the argument and result texts of commands.
 */
#include <ctype.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/internal.h"
#include "net/tls.h"
#include "pki/pki.h"
#include "rampart/mqtt.h"
#include "rampart/text.h"
#include "util/alloc.h"

static void say(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || cap == 0) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
}

/* A name from the peer, quoted for a reason: printable ASCII, else \xNN, cut at 32. */
static const char *quote(char *out, size_t cap, const char *s, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && i < 32u && o + 5u < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
			out[o++] = (char)c;
		} else {
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
		}
	}
	if (len > 32u && o + 4u < cap) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

/* ------------------------------------------------------------------------
 * Identifiers and text
 * ------------------------------------------------------------------------ */

rp_status rp__api_check_device_id(const char *s, size_t len)
{
	if (s == NULL || len == 0 || len > RP_LIMIT_STORE_ID_LEN) {
		return RP_E_MALFORMED;
	}
	return rp_tls_check_device_id(s, len) == RP_OK ? RP_OK : RP_E_MALFORMED;
}

rp_status rp__api_check_operator_name(const char *s, size_t len)
{
	if (s == NULL || len == 0 || len > RP_LIMIT_OPERATOR_NAME_LEN) {
		return RP_E_MALFORMED;
	}
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-' && c != '@'))) {
			return RP_E_MALFORMED;
		}
	}
	return RP_OK;
}

rp_status rp__api_check_hex_id(const char *s, size_t len)
{
	if (s == NULL || len != 32u) {
		return RP_E_MALFORMED;
	}
	for (size_t i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
			return RP_E_MALFORMED;
		}
	}
	return RP_OK;
}

static int word_char(char c, const char *extra)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr(extra, c) != NULL);
}

rp_status rp__api_check_command_name(const char *s, size_t len)
{
	if (s == NULL || len == 0 || len > RP_LIMIT_API_COMMAND_NAME_LEN) {
		return RP_E_MALFORMED;
	}
	for (size_t i = 0; i < len; i++) {
		if (!word_char(s[i], "._-")) {
			return RP_E_MALFORMED;
		}
	}
	return RP_OK;
}

rp_status rp__api_check_tag(const char *s, size_t len)
{
	if (s == NULL || len == 0 || len > RP_LIMIT_STORE_TAG_LEN) {
		return RP_E_MALFORMED;
	}
	for (size_t i = 0; i < len; i++) {
		if (!word_char(s[i], "._:=-")) {
			return RP_E_MALFORMED;
		}
	}
	return RP_OK;
}

/* Canonical decimal of a non-negative int64: "0" or no leading zero. */
static rp_status parse_u63(const char *s, size_t len, int64_t *out)
{
	int64_t v = 0;

	if (s == NULL || len == 0 || len > 19u || (len > 1u && s[0] == '0')) {
		return RP_E_MALFORMED;
	}
	for (size_t i = 0; i < len; i++) {
		int d = s[i] - '0';

		if (d < 0 || d > 9) {
			return RP_E_MALFORMED;
		}
		if (v > (INT64_MAX - d) / 10) {
			return RP_E_MALFORMED;
		}
		v = v * 10 + d;
	}
	*out = v;
	return RP_OK;
}

rp_status rp__api_parse_id(const char *s, size_t len, int64_t *out)
{
	int64_t v;

	if (parse_u63(s, len, &v) != RP_OK || v == 0) {
		return RP_E_MALFORMED;
	}
	*out = v;
	return RP_OK;
}

/* 1 if s[0 .. len) is UTF-8 without C0, DEL or C1 controls. */
static int clean_text(const char *s, size_t len)
{
	const uint8_t *u = (const uint8_t *)s;

	if (!rp_mqtt_utf8_valid(u, len)) {
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		if (u[i] < 0x20 || u[i] == 0x7f) {
			return 0;
		}
		/* U+0080 .. U+009F are C2 80 .. C2 9F */
		if (u[i] == 0xc2 && i + 1u < len && u[i + 1u] >= 0x80 && u[i + 1u] <= 0x9f) {
			return 0;
		}
	}
	return 1;
}

rp_status rp__api_check_text(const char *s, size_t len, size_t max)
{
	if (s == NULL || len == 0 || len > max || !clean_text(s, len)) {
		return RP_E_MALFORMED;
	}
	return RP_OK;
}

/* ------------------------------------------------------------------------
 * Query strings
 * ------------------------------------------------------------------------ */

/* Percent-decodes s[0 .. len) into out (room for len + 1); RP_E_MALFORMED on a bad escape. */
static rp_status pct_decode(const char *s, size_t len, char *out, size_t *out_len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			int hi, lo;

			if (i + 2u >= len) {
				return RP_E_MALFORMED;
			}
			hi = rp_text_hex_digit(s[i + 1u]);
			lo = rp_text_hex_digit(s[i + 2u]);
			if (hi < 0 || lo < 0) {
				return RP_E_MALFORMED;
			}
			out[o++] = (char)(hi * 16 + lo);
			i += 2u;
		} else if (s[i] == '+') {
			out[o++] = ' ';
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	*out_len = o;
	return RP_OK;
}

static rp_status check_value(const rp__api_qspec *sp, rp__api_qval *v, char *why, size_t cap)
{
	switch (sp->kind) {
	case RP__API_Q_STR:
		if ((int64_t)v->len < sp->min || (int64_t)v->len > sp->max ||
		    !clean_text(v->str, v->len)) {
			say(why, cap,
			    "query parameter '%s' must be %" PRId64 " to %" PRId64
			    " bytes of UTF-8 text without control characters",
			    sp->name, sp->min, sp->max);
			return RP_E_MALFORMED;
		}
		return RP_OK;
	case RP__API_Q_INT:
		if (parse_u63(v->str, v->len, &v->num) != RP_OK || v->num < sp->min ||
		    v->num > sp->max) {
			say(why, cap,
			    "query parameter '%s' must be an integer from %" PRId64 " to %" PRId64,
			    sp->name, sp->min, sp->max);
			return RP_E_MALFORMED;
		}
		return RP_OK;
	case RP__API_Q_ENUM:
		for (size_t i = 0; sp->values[i] != NULL; i++) {
			if (strlen(sp->values[i]) == v->len &&
			    memcmp(sp->values[i], v->str, v->len) == 0) {
				v->num = (int64_t)i;
				return RP_OK;
			}
		}
		{
			char list[128];
			size_t o = 0;

			list[0] = '\0';
			for (size_t i = 0; sp->values[i] != NULL && o < sizeof(list); i++) {
				o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
						      i ? ", " : "", sp->values[i]);
			}
			say(why, cap, "query parameter '%s' must be one of: %s", sp->name, list);
		}
		return RP_E_MALFORMED;
	case RP__API_Q_BOOL:
		if (v->len == 4u && memcmp(v->str, "true", 4) == 0) {
			v->num = 1;
			return RP_OK;
		}
		if (v->len == 5u && memcmp(v->str, "false", 5) == 0) {
			v->num = 0;
			return RP_OK;
		}
		say(why, cap, "query parameter '%s' must be true or false", sp->name);
		return RP_E_MALFORMED;
	case RP__API_Q_CURSOR:
		if (v->len == 0 || v->len > RP_LIMIT_API_CURSOR_LEN) {
			say(why, cap, "query parameter '%s' is not a cursor of this list",
			    sp->name);
			return RP_E_MALFORMED;
		}
		for (size_t i = 0; i < v->len; i++) {
			if (!word_char(v->str[i], "-_")) {
				say(why, cap, "query parameter '%s' is not a cursor of this list",
				    sp->name);
				return RP_E_MALFORMED;
			}
		}
		return RP_OK;
	}
	return RP_E_MALFORMED;
}

rp_status rp__api_query_parse(const rp__api_qspec *spec, const char *q, size_t len,
			      rp__api_query *out, char *why, size_t why_cap)
{
	size_t pos = 0, used = 0, pairs = 0;

	memset(out->v, 0, sizeof(out->v));
	say(why, why_cap, "%s", "");
	if (q == NULL || len == 0) {
		return RP_OK;
	}
	if (len > RP_LIMIT_API_QUERY_LEN) {
		say(why, why_cap, "query string longer than %u bytes", RP_LIMIT_API_QUERY_LEN);
		return RP_E_LIMIT;
	}
	while (pos <= len) {
		const char *pair = q + pos;
		const char *amp = memchr(pair, '&', len - pos);
		size_t plen = amp != NULL ? (size_t)(amp - pair) : len - pos;
		const char *eq = memchr(pair, '=', plen);
		char name[40];
		size_t nlen, vlen, k;
		char qt[160];

		if (++pairs > RP_LIMIT_API_QUERY_PARAMS) {
			say(why, why_cap, "more than %u query parameters",
			    RP_LIMIT_API_QUERY_PARAMS);
			return RP_E_MALFORMED;
		}
		if (plen == 0) {
			say(why, why_cap, "empty parameter in the query string");
			return RP_E_MALFORMED;
		}
		nlen = eq != NULL ? (size_t)(eq - pair) : plen;
		if (nlen >= sizeof(name) || pct_decode(pair, nlen, name, &nlen) != RP_OK) {
			say(why, why_cap, "unknown query parameter '%s'",
			    quote(qt, sizeof(qt), pair, nlen));
			return RP_E_MALFORMED;
		}
		for (k = 0; spec != NULL && spec[k].name != NULL; k++) {
			if (strlen(spec[k].name) == nlen && memcmp(spec[k].name, name, nlen) == 0) {
				break;
			}
		}
		if (spec == NULL || spec[k].name == NULL || k >= RP__API_MAX_QPARAMS) {
			say(why, why_cap, "unknown query parameter '%s'",
			    quote(qt, sizeof(qt), name, nlen));
			return RP_E_MALFORMED;
		}
		if (eq == NULL) {
			say(why, why_cap, "query parameter '%s' has no value", spec[k].name);
			return RP_E_MALFORMED;
		}
		if (out->v[k].present) {
			say(why, why_cap, "query parameter '%s' given twice", spec[k].name);
			return RP_E_MALFORMED;
		}
		vlen = plen - nlen - 1u;
		/* Decoded text is never longer than its source: used + vlen + 1 fits buf. */
		if (pct_decode(eq + 1, (size_t)(pair + plen - (eq + 1)), out->buf + used, &vlen) !=
		    RP_OK) {
			say(why, why_cap, "query parameter '%s': malformed percent-encoding",
			    spec[k].name);
			return RP_E_MALFORMED;
		}
		out->v[k].present = 1;
		out->v[k].str = out->buf + used;
		out->v[k].len = vlen;
		used += vlen + 1u;
		if (memchr(out->v[k].str, '\0', vlen) != NULL) {
			say(why, why_cap, "query parameter '%s' holds a NUL byte", spec[k].name);
			return RP_E_MALFORMED;
		}
		if (check_value(&spec[k], &out->v[k], why, why_cap) != RP_OK) {
			return RP_E_MALFORMED;
		}
		if (amp == NULL) {
			break;
		}
		pos += plen + 1u;
	}
	return RP_OK;
}

const rp__api_qval *rp__api_query_get(const rp__api_qspec *spec, const rp__api_query *q,
				      const char *name)
{
	for (size_t k = 0; spec != NULL && spec[k].name != NULL && k < RP__API_MAX_QPARAMS; k++) {
		if (strcmp(spec[k].name, name) == 0) {
			return q->v[k].present ? &q->v[k] : NULL;
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------------
 * Cursors
 * ------------------------------------------------------------------------ */

/* Longest cursor text before base64: "K." + 19 + "." + 19 + "." + id. */
#define CURSOR_TEXT_MAX (3u + 2u * 19u + 1u + RP_LIMIT_STORE_ID_LEN)

rp_status rp__api_cursor_encode(const rp__api_cursor *c, char *out, size_t cap)
{
	char text[CURSOR_TEXT_MAX + 1u];
	size_t slen;
	int n;

	if (c == NULL || out == NULL || c->kind < 'a' || c->kind > 'z' || c->a < 0 || c->b < 0) {
		return RP_E_INVALID_ARG;
	}
	slen = strnlen(c->s, sizeof(c->s));
	if (slen >= sizeof(c->s)) {
		return RP_E_INVALID_ARG;
	}
	n = snprintf(text, sizeof(text), "%c.%" PRId64 ".%" PRId64 ".%s", c->kind, c->a, c->b,
		     c->s);
	if (n < 0 || (size_t)n >= sizeof(text)) {
		return RP_E_INVALID_ARG;
	}
	if (RP_B64_LEN((size_t)n) > RP_LIMIT_API_CURSOR_LEN) {
		return RP_E_BUF_TOO_SMALL;
	}
	return rp_secret_b64_encode(RP_B64_URL, (const uint8_t *)text, (size_t)n, out, cap, NULL);
}

rp_status rp__api_cursor_decode(const char *s, size_t len, char kind, rp__api_cursor *out)
{
	uint8_t text[CURSOR_TEXT_MAX + 1u];
	size_t tlen, i, start;
	int64_t nums[2];

	if (s == NULL || out == NULL || len == 0 || len > RP_LIMIT_API_CURSOR_LEN) {
		return RP_E_MALFORMED;
	}
	if (rp_secret_b64_decode(RP_B64_URL, (const uint8_t *)s, len, text, CURSOR_TEXT_MAX,
				 &tlen) != RP_OK ||
	    tlen < 6u || text[0] != (uint8_t)kind || text[1] != '.') {
		return RP_E_MALFORMED;
	}
	i = 2;
	for (int k = 0; k < 2; k++) {
		start = i;
		while (i < tlen && text[i] != '.') {
			i++;
		}
		if (i == tlen ||
		    parse_u63((const char *)text + start, i - start, &nums[k]) != RP_OK) {
			return RP_E_MALFORMED;
		}
		i++; /* '.' */
	}
	if (tlen - i > RP_LIMIT_STORE_ID_LEN ||
	    (tlen > i && !clean_text((const char *)text + i, tlen - i))) {
		return RP_E_MALFORMED;
	}
	memset(out, 0, sizeof(*out));
	out->kind = kind;
	out->a = nums[0];
	out->b = nums[1];
	memcpy(out->s, text + i, tlen - i);
	out->s[tlen - i] = '\0';
	return RP_OK;
}

/* ------------------------------------------------------------------------
 * Cookies, CSRF, Origin
 * ------------------------------------------------------------------------ */

rp_status rp__api_cookie_get(const char *hdr, const char *name, const char **val, size_t *len)
{
	size_t nlen = strlen(name);
	const char *p = hdr;
	int found = 0;

	if (hdr == NULL) {
		return RP_E_NOT_FOUND;
	}
	while (*p != '\0') {
		const char *end, *eq;

		while (*p == ' ' || *p == '\t' || *p == ';') {
			p++;
		}
		if (*p == '\0') {
			break;
		}
		end = strchr(p, ';');
		if (end == NULL) {
			end = p + strlen(p);
		}
		eq = memchr(p, '=', (size_t)(end - p));
		if ((size_t)(end - p) >= nlen && memcmp(p, name, nlen) == 0 &&
		    (p[nlen] == '=' || p[nlen] == ';' || p[nlen] == '\0' || p[nlen] == ' ')) {
			const char *v, *ve = end;

			if (eq == NULL || eq != p + nlen || found) {
				return RP_E_MALFORMED;
			}
			v = eq + 1;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) {
				ve--;
			}
			*val = v;
			*len = (size_t)(ve - v);
			found = 1;
		}
		p = end;
	}
	return found ? RP_OK : RP_E_NOT_FOUND;
}

rp_status rp__api_csrf_derive(const rp_token *session, rp_token *csrf)
{
	static const char label[] = "rampart csrf v1";
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned mac_len = 0;
	rp_status st = RP_E_CRYPTO;

	if (HMAC(EVP_sha256(), session->text, (int)strlen(session->text),
		 (const unsigned char *)label, sizeof(label) - 1u, mac, &mac_len) == NULL ||
	    mac_len != RP_TOKEN_RANDOM_LEN) {
		goto out;
	}
	memcpy(csrf->text, "rpc_", RP_TOKEN_PREFIX_LEN);
	if (rp_secret_b64_encode(RP_B64_URL, mac, mac_len, csrf->text + RP_TOKEN_PREFIX_LEN,
				 sizeof(csrf->text) - RP_TOKEN_PREFIX_LEN, NULL) != RP_OK) {
		goto out;
	}
	st = RP_OK;
out:
	rp_wipe(mac, sizeof(mac));
	if (st != RP_OK) {
		rp_token_wipe(csrf);
	}
	return st;
}

static rp_status unhex(const char *hex, uint8_t out[RP_SHA256_LEN])
{
	if (hex == NULL || strnlen(hex, RP_SHA256_HEX_LEN + 1u) != RP_SHA256_HEX_LEN) {
		return RP_E_MALFORMED;
	}
	for (size_t i = 0; i < RP_SHA256_LEN; i++) {
		int hi = rp_text_hex_digit(hex[2u * i]), lo = rp_text_hex_digit(hex[2u * i + 1u]);

		if (hi < 0 || lo < 0) {
			return RP_E_MALFORMED;
		}
		out[i] = (uint8_t)(hi * 16 + lo);
	}
	return RP_OK;
}

rp_status rp__api_csrf_check(const char *hdr, const char *stored_hex)
{
	uint8_t stored[RP_SHA256_LEN];
	size_t len;

	if (hdr == NULL || unhex(stored_hex, stored) != RP_OK) {
		return RP_E_AUTH;
	}
	len = strnlen(hdr, RP_TOKEN_LEN + 1u);
	if (len != RP_TOKEN_LEN) {
		return RP_E_AUTH;
	}
	return rp_token_check((const uint8_t *)hdr, len, RP_TOKEN_CSRF, stored) == RP_OK
		       ? RP_OK
		       : RP_E_AUTH;
}

int rp__api_origin_ok(const char *origin, const char *sec_fetch_site, const char *host)
{
	static const char scheme[] = "https://";
	size_t hlen;

	if (origin != NULL) {
		if (host == NULL || strncmp(origin, scheme, sizeof(scheme) - 1u) != 0) {
			return 0;
		}
		origin += sizeof(scheme) - 1u;
		hlen = strlen(host);
		if (hlen == 0 || strlen(origin) != hlen) {
			return 0;
		}
		for (size_t i = 0; i < hlen; i++) {
			if (tolower((unsigned char)origin[i]) != tolower((unsigned char)host[i])) {
				return 0;
			}
		}
		return 1;
	}
	if (sec_fetch_site != NULL && (strcmp(sec_fetch_site, "cross-site") == 0 ||
				       strcmp(sec_fetch_site, "same-site") == 0)) {
		return 0;
	}
	return 1;
}

/* ------------------------------------------------------------------------
 * JSON bodies
 * ------------------------------------------------------------------------ */

rp_status rp__api_json_depth(const uint8_t *buf, size_t len, unsigned max_depth)
{
	unsigned depth = 0;
	int in_str = 0;

	for (size_t i = 0; i < len; i++) {
		uint8_t c = buf[i];

		if (in_str) {
			if (c == '\\') {
				i++; /* the escaped character, whatever it is */
			} else if (c == '"') {
				in_str = 0;
			}
			continue;
		}
		if (c == '"') {
			in_str = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > max_depth) {
				return RP_E_LIMIT;
			}
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return RP_OK;
}

/* jansson's message, reduced to printable ASCII (it may quote input bytes). */
static void clean_ascii(char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f) {
			*s = '?';
		}
	}
}

rp_status rp__api_json_parse(const uint8_t *buf, size_t len, json_t **out, char *why,
			     size_t why_cap)
{
	json_error_t err;
	json_t *j;

	*out = NULL;
	if (rp__api_json_depth(buf, len, RP_LIMIT_API_JSON_DEPTH) != RP_OK) {
		say(why, why_cap, "JSON nested deeper than %u levels", RP_LIMIT_API_JSON_DEPTH);
		return RP_E_LIMIT;
	}
	j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &err);
	if (j == NULL) {
		if (json_error_code(&err) == json_error_out_of_memory) {
			return RP_E_NOMEM;
		}
		clean_ascii(err.text);
		say(why, why_cap, "malformed JSON at line %d, column %d: %s", err.line, err.column,
		    err.text);
		return RP_E_MALFORMED;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		say(why, why_cap, "the body must be a JSON object");
		return RP_E_MALFORMED;
	}
	*out = j;
	return RP_OK;
}

json_t *rp__api_error_json(const char *code, const char *detail)
{
	json_t *j = json_object();

	if (j == NULL) {
		return NULL;
	}
	if (json_object_set_new(j, "error", json_string(code)) != 0 ||
	    json_object_set_new(j, "detail", json_string(detail != NULL ? detail : "")) != 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

rp_status rp__api_json_only(const json_t *obj, const char *const *allowed, char *why,
			    size_t why_cap)
{
	const char *key;
	json_t *v;
	char qt[160];

	/* json_object_foreach takes a non-const object; it does not change it. */
	json_object_foreach((json_t *)(uintptr_t)obj, key, v)
	{
		size_t i;

		(void)v;
		for (i = 0; allowed[i] != NULL; i++) {
			if (strcmp(allowed[i], key) == 0) {
				break;
			}
		}
		if (allowed[i] == NULL) {
			say(why, why_cap, "unknown field '%s'",
			    quote(qt, sizeof(qt), key, strlen(key)));
			return RP_E_MALFORMED;
		}
	}
	return RP_OK;
}

rp_status rp__api_json_str(const json_t *obj, const char *key, int required, size_t min, size_t max,
			   const char **s, size_t *len, char *why, size_t why_cap)
{
	const json_t *v = json_object_get(obj, key);

	*s = NULL;
	*len = 0;
	if (v == NULL) {
		if (required) {
			say(why, why_cap, "field '%s' is required", key);
			return RP_E_MALFORMED;
		}
		return RP_E_NOT_FOUND;
	}
	if (!json_is_string(v) || json_string_length(v) < min || json_string_length(v) > max) {
		say(why, why_cap, "field '%s' must be a string of %zu to %zu bytes", key, min, max);
		return RP_E_MALFORMED;
	}
	*s = json_string_value(v);
	*len = json_string_length(v);
	return RP_OK;
}

rp_status rp__api_json_bool(const json_t *obj, const char *key, int required, int *v, char *why,
			    size_t why_cap)
{
	const json_t *j = json_object_get(obj, key);

	if (j == NULL) {
		if (required) {
			say(why, why_cap, "field '%s' is required", key);
			return RP_E_MALFORMED;
		}
		return RP_E_NOT_FOUND;
	}
	if (!json_is_boolean(j)) {
		say(why, why_cap, "field '%s' must be true or false", key);
		return RP_E_MALFORMED;
	}
	*v = json_is_true(j) ? 1 : 0;
	return RP_OK;
}

rp_status rp__api_json_int(const json_t *obj, const char *key, int required, int64_t min,
			   int64_t max, int64_t *v, char *why, size_t why_cap)
{
	const json_t *j = json_object_get(obj, key);

	if (j == NULL) {
		if (required) {
			say(why, why_cap, "field '%s' is required", key);
			return RP_E_MALFORMED;
		}
		return RP_E_NOT_FOUND;
	}
	if (!json_is_integer(j) || json_integer_value(j) < min || json_integer_value(j) > max) {
		say(why, why_cap, "field '%s' must be an integer from %" PRId64 " to %" PRId64, key,
		    min, max);
		return RP_E_MALFORMED;
	}
	*v = (int64_t)json_integer_value(j);
	return RP_OK;
}

rp_status rp__api_json_dump(const json_t *v, size_t max, char **out, size_t *out_len)
{
	size_t need = json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
	char *buf;

	*out = NULL;
	if (need == 0) {
		return RP_E_NOMEM;
	}
	if (need > max) {
		return RP_E_LIMIT;
	}
	buf = rp_alloc(NULL, need + 1u);
	if (buf == NULL) {
		return RP_E_NOMEM;
	}
	if (json_dumpb(v, buf, need, JSON_COMPACT | JSON_ENCODE_ANY) != need) {
		rp_free(NULL, buf);
		return RP_E_NOMEM;
	}
	buf[need] = '\0';
	*out = buf;
	*out_len = need;
	return RP_OK;
}

/* ------------------------------------------------------------------------
 * Bodies of the routes
 * ------------------------------------------------------------------------ */

rp_status rp__api_login_body(const json_t *body, rp__api_login *out, char *why, size_t why_cap)
{
	static const char *const allowed[] = {"name", "password", "totp", NULL};
	const char *name;
	size_t nlen;
	rp_status st;

	memset(out, 0, sizeof(*out));
	if (rp__api_json_only(body, allowed, why, why_cap) != RP_OK ||
	    rp__api_json_str(body, "name", 1, 1, RP_LIMIT_OPERATOR_NAME_LEN, &name, &nlen, why,
			     why_cap) != RP_OK ||
	    rp__api_json_str(body, "password", 1, 1, RP_LIMIT_PASSWORD_LEN, &out->password,
			     &out->password_len, why, why_cap) != RP_OK) {
		return RP_E_MALFORMED;
	}
	st = rp__api_json_str(body, "totp", 0, 1, 16, &out->totp, &out->totp_len, why, why_cap);
	if (st != RP_OK && st != RP_E_NOT_FOUND) {
		return RP_E_MALFORMED;
	}
	/* Names are compared in ASCII lower case: "Admin" is "admin". */
	for (size_t i = 0; i < nlen; i++) {
		out->name[i] =
			(char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
	}
	out->name[nlen] = '\0';
	if (rp__api_check_operator_name(out->name, nlen) != RP_OK) {
		say(why, why_cap, "field 'name' is not an operator name (a-z 0-9 . _ - @)");
		return RP_E_MALFORMED;
	}
	return RP_OK;
}

/* The array `tags` (may be NULL: refused) into out. */
static rp_status parse_tags(const json_t *tags, rp__api_tags *out, char *why, size_t why_cap)
{
	char qt[160];

	if (tags == NULL || !json_is_array(tags) || json_array_size(tags) > RP_LIMIT_STORE_TAGS) {
		say(why, why_cap, "field 'tags' must be an array of at most %u tags",
		    RP_LIMIT_STORE_TAGS);
		return RP_E_MALFORMED;
	}
	for (size_t i = 0; i < json_array_size(tags); i++) {
		const json_t *t = json_array_get(tags, i);
		const char *s = json_string_value(t);
		size_t len = json_string_length(t);

		if (!json_is_string(t) || rp__api_check_tag(s, len) != RP_OK) {
			say(why, why_cap,
			    "tag %zu must be 1 to %u characters of A-Z a-z 0-9 . _ : = -", i,
			    RP_LIMIT_STORE_TAG_LEN);
			return RP_E_MALFORMED;
		}
		for (size_t k = 0; k < out->n; k++) {
			if (strcmp(out->tag[k], s) == 0) {
				say(why, why_cap, "tag '%s' given twice",
				    quote(qt, sizeof(qt), s, len));
				return RP_E_MALFORMED;
			}
		}
		out->tag[out->n++] = s;
	}
	return RP_OK;
}

rp_status rp__api_tags_body(const json_t *body, rp__api_tags *out, char *why, size_t why_cap)
{
	static const char *const allowed[] = {"tags", NULL};

	memset(out, 0, sizeof(*out));
	if (rp__api_json_only(body, allowed, why, why_cap) != RP_OK) {
		return RP_E_MALFORMED;
	}
	return parse_tags(json_object_get(body, "tags"), out, why, why_cap);
}

rp_status rp__api_command_body(const json_t *body, rp__api_command *out, char *why, size_t why_cap)
{
	static const char *const allowed[] = {"name", "args", NULL};
	const json_t *args;
	json_t *empty = NULL;
	rp_status st;

	memset(out, 0, sizeof(*out));
	if (rp__api_json_only(body, allowed, why, why_cap) != RP_OK ||
	    rp__api_json_str(body, "name", 1, 1, RP_LIMIT_API_COMMAND_NAME_LEN, &out->name,
			     &out->name_len, why, why_cap) != RP_OK) {
		return RP_E_MALFORMED;
	}
	if (rp__api_check_command_name(out->name, out->name_len) != RP_OK) {
		say(why, why_cap, "field 'name' must be 1 to %u characters of A-Z a-z 0-9 . _ -",
		    RP_LIMIT_API_COMMAND_NAME_LEN);
		return RP_E_MALFORMED;
	}
	args = json_object_get(body, "args");
	if (args == NULL) {
		args = empty = json_object();
		if (empty == NULL) {
			return RP_E_NOMEM;
		}
	} else if (!json_is_object(args)) {
		say(why, why_cap, "field 'args' must be a JSON object");
		return RP_E_MALFORMED;
	}
	st = rp__api_json_dump(args, RP_LIMIT_API_COMMAND_ARGS, &out->args, &out->args_len);
	json_decref(empty);
	if (st == RP_E_LIMIT) {
		say(why, why_cap, "field 'args' is longer than %u bytes as compact JSON",
		    RP_LIMIT_API_COMMAND_ARGS);
	}
	return st;
}

rp_status rp__api_cmd_result_parse(const uint8_t *payload, size_t len, rp__api_cmd_result *out)
{
	static const char *const allowed[] = {"id", "status", "result", NULL};
	json_t *j = NULL;
	const json_t *res;
	const char *id, *status;
	size_t idlen, slen, rlen;
	rp_status st = RP_E_MALFORMED;

	memset(out, 0, sizeof(*out));
	if (payload == NULL || rp__api_json_parse(payload, len, &j, NULL, 0) != RP_OK) {
		goto out;
	}
	if (rp__api_json_only(j, allowed, NULL, 0) != RP_OK ||
	    rp__api_json_str(j, "id", 1, 32, 32, &id, &idlen, NULL, 0) != RP_OK ||
	    rp__api_check_hex_id(id, idlen) != RP_OK ||
	    rp__api_json_str(j, "status", 1, 4, 6, &status, &slen, NULL, 0) != RP_OK) {
		goto out;
	}
	if (strcmp(status, "done") == 0) {
		out->failed = 0;
	} else if (strcmp(status, "failed") == 0) {
		out->failed = 1;
	} else {
		goto out;
	}
	memcpy(out->id, id, 32);
	out->id[32] = '\0';
	res = json_object_get(j, "result");
	if (res == NULL) {
		out->result = rp_calloc(NULL, 1, 1);
		st = out->result != NULL ? RP_OK : RP_E_NOMEM;
		goto out;
	}
	st = rp__api_json_dump(res, RP_LIMIT_STORE_JSON_LEN, &out->result, &rlen);
	if (st == RP_E_LIMIT) {
		st = RP_E_MALFORMED;
	}
out:
	json_decref(j);
	return st;
}

/* ------------------------------------------------------------------------
 * Enrollment (EST): tokens' bodies, Basic credentials, media types
 * ------------------------------------------------------------------------ */

/* [A-Za-z0-9._-], the first a letter or digit: what every device id starts with. */
static int id_prefix_ok(const char *s, size_t len)
{
	if (len == 0 || len >= RP_LIMIT_PKI_DEVICE_ID_LEN || !isalnum((unsigned char)s[0])) {
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		if (!word_char(s[i], "._-")) {
			return 0;
		}
	}
	return 1;
}

rp_status rp__api_enroll_token_body(const json_t *body, rp__api_enroll_req *out, char *why,
				    size_t why_cap)
{
	static const char *const allowed[] = {"device", "device_prefix", "uses", "lifetime_s",
					      "model",  "tags",          NULL};
	const char *why_id = NULL, *dev, *pre;
	size_t dev_len, pre_len;
	rp_status a, b;
	const json_t *tags;

	memset(out, 0, sizeof(*out));
	out->uses = 1;
	out->lifetime_s = RP_DEFAULT_EST_TOKEN_LIFETIME_S;
	if (rp__api_json_only(body, allowed, why, why_cap) != RP_OK) {
		return RP_E_MALFORMED;
	}
	a = rp__api_json_str(body, "device", 0, 1, RP_LIMIT_PKI_DEVICE_ID_LEN, &dev, &dev_len, why,
			     why_cap);
	b = rp__api_json_str(body, "device_prefix", 0, 1, RP_LIMIT_PKI_DEVICE_ID_LEN - 1u, &pre,
			     &pre_len, why, why_cap);
	if (a == RP_E_MALFORMED || b == RP_E_MALFORMED) {
		return RP_E_MALFORMED;
	}
	if ((a == RP_OK) == (b == RP_OK)) {
		say(why, why_cap, "give exactly one of 'device' and 'device_prefix'");
		return RP_E_MALFORMED;
	}
	if (a == RP_OK) {
		if (!rp_pki_device_id_valid(dev, dev_len, &why_id)) {
			say(why, why_cap, "field 'device' is not a device id: %s", why_id);
			return RP_E_MALFORMED;
		}
		out->device = dev;
		out->device_len = dev_len;
	} else {
		if (!id_prefix_ok(pre, pre_len)) {
			say(why, why_cap,
			    "field 'device_prefix' must be 1 to %u of A-Z a-z 0-9 . _ -, starting "
			    "with a letter or digit",
			    RP_LIMIT_PKI_DEVICE_ID_LEN - 1u);
			return RP_E_MALFORMED;
		}
		out->device = pre;
		out->device_len = pre_len;
		out->prefix = 1;
	}
	if (rp__api_json_int(body, "uses", 0, 1, RP_LIMIT_EST_TOKEN_USES, &out->uses, why,
			     why_cap) == RP_E_MALFORMED ||
	    rp__api_json_int(body, "lifetime_s", 0, RP_LIMIT_EST_TOKEN_LIFETIME_MIN_S,
			     RP_LIMIT_EST_TOKEN_LIFETIME_S, &out->lifetime_s, why,
			     why_cap) == RP_E_MALFORMED ||
	    rp__api_json_str(body, "model", 0, 1, RP_LIMIT_STORE_TEXT_LEN, &out->model,
			     &out->model_len, why, why_cap) == RP_E_MALFORMED) {
		return RP_E_MALFORMED;
	}
	if (out->model != NULL &&
	    rp__api_check_text(out->model, out->model_len, RP_LIMIT_STORE_TEXT_LEN) != RP_OK) {
		say(why, why_cap, "field 'model' must be text without control characters");
		return RP_E_MALFORMED;
	}
	tags = json_object_get(body, "tags");
	if (tags != NULL && parse_tags(tags, &out->tags, why, why_cap) != RP_OK) {
		return RP_E_MALFORMED;
	}
	return RP_OK;
}

int rp__api_enroll_binds(const char *device, int prefix, const char *id, size_t id_len)
{
	size_t n;

	if (device == NULL || id == NULL) {
		return 0;
	}
	n = strlen(device);
	if (prefix) {
		return n > 0 && id_len >= n && memcmp(id, device, n) == 0;
	}
	return id_len == n && memcmp(id, device, n) == 0;
}

/* Printable ASCII (0x21 .. 0x7E), and no ':' when colon is 0. */
static int basic_part_ok(const char *s, size_t len, int colon)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x21 || c > 0x7e || (!colon && c == ':')) {
			return 0;
		}
	}
	return 1;
}

rp_status rp__api_basic_parse(const char *hdr, size_t len, char *user, size_t ucap, char *pass,
			      size_t pcap)
{
	uint8_t raw[RP__API_BASIC_RAW];
	const char *b64, *colon;
	size_t n = 0, b64_len, pad = 0, ul, pl;
	rp_status st = RP_E_MALFORMED;

	if (hdr == NULL || user == NULL || pass == NULL || ucap == 0 || pcap == 0) {
		return RP_E_MALFORMED;
	}
	user[0] = '\0';
	pass[0] = '\0';
	/* "Basic" in any case, one space, then base64 and nothing else. */
	if (len < 6 || strncasecmp(hdr, "Basic ", 6) != 0) {
		return RP_E_MALFORMED;
	}
	b64 = hdr + 6;
	b64_len = len - 6u;
	/* Padded base64 (RFC 7617 uses RFC 4648 section 4): length a multiple of 4. */
	if (b64_len == 0 || b64_len % 4u != 0 || b64_len > RP_B64_LEN(sizeof(raw)) + 3u) {
		return RP_E_MALFORMED;
	}
	while (pad < 2u && b64[b64_len - 1u - pad] == '=') {
		pad++;
	}
	/* The strict decoder refuses '=' anywhere else and non-zero trailing bits. */
	if (rp_secret_b64_decode(RP_B64_STD, (const uint8_t *)b64, b64_len - pad, raw, sizeof(raw),
				 &n) != RP_OK) {
		goto out;
	}
	colon = memchr(raw, ':', n);
	if (colon == NULL) {
		goto out;
	}
	ul = (size_t)(colon - (const char *)raw);
	pl = n - ul - 1u;
	if (ul >= ucap || pl >= pcap || pl == 0 || !basic_part_ok((const char *)raw, ul, 0) ||
	    !basic_part_ok(colon + 1, pl, 1)) {
		goto out;
	}
	memcpy(user, raw, ul);
	user[ul] = '\0';
	memcpy(pass, colon + 1, pl);
	pass[pl] = '\0';
	st = RP_OK;
out:
	rp_wipe(raw, sizeof(raw));
	return st;
}

int rp__api_is_pkcs10_type(const char *ct)
{
	static const char t[] = "application/pkcs10";
	size_t n = sizeof(t) - 1u;

	if (ct == NULL || strncasecmp(ct, t, n) != 0) {
		return 0;
	}
	ct += n;
	while (*ct == ' ' || *ct == '\t') {
		ct++;
	}
	/* Parameters (none is defined for application/pkcs10) are ignored. */
	return *ct == '\0' || *ct == ';';
}
