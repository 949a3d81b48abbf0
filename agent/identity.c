/*
 * agent/identity.c - the device's identity: its key (keystore), its
 * certificate (EST enrollment, then renewal), and the TLS context made of
 * both and the fleet root.
 *
 * Files under state_dir:
 *   device.crt            the certificate and its chain (public, 0644)
 *   key.pem, key.pass     the key when keystore is soft (0600)
 * The enrollment token is read from enroll.token_file, used once, and the
 * file is removed after a successful enrollment (a used token is worth
 * nothing, but there is no reason to keep it).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "identity.h"

static void path_in(const agent_config *c, const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s", c->state_dir, name);
}

rp_status agent_identity_open(agent_identity *id, const agent_config *c)
{
	rp_keystore_config kc;
	char key[AGENT_PATH_MAX + 16], pass[AGENT_PATH_MAX + 16], err[RP_KEYSTORE_ERR_MAX];
	rp_status st;

	memset(id, 0, sizeof(*id));
	id->c = c;
	path_in(c, "device.crt", id->cert_path, sizeof(id->cert_path));
	memset(&kc, 0, sizeof(kc));
	kc.backend = c->keystore;
	if (strcmp(c->keystore, "soft") == 0) {
		path_in(c, "key.pem", key, sizeof(key));
		path_in(c, "key.pass", pass, sizeof(pass));
		kc.key_file = key;
		kc.pass_file = pass;
	} else {
		kc.module = c->ks_module;
		kc.token_label = c->ks_token;
		kc.pin_file = c->ks_pin_file;
		kc.key_label = c->ks_key_label;
	}
	st = rp_keystore_open(&kc, &id->ks, err, sizeof(err));
	if (st != RP_OK) {
		agent_log(3, "keystore (%s): %s", c->keystore, err);
		return st;
	}
	if (!rp_keystore_has_key(id->ks)) {
		st = rp_keystore_generate(id->ks, c->key_type);
		if (st != RP_OK) {
			agent_log(3, "keystore (%s): cannot generate the device key: %s",
				  c->keystore, rp_keystore_error(id->ks));
			return st;
		}
		agent_log(6, "keystore (%s): device key generated in the store", c->keystore);
	}
	return RP_OK;
}

/* Reads device.crt: the certificate (first) and the chain after it. */
static int cert_load(agent_identity *id)
{
	FILE *f = fopen(id->cert_path, "r");
	X509 *x;

	if (f == NULL) {
		return 0;
	}
	id->cert = PEM_read_X509(f, NULL, NULL, NULL);
	id->chain = sk_X509_new_null();
	while (id->chain != NULL && (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(id->chain, x)) {
			X509_free(x);
			break;
		}
	}
	fclose(f);
	return id->cert != NULL;
}

static void cert_drop(agent_identity *id)
{
	X509_free(id->cert);
	sk_X509_pop_free(id->chain, X509_free);
	id->cert = NULL;
	id->chain = NULL;
}

/* The certificate is usable: ours (key), not expired. */
static int cert_usable(agent_identity *id)
{
	EVP_PKEY *pub = id->cert != NULL ? X509_get0_pubkey(id->cert) : NULL;

	return pub != NULL && EVP_PKEY_eq(pub, rp_keystore_pkey(id->ks)) == 1 &&
	       X509_cmp_time(X509_get0_notAfter(id->cert), NULL) > 0;
}

/* The one-time token, from its file (0600, owned by us). */
static int token_read(const char *path, char *out, size_t cap)
{
	struct stat sb;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0) {
		agent_log(3, "enrollment: cannot open the token file %s: %s", path,
			  strerror(errno));
		return 0;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (sb.st_mode & 077) != 0 ||
	    sb.st_uid != geteuid()) {
		agent_log(3,
			  "enrollment: the token file %s must be a regular file of ours, mode 0600",
			  path);
		close(fd);
		return 0;
	}
	n = read(fd, out, cap - 1u);
	close(fd);
	if (n <= 0) {
		agent_log(3, "enrollment: the token file %s is empty", path);
		return 0;
	}
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' ')) {
		n--;
	}
	out[n] = '\0';
	return n > 0;
}

static void est_client_of(const agent_identity *id, rp_est_client *ec, char *url, size_t cap)
{
	const agent_config *c = id->c;
	const char *name = c->server_name[0] != '\0' ? c->server_name : c->host;
	int v6 = strchr(name, ':') != NULL;

	/* The URL names what the certificate must carry; the connection goes
	 * to server.host. */
	snprintf(url, cap, v6 ? "https://[%s]:%u" : "https://%s:%u", name, (unsigned)c->https_port);
	ec->connect_host = c->server_name[0] != '\0' ? c->host : NULL;
	ec->url = url;
	ec->trust_file = c->trust_root;
	ec->device_id = c->device_id;
	ec->timeout_ms = 30000;
}

