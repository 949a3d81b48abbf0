/*
 * server/store/store.h - rampartd's storage: one interface, two back ends
 * (SQLite, embedded default; PostgreSQL), one storage thread that commits
 * in batches (group commit). docs/store.md is the long form.
 *
 * Conventions
 * - Opening: rp_store_open() takes a URL: "sqlite:PATH" or
 *   "postgresql://..." / "postgres://..." (a libpq connection URI). It runs
 *   the schema migrations and starts the storage thread.
 * - Every operation is one call `rp_status rp_store_<table>_<verb>(st, ...,
 *   done, ctx)`, in one of two modes:
 *     asynchronous (done != NULL): the operation is queued and the call
 *       returns RP_OK at once; done(ctx, status) is called exactly once,
 *       later, ON THE STORAGE THREAD, after the transaction holding the
 *       operation has committed (or the operation has failed). A caller on
 *       an event loop posts the result to its own loop (rp_loop_post) and
 *       returns; done MUST NOT block. Outputs (*out, *n, ids, counts) are
 *       written before done is called, so their storage MUST stay valid
 *       until then.
 *     synchronous (done == NULL): the call queues the operation, waits
 *       for it and returns its status. For HTTP workers, the CLI and
 *       start-up; never from an event loop, and never from the storage
 *       thread (a done or row callback), which gets RP_E_STATE.
 *   A call that returns an error other than through done did not queue
 *   anything, and done is not called: a function either returns an error
 *   or calls its callback, never both (DESIGN.md, principle 6).
 * - Back pressure: the queue is bounded (operations and bytes, limits.h
 *   "Store"). An asynchronous submission to a full queue returns RP_E_BUSY
 *   immediately; a synchronous one waits for room.
 * - Statuses common to every operation: RP_E_INVALID_ARG (NULL where not
 *   allowed, a bad enum, a negative time, limit 0 or above its cap),
 *   RP_E_LIMIT (a text or blob longer than its limit, too many items),
 *   RP_E_UTF8 (text that is not UTF-8, or holds U+0000), RP_E_NOMEM,
 *   RP_E_BUSY (asynchronous, queue full), RP_E_STATE (the store is
 *   closing, or a synchronous call from the storage thread), and from the
 *   database: RP_E_IO (a failure that retries did not cure, or a commit
 *   whose outcome is unknown because the connection broke during COMMIT),
 *   RP_E_TIMEOUT (lock or statement timeout). Each function lists its own.
 * - Text: NUL-terminated UTF-8; "" is the empty value. Times: int64
 *   milliseconds since the Unix epoch, 0 .. RP_LIMIT_STORE_TIME_MAX_MS; 0
 *   in an output means "never" (not seen, not answered, not revoked).
 * - Inputs are copied when the call returns: the caller's buffers may be
 *   reused at once, in both modes.
 * - Results: a get or list returns its rows as one block, `T *rows` with n
 *   rows (NULL when n is 0), owned by the caller, freed with
 *   rp_store_free(). Strings and blobs in the rows point into the block
 *   and live as long as it. Blocks are wiped when freed (operator rows
 *   hold password hashes and TOTP secrets).
 * - Pagination is by keyset: each list takes the key of the last row of
 *   the previous page ("after") and a limit (1 .. its cap); a page shorter
 *   than the limit is the last. Pages are consistent with each other only
 *   as far as the data did not change between them.
 * - Threads: every function may be called from any thread, concurrently,
 *   except rp_store_close() (once, after every other call has returned).
 * - Secrets are never logged: not URLs (a PostgreSQL URL may hold a
 *   password), not hashes, not values.
 */
#ifndef RP_SERVER_STORE_H
#define RP_SERVER_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "rampart/limits.h"
#include "rampart/status.h"

typedef struct rp_store rp_store;

/* Completion of an asynchronous operation, called on the storage thread. */
typedef void (*rp_store_done_fn)(void *ctx, rp_status st);

/* ------------------------------------------------------------------------
 * Lifecycle
 * ------------------------------------------------------------------------ */

/* Tuning; zero-initialise, and 0 in any field means its default. */
typedef struct rp_store_options {
	size_t queue_ops;         /* RP_DEFAULT_STORE_QUEUE_OPS; cap RP_LIMIT_STORE_QUEUE_OPS */
	size_t queue_bytes;       /* RP_DEFAULT_STORE_QUEUE_BYTES */
	size_t batch_ops;         /* operations per transaction, RP_DEFAULT_STORE_BATCH_OPS */
	unsigned batch_wait_ms;   /* linger for more when busy, RP_DEFAULT_STORE_BATCH_WAIT_MS */
	unsigned retries;         /* transient retries, RP_DEFAULT_STORE_RETRIES */
	unsigned retry_ms;        /* first back-off, doubling, RP_DEFAULT_STORE_RETRY_MS */
	unsigned busy_timeout_ms; /* SQLite busy wait, PostgreSQL lock_timeout */
	unsigned statement_ms;    /* PostgreSQL statement_timeout */
	size_t retention_chunk;   /* telemetry rows per retention transaction */
} rp_store_options;

