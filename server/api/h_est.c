/*
 * h_est.c - enrollment: the EST routes (RFC 7030) under /.well-known/est/,
 * and the REST routes of enrollment tokens under /api/v1.
 *
 * Implementation notes
 * - EST requests take their own pipeline (rp__api_est_serve, called by
 *   api.c's serve() for the prefix): route, no query string, 503 when
 *   enrollment is off, then the handler. Errors are text/plain (EST
 *   clients show the text); successes are base64 bodies with the RFC's
 *   media types and Content-Transfer-Encoding: base64.
 * - simpleenroll authenticates, in this order, with the Authorization
 *   header (HTTP Basic: user = the device id, password = the enrollment
 *   token, RFC 7030 3.2.3; or "Bearer <token>"), else with a TLS client
 *   certificate from a registered manufacturer CA (a factory certificate;
 *   its CN is the device id). simplereenroll authenticates with the
 *   device's current certificate only: issued by this server's issuing CA,
 *   known to the store, not revoked, of a device that is neither revoked
 *   nor decommissioned. Authentication comes from headers and the TLS
 *   session only, so it is decided before a byte of the body is read.
 * - Then: the media type (application/pkcs10) and Content-Length
 *   (RP_LIMIT_EST_BODY) before reading; the CSR gate (rp_pki_csr_parse:
 *   encoding, key, proof of possession, subject) with the device id the
 *   credential binds; the certificate (rp_pki_device_cert_new); its PKCS#7
 *   encoded; then one store transaction (rp_store_enroll) that re-checks
 *   the token's uses and the renewed certificate and counts the use, so a
 *   token cannot be spent twice by two racing requests; then the reply.
 *   A certificate made but not recorded (the transaction refused it) is
 *   never sent: it is freed, and nobody has it.
 * - Every refusal after credentials were presented is an audit entry
 *   (device.enroll_refused, device.reenroll_refused) with the reason, and
 *   every success one (device.enroll, device.reenroll). A request without
 *   any credential gets 401 without an entry (the first leg of HTTP
 *   authentication, and free for anyone to send). Unknown tokens and
 *   certificates that do not verify count against the address in the
 *   login throttle, so the entries a stranger can cause are bounded; the
 *   address locked, 429 comes before anything else is looked at.
 * - Actors of the entries: "device:<id>" once the credential proved the
 *   id, "anonymous" before (the claimed id is the target then).
 * - Secrets: the token's text is hashed (rp_token_hash_hex) and wiped; it
 *   is never logged, audited or echoed, nor is the Authorization header.
 */
#include <civetweb.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "api/est_internal.h"
#include "util/alloc.h"
#include "util/log.h"

#define TEXT_PLAIN  "text/plain; charset=utf-8"
#define P7_CERTS    "application/pkcs7-mime; smime-type=certs-only"
#define P7_CACERTS  "application/pkcs7-mime"
#define CSRATTRS    "application/csrattrs"
#define CTE_BASE64  "Content-Transfer-Encoding: base64"
#define BASIC_REALM "WWW-Authenticate: Basic realm=\"rampart-est\", charset=\"UTF-8\""

/*
 * GET /csrattrs (RFC 7030 4.5.2), DER:
 *   SEQUENCE { SEQUENCE { id-ecPublicKey, SET { prime256v1 } },
 *              ecdsa-with-SHA256 }
 * "make a P-256 key and sign with ECDSA-SHA256", in base64.
 */
static const char csrattrs_b64[] = "MCEwFQYHKoZIzj0CATEKBggqhkjOPQMBBwYIKoZIzj0EAwI=\n";

/* ------------------------------------------------------------------------
 * The pipeline
 * ------------------------------------------------------------------------ */

void rp__api_est_serve(rp__api_req *r, const struct mg_request_info *ri)
{
	const char *path = ri->local_uri != NULL ? ri->local_uri : "";
	const rp__api_route *rt;
	int code;

	if (rp__api_method_parse(ri->request_method, &r->method) != RP_OK) {
		rp__api_header(r, "Allow: GET, POST");
		rp__api_fail_text(r, 405, "EST takes GET and POST");
		return;
	}
	code = rp__api_est_route_find(r->method, path, strlen(path), &r->match);
	if (code == 404) {
		rp__api_fail_text(r, 404,
				  "no such EST operation (cacerts, simpleenroll, simplereenroll, "
				  "csrattrs; no CA label)");
		return;
	}
	if (code == 405) {
		rp__api_header(r, "Allow: %s",
			       (r->match.allow & (1u << RP__API_GET)) ? "GET" : "POST");
		rp__api_fail_text(r, 405, "this EST operation takes %s",
				  (r->match.allow & (1u << RP__API_GET)) ? "GET" : "POST");
		return;
	}
	rt = r->match.route;
	if (ri->query_string != NULL && ri->query_string[0] != '\0') {
		rp__api_fail_text(r, 400, "EST requests take no query string");
		return;
	}
	if (rp__api_est_of(r) == NULL) {
		rp__api_fail_text(r, 503,
				  "enrollment is not configured on this server (no issuing CA: "
				  "pki.issuing_cert)");
		return;
	}
	if ((rt->flags & RP__API_F_BODY) == 0 &&
	    (ri->content_length > 0 || mg_get_header(r->conn, "Transfer-Encoding") != NULL)) {
		rp__api_fail_text(r, 400, "this EST operation takes no body");
		return;
	}
	rt->handler(r);
	if (r->status == 0) {
		rp_log(RP_LOG_ERROR, "api", "internal: %s gave no reply", rt->path);
		rp__api_fail_text(r, 500, "no reply");
	}
}

