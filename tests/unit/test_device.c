/*
 * test_device.c - the device runtime (device/app, rampart/device.h).
 *
 * Three parts:
 * 1. Without a server (the link is never run): values batched into packs
 *    at batch_records, at the size limit and at batch_ms, each pack read
 *    back from the encrypted queue and parsed with rampartd's own SenML
 *    parser, values in order and none lost; refused values; the queue's
 *    full policies (refuse: back pressure without loss; drop oldest:
 *    logged); commands handed in through the test hook as the link would
 *    (device_int.h): topic shapes, payload validation, unknown commands,
 *    redeliveries, retained messages, PENDING and rp_device_answer, the
 *    bounds of both lists, and that no argument or result reaches a log
 *    line.
 * 2. Against a scripted MQTT 5 server over real mutual TLS in a thread (the
 *    same harness as test_link.c): one pack in flight at a time, popped on
 *    PUBACK 0x00, dropped and counted on 0x99, kept first and sent again
 *    after the retry delay on 0x97; a command answered on the wire; a
 *    crash of the server with a pack and a result in flight, a result
 *    made while offline, and rp_device_set_tls with a pack in flight: all
 *    delivered, in order.
 * 3. `test_device --run ...`: a device program for
 *    tests/integration/test_device.py, driven over stdin/stdout against
 *    the real rampartd (see run_main below).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "app/device_int.h"
#include "rampart/device.h"
#include "rampart/mqtt.h"
#include "rampart/sealed.h"
#include "rampart/tls_client.h"
#include "telemetry/senml.h"
#include "testpki.h"

static testpki_fleet F;

static const char *P(const char *file)
{
	static char buf[4][512];
	static unsigned next;
	char *b = buf[next++ % 4u];

	assert_non_null(testpki_path(&F, file, b, sizeof(buf[0])));
	return b;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Parses a pack as rampartd does; returns the number of records and their
 * numbers (or -1 when rampartd would refuse it). */
static int pack_numbers(const uint8_t *buf, size_t len, double *out, size_t cap)
{
	rp_senml_pack p;
	char why[200];
	size_t i;
	int n;

	memset(&p, 0, sizeof(p));
	if (rp_senml_parse(buf, len, RP_SENML_JSON, 1790000000000LL, NULL, &p, why, sizeof(why)) !=
	    RP_OK) {
		return -1;
	}
	for (i = 0; i < p.count && i < cap; i++) {
		out[i] = p.records[i].kind == RP_SENML_NUMBER ? p.records[i].number : -1.0;
	}
	n = (int)p.count;
	rp_senml_pack_free(&p);
	return n;
}

/* ==== the application side ================================================================ */

#define MAX_LOG 512

typedef struct app {
	char lines[MAX_LOG][512];
	int levels[MAX_LOG];
	int nlog;
	int calls; /* handler calls */
	char last_args[256];
	char last_id[80];
	int connected, disconnected;
	rp_device *dev;
} app;

static void on_log(void *ctx, int level, const char *msg)
{
	app *a = ctx;

	assert_non_null(msg);
	assert_null(strchr(msg, '\n'));
	if (a->nlog < MAX_LOG) {
		a->levels[a->nlog] = level;
		snprintf(a->lines[a->nlog], sizeof(a->lines[0]), "%s", msg);
		a->nlog++;
	}
}

static int logged(const app *a, const char *needle)
{
	int i, n = 0;

	for (i = 0; i < a->nlog; i++) {
		n += strstr(a->lines[i], needle) != NULL;
	}
	return n;
}

static void dump_log(const app *a)
{
	int i;

	for (i = 0; i < a->nlog; i++) {
		print_message("  log %d: %s\n", a->levels[i], a->lines[i]);
	}
}

static void on_event(void *ctx, const rp_link_event *ev)
{
	app *a = ctx;

	if (ev->type == RP_LINK_EV_CONNECTED) {
		a->connected++;
	} else if (ev->type == RP_LINK_EV_DISCONNECTED) {
		a->disconnected++;
	}
}

/* echo: DONE with the arguments as the result. */
static rp_device_status h_echo(void *ctx, rp_device *dev, const rp_device_cmd *cmd, char *result,
			       size_t cap, size_t *result_len)
{
	app *a = ctx;

	assert_ptr_equal(dev, a->dev);
	assert_int_equal(cap, RP_DEVICE_COMMAND_MAX);
	assert_int_equal(strlen(cmd->args), cmd->args_len);
	a->calls++;
	snprintf(a->last_args, sizeof(a->last_args), "%s", cmd->args);
	snprintf(a->last_id, sizeof(a->last_id), "%s", cmd->id);
	assert_true(cmd->args_len <= cap);
	memcpy(result, cmd->args, cmd->args_len);
	*result_len = cmd->args_len;
	return RP_DEVICE_DONE;
}

/* secret: FAILED with a result that must never be logged. */
static rp_device_status h_secret(void *ctx, rp_device *dev, const rp_device_cmd *cmd, char *result,
				 size_t cap, size_t *result_len)
{
	app *a = ctx;
	const char *r = "{\"token\":\"s3cr3t-result\"}";

	(void)dev;
	(void)cmd;
	(void)cap;
	a->calls++;
	memcpy(result, r, strlen(r));
	*result_len = strlen(r);
	return RP_DEVICE_FAILED;
}

/* later: answered with rp_device_answer. */
static rp_device_status h_later(void *ctx, rp_device *dev, const rp_device_cmd *cmd, char *result,
				size_t cap, size_t *result_len)
{
	app *a = ctx;

	(void)result;
	(void)cap;
	(void)result_len;
	a->calls++;
	/* Not answerable from inside its own handler. */
	assert_int_equal(rp_device_answer(dev, cmd->name, cmd->id, RP_DEVICE_DONE, NULL, 0),
			 RP_E_NOT_FOUND);
	return RP_DEVICE_PENDING;
}

/* broken: a result that is not JSON. */
static rp_device_status h_broken(void *ctx, rp_device *dev, const rp_device_cmd *cmd, char *result,
				 size_t cap, size_t *result_len)
{
	app *a = ctx;

	(void)dev;
	(void)cmd;
	(void)cap;
	a->calls++;
	memcpy(result, "{not json", 9);
	*result_len = 9;
	return RP_DEVICE_DONE;
}

/* ==== fixtures ============================================================================== */

typedef struct env {
	char dir[64];
	char qdir[96];
	uint8_t key[RP_STORAGE_KEY_LEN];
	rp_tlsc_ctx *tls;
} env;

static rp_tlsc_ctx *device_tls(void)
{
	rp_tlsc_config cfg;
	rp_tlsc_ctx *ctx = NULL;
	char err[256];

	memset(&cfg, 0, sizeof(cfg));
	cfg.ca_file = P("ca.crt");
	cfg.cert_file = P("dev-0001.crt");
	cfg.key = F.device.key;
	assert_int_equal(rp_tlsc_ctx_new(&cfg, &ctx, err, sizeof(err)), RP_OK);
	return ctx;
}

static void env_init(env *e)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "/tmp/rp-devrt-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->qdir, sizeof(e->qdir), "%s/queue", e->dir);
	assert_int_equal(RAND_bytes(e->key, sizeof(e->key)), 1);
	e->tls = device_tls();
}

static void env_free(env *e)
{
	char cmd[160];

	rp_tlsc_ctx_free(e->tls);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	assert_int_equal(system(cmd), 0);
}

static void dev_config(rp_device_config *cfg, env *e, app *a, uint16_t port)
{
	rp_device_config_default(cfg);
	cfg->link.tls = e->tls;
	cfg->link.host = "127.0.0.1";
	cfg->link.port = port;
	cfg->link.server_name = "localhost";
	cfg->link.client_id = "dev-0001";
	cfg->link.keepalive_s = 30;
	cfg->link.session_expiry_s = 3600;
	cfg->link.connect_timeout_ms = 3000;
	cfg->link.backoff.base_ms = 50;
	cfg->link.backoff.cap_ms = 200;
	cfg->queue_dir = e->qdir;
	cfg->storage_key = e->key;
	cfg->log_fn = on_log;
	cfg->event_fn = on_event;
	cfg->ctx = a;
}

static rp_device *dev_new(rp_device_config *cfg, app *a)
{
	rp_device *d = NULL;

	assert_int_equal(rp_device_new(cfg, &d), RP_OK);
	assert_non_null(d);
	a->dev = d;
	assert_int_equal(rp_device_command(d, "echo", h_echo, a), RP_OK);
	assert_int_equal(rp_device_command(d, "secret", h_secret, a), RP_OK);
	assert_int_equal(rp_device_command(d, "later", h_later, a), RP_OK);
	assert_int_equal(rp_device_command(d, "broken", h_broken, a), RP_OK);
	return d;
}

/* Takes every pack out of the queue, oldest first, each parsed with
 * rampartd's parser: numbers appended to vals, the record count of each
 * pack in sizes, the longest pack in *maxlen. Returns the values read. */
