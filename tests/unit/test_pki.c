/*
 * test_pki.c - server/pki: profiles, CSR gate, key files, CRL, EST encodings.
 *
 * The group setup makes a fleet with the engine itself: a P-384 root, a
 * P-256 issuing CA, a server certificate. Every certificate is checked
 * field by field against the profile tables of docs/pki.md and verified
 * with X509_verify_cert() under X509_V_FLAG_X509_STRICT and the purpose a
 * relying party uses. Every CSR refusal asserts its exact reject code and
 * status, and test_csr_encodings shows the same CSR accepted, so none of
 * the refusals can pass because everything is refused.
 *
 * test_pki_tls.c drives rampartd's own TLS layer with these certificates.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "pki/internal.h"
#include "pki/pki.h"
#include "util/alloc.h"

typedef STACK_OF(X509) cert_list;

static const char PASS[] = "correct horse battery staple 42";
#define PASS_LEN (sizeof(PASS) - 1)

static struct {
	char dir[256];
	int64_t now;
	EVP_PKEY *root_key, *iss_key, *srv_key, *dev_key, *dev384_key;
	X509 *root, *iss, *srv;
	rp_pki_signer *root_s, *iss_s;
} F;

/* "<dir>/<name>" in a static buffer (one at a time). */
static const char *path_of(const char *name)
{
	static char buf[2][512];
	static int k;

	k ^= 1;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", F.dir, name);
	return buf[k];
}

/* ---- CSR making ------------------------------------------------------------------------ */

typedef struct csr_opts {
	const char *cn;   /* NULL: no CN */
	const char *cn2;  /* a second CN */
	const EVP_MD *md; /* NULL: SHA-256 (Ed25519: none) */
	long version;     /* 0: v1 */
	int with_exts;    /* extension request: SAN role URI, CA:TRUE */
	size_t pad_attr;  /* an attribute of this many bytes (oversize tests) */
} csr_opts;

/* A signed CSR for key, DER; free with OPENSSL_free. */
static uint8_t *make_csr(EVP_PKEY *key, const csr_opts *o, size_t *len)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *nm = X509_NAME_new();
	uint8_t *der = NULL;
	int n;

	assert_non_null(req);
	assert_non_null(nm);
	assert_int_equal(X509_REQ_set_version(req, o->version), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_UTF8,
						    (const unsigned char *)"Acme", -1, -1, 0),
			 1);
	if (o->cn != NULL) {
		assert_int_equal(X509_NAME_add_entry_by_NID(nm, NID_commonName, MBSTRING_UTF8,
							    (const unsigned char *)o->cn, -1, -1,
							    0),
				 1);
	}
	if (o->cn2 != NULL) {
		assert_int_equal(X509_NAME_add_entry_by_NID(nm, NID_commonName, MBSTRING_UTF8,
							    (const unsigned char *)o->cn2, -1, -1,
							    0),
				 1);
	}
	assert_int_equal(X509_REQ_set_subject_name(req, nm), 1);
	assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
	if (o->with_exts) {
		STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
		X509_EXTENSION *e;

		e = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name,
					"URI:urn:rampart:role:admin,DNS:evil.example");
		assert_non_null(e);
		sk_X509_EXTENSION_push(exts, e);
		e = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "critical,CA:TRUE");
		assert_non_null(e);
		sk_X509_EXTENSION_push(exts, e);
		assert_int_equal(X509_REQ_add_extensions(req, exts), 1);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
	if (o->pad_attr > 0) {
		char *pad = malloc(o->pad_attr + 1);

		assert_non_null(pad);
		memset(pad, 'A', o->pad_attr);
		pad[o->pad_attr] = '\0';
		assert_int_equal(X509_REQ_add1_attr_by_NID(req, NID_pkcs9_unstructuredName,
							   MBSTRING_ASC, (const unsigned char *)pad,
							   -1),
				 1);
		free(pad);
	}
	assert_true(X509_REQ_sign(req, key,
				  o->md != NULL                   ? o->md
				  : EVP_PKEY_is_a(key, "ED25519") ? NULL
								  : EVP_sha256()) > 0);
	n = i2d_X509_REQ(req, &der);
	assert_true(n > 0);
	*len = (size_t)n;
	X509_NAME_free(nm);
	X509_REQ_free(req);
	return der;
}

static uint8_t *simple_csr(EVP_PKEY *key, const char *cn, size_t *len)
{
	csr_opts o = {0};

	o.cn = cn;
	return make_csr(key, &o, len);
}

/* Base64 of der into a malloc'd, NUL-terminated buffer: lines of `line`
 * characters ending in `eol` (line 0: one line, no break). */
static char *b64_of(const uint8_t *der, size_t len, size_t line, const char *eol)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t cap = (len + 2) / 3 * 4 * 3 + 16, o = 0, col = 0, i;
	char *s = malloc(cap);

	assert_non_null(s);
	for (i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)der[i] << 16;
		char q[4];
		int k;

		v |= i + 1 < len ? (uint32_t)der[i + 1] << 8 : 0;
		v |= i + 2 < len ? der[i + 2] : 0;
		q[0] = abc[(v >> 18) & 63];
		q[1] = abc[(v >> 12) & 63];
		q[2] = i + 1 < len ? abc[(v >> 6) & 63] : '=';
		q[3] = i + 2 < len ? abc[v & 63] : '=';
		for (k = 0; k < 4; k++) {
			s[o++] = q[k];
			if (line != 0 && ++col == line) {
				o += (size_t)sprintf(s + o, "%s", eol);
				col = 0;
			}
		}
	}
	if (line != 0 && col != 0) {
		o += (size_t)sprintf(s + o, "%s", eol);
	}
	s[o] = '\0';
	return s;
}

/* Parses and expects a refusal with reject code r and status st. */
static void expect_reject(const void *buf, size_t len, rp_pki_csr_encoding enc, const char *expect,
			  rp_pki_reject r, rp_status st)
{
	rp_pki_csr *csr = (rp_pki_csr *)1;
	rp_pki_reject got = RP_PKI_ACCEPTED;
	rp_status s = rp_pki_csr_parse(buf, len, enc, expect, &csr, &got);

	if (got != r) {
		print_error("reject %d (%s), wanted %d (%s)\n", got, rp_pki_reject_str(got), r,
			    rp_pki_reject_str(r));
	}
	assert_int_equal(got, r);
	assert_int_equal(s, st);
	assert_null(csr);
	assert_int_equal(ERR_peek_error(), 0);
}

static rp_pki_csr *expect_accept(const void *buf, size_t len, rp_pki_csr_encoding enc,
				 const char *expect)
{
	rp_pki_csr *csr = NULL;
	rp_pki_reject r = RP_PKI_R_INTERNAL;
	rp_status st = rp_pki_csr_parse(buf, len, enc, expect, &csr, &r);

	if (st != RP_OK) {
		print_error("refused: %s\n", rp_pki_reject_str(r));
	}
	assert_int_equal(st, RP_OK);
	assert_int_equal(r, RP_PKI_ACCEPTED);
	assert_non_null(csr);
	return csr;
}

/* ---- verification ------------------------------------------------------------------------- */

/* X509_verify_cert() of leaf against the root, the issuing CA untrusted,
 * strict, for purpose ("ssl_client" / "ssl_server"); optional CRLs. */
static int verify(X509 *leaf, const char *purpose, X509_CRL *crl1, X509_CRL *crl2, int *err)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	cert_list *untrusted = sk_X509_new_null();
	unsigned long flags = X509_V_FLAG_X509_STRICT;
	int rc;

	assert_non_null(store);
	assert_non_null(ctx);
	assert_non_null(untrusted);
	assert_int_equal(X509_STORE_add_cert(store, F.root), 1);
	assert_true(sk_X509_push(untrusted, F.iss) > 0);
	if (crl1 != NULL) {
		assert_int_equal(X509_STORE_add_crl(store, crl1), 1);
		flags |= X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;
	}
	if (crl2 != NULL) {
		assert_int_equal(X509_STORE_add_crl(store, crl2), 1);
	}
	assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, untrusted), 1);
	if (purpose != NULL) {
		assert_int_equal(X509_STORE_CTX_set_default(ctx, purpose), 1);
	}
	X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx), flags);
	X509_VERIFY_PARAM_set_auth_level(X509_STORE_CTX_get0_param(ctx), 2);
	rc = X509_verify_cert(ctx);
	*err = X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	sk_X509_free(untrusted);
	X509_STORE_free(store);
	ERR_clear_error();
	return rc;
}

static void expect_verifies(X509 *leaf, const char *purpose)
{
	int err = 0;

	if (verify(leaf, purpose, NULL, NULL, &err) != 1) {
		print_error("verify: %s\n", X509_verify_cert_error_string(err));
	}
	assert_int_equal(err, X509_V_OK);
}

static X509_EXTENSION *ext_of(const X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);

	assert_true(i >= 0);
	assert_true(X509_get_ext_by_NID(x, nid, i) < 0); /* exactly once */
	return X509_get_ext(x, i);
}

/* Fields every certificate of the fleet shares. */
static void expect_common(X509 *x, X509 *issuer, int64_t validity)
{
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	const ASN1_OCTET_STRING *aki, *iski;

	assert_int_equal(X509_get_version(x), X509_VERSION_3);
	assert_int_equal(ASN1_STRING_type(sn), V_ASN1_INTEGER);
	/* Positive, 1..16 content octets in DER (tag, length, octets). */
	assert_true(ASN1_STRING_length(sn) >= 1 && ASN1_STRING_length(sn) <= 16);
	assert_true(i2d_ASN1_INTEGER(sn, NULL) <= 18);
	assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), (time_t)(F.now - 300)), 0);
	assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notAfter(x), (time_t)(F.now + validity)),
			 0);
	assert_int_equal(X509_EXTENSION_get_critical(ext_of(x, NID_basic_constraints)), 1);
	assert_int_equal(X509_EXTENSION_get_critical(ext_of(x, NID_key_usage)), 1);
	assert_non_null(X509_get0_subject_key_id(x));
	(void)ext_of(x, NID_authority_key_identifier);
	aki = X509_get0_authority_key_id(x);
	iski = X509_get0_subject_key_id(issuer);
	assert_non_null(aki);
	assert_int_equal(ASN1_OCTET_STRING_cmp(aki, iski), 0);
	assert_int_equal(X509_check_issued(issuer, x), X509_V_OK);
}

