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
 * 2. Against a scripted MQTT 5 server over real mutual TLS in a thread
 *    (tests/support/mqttsrv.h, shared with test_link.c): one pack in
 *    flight at a time, popped on PUBACK 0x00, dropped and counted on 0x99,
 *    kept first and sent again after the retry delay on 0x97; a command answered on the wire; a
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

#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "app/device_int.h"
#include "mqttsrv.h"
#include "probe.h"
#include "rampart/device.h"
#include "rampart/mqtt.h"
#include "rampart/sealed.h"
#include "rampart/tls_client.h"
#include "telemetry/senml.h"
#include "testpki.h"
#include "tlssrv.h"

static testpki_fleet F;

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

/* secret: FAILED with a result that must never be logged; broken: DONE
 * with a result that is not JSON. */
static rp_device_status h_fixed(void *ctx, rp_device *dev, const rp_device_cmd *cmd, char *result,
				size_t cap, size_t *result_len)
{
	app *a = ctx;
	int secret = strcmp(cmd->name, "secret") == 0;
	const char *r = secret ? "{\"token\":\"s3cr3t-result\"}" : "{not json";

	(void)dev;
	(void)cap;
	a->calls++;
	memcpy(result, r, strlen(r));
	*result_len = strlen(r);
	return secret ? RP_DEVICE_FAILED : RP_DEVICE_DONE;
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

/* ==== fixtures ============================================================================== */

/*
 * One test's device: a fresh queue directory, storage key and TLS context,
 * the application's side (a), and the configuration dev_new() uses (cfg),
 * which a test may change first.
 */
typedef struct env {
	char dir[64];
	char qdir[96];
	uint8_t key[RP_STORAGE_KEY_LEN];
	rp_tlsc_ctx *tls;
	app a;
	rp_device_config cfg;
} env;

static rp_tlsc_ctx *device_tls(void)
{
	rp_tlsc_ctx *ctx = tlssrv_device_ctx(&F);

	assert_non_null(ctx);
	return ctx;
}

/* The configuration: dev-0001 at 127.0.0.1:port (port 1: nothing listens,
 * the link fails and waits, harmless where the link is not the subject). */
static void env_init(env *e, uint16_t port)
{
	rp_device_config *cfg = &e->cfg;

	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "/tmp/rp-devrt-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->qdir, sizeof(e->qdir), "%s/queue", e->dir);
	assert_int_equal(RAND_bytes(e->key, sizeof(e->key)), 1);
	e->tls = device_tls();
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
	cfg->ctx = &e->a;
}

static void env_free(env *e)
{
	char cmd[160];

	rp_tlsc_ctx_free(e->tls);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	assert_int_equal(system(cmd), 0);
}

/* A device of e->cfg with the four commands of the application. */
static rp_device *dev_new(env *e)
{
	app *a = &e->a;
	rp_device *d = NULL;

	assert_int_equal(rp_device_new(&e->cfg, &d), RP_OK);
	assert_non_null(d);
	a->dev = d;
	assert_int_equal(rp_device_command(d, "echo", h_echo, a), RP_OK);
	assert_int_equal(rp_device_command(d, "secret", h_fixed, a), RP_OK);
	assert_int_equal(rp_device_command(d, "later", h_later, a), RP_OK);
	assert_int_equal(rp_device_command(d, "broken", h_fixed, a), RP_OK);
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
	env e;
	rp_device *d = (rp_device *)&e; /* not NULL: rp_device_new must clear it */

	(void)state;
	env_init(&e, 1);
	assert_int_equal(rp_device_new(NULL, &d), RP_E_INVALID_ARG);
	assert_null(d);
	assert_int_equal(rp_device_new(&e.cfg, NULL), RP_E_INVALID_ARG);
	e.cfg.queue_dir = NULL;
	assert_int_equal(rp_device_new(&e.cfg, &d), RP_E_INVALID_ARG);
	e.cfg.queue_dir = e.qdir;
	e.cfg.storage_key = NULL;
	assert_int_equal(rp_device_new(&e.cfg, &d), RP_E_INVALID_ARG);
	e.cfg.storage_key = e.key;
	e.cfg.link.tls = NULL;
	assert_int_equal(rp_device_new(&e.cfg, &d), RP_E_INVALID_ARG);
	e.cfg.link.tls = e.tls;
	e.cfg.link.client_id = "dev/0001"; /* cannot be a topic level */
	assert_int_equal(rp_device_new(&e.cfg, &d), RP_E_INVALID_ARG);
	e.cfg.link.client_id = "dev-0001";
	e.cfg.queue_dir = "/nonexistent-rp-devrt/queue";
	assert_int_equal(rp_device_new(&e.cfg, &d), RP_E_NOT_FOUND);
	assert_null(d);
	e.cfg.queue_dir = e.qdir;

	/* One queue directory, one device; another key cannot open it. */
	d = dev_new(&e);
	{
		rp_device *d2 = NULL;

		assert_int_equal(rp_device_new(&e.cfg, &d2), RP_E_BUSY);
		assert_null(d2);
	}
	assert_int_equal(rp_device_number(d, "t", NULL, 1, 0, 0), RP_OK);
	rp_device_free(d); /* flushes: one pack on disk */
	e.key[0] ^= 1;
	assert_int_equal(rp_device_new(&e.cfg, &d), RP_E_CRYPTO);
	e.key[0] ^= 1;
	d = dev_new(&e);
	assert_int_equal(rp_sfq_count(rp__device_queue(d)), 1);

	/* Command names. */
	assert_int_equal(rp_device_command(d, "", h_echo, &e.a), RP_E_INVALID_ARG);
	assert_int_equal(rp_device_command(d, "a/b", h_echo, &e.a), RP_E_INVALID_ARG);
	assert_int_equal(rp_device_command(d, "a b", h_echo, &e.a), RP_E_INVALID_ARG);
	assert_int_equal(rp_device_command(d, "+", h_echo, &e.a), RP_E_INVALID_ARG);
	assert_int_equal(rp_device_command(d, "x", NULL, &e.a), RP_E_INVALID_ARG);
	assert_int_equal(rp_device_command(NULL, "x", h_echo, &e.a), RP_E_INVALID_ARG);
	{
		char n65[66];

		memset(n65, 'a', 65);
		n65[65] = 0;
		assert_int_equal(rp_device_command(d, n65, h_echo, &e.a), RP_E_INVALID_ARG);
		n65[64] = 0;
		assert_int_equal(rp_device_command(d, n65, h_echo, &e.a), RP_OK);
	}
	assert_int_equal(rp_device_command(d, "Reboot-2_x.y", h_echo, &e.a), RP_OK);
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
	rp_device_stats st;
	double vals[64];
	size_t sizes[16], npacks = 0, i;
	rp_device *d;
	env e;

	(void)state;
	env_init(&e, 1);
	e.cfg.batch_records = 3;
	d = dev_new(&e);
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
	rp_device_stats st;
	double vals[256];
	size_t npacks = 0, maxlen = 0, i, n;
	char big[400];
	rp_device *d;
	env e;

	(void)state;
	env_init(&e, 1);
	e.cfg.queue.max_record = 256;
	d = dev_new(&e);
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
	struct pollfd pfd;
	double vals[8];
	rp_device *d;
	uint64_t t0;
	int timeout = -1;
	env e;

	(void)state;
	env_init(&e, 1);
	e.cfg.batch_ms = 300;
	d = dev_new(&e);
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
	rp_device_stats st;
	rp_device *d;
	env e;

	(void)state;
	env_init(&e, 1);
	d = dev_new(&e);
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
	rp_device_stats st;
	double vals[512];
	rp_device *d;
	rp_sfq *q;
	size_t n;
	int i, taken = 0;
	rp_status s = RP_OK;
	env e;

	(void)state;
	env_init(&e, 1);
	e.cfg.queue.max_record = 256;
	e.cfg.queue.segment_bytes = 1024;
	e.cfg.queue.max_bytes = 2048;
	e.cfg.queue.policy = RP_SFQ_REFUSE;
	e.cfg.batch_records = 2;
	e.cfg.batch_ms = 50;
	d = dev_new(&e);
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
	assert_int_equal(logged(&e.a, "not queued (queue full, policy refuse): kept in memory"), 1);
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
	rp_device_stats st;
	rp_device *d;
	int i;
	env e;

	(void)state;
	env_init(&e, 1);
	e.cfg.queue.max_record = 256;
	e.cfg.queue.segment_bytes = 1024;
	e.cfg.queue.max_bytes = 2048;
	e.cfg.batch_records = 2;
	d = dev_new(&e);
	for (i = 1; i <= 200; i++) {
		assert_int_equal(rp_device_number(d, "n", NULL, i, 0, 0), RP_OK);
	}
	assert_int_equal(rp_device_get_stats(d, &st), RP_OK);
	assert_true(st.queue.dropped > 0);
	assert_int_equal(st.values, 200);
	assert_true(logged(&e.a, "oldest pack(s) dropped") > 0);
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
	rp_device_stats st;
	const char *t, *p;
	rp_device *d;
	env e;

	(void)state;
	env_init(&e, 1);
	d = dev_new(&e);

	/* A command and its result. */
	assert_int_equal(
		deliver(d, "d/dev-0001/cmd/echo",
			"{\"id\":\"c-1\",\"args\":{\"password\":\"hunter2\",\"n\":[1,2]}}"),
		0);
	assert_int_equal(e.a.calls, 1);
	assert_string_equal(e.a.last_args, "{\"password\":\"hunter2\",\"n\":[1,2]}");
	assert_string_equal(e.a.last_id, "c-1");
	assert_string_equal(result_payload(d, 0, "d/dev-0001/cmd/echo/result"),
			    "{\"id\":\"c-1\",\"status\":\"done\",\"result\":{\"password\":"
			    "\"hunter2\",\"n\":[1,2]}}");
	assert_int_equal(logged(&e.a, "command echo id c-1 received"), 1);

	/* No "args": the handler sees null; an empty result has no member. */
	assert_int_equal(deliver(d, "d/dev-0001/cmd/echo", "{\"id\":\"c-2\",\"extra\":1}"), 0);
	assert_string_equal(e.a.last_args, "null");
	assert_string_equal(result_payload(d, 1, "d/dev-0001/cmd/echo/result"),
			    "{\"id\":\"c-2\",\"status\":\"done\",\"result\":null}");

	/* Unknown command: failed, nothing called. An id with quotes is escaped. */
	assert_int_equal(deliver(d, "d/dev-0001/cmd/nosuch", "{\"id\":\"q\\\"\\\\x\",\"args\":1}"),
			 0);
	assert_int_equal(e.a.calls, 2);
	assert_string_equal(result_payload(d, 2, "d/dev-0001/cmd/nosuch/result"),
			    "{\"id\":\"q\\\"\\\\x\",\"status\":\"failed\",\"result\":{\"error\":"
			    "\"unknown command\"}}");
	/* A name no handler can have is unknown too, and answered on its topic. */
	assert_int_equal(deliver(d, "d/dev-0001/cmd/b\xc3\xa9h", "{\"id\":\"c-3\"}"), 0);
	assert_string_equal(result_payload(d, 3, "d/dev-0001/cmd/b\xc3\xa9h/result"),
			    "{\"id\":\"c-3\",\"status\":\"failed\",\"result\":{\"error\":"
			    "\"unknown command\"}}");
	assert_int_equal(logged(&e.a, "command b??h id c-3"), 2); /* received, answered */

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
		size_t i, before = (size_t)logged(&e.a, "dropped (no id to answer)");

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			assert_int_equal(deliver(d, "d/dev-0001/cmd/echo", bad[i]), 0);
		}
		assert_int_equal(logged(&e.a, "dropped (no id to answer)"),
				 before + sizeof(bad) / sizeof(bad[0]));
		assert_int_equal(rp__device_result_at(d, 6, &t, &p), RP_E_NOT_FOUND);
		assert_int_equal(e.a.calls, 4);
	}
	/* 64 characters is the longest id. */
	assert_int_equal(
		deliver(d, "d/dev-0001/cmd/echo",
			"{\"id\":\"01234567890123456789012345678901234567890123456789012345678"
			"90123\"}"),
		0);
	assert_int_equal(e.a.calls, 5);
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
		assert_int_equal(logged(&e.a, "payload too large"), 1);
		free(big);
	}

	/* Topics that are not commands: ignored, not counted. */
	assert_int_equal(rp_device_get_stats(d, &st), RP_OK);
	{
		uint64_t before = st.commands;
		int calls = e.a.calls;

		deliver(d, "d/dev-0001/cmd/echo/more", "{\"id\":\"x-1\"}");
		deliver(d, "d/dev-0002/cmd/echo", "{\"id\":\"x-2\"}");
		deliver(d, "d/dev-00011/cmd/echo", "{\"id\":\"x-3\"}");
		deliver(d, "d/dev-0001/cmdx/echo", "{\"id\":\"x-4\"}");
		deliver(d, "d/dev-0001/cmd/", "{\"id\":\"x-5\"}");
		deliver(d, "d/dev-0001/cmd", "{\"id\":\"x-6\"}");
		deliver(d, "e/dev-0001/cmd/echo", "{\"id\":\"x-7\"}");
		assert_int_equal(e.a.calls, calls);
		assert_int_equal(rp_device_get_stats(d, &st), RP_OK);
		assert_int_equal(st.commands, before);
		/* Retained: counted, logged, not run. */
		assert_int_equal(
			rp__device_deliver(d, "d/dev-0001/cmd/echo", "{\"id\":\"r-1\"}", 13, 1), 0);
		assert_int_equal(e.a.calls, calls);
		assert_int_equal(logged(&e.a, "retained"), 1);
		/* Redelivered: not run again, not answered again. */
		assert_int_equal(deliver(d, "d/dev-0001/cmd/echo", "{\"id\":\"c-1\",\"args\":5}"),
				 0);
		assert_int_equal(e.a.calls, calls);
		assert_int_equal(logged(&e.a, "received again"), 1);
		/* Same id, another command: a different command. */
		assert_int_equal(deliver(d, "d/dev-0001/cmd/secret", "{\"id\":\"c-1\"}"), 0);
		assert_int_equal(e.a.calls, calls + 1);
	}

	/* Nothing of any argument or result reached a log line. */
	{
		int i;

		for (i = 0; i < e.a.nlog; i++) {
			assert_null(strstr(e.a.lines[i], "hunter2"));
			assert_null(strstr(e.a.lines[i], "s3cr3t"));
			assert_null(strstr(e.a.lines[i], "not json"));
		}
	}
	rp_device_free(d);
	/* Results never acknowledged are reported at the end. */
	assert_int_equal(logged(&e.a, "not acknowledged by rampartd: dropped"), 1);
	env_free(&e);
}

