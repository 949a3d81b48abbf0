/*
 * test_issuer.c - server/pki/issuer.c: the one loader of the issuing CA's
 * key, from an encrypted key file or from a PKCS#11 token (a SoftHSM2
 * token made in a temporary directory, tests/support/softhsm.h), and its
 * two users sharing one issuer: the EST service (rp__api_est_load) and the
 * CRL (rp_crl_open).
 *
 * The fleet: a root CA (P-384, in memory), an issuing CA whose key was
 * generated in the token by the keystore (label "issuing"), a second key
 * in the token that is no CA's ("stranger"), and an issuing CA whose key is
 * an encrypted file with its passphrase file, as rampart init writes them.
 * Everything signed is verified with OpenSSL against the certificate.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "api/est_internal.h"
#include "core/crl.h"
#include "pki/issuer.h"
#include "rampart/keystore.h"
#include "softhsm.h"
#include "store/store.h"
#include "util/alloc.h"
#include "util/log.h"

#define TOKEN     "rp-issuer"
#define TOKEN_PIN "24681357"
#define PASS      "a passphrase of more than sixteen bytes"

static struct {
	softhsm hsm;
	char root_crt[300], token_crt[300], file_crt[300], file_key[300], file_pass[300];
	char wrong_pin[300], loose_pin[300];
	X509 *token_ca, *file_ca;
	int seq;
} g;

/* ---- the fleet ---------------------------------------------------------------- */

static int write_cert(const char *path, X509 *x)
{
	FILE *f = fopen(path, "w");
	int ok = f != NULL && PEM_write_X509(f, x) == 1;

	if (f != NULL && fclose(f) != 0) {
		ok = 0;
	}
	return ok ? 0 : -1;
}

/* A key generated in the token under label, through the keystore. */
static int token_key(const char *label, rp_keystore **out)
{
	rp_keystore_config kc = {.backend = "pkcs11",
				 .module = g.hsm.module,
				 .token_label = TOKEN,
				 .pin_file = g.hsm.pin_file,
				 .key_label = label};
	char err[RP_KEYSTORE_ERR_MAX];

	if (rp_keystore_open(&kc, out, err, sizeof(err)) != RP_OK) {
		fprintf(stderr, "keystore: %s\n", err);
		return -1;
	}
	if (rp_keystore_generate(*out, RP_KEY_EC_P256) != RP_OK) {
		fprintf(stderr, "keystore: %s\n", rp_keystore_error(*out));
		return -1;
	}
	return 0;
}

static int group_setup(void **state)
{
	rp_pki_ca_profile rp = {"Test root CA", "Rampart", 0}, ip = {"Test issuing CA", NULL, 0};
	rp_pki_ca_profile fp = {"Test file issuing CA", NULL, 0};
	rp_keystore *iss = NULL, *stranger = NULL;
	EVP_PKEY *root_key = NULL, *file_key = NULL;
	rp_pki_signer *root = NULL;
	X509 *root_crt = NULL;
	const char *why = "";
	char err[256];
	int64_t now = (int64_t)time(NULL);
	int rc = -1;

	(void)state;
	rp_log_set_level(RP_LOG_ERROR);
	if (softhsm_start(&g.hsm, TOKEN, TOKEN_PIN, err, sizeof(err)) != 0) {
		fprintf(stderr, "softhsm: %s\n", err);
		return -1;
	}
	softhsm_path(&g.hsm, "root.crt", g.root_crt, sizeof(g.root_crt));
	softhsm_path(&g.hsm, "token-ca.crt", g.token_crt, sizeof(g.token_crt));
	softhsm_path(&g.hsm, "file-ca.crt", g.file_crt, sizeof(g.file_crt));
	softhsm_path(&g.hsm, "file-ca.key", g.file_key, sizeof(g.file_key));
	softhsm_path(&g.hsm, "file-ca.pass", g.file_pass, sizeof(g.file_pass));
	softhsm_path(&g.hsm, "wrong.pin", g.wrong_pin, sizeof(g.wrong_pin));
	softhsm_path(&g.hsm, "loose.pin", g.loose_pin, sizeof(g.loose_pin));
	if (token_key("issuing", &iss) != 0 || token_key("stranger", &stranger) != 0 ||
	    rp_pki_key_generate(RP_PKI_EC_P384, &root_key) != RP_OK ||
	    rp_pki_key_generate(RP_PKI_EC_P256, &file_key) != RP_OK ||
	    rp_pki_root_ca_new(root_key, &rp, now, &root_crt, &why) != RP_OK ||
	    rp_pki_signer_new(root_crt, root_key, &root, &why) != RP_OK ||
	    rp_pki_issuing_ca_new(root, rp_keystore_pkey(iss), &ip, now, &g.token_ca, &why) !=
		    RP_OK ||
	    rp_pki_issuing_ca_new(root, file_key, &fp, now, &g.file_ca, &why) != RP_OK) {
		fprintf(stderr, "fleet: %s\n", why);
		goto out;
	}
	if (write_cert(g.root_crt, root_crt) != 0 || write_cert(g.token_crt, g.token_ca) != 0 ||
	    write_cert(g.file_crt, g.file_ca) != 0 ||
	    rp_pki_key_save(g.file_key, file_key, PASS, strlen(PASS), &why) != RP_OK ||
	    softhsm_write_file(&g.hsm, "file-ca.pass", PASS "\n", 0600) != 0 ||
	    softhsm_write_file(&g.hsm, "wrong.pin", "13572468\n", 0600) != 0 ||
	    softhsm_write_file(&g.hsm, "loose.pin", TOKEN_PIN "\n", 0644) != 0) {
		fprintf(stderr, "files: %s\n", why);
		goto out;
	}
	rc = 0;
out:
	rp_pki_signer_free(root);
	X509_free(root_crt);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(file_key);
	/* The module stays loaded by nothing: each test opens its own. */
	rp_keystore_close(iss);
	rp_keystore_close(stranger);
	return rc;
}

