/*
 * issuer.c - the issuing CA's certificate and key, loaded once (issuer.h).
 *
 * Implementation notes
 * - State: a signer (certificate and key, one reference each) and, for a
 *   key in a token, the keystore that owns the key. Immutable once open
 *   returned; close frees the signer first (its reference on the key),
 *   then the keystore, as rampart/keystore.h requires.
 * - The file keystore is the code est.c and crl.c each had before: the
 *   passphrase is read with rp_file_read_private() (no link, a regular
 *   file, mode & 077 == 0, bounded) into a stack buffer wiped on every
 *   path, and rp_pki_key_load() decrypts the key (its own file checks).
 * - The pkcs11 keystore never generates: a missing key is a configuration
 *   error (rampart init makes the key; a server that made its own CA key
 *   at start would sign with a key no root certified). The keystore
 *   refuses keys that can leave the token.
 * - Attacker: none at load (the operator's files and token). A wrong
 *   passphrase or PIN is reported without its text.
 */
#include "pki/issuer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "rampart/keystore.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/file.h"

/* "PKCS#11 token '<32>', key '<64>'" or "encrypted file <path>". */
#define WHERE_CAP (RP_LIMIT_CONFIG_PATH_LEN + 32u)

struct rp_pki_issuer {
	rp_pki_signer *signer;
	rp_keystore *ks; /* pkcs11: owns the key; NULL for a key file */
	rp_pki_issuer_keystore keystore;
	char where[WHERE_CAP];
};

static int set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* The first certificate of the PEM file at path. */
static rp_status read_cert(const char *path, X509 **out, char *err, size_t cap)
{
	BIO *bio = BIO_new_file(path, "r");

	*out = NULL;
	if (bio == NULL) {
		rp_errf(err, cap, "pki.issuing_cert %s: cannot open (%s)", path, strerror(errno));
		ERR_clear_error();
		return RP_E_CONFIG;
	}
	*out = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ERR_clear_error();
	if (*out == NULL) {
		rp_errf(err, cap, "pki.issuing_cert %s: no PEM certificate", path);
		return RP_E_CONFIG;
	}
	return RP_OK;
}

/* ---- RP_PKI_ISSUER_FILE ---------------------------------------------------- */

/*
 * The passphrase file: at most RP_PKI_PASSPHRASE_MAX bytes once one final
 * newline (LF or CRLF) is dropped. The caller wipes pass.
 */
static rp_status read_pass(const char *path, char *pass, size_t cap, size_t *len, char *err,
			   size_t ecap)
{
	char why[160];
	size_t got = 0;

	*len = 0;
	if (rp_file_read_private(path, pass, cap, &got, why, sizeof(why)) != RP_OK) {
		rp_errf(err, ecap, "pki.issuing_key_pass %s: %s", path, why);
		return RP_E_CONFIG;
	}
	if (got > 0 && pass[got - 1u] == '\n') {
		got--;
		if (got > 0 && pass[got - 1u] == '\r') {
			got--;
		}
	}
	if (got == 0 || got > RP_PKI_PASSPHRASE_MAX) {
		rp_errf(err, ecap, "pki.issuing_key_pass %s: empty, or longer than %u bytes", path,
			RP_PKI_PASSPHRASE_MAX);
		return RP_E_CONFIG;
	}
	*len = got;
	return RP_OK;
}

/* The decrypted key of o->key_file, into *key (the caller frees it). */
static rp_status load_file_key(const rp_pki_issuer_opts *o, EVP_PKEY **key, char *err, size_t cap)
{
	char pass[RP_PKI_PASSPHRASE_MAX + 2u];
	const char *why = "";
	size_t len = 0;
	rp_status st;

	*key = NULL;
	st = read_pass(o->pass_file, pass, sizeof(pass), &len, err, cap);
	if (st == RP_OK) {
		st = rp_pki_key_load(o->key_file, pass, len, key, &why);
		if (st != RP_OK) {
			rp_errf(err, cap, "pki.issuing_key %s: %s%s", o->key_file, why,
				st == RP_E_AUTH ? " (pki.issuing_key_pass is not its passphrase)"
						: "");
			st = st == RP_E_AUTH || st == RP_E_NOMEM ? st : RP_E_CONFIG;
		}
	}
	rp_wipe(pass, sizeof(pass));
	return st;
}

/* ---- RP_PKI_ISSUER_PKCS11 -------------------------------------------------- */

/* Opens the token's keystore into is->ks; the key must be there already. */
static rp_status open_token(rp_pki_issuer *is, const rp_pki_issuer_opts *o, char *err, size_t cap)
{
	rp_keystore_config kc;
	char why[RP_KEYSTORE_ERR_MAX] = "";
	rp_status st;

	memset(&kc, 0, sizeof(kc));
	kc.backend = "pkcs11";
	kc.module = o->module;
	kc.token_label = o->token_label;
	kc.pin_file = o->pin_file;
	kc.key_label = o->key_label;
	st = rp_keystore_open(&kc, &is->ks, why, sizeof(why));
	if (st != RP_OK) {
		rp_errf(err, cap, "pki.issuing_keystore pkcs11: %s", why);
		return st == RP_E_AUTH || st == RP_E_NOMEM ? st : RP_E_CONFIG;
	}
	if (!rp_keystore_has_key(is->ks)) {
		rp_errf(err, cap,
			"pki.issuing_key_label: no key '%s' on token '%s' (rampart init "
			"--pkcs11-token makes it; rampartd never generates a CA key)",
			o->key_label, o->token_label);
		return RP_E_CONFIG;
	}
	return RP_OK;
}

