/*
 * fuzz_agent_config.c - libFuzzer target for rampart-agent's configuration
 * parser (agent/config.c): arbitrary bytes as the file.
 *
 * Oracles (any failure aborts):
 * - Every reported problem has a line within the file (or 0) and a
 *   non-empty, printable message; the count returned is the count reported.
 * - A file accepted (0 problems) yields a configuration that holds the
 *   parser's promises: a device id of 1 to 64 bytes, absolute paths,
 *   ports above 0, a socket mode without access for others, collectors
 *   with an absolute program.
 *
 * Seeds (corpus/agent_config/): the packaged example, a minimal file, and
 * files with one problem of each kind.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct seen {
	unsigned count;
	unsigned lines;
} seen;

static void report(void *ctx, const char *file, unsigned line, const char *msg)
{
	seen *s = ctx;

	(void)file;
	if (line > s->lines + 1u || msg == NULL || msg[0] == '\0') {
		abort();
	}
	for (const char *p = msg; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20u || (unsigned char)*p == 0x7fu) {
			abort();
		}
	}
	s->count++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static agent_config c;
	seen s = {0, 0};
	unsigned n;

	for (size_t i = 0; i < size; i++) {
		s.lines += data[i] == '\n';
	}
	n = agent_config_parse(&c, "fuzz.conf", (const char *)data, size, report, &s);
	if (n != s.count) {
		abort();
	}
	if (n == 0) {
		size_t id = strlen(c.device_id);
		if (id == 0 || id > 64 || c.trust_root[0] != '/' || c.state_dir[0] != '/' ||
		    c.mqtt_port == 0 || c.https_port == 0 || (c.socket_mode & 0007u) != 0) {
			abort();
		}
		for (size_t i = 0; i < c.ncollectors; i++) {
			if (c.collectors[i].argv[0] == NULL || c.collectors[i].argv[0][0] != '/' ||
			    c.collectors[i].interval_ms < 1000u) {
				abort();
			}
		}
	}
	return 0;
}
