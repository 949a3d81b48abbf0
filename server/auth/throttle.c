/*
 * throttle.c - login throttling: two bounded tables of failure counters
 * behind one mutex.
 *
 * Implementation notes
 * - State per table: an rp_map from key to entry (SipHash under a random
 *   key: an attacker cannot pick names that collide) and a doubly linked
 *   activity list, least recently active first. Every touch moves an
 *   entry to the tail, so the list is in activity order and eviction
 *   reads it from the head.
 * - Entry: consecutive failures, attempts in flight, time of the last
 *   failure, end of the current lock, and whether this period's first lock
 *   happened. Invariant: an entry with no failures and nothing in flight
 *   is removed at once (drop_if_idle), so the tables hold only keys with
 *   something to remember, and a success costs no memory.
 * - "Forget": an entry whose last failure is quiet_s old, with no lock
 *   running and nothing in flight, starts a new period (failures 0). This
 *   happens lazily, when the entry is touched or considered for eviction.
 * - Locks: failure number f >= N locks for lock_s * 2^(f - N), capped at
 *   lock_max_s; the shift is bounded before it is done.
 * - Logging and the lock callback happen after the mutex is released: the
 *   events are copied out under the lock (their strings are the caller's
 *   arguments, alive until we return).
 * - Attacker: account names and addresses are chosen by unauthenticated
 *   clients. Their lengths are capped, they are only ever hashed, compared
 *   and escaped for the log, and the tables are bounded.
 */
#include "auth/throttle.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/log.h"
#include "util/map.h"

/* Entries looked at from the oldest when choosing one to evict. */
#define EVICT_SCAN 32u
/* Retry hint when refused only because other attempts are in flight. */
#define INFLIGHT_RETRY_MS 1000u

struct link {
	struct link *prev, *next;
};

typedef struct entry {
	struct link lru; /* first member: a struct link * is an entry * */
	uint64_t fail_ms;
	uint64_t until_ms;
	uint32_t fails;
	uint32_t inflight;
	uint8_t logged;
	size_t len;
	uint8_t key[];
} entry;

typedef struct table {
	rp_map *map;
	struct link head; /* circular; head.next is the oldest */
	size_t count;
	size_t max_len; /* longest key */
	const rp_throttle_policy *pol;
	int address; /* 1: the address table */
} table;

struct rp_throttle {
	pthread_mutex_t mu;
	rp_throttle_config cfg;
	table acc, adr;
	uint64_t locks, evictions, evicted_locked;
};

/* ------------------------------------------------------------------------
 * Configuration
 * ------------------------------------------------------------------------ */

void rp_throttle_config_default(rp_throttle_config *c)
{
	memset(c, 0, sizeof(*c));
	c->account.failures = RP_DEFAULT_THROTTLE_ACCOUNT_FAILURES;
	c->account.lock_s = RP_DEFAULT_THROTTLE_LOCK_S;
	c->account.lock_max_s = RP_DEFAULT_THROTTLE_LOCK_MAX_S;
	c->account.quiet_s = RP_DEFAULT_THROTTLE_QUIET_S;
	c->address = c->account;
	c->address.failures = RP_DEFAULT_THROTTLE_ADDRESS_FAILURES;
	c->max_entries = RP_DEFAULT_THROTTLE_ENTRIES;
}

static int policy_ok(const rp_throttle_policy *p, uint32_t max_failures)
{
	return p->failures >= 1u && p->failures <= max_failures && p->lock_s >= 1u &&
	       p->lock_s <= p->lock_max_s && p->lock_max_s <= RP_LIMIT_THROTTLE_LOCK_MAX_S &&
	       p->quiet_s >= p->lock_max_s && p->quiet_s <= RP_LIMIT_THROTTLE_QUIET_S;
}

rp_status rp_throttle_config_check(const rp_throttle_config *c)
{
	if (c == NULL || !policy_ok(&c->account, RP_LIMIT_THROTTLE_ACCOUNT_FAILURES) ||
	    !policy_ok(&c->address, RP_LIMIT_THROTTLE_ADDRESS_FAILURES) || c->max_entries < 1u ||
	    c->max_entries > RP_LIMIT_THROTTLE_ENTRIES) {
		return RP_E_CONFIG;
	}
	return RP_OK;
}

