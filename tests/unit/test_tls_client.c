/*
 * test_tls_client.c - the device's TLS client (device/tls, rampart/tls_client.h).
 *
 * The group setup makes a fleet PKI at run time (tests/support/testpki)
 * plus the server certificates the refusals need: one from another CA,
 * one expired, one without subjectAltName. Each test starts a real
 * OpenSSL server on 127.0.0.1 port 0 in a thread (TLS 1.3, client
 * certificates required and verified against the fleet CA, echoing what
 * it reads; its socket and context from tests/support/tlssrv.h), and
 * connects to it with rp_tlsc_connect().
 *
 * test_keystore_pkcs11_key takes the client key from the keystore
 * (rampart/keystore.h) with a SoftHSM2 token (tests/support/softhsm), as a
 * device with a token does.
 *
 * Each refusal asserts the status, the operator's sentence, and that the
 * server never completed its handshake nor received one application byte;
 * the positive tests take the same paths with the right certificate or
 * name, so none of the refusals can pass with verification switched off.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "rampart/keystore.h"
#include "rampart/tls_client.h"
#include "softhsm.h"
#include "testpki.h"
#include "tlssrv.h"

static testpki_fleet F;
static testpki_id other_server, expired_server, nosan_server, wrong_key;

static const char *P(const char *file)
{
	static char buf[8][512];
	static unsigned next;
	char *b = buf[next++ % 8u];

	assert_non_null(testpki_path(&F, file, b, sizeof(buf[0])));
	return b;
}

/* ---- a real TLS server in a thread -------------------------------------- */

typedef struct srv {
	/* set by the test */
	const testpki_id *id; /* server certificate and key */
	int tls12_only;
	int silent;                  /* accept TCP, never answer */
	int hangup;                  /* close the socket right after the handshake */
	const testpki_id *client_ca; /* NULL: the fleet CA */
	/* results */
	int lfd;
	uint16_t port;
	pthread_t thread;
	atomic_int handshake_ok; /* 1 ok, -1 failed, 0 not yet */
	atomic_size_t app_bytes;
	char peer_cn[64];
	uint8_t cb[32];
	int cb_ok;
} srv;

