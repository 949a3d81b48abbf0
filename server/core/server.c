/*
 * server.c - listeners and connections: the I/O half of the broker.
 *
 * Threads. The server runs one worker per event loop (rp_server_run: loop 0
 * on the caller's thread, the others on threads of their own). Each worker
 * has its own listening sockets on the same addresses (SO_REUSEPORT: the
 * kernel spreads new connections over them) and owns the connections it
 * accepted: their sockets, transports, buffers and timers are touched by
 * its thread only. Shared state has two locks, never held together:
 * - the broker lock (lock_broker()): every call into the broker core
 *   (rp_client_*, rp_broker_*).
 *   TLS work (handshakes, decryption, encryption) is done outside it, so
 *   the costly part of a connection runs on all cores at once; output is
 *   copied out of the client under the lock and encrypted after it.
 * - mu: per-address state, the connection and handshake totals, and the
 *   TLS context handed to workers on reload. Taken at accept and at close.
 * When the core, running on one loop, makes another loop's client
 * writable or asks to close it (a delivery, a takeover), io.want_write /
 * io.close set a bit on that connection and post its embedded task to the
 * owning loop (rp_loop_post_task: eventfd, never fails). The posted task
 * holds a reference: finish() marks a connection dead and drops the
 * owner's reference, and the last reference frees it.
 *
 * A connection (netconn) owns its socket, its transport (rp_conn), its
 * receive buffer and, once the handshake is done, its broker client. One
 * timer per connection serves the handshake deadline, then the client's
 * deadlines (CONNECT, keep alive), then a deferred close.
 *
 * Lifetime: a connection ends only in finish(), called from its own event
 * callbacks, timer or wake task, never from inside the broker core; the
 * core asks for a close through io.close, which sets `closing` and arms
 * the timer at 0 ms.
 *
 * Attacker: anyone who can reach the port. Before the TLS handshake
 * completes a connection costs a socket, an SSL object and a slot among
 * max_handshakes; it has handshake_timeout_ms to finish. Per-address and
 * total connection caps are checked at accept, before any TLS work, and
 * are totals over all loops.
 */
#define _DEFAULT_SOURCE /* SO_REUSEPORT */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/server.h"
#include "net/tls.h"
#include "net/transport.h"
#include "util/alloc.h"
#include "util/bucket.h"
#include "util/log.h"
#include "util/map.h"

enum { PH_HANDSHAKE, PH_MQTT, PH_CLOSING };

/* What another loop asks of a connection (netconn.wake). */
enum { WAKE_WRITE = 1u, WAKE_CLOSE = 2u };

/* How often the broker's totals are logged (when they changed). */
#define STATS_PERIOD_MS 60000u

/* Bytes read from one connection per loop pass (limits.h). */
#define READ_BUDGET RP_LIMIT_READ_BUDGET

/* Bytes of a client's output copied out of the core per write. */
#define OUT_CHUNK RP_LIMIT_READ_BUDGET

typedef struct netconn netconn;
typedef struct worker worker;

typedef struct listener {
	worker *w;
	int fd;
	int tls;
	uint16_t port;
} listener;

/* One event loop and what it owns. */
struct worker {
	rp_server *srv;
	unsigned index;
	rp_loop *loop;
	rp_tls_ctx *tls;      /* this loop's reference, for new connections */
	rp_tls_ctx *next_tls; /* under srv->mu: a reload's context, taken by tls_task */
	rp_task tls_task, drain_task;
	listener listeners[RP_SERVER_MAX_LISTENERS];
	netconn *conns; /* doubly linked list of this loop's connections */
	size_t nconns;
	uint64_t accepted; /* connections admitted by this loop, ever */
	rp_timer tick;
	int draining;
	uint64_t drain_deadline;
	pthread_t thread;
	int thread_started;
	uint8_t scratch[READ_BUDGET]; /* every read lands here first */
	uint8_t out[OUT_CHUNK];       /* output on its way to the transport */
};

struct rp_server {
	rp_broker *broker;
	/* The broker lock: every call into the core (lock_broker()). */
	atomic_uint ticket_next, ticket_serving;
	atomic_uint ticket_sleepers; /* waiters asleep on broker_turn */
	pthread_mutex_t broker_mu;   /* only to sleep and to wake sleepers */
	pthread_cond_t broker_turn;
	pthread_mutex_t mu; /* per_addr, nconns, handshakes, workers' next_tls */
	rp_server_opts o;
	rp_map *per_addr; /* address -> addr_state */
	size_t nconns;
	uint32_t handshakes;
	unsigned nlisteners;
	uint64_t next_stats_ms, last_stats_sum; /* worker 0 only */
	atomic_uint drain_ms;
	atomic_int freeing; /* rp_server_free: the core's io callbacks do nothing */
	unsigned nworkers;
	worker *workers;
};

struct netconn {
	netconn *prev, *next;
	worker *w;
	int fd;
	uint8_t phase;
	uint8_t closing;      /* the core asked to close: flush, then finish */
	uint8_t paused;       /* not reading: output above out_pause_bytes */
	uint8_t throttled;    /* not reading: the device is over its rate */
	uint8_t more;         /* the read budget ran out: continue on the next pass */
	uint8_t dead;         /* finished; memory kept for a queued wake task */
	uint8_t in_handshake; /* counted in srv->handshakes */
	unsigned watching;
	uint64_t write_stall_since; /* output pending and not moving since; 0: moving */
	rp_conn *t;
	rp_client *client;
	rp_timer timer;
	rp_task wake_task; /* posted by other loops: on_wake() */
	atomic_uint wake;  /* WAKE_* bits for on_wake() */
	atomic_uint refs;  /* the owner's, plus one while wake_task is queued */
	uint8_t *rbuf;     /* a partial (or throttled) packet only; NULL when none */
	size_t rlen, rcap;
	/* The peer's address as text, sized to it: an IPv4 connection is 32
	 * bytes smaller than with a buffer for the longest IPv6 address. */
	char addr[];
};

