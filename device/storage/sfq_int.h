/*
 * device/storage/sfq_int.h - the store-and-forward queue's on-disk format,
 * for its tests and its fuzz target (tests/fuzz/fuzz_sfq.c). The format is
 * described in docs/storage.md; sfq.c is its only writer.
 */
#ifndef RP_DEVICE_SFQ_INT_H
#define RP_DEVICE_SFQ_INT_H

#include <stddef.h>
#include <stdint.h>

#include "rampart/sfq.h"
#include "rampart/status.h"

/* Segment header: magic "RQSG", version, 3 zero bytes, first sequence
 * number, queue id, salt, then a truncated HMAC of the 48 bytes before. */
#define RP__SFQ_SEG_FIRST_OFF 8u
#define RP__SFQ_SEG_QID_OFF   16u
#define RP__SFQ_SEG_SALT_OFF  32u
#define RP__SFQ_SEG_MAC_OFF   48u
#define RP__SFQ_ID_LEN        16u

/* Record header: magic "RQR1", payload length, sequence number, nonce. */
#define RP__SFQ_REC_HDR   28u
#define RP__SFQ_REC_LEN   4u
#define RP__SFQ_REC_SEQ   8u
#define RP__SFQ_REC_NONCE 16u

/* The state file: two slots of this size; "state" in the directory. */
#define RP__SFQ_STATE_SLOT 88u
#define RP__SFQ_STATE_NAME "state"

/* Sequence numbers stay below this (no arithmetic on them can wrap). */
#define RP__SFQ_SEQ_MAX ((uint64_t)1 << 62)

/*
 * Recomputes the MAC of a segment header hdr[0 .. RP_SFQ_SEGMENT_HEADER)
 * with the queue key derived from key, in place. For the fuzz target,
 * which holds the key and so may write any header it likes: the records
 * after it are still authenticated by their own tags. Returns RP_OK or
 * RP_E_CRYPTO.
 */
rp_status rp__sfq_header_sign(const uint8_t key[RP_STORAGE_KEY_LEN], uint8_t *hdr);

/*
 * Writes a fresh state file into the queue directory dir (which must not
 * have one) for queue id qid, with head 1 and zero counters, as
 * rp_sfq_open() does for a new queue. For the fuzz target, which makes a
 * state file that matches a segment file it was given. Returns RP_OK;
 * RP_E_EXISTS; RP_E_IO; RP_E_CONFIG; RP_E_CRYPTO.
 */
rp_status rp__sfq_state_create(const char *dir, const uint8_t key[RP_STORAGE_KEY_LEN],
			       const uint8_t qid[RP__SFQ_ID_LEN]);

#endif /* RP_DEVICE_SFQ_INT_H */
