/*
 * server/net/tls.h - rampartd's TLS policy and non-blocking TLS connections.
 *
 * One policy for every listener (MQTT now, HTTPS later), written down in
 * docs/tls.md: TLS 1.3 (1.2 with ECDHE and AEAD only, if configured),
 * groups X25519, P-256, P-384, no compression, no renegotiation, no 0-RTT,
 * a client certificate REQUIRED and verified against the fleet CA bundle and
 * the CRL at every handshake, resumed ones included. There is no option to
 * turn verification off.
 *
 * Conventions
 * - Ownership: an rp_tls_ctx is reference-counted. rp_tls_ctx_new() and
 *   rp_tls_ctx_reload() return it with one reference, the caller's; every
 *   rp_tls_conn takes one more for its own lifetime, so a context swapped
 *   out on SIGHUP lives until its last connection is freed. The caller owns
 *   the fd given to rp_tls_conn_new() (see transport.h).
 * - NULL: functions taking a ctx or conn require non-NULL unless stated;
 *   rp_tls_ctx_unref(NULL) and rp_tls_conn_free(NULL) are no-ops.
 * - Threads: an rp_tls_ctx is shared by every loop thread: rp_tls_conn_new(),
 *   ref/unref, rp_tls_conn_still_valid() and the handshakes of different
 *   connections may run at once (the ticket keys are behind a mutex, the
 *   refcount is atomic, OpenSSL's X509_STORE locks itself). An rp_tls_conn
 *   is used by one thread at a time (its loop's).
 * - Status: as transport.h. rp_tls_handshake() returns RP_E_AUTH for every
 *   certificate failure (none, expired, not chaining to the fleet CA,
 *   revoked, unusable subject) and RP_E_PROTOCOL for negotiation failures
 *   (version, cipher, group, bad message).
 * - Reasons: rp_tls_last_error() and the err buffers of the context
 *   functions hold fixed texts (OpenSSL's reason strings, or ours) and file
 *   paths; never key material, never bytes from the peer.
 * - Errors of OpenSSL are taken off the thread's error queue by the call
 *   that caused them; no call leaves the queue dirty for the next one.
 */
#ifndef RP_SERVER_NET_TLS_H
#define RP_SERVER_NET_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "net/transport.h"
#include "rampart/status.h"

/* Default and bounds of the session (ticket) lifetime, seconds. The upper
 * bound is one day: a ticket key lives at most twice this (docs/tls.md). */
#define RP_TLS_TICKET_LIFETIME_DEFAULT 7200u
#define RP_TLS_TICKET_LIFETIME_MIN     60u
#define RP_TLS_TICKET_LIFETIME_MAX     86400u

/* Most intermediate CAs between a client's leaf and the fleet CA (OpenSSL's
 * verify depth): bounds the CPU one handshake can cost. The fleet needs 1
 * (root, issuing CA, device); 2 leaves room for one more tier. */
#define RP_TLS_VERIFY_DEPTH 2

/* Largest certificate list a peer may send: bounds pre-authentication
 * memory (OpenSSL's default is 100 KiB; a device chain is about 2 KiB). */
#define RP_TLS_MAX_CERT_LIST (16u * 1024u)

typedef struct rp_tls_ctx rp_tls_ctx;

/* What a context is built from. Paths are copied; strings may be freed
 * after the call. Zero-initialise, then set what you need. */
