/*
 * rampart/device.h - the device runtime: telemetry and commands over the link.
 *
 * What a firmware or a gateway daemon calls to be a Rampart device once it
 * has a certificate (rampart/est_client.h) and a key (rampart/keystore.h):
 *
 *     rp_device_config cfg;
 *     rp_device_config_default(&cfg);
 *     cfg.link = link_cfg;                  (rampart/link.h: TLS, host, id)
 *     cfg.queue_dir = "/var/lib/app/queue"; cfg.storage_key = key;
 *     rp_device_new(&cfg, &dev);
 *     rp_device_command(dev, "blink", on_blink, app);
 *     for (;;) {
 *         rp_device_number(dev, "temp", "Cel", 215, -1, now_ms);   21.5 Cel
 *         rp_device_run(dev, 1000);
 *     }
 *
 * Telemetry. Values (name, unit, value, time) are batched into a SenML pack
 * (rampart/senml.h) that is closed when it is full, when it holds
 * batch_records values, or batch_ms after its first value (rp_device_flush
 * closes it at once). A closed pack goes into the store-and-forward queue
 * on disk (rampart/sfq.h: encrypted, bounded, in order, surviving power
 * cuts) and is published to d/{id}/telemetry at QoS 1 when the link is up,
 * oldest first, one at a time; it leaves the queue only when rampartd's
 * PUBACK says it is stored (reason code below 0x80). A pack rampartd
 * refuses for its content (0x99) is dropped and counted, never resent; a
 * full server (0x97) or a lost connection leaves it first in the queue for
 * the next attempt. So delivery is at least once, in order, across
 * reconnects and restarts of the device.
 *
 * Commands. rampartd publishes d/{id}/cmd/{name} with {"id": ID, "args":
 * ARGS}; the runtime calls the handler registered for name with the
 * arguments (a JSON text), and publishes the handler's result on
 * d/{id}/cmd/{name}/result as {"id", "status": "done"|"failed",
 * "result"?}. Only topics with exactly one level after cmd/ are commands;
 * other messages are ignored, and so are retained ones (a command is never
 * retained: running a stale one at every new session would be worse than
 * not running it). A payload that is not a JSON object whose "id" is a
 * string of 1 to 64 printable ASCII characters cannot be answered (a
 * result needs the id): it is logged and dropped. Other members than id
 * and args are ignored. An unknown name, arguments that are too large, or
 * no room for another command (RP_DEVICE_PENDING_MAX) is answered "failed"
 * with {"error": why} without calling anything. A command that comes again
 * with the same name and id (QoS 1 is at least once) is not run again
 * (the last 32 are remembered). A handler may answer at once or later
 * (RP_DEVICE_PENDING, then rp_device_answer):
 * rampart-agent forwards commands to local applications that way. Every
 * command received and every result sent is logged through log_fn (the
 * command's name and id, the status; never the arguments or the result,
 * which may hold secrets). Results are QoS 1 and kept until acknowledged,
 * across reconnects; a result produced while offline waits for the link,
 * at most RP_DEVICE_RESULTS_MAX of them (beyond that a handler's result is
 * dropped and logged). A result rampartd refuses for good (0x87, 0x90,
 * 0x95, 0x99) is dropped and logged; other refusals are tried again after
 * a delay (1 s, doubling up to 60 s). Results live in memory only: those
 * not yet acknowledged when the device is freed are lost (and logged).
 *
 * Conventions
 * - Memory: the runtime allocates (Linux platform layer). Strings of the
 *   configuration are copied; cfg.link.tls is borrowed and MUST outlive
 *   the device (or be replaced with rp_device_set_tls first).
 * - Callbacks (handlers, log_fn, the link's on_event passed through
 *   event_fn) run inside rp_device_run() (and rp_device_free()), on its
 *   thread, and MAY call rp_device_answer(), rp_device_command(), the
 *   telemetry functions and the getters; rp_device_run() and
 *   rp_device_set_tls() from a callback return RP_E_STATE, rp_device_free()
 *   from a callback does nothing. log_fn is also called from the telemetry
 *   functions (a queue that dropped or refused) and from rp_device_free().
 * - docs/device.md is the user's manual (delivery guarantees, log lines).
 * - Time: telemetry times are Unix milliseconds given by the caller (0:
 *   "when received"); timers use CLOCK_MONOTONIC.
 * - Threads: one device is used by one thread at a time.
 * - NULL: rp_device_free(NULL) does nothing; other NULLs are
 *   RP_E_INVALID_ARG unless a field says it may be NULL.
 */
