/*
 * server/loop/loop.h - rampartd's event loop: one per core, one thread each.
 *
 * Conventions
 * - A loop is owned by the thread that runs rp_loop_run(). Every function
 *   here must be called from that thread, except rp_loop_post() and
 *   rp_loop_stop(), which any thread may call.
 * - File descriptors are watched by number, as in Redis's ae.c: one watcher
 *   slot per fd, in one table for all the loops of the process (an fd is
 *   watched by one loop at a time). Unwatching an fd during a dispatch pass
 *   suppresses events already gathered for it in that pass, also when the
 *   fd is closed and another loop watches its number meanwhile. The caller
 *   still owns the fd and closes it after rp_loop_unwatch().
 * - Timers are embedded in their owner (rp_timer, no allocation) and kept
 *   in a binary heap: start, restart and stop cost O(log n). A timer MUST
 *   be stopped before the memory holding it is freed.
 * - Time is a monotonic clock in milliseconds, read once per iteration
 *   (rp_loop_now()), so every callback of one pass sees the same instant.
 *
 * Phases of one iteration (docs/architecture.md, "Event loop"):
 *   1. wait: epoll_wait until the earliest timer, an fd event or a post;
 *   2. now: update the cached clock;
 *   3. io: call the watchers of ready fds, in the order epoll gave them;
 *   4. timers: call every timer whose deadline is <= now, earliest first
 *      (a timer started during this phase for "now" waits for the next pass);
 *   5. posts: run the tasks other threads posted, in the order posted.
 */
#ifndef RP_SERVER_LOOP_H
#define RP_SERVER_LOOP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "rampart/status.h"

typedef struct rp_loop rp_loop;

/* Event bits for rp_loop_watch() and the io callback. */
#define RP_LOOP_READ  1u
#define RP_LOOP_WRITE 2u
#define RP_LOOP_ERROR 4u /* hang-up or error: reported with READ as well */

typedef void (*rp_io_fn)(rp_loop *loop, int fd, unsigned events, void *arg);
typedef void (*rp_timer_fn)(rp_loop *loop, void *arg);
typedef void (*rp_task_fn)(rp_loop *loop, void *arg);

/* A timer, embedded in the object it belongs to. Zero-initialise it. */
typedef struct rp_timer {
	uint64_t deadline; /* ms, rp_loop_now() clock */
	uint64_t seq;      /* start order: ties fire in the order started */
	size_t slot;       /* heap index + 1; 0 when not running */
	rp_timer_fn fn;
	void *arg;
} rp_timer;

/*
 * Creates a loop. `id` names it in logs. Returns NULL when the epoll or
 * eventfd descriptor or memory cannot be had.
 */
rp_loop *rp_loop_new(unsigned id);

/* Frees a loop that is not running. Pending posted tasks are dropped
 * without being run; watchers and timers are forgotten. */
void rp_loop_free(rp_loop *loop);

/* The id given to rp_loop_new(). */
unsigned rp_loop_id(const rp_loop *loop);

/*
 * Starts watching fd for `events` (RP_LOOP_READ and/or RP_LOOP_WRITE;
 * edge-free, level-triggered). Returns RP_OK, RP_E_INVALID_ARG (fd < 0,
 * fn NULL, other event bits, fd already watched by this loop or another),
 * RP_E_LIMIT (fd of RP_LIMIT_LOOP_FDS or more), RP_E_NOMEM, or RP_E_IO
 * (epoll refused).
 */
rp_status rp_loop_watch(rp_loop *loop, int fd, unsigned events, rp_io_fn fn, void *arg);

/*
 * Changes the events of an fd this loop watches. RP_OK, RP_E_NOT_FOUND (not
 * watched by this loop), RP_E_INVALID_ARG (other event bits) or RP_E_IO.
 */
rp_status rp_loop_modify(rp_loop *loop, int fd, unsigned events);

/* Stops watching fd (no-op if this loop does not watch it). */
void rp_loop_unwatch(rp_loop *loop, int fd);

/*
 * (Re)starts t to fire once, `after_ms` from now. Returns RP_OK, or
 * RP_E_NOMEM when the heap could not grow (t is then stopped).
 */
rp_status rp_timer_start(rp_loop *loop, rp_timer *t, uint64_t after_ms, rp_timer_fn fn, void *arg);

/* Stops t if it is running. */
void rp_timer_stop(rp_loop *loop, rp_timer *t);

/* 1 if t is running. */
int rp_timer_active(const rp_timer *t);

/*
 * Any thread: queues fn(loop, arg) to run on the loop's thread and wakes
 * the loop. Returns RP_OK, or RP_E_NOMEM (the task was not queued and the
 * caller still owns arg).
 */
rp_status rp_loop_post(rp_loop *loop, rp_task_fn fn, void *arg);

/*
 * A task embedded in its owner, for posts that must never fail (a wake-up
 * of a connection by another loop). Zero-initialise it, set fn and arg.
 */
typedef struct rp_task {
	struct rp_task *next; /* loop's queue */
	rp_task_fn fn;
	void *arg;
	atomic_int queued; /* 1 from the post until just before fn runs */
	int owned;         /* internal: rp_loop_post's own node, freed after fn */
} rp_task;

/*
 * Any thread: queues t unless it is queued already, and wakes the loop.
 * Never fails. Returns 1 if t was queued by this call, 0 if it was queued
 * already (it runs once for both posts). `queued` is cleared before fn
 * runs, so a post made while fn runs queues it again: no wake-up is lost.
 * The owner MUST keep t alive until fn has run (for example by holding a
 * reference that fn drops); rp_loop_free() forgets queued tasks.
 */
int rp_loop_post_task(rp_loop *loop, rp_task *t);

/* Runs the tasks posted so far, on the calling thread, without waiting
 * or dispatching anything else: for an owner that shuts down after the
 * loop stopped and must let queued tasks drop their references. */
void rp_loop_run_pending(rp_loop *loop);

/* Runs iterations until rp_loop_stop(). Returns RP_OK, or RP_E_IO if
 * epoll_wait fails for a reason other than EINTR. */
rp_status rp_loop_run(rp_loop *loop);

/* Runs one iteration, waiting at most max_wait_ms (for tests and for
 * callers with their own outer loop). Returns as rp_loop_run(). */
rp_status rp_loop_run_once(rp_loop *loop, uint64_t max_wait_ms);

/* Any thread: makes rp_loop_run() return after the current iteration. */
void rp_loop_stop(rp_loop *loop);

/* The cached monotonic clock of the current iteration, in ms. */
uint64_t rp_loop_now(const rp_loop *loop);

/* The monotonic clock now, in ms (not cached). */
uint64_t rp_clock_ms(void);

/* The wall clock now, in ms since the Unix epoch (timestamps that are
 * stored or compared with devices' times; never for deadlines). */
int64_t rp_clock_wall_ms(void);

#endif /* RP_SERVER_LOOP_H */
