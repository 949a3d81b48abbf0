/*
 * rampart/sfq.h - the device's store-and-forward queue: telemetry kept in
 * an encrypted, bounded queue on disk while the device is offline, and
 * delivered in order when it is back.
 *
 * The queue is a directory of append-only segment files and one state
 * file. Each record is encrypted and authenticated (ChaCha20-Poly1305) with
 * its header (length, sequence number) as associated data, under a key
 * derived from the caller's data key and the segment's random salt: a
 * record cannot be read without the key, nor edited, moved, reordered,
 * spliced from another segment or queue, or truncated without detection.
 * docs/storage.md has the formats, the recovery rules and the threat model.
 *
 * A typical agent:
 *
 *     rp_storage_key_load_or_create("/var/lib/rampart/data.key", key);
 *     rp_sfq_open("/var/lib/rampart/queue", key, &opts, &q);
 *     OPENSSL_cleanse(key, sizeof(key));
 *     on each sample:   rp_sfq_push(q, buf, len);      (RP_E_BUSY: stop sampling)
 *     when connected:   while (rp_sfq_peek(q, buf, cap, &len, &seq) == RP_OK) {
 *                           publish buf at QoS 1; wait for its PUBACK;
 *                           rp_sfq_pop(q, seq);
 *                       }
 *     rp_sfq_close(q);
 *
 * Delivery is at least once, in push order. A record leaves the queue only
 * when rp_sfq_pop() acknowledges it; a record read but not acknowledged
 * before a crash or a restart is read again. Sequence numbers are local
 * handles for rp_sfq_pop(), not message identities: a sequence number whose
 * push did not complete (a power cut, an I/O error) is given to the next
 * push. A message that must be recognised as a duplicate by the server
 * carries its own identity (a SenML time, a counter).
 *
 * Durability: rp_sfq_push() returns RP_OK only after the record is written
 * and fdatasync()ed (and its segment's directory entry synced), unless
 * opts.sync_every batches syncs: then a power cut may lose the records
 * pushed since the last sync (at most sync_every - 1 of them), never any
 * older record. A power cut during a push loses at most the record being
 * written; recovery at the next open cuts it off. Damage elsewhere (a bit
 * flip, a garbled sector, a file edited by someone without the key) is
 * never delivered: the damaged records are skipped, counted in
 * rp_sfq_stats().lost, and every record that can still be authenticated is
 * delivered, in order.
 *
 * Conventions
 * - Memory: rp_sfq_open() allocates the queue (a small index of segments
 *   and one record buffer); rp_sfq_close() frees it. Caller buffers are
 *   `const uint8_t *data, size_t len` in and `uint8_t *out, size_t cap,
 *   size_t *out_len` out.
 * - Keys: the data key is used during rp_sfq_open() only, to derive the
 *   queue's keys; the caller may wipe it once the call returns. Derived
 *   keys live in the rp_sfq and are wiped by rp_sfq_close().
 * - NULL is allowed only where a comment says so; elsewhere it gives
 *   RP_E_INVALID_ARG.
 * - Threads: a queue is used by one thread at a time (the caller locks).
 *   A queue directory is opened by one rp_sfq at a time, in any process:
 *   rp_sfq_open() takes an exclusive lock (flock) on it and returns
 *   RP_E_BUSY when another holds it.
 * - Errors: a failed call changes nothing the caller can see, except where
 *   its comment says otherwise. RP_E_BUSY from rp_sfq_push() is back
 *   pressure, not a failure.
 * - Directories: the queue directory is created with mode 0700 when
 *   missing (its parent must exist); an existing one MUST be owned by the
 *   calling user (or root) and MUST NOT be writable by group or others.
 *   Files in it are 0600. It belongs to the queue: rp_sfq_open() deletes
 *   the temporary files ".tmp-*" in it (so do not keep sealed values
 *   there); files of other names are left alone.
 * - Nothing here logs; the counters of rp_sfq_stats() are how loss is
 *   reported, for the application to send to the server.
 */
#ifndef RAMPART_SFQ_H
#define RAMPART_SFQ_H

#include <stddef.h>
#include <stdint.h>

#include "rampart/limits.h"
#include "rampart/sealed.h"
#include "rampart/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes a record takes on disk beyond its payload: header (28) and tag (16). */
#define RP_SFQ_RECORD_OVERHEAD 44u
/* Bytes of a segment file's header. */
#define RP_SFQ_SEGMENT_HEADER 64u
/* Default disk budget of a queue (opts.max_bytes 0). */
#define RP_SFQ_DEFAULT_MAX_BYTES (1024u * 1024u)

