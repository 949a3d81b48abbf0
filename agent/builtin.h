/*
 * agent/builtin.h - the agent's own commands and its collectors (builtin.c).
 */
#ifndef RP_AGENT_BUILTIN_H
#define RP_AGENT_BUILTIN_H

#include <poll.h>
#include <sys/types.h>

#include "agent.h"
#include "apps.h"
#include "identity.h"

#define AGENT_VERSION "0.1.0"

typedef struct agent_collector_run {
	pid_t pid; /* -1: not running */
	int fd;    /* its stdout, -1: none */
	char out[257];
	size_t len;
	int64_t started_ms, due_ms; /* CLOCK_MONOTONIC */
} agent_collector_run;

typedef struct agent_builtin {
	const agent_config *c;
	agent_identity *id;
	agent_apps *apps;
	rp_device *dev;
	int64_t started_ms;
	int64_t reboot_at_ms; /* 0: no reboot pending */
	pid_t reboot_pid;
	agent_collector_run runs[AGENT_MAX_COLLECTORS];
} agent_builtin;

/* Registers status and reboot with the device runtime. */
rp_status agent_builtin_init(agent_builtin *b, const agent_config *c, agent_identity *id,
			     agent_apps *apps, rp_device *dev);

/* Starts the collectors that are due, kills the late ones, runs a pending
 * reboot command; returns the ms until the next thing to do. */
int agent_builtin_tick(agent_builtin *b);

size_t agent_builtin_pollfds(const agent_builtin *b, struct pollfd *p, size_t cap);
void agent_builtin_handle(agent_builtin *b, const struct pollfd *p, size_t n);
void agent_builtin_close(agent_builtin *b);

#endif /* RP_AGENT_BUILTIN_H */
