/*
 * api.c - the HTTPS server of the REST API: CivetWeb set up with
 * rampartd's TLS policy, and the pipeline every request goes through
 * before its handler (api.h lists the steps).
 *
 * Implementation notes
 * - Threads: CivetWeb runs one worker per connection (opts.threads of
 *   them). A request lives on its worker's stack and heap from
 *   begin_request to the reply; the handlers call the store synchronously.
 *   Shared state (the TOTP setting, voided sessions, pending TOTP keys)
 *   is behind api->mu; the throttle and the store lock themselves.
 * - Replies are written whole by reply(): status line, the security
 *   headers, Content-Type, Content-Length, the request's extra headers,
 *   the body. CivetWeb's own errors (a request it cannot parse, headers
 *   past max_request_size) come through on_http_error, which writes the
 *   same headers and a JSON body. A body left unread closes the
 *   connection (no keep-alive), so its bytes are never taken for the next
 *   request.
 * - Attacker: anything on the network. Before authentication a peer can
 *   make us read at most max_request_size bytes of headers and
 *   RP_LIMIT_API_PREAUTH_BODY of body (the login), and cost at most one
 *   Argon2 computation per attempt the throttle lets through.
 * - Secrets: the session cookie, bearer tokens, CSRF tokens, passwords and
 *   TOTP codes are never logged; the access line holds the method, the
 *   route (or the escaped path of a 404), the status, the actor and the
 *   address.
 */
#include <arpa/inet.h>
#include <civetweb.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/internal.h"
#include "auth/role.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/map.h"

/* TLS: the same suites, groups and security level as server/net/tls.c. */
#define TLS12_CIPHERS                                                                              \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                               \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                               \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES   "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"
#define TLS_GROUPS     "X25519:P-256:P-384"
#define SECURITY_LEVEL 2
#define KEY_FILE_MAX   (64 * 1024)

#define SECRET_KEY_LEN 32u
#define GCM_NONCE_LEN  12u
#define GCM_TAG_LEN    16u

typedef struct pending_totp {
	uint8_t key[RP_LIMIT_TOTP_KEY_LEN];
	size_t len;
	int64_t expires_ms;
} pending_totp;

struct rp_api {
	struct mg_context *mg;
	rp_store *store;
	rp_throttle *throttle;
	rp_password_params pw;
	uint16_t port;
	char *cert_file, *key_file;
	int allow_tls12;
	size_t max_body;
	unsigned session_lifetime_s, token_lifetime_s, token_lifetime_max_s;
	uint8_t secret_key[SECRET_KEY_LEN];
	int has_secret_key;
	rp_api_publish_fn publish;
	void *publish_ctx;
	rp_api_revoked_fn revoked;
	void *revoked_ctx;
	rp_api_crl_fn crl;
	void *crl_ctx;
	rp__api_est *est; /* NULL: enrollment off */

	/* The server certificate every new TLS connection gets (cert_cb),
	 * swapped by rp_api_reload_cert(). */
	pthread_mutex_t cert_mu;
	int cert_mu_ok;
	X509 *cert;
	STACK_OF(X509) * chain;
	EVP_PKEY *key;

	pthread_mutex_t mu; /* the fields below */
	int totp_required;
	rp_map *voided;  /* operator name -> int64_t *: sessions created before are void */
	rp_map *pending; /* operator name -> pending_totp * */

	char tls_err[200]; /* init_ssl's reason, for rp_api_start */
};

/* ------------------------------------------------------------------------
 * Clocks, small helpers
 * ------------------------------------------------------------------------ */

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static char *dupstr(const char *s)
{
	size_t n = strlen(s) + 1u;
	char *p = rp_alloc(NULL, n);

	if (p != NULL) {
		memcpy(p, s, n);
	}
	return p;
}

rp_role rp__api_role_from_store(int store_role)
{
	switch (store_role) {
	case RP_STORE_ROLE_VIEWER:
		return RP_ROLE_VIEWER;
	case RP_STORE_ROLE_OPERATOR:
		return RP_ROLE_OPERATOR;
	case RP_STORE_ROLE_ADMIN:
		return RP_ROLE_ADMIN;
	case RP_STORE_ROLE_AUDITOR:
		return RP_ROLE_AUDITOR;
	default:
		return RP_ROLE_COUNT_; /* allows nothing */
	}
}

int rp__api_role_to_store(rp_role role)
{
	switch (role) {
	case RP_ROLE_VIEWER:
		return RP_STORE_ROLE_VIEWER;
	case RP_ROLE_OPERATOR:
		return RP_STORE_ROLE_OPERATOR;
	case RP_ROLE_ADMIN:
		return RP_STORE_ROLE_ADMIN;
	case RP_ROLE_AUDITOR:
		return RP_STORE_ROLE_AUDITOR;
	default:
		return 0;
	}
}

rp_status rp__api_new_id(char out[33])
{
	uint8_t b[16];
	static const char hex[] = "0123456789abcdef";

	if (rp_secret_random(b, sizeof(b)) != RP_OK) {
		return RP_E_CRYPTO;
	}
	for (size_t i = 0; i < sizeof(b); i++) {
		out[2u * i] = hex[b[i] >> 4];
		out[2u * i + 1u] = hex[b[i] & 15u];
	}
	out[32] = '\0';
	return RP_OK;
}

/* ------------------------------------------------------------------------
 * Shared state for the handlers
 * ------------------------------------------------------------------------ */

rp_store *rp__api_store(const rp__api_req *r)
{
	return r->api->store;
}

const rp_password_params *rp__api_pwparams(const rp__api_req *r)
{
	return &r->api->pw;
}

rp_throttle *rp__api_throttle(const rp__api_req *r)
{
	return r->api->throttle;
}

const rp__api_est *rp__api_est_of(const rp__api_req *r)
{
	return r->api->est;
}

unsigned rp__api_session_lifetime_s(const rp__api_req *r)
{
	return r->api->session_lifetime_s;
}

unsigned rp__api_token_lifetime_s(const rp__api_req *r, unsigned *max_s)
{
	*max_s = r->api->token_lifetime_max_s;
	return r->api->token_lifetime_s;
}

rp_status rp__api_publish(const rp__api_req *r, const char *topic, const uint8_t *payload,
			  size_t len)
{
	if (r->api->publish == NULL) {
		return RP_E_STATE;
	}
	return r->api->publish(r->api->publish_ctx, topic, payload, len);
}

void rp__api_revoked(const rp__api_req *r, const char *device_id)
{
	if (r->api->revoked != NULL) {
		r->api->revoked(r->api->revoked_ctx, device_id);
	}
}

int rp__api_totp_required(const rp__api_req *r)
{
	int on;

	pthread_mutex_lock(&r->api->mu);
	on = r->api->totp_required;
	pthread_mutex_unlock(&r->api->mu);
	return on;
}

void rp__api_set_totp_required(rp__api_req *r, int on)
{
	pthread_mutex_lock(&r->api->mu);
	r->api->totp_required = on != 0;
	pthread_mutex_unlock(&r->api->mu);
}

int64_t rp__api_sessions_valid_from(const rp__api_req *r, const char *name)
{
	const int64_t *v;
	int64_t from = 0;

	pthread_mutex_lock(&r->api->mu);
	v = rp_map_get(r->api->voided, name, strlen(name));
	if (v != NULL) {
		from = *v;
	}
	pthread_mutex_unlock(&r->api->mu);
	return from;
}

rp_status rp__api_void_sessions(rp__api_req *r, const char *name, int64_t from_ms)
{
	int64_t *v;
	void *old = NULL;
	rp_status st = RP_OK;

	pthread_mutex_lock(&r->api->mu);
	v = rp_map_get(r->api->voided, name, strlen(name));
	if (v != NULL) {
		*v = from_ms;
		goto out;
	}
	v = rp_alloc(NULL, sizeof(*v));
	if (v == NULL) {
		st = RP_E_NOMEM;
		goto out;
	}
	*v = from_ms;
	st = rp_map_put(r->api->voided, name, strlen(name), v, &old);
	if (st != RP_OK) {
		rp_free(NULL, v);
	}
out:
	pthread_mutex_unlock(&r->api->mu);
	return st;
}

rp_status rp__api_totp_pending_put(rp__api_req *r, const char *name, const uint8_t *key,
				   size_t key_len)
{
	pending_totp *p, *old = NULL;
	rp_status st;

	if (key_len > sizeof(p->key)) {
		return RP_E_INVALID_ARG;
	}
	p = rp_calloc(NULL, 1, sizeof(*p));
	if (p == NULL) {
		return RP_E_NOMEM;
	}
	memcpy(p->key, key, key_len);
	p->len = key_len;
	p->expires_ms = r->now_ms + (int64_t)RP_LIMIT_API_TOTP_PENDING_S * 1000;
	pthread_mutex_lock(&r->api->mu);
	st = rp_map_put(r->api->pending, name, strlen(name), p, (void **)&old);
	pthread_mutex_unlock(&r->api->mu);
	rp_free_secret(NULL, st == RP_OK ? old : p);
	return st;
}

