/*
 * test_keystore.c - the keystore (rampart/keystore.h), both back ends.
 *
 * "soft" runs in a fresh temporary directory; "pkcs11" runs against a real
 * SoftHSM2 token made in another one (tests/support/softhsm.h). Every
 * signature is checked with OpenSSL against the public key the keystore
 * gives; a CSR, a certificate and a CRL are signed through
 * rp_keystore_pkey(); and a real TLS 1.3 handshake with client
 * authentication (in memory, over a BIO pair) runs with
 * SSL_CTX_use_PrivateKey(rp_keystore_pkey()) for both back ends. That the
 * token's private key cannot be read is checked by pkcs11-tool (OpenSC),
 * a separate program, from the token's attributes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <p11-kit/pkcs11.h>

#include "rampart/keystore.h"
#include "softhsm.h"
#include "testpki.h"

#define TOKEN      "rp-test"
#define TOKEN_PIN  "246810"
#define TOKEN2     "rp-other"
#define TOKEN2_PIN "135791"
#define ERR_CAP    RP_KEYSTORE_ERR_MAX

typedef struct fixture {
	char dir[256]; /* soft keystore files */
	softhsm hsm;
	testpki_id ca, server, other_ca;
} fixture;

static fixture fx;

/* ---- helpers --------------------------------------------------------------- */

static const char *path_of(const char *name, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s/%s", fx.dir, name);

	assert_true(n > 0 && (size_t)n < cap);
	return buf;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t len = strlen(text);

	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static char *read_text(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

/* Files in the soft directory whose name holds ".tmp-" (left-overs). */
static int temp_files_left(void)
{
	struct dirent *de;
	int n = 0;
	DIR *d = opendir(fx.dir);

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strstr(de->d_name, ".tmp-") != NULL) {
			n++;
		}
	}
	closedir(d);
	return n;
}

typedef struct soft_paths {
	char key[512], pass[512];
} soft_paths;

static rp_keystore_config soft_cfg(const char *name, soft_paths *p)
{
	char file[128];
	rp_keystore_config cfg = {.backend = "soft"};

	snprintf(file, sizeof(file), "%s.key", name);
	path_of(file, p->key, sizeof(p->key));
	snprintf(file, sizeof(file), "%s.pass", name);
	path_of(file, p->pass, sizeof(p->pass));
	cfg.key_file = p->key;
	cfg.pass_file = p->pass;
	return cfg;
}

static rp_keystore_config p11_cfg(const char *key_label)
{
	rp_keystore_config cfg = {.backend = "pkcs11"};

	cfg.module = fx.hsm.module;
	cfg.token_label = TOKEN;
	cfg.pin_file = fx.hsm.pin_file;
	cfg.key_label = key_label;
	return cfg;
}

static rp_keystore *open_ok(const rp_keystore_config *cfg)
{
	char err[ERR_CAP] = "";
	rp_keystore *ks = NULL;
	rp_status st = rp_keystore_open(cfg, &ks, err, sizeof(err));

	if (st != RP_OK) {
		fail_msg("rp_keystore_open: %s: %s", rp_status_str(st), err);
	}
	assert_non_null(ks);
	return ks;
}

/* Opens expecting a refusal; returns the err text (static). */
static const char *open_refused(const rp_keystore_config *cfg, rp_status want)
{
	static char err[ERR_CAP];
	rp_keystore *ks = (rp_keystore *)&err; /* must be reset to NULL */
	rp_status st;

	err[0] = '\0';
	st = rp_keystore_open(cfg, &ks, err, sizeof(err));
	if (st != want) {
		rp_keystore_close(st == RP_OK ? ks : NULL);
		fail_msg("rp_keystore_open: %s, wanted %s (%s)", rp_status_str(st),
			 rp_status_str(want), err);
	}
	assert_null(ks);
	assert_true(strlen(err) > 10);
	return err;
}

static void generate_ok(rp_keystore *ks, rp_key_type type)
{
	rp_status st = rp_keystore_generate(ks, type);

	if (st != RP_OK) {
		fail_msg("rp_keystore_generate: %s: %s", rp_status_str(st), rp_keystore_error(ks));
	}
	assert_true(rp_keystore_has_key(ks));
	assert_int_equal(rp_keystore_key_type(ks), type);
	assert_non_null(rp_keystore_pkey(ks));
	assert_string_equal(rp_keystore_error(ks), "");
}

/* The keystore's public key as an OpenSSL key (caller frees). */
static EVP_PKEY *public_key(rp_keystore *ks, uint8_t *der, size_t *der_len)
{
	uint8_t buf[RP_KEYSTORE_PUBKEY_MAX];
	const unsigned char *p = buf;
	size_t need = 0, len = 0;
	EVP_PKEY *pub;

	assert_int_equal(rp_keystore_public_key(ks, NULL, 0, &need), RP_OK);
	assert_true(need > 0 && need <= RP_KEYSTORE_PUBKEY_MAX);
	assert_int_equal(rp_keystore_public_key(ks, buf, need - 1, &len), RP_E_BUF_TOO_SMALL);
	assert_int_equal(len, need);
	assert_int_equal(rp_keystore_public_key(ks, buf, sizeof(buf), &len), RP_OK);
	assert_int_equal(len, need);
	pub = d2i_PUBKEY(NULL, &p, (long)len);
	assert_non_null(pub);
	assert_ptr_equal(p, buf + len);
	if (der != NULL) {
		memcpy(der, buf, len);
		*der_len = len;
	}
	return pub;
}

