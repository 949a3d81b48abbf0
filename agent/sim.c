/*
 * agent/sim.c - rampart-sim: N simulated devices in one process, each with
 * its own key, certificate, queue and MQTT connection (docs/agent.md,
 * "rampart-sim"), for the demo and the benchmarks.
 *
 *   rampart-sim -n N --host H --root FILE --state DIR --token-file FILE
 *               [--prefix sim-] [--mqtt-port 8883] [--https-port 8443]
 *               [--interval 5s] [--duration 0]
 *
 * Device i is PREFIX + i on four digits (sim-0001 ...). Each has a soft
 * keystore in DIR/<id>/ (its key generated there the first time), enrolls
 * over EST with the token of --token-file (a prefix token covering the ids,
 * with at least N uses) unless DIR/<id>/device.crt already holds its
 * certificate, and then runs the device runtime: every interval a
 * temperature (a random walk around 21 Cel) and a humidity reading, and
 * two commands, "status" (its counters) and "blink" (args {"times": 1..10};
 * anything else is refused as bad arguments). Devices are set up one
 * after the other, then all run in one poll loop. SIGTERM or SIGINT, or
 * --duration, ends it: packs are queued, queues synced.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>

#include <jansson.h>

#include "agent.h"
#include "rampart/device.h"
#include "rampart/est_client.h"
#include "rampart/keystore.h"
#include "rampart/sealed.h"
#include "rampart/text.h"
#include "rampart/tls_client.h"

#define SIM_MAX 10000

typedef struct sim_dev {
	char id[32];
	rp_keystore *ks;
	rp_tlsc_ctx *tls;
	rp_device *dev;
	int64_t temp_centi; /* the random walk, in 0.01 Cel */
	uint64_t blinks;
} sim_dev;

typedef struct sim {
	const char *host, *root, *state, *token_file, *prefix;
	unsigned mqtt_port, https_port;
	uint64_t interval_ms, duration_ms;
	size_t n;
	sim_dev *devs;
	char token[512];
} sim;

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void dev_log(void *ctx, int level, const char *msg)
{
	sim_dev *d = ctx;

	if (level <= 4) {
		fprintf(stderr, "rampart-sim: %s: %s\n", d->id, msg);
	}
}

static rp_device_status on_status(void *ctx, rp_device *dev, const rp_device_cmd *cmd, char *result,
				  size_t cap, size_t *result_len)
{
	sim_dev *d = ctx;
	rp_device_stats s;
	int n;

	(void)cmd;
	if (rp_device_get_stats(dev, &s) != RP_OK) {
		return RP_DEVICE_FAILED;
	}
	n = snprintf(result, cap,
		     "{\"device\":\"%s\",\"simulated\":true,\"values\":%llu,\"delivered\":%llu,"
		     "\"queued\":%llu,\"blinks\":%llu}",
		     d->id, (unsigned long long)s.values, (unsigned long long)s.packs_delivered,
		     (unsigned long long)s.queue.count, (unsigned long long)d->blinks);
	if (n < 0 || (size_t)n >= cap) {
		return RP_DEVICE_FAILED;
	}
	*result_len = (size_t)n;
	return RP_DEVICE_DONE;
}

static rp_device_status on_blink(void *ctx, rp_device *dev, const rp_device_cmd *cmd, char *result,
				 size_t cap, size_t *result_len)
{
	sim_dev *d = ctx;
	json_error_t je;
	json_t *args = json_loadb(cmd->args, cmd->args_len, JSON_DECODE_ANY, &je);
	json_t *times = json_object_get(args, "times");
	json_int_t t = json_is_integer(times) ? json_integer_value(times) : 0;
	rp_device_status st = RP_DEVICE_FAILED;

	(void)dev;
	if (!json_is_object(args) || json_object_size(args) != 1 || t < 1 || t > 10) {
		*result_len = (size_t)snprintf(
			result, cap, "{\"error\":\"bad arguments: {\\\"times\\\": 1..10}\"}");
	} else {
		d->blinks += (uint64_t)t;
		*result_len = (size_t)snprintf(result, cap, "{\"blinked\":%lld}", (long long)t);
		st = RP_DEVICE_DONE;
	}
	json_decref(args);
	return st;
}

static int dir_ok(const char *dir)
{
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "rampart-sim: %s: %s\n", dir, strerror(errno));
		return 0;
	}
	return 1;
}

