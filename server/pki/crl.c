/*
 * crl.c - certificate revocation lists (pki.h).
 *
 * A v2 CRL (RFC 5280 5): issuer, thisUpdate, nextUpdate, one entry per
 * revoked serial with its date and, if given, a reasonCode, and the two
 * extensions a conforming CA MUST include: cRLNumber and
 * authorityKeyIdentifier. The caller (the store) owns the list and the
 * number; the engine checks every entry before building anything, so a
 * bad entry never yields a CRL that silently lacks it.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "pki/internal.h"
#include "rampart/text.h"

/* The serial of hex (rp_pki_cert_serial_hex() form) into b; its length. */
static size_t parse_serial(const char *hex, uint8_t b[20])
{
	size_t i, n;

	if (hex == NULL) {
		return 0;
	}
	n = strlen(hex);
	if (n == 0 || n > 40 || n % 2 != 0) {
		return 0;
	}
	for (i = 0; i < n / 2; i++) {
		int hi = rp_text_hex_digit(hex[2 * i]), lo = rp_text_hex_digit(hex[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			return 0;
		}
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	/* DER integers have no leading zero octet; zero is no serial. */
	if (b[0] == 0) {
		return 0;
	}
	return n / 2;
}

static int reason_ok(int r)
{
	return r == RP_PKI_REASON_NONE || (r >= 0 && r <= 10 && r != 7);
}

/* Adds one entry to crl (t is scratch). */
static int add_entry(X509_CRL *crl, const uint8_t *sn, size_t sn_len, int64_t when, int reason,
		     ASN1_TIME *t)
{
	X509_REVOKED *r = X509_REVOKED_new();
	ASN1_INTEGER *ai = ASN1_INTEGER_new();
	ASN1_ENUMERATED *e = NULL;
	int ok = 0;

	if (r == NULL || ai == NULL || ASN1_STRING_set(ai, sn, (int)sn_len) != 1 ||
	    X509_REVOKED_set_serialNumber(r, ai) != 1 || ASN1_TIME_set(t, (time_t)when) == NULL ||
	    X509_REVOKED_set_revocationDate(r, t) != 1) {
		goto out;
	}
	if (reason != RP_PKI_REASON_NONE) {
		e = ASN1_ENUMERATED_new();
		if (e == NULL || ASN1_ENUMERATED_set(e, reason) != 1 ||
		    X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, e, 0, X509V3_ADD_DEFAULT) != 1) {
			goto out;
		}
	}
	if (X509_CRL_add0_revoked(crl, r) != 1) {
		goto out;
	}
	r = NULL;
	ok = 1;
out:
	ASN1_ENUMERATED_free(e);
	ASN1_INTEGER_free(ai);
	X509_REVOKED_free(r);
	return ok;
}

/* cRLNumber and AKI. */
static int add_crl_extensions(X509_CRL *crl, X509 *issuer, uint64_t number)
{
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
	int ok = 0;

	if (num == NULL || akid == NULL || ASN1_INTEGER_set_uint64(num, number) != 1 ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, X509V3_ADD_DEFAULT) != 1) {
		goto out;
	}
	akid->keyid = rp__pki_key_id(issuer);
	if (akid->keyid == NULL) {
		goto out;
	}
	ok = X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, akid, 0,
				   X509V3_ADD_DEFAULT) == 1;
out:
	ASN1_INTEGER_free(num);
	AUTHORITY_KEYID_free(akid);
	return ok;
}

/*
 * The signed CRL as a fresh object parsed from its DER (as cert.c's
 * reparse()): OpenSSL fills a CRL's cached fields (AKI, number, issuing
 * distribution point) only when it parses one, and a store that matches
 * CRLs to issuers reads those. Frees crl.
 */
static X509_CRL *reparse(X509_CRL *crl)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	X509_CRL *y = NULL;
	int n = i2d_X509_CRL(crl, &der);

	if (n > 0) {
		p = der;
		y = d2i_X509_CRL(NULL, &p, n);
	}
	OPENSSL_free(der);
	X509_CRL_free(crl);
	return y;
}

