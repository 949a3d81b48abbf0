/*
 * test_tls.c - server/net/tls and server/net/transport, end to end.
 *
 * The group setup makes a fleet PKI at run time (tests/support/testpki).
 * Each test drives a real rampartd server side (rp_tls_*) and a plain
 * OpenSSL client over a non-blocking socketpair, in one thread, pumping
 * both until neither can progress. The client trusts only the fleet CA and
 * checks the host name "localhost", as a device does.
 *
 * Every refusal test asserts the exact failure (RP_E_AUTH and its reason),
 * and the matching positive test shows the same path succeeding, so none of
 * them can pass with verification switched off.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "loop/loop.h"
#include "net/tls.h"
#include "net/transport.h"
#include "testpki.h"
#include "util/alloc.h"

static testpki_fleet F;

/* "<fleet dir>/<file>", interned: the same file always gives the same
 * buffer, so options can hold these pointers for as long as they like. */
static const char *P(const char *file)
{
	static char names[64][48], paths[64][512];
	static unsigned used;
	unsigned i;

	for (i = 0; i < used; i++) {
		if (strcmp(names[i], file) == 0) {
			return paths[i];
		}
	}
	assert_true(used < 64 && strlen(file) < sizeof(names[0]));
	strcpy(names[used], file);
	assert_non_null(testpki_path(&F, file, paths[used], sizeof(paths[0])));
	return paths[used++];
}

static rp_tls_opts base_opts(void)
{
	rp_tls_opts o;

	memset(&o, 0, sizeof(o));
	o.cert_file = P("server.crt");
	o.key_file = P("server.key");
	o.ca_file = P("ca.crt");
	o.crl_file = P("crl.pem");
	return o;
}

static rp_tls_ctx *server_ctx(const rp_tls_opts *o)
{
	rp_tls_ctx *ctx = NULL;
	char err[256];
	rp_status st = rp_tls_ctx_new(o, &ctx, err, sizeof(err));

	if (st != RP_OK) {
		print_error("rp_tls_ctx_new: %s (%s)\n", rp_status_str(st), err);
	}
	assert_int_equal(st, RP_OK);
	assert_non_null(ctx);
	return ctx;
}

/* ---- the client side --------------------------------------------------------- */

typedef struct client_opts {
	const char *stem;    /* "<stem>.crt"/"<stem>.key" as client cert; NULL: none */
	int max_version;     /* 0: TLS 1.3 */
	const char *ciphers; /* TLS 1.2 cipher list, NULL: OpenSSL's default */
	SSL_SESSION *session;
} client_opts;

static SSL_CTX *client_ctx(const client_opts *co)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	char file[64];

	assert_non_null(c);
	/* The fleet CA as only trust anchor: no system store. */
	assert_int_equal(SSL_CTX_load_verify_file(c, P("ca.crt")), 1);
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	assert_int_equal(SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION), 1);
	assert_int_equal(SSL_CTX_set_max_proto_version(c, co->max_version ? co->max_version
									  : TLS1_3_VERSION),
			 1);
	if (co->ciphers != NULL) {
		assert_int_equal(SSL_CTX_set_cipher_list(c, co->ciphers), 1);
	}
	if (co->stem != NULL) {
		snprintf(file, sizeof(file), "%s.crt", co->stem);
		assert_int_equal(SSL_CTX_use_certificate_file(c, P(file), SSL_FILETYPE_PEM), 1);
		snprintf(file, sizeof(file), "%s.key", co->stem);
		assert_int_equal(SSL_CTX_use_PrivateKey_file(c, P(file), SSL_FILETYPE_PEM), 1);
	}
	return c;
}

/* One connection: our server side and an OpenSSL client side. */
typedef struct pair {
	int fd[2]; /* [0] server, [1] client */
	rp_tls_conn *s;
	SSL_CTX *cctx;
	SSL *c;
	rp_status sst; /* server handshake result */
	int cst;       /* client: 0 running, 1 done, -1 failed */
} pair;

static void nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	assert_true(fl >= 0);
	assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

static void pair_open(pair *p, rp_tls_ctx *ctx, const client_opts *co)
{
	memset(p, 0, sizeof(*p));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p->fd), 0);
	nonblock(p->fd[0]);
	nonblock(p->fd[1]);
	p->s = rp_tls_conn_new(ctx, p->fd[0]);
	assert_non_null(p->s);
	p->cctx = client_ctx(co);
	p->c = SSL_new(p->cctx);
	assert_non_null(p->c);
	assert_int_equal(SSL_set_fd(p->c, p->fd[1]), 1);
	assert_int_equal(SSL_set1_host(p->c, "localhost"), 1);
	assert_int_equal(SSL_set_tlsext_host_name(p->c, "localhost"), 1);
	if (co->session != NULL) {
		assert_int_equal(SSL_set_session(p->c, co->session), 1);
	}
	SSL_set_connect_state(p->c);
	p->sst = RP_NEED_MORE;
}

static void pair_close(pair *p)
{
	/* An orderly close: OpenSSL forgets (marks not resumable) the
	 * session of a connection freed without close_notify. */
	if (p->cst == 1 && p->fd[1] >= 0) {
		(void)SSL_shutdown(p->c);
	}
	rp_tls_conn_free(p->s);
	SSL_free(p->c);
	SSL_CTX_free(p->cctx);
	close(p->fd[0]);
	close(p->fd[1]);
	ERR_clear_error();
}

/* Pumps both handshakes until neither side can progress. */
static void pump_handshake(pair *p)
{
	int i;

	for (i = 0; i < 200; i++) {
		int progressed = 0;

		if (p->sst == RP_NEED_MORE) {
			p->sst = rp_tls_handshake(p->s);
			progressed = p->sst != RP_NEED_MORE;
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
			progressed |= p->cst != 0;
		}
		if (p->sst != RP_NEED_MORE && p->cst != 0) {
			break;
		}
		(void)progressed;
	}
	ERR_clear_error();
}

/* Sends "ping" client to server and "pong" back; lets the client take in
 * the session ticket the server sent after the handshake. */
static void exchange(pair *p)
{
	uint8_t buf[64];
	size_t n = 0;
	int i, r = 0;

	assert_int_equal(SSL_write(p->c, "ping", 4), 4);
	for (i = 0; i < 100; i++) {
		rp_status st = rp_tls_read(p->s, buf, sizeof(buf), &n);

		if (st == RP_OK) {
			break;
		}
		assert_int_equal(st, RP_NEED_MORE);
		assert_int_equal(rp_tls_wants(p->s), RP_LOOP_READ);
	}
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(rp_tls_write(p->s, (const uint8_t *)"pong", 4, &n), RP_OK);
	assert_int_equal(n, 4);
	for (i = 0; i < 100; i++) {
		r = SSL_read(p->c, buf, sizeof(buf));
		if (r > 0) {
			break;
		}
		assert_int_equal(SSL_get_error(p->c, r), SSL_ERROR_WANT_READ);
	}
	assert_int_equal(r, 4);
	assert_memory_equal(buf, "pong", 4);
}