static int64_t pathlen_of(X509 *x)
{
	return (int64_t)X509_get_pathlen(x);
}

/* ---- tests: profiles ----------------------------------------------------------------------- */

static void test_root_and_issuing_profiles(void **state)
{
	const X509_NAME *nm;

	(void)state;
	expect_common(F.root, F.root, RP_DEFAULT_PKI_ROOT_VALIDITY_S);
	assert_int_equal(X509_check_ca(F.root), 1);
	assert_int_equal(pathlen_of(F.root), 1);
	assert_int_equal(X509_get_key_usage(F.root), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	assert_int_equal(X509_get_ext_count(F.root), 4); /* BC, KU, SKI, AKI */
	assert_int_equal(X509_check_issued(F.root, F.root), X509_V_OK);
	assert_int_equal(X509_get_signature_nid(F.root), NID_ecdsa_with_SHA384);
	nm = X509_get_subject_name(F.root);
	assert_int_equal(X509_NAME_entry_count(nm), 2);
	assert_int_equal(X509_NAME_cmp(nm, X509_get_issuer_name(F.root)), 0);

	expect_common(F.iss, F.root, RP_DEFAULT_PKI_ISSUING_VALIDITY_S);
	assert_int_equal(X509_check_ca(F.iss), 1);
	assert_int_equal(pathlen_of(F.iss), 0);
	assert_int_equal(X509_get_key_usage(F.iss), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	assert_int_equal(X509_get_ext_count(F.iss), 4);
	/* Signed by the P-384 root: SHA-384. */
	assert_int_equal(X509_get_signature_nid(F.iss), NID_ecdsa_with_SHA384);
	expect_verifies(F.iss, NULL);
}

static void test_server_profile(void **state)
{
	GENERAL_NAMES *gens;
	const GENERAL_NAME *g;
	int ok;

	(void)state;
	expect_common(F.srv, F.iss, RP_DEFAULT_PKI_SERVER_VALIDITY_S);
	assert_int_equal(X509_check_ca(F.srv), 0);
	assert_int_equal(pathlen_of(F.srv), -1);
	assert_int_equal(X509_get_key_usage(F.srv), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_get_extended_key_usage(F.srv), XKU_SSL_SERVER);
	assert_int_equal(X509_get_ext_count(F.srv), 6);
	assert_int_equal(X509_get_signature_nid(F.srv), NID_ecdsa_with_SHA256);
	gens = X509_get_ext_d2i(F.srv, NID_subject_alt_name, NULL, NULL);
	assert_non_null(gens);
	assert_int_equal(sk_GENERAL_NAME_num(gens), 4);
	g = sk_GENERAL_NAME_value(gens, 0);
	assert_int_equal(g->type, GEN_DNS);
	assert_string_equal(ASN1_STRING_get0_data(g->d.dNSName), "localhost");
	g = sk_GENERAL_NAME_value(gens, 2);
	assert_int_equal(g->type, GEN_IPADD);
	assert_int_equal(ASN1_STRING_length(g->d.iPAddress), 4);
	g = sk_GENERAL_NAME_value(gens, 3);
	assert_int_equal(ASN1_STRING_length(g->d.iPAddress), 16);
	GENERAL_NAMES_free(gens);
	expect_verifies(F.srv, "ssl_server");
	assert_int_equal(X509_check_host(F.srv, "localhost", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(F.srv, "rampart.example.com", 0, 0, NULL), 1);
	assert_int_equal(X509_check_ip_asc(F.srv, "127.0.0.1", 0), 1);
	assert_int_equal(X509_check_ip_asc(F.srv, "::1", 0), 1);
	assert_int_equal(X509_check_host(F.srv, "other.example.com", 0, 0, NULL), 0);
	/* A server certificate is no client certificate. */
	ok = X509_check_purpose(F.srv, X509_PURPOSE_SSL_CLIENT, 0);
	assert_int_equal(ok, 0);
}

static X509 *issue(EVP_PKEY *key, const char *id, int64_t validity)
{
	rp_pki_device_profile p = {"acme", validity};
	rp_pki_csr *csr;
	X509 *x = NULL;
	const char *why = NULL;
	size_t len;
	uint8_t *der = simple_csr(key, id, &len);

	csr = expect_accept(der, len, RP_PKI_CSR_DER, id);
	assert_int_equal(rp_pki_device_cert_new(F.iss_s, csr, &p, F.now, &x, &why), RP_OK);
	assert_string_equal(why, "");
	assert_non_null(x);
	rp_pki_csr_free(csr);
	OPENSSL_free(der);
	return x;
}

static void test_device_profile(void **state)
{
	X509 *x = issue(F.dev_key, "dev-0001", 0);
	const X509_NAME *nm = X509_get_subject_name(x);
	const X509_NAME_ENTRY *e;
	GENERAL_NAMES *gens;
	const GENERAL_NAME *g;
	EXTENDED_KEY_USAGE *eku;

	(void)state;
	expect_common(x, F.iss, 30 * 86400);
	/* Subject: CN = the id, nothing else, as a UTF8String. */
	assert_int_equal(X509_NAME_entry_count(nm), 1);
	e = X509_NAME_get_entry(nm, 0);
	assert_int_equal(OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)), NID_commonName);
	assert_int_equal(ASN1_STRING_type(X509_NAME_ENTRY_get_data(e)), V_ASN1_UTF8STRING);
	assert_string_equal(ASN1_STRING_get0_data(X509_NAME_ENTRY_get_data(e)), "dev-0001");
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(F.iss)), 0);
	/* SAN: the one device URI. */
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	assert_non_null(gens);
	assert_int_equal(sk_GENERAL_NAME_num(gens), 1);
	g = sk_GENERAL_NAME_value(gens, 0);
	assert_int_equal(g->type, GEN_URI);
	assert_string_equal(ASN1_STRING_get0_data(g->d.uniformResourceIdentifier),
			    "urn:rampart:fleet:acme:device:dev-0001");
	GENERAL_NAMES_free(gens);
	/* EKU clientAuth only; KU digitalSignature only; not a CA. */
	eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	assert_non_null(eku);
	assert_int_equal(sk_ASN1_OBJECT_num(eku), 1);
	assert_int_equal(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)), NID_client_auth);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	assert_int_equal(X509_EXTENSION_get_critical(ext_of(x, NID_ext_key_usage)), 0);
	assert_int_equal(X509_EXTENSION_get_critical(ext_of(x, NID_subject_alt_name)), 0);
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_check_ca(x), 0);
	assert_int_equal(pathlen_of(x), -1);
	assert_int_equal(X509_get_ext_count(x), 6);
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), F.dev_key), 1);
	expect_verifies(x, "ssl_client");
	assert_int_equal(X509_check_purpose(x, X509_PURPOSE_SSL_CLIENT, 0), 1);
	assert_int_equal(X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0), 0);
	X509_free(x);

	/* P-384 device key, custom validity. */
	x = issue(F.dev384_key, "Gw.7_x-2", 3600);
	expect_common(x, F.iss, 3600);
	expect_verifies(x, "ssl_client");
	X509_free(x);
}

/* Whatever the CSR asks for, the issuer decides the profile. */
static void test_requested_extensions_ignored(void **state)
{
	csr_opts o = {0};
	rp_pki_device_profile p = {"acme", 0};
	rp_pki_csr *csr;
	GENERAL_NAMES *gens;
	X509 *x = NULL;
	size_t len;
	uint8_t *der;

	(void)state;
	o.cn = "dev-0009";
	o.with_exts = 1;
	der = make_csr(F.dev_key, &o, &len);
	csr = expect_accept(der, len, RP_PKI_CSR_DER, NULL);
	assert_string_equal(rp_pki_csr_device_id(csr), "dev-0009");
	assert_int_equal(rp_pki_csr_alg(csr), RP_PKI_EC_P256);
	assert_int_equal(rp_pki_device_cert_new(F.iss_s, csr, &p, F.now, &x, NULL), RP_OK);
	assert_int_equal(X509_check_ca(x), 0);
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	assert_int_equal(sk_GENERAL_NAME_num(gens), 1);
	assert_string_equal(
		ASN1_STRING_get0_data(sk_GENERAL_NAME_value(gens, 0)->d.uniformResourceIdentifier),
		"urn:rampart:fleet:acme:device:dev-0009");
	GENERAL_NAMES_free(gens);
	/* And the subject's O=Acme was not copied. */
	assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(x)), 1);
	X509_free(x);
	rp_pki_csr_free(csr);
	OPENSSL_free(der);
}

static void test_serials_random(void **state)
{
	char seen[64][RP_PKI_SERIAL_HEX_SIZE];
	int i, k;

	(void)state;
	for (i = 0; i < 64; i++) {
		ASN1_INTEGER *ai = rp__pki_random_serial();
		const uint8_t *p;
		int n;

		assert_non_null(ai);
		n = ASN1_STRING_length(ai);
		p = ASN1_STRING_get0_data(ai);
		assert_true(n >= 1 && n <= 16);
		assert_true(p[0] != 0); /* minimal */
		/* 127 random bits: at most 16 content octets, sign octet included. */
		assert_true(i2d_ASN1_INTEGER(ai, NULL) <= 18);
		rp__pki_hex(seen[i], p, (size_t)n);
		for (k = 0; k < i; k++) {
			assert_string_not_equal(seen[k], seen[i]);
		}
		ASN1_INTEGER_free(ai);
	}
}

