/*
 * tlssrv.c - both ends of a test's TLS connection (see tlssrv.h).
 */
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "tlssrv.h"

static int fail(const char *what)
{
	fprintf(stderr, "tlssrv: %s\n", what);
	ERR_print_errors_fp(stderr);
	return -1;
}

/* A socket bound to 127.0.0.1 port 0; its port in *port. */
static int bind_loopback(int type, uint16_t *port)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int fd;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, type, 0);
	if (fd < 0) {
		return fail("socket");
	}
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
		close(fd);
		return fail("bind to 127.0.0.1 port 0");
	}
	*port = ntohs(a.sin_port);
	return fd;
}

int tlssrv_listen(uint16_t *port)
{
	int fd = bind_loopback(SOCK_STREAM | SOCK_CLOEXEC, port);

	if (fd >= 0 && listen(fd, 8) != 0) {
		close(fd);
		return fail("listen");
	}
	return fd;
}

int tlssrv_unused_port(uint16_t *port)
{
	int fd = bind_loopback(SOCK_STREAM, port);

	if (fd < 0) {
		return -1;
	}
	close(fd);
	return 0;
}

SSL_CTX *tlssrv_ctx(const testpki_id *server, const testpki_id *client_ca)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method()), *ret = NULL;
	X509_STORE *store = X509_STORE_new();

	if (ctx == NULL || store == NULL || X509_STORE_add_cert(store, client_ca->cert) != 1) {
		goto out;
	}
	SSL_CTX_set_cert_store(ctx, store); /* the context owns it now */
	store = NULL;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	if (SSL_CTX_use_certificate(ctx, server->cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, server->key) != 1) {
		goto out;
	}
	ret = ctx;
	ctx = NULL;
out:
	if (ret == NULL) {
		fail("cannot make the server's TLS context");
	}
	X509_STORE_free(store);
	SSL_CTX_free(ctx);
	return ret;
}

int tlssrv_accept(int lfd, int timeout_ms)
{
	struct pollfd p = {.fd = lfd, .events = POLLIN};
	struct timeval tv = {.tv_sec = 5};
	int fd;

	if (poll(&p, 1, timeout_ms) != 1) {
		return -1;
	}
	fd = accept(lfd, NULL, NULL);
	if (fd >= 0) {
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	return fd;
}

SSL *tlssrv_handshake(SSL_CTX *ctx, int fd)
{
	SSL *ssl = SSL_new(ctx);

	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_accept(ssl) != 1) {
		SSL_free(ssl);
		ERR_clear_error();
		return NULL;
	}
	return ssl;
}

void tlssrv_block_sigpipe(void)
{
	sigset_t pipe_set;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
}

rp_tlsc_ctx *tlssrv_device_ctx(const testpki_fleet *f)
{
	char ca[512], cert[512], err[RP_TLSC_ERROR_MAX];
	rp_tlsc_config cfg;
	rp_tlsc_ctx *ctx = NULL;
	rp_status st;

	memset(&cfg, 0, sizeof(cfg));
	cfg.ca_file = testpki_path(f, "ca.crt", ca, sizeof(ca));
	cfg.cert_file = testpki_path(f, "dev-0001.crt", cert, sizeof(cert));
	cfg.key = f->device.key; /* an EVP_PKEY, as the keystore gives it */
	if (cfg.ca_file == NULL || cfg.cert_file == NULL) {
		fail("fleet path too long");
		return NULL;
	}
	st = rp_tlsc_ctx_new(&cfg, &ctx, err, sizeof(err));
	if (st != RP_OK || ctx == NULL) {
		fprintf(stderr, "tlssrv: rp_tlsc_ctx_new: %s: %s\n", rp_status_str(st), err);
		return NULL;
	}
	return ctx;
}