/* ------------------------------------------------------------------------
 * /cacerts, /csrattrs
 * ------------------------------------------------------------------------ */

void rp__api_h_est_cacerts(rp__api_req *r)
{
	const rp__api_est *e = rp__api_est_of(r);

	rp__api_header(r, CTE_BASE64);
	rp__api_reply_raw(r, 200, P7_CACERTS, e->cacerts, e->cacerts_len);
}

void rp__api_h_est_csrattrs(rp__api_req *r)
{
	rp__api_header(r, CTE_BASE64);
	rp__api_reply_raw(r, 200, CSRATTRS, csrattrs_b64, sizeof(csrattrs_b64) - 1u);
}

/* ------------------------------------------------------------------------
 * Enrollment: state of one request
 * ------------------------------------------------------------------------ */

typedef enum auth_kind {
	AUTH_NONE = 0,
	AUTH_TOKEN,   /* enrollment token (Basic or Bearer) */
	AUTH_FACTORY, /* factory certificate of a manufacturer CA */
	AUTH_CERT,    /* the device's current certificate (renewal) */
} auth_kind;

static const char *const auth_names[] = {"none", "token", "factory", "certificate"};

typedef struct enroll {
	rp__api_req *r;
	const rp__api_est *e;
	int renew;
	auth_kind auth;
	int authed;   /* the credential proved `device` (or, prefix token, a set of ids) */
	int throttle; /* 1: a throttle attempt is open (exactly one outcome follows) */
	char device[RP_LIMIT_PKI_DEVICE_ID_LEN + 1u];  /* the id the credential binds, or "" */
	char claimed[RP_LIMIT_PKI_DEVICE_ID_LEN + 1u]; /* the id asked for (audit target) */
	rp_store_enroll_token *tok;                    /* the token's row (AUTH_TOKEN) */
	char token_hash[RP_SHA256_HEX_LEN + 1u];
	char client_serial[RP_PKI_SERIAL_HEX_SIZE]; /* the client certificate's, or "" */
	char client_sha[RP_PKI_SHA256_HEX_SIZE];
	int bound; /* the CSR carried this connection's tls-exporter */
} enroll;

static const char *action_of(const enroll *en, int ok)
{
	if (en->renew) {
		return ok ? "device.reenroll" : "device.reenroll_refused";
	}
	return ok ? "device.enroll" : "device.enroll_refused";
}

/* An audit entry for en; detail (a JSON object, stolen) gets the credential's facts. */
static void audit(enroll *en, int ok, json_t *detail)
{
	rp__api_req *r = en->r;
	rp_store_audit_entry a;
	char actor[8u + RP_LIMIT_PKI_DEVICE_ID_LEN + 1u];
	char *text = NULL;
	size_t len = 0;
	rp_status st;

	if (detail == NULL) {
		detail = json_object();
	}
	if (detail != NULL) {
		json_object_set_new(detail, "auth", json_string(auth_names[en->auth]));
		if (en->tok != NULL) {
			json_object_set_new(detail, "token", json_string(en->tok->id));
		}
		if (en->bound) {
			json_object_set_new(detail, "binding", json_string("tls-exporter"));
		}
		if (en->client_serial[0] != '\0') {
			json_object_set_new(detail, "client_serial",
					    json_string(en->client_serial));
			json_object_set_new(detail, "client_sha256", json_string(en->client_sha));
		}
		if (rp__api_json_dump(detail, RP_LIMIT_STORE_JSON_LEN, &text, &len) != RP_OK) {
			text = NULL;
		}
	}
	json_decref(detail);
	if (en->authed && en->device[0] != '\0') {
		snprintf(actor, sizeof(actor), "device:%s", en->device);
	} else {
		snprintf(actor, sizeof(actor), "anonymous");
	}
	memset(&a, 0, sizeof(a));
	a.time_ms = r->now_ms;
	a.actor = actor;
	a.action = action_of(en, ok);
	a.target = en->device[0] != '\0' ? en->device : en->claimed;
	a.source = r->peer;
	a.detail = text != NULL ? text : "";
	st = rp_store_audit_append(rp__api_store(r), &a, NULL, NULL, NULL);
	if (st != RP_OK) {
		rp_log(RP_LOG_ERROR, "api", "audit entry not written (%s): %s of \"%s\" from %s",
		       rp_status_str(st), a.action, a.target, r->peer);
	}
	rp_free(NULL, text);
}

