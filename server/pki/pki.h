/*
 * server/pki/pki.h - the fleet's X.509 engine: keys, CA and leaf
 * certificates, CSR validation, CRLs and the EST (RFC 7030) encodings.
 *
 * rampart init (the CLI), the EST endpoints (rampartd) and the store call
 * this module; it does no network I/O and holds no state between calls.
 * docs/pki.md has the hierarchy and every certificate profile as a table.
 *
 * Conventions
 * - Status: every fallible function returns an rp_status. Most also take
 *   `const char **why` (may be NULL): on failure it is set to a short fixed
 *   English text (never bytes of the input, never key material) for logs
 *   and error messages; on success to "".
 * - Verdicts start as deny: a CSR is accepted, a key loaded, a signer made,
 *   only after every check passed.
 * - Time is an argument (`now`, Unix seconds, UTC), never read here, so the
 *   engine is testable and one request sees one instant.
 * - Ownership: OpenSSL objects returned through `**out` (X509, X509_CRL,
 *   EVP_PKEY) belong to the caller (X509_free, ...). Objects passed in are
 *   borrowed for the call, except by rp_pki_signer_new(), which takes its
 *   own references. Module objects (rp_pki_signer, rp_pki_csr) are
 *   allocated through rp_alloc() and freed with their _free() (NULL is a
 *   no-op).
 * - Output buffers: `uint8_t *out, size_t cap, size_t *out_len`. Size
 *   first: when cap is too small (cap 0 and out NULL allowed) the function
 *   returns RP_E_BUF_TOO_SMALL with *out_len set to the size needed, and
 *   writes nothing. No terminating NUL is written.
 * - Secrets: passphrases stay in the caller's buffer (the caller wipes it);
 *   every copy this module makes (PEM text of a key, the decrypted PKCS#8)
 *   is wiped before it is freed.
 * - Threads: no global state of ours. Functions may run on several threads
 *   at once; an rp_pki_signer is immutable after rp_pki_signer_new() and
 *   may be shared (OpenSSL 3 signs with one EVP_PKEY from many threads).
 * - OpenSSL's per-thread error queue is left empty by every function.
 *
 * Signing keys are any EVP_PKEY: a software key loaded with
 * rp_pki_key_load(), or a key in a PKCS#11 token (rampart/keystore.h's
 * rp_keystore_pkey(); rampartd's issuing key: pki/issuer.h). The engine
 * only signs through X509_sign() and friends and reads the public half; it
 * never asks for the private key's bytes.
 */
#ifndef RP_SERVER_PKI_H
#define RP_SERVER_PKI_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "rampart/limits.h"
#include "rampart/status.h"

/* notBefore of every certificate is `now` minus this (devices whose clock
 * runs a little behind must not see a certificate that is "not yet valid"). */
#define RP_PKI_BACKDATE_S 300

/* Random serial numbers: 16 octets drawn, the top bit cleared (positive,
 * at most 16 content octets), never zero. */
#define RP_PKI_SERIAL_BYTES 16u

/* Text buffers of rp_pki_cert_sha256_hex() and rp_pki_cert_serial_hex(),
 * NUL included: the same lower-case hex rampartd's TLS identity gives. */
#define RP_PKI_SHA256_HEX_SIZE 65u
#define RP_PKI_SERIAL_HEX_SIZE (2u * 20u + 1u)

/* Prefix of the device SAN URI: urn:rampart:fleet:<fleet>:device:<id>. */
#define RP_PKI_DEVICE_URI_PREFIX "urn:rampart:fleet:"

/* Key algorithms the fleet uses (and the only ones a CSR may carry). */
typedef enum rp_pki_alg {
	RP_PKI_ALG_NONE = 0,
	RP_PKI_EC_P256, /* prime256v1, signatures ECDSA-SHA256 */
	RP_PKI_EC_P384, /* secp384r1, signatures ECDSA-SHA384 */
} rp_pki_alg;

/* Output encodings of certificates and CRLs. */
typedef enum rp_pki_format {
	RP_PKI_DER = 0,
	RP_PKI_PEM,
} rp_pki_format;

/* ---- identifiers ----------------------------------------------------------- */

