/*
 * est.c - what EST (RFC 7030) sends and receives: strict base64 and the
 * certs-only PKCS#7 of /cacerts and /simpleenroll (pki.h).
 *
 * Implementation notes
 *
 * - Base64 is written by hand: OpenSSL's EVP_DecodeBlock() keeps the zero
 *   bytes of the padding in its output, and EVP_DecodeUpdate() skips
 *   whitespace and accepts a missing final padding; neither bounds the
 *   output by a capacity. The decoder here takes one spelling per byte
 *   string (canonical: padding required, unused bits zero) and stops at
 *   cap. Its input is attacker-controlled (the body of an EST request);
 *   every index is checked against len, every write against cap.
 * - The PKCS#7 is a "degenerate" SignedData (RFC 5652 5.2, RFC 7030 4.1.3):
 *   version 1, no digest algorithms, encapsulated content of type id-data
 *   with eContent absent, the certificates, no CRLs, no signers. It is the
 *   shape `openssl crl2pkcs7 -nocrl` writes; built with OpenSSL's PKCS7
 *   structures, the content type set the way that tool sets it.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/pkcs7.h>

#include "pki/internal.h"
#include "util/alloc.h"

#define B64_LINE 64u

/* ---- base64 ------------------------------------------------------------------ */

/* The value of a base64 symbol, or -1. */
static int b64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z') {
		return c - 'A';
	}
	if (c >= 'a' && c <= 'z') {
		return c - 'a' + 26;
	}
	if (c >= '0' && c <= '9') {
		return c - '0' + 52;
	}
	if (c == '+') {
		return 62;
	}
	if (c == '/') {
		return 63;
	}
	return -1;
}

/* Decodes one quantum q[4]; *pad gets the number of '='. */
static rp_status b64_quantum(const uint8_t q[4], uint8_t b[3], size_t *nb, unsigned *pad)
{
	int v[4];
	unsigned i;

	*pad = q[3] == '=' ? (q[2] == '=' ? 2u : 1u) : 0u;
	for (i = 0; i < 4u - *pad; i++) {
		v[i] = b64_value(q[i]);
		if (v[i] < 0) {
			return RP_E_MALFORMED; /* includes '=' in the wrong place */
		}
	}
	for (; i < 4; i++) {
		v[i] = 0;
	}
	b[0] = (uint8_t)((v[0] << 2) | (v[1] >> 4));
	b[1] = (uint8_t)(((v[1] & 15) << 4) | (v[2] >> 2));
	b[2] = (uint8_t)(((v[2] & 3) << 6) | v[3]);
	*nb = 3u - *pad;
	/* Canonical: the bits the padding hides are zero. */
	if ((*pad == 1 && (v[2] & 3) != 0) || (*pad == 2 && (v[1] & 15) != 0)) {
		return RP_E_MALFORMED;
	}
	return RP_OK;
}

rp_status rp__pki_b64_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
			     size_t *out_len)
{
	uint8_t q[4], b[3];
	size_t i, o = 0, nb = 0;
	unsigned n = 0, pad = 0;
	int quanta = 0;

	*out_len = 0;
	for (i = 0; i < len; i++) {
		if (in[i] == '\r' || in[i] == '\n') {
			continue;
		}
		if (pad != 0) {
			return RP_E_MALFORMED; /* something after the padding */
		}
		q[n++] = in[i];
		if (n < 4) {
			continue;
		}
		n = 0;
		if (b64_quantum(q, b, &nb, &pad) != RP_OK) {
			return RP_E_MALFORMED;
		}
		if (nb > cap - o) {
			return RP_E_BUF_TOO_SMALL;
		}
		memcpy(out + o, b, nb);
		o += nb;
		quanta = 1;
	}
	if (n != 0 || !quanta) {
		return RP_E_MALFORMED; /* a partial quantum, or nothing at all */
	}
	*out_len = o;
	return RP_OK;
}

size_t rp__pki_b64_encoded_len(size_t len)
{
	size_t chars = (len + 2) / 3 * 4;

	return chars + (chars + B64_LINE - 1) / B64_LINE * 2;
}