static rp_status table_init(table *tb, const rp_throttle_policy *pol, size_t max_len, int address)
{
	tb->map = rp_map_new(NULL);
	if (tb->map == NULL) {
		return RP_E_NOMEM;
	}
	tb->head.prev = tb->head.next = &tb->head;
	tb->count = 0;
	tb->max_len = max_len;
	tb->pol = pol;
	tb->address = address;
	return RP_OK;
}

static void table_fini(table *tb)
{
	struct link *l, *next;

	if (tb->map == NULL) {
		return;
	}
	for (l = tb->head.next; l != &tb->head; l = next) {
		next = l->next;
		rp_free(NULL, l);
	}
	rp_map_free(tb->map);
	tb->map = NULL;
}

rp_status rp_throttle_new(const rp_throttle_config *config, rp_throttle **out)
{
	rp_throttle_config def;
	rp_throttle *t = NULL;
	rp_status st;

	if (out == NULL) {
		return RP_E_INVALID_ARG;
	}
	*out = NULL;
	if (config == NULL) {
		rp_throttle_config_default(&def);
		config = &def;
	}
	if (rp_throttle_config_check(config) != RP_OK) {
		return RP_E_CONFIG;
	}
	t = rp_calloc(NULL, 1, sizeof(*t));
	if (t == NULL) {
		return RP_E_NOMEM;
	}
	t->cfg = *config;
	if (pthread_mutex_init(&t->mu, NULL) != 0) {
		rp_free(NULL, t);
		return RP_E_NOMEM;
	}
	st = table_init(&t->acc, &t->cfg.account, RP_LIMIT_OPERATOR_NAME_LEN, 0);
	if (st == RP_OK) {
		st = table_init(&t->adr, &t->cfg.address, RP_LIMIT_THROTTLE_ADDRESS_LEN, 1);
	}
	if (st != RP_OK) {
		rp_throttle_free(t);
		return st;
	}
	*out = t;
	return RP_OK;
}

void rp_throttle_free(rp_throttle *t)
{
	if (t == NULL) {
		return;
	}
	table_fini(&t->acc);
	table_fini(&t->adr);
	pthread_mutex_destroy(&t->mu);
	rp_free(NULL, t);
}

/* ------------------------------------------------------------------------
 * Entries (all under the mutex)
 * ------------------------------------------------------------------------ */

static void unlink_entry(entry *e)
{
	e->lru.prev->next = e->lru.next;
	e->lru.next->prev = e->lru.prev;
}

static void link_tail(table *tb, entry *e)
{
	e->lru.prev = tb->head.prev;
	e->lru.next = &tb->head;
	tb->head.prev->next = &e->lru;
	tb->head.prev = &e->lru;
}

static void drop(table *tb, entry *e)
{
	rp_map_del(tb->map, e->key, e->len);
	unlink_entry(e);
	tb->count--;
	rp_free(NULL, e);
}

/* Starts a new period if the failures are old enough to forget. */
static void forget_if_quiet(const table *tb, entry *e, uint64_t now)
{
	uint64_t quiet = (uint64_t)tb->pol->quiet_s * 1000u;

	if (e->fails > 0 && e->inflight == 0 && now >= e->until_ms && now >= e->fail_ms &&
	    now - e->fail_ms >= quiet) {
		e->fails = 0;
		e->until_ms = 0;
		e->logged = 0;
	}
}

static void drop_if_idle(table *tb, entry *e)
{
	if (e != NULL && e->fails == 0 && e->inflight == 0) {
		drop(tb, e);
	}
}

