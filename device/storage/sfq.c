/*
 * sfq.c - the store-and-forward queue (rampart/sfq.h).
 *
 * Implementation notes
 *
 * Files, in the queue directory (formats in docs/storage.md):
 * - "state": two 88-byte slots, each {magic, version, generation, head,
 *   dropped, lost, torn, bad segments, queue id} with a truncated
 *   HMAC-SHA256. A write goes to the slot of the older generation, then
 *   fdatasync(); the slot with the highest generation that authenticates
 *   is the state. A write torn by a power cut spoils only the slot being
 *   written. Made atomically (temporary file, link) when the queue is
 *   created, before any segment.
 * - "<first sequence number, 16 hex digits>.seg": a segment. A 64-byte
 *   header {magic, version, first sequence number, queue id, salt, HMAC},
 *   made atomically, then records appended one write() each:
 *   {magic "RQR1", length, sequence number, nonce} + ciphertext + tag.
 * - ".tmp-*": a temporary file; one left by a power cut is deleted at open.
 *
 * Keys: HKDF-SHA256 from the caller's data key gives a state key, a header
 * key and a record root key; each segment's record key is HKDF of the root
 * key with the queue id and the segment's random salt. Records are sealed
 * with ChaCha20-Poly1305 under the segment key with a random 96-bit nonce,
 * the 28-byte record header as associated data.
 *
 * Nonces never repeat under one key: each segment has its own key, and a
 * segment holds at most RP_LIMIT_SFQ_SEGMENT / 44 < 2^19 records, so the
 * chance that two random nonces of one segment collide is below
 * 2^38 / 2^97 = 2^-59 per segment. Recovery may give a torn record's
 * sequence number to a new record in the same segment; its nonce is new
 * random bytes, not a function of the sequence number, so that is safe.
 *
 * State in memory:
 * - segs[0 .. n): the segment files, oldest first. Each holds extents:
 *   runs of records that are contiguous on disk and in sequence numbers
 *   (ext.first .. ext.end - 1 at ext.off .. ext.end_off). A segment has one
 *   extent unless recovery found damage in its middle.
 * - head: the oldest unacknowledged sequence number; tail: the next one to
 *   give out. Every sequence number in [head, tail) is either in an extent
 *   (present) or missing (damaged, or in a deleted file): a missing one is
 *   counted in `lost` when head passes it, once, and since the counters
 *   are written in the same state slot as head, a crash cannot make them
 *   count it twice.
 * - the read cursor: where the record `head` is, so that peek/pop do not
 *   walk the segment again.
 * - writable: segs[n - 1] takes appends (its last extent ends at its end
 *   of file and at tail). After any failure to restore it, it does not,
 *   and the next push starts a new segment.
 *
 * Invariants:
 * - Nothing is given to the caller before its tag verified; a record that
 *   fails is wiped from the caller's buffer, skipped and counted.
 * - The state (head) is written before a segment file is deleted, so a
 *   crash can never leave head behind a deleted segment's records.
 * - A segment's header and a record's header are read from disk, so every
 *   length and sequence number in them is attacker-controlled: each is
 *   bounded (RP_LIMIT_SFQ_RECORD, RP__SFQ_SEQ_MAX, the file size) before it
 *   is used, and sums of them cannot wrap.
 * - Recovery only truncates the newest segment, only from its first
 *   failure that no later record explains, and syncs the cut before the
 *   state counts it; it deletes temporary files (after the key checked),
 *   segments whose header does not authenticate or that overlap an older
 *   one, and segments with nothing unacknowledged; nothing else.
 *
 * Attacker: whoever can write the queue directory's files but does not
 * hold the data key (a flash image edited offline, a corrupting medium, a
 * power cut at the worst time). They can delete data (that is detected as
 * a gap, or not at all at the tail of the newest segment, which looks like
 * a power cut) and roll the state file back (acknowledged records are
 * delivered again: at least once); they cannot make a forged, altered,
 * reordered or duplicated record delivered.
 */
#include "storage/sfq_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "storage/storage_int.h"

#define SEG_HDR  RP_SFQ_SEGMENT_HEADER
#define REC_HDR  RP__SFQ_REC_HDR
#define REC_OVH  RP_SFQ_RECORD_OVERHEAD
#define TAG_LEN  RP__STORAGE_TAG_LEN
#define SLOT     RP__SFQ_STATE_SLOT
#define ID_LEN   RP__SFQ_ID_LEN
#define KEY_LEN  RP_STORAGE_KEY_LEN
#define SEQ_MAX  RP__SFQ_SEQ_MAX
#define VERSION  1u
#define NAME_LEN 20u /* 16 hex digits and ".seg" */

/* A search for the next good record after damage verifies at most this many
 * candidates: garbage full of fake headers costs bounded work. */
#define RESYNC_TRIES 64u
/* Bytes searched per read during a resync, and per read of a verify. */
#define WINDOW (64u * 1024u)
#define CHUNK  4096u

/* State slot layout. */
#define ST_GEN     8u
#define ST_HEAD    16u
#define ST_DROPPED 24u
#define ST_LOST    32u
#define ST_TORN    40u
#define ST_BADSEG  48u
#define ST_QID     56u
#define ST_MAC     72u

static const uint8_t seg_magic[4] = {'R', 'Q', 'S', 'G'};
static const uint8_t rec_magic[4] = {'R', 'Q', 'R', '1'};
static const uint8_t state_magic[4] = {'R', 'Q', 'S', 'T'};

struct ext {
	uint64_t off;     /* offset of the first record */
	uint64_t end_off; /* offset just past the last record */
	uint64_t first;   /* sequence number of the first record */
	uint64_t end;     /* one past the last record's */
};

struct seg {
	uint64_t first;        /* from the header (equal to the file name) */
	uint64_t size;         /* bytes of the file */
	uint8_t key[KEY_LEN];  /* the segment's record key */
	struct ext *ext;       /* extents, in order */
	size_t n_ext, cap_ext; /* used and allocated */
};

struct rp_sfq {
	int dirfd;   /* the directory, flock()ed */
	int statefd; /* "state", read-write */
	int wfd;     /* segs[n - 1] when writable, else -1 */
	int rfd;     /* the segment the reader is in, or -1 */
	uint64_t rfd_first;
	uint8_t k_state[KEY_LEN], k_hdr[KEY_LEN], k_rec[KEY_LEN];
	uint8_t qid[ID_LEN];
	rp_sfq_opts o; /* effective options */

	struct seg *segs;
	size_t n, cap;
	int writable;

	uint64_t head, tail, bytes;
	uint64_t gen, dropped, lost, torn, bad_segs; /* as in the state file, once written */
	int dirty;                                   /* state changed since written */
	uint32_t unsynced_pushes, unsynced_pops;

	/* Read cursor: record cur_seq (== head) of segs[cur_seg].ext[cur_ext]. */
	int cur_ok, cur_len_ok;
	size_t cur_seg, cur_ext;
	uint64_t cur_off, cur_seq;
	uint32_t cur_len;

	uint8_t *rec; /* one record being written (ciphertext only) */
	EVP_CIPHER_CTX *ctx;
};

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

static void seg_name(uint64_t first, char name[NAME_LEN + 1])
{
	(void)snprintf(name, NAME_LEN + 1, "%016" PRIx64 ".seg", first);
}