/*
 * 1 if s[0 .. len) is a device id Rampart issues certificates for, else 0
 * (*why, if non-NULL, says which rule failed). No terminator needed.
 * Rules: 1 to RP_LIMIT_PKI_DEVICE_ID_LEN bytes of [A-Za-z0-9._-]; the first
 * is a letter or digit (no ".", "..", "-x": ids become file names, URL path
 * segments and CLI arguments); not "device" in any case (the role name of
 * devices); not starting with "svc-" in any case (reserved for the CNs of
 * service certificates the CLI issues, so that no device can enroll under
 * a service client's identity). Every such id is also accepted by
 * rampartd's TLS identity rules (rp_tls_check_device_id()), which are wider
 * (any UTF-8 up to 128 bytes) for ids made by other tools.
 */
int rp_pki_device_id_valid(const char *s, size_t len, const char **why);

/*
 * 1 if s[0 .. len) is a fleet name: 1 to RP_LIMIT_PKI_FLEET_NAME_LEN bytes
 * of [a-z0-9-], the first a letter or digit. Else 0 (*why set if non-NULL).
 */
int rp_pki_fleet_name_valid(const char *s, size_t len, const char **why);

/* ---- keys ------------------------------------------------------------------- */

/*
 * A new EC key pair on alg's curve, from OpenSSL's generator. Returns RP_OK
 * and *out; RP_E_INVALID_ARG (alg not P-256/P-384, out NULL); RP_E_CRYPTO.
 */
rp_status rp_pki_key_generate(rp_pki_alg alg, EVP_PKEY **out);

/* The algorithm of key: P-256, P-384, or RP_PKI_ALG_NONE for anything else. */
rp_pki_alg rp_pki_key_alg(const EVP_PKEY *key);

/*
 * Writes key to a NEW file at path as an encrypted PKCS#8 PEM ("ENCRYPTED
 * PRIVATE KEY"): PBES2, scrypt (N 2^14, r 8, p 1, 16-byte random salt),
 * AES-256-CBC. The passphrase is pass[0 .. pass_len), any bytes,
 * RP_PKI_PASSPHRASE_MIN to RP_PKI_PASSPHRASE_MAX of them.
 *
 * The file is created with O_CREAT|O_EXCL|O_NOFOLLOW and mode 0600 (umask
 * aside): an existing file or a symbolic link at path is never followed or
 * overwritten. The data is fsync()ed; on any failure after creation the
 * file is removed.
 *
 * Returns RP_OK; RP_E_INVALID_ARG (NULL, passphrase length); RP_E_STATE
 * (path exists: "key file already exists"); RP_E_DENIED (path is a
 * symbolic link); RP_E_IO (cannot create or write); RP_E_CRYPTO
 * (encryption failed); RP_E_NOMEM.
 */
rp_status rp_pki_key_save(const char *path, const EVP_PKEY *key, const char *pass, size_t pass_len,
			  const char **why);

/*
 * As rp_pki_key_save(), unencrypted ("PRIVATE KEY"). Only for the key that
 * rampartd's TLS listener must read at start without an operator (the
 * server certificate's key; server/net/tls.c refuses encrypted keys). Every
 * CA key MUST go through rp_pki_key_save(). Same returns.
 */
rp_status rp_pki_key_save_unencrypted(const char *path, const EVP_PKEY *key, const char **why);

/*
 * Reads an encrypted PKCS#8 PEM key written by rp_pki_key_save(). The file
 * is opened with O_NOFOLLOW and MUST be a regular file of at most
 * RP_PKI_KEY_FILE_MAX bytes that neither group nor others may access (mode
 * & 077 == 0); an unencrypted key is refused. The PEM text is wiped after
 * use. Keys other than EC P-256 / P-384 are refused.
 *
 * Returns RP_OK and *out; RP_E_INVALID_ARG (NULL, pass_len 0 or over
 * RP_PKI_PASSPHRASE_MAX); RP_E_NOT_FOUND (no such file); RP_E_DENIED
 * (symbolic link, mode allows group or others, not a regular file);
 * RP_E_IO (cannot read); RP_E_CONFIG (too large, not an encrypted PKCS#8
 * key, not P-256/P-384); RP_E_AUTH (wrong passphrase); RP_E_NOMEM.
 */
