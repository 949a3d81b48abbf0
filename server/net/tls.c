/*
 * tls.c - the TLS policy (rp_tls_ctx) and non-blocking TLS connections.
 *
 * Implementation notes
 *
 * Attacker: anyone who can open a TCP connection to the listener, before
 * any authentication; and a device whose certificate was revoked or has
 * expired and who still holds a session ticket. Everything the peer sends
 * (ClientHello, certificates, tickets) is hostile until the chain verified.
 *
 * State
 * - rp_tls_ctx: one SSL_CTX holding the policy, the fleet CA store with its
 *   CRLs and verification flags, and a reference to the ticket key ring.
 *   Immutable after creation, shared by all loop threads, refcounted.
 * - ticket_keys: the session ticket keys, current and previous, behind a
 *   mutex; shared by a context and the contexts reloaded from it, so that
 *   a SIGHUP does not cost every device a full handshake.
 * - rp_tls_conn: one SSL object over the fd, the handshake state, the
 *   identity extracted once at the end of the handshake, the last reason.
 *
 * Invariants
 * - Verdicts start as "refused": a conn is OPEN, and its identity valid,
 *   only after SSL_do_handshake() succeeded, a peer certificate is present,
 *   the verification result is X509_V_OK and the identity rules held.
 * - A resumed session is accepted only through ticket_dec_cb(), which
 *   re-verifies the session's certificate against the CURRENT store (CA,
 *   CRL, validity) first; a revoked device's ticket is ignored, and the
 *   full handshake that follows refuses its certificate. finish_handshake()
 *   re-verifies any resumed session that did not pass there.
 * - OpenSSL's per-thread error queue is cleared before every SSL call and
 *   after every failure, so one connection's errors never explain another's.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "loop/loop.h"
#include "net/tls.h"
#include "util/alloc.h"

/* The policy, in one place (docs/tls.md). */
#define TLS12_CIPHERS                                                                              \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                               \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                               \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"
#define TLS_GROUPS   "X25519:P-256:P-384"
/* 112-bit security: RSA and DH >= 2048 bits, ECC >= 224, no SHA-1 signatures. */
#define SECURITY_LEVEL 2
/* Largest key file read (a PEM key is a few hundred bytes to a few KiB). */
#define KEY_FILE_MAX    (64 * 1024)
#define ROLE_URI_PREFIX "urn:rampart:role:"

/* ---- ticket keys ---------------------------------------------------------- */

typedef struct ticket_key {
	uint8_t name[16]; /* sent in clear in the ticket: picks the key */
	uint8_t aes[32];  /* AES-256-CBC */
	uint8_t hmac[32]; /* HMAC-SHA256 */
	uint64_t since;   /* ms: when it became current, or was retired */
	int valid;
} ticket_key;

typedef struct ticket_keys {
	atomic_uint refs;
	pthread_mutex_t mu;
	uint64_t lifetime_ms; /* a key encrypts this long, then decrypts this long */
	ticket_key cur, prev;
} ticket_keys;

struct rp_tls_ctx {
	atomic_uint refs;
	SSL_CTX *ssl;
	ticket_keys *tk; /* NULL when tickets are disabled */
	time_t crl_next_update;
	rp_tls_opts opts; /* its strings point into strs */
	char *strs;
};

enum conn_state { ST_HANDSHAKE, ST_OPEN, ST_FAILED };

struct rp_tls_conn {
	rp_conn base; /* first: an rp_conn * of the TLS transport is an rp_tls_conn * */
	rp_tls_ctx *ctx;
	SSL *ssl;
	const char *err;         /* last reason, fixed text */
	const char *verify_err;  /* first reason the verify callback saw */
	uint8_t state;           /* enum conn_state */
	uint8_t wants;           /* RP_LOOP_READ or RP_LOOP_WRITE */
	uint8_t id_valid;        /* id was extracted from a verified certificate */
	uint8_t auth_failed;     /* the handshake failed on the certificate */
	uint8_t ticket_verified; /* ticket_dec_cb() re-verified the resumed session */
	uint8_t resumed;         /* the handshake resumed a session */
	/* No copy of the identity is kept: rp_tls_peer_identity() derives it
	 * again from the verified peer certificate the session holds, which
	 * saves about 330 bytes on every idle connection. Nor is the conn set
	 * as the SSL's app data (OpenSSL allocates about 100 bytes of ex_data
	 * for it): the callbacks find it through tl_handshaking. */
};

/*
 * The connection whose SSL_do_handshake() runs on this thread, NULL
 * outside it. verify_cb() and ticket_dec_cb() run only inside that call
 * (no renegotiation, no post-handshake authentication), on the same
 * thread; a callback that does not find its SSL here fails closed.
 */
static _Thread_local rp_tls_conn *tl_handshaking;

static rp_tls_conn *conn_of(const SSL *ssl)
{
	rp_tls_conn *c = tl_handshaking;

	return c != NULL && ssl != NULL && c->ssl == ssl ? c : NULL;
}

static const rp_conn_ops tls_ops;

/* STACK_OF() confuses clang-format; a name for the one stack we use. */
typedef STACK_OF(X509) cert_list;

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Writes "what: why" into err (if any). Paths and fixed texts only. */
static void set_err(char *err, size_t cap, const char *what, const char *why)
{
	if (err != NULL && cap > 0) {
		snprintf(err, cap, "%s: %s", what, why);
	}
}

/* The reason of the first queued OpenSSL error, a fixed library text. */
static const char *ossl_reason(const char *fallback)
{
	unsigned long e = ERR_peek_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	return r != NULL ? r : fallback;
}

static int draw_key(ticket_key *k, uint64_t now)
{
	if (RAND_bytes(k->name, sizeof(k->name)) != 1 ||
	    RAND_priv_bytes(k->aes, sizeof(k->aes)) != 1 ||
	    RAND_priv_bytes(k->hmac, sizeof(k->hmac)) != 1) {
		rp_wipe(k, sizeof(*k));
		ERR_clear_error();
		return 0;
	}
	k->since = now;
	k->valid = 1;
	return 1;
}

/* Caller holds tk->mu. Current becomes previous, a new one is drawn.
 * Returns 0 (and changes nothing) if the random generator failed. */
static int rotate_locked(ticket_keys *tk, uint64_t now)
{
	ticket_key fresh;

	if (!draw_key(&fresh, now)) {
		return 0;
	}
	rp_wipe(&tk->prev, sizeof(tk->prev));
	if (tk->cur.valid) {
		tk->prev = tk->cur;
		tk->prev.since = now;
	}
	tk->cur = fresh;
	rp_wipe(&fresh, sizeof(fresh));
	return 1;
}