rp_status rp__api_totp_pending_take(rp__api_req *r, const char *name, uint8_t *key, size_t cap,
				    size_t *key_len)
{
	pending_totp *p;
	rp_status st = RP_E_NOT_FOUND;

	pthread_mutex_lock(&r->api->mu);
	p = rp_map_del(r->api->pending, name, strlen(name));
	pthread_mutex_unlock(&r->api->mu);
	if (p != NULL && p->expires_ms > r->now_ms && p->len <= cap) {
		memcpy(key, p->key, p->len);
		*key_len = p->len;
		st = RP_OK;
	}
	rp_free_secret(NULL, p);
	return st;
}

/* ------------------------------------------------------------------------
 * TOTP secrets at rest: 0x01 || nonce || AES-256-GCM(key) || tag, the
 * operator's name as associated data (a sealed secret moved to another
 * row does not open); 0x00 || key without a configured key.
 * ------------------------------------------------------------------------ */

static rp_status gcm(const rp_api *api, int enc, const char *name, const uint8_t *nonce,
		     const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, ok;

	if (c == NULL) {
		return RP_E_NOMEM;
	}
	ok = EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, api->secret_key, nonce, enc) == 1 &&
	     EVP_CipherUpdate(c, NULL, &n, (const uint8_t *)name, (int)strlen(name)) == 1 &&
	     EVP_CipherUpdate(c, out, &n, in, (int)len) == 1;
	if (ok && !enc) {
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN, tag) == 1;
	}
	ok = ok && EVP_CipherFinal_ex(c, out + n, &n) == 1;
	if (ok && enc) {
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LEN, tag) == 1;
	}
	EVP_CIPHER_CTX_free(c);
	ERR_clear_error();
	return ok ? RP_OK : RP_E_CRYPTO;
}

rp_status rp__api_totp_seal(const rp__api_req *r, const char *name, const uint8_t *key,
			    size_t key_len, uint8_t *out, size_t cap, size_t *out_len)
{
	const rp_api *api = r->api;

	if (!api->has_secret_key) {
		if (cap < key_len + 1u) {
			return RP_E_BUF_TOO_SMALL;
		}
		out[0] = 0;
		memcpy(out + 1, key, key_len);
		*out_len = key_len + 1u;
		return RP_OK;
	}
	if (cap < 1u + GCM_NONCE_LEN + key_len + GCM_TAG_LEN) {
		return RP_E_BUF_TOO_SMALL;
	}
	out[0] = 1;
	if (rp_secret_random(out + 1, GCM_NONCE_LEN) != RP_OK ||
	    gcm(api, 1, name, out + 1, key, key_len, out + 1 + GCM_NONCE_LEN,
		out + 1 + GCM_NONCE_LEN + key_len) != RP_OK) {
		return RP_E_CRYPTO;
	}
	*out_len = 1u + GCM_NONCE_LEN + key_len + GCM_TAG_LEN;
	return RP_OK;
}

rp_status rp__api_totp_open(const rp__api_req *r, const char *name, const uint8_t *sealed,
			    size_t sealed_len, uint8_t *key, size_t cap, size_t *key_len)
{
	const rp_api *api = r->api;
	size_t n;
	uint8_t tag[GCM_TAG_LEN];

	if (sealed_len < 2u) {
		return RP_E_MALFORMED;
	}
	if (sealed[0] == 0) {
		if (sealed_len - 1u > cap) {
			return RP_E_MALFORMED;
		}
		memcpy(key, sealed + 1, sealed_len - 1u);
		*key_len = sealed_len - 1u;
		return RP_OK;
	}
	if (sealed[0] != 1 || sealed_len < 1u + GCM_NONCE_LEN + 1u + GCM_TAG_LEN) {
		return RP_E_MALFORMED;
	}
	if (!api->has_secret_key) {
		return RP_E_CONFIG;
	}
	n = sealed_len - 1u - GCM_NONCE_LEN - GCM_TAG_LEN;
	if (n > cap) {
		return RP_E_MALFORMED;
	}
	memcpy(tag, sealed + sealed_len - GCM_TAG_LEN, GCM_TAG_LEN);
	if (gcm(api, 0, name, sealed + 1, sealed + 1 + GCM_NONCE_LEN, n, key, tag) != RP_OK) {
		rp_wipe(key, n);
		return RP_E_CRYPTO;
	}
	*key_len = n;
	return RP_OK;
}

/* ------------------------------------------------------------------------
 * Replies
 * ------------------------------------------------------------------------ */

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 503:
		return "Service Unavailable";
	default:
		return status >= 500 ? "Internal Server Error" : "Error";
	}
}

#define SECURITY_HEADERS                                                                           \
	"Strict-Transport-Security: max-age=31536000\r\n"                                          \
	"X-Content-Type-Options: nosniff\r\n"                                                      \
	"Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"                  \
	"Referrer-Policy: no-referrer\r\n"                                                         \
	"X-Frame-Options: DENY\r\n"                                                                \
	"Cross-Origin-Resource-Policy: same-origin\r\n"
#define NO_STORE "Cache-Control: no-store\r\n"

/* 1 if one of the extra header lines sets Cache-Control (GET /crl does). */
static int sets_cache_control(char *const *extra, size_t nextra)
{
	for (size_t i = 0; i < nextra; i++) {
		if (strncasecmp(extra[i], "Cache-Control:", 14) == 0) {
			return 1;
		}
	}
	return 0;
}

/* Writes one whole response. extra: header lines, each "Name: value". */
static void write_typed(struct mg_connection *c, int status, const char *ctype, const void *body,
			size_t len, char *const *extra, size_t nextra, int close)
{
	char head[2048];
	size_t n;
	int k;

	char clen[40] = "";

	/* A 204 carries no Content-Length (RFC 9110, 8.6), nor a 304 (its body's). */
	if (status != 204 && status != 304) {
		snprintf(clen, sizeof(clen), "Content-Length: %zu\r\n", len);
	}
	/* Nothing is cached, but what says otherwise itself (the CRL). */
	k = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n" SECURITY_HEADERS "%s%s%s%s%s%s",
		     status, reason_phrase(status),
		     sets_cache_control(extra, nextra) ? "" : NO_STORE,
		     body != NULL ? "Content-Type: " : "", body != NULL ? ctype : "",
		     body != NULL ? "\r\n" : "", clen, close ? "Connection: close\r\n" : "");
	n = k > 0 && (size_t)k < sizeof(head) ? (size_t)k : 0;
	for (size_t i = 0; i < nextra && n > 0; i++) {
		k = snprintf(head + n, sizeof(head) - n, "%s\r\n", extra[i]);
		n = k > 0 && (size_t)k < sizeof(head) - n ? n + (size_t)k : 0;
	}
	if (n == 0 || n + 2u >= sizeof(head)) {
		return; /* cannot happen: extra headers are short */
	}
	memcpy(head + n, "\r\n", 2);
	n += 2u;
	if (close) {
		mg_disable_connection_keep_alive(c);
	}
	(void)mg_write(c, head, n);
	if (body != NULL && len > 0) {
		(void)mg_write(c, body, len);
	}
}

static void write_response(struct mg_connection *c, int status, const char *body, size_t len,
			   char *const *extra, size_t nextra, int close)
{
	write_typed(c, status, "application/json", body, len, extra, nextra, close);
}

void rp__api_reply_raw(rp__api_req *r, int status, const char *ctype, const void *body, size_t len)
{
	if (r->status != 0) {
		rp_log(RP_LOG_ERROR, "api",
		       "internal: a second reply for one request (%d after %d)", status, r->status);
		return;
	}
	r->status = status;
	if (status == 304) {
		write_typed(r->conn, status, NULL, NULL, 0, r->extra, r->nextra, !r->body_consumed);
		return;
	}
	write_typed(r->conn, status, ctype, body != NULL ? body : "", len, r->extra, r->nextra,
		    !r->body_consumed);
}

void rp__api_fail_text(rp__api_req *r, int status, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text) - 1u, fmt, ap);
	va_end(ap);
	if (n < 0) {
		n = 0;
	}
	if ((size_t)n > sizeof(text) - 2u) {
		n = (int)(sizeof(text) - 2u);
	}
	text[n++] = '\n';
	text[n] = '\0';
	rp__api_reply_raw(r, status, "text/plain; charset=utf-8", text, (size_t)n);
}