/* Refuses with status and a text, and audits the refusal with the same reason. */
static void refuse(enroll *en, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void refuse(enroll *en, int status, const char *fmt, ...)
{
	char reason[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	rp__api_fail_text(en->r, status, "%s", reason);
	audit(en, 0, json_pack("{s:s, s:i}", "reason", reason, "status", status));
	rp_log(RP_LOG_INFO, "api", "est: %s refused (%d): %s", en->renew ? "renewal" : "enrollment",
	       status, reason);
}

/* The throttle's outcome for the open attempt, once. */
static void throttle_end(enroll *en, int outcome)
{
	rp__api_req *r = en->r;
	rp_throttle *t = rp__api_throttle(r);
	const uint8_t *addr = (const uint8_t *)r->addr_key;
	size_t alen = strlen(r->addr_key);

	if (!en->throttle) {
		return;
	}
	en->throttle = 0;
	if (outcome > 0) {
		rp_throttle_success(t, NULL, 0, addr, alen, r->mono_ms);
	} else if (outcome < 0) {
		(void)rp_throttle_failure(t, NULL, 0, addr, alen, r->mono_ms);
	} else {
		rp_throttle_cancel(t, NULL, 0, addr, alen, r->mono_ms);
	}
}

/* Opens a throttle attempt for the address: 0 and a 429 if it is locked. */
static int throttle_begin(enroll *en)
{
	rp__api_req *r = en->r;
	uint64_t until = 0, s;
	rp_status st;

	st = rp_throttle_check(rp__api_throttle(r), NULL, 0, (const uint8_t *)r->addr_key,
			       strlen(r->addr_key), r->mono_ms, &until);
	if (st == RP_E_DENIED) {
		s = until > r->mono_ms ? (until - r->mono_ms + 999u) / 1000u : 1u;
		rp__api_header(r, "Retry-After: %" PRIu64, s < 1u ? (uint64_t)1u : s);
		rp__api_fail_text(r, 429,
				  "too many failed authentications from this address; try "
				  "later");
		return 0;
	}
	if (st != RP_OK) {
		rp__api_fail_text(r, 503, "authentication is not possible now");
		return 0;
	}
	en->throttle = 1;
	return 1;
}

/* The one CN of x if it is a device id (into out), else 0. */
static int cert_device_id(X509 *x, char *out, size_t cap)
{
	X509_NAME *n = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
	unsigned char *utf8 = NULL;
	int len, ok = 0;

	out[0] = '\0';
	if (i < 0 || X509_NAME_get_index_by_NID(n, NID_commonName, i) >= 0) {
		goto out;
	}
	len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i)));
	if (len <= 0 || (size_t)len >= cap ||
	    !rp_pki_device_id_valid((const char *)utf8, (size_t)len, NULL)) {
		goto out;
	}
	memcpy(out, utf8, (size_t)len);
	out[len] = '\0';
	ok = 1;
out:
	OPENSSL_free(utf8);
	ERR_clear_error();
	return ok;
}

static X509 *client_cert(const rp__api_req *r)
{
	const struct mg_request_info *ri = mg_get_request_info(r->conn);

	if (ri == NULL || ri->client_cert == NULL) {
		return NULL;
	}
	return (X509 *)ri->client_cert->peer_cert;
}

/* ------------------------------------------------------------------------
 * Authentication
 * ------------------------------------------------------------------------ */

