/*
 * key.c - key pairs, key files and signers (pki.h).
 *
 * Implementation notes
 *
 * Attacker: another local user (reads a key file left readable, or plants
 * a symbolic link where a key is about to be written so that we overwrite
 * a file of their choice), and whoever steals a key file (offline
 * guessing of the passphrase).
 *
 * - Writing: open(O_CREAT|O_EXCL|O_NOFOLLOW, 0600) then fchmod(0600), so
 *   the file is ours, new, and never readable by others even for an
 *   instant; nothing is ever overwritten. The PEM text is made in memory
 *   first (a "secmem" BIO: cleared when freed), so a failure of OpenSSL
 *   leaves no half-written file; a failed write removes the file.
 * - Encryption: PBES2 with scrypt (N 2^14, r 8, p 1: 16 MiB and about
 *   50 ms per guess; OpenSSL refuses scrypt above 32 MiB when decrypting,
 *   so N 2^15 would write files it cannot read) and AES-256-CBC, built
 *   with PKCS5_pbe2_set_scrypt() + PKCS8_set0_pbe(): the same "ENCRYPTED
 *   PRIVATE KEY" PEM as PEM_write_PKCS8PrivateKey() gives, with a KDF we
 *   choose instead of PBKDF2 with 2048 iterations.
 * - Reading: O_NOFOLLOW|O_NONBLOCK (a FIFO does not block us), fstat() on
 *   the descriptor (no race between check and use), regular file, mode &
 *   077 == 0, bounded size; the PEM text is read into our buffer and wiped
 *   after use. Only an encrypted PKCS#8 is accepted: PEM_read_bio_PKCS8()
 *   then PKCS8_decrypt() with the caller's passphrase (OpenSSL wipes its
 *   derived keys and the decrypted DER).
 * - Signers hold one reference on a certificate and a key; the key may be
 *   any EVP_PKEY, a provider's (PKCS#11) included: we only compare its
 *   public half and sign through it.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "pki/internal.h"
#include "util/alloc.h"

#define SCRYPT_N    16384u
#define SCRYPT_R    8u
#define SCRYPT_P    1u
#define SALT_LEN    16
#define OWNER_ONLY  0600
#define NOT_FOR_ALL 077

rp_status rp__pki_fail(const char **why, rp_status st, const char *text)
{
	if (why != NULL) {
		*why = text;
	}
	return st;
}

/* ---- keys ------------------------------------------------------------------- */

rp_status rp_pki_key_generate(rp_pki_alg alg, EVP_PKEY **out)
{
	EVP_PKEY *k = NULL;

	if (out == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	if (alg == RP_PKI_EC_P256) {
		k = EVP_EC_gen("P-256");
	} else if (alg == RP_PKI_EC_P384) {
		k = EVP_EC_gen("P-384");
	} else {
		return RP_E_INVALID_ARG;
	}
	ERR_clear_error();
	if (k == NULL) {
		return RP_E_CRYPTO;
	}
	*out = k;
	return RP_OK;
}

rp_pki_alg rp_pki_key_alg(const EVP_PKEY *key)
{
	char name[64];
	size_t n = 0;
	rp_pki_alg alg = RP_PKI_ALG_NONE;

	if (key == NULL || EVP_PKEY_is_a(key, "EC") != 1) {
		goto out;
	}
	if (EVP_PKEY_get_group_name(key, name, sizeof(name), &n) != 1 || n >= sizeof(name)) {
		goto out;
	}
	if (strcmp(name, "prime256v1") == 0 || strcmp(name, "P-256") == 0) {
		alg = RP_PKI_EC_P256;
	} else if (strcmp(name, "secp384r1") == 0 || strcmp(name, "P-384") == 0) {
		alg = RP_PKI_EC_P384;
	}
out:
	ERR_clear_error();
	return alg;
}

/* ---- key files ----------------------------------------------------------------- */

/* Writes data to a new file at path, mode 0600; never follows or replaces. */
static rp_status write_new_file(const char *path, const uint8_t *data, size_t len, const char **why)
{
	struct stat sb;
	size_t done = 0;
	rp_status st = RP_E_IO;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, OWNER_ONLY);
	if (fd < 0) {
		if (errno == EEXIST) {
			/* O_EXCL refuses a symbolic link as an existing file. */
			if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode)) {
				return rp__pki_fail(why, RP_E_DENIED,
						    "key path is a symbolic link");
			}
			return rp__pki_fail(why, RP_E_STATE, "key file already exists");
		}
		return rp__pki_fail(why, RP_E_IO, "cannot create the key file");
	}
	/* The umask could only have removed bits; make it exactly 0600. */
	if (fchmod(fd, OWNER_ONLY) != 0) {
		rp__pki_fail(why, RP_E_IO, "cannot set the key file's mode");
		goto out;
	}
	while (done < len) {
		ssize_t n = write(fd, data + done, len - done);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			rp__pki_fail(why, RP_E_IO, "cannot write the key file");
			goto out;
		}
		done += (size_t)n;
	}
	if (fsync(fd) != 0) {
		rp__pki_fail(why, RP_E_IO, "cannot sync the key file");
		goto out;
	}
	st = RP_OK;
