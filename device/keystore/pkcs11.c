/*
 * device/keystore/pkcs11.c - the "pkcs11" back end: a key pair in a
 * PKCS#11 token, used through libp11 0.4.12.
 *
 * Implementation notes
 * - State: one p11_module per PKCS#11 library (by real path) for the whole
 *   process, shared by every keystore that names it and freed with the
 *   last one: a libp11 context, its slot list, and per slot whether this
 *   process is logged in and with which PIN (an HMAC of it under a random
 *   per-module key). All of it is guarded by p11_lock, which open,
 *   generate and close take; signing does not (libp11 has its own lock
 *   around its per-slot session pool).
 * - Why shared: libp11's PKCS11_CTX_unload() calls C_Finalize and its slot
 *   release calls C_CloseAllSessions, and both act on the whole module in
 *   the process, not on the one libp11 context. Two contexts on one
 *   module (a server with a root and an issuing CA key on one token)
 *   would log each other out, and libp11 would then free the key objects
 *   that live EVP_PKEYs point to. With one context per module that cannot
 *   happen: slots are enumerated once and released only when the last
 *   keystore on the module closes.
 * - Why the PIN HMAC: libp11's PKCS11_login() returns success without
 *   asking the token when the slot is already logged in, and a token
 *   answers CKR_USER_ALREADY_LOGGED_IN before it looks at a PIN. A second
 *   keystore on a token that is already logged in would therefore open
 *   with any PIN. It must give the PIN this process logged in with
 *   (compared in constant time), or it is refused, fail closed.
 * - Generation does not go through libp11: 0.4.12 generates only RSA
 *   keys (PKCS11_generate_key) and offers no EC key generation. This file
 *   calls C_GenerateKeyPair itself through the module's function list
 *   (dlopen with RTLD_NOLOAD, so it is the very instance libp11 loaded and
 *   initialised; the login state is the module's, shared by all sessions),
 *   with the template written out below: CKA_SENSITIVE=true,
 *   CKA_EXTRACTABLE=false, CKA_SIGN only. After generation it reads back
 *   CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_ALWAYS_SENSITIVE and
 *   CKA_NEVER_EXTRACTABLE and destroys the pair if the token did not
 *   honour them. Both halves get the label and a random 16-byte CKA_ID;
 *   libp11 finds the public half by that CKA_ID for the EC point.
 * - Finding keys (open) also uses the function list, to read the
 *   attributes libp11 does not expose (key type, curve, sensitivity).
 *   Only then is libp11 asked for the key (PKCS11_enumerate_keys,
 *   matched by CKA_ID and label) and its EVP_PKEY
 *   (PKCS11_get_private_key): an EC key whose EC_KEY_METHOD signs with
 *   C_Sign on the token. No private key material is ever read.
 * - The attacker: a misconfiguration or a token prepared by someone else
 *   (keys that can be exported, labels that match several keys, a wrong
 *   PIN). Each is refused with a sentence naming the token and label.
 * - No deprecated OpenSSL declarations are used here: libp11's EC key
 *   methods are legacy OpenSSL APIs, but only libp11 calls them.
 */
#include "keystore/keystore_internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libp11.h>
#include <p11-kit/pkcs11.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

/* DER of the curve OIDs, as CKA_EC_PARAMS holds them (namedCurve). */
static const unsigned char OID_P256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
					 0xce, 0x3d, 0x03, 0x01, 0x07};
static const unsigned char OID_P384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};

/* Bytes of the random CKA_ID given to a generated pair. */
#define P11_ID_LEN 16u
/* Longest CKA_ID accepted on an existing key. */
#define P11_ID_MAX 64u

typedef struct p11_login {
	int logged_in;
	unsigned char pin_mac[32];
} p11_login;

typedef struct p11_module {
	struct p11_module *next;
	dev_t dev;  /* the library's file: the key of the registry, as for */
	ino_t ino;  /* dlopen(), which knows a library by device and inode */
	char *path; /* as the first keystore named it, for messages */
	PKCS11_CTX *ctx;
	int loaded; /* PKCS11_CTX_load() succeeded */
	PKCS11_SLOT *slots;
	unsigned int nslots;
	p11_login *logins; /* one per slot */
	void *dl;          /* our reference on the library (RTLD_NOLOAD) */
	CK_FUNCTION_LIST_PTR fl;
	unsigned int refs;
	unsigned char mac_key[32];
} p11_module;

