/*
 * test_api_http.c - server/api over real HTTPS: a cmocka test, and the
 * server driver of tests/integration/test_api.py.
 *
 * Without arguments (CTest's unit_api_http): starts the API on
 * 127.0.0.1:0 with a SQLite store in a temporary directory and a fleet
 * PKI made at run time, and checks with the curl command line what needs
 * no fixtures: the port, a JSON 401 with the security headers, TLS 1.2
 * refused, plain HTTP refused, and start-up refusals (bad address, no
 * certificate, a key others can read, a key that is not the
 * certificate's, options above their caps).
 *
 * With `--serve DIR` (the integration tests test_api.py and test_est.py):
 * makes a two-tier fleet PKI in DIR/pki with server/pki itself, as
 * `rampart init` does (root CA, issuing CA with its key encrypted and the
 * passphrase in a 0600 file, the server certificate for 127.0.0.1 and
 * localhost issued by the issuing CA), and a manufacturer CA (maker-ca.crt,
 * maker-ca.key) for factory certificates; seeds a store in DIR with
 * operators of every role (cheap Argon2 parameters), devices, telemetry,
 * alerts, API tokens and two enrollment tokens (one expired, one revoked);
 * starts the API with enrollment (EST) on, and prints one JSON line on
 * stdout: port, CA file (the root), passwords, tokens, the TOTP secret of
 * "totp", the EST files. It then reads commands on stdin until EOF or
 * "quit":
 *   result DEVICE NAME JSON   -> rp_api_command_result(); prints "result STATUS"
 *   revoke SERIAL             -> rp_store_cert_revoke(); prints "revoke STATUS"
 * Published commands are appended to DIR/published.jsonl. It stops the
 * API and closes the store before exiting (so ASan sees every leak).
 *
 * `--routes` prints the route tables (the REST API's, then EST's) as JSON
 * lines (method, path, permission, flags, query parameters) for the spec
 * check.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>

#include "api/api.h"
#include "api/internal.h"
#include "auth/password.h"
#include "auth/secret.h"
#include "auth/totp.h"
#include "pki/pki.h"
#include "store/store.h"
#include "testpki.h"
#include "util/alloc.h"
#include "util/log.h"

/* Cheap Argon2 for tests: the cost is not what is tested here. */
static const rp_password_params weak = {1024, 1, 1, 4};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------
 * Driver for test_api.py
 * ------------------------------------------------------------------------ */

static pthread_mutex_t pub_mu = PTHREAD_MUTEX_INITIALIZER;
static char pub_path[600];

static rp_status publish(void *ctx, const char *topic, const uint8_t *payload, size_t len)
{
	FILE *f;
	json_t *line;
	char *text;

	(void)ctx;
	if (strstr(topic, "/cmd/refuse") != NULL) {
		return RP_E_BUSY; /* the broker refusing a command */
	}
	line = json_pack("{s:s, s:s%}", "topic", topic, "payload", (const char *)payload, len);
	text = line != NULL ? json_dumps(line, JSON_COMPACT) : NULL;
	json_decref(line);
	if (text == NULL) {
		return RP_E_NOMEM;
	}
	pthread_mutex_lock(&pub_mu);
	f = fopen(pub_path, "a");
	if (f != NULL) {
		fprintf(f, "%s\n", text);
		fclose(f);
	}
	pthread_mutex_unlock(&pub_mu);
	rp_free(NULL, text); /* jansson allocates through rp_alloc (rp_api_json_init) */
	return f != NULL ? RP_OK : RP_E_IO;
}

static int check(rp_status st, const char *what)
{
	if (st != RP_OK) {
		fprintf(stderr, "test_api_http: %s: %s\n", what, rp_status_str(st));
		return 0;
	}
	return 1;
}

static int add_operator(rp_store *st, const char *name, rp_store_role role, const char *pw,
			const uint8_t *totp_key, size_t totp_len)
{
	char phc[RP_PASSWORD_PHC_CAP];
	uint8_t sealed[1 + RP_LIMIT_TOTP_KEY_LEN];
	rp_store_operator o;

	if (!check(rp_password_hash(&weak, (const uint8_t *)pw, strlen(pw), phc, sizeof(phc), NULL),
		   "hash")) {
		return 0;
	}
	memset(&o, 0, sizeof(o));
	o.name = name;
	o.role = role;
	o.password_hash = phc;
	o.created_ms = now_ms();
	if (totp_key != NULL) {
		sealed[0] = 0; /* stored in the clear: the API reads both forms */
		memcpy(sealed + 1, totp_key, totp_len);
		o.totp_secret = sealed;
		o.totp_secret_len = totp_len + 1u;
	}
	return check(rp_store_operator_create(st, &o, NULL, NULL), name);
}