out:
	if (close(fd) != 0 && st == RP_OK) {
		st = rp__pki_fail(why, RP_E_IO, "cannot close the key file");
	}
	if (st != RP_OK) {
		(void)unlink(path);
	}
	return st;
}

/* PEM of key, encrypted under pass if pass is non-NULL, written to path. */
static rp_status save_key(const char *path, const EVP_PKEY *key, const char *pass, size_t pass_len,
			  const char **why)
{
	PKCS8_PRIV_KEY_INFO *p8inf = NULL;
	X509_SIG *p8 = NULL;
	X509_ALGOR *pbe = NULL;
	BIO *bio = NULL;
	unsigned char salt[SALT_LEN];
	char *pem = NULL;
	long pem_len;
	rp_status st = RP_E_CRYPTO;

	if (rp_pki_key_alg(key) == RP_PKI_ALG_NONE) {
		st = rp__pki_fail(why, RP_E_INVALID_ARG, "key is not EC P-256 or P-384");
		goto out;
	}
	rp__pki_fail(why, RP_E_CRYPTO, "cannot encode the key");
	bio = BIO_new(BIO_s_secmem());
	p8inf = EVP_PKEY2PKCS8(key);
	if (bio == NULL || p8inf == NULL) {
		st = rp__pki_fail(why, RP_E_NOMEM, "out of memory");
		goto out;
	}
	if (pass != NULL) {
		if (RAND_bytes(salt, sizeof(salt)) != 1) {
			goto out;
		}
		pbe = PKCS5_pbe2_set_scrypt(EVP_aes_256_cbc(), salt, sizeof(salt), NULL, SCRYPT_N,
					    SCRYPT_R, SCRYPT_P);
		if (pbe == NULL) {
			goto out;
		}
		p8 = PKCS8_set0_pbe(pass, (int)pass_len, p8inf, pbe);
		if (p8 == NULL) {
			rp__pki_fail(why, RP_E_CRYPTO, "cannot encrypt the key");
			goto out;
		}
		pbe = NULL; /* p8 owns it */
		if (PEM_write_bio_PKCS8(bio, p8) != 1) {
			goto out;
		}
	} else if (PEM_write_bio_PKCS8_PRIV_KEY_INFO(bio, p8inf) != 1) {
		goto out;
	}
	pem_len = BIO_get_mem_data(bio, &pem);
	if (pem_len <= 0 || pem == NULL) {
		goto out;
	}
	st = write_new_file(path, (const uint8_t *)pem, (size_t)pem_len, why);
out:
	OPENSSL_cleanse(salt, sizeof(salt));
	X509_ALGOR_free(pbe);
	X509_SIG_free(p8);
	PKCS8_PRIV_KEY_INFO_free(p8inf); /* wipes the key octets */
	BIO_free(bio);                   /* secmem: cleared */
	ERR_clear_error();
	if (st == RP_OK && why != NULL) {
		*why = "";
	}
	return st;
}

rp_status rp_pki_key_save(const char *path, const EVP_PKEY *key, const char *pass, size_t pass_len,
			  const char **why)
{
	if (path == NULL || key == NULL || pass == NULL) {
		return rp__pki_fail(why, RP_E_INVALID_ARG, "missing argument");
	}
	if (pass_len < RP_PKI_PASSPHRASE_MIN || pass_len > RP_PKI_PASSPHRASE_MAX) {
		return rp__pki_fail(why, RP_E_INVALID_ARG, "passphrase too short or too long");
	}
	return save_key(path, key, pass, pass_len, why);
}

