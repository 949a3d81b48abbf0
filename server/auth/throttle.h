/*
 * server/auth/throttle.h - login throttling per account and per source
 * address.
 *
 * Model
 * - Two tables, accounts and addresses, each entry counting the
 *   consecutive failures of its key. Below `failures` failures attempts
 *   are free; the failure that reaches it locks the key for lock_s; every
 *   further failure locks it again for twice as long as the one before,
 *   up to lock_max_s (defaults: 5 account failures -> 1 min, 2, 4, ...,
 *   60 min). Past the threshold only one attempt per lock is possible.
 * - A success resets the account, NOT the address: an insider with one
 *   good password must not be able to wipe his address's record between
 *   guesses at other accounts. An address's failures, and an account's
 *   that never succeeds, are forgotten after quiet_s without a failure
 *   (and with no lock running); that starts a new "period".
 * - Attempts in flight are counted: rp_throttle_check() reserves the
 *   attempt, and it counts against the free failures until its outcome is
 *   reported. So a burst of parallel requests cannot slip more guesses
 *   past the threshold than the threshold allows; past it, one at a time.
 * - The first lock of a period is logged at WARN (component "auth"), with
 *   the account name and the address escaped; later locks of the same
 *   period are not, so an attack does not flood the log. The optional
 *   on_lock callback receives every lock (for the audit log).
 * - Memory: each table holds at most max_entries keys. An entry exists
 *   only while it has failures or attempts in flight. When a table is
 *   full, the least recently active entry is evicted, preferring among the
 *   oldest ones one whose failures are forgotten, then one not locked.
 *   Evicting a locked entry (only when the oldest ones are all locked)
 *   frees its key early; that is the price of a memory bound, and the
 *   stats count it.
 * - Keys: account names as the store spells them (canonicalise case
 *   before calling, or "Admin" and "admin" get two budgets), at most
 *   RP_LIMIT_OPERATOR_NAME_LEN bytes; addresses as text from
 *   rp_throttle_address_key(), which maps IPv6 to its /64 (one host
 *   commonly owns a whole /64) and IPv4-mapped IPv6 to IPv4. Either may
 *   be absent (NULL, 0): an API token failure has no account.
 *
 * Protocol for a caller (the HTTP login handler)
 *   1. rp_throttle_check(); RP_E_DENIED: answer 429 with Retry-After from
 *      *until_ms, and do not look at the password.
 *   2. Verify password (and TOTP).
 *   3. Exactly one of rp_throttle_failure() (wrong password, wrong or
 *      replayed TOTP code, unknown account), rp_throttle_success() (fully
 *      authenticated), rp_throttle_cancel() (the attempt did not happen:
 *      Argon2 busy, store error, client gone).
 *
 * Conventions
 * - Time is passed in (now_ms, a monotonic clock in milliseconds); there
 *   is no clock inside, so tests are deterministic.
 * - Threads: every function but rp_throttle_new/free is safe from any
 *   number of threads at once (one mutex per throttle; logging and the
 *   callback run after it is released).
 * - Allocation through server/util/alloc.h (uncharged).
 * - Never pass a password here; nothing here sees one.
 */
#ifndef RP_SERVER_AUTH_THROTTLE_H
#define RP_SERVER_AUTH_THROTTLE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "rampart/limits.h"
#include "rampart/status.h"

typedef struct rp_throttle rp_throttle;

typedef struct rp_throttle_policy {
	uint32_t failures;   /* free consecutive failures, 1 .. cap */
	uint32_t lock_s;     /* first lock, 1 .. lock_max_s */
	uint32_t lock_max_s; /* longest lock, .. RP_LIMIT_THROTTLE_LOCK_MAX_S */
	uint32_t quiet_s;    /* failures forgotten after, lock_max_s .. RP_LIMIT_THROTTLE_QUIET_S */
} rp_throttle_policy;

/* One lock, for the callback. Strings are valid only during the call. */
typedef struct rp_throttle_event {
	int address;            /* 1: the address was locked; 0: the account */
	const uint8_t *account; /* account of the attempt (may be NULL) */
	size_t account_len;
	const uint8_t *addr; /* address of the attempt (may be NULL) */
	size_t addr_len;
	uint32_t failures; /* consecutive failures of the locked key */
	uint32_t lock_s;   /* length of this lock */
	uint64_t until_ms; /* end of this lock */
	int first;         /* 1: the first lock of its period (logged) */
} rp_throttle_event;