_Static_assert(RP_ROLE_NAME_MAX <= RP_IDENTITY_ROLE_MAX, "a TLS role must fit rp_identity");

/* The worker whose loop runs on this thread (NULL elsewhere). */
static _Thread_local worker *tl_worker;

/*
 * The broker lock is a ticket lock (FIFO): a plain mutex lets the loop
 * that just released it take it again before a waiting loop wakes up, so a
 * loop that floods (one lock per read of 64 KiB) could starve the others
 * for many milliseconds. Tickets hand it over in arrival order.
 *
 * A waiter spins a little before it sleeps: the lock is held for a few
 * microseconds at a time, far less than a sleeping thread takes to wake,
 * and with the waiter asleep nobody may run the core until it is awake
 * (the FIFO keeps the releasing loop out). Sleeping on every contended
 * hand-over halved the message rate with two loops.
 *
 * No wake-up is lost: a waiter counts itself in ticket_sleepers before it
 * reads ticket_serving, and the releaser advances ticket_serving before it
 * reads ticket_sleepers (both sequentially consistent), so at least one of
 * them sees the other's write.
 */
#define BROKER_SPIN_NS 30000u /* measured: 10 to 100 us gave the same rates */

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int broker_turn_is(rp_server *s, unsigned mine)
{
	return atomic_load_explicit(&s->ticket_serving, memory_order_acquire) == mine;
}

static void lock_broker(rp_server *s)
{
	unsigned mine = atomic_fetch_add(&s->ticket_next, 1u);
	uint64_t t0;

	if (broker_turn_is(s, mine)) {
		return;
	}
	t0 = mono_ns();
	for (unsigned i = 1;; i++) {
		cpu_relax();
		if (broker_turn_is(s, mine)) {
			return;
		}
		if (i % 32u == 0 && mono_ns() - t0 > BROKER_SPIN_NS) {
			break;
		}
	}
	pthread_mutex_lock(&s->broker_mu);
	atomic_fetch_add(&s->ticket_sleepers, 1u);
	while (atomic_load(&s->ticket_serving) != mine) {
		pthread_cond_wait(&s->broker_turn, &s->broker_mu);
	}
	atomic_fetch_sub(&s->ticket_sleepers, 1u);
	pthread_mutex_unlock(&s->broker_mu);
}

static void unlock_broker(rp_server *s)
{
	atomic_fetch_add(&s->ticket_serving, 1u);
	if (atomic_load(&s->ticket_sleepers) > 0) {
		pthread_mutex_lock(&s->broker_mu);
		pthread_cond_broadcast(&s->broker_turn);
		pthread_mutex_unlock(&s->broker_mu);
	}
}

/* ---- helpers ----------------------------------------------------------- */

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL, 0);

	return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

/* "host:port" or "[v6]:port" into a sockaddr. 0 on a malformed address. */
static int parse_addr(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon, *h = spec;
	size_t hl;
	long port;
	char *end;

	memset(ss, 0, sizeof(*ss));
	if (spec[0] == '[') {
		const char *close_br = strchr(spec, ']');

		if (close_br == NULL || close_br[1] != ':') {
			return 0;
		}
		h = spec + 1;
		hl = (size_t)(close_br - h);
		colon = close_br + 1;
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL) {
			return 0;
		}
		hl = (size_t)(colon - spec);
	}
	if (hl >= sizeof(host)) {
		return 0;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == colon + 1 || port < 0 || port > 65535) {
		return 0;
	}
	if (spec[0] == '[') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
		return inet_pton(AF_INET6, host, &a6->sin6_addr) == 1;
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)ss;

		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof(*a4);
		return inet_pton(AF_INET, host, &a4->sin_addr) == 1;
	}
}

static int is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)ss;

		return (ntohl(a4->sin_addr.s_addr) >> 24) == 127u;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)ss;

		return IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
	}
	return 0;
}

static void addr_str(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, host, sizeof(host));
	} else if (ss->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, host,
			  sizeof(host));
	}
	snprintf(out, cap, "%s", host);
}

/*
 * Per source address: live connections and the connect-rate bucket. An
 * entry lives while it has connections or its bucket is refilling; the
 * tick sweeps the others, and the map holds at most MAX_ADDRS entries
 * (past that, new addresses are refused until the sweep frees room).
 * Everything here runs under srv->mu.
 */
#define MAX_ADDRS RP_LIMIT_TRACKED_ADDRESSES

typedef struct addr_state {
	uint32_t live;
	rp_bucket connects;
} addr_state;

static addr_state *addr_get(rp_server *s, const char *addr, int create, uint64_t now)
{
	addr_state *a = rp_map_get(s->per_addr, addr, strlen(addr));

	if (a != NULL || !create || rp_map_count(s->per_addr) >= MAX_ADDRS) {
		return a;
	}
	a = rp_calloc(NULL, 1, sizeof(*a));
	if (a == NULL) {
		return NULL;
	}
	rp_bucket_init(&a->connects, s->o.connect_rate_per_address, s->o.connect_burst_per_address,
		       now);
	if (rp_map_put(s->per_addr, addr, strlen(addr), a, NULL) != RP_OK) {
		rp_free(NULL, a);
		return NULL;
	}
	return a;
}