static void test_profile_errors(void **state)
{
	rp_pki_ca_profile ca = {"Issuing", NULL, 0};
	const char *dns_bad[] = {"-x.example", "a..b", "*.example.com", "x_y.example", "a.", ""};
	const char *dns_ok[] = {"localhost"};
	const char *ip_bad[] = {"127.0.0.300"};
	rp_pki_server_profile sp;
	rp_pki_signer *s = NULL;
	X509 *x = (X509 *)1;
	const char *why = NULL;
	size_t i;

	(void)state;
	/* Validity bounds. */
	ca.validity_s = (int64_t)RP_LIMIT_PKI_ISSUING_VALIDITY_S + 1;
	assert_int_equal(rp_pki_issuing_ca_new(F.root_s, F.iss_key, &ca, F.now, &x, &why),
			 RP_E_INVALID_ARG);
	assert_null(x);
	assert_string_equal(why, "validity out of range");
	ca.validity_s = -5;
	assert_int_equal(rp_pki_issuing_ca_new(F.root_s, F.iss_key, &ca, F.now, &x, NULL),
			 RP_E_INVALID_ARG);
	/* A CA never issues past its own end. */
	ca.validity_s = 0;
	assert_int_equal(rp_pki_issuing_ca_new(
				 F.root_s, F.iss_key, &ca,
				 F.now + (int64_t)RP_DEFAULT_PKI_ROOT_VALIDITY_S - 86400, &x, &why),
			 RP_E_STATE);
	assert_string_equal(why, "signer certificate expires before the new one would");
	assert_int_equal(rp_pki_issuing_ca_new(F.root_s, F.iss_key, &ca, F.now - 86400, &x, &why),
			 RP_E_STATE);
	assert_string_equal(why, "signer certificate is not valid yet");
	/* Names. */
	ca.common_name = "bad\nname";
	assert_int_equal(rp_pki_issuing_ca_new(F.root_s, F.iss_key, &ca, F.now, &x, NULL),
			 RP_E_INVALID_ARG);
	ca.common_name = NULL;
	assert_int_equal(rp_pki_root_ca_new(F.root_key, &ca, F.now, &x, NULL), RP_E_INVALID_ARG);
	/* Signers: a leaf is no CA; a key that is not the certificate's. */
	assert_int_equal(rp_pki_signer_new(F.srv, F.srv_key, &s, &why), RP_E_INVALID_ARG);
	assert_string_equal(why, "signer certificate is not a CA");
	assert_int_equal(rp_pki_signer_new(F.iss, F.root_key, &s, &why), RP_E_CRYPTO);
	assert_null(s);
	/* Server names. */
	memset(&sp, 0, sizeof(sp));
	assert_int_equal(rp_pki_server_cert_new(F.iss_s, F.srv_key, &sp, F.now, &x, NULL),
			 RP_E_INVALID_ARG);
	for (i = 0; i < sizeof(dns_bad) / sizeof(dns_bad[0]); i++) {
		sp.dns = &dns_bad[i];
		sp.dns_count = 1;
		assert_int_equal(rp_pki_server_cert_new(F.iss_s, F.srv_key, &sp, F.now, &x, &why),
				 RP_E_INVALID_ARG);
		assert_string_equal(why, "server DNS name is not a valid host name");
	}
	sp.dns = dns_ok;
	sp.ip = ip_bad;
	sp.ip_count = 1;
	assert_int_equal(rp_pki_server_cert_new(F.iss_s, F.srv_key, &sp, F.now, &x, &why),
			 RP_E_INVALID_ARG);
	assert_string_equal(why, "server IP address is not valid");
	assert_null(x);
	assert_int_equal(ERR_peek_error(), 0);
}

static void test_device_cert_errors(void **state)
{
	rp_pki_device_profile p = {"acme", 0};
	rp_pki_csr *csr;
	X509 *x = NULL;
	const char *why = NULL;
	size_t len;
	uint8_t *der = simple_csr(F.dev_key, "dev-0001", &len);

	(void)state;
	csr = expect_accept(der, len, RP_PKI_CSR_DER, NULL);
	p.fleet = "Acme";
	assert_int_equal(rp_pki_device_cert_new(F.iss_s, csr, &p, F.now, &x, &why),
			 RP_E_INVALID_ARG);
	p.fleet = "acme:device:x";
	assert_int_equal(rp_pki_device_cert_new(F.iss_s, csr, &p, F.now, &x, &why),
			 RP_E_INVALID_ARG);
	p.fleet = "acme";
	p.validity_s = 60; /* under the minimum */
	assert_int_equal(rp_pki_device_cert_new(F.iss_s, csr, &p, F.now, &x, &why),
			 RP_E_INVALID_ARG);
	p.validity_s = (int64_t)RP_LIMIT_PKI_DEVICE_VALIDITY_S + 1;
	assert_int_equal(rp_pki_device_cert_new(F.iss_s, csr, &p, F.now, &x, &why),
			 RP_E_INVALID_ARG);
	p.validity_s = 0;
	/* The root may not sign devices below the issuing CA (it could:
	 * pathlen allows it), but the issuing CA's end bounds its leaves. */
	assert_int_equal(
		rp_pki_device_cert_new(F.iss_s, csr, &p,
				       F.now + (int64_t)RP_DEFAULT_PKI_ISSUING_VALIDITY_S - 86400,
				       &x, &why),
		RP_E_STATE);
	assert_null(x);
	rp_pki_csr_free(csr);
	OPENSSL_free(der);
}

/* ---- tests: identifiers ------------------------------------------------------------------------
 */

static void test_device_id_rules(void **state)
{
	static const char *const good[] = {
		"dev-0001",
		"a",
		"Z",
		"0",
		"sensor.kitchen_2",
		"A1-b2.C3_d4",
		"devices",
		"svcx",
		"1234567890123456789012345678901234567890123456789012345678901234",
	};
	static const char *const bad[] = {
		"",           ".hidden",
		"..",         "-rf",
		"_x",         "dev/0001",
		"dev+1",      "dev#1",
		"dev 1",      "dév",
		"dev:1",      "device",
		"Device",     "DEVICE",
		"svc-ingest", "SVC-x",
		"svc-",       "12345678901234567890123456789012345678901234567890123456789012345",
		"a\x7f",
	};
	const char *why = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!rp_pki_device_id_valid(good[i], strlen(good[i]), &why)) {
			print_error("refused %s: %s\n", good[i], why);
		}
		assert_true(rp_pki_device_id_valid(good[i], strlen(good[i]), &why));
		assert_string_equal(why, "");
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (rp_pki_device_id_valid(bad[i], strlen(bad[i]), &why)) {
			print_error("accepted %s\n", bad[i]);
		}
		assert_false(rp_pki_device_id_valid(bad[i], strlen(bad[i]), &why));
		assert_true(why != NULL && why[0] != '\0');
	}
	/* Length counts, not the terminator: an embedded NUL is refused. */
	assert_false(rp_pki_device_id_valid("dev\0x", 5, NULL));
	assert_false(rp_pki_device_id_valid(NULL, 3, NULL));
	assert_true(rp_pki_fleet_name_valid("acme-prod-1", 11, NULL));
	assert_false(rp_pki_fleet_name_valid("-acme", 5, NULL));
	assert_false(rp_pki_fleet_name_valid("Acme", 4, NULL));
	assert_false(rp_pki_fleet_name_valid("a:b", 3, NULL));
	assert_false(rp_pki_fleet_name_valid("", 0, NULL));
	assert_false(rp_pki_fleet_name_valid("abcdefghijklmnopqrstuvwxyz0123456", 33, NULL));
}

/* ---- tests: the CSR gate -----------------------------------------------------------------------
 */

static void test_csr_encodings(void **state)
{
	static const char *const labels[] = {"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"};
	size_t len, i;
	uint8_t *der = simple_csr(F.dev_key, "dev-0001", &len);
	char *b64, pem[4096];
	rp_pki_csr *csr;

	(void)state;
	csr = expect_accept(der, len, RP_PKI_CSR_DER, "dev-0001");
	rp_pki_csr_free(csr);
	csr = expect_accept(der, len, RP_PKI_CSR_AUTO, "dev-0001");
	rp_pki_csr_free(csr);
	/* Base64: one line, 64-column LF lines, 76-column CRLF lines, and
	 * a line break after every character. */
	b64 = b64_of(der, len, 0, "");
	csr = expect_accept(b64, strlen(b64), RP_PKI_CSR_BASE64, "dev-0001");
	rp_pki_csr_free(csr);
	csr = expect_accept(b64, strlen(b64), RP_PKI_CSR_AUTO, NULL);
	rp_pki_csr_free(csr);
	free(b64);
	b64 = b64_of(der, len, 64, "\n");
	csr = expect_accept(b64, strlen(b64), RP_PKI_CSR_BASE64, "dev-0001");
	rp_pki_csr_free(csr);
	free(b64);
	b64 = b64_of(der, len, 76, "\r\n");
	csr = expect_accept(b64, strlen(b64), RP_PKI_CSR_AUTO, "dev-0001");
	rp_pki_csr_free(csr);
	free(b64);
	b64 = b64_of(der, len, 1, "\r\n");
	csr = expect_accept(b64, strlen(b64), RP_PKI_CSR_BASE64, "dev-0001");
	rp_pki_csr_free(csr);
	free(b64);
	/* PEM, both labels, with and without a final line break; also
	 * what OpenSSL itself writes. */
	b64 = b64_of(der, len, 64, "\n");
	for (i = 0; i < 2; i++) {
		snprintf(pem, sizeof(pem), "-----BEGIN %s-----\n%s-----END %s-----\n", labels[i],
			 b64, labels[i]);
		csr = expect_accept(pem, strlen(pem), RP_PKI_CSR_PEM, "dev-0001");
		rp_pki_csr_free(csr);
		pem[strlen(pem) - 1] = '\0';
		csr = expect_accept(pem, strlen(pem), RP_PKI_CSR_AUTO, "dev-0001");
		rp_pki_csr_free(csr);
	}
	{
		X509_REQ *req = NULL;
		const unsigned char *p = der;
		BIO *bio = BIO_new(BIO_s_mem());
		char *text = NULL;
		long n;

		req = d2i_X509_REQ(NULL, &p, (long)len);
		assert_int_equal(PEM_write_bio_X509_REQ(bio, req), 1);
		n = BIO_get_mem_data(bio, &text);
		csr = expect_accept(text, (size_t)n, RP_PKI_CSR_AUTO, "dev-0001");
		rp_pki_csr_free(csr);
		X509_REQ_free(req);
		BIO_free(bio);
	}
	/* PEM given as base64, and DER given as PEM, are refused. */
	snprintf(pem, sizeof(pem),
		 "-----BEGIN CERTIFICATE REQUEST-----\n%s-----END CERTIFICATE "
		 "REQUEST-----\n",
		 b64);
	expect_reject(pem, strlen(pem), RP_PKI_CSR_BASE64, NULL, RP_PKI_R_ENCODING, RP_E_MALFORMED);
	expect_reject(der, len, RP_PKI_CSR_PEM, NULL, RP_PKI_R_ENCODING, RP_E_MALFORMED);
	expect_reject(pem, strlen(pem), RP_PKI_CSR_DER, NULL, RP_PKI_R_DER, RP_E_MALFORMED);
	free(b64);
	OPENSSL_free(der);
}

