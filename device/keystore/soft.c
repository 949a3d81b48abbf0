/*
 * device/keystore/soft.c - the "soft" back end: a key file encrypted at
 * rest, for development (docs/keystore.md says what it does not protect).
 *
 * Implementation notes
 * - The key file is PKCS#8 EncryptedPrivateKeyInfo in PEM ("BEGIN
 *   ENCRYPTED PRIVATE KEY"): PBES2 with scrypt (N = 2^14, r = 8, p = 1,
 *   the parameters of `openssl pkcs8 -scrypt`, 16 MiB and well under
 *   OpenSSL's 32 MiB scrypt memory cap) and AES-256-CBC. Only that form is
 *   read: an unencrypted key file is refused, not silently accepted.
 * - The passphrase is the first line of pass_file. If that file is absent
 *   at the first generate, it is made from 32 bytes of RAND_bytes, in hex.
 *   It is read when needed (open of an existing key, generate) and wiped
 *   at once; the keystore never keeps it.
 * - The key is in memory, in the EVP_PKEY, while the keystore is open;
 *   OpenSSL clears the private scalar when the EVP_PKEY is freed.
 * - The attacker: another local user (stopped by the mode and owner
 *   checks), or someone who copies the key file alone (stopped by the
 *   encryption, if the passphrase file was not copied too).
 */
#include "keystore/keystore_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

/* scrypt cost of the key file encryption (see the notes above). */
#define SOFT_SCRYPT_N 16384u
#define SOFT_SCRYPT_R 8u
#define SOFT_SCRYPT_P 1u
/* Random bytes in a generated passphrase (written as hex). */
#define SOFT_PASS_BYTES 32u

typedef struct soft_state {
	char *key_file;
	char *pass_file;
} soft_state;

static void soft_close(rp_keystore *ks)
{
	soft_state *st = ks->state;

	EVP_PKEY_free(ks->pkey);
	ks->pkey = NULL;
	ks->type = 0;
	if (st != NULL) {
		free(st->key_file);
		free(st->pass_file);
		free(st);
	}
	ks->state = NULL;
}

/* Decrypts the PEM in buf with the passphrase. */
static rp_status decrypt_key(const soft_state *st, const char *pem, size_t pem_len,
			     const char *pass, size_t pass_len, EVP_PKEY **out, char *err,
			     size_t cap)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)pem_len);
	X509_SIG *p8 = NULL;
	PKCS8_PRIV_KEY_INFO *p8inf = NULL;
	rp_status rc = RP_E_CRYPTO;

	*out = NULL;
	if (bio == NULL) {
		rp__keystore_err(err, cap, "out of memory reading key file %s", st->key_file);
		return RP_E_NOMEM;
	}
	/* Reads only "BEGIN ENCRYPTED PRIVATE KEY": a plaintext key is refused. */
	p8 = PEM_read_bio_PKCS8(bio, NULL, NULL, NULL);
	if (p8 == NULL) {
		rp__keystore_err(err, cap,
				 "key file %s is not an encrypted PKCS#8 PEM key "
				 "(\"BEGIN ENCRYPTED PRIVATE KEY\"): refused",
				 st->key_file);
		rc = RP_E_CONFIG;
		goto out;
	}
	p8inf = PKCS8_decrypt(p8, pass, (int)pass_len);
	if (p8inf == NULL) {
		rp__keystore_err(err, cap,
				 "cannot decrypt key file %s with the passphrase in %s (wrong "
				 "passphrase, or a damaged file)",
				 st->key_file, st->pass_file);
		rc = RP_E_AUTH;
		goto out;
	}
	*out = EVP_PKCS82PKEY(p8inf);
	if (*out == NULL) {
		rp__keystore_err(err, cap, "key file %s holds no usable private key", st->key_file);
		rc = RP_E_CONFIG;
		goto out;
	}
	rc = RP_OK;
out:
	/* The PKCS8_PRIV_KEY_INFO free clears the plaintext key (OpenSSL's
	 * ASN.1 callback for it uses ASN1_STRING_clear_free). */
	PKCS8_PRIV_KEY_INFO_free(p8inf);
	X509_SIG_free(p8);
	BIO_free(bio);
	return rc;
}