static int add_token(rp_store *st, const char *id, const char *owner, rp_store_role role,
		     int64_t expires_ms, int revoke, rp_token *tok)
{
	char hash[RP_SHA256_HEX_LEN + 1u];
	rp_store_token t;

	if (!check(rp_token_new(RP_TOKEN_API, tok), "token") ||
	    !check(rp_token_hash_hex((const uint8_t *)tok->text, RP_TOKEN_LEN, RP_TOKEN_API, hash),
		   "token hash")) {
		return 0;
	}
	memset(&t, 0, sizeof(t));
	t.id = id;
	t.token_hash = hash;
	t.operator_name = owner;
	t.role = role;
	t.created_ms = now_ms() - 1000;
	t.expires_ms = expires_ms;
	if (!check(rp_store_token_create(st, &t, NULL, NULL), id)) {
		return 0;
	}
	return !revoke || check(rp_store_token_revoke(st, id, now_ms(), NULL, NULL), "revoke");
}

/* Enrollment tokens that cannot be made through the API: expired, revoked. */
static int seed_enroll_tokens(rp_store *st, int64_t t0, json_t *out)
{
	static const struct {
		const char *id, *name, *device;
		int64_t expires;
		int revoke;
	} rows[] = {
		{"000000000000000000000000000000e1", "expired", "dev-0100", -1000, 0},
		{"000000000000000000000000000000e2", "revoked", "dev-0101", 3600000, 1},
	};
	char hash[RP_SHA256_HEX_LEN + 1u];
	json_t *est = json_object();
	rp_store_enroll_token t;
	rp_token tok;
	int ok = 1;

	for (size_t i = 0; ok && i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(&t, 0, sizeof(t));
		ok = check(rp_token_new(RP_TOKEN_ENROLL, &tok), "enroll token") &&
		     check(rp_token_hash_hex((const uint8_t *)tok.text, RP_TOKEN_LEN,
					     RP_TOKEN_ENROLL, hash),
			   "enroll token hash");
		t.id = rows[i].id;
		t.token_hash = hash;
		t.device = rows[i].device;
		t.max_uses = 1;
		t.model = "";
		t.created_by = "admin";
		t.created_ms = t0 - 2000;
		t.expires_ms = t0 + rows[i].expires;
		ok = ok && check(rp_store_enroll_token_create(st, &t, NULL, NULL), rows[i].name) &&
		     (!rows[i].revoke ||
		      check(rp_store_enroll_token_revoke(st, t.id, t0 - 1000, NULL, NULL),
			    "revoke"));
		json_object_set_new(est, rows[i].name, json_string(tok.text));
		rp_token_wipe(&tok);
	}
	json_object_set_new(out, "enroll_tokens", est);
	return ok;
}

