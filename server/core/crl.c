/*
 * crl.c - revoking a device, and the issuing CA's CRL (crl.h).
 *
 * Implementation notes
 * - State of an rp_crl: the signer (issuing CA and key: the issuer's, see
 *   crl.h) and the paths, immutable after rp_crl_open(); the current CRL
 *   (DER and its info) behind `mu`, read by HTTP workers; `refresh_mu` makes
 *   one refresh at a time, so two refreshes cannot interleave their file
 *   writes or publish an older number after a newer one.
 * - Invariants: the current CRL only ever moves to one with a larger
 *   cRLNumber (the store hands numbers out, rp_store_crl_number_next());
 *   the file on disk is always a whole CRL (write to path.tmp, fsync,
 *   rename, fsync the directory); a refresh that fails at any step leaves
 *   both the file and the current CRL as they were.
 * - Entries: every revoked certificate of the store whose notAfter has not
 *   passed. The store does not record which CA issued a certificate; every
 *   certificate rampartd records is issued by its issuing CA (EST), so all
 *   of them belong in this CRL. A serial no CRL can hold (zero, not hex)
 *   is skipped and counted, never a reason to publish nothing.
 * - Attacker: none here directly. What is written comes from the store
 *   (rows made by rampartd and the CLI); serials and dates are checked
 *   again by rp_pki_crl_new() before anything is signed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "core/crl.h"
#include "rampart/text.h"
#include "util/alloc.h"
#include "util/log.h"

/* Certificates of one device per page, and revoked certificates per page. */
#define CERT_PAGE 100u
/* The issuer key of rp_store_crl_number_next(): SHA-256 hex of the DER subject. */
#define ISSUER_ID_LEN 64u

struct rp_crl {
	rp_store *store;
	const rp_pki_signer *signer; /* the issuer's */
	rp_pki_issuer *own_issuer;   /* loaded by rp_crl_open(), or NULL: borrowed */
	char issuer_id[ISSUER_ID_LEN + 1u];
	char *path;
	int64_t next_update_s;
	int64_t floor; /* the next cRLNumber is at least this (from the file found at open) */

	pthread_mutex_t refresh_mu; /* one refresh at a time */
	pthread_mutex_t mu;         /* the current CRL, below */
	uint8_t *der;
	size_t der_len;
	rp_crl_info info;
};

/* ------------------------------------------------------------------------
 * Reasons
 * ------------------------------------------------------------------------ */

static const char *const reason_names[11] = {
	"unspecified",     "keyCompromise",
	"cACompromise",    "affiliationChanged",
	"superseded",      "cessationOfOperation",
	"certificateHold", NULL, /* 7: not used (RFC 5280) */
	"removeFromCRL",   "privilegeWithdrawn",
	"aACompromise",
};

const char *rp_crl_reason_name(int reason)
{
	if (reason == RP_PKI_REASON_NONE) {
		return "none";
	}
	/* removeFromCRL (8) is for delta CRLs only: not a reason to revoke. */
	if (reason < 0 || reason > 10 || reason == 8) {
		return NULL;
	}
	return reason_names[reason];
}

rp_status rp_crl_reason_parse(const char *name, int *reason)
{
	if (name == NULL || reason == NULL) {
		return RP_E_INVALID_ARG;
	}
	for (int i = 0; i <= 10; i++) {
		if (i != 8 && reason_names[i] != NULL && strcmp(name, reason_names[i]) == 0) {
			*reason = i;
			return RP_OK;
		}
	}
	return RP_E_INVALID_ARG;
}

/* ------------------------------------------------------------------------
 * Revoking a device
 * ------------------------------------------------------------------------ */

static const char *status_name(rp_store_device_status s)
{
	switch (s) {
	case RP_STORE_DEVICE_ACTIVE:
		return "active";
	case RP_STORE_DEVICE_QUARANTINED:
		return "quarantined";
	case RP_STORE_DEVICE_REVOKED:
		return "revoked";
	case RP_STORE_DEVICE_DECOMMISSIONED:
		return "decommissioned";
	default:
		return "?";
	}
}

