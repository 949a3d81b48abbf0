/* Unit tests of server/loop: watchers, timers, posts, failure paths. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "loop/loop.h"
#include "util/alloc.h"

typedef struct rec {
	int calls;
	int order[64];
	int n;
	int other_fd;
} rec;

static void on_read(rp_loop *loop, int fd, unsigned events, void *arg)
{
	rec *r = arg;
	char buf[16];

	(void)loop;
	assert_true(events & RP_LOOP_READ);
	assert_true(read(fd, buf, sizeof(buf)) > 0);
	r->calls++;
}

static void test_pipe_readable(void **state)
{
	rp_loop *loop = rp_loop_new(0);
	rec r = {0};
	int p[2];

	(void)state;
	assert_non_null(loop);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(rp_loop_watch(loop, p[0], RP_LOOP_READ, on_read, &r), RP_OK);
	/* Watching the same fd twice is refused. */
	assert_int_equal(rp_loop_watch(loop, p[0], RP_LOOP_READ, on_read, &r), RP_E_INVALID_ARG);
	assert_int_equal(rp_loop_run_once(loop, 0), RP_OK);
	assert_int_equal(r.calls, 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(rp_loop_run_once(loop, 1000), RP_OK);
	assert_int_equal(r.calls, 1);
	/* Not watching for reads any more: no call. */
	assert_int_equal(rp_loop_modify(loop, p[0], 0), RP_OK);
	assert_int_equal(write(p[1], "y", 1), 1);
	assert_int_equal(rp_loop_run_once(loop, 0), RP_OK);
	assert_int_equal(r.calls, 1);
	assert_int_equal(rp_loop_modify(loop, p[0], RP_LOOP_READ), RP_OK);
	assert_int_equal(rp_loop_run_once(loop, 1000), RP_OK);
	assert_int_equal(r.calls, 2);
	rp_loop_unwatch(loop, p[0]);
	assert_int_equal(rp_loop_modify(loop, p[0], RP_LOOP_READ), RP_E_NOT_FOUND);
	close(p[0]);
	close(p[1]);
	rp_loop_free(loop);
}

/*
 * A high fd costs one page of the process's watcher table (1,024 slots of
 * three words), not slots up to it for every loop. The events of a low and
 * a high fd still reach their own callbacks.
 */
static void test_watch_high_fd(void **state)
{
	enum { HIGH = 1030 };
	rp_loop *loop;
	rec lo = {0}, hi = {0};
	struct rlimit rl;
	size_t base, grown;
	int p[2], q[2], high;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur <= HIGH + 128) {
		if (rl.rlim_max <= HIGH + 128) {
			skip(); /* the hard limit allows no fd that high */
		}
		rl.rlim_cur = HIGH + 128;
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	loop = rp_loop_new(0);
	assert_non_null(loop);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(pipe(q), 0);
	high = fcntl(q[0], F_DUPFD, HIGH);
	assert_int_equal(high, HIGH);
	assert_int_equal(rp_loop_watch(loop, p[0], RP_LOOP_READ, on_read, &lo), RP_OK);
	base = rp_alloc_in_use();
	assert_int_equal(rp_loop_watch(loop, high, RP_LOOP_READ, on_read, &hi), RP_OK);
	grown = rp_alloc_in_use() - base;
	assert_true(grown <= 1024u * 3u * sizeof(void *) + 64u); /* + malloc's rounding */
	assert_int_equal(write(q[1], "x", 1), 1);
	assert_int_equal(rp_loop_run_once(loop, 1000), RP_OK);
	assert_int_equal(hi.calls, 1);
	assert_int_equal(lo.calls, 0);
	assert_int_equal(write(p[1], "y", 1), 1);
	assert_int_equal(rp_loop_run_once(loop, 1000), RP_OK);
	assert_int_equal(hi.calls, 1);
	assert_int_equal(lo.calls, 1);
	rp_loop_unwatch(loop, high);
	rp_loop_unwatch(loop, p[0]);
	close(high);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
	rp_loop_free(loop);
}

