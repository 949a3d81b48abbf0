/*
 * tls_client.c - the device's TLS client (rampart/tls_client.h).
 *
 * Implementation notes
 *
 * Attacker: whoever answers on the server's address: another host on the
 * path, a DNS spoofer, a server with a certificate from another CA or for
 * another name. Until SSL_connect() succeeded with verification result
 * X509_V_OK, nothing the peer sent is believed, and nothing but the
 * handshake is sent to it.
 *
 * State
 * - rp_tlsc_ctx: an SSL_CTX with the policy, a trust store holding only the
 *   certificates of the fleet root file, the client chain and key.
 *   Immutable after rp_tlsc_ctx_new(); refcounted (the caller and each
 *   connection), so it may be freed before its connections.
 * - rp_tlsc: the resolved addresses (tried in turn), the socket, the SSL
 *   object once TCP is up, a state (TCP -> TLS -> OPEN, or FAILED), the
 *   poll events the last blocked call waits for, and the sticky failure
 *   with its sentence for the operator.
 *
 * Invariants
 * - Verdicts start as "not verified": state OPEN is set only after
 *   SSL_connect() returned 1, a peer certificate is present and
 *   SSL_get_verify_result() is X509_V_OK (checked again, in case a future
 *   OpenSSL or a callback ever let a handshake finish unverified).
 * - SSL_VERIFY_PEER is set on the context and nowhere changed; no verify
 *   callback exists that could override a verdict.
 * - The trust store is built from ca_file alone: no default paths, no
 *   environment, no X509_V_FLAG_PARTIAL_CHAIN.
 * - OpenSSL's per-thread error queue is cleared before every SSL call, so
 *   an old error never explains a new failure.
 * - The socket is written with send(MSG_NOSIGNAL) through a BIO of our
 *   own: a library must not leave SIGPIPE to its caller.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "rampart/tls_client.h"

/* The policy, in one place (docs/device-link.md, "TLS policy"). */
#define TLS13_SUITES "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"
#define GROUPS       "X25519:P-256:P-384"
#define SEC_LEVEL    2
/* At most 2 intermediates between the server's certificate and the root. */
#define VERIFY_DEPTH 2
/*
 * Largest certificate list accepted from the server. Bounds the memory a
 * hostile server can make a device allocate during the handshake (OpenSSL
 * allows 100 KiB by default); a fleet chain is about 2 KiB.
 */
#define MAX_CERT_LIST (16u * 1024u)
/* RFC 9266, section 2. */
#define CB_LABEL "EXPORTER-Channel-Binding"

enum { ST_TCP, ST_TLS, ST_OPEN, ST_FAILED };

struct rp_tlsc_ctx {
	SSL_CTX *ssl;
	atomic_int refs;
};

struct rp_tlsc {
	rp_tlsc_ctx *ctx;
	struct addrinfo *ai_list;
	struct addrinfo *ai_next; /* next address to try */
	int fd;
	SSL *ssl;
	int state;
	rp_status failure; /* sticky, when state is ST_FAILED */
	short events;
	int tcp_errno;    /* why the last address refused */
	char name[256];   /* the server name the certificate must carry */
	char where[400];  /* "name (address:port)" for messages */
	char target[300]; /* "host:port" as given */
	char err[RP_TLSC_ERROR_MAX];
};

/* ---- errors ------------------------------------------------------------- */