/* An API token id as the audit detail may quote it: 1 .. 64 of [0-9a-z]. */
static int token_id_ok(const char *t)
{
	size_t n = t != NULL ? strlen(t) : 0;

	if (n == 0 || n > 64) {
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'z'))) {
			return 0;
		}
	}
	return 1;
}

/* Every certificate of the device, revoked; *n counts them. */
static rp_status revoke_certs(rp_store *st, const char *id, int reason, int64_t now_ms, size_t *n)
{
	char after[RP_LIMIT_STORE_SERIAL_LEN + 1u] = "";
	rp_store_cert *certs = NULL;
	size_t got = 0;
	rp_status s;

	*n = 0;
	do {
		s = rp_store_cert_list_device(st, id, after[0] != '\0' ? after : NULL, CERT_PAGE,
					      &certs, &got, NULL, NULL);
		for (size_t i = 0; s == RP_OK && i < got; i++) {
			s = rp_store_cert_revoke_reason(st, certs[i].serial, now_ms, reason, NULL,
							NULL);
			(*n)++;
		}
		if (s == RP_OK && got > 0) {
			(void)snprintf(after, sizeof(after), "%s", certs[got - 1u].serial);
		}
		rp_store_free(certs);
		certs = NULL;
	} while (s == RP_OK && got == CERT_PAGE);
	return s;
}

rp_status rp_crl_revoke_device(rp_store *st, const char *id, int reason, int64_t now_ms,
			       const rp_crl_actor *who, rp_crl_revocation *out)
{
	rp_store_device *d = NULL;
	rp_store_audit_entry e;
	char detail[256], extra[96] = "";
	size_t at = 0;
	rp_status s;

	if (out != NULL) {
		memset(out, 0, sizeof(*out));
		out->audit = RP_E_STATE; /* not written (yet) */
	}
	if (st == NULL || id == NULL || out == NULL || rp_crl_reason_name(reason) == NULL) {
		return RP_E_INVALID_ARG;
	}
	s = rp_store_device_get(st, id, &d, NULL, NULL);
	if (s != RP_OK) {
		goto out;
	}
	out->was = d->status;
	if (d->status == RP_STORE_DEVICE_REVOKED || d->status == RP_STORE_DEVICE_DECOMMISSIONED) {
		s = RP_E_STATE;
		goto out;
	}
	s = revoke_certs(st, id, reason, now_ms, &out->certificates);
	if (s == RP_OK) {
		s = rp_store_device_set_status(st, id, RP_STORE_DEVICE_REVOKED, NULL, NULL);
	}
	if (s != RP_OK) {
		goto out;
	}
	if (reason != RP_PKI_REASON_NONE) {
		at += (size_t)snprintf(extra + at, sizeof(extra) - at, ",\"reason\":\"%s\"",
				       rp_crl_reason_name(reason));
	}
	if (who != NULL && token_id_ok(who->token)) {
		(void)snprintf(extra + at, sizeof(extra) - at, ",\"token\":\"%s\"", who->token);
	}
	(void)snprintf(detail, sizeof(detail), "{\"from\":\"%s\",\"certificates\":%zu%s}",
		       status_name(d->status), out->certificates, extra);
	memset(&e, 0, sizeof(e));
	e.time_ms = now_ms;
	e.actor = who != NULL && who->actor != NULL && who->actor[0] != '\0' ? who->actor
									     : "anonymous";
	e.action = "device.revoke";
	e.target = id;
	e.source = who != NULL && who->source != NULL ? who->source : "";
	e.detail = detail;
	out->audit = rp_store_audit_append(st, &e, NULL, NULL, NULL);
out:
	rp_store_free(d);
	return s;
}

/* ------------------------------------------------------------------------
 * Building blocks
 * ------------------------------------------------------------------------ */

