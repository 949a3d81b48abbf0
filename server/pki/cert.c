/*
 * cert.c - certificate profiles: fleet root, issuing CA, server, device
 * (pki.h; the profiles are tables in docs/pki.md).
 *
 * Implementation notes
 *
 * - Every extension is built from OpenSSL's structures (BASIC_CONSTRAINTS,
 *   GENERAL_NAMES, ...) and added with X509_add1_i2d(), never from
 *   openssl.cnf-syntax strings: a fleet name or a host name can then never
 *   inject another extension value ("DNS:a,URI:..."), and no text is parsed.
 * - The profiles are what X509_V_FLAG_X509_STRICT wants (rampartd verifies
 *   with it): v3, critical basicConstraints on every certificate, critical
 *   keyUsage, SKI on every certificate, AKI on every one (the root's points
 *   at itself), pathLenConstraint only on CAs, named curves only.
 * - A certificate is built completely, then signed once by the signer's
 *   EVP_PKEY (X509_sign(): works for provider keys, PKCS#11 later); on any
 *   failure nothing is returned.
 * - Nothing reads a certificate while it is being built (no X509_get0_*,
 *   X509_check_*, X509_get_extension_flags on it): the first such read
 *   makes OpenSSL cache the extensions, and a cache taken before the last
 *   extension was added would stay wrong in the object we return. So the
 *   new certificate's SKI is hashed from its key (key_hash()), and only
 *   finished certificates (issuers) go through rp__pki_key_id().
 * - Cost: OpenSSL 3.0's key encoder and decoder each take several times an
 *   ECDSA signature (X509_set_pubkey() runs both: 170 us; d2i_X509() 125 us;
 *   an ECDSA P-256 signature 20 us). So the public key is set from its
 *   encoded point (set_ec_pubkey()), and the signed DER is parsed once
 *   (reparse()): the caller gets exactly what the DER says, key decoded.
 * - Lifetimes: notBefore = now - RP_PKI_BACKDATE_S, notAfter = now +
 *   validity; a CA never issues past its own notAfter (RP_E_STATE, loud,
 *   rather than a silently shortened certificate).
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "pki/internal.h"
#include "util/alloc.h"

/* keyUsage bits, as numbered in RFC 5280 4.2.1.3. */
#define KU_BIT_DIGITAL_SIGNATURE 0
#define KU_BIT_KEY_CERT_SIGN     5
#define KU_BIT_CRL_SIGN          6

/* Longest printable name (CN, O) a CA or server profile takes: X.520. */
#define NAME_MAX_LEN 64u
/* Longest DNS name (RFC 1035), and label. */
#define DNS_MAX_LEN   253u
#define LABEL_MAX_LEN 63u

#define MIN_VALIDITY_S 3600

void rp__pki_hex(char *out, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

ASN1_INTEGER *rp__pki_random_serial(void)
{
	uint8_t b[RP_PKI_SERIAL_BYTES];
	ASN1_INTEGER *ai = NULL;
	size_t skip = 0;

	do {
		if (RAND_bytes(b, sizeof(b)) != 1) {
			goto out;
		}
		b[0] &= 0x7F; /* positive: at most 16 content octets */
		for (skip = 0; skip < sizeof(b) && b[skip] == 0; skip++) {
		}
	} while (skip == sizeof(b)); /* zero: draw again (p = 2^-127) */
	ai = ASN1_INTEGER_new();
	/* DER: no leading zero octets; the magnitude as is (positive). */
	if (ai != NULL && ASN1_STRING_set(ai, b + skip, (int)(sizeof(b) - skip)) != 1) {
		ASN1_INTEGER_free(ai);
		ai = NULL;
	}
out:
	OPENSSL_cleanse(b, sizeof(b));
	return ai;
}

/* RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. Reads
 * the key only, so it is safe on a certificate still being built. */
static ASN1_OCTET_STRING *key_hash(const X509 *cert)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	ASN1_OCTET_STRING *id;

	if (X509_pubkey_digest(cert, EVP_sha1(), md, &n) != 1) {
		return NULL;
	}
	id = ASN1_OCTET_STRING_new();
	if (id != NULL && ASN1_OCTET_STRING_set(id, md, (int)n) != 1) {
		ASN1_OCTET_STRING_free(id);
		id = NULL;
	}
	return id;
}

