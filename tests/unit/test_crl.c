/*
 * test_crl.c - server/core/crl.c: revoking a device, the CRL rampartd keeps,
 * and the store's cRLNumber counter (server/store, rp_store_crl_number_next),
 * the last against SQLite and PostgreSQL.
 *
 * Group "crl": a fleet from tests/support/testpki.h whose CA plays the
 * issuing CA (its key saved encrypted, with a passphrase file, as rampart
 * init writes them), a SQLite store in a temporary directory. Every CRL
 * made is parsed back with OpenSSL and checked field by field.
 * Group "numbers-postgresql": the counter on a throw-away PostgreSQL
 * (tests/support/pgtest.h); never skipped, as test_store.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "core/crl.h"
#include "net/tls.h"
#include "pgtest.h"
#include "store/internal.h"
#include "store/store.h"
#include "testpki.h"
#include "util/alloc.h"
#include "util/log.h"

#define PASS "a passphrase of more than sixteen bytes"

static struct {
	testpki_fleet fleet;
	char dir[300];
	char cert[400], key[400], pass[400], crl[400], other[400];
	int seq;
	pgtest pg;
} g;

static void path_in(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", g.dir, name);
}

static int setup(void **state)
{
	const char *why = "";
	FILE *f;

	(void)state;
	rp_log_set_level(RP_LOG_ERROR);
	if (testpki_fleet_new(&g.fleet) != 0) {
		return -1;
	}
	snprintf(g.dir, sizeof(g.dir), "%s", g.fleet.dir);
	path_in(g.cert, sizeof(g.cert), "ca.crt");
	path_in(g.key, sizeof(g.key), "issuing.key");
	path_in(g.pass, sizeof(g.pass), "issuing.pass");
	path_in(g.crl, sizeof(g.crl), "issuing.crl");
	path_in(g.other, sizeof(g.other), "crl.pem");
	if (rp_pki_key_save(g.key, g.fleet.ca.key, PASS, strlen(PASS), &why) != RP_OK) {
		fprintf(stderr, "key: %s\n", why);
		return -1;
	}
	f = fopen(g.pass, "w");
	if (f == NULL || fputs(PASS "\n", f) < 0 || fclose(f) != 0) {
		return -1;
	}
	return chmod(g.pass, 0600);
}

static int teardown(void **state)
{
	(void)state;
	testpki_fleet_free(&g.fleet);
	return 0;
}

/* A fresh SQLite store of its own for each test. */
static rp_store *store_new(void)
{
	char url[500];
	rp_store *st = NULL;

	g.seq++;
	snprintf(url, sizeof(url), "sqlite:%s/s%d/store.db", g.dir, g.seq);
	assert_int_equal(rp_store_open(url, NULL, &st), RP_OK);
	return st;
}

static void serial_of(X509 *x, char out[RP_PKI_SERIAL_HEX_SIZE])
{
	assert_int_equal(rp_pki_cert_serial_hex(x, out, RP_PKI_SERIAL_HEX_SIZE), RP_OK);
}

/* The device `id` with the certificate x (not after: a day from now). */
static void add_device(rp_store *st, const char *id, X509 *x, const char *serial_override)
{
	char serial[RP_PKI_SERIAL_HEX_SIZE], fp[RP_PKI_SHA256_HEX_SIZE];
	rp_store_cert c;

	serial_of(x, serial);
	assert_int_equal(rp_pki_cert_sha256_hex(x, fp, sizeof(fp)), RP_OK);
	assert_int_equal(
		rp_store_device_seen(st, id, "192.0.2.1", (int64_t)time(NULL) * 1000, NULL, NULL),
		RP_OK);
	memset(&c, 0, sizeof(c));
	c.serial = serial_override != NULL ? serial_override : serial;
	c.device_id = id;
	c.fingerprint = fp;
	c.not_after_ms = ((int64_t)time(NULL) + 86400) * 1000;
	assert_int_equal(rp_store_cert_add(st, &c, NULL, NULL), RP_OK);
}

static void opts_of(rp_crl_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->issuing_cert = g.cert;
	o->issuing_key = g.key;
	o->issuing_key_pass = g.pass;
	o->path = g.crl;
	o->next_update_s = 2 * 86400;
}