rp_status rp_pki_crl_new(const rp_pki_signer *ca, const rp_pki_revoked *list, size_t n,
			 uint64_t number, int64_t now, int64_t next_update_s, X509_CRL **out,
			 const char **why)
{
	X509_CRL *crl = NULL;
	ASN1_TIME *t = NULL;
	const EVP_MD *md;
	uint8_t sn[20];
	size_t i, sn_len;
	int known;
	rp_status st = RP_E_INVALID_ARG;

	if (out == NULL) {
		return rp__pki_fail(why, st, "missing argument");
	}
	*out = NULL;
	if (ca == NULL || (list == NULL && n > 0)) {
		return rp__pki_fail(why, st, "missing argument");
	}
	if (n > RP_LIMIT_PKI_CRL_ENTRIES) {
		return rp__pki_fail(why, st, "more revoked certificates than a CRL may list");
	}
	if (now <= 0) {
		return rp__pki_fail(why, st, "time is not plausible");
	}
	if (next_update_s == 0) {
		next_update_s = RP_DEFAULT_PKI_CRL_NEXT_UPDATE_S;
	}
	if (next_update_s < RP_LIMIT_PKI_CRL_NEXT_UPDATE_MIN_S ||
	    next_update_s > (int64_t)RP_LIMIT_PKI_CRL_NEXT_UPDATE_S) {
		return rp__pki_fail(why, st, "nextUpdate out of range");
	}
	if ((X509_get_key_usage(ca->cert) & KU_CRL_SIGN) == 0) {
		return rp__pki_fail(why, st, "signer certificate may not sign CRLs");
	}
	for (i = 0; i < n; i++) {
		if (parse_serial(list[i].serial_hex, sn) == 0) {
			return rp__pki_fail(why, st, "revoked serial is not canonical hex");
		}
		if (list[i].revoked_at <= 0 || list[i].revoked_at > now) {
			return rp__pki_fail(why, st, "revocation date is unset or in the future");
		}
		if (!reason_ok(list[i].reason)) {
			return rp__pki_fail(why, st, "revocation reason is not an RFC 5280 code");
		}
	}
	/* A CRL may outlive its issuer's certificate only by being useless;
	 * the issuer must be valid now, nextUpdate may pass its notAfter. */
	st = rp__pki_signer_covers(ca, now, 0, why);
	if (st != RP_OK) {
		return st;
	}
	md = rp__pki_sign_md(ca->key, &known);
	if (!known) {
		return rp__pki_fail(why, RP_E_CRYPTO, "signer key type is not supported");
	}
	st = rp__pki_fail(why, RP_E_NOMEM, "cannot build the CRL");
	crl = X509_CRL_new();
	t = ASN1_TIME_new();
	if (crl == NULL || t == NULL || X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert)) != 1 ||
	    ASN1_TIME_set(t, (time_t)now) == NULL || X509_CRL_set1_lastUpdate(crl, t) != 1 ||
	    ASN1_TIME_set(t, (time_t)(now + next_update_s)) == NULL ||
	    X509_CRL_set1_nextUpdate(crl, t) != 1) {
		goto out;
	}
	for (i = 0; i < n; i++) {
		sn_len = parse_serial(list[i].serial_hex, sn);
		if (!add_entry(crl, sn, sn_len, list[i].revoked_at, list[i].reason, t)) {
			goto out;
		}
	}
	if (X509_CRL_sort(crl) != 1 || !add_crl_extensions(crl, ca->cert, number)) {
		goto out;
	}
	if (X509_CRL_sign(crl, ca->key, md) <= 0) {
		st = rp__pki_fail(why, RP_E_CRYPTO, "signing failed");
		goto out;
	}
	*out = reparse(crl);
	crl = NULL;
	if (*out == NULL) {
		st = rp__pki_fail(why, RP_E_NOMEM, "cannot re-read the CRL");
		goto out;
	}
	st = rp__pki_fail(why, RP_OK, "");
out:
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	ERR_clear_error();
	return st;
}