static void *srv_main(void *arg)
{
	srv *s = arg;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	uint8_t buf[4096];
	int fd;

	/* This thread is the test's server: a SIGPIPE here stays pending and
	 * write() fails with EPIPE. The client under test runs in the main
	 * thread, where SIGPIPE still kills the process. */
	tlssrv_block_sigpipe();
	fd = tlssrv_accept(s->lfd, 5000);
	if (fd < 0) {
		goto out;
	}
	if (s->silent) {
		(void)read(fd, buf, sizeof(buf)); /* the ClientHello, then nothing */
		sleep(1);
		goto out;
	}
	ctx = tlssrv_ctx(s->id, s->client_ca != NULL ? s->client_ca : &F.ca);
	if (ctx == NULL) {
		goto out;
	}
	if (s->tls12_only) {
		SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	}
	ssl = tlssrv_handshake(ctx, fd);
	if (ssl == NULL) {
		atomic_store(&s->handshake_ok, -1);
		/* Anything the client sends now is not application data. */
		goto out;
	}
	atomic_store(&s->handshake_ok, 1);
	if (SSL_get0_peer_certificate(ssl) != NULL) {
		X509_NAME_get_text_by_NID(X509_get_subject_name(SSL_get0_peer_certificate(ssl)),
					  NID_commonName, s->peer_cn, sizeof(s->peer_cn));
	}
	s->cb_ok = SSL_export_keying_material(ssl, s->cb, sizeof(s->cb), "EXPORTER-Channel-Binding",
					      24, NULL, 0, 0) == 1;
	if (s->hangup) {
		goto out; /* no close_notify: the socket just goes away */
	}
	for (;;) {
		size_t n = 0, w = 0;

		if (SSL_read_ex(ssl, buf, sizeof(buf), &n) != 1) {
			break;
		}
		atomic_fetch_add(&s->app_bytes, n);
		if (SSL_write_ex(ssl, buf, n, &w) != 1) {
			break;
		}
	}
out:
	if (atomic_load(&s->handshake_ok) == 0) {
		atomic_store(&s->handshake_ok, -1);
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (fd >= 0) {
		close(fd);
	}
	ERR_clear_error();
	return NULL;
}

static void srv_start(srv *s)
{
	s->lfd = tlssrv_listen(&s->port);
	assert_true(s->lfd >= 0);
	assert_int_equal(pthread_create(&s->thread, NULL, srv_main, s), 0);
}

static void srv_stop(srv *s)
{
	assert_int_equal(pthread_join(s->thread, NULL), 0);
	close(s->lfd);
}

/* ---- helpers -------------------------------------------------------------- */

/* The device's context: dev-0001's certificate, its key an EVP_PKEY as the
 * keystore gives it. */
static rp_tlsc_ctx *device_ctx(void)
{
	rp_tlsc_ctx *ctx = tlssrv_device_ctx(&F);

	assert_non_null(ctx);
	return ctx;
}

/* Connects to a fresh server with certificate id; returns the status. */
static rp_status try_connect(srv *s, const testpki_id *id, const char *name, char *err,
			     size_t errcap, rp_tlsc **out)
{
	rp_tlsc_ctx *ctx = device_ctx();
	rp_status st;

	s->id = id;
	srv_start(s);
	st = rp_tlsc_connect(ctx, "127.0.0.1", s->port, name, 5000, out, err, errcap);
	rp_tlsc_ctx_free(ctx); /* the connection keeps its reference */
	return st;
}

static void assert_contains(const char *text, const char *needle)
{
	if (strstr(text, needle) == NULL) {
		print_error("\"%s\" does not contain \"%s\"\n", text, needle);
		fail();
	}
}

/* The refused connection left nothing at the server. */
static void assert_nothing_sent(srv *s)
{
	srv_stop(s);
	assert_int_equal(atomic_load(&s->handshake_ok), -1);
	assert_int_equal(atomic_load(&s->app_bytes), 0);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_connect_echo_binding(void **state)
{
	srv s = {0};
	rp_tlsc *c = NULL;
	char err[256];
	uint8_t buf[64], cb[RP_TLSC_CHANNEL_BINDING_LEN];
	size_t n = 0;

	(void)state;
	assert_int_equal(try_connect(&s, &F.server, "localhost", err, sizeof(err), &c), RP_OK);
	assert_non_null(c);
	assert_string_equal(rp_tlsc_error(c), "");
	assert_true(rp_tlsc_fd(c) >= 0);
	assert_non_null(rp_tlsc_ssl(c));
	assert_int_equal(SSL_version(rp_tlsc_ssl(c)), TLS1_3_VERSION);
	assert_int_equal(rp_tlsc_write_all(c, (const uint8_t *)"ping", 4, 2000), RP_OK);
	assert_int_equal(rp_tlsc_read_wait(c, buf, sizeof(buf), &n, 2000), RP_OK);
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(rp_tlsc_channel_binding(c, cb), RP_OK);
	rp_tlsc_close(c);
	srv_stop(&s);
	assert_int_equal(atomic_load(&s.handshake_ok), 1);
	assert_string_equal(s.peer_cn, "dev-0001"); /* mutual TLS with our key */
	assert_true(s.cb_ok);
	assert_memory_equal(cb, s.cb, sizeof(cb)); /* same channel on both ends */
}

static void test_ip_literal_name(void **state)
{
	srv s = {0};
	rp_tlsc *c = NULL;
	char err[256];

	(void)state;
	/* The certificate carries IP:127.0.0.1: checked as an address. */
	assert_int_equal(try_connect(&s, &F.server, "127.0.0.1", err, sizeof(err), &c), RP_OK);
	rp_tlsc_close(c);
	srv_stop(&s);
	assert_int_equal(atomic_load(&s.handshake_ok), 1);
}

/*
 * A connection to a fresh server with certificate id (TLS 1.2 at most if
 * tls12_only), the name checked against name: refused with want, no
 * connection, the error naming needle and needle2 (each NULL: not
 * checked), and nothing reached the server.
 */
static void refused(const testpki_id *id, const char *name, int tls12_only, rp_status want,
		    const char *needle, const char *needle2)
{
	srv s = {.tls12_only = tls12_only};
	rp_tlsc *c = NULL;
	char err[256];

	assert_int_equal(try_connect(&s, id, name, err, sizeof(err), &c), want);
	assert_null(c);
	if (needle != NULL) {
		assert_contains(err, needle);
	}
	if (needle2 != NULL) {
		assert_contains(err, needle2);
	}
	assert_nothing_sent(&s);
}

static void test_refuses_other_ca(void **state)
{
	(void)state;
	refused(&other_server, "localhost", 0, RP_E_AUTH,
		"server certificate does not chain to the fleet root", "127.0.0.1:");
}

static void test_refuses_wrong_name(void **state)
{
	(void)state;
	refused(&F.server, "rampart.example.com", 0, RP_E_AUTH, "server name mismatch",
		"rampart.example.com");
}

static void test_refuses_wrong_ip(void **state)
{
	(void)state;
	refused(&F.server, "10.1.2.3", 0, RP_E_AUTH, "server name mismatch", NULL);
}

static void test_refuses_cn_without_san(void **state)
{
	(void)state;
	/* CN=localhost but no subjectAltName: the subject is never checked. */
	refused(&nosan_server, "localhost", 0, RP_E_AUTH, "server name mismatch", NULL);
}

static void test_refuses_expired(void **state)
{
	(void)state;
	refused(&expired_server, "localhost", 0, RP_E_AUTH, "expired", NULL);
}

static void test_refuses_client_cert_server(void **state)
{
	(void)state;
	/* A certificate of the fleet, but for a client: purpose check. */
	refused(&F.device2, "localhost", 0, RP_E_AUTH, NULL, NULL);
}

static void test_tls12_server(void **state)
{
	(void)state;
	refused(&F.server, "localhost", 1, RP_E_PROTOCOL, "server does not speak TLS 1.3", NULL);
}

static void test_server_refuses_us(void **state)
{
	srv s = {0};
	rp_tlsc *c = NULL;
	char err[256];
	uint8_t buf[16];
	size_t n = 0;
	rp_status st;

	(void)state;
	s.client_ca = &F.other_ca; /* the server trusts another CA for clients */
	st = try_connect(&s, &F.server, "localhost", err, sizeof(err), &c);
	/* TLS 1.3: our side of the handshake is done before the server's
	 * verdict; the alert comes with the first read. */
	if (st == RP_OK) {
		st = rp_tlsc_read_wait(c, buf, sizeof(buf), &n, 3000);
		assert_int_equal(st, RP_E_DENIED);
		assert_contains(rp_tlsc_error(c), "server refused the client certificate");
		/* Sticky. */
		assert_int_equal(rp_tlsc_read(c, buf, sizeof(buf), &n), RP_E_DENIED);
		rp_tlsc_close(c);
	} else {
		assert_int_equal(st, RP_E_DENIED);
	}
	srv_stop(&s);
	assert_int_equal(atomic_load(&s.handshake_ok), -1);
}

static void test_peer_gone_no_sigpipe(void **state)
{
	srv s = {.hangup = 1};
	rp_tlsc *c = NULL;
	static uint8_t chunk[16384];
	char err[256];
	rp_status st = RP_OK;
	int i;

	(void)state;
	assert_int_equal(try_connect(&s, &F.server, "localhost", err, sizeof(err), &c), RP_OK);
	srv_stop(&s); /* the server's socket is closed */
	/* Writing into a reset connection: an error, never SIGPIPE (which
	 * would kill this process: it is not ignored here). */
	for (i = 0; i < 200 && st == RP_OK; i++) {
		st = rp_tlsc_write_all(c, chunk, sizeof(chunk), 2000);
	}
	assert_true(st == RP_E_IO || st == RP_E_CLOSED);
	assert_true(rp_tlsc_error(c)[0] != '\0');
	rp_tlsc_close(c);
}

static void test_connection_refused(void **state)
{
	rp_tlsc_ctx *ctx = device_ctx();
	rp_tlsc *c = NULL;
	char err[256];
	uint16_t port;

	(void)state;
	/* A port that was just free: bound, not listening, then closed. */
	assert_int_equal(tlssrv_unused_port(&port), 0);
	assert_int_equal(
		rp_tlsc_connect(ctx, "127.0.0.1", port, "localhost", 2000, &c, err, sizeof(err)),
		RP_E_IO);
	assert_null(c);
	assert_contains(err, "cannot connect");
	assert_contains(err, "refused");
	rp_tlsc_ctx_free(ctx);
}

static void test_handshake_timeout(void **state)
{
	srv s = {.silent = 1, .id = &F.server};
	rp_tlsc_ctx *ctx = device_ctx();
	rp_tlsc *c = NULL;
	char err[256];

	(void)state;
	srv_start(&s);
	assert_int_equal(
		rp_tlsc_connect(ctx, "127.0.0.1", s.port, "localhost", 300, &c, err, sizeof(err)),
		RP_E_TIMEOUT);
	assert_null(c);
	assert_contains(err, "TLS handshake timed out");
	rp_tlsc_ctx_free(ctx);
	srv_stop(&s);
}

static void test_nonblocking_steps(void **state)
{
	srv s = {.id = &F.server};
	rp_tlsc_ctx *ctx = device_ctx();
	rp_tlsc *c = NULL;
	char err[256];
	uint8_t buf[RP_TLSC_CHANNEL_BINDING_LEN];
	size_t n = 0;
	rp_status st;
	int rounds = 0;

	(void)state;
	srv_start(&s);
	assert_int_equal(rp_tlsc_start(ctx, "127.0.0.1", s.port, "localhost", &c, err, sizeof(err)),
			 RP_OK);
	/* Before the handshake: no data, no binding. */
	assert_int_equal(rp_tlsc_read(c, buf, sizeof(buf), &n), RP_E_STATE);
	assert_int_equal(rp_tlsc_channel_binding(c, buf), RP_E_STATE);
	while ((st = rp_tlsc_handshake(c)) == RP_NEED_MORE) {
		struct pollfd p = {.fd = rp_tlsc_fd(c), .events = rp_tlsc_events(c)};

		assert_true(p.events == POLLIN || p.events == POLLOUT);
		assert_true(poll(&p, 1, 2000) >= 0);
		assert_true(++rounds < 100);
	}
	assert_int_equal(st, RP_OK);
	/* How many rounds it waited depends on the scheduler (a loaded machine
	 * can have the server's answer there before the client asks): the loop
	 * above checked the non-blocking contract on each round it had. */
	assert_int_equal(rp_tlsc_read(c, buf, sizeof(buf), &n), RP_NEED_MORE);
	assert_int_equal(rp_tlsc_events(c), POLLIN);
	rp_tlsc_close(c);
	rp_tlsc_ctx_free(ctx);
	srv_stop(&s);
}

static void test_x509_objects(void **state)
{
	rp_tlsc_config cfg;
	rp_tlsc_ctx *ctx = NULL;
	rp_tlsc *c = NULL;
	srv s = {.id = &F.server};
	char err[256];

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.ca_file = P("ca.crt");
	cfg.cert = F.device2.cert;
	cfg.key = F.device2.key;
	assert_int_equal(rp_tlsc_ctx_new(&cfg, &ctx, err, sizeof(err)), RP_OK);
	srv_start(&s);
	assert_int_equal(
		rp_tlsc_connect(ctx, "localhost", s.port, NULL, 3000, &c, err, sizeof(err)), RP_OK);
	rp_tlsc_close(c);
	rp_tlsc_ctx_free(ctx);
	srv_stop(&s);
	assert_string_equal(s.peer_cn, "dev-0002");
}

static void test_config_refusals(void **state)
{
	rp_tlsc_config cfg;
	rp_tlsc_ctx *ctx = NULL;
	char err[256];
	rp_tlsc *c = NULL;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(rp_tlsc_ctx_new(&cfg, &ctx, err, sizeof(err)), RP_E_INVALID_ARG);
	assert_int_equal(rp_tlsc_ctx_new(NULL, &ctx, err, sizeof(err)), RP_E_INVALID_ARG);

	/* A leaf as trust anchor: refused, only CAs. */
	cfg.ca_file = P("server.crt");
	assert_int_equal(rp_tlsc_ctx_new(&cfg, &ctx, err, sizeof(err)), RP_E_CONFIG);
	assert_null(ctx);
	assert_contains(err, "not a CA certificate");

	cfg.ca_file = P("no-such-file.crt");
	assert_int_equal(rp_tlsc_ctx_new(&cfg, &ctx, err, sizeof(err)), RP_E_CONFIG);
	assert_contains(err, "cannot read");

	/* A key file is not a certificate file. */
	cfg.ca_file = P("dev-0001.key");
	assert_int_equal(rp_tlsc_ctx_new(&cfg, &ctx, err, sizeof(err)), RP_E_CONFIG);

	/* A key that is not the certificate's. */
	cfg.ca_file = P("ca.crt");
	cfg.cert_file = P("dev-0001.crt");
	cfg.key = wrong_key.key;
	assert_int_equal(rp_tlsc_ctx_new(&cfg, &ctx, err, sizeof(err)), RP_E_CONFIG);
	assert_contains(err, "does not match");

	/* A certificate without a key, both forms at once. */
	cfg.key = NULL;
	assert_int_equal(rp_tlsc_ctx_new(&cfg, &ctx, err, sizeof(err)), RP_E_INVALID_ARG);
	cfg.key = F.device.key;
	cfg.cert = F.device.cert;
	assert_int_equal(rp_tlsc_ctx_new(&cfg, &ctx, err, sizeof(err)), RP_E_INVALID_ARG);
	cfg.cert = NULL;
	assert_int_equal(rp_tlsc_ctx_new(&cfg, &ctx, err, sizeof(err)), RP_OK);

	/* Names that are neither DNS names nor addresses; no port. */
	assert_int_equal(rp_tlsc_start(ctx, "127.0.0.1", 8883, "bad name", &c, err, sizeof(err)),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp_tlsc_start(ctx, "127.0.0.1", 8883, "a/b", &c, err, sizeof(err)),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp_tlsc_start(ctx, "127.0.0.1", 0, NULL, &c, err, sizeof(err)),
			 RP_E_INVALID_ARG);
	assert_int_equal(
		rp_tlsc_start(ctx, "no-such-host.invalid", 8883, NULL, &c, err, sizeof(err)),
		RP_E_NOT_FOUND);
	assert_null(c);
	assert_contains(err, "cannot resolve");
	rp_tlsc_ctx_free(ctx);

	/* NULL-safe accessors. */
	assert_int_equal(rp_tlsc_fd(NULL), -1);
	assert_string_equal(rp_tlsc_error(NULL), "");
	assert_null(rp_tlsc_ssl(NULL));
	rp_tlsc_close(NULL);
	rp_tlsc_ctx_free(NULL);
}

/* A device certificate from the fleet CA for a public key made elsewhere. */
static X509 *issue_for(EVP_PKEY *pub, const char *cn)
{
	static const struct {
		int nid;
		const char *value;
	} ext[] = {
		{NID_basic_constraints, "critical,CA:FALSE"},
		{NID_key_usage, "critical,digitalSignature"},
		{NID_ext_key_usage, "clientAuth"},
		{NID_subject_key_identifier, "hash"},
		{NID_authority_key_identifier, "keyid:always"},
	};
	X509 *x = X509_new();
	X509V3_CTX v3;
	size_t i;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 4242), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_int_equal(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
						    (const unsigned char *)cn, -1, -1, 0),
			 1);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(F.ca.cert)), 1);
	assert_int_equal(X509_set_pubkey(x, pub), 1);
	X509V3_set_ctx(&v3, F.ca.cert, x, NULL, NULL, 0);
	for (i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, ext[i].nid, ext[i].value);

		assert_non_null(e);
		assert_int_equal(X509_add_ext(x, e, -1), 1);
		X509_EXTENSION_free(e);
	}
	assert_true(X509_sign(x, F.ca.key, EVP_sha256()) > 0);
	return x;
}