static void test_csr_bad_armour_and_base64(void **state)
{
	size_t len, i;
	uint8_t *der = simple_csr(F.dev_key, "dev-0001", &len);
	char *b64 = b64_of(der, len, 64, "\n");
	char *one = b64_of(der, len, 0, "");
	char buf[4096];
	/* Armour around the body: header line, mismatched label, leading
	 * space, trailing text, no line break after BEGIN, another label, a
	 * short dash run. */
	static const char *const pem_bad[][2] = {
		{"-----BEGIN CERTIFICATE REQUEST-----\nProc-Type: 4,ENCRYPTED\n",
		 "-----END CERTIFICATE REQUEST-----\n"},
		{"-----BEGIN CERTIFICATE REQUEST-----\n",
		 "-----END NEW CERTIFICATE REQUEST-----\n"},
		{" -----BEGIN CERTIFICATE REQUEST-----\n", "-----END CERTIFICATE REQUEST-----\n"},
		{"-----BEGIN CERTIFICATE REQUEST-----\n", "-----END CERTIFICATE REQUEST-----\nx"},
		{"-----BEGIN CERTIFICATE REQUEST-----", "-----END CERTIFICATE REQUEST-----\n"},
		{"-----BEGIN CERTIFICATE-----\n", "-----END CERTIFICATE-----\n"},
		{"-----BEGIN CERTIFICATE REQUEST-----\n", "-----END CERTIFICATE REQUEST----\n"},
	};

	(void)state;
	for (i = 0; i < sizeof(pem_bad) / sizeof(pem_bad[0]); i++) {
		snprintf(buf, sizeof(buf), "%s%s%s", pem_bad[i][0], b64, pem_bad[i][1]);
		expect_reject(buf, strlen(buf), RP_PKI_CSR_PEM, NULL, RP_PKI_R_ENCODING,
			      RP_E_MALFORMED);
	}
	/* Base64: a space, a tab, a character outside the alphabet, URL-safe
	 * alphabet, missing padding, padding inside, data after padding,
	 * non-zero unused bits. */
	snprintf(buf, sizeof(buf), "%.10s %s", one, one + 10);
	expect_reject(buf, strlen(buf), RP_PKI_CSR_BASE64, NULL, RP_PKI_R_ENCODING, RP_E_MALFORMED);
	snprintf(buf, sizeof(buf), "%s\t", one);
	expect_reject(buf, strlen(buf), RP_PKI_CSR_BASE64, NULL, RP_PKI_R_ENCODING, RP_E_MALFORMED);
	snprintf(buf, sizeof(buf), "%s", one);
	buf[5] = '*';
	expect_reject(buf, strlen(buf), RP_PKI_CSR_BASE64, NULL, RP_PKI_R_ENCODING, RP_E_MALFORMED);
	snprintf(buf, sizeof(buf), "%s", one);
	buf[4] = '-';
	expect_reject(buf, strlen(buf), RP_PKI_CSR_BASE64, NULL, RP_PKI_R_ENCODING, RP_E_MALFORMED);
	expect_reject("QUJD", 3, RP_PKI_CSR_BASE64, NULL, RP_PKI_R_ENCODING, RP_E_MALFORMED);
	expect_reject("QQ", 2, RP_PKI_CSR_BASE64, NULL, RP_PKI_R_ENCODING, RP_E_MALFORMED);
	expect_reject("QQ==QUJD", 8, RP_PKI_CSR_BASE64, NULL, RP_PKI_R_ENCODING, RP_E_MALFORMED);
	expect_reject("QQ==\n=", 6, RP_PKI_CSR_BASE64, NULL, RP_PKI_R_ENCODING, RP_E_MALFORMED);
	expect_reject("QR==", 4, RP_PKI_CSR_BASE64, NULL, RP_PKI_R_ENCODING, RP_E_MALFORMED);
	expect_reject("QUI=", 4, RP_PKI_CSR_BASE64, NULL, RP_PKI_R_DER, RP_E_MALFORMED);
	expect_reject("QUJ=", 4, RP_PKI_CSR_BASE64, NULL, RP_PKI_R_ENCODING, RP_E_MALFORMED);
	expect_reject("Q===", 4, RP_PKI_CSR_BASE64, NULL, RP_PKI_R_ENCODING, RP_E_MALFORMED);
	expect_reject("\r\n\r\n", 4, RP_PKI_CSR_BASE64, NULL, RP_PKI_R_ENCODING, RP_E_MALFORMED);
	expect_reject("", 0, RP_PKI_CSR_BASE64, NULL, RP_PKI_R_ENCODING, RP_E_MALFORMED);
	expect_reject("", 0, RP_PKI_CSR_DER, NULL, RP_PKI_R_DER, RP_E_MALFORMED);
	expect_reject(NULL, 0, RP_PKI_CSR_AUTO, NULL, RP_PKI_R_ENCODING, RP_E_MALFORMED);
	free(one);
	free(b64);
	OPENSSL_free(der);
}

static void test_csr_der_rejects(void **state)
{
	size_t len;
	uint8_t *der = simple_csr(F.dev_key, "dev-0001", &len);
	uint8_t *buf = malloc(RP_LIMIT_PKI_CSR_ENCODED + 16);
	uint8_t *hit;
	size_t hl;
	csr_opts o = {0};

	(void)state;
	assert_non_null(buf);
	/* Garbage, with and without the SEQUENCE tag. */
	memset(buf, 0x41, 300);
	expect_reject(buf, 300, RP_PKI_CSR_DER, NULL, RP_PKI_R_DER, RP_E_MALFORMED);
	buf[0] = 0x30;
	expect_reject(buf, 300, RP_PKI_CSR_AUTO, NULL, RP_PKI_R_DER, RP_E_MALFORMED);
	/* Truncated. */
	expect_reject(der, len - 1, RP_PKI_CSR_DER, NULL, RP_PKI_R_DER, RP_E_MALFORMED);
	/* A byte after the request. */
	memcpy(buf, der, len);
	buf[len] = 0;
	expect_reject(buf, len + 1, RP_PKI_CSR_DER, NULL, RP_PKI_R_TRAILING, RP_E_MALFORMED);
	/* BER: the outer length in a longer form than needed (the signature
	 * does not cover it, so only the DER check can refuse it). */
	hl = der[1] & 0x7F;
	assert_true(der[1] & 0x80);
	buf[0] = 0x30;
	buf[1] = (uint8_t)(0x80 | (hl + 1));
	buf[2] = 0;
	memcpy(buf + 3, der + 2, len - 2);
	expect_reject(buf, len + 1, RP_PKI_CSR_DER, NULL, RP_PKI_R_DER, RP_E_MALFORMED);
	/* A flipped byte in the signature value, and in the signed subject:
	 * no proof of possession. */
	memcpy(buf, der, len);
	buf[len - 1] ^= 0x01;
	expect_reject(buf, len, RP_PKI_CSR_DER, NULL, RP_PKI_R_SIGNATURE, RP_E_CRYPTO);
	memcpy(buf, der, len);
	hit = NULL;
	for (hl = 0; hl + 8 <= len; hl++) {
		if (memcmp(buf + hl, "dev-0001", 8) == 0) {
			hit = buf + hl;
		}
	}
	assert_non_null(hit);
	hit[7] = '2';
	expect_reject(buf, len, RP_PKI_CSR_DER, NULL, RP_PKI_R_SIGNATURE, RP_E_CRYPTO);
	/* Over the DER cap: refused before parsing, also as base64. */
	memset(buf, 0, RP_LIMIT_PKI_CSR_DER + 1);
	buf[0] = 0x30;
	expect_reject(buf, RP_LIMIT_PKI_CSR_DER + 1, RP_PKI_CSR_DER, NULL, RP_PKI_R_TOO_LARGE,
		      RP_E_TOO_LARGE);
	memset(buf, 'A', RP_LIMIT_PKI_CSR_ENCODED + 4);
	expect_reject(buf, RP_LIMIT_PKI_CSR_ENCODED + 4, RP_PKI_CSR_BASE64, NULL,
		      RP_PKI_R_TOO_LARGE, RP_E_TOO_LARGE);
	/* Within the text cap, but decoding past the DER cap. */
	expect_reject(buf, RP_LIMIT_PKI_CSR_ENCODED, RP_PKI_CSR_BASE64, NULL, RP_PKI_R_TOO_LARGE,
		      RP_E_TOO_LARGE);
	/* A real, valid CSR made large with an attribute. */
	OPENSSL_free(der);
	o.cn = "dev-0001";
	o.pad_attr = RP_LIMIT_PKI_CSR_DER;
	der = make_csr(F.dev_key, &o, &len);
	assert_true(len > RP_LIMIT_PKI_CSR_DER);
	expect_reject(der, len, RP_PKI_CSR_DER, NULL, RP_PKI_R_TOO_LARGE, RP_E_TOO_LARGE);
	{
		char *b64 = b64_of(der, len, 64, "\r\n");

		expect_reject(b64, strlen(b64), RP_PKI_CSR_BASE64, NULL, RP_PKI_R_TOO_LARGE,
			      RP_E_TOO_LARGE);
		free(b64);
	}
	OPENSSL_free(der);
	/* Just under the cap is fine. */
	o.pad_attr = RP_LIMIT_PKI_CSR_DER - 400;
	der = make_csr(F.dev_key, &o, &len);
	assert_true(len <= RP_LIMIT_PKI_CSR_DER);
	rp_pki_csr_free(expect_accept(der, len, RP_PKI_CSR_DER, NULL));
	{
		char *b64 = b64_of(der, len, 64, "\r\n");

		assert_true(strlen(b64) <= RP_LIMIT_PKI_CSR_ENCODED);
		rp_pki_csr_free(expect_accept(b64, strlen(b64), RP_PKI_CSR_BASE64, NULL));
		free(b64);
	}
	OPENSSL_free(der);
	/* Version 2 (value 1). */
	o.pad_attr = 0;
	o.version = 1;
	der = make_csr(F.dev_key, &o, &len);
	expect_reject(der, len, RP_PKI_CSR_DER, NULL, RP_PKI_R_VERSION, RP_E_MALFORMED);
	OPENSSL_free(der);
	free(buf);
}