/* The first callback of a pass unwatches the other fd: its event is dropped. */
static void on_read_unwatch_other(rp_loop *loop, int fd, unsigned events, void *arg)
{
	rec *r = arg;
	char buf[16];

	(void)events;
	assert_true(read(fd, buf, sizeof(buf)) > 0);
	r->calls++;
	rp_loop_unwatch(loop, r->other_fd);
}

static void test_unwatch_during_dispatch(void **state)
{
	const struct timespec ms = {0, 1000000};
	rp_loop *loop = rp_loop_new(0);
	rec ra = {0}, rb = {0};
	int a[2], b[2];

	(void)state;
	assert_int_equal(pipe(a), 0);
	assert_int_equal(pipe(b), 0);
	/* Each callback unwatches the other pipe: only one may run. */
	ra.other_fd = b[0];
	rb.other_fd = a[0];
	assert_int_equal(rp_loop_watch(loop, a[0], RP_LOOP_READ, on_read_unwatch_other, &ra),
			 RP_OK);
	assert_int_equal(rp_loop_watch(loop, b[0], RP_LOOP_READ, on_read_unwatch_other, &rb),
			 RP_OK);
	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(write(b[1], "x", 1), 1);
	/* Let both become ready before the pass. */
	nanosleep(&ms, NULL);
	assert_int_equal(rp_loop_run_once(loop, 1000), RP_OK);
	assert_int_equal(ra.calls + rb.calls, 1);
	rp_loop_unwatch(loop, a[0]);
	rp_loop_unwatch(loop, b[0]);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	rp_loop_free(loop);
}

/*
 * Loops share one watcher table. b's callback (loop A) unwatches and closes
 * a[0], and puts another pipe on its number for loop B, the way a closed
 * connection's fd comes back in another loop's accept. A's event for the
 * old a[0], gathered in the same pass, must not reach B's callback from A's
 * thread. An fd has one loop at a time; B adds no slots.
 */
typedef struct mover {
	rp_loop *other;
	int fd;    /* a[0]: moved to `other` */
	int c[2];  /* the pipe put on its number */
	rec *dest; /* the callback's record in `other` */
	int calls;
} mover;

static void on_read_move(rp_loop *loop, int fd, unsigned events, void *arg)
{
	mover *m = arg;
	char buf[16];

	(void)events;
	assert_true(read(fd, buf, sizeof(buf)) > 0);
	m->calls++;
	rp_loop_unwatch(loop, m->fd);
	close(m->fd);
	assert_int_equal(pipe(m->c), 0);
	assert_int_equal(dup2(m->c[0], m->fd), m->fd);
	assert_int_equal(write(m->c[1], "z", 1), 1);
	assert_int_equal(rp_loop_watch(m->other, m->fd, RP_LOOP_READ, on_read, m->dest), RP_OK);
}

static void test_loops_share_the_table(void **state)
{
	const struct timespec ms = {0, 1000000};
	rp_loop *a_loop = rp_loop_new(0), *b_loop = rp_loop_new(1);
	rec ra = {0}, rb = {0};
	mover m = {0};
	int a[2], b[2];
	size_t base;

	(void)state;
	assert_non_null(a_loop);
	assert_non_null(b_loop);
	assert_int_equal(pipe(a), 0);
	assert_int_equal(pipe(b), 0);
	assert_int_equal(rp_loop_watch(a_loop, a[0], RP_LOOP_READ, on_read, &ra), RP_OK);
	/* One loop at a time; the other may neither watch nor touch it. */
	assert_int_equal(rp_loop_watch(b_loop, a[0], RP_LOOP_READ, on_read, &rb), RP_E_INVALID_ARG);
	assert_int_equal(rp_loop_modify(b_loop, a[0], RP_LOOP_WRITE), RP_E_NOT_FOUND);
	rp_loop_unwatch(b_loop, a[0]);
	m.other = b_loop;
	m.fd = a[0];
	m.dest = &rb;
	base = rp_alloc_in_use();
	assert_int_equal(rp_loop_watch(a_loop, b[0], RP_LOOP_READ, on_read_move, &m), RP_OK);
	assert_int_equal(rp_alloc_in_use(), base); /* same page: no new slots */
	/* b first: epoll reports fds in the order they became ready. */
	assert_int_equal(write(b[1], "x", 1), 1);
	assert_int_equal(write(a[1], "y", 1), 1);
	nanosleep(&ms, NULL);
	assert_int_equal(rp_loop_run_once(a_loop, 1000), RP_OK);
	assert_int_equal(m.calls, 1);
	assert_int_equal(ra.calls, 0); /* its fd was gone before its turn */
	assert_int_equal(rb.calls, 0); /* and B's callback is B's to run */
	assert_int_equal(rp_loop_run_once(b_loop, 1000), RP_OK);
	assert_int_equal(rb.calls, 1);
	rp_loop_unwatch(b_loop, a[0]);
	rp_loop_unwatch(a_loop, b[0]);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	close(m.c[0]);
	close(m.c[1]);
	rp_loop_free(b_loop);
	rp_loop_free(a_loop);
}