static void put_err(char *buf, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void put_err(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (buf == NULL || cap == 0) {
		return;
	}
	va_start(ap, fmt);
	(void)vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
}

/* OpenSSL's reason for the oldest error in the queue, or `dflt`. */
static const char *ssl_reason(const char *dflt)
{
	unsigned long e = ERR_peek_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	return r != NULL ? r : dflt;
}

static rp_status fail(rp_tlsc *c, rp_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Makes the connection FAILED with status st and a sentence; returns st. */
static rp_status fail(rp_tlsc *c, rp_status st, const char *fmt, ...)
{
	va_list ap;
	size_t used;

	va_start(ap, fmt);
	(void)vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	used = strlen(c->err);
	if (used + 4 < sizeof(c->err)) {
		(void)snprintf(c->err + used, sizeof(c->err) - used, " [%.*s]",
			       (int)(sizeof(c->err) - used - 4), c->where);
	}
	c->state = ST_FAILED;
	c->failure = st;
	c->events = 0;
	ERR_clear_error();
	return st;
}

/* ---- a socket BIO that never raises SIGPIPE ------------------------------ */

static BIO_METHOD *sock_method;
static pthread_once_t sock_method_once = PTHREAD_ONCE_INIT;

static int sock_fd(BIO *b)
{
	return (int)(intptr_t)BIO_get_data(b);
}

static int sock_write(BIO *b, const char *buf, int len)
{
	ssize_t n;

	BIO_clear_retry_flags(b);
	n = send(sock_fd(b), buf, (size_t)len, MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		BIO_set_retry_write(b);
	}
	return (int)n;
}

static int sock_read(BIO *b, char *buf, int len)
{
	ssize_t n;

	BIO_clear_retry_flags(b);
	n = recv(sock_fd(b), buf, (size_t)len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		BIO_set_retry_read(b);
	}
	return (int)n;
}

static long sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)num;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
	case BIO_CTRL_DUP:
		return 1;
	case BIO_C_GET_FD:
		if (ptr != NULL) {
			*(int *)ptr = sock_fd(b);
		}
		return sock_fd(b);
	default:
		return 0;
	}
}

static int sock_create(BIO *b)
{
	BIO_set_data(b, (void *)(intptr_t)-1);
	BIO_set_init(b, 1);
	return 1;
}

static int sock_destroy(BIO *b)
{
	/* The socket belongs to the rp_tlsc, which closes it. */
	BIO_set_data(b, (void *)(intptr_t)-1);
	return 1;
}

static void sock_method_init(void)
{
	BIO_METHOD *m = BIO_meth_new(
		BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "rampart socket");

	if (m == NULL) {
		return;
	}
	if (BIO_meth_set_write(m, sock_write) != 1 || BIO_meth_set_read(m, sock_read) != 1 ||
	    BIO_meth_set_ctrl(m, sock_ctrl) != 1 || BIO_meth_set_create(m, sock_create) != 1 ||
	    BIO_meth_set_destroy(m, sock_destroy) != 1) {
		BIO_meth_free(m);
		return;
	}
	sock_method = m; /* lives as long as the process */
}

static BIO *sock_bio(int fd)
{
	BIO *b;

	if (pthread_once(&sock_method_once, sock_method_init) != 0 || sock_method == NULL) {
		return NULL;
	}
	b = BIO_new(sock_method);
	if (b != NULL) {
		BIO_set_data(b, (void *)(intptr_t)fd);
	}
	return b;
}

/* ---- context ------------------------------------------------------------- */

/* The fleet root file into a store of its own: CA certificates only. */
static rp_status load_trust(SSL_CTX *s, const char *file, char *err, size_t errcap)
{
	X509_STORE *store = NULL;
	X509 *x = NULL;
	BIO *in = NULL;
	unsigned count = 0;
	rp_status st = RP_E_CONFIG;

	in = BIO_new_file(file, "r");
	if (in == NULL) {
		put_err(err, errcap, "fleet root file %s: cannot read it (%s)", file,
			ssl_reason("no such file"));
		goto out;
	}
	store = X509_STORE_new();
	if (store == NULL) {
		st = RP_E_NOMEM;
		put_err(err, errcap, "fleet root file %s: out of memory", file);
		goto out;
	}
	while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
		if (X509_check_ca(x) != 1) {
			put_err(err, errcap,
				"fleet root file %s: certificate %u is not a CA certificate "
				"(basicConstraints CA:TRUE)",
				file, count + 1);
			goto out;
		}
		if (X509_STORE_add_cert(store, x) != 1) {
			put_err(err, errcap, "fleet root file %s: certificate %u refused (%s)",
				file, count + 1, ssl_reason("?"));
			goto out;
		}
		X509_free(x);
		x = NULL;
		count++;
	}
	/* The loop ends on "no start line" at the end of the file; anything
	 * else is a broken PEM block. */
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE || count == 0) {
		put_err(err, errcap, "fleet root file %s: %s", file,
			count == 0 ? "no certificate in it" : "unreadable PEM block");
		goto out;
	}
	ERR_clear_error();
	SSL_CTX_set_cert_store(s, store); /* takes it */
	store = NULL;
	st = RP_OK;
