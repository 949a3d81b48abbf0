/*
 * csr.c - device ids, fleet names and the CSR gate of enrollment (pki.h).
 *
 * Implementation notes
 *
 * Attacker: an EST client. With a one-time token it may send anything as
 * the CSR body; the endpoint may also be reached by someone with no token
 * at all if the HTTP layer parses before it authenticates (it should not).
 * Every byte of the body is hostile, and so is every length inside it.
 *
 * - Size first: the body length is checked against RP_LIMIT_PKI_CSR_* before
 *   anything is decoded or allocated; base64 decodes into a buffer of
 *   RP_LIMIT_PKI_CSR_DER bytes and stops when it would pass it.
 * - Base64 and PEM armour are decoded here, by hand, strictly (one
 *   accepted spelling per DER): OpenSSL's EVP_Decode* and PEM reader accept
 *   whitespace, headers and missing padding, and a lenient parser in front
 *   of a security decision gives an attacker room to smuggle.
 * - DER goes to d2i_X509_REQ(), must be consumed exactly, and must re-encode
 *   to the same bytes (no BER, no trailing data).
 * - The verdict starts as "refused" (RP_PKI_R_INTERNAL) and becomes
 *   RP_PKI_ACCEPTED only at the end; an rp_pki_csr object exists only for a
 *   request that passed every check, so issuing cannot be handed an
 *   unchecked request.
 * - Nothing of the request but its public key and its CN is kept.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/x509.h>

#include "pki/internal.h"
#include "util/alloc.h"

struct rp_pki_csr {
	X509_REQ *req;
	rp_pki_alg alg;
	char id[RP_LIMIT_PKI_DEVICE_ID_LEN + 1];
};

/* ---- identifiers ----------------------------------------------------------- */

static int is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* ASCII case-insensitive: does s[0 .. len) start with lower-case prefix? */
static int starts_with_ci(const char *s, size_t len, const char *prefix)
{
	size_t i, n = strlen(prefix);

	if (len < n) {
		return 0;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 'A' && c <= 'Z') {
			c = (unsigned char)(c - 'A' + 'a');
		}
		if (c != (unsigned char)prefix[i]) {
			return 0;
		}
	}
	return 1;
}

int rp_pki_device_id_valid(const char *s, size_t len, const char **why)
{
	size_t i;

	if (s == NULL || len == 0) {
		rp__pki_fail(why, RP_E_INVALID_ARG, "device id is empty");
		return 0;
	}
	if (len > RP_LIMIT_PKI_DEVICE_ID_LEN) {
		rp__pki_fail(why, RP_E_INVALID_ARG, "device id is longer than 64 bytes");
		return 0;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!is_alnum(c) && c != '.' && c != '_' && c != '-') {
			rp__pki_fail(why, RP_E_INVALID_ARG,
				     "device id holds a byte outside [A-Za-z0-9._-]");
			return 0;
		}
	}
	if (!is_alnum((unsigned char)s[0])) {
		rp__pki_fail(why, RP_E_INVALID_ARG,
			     "device id does not start with a letter or digit");
		return 0;
	}
	if (len == 6 && starts_with_ci(s, len, "device")) {
		rp__pki_fail(why, RP_E_INVALID_ARG,
			     "device id \"device\" is the devices' role name");
		return 0;
	}
	if (starts_with_ci(s, len, "svc-")) {
		rp__pki_fail(why, RP_E_INVALID_ARG,
			     "device ids starting \"svc-\" are for services");
		return 0;
	}
	rp__pki_fail(why, RP_OK, "");
	return 1;
}

int rp_pki_fleet_name_valid(const char *s, size_t len, const char **why)
{
	size_t i;

	if (s == NULL || len == 0 || len > RP_LIMIT_PKI_FLEET_NAME_LEN) {
		rp__pki_fail(why, RP_E_INVALID_ARG, "fleet name is empty or longer than 32 bytes");
		return 0;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i > 0))) {
			rp__pki_fail(
				why, RP_E_INVALID_ARG,
				"fleet name must be [a-z0-9-], starting with a letter or digit");
			return 0;
		}
	}
	rp__pki_fail(why, RP_OK, "");
	return 1;
}