static int seed(rp_store *st, int64_t t0, const uint8_t *totp_key, json_t *out)
{
	static const struct {
		const char *name;
		rp_store_role role;
	} ops[] = {
		{"admin", RP_STORE_ROLE_ADMIN},      {"oper", RP_STORE_ROLE_OPERATOR},
		{"viewer", RP_STORE_ROLE_VIEWER},    {"auditor", RP_STORE_ROLE_AUDITOR},
		{"victim", RP_STORE_ROLE_VIEWER},    {"victim2", RP_STORE_ROLE_VIEWER},
		{"disabled", RP_STORE_ROLE_ADMIN},   {"enrol", RP_STORE_ROLE_OPERATOR},
		{"changer", RP_STORE_ROLE_OPERATOR},
	};
	static const char *const tok_roles[] = {"admin", "oper", "viewer", "auditor"};
	json_t *tokens = json_object();
	rp_store_operator_patch p;
	rp_token tok;
	char id[40];

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		char pw[64];

		snprintf(pw, sizeof(pw), "%s-Correct-Horse-9", ops[i].name);
		if (!add_operator(st, ops[i].name, ops[i].role, pw, NULL, 0)) {
			return 0;
		}
	}
	if (!add_operator(st, "totp", RP_STORE_ROLE_OPERATOR, "totp-Correct-Horse-9", totp_key,
			  RP_TOTP_KEY_LEN)) {
		return 0;
	}
	memset(&p, 0, sizeof(p));
	p.fields = RP_STORE_OPF_DISABLED;
	p.v.disabled = 1;
	if (!check(rp_store_operator_update(st, "disabled", &p, NULL, NULL), "disable")) {
		return 0;
	}
	/* API tokens: one per role (owned by admin), one expired, one revoked. */
	for (size_t i = 0; i < 4; i++) {
		snprintf(id, sizeof(id), "%032zx", i + 1u);
		if (!add_token(st, id, "admin", ops[i].role, t0 + 3600000, 0, &tok)) {
			return 0;
		}
		json_object_set_new(tokens, tok_roles[i], json_string(tok.text));
	}
	if (!add_token(st, "00000000000000000000000000000011", "admin", RP_STORE_ROLE_ADMIN,
		       t0 - 1000, 0, &tok)) {
		return 0;
	}
	json_object_set_new(tokens, "expired", json_string(tok.text));
	if (!add_token(st, "00000000000000000000000000000012", "admin", RP_STORE_ROLE_ADMIN,
		       t0 + 3600000, 1, &tok)) {
		return 0;
	}
	json_object_set_new(tokens, "revoked", json_string(tok.text));
	/* A viewer-owned token that claims admin: its owner does not cover it. */
	if (!add_token(st, "00000000000000000000000000000013", "viewer", RP_STORE_ROLE_ADMIN,
		       t0 + 3600000, 0, &tok)) {
		return 0;
	}
	json_object_set_new(tokens, "overreach", json_string(tok.text));
	rp_token_wipe(&tok);
	json_object_set_new(out, "tokens", tokens);
	if (!seed_enroll_tokens(st, t0, out)) {
		return 0;
	}

	/* 25 devices; dev-0001 has telemetry; dev-0003 quarantined, dev-0004 revoked. */
	for (int i = 1; i <= 25; i++) {
		char dev[32], model[32], fw[16];
		const char *tags[2] = {"site=paris", i % 2 ? "odd" : "even"};

		snprintf(dev, sizeof(dev), "dev-%04d", i);
		snprintf(model, sizeof(model), i <= 10 ? "sensor-a" : "sensor-b");
		snprintf(fw, sizeof(fw), "1.%d.0", i % 3);
		if (!check(rp_store_device_seen(st, dev, "192.0.2.1", t0 - 60000, NULL, NULL),
			   dev) ||
		    !check(rp_store_device_set_info(st, dev, model, fw, NULL, NULL), "info") ||
		    !check(rp_store_device_set_tags(st, dev, tags, 2, NULL, NULL), "tags")) {
			return 0;
		}
	}
	if (!check(rp_store_device_set_status(st, "dev-0003", RP_STORE_DEVICE_QUARANTINED, NULL,
					      NULL),
		   "quarantine") ||
	    !check(rp_store_device_set_status(st, "dev-0004", RP_STORE_DEVICE_REVOKED, NULL, NULL),
		   "revoke")) {
		return 0;
	}
	{
		rp_store_point pts[120];

		memset(pts, 0, sizeof(pts));
		for (int i = 0; i < 120; i++) {
			pts[i].device = "dev-0001";
			pts[i].name = "temp";
			pts[i].time_ms = t0 - 120000 + i * 1000;
			pts[i].kind = RP_STORE_NUM;
			pts[i].num = 20.0 + (i % 10);
			pts[i].unit = "Cel";
		}
		pts[119].name = "state";
		pts[119].kind = RP_STORE_STR;
		pts[119].str = "ok";
		pts[119].unit = NULL;
		if (!check(rp_store_telemetry_insert(st, pts, 120, NULL, NULL), "telemetry")) {
			return 0;
		}
	}
	for (int i = 0; i < 3; i++) {
		rp_store_alert a;

		memset(&a, 0, sizeof(a));
		a.device_id = "dev-0002";
		a.kind = i == 2 ? "rate" : "auth_failures";
		a.severity = (rp_store_severity)(RP_STORE_SEV_INFO + i);
		a.detail = "{\"n\":3}";
		a.created_ms = t0 - 1000 + i;
		if (!check(rp_store_alert_add(st, &a, NULL, NULL, NULL), "alert")) {
			return 0;
		}
	}
	return 1;
}

typedef struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fin;
	rp_status st;
} waiter;

static void waiter_done(void *ctx, rp_status st)
{
	waiter *w = ctx;

	pthread_mutex_lock(&w->mu);
	w->st = st;
	w->fin = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void command_result(rp_store *st, char *line)
{
	char *dev = strtok(line, " "), *name = strtok(NULL, " "), *payload = strtok(NULL, "\n");
	waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, RP_OK};
	rp_status s;

	if (dev == NULL || name == NULL || payload == NULL) {
		printf("result usage\n");
		return;
	}
	s = rp_api_command_result(st, dev, name, (const uint8_t *)payload, strlen(payload),
				  now_ms(), waiter_done, &w);
	if (s == RP_OK) {
		pthread_mutex_lock(&w.mu);
		while (!w.fin) {
			pthread_cond_wait(&w.cv, &w.mu);
		}
		pthread_mutex_unlock(&w.mu);
		s = w.st;
	}
	printf("result %s\n", rp_status_str(s));
	fflush(stdout);
}

