/*
 * init_write.c - the files of `rampart init`: keys, certificates, secrets
 * and rampartd.conf, each written under a temporary name and then
 * published under its final one (files.c says how, and why never over an
 * existing file).
 *
 * The configuration file is checked with rampartd's own parser before it
 * is written, so init never leaves a file that rampartd would refuse. It
 * names every file init made: the TLS files, the API's sealing key, and
 * the issuing CA that signs devices' certificates (EST), whose key is a
 * file, or (--pkcs11-*) a key in a token: module, token, PIN file, label.
 */
#include <stdarg.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth/secret.h"
#include "init.h"
#include "util/alloc.h"

#define API_KEY_BYTES 32u

static int save_key(const init_plan *p, cli_journal *j, enum init_file f, EVP_PKEY *key,
		    const char *pass)
{
	const char *why = NULL;
	rp_status st;

	if (pass != NULL) {
		st = rp_pki_key_save(p->tmp[f], key, pass, strlen(pass), &why);
	} else {
		st = rp_pki_key_save_unencrypted(p->tmp[f], key, &why);
	}
	if (st != RP_OK) {
		cli_fail(j->cmd, p->tmp[f], why != NULL && why[0] ? why : rp_status_str(st));
		return -1;
	}
	return cli_journal_file(j, p->tmp[f]);
}

static int save_certs(const init_plan *p, cli_journal *j, enum init_file f, X509 *a, X509 *b)
{
	X509 *certs[2] = {a, b};
	uint8_t *pem = NULL;
	size_t len = 0;
	int rc;

	if (cli_pem_certs(j->cmd, certs, b != NULL ? 2 : 1, &pem, &len) != 0) {
		return -1;
	}
	rc = cli_file_create(j, p->tmp[f], pem, len);
	rp_free(NULL, pem);
	return rc;
}

/* secrets/api.key: 32 random bytes, as they are (rampartd's api.secret_key). */
static int save_api_key(const init_plan *p, cli_journal *j)
{
	uint8_t key[API_KEY_BYTES];
	int rc = -1;

	if (rp_secret_random(key, sizeof(key)) != RP_OK) {
		cli_fail(j->cmd, p->tmp[INIT_API_KEY], "the random generator failed");
	} else {
		rc = cli_file_create(j, p->tmp[INIT_API_KEY], key, sizeof(key));
	}
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* ---- rampartd.conf ----------------------------------------------------------- */

typedef struct text {
	char *buf;
	size_t cap, len;
	int overflow;
} text;

static void add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->cap - t->len) {
		t->overflow = 1;
		return;
	}
	t->len += (size_t)n;
}

static void config_text(const init_plan *p, text *t)
{
	char when[32];

	cli_time_text(cli_now_ms(), when, sizeof(when));
	add(t, "# rampartd.conf, written by 'rampart init' (fleet %s) at %s.\n", p->o->fleet, when);
	add(t, "# Every key: docs/configuration.md.\n");
	add(t, "data_dir %s\n", p->data_dir);
	if (p->o->store != NULL) {
		add(t, "store %s\n", p->o->store);
	}
	add(t, "tls.cert %s\n", p->path[INIT_SERVER_CRT]);
	add(t, "tls.key %s\n", p->path[INIT_SERVER_KEY]);
	add(t, "tls.ca %s\n", p->path[INIT_FLEET_CA]);
	add(t, "api.secret_key %s\n", p->path[INIT_API_KEY]);
	add(t, "# Enrollment (EST, docs/est.md): devices get certificates from the issuing CA.\n");
	add(t, "pki.fleet %s\n", p->o->fleet);
	add(t, "pki.root_cert %s\n", p->path[INIT_DEVICE_TRUST]);
	add(t, "pki.issuing_cert %s\n", p->path[INIT_ISSUING_CRT]);
	if (p->tok.on) {
		add(t, "# The issuing CA's key is in a PKCS#11 token (never extractable).\n");
		add(t, "pki.issuing_keystore pkcs11\n");
		add(t, "pki.pkcs11_module %s\n", p->tok.module);
		add(t, "pki.pkcs11_token %s\n", p->tok.token);
		add(t, "pki.pkcs11_pin_file %s\n", p->tok.pin_file);
		add(t, "pki.issuing_key_label %s\n", p->tok.issuing_label);
		return;
	}
	add(t, "pki.issuing_key %s\n", p->path[INIT_ISSUING_KEY]);
	add(t, "pki.issuing_key_pass %s\n", p->path[INIT_ISSUING_PASS]);
}

static void parse_report(void *ctx, const char *file, unsigned line, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "rampart init: internal error: %s:%u: %s\n", file, line, msg);
}

static int save_config(const init_plan *p, cli_journal *j)
{
	text t = {NULL, 8u * INIT_PATH_CAP, 0, 0};
	rp_config *check = NULL;
	int rc = -1;

	t.buf = rp_alloc(NULL, t.cap);
	check = rp_calloc(NULL, 1, sizeof(*check));
	if (t.buf == NULL || check == NULL) {
		cli_fail(j->cmd, p->config, "out of memory");
		goto out;
	}
	config_text(p, &t);
	if (t.overflow) {
		cli_fail(j->cmd, p->config, "the configuration is too long");
		goto out;
	}
	/* What rampartd --check-config would say: nothing. */
	if (rp_config_parse(check, p->config, t.buf, t.len, parse_report, NULL) != RP_OK) {
		cli_fail(j->cmd, p->config, "rampartd's parser refuses the file init made");
		goto out;
	}
	rc = cli_file_create(j, p->tmp[INIT_CONFIG], t.buf, t.len);
out:
	if (t.buf != NULL) {
		OPENSSL_cleanse(t.buf, t.cap); /* a --store URL may hold a password */
	}
	rp_free(NULL, t.buf);
	rp_free(NULL, check);
	return rc;
}