typedef struct tctx {
	rec *r;
	int id;
} tctx;

static void on_timer(rp_loop *loop, void *arg)
{
	tctx *c = arg;

	(void)loop;
	if (c->r->n < 64) {
		c->r->order[c->r->n++] = c->id;
	}
}

static void run_until_calls(rp_loop *loop, rec *r, int want)
{
	uint64_t until = rp_clock_ms() + 5000u;

	while (r->n < want && rp_clock_ms() < until) {
		assert_int_equal(rp_loop_run_once(loop, 50), RP_OK);
	}
}

static void test_timers_order_and_stop(void **state)
{
	rp_loop *loop = rp_loop_new(0);
	rec r = {0};
	rp_timer t[6];
	tctx c[6];
	/* Deadlines out of order, with a tie (ids 3 and 4) kept in start order. */
	static const uint64_t after[6] = {30, 10, 20, 5, 5, 15};
	int i;

	(void)state;
	memset(t, 0, sizeof(t));
	for (i = 0; i < 6; i++) {
		c[i].r = &r;
		c[i].id = i;
		assert_int_equal(rp_timer_start(loop, &t[i], after[i], on_timer, &c[i]), RP_OK);
		assert_true(rp_timer_active(&t[i]));
	}
	rp_timer_stop(loop, &t[5]);
	assert_false(rp_timer_active(&t[5]));
	/* Restarting moves a timer: 2 now fires last. */
	assert_int_equal(rp_timer_start(loop, &t[2], 40, on_timer, &c[2]), RP_OK);
	run_until_calls(loop, &r, 5);
	assert_int_equal(r.n, 5);
	assert_int_equal(r.order[0], 3);
	assert_int_equal(r.order[1], 4);
	assert_int_equal(r.order[2], 1);
	assert_int_equal(r.order[3], 0);
	assert_int_equal(r.order[4], 2);
	for (i = 0; i < 6; i++) {
		assert_false(rp_timer_active(&t[i]));
	}
	rp_loop_free(loop);
}

/* A timer restarted for 0 ms from its own callback waits for the next pass. */
static rp_timer self_timer;

static void on_rearm(rp_loop *loop, void *arg)
{
	rec *r = arg;

	r->calls++;
	assert_int_equal(rp_timer_start(loop, &self_timer, 0, on_rearm, r), RP_OK);
}

static void test_timer_rearm_next_pass(void **state)
{
	rp_loop *loop = rp_loop_new(0);
	rec r = {0};

	(void)state;
	memset(&self_timer, 0, sizeof(self_timer));
	assert_int_equal(rp_timer_start(loop, &self_timer, 0, on_rearm, &r), RP_OK);
	assert_int_equal(rp_loop_run_once(loop, 0), RP_OK);
	assert_int_equal(r.calls, 1);
	assert_int_equal(rp_loop_run_once(loop, 0), RP_OK);
	assert_int_equal(r.calls, 2);
	rp_timer_stop(loop, &self_timer);
	rp_loop_free(loop);
}

