/*
 * device/est/est_client.c - EST (RFC 7030) enrollment over libcurl.
 *
 * Implementation notes
 * - One HTTPS exchange per call (http_do): libcurl does HTTP/1.1 and the
 *   TLS connection; this file sets its policy in the SSL_CTX callback (the
 *   trust store is replaced by one holding only the fleet root, TLS 1.3
 *   only, the client certificate and the keystore's EVP_PKEY) and checks
 *   everything that comes back. libcurl's own verification (peer and host
 *   name) stays on, as it is by default.
 * - The CSR is built in libcurl's pre-request callback, which runs once the
 *   TLS session is up and before the request goes out, because it carries
 *   that session's tls-exporter value. Its size is then not known when the
 *   request is set up, so the body goes out chunked (rampartd, through
 *   CivetWeb, reads chunked bodies).
 * - The attacker is the network, or a server that is not ours: the TLS
 *   policy stops both before a byte of the request is sent. A server that
 *   verifies but misbehaves gets no more than RP_EST_MAX_RESPONSE bytes
 *   read, and its answer is used only after the same checks a relying
 *   party would make (chain to the root, CN, key).
 * - Secrets: the token goes into one Authorization header that this file
 *   builds and wipes; libcurl copies it into its request buffer, which it
 *   frees without wiping (a limit of libcurl, written in docs/est.md).
 */
#include "rampart/est_client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "est/est_internal.h"

/* ---- errors ---------------------------------------------------------------- */

/* err = what, then detail (NULL: nothing). */
static void set_err(char *err, size_t cap, const char *what, const char *detail)
{
	if (err == NULL || cap == 0) {
		return;
	}
	snprintf(err, cap, "%s%s", what, detail != NULL ? detail : "");
}

/* The server's text/plain explanation, one line, printable ASCII only. */
static void server_text(const uint8_t *body, size_t len, char *out, size_t cap)
{
	size_t i, n = 0;

	for (i = 0; i < len && n + 1 < cap; i++) {
		if (body[i] == '\n' || body[i] == '\r') {
			break;
		}
		out[n++] = (body[i] >= 0x20 && body[i] < 0x7f) ? (char)body[i] : '?';
	}
	out[n] = '\0';
}

/* ---- the response body ----------------------------------------------------- */

rp_status rp__est_parse_certs(const uint8_t *body, size_t len, STACK_OF(X509) * *out)
{
	rp_status st = RP_E_MALFORMED;
	EVP_ENCODE_CTX *b64 = NULL;
	uint8_t *der = NULL;
	const uint8_t *p;
	PKCS7 *p7 = NULL;
	STACK_OF(X509) *certs = NULL, *res = NULL;
	int n = 0, fin = 0, i;

	*out = NULL;
	if (len > RP_EST_MAX_RESPONSE) {
		return RP_E_TOO_LARGE;
	}
	if (len == 0) {
		return RP_E_MALFORMED;
	}
	/* len bytes of base64 decode to at most 3/4 of them; +3 for the last
	 * quantum, so the bound cannot be undershot. */
	der = OPENSSL_malloc(len / 4u * 3u + 3u);
	b64 = EVP_ENCODE_CTX_new();
	if (der == NULL || b64 == NULL) {
		st = RP_E_NOMEM;
		goto out;
	}
	EVP_DecodeInit(b64);
	/* EVP_DecodeUpdate skips white space, refuses other non-base64 bytes
	 * (-1), and stops at padding; len fits an int (bounded above). */
	if (EVP_DecodeUpdate(b64, der, &n, body, (int)len) < 0 ||
	    EVP_DecodeFinal(b64, der + n, &fin) != 1) {
		goto out;
	}
	n += fin;
	p = der;
	p7 = d2i_PKCS7(NULL, &p, n);
	if (p7 == NULL || p != der + n || !PKCS7_type_is_signed(p7) || p7->d.sign == NULL) {
		goto out;
	}
	certs = p7->d.sign->cert;
	if (certs == NULL || sk_X509_num(certs) < 1) {
		goto out;
	}
	res = sk_X509_new_null();
	if (res == NULL) {
		st = RP_E_NOMEM;
		goto out;
	}
	for (i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);
		if (!X509_up_ref(x)) {
			st = RP_E_NOMEM;
			goto out;
		}
		if (!sk_X509_push(res, x)) {
			X509_free(x);
			st = RP_E_NOMEM;
			goto out;
		}
	}
	*out = res;
	res = NULL;
	st = RP_OK;
