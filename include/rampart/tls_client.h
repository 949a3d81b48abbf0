/*
 * rampart/tls_client.h - the device's TLS connection to Rampart (Linux,
 * OpenSSL 3).
 *
 * One small client for every TLS connection a device opens to its fleet:
 * MQTT to rampartd (rampart/link.h drives it without blocking) and HTTPS to
 * the enrollment service (the EST client reads and writes with the blocking
 * helpers, or through the SSL object, and binds its requests to the channel
 * with rp_tlsc_channel_binding()).
 *
 * The policy is fixed here and nothing can weaken it (docs/device-link.md):
 * - TLS 1.3 only; X25519, P-256, P-384; security level 2; no compression.
 * - The server's certificate MUST chain to a certificate of the fleet root
 *   file given in rp_tlsc_config.ca_file. Nothing else is trusted: not the
 *   system store, not $SSL_CERT_FILE, not a partial chain. Every certificate
 *   of that file must be a CA. RFC 5280 strict checks (X509_V_FLAG_X509_STRICT),
 *   purpose TLS server, at most 2 intermediates.
 * - The server's certificate MUST carry the configured server name in its
 *   subjectAltName: a DNS name (checked with SSL_set1_host, no partial
 *   wildcards, never the subject CN; also sent as SNI) or an IP address
 *   when the name is an IPv4/IPv6 literal (X509_VERIFY_PARAM_set1_ip_asc;
 *   no SNI, as RFC 6066 says).
 * - Verification cannot be turned off: there is no option for it. A
 *   connection is usable only after the handshake completed AND the
 *   verification result is X509_V_OK with a peer certificate present.
 *
 * Conventions
 * - Ownership: rp_tlsc_ctx_new() and rp_tlsc_start()/rp_tlsc_connect()
 *   allocate; rp_tlsc_ctx_free() and rp_tlsc_close() free. The key and
 *   certificates in rp_tlsc_config are borrowed: the context takes its own
 *   references (EVP_PKEY_up_ref, X509_up_ref), so the caller may free its
 *   own at once. The key MAY be one whose private operations happen
 *   elsewhere (a PKCS#11 token through the keystore, rampart/keystore.h);
 *   it MUST stay usable (its token session open) while the context lives.
 * - A connection keeps a reference on its context: the two may be freed in
 *   either order.
 * - NULL: rp_tlsc_ctx_free(NULL) and rp_tlsc_close(NULL) do nothing; err
 *   buffers may be NULL (no text); any other NULL is RP_E_INVALID_ARG.
 * - Threads: a context is immutable after rp_tlsc_ctx_new() and may be
 *   shared by threads. A connection is used by one thread at a time.
 *   OpenSSL's per-thread error queue is cleared before each call.
 * - Errors: every failure leaves a sentence for the operator in the err
 *   buffer or in rp_tlsc_error(): what failed and why, e.g. "server
 *   certificate does not chain to the fleet root (unable to get local
 *   issuer certificate) [127.0.0.1:8883]". It never holds key material.
 * - Signals: writes use send(MSG_NOSIGNAL): a peer that went away never
 *   raises SIGPIPE in the application.
 * - Blocking: rp_tlsc_start() resolves the host name with getaddrinfo(),
 *   which may block (use an IP literal or a local resolver to avoid it);
 *   everything else on a connection is non-blocking except the helpers
 *   that take a timeout.
 */
#ifndef RAMPART_TLS_CLIENT_H
#define RAMPART_TLS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "rampart/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Timeout of rp_tlsc_connect() when 0 is given: TCP connect and handshake. */
#define RP_TLSC_DEFAULT_TIMEOUT_MS 10000u

/* rp_tlsc_channel_binding(): the tls-exporter value of RFC 9266. */
#define RP_TLSC_CHANNEL_BINDING_LEN 32u

/* Longest text kept for rp_tlsc_error() (with its NUL). */
#define RP_TLSC_ERROR_MAX 256u

/* The shared, immutable part: trust anchors, client identity, policy. */
typedef struct rp_tlsc_ctx rp_tlsc_ctx;

/* One connection. */
typedef struct rp_tlsc rp_tlsc;