out:
	X509_free(x);
	X509_STORE_free(store);
	BIO_free(in);
	return st;
}

static rp_status load_identity(SSL_CTX *s, const rp_tlsc_config *cfg, char *err, size_t errcap)
{
	if (cfg->cert_file != NULL) {
		if (SSL_CTX_use_certificate_chain_file(s, cfg->cert_file) != 1) {
			put_err(err, errcap, "client certificate file %s: %s", cfg->cert_file,
				ssl_reason("unreadable"));
			return RP_E_CONFIG;
		}
	} else if (cfg->cert != NULL) {
		if (SSL_CTX_use_certificate(s, cfg->cert) != 1 ||
		    (cfg->chain != NULL && SSL_CTX_set1_chain(s, cfg->chain) != 1)) {
			put_err(err, errcap, "client certificate refused: %s", ssl_reason("?"));
			return RP_E_CONFIG;
		}
	} else {
		return RP_OK; /* no client certificate */
	}
	/* The public half is enough to compare: works for a key in a token. */
	if (X509_check_private_key(SSL_CTX_get0_certificate(s), cfg->key) != 1) {
		put_err(err, errcap, "client key does not match the client certificate");
		return RP_E_CONFIG;
	}
	if (SSL_CTX_use_PrivateKey(s, cfg->key) != 1) {
		put_err(err, errcap, "client key refused: %s", ssl_reason("?"));
		return RP_E_CONFIG;
	}
	if (SSL_CTX_check_private_key(s) != 1) {
		put_err(err, errcap, "client key does not match the client certificate");
		return RP_E_CONFIG;
	}
	return RP_OK;
}