out:
	sk_X509_pop_free(res, X509_free);
	PKCS7_free(p7);
	EVP_ENCODE_CTX_free(b64);
	OPENSSL_free(der);
	ERR_clear_error();
	return st;
}

void rp__est_binding_text(const uint8_t exporter[RP__EST_EXPORTER_LEN], char out[45])
{
	/* 32 bytes -> 44 characters and a NUL. */
	EVP_EncodeBlock((unsigned char *)out, exporter, (int)RP__EST_EXPORTER_LEN);
}

/* ---- one HTTPS exchange ---------------------------------------------------- */

typedef struct http_ctx {
	const rp_est_client *c;
	const rp_est_credential *cred;
	X509_STORE *trust; /* the root alone; SSL_CTX takes a reference */
	CURL *curl;
	/* the CSR, built in on_prereq when key is set */
	EVP_PKEY *key;
	rp_status csr_st;
	char csr_err[160];
	uint8_t *req;
	size_t req_len, req_sent;
	/* the response */
	uint8_t *resp;
	size_t resp_len;
	int resp_over;
} http_ctx;

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
	http_ctx *h = ud;
	size_t n = size * nmemb; /* libcurl: size is 1 */

	if (n > RP_EST_MAX_RESPONSE - h->resp_len) {
		h->resp_over = 1;
		return 0; /* aborts the transfer */
	}
	memcpy(h->resp + h->resp_len, data, n);
	h->resp_len += n;
	return n;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
	http_ctx *h = ud;
	size_t n = h->req_len - h->req_sent;

	if (n > size * nitems) {
		n = size * nitems;
	}
	if (n > 0) {
		memcpy(buf, h->req + h->req_sent, n);
	}
	h->req_sent += n;
	return n;
}

/* Applied by libcurl to the SSL_CTX it made for this transfer. */
static CURLcode on_ssl_ctx(CURL *curl, void *ssl_ctx, void *ud)
{
	http_ctx *h = ud;
	SSL_CTX *ctx = ssl_ctx;

	(void)curl;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION)) {
		return CURLE_SSL_CERTPROBLEM;
	}
	/* The fleet root is the only anchor: whatever libcurl loaded (a
	 * system bundle, a CA path) goes with the store it replaces. */
	if (!X509_STORE_up_ref(h->trust)) {
		return CURLE_OUT_OF_MEMORY;
	}
	SSL_CTX_set_cert_store(ctx, h->trust);
	if (h->cred != NULL && h->cred->cert_file != NULL) {
		if (SSL_CTX_use_certificate_chain_file(ctx, h->cred->cert_file) != 1 ||
		    SSL_CTX_use_PrivateKey(ctx, h->cred->cert_key) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1) {
			return CURLE_SSL_CERTPROBLEM;
		}
	}
	return CURLE_OK;
}

static rp_status csr_build(http_ctx *h, const uint8_t *binding);

