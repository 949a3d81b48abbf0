/*
 * Unit tests of server/auth/throttle: locks after N failures, doubling to
 * the cap, reset on success (account only), forgetting after a quiet
 * time, attempts in flight, the WARN line of the first lock (captured from
 * stderr), the lock callback, eviction under a bounded table, allocation
 * failure, address keys, and two threads hammering one throttle.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "auth/throttle.h"
#include "util/alloc.h"
#include "util/log.h"

#define S(lit) (const uint8_t *)(lit), (sizeof(lit) - 1u)
#define NONE   NULL, 0
#define SEC    1000u
#define T0     1000000u

static rp_throttle *make(uint32_t acc_fail, uint32_t adr_fail, uint32_t max_entries)
{
	rp_throttle_config c;
	rp_throttle *t = NULL;

	rp_throttle_config_default(&c);
	c.account.failures = acc_fail;
	c.address.failures = adr_fail;
	c.max_entries = max_entries;
	assert_int_equal(rp_throttle_new(&c, &t), RP_OK);
	return t;
}

/* One full failed attempt: check, then failure. Returns the check's status. */
static rp_status fail_at(rp_throttle *t, const uint8_t *acc, size_t alen, const uint8_t *adr,
			 size_t dlen, uint64_t now)
{
	rp_status st = rp_throttle_check(t, acc, alen, adr, dlen, now, NULL);

	if (st == RP_OK) {
		rp_throttle_failure(t, acc, alen, adr, dlen, now);
	}
	return st;
}

static void test_config(void **state)
{
	rp_throttle_config c;
	rp_throttle *t = (rp_throttle *)&c; /* not NULL: a failed new must set it to NULL */

	(void)state;
	rp_throttle_config_default(&c);
	assert_int_equal(c.account.failures, 5);
	assert_int_equal(c.account.lock_s, 60);
	assert_int_equal(c.account.lock_max_s, 3600);
	assert_int_equal(c.address.failures, 20);
	assert_int_equal(rp_throttle_config_check(&c), RP_OK);
	c.account.failures = 0;
	assert_int_equal(rp_throttle_config_check(&c), RP_E_CONFIG);
	c.account.failures = RP_LIMIT_THROTTLE_ACCOUNT_FAILURES + 1u;
	assert_int_equal(rp_throttle_config_check(&c), RP_E_CONFIG);
	rp_throttle_config_default(&c);
	c.address.lock_max_s = RP_LIMIT_THROTTLE_LOCK_MAX_S + 1u;
	c.address.quiet_s = RP_LIMIT_THROTTLE_QUIET_S;
	assert_int_equal(rp_throttle_config_check(&c), RP_E_CONFIG);
	rp_throttle_config_default(&c);
	c.account.lock_s = c.account.lock_max_s + 1u;
	assert_int_equal(rp_throttle_config_check(&c), RP_E_CONFIG);
	rp_throttle_config_default(&c);
	c.account.quiet_s = c.account.lock_max_s - 1u;
	assert_int_equal(rp_throttle_config_check(&c), RP_E_CONFIG);
	rp_throttle_config_default(&c);
	c.max_entries = 0;
	assert_int_equal(rp_throttle_config_check(&c), RP_E_CONFIG);
	assert_int_equal(rp_throttle_new(&c, &t), RP_E_CONFIG);
	assert_null(t);
	assert_int_equal(rp_throttle_config_check(NULL), RP_E_CONFIG);
	assert_int_equal(rp_throttle_new(NULL, NULL), RP_E_INVALID_ARG);
	assert_int_equal(rp_throttle_new(NULL, &t), RP_OK);
	rp_throttle_free(t);
	rp_throttle_free(NULL);
}