/* Caller holds tk->mu. The time-driven part of the rotation. */
static void age_locked(ticket_keys *tk, uint64_t now)
{
	if (tk->prev.valid && now - tk->prev.since >= tk->lifetime_ms) {
		rp_wipe(&tk->prev, sizeof(tk->prev));
	}
	if (!tk->cur.valid || now - tk->cur.since >= tk->lifetime_ms) {
		/* On failure the old key stays current: tickets keep working,
		 * and the next handshake tries again. */
		(void)rotate_locked(tk, now);
	}
}

/* A fresh ring with one current key. RP_OK, RP_E_NOMEM or RP_E_CRYPTO. */
static rp_status ticket_keys_new(unsigned lifetime_s, ticket_keys **out)
{
	ticket_keys *tk = rp_calloc(NULL, 1, sizeof(*tk));

	*out = NULL;
	if (tk == NULL) {
		return RP_E_NOMEM;
	}
	if (pthread_mutex_init(&tk->mu, NULL) != 0) {
		rp_free(NULL, tk);
		return RP_E_NOMEM;
	}
	atomic_init(&tk->refs, 1);
	tk->lifetime_ms = (uint64_t)lifetime_s * 1000u;
	if (!rotate_locked(tk, mono_ms())) {
		pthread_mutex_destroy(&tk->mu);
		rp_free_secret(NULL, tk);
		return RP_E_CRYPTO;
	}
	*out = tk;
	return RP_OK;
}

static void ticket_keys_unref(ticket_keys *tk)
{
	if (tk != NULL && atomic_fetch_sub(&tk->refs, 1) == 1) {
		pthread_mutex_destroy(&tk->mu);
		rp_free_secret(NULL, tk);
	}
}

/* Loads k into OpenSSL's cipher and MAC contexts. 1 on success. */
static int load_key(ticket_key *k, const uint8_t *iv, EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx,
		    int enc)
{
	static char digest[] = "SHA256";
	OSSL_PARAM params[3];

	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k->hmac, sizeof(k->hmac));
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
	params[2] = OSSL_PARAM_construct_end();
	if (EVP_MAC_CTX_set_params(hctx, params) != 1) {
		return 0;
	}
	if (enc) {
		return EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) == 1;
	}
	return EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) == 1;
}

/*
 * OpenSSL's ticket key callback. enc: pick the current key, a fresh IV.
 * Decrypt: 1 with the current key, 2 with the previous one (OpenSSL then
 * issues a new ticket under the current key), 0 for an unknown key name
 * (full handshake), -1 on failure.
 */
static int ticket_key_cb(SSL *ssl, unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *cctx,
			 EVP_MAC_CTX *hctx, int enc)
{
	rp_tls_ctx *ctx = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	ticket_keys *tk = ctx != NULL ? ctx->tk : NULL;
	ticket_key *k = NULL;
	int ret = -1;

	if (tk == NULL) {
		return -1;
	}
	pthread_mutex_lock(&tk->mu);
	age_locked(tk, mono_ms());
	if (enc) {
		if (!tk->cur.valid || RAND_bytes(iv, 16) != 1) {
			goto out;
		}
		memcpy(name, tk->cur.name, sizeof(tk->cur.name));
		ret = load_key(&tk->cur, iv, cctx, hctx, 1) ? 1 : -1;
		goto out;
	}
	if (tk->cur.valid && CRYPTO_memcmp(name, tk->cur.name, 16) == 0) {
		k = &tk->cur;
		ret = 1;
	} else if (tk->prev.valid && CRYPTO_memcmp(name, tk->prev.name, 16) == 0) {
		k = &tk->prev;
		ret = 2;
	} else {
		ret = 0;
		goto out;
	}
	if (!load_key(k, iv, cctx, hctx, 0)) {
		ret = -1;
	}
out:
	pthread_mutex_unlock(&tk->mu);
	return ret;
}

rp_status rp_tls_ctx_rotate_ticket_keys(rp_tls_ctx *ctx)
{
	int ok;

	if (ctx == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (ctx->tk == NULL) {
		return RP_OK;
	}
	pthread_mutex_lock(&ctx->tk->mu);
	ok = rotate_locked(ctx->tk, mono_ms());
	pthread_mutex_unlock(&ctx->tk->mu);
	return ok ? RP_OK : RP_E_CRYPTO;
}

/* ---- identity ------------------------------------------------------------- */

/* Why s is not a usable device id, or NULL if it is. */
static const char *device_id_problem(const uint8_t *p, size_t len)
{
	size_t i = 0;

	if (len == 0) {
		return "certificate CN is empty";
	}
	if (len > RP_LIMIT_MQTT_CLIENT_ID_LEN) {
		return "certificate CN is longer than a client id may be";
	}
	while (i < len) {
		uint32_t cp, min;
		size_t n, k;
		uint8_t b = p[i];

		if (b < 0x80) {
			cp = b;
			n = 1;
			min = 0;
		} else if ((b & 0xE0) == 0xC0) {
			cp = b & 0x1Fu;
			n = 2;
			min = 0x80;
		} else if ((b & 0xF0) == 0xE0) {
			cp = b & 0x0Fu;
			n = 3;
			min = 0x800;
		} else if ((b & 0xF8) == 0xF0) {
			cp = b & 0x07u;
			n = 4;
			min = 0x10000;
		} else {
			return "certificate CN is not valid UTF-8";
		}
		if (n > len - i) {
			return "certificate CN is not valid UTF-8";
		}
		for (k = 1; k < n; k++) {
			if ((p[i + k] & 0xC0) != 0x80) {
				return "certificate CN is not valid UTF-8";
			}
			cp = (cp << 6) | (p[i + k] & 0x3Fu);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
			return "certificate CN is not valid UTF-8";
		}
		if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F)) {
			return "certificate CN holds a control character";
		}
		if (cp == '/' || cp == '+' || cp == '#') {
			return "certificate CN holds '/', '+' or '#'";
		}
		i += n;
	}
	return NULL;
}

rp_status rp_tls_check_device_id(const char *s, size_t len)
{
	if (s == NULL) {
		return RP_E_AUTH;
	}
	return device_id_problem((const uint8_t *)s, len) == NULL ? RP_OK : RP_E_AUTH;
}

