/*
 * test_api.c - the pure parts of server/api: the route table and its
 * lookup, the role decision for every route and role, query strings,
 * pagination cursors, cookies, CSRF tokens, the Origin check, JSON bodies
 * and error bodies, and the validators of each body.
 *
 * The permission matrix is written out here from docs/operators.md, not
 * taken from server/auth/role.c, so the test checks the route table and
 * the role module against the document.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "api/internal.h"
#include "auth/role.h"
#include "auth/secret.h"
#include "util/alloc.h"

/* ------------------------------------------------------------------------
 * Routes
 * ------------------------------------------------------------------------ */

/* The pattern with each "{...}" replaced by a sample value. */
static void concrete(const char *pattern, char *out, size_t cap)
{
	size_t o = 0;

	for (const char *p = pattern; *p != '\0' && o + 40u < cap;) {
		if (*p == '{') {
			const char *end = strchr(p, '}');

			o += (size_t)snprintf(out + o, cap - o, "%s",
					      strncmp(p, "{alert}", 7) == 0 ? "12" : "x-1");
			p = end + 1;
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
}

static void test_every_route_is_found_by_its_path(void **state)
{
	size_t n;
	const rp__api_route *r = rp__api_routes(&n);
	char path[256];
	rp__api_match m;

	(void)state;
	assert_true(n >= 29);
	for (size_t i = 0; i < n; i++) {
		concrete(r[i].path, path, sizeof(path));
		assert_int_equal(rp__api_route_find(r[i].method, path, strlen(path), &m), 200);
		assert_ptr_equal(m.route, &r[i]);
		/* every route lives under /api/v1, has a handler and a summary */
		assert_int_equal(strncmp(r[i].path, "/api/v1/", 8), 0);
		assert_non_null(r[i].handler);
		assert_non_null(r[i].summary);
		/* exactly one public route: the login */
		assert_int_equal((r[i].flags & RP__API_F_PUBLIC) != 0,
				 strcmp(r[i].path, "/api/v1/login") == 0);
		/* every non-public route names a permission of the enum */
		if ((r[i].flags & RP__API_F_PUBLIC) == 0) {
			assert_non_null(rp_perm_name(r[i].perm));
		}
		/* no two rows for one method and path */
		for (size_t k = 0; k < i; k++) {
			assert_false(r[k].method == r[i].method &&
				     strcmp(r[k].path, r[i].path) == 0);
		}
	}
}

static void test_lookup(void **state)
{
	rp__api_match m;
	const char *p;

	(void)state;
	p = "/api/v1/devices/dev-0001/commands/abc";
	assert_int_equal(rp__api_route_find(RP__API_GET, p, strlen(p), &m), 200);
	assert_int_equal(m.nparams, 2);
	assert_int_equal(m.param[0].len, 8);
	assert_memory_equal(m.param[0].p, "dev-0001", 8);
	assert_int_equal(m.param[1].len, 3);
	assert_memory_equal(m.param[1].p, "abc", 3);
	assert_string_equal(m.route->path, "/api/v1/devices/{device}/commands/{command}");

	/* 405 with the methods the path has */
	p = "/api/v1/devices/x";
	assert_int_equal(rp__api_route_find(RP__API_DELETE, p, strlen(p), &m), 405);
	assert_int_equal(m.allow, (1u << RP__API_GET) | (1u << RP__API_PATCH));
	assert_null(m.route);
	p = "/api/v1/settings";
	assert_int_equal(rp__api_route_find(RP__API_POST, p, strlen(p), &m), 405);

	/* 404: unknown, trailing slash, empty segment, prefix, longer */
	const char *nf[] = {"/",
			    "",
			    "/api/v1",
			    "/api/v1/",
			    "/api/v1/devices/",
			    "/api/v1//telemetry",
			    "/api/v1/devices//telemetry",
			    "/api/v1/devicesx",
			    "/api/v1/devices/a/b",
			    "/api/v1/login/x",
			    "/API/v1/devices",
			    "/api/v2/devices"};
	for (size_t i = 0; i < sizeof(nf) / sizeof(nf[0]); i++) {
		assert_int_equal(rp__api_route_find(RP__API_GET, nf[i], strlen(nf[i]), &m), 404);
	}
	/* the length given counts, not the NUL */
	p = "/api/v1/devicesXYZ";
	assert_int_equal(rp__api_route_find(RP__API_GET, p, 15, &m), 200);
	assert_int_equal(rp__api_route_find(RP__API_GET, NULL, 0, &m), 404);
}

static void test_methods(void **state)
{
	rp__api_method m;
	const char *bad[] = {"HEAD", "OPTIONS", "get", "TRACE", "CONNECT", "", "GETX"};

	(void)state;
	for (int i = 0; i < (int)RP__API_METHODS_; i++) {
		assert_int_equal(rp__api_method_parse(rp__api_method_name((rp__api_method)i), &m),
				 RP_OK);
		assert_int_equal(m, i);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(rp__api_method_parse(bad[i], &m), RP_E_NOT_FOUND);
	}
	assert_null(rp__api_method_name(RP__API_METHODS_));
	assert_false(rp__api_method_changes(RP__API_GET));
	assert_true(rp__api_method_changes(RP__API_POST) && rp__api_method_changes(RP__API_PUT) &&
		    rp__api_method_changes(RP__API_PATCH) &&
		    rp__api_method_changes(RP__API_DELETE));
}

/* docs/operators.md, "Roles and permissions". */
static int doc_allows(rp_role role, const char *perm)
{
	static const char *const viewer[] = {"self", "device.read", "telemetry.read", "alert.read",
					     NULL};
	static const char *const oper[] = {
		"self",           "device.read",  "telemetry.read", "alert.read",
		"device.command", "device.write", "alert.write",    NULL};
	static const char *const auditor[] = {"self",          "device.read", "telemetry.read",
					      "alert.read",    "ota.read",    "report.read",
					      "operator.read", "token.read",  "audit.read",
					      "settings.read", NULL};
	const char *const *set;

	switch (role) {
	case RP_ROLE_ADMIN:
		return 1;
	case RP_ROLE_VIEWER:
		set = viewer;
		break;
	case RP_ROLE_OPERATOR:
		set = oper;
		break;
	case RP_ROLE_AUDITOR:
		set = auditor;
		break;
	default:
		return 0;
	}
	for (size_t i = 0; set[i] != NULL; i++) {
		if (strcmp(set[i], perm) == 0) {
			return 1;
		}
	}
	return 0;
}

static void test_every_route_every_role(void **state)
{
	size_t n;
	const rp__api_route *r = rp__api_routes(&n);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		for (int role = 0; role <= (int)RP_ROLE_COUNT_; role++) {
			rp__api_authz want, via_session, via_token;
			int pub = (r[i].flags & RP__API_F_PUBLIC) != 0;

			want = pub || (role < (int)RP_ROLE_COUNT_ &&
				       doc_allows((rp_role)role, rp_perm_name(r[i].perm)))
				       ? RP__API_AUTHZ_OK
				       : RP__API_AUTHZ_FORBIDDEN;
			via_session = rp__api_authorize(&r[i], (rp_role)role, 0, 0);
			via_token = rp__api_authorize(&r[i], (rp_role)role, 0, 1);
			if (via_session != want) {
				fail_msg("%s %s as role %d: %d, want %d",
					 rp__api_method_name(r[i].method), r[i].path, role,
					 via_session, want);
			}
			if (!pub && (r[i].flags & RP__API_F_SESSION) != 0) {
				assert_int_equal(via_token, RP__API_AUTHZ_NEED_SESSION);
			} else {
				assert_int_equal(via_token, want);
			}
			/* a restricted session reaches only the enrolment routes */
			if (!pub && (r[i].flags & RP__API_F_RESTRICTED) == 0) {
				assert_int_equal(rp__api_authorize(&r[i], (rp_role)role, 1, 0),
						 RP__API_AUTHZ_TOTP);
			}
		}
	}
	/* a route with a permission outside the enum allows nobody */
	{
		rp__api_route bogus = r[1];

		bogus.perm = RP_PERM_COUNT_;
		for (int role = 0; role < (int)RP_ROLE_COUNT_; role++) {
			assert_int_equal(rp__api_authorize(&bogus, (rp_role)role, 0, 0),
					 RP__API_AUTHZ_FORBIDDEN);
		}
		assert_int_equal(rp__api_authorize(NULL, RP_ROLE_ADMIN, 0, 0),
				 RP__API_AUTHZ_FORBIDDEN);
	}
}

static void test_restricted_routes_are_few(void **state)
{
	size_t n, k = 0;
	const rp__api_route *r = rp__api_routes(&n);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		if (r[i].flags & RP__API_F_RESTRICTED) {
			/* only SELF routes: see oneself, enrol TOTP, log out */
			assert_int_equal(r[i].perm, RP_PERM_SELF);
			k++;
		}
	}
	assert_int_equal(k, 4);
}