void rp__api_reply(rp__api_req *r, int status, json_t *body)
{
	static const char oom[] = "{\"error\":\"internal\",\"detail\":\"out of memory\"}";
	char *text = NULL;
	size_t len = 0;

	if (r->status != 0) {
		rp_log(RP_LOG_ERROR, "api",
		       "internal: a second reply for one request (%d after %d)", status, r->status);
		json_decref(body);
		return;
	}
	if (body != NULL && rp__api_json_dump(body, SIZE_MAX / 2u, &text, &len) != RP_OK) {
		status = 500;
		text = NULL;
	}
	json_decref(body);
	r->status = status;
	if (status == 500 && text == NULL) {
		write_response(r->conn, 500, oom, sizeof(oom) - 1u, NULL, 0, 1);
		return;
	}
	write_response(r->conn, status, text, len, r->extra, r->nextra, !r->body_consumed);
	rp_free(NULL, text);
}

void rp__api_fail(rp__api_req *r, int status, const char *code, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	rp__api_reply(r, status, rp__api_error_json(code, detail));
}

void rp__api_fail_status(rp__api_req *r, rp_status st, const char *what)
{
	switch (st) {
	case RP_E_NOT_FOUND:
		rp__api_fail(r, 404, "not_found", "no such %s", what);
		return;
	case RP_E_EXISTS:
		rp__api_fail(r, 409, "exists", "that %s already exists", what);
		return;
	case RP_E_BUSY:
	case RP_E_TIMEOUT:
		rp__api_header(r, "Retry-After: 1");
		rp__api_fail(r, 503, "busy", "the store is busy; try again");
		return;
	case RP_E_LIMIT:
	case RP_E_UTF8:
	case RP_E_INVALID_ARG:
	case RP_E_MALFORMED:
		rp__api_fail(r, 400, "invalid", "the %s was refused by the store (%s)", what,
			     rp_status_str(st));
		return;
	default:
		rp_log(RP_LOG_ERROR, "api", "%s %s: %s", rp__api_method_name(r->method),
		       r->match.route != NULL ? r->match.route->path : "?", rp_status_str(st));
		rp__api_fail(r, 500, "internal", "the server failed (%s)", rp_status_str(st));
		return;
	}
}

rp_status rp__api_header(rp__api_req *r, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	if (r->nextra == RP__API_MAX_EXTRA_HEADERS) {
		return RP_E_NOMEM;
	}
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		return RP_E_NOMEM;
	}
	r->extra[r->nextra] = dupstr(line);
	if (r->extra[r->nextra] == NULL) {
		return RP_E_NOMEM;
	}
	r->nextra++;
	return RP_OK;
}

void rp__api_reply_page(rp__api_req *r, json_t *items, const rp__api_cursor *next)
{
	char cur[RP__API_CURSOR_CAP];
	json_t *o = json_object();

	if (o == NULL || items == NULL) {
		json_decref(o);
		json_decref(items);
		rp__api_fail(r, 500, "internal", "out of memory");
		return;
	}
	json_object_set_new(o, "items", items);
	if (next != NULL && rp__api_cursor_encode(next, cur, sizeof(cur)) == RP_OK) {
		json_object_set_new(o, "next", json_string(cur));
	} else {
		json_object_set_new(o, "next", json_null());
	}
	rp__api_reply(r, 200, o);
}

size_t rp__api_limit(const rp__api_req *r, size_t def)
{
	const rp__api_qval *v = rp__api_query_get(r->match.route->query, &r->query, "limit");

	return v != NULL ? (size_t)v->num : def;
}

const char *rp__api_param(const rp__api_req *r, size_t i, char *out, size_t cap)
{
	if (i >= r->match.nparams || r->match.param[i].len >= cap) {
		return NULL;
	}
	memcpy(out, r->match.param[i].p, r->match.param[i].len);
	out[r->match.param[i].len] = '\0';
	return out;
}

/* ------------------------------------------------------------------------
 * Audit
 * ------------------------------------------------------------------------ */

static void audit_done(void *ctx, rp_status st)
{
	(void)ctx;
	if (st != RP_OK) {
		rp_log(RP_LOG_ERROR, "api", "audit entry not written: %s", rp_status_str(st));
	}
}

void rp__api_audit(rp__api_req *r, const char *action, const char *target, json_t *detail)
{
	rp_store_audit_entry e;
	char *text = NULL;
	size_t len = 0;
	rp_status st;

	if (r->via_token) {
		if (detail == NULL) {
			detail = json_object();
		}
		if (detail != NULL) {
			json_object_set_new(detail, "token", json_string(r->token_id));
		}
	}
	if (detail != NULL &&
	    rp__api_json_dump(detail, RP_LIMIT_STORE_JSON_LEN, &text, &len) != RP_OK) {
		text = NULL;
	}
	json_decref(detail);
	memset(&e, 0, sizeof(e));
	e.time_ms = r->now_ms;
	e.actor = r->actor[0] != '\0' ? r->actor : "anonymous";
	e.action = action;
	e.target = target != NULL ? target : "";
	e.source = r->peer;
	e.detail = text != NULL ? text : "";
	st = rp_store_audit_append(r->api->store, &e, NULL, NULL, NULL);
	if (st != RP_OK) {
		char a[80], t[80];

		rp_log(RP_LOG_ERROR, "api",
		       "audit entry not written (%s): %s by %s on \"%s\" from %s",
		       rp_status_str(st), action, e.actor,
		       rp_log_escape(t, sizeof(t), (const uint8_t *)e.target, strlen(e.target)),
		       rp_log_escape(a, sizeof(a), (const uint8_t *)r->peer, strlen(r->peer)));
	}
	rp_free(NULL, text);
}

/* Throttle locks become audit entries (the first of a period is also logged by the throttle). */
static void on_lock(void *ctx, const rp_throttle_event *ev)
{
	rp_api *api = ctx;
	rp_store_audit_entry e;
	char account[RP_LIMIT_OPERATOR_NAME_LEN + 1u] = "";
	char addr[RP_THROTTLE_ADDRESS_CAP] = "";
	char detail[160];

	if (ev->account != NULL && ev->account_len < sizeof(account)) {
		memcpy(account, ev->account, ev->account_len);
		account[ev->account_len] = '\0';
	}
	if (ev->addr != NULL && ev->addr_len < sizeof(addr)) {
		memcpy(addr, ev->addr, ev->addr_len);
		addr[ev->addr_len] = '\0';
	}
	snprintf(detail, sizeof(detail),
		 "{\"locked\":\"%s\",\"failures\":%" PRIu32 ",\"lock_s\":%" PRIu32 "}",
		 ev->address ? "address" : "account", ev->failures, ev->lock_s);
	memset(&e, 0, sizeof(e));
	e.time_ms = wall_ms();
	e.actor = "system";
	e.action = "auth.lockout";
	e.target = ev->address ? addr : account;
	e.source = addr;
	e.detail = detail;
	(void)rp_store_audit_append(api->store, &e, NULL, audit_done, NULL);
}

/* ------------------------------------------------------------------------
 * TLS: the policy of docs/tls.md on CivetWeb's SSL_CTX
 * ------------------------------------------------------------------------ */

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1; /* an encrypted key is a configuration error */
}

/*
 * Reads an unencrypted PEM key that others may not access, through a
 * buffer that is wiped and freed whatever happens. NULL on failure (err set).
 */
static EVP_PKEY *read_key(const char *path, char *err, size_t cap)
{
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	uint8_t *buf = NULL;
	struct stat sb;
	size_t got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rp_errf(err, cap, "%s: cannot open the key", path);
		return NULL;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		rp_errf(err, cap, "%s: not a regular file", path);
		goto out;
	}
	if ((sb.st_mode & S_IRWXO) != 0) {
		rp_errf(err, cap, "%s: key file is accessible to other users (chmod o-rwx)", path);
		goto out;
	}
	if (sb.st_size <= 0 || sb.st_size > KEY_FILE_MAX) {
		rp_errf(err, cap, "%s: key file is empty or too large", path);
		goto out;
	}
	buf = rp_alloc(NULL, (size_t)sb.st_size);
	if (buf == NULL) {
		rp_errf(err, cap, "%s: out of memory", path);
		goto out;
	}
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			rp_errf(err, cap, "%s: cannot read the key", path);
			goto out;
		}
		got += (size_t)n;
	}
	bio = BIO_new_mem_buf(buf, (int)got);
	pkey = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
	if (pkey == NULL) {
		rp_errf(err, cap, "%s: not an unencrypted PEM private key", path);
		goto out;
	}
out:
	BIO_free(bio);
	if (buf != NULL) {
		rp_free_secret(NULL, buf);
	}
	close(fd);
	ERR_clear_error();
	return pkey;
}

