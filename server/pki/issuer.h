/*
 * server/pki/issuer.h - the issuing CA that rampartd signs with: its
 * certificate and its key, loaded once, and shared by everything that
 * signs for it (EST: device certificates, server/api/est.c; the CRL,
 * server/core/crl.c). This is the one place where the issuing key is
 * loaded; docs/pki.md ("Where the issuing key lives") is the long form.
 *
 * The key is in one of two places (pki.issuing_keystore):
 * - RP_PKI_ISSUER_FILE: an encrypted PKCS#8 PEM (rp_pki_key_load()) and a
 *   file holding its passphrase (group and others may not access it; one
 *   final newline, LF or CRLF, is ignored). The passphrase is read into a
 *   stack buffer wiped on every path; the decrypted key is in this
 *   process's memory until rp_pki_issuer_close() (EVP_PKEY_free clears it).
 * - RP_PKI_ISSUER_PKCS11: a key pair in a PKCS#11 token, through the
 *   keystore (rampart/keystore.h, backend "pkcs11"): the module, the
 *   token's label, a file holding the user PIN (mode 0600) and the key's
 *   label. The key must exist (rampart init generates it; this module
 *   never does) and be sensitive and never extractable (the keystore
 *   refuses any other); the private key never enters this process, and
 *   every signature is made by the token.
 * Either way the key MUST be the certificate's (its public half is
 * compared), and the certificate MUST be a CA with a keyUsage.
 *
 * Conventions
 * - Ownership: rp_pki_issuer_open() allocates; rp_pki_issuer_close()
 *   releases the signer, then the key (for pkcs11 the keystore, which
 *   logs out of the token when it is the last keystore on it). The
 *   options are copied where needed: their strings may be freed once
 *   open returns.
 * - Lifetime: rp_pki_issuer_signer() and rp_pki_issuer_cert() are
 *   borrowed. Everything that uses them (an rp_crl, an rp_api, a signer
 *   made from the certificate) MUST be freed before rp_pki_issuer_close():
 *   for pkcs11 the key refers to token state that close releases, and
 *   using it afterwards is undefined behaviour (rampart/keystore.h,
 *   "Lifetime"). rampartd opens one issuer at start and closes it after
 *   the API and the CRL are gone.
 * - Threads: open and close from one thread. In between the issuer is
 *   immutable: its signer may sign from several threads at once (OpenSSL 3
 *   keys; a PKCS#11 key through libp11's per-token session pool).
 * - Processes: MUST NOT be used in a child after fork().
 * - Errors: err (if non-NULL and err_cap > 0) gets one sentence for the
 *   operator that names the configuration key (pki.issuing_cert,
 *   pki.issuing_key, pki.pkcs11_token, ...) and the file, token or key.
 *   It never holds a passphrase, a PIN or key material.
 */
#ifndef RP_SERVER_PKI_ISSUER_H
#define RP_SERVER_PKI_ISSUER_H

#include <stddef.h>

#include <openssl/x509.h>

#include "pki/pki.h"
#include "rampart/status.h"

/* Where the issuing key is. */
typedef enum rp_pki_issuer_keystore {
	RP_PKI_ISSUER_FILE = 0, /* an encrypted key file and its passphrase file */
	RP_PKI_ISSUER_PKCS11    /* a key pair in a PKCS#11 token */
} rp_pki_issuer_keystore;

/*
 * What to load. Zero-initialise, then set cert and the fields of the
 * keystore; the other keystore's fields MUST stay NULL.
 */
typedef struct rp_pki_issuer_opts {
	const char *cert; /* PEM; its first certificate is the issuing CA */
	rp_pki_issuer_keystore keystore;
	/* RP_PKI_ISSUER_FILE */
	const char *key_file;  /* encrypted PKCS#8 PEM (pki.issuing_key) */
	const char *pass_file; /* its passphrase (pki.issuing_key_pass) */
	/* RP_PKI_ISSUER_PKCS11 */
	const char *module;      /* the PKCS#11 library (pki.pkcs11_module) */
	const char *token_label; /* the token's label (pki.pkcs11_token) */
	const char *pin_file;    /* the user PIN, mode 0600 (pki.pkcs11_pin_file) */
	const char *key_label;   /* CKA_LABEL of the key pair (pki.issuing_key_label) */
} rp_pki_issuer_opts;

typedef struct rp_pki_issuer rp_pki_issuer; /* opaque */

/*
 * Loads the certificate and its key as o says, and checks that they fit.
 * Returns:
 *   RP_OK             *out is the issuer
 *   RP_E_INVALID_ARG  o or out NULL, cert NULL or "", an unknown keystore
 *   RP_E_CONFIG       a field missing or set for the other keystore; the
 *                     certificate unreadable or not a CA; the key file
 *                     missing, unsafe (mode, link), not encrypted, not EC
 *                     P-256/P-384; the passphrase file unreadable, unsafe
 *                     or empty; the module, the token or the PIN file not
 *                     found or unusable; no key with that label on the
 *                     token, or one the keystore refuses (extractable, not
 *                     sensitive, ...); a key that is not the certificate's
 *   RP_E_AUTH         the passphrase does not decrypt the key file; the
 *                     token refused the PIN (wrong or locked)
 *   RP_E_NOMEM        out of memory
 * On failure *out is NULL and err says why.
 */
rp_status rp_pki_issuer_open(const rp_pki_issuer_opts *o, rp_pki_issuer **out, char *err,
			     size_t err_cap);

/* rp_pki_issuer_open() of a key file (RP_PKI_ISSUER_FILE): cert, key_file
 * and pass_file as in rp_pki_issuer_opts. */
rp_status rp_pki_issuer_open_file(const char *cert, const char *key_file, const char *pass_file,
				  rp_pki_issuer **out, char *err, size_t err_cap);

/* The issuing CA and its key, for rp_pki_device_cert_new() and rp_pki_crl_new(). */
const rp_pki_signer *rp_pki_issuer_signer(const rp_pki_issuer *is);

/* The issuing CA certificate (borrowed; X509_up_ref() to keep it longer). */
X509 *rp_pki_issuer_cert(const rp_pki_issuer *is);

/* RP_PKI_ISSUER_FILE or RP_PKI_ISSUER_PKCS11 (FILE for NULL). */
rp_pki_issuer_keystore rp_pki_issuer_keystore_of(const rp_pki_issuer *is);

/*
 * Where the key is, for a log line: "encrypted file PATH" or "PKCS#11
 * token 'T', key 'K'" (printable, never a secret; "" for NULL).
 */
const char *rp_pki_issuer_where(const rp_pki_issuer *is);

/* Frees the signer, then releases the key (see Lifetime). NULL is allowed. */
void rp_pki_issuer_close(rp_pki_issuer *is);

#endif /* RP_SERVER_PKI_ISSUER_H */