/* Connects stem to ctx and expects success; returns the identity. */
static void connect_ok(rp_tls_ctx *ctx, const client_opts *co, pair *p, rp_peer_identity *id)
{
	pair_open(p, ctx, co);
	pump_handshake(p);
	if (p->sst != RP_OK) {
		print_error("server: %s (%s)\n", rp_status_str(p->sst), rp_tls_last_error(p->s));
	}
	assert_int_equal(p->sst, RP_OK);
	assert_int_equal(p->cst, 1);
	/* The client verified the server too (fleet CA, host name). */
	assert_int_equal(SSL_get_verify_result(p->c), X509_V_OK);
	assert_int_equal(rp_tls_peer_identity(p->s, id), RP_OK);
	exchange(p);
}

/* Connects and expects the server to refuse with st and reason. */
static void connect_refused(rp_tls_ctx *ctx, const client_opts *co, rp_status st,
			    const char *reason)
{
	rp_peer_identity id;
	pair p;

	pair_open(&p, ctx, co);
	pump_handshake(&p);
	if (p.sst != st || strcmp(rp_tls_last_error(p.s), reason) != 0) {
		print_error("expected %s \"%s\", got %s \"%s\"\n", rp_status_str(st), reason,
			    rp_status_str(p.sst), rp_tls_last_error(p.s));
	}
	assert_int_equal(p.sst, st);
	assert_string_equal(rp_tls_last_error(p.s), reason);
	/* No identity from a refused handshake, and nothing more to do. */
	assert_int_not_equal(rp_tls_peer_identity(p.s, &id), RP_OK);
	assert_int_equal(rp_tls_handshake(p.s), RP_E_STATE);
	pair_close(&p);
}

/* A session the client got from a successful connection of stem. */
static SSL_SESSION *get_session(rp_tls_ctx *ctx, const char *stem, rp_peer_identity *id)
{
	client_opts co = {.stem = stem};
	SSL_SESSION *s;
	pair p;

	connect_ok(ctx, &co, &p, id);
	assert_int_equal(id->resumed, 0);
	s = SSL_get1_session(p.c);
	assert_non_null(s);
	assert_int_equal(SSL_SESSION_is_resumable(s), 1);
	pair_close(&p);
	return s;
}

/* ---- handshakes and identity ---------------------------------------------------- */

static void hex_of(char *out, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		sprintf(out + 2 * i, "%02x", p[i]);
	}
	out[2 * n] = '\0';
}

static void expect_identity_of(const rp_peer_identity *id, X509 *x)
{
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	uint8_t md[32];
	unsigned mdlen = 0;
	char want[80];
	ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
	int days = 0, secs = 0;

	hex_of(want, ASN1_STRING_get0_data(sn), (size_t)ASN1_STRING_length(sn));
	assert_string_equal(id->serial_hex, want);
	assert_int_equal(X509_digest(x, EVP_sha256(), md, &mdlen), 1);
	assert_memory_equal(id->sha256, md, 32);
	hex_of(want, md, 32);
	assert_string_equal(id->sha256_hex, want);
	assert_non_null(epoch);
	assert_int_equal(ASN1_TIME_diff(&days, &secs, epoch, X509_get0_notAfter(x)), 1);
	assert_int_equal(id->not_after, (int64_t)days * 86400 + secs);
	ASN1_TIME_free(epoch);
}

static void test_mutual_handshake_identity(void **state)
{
	rp_tls_opts o = base_opts();
	rp_tls_ctx *ctx = server_ctx(&o);
	client_opts co = {.stem = "dev-0001"};
	rp_peer_identity id;
	pair p;

	(void)state;
	connect_ok(ctx, &co, &p, &id);
	assert_string_equal(id.device_id, "dev-0001");
	assert_string_equal(id.role, "device");
	assert_int_equal(id.is_service, 0);
	assert_int_equal(id.resumed, 0);
	assert_int_equal(rp_tls_session_reused(p.s), 0);
	expect_identity_of(&id, F.device.cert);
	/* The policy: TLS 1.3 and one of its suites, an X25519 or NIST group. */
	assert_int_equal(SSL_version(p.c), TLS1_3_VERSION);
	assert_string_equal(rp_tls_last_error(p.s), "");
	pair_close(&p);
	rp_tls_ctx_unref(ctx);
}

static void test_service_role(void **state)
{
	rp_tls_opts o = base_opts();
	rp_tls_ctx *ctx = server_ctx(&o);
	client_opts co = {.stem = "svc-ingest"};
	rp_peer_identity id;
	pair p;

	(void)state;
	connect_ok(ctx, &co, &p, &id);
	assert_string_equal(id.device_id, "svc-ingest");
	assert_string_equal(id.role, "ingest");
	assert_int_equal(id.is_service, 1);
	expect_identity_of(&id, F.service.cert);
	pair_close(&p);
	rp_tls_ctx_unref(ctx);
}

static void test_no_client_cert_refused(void **state)
{
	rp_tls_opts o = base_opts();
	rp_tls_ctx *ctx = server_ctx(&o);
	client_opts co = {.stem = NULL};

	(void)state;
	connect_refused(ctx, &co, RP_E_AUTH, "peer did not return a certificate");
	rp_tls_ctx_unref(ctx);
}

static void test_other_ca_refused(void **state)
{
	rp_tls_opts o = base_opts();
	rp_tls_ctx *ctx = server_ctx(&o);
	/* Same CN as a real device, another CA: impersonation attempt. */
	client_opts co = {.stem = "dev-other"};

	(void)state;
	connect_refused(ctx, &co, RP_E_AUTH, "unable to get local issuer certificate");
	rp_tls_ctx_unref(ctx);
}

static void test_expired_refused(void **state)
{
	rp_tls_opts o = base_opts();
	rp_tls_ctx *ctx = server_ctx(&o);
	client_opts co = {.stem = "dev-expired"};

	(void)state;
	connect_refused(ctx, &co, RP_E_AUTH, "certificate has expired");
	rp_tls_ctx_unref(ctx);
}

static void test_revoked_refused_with_crl(void **state)
{
	rp_tls_opts o = base_opts();
	rp_tls_ctx *ctx = server_ctx(&o), *nocrl;
	client_opts co = {.stem = "dev-revoked"};
	rp_peer_identity id;
	pair p;

	(void)state;
	connect_refused(ctx, &co, RP_E_AUTH, "certificate revoked");
	/* The same certificate is fine without the CRL: the CRL refused it. */
	o.crl_file = NULL;
	nocrl = server_ctx(&o);
	connect_ok(nocrl, &co, &p, &id);
	assert_string_equal(id.device_id, "dev-revoked");
	pair_close(&p);
	rp_tls_ctx_unref(nocrl);
	rp_tls_ctx_unref(ctx);
}