static int load_key(SSL_CTX *s, const char *path, char *err, size_t cap)
{
	EVP_PKEY *pkey = read_key(path, err, cap);
	int ok = 0;

	if (pkey == NULL) {
		return 0;
	}
	if (SSL_CTX_use_PrivateKey(s, pkey) != 1 || SSL_CTX_check_private_key(s) != 1) {
		rp_errf(err, cap, "%s: key does not match the server certificate", path);
		goto out;
	}
	ok = 1;
out:
	EVP_PKEY_free(pkey);
	return ok;
}

/*
 * The certificate CivetWeb's SSL_CTX was given, and each reload's since,
 * installed into every new connection before the certificate is chosen
 * (SSL_CTX_set_cert_cb runs once per ClientHello). The pair is swapped
 * under cert_mu; SSL_use_cert_and_key takes its own references, so a
 * connection keeps what it got whatever happens to the pair after.
 */
static int cert_cb(SSL *ssl, void *arg)
{
	rp_api *api = arg;
	int ok;

	pthread_mutex_lock(&api->cert_mu);
	ok = api->cert != NULL && api->key != NULL &&
	     SSL_use_cert_and_key(ssl, api->cert, api->key, api->chain, 1) == 1;
	pthread_mutex_unlock(&api->cert_mu);
	ERR_clear_error();
	return ok ? 1 : 0;
}

/* Takes references on the SSL_CTX's certificate, chain and key as the pair. */
static int keep_pair(rp_api *api, SSL_CTX *s)
{
	X509 *x = SSL_CTX_get0_certificate(s);
	EVP_PKEY *k = SSL_CTX_get0_privatekey(s);
	STACK_OF(X509) *chain = NULL;

	if (x == NULL || k == NULL || SSL_CTX_get0_chain_certs(s, &chain) != 1) {
		return 0;
	}
	api->chain = chain != NULL ? X509_chain_up_ref(chain) : sk_X509_new_null();
	if (api->chain == NULL) {
		return 0;
	}
	X509_up_ref(x);
	EVP_PKEY_up_ref(k);
	api->cert = x;
	api->key = k;
	return 1;
}

/*
 * CivetWeb's init_ssl: called once from mg_start on the starting thread
 * with the SSL_CTX it made. We set everything (returning 1 tells CivetWeb
 * the certificate is loaded, and it adds nothing of its own after).
 * Without enrollment no client certificate is requested (the OpenSSL
 * default for a server): operators are authenticated by the API. With
 * enrollment one is requested, never required, and only the EST handlers
 * look at it, verifying it themselves (est.c).
 */
static int on_init_ssl(void *ssl_ctx, void *user_data)
{
	SSL_CTX *s = ssl_ctx;
	rp_api *api = user_data;
	static const char sid[] = "https";

	SSL_CTX_clear_options(s, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_ALLOW_NO_DHE_KEX);
	SSL_CTX_set_options(s, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
	SSL_CTX_set_mode(s, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_security_level(s, SECURITY_LEVEL);
	SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_set_min_proto_version(s, api->allow_tls12 ? TLS1_2_VERSION : TLS1_3_VERSION) !=
		    1 ||
	    SSL_CTX_set_max_proto_version(s, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(s, TLS12_CIPHERS) != 1 ||
	    SSL_CTX_set_ciphersuites(s, TLS13_SUITES) != 1 ||
	    SSL_CTX_set1_groups_list(s, TLS_GROUPS) != 1 || SSL_CTX_set_max_early_data(s, 0) != 1 ||
	    SSL_CTX_set_num_tickets(s, 0) != 1 ||
	    SSL_CTX_set_session_id_context(s, (const unsigned char *)sid, sizeof(sid) - 1u) != 1) {
		rp_errf(api->tls_err, sizeof(api->tls_err),
			"TLS policy: OpenSSL refused a setting");
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(s, api->cert_file) != 1) {
		rp_errf(api->tls_err, sizeof(api->tls_err),
			"%s: not a readable PEM certificate chain (or too weak for security level "
			"2)",
			api->cert_file);
		goto fail;
	}
	if (!load_key(s, api->key_file, api->tls_err, sizeof(api->tls_err))) {
		goto fail;
	}
	if (!keep_pair(api, s)) {
		rp_errf(api->tls_err, sizeof(api->tls_err), "TLS: cannot keep the certificate");
		goto fail;
	}
	SSL_CTX_set_cert_cb(s, cert_cb, api);
	if (api->est != NULL && !rp__api_est_tls(api->est, s, api->tls_err, sizeof(api->tls_err))) {
		goto fail;
	}
	ERR_clear_error();
	return 1;
fail:
	ERR_clear_error();
	return -1;
}

/* ------------------------------------------------------------------------
 * CivetWeb callbacks: its own errors and log lines
 * ------------------------------------------------------------------------ */

static int on_http_error(struct mg_connection *c, int status, const char *msg)
{
	char body[160];
	int n;

	(void)msg; /* may echo request bytes; the status says enough */
	if (status < 400 || status > 599) {
		status = 400;
	}
	n = snprintf(body, sizeof(body), "{\"error\":\"bad_request\",\"detail\":\"%s\"}",
		     status == 413 || status == 431 ? "request line or headers too large"
						    : "the request is not valid HTTP/1.1");
	write_response(c, status, body, (size_t)n, NULL, 0, 1);
	return 0;
}

static int on_log_message(const struct mg_connection *c, const char *msg)
{
	char esc[200];

	(void)c;
	rp_log(RP_LOG_DEBUG, "api", "civetweb: %s",
	       rp_log_escape(esc, sizeof(esc), (const uint8_t *)msg, strnlen(msg, 512)));
	return 1;
}

/* ------------------------------------------------------------------------
 * The pipeline
 * ------------------------------------------------------------------------ */

/* Header `name`, refusing duplicates: returns -1 if it appears twice. */
static int header_once(const struct mg_request_info *ri, const char *name, const char **out)
{
	int n = 0;

	*out = NULL;
	for (int i = 0; i < ri->num_headers; i++) {
		if (strcasecmp(ri->http_headers[i].name, name) == 0) {
			*out = ri->http_headers[i].value;
			n++;
		}
	}
	return n > 1 ? -1 : n;
}

static void peer_of(rp__api_req *r, const struct mg_request_info *ri)
{
	struct sockaddr_in a4;
	struct sockaddr_in6 a6;
	const struct sockaddr *sa = NULL;

	snprintf(r->peer, sizeof(r->peer), "%s", ri->remote_addr);
	memset(&a4, 0, sizeof(a4));
	memset(&a6, 0, sizeof(a6));
	if (inet_pton(AF_INET, ri->remote_addr, &a4.sin_addr) == 1) {
		a4.sin_family = AF_INET;
		sa = (const struct sockaddr *)&a4;
	} else if (inet_pton(AF_INET6, ri->remote_addr, &a6.sin6_addr) == 1) {
		a6.sin6_family = AF_INET6;
		sa = (const struct sockaddr *)&a6;
	}
	if (sa == NULL ||
	    rp_throttle_address_key(sa, r->addr_key, sizeof(r->addr_key), NULL) != RP_OK) {
		snprintf(r->addr_key, sizeof(r->addr_key), "%s", r->peer);
	}
}

/* Checks the "{...}" segments of the route against their types. */
static int check_params(rp__api_req *r)
{
	const char *p = r->match.route->path;
	size_t i = 0;

	while ((p = strchr(p, '{')) != NULL && i < r->match.nparams) {
		const rp__api_view *v = &r->match.param[i];
		int64_t id;
		rp_status st = RP_E_MALFORMED;
		const char *what = "parameter";

		if (strncmp(p, "{device}", 8) == 0) {
			st = rp__api_check_device_id(v->p, v->len);
			what = "device id";
		} else if (strncmp(p, "{command}", 9) == 0 || strncmp(p, "{token}", 7) == 0) {
			st = rp__api_check_hex_id(v->p, v->len);
			what = p[1] == 'c' ? "command id (32 hex digits)"
					   : "token id (32 hex digits)";
		} else if (strncmp(p, "{operator}", 10) == 0) {
			st = rp__api_check_operator_name(v->p, v->len);
			what = "operator name";
		} else if (strncmp(p, "{alert}", 7) == 0) {
			st = rp__api_parse_id(v->p, v->len, &id);
			what = "alert id (a positive integer)";
		}
		if (st != RP_OK) {
			rp__api_fail(r, 400, "invalid_path", "the path holds an invalid %s", what);
			return 0;
		}
		p++;
		i++;
	}
	return 1;
}

static void clear_cookie(rp__api_req *r)
{
	(void)rp__api_header(r, "Set-Cookie: " RP__API_SESSION_COOKIE
				"=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
}

static int session_auth(rp__api_req *r, const char *val, size_t len)
{
	rp_store_websession *ws = NULL;
	rp_store_operator *op = NULL;
	rp_status st;
	int ok = 0;

	if (rp_token_hash_hex((const uint8_t *)val, len, RP_TOKEN_SESSION, r->session_hash) !=
	    RP_OK) {
		clear_cookie(r);
		rp__api_fail(r, 401, "unauthenticated", "the session cookie is not a session");
		goto out;
	}
	st = rp_store_websession_get(r->api->store, r->session_hash, &ws, NULL, NULL);
	if (st == RP_E_NOT_FOUND || (st == RP_OK && ws->expires_ms <= r->now_ms)) {
		clear_cookie(r);
		rp__api_fail(r, 401, "unauthenticated", "the session has ended; log in again");
		goto out;
	}
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "session");
		goto out;
	}
	st = rp_store_operator_get(r->api->store, ws->operator_name, &op, NULL, NULL);
	if (st == RP_E_NOT_FOUND || (st == RP_OK && op->disabled) ||
	    (st == RP_OK && ws->created_ms < rp__api_sessions_valid_from(r, ws->operator_name))) {
		clear_cookie(r);
		rp__api_fail(r, 401, "unauthenticated", "the session has ended; log in again");
		goto out;
	}
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "operator");
		goto out;
	}
	snprintf(r->actor, sizeof(r->actor), "%s", op->name);
	snprintf(r->csrf_hash, sizeof(r->csrf_hash), "%s", ws->csrf_hash);
	r->role = rp__api_role_from_store((int)op->role);
	r->session_created_ms = ws->created_ms;
	r->restricted = (rp__api_totp_required(r) || op->totp_required) && op->totp_secret_len == 0;
	ok = 1;
