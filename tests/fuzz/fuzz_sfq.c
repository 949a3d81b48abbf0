/*
 * fuzz_sfq: the recovery of the store-and-forward queue (rp_sfq_open's
 * scan of a segment file, device/storage/sfq.c) and the reader
 * (rp_sfq_peek), fed a segment file nobody vouches for.
 *
 * Input: the bytes of one segment file (docs/storage.md, "Segment file").
 * The harness holds the queue's data key (a constant), so it plays the
 * writer of everything but the records: when the input starts with the
 * segment magic and is at least a header long, the header's MAC is
 * recomputed (rp__sfq_header_sign) so that the fuzzer can explore the
 * header's fields (first sequence number, queue id, salt); a state file is
 * made for the queue id in the header; the file is named after the
 * header's first sequence number. Records are never fixed up: each must
 * authenticate on its own, and the fuzzer cannot forge a tag.
 *
 * Seeds (corpus/sfq/) are real segment files made by this library with
 * the same key, every record's payload being payload(seq), a function of
 * its sequence number alone; regenerate them with
 *     RP_FUZZ_SFQ_SEEDS=tests/fuzz/corpus/sfq build/<dir>/tests/fuzz/fuzz_sfq
 * (LLVMFuzzerInitialize writes them and exits).
 *
 * Oracles (abort on violation):
 * - rp_sfq_open returns RP_OK, or RP_E_CONFIG for a header of another
 *   format version; nothing else (no I/O error, no crash, no leak);
 * - every record rp_sfq_peek delivers is authentic: its payload is exactly
 *   payload(seq) (a record the fuzzer changed, moved, duplicated or made
 *   up never authenticates), and sequence numbers strictly increase; no
 *   more records come out than the file could hold;
 * - after delivering everything the queue is empty (count 0), and still
 *   works: a record pushed comes back, in a reopened queue too.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rampart/sfq.h"
#include "storage/sfq_int.h"
#include "storage/storage_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_sfq:%d: check failed: %s\n", __LINE__, #cond);       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static const uint8_t fkey[RP_STORAGE_KEY_LEN] = {
	0x52, 0x61, 0x6d, 0x70, 0x61, 0x72, 0x74, 0x20, 0x66, 0x75, 0x7a,
	0x7a, 0x20, 0x6b, 0x65, 0x79, 0x9e, 0x37, 0x79, 0xb9, 0x7f, 0x4a,
	0x7c, 0x15, 0xf3, 0x9c, 0xc0, 0x60, 0x5c, 0xed, 0xc8, 0x34,
};

static char base[128]; /* a private working directory */
static char qdir[192]; /* base/q: the queue of one input */
static uint8_t out[RP_LIMIT_SFQ_RECORD];

/* The payload of every record the seeds hold: a function of seq alone. */
static size_t payload(uint64_t seq, uint8_t *buf)
{
	size_t len = seq % 50u == 42u ? 3000u : (size_t)((seq * 7919u) % 97u), i;

	for (i = 0; i < len; i++) {
		buf[i] = (uint8_t)(seq * 31u + i * 5u + (i >> 8));
	}
	return len;
}

static void clear_dir(const char *d)
{
	char p[320];
	struct dirent *e;
	DIR *dd = opendir(d);

	if (dd == NULL) {
		return;
	}
	while ((e = readdir(dd)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
			continue;
		}
		if (snprintf(p, sizeof(p), "%s/%s", d, e->d_name) < (int)sizeof(p)) {
			(void)unlink(p);
		}
	}
	closedir(dd);
}

static void cleanup(void)
{
	clear_dir(qdir);
	(void)rmdir(qdir);
	(void)rmdir(base);
}

static void write_file(const char *p, const uint8_t *buf, size_t len)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t done = 0;
	ssize_t n;

	CHECK(fd >= 0);
	while (done < len) {
		n = write(fd, buf + done, len - done);
		CHECK(n > 0);
		done += (size_t)n;
	}
	CHECK(close(fd) == 0);
}