static rp_status set_policy(SSL_CTX *s, char *err, size_t errcap)
{
	X509_VERIFY_PARAM *vp = SSL_CTX_get0_param(s);

	if (SSL_CTX_set_min_proto_version(s, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(s, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_ciphersuites(s, TLS13_SUITES) != 1 ||
	    SSL_CTX_set1_groups_list(s, GROUPS) != 1 ||
	    SSL_CTX_set_purpose(s, X509_PURPOSE_SSL_SERVER) != 1 || vp == NULL ||
	    X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_X509_STRICT) != 1) {
		put_err(err, errcap, "TLS policy refused by OpenSSL: %s", ssl_reason("?"));
		return RP_E_CRYPTO;
	}
	SSL_CTX_set_security_level(s, SEC_LEVEL);
	SSL_CTX_set_options(s, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(s, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				    SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_max_cert_list(s, MAX_CERT_LIST);
	/* Never changed afterwards, and no callback that could override it. */
	SSL_CTX_set_verify(s, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_verify_depth(s, VERIFY_DEPTH);
	return RP_OK;
}

rp_status rp_tlsc_ctx_new(const rp_tlsc_config *cfg, rp_tlsc_ctx **out, char *err, size_t errcap)
{
	rp_tlsc_ctx *ctx = NULL;
	rp_status st = RP_E_INVALID_ARG;

	put_err(err, errcap, "%s", "");
	if (out == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	if (cfg == NULL || cfg->ca_file == NULL || cfg->ca_file[0] == '\0') {
		put_err(err, errcap, "no fleet root file (ca_file)");
		return RP_E_INVALID_ARG;
	}
	if (cfg->cert_file != NULL && cfg->cert != NULL) {
		put_err(err, errcap, "client certificate given twice (cert_file and cert)");
		return RP_E_INVALID_ARG;
	}
	if ((cfg->cert_file != NULL || cfg->cert != NULL) != (cfg->key != NULL) ||
	    (cfg->chain != NULL && cfg->cert == NULL)) {
		put_err(err, errcap,
			"a client certificate needs its key, and a key its certificate");
		return RP_E_INVALID_ARG;
	}
	ERR_clear_error();
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		put_err(err, errcap, "out of memory");
		return RP_E_NOMEM;
	}
	atomic_init(&ctx->refs, 1);
	ctx->ssl = SSL_CTX_new(TLS_client_method());
	if (ctx->ssl == NULL) {
		st = RP_E_NOMEM;
		put_err(err, errcap, "SSL_CTX_new: %s", ssl_reason("out of memory"));
		goto out;
	}
	st = set_policy(ctx->ssl, err, errcap);
	if (st != RP_OK) {
		goto out;
	}
	st = load_trust(ctx->ssl, cfg->ca_file, err, errcap);
	if (st != RP_OK) {
		goto out;
	}
	st = load_identity(ctx->ssl, cfg, err, errcap);
	if (st != RP_OK) {
		goto out;
	}
	*out = ctx;
	ctx = NULL;
out:
	ERR_clear_error();
	rp_tlsc_ctx_free(ctx);
	return st;
}

void rp_tlsc_ctx_free(rp_tlsc_ctx *ctx)
{
	if (ctx == NULL || atomic_fetch_sub(&ctx->refs, 1) != 1) {
		return;
	}
	SSL_CTX_free(ctx->ssl);
	free(ctx);
}

/* ---- TCP ------------------------------------------------------------------ */

/* 1 if name is an IPv4 or IPv6 literal. */
static int is_ip_literal(const char *name)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

/* 1 if name can be a DNS host name: [A-Za-z0-9.-], 1..253 bytes. */
static int is_dns_name(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > 253 || name[0] == '.' || name[0] == '-') {
		return 0;
	}
	for (i = 0; i < n; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '-')) {
			return 0;
		}
	}
	return 1;
}

static void describe_addr(rp_tlsc *c, const struct addrinfo *ai)
{
	char host[64], serv[16]; /* numeric: an IPv6 address and a port fit */

	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), serv, sizeof(serv),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		(void)snprintf(c->where, sizeof(c->where), "%s", c->target);
		return;
	}
	if (strcmp(c->name, host) == 0) {
		(void)snprintf(c->where, sizeof(c->where), "%s%s%s:%s",
			       ai->ai_family == AF_INET6 ? "[" : "", host,
			       ai->ai_family == AF_INET6 ? "]" : "", serv);
	} else {
		(void)snprintf(c->where, sizeof(c->where), "%s at %s%s%s:%s", c->name,
			       ai->ai_family == AF_INET6 ? "[" : "", host,
			       ai->ai_family == AF_INET6 ? "]" : "", serv);
	}
}

/*
 * Starts a non-blocking connect to the next address that takes one.
 * Returns 0 (connecting or connected: poll for POLLOUT), -1 when no
 * address is left (tcp_errno says why the last one failed).
 */
static int tcp_next(rp_tlsc *c)
{
	while (c->ai_next != NULL) {
		const struct addrinfo *ai = c->ai_next;
		int one = 1, fd;

		c->ai_next = ai->ai_next;
		describe_addr(c, ai);
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			c->tcp_errno = errno;
			continue;
		}
		/* MQTT packets are small and answered at once: no Nagle delay. */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS ||
		    errno == EINTR) {
			c->fd = fd;
			c->events = POLLOUT;
			return 0;
		}
		c->tcp_errno = errno;
		(void)close(fd);
	}
	return -1;
}