/* Evicts entries until the table has room for one more. */
static void make_room(rp_throttle *t, table *tb, uint64_t now)
{
	while (tb->count >= t->cfg.max_entries) {
		entry *victim = NULL, *unlocked = NULL;
		struct link *l = tb->head.next;
		unsigned n;

		for (n = 0; n < EVICT_SCAN && l != &tb->head; n++, l = l->next) {
			entry *e = (entry *)l;

			forget_if_quiet(tb, e, now);
			if (e->inflight == 0 && e->fails == 0) {
				victim = e;
				break;
			}
			if (unlocked == NULL && e->inflight == 0 && now >= e->until_ms) {
				unlocked = e;
			}
		}
		if (victim == NULL) {
			victim = unlocked != NULL ? unlocked : (entry *)tb->head.next;
		}
		t->evictions++;
		if (now < victim->until_ms) {
			t->evicted_locked++;
		}
		drop(tb, victim);
	}
}

/* The entry of key, made if absent; moved to the tail. NULL: no memory. */
static entry *get(rp_throttle *t, table *tb, const uint8_t *key, size_t len, uint64_t now)
{
	entry *e = rp_map_get(tb->map, key, len);

	if (e != NULL) {
		forget_if_quiet(tb, e, now);
		unlink_entry(e);
		link_tail(tb, e);
		return e;
	}
	make_room(t, tb, now);
	e = rp_calloc(NULL, 1, sizeof(*e) + len);
	if (e == NULL) {
		return NULL;
	}
	memcpy(e->key, key, len);
	e->len = len;
	if (rp_map_put(tb->map, e->key, len, e, NULL) != RP_OK) {
		rp_free(NULL, e);
		return NULL;
	}
	link_tail(tb, e);
	tb->count++;
	return e;
}

static entry *find(table *tb, const uint8_t *key, size_t len)
{
	return key != NULL && len > 0 && len <= tb->max_len ? rp_map_get(tb->map, key, len) : NULL;
}

/* Whether an attempt on e may start; if not, *until the time to retry. */
static int may_start(const table *tb, const entry *e, uint64_t now, uint64_t *until)
{
	if (now < e->until_ms) {
		*until = e->until_ms;
		return 0;
	}
	if (e->inflight > 0 && (uint64_t)e->fails + e->inflight >= tb->pol->failures) {
		*until = now + INFLIGHT_RETRY_MS;
		return 0;
	}
	return 1;
}

/* Length in seconds of the lock set by failure number f (f >= failures). */
static uint32_t lock_len_s(const rp_throttle_policy *pol, uint32_t f)
{
	uint32_t shift = f - pol->failures;
	uint64_t len;

	if (shift >= 32u) {
		return pol->lock_max_s;
	}
	len = (uint64_t)pol->lock_s << shift;
	return len > pol->lock_max_s ? pol->lock_max_s : (uint32_t)len;
}

static void release(entry *e)
{
	if (e != NULL && e->inflight > 0) {
		e->inflight--;
	}
}

/* A key is usable if present and within its table's cap. */
static int key_ok(const table *tb, const uint8_t *key, size_t len)
{
	return key != NULL && len > 0 && len <= tb->max_len;
}

/* ------------------------------------------------------------------------
 * Attempts
 * ------------------------------------------------------------------------ */

rp_status rp_throttle_check(rp_throttle *t, const uint8_t *account, size_t account_len,
			    const uint8_t *addr, size_t addr_len, uint64_t now_ms,
			    uint64_t *until_ms)
{
	entry *ea = NULL, *eb = NULL;
	uint64_t until = 0, u;
	rp_status st = RP_OK;
	int has_acc = account != NULL && account_len > 0;
	int has_adr = addr != NULL && addr_len > 0;

	if (until_ms != NULL) {
		*until_ms = 0;
	}
	if (t == NULL || (!has_acc && !has_adr)) {
		return RP_E_INVALID_ARG;
	}
	if ((has_acc && account_len > t->acc.max_len) || (has_adr && addr_len > t->adr.max_len)) {
		return RP_E_LIMIT;
	}
	pthread_mutex_lock(&t->mu);
	if (has_acc) {
		ea = get(t, &t->acc, account, account_len, now_ms);
		if (ea == NULL) {
			st = RP_E_NOMEM;
			goto out;
		}
	}
	if (has_adr) {
		eb = get(t, &t->adr, addr, addr_len, now_ms);
		if (eb == NULL) {
			st = RP_E_NOMEM;
			goto out;
		}
	}
	if (ea != NULL && !may_start(&t->acc, ea, now_ms, &u)) {
		st = RP_E_DENIED;
		until = u;
	}
	if (eb != NULL && !may_start(&t->adr, eb, now_ms, &u)) {
		st = RP_E_DENIED;
		until = u > until ? u : until;
	}
	if (st == RP_OK) {
		if (ea != NULL) {
			ea->inflight++;
		}
		if (eb != NULL) {
			eb->inflight++;
		}
	}
out:
	if (st != RP_OK) {
		drop_if_idle(&t->acc, ea);
		drop_if_idle(&t->adr, eb);
	}
	pthread_mutex_unlock(&t->mu);
	if (st == RP_E_DENIED && until_ms != NULL) {
		*until_ms = until;
	}
	return st;
}

