/*
 * loop.c - the loop core: watchers, timers, posted tasks, dispatch.
 *
 * State
 * - The watchers of every loop of the process are one table by fd: an fd
 *   is watched by one loop at a time, so the table costs one slot per fd
 *   whatever the number of loops (a table per loop cost a slot per fd and
 *   loop: 16 loops, 384 bytes per connection). It is a static directory of
 *   pages of WATCH_PAGE slots; a page is allocated when an fd in it is
 *   first watched, and all pages are freed with the last loop. A slot says
 *   which loop watches the fd (its serial) and for which events; only that
 *   loop's thread writes it until it unwatches the fd, and the fd can only
 *   be reused (by another loop's accept) after its owner closed it, hence
 *   after the unwatch. The slots are atomics (relaxed) because that order
 *   runs through the kernel, where ThreadSanitizer cannot see it.
 * - heap[0 .. nheap): running timers, a binary min-heap on (deadline, seq);
 *   each timer knows its slot, so stop and restart are O(log n).
 * - posts: tasks from other threads, a mutex-protected FIFO of nodes.
 *   Posting to an empty queue writes the eventfd once; the loop reads it
 *   when it drains the queue, so a burst of posts costs one wake-up.
 *
 * Invariants: heap[i]->slot == i + 1 for every running timer; a stopped
 * timer has slot 0. Only the loop thread touches its watchers and heap.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "rampart/limits.h"
#include "util/alloc.h"

#define READY_BATCH 256

#define WATCH_PAGE_BITS 10u
#define WATCH_PAGE      (1u << WATCH_PAGE_BITS) /* slots per page: 24 KiB */
#define WATCH_PAGES     (RP_LIMIT_LOOP_FDS / WATCH_PAGE)
#define EVENT_BITS      3u /* RP_LOOP_READ | WRITE | ERROR */

typedef struct watcher {
	atomic_uint state; /* owner's serial << EVENT_BITS | events; 0: not watched */
	_Atomic(rp_io_fn) fn;
	_Atomic(void *) arg;
} watcher;

static _Atomic(watcher *) watch_pages[WATCH_PAGES];
static pthread_mutex_t loops_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned nloops;      /* under loops_mu: the last loop frees the pages */
static unsigned next_serial; /* under loops_mu */

typedef rp_task post;

struct rp_loop {
	unsigned id;
	unsigned serial; /* this loop's mark in the watcher slots, never 0 */
	rp__backend *be;
	uint64_t now;
	atomic_int stop;

	rp_timer **heap;
	size_t nheap, heap_cap;
	uint64_t timer_seq;

	int wake_fd;
	pthread_mutex_t post_mu;
	post *post_head, *post_tail;

	rp__ready ready[READY_BATCH];
};

uint64_t rp_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t rp_clock_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t rp_loop_now(const rp_loop *loop)
{
	return loop->now;
}

unsigned rp_loop_id(const rp_loop *loop)
{
	return loop->id;
}

/* ---- timers ------------------------------------------------------------ */