ASN1_OCTET_STRING *rp__pki_key_id(X509 *cert)
{
	/* Reading the SKI makes OpenSSL cache the extensions: only ever on a
	 * finished (signed, parsed) certificate, here the issuer's. */
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(cert);

	return ski != NULL ? ASN1_OCTET_STRING_dup(ski) : key_hash(cert);
}

/*
 * The signed certificate as a fresh object parsed from its own DER, which
 * is what the caller gets. Two reasons: the object we built has its key
 * set from the encoded point only (OpenSSL 3.0 does not decode such a key
 * later: X509_get0_pubkey() would give NULL), and nothing cached in it
 * before completion can leak out. Frees x.
 */
static X509 *reparse(X509 *x)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	X509 *y = NULL;
	int n = i2d_X509(x, &der);

	if (n > 0) {
		p = der;
		y = d2i_X509(NULL, &p, n);
	}
	OPENSSL_free(der);
	X509_free(x);
	return y;
}

/* ---- checks of the caller's profile -------------------------------------------- */

/* validity_s 0: def; else within [min, max]. Returns 0 if out of range. */
static int pick_validity(int64_t v, uint32_t def, int64_t min, uint32_t max, int64_t *out)
{
	if (v == 0) {
		*out = (int64_t)def;
		return 1;
	}
	if (v < min || v > (int64_t)max) {
		return 0;
	}
	*out = v;
	return 1;
}

/* `now` must be a plausible instant: after 2000, before 9000 (the year
 * 9999 is the last one an X.509 time can hold). */
static int now_ok(int64_t now)
{
	return now > 946684800 && now < 221845392000;
}

/* 1..NAME_MAX_LEN printable ASCII bytes. */
static int printable_ok(const char *s)
{
	size_t i, n;

	if (s == NULL) {
		return 0;
	}
	n = strlen(s);
	if (n == 0 || n > NAME_MAX_LEN) {
		return 0;
	}
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7E) {
			return 0;
		}
	}
	return 1;
}

/* A host name: LDH labels of 1..63, no '-' at either end, 1..253 in all,
 * no trailing dot, no wildcard. */
static int dns_ok(const char *s)
{
	size_t i, n, label = 0;

	if (s == NULL) {
		return 0;
	}
	n = strlen(s);
	if (n == 0 || n > DNS_MAX_LEN) {
		return 0;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-') {
				return 0;
			}
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-')) {
			return 0;
		}
		if (c == '-' && label == 0) {
			return 0;
		}
		if (++label > LABEL_MAX_LEN) {
			return 0;
		}
	}
	return label > 0 && s[n - 1] != '-';
}

/* ---- building blocks ------------------------------------------------------------ */

static int add_basic_constraints(X509 *x, int ca, long pathlen)
{
	BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
	int ok = 0;

	if (bc == NULL) {
		return 0;
	}
	bc->ca = ca ? 0xFF : 0;
	if (ca && pathlen >= 0) {
		bc->pathlen = ASN1_INTEGER_new();
		if (bc->pathlen == NULL || ASN1_INTEGER_set(bc->pathlen, pathlen) != 1) {
			goto out;
		}
	}
	ok = X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT) == 1;
out:
	BASIC_CONSTRAINTS_free(bc);
	return ok;
}

/* keyUsage (critical) with the given RFC 5280 bit numbers; n <= 3. */
static int add_key_usage(X509 *x, const int *bits, size_t n)
{
	ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
	size_t i;
	int ok = 0;

	if (ku == NULL) {
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (ASN1_BIT_STRING_set_bit(ku, bits[i], 1) != 1) {
			goto out;
		}
	}
	ok = X509_add1_ext_i2d(x, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT) == 1;
out:
	ASN1_BIT_STRING_free(ku);
	return ok;
}

/* extendedKeyUsage (not critical) with one purpose. */
static int add_eku(X509 *x, int nid)
{
	EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
	ASN1_OBJECT *o = OBJ_nid2obj(nid);
	int ok = 0;

	if (eku == NULL || o == NULL) {
		goto out;
	}
	if (sk_ASN1_OBJECT_push(eku, o) <= 0) {
		goto out;
	}
	ok = X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT) == 1;
out:
	/* OBJ_nid2obj() objects are static; freeing them is a no-op. */
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	return ok;
}