static void test_cn_with_slash_refused(void **state)
{
	rp_tls_opts o = base_opts();
	rp_tls_ctx *ctx = server_ctx(&o);
	client_opts co = {.stem = "dev-slash"};
	rp_peer_identity id;
	pair p;

	(void)state;
	pair_open(&p, ctx, &co);
	pump_handshake(&p);
	assert_int_equal(p.sst, RP_E_AUTH);
	assert_string_equal(rp_tls_last_error(p.s), "certificate CN holds '/', '+' or '#'");
	assert_int_equal(rp_tls_peer_identity(p.s, &id), RP_E_AUTH);
	/* Refused inside the handshake: the client gets an alert and never a
	 * session ticket it could come back with. */
	{
		SSL_SESSION *s;
		uint8_t b[8];
		int r = 0, i;

		for (i = 0; i < 10; i++) {
			r = SSL_read(p.c, b, sizeof(b));
			if (r > 0 || SSL_get_error(p.c, r) != SSL_ERROR_WANT_READ) {
				break;
			}
		}
		assert_true(r <= 0);
		assert_int_equal(SSL_get_error(p.c, r), SSL_ERROR_SSL);
		p.cst = -1;
		s = SSL_get1_session(p.c);
		assert_true(s == NULL || !SSL_SESSION_has_ticket(s));
		SSL_SESSION_free(s);
	}
	pair_close(&p);
	rp_tls_ctx_unref(ctx);
}

/* Certificates of the fleet CA whose subject or SAN breaks the rules. */
static void test_identity_rules_refused(void **state)
{
	static const struct {
		const char *stem;
		testpki_spec spec;
		const char *reason;
	} cases[] = {
		{"bad-plus", {.cn = "dev+1"}, "certificate CN holds '/', '+' or '#'"},
		{"bad-hash", {.cn = "dev#1"}, "certificate CN holds '/', '+' or '#'"},
		{"bad-nul",
		 {.cn = "dev\0x", .cn_len = 5},
		 "certificate CN holds a control character"},
		{"bad-ctl", {.cn = "dev\x1b[31m"}, "certificate CN holds a control character"},
		{"bad-c1", {.cn = "dev\xc2\x85"}, "certificate CN holds a control character"},
		{"no-cn", {.cn = NULL}, "certificate subject has no CN"},
		{"two-cn",
		 {.cn = "dev-0001", .extra_cn = "dev-0002"},
		 "certificate subject has more than one CN"},
		{"two-roles",
		 {.cn = "svc", .san = "URI:urn:rampart:role:a,URI:urn:rampart:role:b"},
		 "certificate carries more than one role"},
		{"role-device",
		 {.cn = "svc", .san = "URI:urn:rampart:role:device"},
		 "certificate role \"device\" is reserved"},
		{"role-upper",
		 {.cn = "svc", .san = "URI:urn:rampart:role:Admin"},
		 "certificate role name holds a character outside [a-z0-9._-]"},
		{"role-empty",
		 {.cn = "svc", .san = "URI:urn:rampart:role:"},
		 "certificate role name is empty or too long"},
	};
	rp_tls_opts o = base_opts();
	rp_tls_ctx *ctx;
	size_t i;

	(void)state;
	o.crl_file = NULL;
	ctx = server_ctx(&o);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		client_opts co = {.stem = cases[i].stem};
		testpki_id id;

		assert_int_equal(testpki_fleet_add(&F, cases[i].stem, &cases[i].spec, NULL, &id),
				 0);
		connect_refused(ctx, &co, RP_E_AUTH, cases[i].reason);
		testpki_id_free(&id);
	}
	rp_tls_ctx_unref(ctx);
}

static void test_unicode_device_id(void **state)
{
	testpki_spec spec = {.cn = "ger\xc3\xa4t-\xe2\x82\xac-\xf0\x9f\x94\x92"};
	rp_tls_opts o = base_opts();
	rp_tls_ctx *ctx;
	client_opts co = {.stem = "dev-unicode"};
	rp_peer_identity id;
	testpki_id x;
	pair p;

	(void)state;
	o.crl_file = NULL;
	ctx = server_ctx(&o);
	assert_int_equal(testpki_fleet_add(&F, co.stem, &spec, NULL, &x), 0);
	connect_ok(ctx, &co, &p, &id);
	assert_string_equal(id.device_id, spec.cn);
	pair_close(&p);
	testpki_id_free(&x);
	rp_tls_ctx_unref(ctx);
}

static void test_device_id_rules(void **state)
{
	char longest[RP_LIMIT_MQTT_CLIENT_ID_LEN + 1];

	(void)state;
	memset(longest, 'a', sizeof(longest));
	assert_int_equal(rp_tls_check_device_id("dev-0001", 8), RP_OK);
	assert_int_equal(rp_tls_check_device_id("\xc3\xa4", 2), RP_OK);
	assert_int_equal(rp_tls_check_device_id(longest, RP_LIMIT_MQTT_CLIENT_ID_LEN), RP_OK);
	assert_int_equal(rp_tls_check_device_id(longest, RP_LIMIT_MQTT_CLIENT_ID_LEN + 1),
			 RP_E_AUTH);
	assert_int_equal(rp_tls_check_device_id("", 0), RP_E_AUTH);
	assert_int_equal(rp_tls_check_device_id(NULL, 0), RP_E_AUTH);
	assert_int_equal(rp_tls_check_device_id("a/b", 3), RP_E_AUTH);
	assert_int_equal(rp_tls_check_device_id("a+b", 3), RP_E_AUTH);
	assert_int_equal(rp_tls_check_device_id("a#b", 3), RP_E_AUTH);
	assert_int_equal(rp_tls_check_device_id("a\0b", 3), RP_E_AUTH);
	assert_int_equal(rp_tls_check_device_id("a\tb", 3), RP_E_AUTH);
	assert_int_equal(rp_tls_check_device_id("a\x7f", 2), RP_E_AUTH);
	assert_int_equal(rp_tls_check_device_id("\xc2\x9f", 2), RP_E_AUTH);     /* C1 */
	assert_int_equal(rp_tls_check_device_id("\xc0\xaf", 2), RP_E_AUTH);     /* overlong '/' */
	assert_int_equal(rp_tls_check_device_id("\xed\xa0\x80", 3), RP_E_AUTH); /* surrogate */
	assert_int_equal(rp_tls_check_device_id("\xf4\x90\x80\x80", 4), RP_E_AUTH);
	assert_int_equal(rp_tls_check_device_id("\xc3", 1), RP_E_AUTH); /* truncated */
	assert_int_equal(rp_tls_check_device_id("\xff", 1), RP_E_AUTH);
}

/* ---- versions and suites ------------------------------------------------------------ */

static void test_tls12_refused_by_default(void **state)
{
	rp_tls_opts o = base_opts();
	rp_tls_ctx *ctx = server_ctx(&o);
	client_opts co = {.stem = "dev-0001", .max_version = TLS1_2_VERSION};

	(void)state;
	connect_refused(ctx, &co, RP_E_PROTOCOL, "unsupported protocol");
	rp_tls_ctx_unref(ctx);
}

