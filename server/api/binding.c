/*
 * server/api/binding.c - the TLS channel binding of EST enrollments:
 * tls-exporter (RFC 9266) of each HTTPS connection, for h_est.c to compare
 * with the challengePassword of a CSR (docs/est.md, "Channel binding").
 *
 * Implementation notes
 * - OpenSSL computes the exporter from the connection's SSL, which the
 *   request handlers never see: CivetWeb keeps it private. So an info
 *   callback on the listener's SSL_CTX computes it once the handshake is
 *   done (SSL_CB_HANDSHAKE_DONE) and files it under the connection object
 *   CivetWeb attached to the SSL as app data (the pointer handlers get as
 *   their mg_connection) and the client's TCP port; a handler looks it up
 *   with the same two.
 * - CivetWeb reuses a connection object per worker thread for one socket
 *   after another; every TLS connection completes its own handshake, and
 *   so overwrites the entry, before its first request is read, so an entry
 *   found for (object, port) is the current connection's. The port check
 *   keeps a stale entry from ever being taken for a new connection.
 * - The table is bounded (RP__API_BINDING_SLOTS, far above the number of
 *   worker threads); when it is full, nothing is filed and a CSR that
 *   carries a binding is refused as unverifiable: fail closed.
 * - TLS 1.2 connections (allowed only when configured) get no entry: RFC
 *   9266's exporter is defined for TLS 1.3, and tls-unique is not used.
 * - The exporter is a secret of the session: it is compared in constant
 *   time and wiped with the table.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "api/binding.h"

#define EXPORTER_LABEL "EXPORTER-Channel-Binding"

typedef struct slot {
	const void *conn; /* NULL: free */
	uint16_t port;
	uint8_t ekm[RP__API_BINDING_LEN];
} slot;

struct rp__api_binding {
	pthread_mutex_t mu;
	slot slots[RP__API_BINDING_SLOTS];
	void (*prev)(const SSL *, int, int); /* CivetWeb's own info callback */
};

static int ex_index = -1;
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;

static void ex_init(void)
{
	ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static uint16_t peer_port(const SSL *ssl)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	int fd = SSL_get_fd(ssl);

	if (fd < 0 || getpeername(fd, (struct sockaddr *)&sa, &len) != 0) {
		return 0;
	}
	if (sa.ss_family == AF_INET) {
		return ntohs(((struct sockaddr_in *)&sa)->sin_port);
	}
	if (sa.ss_family == AF_INET6) {
		return ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
	}
	return 0;
}

static void file_it(rp__api_binding *b, const void *conn, uint16_t port, const uint8_t *ekm)
{
	slot *free_slot = NULL, *s = NULL;

	pthread_mutex_lock(&b->mu);
	for (size_t i = 0; i < RP__API_BINDING_SLOTS; i++) {
		if (b->slots[i].conn == conn) {
			s = &b->slots[i];
			break;
		}
		if (free_slot == NULL && b->slots[i].conn == NULL) {
			free_slot = &b->slots[i];
		}
	}
	if (s == NULL) {
		s = free_slot; /* NULL when full: nothing filed, fail closed */
	}
	if (s != NULL) {
		s->conn = conn;
		s->port = port;
		memcpy(s->ekm, ekm, RP__API_BINDING_LEN);
	}
	pthread_mutex_unlock(&b->mu);
}

static void on_info(const SSL *ssl, int where, int ret)
{
	SSL_CTX *ctx = SSL_get_SSL_CTX(ssl);
	rp__api_binding *b = ctx != NULL ? SSL_CTX_get_ex_data(ctx, ex_index) : NULL;
	uint8_t ekm[RP__API_BINDING_LEN];
	const void *conn;

	if (b == NULL) {
		return;
	}
	if (b->prev != NULL) {
		b->prev(ssl, where, ret);
	}
	if ((where & SSL_CB_HANDSHAKE_DONE) == 0 || SSL_version(ssl) != TLS1_3_VERSION) {
		return;
	}
	conn = SSL_get_app_data(ssl);
	/* SSL_export_keying_material takes a non-const SSL but does not
	 * change the connection; OpenSSL's info callback gets a const one.
	 * (Through uintptr_t: the one place a const is dropped, on purpose.) */
	if (conn == NULL ||
	    SSL_export_keying_material((SSL *)(uintptr_t)ssl, ekm, sizeof(ekm), EXPORTER_LABEL,
				       strlen(EXPORTER_LABEL), NULL, 0, 0) != 1) {
		return;
	}
	file_it(b, conn, peer_port(ssl), ekm);
	OPENSSL_cleanse(ekm, sizeof(ekm));
}

rp__api_binding *rp__api_binding_new(void)
{
	rp__api_binding *b = OPENSSL_zalloc(sizeof(*b));

	if (b != NULL && pthread_mutex_init(&b->mu, NULL) != 0) {
		OPENSSL_free(b);
		b = NULL;
	}
	return b;
}

int rp__api_binding_install(rp__api_binding *b, void *ssl_ctx)
{
	SSL_CTX *ctx = ssl_ctx;

	pthread_once(&ex_once, ex_init);
	if (ex_index < 0 || SSL_CTX_set_ex_data(ctx, ex_index, b) != 1) {
		return 0;
	}
	b->prev = SSL_CTX_get_info_callback(ctx);
	SSL_CTX_set_info_callback(ctx, on_info);
	return 1;
}

int rp__api_binding_check(rp__api_binding *b, const void *conn, uint16_t port, const char *text,
			  size_t len)
{
	uint8_t ekm[RP__API_BINDING_LEN];
	char want[48];
	int found = 0, same;

	pthread_mutex_lock(&b->mu);
	for (size_t i = 0; i < RP__API_BINDING_SLOTS; i++) {
		if (b->slots[i].conn == conn && b->slots[i].port == port) {
			memcpy(ekm, b->slots[i].ekm, sizeof(ekm));
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&b->mu);
	if (!found) {
		return -1;
	}
	/* 32 bytes -> 44 base64 characters and a NUL. */
	EVP_EncodeBlock((unsigned char *)want, ekm, (int)sizeof(ekm));
	same = len == 44u && CRYPTO_memcmp(want, text, 44u) == 0;
	OPENSSL_cleanse(ekm, sizeof(ekm));
	OPENSSL_cleanse(want, sizeof(want));
	return same;
}

void rp__api_binding_free(rp__api_binding *b)
{
	if (b == NULL) {
		return;
	}
	pthread_mutex_destroy(&b->mu);
	OPENSSL_clear_free(b, sizeof(*b));
}