/* Writes certs[0 .. n) as PEM to path (mode 0644). */
static int write_pem(const char *path, X509 *const *certs, size_t n)
{
	uint8_t buf[8192];
	size_t len;
	FILE *f = fopen(path, "w");
	int ok = f != NULL;

	for (size_t i = 0; ok && i < n; i++) {
		ok = rp_pki_cert_encode(certs[i], RP_PKI_PEM, buf, sizeof(buf), &len) == RP_OK &&
		     fwrite(buf, 1, len, f) == len;
	}
	if (f != NULL && fclose(f) != 0) {
		ok = 0;
	}
	if (!ok) {
		fprintf(stderr, "test_api_http: cannot write %s\n", path);
	}
	return ok;
}

/* Writes the passphrase file: new, mode 0600. */
static int write_secret(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int ok = fd >= 0 && write(fd, text, len) == (ssize_t)len;

	if (fd >= 0 && close(fd) != 0) {
		ok = 0;
	}
	return ok;
}

typedef struct est_files {
	char root[600], issuing[600], issuing_key[600], pass[600], server[600], server_key[600];
	char maker[600], maker_key[600];
} est_files;

/*
 * The fleet PKI of --serve, made by server/pki as `rampart init` makes it,
 * in DIR/pki: root.crt, issuing.crt, issuing.key (encrypted) and
 * issuing.pass, server.crt (with the issuing CA) and server.key, and a
 * manufacturer CA maker-ca.crt / maker-ca.key (testpki).
 */
static int make_est_pki(const char *dir, est_files *f)
{
	rp_pki_ca_profile rootp = {"Rampart fleet test root CA", "Rampart", 0};
	rp_pki_ca_profile issp = {"Rampart fleet test issuing CA", "Rampart", 0};
	const char *dns[] = {"localhost"};
	const char *ip[] = {"127.0.0.1"};
	rp_pki_server_profile sp = {NULL, dns, 1, ip, 1, 0};
	testpki_spec ms = {.cn = "Acme Devices Manufacturing CA", .ca = 1};
	testpki_id maker = {NULL, NULL};
	EVP_PKEY *rk = NULL, *ik = NULL, *sk = NULL;
	X509 *root = NULL, *iss = NULL, *srv = NULL, *chain[2];
	rp_pki_signer *rs = NULL, *is = NULL;
	char pki[512], pass[64];
	uint8_t raw[32];
	int64_t now = (int64_t)time(NULL);
	const char *why = "";
	int ok = 0;

	if (strlen(dir) > 400) {
		fprintf(stderr, "test_api_http: %s: too long\n", dir);
		return 0;
	}
	snprintf(pki, sizeof(pki), "%s/pki", dir);
	snprintf(f->root, sizeof(f->root), "%s/root.crt", pki);
	snprintf(f->issuing, sizeof(f->issuing), "%s/issuing.crt", pki);
	snprintf(f->issuing_key, sizeof(f->issuing_key), "%s/issuing.key", pki);
	snprintf(f->pass, sizeof(f->pass), "%s/issuing.pass", pki);
	snprintf(f->server, sizeof(f->server), "%s/server.crt", pki);
	snprintf(f->server_key, sizeof(f->server_key), "%s/server.key", pki);
	snprintf(f->maker, sizeof(f->maker), "%s/maker-ca.crt", pki);
	snprintf(f->maker_key, sizeof(f->maker_key), "%s/maker-ca.key", pki);
	if (mkdir(pki, 0700) != 0 || !check(rp_pki_key_generate(RP_PKI_EC_P256, &rk), "root key") ||
	    !check(rp_pki_key_generate(RP_PKI_EC_P256, &ik), "issuing key") ||
	    !check(rp_pki_key_generate(RP_PKI_EC_P256, &sk), "server key") ||
	    !check(rp_pki_root_ca_new(rk, &rootp, now, &root, &why), "root") ||
	    !check(rp_pki_signer_new(root, rk, &rs, &why), "root signer") ||
	    !check(rp_pki_issuing_ca_new(rs, ik, &issp, now, &iss, &why), "issuing") ||
	    !check(rp_pki_signer_new(iss, ik, &is, &why), "issuing signer") ||
	    !check(rp_pki_server_cert_new(is, sk, &sp, now, &srv, &why), "server")) {
		goto out;
	}
	chain[0] = srv;
	chain[1] = iss;
	if (!check(rp_secret_random(raw, sizeof(raw)), "random") ||
	    !check(rp_secret_b64_encode(RP_B64_URL, raw, sizeof(raw), pass, sizeof(pass), NULL),
		   "passphrase") ||
	    !write_pem(f->root, &root, 1) || !write_pem(f->issuing, &iss, 1) ||
	    !write_pem(f->server, chain, 2) ||
	    !check(rp_pki_key_save(f->issuing_key, ik, pass, strlen(pass), &why), why) ||
	    !check(rp_pki_key_save_unencrypted(f->server_key, sk, &why), why) ||
	    !write_secret(f->pass, pass, strlen(pass)) || testpki_issue(&maker, &ms, NULL) != 0 ||
	    testpki_write_certs(f->maker, &maker.cert, 1) != 0 ||
	    testpki_write_key(f->maker_key, maker.key) != 0) {
		goto out;
	}
	ok = 1;
out:
	rp_wipe(pass, sizeof(pass));
	rp_wipe(raw, sizeof(raw));
	rp_pki_signer_free(rs);
	rp_pki_signer_free(is);
	X509_free(root);
	X509_free(iss);
	X509_free(srv);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(ik);
	EVP_PKEY_free(sk);
	testpki_id_free(&maker);
	return ok;
}