/* ---- reasons ------------------------------------------------------------------ */

static const char *const reject_text[RP_PKI_REJECT_COUNT_] = {
	[RP_PKI_ACCEPTED] = "CSR accepted",
	[RP_PKI_R_TOO_LARGE] = "CSR is larger than the limit",
	[RP_PKI_R_ENCODING] = "CSR is not valid base64 or PEM",
	[RP_PKI_R_DER] = "CSR is not a DER PKCS#10 request",
	[RP_PKI_R_TRAILING] = "CSR is followed by other bytes",
	[RP_PKI_R_VERSION] = "CSR version is not 1",
	[RP_PKI_R_KEY_TYPE] = "CSR key is not an EC key",
	[RP_PKI_R_KEY_PARAMS] = "CSR key has explicit curve parameters",
	[RP_PKI_R_CURVE] = "CSR key is not on P-256 or P-384",
	[RP_PKI_R_KEY_INVALID] = "CSR public key is invalid",
	[RP_PKI_R_SIG_ALG] = "CSR signature algorithm is not ECDSA with SHA-2",
	[RP_PKI_R_SIGNATURE] = "CSR signature does not verify",
	[RP_PKI_R_SUBJECT] = "CSR subject must hold exactly one CN",
	[RP_PKI_R_DEVICE_ID] = "CSR CN is not a valid device id",
	[RP_PKI_R_ID_MISMATCH] = "CSR CN differs from the enrolled device id",
	[RP_PKI_R_INTERNAL] = "server failed to process the CSR",
};

const char *rp_pki_reject_str(rp_pki_reject r)
{
	if ((unsigned)r >= (unsigned)RP_PKI_REJECT_COUNT_ || reject_text[r] == NULL) {
		return "unknown reason";
	}
	return reject_text[r];
}

/* The rp_status each reject comes with (the HTTP status class). */
static rp_status reject_status(rp_pki_reject r)
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

/* ---- decoding ------------------------------------------------------------------ */

static const char *const pem_labels[] = {"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"};

/* s[0 .. len) starts with the n bytes of lit? */
static int has_prefix(const uint8_t *s, size_t len, const char *lit, size_t n)
{
	return len >= n && memcmp(s, lit, n) == 0;
}

/* Length of the line break at s (CRLF or LF), 0 if none. */
static size_t line_break(const uint8_t *s, size_t len)
{
	if (len >= 1 && s[0] == '\n') {
		return 1;
	}
	if (len >= 2 && s[0] == '\r' && s[1] == '\n') {
		return 2;
	}
	return 0;
}

/*
 * The base64 body inside PEM armour: "-----BEGIN <label>-----" EOL, body,
 * "-----END <label>-----", then only line breaks. The same label both
 * times; no headers (a body byte is never '-', so the first '-' after the
 * BEGIN line starts the END line). Returns 0 if the armour is not that.
 */
static int pem_body(const uint8_t *s, size_t len, const uint8_t **body, size_t *body_len)
{
	size_t i, k, pos, n, eol;

	for (i = 0; i < sizeof(pem_labels) / sizeof(pem_labels[0]); i++) {
		const char *label = pem_labels[i];
		size_t ll = strlen(label);

		if (!has_prefix(s, len, "-----BEGIN ", 11) ||
		    !has_prefix(s + 11, len - 11, label, ll) ||
		    !has_prefix(s + 11 + ll, len - 11 - ll, "-----", 5)) {
			continue;
		}
		pos = 11 + ll + 5;
		eol = line_break(s + pos, len - pos);
		if (eol == 0) {
			return 0;
		}
		pos += eol;
		for (k = pos; k < len && s[k] != '-'; k++) {
		}
		n = k - pos;
		if (!has_prefix(s + k, len - k, "-----END ", 9) ||
		    !has_prefix(s + k + 9, len - k - 9, label, ll) ||
		    !has_prefix(s + k + 9 + ll, len - k - 9 - ll, "-----", 5)) {
			return 0;
		}
		k += 9 + ll + 5;
		while (k < len && (eol = line_break(s + k, len - k)) != 0) {
			k += eol;
		}
		if (k != len) {
			return 0;
		}
		*body = s + pos;
		*body_len = n;
		return 1;
	}
	return 0;
}