/* What rp_sfq_push() does when the queue is full. */
typedef enum rp_sfq_policy {
	/*
	 * Make room by deleting the oldest segment file, with every record in
	 * it that was not acknowledged yet (counted in stats.dropped). Room is
	 * made a segment at a time: a full queue loses about segment_bytes of
	 * its oldest records at once.
	 */
	RP_SFQ_DROP_OLDEST = 0,
	/* Keep what is queued; rp_sfq_push() returns RP_E_BUSY ("stop sampling"). */
	RP_SFQ_REFUSE = 1
} rp_sfq_policy;

/* Options, read once by rp_sfq_open(). A zero field takes its default. */
typedef struct rp_sfq_opts {
	/*
	 * Disk budget: the sum of the sizes of the segment files (the state
	 * file, 176 bytes, is not counted). Default RP_SFQ_DEFAULT_MAX_BYTES.
	 * At least 2 * segment_bytes, and at most RP_LIMIT_SFQ_SEGMENTS / 2
	 * segments.
	 */
	uint64_t max_bytes;
	/*
	 * Size at which a segment file is closed and the next one started.
	 * Default RP_DEFAULT_SFQ_SEGMENT, at most RP_LIMIT_SFQ_SEGMENT, at
	 * least RP_SFQ_SEGMENT_HEADER + RP_SFQ_RECORD_OVERHEAD + max_record.
	 */
	uint32_t segment_bytes;
	/* Largest payload push accepts. Default RP_DEFAULT_SFQ_RECORD, cap RP_LIMIT_SFQ_RECORD. */
	uint32_t max_record;
	/* When full. Default (0) RP_SFQ_DROP_OLDEST. */
	rp_sfq_policy policy;
	/*
	 * fdatasync() after every sync_every-th push (0 or 1: every push).
	 * Records pushed since the last sync are lost if the power fails
	 * before the next; rp_sfq_sync() and rp_sfq_close() sync at once.
	 */
	uint32_t sync_every;
	/*
	 * Write the consumed position to disk after every ack_sync_every-th
	 * rp_sfq_pop() (0 or 1: every pop). After a crash, at most
	 * ack_sync_every - 1 acknowledged records are delivered again. It is
	 * also written when a segment file is deleted and by rp_sfq_close().
	 */
	uint32_t ack_sync_every;
} rp_sfq_opts;

/* Counters and sizes of a queue. */
typedef struct rp_sfq_stats {
	uint64_t count; /* records queued and not acknowledged (a damaged one is
			   counted until a read finds it out) */
	uint64_t bytes; /* sum of the sizes of the segment files */
	/*
	 * Totals over the life of the queue directory (kept in its state
	 * file, so they survive restarts; after a crash they may miss the
	 * events since the state was last written):
	 */
	uint64_t dropped; /* records deleted unacknowledged by RP_SFQ_DROP_OLDEST */
	uint64_t lost;    /* records found damaged or missing, never delivered */
	uint64_t torn;    /* times recovery cut a torn tail off the newest segment
			     (a write a power cut interrupted: one record, or the
			     unsynced ones with sync_every > 1) */
	/* segment files deleted because their header did not authenticate;
	   their records are lost, counted in `lost` only where a later segment
	   shows how many there were */
	uint64_t bad_segments;
	uint64_t head; /* sequence number of the oldest unacknowledged record */
	uint64_t tail; /* sequence number the next push gets */
} rp_sfq_stats;

/* An open queue (opaque). */
typedef struct rp_sfq rp_sfq;

/*
 * Opens (creating when needed) the queue in directory `dir` with the data
 * key `key`, and recovers it: leftover temporary files are deleted; a
 * record torn by a power cut at the end of the newest segment is cut off
 * (stats.torn); a damaged record or header anywhere else is skipped, the
 * records after it in the same segment found again by searching for the
 * next record that authenticates; a segment file whose header does not
 * authenticate is deleted. Nothing unauthenticated is ever delivered.
 * opts may be NULL (all defaults).
 *
 * Returns RP_OK with *out; RP_E_INVALID_ARG (NULL, or options out of
 * range); RP_E_CRYPTO (the state file does not authenticate: a wrong key,
 * or the state file is damaged; or segment files are there without a
 * state file; nothing on disk is changed then); RP_E_BUSY (another rp_sfq
 * holds the directory); RP_E_CONFIG (the directory or a file in it is not
 * private, not owned by the caller, not of the expected type, or a
 * segment is of another format version: refused, not deleted);
 * RP_E_LIMIT (more than RP_LIMIT_SFQ_SEGMENTS segment files);
 * RP_E_NOT_FOUND (the parent of dir does not exist); RP_E_IO; RP_E_NOMEM;
 * RP_E_INTERNAL (the cipher failed). After RP_E_IO or RP_E_NOMEM, recovery
 * may have done part of its work; the next open does the rest.
 */