static void cert_revoke(rp_store *st, char *line)
{
	char *serial = strtok(line, " \n");
	rp_status s = RP_E_INVALID_ARG;

	if (serial != NULL) {
		s = rp_store_cert_revoke(st, serial, now_ms(), NULL, NULL);
	}
	printf("revoke %s\n", rp_status_str(s));
	fflush(stdout);
}

static int serve(const char *dir)
{
	est_files ef;
	char url[700], line[70000], b32[64];
	uint8_t totp_key[RP_TOTP_KEY_LEN], secret_key[32];
	rp_throttle_config tc;
	rp_api_opts o;
	rp_store *st = NULL;
	rp_api *api = NULL;
	json_t *info = NULL;
	char *text;
	int64_t t0 = now_ms();
	int rc = 1;
	sigset_t set;

	rp_api_json_init();
	info = json_object();
	/* As rampartd does: signals blocked in every thread but the one that waits for them. */
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (!make_est_pki(dir, &ef)) {
		return 1;
	}
	snprintf(pub_path, sizeof(pub_path), "%s/published.jsonl", dir);
	snprintf(url, sizeof(url), "sqlite:%s/rampart.db", dir);
	if (!check(rp_store_open(url, NULL, &st), "store") ||
	    !check(rp_totp_key_new(totp_key), "totp") ||
	    !check(rp_secret_random(secret_key, sizeof(secret_key)), "random") ||
	    !seed(st, t0, totp_key, info)) {
		goto out;
	}
	rp_throttle_config_default(&tc);
	tc.address.failures =
		RP_LIMIT_THROTTLE_ADDRESS_FAILURES; /* every test comes from 127.0.0.1 */
	memset(&o, 0, sizeof(o));
	o.address = "127.0.0.1:0";
	o.cert_file = ef.server;
	o.key_file = ef.server_key;
	o.threads = 4;
	o.password = &weak;
	o.allow_weak_params = 1;
	o.throttle = &tc;
	o.secret_key = secret_key;
	o.publish = publish;
	o.token_lifetime_max_s = 30u * 86400u;
	if (getenv("RP_API_TLS12") != NULL) {
		o.allow_tls12 = 1;
	}
	o.est_issuing_cert = ef.issuing;
	o.est_issuing_key = ef.issuing_key;
	o.est_issuing_key_pass = ef.pass;
	o.est_root_cert = ef.root;
	o.est_manufacturer_ca = ef.maker;
	o.est_fleet = "test-fleet";
	o.est_device_validity_s = 7u * 86400u;
	if (!check(rp_api_start(&o, st, &api, line, sizeof(line)), line)) {
		goto out;
	}
	rp_secret_b32_encode(totp_key, sizeof(totp_key), b32, sizeof(b32), NULL);
	json_object_set_new(info, "port", json_integer(rp_api_port(api)));
	json_object_set_new(info, "ca", json_string(ef.root));
	json_object_set_new(info, "est",
			    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "root", ef.root,
				      "issuing", ef.issuing, "maker_ca", ef.maker, "maker_key",
				      ef.maker_key, "db", url + 7, "fleet", "test-fleet",
				      "validity_s", 7 * 86400));
	json_object_set_new(info, "totp_secret", json_string(b32));
	json_object_set_new(info, "t0", json_integer(t0));
	json_object_set_new(info, "published", json_string(pub_path));
	text = json_dumps(info, JSON_COMPACT);
	if (text == NULL) {
		goto out;
	}
	printf("%s\n", text);
	fflush(stdout);
	rp_free_secret(NULL, text);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		if (strncmp(line, "quit", 4) == 0) {
			break;
		}
		if (strncmp(line, "result ", 7) == 0) {
			command_result(st, line + 7);
		}
		if (strncmp(line, "revoke ", 7) == 0) {
			cert_revoke(st, line + 7);
		}
	}
	rc = 0;