static size_t queued_values(rp_device *d, double *vals, size_t cap, size_t *sizes, size_t *npacks,
			    size_t *maxlen)
{
	rp_sfq *q = rp__device_queue(d);
	static uint8_t buf[RP_DEVICE_PACK_MAX];
	uint64_t seq = 0;
	size_t len = 0, n = 0, k = 0;
	rp_status st;

	if (maxlen != NULL) {
		*maxlen = 0;
	}
	while ((st = rp_sfq_peek(q, buf, sizeof(buf), &len, &seq)) == RP_OK) {
		int m = pack_numbers(buf, len, vals + n, cap - n);

		assert_true(m > 0); /* rampartd takes it */
		if (sizes != NULL) {
			sizes[k] = (size_t)m;
		}
		if (maxlen != NULL && len > *maxlen) {
			*maxlen = len;
		}
		k++;
		n += (size_t)m;
		assert_int_equal(rp_sfq_pop(q, seq), RP_OK);
	}
	assert_int_equal(st, RP_E_NOT_FOUND);
	if (npacks != NULL) {
		*npacks = k;
	}
	return n;
}

/* ==== 1. without a server ======================================================================
 */

static void test_config_refusals(void **state)
{
	rp_device_config cfg;
	rp_device *d = (rp_device *)&cfg;
	app a = {0};
	env e;

	(void)state;
	env_init(&e);
	dev_config(&cfg, &e, &a, 1);
	assert_int_equal(rp_device_new(NULL, &d), RP_E_INVALID_ARG);
	assert_null(d);
	assert_int_equal(rp_device_new(&cfg, NULL), RP_E_INVALID_ARG);
	cfg.queue_dir = NULL;
	assert_int_equal(rp_device_new(&cfg, &d), RP_E_INVALID_ARG);
	cfg.queue_dir = e.qdir;
	cfg.storage_key = NULL;
	assert_int_equal(rp_device_new(&cfg, &d), RP_E_INVALID_ARG);
	cfg.storage_key = e.key;
	cfg.link.tls = NULL;
	assert_int_equal(rp_device_new(&cfg, &d), RP_E_INVALID_ARG);
	cfg.link.tls = e.tls;
	cfg.link.client_id = "dev/0001"; /* cannot be a topic level */
	assert_int_equal(rp_device_new(&cfg, &d), RP_E_INVALID_ARG);
	cfg.link.client_id = "dev-0001";
	cfg.queue_dir = "/nonexistent-rp-devrt/queue";
	assert_int_equal(rp_device_new(&cfg, &d), RP_E_NOT_FOUND);
	assert_null(d);
	cfg.queue_dir = e.qdir;

	/* One queue directory, one device; another key cannot open it. */
	d = dev_new(&cfg, &a);
	{
		rp_device *d2 = NULL;

		assert_int_equal(rp_device_new(&cfg, &d2), RP_E_BUSY);
		assert_null(d2);
	}
	assert_int_equal(rp_device_number(d, "t", NULL, 1, 0, 0), RP_OK);
	rp_device_free(d); /* flushes: one pack on disk */
	e.key[0] ^= 1;
	assert_int_equal(rp_device_new(&cfg, &d), RP_E_CRYPTO);
	e.key[0] ^= 1;
	d = dev_new(&cfg, &a);
	assert_int_equal(rp_sfq_count(rp__device_queue(d)), 1);

	/* Command names. */
	assert_int_equal(rp_device_command(d, "", h_echo, &a), RP_E_INVALID_ARG);
	assert_int_equal(rp_device_command(d, "a/b", h_echo, &a), RP_E_INVALID_ARG);
	assert_int_equal(rp_device_command(d, "a b", h_echo, &a), RP_E_INVALID_ARG);
	assert_int_equal(rp_device_command(d, "+", h_echo, &a), RP_E_INVALID_ARG);
	assert_int_equal(rp_device_command(d, "x", NULL, &a), RP_E_INVALID_ARG);
	assert_int_equal(rp_device_command(NULL, "x", h_echo, &a), RP_E_INVALID_ARG);
	{
		char n65[66];

		memset(n65, 'a', 65);
		n65[65] = 0;
		assert_int_equal(rp_device_command(d, n65, h_echo, &a), RP_E_INVALID_ARG);
		n65[64] = 0;
		assert_int_equal(rp_device_command(d, n65, h_echo, &a), RP_OK);
	}
	assert_int_equal(rp_device_command(d, "Reboot-2_x.y", h_echo, &a), RP_OK);
	/* NULL arguments elsewhere. */
	assert_int_equal(rp_device_number(NULL, "t", NULL, 1, 0, 0), RP_E_INVALID_ARG);
	assert_int_equal(rp_device_string(d, "t", NULL, NULL, 0), RP_E_INVALID_ARG);
	assert_int_equal(rp_device_flush(NULL), RP_E_INVALID_ARG);
	assert_int_equal(rp_device_run(NULL, 0), RP_E_INVALID_ARG);
	assert_int_equal(rp_device_set_tls(d, NULL), RP_E_INVALID_ARG);
	assert_int_equal(rp_device_get_stats(d, NULL), RP_E_INVALID_ARG);
	assert_int_equal(rp_device_answer(d, "later", "x", RP_DEVICE_DONE, NULL, 0),
			 RP_E_NOT_FOUND);
	rp_device_free(d);
	rp_device_free(NULL);
	env_free(&e);
}

/* batch_records: a pack closes when it holds that many values. */
static void test_batch_records(void **state)
{
	rp_device_config cfg;
	rp_device_stats st;
	double vals[64];
	size_t sizes[16], npacks = 0, i;
	app a = {0};
	rp_device *d;
	env e;

	(void)state;
	env_init(&e);
	dev_config(&cfg, &e, &a, 1);
	cfg.batch_records = 3;
	d = dev_new(&cfg, &a);
	for (i = 1; i <= 7; i++) {
		assert_int_equal(rp_device_number(d, "seq", "count", (int64_t)i, 0,
						  1790000000000LL + (int64_t)i),
				 RP_OK);
		/* Closed exactly at 3 and 6, not before. */
		assert_int_equal(rp_sfq_count(rp__device_queue(d)), i / 3);
	}
	assert_int_equal(rp_device_get_stats(d, &st), RP_OK);
	assert_int_equal(st.values, 7);
	assert_int_equal(st.packs_queued, 2);
	assert_int_equal(st.link_state, RP_LINK_IDLE);
	assert_int_equal(rp_device_flush(d), RP_OK);
	assert_int_equal(rp_device_flush(d), RP_OK); /* empty: nothing more */
	assert_int_equal(rp_sfq_count(rp__device_queue(d)), 3);
	assert_int_equal(queued_values(d, vals, 64, sizes, &npacks, NULL), 7);
	assert_int_equal(npacks, 3);
	assert_int_equal(sizes[0], 3);
	assert_int_equal(sizes[1], 3);
	assert_int_equal(sizes[2], 1);
	for (i = 0; i < 7; i++) {
		assert_true(vals[i] == (double)(i + 1));
	}
	assert_int_equal(rp_device_get_stats(d, &st), RP_OK);
	assert_int_equal(st.packs_queued, 3);
	rp_device_free(d);
	env_free(&e);
}

/* The size limit: a pack never exceeds the queue's record size; a value
 * that does not fit starts the next pack; one that never fits is refused. */
static void test_batch_full(void **state)
{
	rp_device_config cfg;
	rp_device_stats st;
	double vals[256];
	size_t npacks = 0, maxlen = 0, i, n;
	char big[400];
	app a = {0};
	rp_device *d;
	env e;

	(void)state;
	env_init(&e);
	dev_config(&cfg, &e, &a, 1);
	cfg.queue.max_record = 256;
	d = dev_new(&cfg, &a);
	for (i = 1; i <= 100; i++) {
		assert_int_equal(rp_device_number(d, "a-rather-long-sensor-name/temperature", "Cel",
						  (int64_t)i, -1, 1790000000000LL + (int64_t)i),
				 RP_OK);
	}
	assert_true(rp_sfq_count(rp__device_queue(d)) >= 10); /* about 4 a pack */
	/* Too big even alone: refused, nothing else changes. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	n = rp_sfq_count(rp__device_queue(d));
	assert_int_equal(rp_device_string(d, "s", NULL, big, 0), RP_E_INVALID_ARG);
	assert_int_equal(rp_sfq_count(rp__device_queue(d)), n);
	assert_int_equal(rp_device_flush(d), RP_OK);
	n = queued_values(d, vals, 256, NULL, &npacks, &maxlen);
	assert_int_equal(n, 100);
	assert_true(maxlen <= 256);
	assert_true(maxlen > 200); /* filled, not closed early */
	for (i = 0; i < 100; i++) {
		assert_true(vals[i] > (double)(i + 1) / 10 - 1e-9 &&
			    vals[i] < (double)(i + 1) / 10 + 1e-9);
	}
	assert_int_equal(rp_device_get_stats(d, &st), RP_OK);
	assert_int_equal(st.values, 100);
	assert_int_equal(st.packs_queued, npacks);
	rp_device_free(d);
	env_free(&e);
}