static void test_lock_doubling_cap(void **state)
{
	rp_throttle *t = make(5, 100, 100);
	uint64_t now = T0, until = 0, expect;
	rp_throttle_stats st;
	int i;

	(void)state;
	/* Four free failures. */
	for (i = 0; i < 4; i++) {
		assert_int_equal(rp_throttle_check(t, S("alice"), S("192.0.2.1"), now, &until),
				 RP_OK);
		assert_int_equal(rp_throttle_failure(t, S("alice"), S("192.0.2.1"), now), 0);
	}
	/* The fifth locks for a minute. */
	assert_int_equal(rp_throttle_check(t, S("alice"), S("192.0.2.1"), now, &until), RP_OK);
	assert_int_equal(rp_throttle_failure(t, S("alice"), S("192.0.2.1"), now), now + 60 * SEC);
	/* Any address, while locked. */
	assert_int_equal(rp_throttle_check(t, S("alice"), S("198.51.100.9"), now, &until),
			 RP_E_DENIED);
	assert_int_equal(until, now + 60 * SEC);
	assert_int_equal(rp_throttle_check(t, S("alice"), NONE, now + 60 * SEC - 1, &until),
			 RP_E_DENIED);
	/* Another account from the same address is not locked. */
	assert_int_equal(rp_throttle_check(t, S("bob"), S("192.0.2.1"), now, NULL), RP_OK);
	rp_throttle_cancel(t, S("bob"), S("192.0.2.1"), now);
	/* Each further failure doubles the lock: 2, 4, 8, 16, 32 minutes, then 60 (cap). */
	expect = 120;
	for (i = 0; i < 8; i++) {
		now = until;
		assert_int_equal(rp_throttle_check(t, S("alice"), NONE, now, &until), RP_OK);
		until = rp_throttle_failure(t, S("alice"), NONE, now);
		assert_int_equal(until, now + expect * SEC);
		expect = expect * 2u > 3600u ? 3600u : expect * 2u;
	}
	rp_throttle_stats_get(t, &st);
	assert_int_equal(st.locks, 9);
	assert_int_equal(st.accounts, 1);
	rp_throttle_free(t);
}

static void test_success_resets_account_not_address(void **state)
{
	rp_throttle *t = make(3, 5, 100);
	uint64_t now = T0, until = 0;
	rp_throttle_stats st;
	int i;

	(void)state;
	/* Two failures, then a success: alice starts over. */
	assert_int_equal(fail_at(t, S("alice"), S("192.0.2.1"), now), RP_OK);
	assert_int_equal(fail_at(t, S("alice"), S("192.0.2.1"), now), RP_OK);
	assert_int_equal(rp_throttle_check(t, S("alice"), S("192.0.2.1"), now, NULL), RP_OK);
	rp_throttle_success(t, S("alice"), S("192.0.2.1"), now);
	rp_throttle_stats_get(t, &st);
	assert_int_equal(st.accounts, 0); /* nothing left to remember */
	assert_int_equal(st.addresses, 1);
	assert_int_equal(fail_at(t, S("alice"), S("192.0.2.1"), now), RP_OK);
	assert_int_equal(fail_at(t, S("alice"), S("192.0.2.1"), now), RP_OK);
	/* The address kept its two earlier failures: this one (its fifth) locks it. */
	assert_int_equal(fail_at(t, S("bob"), S("192.0.2.1"), now), RP_OK);
	assert_int_equal(rp_throttle_check(t, S("carol"), S("192.0.2.1"), now, &until),
			 RP_E_DENIED);
	assert_int_equal(until, now + 60 * SEC);
	/* Other addresses are fine, and the locked one does not stop accounts elsewhere. */
	assert_int_equal(rp_throttle_check(t, S("carol"), S("192.0.2.2"), now, NULL), RP_OK);
	rp_throttle_success(t, S("carol"), S("192.0.2.2"), now);
	/* An admin unlock clears an account. */
	for (i = 0; i < 3; i++) {
		fail_at(t, S("dave"), NONE, now);
	}
	assert_int_equal(rp_throttle_check(t, S("dave"), NONE, now, NULL), RP_E_DENIED);
	rp_throttle_unlock(t, S("dave"));
	assert_int_equal(rp_throttle_check(t, S("dave"), NONE, now, NULL), RP_OK);
	rp_throttle_cancel(t, S("dave"), NONE, now);
	rp_throttle_unlock(t, S("nobody"));
	rp_throttle_free(t);
}