/* The TLS session is up and verified: bind the CSR to it. */
static int on_prereq(void *ud, char *ip, char *local, int port, int lport)
{
	http_ctx *h = ud;
	const struct curl_tlssessioninfo *info = NULL;
	uint8_t ekm[RP__EST_EXPORTER_LEN];
	SSL *ssl;

	(void)ip;
	(void)local;
	(void)port;
	(void)lport;
	if (h->key == NULL) {
		return CURL_PREREQFUNC_OK;
	}
	h->csr_st = RP_E_CRYPTO;
	if (curl_easy_getinfo(h->curl, CURLINFO_TLS_SSL_PTR, &info) != CURLE_OK || info == NULL ||
	    info->backend != CURLSSLBACKEND_OPENSSL || info->internals == NULL) {
		set_err(h->csr_err, sizeof(h->csr_err), "libcurl gave no OpenSSL session", NULL);
		return CURL_PREREQFUNC_ABORT;
	}
	ssl = info->internals;
	if (SSL_version(ssl) != TLS1_3_VERSION ||
	    SSL_export_keying_material(ssl, ekm, sizeof(ekm), RP__EST_EXPORTER_LABEL,
				       strlen(RP__EST_EXPORTER_LABEL), NULL, 0, 0) != 1) {
		set_err(h->csr_err, sizeof(h->csr_err),
			"no TLS 1.3 exporter for the channel binding", NULL);
		return CURL_PREREQFUNC_ABORT;
	}
	h->csr_st = csr_build(h, ekm);
	OPENSSL_cleanse(ekm, sizeof(ekm));
	return h->csr_st == RP_OK ? CURL_PREREQFUNC_OK : CURL_PREREQFUNC_ABORT;
}

static rp_status status_of_http(long code)
{
	switch (code) {
	case 200:
		return RP_OK;
	case 401:
	case 403:
		return RP_E_AUTH;
	case 409:
		return RP_E_DENIED;
	case 400:
	case 413:
	case 415:
		return RP_E_INVALID_ARG;
	case 429:
	case 503:
		return RP_E_BUSY;
	default:
		return RP_E_PROTOCOL;
	}
}

static rp_status status_of_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		return RP_E_TIMEOUT;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_ISSUER_ERROR:
		return RP_E_CRYPTO;
	case CURLE_OUT_OF_MEMORY:
		return RP_E_NOMEM;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return RP_E_INVALID_ARG;
	default:
		return RP_E_IO;
	}
}

/* The root file as a store of one anchor (every certificate of the file is
 * an anchor; the fleet's trust file holds the root alone). */
static rp_status trust_load(const char *path, X509_STORE **out, char *err, size_t cap)
{
	X509_STORE *s = X509_STORE_new();

	*out = NULL;
	if (s == NULL) {
		return RP_E_NOMEM;
	}
	if (X509_STORE_load_file(s, path) != 1) {
		X509_STORE_free(s);
		ERR_clear_error();
		set_err(err, cap, "cannot read the fleet root (trust file) ", path);
		return RP_E_INVALID_ARG;
	}
	*out = s;
	return RP_OK;
}

/*
 * GET (key NULL) or POST a CSR of key to path. On RP_OK, h->resp holds the
 * 200 body. Any failure leaves a reason in err.
 */