/* batch_ms: the pack closes that long after its first value, from the loop. */
static void test_batch_time(void **state)
{
	rp_device_config cfg;
	struct pollfd pfd;
	double vals[8];
	app a = {0};
	rp_device *d;
	uint64_t t0;
	int timeout = -1;
	env e;

	(void)state;
	env_init(&e);
	dev_config(&cfg, &e, &a, 1); /* port 1: the link fails and waits, harmless */
	cfg.batch_ms = 300;
	d = dev_new(&cfg, &a);
	assert_int_equal(rp_device_wants(d, &pfd, &timeout), RP_OK);
	t0 = now_ms();
	assert_int_equal(rp_device_number(d, "v", NULL, 1, 0, 0), RP_OK);
	assert_int_equal(rp_device_bool(d, "b", NULL, 1, 0), RP_OK);
	assert_int_equal(rp_device_wants(d, &pfd, &timeout), RP_OK);
	assert_true(timeout >= 0 && timeout <= 300);
	assert_int_equal(rp_device_run(d, 50), RP_OK);
	if (now_ms() - t0 < 250) {
		assert_int_equal(rp_sfq_count(rp__device_queue(d)), 0);
	}
	/* rp_device_run(-1) returns once the pack is due, not later. */
	while (rp_sfq_count(rp__device_queue(d)) == 0 && now_ms() - t0 < 3000) {
		assert_int_equal(rp_device_run(d, -1), RP_OK);
	}
	assert_int_equal(rp_sfq_count(rp__device_queue(d)), 1);
	assert_true(now_ms() - t0 >= 300);
	assert_true(now_ms() - t0 < 1500);
	assert_int_equal(queued_values(d, vals, 8, NULL, NULL, NULL), 2);
	assert_true(vals[0] == 1.0);
	rp_device_free(d);
	env_free(&e);
}

static void test_values_refused(void **state)
{
	rp_device_config cfg;
	rp_device_stats st;
	app a = {0};
	rp_device *d;
	env e;

	(void)state;
	env_init(&e);
	dev_config(&cfg, &e, &a, 1);
	d = dev_new(&cfg, &a);
	assert_int_equal(rp_device_number(d, "", NULL, 1, 0, 0), RP_E_INVALID_ARG);
	assert_int_equal(rp_device_number(d, "bad name", NULL, 1, 0, 0), RP_E_INVALID_ARG);
	assert_int_equal(rp_device_number(d, "-x", NULL, 1, 0, 0), RP_E_INVALID_ARG);
	assert_int_equal(rp_device_number(d, "x", "", 1, 0, 0), RP_E_INVALID_ARG);
	assert_int_equal(rp_device_number(d, "x", "C el", 1, 0, 0), RP_E_INVALID_ARG);
	assert_int_equal(rp_device_number(d, "x", NULL, 1, 31, 0), RP_E_INVALID_ARG);
	assert_int_equal(rp_device_number(d, "x", NULL, 1, 0, -5), RP_E_INVALID_ARG);
	assert_int_equal(rp_device_bool(d, "x", NULL, 2, 0), RP_E_INVALID_ARG);
	assert_int_equal(rp_device_string(d, "x", NULL, "\xff\xfe", 0), RP_E_INVALID_ARG);
	assert_int_equal(rp_device_get_stats(d, &st), RP_OK);
	assert_int_equal(st.values, 0);
	assert_int_equal(rp_device_flush(d), RP_OK);
	assert_int_equal(rp_sfq_count(rp__device_queue(d)), 0);
	/* After refusals the pack still works. */
	assert_int_equal(rp_device_string(d, "fw", NULL, "1.2.3", 0), RP_OK);
	assert_int_equal(rp_device_flush(d), RP_OK);
	assert_int_equal(rp_sfq_count(rp__device_queue(d)), 1);
	rp_device_free(d);
	env_free(&e);
}

/* RP_SFQ_REFUSE: a full queue says BUSY, the value is not taken, nothing
 * taken before is lost; once there is room everything is queued in order. */
static void test_queue_refuse(void **state)
{
	rp_device_config cfg;
	rp_device_stats st;
	double vals[512];
	app a = {0};
	rp_device *d;
	rp_sfq *q;
	size_t n;
	int i, taken = 0;
	rp_status s = RP_OK;
	env e;

	(void)state;
	env_init(&e);
	dev_config(&cfg, &e, &a, 1);
	cfg.queue.max_record = 256;
	cfg.queue.segment_bytes = 1024;
	cfg.queue.max_bytes = 2048;
	cfg.queue.policy = RP_SFQ_REFUSE;
	cfg.batch_records = 2;
	cfg.batch_ms = 50;
	d = dev_new(&cfg, &a);
	q = rp__device_queue(d);
	for (i = 1; i <= 500 && s == RP_OK; i++) {
		s = rp_device_number(d, "n", NULL, i, 0, 0);
		taken += s == RP_OK;
	}
	assert_int_equal(s, RP_E_BUSY);
	assert_true(taken > 10);
	/* Still busy, still not taken. */
	assert_int_equal(rp_device_number(d, "n", NULL, 9999, 0, 0), RP_E_BUSY);
	assert_int_equal(rp_device_flush(d), RP_E_BUSY);
	assert_int_equal(rp_device_get_stats(d, &st), RP_OK);
	assert_int_equal(st.values, (uint64_t)taken);
	assert_int_equal(st.queue.dropped, 0);
	/* The loop tries again and logs once. */
	{
		uint64_t end = now_ms() + 300;

		while (now_ms() < end) {
			assert_int_equal(rp_device_run(d, 20), RP_OK);
		}
	}
	/* The full pack, due, could not be queued: said once. */
	assert_int_equal(logged(&a, "not queued (queue full, policy refuse): kept in memory"), 1);
	/* Room again: everything taken is there, in order, nothing else. */
	n = queued_values(d, vals, 512, NULL, NULL, NULL);
	assert_int_equal(rp_device_flush(d), RP_OK);
	n += queued_values(d, vals + n, 512 - n, NULL, NULL, NULL);
	assert_int_equal(n, (size_t)taken);
	for (i = 0; i < taken; i++) {
		assert_true(vals[i] == (double)(i + 1));
	}
	assert_int_equal(rp_sfq_count(q), 0);
	assert_int_equal(rp_device_number(d, "n", NULL, 1, 0, 0), RP_OK);
	rp_device_free(d);
	env_free(&e);
}

/* RP_SFQ_DROP_OLDEST: the queue makes room, and the runtime logs it. */
static void test_queue_drop_logged(void **state)
{
	rp_device_config cfg;
	rp_device_stats st;
	app a = {0};
	rp_device *d;
	int i;
	env e;

	(void)state;
	env_init(&e);
	dev_config(&cfg, &e, &a, 1);
	cfg.queue.max_record = 256;
	cfg.queue.segment_bytes = 1024;
	cfg.queue.max_bytes = 2048;
	cfg.batch_records = 2;
	d = dev_new(&cfg, &a);
	for (i = 1; i <= 200; i++) {
		assert_int_equal(rp_device_number(d, "n", NULL, i, 0, 0), RP_OK);
	}
	assert_int_equal(rp_device_get_stats(d, &st), RP_OK);
	assert_true(st.queue.dropped > 0);
	assert_int_equal(st.values, 200);
	assert_true(logged(&a, "oldest pack(s) dropped") > 0);
	rp_device_free(d);
	env_free(&e);
}

/* ---- commands ---- */

static const char *result_payload(rp_device *d, size_t i, const char *want_topic)
{
	const char *topic = NULL, *payload = NULL;

	assert_int_equal(rp__device_result_at(d, i, &topic, &payload), RP_OK);
	assert_string_equal(topic, want_topic);
	return payload;
}

static uint8_t deliver(rp_device *d, const char *topic, const char *payload)
{
	return rp__device_deliver(d, topic, payload, strlen(payload), 0);
}

