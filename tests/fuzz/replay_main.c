/*
 * replay_main.c - runs a libFuzzer target without libFuzzer.
 *
 * Every tests/fuzz/fuzz_<name>.c is linked with this file in the normal
 * (GCC, sanitizer, coverage) builds, so that every seed of
 * tests/fuzz/corpus/<name>/ and every past crasher kept in
 * tests/fuzz/regressions/<name>/ runs in every `make test`, under ASan and
 * UBSan, with both compilers. CTest runs it as fuzz_<name>_replay.
 *
 * Usage: fuzz_<name> PATH...
 *   A PATH that is a directory contributes its regular files (names starting
 *   with '.' are skipped), in name order; a PATH that is a file is run as is
 *   (to reproduce one crash); a PATH that does not exist is reported and
 *   skipped (a target may have no regressions yet). The empty input runs
 *   first, as with libFuzzer.
 *
 * Each input is copied into a heap block of exactly its size, so that ASan
 * catches a read one byte past the end. When an input crashes the target (a
 * sanitizer report or abort()), its path is printed last.
 *
 * Exit status: 0 when every input ran, 1 on a usage or I/O error; a crash
 * ends the process the way the sanitizer or abort() ends it.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target, as with libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
/* Provided by the sanitizer runtimes; absent (NULL) in a plain build. */
void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

/*
 * GCC's UBSan ends the process without calling the death callback; with
 * abort_on_error it raises SIGABRT instead, which on_abort() reports.
 * UBSAN_OPTIONS from the environment still apply on top of this.
 */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "abort_on_error=1";
}

static char current[4096];
static volatile sig_atomic_t reported;

static void report_current(void)
{
	static const char msg[] = "\nreplay: the failing input is ";

	if (reported || current[0] == '\0') {
		return;
	}
	reported = 1;
	/* Only async-signal-safe calls: this also runs in a signal handler. */
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)!write(STDERR_FILENO, current, strlen(current));
	(void)!write(STDERR_FILENO, "\n", 1);
}

static void on_abort(int sig)
{
	report_current();
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Runs one input from a heap block of exactly its size (malloc(0) for the
 * empty input: ASan flags any read of it). Returns 0, or 1 out of memory.
 */
static int run_input(const uint8_t *data, size_t size, const char *name)
{
	static const uint8_t none[1];
	uint8_t *copy = malloc(size);

	if (copy == NULL && size != 0) {
		fprintf(stderr, "replay: %s: out of memory\n", name);
		return 1;
	}
	if (size != 0) {
		memcpy(copy, data, size);
	}
	snprintf(current, sizeof(current), "%s", name);
	(void)LLVMFuzzerTestOneInput(copy != NULL ? copy : none, size);
	current[0] = '\0';
	free(copy);
	return 0;
}

static int run_file(const char *path, size_t *count)
{
	FILE *f = NULL;
	uint8_t *buf = NULL;
	struct stat st;
	size_t size;
	int ret = 1;

	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "replay: %s: not a regular file\n", path);
		goto out;
	}
	size = (size_t)st.st_size;
	buf = malloc(size ? size : 1);
	f = fopen(path, "rb");
	if (buf == NULL || f == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (size != 0 && fread(buf, 1, size, f) != size) {
		fprintf(stderr, "replay: %s: short read\n", path);
		goto out;
	}
	if (run_input(buf, size, path) != 0) {
		goto out;
	}
	(*count)++;
	ret = 0;
out:
	if (f != NULL) {
		fclose(f);
	}
	free(buf);
	return ret;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir, size_t *count)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	int ret = 1;

	if (d == NULL) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.') {
			continue;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			char **nn = realloc(names, ncap * sizeof(*nn));

			if (nn == NULL) {
				goto out;
			}
			names = nn;
			cap = ncap;
		}
		names[n] = strdup(e->d_name);
		if (names[n] == NULL) {
			goto out;
		}
		n++;
	}
	if (n != 0) {
		qsort(names, n, sizeof(*names), cmp_names);
	}
	for (i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= sizeof(path)) {
			fprintf(stderr, "replay: %s/%s: path too long\n", dir, names[i]);
			goto out;
		}
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
			continue;
		}
		if (run_file(path, count) != 0) {
			goto out;
		}
	}
	ret = 0;
out:
	for (i = 0; i < n; i++) {
		free(names[i]);
	}
	free(names);
	closedir(d);
	return ret;
}

int main(int argc, char **argv)
{
	static const uint8_t empty[1];
	size_t count = 0;
	int i;

	/* Line by line, so that nothing is lost when an input kills the process. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (LLVMFuzzerInitialize != NULL) {
		(void)LLVMFuzzerInitialize(&argc, &argv);
	}
	if (__sanitizer_set_death_callback != NULL) {
		__sanitizer_set_death_callback(report_current);
	}
	signal(SIGABRT, on_abort);

	if (run_input(empty, 0, "(the empty input)") != 0) {
		return 1;
	}
	count++;

	for (i = 1; i < argc; i++) {
		struct stat st;
		size_t before = count;

		if (stat(argv[i], &st) != 0) {
			printf("replay: %s: does not exist, skipped\n", argv[i]);
			continue;
		}
		if (S_ISDIR(st.st_mode) ? run_dir(argv[i], &count) : run_file(argv[i], &count)) {
			return 1;
		}
		printf("replay: %s: %zu inputs\n", argv[i], count - before);
	}
	printf("replay: %zu inputs ran without a finding\n", count);
	return 0;
}