/* Many random timers: they fire in deadline order (heap invariant). */
typedef struct order_ctx {
	rp_timer t;
	uint64_t deadline;
	uint64_t *prev;
	int *bad;
	int *fired;
} order_ctx;

static void on_ordered(rp_loop *loop, void *arg)
{
	order_ctx *o = arg;

	(void)loop;
	if (o->deadline < *o->prev) {
		(*o->bad)++;
	}
	*o->prev = o->deadline;
	(*o->fired)++;
}

static void test_timer_heap_random(void **state)
{
	enum { N = 2000 };
	rp_loop *loop = rp_loop_new(0);
	order_ctx *o = calloc(N, sizeof(*o));
	uint64_t prev = 0;
	int bad = 0, fired = 0, stopped = 0, i;
	uint64_t until;

	(void)state;
	assert_non_null(o);
	srand(1234);
	for (i = 0; i < N; i++) {
		uint64_t after = (uint64_t)(rand() % 30);

		o[i].prev = &prev;
		o[i].bad = &bad;
		o[i].fired = &fired;
		assert_int_equal(rp_timer_start(loop, &o[i].t, after, on_ordered, &o[i]), RP_OK);
		o[i].deadline = o[i].t.deadline;
	}
	for (i = 0; i < N; i += 3) {
		rp_timer_stop(loop, &o[i].t);
		stopped++;
	}
	until = rp_clock_ms() + 5000u;
	while (fired < N - stopped && rp_clock_ms() < until) {
		assert_int_equal(rp_loop_run_once(loop, 50), RP_OK);
	}
	assert_int_equal(fired, N - stopped);
	assert_int_equal(bad, 0);
	rp_loop_free(loop);
	free(o);
}

/* Posts from another thread run on the loop, in order; stop works from there. */
typedef struct post_ctx {
	rp_loop *loop;
	int seen[100];
	int n;
} post_ctx;

static post_ctx pc;

static void on_post(rp_loop *loop, void *arg)
{
	(void)loop;
	pc.seen[pc.n++] = (int)(intptr_t)arg;
}

static void *poster(void *arg)
{
	rp_loop *loop = arg;
	int i;

	for (i = 0; i < 100; i++) {
		assert_int_equal(rp_loop_post(loop, on_post, (void *)(intptr_t)i), RP_OK);
	}
	return NULL;
}

static void on_post_stop(rp_loop *loop, void *arg)
{
	(void)arg;
	rp_loop_stop(loop);
}