rp_status rp_pki_key_save_unencrypted(const char *path, const EVP_PKEY *key, const char **why)
{
	if (path == NULL || key == NULL) {
		return rp__pki_fail(why, RP_E_INVALID_ARG, "missing argument");
	}
	return save_key(path, key, NULL, 0, why);
}

/* A PEM passphrase callback that never gives one: the PEM layer itself is
 * never encrypted in our files (PKCS#8 carries the encryption). */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* Opens and checks the key file, reads it into a new buffer (*buf). */
static rp_status read_key_file(const char *path, uint8_t **buf, size_t *len, const char **why)
{
	struct stat sb;
	uint8_t *p = NULL;
	size_t got = 0;
	rp_status st = RP_E_IO;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) {
			return rp__pki_fail(why, RP_E_NOT_FOUND, "no such key file");
		}
		if (errno == ELOOP) {
			return rp__pki_fail(why, RP_E_DENIED, "key path is a symbolic link");
		}
		return rp__pki_fail(why, RP_E_IO, "cannot open the key file");
	}
	if (fstat(fd, &sb) != 0) {
		rp__pki_fail(why, RP_E_IO, "cannot stat the key file");
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		st = rp__pki_fail(why, RP_E_DENIED, "key file is not a regular file");
		goto out;
	}
	if ((sb.st_mode & NOT_FOR_ALL) != 0) {
		st = rp__pki_fail(why, RP_E_DENIED,
				  "key file is accessible to group or others (chmod 600)");
		goto out;
	}
	if (sb.st_size <= 0 || (uint64_t)sb.st_size > RP_PKI_KEY_FILE_MAX) {
		st = rp__pki_fail(why, RP_E_CONFIG, "key file is empty or too large");
		goto out;
	}
	p = rp_alloc(NULL, (size_t)sb.st_size);
	if (p == NULL) {
		st = rp__pki_fail(why, RP_E_NOMEM, "out of memory");
		goto out;
	}
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, p + got, (size_t)sb.st_size - got);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			rp__pki_fail(why, RP_E_IO, "cannot read the key file");
			goto out;
		}
		got += (size_t)n;
	}
	*buf = p;
	*len = got;
	p = NULL;
	st = RP_OK;
out:
	if (p != NULL) {
		rp_free_secret(NULL, p);
	}
	close(fd);
	return st;
}

rp_status rp_pki_key_load(const char *path, const char *pass, size_t pass_len, EVP_PKEY **out,
			  const char **why)
{
	PKCS8_PRIV_KEY_INFO *p8inf = NULL;
	X509_SIG *p8 = NULL;
	EVP_PKEY *k = NULL;
	BIO *bio = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	rp_status st;

	if (path == NULL || pass == NULL || out == NULL) {
		return rp__pki_fail(why, RP_E_INVALID_ARG, "missing argument");
	}
	*out = NULL;
	if (pass_len == 0 || pass_len > RP_PKI_PASSPHRASE_MAX) {
		return rp__pki_fail(why, RP_E_INVALID_ARG, "passphrase empty or too long");
	}
	st = read_key_file(path, &buf, &len, why);
	if (st != RP_OK) {
		goto out;
	}
	st = rp__pki_fail(why, RP_E_NOMEM, "out of memory");
	bio = BIO_new_mem_buf(buf, (int)len);
	if (bio == NULL) {
		goto out;
	}
	p8 = PEM_read_bio_PKCS8(bio, NULL, no_passphrase, NULL);
	if (p8 == NULL) {
		st = rp__pki_fail(why, RP_E_CONFIG, "not an encrypted PKCS#8 PEM key");
		goto out;
	}
	p8inf = PKCS8_decrypt(p8, pass, (int)pass_len);
	if (p8inf == NULL) {
		st = rp__pki_fail(why, RP_E_AUTH, "wrong passphrase (or a damaged key file)");
		goto out;
	}
	k = EVP_PKCS82PKEY(p8inf);
	if (k == NULL) {
		st = rp__pki_fail(why, RP_E_CONFIG, "key file holds no usable key");
		goto out;
	}
	if (rp_pki_key_alg(k) == RP_PKI_ALG_NONE) {
		st = rp__pki_fail(why, RP_E_CONFIG, "key is not EC P-256 or P-384");
		goto out;
	}
	*out = k;
	k = NULL;
	st = rp__pki_fail(why, RP_OK, "");
out:
	EVP_PKEY_free(k);
	PKCS8_PRIV_KEY_INFO_free(p8inf);
	X509_SIG_free(p8);
	BIO_free(bio);
	if (buf != NULL) {
		rp_free_secret(NULL, buf);
	}
	ERR_clear_error();
	return st;
}