/* PENDING, rp_device_answer, and the bounds of both lists. */
static void test_pending_and_bounds(void **state)
{
	char topic[64];
	const char *t, *p;
	rp_device *d;
	size_t i;
	env e;

	(void)state;
	env_init(&e, 1);
	d = dev_new(&e);

	assert_int_equal(deliver(d, "d/dev-0001/cmd/later", "{\"id\":\"p-1\",\"args\":{}}"), 0);
	assert_int_equal(e.a.calls, 1);
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
	assert_int_equal(e.a.calls, 1 + RP_DEVICE_PENDING_MAX);
	assert_int_equal(deliver(d, "d/dev-0001/cmd/later", "{\"id\":\"w-x\"}"), 0);
	assert_int_equal(e.a.calls, 1 + RP_DEVICE_PENDING_MAX);
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
	assert_int_equal(logged(&e.a, "command echo id e-over: result done dropped"), 1);
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
	assert_int_equal(logged(&e.a, "never answered"), RP_DEVICE_PENDING_MAX - 1);
	env_free(&e);
}

/* ==== 2. against a scripted MQTT 5 server over TLS (tests/support/mqttsrv.h) ================== */

/* What a script saw, and what it asks of the main thread (mqttsrv.user). */
typedef struct seen {
	atomic_int want_set_tls; /* the script asks the main thread for rp_device_set_tls */
	int telemetry;           /* telemetry PUBLISHes received */
	double got[64];          /* their values, in the order received */
	int ngot;
} seen;