/* Key, certificate (enrolled now if needed), TLS context, runtime. */
static int dev_setup(sim *s, sim_dev *d)
{
	char dir[600], key[700], pass[700], crt[700], qdir[700], skey[700], url[300];
	char err[400] = "";
	rp_keystore_config kc;
	rp_tlsc_config tc;
	rp_device_config dc;
	X509 *cert = NULL;
	STACK_OF(X509) *chain = NULL;
	uint8_t k[RP_STORAGE_KEY_LEN];
	FILE *f;
	rp_status st;
	int ok = 0;

	snprintf(dir, sizeof(dir), "%s/%s", s->state, d->id);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(pass, sizeof(pass), "%s/key.pass", dir);
	snprintf(crt, sizeof(crt), "%s/device.crt", dir);
	snprintf(qdir, sizeof(qdir), "%s/queue", dir);
	snprintf(skey, sizeof(skey), "%s/storage.key", dir);
	if (!dir_ok(dir)) {
		return 0;
	}
	memset(&kc, 0, sizeof(kc));
	kc.backend = "soft";
	kc.key_file = key;
	kc.pass_file = pass;
	if (rp_keystore_open(&kc, &d->ks, err, sizeof(err)) != RP_OK) {
		fprintf(stderr, "rampart-sim: %s: keystore: %s\n", d->id, err);
		return 0;
	}
	if (!rp_keystore_has_key(d->ks) && rp_keystore_generate(d->ks, RP_KEY_EC_P256) != RP_OK) {
		fprintf(stderr, "rampart-sim: %s: %s\n", d->id, rp_keystore_error(d->ks));
		return 0;
	}
	f = fopen(crt, "r");
	if (f != NULL) {
		X509 *x;
		cert = PEM_read_X509(f, NULL, NULL, NULL);
		chain = sk_X509_new_null();
		while (chain != NULL && (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
			sk_X509_push(chain, x);
		}
		fclose(f);
		if (cert != NULL &&
		    (X509_cmp_time(X509_get0_notAfter(cert), NULL) <= 0 ||
		     EVP_PKEY_eq(X509_get0_pubkey(cert), rp_keystore_pkey(d->ks)) != 1)) {
			X509_free(cert);
			cert = NULL;
		}
	}
	if (cert == NULL) {
		rp_est_client ec = {url, s->root, d->id, 30000, NULL};
		rp_est_credential cred = {s->token, NULL, NULL};
		sk_X509_pop_free(chain, X509_free);
		chain = NULL;
		snprintf(url, sizeof(url), "https://%s:%u", s->host, s->https_port);
		st = rp_est_enroll(&ec, &cred, rp_keystore_pkey(d->ks), RP_EST_ENROLL, &cert,
				   &chain, err, sizeof(err));
		if (st != RP_OK || rp_est_save(crt, cert, chain) != RP_OK) {
			fprintf(stderr, "rampart-sim: %s: enrollment: %s\n", d->id, err);
			goto out;
		}
	}
	memset(&tc, 0, sizeof(tc));
	tc.ca_file = s->root;
	tc.cert = cert;
	tc.chain = chain;
	tc.key = rp_keystore_pkey(d->ks);
	if (rp_tlsc_ctx_new(&tc, &d->tls, err, sizeof(err)) != RP_OK) {
		fprintf(stderr, "rampart-sim: %s: TLS: %s\n", d->id, err);
		goto out;
	}
	if (rp_storage_key_load_or_create(skey, k) != RP_OK) {
		fprintf(stderr, "rampart-sim: %s: cannot make %s\n", d->id, skey);
		goto out;
	}
	rp_device_config_default(&dc);
	dc.link.tls = d->tls;
	dc.link.host = s->host;
	dc.link.port = (uint16_t)s->mqtt_port;
	dc.link.client_id = d->id;
	dc.queue_dir = qdir;
	dc.storage_key = k;
	dc.batch_ms = (uint32_t)(s->interval_ms < 5000u ? s->interval_ms : 5000u);
	dc.log_fn = dev_log;
	dc.ctx = d;
	st = rp_device_new(&dc, &d->dev);
	OPENSSL_cleanse(k, sizeof(k));
	if (st != RP_OK) {
		fprintf(stderr, "rampart-sim: %s: device runtime: %s\n", d->id, rp_status_str(st));
		goto out;
	}
	if (rp_device_command(d->dev, "status", on_status, d) != RP_OK ||
	    rp_device_command(d->dev, "blink", on_blink, d) != RP_OK) {
		goto out;
	}
	d->temp_centi = 2100 + (int64_t)(agent_rnd32() % 200u) - 100;
	ok = 1;
out:
	X509_free(cert);
	sk_X509_pop_free(chain, X509_free);
	return ok;
}

static void sample(sim_dev *d)
{
	int64_t now = agent_wall_ms();

	/* A random walk of +-0.05 Cel per sample, kept within 15..30 Cel. */
	d->temp_centi += (int64_t)(agent_rnd32() % 11u) - 5;
	if (d->temp_centi < 1500 || d->temp_centi > 3000) {
		d->temp_centi = 2100;
	}
	(void)rp_device_number(d->dev, "temperature", "Cel", d->temp_centi, -2, now);
	(void)rp_device_number(d->dev, "humidity", "%RH", 400 + (int64_t)(agent_rnd32() % 200u), -1,
			       now);
}

static int token_load(sim *s)
{
	FILE *f = fopen(s->token_file, "r");
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "rampart-sim: %s: %s\n", s->token_file, strerror(errno));
		return 0;
	}
	n = fread(s->token, 1, sizeof(s->token) - 1u, f);
	fclose(f);
	while (n > 0 && (s->token[n - 1] == '\n' || s->token[n - 1] == '\r')) {
		n--;
	}
	s->token[n] = '\0';
	return n > 0;
}