static void test_quiet_forgets(void **state)
{
	rp_throttle_config c;
	rp_throttle *t = NULL;
	uint64_t now = T0;
	int i;

	(void)state;
	rp_throttle_config_default(&c);
	c.account.failures = 3;
	c.account.lock_s = 10;
	c.account.lock_max_s = 100;
	c.account.quiet_s = 1000;
	assert_int_equal(rp_throttle_new(&c, &t), RP_OK);
	/* Two failures, then silence for the quiet time: the third does not lock. */
	fail_at(t, S("alice"), NONE, now);
	fail_at(t, S("alice"), NONE, now);
	now += 1000 * SEC;
	assert_int_equal(rp_throttle_check(t, S("alice"), NONE, now, NULL), RP_OK);
	assert_int_equal(rp_throttle_failure(t, S("alice"), NONE, now), 0);
	/* One second short of the quiet time: the count goes on. */
	fail_at(t, S("alice"), NONE, now);
	now += 999 * SEC;
	assert_int_equal(rp_throttle_check(t, S("alice"), NONE, now, NULL), RP_OK);
	assert_int_equal(rp_throttle_failure(t, S("alice"), NONE, now), now + 10 * SEC);
	/* Locked at the cap, then quiet: a new period starts with free failures. */
	for (i = 0; i < 6; i++) {
		now += 100 * SEC;
		fail_at(t, S("alice"), NONE, now);
	}
	now += 1100 * SEC;
	for (i = 0; i < 2; i++) {
		assert_int_equal(fail_at(t, S("alice"), NONE, now), RP_OK);
	}
	assert_int_equal(rp_throttle_check(t, S("alice"), NONE, now, NULL), RP_OK);
	/* A clock that goes back forgets nothing and unlocks nothing. */
	assert_int_equal(rp_throttle_failure(t, S("alice"), NONE, now), now + 10 * SEC);
	assert_int_equal(rp_throttle_check(t, S("alice"), NONE, now - 2000 * SEC, NULL),
			 RP_E_DENIED);
	rp_throttle_free(t);
}

static void test_in_flight(void **state)
{
	rp_throttle *t = make(5, 100, 100);
	uint64_t now = T0, until = 0;
	int i;

	(void)state;
	/* Five parallel attempts fill the free failures; a sixth waits. */
	for (i = 0; i < 5; i++) {
		assert_int_equal(rp_throttle_check(t, S("alice"), S("192.0.2.1"), now, NULL),
				 RP_OK);
	}
	assert_int_equal(rp_throttle_check(t, S("alice"), S("192.0.2.1"), now, &until),
			 RP_E_DENIED);
	assert_int_equal(until, now + 1000);
	/* A cancelled attempt gives its place back. */
	rp_throttle_cancel(t, S("alice"), S("192.0.2.1"), now);
	assert_int_equal(rp_throttle_check(t, S("alice"), S("192.0.2.1"), now, NULL), RP_OK);
	/* All five fail: locked. */
	for (i = 0; i < 5; i++) {
		rp_throttle_failure(t, S("alice"), S("192.0.2.1"), now);
	}
	assert_int_equal(rp_throttle_check(t, S("alice"), NONE, now, &until), RP_E_DENIED);
	assert_int_equal(until, now + 60 * SEC);
	/* Past the threshold: one attempt at a time after the lock. */
	now = until;
	assert_int_equal(rp_throttle_check(t, S("alice"), NONE, now, NULL), RP_OK);
	assert_int_equal(rp_throttle_check(t, S("alice"), NONE, now, &until), RP_E_DENIED);
	assert_int_equal(until, now + 1000);
	rp_throttle_success(t, S("alice"), NONE, now);
	assert_int_equal(rp_throttle_check(t, S("alice"), NONE, now, NULL), RP_OK);
	rp_throttle_success(t, S("alice"), NONE, now);
	rp_throttle_free(t);
}

