/*
 * sealed.c - sealed storage (rampart/sealed.h): one small value per file,
 * encrypted and authenticated together with its name.
 *
 * File format (docs/storage.md), big-endian:
 *   0   magic "RSL1" (the 1 is the format version)
 *   4   salt, 16 random bytes
 *   20  nonce, 12 random bytes
 *   32  ciphertext, as long as the value
 *   end tag, 16 bytes
 * Key: HKDF-SHA256(data key, salt, "rampart sealed v1"), so every file has
 * its own key and the nonce can never repeat under one key (a salt
 * collision needs about 2^64 files). Associated data: the 32 header bytes
 * followed by the name, so a file copied or renamed to another name, or
 * with its header edited, does not authenticate.
 *
 * Attacker: anyone who can write the directory's files but does not hold
 * the data key (a tampered flash image, another program with the same
 * user id that does not know the key). Every file read is bounded before
 * it is read, and nothing of it is given out before the tag verified.
 */
#include "storage/storage_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define HDR_LEN   32u
#define SALT_OFF  4u
#define NONCE_OFF 20u

static const uint8_t magic[4] = {'R', 'S', 'L', '1'};
static const char kdf_info[] = "rampart sealed v1";

/* A name is one safe file name: [A-Za-z0-9._-], first a letter or digit. */
static int name_ok(const char *name)
{
	size_t i;
	char c;

	if (name == NULL || name[0] == '\0') {
		return 0;
	}
	for (i = 0; name[i] != '\0'; i++) {
		if (i >= RP_LIMIT_SEALED_NAME_LEN) {
			return 0;
		}
		c = name[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
			continue;
		}
		if (i > 0 && (c == '.' || c == '_' || c == '-')) {
			continue;
		}
		return 0;
	}
	return 1;
}

/* Associated data: the header, then the name. */
static void make_aad(const uint8_t *hdr, const char *name, uint8_t *aad, size_t *aad_len)
{
	size_t n = strlen(name);

	memcpy(aad, hdr, HDR_LEN);
	memcpy(aad + HDR_LEN, name, n);
	*aad_len = HDR_LEN + n;
}

rp_status rp_sealed_put(const char *dir, const char *name, const uint8_t *data, size_t len,
			const uint8_t key[RP_STORAGE_KEY_LEN])
{
	uint8_t k[RP_STORAGE_KEY_LEN], aad[HDR_LEN + RP_LIMIT_SEALED_NAME_LEN];
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t *buf = NULL;
	size_t aad_len = 0;
	rp_status ret;
	int dirfd = -1;

	if (dir == NULL || !name_ok(name) || key == NULL || (data == NULL && len != 0)) {
		return RP_E_INVALID_ARG;
	}
	if (len > RP_LIMIT_SEALED_LEN) {
		return RP_E_TOO_LARGE;
	}
	ret = rp__storage_dir_open(dir, 1, &dirfd);
	if (ret != RP_OK) {
		return ret;
	}
	ret = RP_E_NOMEM;
	buf = malloc(HDR_LEN + len + RP__STORAGE_TAG_LEN);
	ctx = EVP_CIPHER_CTX_new();
	if (buf == NULL || ctx == NULL) {
		goto out;
	}
	memcpy(buf, magic, sizeof(magic));
	ret = rp__storage_random(buf + SALT_OFF, HDR_LEN - SALT_OFF);
	if (ret != RP_OK) {
		goto out;
	}
	ret = rp__storage_kdf(key, buf + SALT_OFF, NONCE_OFF - SALT_OFF, kdf_info, k);
	if (ret != RP_OK) {
		goto out;
	}
	make_aad(buf, name, aad, &aad_len);
	ret = rp__storage_aead_start(ctx, 1, k, buf + NONCE_OFF, aad, aad_len);
	if (ret == RP_OK && len != 0) {
		ret = rp__storage_aead_update(ctx, data, buf + HDR_LEN, len);
	}
	if (ret == RP_OK) {
		ret = rp__storage_aead_seal(ctx, buf + HDR_LEN + len);
	}
	if (ret != RP_OK) {
		goto out;
	}
	ret = rp__storage_write_atomic(dirfd, name, buf, HDR_LEN + len + RP__STORAGE_TAG_LEN, 1);
out:
	OPENSSL_cleanse(k, sizeof(k));
	EVP_CIPHER_CTX_free(ctx);
	free(buf);
	(void)close(dirfd);
	return ret;
}