typedef struct p11_state {
	p11_module *mod;
	unsigned int idx; /* of the slot in mod->slots */
	CK_SLOT_ID slot_id;
	char *token_label;
	char *key_label;
} p11_state;

static pthread_mutex_t p11_lock = PTHREAD_MUTEX_INITIALIZER;
static p11_module *p11_modules; /* guarded by p11_lock */

/* ---- modules --------------------------------------------------------------- */

static void module_free(p11_module *m)
{
	if (m->slots != NULL) {
		PKCS11_release_all_slots(m->ctx, m->slots, m->nslots);
	}
	if (m->dl != NULL) {
		dlclose(m->dl);
	}
	if (m->ctx != NULL) {
		if (m->loaded) {
			PKCS11_CTX_unload(m->ctx);
		}
		PKCS11_CTX_free(m->ctx);
	}
	if (m->logins != NULL) {
		OPENSSL_cleanse(m->logins, sizeof(*m->logins) * (m->nslots > 0 ? m->nslots : 1));
		free(m->logins);
	}
	free(m->path);
	OPENSSL_cleanse(m, sizeof(*m));
	free(m);
}

/* Drops a reference; the last one unloads the module. Under p11_lock. */
static void module_put(p11_module *m)
{
	p11_module **pp;

	if (--m->refs > 0) {
		return;
	}
	for (pp = &p11_modules; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	}
	module_free(m);
}

/*
 * Finds or loads the module at path. Two paths to one file (a symbolic
 * link) are one module, as they are one library for dlopen(). Under
 * p11_lock.
 */
static rp_status module_get(const char *path, p11_module **out, char *err, size_t cap)
{
	CK_C_GetFunctionList get_list = NULL;
	struct stat sb;
	p11_module *m;
	void *sym;

	*out = NULL;
	if (stat(path, &sb) != 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			rp__keystore_err(err, cap, "PKCS#11 module %s does not exist", path);
			return RP_E_NOT_FOUND;
		}
		rp__keystore_err(err, cap, "PKCS#11 module %s: %s", path, strerror(errno));
		return RP_E_CONFIG;
	}
	for (m = p11_modules; m != NULL; m = m->next) {
		if (m->dev == sb.st_dev && m->ino == sb.st_ino) {
			m->refs++;
			*out = m;
			return RP_OK;
		}
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL || (m->path = strdup(path)) == NULL || (m->ctx = PKCS11_CTX_new()) == NULL) {
		rp__keystore_err(err, cap, "out of memory loading PKCS#11 module %s", path);
		if (m != NULL) {
			module_free(m);
		}
		return RP_E_NOMEM;
	}
	m->dev = sb.st_dev;
	m->ino = sb.st_ino;
	if (PKCS11_CTX_load(m->ctx, path) != 0) {
		rp__keystore_err(err, cap,
				 "cannot load PKCS#11 module %s (not a PKCS#11 library, or its "
				 "C_Initialize failed; for SoftHSM2 check SOFTHSM2_CONF)",
				 path);
		module_free(m);
		return RP_E_CONFIG;
	}
	m->loaded = 1;
	/* The instance libp11 loaded: RTLD_NOLOAD never loads a second copy. */
	m->dl = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
	sym = m->dl != NULL ? dlsym(m->dl, "C_GetFunctionList") : NULL;
	if (sym != NULL) {
		memcpy(&get_list, &sym, sizeof(get_list));
	}
	if (get_list == NULL || get_list(&m->fl) != CKR_OK || m->fl == NULL) {
		rp__keystore_err(err, cap, "PKCS#11 module %s has no usable C_GetFunctionList",
				 path);
		module_free(m);
		return RP_E_CONFIG;
	}
	if (PKCS11_enumerate_slots(m->ctx, &m->slots, &m->nslots) != 0) {
		m->slots = NULL;
		m->nslots = 0;
		rp__keystore_err(err, cap, "cannot list the slots of PKCS#11 module %s", path);
		module_free(m);
		return RP_E_CRYPTO;
	}
	m->logins = calloc(m->nslots > 0 ? m->nslots : 1, sizeof(*m->logins));
	if (m->logins == NULL || RAND_bytes(m->mac_key, sizeof(m->mac_key)) != 1) {
		rp__keystore_err(err, cap, "out of memory loading PKCS#11 module %s", path);
		module_free(m);
		return RP_E_NOMEM;
	}
	m->refs = 1;
	m->next = p11_modules;
	p11_modules = m;
	*out = m;
	return RP_OK;
}

