/*
 * test_pki_tls.c - certificates of server/pki, as rampartd's TLS layer
 * (server/net/tls.c) and the openssl command line see them.
 *
 * The setup plays `rampart init` and one EST enrollment with the engine
 * only: root (P-384) -> issuing CA (P-256) -> server certificate and key
 * file, the CA bundle, a CRL from each CA, and a device enrolled from a
 * base64 CSR whose certificate travels back inside the certs-only PKCS#7.
 * Then a real rp_tls_ctx (X509_V_FLAG_X509_STRICT, CRLs of the whole
 * chain) takes handshakes from an OpenSSL client over a socketpair, and
 * rp_tls_peer_identity() must name the device exactly; a revoked device is
 * refused. This is the check that tls.c reads the new SAN URI as "a device,
 * no role" and agrees with rp_pki_cert_serial_hex()/sha256_hex().
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/ssl.h>

#include "net/tls.h"
#include "net/transport.h"
#include "pki/internal.h"
#include "pki/pki.h"

static const char PASS[] = "another long test passphrase";

static struct {
	char dir[256];
	int64_t now;
	EVP_PKEY *root_key, *iss_key, *srv_key, *dev_key, *rev_key;
	X509 *root, *iss, *srv, *dev, *rev;
	rp_pki_signer *root_s, *iss_s;
} F;

static const char *path_of(const char *name)
{
	static char buf[4][512];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", F.dir, name);
	return buf[k];
}

/* Writes n bytes to a new file (0644). */
static void write_file(const char *name, const uint8_t *p, size_t n, int append)
{
	FILE *f = fopen(path_of(name), append ? "a" : "w");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static void write_pem_cert(const char *name, X509 *x, int append)
{
	uint8_t buf[4096];
	size_t n = 0;

	assert_int_equal(rp_pki_cert_encode(x, RP_PKI_PEM, buf, sizeof(buf), &n), RP_OK);
	write_file(name, buf, n, append);
}

static void write_pem_crl(const char *name, X509_CRL *crl, int append)
{
	uint8_t buf[8192];
	size_t n = 0;

	assert_int_equal(rp_pki_crl_encode(crl, RP_PKI_PEM, buf, sizeof(buf), &n), RP_OK);
	write_file(name, buf, n, append);
}

/*
 * One EST enrollment: the device's CSR as EST sends it (base64, CRLF
 * lines), through the gate, issued, wrapped in the certs-only PKCS#7 as
 * base64, and unwrapped again as a client would.
 */
static X509 *enroll(EVP_PKEY *key, const char *id)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *nm = X509_NAME_new();
	rp_pki_device_profile prof = {"test-fleet", 0};
	rp_pki_reject rej = RP_PKI_R_INTERNAL;
	rp_pki_csr *csr = NULL;
	uint8_t *der = NULL, b64[4096], p7text[8192], p7der[8192];
	size_t b64_len, n = 0, m = 0;
	const unsigned char *p;
	PKCS7 *p7;
	X509 *x = NULL, *got;
	int len;

	assert_int_equal(X509_NAME_add_entry_by_NID(nm, NID_commonName, MBSTRING_UTF8,
						    (const unsigned char *)id, -1, -1, 0),
			 1);
	assert_int_equal(X509_REQ_set_subject_name(req, nm), 1);
	assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
	assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
	len = i2d_X509_REQ(req, &der);
	assert_true(len > 0);
	b64_len = rp__pki_b64_encode(der, (size_t)len, b64);
	assert_int_equal(rp_pki_csr_parse(b64, b64_len, RP_PKI_CSR_BASE64, id, &csr, &rej), RP_OK);
	assert_int_equal(rp_pki_device_cert_new(F.iss_s, csr, &prof, F.now, &x, NULL), RP_OK);
	assert_int_equal(rp_pki_est_certs_base64(&x, 1, p7text, sizeof(p7text), &n), RP_OK);
	assert_int_equal(rp__pki_b64_decode(p7text, n, p7der, sizeof(p7der), &m), RP_OK);
	p = p7der;
	p7 = d2i_PKCS7(NULL, &p, (long)m);
	assert_non_null(p7);
	assert_int_equal(sk_X509_num(p7->d.sign->cert), 1);
	got = sk_X509_value(p7->d.sign->cert, 0);
	assert_int_equal(X509_cmp(got, x), 0);
	assert_int_equal(X509_up_ref(got), 1);
	PKCS7_free(p7);
	X509_free(x);
	rp_pki_csr_free(csr);
	OPENSSL_free(der);
	X509_NAME_free(nm);
	X509_REQ_free(req);
	return got;
}

/* ---- the TLS pair (as test_tls.c, trimmed) ------------------------------------------------------
 */