rp_status rp__crl_serial_canon(const char *in, char out[RP_PKI_SERIAL_HEX_SIZE])
{
	static const char digits[] = "0123456789abcdef";
	size_t n, i = 0, o = 0;

	out[0] = '\0';
	if (in == NULL) {
		return RP_E_MALFORMED;
	}
	n = strnlen(in, RP_LIMIT_STORE_SERIAL_LEN + 1u);
	if (n == 0 || n > RP_LIMIT_STORE_SERIAL_LEN) {
		return RP_E_MALFORMED;
	}
	for (size_t k = 0; k < n; k++) {
		if (rp_text_hex_digit(in[k]) < 0) {
			return RP_E_MALFORMED;
		}
	}
	while (i < n && in[i] == '0') {
		i++; /* leading zero digits: none is part of the magnitude */
	}
	if (i == n) {
		return RP_E_MALFORMED; /* zero */
	}
	if ((n - i) % 2u != 0) {
		out[o++] = '0';
	}
	if (o + (n - i) > 2u * 20u) {
		return RP_E_MALFORMED; /* more than 20 octets */
	}
	for (; i < n; i++) {
		out[o++] = digits[rp_text_hex_digit(in[i])];
	}
	out[o] = '\0';
	return RP_OK;
}

rp_status rp__crl_list_add(rp__crl_list *l, const rp_store_cert *rows, size_t n, int64_t now)
{
	for (size_t i = 0; i < n; i++) {
		rp_pki_revoked *e;
		int64_t at;

		if (l->n == l->cap) {
			size_t cap = l->cap == 0 ? 64u : l->cap * 2u;
			rp_pki_revoked *v;
			char(*s)[RP_PKI_SERIAL_HEX_SIZE];

			if (l->n >= RP_LIMIT_PKI_CRL_ENTRIES) {
				return RP_E_LIMIT;
			}
			if (cap > RP_LIMIT_PKI_CRL_ENTRIES) {
				cap = RP_LIMIT_PKI_CRL_ENTRIES;
			}
			v = rp_realloc(NULL, l->v, cap * sizeof(*v));
			if (v == NULL) {
				return RP_E_NOMEM;
			}
			l->v = v;
			s = rp_realloc(NULL, l->serials, cap * sizeof(*s));
			if (s == NULL) {
				return RP_E_NOMEM;
			}
			l->serials = s;
			/* The entries point into serials, which may have moved. */
			for (size_t k = 0; k < l->n; k++) {
				l->v[k].serial_hex = l->serials[k];
			}
			l->cap = cap;
		}
		if (rp__crl_serial_canon(rows[i].serial, l->serials[l->n]) != RP_OK) {
			l->skipped++;
			continue;
		}
		at = rows[i].revoked_at_ms / 1000;
		if (at <= 0 || at > now) {
			at = now;
		}
		e = &l->v[l->n];
		e->serial_hex = l->serials[l->n];
		e->revoked_at = at;
		e->reason = rp_crl_reason_name(rows[i].reason) != NULL ? rows[i].reason
								       : RP_PKI_REASON_NONE;
		l->n++;
	}
	return RP_OK;
}

void rp__crl_list_free(rp__crl_list *l)
{
	if (l == NULL) {
		return;
	}
	rp_free(NULL, l->v);
	rp_free(NULL, l->serials);
	memset(l, 0, sizeof(*l));
}

/* The directory part of path ("." when there is none), for its fsync. */
static void dir_of(const char *path, char *out, size_t cap)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL) {
		(void)snprintf(out, cap, ".");
	} else if (slash == path) {
		(void)snprintf(out, cap, "/");
	} else {
		(void)snprintf(out, cap, "%.*s", (int)(slash - path), path);
	}
}