/* ------------------------------------------------------------------------
 * Identifiers
 * ------------------------------------------------------------------------ */

#define S(x) (x), strlen(x)

static void test_identifiers(void **state)
{
	int64_t v;
	char longname[80];

	(void)state;
	assert_int_equal(rp__api_check_device_id(S("dev-0001")), RP_OK);
	assert_int_equal(rp__api_check_device_id(S("capteur-é")), RP_OK);
	assert_int_equal(rp__api_check_device_id(S("a/b")), RP_E_MALFORMED);
	assert_int_equal(rp__api_check_device_id(S("a+b")), RP_E_MALFORMED);
	assert_int_equal(rp__api_check_device_id(S("a#")), RP_E_MALFORMED);
	assert_int_equal(rp__api_check_device_id(S("")), RP_E_MALFORMED);
	assert_int_equal(rp__api_check_device_id("a\0b", 3), RP_E_MALFORMED);
	assert_int_equal(rp__api_check_device_id(S("\xff")), RP_E_MALFORMED);

	assert_int_equal(rp__api_check_operator_name(S("admin")), RP_OK);
	assert_int_equal(rp__api_check_operator_name(S("j.doe@example.com")), RP_OK);
	assert_int_equal(rp__api_check_operator_name(S("Admin")), RP_E_MALFORMED);
	assert_int_equal(rp__api_check_operator_name(S(".admin")), RP_E_MALFORMED);
	assert_int_equal(rp__api_check_operator_name(S("a b")), RP_E_MALFORMED);
	assert_int_equal(rp__api_check_operator_name(S("")), RP_E_MALFORMED);
	memset(longname, 'a', sizeof(longname));
	assert_int_equal(rp__api_check_operator_name(longname, 64), RP_OK);
	assert_int_equal(rp__api_check_operator_name(longname, 65), RP_E_MALFORMED);

	assert_int_equal(rp__api_check_hex_id(S("0123456789abcdef0123456789abcdef")), RP_OK);
	assert_int_equal(rp__api_check_hex_id(S("0123456789ABCDEF0123456789abcdef")),
			 RP_E_MALFORMED);
	assert_int_equal(rp__api_check_hex_id(S("0123456789abcdef0123456789abcde")),
			 RP_E_MALFORMED);

	assert_int_equal(rp__api_check_command_name(S("reboot")), RP_OK);
	assert_int_equal(rp__api_check_command_name(S("set.level_2-x")), RP_OK);
	assert_int_equal(rp__api_check_command_name(S("a/b")), RP_E_MALFORMED);
	assert_int_equal(rp__api_check_command_name(S("+")), RP_E_MALFORMED);
	assert_int_equal(rp__api_check_tag(S("site=paris:1")), RP_OK);
	assert_int_equal(rp__api_check_tag(S("a b")), RP_E_MALFORMED);
	assert_int_equal(rp__api_check_tag(S("a,b")), RP_E_MALFORMED);

	assert_int_equal(rp__api_parse_id(S("42"), &v), RP_OK);
	assert_int_equal(v, 42);
	assert_int_equal(rp__api_parse_id(S("9223372036854775807"), &v), RP_OK);
	assert_int_equal(rp__api_parse_id(S("9223372036854775808"), &v), RP_E_MALFORMED);
	assert_int_equal(rp__api_parse_id(S("0"), &v), RP_E_MALFORMED);
	assert_int_equal(rp__api_parse_id(S("042"), &v), RP_E_MALFORMED);
	assert_int_equal(rp__api_parse_id(S("-1"), &v), RP_E_MALFORMED);
	assert_int_equal(rp__api_parse_id(S("1 "), &v), RP_E_MALFORMED);

	assert_int_equal(rp__api_check_text(S("ok text"), 10), RP_OK);
	assert_int_equal(rp__api_check_text(S("tab\there"), 10), RP_E_MALFORMED);
	assert_int_equal(rp__api_check_text(S("c1\xc2\x85"), 10), RP_E_MALFORMED);
	assert_int_equal(rp__api_check_text(S("del\x7f"), 10), RP_E_MALFORMED);
	assert_int_equal(rp__api_check_text(S("toolong"), 3), RP_E_MALFORMED);
}