/*
 * The next packet that is not a SUBSCRIBE (checked and answered: the
 * command topic at QoS 1) or a PINGREQ (answered). quiet_ms as
 * mqttsrv_recv.
 */
static int ms_next(mqttsrv *s, rp_mqtt_packet *p, int quiet_ms)
{
	for (;;) {
		int r = mqttsrv_recv(s, p, quiet_ms);

		if (r != 0) {
			return r;
		}
		if (p->type == RP_MQTT_SUBSCRIBE) {
			if (mqttsrv_check_subscribe(s, p) != 0) {
				return -1;
			}
			continue;
		}
		if (p->type == RP_MQTT_PINGREQ) {
			rp_mqtt_packet r2;

			memset(&r2, 0, sizeof(r2));
			r2.type = RP_MQTT_PINGRESP;
			if (mqttsrv_send(s, &r2) != 0) {
				return -1;
			}
			continue;
		}
		return 0;
	}
}

/* A telemetry PUBLISH: its values appended to got; returns their count. */
static int ms_telemetry(mqttsrv *s, const rp_mqtt_packet *p)
{
	seen *v = s->user;
	int n;

	if (p->type != RP_MQTT_PUBLISH || p->u.publish.qos != 1 ||
	    !mqttsrv_str_is(p->u.publish.topic, "d/dev-0001/telemetry")) {
		mqttsrv_fail(s, "expected a telemetry PUBLISH at QoS 1, got type %u", p->type);
		return -1;
	}
	n = pack_numbers(p->u.publish.payload.p, p->u.publish.payload.len, v->got + v->ngot,
			 sizeof(v->got) / sizeof(v->got[0]) - (size_t)v->ngot);
	if (n <= 0) {
		mqttsrv_fail(s, "a pack rampartd would refuse");
		return -1;
	}
	v->ngot += n;
	v->telemetry++;
	return n;
}