/* 1 with *first when name is a segment file name (exactly as seg_name writes it). */
static int seg_name_parse(const char *name, uint64_t *first)
{
	uint64_t v = 0;
	size_t i;
	char c;

	if (strlen(name) != NAME_LEN || strcmp(name + 16, ".seg") != 0) {
		return 0;
	}
	for (i = 0; i < 16; i++) {
		c = name[i];
		if (c >= '0' && c <= '9') {
			v = (v << 4) | (uint64_t)(c - '0');
		} else if (c >= 'a' && c <= 'f') {
			v = (v << 4) | (uint64_t)(c - 'a' + 10);
		} else {
			return 0;
		}
	}
	*first = v;
	return 1;
}

static uint64_t seg_end(const struct seg *s)
{
	return s->n_ext != 0 ? s->ext[s->n_ext - 1].end : s->first;
}

/* Records present (in extents) with sequence numbers in [a, b). */
static uint64_t present(const rp_sfq *q, uint64_t a, uint64_t b)
{
	uint64_t total = 0, lo, hi;
	size_t i, j;

	for (i = 0; i < q->n; i++) {
		for (j = 0; j < q->segs[i].n_ext; j++) {
			lo = q->segs[i].ext[j].first > a ? q->segs[i].ext[j].first : a;
			hi = q->segs[i].ext[j].end < b ? q->segs[i].ext[j].end : b;
			if (hi > lo) {
				total += hi - lo;
			}
		}
	}
	return total;
}

/* Moves head to h (> head), counting what was missing on the way as lost. */
static void head_skip_to(rp_sfq *q, uint64_t h)
{
	if (h <= q->head) {
		return;
	}
	q->lost += (h - q->head) - present(q, q->head, h);
	q->head = h;
	q->dirty = 1;
	q->cur_ok = 0;
}

static void seg_free(struct seg *s)
{
	OPENSSL_cleanse(s->key, sizeof(s->key));
	free(s->ext);
	s->ext = NULL;
	s->n_ext = s->cap_ext = 0;
}

static rp_status seg_derive_key(const rp_sfq *q, const uint8_t *salt, uint8_t key[KEY_LEN])
{
	uint8_t s[2 * ID_LEN];

	memcpy(s, q->qid, ID_LEN);
	memcpy(s + ID_LEN, salt, ID_LEN);
	return rp__storage_kdf(q->k_rec, s, sizeof(s), "rampart sfq v1 segment", key);
}

/* Appends an extent starting at off with sequence number first. */
static rp_status ext_open(struct seg *s, uint64_t off, uint64_t first)
{
	struct ext *e;
	size_t cap;

	if (s->n_ext == s->cap_ext) {
		cap = s->cap_ext != 0 ? 2 * s->cap_ext : 1;
		e = realloc(s->ext, cap * sizeof(*e));
		if (e == NULL) {
			return RP_E_NOMEM;
		}
		s->ext = e;
		s->cap_ext = cap;
	}
	s->ext[s->n_ext].off = off;
	s->ext[s->n_ext].end_off = off;
	s->ext[s->n_ext].first = first;
	s->ext[s->n_ext].end = first;
	s->n_ext++;
	return RP_OK;
}

/*
 * 1 when h is a plausible record header at pos for sequence number
 * `expected`, whose record ends within limit. Attacker-controlled: the
 * length is bounded before it is added to anything.
 */
static int rec_parse(const uint8_t *h, uint64_t expected, uint64_t pos, uint64_t limit,
		     uint32_t *len)
{
	uint32_t n = rp__storage_get_u32(h + RP__SFQ_REC_LEN);

	if (memcmp(h, rec_magic, sizeof(rec_magic)) != 0 || n > RP_LIMIT_SFQ_RECORD ||
	    rp__storage_get_u64(h + RP__SFQ_REC_SEQ) != expected || pos > limit ||
	    limit - pos < (uint64_t)REC_OVH + n) {
		return 0;
	}
	*len = n;
	return 1;
}

/*
 * Authenticates the record at pos of fd (header h, payload length len)
 * without keeping its plaintext. Returns RP_OK; RP_E_CRYPTO (it does not
 * authenticate, or the file ends inside it); RP_E_IO; RP_E_INTERNAL (the
 * cipher itself failed: not a verdict on the record).
 */
static rp_status rec_verify(rp_sfq *q, int fd, const uint8_t *key, uint64_t pos, const uint8_t *h,
			    uint32_t len)
{
	uint8_t ct[CHUNK], pt[CHUNK], tag[TAG_LEN];
	uint64_t off = pos + REC_HDR;
	size_t n, got;
	uint32_t left = len;
	rp_status ret;

	ret = rp__storage_aead_start(q->ctx, 0, key, h + RP__SFQ_REC_NONCE, h, REC_HDR);
	if (ret != RP_OK) {
		return RP_E_INTERNAL;
	}
	while (ret == RP_OK && left != 0) {
		n = left < CHUNK ? left : CHUNK;
		ret = rp__storage_pread_full(fd, ct, n, off, &got);
		if (ret == RP_OK && got != n) {
			ret = RP_E_CRYPTO;
		}
		if (ret == RP_OK && rp__storage_aead_update(q->ctx, ct, pt, n) != RP_OK) {
			ret = RP_E_INTERNAL;
		}
		off += n;
		left -= (uint32_t)n;
	}
	if (ret == RP_OK) {
		ret = rp__storage_pread_full(fd, tag, sizeof(tag), off, &got);
		if (ret == RP_OK && got != sizeof(tag)) {
			ret = RP_E_CRYPTO;
		}
	}
	if (ret == RP_OK) {
		ret = rp__storage_aead_verify(q->ctx, tag);
	}
	OPENSSL_cleanse(pt, sizeof(pt));
	return ret;
}

/*
 * After damage at from - 1: finds the first offset p >= from, before size,
 * holding a record that authenticates, with a sequence number s from
 * expected up to as many records as could have been lost in between.
 * Returns RP_OK with *pos and *seq; RP_E_NOT_FOUND; RP_E_IO; RP_E_NOMEM.
 */
static rp_status resync(rp_sfq *q, int fd, const uint8_t *key, uint64_t from, uint64_t size,
			uint64_t expected, uint64_t *pos, uint64_t *seq)
{
	uint8_t *win;
	uint64_t p0 = from, p, s;
	size_t got, i, want;
	unsigned tries = 0;
	uint32_t len;
	rp_status ret = RP_E_NOT_FOUND, st;

	win = malloc(WINDOW);
	if (win == NULL) {
		return RP_E_NOMEM;
	}
	while (p0 < size && size - p0 >= REC_OVH) {
		want = size - p0 < WINDOW ? (size_t)(size - p0) : WINDOW;
		st = rp__storage_pread_full(fd, win, want, p0, &got);
		if (st != RP_OK) {
			ret = st;
			goto out;
		}
		for (i = 0; i + REC_HDR <= got; i++) {
			if (memcmp(win + i, rec_magic, sizeof(rec_magic)) != 0) {
				continue;
			}
			p = p0 + i;
			len = rp__storage_get_u32(win + i + RP__SFQ_REC_LEN);
			s = rp__storage_get_u64(win + i + RP__SFQ_REC_SEQ);
			if (len > RP_LIMIT_SFQ_RECORD || size - p < (uint64_t)REC_OVH + len ||
			    s < expected || s >= SEQ_MAX ||
			    s - expected > (p - from + 1) / REC_OVH + 1) {
				continue;
			}
			if (tries++ >= RESYNC_TRIES) {
				goto out;
			}
			st = rec_verify(q, fd, key, p, win + i, len);
			if (st == RP_OK) {
				*pos = p;
				*seq = s;
				ret = RP_OK;
				goto out;
			}
			if (st != RP_E_CRYPTO) {
				ret = st;
				goto out;
			}
		}
		if (got < want || p0 + got >= size) {
			break;
		}
		p0 += got - (REC_HDR - 1);
	}
out:
	free(win);
	return ret;
}