static void test_commands(void **state)
{
	rp_device_config cfg;
	rp_device_stats st;
	const char *t, *p;
	app a = {0};
	rp_device *d;
	env e;

	(void)state;
	env_init(&e);
	dev_config(&cfg, &e, &a, 1);
	d = dev_new(&cfg, &a);

	/* A command and its result. */
	assert_int_equal(
		deliver(d, "d/dev-0001/cmd/echo",
			"{\"id\":\"c-1\",\"args\":{\"password\":\"hunter2\",\"n\":[1,2]}}"),
		0);
	assert_int_equal(a.calls, 1);
	assert_string_equal(a.last_args, "{\"password\":\"hunter2\",\"n\":[1,2]}");
	assert_string_equal(a.last_id, "c-1");
	assert_string_equal(result_payload(d, 0, "d/dev-0001/cmd/echo/result"),
			    "{\"id\":\"c-1\",\"status\":\"done\",\"result\":{\"password\":"
			    "\"hunter2\",\"n\":[1,2]}}");
	assert_int_equal(logged(&a, "command echo id c-1 received"), 1);

	/* No "args": the handler sees null; an empty result has no member. */
	assert_int_equal(deliver(d, "d/dev-0001/cmd/echo", "{\"id\":\"c-2\",\"extra\":1}"), 0);
	assert_string_equal(a.last_args, "null");
	assert_string_equal(result_payload(d, 1, "d/dev-0001/cmd/echo/result"),
			    "{\"id\":\"c-2\",\"status\":\"done\",\"result\":null}");

	/* Unknown command: failed, nothing called. An id with quotes is escaped. */
	assert_int_equal(deliver(d, "d/dev-0001/cmd/nosuch", "{\"id\":\"q\\\"\\\\x\",\"args\":1}"),
			 0);
	assert_int_equal(a.calls, 2);
	assert_string_equal(result_payload(d, 2, "d/dev-0001/cmd/nosuch/result"),
			    "{\"id\":\"q\\\"\\\\x\",\"status\":\"failed\",\"result\":{\"error\":"
			    "\"unknown command\"}}");
	/* A name no handler can have is unknown too, and answered on its topic. */
	assert_int_equal(deliver(d, "d/dev-0001/cmd/b\xc3\xa9h", "{\"id\":\"c-3\"}"), 0);
	assert_string_equal(result_payload(d, 3, "d/dev-0001/cmd/b\xc3\xa9h/result"),
			    "{\"id\":\"c-3\",\"status\":\"failed\",\"result\":{\"error\":"
			    "\"unknown command\"}}");
	assert_int_equal(logged(&a, "command b??h id c-3"), 2); /* received, answered */

	/* A handler that fails, with a secret in its result. */
	assert_int_equal(deliver(d, "d/dev-0001/cmd/secret", "{\"id\":\"c-4\"}"), 0);
	assert_string_equal(result_payload(d, 4, "d/dev-0001/cmd/secret/result"),
			    "{\"id\":\"c-4\",\"status\":\"failed\",\"result\":{\"token\":"
			    "\"s3cr3t-result\"}}");
	/* A handler whose result is not JSON: failed, with the runtime's error. */
	assert_int_equal(deliver(d, "d/dev-0001/cmd/broken", "{\"id\":\"c-5\"}"), 0);
	assert_string_equal(result_payload(d, 5, "d/dev-0001/cmd/broken/result"),
			    "{\"id\":\"c-5\",\"status\":\"failed\",\"result\":{\"error\":"
			    "\"the handler failed\"}}");

	/* Payloads without a usable id: logged, never answered, nothing called. */
	{
		static const char *const bad[] = {
			"not json",
			"[1,2]",
			"\"c-9\"",
			"{}",
			"{\"id\":7}",
			"{\"id\":\"\"}",
			"{\"id\":null}",
			"{\"id\":\"a\\nb\"}",
			"{\"id\":\"\\u00e9\"}",
			"{\"id\":\"a\\u0000b\"}",
			"{\"id\":\"c-9\",\"id\":\"c-10\"}",
			("{\"id\":"
			 "\"0123456789012345678901234567890123456789012345678901234567890123"
			 "4\"}"), /* 65 */
			"{\"id\":\"c-9\"} trailing",
			"",
		};
		size_t i, before = (size_t)logged(&a, "dropped (no id to answer)");

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			assert_int_equal(deliver(d, "d/dev-0001/cmd/echo", bad[i]), 0);
		}
		assert_int_equal(logged(&a, "dropped (no id to answer)"),
				 before + sizeof(bad) / sizeof(bad[0]));
		assert_int_equal(rp__device_result_at(d, 6, &t, &p), RP_E_NOT_FOUND);
		assert_int_equal(a.calls, 4);
	}
	/* 64 characters is the longest id. */
	assert_int_equal(
		deliver(d, "d/dev-0001/cmd/echo",
			"{\"id\":\"01234567890123456789012345678901234567890123456789012345678"
			"90123\"}"),
		0);
	assert_int_equal(a.calls, 5);
	/* Too large: not even read. */
	{
		size_t n = RP_DEVICE_COMMAND_MAX + RP_DEVICE_ENVELOPE + 1u;
		char *big = malloc(n + 1);

		assert_non_null(big);
		memset(big, ' ', n);
		memcpy(big, "{\"id\":\"big\",\"args\":1", 20);
		big[n - 1] = '}';
		big[n] = 0;
		assert_int_equal(deliver(d, "d/dev-0001/cmd/echo", big), 0);
		assert_int_equal(logged(&a, "payload too large"), 1);
		free(big);
	}

	/* Topics that are not commands: ignored, not counted. */
	assert_int_equal(rp_device_get_stats(d, &st), RP_OK);
	{
		uint64_t before = st.commands;
		int calls = a.calls;

		deliver(d, "d/dev-0001/cmd/echo/more", "{\"id\":\"x-1\"}");
		deliver(d, "d/dev-0002/cmd/echo", "{\"id\":\"x-2\"}");
		deliver(d, "d/dev-00011/cmd/echo", "{\"id\":\"x-3\"}");
		deliver(d, "d/dev-0001/cmdx/echo", "{\"id\":\"x-4\"}");
		deliver(d, "d/dev-0001/cmd/", "{\"id\":\"x-5\"}");
		deliver(d, "d/dev-0001/cmd", "{\"id\":\"x-6\"}");
		deliver(d, "e/dev-0001/cmd/echo", "{\"id\":\"x-7\"}");
		assert_int_equal(a.calls, calls);
		assert_int_equal(rp_device_get_stats(d, &st), RP_OK);
		assert_int_equal(st.commands, before);
		/* Retained: counted, logged, not run. */
		assert_int_equal(
			rp__device_deliver(d, "d/dev-0001/cmd/echo", "{\"id\":\"r-1\"}", 13, 1), 0);
		assert_int_equal(a.calls, calls);
		assert_int_equal(logged(&a, "retained"), 1);
		/* Redelivered: not run again, not answered again. */
		assert_int_equal(deliver(d, "d/dev-0001/cmd/echo", "{\"id\":\"c-1\",\"args\":5}"),
				 0);
		assert_int_equal(a.calls, calls);
		assert_int_equal(logged(&a, "received again"), 1);
		/* Same id, another command: a different command. */
		assert_int_equal(deliver(d, "d/dev-0001/cmd/secret", "{\"id\":\"c-1\"}"), 0);
		assert_int_equal(a.calls, calls + 1);
	}

	/* Nothing of any argument or result reached a log line. */
	{
		int i;

		for (i = 0; i < a.nlog; i++) {
			assert_null(strstr(a.lines[i], "hunter2"));
			assert_null(strstr(a.lines[i], "s3cr3t"));
			assert_null(strstr(a.lines[i], "not json"));
		}
	}
	rp_device_free(d);
	/* Results never acknowledged are reported at the end. */
	assert_int_equal(logged(&a, "not acknowledged by rampartd: dropped"), 1);
	env_free(&e);
}

