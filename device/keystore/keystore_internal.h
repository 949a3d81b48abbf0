/*
 * device/keystore/keystore_internal.h - what the keystore's files share.
 *
 * keystore.c is the front (argument checks, sign and public key over the
 * EVP_PKEY, the files helpers); soft.c and pkcs11.c are the back ends.
 * A back end fills ks->pkey and ks->type when a key is there, keeps its
 * own state in ks->state, and releases both in close.
 */
#ifndef RP_DEVICE_KEYSTORE_INTERNAL_H
#define RP_DEVICE_KEYSTORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "rampart/keystore.h"

/*
 * Largest secret file read (a passphrase or a PIN), newline included.
 * PKCS#11 PINs are far shorter; a longer passphrase adds nothing to 256
 * random bits.
 */
#define RP__KEYSTORE_SECRET_MAX 256u
/* Largest key file read: an encrypted P-384 PKCS#8 PEM is under 1 KiB. */
#define RP__KEYSTORE_KEYFILE_MAX 16384u
/* Longest token label (PKCS#11: 32 bytes) and key label accepted. */
#define RP__KEYSTORE_TOKEN_LABEL_MAX 32u
#define RP__KEYSTORE_KEY_LABEL_MAX   64u

typedef struct rp__keystore_backend {
	const char *name;
	/* Validates cfg, copies what it needs into ks->state, loads the key. */
	rp_status (*open)(rp_keystore *ks, const rp_keystore_config *cfg, char *err, size_t cap);
	/* Called only when ks->pkey is NULL. */
	rp_status (*generate)(rp_keystore *ks, rp_key_type type, char *err, size_t cap);
	/* Frees ks->pkey and ks->state (both may be NULL). */
	void (*close)(rp_keystore *ks);
} rp__keystore_backend;

struct rp_keystore {
	const rp__keystore_backend *be;
	EVP_PKEY *pkey;   /* NULL until a key is there */
	rp_key_type type; /* 0 until a key is there */
	void *state;      /* the back end's */
	char err[RP_KEYSTORE_ERR_MAX];
};

extern const rp__keystore_backend rp__keystore_soft;
extern const rp__keystore_backend rp__keystore_pkcs11;

/* printf into err (NULL or cap 0: nothing). */
void rp__keystore_err(char *err, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The OpenSSL group name of type ("P-256", "P-384"), or NULL. */
const char *rp__keystore_curve(rp_key_type type);

/* The rp_key_type of an EC key on P-256 or P-384, or 0. */
rp_key_type rp__keystore_type_of(EVP_PKEY *pkey);

/*
 * Reads a file that holds a secret (what: "key file", "PIN file", ...)
 * into buf, NUL-terminated, after checking on the open descriptor that it
 * is a regular file owned by this process's user with no access for group
 * or others. Returns RP_OK (*len bytes, without the NUL), RP_E_NOT_FOUND
 * (no such file), RP_E_CONFIG (bad mode or owner, larger than cap - 1
 * bytes), RP_E_IO. On failure buf is wiped.
 */
rp_status rp__keystore_read_private(const char *path, const char *what, char *buf, size_t cap,
				    size_t *len, char *err, size_t err_cap);

/*
 * As rp__keystore_read_private(), then drops one trailing "\n" or "\r\n"
 * and refuses (RP_E_CONFIG) an empty secret or one holding a NUL byte or
 * another line break.
 */
rp_status rp__keystore_read_secret(const char *path, const char *what, char *buf, size_t cap,
				   size_t *len, char *err, size_t err_cap);

/*
 * Creates path, mode 0600, holding exactly data, atomically and only if
 * it does not exist: a temporary file in the same directory, written and
 * fsync'ed, then link()ed to path (which fails if path exists, unlike
 * rename), then removed, then the directory fsync'ed. Returns RP_OK,
 * RP_E_EXISTS (path exists; nothing changed), RP_E_IO.
 */
rp_status rp__keystore_write_new(const char *path, const void *data, size_t len, char *err,
				 size_t err_cap);

#endif /* RP_DEVICE_KEYSTORE_INTERNAL_H */
