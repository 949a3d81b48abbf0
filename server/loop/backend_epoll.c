/*
 * backend_epoll.c - the Linux readiness back end. Level-triggered: a
 * watcher that leaves bytes unread is called again on the next pass, which
 * is what lets the broker stop reading a publisher (back pressure) simply
 * by removing RP_LOOP_READ.
 */
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "backend.h"
#include "util/alloc.h"

#define WAIT_BATCH 256

struct rp__backend {
	int epfd;
	struct epoll_event evs[WAIT_BATCH];
};

rp__backend *rp__backend_new(void)
{
	rp__backend *be = rp_calloc(NULL, 1, sizeof(*be));

	if (be == NULL) {
		return NULL;
	}
	be->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (be->epfd < 0) {
		rp_free(NULL, be);
		return NULL;
	}
	return be;
}

void rp__backend_free(rp__backend *be)
{
	if (be != NULL) {
		close(be->epfd);
		rp_free(NULL, be);
	}
}

static uint32_t to_epoll(unsigned events)
{
	return ((events & RP_LOOP_READ) ? (uint32_t)EPOLLIN | EPOLLRDHUP : 0u) |
	       ((events & RP_LOOP_WRITE) ? (uint32_t)EPOLLOUT : 0u);
}

static rp_status ctl(rp__backend *be, int op, int fd, unsigned events)
{
	struct epoll_event ev = {0};

	ev.events = to_epoll(events);
	ev.data.fd = fd;
	return epoll_ctl(be->epfd, op, fd, &ev) == 0 ? RP_OK : RP_E_IO;
}

rp_status rp__backend_add(rp__backend *be, int fd, unsigned events)
{
	return ctl(be, EPOLL_CTL_ADD, fd, events);
}

rp_status rp__backend_mod(rp__backend *be, int fd, unsigned events)
{
	return ctl(be, EPOLL_CTL_MOD, fd, events);
}

void rp__backend_del(rp__backend *be, int fd)
{
	/* Fails only if fd was closed already, which removed it anyway. */
	(void)epoll_ctl(be->epfd, EPOLL_CTL_DEL, fd, NULL);
}

int rp__backend_wait(rp__backend *be, rp__ready *out, int cap, int timeout_ms)
{
	int n, i;

	if (cap > WAIT_BATCH) {
		cap = WAIT_BATCH;
	}
	n = epoll_wait(be->epfd, be->evs, cap, timeout_ms);
	if (n < 0) {
		return errno == EINTR ? 0 : -1;
	}
	for (i = 0; i < n; i++) {
		uint32_t e = be->evs[i].events;

		out[i].fd = be->evs[i].data.fd;
		out[i].events = 0;
		if (e & (EPOLLIN | EPOLLRDHUP)) {
			out[i].events |= RP_LOOP_READ;
		}
		if (e & EPOLLOUT) {
			out[i].events |= RP_LOOP_WRITE;
		}
		if (e & (EPOLLERR | EPOLLHUP)) {
			/* Report errors as readable too: the read shows what happened. */
			out[i].events |= RP_LOOP_ERROR | RP_LOOP_READ;
		}
	}
	return n;
}