/* ------------------------------------------------------------------------
 * Query strings
 * ------------------------------------------------------------------------ */

static const char *const colours[] = {"red", "green", NULL};
static const rp__api_qspec spec[] = {
	{"limit", RP__API_Q_INT, 1, 100, NULL},    {"name", RP__API_Q_STR, 1, 8, NULL},
	{"colour", RP__API_Q_ENUM, 0, 0, colours}, {"flag", RP__API_Q_BOOL, 0, 0, NULL},
	{"after", RP__API_Q_CURSOR, 0, 0, NULL},   {NULL, RP__API_Q_STR, 0, 0, NULL},
};

static rp_status qp(const char *q, rp__api_query *out, char *why)
{
	return rp__api_query_parse(spec, q, strlen(q), out, why, RP__API_WHY_CAP);
}

static void test_query_ok(void **state)
{
	rp__api_query q;
	char why[RP__API_WHY_CAP];
	const rp__api_qval *v;

	(void)state;
	assert_int_equal(qp("", &q, why), RP_OK);
	assert_null(rp__api_query_get(spec, &q, "limit"));
	assert_int_equal(rp__api_query_parse(spec, NULL, 0, &q, why, sizeof(why)), RP_OK);
	assert_int_equal(qp("limit=100&name=a%20b+c&colour=green&flag=false&after=QUJD_-", &q, why),
			 RP_OK);
	v = rp__api_query_get(spec, &q, "limit");
	assert_non_null(v);
	assert_int_equal(v->num, 100);
	v = rp__api_query_get(spec, &q, "name");
	assert_string_equal(v->str, "a b c");
	assert_int_equal(v->len, 5);
	assert_int_equal(rp__api_query_get(spec, &q, "colour")->num, 1);
	assert_int_equal(rp__api_query_get(spec, &q, "flag")->num, 0);
	assert_string_equal(rp__api_query_get(spec, &q, "after")->str, "QUJD_-");
	assert_null(rp__api_query_get(spec, &q, "nope"));
	/* percent-encoded names, UTF-8 values */
	assert_int_equal(qp("%6Eame=%C3%A9t%C3%A9", &q, why), RP_OK);
	assert_string_equal(rp__api_query_get(spec, &q, "name")->str, "\xc3\xa9t\xc3\xa9");
}

