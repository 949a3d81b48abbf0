/*
 * examples/minimal_device.c - the smallest complete Rampart device.
 *
 *   minimal-device HOST MQTT_PORT HTTPS_PORT ROOT.crt DEVICE_ID STATE_DIR [TOKEN_FILE]
 *
 * What a firmware team writes around the device SDK, in about 150 lines:
 *   1. a key generated inside the keystore (here "soft": an encrypted file in
 *      STATE_DIR; a product names its PKCS#11 token instead, see docs/keystore.md);
 *   2. a certificate, enrolled over EST with a one-time token the first time
 *      (TOKEN_FILE), then kept in STATE_DIR/device.crt;
 *   3. the device runtime: telemetry batched as SenML into an encrypted queue
 *      on disk and sent over MQTT with mutual TLS, and one command handler.
 * It sends a (simulated) temperature every 2 seconds and answers "blink".
 * Stop it with Ctrl-C. Error handling is complete but terse: every failure
 * says what failed and exits.
 *
 * Build: part of the tree (cmake builds examples/minimal-device), or against
 * an installed SDK with the same libraries as device/CMakeLists.txt.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "rampart/device.h"
#include "rampart/est_client.h"
#include "rampart/keystore.h"
#include "rampart/sealed.h"
#include "rampart/tls_client.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The command "blink": any arguments; answers what it did. */
static rp_device_status on_blink(void *ctx, rp_device *dev, const rp_device_cmd *cmd, char *result,
				 size_t cap, size_t *result_len)
{
	(void)ctx;
	(void)dev;
	printf("blink! (command %s)\n", cmd->id);
	*result_len = (size_t)snprintf(result, cap, "{\"blinked\":true}");
	return RP_DEVICE_DONE;
}

static void on_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "[%d] %s\n", level, msg);
}

