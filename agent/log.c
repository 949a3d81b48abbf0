/*
 * agent/log.c - the agent's log lines, on stderr: the journal under systemd.
 */
#include <stdarg.h>
#include <stdio.h>

#include "agent.h"

static const char *const level_names[8] = {"emerg",   "alert",  "crit", "error",
					   "warning", "notice", "info", "debug"};

void agent_log(int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	/* "<N>" is how the journal reads a level from stderr (sd-daemon(3)). */
	n = snprintf(line, sizeof(line), "<%d>rampart-agent: %s: ", level & 7,
		     level_names[level & 7]);
	va_start(ap, fmt);
	(void)vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}