/* SKI of x's own key, and AKI = issuer's key id (issuer NULL: x itself). */
static int add_key_ids(X509 *x, X509 *issuer)
{
	ASN1_OCTET_STRING *ski = key_hash(x);
	AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
	int ok = 0;

	if (ski == NULL || akid == NULL) {
		goto out;
	}
	if (X509_add1_ext_i2d(x, NID_subject_key_identifier, ski, 0, X509V3_ADD_DEFAULT) != 1) {
		goto out;
	}
	akid->keyid = issuer != NULL ? rp__pki_key_id(issuer) : ASN1_OCTET_STRING_dup(ski);
	if (akid->keyid == NULL) {
		goto out;
	}
	ok = X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, X509V3_ADD_DEFAULT) == 1;
out:
	ASN1_OCTET_STRING_free(ski);
	AUTHORITY_KEYID_free(akid);
	return ok;
}

/* Appends one IA5String general name (DNS or URI) to gens. */
static int push_ia5_name(GENERAL_NAMES *gens, int type, const char *s, size_t len)
{
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();

	if (g == NULL || ia5 == NULL || ASN1_STRING_set(ia5, s, (int)len) != 1) {
		goto fail;
	}
	GENERAL_NAME_set0_value(g, type, ia5);
	ia5 = NULL;
	if (sk_GENERAL_NAME_push(gens, g) <= 0) {
		goto fail;
	}
	return 1;
fail:
	ASN1_IA5STRING_free(ia5);
	GENERAL_NAME_free(g);
	return 0;
}

/* Appends an iPAddress general name; 0 if text is not an address. */
static int push_ip_name(GENERAL_NAMES *gens, const char *text)
{
	ASN1_OCTET_STRING *ip = a2i_IPADDRESS(text);
	GENERAL_NAME *g = NULL;

	if (ip == NULL) {
		return 0;
	}
	g = GENERAL_NAME_new();
	if (g == NULL) {
		ASN1_OCTET_STRING_free(ip);
		return 0;
	}
	GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
	if (sk_GENERAL_NAME_push(gens, g) <= 0) {
		GENERAL_NAME_free(g);
		return 0;
	}
	return 1;
}

static int add_san(X509 *x, GENERAL_NAMES *gens)
{
	/* Not critical: every certificate of ours has a non-empty subject. */
	return X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1;
}

/* A subject of (O, CN) or (CN): org may be NULL. */
static X509_NAME *make_name(const char *org, const char *cn, size_t cn_len)
{
	X509_NAME *nm = X509_NAME_new();

	if (nm == NULL) {
		return NULL;
	}
	if (org != NULL && X509_NAME_add_entry_by_NID(nm, NID_organizationName, MBSTRING_UTF8,
						      (const unsigned char *)org, -1, -1, 0) != 1) {
		goto fail;
	}
	if (X509_NAME_add_entry_by_NID(nm, NID_commonName, MBSTRING_UTF8, (const unsigned char *)cn,
				       (int)cn_len, -1, 0) != 1) {
		goto fail;
	}
	return nm;
fail:
	X509_NAME_free(nm);
	return NULL;
}

/*
 * subjectPublicKeyInfo = pub's EC point on its named curve, set from the
 * encoded point: X509_set_pubkey() goes through OpenSSL 3.0's encoder
 * framework, which costs six times the signature itself.
 */
static int set_ec_pubkey(X509 *x, EVP_PKEY *pub)
{
	rp_pki_alg alg = rp_pki_key_alg(pub);
	unsigned char *pt = NULL;
	size_t n;

	if (alg == RP_PKI_ALG_NONE) {
		return 0;
	}
	n = EVP_PKEY_get1_encoded_public_key(pub, &pt);
	if (n == 0 || n > INT_MAX || pt == NULL) {
		OPENSSL_free(pt);
		return 0;
	}
	/* On success the X509_PUBKEY owns pt. */
	if (X509_PUBKEY_set0_param(
		    X509_get_X509_PUBKEY(x), OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
		    OBJ_nid2obj(alg == RP_PKI_EC_P256 ? NID_X9_62_prime256v1 : NID_secp384r1), pt,
		    (int)n) != 1) {
		OPENSSL_free(pt);
		return 0;
	}
	return 1;
}

/*
 * A new v3 certificate: random serial, validity, subject, issuer name
 * (issuer NULL: subject, self-signed), public key of pub.
 */