/* ------------------------------------------------------------------------
 * State file
 * ------------------------------------------------------------------------ */

/* The counters of a state slot, besides its generation and queue id. */
struct counters {
	uint64_t head, dropped, lost, torn, bad_segs;
};

static rp_status state_encode(const uint8_t k_state[KEY_LEN], const uint8_t qid[ID_LEN],
			      uint64_t gen, const struct counters *c, uint8_t slot[SLOT])
{
	memset(slot, 0, SLOT);
	memcpy(slot, state_magic, sizeof(state_magic));
	slot[4] = VERSION;
	rp__storage_put_u64(slot + ST_GEN, gen);
	rp__storage_put_u64(slot + ST_HEAD, c->head);
	rp__storage_put_u64(slot + ST_DROPPED, c->dropped);
	rp__storage_put_u64(slot + ST_LOST, c->lost);
	rp__storage_put_u64(slot + ST_TORN, c->torn);
	rp__storage_put_u64(slot + ST_BADSEG, c->bad_segs);
	memcpy(slot + ST_QID, qid, ID_LEN);
	return rp__storage_mac(k_state, slot, ST_MAC, slot + ST_MAC);
}

/* A new state file for queue id qid (both slots, generations 0 and 1). */
static rp_status state_create(int dirfd, const uint8_t k_state[KEY_LEN], const uint8_t qid[ID_LEN])
{
	const struct counters c = {.head = 1};
	uint8_t file[2 * SLOT];
	rp_status ret;

	ret = state_encode(k_state, qid, 0, &c, file);
	if (ret == RP_OK) {
		ret = state_encode(k_state, qid, 1, &c, file + SLOT);
	}
	if (ret == RP_OK) {
		ret = rp__storage_write_atomic(dirfd, RP__SFQ_STATE_NAME, file, sizeof(file), 0);
	}
	return ret;
}

/* Writes the state to the slot of the older generation, then syncs. */
static rp_status state_write(rp_sfq *q)
{
	const struct counters c = {q->head, q->dropped, q->lost, q->torn, q->bad_segs};
	uint8_t slot[SLOT];
	uint64_t gen = q->gen + 1;
	rp_status ret;

	ret = state_encode(q->k_state, q->qid, gen, &c, slot);
	if (ret == RP_OK) {
		ret = rp__storage_pwrite_all(q->statefd, slot, SLOT, (gen & 1u) * SLOT);
	}
	if (ret == RP_OK) {
		ret = rp__storage_datasync(q->statefd);
	}
	if (ret != RP_OK) {
		return ret == RP_E_CRYPTO ? ret : RP_E_IO;
	}
	q->gen = gen;
	q->dirty = 0;
	q->unsynced_pops = 0;
	return RP_OK;
}

/*
 * Loads the state, or makes it when the directory has no state file and
 * no segment. Returns RP_OK; RP_E_CRYPTO (no slot authenticates, or
 * segments without a state file); RP_E_CONFIG; RP_E_IO.
 */
static rp_status state_load(rp_sfq *q, size_t n_seg_files)
{
	uint8_t file[2 * SLOT + 1], *slot;
	uint64_t size = 0, gen;
	size_t got = 0, i;
	rp_status ret;
	int fd = -1, found = 0;

	ret = rp__storage_file_open(q->dirfd, RP__SFQ_STATE_NAME, O_RDWR, &fd, &size);
	if (ret == RP_E_NOT_FOUND) {
		if (n_seg_files != 0) {
			return RP_E_CRYPTO;
		}
		ret = rp__storage_random(q->qid, ID_LEN);
		if (ret == RP_OK) {
			ret = state_create(q->dirfd, q->k_state, q->qid);
		}
		if (ret != RP_OK) {
			return ret == RP_E_EXISTS ? RP_E_IO : ret;
		}
		ret = rp__storage_file_open(q->dirfd, RP__SFQ_STATE_NAME, O_RDWR, &fd, &size);
	}
	if (ret != RP_OK) {
		return ret;
	}
	ret = rp__storage_pread_full(fd, file, sizeof(file), 0, &got);
	if (ret != RP_OK) {
		goto out;
	}
	ret = RP_E_CRYPTO;
	if (got != 2 * SLOT) {
		goto out;
	}
	for (i = 0; i < 2; i++) {
		slot = file + i * SLOT;
		if (memcmp(slot, state_magic, sizeof(state_magic)) != 0 || slot[4] != VERSION ||
		    !rp__storage_mac_ok(q->k_state, slot, ST_MAC, slot + ST_MAC)) {
			continue;
		}
		gen = rp__storage_get_u64(slot + ST_GEN);
		if (found && gen <= q->gen) {
			continue;
		}
		found = 1;
		q->gen = gen;
		q->head = rp__storage_get_u64(slot + ST_HEAD);
		q->dropped = rp__storage_get_u64(slot + ST_DROPPED);
		q->lost = rp__storage_get_u64(slot + ST_LOST);
		q->torn = rp__storage_get_u64(slot + ST_TORN);
		q->bad_segs = rp__storage_get_u64(slot + ST_BADSEG);
		memcpy(q->qid, slot + ST_QID, ID_LEN);
	}
	if (!found || q->head == 0 || q->head >= SEQ_MAX) {
		goto out;
	}
	q->statefd = fd;
	fd = -1;
	ret = RP_OK;
out:
	if (fd >= 0) {
		(void)close(fd);
	}
	return ret;
}

/* ------------------------------------------------------------------------
 * Segments
 * ------------------------------------------------------------------------ */

static rp_status header_make(const rp_sfq *q, uint64_t first, uint8_t hdr[SEG_HDR])
{
	rp_status ret;

	memset(hdr, 0, SEG_HDR);
	memcpy(hdr, seg_magic, sizeof(seg_magic));
	hdr[4] = VERSION;
	rp__storage_put_u64(hdr + RP__SFQ_SEG_FIRST_OFF, first);
	memcpy(hdr + RP__SFQ_SEG_QID_OFF, q->qid, ID_LEN);
	ret = rp__storage_random(hdr + RP__SFQ_SEG_SALT_OFF, ID_LEN);
	if (ret == RP_OK) {
		ret = rp__storage_mac(q->k_hdr, hdr, RP__SFQ_SEG_MAC_OFF,
				      hdr + RP__SFQ_SEG_MAC_OFF);
	}
	return ret;
}