static rp_status http_do(http_ctx *h, const char *path, int post, char *err, size_t cap)
{
	const rp_est_client *c = h->c;
	char url[512], cerr[CURL_ERROR_SIZE] = "", auth[600] = "", via[600];
	struct curl_slist *hdr = NULL, *connect_to = NULL;
	rp_status st = RP_E_NOMEM;
	CURLcode cc;
	long code = 0;

	if (snprintf(url, sizeof(url), "%s%s", c->url, path) >= (int)sizeof(url)) {
		set_err(err, cap, "the EST URL is too long: ", c->url);
		return RP_E_INVALID_ARG;
	}
	h->resp = OPENSSL_malloc(RP_EST_MAX_RESPONSE);
	h->curl = curl_easy_init();
	if (h->resp == NULL || h->curl == NULL) {
		set_err(err, cap, "out of memory", NULL);
		goto out;
	}
	h->resp_len = 0;
	h->resp_over = 0;
	h->csr_st = RP_OK;
	CURL *e = h->curl;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	/* libcurl loads a CA file before calling on_ssl_ctx, which then
	 * replaces the whole store: name the root here too, so no system
	 * bundle is ever read. */
	curl_easy_setopt(e, CURLOPT_CAINFO, c->trust_file);
	curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
	curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, h);
	curl_easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, 0L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
			 (long)(c->timeout_ms != 0 ? c->timeout_ms : RP_EST_DEFAULT_TIMEOUT_MS));
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "rampart-est/1");
	if (c->connect_host != NULL) {
		/* "::HOST:": any name and port of the URL, to HOST on the same port;
		 * the certificate is still checked against the URL's name. */
		int v6 = strchr(c->connect_host, ':') != NULL;
		snprintf(via, sizeof(via), v6 ? "::[%s]:" : "::%s:", c->connect_host);
		connect_to = curl_slist_append(NULL, via);
		if (connect_to == NULL) {
			set_err(err, cap, "out of memory", NULL);
			goto out;
		}
		curl_easy_setopt(e, CURLOPT_CONNECT_TO, connect_to);
	}
	if (post) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(e, CURLOPT_READDATA, h);
		curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
		curl_easy_setopt(e, CURLOPT_PREREQDATA, h);
		if ((hdr = curl_slist_append(hdr, "Content-Type: application/pkcs10")) == NULL ||
		    (hdr = curl_slist_append(hdr, "Content-Transfer-Encoding: base64")) == NULL ||
		    (hdr = curl_slist_append(hdr, "Transfer-Encoding: chunked")) == NULL ||
		    (hdr = curl_slist_append(hdr, "Expect:")) == NULL) {
			set_err(err, cap, "out of memory", NULL);
			goto out;
		}
		if (h->cred != NULL && h->cred->token != NULL) {
			/* HTTP Basic, RFC 7030 3.2.3: user = device id. */
			char up[400];
			int n = snprintf(up, sizeof(up), "%s:%s", c->device_id, h->cred->token);
			if (n < 0 || (size_t)n >= sizeof(up)) {
				OPENSSL_cleanse(up, sizeof(up));
				set_err(err, cap, "the enrollment token is too long", NULL);
				st = RP_E_INVALID_ARG;
				goto out;
			}
			memcpy(auth, "Authorization: Basic ", 21);
			EVP_EncodeBlock((unsigned char *)auth + 21, (const unsigned char *)up, n);
			OPENSSL_cleanse(up, sizeof(up));
			struct curl_slist *t = curl_slist_append(hdr, auth);
			if (t == NULL) {
				set_err(err, cap, "out of memory", NULL);
				goto out;
			}
			hdr = t;
		}
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdr);

	cc = curl_easy_perform(e);
	if (cc == CURLE_ABORTED_BY_CALLBACK && h->csr_st != RP_OK) {
		st = h->csr_st;
		set_err(err, cap, "cannot make the CSR: ", h->csr_err);
		goto out;
	}
	if (cc == CURLE_WRITE_ERROR && h->resp_over) {
		st = RP_E_TOO_LARGE;
		set_err(err, cap, "the server's answer is larger than RP_EST_MAX_RESPONSE", NULL);
		goto out;
	}
	if (cc != CURLE_OK) {
		st = status_of_curl(cc);
		set_err(err, cap, "cannot reach the EST server: ",
			cerr[0] != '\0' ? cerr : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	st = status_of_http(code);
	if (st != RP_OK) {
		char text[200], msg[260];
		server_text(h->resp, h->resp_len, text, sizeof(text));
		snprintf(msg, sizeof(msg), "HTTP %ld: %s", code,
			 text[0] != '\0' ? text : "(no text)");
		set_err(err, cap, "the EST server refused: ", msg);
		goto out;
	}
out:
	OPENSSL_cleanse(auth, sizeof(auth));
	curl_slist_free_all(hdr);
	curl_slist_free_all(connect_to);
	if (h->curl != NULL) {
		curl_easy_cleanup(h->curl);
		h->curl = NULL;
	}
	return st;
}

static void http_free(http_ctx *h)
{
	OPENSSL_free(h->resp);
	OPENSSL_free(h->req);
	X509_STORE_free(h->trust);
}

/* ---- the CSR ----------------------------------------------------------------- */

static rp_status csr_build(http_ctx *h, const uint8_t *binding)
{
	rp_status st = RP_E_CRYPTO;
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	const EVP_MD *md = EVP_PKEY_get_bits(h->key) > 256 ? EVP_sha384() : EVP_sha256();
	EVP_ENCODE_CTX *b64 = EVP_ENCODE_CTX_new();
	uint8_t *der = NULL;
	char cp[45];
	int n, out_n, fin;

	if (req == NULL || name == NULL || b64 == NULL) {
		st = RP_E_NOMEM;
		goto out;
	}
	rp__est_binding_text(binding, cp);
	if (!X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
	    !X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
					(const unsigned char *)h->c->device_id, -1, -1, 0) ||
	    !X509_REQ_set_subject_name(req, name) || !X509_REQ_set_pubkey(req, h->key) ||
	    !X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword, MBSTRING_ASC,
				       (const unsigned char *)cp, -1)) {
		set_err(h->csr_err, sizeof(h->csr_err), "the CSR cannot be assembled", NULL);
		goto out;
	}
	if (X509_REQ_sign(req, h->key, md) <= 0) {
		set_err(h->csr_err, sizeof(h->csr_err), "the keystore did not sign the CSR", NULL);
		goto out;
	}
	n = i2d_X509_REQ(req, &der);
	if (n <= 0) {
		goto out;
	}
	/* base64 in lines of 64 characters: 65 bytes per 48 input, plus the
	 * last line. */
	h->req = OPENSSL_malloc((size_t)n / 48u * 65u + 66u);
	if (h->req == NULL) {
		st = RP_E_NOMEM;
		goto out;
	}
	EVP_EncodeInit(b64);
	if (EVP_EncodeUpdate(b64, h->req, &out_n, der, n) != 1) {
		goto out;
	}
	EVP_EncodeFinal(b64, h->req + out_n, &fin);
	h->req_len = (size_t)out_n + (size_t)fin;
	h->req_sent = 0;
	st = RP_OK;