static void test_tls12_when_allowed_aead_only(void **state)
{
	rp_tls_opts o = base_opts();
	rp_tls_ctx *ctx;
	client_opts co = {.stem = "dev-0001", .max_version = TLS1_2_VERSION};
	client_opts cbc = {.stem = "dev-0001",
			   .max_version = TLS1_2_VERSION,
			   .ciphers = "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA"};
	client_opts norsa = {.stem = "dev-0001",
			     .max_version = TLS1_2_VERSION,
			     .ciphers = "AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256"};
	rp_peer_identity id;
	pair p;

	(void)state;
	o.allow_tls12 = 1;
	ctx = server_ctx(&o);
	connect_ok(ctx, &co, &p, &id);
	assert_int_equal(SSL_version(p.c), TLS1_2_VERSION);
	assert_string_equal(SSL_get_cipher_name(p.c), "ECDHE-ECDSA-AES256-GCM-SHA384");
	assert_string_equal(id.device_id, "dev-0001");
	pair_close(&p);
	/* CBC suites and non-ECDHE key exchange are never negotiated. */
	connect_refused(ctx, &cbc, RP_E_PROTOCOL, "no shared cipher");
	connect_refused(ctx, &norsa, RP_E_PROTOCOL, "no shared cipher");
	/* Certificate checks are the same in TLS 1.2. */
	co.stem = "dev-revoked";
	connect_refused(ctx, &co, RP_E_AUTH, "certificate revoked");
	rp_tls_ctx_unref(ctx);
}

/* ---- resumption, ticket keys, reload --------------------------------------------- */

static void resume(rp_tls_ctx *ctx, const char *stem, SSL_SESSION *s, int want_reused,
		   rp_peer_identity *id)
{
	client_opts co = {.stem = stem, .session = s};
	pair p;

	connect_ok(ctx, &co, &p, id);
	assert_int_equal(SSL_session_reused(p.c), want_reused);
	assert_int_equal(rp_tls_session_reused(p.s), want_reused);
	assert_int_equal(id->resumed, want_reused);
	pair_close(&p);
}

static void test_session_resumption(void **state)
{
	rp_tls_opts o = base_opts();
	rp_tls_ctx *ctx = server_ctx(&o);
	rp_peer_identity first, again;
	SSL_SESSION *s;

	(void)state;
	s = get_session(ctx, "dev-0001", &first);
	resume(ctx, "dev-0001", s, 1, &again);
	/* The identity survives resumption, from the session's certificate. */
	assert_string_equal(again.device_id, "dev-0001");
	assert_string_equal(again.role, first.role);
	assert_string_equal(again.serial_hex, first.serial_hex);
	assert_memory_equal(again.sha256, first.sha256, 32);
	assert_int_equal(again.not_after, first.not_after);
	SSL_SESSION_free(s);

	/* A session from another listener (session id context) is not resumed. */
	{
		rp_tls_opts h = base_opts();
		rp_tls_ctx *https;

		h.name = "https";
		https = server_ctx(&h);
		s = get_session(ctx, "dev-0001", &first);
		resume(https, "dev-0001", s, 0, &again);
		SSL_SESSION_free(s);
		rp_tls_ctx_unref(https);
	}
	rp_tls_ctx_unref(ctx);
}

static void test_tickets_disabled(void **state)
{
	rp_tls_opts o = base_opts();
	rp_tls_ctx *ctx;
	client_opts co = {.stem = "dev-0001"};
	rp_peer_identity id;
	pair p;

	(void)state;
	o.disable_tickets = 1;
	ctx = server_ctx(&o);
	connect_ok(ctx, &co, &p, &id);
	/* No ticket was sent, so the client has nothing to resume with. */
	{
		SSL_SESSION *s = SSL_get1_session(p.c);

		assert_true(s == NULL || !SSL_SESSION_is_resumable(s));
		SSL_SESSION_free(s);
	}
	pair_close(&p);
	rp_tls_ctx_unref(ctx);
}

static void test_ticket_key_rotation(void **state)
{
	rp_tls_opts o = base_opts();
	rp_tls_ctx *ctx = server_ctx(&o);
	rp_peer_identity id;
	SSL_SESSION *s;

	(void)state;
	s = get_session(ctx, "dev-0001", &id);
	/* One rotation: the previous key still opens the ticket. */
	assert_int_equal(rp_tls_ctx_rotate_ticket_keys(ctx), RP_OK);
	resume(ctx, "dev-0001", s, 1, &id);
	/* Two: the key is gone (wiped), a full handshake follows, and works. */
	assert_int_equal(rp_tls_ctx_rotate_ticket_keys(ctx), RP_OK);
	resume(ctx, "dev-0001", s, 0, &id);
	assert_string_equal(id.device_id, "dev-0001");
	SSL_SESSION_free(s);
	rp_tls_ctx_unref(ctx);
}

static void test_reload_revokes_live_and_resumed(void **state)
{
	rp_tls_opts o = base_opts();
	rp_tls_ctx *ctx = server_ctx(&o), *fresh = NULL;
	client_opts dev = {.stem = "dev-0001"}, svc = {.stem = "svc-ingest"};
	X509 *revoked[2] = {F.revoked.cert, F.device.cert};
	rp_peer_identity id;
	SSL_SESSION *s_dev, *s_svc;
	const char *why = NULL;
	char err[256];
	pair live_dev, live_svc;

	(void)state;
	connect_ok(ctx, &dev, &live_dev, &id);
	connect_ok(ctx, &svc, &live_svc, &id);
	s_dev = get_session(ctx, "dev-0001", &id);
	s_svc = get_session(ctx, "svc-ingest", &id);
	/* Before: both valid against the current context. */
	assert_int_equal(rp_tls_conn_still_valid(live_dev.s, ctx), 1);
	assert_int_equal(rp_tls_conn_still_valid(live_svc.s, ctx), 1);

	/* SIGHUP with a CRL that now also revokes dev-0001. */
	assert_int_equal(testpki_write_crl(P("crl.pem"), &F.ca, revoked, 2, 0, 0), 0);
	assert_int_equal(rp_tls_ctx_reload(ctx, NULL, &fresh, err, sizeof(err)), RP_OK);
	assert_non_null(fresh);
	assert_int_equal(rp_tls_conn_still_valid(live_dev.s, fresh), 0);
	assert_int_equal(rp_tls_conn_check(live_dev.s, fresh, &why), RP_E_AUTH);
	assert_string_equal(why, "certificate revoked");
	assert_int_equal(rp_tls_conn_still_valid(live_svc.s, fresh), 1);
	/* The old context is untouched: its connections keep working. */
	assert_int_equal(rp_tls_conn_still_valid(live_dev.s, ctx), 1);
	exchange(&live_dev);

	/* The swap: the caller drops the old context; live connections hold it. */
	rp_tls_ctx_unref(ctx);
	exchange(&live_svc);

	/* Tickets survive the reload (shared keys) for the valid client ... */
	resume(fresh, "svc-ingest", s_svc, 1, &id);
	assert_string_equal(id.role, "ingest");
	/* ... but the revoked device's ticket is ignored, and the full
	 * handshake that follows refuses its certificate. */
	{
		client_opts again = {.stem = "dev-0001", .session = s_dev};

		connect_refused(fresh, &again, RP_E_AUTH, "certificate revoked");
	}
	/* dev-0002 was never revoked. */
	{
		client_opts d2 = {.stem = "dev-0002"};
		pair p;

		connect_ok(fresh, &d2, &p, &id);
		assert_int_equal(rp_tls_conn_still_valid(p.s, fresh), 1);
		pair_close(&p);
	}
	SSL_SESSION_free(s_dev);
	SSL_SESSION_free(s_svc);
	pair_close(&live_dev);
	pair_close(&live_svc);
	rp_tls_ctx_unref(fresh);
}

