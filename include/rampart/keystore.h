/*
 * rampart/keystore.h - where a device (or a CA) keeps its private key.
 *
 * One interface, two back ends. A keystore holds at most one key pair,
 * named by the configuration. It can generate the pair inside the store,
 * give out the public key, sign a digest, and hand an EVP_PKEY to OpenSSL
 * whose private operations happen in the store (TLS client authentication,
 * CSRs, certificates, CRLs). There is no function that exports a private
 * key, and none will be added.
 *
 *   rp_keystore_config cfg = {.backend = "pkcs11",
 *                             .module = "/usr/lib/softhsm/libsofthsm2.so",
 *                             .token_label = "rampart", .pin_file = "/etc/rampart/pin",
 *                             .key_label = "device"};
 *   rp_keystore *ks;
 *   char err[RP_KEYSTORE_ERR_MAX];
 *   if (rp_keystore_open(&cfg, &ks, err, sizeof(err)) != RP_OK) { log(err); ... }
 *   if (!rp_keystore_has_key(ks)) { rp_keystore_generate(ks, RP_KEY_EC_P256); }
 *   SSL_CTX_use_PrivateKey(ssl_ctx, rp_keystore_pkey(ks));
 *   ...  (free ssl_ctx)  ...
 *   rp_keystore_close(ks);
 *
 * Back ends (docs/keystore.md has the details and the limits):
 * - "soft": the key is an encrypted PKCS#8 PEM file (scrypt, AES-256-CBC)
 *   and the passphrase is in a second file. FOR DEVELOPMENT ONLY: the key
 *   is in this process's memory while the keystore is open, and a
 *   passphrase file on the same disk protects only a key file copied
 *   alone. Both files MUST be mode 0600 (no access for group or others)
 *   and owned by the process's user, or open refuses them. Files are
 *   written atomically (temporary file, fsync, link, fsync of the
 *   directory) and never replace an existing file.
 * - "pkcs11": the key is in a PKCS#11 token, reached through libp11. The
 *   pair is generated on the token with CKA_SENSITIVE=true and
 *   CKA_EXTRACTABLE=false (checked after generation, and again on every
 *   open: a key that is extractable or not sensitive is refused), so the
 *   private key never enters this process. The user PIN is read from a
 *   file (mode 0600 checked, wiped after use; libp11 itself keeps a copy
 *   for re-login while the module is loaded).
 *
 * Conventions
 * - Ownership: rp_keystore_open() allocates a keystore; rp_keystore_close()
 *   wipes what it holds and frees it. The configuration is copied: its
 *   strings may be freed once open returns. Buffers are the caller's.
 * - Lifetime: rp_keystore_pkey() is borrowed. Everything that took a
 *   reference on it (SSL_CTX_use_PrivateKey, an SSL, an EST client) MUST
 *   be freed before rp_keystore_close(): for "pkcs11" the EVP_PKEY refers
 *   to token state that close releases, and using it afterwards is
 *   undefined behaviour (OpenSSL's reference count cannot prevent that).
 * - NULL: rp_keystore_close(NULL) does nothing; the getters return 0 or
 *   NULL for a NULL keystore; err may be NULL (no text); any other NULL is
 *   RP_E_INVALID_ARG unless the function says otherwise.
 * - Errors: err (and rp_keystore_error() after a failed generate) gets one
 *   sentence for the operator: which file, token or key, and what to do.
 *   It never holds a PIN, a passphrase or key material.
 * - Threads: rp_keystore_open() and rp_keystore_close() may run in any
 *   threads at once, on different keystores: PKCS#11 modules are shared
 *   by every keystore that names them (one libp11 context per module,
 *   reference-counted, under a process-wide lock), because libp11 would
 *   otherwise finalise the module and close every session on a token when
 *   one of its users closes. On one keystore, rp_keystore_generate() and
 *   rp_keystore_close() MUST NOT run at the same time as any other call on
 *   it; once a key is there, rp_keystore_sign(), rp_keystore_public_key(),
 *   the getters and OpenSSL operations with rp_keystore_pkey() may run in
 *   several threads at once ("soft": OpenSSL keys are safe for concurrent
 *   use; "pkcs11": libp11 0.4.12 takes a session per operation from its
 *   per-slot pool, under its own lock, at most 16 at once per token).
 * - Processes: a keystore MUST NOT be used in a child after fork(); open
 *   a new one there.
 * - Tokens are enumerated when a module is first loaded; a token that
 *   appears later is seen once every keystore on that module was closed.
 */