/* Drops entries without connections whose bucket is full again. */
static void addr_sweep(rp_server *s, uint64_t now)
{
	char *gone[64];
	size_t cur = 0, len, n = 0, i;
	const void *key;
	void *v;

	while (n < 64 && rp_map_next(s->per_addr, &cur, &key, &len, &v)) {
		addr_state *a = v;

		if (a->live == 0 && rp_bucket_wait_ms(&a->connects, a->connects.burst, now) == 0) {
			gone[n] = rp_alloc(NULL, len + 1u);
			if (gone[n] == NULL) {
				break;
			}
			memcpy(gone[n], key, len);
			gone[n][len] = '\0';
			n++;
		}
	}
	for (i = 0; i < n; i++) {
		rp_free(NULL, rp_map_del(s->per_addr, gone[i], strlen(gone[i])));
		rp_free(NULL, gone[i]);
	}
}

/*
 * The accept-time limits, over all loops. On success the connection is
 * counted (total, per address, and as a handshake when `tls`) and NULL is
 * returned; otherwise the reason to log.
 */
static const char *admit(rp_server *s, const char *addr, int tls, uint64_t now)
{
	const char *why = NULL;
	addr_state *a;

	pthread_mutex_lock(&s->mu);
	if (s->nconns >= s->o.max_connections) {
		why = "connection limit";
		goto out;
	}
	a = addr_get(s, addr, 1, now);
	if (a == NULL) {
		why = "too many source addresses tracked";
		goto out;
	}
	if (a->live >= s->o.max_connections_per_address) {
		why = "per-address connection limit";
		goto out;
	}
	if (!rp_bucket_take(&a->connects, 1, now)) {
		why = "per-address connect rate";
		goto out;
	}
	if (tls && s->handshakes >= s->o.max_handshakes) {
		why = "too many handshakes in flight";
		goto out;
	}
	a->live++;
	s->nconns++;
	if (tls) {
		s->handshakes++;
	}
out:
	pthread_mutex_unlock(&s->mu);
	return why;
}

/* Undoes admit(): the connection ended (handshake: it was still in one). */
static void release(rp_server *s, const char *addr, int handshake, uint64_t now)
{
	addr_state *a;

	pthread_mutex_lock(&s->mu);
	if (handshake && s->handshakes > 0) {
		s->handshakes--;
	}
	a = addr_get(s, addr, 0, now);
	if (a != NULL && a->live > 0) {
		a->live--;
	}
	s->nconns--;
	pthread_mutex_unlock(&s->mu);
}

/* ---- connections ------------------------------------------------------- */

static void on_conn_io(rp_loop *loop, int fd, unsigned events, void *arg);
static void on_conn_timer(rp_loop *loop, void *arg);

static void watch(netconn *c, unsigned events)
{
	if (c->watching != events && rp_loop_modify(c->w->loop, c->fd, events) == RP_OK) {
		c->watching = events;
	}
}

static void conn_unref(netconn *c)
{
	if (atomic_fetch_sub(&c->refs, 1) == 1) {
		rp_free(NULL, c->rbuf);
		rp_free(NULL, c);
	}
}

/* Frees everything of c. The only place a connection ends. */
static void finish(netconn *c)
{
	worker *w = c->w;
	rp_server *s = w->srv;
	uint64_t now = rp_loop_now(w->loop);

	if (c->client != NULL) {
		/* After this section no other loop can reach c through the core:
		 * a wake it posted before holds its own reference. */
		lock_broker(s);
		rp_client_closed(c->client, now);
		rp_client_free(c->client);
		unlock_broker(s);
		c->client = NULL;
	}
	rp_timer_stop(w->loop, &c->timer);
	rp_loop_unwatch(w->loop, c->fd);
	rp_conn_free(c->t);
	c->t = NULL;
	close(c->fd);
	release(s, c->addr, c->in_handshake, now);
	if (c->prev != NULL) {
		c->prev->next = c->next;
	} else {
		w->conns = c->next;
	}
	if (c->next != NULL) {
		c->next->prev = c->prev;
	}
	w->nconns--;
	c->dead = 1;
	rp_free(NULL, c->rbuf);
	c->rbuf = NULL;
	conn_unref(c);
}

static void arm_client_timer(netconn *c);

static int reading(const netconn *c)
{
	return !c->paused && !c->throttled && !c->closing;
}

/*
 * Writes pending output. The core's output is copied (a chunk at a time)
 * under the broker lock and encrypted and written outside it. Returns 0
 * if the connection died.
 */
static int flush(netconn *c)
{
	worker *w = c->w;
	rp_server *s = w->srv;
	size_t done = 0, pending;

	for (;;) {
		const uint8_t *buf;
		size_t len, n = 0;
		rp_status st;

		lock_broker(s);
		if (done > 0) {
			rp_client_consumed(c->client, done);
			done = 0;
		}
		rp_client_output(c->client, &buf, &len);
		if (len > sizeof(w->out)) {
			len = sizeof(w->out);
		}
		/* The head of the output does not move until consumed, so a retried
		 * TLS write sees the same leading bytes (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER). */
		if (len > 0) {
			memcpy(w->out, buf, len);
		}
		unlock_broker(s);
		if (len == 0) {
			break;
		}
		st = rp_conn_write(c->t, w->out, len, &n);
		if (st == RP_NEED_MORE) {
			if (c->write_stall_since == 0) {
				/* The slow-reader deadline starts now: arm the timer for it. */
				c->write_stall_since = rp_loop_now(w->loop);
				if (c->phase == PH_MQTT) {
					arm_client_timer(c);
				}
			}
			watch(c, rp_conn_wants(c->t) | (reading(c) ? RP_LOOP_READ : 0u));
			return 1;
		}
		if (st != RP_OK) {
			return 0;
		}
		c->write_stall_since = 0;
		done = n;
	}
	c->write_stall_since = 0;
	if (c->paused) {
		lock_broker(s);
		pending = rp_client_pending(c->client);
		unlock_broker(s);
		if (pending < s->o.out_pause_bytes / 2u) {
			/* Resume from the timer: buffered input (ours, or inside TLS) does
			 * not wake the fd, so it must be fed without waiting for one. */
			c->paused = 0;
			(void)rp_timer_start(w->loop, &c->timer, 0, on_conn_timer, c);
		}
	}
	if (c->closing) {
		(void)rp_conn_shutdown(c->t);
		return 0;
	}
	watch(c, reading(c) ? RP_LOOP_READ : 0u);
	return 1;
}