static EVP_PKEY *keygen_params(const char *type, const char *curve, const char *encoding)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	OSSL_PARAM params[3];
	EVP_PKEY *k = NULL;
	int n = 0;

	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
	if (curve != NULL) {
		params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
							       (char *)(uintptr_t)curve, 0);
	}
	if (encoding != NULL) {
		params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING,
							       (char *)(uintptr_t)encoding, 0);
	}
	params[n] = OSSL_PARAM_construct_end();
	assert_int_equal(EVP_PKEY_CTX_set_params(ctx, params), 1);
	assert_int_equal(EVP_PKEY_generate(ctx, &k), 1);
	EVP_PKEY_CTX_free(ctx);
	return k;
}

static void reject_key(EVP_PKEY *k, const EVP_MD *md, rp_pki_reject r, rp_status st)
{
	csr_opts o = {0};
	size_t len;
	uint8_t *der;

	o.cn = "dev-0001";
	o.md = md;
	der = make_csr(k, &o, &len);
	expect_reject(der, len, RP_PKI_CSR_DER, NULL, r, st);
	OPENSSL_free(der);
}

static void test_csr_key_rejects(void **state)
{
	EVP_PKEY *k;

	(void)state;
	k = EVP_RSA_gen(2048);
	assert_non_null(k);
	reject_key(k, NULL, RP_PKI_R_KEY_TYPE, RP_E_DENIED);
	EVP_PKEY_free(k);
	k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(k);
	reject_key(k, NULL, RP_PKI_R_KEY_TYPE, RP_E_DENIED);
	EVP_PKEY_free(k);
	k = EVP_EC_gen("P-521");
	assert_non_null(k);
	reject_key(k, NULL, RP_PKI_R_CURVE, RP_E_DENIED);
	EVP_PKEY_free(k);
	k = EVP_EC_gen("secp256k1");
	assert_non_null(k);
	reject_key(k, NULL, RP_PKI_R_CURVE, RP_E_DENIED);
	EVP_PKEY_free(k);
	k = EVP_EC_gen("P-224");
	assert_non_null(k);
	reject_key(k, NULL, RP_PKI_R_CURVE, RP_E_DENIED);
	EVP_PKEY_free(k);
	/* P-256 spelled out as explicit parameters. */
	k = keygen_params("EC", "P-256", "explicit");
	reject_key(k, NULL, RP_PKI_R_KEY_PARAMS, RP_E_DENIED);
	EVP_PKEY_free(k);
	/* A good key with a weak hash. */
	reject_key(F.dev_key, EVP_sha1(), RP_PKI_R_SIG_ALG, RP_E_DENIED);
	reject_key(F.dev_key, EVP_sha224(), RP_PKI_R_SIG_ALG, RP_E_DENIED);
	/* SHA-384 and SHA-512 are fine. */
	{
		csr_opts o = {0};
		size_t len;
		uint8_t *der;

		o.cn = "dev-0001";
		o.md = EVP_sha512();
		der = make_csr(F.dev384_key, &o, &len);
		rp_pki_csr_free(expect_accept(der, len, RP_PKI_CSR_DER, NULL));
		OPENSSL_free(der);
	}
}

/* A point that is not on the curve (the encoded x, y changed). */
static void test_csr_point_off_curve(void **state)
{
	size_t len, i;
	uint8_t *der = simple_csr(F.dev_key, "dev-0001", &len);
	unsigned char *pt = NULL;
	size_t ptlen = EVP_PKEY_get1_encoded_public_key(F.dev_key, &pt);
	int found = 0;

	(void)state;
	assert_int_equal(ptlen, 65);
	for (i = 0; i + ptlen <= len; i++) {
		if (memcmp(der + i, pt, ptlen) == 0) {
			der[i + ptlen - 1] ^= 0x01; /* y's last bit */
			found = 1;
			break;
		}
	}
	assert_true(found);
	{
		rp_pki_csr *csr = NULL;
		rp_pki_reject r = RP_PKI_ACCEPTED;

		assert_int_not_equal(rp_pki_csr_parse(der, len, RP_PKI_CSR_DER, NULL, &csr, &r),
				     RP_OK);
		/* d2i may refuse the key or leave it undecoded: either way. */
		assert_true(r == RP_PKI_R_KEY_INVALID || r == RP_PKI_R_DER);
		assert_null(csr);
	}
	OPENSSL_free(pt);
	OPENSSL_free(der);
}

static void test_csr_subject_rejects(void **state)
{
	csr_opts o = {0};
	size_t len;
	uint8_t *der;

	(void)state;
	/* Mismatch with the id a token binds, in every form. */
	der = simple_csr(F.dev_key, "dev-0001", &len);
	expect_reject(der, len, RP_PKI_CSR_DER, "dev-0002", RP_PKI_R_ID_MISMATCH, RP_E_DENIED);
	expect_reject(der, len, RP_PKI_CSR_DER, "dev-000", RP_PKI_R_ID_MISMATCH, RP_E_DENIED);
	expect_reject(der, len, RP_PKI_CSR_DER, "dev-00011", RP_PKI_R_ID_MISMATCH, RP_E_DENIED);
	expect_reject(der, len, RP_PKI_CSR_DER, "DEV-0001", RP_PKI_R_ID_MISMATCH, RP_E_DENIED);
	expect_reject(der, len, RP_PKI_CSR_DER, "", RP_PKI_R_ID_MISMATCH, RP_E_DENIED);
	OPENSSL_free(der);
	/* No CN, two CNs. */
	der = make_csr(F.dev_key, &o, &len);
	expect_reject(der, len, RP_PKI_CSR_DER, NULL, RP_PKI_R_SUBJECT, RP_E_DENIED);
	OPENSSL_free(der);
	o.cn = "dev-0001";
	o.cn2 = "dev-0002";
	der = make_csr(F.dev_key, &o, &len);
	expect_reject(der, len, RP_PKI_CSR_DER, NULL, RP_PKI_R_SUBJECT, RP_E_DENIED);
	expect_reject(der, len, RP_PKI_CSR_DER, "dev-0001", RP_PKI_R_SUBJECT, RP_E_DENIED);
	OPENSSL_free(der);
	/* CNs that are not device ids. */
	der = simple_csr(F.dev_key, "dev/0001", &len);
	expect_reject(der, len, RP_PKI_CSR_DER, NULL, RP_PKI_R_DEVICE_ID, RP_E_DENIED);
	OPENSSL_free(der);
	der = simple_csr(F.dev_key, "svc-ingest", &len);
	expect_reject(der, len, RP_PKI_CSR_DER, "svc-ingest", RP_PKI_R_DEVICE_ID, RP_E_DENIED);
	OPENSSL_free(der);
	der = simple_csr(F.dev_key, "device", &len);
	expect_reject(der, len, RP_PKI_CSR_DER, NULL, RP_PKI_R_DEVICE_ID, RP_E_DENIED);
	OPENSSL_free(der);
	der = simple_csr(F.dev_key, "d\xc3\xa9v", &len);
	expect_reject(der, len, RP_PKI_CSR_DER, NULL, RP_PKI_R_DEVICE_ID, RP_E_DENIED);
	OPENSSL_free(der);
}

static void test_reject_strings(void **state)
{
	int i, k;

	(void)state;
	for (i = 0; i < RP_PKI_REJECT_COUNT_; i++) {
		const char *s = rp_pki_reject_str((rp_pki_reject)i);

		assert_non_null(s);
		assert_true(strlen(s) > 5);
		for (k = 0; k < i; k++) {
			assert_string_not_equal(s, rp_pki_reject_str((rp_pki_reject)k));
		}
	}
	assert_string_equal(rp_pki_reject_str(RP_PKI_REJECT_COUNT_), "unknown reason");
	assert_string_equal(rp_pki_reject_str((rp_pki_reject)-1), "unknown reason");
	assert_int_equal(
		rp_pki_csr_parse((const uint8_t *)"x", 1, RP_PKI_CSR_DER, NULL, NULL, NULL),
		RP_E_INVALID_ARG);
}

/* ---- tests: key files
 * ----------------------------------------------------------------------------- */

