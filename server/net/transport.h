/*
 * server/net/transport.h - one connection interface over TLS or plain TCP.
 *
 * The broker (and later the HTTPS server) talks to an rp_conn and never
 * learns whether TLS is underneath, as Redis's connection.h does: an
 * rp_conn is a small base struct with a table of operations. Two
 * transports implement it:
 *   - TLS (server/net/tls.h): rp_tls_conn_new(), then rp_tls_conn_base();
 *   - plain TCP (this file): rp_conn_new_plain(), for the loopback
 *     development listener only (rampartd refuses a plain listener on a
 *     non-loopback address; that check is the listener's, not this file's).
 * A third transport (an in-memory one for fuzzing the broker without
 * sockets) is a table of operations away.
 *
 * Conventions
 * - Ownership: the caller owns the file descriptor. rp_conn_free() frees
 *   the transport state and never closes the fd; the caller unwatches it
 *   from the loop, frees the conn, then closes the fd, in that order.
 * - NULL: every function takes a non-NULL conn unless it says otherwise;
 *   rp_conn_free(NULL) is a no-op.
 * - Threads: a conn belongs to the loop thread that accepted it and is
 *   used from that thread only.
 * - Status conventions (every I/O function):
 *     RP_OK         done (for read and write: *out_len > 0 bytes moved);
 *     RP_NEED_MORE  would block: wait for the event rp_conn_wants() names
 *                   (RP_LOOP_READ or RP_LOOP_WRITE), then call the SAME
 *                   function again. A TLS read may want WRITE and a TLS
 *                   write may want READ; wait for what wants() says, not
 *                   for what the call was;
 *     RP_E_CLOSED   the peer closed the connection (orderly or reset);
 *     RP_E_AUTH     the peer's certificate was refused (handshake only);
 *     RP_E_PROTOCOL the peer broke the TLS protocol (bad record, version
 *                   or cipher it cannot negotiate, unexpected message);
 *     RP_E_IO       any other failure of the socket or the library;
 *     RP_E_STATE    the call is not valid now (read before the handshake
 *                   completed, anything after a fatal error);
 *     RP_E_INVALID_ARG  a NULL pointer or a zero read capacity.
 *   After any error other than RP_NEED_MORE the connection is dead: the
 *   caller frees it (rp_conn_shutdown() is pointless then).
 *   rp_conn_last_error() gives a reason that is safe to log.
 * - Buffered input: TLS decrypts whole records, so after RP_OK from a read
 *   more plaintext may wait inside the transport while the socket has
 *   nothing (a level-triggered loop would then never wake up). The caller
 *   MUST read until RP_NEED_MORE, or, when it stops early on purpose (back
 *   pressure), check rp_conn_pending() before waiting on the fd again.
 * - Writes: after RP_NEED_MORE from a write, the next write MUST offer the
 *   same bytes again (the buffer may move and may have grown; OpenSSL's
 *   rule for SSL_write with ACCEPT_MOVING_WRITE_BUFFER).
 * - SIGPIPE: the TLS transport writes with write(2); the process MUST
 *   ignore SIGPIPE (rampartd does at start). The plain transport uses
 *   MSG_NOSIGNAL.
 */
#ifndef RP_SERVER_NET_TRANSPORT_H
#define RP_SERVER_NET_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "rampart/limits.h"
#include "rampart/status.h"

/* Longest role name of a service client (urn:rampart:role:<name>). */
#define RP_ROLE_NAME_MAX 32u
/* Longest certificate serial Rampart accepts: 20 octets (RFC 5280 4.1.2.2). */
#define RP_CERT_SERIAL_MAX 20u

/*
 * Who the peer is, as proven by its verified certificate. Filled only from
 * a chain that verified against the fleet CA (and the CRL); never from
 * anything the peer says inside MQTT.
 */
typedef struct rp_peer_identity {
	/* Subject CN, UTF-8, NUL-terminated; no '/', '+', '#', controls. */
	char device_id[RP_LIMIT_MQTT_CLIENT_ID_LEN + 1];
	/* "device", or the service role from urn:rampart:role:<name>. */
	char role[RP_ROLE_NAME_MAX + 1];
	/* 1 for a service client (certificate carries a role URI). */
	int is_service;
	/* Serial number, lower-case hex of its octets, no leading "0x". */
	char serial_hex[2 * RP_CERT_SERIAL_MAX + 1];
	/* SHA-256 of the DER certificate, and the same in lower-case hex. */
	uint8_t sha256[32];
	char sha256_hex[64 + 1];
	/* notAfter, seconds since the Unix epoch (UTC). */
	int64_t not_after;
	/* 1 if this connection resumed a session (no certificate was sent;
	 * the identity comes from the session, re-verified at resumption). */
	int resumed;
} rp_peer_identity;