static void close_local(netconn *c)
{
	c->closing = 1;
	(void)rp_timer_start(c->w->loop, &c->timer, 0, on_conn_timer, c);
}

/* On c's loop: what other loops asked for while c was theirs to reach. */
static void on_wake(rp_loop *loop, void *arg)
{
	netconn *c = arg;
	unsigned bits = atomic_exchange(&c->wake, 0u);

	(void)loop;
	if (!c->dead && c->client != NULL) {
		if (bits & WAKE_CLOSE) {
			close_local(c);
		} else if ((bits & WAKE_WRITE) && !flush(c)) {
			finish(c);
		}
	}
	conn_unref(c);
}

/* Called by the core (under the broker lock) on any loop's thread. */
static void wake(netconn *c, unsigned bit)
{
	if (atomic_fetch_or(&c->wake, bit) == 0u) {
		atomic_fetch_add(&c->refs, 1u);
		if (!rp_loop_post_task(c->w->loop, &c->wake_task)) {
			atomic_fetch_sub(&c->refs, 1u); /* queued already: it holds one */
		}
	}
}

static void client_want_write(void *ctx)
{
	netconn *c = ctx;

	if (atomic_load(&c->w->srv->freeing)) {
		return;
	}
	if (tl_worker == c->w) {
		watch(c, c->watching | RP_LOOP_WRITE);
	} else {
		wake(c, WAKE_WRITE);
	}
}

static void client_close(void *ctx)
{
	netconn *c = ctx;

	if (atomic_load(&c->w->srv->freeing)) {
		return;
	}
	if (tl_worker == c->w) {
		close_local(c);
	} else {
		wake(c, WAKE_CLOSE);
	}
}

/* The client's own deadlines, asked under the broker lock. */
typedef struct deadlines {
	rp_status tick;    /* RP_E_CLOSED: a deadline passed, close now */
	uint64_t next;     /* when to tick again */
	uint64_t throttle; /* rp_client_throttled_until */
} deadlines;

static void client_deadlines(netconn *c, uint64_t now, deadlines *d)
{
	d->next = 0;
	d->tick = rp_client_tick(c->client, now, &d->next);
	d->throttle = rp_client_throttled_until(c->client);
}

/* Arms the connection's timer for the earliest of its deadlines. */
static void arm_timer_for(netconn *c, const deadlines *d)
{
	worker *w = c->w;
	uint64_t now = rp_loop_now(w->loop), next = d->next;

	if (d->tick != RP_OK) {
		c->closing = 1;
		next = now;
	}
	if (c->more) {
		next = now; /* input left inside TLS that no fd event will announce */
	}
	if (c->throttled && d->throttle < next) {
		next = d->throttle;
	}
	if (c->write_stall_since != 0 && c->write_stall_since + w->srv->o.write_timeout_ms < next) {
		next = c->write_stall_since + w->srv->o.write_timeout_ms;
	}
	if (rp_timer_start(w->loop, &c->timer, next > now ? next - now : 0, on_conn_timer, c) !=
	    RP_OK) {
		c->closing = 1; /* no deadline can be kept: do not keep the connection */
	}
}

static void arm_client_timer(netconn *c)
{
	deadlines d;

	lock_broker(c->w->srv);
	client_deadlines(c, rp_loop_now(c->w->loop), &d);
	unlock_broker(c->w->srv);
	arm_timer_for(c, &d);
}

static int start_mqtt(netconn *c)
{
	worker *w = c->w;
	rp_server *s = w->srv;
	rp_peer_identity pid;
	rp_identity who = {"", "device", c->addr};
	rp_client_io io = {c, client_want_write, client_close};
	rp_status st;

	st = rp_conn_peer_identity(c->t, &pid);
	if (st == RP_OK) {
		who.id = pid.device_id;
		who.role = pid.role;
	} else if (st != RP_E_NOT_FOUND) {
		/* RP_E_NOT_FOUND: the plain loopback listener; the identity is
		 * the CONNECT's client id. */
		return 0;
	}
	lock_broker(s);
	c->client = rp_client_new(s->broker, &who, &io, rp_loop_now(w->loop));
	unlock_broker(s);
	if (c->client == NULL) {
		return 0;
	}
	if (c->in_handshake) {
		pthread_mutex_lock(&s->mu);
		s->handshakes--;
		pthread_mutex_unlock(&s->mu);
		c->in_handshake = 0;
	}
	c->phase = PH_MQTT;
	arm_client_timer(c);
	return 1;
}

static void do_handshake(netconn *c)
{
	rp_status st = rp_conn_handshake(c->t);

	if (st == RP_NEED_MORE) {
		watch(c, rp_conn_wants(c->t));
		return;
	}
	if (st != RP_OK) {
		rp_log(RP_LOG_INFO, "tls", "handshake with %s refused: %s", c->addr,
		       rp_conn_last_error(c->t));
		finish(c);
		return;
	}
	if (!start_mqtt(c)) {
		finish(c);
		return;
	}
	watch(c, RP_LOOP_READ);
}

/*
 * Keeps the unconsumed tail of `data` as the connection's partial packet.
 * rbuf is sized to the tail, or to the whole packet once its fixed header
 * says how long it is, so an idle connection holds no receive buffer at
 * all and a large packet is assembled with one allocation. Under the broker lock
 * (it asks the client for its version and packet cap).
 */