/* ---- tokens and login ------------------------------------------------------ */

static rp_status find_token(p11_state *st, char *err, size_t cap)
{
	p11_module *m = st->mod;
	unsigned int i, found = 0;
	PKCS11_TOKEN *tok;

	for (i = 0; i < m->nslots; i++) {
		tok = m->slots[i].token;
		if (tok != NULL && tok->label != NULL && strcmp(tok->label, st->token_label) == 0) {
			if (found++ == 0) {
				st->idx = i;
			}
		}
	}
	if (found == 0) {
		rp__keystore_err(err, cap,
				 "no token labelled '%s' in PKCS#11 module %s (tokens are listed "
				 "when the module is first loaded)",
				 st->token_label, m->path);
		return RP_E_NOT_FOUND;
	}
	if (found > 1) {
		rp__keystore_err(
			err, cap,
			"%u tokens are labelled '%s' in PKCS#11 module %s: refused (labels "
			"must be unique)",
			found, st->token_label, m->path);
		return RP_E_CONFIG;
	}
	tok = m->slots[st->idx].token;
	if (!tok->initialized || !tok->userPinSet) {
		rp__keystore_err(err, cap, "token '%s' is not initialised or has no user PIN",
				 st->token_label);
		return RP_E_CONFIG;
	}
	st->slot_id = PKCS11_get_slotid_from_slot(&m->slots[st->idx]);
	return RP_OK;
}

static int pin_mac(const p11_module *m, const char *pin, size_t len, unsigned char out[32])
{
	size_t out_len = 0;

	return EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, m->mac_key, sizeof(m->mac_key),
			 (const unsigned char *)pin, len, out, 32, &out_len) != NULL &&
	       out_len == 32;
}

static rp_status login(p11_state *st, const char *pin_file, char *err, size_t cap)
{
	p11_module *m = st->mod;
	p11_login *lg = &m->logins[st->idx];
	char pin[RP__KEYSTORE_SECRET_MAX + 1];
	unsigned char mac[32];
	unsigned long e, reason;
	size_t len = 0;
	rp_status rc;

	rc = rp__keystore_read_secret(pin_file, "PIN file", pin, sizeof(pin), &len, err, cap);
	if (rc != RP_OK) {
		return rc;
	}
	rc = RP_E_AUTH;
	if (!pin_mac(m, pin, len, mac)) {
		rp__keystore_err(err, cap, "cannot compute the PIN's HMAC");
		rc = RP_E_CRYPTO;
		goto out;
	}
	if (lg->logged_in) {
		/* The token would not check it: compare with the PIN in use. */
		if (CRYPTO_memcmp(mac, lg->pin_mac, sizeof(mac)) != 0) {
			rp__keystore_err(
				err, cap,
				"the PIN in %s is not the PIN this process is logged in to "
				"token '%s' with: refused",
				pin_file, st->token_label);
			goto out;
		}
		rc = RP_OK;
		goto out;
	}
	ERR_clear_error();
	if (PKCS11_login(&m->slots[st->idx], 0, pin) != 0) {
		e = ERR_peek_last_error();
		reason = ERR_GET_LIB(e) == ERR_get_CKR_code() ? ERR_GET_REASON(e) : 0;
		if (reason == CKR_PIN_LOCKED) {
			rp__keystore_err(err, cap, "the user PIN of token '%s' is locked",
					 st->token_label);
		} else if (reason == CKR_PIN_INCORRECT || reason == CKR_PIN_INVALID ||
			   reason == CKR_PIN_LEN_RANGE) {
			rp__keystore_err(err, cap, "token '%s' refused the PIN in %s (wrong PIN)",
					 st->token_label, pin_file);
		} else {
			rp__keystore_err(
				err, cap,
				"login to token '%s' failed (CKR 0x%lx) with the PIN in %s",
				st->token_label, reason, pin_file);
		}
		goto out;
	}
	lg->logged_in = 1;
	memcpy(lg->pin_mac, mac, sizeof(mac));
	rc = RP_OK;
out:
	OPENSSL_cleanse(pin, sizeof(pin));
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}

/* ---- objects through the function list ------------------------------------- */