/* Signs a digest of msg with the keystore and verifies it with OpenSSL. */
static void sign_and_verify(rp_keystore *ks, EVP_PKEY *pub, const EVP_MD *md, const char *msg)
{
	uint8_t digest[EVP_MAX_MD_SIZE], sig[RP_KEYSTORE_SIG_MAX];
	unsigned int dlen = 0;
	size_t max = 0, len = 0;
	EVP_PKEY_CTX *ctx;

	assert_int_equal(EVP_Digest(msg, strlen(msg), digest, &dlen, md, NULL), 1);
	assert_int_equal(rp_keystore_sign(ks, digest, dlen, NULL, 0, &max), RP_OK);
	assert_true(max > 0 && max <= RP_KEYSTORE_SIG_MAX);
	assert_int_equal(rp_keystore_sign(ks, digest, dlen, sig, max - 1, &len),
			 RP_E_BUF_TOO_SMALL);
	assert_int_equal(len, max);
	assert_int_equal(rp_keystore_sign(ks, digest, dlen, sig, sizeof(sig), &len), RP_OK);
	assert_true(len > 0 && len <= max);

	ctx = EVP_PKEY_CTX_new(pub, NULL);
	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_signature_md(ctx, md), 1);
	assert_int_equal(EVP_PKEY_verify(ctx, sig, len, digest, dlen), 1);
	/* The check can fail: another digest does not verify. */
	digest[0] ^= 1;
	assert_int_not_equal(EVP_PKEY_verify(ctx, sig, len, digest, dlen), 1);
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
}

static void check_signing(rp_keystore *ks)
{
	EVP_PKEY *pub = public_key(ks, NULL, NULL);

	/* The private half behind rp_keystore_pkey() matches the public key. */
	assert_int_equal(EVP_PKEY_eq(pub, rp_keystore_pkey(ks)), 1);
	sign_and_verify(ks, pub, EVP_sha256(), "telemetry batch 1");
	sign_and_verify(ks, pub, EVP_sha384(), "firmware manifest 7");
	EVP_PKEY_free(pub);
}

static void check_bad_args(rp_keystore *ks)
{
	uint8_t digest[32] = {1}, sig[RP_KEYSTORE_SIG_MAX];
	size_t len = 0;

	assert_int_equal(rp_keystore_sign(ks, digest, 31, sig, sizeof(sig), &len),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp_keystore_sign(ks, digest, 64, sig, sizeof(sig), &len),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp_keystore_sign(ks, NULL, 32, sig, sizeof(sig), &len), RP_E_INVALID_ARG);
	assert_int_equal(rp_keystore_sign(NULL, digest, 32, sig, sizeof(sig), &len),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp_keystore_public_key(ks, sig, sizeof(sig), NULL), RP_E_INVALID_ARG);
	assert_int_equal(rp_keystore_generate(ks, (rp_key_type)9), RP_E_INVALID_ARG);
}

/* An empty keystore: no key, and nothing works that needs one. */
static void check_empty(rp_keystore *ks)
{
	uint8_t digest[32] = {0}, buf[RP_KEYSTORE_SIG_MAX];
	size_t len = 7;

	assert_false(rp_keystore_has_key(ks));
	assert_int_equal(rp_keystore_key_type(ks), 0);
	assert_null(rp_keystore_pkey(ks));
	assert_int_equal(rp_keystore_public_key(ks, buf, sizeof(buf), &len), RP_E_STATE);
	assert_int_equal(rp_keystore_sign(ks, digest, 32, buf, sizeof(buf), &len), RP_E_STATE);
}

/* ---- CSR, certificates, CRL, TLS --------------------------------------------- */

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (ext == NULL) {
		return 0;
	}
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/* A CSR for CN cn signed through rp_keystore_pkey(), checked; caller frees. */
static X509_REQ *make_csr(rp_keystore *ks, const char *cn)
{
	X509_REQ *req = X509_REQ_new();
	EVP_PKEY *pub = public_key(ks, NULL, NULL);
	EVP_PKEY *other = EVP_EC_gen("P-256");
	X509_NAME *nm;

	assert_non_null(req);
	assert_non_null(other);
	nm = X509_REQ_get_subject_name(req);
	assert_int_equal(X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
						    (const unsigned char *)cn, -1, -1, 0),
			 1);
	assert_int_equal(X509_REQ_set_pubkey(req, pub), 1);
	assert_true(X509_REQ_sign(req, rp_keystore_pkey(ks), EVP_sha256()) > 0);
	assert_int_equal(X509_REQ_verify(req, pub), 1);
	/* The check can fail: it does not verify with another key. */
	assert_int_not_equal(X509_REQ_verify(req, other), 1);
	ERR_clear_error();
	EVP_PKEY_free(other);
	EVP_PKEY_free(pub);
	return req;
}

/* A client certificate issued by ca for the CSR's key. */
static X509 *issue_client(const testpki_id *ca, X509_REQ *req)
{
	X509 *x = X509_new();

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(
		ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(rand() & 0x7fffffff) + 1), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_int_equal(X509_set_subject_name(x, X509_REQ_get_subject_name(req)), 1);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(ca->cert)), 1);
	assert_int_equal(X509_set_pubkey(x, X509_REQ_get0_pubkey(req)), 1);
	assert_true(add_ext(x, ca->cert, NID_basic_constraints, "critical,CA:FALSE"));
	assert_true(add_ext(x, ca->cert, NID_key_usage, "critical,digitalSignature"));
	assert_true(add_ext(x, ca->cert, NID_ext_key_usage, "clientAuth"));
	assert_true(add_ext(x, ca->cert, NID_subject_key_identifier, "hash"));
	assert_true(add_ext(x, ca->cert, NID_authority_key_identifier, "keyid:always"));
	assert_true(X509_sign(x, ca->key, EVP_sha256()) > 0);
	return x;
}

