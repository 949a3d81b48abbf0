/*
 * rampart/est_client.h - the device's enrollment client (EST, RFC 7030).
 *
 * A device gets its operational certificate from rampartd's EST endpoints
 * (docs/est.md) with a key it made itself, in its keystore:
 *
 *     rp_est_enroll(&client, &cred, rp_keystore_pkey(ks), RP_EST_ENROLL,
 *                   &cert, &chain, err, sizeof(err));
 *     rp_est_save("device.crt", cert, chain);
 *     ... later, at rp_est_renew_at(cert, rnd) ...
 *     rp_est_enroll(&client, &(rp_est_credential){.cert_file = "device.crt",
 *                   .cert_key = rp_keystore_pkey(ks)}, rp_keystore_pkey(ks),
 *                   RP_EST_REENROLL, &cert, &chain, err, sizeof(err));
 *
 * What it checks (fail closed):
 * - The server: TLS 1.3 only, the fleet root (trust_file) as the only trust
 *   anchor (no system CAs), the host name of the URL checked against the
 *   server certificate. There is no option to turn any of it off.
 * - The CA certificates (/cacerts) are used only if they chain to the root.
 * - The issued certificate is accepted only if it chains to the root through
 *   those CA certificates for TLS client use, names exactly the device id as
 *   its CN, and holds the public key of the key the CSR was signed with.
 *
 * Channel binding: the CSR is built and signed once the TLS session is up,
 * and carries the session's tls-exporter value (RFC 9266: 32 bytes of the
 * exporter "EXPORTER-Channel-Binding", empty context) in its
 * challengePassword attribute, base64 (as RFC 7030 3.5 does with
 * tls-unique), so a server that checks it knows the CSR was made for this
 * very connection and cannot have been relayed from another one.
 *
 * Conventions
 * - Memory: the client structures are the caller's and only read. Objects
 *   returned through X509 ** and STACK_OF(X509) ** are the caller's, freed
 *   with X509_free and sk_X509_pop_free(..., X509_free). EVP_PKEY arguments
 *   are borrowed (a keystore's key: its private operations may happen in a
 *   PKCS#11 token).
 * - Errors: every function that takes err writes there, on failure, one
 *   line for the operator (at most cap bytes, NUL-terminated; the server's
 *   own text when it gave one, stripped of control characters). Never a
 *   secret: the token is not repeated.
 * - Statuses say what to do next: RP_E_IO and RP_E_TIMEOUT (no answer) and
 *   RP_E_BUSY (HTTP 429 or 503) are worth retrying later with a backoff;
 *   RP_E_AUTH (401, 403: credential refused), RP_E_DENIED (409: the device
 *   is revoked), RP_E_INVALID_ARG (400, 413, 415, or a bad argument),
 *   RP_E_CRYPTO (TLS verification or a response that does not verify),
 *   RP_E_MALFORMED (a response that does not parse) and RP_E_PROTOCOL (any
 *   other HTTP status) are not, without a change.
 * - Threads: functions are reentrant; each call makes its own HTTPS
 *   connection. Call rp_est_global_init() once, before other threads run
 *   (it initialises libcurl).
 */
#ifndef RAMPART_EST_CLIENT_H
#define RAMPART_EST_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "rampart/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Whole request, connection included, when rp_est_client.timeout_ms is 0. */
#define RP_EST_DEFAULT_TIMEOUT_MS 30000u
/* Largest response body read (bounds what a hostile server can make us
 * hold); a PKCS#7 of a few certificates is a few KiB. */
#define RP_EST_MAX_RESPONSE 65536u

typedef struct rp_est_client {
	const char *url;        /* "https://host[:port]", no path: the EST base */
	const char *trust_file; /* PEM: the fleet root, the only trust anchor */
	const char *device_id;  /* the CSR's CN; checked in the certificate */
	uint32_t timeout_ms;    /* 0: RP_EST_DEFAULT_TIMEOUT_MS */
	/* NULL, or the address to connect to instead of the URL's host, which
	 * stays the name the server's certificate must carry (a server known
	 * by address whose certificate names it otherwise). */
	const char *connect_host;
} rp_est_client;

/* How the device proves who it is. For RP_EST_ENROLL: a token, or a factory
 * certificate (cert_file + cert_key), or both (the server then prefers the
 * token). For RP_EST_REENROLL: the current certificate (cert_file +
 * cert_key); a token is refused (RP_E_INVALID_ARG). */
typedef struct rp_est_credential {
	const char *token;     /* one-time enrollment token, sent as HTTP Basic
				  (user = device id); NULL: none */
	const char *cert_file; /* PEM chain: the client certificate first; NULL: none */
	EVP_PKEY *cert_key;    /* the private key of cert_file's certificate */
} rp_est_credential;

typedef enum rp_est_op {
	RP_EST_ENROLL = 1, /* /simpleenroll: the first certificate */
	RP_EST_REENROLL    /* /simplereenroll: renewal (the key may change) */
} rp_est_op;

/* Once per process, before threads: initialises libcurl. RP_OK or RP_E_INTERNAL. */
rp_status rp_est_global_init(void);

/*
 * GET /.well-known/est/cacerts. *out gets the CA certificates the server
 * sent, kept only if every one of them chains to the trust root (the root
 * itself included when the server sends it). Returns RP_OK and *out, or a
 * status as in the conventions above.
 */
rp_status rp_est_cacerts(const rp_est_client *c, STACK_OF(X509) * *out, char *err, size_t cap);

/*
 * Enrolls (op RP_EST_ENROLL) or renews (RP_EST_REENROLL) the key `key`: gets
 * the CA certificates, connects, makes a CSR (CN = device id, the channel
 * binding, signed by key with SHA-256 for P-256 and SHA-384 for P-384),
 * posts it with the credential, and checks the certificate it gets (see the
 * top of this header). Returns RP_OK, *cert (the device certificate) and
 * *chain (the CA certificates between it and the root, for the TLS client
 * to send), or a status as in the conventions above, and nothing in *cert
 * and *chain.
 */
rp_status rp_est_enroll(const rp_est_client *c, const rp_est_credential *cred, EVP_PKEY *key,
			rp_est_op op, X509 **cert, STACK_OF(X509) * *chain, char *err, size_t cap);

/*
 * Writes cert then chain, PEM, to path: a temporary file in the same
 * directory, fsync, rename, fsync of the directory, so a power cut leaves
 * the old file or the new one. Mode 0644 (a certificate is public). Returns
 * RP_OK, RP_E_INVALID_ARG, RP_E_IO.
 */
rp_status rp_est_save(const char *path, X509 *cert, STACK_OF(X509) * chain);

/*
 * When to renew cert: at two thirds of its lifetime, minus up to a tenth of
 * the lifetime chosen by rnd (uniform over the 32-bit range), so a fleet
 * enrolled in one hour does not renew in one minute. Unix seconds; 0 if
 * the certificate's dates cannot be read.
 */
int64_t rp_est_renew_at(const X509 *cert, uint32_t rnd);

#ifdef __cplusplus
}
#endif

#endif /* RAMPART_EST_CLIENT_H */