static CK_RV open_session(const p11_state *st, int rw, CK_SESSION_HANDLE *s)
{
	*s = CK_INVALID_HANDLE;
	return st->mod->fl->C_OpenSession(
		st->slot_id, CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0), NULL, NULL, s);
}

/* Up to 2 objects of class cls whose attribute what equals (val, len). */
static CK_RV find_objects(const p11_state *st, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
			  CK_ATTRIBUTE_TYPE what, const void *val, CK_ULONG len,
			  CK_OBJECT_HANDLE found[2], CK_ULONG *count)
{
	CK_FUNCTION_LIST_PTR fl = st->mod->fl;
	CK_ATTRIBUTE tmpl[2] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{what, (void *)(uintptr_t)val, len},
	};
	CK_RV rv;

	*count = 0;
	rv = fl->C_FindObjectsInit(s, tmpl, 2);
	if (rv != CKR_OK) {
		return rv;
	}
	rv = fl->C_FindObjects(s, found, 2, count);
	fl->C_FindObjectsFinal(s);
	return rv;
}

static int get_attr(const p11_state *st, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj,
		    CK_ATTRIBUTE_TYPE type, void *buf, CK_ULONG cap, CK_ULONG *len)
{
	CK_ATTRIBUTE a = {type, buf, cap};

	if (st->mod->fl->C_GetAttributeValue(s, obj, &a, 1) != CKR_OK ||
	    a.ulValueLen == (CK_ULONG)-1 || a.ulValueLen > cap) {
		return 0;
	}
	if (len != NULL) {
		*len = a.ulValueLen;
	}
	return 1;
}

static int get_bool(const p11_state *st, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj,
		    CK_ATTRIBUTE_TYPE type, int *v)
{
	CK_BBOOL b = CK_FALSE;
	CK_ULONG len = 0;

	if (!get_attr(st, s, obj, type, &b, sizeof(b), &len) || len != sizeof(b)) {
		return 0;
	}
	*v = b == CK_TRUE;
	return 1;
}

/* The private key may not leave the token, now (and, strict, never did). */
static int key_protected(const p11_state *st, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj, int strict)
{
	int sensitive = 0, extractable = 1, always = 0, never = 0;

	if (!get_bool(st, s, obj, CKA_SENSITIVE, &sensitive) ||
	    !get_bool(st, s, obj, CKA_EXTRACTABLE, &extractable) || !sensitive || extractable) {
		return 0;
	}
	if (!strict) {
		return 1;
	}
	return get_bool(st, s, obj, CKA_ALWAYS_SENSITIVE, &always) &&
	       get_bool(st, s, obj, CKA_NEVER_EXTRACTABLE, &never) && always && never;
}

/*
 * Checks the private key object found by label and gives its type and
 * CKA_ID: EC on P-256/P-384, sensitive, not extractable, can sign, has an
 * id, and exactly one public key object with the same id.
 */
static rp_status check_key(const p11_state *st, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj,
			   rp_key_type *type, unsigned char *id, CK_ULONG *id_len, char *err,
			   size_t cap)
{
	unsigned char params[32];
	CK_OBJECT_HANDLE pub[2];
	CK_KEY_TYPE kt = 0;
	CK_ULONG len = 0, npub = 0;
	int can_sign = 0;

	if (!get_attr(st, s, obj, CKA_KEY_TYPE, &kt, sizeof(kt), NULL) || kt != CKK_EC ||
	    !get_attr(st, s, obj, CKA_EC_PARAMS, params, sizeof(params), &len)) {
		rp__keystore_err(err, cap, "key '%s' on token '%s' is not an EC key: refused",
				 st->key_label, st->token_label);
		return RP_E_CONFIG;
	}
	if (len == sizeof(OID_P256) && memcmp(params, OID_P256, len) == 0) {
		*type = RP_KEY_EC_P256;
	} else if (len == sizeof(OID_P384) && memcmp(params, OID_P384, len) == 0) {
		*type = RP_KEY_EC_P384;
	} else {
		rp__keystore_err(err, cap,
				 "key '%s' on token '%s' is not on P-256 or P-384: refused",
				 st->key_label, st->token_label);
		return RP_E_CONFIG;
	}
	if (!key_protected(st, s, obj, 0)) {
		rp__keystore_err(err, cap,
				 "key '%s' on token '%s' is extractable or not sensitive: refused "
				 "(the keystore uses only keys that cannot leave the token)",
				 st->key_label, st->token_label);
		return RP_E_CONFIG;
	}
	if (!get_bool(st, s, obj, CKA_SIGN, &can_sign) || !can_sign) {
		rp__keystore_err(err, cap, "key '%s' on token '%s' may not sign: refused",
				 st->key_label, st->token_label);
		return RP_E_CONFIG;
	}
	if (!get_attr(st, s, obj, CKA_ID, id, P11_ID_MAX, id_len) || *id_len == 0) {
		rp__keystore_err(err, cap,
				 "key '%s' on token '%s' has no CKA_ID (up to %u bytes) to pair it "
				 "with its public key: refused",
				 st->key_label, st->token_label, P11_ID_MAX);
		return RP_E_CONFIG;
	}
	if (find_objects(st, s, CKO_PUBLIC_KEY, CKA_ID, id, *id_len, pub, &npub) != CKR_OK ||
	    npub != 1) {
		rp__keystore_err(err, cap,
				 "key '%s' on token '%s' needs exactly one public key object with "
				 "its CKA_ID: refused",
				 st->key_label, st->token_label);
		return RP_E_CONFIG;
	}
	return RP_OK;
}