typedef void (*rp_throttle_lock_fn)(void *ctx, const rp_throttle_event *ev);

typedef struct rp_throttle_config {
	rp_throttle_policy account;
	rp_throttle_policy address;
	uint32_t max_entries;        /* per table, 1 .. RP_LIMIT_THROTTLE_ENTRIES */
	rp_throttle_lock_fn on_lock; /* may be NULL; called without the lock held */
	void *ctx;
} rp_throttle_config;

typedef struct rp_throttle_stats {
	size_t accounts, addresses; /* entries now */
	uint64_t locks;             /* locks set, both tables */
	uint64_t evictions;         /* entries evicted for room */
	uint64_t evicted_locked;    /* of which were still locked */
} rp_throttle_stats;

/* Longest address key, NUL included. */
#define RP_THROTTLE_ADDRESS_CAP (RP_LIMIT_THROTTLE_ADDRESS_LEN + 1u)

/* The defaults of rampart/limits.h, no callback. */
void rp_throttle_config_default(rp_throttle_config *c);

/* RP_OK or RP_E_CONFIG (a value out of its range, c NULL). */
rp_status rp_throttle_config_check(const rp_throttle_config *c);

/*
 * Makes a throttle (config NULL: the defaults; copied). Returns RP_OK with
 * *out set; RP_E_CONFIG; RP_E_NOMEM; RP_E_INVALID_ARG (out NULL).
 */
rp_status rp_throttle_new(const rp_throttle_config *config, rp_throttle **out);

/* Frees a throttle (NULL allowed). No other thread may be using it. */
void rp_throttle_free(rp_throttle *t);

/*
 * May an attempt for account[0 .. account_len) from addr[0 .. addr_len)
 * proceed at now_ms? Returns RP_OK (reserved: report its outcome, see
 * Protocol); RP_E_DENIED with *until_ms (may be NULL) the time from which
 * to try again; RP_E_NOMEM (no entry could be made: refuse the attempt,
 * fail closed); RP_E_LIMIT (a key longer than its cap: refuse);
 * RP_E_INVALID_ARG (no key at all, t NULL).
 */
rp_status rp_throttle_check(rp_throttle *t, const uint8_t *account, size_t account_len,
			    const uint8_t *addr, size_t addr_len, uint64_t now_ms,
			    uint64_t *until_ms);

/*
 * Reports a failed attempt. Returns the time until which the failure
 * locked a key (0: it locked nothing). Keys as for check; over-long keys
 * are ignored.
 */
uint64_t rp_throttle_failure(rp_throttle *t, const uint8_t *account, size_t account_len,
			     const uint8_t *addr, size_t addr_len, uint64_t now_ms);

/* Reports a successful attempt: the account starts over; the address keeps its failures. */
void rp_throttle_success(rp_throttle *t, const uint8_t *account, size_t account_len,
			 const uint8_t *addr, size_t addr_len, uint64_t now_ms);

/* Reports an attempt that did not happen: releases the reservation only. */
void rp_throttle_cancel(rp_throttle *t, const uint8_t *account, size_t account_len,
			const uint8_t *addr, size_t addr_len, uint64_t now_ms);

/* An admin's unlock: forgets the account's failures and lock. */
void rp_throttle_unlock(rp_throttle *t, const uint8_t *account, size_t account_len);

/* A consistent snapshot of the counters. */
void rp_throttle_stats_get(rp_throttle *t, rp_throttle_stats *out);

/*
 * The throttle key of a peer address: IPv4 dotted ("192.0.2.7"), IPv6 as
 * its /64 ("2001:db8:1:2::/64"), IPv4-mapped IPv6 as IPv4. Writes
 * NUL-terminated text into out (RP_THROTTLE_ADDRESS_CAP is enough).
 * Returns RP_OK, RP_E_BUF_TOO_SMALL, RP_E_INVALID_ARG (NULL, or a family
 * other than AF_INET / AF_INET6).
 */
rp_status rp_throttle_address_key(const struct sockaddr *sa, char *out, size_t cap,
				  size_t *out_len);

#endif /* RP_SERVER_AUTH_THROTTLE_H */
