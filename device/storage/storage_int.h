/*
 * device/storage/storage_int.h - what the storage modules (sfq.c,
 * sealed.c, key.c) share: key derivation, MAC and AEAD over OpenSSL, and
 * careful file I/O. Internal: names are rp__storage_*.
 *
 * Conventions
 * - Keys are RP_STORAGE_KEY_LEN bytes. A function that derives or handles
 *   a key wipes its own copies; the caller wipes what it passed in.
 * - File functions take a directory descriptor and a single file name
 *   (never a path): every file is opened with openat(), O_NOFOLLOW and
 *   O_CLOEXEC, so a symbolic link planted in the directory is refused.
 * - Every read, write and sync is checked; a short write is retried until
 *   done or failed. EINTR is retried.
 */
#ifndef RP_DEVICE_STORAGE_INT_H
#define RP_DEVICE_STORAGE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/evp.h>

#include "rampart/sealed.h"
#include "rampart/status.h"

/* ChaCha20-Poly1305 nonce and tag sizes. */
#define RP__STORAGE_NONCE_LEN 12u
#define RP__STORAGE_TAG_LEN   16u
/* Bytes of a truncated HMAC-SHA256. */
#define RP__STORAGE_MAC_LEN 16u

/* Big-endian integers in on-disk headers. */
void rp__storage_put_u32(uint8_t *p, uint32_t v);
void rp__storage_put_u64(uint8_t *p, uint64_t v);
uint32_t rp__storage_get_u32(const uint8_t *p);
uint64_t rp__storage_get_u64(const uint8_t *p);

/*
 * HKDF-SHA256 (RFC 5869) of ikm with salt (may be NULL when salt_len is 0)
 * and the text info, into out. Returns RP_OK or RP_E_CRYPTO (out zeroed).
 */
rp_status rp__storage_kdf(const uint8_t ikm[RP_STORAGE_KEY_LEN], const uint8_t *salt,
			  size_t salt_len, const char *info, uint8_t out[RP_STORAGE_KEY_LEN]);

/*
 * HMAC-SHA256 of data under key, truncated to RP__STORAGE_MAC_LEN bytes.
 * Returns RP_OK or RP_E_CRYPTO.
 */
rp_status rp__storage_mac(const uint8_t key[RP_STORAGE_KEY_LEN], const uint8_t *data, size_t len,
			  uint8_t out[RP__STORAGE_MAC_LEN]);

/* 1 when the MAC of data under key equals mac (constant time), else 0. */
int rp__storage_mac_ok(const uint8_t key[RP_STORAGE_KEY_LEN], const uint8_t *data, size_t len,
		       const uint8_t mac[RP__STORAGE_MAC_LEN]);

/*
 * Starts a ChaCha20-Poly1305 encryption (enc 1) or decryption (enc 0) in
 * ctx with key, nonce and the associated data aad[0 .. aad_len). Then
 * rp__storage_aead_update() any number of times (out may equal in), then
 * rp__storage_aead_seal() or rp__storage_aead_verify(). Returns RP_OK or
 * RP_E_CRYPTO.
 */
rp_status rp__storage_aead_start(EVP_CIPHER_CTX *ctx, int enc,
				 const uint8_t key[RP_STORAGE_KEY_LEN],
				 const uint8_t nonce[RP__STORAGE_NONCE_LEN], const uint8_t *aad,
				 size_t aad_len);
rp_status rp__storage_aead_update(EVP_CIPHER_CTX *ctx, const uint8_t *in, uint8_t *out, size_t n);
/* Ends an encryption: the tag into tag. Returns RP_OK or RP_E_CRYPTO. */
rp_status rp__storage_aead_seal(EVP_CIPHER_CTX *ctx, uint8_t tag[RP__STORAGE_TAG_LEN]);
/*
 * Ends a decryption: RP_OK only when tag authenticates everything given;
 * RP_E_CRYPTO otherwise (the plaintext given out MUST then be wiped and
 * not used).
 */
rp_status rp__storage_aead_verify(EVP_CIPHER_CTX *ctx, const uint8_t tag[RP__STORAGE_TAG_LEN]);

/* Random bytes (public values: nonces, salts, ids). Returns RP_OK or RP_E_CRYPTO. */
rp_status rp__storage_random(uint8_t *out, size_t n);

/*
 * Opens directory `path` (creating it with mode 0700 when create is set
 * and it is missing) and checks that it is a directory owned by the
 * effective user or root and not writable by group or others. Returns
 * RP_OK with *dirfd; RP_E_NOT_FOUND (missing, and not created); RP_E_CONFIG
 * (not a directory, or not safe); RP_E_IO.
 */
rp_status rp__storage_dir_open(const char *path, int create, int *dirfd);

/*
 * Opens name in dirfd with flags (O_NOFOLLOW and O_CLOEXEC added; mode
 * 0600 for O_CREAT) and checks that it is a regular file owned by the
 * effective user that group and others may not access. Returns RP_OK with
 * *fd and *size; RP_E_NOT_FOUND; RP_E_CONFIG (a link, not a regular file,
 * not owned, or group/other permissions); RP_E_IO.
 */
rp_status rp__storage_file_open(int dirfd, const char *name, int flags, int *fd, uint64_t *size);

/* Writes all of buf[0 .. len) at offset off. Returns RP_OK or RP_E_IO. */
rp_status rp__storage_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);

/*
 * Reads up to len bytes at offset off into buf, stopping early only at the
 * end of the file. Returns RP_OK with *got; RP_E_IO.
 */
rp_status rp__storage_pread_full(int fd, void *buf, size_t len, uint64_t off, size_t *got);

/* fdatasync() / fsync() of fd, retried on EINTR. Returns RP_OK or RP_E_IO. */
rp_status rp__storage_datasync(int fd);
rp_status rp__storage_fsync(int fd);

/*
 * Writes data[0 .. len) as file `name` in dirfd atomically: a new
 * temporary file ".tmp-<random>" with mode 0600, written and fsync()ed,
 * then renamed to name (replace set: any existing file is replaced) or
 * linked to name (replace 0: RP_E_EXISTS when name exists, and nothing
 * changes), then the directory is fsync()ed. The temporary file is removed
 * on every path. Returns RP_OK; RP_E_EXISTS; RP_E_IO; RP_E_CRYPTO (no
 * randomness for the temporary name).
 */
rp_status rp__storage_write_atomic(int dirfd, const char *name, const uint8_t *data, size_t len,
				   int replace);

/* 1 when name starts with ".tmp-" (a temporary file of this library). */
int rp__storage_is_temp(const char *name);

#endif /* RP_DEVICE_STORAGE_INT_H */