rp_status rp_tlsc_start(rp_tlsc_ctx *ctx, const char *host, uint16_t port, const char *server_name,
			rp_tlsc **out, char *err, size_t errcap)
{
	struct addrinfo hints;
	char serv[8];
	rp_tlsc *c = NULL;
	rp_status st = RP_E_INVALID_ARG;
	int rc;

	put_err(err, errcap, "%s", "");
	if (out == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	if (ctx == NULL || host == NULL || host[0] == '\0' || port == 0) {
		put_err(err, errcap, "no server address (host and port)");
		return RP_E_INVALID_ARG;
	}
	if (server_name == NULL) {
		server_name = host;
	}
	if (strlen(server_name) >= sizeof(((rp_tlsc *)0)->name) ||
	    (!is_ip_literal(server_name) && !is_dns_name(server_name))) {
		put_err(err, errcap,
			"server name \"%.64s\" is neither a DNS name nor an IP address",
			server_name);
		return RP_E_INVALID_ARG;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		put_err(err, errcap, "out of memory");
		return RP_E_NOMEM;
	}
	c->fd = -1;
	c->state = ST_TCP;
	c->events = POLLOUT;
	atomic_fetch_add(&ctx->refs, 1);
	c->ctx = ctx;
	(void)snprintf(c->name, sizeof(c->name), "%s", server_name);
	(void)snprintf(c->target, sizeof(c->target), "%.255s:%u", host, (unsigned)port);
	(void)snprintf(c->where, sizeof(c->where), "%s", c->target);

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	(void)snprintf(serv, sizeof(serv), "%u", (unsigned)port);
	rc = getaddrinfo(host, serv, &hints, &c->ai_list);
	if (rc != 0) {
		st = rc == EAI_MEMORY ? RP_E_NOMEM : RP_E_NOT_FOUND;
		put_err(err, errcap, "cannot resolve %s: %s", c->target,
			rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		goto out;
	}
	c->ai_next = c->ai_list;
	if (tcp_next(c) != 0) {
		st = RP_E_IO;
		put_err(err, errcap, "cannot connect to %s: %s", c->where, strerror(c->tcp_errno));
		goto out;
	}
	*out = c;
	c = NULL;
	st = RP_OK;
out:
	rp_tlsc_close(c);
	return st;
}

/* ---- handshake ------------------------------------------------------------- */

/* The TLS connection over the connected socket, with the name to check. */
static rp_status tls_begin(rp_tlsc *c)
{
	X509_VERIFY_PARAM *vp;
	BIO *b;

	c->ssl = SSL_new(c->ctx->ssl);
	if (c->ssl == NULL) {
		return fail(c, RP_E_NOMEM, "SSL_new: %s", ssl_reason("out of memory"));
	}
	b = sock_bio(c->fd);
	if (b == NULL) {
		return fail(c, RP_E_NOMEM, "cannot make the socket BIO");
	}
	SSL_set_bio(c->ssl, b, b); /* c->ssl owns it */
	vp = SSL_get0_param(c->ssl);
	if (is_ip_literal(c->name)) {
		/* No SNI for an address (RFC 6066, 3); the certificate's
		 * iPAddress must match. */
		if (X509_VERIFY_PARAM_set1_ip_asc(vp, c->name) != 1) {
			return fail(c, RP_E_INVALID_ARG, "server address %s refused", c->name);
		}
	} else {
		SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
						  X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
		if (SSL_set_tlsext_host_name(c->ssl, c->name) != 1 ||
		    SSL_set1_host(c->ssl, c->name) != 1) {
			return fail(c, RP_E_INVALID_ARG, "server name %s refused", c->name);
		}
	}
	c->state = ST_TLS;
	return RP_OK;
}

/* A sentence for a verification result. */
static rp_status verify_failure(rp_tlsc *c, long vr)
{
	const char *why = X509_verify_cert_error_string(vr);

	switch (vr) {
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		return fail(c, RP_E_AUTH,
			    "server name mismatch: the server's certificate is not for %s",
			    c->name);
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_CERT_CHAIN_TOO_LONG:
		return fail(c, RP_E_AUTH,
			    "server certificate does not chain to the fleet root (%s)", why);
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return fail(c, RP_E_AUTH,
			    "server certificate has expired (or the device clock is wrong)");
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return fail(c, RP_E_AUTH,
			    "server certificate is not yet valid (is the device clock set?)");
	case X509_V_ERR_INVALID_PURPOSE:
		return fail(c, RP_E_AUTH, "server certificate is not for a TLS server (%s)", why);
	default:
		return fail(c, RP_E_AUTH, "server certificate refused (%s)", why);
	}
}

/* 1 if a TLS alert from the server is about our certificate. */
static int alert_about_us(int alert)
{
	switch (alert) {
	case SSL_AD_BAD_CERTIFICATE:
	case SSL_AD_UNSUPPORTED_CERTIFICATE:
	case SSL_AD_CERTIFICATE_REVOKED:
	case SSL_AD_CERTIFICATE_EXPIRED:
	case SSL_AD_CERTIFICATE_UNKNOWN:
	case SSL_AD_UNKNOWN_CA:
	case SSL_AD_ACCESS_DENIED:
	case SSL_AD_CERTIFICATE_REQUIRED:
		return 1;
	default:
		return 0;
	}
}

/*
 * A failed SSL call: SSL_get_error() gave e. `during` is "handshake" or
 * "connection". Classifies and records the failure.
 */
static rp_status io_failure(rp_tlsc *c, int e, const char *during)
{
	unsigned long le = ERR_peek_error();
	int reason = le != 0 && ERR_GET_LIB(le) == ERR_LIB_SSL ? ERR_GET_REASON(le) : 0;
	int saved = errno;

	if (c->state == ST_TLS && SSL_get_verify_result(c->ssl) != X509_V_OK) {
		return verify_failure(c, SSL_get_verify_result(c->ssl));
	}
	if (e == SSL_ERROR_ZERO_RETURN) {
		return fail(c, RP_E_CLOSED, "server closed the %s", during);
	}
	if (reason >= SSL_AD_REASON_OFFSET && alert_about_us(reason - SSL_AD_REASON_OFFSET)) {
		return fail(c, RP_E_DENIED, "server refused the client certificate (%s)",
			    ssl_reason("alert"));
	}
	if (reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION || reason == SSL_R_UNSUPPORTED_PROTOCOL ||
	    reason == SSL_R_WRONG_VERSION_NUMBER) {
		return fail(c, RP_E_PROTOCOL, "server does not speak TLS 1.3 (%s)",
			    ssl_reason("version"));
	}
	if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING ||
	    (e == SSL_ERROR_SYSCALL && le == 0 && saved == 0)) {
		return fail(c, RP_E_CLOSED, "server closed the %s", during);
	}
	if (e == SSL_ERROR_SYSCALL && le == 0) {
		return fail(c, RP_E_IO, "%s broken: %s", during, strerror(saved));
	}
	return fail(c, c->state == ST_TLS ? RP_E_PROTOCOL : RP_E_IO, "TLS %s failed: %s", during,
		    ssl_reason("unknown error"));
}

/* ST_TCP: 1 when the socket is connected, 0 when still waiting, or the
 * failure when no address is left. */
static rp_status tcp_step(rp_tlsc *c, int *connected)
{
	struct pollfd p = {.fd = c->fd, .events = POLLOUT};
	socklen_t len = sizeof(int);
	int soerr = 0, n;

	*connected = 0;
	for (;;) {
		p.fd = c->fd;
		p.revents = 0;
		n = poll(&p, 1, 0);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n == 0) {
			return RP_OK; /* still connecting */
		}
		if (n < 0 || getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) {
			soerr = errno;
		}
		if (soerr == 0) {
			*connected = 1;
			return RP_OK;
		}
		c->tcp_errno = soerr;
		(void)close(c->fd);
		c->fd = -1;
		if (tcp_next(c) != 0) {
			return fail(c, RP_E_IO, "cannot connect: %s", strerror(c->tcp_errno));
		}
	}
}

