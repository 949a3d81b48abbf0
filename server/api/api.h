/*
 * server/api/api.h - the REST API of rampartd: HTTPS, JSON, under /api/v1.
 * docs/api.md is the long form; docs/api.yaml (OpenAPI 3.0) lists every
 * route, and a test checks that it and the route table agree.
 *
 * Model
 * - CivetWeb (Debian's libcivetweb) serves HTTPS only, with rampartd's TLS
 *   policy (docs/tls.md: TLS 1.3, 1.2 with ECDHE + AEAD only if allowed,
 *   X25519 / P-256 / P-384, no compression, renegotiation or 0-RTT) set on
 *   its SSL_CTX through the init_ssl callback. Operators authenticate
 *   with a password and TOTP, automation with a bearer token; a client
 *   certificate is requested (never required) only when enrollment is on,
 *   and only the EST routes look at it. Nothing is served from files and
 *   nothing is listed.
 * - Enrollment (EST, RFC 7030) has its own routes under /.well-known/est/
 *   and its own pipeline (text errors, RFC 7030 media types): docs/est.md.
 *   So has GET /crl (opts->crl): the issuing CA's CRL, DER, public and the
 *   one cacheable response (ETag, Last-Modified, a short max-age).
 * - The server certificate is installed in every new connection by a
 *   certificate callback, from a pair rp_api_reload_cert() swaps (SIGHUP):
 *   CivetWeb is never restarted, open connections keep theirs.
 * - Every request runs on a CivetWeb worker thread, in this order (each
 *   step can end it with a JSON error body {"error": CODE, "detail": TEXT}):
 *   route lookup (404, 405), path and query parameters (400, 414), Origin
 *   of state-changing requests (403), body size and type before a byte is
 *   read (413, 415), authentication (401, 429), the session's TOTP state
 *   and the route's permission through rp_role_allows() (403), the CSRF
 *   token of a session (403), the body (400, 413), then the handler. A
 *   route that is not in the table is 404; the table maps every route to
 *   exactly one permission, and only the login is public.
 * - The store is used synchronously (the worker waits; never an event
 *   loop). Every change made through the API appends an audit entry (who,
 *   what, target, source address) after the change committed.
 * - Security headers on every response, errors included:
 *   Strict-Transport-Security, X-Content-Type-Options: nosniff,
 *   Content-Security-Policy: default-src 'none'; frame-ancestors 'none',
 *   Cache-Control: no-store (but on the CRL), Referrer-Policy: no-referrer.
 *
 * Conventions
 * - Ownership: rp_api_start() copies what it needs from opts (strings
 *   included); the store MUST outlive the API (close it after
 *   rp_api_stop()).
 * - Threads: rp_api_start() and rp_api_stop() from one thread, once each
 *   per API. Block the process's signals before rp_api_start() (CivetWeb's
 *   threads inherit the mask) and ignore SIGPIPE. opts->publish is called
 *   on worker threads, several at once.
 * - Logging: never a password, token, cookie, TOTP key or request body;
 *   one INFO line per request (method, path, status, actor, address).
 * - JSON is jansson, whose allocations go through rp_alloc() once
 *   rp_api_json_init() has run. Call it at the start of main(), before
 *   anything in the process makes a jansson object.
 */
#ifndef RP_SERVER_API_H
#define RP_SERVER_API_H

#include <stddef.h>
#include <stdint.h>

#include "auth/password.h"
#include "auth/throttle.h"
#include "pki/issuer.h"
#include "rampart/limits.h"
#include "rampart/status.h"
#include "store/store.h"

typedef struct rp_api rp_api;

/*
 * Publishes payload[0 .. len) to topic through the broker (QoS 1, not
 * retained): how a command reaches d/{id}/cmd/{name}. Called on an HTTP
 * worker thread; MUST be thread-safe and MUST NOT keep the pointers after
 * it returns. Returns RP_OK if the broker accepted the message (queued
 * for the device or delivered), anything else if not; the command is then
 * stored as failed and the client gets 503.
 */
typedef rp_status (*rp_api_publish_fn)(void *ctx, const char *topic, const uint8_t *payload,
				       size_t len);

/*
 * A device was revoked through POST /api/v1/devices/{id}/revoke: its status
 * and every certificate of it are revoked in the store (committed). Called
 * on an HTTP worker thread; MUST be thread-safe.
 */
typedef void (*rp_api_revoked_fn)(void *ctx, const char *device_id);

