/*
 * agent/apps.h - the local applications' socket (apps.c).
 */
#ifndef RP_AGENT_APPS_H
#define RP_AGENT_APPS_H

#include <poll.h>

#include "agent.h"

#define APPS_MAX_CLIENTS  16u
#define APPS_MAX_COMMANDS 16u
#define APPS_LINE_MAX     16384u

typedef struct agent_app_client {
	int fd; /* -1: free slot */
	char buf[APPS_LINE_MAX];
	size_t len;
	char commands[APPS_MAX_COMMANDS][65];
	size_t ncommands;
} agent_app_client;

typedef struct agent_apps {
	int listen_fd;
	char path[108];
	rp_device *dev;
	agent_app_client clients[APPS_MAX_CLIENTS];
	uint64_t readings; /* readings accepted */
} agent_apps;

/* Binds and listens on socket.path with socket.mode. */
rp_status agent_apps_open(agent_apps *a, const agent_config *c, rp_device *dev);

/* Fills p[0 .. return) with the descriptors to watch. */
size_t agent_apps_pollfds(const agent_apps *a, struct pollfd *p, size_t cap);

/* Handles what poll() reported for p[0 .. n). */
void agent_apps_handle(agent_apps *a, const struct pollfd *p, size_t n);

/* Closes every client and the socket, and removes the socket file. */
void agent_apps_close(agent_apps *a);

#endif /* RP_AGENT_APPS_H */