/*
 * The keystore's key, unchanged: a P-256 key generated inside a SoftHSM2
 * token (never extractable), its EVP_PKEY from rp_keystore_pkey(), a
 * certificate for it, and a mutual TLS connection the server verifies.
 */
static void test_keystore_pkcs11_key(void **state)
{
	rp_keystore_config kc = {.backend = "pkcs11"};
	rp_keystore *ks = NULL;
	rp_tlsc_config cfg;
	rp_tlsc_ctx *ctx = NULL;
	rp_tlsc *c = NULL;
	srv s = {.id = &F.server};
	softhsm hsm;
	uint8_t der[512];
	const uint8_t *p = der;
	size_t der_len = 0;
	EVP_PKEY *pub;
	X509 *cert;
	char err[256];

	(void)state;
	memset(&hsm, 0, sizeof(hsm));
	if (softhsm_start(&hsm, "rp-link", "4321", err, sizeof(err)) != 0) {
		print_error("softhsm: %s\n", err);
		fail();
	}
	kc.module = hsm.module;
	kc.token_label = "rp-link";
	kc.pin_file = hsm.pin_file;
	kc.key_label = "device";
	if (rp_keystore_open(&kc, &ks, err, sizeof(err)) != RP_OK) {
		print_error("rp_keystore_open: %s\n", err);
		fail();
	}
	assert_int_equal(rp_keystore_generate(ks, RP_KEY_EC_P256), RP_OK);
	assert_int_equal(rp_keystore_public_key(ks, der, sizeof(der), &der_len), RP_OK);
	pub = d2i_PUBKEY(NULL, &p, (long)der_len);
	assert_non_null(pub);
	cert = issue_for(pub, "dev-pkcs11");

	memset(&cfg, 0, sizeof(cfg));
	cfg.ca_file = P("ca.crt");
	cfg.cert = cert;
	cfg.key = rp_keystore_pkey(ks);
	if (rp_tlsc_ctx_new(&cfg, &ctx, err, sizeof(err)) != RP_OK) {
		print_error("rp_tlsc_ctx_new: %s\n", err);
		fail();
	}
	X509_free(cert); /* the context holds its reference */
	srv_start(&s);
	assert_int_equal(
		rp_tlsc_connect(ctx, "127.0.0.1", s.port, "localhost", 5000, &c, err, sizeof(err)),
		RP_OK);
	assert_int_equal(rp_tlsc_write_all(c, (const uint8_t *)"hsm", 3, 2000), RP_OK);
	rp_tlsc_close(c);
	rp_tlsc_ctx_free(ctx); /* before the keystore: the key lives in its session */
	srv_stop(&s);
	assert_int_equal(atomic_load(&s.handshake_ok), 1);
	assert_string_equal(s.peer_cn, "dev-pkcs11"); /* signed inside the token */
	EVP_PKEY_free(pub);
	rp_keystore_close(ks);
	softhsm_stop(&hsm);
}