/*
 * Checks a segment header read from disk (got bytes of it) for the file
 * named `first`. Returns RP_OK; RP_E_CONFIG (a newer format: refused, not
 * deleted); RP_E_CRYPTO (damaged, or not this queue's).
 */
static rp_status header_check(const rp_sfq *q, const uint8_t *hdr, size_t got, uint64_t first)
{
	if (got < SEG_HDR || memcmp(hdr, seg_magic, sizeof(seg_magic)) != 0) {
		return RP_E_CRYPTO;
	}
	if (hdr[4] != VERSION) {
		return RP_E_CONFIG;
	}
	if (!rp__storage_mac_ok(q->k_hdr, hdr, RP__SFQ_SEG_MAC_OFF, hdr + RP__SFQ_SEG_MAC_OFF) ||
	    CRYPTO_memcmp(hdr + RP__SFQ_SEG_QID_OFF, q->qid, ID_LEN) != 0 ||
	    rp__storage_get_u64(hdr + RP__SFQ_SEG_FIRST_OFF) != first || first == 0 ||
	    first >= SEQ_MAX) {
		return RP_E_CRYPTO;
	}
	return RP_OK;
}

static rp_status segs_reserve(rp_sfq *q)
{
	struct seg *s;
	size_t cap;

	if (q->n < q->cap) {
		return RP_OK;
	}
	cap = q->cap != 0 ? 2 * q->cap : 8;
	s = realloc(q->segs, cap * sizeof(*s));
	if (s == NULL) {
		return RP_E_NOMEM;
	}
	q->segs = s;
	q->cap = cap;
	return RP_OK;
}

/* The reader's descriptor for segment s. */
static rp_status reader_fd(rp_sfq *q, const struct seg *s, int *fd)
{
	char name[NAME_LEN + 1];
	uint64_t size;
	rp_status ret;

	if (q->rfd >= 0 && q->rfd_first == s->first) {
		*fd = q->rfd;
		return RP_OK;
	}
	if (q->rfd >= 0) {
		(void)close(q->rfd);
		q->rfd = -1;
	}
	seg_name(s->first, name);
	ret = rp__storage_file_open(q->dirfd, name, O_RDONLY, &q->rfd, &size);
	if (ret != RP_OK) {
		return ret;
	}
	q->rfd_first = s->first;
	*fd = q->rfd;
	return RP_OK;
}

/*
 * Deletes the k oldest segments (their state MUST already be on disk).
 * Stops at the first that cannot be unlinked, keeping it and the newer
 * ones. Returns RP_OK or RP_E_IO.
 */
static rp_status segs_delete_front(rp_sfq *q, size_t k)
{
	char name[NAME_LEN + 1];
	size_t done;
	rp_status ret = RP_OK;

	for (done = 0; done < k; done++) {
		struct seg *s = &q->segs[done];

		seg_name(s->first, name);
		if (q->rfd >= 0 && q->rfd_first == s->first) {
			(void)close(q->rfd);
			q->rfd = -1;
		}
		if (done == q->n - 1 && q->writable) {
			(void)close(q->wfd);
			q->wfd = -1;
			q->writable = 0;
		}
		if (unlinkat(q->dirfd, name, 0) != 0 && errno != ENOENT) {
			ret = RP_E_IO;
			break;
		}
		q->bytes -= s->size;
		seg_free(s);
	}
	if (done == 0) {
		return ret;
	}
	memmove(q->segs, q->segs + done, (q->n - done) * sizeof(*q->segs));
	q->n -= done;
	/* The slots moved from held keys. */
	OPENSSL_cleanse(q->segs + q->n, done * sizeof(*q->segs));
	if (q->cur_ok && q->cur_seg >= done) {
		q->cur_seg -= done;
	} else {
		q->cur_ok = 0;
	}
	return ret;
}

/* Starts a new segment for sequence number q->tail and makes it writable. */
static rp_status seg_create(rp_sfq *q)
{
	uint8_t hdr[SEG_HDR];
	char name[NAME_LEN + 1];
	struct seg *s;
	uint64_t size = 0;
	rp_status ret;
	int fd = -1;

	ret = segs_reserve(q);
	if (ret != RP_OK) {
		return ret;
	}
	s = &q->segs[q->n];
	memset(s, 0, sizeof(*s));
	s->first = q->tail;
	s->size = SEG_HDR;
	ret = header_make(q, q->tail, hdr);
	if (ret == RP_OK) {
		ret = seg_derive_key(q, hdr + RP__SFQ_SEG_SALT_OFF, s->key);
	}
	if (ret != RP_OK) {
		goto out;
	}
	seg_name(q->tail, name);
	ret = rp__storage_write_atomic(q->dirfd, name, hdr, sizeof(hdr), 0);
	if (ret != RP_OK) {
		ret = ret == RP_E_CRYPTO ? ret : RP_E_IO;
		goto out;
	}
	ret = rp__storage_file_open(q->dirfd, name, O_RDWR, &fd, &size);
	if (ret != RP_OK || size != SEG_HDR) {
		/* Made a moment ago: there and private, or the disk is failing. */
		(void)unlinkat(q->dirfd, name, 0);
		ret = RP_E_IO;
		goto out;
	}
	if (q->wfd >= 0) {
		/* Batched pushes in the segment left behind are synced now or never. */
		if (q->unsynced_pushes != 0 && rp__storage_datasync(q->wfd) != RP_OK) {
			(void)unlinkat(q->dirfd, name, 0);
			ret = RP_E_IO;
			goto out;
		}
		q->unsynced_pushes = 0;
		(void)close(q->wfd);
	}
	q->wfd = fd;
	fd = -1;
	q->writable = 1;
	q->bytes += SEG_HDR;
	q->n++;
	ret = RP_OK;
out:
	if (ret != RP_OK) {
		seg_free(s);
	}
	if (fd >= 0) {
		(void)close(fd);
	}
	return ret;
}

/* RP_SFQ_DROP_OLDEST: deletes the oldest segment, counting what it held. */
static rp_status drop_oldest(rp_sfq *q)
{
	uint64_t end = seg_end(&q->segs[0]);
	uint64_t head = q->head, dropped = q->dropped, lost = q->lost, n;
	rp_status ret;

	if (end > q->head) {
		n = present(q, q->head, end);
		q->dropped += n;
		q->lost += (end - q->head) - n;
		q->head = end;
		q->cur_ok = 0;
	}
	ret = state_write(q);
	if (ret != RP_OK) {
		q->head = head;
		q->dropped = dropped;
		q->lost = lost;
		return ret;
	}
	return segs_delete_front(q, 1);
}

/* ------------------------------------------------------------------------
 * Opening and recovery
 * ------------------------------------------------------------------------ */

/*
 * Reads the records of segment s (file fd, size bytes) into extents. On
 * damage, verifies the record before it (its length may be what lied),
 * then searches for the next record that authenticates; what lies between
 * is left out. In the newest segment (last) its final record is verified
 * too, and *bad_at is where unrecoverable damage begins (size when none):
 * the torn tail. Returns RP_OK; RP_E_IO; RP_E_NOMEM.
 */
