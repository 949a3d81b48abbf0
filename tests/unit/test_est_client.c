/*
 * test_est_client.c - the device's EST client (device/est): a cmocka test,
 * and the device driver of tests/integration/test_est_client.py.
 *
 * Without arguments (CTest's unit_est_client): the pure parts. The
 * response parser on PKCS#7 made by the server's own code
 * (rp_pki_est_certs_base64) and on hostile bodies; the renewal time; the
 * channel binding's text; the atomic certificate file; argument checks
 * that refuse before any connection.
 *
 * With `--enroll` or `--renew` (the integration test), one real enrollment
 * against a running EST server:
 *   test_est_client --enroll URL ROOT DEVICE KEY OUT [--token T] [--cert C CKEY]
 *   test_est_client --renew  URL ROOT DEVICE KEY OUT --cert C CKEY
 * KEY is the device key (PEM; made if the file does not exist), OUT where
 * the certificate and its chain are written. Prints one line, "ok SERIAL
 * RENEW_AT" or "error STATUS: REASON", and exits 0 or 1.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/pem.h>

#include "est/est_internal.h"
#include "pki/pki.h"
#include "rampart/est_client.h"
#include "testpki.h"

/* ---- the driver -------------------------------------------------------------- */

static EVP_PKEY *key_load_or_make(const char *path)
{
	EVP_PKEY *k = NULL;
	FILE *f = fopen(path, "r");

	if (f != NULL) {
		k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
		return k;
	}
	k = EVP_EC_gen("P-256");
	f = fopen(path, "w");
	if (k == NULL || f == NULL || PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) != 1) {
		EVP_PKEY_free(k);
		k = NULL;
	}
	if (f != NULL) {
		fclose(f);
	}
	return k;
}

static int drive(int argc, char **argv)
{
	rp_est_client c = {argv[2], argv[3], argv[4], 20000, NULL};
	rp_est_credential cred = {NULL, NULL, NULL};
	EVP_PKEY *key = key_load_or_make(argv[5]), *ckey = NULL;
	X509 *cert = NULL;
	STACK_OF(X509) *chain = NULL;
	char err[400] = "", serial[RP_PKI_SERIAL_HEX_SIZE];
	rp_status st = RP_E_INVALID_ARG;
	int i;

	for (i = 7; i < argc; i++) {
		if (strcmp(argv[i], "--token") == 0 && i + 1 < argc) {
			cred.token = argv[++i];
		} else if (strcmp(argv[i], "--cert") == 0 && i + 2 < argc) {
			cred.cert_file = argv[++i];
			ckey = key_load_or_make(argv[++i]);
			cred.cert_key = ckey;
		} else {
			fprintf(stderr, "test_est_client: bad argument %s\n", argv[i]);
			goto out;
		}
	}
	if (key == NULL || rp_est_global_init() != RP_OK) {
		snprintf(err, sizeof(err), "no key");
		goto out;
	}
	st = rp_est_enroll(&c, &cred, key,
			   strcmp(argv[1], "--renew") == 0 ? RP_EST_REENROLL : RP_EST_ENROLL, &cert,
			   &chain, err, sizeof(err));
	if (st == RP_OK) {
		st = rp_est_save(argv[6], cert, chain);
		snprintf(err, sizeof(err), "cannot save %s", argv[6]);
	}
out:
	if (st == RP_OK && rp_pki_cert_serial_hex(cert, serial, sizeof(serial)) == RP_OK) {
		printf("ok %s %lld\n", serial, (long long)rp_est_renew_at(cert, 0x80000000u));
	} else {
		printf("error %s: %s\n", rp_status_str(st), err);
	}
	X509_free(cert);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ckey);
	return st == RP_OK ? 0 : 1;
}

/* ---- the parser -------------------------------------------------------------- */

static testpki_id ca, leaf;

static int group_setup(void **state)
{
	testpki_spec cs = {.cn = "Test EST CA", .ca = 1};
	testpki_spec ls = {.cn = "dev-0001"};

	(void)state;
	return testpki_issue(&ca, &cs, NULL) != 0 || testpki_issue(&leaf, &ls, &ca) != 0;
}

static int group_teardown(void **state)
{
	(void)state;
	testpki_id_free(&leaf);
	testpki_id_free(&ca);
	return 0;
}

/* The body the server sends (server/pki), for certs[0 .. n). */
static size_t p7_body(X509 *const *certs, size_t n, uint8_t *out, size_t cap)
{
	size_t len = 0;

	assert_int_equal(rp_pki_est_certs_base64(certs, n, out, cap, &len), RP_OK);
	return len;
}