/* The token of the Authorization header: Basic (user:token) or Bearer. 1 authenticated. */
static int token_auth(enroll *en, const char *authz)
{
	rp__api_req *r = en->r;
	char user[RP__API_BASIC_USER_CAP], pass[RP__API_BASIC_PASS_CAP];
	const char *tok_text = NULL;
	const char *why = NULL;
	rp_status st;
	int ok = 0;

	user[0] = '\0';
	pass[0] = '\0';
	en->auth = AUTH_TOKEN;
	if (strncasecmp(authz, "Bearer ", 7) == 0) {
		tok_text = authz + 7;
	} else if (rp__api_basic_parse(authz, strlen(authz), user, sizeof(user), pass,
				       sizeof(pass)) == RP_OK) {
		tok_text = pass;
	} else if (strncasecmp(authz, "Basic ", 6) != 0) {
		rp__api_header(r, BASIC_REALM);
		rp__api_fail_text(
			r, 401,
			"authenticate with HTTP Basic (user: the device id, password: its "
			"enrollment token) or a Bearer enrollment token");
		goto out;
	}
	if (user[0] != '\0') {
		/* A token where the id belongs (user and password swapped): refused
		 * before the user name is used anywhere, audit and logs included. */
		if (rp_token_parse((const uint8_t *)user, strlen(user), NULL) == RP_OK) {
			rp__api_fail_text(r, 400,
					  "the user name is a token: the user is the device id, "
					  "the password its enrollment token");
			goto out;
		}
		if (!rp_pki_device_id_valid(user, strlen(user), &why)) {
			rp__api_fail_text(r, 400, "the user name is not a device id: %s", why);
			goto out;
		}
		snprintf(en->claimed, sizeof(en->claimed), "%s", user);
	}
	if (!throttle_begin(en)) {
		goto out;
	}
	if (tok_text == NULL ||
	    rp_token_hash_hex((const uint8_t *)tok_text, strnlen(tok_text, RP_TOKEN_LEN + 1u),
			      RP_TOKEN_ENROLL, en->token_hash) != RP_OK) {
		throttle_end(en, -1);
		rp__api_header(r, BASIC_REALM);
		refuse(en, 401, "the credentials are not an enrollment token (rpe_...)");
		goto out;
	}
	st = rp_store_enroll_token_get_by_hash(rp__api_store(r), en->token_hash, &en->tok, NULL,
					       NULL);
	if (st == RP_E_NOT_FOUND) {
		throttle_end(en, -1);
		rp__api_header(r, BASIC_REALM);
		refuse(en, 401, "the enrollment token is unknown");
		goto out;
	}
	if (st != RP_OK) {
		throttle_end(en, 0);
		rp__api_fail_text(r, 503, "the store is busy; try again");
		goto out;
	}
	/* A real token: whatever follows, it was not a guess. */
	throttle_end(en, 1);
	if (en->tok->revoked_ms != 0) {
		refuse(en, 403, "the enrollment token was revoked");
		goto out;
	}
	if (en->tok->expires_ms <= r->now_ms) {
		refuse(en, 403, "the enrollment token has expired");
		goto out;
	}
	if (en->tok->uses >= en->tok->max_uses) {
		refuse(en, 403, "the enrollment token has been used (%" PRId64 " of %" PRId64 ")",
		       en->tok->uses, en->tok->max_uses);
		goto out;
	}
	if (user[0] != '\0' &&
	    !rp__api_enroll_binds(en->tok->device, en->tok->prefix, user, strlen(user))) {
		refuse(en, 403, "the enrollment token is not for device %s", user);
		goto out;
	}
	/* The id is proven when the token names one id, or the user named one it covers. */
	if (!en->tok->prefix) {
		snprintf(en->device, sizeof(en->device), "%s", en->tok->device);
	} else if (user[0] != '\0') {
		snprintf(en->device, sizeof(en->device), "%s", user);
	}
	en->authed = 1;
	ok = 1;
out:
	rp_wipe(user, sizeof(user));
	rp_wipe(pass, sizeof(pass));
	return ok;
}

/*
 * A client certificate: the device's current one (renewal, makers 0) or a
 * factory certificate (makers 1). 1 authenticated.
 */
