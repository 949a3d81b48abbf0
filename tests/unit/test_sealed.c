/*
 * test_sealed.c - rampart/sealed.h: the data key file
 * (rp_storage_key_load_or_create) and sealed storage (rp_sealed_*), on
 * real files in a fresh temporary directory per test.
 *
 * What is proven: a value comes back as it was put, and only with the
 * right key and under the name it was sealed under; every single-bit flip
 * and every truncation of a sealed file is refused and nothing of it
 * reaches the caller's buffer; the value is not in the file in clear;
 * files are 0600 and replaced whole; unsafe names, directories and files
 * are refused; the key file is made once (also by racing threads) and
 * refused when others may read it or it has the wrong size.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rampart/sealed.h"

static char dir[64];
static char path[256];

static int make_dir(void **state)
{
	(void)state;
	(void)snprintf(dir, sizeof(dir), "/tmp/rp-test-sealed-XXXXXX");
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[128];

	(void)state;
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *in_dir(const char *name)
{
	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

/* Whole file into buf; returns its length. */
static size_t slurp(const char *p, uint8_t *buf, size_t cap)
{
	FILE *f = fopen(p, "rb");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, cap, f);
	assert_int_equal(fclose(f), 0);
	return n;
}

static void spit(const char *p, const uint8_t *buf, size_t len)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static int count_files(void)
{
	struct dirent *d;
	DIR *dd = opendir(dir);
	int n = 0;

	assert_non_null(dd);
	while ((d = readdir(dd)) != NULL) {
		if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0) {
			n++;
		}
	}
	closedir(dd);
	return n;
}

/* Whether needle occurs in buf[0 .. n) (memmem() is not POSIX). */
static int contains(const uint8_t *buf, size_t n, const char *needle)
{
	size_t k = strlen(needle), i;

	for (i = 0; i + k <= n; i++) {
		if (memcmp(buf + i, needle, k) == 0) {
			return 1;
		}
	}
	return 0;
}

static void fill_key(uint8_t key[RP_STORAGE_KEY_LEN], uint8_t v)
{
	size_t i;

	for (i = 0; i < RP_STORAGE_KEY_LEN; i++) {
		key[i] = (uint8_t)(v + i * 7u);
	}
}

/* ------------------------------------------------------------------------
 * Key file
 * ------------------------------------------------------------------------ */