static void test_query_refusals(void **state)
{
	static const struct {
		const char *q;
		rp_status st;
		const char *why;
	} bad[] = {
		{"limit=0", RP_E_MALFORMED, "'limit' must be an integer from 1 to 100"},
		{"limit=101", RP_E_MALFORMED, "from 1 to 100"},
		{"limit=01", RP_E_MALFORMED, "integer"},
		{"limit=+1", RP_E_MALFORMED, "integer"},
		{"limit=1.0", RP_E_MALFORMED, "integer"},
		{"limit=", RP_E_MALFORMED, "integer"},
		{"limit=%31", RP_OK, ""},
		{"limit", RP_E_MALFORMED, "'limit' has no value"},
		{"limit=1&limit=1", RP_E_MALFORMED, "'limit' given twice"},
		{"bogus=1", RP_E_MALFORMED, "unknown query parameter 'bogus'"},
		{"bog%0Aus=1", RP_E_MALFORMED, "unknown query parameter 'bog\\x0aus'"},
		{"&limit=1", RP_E_MALFORMED, "empty parameter"},
		{"limit=1&", RP_E_MALFORMED, "empty parameter"},
		{"limit=1&&name=a", RP_E_MALFORMED, "empty parameter"},
		{"name=", RP_E_MALFORMED, "1 to 8 bytes"},
		{"name=123456789", RP_E_MALFORMED, "1 to 8 bytes"},
		{"name=%zz", RP_E_MALFORMED, "percent-encoding"},
		{"name=%4", RP_E_MALFORMED, "percent-encoding"},
		{"name=%", RP_E_MALFORMED, "percent-encoding"},
		{"name=a%00b", RP_E_MALFORMED, "NUL"},
		{"name=%ff", RP_E_MALFORMED, "UTF-8"},
		{"name=%C2%85", RP_E_MALFORMED, "control"},
		{"name=a%09", RP_E_MALFORMED, "control"},
		{"colour=blue", RP_E_MALFORMED, "one of: red, green"},
		{"colour=RED", RP_E_MALFORMED, "one of"},
		{"flag=1", RP_E_MALFORMED, "true or false"},
		{"flag=TRUE", RP_E_MALFORMED, "true or false"},
		{"after=", RP_E_MALFORMED, "cursor"},
		{"after=a=b", RP_E_MALFORMED, "cursor"},
		{"after=a.b", RP_E_MALFORMED, "cursor"},
	};
	rp__api_query q;
	char why[RP__API_WHY_CAP], big[RP_LIMIT_API_QUERY_LEN + 8];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rp_status st = qp(bad[i].q, &q, why);

		if (st != bad[i].st || strstr(why, bad[i].why) == NULL) {
			fail_msg("%s: %d \"%s\", want %d \"%s\"", bad[i].q, st, why, bad[i].st,
				 bad[i].why);
		}
	}
	/* no parameter allowed at all */
	assert_int_equal(rp__api_query_parse(NULL, S("limit=1"), &q, why, sizeof(why)),
			 RP_E_MALFORMED);
	assert_int_equal(rp__api_query_parse(NULL, S(""), &q, why, sizeof(why)), RP_OK);
	/* length and count */
	memset(big, 'a', sizeof(big));
	memcpy(big, "name=", 5);
	assert_int_equal(
		rp__api_query_parse(spec, big, RP_LIMIT_API_QUERY_LEN + 1u, &q, why, sizeof(why)),
		RP_E_LIMIT);
	assert_non_null(strstr(why, "2048"));
	{
		char many[256] = "";

		for (int i = 0; i < 17; i++) {
			strcat(many, i ? "&x=1" : "x=1");
		}
		assert_int_equal(qp(many, &q, why), RP_E_MALFORMED);
	}
}

/* ------------------------------------------------------------------------
 * Cursors
 * ------------------------------------------------------------------------ */