rp_status rp__crl_write_atomic(const char *path, const void *buf, size_t len, unsigned mode,
			       char *err, size_t err_cap)
{
	char tmp[RP_LIMIT_CONFIG_PATH_LEN + 8u], dir[RP_LIMIT_CONFIG_PATH_LEN];
	const uint8_t *p = buf;
	size_t done = 0;
	int fd = -1, dfd = -1, made = 0;
	rp_status st = RP_E_IO;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		rp_errf(err, err_cap, "%s: path too long", path);
		return RP_E_IO;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
	if (fd < 0) {
		rp_errf(err, err_cap, "%s: cannot create: %s", tmp, strerror(errno));
		goto out;
	}
	made = 1;
	if (fchmod(fd, (mode_t)mode) != 0) {
		rp_errf(err, err_cap, "%s: cannot set its mode: %s", tmp, strerror(errno));
		goto out;
	}
	while (done < len) {
		ssize_t w = write(fd, p + done, len - done);

		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			rp_errf(err, err_cap, "%s: cannot write: %s", tmp, strerror(errno));
			goto out;
		}
		done += (size_t)w;
	}
	if (fsync(fd) != 0) {
		rp_errf(err, err_cap, "%s: fsync: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		rp_errf(err, err_cap, "%s: close: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		rp_errf(err, err_cap, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
		goto out;
	}
	made = 0;
	/* The new name survives a crash only once the directory is on disk. */
	dir_of(path, dir, sizeof(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0) {
		rp_errf(err, err_cap, "%s: fsync of the directory: %s", dir, strerror(errno));
		goto out;
	}
	st = RP_OK;
out:
	if (fd >= 0) {
		close(fd);
	}
	if (dfd >= 0) {
		close(dfd);
	}
	if (made) {
		(void)unlink(tmp);
	}
	return st;
}

/* ------------------------------------------------------------------------
 * Opening: the issuing CA, its key, the file found
 * ------------------------------------------------------------------------ */

static char *dupstr(const char *s)
{
	size_t n = strlen(s) + 1u;
	char *p = rp_alloc(NULL, n);

	if (p != NULL) {
		memcpy(p, s, n);
	}
	return p;
}

/*
 * The signer: the issuer given, or one loaded from the key files through
 * the same loader as the EST service's (server/pki/issuer.h). The issuing
 * CA must be a CA that may sign CRLs.
 */
static rp_status load_signer(rp_crl *c, const rp_crl_opts *o, char *err, size_t cap)
{
	const rp_pki_issuer *is = o->issuer;
	X509 *cert;
	rp_status st;

	if (is == NULL) {
		st = rp_pki_issuer_open_file(o->issuing_cert, o->issuing_key, o->issuing_key_pass,
					     &c->own_issuer, err, cap);
		if (st != RP_OK) {
			return st;
		}
		is = c->own_issuer;
	}
	cert = rp_pki_issuer_cert(is);
	if (cert == NULL || X509_check_ca(cert) < 1 ||
	    (X509_get_key_usage(cert) & KU_CRL_SIGN) == 0) {
		rp_errf(err, cap, "pki.issuing_cert %s: not a CA certificate that may sign CRLs",
			o->issuing_cert != NULL ? o->issuing_cert : "(the issuer's)");
		ERR_clear_error();
		return RP_E_CONFIG;
	}
	c->signer = rp_pki_issuer_signer(is);
	return RP_OK;
}

/* SHA-256 of the DER subject of the issuing CA, as lower-case hex. */
static rp_status issuer_id(rp_crl *c)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[32], *der = NULL;
	unsigned int mdlen = 0;
	int n = i2d_X509_NAME(X509_get_subject_name(rp_pki_signer_cert(c->signer)), &der);
	rp_status st = RP_E_CRYPTO;

	if (n > 0 && EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL) == 1 &&
	    mdlen == sizeof(md)) {
		for (size_t i = 0; i < sizeof(md); i++) {
			c->issuer_id[2u * i] = digits[md[i] >> 4];
			c->issuer_id[2u * i + 1u] = digits[md[i] & 15u];
		}
		c->issuer_id[ISSUER_ID_LEN] = '\0';
		st = RP_OK;
	}
	OPENSSL_free(der);
	ERR_clear_error();
	return st;
}

