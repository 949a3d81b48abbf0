/*
 * rampart/sealed.h - sealed storage: small secrets and settings kept
 * encrypted and authenticated on the device's disk, and the data key that
 * seals them (and the store-and-forward queue of rampart/sfq.h).
 *
 * A sealed file holds one value under one name in a directory. It is
 * encrypted with ChaCha20-Poly1305 under a key derived from the caller's
 * 32-byte data key and a fresh random salt, and its name is authenticated
 * with it: a file renamed, truncated, edited, or sealed under another key
 * is refused, never returned. docs/storage.md has the file format and the
 * threat model.
 *
 * Conventions
 * - Keys: the caller owns the data key (RP_STORAGE_KEY_LEN bytes). Nothing
 *   here keeps it after a call returns; every copy and every derived key
 *   is wiped (OPENSSL_cleanse) before the call returns.
 * - Buffers: inputs are `const uint8_t *data, size_t len` (data may be NULL
 *   when len is 0); outputs are `uint8_t *out, size_t cap, size_t *out_len`.
 *   On any failure the output buffer holds nothing of the file (it is wiped
 *   when it may have been written).
 * - NULL is allowed only where a comment says so; elsewhere it gives
 *   RP_E_INVALID_ARG.
 * - Names: 1 to RP_LIMIT_SEALED_NAME_LEN bytes of [A-Za-z0-9._-], starting
 *   with a letter or a digit (so never ".", "..", a path or a hidden file;
 *   the library's temporary files start with '.'). Anything else is
 *   RP_E_INVALID_ARG.
 * - Directories: the directory MUST be owned by the calling user (or root)
 *   and MUST NOT be writable by group or others; otherwise RP_E_CONFIG,
 *   because whoever can write it can swap files. Symbolic links are not
 *   followed for files; the directory path itself may contain them.
 * - Files are written with mode 0600 and replaced atomically (a temporary
 *   file, fsync, rename, fsync of the directory): after a power cut the
 *   name holds the old value or the new one, never a mix. A power cut may
 *   leave a temporary file ".tmp-..." behind: it is never read (no valid
 *   name starts with '.') and nothing depends on it; it is garbage that
 *   an operator may delete.
 * - Threads: every function is safe from any thread; two writers of the
 *   same name race like two renames do (one value wins, whole).
 * - Nothing here logs.
 */
#ifndef RAMPART_SEALED_H
#define RAMPART_SEALED_H

#include <stddef.h>
#include <stdint.h>

#include "rampart/limits.h"
#include "rampart/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of a data key. */
#define RP_STORAGE_KEY_LEN 32u

/* Bytes a sealed file adds to its value: header (magic, salt, nonce) and tag. */
#define RP_SEALED_OVERHEAD 48u

/*
 * Loads the data key from the file at `path`, or creates that file with
 * RP_STORAGE_KEY_LEN random bytes (OpenSSL's RAND_priv_bytes) when it does
 * not exist. The key file is raw bytes, mode 0600; its directory is
 * checked as above. Creation is atomic and safe against a concurrent
 * creator: a temporary file is written and synced, then linked to `path`
 * only if `path` still does not exist; otherwise the existing key is read.
 *
 * What it protects, and what not: the key file lives on the same disk as
 * the data it seals, so sealing protects against reading a copy of the
 * data without the key (a backup, a log bundle, a queue directory sent
 * for analysis), and detects tampering and corruption. It does NOT protect
 * against anyone who can read the key file (root on the device, or the
 * whole disk removed from it). A device with a secure element or a TPM
 * should derive or unwrap the data key there and call rp_sfq_open() and
 * rp_sealed_*() with it instead.
 *
 * Returns RP_OK with key filled; RP_E_CONFIG (the key file is not a
 * regular file, not owned by the caller, readable or writable by group or
 * others, or not exactly RP_STORAGE_KEY_LEN bytes; or the directory is not
 * safe); RP_E_NOT_FOUND (the directory does not exist); RP_E_IO (a read,
 * write, sync or link failed); RP_E_CRYPTO (no randomness); RP_E_INVALID_ARG.
 * On failure key is zeroed.
 */
rp_status rp_storage_key_load_or_create(const char *path, uint8_t key[RP_STORAGE_KEY_LEN]);

/*
 * Seals data[0 .. len) under `name` in directory `dir` (created with mode
 * 0700 when missing; its parent must exist), replacing any previous value
 * atomically. len is at most RP_LIMIT_SEALED_LEN.
 *
 * Returns RP_OK (the value is durable: file and directory synced);
 * RP_E_INVALID_ARG (bad name, NULL); RP_E_TOO_LARGE (len over the limit);
 * RP_E_CONFIG (directory not safe, or not a directory); RP_E_IO;
 * RP_E_CRYPTO (randomness or the cipher failed); RP_E_NOMEM. On failure
 * the previous value, if any, is still there.
 */
rp_status rp_sealed_put(const char *dir, const char *name, const uint8_t *data, size_t len,
			const uint8_t key[RP_STORAGE_KEY_LEN]);

/*
 * Reads the value sealed under `name` into out[0 .. cap).
 *
 * Returns RP_OK with *out_len; RP_E_NOT_FOUND (no such name, or no such
 * directory); RP_E_BUF_TOO_SMALL with *out_len set to the size needed
 * (nothing is decrypted; the size is that of an unauthenticated file, a
 * hint only); RP_E_CRYPTO (authentication failed: wrong key, the file was
 * renamed from another name, edited, truncated or damaged);
 * RP_E_MALFORMED (not a sealed file: too short or wrong magic, or over
 * RP_LIMIT_SEALED_LEN); RP_E_CONFIG (directory or file not private: a file
 * that group or others may access, or owned by someone else, is refused
 * unread); RP_E_IO; RP_E_INVALID_ARG.
 */
rp_status rp_sealed_get(const char *dir, const char *name, const uint8_t key[RP_STORAGE_KEY_LEN],
			uint8_t *out, size_t cap, size_t *out_len);

/*
 * Deletes the value sealed under `name` (the file is unlinked and the
 * directory synced; the ciphertext may survive on the medium: deleting a
 * sealed value is not wiping it). Returns RP_OK; RP_E_NOT_FOUND;
 * RP_E_INVALID_ARG; RP_E_CONFIG (directory not safe); RP_E_IO.
 */
rp_status rp_sealed_delete(const char *dir, const char *name);

#ifdef __cplusplus
}
#endif

#endif /* RAMPART_SEALED_H */