typedef struct pair {
	int fd[2];
	rp_tls_conn *s;
	SSL_CTX *cctx;
	SSL *c;
	rp_status sst;
	int cst;
} pair;

static rp_tls_ctx *server_ctx(void)
{
	rp_tls_opts o;
	rp_tls_ctx *ctx = NULL;
	char err[256] = "";
	rp_status st;

	memset(&o, 0, sizeof(o));
	o.cert_file = path_of("server.crt");
	o.key_file = path_of("server.key");
	o.ca_file = path_of("ca-bundle.crt");
	o.crl_file = path_of("crl.pem");
	st = rp_tls_ctx_new(&o, &ctx, err, sizeof(err));
	if (st != RP_OK) {
		print_error("rp_tls_ctx_new: %s (%s)\n", rp_status_str(st), err);
	}
	assert_int_equal(st, RP_OK);
	return ctx;
}

static void nonblock(int fd)
{
	assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

/* A device client: trusts the fleet root only, sends its certificate and
 * the issuing CA, checks the server's name. */
static void pair_open(pair *p, rp_tls_ctx *ctx, X509 *cert, EVP_PKEY *key)
{
	X509_STORE *store;

	memset(p, 0, sizeof(*p));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p->fd), 0);
	nonblock(p->fd[0]);
	nonblock(p->fd[1]);
	p->s = rp_tls_conn_new(ctx, p->fd[0]);
	assert_non_null(p->s);
	p->cctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(p->cctx);
	store = SSL_CTX_get_cert_store(p->cctx);
	assert_int_equal(X509_STORE_add_cert(store, F.root), 1);
	X509_STORE_set_flags(store, X509_V_FLAG_X509_STRICT);
	SSL_CTX_set_verify(p->cctx, SSL_VERIFY_PEER, NULL);
	assert_int_equal(SSL_CTX_use_certificate(p->cctx, cert), 1);
	assert_int_equal(SSL_CTX_add1_chain_cert(p->cctx, F.iss), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(p->cctx, key), 1);
	p->c = SSL_new(p->cctx);
	assert_non_null(p->c);
	assert_int_equal(SSL_set_fd(p->c, p->fd[1]), 1);
	assert_int_equal(SSL_set1_host(p->c, "localhost"), 1);
	assert_int_equal(SSL_set_tlsext_host_name(p->c, "localhost"), 1);
	SSL_set_connect_state(p->c);
	p->sst = RP_NEED_MORE;
}

static void pump(pair *p)
{
	int i;

	for (i = 0; i < 200 && (p->sst == RP_NEED_MORE || p->cst == 0); i++) {
		if (p->sst == RP_NEED_MORE) {
			p->sst = rp_tls_handshake(p->s);
		}
		if (p->cst == 0) {
			int r = SSL_do_handshake(p->c);

			if (r == 1) {
				p->cst = 1;
			} else {
				int e = SSL_get_error(p->c, r);

				if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
					p->cst = -1;
				}
			}
		}
	}
	ERR_clear_error();
}

static void pair_close(pair *p)
{
	rp_tls_conn_free(p->s);
	SSL_free(p->c);
	SSL_CTX_free(p->cctx);
	close(p->fd[0]);
	close(p->fd[1]);
	ERR_clear_error();
}

/* ---- tests
 * ---------------------------------------------------------------------------------------- */

static void test_device_identity_in_rampartd(void **state)
{
	rp_tls_ctx *ctx = server_ctx();
	rp_peer_identity id;
	char sn[RP_PKI_SERIAL_HEX_SIZE], fp[RP_PKI_SHA256_HEX_SIZE];
	pair p;

	(void)state;
	pair_open(&p, ctx, F.dev, F.dev_key);
	pump(&p);
	if (p.sst != RP_OK) {
		print_error("server: %s (%s)\n", rp_status_str(p.sst), rp_tls_last_error(p.s));
	}
	assert_int_equal(p.sst, RP_OK);
	assert_int_equal(p.cst, 1);
	/* The device verified our server certificate (root only, strict,
	 * host name). */
	assert_int_equal(SSL_get_verify_result(p.c), X509_V_OK);
	assert_int_equal(rp_tls_peer_identity(p.s, &id), RP_OK);
	assert_string_equal(id.device_id, "dev-0001");
	assert_string_equal(id.role, "device");
	assert_int_equal(id.is_service, 0);
	assert_int_equal(rp_pki_cert_serial_hex(F.dev, sn, sizeof(sn)), RP_OK);
	assert_string_equal(id.serial_hex, sn);
	assert_int_equal(rp_pki_cert_sha256_hex(F.dev, fp, sizeof(fp)), RP_OK);
	assert_string_equal(id.sha256_hex, fp);
	assert_int_equal(id.not_after, F.now + 30 * 86400);
	/* And the id passes rampartd's own id rules. */
	assert_int_equal(rp_tls_check_device_id(id.device_id, strlen(id.device_id)), RP_OK);
	pair_close(&p);
	rp_tls_ctx_unref(ctx);
}