/* The CRL GET /crl serves (docs/api.md, "CRL"). */
typedef struct rp_api_crl {
	uint8_t *der; /* DER, a new buffer the API frees with rp_free() */
	size_t len;
	uint64_t number;     /* cRLNumber: the ETag */
	int64_t this_update; /* Unix seconds: Last-Modified */
	int64_t next_update; /* Unix seconds: caches keep it at most until then */
} rp_api_crl;

/*
 * Fills *out with a copy of the current CRL. Called on an HTTP worker
 * thread; MUST be thread-safe. Returns RP_OK, or anything else when there
 * is none (the client gets 503).
 */
typedef rp_status (*rp_api_crl_fn)(void *ctx, rp_api_crl *out);

/* Zero-initialise, then set what you need; 0 or NULL means the default. */
typedef struct rp_api_opts {
	/* "127.0.0.1:8443", "0.0.0.0:8443", "[::]:8443": a numeric address
	 * and a port; port 0 takes any free port (tests: rp_api_port()). */
	const char *address;
	const char *cert_file; /* server certificate chain, PEM, leaf first */
	const char *key_file;  /* its key, PEM, unencrypted, mode o-rwx */
	int allow_tls12;       /* 1: TLS 1.2 (ECDHE + AEAD) besides 1.3 */

	unsigned threads;  /* RP_DEFAULT_API_THREADS, cap RP_LIMIT_API_THREADS */
	unsigned queue;    /* RP_DEFAULT_API_QUEUE, cap RP_LIMIT_API_QUEUE */
	size_t max_header; /* RP_DEFAULT_API_HEADER_BYTES, cap RP_LIMIT_API_HEADER_BYTES */
	size_t max_body;   /* RP_DEFAULT_API_BODY, cap RP_LIMIT_API_BODY */
	unsigned request_timeout_ms; /* RP_DEFAULT_API_REQUEST_TIMEOUT_MS, cap ..._LIMIT_... */
	unsigned keepalive_ms; /* RP_DEFAULT_API_KEEPALIVE_MS, cap RP_LIMIT_API_KEEPALIVE_MS */

	/* Web sessions: absolute lifetime, seconds (RP_DEFAULT_SESSION_LIFETIME_S,
	 * cap RP_LIMIT_SESSION_LIFETIME_S). */
	unsigned session_lifetime_s;
	/* API tokens: lifetime when the request names none, and the longest
	 * one granted (RP_DEFAULT_API_TOKEN_LIFETIME_S, RP_LIMIT_...). */
	unsigned token_lifetime_s;
	unsigned token_lifetime_max_s;

	/* Argon2id cost of new hashes (NULL: the defaults). Checked with
	 * rp_password_params_check() unless allow_weak_params (tests). */
	const rp_password_params *password;
	int allow_weak_params;
	/* Login throttle (NULL: the defaults); its on_lock is replaced by the
	 * API's own (an audit entry), the rest is used as given. */
	const rp_throttle_config *throttle;

	/* Initial value of the "TOTP required for everyone" setting
	 * (PATCH /api/v1/settings changes it at run time). */
	int totp_required;
	/*
	 * Key sealing TOTP secrets in the store (AES-256-GCM, the operator's
	 * name as associated data), 32 bytes, copied. NULL: secrets are stored
	 * in the clear (a WARN line at start) until rampartd has a
	 * secrets-at-rest key.
	 */
	const uint8_t *secret_key;

	rp_api_publish_fn publish; /* NULL: commands are refused with 503 */
	void *publish_ctx;
	/* A device was revoked (committed): end its connections now and refuse
	 * its next ones. Called on a worker thread; NULL: nothing to tell. */
	rp_api_revoked_fn revoked;
	void *revoked_ctx;
	/* GET /crl, public: the CRL of the issuing CA, DER. NULL: 503. */
	rp_api_crl_fn crl;
	void *crl_ctx;

	/*
	 * Enrollment (EST, RFC 7030; docs/est.md) on this listener under
	 * /.well-known/est/. est_issuer NULL and est_issuing_cert NULL or "":
	 * enrollment is off, the EST routes answer 503, and no client
	 * certificate is requested. Otherwise rp_api_start() loads, once, and
	 * refuses to start (RP_E_CONFIG, RP_E_AUTH) if anything does not fit:
	 * - est_issuer: the issuing CA and its key, loaded by the caller
	 *   (server/pki/issuer.h: a key file or a PKCS#11 token), borrowed: it
	 *   MUST outlive the API (close it after rp_api_stop()). rampartd
	 *   shares one with its CRL. When it is set, est_issuing_cert,
	 *   est_issuing_key and est_issuing_key_pass are not used.
	 * - else est_issuing_cert: the issuing CA certificate (PEM), which signs
	 *   device certificates; its key est_issuing_key, an encrypted PKCS#8
	 *   PEM (rp_pki_key_load(): mode 0600 or stricter), whose passphrase
	 *   is the content of the file est_issuing_key_pass (group and others
	 *   may not access it; one final newline is ignored), wiped once the
	 *   key is decrypted. The key stays in memory for the API's life.
	 * - est_root_cert: the fleet root (PEM, the first certificate of the
	 *   file), the issuer of the issuing CA: /cacerts serves it with the
	 *   issuing CA, and renewals must chain to it.
	 * - est_manufacturer_ca: NULL or "", or a PEM bundle of manufacturer
	 *   CAs (at most RP_LIMIT_EST_MANUFACTURER_CAS): a TLS client
	 *   certificate they issued may enroll the device its CN names.
	 * With enrollment on, the listener asks every client for a
	 *   certificate without requiring one (REST clients send none).
	 */
	const rp_pki_issuer *est_issuer;
	const char *est_issuing_cert;
	const char *est_issuing_key;
	const char *est_issuing_key_pass;
	const char *est_root_cert;
	const char *est_manufacturer_ca;
	const char *est_fleet;          /* the SAN URI's fleet name; NULL: "rampart" */
	unsigned est_device_validity_s; /* 0: RP_DEFAULT_PKI_DEVICE_VALIDITY_S */
} rp_api_opts;