static int payload_is(const rp_mqtt_packet *p, const char *want)
{
	return p->u.publish.payload.len == strlen(want) &&
	       memcmp(p->u.publish.payload.p, want, strlen(want)) == 0;
}

/* One test of a device against a scripted server. */
typedef struct served {
	mqttsrv s; /* the server; s.user: &v */
	seen v;    /* what its script saw */
	env e;     /* the device's directory, keys, application and configuration */
	rp_device *d;
} served;

/*
 * Starts the server with script, makes the device for it with
 * batch_records 2, and takes the values 1..nvalues (nvalues / 2 packs
 * queued before any connection).
 */
static void served_start(served *t, mqttsrv_script script, int nvalues)
{
	int i;

	t->s.user = &t->v;
	assert_int_equal(mqttsrv_start(&t->s, &F.server, &F.ca, script), 0);
	env_init(&t->e, t->s.port);
	t->e.cfg.batch_records = 2;
	t->d = dev_new(&t->e);
	for (i = 1; i <= nvalues; i++) {
		assert_int_equal(rp_device_number(t->d, "seq", NULL, i, 0, 0), RP_OK);
	}
}

/*
 * Runs the device until it delivered `packs` packs and `results` results,
 * the server thread ended, or 15 s; calls rp_device_set_tls when the
 * script asks. Returns the stats; the log is printed if they fall short.
 */