out:
	rp_api_stop(api);
	rp_store_close(st);
	json_decref(info);
	return rc;
}

static void print_routes(const rp__api_route *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_t *q = json_array();
		json_t *o;
		char *text;

		for (size_t k = 0; r[i].query != NULL && r[i].query[k].name != NULL; k++) {
			json_array_append_new(q, json_string(r[i].query[k].name));
		}
		o = json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:o}", "method",
			      rp__api_method_name(r[i].method), "path", r[i].path, "permission",
			      (r[i].flags & RP__API_F_PUBLIC) ? "public" : rp_perm_name(r[i].perm),
			      "public", (r[i].flags & RP__API_F_PUBLIC) != 0, "body",
			      (r[i].flags & RP__API_F_BODY) != 0, "session_only",
			      (r[i].flags & RP__API_F_SESSION) != 0, "restricted_ok",
			      (r[i].flags & RP__API_F_RESTRICTED) != 0, "query", q);
		text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		printf("%s\n", text);
		rp_free(NULL, text);
		json_decref(o);
	}
}

static int routes(void)
{
	size_t n;
	const rp__api_route *r = rp__api_routes(&n);

	rp_api_json_init();
	print_routes(r, n);
	r = rp__api_est_routes(&n);
	print_routes(r, n);
	return 0;
}

/* ------------------------------------------------------------------------
 * cmocka: start, stop, refusals, one curl round
 * ------------------------------------------------------------------------ */

static struct {
	testpki_fleet fleet;
	char dir[256];
	char url[300];
	rp_store *st;
	char cert[512], key[512], ca[512];
} G;

static int group_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	rp_api_json_init();
	rp_log_set_level(RP_LOG_WARN);
	signal(SIGPIPE, SIG_IGN);
	snprintf(G.dir, sizeof(G.dir), "%s/rp-api-XXXXXX", tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(G.dir) == NULL || testpki_fleet_new(&G.fleet) != 0) {
		return -1;
	}
	snprintf(G.url, sizeof(G.url), "sqlite:%s/db", G.dir);
	testpki_path(&G.fleet, "server.crt", G.cert, sizeof(G.cert));
	testpki_path(&G.fleet, "server.key", G.key, sizeof(G.key));
	testpki_path(&G.fleet, "ca.crt", G.ca, sizeof(G.ca));
	return rp_store_open(G.url, NULL, &G.st) == RP_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
	char cmd[600];

	(void)state;
	rp_store_close(G.st);
	testpki_fleet_free(&G.fleet);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", G.dir);
	return system(cmd) == 0 ? 0 : -1;
}

static rp_api_opts base(void)
{
	rp_api_opts o;

	memset(&o, 0, sizeof(o));
	o.address = "127.0.0.1:0";
	o.cert_file = G.cert;
	o.key_file = G.key;
	o.threads = 2;
	return o;
}