typedef struct rp_tls_opts {
	/* Listener name, used as the TLS session id context, so a session of
	 * one listener never resumes on another ("mqtt", "https"). NULL: "mqtt". */
	const char *name;
	const char *cert_file; /* server certificate chain, PEM, leaf first */
	const char *key_file;  /* server private key, PEM, unencrypted, and not
				  accessible to other users (mode o-rwx) */
	const char *ca_file;   /* fleet CA bundle: client chains must end here */
	const char *crl_file;  /* CRLs, PEM; NULL or "": no revocation check */
	/* A second CRL file, PEM, read and checked as crl_file: the issuing
	 * CA's CRL that rampartd makes itself (server/core/crl.h); NULL or "":
	 * none. With either file set, revocation is checked. */
	const char *own_crl_file;
	/* Check revocation of the leaf only. Default (0): every certificate of
	 * the chain, and then the CRL files MUST hold a CRL from every CA of
	 * the bundle (checked when the context is built). */
	int crl_leaf_only;
	int allow_tls12;          /* 1: TLS 1.2 (ECDHE + AEAD) as well as 1.3 */
	int disable_tickets;      /* 1: no session tickets, hence no resumption */
	unsigned ticket_lifetime; /* seconds, 0: default; [MIN, MAX] otherwise */
} rp_tls_opts;

/*
 * Builds a server context from opts. The key file is read into memory that
 * is wiped and freed before return. The CRL must be current (thisUpdate
 * passed, nextUpdate not) and signed by a CA of the bundle.
 * Returns RP_OK and *out; RP_E_INVALID_ARG (NULL or missing path, lifetime
 * out of range); RP_E_CONFIG (a file missing, unreadable, malformed, a key
 * that does not match the certificate, an expired or foreign CRL, a CA
 * without CRL when the whole chain is checked); RP_E_NOMEM; RP_E_CRYPTO
 * (OpenSSL refused a setting). On failure err (if non-NULL, err_cap > 0)
 * holds a reason naming the file.
 */
rp_status rp_tls_ctx_new(const rp_tls_opts *opts, rp_tls_ctx **out, char *err, size_t err_cap);

/*
 * SIGHUP: builds a NEW context from opts (NULL: the options old was built
 * with) re-reading every file. The new context shares old's session ticket
 * keys, so clients resume across a reload; a resumed session is verified
 * against the NEW store (CA + CRL) before it is accepted. old is not
 * changed: connections keep their SSL objects and their context. The
 * caller swaps: new connections get the new context, then
 * rp_tls_ctx_unref(old). Returns as rp_tls_ctx_new(); on failure old stays
 * valid and in use.
 */
rp_status rp_tls_ctx_reload(const rp_tls_ctx *old, const rp_tls_opts *opts, rp_tls_ctx **out,
			    char *err, size_t err_cap);

/*
 * As rp_tls_ctx_reload() with old's options, but the server certificate
 * chain and key are old's own (from memory, not the files): only the CA
 * bundle and the CRLs are read again. For when a full reload failed on the
 * certificate or key (a rotation gone wrong): a new CRL then still takes
 * effect. Returns as rp_tls_ctx_new(); on failure old stays valid.
 */
rp_status rp_tls_ctx_reload_trust(const rp_tls_ctx *old, rp_tls_ctx **out, char *err,
				  size_t err_cap);

/* Takes one more reference. Returns ctx. */
rp_tls_ctx *rp_tls_ctx_ref(rp_tls_ctx *ctx);

/* Drops one reference; the last one frees the context. NULL is a no-op. */
void rp_tls_ctx_unref(rp_tls_ctx *ctx);

/*
 * Rotates the session ticket keys now: the current key becomes the
 * previous one (it still decrypts, and tickets it opens are replaced), the
 * previous one is wiped, a fresh current one is drawn. Rotation also
 * happens by itself every ticket_lifetime seconds, at the first handshake
 * after the deadline. Affects every context sharing the keys. Returns
 * RP_OK, or RP_E_CRYPTO if the random generator failed (nothing changed).
 */
rp_status rp_tls_ctx_rotate_ticket_keys(rp_tls_ctx *ctx);

/*
 * Earliest nextUpdate of the loaded CRLs, so the server can warn before
 * the CRL runs out (then every handshake fails: fail closed). 0 if no CRL
 * is configured or none carries a nextUpdate.
 */