static const char *cn_of(X509 *x, rp_peer_identity *id)
{
	const X509_NAME *nm = X509_get_subject_name(x);
	const ASN1_STRING *s;
	unsigned char *utf8 = NULL;
	const char *why = NULL;
	int i, n;

	i = X509_NAME_get_index_by_NID(nm, NID_commonName, -1);
	if (i < 0) {
		return "certificate subject has no CN";
	}
	if (X509_NAME_get_index_by_NID(nm, NID_commonName, i) >= 0) {
		return "certificate subject has more than one CN";
	}
	s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, i));
	/* Converts any string type to UTF-8, checking the input encoding. */
	n = ASN1_STRING_to_UTF8(&utf8, s);
	if (n < 0 || utf8 == NULL) {
		why = "certificate CN is not a valid string";
		goto out;
	}
	why = device_id_problem(utf8, (size_t)n);
	if (why == NULL) {
		memcpy(id->device_id, utf8, (size_t)n);
		id->device_id[n] = '\0';
	}
out:
	OPENSSL_free(utf8);
	return why;
}

/* Fills role/is_service from a SAN URI urn:rampart:role:<name>. */
static const char *role_of(X509 *x, rp_peer_identity *id)
{
	const size_t plen = sizeof(ROLE_URI_PREFIX) - 1;
	GENERAL_NAMES *gens;
	const char *why = NULL;
	int crit = 0, i, roles = 0;

	strcpy(id->role, "device");
	id->is_service = 0;
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	if (gens == NULL) {
		/* -1: no SAN (a device). -2: several SAN extensions. Else malformed. */
		return crit == -1 ? NULL : "certificate subjectAltName is ambiguous or malformed";
	}
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const unsigned char *u;
		size_t len, k;

		if (g->type != GEN_URI) {
			continue;
		}
		u = ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
		len = (size_t)ASN1_STRING_length(g->d.uniformResourceIdentifier);
		if (len < plen || memcmp(u, ROLE_URI_PREFIX, plen) != 0) {
			continue;
		}
		if (++roles > 1) {
			why = "certificate carries more than one role";
			goto out;
		}
		u += plen;
		len -= plen;
		if (len == 0 || len > RP_ROLE_NAME_MAX) {
			why = "certificate role name is empty or too long";
			goto out;
		}
		for (k = 0; k < len; k++) {
			unsigned char ch = u[k];

			if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
			      ch == '_' || ch == '.')) {
				why = "certificate role name holds a character outside [a-z0-9._-]";
				goto out;
			}
		}
		if (len == 6 && memcmp(u, "device", 6) == 0) {
			why = "certificate role \"device\" is reserved";
			goto out;
		}
		memcpy(id->role, u, len);
		id->role[len] = '\0';
		id->is_service = 1;
	}
out:
	GENERAL_NAMES_free(gens);
	return why;
}

static void hex(char *out, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1..12). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* An ASN1_TIME as Unix seconds; 0 on failure. */
static int64_t asn1_to_unix(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
		return 0;
	}
	return days_from_civil((int64_t)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday) * 86400 +
	       tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
}

/*
 * The identity carried by a certificate that already VERIFIED. Returns
 * NULL and fills *id, or returns the reason it is unusable (*id zeroed).
 */
static const char *identity_of(X509 *x, rp_peer_identity *id)
{
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	unsigned int mdlen = 0;
	const char *why;
	int snlen;

	memset(id, 0, sizeof(*id));
	why = cn_of(x, id);
	if (why == NULL) {
		why = role_of(x, id);
	}
	if (why != NULL) {
		goto out;
	}
	snlen = ASN1_STRING_length(sn);
	if (ASN1_STRING_type(sn) == V_ASN1_NEG_INTEGER || snlen <= 0) {
		why = "certificate serial number is not positive";
		goto out;
	}
	if ((size_t)snlen > RP_CERT_SERIAL_MAX) {
		why = "certificate serial number is longer than 20 octets";
		goto out;
	}
	hex(id->serial_hex, ASN1_STRING_get0_data(sn), (size_t)snlen);
	if (X509_digest(x, EVP_sha256(), id->sha256, &mdlen) != 1 || mdlen != sizeof(id->sha256)) {
		why = "cannot hash the certificate";
		goto out;
	}
	hex(id->sha256_hex, id->sha256, sizeof(id->sha256));
	id->not_after = asn1_to_unix(X509_get0_notAfter(x));
	if (id->not_after == 0) {
		why = "certificate notAfter is unreadable";
	}
out:
	if (why != NULL) {
		memset(id, 0, sizeof(*id));
	}
	return why;
}

/*
 * Verifies leaf (with untrusted intermediates, may be NULL) against ctx's
 * store now, as OpenSSL does for a client certificate, then the identity
 * rules. RP_OK, RP_E_AUTH (*why set), RP_E_NOMEM.
 */
static rp_status verify_now(const rp_tls_ctx *ctx, X509 *leaf, cert_list *untrusted,
			    const char **why)
{
	X509_STORE_CTX *sctx = NULL;
	X509_VERIFY_PARAM *param;
	rp_peer_identity tmp;
	rp_status st = RP_E_AUTH;

	*why = "certificate verification failed";
	if (leaf == NULL) {
		*why = "no peer certificate";
		goto out;
	}
	sctx = X509_STORE_CTX_new();
	if (sctx == NULL) {
		st = RP_E_NOMEM;
		*why = "out of memory";
		goto out;
	}
	if (X509_STORE_CTX_init(sctx, SSL_CTX_get_cert_store(ctx->ssl), leaf, untrusted) != 1 ||
	    X509_STORE_CTX_set_default(sctx, "ssl_client") != 1) {
		st = RP_E_NOMEM;
		*why = "out of memory";
		goto out;
	}
	param = X509_STORE_CTX_get0_param(sctx);
	X509_VERIFY_PARAM_set_depth(param, RP_TLS_VERIFY_DEPTH);
	X509_VERIFY_PARAM_set_auth_level(param, SECURITY_LEVEL);
	if (X509_verify_cert(sctx) != 1) {
		*why = X509_verify_cert_error_string(X509_STORE_CTX_get_error(sctx));
		goto out;
	}
	*why = identity_of(leaf, &tmp);
	if (*why == NULL) {
		*why = "";
		st = RP_OK;
	}
out:
	X509_STORE_CTX_free(sctx);
	ERR_clear_error();
	return st;
}

/*
 * OpenSSL's verification callback for the client chain: keeps the first
 * reason, and at depth 0, once the chain verified, applies the identity
 * rules, so that a certificate with an unusable subject is refused with an
 * alert during the handshake (and never gets a session ticket).
 */
static int verify_cb(int ok, X509_STORE_CTX *sctx)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx());
	rp_tls_conn *c = conn_of(ssl);
	rp_peer_identity tmp;
	const char *why;

	if (!ok) {
		if (c != NULL && c->verify_err == NULL) {
			c->verify_err =
				X509_verify_cert_error_string(X509_STORE_CTX_get_error(sctx));
		}
		return 0;
	}
	if (X509_STORE_CTX_get_error_depth(sctx) != 0) {
		return 1;
	}
	why = identity_of(X509_STORE_CTX_get_current_cert(sctx), &tmp);
	if (why != NULL) {
		X509_STORE_CTX_set_error(sctx, X509_V_ERR_APPLICATION_VERIFICATION);
		if (c != NULL && c->verify_err == NULL) {
			c->verify_err = why;
		}
		return 0;
	}
	return 1;
}