rp_status rp_pki_key_load(const char *path, const char *pass, size_t pass_len, EVP_PKEY **out,
			  const char **why);

/* Passphrase bounds of the key files (bytes). The minimum bounds offline
 * guessing of a stolen file; the CLI generates 32 random characters. */
#define RP_PKI_PASSPHRASE_MIN 16u
#define RP_PKI_PASSPHRASE_MAX 1024u
/* Largest key file read: an EC key in PEM is well under 1 KiB. */
#define RP_PKI_KEY_FILE_MAX (16u * 1024u)

/* ---- signers ---------------------------------------------------------------- */

/* A CA certificate and the key that signs for it. Opaque. */
typedef struct rp_pki_signer rp_pki_signer;

/*
 * A signer from a CA certificate and its key (any EVP_PKEY; its public half
 * MUST match cert's). Takes one reference on each (the caller keeps its
 * own). cert MUST be a CA (basicConstraints CA:TRUE) with a keyUsage
 * extension. Returns RP_OK and *out; RP_E_INVALID_ARG (NULL, not a CA,
 * no keyUsage); RP_E_CRYPTO (key does not match); RP_E_NOMEM.
 */
rp_status rp_pki_signer_new(X509 *cert, EVP_PKEY *key, rp_pki_signer **out, const char **why);

/* The signer's certificate (borrowed, lives as long as the signer). */
X509 *rp_pki_signer_cert(const rp_pki_signer *s);

void rp_pki_signer_free(rp_pki_signer *s);

/* ---- CA and server certificates (rampart init) -------------------------------- */

typedef struct rp_pki_ca_profile {
	/* Subject CN: 1..64 printable ASCII bytes (0x20..0x7E). Required. */
	const char *common_name;
	/* Subject O, same rules; NULL: none. */
	const char *organization;
	/* Seconds from now; 0: the default of the CA kind. Bounds: limits.h. */
	int64_t validity_s;
} rp_pki_ca_profile;

/*
 * The fleet root: self-signed by key, X.509 v3, basicConstraints CA:TRUE
 * pathlen 1 (critical), keyUsage keyCertSign + cRLSign (critical), SKI and
 * AKI (keyid), random serial, notBefore now - RP_PKI_BACKDATE_S, notAfter
 * now + validity (default RP_DEFAULT_PKI_ROOT_VALIDITY_S, at most
 * RP_LIMIT_PKI_ROOT_VALIDITY_S). Returns RP_OK and *out; RP_E_INVALID_ARG
 * (profile); RP_E_CRYPTO (signing failed); RP_E_NOMEM.
 */
rp_status rp_pki_root_ca_new(EVP_PKEY *key, const rp_pki_ca_profile *p, int64_t now, X509 **out,
			     const char **why);

/*
 * An issuing CA for pub (its public half is used), signed by root:
 * pathlen 0, otherwise as the root, AKI = root's SKI; default validity
 * RP_DEFAULT_PKI_ISSUING_VALIDITY_S, at most RP_LIMIT_PKI_ISSUING_VALIDITY_S.
 * Returns as rp_pki_root_ca_new(), and RP_E_STATE when root is not valid
 * at now or expires before the new certificate would.
 */
rp_status rp_pki_issuing_ca_new(const rp_pki_signer *root, EVP_PKEY *pub,
				const rp_pki_ca_profile *p, int64_t now, X509 **out,
				const char **why);

typedef struct rp_pki_server_profile {
	/* Subject CN; NULL: the first DNS name. Printable ASCII, 1..64. */
	const char *common_name;
	/* SAN dNSName entries: host names (LDH labels, no wildcard). */
	const char *const *dns;
	size_t dns_count;
	/* SAN iPAddress entries, as text: "127.0.0.1", "::1". */
	const char *const *ip;
	size_t ip_count;
	/* 0: RP_DEFAULT_PKI_SERVER_VALIDITY_S; at most RP_LIMIT_PKI_SERVER_VALIDITY_S. */
	int64_t validity_s;
} rp_pki_server_profile;

/*
 * rampartd's TLS certificate for pub, signed by ca (the issuing CA): CA:FALSE
 * and keyUsage digitalSignature (both critical), extendedKeyUsage
 * serverAuth, SAN = the DNS names and IP addresses (1 to
 * RP_LIMIT_PKI_SERVER_SANS in all), SKI, AKI. Returns as
 * rp_pki_issuing_ca_new().
 */