/*
 * Opens the store at url, applies the migrations the database lacks, and
 * starts the storage thread. opt may be NULL (defaults).
 *
 * "sqlite:PATH": the file and its missing parent directories are created
 * (modes 0600 and 0700); a file others can read is narrowed to 0600. WAL,
 * synchronous=FULL, foreign keys on (docs/store.md says why).
 * "postgresql://..." or "postgres://...": passed to libpq as is (the
 * database must exist; it is used with client_encoding UTF8).
 *
 * Returns RP_OK with *out; RP_E_INVALID_ARG (NULL, unknown scheme, empty
 * path), RP_E_CONFIG (an option above its cap; a database whose schema is
 * newer than this program: upgrade rampartd, the database is left as it
 * is; PostgreSQL older than 10), RP_E_IO (cannot create, open or connect;
 * a migration failed and was rolled back), RP_E_NOMEM. The reason is
 * logged.
 */
rp_status rp_store_open(const char *url, const rp_store_options *opt, rp_store **out);

/*
 * MUST NOT be called from a done or row callback (it waits for the
 * storage thread). Stops accepting operations (RP_E_STATE), runs every one already queued
 * (each callback is called; chunked work still in progress, such as
 * retention, ends with RP_E_CLOSED after its last committed chunk), stops
 * the thread and closes the database. NULL is allowed.
 */
void rp_store_close(rp_store *st);

/* "sqlite" or "postgresql". */
const char *rp_store_backend(const rp_store *st);

/* The schema version of the open database (equal to the code's). */
int64_t rp_store_schema_version(const rp_store *st);

/* The highest schema version this code knows. */
int64_t rp_store_code_version(void);

/* Counters since open; a consistent snapshot. */
typedef struct rp_store_stats {
	uint64_t submitted;  /* operations accepted into the queue */
	uint64_t completed;  /* callbacks called (every status) */
	uint64_t failed;     /* completed with an error from the database */
	uint64_t rejected;   /* submissions refused because the queue was full */
	uint64_t batches;    /* transactions that ran more than one operation and committed */
	uint64_t commits;    /* transactions committed, batches included */
	uint64_t max_batch;  /* most operations committed by one transaction */
	uint64_t splits;     /* batches rolled back and rerun one operation each */
	uint64_t retries;    /* transactions retried after a transient error */
	uint64_t reconnects; /* PostgreSQL connections re-established */
	size_t pending;      /* operations queued or running now */
	size_t pending_bytes;
} rp_store_stats;

void rp_store_stats_get(rp_store *st, rp_store_stats *out);

/* Frees a result block (rows of any get or list). NULL is allowed. */
void rp_store_free(void *rows);

/* ------------------------------------------------------------------------
 * Devices
 * ------------------------------------------------------------------------ */

typedef enum rp_store_device_status {
	RP_STORE_DEVICE_ANY = 0, /* filters only */
	RP_STORE_DEVICE_ACTIVE,
	RP_STORE_DEVICE_QUARANTINED,
	RP_STORE_DEVICE_REVOKED,
	RP_STORE_DEVICE_DECOMMISSIONED,
} rp_store_device_status;

typedef struct rp_store_device {
	const char *id; /* 1 .. RP_LIMIT_STORE_ID_LEN bytes */
	rp_store_device_status status;
	const char *model;       /* "" if unknown */
	const char *firmware;    /* version, "" if unknown */
	const char *const *tags; /* ntags tags, sorted by bytes */
	size_t ntags;
	int64_t created_ms;
	int64_t last_seen_ms;
	const char *last_addr; /* "" if never seen */
} rp_store_device;

/*
 * The device connected from addr at now_ms: creates it (status active) if
 * it is new, else updates last_seen and last_addr (never backwards).
 */
rp_status rp_store_device_seen(rp_store *st, const char *id, const char *addr, int64_t now_ms,
			       rp_store_done_fn done, void *ctx);

/* One device. RP_E_NOT_FOUND if there is none. */
rp_status rp_store_device_get(rp_store *st, const char *id, rp_store_device **out,
			      rp_store_done_fn done, void *ctx);

typedef struct rp_store_device_filter {
	rp_store_device_status status; /* RP_STORE_DEVICE_ANY: every status */
	const char *tag;               /* NULL: any; else devices holding this tag */
	const char *model;             /* NULL: any */
	const char *firmware;          /* NULL: any */
	const char *after_id;          /* NULL: first page; else ids greater than this */
	size_t limit;                  /* 1 .. RP_LIMIT_STORE_PAGE */
} rp_store_device_filter;