static int group_teardown(void **state)
{
	(void)state;
	X509_free(g.token_ca);
	X509_free(g.file_ca);
	softhsm_stop(&g.hsm);
	return 0;
}

static rp_pki_issuer_opts token_opts(void)
{
	rp_pki_issuer_opts o;

	memset(&o, 0, sizeof(o));
	o.cert = g.token_crt;
	o.keystore = RP_PKI_ISSUER_PKCS11;
	o.module = g.hsm.module;
	o.token_label = TOKEN;
	o.pin_file = g.hsm.pin_file;
	o.key_label = "issuing";
	return o;
}

static rp_pki_issuer_opts file_opts(void)
{
	rp_pki_issuer_opts o;

	memset(&o, 0, sizeof(o));
	o.cert = g.file_crt;
	o.keystore = RP_PKI_ISSUER_FILE;
	o.key_file = g.file_key;
	o.pass_file = g.file_pass;
	return o;
}

/* A CRL signed by the issuer, verified against ca's public key. */
static void signs_a_crl(const rp_pki_issuer *is, X509 *ca)
{
	rp_pki_revoked r = {"01ab", (int64_t)time(NULL) - 10, RP_PKI_REASON_NONE};
	X509_CRL *crl = NULL;
	const char *why = "";

	assert_int_equal(rp_pki_crl_new(rp_pki_issuer_signer(is), &r, 1, 7, (int64_t)time(NULL), 0,
					&crl, &why),
			 RP_OK);
	assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(ca)), 1);
	X509_CRL_free(crl);
}

/* ---- the loader ------------------------------------------------------------------ */

static void test_token_key_signs(void **state)
{
	rp_pki_issuer_opts o = token_opts();
	rp_pki_issuer *is = NULL;
	char err[512] = "";

	(void)state;
	assert_int_equal(rp_pki_issuer_open(&o, &is, err, sizeof(err)), RP_OK);
	assert_int_equal(rp_pki_issuer_keystore_of(is), RP_PKI_ISSUER_PKCS11);
	assert_string_equal(rp_pki_issuer_where(is), "PKCS#11 token '" TOKEN "', key 'issuing'");
	assert_int_equal(X509_cmp(rp_pki_issuer_cert(is), g.token_ca), 0);
	signs_a_crl(is, g.token_ca);
	rp_pki_issuer_close(is);
	rp_pki_issuer_close(NULL);
}

static void test_file_key_signs(void **state)
{
	rp_pki_issuer_opts o = file_opts();
	rp_pki_issuer *is = NULL;
	char err[512] = "";

	(void)state;
	assert_int_equal(rp_pki_issuer_open(&o, &is, err, sizeof(err)), RP_OK);
	assert_int_equal(rp_pki_issuer_keystore_of(is), RP_PKI_ISSUER_FILE);
	assert_non_null(strstr(rp_pki_issuer_where(is), "encrypted file "));
	signs_a_crl(is, g.file_ca);
	rp_pki_issuer_close(is);
}

/* Expects st, an err holding `has`, and no issuer. */
static void refused(const rp_pki_issuer_opts *o, rp_status st, const char *has)
{
	rp_pki_issuer *is = (rp_pki_issuer *)(uintptr_t)1;
	char err[512] = "";

	assert_int_equal(rp_pki_issuer_open(o, &is, err, sizeof(err)), st);
	assert_null(is);
	if (strstr(err, has) == NULL) {
		fail_msg("expected '%s' in: %s", has, err);
	}
	/* Never a secret in the reason. */
	assert_null(strstr(err, TOKEN_PIN));
	assert_null(strstr(err, "13572468"));
	assert_null(strstr(err, PASS));
}