static void test_cursors(void **state)
{
	rp__api_cursor c, d;
	char enc[RP__API_CURSOR_CAP], b64[600];
	const char *texts_bad[] = {"x.1.2.",     "d.1.2", "d.01.2.",
				   "d.1.-2.",    "d..2.", "d.1.2.\x01",
				   "d.1.2.\xff", "d",     "d.99999999999999999999.0."};

	(void)state;
	memset(&c, 0, sizeof(c));
	c.kind = 'c';
	c.a = 1700000000123;
	c.b = 0;
	strcpy(c.s, "abc.def-ghi");
	assert_int_equal(rp__api_cursor_encode(&c, enc, sizeof(enc)), RP_OK);
	assert_int_equal(rp__api_cursor_decode(enc, strlen(enc), 'c', &d), RP_OK);
	assert_int_equal(d.a, c.a);
	assert_int_equal(d.b, 0);
	assert_string_equal(d.s, c.s);
	/* another list's kind */
	assert_int_equal(rp__api_cursor_decode(enc, strlen(enc), 'd', &d), RP_E_MALFORMED);
	/* extremes */
	c.a = INT64_MAX;
	c.b = INT64_MAX;
	memset(c.s, 'z', RP_LIMIT_STORE_ID_LEN);
	c.s[RP_LIMIT_STORE_ID_LEN] = '\0';
	assert_int_equal(rp__api_cursor_encode(&c, enc, sizeof(enc)), RP_OK);
	assert_true(strlen(enc) <= RP_LIMIT_API_CURSOR_LEN);
	assert_int_equal(rp__api_cursor_decode(enc, strlen(enc), 'c', &d), RP_OK);
	assert_int_equal(d.a, INT64_MAX);
	assert_int_equal(strlen(d.s), RP_LIMIT_STORE_ID_LEN);
	/* encode refuses what decode would */
	c.a = -1;
	assert_int_equal(rp__api_cursor_encode(&c, enc, sizeof(enc)), RP_E_INVALID_ARG);
	c.a = 0;
	c.kind = 'A';
	assert_int_equal(rp__api_cursor_encode(&c, enc, sizeof(enc)), RP_E_INVALID_ARG);
	/* malformed texts, well encoded */
	for (size_t i = 0; i < sizeof(texts_bad) / sizeof(texts_bad[0]); i++) {
		assert_int_equal(rp_secret_b64_encode(RP_B64_URL, (const uint8_t *)texts_bad[i],
						      strlen(texts_bad[i]), b64, sizeof(b64), NULL),
				 RP_OK);
		assert_int_equal(rp__api_cursor_decode(b64, strlen(b64), 'd', &d), RP_E_MALFORMED);
	}
	/* not base64url, padding, non-canonical trailing bits, empty, too long */
	assert_int_equal(rp__api_cursor_decode(S("ZC4xLjIu="), 'd', &d), RP_E_MALFORMED);
	assert_int_equal(rp__api_cursor_decode(S("ZC4xLjIv"), 'd', &d), RP_E_MALFORMED);
	assert_int_equal(rp__api_cursor_decode(S("ZC4xLjIu"), 'd', &d), RP_OK);
	assert_int_equal(rp__api_cursor_decode(S(""), 'd', &d), RP_E_MALFORMED);
	assert_int_equal(rp__api_cursor_decode(S("ZC4xLjIu+"), 'd', &d), RP_E_MALFORMED);
	memset(b64, 'A', sizeof(b64));
	assert_int_equal(rp__api_cursor_decode(b64, RP_LIMIT_API_CURSOR_LEN + 1u, 'd', &d),
			 RP_E_MALFORMED);
}

/* ------------------------------------------------------------------------
 * Cookies, CSRF, Origin
 * ------------------------------------------------------------------------ */

static void test_cookies(void **state)
{
	const char *v;
	size_t len;
	const char *name = RP__API_SESSION_COOKIE;

	(void)state;
	assert_int_equal(rp__api_cookie_get("__Host-rampart_session=abc", name, &v, &len), RP_OK);
	assert_int_equal(len, 3);
	assert_memory_equal(v, "abc", 3);
	assert_int_equal(
		rp__api_cookie_get("theme=dark; __Host-rampart_session=xyz ; lang", name, &v, &len),
		RP_OK);
	assert_int_equal(len, 3);
	assert_memory_equal(v, "xyz", 3);
	assert_int_equal(rp__api_cookie_get("a=1;__Host-rampart_session=q", name, &v, &len), RP_OK);
	assert_int_equal(rp__api_cookie_get(NULL, name, &v, &len), RP_E_NOT_FOUND);
	assert_int_equal(rp__api_cookie_get("", name, &v, &len), RP_E_NOT_FOUND);
	assert_int_equal(rp__api_cookie_get("__Host-rampart_sessionX=1", name, &v, &len),
			 RP_E_NOT_FOUND);
	assert_int_equal(rp__api_cookie_get("x__Host-rampart_session=1", name, &v, &len),
			 RP_E_NOT_FOUND);
	assert_int_equal(rp__api_cookie_get("rampart_session=1", name, &v, &len), RP_E_NOT_FOUND);
	/* tossed: twice, even with the same value */
	assert_int_equal(rp__api_cookie_get("__Host-rampart_session=a; __Host-rampart_session=a",
					    name, &v, &len),
			 RP_E_MALFORMED);
	assert_int_equal(rp__api_cookie_get("__Host-rampart_session", name, &v, &len),
			 RP_E_MALFORMED);
	assert_int_equal(rp__api_cookie_get("__Host-rampart_session =a", name, &v, &len),
			 RP_E_MALFORMED);
	/* empty value: found, and the token parser refuses it later */
	assert_int_equal(rp__api_cookie_get("__Host-rampart_session=", name, &v, &len), RP_OK);
	assert_int_equal(len, 0);
}