/* ---- setup ---------------------------------------------------------------- */

static int setup(void **state)
{
	testpki_spec srv_spec = {
		.cn = "localhost", .san = "DNS:localhost,IP:127.0.0.1", .server = 1};
	testpki_spec expired = {.cn = "localhost",
				.san = "DNS:localhost,IP:127.0.0.1",
				.server = 1,
				.not_before = -2L * 86400,
				.not_after = -86400};
	testpki_spec nosan = {.cn = "localhost", .server = 1};
	testpki_spec leaf = {.cn = "wrong-key"};

	(void)state;
	if (testpki_fleet_new(&F) != 0 || testpki_issue(&other_server, &srv_spec, &F.other_ca) ||
	    testpki_issue(&expired_server, &expired, &F.ca) ||
	    testpki_issue(&nosan_server, &nosan, &F.ca) ||
	    testpki_issue(&wrong_key, &leaf, &F.ca)) {
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	testpki_id_free(&other_server);
	testpki_id_free(&expired_server);
	testpki_id_free(&nosan_server);
	testpki_id_free(&wrong_key);
	testpki_fleet_free(&F);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_echo_binding),
		cmocka_unit_test(test_ip_literal_name),
		cmocka_unit_test(test_refuses_other_ca),
		cmocka_unit_test(test_refuses_wrong_name),
		cmocka_unit_test(test_refuses_wrong_ip),
		cmocka_unit_test(test_refuses_cn_without_san),
		cmocka_unit_test(test_refuses_expired),
		cmocka_unit_test(test_refuses_client_cert_server),
		cmocka_unit_test(test_tls12_server),
		cmocka_unit_test(test_server_refuses_us),
		cmocka_unit_test(test_peer_gone_no_sigpipe),
		cmocka_unit_test(test_connection_refused),
		cmocka_unit_test(test_handshake_timeout),
		cmocka_unit_test(test_nonblocking_steps),
		cmocka_unit_test(test_x509_objects),
		cmocka_unit_test(test_config_refusals),
		cmocka_unit_test(test_keystore_pkcs11_key),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
