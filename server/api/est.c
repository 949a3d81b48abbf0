/*
 * est.c - what the EST service (h_est.c) holds for the API's life: the
 * issuing CA and its key, the trust stores that client certificates are
 * verified against, and the canned /cacerts body; and the listener's
 * client-certificate request.
 *
 * Implementation notes
 * - Loaded once by rp_api_start() (rp__api_est_load), immutable after:
 *   every worker thread reads it without a lock. OpenSSL 3 signs with one
 *   EVP_PKEY from many threads, and X509_STOREs are only read.
 * - The issuing key comes from server/pki/issuer.h, the one loader of
 *   it: rampartd hands its issuer over (rp_api_opts.est_issuer: a key file
 *   or a PKCS#11 token, shared with the CRL, borrowed for the API's life);
 *   without one, the key files of the options are loaded here through the
 *   same loader (an encrypted PKCS#8 file and its passphrase file), and the
 *   issuer is freed with the rest by rp__api_est_free().
 * - Start-up refuses what does not fit rather than serving half of it: the
 *   root must have issued the issuing CA, the issuing CA must verify at
 *   start (X509_V_FLAG_X509_STRICT), and the key must be the issuing CA's.
 * - TLS: with enrollment on, the listener requests a client certificate
 *   (SSL_VERIFY_PEER without FAIL_IF_NO_PEER_CERT: never required) and
 *   lists the fleet and manufacturer CAs as acceptable issuers. It does not
 *   verify the chain during the handshake (cert_verify_callback accepts):
 *   a REST client with some unrelated certificate must still reach the
 *   REST API, and an EST client with a bad one should get an EST error in
 *   text, not a TLS alert. The handshake still proves possession of the
 *   certificate's key (CertificateVerify is checked by OpenSSL whatever
 *   the callback says). The EST handlers verify the certificate for what
 *   they need (rp__api_est_verify): against the fleet for a renewal,
 *   against the manufacturer CAs for a factory enrollment. Nothing else in
 *   server/api looks at a client certificate, and nothing may.
 * - Attacker: none at load (the operator's files; sizes are bounded by
 *   OpenSSL's PEM reader and the limits). At verification, the peer's
 *   certificate.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "api/est_internal.h"
#include "util/alloc.h"
#include "util/log.h"

/* The chain of a device certificate: leaf, issuing CA, root. */
#define FLEET_DEPTH 2
/* Manufacturer chains may have an intermediate or two. */
#define MAKER_DEPTH 4

static int set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* ------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------ */

/*
 * Every certificate of the PEM file at path (1 .. max of them) into a new
 * stack. RP_OK, RP_E_CONFIG (err set), RP_E_NOMEM.
 */
static rp_status load_certs(const char *what, const char *path, int max, STACK_OF(X509) * *out,
			    char *err, size_t cap)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	BIO *bio = NULL;
	X509 *x;
	rp_status st = RP_E_CONFIG;

	*out = NULL;
	if (sk == NULL) {
		rp_errf(err, cap, "api: out of memory");
		return RP_E_NOMEM;
	}
	bio = BIO_new_file(path, "r");
	if (bio == NULL) {
		rp_errf(err, cap, "%s %s: cannot open (%s)", what, path, strerror(errno));
		goto out;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_num(sk) >= max || sk_X509_push(sk, x) <= 0) {
			X509_free(x);
			rp_errf(err, cap, "%s %s: more than %d certificates", what, path, max);
			goto out;
		}
	}
	if (sk_X509_num(sk) == 0) {
		rp_errf(err, cap, "%s %s: no PEM certificate", what, path);
		goto out;
	}
	*out = sk;
	sk = NULL;
	st = RP_OK;
out:
	BIO_free(bio);
	sk_X509_pop_free(sk, X509_free);
	ERR_clear_error();
	return st;
}

/* The first certificate of a PEM file, with a new reference. */
static rp_status load_first(const char *what, const char *path, X509 **out, char *err, size_t cap)
{
	STACK_OF(X509) *sk = NULL;
	rp_status st = load_certs(what, path, RP_LIMIT_PKI_P7_CERTS, &sk, err, cap);

	*out = NULL;
	if (st != RP_OK) {
		return st;
	}
	*out = sk_X509_shift(sk);
	sk_X509_pop_free(sk, X509_free);
	return RP_OK;
}

/* ------------------------------------------------------------------------
 * Trust stores
 * ------------------------------------------------------------------------ */

static X509_STORE *store_of(X509 *const *certs, size_t n, unsigned long flags)
{
	X509_STORE *s = X509_STORE_new();

	if (s == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (X509_STORE_add_cert(s, certs[i]) != 1) {
			X509_STORE_free(s);
			return NULL;
		}
	}
	if (flags != 0 && X509_STORE_set_flags(s, flags) != 1) {
		X509_STORE_free(s);
		return NULL;
	}
	return s;
}