static int cert_auth(enroll *en, X509 *leaf, int makers)
{
	rp__api_req *r = en->r;
	rp_store_cert *rec = NULL;
	rp_store_device *dev = NULL;
	const char *why = "";
	rp_status st;
	int ok = 0;

	en->auth = makers ? AUTH_FACTORY : AUTH_CERT;
	if (rp_pki_cert_serial_hex(leaf, en->client_serial, sizeof(en->client_serial)) != RP_OK ||
	    rp_pki_cert_sha256_hex(leaf, en->client_sha, sizeof(en->client_sha)) != RP_OK) {
		en->client_serial[0] = '\0';
		en->client_sha[0] = '\0';
	}
	(void)cert_device_id(leaf, en->claimed, sizeof(en->claimed));
	if (!throttle_begin(en)) {
		goto out;
	}
	st = rp__api_est_verify(en->e, makers, leaf, r->now_ms / 1000, &why);
	if (st != RP_OK || en->client_serial[0] == '\0') {
		throttle_end(en, st == RP_E_NOMEM ? 0 : -1);
		refuse(en, 403, "the client certificate is not %s: %s",
		       makers ? "from a registered manufacturer CA" : "one this server issued",
		       why);
		goto out;
	}
	throttle_end(en, 1);
	if (en->claimed[0] == '\0') {
		refuse(en, 403,
		       "the client certificate's subject is not one CN holding a device id");
		goto out;
	}
	snprintf(en->device, sizeof(en->device), "%s", en->claimed);
	if (makers) {
		en->authed = 1;
		ok = 1;
		goto out;
	}
	/* Renewal: the store must know this certificate, valid, of this device. */
	st = rp_store_cert_get(rp__api_store(r), en->client_serial, &rec, NULL, NULL);
	if (st == RP_E_NOT_FOUND) {
		refuse(en, 403, "the client certificate is unknown to this server");
		goto out;
	}
	if (st != RP_OK) {
		rp__api_fail_text(r, 503, "the store is busy; try again");
		goto out;
	}
	if (strcmp(rec->device_id, en->device) != 0 ||
	    strcmp(rec->fingerprint, en->client_sha) != 0) {
		refuse(en, 403, "the client certificate does not match the server's record of it");
		goto out;
	}
	if (rec->status == RP_STORE_CERT_REVOKED) {
		refuse(en, 403, "the client certificate is revoked");
		goto out;
	}
	st = rp_store_device_get(rp__api_store(r), en->device, &dev, NULL, NULL);
	if (st == RP_OK && (dev->status == RP_STORE_DEVICE_REVOKED ||
			    dev->status == RP_STORE_DEVICE_DECOMMISSIONED)) {
		refuse(en, 403, "device %s is %s", en->device,
		       dev->status == RP_STORE_DEVICE_REVOKED ? "revoked" : "decommissioned");
		goto out;
	}
	if (st != RP_OK) {
		rp__api_fail_text(r, st == RP_E_NOT_FOUND ? 403 : 503, "%s",
				  st == RP_E_NOT_FOUND ? "the device is unknown"
						       : "the store is busy; try again");
		goto out;
	}
	en->authed = 1;
	ok = 1;
out:
	rp_store_free(rec);
	rp_store_free(dev);
	return ok;
}

/* ------------------------------------------------------------------------
 * The CSR and the certificate
 * ------------------------------------------------------------------------ */

static int reject_status(rp_pki_reject rej)
{
	switch (rej) {
	case RP_PKI_R_TOO_LARGE:
		return 413;
	case RP_PKI_R_ID_MISMATCH:
		return 403;
	case RP_PKI_R_INTERNAL:
		return 503;
	default:
		return 400;
	}
}

/* notAfter of x in ms since the epoch, or -1. */
static int64_t not_after_ms(const X509 *x)
{
	ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
	int days = 0, secs = 0;
	int64_t ms = -1;

	if (epoch != NULL && ASN1_TIME_diff(&days, &secs, epoch, X509_get0_notAfter(x)) == 1) {
		ms = ((int64_t)days * 86400 + secs) * 1000;
	}
	ASN1_TIME_free(epoch);
	ERR_clear_error();
	return ms;
}

/* The certs-only PKCS#7 of cert, base64, in a new buffer. */
static rp_status encode_p7(X509 *cert, uint8_t **out, size_t *len)
{
	size_t need = 0;
	rp_status st = rp_pki_est_certs_base64(&cert, 1, NULL, 0, &need);

	*out = NULL;
	if (st != RP_E_BUF_TOO_SMALL) {
		return st == RP_OK ? RP_E_CRYPTO : st;
	}
	*out = rp_alloc(NULL, need);
	if (*out == NULL) {
		return RP_E_NOMEM;
	}
	st = rp_pki_est_certs_base64(&cert, 1, *out, need, len);
	if (st != RP_OK) {
		rp_free(NULL, *out);
		*out = NULL;
		return st;
	}
	*len = rp__api_est_lf_lines(*out, *len);
	return RP_OK;
}

/* The whole request after authentication: body, CSR, certificate, store, reply. */
/*
 * A CSR that carries a challengePassword is taken as carrying the channel
 * binding of the connection it was made for (RFC 7030 3.5 with RFC 9266's
 * tls-exporter): it must be this connection's, or the CSR was relayed from
 * another one. A CSR without it (curl and openssl) is not bound. 1: go on;
 * 0: refused (answered and audited).
 */