static void test_keys(void **state)
{
	rp_throttle *t = make(5, 20, 100);
	uint8_t longname[RP_LIMIT_OPERATOR_NAME_LEN + 1u];
	uint8_t longaddr[RP_LIMIT_THROTTLE_ADDRESS_LEN + 1u];
	uint64_t until = 7;
	rp_throttle_stats st;

	(void)state;
	memset(longname, 'n', sizeof(longname));
	memset(longaddr, '1', sizeof(longaddr));
	assert_int_equal(rp_throttle_check(t, NONE, NONE, T0, &until), RP_E_INVALID_ARG);
	assert_int_equal(until, 0);
	assert_int_equal(rp_throttle_check(NULL, S("a"), NONE, T0, NULL), RP_E_INVALID_ARG);
	assert_int_equal(rp_throttle_check(t, longname, sizeof(longname), NONE, T0, NULL),
			 RP_E_LIMIT);
	assert_int_equal(rp_throttle_check(t, longname, sizeof(longname) - 1u, NONE, T0, NULL),
			 RP_OK);
	rp_throttle_cancel(t, longname, sizeof(longname) - 1u, NONE, T0);
	assert_int_equal(rp_throttle_check(t, NONE, longaddr, sizeof(longaddr), T0, NULL),
			 RP_E_LIMIT);
	/* Over-long keys are ignored by the outcome calls. */
	assert_int_equal(
		rp_throttle_failure(t, longname, sizeof(longname), longaddr, sizeof(longaddr), T0),
		0);
	rp_throttle_success(t, longname, sizeof(longname), longaddr, sizeof(longaddr), T0);
	rp_throttle_stats_get(t, &st);
	assert_int_equal(st.accounts + st.addresses, 0);
	/* Address only (an API token failure). */
	assert_int_equal(fail_at(t, NONE, S("192.0.2.1"), T0), RP_OK);
	rp_throttle_stats_get(t, &st);
	assert_int_equal(st.addresses, 1);
	/* NULL throttle: nothing happens. */
	assert_int_equal(rp_throttle_failure(NULL, S("a"), NONE, T0), 0);
	rp_throttle_success(NULL, S("a"), NONE, T0);
	rp_throttle_cancel(NULL, S("a"), NONE, T0);
	rp_throttle_unlock(NULL, S("a"));
	rp_throttle_stats_get(NULL, &st);
	rp_throttle_stats_get(t, NULL);
	rp_throttle_free(t);
}

/* ------------------------------------------------------------------------
 * Log line and callback
 * ------------------------------------------------------------------------ */

struct seen {
	int calls, first, address;
	uint32_t lock_s;
	char account[80];
};

static void on_lock(void *ctx, const rp_throttle_event *ev)
{
	struct seen *s = ctx;

	s->calls++;
	s->first += ev->first;
	s->address += ev->address;
	s->lock_s = ev->lock_s;
	if (ev->account != NULL && ev->account_len < sizeof(s->account)) {
		memcpy(s->account, ev->account, ev->account_len);
		s->account[ev->account_len] = '\0';
	}
}

/* Runs fn with stderr going to a temporary file; returns what was written. */
static char *capture_stderr(void (*fn)(void *), void *arg)
{
	char path[] = "/tmp/test_throttle_XXXXXX";
	int fd = mkstemp(path), saved;
	char *buf = calloc(1, 8192);
	ssize_t n;

	assert_true(fd >= 0);
	assert_non_null(buf);
	fflush(stderr);
	rp_log_set_level(RP_LOG_INFO);
	saved = dup(2);
	assert_true(saved >= 0);
	assert_true(dup2(fd, 2) >= 0);
	fn(arg);
	rp_log_set_level(RP_LOG_ERROR);
	fflush(stderr);
	assert_true(dup2(saved, 2) >= 0);
	close(saved);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	n = read(fd, buf, 8191);
	assert_true(n >= 0);
	close(fd);
	unlink(path);
	return buf;
}

static void lock_twice(void *arg)
{
	rp_throttle *t = arg;
	/* A name that tries to forge a log line. */
	static const uint8_t name[] = "eve\n2026-01-01T00:00:00.000Z info auth: ok";
	uint64_t now = T0;
	int i;

	for (i = 0; i < 3; i++) {
		fail_at(t, name, sizeof(name) - 1u, S("2001:db8:1:2::/64"), now);
	}
	/* A second lock of the same period: not logged. */
	now += 60 * SEC;
	fail_at(t, name, sizeof(name) - 1u, S("2001:db8:1:2::/64"), now);
	/* Success, and a new period: logged again. */
	now += 120 * SEC;
	assert_int_equal(rp_throttle_check(t, name, sizeof(name) - 1u, NONE, now, NULL), RP_OK);
	rp_throttle_success(t, name, sizeof(name) - 1u, NONE, now);
	for (i = 0; i < 3; i++) {
		fail_at(t, name, sizeof(name) - 1u, S("192.0.2.1"), now);
	}
}