static rp_pki_csr_encoding detect(const uint8_t *buf, size_t len)
{
	if (len > 0 && buf[0] == 0x30) {
		return RP_PKI_CSR_DER;
	}
	if (has_prefix(buf, len, "-----BEGIN ", 11)) {
		return RP_PKI_CSR_PEM;
	}
	return RP_PKI_CSR_BASE64;
}

/* DER of exactly len bytes, canonical. */
static rp_pki_reject parse_der(const uint8_t *der, size_t len, X509_REQ **out)
{
	const unsigned char *p = der;
	unsigned char *re = NULL, *q;
	X509_REQ *req;
	rp_pki_reject r = RP_PKI_R_DER;
	int n;

	if (len == 0 || len > RP_LIMIT_PKI_CSR_DER) {
		return len == 0 ? RP_PKI_R_DER : RP_PKI_R_TOO_LARGE;
	}
	req = d2i_X509_REQ(NULL, &p, (long)len);
	if (req == NULL) {
		return RP_PKI_R_DER;
	}
	if (p != der + len) {
		r = RP_PKI_R_TRAILING;
		goto out;
	}
	/* Re-encoding gives the same bytes only for DER (no BER lengths,
	 * no indefinite forms, no non-minimal integers outside the signed
	 * part, which OpenSSL keeps as received). */
	n = i2d_X509_REQ(req, NULL);
	if (n <= 0 || (size_t)n != len) {
		goto out;
	}
	re = rp_alloc(NULL, (size_t)n);
	if (re == NULL) {
		r = RP_PKI_R_INTERNAL;
		goto out;
	}
	q = re;
	if (i2d_X509_REQ(req, &q) != n || memcmp(re, der, len) != 0) {
		goto out;
	}
	*out = req;
	req = NULL;
	r = RP_PKI_ACCEPTED;
out:
	rp_free(NULL, re);
	X509_REQ_free(req);
	return r;
}

/* ---- checks ---------------------------------------------------------------------- */

/* Key: EC, named P-256 / P-384, valid. */
static rp_pki_reject check_key(X509_REQ *req, rp_pki_alg *alg)
{
	ASN1_OBJECT *oid = NULL;
	X509_ALGOR *pa = NULL;
	const ASN1_OBJECT *aobj = NULL;
	const void *pval = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey;
	int ptype = 0, nid;
	rp_pki_reject r = RP_PKI_R_KEY_INVALID;

	if (X509_PUBKEY_get0_param(&oid, NULL, NULL, &pa, X509_REQ_get_X509_PUBKEY(req)) != 1 ||
	    oid == NULL || pa == NULL) {
		return RP_PKI_R_DER;
	}
	if (OBJ_obj2nid(oid) != NID_X9_62_id_ecPublicKey) {
		return RP_PKI_R_KEY_TYPE;
	}
	/* id-ecPublicKey's parameters: a named curve OID, nothing else. */
	X509_ALGOR_get0(&aobj, &ptype, &pval, pa);
	if (ptype != V_ASN1_OBJECT || pval == NULL) {
		return RP_PKI_R_KEY_PARAMS;
	}
	nid = OBJ_obj2nid(pval);
	if (nid == NID_X9_62_prime256v1) {
		*alg = RP_PKI_EC_P256;
	} else if (nid == NID_secp384r1) {
		*alg = RP_PKI_EC_P384;
	} else {
		return RP_PKI_R_CURVE;
	}
	/* NULL if the point does not decode (not on the curve, bad form). */
	pkey = X509_REQ_get0_pubkey(req);
	if (pkey == NULL || rp_pki_key_alg(pkey) != *alg) {
		return RP_PKI_R_KEY_INVALID;
	}
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (ctx == NULL) {
		return RP_PKI_R_INTERNAL;
	}
	/* On the curve and not the point at infinity. The full check also
	 * multiplies by the order, which proves nothing more on P-256 and
	 * P-384 (cofactor 1) and costs as much as the signature check. */
	if (EVP_PKEY_public_check_quick(ctx) == 1) {
		r = RP_PKI_ACCEPTED;
	}
	EVP_PKEY_CTX_free(ctx);
	return r;
}