out:
	rp_store_free(ws);
	rp_store_free(op);
	return ok;
}

static void retry_after(rp__api_req *r, uint64_t until_ms)
{
	uint64_t s = until_ms > r->mono_ms ? (until_ms - r->mono_ms + 999u) / 1000u : 1u;

	(void)rp__api_header(r, "Retry-After: %" PRIu64, s < 1u ? 1u : s);
}

static int bearer_auth(rp__api_req *r, const char *hdr)
{
	rp_throttle *t = r->api->throttle;
	const uint8_t *addr = (const uint8_t *)r->addr_key;
	size_t alen = strlen(r->addr_key);
	char hash[RP_SHA256_HEX_LEN + 1u];
	rp_store_token *tok = NULL;
	rp_store_operator *op = NULL;
	uint64_t until = 0;
	const char *v;
	rp_role orole;
	rp_status st;
	int ok = 0;

	if (strncasecmp(hdr, "Bearer ", 7) != 0) {
		rp__api_header(r, "WWW-Authenticate: Bearer realm=\"rampart\"");
		rp__api_fail(r, 401, "unauthenticated", "Authorization must be \"Bearer rpt_...\"");
		return 0;
	}
	v = hdr + 7;
	st = rp_throttle_check(t, NULL, 0, addr, alen, r->mono_ms, &until);
	if (st == RP_E_DENIED) {
		retry_after(r, until);
		rp__api_fail(r, 429, "throttled",
			     "too many failed authentications from this address; try later");
		return 0;
	}
	if (st != RP_OK) {
		rp__api_fail(r, 503, "busy", "authentication is not possible now");
		return 0;
	}
	if (rp_token_hash_hex((const uint8_t *)v, strnlen(v, RP_TOKEN_LEN + 1u), RP_TOKEN_API,
			      hash) != RP_OK) {
		goto refuse;
	}
	st = rp_store_token_get_by_hash(r->api->store, hash, &tok, NULL, NULL);
	if (st == RP_E_NOT_FOUND) {
		goto refuse;
	}
	if (st != RP_OK) {
		rp_throttle_cancel(t, NULL, 0, addr, alen, r->mono_ms);
		rp__api_fail_status(r, st, "token");
		goto out;
	}
	if (tok->revoked_ms != 0 || tok->expires_ms <= r->now_ms) {
		goto refuse;
	}
	st = rp_store_operator_get(r->api->store, tok->operator_name, &op, NULL, NULL);
	if (st == RP_E_NOT_FOUND || (st == RP_OK && op->disabled)) {
		goto refuse;
	}
	if (st != RP_OK) {
		rp_throttle_cancel(t, NULL, 0, addr, alen, r->mono_ms);
		rp__api_fail_status(r, st, "operator");
		goto out;
	}
	rp_throttle_success(t, NULL, 0, addr, alen, r->mono_ms);
	orole = rp__api_role_from_store((int)op->role);
	r->role = rp__api_role_from_store((int)tok->role);
	if (!rp_role_covers(orole, r->role)) {
		rp__api_header(
			r, "WWW-Authenticate: Bearer realm=\"rampart\", error=\"invalid_token\"");
		rp__api_fail(r, 401, "unauthenticated",
			     "the token's owner no longer holds the token's role");
		goto out;
	}
	r->via_token = 1;
	snprintf(r->actor, sizeof(r->actor), "%s", op->name);
	snprintf(r->token_id, sizeof(r->token_id), "%s", tok->id);
	ok = 1;
	goto out;
refuse:
	(void)rp_throttle_failure(t, NULL, 0, addr, alen, r->mono_ms);
	rp__api_header(r, "WWW-Authenticate: Bearer realm=\"rampart\", error=\"invalid_token\"");
	rp__api_fail(r, 401, "unauthenticated", "the token is unknown, expired or revoked");
out:
	rp_store_free(tok);
	rp_store_free(op);
	return ok;
}

static int authenticate(rp__api_req *r, const struct mg_request_info *ri)
{
	const char *cookie, *authz, *val = NULL;
	size_t len = 0;
	rp_status st;

	if (header_once(ri, "Cookie", &cookie) < 0 ||
	    header_once(ri, "Authorization", &authz) < 0) {
		rp__api_fail(r, 400, "bad_request", "Cookie or Authorization given twice");
		return 0;
	}
	st = rp__api_cookie_get(cookie, RP__API_SESSION_COOKIE, &val, &len);
	if (st == RP_E_MALFORMED) {
		clear_cookie(r);
		rp__api_fail(r, 400, "bad_request",
			     "the session cookie appears twice or is malformed");
		return 0;
	}
	if (st == RP_OK && authz != NULL) {
		rp__api_fail(r, 400, "bad_request",
			     "send either the session cookie or a bearer token, not both");
		return 0;
	}
	if (st == RP_OK) {
		return session_auth(r, val, len);
	}
	if (authz != NULL) {
		return bearer_auth(r, authz);
	}
	rp__api_header(r, "WWW-Authenticate: Bearer realm=\"rampart\"");
	rp__api_fail(r, 401, "unauthenticated",
		     "log in (POST /api/v1/login) or send Authorization: Bearer rpt_...");
	return 0;
}

/* application/json, with at most a charset=utf-8 parameter. */
static int is_json_type(const char *ct)
{
	static const char t[] = "application/json";
	size_t n = sizeof(t) - 1u;

	if (ct == NULL || strncasecmp(ct, t, n) != 0) {
		return 0;
	}
	ct += n;
	while (*ct == ' ') {
		ct++;
	}
	if (*ct == '\0') {
		return 1;
	}
	if (*ct != ';') {
		return 0;
	}
	ct++;
	while (*ct == ' ') {
		ct++;
	}
	return strcasecmp(ct, "charset=utf-8") == 0;
}

rp_status rp__api_read_body(rp__api_req *r, const struct mg_request_info *ri, size_t cap,
			    uint8_t **out, size_t *len)
{
	int json = (r->match.route == NULL || (r->match.route->flags & RP__API_F_EST) == 0);
	uint8_t *buf;
	size_t got = 0;

	*out = NULL;
	*len = 0;
	buf = rp_alloc(NULL, cap + 1u);
	if (buf == NULL) {
		json ? rp__api_fail(r, 503, "busy", "out of memory")
		     : rp__api_fail_text(r, 503, "out of memory");
		return RP_E_MALFORMED;
	}
	for (;;) {
		int n = mg_read(r->conn, buf + got, cap + 1u - got);

		if (n == 0) {
			break;
		}
		if (n < 0) {
			json ? rp__api_fail(r, 400, "bad_request", "the body could not be read")
			     : rp__api_fail_text(r, 400, "the body could not be read");
			goto fail;
		}
		got += (size_t)n;
		if (got > cap) {
			json ? rp__api_fail(r, 413, "too_large",
					    "the body is larger than %zu bytes", cap)
			     : rp__api_fail_text(r, 413, "the body is larger than %zu bytes", cap);
			goto fail;
		}
	}
	if (ri->content_length >= 0 && (long long)got != ri->content_length) {
		json ? rp__api_fail(r, 400, "bad_request",
				    "the body is shorter than its Content-Length")
		     : rp__api_fail_text(r, 400, "the body is shorter than its Content-Length");
		goto fail;
	}
	r->body_consumed = 1;
	*out = buf;
	*len = got;
	return RP_OK;
fail:
	rp_free_secret(NULL, buf);
	return RP_E_MALFORMED;
}