/* Puts the fleet's CRL back, even when a test that changed it failed. */
static int restore_crl(void **state)
{
	(void)state;
	return testpki_write_crl(P("crl.pem"), &F.ca, &F.revoked.cert, 1, 0, 0);
}

static void test_reload_failure_keeps_old(void **state)
{
	rp_tls_opts o = base_opts();
	rp_tls_ctx *ctx = server_ctx(&o), *fresh = (rp_tls_ctx *)&fresh;
	rp_tls_opts bad = base_opts();
	client_opts co = {.stem = "dev-0001"};
	rp_peer_identity id;
	char err[256];
	pair p;

	(void)state;
	bad.crl_file = P("missing.pem");
	assert_int_equal(rp_tls_ctx_reload(ctx, &bad, &fresh, err, sizeof(err)), RP_E_CONFIG);
	assert_null(fresh);
	assert_non_null(strstr(err, "missing.pem"));
	connect_ok(ctx, &co, &p, &id);
	pair_close(&p);
	rp_tls_ctx_unref(ctx);
}

/* root -> issuing CA -> device: CRLs over the whole chain. */
static void test_intermediate_chain_crl(void **state)
{
	testpki_spec ispec = {.cn = "Rampart Issuing CA", .ca = 1};
	testpki_spec dspec = {.cn = "dev-chain"};
	testpki_id issuing, leaf;
	rp_tls_opts o = base_opts();
	rp_tls_ctx *ctx = NULL;
	client_opts co = {.stem = "dev-chain"};
	X509 *bundle[2];
	rp_peer_identity id;
	char err[256];
	pair p;

	(void)state;
	assert_int_equal(testpki_fleet_add(&F, "issuing", &ispec, &F.ca, &issuing), 0);
	assert_int_equal(testpki_fleet_add(&F, "dev-chain", &dspec, &issuing, &leaf), 0);
	bundle[0] = F.ca.cert;
	bundle[1] = issuing.cert;
	assert_int_equal(testpki_write_certs(P("bundle.crt"), bundle, 2), 0);
	o.ca_file = P("bundle.crt");
	o.crl_file = P("chain-crl.pem");

	/* A CRL from the issuing CA only: whole-chain checking refuses the config. */
	assert_int_equal(testpki_write_crl(o.crl_file, &issuing, NULL, 0, 0, 0), 0);
	assert_int_equal(rp_tls_ctx_new(&o, &ctx, err, sizeof(err)), RP_E_CONFIG);
	assert_non_null(strstr(err, "no CRL from one of the CAs"));
	/* Leaf-only checking accepts it. */
	o.crl_leaf_only = 1;
	ctx = server_ctx(&o);
	connect_ok(ctx, &co, &p, &id);
	assert_string_equal(id.device_id, "dev-chain");
	pair_close(&p);
	rp_tls_ctx_unref(ctx);

	/* Both CRLs; the root revokes the issuing CA: its devices are refused. */
	o.crl_leaf_only = 0;
	assert_int_equal(testpki_write_crl(o.crl_file, &F.ca, &issuing.cert, 1, 0, 1), 0);
	ctx = server_ctx(&o);
	connect_refused(ctx, &co, RP_E_AUTH, "certificate revoked");
	rp_tls_ctx_unref(ctx);
	/* Leaf-only checking does not look at the issuing CA's status. */
	o.crl_leaf_only = 1;
	ctx = server_ctx(&o);
	connect_ok(ctx, &co, &p, &id);
	pair_close(&p);
	rp_tls_ctx_unref(ctx);
	testpki_id_free(&issuing);
	testpki_id_free(&leaf);
}

/* A chain longer than RP_TLS_VERIFY_DEPTH intermediates is refused. */
static void test_chain_depth_bounded(void **state)
{
	testpki_spec ca = {.cn = "tier", .ca = 1};
	testpki_spec leaf = {.cn = "dev-deep"};
	testpki_id t1, t2, t3, d2, d3;
	rp_tls_opts o = base_opts();
	rp_tls_ctx *ctx;
	client_opts ok = {.stem = "dev-depth2"}, deep = {.stem = "dev-depth3"};
	rp_peer_identity id;
	X509 *bundle[4];
	pair p;

	(void)state;
	assert_int_equal(testpki_fleet_add(&F, "tier1", &ca, &F.ca, &t1), 0);
	assert_int_equal(testpki_fleet_add(&F, "tier2", &ca, &t1, &t2), 0);
	assert_int_equal(testpki_fleet_add(&F, "tier3", &ca, &t2, &t3), 0);
	assert_int_equal(testpki_fleet_add(&F, "dev-depth2", &leaf, &t2, &d2), 0);
	assert_int_equal(testpki_fleet_add(&F, "dev-depth3", &leaf, &t3, &d3), 0);
	bundle[0] = F.ca.cert;
	bundle[1] = t1.cert;
	bundle[2] = t2.cert;
	bundle[3] = t3.cert;
	assert_int_equal(testpki_write_certs(P("deep-bundle.crt"), bundle, 4), 0);
	o.ca_file = P("deep-bundle.crt");
	o.crl_file = NULL;
	ctx = server_ctx(&o);
	connect_ok(ctx, &ok, &p, &id);
	pair_close(&p);
	connect_refused(ctx, &deep, RP_E_AUTH, "certificate chain too long");
	rp_tls_ctx_unref(ctx);
	testpki_id_free(&t1);
	testpki_id_free(&t2);
	testpki_id_free(&t3);
	testpki_id_free(&d2);
	testpki_id_free(&d3);
}

/* ---- configuration errors ------------------------------------------------------------- */

static void expect_config_error(const rp_tls_opts *o, rp_status want, const char *needle)
{
	rp_tls_ctx *ctx = NULL;
	char err[256] = "";
	rp_status st = rp_tls_ctx_new(o, &ctx, err, sizeof(err));

	if (st != want || strstr(err, needle) == NULL) {
		print_error("expected %s with \"%s\", got %s \"%s\"\n", rp_status_str(want), needle,
			    rp_status_str(st), err);
	}
	assert_int_equal(st, want);
	assert_null(ctx);
	assert_non_null(strstr(err, needle));
}

