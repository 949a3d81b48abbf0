/*
 * tests/support/softhsm.h - a throw-away SoftHSM2 token for tests.
 *
 * softhsm_start() makes a fresh directory under $TMPDIR (or /tmp) holding
 * softhsm2.conf (directories.tokendir = <dir>/tokens), points
 * SOFTHSM2_CONF at it (the variable SoftHSM2 reads in C_Initialize, in
 * this process and in the tools it runs), initialises one token with
 * `softhsm2-util --init-token --free --label L --pin P --so-pin S`, and
 * writes that token's user PIN to <dir>/user.pin, mode 0600 (the form the
 * keystore's pin_file takes). softhsm_stop() removes the directory and
 * restores SOFTHSM2_CONF.
 *
 *   softhsm hsm;
 *   char why[256];
 *   assert_int_equal(softhsm_start(&hsm, "rp-test", "1234", why, sizeof(why)), 0);
 *   cfg.module = hsm.module; cfg.token_label = "rp-test"; cfg.pin_file = hsm.pin_file;
 *   ...
 *   softhsm_stop(&hsm);
 *
 * Module: $RP_SOFTHSM_MODULE, else the first of the Debian paths
 * (/usr/lib/softhsm/libsofthsm2.so, /usr/lib/<multiarch>/softhsm/...) that
 * exists.
 *
 * Conventions
 * - Functions return 0 on success, -1 with a reason in why (why may be
 *   NULL); a reason for a missing tool names scripts/bootstrap.
 * - Not thread-safe: call from the main thread (setenv, fork).
 * - SoftHSM2 reads its configuration when the module is initialised, and
 *   the keystore keeps a module loaded while any keystore on it is open:
 *   close every keystore on the module before softhsm_stop(), and before
 *   starting another softhsm in the same process. Tokens added with
 *   softhsm_add_token() are seen by a module loaded after the call.
 */
#ifndef RP_TESTS_SOFTHSM_H
#define RP_TESTS_SOFTHSM_H

#include <stddef.h>
#include <sys/types.h>

typedef struct softhsm {
	char dir[256];      /* the temporary root */
	char conf[300];     /* <dir>/softhsm2.conf */
	char pin_file[300]; /* <dir>/user.pin: the first token's user PIN, 0600 */
	char module[256];   /* the SoftHSM2 PKCS#11 library */
	char label[33];     /* the first token's label */
	char pin[64];       /* its user PIN */
	char so_pin[64];    /* the security officer PIN of every token */
	char *saved_conf;   /* SOFTHSM2_CONF before softhsm_start(), or NULL */
	int started;
} softhsm;

/* Makes the directory, the configuration, the token and the PIN file. */
int softhsm_start(softhsm *h, const char *label, const char *pin, char *why, size_t why_cap);

/* Initialises another token (in the next free slot) with that label and user PIN. */
int softhsm_add_token(softhsm *h, const char *label, const char *pin, char *why, size_t why_cap);

/* Writes "<dir>/<name>" into buf and returns buf (NULL if it does not fit). */
const char *softhsm_path(const softhsm *h, const char *name, char *buf, size_t cap);

/* Writes text to "<dir>/<name>" with exactly that mode (umask aside). */
int softhsm_write_file(const softhsm *h, const char *name, const char *text, mode_t mode);

/*
 * Runs argv (argv[0] looked up in PATH) with this process's environment
 * (SOFTHSM2_CONF included), stdout and stderr captured together into out
 * (NUL-terminated, cut at cap - 1). Returns the exit status (0 to 255), or
 * -1 if it could not run or was killed by a signal.
 */
int softhsm_run(char *const argv[], char *out, size_t cap);

/* Removes the directory and restores SOFTHSM2_CONF. Safe on a softhsm
 * that did not start. */
void softhsm_stop(softhsm *h);

#endif /* RP_TESTS_SOFTHSM_H */