/*
 * A ticket decrypted: use the session only if its certificate still
 * verifies against this context's store (a revoked, expired or no longer
 * trusted device falls back to a full handshake, which refuses it).
 */
static SSL_TICKET_RETURN ticket_dec_cb(SSL *ssl, SSL_SESSION *ss, const unsigned char *keyname,
				       size_t keyname_len, SSL_TICKET_STATUS status, void *arg)
{
	const rp_tls_ctx *ctx = arg;
	rp_tls_conn *c = conn_of(ssl);
	const char *why;

	(void)keyname;
	(void)keyname_len;
	switch (status) {
	case SSL_TICKET_SUCCESS:
	case SSL_TICKET_SUCCESS_RENEW:
		break;
	case SSL_TICKET_EMPTY:
	case SSL_TICKET_NO_DECRYPT:
		return SSL_TICKET_RETURN_IGNORE_RENEW;
	case SSL_TICKET_NONE:
		return SSL_TICKET_RETURN_IGNORE;
	default:
		return SSL_TICKET_RETURN_ABORT;
	}
	if (ctx == NULL || c == NULL ||
	    verify_now(ctx, SSL_SESSION_get0_peer(ss), NULL, &why) != RP_OK) {
		return SSL_TICKET_RETURN_IGNORE_RENEW;
	}
	c->ticket_verified = 1;
	return status == SSL_TICKET_SUCCESS_RENEW ? SSL_TICKET_RETURN_USE_RENEW
						  : SSL_TICKET_RETURN_USE;
}

/* ---- context ----------------------------------------------------------------- */

static void ctx_free(rp_tls_ctx *ctx)
{
	SSL_CTX_free(ctx->ssl);
	ticket_keys_unref(ctx->tk);
	rp_free(NULL, ctx->strs);
	rp_free(NULL, ctx);
}

rp_tls_ctx *rp_tls_ctx_ref(rp_tls_ctx *ctx)
{
	atomic_fetch_add(&ctx->refs, 1);
	return ctx;
}

void rp_tls_ctx_unref(rp_tls_ctx *ctx)
{
	if (ctx != NULL && atomic_fetch_sub(&ctx->refs, 1) == 1) {
		ctx_free(ctx);
	}
}

time_t rp_tls_ctx_crl_next_update(const rp_tls_ctx *ctx)
{
	return ctx->crl_next_update;
}

/* Copies the option strings into one block owned by ctx. */
static rp_status copy_opts(rp_tls_ctx *ctx, const rp_tls_opts *o)
{
	const char *src[6] = {o->name,    o->cert_file, o->key_file,
			      o->ca_file, o->crl_file,  o->own_crl_file};
	const char **dst[6] = {&ctx->opts.name,    &ctx->opts.cert_file, &ctx->opts.key_file,
			       &ctx->opts.ca_file, &ctx->opts.crl_file,  &ctx->opts.own_crl_file};
	size_t total = 0, len[6], i;
	char *p;

	for (i = 0; i < 6; i++) {
		len[i] = src[i] != NULL ? strlen(src[i]) : 0;
		total += len[i] + 1;
	}
	ctx->strs = rp_alloc(NULL, total);
	if (ctx->strs == NULL) {
		return RP_E_NOMEM;
	}
	ctx->opts = *o;
	p = ctx->strs;
	for (i = 0; i < 6; i++) {
		if (len[i] != 0) {
			memcpy(p, src[i], len[i]);
		}
		p[len[i]] = '\0';
		*dst[i] = p;
		p += len[i] + 1;
	}
	return RP_OK;
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1; /* never prompt; an encrypted key is a configuration error */
}

/*
 * Reads the server key. The PEM text is held in one buffer of ours,
 * wiped and freed before return whatever happens.
 */
static rp_status load_key_file(SSL_CTX *sctx, const char *path, char *err, size_t cap)
{
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	uint8_t *buf = NULL;
	struct stat sb;
	size_t got = 0;
	rp_status st = RP_E_CONFIG;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		set_err(err, cap, path, errno == ENOENT ? "no such file" : "cannot open");
		return RP_E_CONFIG;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		set_err(err, cap, path, "not a regular file");
		goto out;
	}
	if ((sb.st_mode & S_IRWXO) != 0) {
		set_err(err, cap, path, "key file is accessible to other users (chmod o-rwx)");
		goto out;
	}
	if (sb.st_size <= 0 || sb.st_size > KEY_FILE_MAX) {
		set_err(err, cap, path, "key file is empty or too large");
		goto out;
	}
	buf = rp_alloc(NULL, (size_t)sb.st_size);
	if (buf == NULL) {
		st = RP_E_NOMEM;
		set_err(err, cap, path, "out of memory");
		goto out;
	}
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			set_err(err, cap, path, "cannot read");
			goto out;
		}
		got += (size_t)n;
	}
	bio = BIO_new_mem_buf(buf, (int)got);
	if (bio == NULL) {
		st = RP_E_NOMEM;
		set_err(err, cap, path, "out of memory");
		goto out;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	if (pkey == NULL) {
		set_err(err, cap, path, "not an unencrypted PEM private key");
		goto out;
	}
	if (SSL_CTX_use_PrivateKey(sctx, pkey) != 1 || SSL_CTX_check_private_key(sctx) != 1) {
		set_err(err, cap, path, "key does not match the server certificate");
		goto out;
	}
	st = RP_OK;
out:
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	if (buf != NULL) {
		rp_free_secret(NULL, buf);
	}
	close(fd);
	ERR_clear_error();
	return st;
}

/* Reads every certificate of a PEM file; they must all be CAs. */
static rp_status load_cas(const char *path, cert_list **out, char *err, size_t cap)
{
	STACK_OF(X509) *cas = NULL;
	BIO *bio = NULL;
	X509 *x;
	rp_status st = RP_E_CONFIG;

	bio = BIO_new_file(path, "r");
	if (bio == NULL) {
		set_err(err, cap, path, ossl_reason("cannot open"));
		goto out;
	}
	cas = sk_X509_new_null();
	if (cas == NULL) {
		st = RP_E_NOMEM;
		goto out;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)) != NULL) {
		if (X509_check_ca(x) < 1) {
			X509_free(x);
			set_err(err, cap, path, "holds a certificate that is not a CA");
			goto out;
		}
		if (sk_X509_push(cas, x) <= 0) {
			X509_free(x);
			st = RP_E_NOMEM;
			goto out;
		}
	}
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE) {
		set_err(err, cap, path, "malformed PEM certificate");
		goto out;
	}
	if (sk_X509_num(cas) == 0) {
		set_err(err, cap, path, "no certificate in the CA bundle");
		goto out;
	}
	*out = cas;
	cas = NULL;
	st = RP_OK;