static int keep_tail(netconn *c, const uint8_t *data, size_t len)
{
	int inside = c->rbuf != NULL && data >= c->rbuf && data < c->rbuf + c->rcap;
	rp_mqtt_frame f;
	size_t need = 0, want = len;
	uint8_t *p;

	if (inside) {
		/* Move first: a realloc below would leave `data` dangling. */
		memmove(c->rbuf, data, len);
		data = c->rbuf;
	}
	if (rp_mqtt_frame_parse(data, len, rp_client_version(c->client),
				rp_client_max_packet(c->client), &f, &need) == RP_NEED_MORE &&
	    f.total > len && need > 0) {
		want = f.total;
	}
	if (c->rcap < want) {
		p = rp_realloc(NULL, c->rbuf, want);
		if (p == NULL) {
			return 0;
		}
		c->rbuf = p;
		c->rcap = want;
	}
	if (!inside) {
		memcpy(c->rbuf, data, len);
	}
	c->rlen = len;
	return 1;
}

/* Feeds data[0 .. len) to the core; keeps what it did not consume. */
static int feed(netconn *c, const uint8_t *data, size_t len)
{
	worker *w = c->w;
	rp_server *s = w->srv;
	uint64_t now = rp_loop_now(w->loop);
	size_t used = 0;
	rp_status st;
	deadlines d;
	int ok = 1;

	lock_broker(s);
	st = rp_client_input(c->client, data, len, &used, now);
	if (st != RP_OK) {
		c->closing = 1;
		c->rlen = 0;
	} else if (used < len) {
		ok = keep_tail(c, data + used, len - used);
	} else {
		c->rlen = 0;
	}
	if (ok && st == RP_OK) {
		/* Asked now, under the lock this feed holds anyway (the hot path). */
		client_deadlines(c, now, &d);
		c->throttled = d.throttle > now;
		if (rp_client_pending(c->client) >= s->o.out_pause_bytes) {
			c->paused = 1; /* back pressure: stop reading this client */
		}
	}
	unlock_broker(s);
	if (!ok) {
		return 0;
	}
	if (c->rlen == 0 && c->rbuf != NULL) {
		/* Released while idle: most connections hold no receive buffer. */
		rp_free(NULL, c->rbuf);
		c->rbuf = NULL;
		c->rcap = 0;
	}
	if (st == RP_OK) {
		arm_timer_for(c, &d);
	}
	return 1;
}

/*
 * Feeds the core what is buffered (a throttled packet waits in rbuf), then
 * reads more into the worker's scratch buffer, until the transport has
 * nothing, reading stops (output back pressure, device over its rate) or
 * this pass's budget is spent. Returns 0 if the connection died.
 */
static int do_read(netconn *c)
{
	worker *w = c->w;
	size_t budget = READ_BUDGET;

	c->more = 0;
	if (c->rlen > 0 && !feed(c, c->rbuf, c->rlen)) {
		return 0;
	}
	while (reading(c)) {
		size_t n = 0;
		rp_status st;

		if (budget == 0) {
			/*
			 * Fairness: one connection gets READ_BUDGET bytes per pass, then
			 * the others have their turn. What is left (decrypted inside
			 * TLS) does not wake the fd: continue from the timer.
			 */
			c->more = 1;
			arm_client_timer(c);
			return 1;
		}
		st = rp_conn_read(c->t, w->scratch, sizeof(w->scratch), &n);
		if (st == RP_NEED_MORE) {
			return 1;
		}
		if (st != RP_OK) {
			return 0;
		}
		budget = n < budget ? budget - n : 0;
		if (c->rlen > 0) {
			/* Complete the partial packet: append, then feed it all. */
			if (c->rcap < c->rlen + n) {
				uint8_t *p = rp_realloc(NULL, c->rbuf, c->rlen + n);

				if (p == NULL) {
					return 0;
				}
				c->rbuf = p;
				c->rcap = c->rlen + n;
			}
			memcpy(c->rbuf + c->rlen, w->scratch, n);
			c->rlen += n;
			if (!feed(c, c->rbuf, c->rlen)) {
				return 0;
			}
		} else if (!feed(c, w->scratch, n)) {
			return 0;
		}
	}
	return 1;
}

static void on_conn_io(rp_loop *loop, int fd, unsigned events, void *arg)
{
	netconn *c = arg;

	(void)loop;
	(void)fd;
	(void)events;
	if (c->phase == PH_HANDSHAKE) {
		do_handshake(c);
		return;
	}
	if (reading(c) && !do_read(c)) {
		finish(c);
		return;
	}
	if (!flush(c)) {
		finish(c);
	}
}

static void on_conn_timer(rp_loop *loop, void *arg)
{
	netconn *c = arg;
	rp_server *s = c->w->srv;
	uint64_t now = rp_loop_now(loop);

	if (c->phase == PH_HANDSHAKE) {
		rp_log(RP_LOG_INFO, "tls", "handshake with %s timed out", c->addr);
		finish(c);
		return;
	}
	if (c->write_stall_since != 0 && now - c->write_stall_since >= s->o.write_timeout_ms) {
		/* A slow reader: its output has not moved for write_timeout. */
		struct linger abort_close = {1, 0};

		rp_log(RP_LOG_INFO, "net", "closing %s: output stalled for %u ms", c->addr,
		       s->o.write_timeout_ms);
		/*
		 * Reset rather than close: the kernel would otherwise keep feeding
		 * this reader its queued output after we gave up on it. QoS 1/2
		 * deliveries stay in the session and are resent on reconnect.
		 */
		(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &abort_close, sizeof(abort_close));
		finish(c);
		return;
	}
	if (c->throttled) {
		uint64_t until;

		lock_broker(s);
		until = rp_client_throttled_until(c->client);
		unlock_broker(s);
		if (now >= until) {
			c->throttled = 0;
		}
	}
	if (reading(c) && !do_read(c)) {
		finish(c);
		return;
	}
	if (!c->closing) {
		arm_client_timer(c);
	}
	if (!flush(c)) {
		finish(c);
	}
}