rp_status rp_tlsc_handshake(rp_tlsc *c)
{
	rp_status st;
	int connected, r, e;

	if (c == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (c->state == ST_FAILED) {
		return c->failure;
	}
	if (c->state == ST_OPEN) {
		return RP_OK;
	}
	if (c->state == ST_TCP) {
		st = tcp_step(c, &connected);
		if (st != RP_OK) {
			return st;
		}
		if (!connected) {
			c->events = POLLOUT;
			return RP_NEED_MORE;
		}
		st = tls_begin(c);
		if (st != RP_OK) {
			return st;
		}
	}
	ERR_clear_error();
	errno = 0;
	r = SSL_connect(c->ssl);
	if (r != 1) {
		e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			c->events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
			return RP_NEED_MORE;
		}
		return io_failure(c, e, "handshake");
	}
	/* Fail closed: believe the handshake only with a verified certificate. */
	if (SSL_get0_peer_certificate(c->ssl) == NULL) {
		return fail(c, RP_E_AUTH, "server sent no certificate");
	}
	if (SSL_get_verify_result(c->ssl) != X509_V_OK) {
		return verify_failure(c, SSL_get_verify_result(c->ssl));
	}
	c->state = ST_OPEN;
	c->events = POLLIN;
	return RP_OK;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Waits for the connection's events until deadline; 0 ready, -1 timeout. */
static int wait_until(const rp_tlsc *c, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = c->fd, .events = c->events != 0 ? c->events : POLLIN};
		uint64_t now = now_ms();
		int n;

		if (now >= deadline) {
			return -1;
		}
		n = poll(&p, 1, (int)(deadline - now > 60000u ? 60000u : deadline - now));
		if (n > 0 || (n < 0 && errno != EINTR)) {
			return 0; /* ready, or an error the next call will see */
		}
	}
}