static void test_config_errors(void **state)
{
	rp_tls_opts o;
	X509 *notca = F.device.cert;

	(void)state;
	expect_config_error(NULL, RP_E_INVALID_ARG, "missing");
	o = base_opts();
	o.key_file = NULL;
	expect_config_error(&o, RP_E_INVALID_ARG, "required");
	o = base_opts();
	o.ticket_lifetime = 10;
	expect_config_error(&o, RP_E_INVALID_ARG, "ticket lifetime");
	o = base_opts();
	o.name = "a-listener-name-longer-than-32-bytes";
	expect_config_error(&o, RP_E_INVALID_ARG, "listener name");
	o = base_opts();
	o.cert_file = P("nope.crt");
	expect_config_error(&o, RP_E_CONFIG, "nope.crt");
	o = base_opts();
	o.key_file = P("nope.key");
	expect_config_error(&o, RP_E_CONFIG, "no such file");
	/* A key that does not belong to the certificate. */
	o = base_opts();
	o.key_file = P("dev-0001.key");
	expect_config_error(&o, RP_E_CONFIG, "does not match");
	/* A key other users can read. */
	assert_int_equal(chmod(P("dev-0002.key"), 0604), 0);
	o = base_opts();
	o.key_file = P("dev-0002.key");
	expect_config_error(&o, RP_E_CONFIG, "accessible to other users");
	assert_int_equal(chmod(P("dev-0002.key"), 0600), 0);
	/* A certificate where a key is expected. */
	o = base_opts();
	assert_int_equal(chmod(P("server.crt"), 0600), 0);
	o.key_file = P("server.crt");
	expect_config_error(&o, RP_E_CONFIG, "not an unencrypted PEM private key");
	assert_int_equal(chmod(P("server.crt"), 0644), 0);
	/* A CA bundle holding a leaf; an empty bundle. */
	assert_int_equal(testpki_write_certs(P("notca.crt"), &notca, 1), 0);
	o = base_opts();
	o.ca_file = P("notca.crt");
	expect_config_error(&o, RP_E_CONFIG, "not a CA");
	assert_int_equal(testpki_write_certs(P("empty.crt"), NULL, 0), 0);
	o.ca_file = P("empty.crt");
	expect_config_error(&o, RP_E_CONFIG, "no certificate");
	/* A CRL of another CA; an expired CRL; a CRL file with no CRL. */
	assert_int_equal(testpki_write_crl(P("other-crl.pem"), &F.other_ca, NULL, 0, 0, 0), 0);
	o = base_opts();
	o.crl_file = P("other-crl.pem");
	expect_config_error(&o, RP_E_CONFIG, "not signed by a CA of the bundle");
	assert_int_equal(testpki_write_crl(P("old-crl.pem"), &F.ca, NULL, 0, -60, 0), 0);
	o.crl_file = P("old-crl.pem");
	expect_config_error(&o, RP_E_CONFIG, "has expired");
	o.crl_file = P("empty.crt");
	expect_config_error(&o, RP_E_CONFIG, "no CRL");
	/* An expired server certificate. */
	{
		testpki_spec old = {.cn = "localhost",
				    .server = 1,
				    .not_before = -2 * 86400,
				    .not_after = -86400};
		testpki_id x;

		assert_int_equal(testpki_fleet_add(&F, "old-server", &old, NULL, &x), 0);
		o = base_opts();
		o.cert_file = P("old-server.crt");
		o.key_file = P("old-server.key");
		expect_config_error(&o, RP_E_CONFIG, "expired");
		testpki_id_free(&x);
	}
}

static void test_crl_next_update(void **state)
{
	rp_tls_opts o = base_opts();
	rp_tls_ctx *ctx = server_ctx(&o);
	time_t now = time(NULL), next = rp_tls_ctx_crl_next_update(ctx);

	(void)state;
	/* testpki's CRLs run for 7 days. */
	assert_true(next > now + 7 * 86400 - 120 && next <= now + 7 * 86400 + 5);
	rp_tls_ctx_unref(ctx);
	o.crl_file = NULL;
	ctx = server_ctx(&o);
	assert_int_equal(rp_tls_ctx_crl_next_update(ctx), 0);
	rp_tls_ctx_unref(ctx);
}

/* ---- I/O conventions -------------------------------------------------------------------- */

static void test_write_wants_write_and_partial(void **state)
{
	static uint8_t big[1 << 20], got[1 << 20];
	rp_tls_opts o = base_opts();
	rp_tls_ctx *ctx = server_ctx(&o);
	client_opts co = {.stem = "dev-0001"};
	rp_peer_identity id;
	size_t sent = 0, recvd = 0, i;
	int blocked = 0, rounds;
	pair p;

	(void)state;
	for (i = 0; i < sizeof(big); i++) {
		big[i] = (uint8_t)(i * 7 + (i >> 9));
	}
	connect_ok(ctx, &co, &p, &id);
	for (rounds = 0; rounds < 100000 && recvd < sizeof(big); rounds++) {
		if (sent < sizeof(big)) {
			size_t n = 0;
			rp_status st = rp_tls_write(p.s, big + sent, sizeof(big) - sent, &n);

			if (st == RP_NEED_MORE) {
				assert_int_equal(rp_tls_wants(p.s), RP_LOOP_WRITE);
				assert_int_equal(n, 0);
				blocked++;
			} else {
				assert_int_equal(st, RP_OK);
				assert_true(n > 0 && n <= sizeof(big) - sent);
				sent += n;
			}
		}
		/* The client reads slowly: a little per round. */
		{
			int r = SSL_read(p.c, got + recvd, 4096);

			if (r > 0) {
				recvd += (size_t)r;
			} else {
				assert_int_equal(SSL_get_error(p.c, r), SSL_ERROR_WANT_READ);
			}
		}
	}
	assert_true(blocked > 0);
	assert_int_equal(sent, sizeof(big));
	assert_int_equal(recvd, sizeof(big));
	assert_memory_equal(got, big, sizeof(big));
	pair_close(&p);
	rp_tls_ctx_unref(ctx);
}