/* ---- listeners --------------------------------------------------------- */

static void refuse(int fd, const char *addr, const char *why)
{
	rp_log(RP_LOG_INFO, "net", "connection from %s refused: %s", addr, why);
	close(fd);
}

/* A new connection on w, admitted already. Returns 0 (and undoes the
 * admission) when it cannot be set up. */
static int adopt(worker *w, const listener *l, int fd, const char *addr)
{
	rp_server *s = w->srv;
	int one = 1, sndbuf = (int)RP_LIMIT_SOCKET_SNDBUF;
	size_t addr_len = strlen(addr); /* addr_str(): at most RP_IDENTITY_ADDR_MAX */
	netconn *c;

	if (!set_nonblock(fd)) {
		goto fail;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/*
	 * A fixed send buffer: the kernel's auto-tuning would let one slow
	 * reader pin megabytes of kernel memory and would hide the stall that
	 * the slow-reader deadline (write_timeout) looks for.
	 */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	c = rp_calloc(NULL, 1, sizeof(*c) + addr_len + 1u);
	if (c == NULL) {
		goto fail;
	}
	c->w = w;
	c->fd = fd;
	memcpy(c->addr, addr, addr_len + 1u);
	c->wake_task.fn = on_wake;
	c->wake_task.arg = c;
	atomic_init(&c->wake_task.queued, 0);
	atomic_init(&c->wake, 0u);
	atomic_init(&c->refs, 1u);
	if (l->tls) {
		rp_tls_conn *tc = rp_tls_conn_new(w->tls, fd);

		c->t = tc != NULL ? rp_tls_conn_base(tc) : NULL;
	} else {
		c->t = rp_conn_new_plain(fd);
	}
	if (c->t == NULL || rp_loop_watch(w->loop, fd, RP_LOOP_READ, on_conn_io, c) != RP_OK) {
		rp_conn_free(c->t);
		rp_free(NULL, c);
		goto fail;
	}
	c->watching = RP_LOOP_READ;
	c->next = w->conns;
	if (w->conns != NULL) {
		w->conns->prev = c;
	}
	w->conns = c;
	w->nconns++;
	c->phase = PH_HANDSHAKE;
	c->in_handshake = (uint8_t)(l->tls != 0);
	if (rp_timer_start(w->loop, &c->timer, s->o.handshake_timeout_ms, on_conn_timer, c) !=
	    RP_OK) {
		finish(c);
		return 1;
	}
	if (l->tls) {
		do_handshake(c);
	} else if (!start_mqtt(c)) {
		finish(c);
	}
	return 1;
fail:
	release(s, addr, l->tls, rp_loop_now(w->loop));
	refuse(fd, addr, "out of memory");
	return 0;
}

static void on_accept(rp_loop *loop, int lfd, unsigned events, void *arg)
{
	listener *l = arg;
	worker *w = l->w;

	(void)events;
	/* Accept a bounded batch per pass, so one listener cannot starve the loop. */
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char addr[RP_IDENTITY_ADDR_MAX + 1];
		const char *why;
		int fd = accept(lfd, (struct sockaddr *)&ss, &sl);

		if (fd < 0) {
			return; /* EAGAIN, or a transient error: try on the next event */
		}
		addr_str(&ss, addr, sizeof(addr));
		if (w->draining) {
			refuse(fd, addr, "shutting down");
			continue;
		}
		why = admit(w->srv, addr, l->tls, rp_loop_now(loop));
		if (why != NULL) {
			refuse(fd, addr, why);
			continue;
		}
		if (adopt(w, l, fd, addr)) {
			w->accepted++;
		}
	}
}

/*
 * Once a minute, the broker's totals when a refusal or drop happened since
 * the last line: counted is not enough, an operator must see it.
 */
static void log_totals(rp_server *s, uint64_t now)
{
	rp_counters t;
	uint64_t sum;
	size_t nconns;

	if (now < s->next_stats_ms) {
		return;
	}
	s->next_stats_ms = now + STATS_PERIOD_MS;
	lock_broker(s);
	t = *rp_broker_totals(s->broker);
	unlock_broker(s);
	sum = t.connect_refused + t.acl_denied + t.protocol_errors + t.dropped_qos0 +
	      t.dropped_qos12 + t.rate_exceeded;
	if (sum == s->last_stats_sum) {
		return;
	}
	s->last_stats_sum = sum;
	nconns = rp_server_connections(s);
	rp_log(RP_LOG_INFO, "stats",
	       "connections %zu; totals: connects %llu, refused %llu, acl denied %llu, protocol "
	       "errors %llu, rate exceeded %llu, dropped qos0 %llu, refused qos1/2 %llu, msgs in "
	       "%llu, out %llu",
	       nconns, (unsigned long long)t.connects, (unsigned long long)t.connect_refused,
	       (unsigned long long)t.acl_denied, (unsigned long long)t.protocol_errors,
	       (unsigned long long)t.rate_exceeded, (unsigned long long)t.dropped_qos0,
	       (unsigned long long)t.dropped_qos12, (unsigned long long)t.msgs_in,
	       (unsigned long long)t.msgs_out);
}

/*
 * Worker 0: the broker's clock (session expiry, will delays), the
 * per-address sweep and the stats line, once a second. Every worker while
 * draining: stop when its connections are gone (worker 0: all of them) or
 * the deadline passed.
 */
static void on_tick(rp_loop *loop, void *arg)
{
	worker *w = arg;
	rp_server *s = w->srv;
	uint64_t now = rp_loop_now(loop);

	if (w->index == 0) {
		lock_broker(s);
		rp_broker_tick(s->broker, now);
		unlock_broker(s);
		pthread_mutex_lock(&s->mu);
		addr_sweep(s, now);
		pthread_mutex_unlock(&s->mu);
		log_totals(s, now);
	}
	if (w->draining) {
		size_t left = w->index == 0 ? rp_server_connections(s) : w->nconns;

		if (left == 0 || now >= w->drain_deadline) {
			rp_loop_stop(loop);
			return;
		}
	}
	(void)rp_timer_start(loop, &w->tick, w->draining ? 50u : 1000u, on_tick, w);
}