out:
	OPENSSL_cleanse(cp, sizeof(cp));
	OPENSSL_free(der);
	EVP_ENCODE_CTX_free(b64);
	X509_NAME_free(name);
	X509_REQ_free(req);
	ERR_clear_error();
	return st;
}

/* ---- checks ------------------------------------------------------------------ */

/* Verifies x against the trust store with untrusted as intermediates, for
 * purpose (0: none). On success, *chain (if not NULL) gets the
 * certificates strictly between x and the anchor. */
static int verify(X509_STORE *trust, X509 *x, STACK_OF(X509) * untrusted, int purpose,
		  STACK_OF(X509) * *chain, const char **why)
{
	X509_STORE_CTX *vc = X509_STORE_CTX_new();
	STACK_OF(X509) *full = NULL;
	int ok = 0;

	if (vc == NULL || X509_STORE_CTX_init(vc, trust, x, untrusted) != 1) {
		*why = "out of memory";
		goto out;
	}
	X509_STORE_CTX_set_flags(vc, X509_V_FLAG_X509_STRICT);
	if (purpose != 0 && X509_STORE_CTX_set_purpose(vc, purpose) != 1) {
		*why = "cannot set the purpose";
		goto out;
	}
	if (X509_verify_cert(vc) != 1) {
		*why = X509_verify_cert_error_string(X509_STORE_CTX_get_error(vc));
		goto out;
	}
	if (chain != NULL) {
		full = X509_STORE_CTX_get1_chain(vc);
		if (full == NULL) {
			*why = "out of memory";
			goto out;
		}
		X509_free(sk_X509_shift(full)); /* x itself */
		X509_free(sk_X509_pop(full));   /* the anchor */
		*chain = full;
	}
	ok = 1;
out:
	X509_STORE_CTX_free(vc);
	ERR_clear_error();
	return ok;
}

static int same_public_key(X509 *x, EVP_PKEY *key)
{
	uint8_t *a = NULL, *b = NULL;
	int na = i2d_PUBKEY(X509_get0_pubkey(x), &a);
	int nb = i2d_PUBKEY(key, &b);
	int same = na > 0 && na == nb && memcmp(a, b, (size_t)na) == 0;

	OPENSSL_free(a);
	OPENSSL_free(b);
	return same;
}

static int cn_is(X509 *x, const char *id)
{
	X509_NAME *n = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
	const ASN1_STRING *s;

	if (i < 0 || X509_NAME_get_index_by_NID(n, NID_commonName, i) >= 0) {
		return 0; /* none, or more than one */
	}
	s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
	return (size_t)ASN1_STRING_length(s) == strlen(id) &&
	       memcmp(ASN1_STRING_get0_data(s), id, strlen(id)) == 0;
}