static uint8_t *read_file(const char *p, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	FILE *f;

	CHECK(stat(p, &st) == 0);
	buf = malloc((size_t)st.st_size + 1u);
	CHECK(buf != NULL);
	f = fopen(p, "rb");
	CHECK(f != NULL);
	*len = fread(buf, 1, (size_t)st.st_size, f);
	CHECK(fclose(f) == 0);
	return buf;
}

/* Peeks and pops everything; checks every record. Returns how many. */
static uint64_t drain(rp_sfq *q, uint64_t max_records)
{
	uint8_t want[3000];
	uint64_t seq = 0, last = 0, n = 0;
	size_t len = 0, wlen;
	rp_status st;

	for (;;) {
		st = rp_sfq_peek(q, out, sizeof(out), &len, &seq);
		if (st == RP_E_NOT_FOUND) {
			break;
		}
		CHECK(st == RP_OK);
		CHECK(seq > last);
		wlen = payload(seq, want);
		CHECK(len == wlen);
		CHECK(memcmp(out, want, len) == 0);
		last = seq;
		CHECK(++n <= max_records);
		CHECK(rp_sfq_pop(q, seq) == RP_OK);
	}
	CHECK(rp_sfq_count(q) == 0);
	return n;
}

/* ------------------------------------------------------------------------
 * Seeds
 * ------------------------------------------------------------------------ */

static void seed_push(rp_sfq *q, uint64_t from, uint64_t to)
{
	uint8_t buf[3000];
	rp_sfq_stats st;
	uint64_t s;

	for (s = from; s <= to; s++) {
		CHECK(rp_sfq_stats_get(q, &st) == RP_OK && st.tail == s);
		CHECK(rp_sfq_push(q, buf, payload(s, buf)) == RP_OK);
	}
}

/* Copies segment number idx (oldest first) of qdir to out_dir/name, cut to len (0: whole). */
static void seed_take(const char *out_dir, const char *name, size_t idx, size_t cut, int flip_at)
{
	char names[64][24], p[320];
	struct dirent *e;
	uint8_t *buf;
	size_t n = 0, len, i, j;
	DIR *dd = opendir(qdir);

	CHECK(dd != NULL);
	while ((e = readdir(dd)) != NULL) {
		if (strlen(e->d_name) == 20 && strcmp(e->d_name + 16, ".seg") == 0 && n < 64) {
			memcpy(names[n++], e->d_name, 21);
		}
	}
	closedir(dd);
	for (i = 0; i < n; i++) {
		for (j = i + 1; j < n; j++) {
			if (strcmp(names[j], names[i]) < 0) {
				char t[24];

				memcpy(t, names[i], 24);
				memcpy(names[i], names[j], 24);
				memcpy(names[j], t, 24);
			}
		}
	}
	CHECK(idx < n);
	(void)snprintf(p, sizeof(p), "%s/%s", qdir, names[idx]);
	buf = read_file(p, &len);
	if (cut != 0 && cut < len) {
		len = cut;
	}
	if (flip_at >= 0 && (size_t)flip_at < len) {
		buf[flip_at] ^= 0x04u;
	}
	(void)snprintf(p, sizeof(p), "%s/%s", out_dir, name);
	write_file(p, buf, len);
	free(buf);
	printf("fuzz_sfq: wrote %s (%zu bytes)\n", p, len);
}

static rp_sfq *seed_queue(uint32_t segment_bytes)
{
	rp_sfq_opts o = {
		.segment_bytes = segment_bytes, .max_bytes = 1024u * 1024u, .max_record = 3000u};
	rp_sfq *q = NULL;

	clear_dir(qdir);
	CHECK(rp_sfq_open(qdir, fkey, &o, &q) == RP_OK);
	return q;
}