static rp_device_stats served_run(served *t, uint64_t packs, uint64_t results)
{
	uint64_t end = now_ms() + 15000;
	rp_device_stats st;

	do {
		assert_int_equal(rp_device_run(t->d, 20), RP_OK);
		if (atomic_exchange(&t->v.want_set_tls, 0)) {
			rp_tlsc_ctx *fresh = device_tls();

			assert_int_equal(rp_device_set_tls(t->d, fresh), RP_OK);
			rp_tlsc_ctx_free(t->e.tls); /* the old context may go now */
			t->e.tls = fresh;
		}
		assert_int_equal(rp_device_get_stats(t->d, &st), RP_OK);
	} while ((st.packs_delivered < packs || st.results < results) &&
		 !atomic_load(&t->s.finished) && now_ms() < end);
	if (st.packs_delivered < packs || st.results < results) {
		dump_log(&t->e.a);
	}
	return st;
}

/* The end: the device goes (DISCONNECT), the script must have passed and
 * seen `telemetry` telemetry PUBLISHes. */
static void served_finish(served *t, int telemetry)
{
	rp_device_free(t->d);
	assert_int_equal(mqttsrv_finish(&t->s), 0);
	assert_int_equal(t->v.telemetry, telemetry);
	env_free(&t->e);
}

/*
 * Three packs queued before the first connection: [1,2] acknowledged 0x00,
 * [3,4] refused 0x99 (dropped), [5,6] refused 0x97 (kept first, sent
 * again after about a second, then acknowledged). One in flight at a time.
 * Then two commands over the wire and their results.
 */