/* Devices matching f, by id. */
rp_status rp_store_device_list(rp_store *st, const rp_store_device_filter *f, rp_store_device **out,
			       size_t *n, rp_store_done_fn done, void *ctx);

/*
 * Replaces the device's tags with tags[0 .. ntags) (at most
 * RP_LIMIT_STORE_TAGS, each 1 .. RP_LIMIT_STORE_TAG_LEN bytes; duplicates
 * count once). RP_E_NOT_FOUND if the device does not exist.
 */
rp_status rp_store_device_set_tags(rp_store *st, const char *id, const char *const *tags,
				   size_t ntags, rp_store_done_fn done, void *ctx);

/* RP_E_NOT_FOUND if the device does not exist. */
rp_status rp_store_device_set_status(rp_store *st, const char *id, rp_store_device_status status,
				     rp_store_done_fn done, void *ctx);

/* Sets model and firmware version; NULL leaves one as it is. RP_E_NOT_FOUND. */
rp_status rp_store_device_set_info(rp_store *st, const char *id, const char *model,
				   const char *firmware, rp_store_done_fn done, void *ctx);

/* ------------------------------------------------------------------------
 * Certificates (serials and fingerprints: lowercase hex)
 * ------------------------------------------------------------------------ */

typedef enum rp_store_cert_status {
	RP_STORE_CERT_VALID = 1,
	RP_STORE_CERT_REVOKED,
} rp_store_cert_status;

typedef struct rp_store_cert {
	const char *serial;      /* 1 .. RP_LIMIT_STORE_SERIAL_LEN hex digits */
	const char *device_id;   /* an existing device */
	const char *fingerprint; /* SHA-256 of the DER certificate, 64 hex digits */
	int64_t not_after_ms;
	rp_store_cert_status status; /* ignored by add (always valid) */
	int64_t revoked_at_ms;       /* 0 unless revoked */
	int reason; /* RFC 5280 CRLReason of a revocation (0 .. 10, not 7); -1: none given
		       (also for a valid certificate); ignored by add */
} rp_store_cert;

/* Adds a valid certificate. RP_E_EXISTS (serial), RP_E_NOT_FOUND (device). */
rp_status rp_store_cert_add(rp_store *st, const rp_store_cert *c, rp_store_done_fn done, void *ctx);

/* RP_E_NOT_FOUND if there is no such serial. */
rp_status rp_store_cert_get(rp_store *st, const char *serial, rp_store_cert **out,
			    rp_store_done_fn done, void *ctx);

/* A device's certificates by serial, after after_serial (NULL: first page). */
rp_status rp_store_cert_list_device(rp_store *st, const char *device_id, const char *after_serial,
				    size_t limit, rp_store_cert **out, size_t *n,
				    rp_store_done_fn done, void *ctx);

/*
 * Revokes a certificate at time_ms, without a reason (rp_store_cert_revoke_reason()
 * with -1). Revoking a revoked certificate is RP_OK and keeps the first
 * time and reason. RP_E_NOT_FOUND if there is no such serial.
 */
rp_status rp_store_cert_revoke(rp_store *st, const char *serial, int64_t time_ms,
			       rp_store_done_fn done, void *ctx);

/*
 * As rp_store_cert_revoke(), recording reason: an RFC 5280 CRLReason code
 * (0 .. 10 except 7), or -1 for none (RP_E_INVALID_ARG otherwise). The CRL
 * entry of the certificate carries it.
 */
rp_status rp_store_cert_revoke_reason(rp_store *st, const char *serial, int64_t time_ms, int reason,
				      rp_store_done_fn done, void *ctx);

/*
 * Revoked certificates (for a CRL) by serial, after after_serial, whose
 * not_after is at or after not_after_min_ms (expired ones can leave the CRL).
 */
rp_status rp_store_cert_list_revoked(rp_store *st, const char *after_serial,
				     int64_t not_after_min_ms, size_t limit, rp_store_cert **out,
				     size_t *n, rp_store_done_fn done, void *ctx);

/*
 * The next cRLNumber of the CRL issuer `issuer` (1 .. RP_LIMIT_STORE_ID_LEN
 * bytes naming it; rampartd uses the hex SHA-256 of its DER subject name),
 * atomically: the last number given plus one, or `min` if that is larger
 * (min >= 1; 1 for an issuer never seen), stored before it is returned in
 * *number. Numbers only grow, whatever the callers do concurrently: two
 * calls never get the same number (RFC 5280 5.2.3).
 */
rp_status rp_store_crl_number_next(rp_store *st, const char *issuer, int64_t min, int64_t *number,
				   rp_store_done_fn done, void *ctx);