rp_status rp_tlsc_connect(rp_tlsc_ctx *ctx, const char *host, uint16_t port,
			  const char *server_name, uint32_t timeout_ms, rp_tlsc **out, char *err,
			  size_t errcap)
{
	uint64_t deadline = now_ms() + (timeout_ms != 0 ? timeout_ms : RP_TLSC_DEFAULT_TIMEOUT_MS);
	rp_tlsc *c = NULL;
	rp_status st;

	if (out == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	st = rp_tlsc_start(ctx, host, port, server_name, &c, err, errcap);
	if (st != RP_OK) {
		return st;
	}
	while ((st = rp_tlsc_handshake(c)) == RP_NEED_MORE) {
		if (wait_until(c, deadline) != 0) {
			st = fail(c, RP_E_TIMEOUT, "%s timed out",
				  c->state == ST_TCP ? "TCP connect" : "TLS handshake");
			break;
		}
	}
	if (st != RP_OK) {
		put_err(err, errcap, "%s", c->err);
		rp_tlsc_close(c);
		return st;
	}
	*out = c;
	return RP_OK;
}

/* ---- data -------------------------------------------------------------------- */

int rp_tlsc_fd(const rp_tlsc *c)
{
	return c != NULL ? c->fd : -1;
}

short rp_tlsc_events(const rp_tlsc *c)
{
	if (c == NULL) {
		return 0;
	}
	return c->events != 0 ? c->events : POLLIN;
}

size_t rp_tlsc_pending(const rp_tlsc *c)
{
	int n;

	if (c == NULL || c->state != ST_OPEN) {
		return 0;
	}
	n = SSL_pending(c->ssl);
	return n > 0 ? (size_t)n : 0;
}

static rp_status not_open(const rp_tlsc *c)
{
	return c->state == ST_FAILED ? c->failure : RP_E_STATE;
}

rp_status rp_tlsc_read(rp_tlsc *c, uint8_t *buf, size_t cap, size_t *n)
{
	int r, e;

	if (n != NULL) {
		*n = 0;
	}
	if (c == NULL || buf == NULL || n == NULL || cap == 0) {
		return RP_E_INVALID_ARG;
	}
	if (c->state != ST_OPEN) {
		return not_open(c);
	}
	ERR_clear_error();
	errno = 0;
	r = SSL_read_ex(c->ssl, buf, cap, n);
	if (r == 1) {
		c->events = POLLIN;
		return RP_OK;
	}
	*n = 0;
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		c->events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		return RP_NEED_MORE;
	}
	return io_failure(c, e, "connection");
}