/*
 * Verifies leaf (with untrusted intermediates, may be NULL) against store
 * at now, for a TLS client (purpose 1: clientAuth if the leaf has an
 * extendedKeyUsage, digitalSignature if it has a keyUsage) or for any
 * purpose (0: a CA certificate itself).
 */
static rp_status verify_in(X509_STORE *store, X509 *leaf, STACK_OF(X509) * untrusted, int depth,
			   int client, int64_t now, const char **why)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_VERIFY_PARAM *param;
	rp_status st = RP_E_AUTH;

	*why = "out of memory";
	if (ctx == NULL) {
		return RP_E_NOMEM;
	}
	if (X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1 ||
	    (client && X509_STORE_CTX_set_default(ctx, "ssl_client") != 1)) {
		st = RP_E_NOMEM;
		goto out;
	}
	param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_depth(param, depth);
	X509_VERIFY_PARAM_set_time(param, (time_t)now);
	X509_VERIFY_PARAM_set_auth_level(param, 2);
	if (X509_verify_cert(ctx) != 1) {
		*why = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
		goto out;
	}
	*why = "";
	st = RP_OK;
out:
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return st;
}

rp_status rp__api_est_verify(const rp__api_est *e, int makers, X509 *leaf, int64_t now,
			     const char **why)
{
	rp_status st;

	*why = "no certificate";
	if (e == NULL || leaf == NULL) {
		return RP_E_AUTH;
	}
	if (makers) {
		if (e->makers == NULL) {
			*why = "no manufacturer CA is registered (est.manufacturer_ca)";
			return RP_E_AUTH;
		}
		return verify_in(e->makers, leaf, NULL, MAKER_DEPTH, 1, now, why);
	}
	st = verify_in(e->fleet_store, leaf, e->fleet_chain, FLEET_DEPTH, 1, now, why);
	if (st == RP_OK && X509_check_issued(e->issuing, leaf) != X509_V_OK) {
		/* Chains to the root, but through another CA: not one we issued. */
		*why = "not issued by this server's issuing CA";
		st = RP_E_AUTH;
	}
	ERR_clear_error();
	return st;
}

size_t rp__api_est_lf_lines(uint8_t *buf, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (buf[i] != '\r') {
			buf[o++] = buf[i];
		}
	}
	return o;
}

/* ------------------------------------------------------------------------
 * Load and free
 * ------------------------------------------------------------------------ */

void rp__api_est_free(rp__api_est *e)
{
	if (e == NULL) {
		return;
	}
	X509_free(e->issuing);
	X509_free(e->root);
	X509_STORE_free(e->fleet_store);
	sk_X509_pop_free(e->fleet_chain, X509_free);
	X509_STORE_free(e->makers);
	sk_X509_pop_free(e->maker_certs, X509_free);
	rp_free(NULL, e->cacerts);
	rp__api_binding_free(e->binding);
	rp_pki_issuer_close(e->own_issuer); /* after everything that used its key */
	rp_free(NULL, e);
}

/* The root issued the issuing CA, and the issuing CA verifies at now. */
static rp_status check_chain(rp__api_est *e, int64_t now, char *err, size_t cap)
{
	const char *why = "";
	rp_status st;

	if (X509_check_ca(e->root) < 1 || X509_check_ca(e->issuing) < 1) {
		rp_errf(err, cap,
			"pki: pki.root_cert and pki.issuing_cert must be CA certificates");
		return RP_E_CONFIG;
	}
	if (X509_check_issued(e->root, e->issuing) != X509_V_OK) {
		rp_errf(err, cap, "pki: pki.root_cert is not the issuer of pki.issuing_cert");
		ERR_clear_error();
		return RP_E_CONFIG;
	}
	st = verify_in(e->fleet_store, e->issuing, NULL, 1, 0, now, &why);
	if (st != RP_OK) {
		rp_errf(err, cap, "pki: the issuing CA does not verify against the root: %s", why);
		return st == RP_E_NOMEM ? st : RP_E_CONFIG;
	}
	return RP_OK;
}

/*
 * The signer: the issuer rampartd shares, or one loaded here from the key
 * files (after the chain was checked, so a wrong root is reported before a
 * key is decrypted). Either way it must be the issuing CA checked above.
 */