static void test_log_and_callback(void **state)
{
	rp_throttle_config c;
	rp_throttle *t = NULL;
	struct seen s;
	char *log, *p;
	int lines = 0;

	(void)state;
	memset(&s, 0, sizeof(s));
	rp_throttle_config_default(&c);
	c.account.failures = 3;
	c.on_lock = on_lock;
	c.ctx = &s;
	assert_int_equal(rp_throttle_new(&c, &t), RP_OK);
	log = capture_stderr(lock_twice, t);
	for (p = log; (p = strchr(p, '\n')) != NULL; p++) {
		lines++;
	}
	print_message("%s", log);
	assert_int_equal(lines, 2);
	assert_non_null(strstr(log, " warn auth: login lockout: account "
				    "\"eve\\x0a2026-01-01T00:00:00.000Z info auth: ok\" locked for "
				    "60 s after 3 failures (last from 2001:db8:1:2::/64)\n"));
	assert_non_null(strstr(log, " warn auth: login lockout: account "
				    "\"eve\\x0a2026-01-01T00:00:00.000Z info auth: ok\" locked for "
				    "60 s after 3 failures (last from 192.0.2.1)\n"));
	/* The callback saw all three locks; two were first of their period. */
	assert_int_equal(s.calls, 3);
	assert_int_equal(s.first, 2);
	assert_int_equal(s.address, 0);
	assert_string_equal(s.account, "eve\n2026-01-01T00:00:00.000Z info auth: ok");
	free(log);
	rp_throttle_free(t);
}

static void lock_address(void *arg)
{
	rp_throttle *t = arg;
	int i;

	for (i = 0; i < 4; i++) {
		fail_at(t, S("user"), S("192.0.2.99"), T0);
	}
}

static void test_log_address(void **state)
{
	rp_throttle *t = make(10, 4, 100);
	char *log;

	(void)state;
	log = capture_stderr(lock_address, t);
	assert_non_null(strstr(log, " warn auth: login lockout: address 192.0.2.99 locked for 60 s "
				    "after 4 failures (last for account \"user\")\n"));
	free(log);
	rp_throttle_free(t);
}

/* ------------------------------------------------------------------------
 * Memory: eviction and allocation failure
 * ------------------------------------------------------------------------ */

static void test_eviction_bound(void **state)
{
	rp_throttle *t = make(5, 100, 8);
	rp_throttle_stats st;
	uint64_t now = T0, until = 0;
	char name[32];
	int i;

	(void)state;
	/* Lock the target. */
	for (i = 0; i < 5; i++) {
		fail_at(t, S("target"), NONE, now);
	}
	/* Spray one failure each for a hundred other names. */
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "spray-%d", i);
		now++;
		assert_int_equal(fail_at(t, (const uint8_t *)name, strlen(name), NONE, now), RP_OK);
		rp_throttle_stats_get(t, &st);
		assert_true(st.accounts <= 8);
	}
	rp_throttle_stats_get(t, &st);
	assert_int_equal(st.accounts, 8);
	assert_int_equal(st.evictions, 93);
	assert_int_equal(st.evicted_locked, 0);
	/* The locked entry was the oldest but was kept: unlocked ones went first. */
	assert_int_equal(rp_throttle_check(t, S("target"), NONE, now, &until), RP_E_DENIED);
	rp_throttle_free(t);
}

static void test_eviction_all_locked(void **state)
{
	rp_throttle *t = make(1, 100, 4);
	rp_throttle_stats st;
	char name[32];
	int i;

	(void)state;
	/* One failure locks; four locked names fill the table. */
	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "locked-%d", i);
		fail_at(t, (const uint8_t *)name, strlen(name), NONE, T0 + (uint64_t)i);
	}
	/* A fifth has to evict a locked one: the oldest. */
	assert_int_equal(fail_at(t, S("new"), NONE, T0 + 10), RP_OK);
	rp_throttle_stats_get(t, &st);
	assert_int_equal(st.accounts, 4);
	assert_int_equal(st.evicted_locked, 1);
	/* locked-1 is still there and locked; locked-0 lost its lock with its entry. */
	assert_int_equal(rp_throttle_check(t, S("locked-1"), NONE, T0 + 11, NULL), RP_E_DENIED);
	assert_int_equal(rp_throttle_check(t, S("locked-0"), NONE, T0 + 11, NULL), RP_OK);
	rp_throttle_cancel(t, S("locked-0"), NONE, T0 + 11);
	rp_throttle_stats_get(t, &st);
	assert_int_equal(st.evicted_locked, 2);
	rp_throttle_free(t);
}

