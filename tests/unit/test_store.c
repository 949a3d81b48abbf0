/*
 * test_store.c - server/store, the same suite against both back ends.
 *
 * Group "sqlite": each test gets a fresh database file in a mkdtemp
 * directory. Group "postgresql": the group setup starts a real server
 * (tests/support/pgtest.h: initdb, pg_ctl on a free loopback port, fsync
 * on) and each test gets an empty schema; the group teardown (and, if the
 * process dies, pgtest's guard) stops it. A missing PostgreSQL fails the
 * group with a message naming scripts/bootstrap: it is never skipped.
 *
 * Threads: cmocka's assertions longjmp, so only the main thread asserts;
 * callbacks (on the storage thread) and producer threads record what they
 * saw, and the main thread checks it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <libpq-fe.h>
#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pgtest.h"
#include "store/internal.h"
#include "store/store.h"
#include "util/alloc.h"
#include "util/log.h"

/* ------------------------------------------------------------------------
 * Back ends and fresh databases
 * ------------------------------------------------------------------------ */

static struct {
	int pg;
	char dir[256];  /* SQLite: the temporary directory */
	char url[420];  /* the current test's database */
	char path[400]; /* SQLite: its file */
	int seq;
	pgtest server;
} g;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* PostgreSQL: runs sql on the test database with a connection of our own.
 * Returns the number of rows of its last result (0 for a command), or -1. */
static int pg_admin_rows(const char *sql)
{
	PGconn *c = PQconnectdb(g.server.url);
	PGresult *r;
	int rows = -1;

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "pg_admin: %s", PQerrorMessage(c));
		PQfinish(c);
		return -1;
	}
	PQsetNoticeProcessor(c, quiet, NULL);
	r = PQexec(c, sql);
	if (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK) {
		rows = PQntuples(r);
	} else {
		fprintf(stderr, "pg_admin: %s", PQerrorMessage(c));
	}
	PQclear(r);
	PQfinish(c);
	return rows;
}

static int pg_admin(const char *sql)
{
	return pg_admin_rows(sql) >= 0 ? 0 : -1;
}

/* A URL to an empty database for the current test. */
static const char *fresh(void)
{
	g.seq++;
	if (g.pg) {
		assert_int_equal(pg_admin("DROP SCHEMA public CASCADE; CREATE SCHEMA public"), 0);
		snprintf(g.url, sizeof(g.url), "%s", g.server.url);
	} else {
		snprintf(g.path, sizeof(g.path), "%s/t%d/store.db", g.dir, g.seq);
		snprintf(g.url, sizeof(g.url), "sqlite:%s", g.path);
	}
	return g.url;
}

static rp_store *open_with(const rp_store_options *opt)
{
	rp_store *st = NULL;

	assert_int_equal(rp_store_open(fresh(), opt, &st), RP_OK);
	assert_non_null(st);
	return st;
}

static rp_store *open_fresh(void)
{
	return open_with(NULL);
}

