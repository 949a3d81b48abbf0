/*
 * device.c - the device runtime (rampart/device.h): lifecycle, the loop,
 * and telemetry from a value to rampartd's PUBACK. Commands and their
 * results are in command.c.
 *
 * Implementation notes
 *
 * Telemetry path
 *   rp_device_number() -> the pack in memory (rp_senml_writer over
 *   d->pack) -> closed (full, batch_records, batch_ms, flush) -> rp_sfq_push
 *   (encrypted, on disk) -> the oldest record peeked into d->peek ->
 *   rp_link_publish QoS 1 -> tel_done(): PUBACK below 0x80 pops it; 0x99
 *   (and a pack too large for the server) pops it as refused; anything else
 *   leaves it at the head for a later attempt, after a delay.
 *
 * State
 * - At most one pack is in flight (tel_inflight, tel_seq): the order of
 *   the queue is the order of delivery, and a refused head is tried again
 *   before anything newer. While it is in flight the link owns the copy
 *   and resends it after a reconnect itself; the runtime never publishes
 *   a second copy. Only its done callback (also RP_E_CLOSED from
 *   rp_link_free in rp_device_set_tls / rp_device_free) ends it.
 * - A pack that cannot be queued (RP_SFQ_REFUSE and full, or an I/O
 *   error) stays in memory: nothing is lost that the caller was told was
 *   taken; the next value, flush or due time tries again.
 * - in_run: callbacks run inside rp_link_run; from there the link cannot
 *   be freed or run, so rp_device_run and rp_device_set_tls refuse.
 *
 * Attacker: rampartd is authenticated by TLS; what comes from it is
 * checked anyway (command.c). The queue on disk is rampart/sfq.h's.
 */
#include "app/device_int.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "rampart/limits.h"
#include "rampart/sealed.h"

#define DEFAULT_BATCH_MS      5000u
#define DEFAULT_BATCH_RECORDS 256u
#define LOG_LINE              512u
/* A PUBLISH's bytes besides the payload: fixed header (5), topic length
 * (2), packet id (2), properties length (1); with room to spare. */
#define PUBLISH_OVERHEAD 32u

/* ---- small helpers ----------------------------------------------------------------------- */