static void test_pending_and_read_until_need_more(void **state)
{
	rp_tls_opts o = base_opts();
	rp_tls_ctx *ctx = server_ctx(&o);
	client_opts co = {.stem = "dev-0001"};
	rp_peer_identity id;
	uint8_t buf[3];
	size_t n, total = 0;
	rp_status st;
	pair p;

	(void)state;
	connect_ok(ctx, &co, &p, &id);
	/* One record of 10 bytes, read 3 at a time: the rest waits in TLS. */
	assert_int_equal(SSL_write(p.c, "0123456789", 10), 10);
	assert_int_equal(rp_tls_read(p.s, buf, sizeof(buf), &n), RP_OK);
	assert_int_equal(n, 3);
	total += n;
	assert_int_equal(rp_tls_pending(p.s), 7);
	assert_int_equal(rp_conn_pending(rp_tls_conn_base(p.s)), 7);
	while ((st = rp_tls_read(p.s, buf, sizeof(buf), &n)) == RP_OK) {
		total += n;
	}
	assert_int_equal(st, RP_NEED_MORE);
	assert_int_equal(total, 10);
	assert_int_equal(rp_tls_pending(p.s), 0);
	assert_int_equal(rp_tls_read(p.s, NULL, 1, &n), RP_E_INVALID_ARG);
	assert_int_equal(rp_tls_read(p.s, buf, 0, &n), RP_E_INVALID_ARG);
	assert_int_equal(rp_tls_write(p.s, buf, 0, &n), RP_OK);
	assert_int_equal(n, 0);
	pair_close(&p);
	rp_tls_ctx_unref(ctx);
}

static void test_shutdown_and_close(void **state)
{
	rp_tls_opts o = base_opts();
	rp_tls_ctx *ctx = server_ctx(&o);
	client_opts co = {.stem = "dev-0001"};
	rp_peer_identity id;
	uint8_t buf[16];
	size_t n;
	int r;
	pair p, q;

	(void)state;
	/* Server closes: the client sees close_notify. */
	connect_ok(ctx, &co, &p, &id);
	assert_int_equal(rp_tls_shutdown(p.s), RP_OK);
	r = SSL_read(p.c, buf, sizeof(buf));
	assert_true(r <= 0);
	assert_int_equal(SSL_get_error(p.c, r), SSL_ERROR_ZERO_RETURN);
	/* The identity outlives the close, for the logs. */
	assert_int_equal(rp_tls_peer_identity(p.s, &id), RP_OK);
	pair_close(&p);

	/* Client closes with close_notify: RP_E_CLOSED. */
	connect_ok(ctx, &co, &q, &id);
	assert_true(SSL_shutdown(q.c) >= 0);
	assert_int_equal(rp_tls_read(q.s, buf, sizeof(buf), &n), RP_E_CLOSED);
	assert_string_equal(rp_tls_last_error(q.s), "peer sent close_notify");
	assert_int_equal(rp_tls_read(q.s, buf, sizeof(buf), &n), RP_E_STATE);
	assert_int_equal(rp_tls_shutdown(q.s), RP_E_STATE);
	pair_close(&q);

	/* Client vanishes without close_notify: RP_E_CLOSED too. */
	connect_ok(ctx, &co, &q, &id);
	close(q.fd[1]);
	q.fd[1] = -1;
	assert_int_equal(rp_tls_read(q.s, buf, sizeof(buf), &n), RP_E_CLOSED);
	pair_close(&q);

	/* Reading before the handshake is a state error. */
	pair_open(&q, ctx, &co);
	assert_int_equal(rp_tls_read(q.s, buf, sizeof(buf), &n), RP_E_STATE);
	assert_int_equal(rp_tls_peer_identity(q.s, &id), RP_E_STATE);
	assert_int_equal(rp_tls_shutdown(q.s), RP_E_STATE);
	pair_close(&q);
	rp_tls_ctx_unref(ctx);
}

