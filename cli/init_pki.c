/*
 * init_pki.c - the fleet PKI of `rampart init`, made in memory: root CA,
 * issuing CA, server certificate, their keys, and the two passphrases that
 * encrypt the CA keys. Nothing here touches a file; cmd_init.c writes.
 *
 * Keys come from server/pki (EVP_EC_gen); the passphrases are 32 bytes of
 * RAND_bytes as base64url (43 characters, 256 bits): far past what the
 * scrypt of the key files needs, and easy to copy by hand. With
 * --pkcs11-*, the two CA keys are the token's (init_token.c): the request
 * lends their EVP_PKEYs, every signature of a CA is made by the token, and
 * there is no passphrase (no key file).
 */
#include <string.h>

#include <openssl/crypto.h>

#include "auth/secret.h"
#include "cli.h"
#include "util/alloc.h"

#define PASS_RANDOM_BYTES 32u

int cli_passphrase_new(char out[CLI_PASS_CAP])
{
	uint8_t raw[PASS_RANDOM_BYTES];
	rp_status st;

	st = rp_secret_random(raw, sizeof(raw));
	if (st == RP_OK) {
		st = rp_secret_b64_encode(RP_B64_URL, raw, sizeof(raw), out, CLI_PASS_CAP, NULL);
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	if (st != RP_OK) {
		OPENSSL_cleanse(out, CLI_PASS_CAP);
		return -1;
	}
	return 0;
}

static int pki_fail(const char *cmd, const char *what, rp_status st, const char *why)
{
	cli_fail(cmd, what, why != NULL && why[0] != '\0' ? why : rp_status_str(st));
	return -1;
}

/* The root and issuing CA certificates, and a signer for the issuing CA. */
static int make_cas(const char *cmd, const cli_pki_request *r, int64_t now, cli_init_pki *k,
		    rp_pki_signer **issuer)
{
	char root_cn[80], issuing_cn[80];
	rp_pki_ca_profile rp = {root_cn, "Rampart", 0}, ip = {issuing_cn, "Rampart", 0};
	rp_pki_signer *root = NULL;
	const char *why = NULL;
	rp_status st;
	int rc = -1;

	(void)snprintf(root_cn, sizeof(root_cn), "Rampart fleet %s root CA", r->fleet);
	(void)snprintf(issuing_cn, sizeof(issuing_cn), "Rampart fleet %s issuing CA", r->fleet);
	st = rp_pki_root_ca_new(k->root_key, &rp, now, &k->root, &why);
	if (st != RP_OK) {
		pki_fail(cmd, "root CA", st, why);
		goto out;
	}
	st = rp_pki_signer_new(k->root, k->root_key, &root, &why);
	if (st == RP_OK) {
		st = rp_pki_issuing_ca_new(root, k->issuing_key, &ip, now, &k->issuing, &why);
	}
	if (st != RP_OK) {
		pki_fail(cmd, "issuing CA", st, why);
		goto out;
	}
	st = rp_pki_signer_new(k->issuing, k->issuing_key, issuer, &why);
	if (st != RP_OK) {
		pki_fail(cmd, "issuing CA", st, why);
		goto out;
	}
	rc = 0;
out:
	rp_pki_signer_free(root);
	return rc;
}

/* A reference on the lent key, or a new one; 1, or 0 (failed). */
static int borrow_or_generate(EVP_PKEY *lent, rp_pki_alg alg, EVP_PKEY **out)
{
	if (lent != NULL) {
		if (EVP_PKEY_up_ref(lent) != 1) {
			return 0;
		}
		*out = lent;
		return 1;
	}
	return rp_pki_key_generate(alg, out) == RP_OK;
}

int cli_init_pki_make(const char *cmd, const cli_pki_request *r, int64_t now, cli_init_pki *k)
{
	rp_pki_server_profile sp;
	rp_pki_signer *issuer = NULL;
	const char *why = NULL;
	rp_status st;
	int rc = -1;

	memset(k, 0, sizeof(*k));
	if (!borrow_or_generate(r->root_key, r->root_alg, &k->root_key) ||
	    !borrow_or_generate(r->issuing_key, RP_PKI_EC_P256, &k->issuing_key) ||
	    rp_pki_key_generate(RP_PKI_EC_P256, &k->server_key) != RP_OK) {
		cli_fail(cmd, "keys", "key generation failed");
		goto out;
	}
	/* Passphrases only for keys that become files. */
	if ((r->root_key == NULL && cli_passphrase_new(k->root_pass) != 0) ||
	    (r->issuing_key == NULL && cli_passphrase_new(k->issuing_pass) != 0)) {
		cli_fail(cmd, "passphrases", "the random generator failed");
		goto out;
	}
	if (make_cas(cmd, r, now, k, &issuer) != 0) {
		goto out;
	}
	memset(&sp, 0, sizeof(sp));
	sp.dns = r->dns;
	sp.dns_count = r->ndns;
	sp.ip = r->ip;
	sp.ip_count = r->nip;
	st = rp_pki_server_cert_new(issuer, k->server_key, &sp, now, &k->server, &why);
	if (st != RP_OK) {
		pki_fail(cmd, "server certificate", st, why);
		goto out;
	}
	rc = 0;
out:
	rp_pki_signer_free(issuer);
	return rc;
}

void cli_init_pki_free(cli_init_pki *k)
{
	/* EVP_PKEY_free() clears the private scalars (BN_clear_free); a token's
	 * key loses our reference only (its keystore is closed after this). */
	EVP_PKEY_free(k->root_key);
	EVP_PKEY_free(k->issuing_key);
	EVP_PKEY_free(k->server_key);
	X509_free(k->root);
	X509_free(k->issuing);
	X509_free(k->server);
	OPENSSL_cleanse(k, sizeof(*k));
}

int cli_pem_certs(const char *cmd, X509 *const *certs, size_t n, uint8_t **out, size_t *len)
{
	size_t total = 0, need = 0, used = 0;
	uint8_t *buf;

	*out = NULL;
	for (size_t i = 0; i < n; i++) {
		if (rp_pki_cert_encode(certs[i], RP_PKI_PEM, NULL, 0, &need) !=
		    RP_E_BUF_TOO_SMALL) {
			cli_fail(cmd, "certificate", "cannot encode it as PEM");
			return -1;
		}
		total += need;
	}
	buf = rp_alloc(NULL, total);
	if (buf == NULL) {
		cli_fail(cmd, "certificate", "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (rp_pki_cert_encode(certs[i], RP_PKI_PEM, buf + used, total - used, &need) !=
		    RP_OK) {
			rp_free(NULL, buf);
			cli_fail(cmd, "certificate", "cannot encode it as PEM");
			return -1;
		}
		used += need;
	}
	*out = buf;
	*len = used;
	return 0;
}
