/*
 * common.c - key derivation, MAC, AEAD and careful file I/O shared by the
 * storage modules (storage_int.h).
 *
 * The cipher is ChaCha20-Poly1305 (RFC 8439), not AES-GCM: devices without
 * AES instructions run it fast and in constant time in software, and
 * OpenSSL provides both through the same EVP calls.
 */
#include "storage/storage_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

void rp__storage_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void rp__storage_put_u64(uint8_t *p, uint64_t v)
{
	rp__storage_put_u32(p, (uint32_t)(v >> 32));
	rp__storage_put_u32(p + 4, (uint32_t)v);
}

uint32_t rp__storage_get_u32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

uint64_t rp__storage_get_u64(const uint8_t *p)
{
	return ((uint64_t)rp__storage_get_u32(p) << 32) | rp__storage_get_u32(p + 4);
}

/* ------------------------------------------------------------------------
 * Cryptography
 * ------------------------------------------------------------------------ */

/* Longest salt and info rp__storage_kdf() takes (ours are far shorter). */
#define KDF_SALT_MAX 64u
#define KDF_INFO_MAX 64u

rp_status rp__storage_kdf(const uint8_t ikm[RP_STORAGE_KEY_LEN], const uint8_t *salt,
			  size_t salt_len, const char *info, uint8_t out[RP_STORAGE_KEY_LEN])
{
	/* OSSL_PARAM wants non-const buffers: copies, wiped below. */
	uint8_t k[RP_STORAGE_KEY_LEN], s[KDF_SALT_MAX];
	char digest[] = "SHA256", i[KDF_INFO_MAX];
	OSSL_PARAM params[5], *p = params;
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	size_t info_len = strlen(info);
	rp_status ret = RP_E_CRYPTO;

	if (salt_len > sizeof(s) || info_len > sizeof(i) || (salt == NULL && salt_len != 0)) {
		OPENSSL_cleanse(out, RP_STORAGE_KEY_LEN);
		return RP_E_INTERNAL;
	}
	memcpy(k, ikm, sizeof(k));
	if (salt_len != 0) {
		memcpy(s, salt, salt_len);
	}
	memcpy(i, info, info_len);
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, k, sizeof(k));
	if (salt_len != 0) {
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, s, salt_len);
	}
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, i, info_len);
	*p = OSSL_PARAM_construct_end();

	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (kdf == NULL) {
		goto out;
	}
	kctx = EVP_KDF_CTX_new(kdf);
	if (kctx == NULL) {
		goto out;
	}
	if (EVP_KDF_derive(kctx, out, RP_STORAGE_KEY_LEN, params) != 1) {
		goto out;
	}
	ret = RP_OK;
out:
	if (ret != RP_OK) {
		OPENSSL_cleanse(out, RP_STORAGE_KEY_LEN);
	}
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(s, sizeof(s));
	return ret;
}