static void test_token_refusals(void **state)
{
	rp_pki_issuer_opts o;

	(void)state;
	/* A wrong PIN: the token refuses it; the reason names the PIN file. */
	o = token_opts();
	o.pin_file = g.wrong_pin;
	refused(&o, RP_E_AUTH, "wrong PIN");
	/* A PIN file others may read. */
	o = token_opts();
	o.pin_file = g.loose_pin;
	refused(&o, RP_E_CONFIG, "pki.issuing_keystore pkcs11:");
	/* No such token. */
	o = token_opts();
	o.token_label = "no-such-token";
	refused(&o, RP_E_CONFIG, "no-such-token");
	/* No such module. */
	o = token_opts();
	o.module = "/nonexistent/libpkcs11.so";
	refused(&o, RP_E_CONFIG, "/nonexistent/libpkcs11.so");
	/* No key with that label: never generated here. */
	o = token_opts();
	o.key_label = "missing";
	refused(&o, RP_E_CONFIG, "no key 'missing' on token '" TOKEN "'");
	/* A key of the token that is not the certificate's. */
	o = token_opts();
	o.key_label = "stranger";
	refused(&o, RP_E_CONFIG, "not the key of pki.issuing_cert");
	/* The token's key with another CA's certificate. */
	o = token_opts();
	o.cert = g.file_crt;
	refused(&o, RP_E_CONFIG, "not the key of pki.issuing_cert");
	/* A key file named as well: the two keystores exclude each other. */
	o = token_opts();
	o.key_file = g.file_key;
	refused(&o, RP_E_CONFIG, "neither pki.issuing_key");
	/* A field missing. */
	o = token_opts();
	o.key_label = NULL;
	refused(&o, RP_E_CONFIG, "pki.issuing_key_label");
	/* No certificate at all. */
	memset(&o, 0, sizeof(o));
	refused(&o, RP_E_INVALID_ARG, "missing argument");
	/* Every refusal released the module and the login: a good open works. */
	test_token_key_signs(state);
}

static void test_file_refusals(void **state)
{
	rp_pki_issuer_opts o;
	char wrong[300], loose[300];

	(void)state;
	softhsm_path(&g.hsm, "wrong.pass", wrong, sizeof(wrong));
	softhsm_path(&g.hsm, "loose.pass", loose, sizeof(loose));
	assert_int_equal(
		softhsm_write_file(&g.hsm, "wrong.pass", "not the passphrase of this key", 0600),
		0);
	assert_int_equal(softhsm_write_file(&g.hsm, "loose.pass", PASS, 0640), 0);
	o = file_opts();
	o.pass_file = wrong;
	refused(&o, RP_E_AUTH, "not its passphrase");
	o.pass_file = loose;
	refused(&o, RP_E_CONFIG, "group or others");
	o = file_opts();
	o.cert = g.token_crt;
	refused(&o, RP_E_CONFIG, "not the key of pki.issuing_cert");
	o = file_opts();
	o.module = g.hsm.module;
	refused(&o, RP_E_CONFIG, "no pki.pkcs11_* key");
	o = file_opts();
	o.cert = "/nonexistent/ca.crt";
	refused(&o, RP_E_CONFIG, "pki.issuing_cert /nonexistent/ca.crt");
}

/* ---- one issuer, two users --------------------------------------------------------- */

static rp_store *store_new(void)
{
	char url[400];
	rp_store *st = NULL;

	g.seq++;
	snprintf(url, sizeof(url), "sqlite:%s/store-%d.db", g.hsm.dir, g.seq);
	assert_int_equal(rp_store_open(url, NULL, &st), RP_OK);
	return st;
}

typedef struct signer_thread {
	const rp_pki_issuer *is;
	int ok;
} signer_thread;

static void *sign_many(void *arg)
{
	signer_thread *t = arg;
	rp_pki_revoked r = {"02cd", (int64_t)time(NULL) - 10, RP_PKI_REASON_NONE};
	const char *why = "";

	t->ok = 1;
	for (int i = 0; i < 10 && t->ok; i++) {
		X509_CRL *crl = NULL;

		t->ok = rp_pki_crl_new(rp_pki_issuer_signer(t->is), &r, 1, (uint64_t)i + 1,
				       (int64_t)time(NULL), 0, &crl, &why) == RP_OK &&
			X509_CRL_verify(crl, X509_get0_pubkey(g.token_ca)) == 1;
		X509_CRL_free(crl);
	}
	return NULL;
}