/* ---- open and close -------------------------------------------------------- */

/* The fields of the keystore set, the other keystore's not. */
static rp_status check_opts(const rp_pki_issuer_opts *o, char *err, size_t cap)
{
	int file = set(o->key_file) || set(o->pass_file);
	int p11 = set(o->module) || set(o->token_label) || set(o->pin_file) || set(o->key_label);

	if (o->keystore == RP_PKI_ISSUER_FILE) {
		if (!set(o->key_file) || !set(o->pass_file) || p11) {
			rp_errf(err, cap,
				"pki: an issuing key in a file needs pki.issuing_key and "
				"pki.issuing_key_pass, and no pki.pkcs11_* key");
			return RP_E_CONFIG;
		}
		return RP_OK;
	}
	if (!set(o->module) || !set(o->token_label) || !set(o->pin_file) || !set(o->key_label) ||
	    file) {
		rp_errf(err, cap,
			"pki: an issuing key in a PKCS#11 token needs pki.pkcs11_module, "
			"pki.pkcs11_token, pki.pkcs11_pin_file and pki.issuing_key_label, and "
			"neither pki.issuing_key nor pki.issuing_key_pass");
		return RP_E_CONFIG;
	}
	return RP_OK;
}

rp_status rp_pki_issuer_open(const rp_pki_issuer_opts *o, rp_pki_issuer **out, char *err,
			     size_t err_cap)
{
	rp_pki_issuer *is = NULL;
	EVP_PKEY *owned = NULL, *key;
	X509 *cert = NULL;
	const char *why = "";
	rp_status st;

	if (out != NULL) {
		*out = NULL;
	}
	if (o == NULL || out == NULL || !set(o->cert) ||
	    (o->keystore != RP_PKI_ISSUER_FILE && o->keystore != RP_PKI_ISSUER_PKCS11)) {
		rp_errf(err, err_cap, "pki: the issuing CA: missing argument");
		return RP_E_INVALID_ARG;
	}
	st = check_opts(o, err, err_cap);
	if (st != RP_OK) {
		return st;
	}
	is = rp_calloc(NULL, 1, sizeof(*is));
	if (is == NULL) {
		rp_errf(err, err_cap, "pki: out of memory");
		return RP_E_NOMEM;
	}
	is->keystore = o->keystore;
	st = read_cert(o->cert, &cert, err, err_cap);
	if (st != RP_OK) {
		goto out;
	}
	if (o->keystore == RP_PKI_ISSUER_FILE) {
		st = load_file_key(o, &owned, err, err_cap);
		key = owned;
		(void)snprintf(is->where, sizeof(is->where), "encrypted file %s", o->key_file);
	} else {
		st = open_token(is, o, err, err_cap);
		key = rp_keystore_pkey(is->ks);
		(void)snprintf(is->where, sizeof(is->where), "PKCS#11 token '%s', key '%s'",
			       o->token_label, o->key_label);
	}
	if (st != RP_OK) {
		goto out;
	}
	st = rp_pki_signer_new(cert, key, &is->signer, &why);
	if (st != RP_OK) {
		if (o->keystore == RP_PKI_ISSUER_FILE) {
			rp_errf(err, err_cap, "pki.issuing_key %s: %s", o->key_file,
				st == RP_E_CRYPTO ? "not the key of pki.issuing_cert" : why);
		} else {
			rp_errf(err, err_cap, "pki.issuing_key_label '%s' (token '%s'): %s",
				o->key_label, o->token_label,
				st == RP_E_CRYPTO ? "not the key of pki.issuing_cert" : why);
		}
		st = st == RP_E_NOMEM ? st : RP_E_CONFIG;
		goto out;
	}
	*out = is;
	is = NULL;
out:
	EVP_PKEY_free(owned); /* the signer keeps its own reference */
	X509_free(cert);
	rp_pki_issuer_close(is);
	ERR_clear_error();
	return st;
}

const rp_pki_signer *rp_pki_issuer_signer(const rp_pki_issuer *is)
{
	return is != NULL ? is->signer : NULL;
}

X509 *rp_pki_issuer_cert(const rp_pki_issuer *is)
{
	return is != NULL && is->signer != NULL ? rp_pki_signer_cert(is->signer) : NULL;
}

rp_pki_issuer_keystore rp_pki_issuer_keystore_of(const rp_pki_issuer *is)
{
	return is != NULL ? is->keystore : RP_PKI_ISSUER_FILE;
}

const char *rp_pki_issuer_where(const rp_pki_issuer *is)
{
	return is != NULL ? is->where : "";
}

void rp_pki_issuer_close(rp_pki_issuer *is)
{
	if (is == NULL) {
		return;
	}
	/* The signer's reference on the key first: a token's key must not
	 * outlive its keystore (rampart/keystore.h, Lifetime). */
	rp_pki_signer_free(is->signer);
	is->signer = NULL;
	rp_keystore_close(is->ks);
	rp_free(NULL, is);
}

rp_status rp_pki_issuer_open_file(const char *cert, const char *key_file, const char *pass_file,
				  rp_pki_issuer **out, char *err, size_t err_cap)
{
	rp_pki_issuer_opts o;

	memset(&o, 0, sizeof(o));
	o.cert = cert;
	o.keystore = RP_PKI_ISSUER_FILE;
	o.key_file = key_file;
	o.pass_file = pass_file;
	return rp_pki_issuer_open(&o, out, err, err_cap);
}
