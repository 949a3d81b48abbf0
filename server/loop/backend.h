/*
 * backend.h - internal to server/loop: the readiness back end (epoll).
 *
 * The loop core (loop.c) knows nothing of epoll; a back end gathers ready
 * descriptors into an array of (fd, events) and the core dispatches them.
 */
#ifndef RP_SERVER_LOOP_BACKEND_H
#define RP_SERVER_LOOP_BACKEND_H

#include "loop.h"

typedef struct rp__ready {
	int fd;
	unsigned events; /* RP_LOOP_* */
} rp__ready;

typedef struct rp__backend rp__backend;

rp__backend *rp__backend_new(void);
void rp__backend_free(rp__backend *be);
rp_status rp__backend_add(rp__backend *be, int fd, unsigned events);
rp_status rp__backend_mod(rp__backend *be, int fd, unsigned events);
void rp__backend_del(rp__backend *be, int fd);
/*
 * Waits up to timeout_ms (-1: forever) and writes at most cap ready fds.
 * Returns the count (0 on timeout or EINTR), or -1 on failure.
 */
int rp__backend_wait(rp__backend *be, rp__ready *out, int cap, int timeout_ms);

#endif /* RP_SERVER_LOOP_BACKEND_H */