static X509 *cert_start(const X509_NAME *subject, X509 *issuer, EVP_PKEY *pub, int64_t now,
			int64_t validity_s)
{
	ASN1_INTEGER *serial = rp__pki_random_serial();
	X509 *x = X509_new();

	if (serial == NULL || x == NULL) {
		goto fail;
	}
	if (X509_set_version(x, X509_VERSION_3) != 1 || X509_set_serialNumber(x, serial) != 1 ||
	    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)(now - RP_PKI_BACKDATE_S)) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)(now + validity_s)) == NULL ||
	    X509_set_subject_name(x, subject) != 1 ||
	    X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : subject) !=
		    1 ||
	    !set_ec_pubkey(x, pub)) {
		goto fail;
	}
	ASN1_INTEGER_free(serial);
	return x;
fail:
	ASN1_INTEGER_free(serial);
	X509_free(x);
	return NULL;
}

static rp_status cert_sign(X509 *x, EVP_PKEY *key, const char **why)
{
	int known;
	const EVP_MD *md = rp__pki_sign_md(key, &known);

	if (!known) {
		return rp__pki_fail(why, RP_E_CRYPTO, "signer key type is not supported");
	}
	if (X509_sign(x, key, md) <= 0) {
		return rp__pki_fail(why, RP_E_CRYPTO, "signing failed");
	}
	return RP_OK;
}

/* The public key argument must be a P-256 or P-384 key. */
static int pub_ok(const EVP_PKEY *pub)
{
	return rp_pki_key_alg(pub) != RP_PKI_ALG_NONE;
}

/* ---- CA certificates -------------------------------------------------------------- */

static rp_status ca_new(const rp_pki_signer *parent, EVP_PKEY *self_key, EVP_PKEY *pub,
			const rp_pki_ca_profile *p, int64_t now, X509 **out, const char **why)
{
	static const int ku[] = {KU_BIT_KEY_CERT_SIGN, KU_BIT_CRL_SIGN};
	X509_NAME *nm = NULL;
	X509 *x = NULL;
	int64_t validity = 0;
	rp_status st = RP_E_INVALID_ARG;
	int ok;

	if (out == NULL || p == NULL || pub == NULL) {
		return rp__pki_fail(why, RP_E_INVALID_ARG, "missing argument");
	}
	*out = NULL;
	if (!now_ok(now)) {
		return rp__pki_fail(why, st, "time is not plausible");
	}
	if (!printable_ok(p->common_name) ||
	    (p->organization != NULL && !printable_ok(p->organization))) {
		return rp__pki_fail(why, st, "CA name is empty, too long or not printable ASCII");
	}
	ok = parent == NULL
		     ? pick_validity(p->validity_s, RP_DEFAULT_PKI_ROOT_VALIDITY_S, MIN_VALIDITY_S,
				     RP_LIMIT_PKI_ROOT_VALIDITY_S, &validity)
		     : pick_validity(p->validity_s, RP_DEFAULT_PKI_ISSUING_VALIDITY_S,
				     MIN_VALIDITY_S, RP_LIMIT_PKI_ISSUING_VALIDITY_S, &validity);
	if (!ok) {
		return rp__pki_fail(why, st, "validity out of range");
	}
	if (!pub_ok(pub)) {
		return rp__pki_fail(why, st, "key is not EC P-256 or P-384");
	}
	if (parent != NULL) {
		st = rp__pki_signer_covers(parent, now, now + validity, why);
		if (st != RP_OK) {
			return st;
		}
	}
	st = rp__pki_fail(why, RP_E_NOMEM, "cannot build the certificate");
	nm = make_name(p->organization, p->common_name, strlen(p->common_name));
	x = nm != NULL ? cert_start(nm, parent != NULL ? parent->cert : NULL, pub, now, validity)
		       : NULL;
	if (x == NULL || !add_basic_constraints(x, 1, parent == NULL ? 1 : 0) ||
	    !add_key_usage(x, ku, sizeof(ku) / sizeof(ku[0])) ||
	    !add_key_ids(x, parent != NULL ? parent->cert : NULL)) {
		goto out;
	}
	st = cert_sign(x, parent != NULL ? parent->key : self_key, why);
	if (st != RP_OK) {
		goto out;
	}
	*out = reparse(x);
	x = NULL;
	if (*out == NULL) {
		st = rp__pki_fail(why, RP_E_NOMEM, "cannot re-read the certificate");
		goto out;
	}
	st = rp__pki_fail(why, RP_OK, "");
out:
	X509_free(x);
	X509_NAME_free(nm);
	ERR_clear_error();
	return st;
}