static void test_key_created_then_loaded(void **state)
{
	uint8_t k1[RP_STORAGE_KEY_LEN], k2[RP_STORAGE_KEY_LEN], zero[RP_STORAGE_KEY_LEN] = {0};
	uint8_t disk[64];
	struct stat st;

	(void)state;
	assert_int_equal(rp_storage_key_load_or_create(in_dir("data.key"), k1), RP_OK);
	assert_memory_not_equal(k1, zero, sizeof(k1));
	assert_int_equal(stat(in_dir("data.key"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, RP_STORAGE_KEY_LEN);
	assert_int_equal(slurp(in_dir("data.key"), disk, sizeof(disk)), RP_STORAGE_KEY_LEN);
	assert_memory_equal(disk, k1, sizeof(k1));
	/* Loaded again, the same key; no temporary file left. */
	assert_int_equal(rp_storage_key_load_or_create(in_dir("data.key"), k2), RP_OK);
	assert_memory_equal(k1, k2, sizeof(k1));
	assert_int_equal(count_files(), 1);
}

static void test_key_file_refused(void **state)
{
	uint8_t key[RP_STORAGE_KEY_LEN], zero[RP_STORAGE_KEY_LEN] = {0}, buf[40] = {1};

	(void)state;
	assert_int_equal(rp_storage_key_load_or_create(in_dir("data.key"), key), RP_OK);
	/* Others may read it: refused, and the output is zeroed. */
	assert_int_equal(chmod(in_dir("data.key"), 0644), 0);
	assert_int_equal(rp_storage_key_load_or_create(in_dir("data.key"), key), RP_E_CONFIG);
	assert_memory_equal(key, zero, sizeof(key));
	assert_int_equal(chmod(in_dir("data.key"), 0640), 0);
	assert_int_equal(rp_storage_key_load_or_create(in_dir("data.key"), key), RP_E_CONFIG);
	/* Wrong sizes. */
	spit(in_dir("short.key"), buf, 31);
	assert_int_equal(rp_storage_key_load_or_create(in_dir("short.key"), key), RP_E_CONFIG);
	spit(in_dir("long.key"), buf, 33);
	assert_int_equal(rp_storage_key_load_or_create(in_dir("long.key"), key), RP_E_CONFIG);
	spit(in_dir("empty.key"), buf, 0);
	assert_int_equal(rp_storage_key_load_or_create(in_dir("empty.key"), key), RP_E_CONFIG);
	/* A symbolic link is not followed, even to a good key file. */
	assert_int_equal(chmod(in_dir("data.key"), 0600), 0);
	assert_int_equal(symlink("data.key", in_dir("link.key")), 0);
	assert_int_equal(rp_storage_key_load_or_create(in_dir("link.key"), key), RP_E_CONFIG);
	/* A directory is not a key. */
	assert_int_equal(mkdir(in_dir("sub"), 0700), 0);
	assert_int_equal(rp_storage_key_load_or_create(in_dir("sub"), key), RP_E_CONFIG);
	/* Missing directory; bad arguments. */
	assert_int_equal(rp_storage_key_load_or_create(in_dir("nope/data.key"), key),
			 RP_E_NOT_FOUND);
	assert_int_equal(rp_storage_key_load_or_create(in_dir(""), key), RP_E_INVALID_ARG);
	assert_int_equal(rp_storage_key_load_or_create(NULL, key), RP_E_INVALID_ARG);
	assert_int_equal(rp_storage_key_load_or_create(in_dir("x.key"), NULL), RP_E_INVALID_ARG);
}

static void test_key_dir_refused(void **state)
{
	uint8_t key[RP_STORAGE_KEY_LEN];

	(void)state;
	/* A directory group or others may write: whoever can, can swap the key. */
	assert_int_equal(chmod(dir, 0770), 0);
	assert_int_equal(rp_storage_key_load_or_create(in_dir("data.key"), key), RP_E_CONFIG);
	assert_int_equal(chmod(dir, 0707), 0);
	assert_int_equal(rp_storage_key_load_or_create(in_dir("data.key"), key), RP_E_CONFIG);
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(rp_storage_key_load_or_create(in_dir("data.key"), key), RP_OK);
	assert_int_equal(chmod(dir, 0700), 0);
}

#define RACERS 8

struct racer {
	pthread_t t;
	uint8_t key[RP_STORAGE_KEY_LEN];
	rp_status st;
};

static void *race(void *arg)
{
	struct racer *r = arg;

	r->st = rp_storage_key_load_or_create(path, r->key);
	return NULL;
}

static void test_key_creation_race(void **state)
{
	struct racer r[RACERS];
	uint8_t disk[64];
	int round, i;

	(void)state;
	/* Threads creating the same key file at once all end with the one on disk. */
	for (round = 0; round < 20; round++) {
		char name[32];

		(void)snprintf(name, sizeof(name), "race-%d.key", round);
		(void)in_dir(name);
		for (i = 0; i < RACERS; i++) {
			assert_int_equal(pthread_create(&r[i].t, NULL, race, &r[i]), 0);
		}
		for (i = 0; i < RACERS; i++) {
			assert_int_equal(pthread_join(r[i].t, NULL), 0);
		}
		assert_int_equal(slurp(path, disk, sizeof(disk)), RP_STORAGE_KEY_LEN);
		for (i = 0; i < RACERS; i++) {
			assert_int_equal(r[i].st, RP_OK);
			assert_memory_equal(r[i].key, disk, RP_STORAGE_KEY_LEN);
		}
	}
	/* Only the 20 key files: every temporary file was removed. */
	assert_int_equal(count_files(), 20);
}

/* ------------------------------------------------------------------------
 * Sealed values
 * ------------------------------------------------------------------------ */

static void test_put_get_roundtrip(void **state)
{
	static uint8_t big[RP_LIMIT_SEALED_LEN + 1], back[RP_LIMIT_SEALED_LEN + 1];
	const char *text = "wifi-psk=correct horse battery staple";
	uint8_t key[RP_STORAGE_KEY_LEN], disk[256], out[128];
	size_t len = 99, n, i;
	struct stat st;

	(void)state;
	fill_key(key, 1);
	assert_int_equal(rp_sealed_put(dir, "wifi", (const uint8_t *)text, strlen(text), key),
			 RP_OK);
	assert_int_equal(rp_sealed_get(dir, "wifi", key, out, sizeof(out), &len), RP_OK);
	assert_int_equal(len, strlen(text));
	assert_memory_equal(out, text, len);
	/* 0600, the documented size, and not in clear. */
	assert_int_equal(stat(in_dir("wifi"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, strlen(text) + RP_SEALED_OVERHEAD);
	n = slurp(in_dir("wifi"), disk, sizeof(disk));
	assert_false(contains(disk, n, "correct horse"));
	assert_false(contains(disk, n, "wifi"));

	/* Empty value. */
	assert_int_equal(rp_sealed_put(dir, "empty", NULL, 0, key), RP_OK);
	assert_int_equal(rp_sealed_get(dir, "empty", key, NULL, 0, &len), RP_OK);
	assert_int_equal(len, 0);

	/* The largest value, and one byte more. */
	for (i = 0; i < sizeof(big); i++) {
		big[i] = (uint8_t)(i * 31u + 7u);
	}
	assert_int_equal(rp_sealed_put(dir, "big", big, RP_LIMIT_SEALED_LEN, key), RP_OK);
	assert_int_equal(rp_sealed_get(dir, "big", key, back, sizeof(back), &len), RP_OK);
	assert_int_equal(len, RP_LIMIT_SEALED_LEN);
	assert_memory_equal(back, big, len);
	assert_int_equal(rp_sealed_put(dir, "big", big, RP_LIMIT_SEALED_LEN + 1u, key),
			 RP_E_TOO_LARGE);

	/* Replace: the new value, whole; no temporary file left behind. */
	assert_int_equal(rp_sealed_put(dir, "wifi", (const uint8_t *)"v2", 2, key), RP_OK);
	assert_int_equal(rp_sealed_get(dir, "wifi", key, out, sizeof(out), &len), RP_OK);
	assert_int_equal(len, 2);
	assert_memory_equal(out, "v2", 2);
	assert_int_equal(count_files(), 3);

	/* Buffer too small: the size needed, nothing decrypted. */
	memset(out, 0xAA, sizeof(out));
	assert_int_equal(rp_sealed_get(dir, "wifi", key, out, 1, &len), RP_E_BUF_TOO_SMALL);
	assert_int_equal(len, 2);
	assert_int_equal(out[0], 0xAA);

	/* Delete. */
	assert_int_equal(rp_sealed_delete(dir, "wifi"), RP_OK);
	assert_int_equal(rp_sealed_get(dir, "wifi", key, out, sizeof(out), &len), RP_E_NOT_FOUND);
	assert_int_equal(rp_sealed_delete(dir, "wifi"), RP_E_NOT_FOUND);
}

static void test_put_makes_the_directory(void **state)
{
	uint8_t key[RP_STORAGE_KEY_LEN], out[8];
	char sub[128];
	size_t len;
	struct stat st;

	(void)state;
	fill_key(key, 2);
	(void)snprintf(sub, sizeof(sub), "%s/sealed", dir);
	assert_int_equal(rp_sealed_get(sub, "x", key, out, sizeof(out), &len), RP_E_NOT_FOUND);
	assert_int_equal(rp_sealed_put(sub, "x", (const uint8_t *)"1", 1, key), RP_OK);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(rp_sealed_get(sub, "x", key, out, sizeof(out), &len), RP_OK);
	assert_int_equal(len, 1);
}

static void test_wrong_key_and_renamed_file(void **state)
{
	uint8_t key[RP_STORAGE_KEY_LEN], other[RP_STORAGE_KEY_LEN], out[64];
	char from[256];
	size_t len = 7;

	(void)state;
	fill_key(key, 3);
	fill_key(other, 4);
	assert_int_equal(rp_sealed_put(dir, "token", (const uint8_t *)"secret-1", 8, key), RP_OK);
	assert_int_equal(rp_sealed_put(dir, "setting", (const uint8_t *)"public-1", 8, key), RP_OK);
	memset(out, 0, sizeof(out));
	assert_int_equal(rp_sealed_get(dir, "token", other, out, sizeof(out), &len), RP_E_CRYPTO);
	assert_int_equal(len, 0);
	assert_false(contains(out, sizeof(out), "secret"));
	/* The name is authenticated: a file moved to another name is refused. */
	(void)snprintf(from, sizeof(from), "%s/token", dir);
	assert_int_equal(rename(from, in_dir("setting")), 0);
	assert_int_equal(rp_sealed_get(dir, "setting", key, out, sizeof(out), &len), RP_E_CRYPTO);
	assert_false(contains(out, sizeof(out), "secret"));
}

static void test_every_bit_flip_and_truncation(void **state)
{
	const char *text = "calibration: a=1.25 b=-3.5 serial=XYZ-0042";
	uint8_t key[RP_STORAGE_KEY_LEN], orig[256], mod[256], out[128];
	size_t n, i, cut, len;
	rp_status st;
	int bit;

	(void)state;
	fill_key(key, 5);
	assert_int_equal(rp_sealed_put(dir, "cal", (const uint8_t *)text, strlen(text), key),
			 RP_OK);
	n = slurp(in_dir("cal"), orig, sizeof(orig));
	assert_int_equal(n, strlen(text) + RP_SEALED_OVERHEAD);
	for (i = 0; i < n; i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(mod, orig, n);
			mod[i] ^= (uint8_t)(1u << bit);
			spit(in_dir("cal"), mod, n);
			memset(out, 0, sizeof(out));
			st = rp_sealed_get(dir, "cal", key, out, sizeof(out), &len);
			/* Magic bytes: not a sealed file; anything else: not authentic. */
			assert_int_equal(st, i < 4 ? RP_E_MALFORMED : RP_E_CRYPTO);
			assert_false(contains(out, sizeof(out), "calibration"));
		}
	}
	for (cut = 0; cut < n; cut++) {
		spit(in_dir("cal"), orig, cut);
		st = rp_sealed_get(dir, "cal", key, out, sizeof(out), &len);
		assert_true(st == RP_E_MALFORMED || st == RP_E_CRYPTO);
	}
	/* A byte appended is not authentic either. */
	memcpy(mod, orig, n);
	mod[n] = 0;
	spit(in_dir("cal"), mod, n + 1);
	assert_int_equal(rp_sealed_get(dir, "cal", key, out, sizeof(out), &len), RP_E_CRYPTO);
	/* The original still reads. */
	spit(in_dir("cal"), orig, n);
	assert_int_equal(rp_sealed_get(dir, "cal", key, out, sizeof(out), &len), RP_OK);
	assert_memory_equal(out, text, strlen(text));
}

static void test_names_and_permissions(void **state)
{
	static const char *const bad[] = {
		"",
		".",
		"..",
		".hidden",
		"a/b",
		"../x",
		"a b",
		"-x",
		"_x",
		"x\n",
		"\xc3\xa9",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 65 */
	};
	uint8_t key[RP_STORAGE_KEY_LEN], out[8];
	size_t i, len;

	(void)state;
	fill_key(key, 6);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(rp_sealed_put(dir, bad[i], (const uint8_t *)"v", 1, key),
				 RP_E_INVALID_ARG);
		assert_int_equal(rp_sealed_get(dir, bad[i], key, out, sizeof(out), &len),
				 RP_E_INVALID_ARG);
		assert_int_equal(rp_sealed_delete(dir, bad[i]), RP_E_INVALID_ARG);
	}
	/* 64 characters, all allowed kinds. */
	assert_int_equal(
		rp_sealed_put(dir,
			      "A0-._zaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
			      (const uint8_t *)"v", 1, key),
		RP_OK);
	assert_int_equal(count_files(), 1);

	/* A file group or others may read is refused unread. */
	assert_int_equal(rp_sealed_put(dir, "p", (const uint8_t *)"v", 1, key), RP_OK);
	assert_int_equal(chmod(in_dir("p"), 0644), 0);
	assert_int_equal(rp_sealed_get(dir, "p", key, out, sizeof(out), &len), RP_E_CONFIG);
	assert_int_equal(chmod(in_dir("p"), 0600), 0);
	/* A symbolic link in place of the file is not followed. */
	assert_int_equal(symlink("p", in_dir("q")), 0);
	assert_int_equal(rp_sealed_get(dir, "q", key, out, sizeof(out), &len), RP_E_CONFIG);
	/* A directory others may write is refused for every operation. */
	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(rp_sealed_put(dir, "p", (const uint8_t *)"v", 1, key), RP_E_CONFIG);
	assert_int_equal(rp_sealed_get(dir, "p", key, out, sizeof(out), &len), RP_E_CONFIG);
	assert_int_equal(rp_sealed_delete(dir, "p"), RP_E_CONFIG);
	assert_int_equal(chmod(dir, 0700), 0);
	assert_int_equal(rp_sealed_get(dir, "p", key, out, sizeof(out), &len), RP_OK);
	/* NULLs. */
	assert_int_equal(rp_sealed_put(NULL, "p", (const uint8_t *)"v", 1, key), RP_E_INVALID_ARG);
	assert_int_equal(rp_sealed_put(dir, "p", NULL, 1, key), RP_E_INVALID_ARG);
	assert_int_equal(rp_sealed_put(dir, "p", (const uint8_t *)"v", 1, NULL), RP_E_INVALID_ARG);
	assert_int_equal(rp_sealed_get(dir, "p", key, out, sizeof(out), NULL), RP_E_INVALID_ARG);
	assert_int_equal(rp_sealed_get(dir, "p", key, NULL, 4, &len), RP_E_INVALID_ARG);
}

static void test_not_a_sealed_file(void **state)
{
	static uint8_t huge[RP_LIMIT_SEALED_LEN + RP_SEALED_OVERHEAD + 1];
	uint8_t key[RP_STORAGE_KEY_LEN], out[64];
	size_t len;

	(void)state;
	fill_key(key, 7);
	spit(in_dir("plain"), (const uint8_t *)"just some text that is long enough to parse", 43);
	assert_int_equal(rp_sealed_get(dir, "plain", key, out, sizeof(out), &len), RP_E_MALFORMED);
	/* Larger than any sealed file: refused before it is read. */
	memcpy(huge, "RSL1", 4);
	spit(in_dir("huge"), huge, sizeof(huge));
	assert_int_equal(rp_sealed_get(dir, "huge", key, out, sizeof(out), &len), RP_E_MALFORMED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_key_created_then_loaded, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_key_file_refused, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_key_dir_refused, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_key_creation_race, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_put_get_roundtrip, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_put_makes_the_directory, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_wrong_key_and_renamed_file, make_dir,
						remove_dir),
		cmocka_unit_test_setup_teardown(test_every_bit_flip_and_truncation, make_dir,
						remove_dir),
		cmocka_unit_test_setup_teardown(test_names_and_permissions, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_not_a_sealed_file, make_dir, remove_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