static void script_delivery(mqttsrv *s)
{
	seen *v = s->user;
	rp_mqtt_packet p;
	uint64_t t0;
	uint16_t pid;
	int i, acks = 0, results = 0, refused = 0;

	mqttsrv_expect_connect(s, 0);
	if (s->failed) {
		return;
	}
	MQTTSRV_CHECK(s, ms_next(s, &p, 0) == 0);
	MQTTSRV_CHECK(s, ms_telemetry(s, &p) == 2 && v->got[0] == 1.0 && v->got[1] == 2.0);
	pid = p.u.publish.packet_id;
	/* Nothing else while it is in flight. */
	MQTTSRV_CHECK(s, ms_next(s, &p, 300) == 1);
	MQTTSRV_CHECK(s, mqttsrv_ack(s, RP_MQTT_PUBACK, pid, 0x00) == 0);

	MQTTSRV_CHECK(s, ms_next(s, &p, 0) == 0);
	MQTTSRV_CHECK(s, ms_telemetry(s, &p) == 2 && v->got[2] == 3.0);
	MQTTSRV_CHECK(s, mqttsrv_ack(s, RP_MQTT_PUBACK, p.u.publish.packet_id, 0x99) == 0);

	MQTTSRV_CHECK(s, ms_next(s, &p, 0) == 0);
	MQTTSRV_CHECK(s, ms_telemetry(s, &p) == 2 && v->got[4] == 5.0);
	MQTTSRV_CHECK(s, mqttsrv_ack(s, RP_MQTT_PUBACK, p.u.publish.packet_id, 0x97) == 0);
	t0 = now_ms();
	/* Not again at once: after the retry delay (1 s). */
	MQTTSRV_CHECK(s, ms_next(s, &p, 700) == 1);
	MQTTSRV_CHECK(s, ms_next(s, &p, 0) == 0);
	MQTTSRV_CHECK(s, now_ms() - t0 >= 900);
	MQTTSRV_CHECK(s, ms_telemetry(s, &p) == 2 && v->got[6] == 5.0 && v->got[7] == 6.0);
	MQTTSRV_CHECK(s, mqttsrv_ack(s, RP_MQTT_PUBACK, p.u.publish.packet_id, 0x00) == 0);

	/* Commands: each gets its PUBACK and a result. The first result of
	 * nosuch is refused 0x97 (kept, sent again after the delay), a third
	 * command's result 0x87 (dropped for good). */
	MQTTSRV_CHECK(s, mqttsrv_publish(s, "d/dev-0001/cmd/echo",
					 "{\"id\":\"c-1\",\"args\":{\"x\":1}}", 1, 11) == 0);
	MQTTSRV_CHECK(s, mqttsrv_publish(s, "d/dev-0001/cmd/nosuch",
					 "{\"id\":\"c-2\",\"args\":null}", 1, 12) == 0);
	MQTTSRV_CHECK(s, mqttsrv_publish(s, "d/dev-0001/cmd/echo", "{\"id\":\"c-3\",\"args\":3}", 1,
					 13) == 0);
	for (i = 0; i < 7; i++) {
		uint8_t rc = 0;

		MQTTSRV_CHECK(s, ms_next(s, &p, 0) == 0);
		if (p.type == RP_MQTT_PUBACK) {
			MQTTSRV_CHECK(s, p.u.ack.packet_id >= 11 && p.u.ack.packet_id <= 13);
			MQTTSRV_CHECK(s, p.u.ack.reason_code == 0);
			acks++;
			continue;
		}
		MQTTSRV_CHECK(s, p.type == RP_MQTT_PUBLISH && p.u.publish.qos == 1);
		if (payload_is(&p, "{\"id\":\"c-1\",\"status\":\"done\",\"result\":{\"x\":1}}")) {
			MQTTSRV_CHECK(
				s, mqttsrv_str_is(p.u.publish.topic, "d/dev-0001/cmd/echo/result"));
		} else if (payload_is(&p, "{\"id\":\"c-3\",\"status\":\"done\",\"result\":3}")) {
			MQTTSRV_CHECK(
				s, mqttsrv_str_is(p.u.publish.topic, "d/dev-0001/cmd/echo/result"));
			rc = 0x87;
		} else {
			MQTTSRV_CHECK(s, mqttsrv_str_is(p.u.publish.topic,
							"d/dev-0001/cmd/nosuch/result"));
			MQTTSRV_CHECK(s, payload_is(&p,
						    "{\"id\":\"c-2\",\"status\":\"failed\","
						    "\"result\":{\"error\":\"unknown command\"}}"));
			rc = refused++ == 0 ? 0x97 : 0;
		}
		MQTTSRV_CHECK(s, mqttsrv_ack(s, RP_MQTT_PUBACK, p.u.publish.packet_id, rc) == 0);
		results++;
	}
	MQTTSRV_CHECK(s, acks == 3 && results == 4 && refused == 2);
	/* Nothing more until the device goes: DISCONNECT 0x00. */
	MQTTSRV_CHECK(s, ms_next(s, &p, 0) == 0);
	MQTTSRV_CHECK(s, p.type == RP_MQTT_DISCONNECT && p.u.disconnect.reason_code == 0);
}

static void test_delivery(void **state)
{
	served t = {0};
	rp_device_stats st;

	(void)state;
	served_start(&t, script_delivery, 6);
	assert_int_equal(rp_sfq_count(rp__device_queue(t.d)), 3);
	st = served_run(&t, 2, 2);
	assert_int_equal(st.packs_delivered, 2);
	assert_int_equal(st.packs_refused, 1);
	assert_int_equal(st.results, 2);
	assert_int_equal(st.commands, 3);
	assert_int_equal(st.queue.count, 0);
	assert_int_equal(st.link_state, RP_LINK_CONNECTED);
	assert_int_equal(logged(&t.e.a, "refused by rampartd (PUBACK 0x99): dropped"), 1);
	assert_int_equal(logged(&t.e.a, "0x97): kept first in the queue, again in 1000 ms"), 1);
	assert_int_equal(logged(&t.e.a, "command echo id c-1: result done sent"), 1);
	assert_int_equal(logged(&t.e.a, "command nosuch id c-2: result failed sent"), 1);
	assert_int_equal(logged(&t.e.a, "command nosuch id c-2: result refused by rampartd (PUBACK "
					"0x97): again in 1000 ms"),
			 1);
	assert_int_equal(logged(&t.e.a, "command echo id c-3: result refused by rampartd (PUBACK "
					"0x87): dropped"),
			 1);
	served_finish(&t, 4);
}

/*
 * The pack [first, first + 1] (its values at got[at]) and the result of
 * off-1, in either order; each acknowledged 0x00 if ack.
 */