/* Counts one failure on e; fills *ev and returns 1 if it set a lock. */
static int fail_one(rp_throttle *t, table *tb, entry *e, uint64_t now, rp_throttle_event *ev)
{
	uint32_t len;

	release(e);
	if (e->fails < UINT32_MAX) {
		e->fails++;
	}
	e->fail_ms = now;
	if (e->fails < tb->pol->failures) {
		return 0;
	}
	len = lock_len_s(tb->pol, e->fails);
	e->until_ms = now + (uint64_t)len * 1000u;
	t->locks++;
	ev->address = tb->address;
	ev->failures = e->fails;
	ev->lock_s = len;
	ev->until_ms = e->until_ms;
	ev->first = !e->logged;
	e->logged = 1;
	return 1;
}

static void report(const rp_throttle *t, const rp_throttle_event *ev)
{
	char acc[RP_LIMIT_OPERATOR_NAME_LEN * 4u + 4u];
	char adr[RP_LIMIT_THROTTLE_ADDRESS_LEN * 4u + 4u];

	if (ev->first) {
		rp_log_escape(acc, sizeof(acc), ev->account,
			      ev->account != NULL ? ev->account_len : 0);
		rp_log_escape(adr, sizeof(adr), ev->addr, ev->addr != NULL ? ev->addr_len : 0);
		if (ev->address) {
			rp_log(RP_LOG_WARN, "auth",
			       "login lockout: address %s locked for %u s after %u failures "
			       "(last for account \"%s\")",
			       ev->addr != NULL ? adr : "-", (unsigned)ev->lock_s,
			       (unsigned)ev->failures, acc);
		} else {
			rp_log(RP_LOG_WARN, "auth",
			       "login lockout: account \"%s\" locked for %u s after %u failures "
			       "(last from %s)",
			       acc, (unsigned)ev->lock_s, (unsigned)ev->failures,
			       ev->addr != NULL ? adr : "-");
		}
	}
	if (t->cfg.on_lock != NULL) {
		t->cfg.on_lock(t->cfg.ctx, ev);
	}
}

uint64_t rp_throttle_failure(rp_throttle *t, const uint8_t *account, size_t account_len,
			     const uint8_t *addr, size_t addr_len, uint64_t now_ms)
{
	rp_throttle_event ev[2];
	entry *e;
	uint64_t until = 0;
	int n = 0, i;

	if (t == NULL) {
		return 0;
	}
	memset(ev, 0, sizeof(ev));
	pthread_mutex_lock(&t->mu);
	if (key_ok(&t->acc, account, account_len)) {
		e = get(t, &t->acc, account, account_len, now_ms);
		if (e != NULL && fail_one(t, &t->acc, e, now_ms, &ev[n])) {
			until = e->until_ms;
			n++;
		}
	}
	if (key_ok(&t->adr, addr, addr_len)) {
		e = get(t, &t->adr, addr, addr_len, now_ms);
		if (e != NULL && fail_one(t, &t->adr, e, now_ms, &ev[n])) {
			until = e->until_ms > until ? e->until_ms : until;
			n++;
		}
	}
	pthread_mutex_unlock(&t->mu);
	for (i = 0; i < n; i++) {
		ev[i].account = key_ok(&t->acc, account, account_len) ? account : NULL;
		ev[i].account_len = ev[i].account != NULL ? account_len : 0;
		ev[i].addr = key_ok(&t->adr, addr, addr_len) ? addr : NULL;
		ev[i].addr_len = ev[i].addr != NULL ? addr_len : 0;
		report(t, &ev[i]);
	}
	return until;
}