/* 1 if crl was issued by the signer's CA (its name, its signature). */
static int ours(const rp_crl *c, X509_CRL *crl)
{
	X509 *ca = rp_pki_signer_cert(c->signer);

	return X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) == 0 &&
	       X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1;
}

/* The floor of the next number: one above the CRL of ours in the file. */
static void read_floor(rp_crl *c)
{
	BIO *bio = BIO_new_file(c->path, "r");
	X509_CRL *crl = bio != NULL ? PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL) : NULL;
	ASN1_INTEGER *num = NULL;
	int64_t v = 0;

	c->floor = 1;
	if (crl != NULL && ours(c, crl)) {
		num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
		if (num != NULL && ASN1_INTEGER_get_int64(&v, num) == 1 && v >= 1 &&
		    v < INT64_MAX - 1) {
			c->floor = v + 1;
		}
	} else if (bio != NULL) {
		rp_log(RP_LOG_WARN, "crl", "%s: not a CRL of the issuing CA; it will be replaced",
		       c->path);
	}
	ASN1_INTEGER_free(num);
	X509_CRL_free(crl);
	BIO_free(bio);
	ERR_clear_error();
}

/* other: no CRL of the issuing CA in it (two CRLs of one issuer: either used). */
static rp_status check_other(const rp_crl *c, const char *other, char *err, size_t cap)
{
	X509 *ca = rp_pki_signer_cert(c->signer);
	BIO *bio;
	X509_CRL *crl;
	rp_status st = RP_OK;

	if (other == NULL || other[0] == '\0') {
		return RP_OK;
	}
	bio = BIO_new_file(other, "r");
	while (bio != NULL && (crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) != NULL) {
		if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) == 0) {
			rp_errf(err, cap,
				"tls.crl %s holds a CRL of the issuing CA, which rampartd now "
				"makes "
				"itself (pki.crl): keep only other CAs' CRLs (the root's) there",
				other);
			st = RP_E_CONFIG;
		}
		X509_CRL_free(crl);
	}
	BIO_free(bio);
	ERR_clear_error();
	return st;
}

rp_status rp_crl_open(const rp_crl_opts *o, rp_store *store, rp_crl **out, char *err,
		      size_t err_cap)
{
	rp_crl *c;
	rp_status st;

	if (out != NULL) {
		*out = NULL;
	}
	if (o == NULL || store == NULL || out == NULL ||
	    (o->issuer == NULL &&
	     (o->issuing_cert == NULL || o->issuing_key == NULL || o->issuing_key_pass == NULL)) ||
	    o->path == NULL || o->path[0] == '\0') {
		rp_errf(err, err_cap, "crl: missing argument");
		return RP_E_INVALID_ARG;
	}
	if (o->next_update_s != 0 &&
	    (o->next_update_s < (int64_t)RP_LIMIT_PKI_CRL_NEXT_UPDATE_MIN_S ||
	     o->next_update_s > (int64_t)RP_LIMIT_PKI_CRL_NEXT_UPDATE_S)) {
		rp_errf(err, err_cap, "pki.crl_next_update: out of range");
		return RP_E_INVALID_ARG;
	}
	c = rp_calloc(NULL, 1, sizeof(*c));
	if (c == NULL) {
		rp_errf(err, err_cap, "crl: out of memory");
		return RP_E_NOMEM;
	}
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		rp_free(NULL, c);
		rp_errf(err, err_cap, "crl: out of memory");
		return RP_E_NOMEM;
	}
	if (pthread_mutex_init(&c->refresh_mu, NULL) != 0) {
		pthread_mutex_destroy(&c->mu);
		rp_free(NULL, c);
		rp_errf(err, err_cap, "crl: out of memory");
		return RP_E_NOMEM;
	}
	c->store = store;
	c->next_update_s = o->next_update_s != 0 ? o->next_update_s
						 : (int64_t)RP_DEFAULT_PKI_CRL_NEXT_UPDATE_S;
	c->path = dupstr(o->path);
	if (c->path == NULL) {
		rp_errf(err, err_cap, "crl: out of memory");
		st = RP_E_NOMEM;
		goto out;
	}
	st = load_signer(c, o, err, err_cap);
	if (st == RP_OK) {
		st = issuer_id(c);
		if (st != RP_OK) {
			rp_errf(err, err_cap, "pki.issuing_cert: cannot hash its subject");
		}
	}
	if (st == RP_OK) {
		st = check_other(c, o->other_crl_file, err, err_cap);
	}
	if (st != RP_OK) {
		goto out;
	}
	read_floor(c);
	*out = c;
	c = NULL;