/* PENDING, rp_device_answer, and the bounds of both lists. */
static void test_pending_and_bounds(void **state)
{
	rp_device_config cfg;
	char topic[64];
	const char *t, *p;
	app a = {0};
	rp_device *d;
	size_t i;
	env e;

	(void)state;
	env_init(&e);
	dev_config(&cfg, &e, &a, 1);
	d = dev_new(&cfg, &a);

	assert_int_equal(deliver(d, "d/dev-0001/cmd/later", "{\"id\":\"p-1\",\"args\":{}}"), 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(rp__device_pending_count(d), 1);
	assert_int_equal(rp__device_result_at(d, 0, &t, &p), RP_E_NOT_FOUND);
	assert_int_equal(rp_device_answer(d, "later", "p-2", RP_DEVICE_DONE, NULL, 0),
			 RP_E_NOT_FOUND);
	assert_int_equal(rp_device_answer(d, "echo", "p-1", RP_DEVICE_DONE, NULL, 0),
			 RP_E_NOT_FOUND);
	assert_int_equal(rp_device_answer(d, "later", "p-1", RP_DEVICE_PENDING, NULL, 0),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp_device_answer(d, "later", "p-1", RP_DEVICE_DONE, "{x", 2),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp_device_answer(d, "later", "p-1", RP_DEVICE_DONE, NULL, 3),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp__device_pending_count(d), 1); /* all refused: still pending */
	assert_int_equal(rp_device_answer(d, "later", "p-1", RP_DEVICE_DONE, "[true]", 6), RP_OK);
	assert_int_equal(rp__device_pending_count(d), 0);
	assert_string_equal(result_payload(d, 0, "d/dev-0001/cmd/later/result"),
			    "{\"id\":\"p-1\",\"status\":\"done\",\"result\":[true]}");
	assert_int_equal(rp_device_answer(d, "later", "p-1", RP_DEVICE_DONE, NULL, 0),
			 RP_E_NOT_FOUND);

	/* RP_DEVICE_PENDING_MAX commands pending; the next is answered failed
	 * without calling its handler. */
	for (i = 0; i < RP_DEVICE_PENDING_MAX; i++) {
		char payload[64];

		snprintf(payload, sizeof(payload), "{\"id\":\"w-%zu\"}", i);
		assert_int_equal(deliver(d, "d/dev-0001/cmd/later", payload), 0);
	}
	assert_int_equal(rp__device_pending_count(d), RP_DEVICE_PENDING_MAX);
	assert_int_equal(a.calls, 1 + RP_DEVICE_PENDING_MAX);
	assert_int_equal(deliver(d, "d/dev-0001/cmd/later", "{\"id\":\"w-x\"}"), 0);
	assert_int_equal(a.calls, 1 + RP_DEVICE_PENDING_MAX);
	assert_string_equal(result_payload(d, 1, "d/dev-0001/cmd/later/result"),
			    "{\"id\":\"w-x\",\"status\":\"failed\",\"result\":{\"error\":\"too "
			    "many commands pending\"}}");
	/* Answering frees a slot. */
	assert_int_equal(rp_device_answer(d, "later", "w-0", RP_DEVICE_FAILED, "\"no\"", 4), RP_OK);
	assert_int_equal(rp__device_pending_count(d), RP_DEVICE_PENDING_MAX - 1);
	assert_string_equal(result_payload(d, 2, "d/dev-0001/cmd/later/result"),
			    "{\"id\":\"w-0\",\"status\":\"failed\",\"result\":\"no\"}");

	/* Fill the results (3 so far) up to RP_DEVICE_RESULTS_MAX... */
	for (i = 3; i < RP_DEVICE_RESULTS_MAX; i++) {
		char payload[64];

		snprintf(payload, sizeof(payload), "{\"id\":\"e-%zu\",\"args\":%zu}", i, i);
		assert_int_equal(deliver(d, "d/dev-0001/cmd/echo", payload), 0);
	}
	assert_int_equal(rp__device_result_at(d, RP_DEVICE_RESULTS_MAX - 1, &t, &p), RP_OK);
	/* ...then a handler's result is dropped and logged, and an answer is
	 * refused with BUSY and stays pending. */
	assert_int_equal(deliver(d, "d/dev-0001/cmd/echo", "{\"id\":\"e-over\"}"), 0);
	assert_int_equal(rp__device_result_at(d, RP_DEVICE_RESULTS_MAX, &t, &p), RP_E_NOT_FOUND);
	assert_int_equal(logged(&a, "command echo id e-over: result done dropped"), 1);
	assert_int_equal(rp_device_answer(d, "later", "w-1", RP_DEVICE_DONE, NULL, 0), RP_E_BUSY);
	assert_int_equal(rp__device_pending_count(d), RP_DEVICE_PENDING_MAX - 1);
	/* The order is the order they were made in. */
	for (i = 3; i < RP_DEVICE_RESULTS_MAX; i++) {
		char want[96];

		snprintf(want, sizeof(want),
			 "{\"id\":\"e-%zu\",\"status\":\"done\",\"result\":%zu}", i, i);
		snprintf(topic, sizeof(topic), "d/dev-0001/cmd/echo/result");
		assert_string_equal(result_payload(d, i, topic), want);
	}
	rp_device_free(d);
	assert_int_equal(logged(&a, "never answered"), RP_DEVICE_PENDING_MAX - 1);
	env_free(&e);
}

/* ==== 2. a scripted MQTT 5 server over TLS, in a thread ======================================= */

typedef struct msrv msrv;
typedef void (*script_fn)(msrv *s);

struct msrv {
	script_fn script;
	int lfd;
	uint16_t port;
	pthread_t thread;
	SSL_CTX *ctx;
	int fd;
	SSL *ssl;
	uint8_t version;
	uint8_t rx[65536];
	size_t rx_len;
	uint8_t pkt[65536];
	atomic_int finished;
	atomic_int want_set_tls; /* the script asks the main thread for rp_device_set_tls */
	int failed;
	char why[512];
	/* what the script saw */
	int telemetry;  /* telemetry PUBLISHes received */
	double got[64]; /* their values, in the order received */
	int ngot;
};

static void ms_fail(msrv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ms_fail(msrv *s, const char *fmt, ...)
{
	va_list ap;

	if (s->failed) {
		return;
	}
	s->failed = 1;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

#define MS_CHECK(s, cond)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			ms_fail((s), "%s:%d: %s", __FILE__, __LINE__, #cond);                      \
			return;                                                                    \
		}                                                                                  \
	} while (0)

static void ms_close(msrv *s)
{
	SSL_free(s->ssl);
	s->ssl = NULL;
	if (s->fd >= 0) {
		close(s->fd);
	}
	s->fd = -1;
	s->rx_len = 0;
	s->version = 0;
}

static int ms_accept(msrv *s)
{
	struct pollfd p = {.fd = s->lfd, .events = POLLIN};
	struct timeval tv = {.tv_sec = 5};

	ms_close(s);
	if (poll(&p, 1, 10000) != 1) {
		return -1;
	}
	s->fd = accept(s->lfd, NULL, NULL);
	if (s->fd < 0) {
		return -1;
	}
	setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	s->ssl = SSL_new(s->ctx);
	if (s->ssl == NULL || SSL_set_fd(s->ssl, s->fd) != 1 || SSL_accept(s->ssl) != 1) {
		ERR_clear_error();
		ms_close(s);
		return -1;
	}
	return 0;
}

/* The next packet (views into s->pkt): 0; 1 when nothing came within
 * quiet_ms (quiet_ms > 0 only); -1 on EOF, timeout or error. */
static int ms_recv_within(msrv *s, rp_mqtt_packet *pkt, int quiet_ms)
{
	rp_mqtt_limits lim;

	rp_mqtt_limits_default(&lim);
	for (;;) {
		rp_mqtt_frame fr;
		size_t need = 0, n = 0;
		rp_status st = RP_NEED_MORE;

		if (s->rx_len > 0) {
			st = rp_mqtt_frame_parse(s->rx, s->rx_len, s->version, sizeof(s->pkt), &fr,
						 &need);
		}
		if (st == RP_OK) {
			memcpy(s->pkt, s->rx, fr.total);
			memmove(s->rx, s->rx + fr.total, s->rx_len - fr.total);
			s->rx_len -= fr.total;
			st = rp_mqtt_decode(s->pkt, fr.total, s->version, &lim, pkt, NULL);
			if (st != RP_OK) {
				ms_fail(s, "the device sent an invalid packet: %s",
					rp_status_str(st));
				return -1;
			}
			if (pkt->type == RP_MQTT_CONNECT) {
				s->version = pkt->u.connect.version;
			}
			return 0;
		}
		if (st != RP_NEED_MORE) {
			ms_fail(s, "the device sent a bad frame: %s", rp_status_str(st));
			return -1;
		}
		if (s->ssl == NULL) {
			return -1;
		}
		if (quiet_ms > 0 && SSL_pending(s->ssl) == 0) {
			struct pollfd p = {.fd = s->fd, .events = POLLIN};

			if (poll(&p, 1, quiet_ms) == 0) {
				return 1;
			}
		}
		if (SSL_read_ex(s->ssl, s->rx + s->rx_len, sizeof(s->rx) - s->rx_len, &n) != 1) {
			ERR_clear_error();
			return -1;
		}
		s->rx_len += n;
	}
}

static int ms_send(msrv *s, const rp_mqtt_packet *pkt)
{
	rp_mqtt_limits lim;
	uint8_t buf[4096];
	size_t n = 0, w = 0;

	rp_mqtt_limits_default(&lim);
	if (rp_mqtt_encode(pkt, RP_MQTT_V5, &lim, buf, sizeof(buf), &n) != RP_OK) {
		ms_fail(s, "test bug: cannot encode a packet of type %u", pkt->type);
		return -1;
	}
	return SSL_write_ex(s->ssl, buf, n, &w) == 1 && w == n ? 0 : -1;
}

static int ms_ack(msrv *s, uint8_t type, uint16_t pid, uint8_t rc)
{
	static const uint8_t granted[1] = {1};
	rp_mqtt_packet p;

	memset(&p, 0, sizeof(p));
	p.type = type;
	if (type == RP_MQTT_SUBACK) {
		p.u.suback.packet_id = pid;
		p.u.suback.count = 1;
		p.u.suback.reason_codes = granted;
	} else {
		p.u.ack.packet_id = pid;
		p.u.ack.reason_code = rc;
	}
	return ms_send(s, &p);
}

static int ms_publish(msrv *s, const char *topic, const char *payload, uint16_t pid)
{
	rp_mqtt_packet p;

	memset(&p, 0, sizeof(p));
	p.type = RP_MQTT_PUBLISH;
	p.u.publish.qos = 1;
	p.u.publish.packet_id = pid;
	p.u.publish.topic.p = (const uint8_t *)topic;
	p.u.publish.topic.len = (uint32_t)strlen(topic);
	p.u.publish.payload.p = (const uint8_t *)payload;
	p.u.publish.payload.len = (uint32_t)strlen(payload);
	return ms_send(s, &p);
}

static int str_is(rp_mqtt_str v, const char *want)
{
	return v.len == strlen(want) && memcmp(v.p, want, v.len) == 0;
}

/* Accepts, checks the CONNECT, answers CONNACK (session present 0). */
static void ms_expect_connect(msrv *s)
{
	rp_mqtt_packet p;
	rp_mqtt_packet ack;

	MS_CHECK(s, ms_accept(s) == 0);
	MS_CHECK(s, ms_recv_within(s, &p, 0) == 0);
	MS_CHECK(s, p.type == RP_MQTT_CONNECT);
	MS_CHECK(s, p.u.connect.version == RP_MQTT_V5);
	MS_CHECK(s, str_is(p.u.connect.client_id, "dev-0001"));
	memset(&ack, 0, sizeof(ack));
	ack.type = RP_MQTT_CONNACK;
	MS_CHECK(s, ms_send(s, &ack) == 0);
}

/*
 * The next packet that is not a SUBSCRIBE (answered: the command topic at
 * QoS 1) or a PINGREQ (answered). quiet_ms as ms_recv_within.
 */
static int ms_next(msrv *s, rp_mqtt_packet *p, int quiet_ms)
{
	for (;;) {
		int r = ms_recv_within(s, p, quiet_ms);

		if (r != 0) {
			return r;
		}
		if (p->type == RP_MQTT_SUBSCRIBE) {
			rp_mqtt_sub_entry e;
			uint32_t cur = 0;

			if (rp_mqtt_sub_next(&p->u.subscribe, 1, &cur, &e) != 1 ||
			    !str_is(e.filter, "d/dev-0001/cmd/+")) {
				ms_fail(s, "unexpected SUBSCRIBE");
				return -1;
			}
			if (ms_ack(s, RP_MQTT_SUBACK, p->u.subscribe.packet_id, 0) != 0) {
				return -1;
			}
			continue;
		}
		if (p->type == RP_MQTT_PINGREQ) {
			rp_mqtt_packet r2;

			memset(&r2, 0, sizeof(r2));
			r2.type = RP_MQTT_PINGRESP;
			if (ms_send(s, &r2) != 0) {
				return -1;
			}
			continue;
		}
		return 0;
	}
}

/* A telemetry PUBLISH: its values appended to s->got; returns their count. */
static int ms_telemetry(msrv *s, const rp_mqtt_packet *p)
{
	int n;

	if (p->type != RP_MQTT_PUBLISH || p->u.publish.qos != 1 ||
	    !str_is(p->u.publish.topic, "d/dev-0001/telemetry")) {
		ms_fail(s, "expected a telemetry PUBLISH at QoS 1, got type %u", p->type);
		return -1;
	}
	n = pack_numbers(p->u.publish.payload.p, p->u.publish.payload.len, s->got + s->ngot,
			 sizeof(s->got) / sizeof(s->got[0]) - (size_t)s->ngot);
	if (n <= 0) {
		ms_fail(s, "a pack rampartd would refuse");
		return -1;
	}
	s->ngot += n;
	s->telemetry++;
	return n;
}

static int payload_is(const rp_mqtt_packet *p, const char *want)
{
	return p->u.publish.payload.len == strlen(want) &&
	       memcmp(p->u.publish.payload.p, want, strlen(want)) == 0;
}

static void *ms_main(void *arg)
{
	msrv *s = arg;
	sigset_t pipe_set;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
	s->script(s);
	ms_close(s);
	atomic_store(&s->finished, 1);
	return NULL;
}

static void ms_start(msrv *s, script_fn script)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	X509_STORE *store = X509_STORE_new();

	s->script = script;
	s->fd = -1;
	s->ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(s->ctx);
	assert_non_null(store);
	assert_int_equal(X509_STORE_add_cert(store, F.ca.cert), 1);
	SSL_CTX_set_cert_store(s->ctx, store);
	SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	assert_int_equal(SSL_CTX_use_certificate(s->ctx, F.server.cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(s->ctx, F.server.key), 1);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->lfd, 8), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&s->thread, NULL, ms_main, s), 0);
}