static rp_status soft_load(rp_keystore *ks, char *err, size_t cap)
{
	soft_state *st = ks->state;
	char *pem = malloc(RP__KEYSTORE_KEYFILE_MAX);
	char pass[RP__KEYSTORE_SECRET_MAX + 1];
	size_t pem_len = 0, pass_len = 0;
	EVP_PKEY *pkey = NULL;
	rp_status rc;

	if (pem == NULL) {
		rp__keystore_err(err, cap, "out of memory reading key file %s", st->key_file);
		return RP_E_NOMEM;
	}
	rc = rp__keystore_read_private(st->key_file, "key file", pem, RP__KEYSTORE_KEYFILE_MAX,
				       &pem_len, err, cap);
	if (rc == RP_E_NOT_FOUND) {
		/* No key yet: the keystore opens empty. */
		if (err != NULL && cap > 0) {
			err[0] = '\0';
		}
		rc = RP_OK;
		goto out;
	}
	if (rc != RP_OK) {
		goto out;
	}
	rc = rp__keystore_read_secret(st->pass_file, "passphrase file", pass, sizeof(pass),
				      &pass_len, err, cap);
	if (rc == RP_E_NOT_FOUND) {
		rp__keystore_err(err, cap,
				 "key file %s exists but its passphrase file %s does not: cannot "
				 "decrypt the key",
				 st->key_file, st->pass_file);
		goto out;
	}
	if (rc != RP_OK) {
		goto out;
	}
	rc = decrypt_key(st, pem, pem_len, pass, pass_len, &pkey, err, cap);
	if (rc != RP_OK) {
		goto out;
	}
	ks->type = rp__keystore_type_of(pkey);
	if (ks->type == 0) {
		rp__keystore_err(err, cap,
				 "key file %s holds a key that is not EC P-256 or P-384: refused",
				 st->key_file);
		rc = RP_E_CONFIG;
		goto out;
	}
	ks->pkey = pkey;
	pkey = NULL;
	rc = RP_OK;
out:
	EVP_PKEY_free(pkey);
	OPENSSL_cleanse(pass, sizeof(pass));
	free(pem);
	return rc;
}

static rp_status soft_open(rp_keystore *ks, const rp_keystore_config *cfg, char *err, size_t cap)
{
	soft_state *st;

	if (cfg->module != NULL || cfg->token_label != NULL || cfg->pin_file != NULL ||
	    cfg->key_label != NULL) {
		rp__keystore_err(err, cap,
				 "soft keystore: module, token_label, pin_file and key_label are "
				 "for the pkcs11 back end and must not be set");
		return RP_E_CONFIG;
	}
	if (cfg->key_file == NULL || cfg->key_file[0] == '\0' || cfg->pass_file == NULL ||
	    cfg->pass_file[0] == '\0') {
		rp__keystore_err(err, cap, "soft keystore: key_file and pass_file must be set");
		return RP_E_CONFIG;
	}
	if (strcmp(cfg->key_file, cfg->pass_file) == 0) {
		rp__keystore_err(err, cap,
				 "soft keystore: key_file and pass_file must be two files, not %s",
				 cfg->key_file);
		return RP_E_CONFIG;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		rp__keystore_err(err, cap, "soft keystore: out of memory");
		return RP_E_NOMEM;
	}
	ks->state = st;
	st->key_file = strdup(cfg->key_file);
	st->pass_file = strdup(cfg->pass_file);
	if (st->key_file == NULL || st->pass_file == NULL) {
		rp__keystore_err(err, cap, "soft keystore: out of memory");
		return RP_E_NOMEM;
	}
	return soft_load(ks, err, cap);
}