void rp_server_opts_default(rp_server_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_connections = 100000;
	o->max_connections_per_address = 1000;
	o->max_handshakes = 256;
	o->connect_rate_per_address = 20;
	o->connect_burst_per_address = 50;
	o->write_timeout_ms = 30000;
	o->handshake_timeout_ms = 10000;
	o->out_pause_bytes = RP_LIMIT_CLIENT_OUTPUT_PAUSE;
}

/* Binds one of w's listening sockets; port != 0 overrides the spec's (the
 * port loop 0 got for a spec with port 0). */
static const char *open_listener(worker *w, const rp_listen_spec *spec, uint16_t port, listener *l)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1, fd;

	if (!parse_addr(spec->addr, &ss, &sl)) {
		return "malformed listener address";
	}
	if (!spec->tls && !is_loopback(&ss)) {
		return "a plain (non-TLS) listener is allowed on a loopback address only";
	}
	if (spec->tls && w->tls == NULL) {
		return "a TLS listener needs a TLS context";
	}
	if (port != 0) {
		if (ss.ss_family == AF_INET6) {
			((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
		} else {
			((struct sockaddr_in *)&ss)->sin_port = htons(port);
		}
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return "socket() failed";
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Every loop binds the same address: the kernel spreads connections. */
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 1024) != 0) {
		close(fd);
		return "cannot bind or listen on the listener address";
	}
	sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		l->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							 : ((struct sockaddr_in *)&ss)->sin_port);
	}
	l->w = w;
	l->fd = fd;
	l->tls = spec->tls;
	if (rp_loop_watch(w->loop, fd, RP_LOOP_READ, on_accept, l) != RP_OK) {
		close(fd);
		l->fd = -1;
		return "cannot watch the listener";
	}
	return NULL;
}

static void on_drain(rp_loop *loop, void *arg);
static void on_tls(rp_loop *loop, void *arg);

rp_server *rp_server_new(rp_loop *const *loops, unsigned nloops, rp_broker *broker,
			 const rp_server_opts *o, const char **err)
{
	rp_server *s = rp_calloc(NULL, 1, sizeof(*s));
	const char *why = "out of memory";
	unsigned i, j;

	if (s == NULL) {
		goto fail;
	}
	pthread_mutex_init(&s->broker_mu, NULL);
	pthread_cond_init(&s->broker_turn, NULL);
	pthread_mutex_init(&s->mu, NULL);
	atomic_init(&s->ticket_next, 0u);
	atomic_init(&s->ticket_serving, 0u);
	atomic_init(&s->ticket_sleepers, 0u);
	atomic_init(&s->drain_ms, 0u);
	atomic_init(&s->freeing, 0);
	s->broker = broker;
	s->o = *o;
	if (nloops == 0) {
		why = "no event loop";
		goto fail;
	}
	s->per_addr = rp_map_new(NULL);
	s->workers = rp_calloc(NULL, nloops, sizeof(*s->workers));
	if (s->per_addr == NULL || s->workers == NULL) {
		goto fail;
	}
	s->nworkers = nloops;
	for (i = 0; i < nloops; i++) {
		worker *w = &s->workers[i];

		w->srv = s;
		w->index = i;
		w->loop = loops[i];
		w->tls = o->tls != NULL ? rp_tls_ctx_ref(o->tls) : NULL;
		w->tls_task.fn = on_tls;
		w->tls_task.arg = w;
		w->drain_task.fn = on_drain;
		w->drain_task.arg = w;
		atomic_init(&w->tls_task.queued, 0);
		atomic_init(&w->drain_task.queued, 0);
		for (j = 0; j < RP_SERVER_MAX_LISTENERS; j++) {
			w->listeners[j].fd = -1;
		}
	}
	for (j = 0; j < o->nlisteners && j < RP_SERVER_MAX_LISTENERS; j++) {
		for (i = 0; i < nloops; i++) {
			uint16_t port = i == 0 ? 0 : s->workers[0].listeners[j].port;

			why = open_listener(&s->workers[i], &o->listeners[j], port,
					    &s->workers[i].listeners[j]);
			if (why != NULL) {
				goto fail;
			}
		}
		s->nlisteners++;
	}
	if (rp_timer_start(loops[0], &s->workers[0].tick, 1000u, on_tick, &s->workers[0]) !=
	    RP_OK) {
		why = "out of memory";
		goto fail;
	}
	return s;
fail:
	if (err != NULL) {
		*err = why;
	}
	rp_server_free(s);
	return NULL;
}

static void *worker_main(void *arg)
{
	worker *w = arg;

	tl_worker = w;
	if (rp_loop_run(w->loop) != RP_OK) {
		rp_log(RP_LOG_ERROR, "net", "event loop %u failed: stopping", w->index);
		rp_loop_stop(w->srv->workers[0].loop);
	}
	tl_worker = NULL;
	return NULL;
}

rp_status rp_server_run(rp_server *s)
{
	rp_status st = RP_OK;
	unsigned i;

	for (i = 1; i < s->nworkers; i++) {
		worker *w = &s->workers[i];

		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			rp_log(RP_LOG_ERROR, "net", "cannot start the thread of event loop %u", i);
			st = RP_E_NOMEM;
			break;
		}
		w->thread_started = 1;
	}
	if (st == RP_OK) {
		tl_worker = &s->workers[0];
		st = rp_loop_run(s->workers[0].loop);
		tl_worker = NULL;
	}
	for (i = 1; i < s->nworkers; i++) {
		worker *w = &s->workers[i];

		if (w->thread_started) {
			rp_loop_stop(w->loop);
			pthread_join(w->thread, NULL);
			w->thread_started = 0;
		}
	}
	for (i = 0; i < s->nworkers; i++) {
		rp_log(RP_LOG_INFO, "net", "event loop %u: %llu connections accepted", i,
		       (unsigned long long)s->workers[i].accepted);
	}
	return st;
}