static int earlier(const rp_timer *a, const rp_timer *b)
{
	return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static void heap_set(rp_loop *loop, size_t i, rp_timer *t)
{
	loop->heap[i] = t;
	t->slot = i + 1u;
}

static void sift_up(rp_loop *loop, size_t i)
{
	rp_timer *t = loop->heap[i];

	while (i > 0) {
		size_t parent = (i - 1u) / 2u;

		if (!earlier(t, loop->heap[parent])) {
			break;
		}
		heap_set(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_set(loop, i, t);
}

static void sift_down(rp_loop *loop, size_t i)
{
	rp_timer *t = loop->heap[i];

	for (;;) {
		size_t c = 2u * i + 1u;

		if (c >= loop->nheap) {
			break;
		}
		if (c + 1u < loop->nheap && earlier(loop->heap[c + 1u], loop->heap[c])) {
			c++;
		}
		if (!earlier(loop->heap[c], t)) {
			break;
		}
		heap_set(loop, i, loop->heap[c]);
		i = c;
	}
	heap_set(loop, i, t);
}

static void heap_remove(rp_loop *loop, rp_timer *t)
{
	size_t i = t->slot - 1u;
	rp_timer *last = loop->heap[--loop->nheap];

	t->slot = 0;
	if (last == t) {
		return;
	}
	heap_set(loop, i, last);
	sift_down(loop, i);
	sift_up(loop, last->slot - 1u);
}

int rp_timer_active(const rp_timer *t)
{
	return t->slot != 0;
}

void rp_timer_stop(rp_loop *loop, rp_timer *t)
{
	if (t->slot != 0) {
		heap_remove(loop, t);
	}
}

/*
 * The heap grows before the timer is added, so a failure leaves the timer
 * stopped and says so: a deadline is never silently lost.
 */
rp_status rp_timer_start(rp_loop *loop, rp_timer *t, uint64_t after_ms, rp_timer_fn fn, void *arg)
{
	rp_timer_stop(loop, t);
	if (loop->nheap == loop->heap_cap) {
		size_t cap = loop->heap_cap ? loop->heap_cap * 2u : 64u;
		rp_timer **h = rp_realloc(NULL, loop->heap, cap * sizeof(*h));

		if (h == NULL) {
			return RP_E_NOMEM;
		}
		loop->heap = h;
		loop->heap_cap = cap;
	}
	t->fn = fn;
	t->arg = arg;
	t->deadline = after_ms > UINT64_MAX - loop->now ? UINT64_MAX : loop->now + after_ms;
	t->seq = ++loop->timer_seq;
	loop->heap[loop->nheap] = t;
	t->slot = ++loop->nheap;
	sift_up(loop, loop->nheap - 1u);
	return RP_OK;
}

static void run_timers(rp_loop *loop)
{
	uint64_t seq_limit = loop->timer_seq;

	while (loop->nheap > 0) {
		rp_timer *t = loop->heap[0];

		/* Timers started by this phase wait for the next pass. */
		if (t->deadline > loop->now || t->seq > seq_limit) {
			break;
		}
		heap_remove(loop, t);
		t->fn(loop, t->arg);
	}
}

static int wait_timeout(const rp_loop *loop, uint64_t max_wait_ms)
{
	uint64_t wait = max_wait_ms;

	if (loop->nheap > 0) {
		uint64_t d = loop->heap[0]->deadline;
		uint64_t until = d > loop->now ? d - loop->now : 0;

		if (until < wait) {
			wait = until;
		}
	}
	if (wait > (uint64_t)INT32_MAX) {
		return -1;
	}
	return (int)wait;
}

/* ---- watchers ---------------------------------------------------------- */

/* The slot of fd, allocating its page if `create`; NULL if out of range or no memory. */
static watcher *slot_of(int fd, int create)
{
	size_t page = (size_t)fd >> WATCH_PAGE_BITS, i = (size_t)fd & (WATCH_PAGE - 1u);
	watcher *w, *none = NULL;

	if (fd < 0 || page >= WATCH_PAGES) {
		return NULL;
	}
	w = atomic_load_explicit(&watch_pages[page], memory_order_acquire);
	if (w != NULL || !create) {
		return w != NULL ? &w[i] : NULL;
	}
	w = rp_alloc(NULL, WATCH_PAGE * sizeof(*w));
	if (w == NULL) {
		return NULL;
	}
	for (size_t j = 0; j < WATCH_PAGE; j++) {
		atomic_init(&w[j].state, 0u);
		atomic_init(&w[j].fn, NULL);
		atomic_init(&w[j].arg, NULL);
	}
	/* Another loop may have added the page meanwhile: theirs is kept. */
	if (!atomic_compare_exchange_strong_explicit(&watch_pages[page], &none, w,
						     memory_order_acq_rel, memory_order_acquire)) {
		rp_free(NULL, w);
		w = none;
	}
	return &w[i];
}

static unsigned state_of(const watcher *w)
{
	return atomic_load_explicit(&w->state, memory_order_relaxed);
}

static unsigned events_of(const watcher *w)
{
	return state_of(w) & ((1u << EVENT_BITS) - 1u);
}

/* fd's slot if this loop watches fd, else NULL. */
static watcher *watcher_for(const rp_loop *loop, int fd)
{
	watcher *w = slot_of(fd, 0);

	return w != NULL && state_of(w) >> EVENT_BITS == loop->serial ? w : NULL;
}

static void set_state(const rp_loop *loop, watcher *w, unsigned events)
{
	atomic_store_explicit(&w->state, loop->serial << EVENT_BITS | events, memory_order_relaxed);
}

rp_status rp_loop_watch(rp_loop *loop, int fd, unsigned events, rp_io_fn fn, void *arg)
{
	watcher *w;
	rp_status st;

	if (fd < 0 || fn == NULL || (events >> EVENT_BITS) != 0) {
		return RP_E_INVALID_ARG;
	}
	w = slot_of(fd, 1);
	if (w == NULL) {
		return (size_t)fd >> WATCH_PAGE_BITS >= WATCH_PAGES ? RP_E_LIMIT : RP_E_NOMEM;
	}
	if (state_of(w) != 0) {
		return RP_E_INVALID_ARG; /* watched already, by this loop or another */
	}
	st = rp__backend_add(loop->be, fd, events);
	if (st != RP_OK) {
		return st;
	}
	atomic_store_explicit(&w->fn, fn, memory_order_relaxed);
	atomic_store_explicit(&w->arg, arg, memory_order_relaxed);
	set_state(loop, w, events);
	return RP_OK;
}

rp_status rp_loop_modify(rp_loop *loop, int fd, unsigned events)
{
	watcher *w = watcher_for(loop, fd);
	rp_status st;

	if (w == NULL) {
		return RP_E_NOT_FOUND;
	}
	if (events_of(w) == events) {
		return RP_OK;
	}
	if ((events >> EVENT_BITS) != 0) {
		return RP_E_INVALID_ARG;
	}
	st = rp__backend_mod(loop->be, fd, events);
	if (st == RP_OK) {
		set_state(loop, w, events);
	}
	return st;
}

static void clear(watcher *w)
{
	atomic_store_explicit(&w->fn, NULL, memory_order_relaxed);
	atomic_store_explicit(&w->arg, NULL, memory_order_relaxed);
	atomic_store_explicit(&w->state, 0u, memory_order_relaxed);
}

void rp_loop_unwatch(rp_loop *loop, int fd)
{
	watcher *w = watcher_for(loop, fd);

	if (w == NULL) {
		return;
	}
	rp__backend_del(loop->be, fd);
	clear(w);
}

static void dispatch(rp_loop *loop, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		watcher *w = watcher_for(loop, loop->ready[i].fd);
		unsigned ev, watched;

		/*
		 * Unwatched (or re-watched for less) earlier in this pass, or
		 * closed and now another loop's: skip.
		 */
		if (w == NULL) {
			continue;
		}
		watched = events_of(w);
		ev = loop->ready[i].events & (watched | RP_LOOP_ERROR);
		if ((loop->ready[i].events & RP_LOOP_ERROR) && (watched & RP_LOOP_READ)) {
			ev |= RP_LOOP_READ;
		}
		if (ev != 0) {
			rp_io_fn fn = atomic_load_explicit(&w->fn, memory_order_relaxed);

			fn(loop, loop->ready[i].fd, ev,
			   atomic_load_explicit(&w->arg, memory_order_relaxed));
		}
	}
}

/* ---- posts ------------------------------------------------------------- */

static void drain_wake(int fd)
{
	uint64_t v;

	/* Non-blocking; EAGAIN means another drain got it first. */
	while (read(fd, &v, sizeof(v)) < 0 && errno == EINTR) {
	}
}

/* Appends p unless it is queued. Returns 1 if it was appended. */
static int enqueue(rp_loop *loop, post *p)
{
	int was_empty;

	pthread_mutex_lock(&loop->post_mu);
	if (atomic_load(&p->queued)) {
		pthread_mutex_unlock(&loop->post_mu);
		return 0;
	}
	atomic_store(&p->queued, 1);
	p->next = NULL;
	was_empty = loop->post_head == NULL;
	if (was_empty) {
		loop->post_head = p;
	} else {
		loop->post_tail->next = p;
	}
	loop->post_tail = p;
	pthread_mutex_unlock(&loop->post_mu);
	if (was_empty) {
		uint64_t one = 1;

		/* Can only fail if the counter would overflow: the loop is awake then. */
		while (write(loop->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR) {
		}
	}
	return 1;
}

rp_status rp_loop_post(rp_loop *loop, rp_task_fn fn, void *arg)
{
	post *p = rp_calloc(NULL, 1, sizeof(*p));

	if (p == NULL) {
		return RP_E_NOMEM;
	}
	p->fn = fn;
	p->arg = arg;
	p->owned = 1;
	atomic_init(&p->queued, 0);
	(void)enqueue(loop, p);
	return RP_OK;
}

int rp_loop_post_task(rp_loop *loop, rp_task *t)
{
	return enqueue(loop, t);
}

static void run_posts(rp_loop *loop)
{
	post *p;

	pthread_mutex_lock(&loop->post_mu);
	p = loop->post_head;
	loop->post_head = loop->post_tail = NULL;
	pthread_mutex_unlock(&loop->post_mu);
	while (p != NULL) {
		/* Read everything first: once `queued` is 0 another thread may
		 * queue p again (rewriting next), and fn may free its owner. */
		post *next = p->next;
		int owned = p->owned;

		atomic_store(&p->queued, 0);
		p->fn(loop, p->arg);
		if (owned) {
			rp_free(NULL, p);
		}
		p = next;
	}
}

void rp_loop_run_pending(rp_loop *loop)
{
	run_posts(loop);
}

static void on_wake(rp_loop *loop, int fd, unsigned events, void *arg)
{
	(void)loop;
	(void)events;
	(void)arg;
	drain_wake(fd);
}

void rp_loop_stop(rp_loop *loop)
{
	uint64_t one = 1;

	atomic_store(&loop->stop, 1);
	while (write(loop->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR) {
	}
}

/* ---- lifecycle --------------------------------------------------------- */

/*
 * A freed loop's slots are cleared (its fds may be closed and reused by
 * another loop), and the last loop frees the pages: no loop is left to
 * look at them, and a new loop starts with a new page.
 */
static void forget_watchers(const rp_loop *loop)
{
	pthread_mutex_lock(&loops_mu);
	for (size_t n = 0; n < WATCH_PAGES; n++) {
		watcher *w = atomic_load_explicit(&watch_pages[n], memory_order_acquire);

		if (w == NULL) {
			continue;
		}
		for (size_t i = 0; i < WATCH_PAGE; i++) {
			if (state_of(&w[i]) >> EVENT_BITS == loop->serial) {
				clear(&w[i]);
			}
		}
		if (nloops == 1) {
			atomic_store_explicit(&watch_pages[n], NULL, memory_order_release);
			rp_free(NULL, w);
		}
	}
	nloops--;
	pthread_mutex_unlock(&loops_mu);
}

rp_loop *rp_loop_new(unsigned id)
{
	rp_loop *loop = rp_calloc(NULL, 1, sizeof(*loop));

	if (loop == NULL) {
		return NULL;
	}
	loop->id = id;
	pthread_mutex_lock(&loops_mu);
	nloops++;
	if (++next_serial >> (32u - EVENT_BITS) != 0) {
		next_serial = 1; /* 2^29 loops later: no earlier one is alive */
	}
	loop->serial = next_serial;
	pthread_mutex_unlock(&loops_mu);
	loop->wake_fd = -1;
	atomic_init(&loop->stop, 0);
	pthread_mutex_init(&loop->post_mu, NULL);
	loop->be = rp__backend_new();
	if (loop->be == NULL) {
		goto fail;
	}
	loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->wake_fd < 0) {
		goto fail;
	}
	if (rp_loop_watch(loop, loop->wake_fd, RP_LOOP_READ, on_wake, NULL) != RP_OK) {
		goto fail;
	}
	loop->now = rp_clock_ms();
	return loop;
fail:
	rp_loop_free(loop);
	return NULL;
}

void rp_loop_free(rp_loop *loop)
{
	post *p;

	if (loop == NULL) {
		return;
	}
	p = loop->post_head;
	while (p != NULL) {
		post *next = p->next;

		atomic_store(&p->queued, 0);
		if (p->owned) {
			rp_free(NULL, p);
		}
		p = next;
	}
	if (loop->wake_fd >= 0) {
		close(loop->wake_fd);
	}
	rp__backend_free(loop->be);
	for (size_t i = 0; i < loop->nheap; i++) {
		loop->heap[i]->slot = 0;
	}
	rp_free(NULL, loop->heap);
	forget_watchers(loop);
	pthread_mutex_destroy(&loop->post_mu);
	rp_free(NULL, loop);
}

rp_status rp_loop_run_once(rp_loop *loop, uint64_t max_wait_ms)
{
	int n, has_posts;

	pthread_mutex_lock(&loop->post_mu);
	has_posts = loop->post_head != NULL;
	pthread_mutex_unlock(&loop->post_mu);
	n = rp__backend_wait(loop->be, loop->ready, READY_BATCH,
			     has_posts ? 0 : wait_timeout(loop, max_wait_ms));
	if (n < 0) {
		return RP_E_IO;
	}
	loop->now = rp_clock_ms();
	dispatch(loop, n);
	run_timers(loop);
	run_posts(loop);
	return RP_OK;
}

rp_status rp_loop_run(rp_loop *loop)
{
	while (!atomic_load(&loop->stop)) {
		rp_status st = rp_loop_run_once(loop, UINT64_MAX);

		if (st != RP_OK) {
			return st;
		}
	}
	atomic_store(&loop->stop, 0);
	return RP_OK;
}
