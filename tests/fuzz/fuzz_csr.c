/*
 * fuzz_csr.c - libFuzzer target for the CSR gate of enrollment:
 * rp_pki_csr_parse() (size caps, strict base64 and PEM armour, DER, key,
 * signature and subject checks) and, for what it accepts, issuing.
 *
 * Input: one option byte, then the CSR body as an EST client would send it.
 *   bits 0-1  encoding: 0 DER, 1 PEM, 2 base64, 3 auto-detect
 *   bit  2    the enrollment token binds the id "dev-0001" (expect_id)
 *   bit  3    also feed the body to the base64 decoder alone (round trip)
 *
 * Oracles (any failure aborts):
 * - Status and reject code agree (pki.h's table); an object exists exactly
 *   when the verdict is RP_OK / RP_PKI_ACCEPTED; the reason text is fixed,
 *   printable and non-empty.
 * - Size first: a DER body over RP_LIMIT_PKI_CSR_DER, a text body over
 *   RP_LIMIT_PKI_CSR_ENCODED, is refused as too large, whatever it holds.
 * - An accepted CSR names a valid device id (ours and rampartd's TLS rules),
 *   the bound id when there is one, a P-256 or P-384 key; the same request
 *   re-encoded as base64 (CRLF lines) is accepted again with the same id;
 *   its challengePassword (the channel binding) reads as 0 (none), -1
 *   (malformed) or 1 with a NUL-terminated text within the buffer;
 *   the certificate issued for it verifies under the CA key and has exactly
 *   that CN; its PKCS#7 encodes.
 * - Base64 is canonical: whatever rp__pki_b64_decode() accepts re-encodes
 *   to the same symbols (line breaks aside).
 * - Every call leaves OpenSSL's error queue empty and gives back every
 *   byte allocated through rp_alloc().
 *
 * Seeds (corpus/csr/) are real CSRs made with `openssl req -new -key K
 * -subj /CN=dev-0001 -outform DER|PEM` for P-256, P-384, RSA-2048,
 * secp256k1, P-521, Ed25519 keys, one with a requested role URI and
 * CA:TRUE, one with a challengePassword (a channel binding), one with a
 * flipped signature byte, each with an option byte in
 * front: DER, PEM, base64 with CRLF lines, auto.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "net/tls.h"
#include "pki/internal.h"
#include "pki/pki.h"
#include "util/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			check_failed(#cond, __LINE__);                                             \
		}                                                                                  \
	} while (0)

#define BOUND_ID "dev-0001"

_Noreturn static void check_failed(const char *what, int line)
{
	fprintf(stderr, "fuzz_csr: invariant failed at line %d: %s\n", line, what);
	abort();
}

/* One CA for the whole run, made on first use. */
static struct {
	EVP_PKEY *key;
	X509 *cert;
	rp_pki_signer *signer;
	int64_t now;
} ca;

static void ca_init(void)
{
	rp_pki_ca_profile p = {"Fuzz CA", NULL, 0};

	if (ca.signer != NULL) {
		return;
	}
	ca.now = (int64_t)time(NULL);
	CHECK(rp_pki_key_generate(RP_PKI_EC_P256, &ca.key) == RP_OK);
	CHECK(rp_pki_root_ca_new(ca.key, &p, ca.now, &ca.cert, NULL) == RP_OK);
	CHECK(rp_pki_signer_new(ca.cert, ca.key, &ca.signer, NULL) == RP_OK);
}

static rp_status status_of(rp_pki_reject r)
{
	switch (r) {
	case RP_PKI_ACCEPTED:
		return RP_OK;
	case RP_PKI_R_TOO_LARGE:
		return RP_E_TOO_LARGE;
	case RP_PKI_R_ENCODING:
	case RP_PKI_R_DER:
	case RP_PKI_R_TRAILING:
	case RP_PKI_R_VERSION:
		return RP_E_MALFORMED;
	case RP_PKI_R_SIGNATURE:
		return RP_E_CRYPTO;
	case RP_PKI_R_INTERNAL:
		return RP_E_NOMEM;
	default:
		return RP_E_DENIED;
	}
}

/* Issues for an accepted CSR and checks the certificate. */
static void issue_and_check(const rp_pki_csr *csr)
{
	rp_pki_device_profile p = {"fuzz", 0};
	const X509_NAME *nm;
	unsigned char *cn = NULL;
	uint8_t out[4096];
	char sn[RP_PKI_SERIAL_HEX_SIZE];
	X509 *x = NULL;
	size_t n = 0;
	int len;

	ca_init();
	CHECK(rp_pki_device_cert_new(ca.signer, csr, &p, ca.now, &x, NULL) == RP_OK);
	CHECK(X509_verify(x, ca.key) == 1);
	nm = X509_get_subject_name(x);
	CHECK(X509_NAME_entry_count(nm) == 1);
	len = ASN1_STRING_to_UTF8(&cn, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, 0)));
	CHECK(len > 0 && strcmp((const char *)cn, rp_pki_csr_device_id(csr)) == 0);
	CHECK(X509_check_ca(x) == 0);
	CHECK(rp_pki_cert_serial_hex(x, sn, sizeof(sn)) == RP_OK);
	CHECK(rp_pki_est_certs_der(&x, 1, out, sizeof(out), &n) == RP_OK && n > 0);
	OPENSSL_free(cn);
	X509_free(x);
}