rp_status rp_pki_server_cert_new(const rp_pki_signer *ca, EVP_PKEY *pub,
				 const rp_pki_server_profile *p, int64_t now, X509 **out,
				 const char **why);

/* ---- CSRs and device certificates (EST) ------------------------------------- */

/* How a CSR body is encoded. */
typedef enum rp_pki_csr_encoding {
	RP_PKI_CSR_DER = 0, /* DER PKCS#10 */
	RP_PKI_CSR_PEM,     /* -----BEGIN [NEW ]CERTIFICATE REQUEST----- armour, no headers */
	RP_PKI_CSR_BASE64,  /* base64 of the DER, CR/LF allowed anywhere (EST, RFC 7030) */
	RP_PKI_CSR_AUTO,    /* 0x30 first: DER; "-----BEGIN ": PEM; else base64 */
} rp_pki_csr_encoding;

/*
 * Why a CSR was refused: one code per rule, for the EST error body and the
 * audit log (rp_pki_reject_str()), and the rp_status each comes with, for
 * the HTTP status class.
 */
typedef enum rp_pki_reject {
	RP_PKI_ACCEPTED = 0,
	RP_PKI_R_TOO_LARGE,   /* RP_E_TOO_LARGE: over RP_LIMIT_PKI_CSR_* before decoding */
	RP_PKI_R_ENCODING,    /* RP_E_MALFORMED: bad base64, or bad PEM armour */
	RP_PKI_R_DER,         /* RP_E_MALFORMED: not a DER PKCS#10 request */
	RP_PKI_R_TRAILING,    /* RP_E_MALFORMED: bytes after the request */
	RP_PKI_R_VERSION,     /* RP_E_MALFORMED: version is not 1 (value 0) */
	RP_PKI_R_KEY_TYPE,    /* RP_E_DENIED: key is not EC (RSA, DSA, Ed25519, ...) */
	RP_PKI_R_KEY_PARAMS,  /* RP_E_DENIED: EC key with explicit curve parameters */
	RP_PKI_R_CURVE,       /* RP_E_DENIED: a curve other than P-256 / P-384 */
	RP_PKI_R_KEY_INVALID, /* RP_E_DENIED: the public key fails validation */
	RP_PKI_R_SIG_ALG,     /* RP_E_DENIED: not ECDSA with SHA-256/384/512 */
	RP_PKI_R_SIGNATURE,   /* RP_E_CRYPTO: signature does not verify (no proof of possession) */
	RP_PKI_R_SUBJECT,     /* RP_E_DENIED: subject has no CN, or more than one */
	RP_PKI_R_DEVICE_ID,   /* RP_E_DENIED: CN is not a valid device id */
	RP_PKI_R_ID_MISMATCH, /* RP_E_DENIED: CN differs from the device id expected */
	RP_PKI_R_INTERNAL,    /* RP_E_NOMEM: our failure (memory), not the client's */
	RP_PKI_REJECT_COUNT_  /* not a reason: the number of codes */
} rp_pki_reject;

/* A short fixed English text for r ("CSR signature does not verify", ...);
 * "unknown reason" outside the enum. Never NULL. */
const char *rp_pki_reject_str(rp_pki_reject r);

/* A CSR that passed every check of rp_pki_csr_parse(). Opaque. */
typedef struct rp_pki_csr rp_pki_csr;