static void ms_finish(msrv *s)
{
	assert_int_equal(pthread_join(s->thread, NULL), 0);
	close(s->lfd);
	SSL_CTX_free(s->ctx);
	if (s->failed) {
		print_error("server script: %s\n", s->why);
	}
	assert_false(s->failed);
}

/*
 * Runs the device until it delivered `packs` packs and `results` results,
 * the server thread ended, or 15 s; calls rp_device_set_tls when the
 * script asks. Returns the stats.
 */
static rp_device_stats run_until(rp_device *d, msrv *s, uint64_t packs, uint64_t results,
				 rp_tlsc_ctx **tls)
{
	uint64_t end = now_ms() + 15000;
	rp_device_stats st;

	do {
		assert_int_equal(rp_device_run(d, 20), RP_OK);
		if (tls != NULL && atomic_exchange(&s->want_set_tls, 0)) {
			rp_tlsc_ctx *fresh = device_tls();

			assert_int_equal(rp_device_set_tls(d, fresh), RP_OK);
			rp_tlsc_ctx_free(*tls); /* the old context may go now */
			*tls = fresh;
		}
		assert_int_equal(rp_device_get_stats(d, &st), RP_OK);
	} while ((st.packs_delivered < packs || st.results < results) &&
		 !atomic_load(&s->finished) && now_ms() < end);
	return st;
}

/*
 * Three packs queued before the first connection: [1,2] acknowledged 0x00,
 * [3,4] refused 0x99 (dropped), [5,6] refused 0x97 (kept first, sent
 * again after about a second, then acknowledged). One in flight at a time.
 * Then two commands over the wire and their results.
 */
static void script_delivery(msrv *s)
{
	rp_mqtt_packet p;
	uint64_t t0;
	uint16_t pid;
	int i, acks = 0, results = 0, refused = 0;

	ms_expect_connect(s);
	if (s->failed) {
		return;
	}
	MS_CHECK(s, ms_next(s, &p, 0) == 0);
	MS_CHECK(s, ms_telemetry(s, &p) == 2 && s->got[0] == 1.0 && s->got[1] == 2.0);
	pid = p.u.publish.packet_id;
	/* Nothing else while it is in flight. */
	MS_CHECK(s, ms_next(s, &p, 300) == 1);
	MS_CHECK(s, ms_ack(s, RP_MQTT_PUBACK, pid, 0x00) == 0);

	MS_CHECK(s, ms_next(s, &p, 0) == 0);
	MS_CHECK(s, ms_telemetry(s, &p) == 2 && s->got[2] == 3.0);
	MS_CHECK(s, ms_ack(s, RP_MQTT_PUBACK, p.u.publish.packet_id, 0x99) == 0);

	MS_CHECK(s, ms_next(s, &p, 0) == 0);
	MS_CHECK(s, ms_telemetry(s, &p) == 2 && s->got[4] == 5.0);
	MS_CHECK(s, ms_ack(s, RP_MQTT_PUBACK, p.u.publish.packet_id, 0x97) == 0);
	t0 = now_ms();
	/* Not again at once: after the retry delay (1 s). */
	MS_CHECK(s, ms_next(s, &p, 700) == 1);
	MS_CHECK(s, ms_next(s, &p, 0) == 0);
	MS_CHECK(s, now_ms() - t0 >= 900);
	MS_CHECK(s, ms_telemetry(s, &p) == 2 && s->got[6] == 5.0 && s->got[7] == 6.0);
	MS_CHECK(s, ms_ack(s, RP_MQTT_PUBACK, p.u.publish.packet_id, 0x00) == 0);

	/* Commands: each gets its PUBACK and a result. The first result of
	 * nosuch is refused 0x97 (kept, sent again after the delay), a third
	 * command's result 0x87 (dropped for good). */
	MS_CHECK(s, ms_publish(s, "d/dev-0001/cmd/echo", "{\"id\":\"c-1\",\"args\":{\"x\":1}}",
			       11) == 0);
	MS_CHECK(s,
		 ms_publish(s, "d/dev-0001/cmd/nosuch", "{\"id\":\"c-2\",\"args\":null}", 12) == 0);
	MS_CHECK(s, ms_publish(s, "d/dev-0001/cmd/echo", "{\"id\":\"c-3\",\"args\":3}", 13) == 0);
	for (i = 0; i < 7; i++) {
		uint8_t rc = 0;

		MS_CHECK(s, ms_next(s, &p, 0) == 0);
		if (p.type == RP_MQTT_PUBACK) {
			MS_CHECK(s, p.u.ack.packet_id >= 11 && p.u.ack.packet_id <= 13);
			MS_CHECK(s, p.u.ack.reason_code == 0);
			acks++;
			continue;
		}
		MS_CHECK(s, p.type == RP_MQTT_PUBLISH && p.u.publish.qos == 1);
		if (payload_is(&p, "{\"id\":\"c-1\",\"status\":\"done\",\"result\":{\"x\":1}}")) {
			MS_CHECK(s, str_is(p.u.publish.topic, "d/dev-0001/cmd/echo/result"));
		} else if (payload_is(&p, "{\"id\":\"c-3\",\"status\":\"done\",\"result\":3}")) {
			MS_CHECK(s, str_is(p.u.publish.topic, "d/dev-0001/cmd/echo/result"));
			rc = 0x87;
		} else {
			MS_CHECK(s, str_is(p.u.publish.topic, "d/dev-0001/cmd/nosuch/result"));
			MS_CHECK(s, payload_is(&p, "{\"id\":\"c-2\",\"status\":\"failed\","
						   "\"result\":{\"error\":\"unknown command\"}}"));
			rc = refused++ == 0 ? 0x97 : 0;
		}
		MS_CHECK(s, ms_ack(s, RP_MQTT_PUBACK, p.u.publish.packet_id, rc) == 0);
		results++;
	}
	MS_CHECK(s, acks == 3 && results == 4 && refused == 2);
	/* Nothing more until the device goes: DISCONNECT 0x00. */
	MS_CHECK(s, ms_next(s, &p, 0) == 0);
	MS_CHECK(s, p.type == RP_MQTT_DISCONNECT && p.u.disconnect.reason_code == 0);
}

static void test_delivery(void **state)
{
	rp_device_config cfg;
	rp_device_stats st;
	msrv s = {0};
	app a = {0};
	rp_device *d;
	int i;
	env e;

	(void)state;
	env_init(&e);
	ms_start(&s, script_delivery);
	dev_config(&cfg, &e, &a, s.port);
	cfg.batch_records = 2;
	d = dev_new(&cfg, &a);
	for (i = 1; i <= 6; i++) {
		assert_int_equal(rp_device_number(d, "seq", NULL, i, 0, 0), RP_OK);
	}
	assert_int_equal(rp_sfq_count(rp__device_queue(d)), 3);
	st = run_until(d, &s, 2, 2, NULL);
	if (st.packs_delivered != 2) {
		dump_log(&a);
	}
	assert_int_equal(st.packs_delivered, 2);
	assert_int_equal(st.packs_refused, 1);
	assert_int_equal(st.results, 2);
	assert_int_equal(st.commands, 3);
	assert_int_equal(st.queue.count, 0);
	assert_int_equal(st.link_state, RP_LINK_CONNECTED);
	assert_int_equal(logged(&a, "refused by rampartd (PUBACK 0x99): dropped"), 1);
	assert_int_equal(logged(&a, "0x97): kept first in the queue, again in 1000 ms"), 1);
	assert_int_equal(logged(&a, "command echo id c-1: result done sent"), 1);
	assert_int_equal(logged(&a, "command nosuch id c-2: result failed sent"), 1);
	assert_int_equal(logged(&a, "command nosuch id c-2: result refused by rampartd (PUBACK "
				    "0x97): again in 1000 ms"),
			 1);
	assert_int_equal(logged(&a, "command echo id c-3: result refused by rampartd (PUBACK "
				    "0x87): dropped"),
			 1);
	rp_device_free(d); /* DISCONNECT */
	ms_finish(&s);
	assert_int_equal(s.telemetry, 4);
	env_free(&e);
}