static int channel_bound(enroll *en, const rp_pki_csr *csr, const struct mg_request_info *ri)
{
	char text[130];
	size_t len = 0;
	int has = rp_pki_csr_challenge(csr, text, sizeof(text), &len), same;

	if (has == 0) {
		return 1;
	}
	if (has < 0) {
		refuse(en, 400, "the CSR's challengePassword is not one string of 1 to 129 bytes");
		return 0;
	}
	same = rp__api_binding_check(en->e->binding, en->r->conn, (uint16_t)ri->remote_port, text,
				     len);
	rp_wipe(text, sizeof(text));
	if (same < 0) {
		refuse(en, 400,
		       "the CSR carries a channel binding, and this connection has none to compare "
		       "it with (TLS 1.3 is needed)");
		return 0;
	}
	if (same == 0) {
		refuse(en, 403,
		       "the CSR's channel binding is not this TLS connection's (tls-exporter): it "
		       "was made for another connection");
		return 0;
	}
	en->bound = 1;
	return 1;
}

static void issue(enroll *en)
{
	rp__api_req *r = en->r;
	const struct mg_request_info *ri = mg_get_request_info(r->conn);
	const rp__api_est *e = en->e;
	rp_pki_device_profile prof = {e->fleet, e->validity_s};
	char serial[RP_PKI_SERIAL_HEX_SIZE], sha[RP_PKI_SHA256_HEX_SIZE];
	rp_store_enrollment rec;
	rp_pki_csr *csr = NULL;
	rp_pki_reject rej = RP_PKI_R_INTERNAL;
	const char *expect = NULL, *id, *why = "";
	uint8_t *body = NULL, *p7 = NULL;
	size_t len = 0, p7_len = 0;
	X509 *cert = NULL;
	int64_t until;
	rp_status st;

	if (!rp__api_is_pkcs10_type(mg_get_header(r->conn, "Content-Type"))) {
		refuse(en, 415, "the body must be a CSR, Content-Type: application/pkcs10");
		goto out;
	}
	if (ri->content_length > (long long)RP_LIMIT_EST_BODY) {
		refuse(en, 413, "the CSR is larger than %u bytes", RP_LIMIT_EST_BODY);
		goto out;
	}
	if (rp__api_read_body(r, ri, RP_LIMIT_EST_BODY, &body, &len) != RP_OK) {
		audit(en, 0,
		      json_pack("{s:s, s:i}", "reason", "the body could not be read", "status",
				r->status));
		goto out;
	}
	/* The id the CSR's CN must be: the credential's, or (prefix token, no
	 * user name) any the prefix covers, checked after parsing. */
	if (en->device[0] != '\0') {
		expect = en->device;
	}
	st = rp_pki_csr_parse(body, len, RP_PKI_CSR_AUTO, expect, &csr, &rej);
	if (st != RP_OK) {
		if (rej == RP_PKI_R_ID_MISMATCH) {
			refuse(en, 403, "%s (%s)", rp_pki_reject_str(rej),
			       en->renew ? "the CSR subject differs from the current certificate"
					 : "the CSR's CN must be the enrolled device id");
		} else {
			refuse(en, reject_status(rej), "%s", rp_pki_reject_str(rej));
		}
		goto out;
	}
	id = rp_pki_csr_device_id(csr);
	if (en->device[0] == '\0') {
		snprintf(en->claimed, sizeof(en->claimed), "%s", id);
		if (en->tok == NULL ||
		    !rp__api_enroll_binds(en->tok->device, en->tok->prefix, id, strlen(id))) {
			refuse(en, 403, "the CSR's CN is not a device id this token may enroll");
			goto out;
		}
		snprintf(en->device, sizeof(en->device), "%s", id);
	}
	if (!channel_bound(en, csr, ri)) {
		goto out;
	}
	st = rp_pki_device_cert_new(e->signer, csr, &prof, r->now_ms / 1000, &cert, &why);
	if (st != RP_OK) {
		rp_log(RP_LOG_ERROR, "api", "est: cannot issue for %s: %s (%s)", en->device, why,
		       rp_status_str(st));
		refuse(en, 503, "the server cannot issue a certificate now (%s)",
		       st == RP_E_STATE ? "the issuing CA is not valid" : "internal error");
		goto out;
	}
	until = not_after_ms(cert);
	if (rp_pki_cert_serial_hex(cert, serial, sizeof(serial)) != RP_OK ||
	    rp_pki_cert_sha256_hex(cert, sha, sizeof(sha)) != RP_OK || until < 0 ||
	    encode_p7(cert, &p7, &p7_len) != RP_OK) {
		refuse(en, 503, "the server cannot encode the certificate now");
		goto out;
	}
	memset(&rec, 0, sizeof(rec));
	rec.device_id = en->device;
	rec.now_ms = r->now_ms;
	rec.cert.serial = serial;
	rec.cert.fingerprint = sha;
	rec.cert.not_after_ms = until;
	if (en->auth == AUTH_TOKEN) {
		rec.token_hash = en->token_hash;
		rec.model = en->tok->model[0] != '\0' ? en->tok->model : NULL;
		rec.set_tags = en->tok->ntags > 0;
		rec.tags = en->tok->tags;
		rec.ntags = en->tok->ntags;
	} else if (en->auth == AUTH_CERT) {
		rec.renew_serial = en->client_serial;
	}
	st = rp_store_enroll(rp__api_store(r), &rec, NULL, NULL);
	if (st == RP_E_DENIED) {
		refuse(en, 403, "%s",
		       en->renew
			       ? "the client certificate was revoked meanwhile"
			       : "the enrollment token was used up, revoked or expired meanwhile");
		goto out;
	}
	if (st == RP_E_STATE) {
		refuse(en, 409, "device %s is revoked or decommissioned: it cannot enroll",
		       en->device);
		goto out;
	}
	if (st != RP_OK) {
		rp_log(RP_LOG_ERROR, "api", "est: store refused the enrollment of %s: %s",
		       en->device, rp_status_str(st));
		refuse(en, 503, "the store is busy; try again (%s)", rp_status_str(st));
		goto out;
	}
	rp__api_header(r, CTE_BASE64);
	rp__api_reply_raw(r, 200, P7_CERTS, p7, p7_len);
	audit(en, 1,
	      json_pack("{s:s, s:s, s:I}", "serial", serial, "sha256", sha, "not_after_ms",
			(json_int_t)until));
	rp_log(RP_LOG_INFO, "api", "est: %s %s (%s), certificate %s until %" PRId64 " ms",
	       en->renew ? "renewed" : "enrolled", en->device, auth_names[en->auth], serial, until);
out:
	rp_pki_csr_free(csr);
	X509_free(cert);
	rp_free(NULL, p7);
	rp_free_secret(NULL, body);
}