/* The accepted request, re-encoded as EST base64, is accepted again. */
static void reencode_and_check(const rp_pki_csr *csr, const char *expect)
{
	uint8_t der[RP_LIMIT_PKI_CSR_DER], b64[RP_LIMIT_PKI_CSR_ENCODED];
	unsigned char *p = der;
	rp_pki_csr *again = NULL;
	rp_pki_reject r = RP_PKI_R_INTERNAL;
	int n = i2d_X509_REQ(rp__pki_csr_req(csr), NULL);
	size_t m;

	CHECK(n > 0 && (size_t)n <= sizeof(der));
	CHECK(i2d_X509_REQ(rp__pki_csr_req(csr), &p) == n);
	m = rp__pki_b64_encode(der, (size_t)n, b64);
	CHECK(m <= sizeof(b64));
	CHECK(rp_pki_csr_parse(b64, m, RP_PKI_CSR_BASE64, expect, &again, &r) == RP_OK);
	CHECK(r == RP_PKI_ACCEPTED);
	CHECK(strcmp(rp_pki_csr_device_id(again), rp_pki_csr_device_id(csr)) == 0);
	rp_pki_csr_free(again);
}

/* Canonical base64: accepted input re-encodes to the same symbols. */
static void base64_round_trip(const uint8_t *in, size_t len)
{
	static uint8_t dec[RP_LIMIT_PKI_CSR_ENCODED], enc[2 * RP_LIMIT_PKI_CSR_ENCODED];
	size_t d = 0, e, i, k = 0;

	if (len > RP_LIMIT_PKI_CSR_ENCODED ||
	    rp__pki_b64_decode(in, len, dec, sizeof(dec), &d) != RP_OK) {
		return;
	}
	e = rp__pki_b64_encode(dec, d, enc);
	CHECK(e <= sizeof(enc));
	for (i = 0; i < len; i++) {
		if (in[i] == '\r' || in[i] == '\n') {
			continue;
		}
		while (k < e && (enc[k] == '\r' || enc[k] == '\n')) {
			k++;
		}
		CHECK(k < e && enc[k] == in[i]);
		k++;
	}
	while (k < e && (enc[k] == '\r' || enc[k] == '\n')) {
		k++;
	}
	CHECK(k == e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const rp_pki_csr_encoding encs[] = {RP_PKI_CSR_DER, RP_PKI_CSR_PEM,
						   RP_PKI_CSR_BASE64, RP_PKI_CSR_AUTO};
	const uint8_t *body;
	size_t len, before, i;
	rp_pki_csr_encoding enc;
	const char *expect, *text;
	rp_pki_csr *csr = NULL;
	rp_pki_reject r = RP_PKI_R_INTERNAL;
	rp_status st;

	if (size == 0) {
		return 0;
	}
	ca_init(); /* allocates through rp_alloc once: before the baseline */
	before = rp_alloc_in_use();
	enc = encs[data[0] & 3];
	expect = (data[0] & 4) != 0 ? BOUND_ID : NULL;
	body = data + 1;
	len = size - 1;

	st = rp_pki_csr_parse(body, len, enc, expect, &csr, &r);
	CHECK(ERR_peek_error() == 0);
	CHECK((unsigned)r < (unsigned)RP_PKI_REJECT_COUNT_);
	CHECK(st == status_of(r));
	CHECK((st == RP_OK) == (csr != NULL));
	text = rp_pki_reject_str(r);
	CHECK(text != NULL && text[0] != '\0');
	for (i = 0; text[i] != '\0'; i++) {
		CHECK(text[i] >= 0x20 && text[i] < 0x7f);
	}
	if (enc == RP_PKI_CSR_DER && len > RP_LIMIT_PKI_CSR_DER) {
		CHECK(r == RP_PKI_R_TOO_LARGE);
	}
	if ((enc == RP_PKI_CSR_PEM || enc == RP_PKI_CSR_BASE64) && len > RP_LIMIT_PKI_CSR_ENCODED) {
		CHECK(r == RP_PKI_R_TOO_LARGE);
	}
	if (csr != NULL) {
		const char *id = rp_pki_csr_device_id(csr);

		CHECK(rp_pki_device_id_valid(id, strlen(id), NULL));
		CHECK(rp_tls_check_device_id(id, strlen(id)) == RP_OK);
		CHECK(expect == NULL || strcmp(id, expect) == 0);
		CHECK(rp_pki_csr_alg(csr) == RP_PKI_EC_P256 ||
		      rp_pki_csr_alg(csr) == RP_PKI_EC_P384);
		reencode_and_check(csr, expect);
		issue_and_check(csr);
		{
			/* The channel binding's attribute: text within bounds, NUL-ended. */
			char cp[130];
			size_t cl = 99;
			int has = rp_pki_csr_challenge(csr, cp, sizeof(cp), &cl);
			CHECK(has >= -1 && has <= 1);
			CHECK(has == 1 ? (cl >= 1 && cl < sizeof(cp) && cp[cl] == '\0') : cl == 0);
		}
		rp_pki_csr_free(csr);
	}
	if ((data[0] & 8) != 0) {
		base64_round_trip(body, len);
	}
	CHECK(ERR_peek_error() == 0);
	CHECK(rp_alloc_in_use() == before);
	return 0;
}