/* Signature: ECDSA with SHA-2, no parameters, and it verifies. */
static rp_pki_reject check_signature(X509_REQ *req)
{
	const ASN1_BIT_STRING *sig = NULL;
	const X509_ALGOR *alg = NULL;
	const ASN1_OBJECT *oid = NULL;
	const void *pval = NULL;
	int ptype = 0;
	int nid = X509_REQ_get_signature_nid(req);

	if (nid != NID_ecdsa_with_SHA256 && nid != NID_ecdsa_with_SHA384 &&
	    nid != NID_ecdsa_with_SHA512) {
		return RP_PKI_R_SIG_ALG;
	}
	X509_REQ_get0_signature(req, &sig, &alg);
	if (alg == NULL) {
		return RP_PKI_R_DER;
	}
	X509_ALGOR_get0(&oid, &ptype, &pval, alg);
	/* RFC 5758 3.2: the parameters field MUST be absent. */
	if (ptype != V_ASN1_UNDEF) {
		return RP_PKI_R_SIG_ALG;
	}
	if (X509_REQ_verify(req, X509_REQ_get0_pubkey(req)) != 1) {
		return RP_PKI_R_SIGNATURE;
	}
	return RP_PKI_ACCEPTED;
}

/* Subject: exactly one CN, a valid device id, equal to expect if given. */
static rp_pki_reject check_subject(X509_REQ *req, const char *expect, char *id)
{
	const X509_NAME *nm = X509_REQ_get_subject_name(req);
	unsigned char *utf8 = NULL;
	rp_pki_reject r = RP_PKI_R_SUBJECT;
	int i, n;

	if (nm == NULL) {
		return RP_PKI_R_SUBJECT;
	}
	i = X509_NAME_get_index_by_NID(nm, NID_commonName, -1);
	if (i < 0 || X509_NAME_get_index_by_NID(nm, NID_commonName, i) >= 0) {
		return RP_PKI_R_SUBJECT;
	}
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, i)));
	if (n < 0 || utf8 == NULL) {
		goto out;
	}
	r = RP_PKI_R_DEVICE_ID;
	if (!rp_pki_device_id_valid((const char *)utf8, (size_t)n, NULL)) {
		goto out;
	}
	r = RP_PKI_R_ID_MISMATCH;
	if (expect != NULL &&
	    (strlen(expect) != (size_t)n || memcmp(expect, utf8, (size_t)n) != 0)) {
		goto out;
	}
	memcpy(id, utf8, (size_t)n);
	id[n] = '\0';
	r = RP_PKI_ACCEPTED;
out:
	OPENSSL_free(utf8);
	return r;
}

/* ---- the gate -------------------------------------------------------------------- */