/* The certificate: STATE_DIR/device.crt if there, else enrolled now. */
static int certificate(const char *url, const char *root, const char *id, rp_keystore *ks,
		       const char *crt, const char *token_file, X509 **cert,
		       STACK_OF(X509) * *chain)
{
	rp_est_client ec = {url, root, id, 30000, NULL};
	rp_est_credential cred = {NULL, NULL, NULL};
	char token[256] = "", err[400] = "";
	FILE *f = fopen(crt, "r");
	rp_status st;

	if (f != NULL) {
		X509 *x;
		*cert = PEM_read_X509(f, NULL, NULL, NULL);
		*chain = sk_X509_new_null();
		while (*chain != NULL && (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
			sk_X509_push(*chain, x);
		}
		fclose(f);
		if (*cert != NULL) {
			return 1;
		}
	}
	f = token_file != NULL ? fopen(token_file, "r") : NULL;
	if (f == NULL || fgets(token, sizeof(token), f) == NULL) {
		fprintf(stderr, "no certificate yet, and no token file to enroll with\n");
		if (f != NULL) {
			fclose(f);
		}
		return 0;
	}
	fclose(f);
	token[strcspn(token, "\r\n")] = '\0';
	cred.token = token;
	st = rp_est_enroll(&ec, &cred, rp_keystore_pkey(ks), RP_EST_ENROLL, cert, chain, err,
			   sizeof(err));
	OPENSSL_cleanse(token, sizeof(token));
	if (st != RP_OK) {
		fprintf(stderr, "enrollment: %s\n", err);
		return 0;
	}
	if (rp_est_save(crt, *cert, *chain) != RP_OK) {
		fprintf(stderr, "cannot write %s\n", crt);
		return 0;
	}
	printf("enrolled as %s\n", id);
	return 1;
}

int main(int argc, char **argv)
{
	char key[600], pass[600], crt[600], skey[600], qdir[600], url[300], err[400];
	rp_keystore_config kc = {0};
	rp_tlsc_config tc = {0};
	rp_device_config dc;
	rp_keystore *ks = NULL;
	rp_tlsc_ctx *tls = NULL;
	rp_device *dev = NULL;
	X509 *cert = NULL;
	STACK_OF(X509) *chain = NULL;
	uint8_t k[RP_STORAGE_KEY_LEN];
	int64_t next = 0, temp = 2100;
	int rc = 1;

	if (argc < 7) {
		fprintf(stderr,
			"usage: %s HOST MQTT_PORT HTTPS_PORT ROOT.crt DEVICE_ID STATE_DIR "
			"[TOKEN_FILE]\n",
			argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0); /* lines reach a log file as they happen */
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (mkdir(argv[6], 0700) != 0 && errno != EEXIST) {
		perror(argv[6]);
		return 1;
	}
	snprintf(key, sizeof(key), "%s/key.pem", argv[6]);
	snprintf(pass, sizeof(pass), "%s/key.pass", argv[6]);
	snprintf(crt, sizeof(crt), "%s/device.crt", argv[6]);
	snprintf(skey, sizeof(skey), "%s/storage.key", argv[6]);
	snprintf(qdir, sizeof(qdir), "%s/queue", argv[6]);
	snprintf(url, sizeof(url), "https://%s:%s", argv[1], argv[3]);

	/* 1. The key, made where it is used. */
	kc.backend = "soft";
	kc.key_file = key;
	kc.pass_file = pass;
	if (rp_keystore_open(&kc, &ks, err, sizeof(err)) != RP_OK) {
		fprintf(stderr, "keystore: %s\n", err);
		goto out;
	}
	if (!rp_keystore_has_key(ks) && rp_keystore_generate(ks, RP_KEY_EC_P256) != RP_OK) {
		fprintf(stderr, "keystore: %s\n", rp_keystore_error(ks));
		goto out;
	}
	/* 2. The certificate. */
	if (rp_est_global_init() != RP_OK ||
	    !certificate(url, argv[4], argv[5], ks, crt, argc > 7 ? argv[7] : NULL, &cert,
			 &chain)) {
		goto out;
	}
	/* 3. TLS (the fleet root is the only anchor) and the device runtime. */
	tc.ca_file = argv[4];
	tc.cert = cert;
	tc.chain = chain;
	tc.key = rp_keystore_pkey(ks);
	if (rp_tlsc_ctx_new(&tc, &tls, err, sizeof(err)) != RP_OK) {
		fprintf(stderr, "TLS: %s\n", err);
		goto out;
	}
	if (rp_storage_key_load_or_create(skey, k) != RP_OK) {
		fprintf(stderr, "cannot make %s\n", skey);
		goto out;
	}
	rp_device_config_default(&dc);
	dc.link.tls = tls;
	dc.link.host = argv[1];
	dc.link.port = (uint16_t)atoi(argv[2]);
	dc.link.client_id = argv[5];
	dc.queue_dir = qdir;
	dc.storage_key = k;
	dc.log_fn = on_log;
	if (rp_device_new(&dc, &dev) != RP_OK ||
	    rp_device_command(dev, "blink", on_blink, NULL) != RP_OK) {
		fprintf(stderr, "the device runtime could not start\n");
		goto out;
	}
	OPENSSL_cleanse(k, sizeof(k));
	printf("%s: sending a temperature every 2 s; Ctrl-C stops\n", argv[5]);
	while (!stop) {
		int64_t t = now_ms();
		if (t >= next) {
			temp += (rand() % 11) - 5; /* a simulated sensor, in 0.01 Cel */
			rp_device_number(dev, "temperature", "Cel", temp, -2, t);
			next = t + 2000;
		}
		rp_device_run(dev, 500);
	}
	rc = 0;
out:
	OPENSSL_cleanse(k, sizeof(k));
	rp_device_free(dev); /* queues what was read; what is unsent stays on disk */
	rp_tlsc_ctx_free(tls);
	X509_free(cert);
	sk_X509_pop_free(chain, X509_free);
	rp_keystore_close(ks);
	return rc;
}
