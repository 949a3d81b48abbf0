/*
 * test_est.c - enrollment below HTTP: the store's enrollment tokens and
 * its one-transaction enrollment (both back ends), and the pure parsers of
 * server/api that EST adds (HTTP Basic credentials, the enrollment token
 * body, the token's binding, the CSR media type).
 *
 * Group "sqlite": a fresh database file per test. Group "postgresql": a
 * real server (tests/support/pgtest.h), an empty schema per test. The race
 * test opens the database twice (two rampartd nodes, two connections) and
 * spends one token from eight threads.
 *
 * Threads: only the main thread asserts (cmocka longjmps); worker threads
 * record their statuses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/internal.h"
#include "auth/secret.h"
#include "pgtest.h"
#include "store/store.h"
#include "util/alloc.h"
#include "util/log.h"

static struct {
	int pg;
	char dir[256];
	char url[420];
	int seq;
	pgtest server;
} g;

static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static int pg_admin(const char *sql)
{
	PGconn *c = PQconnectdb(g.server.url);
	PGresult *r;
	int ok;

	if (PQstatus(c) != CONNECTION_OK) {
		PQfinish(c);
		return -1;
	}
	PQsetNoticeProcessor(c, quiet, NULL);
	r = PQexec(c, sql);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : -1;
}

static const char *fresh(void)
{
	g.seq++;
	if (g.pg) {
		assert_int_equal(pg_admin("DROP SCHEMA public CASCADE; CREATE SCHEMA public"), 0);
		snprintf(g.url, sizeof(g.url), "%s", g.server.url);
	} else {
		snprintf(g.url, sizeof(g.url), "sqlite:%s/t%d/store.db", g.dir, g.seq);
	}
	return g.url;
}

static rp_store *open_fresh(void)
{
	rp_store *st = NULL;

	assert_int_equal(rp_store_open(fresh(), NULL, &st), RP_OK);
	return st;
}

static int setup_sqlite(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	memset(&g, 0, sizeof(g));
	snprintf(g.dir, sizeof(g.dir), "%s/rp-est-XXXXXX",
		 tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	return mkdtemp(g.dir) != NULL ? 0 : -1;
}

static int teardown_sqlite(void **state)
{
	char cmd[400];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g.dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int setup_pg(void **state)
{
	char why[512];

	(void)state;
	memset(&g, 0, sizeof(g));
	g.pg = 1;
	if (pgtest_start(&g.server, why, sizeof(why)) != 0) {
		fprintf(stderr, "PostgreSQL tests cannot run: %s\n", why);
		return -1;
	}
	return 0;
}

static int teardown_pg(void **state)
{
	(void)state;
	pgtest_stop(&g.server);
	return 0;
}

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

#define T0 1700000000000LL

/* A token row: hash = 64 hex digits from `h`, binding device (prefix). */
static rp_store_enroll_token token_row(const char *id, const char *hash, const char *device,
				       int prefix, int64_t uses, int64_t expires)
{
	rp_store_enroll_token t;

	memset(&t, 0, sizeof(t));
	t.id = id;
	t.token_hash = hash;
	t.device = device;
	t.prefix = prefix;
	t.max_uses = uses;
	t.model = "";
	t.created_by = "admin";
	t.created_ms = T0;
	t.expires_ms = expires;
	return t;
}

static void hash_of(char c, char out[65])
{
	memset(out, c, 64);
	out[64] = '\0';
}

/* An enrollment of device with a certificate of serial (hex) now. */
static rp_store_enrollment enrollment(const char *device, const char *token_hash,
				      const char *serial)
{
	static char fp[65];
	rp_store_enrollment e;

	hash_of('f', fp);
	memset(&e, 0, sizeof(e));
	e.device_id = device;
	e.token_hash = token_hash;
	e.cert.serial = serial;
	e.cert.fingerprint = fp;
	e.cert.not_after_ms = T0 + 86400000;
	e.now_ms = T0 + 1000;
	return e;
}

static int64_t uses_of(rp_store *st, const char *hash)
{
	rp_store_enroll_token *t = NULL;
	int64_t n;

	assert_int_equal(rp_store_enroll_token_get_by_hash(st, hash, &t, NULL, NULL), RP_OK);
	n = t->uses;
	rp_store_free(t);
	return n;
}