out:
	rp_crl_close(c);
	return st;
}

void rp_crl_close(rp_crl *c)
{
	if (c == NULL) {
		return;
	}
	rp_pki_issuer_close(c->own_issuer); /* nothing signs any more */
	rp_free(NULL, c->path);
	rp_free(NULL, c->der);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->refresh_mu);
	rp_free(NULL, c);
}

/* ------------------------------------------------------------------------
 * Refresh
 * ------------------------------------------------------------------------ */

/* Every revoked, unexpired certificate of the store into l. */
static rp_status collect(rp_crl *c, int64_t now, rp__crl_list *l)
{
	char after[RP_LIMIT_STORE_SERIAL_LEN + 1u] = "";
	rp_store_cert *rows = NULL;
	size_t n = 0;
	rp_status st;

	do {
		st = rp_store_cert_list_revoked(c->store, after[0] != '\0' ? after : NULL,
						now * 1000, RP_LIMIT_STORE_PAGE, &rows, &n, NULL,
						NULL);
		if (st == RP_OK) {
			st = rp__crl_list_add(l, rows, n, now);
		}
		if (st == RP_OK && n > 0) {
			(void)snprintf(after, sizeof(after), "%s", rows[n - 1u].serial);
		}
		rp_store_free(rows);
		rows = NULL;
	} while (st == RP_OK && n == RP_LIMIT_STORE_PAGE);
	return st;
}

/* crl in format f into a new buffer. */
static rp_status encode(const X509_CRL *crl, rp_pki_format f, uint8_t **out, size_t *len)
{
	size_t need = 0;
	rp_status st = rp_pki_crl_encode(crl, f, NULL, 0, &need);

	*out = NULL;
	if (st != RP_E_BUF_TOO_SMALL) {
		return st == RP_OK ? RP_E_INTERNAL : st;
	}
	*out = rp_alloc(NULL, need);
	if (*out == NULL) {
		return RP_E_NOMEM;
	}
	st = rp_pki_crl_encode(crl, f, *out, need, len);
	if (st != RP_OK) {
		rp_free(NULL, *out);
		*out = NULL;
	}
	return st;
}