/* Asks libp11 for the key object with that id and label, and its EVP_PKEY. */
static rp_status load_key(rp_keystore *ks, rp_key_type type, const unsigned char *id,
			  CK_ULONG id_len, char *err, size_t cap)
{
	p11_state *st = ks->state;
	PKCS11_TOKEN *tok = st->mod->slots[st->idx].token;
	PKCS11_KEY *keys = NULL, *key = NULL;
	unsigned int n = 0, i, found = 0;
	EVP_PKEY *pkey;

	if (PKCS11_enumerate_keys(tok, &keys, &n) != 0) {
		rp__keystore_err(err, cap, "libp11 cannot list the keys of token '%s'",
				 st->token_label);
		return RP_E_CRYPTO;
	}
	for (i = 0; i < n; i++) {
		if (keys[i].isPrivate && keys[i].id_len == id_len &&
		    memcmp(keys[i].id, id, id_len) == 0 && keys[i].label != NULL &&
		    strcmp(keys[i].label, st->key_label) == 0) {
			key = &keys[i];
			found++;
		}
	}
	if (found != 1) {
		rp__keystore_err(err, cap, "libp11 finds %u keys '%s' on token '%s', not one",
				 found, st->key_label, st->token_label);
		return RP_E_CRYPTO;
	}
	pkey = PKCS11_get_private_key(key);
	if (pkey == NULL || i2d_PUBKEY(pkey, NULL) <= 0) {
		EVP_PKEY_free(pkey);
		rp__keystore_err(err, cap,
				 "libp11 cannot make a usable key of '%s' on token '%s' (is its "
				 "public key object readable?)",
				 st->key_label, st->token_label);
		return RP_E_CRYPTO;
	}
	ks->pkey = pkey;
	ks->type = type;
	return RP_OK;
}

/* Loads the key labelled st->key_label if the token has one. */
static rp_status find_key(rp_keystore *ks, char *err, size_t cap)
{
	p11_state *st = ks->state;
	CK_FUNCTION_LIST_PTR fl = st->mod->fl;
	unsigned char id[P11_ID_MAX];
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE found[2];
	CK_ULONG n = 0, id_len = 0;
	rp_key_type type = 0;
	rp_status rc = RP_E_CRYPTO;
	CK_RV rv;

	rv = open_session(st, 0, &s);
	if (rv != CKR_OK) {
		rp__keystore_err(err, cap, "cannot open a session on token '%s' (CKR 0x%lx)",
				 st->token_label, (unsigned long)rv);
		return RP_E_CRYPTO;
	}
	rv = find_objects(st, s, CKO_PRIVATE_KEY, CKA_LABEL, st->key_label, strlen(st->key_label),
			  found, &n);
	if (rv != CKR_OK) {
		rp__keystore_err(err, cap, "cannot search token '%s' (CKR 0x%lx)", st->token_label,
				 (unsigned long)rv);
		goto out;
	}
	if (n == 0) {
		rc = RP_OK; /* no key yet */
		goto out;
	}
	if (n > 1) {
		rp__keystore_err(err, cap,
				 "several private keys are labelled '%s' on token '%s': refused",
				 st->key_label, st->token_label);
		rc = RP_E_CONFIG;
		goto out;
	}
	rc = check_key(st, s, found[0], &type, id, &id_len, err, cap);
	if (rc != RP_OK) {
		goto out;
	}
	fl->C_CloseSession(s);
	s = CK_INVALID_HANDLE;
	rc = load_key(ks, type, id, id_len, err, cap);
out:
	if (s != CK_INVALID_HANDLE) {
		fl->C_CloseSession(s);
	}
	return rc;
}