rp_status rp_pki_root_ca_new(EVP_PKEY *key, const rp_pki_ca_profile *p, int64_t now, X509 **out,
			     const char **why)
{
	return ca_new(NULL, key, key, p, now, out, why);
}

rp_status rp_pki_issuing_ca_new(const rp_pki_signer *root, EVP_PKEY *pub,
				const rp_pki_ca_profile *p, int64_t now, X509 **out,
				const char **why)
{
	if (root == NULL) {
		if (out != NULL) {
			*out = NULL;
		}
		return rp__pki_fail(why, RP_E_INVALID_ARG, "missing argument");
	}
	return ca_new(root, NULL, pub, p, now, out, why);
}

/* ---- leaf certificates -------------------------------------------------------------- */

/* Adds the leaf extensions: CA:FALSE, digitalSignature, one EKU, key ids. */
static int leaf_extensions(X509 *x, X509 *issuer, int eku_nid)
{
	static const int ku[] = {KU_BIT_DIGITAL_SIGNATURE};

	return add_basic_constraints(x, 0, -1) && add_key_usage(x, ku, 1) && add_eku(x, eku_nid) &&
	       add_key_ids(x, issuer);
}

rp_status rp_pki_server_cert_new(const rp_pki_signer *ca, EVP_PKEY *pub,
				 const rp_pki_server_profile *p, int64_t now, X509 **out,
				 const char **why)
{
	GENERAL_NAMES *gens = NULL;
	X509_NAME *nm = NULL;
	X509 *x = NULL;
	const char *cn;
	int64_t validity = 0;
	size_t i;
	rp_status st = RP_E_INVALID_ARG;

	if (out == NULL) {
		return rp__pki_fail(why, st, "missing argument");
	}
	*out = NULL;
	if (ca == NULL || pub == NULL || p == NULL || (p->dns_count > 0 && p->dns == NULL) ||
	    (p->ip_count > 0 && p->ip == NULL)) {
		return rp__pki_fail(why, st, "missing argument");
	}
	if (!now_ok(now)) {
		return rp__pki_fail(why, st, "time is not plausible");
	}
	if (p->dns_count + p->ip_count == 0 || p->dns_count > RP_LIMIT_PKI_SERVER_SANS ||
	    p->ip_count > RP_LIMIT_PKI_SERVER_SANS - p->dns_count) {
		return rp__pki_fail(why, st, "server needs 1 to RP_LIMIT_PKI_SERVER_SANS names");
	}
	for (i = 0; i < p->dns_count; i++) {
		if (!dns_ok(p->dns[i])) {
			return rp__pki_fail(why, st, "server DNS name is not a valid host name");
		}
	}
	cn = p->common_name != NULL ? p->common_name : p->dns_count > 0 ? p->dns[0] : p->ip[0];
	if (!printable_ok(cn)) {
		return rp__pki_fail(why, st, "server CN is empty, too long or not printable");
	}
	if (!pick_validity(p->validity_s, RP_DEFAULT_PKI_SERVER_VALIDITY_S, MIN_VALIDITY_S,
			   RP_LIMIT_PKI_SERVER_VALIDITY_S, &validity)) {
		return rp__pki_fail(why, st, "validity out of range");
	}
	if (!pub_ok(pub)) {
		return rp__pki_fail(why, st, "key is not EC P-256 or P-384");
	}
	st = rp__pki_signer_covers(ca, now, now + validity, why);
	if (st != RP_OK) {
		return st;
	}
	st = rp__pki_fail(why, RP_E_NOMEM, "cannot build the certificate");
	gens = sk_GENERAL_NAME_new_null();
	if (gens == NULL) {
		goto out;
	}
	for (i = 0; i < p->dns_count; i++) {
		if (!push_ia5_name(gens, GEN_DNS, p->dns[i], strlen(p->dns[i]))) {
			goto out;
		}
	}
	for (i = 0; i < p->ip_count; i++) {
		if (p->ip[i] == NULL || !push_ip_name(gens, p->ip[i])) {
			st = rp__pki_fail(why, RP_E_INVALID_ARG, "server IP address is not valid");
			goto out;
		}
	}
	nm = make_name(NULL, cn, strlen(cn));
	x = nm != NULL ? cert_start(nm, ca->cert, pub, now, validity) : NULL;
	if (x == NULL || !leaf_extensions(x, ca->cert, NID_server_auth) || !add_san(x, gens)) {
		goto out;
	}
	st = cert_sign(x, ca->key, why);
	if (st != RP_OK) {
		goto out;
	}
	*out = reparse(x);
	x = NULL;
	if (*out == NULL) {
		st = rp__pki_fail(why, RP_E_NOMEM, "cannot re-read the certificate");
		goto out;
	}
	st = rp__pki_fail(why, RP_OK, "");
out:
	X509_free(x);
	X509_NAME_free(nm);
	GENERAL_NAMES_free(gens);
	ERR_clear_error();
	return st;
}