rp_status rp__storage_mac(const uint8_t key[RP_STORAGE_KEY_LEN], const uint8_t *data, size_t len,
			  uint8_t out[RP__STORAGE_MAC_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	rp_status ret = RP_E_CRYPTO;

	if (HMAC(EVP_sha256(), key, (int)RP_STORAGE_KEY_LEN, data, len, md, &md_len) == NULL ||
	    md_len < RP__STORAGE_MAC_LEN) {
		goto out;
	}
	memcpy(out, md, RP__STORAGE_MAC_LEN);
	ret = RP_OK;
out:
	OPENSSL_cleanse(md, sizeof(md));
	return ret;
}

int rp__storage_mac_ok(const uint8_t key[RP_STORAGE_KEY_LEN], const uint8_t *data, size_t len,
		       const uint8_t mac[RP__STORAGE_MAC_LEN])
{
	uint8_t want[RP__STORAGE_MAC_LEN];
	int ok = 0;

	if (rp__storage_mac(key, data, len, want) == RP_OK) {
		ok = CRYPTO_memcmp(want, mac, sizeof(want)) == 0;
	}
	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}

rp_status rp__storage_aead_start(EVP_CIPHER_CTX *ctx, int enc,
				 const uint8_t key[RP_STORAGE_KEY_LEN],
				 const uint8_t nonce[RP__STORAGE_NONCE_LEN], const uint8_t *aad,
				 size_t aad_len)
{
	int outl = 0;

	if (aad_len > INT_MAX) {
		return RP_E_INTERNAL;
	}
	if (EVP_CipherInit_ex(ctx, EVP_chacha20_poly1305(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, (int)RP__STORAGE_NONCE_LEN, NULL) !=
		    1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) != 1) {
		return RP_E_CRYPTO;
	}
	if (aad_len != 0 && EVP_CipherUpdate(ctx, NULL, &outl, aad, (int)aad_len) != 1) {
		return RP_E_CRYPTO;
	}
	return RP_OK;
}

rp_status rp__storage_aead_update(EVP_CIPHER_CTX *ctx, const uint8_t *in, uint8_t *out, size_t n)
{
	/* A stream cipher: every call gives as many bytes as it takes. */
	const size_t step = 1u << 20;
	size_t done = 0, k;
	int outl;

	while (done < n) {
		k = n - done < step ? n - done : step;
		outl = 0;
		if (EVP_CipherUpdate(ctx, out + done, &outl, in + done, (int)k) != 1 ||
		    outl != (int)k) {
			return RP_E_CRYPTO;
		}
		done += k;
	}
	return RP_OK;
}

rp_status rp__storage_aead_seal(EVP_CIPHER_CTX *ctx, uint8_t tag[RP__STORAGE_TAG_LEN])
{
	uint8_t rest[16];
	int outl = 0;

	if (EVP_CipherFinal_ex(ctx, rest, &outl) != 1 || outl != 0 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, (int)RP__STORAGE_TAG_LEN, tag) != 1) {
		return RP_E_CRYPTO;
	}
	return RP_OK;
}

rp_status rp__storage_aead_verify(EVP_CIPHER_CTX *ctx, const uint8_t tag[RP__STORAGE_TAG_LEN])
{
	uint8_t t[RP__STORAGE_TAG_LEN], rest[16];
	int outl = 0;

	memcpy(t, tag, sizeof(t));
	/* Verdict starts as "fail": only a Final that checked the tag passes. */
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, (int)sizeof(t), t) != 1) {
		return RP_E_CRYPTO;
	}
	if (EVP_CipherFinal_ex(ctx, rest, &outl) != 1 || outl != 0) {
		return RP_E_CRYPTO;
	}
	return RP_OK;
}

rp_status rp__storage_random(uint8_t *out, size_t n)
{
	if (n > INT_MAX || RAND_bytes(out, (int)n) != 1) {
		OPENSSL_cleanse(out, n);
		return RP_E_CRYPTO;
	}
	return RP_OK;
}

/* ------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------ */

static rp_status errno_status(int err)
{
	if (err == ENOENT) {
		return RP_E_NOT_FOUND;
	}
	if (err == ELOOP || err == ENOTDIR || err == EISDIR || err == ENXIO) {
		return RP_E_CONFIG;
	}
	return RP_E_IO;
}

rp_status rp__storage_dir_open(const char *path, int create, int *dirfd)
{
	struct stat st;
	rp_status ret = RP_E_CONFIG;
	int fd;

	*dirfd = -1;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			return errno_status(errno);
		}
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0) {
		return errno_status(errno);
	}
	if (fstat(fd, &st) != 0) {
		ret = RP_E_IO;
		goto out;
	}
	/* Whoever may write the directory may swap its files: owner only. */
	if (!S_ISDIR(st.st_mode) || (st.st_uid != geteuid() && st.st_uid != 0) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		goto out;
	}
	*dirfd = fd;
	fd = -1;
	ret = RP_OK;