/* ------------------------------------------------------------------------
 * Telemetry
 * ------------------------------------------------------------------------ */

typedef enum rp_store_kind {
	RP_STORE_NUM = 0,  /* num */
	RP_STORE_STR = 1,  /* str */
	RP_STORE_BOOL = 2, /* boolean */
	RP_STORE_DATA = 3, /* data, data_len */
} rp_store_kind;

/* One value. Only the field of its kind is read (and set when read back). */
typedef struct rp_store_point {
	const char *device; /* an existing device */
	const char *name;   /* 1 .. RP_LIMIT_STORE_TEXT_LEN bytes */
	int64_t time_ms;
	rp_store_kind kind;
	double num;      /* finite */
	const char *str; /* at most RP_LIMIT_STORE_VALUE_LEN bytes */
	int boolean;     /* 0 or 1 */
	const uint8_t *data;
	size_t data_len;  /* at most RP_LIMIT_STORE_VALUE_LEN */
	const char *unit; /* NULL or "": none */
	int64_t seq;      /* output: the row's sequence number (keyset cursor) */
} rp_store_point;

/*
 * Inserts pts[0 .. n) (1 .. RP_LIMIT_STORE_RECORDS) as one operation: all
 * or none. The hot path: acknowledge a QoS 1 PUBLISH from done.
 * RP_E_NOT_FOUND if a device does not exist (nothing of the batch is
 * stored; other operations of the same group commit are not affected).
 */
rp_status rp_store_telemetry_insert(rp_store *st, const rp_store_point *pts, size_t n,
				    rp_store_done_fn done, void *ctx);

typedef struct rp_store_series_query {
	const char *device;
	const char *name;
	int64_t from_ms, to_ms; /* [from, to) */
	size_t limit;           /* 1 .. RP_LIMIT_STORE_SERIES_ROWS */
	int descending;         /* 0: oldest first */
	/* Keyset cursor: has_cursor 1 returns the points after (time, seq) of
	 * the last point of the previous page, in the chosen order. */
	int has_cursor;
	int64_t after_time_ms;
	int64_t after_seq;
} rp_store_series_query;

/* Points of one series, ordered by (time, seq). */
rp_status rp_store_telemetry_query(rp_store *st, const rp_store_series_query *q,
				   rp_store_point **out, size_t *n, rp_store_done_fn done,
				   void *ctx);

typedef struct rp_store_agg_query {
	const char *device;
	const char *name;
	int64_t from_ms, to_ms; /* [from, to), from < to */
	int64_t interval_ms;    /* > 0, at most RP_LIMIT_STORE_BUCKETS buckets in [from, to) */
} rp_store_agg_query;

/* One bucket [start, start + interval) holding at least one numeric value. */
typedef struct rp_store_agg_row {
	int64_t start_ms;
	double min, max, avg;
	uint64_t count;
} rp_store_agg_row;

/* Buckets with numeric values, by start; empty buckets are left out. */
rp_status rp_store_telemetry_aggregate(rp_store *st, const rp_store_agg_query *q,
				       rp_store_agg_row **out, size_t *n, rp_store_done_fn done,
				       void *ctx);

/*
 * Retention: deletes every point older than before_ms, in chunks of
 * retention_chunk rows, one transaction each, queued behind other work so
 * ingest waits at most one chunk. *deleted (may be NULL) receives the rows
 * deleted. RP_E_CLOSED if the store closed first (chunks done stay done).
 */
rp_status rp_store_telemetry_expire(rp_store *st, int64_t before_ms, uint64_t *deleted,
				    rp_store_done_fn done, void *ctx);

/* ------------------------------------------------------------------------
 * Commands
 * ------------------------------------------------------------------------ */

typedef enum rp_store_cmd_status {
	RP_STORE_CMD_PENDING = 1,
	RP_STORE_CMD_SENT,
	RP_STORE_CMD_DONE,
	RP_STORE_CMD_FAILED,
	RP_STORE_CMD_EXPIRED,
} rp_store_cmd_status;

typedef struct rp_store_command {
	const char *id;        /* made by the caller, 1 .. RP_LIMIT_STORE_ID_LEN bytes */
	const char *device_id; /* an existing device */
	const char *name;
	const char *args;           /* JSON text, at most RP_LIMIT_STORE_JSON_LEN ("" : none) */
	rp_store_cmd_status status; /* ignored by create (pending) */
	const char *result;         /* JSON text, "" until answered */
	int64_t created_ms;
	int64_t answered_ms; /* 0 until answered */
} rp_store_command;

/* Creates a pending command. RP_E_EXISTS (id), RP_E_NOT_FOUND (device). */
rp_status rp_store_command_create(rp_store *st, const rp_store_command *c, rp_store_done_fn done,
				  void *ctx);

