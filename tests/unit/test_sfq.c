/*
 * test_sfq.c - rampart/sfq.h: the store-and-forward queue, on real files
 * in a fresh temporary directory per test.
 *
 * Power cuts are simulated the way they look on disk: a copy of the queue
 * directory (a "crash image") whose newest segment ends at every byte
 * offset inside the record being written, or with zeros or garbage where
 * the record should be, or with the new segment of a segment switch at
 * each stage of its creation. Write failures are real: RLIMIT_FSIZE makes
 * the kernel stop the record's write after k bytes (EFBIG), for every k.
 * Damage is real bytes changed in the files: every byte of a record, a
 * record from another queue under the same key, records swapped, a
 * segment truncated or deleted, the state file damaged.
 *
 * Every record's payload is a function of its sequence number and a tag
 * (payload()), so a delivered record is checked byte for byte against
 * what was pushed with that number.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rampart/sfq.h"
#include "storage/sfq_int.h"
#include "storage/storage_int.h"

#define MAXP    256u /* largest payload() */
#define MAXSEGS 64u
#define PATHLEN 256u

static char dir[64];       /* the test's temporary directory */
static char qdir[PATHLEN]; /* dir/q: the queue */
static char cdir[PATHLEN]; /* dir/c: a crash image */
static uint8_t key[RP_STORAGE_KEY_LEN], key2[RP_STORAGE_KEY_LEN];

static int make_dir(void **state)
{
	size_t i;

	(void)state;
	(void)snprintf(dir, sizeof(dir), "/tmp/rp-test-sfq-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		return -1;
	}
	(void)snprintf(qdir, sizeof(qdir), "%s/q", dir);
	(void)snprintf(cdir, sizeof(cdir), "%s/c", dir);
	for (i = 0; i < RP_STORAGE_KEY_LEN; i++) {
		key[i] = (uint8_t)(i * 3u + 1u);
		key2[i] = (uint8_t)(i * 3u + 2u);
	}
	return 0;
}

static void rm_rf(const char *d)
{
	char cmd[PATHLEN + 16];

	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	assert_int_equal(system(cmd), 0);
}

static int remove_dir(void **state)
{
	(void)state;
	rm_rf(dir);
	return 0;
}

/* ------------------------------------------------------------------------
 * Payloads and queue helpers
 * ------------------------------------------------------------------------ */

/* The payload of record seq pushed with tag: 8..127 bytes, seq first. */
static size_t payload(uint64_t seq, unsigned tag, uint8_t *buf)
{
	size_t len = 8u + (size_t)((seq * 37u + tag * 11u) % 120u), i;

	for (i = 0; i < len; i++) {
		buf[i] = (uint8_t)(seq * 131u + tag * 17u + i * 7u);
	}
	for (i = 0; i < 8; i++) {
		buf[i] = (uint8_t)(seq >> (56 - 8 * i));
	}
	return len;
}

/* Bytes record seq with tag takes in a segment. */
static uint64_t rec_size(uint64_t seq, unsigned tag)
{
	uint8_t b[MAXP];

	return RP_SFQ_RECORD_OVERHEAD + payload(seq, tag, b);
}

static rp_sfq *qopen(const char *d, const rp_sfq_opts *o)
{
	rp_sfq *q = NULL;

	assert_int_equal(rp_sfq_open(d, key, o, &q), RP_OK);
	assert_non_null(q);
	return q;
}

static rp_sfq_stats stats(const rp_sfq *q)
{
	rp_sfq_stats st;

	assert_int_equal(rp_sfq_stats_get(q, &st), RP_OK);
	return st;
}

static void push(rp_sfq *q, uint64_t seq, unsigned tag)
{
	uint8_t b[MAXP];
	size_t n = payload(seq, tag, b);

	assert_int_equal(stats(q).tail, seq);
	assert_int_equal(rp_sfq_push(q, b, n), RP_OK);
}

static void push_range(rp_sfq *q, uint64_t from, uint64_t to, unsigned tag)
{
	uint64_t s;

	for (s = from; s <= to; s++) {
		push(q, s, tag);
	}
}

/* Peeks record seq (payload with tag) and pops it when pop is set. */
static void expect(rp_sfq *q, uint64_t seq, unsigned tag, int pop)
{
	uint8_t want[MAXP], got[MAXP];
	size_t wn = payload(seq, tag, want), gn = 0;
	uint64_t s = 0;

	assert_int_equal(rp_sfq_peek(q, got, sizeof(got), &gn, &s), RP_OK);
	assert_int_equal(s, seq);
	assert_int_equal(gn, wn);
	assert_memory_equal(got, want, wn);
	if (pop) {
		assert_int_equal(rp_sfq_pop(q, seq), RP_OK);
	}
}

static void expect_empty(rp_sfq *q)
{
	uint8_t got[MAXP];
	size_t n = 1;
	uint64_t s = 1;

	assert_int_equal(rp_sfq_peek(q, got, sizeof(got), &n, &s), RP_E_NOT_FOUND);
	assert_int_equal(n, 0);
	assert_int_equal(rp_sfq_count(q), 0);
}

/*
 * Delivers everything, checking each record against payload(seq, tag);
 * the sequence numbers go to seqs[]. Returns how many.
 */
static size_t drain(rp_sfq *q, unsigned tag, uint64_t *seqs, size_t cap)
{
	uint8_t want[MAXP], got[MAXP];
	size_t n = 0, gn, wn;
	uint64_t s, last = 0;
	rp_status st;

	for (;;) {
		st = rp_sfq_peek(q, got, sizeof(got), &gn, &s);
		if (st == RP_E_NOT_FOUND) {
			break;
		}
		assert_int_equal(st, RP_OK);
		assert_true(s > last); /* in order, never twice */
		last = s;
		wn = payload(s, tag, want);
		assert_int_equal(gn, wn);
		assert_memory_equal(got, want, wn);
		assert_true(n < cap);
		seqs[n++] = s;
		assert_int_equal(rp_sfq_pop(q, s), RP_OK);
	}
	assert_int_equal(rp_sfq_count(q), 0);
	return n;
}

/* Delivers everything and checks it is exactly from..to, skipping `except` (0: none). */
static void drain_expect(rp_sfq *q, unsigned tag, uint64_t from, uint64_t to, uint64_t except)
{
	uint64_t seqs[1024], s;
	size_t n = drain(q, tag, seqs, 1024), i = 0;

	for (s = from; s <= to; s++) {
		if (s == except) {
			continue;
		}
		assert_true(i < n);
		assert_int_equal(seqs[i], s);
		i++;
	}
	assert_int_equal(i, n);
}