static void test_csrf(void **state)
{
	rp_token s1, s2, c1, c1b, c2;
	char hex[RP_SHA256_HEX_LEN + 1u], hex2[RP_SHA256_HEX_LEN + 1u];
	rp_token_kind kind;

	(void)state;
	assert_int_equal(rp_token_new(RP_TOKEN_SESSION, &s1), RP_OK);
	assert_int_equal(rp_token_new(RP_TOKEN_SESSION, &s2), RP_OK);
	assert_int_equal(rp__api_csrf_derive(&s1, &c1), RP_OK);
	assert_int_equal(rp__api_csrf_derive(&s1, &c1b), RP_OK);
	assert_int_equal(rp__api_csrf_derive(&s2, &c2), RP_OK);
	assert_string_equal(c1.text, c1b.text); /* derived: the same again */
	assert_string_not_equal(c1.text, c2.text);
	assert_int_equal(rp_token_parse((const uint8_t *)c1.text, strlen(c1.text), &kind), RP_OK);
	assert_int_equal(kind, RP_TOKEN_CSRF);
	assert_int_equal(
		rp_token_hash_hex((const uint8_t *)c1.text, RP_TOKEN_LEN, RP_TOKEN_CSRF, hex),
		RP_OK);
	assert_int_equal(rp__api_csrf_check(c1.text, hex), RP_OK);
	assert_int_equal(rp__api_csrf_check(c2.text, hex), RP_E_AUTH);
	assert_int_equal(rp__api_csrf_check(NULL, hex), RP_E_AUTH);
	assert_int_equal(rp__api_csrf_check("", hex), RP_E_AUTH);
	assert_int_equal(rp__api_csrf_check(s1.text, hex), RP_E_AUTH); /* a session token */
	/* the session token's own hash is not the CSRF hash */
	assert_int_equal(
		rp_token_hash_hex((const uint8_t *)s1.text, RP_TOKEN_LEN, RP_TOKEN_SESSION, hex2),
		RP_OK);
	assert_int_equal(rp__api_csrf_check(c1.text, hex2), RP_E_AUTH);
	/* a broken stored hash fails closed */
	hex[0] = 'g';
	assert_int_equal(rp__api_csrf_check(c1.text, hex), RP_E_AUTH);
	assert_int_equal(rp__api_csrf_check(c1.text, "abc"), RP_E_AUTH);
	/* extra bytes after a valid token */
	{
		char longer[80];

		snprintf(longer, sizeof(longer), "%sA", c1.text);
		hex[0] = '0';
		assert_int_equal(rp__api_csrf_check(longer, hex2), RP_E_AUTH);
	}
}

static void test_origin(void **state)
{
	(void)state;
	assert_true(rp__api_origin_ok(NULL, NULL, NULL));
	assert_true(rp__api_origin_ok(NULL, "same-origin", "h"));
	assert_true(rp__api_origin_ok(NULL, "none", "h"));
	assert_false(rp__api_origin_ok(NULL, "cross-site", "h"));
	assert_false(rp__api_origin_ok(NULL, "same-site", "h"));
	assert_true(rp__api_origin_ok("https://console.example:8443", "cross-site",
				      "Console.Example:8443"));
	assert_false(rp__api_origin_ok("https://evil.example", NULL, "console.example"));
	assert_false(rp__api_origin_ok("http://console.example", NULL, "console.example"));
	assert_false(rp__api_origin_ok("https://console.example.evil", NULL, "console.example"));
	assert_false(rp__api_origin_ok("https://console.exampl", NULL, "console.example"));
	assert_false(rp__api_origin_ok("null", NULL, "console.example"));
	assert_false(rp__api_origin_ok("https://console.example", NULL, NULL));
	assert_false(rp__api_origin_ok("https://", NULL, ""));
}

/* ------------------------------------------------------------------------
 * JSON
 * ------------------------------------------------------------------------ */

static void test_json_depth_and_parse(void **state)
{
	char deep[100], why[RP__API_WHY_CAP];
	json_t *j;

	(void)state;
	memset(deep, '[', 17);
	memset(deep + 17, ']', 17);
	assert_int_equal(rp__api_json_depth((const uint8_t *)deep, 34, 16), RP_E_LIMIT);
	assert_int_equal(rp__api_json_depth((const uint8_t *)deep + 1, 32, 16), RP_OK);
	/* brackets in strings and after escapes do not count */
	assert_int_equal(rp__api_json_depth((const uint8_t *)S("[\"[[[[\\\"[[[[\"]"), 1), RP_OK);
	assert_int_equal(rp__api_json_depth((const uint8_t *)S("{\"a\":{\"b\":1}}"), 1),
			 RP_E_LIMIT);

	assert_int_equal(rp__api_json_parse((const uint8_t *)S("{\"a\": 1}"), &j, why, sizeof(why)),
			 RP_OK);
	json_decref(j);
	assert_int_equal(rp__api_json_parse((const uint8_t *)S("{\"a\": }"), &j, why, sizeof(why)),
			 RP_E_MALFORMED);
	assert_null(j);
	assert_non_null(strstr(why, "malformed JSON at line 1, column"));
	assert_int_equal(rp__api_json_parse((const uint8_t *)S("[1]"), &j, why, sizeof(why)),
			 RP_E_MALFORMED);
	assert_string_equal(why, "the body must be a JSON object");
	assert_int_equal(
		rp__api_json_parse((const uint8_t *)S("{\"a\":1,\"a\":2}"), &j, why, sizeof(why)),
		RP_E_MALFORMED);
	assert_int_equal(
		rp__api_json_parse((const uint8_t *)S("{\"a\":\"\\u0000\"}"), &j, why, sizeof(why)),
		RP_E_MALFORMED);
	assert_int_equal(
		rp__api_json_parse((const uint8_t *)S("{\"\xff\":1}"), &j, why, sizeof(why)),
		RP_E_MALFORMED);
	for (const char *p = why; *p != '\0'; p++) {
		assert_true(*p >= 0x20 && *p < 0x7f); /* the reason is clean ASCII */
	}
	assert_int_equal(rp__api_json_parse((const uint8_t *)S("{} x"), &j, why, sizeof(why)),
			 RP_E_MALFORMED);
	assert_int_equal(rp__api_json_parse((const uint8_t *)S(""), &j, why, sizeof(why)),
			 RP_E_MALFORMED);
}