static void write_seeds(const char *out_dir)
{
	rp_sfq *q;

	q = seed_queue(0);
	seed_push(q, 1, 5);
	seed_take(out_dir, "five_records", 0, 0, -1);
	seed_push(q, 6, 6);
	CHECK(rp_sfq_close(q) == RP_OK);
	seed_take(out_dir, "torn_tail", 0, 64 + 5 * 44 + 300, -1);
	seed_take(out_dir, "flipped_middle", 0, 0, 64 + 44 + 30);
	seed_take(out_dir, "header_only", 0, 64, -1);

	q = seed_queue(0);
	seed_push(q, 1, 1);
	CHECK(rp_sfq_close(q) == RP_OK);
	seed_take(out_dir, "one_record", 0, 0, -1);

	/* Small segments: the third starts far from 1; a large record at 42. */
	q = seed_queue(3400);
	seed_push(q, 1, 60);
	CHECK(rp_sfq_close(q) == RP_OK);
	seed_take(out_dir, "later_segment", 2, 0, -1);
	seed_take(out_dir, "first_segment", 0, 0, -1);
	q = seed_queue(8192);
	seed_push(q, 1, 45);
	CHECK(rp_sfq_close(q) == RP_OK);
	seed_take(out_dir, "large_record", 0, 0, -1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds = getenv("RP_FUZZ_SFQ_SEEDS");
	const char *tmp = getenv("TMPDIR");
	struct stat st;

	(void)argc;
	(void)argv;
	/* tmpfs when there is one: fsync() is free there, and the fuzzer fast. */
	if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0) {
		tmp = "/dev/shm";
	} else if (tmp == NULL || tmp[0] == '\0') {
		tmp = "/tmp";
	}
	(void)snprintf(base, sizeof(base), "%s/rp-fuzz-sfq-XXXXXX", tmp);
	CHECK(mkdtemp(base) != NULL);
	(void)snprintf(qdir, sizeof(qdir), "%s/q", base);
	CHECK(mkdir(qdir, 0700) == 0);
	(void)atexit(cleanup);
	if (seeds != NULL) {
		write_seeds(seeds);
		exit(0);
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * One input
 * ------------------------------------------------------------------------ */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rp_sfq_opts o = {.sync_every = 1000, .ack_sync_every = 1000};
	uint8_t qid[RP__SFQ_ID_LEN] = {0}, *seg, want[3000];
	char name[32], p[320];
	uint64_t first = 1, seq = 0;
	size_t i, len = 0;
	rp_sfq_stats st;
	rp_sfq *q = NULL;
	rp_status r;

	if (base[0] == '\0') {
		(void)LLVMFuzzerInitialize(NULL, NULL);
	}
	clear_dir(qdir);
	seg = malloc(size + 1u);
	CHECK(seg != NULL);
	if (size != 0) {
		memcpy(seg, data, size);
	}
	if (size >= RP_SFQ_SEGMENT_HEADER && memcmp(seg, "RQSG", 4) == 0) {
		CHECK(rp__sfq_header_sign(fkey, seg) == RP_OK);
		memcpy(qid, seg + RP__SFQ_SEG_QID_OFF, sizeof(qid));
		first = 0;
		for (i = 0; i < 8; i++) {
			first = first << 8 | seg[RP__SFQ_SEG_FIRST_OFF + i];
		}
	}
	CHECK(rp__sfq_state_create(qdir, fkey, qid) == RP_OK);
	(void)snprintf(name, sizeof(name), "%016llx.seg", (unsigned long long)first);
	(void)snprintf(p, sizeof(p), "%s/%s", qdir, name);
	write_file(p, seg, size);
	free(seg);

	r = rp_sfq_open(qdir, fkey, &o, &q);
	if (r == RP_E_CONFIG) {
		/* Only for a header of another format version. */
		CHECK(size >= RP_SFQ_SEGMENT_HEADER && data[4] != 1u);
		return 0;
	}
	CHECK(r == RP_OK);
	(void)drain(q, size / RP_SFQ_RECORD_OVERHEAD + 1u);
	CHECK(rp_sfq_stats_get(q, &st) == RP_OK);
	CHECK(st.count == 0 && st.head == st.tail);

	/* Still a working queue: a new record comes back, also after a reopen. */
	seq = st.tail;
	len = payload(seq, want);
	CHECK(rp_sfq_push(q, want, len) == RP_OK);
	CHECK(rp_sfq_close(q) == RP_OK);
	q = NULL;
	CHECK(rp_sfq_open(qdir, fkey, &o, &q) == RP_OK);
	CHECK(rp_sfq_stats_get(q, &st) == RP_OK);
	CHECK(st.count == 1 && st.head == seq);
	CHECK(drain(q, 1) == 1);
	CHECK(rp_sfq_close(q) == RP_OK);
	return 0;
}