static rp_status scan_seg(rp_sfq *q, struct seg *s, int fd, uint64_t size, int last,
			  uint64_t *bad_at)
{
	uint8_t h[REC_HDR], hp[REC_HDR];
	uint64_t pos = SEG_HDR, expected = s->first, prev = 0, from, bad;
	uint32_t len = 0, prev_len = 0;
	size_t got;
	rp_status ret, st;
	int in_ext = 0, ok;

	*bad_at = size;
	while (pos < size) {
		ret = rp__storage_pread_full(fd, h, REC_HDR, pos, &got);
		if (ret != RP_OK) {
			return ret;
		}
		ok = got == REC_HDR && rec_parse(h, expected, pos, size, &len);
		if (ok && last && size - pos == (uint64_t)REC_OVH + len) {
			st = rec_verify(q, fd, s->key, pos, h, len);
			if (st != RP_OK && st != RP_E_CRYPTO) {
				return st;
			}
			ok = st == RP_OK;
		}
		if (ok) {
			if (!in_ext) {
				ret = ext_open(s, pos, expected);
				if (ret != RP_OK) {
					return ret;
				}
				in_ext = 1;
			}
			prev = pos;
			prev_len = len;
			pos += REC_OVH + len;
			expected++;
			s->ext[s->n_ext - 1].end = expected;
			s->ext[s->n_ext - 1].end_off = pos;
			continue;
		}
		/*
		 * Damage at pos, unless the record before it gave a false length.
		 * The search starts at pos itself: a record there with a later
		 * sequence number (one went missing before it) is good.
		 */
		bad = pos;
		from = pos;
		if (in_ext) {
			struct ext *e = &s->ext[s->n_ext - 1];

			ret = rp__storage_pread_full(fd, hp, REC_HDR, prev, &got);
			if (ret != RP_OK) {
				return ret;
			}
			st = rec_verify(q, fd, s->key, prev, hp, prev_len);
			if (st != RP_OK && st != RP_E_CRYPTO) {
				return st;
			}
			if (st != RP_OK) {
				e->end--;
				e->end_off = prev;
				expected--;
				bad = prev;
				from = prev + 1;
				if (e->end == e->first) {
					s->n_ext--;
				}
			}
			in_ext = 0;
		}
		st = resync(q, fd, s->key, from, size, expected, &pos, &expected);
		if (st == RP_E_NOT_FOUND) {
			*bad_at = bad;
			return RP_OK;
		}
		if (st != RP_OK) {
			return st;
		}
	}
	return RP_OK;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The first sequence numbers (from the names) of the segment files, sorted
 * (*out is malloc()ed, NULL when none); with del_temps, instead, deletes
 * the temporary files a power cut left (we hold the lock: nobody is
 * writing them). Returns RP_OK; RP_E_LIMIT; RP_E_IO; RP_E_NOMEM.
 */
static rp_status list_dir(rp_sfq *q, int del_temps, uint64_t **out, size_t *out_n)
{
	struct dirent *d;
	uint64_t *v = NULL, *nv, first;
	size_t n = 0, cap = 0;
	rp_status ret = RP_E_IO;
	DIR *dir = NULL;
	int fd;

	fd = openat(q->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		return RP_E_IO;
	}
	dir = fdopendir(fd);
	if (dir == NULL) {
		(void)close(fd);
		return RP_E_IO;
	}
	for (;;) {
		errno = 0;
		d = readdir(dir);
		if (d == NULL) {
			if (errno != 0) {
				goto out;
			}
			break;
		}
		if (del_temps) {
			if (rp__storage_is_temp(d->d_name) &&
			    unlinkat(q->dirfd, d->d_name, 0) != 0 && errno != ENOENT) {
				goto out;
			}
			continue;
		}
		if (!seg_name_parse(d->d_name, &first)) {
			continue;
		}
		if (n == RP_LIMIT_SFQ_SEGMENTS) {
			ret = RP_E_LIMIT;
			goto out;
		}
		if (n == cap) {
			cap = cap != 0 ? 2 * cap : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL) {
				ret = RP_E_NOMEM;
				goto out;
			}
			v = nv;
		}
		v[n++] = first;
	}
	if (n != 0) {
		qsort(v, n, sizeof(*v), cmp_u64);
	}
	if (out != NULL) {
		*out = v;
		*out_n = n;
		v = NULL;
	}
	ret = RP_OK;
out:
	free(v);
	(void)closedir(dir);
	return ret;
}

/*
 * Pass 1: the headers. Valid segments go to q->segs (in order), damaged
 * ones to del[]. A file that is not private is refused (RP_E_CONFIG), a
 * newer format too, and nothing is changed.
 */
static rp_status load_headers(rp_sfq *q, const uint64_t *names, size_t n, uint64_t *del,
			      size_t *n_del)
{
	uint8_t hdr[SEG_HDR];
	char name[NAME_LEN + 1];
	uint64_t size = 0;
	size_t i, got;
	rp_status ret = RP_OK, st;
	int fd;

	for (i = 0; i < n; i++) {
		fd = -1;
		seg_name(names[i], name);
		st = rp__storage_file_open(q->dirfd, name, O_RDONLY, &fd, &size);
		if (st == RP_E_NOT_FOUND) {
			continue;
		}
		if (st != RP_OK) {
			return st;
		}
		ret = rp__storage_pread_full(fd, hdr, sizeof(hdr), 0, &got);
		(void)close(fd);
		if (ret != RP_OK) {
			return ret;
		}
		st = header_check(q, hdr, got, names[i]);
		if (st == RP_E_CONFIG) {
			return st;
		}
		if (st != RP_OK) {
			/* Its records cannot be proven (nor counted): the file is counted. */
			del[(*n_del)++] = names[i];
			q->bad_segs++;
			q->dirty = 1;
			continue;
		}
		ret = segs_reserve(q);
		if (ret != RP_OK) {
			return ret;
		}
		memset(&q->segs[q->n], 0, sizeof(q->segs[q->n]));
		q->segs[q->n].first = names[i];
		q->segs[q->n].size = size;
		ret = seg_derive_key(q, hdr + RP__SFQ_SEG_SALT_OFF, q->segs[q->n].key);
		if (ret != RP_OK) {
			return ret;
		}
		q->n++;
	}
	return RP_OK;
}

/*
 * Pass 2: the records of every segment; the torn tail of the newest is cut
 * off. Segments that overlap an older one, hold no record, or hold only
 * acknowledged records move to del[].
 */
static rp_status load_records(rp_sfq *q, uint64_t *del, size_t *n_del)
{
	char name[NAME_LEN + 1];
	uint64_t size, scan, bad_at, prev_end = 0;
	size_t i, kept = 0;
	rp_status ret;
	int fd, drop;

	for (i = 0; i < q->n; i++) {
		struct seg *s = &q->segs[i];
		int last = i == q->n - 1;

		drop = s->first < prev_end; /* overlaps the one before: not ours to believe */
		if (!drop) {
			seg_name(s->first, name);
			ret = rp__storage_file_open(q->dirfd, name, O_RDWR, &fd, &size);
			if (ret != RP_OK) {
				return ret;
			}
			scan = size < RP_LIMIT_SFQ_SEGMENT ? size : RP_LIMIT_SFQ_SEGMENT;
			ret = scan_seg(q, s, fd, scan, last, &bad_at);
			if (ret == RP_OK && last && bad_at < size) {
				/* The torn tail: cut off, and made durable. */
				if (ftruncate(fd, (off_t)bad_at) != 0 ||
				    rp__storage_datasync(fd) != RP_OK) {
					ret = RP_E_IO;
				} else {
					size = bad_at;
					q->torn++;
					q->dirty = 1;
				}
			}
			(void)close(fd);
			if (ret != RP_OK) {
				return ret;
			}
			s->size = size;
			drop = s->n_ext == 0 || seg_end(s) <= q->head;
		}
		if (drop) {
			del[(*n_del)++] = s->first;
			seg_free(s);
			continue;
		}
		prev_end = seg_end(s);
		if (kept != i) {
			q->segs[kept] = *s;
			OPENSSL_cleanse(s, sizeof(*s)); /* the key now lives in segs[kept] */
		}
		kept++;
	}
	q->n = kept;
	return RP_OK;
}