static int retryable(rp_status st)
{
	return st == RP_E_IO || st == RP_E_TIMEOUT || st == RP_E_BUSY || st == RP_E_NOMEM;
}

rp_status agent_identity_enroll(agent_identity *id, int renew)
{
	rp_est_credential cred = {NULL, NULL, NULL};
	rp_est_client ec;
	char url[600], token[512] = "", err[400] = "";
	X509 *cert = NULL;
	STACK_OF(X509) *chain = NULL;
	rp_status st;

	est_client_of(id, &ec, url, sizeof(url));
	if (renew) {
		cred.cert_file = id->cert_path;
		cred.cert_key = rp_keystore_pkey(id->ks);
	} else {
		if (id->c->token_file[0] == '\0') {
			agent_log(3, "enrollment: no certificate yet, and no enroll.token_file to "
				     "get one");
			return RP_E_CONFIG;
		}
		if (!token_read(id->c->token_file, token, sizeof(token))) {
			return RP_E_CONFIG;
		}
		cred.token = token;
	}
	st = rp_est_enroll(&ec, &cred, rp_keystore_pkey(id->ks),
			   renew ? RP_EST_REENROLL : RP_EST_ENROLL, &cert, &chain, err,
			   sizeof(err));
	OPENSSL_cleanse(token, sizeof(token));
	if (st != RP_OK) {
		agent_log(retryable(st) ? 4 : 3, "%s: %s (%s)", renew ? "renewal" : "enrollment",
			  err, retryable(st) ? "will retry" : "an operator must act");
		return st;
	}
	st = rp_est_save(id->cert_path, cert, chain);
	if (st != RP_OK) {
		agent_log(3, "%s: cannot write %s", renew ? "renewal" : "enrollment",
			  id->cert_path);
		X509_free(cert);
		sk_X509_pop_free(chain, X509_free);
		return st;
	}
	cert_drop(id);
	id->cert = cert;
	id->chain = chain;
	if (!renew && unlink(id->c->token_file) != 0 && errno != ENOENT) {
		agent_log(4, "enrollment: the used token file %s could not be removed: %s",
			  id->c->token_file, strerror(errno));
	}
	agent_identity_schedule(id, 1);
	agent_log(6, "%s: certificate for %s stored in %s; renewal in %lld s",
		  renew ? "renewal" : "enrollment", id->c->device_id, id->cert_path,
		  (long long)(id->renew_at - (int64_t)time(NULL)));
	return RP_OK;
}

void agent_identity_schedule(agent_identity *id, int fresh)
{
	int64_t now = (int64_t)time(NULL), at;
	struct stat sb;

	at = rp_est_renew_at(id->cert, agent_rnd32());
	/* renew.interval: at most this long after the certificate was obtained
	 * (now, or when device.crt was written). */
	if (id->c->renew_interval_ms != 0) {
		int64_t got = fresh ? now : (stat(id->cert_path, &sb) == 0 ? sb.st_mtime : now);
		int64_t by = got + (int64_t)(id->c->renew_interval_ms / 1000u);
		if (at == 0 || by < at) {
			at = by;
		}
	}
	/* A certificate just obtained is not renewed at once, whatever its
	 * dates say (a backdated notBefore on a short certificate): no loop. */
	if (fresh && at < now + 10) {
		at = now + 10;
	}
	id->renew_at = at;
}

rp_status agent_identity_ready(agent_identity *id)
{
	if (cert_load(id) && cert_usable(id)) {
		agent_identity_schedule(id, 0);
		return RP_OK;
	}
	cert_drop(id);
	return agent_identity_enroll(id, 0);
}

rp_status agent_identity_tls(agent_identity *id, rp_tlsc_ctx **out)
{
	rp_tlsc_config tc;
	char err[RP_TLSC_ERROR_MAX];
	rp_status st;

	memset(&tc, 0, sizeof(tc));
	tc.ca_file = id->c->trust_root;
	tc.cert = id->cert;
	tc.chain = id->chain;
	tc.key = rp_keystore_pkey(id->ks);
	st = rp_tlsc_ctx_new(&tc, out, err, sizeof(err));
	if (st != RP_OK) {
		agent_log(3, "TLS: %s", err);
	}
	return st;
}

int64_t agent_identity_not_after(const agent_identity *id)
{
	int days = 0, secs = 0;

	/* From now (NULL) to notAfter. */
	if (id->cert == NULL ||
	    ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(id->cert)) != 1) {
		return 0;
	}
	return (int64_t)time(NULL) + (int64_t)days * 86400 + secs;
}

void agent_identity_close(agent_identity *id)
{
	cert_drop(id);
	rp_keystore_close(id->ks);
	id->ks = NULL;
}