out:
	if (fd >= 0) {
		(void)close(fd);
	}
	return ret;
}

rp_status rp__storage_file_open(int dirfd, const char *name, int flags, int *fd, uint64_t *size)
{
	struct stat st;
	rp_status ret = RP_E_CONFIG;
	int f;

	*fd = -1;
	/* O_NONBLOCK: opening a FIFO must not hang; it is refused below. */
	f = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
	if (f < 0) {
		return errno_status(errno);
	}
	if (fstat(f, &st) != 0) {
		ret = RP_E_IO;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		goto out;
	}
	/* Back to blocking I/O for a regular file (it never blocks anyway). */
	if (fcntl(f, F_SETFL, fcntl(f, F_GETFL) & ~O_NONBLOCK) != 0) {
		ret = RP_E_IO;
		goto out;
	}
	*fd = f;
	*size = (uint64_t)st.st_size;
	f = -1;
	ret = RP_OK;
out:
	if (f >= 0) {
		(void)close(f);
	}
	return ret;
}

rp_status rp__storage_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		if (off + done > (uint64_t)INT64_MAX) {
			return RP_E_IO;
		}
		n = pwrite(fd, p + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return RP_E_IO;
		}
		done += (size_t)n;
	}
	return RP_OK;
}

rp_status rp__storage_pread_full(int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
	uint8_t *p = buf;
	size_t done = 0;
	ssize_t n;

	*got = 0;
	while (done < len) {
		if (off + done > (uint64_t)INT64_MAX) {
			return RP_E_IO;
		}
		n = pread(fd, p + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			return RP_E_IO;
		}
		if (n == 0) {
			break;
		}
		done += (size_t)n;
	}
	*got = done;
	return RP_OK;
}

rp_status rp__storage_datasync(int fd)
{
	while (fdatasync(fd) != 0) {
		if (errno != EINTR) {
			return RP_E_IO;
		}
	}
	return RP_OK;
}

rp_status rp__storage_fsync(int fd)
{
	while (fsync(fd) != 0) {
		if (errno != EINTR) {
			return RP_E_IO;
		}
	}
	return RP_OK;
}

int rp__storage_is_temp(const char *name)
{
	return strncmp(name, ".tmp-", 5) == 0;
}

rp_status rp__storage_write_atomic(int dirfd, const char *name, const uint8_t *data, size_t len,
				   int replace)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t rnd[8];
	char tmp[5 + 2 * sizeof(rnd) + 1];
	rp_status ret, st;
	size_t i;
	int fd = -1, made = 0;

	ret = rp__storage_random(rnd, sizeof(rnd));
	if (ret != RP_OK) {
		return ret;
	}
	memcpy(tmp, ".tmp-", 5);
	for (i = 0; i < sizeof(rnd); i++) {
		tmp[5 + 2 * i] = hex[rnd[i] >> 4];
		tmp[6 + 2 * i] = hex[rnd[i] & 15];
	}
	tmp[sizeof(tmp) - 1] = '\0';

	ret = RP_E_IO;
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
		    0600);
	if (fd < 0) {
		goto out;
	}
	made = 1;
	if (rp__storage_pwrite_all(fd, data, len, 0) != RP_OK || rp__storage_fsync(fd) != RP_OK) {
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (replace) {
		if (renameat(dirfd, tmp, dirfd, name) != 0) {
			goto out;
		}
		made = 0;
	} else if (linkat(dirfd, tmp, dirfd, name, 0) != 0) {
		/* link() never replaces: a concurrent creator's file stays. */
		ret = errno == EEXIST ? RP_E_EXISTS : RP_E_IO;
		goto out;
	}
	if (made) {
		(void)unlinkat(dirfd, tmp, 0);
		made = 0;
	}
	st = rp__storage_fsync(dirfd);
	ret = st;
out:
	if (fd >= 0) {
		(void)close(fd);
	}
	if (made) {
		(void)unlinkat(dirfd, tmp, 0);
	}
	return ret;
}
