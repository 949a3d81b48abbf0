/*
 * fuzz_api.c - libFuzzer target for what server/api reads from clients
 * before any handler: paths (route lookup), query strings, pagination
 * cursors, the Cookie header, the CSRF and Origin checks, JSON bodies and
 * the validators of each route's body, and command results from devices.
 *
 * Input: one selector byte, then the bytes handed to the parser.
 *   0  query string, against the spec of route (byte 1 % routes)
 *   1  cursor, decoded as kind 'a' + (byte 1 % 26)
 *   2  Cookie header
 *   3  JSON body, then every body validator
 *   4  command result payload
 *   5  route lookup, method byte 1 % 6 (5: not a method)
 *   6  X-CSRF-Token and Origin / Host (split at the first NUL)
 *   7  Authorization header of an EST request (HTTP Basic), and the
 *      Content-Type check of a CSR
 *
 * Oracles (any failure aborts):
 * - Query: an accepted value is of its kind and in range: integers within
 *   [min, max], text of [min, max] bytes without NUL, enums and booleans
 *   by index, cursors of base64url characters.
 * - Cursor: an accepted cursor encodes back to exactly the input
 *   (canonical), and its fields are in range.
 * - Cookie: a value found is a view inside the header.
 * - JSON: an accepted body is an object; validators either accept with
 *   outputs that satisfy their documented rules, or give a reason.
 * - Routes: 200 gives a route of that method whose parameters point into
 *   the path; 405 names other methods only. The same for the EST table.
 * - Basic: accepted credentials are printable ASCII, the user without ':',
 *   the password not empty, and re-encoding "user:password" gives the
 *   input back (one spelling). An enrollment token body accepted names a
 *   valid device id or prefix, uses and lifetime in range.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "auth/secret.h"
#include "pki/pki.h"
#include "util/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			check_failed(#cond, __LINE__);                                             \
		}                                                                                  \
	} while (0)

_Noreturn static void check_failed(const char *what, int line)
{
	fprintf(stderr, "fuzz_api: invariant failed at line %d: %s\n", line, what);
	abort();
}

static void fuzz_query(const uint8_t *d, size_t n)
{
	size_t nroutes;
	const rp__api_route *routes = rp__api_routes(&nroutes);
	const rp__api_qspec *spec;
	rp__api_query *q;
	char why[RP__API_WHY_CAP];

	if (n < 1) {
		return;
	}
	spec = routes[d[0] % nroutes].query;
	q = malloc(sizeof(*q));
	if (q == NULL) {
		return;
	}
	if (rp__api_query_parse(spec, (const char *)d + 1, n - 1u, q, why, sizeof(why)) == RP_OK) {
		for (size_t k = 0; spec != NULL && spec[k].name != NULL; k++) {
			const rp__api_qval *v = &q->v[k];

			if (!v->present) {
				continue;
			}
			CHECK(strlen(v->str) == v->len);
			switch (spec[k].kind) {
			case RP__API_Q_INT:
				CHECK(v->num >= spec[k].min && v->num <= spec[k].max);
				break;
			case RP__API_Q_STR:
				CHECK((int64_t)v->len >= spec[k].min &&
				      (int64_t)v->len <= spec[k].max);
				CHECK(rp__api_check_text(v->str, v->len, (size_t)spec[k].max) ==
				      RP_OK);
				break;
			case RP__API_Q_ENUM:
				CHECK(v->num >= 0 && spec[k].values[v->num] != NULL);
				CHECK(strcmp(spec[k].values[v->num], v->str) == 0);
				break;
			case RP__API_Q_BOOL:
				CHECK(v->num == 0 || v->num == 1);
				break;
			case RP__API_Q_CURSOR:
				CHECK(v->len >= 1 && v->len <= RP_LIMIT_API_CURSOR_LEN);
				break;
			}
		}
	} else {
		CHECK(why[0] != '\0');
	}
	free(q);
}

static void fuzz_cursor(const uint8_t *d, size_t n)
{
	rp__api_cursor c;
	char enc[RP__API_CURSOR_CAP];
	char kind;

	if (n < 1) {
		return;
	}
	kind = (char)('a' + d[0] % 26);
	if (rp__api_cursor_decode((const char *)d + 1, n - 1u, kind, &c) == RP_OK) {
		CHECK(c.kind == kind && c.a >= 0 && c.b >= 0);
		CHECK(strlen(c.s) <= RP_LIMIT_STORE_ID_LEN);
		CHECK(rp__api_cursor_encode(&c, enc, sizeof(enc)) == RP_OK);
		CHECK(strlen(enc) == n - 1u && memcmp(enc, d + 1, n - 1u) == 0);
	}
}

static void fuzz_cookie(const char *s, size_t n)
{
	const char *v = NULL;
	size_t len = 0;

	if (rp__api_cookie_get(s, RP__API_SESSION_COOKIE, &v, &len) == RP_OK) {
		CHECK(v >= s && v + len <= s + n);
	}
}

static void fuzz_json(const uint8_t *d, size_t n)
{
	char why[RP__API_WHY_CAP];
	json_t *j = NULL;
	rp__api_login in;
	rp__api_tags tags;
	rp__api_command cmd;
	rp__api_enroll_req er;
	rp_status st;

	if (rp__api_json_parse(d, n, &j, why, sizeof(why)) != RP_OK) {
		return;
	}
	CHECK(json_is_object(j));
	if (rp__api_login_body(j, &in, why, sizeof(why)) == RP_OK) {
		CHECK(rp__api_check_operator_name(in.name, strlen(in.name)) == RP_OK);
		CHECK(in.password_len >= 1 && in.password_len <= RP_LIMIT_PASSWORD_LEN);
	} else {
		CHECK(why[0] != '\0');
	}
	if (rp__api_tags_body(j, &tags, why, sizeof(why)) == RP_OK) {
		CHECK(tags.n <= RP_LIMIT_STORE_TAGS);
		for (size_t i = 0; i < tags.n; i++) {
			CHECK(rp__api_check_tag(tags.tag[i], strlen(tags.tag[i])) == RP_OK);
			for (size_t k = 0; k < i; k++) {
				CHECK(strcmp(tags.tag[i], tags.tag[k]) != 0);
			}
		}
	}
	st = rp__api_command_body(j, &cmd, why, sizeof(why));
	if (st == RP_OK) {
		json_t *back = json_loads(cmd.args, 0, NULL);

		CHECK(cmd.args_len <= RP_LIMIT_API_COMMAND_ARGS);
		CHECK(rp__api_check_command_name(cmd.name, cmd.name_len) == RP_OK);
		CHECK(back != NULL && json_is_object(back));
		json_decref(back);
		rp_free(NULL, cmd.args);
	} else {
		CHECK(cmd.args == NULL);
	}
	if (rp__api_enroll_token_body(j, &er, why, sizeof(why)) == RP_OK) {
		CHECK(er.device != NULL && er.device_len >= 1 &&
		      er.device_len <= RP_LIMIT_PKI_DEVICE_ID_LEN);
		CHECK(er.prefix || rp_pki_device_id_valid(er.device, er.device_len, NULL));
		CHECK(rp__api_enroll_binds(er.device, er.prefix, er.device, er.device_len));
		CHECK(er.uses >= 1 && er.uses <= (int64_t)RP_LIMIT_EST_TOKEN_USES);
		CHECK(er.lifetime_s >= (int64_t)RP_LIMIT_EST_TOKEN_LIFETIME_MIN_S &&
		      er.lifetime_s <= (int64_t)RP_LIMIT_EST_TOKEN_LIFETIME_S);
		CHECK(er.model == NULL ||
		      rp__api_check_text(er.model, er.model_len, RP_LIMIT_STORE_TEXT_LEN) == RP_OK);
		CHECK(er.tags.n <= RP_LIMIT_STORE_TAGS);
	} else {
		CHECK(why[0] != '\0');
	}
	json_decref(j);
}

static void fuzz_result(const uint8_t *d, size_t n)
{
	rp__api_cmd_result r;

	if (rp__api_cmd_result_parse(d, n, &r) == RP_OK) {
		CHECK(rp__api_check_hex_id(r.id, strlen(r.id)) == RP_OK);
		CHECK(r.result != NULL && strlen(r.result) <= RP_LIMIT_STORE_JSON_LEN);
		rp_free(NULL, r.result);
	} else {
		CHECK(r.result == NULL);
	}
}

static void fuzz_route(const uint8_t *d, size_t n, int est)
{
	rp__api_match m;
	rp__api_method meth;
	int code;

	if (n < 1) {
		return;
	}
	meth = (rp__api_method)(d[0] % 6u);
	code = est ? rp__api_est_route_find(meth, (const char *)d + 1, n - 1u, &m)
		   : rp__api_route_find(meth, (const char *)d + 1, n - 1u, &m);
	if (code == 200) {
		CHECK(m.route != NULL && m.route->method == meth);
		for (size_t i = 0; i < m.nparams; i++) {
			CHECK(m.param[i].len > 0);
			CHECK(m.param[i].p >= (const char *)d + 1 &&
			      m.param[i].p + m.param[i].len <= (const char *)d + n);
			CHECK(memchr(m.param[i].p, '/', m.param[i].len) == NULL);
		}
	} else if (code == 405) {
		CHECK(m.allow != 0 && (m.allow & (1u << meth)) == 0);
	} else {
		CHECK(code == 404);
	}
}

static void fuzz_csrf_origin(const char *s, size_t n)
{
	const char *second = memchr(s, '\0', n) != NULL ? s + strlen(s) + 1 : NULL;
	static const char hash[] =
		"0000000000000000000000000000000000000000000000000000000000000000";

	CHECK(rp__api_csrf_check(s, hash) == RP_E_AUTH);
	if (second != NULL && second < s + n) {
		int ok = rp__api_origin_ok(s, second, second);

		(void)ok;
		(void)rp__api_origin_ok(NULL, s, second);
	}
}

static void fuzz_basic(const char *s, size_t n)
{
	char user[RP__API_BASIC_USER_CAP], pass[RP__API_BASIC_PASS_CAP];
	char raw[RP__API_BASIC_USER_CAP + RP__API_BASIC_PASS_CAP + 1u];
	char enc[RP_B64_LEN(sizeof(raw)) + 8u];
	size_t ul, pl, el = 0;

	(void)rp__api_is_pkcs10_type(s);
	if (rp__api_basic_parse(s, n, user, sizeof(user), pass, sizeof(pass)) != RP_OK) {
		return;
	}
	ul = strlen(user);
	pl = strlen(pass);
	CHECK(pl >= 1 && memchr(user, ':', ul) == NULL);
	for (size_t i = 0; i < ul + pl; i++) {
		unsigned char c = (unsigned char)(i < ul ? user[i] : pass[i - ul]);

		CHECK(c >= 0x21 && c <= 0x7e);
	}
	/* One spelling: "Basic " (any case) + padded base64 of user:pass. */
	memcpy(raw, user, ul);
	raw[ul] = ':';
	memcpy(raw + ul + 1u, pass, pl);
	CHECK(rp_secret_b64_encode(RP_B64_STD, (const uint8_t *)raw, ul + 1u + pl, enc, sizeof(enc),
				   &el) == RP_OK);
	while (el % 4u != 0) {
		enc[el++] = '=';
	}
	CHECK(n == 6u + el && memcmp(s + 6, enc, el) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;
	const uint8_t *d = data + 1;
	size_t n = size - 1u;

	if (size < 1) {
		return 0;
	}
	rp_api_json_init();
	/* A NUL-terminated copy for the parsers of C strings (headers). */
	text = malloc(n + 1u);
	if (text == NULL) {
		return 0;
	}
	memcpy(text, d, n);
	text[n] = '\0';
	switch (data[0] % 8u) {
	case 0:
		fuzz_query(d, n);
		break;
	case 1:
		fuzz_cursor(d, n);
		break;
	case 2:
		fuzz_cookie(text, strlen(text));
		break;
	case 3:
		fuzz_json(d, n);
		break;
	case 4:
		fuzz_result(d, n);
		break;
	case 5:
		fuzz_route(d, n, 0);
		fuzz_route(d, n, 1);
		break;
	case 6:
		fuzz_csrf_origin(text, n);
		break;
	default:
		fuzz_basic(text, strlen(text));
		break;
	}
	free(text);
	return 0;
}
