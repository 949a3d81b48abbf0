/* log.c - formatted, escaped, single-write log lines. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "rampart/text.h"

static atomic_int min_level = RP_LOG_INFO;

void rp_log_set_level(rp_log_level level)
{
	atomic_store(&min_level, (int)level);
}

void rp_log(rp_log_level level, const char *component, const char *fmt, ...)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n, m;

	if ((int)level < atomic_load(&min_level)) {
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
		     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     ts.tv_nsec / 1000000L, names[level], component);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		return;
	}
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1u, fmt, ap);
	va_end(ap);
	if (m < 0) {
		return;
	}
	n += m;
	if ((size_t)n > sizeof(line) - 2u) {
		n = (int)sizeof(line) - 2;
	}
	line[n++] = '\n';
	/* Best effort: a full stderr must not stop the broker. */
	(void)!write(2, line, (size_t)n);
}

void rp_errf(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || cap == 0) {
		return;
	}
	va_start(ap, fmt);
	(void)vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

const char *rp_log_escape(char *out, size_t cap, const uint8_t *in, size_t len)
{
	return rp_text_escape(out, cap, in, len, SIZE_MAX);
}

const char *rp_quote(char *out, const char *s, size_t n, size_t max_in)
{
	return rp_text_escape(out, max_in * 4u + 4u, (const uint8_t *)s, n, max_in);
}