static void test_revoked_device_refused(void **state)
{
	rp_tls_ctx *ctx = server_ctx();
	pair p;

	(void)state;
	pair_open(&p, ctx, F.rev, F.rev_key);
	pump(&p);
	assert_int_equal(p.sst, RP_E_AUTH);
	assert_string_equal(rp_tls_last_error(p.s), "certificate revoked");
	pair_close(&p);
	rp_tls_ctx_unref(ctx);
}

/* The openssl command line agrees (skipped if there is none). */
static int run(const char *cmd, char *out, size_t cap)
{
	FILE *f = popen(cmd, "r");
	size_t n = 0;
	int rc;

	if (f == NULL) {
		return -1;
	}
	n = fread(out, 1, cap - 1, f);
	out[n] = '\0';
	rc = pclose(f);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_openssl_cli_agrees(void **state)
{
	char cmd[2048], out[4096];

	(void)state;
	if (run("openssl version 2>/dev/null", out, sizeof(out)) != 0) {
		skip();
	}
	snprintf(cmd, sizeof(cmd),
		 "openssl verify -x509_strict -purpose sslclient -CAfile %s -untrusted %s %s 2>&1",
		 path_of("root.crt"), path_of("issuing.crt"), path_of("dev.crt"));
	assert_int_equal(run(cmd, out, sizeof(out)), 0);
	assert_non_null(strstr(out, ": OK"));
	snprintf(cmd, sizeof(cmd),
		 "openssl verify -x509_strict -purpose sslserver -CAfile %s -untrusted %s %s 2>&1",
		 path_of("root.crt"), path_of("issuing.crt"), path_of("server-leaf.crt"));
	assert_int_equal(run(cmd, out, sizeof(out)), 0);
	/* With the CRLs of both CAs: dev fine, rev revoked. */
	snprintf(cmd, sizeof(cmd),
		 "openssl verify -x509_strict -crl_check_all -CRLfile %s -CAfile %s -untrusted %s "
		 "%s 2>&1",
		 path_of("crl.pem"), path_of("root.crt"), path_of("issuing.crt"),
		 path_of("dev.crt"));
	assert_int_equal(run(cmd, out, sizeof(out)), 0);
	snprintf(cmd, sizeof(cmd),
		 "openssl verify -x509_strict -crl_check_all -CRLfile %s -CAfile %s -untrusted %s "
		 "%s 2>&1",
		 path_of("crl.pem"), path_of("root.crt"), path_of("issuing.crt"),
		 path_of("rev.crt"));
	assert_int_not_equal(run(cmd, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "certificate revoked"));
	/* The encrypted key file: scrypt, AES-256-CBC, and the passphrase opens it. */
	snprintf(cmd, sizeof(cmd), "openssl asn1parse -in %s 2>&1", path_of("issuing.key"));
	assert_int_equal(run(cmd, out, sizeof(out)), 0);
	assert_non_null(strstr(out, ":PBES2"));
	assert_non_null(strstr(out, ":scrypt"));
	assert_non_null(strstr(out, "INTEGER           :4000")); /* N = 2^14 */
	assert_non_null(strstr(out, "aes-256-cbc"));
	snprintf(cmd, sizeof(cmd), "openssl pkey -in %s -passin pass:'%s' -noout 2>&1",
		 path_of("issuing.key"), PASS);
	assert_int_equal(run(cmd, out, sizeof(out)), 0);
	/* The EST /cacerts body as curl would save it, read by openssl pkcs7. */
	snprintf(cmd, sizeof(cmd),
		 "openssl base64 -d -in %s | openssl pkcs7 -inform DER -print_certs -noout 2>&1",
		 path_of("cacerts.b64"));
	assert_int_equal(run(cmd, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "Rampart Test Issuing CA"));
	assert_non_null(strstr(out, "Rampart Test Root"));
}

/* ---- setup
 * ---------------------------------------------------------------------------------------- */

static void rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[600];

	if (d == NULL) {
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p);
		}
	}
	closedir(d);
	rmdir(dir);
}