rp_status rp_tlsc_write(rp_tlsc *c, const uint8_t *buf, size_t len, size_t *n)
{
	int r, e;

	if (n != NULL) {
		*n = 0;
	}
	if (c == NULL || buf == NULL || n == NULL || len == 0) {
		return RP_E_INVALID_ARG;
	}
	if (c->state != ST_OPEN) {
		return not_open(c);
	}
	ERR_clear_error();
	errno = 0;
	r = SSL_write_ex(c->ssl, buf, len, n);
	if (r == 1) {
		c->events = POLLIN;
		return RP_OK;
	}
	*n = 0;
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		c->events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		return RP_NEED_MORE;
	}
	return io_failure(c, e, "connection");
}

rp_status rp_tlsc_write_all(rp_tlsc *c, const uint8_t *buf, size_t len, uint32_t timeout_ms)
{
	uint64_t deadline = now_ms() + timeout_ms;
	size_t done = 0, n;
	rp_status st;

	if (c == NULL || buf == NULL || len == 0) {
		return RP_E_INVALID_ARG;
	}
	while (done < len) {
		st = rp_tlsc_write(c, buf + done, len - done, &n);
		if (st == RP_OK) {
			done += n;
			continue;
		}
		if (st != RP_NEED_MORE) {
			return st;
		}
		if (wait_until(c, deadline) != 0) {
			return RP_E_TIMEOUT;
		}
	}
	return RP_OK;
}

rp_status rp_tlsc_read_wait(rp_tlsc *c, uint8_t *buf, size_t cap, size_t *n, uint32_t timeout_ms)
{
	uint64_t deadline = now_ms() + timeout_ms;
	rp_status st;

	for (;;) {
		st = rp_tlsc_read(c, buf, cap, n);
		if (st != RP_NEED_MORE) {
			return st;
		}
		if (wait_until(c, deadline) != 0) {
			return RP_E_TIMEOUT;
		}
	}
}

rp_status rp_tlsc_channel_binding(rp_tlsc *c, uint8_t out[RP_TLSC_CHANNEL_BINDING_LEN])
{
	if (c == NULL || out == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (c->state != ST_OPEN) {
		return RP_E_STATE;
	}
	ERR_clear_error();
	if (SSL_export_keying_material(c->ssl, out, RP_TLSC_CHANNEL_BINDING_LEN, CB_LABEL,
				       sizeof(CB_LABEL) - 1, NULL, 0, 0) != 1) {
		ERR_clear_error();
		return RP_E_CRYPTO;
	}
	return RP_OK;
}

SSL *rp_tlsc_ssl(rp_tlsc *c)
{
	return c != NULL ? c->ssl : NULL;
}

const char *rp_tlsc_error(const rp_tlsc *c)
{
	return c != NULL ? c->err : "";
}

void rp_tlsc_close(rp_tlsc *c)
{
	if (c == NULL) {
		return;
	}
	if (c->ssl != NULL) {
		if (c->state == ST_OPEN) {
			/* One try at close_notify; never wait for the answer. */
			ERR_clear_error();
			(void)SSL_shutdown(c->ssl);
		}
		SSL_free(c->ssl);
		ERR_clear_error();
	}
	if (c->fd >= 0) {
		(void)close(c->fd);
	}
	if (c->ai_list != NULL) {
		freeaddrinfo(c->ai_list);
	}
	rp_tlsc_ctx_free(c->ctx);
	free(c);
}
