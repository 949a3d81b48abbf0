/*
 * device/app/device_int.h - the device runtime's private parts, shared by
 * device.c (lifecycle, telemetry, the loop) and command.c (commands and
 * their results), and the hooks its unit tests use.
 */
#ifndef RP_DEVICE_INT_H
#define RP_DEVICE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "rampart/device.h"
#include "rampart/link.h"
#include "rampart/senml.h"
#include "rampart/sfq.h"

/* A command name (1..64) or id (1..64) with its NUL. */
#define RP__DEVICE_WORD (RP_DEVICE_NAME_MAX + 1u)
/* Commands remembered to recognise a redelivery (MQTT QoS 1 is at least once). */
#define RP__DEVICE_RECENT 32u
/* Delays after a refusal by rampartd: the first, and the most. */
#define RP__DEVICE_RETRY_MIN_MS 1000u
#define RP__DEVICE_RETRY_MAX_MS 60000u

enum { RP__RES_FREE = 0, RP__RES_WAIT, RP__RES_INFLIGHT };
enum { RP__PEND_FREE = 0, RP__PEND_HANDLER, RP__PEND_WAIT };

/* A command result, from the moment it is made until rampartd acknowledges it. */
typedef struct rp__device_result {
	rp_device *dev;
	char *msg; /* topic, NUL, payload (JSON), NUL */
	size_t topic_len, payload_len;
	char name[RP__DEVICE_WORD]; /* for log lines: printable, possibly cut */
	char id[RP__DEVICE_WORD];
	const char *status; /* "done" or "failed" */
	uint64_t seq;       /* creation order */
	uint64_t retry_at;  /* monotonic ms: not before (after a refusal) */
	uint32_t refusals;  /* in a row, for the retry delay */
	uint8_t state;      /* RP__RES_* */
	uint8_t logged;     /* "sent" was logged */
} rp__device_result;

/* A command whose handler answered PENDING (or is running). */
typedef struct rp__device_pending {
	char name[RP__DEVICE_WORD];
	char id[RP__DEVICE_WORD];
	uint8_t state; /* RP__PEND_* */
} rp__device_pending;

typedef struct rp__device_handler {
	char name[RP__DEVICE_WORD];
	rp_device_handler_fn fn;
	void *ctx;
} rp__device_handler;

struct rp_device {
	/* configuration (strings copied; link.* point into the copies) */
	rp_link_config lcfg;
	char *host, *server_name, *client_id, **topics;
	size_t ntopics;
	uint32_t batch_ms, batch_records;
	rp_device_log_fn log_fn;
	rp_link_event_fn event_fn;
	void *ctx;

	rp_link *link;
	rp_sfq *q;
	int in_run; /* inside rp_device_run: callbacks may not run or free the link */

	/* telemetry: the pack being filled */
	rp_senml_writer w;
	uint8_t *pack;
	size_t pack_cap;
	uint64_t pack_t0;     /* monotonic ms of the pack's first value */
	uint64_t close_retry; /* a due pack could not be queued: not before */
	int close_failed;     /* ...and that was logged */
	/* telemetry: the queue's oldest pack, published */
	char *tel_topic; /* d/{id}/telemetry */
	uint8_t *peek;   /* the pack read from the queue */
	size_t peek_cap;
	uint64_t tel_seq; /* its queue sequence number, while in flight */
	int tel_inflight;
	uint64_t tel_retry;    /* after a refusal or a read error: not before */
	uint32_t tel_refusals; /* in a row */
	uint64_t dropped_seen; /* the queue's dropped counter, last logged */

	/* commands */
	rp__device_handler *handlers;
	size_t nhandlers;
	rp__device_pending pending[RP_DEVICE_PENDING_MAX];
	rp__device_result results[RP_DEVICE_RESULTS_MAX];
	uint64_t result_seq;
	struct {
		char name[RP__DEVICE_WORD];
		char id[RP__DEVICE_WORD];
	} recent[RP__DEVICE_RECENT];
	size_t recent_next;
	char *answer; /* a handler's result buffer: RP_DEVICE_COMMAND_MAX */

	int blocked; /* the link said BUSY: wait for an ack before asking again */
	rp_device_stats stats;
};

/* ---- shared between device.c and command.c ---- */

uint64_t rp__device_now(void);
void rp__device_log(rp_device *d, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The delay before retry number n (0-based) after refusals: 1 s doubling to 60 s. */
uint32_t rp__device_retry_delay(uint32_t n);

/* command.c: the link's on_message; publishing waiting results; release. */
uint8_t rp__device_on_message(void *ctx, const rp_link_message *msg);
void rp__device_results_pump(rp_device *d, uint64_t now);
/* The earliest time a waiting result may be published (UINT64_MAX: none). */
uint64_t rp__device_results_due(const rp_device *d);
void rp__device_commands_free(rp_device *d);

/* ---- test hooks (tests/unit/test_device.c) ---- */

/* Hands a message to the runtime as if the link had delivered it on
 * topic; returns the reason code the PUBACK would carry. */
uint8_t rp__device_deliver(rp_device *d, const char *topic, const void *payload, size_t len,
			   int retain);
/* The queue, to read what was pushed (peek only: the device owns it). */
rp_sfq *rp__device_queue(rp_device *d);
/* The i-th result waiting or in flight, oldest first: topic and payload
 * (NUL-terminated). RP_E_NOT_FOUND past the last. */
rp_status rp__device_result_at(const rp_device *d, size_t i, const char **topic,
			       const char **payload);
/* Commands waiting for rp_device_answer(). */
size_t rp__device_pending_count(const rp_device *d);

#endif /* RP_DEVICE_INT_H */