static void test_post_cross_thread(void **state)
{
	rp_loop *loop = rp_loop_new(3);
	pthread_t th;
	int i;

	(void)state;
	memset(&pc, 0, sizeof(pc));
	assert_int_equal(rp_loop_id(loop), 3);
	assert_int_equal(pthread_create(&th, NULL, poster, loop), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(rp_loop_post(loop, on_post_stop, NULL), RP_OK);
	/* Run blocks until the posted stop: the eventfd woke it. */
	assert_int_equal(rp_loop_run(loop), RP_OK);
	assert_int_equal(pc.n, 100);
	for (i = 0; i < 100; i++) {
		assert_int_equal(pc.seen[i], i);
	}
	rp_loop_free(loop);
}

/* Embedded tasks: a task queued twice runs once; one posted again while it
 * runs (the wake-up of a connection by another loop) runs again; posting
 * never allocates, so it works with every allocation failing. */
typedef struct wake_ctx {
	rp_task task;
	atomic_int runs;
	int repost; /* re-post itself from fn this many times */
} wake_ctx;

static void on_wake_task(rp_loop *loop, void *arg)
{
	wake_ctx *w = arg;

	atomic_fetch_add(&w->runs, 1);
	if (w->repost > 0) {
		w->repost--;
		assert_int_equal(rp_loop_post_task(loop, &w->task), 1);
	}
}

typedef struct hammer {
	rp_loop *loop;
	wake_ctx *w;
	atomic_int posted; /* posts that queued the task */
} hammer;

static void *hammer_main(void *arg)
{
	hammer *h = arg;

	for (int i = 0; i < 10000; i++) {
		atomic_fetch_add(&h->posted, rp_loop_post_task(h->loop, &h->w->task));
	}
	return NULL;
}

static void test_post_task(void **state)
{
	rp_loop *loop = rp_loop_new(4);
	wake_ctx w;
	hammer h;
	pthread_t th;

	(void)state;
	memset(&w, 0, sizeof(w));
	w.task.fn = on_wake_task;
	w.task.arg = &w;
	rp_alloc_fail_after(0);
	assert_int_equal(rp_loop_post_task(loop, &w.task), 1);
	assert_int_equal(rp_loop_post_task(loop, &w.task), 0); /* queued already */
	rp_alloc_fail_after(-1);
	assert_int_equal(rp_loop_run_once(loop, 0), RP_OK);
	assert_int_equal(atomic_load(&w.runs), 1);
	/* Re-posted from inside fn: runs on the next pass, not lost. */
	w.repost = 1;
	assert_int_equal(rp_loop_post_task(loop, &w.task), 1);
	assert_int_equal(rp_loop_run_once(loop, 0), RP_OK);
	assert_int_equal(atomic_load(&w.runs), 2);
	assert_int_equal(rp_loop_run_once(loop, 0), RP_OK);
	assert_int_equal(atomic_load(&w.runs), 3);
	/* Another thread posts while the loop runs: every post that queued the
	 * task is matched by exactly one run. */
	memset(&h, 0, sizeof(h));
	h.loop = loop;
	h.w = &w;
	atomic_store(&w.runs, 0);
	assert_int_equal(pthread_create(&th, NULL, hammer_main, &h), 0);
	for (int i = 0; i < 2000; i++) {
		assert_int_equal(rp_loop_run_once(loop, 0), RP_OK);
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	rp_loop_run_pending(loop);
	assert_true(atomic_load(&h.posted) >= 1);
	assert_int_equal(atomic_load(&w.runs), atomic_load(&h.posted));
	/* A task queued when the loop is freed is forgotten, not freed. */
	assert_int_equal(rp_loop_post_task(loop, &w.task), 1);
	rp_loop_free(loop);
	assert_int_equal(atomic_load(&w.task.queued), 0);
}

/* Allocation failures: reported, nothing leaked, nothing half-done. */
static void test_alloc_failures(void **state)
{
	size_t base = rp_alloc_in_use();
	rp_loop *loop = NULL;
	rp_timer t;
	rec r = {0};
	tctx c = {&r, 1};
	long n;

	(void)state;
	for (n = 0; loop == NULL; n++) {
		rp_alloc_fail_after(n);
		loop = rp_loop_new(0);
		rp_alloc_fail_after(-1);
		if (loop == NULL) {
			assert_int_equal(rp_alloc_in_use(), base);
		}
		assert_true(n < 100);
	}
	memset(&t, 0, sizeof(t));
	rp_alloc_fail_after(0);
	assert_int_equal(rp_timer_start(loop, &t, 0, on_timer, &c), RP_E_NOMEM);
	assert_false(rp_timer_active(&t));
	assert_int_equal(rp_loop_post(loop, on_post, NULL), RP_E_NOMEM);
	rp_alloc_fail_after(-1);
	assert_int_equal(rp_loop_run_once(loop, 0), RP_OK);
	assert_int_equal(r.n, 0);
	rp_loop_free(loop);
	assert_int_equal(rp_alloc_in_use(), base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipe_readable),
		cmocka_unit_test(test_unwatch_during_dispatch),
		cmocka_unit_test(test_watch_high_fd),
		cmocka_unit_test(test_loops_share_the_table),
		cmocka_unit_test(test_timers_order_and_stop),
		cmocka_unit_test(test_timer_rearm_next_pass),
		cmocka_unit_test(test_timer_heap_random),
		cmocka_unit_test(test_post_cross_thread),
		cmocka_unit_test(test_post_task),
		cmocka_unit_test(test_alloc_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