#ifndef RAMPART_DEVICE_H
#define RAMPART_DEVICE_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "rampart/link.h"
#include "rampart/sfq.h"
#include "rampart/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest SenML pack the runtime builds (and so publishes). */
#define RP_DEVICE_PACK_MAX (16u * 1024u)
/* Largest command arguments (compact JSON) handed to a handler, and
 * largest result JSON a handler or rp_device_answer() may give. */
#define RP_DEVICE_COMMAND_MAX (16u * 1024u)
/* What a command payload or a result adds around those (id, status,
 * names): a payload above RP_DEVICE_COMMAND_MAX + RP_DEVICE_ENVELOPE is
 * not read. rampartd's own limit on arguments is also 16 KiB. */
#define RP_DEVICE_ENVELOPE 512u
/* Longest command name and command id. */
#define RP_DEVICE_NAME_MAX 64u
/* Results kept until rampartd acknowledges them (waiting for the link or
 * in flight). */
#define RP_DEVICE_RESULTS_MAX 32u
/* Commands being handled or answered PENDING and not yet answered. */
#define RP_DEVICE_PENDING_MAX 32u

typedef struct rp_device rp_device;

/* The status of a command result. */
typedef enum rp_device_status {
	RP_DEVICE_DONE = 1, /* answered: "done" */
	RP_DEVICE_FAILED,   /* answered: "failed" */
	RP_DEVICE_PENDING   /* the handler answers later with rp_device_answer() */
} rp_device_status;

/* A command as the handler sees it. Views valid during the handler only. */
typedef struct rp_device_cmd {
	const char *name; /* NUL-terminated */
	const char *id;   /* NUL-terminated, 1..64 printable ASCII */
	const char *args; /* the "args" value as compact JSON text ("null" if absent) */
	size_t args_len;
} rp_device_cmd;

/*
 * A command handler. Writes the result as a JSON value (object, array,
 * string, number...) of at most cap bytes into result and its length into
 * *result_len (0: no "result" member), and returns DONE or FAILED; or
 * returns PENDING and answers later with rp_device_answer(dev, name, id...)
 * (copy name and id: the views end with the call).
 */
typedef rp_device_status (*rp_device_handler_fn)(void *ctx, rp_device *dev,
						 const rp_device_cmd *cmd, char *result, size_t cap,
						 size_t *result_len);

/* Log lines of the runtime (commands, results, dropped packs): level as
 * syslog (3 error, 4 warning, 6 info), msg one line without secrets. */
typedef void (*rp_device_log_fn)(void *ctx, int level, const char *msg);

typedef struct rp_device_config {
	/* The link (rampart/link.h). on_message and on_event are the runtime's;
	 * link.ctx is ignored. The device id is link.client_id. */
	rp_link_config link;
	/* Telemetry queue: a directory the runtime owns, and its key
	 * (rp_storage_key_load_or_create). opts as rampart/sfq.h (max bytes,
	 * full policy). */
	const char *queue_dir;
	/* RP_STORAGE_KEY_LEN bytes: read by rp_device_new() only (the queue
	 * derives its own keys from it); never kept, so the caller wipes it. */
	const uint8_t *storage_key;
	rp_sfq_opts queue;
	/* A pack is at most RP_DEVICE_PACK_MAX bytes, and no larger than
	 * queue.max_record or than a PUBLISH of link.max_packet carries. */
	uint32_t batch_ms;         /* close a pack this long after its first value; 0: 5000 */
	uint32_t batch_records;    /* or when it holds this many values; 0: 256; at most
				      RP_LIMIT_SENML_RECORDS */
	rp_device_log_fn log_fn;   /* may be NULL */
	rp_link_event_fn event_fn; /* the link's events, passed on; may be NULL */
	void *ctx;                 /* for log_fn and event_fn */
} rp_device_config;

/* Defaults: rp_link_config_default() for link, rp_sfq defaults, 5 s, 256.
 * queue_dir, storage_key, link.tls, host, port and client_id are still to
 * be set. */
void rp_device_config_default(rp_device_config *cfg);

/*
 * Opens the queue (recovering it after a crash), creates the link (not yet
 * connected). Returns RP_OK and *out; RP_E_INVALID_ARG; the statuses of
 * rp_sfq_open (e.g. RP_E_BUSY: another process has the queue directory;
 * RP_E_CRYPTO: another key) and rp_link_new; RP_E_NOMEM.
 */