/* ------------------------------------------------------------------------
 * File helpers
 * ------------------------------------------------------------------------ */

static uint8_t *read_file(const char *p, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	FILE *f;

	assert_int_equal(stat(p, &st), 0);
	buf = malloc((size_t)st.st_size + 1u);
	assert_non_null(buf);
	f = fopen(p, "rb");
	assert_non_null(f);
	*len = fread(buf, 1, (size_t)st.st_size, f);
	assert_int_equal(*len, (size_t)st.st_size);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void write_file(const char *p, const uint8_t *buf, size_t len)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	if (len != 0) {
		assert_int_equal(write(fd, buf, len), (ssize_t)len);
	}
	assert_int_equal(close(fd), 0);
}

static uint64_t file_size(const char *p)
{
	struct stat st;

	assert_int_equal(stat(p, &st), 0);
	return (uint64_t)st.st_size;
}

static const char *join(char *out, const char *d, const char *name)
{
	int n = snprintf(out, PATHLEN, "%s/%s", d, name);

	assert_true(n > 0 && n < (int)PATHLEN);
	return out;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* The segment files of d, oldest first; returns how many. */
static size_t seg_files(const char *d, char names[][32])
{
	struct dirent *e;
	DIR *dd = opendir(d);
	size_t n = 0, l;

	assert_non_null(dd);
	while ((e = readdir(dd)) != NULL) {
		l = strlen(e->d_name);
		if (l == 20 && strcmp(e->d_name + 16, ".seg") == 0) {
			assert_true(n < MAXSEGS);
			memcpy(names[n++], e->d_name, l + 1);
		}
	}
	closedir(dd);
	qsort(names, n, 32, cmp_names);
	return n;
}

static size_t count_entries(const char *d)
{
	struct dirent *e;
	DIR *dd = opendir(d);
	size_t n = 0;

	assert_non_null(dd);
	while ((e = readdir(dd)) != NULL) {
		if (e->d_name[0] != '.' ||
		    (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)) {
			n++;
		}
	}
	closedir(dd);
	return n;
}

/* Copies every regular file of src into a fresh dst (a crash image). */
static void copy_dir(const char *src, const char *dst)
{
	char a[PATHLEN], b[PATHLEN];
	struct dirent *e;
	uint8_t *buf;
	size_t len;
	DIR *dd;

	rm_rf(dst);
	assert_int_equal(mkdir(dst, 0700), 0);
	dd = opendir(src);
	assert_non_null(dd);
	while ((e = readdir(dd)) != NULL) {
		struct stat st;

		if (stat(join(a, src, e->d_name), &st) != 0 || !S_ISREG(st.st_mode)) {
			continue;
		}
		buf = read_file(a, &len);
		write_file(join(b, dst, e->d_name), buf, len);
		free(buf);
	}
	closedir(dd);
}

/* Offset of record seq (all pushed with tag) in a segment whose first record is first. */
static uint64_t rec_off(uint64_t first, uint64_t seq, unsigned tag)
{
	uint64_t off = RP_SFQ_SEGMENT_HEADER, s;

	for (s = first; s < seq; s++) {
		off += rec_size(s, tag);
	}
	return off;
}

/* ------------------------------------------------------------------------
 * Normal operation
 * ------------------------------------------------------------------------ */

static void test_in_order_and_across_reopen(void **state)
{
	rp_sfq_stats st;
	rp_sfq *q;

	(void)state;
	q = qopen(qdir, NULL);
	expect_empty(q);
	push_range(q, 1, 50, 0);
	assert_int_equal(rp_sfq_count(q), 50);
	expect(q, 1, 0, 0);
	expect(q, 1, 0, 1); /* peek twice: the same record until popped */
	expect(q, 2, 0, 1);
	assert_int_equal(rp_sfq_count(q), 48);
	assert_int_equal(rp_sfq_close(q), RP_OK);

	q = qopen(qdir, NULL);
	st = stats(q);
	assert_int_equal(st.count, 48);
	assert_int_equal(st.head, 3);
	assert_int_equal(st.tail, 51);
	assert_int_equal(st.torn + st.lost + st.dropped + st.bad_segments, 0);
	expect(q, 3, 0, 1);
	push_range(q, 51, 60, 0);
	assert_int_equal(rp_sfq_close(q), RP_OK);

	q = qopen(qdir, NULL);
	drain_expect(q, 0, 4, 60, 0);
	st = stats(q);
	assert_int_equal(st.torn + st.lost + st.dropped + st.bad_segments, 0);
	assert_int_equal(rp_sfq_close(q), RP_OK);
	assert_int_equal(rp_sfq_close(NULL), RP_OK);
}

static void test_pop_semantics(void **state)
{
	uint8_t buf[4];
	size_t n = 0;
	uint64_t s = 0;
	rp_sfq *q;

	(void)state;
	q = qopen(qdir, NULL);
	assert_int_equal(rp_sfq_pop(q, 1), RP_E_NOT_FOUND); /* never given out */
	push_range(q, 1, 10, 0);
	assert_int_equal(rp_sfq_pop(q, 11), RP_E_NOT_FOUND);
	/* Cumulative: everything up to 4. */
	assert_int_equal(rp_sfq_pop(q, 4), RP_OK);
	assert_int_equal(rp_sfq_count(q), 6);
	/* Repeated acknowledgements are harmless. */
	assert_int_equal(rp_sfq_pop(q, 4), RP_OK);
	assert_int_equal(rp_sfq_pop(q, 1), RP_OK);
	assert_int_equal(rp_sfq_count(q), 6);
	/* A buffer too small: the size, nothing consumed. */
	assert_int_equal(rp_sfq_peek(q, buf, sizeof(buf), &n, &s), RP_E_BUF_TOO_SMALL);
	assert_int_equal(s, 5);
	assert_int_equal(n, rec_size(5, 0) - RP_SFQ_RECORD_OVERHEAD);
	expect(q, 5, 0, 1);
	drain_expect(q, 0, 6, 10, 0);
	assert_int_equal(stats(q).lost, 0);
	/* Bad arguments. */
	assert_int_equal(rp_sfq_peek(q, NULL, 4, &n, &s), RP_E_INVALID_ARG);
	assert_int_equal(rp_sfq_peek(q, buf, sizeof(buf), NULL, &s), RP_E_INVALID_ARG);
	assert_int_equal(rp_sfq_push(q, NULL, 1), RP_E_INVALID_ARG);
	assert_int_equal(rp_sfq_push(NULL, buf, 1), RP_E_INVALID_ARG);
	assert_int_equal(rp_sfq_pop(NULL, 1), RP_E_INVALID_ARG);
	assert_int_equal(rp_sfq_count(NULL), 0);
	assert_int_equal(rp_sfq_close(q), RP_OK);
}

static void test_sizes_and_options(void **state)
{
	static uint8_t big[RP_LIMIT_SFQ_RECORD + 1], back[RP_LIMIT_SFQ_RECORD];
	rp_sfq_opts o = {0};
	size_t n = 0, i;
	uint64_t s = 0;
	rp_sfq *q = NULL;

	(void)state;
	/* Options out of range. */
	o.max_record = RP_LIMIT_SFQ_RECORD + 1u;
	assert_int_equal(rp_sfq_open(qdir, key, &o, &q), RP_E_INVALID_ARG);
	o.max_record = 1000;
	o.segment_bytes = RP_SFQ_SEGMENT_HEADER + RP_SFQ_RECORD_OVERHEAD + 999u;
	assert_int_equal(rp_sfq_open(qdir, key, &o, &q), RP_E_INVALID_ARG);
	o.segment_bytes = 4096;
	o.max_bytes = 8191;
	assert_int_equal(rp_sfq_open(qdir, key, &o, &q), RP_E_INVALID_ARG);
	o.max_bytes = (uint64_t)4096 * RP_LIMIT_SFQ_SEGMENTS;
	assert_int_equal(rp_sfq_open(qdir, key, &o, &q), RP_E_INVALID_ARG);
	o.max_bytes = 8192;
	o.policy = (rp_sfq_policy)7;
	assert_int_equal(rp_sfq_open(qdir, key, &o, &q), RP_E_INVALID_ARG);
	o.segment_bytes = RP_LIMIT_SFQ_SEGMENT + 1u;
	o.policy = RP_SFQ_REFUSE;
	assert_int_equal(rp_sfq_open(qdir, key, &o, &q), RP_E_INVALID_ARG);
	assert_int_equal(rp_sfq_open(NULL, key, NULL, &q), RP_E_INVALID_ARG);
	assert_int_equal(rp_sfq_open(qdir, NULL, NULL, &q), RP_E_INVALID_ARG);
	assert_int_equal(rp_sfq_open(qdir, key, NULL, NULL), RP_E_INVALID_ARG);
	assert_null(q);

	/* The largest record, an empty one, and one byte too many. */
	memset(&o, 0, sizeof(o));
	o.max_record = RP_LIMIT_SFQ_RECORD;
	q = qopen(qdir, &o);
	for (i = 0; i < sizeof(big); i++) {
		big[i] = (uint8_t)(i * 13u + (i >> 8));
	}
	assert_int_equal(rp_sfq_push(q, big, RP_LIMIT_SFQ_RECORD + 1u), RP_E_TOO_LARGE);
	assert_int_equal(rp_sfq_push(q, big, RP_LIMIT_SFQ_RECORD), RP_OK);
	assert_int_equal(rp_sfq_push(q, NULL, 0), RP_OK);
	assert_int_equal(rp_sfq_close(q), RP_OK);
	q = qopen(qdir, &o);
	assert_int_equal(rp_sfq_peek(q, back, sizeof(back), &n, &s), RP_OK);
	assert_int_equal(n, RP_LIMIT_SFQ_RECORD);
	assert_memory_equal(back, big, n);
	assert_int_equal(rp_sfq_pop(q, s), RP_OK);
	assert_int_equal(rp_sfq_peek(q, NULL, 0, &n, &s), RP_OK);
	assert_int_equal(n, 0);
	assert_int_equal(rp_sfq_pop(q, s), RP_OK);
	expect_empty(q);
	assert_int_equal(rp_sfq_close(q), RP_OK);

	/* Default max_record: 16 KiB. */
	q = qopen(qdir, NULL);
	assert_int_equal(rp_sfq_push(q, big, RP_DEFAULT_SFQ_RECORD + 1u), RP_E_TOO_LARGE);
	assert_int_equal(rp_sfq_push(q, big, RP_DEFAULT_SFQ_RECORD), RP_OK);
	assert_int_equal(rp_sfq_close(q), RP_OK);
}

static void test_files_permissions_and_lock(void **state)
{
	char p[PATHLEN], names[MAXSEGS][32];
	rp_sfq *q, *q2 = NULL;
	struct stat st;

	(void)state;
	q = qopen(qdir, NULL);
	push_range(q, 1, 3, 0);
	/* One rp_sfq per directory, in any process or thread. */
	assert_int_equal(rp_sfq_open(qdir, key, NULL, &q2), RP_E_BUSY);
	assert_null(q2);
	assert_int_equal(stat(qdir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(join(p, qdir, "state"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(seg_files(qdir, names), 1);
	assert_int_equal(stat(join(p, qdir, names[0]), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(rp_sfq_close(q), RP_OK);

	/* Leftover temporary files go; files of other names stay. */
	write_file(join(p, qdir, ".tmp-0123456789abcdef"), (const uint8_t *)"x", 1);
	write_file(join(p, qdir, "notes.txt"), (const uint8_t *)"keep", 4);
	q = qopen(qdir, NULL);
	assert_int_equal(access(join(p, qdir, ".tmp-0123456789abcdef"), F_OK), -1);
	assert_int_equal(access(join(p, qdir, "notes.txt"), F_OK), 0);
	assert_int_equal(rp_sfq_close(q), RP_OK);

	/* A directory others may write, or a file others may read: refused. */
	assert_int_equal(chmod(qdir, 0770), 0);
	assert_int_equal(rp_sfq_open(qdir, key, NULL, &q2), RP_E_CONFIG);
	assert_int_equal(chmod(qdir, 0700), 0);
	assert_int_equal(chmod(join(p, qdir, names[0]), 0644), 0);
	assert_int_equal(rp_sfq_open(qdir, key, NULL, &q2), RP_E_CONFIG);
	assert_int_equal(chmod(join(p, qdir, names[0]), 0600), 0);
	assert_int_equal(chmod(join(p, qdir, "state"), 0640), 0);
	assert_int_equal(rp_sfq_open(qdir, key, NULL, &q2), RP_E_CONFIG);
	assert_int_equal(chmod(join(p, qdir, "state"), 0600), 0);
	/* The parent must exist. */
	assert_int_equal(rp_sfq_open(join(p, qdir, "no/such"), key, NULL, &q2), RP_E_NOT_FOUND);
	q = qopen(qdir, NULL);
	drain_expect(q, 0, 1, 3, 0);
	assert_int_equal(rp_sfq_close(q), RP_OK);
}

static void test_wrong_key_detected(void **state)
{
	char p[PATHLEN], names[MAXSEGS][32];
	uint8_t *before, *after;
	size_t n1, n2;
	rp_sfq *q = NULL;

	(void)state;
	/* An empty queue: the state file alone tells. */
	q = qopen(qdir, NULL);
	assert_int_equal(rp_sfq_close(q), RP_OK);
	q = NULL;
	assert_int_equal(rp_sfq_open(qdir, key2, NULL, &q), RP_E_CRYPTO);
	assert_null(q);

	q = qopen(qdir, NULL);
	push_range(q, 1, 5, 0);
	assert_int_equal(rp_sfq_close(q), RP_OK);
	assert_int_equal(seg_files(qdir, names), 1);
	before = read_file(join(p, qdir, names[0]), &n1);
	q = NULL;
	assert_int_equal(rp_sfq_open(qdir, key2, NULL, &q), RP_E_CRYPTO);
	assert_null(q);
	/* Nothing was changed by the refused open. */
	after = read_file(join(p, qdir, names[0]), &n2);
	assert_int_equal(n1, n2);
	assert_memory_equal(before, after, n1);
	free(before);
	free(after);
	q = qopen(qdir, NULL);
	drain_expect(q, 0, 1, 5, 0);
	assert_int_equal(rp_sfq_close(q), RP_OK);

	/* Segments without their state file: refused too. */
	q = qopen(qdir, NULL);
	push_range(q, 6, 7, 0);
	assert_int_equal(rp_sfq_close(q), RP_OK);
	assert_int_equal(unlink(join(p, qdir, "state")), 0);
	assert_int_equal(rp_sfq_open(qdir, key, NULL, &q), RP_E_CRYPTO);
}

static void test_ack_batching_is_at_least_once(void **state)
{
	rp_sfq_opts o = {.ack_sync_every = 10};
	uint64_t s;
	rp_sfq *q, *c;

	(void)state;
	q = qopen(qdir, &o);
	push_range(q, 1, 30, 0);
	for (s = 1; s <= 15; s++) {
		expect(q, s, 0, 1);
	}
	/* A crash now: the position written at the 10th pop is what survives. */
	copy_dir(qdir, cdir);
	assert_int_equal(rp_sfq_close(q), RP_OK);
	c = qopen(cdir, &o);
	assert_int_equal(stats(c).head, 11);
	drain_expect(c, 0, 11, 30, 0); /* 11..15 a second time */
	assert_int_equal(rp_sfq_close(c), RP_OK);
	/* A clean close wrote everything. */
	q = qopen(qdir, &o);
	assert_int_equal(stats(q).head, 16);
	drain_expect(q, 0, 16, 30, 0);
	assert_int_equal(rp_sfq_close(q), RP_OK);
}

static void test_sync_batching(void **state)
{
	rp_sfq_opts o = {.sync_every = 8};
	rp_sfq *q;

	(void)state;
	q = qopen(qdir, &o);
	push_range(q, 1, 20, 0);
	assert_int_equal(rp_sfq_sync(q), RP_OK);
	push_range(q, 21, 23, 0);
	assert_int_equal(rp_sfq_close(q), RP_OK);
	q = qopen(qdir, &o);
	drain_expect(q, 0, 1, 23, 0);
	assert_int_equal(rp_sfq_close(q), RP_OK);
}

static void test_consumed_segments_deleted(void **state)
{
	rp_sfq_opts o = {.segment_bytes = 1024, .max_bytes = 64 * 1024, .max_record = 256};
	char names[MAXSEGS][32];
	uint64_t bytes;
	size_t before;
	rp_sfq *q;

	(void)state;
	q = qopen(qdir, &o);
	push_range(q, 1, 100, 0);
	before = seg_files(qdir, names);
	assert_true(before >= 5);
	bytes = rp_sfq_bytes(q);
	assert_true(bytes <= before * 1024u);
	drain_expect(q, 0, 1, 100, 0);
	/* Only the segment being written stays. */
	assert_int_equal(seg_files(qdir, names), 1);
	assert_true(rp_sfq_bytes(q) < bytes);
	assert_int_equal(rp_sfq_close(q), RP_OK);
	/* A reopened queue drops a consumed segment at once. */
	q = qopen(qdir, &o);
	assert_int_equal(seg_files(qdir, names), 0);
	assert_int_equal(rp_sfq_bytes(q), 0);
	push(q, 101, 0);
	assert_int_equal(rp_sfq_close(q), RP_OK);
}

/* ------------------------------------------------------------------------
 * Full queue policies
 * ------------------------------------------------------------------------ */

static void test_drop_oldest(void **state)
{
	rp_sfq_opts o = {.segment_bytes = 1024, .max_bytes = 4096, .max_record = 256};
	uint64_t s, seqs[1024];
	rp_sfq_stats st;
	size_t n, i;
	rp_sfq *q;

	(void)state;
	q = qopen(qdir, &o);
	for (s = 1; s <= 300; s++) {
		push(q, s, 0);
		st = stats(q);
		assert_true(st.bytes <= o.max_bytes);
		assert_int_equal(st.count + st.dropped, s); /* nothing vanishes uncounted */
		/* Read (not acknowledged) records go too, and count as dropped. */
		if (s == 100) {
			expect(q, st.head, 0, 0);
		}
	}
	st = stats(q);
	assert_true(st.dropped > 200);
	assert_int_equal(st.lost, 0);
	assert_int_equal(rp_sfq_close(q), RP_OK);

	/* The newest survive, in order; the count survives a restart. */
	q = qopen(qdir, &o);
	assert_int_equal(stats(q).dropped, st.dropped);
	n = drain(q, 0, seqs, 1024);
	assert_int_equal(n, st.count);
	for (i = 0; i < n; i++) {
		assert_int_equal(seqs[i], 300 - n + 1 + i);
	}
	assert_int_equal(rp_sfq_close(q), RP_OK);
}

static void test_refuse_when_full(void **state)
{
	rp_sfq_opts o = {.segment_bytes = 1024,
			 .max_bytes = 4096,
			 .max_record = 256,
			 .policy = RP_SFQ_REFUSE};
	uint8_t b[MAXP];
	uint64_t s = 1, ok, first_seg;
	rp_sfq_stats st;
	rp_sfq *q;
	size_t n;

	(void)state;
	q = qopen(qdir, &o);
	for (;;) {
		n = payload(s, 0, b);
		rp_status r = rp_sfq_push(q, b, n);

		if (r == RP_E_BUSY) {
			break;
		}
		assert_int_equal(r, RP_OK);
		s++;
	}
	ok = s - 1;
	st = stats(q);
	assert_true(ok > 20);
	assert_int_equal(st.count, ok);
	assert_true(st.bytes <= o.max_bytes);
	/* Refusing changes nothing, however often. */
	assert_int_equal(rp_sfq_push(q, b, n), RP_E_BUSY);
	assert_int_equal(rp_sfq_count(q), ok);
	assert_int_equal(stats(q).dropped, 0);
	/* Delivering the oldest segment makes room again. */
	first_seg = 0;
	while (stats(q).bytes + RP_SFQ_SEGMENT_HEADER + rec_size(s, 0) > o.max_bytes) {
		expect(q, ++first_seg, 0, 1);
	}
	push(q, s, 0);
	assert_int_equal(rp_sfq_close(q), RP_OK);
	q = qopen(qdir, &o);
	drain_expect(q, 0, first_seg + 1, s, 0);
	assert_int_equal(stats(q).dropped, 0);
	assert_int_equal(rp_sfq_close(q), RP_OK);
}

/* ------------------------------------------------------------------------
 * Power cuts and write failures
 * ------------------------------------------------------------------------ */

/* Opens the crash image, checks 1..good come back and the torn count, then uses it. */
static void check_image(uint64_t good, uint64_t torn, const char *seg, uint64_t seg_size_after)
{
	/* Batched syncs: fewer fsync() calls per image; close syncs all. */
	const rp_sfq_opts o = {.sync_every = 100, .ack_sync_every = 100};
	char p[PATHLEN];
	rp_sfq_stats st;
	rp_sfq *c;

	c = qopen(cdir, &o);
	st = stats(c);
	assert_int_equal(st.torn, torn);
	assert_int_equal(st.lost, 0);
	assert_int_equal(st.count, good);
	assert_int_equal(st.tail, good + 1);
	if (seg != NULL) {
		if (seg_size_after == 0) {
			assert_int_equal(access(join(p, cdir, seg), F_OK), -1);
		} else {
			assert_int_equal(file_size(join(p, cdir, seg)), seg_size_after);
		}
	}
	drain_expect(c, 0, 1, good, 0);
	/* The queue goes on: the torn number is given again, with a new record. */
	push(c, good + 1, 1);
	expect(c, good + 1, 1, 1);
	push(c, good + 2, 1);
	assert_int_equal(rp_sfq_close(c), RP_OK);
	c = qopen(cdir, &o);
	st = stats(c);
	assert_int_equal(st.torn, torn); /* counted once, on disk */
	assert_int_equal(st.lost, 0);
	expect(c, good + 2, 1, 1);
	expect_empty(c);
	assert_int_equal(rp_sfq_close(c), RP_OK);
}

static void test_power_cut_every_offset(void **state)
{
	char p[PATHLEN], names[MAXSEGS][32];
	uint8_t *full, *state_file, *img, *now;
	size_t full_len, state_len, n;
	uint64_t o0, o1, k;
	rp_sfq *q;

	(void)state;
	q = qopen(qdir, NULL);
	push_range(q, 1, 5, 0);
	assert_int_equal(seg_files(qdir, names), 1);
	o0 = file_size(join(p, qdir, names[0]));
	push(q, 6, 0);
	o1 = file_size(join(p, qdir, names[0]));
	assert_int_equal(o1 - o0, rec_size(6, 0));
	assert_int_equal(rp_sfq_close(q), RP_OK);
	full = read_file(join(p, qdir, names[0]), &full_len);
	state_file = read_file(join(p, qdir, "state"), &state_len);
	img = calloc(1, full_len + 64);
	assert_non_null(img);

	/* The cut at every offset of record 6: o0 is "nothing of it written". */
	for (k = o0; k < o1; k++) {
		copy_dir(qdir, cdir);
		write_file(join(p, cdir, "state"), state_file, state_len);
		write_file(join(p, cdir, names[0]), full, (size_t)k);
		check_image(5, k > o0, names[0], o0);
		/* The new record 6 does not reuse the torn one's nonce. */
		now = read_file(join(p, cdir, names[0]), &n);
		assert_true(n >= o0 + RP__SFQ_REC_HDR);
		assert_memory_not_equal(now + o0 + RP__SFQ_REC_NONCE, full + o0 + RP__SFQ_REC_NONCE,
					RP__STORAGE_NONCE_LEN);
		free(now);
	}
	/* The record's blocks never reached the disk: zeros or garbage where it was. */
	for (k = o0; k < o1; k += 7) {
		memcpy(img, full, (size_t)k);
		memset(img + k, 0, (size_t)(o1 - k));
		copy_dir(qdir, cdir);
		write_file(join(p, cdir, names[0]), img, (size_t)o1);
		check_image(5, 1, names[0], o0);

		memcpy(img, full, (size_t)k);
		for (n = (size_t)k; n < full_len + 64; n++) {
			img[n] = (uint8_t)(n * 2654435761u >> 13);
		}
		copy_dir(qdir, cdir);
		write_file(join(p, cdir, names[0]), img, full_len + 64);
		check_image(5, 1, names[0], o0);
	}
	/* The whole record written: nothing torn. */
	copy_dir(qdir, cdir);
	check_image(6, 0, names[0], o1);
	free(full);
	free(state_file);
	free(img);
}

static void test_power_cut_at_segment_switch(void **state)
{
	rp_sfq_opts o = {.segment_bytes = 600, .max_bytes = 64 * 1024, .max_record = 256};
	char p[PATHLEN], names[MAXSEGS][32], before[MAXSEGS][32], tmp[64];
	uint8_t *seg;
	size_t len, nb, na;
	uint64_t s, k, r;
	rp_sfq_stats st;
	rp_sfq *q, *c;

	(void)state;
	/* Push until a push starts a second segment; keep the image before it. */
	q = qopen(qdir, &o);
	for (s = 1;; s++) {
		nb = seg_files(qdir, before);
		copy_dir(qdir, cdir);
		push(q, s, 0);
		if (seg_files(qdir, names) == 2) {
			break;
		}
	}
	assert_int_equal(nb, 1);
	assert_int_equal(rp_sfq_close(q), RP_OK);
	seg = read_file(join(p, qdir, names[1]), &len);
	r = rec_size(s, 0);
	assert_int_equal(len, RP_SFQ_SEGMENT_HEADER + r);
	rm_rf(cdir);

	/* (a) Cut while the new segment was a temporary file: any part of its header. */
	for (k = 0; k <= RP_SFQ_SEGMENT_HEADER; k += 7) {
		copy_dir(qdir, cdir);
		assert_int_equal(unlink(join(p, cdir, names[1])), 0);
		(void)snprintf(tmp, sizeof(tmp), ".tmp-%016llx", (unsigned long long)k);
		write_file(join(p, cdir, tmp), seg, (size_t)k);
		c = qopen(cdir, &o);
		assert_int_equal(access(join(p, cdir, tmp), F_OK), -1);
		st = stats(c);
		assert_int_equal(st.count, s - 1);
		assert_int_equal(st.torn + st.lost, 0);
		assert_int_equal(rp_sfq_close(c), RP_OK);
		check_image(s - 1, 0, names[1], 0);
	}
	/* (b) The new segment made, its first record not begun: deleted as empty. */
	copy_dir(qdir, cdir);
	write_file(join(p, cdir, names[1]), seg, RP_SFQ_SEGMENT_HEADER);
	check_image(s - 1, 0, names[1], 0);
	/* (c) Its first record cut at every offset: torn, and the empty segment goes. */
	for (k = RP_SFQ_SEGMENT_HEADER + 1; k < len; k++) {
		copy_dir(qdir, cdir);
		write_file(join(p, cdir, names[1]), seg, (size_t)k);
		check_image(s - 1, 1, names[1], 0);
	}
	/* (d) The last record of the old segment cut (before the switch). */
	copy_dir(qdir, cdir);
	assert_int_equal(unlink(join(p, cdir, names[1])), 0);
	{
		uint8_t *old = read_file(join(p, cdir, names[0]), &na);

		write_file(join(p, cdir, names[0]), old, na - 3);
		free(old);
	}
	check_image(s - 2, 1, names[0], na - rec_size(s - 1, 0));
	/* (e) Everything written: all delivered. */
	copy_dir(qdir, cdir);
	check_image(s, 0, NULL, 0);
	free(seg);
}

static void test_write_fails_midway(void **state)
{
	char p[PATHLEN], names[MAXSEGS][32];
	struct rlimit old, lim;
	uint8_t b[MAXP];
	uint64_t o0, k, r;
	rp_status st;
	size_t n;
	rp_sfq *q;

	(void)state;
	/* Writing past RLIMIT_FSIZE fails with EFBIG instead of killing us. */
	assert_true(signal(SIGXFSZ, SIG_IGN) != SIG_ERR);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	q = qopen(qdir, NULL);
	push_range(q, 1, 5, 0);
	assert_int_equal(seg_files(qdir, names), 1);
	o0 = file_size(join(p, qdir, names[0]));
	assert_true(o0 > 2 * RP__SFQ_STATE_SLOT); /* the limit never stops a state write */
	r = rec_size(6, 0);
	n = payload(6, 0, b);
	/* The kernel writes k bytes of the record, then refuses the rest. */
	for (k = 0; k < r; k++) {
		lim = old;
		lim.rlim_cur = (rlim_t)(o0 + k);
		assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
		st = rp_sfq_push(q, b, n);
		assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
		assert_int_equal(st, RP_E_IO);
		/* Not queued, and its bytes cut off again. */
		assert_int_equal(file_size(join(p, qdir, names[0])), o0);
		assert_int_equal(rp_sfq_count(q), 5);
		assert_int_equal(stats(q).tail, 6);
	}
	push_range(q, 6, 8, 0);
	expect(q, 1, 0, 1);
	assert_int_equal(rp_sfq_close(q), RP_OK);
	q = qopen(qdir, NULL);
	assert_int_equal(stats(q).torn + stats(q).lost, 0);
	drain_expect(q, 0, 2, 8, 0);
	assert_int_equal(rp_sfq_close(q), RP_OK);
	assert_true(signal(SIGXFSZ, SIG_DFL) != SIG_ERR);
}

/* ------------------------------------------------------------------------
 * Damage
 * ------------------------------------------------------------------------ */

/* Pushes 1..10 (ack_sync_every large: fewer syncs) into one segment; returns its bytes. */
static uint8_t *ten_records(char names[][32], size_t *len, uint8_t **state_file, size_t *state_len)
{
	char p[PATHLEN];
	uint8_t *seg;
	rp_sfq *q;

	q = qopen(qdir, NULL);
	push_range(q, 1, 10, 0);
	assert_int_equal(rp_sfq_close(q), RP_OK);
	assert_int_equal(seg_files(qdir, names), 1);
	seg = read_file(join(p, qdir, names[0]), len);
	*state_file = read_file(join(p, qdir, "state"), state_len);
	return seg;
}

static void open_image(const char *seg_name, const uint8_t *seg, size_t len,
		       const uint8_t *state_file, size_t state_len, rp_sfq **c)
{
	rp_sfq_opts o = {.ack_sync_every = 1000};
	char p[PATHLEN];

	rm_rf(cdir);
	assert_int_equal(mkdir(cdir, 0700), 0);
	write_file(join(p, cdir, "state"), state_file, state_len);
	write_file(join(p, cdir, seg_name), seg, len);
	*c = qopen(cdir, &o);
}

static void test_bit_flips_never_delivered(void **state)
{
	char names[MAXSEGS][32];
	uint8_t *seg, *mod, *st_file;
	size_t len, st_len;
	uint64_t off4, end4, off10, i;
	rp_sfq_stats st;
	rp_sfq *c;

	(void)state;
	seg = ten_records(names, &len, &st_file, &st_len);
	mod = malloc(len);
	assert_non_null(mod);
	off4 = rec_off(1, 4, 0);
	end4 = off4 + rec_size(4, 0);
	off10 = rec_off(1, 10, 0);
	assert_int_equal(off10 + rec_size(10, 0), len);

	/* Every byte of record 4 (header, ciphertext, tag), one bit each. */
	for (i = off4; i < end4; i++) {
		memcpy(mod, seg, len);
		mod[i] ^= (uint8_t)(1u << (i % 8u));
		open_image(names[0], mod, len, st_file, st_len, &c);
		drain_expect(c, 0, 1, 10, 4);
		st = stats(c);
		assert_int_equal(st.lost, 1);
		assert_int_equal(st.torn, 0);
		assert_int_equal(rp_sfq_close(c), RP_OK);
	}
	/* Also the top bit of every header byte (lengths far too large). */
	for (i = off4; i < off4 + RP__SFQ_REC_HDR; i++) {
		memcpy(mod, seg, len);
		mod[i] ^= 0x80u;
		open_image(names[0], mod, len, st_file, st_len, &c);
		drain_expect(c, 0, 1, 10, 4);
		assert_int_equal(stats(c).lost, 1);
		assert_int_equal(rp_sfq_close(c), RP_OK);
	}
	/* The final record of the newest segment damaged looks like a torn write. */
	for (i = off10; i < len; i += 5) {
		memcpy(mod, seg, len);
		mod[i] ^= 0x10u;
		open_image(names[0], mod, len, st_file, st_len, &c);
		drain_expect(c, 0, 1, 9, 0);
		st = stats(c);
		assert_int_equal(st.torn, 1);
		assert_int_equal(st.lost, 0);
		assert_int_equal(rp_sfq_close(c), RP_OK);
	}
	/* The segment header: the segment cannot be believed, and goes. */
	for (i = 0; i < RP_SFQ_SEGMENT_HEADER; i++) {
		memcpy(mod, seg, len);
		mod[i] ^= 0x01u;
		rm_rf(cdir);
		assert_int_equal(mkdir(cdir, 0700), 0);
		{
			char p[PATHLEN];
			rp_sfq *q2 = NULL;
			rp_status r;

			write_file(join(p, cdir, "state"), st_file, st_len);
			write_file(join(p, cdir, names[0]), mod, len);
			r = rp_sfq_open(cdir, key, NULL, &q2);
			if (i == 4) {
				/* The version byte: a newer format is refused, not deleted. */
				assert_int_equal(r, RP_E_CONFIG);
				continue;
			}
			assert_int_equal(r, RP_OK);
			assert_int_equal(stats(q2).bad_segments, 1);
			assert_int_equal(access(join(p, cdir, names[0]), F_OK), -1);
			expect_empty(q2);
			assert_int_equal(rp_sfq_close(q2), RP_OK);
		}
	}
	free(mod);
	free(seg);
	free(st_file);
}

static void test_damage_found_while_running(void **state)
{
	char p[PATHLEN], names[MAXSEGS][32];
	uint64_t off;
	uint8_t byte;
	rp_sfq *q;
	int fd;

	(void)state;
	q = qopen(qdir, NULL);
	push_range(q, 1, 6, 0);
	expect(q, 1, 0, 1);
	/* Record 3's ciphertext changes on disk while the queue is open. */
	assert_int_equal(seg_files(qdir, names), 1);
	off = rec_off(1, 3, 0) + RP__SFQ_REC_HDR + 2;
	fd = open(join(p, qdir, names[0]), O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &byte, 1, (off_t)off), 1);
	byte ^= 0x40u;
	assert_int_equal(pwrite(fd, &byte, 1, (off_t)off), 1);
	assert_int_equal(close(fd), 0);
	expect(q, 2, 0, 1);
	expect(q, 4, 0, 1); /* 3 skipped, never delivered */
	assert_int_equal(stats(q).lost, 1);
	drain_expect(q, 0, 5, 6, 0);
	assert_int_equal(rp_sfq_close(q), RP_OK);
	q = qopen(qdir, NULL);
	assert_int_equal(stats(q).lost, 1); /* counted once */
	assert_int_equal(rp_sfq_close(q), RP_OK);
}

static void test_spliced_swapped_and_missing(void **state)
{
	char p[PATHLEN], xdir[PATHLEN], names[MAXSEGS][32], ynames[MAXSEGS][32];
	uint8_t *x, *y, *mod, *st_file;
	size_t xl, yl, st_len;
	uint64_t o3, o4, o5, r3;
	rp_sfq *q, *c;

	(void)state;
	/* Queue X and queue Y: the same key, the same records. */
	x = ten_records(names, &xl, &st_file, &st_len);
	(void)snprintf(xdir, sizeof(xdir), "%s/y", dir);
	q = qopen(xdir, NULL);
	push_range(q, 1, 10, 0);
	assert_int_equal(rp_sfq_close(q), RP_OK);
	assert_int_equal(seg_files(xdir, ynames), 1);
	y = read_file(join(p, xdir, ynames[0]), &yl);
	assert_int_equal(xl, yl);
	mod = malloc(xl);
	assert_non_null(mod);
	o3 = rec_off(1, 3, 0);
	o4 = rec_off(1, 4, 0);
	o5 = rec_off(1, 5, 0);
	r3 = o4 - o3;

	/* Y's record 3 in X's place: same key, number and length; not X's. */
	memcpy(mod, x, xl);
	memcpy(mod + o3, y + o3, (size_t)r3);
	open_image(names[0], mod, xl, st_file, st_len, &c);
	drain_expect(c, 0, 1, 10, 3);
	assert_int_equal(stats(c).lost, 1);
	assert_int_equal(rp_sfq_close(c), RP_OK);

	/* Y's whole segment under X's name: another queue's, deleted. */
	open_image(names[0], y, yl, st_file, st_len, &c);
	assert_int_equal(stats(c).bad_segments, 1);
	expect_empty(c);
	assert_int_equal(rp_sfq_close(c), RP_OK);

	/* Records 3 and 4 swapped: never out of order; one of them is lost. */
	memcpy(mod, x, (size_t)o3);
	memcpy(mod + o3, x + o4, (size_t)(o5 - o4));
	memcpy(mod + o3 + (o5 - o4), x + o3, (size_t)r3);
	memcpy(mod + o5, x + o5, xl - (size_t)o5);
	open_image(names[0], mod, xl, st_file, st_len, &c);
	drain_expect(c, 0, 1, 10, 3);
	assert_int_equal(stats(c).lost, 1);
	assert_int_equal(rp_sfq_close(c), RP_OK);

	/* Record 4 cut out of the middle: a gap, counted. */
	memcpy(mod, x, (size_t)o4);
	memcpy(mod + o4, x + o5, xl - (size_t)o5);
	open_image(names[0], mod, xl - (size_t)(o5 - o4), st_file, st_len, &c);
	drain_expect(c, 0, 1, 10, 4);
	assert_int_equal(stats(c).lost, 1);
	assert_int_equal(rp_sfq_close(c), RP_OK);

	/* Record 4 duplicated after itself (a replay): delivered once. */
	{
		uint8_t *dup = malloc(xl + (size_t)(o5 - o4));

		assert_non_null(dup);
		memcpy(dup, x, (size_t)o5);
		memcpy(dup + o5, x + o4, (size_t)(o5 - o4));
		memcpy(dup + o5 + (o5 - o4), x + o5, xl - (size_t)o5);
		open_image(names[0], dup, xl + (size_t)(o5 - o4), st_file, st_len, &c);
		drain_expect(c, 0, 1, 10, 0);
		assert_int_equal(stats(c).lost, 0);
		assert_int_equal(rp_sfq_close(c), RP_OK);
		free(dup);
	}
	free(x);
	free(y);
	free(mod);
	free(st_file);
}

static void test_lost_segments(void **state)
{
	rp_sfq_opts o = {.segment_bytes = 700, .max_bytes = 64 * 1024, .max_record = 256};
	char p[PATHLEN], names[MAXSEGS][32];
	uint64_t seqs[1024], first1, first2, size0;
	rp_sfq_stats st;
	size_t n, i, j;
	rp_sfq *q, *c;

	(void)state;
	q = qopen(qdir, &o);
	push_range(q, 1, 40, 0);
	assert_int_equal(rp_sfq_close(q), RP_OK);
	assert_true(seg_files(qdir, names) >= 4);
	first1 = strtoull(names[1], NULL, 16);
	first2 = strtoull(names[2], NULL, 16);

	/* A middle segment deleted: its records are counted lost, the rest delivered. */
	copy_dir(qdir, cdir);
	assert_int_equal(unlink(join(p, cdir, names[1])), 0);
	c = qopen(cdir, &o);
	n = drain(c, 0, seqs, 1024);
	st = stats(c);
	assert_int_equal(st.lost, first2 - first1);
	assert_int_equal(n + st.lost, 40);
	for (i = 0, j = 1; i < n; i++, j++) {
		if (j == first1) {
			j = first2;
		}
		assert_int_equal(seqs[i], j);
	}
	assert_int_equal(rp_sfq_close(c), RP_OK);

	/* The oldest segment truncated by two records: the gap is counted. */
	copy_dir(qdir, cdir);
	size0 = file_size(join(p, cdir, names[0]));
	assert_int_equal(truncate(join(p, cdir, names[0]), (off_t)(size0 - rec_size(first1 - 1, 0) -
								   rec_size(first1 - 2, 0))),
			 0);
	c = qopen(cdir, &o);
	n = drain(c, 0, seqs, 1024);
	assert_int_equal(stats(c).lost, 2);
	assert_int_equal(n, 38);
	assert_int_equal(rp_sfq_close(c), RP_OK);
}

static void test_state_file_damage(void **state)
{
	char p[PATHLEN];
	uint8_t *sf;
	size_t len, newest;
	uint64_t g0, g1;
	rp_sfq *q, *c = NULL;
	int i;

	(void)state;
	q = qopen(qdir, NULL);
	push_range(q, 1, 10, 0);
	for (i = 1; i <= 5; i++) {
		expect(q, (uint64_t)i, 0, 1);
	}
	assert_int_equal(rp_sfq_close(q), RP_OK);
	sf = read_file(join(p, qdir, "state"), &len);
	assert_int_equal(len, 2 * RP__SFQ_STATE_SLOT);
	g0 = 0;
	g1 = 0;
	for (i = 0; i < 8; i++) {
		g0 = g0 << 8 | sf[8 + i];
		g1 = g1 << 8 | sf[RP__SFQ_STATE_SLOT + 8 + i];
	}
	newest = g0 > g1 ? 0 : 1;

	/* The newest slot torn: the older one holds, so a little is delivered again. */
	copy_dir(qdir, cdir);
	sf[newest * RP__SFQ_STATE_SLOT + 20] ^= 1u;
	write_file(join(p, cdir, "state"), sf, len);
	c = qopen(cdir, NULL);
	assert_int_equal(stats(c).head, 5);
	drain_expect(c, 0, 5, 10, 0);
	assert_int_equal(rp_sfq_close(c), RP_OK);

	/* Both slots damaged: refused, like a wrong key. */
	copy_dir(qdir, cdir);
	sf[(1 - newest) * RP__SFQ_STATE_SLOT + 20] ^= 1u;
	write_file(join(p, cdir, "state"), sf, len);
	c = NULL;
	assert_int_equal(rp_sfq_open(cdir, key, NULL, &c), RP_E_CRYPTO);
	/* A state file of the wrong size too. */
	write_file(join(p, cdir, "state"), sf, len - 1);
	assert_int_equal(rp_sfq_open(cdir, key, NULL, &c), RP_E_CRYPTO);
	assert_null(c);
	free(sf);
	assert_int_equal(count_entries(qdir), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_in_order_and_across_reopen, make_dir,
						remove_dir),
		cmocka_unit_test_setup_teardown(test_pop_semantics, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_sizes_and_options, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_files_permissions_and_lock, make_dir,
						remove_dir),
		cmocka_unit_test_setup_teardown(test_wrong_key_detected, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_ack_batching_is_at_least_once, make_dir,
						remove_dir),
		cmocka_unit_test_setup_teardown(test_sync_batching, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_consumed_segments_deleted, make_dir,
						remove_dir),
		cmocka_unit_test_setup_teardown(test_drop_oldest, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_refuse_when_full, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_power_cut_every_offset, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_power_cut_at_segment_switch, make_dir,
						remove_dir),
		cmocka_unit_test_setup_teardown(test_write_fails_midway, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_bit_flips_never_delivered, make_dir,
						remove_dir),
		cmocka_unit_test_setup_teardown(test_damage_found_while_running, make_dir,
						remove_dir),
		cmocka_unit_test_setup_teardown(test_spliced_swapped_and_missing, make_dir,
						remove_dir),
		cmocka_unit_test_setup_teardown(test_lost_segments, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_state_file_damage, make_dir, remove_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