out:
	sk_X509_pop_free(cas, X509_free);
	BIO_free(bio);
	ERR_clear_error();
	return st;
}

/*
 * Reads the CRLs of one file, checks each is current and signed by a CA of
 * the bundle, adds them to the store and marks the CAs they cover.
 */
static rp_status load_crl_file(rp_tls_ctx *ctx, const char *path, X509_STORE *store, cert_list *cas,
			       unsigned char *covered, char *err, size_t cap)
{
	X509_CRL *crl = NULL;
	BIO *bio = NULL;
	rp_status st = RP_E_CONFIG;
	int i, ncrl = 0;

	bio = BIO_new_file(path, "r");
	if (bio == NULL) {
		set_err(err, cap, path, ossl_reason("cannot open"));
		goto out;
	}
	while ((crl = PEM_read_bio_X509_CRL(bio, NULL, no_passphrase, NULL)) != NULL) {
		const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
		int issuer = -1;

		for (i = 0; i < sk_X509_num(cas); i++) {
			X509 *ca = sk_X509_value(cas, i);

			if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) ==
				    0 &&
			    X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1) {
				issuer = i;
				covered[i] = 1;
			}
		}
		if (issuer < 0) {
			set_err(err, cap, path, "a CRL is not signed by a CA of the bundle");
			goto out;
		}
		if (X509_cmp_current_time(X509_CRL_get0_lastUpdate(crl)) >= 0) {
			set_err(err, cap, path, "a CRL is not yet valid");
			goto out;
		}
		if (next != NULL) {
			time_t t;

			if (X509_cmp_current_time(next) <= 0) {
				set_err(err, cap, path, "a CRL has expired (nextUpdate passed)");
				goto out;
			}
			t = (time_t)asn1_to_unix(next);
			if (ctx->crl_next_update == 0 || t < ctx->crl_next_update) {
				ctx->crl_next_update = t;
			}
		}
		if (X509_STORE_add_crl(store, crl) != 1) {
			set_err(err, cap, path, ossl_reason("cannot add a CRL"));
			goto out;
		}
		X509_CRL_free(crl);
		crl = NULL;
		ncrl++;
	}
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE) {
		set_err(err, cap, path, "malformed PEM CRL");
		goto out;
	}
	if (ncrl == 0) {
		set_err(err, cap, path, "no CRL in the file");
		goto out;
	}
	st = RP_OK;
out:
	X509_CRL_free(crl);
	BIO_free(bio);
	ERR_clear_error();
	return st;
}

/*
 * Reads the CRL files (crl_file, own_crl_file) and, unless leaf_only,
 * checks that every CA of the bundle has a CRL (else every handshake would
 * fail with "unable to get certificate CRL").
 */
static rp_status load_crls(rp_tls_ctx *ctx, X509_STORE *store, cert_list *cas, char *err,
			   size_t cap)
{
	const char *files[2] = {ctx->opts.crl_file, ctx->opts.own_crl_file};
	const char *last = "CRL files";
	unsigned char *covered = NULL;
	rp_status st = RP_E_NOMEM;
	int i;

	covered = rp_calloc(NULL, (size_t)sk_X509_num(cas), 1);
	if (covered == NULL) {
		set_err(err, cap, files[0][0] != '\0' ? files[0] : files[1], "out of memory");
		goto out;
	}
	for (i = 0; i < 2; i++) {
		if (files[i][0] == '\0') {
			continue;
		}
		last = files[i];
		st = load_crl_file(ctx, files[i], store, cas, covered, err, cap);
		if (st != RP_OK) {
			goto out;
		}
	}
	st = RP_E_CONFIG;
	for (i = 0; !ctx->opts.crl_leaf_only && i < sk_X509_num(cas); i++) {
		if (!covered[i]) {
			set_err(err, cap, last,
				"no CRL from one of the CAs of the bundle (whole-chain check)");
			goto out;
		}
	}
	st = RP_OK;
out:
	rp_free(NULL, covered);
	ERR_clear_error();
	return st;
}

/* The fleet CA store, its CRLs and flags, and the CA names sent to clients. */
static rp_status load_trust(rp_tls_ctx *ctx, char *err, size_t cap)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx->ssl);
	STACK_OF(X509) *cas = NULL;
	unsigned long flags = X509_V_FLAG_X509_STRICT;
	rp_status st;
	int i;

	st = load_cas(ctx->opts.ca_file, &cas, err, cap);
	if (st != RP_OK) {
		goto out;
	}
	for (i = 0; i < sk_X509_num(cas); i++) {
		X509 *ca = sk_X509_value(cas, i);

		if (X509_STORE_add_cert(store, ca) != 1 ||
		    SSL_CTX_add_client_CA(ctx->ssl, ca) != 1) {
			st = RP_E_CRYPTO;
			set_err(err, cap, ctx->opts.ca_file, ossl_reason("cannot add a CA"));
			goto out;
		}
	}
	if (ctx->opts.crl_file[0] != '\0' || ctx->opts.own_crl_file[0] != '\0') {
		st = load_crls(ctx, store, cas, err, cap);
		if (st != RP_OK) {
			goto out;
		}
		flags |= X509_V_FLAG_CRL_CHECK;
		if (!ctx->opts.crl_leaf_only) {
			flags |= X509_V_FLAG_CRL_CHECK_ALL;
		}
	}
	if (X509_STORE_set_flags(store, flags) != 1 ||
	    X509_STORE_set_purpose(store, X509_PURPOSE_SSL_CLIENT) != 1 ||
	    X509_STORE_set_depth(store, RP_TLS_VERIFY_DEPTH) != 1) {
		st = RP_E_CRYPTO;
		set_err(err, cap, ctx->opts.ca_file, "cannot set verification flags");
		goto out;
	}
	st = RP_OK;
out:
	sk_X509_pop_free(cas, X509_free);
	ERR_clear_error();
	return st;
}

