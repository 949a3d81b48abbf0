/*
 * server/api/est_internal.h - the EST state shared by est.c (loading, TLS)
 * and h_est.c (the handlers). Not for other files: internal.h keeps the
 * type opaque for the rest of server/api.
 *
 * Conventions
 * - Immutable once rp__api_est_load() returned it: read by every worker
 *   thread without a lock (OpenSSL 3 signs with one EVP_PKEY and verifies
 *   with one X509_STORE from several threads at once).
 * - Owns every object it points to; rp__api_est_free() releases them.
 */
#ifndef RP_SERVER_API_EST_INTERNAL_H
#define RP_SERVER_API_EST_INTERNAL_H

#include <openssl/x509.h>

#include "api/binding.h"
#include "api/internal.h"
#include "pki/issuer.h"
#include "pki/pki.h"

struct rp__api_est {
	const rp_pki_signer *signer;  /* the issuing CA and its key: the issuer's */
	rp_pki_issuer *own_issuer;    /* loaded here (key files), or NULL: borrowed
					 from rp_api_opts.est_issuer */
	X509 *issuing;                /* the issuing CA certificate */
	X509 *root;                   /* the fleet root: what devices trust */
	X509_STORE *fleet_store;      /* the root alone, X509_V_FLAG_X509_STRICT */
	STACK_OF(X509) * fleet_chain; /* the issuing CA, as the untrusted intermediate */
	X509_STORE *makers;           /* manufacturer CAs (every one an anchor), or NULL */
	STACK_OF(X509) * maker_certs; /* the same certificates, or NULL */
	char fleet[RP_LIMIT_PKI_FLEET_NAME_LEN + 1u];
	int64_t validity_s; /* device certificates */
	uint8_t *cacerts;   /* GET /cacerts: base64 PKCS#7 of issuing CA and root */
	size_t cacerts_len;
	/* The listener's tls-exporter values (binding.h): the one mutable
	 * part, with a lock of its own. */
	rp__api_binding *binding;
};

/*
 * Verifies a TLS client certificate at now (Unix seconds): makers 0
 * against the fleet (root anchor, the issuing CA as intermediate, strict
 * RFC 5280 rules, TLS client purpose) and then that the issuing CA itself
 * issued it; makers 1 against the manufacturer CAs. RP_OK, RP_E_AUTH with
 * *why (OpenSSL's fixed verification text, or ours), RP_E_NOMEM.
 */
rp_status rp__api_est_verify(const rp__api_est *e, int makers, X509 *leaf, int64_t now,
			     const char **why);

/*
 * Drops every CR of buf[0 .. len) in place and returns the new length.
 * The PKI engine ends base64 lines with CRLF (MIME); EST bodies go out
 * with LF alone, which every base64 decoder takes (the coreutils
 * `base64 -d` of RFC 7030's curl examples refuses a CR).
 */
size_t rp__api_est_lf_lines(uint8_t *buf, size_t len);

#endif /* RP_SERVER_API_EST_INTERNAL_H */
