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
 * With `--serve DIR` (the integration test): seeds a store in DIR with
 * operators of every role (cheap Argon2 parameters), devices, telemetry,
 * alerts and API tokens, starts the API, and prints one JSON line on
 * stdout: port, CA file, passwords, tokens, the TOTP secret of "totp". It
 * then reads commands on stdin until EOF or "quit":
 *   result DEVICE NAME JSON   -> rp_api_command_result(); prints "result STATUS"
 * Published commands are appended to DIR/published.jsonl. It stops the
 * API and closes the store before exiting (so ASan sees every leak).
 *
 * `--routes` prints the route table as JSON lines (method, path,
 * permission, flags, query parameters) for the spec check.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
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

static int serve(const char *dir)
{
	testpki_fleet fleet;
	char url[700], cert[512], key[512], ca[512], line[70000], b32[64];
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
	memset(&fleet, 0, sizeof(fleet));
	if (testpki_fleet_new(&fleet) != 0) {
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
	o.cert_file = testpki_path(&fleet, "server.crt", cert, sizeof(cert));
	o.key_file = testpki_path(&fleet, "server.key", key, sizeof(key));
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
	if (!check(rp_api_start(&o, st, &api, line, sizeof(line)), line)) {
		goto out;
	}
	rp_secret_b32_encode(totp_key, sizeof(totp_key), b32, sizeof(b32), NULL);
	json_object_set_new(info, "port", json_integer(rp_api_port(api)));
	json_object_set_new(info, "ca",
			    json_string(testpki_path(&fleet, "ca.crt", ca, sizeof(ca))));
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
	}
	rc = 0;
out:
	rp_api_stop(api);
	rp_store_close(st);
	json_decref(info);
	testpki_fleet_free(&fleet);
	return rc;
}

static int routes(void)
{
	size_t n;
	const rp__api_route *r = rp__api_routes(&n);

	rp_api_json_init();
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

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_curl),
		cmocka_unit_test(test_tls12_when_allowed),
		cmocka_unit_test(test_refusals),
	};

	if (argc == 3 && strcmp(argv[1], "--serve") == 0) {
		return serve(argv[2]);
	}
	if (argc == 2 && strcmp(argv[1], "--routes") == 0) {
		return routes();
	}
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