typedef struct rp_tlsc_config {
	/* PEM file of the fleet root (or roots): the only trust anchors.
	 * Required. Every certificate in it must be a CA certificate. */
	const char *ca_file;
	/*
	 * The client's certificate for mutual TLS, either as a PEM file (leaf
	 * first, then intermediates), or as X509 objects (cert, and chain for
	 * the intermediates, may be NULL); not both. With either, key is
	 * required and must match the leaf. All NULL: no client certificate
	 * (a server that asks for one will refuse the handshake).
	 */
	const char *cert_file;
	X509 *cert;
	STACK_OF(X509) * chain;
	EVP_PKEY *key;
} rp_tlsc_config;

/*
 * Builds a context from *cfg: loads the fleet root file into a trust store
 * of its own, loads or references the client certificate chain, the key,
 * and checks that the key matches the certificate.
 *
 * Returns RP_OK and *out; RP_E_INVALID_ARG (NULL cfg/out, no ca_file, both
 * cert_file and cert, a certificate without a key or a key without one);
 * RP_E_CONFIG (a file unreadable or holding no certificate, a trust anchor
 * that is not a CA, a key that does not match); RP_E_NOMEM; RP_E_CRYPTO
 * (OpenSSL refused the policy). *out is NULL on failure, err says why.
 */
rp_status rp_tlsc_ctx_new(const rp_tlsc_config *cfg, rp_tlsc_ctx **out, char *err, size_t errcap);

/* Drops the caller's reference (connections keep theirs). NULL: nothing. */
void rp_tlsc_ctx_free(rp_tlsc_ctx *ctx);

/*
 * Starts a connection to host:port without blocking on the network:
 * resolves host (getaddrinfo: may block), opens a non-blocking TCP socket
 * (TCP_NODELAY, close-on-exec) and starts connecting to the first address.
 * server_name is the name the certificate must carry (NULL: host). Drive
 * it with rp_tlsc_handshake() until RP_OK; each address is tried in turn
 * when the previous one refuses.
 *
 * Returns RP_OK and *out; RP_E_INVALID_ARG (NULL, empty host, port 0, a
 * server name that is neither a DNS name nor an IP literal); RP_E_NOT_FOUND
 * (the name does not resolve); RP_E_IO (no address could even be tried);
 * RP_E_NOMEM. *out is NULL on failure, err says why.
 */
rp_status rp_tlsc_start(rp_tlsc_ctx *ctx, const char *host, uint16_t port, const char *server_name,
			rp_tlsc **out, char *err, size_t errcap);

/*
 * Advances the TCP connect and the TLS handshake; never blocks. The
 * caller keeps the deadline (rp_tlsc_connect() shows how).
 *
 * Returns:
 * - RP_OK: the handshake completed and the server's certificate verified
 *   (chain to the fleet root, name, validity, purpose). Read and write.
 * - RP_NEED_MORE: wait until rp_tlsc_fd() is ready for rp_tlsc_events(),
 *   then call again.
 * - RP_E_AUTH: the server's certificate was refused (rp_tlsc_error() says
 *   why: no chain to the fleet root, name mismatch, expired...). Nothing
 *   but the handshake has been sent.
 * - RP_E_DENIED: the server refused us (an alert about our certificate).
 * - RP_E_IO: no address accepted the TCP connection, or it broke.
 * - RP_E_CLOSED: the server closed the connection during the handshake.
 * - RP_E_PROTOCOL: any other TLS failure (e.g. the server lacks TLS 1.3).
 * - RP_E_NOMEM: OpenSSL could not allocate.
 * - RP_E_INVALID_ARG: c is NULL.
 * A failure is sticky: later calls return the same status, and the
 * connection can only be closed.
 */
rp_status rp_tlsc_handshake(rp_tlsc *c);

/*
 * rp_tlsc_start() and rp_tlsc_handshake() with poll(), until done or
 * timeout_ms (0: RP_TLSC_DEFAULT_TIMEOUT_MS) have passed on the monotonic
 * clock. Returns as rp_tlsc_handshake() (never RP_NEED_MORE), plus
 * RP_E_TIMEOUT and the statuses of rp_tlsc_start(). *out is set only on
 * RP_OK; otherwise err says why.
 */