static void enroll_request(rp__api_req *r, int renew)
{
	const struct mg_request_info *ri = mg_get_request_info(r->conn);
	const char *authz = NULL;
	X509 *leaf = client_cert(r);
	enroll en;
	int n = 0;

	memset(&en, 0, sizeof(en));
	en.r = r;
	en.e = rp__api_est_of(r);
	en.renew = renew;
	for (int i = 0; i < ri->num_headers; i++) {
		if (strcasecmp(ri->http_headers[i].name, "Authorization") == 0) {
			authz = ri->http_headers[i].value;
			n++;
		}
	}
	if (n > 1) {
		rp__api_fail_text(r, 400, "Authorization appears twice");
		goto out;
	}
	if (renew) {
		if (leaf == NULL) {
			rp__api_fail_text(r, 403,
					  "simplereenroll needs the current certificate as "
					  "the TLS client certificate");
			goto out;
		}
		if (!cert_auth(&en, leaf, 0)) {
			goto out;
		}
	} else if (authz != NULL) {
		if (!token_auth(&en, authz)) {
			goto out;
		}
	} else if (leaf != NULL) {
		if (!cert_auth(&en, leaf, 1)) {
			goto out;
		}
	} else {
		rp__api_header(r, BASIC_REALM);
		rp__api_fail_text(
			r, 401,
			"authenticate with HTTP Basic (user: the device id, password: its "
			"enrollment token) or a factory certificate");
		goto out;
	}
	snprintf(r->actor, sizeof(r->actor), "%s", en.device[0] != '\0' ? en.device : "device");
	issue(&en);
out:
	throttle_end(&en, 0);
	rp_store_free(en.tok);
	rp_wipe(en.token_hash, sizeof(en.token_hash));
}

void rp__api_h_est_simpleenroll(rp__api_req *r)
{
	enroll_request(r, 0);
}

void rp__api_h_est_simplereenroll(rp__api_req *r)
{
	enroll_request(r, 1);
}

/* ------------------------------------------------------------------------
 * Enrollment tokens (REST, JSON)
 * ------------------------------------------------------------------------ */

static json_t *enroll_token_json(const rp__api_req *r, const rp_store_enroll_token *t)
{
	const char *state = t->revoked_ms != 0           ? "revoked"
			    : t->expires_ms <= r->now_ms ? "expired"
			    : t->uses >= t->max_uses     ? "used"
							 : "active";
	json_t *tags = json_array();
	json_t *o;

	for (size_t i = 0; i < t->ntags && tags != NULL; i++) {
		json_array_append_new(tags, json_string(t->tags[i]));
	}
	o = json_pack("{s:s, s:s, s:I, s:I, s:s, s:o, s:s, s:s, s:I, s:I, s:I}", "id", t->id,
		      t->prefix ? "device_prefix" : "device", t->device, "uses",
		      (json_int_t)t->max_uses, "used", (json_int_t)t->uses, "model", t->model,
		      "tags", tags != NULL ? tags : json_array(), "state", state, "created_by",
		      t->created_by, "created_ms", (json_int_t)t->created_ms, "expires_ms",
		      (json_int_t)t->expires_ms, "revoked_ms", (json_int_t)t->revoked_ms);
	return o;
}