size_t rp__pki_b64_encode(const uint8_t *in, size_t len, uint8_t *out)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0, line = 0;

	for (i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		size_t left = len - i;

		if (left > 1) {
			v |= (uint32_t)in[i + 1] << 8;
		}
		if (left > 2) {
			v |= in[i + 2];
		}
		out[o++] = (uint8_t)abc[(v >> 18) & 63];
		out[o++] = (uint8_t)abc[(v >> 12) & 63];
		out[o++] = left > 1 ? (uint8_t)abc[(v >> 6) & 63] : '=';
		out[o++] = left > 2 ? (uint8_t)abc[v & 63] : '=';
		line += 4;
		if (line == B64_LINE || i + 3 >= len) {
			out[o++] = '\r';
			out[o++] = '\n';
			line = 0;
		}
	}
	return o;
}

/* ---- certs-only PKCS#7 ------------------------------------------------------------ */

/* The DER of the certs-only SignedData, in a new buffer (rp_free). */
static rp_status p7_der(X509 *const *certs, size_t n, uint8_t **der, size_t *der_len)
{
	PKCS7 *p7 = NULL;
	unsigned char *p;
	size_t i;
	int len;
	rp_status st = RP_E_NOMEM;

	*der = NULL;
	if (certs == NULL || n == 0 || n > RP_LIMIT_PKI_P7_CERTS) {
		return RP_E_INVALID_ARG;
	}
	for (i = 0; i < n; i++) {
		if (certs[i] == NULL) {
			return RP_E_INVALID_ARG;
		}
	}
	p7 = PKCS7_new();
	if (p7 == NULL || PKCS7_set_type(p7, NID_pkcs7_signed) != 1) {
		goto out;
	}
	/* encapContentInfo: id-data, eContent absent (as crl2pkcs7 does). */
	p7->d.sign->contents->type = OBJ_nid2obj(NID_pkcs7_data);
	for (i = 0; i < n; i++) {
		if (PKCS7_add_certificate(p7, certs[i]) != 1) {
			goto out;
		}
	}
	st = RP_E_CRYPTO;
	len = i2d_PKCS7(p7, NULL);
	if (len <= 0) {
		goto out;
	}
	*der = rp_alloc(NULL, (size_t)len);
	if (*der == NULL) {
		st = RP_E_NOMEM;
		goto out;
	}
	p = *der;
	if (i2d_PKCS7(p7, &p) != len) {
		rp_free(NULL, *der);
		*der = NULL;
		goto out;
	}
	*der_len = (size_t)len;
	st = RP_OK;
out:
	PKCS7_free(p7);
	ERR_clear_error();
	return st;
}

rp_status rp_pki_est_certs_der(X509 *const *certs, size_t n, uint8_t *out, size_t cap,
			       size_t *out_len)
{
	uint8_t *der = NULL;
	size_t len = 0;
	rp_status st;

	if (out_len == NULL || (out == NULL && cap > 0)) {
		return RP_E_INVALID_ARG;
	}
	*out_len = 0;
	st = p7_der(certs, n, &der, &len);
	if (st != RP_OK) {
		return st;
	}
	*out_len = len;
	if (len > cap) {
		st = RP_E_BUF_TOO_SMALL;
	} else {
		memcpy(out, der, len);
	}
	rp_free(NULL, der);
	return st;
}

rp_status rp_pki_est_certs_base64(X509 *const *certs, size_t n, uint8_t *out, size_t cap,
				  size_t *out_len)
{
	uint8_t *der = NULL;
	size_t len = 0, need;
	rp_status st;

	if (out_len == NULL || (out == NULL && cap > 0)) {
		return RP_E_INVALID_ARG;
	}
	*out_len = 0;
	st = p7_der(certs, n, &der, &len);
	if (st != RP_OK) {
		return st;
	}
	need = rp__pki_b64_encoded_len(len);
	*out_len = need;
	if (need > cap) {
		st = RP_E_BUF_TOO_SMALL;
	} else if (rp__pki_b64_encode(der, len, out) != need) {
		st = RP_E_INTERNAL;
	}
	rp_free(NULL, der);
	return st;
}