typedef struct rp_conn rp_conn;
typedef struct rp_tls_conn rp_tls_conn;

/* The operations of one transport. Internal to the transports. */
typedef struct rp_conn_ops {
	const char *name; /* "tls" or "tcp", for logs */
	rp_status (*handshake)(rp_conn *c);
	rp_status (*read)(rp_conn *c, uint8_t *buf, size_t cap, size_t *out_len);
	rp_status (*write)(rp_conn *c, const uint8_t *buf, size_t len, size_t *out_len);
	rp_status (*shutdown)(rp_conn *c);
	unsigned (*wants)(const rp_conn *c);
	size_t (*pending)(const rp_conn *c);
	rp_status (*peer_identity)(const rp_conn *c, rp_peer_identity *id);
	const char *(*last_error)(const rp_conn *c);
	void (*free)(rp_conn *c);
} rp_conn_ops;

/* The base every transport embeds as its first member. */
struct rp_conn {
	const rp_conn_ops *ops;
	int fd;
};

/*
 * A plain TCP connection on the non-blocking socket fd (loopback
 * development listener only). Returns NULL on allocation failure or fd < 0.
 */
rp_conn *rp_conn_new_plain(int fd);

/*
 * Completes the transport's handshake: RP_OK (at once for plain TCP),
 * RP_NEED_MORE, RP_E_AUTH, RP_E_PROTOCOL, RP_E_CLOSED, RP_E_IO, RP_E_STATE.
 */
rp_status rp_conn_handshake(rp_conn *c);

/* Reads up to cap (> 0) bytes: RP_OK with *out_len > 0, RP_NEED_MORE,
 * RP_E_CLOSED, RP_E_PROTOCOL, RP_E_IO, RP_E_STATE, RP_E_INVALID_ARG. */
rp_status rp_conn_read(rp_conn *c, uint8_t *buf, size_t cap, size_t *out_len);

/* Writes up to len bytes; a partial write is RP_OK with *out_len < len.
 * len == 0 is RP_OK with *out_len == 0. Otherwise as rp_conn_read(). */
rp_status rp_conn_write(rp_conn *c, const uint8_t *buf, size_t len, size_t *out_len);

/*
 * Starts an orderly close: TLS sends close_notify (it does not wait for
 * the peer's); plain TCP shuts down the write side. RP_OK, RP_NEED_MORE
 * (call again when wants() says), RP_E_STATE (connection already failed),
 * RP_E_IO.
 */
rp_status rp_conn_shutdown(rp_conn *c);

/* The event the last RP_NEED_MORE waits for: RP_LOOP_READ or RP_LOOP_WRITE
 * (RP_LOOP_READ before any call). */
unsigned rp_conn_wants(const rp_conn *c);

/* Bytes of input already inside the transport (decrypted or not), which
 * the fd will not signal. 0 for plain TCP. */
size_t rp_conn_pending(const rp_conn *c);

/*
 * Copies the peer's verified identity to *id. RP_OK; RP_E_STATE before the
 * handshake completed; RP_E_AUTH if the handshake failed; RP_E_NOT_FOUND
 * for plain TCP (there is no certificate: the development listener's
 * owner decides what a plain client may be).
 */
rp_status rp_conn_peer_identity(const rp_conn *c, rp_peer_identity *id);

/* Why the last call failed, safe to log (fixed text, never peer data or
 * secrets); "" when nothing failed. Never NULL. */
const char *rp_conn_last_error(const rp_conn *c);

/* The file descriptor given at creation. */
int rp_conn_fd(const rp_conn *c);

/* "tls" or "tcp". */
const char *rp_conn_kind(const rp_conn *c);

/* The TLS connection behind c, or NULL if c is plain TCP. */
rp_tls_conn *rp_conn_tls(rp_conn *c);

/* Frees the transport state (never closes the fd). NULL is a no-op. */
void rp_conn_free(rp_conn *c);

#endif /* RP_SERVER_NET_TRANSPORT_H */