/*
 * Moves a pending command to status (sent once published, failed if the
 * broker refused it). Only a pending one: a device may answer before the
 * API records "sent", and its result must not be overwritten.
 * RP_E_NOT_FOUND if there is no such command, or it is no longer pending.
 */
rp_status rp_store_command_set_status(rp_store *st, const char *id, rp_store_cmd_status status,
				      rp_store_done_fn done, void *ctx);

/* Records the device's answer: status, result JSON, answered at time_ms. */
rp_status rp_store_command_set_result(rp_store *st, const char *id, rp_store_cmd_status status,
				      const char *result, int64_t time_ms, rp_store_done_fn done,
				      void *ctx);

/* RP_E_NOT_FOUND if there is no such command. */
rp_status rp_store_command_get(rp_store *st, const char *id, rp_store_command **out,
			       rp_store_done_fn done, void *ctx);

/*
 * A device's commands by (created, id). after_id NULL: first page; else
 * the last row's created_ms and id.
 */
rp_status rp_store_command_list(rp_store *st, const char *device_id, int64_t after_created_ms,
				const char *after_id, size_t limit, rp_store_command **out,
				size_t *n, rp_store_done_fn done, void *ctx);

/* ------------------------------------------------------------------------
 * Broker state: retained messages and persistent sessions (opaque bytes)
 * ------------------------------------------------------------------------ */

typedef struct rp_store_retained {
	const char *topic; /* 1 .. RP_LIMIT_MQTT_TOPIC_LEN bytes */
	const uint8_t *payload;
	size_t payload_len; /* at most RP_LIMIT_STORE_BLOB_LEN; 0 allowed */
	int qos;            /* 0 .. 2 */
	const uint8_t *props;
	size_t props_len; /* at most RP_LIMIT_STORE_BLOB_LEN */
} rp_store_retained;

/* Sets (or replaces) the retained message of r->topic. */
rp_status rp_store_retained_put(rp_store *st, const rp_store_retained *r, rp_store_done_fn done,
				void *ctx);

/* Deletes a topic's retained message; RP_OK if there was none. */
rp_status rp_store_retained_delete(rp_store *st, const char *topic, rp_store_done_fn done,
				   void *ctx);

/*
 * Row callback of the load functions: called on the storage thread with
 * a view valid only during the call. Returning other than RP_OK stops the
 * load, which then completes with that status.
 */
typedef rp_status (*rp_store_retained_fn)(void *ctx, const rp_store_retained *r);

/*
 * Calls row(row_ctx, r) for every retained message, by topic, in pages
 * (one transaction each; every row is delivered once, after its page has
 * committed). Meant for start-up, before anything else writes.
 */
rp_status rp_store_retained_load(rp_store *st, rp_store_retained_fn row, void *row_ctx,
				 rp_store_done_fn done, void *ctx);

typedef struct rp_store_session {
	const char *client_id; /* 1 .. RP_LIMIT_STORE_ID_LEN bytes */
	const uint8_t *blob;   /* serialised by the broker */
	size_t blob_len;       /* at most RP_LIMIT_STORE_SESSION_LEN */
	int64_t expires_ms;
} rp_store_session;

rp_status rp_store_session_put(rp_store *st, const rp_store_session *s, rp_store_done_fn done,
			       void *ctx);

/* RP_OK if there was none. */
rp_status rp_store_session_delete(rp_store *st, const char *client_id, rp_store_done_fn done,
				  void *ctx);

typedef rp_status (*rp_store_session_fn)(void *ctx, const rp_store_session *s);

/* Like rp_store_retained_load(), by client id. */
rp_status rp_store_session_load(rp_store *st, rp_store_session_fn row, void *row_ctx,
				rp_store_done_fn done, void *ctx);

/* Deletes sessions that expired before now_ms; *deleted (may be NULL). */
rp_status rp_store_session_expire(rp_store *st, int64_t now_ms, uint64_t *deleted,
				  rp_store_done_fn done, void *ctx);

/* ------------------------------------------------------------------------
 * Alerts
 * ------------------------------------------------------------------------ */

typedef enum rp_store_severity {
	RP_STORE_SEV_ANY = 0, /* filters only */
	RP_STORE_SEV_INFO,
	RP_STORE_SEV_WARNING,
	RP_STORE_SEV_CRITICAL,
} rp_store_severity;

typedef struct rp_store_alert {
	int64_t id;            /* assigned by add, increasing */
	const char *device_id; /* need not exist (an unknown client is worth an alert) */
	const char *kind;      /* "auth_failures", "rate", ... */
	rp_store_severity severity;
	const char *detail; /* JSON text */
	int64_t created_ms;
	const char *ack_by; /* operator, "" while unacknowledged */
	int64_t ack_ms;     /* 0 while unacknowledged */
} rp_store_alert;