/* The keystore as a CA: a self-signed certificate and a CRL, both verified. */
static void check_ca_signing(rp_keystore *ks)
{
	EVP_PKEY *pub = public_key(ks, NULL, NULL);
	const EVP_MD *md = rp_keystore_key_type(ks) == RP_KEY_EC_P384 ? EVP_sha384() : EVP_sha256();
	X509 *x = X509_new();
	X509_CRL *crl = X509_CRL_new();
	X509_NAME *nm;

	assert_non_null(x);
	assert_non_null(crl);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	nm = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
						    (const unsigned char *)"Keystore Root", -1, -1,
						    0),
			 1);
	assert_int_equal(X509_set_issuer_name(x, nm), 1);
	assert_int_equal(X509_set_pubkey(x, pub), 1);
	assert_true(add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE"));
	assert_true(X509_sign(x, rp_keystore_pkey(ks), md) > 0);
	assert_int_equal(X509_verify(x, pub), 1);

	assert_int_equal(X509_CRL_set_version(crl, X509_CRL_VERSION_2), 1);
	assert_int_equal(X509_CRL_set_issuer_name(crl, nm), 1);
	assert_true(X509_CRL_sign(crl, rp_keystore_pkey(ks), md) > 0);
	assert_int_equal(X509_CRL_verify(crl, pub), 1);
	X509_CRL_free(crl);
	X509_free(x);
	EVP_PKEY_free(pub);
}

static int step(SSL *ssl, int *done)
{
	int r, e;

	if (*done) {
		return 0;
	}
	r = SSL_do_handshake(ssl);
	if (r == 1) {
		*done = 1;
		return 0;
	}
	e = SSL_get_error(ssl, r);
	return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

/*
 * A TLS 1.3 handshake in memory: the server requires a client certificate
 * chaining to fx.ca; the client authenticates with client_cert and
 * client_key (SSL_CTX_use_PrivateKey). Then one message each way.
 * Returns 0 if the server accepted the client, -1 otherwise.
 */
static int tls_handshake(EVP_PKEY *client_key, X509 *client_cert)
{
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL *srv = NULL, *cli = NULL;
	BIO *bs = NULL, *bc = NULL;
	X509 *peer = NULL;
	char buf[16];
	int i, sdone = 0, cdone = 0, rc = -1, n;

	assert_non_null(sctx);
	assert_non_null(cctx);
	assert_int_equal(SSL_CTX_set_min_proto_version(sctx, TLS1_3_VERSION), 1);
	assert_int_equal(SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION), 1);
	assert_int_equal(SSL_CTX_use_certificate(sctx, fx.server.cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(sctx, fx.server.key), 1);
	assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(sctx), fx.ca.cert), 1);
	SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);

	assert_int_equal(SSL_CTX_use_certificate(cctx, client_cert), 1);
	/* The point of it all: TLS uses the key through the keystore. */
	assert_int_equal(SSL_CTX_use_PrivateKey(cctx, client_key), 1);
	assert_int_equal(SSL_CTX_check_private_key(cctx), 1);
	assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), fx.ca.cert), 1);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);

	srv = SSL_new(sctx);
	cli = SSL_new(cctx);
	assert_non_null(srv);
	assert_non_null(cli);
	assert_int_equal(SSL_set1_host(cli, "localhost"), 1);
	assert_int_equal(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
	SSL_set_bio(cli, bc, bc);
	SSL_set_bio(srv, bs, bs);
	SSL_set_connect_state(cli);
	SSL_set_accept_state(srv);
	for (i = 0; i < 64 && !(sdone && cdone); i++) {
		if (step(cli, &cdone) != 0 || step(srv, &sdone) != 0) {
			goto out;
		}
	}
	if (!sdone || !cdone) {
		goto out;
	}
	assert_int_equal(SSL_version(srv), TLS1_3_VERSION);
	assert_int_equal(SSL_get_verify_result(srv), X509_V_OK);
	assert_int_equal(SSL_get_verify_result(cli), X509_V_OK);
	peer = SSL_get1_peer_certificate(srv);
	assert_non_null(peer);
	assert_int_equal(X509_cmp(peer, client_cert), 0);
	/* Application data both ways. */
	assert_int_equal(SSL_write(cli, "ping", 4), 4);
	n = SSL_read(srv, buf, sizeof(buf));
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(SSL_write(srv, "pong", 4), 4);
	n = SSL_read(cli, buf, sizeof(buf));
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "pong", 4);
	rc = 0;
out:
	X509_free(peer);
	SSL_free(cli);
	SSL_free(srv);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	ERR_clear_error();
	return rc;
}

/* CSR -> certificate from the test CA -> TLS 1.3 client authentication. */
static void check_csr_and_tls(rp_keystore *ks, const char *cn)
{
	X509_REQ *req = make_csr(ks, cn);
	X509 *cert = issue_client(&fx.ca, req);
	X509 *stranger = issue_client(&fx.other_ca, req);

	assert_int_equal(tls_handshake(rp_keystore_pkey(ks), cert), 0);
	/* The harness can fail: a certificate from another CA is refused. */
	assert_int_equal(tls_handshake(rp_keystore_pkey(ks), stranger), -1);
	X509_free(stranger);
	X509_free(cert);
	X509_REQ_free(req);
}

/* ---- threads ----------------------------------------------------------------- */

typedef struct signer {
	rp_keystore *ks;
	EVP_PKEY *pub;
	int rounds;
	int bad; /* signatures that failed or did not verify */
} signer;

