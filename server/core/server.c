/*
 * server.c - listeners and connections: the I/O half of the broker.
 *
 * A connection (netconn) owns its socket, its transport (rp_conn), its
 * receive buffer and, once the handshake is done, its broker client. One
 * timer per connection serves the handshake deadline, then the client's
 * deadlines (CONNECT, keep alive), then a deferred close.
 *
 * Lifetime: a connection is freed only from its own event callbacks or
 * timer (finish()), never from inside the broker core; the core asks for a
 * close through io.close, which sets `closing` and arms the timer at 0 ms.
 *
 * Attacker: anyone who can reach the port. Before the TLS handshake
 * completes a connection costs a socket, an SSL object and a slot among
 * max_handshakes; it has handshake_timeout_ms to finish. Per-address and
 * total connection caps are checked at accept, before any TLS work.
 */
#define _DEFAULT_SOURCE /* SO_REUSEPORT */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/server.h"
#include "net/tls.h"
#include "net/transport.h"
#include "util/alloc.h"
#include "util/bucket.h"
#include "util/log.h"
#include "util/map.h"

enum { PH_HANDSHAKE, PH_MQTT, PH_CLOSING };

/* How often the broker's totals are logged (when they changed). */
#define STATS_PERIOD_MS 60000u

/* Bytes read from one connection per loop pass (limits.h). */
#define READ_BUDGET RP_LIMIT_READ_BUDGET

typedef struct netconn netconn;

typedef struct listener {
	rp_server *srv;
	int fd;
	int tls;
	uint16_t port;
} listener;

struct rp_server {
	rp_loop *loop;
	rp_broker *broker;
	rp_server_opts o;
	rp_tls_ctx *tls;
	listener listeners[RP_SERVER_MAX_LISTENERS];
	unsigned nlisteners;
	netconn *conns; /* doubly linked list of live connections */
	size_t nconns;
	uint32_t handshakes;
	rp_map *per_addr;             /* address -> addr_state */
	uint8_t scratch[READ_BUDGET]; /* every read lands here first */
	rp_timer tick;
	uint64_t next_stats_ms, last_stats_sum;
	int draining;
	uint64_t drain_deadline;
};

struct netconn {
	netconn *prev, *next;
	rp_server *srv;
	int fd;
	uint8_t phase;
	uint8_t closing;   /* the core asked to close: flush, then finish */
	uint8_t paused;    /* not reading: output above out_pause_bytes */
	uint8_t throttled; /* not reading: the device is over its rate */
	uint8_t more;      /* the read budget ran out: continue on the next pass */
	unsigned watching;
	uint64_t write_stall_since; /* output pending and not moving since; 0: moving */
	rp_conn *t;
	rp_client *client;
	rp_timer timer;
	uint64_t handshake_deadline;
	uint8_t *rbuf; /* a partial (or throttled) packet only; NULL when none */
	size_t rlen, rcap;
	char addr[64];
};

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
 */
#define MAX_ADDRS RP_LIMIT_TRACKED_ADDRESSES

typedef struct addr_state {
	uint32_t live;
	rp_bucket connects;
} addr_state;

static addr_state *addr_get(rp_server *s, const char *addr, int create)
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
		       rp_loop_now(s->loop));
	if (rp_map_put(s->per_addr, addr, strlen(addr), a, NULL) != RP_OK) {
		rp_free(NULL, a);
		return NULL;
	}
	return a;
}