/* Reads the body (at most cap bytes) and parses it. */
static int read_body(rp__api_req *r, const struct mg_request_info *ri, size_t cap)
{
	char why[RP__API_WHY_CAP];
	uint8_t *buf = NULL;
	size_t got = 0;
	rp_status st;
	int ok = 0;

	if (rp__api_read_body(r, ri, cap, &buf, &got) != RP_OK) {
		return 0;
	}
	st = rp__api_json_parse(buf, got, &r->body, why, sizeof(why));
	if (st == RP_E_NOMEM) {
		rp__api_fail(r, 503, "busy", "out of memory");
		goto out;
	}
	if (st != RP_OK) {
		rp__api_fail(r, 400, "malformed_json", "%s", why);
		goto out;
	}
	ok = 1;
out:
	rp_free_secret(NULL, buf);
	return ok;
}

static void serve(rp__api_req *r, const struct mg_request_info *ri)
{
	const char *path = ri->local_uri != NULL ? ri->local_uri : "";
	const char *q = ri->query_string, *te, *origin, *sfs, *host, *csrf;
	const rp__api_route *rt;
	char why[RP__API_WHY_CAP];
	unsigned flags;
	size_t cap;
	int code;
	rp_status st;

	if (strncmp(path, RP__API_EST_PREFIX, sizeof(RP__API_EST_PREFIX) - 1u) == 0) {
		rp__api_est_serve(r, ri); /* RFC 7030: its own media types and errors */
		return;
	}
	if (strcmp(path, RP__API_CRL_PATH) == 0) {
		rp__api_crl_serve(r, ri); /* public, DER, cacheable */
		return;
	}
	if (rp__api_method_parse(ri->request_method, &r->method) != RP_OK) {
		rp__api_header(r, "Allow: GET, POST, PUT, PATCH, DELETE");
		rp__api_fail(r, 405, "method_not_allowed",
			     "this API takes GET, POST, PUT, PATCH, DELETE");
		return;
	}
	code = rp__api_route_find(r->method, path, strlen(path), &r->match);
	if (code == 404) {
		rp__api_fail(r, 404, "not_found", "no such route (the API is under /api/v1)");
		return;
	}
	if (code == 405) {
		char allow[64] = "";
		size_t n = 0;

		for (int m = 0; m < (int)RP__API_METHODS_; m++) {
			if (r->match.allow & (1u << m)) {
				n += (size_t)snprintf(allow + n, sizeof(allow) - n, "%s%s",
						      n ? ", " : "",
						      rp__api_method_name((rp__api_method)m));
			}
		}
		rp__api_header(r, "Allow: %s", allow);
		rp__api_fail(r, 405, "method_not_allowed", "this route takes %s", allow);
		return;
	}
	rt = r->match.route;
	flags = rt->flags;
	if (!check_params(r)) {
		return;
	}
	st = rp__api_query_parse(rt->query, q, q != NULL ? strlen(q) : 0, &r->query, why,
				 sizeof(why));
	if (st != RP_OK) {
		rp__api_fail(r, st == RP_E_LIMIT ? 414 : 400, "invalid_query", "%s", why);
		return;
	}
	if (header_once(ri, "Origin", &origin) < 0 || header_once(ri, "Host", &host) < 0 ||
	    header_once(ri, "Sec-Fetch-Site", &sfs) < 0 ||
	    header_once(ri, "Transfer-Encoding", &te) < 0 ||
	    header_once(ri, "X-CSRF-Token", &csrf) < 0) {
		rp__api_fail(r, 400, "bad_request", "a header that may appear once appears twice");
		return;
	}
	if (rp__api_method_changes(r->method) && !rp__api_origin_ok(origin, sfs, host)) {
		rp__api_fail(r, 403, "cross_origin",
			     "state-changing requests from another origin are refused");
		return;
	}
	/* Sizes before a byte of the body is read, stricter before authentication. */
	cap = (flags & RP__API_F_PUBLIC) ? RP_LIMIT_API_PREAUTH_BODY : r->api->max_body;
	if ((flags & RP__API_F_BODY) == 0) {
		if (ri->content_length > 0 || te != NULL) {
			rp__api_fail(r, 400, "bad_request", "this request takes no body");
			return;
		}
	} else {
		if (!is_json_type(mg_get_header(r->conn, "Content-Type"))) {
			rp__api_fail(r, 415, "unsupported_media_type",
				     "the body must be Content-Type: application/json");
			return;
		}
		if (ri->content_length > (long long)cap) {
			rp__api_fail(r, 413, "too_large", "the body is larger than %zu bytes", cap);
			return;
		}
	}
	if ((flags & RP__API_F_PUBLIC) == 0) {
		if (!authenticate(r, ri)) {
			return;
		}
		switch (rp__api_authorize(rt, r->role, r->restricted, r->via_token)) {
		case RP__API_AUTHZ_OK:
			break;
		case RP__API_AUTHZ_TOTP:
			rp__api_fail(r, 403, "totp_enrolment_required",
				     "TOTP is required: enrol (POST /api/v1/me/totp) first");
			return;
		case RP__API_AUTHZ_NEED_SESSION:
			rp__api_fail(r, 403, "session_required",
				     "this route is for a web session, not an API token");
			return;
		default:
			rp__api_fail(r, 403, "forbidden", "role %s lacks permission %s",
				     rp_role_name(r->role) != NULL ? rp_role_name(r->role) : "?",
				     rp_perm_name(rt->perm));
			return;
		}
		if (!r->via_token && rp__api_method_changes(r->method) &&
		    rp__api_csrf_check(csrf, r->csrf_hash) != RP_OK) {
			rp__api_fail(r, 403, "csrf",
				     "missing or wrong X-CSRF-Token (from the login response or "
				     "GET /api/v1/session)");
			return;
		}
	}
	if ((flags & RP__API_F_BODY) != 0 && !read_body(r, ri, cap)) {
		return;
	}
	rt->handler(r);
	if (r->status == 0) {
		rp_log(RP_LOG_ERROR, "api", "internal: %s %s gave no reply",
		       rp__api_method_name(r->method), rt->path);
		rp__api_fail(r, 500, "internal", "no reply");
	}
}

static int on_request(struct mg_connection *c)
{
	rp_api *api = mg_get_user_data(mg_get_context(c));
	const struct mg_request_info *ri = mg_get_request_info(c);
	char pathq[80], meth[16];
	uint64_t t0 = mono_ms();
	rp__api_req *r;
	int status;

	r = rp_calloc(NULL, 1, sizeof(*r));
	if (r == NULL) {
		static const char body[] = "{\"error\":\"busy\",\"detail\":\"out of memory\"}";

		write_response(c, 503, body, sizeof(body) - 1u, NULL, 0, 1);
		return 503;
	}
	r->api = api;
	r->conn = c;
	r->now_ms = wall_ms();
	r->mono_ms = t0;
	r->role = RP_ROLE_COUNT_;
	/* A request without a body has nothing left to read; one with a body
	 * is consumed only once read_body() has read all of it. */
	r->body_consumed = ri->content_length <= 0 && mg_get_header(c, "Transfer-Encoding") == NULL;
	peer_of(r, ri);
	serve(r, ri);
	status = r->status;
	rp_log(RP_LOG_INFO, "api", "%s %s %d %s from %s (%" PRIu64 " ms)",
	       ri->request_method != NULL
		       ? rp_log_escape(meth, sizeof(meth), (const uint8_t *)ri->request_method,
				       strlen(ri->request_method))
		       : "?",
	       r->match.route != NULL
		       ? r->match.route->path
		       : rp_log_escape(pathq, sizeof(pathq), (const uint8_t *)ri->local_uri,
				       ri->local_uri != NULL ? strlen(ri->local_uri) : 0),
	       status, r->actor[0] != '\0' ? r->actor : "-", r->peer, mono_ms() - t0);
	json_decref(r->body);
	for (size_t i = 0; i < r->nextra; i++) {
		rp_free_secret(NULL, r->extra[i]); /* Set-Cookie holds a session token */
	}
	rp_free_secret(NULL, r);
	return status;
}

/* ------------------------------------------------------------------------
 * Start and stop
 * ------------------------------------------------------------------------ */