/*
 * rampartd's way: one issuer in the token, lent to the EST service and to
 * the CRL; both are freed first (neither closes what it borrowed: the
 * issuer still signs afterwards), then the issuer. Signatures from several
 * threads at once go through the one key.
 */
static void test_shared_by_est_and_crl(void **state)
{
	rp_pki_issuer_opts io = token_opts();
	rp_pki_issuer *is = NULL;
	rp_api_opts ao;
	rp__api_est *e = NULL;
	rp_crl_opts co;
	rp_crl *c = NULL;
	rp_store *st = store_new();
	signer_thread t[4];
	pthread_t tid[4];
	uint8_t *der = NULL;
	size_t len = 0;
	const unsigned char *p;
	X509_CRL *crl;
	char err[512] = "", path[400];

	(void)state;
	assert_int_equal(rp_pki_issuer_open(&io, &is, err, sizeof(err)), RP_OK);
	/* EST: the issuer's signer, not a key of its own. */
	memset(&ao, 0, sizeof(ao));
	ao.est_issuer = is;
	ao.est_root_cert = g.root_crt;
	ao.est_fleet = "test-fleet";
	assert_int_equal(rp__api_est_load(&ao, &e, err, sizeof(err)), RP_OK);
	assert_non_null(e);
	assert_ptr_equal(e->signer, rp_pki_issuer_signer(is));
	assert_null(e->own_issuer);
	assert_int_equal(X509_cmp(e->issuing, g.token_ca), 0);
	/* The CRL: the same signer; a CRL made and verified. */
	memset(&co, 0, sizeof(co));
	co.issuer = is;
	snprintf(path, sizeof(path), "%s/issuing-%d.crl", g.hsm.dir, g.seq);
	co.path = path;
	assert_int_equal(rp_crl_open(&co, st, &c, err, sizeof(err)), RP_OK);
	assert_int_equal(rp_crl_refresh(c, (int64_t)time(NULL), err, sizeof(err)), RP_OK);
	assert_int_equal(rp_crl_current(c, &der, &len, NULL), RP_OK);
	p = der;
	crl = d2i_X509_CRL(NULL, &p, (long)len);
	assert_non_null(crl);
	assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(g.token_ca)), 1);
	X509_CRL_free(crl);
	rp_free(NULL, der);
	/* Four threads sign through the token at once. */
	for (int i = 0; i < 4; i++) {
		t[i].is = is;
		assert_int_equal(pthread_create(&tid[i], NULL, sign_many, &t[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(tid[i], NULL), 0);
		assert_true(t[i].ok);
	}
	/* Both users go; the issuer they borrowed is still whole. */
	rp__api_est_free(e);
	rp_crl_close(c);
	signs_a_crl(is, g.token_ca);
	rp_pki_issuer_close(is);
	rp_store_close(st);
}

/* Without an issuer, each loads the key files itself through the same loader. */
static void test_users_load_files_alone(void **state)
{
	rp_api_opts ao;
	rp__api_est *e = NULL;
	rp_crl_opts co;
	rp_crl *c = NULL;
	rp_store *st = store_new();
	char err[512] = "", path[400];

	(void)state;
	memset(&ao, 0, sizeof(ao));
	ao.est_issuing_cert = g.file_crt;
	ao.est_issuing_key = g.file_key;
	ao.est_issuing_key_pass = g.file_pass;
	ao.est_root_cert = g.root_crt;
	assert_int_equal(rp__api_est_load(&ao, &e, err, sizeof(err)), RP_OK);
	assert_non_null(e->own_issuer);
	assert_ptr_equal(e->signer, rp_pki_issuer_signer(e->own_issuer));
	rp__api_est_free(e);
	memset(&co, 0, sizeof(co));
	co.issuing_cert = g.file_crt;
	co.issuing_key = g.file_key;
	co.issuing_key_pass = g.file_pass;
	snprintf(path, sizeof(path), "%s/file-%d.crl", g.hsm.dir, g.seq);
	co.path = path;
	assert_int_equal(rp_crl_open(&co, st, &c, err, sizeof(err)), RP_OK);
	assert_int_equal(rp_crl_refresh(c, (int64_t)time(NULL), err, sizeof(err)), RP_OK);
	rp_crl_close(c);
	/* Neither the issuer nor the files: refused. */
	memset(&co, 0, sizeof(co));
	co.path = path;
	assert_int_equal(rp_crl_open(&co, st, &c, err, sizeof(err)), RP_E_INVALID_ARG);
	rp_store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_key_signs),
		cmocka_unit_test(test_file_key_signs),
		cmocka_unit_test(test_token_refusals),
		cmocka_unit_test(test_file_refusals),
		cmocka_unit_test(test_shared_by_est_and_crl),
		cmocka_unit_test(test_users_load_files_alone),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