/* Drops entries without connections whose bucket is full again. */
static void addr_sweep(rp_server *s)
{
	char *gone[64];
	size_t cur = 0, len, n = 0, i;
	const void *key;
	void *v;

	while (n < 64 && rp_map_next(s->per_addr, &cur, &key, &len, &v)) {
		addr_state *a = v;

		if (a->live == 0 &&
		    rp_bucket_wait_ms(&a->connects, a->connects.burst, rp_loop_now(s->loop)) == 0) {
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

/* ---- connections ------------------------------------------------------- */

static void on_conn_io(rp_loop *loop, int fd, unsigned events, void *arg);
static void on_conn_timer(rp_loop *loop, void *arg);

static void watch(netconn *c, unsigned events)
{
	if (c->watching != events && rp_loop_modify(c->srv->loop, c->fd, events) == RP_OK) {
		c->watching = events;
	}
}

/* Frees everything of c. The only place a connection ends. */
static void finish(netconn *c)
{
	rp_server *s = c->srv;
	uint64_t now = rp_loop_now(s->loop);
	addr_state *astate;

	if (c->phase == PH_HANDSHAKE && s->handshakes > 0) {
		s->handshakes--;
	}
	if (c->client != NULL) {
		rp_client_closed(c->client, now);
		rp_client_free(c->client);
	}
	rp_timer_stop(s->loop, &c->timer);
	rp_loop_unwatch(s->loop, c->fd);
	rp_conn_free(c->t);
	close(c->fd);
	astate = addr_get(s, c->addr, 0);
	if (astate != NULL && astate->live > 0) {
		astate->live--;
	}
	if (c->prev != NULL) {
		c->prev->next = c->next;
	} else {
		s->conns = c->next;
	}
	if (c->next != NULL) {
		c->next->prev = c->prev;
	}
	s->nconns--;
	rp_free(NULL, c->rbuf);
	rp_free(NULL, c);
}

static void arm_client_timer(netconn *c);

static int reading(const netconn *c)
{
	return !c->paused && !c->throttled && !c->closing;
}

/* Writes pending output. Returns 0 if the connection died. */
static int flush(netconn *c)
{
	const uint8_t *buf;
	size_t len, n;
	rp_status st;

	for (;;) {
		rp_client_output(c->client, &buf, &len);
		if (len == 0) {
			break;
		}
		st = rp_conn_write(c->t, buf, len, &n);
		if (st == RP_NEED_MORE) {
			if (c->write_stall_since == 0) {
				/* The slow-reader deadline starts now: arm the timer for it. */
				c->write_stall_since = rp_loop_now(c->srv->loop);
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
		rp_client_consumed(c->client, n);
	}
	c->write_stall_since = 0;
	if (c->paused && rp_client_pending(c->client) < c->srv->o.out_pause_bytes / 2u) {
		/* Resume from the timer: buffered input (ours, or inside TLS) does not
		 * wake the fd, so it must be fed without waiting for one. */
		c->paused = 0;
		(void)rp_timer_start(c->srv->loop, &c->timer, 0, on_conn_timer, c);
	}
	if (c->closing) {
		(void)rp_conn_shutdown(c->t);
		return 0;
	}
	watch(c, reading(c) ? RP_LOOP_READ : 0u);
	return 1;
}

static void client_want_write(void *ctx)
{
	netconn *c = ctx;

	watch(c, c->watching | RP_LOOP_WRITE);
}

static void client_close(void *ctx)
{
	netconn *c = ctx;

	c->closing = 1;
	(void)rp_timer_start(c->srv->loop, &c->timer, 0, on_conn_timer, c);
}

static void arm_client_timer(netconn *c)
{
	rp_server *s = c->srv;
	uint64_t next = 0, now = rp_loop_now(s->loop);

	if (rp_client_tick(c->client, now, &next) != RP_OK) {
		c->closing = 1;
		next = now;
	}
	if (c->more) {
		next = now; /* input left inside TLS that no fd event will announce */
	}
	if (c->throttled && rp_client_throttled_until(c->client) < next) {
		next = rp_client_throttled_until(c->client);
	}
	if (c->write_stall_since != 0 && c->write_stall_since + s->o.write_timeout_ms < next) {
		next = c->write_stall_since + s->o.write_timeout_ms;
	}
	if (rp_timer_start(s->loop, &c->timer, next > now ? next - now : 0, on_conn_timer, c) !=
	    RP_OK) {
		c->closing = 1; /* no deadline can be kept: do not keep the connection */
	}
}

static int start_mqtt(netconn *c)
{
	rp_server *s = c->srv;
	rp_peer_identity pid;
	rp_identity who;
	rp_client_io io = {c, client_want_write, client_close};
	rp_status st;

	memset(&who, 0, sizeof(who));
	st = rp_conn_peer_identity(c->t, &pid);
	if (st == RP_OK) {
		snprintf(who.id, sizeof(who.id), "%s", pid.device_id);
		snprintf(who.role, sizeof(who.role), "%s", pid.role);
	} else if (st == RP_E_NOT_FOUND) {
		/* Plain loopback listener: the identity is the CONNECT's client id. */
		snprintf(who.role, sizeof(who.role), "device");
	} else {
		return 0;
	}
	snprintf(who.addr, sizeof(who.addr), "%s", c->addr);
	c->client = rp_client_new(s->broker, &who, &io, rp_loop_now(s->loop));
	if (c->client == NULL) {
		return 0;
	}
	c->phase = PH_MQTT;
	s->handshakes--;
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
 * all and a large packet is assembled with one allocation.
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
	rp_server *s = c->srv;
	uint64_t now = rp_loop_now(s->loop);
	size_t used = 0;
	rp_status st = rp_client_input(c->client, data, len, &used, now);

	if (st != RP_OK) {
		c->closing = 1;
		c->rlen = 0;
	} else if (used < len) {
		if (!keep_tail(c, data + used, len - used)) {
			return 0;
		}
	} else {
		c->rlen = 0;
	}
	if (c->rlen == 0 && c->rbuf != NULL) {
		/* Released while idle: most connections hold no receive buffer. */
		rp_free(NULL, c->rbuf);
		c->rbuf = NULL;
		c->rcap = 0;
	}
	if (st == RP_OK) {
		c->throttled = rp_client_throttled_until(c->client) > now;
		if (rp_client_pending(c->client) >= s->o.out_pause_bytes) {
			c->paused = 1; /* back pressure: stop reading this client */
		}
		arm_client_timer(c);
	}
	return 1;
}

/*
 * Feeds the core what is buffered (a throttled packet waits in rbuf), then
 * reads more into the server's scratch buffer, until the transport has
 * nothing, reading stops (output back pressure, device over its rate) or
 * this pass's budget is spent. Returns 0 if the connection died.
 */
static int do_read(netconn *c)
{
	rp_server *s = c->srv;
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
		st = rp_conn_read(c->t, s->scratch, sizeof(s->scratch), &n);
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
			memcpy(c->rbuf + c->rlen, s->scratch, n);
			c->rlen += n;
			if (!feed(c, c->rbuf, c->rlen)) {
				return 0;
			}
		} else if (!feed(c, s->scratch, n)) {
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
	uint64_t now = rp_loop_now(loop);

	if (c->phase == PH_HANDSHAKE) {
		rp_log(RP_LOG_INFO, "tls", "handshake with %s timed out", c->addr);
		finish(c);
		return;
	}
	if (c->write_stall_since != 0 && now - c->write_stall_since >= c->srv->o.write_timeout_ms) {
		/* A slow reader: its output has not moved for write_timeout. */
		struct linger abort_close = {1, 0};

		rp_log(RP_LOG_INFO, "net", "closing %s: output stalled for %u ms", c->addr,
		       c->srv->o.write_timeout_ms);
		/*
		 * Reset rather than close: the kernel would otherwise keep feeding
		 * this reader its queued output after we gave up on it. QoS 1/2
		 * deliveries stay in the session and are resent on reconnect.
		 */
		(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &abort_close, sizeof(abort_close));
		finish(c);
		return;
	}
	if (c->throttled && now >= rp_client_throttled_until(c->client)) {
		c->throttled = 0;
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

static void on_accept(rp_loop *loop, int lfd, unsigned events, void *arg)
{
	listener *l = arg;
	rp_server *s = l->srv;

	(void)events;
	/* Accept a bounded batch per pass, so one listener cannot starve the loop. */
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char addr[64];
		addr_state *astate;
		netconn *c;
		int one = 1, sndbuf = (int)RP_LIMIT_SOCKET_SNDBUF;
		int fd = accept(lfd, (struct sockaddr *)&ss, &sl);

		if (fd < 0) {
			return; /* EAGAIN, or a transient error: try on the next event */
		}
		addr_str(&ss, addr, sizeof(addr));
		if (s->draining) {
			refuse(fd, addr, "shutting down");
			continue;
		}
		if (s->nconns >= s->o.max_connections) {
			refuse(fd, addr, "connection limit");
			continue;
		}
		astate = addr_get(s, addr, 1);
		if (astate == NULL) {
			refuse(fd, addr, "too many source addresses tracked");
			continue;
		}
		if (astate->live >= s->o.max_connections_per_address) {
			refuse(fd, addr, "per-address connection limit");
			continue;
		}
		if (!rp_bucket_take(&astate->connects, 1, rp_loop_now(loop))) {
			refuse(fd, addr, "per-address connect rate");
			continue;
		}
		if (l->tls && s->handshakes >= s->o.max_handshakes) {
			refuse(fd, addr, "too many handshakes in flight");
			continue;
		}
		if (!set_nonblock(fd)) {
			refuse(fd, addr, "fcntl failed");
			continue;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		/*
		 * A fixed send buffer: the kernel's auto-tuning would let one slow
		 * reader pin megabytes of kernel memory and would hide the stall
		 * that the slow-reader deadline (write_timeout) looks for.
		 */
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
		c = rp_calloc(NULL, 1, sizeof(*c));
		if (c == NULL) {
			refuse(fd, addr, "out of memory");
			continue;
		}
		astate->live++;
		c->srv = s;
		c->fd = fd;
		memcpy(c->addr, addr, sizeof(c->addr));
		if (l->tls) {
			rp_tls_conn *tc = rp_tls_conn_new(s->tls, fd);

			c->t = tc != NULL ? rp_tls_conn_base(tc) : NULL;
		} else {
			c->t = rp_conn_new_plain(fd);
		}
		if (c->t == NULL || rp_loop_watch(loop, fd, RP_LOOP_READ, on_conn_io, c) != RP_OK) {
			rp_conn_free(c->t);
			astate->live--;
			rp_free(NULL, c);
			refuse(fd, addr, "out of memory");
			continue;
		}
		c->watching = RP_LOOP_READ;
		c->next = s->conns;
		if (s->conns != NULL) {
			s->conns->prev = c;
		}
		s->conns = c;
		s->nconns++;
		s->handshakes++;
		c->phase = PH_HANDSHAKE;
		if (rp_timer_start(loop, &c->timer, s->o.handshake_timeout_ms, on_conn_timer, c) !=
		    RP_OK) {
			finish(c);
			continue;
		}
		do_handshake(c);
	}
}

/*
 * Once a minute, the broker's totals when a refusal or drop happened since
 * the last line: counted is not enough, an operator must see it.
 */
static void log_totals(rp_server *s, uint64_t now)
{
	const rp_counters *t = rp_broker_totals(s->broker);
	uint64_t sum = t->connect_refused + t->acl_denied + t->protocol_errors + t->dropped_qos0 +
		       t->dropped_qos12 + t->rate_exceeded;

	if (now < s->next_stats_ms) {
		return;
	}
	s->next_stats_ms = now + STATS_PERIOD_MS;
	if (sum == s->last_stats_sum) {
		return;
	}
	s->last_stats_sum = sum;
	rp_log(RP_LOG_INFO, "stats",
	       "connections %zu; totals: connects %llu, refused %llu, acl denied %llu, protocol "
	       "errors %llu, rate exceeded %llu, dropped qos0 %llu, refused qos1/2 %llu, msgs in "
	       "%llu, out %llu",
	       s->nconns, (unsigned long long)t->connects, (unsigned long long)t->connect_refused,
	       (unsigned long long)t->acl_denied, (unsigned long long)t->protocol_errors,
	       (unsigned long long)t->rate_exceeded, (unsigned long long)t->dropped_qos0,
	       (unsigned long long)t->dropped_qos12, (unsigned long long)t->msgs_in,
	       (unsigned long long)t->msgs_out);
}

static void on_tick(rp_loop *loop, void *arg)
{
	rp_server *s = arg;

	rp_broker_tick(s->broker, rp_loop_now(loop));
	addr_sweep(s);
	log_totals(s, rp_loop_now(loop));
	if (s->draining && (s->nconns == 0 || rp_loop_now(loop) >= s->drain_deadline)) {
		rp_loop_stop(loop);
		return;
	}
	(void)rp_timer_start(loop, &s->tick, s->draining ? 50u : 1000u, on_tick, s);
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

static const char *open_listener(rp_server *s, const rp_listen_spec *spec, listener *l)
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
	if (spec->tls && s->tls == NULL) {
		return "a TLS listener needs a TLS context";
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return "socket() failed";
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
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
	l->srv = s;
	l->fd = fd;
	l->tls = spec->tls;
	if (rp_loop_watch(s->loop, fd, RP_LOOP_READ, on_accept, l) != RP_OK) {
		close(fd);
		return "cannot watch the listener";
	}
	return NULL;
}

rp_server *rp_server_new(rp_loop *loop, rp_broker *broker, const rp_server_opts *o,
			 const char **err)
{
	rp_server *s = rp_calloc(NULL, 1, sizeof(*s));
	const char *why = "out of memory";
	unsigned i;

	if (s == NULL) {
		goto fail;
	}
	s->loop = loop;
	s->broker = broker;
	s->o = *o;
	s->tls = o->tls;
	s->per_addr = rp_map_new(NULL);
	if (s->per_addr == NULL) {
		goto fail;
	}
	for (i = 0; i < o->nlisteners && i < RP_SERVER_MAX_LISTENERS; i++) {
		why = open_listener(s, &o->listeners[i], &s->listeners[i]);
		if (why != NULL) {
			goto fail;
		}
		s->nlisteners++;
	}
	if (rp_timer_start(loop, &s->tick, 1000u, on_tick, s) != RP_OK) {
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

uint16_t rp_server_port(const rp_server *s, unsigned listener_index)
{
	return listener_index < s->nlisteners ? s->listeners[listener_index].port : 0;
}

size_t rp_server_connections(const rp_server *s)
{
	return s->nconns;
}

void rp_server_free(rp_server *s)
{
	unsigned i;

	if (s == NULL) {
		return;
	}
	while (s->conns != NULL) {
		finish(s->conns);
	}
	for (i = 0; i < s->nlisteners; i++) {
		rp_loop_unwatch(s->loop, s->listeners[i].fd);
		close(s->listeners[i].fd);
	}
	rp_timer_stop(s->loop, &s->tick);
	if (s->per_addr != NULL) {
		size_t cur = 0, len;
		const void *key;
		void *v;

		while (rp_map_next(s->per_addr, &cur, &key, &len, &v)) {
			rp_free(NULL, v);
		}
	}
	rp_map_free(s->per_addr);
	rp_free(NULL, s);
}

void rp_server_drain(rp_server *s, uint32_t deadline_ms)
{
	netconn *c, *next;
	unsigned i;

	s->draining = 1;
	s->drain_deadline = rp_loop_now(s->loop) + deadline_ms;
	for (i = 0; i < s->nlisteners; i++) {
		rp_loop_unwatch(s->loop, s->listeners[i].fd);
	}
	for (c = s->conns; c != NULL; c = next) {
		next = c->next;
		if (c->client != NULL) {
			rp_client_kick(c->client, RP_MQTT_RC_SERVER_SHUTTING_DOWN);
			client_close(c);
		} else {
			finish(c);
		}
	}
	(void)rp_timer_start(s->loop, &s->tick, 0, on_tick, s);
}

void rp_server_set_tls(rp_server *s, rp_tls_ctx *tls)
{
	netconn *c, *next;

	s->tls = tls;
	for (c = s->conns; c != NULL; c = next) {
		rp_tls_conn *tc = rp_conn_tls(c->t);

		next = c->next;
		if (tc != NULL && c->phase == PH_MQTT && !rp_tls_conn_still_valid(tc, tls)) {
			rp_log(RP_LOG_INFO, "tls",
			       "closing connection from %s: its certificate no longer verifies",
			       c->addr);
			rp_client_kick(c->client, RP_MQTT_RC_ADMINISTRATIVE_ACTION);
			client_close(c);
		}
	}
}