#ifndef RAMPART_KEYSTORE_H
#define RAMPART_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "rampart/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest SubjectPublicKeyInfo DER of a supported key (P-384: 120 bytes). */
#define RP_KEYSTORE_PUBKEY_MAX 120u
/* Largest DER ECDSA signature of a supported key (P-384: 104 bytes). */
#define RP_KEYSTORE_SIG_MAX 104u
/* A buffer of this size holds any error text in full (with its NUL). */
#define RP_KEYSTORE_ERR_MAX 256u

typedef enum rp_key_type {
	RP_KEY_EC_P256 = 1, /* ECDSA on NIST P-256 (prime256v1) */
	RP_KEY_EC_P384      /* ECDSA on NIST P-384 (secp384r1) */
} rp_key_type;

typedef struct rp_keystore rp_keystore; /* opaque, heap allocated */

/*
 * What to open. Zero-initialise, then set the back end's fields; the other
 * back end's fields MUST stay NULL.
 */
typedef struct rp_keystore_config {
	const char *backend; /* "soft" or "pkcs11" */
	/* soft */
	const char *key_file;  /* encrypted PKCS#8 PEM; absent until generated */
	const char *pass_file; /* the passphrase (one line); made at the first
				  generate if absent: 32 random bytes, hex, mode 0600 */
	/* pkcs11 */
	const char *module;      /* the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so */
	const char *token_label; /* the token's label (CKA_LABEL of the token, unpadded) */
	const char *pin_file;    /* the user PIN (one line), mode 0600 */
	const char *key_label;   /* CKA_LABEL of the key pair on the token */
} rp_keystore_config;

/*
 * Opens the keystore that cfg describes and loads its key if there is one
 * (rp_keystore_has_key() says). For "pkcs11" this loads the module (once
 * per process), finds the token by label and logs in with the PIN.
 * Returns:
 *   RP_OK             *out is the keystore
 *   RP_E_INVALID_ARG  cfg or out NULL
 *   RP_E_CONFIG       unknown back end; a field missing, too long or set for
 *                     the other back end; a file that group or others can
 *                     access, or owned by another user, or not a regular
 *                     file; a module that does not load; a key file that is
 *                     not encrypted; a key that is not EC P-256/P-384, or
 *                     (pkcs11) that is extractable, not sensitive, has no
 *                     CKA_ID or no public key object; labels that match
 *                     more than one token or key
 *   RP_E_NOT_FOUND    no token with that label; a key file without its
 *                     passphrase file; a module or PIN file that does not exist
 *   RP_E_AUTH         wrong PIN (or a locked PIN), or a passphrase that
 *                     does not decrypt the key file
 *   RP_E_IO           a file could not be read
 *   RP_E_NOMEM        out of memory
 *   RP_E_CRYPTO       OpenSSL or the token failed otherwise
 * On failure *out is NULL and err says why.
 */
rp_status rp_keystore_open(const rp_keystore_config *cfg, rp_keystore **out, char *err,
			   size_t err_cap);

/* Returns 1 if the keystore holds a key pair, 0 if not (or ks is NULL). */
int rp_keystore_has_key(const rp_keystore *ks);

/* Returns the type of the key, or 0 if there is none (or ks is NULL). */
rp_key_type rp_keystore_key_type(const rp_keystore *ks);

