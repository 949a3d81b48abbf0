/*
 * tests/support/probe.h - what the device programs of the integration
 * tests share: tests/integration/link_probe (the SDK's link) and
 * `test_device --run` (the runtime, tests/unit/test_device.c). The Python
 * tests (test_link.py, test_device.py) drive them line by line over
 * stdin/stdout.
 *
 * - Options: probe_parse() reads the "--flag value" pairs both take.
 * - Output: one line per event, flushed at once (probe_out); the link's
 *   events as probe_event() prints them:
 *       CONNECTED sp=0|1
 *       SUBSCRIBED codes=01[,..]
 *       DISCONNECTED attempt=N retry=MS status="..." why=...
 * - The key: loaded from its PEM file into an EVP_PKEY and handed to
 *   rp_tlsc_ctx_new() as the keystore would hand it (probe_tls).
 * - The loop: probe_loop() polls stdin and the program's own descriptor
 *   (rp_link_wants, rp_device_wants), runs it, and hands each complete
 *   line of stdin to the program.
 *
 * Conventions: for a single-threaded program's main thread; nothing is
 * allocated but the TLS context probe_tls() returns.
 */
#ifndef RP_TESTS_PROBE_H
#define RP_TESTS_PROBE_H

#include <poll.h>

#include "rampart/link.h"
#include "rampart/tls_client.h"

/* The options; the program sets its defaults before probe_parse(). */
typedef struct probe_opts {
	const char *host, *name, *ca, *cert, *key, *id;
	unsigned long port, base, cap;
	unsigned long stable;                  /* PROBE_OPT_STABLE */
	const char *queue, *storage_key;       /* PROBE_OPT_DEVICE */
	unsigned long batch_ms, batch_records; /* PROBE_OPT_DEVICE */
} probe_opts;

enum {
	PROBE_OPT_STABLE = 1u << 0, /* --stable MS */
	/* --queue DIR --storage-key FILE (both required), --batch-ms N,
	 * --batch-records N */
	PROBE_OPT_DEVICE = 1u << 1,
};

/*
 * Reads argv[first..argc) as pairs: --host H --port P [--name N] --ca FILE
 * --cert FILE --key FILE --id ID [--base MS] [--cap MS] and those that
 * extra (PROBE_OPT_*) adds. Returns 0, or -1 for an unknown flag, a flag
 * without its value, or a required one missing.
 */
int probe_parse(int argc, char **argv, int first, unsigned extra, probe_opts *o);

/* printf to stdout, a newline, fflush. */
void probe_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints a link event as one line (above). */
void probe_event(const rp_link_event *ev);

/* The TLS context of o->ca, o->cert and o->key. Returns it, or NULL with
 * the reason in err. */
rp_tlsc_ctx *probe_tls(const probe_opts *o, char *err, size_t cap);

/* What probe_loop drives: the program's own state and its three steps. */
typedef struct probe_ops {
	void *ctx;
	/* Its descriptor and the time it may wait (as rp_link_wants). */
	rp_status (*wants)(void *ctx, struct pollfd *pfd, int *timeout_ms);
	/* Its work, without waiting (as rp_link_run(l, 0)). */
	void (*run)(void *ctx);
	/* One line of stdin, without its newline; sets *quit to end. */
	void (*line)(void *ctx, char *line, int *quit);
} probe_ops;

/*
 * Runs until a line sets quit (returns 0) or stdin closes (returns 2) or
 * poll fails (returns 1). A line longer than 4095 bytes is dropped.
 */
int probe_loop(const probe_ops *ops);

#endif /* RP_TESTS_PROBE_H */
