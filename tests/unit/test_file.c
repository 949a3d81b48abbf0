/*
 * test_file.c - server/util/file.h: rp_file_read_private(), the reader of
 * secret files (the API's sealing key, the issuing CA's passphrase).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/file.h"

static char dir[64];

static int make_dir(void **state)
{
	(void)state;
	(void)snprintf(dir, sizeof(dir), "/tmp/rp-test-file-XXXXXX");
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[128];

	(void)state;
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Writes text to dir/name with mode; returns the path in out. */
static void put(const char *name, const char *text, mode_t mode, char *out, size_t cap)
{
	FILE *f;

	(void)snprintf(out, cap, "%s/%s", dir, name);
	f = fopen(out, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(out, mode), 0);
}

static void test_reads_a_private_file(void **state)
{
	char path[128], buf[16], why[160];
	size_t len = 99;

	(void)state;
	put("ok", "secret", 0600, path, sizeof(path));
	assert_int_equal(rp_file_read_private(path, buf, sizeof(buf), &len, why, sizeof(why)),
			 RP_OK);
	assert_int_equal(len, 6);
	assert_memory_equal(buf, "secret", 6);
	/* Exactly cap bytes is fine. */
	put("full", "0123456789abcdef", 0400, path, sizeof(path));
	assert_int_equal(rp_file_read_private(path, buf, sizeof(buf), &len, why, sizeof(why)),
			 RP_OK);
	assert_int_equal(len, 16);
}

static void test_refusals(void **state)
{
	char path[128], link[160], buf[16], why[160];
	size_t len = 99;

	(void)state;
	put("shared", "secret", 0640, path, sizeof(path));
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(rp_file_read_private(path, buf, sizeof(buf), &len, why, sizeof(why)),
			 RP_E_CONFIG);
	assert_string_equal(why, "group or others may access it (mode 640; chmod 600)");
	assert_int_equal(len, 0);
	for (size_t i = 0; i < sizeof(buf); i++) {
		assert_int_equal(buf[i], 0); /* wiped: nothing of the file is left */
	}
	put("big", "0123456789abcdefX", 0600, path, sizeof(path));
	assert_int_equal(rp_file_read_private(path, buf, sizeof(buf), &len, why, sizeof(why)),
			 RP_E_CONFIG);
	assert_string_equal(why, "file is larger than 16 bytes");
	put("target", "secret", 0600, path, sizeof(path));
	(void)snprintf(link, sizeof(link), "%s/link", dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(rp_file_read_private(link, buf, sizeof(buf), &len, why, sizeof(why)),
			 RP_E_CONFIG);
	assert_non_null(strstr(why, "cannot open"));
	assert_int_equal(rp_file_read_private(dir, buf, sizeof(buf), &len, why, sizeof(why)),
			 RP_E_CONFIG);
	(void)snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(rp_file_read_private(path, buf, sizeof(buf), &len, why, sizeof(why)),
			 RP_E_CONFIG);
	assert_string_equal(why, "cannot open: No such file or directory");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_a_private_file),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