rp_status rp_tlsc_connect(rp_tlsc_ctx *ctx, const char *host, uint16_t port,
			  const char *server_name, uint32_t timeout_ms, rp_tlsc **out, char *err,
			  size_t errcap);

/* The socket, to poll; -1 for NULL. Never close it yourself. */
int rp_tlsc_fd(const rp_tlsc *c);

/*
 * The poll() events (POLLIN, POLLOUT) the last call that returned
 * RP_NEED_MORE waits for; POLLIN when nothing waits. 0 for NULL.
 */
short rp_tlsc_events(const rp_tlsc *c);

/*
 * Bytes already decrypted and buffered by OpenSSL: read them before
 * waiting in poll(), which cannot see them. 0 for NULL.
 */
size_t rp_tlsc_pending(const rp_tlsc *c);

/*
 * Reads at most cap bytes into buf; sets *n. Never blocks.
 * Returns RP_OK (*n > 0); RP_NEED_MORE (nothing to read now: poll for
 * rp_tlsc_events()); RP_E_CLOSED (the server closed the connection);
 * RP_E_DENIED (the server refused our certificate: TLS 1.3 reports it
 * after the client's side of the handshake); RP_E_IO (connection broken,
 * TLS error); RP_E_STATE (no completed handshake, or failed before);
 * RP_E_INVALID_ARG. Failures are sticky.
 */
rp_status rp_tlsc_read(rp_tlsc *c, uint8_t *buf, size_t cap, size_t *n);

/*
 * Writes at most len bytes of buf; sets *n (may be fewer than len). Never
 * blocks. After RP_NEED_MORE nothing was written: call again, once the
 * socket is ready, with the same bytes first (more may follow them; the
 * buffer may have moved). Returns RP_OK (*n > 0), RP_NEED_MORE, RP_E_IO,
 * RP_E_CLOSED, RP_E_STATE, RP_E_INVALID_ARG (len 0 included). Failures are
 * sticky.
 */
rp_status rp_tlsc_write(rp_tlsc *c, const uint8_t *buf, size_t len, size_t *n);

/*
 * Blocking helpers for request/response protocols (EST over HTTPS): write
 * all of buf, or read at least one byte (at most cap; *n set), waiting
 * with poll() at most timeout_ms in all. Return as rp_tlsc_write/read,
 * plus RP_E_TIMEOUT instead of RP_NEED_MORE.
 */
rp_status rp_tlsc_write_all(rp_tlsc *c, const uint8_t *buf, size_t len, uint32_t timeout_ms);
rp_status rp_tlsc_read_wait(rp_tlsc *c, uint8_t *buf, size_t cap, size_t *n, uint32_t timeout_ms);

/*
 * The tls-exporter channel binding of RFC 9266: 32 bytes exported with the
 * label "EXPORTER-Channel-Binding" and no context. The same value on both
 * ends proves there is no TLS-terminating party in between.
 * Returns RP_OK; RP_E_STATE before the handshake completed; RP_E_CRYPTO;
 * RP_E_INVALID_ARG.
 */
rp_status rp_tlsc_channel_binding(rp_tlsc *c, uint8_t out[RP_TLSC_CHANNEL_BINDING_LEN]);

/*
 * The OpenSSL connection, for what this API does not wrap (e.g.
 * SSL_export_keying_material with another label, the peer certificate).
 * Owned by c; MUST NOT be freed, shut down or reconfigured. NULL before the
 * TCP connection is up, and for NULL.
 */
SSL *rp_tlsc_ssl(rp_tlsc *c);

/* Why the connection failed, for the operator; "" if it has not. Never NULL. */
const char *rp_tlsc_error(const rp_tlsc *c);

/*
 * Closes the connection: a TLS close_notify if the handshake completed and
 * the socket takes it now (never waits), then the socket; frees c.
 * NULL: nothing.
 */
void rp_tlsc_close(rp_tlsc *c);

#ifdef __cplusplus
}
#endif

#endif /* RAMPART_TLS_CLIENT_H */