static int setup(void **state)
{
	rp_pki_ca_profile root = {"Rampart Test Root", "Rampart Test", 0};
	rp_pki_ca_profile iss = {"Rampart Test Issuing CA", "Rampart Test", 0};
	const char *dns[] = {"localhost"};
	const char *ip[] = {"127.0.0.1"};
	rp_pki_server_profile sp = {NULL, dns, 1, ip, 1, 0};
	char sn[RP_PKI_SERIAL_HEX_SIZE];
	rp_pki_revoked r;
	X509_CRL *crl_root = NULL, *crl_iss = NULL;
	X509 *cacerts[2];
	uint8_t b64[8192];
	size_t n = 0;
	const char *tmp = getenv("TMPDIR");

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	snprintf(F.dir, sizeof(F.dir), "%s/rp-pki-tls-XXXXXX", tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(F.dir) == NULL) {
		return -1;
	}
	F.now = (int64_t)time(NULL);
	/* rampart init. */
	if (rp_pki_key_generate(RP_PKI_EC_P384, &F.root_key) != RP_OK ||
	    rp_pki_key_generate(RP_PKI_EC_P256, &F.iss_key) != RP_OK ||
	    rp_pki_key_generate(RP_PKI_EC_P256, &F.srv_key) != RP_OK ||
	    rp_pki_root_ca_new(F.root_key, &root, F.now, &F.root, NULL) != RP_OK ||
	    rp_pki_signer_new(F.root, F.root_key, &F.root_s, NULL) != RP_OK ||
	    rp_pki_issuing_ca_new(F.root_s, F.iss_key, &iss, F.now, &F.iss, NULL) != RP_OK ||
	    rp_pki_signer_new(F.iss, F.iss_key, &F.iss_s, NULL) != RP_OK ||
	    rp_pki_server_cert_new(F.iss_s, F.srv_key, &sp, F.now, &F.srv, NULL) != RP_OK ||
	    rp_pki_key_save_unencrypted(path_of("server.key"), F.srv_key, NULL) != RP_OK ||
	    rp_pki_key_save(path_of("issuing.key"), F.iss_key, PASS, strlen(PASS), NULL) != RP_OK) {
		return -1;
	}
	write_pem_cert("server.crt", F.srv, 0); /* chain: leaf, issuing CA */
	write_pem_cert("server.crt", F.iss, 1);
	write_pem_cert("server-leaf.crt", F.srv, 0);
	write_pem_cert("ca-bundle.crt", F.root, 0);
	write_pem_cert("ca-bundle.crt", F.iss, 1);
	write_pem_cert("root.crt", F.root, 0);
	write_pem_cert("issuing.crt", F.iss, 0);
	cacerts[0] = F.iss;
	cacerts[1] = F.root;
	if (rp_pki_est_certs_base64(cacerts, 2, b64, sizeof(b64), &n) != RP_OK) {
		return -1;
	}
	write_file("cacerts.b64", b64, n, 0);
	/* Two devices enroll; one is revoked. */
	if (rp_pki_key_generate(RP_PKI_EC_P256, &F.dev_key) != RP_OK ||
	    rp_pki_key_generate(RP_PKI_EC_P256, &F.rev_key) != RP_OK) {
		return -1;
	}
	F.dev = enroll(F.dev_key, "dev-0001");
	F.rev = enroll(F.rev_key, "dev-0666");
	write_pem_cert("dev.crt", F.dev, 0);
	write_pem_cert("rev.crt", F.rev, 0);
	if (rp_pki_cert_serial_hex(F.rev, sn, sizeof(sn)) != RP_OK) {
		return -1;
	}
	r.serial_hex = sn;
	r.revoked_at = F.now - 10;
	r.reason = RP_PKI_REASON_KEY_COMPROMISE;
	if (rp_pki_crl_new(F.root_s, NULL, 0, 1, F.now, 0, &crl_root, NULL) != RP_OK ||
	    rp_pki_crl_new(F.iss_s, &r, 1, 7, F.now, 0, &crl_iss, NULL) != RP_OK) {
		return -1;
	}
	write_pem_crl("crl.pem", crl_root, 0);
	write_pem_crl("crl.pem", crl_iss, 1);
	X509_CRL_free(crl_root);
	X509_CRL_free(crl_iss);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rp_pki_signer_free(F.root_s);
	rp_pki_signer_free(F.iss_s);
	X509_free(F.root);
	X509_free(F.iss);
	X509_free(F.srv);
	X509_free(F.dev);
	X509_free(F.rev);
	EVP_PKEY_free(F.root_key);
	EVP_PKEY_free(F.iss_key);
	EVP_PKEY_free(F.srv_key);
	EVP_PKEY_free(F.dev_key);
	EVP_PKEY_free(F.rev_key);
	rm_tree(F.dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_device_identity_in_rampartd),
		cmocka_unit_test(test_revoked_device_refused),
		cmocka_unit_test(test_openssl_cli_agrees),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