static void *sign_loop(void *arg)
{
	signer *s = arg;
	uint8_t digest[32], sig[RP_KEYSTORE_SIG_MAX];
	size_t len;
	int i;

	for (i = 0; i < s->rounds; i++) {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(s->pub, NULL);

		if (RAND_bytes(digest, sizeof(digest)) != 1 ||
		    rp_keystore_sign(s->ks, digest, sizeof(digest), sig, sizeof(sig), &len) !=
			    RP_OK ||
		    ctx == NULL || EVP_PKEY_verify_init(ctx) != 1 ||
		    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1 ||
		    EVP_PKEY_verify(ctx, sig, len, digest, sizeof(digest)) != 1) {
			s->bad++;
		}
		EVP_PKEY_CTX_free(ctx);
	}
	return NULL;
}

/* Four threads sign with one keystore at once; every signature verifies. */
static void check_threads(rp_keystore *ks)
{
	EVP_PKEY *pub = public_key(ks, NULL, NULL);
	pthread_t th[4];
	signer s[4];
	int i;

	for (i = 0; i < 4; i++) {
		s[i] = (signer){.ks = ks, .pub = pub, .rounds = 25};
		assert_int_equal(pthread_create(&th[i], NULL, sign_loop, &s[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(s[i].bad, 0);
	}
	EVP_PKEY_free(pub);
}

/* ---- soft -------------------------------------------------------------------- */

static void test_soft_generate_reopen(void **state)
{
	static const rp_key_type types[] = {RP_KEY_EC_P256, RP_KEY_EC_P384};
	uint8_t der1[RP_KEYSTORE_PUBKEY_MAX], der2[RP_KEYSTORE_PUBKEY_MAX];
	size_t len1 = 0, len2 = 0;
	size_t t;

	(void)state;
	for (t = 0; t < 2; t++) {
		soft_paths p;
		char name[32];
		rp_keystore_config cfg;
		rp_keystore *ks;
		EVP_PKEY *pub;
		const char *pem;

		snprintf(name, sizeof(name), "gen-%zu", t);
		cfg = soft_cfg(name, &p);
		ks = open_ok(&cfg);
		assert_string_equal(rp_keystore_backend(ks), "soft");
		check_empty(ks);
		assert_int_equal(access(p.key, F_OK), -1);
		generate_ok(ks, types[t]);
		check_signing(ks);
		check_bad_args(ks);
		pub = public_key(ks, der1, &len1);
		EVP_PKEY_free(pub);

		/* Both files exist, 0600; the key is encrypted PKCS#8 PEM. */
		assert_int_equal(mode_of(p.key), 0600);
		assert_int_equal(mode_of(p.pass), 0600);
		pem = read_text(p.key);
		assert_non_null(strstr(pem, "-----BEGIN ENCRYPTED PRIVATE KEY-----"));
		assert_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
		assert_int_equal(strlen(read_text(p.pass)), 65); /* 64 hex digits, newline */
		assert_int_equal(temp_files_left(), 0);

		/* Never replaced. */
		assert_int_equal(rp_keystore_generate(ks, RP_KEY_EC_P256), RP_E_EXISTS);
		assert_non_null(strstr(rp_keystore_error(ks), "already"));
		rp_keystore_close(ks);

		/* Reopened: the same key, and it still signs. */
		ks = open_ok(&cfg);
		assert_true(rp_keystore_has_key(ks));
		assert_int_equal(rp_keystore_key_type(ks), types[t]);
		pub = public_key(ks, der2, &len2);
		EVP_PKEY_free(pub);
		assert_int_equal(len1, len2);
		assert_memory_equal(der1, der2, len1);
		check_signing(ks);
		assert_int_equal(rp_keystore_generate(ks, types[t]), RP_E_EXISTS);
		rp_keystore_close(ks);
	}
}

static void test_soft_never_replaces(void **state)
{
	soft_paths p;
	rp_keystore_config cfg = soft_cfg("race", &p);
	rp_keystore *a, *b;
	char *before;

	(void)state;
	/* Two keystores opened empty on the same files: the second to
	 * generate finds the file the first wrote, and leaves it alone. */
	a = open_ok(&cfg);
	b = open_ok(&cfg);
	generate_ok(a, RP_KEY_EC_P256);
	before = strdup(read_text(p.key));
	assert_non_null(before);
	assert_int_equal(rp_keystore_generate(b, RP_KEY_EC_P256), RP_E_EXISTS);
	assert_false(rp_keystore_has_key(b));
	assert_non_null(strstr(rp_keystore_error(b), p.key));
	assert_string_equal(read_text(p.key), before);
	assert_int_equal(temp_files_left(), 0);
	free(before);
	rp_keystore_close(b);
	rp_keystore_close(a);
}

static void test_soft_operator_passphrase(void **state)
{
	soft_paths p;
	rp_keystore_config cfg = soft_cfg("oppass", &p);
	EVP_PKEY *decrypted, *pub;
	rp_keystore *ks;
	FILE *f;

	(void)state;
	/* A passphrase file given by the operator is used as it is. */
	write_file(p.pass, "correct horse battery staple\n", 0600);
	ks = open_ok(&cfg);
	generate_ok(ks, RP_KEY_EC_P256);
	assert_string_equal(read_text(p.pass), "correct horse battery staple\n");
	/* Independent check: OpenSSL decrypts the file with that passphrase. */
	f = fopen(p.key, "r");
	assert_non_null(f);
	decrypted = PEM_read_PrivateKey(f, NULL, NULL, (void *)"correct horse battery staple");
	fclose(f);
	assert_non_null(decrypted);
	pub = public_key(ks, NULL, NULL);
	assert_int_equal(EVP_PKEY_eq(decrypted, pub), 1);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(decrypted);
	rp_keystore_close(ks);
}

static void test_soft_refusals(void **state)
{
	soft_paths p, q;
	rp_keystore_config cfg = soft_cfg("refuse", &p);
	rp_keystore_config plain = soft_cfg("plain", &q);
	char pass[256], err[ERR_CAP];
	rp_keystore *ks;
	EVP_PKEY *k;
	const char *why;
	FILE *f;

	(void)state;
	ks = open_ok(&cfg);
	generate_ok(ks, RP_KEY_EC_P256);
	rp_keystore_close(ks);
	snprintf(pass, sizeof(pass), "%s", read_text(p.pass));

	/* Wrong passphrase. */
	write_file(p.pass, "not the passphrase\n", 0600);
	why = open_refused(&cfg, RP_E_AUTH);
	assert_non_null(strstr(why, "wrong passphrase"));
	assert_non_null(strstr(why, p.key));
	assert_null(strstr(why, "not the passphrase"));
	write_file(p.pass, pass, 0600);
	rp_keystore_close(open_ok(&cfg));

	/* A key file others can read. */
	assert_int_equal(chmod(p.key, 0644), 0);
	why = open_refused(&cfg, RP_E_CONFIG);
	assert_non_null(strstr(why, "group or others"));
	assert_non_null(strstr(why, p.key));
	assert_int_equal(chmod(p.key, 0600), 0);

	/* A passphrase file the group can read. */
	assert_int_equal(chmod(p.pass, 0640), 0);
	why = open_refused(&cfg, RP_E_CONFIG);
	assert_non_null(strstr(why, "group or others"));
	assert_non_null(strstr(why, p.pass));
	assert_null(strstr(why, pass));
	assert_int_equal(chmod(p.pass, 0600), 0);

	/* An empty passphrase file. */
	write_file(p.pass, "\n", 0600);
	why = open_refused(&cfg, RP_E_CONFIG);
	assert_non_null(strstr(why, "non-empty"));

	/* A key file without its passphrase file. */
	assert_int_equal(unlink(p.pass), 0);
	why = open_refused(&cfg, RP_E_NOT_FOUND);
	assert_non_null(strstr(why, p.pass));

	/* An unencrypted key file, even with a passphrase file. */
	k = EVP_EC_gen("P-256");
	assert_non_null(k);
	assert_int_equal(testpki_write_key(q.key, k), 0);
	EVP_PKEY_free(k);
	write_file(q.pass, "whatever\n", 0600);
	why = open_refused(&plain, RP_E_CONFIG);
	assert_non_null(strstr(why, "not an encrypted"));

	/* A key that is not EC P-256/P-384 (X25519 here), properly encrypted. */
	assert_int_equal(unlink(q.key), 0);
	k = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	assert_non_null(k);
	f = fopen(q.key, "w");
	assert_non_null(f);
	assert_int_equal(
		PEM_write_PKCS8PrivateKey(f, k, EVP_aes_256_cbc(), "whatever", 8, NULL, NULL), 1);
	fclose(f);
	assert_int_equal(chmod(q.key, 0600), 0);
	EVP_PKEY_free(k);
	why = open_refused(&plain, RP_E_CONFIG);
	assert_non_null(strstr(why, "P-256"));

	/* Configuration mistakes. */
	cfg = soft_cfg("refuse", &p);
	cfg.backend = "tpm";
	why = open_refused(&cfg, RP_E_CONFIG);
	assert_non_null(strstr(why, "\"soft\" or \"pkcs11\""));
	cfg.backend = NULL;
	open_refused(&cfg, RP_E_CONFIG);
	cfg = soft_cfg("refuse", &p);
	cfg.key_label = "x";
	open_refused(&cfg, RP_E_CONFIG);
	cfg = soft_cfg("refuse", &p);
	cfg.pass_file = cfg.key_file;
	open_refused(&cfg, RP_E_CONFIG);
	cfg = soft_cfg("refuse", &p);
	cfg.pass_file = NULL;
	open_refused(&cfg, RP_E_CONFIG);
	assert_int_equal(rp_keystore_open(NULL, &ks, err, sizeof(err)), RP_E_INVALID_ARG);
	assert_null(ks);
	assert_int_equal(rp_keystore_open(&cfg, NULL, NULL, 0), RP_E_INVALID_ARG);
	assert_int_equal(rp_keystore_generate(NULL, RP_KEY_EC_P256), RP_E_INVALID_ARG);
	assert_false(rp_keystore_has_key(NULL));
	assert_null(rp_keystore_pkey(NULL));
	assert_null(rp_keystore_backend(NULL));
	rp_keystore_close(NULL);
}

static void test_soft_csr_tls_ca(void **state)
{
	static const rp_key_type types[] = {RP_KEY_EC_P256, RP_KEY_EC_P384};
	size_t t;

	(void)state;
	for (t = 0; t < 2; t++) {
		soft_paths p;
		char name[32];
		rp_keystore_config cfg;
		rp_keystore *ks;

		snprintf(name, sizeof(name), "tls-%zu", t);
		cfg = soft_cfg(name, &p);
		ks = open_ok(&cfg);
		generate_ok(ks, types[t]);
		check_csr_and_tls(ks, "dev-soft");
		check_ca_signing(ks);
		check_threads(ks);
		rp_keystore_close(ks);
	}
}

/* Many soft keystores in one process (rampart-sim). */
static void test_soft_many(void **state)
{
	rp_keystore *ks[6];
	soft_paths p[6];
	size_t i;

	(void)state;
	for (i = 0; i < 6; i++) {
		char name[32];
		rp_keystore_config cfg;

		snprintf(name, sizeof(name), "sim-%zu", i);
		cfg = soft_cfg(name, &p[i]);
		ks[i] = open_ok(&cfg);
		generate_ok(ks[i], RP_KEY_EC_P256);
	}
	for (i = 0; i < 6; i++) {
		check_signing(ks[i]);
		rp_keystore_close(ks[i]);
	}
}

/* ---- pkcs11 ------------------------------------------------------------------ */

/* The "Private Key Object" block of pkcs11-tool's listing for label. */
static const char *p11_listing(const char *label, char *out, size_t cap)
{
	char pin[80];
	char *argv[] = {"pkcs11-tool", "--module", fx.hsm.module, "--token-label",  TOKEN,
			"--login",     "--pin",    pin,           "--list-objects", "--type",
			"privkey",     NULL};
	char needle[128];
	char *block, *next;
	int st;

	snprintf(pin, sizeof(pin), "%s", TOKEN_PIN);
	st = softhsm_run(argv, out, cap);
	if (st == 127) {
		fail_msg("pkcs11-tool not found (run scripts/bootstrap: opensc)");
	}
	assert_int_equal(st, 0);
	snprintf(needle, sizeof(needle), "  label:      %s\n", label);
	for (block = strstr(out, "Private Key Object;"); block != NULL; block = next) {
		next = strstr(block + 1, "Private Key Object;");
		if (next != NULL) {
			next[-1] = '\0';
		}
		if (strstr(block, needle) != NULL) {
			return block;
		}
	}
	fail_msg("no private key '%s' in the listing", label);
	return NULL;
}

/*
 * Asks the token itself, through the module this process has loaded (a
 * keystore on it MUST be open), to give out the private key labelled
 * label: its CKA_VALUE, then wrapped under a fresh AES key, then by
 * making it extractable. Returns 1 if the token refused all three, 0 if
 * any of them worked.
 */
static int token_refuses_export(const char *label)
{
	CK_C_GetFunctionList get_list = NULL;
	CK_FUNCTION_LIST_PTR fl = NULL;
	CK_SLOT_ID slots[8];
	CK_ULONG nslots = 8, i, n = 0, wrapped_len = 0;
	CK_TOKEN_INFO info;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE find[] = {{CKA_CLASS, &cls, sizeof(cls)},
			       {CKA_LABEL, (void *)(uintptr_t)label, strlen(label)}};
	CK_OBJECT_HANDLE key = CK_INVALID_HANDLE, aes = CK_INVALID_HANDLE;
	CK_BYTE value[512];
	CK_ATTRIBUTE get = {CKA_VALUE, value, sizeof(value)};
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG aes_len = 32;
	CK_ATTRIBUTE aes_tmpl[] = {{CKA_VALUE_LEN, &aes_len, sizeof(aes_len)},
				   {CKA_TOKEN, &no, sizeof(no)},
				   {CKA_WRAP, &yes, sizeof(yes)}};
	CK_MECHANISM aes_gen = {CKM_AES_KEY_GEN, NULL, 0};
	CK_MECHANISM wrap = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	CK_ATTRIBUTE set = {CKA_EXTRACTABLE, &yes, sizeof(yes)};
	void *dl = dlopen(fx.hsm.module, RTLD_NOW | RTLD_NOLOAD);
	void *sym;
	int refused = 0;
	CK_RV rv;

	assert_non_null(dl);
	sym = dlsym(dl, "C_GetFunctionList");
	assert_non_null(sym);
	memcpy(&get_list, &sym, sizeof(get_list));
	assert_int_equal(get_list(&fl), CKR_OK);
	assert_int_equal(fl->C_GetSlotList(CK_TRUE, slots, &nslots), CKR_OK);
	for (i = 0; i < nslots; i++) {
		assert_int_equal(fl->C_GetTokenInfo(slots[i], &info), CKR_OK);
		if (memcmp(info.label, TOKEN " ", strlen(TOKEN) + 1) == 0) {
			break;
		}
	}
	assert_true(i < nslots);
	assert_int_equal(
		fl->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s),
		CKR_OK);
	/* The keystore logged the token in; the login is the module's. */
	assert_int_equal(fl->C_FindObjectsInit(s, find, 2), CKR_OK);
	assert_int_equal(fl->C_FindObjects(s, &key, 1, &n), CKR_OK);
	fl->C_FindObjectsFinal(s);
	assert_int_equal(n, 1);

	rv = fl->C_GetAttributeValue(s, key, &get, 1);
	if (rv == CKR_ATTRIBUTE_SENSITIVE && get.ulValueLen == (CK_ULONG)-1) {
		refused++;
	}
	assert_int_equal(fl->C_GenerateKey(s, &aes_gen, aes_tmpl, 3, &aes), CKR_OK);
	wrapped_len = sizeof(value);
	rv = fl->C_WrapKey(s, &wrap, aes, key, value, &wrapped_len);
	if (rv == CKR_KEY_UNEXTRACTABLE) {
		refused++;
	}
	rv = fl->C_SetAttributeValue(s, key, &set, 1);
	if (rv != CKR_OK) {
		refused++;
	}
	fl->C_DestroyObject(s, aes);
	fl->C_CloseSession(s);
	dlclose(dl);
	return refused == 3;
}

static void test_p11_generate_reopen(void **state)
{
	uint8_t der1[RP_KEYSTORE_PUBKEY_MAX], der2[RP_KEYSTORE_PUBKEY_MAX];
	size_t len1 = 0, len2 = 0;
	rp_keystore_config c256 = p11_cfg("dev-p256"), c384 = p11_cfg("ca-p384");
	rp_keystore *a, *b, *a2;
	EVP_PKEY *pub;

	(void)state;
	a = open_ok(&c256);
	assert_string_equal(rp_keystore_backend(a), "pkcs11");
	check_empty(a);
	generate_ok(a, RP_KEY_EC_P256);
	check_signing(a);
	check_bad_args(a);
	pub = public_key(a, der1, &len1);
	EVP_PKEY_free(pub);

	/* A second keystore on the same token (root and issuing CA keys). */
	b = open_ok(&c384);
	check_empty(b);
	generate_ok(b, RP_KEY_EC_P384);
	check_signing(b);

	/* Never replaced: not by the same keystore, not through another one. */
	assert_int_equal(rp_keystore_generate(a, RP_KEY_EC_P256), RP_E_EXISTS);
	a2 = open_ok(&c256);
	assert_true(rp_keystore_has_key(a2));
	pub = public_key(a2, der2, &len2);
	EVP_PKEY_free(pub);
	assert_int_equal(len1, len2);
	assert_memory_equal(der1, der2, len1);
	assert_int_equal(rp_keystore_generate(a2, RP_KEY_EC_P384), RP_E_EXISTS);
	rp_keystore_close(a2);

	/* Closing one keystore leaves the others working (one module, shared). */
	rp_keystore_close(a);
	check_signing(b);
	rp_keystore_close(b);

	/* Everything closed, the module unloaded: reopened, the same key. */
	a = open_ok(&c256);
	assert_true(rp_keystore_has_key(a));
	assert_int_equal(rp_keystore_key_type(a), RP_KEY_EC_P256);
	pub = public_key(a, der2, &len2);
	EVP_PKEY_free(pub);
	assert_int_equal(len1, len2);
	assert_memory_equal(der1, der2, len1);
	check_signing(a);
	rp_keystore_close(a);
}

static void test_p11_label_race(void **state)
{
	rp_keystore_config cfg = p11_cfg("race");
	rp_keystore *x, *y;

	(void)state;
	/* Both open before either generates: the token is the referee. */
	x = open_ok(&cfg);
	y = open_ok(&cfg);
	generate_ok(x, RP_KEY_EC_P256);
	assert_int_equal(rp_keystore_generate(y, RP_KEY_EC_P256), RP_E_EXISTS);
	assert_non_null(strstr(rp_keystore_error(y), "race"));
	assert_false(rp_keystore_has_key(y));
	rp_keystore_close(y);
	rp_keystore_close(x);
}

static void test_p11_not_extractable(void **state)
{
	char out[16384];
	rp_keystore_config cfg = p11_cfg("secret-p256"), weak = p11_cfg("secret-p384");
	rp_keystore *ks, *ks2;
	const char *block;

	(void)state;
	ks = open_ok(&cfg);
	generate_ok(ks, RP_KEY_EC_P256);
	ks2 = open_ok(&weak);
	generate_ok(ks2, RP_KEY_EC_P384);

	/* What the token says about the keys, read by another program. */
	block = p11_listing("secret-p256", out, sizeof(out));
	assert_non_null(strstr(block, "Private Key Object; EC"));
	assert_non_null(
		strstr(block, "Access:     sensitive, always sensitive, never extractable"));
	assert_non_null(strstr(block, "Usage:      sign\n"));
	block = p11_listing("secret-p384", out, sizeof(out));
	assert_non_null(
		strstr(block, "Access:     sensitive, always sensitive, never extractable"));

	/* And what it does when asked for them. */
	assert_true(token_refuses_export("secret-p256"));
	assert_true(token_refuses_export("secret-p384"));
	rp_keystore_close(ks2);
	rp_keystore_close(ks);
}

static void test_p11_refuses_extractable_key(void **state)
{
	char out[4096];
	char pin[80], label[] = "weak";
	char *argv[] = {
		"pkcs11-tool",   "--module",      fx.hsm.module, "--token-label", TOKEN,
		"--login",       "--pin",         pin,           "--keypairgen",  "--key-type",
		"EC:prime256v1", "--label",       label,         "--id",          "77",
		"--usage-sign",  "--extractable", NULL};
	rp_keystore_config cfg = p11_cfg(label), good = p11_cfg("dev-p256");
	rp_keystore *ks;
	const char *why;
	int st;

	(void)state;
	snprintf(pin, sizeof(pin), "%s", TOKEN_PIN);
	st = softhsm_run(argv, out, sizeof(out));
	if (st != 0) {
		fail_msg("pkcs11-tool --keypairgen failed (%d): %s", st, out);
	}
	why = open_refused(&cfg, RP_E_CONFIG);
	assert_non_null(strstr(why, "extractable"));
	assert_non_null(strstr(why, label));
	/* The export check can fail: this key the token does give out. */
	ks = open_ok(&good);
	assert_false(token_refuses_export(label));
	rp_keystore_close(ks);
}

static void test_p11_refusals(void **state)
{
	char path[512], err[ERR_CAP];
	rp_keystore_config cfg = p11_cfg("dev-p256");
	rp_keystore *held, *other;
	const char *why;

	(void)state;
	/* Wrong PIN, with the module freshly loaded: the token says no. */
	assert_int_equal(softhsm_write_file(&fx.hsm, "wrong.pin", "999999\n", 0600), 0);
	cfg.pin_file = softhsm_path(&fx.hsm, "wrong.pin", path, sizeof(path));
	why = open_refused(&cfg, RP_E_AUTH);
	assert_non_null(strstr(why, "wrong PIN"));
	assert_non_null(strstr(why, TOKEN));
	assert_null(strstr(why, "999999"));

	/* Wrong PIN while another keystore keeps the token logged in: the
	 * token would not look at it, the keystore does. */
	cfg = p11_cfg("dev-p256");
	held = open_ok(&cfg);
	cfg.pin_file = path;
	why = open_refused(&cfg, RP_E_AUTH);
	assert_non_null(strstr(why, "not the PIN"));
	/* ... and the right PIN is still accepted. */
	cfg.pin_file = fx.hsm.pin_file;
	other = open_ok(&cfg);
	check_signing(other);
	rp_keystore_close(other);

	/* Unknown token label. */
	cfg = p11_cfg("dev-p256");
	cfg.token_label = "no-such-token";
	why = open_refused(&cfg, RP_E_NOT_FOUND);
	assert_non_null(strstr(why, "no-such-token"));

	/* A PIN file others can read. */
	assert_int_equal(softhsm_write_file(&fx.hsm, "open.pin", TOKEN_PIN "\n", 0644), 0);
	cfg = p11_cfg("dev-p256");
	cfg.pin_file = softhsm_path(&fx.hsm, "open.pin", path, sizeof(path));
	why = open_refused(&cfg, RP_E_CONFIG);
	assert_non_null(strstr(why, "group or others"));
	assert_null(strstr(why, TOKEN_PIN));

	/* No PIN file; no module; missing fields; fields of the other back end. */
	cfg = p11_cfg("dev-p256");
	cfg.pin_file = softhsm_path(&fx.hsm, "absent.pin", path, sizeof(path));
	open_refused(&cfg, RP_E_NOT_FOUND);
	cfg = p11_cfg("dev-p256");
	cfg.module = "/nonexistent/libnothing.so";
	why = open_refused(&cfg, RP_E_NOT_FOUND);
	assert_non_null(strstr(why, "/nonexistent/libnothing.so"));
	cfg = p11_cfg("dev-p256");
	cfg.module = fx.hsm.pin_file; /* exists, is not a library */
	open_refused(&cfg, RP_E_CONFIG);
	cfg = p11_cfg(NULL);
	open_refused(&cfg, RP_E_CONFIG);
	cfg = p11_cfg("dev-p256");
	cfg.key_file = "/tmp/x.key";
	open_refused(&cfg, RP_E_CONFIG);
	cfg = p11_cfg("dev-p256");
	cfg.token_label = "a-label-that-is-longer-than-32-bytes";
	open_refused(&cfg, RP_E_CONFIG);

	/* The second token of the module, with its own PIN. */
	assert_int_equal(softhsm_write_file(&fx.hsm, "other.pin", TOKEN2_PIN "\n", 0600), 0);
	cfg = p11_cfg("dev-p256");
	cfg.token_label = TOKEN2;
	cfg.pin_file = softhsm_path(&fx.hsm, "other.pin", path, sizeof(path));
	other = open_ok(&cfg);
	check_empty(other);
	generate_ok(other, RP_KEY_EC_P256);
	check_signing(other);
	rp_keystore_close(other);
	cfg.pin_file = fx.hsm.pin_file; /* the first token's PIN */
	assert_int_equal(rp_keystore_open(&cfg, &other, err, sizeof(err)), RP_E_AUTH);
	assert_null(other);
	rp_keystore_close(held);
}

static void test_p11_csr_tls_ca(void **state)
{
	rp_keystore_config c256 = p11_cfg("tls-p256"), c384 = p11_cfg("tls-p384");
	rp_keystore *a, *b;

	(void)state;
	a = open_ok(&c256);
	generate_ok(a, RP_KEY_EC_P256);
	b = open_ok(&c384);
	generate_ok(b, RP_KEY_EC_P384);
	check_csr_and_tls(a, "dev-hsm");
	check_csr_and_tls(b, "dev-hsm-384");
	check_ca_signing(a);
	check_ca_signing(b);
	check_threads(a);
	rp_keystore_close(b);
	rp_keystore_close(a);
}

/* ---- main -------------------------------------------------------------------- */

static int group_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	testpki_spec ca = {.cn = "Keystore Test CA", .ca = 1};
	testpki_spec other = {.cn = "Other CA", .ca = 1};
	testpki_spec server = {.cn = "localhost", .san = "DNS:localhost", .server = 1};
	char why[512];

	(void)state;
	memset(&fx, 0, sizeof(fx));
	snprintf(fx.dir, sizeof(fx.dir), "%s/rp-keystore-XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(fx.dir) == NULL) {
		fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	if (softhsm_start(&fx.hsm, TOKEN, TOKEN_PIN, why, sizeof(why)) != 0 ||
	    softhsm_add_token(&fx.hsm, TOKEN2, TOKEN2_PIN, why, sizeof(why)) != 0) {
		fprintf(stderr, "softhsm: %s\n", why);
		return -1;
	}
	if (testpki_issue(&fx.ca, &ca, NULL) != 0 ||
	    testpki_issue(&fx.other_ca, &other, NULL) != 0 ||
	    testpki_issue(&fx.server, &server, &fx.ca) != 0) {
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	struct dirent *de;
	char path[600];
	DIR *d;

	(void)state;
	testpki_id_free(&fx.ca);
	testpki_id_free(&fx.other_ca);
	testpki_id_free(&fx.server);
	softhsm_stop(&fx.hsm);
	d = opendir(fx.dir);
	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
				snprintf(path, sizeof(path), "%s/%s", fx.dir, de->d_name);
				unlink(path);
			}
		}
		closedir(d);
	}
	rmdir(fx.dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_soft_generate_reopen),
		cmocka_unit_test(test_soft_never_replaces),
		cmocka_unit_test(test_soft_operator_passphrase),
		cmocka_unit_test(test_soft_refusals),
		cmocka_unit_test(test_soft_csr_tls_ca),
		cmocka_unit_test(test_soft_many),
		cmocka_unit_test(test_p11_generate_reopen),
		cmocka_unit_test(test_p11_label_race),
		cmocka_unit_test(test_p11_not_extractable),
		cmocka_unit_test(test_p11_refuses_extractable_key),
		cmocka_unit_test(test_p11_refusals),
		cmocka_unit_test(test_p11_csr_tls_ca),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