/* The protocol part of the policy: versions, suites, groups, options. */
static rp_status set_policy(rp_tls_ctx *ctx, char *err, size_t cap)
{
	SSL_CTX *s = ctx->ssl;
	uint64_t op = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION;
	const char *name = ctx->opts.name;

	if (ctx->opts.disable_tickets) {
		op |= SSL_OP_NO_TICKET;
	}
	SSL_CTX_set_options(s, op);
	SSL_CTX_set_mode(s, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
				    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_security_level(s, SECURITY_LEVEL);
	if (SSL_CTX_set_min_proto_version(s, ctx->opts.allow_tls12 ? TLS1_2_VERSION
								   : TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(s, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(s, TLS12_CIPHERS) != 1 ||
	    SSL_CTX_set_ciphersuites(s, TLS13_SUITES) != 1 ||
	    SSL_CTX_set1_groups_list(s, TLS_GROUPS) != 1 || SSL_CTX_set_max_early_data(s, 0) != 1 ||
	    SSL_CTX_set_session_id_context(s, (const unsigned char *)name,
					   (unsigned)strlen(name)) != 1) {
		set_err(err, cap, "TLS policy", ossl_reason("OpenSSL refused a setting"));
		return RP_E_CRYPTO;
	}
	SSL_CTX_set_max_cert_list(s, RP_TLS_MAX_CERT_LIST);
	SSL_CTX_set_verify(s, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
	SSL_CTX_set_verify_depth(s, RP_TLS_VERIFY_DEPTH);
	/* Stateless tickets only: no server-side session cache to fill. */
	SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
	if (ctx->opts.disable_tickets) {
		SSL_CTX_set_num_tickets(s, 0);
		return RP_OK;
	}
	SSL_CTX_set_timeout(s, (long)ctx->opts.ticket_lifetime);
	if (SSL_CTX_set_num_tickets(s, 1) != 1 ||
	    SSL_CTX_set_tlsext_ticket_key_evp_cb(s, ticket_key_cb) != 1 ||
	    SSL_CTX_set_session_ticket_cb(s, NULL, ticket_dec_cb, ctx) != 1) {
		set_err(err, cap, "TLS policy", ossl_reason("cannot set the ticket callbacks"));
		return RP_E_CRYPTO;
	}
	return RP_OK;
}

static rp_status check_opts(const rp_tls_opts *o, char *err, size_t cap)
{
	const char *name = o->name != NULL ? o->name : "mqtt";

	if (o->cert_file == NULL || o->cert_file[0] == '\0' || o->key_file == NULL ||
	    o->key_file[0] == '\0' || o->ca_file == NULL || o->ca_file[0] == '\0') {
		set_err(err, cap, "TLS options", "cert_file, key_file and ca_file are required");
		return RP_E_INVALID_ARG;
	}
	if (name[0] == '\0' || strlen(name) > SSL_MAX_SID_CTX_LENGTH) {
		set_err(err, cap, "TLS options", "listener name must be 1 to 32 bytes");
		return RP_E_INVALID_ARG;
	}
	if (o->ticket_lifetime != 0 && (o->ticket_lifetime < RP_TLS_TICKET_LIFETIME_MIN ||
					o->ticket_lifetime > RP_TLS_TICKET_LIFETIME_MAX)) {
		set_err(err, cap, "TLS options", "ticket lifetime out of range");
		return RP_E_INVALID_ARG;
	}
	return RP_OK;
}

/*
 * The server certificate chain and key of `from` (in memory) into ctx:
 * what a trust-only reload keeps.
 */
static rp_status copy_cert(rp_tls_ctx *ctx, const rp_tls_ctx *from, char *err, size_t cap)
{
	X509 *x = SSL_CTX_get0_certificate(from->ssl);
	EVP_PKEY *k = SSL_CTX_get0_privatekey(from->ssl);
	STACK_OF(X509) *chain = NULL;

	/* get0_chain_certs takes a non-const SSL_CTX; it only reads. */
	if (x == NULL || k == NULL || SSL_CTX_get0_chain_certs((SSL_CTX *)from->ssl, &chain) != 1 ||
	    SSL_CTX_use_cert_and_key(ctx->ssl, x, k, chain, 1) != 1) {
		set_err(err, cap, "TLS reload", ossl_reason("cannot keep the server certificate"));
		return RP_E_CRYPTO;
	}
	return RP_OK;
}

/*
 * Builds a context; shares tk_from's ticket keys when compatible. With
 * keep_cert, its certificate and key are used instead of the files.
 */
static rp_status build(const rp_tls_opts *o, const rp_tls_ctx *tk_from, const rp_tls_ctx *keep_cert,
		       rp_tls_ctx **out, char *err, size_t cap)
{
	rp_tls_opts norm;
	rp_tls_ctx *ctx = NULL;
	X509 *cert;
	rp_status st;

	if (o == NULL || out == NULL) {
		set_err(err, cap, "TLS options", "missing");
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	st = check_opts(o, err, cap);
	if (st != RP_OK) {
		return st;
	}
	norm = *o;
	if (norm.name == NULL) {
		norm.name = "mqtt";
	}
	if (norm.ticket_lifetime == 0) {
		norm.ticket_lifetime = RP_TLS_TICKET_LIFETIME_DEFAULT;
	}
	ERR_clear_error();
	st = RP_E_NOMEM;
	ctx = rp_calloc(NULL, 1, sizeof(*ctx));
	if (ctx == NULL) {
		set_err(err, cap, "TLS context", "out of memory");
		goto out;
	}
	atomic_init(&ctx->refs, 1);
	if (copy_opts(ctx, &norm) != RP_OK) {
		set_err(err, cap, "TLS context", "out of memory");
		goto out;
	}
	ctx->ssl = SSL_CTX_new(TLS_server_method());
	if (ctx->ssl == NULL) {
		set_err(err, cap, "TLS context", "out of memory");
		goto out;
	}
	SSL_CTX_set_app_data(ctx->ssl, ctx);
	if (!ctx->opts.disable_tickets) {
		if (tk_from != NULL && tk_from->tk != NULL &&
		    tk_from->tk->lifetime_ms == (uint64_t)ctx->opts.ticket_lifetime * 1000u) {
			ctx->tk = tk_from->tk;
			atomic_fetch_add(&ctx->tk->refs, 1);
		} else {
			st = ticket_keys_new(ctx->opts.ticket_lifetime, &ctx->tk);
			if (st != RP_OK) {
				set_err(err, cap, "TLS context", "cannot make session ticket keys");
				goto out;
			}
		}
	}
	st = set_policy(ctx, err, cap);
	if (st != RP_OK) {
		goto out;
	}
	if (keep_cert != NULL) {
		st = copy_cert(ctx, keep_cert, err, cap);
		if (st != RP_OK) {
			goto out;
		}
	} else {
		st = RP_E_CONFIG;
		if (SSL_CTX_use_certificate_chain_file(ctx->ssl, ctx->opts.cert_file) != 1) {
			set_err(err, cap, ctx->opts.cert_file,
				ossl_reason("cannot load the certificate"));
			goto out;
		}
		cert = SSL_CTX_get0_certificate(ctx->ssl);
		if (cert == NULL || X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
			set_err(err, cap, ctx->opts.cert_file, "server certificate has expired");
			goto out;
		}
		st = load_key_file(ctx->ssl, ctx->opts.key_file, err, cap);
		if (st != RP_OK) {
			goto out;
		}
	}
	st = load_trust(ctx, err, cap);
	if (st != RP_OK) {
		goto out;
	}
	*out = ctx;
	ctx = NULL;
	st = RP_OK;
out:
	if (ctx != NULL) {
		ctx_free(ctx);
	}
	ERR_clear_error();
	return st;
}

rp_status rp_tls_ctx_new(const rp_tls_opts *opts, rp_tls_ctx **out, char *err, size_t err_cap)
{
	if (err != NULL && err_cap > 0) {
		err[0] = '\0';
	}
	return build(opts, NULL, NULL, out, err, err_cap);
}

rp_status rp_tls_ctx_reload(const rp_tls_ctx *old, const rp_tls_opts *opts, rp_tls_ctx **out,
			    char *err, size_t err_cap)
{
	if (err != NULL && err_cap > 0) {
		err[0] = '\0';
	}
	if (old == NULL) {
		set_err(err, err_cap, "TLS reload", "no previous context");
		return RP_E_INVALID_ARG;
	}
	return build(opts != NULL ? opts : &old->opts, old, NULL, out, err, err_cap);
}

rp_status rp_tls_ctx_reload_trust(const rp_tls_ctx *old, rp_tls_ctx **out, char *err,
				  size_t err_cap)
{
	if (err != NULL && err_cap > 0) {
		err[0] = '\0';
	}
	if (old == NULL) {
		set_err(err, err_cap, "TLS reload", "no previous context");
		return RP_E_INVALID_ARG;
	}
	return build(&old->opts, old, old, out, err, err_cap);
}

/* ---- connections -------------------------------------------------------------- */

/* Marks c dead with st and reason why; clears the error queue. */
static rp_status conn_fail(rp_tls_conn *c, rp_status st, const char *why)
{
	c->state = ST_FAILED;
	c->err = why;
	if (st == RP_E_AUTH) {
		c->auth_failed = 1;
	}
	ERR_clear_error();
	return st;
}

/* Maps the failure of an SSL call that returned ret to a status. */
static rp_status ssl_fail(rp_tls_conn *c, int ret, int in_handshake)
{
	int saved = errno; /* before anything else can change it */
	int e = SSL_get_error(c->ssl, ret);
	unsigned long le;
	long vr;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		c->wants = RP_LOOP_READ;
		ERR_clear_error();
		return RP_NEED_MORE;
	case SSL_ERROR_WANT_WRITE:
		c->wants = RP_LOOP_WRITE;
		ERR_clear_error();
		return RP_NEED_MORE;
	case SSL_ERROR_ZERO_RETURN:
		return conn_fail(c, RP_E_CLOSED, "peer sent close_notify");
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0 &&
		    (saved == 0 || saved == ECONNRESET || saved == EPIPE)) {
			return conn_fail(c, RP_E_CLOSED,
					 saved == 0 ? "peer closed the connection"
						    : "connection reset by peer");
		}
		return conn_fail(c, RP_E_IO, "socket error");
	case SSL_ERROR_SSL:
		break;
	default:
		return conn_fail(c, RP_E_IO, "TLS library error");
	}
	vr = SSL_get_verify_result(c->ssl);
	if (in_handshake && vr != X509_V_OK) {
		return conn_fail(c, RP_E_AUTH,
				 c->verify_err != NULL ? c->verify_err
						       : X509_verify_cert_error_string(vr));
	}
	le = ERR_peek_error();
	if (ERR_GET_LIB(le) == ERR_LIB_SSL) {
		switch (ERR_GET_REASON(le)) {
		case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
			return conn_fail(c, RP_E_AUTH, "peer did not return a certificate");
		case SSL_R_BAD_SIGNATURE:
			/* CertificateVerify failed: a certificate without its key. */
			return conn_fail(c, RP_E_AUTH,
					 "peer's signature does not match its certificate");
		case SSL_R_UNEXPECTED_EOF_WHILE_READING:
			return conn_fail(c, RP_E_CLOSED,
					 "peer closed the connection without close_notify");
		default:
			break;
		}
	}
	return conn_fail(c, RP_E_PROTOCOL, ossl_reason("TLS protocol error"));
}

rp_tls_conn *rp_tls_conn_new(rp_tls_ctx *ctx, int fd)
{
	rp_tls_conn *c;

	if (ctx == NULL || fd < 0) {
		return NULL;
	}
	c = rp_calloc(NULL, 1, sizeof(*c));
	if (c == NULL) {
		return NULL;
	}
	c->base.ops = &tls_ops;
	c->base.fd = fd;
	c->wants = RP_LOOP_READ;
	c->err = "";
	c->ssl = SSL_new(ctx->ssl);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, fd) != 1) {
		goto out;
	}
	SSL_set_accept_state(c->ssl);
	c->ctx = rp_tls_ctx_ref(ctx);
	return c;
out:
	/* Only failures get here. */
	SSL_free(c->ssl);
	rp_free(NULL, c);
	ERR_clear_error();
	return NULL;
}

rp_conn *rp_tls_conn_base(rp_tls_conn *c)
{
	return c != NULL ? &c->base : NULL;
}

rp_tls_conn *rp_conn_tls(rp_conn *c)
{
	return c != NULL && c->ops == &tls_ops ? (rp_tls_conn *)c : NULL;
}

void rp_tls_conn_free(rp_tls_conn *c)
{
	if (c == NULL) {
		return;
	}
	SSL_free(c->ssl);
	rp_tls_ctx_unref(c->ctx);
	rp_free(NULL, c);
}

/* The handshake completed at the TLS level: decide whether we accept it. */
static rp_status finish_handshake(rp_tls_conn *c)
{
	X509 *peer = SSL_get0_peer_certificate(c->ssl);
	const char *why;
	int resumed = SSL_session_reused(c->ssl);

	if (peer == NULL) {
		return conn_fail(c, RP_E_AUTH, "peer did not return a certificate");
	}
	if (SSL_get_verify_result(c->ssl) != X509_V_OK) {
		return conn_fail(c, RP_E_AUTH,
				 X509_verify_cert_error_string(SSL_get_verify_result(c->ssl)));
	}
	if (resumed && !c->ticket_verified) {
		/* Not through ticket_dec_cb (a session cache, one day?): verify here. */
		rp_status st = verify_now(c->ctx, peer, NULL, &why);

		if (st != RP_OK) {
			return conn_fail(c, st, why);
		}
	}
	{
		rp_peer_identity id;

		why = identity_of(peer, &id);
	}
	if (why != NULL) {
		return conn_fail(c, RP_E_AUTH, why);
	}
	c->resumed = resumed;
	c->id_valid = 1;
	c->state = ST_OPEN;
	c->err = "";
	ERR_clear_error();
	return RP_OK;
}

rp_status rp_tls_handshake(rp_tls_conn *c)
{
	int r;

	if (c == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (c->state == ST_OPEN) {
		return RP_OK;
	}
	if (c->state != ST_HANDSHAKE) {
		return RP_E_STATE;
	}
	ERR_clear_error();
	errno = 0;
	tl_handshaking = c;
	r = SSL_do_handshake(c->ssl);
	tl_handshaking = NULL;
	if (r == 1) {
		return finish_handshake(c);
	}
	return ssl_fail(c, r, 1);
}

rp_status rp_tls_read(rp_tls_conn *c, uint8_t *buf, size_t cap, size_t *out_len)
{
	if (out_len != NULL) {
		*out_len = 0;
	}
	if (c == NULL || buf == NULL || cap == 0 || out_len == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (c->state != ST_OPEN) {
		return RP_E_STATE;
	}
	ERR_clear_error();
	errno = 0;
	if (SSL_read_ex(c->ssl, buf, cap, out_len) == 1) {
		return RP_OK;
	}
	*out_len = 0;
	return ssl_fail(c, 0, 0);
}

rp_status rp_tls_write(rp_tls_conn *c, const uint8_t *buf, size_t len, size_t *out_len)
{
	if (out_len != NULL) {
		*out_len = 0;
	}
	if (c == NULL || out_len == NULL || (buf == NULL && len != 0)) {
		return RP_E_INVALID_ARG;
	}
	if (c->state != ST_OPEN) {
		return RP_E_STATE;
	}
	if (len == 0) {
		return RP_OK;
	}
	ERR_clear_error();
	errno = 0;
	if (SSL_write_ex(c->ssl, buf, len, out_len) == 1) {
		return RP_OK;
	}
	*out_len = 0;
	return ssl_fail(c, 0, 0);
}

rp_status rp_tls_shutdown(rp_tls_conn *c)
{
	int r;

	if (c == NULL) {
		return RP_E_INVALID_ARG;
	}
	/* OpenSSL forbids SSL_shutdown after a fatal error or mid-handshake. */
	if (c->state != ST_OPEN) {
		return RP_E_STATE;
	}
	ERR_clear_error();
	errno = 0;
	r = SSL_shutdown(c->ssl);
	if (r >= 0) {
		/* 0: our close_notify is out; we do not wait for the peer's. */
		ERR_clear_error();
		return RP_OK;
	}
	return ssl_fail(c, r, 0);
}

unsigned rp_tls_wants(const rp_tls_conn *c)
{
	return c->wants;
}

size_t rp_tls_pending(const rp_tls_conn *c)
{
	int n = SSL_pending(c->ssl);

	if (n > 0) {
		return (size_t)n;
	}
	return SSL_has_pending(c->ssl) ? 1 : 0;
}

rp_status rp_tls_peer_identity(const rp_tls_conn *c, rp_peer_identity *id)
{
	if (c == NULL || id == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (c->id_valid) {
		/* The same certificate gave the same answer at the handshake. */
		X509 *peer = SSL_get0_peer_certificate(c->ssl);

		if (peer == NULL || identity_of(peer, id) != NULL) {
			return RP_E_INTERNAL;
		}
		id->resumed = c->resumed;
		return RP_OK;
	}
	return c->auth_failed ? RP_E_AUTH : RP_E_STATE;
}

int rp_tls_session_reused(const rp_tls_conn *c)
{
	return c->id_valid && c->resumed;
}

const char *rp_tls_last_error(const rp_tls_conn *c)
{
	return c->err != NULL ? c->err : "";
}

rp_status rp_tls_conn_check(const rp_tls_conn *c, const rp_tls_ctx *ctx, const char **why)
{
	const char *reason = "no verified peer";
	rp_status st = RP_E_STATE;

	if (c == NULL || ctx == NULL) {
		st = RP_E_INVALID_ARG;
		reason = "invalid argument";
	} else if (c->id_valid) {
		/* The chain as the peer sent it (none for a resumed session: the
		 * store must then hold the intermediates, as it did at resumption). */
		st = verify_now(ctx, SSL_get0_peer_certificate(c->ssl),
				SSL_get_peer_cert_chain(c->ssl), &reason);
	}
	if (why != NULL) {
		*why = reason;
	}
	return st;
}

int rp_tls_conn_still_valid(const rp_tls_conn *c, const rp_tls_ctx *new_ctx)
{
	return rp_tls_conn_check(c, new_ctx, NULL) == RP_OK;
}

/* ---- rp_conn operations ---------------------------------------------------------- */

static rp_status op_handshake(rp_conn *c)
{
	return rp_tls_handshake((rp_tls_conn *)c);
}

static rp_status op_read(rp_conn *c, uint8_t *buf, size_t cap, size_t *out_len)
{
	return rp_tls_read((rp_tls_conn *)c, buf, cap, out_len);
}

static rp_status op_write(rp_conn *c, const uint8_t *buf, size_t len, size_t *out_len)
{
	return rp_tls_write((rp_tls_conn *)c, buf, len, out_len);
}

static rp_status op_shutdown(rp_conn *c)
{
	return rp_tls_shutdown((rp_tls_conn *)c);
}

static unsigned op_wants(const rp_conn *c)
{
	return rp_tls_wants((const rp_tls_conn *)c);
}

static size_t op_pending(const rp_conn *c)
{
	return rp_tls_pending((const rp_tls_conn *)c);
}

static rp_status op_peer_identity(const rp_conn *c, rp_peer_identity *id)
{
	return rp_tls_peer_identity((const rp_tls_conn *)c, id);
}

static const char *op_last_error(const rp_conn *c)
{
	return rp_tls_last_error((const rp_tls_conn *)c);
}

static void op_free(rp_conn *c)
{
	rp_tls_conn_free((rp_tls_conn *)c);
}

static const rp_conn_ops tls_ops = {
	.name = "tls",
	.handshake = op_handshake,
	.read = op_read,
	.write = op_write,
	.shutdown = op_shutdown,
	.wants = op_wants,
	.pending = op_pending,
	.peer_identity = op_peer_identity,
	.last_error = op_last_error,
	.free = op_free,
};