/*
 * Decodes and validates a PKCS#10 CSR as EST receives it. buf[0 .. len) is
 * attacker-controlled. In order:
 *  1. size: len <= RP_LIMIT_PKI_CSR_DER (DER) or RP_LIMIT_PKI_CSR_ENCODED
 *     (PEM, base64), checked before anything is decoded or allocated;
 *  2. decoding: strict base64 (RFC 4648 alphabet, '=' padding required and
 *     only at the end, unused bits zero, CR and LF skipped, nothing else),
 *     strict PEM armour; then DER of at most RP_LIMIT_PKI_CSR_DER bytes,
 *     nothing after it, and re-encoding to the same bytes;
 *  3. version 1;
 *  4. key: EC, a named curve (no explicit parameters), P-256 or P-384,
 *     passing EVP_PKEY_public_check_quick() (on the curve; cofactor 1);
 *  5. signature algorithm ECDSA with SHA-256, SHA-384 or SHA-512, and the
 *     signature verifies with the request's own key (proof of possession);
 *  6. subject: exactly one CN, a valid device id (rp_pki_device_id_valid());
 *     other attributes of the subject are ignored;
 *  7. if expect_id is non-NULL (the id an enrollment token, or the current
 *     certificate of a re-enrollment, binds), the CN equals it exactly.
 * Requested extensions and other attributes (challengePassword, ...) are
 * ignored: the issuer alone decides the profile.
 *
 * Returns RP_OK with *out (free with rp_pki_csr_free()) and *reject =
 * RP_PKI_ACCEPTED, or the status listed with the reject code above, and
 * *reject set (reject may be NULL). RP_E_INVALID_ARG for NULL arguments.
 */
rp_status rp_pki_csr_parse(const uint8_t *buf, size_t len, rp_pki_csr_encoding enc,
			   const char *expect_id, rp_pki_csr **out, rp_pki_reject *reject);

/* The CSR's device id (its CN), NUL-terminated, valid while csr lives. */
const char *rp_pki_csr_device_id(const rp_pki_csr *csr);

/* The CSR key's algorithm (P-256 or P-384). */
rp_pki_alg rp_pki_csr_alg(const rp_pki_csr *csr);

void rp_pki_csr_free(rp_pki_csr *csr);

/*
 * The CSR's challengePassword attribute (PKCS#9; EST clients put their
 * channel binding there, RFC 7030 3.5): 1 with its text in out[0 .. *len)
 * and a NUL (cap > *len); 0 if the CSR has none; -1 if it is there but not
 * exactly one PrintableString or UTF8String of 1 to cap - 1 bytes.
 */
int rp_pki_csr_challenge(const rp_pki_csr *csr, char *out, size_t cap, size_t *len);

typedef struct rp_pki_device_profile {
	/* Fleet name (rp_pki_fleet_name_valid()), for the SAN URI. Required. */
	const char *fleet;
	/* 0: RP_DEFAULT_PKI_DEVICE_VALIDITY_S; else within
	 * [RP_LIMIT_PKI_DEVICE_VALIDITY_MIN_S, RP_LIMIT_PKI_DEVICE_VALIDITY_S]. */
	int64_t validity_s;
} rp_pki_device_profile;

/*
 * A device certificate for an accepted CSR, signed by ca (the issuing CA).
 * Profile: subject CN = the device id and nothing else; SAN URI
 * urn:rampart:fleet:<fleet>:device:<id>; extendedKeyUsage clientAuth only;
 * keyUsage digitalSignature and basicConstraints CA:FALSE, both critical;
 * SKI, AKI; random serial; notBefore now - RP_PKI_BACKDATE_S. Nothing of the
 * CSR but the public key and the CN is used. rampartd's TLS identity of the
 * result is: device_id = the id, role "device", not a service.
 * Returns RP_OK and *out; RP_E_INVALID_ARG (NULL, fleet name, validity);
 * RP_E_STATE (ca not valid at now, or expires before the certificate
 * would); RP_E_CRYPTO; RP_E_NOMEM.
 */
rp_status rp_pki_device_cert_new(const rp_pki_signer *ca, const rp_pki_csr *csr,
				 const rp_pki_device_profile *p, int64_t now, X509 **out,
				 const char **why);

/* ---- CRLs ------------------------------------------------------------------- */

/* RFC 5280 CRLReason codes the CLI and the monitor use. */
#define RP_PKI_REASON_NONE                (-1) /* no reasonCode extension */
#define RP_PKI_REASON_UNSPECIFIED         0
#define RP_PKI_REASON_KEY_COMPROMISE      1
#define RP_PKI_REASON_CA_COMPROMISE       2
#define RP_PKI_REASON_AFFILIATION_CHANGED 3
#define RP_PKI_REASON_SUPERSEDED          4
#define RP_PKI_REASON_CESSATION           5
#define RP_PKI_REASON_CERTIFICATE_HOLD    6
#define RP_PKI_REASON_PRIVILEGE_WITHDRAWN 9
#define RP_PKI_REASON_AA_COMPROMISE       10