/*
 * Starts the HTTPS server. Returns RP_OK with *out; RP_E_INVALID_ARG
 * (NULL, a malformed address, an option above its cap); RP_E_CONFIG
 * (certificate or key unusable, weak Argon2 parameters, the address
 * cannot be bound, Debian's CivetWeb not the build this module can
 * repair: see docs/api.md "CivetWeb and OpenSSL 3"; an EST file missing,
 * unsafe or not fitting the others); RP_E_AUTH (the issuing key's
 * passphrase is wrong); RP_E_NOMEM; RP_E_CRYPTO. On failure err (if
 * err_cap > 0) holds a reason for the log; it never holds key material.
 */
rp_status rp_api_start(const rp_api_opts *opts, rp_store *store, rp_api **out, char *err,
		       size_t err_cap);

/* The bound TCP port (the one port 0 got). */
uint16_t rp_api_port(const rp_api *api);

/*
 * SIGHUP: reads the server certificate chain and key again (opts->cert_file,
 * key_file: the same rules as at start) and, only if they are usable (the
 * key is the certificate's, not expired, strong enough for the policy),
 * makes them the pair every new TLS connection gets. Connections already
 * open keep theirs; CivetWeb is not restarted. On failure the current pair
 * stays and err says why. Thread-safe. Returns RP_OK, RP_E_CONFIG,
 * RP_E_NOMEM, RP_E_INVALID_ARG (api NULL).
 */
rp_status rp_api_reload_cert(rp_api *api, char *err, size_t err_cap);

/*
 * Stops accepting, waits for the requests in progress, frees everything.
 * NULL is allowed.
 */
void rp_api_stop(rp_api *api);

/*
 * Routes jansson's allocations through rp_alloc() (uncharged). Idempotent
 * and thread-safe; rp_api_start() calls it too. Known limit: jansson 2.14
 * aborts if an allocation fails while it reads a string (jansson issue
 * 362), so under real memory exhaustion a request can abort the process.
 */
void rp_api_json_init(void);

/* ------------------------------------------------------------------------
 * Command results
 * ------------------------------------------------------------------------ */

/*
 * A device answered a command: payload[0 .. len) was published by device_id
 * on d/{device_id}/cmd/{name}/result. The payload is
 *   {"id": COMMAND_ID, "status": "done" | "failed", "result": ANY JSON}
 * ("result" optional). Looks the command up, checks that it belongs to
 * this device and has this name and is still open (pending or sent), and
 * records the result. Asynchronous: returns at once; done(ctx, status)
 * (may be NULL) is called later ON THE STORAGE THREAD, exactly once if the
 * call returned RP_OK. For the broker's event loop.
 * Returns RP_OK (queued); RP_E_MALFORMED (payload, name or id not as
 * above); RP_E_NOMEM; RP_E_BUSY (store queue full). done gets RP_OK, or
 * RP_E_NOT_FOUND (no such command for this device and name), RP_E_STATE
 * (already answered), or a store error.
 */
rp_status rp_api_command_result(rp_store *store, const char *device_id, const char *name,
				const uint8_t *payload, size_t len, int64_t now_ms,
				rp_store_done_fn done, void *ctx);

#endif /* RP_SERVER_API_H */