time_t rp_tls_ctx_crl_next_update(const rp_tls_ctx *ctx);

/*
 * A TLS connection on the accepted, non-blocking socket fd, server side.
 * Takes a reference on ctx. Returns NULL on allocation failure or fd < 0.
 */
rp_tls_conn *rp_tls_conn_new(rp_tls_ctx *ctx, int fd);

/* The conn as a transport-agnostic rp_conn (same object). */
rp_conn *rp_tls_conn_base(rp_tls_conn *c);

/*
 * Drives the handshake. RP_OK once complete: the client certificate
 * verified and its identity extracted (rp_tls_peer_identity()).
 * RP_NEED_MORE: wait for rp_tls_wants(). RP_E_AUTH (certificate refused),
 * RP_E_PROTOCOL, RP_E_CLOSED, RP_E_IO: dead, see rp_tls_last_error().
 * Calling it again after RP_OK returns RP_OK.
 */
rp_status rp_tls_handshake(rp_tls_conn *c);

/* As rp_conn_read()/rp_conn_write(); RP_E_STATE before the handshake. */
rp_status rp_tls_read(rp_tls_conn *c, uint8_t *buf, size_t cap, size_t *out_len);
rp_status rp_tls_write(rp_tls_conn *c, const uint8_t *buf, size_t len, size_t *out_len);

/* Sends close_notify (does not wait for the peer's). As rp_conn_shutdown(). */
rp_status rp_tls_shutdown(rp_tls_conn *c);

/* RP_LOOP_READ or RP_LOOP_WRITE: what the last RP_NEED_MORE waits for. */
unsigned rp_tls_wants(const rp_tls_conn *c);

/* Bytes buffered inside OpenSSL that the fd will not signal (transport.h). */
size_t rp_tls_pending(const rp_tls_conn *c);

/* Copies the identity: RP_OK once the handshake completed (also after a
 * later error or close, for the logs), RP_E_STATE (handshake not complete),
 * RP_E_AUTH (handshake failed on the certificate; RP_E_STATE for other
 * handshake failures). */
rp_status rp_tls_peer_identity(const rp_tls_conn *c, rp_peer_identity *id);

/* 1 if the handshake resumed a session, 0 if not (or not yet done). */
int rp_tls_session_reused(const rp_tls_conn *c);

/* The reason of the last failure, safe to log; "" if none. Never NULL. */
const char *rp_tls_last_error(const rp_tls_conn *c);

/*
 * Re-verifies the live connection's peer certificate (and the chain it
 * sent, if any) against ctx's store: the CA bundle, the CRL and the
 * validity period, now. For SIGHUP: check every connection against the new
 * context and close those that fail. Returns RP_OK (still valid),
 * RP_E_AUTH (revoked, expired, no longer chains; *why, if non-NULL, gets
 * the reason), RP_E_STATE (no completed handshake), RP_E_NOMEM.
 */
rp_status rp_tls_conn_check(const rp_tls_conn *c, const rp_tls_ctx *ctx, const char **why);

/* 1 if rp_tls_conn_check(c, new_ctx, NULL) is RP_OK, else 0 (fail closed). */
int rp_tls_conn_still_valid(const rp_tls_conn *c, const rp_tls_ctx *new_ctx);

/* Frees the connection (does not send close_notify, does not close fd)
 * and drops its context reference. NULL is a no-op. */
void rp_tls_conn_free(rp_tls_conn *c);

/*
 * The device id rules, shared with the plain development listener: s (len
 * bytes, no terminator needed) MUST be 1..RP_LIMIT_MQTT_CLIENT_ID_LEN bytes
 * of well-formed UTF-8 without NUL, C0/C1 controls, DEL, '/', '+', '#'.
 * Returns RP_OK or RP_E_AUTH.
 */
rp_status rp_tls_check_device_id(const char *s, size_t len);

#endif /* RP_SERVER_NET_TLS_H */