/* ---- the back end ---------------------------------------------------------- */

static void p11_close(rp_keystore *ks)
{
	p11_state *st = ks->state;

	pthread_mutex_lock(&p11_lock);
	EVP_PKEY_free(ks->pkey);
	ks->pkey = NULL;
	ks->type = 0;
	if (st != NULL && st->mod != NULL) {
		module_put(st->mod);
	}
	pthread_mutex_unlock(&p11_lock);
	if (st != NULL) {
		free(st->token_label);
		free(st->key_label);
		free(st);
	}
	ks->state = NULL;
}

static int bad_str(const char *s, size_t max)
{
	return s == NULL || s[0] == '\0' || strlen(s) > max;
}

static rp_status p11_open(rp_keystore *ks, const rp_keystore_config *cfg, char *err, size_t cap)
{
	p11_state *st;
	rp_status rc;

	if (cfg->key_file != NULL || cfg->pass_file != NULL) {
		rp__keystore_err(
			err, cap,
			"pkcs11 keystore: key_file and pass_file are for the soft back end "
			"and must not be set");
		return RP_E_CONFIG;
	}
	if (bad_str(cfg->module, PATH_MAX) || bad_str(cfg->pin_file, PATH_MAX) ||
	    bad_str(cfg->token_label, RP__KEYSTORE_TOKEN_LABEL_MAX) ||
	    bad_str(cfg->key_label, RP__KEYSTORE_KEY_LABEL_MAX)) {
		rp__keystore_err(err, cap,
				 "pkcs11 keystore: module, pin_file, token_label (1 to %u bytes) "
				 "and key_label (1 to %u bytes) must be set",
				 RP__KEYSTORE_TOKEN_LABEL_MAX, RP__KEYSTORE_KEY_LABEL_MAX);
		return RP_E_CONFIG;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		rp__keystore_err(err, cap, "pkcs11 keystore: out of memory");
		return RP_E_NOMEM;
	}
	ks->state = st;
	st->token_label = strdup(cfg->token_label);
	st->key_label = strdup(cfg->key_label);
	if (st->token_label == NULL || st->key_label == NULL) {
		rp__keystore_err(err, cap, "pkcs11 keystore: out of memory");
		return RP_E_NOMEM;
	}
	pthread_mutex_lock(&p11_lock);
	rc = module_get(cfg->module, &st->mod, err, cap);
	if (rc == RP_OK) {
		rc = find_token(st, err, cap);
	}
	if (rc == RP_OK) {
		rc = login(st, cfg->pin_file, err, cap);
	}
	if (rc == RP_OK) {
		rc = find_key(ks, err, cap);
	}
	pthread_mutex_unlock(&p11_lock);
	return rc;
}