void rp__api_h_enroll_tokens(rp__api_req *r)
{
	const rp__api_qval *v = rp__api_query_get(r->match.route->query, &r->query, "after");
	rp_store_enroll_token *rows = NULL;
	rp__api_cursor c, next;
	json_t *items;
	size_t n = 0, limit;
	rp_status st;

	if (v != NULL && rp__api_cursor_decode(v->str, v->len, 'e', &c) != RP_OK) {
		rp__api_fail(r, 400, "invalid_query",
			     "query parameter 'after' is not a cursor of this list");
		return;
	}
	limit = rp__api_limit(r, RP_DEFAULT_API_PAGE);
	st = rp_store_enroll_token_list(rp__api_store(r), v != NULL ? c.s : NULL, limit, &rows, &n,
					NULL, NULL);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "enrollment token list");
		return;
	}
	items = json_array();
	for (size_t i = 0; i < n && items != NULL; i++) {
		json_array_append_new(items, enroll_token_json(r, &rows[i]));
	}
	memset(&next, 0, sizeof(next));
	if (n == limit && n > 0) {
		next.kind = 'e';
		snprintf(next.s, sizeof(next.s), "%s", rows[n - 1u].id);
	}
	rp__api_reply_page(r, items, next.kind ? &next : NULL);
	rp_store_free(rows);
}

void rp__api_h_enroll_token_create(rp__api_req *r)
{
	char why[RP__API_WHY_CAP], id[33], hash[RP_SHA256_HEX_LEN + 1u];
	char device[RP_LIMIT_PKI_DEVICE_ID_LEN + 1u], model[RP_LIMIT_STORE_TEXT_LEN + 1u];
	rp__api_enroll_req in;
	rp_store_enroll_token t;
	rp_token tok;
	json_t *body;
	rp_status st;

	memset(&tok, 0, sizeof(tok));
	if (rp__api_enroll_token_body(r->body, &in, why, sizeof(why)) != RP_OK) {
		rp__api_fail(r, 400, "invalid_body", "%s", why);
		return;
	}
	memcpy(device, in.device, in.device_len);
	device[in.device_len] = '\0';
	model[0] = '\0';
	if (in.model != NULL) {
		memcpy(model, in.model, in.model_len);
		model[in.model_len] = '\0';
	}
	if (rp__api_new_id(id) != RP_OK || rp_token_new(RP_TOKEN_ENROLL, &tok) != RP_OK ||
	    rp_token_hash_hex((const uint8_t *)tok.text, RP_TOKEN_LEN, RP_TOKEN_ENROLL, hash) !=
		    RP_OK) {
		rp__api_fail(r, 500, "internal", "no token could be made");
		goto out;
	}
	memset(&t, 0, sizeof(t));
	t.id = id;
	t.token_hash = hash;
	t.device = device;
	t.prefix = in.prefix;
	t.max_uses = in.uses;
	t.model = model;
	t.tags = in.tags.tag;
	t.ntags = in.tags.n;
	t.created_by = r->actor;
	t.created_ms = r->now_ms;
	t.expires_ms = r->now_ms + in.lifetime_s * 1000;
	st = rp_store_enroll_token_create(rp__api_store(r), &t, NULL, NULL);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "enrollment token");
		goto out;
	}
	rp__api_audit(r, "enroll_token.create", id,
		      json_pack("{s:s, s:I, s:I}", in.prefix ? "device_prefix" : "device", device,
				"uses", (json_int_t)t.max_uses, "expires_ms",
				(json_int_t)t.expires_ms));
	body = enroll_token_json(r, &t);
	if (body != NULL) {
		json_object_set_new(body, "token", json_string(tok.text));
	}
	rp__api_reply(r, 201, body);
out:
	rp_token_wipe(&tok);
}

void rp__api_h_enroll_token_revoke(rp__api_req *r)
{
	char id[33];
	rp_status st;

	if (rp__api_param(r, 0, id, sizeof(id)) == NULL) {
		rp__api_fail(r, 400, "invalid_path", "bad token id");
		return;
	}
	st = rp_store_enroll_token_revoke(rp__api_store(r), id, r->now_ms, NULL, NULL);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "enrollment token");
		return;
	}
	rp__api_audit(r, "enroll_token.revoke", id, NULL);
	rp__api_reply(r, 204, NULL);
}