static X509_CRL *read_crl_file(const char *path)
{
	FILE *f = fopen(path, "r");
	X509_CRL *crl;

	assert_non_null(f);
	crl = PEM_read_X509_CRL(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(crl);
	return crl;
}

static int64_t crl_number(X509_CRL *crl)
{
	ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	int64_t v = 0;

	assert_non_null(n);
	assert_int_equal(ASN1_INTEGER_get_int64(&v, n), 1);
	ASN1_INTEGER_free(n);
	return v;
}

/* The reason code of the entry for x in crl, -1 without one; -2 if absent. */
static int entry_reason(X509_CRL *crl, X509 *x)
{
	X509_REVOKED *r = NULL;
	ASN1_ENUMERATED *e;
	int reason = -1;

	if (X509_CRL_get0_by_serial(crl, &r, X509_get0_serialNumber(x)) != 1) {
		return -2;
	}
	e = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, NULL, NULL);
	if (e != NULL) {
		reason = (int)ASN1_ENUMERATED_get(e);
		ASN1_ENUMERATED_free(e);
	}
	return reason;
}

/* ------------------------------------------------------------------------
 * Building blocks
 * ------------------------------------------------------------------------ */

static void test_reasons(void **state)
{
	int r = -5;

	(void)state;
	assert_string_equal(rp_crl_reason_name(RP_PKI_REASON_NONE), "none");
	assert_string_equal(rp_crl_reason_name(1), "keyCompromise");
	assert_string_equal(rp_crl_reason_name(10), "aACompromise");
	assert_null(rp_crl_reason_name(7));
	assert_null(rp_crl_reason_name(8)); /* removeFromCRL: delta CRLs only */
	assert_null(rp_crl_reason_name(11));
	assert_null(rp_crl_reason_name(-2));
	assert_int_equal(rp_crl_reason_parse("superseded", &r), RP_OK);
	assert_int_equal(r, RP_PKI_REASON_SUPERSEDED);
	assert_int_equal(rp_crl_reason_parse("privilegeWithdrawn", &r), RP_OK);
	assert_int_equal(r, RP_PKI_REASON_PRIVILEGE_WITHDRAWN);
	assert_int_equal(rp_crl_reason_parse("keycompromise", &r), RP_E_INVALID_ARG);
	assert_int_equal(rp_crl_reason_parse("removeFromCRL", &r), RP_E_INVALID_ARG);
	assert_int_equal(rp_crl_reason_parse("none", &r), RP_E_INVALID_ARG);
	assert_int_equal(rp_crl_reason_parse(NULL, &r), RP_E_INVALID_ARG);
}

static void test_serial_canon(void **state)
{
	char out[RP_PKI_SERIAL_HEX_SIZE];

	(void)state;
	assert_int_equal(rp__crl_serial_canon("0a1B", out), RP_OK);
	assert_string_equal(out, "0a1b");
	assert_int_equal(rp__crl_serial_canon("00000a1b", out), RP_OK);
	assert_string_equal(out, "0a1b"); /* leading zero octets dropped */
	assert_int_equal(rp__crl_serial_canon("abc", out), RP_OK);
	assert_string_equal(out, "0abc"); /* odd length padded */
	assert_int_equal(rp__crl_serial_canon("0080", out), RP_OK);
	assert_string_equal(out, "80");
	assert_int_equal(rp__crl_serial_canon("7fffffffffffffffffffffffffffffffffffffff", out),
			 RP_OK); /* 20 octets */
	assert_int_equal(rp__crl_serial_canon("0", out), RP_E_MALFORMED);
	assert_int_equal(rp__crl_serial_canon("0000", out), RP_E_MALFORMED);
	assert_int_equal(rp__crl_serial_canon("", out), RP_E_MALFORMED);
	assert_int_equal(rp__crl_serial_canon("12g4", out), RP_E_MALFORMED);
	assert_int_equal(rp__crl_serial_canon("0x12", out), RP_E_MALFORMED);
	assert_int_equal(rp__crl_serial_canon("1fffffffffffffffffffffffffffffffffffffffff", out),
			 RP_E_MALFORMED); /* 21 octets */
	assert_int_equal(rp__crl_serial_canon(NULL, out), RP_E_MALFORMED);
}