static void test_parse_server_bodies(void **state)
{
	X509 *two[2] = {leaf.cert, ca.cert};
	uint8_t body[16384];
	STACK_OF(X509) *got = NULL;
	size_t len;

	(void)state;
	len = p7_body(two, 2, body, sizeof(body));
	assert_int_equal(rp__est_parse_certs(body, len, &got), RP_OK);
	assert_int_equal(sk_X509_num(got), 2);
	assert_int_equal(X509_cmp(sk_X509_value(got, 0), leaf.cert), 0);
	assert_int_equal(X509_cmp(sk_X509_value(got, 1), ca.cert), 0);
	sk_X509_pop_free(got, X509_free);

	/* CRLF line ends, as RFC 7030 servers send them, and one long line. */
	{
		uint8_t crlf[20000], one[16384];
		size_t n = 0, m = 0;
		for (size_t i = 0; i < len; i++) {
			if (body[i] == '\n') {
				crlf[n++] = '\r';
			} else {
				one[m++] = body[i];
			}
			crlf[n++] = body[i];
		}
		assert_int_equal(rp__est_parse_certs(crlf, n, &got), RP_OK);
		sk_X509_pop_free(got, X509_free);
		assert_int_equal(rp__est_parse_certs(one, m, &got), RP_OK);
		sk_X509_pop_free(got, X509_free);
	}
}

static void test_parse_refuses(void **state)
{
	X509 *one[1] = {leaf.cert};
	uint8_t body[16384], bad[16384];
	STACK_OF(X509) *got = (STACK_OF(X509) *)1;
	size_t len;

	(void)state;
	len = p7_body(one, 1, body, sizeof(body));

	assert_int_equal(rp__est_parse_certs(body, 0, &got), RP_E_MALFORMED);
	assert_null(got);
	assert_int_equal(rp__est_parse_certs((const uint8_t *)"not base64 at all!", 18, &got),
			 RP_E_MALFORMED);
	/* A byte outside the alphabet in the middle. */
	memcpy(bad, body, len);
	bad[len / 2] = '*';
	assert_int_equal(rp__est_parse_certs(bad, len, &got), RP_E_MALFORMED);
	/* Truncated: the DER is cut. */
	assert_int_equal(rp__est_parse_certs(body, len / 2 / 4 * 4, &got), RP_E_MALFORMED);
	/* Trailing DER after the PKCS#7: base64 of the body's DER twice. */
	{
		uint8_t der[8192], twice[16384], b64[24000];
		BIO *mem = BIO_new(BIO_s_mem());
		BIO *dec = BIO_new(BIO_f_base64());
		BIO_write(mem, body, (int)len);
		BIO_push(dec, mem);
		int dlen = BIO_read(dec, der, sizeof(der));
		BIO_free_all(dec);
		assert_true(dlen > 0);
		memcpy(twice, der, (size_t)dlen);
		memcpy(twice + dlen, der, (size_t)dlen);
		int blen = EVP_EncodeBlock(b64, twice, 2 * dlen);
		assert_int_equal(rp__est_parse_certs(b64, (size_t)blen, &got), RP_E_MALFORMED);
		/* And a DER certificate alone (not a PKCS#7). */
		uint8_t *cder = NULL;
		int clen = i2d_X509(leaf.cert, &cder);
		blen = EVP_EncodeBlock(b64, cder, clen);
		OPENSSL_free(cder);
		assert_int_equal(rp__est_parse_certs(b64, (size_t)blen, &got), RP_E_MALFORMED);
	}
	/* Over the bound, before anything is decoded. */
	{
		uint8_t *big = calloc(1, RP_EST_MAX_RESPONSE + 1u);
		assert_non_null(big);
		memset(big, 'A', RP_EST_MAX_RESPONSE + 1u);
		assert_int_equal(rp__est_parse_certs(big, RP_EST_MAX_RESPONSE + 1u, &got),
				 RP_E_TOO_LARGE);
		free(big);
	}
	assert_null(got);
}

/* ---- renewal time, binding text, save, arguments ------------------------------ */

static X509 *cert_valid(int64_t not_before, int64_t days)
{
	X509 *x = X509_new();

	assert_non_null(x);
	assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), (time_t)not_before));
	assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), (time_t)(not_before + days * 86400)));
	return x;
}

static void test_renew_at(void **state)
{
	const int64_t t0 = 1790000000; /* 2026-09 */
	X509 *x = cert_valid(t0, 30);

	(void)state;
	/* rnd 0: exactly two thirds of 30 days (20 days). */
	assert_int_equal(rp_est_renew_at(x, 0), t0 + 20 * 86400);
	/* the largest rnd: almost a tenth (3 days) earlier, never more. */
	int64_t early = rp_est_renew_at(x, UINT32_MAX);
	assert_true(early > t0 + 17 * 86400 && early <= t0 + 17 * 86400 + 1);
	/* in between: monotonic in rnd */
	assert_true(rp_est_renew_at(x, 0x40000000u) > rp_est_renew_at(x, 0xC0000000u));
	X509_free(x);
	/* Short certificates (tests use minutes) keep the same shape. */
	x = X509_new();
	ASN1_TIME_set(X509_getm_notBefore(x), (time_t)t0);
	ASN1_TIME_set(X509_getm_notAfter(x), (time_t)(t0 + 300));
	assert_int_equal(rp_est_renew_at(x, 0), t0 + 200);
	X509_free(x);
	assert_int_equal(rp_est_renew_at(NULL, 0), 0);
}