static rp_status load_key(rp__api_est *e, const rp_api_opts *o, char *err, size_t cap)
{
	rp_status st;

	if (o->est_issuer != NULL) {
		e->signer = rp_pki_issuer_signer(o->est_issuer);
		return RP_OK;
	}
	st = rp_pki_issuer_open_file(o->est_issuing_cert, o->est_issuing_key,
				     o->est_issuing_key_pass, &e->own_issuer, err, cap);
	if (st != RP_OK) {
		return st;
	}
	if (X509_cmp(rp_pki_issuer_cert(e->own_issuer), e->issuing) != 0) {
		rp_errf(err, cap, "pki.issuing_cert %s: changed while rampartd read it",
			o->est_issuing_cert);
		return RP_E_CONFIG;
	}
	e->signer = rp_pki_issuer_signer(e->own_issuer);
	return RP_OK;
}

static rp_status load_makers(rp__api_est *e, const char *path, char *err, size_t cap)
{
	X509 **v;
	size_t n;
	rp_status st;

	st = load_certs("est.manufacturer_ca", path, (int)RP_LIMIT_EST_MANUFACTURER_CAS,
			&e->maker_certs, err, cap);
	if (st != RP_OK) {
		return st;
	}
	n = (size_t)sk_X509_num(e->maker_certs);
	for (size_t i = 0; i < n; i++) {
		if (X509_check_ca(sk_X509_value(e->maker_certs, (int)i)) < 1) {
			rp_errf(err, cap, "est.manufacturer_ca %s: certificate %zu is not a CA",
				path, i + 1u);
			return RP_E_CONFIG;
		}
	}
	v = rp_alloc(NULL, n * sizeof(*v));
	if (v == NULL) {
		rp_errf(err, cap, "api: out of memory");
		return RP_E_NOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		v[i] = sk_X509_value(e->maker_certs, (int)i);
	}
	/* Each listed CA is an anchor, an intermediate as much as a root. */
	e->makers = store_of(v, n, X509_V_FLAG_PARTIAL_CHAIN);
	rp_free(NULL, v);
	if (e->makers == NULL) {
		rp_errf(err, cap, "api: out of memory");
		return RP_E_NOMEM;
	}
	return RP_OK;
}

/* The subject CN of x for a log line (printable ASCII), or "?". */
static const char *cn_of(X509 *x, char *out, size_t cap)
{
	int n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)cap);

	ERR_clear_error();
	if (n <= 0) {
		return "?";
	}
	for (int i = 0; i < n; i++) {
		if (out[i] < 0x20 || out[i] > 0x7e) {
			out[i] = '?';
		}
	}
	return out;
}