static int args(sim *s, int argc, char **argv)
{
	uint64_t v;

	s->prefix = "sim-";
	s->mqtt_port = 8883;
	s->https_port = 8443;
	s->interval_ms = 5000;
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *val = argv[i + 1];
		if (strcmp(k, "-n") == 0 && rp_text_count(val, &v) && v >= 1 && v <= SIM_MAX) {
			s->n = (size_t)v;
		} else if (strcmp(k, "--host") == 0) {
			s->host = val;
		} else if (strcmp(k, "--root") == 0) {
			s->root = val;
		} else if (strcmp(k, "--state") == 0) {
			s->state = val;
		} else if (strcmp(k, "--token-file") == 0) {
			s->token_file = val;
		} else if (strcmp(k, "--prefix") == 0) {
			s->prefix = val;
		} else if (strcmp(k, "--mqtt-port") == 0 && rp_text_count(val, &v) && v > 0 &&
			   v < 65536) {
			s->mqtt_port = (unsigned)v;
		} else if (strcmp(k, "--https-port") == 0 && rp_text_count(val, &v) && v > 0 &&
			   v < 65536) {
			s->https_port = (unsigned)v;
		} else if (strcmp(k, "--interval") == 0 && rp_text_duration_ms(val, &v) &&
			   v >= 100) {
			s->interval_ms = v;
		} else if (strcmp(k, "--duration") == 0 && rp_text_duration_ms(val, &v)) {
			s->duration_ms = v;
		} else {
			fprintf(stderr, "rampart-sim: bad option or value: %s %s\n", k, val);
			return 0;
		}
	}
	if (s->n == 0 || s->host == NULL || s->root == NULL || s->state == NULL ||
	    s->token_file == NULL || strlen(s->prefix) > 20) {
		fprintf(stderr,
			"usage: rampart-sim -n N --host H --root FILE --state DIR "
			"--token-file FILE [--prefix sim-] [--mqtt-port P] [--https-port P] "
			"[--interval 5s] [--duration 0]\n");
		return 0;
	}
	return 1;
}

int main(int argc, char **argv)
{
	static sim s;
	struct pollfd *p = NULL;
	int64_t start, next_sample;
	size_t up = 0;
	int rc = 1;

	if (!args(&s, argc, argv)) {
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (rp_est_global_init() != RP_OK || !token_load(&s) ||
	    (mkdir(s.state, 0700) != 0 && errno != EEXIST)) {
		return 1;
	}
	s.devs = calloc(s.n, sizeof(*s.devs));
	p = calloc(s.n, sizeof(*p));
	if (s.devs == NULL || p == NULL) {
		goto out;
	}
	for (size_t i = 0; i < s.n && !stop; i++) {
		snprintf(s.devs[i].id, sizeof(s.devs[i].id), "%s%04zu", s.prefix, i + 1u);
		if (!dev_setup(&s, &s.devs[i])) {
			goto out;
		}
		up++;
	}
	OPENSSL_cleanse(s.token, sizeof(s.token));
	printf("rampart-sim: %zu devices (%s0001 .. %s%04zu) sending every %llu ms\n", s.n,
	       s.prefix, s.prefix, s.n, (unsigned long long)s.interval_ms);
	fflush(stdout);
	start = agent_mono_ms();
	next_sample = start;
	while (!stop && (s.duration_ms == 0 || agent_mono_ms() - start < (int64_t)s.duration_ms)) {
		int timeout = 1000;
		int64_t now = agent_mono_ms();
		if (now >= next_sample) {
			for (size_t i = 0; i < s.n; i++) {
				sample(&s.devs[i]);
			}
			next_sample = now + (int64_t)s.interval_ms;
		}
		if (next_sample - now < timeout) {
			timeout = (int)(next_sample - now);
		}
		for (size_t i = 0; i < s.n; i++) {
			int t = -1;
			p[i].fd = -1;
			p[i].events = 0;
			rp_device_wants(s.devs[i].dev, &p[i], &t);
			if (t >= 0 && t < timeout) {
				timeout = t;
			}
		}
		if (poll(p, s.n, timeout < 0 ? 0 : timeout) < 0 && errno != EINTR) {
			goto out;
		}
		for (size_t i = 0; i < s.n; i++) {
			rp_device_run(s.devs[i].dev, 0);
		}
	}
	rc = 0;
out:
	OPENSSL_cleanse(s.token, sizeof(s.token));
	for (size_t i = 0; s.devs != NULL && i < up; i++) {
		rp_device_free(s.devs[i].dev);
		rp_tlsc_ctx_free(s.devs[i].tls);
		rp_keystore_close(s.devs[i].ks);
	}
	if (s.devs != NULL && up < s.n) {
		/* the one that failed half way */
		rp_device_free(s.devs[up].dev);
		rp_tlsc_ctx_free(s.devs[up].tls);
		rp_keystore_close(s.devs[up].ks);
	}
	free(s.devs);
	free(p);
	return rc;
}