/*
 * Generates a key pair of the given type inside the store and makes it
 * the keystore's key. Never replaces a key: not the one loaded, not a key
 * file that appeared since open, not a key with the same label on the
 * token. "soft": writes the passphrase file first if it is absent, then
 * the key file. "pkcs11": C_GenerateKeyPair on the token, then checks that
 * the private key is sensitive, always sensitive, not extractable and
 * never extractable (the pair is destroyed otherwise).
 * Returns:
 *   RP_OK             the key is there (rp_keystore_has_key() is 1)
 *   RP_E_INVALID_ARG  ks NULL, or type not an rp_key_type
 *   RP_E_EXISTS       a key is already there
 *   RP_E_CONFIG       an existing passphrase file is not acceptable
 *   RP_E_IO           a file could not be written (nothing is left behind)
 *   RP_E_CRYPTO       generation failed, or the token did not keep the
 *                     private key sensitive and not extractable
 *   RP_E_NOMEM        out of memory
 * On failure rp_keystore_error() says why.
 */
rp_status rp_keystore_generate(rp_keystore *ks, rp_key_type type);

/*
 * The reason of the last failed rp_keystore_generate() on ks (one
 * sentence, never a secret), or "" if there was none. Valid until the
 * next call on ks. Never NULL.
 */
const char *rp_keystore_error(const rp_keystore *ks);

/*
 * Writes the public key as SubjectPublicKeyInfo DER. Size first: with out
 * NULL only *out_len is set (at most RP_KEYSTORE_PUBKEY_MAX).
 * Returns:
 *   RP_OK               *out_len bytes written (or, out NULL, needed)
 *   RP_E_INVALID_ARG    ks or out_len NULL
 *   RP_E_STATE          no key yet
 *   RP_E_BUF_TOO_SMALL  cap < *out_len, which is set to the size needed
 *   RP_E_CRYPTO         encoding failed
 */
rp_status rp_keystore_public_key(rp_keystore *ks, uint8_t *out, size_t cap, size_t *out_len);

/*
 * Signs digest (32 bytes: SHA-256, or 48 bytes: SHA-384, computed by the
 * caller) with ECDSA, in the store. The signature is DER (ECDSA-Sig-Value).
 * Size first: with sig NULL, *sig_len is set to the largest signature the
 * key makes (at most RP_KEYSTORE_SIG_MAX); cap MUST be at least that.
 * Returns:
 *   RP_OK               *sig_len bytes of signature written (or, sig NULL,
 *                       the largest size)
 *   RP_E_INVALID_ARG    ks, digest or sig_len NULL, or digest_len not 32 or 48
 *   RP_E_STATE          no key yet
 *   RP_E_BUF_TOO_SMALL  cap below the largest size, set in *sig_len
 *   RP_E_CRYPTO         the store did not sign (for pkcs11: the token
 *                       refused, was removed, or logged out)
 */
rp_status rp_keystore_sign(rp_keystore *ks, const uint8_t *digest, size_t digest_len, uint8_t *sig,
			   size_t cap, size_t *sig_len);

/*
 * An EVP_PKEY for OpenSSL whose private operations happen in the store:
 * SSL_CTX_use_PrivateKey, X509_REQ_sign, X509_sign, X509_CRL_sign,
 * EVP_DigestSign. For "pkcs11" it is libp11's key object
 * (PKCS11_get_private_key): the private key never enters memory. Borrowed
 * (see Lifetime above). Returns NULL if there is no key yet.
 */
EVP_PKEY *rp_keystore_pkey(rp_keystore *ks);

/* Returns "soft" or "pkcs11" (static strings), or NULL if ks is NULL. */
const char *rp_keystore_backend(const rp_keystore *ks);

/* Releases the key (for "soft", wiped from memory) and frees ks. */
void rp_keystore_close(rp_keystore *ks);

#ifdef __cplusplus
}
#endif

#endif /* RAMPART_KEYSTORE_H */