/* "A.B.C.D:port" or "[v6]:port", numeric; the CivetWeb form appends 's'. */
static rp_status listen_spec(const char *address, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *hs, *he;
	uint8_t bin[16];
	unsigned long port;
	char *end;
	int v6;

	if (address == NULL) {
		return RP_E_INVALID_ARG;
	}
	v6 = address[0] == '[';
	if (v6) {
		he = strchr(address, ']');
		if (he == NULL || he[1] != ':') {
			return RP_E_INVALID_ARG;
		}
		hs = address + 1;
		colon = he + 1;
	} else {
		colon = strrchr(address, ':');
		if (colon == NULL) {
			return RP_E_INVALID_ARG;
		}
		hs = address;
		he = colon;
	}
	if ((size_t)(he - hs) >= sizeof(host) || he == hs) {
		return RP_E_INVALID_ARG;
	}
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, host, bin) != 1) {
		return RP_E_INVALID_ARG;
	}
	if (colon[1] < '0' || colon[1] > '9' || (colon[1] == '0' && colon[2] != '\0')) {
		return RP_E_INVALID_ARG;
	}
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || port > 65535u) {
		return RP_E_INVALID_ARG;
	}
	if ((size_t)snprintf(out, cap, "%s%s%s:%lus", v6 ? "[" : "", host, v6 ? "]" : "", port) >=
	    cap) {
		return RP_E_INVALID_ARG;
	}
	return RP_OK;
}

static rp_status check_opts(const rp_api_opts *o, char *err, size_t cap)
{
	struct {
		size_t v, max;
		const char *name;
	} caps[] = {
		{o->threads, RP_LIMIT_API_THREADS, "threads"},
		{o->queue, RP_LIMIT_API_QUEUE, "queue"},
		{o->max_header, RP_LIMIT_API_HEADER_BYTES, "max_header"},
		{o->max_body, RP_LIMIT_API_BODY, "max_body"},
		{o->request_timeout_ms, RP_LIMIT_API_REQUEST_TIMEOUT_MS, "request_timeout_ms"},
		{o->keepalive_ms, RP_LIMIT_API_KEEPALIVE_MS, "keepalive_ms"},
		{o->session_lifetime_s, RP_LIMIT_SESSION_LIFETIME_S, "session_lifetime_s"},
		{o->token_lifetime_s, RP_LIMIT_API_TOKEN_LIFETIME_S, "token_lifetime_s"},
		{o->token_lifetime_max_s, RP_LIMIT_API_TOKEN_LIFETIME_S, "token_lifetime_max_s"},
	};

	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		if (caps[i].v > caps[i].max) {
			rp_errf(err, cap, "api: %s %zu is above its hard cap %zu", caps[i].name,
				caps[i].v, caps[i].max);
			return RP_E_INVALID_ARG;
		}
	}
	if (o->max_header != 0 && o->max_header < 1024u) {
		rp_errf(err, cap, "api: max_header below 1024 bytes");
		return RP_E_INVALID_ARG;
	}
	if (o->max_body != 0 && o->max_body < RP_LIMIT_API_PREAUTH_BODY) {
		rp_errf(err, cap, "api: max_body below %u bytes", RP_LIMIT_API_PREAUTH_BODY);
		return RP_E_INVALID_ARG;
	}
	if (o->cert_file == NULL || o->cert_file[0] == '\0' || o->key_file == NULL ||
	    o->key_file[0] == '\0') {
		rp_errf(err, cap, "api: a certificate and a key are required (HTTPS only)");
		return RP_E_INVALID_ARG;
	}
	if (o->password != NULL && !o->allow_weak_params &&
	    rp_password_params_check(o->password) != RP_OK) {
		rp_errf(err, cap, "api: Argon2 parameters below the floors of rampart/limits.h");
		return RP_E_CONFIG;
	}
	return RP_OK;
}

static unsigned or_default(unsigned v, unsigned def)
{
	return v != 0 ? v : def;
}

static void free_api(rp_api *api)
{
	size_t cur = 0;
	const void *k;
	size_t klen;
	void *v;

	if (api == NULL) {
		return;
	}
	if (api->voided != NULL) {
		while (rp_map_next(api->voided, &cur, &k, &klen, &v)) {
			rp_free(NULL, v);
		}
		rp_map_free(api->voided);
	}
	cur = 0;
	if (api->pending != NULL) {
		while (rp_map_next(api->pending, &cur, &k, &klen, &v)) {
			rp_free_secret(NULL, v);
		}
		rp_map_free(api->pending);
	}
	rp_throttle_free(api->throttle);
	rp__api_est_free(api->est);
	rp_free(NULL, api->cert_file);
	rp_free(NULL, api->key_file);
	X509_free(api->cert);
	sk_X509_pop_free(api->chain, X509_free);
	EVP_PKEY_free(api->key);
	if (api->cert_mu_ok) {
		pthread_mutex_destroy(&api->cert_mu);
	}
	pthread_mutex_destroy(&api->mu);
	rp_free_secret(NULL, api);
}