static void test_error_body(void **state)
{
	json_t *e = rp__api_error_json("invalid_query", "quote \" and \x01 control");
	char *text;
	size_t len;

	(void)state;
	assert_non_null(e);
	assert_int_equal(rp__api_json_dump(e, 1000, &text, &len), RP_OK);
	assert_string_equal(
		text,
		"{\"error\":\"invalid_query\",\"detail\":\"quote \\\" and \\u0001 control\"}");
	assert_int_equal(len, strlen(text));
	rp_free(NULL, text);
	assert_int_equal(rp__api_json_dump(e, 10, &text, &len), RP_E_LIMIT);
	json_decref(e);
	/* invalid UTF-8 in a detail cannot make a body: NULL, the caller answers 500 */
	assert_null(rp__api_error_json("x", "\xff"));
	e = rp__api_error_json("x", NULL);
	assert_string_equal(json_string_value(json_object_get(e, "detail")), "");
	json_decref(e);
}

static void test_json_fields(void **state)
{
	static const char *const allowed[] = {"s", "b", "i", NULL};
	json_t *o = json_pack("{s:s, s:b, s:I, s:n}", "s", "hey", "b", 1, "i", (json_int_t)7, "n");
	char why[RP__API_WHY_CAP];
	const char *s;
	size_t len;
	int b;
	int64_t i;

	(void)state;
	assert_int_equal(rp__api_json_only(o, allowed, why, sizeof(why)), RP_E_MALFORMED);
	assert_string_equal(why, "unknown field 'n'");
	json_object_del(o, "n");
	assert_int_equal(rp__api_json_only(o, allowed, why, sizeof(why)), RP_OK);
	assert_int_equal(rp__api_json_str(o, "s", 1, 1, 3, &s, &len, why, sizeof(why)), RP_OK);
	assert_string_equal(s, "hey");
	assert_int_equal(rp__api_json_str(o, "s", 1, 1, 2, &s, &len, why, sizeof(why)),
			 RP_E_MALFORMED);
	assert_string_equal(why, "field 's' must be a string of 1 to 2 bytes");
	assert_int_equal(rp__api_json_str(o, "b", 1, 1, 2, &s, &len, why, sizeof(why)),
			 RP_E_MALFORMED);
	assert_int_equal(rp__api_json_str(o, "zz", 0, 1, 2, &s, &len, why, sizeof(why)),
			 RP_E_NOT_FOUND);
	assert_int_equal(rp__api_json_str(o, "zz", 1, 1, 2, &s, &len, why, sizeof(why)),
			 RP_E_MALFORMED);
	assert_string_equal(why, "field 'zz' is required");
	assert_int_equal(rp__api_json_bool(o, "b", 1, &b, why, sizeof(why)), RP_OK);
	assert_int_equal(b, 1);
	assert_int_equal(rp__api_json_bool(o, "i", 1, &b, why, sizeof(why)), RP_E_MALFORMED);
	assert_int_equal(rp__api_json_int(o, "i", 1, 0, 7, &i, why, sizeof(why)), RP_OK);
	assert_int_equal(i, 7);
	assert_int_equal(rp__api_json_int(o, "i", 1, 8, 9, &i, why, sizeof(why)), RP_E_MALFORMED);
	assert_int_equal(rp__api_json_int(o, "s", 1, 0, 9, &i, why, sizeof(why)), RP_E_MALFORMED);
	json_decref(o);
}

/* ------------------------------------------------------------------------
 * Body validators
 * ------------------------------------------------------------------------ */

static json_t *js(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);

	assert_non_null(j);
	return j;
}

static void test_login_body(void **state)
{
	rp__api_login in;
	char why[RP__API_WHY_CAP];
	json_t *j;

	(void)state;
	j = js("{\"name\":\"Admin\",\"password\":\"pw\",\"totp\":\"123456\"}");
	assert_int_equal(rp__api_login_body(j, &in, why, sizeof(why)), RP_OK);
	assert_string_equal(in.name, "admin");
	assert_int_equal(in.password_len, 2);
	assert_int_equal(in.totp_len, 6);
	json_decref(j);
	j = js("{\"name\":\"admin\",\"password\":\"pw\"}");
	assert_int_equal(rp__api_login_body(j, &in, why, sizeof(why)), RP_OK);
	assert_null(in.totp);
	json_decref(j);
	const char *bad[] = {"{}",
			     "{\"name\":\"admin\"}",
			     "{\"password\":\"x\"}",
			     "{\"name\":\"a b\",\"password\":\"x\"}",
			     "{\"name\":\"\",\"password\":\"x\"}",
			     "{\"name\":\"admin\",\"password\":\"\"}",
			     "{\"name\":\"admin\",\"password\":1}",
			     "{\"name\":\"admin\",\"password\":\"x\",\"totp\":123456}",
			     "{\"name\":\"admin\",\"password\":\"x\",\"role\":\"admin\"}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = js(bad[i]);
		assert_int_equal(rp__api_login_body(j, &in, why, sizeof(why)), RP_E_MALFORMED);
		assert_true(why[0] != '\0');
		json_decref(j);
	}
}