static void test_list_building(void **state)
{
	rp_store_cert rows[300];
	char serials[300][8];
	rp__crl_list l;
	int64_t now = 1700000000;

	(void)state;
	memset(&l, 0, sizeof(l));
	memset(rows, 0, sizeof(rows));
	for (int i = 0; i < 300; i++) {
		snprintf(serials[i], sizeof(serials[i]), "%x", i + 1);
		rows[i].serial = serials[i];
		rows[i].revoked_at_ms = (now - 10) * 1000 + 999;
		rows[i].reason = i % 12 - 1; /* -1 .. 10, 7 and 8 among them */
	}
	rows[3].revoked_at_ms = (now + 3600) * 1000; /* a clock ahead: never after now */
	rows[4].revoked_at_ms = 0;                   /* unset: now */
	rows[5].serial = "00";                       /* no CRL can hold it */
	rows[6].serial = "xyz";
	/* In three calls, through several reallocations of the list. */
	assert_int_equal(rp__crl_list_add(&l, rows, 10, now), RP_OK);
	assert_int_equal(rp__crl_list_add(&l, rows + 10, 190, now), RP_OK);
	assert_int_equal(rp__crl_list_add(&l, rows + 200, 100, now), RP_OK);
	assert_int_equal(l.n, 298);
	assert_int_equal(l.skipped, 2);
	assert_string_equal(l.v[0].serial_hex, "01");
	assert_int_equal(l.v[0].revoked_at, now - 10);
	assert_int_equal(l.v[0].reason, RP_PKI_REASON_NONE);
	assert_int_equal(l.v[2].reason, 1);
	assert_int_equal(l.v[3].revoked_at, now);
	assert_int_equal(l.v[4].revoked_at, now);
	/* Entries point at their own serials after every reallocation. */
	for (size_t i = 0; i < l.n; i++) {
		assert_ptr_equal(l.v[i].serial_hex, l.serials[i]);
		assert_true(l.v[i].reason == RP_PKI_REASON_NONE ||
			    rp_crl_reason_name(l.v[i].reason) != NULL);
	}
	assert_string_equal(l.v[297].serial_hex, "012c"); /* 300 */
	rp__crl_list_free(&l);
	assert_null(l.v);
	rp__crl_list_free(NULL);
}

static void test_write_atomic(void **state)
{
	char path[500], tmp[520], err[300] = "", buf[16];
	struct stat sb;
	FILE *f;

	(void)state;
	path_in(path, sizeof(path), "atomic.txt");
	assert_int_equal(rp__crl_write_atomic(path, "first", 5, 0644, err, sizeof(err)), RP_OK);
	assert_int_equal(rp__crl_write_atomic(path, "second", 6, 0644, err, sizeof(err)), RP_OK);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0644);
	f = fopen(path, "r");
	assert_non_null(f);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(fread(buf, 1, sizeof(buf) - 1u, f), 6);
	fclose(f);
	assert_string_equal(buf, "second");
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(access(tmp, F_OK), -1);
	/* A directory that is not there: RP_E_IO, the reason names the file. */
	path_in(path, sizeof(path), "no/such/dir/x.crl");
	assert_int_equal(rp__crl_write_atomic(path, "x", 1, 0644, err, sizeof(err)), RP_E_IO);
	assert_non_null(strstr(err, "cannot create"));
}

/* ------------------------------------------------------------------------
 * The store's counter
 * ------------------------------------------------------------------------ */