static void test_key_roundtrip(void **state)
{
	const char *p = path_of("k1.key");
	EVP_PKEY *k = NULL;
	const char *why = NULL;
	struct stat sb;
	char head[64] = "";
	FILE *f;
	mode_t old;

	(void)state;
	old = umask(0); /* the file must still be 0600 */
	assert_int_equal(rp_pki_key_save(p, F.iss_key, PASS, PASS_LEN, &why), RP_OK);
	umask(old);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	f = fopen(p, "r");
	assert_non_null(f);
	assert_non_null(fgets(head, sizeof(head), f));
	fclose(f);
	assert_string_equal(head, "-----BEGIN ENCRYPTED PRIVATE KEY-----\n");
	assert_int_equal(rp_pki_key_load(p, PASS, PASS_LEN, &k, &why), RP_OK);
	assert_string_equal(why, "");
	assert_int_equal(EVP_PKEY_eq(k, F.iss_key), 1);
	assert_int_equal(rp_pki_key_alg(k), RP_PKI_EC_P256);
	EVP_PKEY_free(k);
	k = NULL;
	/* Wrong passphrase, one byte off, and a prefix of the right one. */
	assert_int_equal(rp_pki_key_load(p, "correct horse battery staple 43", PASS_LEN, &k, &why),
			 RP_E_AUTH);
	assert_null(k);
	assert_int_equal(rp_pki_key_load(p, PASS, PASS_LEN - 1, &k, &why), RP_E_AUTH);
	assert_int_equal(rp_pki_key_load(p, PASS, 0, &k, &why), RP_E_INVALID_ARG);
	/* Never overwritten. */
	assert_int_equal(rp_pki_key_save(p, F.root_key, PASS, PASS_LEN, &why), RP_E_STATE);
	assert_string_equal(why, "key file already exists");
	assert_int_equal(rp_pki_key_load(p, PASS, PASS_LEN, &k, NULL), RP_OK);
	assert_int_equal(EVP_PKEY_eq(k, F.iss_key), 1);
	EVP_PKEY_free(k);
	/* P-384 too. */
	p = path_of("k384.key");
	assert_int_equal(rp_pki_key_save(p, F.root_key, PASS, PASS_LEN, &why), RP_OK);
	assert_int_equal(rp_pki_key_load(p, PASS, PASS_LEN, &k, &why), RP_OK);
	assert_int_equal(rp_pki_key_alg(k), RP_PKI_EC_P384);
	EVP_PKEY_free(k);
	assert_int_equal(ERR_peek_error(), 0);
}

static void test_key_file_refusals(void **state)
{
	const char *p = path_of("k2.key"), *link = path_of("k2.link");
	EVP_PKEY *k = NULL, *rsa;
	const char *why = NULL;
	FILE *f;

	(void)state;
	/* Passphrase bounds when writing. */
	assert_int_equal(rp_pki_key_save(p, F.dev_key, "short", 5, &why), RP_E_INVALID_ARG);
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(rp_pki_key_save(p, F.dev_key, PASS, PASS_LEN, &why), RP_OK);
	/* Group- or other-accessible keys are refused. */
	assert_int_equal(chmod(p, 0640), 0);
	assert_int_equal(rp_pki_key_load(p, PASS, PASS_LEN, &k, &why), RP_E_DENIED);
	assert_string_equal(why, "key file is accessible to group or others (chmod 600)");
	assert_int_equal(chmod(p, 0602), 0);
	assert_int_equal(rp_pki_key_load(p, PASS, PASS_LEN, &k, &why), RP_E_DENIED);
	assert_int_equal(chmod(p, 0400), 0);
	assert_int_equal(rp_pki_key_load(p, PASS, PASS_LEN, &k, &why), RP_OK);
	EVP_PKEY_free(k);
	k = NULL;
	/* Symbolic links: never followed, for reading or writing. */
	assert_int_equal(symlink(p, link), 0);
	assert_int_equal(rp_pki_key_load(link, PASS, PASS_LEN, &k, &why), RP_E_DENIED);
	assert_string_equal(why, "key path is a symbolic link");
	assert_int_equal(rp_pki_key_save(link, F.dev_key, PASS, PASS_LEN, &why), RP_E_DENIED);
	unlink(link);
	assert_int_equal(symlink(path_of("nowhere.key"), link), 0);
	assert_int_equal(rp_pki_key_save(link, F.dev_key, PASS, PASS_LEN, &why), RP_E_DENIED);
	assert_int_equal(access(path_of("nowhere.key"), F_OK), -1);
	unlink(link);
	/* Missing, not a regular file, not a key, unencrypted, not EC. */
	assert_int_equal(rp_pki_key_load(path_of("missing.key"), PASS, PASS_LEN, &k, &why),
			 RP_E_NOT_FOUND);
	assert_int_equal(rp_pki_key_load(F.dir, PASS, PASS_LEN, &k, &why), RP_E_DENIED);
	p = path_of("plain.key");
	assert_int_equal(rp_pki_key_save_unencrypted(p, F.dev_key, &why), RP_OK);
	assert_int_equal(rp_pki_key_load(p, PASS, PASS_LEN, &k, &why), RP_E_CONFIG);
	assert_string_equal(why, "not an encrypted PKCS#8 PEM key");
	p = path_of("junk.key");
	f = fopen(p, "w");
	assert_non_null(f);
	fputs("hello\n", f);
	fclose(f);
	assert_int_equal(chmod(p, 0600), 0);
	assert_int_equal(rp_pki_key_load(p, PASS, PASS_LEN, &k, &why), RP_E_CONFIG);
	p = path_of("empty.key");
	f = fopen(p, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(chmod(p, 0600), 0);
	assert_int_equal(rp_pki_key_load(p, PASS, PASS_LEN, &k, &why), RP_E_CONFIG);
	rsa = EVP_RSA_gen(2048);
	assert_int_equal(rp_pki_key_save(path_of("rsa.key"), rsa, PASS, PASS_LEN, &why),
			 RP_E_INVALID_ARG);
	EVP_PKEY_free(rsa);
	assert_null(k);
	/* A directory that does not exist. */
	assert_int_equal(
		rp_pki_key_save(path_of("no/such/dir.key"), F.dev_key, PASS, PASS_LEN, &why),
		RP_E_IO);
	assert_int_equal(ERR_peek_error(), 0);
}

/* ---- tests: CRL
 * ------------------------------------------------------------------------------------- */

static void test_crl(void **state)
{
	X509 *d1 = issue(F.dev_key, "dev-0001", 0), *d2 = issue(F.dev_key, "dev-0002", 0);
	char s1[RP_PKI_SERIAL_HEX_SIZE], s2[RP_PKI_SERIAL_HEX_SIZE];
	rp_pki_revoked list[3];
	X509_CRL *crl = NULL, *root_crl = NULL, *back = NULL;
	const STACK_OF(X509_REVOKED) * revs;
	const char *why = NULL;
	ASN1_INTEGER *num;
	ASN1_ENUMERATED *reason;
	uint8_t buf[8192];
	const unsigned char *p;
	size_t n = 0;
	int i, err = 0, crit = 0;

	(void)state;
	assert_int_equal(rp_pki_cert_serial_hex(d1, s1, sizeof(s1)), RP_OK);
	assert_int_equal(rp_pki_cert_serial_hex(d2, s2, sizeof(s2)), RP_OK);
	list[0] = (rp_pki_revoked){s1, F.now - 3600, RP_PKI_REASON_KEY_COMPROMISE};
	list[1] = (rp_pki_revoked){"7f01", F.now - 60, RP_PKI_REASON_NONE};
	list[2] = (rp_pki_revoked){"0A0B", F.now, RP_PKI_REASON_SUPERSEDED};
	assert_int_equal(rp_pki_crl_new(F.iss_s, list, 3, 42, F.now, 0, &crl, &why), RP_OK);
	assert_string_equal(why, "");
	/* Header. */
	assert_int_equal(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
	assert_int_equal(X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(F.iss)), 0);
	assert_int_equal(ASN1_TIME_cmp_time_t(X509_CRL_get0_lastUpdate(crl), (time_t)F.now), 0);
	assert_int_equal(
		ASN1_TIME_cmp_time_t(X509_CRL_get0_nextUpdate(crl), (time_t)(F.now + 7 * 86400)),
		0);
	num = X509_CRL_get_ext_d2i(crl, NID_crl_number, &crit, NULL);
	assert_non_null(num);
	assert_int_equal(crit, 0);
	assert_int_equal(ASN1_INTEGER_get(num), 42);
	ASN1_INTEGER_free(num);
	{
		AUTHORITY_KEYID *akid =
			X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, NULL, NULL);

		assert_non_null(akid);
		assert_int_equal(
			ASN1_OCTET_STRING_cmp(akid->keyid, X509_get0_subject_key_id(F.iss)), 0);
		AUTHORITY_KEYID_free(akid);
	}
	/* Entries, sorted by serial, each with its date and reason. */
	revs = X509_CRL_get_REVOKED(crl);
	assert_int_equal(sk_X509_REVOKED_num(revs), 3);
	for (i = 0; i < 3; i++) {
		const X509_REVOKED *r = sk_X509_REVOKED_value(revs, i);
		char hex[RP_PKI_SERIAL_HEX_SIZE];
		const ASN1_INTEGER *sn = X509_REVOKED_get0_serialNumber(r);
		int k;

		rp__pki_hex(hex, ASN1_STRING_get0_data(sn), (size_t)ASN1_STRING_length(sn));
		for (k = 0; k < 3; k++) {
			char want[RP_PKI_SERIAL_HEX_SIZE];
			size_t j;

			snprintf(want, sizeof(want), "%s", list[k].serial_hex);
			for (j = 0; want[j] != '\0'; j++) {
				want[j] = (char)(want[j] >= 'A' && want[j] <= 'F' ? want[j] + 32
										  : want[j]);
			}
			if (strcmp(want, hex) == 0) {
				break;
			}
		}
		assert_true(k < 3);
		assert_int_equal(ASN1_TIME_cmp_time_t(X509_REVOKED_get0_revocationDate(r),
						      (time_t)list[k].revoked_at),
				 0);
		reason = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, &crit, NULL);
		if (list[k].reason == RP_PKI_REASON_NONE) {
			assert_null(reason);
		} else {
			assert_non_null(reason);
			assert_int_equal(ASN1_ENUMERATED_get(reason), list[k].reason);
			ASN1_ENUMERATED_free(reason);
		}
		if (i > 0) {
			assert_true(ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(
							     sk_X509_REVOKED_value(revs, i - 1)),
						     sn) < 0);
		}
	}
	/* Signature. */
	assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(F.iss)), 1);
	assert_int_not_equal(X509_CRL_verify(crl, X509_get0_pubkey(F.root)), 1);
	ERR_clear_error();
	/* DER and PEM, size first, and back. */
	assert_int_equal(rp_pki_crl_encode(crl, RP_PKI_DER, NULL, 0, &n), RP_E_BUF_TOO_SMALL);
	assert_true(n > 100 && n < sizeof(buf));
	assert_int_equal(rp_pki_crl_encode(crl, RP_PKI_DER, buf, n - 1, &n), RP_E_BUF_TOO_SMALL);
	assert_int_equal(rp_pki_crl_encode(crl, RP_PKI_DER, buf, sizeof(buf), &n), RP_OK);
	p = buf;
	back = d2i_X509_CRL(NULL, &p, (long)n);
	assert_non_null(back);
	assert_int_equal(X509_CRL_cmp(back, crl), 0);
	assert_int_equal(X509_CRL_verify(back, X509_get0_pubkey(F.iss)), 1);
	X509_CRL_free(back);
	assert_int_equal(rp_pki_crl_encode(crl, RP_PKI_PEM, buf, sizeof(buf), &n), RP_OK);
	assert_memory_equal(buf, "-----BEGIN X509 CRL-----\n", 25);
	{
		BIO *bio = BIO_new_mem_buf(buf, (int)n);

		back = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
		assert_non_null(back);
		assert_int_equal(X509_CRL_verify(back, X509_get0_pubkey(F.iss)), 1);
		X509_CRL_free(back);
		BIO_free(bio);
	}
	/* In a strict verification with CRLs from both CAs: d1 revoked, d2 fine. */
	assert_int_equal(rp_pki_crl_new(F.root_s, NULL, 0, 1, F.now, 86400, &root_crl, &why),
			 RP_OK);
	/* No entries: the optional list is absent (a NULL stack counts -1). */
	assert_true(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(root_crl)) <= 0);
	assert_int_not_equal(verify(d1, "ssl_client", crl, root_crl, &err), 1);
	assert_int_equal(err, X509_V_ERR_CERT_REVOKED);
	assert_int_equal(verify(d2, "ssl_client", crl, root_crl, &err), 1);
	X509_CRL_free(root_crl);
	X509_CRL_free(crl);
	X509_free(d1);
	X509_free(d2);
}