static void ms_pack_and_result(mqttsrv *s, int at, double first, int ack)
{
	seen *v = s->user;
	rp_mqtt_packet p;
	int i, tel = 0, res = 0;

	for (i = 0; i < 2 && !s->failed; i++) {
		MQTTSRV_CHECK(s, ms_next(s, &p, 0) == 0);
		MQTTSRV_CHECK(s, p.type == RP_MQTT_PUBLISH);
		if (mqttsrv_str_is(p.u.publish.topic, "d/dev-0001/telemetry")) {
			MQTTSRV_CHECK(s, ms_telemetry(s, &p) == 2 && v->got[at] == first);
			tel++;
		} else {
			MQTTSRV_CHECK(
				s, mqttsrv_str_is(p.u.publish.topic, "d/dev-0001/cmd/echo/result"));
			MQTTSRV_CHECK(s, payload_is(&p, "{\"id\":\"off-1\",\"status\":\"done\","
							"\"result\":\"offline\"}"));
			res++;
		}
		if (ack) {
			MQTTSRV_CHECK(s, mqttsrv_ack(s, RP_MQTT_PUBACK, p.u.publish.packet_id, 0) ==
						 0);
		}
	}
	MQTTSRV_CHECK(s, tel == 1 && res == 1);
}

/*
 * The server crashes with a pack and a result in flight (the result made
 * while the device was offline); the device reconnects and sends both
 * again; then rp_device_set_tls with a pack in flight: the new link sends
 * it. Everything arrives, in order.
 */
static void script_crash_and_set_tls(mqttsrv *s)
{
	seen *v = s->user;
	rp_mqtt_packet p;

	mqttsrv_expect_connect(s, 0);
	ms_pack_and_result(s, 0, 1.0, 0);
	MQTTSRV_CHECK(s, !s->failed);
	mqttsrv_close(s); /* crash: no PUBACK */

	mqttsrv_expect_connect(s, 0); /* session not present: the link publishes both again */
	ms_pack_and_result(s, 2, 1.0, 1);
	MQTTSRV_CHECK(s, !s->failed);
	/* The next pack: left in flight, and the device changes its TLS. */
	MQTTSRV_CHECK(s, ms_next(s, &p, 0) == 0);
	MQTTSRV_CHECK(s, ms_telemetry(s, &p) == 2 && v->got[4] == 3.0);
	atomic_store(&v->want_set_tls, 1);
	MQTTSRV_CHECK(s, ms_next(s, &p, 0) == 0);
	MQTTSRV_CHECK(s, p.type == RP_MQTT_DISCONNECT && p.u.disconnect.reason_code == 0);

	mqttsrv_expect_connect(s, 0);
	MQTTSRV_CHECK(s, ms_next(s, &p, 0) == 0);
	MQTTSRV_CHECK(s, ms_telemetry(s, &p) == 2 && v->got[6] == 3.0 && v->got[7] == 4.0);
	MQTTSRV_CHECK(s, mqttsrv_ack(s, RP_MQTT_PUBACK, p.u.publish.packet_id, 0) == 0);
	MQTTSRV_CHECK(s, ms_next(s, &p, 0) == 0);
	MQTTSRV_CHECK(s, p.type == RP_MQTT_DISCONNECT);
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
	served t = {0};
	rp_device_stats st;

	(void)state;
	served_start(&t, script_crash_and_set_tls, 4);
	assert_int_equal(rp_device_command(t.d, "echo", h_offline, &t.e.a), RP_OK); /* replaces */
	/* A command before any connection (as the link would deliver it). */
	assert_int_equal(deliver(t.d, "d/dev-0001/cmd/echo", "{\"id\":\"off-1\"}"), 0);
	st = served_run(&t, 2, 1);
	assert_int_equal(st.packs_delivered, 2);
	assert_int_equal(st.results, 1);
	assert_int_equal(st.queue.count, 0);
	assert_true(t.e.a.connected >= 3);
	served_finish(&t, 4);
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
 *     DISCONNECTED attempt=N retry=MS status="..." why=... | CMD name id |
 *     STATS k=v ... | BYE
 * The options, the event lines, the key and the loop are
 * tests/support/probe.h's, shared with tests/integration/link_probe.
 */
static void run_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	probe_out("LOG %d %s", level, msg);
}

static void run_event(void *ctx, const rp_link_event *ev)
{
	(void)ctx;
	probe_event(ev);
}

static rp_device_status run_echo(void *ctx, rp_device *dev, const rp_device_cmd *cmd, char *result,
				 size_t cap, size_t *result_len)
{
	(void)ctx;
	(void)dev;
	probe_out("CMD %s %s", cmd->name, cmd->id);
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
	probe_out("CMD %s %s", cmd->name, cmd->id);
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
	probe_out("CMD %s %s", cmd->name, cmd->id);
	return RP_DEVICE_PENDING;
}

static rp_tlsc_ctx *run_tls(const probe_opts *o)
{
	char err[RP_TLSC_ERROR_MAX];
	rp_tlsc_ctx *ctx = probe_tls(o, err, sizeof(err));

	if (ctx == NULL) {
		probe_out("ERR tls: %s", err);
	}
	return ctx;
}

