/*
 * key.c - rp_storage_key_load_or_create(): the device's data key file
 * (rampart/sealed.h).
 *
 * The file is RP_STORAGE_KEY_LEN raw bytes with mode 0600, in a directory
 * only its owner may write. It is made once, atomically: a temporary file
 * is written and fsync()ed, then link()ed to the final name, which fails
 * if another process created the key first; that key is then read. So two
 * processes starting together agree on one key, and a power cut leaves
 * either no key file or a whole one, never a partial key.
 */
#include "storage/storage_int.h"

#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

/* Splits path into its directory (dir, NUL terminated) and its last name. */
static rp_status split_path(const char *path, char *dir, size_t cap, const char **base)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (slash == NULL) {
		(void)memcpy(dir, ".", 2);
		*base = path;
	} else {
		n = slash == path ? 1u : (size_t)(slash - path);
		if (n >= cap) {
			return RP_E_INVALID_ARG;
		}
		memcpy(dir, path, n);
		dir[n] = '\0';
		*base = slash + 1;
	}
	if ((*base)[0] == '\0' || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0) {
		return RP_E_INVALID_ARG;
	}
	return RP_OK;
}

/* Reads the key file: exactly RP_STORAGE_KEY_LEN bytes, private. */
static rp_status read_key(int dirfd, const char *name, uint8_t key[RP_STORAGE_KEY_LEN])
{
	uint8_t buf[RP_STORAGE_KEY_LEN + 1];
	uint64_t size = 0;
	size_t got = 0;
	rp_status ret;
	int fd = -1;

	ret = rp__storage_file_open(dirfd, name, O_RDONLY, &fd, &size);
	if (ret != RP_OK) {
		return ret;
	}
	ret = RP_E_CONFIG;
	if (size != RP_STORAGE_KEY_LEN) {
		goto out;
	}
	/* One byte more than a key, in case the file grew since fstat(). */
	if (rp__storage_pread_full(fd, buf, sizeof(buf), 0, &got) != RP_OK) {
		ret = RP_E_IO;
		goto out;
	}
	if (got != RP_STORAGE_KEY_LEN) {
		goto out;
	}
	memcpy(key, buf, RP_STORAGE_KEY_LEN);
	ret = RP_OK;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	(void)close(fd);
	return ret;
}

rp_status rp_storage_key_load_or_create(const char *path, uint8_t key[RP_STORAGE_KEY_LEN])
{
	char dir[PATH_MAX];
	const char *base = NULL;
	rp_status ret;
	int dirfd = -1;

	if (key == NULL) {
		return RP_E_INVALID_ARG;
	}
	OPENSSL_cleanse(key, RP_STORAGE_KEY_LEN);
	if (path == NULL) {
		return RP_E_INVALID_ARG;
	}
	ret = split_path(path, dir, sizeof(dir), &base);
	if (ret != RP_OK) {
		return ret;
	}
	ret = rp__storage_dir_open(dir, 0, &dirfd);
	if (ret != RP_OK) {
		return ret;
	}
	ret = read_key(dirfd, base, key);
	if (ret != RP_E_NOT_FOUND) {
		goto out;
	}
	if (RAND_priv_bytes(key, (int)RP_STORAGE_KEY_LEN) != 1) {
		ret = RP_E_CRYPTO;
		goto out;
	}
	ret = rp__storage_write_atomic(dirfd, base, key, RP_STORAGE_KEY_LEN, 0);
	if (ret == RP_E_EXISTS) {
		/* Another process made the key first: theirs is the key. */
		ret = read_key(dirfd, base, key);
	}
out:
	if (ret != RP_OK) {
		OPENSSL_cleanse(key, RP_STORAGE_KEY_LEN);
	}
	(void)close(dirfd);
	return ret;
}
