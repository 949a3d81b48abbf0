/*
 * server/pki/internal.h - what the files of server/pki share (rp__pki_*).
 * Not for other modules; the fuzz target and the unit test may use it.
 */
#ifndef RP_SERVER_PKI_INTERNAL_H
#define RP_SERVER_PKI_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "pki/pki.h"

struct rp_pki_signer {
	X509 *cert;
	EVP_PKEY *key;
};

/* Sets *why (if why is non-NULL) and returns st: `return fail(...)` style. */
rp_status rp__pki_fail(const char **why, rp_status st, const char *text);

/*
 * Strict base64 (RFC 4648, standard alphabet): '=' padding required and
 * only in the last quantum, the unused bits of the last symbol zero, CR
 * and LF skipped wherever they are, any other byte refused. Empty input is
 * refused. Decodes in[0 .. len) into out[0 .. cap). Returns RP_OK and
 * *out_len; RP_E_MALFORMED; RP_E_BUF_TOO_SMALL (the decoded data would pass
 * cap: decoding stops there, so cap bounds the work done on the output).
 */
rp_status rp__pki_b64_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
			     size_t *out_len);

/* Bytes rp__pki_b64_encode() writes for len input bytes (lines of 64 + CRLF). */
size_t rp__pki_b64_encoded_len(size_t len);

/* Base64 of in[0 .. len), lines of 64 characters, each ending in CRLF.
 * out MUST hold rp__pki_b64_encoded_len(len) bytes. Returns bytes written. */
size_t rp__pki_b64_encode(const uint8_t *in, size_t len, uint8_t *out);

/* A fresh random serial (RP_PKI_SERIAL_BYTES drawn, positive, non-zero). */
ASN1_INTEGER *rp__pki_random_serial(void);

/*
 * The signer's certificate is valid at now and (when until > 0) still at
 * until. RP_OK or RP_E_STATE with *why.
 */
rp_status rp__pki_signer_covers(const rp_pki_signer *s, int64_t now, int64_t until,
				const char **why);

/* The digest to sign with key: SHA-256 for P-256 (and RSA), SHA-384 for
 * P-384, SHA-512 above; NULL for keys that hash themselves (Ed25519).
 * *ok is 0 for a key type we do not know. */
const EVP_MD *rp__pki_sign_md(const EVP_PKEY *key, int *ok);

/* The keyid (SKI) of a finished certificate (an issuer), copied; computed
 * from its key when it has no SKI extension. NULL on failure. MUST NOT be
 * called on a certificate still being built: it makes OpenSSL cache the
 * extensions. */
ASN1_OCTET_STRING *rp__pki_key_id(X509 *cert);

/* The request inside an accepted CSR (csr.c). */
X509_REQ *rp__pki_csr_req(const rp_pki_csr *csr);

/* out gets lower-case hex of p[0 .. n) and a NUL (2n + 1 bytes). */
void rp__pki_hex(char *out, const uint8_t *p, size_t n);

#endif /* RP_SERVER_PKI_INTERNAL_H */