uint16_t rp_server_port(const rp_server *s, unsigned listener_index)
{
	return listener_index < s->nlisteners ? s->workers[0].listeners[listener_index].port : 0;
}

unsigned rp_server_loops(const rp_server *s)
{
	return s->nworkers;
}

size_t rp_server_connections(rp_server *s)
{
	size_t n;

	pthread_mutex_lock(&s->mu);
	n = s->nconns;
	pthread_mutex_unlock(&s->mu);
	return n;
}

void rp_server_free(rp_server *s)
{
	unsigned i, j;

	if (s == NULL) {
		return;
	}
	/* The loops are stopped: run everything on this thread. Clients that
	 * end now (wills) must not wake connections that are going too. */
	atomic_store(&s->freeing, 1);
	for (i = 0; s->workers != NULL && i < s->nworkers; i++) {
		worker *w = &s->workers[i];

		tl_worker = w;
		while (w->conns != NULL) {
			finish(w->conns);
		}
		/* Wake tasks queued before the stop hold the last references. */
		rp_loop_run_pending(w->loop);
		for (j = 0; j < RP_SERVER_MAX_LISTENERS; j++) {
			if (w->listeners[j].fd >= 0) {
				rp_loop_unwatch(w->loop, w->listeners[j].fd);
				close(w->listeners[j].fd);
			}
		}
		rp_timer_stop(w->loop, &w->tick);
		rp_tls_ctx_unref(w->tls);
		rp_tls_ctx_unref(w->next_tls);
		tl_worker = NULL;
	}
	if (s->per_addr != NULL) {
		size_t cur = 0, len;
		const void *key;
		void *v;

		while (rp_map_next(s->per_addr, &cur, &key, &len, &v)) {
			rp_free(NULL, v);
		}
	}
	rp_map_free(s->per_addr);
	rp_free(NULL, s->workers);
	pthread_mutex_destroy(&s->broker_mu);
	pthread_cond_destroy(&s->broker_turn);
	pthread_mutex_destroy(&s->mu);
	rp_free(NULL, s);
}

/* On each loop: stop accepting, say goodbye to every client. */
static void on_drain(rp_loop *loop, void *arg)
{
	worker *w = arg;
	rp_server *s = w->srv;
	netconn *c, *next;
	unsigned i;

	if (w->draining) {
		return;
	}
	w->draining = 1;
	w->drain_deadline = rp_loop_now(loop) + atomic_load(&s->drain_ms);
	for (i = 0; i < s->nlisteners; i++) {
		rp_loop_unwatch(loop, w->listeners[i].fd);
	}
	for (c = w->conns; c != NULL; c = next) {
		next = c->next;
		if (c->client != NULL) {
			lock_broker(s);
			rp_client_kick(c->client, RP_MQTT_RC_SERVER_SHUTTING_DOWN);
			unlock_broker(s);
			close_local(c);
		} else {
			finish(c);
		}
	}
	(void)rp_timer_start(loop, &w->tick, 0, on_tick, w);
}

void rp_server_drain(rp_server *s, uint32_t deadline_ms)
{
	atomic_store(&s->drain_ms, deadline_ms);
	for (unsigned i = 0; i < s->nworkers; i++) {
		(void)rp_loop_post_task(s->workers[i].loop, &s->workers[i].drain_task);
	}
}

/* On each loop: take the reloaded context, close what no longer verifies. */
static void on_tls(rp_loop *loop, void *arg)
{
	worker *w = arg;
	rp_server *s = w->srv;
	rp_tls_ctx *fresh;
	netconn *c, *next;

	(void)loop;
	pthread_mutex_lock(&s->mu);
	fresh = w->next_tls;
	w->next_tls = NULL;
	pthread_mutex_unlock(&s->mu);
	if (fresh == NULL) {
		return;
	}
	rp_tls_ctx_unref(w->tls);
	w->tls = fresh;
	for (c = w->conns; c != NULL; c = next) {
		rp_tls_conn *tc = rp_conn_tls(c->t);

		next = c->next;
		if (tc != NULL && c->phase == PH_MQTT && !rp_tls_conn_still_valid(tc, w->tls)) {
			rp_log(RP_LOG_INFO, "tls",
			       "closing connection from %s: its certificate no longer verifies",
			       c->addr);
			lock_broker(s);
			rp_client_kick(c->client, RP_MQTT_RC_ADMINISTRATIVE_ACTION);
			unlock_broker(s);
			close_local(c);
		}
	}
}

void rp_server_set_tls(rp_server *s, rp_tls_ctx *tls)
{
	for (unsigned i = 0; i < s->nworkers; i++) {
		worker *w = &s->workers[i];
		rp_tls_ctx *old;

		pthread_mutex_lock(&s->mu);
		old = w->next_tls;
		w->next_tls = rp_tls_ctx_ref(tls);
		pthread_mutex_unlock(&s->mu);
		rp_tls_ctx_unref(old);
		(void)rp_loop_post_task(w->loop, &w->tls_task);
	}
}

void rp_server_set_policy(rp_server *s, const struct rp_policy *policy)
{
	lock_broker(s);
	rp_broker_set_policy(s->broker, policy);
	unlock_broker(s);
}

void rp_server_broker_lock(rp_server *s)
{
	lock_broker(s);
}

void rp_server_broker_unlock(rp_server *s)
{
	unlock_broker(s);
}
