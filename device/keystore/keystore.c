/*
 * device/keystore/keystore.c - the keystore's front: dispatch to a back
 * end, signing and the public key over the back end's EVP_PKEY, and the
 * file helpers both back ends use (secrets read with their mode checked,
 * files created atomically).
 *
 * Implementation notes
 * - Signing goes through EVP_PKEY_sign with the digest the caller made:
 *   for "soft" OpenSSL signs with the key in memory; for "pkcs11" the
 *   EVP_PKEY is libp11's, whose EC_KEY_METHOD sends the digest to the
 *   token (C_Sign with CKM_ECDSA) and returns the DER signature.
 * - Files with secrets are checked on the descriptor that is read (fstat
 *   after open), so a file swapped between the check and the read cannot
 *   slip through.
 */
#include "keystore/keystore_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>

void rp__keystore_err(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || cap == 0) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

const char *rp__keystore_curve(rp_key_type type)
{
	switch (type) {
	case RP_KEY_EC_P256:
		return "P-256";
	case RP_KEY_EC_P384:
		return "P-384";
	}
	return NULL;
}

rp_key_type rp__keystore_type_of(EVP_PKEY *pkey)
{
	char group[32];

	if (pkey == NULL || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
	    EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) != 1) {
		ERR_clear_error();
		return 0;
	}
	if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
		return RP_KEY_EC_P256;
	}
	if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
		return RP_KEY_EC_P384;
	}
	return 0;
}

/* ---- files ----------------------------------------------------------------- */

rp_status rp__keystore_read_private(const char *path, const char *what, char *buf, size_t cap,
				    size_t *len, char *err, size_t err_cap)
{
	struct stat st;
	size_t n = 0;
	ssize_t r;
	rp_status rc = RP_E_IO;
	int fd;

	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT) {
			rp__keystore_err(err, err_cap, "%s %s does not exist", what, path);
			return RP_E_NOT_FOUND;
		}
		rp__keystore_err(err, err_cap, "cannot open %s %s: %s", what, path,
				 strerror(errno));
		return RP_E_IO;
	}
	if (fstat(fd, &st) != 0) {
		rp__keystore_err(err, err_cap, "cannot stat %s %s: %s", what, path,
				 strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rp__keystore_err(err, err_cap, "%s %s is not a regular file: refused", what, path);
		rc = RP_E_CONFIG;
		goto out;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		rp__keystore_err(err, err_cap,
				 "%s %s can be accessed by group or others (mode %04o): refused; "
				 "make it mode 0600",
				 what, path, (unsigned)(st.st_mode & 07777));
		rc = RP_E_CONFIG;
		goto out;
	}
	if (st.st_uid != geteuid()) {
		rp__keystore_err(err, err_cap,
				 "%s %s is owned by uid %u, not by this process's user (uid %u): "
				 "refused",
				 what, path, (unsigned)st.st_uid, (unsigned)geteuid());
		rc = RP_E_CONFIG;
		goto out;
	}
	for (;;) {
		if (n == cap - 1) {
			char extra;

			/* One more byte tells a full buffer from a file too large. */
			r = read(fd, &extra, 1);
			if (r == 0) {
				break;
			}
			rp__keystore_err(err, err_cap, "%s %s is larger than %zu bytes: refused",
					 what, path, cap - 1);
			rc = RP_E_CONFIG;
			goto out;
		}
		r = read(fd, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r < 0) {
			rp__keystore_err(err, err_cap, "cannot read %s %s: %s", what, path,
					 strerror(errno));
			goto out;
		}
		if (r == 0) {
			break;
		}
		n += (size_t)r;
	}
	buf[n] = '\0';
	*len = n;
	rc = RP_OK;
out:
	close(fd);
	if (rc != RP_OK) {
		OPENSSL_cleanse(buf, cap);
	}
	return rc;
}

rp_status rp__keystore_read_secret(const char *path, const char *what, char *buf, size_t cap,
				   size_t *len, char *err, size_t err_cap)
{
	rp_status rc = rp__keystore_read_private(path, what, buf, cap, len, err, err_cap);
	size_t n = *len;

	if (rc != RP_OK) {
		return rc;
	}
	if (n > 0 && buf[n - 1] == '\n') {
		n--;
		if (n > 0 && buf[n - 1] == '\r') {
			n--;
		}
	}
	buf[n] = '\0';
	*len = n;
	/* One line of text: anything else is a mistake that would make a
	 * secret other than the operator thinks (strlen would cut at a NUL). */
	if (n == 0 || memchr(buf, '\0', n) != NULL || memchr(buf, '\n', n) != NULL ||
	    memchr(buf, '\r', n) != NULL) {
		rp__keystore_err(err, err_cap,
				 "%s %s must hold one non-empty line of text: refused", what, path);
		OPENSSL_cleanse(buf, cap);
		*len = 0;
		return RP_E_CONFIG;
	}
	return RP_OK;
}