rp_status rp_device_new(const rp_device_config *cfg, rp_device **out);

/*
 * Registers handler for command name (1..64 bytes of A-Z a-z 0-9 - _ .),
 * replacing an earlier one. Returns RP_OK, RP_E_INVALID_ARG, RP_E_NOMEM.
 */
rp_status rp_device_command(rp_device *dev, const char *name, rp_device_handler_fn handler,
			    void *ctx);

/*
 * Answers a PENDING command. result: JSON text (result_len 0: none).
 * Returns RP_OK (queued; sent when the link is up), RP_E_NOT_FOUND (no such
 * pending command, or its handler has not returned yet), RP_E_INVALID_ARG
 * (status not DONE/FAILED, result over RP_DEVICE_COMMAND_MAX or not JSON),
 * RP_E_BUSY (RP_DEVICE_RESULTS_MAX results wait for the link: answer again
 * later), RP_E_NOMEM. On any failure the command stays pending.
 */
rp_status rp_device_answer(rp_device *dev, const char *name, const char *id,
			   rp_device_status status, const char *result, size_t result_len);

/*
 * Adds one value to the current pack (see rampart/senml.h for the rules on
 * names, units, values and times). Returns RP_OK; RP_E_INVALID_ARG (the
 * value was refused, or does not fit even alone in a pack); RP_E_BUSY (the
 * queue is full and its policy is RP_SFQ_REFUSE: stop sampling); RP_E_IO
 * (the queue cannot be written: nothing was lost that was already queued);
 * RP_E_NOMEM. On a failure the value was not taken; on RP_OK it was, even
 * when the pack it closed could not be queued yet (it stays in memory and
 * the next value, flush or rp_device_run tries again).
 */
rp_status rp_device_number(rp_device *dev, const char *name, const char *unit, int64_t mantissa,
			   int exp10, int64_t t_ms);
rp_status rp_device_bool(rp_device *dev, const char *name, const char *unit, int value,
			 int64_t t_ms);
rp_status rp_device_string(rp_device *dev, const char *name, const char *unit, const char *s,
			   int64_t t_ms);

/* Closes the current pack (if it holds values) into the queue. Returns
 * RP_OK, RP_E_BUSY, RP_E_IO, RP_E_NOMEM as above (the pack stays in memory),
 * RP_E_INVALID_ARG. */
rp_status rp_device_flush(rp_device *dev);

/*
 * One loop step: the link's (rp_link_run), then telemetry (closes a pack
 * that is due, publishes the queue's oldest pack when nothing is in
 * flight) and command results waiting for the link. Returns RP_OK,
 * RP_E_INVALID_ARG, RP_E_STATE (from a callback), RP_E_IO (poll failed).
 */
rp_status rp_device_run(rp_device *dev, int timeout_ms);

/* For an application's own poll loop, as rp_link_wants (the timeout also
 * covers the pack timer). */
rp_status rp_device_wants(const rp_device *dev, struct pollfd *pfd, int *timeout_ms);

/*
 * Replaces the TLS context (after a renewal): the link is closed and made
 * again with tls, keeping the queue and the pending results; tls is
 * borrowed as cfg.link.tls was (the old one may be freed once this
 * returns RP_OK). Returns RP_OK, RP_E_INVALID_ARG, RP_E_STATE (from a
 * callback), RP_E_NOMEM (the old link stays).
 */
rp_status rp_device_set_tls(rp_device *dev, rp_tlsc_ctx *tls);

/* Counters, for a status report. */
typedef struct rp_device_stats {
	rp_link_state link_state;
	rp_link_stats link;
	rp_sfq_stats queue;
	uint64_t values;          /* values added */
	uint64_t packs_queued;    /* packs closed into the queue */
	uint64_t packs_delivered; /* acknowledged as stored */
	uint64_t packs_refused;   /* refused by rampartd for their content (0x99), dropped */
	uint64_t commands;        /* commands received */
	uint64_t results;         /* results acknowledged by rampartd */
} rp_device_stats;

rp_status rp_device_get_stats(const rp_device *dev, rp_device_stats *out);

/* Flushes the pack, sends what the link can without waiting, closes the
 * link and the queue (what is queued stays on disk). Results not yet
 * acknowledged are lost (logged). From a callback: refused (nothing
 * happens). */
void rp_device_free(rp_device *dev);

#ifdef __cplusplus
}
#endif

#endif /* RAMPART_DEVICE_H */