static void test_alloc_failure(void **state)
{
	rp_throttle *t = NULL;
	size_t before = rp_alloc_in_use();
	long n;
	rp_status st = RP_E_NOMEM;

	(void)state;
	/* rp_throttle_new: every allocation failure path, then success. */
	for (n = 0; st != RP_OK; n++) {
		rp_alloc_fail_after(n);
		st = rp_throttle_new(NULL, &t);
		rp_alloc_fail_after(-1);
		assert_true(st == RP_OK || st == RP_E_NOMEM);
		assert_true(st == RP_OK || t == NULL);
		assert_true(st == RP_OK || rp_alloc_in_use() == before);
		assert_true(n < 100);
	}
	/* check fails closed; failure without memory counts nothing and does not crash. */
	for (n = 0; n < 4; n++) {
		rp_alloc_fail_after(n);
		st = rp_throttle_check(t, S("alice"), S("192.0.2.1"), T0, NULL);
		rp_alloc_fail_after(-1);
		if (st == RP_OK) {
			rp_throttle_cancel(t, S("alice"), S("192.0.2.1"), T0);
		} else {
			assert_int_equal(st, RP_E_NOMEM);
		}
		rp_alloc_fail_after(n);
		assert_true(rp_throttle_failure(t, S("bob"), S("192.0.2.2"), T0) == 0);
		rp_alloc_fail_after(-1);
	}
	rp_throttle_free(t);
	assert_int_equal(rp_alloc_in_use(), before);
}

/* ------------------------------------------------------------------------
 * Address keys
 * ------------------------------------------------------------------------ */