static rp_status check_args(const rp_est_client *c, char *err, size_t cap)
{
	if (c == NULL || c->url == NULL || c->trust_file == NULL || c->device_id == NULL ||
	    c->device_id[0] == '\0') {
		set_err(err, cap, "the EST client needs a URL, a trust file and a device id", NULL);
		return RP_E_INVALID_ARG;
	}
	if (strncmp(c->url, "https://", 8) != 0) {
		set_err(err, cap, "the EST URL must start with https://: ", c->url);
		return RP_E_INVALID_ARG;
	}
	return RP_OK;
}

/* ---- public ------------------------------------------------------------------ */

rp_status rp_est_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? RP_OK : RP_E_INTERNAL;
}

rp_status rp_est_cacerts(const rp_est_client *c, STACK_OF(X509) * *out, char *err, size_t cap)
{
	http_ctx h;
	STACK_OF(X509) *certs = NULL;
	const char *why = "";
	rp_status st;
	int i;

	if (out == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	st = check_args(c, err, cap);
	if (st != RP_OK) {
		return st;
	}
	memset(&h, 0, sizeof(h));
	h.c = c;
	st = trust_load(c->trust_file, &h.trust, err, cap);
	if (st == RP_OK) {
		st = http_do(&h, "/.well-known/est/cacerts", 0, err, cap);
	}
	if (st != RP_OK) {
		goto out;
	}
	st = rp__est_parse_certs(h.resp, h.resp_len, &certs);
	if (st != RP_OK) {
		set_err(err, cap, "the server's CA certificates are not an EST certs-only PKCS#7",
			NULL);
		goto out;
	}
	for (i = 0; i < sk_X509_num(certs); i++) {
		if (!verify(h.trust, sk_X509_value(certs, i), certs, 0, NULL, &why)) {
			set_err(err, cap,
				"a CA certificate from the server does not chain to the fleet "
				"root: ",
				why);
			st = RP_E_CRYPTO;
			goto out;
		}
	}
	*out = certs;
	certs = NULL;
out:
	sk_X509_pop_free(certs, X509_free);
	http_free(&h);
	return st;
}

rp_status rp_est_enroll(const rp_est_client *c, const rp_est_credential *cred, EVP_PKEY *key,
			rp_est_op op, X509 **cert, STACK_OF(X509) * *chain, char *err, size_t cap)
{
	http_ctx h;
	STACK_OF(X509) *cas = NULL, *got = NULL, *mid = NULL;
	X509 *leaf = NULL;
	const char *why = "";
	rp_status st;
	int i;

	if (cert == NULL || chain == NULL) {
		return RP_E_INVALID_ARG;
	}
	*cert = NULL;
	*chain = NULL;
	st = check_args(c, err, cap);
	if (st != RP_OK) {
		return st;
	}
	if (key == NULL || cred == NULL || (op != RP_EST_ENROLL && op != RP_EST_REENROLL) ||
	    ((cred->cert_file == NULL) != (cred->cert_key == NULL))) {
		set_err(err, cap, "bad arguments (key, credential or operation)", NULL);
		return RP_E_INVALID_ARG;
	}
	if (op == RP_EST_REENROLL ? (cred->token != NULL || cred->cert_file == NULL)
				  : (cred->token == NULL && cred->cert_file == NULL)) {
		set_err(err, cap,
			op == RP_EST_REENROLL
				? "renewal authenticates with the current certificate alone"
				: "enrollment needs a token or a factory certificate",
			NULL);
		return RP_E_INVALID_ARG;
	}
	st = rp_est_cacerts(c, &cas, err, cap);
	if (st != RP_OK) {
		return st;
	}
	memset(&h, 0, sizeof(h));
	h.c = c;
	h.cred = cred;
	h.key = key;
	st = trust_load(c->trust_file, &h.trust, err, cap);
	if (st == RP_OK) {
		st = http_do(&h,
			     op == RP_EST_ENROLL ? "/.well-known/est/simpleenroll"
						 : "/.well-known/est/simplereenroll",
			     1, err, cap);
	}
	if (st != RP_OK) {
		goto out;
	}
	st = rp__est_parse_certs(h.resp, h.resp_len, &got);
	if (st != RP_OK) {
		set_err(err, cap, "the server's answer is not an EST certs-only PKCS#7", NULL);
		goto out;
	}
	/* The device certificate is the one holding our key. */
	st = RP_E_CRYPTO;
	for (i = 0; i < sk_X509_num(got); i++) {
		if (same_public_key(sk_X509_value(got, i), key)) {
			leaf = sk_X509_value(got, i);
			break;
		}
	}
	if (leaf == NULL) {
		set_err(err, cap, "the issued certificate is not for this device's key", NULL);
		goto out;
	}
	if (!cn_is(leaf, c->device_id)) {
		set_err(err, cap,
			"the issued certificate does not have the device id as its only CN: ",
			c->device_id);
		goto out;
	}
	if (!verify(h.trust, leaf, cas, X509_PURPOSE_SSL_CLIENT, &mid, &why)) {
		set_err(err, cap,
			"the issued certificate does not verify for TLS client use: ", why);
		goto out;
	}
	if (!X509_up_ref(leaf)) {
		st = RP_E_NOMEM;
		goto out;
	}
	*cert = leaf;
	*chain = mid;
	mid = NULL;
	st = RP_OK;
out:
	sk_X509_pop_free(mid, X509_free);
	sk_X509_pop_free(got, X509_free);
	sk_X509_pop_free(cas, X509_free);
	http_free(&h);
	return st;
}

rp_status rp_est_save(const char *path, X509 *cert, STACK_OF(X509) * chain)
{
	char tmp[4096], dir[4096];
	rp_status st = RP_E_IO;
	FILE *f = NULL;
	int fd = -1, dfd = -1, i;
	const char *slash;

	if (path == NULL || cert == NULL ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		return RP_E_INVALID_ARG;
	}
	slash = strrchr(path, '/');
	if (slash == NULL) {
		strcpy(dir, ".");
	} else {
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash == path ? 1 : slash - path), path);
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		goto out;
	}
	fd = -1; /* f owns it */
	if (PEM_write_X509(f, cert) != 1) {
		goto out;
	}
	for (i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
		if (PEM_write_X509(f, sk_X509_value(chain, i)) != 1) {
			goto out;
		}
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		goto out;
	}
	if (fclose(f) != 0) {
		f = NULL;
		goto out;
	}
	f = NULL;
	if (rename(tmp, path) != 0) {
		goto out;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0) {
		goto out;
	}
	st = RP_OK;