/* fsyncs the directory that holds path, so that a new name in it is durable. */
static int sync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd, rc = -1;

	if (copy == NULL) {
		return -1;
	}
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		rc = fsync(fd);
		close(fd);
	}
	free(copy);
	return rc;
}

rp_status rp__keystore_write_new(const char *path, const void *data, size_t len, char *err,
				 size_t err_cap)
{
	const unsigned char *p = data;
	size_t plen = strlen(path), off = 0;
	char *tmp = malloc(plen + sizeof(".tmp-XXXXXX"));
	rp_status rc = RP_E_IO;
	int fd = -1, linked;

	if (tmp == NULL) {
		rp__keystore_err(err, err_cap, "out of memory writing %s", path);
		return RP_E_NOMEM;
	}
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".tmp-XXXXXX", sizeof(".tmp-XXXXXX"));
	fd = mkstemp(tmp);
	if (fd < 0) {
		rp__keystore_err(err, err_cap, "cannot create a temporary file next to %s: %s",
				 path, strerror(errno));
		free(tmp);
		return RP_E_IO;
	}
	if (fchmod(fd, 0600) != 0) {
		rp__keystore_err(err, err_cap, "cannot set mode 0600 on %s: %s", tmp,
				 strerror(errno));
		goto out;
	}
	while (off < len) {
		ssize_t w = write(fd, p + off, len - off);

		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			rp__keystore_err(err, err_cap, "cannot write %s: %s", tmp,
					 w < 0 ? strerror(errno) : "no progress");
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0) {
		rp__keystore_err(err, err_cap, "cannot fsync %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		rp__keystore_err(err, err_cap, "cannot close %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	/* link(), unlike rename(), never replaces an existing file. */
	linked = link(tmp, path);
	if (linked != 0 && errno == EEXIST) {
		rp__keystore_err(err, err_cap, "%s already exists: not replaced", path);
		rc = RP_E_EXISTS;
		goto out;
	}
	if (linked != 0) {
		rp__keystore_err(err, err_cap, "cannot create %s: %s", path, strerror(errno));
		goto out;
	}
	if (sync_dir(path) != 0) {
		rp__keystore_err(err, err_cap, "cannot fsync the directory of %s", path);
		goto out;
	}
	rc = RP_OK;
out:
	if (fd >= 0) {
		close(fd);
	}
	unlink(tmp);
	free(tmp);
	return rc;
}

/* ---- the interface --------------------------------------------------------- */

rp_status rp_keystore_open(const rp_keystore_config *cfg, rp_keystore **out, char *err,
			   size_t err_cap)
{
	const rp__keystore_backend *be;
	rp_keystore *ks;
	rp_status rc;

	if (err != NULL && err_cap > 0) {
		err[0] = '\0';
	}
	if (out == NULL) {
		rp__keystore_err(err, err_cap, "keystore: no place for the result");
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	if (cfg == NULL) {
		rp__keystore_err(err, err_cap, "keystore: no configuration");
		return RP_E_INVALID_ARG;
	}
	if (cfg->backend != NULL && strcmp(cfg->backend, "soft") == 0) {
		be = &rp__keystore_soft;
	} else if (cfg->backend != NULL && strcmp(cfg->backend, "pkcs11") == 0) {
		be = &rp__keystore_pkcs11;
	} else {
		rp__keystore_err(
			err, err_cap, "keystore back end must be \"soft\" or \"pkcs11\"%s%.32s%s",
			cfg->backend != NULL ? ", not \"" : "",
			cfg->backend != NULL ? cfg->backend : "", cfg->backend != NULL ? "\"" : "");
		return RP_E_CONFIG;
	}
	ks = calloc(1, sizeof(*ks));
	if (ks == NULL) {
		rp__keystore_err(err, err_cap, "keystore: out of memory");
		return RP_E_NOMEM;
	}
	ks->be = be;
	rc = be->open(ks, cfg, err, err_cap);
	if (rc != RP_OK) {
		be->close(ks);
		OPENSSL_cleanse(ks, sizeof(*ks));
		free(ks);
		ERR_clear_error();
		return rc;
	}
	*out = ks;
	return RP_OK;
}

int rp_keystore_has_key(const rp_keystore *ks)
{
	return ks != NULL && ks->pkey != NULL;
}

rp_key_type rp_keystore_key_type(const rp_keystore *ks)
{
	return ks != NULL && ks->pkey != NULL ? ks->type : 0;
}

const char *rp_keystore_backend(const rp_keystore *ks)
{
	return ks != NULL ? ks->be->name : NULL;
}

const char *rp_keystore_error(const rp_keystore *ks)
{
	return ks != NULL ? ks->err : "";
}

rp_status rp_keystore_generate(rp_keystore *ks, rp_key_type type)
{
	rp_status rc;

	if (ks == NULL) {
		return RP_E_INVALID_ARG;
	}
	ks->err[0] = '\0';
	if (rp__keystore_curve(type) == NULL) {
		rp__keystore_err(ks->err, sizeof(ks->err), "unknown key type %d", (int)type);
		return RP_E_INVALID_ARG;
	}
	if (ks->pkey != NULL) {
		rp__keystore_err(ks->err, sizeof(ks->err),
				 "the keystore already holds a key: not replaced");
		return RP_E_EXISTS;
	}
	rc = ks->be->generate(ks, type, ks->err, sizeof(ks->err));
	if (rc != RP_OK) {
		ERR_clear_error();
	} else {
		ks->err[0] = '\0';
	}
	return rc;
}

rp_status rp_keystore_public_key(rp_keystore *ks, uint8_t *out, size_t cap, size_t *out_len)
{
	unsigned char *p = out;
	int n;

	if (ks == NULL || out_len == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out_len = 0;
	if (ks->pkey == NULL) {
		return RP_E_STATE;
	}
	n = i2d_PUBKEY(ks->pkey, NULL);
	if (n <= 0) {
		ERR_clear_error();
		return RP_E_CRYPTO;
	}
	*out_len = (size_t)n;
	if (out == NULL) {
		return RP_OK;
	}
	if (cap < (size_t)n) {
		return RP_E_BUF_TOO_SMALL;
	}
	if (i2d_PUBKEY(ks->pkey, &p) != n) {
		ERR_clear_error();
		*out_len = 0;
		return RP_E_CRYPTO;
	}
	return RP_OK;
}

rp_status rp_keystore_sign(rp_keystore *ks, const uint8_t *digest, size_t digest_len, uint8_t *sig,
			   size_t cap, size_t *sig_len)
{
	EVP_PKEY_CTX *ctx = NULL;
	const EVP_MD *md;
	rp_status rc = RP_E_CRYPTO;
	size_t len;
	int max;

	if (ks == NULL || digest == NULL || sig_len == NULL) {
		return RP_E_INVALID_ARG;
	}
	*sig_len = 0;
	if (digest_len == 32) {
		md = EVP_sha256();
	} else if (digest_len == 48) {
		md = EVP_sha384();
	} else {
		return RP_E_INVALID_ARG;
	}
	if (ks->pkey == NULL) {
		return RP_E_STATE;
	}
	max = EVP_PKEY_get_size(ks->pkey);
	if (max <= 0) {
		ERR_clear_error();
		return RP_E_CRYPTO;
	}
	*sig_len = (size_t)max;
	if (sig == NULL) {
		return RP_OK;
	}
	if (cap < (size_t)max) {
		return RP_E_BUF_TOO_SMALL;
	}
	*sig_len = 0;
	ctx = EVP_PKEY_CTX_new(ks->pkey, NULL);
	len = cap;
	if (ctx == NULL || EVP_PKEY_sign_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, md) != 1 ||
	    EVP_PKEY_sign(ctx, sig, &len, digest, digest_len) != 1 || len == 0 || len > cap) {
		goto out;
	}
	*sig_len = len;
	rc = RP_OK;
out:
	EVP_PKEY_CTX_free(ctx);
	if (rc != RP_OK) {
		ERR_clear_error();
	}
	return rc;
}

EVP_PKEY *rp_keystore_pkey(rp_keystore *ks)
{
	return ks != NULL ? ks->pkey : NULL;
}

void rp_keystore_close(rp_keystore *ks)
{
	if (ks == NULL) {
		return;
	}
	ks->be->close(ks);
	OPENSSL_cleanse(ks, sizeof(*ks));
	free(ks);
}