static void test_tags_and_command_bodies(void **state)
{
	rp__api_tags t;
	rp__api_command c;
	rp__api_cmd_result res;
	char why[RP__API_WHY_CAP], big[RP_LIMIT_API_COMMAND_ARGS + 64];
	json_t *j;

	(void)state;
	j = js("{\"tags\":[\"b\",\"a=1\"]}");
	assert_int_equal(rp__api_tags_body(j, &t, why, sizeof(why)), RP_OK);
	assert_int_equal(t.n, 2);
	assert_string_equal(t.tag[1], "a=1");
	json_decref(j);
	j = js("{\"tags\":[]}");
	assert_int_equal(rp__api_tags_body(j, &t, why, sizeof(why)), RP_OK);
	assert_int_equal(t.n, 0);
	json_decref(j);
	const char *bad_tags[] = {"{}",
				  "{\"tags\":\"a\"}",
				  "{\"tags\":[1]}",
				  "{\"tags\":[\"\"]}",
				  "{\"tags\":[\"a\",\"a\"]}",
				  "{\"tags\":[\"a b\"]}",
				  "{\"tags\":[],\"x\":1}"};
	for (size_t i = 0; i < sizeof(bad_tags) / sizeof(bad_tags[0]); i++) {
		j = js(bad_tags[i]);
		assert_int_equal(rp__api_tags_body(j, &t, why, sizeof(why)), RP_E_MALFORMED);
		json_decref(j);
	}

	j = js("{\"name\":\"reboot\"}");
	assert_int_equal(rp__api_command_body(j, &c, why, sizeof(why)), RP_OK);
	assert_string_equal(c.args, "{}");
	rp_free(NULL, c.args);
	json_decref(j);
	j = js("{\"name\":\"set\",\"args\":{\"b\":[1,true,null],\"a\":\"x\"}}");
	assert_int_equal(rp__api_command_body(j, &c, why, sizeof(why)), RP_OK);
	assert_string_equal(c.args, "{\"b\":[1,true,null],\"a\":\"x\"}");
	assert_int_equal(c.args_len, strlen(c.args));
	rp_free(NULL, c.args);
	json_decref(j);
	j = js("{\"name\":\"a/b\"}");
	assert_int_equal(rp__api_command_body(j, &c, why, sizeof(why)), RP_E_MALFORMED);
	json_decref(j);
	j = js("{\"name\":\"x\",\"args\":\"s\"}");
	assert_int_equal(rp__api_command_body(j, &c, why, sizeof(why)), RP_E_MALFORMED);
	json_decref(j);
	memset(big, 'v', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	j = json_pack("{s:s, s:{s:s}}", "name", "x", "args", "v", big);
	assert_int_equal(rp__api_command_body(j, &c, why, sizeof(why)), RP_E_LIMIT);
	assert_null(c.args);
	json_decref(j);

	assert_int_equal(rp__api_cmd_result_parse(
				 (const uint8_t *)S("{\"id\":\"0123456789abcdef0123456789abcdef\","
						    "\"status\":\"failed\",\"result\":{\"e\":1}}"),
				 &res),
			 RP_OK);
	assert_true(res.failed);
	assert_string_equal(res.id, "0123456789abcdef0123456789abcdef");
	assert_string_equal(res.result, "{\"e\":1}");
	rp_free(NULL, res.result);
	assert_int_equal(rp__api_cmd_result_parse(
				 (const uint8_t *)S("{\"id\":\"0123456789abcdef0123456789abcdef\","
						    "\"status\":\"done\"}"),
				 &res),
			 RP_OK);
	assert_false(res.failed);
	assert_string_equal(res.result, "");
	rp_free(NULL, res.result);
	const char *bad_res[] = {
		"",
		"{}",
		"[]",
		"{\"id\":\"x\",\"status\":\"done\"}",
		"{\"id\":\"0123456789abcdef0123456789abcdef\",\"status\":\"ok\"}",
		"{\"id\":\"0123456789abcdef0123456789abcdef\",\"status\":\"done\",\"x\":1}"};
	for (size_t i = 0; i < sizeof(bad_res) / sizeof(bad_res[0]); i++) {
		assert_int_equal(rp__api_cmd_result_parse((const uint8_t *)S(bad_res[i]), &res),
				 RP_E_MALFORMED);
		assert_null(res.result);
	}
	assert_int_equal(rp__api_cmd_result_parse(NULL, 0, &res), RP_E_MALFORMED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_route_is_found_by_its_path),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_every_route_every_role),
		cmocka_unit_test(test_restricted_routes_are_few),
		cmocka_unit_test(test_identifiers),
		cmocka_unit_test(test_query_ok),
		cmocka_unit_test(test_query_refusals),
		cmocka_unit_test(test_cursors),
		cmocka_unit_test(test_cookies),
		cmocka_unit_test(test_csrf),
		cmocka_unit_test(test_origin),
		cmocka_unit_test(test_json_depth_and_parse),
		cmocka_unit_test(test_error_body),
		cmocka_unit_test(test_json_fields),
		cmocka_unit_test(test_login_body),
		cmocka_unit_test(test_tags_and_command_bodies),
	};

	rp_api_json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