void rp_throttle_success(rp_throttle *t, const uint8_t *account, size_t account_len,
			 const uint8_t *addr, size_t addr_len, uint64_t now_ms)
{
	entry *e;

	(void)now_ms;
	if (t == NULL) {
		return;
	}
	pthread_mutex_lock(&t->mu);
	e = find(&t->acc, account, account_len);
	if (e != NULL) {
		release(e);
		e->fails = 0;
		e->until_ms = 0;
		e->logged = 0;
		drop_if_idle(&t->acc, e);
	}
	e = find(&t->adr, addr, addr_len);
	if (e != NULL) {
		release(e);
		drop_if_idle(&t->adr, e);
	}
	pthread_mutex_unlock(&t->mu);
}

void rp_throttle_cancel(rp_throttle *t, const uint8_t *account, size_t account_len,
			const uint8_t *addr, size_t addr_len, uint64_t now_ms)
{
	entry *e;

	if (t == NULL) {
		return;
	}
	pthread_mutex_lock(&t->mu);
	e = find(&t->acc, account, account_len);
	if (e != NULL) {
		release(e);
		forget_if_quiet(&t->acc, e, now_ms);
		drop_if_idle(&t->acc, e);
	}
	e = find(&t->adr, addr, addr_len);
	if (e != NULL) {
		release(e);
		forget_if_quiet(&t->adr, e, now_ms);
		drop_if_idle(&t->adr, e);
	}
	pthread_mutex_unlock(&t->mu);
}

void rp_throttle_unlock(rp_throttle *t, const uint8_t *account, size_t account_len)
{
	entry *e;

	if (t == NULL) {
		return;
	}
	pthread_mutex_lock(&t->mu);
	e = find(&t->acc, account, account_len);
	if (e != NULL) {
		e->fails = 0;
		e->until_ms = 0;
		e->logged = 0;
		drop_if_idle(&t->acc, e);
	}
	pthread_mutex_unlock(&t->mu);
}

void rp_throttle_stats_get(rp_throttle *t, rp_throttle_stats *out)
{
	if (out == NULL) {
		return;
	}
	memset(out, 0, sizeof(*out));
	if (t == NULL) {
		return;
	}
	pthread_mutex_lock(&t->mu);
	out->accounts = t->acc.count;
	out->addresses = t->adr.count;
	out->locks = t->locks;
	out->evictions = t->evictions;
	out->evicted_locked = t->evicted_locked;
	pthread_mutex_unlock(&t->mu);
}

/* ------------------------------------------------------------------------
 * Address keys
 * ------------------------------------------------------------------------ */

rp_status rp_throttle_address_key(const struct sockaddr *sa, char *out, size_t cap, size_t *out_len)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	char text[INET6_ADDRSTRLEN + 4];
	uint8_t a[16];
	size_t n;

	if (sa == NULL || out == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in in;

		memcpy(&in, sa, sizeof(in));
		if (inet_ntop(AF_INET, &in.sin_addr, text, sizeof(text)) == NULL) {
			return RP_E_INVALID_ARG;
		}
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 in6;

		memcpy(&in6, sa, sizeof(in6));
		memcpy(a, &in6.sin6_addr, sizeof(a));
		if (memcmp(a, v4mapped, sizeof(v4mapped)) == 0) {
			if (inet_ntop(AF_INET, a + 12, text, sizeof(text)) == NULL) {
				return RP_E_INVALID_ARG;
			}
		} else {
			memset(a + 8, 0, 8);
			if (inet_ntop(AF_INET6, a, text, sizeof(text)) == NULL) {
				return RP_E_INVALID_ARG;
			}
			strcat(text, "/64");
		}
	} else {
		return RP_E_INVALID_ARG;
	}
	n = strlen(text);
	if (cap <= n) {
		return RP_E_BUF_TOO_SMALL;
	}
	memcpy(out, text, n + 1u);
	if (out_len != NULL) {
		*out_len = n;
	}
	return RP_OK;
}