/* Runs a shell command, returns its output (first cap-1 bytes) and exit status. */
static int run(const char *cmd, char *out, size_t cap)
{
	FILE *p = popen(cmd, "r");
	size_t n = 0;
	int rc;

	assert_non_null(p);
	while (n + 1u < cap) {
		size_t k = fread(out + n, 1, cap - 1u - n, p);

		if (k == 0) {
			break;
		}
		n += k;
	}
	out[n] = '\0';
	rc = pclose(p);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_start_curl(void **state)
{
	rp_api_opts o = base();
	rp_api *api = NULL;
	char err[256], cmd[1024], out[8192];
	uint16_t port;

	(void)state;
	assert_int_equal(rp_api_start(&o, G.st, &api, err, sizeof(err)), RP_OK);
	port = rp_api_port(api);
	assert_true(port > 0);

	/* A JSON 401 with every security header; the CA is the only trust anchor. */
	snprintf(cmd, sizeof(cmd),
		 "curl -sS -i --cacert '%s' https://127.0.0.1:%u/api/v1/devices 2>&1", G.ca,
		 (unsigned)port);
	assert_int_equal(run(cmd, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "HTTP/1.1 401"));
	assert_non_null(strstr(out, "Strict-Transport-Security: max-age="));
	assert_non_null(strstr(out, "X-Content-Type-Options: nosniff"));
	assert_non_null(strstr(out, "Content-Security-Policy: default-src 'none'"));
	assert_non_null(strstr(out, "Cache-Control: no-store"));
	assert_non_null(strstr(out, "Referrer-Policy: no-referrer"));
	assert_non_null(strstr(out, "Content-Type: application/json"));
	assert_non_null(strstr(out, "\"error\":\"unauthenticated\""));

	/* TLS 1.3 negotiated; TLS 1.2 refused; plain HTTP gets no answer. */
	snprintf(cmd, sizeof(cmd),
		 "curl -sS -o /dev/null -w '%%{http_code}' --tlsv1.3 --cacert '%s' "
		 "https://127.0.0.1:%u/api/v1/nothing 2>&1",
		 G.ca, (unsigned)port);
	assert_int_equal(run(cmd, out, sizeof(out)), 0);
	assert_string_equal(out, "404");
	snprintf(cmd, sizeof(cmd),
		 "curl -sS -o /dev/null --tls-max 1.2 --cacert '%s' https://127.0.0.1:%u/ 2>&1",
		 G.ca, (unsigned)port);
	assert_int_not_equal(run(cmd, out, sizeof(out)), 0);
	snprintf(cmd, sizeof(cmd),
		 "curl -sS -m 5 -o /dev/null http://127.0.0.1:%u/api/v1/devices 2>&1",
		 (unsigned)port);
	assert_int_not_equal(run(cmd, out, sizeof(out)), 0);
	/* Enrollment off: the EST routes answer 503 in text, and name the key. */
	snprintf(cmd, sizeof(cmd),
		 "curl -sS -i --cacert '%s' https://127.0.0.1:%u/.well-known/est/cacerts 2>&1",
		 G.ca, (unsigned)port);
	assert_int_equal(run(cmd, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "HTTP/1.1 503"));
	assert_non_null(strstr(out, "Content-Type: text/plain; charset=utf-8"));
	assert_non_null(strstr(out, "pki.issuing_cert"));
	/* An untrusted server is an error for the client: nothing here is -k. */
	snprintf(cmd, sizeof(cmd), "curl -sS -o /dev/null https://127.0.0.1:%u/ 2>&1",
		 (unsigned)port);
	assert_int_not_equal(run(cmd, out, sizeof(out)), 0);
	rp_api_stop(api);
}

static void test_tls12_when_allowed(void **state)
{
	rp_api_opts o = base();
	rp_api *api = NULL;
	char err[256], cmd[1024], out[256];

	(void)state;
	o.allow_tls12 = 1;
	assert_int_equal(rp_api_start(&o, G.st, &api, err, sizeof(err)), RP_OK);
	snprintf(cmd, sizeof(cmd),
		 "curl -sS -o /dev/null -w '%%{http_code}' --tls-max 1.2 --cacert '%s' "
		 "https://127.0.0.1:%u/api/v1/devices 2>&1",
		 G.ca, (unsigned)rp_api_port(api));
	assert_int_equal(run(cmd, out, sizeof(out)), 0);
	assert_string_equal(out, "401");
	/* Only ECDHE with AEAD: a CBC suite is refused. */
	snprintf(cmd, sizeof(cmd),
		 "curl -sS -o /dev/null --tls-max 1.2 --ciphers ECDHE-ECDSA-AES128-SHA256 "
		 "--cacert '%s' https://127.0.0.1:%u/ 2>&1",
		 G.ca, (unsigned)rp_api_port(api));
	assert_int_not_equal(run(cmd, out, sizeof(out)), 0);
	rp_api_stop(api);
}

static void test_refusals(void **state)
{
	rp_api_opts o;
	rp_api *api = NULL;
	char err[256], path[600], cmd[2048];

	(void)state;
	o = base();
	o.address = "localhost:8443";
	assert_int_equal(rp_api_start(&o, G.st, &api, err, sizeof(err)), RP_E_INVALID_ARG);
	o.address = "127.0.0.1:65536";
	assert_int_equal(rp_api_start(&o, G.st, &api, err, sizeof(err)), RP_E_INVALID_ARG);
	o.address = "[::1:0";
	assert_int_equal(rp_api_start(&o, G.st, &api, err, sizeof(err)), RP_E_INVALID_ARG);
	/* Debian's CivetWeb 1.15 has no IPv6: refused with a reason, not half-started. */
	o.address = "[::1]:0";
	if (mg_check_feature(MG_FEATURES_IPV6) == 0) {
		assert_int_equal(rp_api_start(&o, G.st, &api, err, sizeof(err)), RP_E_CONFIG);
		assert_non_null(strstr(err, "IPv6"));
	} else {
		assert_int_equal(rp_api_start(&o, G.st, &api, err, sizeof(err)), RP_OK);
		rp_api_stop(api);
		api = NULL;
	}
	o = base();
	o.cert_file = NULL;
	assert_int_equal(rp_api_start(&o, G.st, &api, err, sizeof(err)), RP_E_INVALID_ARG);
	assert_non_null(strstr(err, "HTTPS only"));
	o = base();
	o.threads = RP_LIMIT_API_THREADS + 1u;
	assert_int_equal(rp_api_start(&o, G.st, &api, err, sizeof(err)), RP_E_INVALID_ARG);
	o = base();
	o.max_body = RP_LIMIT_API_BODY + 1u;
	assert_int_equal(rp_api_start(&o, G.st, &api, err, sizeof(err)), RP_E_INVALID_ARG);
	o = base();
	o.password = &weak;
	assert_int_equal(rp_api_start(&o, G.st, &api, err, sizeof(err)), RP_E_CONFIG);
	/* A key other users can read. */
	snprintf(path, sizeof(path), "%s/open.key", G.dir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && chmod 644 '%s'", G.key, path, path);
	assert_int_equal(system(cmd), 0);
	o = base();
	o.key_file = path;
	assert_int_equal(rp_api_start(&o, G.st, &api, err, sizeof(err)), RP_E_CONFIG);
	assert_non_null(strstr(err, "other users"));
	/* A key that is not the certificate's. */
	o.key_file = testpki_path(&G.fleet, "dev-0001.key", path, sizeof(path));
	assert_int_equal(rp_api_start(&o, G.st, &api, err, sizeof(err)), RP_E_CONFIG);
	assert_non_null(strstr(err, "does not match"));
	/* A port in use. */
	o = base();
	assert_int_equal(rp_api_start(&o, G.st, &api, err, sizeof(err)), RP_OK);
	{
		rp_api *second = NULL;
		char addr[32];

		snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)rp_api_port(api));
		o.address = addr;
		assert_int_equal(rp_api_start(&o, G.st, &second, err, sizeof(err)), RP_E_CONFIG);
		assert_null(second);
	}
	rp_api_stop(api);
	rp_api_stop(NULL);
}