/* ---- signers ---------------------------------------------------------------- */

rp_status rp_pki_signer_new(X509 *cert, EVP_PKEY *key, rp_pki_signer **out, const char **why)
{
	rp_pki_signer *s;
	const EVP_PKEY *pub;
	rp_status st = RP_E_INVALID_ARG;

	if (out == NULL) {
		return rp__pki_fail(why, RP_E_INVALID_ARG, "missing argument");
	}
	*out = NULL;
	if (cert == NULL || key == NULL) {
		return rp__pki_fail(why, RP_E_INVALID_ARG, "missing argument");
	}
	if (X509_check_ca(cert) < 1) {
		rp__pki_fail(why, st, "signer certificate is not a CA");
		goto out;
	}
	if ((X509_get_extension_flags(cert) & EXFLAG_KUSAGE) == 0) {
		rp__pki_fail(why, st, "signer certificate has no keyUsage");
		goto out;
	}
	pub = X509_get0_pubkey(cert);
	if (pub == NULL || EVP_PKEY_eq(pub, key) != 1) {
		st = rp__pki_fail(why, RP_E_CRYPTO, "signer key does not match its certificate");
		goto out;
	}
	s = rp_alloc(NULL, sizeof(*s));
	if (s == NULL) {
		st = rp__pki_fail(why, RP_E_NOMEM, "out of memory");
		goto out;
	}
	if (X509_up_ref(cert) != 1) {
		rp_free(NULL, s);
		st = rp__pki_fail(why, RP_E_CRYPTO, "cannot reference the certificate");
		goto out;
	}
	if (EVP_PKEY_up_ref(key) != 1) {
		X509_free(cert);
		rp_free(NULL, s);
		st = rp__pki_fail(why, RP_E_CRYPTO, "cannot reference the key");
		goto out;
	}
	s->cert = cert;
	s->key = key;
	*out = s;
	st = rp__pki_fail(why, RP_OK, "");
out:
	ERR_clear_error();
	return st;
}

X509 *rp_pki_signer_cert(const rp_pki_signer *s)
{
	return s != NULL ? s->cert : NULL;
}

void rp_pki_signer_free(rp_pki_signer *s)
{
	if (s == NULL) {
		return;
	}
	X509_free(s->cert);
	EVP_PKEY_free(s->key);
	rp_free(NULL, s);
}

rp_status rp__pki_signer_covers(const rp_pki_signer *s, int64_t now, int64_t until,
				const char **why)
{
	int c = ASN1_TIME_cmp_time_t(X509_get0_notBefore(s->cert), (time_t)now);

	/* cmp: -1 before, 0 equal, 1 after, -2 unreadable (fail closed). */
	if (c != -1 && c != 0) {
		return rp__pki_fail(why, RP_E_STATE, "signer certificate is not valid yet");
	}
	if (ASN1_TIME_cmp_time_t(X509_get0_notAfter(s->cert), (time_t)now) != 1) {
		return rp__pki_fail(why, RP_E_STATE, "signer certificate has expired");
	}
	if (until > 0) {
		c = ASN1_TIME_cmp_time_t(X509_get0_notAfter(s->cert), (time_t)until);
		if (c != 1 && c != 0) {
			return rp__pki_fail(why, RP_E_STATE,
					    "signer certificate expires before the new one would");
		}
	}
	return RP_OK;
}

const EVP_MD *rp__pki_sign_md(const EVP_PKEY *key, int *ok)
{
	int bits = EVP_PKEY_get_bits(key);

	*ok = 1;
	if (EVP_PKEY_is_a(key, "EC") == 1) {
		return bits <= 256 ? EVP_sha256() : bits <= 384 ? EVP_sha384() : EVP_sha512();
	}
	if (EVP_PKEY_is_a(key, "RSA") == 1) {
		return bits <= 3072 ? EVP_sha256() : EVP_sha384();
	}
	if (EVP_PKEY_is_a(key, "ED25519") == 1 || EVP_PKEY_is_a(key, "ED448") == 1) {
		return NULL;
	}
	*ok = 0;
	return NULL;
}