rp_status rp_api_start(const rp_api_opts *o, rp_store *store, rp_api **out, char *err,
		       size_t err_cap)
{
	char listen[INET6_ADDRSTRLEN + 16], threads[16], queue[16], header[24], timeout[16],
		keepalive[16];
	const char *mg_opts[32];
	struct mg_callbacks cb;
	struct mg_init_data init;
	struct mg_error_data merr;
	struct mg_server_port ports[2];
	char mg_why[256] = "";
	unsigned mg_code = 0;
	rp_throttle_config tc;
	rp_api *api = NULL;
	rp_status st;
	size_t i = 0;

	if (o == NULL || store == NULL || out == NULL) {
		rp_errf(err, err_cap, "api: missing argument");
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	st = check_opts(o, err, err_cap);
	if (st != RP_OK) {
		return st;
	}
	if (listen_spec(o->address, listen, sizeof(listen)) != RP_OK) {
		rp_errf(err, err_cap,
			"api: address must be a numeric IPv4 or [IPv6] address and a port");
		return RP_E_INVALID_ARG;
	}
	if (listen[0] == '[' && mg_check_feature(MG_FEATURES_IPV6) == 0) {
		rp_errf(err, err_cap, "api: this CivetWeb was built without IPv6: listen on IPv4");
		return RP_E_CONFIG;
	}
	rp_api_json_init();
	st = rp__api_civetweb_tls_init(err, err_cap);
	if (st != RP_OK) {
		return st;
	}
	api = rp_calloc(NULL, 1, sizeof(*api));
	if (api == NULL) {
		rp_errf(err, err_cap, "api: out of memory");
		return RP_E_NOMEM;
	}
	if (pthread_mutex_init(&api->mu, NULL) != 0) {
		rp_free(NULL, api);
		rp_errf(err, err_cap, "api: out of memory");
		return RP_E_NOMEM;
	}
	if (pthread_mutex_init(&api->cert_mu, NULL) != 0) {
		rp_errf(err, err_cap, "api: out of memory");
		st = RP_E_NOMEM;
		goto fail;
	}
	api->cert_mu_ok = 1;
	api->store = store;
	api->allow_tls12 = o->allow_tls12 != 0;
	api->max_body = o->max_body != 0 ? o->max_body : RP_DEFAULT_API_BODY;
	api->session_lifetime_s = or_default(o->session_lifetime_s, RP_DEFAULT_SESSION_LIFETIME_S);
	api->token_lifetime_max_s =
		or_default(o->token_lifetime_max_s, RP_LIMIT_API_TOKEN_LIFETIME_S);
	api->token_lifetime_s = or_default(o->token_lifetime_s, RP_DEFAULT_API_TOKEN_LIFETIME_S);
	if (api->token_lifetime_s > api->token_lifetime_max_s) {
		api->token_lifetime_s = api->token_lifetime_max_s;
	}
	api->totp_required = o->totp_required != 0;
	api->publish = o->publish;
	api->publish_ctx = o->publish_ctx;
	api->revoked = o->revoked;
	api->revoked_ctx = o->revoked_ctx;
	api->crl = o->crl;
	api->crl_ctx = o->crl_ctx;
	if (o->password != NULL) {
		api->pw = *o->password;
	} else {
		rp_password_params_default(&api->pw);
	}
	if (o->secret_key != NULL) {
		memcpy(api->secret_key, o->secret_key, SECRET_KEY_LEN);
		api->has_secret_key = 1;
	}
	api->cert_file = dupstr(o->cert_file);
	api->key_file = dupstr(o->key_file);
	api->voided = rp_map_new(NULL);
	api->pending = rp_map_new(NULL);
	if (api->cert_file == NULL || api->key_file == NULL || api->voided == NULL ||
	    api->pending == NULL) {
		rp_errf(err, err_cap, "api: out of memory");
		st = RP_E_NOMEM;
		goto fail;
	}
	if (o->throttle != NULL) {
		tc = *o->throttle;
	} else {
		rp_throttle_config_default(&tc);
	}
	tc.on_lock = on_lock;
	tc.ctx = api;
	st = rp_throttle_new(&tc, &api->throttle);
	if (st != RP_OK) {
		rp_errf(err, err_cap, "api: login throttle: %s", rp_status_str(st));
		goto fail;
	}
	st = rp__api_est_load(o, &api->est, err, err_cap);
	if (st != RP_OK) {
		goto fail;
	}

	snprintf(threads, sizeof(threads), "%u", or_default(o->threads, RP_DEFAULT_API_THREADS));
	snprintf(queue, sizeof(queue), "%u", or_default(o->queue, RP_DEFAULT_API_QUEUE));
	snprintf(header, sizeof(header), "%zu",
		 o->max_header != 0 ? o->max_header : (size_t)RP_DEFAULT_API_HEADER_BYTES);
	snprintf(timeout, sizeof(timeout), "%u",
		 or_default(o->request_timeout_ms, RP_DEFAULT_API_REQUEST_TIMEOUT_MS));
	snprintf(keepalive, sizeof(keepalive), "%u",
		 or_default(o->keepalive_ms, RP_DEFAULT_API_KEEPALIVE_MS));
	mg_opts[i++] = "listening_ports";
	mg_opts[i++] = listen;
	mg_opts[i++] = "num_threads";
	mg_opts[i++] = threads;
	mg_opts[i++] = "connection_queue";
	mg_opts[i++] = queue;
	mg_opts[i++] = "max_request_size";
	mg_opts[i++] = header;
	mg_opts[i++] = "request_timeout_ms";
	mg_opts[i++] = timeout;
	mg_opts[i++] = "enable_keep_alive";
	mg_opts[i++] = "yes";
	mg_opts[i++] = "keep_alive_timeout_ms";
	mg_opts[i++] = keepalive;
	mg_opts[i++] = "enable_directory_listing";
	mg_opts[i++] = "no";
	mg_opts[i++] = "enable_auth_domain_check";
	mg_opts[i++] = "no";
	mg_opts[i++] = "ssl_protocol_version";
	mg_opts[i++] = "4"; /* TLS 1.2 and up; init_ssl raises it to 1.3 */
	mg_opts[i++] = NULL;

	memset(&cb, 0, sizeof(cb));
	cb.begin_request = on_request;
	cb.http_error = on_http_error;
	cb.log_message = on_log_message;
	/* No log_access callback: with one, CivetWeb formats its own access line
	 * with localtime() on every worker at once (a data race). We log our own. */
	cb.init_ssl = on_init_ssl;
	memset(&init, 0, sizeof(init));
	init.callbacks = &cb;
	init.user_data = api;
	init.configuration_options = mg_opts;
	memset(&merr, 0, sizeof(merr));
	merr.code = &mg_code;
	merr.text = mg_why;
	merr.text_buffer_size = sizeof(mg_why);
	api->mg = mg_start2(&init, &merr);
	if (api->mg == NULL) {
		char esc[200];

		if (api->tls_err[0] != '\0') {
			rp_errf(err, err_cap, "api: %s", api->tls_err);
		} else {
			rp_errf(err, err_cap, "api: cannot start on %s: %s", o->address,
				rp_log_escape(esc, sizeof(esc), (const uint8_t *)mg_why,
					      strnlen(mg_why, sizeof(mg_why))));
		}
		st = RP_E_CONFIG;
		goto fail;
	}
	memset(ports, 0, sizeof(ports));
	if (mg_get_server_ports(api->mg, 2, ports) < 1 || ports[0].port <= 0 ||
	    ports[0].port > 65535) {
		rp_errf(err, err_cap, "api: no listening port");
		st = RP_E_CONFIG;
		goto fail;
	}
	api->port = (uint16_t)ports[0].port;
	rp_log(RP_LOG_INFO, "api", "HTTPS on %s (port %u), TLS %s, %s threads", o->address,
	       (unsigned)api->port, api->allow_tls12 ? "1.2 and 1.3" : "1.3", threads);
	if (!api->has_secret_key) {
		rp_log(RP_LOG_WARN, "api",
		       "no secrets-at-rest key: TOTP secrets are stored in the clear");
	}
	*out = api;
	return RP_OK;
fail:
	if (api->mg != NULL) {
		mg_stop(api->mg);
	}
	free_api(api);
	return st;
}

uint16_t rp_api_port(const rp_api *api)
{
	return api != NULL ? api->port : 0;
}

/* The certificate file: the leaf, then its chain (every other certificate). */
static X509 *read_chain(const char *path, STACK_OF(X509) * *chain, char *err, size_t cap)
{
	BIO *bio = BIO_new_file(path, "r");
	X509 *leaf = NULL, *x;
	int ok = 0;

	*chain = sk_X509_new_null();
	if (bio == NULL || *chain == NULL) {
		rp_errf(err, cap, "%s: cannot open the certificate", path);
		goto out;
	}
	leaf = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
	if (leaf == NULL) {
		rp_errf(err, cap, "%s: not a PEM certificate chain", path);
		goto out;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)) != NULL) {
		if (sk_X509_num(*chain) >= (int)RP_LIMIT_PKI_P7_CERTS ||
		    sk_X509_push(*chain, x) <= 0) {
			X509_free(x);
			rp_errf(err, cap, "%s: too many certificates in the chain", path);
			goto out;
		}
	}
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE) {
		rp_errf(err, cap, "%s: malformed PEM certificate", path);
		goto out;
	}
	ok = 1;
out:
	if (!ok) {
		X509_free(leaf);
		leaf = NULL;
		sk_X509_pop_free(*chain, X509_free);
		*chain = NULL;
	}
	BIO_free(bio);
	ERR_clear_error();
	return leaf;
}

rp_status rp_api_reload_cert(rp_api *api, char *err, size_t err_cap)
{
	STACK_OF(X509) *chain = NULL, *old_chain;
	X509 *leaf = NULL, *old_cert;
	EVP_PKEY *key = NULL, *old_key;
	SSL_CTX *probe = NULL;
	rp_status st = RP_E_CONFIG;

	if (api == NULL) {
		rp_errf(err, err_cap, "api: not running");
		return RP_E_INVALID_ARG;
	}
	leaf = read_chain(api->cert_file, &chain, err, err_cap);
	if (leaf == NULL) {
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(leaf)) <= 0 ||
	    X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0) {
		rp_errf(err, err_cap, "%s: the certificate is not valid now", api->cert_file);
		goto out;
	}
	key = read_key(api->key_file, err, err_cap);
	if (key == NULL) {
		goto out;
	}
	/* What a connection would do with the pair, on a context of our own:
	 * the key is the certificate's, both pass security level 2. */
	probe = SSL_CTX_new(TLS_server_method());
	if (probe == NULL) {
		rp_errf(err, err_cap, "api: out of memory");
		st = RP_E_NOMEM;
		goto out;
	}
	SSL_CTX_set_security_level(probe, SECURITY_LEVEL);
	if (X509_check_private_key(leaf, key) != 1) {
		rp_errf(err, err_cap, "%s: key does not match the server certificate %s",
			api->key_file, api->cert_file);
		goto out;
	}
	if (SSL_CTX_use_cert_and_key(probe, leaf, key, chain, 1) != 1) {
		rp_errf(err, err_cap,
			"%s: refused by the TLS policy (too weak for security level 2?)",
			api->cert_file);
		goto out;
	}
	pthread_mutex_lock(&api->cert_mu);
	old_cert = api->cert;
	old_chain = api->chain;
	old_key = api->key;
	api->cert = leaf;
	api->chain = chain;
	api->key = key;
	pthread_mutex_unlock(&api->cert_mu);
	leaf = old_cert;
	chain = old_chain;
	key = old_key;
	st = RP_OK;
out:
	SSL_CTX_free(probe);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(key);
	ERR_clear_error();
	return st;
}

rp_status rp__api_crl_get(const rp__api_req *r, rp_api_crl *out)
{
	memset(out, 0, sizeof(*out));
	if (r->api->crl == NULL) {
		return RP_E_NOT_FOUND;
	}
	return r->api->crl(r->api->crl_ctx, out);
}

void rp_api_stop(rp_api *api)
{
	if (api == NULL) {
		return;
	}
	if (api->mg != NULL) {
		mg_stop(api->mg);
	}
	free_api(api);
}

const rp__api_qval *rp__api_q(const rp__api_req *r, const char *name)
{
	return rp__api_query_get(r->match.route->query, &r->query, name);
}

int rp__api_after(rp__api_req *r, char k, rp__api_cursor *c)
{
	const rp__api_qval *v = rp__api_q(r, "after");

	if (v == NULL) {
		return 0;
	}
	if (rp__api_cursor_decode(v->str, v->len, k, c) != RP_OK) {
		rp__api_fail(r, 400, "invalid_query",
			     "query parameter 'after' is not a cursor of this list");
		return -1;
	}
	return 1;
}