/* Enrollment's files are checked at start: the API does not start half-enrolling. */
static void test_est_refusals(void **state)
{
	rp_api_opts o;
	rp_api *api = NULL;
	char err[1024], ca[600], cakey[600], other[600], pass[600], cmd[2048];

	(void)state;
	testpki_path(&G.fleet, "ca.crt", ca, sizeof(ca));
	testpki_path(&G.fleet, "ca.key", cakey, sizeof(cakey));
	testpki_path(&G.fleet, "other-ca.crt", other, sizeof(other));
	snprintf(pass, sizeof(pass), "%s/est.pass", G.dir);
	snprintf(cmd, sizeof(cmd),
		 "printf 'a-passphrase-of-enough-length' > '%s' && chmod 600 '%s'", pass, pass);
	assert_int_equal(system(cmd), 0);

	o = base();
	o.est_issuing_cert = ca; /* the rest missing */
	assert_int_equal(rp_api_start(&o, G.st, &api, err, sizeof(err)), RP_E_CONFIG);
	assert_non_null(strstr(err, "pki.issuing_key"));
	o.est_issuing_key = cakey;
	o.est_issuing_key_pass = pass;
	o.est_root_cert = other; /* not the issuer */
	assert_int_equal(rp_api_start(&o, G.st, &api, err, sizeof(err)), RP_E_CONFIG);
	assert_non_null(strstr(err, "not the issuer"));
	o.est_root_cert = ca;
	/* The test CA's key is not encrypted: refused (CA keys are, always). */
	assert_int_equal(rp_api_start(&o, G.st, &api, err, sizeof(err)), RP_E_CONFIG);
	assert_non_null(strstr(err, "pki.issuing_key"));
	assert_null(strstr(err, "a-passphrase"));
	/* A passphrase file others may read. */
	snprintf(cmd, sizeof(cmd), "chmod 640 '%s'", pass);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(rp_api_start(&o, G.st, &api, err, sizeof(err)), RP_E_CONFIG);
	assert_non_null(strstr(err, "group or others"));
	/* No such file; a bad fleet name; a validity out of range. */
	o.est_issuing_key_pass = "/nonexistent/est.pass";
	assert_int_equal(rp_api_start(&o, G.st, &api, err, sizeof(err)), RP_E_CONFIG);
	assert_non_null(strstr(err, "cannot open"));
	o.est_fleet = "Bad:Fleet";
	assert_int_equal(rp_api_start(&o, G.st, &api, err, sizeof(err)), RP_E_CONFIG);
	assert_non_null(strstr(err, "pki.fleet"));
	o.est_fleet = NULL;
	o.est_device_validity_s = 60;
	assert_int_equal(rp_api_start(&o, G.st, &api, err, sizeof(err)), RP_E_CONFIG);
	assert_non_null(strstr(err, "pki.device_validity"));
	assert_null(api);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_curl),
		cmocka_unit_test(test_tls12_when_allowed),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_est_refusals),
	};

	if (argc == 3 && strcmp(argv[1], "--serve") == 0) {
		return serve(argv[2]);
	}
	if (argc == 2 && strcmp(argv[1], "--routes") == 0) {
		return routes();
	}
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
