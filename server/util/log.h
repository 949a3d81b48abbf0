/*
 * server/util/log.h - rampartd's log: one line per event on stderr.
 *
 * Conventions
 * - Lines are `TIME LEVEL component: message`, UTC with milliseconds.
 * - Never pass a secret (password, key, token, payload) to rp_log(): log
 *   identities, addresses, statuses and sizes. Peer-supplied strings are
 *   escaped (rp_log_escape) so a client id cannot forge log lines.
 * - Thread-safe: each line is written with one write(2).
 */
#ifndef RP_SERVER_LOG_H
#define RP_SERVER_LOG_H

#include <stddef.h>
#include <stdint.h>

typedef enum rp_log_level { RP_LOG_DEBUG, RP_LOG_INFO, RP_LOG_WARN, RP_LOG_ERROR } rp_log_level;

/* Lines below `level` are dropped. Default RP_LOG_INFO. */
void rp_log_set_level(rp_log_level level);

void rp_log(rp_log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Copies untrusted bytes into out as printable ASCII (a backslash as \\,
 * anything else as \xHH), truncating with "..." to fit cap (cap >= 4).
 * Returns out.
 */
const char *rp_log_escape(char *out, size_t cap, const uint8_t *in, size_t len);

/*
 * Writes s[0 .. n) for a diagnostic message into out, which MUST hold
 * max_in * 4 + 4 bytes: at most max_in input bytes, printable ASCII as is,
 * a backslash as \\, anything else as \xNN, and "..." if cut. Returns out.
 */
const char *rp_quote(char *out, const char *s, size_t n, size_t max_in);

/*
 * Writes a reason for the caller (an err buffer of cap bytes, as the
 * start-up functions of the modules take): vsnprintf, cut to fit. Nothing
 * if err is NULL or cap is 0. Never logs.
 */
void rp_errf(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif /* RP_SERVER_LOG_H */