/* Effective options, or RP_E_INVALID_ARG. */
static rp_status opts_resolve(const rp_sfq_opts *in, rp_sfq_opts *o)
{
	uint64_t min_seg;

	memset(o, 0, sizeof(*o));
	if (in != NULL) {
		*o = *in;
	}
	if (o->max_record == 0) {
		o->max_record = RP_DEFAULT_SFQ_RECORD;
	}
	if (o->max_record > RP_LIMIT_SFQ_RECORD) {
		return RP_E_INVALID_ARG;
	}
	min_seg = (uint64_t)SEG_HDR + REC_OVH + o->max_record;
	if (o->segment_bytes == 0) {
		o->segment_bytes = RP_DEFAULT_SFQ_SEGMENT;
		if (o->segment_bytes < SEG_HDR + 4u * ((uint64_t)REC_OVH + o->max_record)) {
			o->segment_bytes = (uint32_t)(SEG_HDR + 4u * (REC_OVH + o->max_record));
		}
	}
	if (o->segment_bytes < min_seg || o->segment_bytes > RP_LIMIT_SFQ_SEGMENT) {
		return RP_E_INVALID_ARG;
	}
	if (o->max_bytes == 0) {
		o->max_bytes = RP_SFQ_DEFAULT_MAX_BYTES;
		if (o->max_bytes < 2u * (uint64_t)o->segment_bytes) {
			o->max_bytes = 2u * (uint64_t)o->segment_bytes;
		}
	}
	if (o->max_bytes < 2u * (uint64_t)o->segment_bytes ||
	    o->max_bytes / o->segment_bytes > RP_LIMIT_SFQ_SEGMENTS / 2u) {
		return RP_E_INVALID_ARG;
	}
	if (o->policy != RP_SFQ_DROP_OLDEST && o->policy != RP_SFQ_REFUSE) {
		return RP_E_INVALID_ARG;
	}
	if (o->sync_every == 0) {
		o->sync_every = 1;
	}
	if (o->ack_sync_every == 0) {
		o->ack_sync_every = 1;
	}
	return RP_OK;
}

static void sfq_free(rp_sfq *q)
{
	size_t i;

	for (i = 0; i < q->n; i++) {
		seg_free(&q->segs[i]);
	}
	free(q->segs);
	free(q->rec);
	EVP_CIPHER_CTX_free(q->ctx);
	if (q->wfd >= 0) {
		(void)close(q->wfd);
	}
	if (q->rfd >= 0) {
		(void)close(q->rfd);
	}
	if (q->statefd >= 0) {
		(void)close(q->statefd);
	}
	if (q->dirfd >= 0) {
		(void)close(q->dirfd); /* releases the lock */
	}
	OPENSSL_cleanse(q->k_state, sizeof(q->k_state));
	OPENSSL_cleanse(q->k_hdr, sizeof(q->k_hdr));
	OPENSSL_cleanse(q->k_rec, sizeof(q->k_rec));
	free(q);
}

/* The derived keys of a queue. */
static rp_status derive_keys(rp_sfq *q, const uint8_t key[KEY_LEN])
{
	rp_status ret;

	ret = rp__storage_kdf(key, NULL, 0, "rampart sfq v1 state", q->k_state);
	if (ret == RP_OK) {
		ret = rp__storage_kdf(key, NULL, 0, "rampart sfq v1 header", q->k_hdr);
	}
	if (ret == RP_OK) {
		ret = rp__storage_kdf(key, NULL, 0, "rampart sfq v1 record", q->k_rec);
	}
	return ret;
}