/*
 * The server crashes with a pack and a result in flight (the result made
 * while the device was offline); the device reconnects and sends both
 * again; then rp_device_set_tls with a pack in flight: the new link sends
 * it. Everything arrives, in order.
 */
static void script_crash_and_set_tls(msrv *s)
{
	rp_mqtt_packet p;
	int i, tel = 0, res = 0;

	ms_expect_connect(s);
	for (i = 0; i < 2 && !s->failed; i++) {
		MS_CHECK(s, ms_next(s, &p, 0) == 0);
		MS_CHECK(s, p.type == RP_MQTT_PUBLISH);
		if (str_is(p.u.publish.topic, "d/dev-0001/telemetry")) {
			MS_CHECK(s, ms_telemetry(s, &p) == 2 && s->got[0] == 1.0);
			tel++;
		} else {
			MS_CHECK(s, str_is(p.u.publish.topic, "d/dev-0001/cmd/echo/result"));
			MS_CHECK(s, payload_is(&p, "{\"id\":\"off-1\",\"status\":\"done\","
						   "\"result\":\"offline\"}"));
			res++;
		}
	}
	MS_CHECK(s, tel == 1 && res == 1);
	ms_close(s); /* crash: no PUBACK */

	ms_expect_connect(s); /* session not present: the link publishes both again */
	tel = res = 0;
	for (i = 0; i < 2 && !s->failed; i++) {
		MS_CHECK(s, ms_next(s, &p, 0) == 0);
		MS_CHECK(s, p.type == RP_MQTT_PUBLISH);
		if (str_is(p.u.publish.topic, "d/dev-0001/telemetry")) {
			MS_CHECK(s, ms_telemetry(s, &p) == 2 && s->got[2] == 1.0);
			tel++;
		} else {
			MS_CHECK(s, payload_is(&p, "{\"id\":\"off-1\",\"status\":\"done\","
						   "\"result\":\"offline\"}"));
			res++;
		}
		MS_CHECK(s, ms_ack(s, RP_MQTT_PUBACK, p.u.publish.packet_id, 0) == 0);
	}
	MS_CHECK(s, tel == 1 && res == 1);
	/* The next pack: left in flight, and the device changes its TLS. */
	MS_CHECK(s, ms_next(s, &p, 0) == 0);
	MS_CHECK(s, ms_telemetry(s, &p) == 2 && s->got[4] == 3.0);
	atomic_store(&s->want_set_tls, 1);
	MS_CHECK(s, ms_next(s, &p, 0) == 0);
	MS_CHECK(s, p.type == RP_MQTT_DISCONNECT && p.u.disconnect.reason_code == 0);

	ms_expect_connect(s);
	MS_CHECK(s, ms_next(s, &p, 0) == 0);
	MS_CHECK(s, ms_telemetry(s, &p) == 2 && s->got[6] == 3.0 && s->got[7] == 4.0);
	MS_CHECK(s, ms_ack(s, RP_MQTT_PUBACK, p.u.publish.packet_id, 0) == 0);
	MS_CHECK(s, ms_next(s, &p, 0) == 0);
	MS_CHECK(s, p.type == RP_MQTT_DISCONNECT);
}

static rp_device_status h_offline(void *ctx, rp_device *dev, const rp_device_cmd *cmd, char *result,
				  size_t cap, size_t *result_len)
{
	(void)ctx;
	(void)dev;
	(void)cmd;
	(void)cap;
	memcpy(result, "\"offline\"", 9);
	*result_len = 9;
	return RP_DEVICE_DONE;
}

static void test_crash_and_set_tls(void **state)
{
	rp_device_config cfg;
	rp_device_stats st;
	msrv s = {0};
	app a = {0};
	rp_device *d;
	int i;
	env e;

	(void)state;
	env_init(&e);
	ms_start(&s, script_crash_and_set_tls);
	dev_config(&cfg, &e, &a, s.port);
	cfg.batch_records = 2;
	d = dev_new(&cfg, &a);
	assert_int_equal(rp_device_command(d, "echo", h_offline, &a), RP_OK); /* replaces */
	for (i = 1; i <= 4; i++) {
		assert_int_equal(rp_device_number(d, "seq", NULL, i, 0, 0), RP_OK);
	}
	/* A command before any connection (as the link would deliver it). */
	assert_int_equal(deliver(d, "d/dev-0001/cmd/echo", "{\"id\":\"off-1\"}"), 0);
	st = run_until(d, &s, 2, 1, &e.tls);
	if (st.packs_delivered != 2) {
		dump_log(&a);
	}
	assert_int_equal(st.packs_delivered, 2);
	assert_int_equal(st.results, 1);
	assert_int_equal(st.queue.count, 0);
	assert_true(a.connected >= 3);
	rp_device_free(d);
	ms_finish(&s);
	assert_int_equal(s.telemetry, 4);
	env_free(&e);
}

/* ==== 3. the device program for tests/integration/test_device.py ===============================
 */

/*
 *     test_device --run --host H --port P [--name N] --ca FILE --cert FILE
 *                 --key FILE --id ID --queue DIR --storage-key FILE
 *                 [--batch-ms N] [--batch-records N] [--base MS] [--cap MS]
 *
 * Commands: "echo" (done, result = args), "fail" (failed, {"why":"asked"}),
 * "later" (pending; answered by the "answer" line below).
 *
 * stdin, one per line:
 *     nums NAME FROM TO       values FROM..TO (integers, time "when received")
 *     num NAME MANTISSA EXP   one value
 *     str NAME TEXT           one string value
 *     flush                   close the pack
 *     answer NAME ID done|failed [JSON]
 *     settls                  load the TLS files again, rp_device_set_tls
 *     stats
 *     quit                    rp_device_free, exit 0
 * stdout: OK/ERR lines for each, and
 *     LOG level msg | CONNECTED sp=N | SUBSCRIBED codes=.. |
 *     DISCONNECTED attempt=N retry=MS why=... | CMD name id | STATS k=v ...
 *     BYE
 */
typedef struct run_opts {
	const char *host, *name, *ca, *cert, *key, *id, *queue, *skey;
	unsigned long port, batch_ms, batch_records, base, cap;
} run_opts;

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void run_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	out("LOG %d %s", level, msg);
}

static void run_event(void *ctx, const rp_link_event *ev)
{
	char codes[64] = "";
	size_t i, used = 0;

	(void)ctx;
	switch (ev->type) {
	case RP_LINK_EV_CONNECTED:
		out("CONNECTED sp=%u", ev->session_present);
		break;
	case RP_LINK_EV_SUBSCRIBED:
		for (i = 0; i < ev->count && used + 4 < sizeof(codes); i++) {
			used += (size_t)snprintf(codes + used, sizeof(codes) - used, "%s%02x",
						 i != 0 ? "," : "", ev->reason_codes[i]);
		}
		out("SUBSCRIBED codes=%s", codes);
		break;
	default:
		out("DISCONNECTED attempt=%u retry=%u why=%s", ev->attempt, ev->retry_in_ms,
		    ev->why);
		break;
	}
}

static rp_device_status run_echo(void *ctx, rp_device *dev, const rp_device_cmd *cmd, char *result,
				 size_t cap, size_t *result_len)
{
	(void)ctx;
	(void)dev;
	out("CMD %s %s", cmd->name, cmd->id);
	if (cmd->args_len > cap) {
		return RP_DEVICE_FAILED;
	}
	memcpy(result, cmd->args, cmd->args_len);
	*result_len = cmd->args_len;
	return RP_DEVICE_DONE;
}

static rp_device_status run_fail(void *ctx, rp_device *dev, const rp_device_cmd *cmd, char *result,
				 size_t cap, size_t *result_len)
{
	static const char r[] = "{\"why\":\"asked\"}";

	(void)ctx;
	(void)dev;
	(void)cap;
	out("CMD %s %s", cmd->name, cmd->id);
	memcpy(result, r, sizeof(r) - 1);
	*result_len = sizeof(r) - 1;
	return RP_DEVICE_FAILED;
}

static rp_device_status run_later(void *ctx, rp_device *dev, const rp_device_cmd *cmd, char *result,
				  size_t cap, size_t *result_len)
{
	(void)ctx;
	(void)dev;
	(void)result;
	(void)cap;
	(void)result_len;
	out("CMD %s %s", cmd->name, cmd->id);
	return RP_DEVICE_PENDING;
}

static EVP_PKEY *run_load_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	if (f == NULL) {
		return NULL;
	}
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return k;
}

static rp_tlsc_ctx *run_tls(const run_opts *o)
{
	rp_tlsc_config tc;
	rp_tlsc_ctx *ctx = NULL;
	EVP_PKEY *key = run_load_key(o->key);
	char err[RP_TLSC_ERROR_MAX];

	memset(&tc, 0, sizeof(tc));
	tc.ca_file = o->ca;
	tc.cert_file = o->cert;
	tc.key = key;
	if (key == NULL || rp_tlsc_ctx_new(&tc, &ctx, err, sizeof(err)) != RP_OK) {
		out("ERR tls: %s", key == NULL ? "cannot read the key" : err);
		ctx = NULL;
	}
	EVP_PKEY_free(key); /* the context holds its own reference */
	return ctx;
}