uint64_t rp__device_now(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void rp__device_log(rp_device *d, int level, const char *fmt, ...)
{
	char line[LOG_LINE];
	va_list ap;

	if (d->log_fn == NULL) {
		return;
	}
	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	d->log_fn(d->ctx, level, line);
}

uint32_t rp__device_retry_delay(uint32_t n)
{
	uint32_t ms = RP__DEVICE_RETRY_MIN_MS;

	while (n-- > 0 && ms < RP__DEVICE_RETRY_MAX_MS) {
		ms *= 2u;
	}
	return ms < RP__DEVICE_RETRY_MAX_MS ? ms : RP__DEVICE_RETRY_MAX_MS;
}

static char *dup_str(const char *s)
{
	size_t n;
	char *p;

	if (s == NULL) {
		return NULL;
	}
	n = strlen(s) + 1u;
	p = malloc(n);
	if (p != NULL) {
		memcpy(p, s, n);
	}
	return p;
}

static int connected(const rp_device *d)
{
	return rp_link_get_state(d->link) == RP_LINK_CONNECTED;
}

/* ---- the pack in memory ------------------------------------------------------------------ */

/* Logs packs the queue deleted to make room (RP_SFQ_DROP_OLDEST). */
static void note_dropped(rp_device *d)
{
	uint64_t dropped = rp_sfq_dropped(d->q);

	if (dropped > d->dropped_seen) {
		rp__device_log(d, 4,
			       "telemetry queue full: %llu oldest pack(s) dropped to make room "
			       "(%llu in all)",
			       (unsigned long long)(dropped - d->dropped_seen),
			       (unsigned long long)dropped);
		d->dropped_seen = dropped;
	}
}

/*
 * Closes the pack into the queue. Returns RP_OK (also when it was empty);
 * RP_E_BUSY (full, RP_SFQ_REFUSE); RP_E_IO; RP_E_NOMEM. On failure the pack
 * stays as it was.
 */
static rp_status pack_close(rp_device *d)
{
	size_t len = 0;
	rp_status st;

	if (rp_senml_count(&d->w) == 0) {
		return RP_OK;
	}
	if (rp_senml_finish(&d->w, &len) != RP_OK) {
		return RP_E_INTERNAL;
	}
	st = rp_sfq_push(d->q, d->pack, len);
	note_dropped(d);
	if (st != RP_OK) {
		return st == RP_E_BUSY || st == RP_E_NOMEM ? st : RP_E_IO;
	}
	d->stats.packs_queued++;
	rp_senml_init(&d->w, d->pack, d->pack_cap);
	d->pack_t0 = 0;
	d->close_retry = 0;
	if (d->close_failed) {
		d->close_failed = 0;
		rp__device_log(d, 6, "telemetry queue writable again");
	}
	return RP_OK;
}

enum { V_NUM, V_BOOL, V_STR };

typedef struct value {
	int kind;
	const char *name, *unit, *s;
	int64_t mantissa, t_ms;
	int exp10, b;
} value;

static rp_status write_value(rp_senml_writer *w, const value *v)
{
	switch (v->kind) {
	case V_NUM:
		return rp_senml_number(w, v->name, v->unit, v->mantissa, v->exp10, v->t_ms);
	case V_BOOL:
		return rp_senml_bool(w, v->name, v->unit, v->b, v->t_ms);
	default:
		return rp_senml_string(w, v->name, v->unit, (const uint8_t *)v->s, strlen(v->s),
				       v->t_ms);
	}
}

/* 1 when v fits a pack of its own: tried in d->peek, which holds nothing
 * between loop steps (the link keeps its own copy of what it publishes). */
static int fits_alone(rp_device *d, const value *v)
{
	rp_senml_writer w;

	rp_senml_init(&w, d->peek, d->pack_cap);
	return write_value(&w, v) == RP_OK;
}

static rp_status add_value(rp_device *d, const value *v)
{
	rp_status st;

	if (d == NULL || v->name == NULL || (v->kind == V_STR && v->s == NULL)) {
		return RP_E_INVALID_ARG;
	}
	/* A full pack whose closing failed earlier goes first. */
	if (rp_senml_count(&d->w) >= d->batch_records) {
		st = pack_close(d);
		if (st != RP_OK) {
			return st;
		}
	}
	st = write_value(&d->w, v);
	if (st == RP_E_BUF_TOO_SMALL || st == RP_E_LIMIT) {
		if (rp_senml_count(&d->w) == 0 || !fits_alone(d, v)) {
			return RP_E_INVALID_ARG; /* not even alone in a pack */
		}
		st = pack_close(d);
		if (st != RP_OK) {
			return st;
		}
		st = write_value(&d->w, v);
		if (st == RP_E_BUF_TOO_SMALL || st == RP_E_LIMIT) {
			return RP_E_INVALID_ARG;
		}
	}
	if (st != RP_OK) {
		return st;
	}
	if (rp_senml_count(&d->w) == 1) {
		d->pack_t0 = rp__device_now();
	}
	d->stats.values++;
	if (rp_senml_count(&d->w) >= d->batch_records) {
		/* Taken either way: a failure here is tried again (and
		 * reported) by the next value, flush or loop step. */
		(void)pack_close(d);
	}
	return RP_OK;
}

rp_status rp_device_number(rp_device *dev, const char *name, const char *unit, int64_t mantissa,
			   int exp10, int64_t t_ms)
{
	const value v = {.kind = V_NUM,
			 .name = name,
			 .unit = unit,
			 .mantissa = mantissa,
			 .exp10 = exp10,
			 .t_ms = t_ms};

	return add_value(dev, &v);
}

rp_status rp_device_bool(rp_device *dev, const char *name, const char *unit, int value_,
			 int64_t t_ms)
{
	const value v = {.kind = V_BOOL, .name = name, .unit = unit, .b = value_, .t_ms = t_ms};

	return add_value(dev, &v);
}

rp_status rp_device_string(rp_device *dev, const char *name, const char *unit, const char *s,
			   int64_t t_ms)
{
	const value v = {.kind = V_STR, .name = name, .unit = unit, .s = s, .t_ms = t_ms};

	return add_value(dev, &v);
}

rp_status rp_device_flush(rp_device *dev)
{
	if (dev == NULL) {
		return RP_E_INVALID_ARG;
	}
	return pack_close(dev);
}

/* The pack's batch_ms is over: close it; on failure try again in a second. */
static void pack_due(rp_device *d, uint64_t now)
{
	rp_status st;

	if (rp_senml_count(&d->w) == 0 || now < d->pack_t0 + d->batch_ms || now < d->close_retry) {
		return;
	}
	st = pack_close(d);
	if (st == RP_OK) {
		return;
	}
	d->close_retry = now + RP__DEVICE_RETRY_MIN_MS;
	if (!d->close_failed) {
		d->close_failed = 1;
		rp__device_log(d, st == RP_E_BUSY ? 4 : 3,
			       "telemetry pack of %zu value(s) not queued (%s): kept in memory, "
			       "retrying",
			       rp_senml_count(&d->w),
			       st == RP_E_BUSY ? "queue full, policy refuse" : rp_status_str(st));
	}
}

/* ---- the queue to rampartd --------------------------------------------------------------- */

/* The head pack leaves the queue: delivered, or refused for good. */
static void tel_pop(rp_device *d)
{
	if (rp_sfq_pop(d->q, d->tel_seq) != RP_OK) {
		/* Acknowledged in memory; the position is written later. A
		 * crash before that sends the pack again: at least once. */
		rp__device_log(d, 4, "telemetry queue: acknowledgement not written to disk yet");
	}
}

static void tel_done(void *ctx, rp_status st, uint8_t rc)
{
	rp_device *d = ctx;
	uint32_t delay;

	d->tel_inflight = 0;
	d->blocked = 0;
	if (st == RP_OK) {
		d->stats.packs_delivered++;
		d->tel_refusals = 0;
		tel_pop(d);
		return;
	}
	if (st == RP_E_CLOSED) {
		return; /* the link was replaced or freed: the pack stays first */
	}
	if ((st == RP_E_DENIED &&
	     (rc == RP_MQTT_RC_PAYLOAD_FORMAT_INVALID || rc == RP_MQTT_RC_PACKET_TOO_LARGE)) ||
	    st == RP_E_TOO_LARGE) {
		d->stats.packs_refused++;
		rp__device_log(
			d, 3,
			"telemetry pack refused by rampartd (%s 0x%02X): dropped, never resent",
			st == RP_E_TOO_LARGE ? "too large for the server" : "PUBACK", rc);
		tel_pop(d);
		return;
	}
	delay = rp__device_retry_delay(d->tel_refusals);
	if (d->tel_refusals < 31u) {
		d->tel_refusals++;
	}
	d->tel_retry = rp__device_now() + delay;
	rp__device_log(
		d, 4,
		"telemetry pack refused by rampartd (PUBACK 0x%02X): kept first in the queue, "
		"again in %u ms",
		rc, delay);
}

/* Publishes the queue's oldest pack when nothing is in flight. */
static void tel_pump(rp_device *d, uint64_t now)
{
	rp_link_message m;
	size_t len = 0;
	uint64_t seq = 0;
	rp_status st;

	if (d->tel_inflight || now < d->tel_retry || !connected(d) || rp_sfq_count(d->q) == 0) {
		return;
	}
	st = rp_sfq_peek(d->q, d->peek, d->peek_cap, &len, &seq);
	if (st == RP_E_BUF_TOO_SMALL && len <= RP_LIMIT_SFQ_RECORD) {
		/* Queued under a configuration with larger records. */
		uint8_t *p = realloc(d->peek, len);

		if (p != NULL) {
			d->peek = p;
			d->peek_cap = len;
			st = rp_sfq_peek(d->q, d->peek, d->peek_cap, &len, &seq);
		}
	}
	if (st == RP_E_NOT_FOUND) {
		return;
	}
	if (st != RP_OK) {
		d->tel_retry = now + RP__DEVICE_RETRY_MIN_MS;
		rp__device_log(d, 3, "telemetry queue: cannot read the oldest pack (%s)",
			       rp_status_str(st));
		return;
	}
	memset(&m, 0, sizeof(m));
	m.topic = d->tel_topic;
	m.payload = d->peek;
	m.payload_len = len;
	m.qos = 1;
	st = rp_link_publish(d->link, &m, tel_done, d);
	if (st == RP_OK) {
		d->tel_inflight = 1;
		d->tel_seq = seq;
		return;
	}
	if (st == RP_E_BUSY || st == RP_E_STATE) {
		d->blocked = 1;
		return;
	}
	if (st == RP_E_TOO_LARGE || st == RP_E_BUF_TOO_SMALL) {
		d->tel_seq = seq;
		tel_done(d, RP_E_TOO_LARGE, 0);
		return;
	}
	d->tel_retry = now + RP__DEVICE_RETRY_MIN_MS;
	rp__device_log(d, 3, "telemetry: cannot publish (%s)", rp_status_str(st));
}

/* Everything the runtime does between link steps. */
static void work(rp_device *d)
{
	uint64_t now = rp__device_now();

	pack_due(d, now);
	tel_pump(d, now);
	rp__device_results_pump(d, now);
}

/* When work() next has something to do (UINT64_MAX: nothing by itself). */
static uint64_t next_due(const rp_device *d)
{
	uint64_t due = UINT64_MAX, t;

	if (rp_senml_count(&d->w) > 0) {
		t = d->pack_t0 + d->batch_ms;
		due = t > d->close_retry ? t : d->close_retry;
	}
	if (!connected(d) || d->blocked) {
		return due;
	}
	if (!d->tel_inflight && rp_sfq_count(d->q) > 0 && d->tel_retry < due) {
		due = d->tel_retry;
	}
	t = rp__device_results_due(d);
	return t < due ? t : due;
}

/* ---- the link's events ------------------------------------------------------------------- */

static void on_event(void *ctx, const rp_link_event *ev)
{
	rp_device *d = ctx;
	uint16_t i;

	if (ev->type == RP_LINK_EV_CONNECTED) {
		d->blocked = 0;
	} else if (ev->type == RP_LINK_EV_SUBSCRIBED) {
		for (i = 0; i < ev->count; i++) {
			if (ev->reason_codes != NULL && ev->reason_codes[i] >= 0x80) {
				rp__device_log(d, 3,
					       "command topic refused by rampartd (SUBACK 0x%02X): "
					       "commands will not arrive",
					       ev->reason_codes[i]);
			}
		}
		if (ev->count == 0 && ev->status != RP_OK) {
			rp__device_log(d, 3, "command topic not subscribed: %s", ev->why);
		}
	}
	if (d->event_fn != NULL) {
		d->event_fn(d->ctx, ev);
	}
}

/* ---- lifecycle --------------------------------------------------------------------------- */

void rp_device_config_default(rp_device_config *cfg)
{
	if (cfg == NULL) {
		return;
	}
	memset(cfg, 0, sizeof(*cfg));
	rp_link_config_default(&cfg->link);
	cfg->batch_ms = DEFAULT_BATCH_MS;
	cfg->batch_records = DEFAULT_BATCH_RECORDS;
}

static rp_status copy_config(rp_device *d, const rp_device_config *cfg)
{
	size_t i;

	d->lcfg = cfg->link;
	d->host = dup_str(cfg->link.host);
	d->server_name = dup_str(cfg->link.server_name);
	d->client_id = dup_str(cfg->link.client_id);
	if ((cfg->link.host != NULL && d->host == NULL) ||
	    (cfg->link.server_name != NULL && d->server_name == NULL) || d->client_id == NULL) {
		return RP_E_NOMEM;
	}
	if (cfg->link.ntopics != 0) {
		if (cfg->link.topics == NULL) {
			return RP_E_INVALID_ARG;
		}
		d->topics = calloc(cfg->link.ntopics, sizeof(*d->topics));
		if (d->topics == NULL) {
			return RP_E_NOMEM;
		}
		d->ntopics = cfg->link.ntopics;
		for (i = 0; i < d->ntopics; i++) {
			if (cfg->link.topics[i] == NULL) {
				return RP_E_INVALID_ARG;
			}
			d->topics[i] = dup_str(cfg->link.topics[i]);
			if (d->topics[i] == NULL) {
				return RP_E_NOMEM;
			}
		}
	}
	d->lcfg.host = d->host;
	d->lcfg.server_name = d->server_name;
	d->lcfg.client_id = d->client_id;
	d->lcfg.topics = (const char *const *)d->topics;
	d->lcfg.ntopics = d->ntopics;
	d->lcfg.on_event = on_event;
	d->lcfg.on_message = rp__device_on_message;
	d->lcfg.ctx = d;
	d->batch_ms = cfg->batch_ms != 0 ? cfg->batch_ms : DEFAULT_BATCH_MS;
	d->batch_records = cfg->batch_records != 0 ? cfg->batch_records : DEFAULT_BATCH_RECORDS;
	if (d->batch_records > RP_LIMIT_SENML_RECORDS) {
		d->batch_records = RP_LIMIT_SENML_RECORDS;
	}
	d->log_fn = cfg->log_fn;
	d->event_fn = cfg->event_fn;
	d->ctx = cfg->ctx;
	return RP_OK;
}

/* The largest pack: what the queue takes as one record and one PUBLISH carries. */
static size_t pack_capacity(const rp_device_config *cfg, size_t topic_len)
{
	size_t cap = RP_DEVICE_PACK_MAX;
	size_t rec = cfg->queue.max_record != 0 ? cfg->queue.max_record : RP_DEFAULT_SFQ_RECORD;
	size_t pkt = cfg->link.max_packet;

	if (rec < cap) {
		cap = rec;
	}
	if (pkt > PUBLISH_OVERHEAD + topic_len && pkt - PUBLISH_OVERHEAD - topic_len < cap) {
		cap = pkt - PUBLISH_OVERHEAD - topic_len;
	}
	return cap;
}

rp_status rp_device_new(const rp_device_config *cfg, rp_device **out)
{
	rp_device *d = NULL;
	size_t tlen;
	rp_status st;

	if (out == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	if (cfg == NULL || cfg->queue_dir == NULL || cfg->storage_key == NULL ||
	    cfg->link.client_id == NULL || cfg->link.tls == NULL) {
		return RP_E_INVALID_ARG;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		return RP_E_NOMEM;
	}
	st = copy_config(d, cfg);
	if (st != RP_OK) {
		goto out;
	}
	st = RP_E_NOMEM;
	tlen = strlen(d->client_id) + sizeof("d//telemetry");
	d->tel_topic = malloc(tlen);
	if (d->tel_topic == NULL) {
		goto out;
	}
	(void)snprintf(d->tel_topic, tlen, "d/%s/telemetry", d->client_id);
	d->pack_cap = pack_capacity(cfg, tlen);
	d->peek_cap = cfg->queue.max_record != 0 ? cfg->queue.max_record : RP_DEFAULT_SFQ_RECORD;
	d->pack = malloc(d->pack_cap);
	d->peek = malloc(d->peek_cap);
	d->answer = malloc(RP_DEVICE_COMMAND_MAX);
	if (d->pack == NULL || d->peek == NULL || d->answer == NULL) {
		goto out;
	}
	rp_senml_init(&d->w, d->pack, d->pack_cap);
	/* The link first: it checks the rest of the configuration, and
	 * creating it opens no socket. */
	st = rp_link_new(&d->lcfg, &d->link);
	if (st != RP_OK) {
		goto out;
	}
	st = rp_sfq_open(cfg->queue_dir, cfg->storage_key, &cfg->queue, &d->q);
	if (st != RP_OK) {
		goto out;
	}
	d->dropped_seen = rp_sfq_dropped(d->q);
	*out = d;
	d = NULL;
	st = RP_OK;
out:
	rp_device_free(d);
	return st;
}

rp_status rp_device_run(rp_device *dev, int timeout_ms)
{
	uint64_t due, now;
	rp_status st;
	int wait = timeout_ms;

	if (dev == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (dev->in_run) {
		return RP_E_STATE;
	}
	dev->in_run = 1;
	work(dev);
	due = next_due(dev);
	if (due != UINT64_MAX) {
		now = rp__device_now();
		if (due <= now) {
			wait = 0;
		} else if (wait < 0 || due - now < (uint64_t)wait) {
			wait = due - now > (uint64_t)INT_MAX ? INT_MAX : (int)(due - now);
		}
	}
	st = rp_link_run(dev->link, wait);
	work(dev);
	dev->in_run = 0;
	return st;
}

rp_status rp_device_wants(const rp_device *dev, struct pollfd *pfd, int *timeout_ms)
{
	uint64_t due, now;
	rp_status st;

	if (dev == NULL || pfd == NULL || timeout_ms == NULL) {
		return RP_E_INVALID_ARG;
	}
	st = rp_link_wants(dev->link, pfd, timeout_ms);
	if (st != RP_OK) {
		return st;
	}
	due = next_due(dev);
	if (due != UINT64_MAX) {
		now = rp__device_now();
		if (due <= now) {
			*timeout_ms = 0;
		} else if (*timeout_ms < 0 || due - now < (uint64_t)*timeout_ms) {
			*timeout_ms = due - now > (uint64_t)INT_MAX ? INT_MAX : (int)(due - now);
		}
	}
	return RP_OK;
}

rp_status rp_device_set_tls(rp_device *dev, rp_tlsc_ctx *tls)
{
	rp_link_config c;
	rp_link *l = NULL;
	rp_status st;

	if (dev == NULL || tls == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (dev->in_run) {
		return RP_E_STATE; /* the link cannot be freed from its own callback */
	}
	c = dev->lcfg;
	c.tls = tls;
	st = rp_link_new(&c, &l);
	if (st != RP_OK) {
		return st;
	}
	/* The old link's messages in flight end with RP_E_CLOSED: the pack
	 * stays first in the queue, results wait for the new link. */
	rp_link_free(dev->link);
	dev->link = l;
	dev->lcfg.tls = tls;
	dev->blocked = 0;
	return RP_OK;
}

rp_status rp_device_get_stats(const rp_device *dev, rp_device_stats *out)
{
	if (dev == NULL || out == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = dev->stats;
	out->link_state = rp_link_get_state(dev->link);
	(void)rp_link_get_stats(dev->link, &out->link);
	(void)rp_sfq_stats_get(dev->q, &out->queue);
	return RP_OK;
}

void rp_device_free(rp_device *dev)
{
	size_t i, n;
	rp_status st;

	if (dev == NULL || dev->in_run) {
		return;
	}
	if (dev->q != NULL) {
		n = rp_senml_count(&dev->w);
		st = pack_close(dev);
		if (st != RP_OK) {
			rp__device_log(dev, 3,
				       "telemetry: %zu value(s) not queued at exit (%s): lost", n,
				       rp_status_str(st));
		}
		if (dev->link != NULL && connected(dev)) {
			/* What can go without waiting: publish, then one step
			 * that writes it out (never a new connection). */
			dev->in_run = 1;
			work(dev);
			(void)rp_link_run(dev->link, 0);
			dev->in_run = 0;
		}
	}
	rp_link_free(dev->link); /* done callbacks: RP_E_CLOSED */
	dev->link = NULL;
	rp__device_commands_free(dev);
	if (rp_sfq_close(dev->q) != RP_OK) {
		rp__device_log(dev, 3, "telemetry queue: final write failed");
	}
	for (i = 0; i < dev->ntopics; i++) {
		free(dev->topics[i]);
	}
	free(dev->topics);
	free(dev->host);
	free(dev->server_name);
	free(dev->client_id);
	free(dev->tel_topic);
	if (dev->pack != NULL) {
		OPENSSL_cleanse(dev->pack, dev->pack_cap);
	}
	if (dev->peek != NULL) {
		OPENSSL_cleanse(dev->peek, dev->peek_cap);
	}
	free(dev->pack);
	free(dev->peek);
	free(dev->answer);
	free(dev);
}

/* ---- test hooks -------------------------------------------------------------------------- */

rp_sfq *rp__device_queue(rp_device *d)
{
	return d != NULL ? d->q : NULL;
}