rp_status rp_sfq_open(const char *dir, const uint8_t key[RP_STORAGE_KEY_LEN],
		      const rp_sfq_opts *opts, rp_sfq **out);

/*
 * Syncs what is pending (records, consumed position, counters), wipes the
 * keys and frees q. q may be NULL. Returns RP_OK, or RP_E_IO when a final
 * write or sync failed (q is freed all the same; the records pushed since
 * the last sync may be lost, nothing older).
 */
rp_status rp_sfq_close(rp_sfq *q);

/*
 * Appends data[0 .. len) (len at most opts.max_record; 0 is allowed) as
 * the newest record. When the queue would exceed max_bytes, the policy
 * applies first: RP_SFQ_DROP_OLDEST deletes the oldest segments until the
 * record fits (stats.dropped counts their unacknowledged records);
 * RP_SFQ_REFUSE changes nothing and returns RP_E_BUSY.
 *
 * Returns RP_OK (durable, unless opts.sync_every batches syncs);
 * RP_E_BUSY (full, RP_SFQ_REFUSE); RP_E_TOO_LARGE (len over max_record);
 * RP_E_IO (a write or sync failed: the record is not queued, and the bytes
 * written of it are cut off again; if even that fails, the segment is
 * closed and the next push starts a new one); RP_E_LIMIT (sequence numbers
 * exhausted, after 2^62 records); RP_E_CRYPTO; RP_E_NOMEM;
 * RP_E_INVALID_ARG. RP_E_IO after the policy dropped segments leaves them
 * dropped.
 */
rp_status rp_sfq_push(rp_sfq *q, const uint8_t *data, size_t len);

/*
 * Reads the oldest unacknowledged record into out[0 .. cap), its length
 * into *out_len and its sequence number into *seq, after authenticating
 * it. The record stays queued until rp_sfq_pop(); peeking again returns it
 * again. Records found damaged or missing on the way are skipped for good
 * and counted in stats.lost (so this call may change the head).
 *
 * Returns RP_OK; RP_E_NOT_FOUND (nothing queued; *out_len 0);
 * RP_E_BUF_TOO_SMALL (*out_len is the record's length and *seq its
 * number; nothing was read into out); RP_E_IO or RP_E_INTERNAL (a read or
 * the cipher failed: nothing is skipped because of it, the next peek tries
 * again); RP_E_INVALID_ARG. On any failure out holds nothing of a record.
 */
rp_status rp_sfq_peek(rp_sfq *q, uint8_t *out, size_t cap, size_t *out_len, uint64_t *seq);

/*
 * Acknowledges every record with a sequence number up to and including
 * seq (normally the one rp_sfq_peek() returned, after the server
 * acknowledged it). Segment files with nothing left are deleted. The
 * consumed position is written as opts.ack_sync_every says (always
 * before a segment file is deleted).
 *
 * Returns RP_OK (also when seq was already acknowledged: acknowledgements
 * may repeat); RP_E_NOT_FOUND (seq was never given out: seq >= tail);
 * RP_E_IO (the position could not be written, or a consumed segment file
 * could not be deleted: it is acknowledged in memory all the same, and
 * written or deleted at a later pop, sync or close); RP_E_INVALID_ARG.
 */
rp_status rp_sfq_pop(rp_sfq *q, uint64_t seq);

/*
 * Syncs the records pushed since the last sync and the consumed position.
 * Returns RP_OK, RP_E_IO or RP_E_INVALID_ARG.
 */
rp_status rp_sfq_sync(rp_sfq *q);

/* Fills *out. Returns RP_OK or RP_E_INVALID_ARG. */
rp_status rp_sfq_stats_get(const rp_sfq *q, rp_sfq_stats *out);

/* Shorthands for rp_sfq_stats_get(): 0 when q is NULL. */
uint64_t rp_sfq_count(const rp_sfq *q);
uint64_t rp_sfq_bytes(const rp_sfq *q);
uint64_t rp_sfq_dropped(const rp_sfq *q);

#ifdef __cplusplus
}
#endif

#endif /* RAMPART_SFQ_H */