static void test_garbage_is_protocol_error(void **state)
{
	rp_tls_opts o = base_opts();
	rp_tls_ctx *ctx = server_ctx(&o);
	rp_tls_conn *c;
	int fd[2];
	static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
	nonblock(fd[0]);
	c = rp_tls_conn_new(ctx, fd[0]);
	assert_non_null(c);
	assert_int_equal(rp_tls_handshake(c), RP_NEED_MORE);
	assert_int_equal(rp_tls_wants(c), RP_LOOP_READ);
	assert_int_equal(write(fd[1], http, sizeof(http) - 1), (ssize_t)(sizeof(http) - 1));
	assert_int_equal(rp_tls_handshake(c), RP_E_PROTOCOL);
	assert_true(strlen(rp_tls_last_error(c)) > 0);
	/* Nothing of what the peer sent is in the reason. */
	assert_null(strstr(rp_tls_last_error(c), "GET"));
	rp_tls_conn_free(c);
	close(fd[0]);
	close(fd[1]);

	/* The peer leaves in the middle of the handshake. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
	nonblock(fd[0]);
	c = rp_tls_conn_new(ctx, fd[0]);
	assert_non_null(c);
	close(fd[1]);
	assert_int_equal(rp_tls_handshake(c), RP_E_CLOSED);
	rp_tls_conn_free(c);
	close(fd[0]);
	rp_tls_ctx_unref(ctx);
}

/* ---- transport interface ------------------------------------------------------------------ */

static void test_transport_over_tls(void **state)
{
	rp_tls_opts o = base_opts();
	rp_tls_ctx *ctx = server_ctx(&o);
	client_opts co = {.stem = "dev-0001"};
	rp_peer_identity id;
	rp_conn *conn;
	uint8_t buf[8];
	size_t n = 0;
	int i;
	pair p;

	(void)state;
	pair_open(&p, ctx, &co);
	conn = rp_tls_conn_base(p.s);
	assert_string_equal(rp_conn_kind(conn), "tls");
	assert_ptr_equal(rp_conn_tls(conn), p.s);
	assert_int_equal(rp_conn_fd(conn), p.fd[0]);
	for (i = 0; i < 100; i++) {
		rp_status st = rp_conn_handshake(conn);

		if (p.cst == 0 && SSL_do_handshake(p.c) == 1) {
			p.cst = 1;
		}
		if (st == RP_OK) {
			break;
		}
		assert_int_equal(st, RP_NEED_MORE);
	}
	assert_int_equal(rp_conn_handshake(conn), RP_OK);
	assert_int_equal(rp_conn_peer_identity(conn, &id), RP_OK);
	assert_string_equal(id.device_id, "dev-0001");
	assert_int_equal(rp_conn_write(conn, (const uint8_t *)"hi", 2, &n), RP_OK);
	assert_int_equal(n, 2);
	for (i = 0; i < 100 && SSL_read(p.c, buf, sizeof(buf)) != 2; i++) {
	}
	assert_true(i < 100);
	assert_memory_equal(buf, "hi", 2);
	assert_int_equal(rp_conn_read(conn, buf, sizeof(buf), &n), RP_NEED_MORE);
	assert_int_equal(rp_conn_wants(conn), RP_LOOP_READ);
	/* rp_conn_free() frees the TLS conn (the pair must not free it again). */
	rp_conn_free(conn);
	p.s = NULL;
	pair_close(&p);
	rp_tls_ctx_unref(ctx);
}

static void test_plain_transport(void **state)
{
	rp_peer_identity id;
	uint8_t buf[8];
	size_t n = 99;
	rp_conn *c;
	int fd[2];

	(void)state;
	assert_null(rp_conn_new_plain(-1));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
	nonblock(fd[0]);
	c = rp_conn_new_plain(fd[0]);
	assert_non_null(c);
	assert_string_equal(rp_conn_kind(c), "tcp");
	assert_null(rp_conn_tls(c));
	assert_int_equal(rp_conn_handshake(c), RP_OK);
	assert_int_equal(rp_conn_peer_identity(c, &id), RP_E_NOT_FOUND);
	assert_int_equal(rp_conn_read(c, buf, sizeof(buf), &n), RP_NEED_MORE);
	assert_int_equal(n, 0);
	assert_int_equal(rp_conn_wants(c), RP_LOOP_READ);
	assert_int_equal(write(fd[1], "abc", 3), 3);
	assert_int_equal(rp_conn_read(c, buf, sizeof(buf), &n), RP_OK);
	assert_int_equal(n, 3);
	assert_int_equal(rp_conn_pending(c), 0);
	assert_int_equal(rp_conn_write(c, (const uint8_t *)"xyz", 3, &n), RP_OK);
	assert_int_equal(n, 3);
	assert_int_equal(read(fd[1], buf, sizeof(buf)), 3);
	/* Fill the socket: the write would block, and says so. */
	{
		static uint8_t big[1 << 16];
		rp_status st;

		while ((st = rp_conn_write(c, big, sizeof(big), &n)) == RP_OK) {
		}
		assert_int_equal(st, RP_NEED_MORE);
		assert_int_equal(rp_conn_wants(c), RP_LOOP_WRITE);
	}
	assert_int_equal(rp_conn_shutdown(c), RP_OK);
	close(fd[1]);
	/* The peer gone: reads report the close, then the conn is dead. */
	{
		rp_status st;

		while ((st = rp_conn_read(c, buf, sizeof(buf), &n)) == RP_OK) {
		}
		assert_int_equal(st, RP_E_CLOSED);
		assert_int_equal(rp_conn_read(c, buf, sizeof(buf), &n), RP_E_STATE);
	}
	rp_conn_free(c);
	rp_conn_free(NULL);
	close(fd[0]);
}

/* ---- on the event loop ------------------------------------------------------------------- */

typedef struct loop_conn {
	rp_loop *loop;
	rp_conn *conn;
	rp_status st;
	int calls;
} loop_conn;

static void on_io(rp_loop *loop, int fd, unsigned events, void *arg)
{
	loop_conn *lc = arg;

	(void)fd;
	(void)events;
	lc->calls++;
	lc->st = rp_conn_handshake(lc->conn);
	if (lc->st == RP_NEED_MORE) {
		assert_int_equal(
			rp_loop_modify(loop, rp_conn_fd(lc->conn), rp_conn_wants(lc->conn)), RP_OK);
	} else {
		rp_loop_unwatch(loop, rp_conn_fd(lc->conn));
	}
}

static void test_handshake_on_loop(void **state)
{
	rp_tls_opts o = base_opts();
	rp_tls_ctx *ctx = server_ctx(&o);
	client_opts co = {.stem = "dev-0002"};
	loop_conn lc = {0};
	rp_peer_identity id;
	int i;
	pair p;

	(void)state;
	pair_open(&p, ctx, &co);
	lc.loop = rp_loop_new(0);
	assert_non_null(lc.loop);
	lc.conn = rp_tls_conn_base(p.s);
	lc.st = RP_NEED_MORE;
	assert_int_equal(rp_loop_watch(lc.loop, p.fd[0], RP_LOOP_READ, on_io, &lc), RP_OK);
	for (i = 0; i < 100 && (lc.st == RP_NEED_MORE || p.cst == 0); i++) {
		if (p.cst == 0 && SSL_do_handshake(p.c) == 1) {
			p.cst = 1;
		}
		assert_int_equal(rp_loop_run_once(lc.loop, 10), RP_OK);
	}
	assert_int_equal(lc.st, RP_OK);
	assert_true(lc.calls >= 1);
	assert_int_equal(rp_conn_peer_identity(lc.conn, &id), RP_OK);
	assert_string_equal(id.device_id, "dev-0002");
	rp_loop_free(lc.loop);
	pair_close(&p);
	rp_tls_ctx_unref(ctx);
}

/* ---- allocation failures ------------------------------------------------------------------ */

static void test_allocation_failures(void **state)
{
	rp_tls_opts o = base_opts();
	size_t before = rp_alloc_in_use();
	long n;

	(void)state;
	for (n = 0; n < 64; n++) {
		rp_tls_ctx *ctx = NULL;
		rp_tls_conn *c = NULL;
		rp_status st;
		int fd[2];

		rp_alloc_fail_after(n);
		st = rp_tls_ctx_new(&o, &ctx, NULL, 0);
		if (st == RP_OK) {
			assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
			c = rp_tls_conn_new(ctx, fd[0]);
			rp_alloc_fail_after(-1);
			rp_tls_conn_free(c);
			rp_tls_ctx_unref(ctx);
			close(fd[0]);
			close(fd[1]);
			if (c != NULL) {
				break;
			}
		} else {
			rp_alloc_fail_after(-1);
			assert_int_equal(st, RP_E_NOMEM);
			assert_null(ctx);
		}
		assert_int_equal(rp_alloc_in_use(), before);
	}
	rp_alloc_fail_after(-1);
	assert_true(n > 2 && n < 64);
	assert_int_equal(rp_alloc_in_use(), before);
}

/* ---- main ---------------------------------------------------------------------------------- */

static int setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	return testpki_fleet_new(&F) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	testpki_fleet_free(&F);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mutual_handshake_identity),
		cmocka_unit_test(test_service_role),
		cmocka_unit_test(test_no_client_cert_refused),
		cmocka_unit_test(test_other_ca_refused),
		cmocka_unit_test(test_expired_refused),
		cmocka_unit_test(test_revoked_refused_with_crl),
		cmocka_unit_test(test_cn_with_slash_refused),
		cmocka_unit_test(test_identity_rules_refused),
		cmocka_unit_test(test_unicode_device_id),
		cmocka_unit_test(test_device_id_rules),
		cmocka_unit_test(test_tls12_refused_by_default),
		cmocka_unit_test(test_tls12_when_allowed_aead_only),
		cmocka_unit_test(test_session_resumption),
		cmocka_unit_test(test_tickets_disabled),
		cmocka_unit_test(test_ticket_key_rotation),
		cmocka_unit_test_teardown(test_reload_revokes_live_and_resumed, restore_crl),
		cmocka_unit_test(test_reload_failure_keeps_old),
		cmocka_unit_test(test_intermediate_chain_crl),
		cmocka_unit_test(test_chain_depth_bounded),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_crl_next_update),
		cmocka_unit_test(test_write_wants_write_and_partial),
		cmocka_unit_test(test_pending_and_read_until_need_more),
		cmocka_unit_test(test_shutdown_and_close),
		cmocka_unit_test(test_garbage_is_protocol_error),
		cmocka_unit_test(test_transport_over_tls),
		cmocka_unit_test(test_plain_transport),
		cmocka_unit_test(test_handshake_on_loop),
		cmocka_unit_test(test_allocation_failures),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