static int cert_exists(rp_store *st, const char *serial)
{
	rp_store_cert *c = NULL;
	rp_status s = rp_store_cert_get(st, serial, &c, NULL, NULL);

	rp_store_free(c);
	assert_true(s == RP_OK || s == RP_E_NOT_FOUND);
	return s == RP_OK;
}

/* ------------------------------------------------------------------------
 * Tokens
 * ------------------------------------------------------------------------ */

static void test_tokens(void **state)
{
	rp_store *st = open_fresh();
	const char *tags[] = {"site=lyon", "line:3"};
	char h1[65], h2[65], h3[65];
	rp_store_enroll_token t, *row = NULL, *rows = NULL;
	size_t n = 0;

	(void)state;
	hash_of('a', h1);
	hash_of('b', h2);
	hash_of('c', h3);
	t = token_row("tok1", h1, "dev-1", 0, 3, T0 + 60000);
	t.model = "sensor-x";
	t.tags = tags;
	t.ntags = 2;
	assert_int_equal(rp_store_enroll_token_create(st, &t, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_enroll_token_get_by_hash(st, h1, &row, NULL, NULL), RP_OK);
	assert_string_equal(row->id, "tok1");
	assert_string_equal(row->token_hash, h1);
	assert_string_equal(row->device, "dev-1");
	assert_int_equal(row->prefix, 0);
	assert_int_equal(row->max_uses, 3);
	assert_int_equal(row->uses, 0);
	assert_string_equal(row->model, "sensor-x");
	assert_int_equal(row->ntags, 2);
	assert_string_equal(row->tags[0], "site=lyon");
	assert_string_equal(row->tags[1], "line:3");
	assert_string_equal(row->created_by, "admin");
	assert_int_equal(row->expires_ms, T0 + 60000);
	assert_int_equal(row->revoked_ms, 0);
	rp_store_free(row);
	row = NULL;

	/* Unique id and hash. */
	assert_int_equal(rp_store_enroll_token_create(st, &t, NULL, NULL), RP_E_EXISTS);
	t = token_row("tok2", h1, "dev-2", 0, 1, T0 + 60000);
	assert_int_equal(rp_store_enroll_token_create(st, &t, NULL, NULL), RP_E_EXISTS);
	t = token_row("tok2", h2, "batch-", 1, 100, T0 + 60000);
	assert_int_equal(rp_store_enroll_token_create(st, &t, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_enroll_token_get_by_hash(st, h2, &row, NULL, NULL), RP_OK);
	assert_int_equal(row->prefix, 1);
	assert_int_equal(row->ntags, 0);
	assert_null(row->tags);
	rp_store_free(row);
	row = NULL;
	assert_int_equal(rp_store_enroll_token_get_by_hash(st, h3, &row, NULL, NULL),
			 RP_E_NOT_FOUND);
	assert_null(row);

	/* Refused before the store: uses, prefix flag, hash, tags. */
	t = token_row("tok3", h3, "dev-3", 0, 0, T0);
	assert_int_equal(rp_store_enroll_token_create(st, &t, NULL, NULL), RP_E_INVALID_ARG);
	t.max_uses = (int64_t)RP_LIMIT_EST_TOKEN_USES + 1;
	assert_int_equal(rp_store_enroll_token_create(st, &t, NULL, NULL), RP_E_INVALID_ARG);
	t.max_uses = 1;
	t.prefix = 2;
	assert_int_equal(rp_store_enroll_token_create(st, &t, NULL, NULL), RP_E_INVALID_ARG);
	t.prefix = 0;
	t.token_hash = "ABC";
	assert_int_equal(rp_store_enroll_token_create(st, &t, NULL, NULL), RP_E_INVALID_ARG);
	t.token_hash = h3;
	{
		const char *bad[] = {"a,b"};
		const char *space[] = {"a b"};

		t.tags = bad;
		t.ntags = 1;
		assert_int_equal(rp_store_enroll_token_create(st, &t, NULL, NULL),
				 RP_E_INVALID_ARG);
		t.tags = space;
		assert_int_equal(rp_store_enroll_token_create(st, &t, NULL, NULL),
				 RP_E_INVALID_ARG);
		t.ntags = RP_LIMIT_STORE_TAGS + 1u;
		assert_int_equal(rp_store_enroll_token_create(st, &t, NULL, NULL), RP_E_LIMIT);
	}
	assert_int_equal(rp_store_enroll_token_create(st, NULL, NULL, NULL), RP_E_INVALID_ARG);

	/* List, by id, in pages. */
	assert_int_equal(rp_store_enroll_token_list(st, NULL, 1, &rows, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0].id, "tok1");
	rp_store_free(rows);
	assert_int_equal(rp_store_enroll_token_list(st, "tok1", 10, &rows, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0].id, "tok2");
	rp_store_free(rows);
	assert_int_equal(rp_store_enroll_token_list(st, NULL, 0, &rows, &n, NULL, NULL),
			 RP_E_INVALID_ARG);

	/* Revoke: once at its first time; unknown ids. */
	assert_int_equal(rp_store_enroll_token_revoke(st, "tok2", T0 + 5, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_enroll_token_revoke(st, "tok2", T0 + 9, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_enroll_token_get_by_hash(st, h2, &row, NULL, NULL), RP_OK);
	assert_int_equal(row->revoked_ms, T0 + 5);
	rp_store_free(row);
	assert_int_equal(rp_store_enroll_token_revoke(st, "nope", T0, NULL, NULL), RP_E_NOT_FOUND);
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

/* ------------------------------------------------------------------------
 * Enrollment in one transaction
 * ------------------------------------------------------------------------ */

static void test_enroll(void **state)
{
	rp_store *st = open_fresh();
	const char *tags[] = {"b", "a"};
	char h1[65], h2[65], h3[65], h4[65];
	rp_store_enroll_token t;
	rp_store_enrollment e;
	rp_store_device *d = NULL;
	rp_store_cert *c = NULL;

	(void)state;
	hash_of('1', h1);
	hash_of('2', h2);
	hash_of('3', h3);
	hash_of('4', h4);
	t = token_row("one", h1, "dev-1", 0, 1, T0 + 60000);
	assert_int_equal(rp_store_enroll_token_create(st, &t, NULL, NULL), RP_OK);
	t = token_row("expired", h2, "dev-2", 0, 1, T0 + 1000); /* expires at now_ms */
	assert_int_equal(rp_store_enroll_token_create(st, &t, NULL, NULL), RP_OK);
	t = token_row("revoked", h3, "dev-3", 0, 1, T0 + 60000);
	assert_int_equal(rp_store_enroll_token_create(st, &t, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_enroll_token_revoke(st, "revoked", T0, NULL, NULL), RP_OK);
	t = token_row("many", h4, "dev-", 1, 5, T0 + 60000);
	assert_int_equal(rp_store_enroll_token_create(st, &t, NULL, NULL), RP_OK);

	/* A new device: created active with model and tags, certificate stored, use counted. */
	e = enrollment("dev-1", h1, "0a01");
	e.model = "sensor-x";
	e.set_tags = 1;
	e.tags = tags;
	e.ntags = 2;
	assert_int_equal(rp_store_enroll(st, &e, NULL, NULL), RP_OK);
	assert_int_equal(uses_of(st, h1), 1);
	assert_int_equal(rp_store_device_get(st, "dev-1", &d, NULL, NULL), RP_OK);
	assert_int_equal(d->status, RP_STORE_DEVICE_ACTIVE);
	assert_string_equal(d->model, "sensor-x");
	assert_int_equal(d->ntags, 2);
	assert_string_equal(d->tags[0], "a");
	assert_int_equal(d->created_ms, T0 + 1000);
	rp_store_free(d);
	d = NULL;
	assert_int_equal(rp_store_cert_get(st, "0a01", &c, NULL, NULL), RP_OK);
	assert_string_equal(c->device_id, "dev-1");
	assert_int_equal(c->status, RP_STORE_CERT_VALID);
	assert_int_equal(c->not_after_ms, T0 + 86400000);
	rp_store_free(c);
	c = NULL;

	/* The token's second use: refused, and nothing written. */
	e = enrollment("dev-1", h1, "0a02");
	e.model = "other";
	assert_int_equal(rp_store_enroll(st, &e, NULL, NULL), RP_E_DENIED);
	assert_false(cert_exists(st, "0a02"));
	assert_int_equal(uses_of(st, h1), 1);
	assert_int_equal(rp_store_device_get(st, "dev-1", &d, NULL, NULL), RP_OK);
	assert_string_equal(d->model, "sensor-x");
	rp_store_free(d);
	d = NULL;

	/* Expired (expires_ms <= now), revoked, unknown: refused, nothing written. */
	e = enrollment("dev-2", h2, "0b01");
	assert_int_equal(rp_store_enroll(st, &e, NULL, NULL), RP_E_DENIED);
	e = enrollment("dev-3", h3, "0b02");
	assert_int_equal(rp_store_enroll(st, &e, NULL, NULL), RP_E_DENIED);
	hash_of('9', h2);
	e = enrollment("dev-9", h2, "0b03");
	assert_int_equal(rp_store_enroll(st, &e, NULL, NULL), RP_E_DENIED);
	assert_int_equal(rp_store_device_get(st, "dev-9", &d, NULL, NULL), RP_E_NOT_FOUND);
	assert_false(cert_exists(st, "0b03"));

	/* A revoked device: RP_E_STATE, and the token keeps its use. */
	assert_int_equal(rp_store_device_seen(st, "dev-r", "", T0, NULL, NULL), RP_OK);
	assert_int_equal(
		rp_store_device_set_status(st, "dev-r", RP_STORE_DEVICE_REVOKED, NULL, NULL),
		RP_OK);
	e = enrollment("dev-r", h4, "0c01");
	assert_int_equal(rp_store_enroll(st, &e, NULL, NULL), RP_E_STATE);
	assert_int_equal(uses_of(st, h4), 0);
	assert_false(cert_exists(st, "0c01"));

	/* A quarantined device stays quarantined; model NULL and set_tags 0 leave them. */
	assert_int_equal(rp_store_device_seen(st, "dev-q", "", T0, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_device_set_info(st, "dev-q", "m0", NULL, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_device_set_tags(st, "dev-q", tags, 1, NULL, NULL), RP_OK);
	assert_int_equal(
		rp_store_device_set_status(st, "dev-q", RP_STORE_DEVICE_QUARANTINED, NULL, NULL),
		RP_OK);
	e = enrollment("dev-q", h4, "0c02");
	assert_int_equal(rp_store_enroll(st, &e, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_device_get(st, "dev-q", &d, NULL, NULL), RP_OK);
	assert_int_equal(d->status, RP_STORE_DEVICE_QUARANTINED);
	assert_string_equal(d->model, "m0");
	assert_int_equal(d->ntags, 1);
	rp_store_free(d);
	d = NULL;
	assert_int_equal(uses_of(st, h4), 1);

	/* A serial that exists: the whole transaction rolls back, the use too. */
	e = enrollment("dev-new", h4, "0a01");
	assert_int_equal(rp_store_enroll(st, &e, NULL, NULL), RP_E_EXISTS);
	assert_int_equal(uses_of(st, h4), 1);
	assert_int_equal(rp_store_device_get(st, "dev-new", &d, NULL, NULL), RP_E_NOT_FOUND);

	/* Without a token (a factory certificate): no use counted anywhere. */
	e = enrollment("dev-f", NULL, "0d01");
	assert_int_equal(rp_store_enroll(st, &e, NULL, NULL), RP_OK);
	assert_true(cert_exists(st, "0d01"));

	/* Renewal: the current certificate must be this device's and valid. */
	e = enrollment("dev-1", NULL, "0e01");
	e.renew_serial = "0a01";
	assert_int_equal(rp_store_enroll(st, &e, NULL, NULL), RP_OK);
	e = enrollment("dev-f", NULL, "0e02");
	e.renew_serial = "0a01"; /* dev-1's */
	assert_int_equal(rp_store_enroll(st, &e, NULL, NULL), RP_E_DENIED);
	e.renew_serial = "0fff"; /* unknown */
	assert_int_equal(rp_store_enroll(st, &e, NULL, NULL), RP_E_DENIED);
	assert_int_equal(rp_store_cert_revoke(st, "0d01", T0 + 2000, NULL, NULL), RP_OK);
	e.renew_serial = "0d01"; /* revoked */
	assert_int_equal(rp_store_enroll(st, &e, NULL, NULL), RP_E_DENIED);
	assert_false(cert_exists(st, "0e02"));

	/* Checked before anything is queued. */
	e = enrollment("dev-x", "nothex", "0f01");
	assert_int_equal(rp_store_enroll(st, &e, NULL, NULL), RP_E_INVALID_ARG);
	e = enrollment("dev-x", NULL, "XYZ");
	assert_int_equal(rp_store_enroll(st, &e, NULL, NULL), RP_E_INVALID_ARG);
	e = enrollment("", NULL, "0f01");
	assert_int_equal(rp_store_enroll(st, &e, NULL, NULL), RP_E_INVALID_ARG);
	e = enrollment("dev-x", NULL, "0f01");
	e.set_tags = 1;
	e.ntags = RP_LIMIT_STORE_TAGS + 1u;
	e.tags = tags;
	assert_int_equal(rp_store_enroll(st, &e, NULL, NULL), RP_E_LIMIT);
	assert_int_equal(rp_store_enroll(st, NULL, NULL, NULL), RP_E_INVALID_ARG);
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

/* ------------------------------------------------------------------------
 * The last uses, raced from two connections
 * ------------------------------------------------------------------------ */

#define RACERS 8

typedef struct racer {
	rp_store *st;
	const char *hash;
	char device[32], serial[8];
	rp_status result;
} racer;

static void *race(void *arg)
{
	racer *r = arg;
	rp_store_enrollment e = enrollment(r->device, r->hash, r->serial);

	r->result = rp_store_enroll(r->st, &e, NULL, NULL);
	return NULL;
}

static void test_enroll_race(void **state)
{
	rp_store *a = open_fresh(), *b = NULL;
	racer rs[RACERS];
	pthread_t th[RACERS];
	rp_store_enroll_token t;
	char h[65];
	int ok = 0, denied = 0;

	(void)state;
	/* A second node on the same database. */
	assert_int_equal(rp_store_open(g.url, NULL, &b), RP_OK);
	hash_of('7', h);
	t = token_row("race", h, "race-", 1, 3, T0 + 60000);
	assert_int_equal(rp_store_enroll_token_create(a, &t, NULL, NULL), RP_OK);
	for (int i = 0; i < RACERS; i++) {
		rs[i].st = i % 2 ? b : a;
		rs[i].hash = h;
		snprintf(rs[i].device, sizeof(rs[i].device), "race-%d", i);
		snprintf(rs[i].serial, sizeof(rs[i].serial), "%04x", 0x100 + i);
		assert_int_equal(pthread_create(&th[i], NULL, race, &rs[i]), 0);
	}
	for (int i = 0; i < RACERS; i++) {
		pthread_join(th[i], NULL);
		ok += rs[i].result == RP_OK;
		denied += rs[i].result == RP_E_DENIED;
	}
	assert_int_equal(ok, 3);
	assert_int_equal(denied, RACERS - 3);
	assert_int_equal(uses_of(a, h), 3);
	for (int i = 0; i < RACERS; i++) {
		assert_int_equal(cert_exists(a, rs[i].serial), rs[i].result == RP_OK);
	}
	rp_store_close(b);
	rp_store_close(a);
	assert_int_equal(rp_alloc_in_use(), 0);
}

/* ------------------------------------------------------------------------
 * Parsers (server/api/parse.c)
 * ------------------------------------------------------------------------ */

/* "Basic " + base64(s), into out. */
static const char *basic(const char *s, char *out, size_t cap)
{
	size_t n = strlen(s), o = 6;
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	memcpy(out, "Basic ", 6);
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)(uint8_t)s[i] << 16;

		v |= i + 1 < n ? (uint32_t)(uint8_t)s[i + 1] << 8 : 0;
		v |= i + 2 < n ? (uint32_t)(uint8_t)s[i + 2] : 0;
		out[o++] = b64[(v >> 18) & 63];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? b64[v & 63] : '=';
		assert_true(o + 4 < cap);
	}
	out[o] = '\0';
	return out;
}

static void test_basic_parse(void **state)
{
	char hdr[600], user[RP__API_BASIC_USER_CAP], pass[RP__API_BASIC_PASS_CAP];
	char longpass[200];

	(void)state;
#define OK_(h, u, p)                                                                               \
	do {                                                                                       \
		assert_int_equal(rp__api_basic_parse((h), strlen(h), user, sizeof(user), pass,     \
						     sizeof(pass)),                                \
				 RP_OK);                                                           \
		assert_string_equal(user, (u));                                                    \
		assert_string_equal(pass, (p));                                                    \
	} while (0)
#define BAD_(h)                                                                                    \
	assert_int_equal(                                                                          \
		rp__api_basic_parse((h), strlen(h), user, sizeof(user), pass, sizeof(pass)),       \
		RP_E_MALFORMED)

	OK_(basic("dev-0042:rpe_abc", hdr, sizeof(hdr)), "dev-0042", "rpe_abc");
	OK_(basic(":rpe_abc", hdr, sizeof(hdr)), "", "rpe_abc");
	OK_(basic("a:b:c", hdr, sizeof(hdr)), "a", "b:c"); /* the first ':' splits */
	OK_(basic("ab:c", hdr, sizeof(hdr)), "ab", "c");   /* one '=' */
	OK_(basic("abc:de", hdr, sizeof(hdr)), "abc", "de");
	OK_("basic ZGV2OnRvaw==", "dev", "tok"); /* the scheme in any case */
	OK_("BASIC ZGV2OnRvaw==", "dev", "tok");
	BAD_("Bearer rpe_x");
	BAD_("Basic");
	BAD_("Basic ");
	BAD_("Basic  ZGV2OnRvaw==");               /* two spaces */
	BAD_("Basic ZGV2OnRvaw");                  /* padding missing */
	BAD_("Basic ZGV2OnRvaw=");                 /* length not a multiple of 4 */
	BAD_("Basic ZGV2OnRvaw===");               /* too much padding */
	BAD_("Basic ZGV2OnRvax==");                /* non-zero trailing bits: a second spelling */
	BAD_("Basic ZGV2=nRvaw==");                /* '=' inside */
	BAD_("Basic ZGV2OnRvaw==\r");              /* a byte after */
	BAD_("Basic ZGV2-nRvaw==");                /* base64url, not base64 */
	BAD_(basic("devtok", hdr, sizeof(hdr)));   /* no ':' */
	BAD_(basic("dev:", hdr, sizeof(hdr)));     /* empty password */
	BAD_(basic("de v:tok", hdr, sizeof(hdr))); /* blank */
	BAD_(basic("dev:to\x01k", hdr, sizeof(hdr)));   /* control */
	BAD_(basic("dev:t\xc3\xa9", hdr, sizeof(hdr))); /* not ASCII */
	memset(longpass, 'x', sizeof(longpass) - 1u);
	longpass[0] = 'u';
	longpass[1] = ':';
	longpass[sizeof(longpass) - 1u] = '\0';
	BAD_(basic(longpass, hdr, sizeof(hdr))); /* password over its buffer */
	longpass[RP__API_BASIC_PASS_CAP] = '\0';
	OK_(basic(longpass, hdr, sizeof(hdr)), "u", longpass + 2);
	assert_int_equal(rp__api_basic_parse(NULL, 0, user, sizeof(user), pass, sizeof(pass)),
			 RP_E_MALFORMED);
#undef OK_
#undef BAD_
}

static json_t *js(const char *text)
{
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, NULL);

	assert_non_null(j);
	return j;
}

/* A prefix of 64 characters: one more than any prefix may have. */
#define LONG_PREFIX                                                                                \
	("{\"device_prefix\":"                                                                     \
	 "\"0123456789012345678901234567890123456789012345678901234567890123\"}")

static void test_enroll_token_body(void **state)
{
	static const char *const bad[] = {
		"{}",
		"{\"device\":\"dev-1\",\"device_prefix\":\"dev-\"}",
		"{\"device\":\"\"}",
		"{\"device\":\"svc-x\"}",
		"{\"device\":\"DEVICE\"}",
		"{\"device\":\"a/b\"}",
		"{\"device\":\".x\"}",
		"{\"device\":1}",
		"{\"device_prefix\":\"-x\"}",
		"{\"device_prefix\":\"a b\"}",
		LONG_PREFIX,
		"{\"device\":\"dev-1\",\"uses\":0}",
		"{\"device\":\"dev-1\",\"uses\":100001}",
		"{\"device\":\"dev-1\",\"uses\":\"1\"}",
		"{\"device\":\"dev-1\",\"lifetime_s\":59}",
		"{\"device\":\"dev-1\",\"lifetime_s\":2592001}",
		"{\"device\":\"dev-1\",\"model\":\"\"}",
		"{\"device\":\"dev-1\",\"model\":\"a\\u0001\"}",
		"{\"device\":\"dev-1\",\"tags\":\"a\"}",
		"{\"device\":\"dev-1\",\"tags\":[\"a,b\"]}",
		"{\"device\":\"dev-1\",\"tags\":[\"a\",\"a\"]}",
		"{\"device\":\"dev-1\",\"tags\":[1]}",
		"{\"device\":\"dev-1\",\"other\":1}",
	};
	char why[RP__API_WHY_CAP];
	rp__api_enroll_req in;
	json_t *j;

	(void)state;
	j = js("{\"device\":\"dev-0042\"}");
	assert_int_equal(rp__api_enroll_token_body(j, &in, why, sizeof(why)), RP_OK);
	assert_int_equal(in.device_len, 8);
	assert_memory_equal(in.device, "dev-0042", 8);
	assert_int_equal(in.prefix, 0);
	assert_int_equal(in.uses, 1);
	assert_int_equal(in.lifetime_s, RP_DEFAULT_EST_TOKEN_LIFETIME_S);
	assert_null(in.model);
	assert_int_equal(in.tags.n, 0);
	json_decref(j);
	j = js("{\"device_prefix\":\"line7-\",\"uses\":100000,\"lifetime_s\":2592000,"
	       "\"model\":\"gw 2\",\"tags\":[\"a\",\"b:c\"]}");
	assert_int_equal(rp__api_enroll_token_body(j, &in, why, sizeof(why)), RP_OK);
	assert_int_equal(in.prefix, 1);
	assert_memory_equal(in.device, "line7-", 6);
	assert_int_equal(in.uses, 100000);
	assert_int_equal(in.lifetime_s, 2592000);
	assert_memory_equal(in.model, "gw 2", 4);
	assert_int_equal(in.tags.n, 2);
	json_decref(j);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = js(bad[i]);
		why[0] = '\0';
		if (rp__api_enroll_token_body(j, &in, why, sizeof(why)) != RP_E_MALFORMED) {
			fail_msg("accepted: %s", bad[i]);
		}
		assert_true(why[0] != '\0');
		json_decref(j);
	}
}

static void test_binds_and_media_type(void **state)
{
	(void)state;
	assert_true(rp__api_enroll_binds("dev-1", 0, "dev-1", 5));
	assert_false(rp__api_enroll_binds("dev-1", 0, "dev-10", 6));
	assert_false(rp__api_enroll_binds("dev-1", 0, "dev-", 4));
	assert_true(rp__api_enroll_binds("dev-", 1, "dev-9", 5));
	assert_true(rp__api_enroll_binds("dev-", 1, "dev-", 4));
	assert_false(rp__api_enroll_binds("dev-", 1, "Dev-9", 5)); /* bytes, not case */
	assert_false(rp__api_enroll_binds("dev-", 1, "de", 2));
	assert_false(rp__api_enroll_binds("", 1, "x", 1));
	assert_false(rp__api_enroll_binds(NULL, 0, "x", 1));
	assert_false(rp__api_enroll_binds("x", 0, NULL, 0));

	assert_true(rp__api_is_pkcs10_type("application/pkcs10"));
	assert_true(rp__api_is_pkcs10_type("Application/PKCS10"));
	assert_true(rp__api_is_pkcs10_type("application/pkcs10; charset=x"));
	assert_false(rp__api_is_pkcs10_type("application/pkcs10x"));
	assert_false(rp__api_is_pkcs10_type("application/pkcs7-mime"));
	assert_false(rp__api_is_pkcs10_type("text/plain"));
	assert_false(rp__api_is_pkcs10_type(""));
	assert_false(rp__api_is_pkcs10_type(NULL));
}

#define STORE_TESTS                                                                                \
	cmocka_unit_test(test_tokens), cmocka_unit_test(test_enroll),                              \
		cmocka_unit_test(test_enroll_race)

int main(void)
{
	const struct CMUnitTest store[] = {STORE_TESTS};
	const struct CMUnitTest parsers[] = {
		cmocka_unit_test(test_basic_parse),
		cmocka_unit_test(test_enroll_token_body),
		cmocka_unit_test(test_binds_and_media_type),
	};
	int failed = 0;

	rp_api_json_init();
	if (getenv("RP_STORE_TEST_LOG") == NULL) {
		rp_log_set_level((rp_log_level)(RP_LOG_ERROR + 1));
	}
	failed += cmocka_run_group_tests_name("parsers", parsers, NULL, NULL);
	failed += cmocka_run_group_tests_name("sqlite", store, setup_sqlite, teardown_sqlite);
	failed += cmocka_run_group_tests_name("postgresql", store, setup_pg, teardown_pg);
	return failed;
}