/* Adds an alert; *id (may be NULL) receives its id. */
rp_status rp_store_alert_add(rp_store *st, const rp_store_alert *a, int64_t *id,
			     rp_store_done_fn done, void *ctx);

typedef struct rp_store_alert_filter {
	const char *device_id;          /* NULL: any */
	const char *kind;               /* NULL: any */
	rp_store_severity min_severity; /* ANY: every severity */
	int unacked_only;
	int64_t before_id; /* newest first: ids below this; 0: first page */
	size_t limit;      /* 1 .. RP_LIMIT_STORE_PAGE */
} rp_store_alert_filter;

/* Alerts matching f, newest (highest id) first. */
rp_status rp_store_alert_list(rp_store *st, const rp_store_alert_filter *f, rp_store_alert **out,
			      size_t *n, rp_store_done_fn done, void *ctx);

/*
 * Acknowledges an alert. RP_E_NOT_FOUND; RP_E_STATE if it was already
 * acknowledged (the first acknowledgement stays).
 */
rp_status rp_store_alert_ack(rp_store *st, int64_t id, const char *operator_name, int64_t time_ms,
			     rp_store_done_fn done, void *ctx);

/* ------------------------------------------------------------------------
 * Operators, API tokens, web sessions
 * ------------------------------------------------------------------------ */

typedef enum rp_store_role {
	RP_STORE_ROLE_VIEWER = 1,
	RP_STORE_ROLE_OPERATOR,
	RP_STORE_ROLE_ADMIN,
	RP_STORE_ROLE_AUDITOR,
} rp_store_role;

typedef struct rp_store_operator {
	const char *name; /* 1 .. RP_LIMIT_STORE_ID_LEN bytes */
	rp_store_role role;
	const char *password_hash;  /* PHC string, opaque here */
	const uint8_t *totp_secret; /* opaque here (may be encrypted by the caller) */
	size_t totp_secret_len;     /* 0 .. RP_LIMIT_STORE_SECRET_LEN */
	int totp_required;
	int64_t totp_last_step; /* last TOTP time step accepted (replay guard) */
	int64_t failed_logins;
	int64_t locked_until_ms;
	int64_t created_ms;
	int64_t last_login_ms;
	int disabled;
} rp_store_operator;

/* Creates an operator with every field of o. RP_E_EXISTS if the name is taken. */
rp_status rp_store_operator_create(rp_store *st, const rp_store_operator *o, rp_store_done_fn done,
				   void *ctx);

/* RP_E_NOT_FOUND if there is no such operator. */
rp_status rp_store_operator_get(rp_store *st, const char *name, rp_store_operator **out,
				rp_store_done_fn done, void *ctx);

/* Operators by name, after after_name (NULL: first page). */
rp_status rp_store_operator_list(rp_store *st, const char *after_name, size_t limit,
				 rp_store_operator **out, size_t *n, rp_store_done_fn done,
				 void *ctx);

/* Fields of an update: set a bit for each field to change. */
#define RP_STORE_OPF_ROLE          0x001u
#define RP_STORE_OPF_PASSWORD      0x002u /* password_hash */
#define RP_STORE_OPF_TOTP_SECRET   0x004u
#define RP_STORE_OPF_TOTP_REQUIRED 0x008u
#define RP_STORE_OPF_TOTP_STEP     0x010u /* only forwards: see below */
#define RP_STORE_OPF_FAILED        0x020u /* failed_logins := value */
#define RP_STORE_OPF_FAILED_INC    0x040u /* failed_logins += 1, atomically */
#define RP_STORE_OPF_LOCKED_UNTIL  0x080u
#define RP_STORE_OPF_LAST_LOGIN    0x100u
#define RP_STORE_OPF_DISABLED      0x200u

typedef struct rp_store_operator_patch {
	unsigned fields;     /* RP_STORE_OPF_* */
	rp_store_operator v; /* new values; v.name and v.created_ms are ignored */
} rp_store_operator_patch;

/*
 * Changes the fields named in p->fields, atomically (read, change, write in
 * one transaction). RP_STORE_OPF_TOTP_STEP is a compare-and-set: a step
 * not above the stored one fails the whole update with RP_E_DENIED (a
 * replayed TOTP code). RP_E_NOT_FOUND if there is no such operator.
 */
rp_status rp_store_operator_update(rp_store *st, const char *name, const rp_store_operator_patch *p,
				   rp_store_done_fn done, void *ctx);

typedef struct rp_store_token {
	const char *id;            /* public id made by the caller */
	const char *token_hash;    /* SHA-256 of the token, 64 lowercase hex digits; unique */
	const char *operator_name; /* an existing operator */
	rp_store_role role;
	int64_t created_ms;
	int64_t expires_ms;
	int64_t revoked_ms; /* 0 while valid; ignored by create */
} rp_store_token;