int init_write_all(const init_plan *p, const cli_init_pki *k, cli_journal *j)
{
	const char *pass = k->issuing_pass;

	if (p->tok.on) { /* the CA keys are in the tokens: no key file, no passphrase */
		if (save_certs(p, j, INIT_ROOT_CRT, k->root, NULL) != 0 ||
		    save_certs(p, j, INIT_ISSUING_CRT, k->issuing, NULL) != 0 ||
		    save_key(p, j, INIT_SERVER_KEY, k->server_key, NULL) != 0 ||
		    save_certs(p, j, INIT_SERVER_CRT, k->server, k->issuing) != 0 ||
		    save_certs(p, j, INIT_FLEET_CA, k->root, k->issuing) != 0 ||
		    save_certs(p, j, INIT_DEVICE_TRUST, k->root, NULL) != 0 ||
		    save_api_key(p, j) != 0) {
			return -1;
		}
		return p->write_config ? save_config(p, j) : 0;
	}
	if (save_key(p, j, INIT_ROOT_KEY, k->root_key, k->root_pass) != 0 ||
	    save_certs(p, j, INIT_ROOT_CRT, k->root, NULL) != 0 ||
	    save_key(p, j, INIT_ISSUING_KEY, k->issuing_key, pass) != 0 ||
	    save_certs(p, j, INIT_ISSUING_CRT, k->issuing, NULL) != 0 ||
	    save_key(p, j, INIT_SERVER_KEY, k->server_key, NULL) != 0 ||
	    save_certs(p, j, INIT_SERVER_CRT, k->server, k->issuing) != 0 ||
	    save_certs(p, j, INIT_FLEET_CA, k->root, k->issuing) != 0 ||
	    save_certs(p, j, INIT_DEVICE_TRUST, k->root, NULL) != 0 ||
	    cli_file_create(j, p->tmp[INIT_ISSUING_PASS], pass, strlen(pass)) != 0 ||
	    save_api_key(p, j) != 0) {
		return -1;
	}
	return p->write_config ? save_config(p, j) : 0;
}

int init_publish_all(const init_plan *p, cli_journal *j)
{
	for (int f = 0; f < INIT_FILE_COUNT; f++) {
		if ((f == INIT_CONFIG && !p->write_config) || p->unused[f]) {
			continue;
		}
		if (cli_file_publish(j, p->tmp[f], p->path[f]) != 0) {
			return -1;
		}
	}
	if (cli_dir_sync(j->cmd, p->pki_dir) != 0 || cli_dir_sync(j->cmd, p->secrets_dir) != 0 ||
	    cli_dir_sync(j->cmd, p->key_dir) != 0 ||
	    (p->write_config && cli_dir_sync(j->cmd, p->config_dir) != 0)) {
		return -1;
	}
	return 0;
}

static void advise(const char *key, const char *have, const char *want)
{
	if (strcmp(have, want) != 0) {
		printf("  %s %s\n", key, want);
	}
}

void init_config_advice(const init_plan *p)
{
	const rp_config *c = &p->cfg;

	printf("\n%s was there already and was not changed. For rampartd to use what init\n"
	       "made, it needs these lines (only those that differ are listed):\n",
	       p->config);
	advise("data_dir", c->data_dir, p->data_dir);
	if (p->o->store != NULL && strcmp(c->store, p->o->store) != 0) {
		printf("  store <the URL given with --store>\n");
	}
	advise("tls.cert", c->tls_cert, p->path[INIT_SERVER_CRT]);
	advise("tls.key", c->tls_key, p->path[INIT_SERVER_KEY]);
	advise("tls.ca", c->tls_ca, p->path[INIT_FLEET_CA]);
	advise("api.secret_key", c->api_secret_key, p->path[INIT_API_KEY]);
	advise("pki.root_cert", c->pki_root_cert, p->path[INIT_DEVICE_TRUST]);
	advise("pki.issuing_cert", c->pki_issuing_cert, p->path[INIT_ISSUING_CRT]);
	if (p->tok.on) {
		if (c->pki_issuing_keystore != RP_CONFIG_KEYSTORE_PKCS11) {
			printf("  pki.issuing_keystore pkcs11\n");
		}
		advise("pki.pkcs11_module", c->pki_pkcs11_module, p->tok.module);
		advise("pki.pkcs11_token", c->pki_pkcs11_token, p->tok.token);
		advise("pki.pkcs11_pin_file", c->pki_pkcs11_pin_file, p->tok.pin_file);
		advise("pki.issuing_key_label", c->pki_issuing_key_label, p->tok.issuing_label);
		if (c->pki_issuing_key[0] != '\0' || c->pki_issuing_key_pass[0] != '\0') {
			printf("  (and no pki.issuing_key, no pki.issuing_key_pass)\n");
		}
	} else {
		advise("pki.issuing_key", c->pki_issuing_key, p->path[INIT_ISSUING_KEY]);
		advise("pki.issuing_key_pass", c->pki_issuing_key_pass, p->path[INIT_ISSUING_PASS]);
	}
	if (strcmp(c->pki_fleet, p->o->fleet) != 0) {
		printf("  pki.fleet %s\n", p->o->fleet);
	}
}