static int run_parse(int argc, char **argv, run_opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->base = 200;
	o->cap = 1000;
	for (i = 2; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];

		if (strcmp(k, "--host") == 0) {
			o->host = v;
		} else if (strcmp(k, "--port") == 0) {
			o->port = strtoul(v, NULL, 10);
		} else if (strcmp(k, "--name") == 0) {
			o->name = v;
		} else if (strcmp(k, "--ca") == 0) {
			o->ca = v;
		} else if (strcmp(k, "--cert") == 0) {
			o->cert = v;
		} else if (strcmp(k, "--key") == 0) {
			o->key = v;
		} else if (strcmp(k, "--id") == 0) {
			o->id = v;
		} else if (strcmp(k, "--queue") == 0) {
			o->queue = v;
		} else if (strcmp(k, "--storage-key") == 0) {
			o->skey = v;
		} else if (strcmp(k, "--batch-ms") == 0) {
			o->batch_ms = strtoul(v, NULL, 10);
		} else if (strcmp(k, "--batch-records") == 0) {
			o->batch_records = strtoul(v, NULL, 10);
		} else if (strcmp(k, "--base") == 0) {
			o->base = strtoul(v, NULL, 10);
		} else if (strcmp(k, "--cap") == 0) {
			o->cap = strtoul(v, NULL, 10);
		} else {
			return -1;
		}
	}
	return i == argc && o->host && o->port && o->port < 65536 && o->ca && o->cert && o->key &&
			       o->id && o->queue && o->skey
		       ? 0
		       : -1;
}

static void run_stats(rp_device *d)
{
	rp_device_stats s;

	(void)rp_device_get_stats(d, &s);
	out("STATS link=%d values=%llu packs_queued=%llu packs_delivered=%llu packs_refused=%llu "
	    "commands=%llu results=%llu queued=%llu dropped=%llu connects=%llu",
	    (int)s.link_state, (unsigned long long)s.values, (unsigned long long)s.packs_queued,
	    (unsigned long long)s.packs_delivered, (unsigned long long)s.packs_refused,
	    (unsigned long long)s.commands, (unsigned long long)s.results,
	    (unsigned long long)s.queue.count, (unsigned long long)s.queue.dropped,
	    (unsigned long long)s.link.connects);
}

/* One stdin line; sets *quit. */
static void run_line(const run_opts *o, rp_device *d, rp_tlsc_ctx **tls, char *line, int *quit)
{
	char *save = NULL, *verb = strtok_r(line, " ", &save);
	char *a1, *a2, *a3, *rest;
	rp_status st;

	if (verb == NULL) {
		return;
	}
	a1 = strtok_r(NULL, " ", &save);
	if (strcmp(verb, "quit") == 0) {
		*quit = 1;
	} else if (strcmp(verb, "stats") == 0) {
		run_stats(d);
	} else if (strcmp(verb, "flush") == 0) {
		out("FLUSH st=%s", rp_status_str(rp_device_flush(d)));
	} else if (strcmp(verb, "nums") == 0 && a1 != NULL) {
		long from, to, i;

		a2 = strtok_r(NULL, " ", &save);
		a3 = strtok_r(NULL, " ", &save);
		from = a2 != NULL ? strtol(a2, NULL, 10) : 0;
		to = a3 != NULL ? strtol(a3, NULL, 10) : -1;
		st = RP_OK;
		for (i = from; i <= to && st == RP_OK; i++) {
			st = rp_device_number(d, a1, "count", i, 0, 0);
		}
		out("NUMS st=%s", rp_status_str(st));
	} else if (strcmp(verb, "num") == 0 && a1 != NULL) {
		a2 = strtok_r(NULL, " ", &save);
		a3 = strtok_r(NULL, " ", &save);
		st = rp_device_number(d, a1, NULL, a2 != NULL ? strtoll(a2, NULL, 10) : 0,
				      a3 != NULL ? atoi(a3) : 0, 0);
		out("NUM st=%s", rp_status_str(st));
	} else if (strcmp(verb, "str") == 0 && a1 != NULL) {
		rest = strtok_r(NULL, "", &save);
		out("STR st=%s",
		    rp_status_str(rp_device_string(d, a1, NULL, rest != NULL ? rest : "", 0)));
	} else if (strcmp(verb, "answer") == 0 && a1 != NULL) {
		a2 = strtok_r(NULL, " ", &save);
		a3 = strtok_r(NULL, " ", &save);
		rest = strtok_r(NULL, "", &save);
		st = a2 == NULL || a3 == NULL
			     ? RP_E_INVALID_ARG
			     : rp_device_answer(d, a1, a2,
						strcmp(a3, "done") == 0 ? RP_DEVICE_DONE
									: RP_DEVICE_FAILED,
						rest, rest != NULL ? strlen(rest) : 0);
		out("ANSWER st=%s", rp_status_str(st));
	} else if (strcmp(verb, "settls") == 0) {
		rp_tlsc_ctx *fresh = run_tls(o);

		st = fresh != NULL ? rp_device_set_tls(d, fresh) : RP_E_CONFIG;
		if (st == RP_OK) {
			rp_tlsc_ctx_free(*tls);
			*tls = fresh;
		} else {
			rp_tlsc_ctx_free(fresh);
		}
		out("SETTLS st=%s", rp_status_str(st));
	} else {
		out("ERR unknown line");
	}
}

static int run_main(int argc, char **argv)
{
	rp_device_config cfg;
	rp_tlsc_ctx *tls = NULL;
	rp_device *d = NULL;
	uint8_t key[RP_STORAGE_KEY_LEN];
	char buf[4096];
	size_t have = 0;
	int quit = 0, eof = 0, rc = 1;
	run_opts o;
	rp_status st;

	signal(SIGPIPE, SIG_IGN);
	if (run_parse(argc, argv, &o) != 0) {
		fprintf(stderr,
			"usage: test_device --run --host H --port P --ca F --cert F --key F "
			"--id ID --queue DIR --storage-key FILE [...]\n");
		return 1;
	}
	tls = run_tls(&o);
	if (tls == NULL) {
		return 1;
	}
	st = rp_storage_key_load_or_create(o.skey, key);
	if (st != RP_OK) {
		out("ERR storage key: %s", rp_status_str(st));
		goto out;
	}
	rp_device_config_default(&cfg);
	cfg.link.tls = tls;
	cfg.link.host = o.host;
	cfg.link.port = (uint16_t)o.port;
	cfg.link.server_name = o.name;
	cfg.link.client_id = o.id;
	cfg.link.backoff.base_ms = (uint32_t)o.base;
	cfg.link.backoff.cap_ms = (uint32_t)o.cap;
	cfg.queue_dir = o.queue;
	cfg.storage_key = key;
	cfg.batch_ms = (uint32_t)o.batch_ms;
	cfg.batch_records = (uint32_t)o.batch_records;
	cfg.log_fn = run_log;
	cfg.event_fn = run_event;
	st = rp_device_new(&cfg, &d);
	OPENSSL_cleanse(key, sizeof(key));
	if (st != RP_OK || rp_device_command(d, "echo", run_echo, NULL) != RP_OK ||
	    rp_device_command(d, "fail", run_fail, NULL) != RP_OK ||
	    rp_device_command(d, "later", run_later, NULL) != RP_OK) {
		out("ERR rp_device_new: %s", rp_status_str(st));
		goto out;
	}
	out("READY");
	while (!quit && !eof) {
		struct pollfd pfd[2];
		int timeout = -1;
		ssize_t n;
		char *nl;

		(void)rp_device_wants(d, &pfd[1], &timeout);
		pfd[0].fd = 0;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		if (poll(pfd, pfd[1].fd >= 0 ? 2u : 1u, timeout) < 0 && errno != EINTR) {
			break;
		}
		st = rp_device_run(d, 0);
		if (st != RP_OK) {
			out("ERR rp_device_run: %s", rp_status_str(st));
		}
		if (!(pfd[0].revents & (POLLIN | POLLHUP))) {
			continue;
		}
		n = read(0, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0) {
			eof = 1;
			break;
		}
		have += (size_t)n;
		buf[have] = 0;
		while (!quit && (nl = strchr(buf, '\n')) != NULL) {
			size_t used = (size_t)(nl - buf) + 1u;

			*nl = 0;
			run_line(&o, d, &tls, buf, &quit);
			memmove(buf, buf + used, have - used + 1u);
			have -= used;
		}
		if (have == sizeof(buf) - 1) {
			have = 0; /* a line too long: dropped */
		}
	}
	rc = quit ? 0 : 2;
out:
	rp_device_free(d);
	rp_tlsc_ctx_free(tls);
	out("BYE");
	return rc;
}

/* ==== main ======================================================================================
 */

static int setup(void **state)
{
	(void)state;
	return testpki_fleet_new(&F) != 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	testpki_fleet_free(&F);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_refusals),    cmocka_unit_test(test_batch_records),
		cmocka_unit_test(test_batch_full),         cmocka_unit_test(test_batch_time),
		cmocka_unit_test(test_values_refused),     cmocka_unit_test(test_queue_refuse),
		cmocka_unit_test(test_queue_drop_logged),  cmocka_unit_test(test_commands),
		cmocka_unit_test(test_pending_and_bounds), cmocka_unit_test(test_delivery),
		cmocka_unit_test(test_crash_and_set_tls),
	};

	if (argc >= 2 && strcmp(argv[1], "--run") == 0) {
		return run_main(argc, argv);
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