out:
	if (f != NULL) {
		fclose(f);
	}
	if (fd >= 0) {
		close(fd);
	}
	if (dfd >= 0) {
		close(dfd);
	}
	if (st != RP_OK) {
		unlink(tmp);
	}
	ERR_clear_error();
	return st;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), for tm without timegm. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153u * (m + (m > 2 ? -3 : 9)) + 2u) / 5u + d - 1u;
	const unsigned doe = yoe * 365u + yoe / 4u - yoe / 100u + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int asn1_unix(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
		return 0;
	}
	*out = days_from_civil((int64_t)tm.tm_year + 1900, (unsigned)tm.tm_mon + 1u,
			       (unsigned)tm.tm_mday) *
		       86400 +
	       tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
	return 1;
}

int64_t rp_est_renew_at(const X509 *cert, uint32_t rnd)
{
	int64_t nb, na, life;

	if (cert == NULL || !asn1_unix(X509_get0_notBefore(cert), &nb) ||
	    !asn1_unix(X509_get0_notAfter(cert), &na) || na <= nb) {
		return 0;
	}
	life = na - nb;
	/* 2/3 of the lifetime, less rnd/2^32 of a tenth of it. */
	return nb + life / 3 * 2 - (int64_t)(((uint64_t)(life / 10) * rnd) >> 32);
}