/* One revoked certificate, as the store keeps it. */
typedef struct rp_pki_revoked {
	const char *serial_hex; /* as rp_pki_cert_serial_hex(): 2..40 hex digits, even,
				   no leading 00 octet, not zero; either case */
	int64_t revoked_at;     /* Unix seconds, 0 < revoked_at <= now */
	int reason;             /* RP_PKI_REASON_*, or RP_PKI_REASON_NONE */
} rp_pki_revoked;

/*
 * A v2 CRL signed by ca (its certificate MUST have keyUsage cRLSign):
 * issuer = ca's subject, thisUpdate (lastUpdate) now, nextUpdate now +
 * next_update_s (0: RP_DEFAULT_PKI_CRL_NEXT_UPDATE_S; else within
 * [RP_LIMIT_PKI_CRL_NEXT_UPDATE_MIN_S, RP_LIMIT_PKI_CRL_NEXT_UPDATE_S]),
 * cRLNumber = number (the caller keeps it increasing), AKI, and one entry
 * per element of list[0 .. n) (n <= RP_LIMIT_PKI_CRL_ENTRIES; list may be
 * NULL if n is 0) with its revocation date and reason code, sorted by
 * serial. Duplicate serials are not merged.
 * Returns RP_OK and *out; RP_E_INVALID_ARG (NULL, a serial, a date, a
 * reason, n, next_update_s; *why names which); RP_E_STATE (ca not valid at
 * now); RP_E_CRYPTO; RP_E_NOMEM.
 */
rp_status rp_pki_crl_new(const rp_pki_signer *ca, const rp_pki_revoked *list, size_t n,
			 uint64_t number, int64_t now, int64_t next_update_s, X509_CRL **out,
			 const char **why);

/* ---- encodings, fingerprints ------------------------------------------------- */

/* x or crl as DER or PEM into out (size-first convention above). Returns
 * RP_OK, RP_E_BUF_TOO_SMALL, RP_E_INVALID_ARG, RP_E_NOMEM, RP_E_CRYPTO. */
rp_status rp_pki_cert_encode(const X509 *x, rp_pki_format f, uint8_t *out, size_t cap,
			     size_t *out_len);
rp_status rp_pki_crl_encode(const X509_CRL *crl, rp_pki_format f, uint8_t *out, size_t cap,
			    size_t *out_len);

/*
 * EST /cacerts and /simpleenroll responses (RFC 7030 4.1.3, 4.2.3): a
 * certs-only CMS SignedData (PKCS#7 "degenerate": no content, no signers)
 * holding certs[0 .. n) (1 <= n <= RP_LIMIT_PKI_P7_CERTS), in DER, or as
 * the base64 body EST sends (lines of 64 characters ending in CRLF, as
 * Content-Transfer-Encoding: base64). Size-first convention. Returns RP_OK,
 * RP_E_BUF_TOO_SMALL, RP_E_INVALID_ARG, RP_E_NOMEM, RP_E_CRYPTO.
 */
rp_status rp_pki_est_certs_der(X509 *const *certs, size_t n, uint8_t *out, size_t cap,
			       size_t *out_len);
rp_status rp_pki_est_certs_base64(X509 *const *certs, size_t n, uint8_t *out, size_t cap,
				  size_t *out_len);

/*
 * SHA-256 of x's DER, and x's serial number (the octets of its magnitude),
 * as lower-case hex with a NUL, into out of cap bytes (at least
 * RP_PKI_SHA256_HEX_SIZE / RP_PKI_SERIAL_HEX_SIZE). The same strings as
 * rp_peer_identity's sha256_hex and serial_hex. Returns RP_OK,
 * RP_E_INVALID_ARG (NULL), RP_E_BUF_TOO_SMALL, RP_E_CRYPTO (a negative,
 * empty or over-long serial, a hashing failure).
 */
rp_status rp_pki_cert_sha256_hex(const X509 *x, char *out, size_t cap);
rp_status rp_pki_cert_serial_hex(const X509 *x, char *out, size_t cap);

#endif /* RP_SERVER_PKI_H */