static void test_crl_errors(void **state)
{
	static const char *const bad_serials[] = {"",
						  "0",
						  "abc",
						  "00ff",
						  "00",
						  "zz",
						  "112233445566778899aabbccddeeff00112233445",
						  "112233445566778899aabbccddeeff0011223344ff"};
	rp_pki_revoked r = {"0102", 0, RP_PKI_REASON_NONE};
	rp_pki_signer *leaf_s = NULL;
	X509_CRL *crl = (X509_CRL *)1;
	const char *why = NULL;
	size_t i;

	(void)state;
	r.revoked_at = F.now;
	for (i = 0; i < sizeof(bad_serials) / sizeof(bad_serials[0]); i++) {
		r.serial_hex = bad_serials[i];
		assert_int_equal(rp_pki_crl_new(F.iss_s, &r, 1, 1, F.now, 0, &crl, &why),
				 RP_E_INVALID_ARG);
		assert_string_equal(why, "revoked serial is not canonical hex");
		assert_null(crl);
	}
	r.serial_hex = "0102";
	r.revoked_at = F.now + 1;
	assert_int_equal(rp_pki_crl_new(F.iss_s, &r, 1, 1, F.now, 0, &crl, &why), RP_E_INVALID_ARG);
	r.revoked_at = 0;
	assert_int_equal(rp_pki_crl_new(F.iss_s, &r, 1, 1, F.now, 0, &crl, &why), RP_E_INVALID_ARG);
	r.revoked_at = F.now;
	r.reason = 7;
	assert_int_equal(rp_pki_crl_new(F.iss_s, &r, 1, 1, F.now, 0, &crl, &why), RP_E_INVALID_ARG);
	r.reason = 11;
	assert_int_equal(rp_pki_crl_new(F.iss_s, &r, 1, 1, F.now, 0, &crl, &why), RP_E_INVALID_ARG);
	r.reason = RP_PKI_REASON_NONE;
	assert_int_equal(rp_pki_crl_new(F.iss_s, &r, 1, 1, F.now, 60, &crl, &why),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp_pki_crl_new(F.iss_s, &r, 1, 1, F.now,
					(int64_t)RP_LIMIT_PKI_CRL_NEXT_UPDATE_S + 1, &crl, &why),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp_pki_crl_new(F.iss_s, NULL, 1, 1, F.now, 0, &crl, &why),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp_pki_crl_new(F.iss_s, &r, (size_t)RP_LIMIT_PKI_CRL_ENTRIES + 1, 1, F.now,
					0, &crl, &why),
			 RP_E_INVALID_ARG);
	/* An expired signer signs no CRL. */
	assert_int_equal(rp_pki_crl_new(F.iss_s, &r, 1, 1,
					F.now + (int64_t)RP_DEFAULT_PKI_ISSUING_VALIDITY_S + 1, 0,
					&crl, &why),
			 RP_E_STATE);
	assert_string_equal(why, "signer certificate has expired");
	/* A CA certificate without cRLSign: made by hand here. */
	{
		X509 *tmp = X509_dup(F.iss), *ca;
		ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
		unsigned char *der = NULL;
		const unsigned char *p;
		int n;

		assert_int_equal(ASN1_BIT_STRING_set_bit(ku, 5, 1), 1);
		X509_EXTENSION_free(
			X509_delete_ext(tmp, X509_get_ext_by_NID(tmp, NID_key_usage, -1)));
		assert_int_equal(X509_add1_ext_i2d(tmp, NID_key_usage, ku, 1, 0), 1);
		assert_true(X509_sign(tmp, F.root_key, EVP_sha384()) > 0);
		/* Through DER, so no extension flags are cached from before. */
		n = i2d_X509(tmp, &der);
		assert_true(n > 0);
		p = der;
		ca = d2i_X509(NULL, &p, n);
		assert_non_null(ca);
		OPENSSL_free(der);
		X509_free(tmp);
		assert_int_equal(rp_pki_signer_new(ca, F.iss_key, &leaf_s, &why), RP_OK);
		assert_int_equal(rp_pki_crl_new(leaf_s, &r, 1, 1, F.now, 0, &crl, &why),
				 RP_E_INVALID_ARG);
		assert_string_equal(why, "signer certificate may not sign CRLs");
		rp_pki_signer_free(leaf_s);
		ASN1_BIT_STRING_free(ku);
		X509_free(ca);
	}
	assert_null(crl);
}

/* ---- tests: EST encodings, fingerprints
 * --------------------------------------------------------------- */

static void check_p7(const uint8_t *der, size_t len, X509 *const *certs, size_t n)
{
	const unsigned char *p = der;
	PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long)len);
	STACK_OF(X509) * got;
	size_t i;

	assert_non_null(p7);
	assert_ptr_equal(p, der + len);
	assert_true(PKCS7_type_is_signed(p7));
	assert_int_equal(ASN1_INTEGER_get(p7->d.sign->version), 1);
	/* Degenerate: no signers, no digest algorithms, no content. */
	assert_true(sk_PKCS7_SIGNER_INFO_num(PKCS7_get_signer_info(p7)) <= 0);
	assert_true(sk_X509_ALGOR_num(p7->d.sign->md_algs) <= 0);
	assert_int_equal(OBJ_obj2nid(p7->d.sign->contents->type), NID_pkcs7_data);
	assert_null(p7->d.sign->contents->d.ptr);
	assert_true(sk_X509_CRL_num(p7->d.sign->crl) <= 0);
	got = p7->d.sign->cert;
	assert_int_equal(sk_X509_num(got), (int)n);
	for (i = 0; i < n; i++) {
		assert_int_equal(X509_cmp(sk_X509_value(got, (int)i), certs[i]), 0);
	}
	PKCS7_free(p7);
}

static void test_est_pkcs7(void **state)
{
	X509 *chain[2] = {F.iss, F.root};
	X509 *dev = issue(F.dev_key, "dev-0001", 0);
	uint8_t der[8192], text[12000], back[8192];
	size_t n = 0, t = 0, b = 0, i;

	(void)state;
	/* /cacerts: the issuing CA and the root. */
	assert_int_equal(rp_pki_est_certs_der(chain, 2, NULL, 0, &n), RP_E_BUF_TOO_SMALL);
	assert_true(n > 500 && n < sizeof(der));
	assert_int_equal(rp_pki_est_certs_der(chain, 2, der, n - 1, &n), RP_E_BUF_TOO_SMALL);
	assert_int_equal(rp_pki_est_certs_der(chain, 2, der, sizeof(der), &n), RP_OK);
	check_p7(der, n, chain, 2);
	/* Base64 for the HTTP body: lines of 64 + CRLF, decodes to the DER. */
	assert_int_equal(rp_pki_est_certs_base64(chain, 2, NULL, 0, &t), RP_E_BUF_TOO_SMALL);
	assert_int_equal(rp_pki_est_certs_base64(chain, 2, text, sizeof(text), &t), RP_OK);
	for (i = 0; i + 66 <= t; i += 66) {
		assert_int_equal(text[i + 64], '\r');
		assert_int_equal(text[i + 65], '\n');
	}
	assert_int_equal(text[t - 2], '\r');
	assert_int_equal(text[t - 1], '\n');
	assert_int_equal(rp__pki_b64_decode(text, t, back, sizeof(back), &b), RP_OK);
	assert_int_equal(b, n);
	assert_memory_equal(back, der, n);
	/* /simpleenroll: the new certificate alone. */
	assert_int_equal(rp_pki_est_certs_der(&dev, 1, der, sizeof(der), &n), RP_OK);
	check_p7(der, n, &dev, 1);
	/* Arguments. */
	assert_int_equal(rp_pki_est_certs_der(chain, 0, der, sizeof(der), &n), RP_E_INVALID_ARG);
	assert_int_equal(rp_pki_est_certs_der(NULL, 1, der, sizeof(der), &n), RP_E_INVALID_ARG);
	assert_int_equal(
		rp_pki_est_certs_der(chain, RP_LIMIT_PKI_P7_CERTS + 1, der, sizeof(der), &n),
		RP_E_INVALID_ARG);
	chain[1] = NULL;
	assert_int_equal(rp_pki_est_certs_der(chain, 2, der, sizeof(der), &n), RP_E_INVALID_ARG);
	assert_int_equal(rp_pki_est_certs_der(&dev, 1, NULL, 10, &n), RP_E_INVALID_ARG);
	X509_free(dev);
}