rp_status rp_pki_csr_parse(const uint8_t *buf, size_t len, rp_pki_csr_encoding enc,
			   const char *expect_id, rp_pki_csr **out, rp_pki_reject *reject)
{
	rp_pki_csr *csr = NULL;
	X509_REQ *req = NULL;
	uint8_t *der = NULL;
	const uint8_t *der_in = buf, *b64 = buf;
	size_t der_len = len, b64_len = len;
	rp_pki_alg alg = RP_PKI_ALG_NONE;
	char id[RP_LIMIT_PKI_DEVICE_ID_LEN + 1] = "";
	rp_pki_reject r = RP_PKI_R_INTERNAL;
	rp_status st;

	if (reject != NULL) {
		*reject = RP_PKI_R_INTERNAL;
	}
	if (out == NULL || (buf == NULL && len > 0) || (unsigned)enc > (unsigned)RP_PKI_CSR_AUTO) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	if (enc == RP_PKI_CSR_AUTO) {
		enc = detect(buf, len);
	}
	/* 1. Size, before anything else (len is the attacker's). */
	if (len > (enc == RP_PKI_CSR_DER ? RP_LIMIT_PKI_CSR_DER : RP_LIMIT_PKI_CSR_ENCODED)) {
		r = RP_PKI_R_TOO_LARGE;
		goto out;
	}
	/* 2. Text forms to DER. */
	if (enc != RP_PKI_CSR_DER) {
		if (enc == RP_PKI_CSR_PEM && !pem_body(buf, len, &b64, &b64_len)) {
			r = RP_PKI_R_ENCODING;
			goto out;
		}
		der = rp_alloc(NULL, RP_LIMIT_PKI_CSR_DER);
		if (der == NULL) {
			goto out;
		}
		st = rp__pki_b64_decode(b64, b64_len, der, RP_LIMIT_PKI_CSR_DER, &der_len);
		if (st != RP_OK) {
			r = st == RP_E_BUF_TOO_SMALL ? RP_PKI_R_TOO_LARGE : RP_PKI_R_ENCODING;
			goto out;
		}
		der_in = der;
	}
	r = parse_der(der_in, der_len, &req);
	if (r != RP_PKI_ACCEPTED) {
		goto out;
	}
	/* 3. Version 1 (value 0). */
	if (X509_REQ_get_version(req) != X509_REQ_VERSION_1) {
		r = RP_PKI_R_VERSION;
		goto out;
	}
	/* 4, 5, 6, 7. */
	r = check_key(req, &alg);
	if (r == RP_PKI_ACCEPTED) {
		r = check_signature(req);
	}
	if (r == RP_PKI_ACCEPTED) {
		r = check_subject(req, expect_id, id);
	}
	if (r != RP_PKI_ACCEPTED) {
		goto out;
	}
	csr = rp_alloc(NULL, sizeof(*csr));
	if (csr == NULL) {
		r = RP_PKI_R_INTERNAL;
		goto out;
	}
	csr->req = req;
	csr->alg = alg;
	memcpy(csr->id, id, sizeof(id));
	req = NULL;
	*out = csr;
out:
	X509_REQ_free(req);
	rp_free(NULL, der);
	ERR_clear_error();
	if (reject != NULL) {
		*reject = r;
	}
	return reject_status(r);
}

const char *rp_pki_csr_device_id(const rp_pki_csr *csr)
{
	return csr != NULL ? csr->id : "";
}

int rp_pki_csr_challenge(const rp_pki_csr *csr, char *out, size_t cap, size_t *len)
{
	int i = X509_REQ_get_attr_by_NID(csr->req, NID_pkcs9_challengePassword, -1);
	X509_ATTRIBUTE *a;
	const ASN1_TYPE *v;
	int n;

	*len = 0;
	if (i < 0) {
		return 0;
	}
	/* Once only, with one value of a DirectoryString type. */
	if (X509_REQ_get_attr_by_NID(csr->req, NID_pkcs9_challengePassword, i) >= 0) {
		return -1;
	}
	a = X509_REQ_get_attr(csr->req, i);
	if (a == NULL || X509_ATTRIBUTE_count(a) != 1) {
		return -1;
	}
	v = X509_ATTRIBUTE_get0_type(a, 0);
	if (v == NULL || (v->type != V_ASN1_PRINTABLESTRING && v->type != V_ASN1_UTF8STRING)) {
		return -1;
	}
	n = ASN1_STRING_length(v->value.asn1_string);
	if (n < 1 || (size_t)n >= cap) {
		return -1;
	}
	memcpy(out, ASN1_STRING_get0_data(v->value.asn1_string), (size_t)n);
	out[n] = '\0';
	*len = (size_t)n;
	return 1;
}

rp_pki_alg rp_pki_csr_alg(const rp_pki_csr *csr)
{
	return csr != NULL ? csr->alg : RP_PKI_ALG_NONE;
}

X509_REQ *rp__pki_csr_req(const rp_pki_csr *csr)
{
	return csr->req;
}

void rp_pki_csr_free(rp_pki_csr *csr)
{
	if (csr == NULL) {
		return;
	}
	X509_REQ_free(csr->req);
	rp_free(NULL, csr);
}