/* C_GenerateKeyPair with the template that keeps the private key in. */
static rp_status generate_pair(const p11_state *st, CK_SESSION_HANDLE s, rp_key_type type,
			       const unsigned char *id, char *err, size_t cap)
{
	CK_FUNCTION_LIST_PTR fl = st->mod->fl;
	CK_MECHANISM mech = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_OBJECT_CLASS pub_class = CKO_PUBLIC_KEY, priv_class = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = CKK_EC;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	const unsigned char *oid = type == RP_KEY_EC_P256 ? OID_P256 : OID_P384;
	CK_ULONG oid_len = type == RP_KEY_EC_P256 ? sizeof(OID_P256) : sizeof(OID_P384);
	void *label = st->key_label, *idp = (void *)(uintptr_t)id;
	CK_ULONG label_len = strlen(st->key_label);
	CK_ATTRIBUTE pub[] = {
		{CKA_CLASS, &pub_class, sizeof(pub_class)},
		{CKA_KEY_TYPE, &kt, sizeof(kt)},
		{CKA_TOKEN, &yes, sizeof(yes)},
		{CKA_PRIVATE, &no, sizeof(no)},
		{CKA_VERIFY, &yes, sizeof(yes)},
		{CKA_ENCRYPT, &no, sizeof(no)},
		{CKA_WRAP, &no, sizeof(no)},
		{CKA_DERIVE, &no, sizeof(no)},
		{CKA_EC_PARAMS, (void *)(uintptr_t)oid, oid_len},
		{CKA_LABEL, label, label_len},
		{CKA_ID, idp, P11_ID_LEN},
	};
	CK_ATTRIBUTE priv[] = {
		{CKA_CLASS, &priv_class, sizeof(priv_class)},
		{CKA_KEY_TYPE, &kt, sizeof(kt)},
		{CKA_TOKEN, &yes, sizeof(yes)},
		{CKA_PRIVATE, &yes, sizeof(yes)},
		{CKA_SENSITIVE, &yes, sizeof(yes)},
		{CKA_EXTRACTABLE, &no, sizeof(no)},
		{CKA_SIGN, &yes, sizeof(yes)},
		{CKA_DECRYPT, &no, sizeof(no)},
		{CKA_UNWRAP, &no, sizeof(no)},
		{CKA_DERIVE, &no, sizeof(no)},
		{CKA_LABEL, label, label_len},
		{CKA_ID, idp, P11_ID_LEN},
	};
	CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
	CK_RV rv;

	rv = fl->C_GenerateKeyPair(s, &mech, pub, sizeof(pub) / sizeof(pub[0]), priv,
				   sizeof(priv) / sizeof(priv[0]), &hpub, &hpriv);
	if (rv != CKR_OK) {
		rp__keystore_err(err, cap,
				 "token '%s' could not generate a %s key pair (CKR 0x%lx)",
				 st->token_label, rp__keystore_curve(type), (unsigned long)rv);
		return RP_E_CRYPTO;
	}
	if (!key_protected(st, s, hpriv, 1)) {
		fl->C_DestroyObject(s, hpriv);
		fl->C_DestroyObject(s, hpub);
		rp__keystore_err(
			err, cap,
			"token '%s' did not keep the new key sensitive and not extractable: "
			"the pair was destroyed",
			st->token_label);
		return RP_E_CRYPTO;
	}
	return RP_OK;
}

static rp_status p11_generate(rp_keystore *ks, rp_key_type type, char *err, size_t cap)
{
	p11_state *st = ks->state;
	CK_FUNCTION_LIST_PTR fl = st->mod->fl;
	unsigned char id[P11_ID_LEN];
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE found[2];
	CK_ULONG n = 0;
	rp_status rc = RP_E_CRYPTO;
	CK_RV rv;

	pthread_mutex_lock(&p11_lock);
	rv = open_session(st, 1, &s);
	if (rv != CKR_OK) {
		rp__keystore_err(err, cap,
				 "cannot open a read-write session on token '%s' (CKR 0x%lx)",
				 st->token_label, (unsigned long)rv);
		goto out;
	}
	rv = find_objects(st, s, CKO_PRIVATE_KEY, CKA_LABEL, st->key_label, strlen(st->key_label),
			  found, &n);
	if (rv != CKR_OK) {
		rp__keystore_err(err, cap, "cannot search token '%s' (CKR 0x%lx)", st->token_label,
				 (unsigned long)rv);
		goto out;
	}
	if (n != 0) {
		rp__keystore_err(err, cap,
				 "token '%s' already holds a private key labelled '%s': not "
				 "replaced",
				 st->token_label, st->key_label);
		rc = RP_E_EXISTS;
		goto out;
	}
	if (RAND_bytes(id, sizeof(id)) != 1) {
		rp__keystore_err(err, cap, "no random bytes for a key id");
		goto out;
	}
	rc = generate_pair(st, s, type, id, err, cap);
	if (rc != RP_OK) {
		goto out;
	}
	fl->C_CloseSession(s);
	s = CK_INVALID_HANDLE;
	rc = load_key(ks, type, id, sizeof(id), err, cap);
out:
	if (s != CK_INVALID_HANDLE) {
		fl->C_CloseSession(s);
	}
	pthread_mutex_unlock(&p11_lock);
	return rc;
}

const rp__keystore_backend rp__keystore_pkcs11 = {
	.name = "pkcs11",
	.open = p11_open,
	.generate = p11_generate,
	.close = p11_close,
};