rp_status rp__api_est_load(const rp_api_opts *o, rp__api_est **out, char *err, size_t cap)
{
	rp__api_est *e = NULL;
	X509 *pair[2];
	const char *why = "", *fleet;
	char cn[80];
	int64_t now = (int64_t)time(NULL);
	size_t need = 0;
	rp_status st;

	*out = NULL;
	if (o->est_issuer == NULL && !set(o->est_issuing_cert)) {
		rp_log(RP_LOG_INFO, "api",
		       "enrollment (EST) is off: no issuing CA configured (pki.issuing_cert); "
		       "/.well-known/est/ answers 503");
		return RP_OK;
	}
	if ((o->est_issuer == NULL &&
	     (!set(o->est_issuing_key) || !set(o->est_issuing_key_pass))) ||
	    !set(o->est_root_cert)) {
		rp_errf(err, cap,
			"pki: the issuing CA needs its key, its passphrase file and the root "
			"(pki.issuing_key, pki.issuing_key_pass, pki.root_cert)");
		return RP_E_CONFIG;
	}
	e = rp_calloc(NULL, 1, sizeof(*e));
	if (e == NULL) {
		rp_errf(err, cap, "api: out of memory");
		return RP_E_NOMEM;
	}
	fleet = o->est_fleet != NULL ? o->est_fleet : "rampart";
	if (!rp_pki_fleet_name_valid(fleet, strlen(fleet), &why)) {
		rp_errf(err, cap, "pki.fleet: %s", why);
		st = RP_E_CONFIG;
		goto fail;
	}
	memcpy(e->fleet, fleet, strlen(fleet) + 1u);
	e->validity_s = o->est_device_validity_s != 0 ? (int64_t)o->est_device_validity_s
						      : (int64_t)RP_DEFAULT_PKI_DEVICE_VALIDITY_S;
	if (e->validity_s < (int64_t)RP_LIMIT_PKI_DEVICE_VALIDITY_MIN_S ||
	    e->validity_s > (int64_t)RP_LIMIT_PKI_DEVICE_VALIDITY_S) {
		rp_errf(err, cap, "pki.device_validity: outside 1h .. 365d");
		st = RP_E_CONFIG;
		goto fail;
	}
	if (o->est_issuer != NULL) {
		e->issuing = rp_pki_issuer_cert(o->est_issuer);
		st = e->issuing != NULL && X509_up_ref(e->issuing) == 1 ? RP_OK : RP_E_INVALID_ARG;
		if (st != RP_OK) {
			e->issuing = NULL;
			rp_errf(err, cap, "pki: the issuing CA was not loaded");
		}
	} else {
		st = load_first("pki.issuing_cert", o->est_issuing_cert, &e->issuing, err, cap);
	}
	if (st == RP_OK) {
		st = load_first("pki.root_cert", o->est_root_cert, &e->root, err, cap);
	}
	if (st != RP_OK) {
		goto fail;
	}
	e->fleet_chain = sk_X509_new_null();
	e->fleet_store = store_of(&e->root, 1, X509_V_FLAG_X509_STRICT);
	e->binding = rp__api_binding_new();
	if (e->fleet_chain == NULL || e->fleet_store == NULL || e->binding == NULL ||
	    sk_X509_push(e->fleet_chain, e->issuing) <= 0) {
		rp_errf(err, cap, "api: out of memory");
		st = RP_E_NOMEM;
		goto fail;
	}
	X509_up_ref(e->issuing);
	st = check_chain(e, now, err, cap);
	if (st == RP_OK) {
		st = load_key(e, o, err, cap);
	}
	if (st == RP_OK && set(o->est_manufacturer_ca)) {
		st = load_makers(e, o->est_manufacturer_ca, err, cap);
	}
	if (st != RP_OK) {
		goto fail;
	}
	/* /cacerts: the issuing CA and the root, base64 PKCS#7, made once. */
	pair[0] = e->issuing;
	pair[1] = e->root;
	st = rp_pki_est_certs_base64(pair, 2, NULL, 0, &need);
	if (st == RP_E_BUF_TOO_SMALL) {
		e->cacerts = rp_alloc(NULL, need);
		st = e->cacerts == NULL
			     ? RP_E_NOMEM
			     : rp_pki_est_certs_base64(pair, 2, e->cacerts, need, &e->cacerts_len);
	}
	if (st != RP_OK) {
		rp_errf(err, cap, "pki: cannot encode the CA certificates (%s)", rp_status_str(st));
		goto fail;
	}
	e->cacerts_len = rp__api_est_lf_lines(e->cacerts, e->cacerts_len);
	rp_log(RP_LOG_INFO, "api",
	       "enrollment (EST) on: issuing CA \"%s\" (key: %s), fleet %s, device certificates "
	       "for %lld s, %d manufacturer CA(s)",
	       cn_of(e->issuing, cn, sizeof(cn)),
	       rp_pki_issuer_where(o->est_issuer != NULL ? o->est_issuer : e->own_issuer), e->fleet,
	       (long long)e->validity_s, e->maker_certs != NULL ? sk_X509_num(e->maker_certs) : 0);
	*out = e;
	return RP_OK;
fail:
	rp__api_est_free(e);
	ERR_clear_error();
	return st;
}

/* ------------------------------------------------------------------------
 * TLS: ask for a client certificate, verify it later
 * ------------------------------------------------------------------------ */

/*
 * Replaces OpenSSL's chain verification during the handshake: every
 * presented certificate passes here, and the EST handler that uses it
 * verifies it (rp__api_est_verify). See the notes at the top.
 */
static int verify_later(X509_STORE_CTX *ctx, void *arg)
{
	(void)ctx;
	(void)arg;
	return 1;
}

static int add_name(STACK_OF(X509_NAME) * names, X509 *x)
{
	X509_NAME *n = X509_NAME_dup(X509_get_subject_name(x));

	if (n == NULL || sk_X509_NAME_push(names, n) <= 0) {
		X509_NAME_free(n);
		return 0;
	}
	return 1;
}

int rp__api_est_tls(const rp__api_est *e, void *ssl_ctx, char *err, size_t cap)
{
	SSL_CTX *s = ssl_ctx;
	STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
	int ok = names != NULL && add_name(names, e->root) && add_name(names, e->issuing);

	for (int i = 0; ok && e->maker_certs != NULL && i < sk_X509_num(e->maker_certs); i++) {
		ok = add_name(names, sk_X509_value(e->maker_certs, i));
	}
	if (!ok) {
		sk_X509_NAME_pop_free(names, X509_NAME_free);
		rp_errf(err, cap, "TLS: out of memory for the client CA list");
		ERR_clear_error();
		return 0;
	}
	SSL_CTX_set_client_CA_list(s, names); /* takes names */
	SSL_CTX_set_verify(s, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_cert_verify_callback(s, verify_later, NULL);
	if (!rp__api_binding_install(e->binding, s)) {
		rp_errf(err, cap, "TLS: cannot install the channel binding callback");
		ERR_clear_error();
		return 0;
	}
	ERR_clear_error();
	return 1;
}
