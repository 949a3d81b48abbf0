/*
 * fuzz_est_response.c - libFuzzer target for the device's EST client:
 * rp__est_parse_certs(), which reads the body of /cacerts and
 * /simpleenroll answers (base64 of a certs-only PKCS#7) from a server that
 * may be hostile (the TLS policy makes that rare, not impossible).
 *
 * Oracles (any failure aborts):
 * - The status is RP_OK, RP_E_MALFORMED or RP_E_TOO_LARGE, and a result
 *   exists exactly when it is RP_OK, with at least one certificate.
 * - Every certificate returned re-encodes to DER (it is a whole object).
 * - OpenSSL's error queue is left empty.
 *
 * Seeds (corpus/est_response/): EST answers as rampartd shapes them (an
 * issuing CA and its root; one device certificate) in 64-character LF
 * lines, CRLF lines and one line, made from a throw-away PKI with
 * `openssl crl2pkcs7 -nocrl -certfile ... -outform DER | base64`.
 */
#include <stdint.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "est/est_internal.h"
#include "rampart/est_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	STACK_OF(X509) *certs = NULL;
	rp_status st = rp__est_parse_certs(data, size, &certs);

	if (st != RP_OK && st != RP_E_MALFORMED && st != RP_E_TOO_LARGE) {
		abort();
	}
	if ((st == RP_OK) != (certs != NULL)) {
		abort();
	}
	if (certs != NULL) {
		if (sk_X509_num(certs) < 1) {
			abort();
		}
		for (int i = 0; i < sk_X509_num(certs); i++) {
			if (i2d_X509(sk_X509_value(certs, i), NULL) <= 0) {
				abort();
			}
		}
	}
	sk_X509_pop_free(certs, X509_free);
	if (ERR_peek_error() != 0) {
		abort();
	}
	return 0;
}
