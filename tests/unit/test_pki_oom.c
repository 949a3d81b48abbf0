/*
 * test_pki_oom.c - server/pki when OpenSSL's own allocations fail.
 *
 * test_pki.c walks every allocation the engine makes through rp_alloc();
 * most memory of a certificate is OpenSSL's, though. Here OpenSSL's
 * allocator is replaced (CRYPTO_set_mem_functions(), before its first
 * allocation, which is why this is a program of its own) by one that
 * fails from the n-th call on, and n walks over every allocation of
 * `rampart init` (root, issuing CA, server certificate, signers) and of
 * one enrollment with a revocation (CSR gate, device certificate, serial,
 * CRL, PKCS#7, encodings). At every n the engine must return an error
 * (never crash, never report success with a missing part), leak nothing
 * (LeakSanitizer, at exit), leave OpenSSL's error queue empty, and keep
 * working once allocations succeed again.
 *
 * Key files (scrypt) are left out: each pass would cost 16 MiB and 50 ms.
 * Every key here is P-256 (P-384 signing would triple the time of the
 * ~8,500 passes; test_pki.c covers P-384 paths).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "pki/pki.h"
#include "util/alloc.h"

static long countdown = -1;
static unsigned long failed;

static int fail_now(void)
{
	if (countdown < 0) {
		return 0;
	}
	if (countdown == 0) {
		failed++;
		return 1;
	}
	countdown--;
	return 0;
}

static void *oom_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return fail_now() ? NULL : malloc(n);
}

static void *oom_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return fail_now() ? NULL : realloc(p, n);
}

static void oom_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	free(p);
}

static struct {
	int64_t now;
	EVP_PKEY *root_key, *iss_key, *dev_key;
	unsigned char *csr;
	int csr_len;
} F;

/* rampart init: 1 if every step succeeded, 0 if one failed (cleanly). */
static int init_pass(void)
{
	rp_pki_ca_profile rp = {"Root", "Rampart Test", 0}, ip = {"Issuing", NULL, 0};
	const char *dns[] = {"localhost"}, *ips[] = {"127.0.0.1", "::1"};
	rp_pki_server_profile sp = {NULL, dns, 1, ips, 2, 0};
	rp_pki_signer *rs = NULL, *is = NULL;
	X509 *root = NULL, *iss = NULL, *srv = NULL;
	uint8_t out[4096];
	size_t n;
	int ok = 0;

	if (rp_pki_root_ca_new(F.root_key, &rp, F.now, &root, NULL) != RP_OK ||
	    rp_pki_signer_new(root, F.root_key, &rs, NULL) != RP_OK ||
	    rp_pki_issuing_ca_new(rs, F.iss_key, &ip, F.now, &iss, NULL) != RP_OK ||
	    rp_pki_signer_new(iss, F.iss_key, &is, NULL) != RP_OK ||
	    rp_pki_server_cert_new(is, F.iss_key, &sp, F.now, &srv, NULL) != RP_OK ||
	    rp_pki_cert_encode(srv, RP_PKI_PEM, out, sizeof(out), &n) != RP_OK) {
		goto out;
	}
	ok = 1;
out:
	X509_free(srv);
	X509_free(iss);
	X509_free(root);
	rp_pki_signer_free(is);
	rp_pki_signer_free(rs);
	return ok;
}

/* One enrollment and one revocation, under an issuing CA made once. */
static int enroll_pass(rp_pki_signer *is)
{
	rp_pki_device_profile p = {"acme", 0};
	rp_pki_csr *csr = NULL;
	X509 *x = NULL;
	X509_CRL *crl = NULL;
	char sn[RP_PKI_SERIAL_HEX_SIZE], fp[RP_PKI_SHA256_HEX_SIZE];
	rp_pki_revoked rv;
	uint8_t out[8192];
	size_t n;
	int ok = 0;

	if (rp_pki_csr_parse(F.csr, (size_t)F.csr_len, RP_PKI_CSR_DER, "dev-0001", &csr, NULL) !=
		    RP_OK ||
	    rp_pki_device_cert_new(is, csr, &p, F.now, &x, NULL) != RP_OK ||
	    rp_pki_cert_serial_hex(x, sn, sizeof(sn)) != RP_OK ||
	    rp_pki_cert_sha256_hex(x, fp, sizeof(fp)) != RP_OK) {
		goto out;
	}
	rv.serial_hex = sn;
	rv.revoked_at = F.now;
	rv.reason = RP_PKI_REASON_KEY_COMPROMISE;
	if (rp_pki_crl_new(is, &rv, 1, 2, F.now, 0, &crl, NULL) != RP_OK ||
	    rp_pki_est_certs_base64(&x, 1, out, sizeof(out), &n) != RP_OK ||
	    rp_pki_crl_encode(crl, RP_PKI_DER, out, sizeof(out), &n) != RP_OK ||
	    rp_pki_crl_encode(crl, RP_PKI_PEM, out, sizeof(out), &n) != RP_OK) {
		goto out;
	}
	ok = 1;
out:
	X509_CRL_free(crl);
	X509_free(x);
	rp_pki_csr_free(csr);
	return ok;
}