rp_status rp_sealed_get(const char *dir, const char *name, const uint8_t key[RP_STORAGE_KEY_LEN],
			uint8_t *out, size_t cap, size_t *out_len)
{
	uint8_t k[RP_STORAGE_KEY_LEN], aad[HDR_LEN + RP_LIMIT_SEALED_NAME_LEN];
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t *buf = NULL;
	uint64_t size = 0;
	size_t aad_len = 0, got = 0, len = 0;
	rp_status ret;
	int dirfd = -1, fd = -1, wrote = 0;

	if (out_len == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out_len = 0;
	if (dir == NULL || !name_ok(name) || key == NULL || (out == NULL && cap != 0)) {
		return RP_E_INVALID_ARG;
	}
	ret = rp__storage_dir_open(dir, 0, &dirfd);
	if (ret != RP_OK) {
		return ret;
	}
	ret = rp__storage_file_open(dirfd, name, O_RDONLY, &fd, &size);
	if (ret != RP_OK) {
		goto out;
	}
	/* The size is the attacker's: bounded before anything is read. */
	ret = RP_E_MALFORMED;
	if (size < HDR_LEN + RP__STORAGE_TAG_LEN ||
	    size - (HDR_LEN + RP__STORAGE_TAG_LEN) > RP_LIMIT_SEALED_LEN) {
		goto out;
	}
	len = (size_t)size - (HDR_LEN + RP__STORAGE_TAG_LEN);
	if (len > cap) {
		*out_len = len;
		ret = RP_E_BUF_TOO_SMALL;
		goto out;
	}
	ret = RP_E_NOMEM;
	/* One byte more than the file, to see it if it grew since fstat(). */
	buf = malloc((size_t)size + 1u);
	ctx = EVP_CIPHER_CTX_new();
	if (buf == NULL || ctx == NULL) {
		goto out;
	}
	ret = rp__storage_pread_full(fd, buf, (size_t)size + 1u, 0, &got);
	if (ret != RP_OK) {
		goto out;
	}
	if (got != size) {
		ret = RP_E_IO; /* changed while read */
		goto out;
	}
	if (memcmp(buf, magic, sizeof(magic)) != 0) {
		ret = RP_E_MALFORMED;
		goto out;
	}
	ret = rp__storage_kdf(key, buf + SALT_OFF, NONCE_OFF - SALT_OFF, kdf_info, k);
	if (ret != RP_OK) {
		goto out;
	}
	make_aad(buf, name, aad, &aad_len);
	wrote = 1;
	ret = rp__storage_aead_start(ctx, 0, k, buf + NONCE_OFF, aad, aad_len);
	if (ret == RP_OK && len != 0) {
		ret = rp__storage_aead_update(ctx, buf + HDR_LEN, out, len);
	}
	if (ret == RP_OK) {
		ret = rp__storage_aead_verify(ctx, buf + HDR_LEN + len);
	}
	if (ret != RP_OK) {
		ret = RP_E_CRYPTO;
		goto out;
	}
	*out_len = len;
out:
	if (ret != RP_OK && wrote && len != 0) {
		OPENSSL_cleanse(out, len);
	}
	OPENSSL_cleanse(k, sizeof(k));
	EVP_CIPHER_CTX_free(ctx);
	free(buf);
	if (fd >= 0) {
		(void)close(fd);
	}
	(void)close(dirfd);
	return ret;
}

rp_status rp_sealed_delete(const char *dir, const char *name)
{
	rp_status ret;
	int dirfd = -1;

	if (dir == NULL || !name_ok(name)) {
		return RP_E_INVALID_ARG;
	}
	ret = rp__storage_dir_open(dir, 0, &dirfd);
	if (ret != RP_OK) {
		return ret;
	}
	if (unlinkat(dirfd, name, 0) != 0) {
		ret = errno == ENOENT ? RP_E_NOT_FOUND : RP_E_IO;
		goto out;
	}
	ret = rp__storage_fsync(dirfd);
out:
	(void)close(dirfd);
	return ret;
}