/* Reads the passphrase file, or makes it (random) if it is absent. */
static rp_status get_pass(const soft_state *st, char *pass, size_t cap, size_t *len, char *err,
			  size_t err_cap)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[SOFT_PASS_BYTES];
	char line[2 * SOFT_PASS_BYTES + 1];
	rp_status rc;
	size_t i;

	rc = rp__keystore_read_secret(st->pass_file, "passphrase file", pass, cap, len, err,
				      err_cap);
	if (rc != RP_E_NOT_FOUND) {
		return rc;
	}
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		rp__keystore_err(err, err_cap, "no random bytes for a passphrase");
		return RP_E_CRYPTO;
	}
	for (i = 0; i < sizeof(rnd); i++) {
		line[2 * i] = hex[rnd[i] >> 4];
		line[2 * i + 1] = hex[rnd[i] & 15];
	}
	line[2 * sizeof(rnd)] = '\n';
	rc = rp__keystore_write_new(st->pass_file, line, sizeof(line), err, err_cap);
	OPENSSL_cleanse(rnd, sizeof(rnd));
	OPENSSL_cleanse(line, sizeof(line));
	if (rc != RP_OK && rc != RP_E_EXISTS) {
		return rc;
	}
	/* Read back what is on disk: if another process made the file first,
	 * its passphrase is the one to use. */
	return rp__keystore_read_secret(st->pass_file, "passphrase file", pass, cap, len, err,
					err_cap);
}

/* The key as encrypted PKCS#8 PEM, in a memory BIO. */
static BIO *encrypt_key(EVP_PKEY *pkey, const char *pass, size_t pass_len)
{
	PKCS8_PRIV_KEY_INFO *p8inf = EVP_PKEY2PKCS8(pkey);
	X509_ALGOR *pbe = NULL;
	X509_SIG *p8 = NULL;
	BIO *bio = NULL;

	if (p8inf == NULL) {
		goto out;
	}
	pbe = PKCS5_pbe2_set_scrypt(EVP_aes_256_cbc(), NULL, 0, NULL, SOFT_SCRYPT_N, SOFT_SCRYPT_R,
				    SOFT_SCRYPT_P);
	if (pbe == NULL) {
		goto out;
	}
	p8 = PKCS8_set0_pbe(pass, (int)pass_len, p8inf, pbe);
	if (p8 == NULL) {
		goto out;
	}
	pbe = NULL; /* owned by p8 */
	bio = BIO_new(BIO_s_mem());
	if (bio != NULL && PEM_write_bio_PKCS8(bio, p8) != 1) {
		BIO_free(bio);
		bio = NULL;
	}
out:
	X509_SIG_free(p8);
	X509_ALGOR_free(pbe);
	PKCS8_PRIV_KEY_INFO_free(p8inf);
	return bio;
}

static rp_status soft_generate(rp_keystore *ks, rp_key_type type, char *err, size_t cap)
{
	soft_state *st = ks->state;
	char pass[RP__KEYSTORE_SECRET_MAX + 1];
	size_t pass_len = 0;
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	char *pem = NULL;
	long pem_len;
	struct stat sb;
	rp_status rc;

	/* Checked again, atomically, when the file is created (link). */
	if (stat(st->key_file, &sb) == 0) {
		rp__keystore_err(err, cap, "key file %s already exists: not replaced",
				 st->key_file);
		return RP_E_EXISTS;
	}
	if (errno != ENOENT) {
		rp__keystore_err(err, cap, "cannot check key file %s: %s", st->key_file,
				 strerror(errno));
		return RP_E_IO;
	}
	rc = get_pass(st, pass, sizeof(pass), &pass_len, err, cap);
	if (rc != RP_OK) {
		goto out;
	}
	rc = RP_E_CRYPTO;
	pkey = EVP_EC_gen(rp__keystore_curve(type));
	if (pkey == NULL) {
		rp__keystore_err(err, cap, "cannot generate a %s key", rp__keystore_curve(type));
		goto out;
	}
	bio = encrypt_key(pkey, pass, pass_len);
	pem_len = bio != NULL ? BIO_get_mem_data(bio, &pem) : 0;
	if (pem_len <= 0) {
		rp__keystore_err(err, cap, "cannot encrypt the new key for %s", st->key_file);
		goto out;
	}
	rc = rp__keystore_write_new(st->key_file, pem, (size_t)pem_len, err, cap);
	if (rc != RP_OK) {
		goto out;
	}
	ks->pkey = pkey;
	ks->type = type;
	pkey = NULL;
out:
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	OPENSSL_cleanse(pass, sizeof(pass));
	return rc;
}

const rp__keystore_backend rp__keystore_soft = {
	.name = "soft",
	.open = soft_open,
	.generate = soft_generate,
	.close = soft_close,
};