static void test_init_under_oom(void **state)
{
	size_t before = rp_alloc_in_use();
	long i;
	int ok = 0;

	(void)state;
	assert_true(init_pass()); /* warm up OpenSSL's lazy initialisation */
	for (i = 0; i < 100000 && !ok; i++) {
		countdown = i;
		ok = init_pass();
		countdown = -1;
		assert_int_equal(ERR_peek_error(), 0);
		assert_int_equal(rp_alloc_in_use(), before);
	}
	assert_true(ok);
	assert_true(i > 100);
	assert_true(init_pass());
	print_message("init: %ld allocation failure points\n", i - 1);
}

static void test_enroll_under_oom(void **state)
{
	rp_pki_ca_profile ip = {"Issuing", NULL, 0};
	rp_pki_signer *is = NULL;
	X509 *iss = NULL;
	size_t before;
	long i;
	int ok = 0;

	(void)state;
	assert_int_equal(rp_pki_root_ca_new(F.iss_key, &ip, F.now, &iss, NULL), RP_OK);
	assert_int_equal(rp_pki_signer_new(iss, F.iss_key, &is, NULL), RP_OK);
	before = rp_alloc_in_use();
	assert_true(enroll_pass(is));
	for (i = 0; i < 100000 && !ok; i++) {
		countdown = i;
		ok = enroll_pass(is);
		countdown = -1;
		assert_int_equal(ERR_peek_error(), 0);
		assert_int_equal(rp_alloc_in_use(), before);
	}
	assert_true(ok);
	assert_true(i > 100);
	assert_true(enroll_pass(is));
	print_message("enrollment: %ld allocation failure points\n", i - 1);
	rp_pki_signer_free(is);
	X509_free(iss);
}

static int setup(void **state)
{
	X509_REQ *req;
	X509_NAME *nm;

	(void)state;
	F.now = (int64_t)time(NULL);
	if (rp_pki_key_generate(RP_PKI_EC_P256, &F.root_key) != RP_OK ||
	    rp_pki_key_generate(RP_PKI_EC_P256, &F.iss_key) != RP_OK ||
	    rp_pki_key_generate(RP_PKI_EC_P256, &F.dev_key) != RP_OK) {
		return -1;
	}
	req = X509_REQ_new();
	nm = X509_NAME_new();
	if (req == NULL || nm == NULL ||
	    X509_NAME_add_entry_by_NID(nm, NID_commonName, MBSTRING_UTF8,
				       (const unsigned char *)"dev-0001", -1, -1, 0) != 1 ||
	    X509_REQ_set_subject_name(req, nm) != 1 || X509_REQ_set_pubkey(req, F.dev_key) != 1 ||
	    X509_REQ_sign(req, F.dev_key, EVP_sha256()) <= 0) {
		return -1;
	}
	F.csr_len = i2d_X509_REQ(req, &F.csr);
	X509_NAME_free(nm);
	X509_REQ_free(req);
	return F.csr_len > 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	OPENSSL_free(F.csr);
	EVP_PKEY_free(F.root_key);
	EVP_PKEY_free(F.iss_key);
	EVP_PKEY_free(F.dev_key);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_under_oom),
		cmocka_unit_test(test_enroll_under_oom),
	};

	/* Before OpenSSL allocates anything. */
	if (CRYPTO_set_mem_functions(oom_malloc, oom_realloc, oom_free) != 1) {
		return 1;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