static int setup_sqlite(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	memset(&g, 0, sizeof(g));
	snprintf(g.dir, sizeof(g.dir), "%s/rp-store-XXXXXX",
		 tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(g.dir) == NULL) {
		fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	return 0;
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
	double t0 = now_s();

	(void)state;
	memset(&g, 0, sizeof(g));
	g.pg = 1;
	if (pgtest_start(&g.server, why, sizeof(why)) != 0) {
		fprintf(stderr, "PostgreSQL tests cannot run: %s\n", why);
		return -1;
	}
	fprintf(stderr, "[ INFO     ] PostgreSQL on 127.0.0.1:%d started in %.1f s\n",
		g.server.port, now_s() - t0);
	return 0;
}

static int teardown_pg(void **state)
{
	(void)state;
	pgtest_stop(&g.server);
	return 0;
}

/* ------------------------------------------------------------------------
 * Waiting for asynchronous operations
 * ------------------------------------------------------------------------ */

#define MAX_OPS 8192

#define ZERO_HASH_FOR_TEST "0000000000000000000000000000000000000000000000000000000000000000"

typedef struct tracker tracker;

/* The context of one operation: its tracker and its index there. */
typedef struct slot {
	tracker *t;
	size_t i;
} slot;

struct tracker {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t done;
	atomic_int calls[MAX_OPS];
	rp_status st[MAX_OPS];
	size_t order[MAX_OPS]; /* order[i]: how many callbacks came before op i's */
	slot slots[MAX_OPS];
};

static tracker *tracker_new(void)
{
	tracker *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	return t;
}

static void tracker_free(tracker *t)
{
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

static void *slot_of(tracker *t, size_t i)
{
	t->slots[i].t = t;
	t->slots[i].i = i;
	return &t->slots[i];
}

static void on_done(void *ctx, rp_status st)
{
	slot *s = ctx;

	atomic_fetch_add(&s->t->calls[s->i], 1);
	pthread_mutex_lock(&s->t->mu);
	s->t->st[s->i] = st;
	s->t->order[s->i] = s->t->done;
	s->t->done++;
	pthread_cond_broadcast(&s->t->cv);
	pthread_mutex_unlock(&s->t->mu);
}

/* Waits (at most 20 s) until n callbacks have been called. */
static void tracker_wait(tracker *t, size_t n)
{
	struct timespec dl;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 20;
	pthread_mutex_lock(&t->mu);
	while (t->done < n) {
		if (pthread_cond_timedwait(&t->cv, &t->mu, &dl) == ETIMEDOUT) {
			break;
		}
	}
	pthread_mutex_unlock(&t->mu);
	assert_int_equal(t->done, n);
}

static void never_called(void *ctx, rp_status st)
{
	(void)ctx;
	(void)st;
	fprintf(stderr, "a callback was called for a call that returned an error\n");
	abort();
}

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static void seen(rp_store *st, const char *id, int64_t t)
{
	assert_int_equal(rp_store_device_seen(st, id, "192.0.2.1:4000", t, NULL, NULL), RP_OK);
}

static rp_store_point num_point(const char *dev, const char *name, int64_t t, double v)
{
	rp_store_point p;

	memset(&p, 0, sizeof(p));
	p.device = dev;
	p.name = name;
	p.time_ms = t;
	p.kind = RP_STORE_NUM;
	p.num = v;
	p.unit = "Cel";
	return p;
}

static void hex64(char out[65], int seed)
{
	for (int i = 0; i < 64; i++) {
		out[i] = "0123456789abcdef"[(seed * 7 + i * 13) & 15];
	}
	out[64] = '\0';
}

/* ------------------------------------------------------------------------
 * Open, migrations
 * ------------------------------------------------------------------------ */

static void test_open_migrations(void **state)
{
	rp_store_options bad = {.batch_ops = RP_LIMIT_STORE_BATCH_OPS + 1};
	rp_store *st = NULL;
	rp_store_device *d = NULL;
	char url[sizeof(g.url)];
	struct stat sb;

	(void)state;
	st = open_fresh();
	snprintf(url, sizeof(url), "%s", g.url);
	assert_string_equal(rp_store_backend(st), g.pg ? "postgresql" : "sqlite");
	assert_int_equal(rp_store_schema_version(st), rp_store_code_version());
	assert_true(rp_store_code_version() >= 1);
	seen(st, "dev-1", 1000);
	rp_store_close(st);

	if (!g.pg) {
		/* The file and the directory made for it are private. */
		assert_int_equal(stat(g.path, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0600);
		*strrchr(g.path, '/') = '\0';
		assert_int_equal(stat(g.path, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0700);
	}

	/* Reopening changes nothing and keeps the data. */
	assert_int_equal(rp_store_open(url, NULL, &st), RP_OK);
	assert_int_equal(rp_store_schema_version(st), rp_store_code_version());
	assert_int_equal(rp_store_device_get(st, "dev-1", &d, NULL, NULL), RP_OK);
	assert_string_equal(d->id, "dev-1");
	rp_store_free(d);

	/* A database from the future is refused and left as it is. */
	assert_int_equal(rp__store_raw_sql(st, "UPDATE schema_version SET version = 999"), RP_OK);
	rp_store_close(st);
	st = (rp_store *)&st;
	assert_int_equal(rp_store_open(url, NULL, &st), RP_E_CONFIG);
	assert_null(st);
	assert_int_equal(rp_store_open(url, NULL, &st), RP_E_CONFIG);

	/* Bad URLs and options. */
	assert_int_equal(rp_store_open("mysql://x", NULL, &st), RP_E_INVALID_ARG);
	assert_int_equal(rp_store_open("sqlite:", NULL, &st), RP_E_INVALID_ARG);
	assert_int_equal(rp_store_open(NULL, NULL, &st), RP_E_INVALID_ARG);
	assert_int_equal(rp_store_open(fresh(), &bad, &st), RP_E_CONFIG);
	assert_int_equal(rp_alloc_in_use(), 0);
}

/* ------------------------------------------------------------------------
 * Devices
 * ------------------------------------------------------------------------ */

static size_t list_ids(rp_store *st, rp_store_device_filter f, char *out, size_t cap)
{
	rp_store_device *d = NULL;
	size_t n = 0, total = 0;

	out[0] = '\0';
	for (;;) {
		assert_int_equal(rp_store_device_list(st, &f, &d, &n, NULL, NULL), RP_OK);
		for (size_t i = 0; i < n; i++) {
			strncat(out, d[i].id, cap - strlen(out) - 1);
			strncat(out, " ", cap - strlen(out) - 1);
		}
		total += n;
		if (n < f.limit) {
			rp_store_free(d);
			return total;
		}
		assert_non_null(d);
		/* The cursor: the last id (copied, the block goes away). */
		static char after[RP_LIMIT_STORE_ID_LEN + 1];
		snprintf(after, sizeof(after), "%s", d[n - 1].id);
		f.after_id = after;
		rp_store_free(d);
	}
}

static void test_devices(void **state)
{
	rp_store *st = open_fresh();
	rp_store_device *d = NULL, *page = NULL;
	const char *tags[] = {"site=b", "floor:2", "site=b"};
	const char *too_many[RP_LIMIT_STORE_TAGS + 1];
	rp_store_device_filter f;
	char ids[4096], id[32], longid[RP_LIMIT_STORE_ID_LEN + 2];
	size_t n = 0;

	(void)state;
	assert_int_equal(rp_store_device_get(st, "nope", &d, NULL, NULL), RP_E_NOT_FOUND);
	assert_null(d);

	/* seen: creates active, then moves forward only. */
	assert_int_equal(rp_store_device_seen(st, "dev-1", "10.0.0.1:5000", 1000, NULL, NULL),
			 RP_OK);
	assert_int_equal(rp_store_device_seen(st, "dev-1", "10.0.0.2:6000", 2000, NULL, NULL),
			 RP_OK);
	assert_int_equal(rp_store_device_seen(st, "dev-1", "10.0.0.9:1", 1500, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_device_get(st, "dev-1", &d, NULL, NULL), RP_OK);
	assert_string_equal(d->id, "dev-1");
	assert_int_equal(d->status, RP_STORE_DEVICE_ACTIVE);
	assert_int_equal(d->created_ms, 1000);
	assert_int_equal(d->last_seen_ms, 2000);
	assert_string_equal(d->last_addr, "10.0.0.2:6000");
	assert_string_equal(d->model, "");
	assert_int_equal(d->ntags, 0);
	rp_store_free(d);

	/* status, info, tags */
	assert_int_equal(
		rp_store_device_set_status(st, "dev-1", RP_STORE_DEVICE_QUARANTINED, NULL, NULL),
		RP_OK);
	assert_int_equal(
		rp_store_device_set_status(st, "nope", RP_STORE_DEVICE_REVOKED, NULL, NULL),
		RP_E_NOT_FOUND);
	assert_int_equal(
		rp_store_device_set_status(st, "dev-1", (rp_store_device_status)9, NULL, NULL),
		RP_E_INVALID_ARG);
	assert_int_equal(rp_store_device_set_info(st, "dev-1", "m1", NULL, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_device_set_info(st, "dev-1", NULL, "1.2.3", NULL, NULL), RP_OK);
	assert_int_equal(rp_store_device_set_info(st, "nope", "x", "y", NULL, NULL),
			 RP_E_NOT_FOUND);
	assert_int_equal(rp_store_device_set_tags(st, "dev-1", tags, 3, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_device_set_tags(st, "nope", tags, 1, NULL, NULL), RP_E_NOT_FOUND);
	assert_int_equal(rp_store_device_get(st, "dev-1", &d, NULL, NULL), RP_OK);
	assert_int_equal(d->status, RP_STORE_DEVICE_QUARANTINED);
	assert_string_equal(d->model, "m1");
	assert_string_equal(d->firmware, "1.2.3");
	assert_int_equal(d->ntags, 2);
	assert_string_equal(d->tags[0], "floor:2");
	assert_string_equal(d->tags[1], "site=b");
	rp_store_free(d);
	assert_int_equal(rp_store_device_set_tags(st, "dev-1", NULL, 0, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_device_get(st, "dev-1", &d, NULL, NULL), RP_OK);
	assert_int_equal(d->ntags, 0);
	rp_store_free(d);

	/* Tag and id checks. */
	tags[0] = "a,b";
	assert_int_equal(rp_store_device_set_tags(st, "dev-1", tags, 1, NULL, NULL),
			 RP_E_INVALID_ARG);
	tags[0] = "a b";
	assert_int_equal(rp_store_device_set_tags(st, "dev-1", tags, 1, NULL, NULL),
			 RP_E_INVALID_ARG);
	for (size_t i = 0; i <= RP_LIMIT_STORE_TAGS; i++) {
		too_many[i] = "t";
	}
	assert_int_equal(rp_store_device_set_tags(st, "dev-1", too_many, RP_LIMIT_STORE_TAGS + 1,
						  NULL, NULL),
			 RP_E_LIMIT);
	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_int_equal(rp_store_device_seen(st, longid, "", 1, NULL, NULL), RP_E_LIMIT);
	assert_int_equal(rp_store_device_seen(st, "bad\xff", "", 1, NULL, NULL), RP_E_UTF8);
	assert_int_equal(rp_store_device_seen(st, "", "", 1, NULL, NULL), RP_E_INVALID_ARG);
	assert_int_equal(rp_store_device_seen(st, NULL, "", 1, NULL, NULL), RP_E_INVALID_ARG);
	assert_int_equal(rp_store_device_seen(st, "x", "", -1, NULL, NULL), RP_E_INVALID_ARG);

	/* 25 devices: d-00 .. d-24; model by i % 3, firmware by i % 2, tag by i % 5. */
	for (int i = 0; i < 25; i++) {
		char model[8], fw[8], tag[8];
		const char *tl[1] = {tag};

		snprintf(id, sizeof(id), "d-%02d", i);
		snprintf(model, sizeof(model), "m%d", i % 3);
		snprintf(fw, sizeof(fw), "f%d", i % 2);
		snprintf(tag, sizeof(tag), "g%d", i % 5);
		seen(st, id, 100 + i);
		assert_int_equal(rp_store_device_set_info(st, id, model, fw, NULL, NULL), RP_OK);
		assert_int_equal(rp_store_device_set_tags(st, id, tl, 1, NULL, NULL), RP_OK);
		if (i % 4 == 0) {
			assert_int_equal(rp_store_device_set_status(st, id, RP_STORE_DEVICE_REVOKED,
								    NULL, NULL),
					 RP_OK);
		}
	}
	memset(&f, 0, sizeof(f));
	f.limit = 10;
	assert_int_equal(list_ids(st, f, ids, sizeof(ids)), 26); /* and dev-1 */
	f.limit = 26; /* exactly one full page, then an empty one */
	assert_int_equal(list_ids(st, f, ids, sizeof(ids)), 26);
	f.limit = 1;
	assert_int_equal(list_ids(st, f, ids, sizeof(ids)), 26);
	assert_true(strncmp(ids, "d-00 d-01 d-02 ", 15) == 0);
	f.limit = 100;
	f.after_id = "dev-1";
	assert_int_equal(list_ids(st, f, ids, sizeof(ids)), 0);
	f.after_id = "d-23";
	assert_int_equal(list_ids(st, f, ids, sizeof(ids)), 2);
	assert_string_equal(ids, "d-24 dev-1 ");
	f.after_id = NULL;
	f.status = RP_STORE_DEVICE_REVOKED;
	assert_int_equal(list_ids(st, f, ids, sizeof(ids)), 7);
	assert_string_equal(ids, "d-00 d-04 d-08 d-12 d-16 d-20 d-24 ");
	f.status = RP_STORE_DEVICE_ANY;
	f.tag = "g3";
	assert_int_equal(list_ids(st, f, ids, sizeof(ids)), 5);
	assert_string_equal(ids, "d-03 d-08 d-13 d-18 d-23 ");
	f.model = "m2";
	assert_int_equal(list_ids(st, f, ids, sizeof(ids)), 2);
	assert_string_equal(ids, "d-08 d-23 ");
	f.firmware = "f0";
	assert_int_equal(list_ids(st, f, ids, sizeof(ids)), 1);
	assert_string_equal(ids, "d-08 ");
	f.tag = "nope";
	assert_int_equal(list_ids(st, f, ids, sizeof(ids)), 0);
	/* A listed device carries its tags. */
	memset(&f, 0, sizeof(f));
	f.limit = 1;
	f.after_id = "d-06";
	assert_int_equal(rp_store_device_list(st, &f, &page, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 1);
	assert_string_equal(page[0].id, "d-07");
	assert_int_equal(page[0].ntags, 1);
	assert_string_equal(page[0].tags[0], "g2");
	assert_string_equal(page[0].model, "m1");
	rp_store_free(page);
	/* Limits of a page. */
	f.limit = 0;
	assert_int_equal(rp_store_device_list(st, &f, &page, &n, NULL, NULL), RP_E_INVALID_ARG);
	f.limit = RP_LIMIT_STORE_PAGE + 1;
	assert_int_equal(rp_store_device_list(st, &f, &page, &n, never_called, NULL),
			 RP_E_INVALID_ARG);
	f.limit = RP_LIMIT_STORE_PAGE;
	f.tag = "bad tag";
	assert_int_equal(rp_store_device_list(st, &f, &page, &n, NULL, NULL), RP_E_INVALID_ARG);
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

/* ------------------------------------------------------------------------
 * Certificates
 * ------------------------------------------------------------------------ */

static void test_certificates(void **state)
{
	rp_store *st = open_fresh();
	rp_store_cert c, *r = NULL;
	char fp[65], serial[16];
	size_t n = 0;

	(void)state;
	seen(st, "dev-1", 1);
	seen(st, "dev-2", 1);
	hex64(fp, 1);
	memset(&c, 0, sizeof(c));
	c.serial = "0a1b";
	c.device_id = "nope";
	c.fingerprint = fp;
	c.not_after_ms = 5000;
	assert_int_equal(rp_store_cert_add(st, &c, NULL, NULL), RP_E_NOT_FOUND);
	for (int i = 0; i < 7; i++) {
		snprintf(serial, sizeof(serial), "%04x", 0x10 + i);
		c.serial = serial;
		c.device_id = i < 5 ? "dev-1" : "dev-2";
		c.not_after_ms = 1000 * (i + 1);
		assert_int_equal(rp_store_cert_add(st, &c, NULL, NULL), RP_OK);
	}
	assert_int_equal(rp_store_cert_add(st, &c, NULL, NULL), RP_E_EXISTS);
	c.serial = "0A1B"; /* uppercase is not the stored form */
	assert_int_equal(rp_store_cert_add(st, &c, NULL, NULL), RP_E_INVALID_ARG);
	c.serial = "0a1c";
	c.fingerprint = "abcd";
	assert_int_equal(rp_store_cert_add(st, &c, NULL, NULL), RP_E_INVALID_ARG);

	assert_int_equal(rp_store_cert_get(st, "0012", &r, NULL, NULL), RP_OK);
	assert_string_equal(r->serial, "0012");
	assert_string_equal(r->device_id, "dev-1");
	assert_string_equal(r->fingerprint, fp);
	assert_int_equal(r->not_after_ms, 3000);
	assert_int_equal(r->status, RP_STORE_CERT_VALID);
	assert_int_equal(r->revoked_at_ms, 0);
	rp_store_free(r);
	assert_int_equal(rp_store_cert_get(st, "ffff", &r, NULL, NULL), RP_E_NOT_FOUND);

	assert_int_equal(rp_store_cert_list_device(st, "dev-1", NULL, 3, &r, &n, NULL, NULL),
			 RP_OK);
	assert_int_equal(n, 3);
	assert_string_equal(r[2].serial, "0012");
	rp_store_free(r);
	assert_int_equal(rp_store_cert_list_device(st, "dev-1", "0012", 3, &r, &n, NULL, NULL),
			 RP_OK);
	assert_int_equal(n, 2);
	assert_string_equal(r[0].serial, "0013");
	assert_string_equal(r[1].serial, "0014");
	rp_store_free(r);

	assert_int_equal(rp_store_cert_revoke(st, "0011", 777, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_cert_revoke(st, "0011", 999, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_cert_revoke(st, "0015", 778, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_cert_revoke(st, "0016", 779, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_cert_revoke(st, "beef", 1, NULL, NULL), RP_E_NOT_FOUND);
	assert_int_equal(rp_store_cert_get(st, "0011", &r, NULL, NULL), RP_OK);
	assert_int_equal(r->status, RP_STORE_CERT_REVOKED);
	assert_int_equal(r->revoked_at_ms, 777); /* the first revocation stays */
	rp_store_free(r);
	/* The CRL: revoked and not yet expired (not_after 2000, 6000, 7000). */
	assert_int_equal(rp_store_cert_list_revoked(st, NULL, 0, 10, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 3);
	rp_store_free(r);
	assert_int_equal(rp_store_cert_list_revoked(st, NULL, 5000, 10, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 2);
	assert_string_equal(r[0].serial, "0015");
	assert_int_equal(r[1].revoked_at_ms, 779);
	rp_store_free(r);
	assert_int_equal(rp_store_cert_list_revoked(st, "0015", 0, 10, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 1);
	rp_store_free(r);
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

/* ------------------------------------------------------------------------
 * Telemetry
 * ------------------------------------------------------------------------ */

static void test_telemetry_series(void **state)
{
	rp_store *st = open_fresh();
	rp_store_point pts[16], *r = NULL;
	rp_store_series_query q;
	int64_t seen_seq[16];
	size_t n = 0, got = 0;
	static const uint8_t blob[3] = {0, 0xff, 7};

	(void)state;
	seen(st, "dev-1", 1);
	/* 10 points of "temp" at 1000..1008, two of them at 1005. */
	for (int i = 0; i < 10; i++) {
		pts[i] = num_point("dev-1", "temp", 1000 + (i < 6 ? i : i - 1), 20.5 + i);
	}
	pts[10] = num_point("dev-1", "other", 1003, 1);
	pts[11] = num_point("dev-1", "status", 1000, 0);
	pts[11].kind = RP_STORE_STR;
	pts[11].str = "ok \xc3\xa9";
	pts[12] = num_point("dev-1", "door", 1000, 0);
	pts[12].kind = RP_STORE_BOOL;
	pts[12].boolean = 1;
	pts[12].unit = NULL;
	pts[13] = num_point("dev-1", "raw", 1000, 0);
	pts[13].kind = RP_STORE_DATA;
	pts[13].data = blob;
	pts[13].data_len = sizeof(blob);
	pts[14] = num_point("dev-1", "raw", 1001, 0);
	pts[14].kind = RP_STORE_DATA;
	pts[14].data = NULL;
	pts[14].data_len = 0;
	assert_int_equal(rp_store_telemetry_insert(st, pts, 15, NULL, NULL), RP_OK);

	/* Ascending, 3 at a time, through the equal timestamps. */
	memset(&q, 0, sizeof(q));
	q.device = "dev-1";
	q.name = "temp";
	q.from_ms = 0;
	q.to_ms = 100000;
	q.limit = 3;
	for (;;) {
		assert_int_equal(rp_store_telemetry_query(st, &q, &r, &n, NULL, NULL), RP_OK);
		for (size_t i = 0; i < n; i++) {
			assert_string_equal(r[i].name, "temp");
			assert_string_equal(r[i].device, "dev-1");
			assert_string_equal(r[i].unit, "Cel");
			assert_int_equal(r[i].kind, RP_STORE_NUM);
			assert_true(r[i].num == 20.5 + (double)got);
			seen_seq[got++] = r[i].seq;
		}
		if (n < q.limit) {
			rp_store_free(r);
			break;
		}
		q.has_cursor = 1;
		q.after_time_ms = r[n - 1].time_ms;
		q.after_seq = r[n - 1].seq;
		rp_store_free(r);
	}
	assert_int_equal(got, 10);
	/* Descending: the same points backwards. */
	q.has_cursor = 0;
	q.descending = 1;
	got = 0;
	for (;;) {
		assert_int_equal(rp_store_telemetry_query(st, &q, &r, &n, NULL, NULL), RP_OK);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(r[i].seq, seen_seq[9 - got]);
			got++;
		}
		if (n < q.limit) {
			rp_store_free(r);
			break;
		}
		q.has_cursor = 1;
		q.after_time_ms = r[n - 1].time_ms;
		q.after_seq = r[n - 1].seq;
		rp_store_free(r);
	}
	assert_int_equal(got, 10);
	/* [from, to): 1002 in, 1005 out. */
	q.descending = 0;
	q.has_cursor = 0;
	q.limit = 100;
	q.from_ms = 1002;
	q.to_ms = 1005;
	assert_int_equal(rp_store_telemetry_query(st, &q, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 3);
	assert_int_equal(r[0].time_ms, 1002);
	assert_int_equal(r[2].time_ms, 1004);
	rp_store_free(r);

	/* Each kind comes back as it went in. */
	q.from_ms = 0;
	q.to_ms = 5000;
	q.name = "status";
	assert_int_equal(rp_store_telemetry_query(st, &q, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].kind, RP_STORE_STR);
	assert_string_equal(r[0].str, "ok \xc3\xa9");
	rp_store_free(r);
	q.name = "door";
	assert_int_equal(rp_store_telemetry_query(st, &q, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].kind, RP_STORE_BOOL);
	assert_int_equal(r[0].boolean, 1);
	assert_string_equal(r[0].unit, "");
	rp_store_free(r);
	q.name = "raw";
	assert_int_equal(rp_store_telemetry_query(st, &q, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].kind, RP_STORE_DATA);
	assert_int_equal(r[0].data_len, 3);
	assert_memory_equal(r[0].data, blob, 3);
	assert_int_equal(r[1].data_len, 0);
	assert_non_null(r[1].data);
	rp_store_free(r);
	q.name = "nothing";
	assert_int_equal(rp_store_telemetry_query(st, &q, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 0);
	assert_null(r);

	/* A batch naming an unknown device is stored not at all. */
	pts[0] = num_point("dev-1", "atomic", 1, 1);
	pts[1] = num_point("ghost", "atomic", 2, 2);
	assert_int_equal(rp_store_telemetry_insert(st, pts, 2, NULL, NULL), RP_E_NOT_FOUND);
	q.name = "atomic";
	assert_int_equal(rp_store_telemetry_query(st, &q, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 0);

	/* Checks before queueing. */
	pts[0].num = NAN;
	assert_int_equal(rp_store_telemetry_insert(st, pts, 1, never_called, NULL),
			 RP_E_INVALID_ARG);
	pts[0].num = 1;
	pts[0].kind = (rp_store_kind)7;
	assert_int_equal(rp_store_telemetry_insert(st, pts, 1, NULL, NULL), RP_E_INVALID_ARG);
	assert_int_equal(rp_store_telemetry_insert(st, pts, 0, NULL, NULL), RP_E_INVALID_ARG);
	assert_int_equal(rp_store_telemetry_insert(st, pts, RP_LIMIT_STORE_RECORDS + 1, NULL, NULL),
			 RP_E_LIMIT);
	q.limit = RP_LIMIT_STORE_SERIES_ROWS + 1;
	assert_int_equal(rp_store_telemetry_query(st, &q, &r, &n, NULL, NULL), RP_E_INVALID_ARG);
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

static void test_telemetry_aggregate(void **state)
{
	rp_store *st = open_fresh();
	rp_store_point pts[64];
	rp_store_agg_query q;
	rp_store_agg_row *r = NULL;
	size_t n = 0;

	(void)state;
	seen(st, "dev-1", 1);
	/* One value a second for a minute: value = second; plus a string to ignore. */
	for (int i = 0; i < 60; i++) {
		pts[i] = num_point("dev-1", "t", (int64_t)i * 1000, i);
	}
	pts[60] = num_point("dev-1", "t", 1500, 0);
	pts[60].kind = RP_STORE_STR;
	pts[60].str = "not a number";
	/* A lone value far away, after an empty stretch. */
	pts[61] = num_point("dev-1", "t", 95000, -3.5);
	assert_int_equal(rp_store_telemetry_insert(st, pts, 62, NULL, NULL), RP_OK);

	memset(&q, 0, sizeof(q));
	q.device = "dev-1";
	q.name = "t";
	q.from_ms = 0;
	q.to_ms = 100000;
	q.interval_ms = 10000;
	assert_int_equal(rp_store_telemetry_aggregate(st, &q, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 7); /* six full buckets, three empty ones left out, one lone value */
	for (int k = 0; k < 6; k++) {
		assert_int_equal(r[k].start_ms, k * 10000);
		assert_true(r[k].min == 10.0 * k);
		assert_true(r[k].max == 10.0 * k + 9);
		assert_true(r[k].avg == 10.0 * k + 4.5);
		assert_int_equal(r[k].count, 10);
	}
	assert_int_equal(r[6].start_ms, 90000);
	assert_true(r[6].min == -3.5 && r[6].max == -3.5 && r[6].avg == -3.5);
	assert_int_equal(r[6].count, 1);
	rp_store_free(r);
	/* Buckets start at from, not at a multiple of the interval. */
	q.from_ms = 5000;
	q.to_ms = 25000;
	assert_int_equal(rp_store_telemetry_aggregate(st, &q, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].start_ms, 5000);
	assert_true(r[0].min == 5 && r[0].max == 14 && r[0].avg == 9.5);
	assert_int_equal(r[1].start_ms, 15000);
	assert_int_equal(r[1].count, 10);
	rp_store_free(r);
	/* A last, partial bucket. */
	q.from_ms = 0;
	q.to_ms = 15000;
	assert_int_equal(rp_store_telemetry_aggregate(st, &q, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 2);
	assert_int_equal(r[1].count, 5);
	assert_true(r[1].max == 14);
	rp_store_free(r);
	/* Bounds. */
	q.interval_ms = 1;
	q.to_ms = RP_LIMIT_STORE_BUCKETS + 1;
	assert_int_equal(rp_store_telemetry_aggregate(st, &q, &r, &n, NULL, NULL), RP_E_LIMIT);
	q.to_ms = RP_LIMIT_STORE_BUCKETS;
	assert_int_equal(rp_store_telemetry_aggregate(st, &q, &r, &n, NULL, NULL), RP_OK);
	rp_store_free(r);
	q.interval_ms = 0;
	assert_int_equal(rp_store_telemetry_aggregate(st, &q, &r, &n, NULL, NULL),
			 RP_E_INVALID_ARG);
	q.interval_ms = 10;
	q.to_ms = q.from_ms;
	assert_int_equal(rp_store_telemetry_aggregate(st, &q, &r, &n, NULL, NULL),
			 RP_E_INVALID_ARG);
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

static void test_telemetry_retention(void **state)
{
	rp_store_options opt = {.retention_chunk = 100};
	rp_store *st = open_with(&opt);
	rp_store_point pts[100];
	rp_store_stats before, after;
	rp_store_series_query q;
	rp_store_point *r = NULL;
	tracker *t = tracker_new();
	uint64_t deleted = 0, deleted2 = 0;
	size_t n = 0;

	(void)state;
	seen(st, "dev-1", 1);
	/* 350 old points (t < 10000) and 50 new ones. */
	for (int b = 0; b < 4; b++) {
		for (int i = 0; i < 100; i++) {
			int k = b * 100 + i;

			pts[i] = num_point("dev-1", "v", k < 350 ? k : 10000 + k, k);
		}
		assert_int_equal(rp_store_telemetry_insert(st, pts, 100, NULL, NULL), RP_OK);
	}
	rp_store_stats_get(st, &before);
	assert_int_equal(rp_store_telemetry_expire(st, 10000, &deleted, NULL, NULL), RP_OK);
	rp_store_stats_get(st, &after);
	assert_int_equal(deleted, 350);
	/* Four chunks (100, 100, 100, 50), one transaction each. */
	assert_int_equal(after.commits - before.commits, 4);
	memset(&q, 0, sizeof(q));
	q.device = "dev-1";
	q.name = "v";
	q.to_ms = INT64_MAX;
	q.limit = 1000;
	assert_int_equal(rp_store_telemetry_query(st, &q, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 50);
	assert_int_equal(r[0].time_ms, 10350);
	rp_store_free(r);

	/* Other work goes on between chunks: submitted after, done before. */
	for (int i = 0; i < 100; i++) {
		pts[i] = num_point("dev-1", "v", i, i);
	}
	assert_int_equal(rp_store_telemetry_insert(st, pts, 100, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_telemetry_insert(st, pts, 100, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_telemetry_insert(st, pts, 100, NULL, NULL), RP_OK);
	rp__store_hold(st, 1);
	assert_int_equal(rp_store_telemetry_expire(st, 10000, &deleted2, on_done, slot_of(t, 0)),
			 RP_OK);
	assert_int_equal(rp_store_device_seen(st, "dev-1", "", 5, on_done, slot_of(t, 1)), RP_OK);
	rp__store_hold(st, 0);
	tracker_wait(t, 2);
	assert_int_equal(t->st[0], RP_OK);
	assert_int_equal(t->st[1], RP_OK);
	assert_int_equal(deleted2, 300);
	tracker_free(t);
	assert_int_equal(rp_store_telemetry_expire(st, -5, &deleted, NULL, NULL), RP_E_INVALID_ARG);
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

/* ------------------------------------------------------------------------
 * Commands, broker state, alerts
 * ------------------------------------------------------------------------ */

static void test_commands(void **state)
{
	rp_store *st = open_fresh();
	rp_store_command c, *r = NULL;
	char id[16];
	size_t n = 0, total = 0;
	int64_t after_t = 0;
	char after_id[16] = "";

	(void)state;
	seen(st, "dev-1", 1);
	memset(&c, 0, sizeof(c));
	c.id = "c-1";
	c.device_id = "ghost";
	c.name = "reboot";
	c.args = "{\"delay\":5}";
	c.created_ms = 100;
	assert_int_equal(rp_store_command_create(st, &c, NULL, NULL), RP_E_NOT_FOUND);
	c.device_id = "dev-1";
	assert_int_equal(rp_store_command_create(st, &c, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_command_create(st, &c, NULL, NULL), RP_E_EXISTS);
	assert_int_equal(rp_store_command_get(st, "c-1", &r, NULL, NULL), RP_OK);
	assert_int_equal(r->status, RP_STORE_CMD_PENDING);
	assert_string_equal(r->args, "{\"delay\":5}");
	assert_string_equal(r->result, "");
	assert_int_equal(r->answered_ms, 0);
	rp_store_free(r);
	assert_int_equal(rp_store_command_set_status(st, "c-1", RP_STORE_CMD_SENT, NULL, NULL),
			 RP_OK);
	assert_int_equal(rp_store_command_set_result(st, "c-1", RP_STORE_CMD_DONE, "{\"ok\":true}",
						     250, NULL, NULL),
			 RP_OK);
	assert_int_equal(rp_store_command_get(st, "c-1", &r, NULL, NULL), RP_OK);
	assert_int_equal(r->status, RP_STORE_CMD_DONE);
	assert_string_equal(r->result, "{\"ok\":true}");
	assert_int_equal(r->answered_ms, 250);
	assert_int_equal(r->created_ms, 100);
	rp_store_free(r);
	/* A result that came before "sent" stays: sent only replaces pending. */
	assert_int_equal(rp_store_command_set_status(st, "c-1", RP_STORE_CMD_SENT, NULL, NULL),
			 RP_E_NOT_FOUND);
	assert_int_equal(rp_store_command_get(st, "c-1", &r, NULL, NULL), RP_OK);
	assert_int_equal(r->status, RP_STORE_CMD_DONE);
	rp_store_free(r);
	assert_int_equal(rp_store_command_set_status(st, "nope", RP_STORE_CMD_SENT, NULL, NULL),
			 RP_E_NOT_FOUND);
	assert_int_equal(rp_store_command_set_status(st, "c-1", (rp_store_cmd_status)0, NULL, NULL),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp_store_command_get(st, "nope", &r, NULL, NULL), RP_E_NOT_FOUND);

	/* 7 more, several created at the same time: pages of 3 by (created, id). */
	for (int i = 0; i < 7; i++) {
		snprintf(id, sizeof(id), "k-%d", 6 - i);
		c.id = id;
		c.created_ms = 200 + i / 3;
		assert_int_equal(rp_store_command_create(st, &c, NULL, NULL), RP_OK);
	}
	for (;;) {
		assert_int_equal(rp_store_command_list(st, "dev-1", after_t,
						       after_id[0] != '\0' ? after_id : NULL, 3, &r,
						       &n, NULL, NULL),
				 RP_OK);
		if (total == 0) {
			assert_string_equal(r[0].id, "c-1");
			assert_string_equal(r[1].id, "k-4"); /* created 200: k-6, k-5, k-4 */
		}
		total += n;
		if (n < 3) {
			rp_store_free(r);
			break;
		}
		after_t = r[n - 1].created_ms;
		snprintf(after_id, sizeof(after_id), "%s", r[n - 1].id);
		rp_store_free(r);
	}
	assert_int_equal(total, 8);
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

typedef struct loaded {
	size_t n;
	char last[64];
	int ordered;
	size_t bytes;
	size_t stop_at;
} loaded;

static rp_status on_retained(void *ctx, const rp_store_retained *r)
{
	loaded *l = ctx;

	if (l->n > 0 && strcmp(l->last, r->topic) >= 0) {
		l->ordered = 0;
	}
	snprintf(l->last, sizeof(l->last), "%s", r->topic);
	l->bytes += r->payload_len + r->props_len;
	l->n++;
	return l->stop_at != 0 && l->n == l->stop_at ? RP_E_STATE : RP_OK;
}

static rp_status on_session(void *ctx, const rp_store_session *s)
{
	loaded *l = ctx;

	l->bytes += s->blob_len;
	l->n++;
	return RP_OK;
}

static void test_broker_state(void **state)
{
	rp_store *st = open_fresh();
	rp_store_retained r;
	rp_store_session s;
	uint8_t payload[300];
	loaded l;
	char topic[64];
	uint64_t deleted = 0;

	(void)state;
	memset(payload, 0xab, sizeof(payload));
	memset(&r, 0, sizeof(r));
	/* 70 topics: more than two pages. */
	for (int i = 0; i < 70; i++) {
		snprintf(topic, sizeof(topic), "d/dev-%02d/state", i);
		r.topic = topic;
		r.payload = payload;
		r.payload_len = (size_t)i;
		r.qos = i % 3;
		r.props = i % 2 ? payload : NULL;
		r.props_len = i % 2 ? 4 : 0;
		assert_int_equal(rp_store_retained_put(st, &r, NULL, NULL), RP_OK);
	}
	r.topic = "d/dev-05/state";
	r.payload_len = 100; /* replaces */
	assert_int_equal(rp_store_retained_put(st, &r, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_retained_delete(st, "d/dev-06/state", NULL, NULL), RP_OK);
	assert_int_equal(rp_store_retained_delete(st, "d/none", NULL, NULL), RP_OK);
	r.qos = 3;
	assert_int_equal(rp_store_retained_put(st, &r, NULL, NULL), RP_E_INVALID_ARG);

	memset(&l, 0, sizeof(l));
	l.ordered = 1;
	assert_int_equal(rp_store_retained_load(st, on_retained, &l, NULL, NULL), RP_OK);
	assert_int_equal(l.n, 69);
	assert_true(l.ordered);
	/* Payloads 0..69, 5 replaced by 100, 6 deleted; 35 odd topics hold 4 bytes of properties.
	 */
	assert_int_equal(l.bytes, 69 * 70 / 2 - 5 + 100 - 6 + 35 * 4);
	/* A row callback that fails stops the load. */
	memset(&l, 0, sizeof(l));
	l.stop_at = 40;
	assert_int_equal(rp_store_retained_load(st, on_retained, &l, NULL, NULL), RP_E_STATE);
	assert_int_equal(l.n, 40);

	memset(&s, 0, sizeof(s));
	for (int i = 0; i < 20; i++) {
		snprintf(topic, sizeof(topic), "client-%02d", i);
		s.client_id = topic;
		s.blob = payload;
		s.blob_len = 10;
		s.expires_ms = 1000 + i;
		assert_int_equal(rp_store_session_put(st, &s, NULL, NULL), RP_OK);
	}
	assert_int_equal(rp_store_session_delete(st, "client-00", NULL, NULL), RP_OK);
	memset(&l, 0, sizeof(l));
	assert_int_equal(rp_store_session_load(st, on_session, &l, NULL, NULL), RP_OK);
	assert_int_equal(l.n, 19);
	assert_int_equal(l.bytes, 190);
	assert_int_equal(rp_store_session_expire(st, 1010, &deleted, NULL, NULL), RP_OK);
	assert_int_equal(deleted, 9); /* 1001 .. 1009 */
	memset(&l, 0, sizeof(l));
	assert_int_equal(rp_store_session_load(st, on_session, &l, NULL, NULL), RP_OK);
	assert_int_equal(l.n, 10);
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

static void test_alerts(void **state)
{
	rp_store *st = open_fresh();
	rp_store_alert a, *r = NULL;
	rp_store_alert_filter f;
	int64_t id = 0, ids[6];
	size_t n = 0;

	(void)state;
	memset(&a, 0, sizeof(a));
	for (int i = 0; i < 6; i++) {
		a.device_id = i % 2 ? "dev-1" : "unknown-client";
		a.kind = i < 3 ? "auth_failures" : "rate";
		a.severity = (rp_store_severity)(1 + i % 3);
		a.detail = "{\"n\":1}";
		a.created_ms = 100 + i;
		assert_int_equal(rp_store_alert_add(st, &a, &id, NULL, NULL), RP_OK);
		ids[i] = id;
		assert_true(i == 0 || ids[i] > ids[i - 1]);
	}
	a.severity = RP_STORE_SEV_ANY;
	assert_int_equal(rp_store_alert_add(st, &a, &id, NULL, NULL), RP_E_INVALID_ARG);

	memset(&f, 0, sizeof(f));
	f.limit = 4;
	assert_int_equal(rp_store_alert_list(st, &f, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 4);
	assert_int_equal(r[0].id, ids[5]); /* newest first */
	assert_string_equal(r[0].kind, "rate");
	assert_string_equal(r[0].detail, "{\"n\":1}");
	f.before_id = r[3].id;
	rp_store_free(r);
	assert_int_equal(rp_store_alert_list(st, &f, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 2);
	assert_int_equal(r[1].id, ids[0]);
	rp_store_free(r);

	memset(&f, 0, sizeof(f));
	f.limit = 10;
	f.device_id = "dev-1";
	assert_int_equal(rp_store_alert_list(st, &f, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 3);
	rp_store_free(r);
	f.device_id = NULL;
	f.kind = "auth_failures";
	f.min_severity = RP_STORE_SEV_WARNING;
	assert_int_equal(rp_store_alert_list(st, &f, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 2); /* severities 2 and 3 among the first three */
	rp_store_free(r);

	assert_int_equal(rp_store_alert_ack(st, ids[2], "alice", 500, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_alert_ack(st, ids[2], "bob", 600, NULL, NULL), RP_E_STATE);
	assert_int_equal(rp_store_alert_ack(st, 999999, "bob", 600, NULL, NULL), RP_E_NOT_FOUND);
	f.min_severity = RP_STORE_SEV_ANY;
	f.kind = NULL;
	f.unacked_only = 1;
	assert_int_equal(rp_store_alert_list(st, &f, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 5);
	rp_store_free(r);
	f.unacked_only = 0;
	f.before_id = ids[3];
	f.limit = 1;
	assert_int_equal(rp_store_alert_list(st, &f, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(r[0].id, ids[2]);
	assert_string_equal(r[0].ack_by, "alice");
	assert_int_equal(r[0].ack_ms, 500);
	rp_store_free(r);
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

/* ------------------------------------------------------------------------
 * Operators, tokens, web sessions
 * ------------------------------------------------------------------------ */

static void test_operators(void **state)
{
	rp_store *st = open_fresh();
	static const uint8_t secret[20] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
					   11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
	rp_store_operator o, *r = NULL;
	rp_store_operator_patch p;
	size_t n = 0;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.name = "alice";
	o.role = RP_STORE_ROLE_ADMIN;
	o.password_hash = "$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA";
	o.totp_secret = secret;
	o.totp_secret_len = sizeof(secret);
	o.totp_required = 1;
	o.created_ms = 42;
	assert_int_equal(rp_store_operator_create(st, &o, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_operator_create(st, &o, NULL, NULL), RP_E_EXISTS);
	o.name = "bob";
	o.role = RP_STORE_ROLE_VIEWER;
	o.totp_secret = NULL;
	o.totp_secret_len = 0;
	o.totp_required = 0;
	assert_int_equal(rp_store_operator_create(st, &o, NULL, NULL), RP_OK);
	o.name = "carol";
	o.role = (rp_store_role)9;
	assert_int_equal(rp_store_operator_create(st, &o, NULL, NULL), RP_E_INVALID_ARG);

	assert_int_equal(rp_store_operator_get(st, "alice", &r, NULL, NULL), RP_OK);
	assert_string_equal(r->name, "alice");
	assert_int_equal(r->role, RP_STORE_ROLE_ADMIN);
	assert_string_equal(r->password_hash, "$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA");
	assert_int_equal(r->totp_secret_len, 20);
	assert_memory_equal(r->totp_secret, secret, 20);
	assert_int_equal(r->totp_required, 1);
	assert_int_equal(r->created_ms, 42);
	rp_store_free(r);
	assert_int_equal(rp_store_operator_get(st, "nobody", &r, NULL, NULL), RP_E_NOT_FOUND);
	assert_int_equal(rp_store_operator_list(st, NULL, 1, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 1);
	assert_string_equal(r[0].name, "alice");
	rp_store_free(r);
	assert_int_equal(rp_store_operator_list(st, "alice", 5, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 1);
	assert_string_equal(r[0].name, "bob");
	assert_int_equal(r[0].totp_secret_len, 0);
	rp_store_free(r);

	/* Updates: only the fields named change. */
	memset(&p, 0, sizeof(p));
	p.fields = RP_STORE_OPF_ROLE | RP_STORE_OPF_PASSWORD | RP_STORE_OPF_FAILED_INC;
	p.v.role = RP_STORE_ROLE_AUDITOR;
	p.v.password_hash = "$argon2id$new";
	assert_int_equal(rp_store_operator_update(st, "alice", &p, NULL, NULL), RP_OK);
	p.fields = RP_STORE_OPF_FAILED_INC;
	assert_int_equal(rp_store_operator_update(st, "alice", &p, NULL, NULL), RP_OK);
	p.fields = RP_STORE_OPF_TOTP_STEP | RP_STORE_OPF_LAST_LOGIN;
	p.v.totp_last_step = 100;
	p.v.last_login_ms = 7000;
	assert_int_equal(rp_store_operator_update(st, "alice", &p, NULL, NULL), RP_OK);
	/* A replayed step fails the whole update. */
	p.v.last_login_ms = 8000;
	assert_int_equal(rp_store_operator_update(st, "alice", &p, NULL, NULL), RP_E_DENIED);
	assert_int_equal(rp_store_operator_get(st, "alice", &r, NULL, NULL), RP_OK);
	assert_int_equal(r->role, RP_STORE_ROLE_AUDITOR);
	assert_string_equal(r->password_hash, "$argon2id$new");
	assert_int_equal(r->failed_logins, 2);
	assert_int_equal(r->totp_last_step, 100);
	assert_int_equal(r->last_login_ms, 7000);
	assert_memory_equal(r->totp_secret, secret, 20); /* untouched */
	assert_int_equal(r->totp_required, 1);
	rp_store_free(r);
	p.fields = RP_STORE_OPF_TOTP_STEP | RP_STORE_OPF_FAILED | RP_STORE_OPF_DISABLED |
		   RP_STORE_OPF_LOCKED_UNTIL | RP_STORE_OPF_TOTP_SECRET |
		   RP_STORE_OPF_TOTP_REQUIRED;
	p.v.totp_last_step = 101;
	p.v.failed_logins = 0;
	p.v.disabled = 1;
	p.v.locked_until_ms = 9000;
	p.v.totp_secret = NULL;
	p.v.totp_secret_len = 0;
	p.v.totp_required = 0;
	assert_int_equal(rp_store_operator_update(st, "alice", &p, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_operator_get(st, "alice", &r, NULL, NULL), RP_OK);
	assert_int_equal(r->failed_logins, 0);
	assert_int_equal(r->disabled, 1);
	assert_int_equal(r->locked_until_ms, 9000);
	assert_int_equal(r->totp_secret_len, 0);
	assert_int_equal(r->totp_required, 0);
	assert_int_equal(r->totp_last_step, 101);
	rp_store_free(r);
	assert_int_equal(rp_store_operator_update(st, "nobody", &p, NULL, NULL), RP_E_NOT_FOUND);
	p.fields = 0x8000;
	assert_int_equal(rp_store_operator_update(st, "alice", &p, NULL, NULL), RP_E_INVALID_ARG);
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

static void test_tokens_websessions(void **state)
{
	rp_store *st = open_fresh();
	rp_store_operator o;
	rp_store_token t, *r = NULL;
	rp_store_websession w, *wr = NULL;
	char h1[65], h2[65], h3[65], h4[65], id[16];
	uint64_t deleted = 0;
	size_t n = 0;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.name = "alice";
	o.role = RP_STORE_ROLE_ADMIN;
	o.password_hash = "x";
	assert_int_equal(rp_store_operator_create(st, &o, NULL, NULL), RP_OK);
	hex64(h1, 1);
	hex64(h2, 2);
	hex64(h3, 3);
	hex64(h4, 4);
	memset(&t, 0, sizeof(t));
	t.id = "tok-1";
	t.token_hash = h1;
	t.operator_name = "ghost";
	t.role = RP_STORE_ROLE_OPERATOR;
	t.created_ms = 10;
	t.expires_ms = 1000;
	assert_int_equal(rp_store_token_create(st, &t, NULL, NULL), RP_E_NOT_FOUND);
	t.operator_name = "alice";
	assert_int_equal(rp_store_token_create(st, &t, NULL, NULL), RP_OK);
	t.id = "tok-2";
	assert_int_equal(rp_store_token_create(st, &t, NULL, NULL), RP_E_EXISTS); /* same hash */
	for (int i = 2; i <= 4; i++) {
		snprintf(id, sizeof(id), "tok-%d", i);
		t.id = id;
		t.token_hash = i == 2 ? h2 : i == 3 ? h3 : h4;
		assert_int_equal(rp_store_token_create(st, &t, NULL, NULL), RP_OK);
	}
	t.token_hash = "ABC";
	assert_int_equal(rp_store_token_create(st, &t, NULL, NULL), RP_E_INVALID_ARG);
	assert_int_equal(rp_store_token_get_by_hash(st, h1, &r, NULL, NULL), RP_OK);
	assert_string_equal(r->id, "tok-1");
	assert_string_equal(r->operator_name, "alice");
	assert_int_equal(r->role, RP_STORE_ROLE_OPERATOR);
	assert_int_equal(r->expires_ms, 1000);
	assert_int_equal(r->revoked_ms, 0);
	rp_store_free(r);
	assert_int_equal(rp_store_token_list(st, "alice", "tok-1", 2, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 2);
	assert_string_equal(r[0].id, "tok-2");
	assert_string_equal(r[1].id, "tok-3");
	rp_store_free(r);
	assert_int_equal(rp_store_token_revoke(st, "tok-2", 50, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_token_revoke(st, "tok-2", 60, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_token_revoke(st, "tok-9", 60, NULL, NULL), RP_E_NOT_FOUND);
	assert_int_equal(rp_store_token_get_by_hash(st, h2, &r, NULL, NULL), RP_OK);
	assert_int_equal(r->revoked_ms, 50);
	rp_store_free(r);

	memset(&w, 0, sizeof(w));
	w.id_hash = h1;
	w.operator_name = "alice";
	w.csrf_hash = h2;
	w.created_ms = 5;
	w.expires_ms = 100;
	assert_int_equal(rp_store_websession_create(st, &w, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_websession_create(st, &w, NULL, NULL), RP_E_EXISTS);
	w.id_hash = h3;
	w.expires_ms = 300;
	assert_int_equal(rp_store_websession_create(st, &w, NULL, NULL), RP_OK);
	w.id_hash = h4;
	w.operator_name = "ghost";
	assert_int_equal(rp_store_websession_create(st, &w, NULL, NULL), RP_E_NOT_FOUND);
	assert_int_equal(rp_store_websession_get(st, h1, &wr, NULL, NULL), RP_OK);
	assert_string_equal(wr->operator_name, "alice");
	assert_string_equal(wr->csrf_hash, h2);
	assert_int_equal(wr->expires_ms, 100);
	rp_store_free(wr);
	assert_int_equal(rp_store_websession_expire(st, 200, &deleted, NULL, NULL), RP_OK);
	assert_int_equal(deleted, 1);
	assert_int_equal(rp_store_websession_get(st, h1, &wr, NULL, NULL), RP_E_NOT_FOUND);
	assert_int_equal(rp_store_websession_delete(st, h3, NULL, NULL), RP_OK);
	assert_int_equal(rp_store_websession_delete(st, h3, NULL, NULL), RP_E_NOT_FOUND);
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

/* ------------------------------------------------------------------------
 * Audit chain
 * ------------------------------------------------------------------------ */

static void be(uint8_t *p, uint64_t x, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (uint8_t)x;
		x >>= 8;
	}
}

/* The chain as docs/store.md defines it, written again here, independently. */
static void doc_hash(const uint8_t prev[32], int64_t id, int64_t t, const char *const f[5],
		     uint8_t out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t b[8];
	unsigned len = 0;

	assert_non_null(md);
	assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
	EVP_DigestUpdate(md, prev, 32);
	EVP_DigestUpdate(md, "rampart-audit-v1", 16);
	be(b, (uint64_t)id, 8);
	EVP_DigestUpdate(md, b, 8);
	be(b, (uint64_t)t, 8);
	EVP_DigestUpdate(md, b, 8);
	for (int i = 0; i < 5; i++) {
		be(b, strlen(f[i]), 4);
		EVP_DigestUpdate(md, b, 4);
		EVP_DigestUpdate(md, f[i], strlen(f[i]));
	}
	EVP_DigestFinal_ex(md, out, &len);
	EVP_MD_CTX_free(md);
}

static void hex(const uint8_t in[32], char out[65])
{
	for (int i = 0; i < 32; i++) {
		snprintf(out + 2 * i, 3, "%02x", in[i]);
	}
}

static rp_store *audit_store(int entries)
{
	rp_store *st = open_fresh();
	rp_store_audit_entry e;
	char target[32];
	int64_t id = 0;

	memset(&e, 0, sizeof(e));
	for (int i = 1; i <= entries; i++) {
		snprintf(target, sizeof(target), "dev-%d", i);
		e.time_ms = 1000 + i;
		e.actor = i % 2 ? "alice" : "system";
		e.action = i % 3 ? "device.revoke" : "operator.login";
		e.target = target;
		e.source = "198.51.100.7";
		e.detail = i == 1 ? "{\"reason\":\"stolen\"}" : "";
		assert_int_equal(rp_store_audit_append(st, &e, &id, NULL, NULL), RP_OK);
		assert_int_equal(id, i);
	}
	return st;
}

static int64_t verify(rp_store *st, rp_status want, uint64_t *checked)
{
	int64_t bad = -1;

	assert_int_equal(rp_store_audit_verify(st, &bad, checked, NULL, NULL), want);
	return bad;
}

static const char *drop_triggers(void)
{
	return g.pg ? "DROP TRIGGER audit_log_append_only ON audit_log"
		    : "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete";
}

static void tamper(int entries, const char *sql, int64_t want_bad)
{
	rp_store *st = audit_store(entries);
	uint64_t checked = 0;

	assert_int_equal(verify(st, RP_OK, &checked), 0);
	assert_int_equal(checked, entries);
	assert_int_equal(rp__store_raw_sql(st, drop_triggers()), RP_OK);
	assert_int_equal(rp__store_raw_sql(st, sql), RP_OK);
	assert_int_equal(verify(st, RP_E_CRYPTO, NULL), want_bad);
	rp_store_close(st);
}

static void test_audit_chain(void **state)
{
	rp_store *st = audit_store(10);
	rp_store_audit_entry *r = NULL;
	rp_store_audit_filter f;
	const char *fields[5] = {"alice", "device.revoke", "dev-1", "198.51.100.7",
				 "{\"reason\":\"stolen\"}"};
	uint8_t zero[32] = {0}, h1[32], h2[32];
	char want[65], sql[300];
	uint64_t checked = 0;
	size_t n = 0;

	(void)state;
	assert_int_equal(verify(st, RP_OK, &checked), 0);
	assert_int_equal(checked, 10);

	/* The first entry chains to 32 zero bytes, encoded as documented. */
	memset(&f, 0, sizeof(f));
	f.limit = 3;
	assert_int_equal(rp_store_audit_query(st, &f, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 3);
	doc_hash(zero, 1, 1001, fields, h1);
	hex(h1, want);
	assert_string_equal(r[0].hash, want);
	assert_string_equal(r[0].detail, "{\"reason\":\"stolen\"}");
	assert_int_equal(r[0].time_ms, 1001);
	assert_int_equal(r[2].id, 3);
	rp_store_free(r);
	/* Filters and both directions. */
	f.actor = "alice";
	f.limit = 100;
	assert_int_equal(rp_store_audit_query(st, &f, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 5);
	rp_store_free(r);
	f.action = "operator.login";
	assert_int_equal(rp_store_audit_query(st, &f, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 2); /* 3 and 9 */
	assert_int_equal(r[1].id, 9);
	rp_store_free(r);
	memset(&f, 0, sizeof(f));
	f.target = "dev-4";
	f.limit = 10;
	assert_int_equal(rp_store_audit_query(st, &f, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 1);
	rp_store_free(r);
	memset(&f, 0, sizeof(f));
	f.from_ms = 1003;
	f.to_ms = 1008;
	f.descending = 1;
	f.limit = 2;
	assert_int_equal(rp_store_audit_query(st, &f, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].id, 7);
	assert_int_equal(r[1].id, 6);
	f.after_id = r[1].id;
	rp_store_free(r);
	assert_int_equal(rp_store_audit_query(st, &f, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(r[0].id, 5);
	assert_int_equal(r[1].id, 4);
	rp_store_free(r);

	/* The database itself refuses changes while the triggers are there. */
	assert_int_equal(rp__store_raw_sql(st, "UPDATE audit_log SET actor = 'x' WHERE id = 2"),
			 RP_E_DENIED);
	assert_int_equal(rp__store_raw_sql(st, "DELETE FROM audit_log WHERE id = 2"), RP_E_DENIED);
	assert_int_equal(verify(st, RP_OK, NULL), 0);
	rp_store_close(st);

	/* An attacker who drops them: */
	tamper(10, "UPDATE audit_log SET detail = '{\"reason\":\"lost\"}' WHERE id = 4", 4);
	tamper(10, "UPDATE audit_log SET time_ms = time_ms + 1 WHERE id = 1", 1);
	tamper(10, "DELETE FROM audit_log WHERE id = 6", 6);
	tamper(10, "DELETE FROM audit_log WHERE id IN (6, 7, 8)", 6);
	tamper(10, "DELETE FROM audit_log WHERE id = 10", 10); /* cut from the end */
	tamper(10, "UPDATE audit_log SET hash = '" ZERO_HASH_FOR_TEST "' WHERE id = 5", 5);
	/* Swap two entries (ids stay in order, contents trade places). */
	tamper(10,
	       "UPDATE audit_log SET id = -3 WHERE id = 3; UPDATE audit_log SET id = 3 WHERE id = "
	       "7; "
	       "UPDATE audit_log SET id = 7 WHERE id = -3",
	       3);
	/* Rewrite entry 2 and its hash consistently: the next entry breaks. */
	{
		const char *f2[5] = {"mallory", "device.revoke", "dev-2", "198.51.100.7", ""};

		doc_hash(zero, 1, 1001, fields, h1);
		doc_hash(h1, 2, 1002, f2, h2);
		hex(h2, want);
		snprintf(sql, sizeof(sql),
			 "UPDATE audit_log SET actor = 'mallory', hash = '%s' WHERE id = 2", want);
		tamper(10, sql, 3);
	}
	/* An empty log verifies; so does one longer than a page. */
	st = open_fresh();
	assert_int_equal(verify(st, RP_OK, &checked), 0);
	assert_int_equal(checked, 0);
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

static void test_audit_pages_and_concurrency(void **state)
{
	rp_store *st = open_fresh();
	tracker *t = tracker_new();
	rp_store_audit_entry e;
	uint64_t checked = 0;
	int64_t ids[600];

	(void)state;
	/* 600 appends in flight at once: one chain, ids 1..600, several pages. */
	memset(&e, 0, sizeof(e));
	e.actor = "system";
	e.action = "tick";
	for (int i = 0; i < 600; i++) {
		e.time_ms = i;
		assert_int_equal(
			rp_store_audit_append(st, &e, &ids[i], on_done, slot_of(t, (size_t)i)),
			RP_OK);
	}
	tracker_wait(t, 600);
	for (int i = 0; i < 600; i++) {
		assert_int_equal(t->st[i], RP_OK);
		assert_int_equal(ids[i], i + 1); /* in submission order */
	}
	assert_int_equal(verify(st, RP_OK, &checked), 0);
	assert_int_equal(checked, 600);
	tracker_free(t);

	/* Two nodes (two stores, two connections) appending at once: one chain. */
	{
		rp_store *st2 = NULL;
		tracker *t2 = tracker_new();

		assert_int_equal(rp_store_open(g.url, NULL, &st2), RP_OK);
		t = tracker_new();
		for (int i = 0; i < 200; i++) {
			e.actor = i % 2 ? "node-a" : "node-b";
			assert_int_equal(
				rp_store_audit_append(i % 2 ? st : st2, &e, NULL, on_done,
						      slot_of(i % 2 ? t : t2, (size_t)i / 2)),
				RP_OK);
		}
		tracker_wait(t, 100);
		tracker_wait(t2, 100);
		for (int i = 0; i < 100; i++) {
			assert_int_equal(t->st[i], RP_OK);
			assert_int_equal(t2->st[i], RP_OK);
		}
		assert_int_equal(verify(st2, RP_OK, &checked), 0);
		assert_int_equal(checked, 800);
		rp_store_close(st2);
		tracker_free(t2);
		tracker_free(t);
	}
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

/* ------------------------------------------------------------------------
 * The storage thread: group commit, isolation, back pressure, close
 * ------------------------------------------------------------------------ */

#define PRODUCERS    4
#define PER_PRODUCER 500

typedef struct producer {
	rp_store *st;
	tracker *t;
	int index;
	int refused;
} producer;

static void *produce(void *arg)
{
	producer *p = arg;
	char dev[16];

	snprintf(dev, sizeof(dev), "dev-%d", p->index);
	for (int i = 0; i < PER_PRODUCER; i++) {
		size_t k = (size_t)p->index * PER_PRODUCER + (size_t)i;
		rp_store_point pt = num_point(dev, "load", i, i);
		rp_status s;

		s = i % 5 == 0
			    ? rp_store_device_seen(p->st, dev, "", i + 1, on_done, slot_of(p->t, k))
			    : rp_store_telemetry_insert(p->st, &pt, 1, on_done, slot_of(p->t, k));
		if (s != RP_OK) {
			p->refused++;
		}
	}
	return NULL;
}

static void test_group_commit(void **state)
{
	rp_store *st = open_fresh();
	tracker *t = tracker_new();
	producer p[PRODUCERS];
	pthread_t th[PRODUCERS];
	rp_store_stats s;
	rp_store_series_query q;
	rp_store_point *r = NULL;
	size_t n = 0, ops = PRODUCERS * PER_PRODUCER;
	double t0, async_s, sync_s;

	(void)state;
	for (int i = 0; i < PRODUCERS; i++) {
		char dev[16];

		snprintf(dev, sizeof(dev), "dev-%d", i);
		seen(st, dev, 0);
	}
	/* Reference: one operation per transaction (synchronous, one at a time). */
	t0 = now_s();
	for (int i = 0; i < 100; i++) {
		seen(st, "dev-0", i);
	}
	sync_s = now_s() - t0;

	t0 = now_s();
	for (int i = 0; i < PRODUCERS; i++) {
		p[i] = (producer){.st = st, .t = t, .index = i};
		assert_int_equal(pthread_create(&th[i], NULL, produce, &p[i]), 0);
	}
	for (int i = 0; i < PRODUCERS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(p[i].refused, 0);
	}
	tracker_wait(t, ops);
	async_s = now_s() - t0;
	for (size_t i = 0; i < ops; i++) {
		assert_int_equal(atomic_load(&t->calls[i]), 1);
		assert_int_equal(t->st[i], RP_OK);
	}
	rp_store_stats_get(st, &s);
	fprintf(stderr,
		"[ INFO     ] %s group commit: %zu ops from %d threads in %llu transactions "
		"(largest %llu) in %.3f s; 100 one-at-a-time commits took %.3f s\n",
		rp_store_backend(st), ops, PRODUCERS,
		(unsigned long long)(s.commits - 100 - PRODUCERS), (unsigned long long)s.max_batch,
		async_s, sync_s);
	assert_true(s.batches > 0);
	assert_true(s.commits - 100 - PRODUCERS < ops / 4);
	assert_true(s.max_batch > 1);
	assert_int_equal(s.failed, 0);
	assert_int_equal(s.pending, 0);
	assert_int_equal(s.submitted, s.completed);
	/* Everything is there. */
	memset(&q, 0, sizeof(q));
	q.device = "dev-3";
	q.name = "load";
	q.to_ms = INT64_MAX;
	q.limit = 1000;
	assert_int_equal(rp_store_telemetry_query(st, &q, &r, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, PER_PRODUCER - PER_PRODUCER / 5);
	rp_store_free(r);
	tracker_free(t);
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

static void test_bad_op_isolated(void **state)
{
	rp_store *st = open_fresh();
	tracker *t = tracker_new();
	rp_store_point bad = num_point("ghost", "x", 1, 1);
	rp_store_command c;
	rp_store_stats s0, s1;
	rp_store_device *d = NULL;

	(void)state;
	seen(st, "dev-0", 1);
	memset(&c, 0, sizeof(c));
	c.id = "c-1";
	c.device_id = "dev-0";
	c.name = "x";
	c.created_ms = 1;
	assert_int_equal(rp_store_command_create(st, &c, NULL, NULL), RP_OK);
	rp_store_stats_get(st, &s0);
	/* One batch: good, bad (foreign key), good, bad (duplicate), good. */
	rp__store_hold(st, 1);
	assert_int_equal(rp_store_device_seen(st, "ok-1", "", 1, on_done, slot_of(t, 0)), RP_OK);
	assert_int_equal(rp_store_telemetry_insert(st, &bad, 1, on_done, slot_of(t, 1)), RP_OK);
	assert_int_equal(rp_store_device_seen(st, "ok-2", "", 1, on_done, slot_of(t, 2)), RP_OK);
	assert_int_equal(rp_store_command_create(st, &c, on_done, slot_of(t, 3)), RP_OK);
	assert_int_equal(rp_store_device_seen(st, "ok-3", "", 1, on_done, slot_of(t, 4)), RP_OK);
	rp__store_hold(st, 0);
	tracker_wait(t, 5);
	assert_int_equal(t->st[0], RP_OK);
	assert_int_equal(t->st[1], RP_E_NOT_FOUND);
	assert_int_equal(t->st[2], RP_OK);
	assert_int_equal(t->st[3], RP_E_EXISTS);
	assert_int_equal(t->st[4], RP_OK);
	rp_store_stats_get(st, &s1);
	assert_int_equal(s1.splits - s0.splits, 1);
	assert_int_equal(s1.failed - s0.failed, 2);
	for (int i = 1; i <= 3; i++) {
		char id[8];

		snprintf(id, sizeof(id), "ok-%d", i);
		assert_int_equal(rp_store_device_get(st, id, &d, NULL, NULL), RP_OK);
		rp_store_free(d);
	}
	/* A soft failure (nothing written) does not split its batch. */
	rp__store_hold(st, 1);
	assert_int_equal(rp_store_device_get(st, "nope", &d, on_done, slot_of(t, 5)), RP_OK);
	assert_int_equal(rp_store_device_seen(st, "ok-4", "", 1, on_done, slot_of(t, 6)), RP_OK);
	rp__store_hold(st, 0);
	tracker_wait(t, 7);
	assert_int_equal(t->st[5], RP_E_NOT_FOUND);
	assert_null(d);
	assert_int_equal(t->st[6], RP_OK);
	rp_store_stats_get(st, &s0);
	assert_int_equal(s0.splits, s1.splits);
	tracker_free(t);
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

static void test_back_pressure_and_close(void **state)
{
	rp_store_options opt = {.queue_ops = 4};
	rp_store *st = open_with(&opt);
	tracker *t = tracker_new();
	rp_store_stats s;

	(void)state;
	rp__store_hold(st, 1);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(
			rp_store_device_seen(st, "dev", "", i, on_done, slot_of(t, (size_t)i)),
			RP_OK);
	}
	/* Full: refused at once, and no callback. */
	assert_int_equal(rp_store_device_seen(st, "dev", "", 9, never_called, NULL), RP_E_BUSY);
	rp_store_stats_get(st, &s);
	assert_int_equal(s.rejected, 1);
	assert_int_equal(s.pending, 4);
	rp__store_hold(st, 0);
	tracker_wait(t, 4);
	tracker_free(t);
	rp_store_close(st);

	/* close drains: every queued callback is called before it returns. */
	t = tracker_new();
	st = open_fresh();
	seen(st, "dev", 0);
	rp__store_hold(st, 1);
	for (int i = 0; i < 200; i++) {
		assert_int_equal(
			rp_store_device_seen(st, "dev", "", i, on_done, slot_of(t, (size_t)i)),
			RP_OK);
	}
	rp_store_close(st);
	assert_int_equal(t->done, 200);
	for (int i = 0; i < 200; i++) {
		assert_int_equal(atomic_load(&t->calls[i]), 1);
		assert_int_equal(t->st[i], RP_OK);
	}
	tracker_free(t);
	assert_int_equal(rp_alloc_in_use(), 0);
}

typedef struct nested {
	rp_store *st;
	rp_status inner;
	tracker *t;
} nested;

static void nested_done(void *ctx, rp_status st)
{
	nested *x = ctx;
	rp_store_device *d = NULL;

	(void)st;
	/* A synchronous call from the storage thread would wait for itself. */
	x->inner = rp_store_device_get(x->st, "dev", &d, NULL, NULL);
	on_done(slot_of(x->t, 0), RP_OK);
}

static void test_sync_from_storage_thread(void **state)
{
	rp_store *st = open_fresh();
	nested x = {.st = st, .inner = RP_OK, .t = tracker_new()};

	(void)state;
	assert_int_equal(rp_store_device_seen(st, "dev", "", 1, nested_done, &x), RP_OK);
	tracker_wait(x.t, 1);
	assert_int_equal(x.inner, RP_E_STATE);
	tracker_free(x.t);
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

/* ------------------------------------------------------------------------
 * Transient failures: a locked SQLite file, a lost PostgreSQL connection
 * ------------------------------------------------------------------------ */

static void *unlock_later(void *arg)
{
	sqlite3 *h = arg;
	struct timespec ts = {0, 150 * 1000000L};

	nanosleep(&ts, NULL);
	sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
	return NULL;
}

static void test_transient_retry(void **state)
{
	rp_store_options opt = {.busy_timeout_ms = 20, .retry_ms = 20, .retries = 6};
	rp_store *st = open_with(&opt);
	rp_store_stats s;
	rp_store_device *d = NULL;

	(void)state;
	seen(st, "dev", 1);
	if (!g.pg) {
		sqlite3 *h = NULL;
		pthread_t th;

		/* Another process (say, the CLI) holds the write lock for 150 ms. */
		assert_int_equal(sqlite3_open(g.path, &h), SQLITE_OK);
		assert_int_equal(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
		assert_int_equal(pthread_create(&th, NULL, unlock_later, h), 0);
		assert_int_equal(rp_store_device_seen(st, "dev", "", 2, NULL, NULL), RP_OK);
		pthread_join(th, NULL);
		sqlite3_close(h);
		rp_store_stats_get(st, &s);
		assert_true(s.retries >= 1);
	} else {
		/* The server drops our connection (a restart, a failover). */
		assert_int_equal(pg_admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
					  "WHERE application_name = 'rampartd'"),
				 0);
		assert_int_equal(rp_store_device_seen(st, "dev", "", 2, NULL, NULL), RP_OK);
		rp_store_stats_get(st, &s);
		assert_true(s.reconnects >= 1);
		assert_true(s.retries >= 1);
	}
	assert_int_equal(rp_store_device_get(st, "dev", &d, NULL, NULL), RP_OK);
	assert_int_equal(d->last_seen_ms, 2);
	rp_store_free(d);
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

/* ------------------------------------------------------------------------
 * Bulk inserts: the telemetry of a whole batch in one back-end call
 * ------------------------------------------------------------------------ */

#define BULK_DEVS 5

static const char *const bulk_devs[BULK_DEVS] = {"dev-0", "dev-1", "dev-2", "dev-3", "dev-4"};

/* Point t of a bulk test: its kind, value and unit follow from t, so that
 * whoever reads it back can check it (bulk_check). buf holds its string or
 * bytes. Every kind, NULL columns, empty blobs and empty units occur. */
static rp_store_point bulk_point(const char *dev, const char *name, int64_t t, char buf[32])
{
	rp_store_point p = num_point(dev, name, t, (double)t * 0.5);

	p.unit = t % 2 == 0 ? "" : "u";
	switch (t % 4) {
	case 1:
		p.kind = RP_STORE_STR;
		snprintf(buf, 32, "s-%lld", (long long)t);
		p.str = buf;
		break;
	case 2:
		p.kind = RP_STORE_BOOL;
		p.boolean = (int)(t / 4 % 2);
		break;
	case 3:
		p.kind = RP_STORE_DATA;
		memset(buf, (int)(t & 0xff), (size_t)(t % 5));
		p.data = (const uint8_t *)buf;
		p.data_len = (size_t)(t % 5); /* 0: an empty blob */
		break;
	default:
		break;
	}
	return p;
}

/* 0 if r is what bulk_point() made for its time. */
static int bulk_check(const rp_store_point *r)
{
	char buf[32];
	rp_store_point p = bulk_point(r->device, r->name, r->time_ms, buf);

	if (r->kind != p.kind || strcmp(r->unit, p.unit) != 0) {
		return -1;
	}
	switch (p.kind) {
	case RP_STORE_NUM:
		return r->num == p.num ? 0 : -1;
	case RP_STORE_STR:
		return strcmp(r->str, p.str) == 0 ? 0 : -1;
	case RP_STORE_BOOL:
		return r->boolean == p.boolean ? 0 : -1;
	case RP_STORE_DATA:
	default:
		return r->data != NULL && r->data_len == p.data_len &&
				       (p.data_len == 0 || memcmp(r->data, p.data, p.data_len) == 0)
			       ? 0
			       : -1;
	}
}

/* Reads the whole series (dev, name) in pages: each point as bulk_point()
 * made it, each time once (times are unique in these tests), n points. */
static void bulk_expect(rp_store *st, const char *dev, const char *name, size_t n)
{
	rp_store_series_query q;
	rp_store_point *r = NULL;
	size_t got = 0, rows = 0;
	int64_t last = -1;

	memset(&q, 0, sizeof(q));
	q.device = dev;
	q.name = name;
	q.to_ms = INT64_MAX;
	q.limit = 1000;
	for (;;) {
		assert_int_equal(rp_store_telemetry_query(st, &q, &r, &rows, NULL, NULL), RP_OK);
		for (size_t i = 0; i < rows; i++) {
			if (bulk_check(&r[i]) != 0 || r[i].time_ms <= last) {
				print_error("%s/%s: point at %lld is wrong or repeated\n", dev,
					    name, (long long)r[i].time_ms);
				fail();
			}
			last = r[i].time_ms;
		}
		got += rows;
		if (rows < q.limit) {
			rp_store_free(r);
			break;
		}
		q.has_cursor = 1;
		q.after_time_ms = r[rows - 1].time_ms;
		q.after_seq = r[rows - 1].seq;
		rp_store_free(r);
	}
	assert_int_equal(got, n);
}

/* Queues an insert of np points (1 .. 4) of dev from time *t on. */
static void bulk_insert(rp_store *st, const char *dev, size_t np, int64_t *t, void *ctx)
{
	rp_store_point pts[4];
	char bufs[4][32];

	for (size_t i = 0; i < np; i++) {
		pts[i] = bulk_point(dev, "m", (*t)++, bufs[i]);
	}
	assert_int_equal(rp_store_telemetry_insert(st, pts, np, on_done, ctx), RP_OK);
}

static void test_bulk_batch(void **state)
{
	rp_store *st = open_fresh();
	tracker *t = tracker_new();
	rp_store_stats s0, s1;
	rp_store_series_query q;
	rp_store_point *qr = NULL, *big = NULL;
	size_t expect[BULK_DEVS] = {0}, k = 0, qn = 0, q_expect = 0, late = 0, nbig = 0;
	int64_t tm = 1;

	(void)state;
	for (int d = 0; d < BULK_DEVS; d++) {
		seen(st, bulk_devs[d], 1);
	}
	rp_store_stats_get(st, &s0);
	/* One batch: 120 inserts of 1 to 4 points over 5 devices, cut in the
	 * middle by a device seen for the first time (then its points) and by
	 * a read, which must see the points queued before it. */
	rp__store_hold(st, 1);
	for (int j = 0; j < 120; j++) {
		int d = j % BULK_DEVS;
		size_t np = (size_t)(j % 4) + 1;

		if (j == 60) {
			assert_int_equal(rp_store_device_seen(st, "dev-late", "", 1, on_done,
							      slot_of(t, k++)),
					 RP_OK);
			bulk_insert(st, "dev-late", 3, &tm, slot_of(t, k++));
			late = 3;
			memset(&q, 0, sizeof(q));
			q.device = bulk_devs[0];
			q.name = "m";
			q.to_ms = INT64_MAX;
			q.limit = 1000;
			assert_int_equal(rp_store_telemetry_query(st, &q, &qr, &qn, on_done,
								  slot_of(t, k++)),
					 RP_OK);
			q_expect = expect[0];
		}
		bulk_insert(st, bulk_devs[d], np, &tm, slot_of(t, k++));
		expect[d] += np;
	}
	rp__store_hold(st, 0);
	tracker_wait(t, k);
	for (size_t i = 0; i < k; i++) {
		assert_int_equal(atomic_load(&t->calls[i]), 1);
		assert_int_equal(t->st[i], RP_OK);
	}
	rp_store_stats_get(st, &s1);
	assert_int_equal(s1.commits - s0.commits, 1);
	assert_int_equal(s1.splits, s0.splits);
	assert_int_equal(s1.failed, s0.failed);
	assert_int_equal(s1.retries, s0.retries);
	assert_int_equal(s1.reconnects, s0.reconnects);
	assert_int_equal(s1.max_batch, k);
	assert_int_equal(qn, q_expect);
	for (size_t i = 0; i < qn; i++) {
		assert_int_equal(bulk_check(&qr[i]), 0);
	}
	rp_store_free(qr);
	for (int d = 0; d < BULK_DEVS; d++) {
		bulk_expect(st, bulk_devs[d], "m", expect[d]);
	}
	bulk_expect(st, "dev-late", "m", late);

	/* Bigger than one PostgreSQL statement takes (4096 rows, 1 MiB): three
	 * inserts of 3000 points (statements end inside an insert) and one of
	 * 200 values of 16 KiB, in one batch. */
	{
		size_t n = 3000;
		rp_store_point *pts = calloc(n, sizeof(*pts));
		char(*bufs)[32] = calloc(n, sizeof(*bufs));
		char *wide = malloc(RP_LIMIT_STORE_VALUE_LEN + 1u);

		assert_non_null(pts);
		assert_non_null(bufs);
		assert_non_null(wide);
		memset(wide, 'w', RP_LIMIT_STORE_VALUE_LEN);
		wide[RP_LIMIT_STORE_VALUE_LEN] = '\0';
		rp__store_hold(st, 1);
		for (int b = 0; b < 3; b++) {
			for (size_t i = 0; i < n; i++) {
				pts[i] = bulk_point(bulk_devs[b], "big", tm++, bufs[i]);
			}
			assert_int_equal(
				rp_store_telemetry_insert(st, pts, n, on_done, slot_of(t, k++)),
				RP_OK);
		}
		for (size_t i = 0; i < 200; i++) {
			pts[i] = num_point(bulk_devs[3], "wide", (int64_t)i, 0);
			pts[i].kind = RP_STORE_STR;
			pts[i].str = wide;
		}
		assert_int_equal(rp_store_telemetry_insert(st, pts, 200, on_done, slot_of(t, k++)),
				 RP_OK);
		rp__store_hold(st, 0);
		tracker_wait(t, k);
		for (size_t i = 0; i < k; i++) {
			assert_int_equal(t->st[i], RP_OK);
		}
		for (int b = 0; b < 3; b++) {
			bulk_expect(st, bulk_devs[b], "big", n);
		}
		memset(&q, 0, sizeof(q));
		q.device = bulk_devs[3];
		q.name = "wide";
		q.to_ms = INT64_MAX;
		q.limit = 1000;
		assert_int_equal(rp_store_telemetry_query(st, &q, &big, &nbig, NULL, NULL), RP_OK);
		assert_int_equal(nbig, 200);
		for (size_t i = 0; i < nbig; i++) {
			assert_int_equal(big[i].time_ms, (int64_t)i);
			assert_string_equal(big[i].str, wide);
		}
		rp_store_free(big);
		free(wide);
		free(bufs);
		free(pts);
	}
	tracker_free(t);
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

static void test_bulk_failure(void **state)
{
	rp_store *st = open_fresh();
	tracker *t = tracker_new();
	rp_store_stats s0, s1;
	size_t expect[BULK_DEVS] = {0}, k = 0;
	rp_store_point pts[3];
	char bufs[3][32];
	int64_t tm = 1;

	(void)state;
	for (int d = 0; d < BULK_DEVS; d++) {
		seen(st, bulk_devs[d], 1);
	}
	rp_store_stats_get(st, &s0);
	/* One batch of 40 inserts; number 13 names an unknown device among two
	 * good points (it fails whole), number 27 only an unknown device. */
	rp__store_hold(st, 1);
	for (int j = 0; j < 40; j++) {
		int d = j % BULK_DEVS;

		if (j == 13) {
			pts[0] = bulk_point(bulk_devs[1], "m", tm++, bufs[0]);
			pts[1] = bulk_point("ghost", "m", tm++, bufs[1]);
			pts[2] = bulk_point(bulk_devs[2], "m", tm++, bufs[2]);
			assert_int_equal(
				rp_store_telemetry_insert(st, pts, 3, on_done, slot_of(t, k++)),
				RP_OK);
			continue;
		}
		if (j == 27) {
			pts[0] = bulk_point("ghost-2", "m", tm++, bufs[0]);
			assert_int_equal(
				rp_store_telemetry_insert(st, pts, 1, on_done, slot_of(t, k++)),
				RP_OK);
			continue;
		}
		bulk_insert(st, bulk_devs[d], 2, &tm, slot_of(t, k++));
		expect[d] += 2;
	}
	rp__store_hold(st, 0);
	tracker_wait(t, k);
	for (size_t i = 0; i < k; i++) {
		assert_int_equal(atomic_load(&t->calls[i]), 1);
		assert_int_equal(t->st[i], i == 13 || i == 27 ? RP_E_NOT_FOUND : RP_OK);
	}
	rp_store_stats_get(st, &s1);
	assert_int_equal(s1.splits - s0.splits, 1);
	assert_int_equal(s1.failed - s0.failed, 2);
	/* Every good insert once; nothing of the failed ones (their good points
	 * included: an insert is atomic). */
	for (int d = 0; d < BULK_DEVS; d++) {
		bulk_expect(st, bulk_devs[d], "m", expect[d]);
	}
	bulk_expect(st, "ghost", "m", 0);
	tracker_free(t);
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

typedef struct killer {
	int killed;
} killer;

/* PostgreSQL: waits (at most 10 s) until the store's connection sleeps in
 * the trigger, then has the server drop it. */
static void *kill_when_asleep(void *arg)
{
	killer *x = arg;
	struct timespec ts = {0, 10 * 1000000L};

	for (int i = 0; i < 1000 && !x->killed; i++) {
		x->killed = pg_admin_rows("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
					  "WHERE application_name = 'rampartd' "
					  "AND wait_event = 'PgSleep'") > 0;
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void test_bulk_retry(void **state)
{
	rp_store_options opt = {.busy_timeout_ms = 20, .retry_ms = 20, .retries = 6};
	rp_store *st = open_with(&opt);
	tracker *t = tracker_new();
	rp_store_stats s0, s1;
	size_t expect[BULK_DEVS] = {0}, k = 0;
	rp_store_point pt;
	char buf[32];
	int64_t tm = 1;
	pthread_t th;
	killer x = {0};
	sqlite3 *h = NULL;

	(void)state;
	for (int d = 0; d < BULK_DEVS; d++) {
		seen(st, bulk_devs[d], 1);
	}
	if (g.pg) {
		/* The first time the row "sleepy" is inserted, its statement
		 * sleeps (a sequence counts across rollbacks): the connection is
		 * dropped in the middle of the bulk statement, rows written. */
		assert_int_equal(
			pg_admin("CREATE SEQUENCE sleep_once;"
				 "CREATE FUNCTION sleepy() RETURNS trigger LANGUAGE plpgsql "
				 "AS $$ BEGIN IF NEW.name = 'sleepy' AND "
				 "nextval('sleep_once') = 1 THEN PERFORM pg_sleep(10); "
				 "END IF; RETURN NEW; END $$;"
				 "CREATE TRIGGER sleepy BEFORE INSERT ON telemetry "
				 "FOR EACH ROW EXECUTE FUNCTION sleepy()"),
			0);
	} else {
		/* Another process holds the write lock for 150 ms. */
		assert_int_equal(sqlite3_open(g.path, &h), SQLITE_OK);
		assert_int_equal(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	}
	rp_store_stats_get(st, &s0);
	rp__store_hold(st, 1);
	for (int j = 0; j < 60; j++) {
		int d = j % BULK_DEVS;

		if (j == 30) {
			pt = bulk_point(bulk_devs[d], "sleepy", tm++, buf);
			assert_int_equal(
				rp_store_telemetry_insert(st, &pt, 1, on_done, slot_of(t, k++)),
				RP_OK);
		}
		bulk_insert(st, bulk_devs[d], (size_t)(j % 3) + 1, &tm, slot_of(t, k++));
		expect[d] += (size_t)(j % 3) + 1;
	}
	if (g.pg) {
		assert_int_equal(pthread_create(&th, NULL, kill_when_asleep, &x), 0);
	} else {
		assert_int_equal(pthread_create(&th, NULL, unlock_later, h), 0);
	}
	rp__store_hold(st, 0);
	tracker_wait(t, k);
	pthread_join(th, NULL);
	if (h != NULL) {
		sqlite3_close(h);
	}
	for (size_t i = 0; i < k; i++) {
		assert_int_equal(atomic_load(&t->calls[i]), 1);
		assert_int_equal(t->st[i], RP_OK);
	}
	rp_store_stats_get(st, &s1);
	assert_true(s1.retries > s0.retries);
	assert_int_equal(s1.failed, s0.failed);
	if (g.pg) {
		assert_int_equal(x.killed, 1);
		assert_true(s1.reconnects > s0.reconnects);
	}
	/* Acknowledged means committed, once: every point there, none twice. */
	for (int d = 0; d < BULK_DEVS; d++) {
		bulk_expect(st, bulk_devs[d], "m", expect[d]);
	}
	bulk_expect(st, bulk_devs[0], "sleepy", 1);
	tracker_free(t);
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

/* ------------------------------------------------------------------------
 * Telemetry's device check and ids: SQLite has the foreign key and the
 * primary key; PostgreSQL (schema version 4) checks the devices in its bulk
 * INSERT, keeps devices with telemetry by a trigger, and has no primary key
 * (docs/store.md, "Telemetry on PostgreSQL")
 * ------------------------------------------------------------------------ */

#define TM_INSERT "INSERT INTO telemetry (device_id, name, time_ms, kind, v_num, unit) VALUES "

/* PostgreSQL: runs sql on c; the SQLSTATE of its failure in state ("" if
 * it succeeded). */
static const char *pq_run(PGconn *c, const char *sql, char state[6])
{
	PGresult *r = PQexec(c, sql);
	const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);

	snprintf(state, 6, "%s",
		 PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK ? ""
		 : s != NULL                                                                   ? s
			     : "?????");
	PQclear(r);
	return state;
}

static PGconn *pq_connect(void)
{
	PGconn *c = PQconnectdb(g.server.url);

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PQsetNoticeProcessor(c, quiet, NULL);
	return c;
}

/* Points of (dev, "m") in the store. */
static size_t series_count(rp_store *st, const char *dev)
{
	rp_store_series_query q;
	rp_store_point *r = NULL;
	size_t n = 0;

	memset(&q, 0, sizeof(q));
	q.device = dev;
	q.name = "m";
	q.to_ms = INT64_MAX;
	q.limit = RP_LIMIT_STORE_SERIES_ROWS;
	assert_int_equal(rp_store_telemetry_query(st, &q, &r, &n, NULL, NULL), RP_OK);
	rp_store_free(r);
	return n;
}

static void test_telemetry_device_check(void **state)
{
	rp_store *st = open_fresh();
	rp_store_point p[3] = {num_point("dev-a", "m", 1, 1.0), num_point("ghost", "m", 2, 1.0),
			       num_point("dev-b", "m", 3, 1.0)};

	(void)state;
	seen(st, "dev-a", 1);
	seen(st, "dev-b", 1);
	assert_int_equal(rp_store_telemetry_insert(st, p, 1, NULL, NULL), RP_OK);
	/* An unknown device among known ones: nothing of the insert. */
	assert_int_equal(rp_store_telemetry_insert(st, p, 3, NULL, NULL), RP_E_NOT_FOUND);
	assert_int_equal(rp_store_telemetry_insert(st, &p[1], 1, NULL, NULL), RP_E_NOT_FOUND);
	assert_int_equal(series_count(st, "dev-a"), 1);
	assert_int_equal(series_count(st, "dev-b"), 0);

	/* In the database: a device with telemetry can neither go nor change
	 * its id; other changes, and a device without telemetry, are free. */
	assert_int_equal(rp__store_raw_sql(st, "DELETE FROM devices WHERE id = 'dev-a'"),
			 RP_E_NOT_FOUND);
	assert_int_equal(
		rp__store_raw_sql(st, "UPDATE devices SET id = 'dev-z' WHERE id = 'dev-a'"),
		RP_E_NOT_FOUND);
	assert_int_equal(rp__store_raw_sql(st, "UPDATE devices SET model = 'x' WHERE id = 'dev-a'"),
			 RP_OK);
	assert_int_equal(rp__store_raw_sql(st, "UPDATE telemetry SET device_id = 'dev-b'"), RP_OK);
	assert_int_equal(rp__store_raw_sql(st, "DELETE FROM devices WHERE id = 'dev-b'"),
			 RP_E_NOT_FOUND);
	assert_int_equal(rp__store_raw_sql(st, "DELETE FROM devices WHERE id = 'dev-a'"), RP_OK);
	assert_int_equal(series_count(st, "dev-b"), 1);

	if (!g.pg) {
		/* The foreign key refuses any writer's row for an unknown device. */
		assert_int_equal(rp__store_raw_sql(st, TM_INSERT "('ghost', 'm', 2, 0, 1, '')"),
				 RP_E_NOT_FOUND);
	} else {
		/* Neither foreign key nor primary key (their work per row is what
		 * schema version 4 saves), and an id cannot be chosen. */
		assert_int_equal(pg_admin_rows("SELECT 1 FROM pg_constraint WHERE "
					       "conrelid = 'telemetry'::regclass AND contype IN "
					       "('f', 'p')"),
				 0);
		assert_int_equal(pg_admin_rows("SELECT 1 FROM pg_attribute WHERE "
					       "attrelid = 'telemetry'::regclass AND "
					       "attname = 'id' AND attidentity = 'a'"),
				 1);
		assert_int_not_equal(rp__store_raw_sql(st, "INSERT INTO telemetry (id, device_id, "
							   "name, time_ms, kind, v_num) VALUES "
							   "(1, 'dev-b', 'm', 9, 0, 1)"),
				     RP_OK);
	}
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

/*
 * PostgreSQL: the bulk INSERT locks its devices (FOR KEY SHARE) as the
 * foreign key did. A delete of the device waits for the insert and then
 * sees its rows; an insert waits for a delete not yet committed and then
 * fails. Without the lock, both would leave telemetry without its device.
 */
static void test_telemetry_device_lock(void **state)
{
	rp_store_options opt = {.busy_timeout_ms = 5000};
	rp_store *st;
	tracker *t;
	rp_store_point p = num_point("dev-c", "hold", 1, 1.0);
	struct timespec ts = {0, 200 * 1000000L};
	PGconn *b;
	char s[6];

	(void)state;
	if (!g.pg) {
		return; /* SQLite has one writer at a time: nothing can interleave */
	}
	st = open_with(&opt);
	t = tracker_new();
	b = pq_connect();
	seen(st, "dev-c", 1);
	seen(st, "dev-d", 1);
	/* The store's INSERT of a point named "hold" sleeps 1 s after its
	 * devices were locked, before it ends. */
	assert_int_equal(pg_admin("CREATE FUNCTION hold() RETURNS trigger LANGUAGE plpgsql AS "
				  "$$BEGIN IF NEW.name = 'hold' THEN PERFORM pg_sleep(1); END IF; "
				  "RETURN NEW; END$$;"
				  "CREATE TRIGGER hold BEFORE INSERT ON telemetry "
				  "FOR EACH ROW EXECUTE FUNCTION hold()"),
			 0);
	assert_int_equal(rp_store_telemetry_insert(st, &p, 1, on_done, slot_of(t, 0)), RP_OK);
	nanosleep(&ts, NULL);
	assert_string_equal(pq_run(b,
				   "SET lock_timeout = 200; "
				   "DELETE FROM devices WHERE id = 'dev-c'",
				   s),
			    "55P03");
	tracker_wait(t, 1);
	assert_int_equal(t->st[0], RP_OK);
	assert_string_equal(pq_run(b, "DELETE FROM devices WHERE id = 'dev-c'", s), "23503");

	/* A delete not yet committed: the insert waits for it, then fails. */
	assert_string_equal(pq_run(b, "RESET lock_timeout; BEGIN", s), "");
	assert_string_equal(pq_run(b, "DELETE FROM devices WHERE id = 'dev-d'", s), "");
	p = num_point("dev-d", "m", 1, 1.0);
	assert_int_equal(rp_store_telemetry_insert(st, &p, 1, on_done, slot_of(t, 1)), RP_OK);
	nanosleep(&ts, NULL);
	assert_int_equal(t->done, 1); /* still waiting for the lock */
	assert_string_equal(pq_run(b, "COMMIT", s), "");
	tracker_wait(t, 2);
	assert_int_equal(t->st[1], RP_E_NOT_FOUND);
	assert_int_equal(pg_admin_rows("SELECT 1 FROM telemetry WHERE device_id = 'dev-d'"), 0);
	PQfinish(b);
	tracker_free(t);
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

/* A database of schema version 3 (PostgreSQL: the foreign key and the
 * primary key, ids given by default) with telemetry is brought to the
 * current version; its data stays, and the checks hold. */
static void test_telemetry_migration_v4(void **state)
{
	rp_store_options opt = {.retention_chunk = 2};
	rp_store *st = open_with(&opt);
	rp_store_point p = num_point("dev-m", "m", 1, 1.0);
	char url[sizeof(g.url)];
	uint64_t deleted = 0;

	(void)state;
	snprintf(url, sizeof(url), "%s", g.url);
	seen(st, "dev-m", 1);
	assert_int_equal(rp_store_telemetry_insert(st, &p, 1, NULL, NULL), RP_OK);
	if (g.pg) {
		assert_int_equal(
			rp__store_raw_sql(st, "DROP TRIGGER devices_telemetry ON devices; "
					      "DROP FUNCTION rp_devices_telemetry(); "
					      "DROP FUNCTION rp_telemetry_no_device(text); "
					      "ALTER TABLE telemetry ALTER COLUMN id "
					      "SET GENERATED BY DEFAULT; "
					      "ALTER TABLE telemetry ADD PRIMARY KEY (id); "
					      "ALTER TABLE telemetry ADD FOREIGN KEY (device_id) "
					      "REFERENCES devices (id)"),
			RP_OK);
	}
	assert_int_equal(rp__store_raw_sql(st, "UPDATE schema_version SET version = 3"), RP_OK);
	rp_store_close(st);

	assert_int_equal(rp_store_open(url, &opt, &st), RP_OK);
	assert_int_equal(rp_store_schema_version(st), rp_store_code_version());
	assert_true(rp_store_code_version() >= 4);
	if (g.pg) {
		assert_int_equal(pg_admin_rows("SELECT 1 FROM pg_constraint WHERE "
					       "conrelid = 'telemetry'::regclass AND contype IN "
					       "('f', 'p')"),
				 0);
		assert_int_equal(pg_admin_rows("SELECT 1 FROM pg_trigger WHERE "
					       "tgname = 'devices_telemetry'"),
				 1);
		assert_int_equal(pg_admin_rows("SELECT 1 FROM pg_attribute WHERE "
					       "attrelid = 'telemetry'::regclass AND "
					       "attname = 'id' AND attidentity = 'a'"),
				 1);
		assert_int_equal(pg_admin_rows("SELECT 1 FROM pg_sequences WHERE "
					       "sequencename = 'telemetry_id_seq' AND "
					       "cache_size = 64"),
				 1);
	}
	assert_int_equal(series_count(st, "dev-m"), 1);
	for (int64_t i = 2; i <= 5; i++) {
		p.time_ms = i;
		assert_int_equal(rp_store_telemetry_insert(st, &p, 1, NULL, NULL), RP_OK);
	}
	p.device = "ghost";
	assert_int_equal(rp_store_telemetry_insert(st, &p, 1, NULL, NULL), RP_E_NOT_FOUND);
	assert_int_equal(rp__store_raw_sql(st, "DELETE FROM devices WHERE id = 'dev-m'"),
			 RP_E_NOT_FOUND);
	assert_int_equal(series_count(st, "dev-m"), 5);
	/* Retention (by ctid on PostgreSQL now), in chunks of 2. */
	assert_int_equal(rp_store_telemetry_expire(st, 4, &deleted, NULL, NULL), RP_OK);
	assert_int_equal(deleted, 3);
	assert_int_equal(series_count(st, "dev-m"), 2);
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

/* ------------------------------------------------------------------------
 * Batches in a row: order, and failures at COMMIT
 * ------------------------------------------------------------------------ */

#define SMALL_BATCH 4

/* Queues n one-point inserts of bulk_devs[i % BULK_DEVS] at times *t ...,
 * op k + i; names[i] (NULL: "m") names the point of op i. */
static void queue_points(rp_store *st, tracker *t, size_t k, size_t n, const char *const *names,
			 int64_t *tm)
{
	for (size_t i = 0; i < n; i++) {
		char buf[32];
		rp_store_point p = bulk_point(bulk_devs[i % BULK_DEVS],
					      names != NULL && names[i] != NULL ? names[i] : "m",
					      (*tm)++, buf);

		assert_int_equal(rp_store_telemetry_insert(st, &p, 1, on_done, slot_of(t, k + i)),
				 RP_OK);
	}
}

/* Callbacks 0 .. n came once each, in queue order. */
static void check_order(const tracker *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(atomic_load(&t->calls[i]), 1);
		assert_int_equal(t->order[i], i);
	}
}

/* The points named "m" of all bulk_devs. */
static size_t stored_m(rp_store *st)
{
	size_t n = 0;

	for (int d = 0; d < BULK_DEVS; d++) {
		n += series_count(st, bulk_devs[d]);
	}
	return n;
}

static void test_batches_in_order(void **state)
{
	rp_store_options opt = {.batch_ops = SMALL_BATCH};
	rp_store *st = open_with(&opt);
	tracker *t = tracker_new();
	rp_store_stats s0, s1;
	rp_store_series_query q;
	rp_store_point *qr = NULL;
	size_t qn = 0, k = 0, before = 0;
	int64_t tm = 1;

	(void)state;
	for (int d = 0; d < BULK_DEVS; d++) {
		seen(st, bulk_devs[d], 1);
	}
	rp_store_stats_get(st, &s0);
	/* 40 inserts in batches of 4, a read after the 20th: it sees the 20
	 * points before it, and every callback comes in queue order. */
	rp__store_hold(st, 1);
	queue_points(st, t, k, 20, NULL, &tm);
	k += 20;
	for (size_t i = 0; i < 20; i++) {
		before += i % BULK_DEVS == 0;
	}
	memset(&q, 0, sizeof(q));
	q.device = bulk_devs[0];
	q.name = "m";
	q.to_ms = INT64_MAX;
	q.limit = 100;
	assert_int_equal(rp_store_telemetry_query(st, &q, &qr, &qn, on_done, slot_of(t, k++)),
			 RP_OK);
	queue_points(st, t, k, 20, NULL, &tm);
	k += 20;
	rp__store_hold(st, 0);
	tracker_wait(t, k);
	check_order(t, k);
	for (size_t i = 0; i < k; i++) {
		assert_int_equal(t->st[i], RP_OK);
	}
	assert_int_equal(qn, before);
	rp_store_free(qr);
	rp_store_stats_get(st, &s1);
	assert_int_equal(s1.commits - s0.commits, (k + SMALL_BATCH - 1) / SMALL_BATCH);
	assert_int_equal(s1.failed, s0.failed);
	assert_int_equal(s1.splits, s0.splits);
	assert_int_equal(stored_m(st), 40);
	tracker_free(t);
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

/*
 * PostgreSQL: failures at COMMIT (deferred triggers). One the server
 * refuses: the batch is split, and only the bad insert fails. The
 * connection lost during COMMIT: that batch's inserts get RP_E_IO (the
 * outcome is unknown: not retried, not lost silently), the batches around
 * it commit, and the store reconnects.
 */
static void test_commit_fails(void **state)
{
	rp_store_options opt = {
		.batch_ops = SMALL_BATCH, .busy_timeout_ms = 20, .retry_ms = 20, .retries = 6};
	const char *refused[16] = {[5] = "refused", [13] = "refused"};
	const char *sleepy[12] = {[5] = "sleepy"};
	rp_store_stats s0, s1;
	rp_store_point p;
	char buf[32];
	rp_store *st;
	tracker *t;
	killer x = {0};
	pthread_t th;
	int64_t tm = 1;

	(void)state;
	if (!g.pg) {
		return;
	}
	st = open_with(&opt);
	t = tracker_new();
	for (int d = 0; d < BULK_DEVS; d++) {
		seen(st, bulk_devs[d], 1);
	}
	assert_int_equal(
		pg_admin("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
			 "$$BEGIN IF NEW.name = 'refused' THEN RAISE EXCEPTION 'refused' "
			 "USING ERRCODE = 'check_violation'; END IF; RETURN NULL; END$$;"
			 "CREATE CONSTRAINT TRIGGER refuse AFTER INSERT ON telemetry "
			 "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse()"),
		0);
	rp_store_stats_get(st, &s0);
	rp__store_hold(st, 1);
	queue_points(st, t, 0, 16, refused, &tm);
	rp__store_hold(st, 0);
	tracker_wait(t, 16);
	check_order(t, 16);
	for (size_t i = 0; i < 16; i++) {
		assert_int_equal(t->st[i], i == 5 || i == 13 ? RP_E_INVALID_ARG : RP_OK);
	}
	rp_store_stats_get(st, &s1);
	assert_int_equal(s1.failed - s0.failed, 2);
	assert_int_equal(s1.splits - s0.splits, 2);
	assert_int_equal(stored_m(st), 14);
	assert_int_equal(pg_admin_rows("SELECT 1 FROM telemetry WHERE name = 'refused'"), 0);

	assert_int_equal(
		pg_admin("CREATE SEQUENCE commit_once;"
			 "CREATE FUNCTION sleepy_commit() RETURNS trigger LANGUAGE plpgsql AS "
			 "$$BEGIN IF NEW.name = 'sleepy' AND nextval('commit_once') = 1 THEN "
			 "PERFORM pg_sleep(10); END IF; RETURN NULL; END$$;"
			 "CREATE CONSTRAINT TRIGGER sleepy_commit AFTER INSERT ON telemetry "
			 "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
			 "EXECUTE FUNCTION sleepy_commit()"),
		0);
	tracker_free(t);
	t = tracker_new();
	rp_store_stats_get(st, &s0);
	rp__store_hold(st, 1);
	queue_points(st, t, 0, 12, sleepy, &tm);
	assert_int_equal(pthread_create(&th, NULL, kill_when_asleep, &x), 0);
	rp__store_hold(st, 0);
	tracker_wait(t, 12);
	pthread_join(th, NULL);
	assert_int_equal(x.killed, 1);
	check_order(t, 12);
	for (size_t i = 0; i < 12; i++) {
		assert_int_equal(t->st[i], i >= 4 && i < 8 ? RP_E_IO : RP_OK);
	}
	rp_store_stats_get(st, &s1);
	assert_int_equal(s1.failed - s0.failed, 4);
	assert_true(s1.reconnects > s0.reconnects);
	/* The server rolled that batch back; the store works on. */
	assert_int_equal(stored_m(st), 14 + 8);
	p = bulk_point(bulk_devs[0], "m", tm++, buf);
	assert_int_equal(rp_store_telemetry_insert(st, &p, 1, NULL, NULL), RP_OK);
	assert_int_equal(stored_m(st), 14 + 8 + 1);
	tracker_free(t);
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

/* ------------------------------------------------------------------------
 * Allocation failures
 * ------------------------------------------------------------------------ */

static void test_nomem_open(void **state)
{
	rp_store *st = NULL;
	rp_status s;
	long n;

	(void)state;
	fresh();
	for (n = 0;; n++) {
		rp_alloc_fail_after(n);
		s = rp_store_open(g.url, NULL, &st);
		rp_alloc_fail_after(-1);
		if (s == RP_OK) {
			break;
		}
		assert_int_equal(s, RP_E_NOMEM);
		assert_null(st);
		assert_int_equal(rp_alloc_in_use(), 0);
	}
	assert_true(n > 1);
	seen(st, "dev", 1);
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

static rp_status any_row(void *ctx, const rp_store_retained *r)
{
	(void)r;
	(*(size_t *)ctx)++;
	return RP_OK;
}

/* Runs op k once; RP_OK or its status. Frees what it got. */
static rp_status nomem_op(rp_store *st, int k)
{
	rp_store_device *d = NULL;
	rp_store_device_filter f = {.limit = 10};
	rp_store_point pts[3] = {num_point("dev", "a", 1, 1), num_point("dev", "b", 2, 2),
				 num_point("dev", "c", 3, 3)};
	rp_store_series_query q = {.device = "dev", .name = "a", .to_ms = 100, .limit = 10};
	rp_store_point *r = NULL;
	rp_store_audit_entry e = {.time_ms = 1, .actor = "a", .action = "b", .detail = "{}"};
	rp_store_audit_entry *ae = NULL;
	rp_store_audit_filter af = {.limit = 10};
	rp_store_retained rt = {.topic = "t/1", .payload = (const uint8_t *)"x", .payload_len = 1};
	size_t n = 0, rows = 0;
	int64_t bad = 0;
	rp_status s;

	switch (k) {
	case 0:
		s = rp_store_device_get(st, "dev", &d, NULL, NULL);
		rp_store_free(d);
		return s;
	case 1:
		s = rp_store_device_list(st, &f, &d, &n, NULL, NULL);
		assert_true(s != RP_OK || n == 1);
		rp_store_free(d);
		return s;
	case 2:
		return rp_store_telemetry_insert(st, pts, 3, NULL, NULL);
	case 3:
		s = rp_store_telemetry_query(st, &q, &r, &n, NULL, NULL);
		assert_true(s == RP_OK || r == NULL);
		rp_store_free(r);
		return s;
	case 4:
		return rp_store_audit_append(st, &e, NULL, NULL, NULL);
	case 5:
		s = rp_store_audit_query(st, &af, &ae, &n, NULL, NULL);
		rp_store_free(ae);
		return s;
	case 6:
		s = rp_store_retained_put(st, &rt, NULL, NULL);
		return s == RP_OK ? rp_store_retained_load(st, any_row, &rows, NULL, NULL) : s;
	default:
		return rp_store_audit_verify(st, &bad, NULL, NULL, NULL);
	}
}

static void test_nomem_ops(void **state)
{
	rp_store *st = open_fresh();
	rp_store_device *d = NULL;
	const char *tags[2] = {"a", "b"};
	size_t base;
	rp_status s;

	(void)state;
	seen(st, "dev", 1);
	assert_int_equal(rp_store_device_set_tags(st, "dev", tags, 2, NULL, NULL), RP_OK);
	/* Warm the statement caches, so failures fall in the operations themselves. */
	for (int k = 0; k < 8; k++) {
		assert_int_equal(nomem_op(st, k), RP_OK);
	}
	base = rp_alloc_in_use();
	for (int k = 0; k < 8; k++) {
		long n;

		for (n = 0;; n++) {
			rp_alloc_fail_after(n);
			s = nomem_op(st, k);
			rp_alloc_fail_after(-1);
			if (s == RP_OK) {
				break;
			}
			if (s != RP_E_NOMEM) {
				print_error("op %d, failure %ld: %s\n", k, n, rp_status_str(s));
			}
			assert_int_equal(s, RP_E_NOMEM);
			assert_int_equal(rp_alloc_in_use(), base);
		}
		assert_true(n >= 1);
		assert_int_equal(rp_alloc_in_use(), base);
	}
	/* The store is whole afterwards. */
	assert_int_equal(rp_store_device_get(st, "dev", &d, NULL, NULL), RP_OK);
	assert_int_equal(d->ntags, 2);
	rp_store_free(d);
	assert_int_equal(nomem_op(st, 7), RP_OK);
	rp_store_close(st);
	assert_int_equal(rp_alloc_in_use(), 0);
}

/* ------------------------------------------------------------------------ */

#define STORE_TESTS                                                                                \
	cmocka_unit_test(test_open_migrations), cmocka_unit_test(test_devices),                    \
		cmocka_unit_test(test_certificates), cmocka_unit_test(test_telemetry_series),      \
		cmocka_unit_test(test_telemetry_aggregate),                                        \
		cmocka_unit_test(test_telemetry_retention), cmocka_unit_test(test_commands),       \
		cmocka_unit_test(test_broker_state), cmocka_unit_test(test_alerts),                \
		cmocka_unit_test(test_operators), cmocka_unit_test(test_tokens_websessions),       \
		cmocka_unit_test(test_audit_chain),                                                \
		cmocka_unit_test(test_audit_pages_and_concurrency),                                \
		cmocka_unit_test(test_group_commit), cmocka_unit_test(test_bad_op_isolated),       \
		cmocka_unit_test(test_back_pressure_and_close),                                    \
		cmocka_unit_test(test_sync_from_storage_thread),                                   \
		cmocka_unit_test(test_transient_retry), cmocka_unit_test(test_bulk_batch),         \
		cmocka_unit_test(test_bulk_failure), cmocka_unit_test(test_bulk_retry),            \
		cmocka_unit_test(test_telemetry_device_check),                                     \
		cmocka_unit_test(test_telemetry_device_lock),                                      \
		cmocka_unit_test(test_telemetry_migration_v4),                                     \
		cmocka_unit_test(test_batches_in_order), cmocka_unit_test(test_commit_fails),      \
		cmocka_unit_test(test_nomem_open), cmocka_unit_test(test_nomem_ops)

int main(void)
{
	const struct CMUnitTest tests[] = {STORE_TESTS};
	int failed = 0;

	/* Failures are expected here (bad operations, injected ones): keep the log quiet
	 * unless asked. */
	if (getenv("RP_STORE_TEST_LOG") == NULL) {
		rp_log_set_level((rp_log_level)(RP_LOG_ERROR + 1));
	}
	failed += cmocka_run_group_tests_name("sqlite", tests, setup_sqlite, teardown_sqlite);
	failed += cmocka_run_group_tests_name("postgresql", tests, setup_pg, teardown_pg);
	return failed;
}