rp_status rp_sfq_open(const char *dir, const uint8_t key[RP_STORAGE_KEY_LEN],
		      const rp_sfq_opts *opts, rp_sfq **out)
{
	char name[NAME_LEN + 1];
	uint64_t *names = NULL, *del = NULL, size = 0;
	size_t n_names = 0, n_del = 0, i;
	rp_sfq *q = NULL;
	rp_sfq_opts o;
	rp_status ret;

	if (out == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	if (dir == NULL || key == NULL) {
		return RP_E_INVALID_ARG;
	}
	ret = opts_resolve(opts, &o);
	if (ret != RP_OK) {
		return ret;
	}
	q = calloc(1, sizeof(*q));
	if (q == NULL) {
		return RP_E_NOMEM;
	}
	q->dirfd = q->statefd = q->wfd = q->rfd = -1;
	q->o = o;
	ret = RP_E_NOMEM;
	q->ctx = EVP_CIPHER_CTX_new();
	q->rec = malloc(REC_OVH + (size_t)o.max_record);
	if (q->ctx == NULL || q->rec == NULL) {
		goto out;
	}
	ret = rp__storage_dir_open(dir, 1, &q->dirfd);
	if (ret != RP_OK) {
		goto out;
	}
	if (flock(q->dirfd, LOCK_EX | LOCK_NB) != 0) {
		ret = errno == EWOULDBLOCK ? RP_E_BUSY : RP_E_IO;
		goto out;
	}
	ret = derive_keys(q, key);
	if (ret != RP_OK) {
		goto out;
	}
	ret = list_dir(q, 0, &names, &n_names);
	if (ret != RP_OK) {
		goto out;
	}
	/* The key is checked before anything on disk changes. */
	ret = state_load(q, n_names);
	if (ret == RP_OK) {
		ret = list_dir(q, 1, NULL, NULL);
	}
	if (ret != RP_OK) {
		goto out;
	}
	del = malloc((n_names != 0 ? n_names : 1) * sizeof(*del));
	if (del == NULL) {
		ret = RP_E_NOMEM;
		goto out;
	}
	ret = load_headers(q, names, n_names, del, &n_del);
	if (ret == RP_OK) {
		ret = load_records(q, del, &n_del);
	}
	if (ret != RP_OK) {
		goto out;
	}

	q->tail = q->head;
	for (i = 0; i < q->n; i++) {
		q->bytes += q->segs[i].size;
		if (seg_end(&q->segs[i]) > q->tail) {
			q->tail = seg_end(&q->segs[i]);
		}
	}
	if (q->n != 0) {
		struct seg *s = &q->segs[q->n - 1];
		struct ext *e = &s->ext[s->n_ext - 1];

		if (e->end == q->tail && e->end_off == s->size) {
			seg_name(s->first, name);
			ret = rp__storage_file_open(q->dirfd, name, O_RDWR, &q->wfd, &size);
			if (ret != RP_OK) {
				goto out;
			}
			q->writable = size == s->size;
			if (!q->writable) {
				(void)close(q->wfd);
				q->wfd = -1;
			}
		}
	}
	/* Counters first (torn), then the deletions they allow. */
	if (q->dirty) {
		ret = state_write(q);
		if (ret != RP_OK) {
			goto out;
		}
	}
	for (i = 0; i < n_del; i++) {
		seg_name(del[i], name);
		if (unlinkat(q->dirfd, name, 0) != 0 && errno != ENOENT) {
			ret = RP_E_IO;
			goto out;
		}
	}
	if (n_del != 0 && rp__storage_fsync(q->dirfd) != RP_OK) {
		ret = RP_E_IO;
		goto out;
	}
	*out = q;
	q = NULL;
	ret = RP_OK;
out:
	free(names);
	free(del);
	if (q != NULL) {
		sfq_free(q);
	}
	return ret;
}

/* ------------------------------------------------------------------------
 * Queue operations
 * ------------------------------------------------------------------------ */

rp_status rp_sfq_sync(rp_sfq *q)
{
	rp_status ret = RP_OK;

	if (q == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (q->unsynced_pushes != 0 && q->wfd >= 0) {
		ret = rp__storage_datasync(q->wfd);
		if (ret == RP_OK) {
			q->unsynced_pushes = 0;
		}
	}
	if (q->dirty || q->unsynced_pops != 0) {
		rp_status st = state_write(q);

		ret = ret != RP_OK ? ret : st;
	}
	return ret;
}

rp_status rp_sfq_close(rp_sfq *q)
{
	rp_status ret;

	if (q == NULL) {
		return RP_OK;
	}
	ret = rp_sfq_sync(q);
	sfq_free(q);
	return ret;
}

/* Undoes a failed append at off: cut back, or stop appending to this segment. */
static void append_undo(rp_sfq *q, uint64_t off)
{
	if (ftruncate(q->wfd, (off_t)off) != 0) {
		(void)close(q->wfd);
		q->wfd = -1;
		q->writable = 0;
	}
}

rp_status rp_sfq_push(rp_sfq *q, const uint8_t *data, size_t len)
{
	uint8_t *h;
	struct seg *s;
	uint64_t need, cost, off;
	rp_status ret;
	int new_seg;

	if (q == NULL || (data == NULL && len != 0)) {
		return RP_E_INVALID_ARG;
	}
	if (len > q->o.max_record) {
		return RP_E_TOO_LARGE;
	}
	if (q->tail >= SEQ_MAX - 1) {
		return RP_E_LIMIT;
	}
	need = REC_OVH + (uint64_t)len;
	for (;;) {
		new_seg = !(q->n != 0 && q->writable &&
			    q->segs[q->n - 1].size + need <= q->o.segment_bytes);
		cost = need + (new_seg ? SEG_HDR : 0u);
		if (q->bytes + cost <= q->o.max_bytes) {
			break;
		}
		if (q->o.policy == RP_SFQ_REFUSE) {
			return RP_E_BUSY;
		}
		if (q->n == 0) {
			return RP_E_INTERNAL;
		}
		ret = drop_oldest(q);
		if (ret != RP_OK) {
			return ret;
		}
	}
	if (new_seg) {
		ret = seg_create(q);
		if (ret != RP_OK) {
			return ret;
		}
	}
	s = &q->segs[q->n - 1];
	off = s->size;

	h = q->rec;
	memcpy(h, rec_magic, sizeof(rec_magic));
	rp__storage_put_u32(h + RP__SFQ_REC_LEN, (uint32_t)len);
	rp__storage_put_u64(h + RP__SFQ_REC_SEQ, q->tail);
	ret = rp__storage_random(h + RP__SFQ_REC_NONCE, RP__STORAGE_NONCE_LEN);
	if (ret == RP_OK) {
		ret = rp__storage_aead_start(q->ctx, 1, s->key, h + RP__SFQ_REC_NONCE, h, REC_HDR);
	}
	if (ret == RP_OK && len != 0) {
		ret = rp__storage_aead_update(q->ctx, data, h + REC_HDR, len);
	}
	if (ret == RP_OK) {
		ret = rp__storage_aead_seal(q->ctx, h + REC_HDR + len);
	}
	if (ret != RP_OK) {
		return RP_E_CRYPTO;
	}
	/* One write for the whole record: a power cut tears at most this one. */
	ret = rp__storage_pwrite_all(q->wfd, h, (size_t)need, off);
	if (ret == RP_OK && ++q->unsynced_pushes >= q->o.sync_every) {
		ret = rp__storage_datasync(q->wfd);
		if (ret == RP_OK) {
			q->unsynced_pushes = 0;
		}
	}
	if (ret != RP_OK) {
		append_undo(q, off);
		return RP_E_IO;
	}
	if (s->n_ext == 0 || s->ext[s->n_ext - 1].end != q->tail ||
	    s->ext[s->n_ext - 1].end_off != off) {
		ret = ext_open(s, off, q->tail);
		if (ret != RP_OK) {
			/* Written but not indexed: take it back out. */
			append_undo(q, off);
			return ret;
		}
	}
	s->ext[s->n_ext - 1].end = q->tail + 1;
	s->ext[s->n_ext - 1].end_off = off + need;
	s->size = off + need;
	q->bytes += need;
	q->tail++;
	return RP_OK;
}

/*
 * Puts the cursor on record head, skipping (and counting) what is missing
 * or no longer readable on the way. Returns RP_OK; RP_E_NOT_FOUND (nothing
 * left); RP_E_IO.
 */
static rp_status locate(rp_sfq *q)
{
	uint8_t h[REC_HDR];
	uint64_t off, seq;
	uint32_t len;
	size_t i, j, got;
	rp_status ret;
	int fd;

	if (q->cur_ok && q->cur_seq == q->head) {
		return RP_OK;
	}
	q->cur_ok = 0;
	q->cur_len_ok = 0;
	for (i = 0; i < q->n; i++) {
		for (j = 0; j < q->segs[i].n_ext; j++) {
			struct ext *e = &q->segs[i].ext[j];

			if (e->end <= q->head) {
				continue;
			}
			head_skip_to(q, e->first);
			ret = reader_fd(q, &q->segs[i], &fd);
			if (ret == RP_E_IO || ret == RP_E_NOMEM) {
				return ret;
			}
			if (ret != RP_OK) {
				/* The file went away or changed owner: unreadable. */
				head_skip_to(q, e->end);
				continue;
			}
			off = e->off;
			for (seq = e->first; seq < q->head; seq++) {
				ret = rp__storage_pread_full(fd, h, REC_HDR, off, &got);
				if (ret != RP_OK) {
					return ret;
				}
				if (got != REC_HDR || !rec_parse(h, seq, off, e->end_off, &len)) {
					break;
				}
				off += REC_OVH + len;
			}
			if (seq < q->head) {
				/* Damaged since it was opened: the rest of the extent is lost. */
				head_skip_to(q, e->end);
				continue;
			}
			q->cur_ok = 1;
			q->cur_seg = i;
			q->cur_ext = j;
			q->cur_off = off;
			q->cur_seq = q->head;
			return RP_OK;
		}
	}
	head_skip_to(q, q->tail);
	return RP_E_NOT_FOUND;
}

/*
 * Decrypts the record with header h in place in buf[0 .. len), tag tag.
 * Returns RP_OK; RP_E_CRYPTO (it does not authenticate: buf MUST be
 * wiped); RP_E_INTERNAL (the cipher failed).
 */
static rp_status rec_open(rp_sfq *q, const uint8_t *key, const uint8_t *h, uint8_t *buf,
			  uint32_t len, const uint8_t *tag)
{
	if (rp__storage_aead_start(q->ctx, 0, key, h + RP__SFQ_REC_NONCE, h, REC_HDR) != RP_OK ||
	    (len != 0 && rp__storage_aead_update(q->ctx, buf, buf, len) != RP_OK)) {
		return RP_E_INTERNAL;
	}
	return rp__storage_aead_verify(q->ctx, tag);
}

rp_status rp_sfq_peek(rp_sfq *q, uint8_t *out, size_t cap, size_t *out_len, uint64_t *seq)
{
	uint8_t h[REC_HDR], tag[TAG_LEN];
	uint32_t len = 0;
	size_t got;
	rp_status ret;
	int fd;

	if (q == NULL || out_len == NULL || seq == NULL || (out == NULL && cap != 0)) {
		return RP_E_INVALID_ARG;
	}
	*out_len = 0;
	*seq = 0;
	for (;;) {
		struct ext *e;

		ret = locate(q);
		if (ret != RP_OK) {
			return ret;
		}
		e = &q->segs[q->cur_seg].ext[q->cur_ext];
		ret = reader_fd(q, &q->segs[q->cur_seg], &fd);
		if (ret == RP_OK) {
			ret = rp__storage_pread_full(fd, h, REC_HDR, q->cur_off, &got);
		}
		if (ret == RP_E_IO || ret == RP_E_NOMEM) {
			return ret;
		}
		if (ret != RP_OK || got != REC_HDR ||
		    !rec_parse(h, q->head, q->cur_off, e->end_off, &len)) {
			head_skip_to(q, e->end);
			continue;
		}
		if (len > cap) {
			*out_len = len;
			*seq = q->head;
			return RP_E_BUF_TOO_SMALL;
		}
		/* Ciphertext into the caller's buffer, decrypted in place. */
		ret = rp__storage_pread_full(fd, out, len, q->cur_off + REC_HDR, &got);
		if (ret == RP_OK && got == len) {
			ret = rp__storage_pread_full(fd, tag, TAG_LEN, q->cur_off + REC_HDR + len,
						     &got);
			if (ret == RP_OK && got != TAG_LEN) {
				ret = RP_E_CRYPTO;
			}
		} else if (ret == RP_OK) {
			ret = RP_E_CRYPTO;
		}
		if (ret == RP_OK) {
			ret = rec_open(q, q->segs[q->cur_seg].key, h, out, len, tag);
		}
		if (ret == RP_OK) {
			q->cur_len = len;
			q->cur_len_ok = 1;
			*out_len = len;
			*seq = q->head;
			return RP_OK;
		}
		if (len != 0) {
			OPENSSL_cleanse(out, len);
		}
		if (ret != RP_E_CRYPTO) {
			return ret;
		}
		/* Does not authenticate: never delivered, counted, skipped. */
		q->lost++;
		q->head++;
		q->dirty = 1;
		q->cur_off += REC_OVH + len;
		q->cur_seq++;
		q->cur_len_ok = 0;
		if (q->cur_seq >= e->end) {
			q->cur_ok = 0;
		}
	}
}

rp_status rp_sfq_pop(rp_sfq *q, uint64_t seq)
{
	size_t k = 0;
	rp_status ret = RP_OK;

	if (q == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (seq >= q->tail) {
		return RP_E_NOT_FOUND;
	}
	if (seq < q->head) {
		return RP_OK;
	}
	if (seq == q->head && q->cur_ok && q->cur_seq == q->head && q->cur_len_ok) {
		/* The usual case: the record peek just gave. */
		struct ext *e = &q->segs[q->cur_seg].ext[q->cur_ext];

		q->cur_off += REC_OVH + q->cur_len;
		q->cur_seq++;
		q->cur_len_ok = 0;
		q->head++;
		q->dirty = 1;
		if (q->cur_seq >= e->end) {
			q->cur_ok = 0;
		}
	} else {
		head_skip_to(q, seq + 1); /* counts only missing ones as lost */
	}
	q->unsynced_pops++;
	/* Segments with nothing left, except the one being written. */
	while (k < q->n && seg_end(&q->segs[k]) <= q->head && !(k == q->n - 1 && q->writable)) {
		k++;
	}
	if (k != 0 || q->unsynced_pops >= q->o.ack_sync_every) {
		ret = state_write(q);
		if (ret != RP_OK) {
			return ret;
		}
	}
	if (k != 0) {
		ret = segs_delete_front(q, k);
	}
	return ret;
}

rp_status rp_sfq_stats_get(const rp_sfq *q, rp_sfq_stats *out)
{
	if (q == NULL || out == NULL) {
		return RP_E_INVALID_ARG;
	}
	memset(out, 0, sizeof(*out));
	out->count = present(q, q->head, q->tail);
	out->bytes = q->bytes;
	out->dropped = q->dropped;
	out->lost = q->lost;
	out->torn = q->torn;
	out->bad_segments = q->bad_segs;
	out->head = q->head;
	out->tail = q->tail;
	return RP_OK;
}

uint64_t rp_sfq_count(const rp_sfq *q)
{
	return q != NULL ? present(q, q->head, q->tail) : 0;
}

uint64_t rp_sfq_bytes(const rp_sfq *q)
{
	return q != NULL ? q->bytes : 0;
}

uint64_t rp_sfq_dropped(const rp_sfq *q)
{
	return q != NULL ? q->dropped : 0;
}

/* ------------------------------------------------------------------------
 * For the fuzz target (sfq_int.h)
 * ------------------------------------------------------------------------ */

rp_status rp__sfq_header_sign(const uint8_t key[RP_STORAGE_KEY_LEN], uint8_t *hdr)
{
	uint8_t k[KEY_LEN];
	rp_status ret;

	ret = rp__storage_kdf(key, NULL, 0, "rampart sfq v1 header", k);
	if (ret == RP_OK) {
		ret = rp__storage_mac(k, hdr, RP__SFQ_SEG_MAC_OFF, hdr + RP__SFQ_SEG_MAC_OFF);
	}
	OPENSSL_cleanse(k, sizeof(k));
	return ret;
}

rp_status rp__sfq_state_create(const char *dir, const uint8_t key[RP_STORAGE_KEY_LEN],
			       const uint8_t qid[RP__SFQ_ID_LEN])
{
	uint8_t k[KEY_LEN];
	rp_status ret;
	int dirfd = -1;

	ret = rp__storage_dir_open(dir, 0, &dirfd);
	if (ret != RP_OK) {
		return ret;
	}
	ret = rp__storage_kdf(key, NULL, 0, "rampart sfq v1 state", k);
	if (ret == RP_OK) {
		ret = state_create(dirfd, k, qid);
	}
	OPENSSL_cleanse(k, sizeof(k));
	(void)close(dirfd);
	return ret;
}