/* RP_E_EXISTS (id or hash), RP_E_NOT_FOUND (operator). */
rp_status rp_store_token_create(rp_store *st, const rp_store_token *t, rp_store_done_fn done,
				void *ctx);

/*
 * The token whose hash is token_hash, whatever its expiry or revocation
 * (the caller checks both). RP_E_NOT_FOUND. The lookup compares hashes of
 * 256-bit random tokens, so its timing tells nothing useful.
 */
rp_status rp_store_token_get_by_hash(rp_store *st, const char *token_hash, rp_store_token **out,
				     rp_store_done_fn done, void *ctx);

/* An operator's tokens by id, after after_id (NULL: first page). */
rp_status rp_store_token_list(rp_store *st, const char *operator_name, const char *after_id,
			      size_t limit, rp_store_token **out, size_t *n, rp_store_done_fn done,
			      void *ctx);

/* Revokes at time_ms (a revoked token stays revoked at its first time). RP_E_NOT_FOUND. */
rp_status rp_store_token_revoke(rp_store *st, const char *id, int64_t time_ms,
				rp_store_done_fn done, void *ctx);

typedef struct rp_store_websession {
	const char *id_hash; /* SHA-256 of the session cookie, 64 hex digits */
	const char *operator_name;
	const char *csrf_hash; /* SHA-256 of the CSRF token, 64 hex digits */
	int64_t created_ms;
	int64_t expires_ms;
} rp_store_websession;

/* RP_E_EXISTS, RP_E_NOT_FOUND (operator). */
rp_status rp_store_websession_create(rp_store *st, const rp_store_websession *w,
				     rp_store_done_fn done, void *ctx);

/* Whatever its expiry (the caller checks). RP_E_NOT_FOUND. */
rp_status rp_store_websession_get(rp_store *st, const char *id_hash, rp_store_websession **out,
				  rp_store_done_fn done, void *ctx);

/* RP_E_NOT_FOUND if there was none. */
rp_status rp_store_websession_delete(rp_store *st, const char *id_hash, rp_store_done_fn done,
				     void *ctx);

/* Deletes sessions whose expiry is before now_ms; *deleted (may be NULL). */
rp_status rp_store_websession_expire(rp_store *st, int64_t now_ms, uint64_t *deleted,
				     rp_store_done_fn done, void *ctx);

/* ------------------------------------------------------------------------
 * Enrollment: one-time tokens and enrollments (EST, docs/est.md)
 * ------------------------------------------------------------------------ */

/*
 * A device enrollment token. Only the hash of the token's text is kept;
 * the token binds one device id, or (prefix 1) every device id that
 * starts with `device`, for max_uses enrollments before expires_ms.
 */
typedef struct rp_store_enroll_token {
	const char *id;          /* public id made by the caller, 1 .. RP_LIMIT_STORE_ID_LEN */
	const char *token_hash;  /* SHA-256 of the token, 64 lowercase hex digits; unique */
	const char *device;      /* a device id, or a prefix of ids (prefix 1) */
	int prefix;              /* 0: device is the id; 1: a prefix */
	int64_t max_uses;        /* 1 .. RP_LIMIT_EST_TOKEN_USES */
	int64_t uses;            /* enrollments made with it; ignored by create (0) */
	const char *model;       /* what enrolled devices get as model; "" none */
	const char *const *tags; /* what they get as tags (device tag rules), ntags of them */
	size_t ntags;            /* at most RP_LIMIT_STORE_TAGS */
	const char *created_by;  /* the operator who made it (not checked: audit only) */
	int64_t created_ms;
	int64_t expires_ms;
	int64_t revoked_ms; /* 0 while valid; ignored by create */
} rp_store_enroll_token;

/* RP_E_EXISTS (id or hash). */
rp_status rp_store_enroll_token_create(rp_store *st, const rp_store_enroll_token *t,
				       rp_store_done_fn done, void *ctx);

/*
 * The token whose hash is token_hash, whatever its state (the caller
 * checks uses, expiry and revocation; rp_store_enroll() checks them again
 * in its transaction). RP_E_NOT_FOUND.
 */
rp_status rp_store_enroll_token_get_by_hash(rp_store *st, const char *token_hash,
					    rp_store_enroll_token **out, rp_store_done_fn done,
					    void *ctx);

/* Tokens by id, after after_id (NULL: first page). */
rp_status rp_store_enroll_token_list(rp_store *st, const char *after_id, size_t limit,
				     rp_store_enroll_token **out, size_t *n, rp_store_done_fn done,
				     void *ctx);

/* Revokes at time_ms (a revoked token keeps its first time). RP_E_NOT_FOUND. */
rp_status rp_store_enroll_token_revoke(rp_store *st, const char *id, int64_t time_ms,
				       rp_store_done_fn done, void *ctx);