static void test_address_key(void **state)
{
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
	struct sockaddr_un un;
	char out[RP_THROTTLE_ADDRESS_CAP];
	size_t n = 0;

	(void)state;
	memset(&in4, 0, sizeof(in4));
	in4.sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, "192.0.2.7", &in4.sin_addr), 1);
	assert_int_equal(
		rp_throttle_address_key((const struct sockaddr *)&in4, out, sizeof(out), &n),
		RP_OK);
	assert_string_equal(out, "192.0.2.7");
	assert_int_equal(n, 9);
	memset(&in6, 0, sizeof(in6));
	in6.sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, "2001:db8:1:2:aaaa:bbbb:cccc:dddd", &in6.sin6_addr),
			 1);
	assert_int_equal(
		rp_throttle_address_key((const struct sockaddr *)&in6, out, sizeof(out), &n),
		RP_OK);
	assert_string_equal(out, "2001:db8:1:2::/64");
	assert_int_equal(inet_pton(AF_INET6, "::ffff:198.51.100.4", &in6.sin6_addr), 1);
	assert_int_equal(
		rp_throttle_address_key((const struct sockaddr *)&in6, out, sizeof(out), &n),
		RP_OK);
	assert_string_equal(out, "198.51.100.4");
	/* The longest /64 text fits. */
	assert_int_equal(
		inet_pton(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", &in6.sin6_addr), 1);
	assert_int_equal(
		rp_throttle_address_key((const struct sockaddr *)&in6, out, sizeof(out), &n),
		RP_OK);
	assert_string_equal(out, "ffff:ffff:ffff:ffff::/64");
	assert_int_equal(rp_throttle_address_key((const struct sockaddr *)&in6, out, 5, &n),
			 RP_E_BUF_TOO_SMALL);
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	assert_int_equal(
		rp_throttle_address_key((const struct sockaddr *)&un, out, sizeof(out), &n),
		RP_E_INVALID_ARG);
	assert_int_equal(rp_throttle_address_key(NULL, out, sizeof(out), &n), RP_E_INVALID_ARG);
}

/* ------------------------------------------------------------------------
 * Threads
 * ------------------------------------------------------------------------ */

struct hammer {
	rp_throttle *t;
	unsigned seed;
	long ok, denied, bad;
};

static void *hammer(void *arg)
{
	struct hammer *h = arg;
	char acc[16], adr[16];
	uint64_t now = T0;
	int i;

	for (i = 0; i < 20000; i++) {
		unsigned r = (unsigned)rand_r(&h->seed);
		size_t alen = (size_t)snprintf(acc, sizeof(acc), "acc-%u", r % 40u);
		size_t dlen = (size_t)snprintf(adr, sizeof(adr), "10.0.0.%u", (r >> 8) % 24u);
		rp_status st;

		now += (r >> 16) % 3u * 1000u;
		st = rp_throttle_check(h->t, (const uint8_t *)acc, alen, (const uint8_t *)adr, dlen,
				       now, NULL);
		if (st != RP_OK) {
			/* No cmocka assertions off the main thread: count, check after join. */
			h->bad += st != RP_E_DENIED;
			h->denied++;
			continue;
		}
		h->ok++;
		switch ((r >> 20) % 4u) {
		case 0:
			rp_throttle_success(h->t, (const uint8_t *)acc, alen, (const uint8_t *)adr,
					    dlen, now);
			break;
		case 1:
			rp_throttle_cancel(h->t, (const uint8_t *)acc, alen, (const uint8_t *)adr,
					   dlen, now);
			break;
		default:
			rp_throttle_failure(h->t, (const uint8_t *)acc, alen, (const uint8_t *)adr,
					    dlen, now);
			break;
		}
	}
	return NULL;
}

static void test_two_threads(void **state)
{
	rp_throttle_config c;
	rp_throttle *t = NULL;
	struct hammer h[2];
	pthread_t th[2];
	rp_throttle_stats st;
	int i;

	(void)state;
	rp_throttle_config_default(&c);
	c.account.failures = 3;
	c.account.lock_s = 1;
	c.account.lock_max_s = 8;
	c.account.quiet_s = 30;
	c.address = c.account;
	c.address.failures = 6;
	c.max_entries = 16;
	assert_int_equal(rp_throttle_new(&c, &t), RP_OK);
	for (i = 0; i < 2; i++) {
		h[i].t = t;
		h[i].seed = 12345u + (unsigned)i;
		h[i].ok = h[i].denied = h[i].bad = 0;
	}
	for (i = 0; i < 2; i++) {
		assert_int_equal(pthread_create(&th[i], NULL, hammer, &h[i]), 0);
	}
	for (i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
	}
	rp_throttle_stats_get(t, &st);
	print_message("2 threads: %ld + %ld attempts, %ld + %ld refused; %zu accounts, %zu "
		      "addresses; %llu locks, %llu evictions (%llu locked)\n",
		      h[0].ok, h[1].ok, h[0].denied, h[1].denied, st.accounts, st.addresses,
		      (unsigned long long)st.locks, (unsigned long long)st.evictions,
		      (unsigned long long)st.evicted_locked);
	assert_int_equal(h[0].bad + h[1].bad, 0);
	assert_true(st.accounts <= 16);
	assert_true(st.addresses <= 16);
	assert_true(h[0].ok > 0 && h[1].ok > 0);
	assert_true(h[0].denied > 0 && h[1].denied > 0);
	assert_true(st.locks > 0);
	assert_true(st.evictions > 0);
	rp_throttle_free(t);
}

int main(void)
{
	/* Lockout lines only where a test captures them (capture_stderr). */
	rp_log_set_level(RP_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_lock_doubling_cap),
		cmocka_unit_test(test_success_resets_account_not_address),
		cmocka_unit_test(test_quiet_forgets),
		cmocka_unit_test(test_in_flight),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_log_and_callback),
		cmocka_unit_test(test_log_address),
		cmocka_unit_test(test_eviction_bound),
		cmocka_unit_test(test_eviction_all_locked),
		cmocka_unit_test(test_alloc_failure),
		cmocka_unit_test(test_address_key),
		cmocka_unit_test(test_two_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
