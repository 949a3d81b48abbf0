/*
 * tests/support/tlssrv.h - both ends of a test's TLS connection to the
 * device SDK.
 *
 * The server side, for a test server that runs in a thread of the test
 * (the echo server of test_tls_client.c, the scripted MQTT server of
 * mqttsrv.h): a listening socket on 127.0.0.1 port 0, a server context
 * that asks for a client certificate as rampartd does, an accept with time
 * limits. The client side: the device's TLS context with the fleet's
 * dev-0001 (testpki.h), as the tests of the link and the runtime use it.
 *
 *   uint16_t port;
 *   int lfd = tlssrv_listen(&port);
 *   SSL_CTX *ctx = tlssrv_ctx(&fleet.server, &fleet.ca);
 *   ... in the server thread: int fd = tlssrv_accept(lfd, 5000);
 *       SSL *ssl = tlssrv_handshake(ctx, fd);
 *
 * Conventions
 * - Functions return a descriptor, a pointer or 0 on success and -1 or
 *   NULL on failure; a test asserts on that. A failure of the test's own
 *   set-up (a socket, a context) also prints a line on stderr; a timed out
 *   accept or a refused handshake does not (tests cause those on purpose).
 * - Any thread may call them; they share no state.
 * - Ownership: the caller closes descriptors and frees what it is given
 *   (SSL_CTX_free, SSL_free, rp_tlsc_ctx_free).
 */
#ifndef RP_TESTS_TLSSRV_H
#define RP_TESTS_TLSSRV_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "rampart/tls_client.h"
#include "testpki.h"

/* A socket listening on 127.0.0.1, an ephemeral port (written to *port),
 * close-on-exec. Returns the descriptor or -1. */
int tlssrv_listen(uint16_t *port);

/* A port of 127.0.0.1 that was just free (bound, never listened on,
 * closed): connecting to it is refused. Returns 0 or -1. */
int tlssrv_unused_port(uint16_t *port);

/*
 * A TLS server context as rampartd's: the certificate and key of server, a
 * client certificate required and verified against client_ca (nothing
 * else is trusted). Returns it, or NULL.
 */
SSL_CTX *tlssrv_ctx(const testpki_id *server, const testpki_id *client_ca);

/*
 * Waits up to timeout_ms for a connection on lfd and accepts it; reads on
 * it time out after 5 s, so a test never hangs on a client that went
 * quiet. Returns the descriptor, or -1.
 */
int tlssrv_accept(int lfd, int timeout_ms);

/* The server's side of the handshake on fd (not taken over: the caller
 * closes it). Returns the connection, or NULL when the handshake failed
 * (the OpenSSL error queue cleared). */
SSL *tlssrv_handshake(SSL_CTX *ctx, int fd);

/* Blocks SIGPIPE in the calling thread: a test server's write to a client
 * that went away fails with EPIPE, while SIGPIPE still kills the process
 * if the client under test (in the main thread) ever raises it. */
void tlssrv_block_sigpipe(void);

/*
 * The device's TLS context: fleet root f's ca.crt, dev-0001.crt and its key
 * as an EVP_PKEY (as the keystore hands it). Returns it, or NULL with the
 * reason on stderr.
 */
rp_tlsc_ctx *tlssrv_device_ctx(const testpki_fleet *f);

#endif /* RP_TESTS_TLSSRV_H */