rp_status rp_pki_device_cert_new(const rp_pki_signer *ca, const rp_pki_csr *csr,
				 const rp_pki_device_profile *p, int64_t now, X509 **out,
				 const char **why)
{
	char uri[sizeof(RP_PKI_DEVICE_URI_PREFIX) + RP_LIMIT_PKI_FLEET_NAME_LEN +
		 sizeof(":device:") + RP_LIMIT_PKI_DEVICE_ID_LEN];
	GENERAL_NAMES *gens = NULL;
	X509_NAME *nm = NULL;
	X509 *x = NULL;
	const char *id;
	int64_t validity = 0;
	size_t id_len, fleet_len;
	int n;
	rp_status st = RP_E_INVALID_ARG;

	if (out == NULL) {
		return rp__pki_fail(why, st, "missing argument");
	}
	*out = NULL;
	if (ca == NULL || csr == NULL || p == NULL || p->fleet == NULL) {
		return rp__pki_fail(why, st, "missing argument");
	}
	if (!now_ok(now)) {
		return rp__pki_fail(why, st, "time is not plausible");
	}
	fleet_len = strlen(p->fleet);
	if (!rp_pki_fleet_name_valid(p->fleet, fleet_len, why)) {
		return st;
	}
	if (!pick_validity(p->validity_s, RP_DEFAULT_PKI_DEVICE_VALIDITY_S,
			   RP_LIMIT_PKI_DEVICE_VALIDITY_MIN_S, RP_LIMIT_PKI_DEVICE_VALIDITY_S,
			   &validity)) {
		return rp__pki_fail(why, st, "validity out of range");
	}
	/* Re-checked although rp_pki_csr_parse() did: the id goes into a
	 * URI and a CN, and this function must not trust its caller's object. */
	id = rp_pki_csr_device_id(csr);
	id_len = strlen(id);
	if (!rp_pki_device_id_valid(id, id_len, why)) {
		return st;
	}
	st = rp__pki_signer_covers(ca, now, now + validity, why);
	if (st != RP_OK) {
		return st;
	}
	n = snprintf(uri, sizeof(uri), "%s%s:device:%s", RP_PKI_DEVICE_URI_PREFIX, p->fleet, id);
	if (n < 0 || (size_t)n >= sizeof(uri)) {
		return rp__pki_fail(why, RP_E_INTERNAL, "device URI does not fit");
	}
	st = rp__pki_fail(why, RP_E_NOMEM, "cannot build the certificate");
	gens = sk_GENERAL_NAME_new_null();
	if (gens == NULL || !push_ia5_name(gens, GEN_URI, uri, (size_t)n)) {
		goto out;
	}
	nm = make_name(NULL, id, id_len);
	x = nm != NULL ? cert_start(nm, ca->cert, X509_REQ_get0_pubkey(rp__pki_csr_req(csr)), now,
				    validity)
		       : NULL;
	if (x == NULL || !leaf_extensions(x, ca->cert, NID_client_auth) || !add_san(x, gens)) {
		goto out;
	}
	st = cert_sign(x, ca->key, why);
	if (st != RP_OK) {
		goto out;
	}
	*out = reparse(x);
	x = NULL;
	if (*out == NULL) {
		st = rp__pki_fail(why, RP_E_NOMEM, "cannot re-read the certificate");
		goto out;
	}
	st = rp__pki_fail(why, RP_OK, "");
out:
	X509_free(x);
	X509_NAME_free(nm);
	GENERAL_NAMES_free(gens);
	ERR_clear_error();
	return st;
}