/* One enrollment (simpleenroll) or renewal (simplereenroll). */
typedef struct rp_store_enrollment {
	const char *device_id;
	/* The token that authenticated it (its hash), or NULL (a factory
	 * certificate, a renewal). */
	const char *token_hash;
	/* A renewal: the serial of the certificate that authenticated it, or
	 * NULL. */
	const char *renew_serial;
	/* The device's model after enrollment; NULL leaves it (a new device
	 * gets ""). */
	const char *model;
	/* set_tags 1: the device's tags become tags[0 .. ntags) (device tag rules). */
	int set_tags;
	const char *const *tags;
	size_t ntags;
	/* The certificate issued: serial, fingerprint, not_after_ms (device_id
	 * and status are ignored). */
	rp_store_cert cert;
	int64_t now_ms;
} rp_store_enrollment;

/*
 * Records an enrollment in ONE transaction, every check before anything is
 * written:
 *  1. the device, if it exists, is neither revoked nor decommissioned
 *     (else RP_E_STATE);
 *  2. renew_serial, if set, names a valid (not revoked) certificate of this
 *     device (else RP_E_DENIED);
 *  3. token_hash, if set, names a token that is not revoked, not expired
 *     at now_ms and has uses left; its use is counted here, atomically
 *     (compare-and-set: two enrollments racing for the last use cannot
 *     both pass; the loser gets RP_E_DENIED);
 *  4. the device is created (status active, created now_ms) or kept (its
 *     status stays: a quarantined device stays quarantined); model and
 *     tags are set as asked;
 *  5. the certificate is added (valid).
 * Returns RP_OK; RP_E_STATE; RP_E_DENIED; RP_E_EXISTS (the serial).
 */
rp_status rp_store_enroll(rp_store *st, const rp_store_enrollment *e, rp_store_done_fn done,
			  void *ctx);

/* ------------------------------------------------------------------------
 * Audit log: append-only, hash chained (docs/store.md, "Audit chain")
 * ------------------------------------------------------------------------ */

typedef struct rp_store_audit_entry {
	int64_t id; /* assigned by append: 1, 2, 3, ... without gaps */
	int64_t time_ms;
	const char *actor;  /* operator, device or "system"; 1 .. RP_LIMIT_STORE_ID_LEN */
	const char *action; /* "device.revoke", ...; 1 .. RP_LIMIT_STORE_TEXT_LEN */
	const char *target; /* RP_LIMIT_STORE_TEXT_LEN; "" allowed */
	const char *source; /* address the action came from; "" allowed */
	const char *detail; /* JSON text, RP_LIMIT_STORE_JSON_LEN; "" allowed */
	const char *hash;   /* output: SHA-256 chain value, 64 lowercase hex digits */
} rp_store_audit_entry;

/*
 * Appends an entry: reads the chain head, computes
 * hash = SHA-256(previous hash || encoding(entry)), inserts the entry and
 * moves the head, all in one transaction (with PostgreSQL the head row is
 * locked, so appends from several nodes still form one chain). *id (may be
 * NULL) receives the entry's id. e->id and e->hash are ignored.
 */
rp_status rp_store_audit_append(rp_store *st, const rp_store_audit_entry *e, int64_t *id,
				rp_store_done_fn done, void *ctx);

typedef struct rp_store_audit_filter {
	const char *actor;      /* NULL: any */
	const char *action;     /* NULL: any */
	const char *target;     /* NULL: any */
	int64_t from_ms, to_ms; /* [from, to); to 0: no upper bound */
	int descending;         /* 1: newest first */
	int64_t after_id;       /* keyset: ids beyond this in the chosen order; 0: first page */
	size_t limit;           /* 1 .. RP_LIMIT_STORE_PAGE */
} rp_store_audit_filter;

rp_status rp_store_audit_query(rp_store *st, const rp_store_audit_filter *f,
			       rp_store_audit_entry **out, size_t *n, rp_store_done_fn done,
			       void *ctx);

/*
 * Recomputes the chain from the first entry up to the head as it was when
 * verification started (entries appended meanwhile are not looked at), in
 * pages. RP_OK with *first_bad = 0 if every entry is intact; RP_E_CRYPTO
 * with *first_bad = the id of the first broken entry: one whose content or
 * hash was changed, the first id of a run of deleted entries, the first of
 * two swapped entries, or, when entries were cut from the end, the first
 * id missing before the head. *checked (may be NULL) receives the number
 * of entries verified.
 */
rp_status rp_store_audit_verify(rp_store *st, int64_t *first_bad, uint64_t *checked,
				rp_store_done_fn done, void *ctx);

#endif /* RP_SERVER_STORE_H */