static void run_stats(rp_device *d)
{
	rp_device_stats s;

	(void)rp_device_get_stats(d, &s);
	probe_out("STATS link=%d values=%llu packs_queued=%llu packs_delivered=%llu "
		  "packs_refused=%llu commands=%llu results=%llu queued=%llu dropped=%llu "
		  "connects=%llu",
		  (int)s.link_state, (unsigned long long)s.values,
		  (unsigned long long)s.packs_queued, (unsigned long long)s.packs_delivered,
		  (unsigned long long)s.packs_refused, (unsigned long long)s.commands,
		  (unsigned long long)s.results, (unsigned long long)s.queue.count,
		  (unsigned long long)s.queue.dropped, (unsigned long long)s.link.connects);
}

/* The program's state, for probe_loop. */
typedef struct run_state {
	const probe_opts *o;
	rp_device *d;
	rp_tlsc_ctx *tls;
} run_state;

static rp_status run_wants(void *ctx, struct pollfd *pfd, int *timeout_ms)
{
	run_state *r = ctx;

	return rp_device_wants(r->d, pfd, timeout_ms);
}

static void run_step(void *ctx)
{
	run_state *r = ctx;
	rp_status st = rp_device_run(r->d, 0);

	if (st != RP_OK) {
		probe_out("ERR rp_device_run: %s", rp_status_str(st));
	}
}

/* One stdin line; sets *quit. */
static void run_line(void *ctx, char *line, int *quit)
{
	run_state *r = ctx;
	rp_device *d = r->d;
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
		probe_out("FLUSH st=%s", rp_status_str(rp_device_flush(d)));
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
		probe_out("NUMS st=%s", rp_status_str(st));
	} else if (strcmp(verb, "num") == 0 && a1 != NULL) {
		a2 = strtok_r(NULL, " ", &save);
		a3 = strtok_r(NULL, " ", &save);
		st = rp_device_number(d, a1, NULL, a2 != NULL ? strtoll(a2, NULL, 10) : 0,
				      a3 != NULL ? atoi(a3) : 0, 0);
		probe_out("NUM st=%s", rp_status_str(st));
	} else if (strcmp(verb, "str") == 0 && a1 != NULL) {
		rest = strtok_r(NULL, "", &save);
		probe_out("STR st=%s", rp_status_str(rp_device_string(
					       d, a1, NULL, rest != NULL ? rest : "", 0)));
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
		probe_out("ANSWER st=%s", rp_status_str(st));
	} else if (strcmp(verb, "settls") == 0) {
		rp_tlsc_ctx *fresh = run_tls(r->o);

		st = fresh != NULL ? rp_device_set_tls(d, fresh) : RP_E_CONFIG;
		if (st == RP_OK) {
			rp_tlsc_ctx_free(r->tls);
			r->tls = fresh;
		} else {
			rp_tlsc_ctx_free(fresh);
		}
		probe_out("SETTLS st=%s", rp_status_str(st));
	} else {
		probe_out("ERR unknown line");
	}
}

static int run_main(int argc, char **argv)
{
	rp_device_config cfg;
	uint8_t key[RP_STORAGE_KEY_LEN];
	int rc = 1;
	probe_opts o = {.base = 200, .cap = 1000};
	run_state r = {.o = &o};
	rp_status st;

	signal(SIGPIPE, SIG_IGN);
	if (probe_parse(argc, argv, 2, PROBE_OPT_DEVICE, &o) != 0) {
		fprintf(stderr,
			"usage: test_device --run --host H --port P --ca F --cert F --key F "
			"--id ID --queue DIR --storage-key FILE [...]\n");
		return 1;
	}
	r.tls = run_tls(&o);
	if (r.tls == NULL) {
		return 1;
	}
	st = rp_storage_key_load_or_create(o.storage_key, key);
	if (st != RP_OK) {
		probe_out("ERR storage key: %s", rp_status_str(st));
		goto out;
	}
	rp_device_config_default(&cfg);
	cfg.link.tls = r.tls;
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
	st = rp_device_new(&cfg, &r.d);
	OPENSSL_cleanse(key, sizeof(key));
	if (st != RP_OK || rp_device_command(r.d, "echo", run_echo, NULL) != RP_OK ||
	    rp_device_command(r.d, "fail", run_fail, NULL) != RP_OK ||
	    rp_device_command(r.d, "later", run_later, NULL) != RP_OK) {
		probe_out("ERR rp_device_new: %s", rp_status_str(st));
		goto out;
	}
	probe_out("READY");
	rc = probe_loop(
		&(probe_ops){.ctx = &r, .wants = run_wants, .run = run_step, .line = run_line});
out:
	rp_device_free(r.d);
	rp_tlsc_ctx_free(r.tls);
	probe_out("BYE");
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