static void numbers(rp_store *st)
{
	int64_t n = -1;

	assert_int_equal(rp_store_crl_number_next(st, "issuer-a", 1, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 1);
	assert_int_equal(rp_store_crl_number_next(st, "issuer-a", 1, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 2);
	/* A floor above the count moves it up; one below does not move it back. */
	assert_int_equal(rp_store_crl_number_next(st, "issuer-a", 40, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 40);
	assert_int_equal(rp_store_crl_number_next(st, "issuer-a", 5, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 41);
	/* Each issuer counts for itself. */
	assert_int_equal(rp_store_crl_number_next(st, "issuer-b", 1, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 1);
	assert_int_equal(rp_store_crl_number_next(st, "issuer-b", 0, &n, NULL, NULL),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp_store_crl_number_next(st, "", 1, &n, NULL, NULL), RP_E_INVALID_ARG);
	assert_int_equal(rp_store_crl_number_next(st, "issuer-b", 1, NULL, NULL, NULL),
			 RP_E_INVALID_ARG);
}

static void test_numbers_sqlite_persist(void **state)
{
	char url[500];
	rp_store *st = NULL;
	int64_t n = 0;

	(void)state;
	snprintf(url, sizeof(url), "sqlite:%s/numbers/store.db", g.dir);
	assert_int_equal(rp_store_open(url, NULL, &st), RP_OK);
	numbers(st);
	rp_store_close(st);
	/* Across a restart: the count goes on. */
	assert_int_equal(rp_store_open(url, NULL, &st), RP_OK);
	assert_int_equal(rp_store_crl_number_next(st, "issuer-a", 1, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 42);
	rp_store_close(st);
}

static int setup_pg(void **state)
{
	char why[512];

	(void)state;
	rp_log_set_level(RP_LOG_ERROR);
	if (pgtest_start(&g.pg, why, sizeof(why)) != 0) {
		fprintf(stderr, "PostgreSQL tests cannot run: %s\n", why);
		return -1;
	}
	return 0;
}

static int teardown_pg(void **state)
{
	(void)state;
	pgtest_stop(&g.pg);
	return 0;
}

static void test_numbers_postgresql(void **state)
{
	rp_store *st = NULL;
	int64_t n = 0;

	(void)state;
	assert_int_equal(rp_store_open(g.pg.url, NULL, &st), RP_OK);
	numbers(st);
	rp_store_close(st);
	assert_int_equal(rp_store_open(g.pg.url, NULL, &st), RP_OK);
	assert_int_equal(rp_store_crl_number_next(st, "issuer-a", 1, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 42);
	rp_store_close(st);
}

/* ------------------------------------------------------------------------
 * Revoking a device
 * ------------------------------------------------------------------------ */

static void test_revoke_device(void **state)
{
	rp_store *st = store_new();
	const rp_crl_actor who = {"alice", "198.51.100.7", "0123456789abcdef0123456789abcdef"};
	char serial[RP_PKI_SERIAL_HEX_SIZE];
	rp_crl_revocation rev;
	rp_store_audit_filter f;
	rp_store_audit_entry *e = NULL;
	rp_store_cert *c = NULL;
	rp_store_device *d = NULL;
	size_t n = 0;

	(void)state;
	add_device(st, "dev-0001", g.fleet.device.cert, NULL);
	add_device(st, "dev-0001", g.fleet.device2.cert, NULL); /* a second certificate */
	assert_int_equal(rp_crl_revoke_device(st, "nobody", 1, 1000, &who, &rev), RP_E_NOT_FOUND);
	assert_int_equal(rp_crl_revoke_device(st, "dev-0001", 7, 1000, &who, &rev),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp_crl_revoke_device(st, "dev-0001", RP_PKI_REASON_KEY_COMPROMISE,
					      1700000000123, &who, &rev),
			 RP_OK);
	assert_int_equal(rev.was, RP_STORE_DEVICE_ACTIVE);
	assert_int_equal(rev.certificates, 2);
	assert_int_equal(rev.audit, RP_OK);
	assert_int_equal(rp_store_device_get(st, "dev-0001", &d, NULL, NULL), RP_OK);
	assert_int_equal(d->status, RP_STORE_DEVICE_REVOKED);
	rp_store_free(d);
	serial_of(g.fleet.device.cert, serial);
	assert_int_equal(rp_store_cert_get(st, serial, &c, NULL, NULL), RP_OK);
	assert_int_equal(c->status, RP_STORE_CERT_REVOKED);
	assert_int_equal(c->revoked_at_ms, 1700000000123);
	assert_int_equal(c->reason, RP_PKI_REASON_KEY_COMPROMISE);
	rp_store_free(c);
	/* Terminal: again is refused, and changes nothing. */
	assert_int_equal(rp_crl_revoke_device(st, "dev-0001", 0, 2000, &who, &rev), RP_E_STATE);
	assert_int_equal(rev.was, RP_STORE_DEVICE_REVOKED);
	/* One audit entry, as the API and the CLI both write it. */
	memset(&f, 0, sizeof(f));
	f.action = "device.revoke";
	f.limit = 10;
	assert_int_equal(rp_store_audit_query(st, &f, &e, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 1);
	assert_string_equal(e[0].actor, "alice");
	assert_string_equal(e[0].target, "dev-0001");
	assert_string_equal(e[0].source, "198.51.100.7");
	assert_string_equal(e[0].detail,
			    "{\"from\":\"active\",\"certificates\":2,\"reason\":\"keyCompromise\","
			    "\"token\":\"0123456789abcdef0123456789abcdef\"}");
	rp_store_free(e);
	rp_store_close(st);
}

/* ------------------------------------------------------------------------
 * The CRL
 * ------------------------------------------------------------------------ */

static void test_crl_refresh_and_numbers(void **state)
{
	rp_store *st = store_new();
	const rp_crl_actor who = {"cli", "local", NULL};
	rp_crl_revocation rev;
	rp_crl_opts o;
	rp_crl_info info;
	rp_crl *c = NULL;
	X509_CRL *crl;
	uint8_t *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	char err[512] = "";
	int64_t now = (int64_t)time(NULL), n = 0;
	struct stat sb;

	(void)state;
	(void)unlink(g.crl);
	add_device(st, "dev-0001", g.fleet.device.cert, NULL);
	add_device(st, "dev-0002", g.fleet.device2.cert, NULL);
	opts_of(&o);
	assert_int_equal(rp_crl_open(&o, st, &c, err, sizeof(err)), RP_OK);
	assert_int_equal(rp_crl_current(c, &der, &len, NULL), RP_E_STATE);
	assert_int_equal(rp_crl_resign_at(c), 0);

	/* The first CRL: empty, number 1, in the file (0644) and in memory. */
	assert_int_equal(rp_crl_refresh(c, now, err, sizeof(err)), RP_OK);
	assert_int_equal(stat(g.crl, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0644);
	crl = read_crl_file(g.crl);
	assert_int_equal(crl_number(crl), 1);
	assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(g.fleet.ca.cert)), 1);
	/* No entry (OpenSSL has no list at all then). */
	assert_true(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) <= 0);
	X509_CRL_free(crl);
	assert_int_equal(rp_crl_resign_at(c), now + 86400);

	/* A revocation: the entry, its reason, number 2; the other device not listed. */
	assert_int_equal(rp_crl_revoke_device(st, "dev-0001", RP_PKI_REASON_SUPERSEDED,
					      (now - 5) * 1000, &who, &rev),
			 RP_OK);
	assert_int_equal(rp_crl_refresh(c, now, err, sizeof(err)), RP_OK);
	crl = read_crl_file(g.crl);
	assert_int_equal(crl_number(crl), 2);
	assert_int_equal(entry_reason(crl, g.fleet.device.cert), RP_PKI_REASON_SUPERSEDED);
	assert_int_equal(entry_reason(crl, g.fleet.device2.cert), -2);
	X509_CRL_free(crl);
	/* GET /crl's copy is the file's CRL, DER. */
	assert_int_equal(rp_crl_current(c, &der, &len, &info), RP_OK);
	assert_int_equal(info.number, 2);
	assert_int_equal(info.entries, 1);
	assert_int_equal(info.this_update, now);
	assert_int_equal(info.next_update, now + 2 * 86400);
	p = der;
	crl = d2i_X509_CRL(NULL, &p, (long)len);
	assert_non_null(crl);
	assert_int_equal(crl_number(crl), 2);
	X509_CRL_free(crl);
	rp_free(NULL, der);
	rp_crl_close(c);

	/* A restart: the count goes on from the store. */
	c = NULL;
	assert_int_equal(rp_crl_open(&o, st, &c, err, sizeof(err)), RP_OK);
	assert_int_equal(rp_crl_refresh(c, now, err, sizeof(err)), RP_OK);
	rp_crl_info_get(c, &info);
	assert_int_equal(info.number, 3);
	rp_crl_close(c);
	/* A store that lost its count (restored from an older backup): the CRL
	 * file found at open keeps the numbers growing. */
	assert_int_equal(rp__store_raw_sql(st, "DELETE FROM crl_numbers"), RP_OK);
	c = NULL;
	assert_int_equal(rp_crl_open(&o, st, &c, err, sizeof(err)), RP_OK);
	assert_int_equal(rp_crl_refresh(c, now, err, sizeof(err)), RP_OK);
	rp_crl_info_get(c, &info);
	assert_int_equal(info.number, 4);
	rp_crl_close(c);
	assert_int_equal(rp_store_crl_number_next(st, "another issuer", 1, &n, NULL, NULL), RP_OK);
	assert_int_equal(n, 1);
	rp_store_close(st);
}

static void test_crl_entries_expire_and_odd_serials(void **state)
{
	rp_store *st = store_new();
	char err[512] = "";
	rp_store_cert cert;
	rp_crl_opts o;
	rp_crl_info info;
	rp_crl *c = NULL;
	int64_t now = (int64_t)time(NULL);

	(void)state;
	add_device(st, "dev-0001", g.fleet.device.cert, NULL);
	/* Serials another tool recorded: odd length, a leading zero octet. */
	add_device(st, "dev-0002", g.fleet.device2.cert, "00abc");
	assert_int_equal(rp_store_cert_revoke(st, "00abc", now * 1000, NULL, NULL), RP_OK);
	/* An expired revoked certificate leaves the CRL. */
	memset(&cert, 0, sizeof(cert));
	cert.serial = "0fedcb";
	cert.device_id = "dev-0001";
	cert.fingerprint = "0000000000000000000000000000000000000000000000000000000000000000";
	cert.not_after_ms = (now - 60) * 1000;
	assert_int_equal(rp_store_cert_add(st, &cert, NULL, NULL), RP_OK);
	assert_int_equal(
		rp_store_cert_revoke_reason(st, "0fedcb", (now - 120) * 1000, 1, NULL, NULL),
		RP_OK);
	assert_int_equal(rp_store_cert_revoke_reason(st, "0fedcb", 0, 8 + 3, NULL, NULL),
			 RP_E_INVALID_ARG);
	opts_of(&o);
	path_in(err, sizeof(err), "second.crl");
	o.path = err;
	assert_int_equal(rp_crl_open(&o, st, &c, NULL, 0), RP_OK);
	assert_int_equal(rp_crl_refresh(c, now, NULL, 0), RP_OK);
	rp_crl_info_get(c, &info);
	assert_int_equal(info.entries, 1); /* 00abc as 0abc; 0fedcb expired */
	rp_crl_close(c);
	rp_store_close(st);
}

static void test_crl_open_refusals(void **state)
{
	rp_store *st = store_new();
	char err[512] = "", pass2[500];
	rp_crl_opts o;
	rp_crl *c = NULL;
	FILE *f;

	(void)state;
	opts_of(&o);
	o.next_update_s = 59 * 60;
	assert_int_equal(rp_crl_open(&o, st, &c, err, sizeof(err)), RP_E_INVALID_ARG);
	opts_of(&o);
	o.next_update_s = 32 * 86400;
	assert_int_equal(rp_crl_open(&o, st, &c, err, sizeof(err)), RP_E_INVALID_ARG);
	/* A wrong passphrase: RP_E_AUTH, and the reason says which file. */
	path_in(pass2, sizeof(pass2), "wrong.pass");
	f = fopen(pass2, "w");
	assert_non_null(f);
	fputs("not the passphrase of this key", f);
	fclose(f);
	assert_int_equal(chmod(pass2, 0600), 0);
	opts_of(&o);
	o.issuing_key_pass = pass2;
	assert_int_equal(rp_crl_open(&o, st, &c, err, sizeof(err)), RP_E_AUTH);
	assert_non_null(strstr(err, "not its passphrase"));
	assert_null(strstr(err, "not the passphrase of this key"));
	/* A passphrase file others may read. */
	assert_int_equal(chmod(pass2, 0644), 0);
	assert_int_equal(rp_crl_open(&o, st, &c, err, sizeof(err)), RP_E_CONFIG);
	/* A key that is not the certificate's. */
	opts_of(&o);
	o.issuing_cert = testpki_path(&g.fleet, "other-ca.crt", pass2, sizeof(pass2));
	assert_int_equal(rp_crl_open(&o, st, &c, err, sizeof(err)), RP_E_CONFIG);
	assert_non_null(strstr(err, "not the key of pki.issuing_cert"));
	/* A leaf is no CA. */
	o.issuing_cert = testpki_path(&g.fleet, "dev-0001.crt", pass2, sizeof(pass2));
	assert_int_equal(rp_crl_open(&o, st, &c, err, sizeof(err)), RP_E_CONFIG);
	/* tls.crl holding a CRL of the same issuer: two CRLs of one issuer. */
	opts_of(&o);
	o.other_crl_file = g.other; /* the fleet CA's crl.pem */
	assert_int_equal(rp_crl_open(&o, st, &c, err, sizeof(err)), RP_E_CONFIG);
	assert_non_null(strstr(err, "holds a CRL of the issuing CA"));
	assert_null(c);
	rp_store_close(st);
}

/* The TLS layer takes the CRL as its second CRL source, verified before use. */
static void test_crl_in_tls_context(void **state)
{
	rp_store *st = store_new();
	char err[512] = "", srv[500], key[500], ca[500], other[500];
	rp_tls_ctx *ctx = NULL, *again = NULL;
	rp_tls_opts t;
	rp_crl_opts o;
	rp_crl_info info;
	rp_crl *c = NULL;

	(void)state;
	opts_of(&o);
	assert_int_equal(rp_crl_open(&o, st, &c, err, sizeof(err)), RP_OK);
	assert_int_equal(rp_crl_refresh(c, (int64_t)time(NULL), err, sizeof(err)), RP_OK);
	testpki_path(&g.fleet, "ca.crt", ca, sizeof(ca));
	assert_int_equal(rp_crl_issuer_in_bundle(c, ca), 1);
	testpki_path(&g.fleet, "other-ca.crt", other, sizeof(other));
	assert_int_equal(rp_crl_issuer_in_bundle(c, other), 0);
	assert_int_equal(rp_crl_issuer_in_bundle(c, "/no/such/file"), 0);
	memset(&t, 0, sizeof(t));
	t.cert_file = testpki_path(&g.fleet, "server.crt", srv, sizeof(srv));
	t.key_file = testpki_path(&g.fleet, "server.key", key, sizeof(key));
	t.ca_file = ca;
	t.own_crl_file = g.crl; /* the only CA of the bundle: whole chain covered */
	assert_int_equal(rp_tls_ctx_new(&t, &ctx, err, sizeof(err)), RP_OK);
	rp_crl_info_get(c, &info);
	assert_int_equal(rp_tls_ctx_crl_next_update(ctx), info.next_update);
	/* Reloading the trust only: the CRL again, the certificate kept. */
	assert_int_equal(rp_tls_ctx_reload_trust(ctx, &again, err, sizeof(err)), RP_OK);
	assert_int_equal(rp_tls_ctx_crl_next_update(again), info.next_update);
	rp_tls_ctx_unref(again);
	again = NULL;
	rp_tls_ctx_unref(ctx);
	ctx = NULL;
	/* A CRL whose issuer is not in the bundle is refused (verify before use). */
	t.ca_file = other;
	t.crl_leaf_only = 1;
	assert_int_equal(rp_tls_ctx_new(&t, &ctx, err, sizeof(err)), RP_E_CONFIG);
	assert_non_null(strstr(err, "not signed by a CA of the bundle"));
	rp_crl_close(c);
	rp_store_close(st);
}

int main(void)
{
	const struct CMUnitTest crl[] = {
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_serial_canon),
		cmocka_unit_test(test_list_building),
		cmocka_unit_test(test_write_atomic),
		cmocka_unit_test(test_numbers_sqlite_persist),
		cmocka_unit_test(test_revoke_device),
		cmocka_unit_test(test_crl_refresh_and_numbers),
		cmocka_unit_test(test_crl_entries_expire_and_odd_serials),
		cmocka_unit_test(test_crl_open_refusals),
		cmocka_unit_test(test_crl_in_tls_context),
	};
	const struct CMUnitTest pg[] = {
		cmocka_unit_test(test_numbers_postgresql),
	};
	int failed = cmocka_run_group_tests_name("crl", crl, setup, teardown);

	failed += cmocka_run_group_tests_name("numbers-postgresql", pg, setup_pg, teardown_pg);
	return failed;
}