static void test_binding_text(void **state)
{
	uint8_t e[RP__EST_EXPORTER_LEN];
	char t[45];

	(void)state;
	for (size_t i = 0; i < sizeof(e); i++) {
		e[i] = (uint8_t)(i * 7u + 1u);
	}
	rp__est_binding_text(e, t);
	assert_int_equal(strlen(t), 44);
	assert_string_equal(t, "AQgPFh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM09o=");
}

static void test_save(void **state)
{
	char dir[] = "/tmp/rp-est-save-XXXXXX", path[200];
	STACK_OF(X509) *chain = sk_X509_new_null();
	struct stat sb;
	FILE *f;
	X509 *a, *b;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/device.crt", dir);
	assert_true(sk_X509_push(chain, ca.cert));
	assert_int_equal(rp_est_save(path, leaf.cert, chain), RP_OK);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0644);
	f = fopen(path, "r");
	a = PEM_read_X509(f, NULL, NULL, NULL);
	b = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_int_equal(X509_cmp(a, leaf.cert), 0);
	assert_int_equal(X509_cmp(b, ca.cert), 0);
	X509_free(a);
	X509_free(b);
	/* Replaced whole; no temporary file left. */
	assert_int_equal(rp_est_save(path, ca.cert, NULL), RP_OK);
	snprintf(path, sizeof(path), "%s/device.crt.tmp", dir);
	assert_int_not_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/device.crt", dir);
	unlink(path);
	/* A directory that does not exist: an error, not a crash. */
	snprintf(path, sizeof(path), "%s/nope/device.crt", dir);
	assert_int_equal(rp_est_save(path, leaf.cert, NULL), RP_E_IO);
	rmdir(dir);
	sk_X509_free(chain);
}

static void test_arguments(void **state)
{
	rp_est_client c = {"https://127.0.0.1:1", "/nonexistent/root.crt", "dev-0001", 1000, NULL};
	rp_est_client plain = {"http://127.0.0.1:1", "/x", "dev-0001", 1000, NULL};
	rp_est_credential none = {NULL, NULL, NULL}, tok = {"rpe_x", NULL, NULL};
	rp_est_credential renew_tok = {"rpe_x", "/x.crt", NULL};
	X509 *cert = (X509 *)1;
	STACK_OF(X509) *chain = (STACK_OF(X509) *)1;
	char err[200];

	(void)state;
	/* No credential, a token for renewal, a cert without its key. */
	assert_int_equal(
		rp_est_enroll(&c, &none, leaf.key, RP_EST_ENROLL, &cert, &chain, err, sizeof(err)),
		RP_E_INVALID_ARG);
	assert_null(cert);
	assert_null(chain);
	assert_int_equal(
		rp_est_enroll(&c, &tok, leaf.key, RP_EST_REENROLL, &cert, &chain, err, sizeof(err)),
		RP_E_INVALID_ARG);
	assert_int_equal(rp_est_enroll(&c, &renew_tok, leaf.key, RP_EST_ENROLL, &cert, &chain, err,
				       sizeof(err)),
			 RP_E_INVALID_ARG);
	/* Plain HTTP is not an EST URL. */
	assert_int_equal(rp_est_enroll(&plain, &tok, leaf.key, RP_EST_ENROLL, &cert, &chain, err,
				       sizeof(err)),
			 RP_E_INVALID_ARG);
	assert_non_null(strstr(err, "https://"));
	/* An unreadable trust file is said, before any connection. */
	assert_int_equal(
		rp_est_enroll(&c, &tok, leaf.key, RP_EST_ENROLL, &cert, &chain, err, sizeof(err)),
		RP_E_INVALID_ARG);
	assert_non_null(strstr(err, "fleet root"));
	/* The token is never in an error text. */
	assert_null(strstr(err, "rpe_x"));
}

int main(int argc, char **argv)
{
	if (argc >= 7 && (strcmp(argv[1], "--enroll") == 0 || strcmp(argv[1], "--renew") == 0)) {
		return drive(argc, argv);
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_server_bodies),
		cmocka_unit_test(test_parse_refuses),
		cmocka_unit_test(test_renew_at),
		cmocka_unit_test(test_binding_text),
		cmocka_unit_test(test_save),
		cmocka_unit_test(test_arguments),
	};
	if (rp_est_global_init() != RP_OK) {
		return 1;
	}
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