/* ---- encodings and fingerprints ---------------------------------------------------------- */

/* Size-first copy of p[0 .. n) into out. */
static rp_status copy_out(const uint8_t *p, size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
	*out_len = n;
	if (n > cap) {
		return RP_E_BUF_TOO_SMALL;
	}
	memcpy(out, p, n);
	return RP_OK;
}

/* Copies what a memory BIO holds. */
static rp_status bio_out(BIO *bio, uint8_t *out, size_t cap, size_t *out_len)
{
	char *p = NULL;
	long n = BIO_get_mem_data(bio, &p);

	if (n <= 0 || p == NULL) {
		return RP_E_CRYPTO;
	}
	return copy_out((const uint8_t *)p, (size_t)n, out, cap, out_len);
}

/* DER or PEM of one ASN.1 object (a certificate, a CRL): size first, as everywhere. */
static rp_status encode_item(const void *obj, const ASN1_ITEM *it, const char *pem_name,
			     rp_pki_format f, uint8_t *out, size_t cap, size_t *out_len)
{
	BIO *bio = NULL;
	unsigned char *der = NULL;
	rp_status st = RP_E_CRYPTO;
	int n;

	*out_len = 0;
	n = ASN1_item_i2d((const ASN1_VALUE *)obj, &der, it);
	if (n <= 0) {
		goto out;
	}
	if (f == RP_PKI_DER) {
		st = copy_out(der, (size_t)n, out, cap, out_len);
		goto out;
	}
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL) {
		st = RP_E_NOMEM;
		goto out;
	}
	if (PEM_write_bio(bio, pem_name, "", der, n) > 0) {
		st = bio_out(bio, out, cap, out_len);
	}
out:
	OPENSSL_free(der);
	BIO_free(bio);
	ERR_clear_error();
	return st;
}

rp_status rp_pki_cert_encode(const X509 *x, rp_pki_format f, uint8_t *out, size_t cap,
			     size_t *out_len)
{
	if (x == NULL || out_len == NULL || (out == NULL && cap > 0) ||
	    (f != RP_PKI_DER && f != RP_PKI_PEM)) {
		return RP_E_INVALID_ARG;
	}
	return encode_item(x, ASN1_ITEM_rptr(X509), PEM_STRING_X509, f, out, cap, out_len);
}

rp_status rp_pki_crl_encode(const X509_CRL *crl, rp_pki_format f, uint8_t *out, size_t cap,
			    size_t *out_len)
{
	if (crl == NULL || out_len == NULL || (out == NULL && cap > 0) ||
	    (f != RP_PKI_DER && f != RP_PKI_PEM)) {
		return RP_E_INVALID_ARG;
	}
	return encode_item(crl, ASN1_ITEM_rptr(X509_CRL), PEM_STRING_X509_CRL, f, out, cap,
			   out_len);
}

rp_status rp_pki_cert_sha256_hex(const X509 *x, char *out, size_t cap)
{
	unsigned char md[32];
	unsigned int n = 0;
	rp_status st = RP_E_CRYPTO;

	if (x == NULL || out == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (cap < RP_PKI_SHA256_HEX_SIZE) {
		return RP_E_BUF_TOO_SMALL;
	}
	if (X509_digest(x, EVP_sha256(), md, &n) == 1 && n == sizeof(md)) {
		rp__pki_hex(out, md, sizeof(md));
		st = RP_OK;
	}
	ERR_clear_error();
	return st;
}

rp_status rp_pki_cert_serial_hex(const X509 *x, char *out, size_t cap)
{
	const ASN1_INTEGER *sn;
	int n;

	if (x == NULL || out == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (cap < RP_PKI_SERIAL_HEX_SIZE) {
		return RP_E_BUF_TOO_SMALL;
	}
	sn = X509_get0_serialNumber(x);
	n = ASN1_STRING_length(sn);
	/* The same rules as rampartd's TLS identity (RFC 5280 4.1.2.2). */
	if (ASN1_STRING_type(sn) != V_ASN1_INTEGER || n <= 0 || n > 20) {
		return RP_E_CRYPTO;
	}
	rp__pki_hex(out, ASN1_STRING_get0_data(sn), (size_t)n);
	return RP_OK;
}