rp_status rp_crl_refresh(rp_crl *c, int64_t now, char *err, size_t err_cap)
{
	rp__crl_list l;
	X509_CRL *crl = NULL;
	uint8_t *pem = NULL, *der = NULL;
	size_t pem_len = 0, der_len = 0;
	const char *why = "";
	int64_t number = 0;
	rp_status st;

	if (c == NULL || now <= 0) {
		rp_errf(err, err_cap, "crl: missing argument");
		return RP_E_INVALID_ARG;
	}
	memset(&l, 0, sizeof(l));
	pthread_mutex_lock(&c->refresh_mu);
	st = collect(c, now, &l);
	if (st != RP_OK) {
		rp_errf(err, err_cap, "crl: revoked certificates cannot be read: %s",
			rp_status_str(st));
		goto out;
	}
	st = rp_store_crl_number_next(c->store, c->issuer_id, c->floor, &number, NULL, NULL);
	if (st != RP_OK) {
		rp_errf(err, err_cap, "crl: no cRLNumber from the store: %s", rp_status_str(st));
		goto out;
	}
	st = rp_pki_crl_new(c->signer, l.v, l.n, (uint64_t)number, now, c->next_update_s, &crl,
			    &why);
	if (st != RP_OK) {
		rp_errf(err, err_cap, "crl: cannot make the CRL: %s", why);
		goto out;
	}
	st = encode(crl, RP_PKI_PEM, &pem, &pem_len);
	if (st == RP_OK) {
		st = encode(crl, RP_PKI_DER, &der, &der_len);
	}
	if (st != RP_OK) {
		rp_errf(err, err_cap, "crl: cannot encode the CRL: %s", rp_status_str(st));
		goto out;
	}
	/* A CRL is public: others may read it (a web server, a relying party). */
	st = rp__crl_write_atomic(c->path, pem, pem_len, 0644u, err, err_cap);
	if (st != RP_OK) {
		goto out;
	}
	pthread_mutex_lock(&c->mu);
	rp_free(NULL, c->der);
	c->der = der;
	c->der_len = der_len;
	c->info.number = (uint64_t)number;
	c->info.this_update = now;
	c->info.next_update = now + c->next_update_s;
	c->info.entries = l.n;
	pthread_mutex_unlock(&c->mu);
	der = NULL;
	if (l.skipped > 0) {
		rp_log(RP_LOG_WARN, "crl",
		       "%zu revoked certificate%s of the store %s a serial no CRL can hold: left "
		       "out",
		       l.skipped, l.skipped == 1 ? "" : "s", l.skipped == 1 ? "has" : "have");
	}
out:
	pthread_mutex_unlock(&c->refresh_mu);
	X509_CRL_free(crl);
	rp_free(NULL, pem);
	rp_free(NULL, der);
	rp__crl_list_free(&l);
	return st;
}

rp_status rp_crl_current(rp_crl *c, uint8_t **der, size_t *len, rp_crl_info *info)
{
	rp_status st = RP_E_STATE;

	if (der == NULL || len == NULL) {
		return RP_E_INVALID_ARG;
	}
	*der = NULL;
	*len = 0;
	if (c == NULL) {
		return RP_E_STATE;
	}
	pthread_mutex_lock(&c->mu);
	if (c->der != NULL) {
		*der = rp_alloc(NULL, c->der_len);
		if (*der == NULL) {
			st = RP_E_NOMEM;
		} else {
			memcpy(*der, c->der, c->der_len);
			*len = c->der_len;
			if (info != NULL) {
				*info = c->info;
			}
			st = RP_OK;
		}
	}
	pthread_mutex_unlock(&c->mu);
	return st;
}

void rp_crl_info_get(rp_crl *c, rp_crl_info *info)
{
	memset(info, 0, sizeof(*info));
	if (c == NULL) {
		return;
	}
	pthread_mutex_lock(&c->mu);
	*info = c->info;
	pthread_mutex_unlock(&c->mu);
}

int64_t rp_crl_resign_at(rp_crl *c)
{
	rp_crl_info i;

	rp_crl_info_get(c, &i);
	if (i.number == 0) {
		return 0;
	}
	return i.this_update + (i.next_update - i.this_update) / 2;
}

const char *rp_crl_path(const rp_crl *c)
{
	return c->path;
}

int rp_crl_issuer_in_bundle(const rp_crl *c, const char *ca_file)
{
	X509 *ca = rp_pki_signer_cert(c->signer), *x;
	BIO *bio = ca_file != NULL ? BIO_new_file(ca_file, "r") : NULL;
	int found = 0;

	while (!found && bio != NULL && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		found = X509_cmp(x, ca) == 0;
		X509_free(x);
	}
	BIO_free(bio);
	ERR_clear_error();
	return found;
}