static void test_base64_codec(void **state)
{
	uint8_t in[200], enc[400], dec[200];
	size_t len, e, d;

	(void)state;
	for (len = 0; len < sizeof(in); len++) {
		in[len] = (uint8_t)(len * 37 + 11);
	}
	for (len = 1; len <= sizeof(in); len++) {
		e = rp__pki_b64_encode(in, len, enc);
		assert_int_equal(e, rp__pki_b64_encoded_len(len));
		assert_int_equal(rp__pki_b64_decode(enc, e, dec, sizeof(dec), &d), RP_OK);
		assert_int_equal(d, len);
		assert_memory_equal(dec, in, len);
		/* The decoder stops at cap. */
		assert_int_equal(rp__pki_b64_decode(enc, e, dec, len - 1, &d), RP_E_BUF_TOO_SMALL);
	}
	assert_int_equal(rp__pki_b64_encoded_len(0), 0);
	assert_int_equal(rp__pki_b64_encoded_len(48), 66);
	assert_int_equal(rp__pki_b64_encoded_len(49), 72);
}

static void test_fingerprints(void **state)
{
	unsigned char md[32];
	char hex[RP_PKI_SHA256_HEX_SIZE], want[RP_PKI_SHA256_HEX_SIZE];
	char sn[RP_PKI_SERIAL_HEX_SIZE];
	uint8_t der[4096];
	const ASN1_INTEGER *ai = X509_get0_serialNumber(F.srv);
	size_t n = 0;

	(void)state;
	assert_int_equal(rp_pki_cert_encode(F.srv, RP_PKI_DER, der, sizeof(der), &n), RP_OK);
	SHA256(der, n, md);
	rp__pki_hex(want, md, sizeof(md));
	assert_int_equal(rp_pki_cert_sha256_hex(F.srv, hex, sizeof(hex)), RP_OK);
	assert_string_equal(hex, want);
	assert_int_equal(strlen(hex), 64);
	assert_int_equal(rp_pki_cert_sha256_hex(F.srv, hex, 64), RP_E_BUF_TOO_SMALL);
	assert_int_equal(rp_pki_cert_serial_hex(F.srv, sn, sizeof(sn)), RP_OK);
	assert_int_equal(strlen(sn), 2 * (size_t)ASN1_STRING_length(ai));
	{
		BIGNUM *bn = ASN1_INTEGER_to_BN(ai, NULL);
		char *bh = BN_bn2hex(bn);
		size_t i;

		for (i = 0; bh[i] != '\0'; i++) {
			bh[i] = (char)(bh[i] >= 'A' && bh[i] <= 'F' ? bh[i] + 32 : bh[i]);
		}
		/* BN_bn2hex drops one leading zero nibble at most. */
		assert_true(strcmp(bh, sn) == 0 || (sn[0] == '0' && strcmp(bh, sn + 1) == 0));
		OPENSSL_free(bh);
		BN_free(bn);
	}
	assert_int_equal(rp_pki_cert_serial_hex(F.srv, sn, 40), RP_E_BUF_TOO_SMALL);
	/* PEM encoding of a certificate, size first. */
	assert_int_equal(rp_pki_cert_encode(F.srv, RP_PKI_PEM, NULL, 0, &n), RP_E_BUF_TOO_SMALL);
	assert_int_equal(rp_pki_cert_encode(F.srv, RP_PKI_PEM, der, sizeof(der), &n), RP_OK);
	assert_memory_equal(der, "-----BEGIN CERTIFICATE-----\n", 28);
}

/* ---- tests: allocation failures
 * ------------------------------------------------------------------ */

static void test_alloc_failures(void **state)
{
	rp_pki_device_profile p = {"acme", 0};
	X509 *chain[2] = {F.iss, F.root};
	size_t before = rp_alloc_in_use(), len, n;
	uint8_t *der = simple_csr(F.dev_key, "dev-0001", &len);
	char *b64 = b64_of(der, len, 64, "\r\n");
	uint8_t out[8192];
	const char *kp = path_of("alloc.key");
	long i;
	int done;

	(void)state;
	assert_int_equal(rp_pki_key_save(kp, F.dev_key, PASS, PASS_LEN, NULL), RP_OK);
	/* The EST enrollment path: base64 CSR -> certificate -> PKCS#7. */
	for (i = 0, done = 0; i < 32 && !done; i++) {
		rp_pki_csr *csr = NULL;
		rp_pki_reject r = RP_PKI_ACCEPTED;
		X509 *x = NULL;
		rp_status st;

		rp_alloc_fail_after(i);
		st = rp_pki_csr_parse((const uint8_t *)b64, strlen(b64), RP_PKI_CSR_BASE64,
				      "dev-0001", &csr, &r);
		if (st == RP_OK) {
			st = rp_pki_device_cert_new(F.iss_s, csr, &p, F.now, &x, NULL);
			assert_int_equal(st, RP_OK);
			st = rp_pki_est_certs_base64(&x, 1, out, sizeof(out), &n);
			done = st == RP_OK;
		} else {
			assert_int_equal(r, RP_PKI_R_INTERNAL);
		}
		rp_alloc_fail_after(-1);
		if (!done) {
			assert_int_equal(st, RP_E_NOMEM);
		}
		X509_free(x);
		rp_pki_csr_free(csr);
		assert_int_equal(rp_alloc_in_use(), before);
	}
	assert_true(done);
	assert_true(i >= 4); /* base64 buffer, DER check, the CSR, the PKCS#7 */
	/* Key loading, signers, cacerts. */
	for (i = 0, done = 0; i < 16 && !done; i++) {
		EVP_PKEY *k = NULL;
		rp_pki_signer *s = NULL;
		rp_status st;

		rp_alloc_fail_after(i);
		st = rp_pki_key_load(kp, PASS, PASS_LEN, &k, NULL);
		if (st == RP_OK) {
			st = rp_pki_signer_new(F.iss, F.iss_key, &s, NULL);
		}
		if (st == RP_OK) {
			st = rp_pki_est_certs_der(chain, 2, out, sizeof(out), &n);
			done = st == RP_OK;
		}
		rp_alloc_fail_after(-1);
		if (!done) {
			assert_int_equal(st, RP_E_NOMEM);
		}
		EVP_PKEY_free(k);
		rp_pki_signer_free(s);
		assert_int_equal(rp_alloc_in_use(), before);
	}
	assert_true(done);
	assert_true(i >= 3);
	free(b64);
	OPENSSL_free(der);
}

/* ---- main
 * ------------------------------------------------------------------------------------------- */

static void rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[600];

	if (d == NULL) {
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
			continue;
		}
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static int setup(void **state)
{
	rp_pki_ca_profile root = {"Rampart Test Root", "Rampart Test", 0};
	rp_pki_ca_profile iss = {"Rampart Test Issuing CA 1", "Rampart Test", 0};
	const char *dns[] = {"localhost", "rampart.example.com"};
	const char *ip[] = {"127.0.0.1", "::1"};
	rp_pki_server_profile sp = {NULL, dns, 2, ip, 2, 0};
	const char *tmp = getenv("TMPDIR");

	(void)state;
	snprintf(F.dir, sizeof(F.dir), "%s/rp-pki-XXXXXX", tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(F.dir) == NULL) {
		return -1;
	}
	F.now = (int64_t)time(NULL);
	if (rp_pki_key_generate(RP_PKI_EC_P384, &F.root_key) != RP_OK ||
	    rp_pki_key_generate(RP_PKI_EC_P256, &F.iss_key) != RP_OK ||
	    rp_pki_key_generate(RP_PKI_EC_P256, &F.srv_key) != RP_OK ||
	    rp_pki_key_generate(RP_PKI_EC_P256, &F.dev_key) != RP_OK ||
	    rp_pki_key_generate(RP_PKI_EC_P384, &F.dev384_key) != RP_OK) {
		return -1;
	}
	if (rp_pki_root_ca_new(F.root_key, &root, F.now, &F.root, NULL) != RP_OK ||
	    rp_pki_signer_new(F.root, F.root_key, &F.root_s, NULL) != RP_OK ||
	    rp_pki_issuing_ca_new(F.root_s, F.iss_key, &iss, F.now, &F.iss, NULL) != RP_OK ||
	    rp_pki_signer_new(F.iss, F.iss_key, &F.iss_s, NULL) != RP_OK ||
	    rp_pki_server_cert_new(F.iss_s, F.srv_key, &sp, F.now, &F.srv, NULL) != RP_OK) {
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rp_pki_signer_free(F.root_s);
	rp_pki_signer_free(F.iss_s);
	X509_free(F.root);
	X509_free(F.iss);
	X509_free(F.srv);
	EVP_PKEY_free(F.root_key);
	EVP_PKEY_free(F.iss_key);
	EVP_PKEY_free(F.srv_key);
	EVP_PKEY_free(F.dev_key);
	EVP_PKEY_free(F.dev384_key);
	rm_tree(F.dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root_and_issuing_profiles),
		cmocka_unit_test(test_server_profile),
		cmocka_unit_test(test_device_profile),
		cmocka_unit_test(test_requested_extensions_ignored),
		cmocka_unit_test(test_serials_random),
		cmocka_unit_test(test_profile_errors),
		cmocka_unit_test(test_device_cert_errors),
		cmocka_unit_test(test_device_id_rules),
		cmocka_unit_test(test_csr_encodings),
		cmocka_unit_test(test_csr_bad_armour_and_base64),
		cmocka_unit_test(test_csr_der_rejects),
		cmocka_unit_test(test_csr_key_rejects),
		cmocka_unit_test(test_csr_point_off_curve),
		cmocka_unit_test(test_csr_subject_rejects),
		cmocka_unit_test(test_reject_strings),
		cmocka_unit_test(test_key_roundtrip),
		cmocka_unit_test(test_key_file_refusals),
		cmocka_unit_test(test_crl),
		cmocka_unit_test(test_crl_errors),
		cmocka_unit_test(test_est_pkcs7),
		cmocka_unit_test(test_base64_codec),
		cmocka_unit_test(test_fingerprints),
		cmocka_unit_test(test_alloc_failures),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
