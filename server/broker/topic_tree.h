/*
 * server/broker/topic_tree.h - the broker's subscription tree.
 *
 * A trie by topic level that answers "who is subscribed to this topic?" in
 * time that depends on the topic's depth and on the subscriptions that
 * match it, not on the number of unrelated subscriptions the broker holds.
 * docs/broker.md ("Subscription tree") explains the structure and how the
 * claim is proven.
 *
 * Conventions
 * - Ownership: the tree copies every filter it is given; the caller keeps
 *   its buffers. A subscriber is an opaque pointer (a session): the tree
 *   compares it, never dereferences it, and MUST be told when it goes away
 *   (rp_tree_unsubscribe_all()). All memory is taken with rp_alloc() and
 *   charged to the budget given to rp_tree_new() (NULL: uncharged).
 * - NULL: the tree argument MUST NOT be NULL. A subscriber MUST NOT be NULL.
 *   Other pointers are checked where a function says so.
 * - Failure: a function that returns an error has changed nothing. On
 *   RP_E_NOMEM the tree is exactly as before the call (same subscriptions,
 *   same options), so the broker can refuse one SUBSCRIBE entry and go on.
 *   Removal never allocates and never fails for lack of memory.
 * - Threads: the tree is not locked inside. The caller MUST serialise
 *   writers (subscribe, unsubscribe, unsubscribe_all, free) against each
 *   other and against readers. Readers (rp_tree_match, rp_tree_count,
 *   rp_tree_subscriber_count) MAY run concurrently with each other: the
 *   broker wraps the tree in a readers-writer lock and matches under the read
 *   lock. rp_tree_match() writes one thing, the rotation counter of a shared
 *   group, and does so atomically.
 * - Lifetime: the options pointer given to a visitor is valid only during
 *   that call. A visitor MUST NOT call a writer on the same tree.
 * - Cost: subscribe and unsubscribe are O(filter length) expected (keyed
 *   hash tables, no scan of siblings or of other subscribers);
 *   unsubscribe_all is O(subscriptions of that subscriber); match is
 *   O(topic depth + nodes on matching paths + visits) and never allocates.
 */
#ifndef RP_SERVER_BROKER_TOPIC_TREE_H
#define RP_SERVER_BROKER_TOPIC_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "rampart/mqtt.h"
#include "rampart/status.h"
#include "util/alloc.h"

typedef struct rp_tree rp_tree;

/* Options of one subscription, as SUBSCRIBE carried them (MQTT 5, 3.8.3.1). */
typedef struct rp_sub_opts {
	uint8_t qos;                 /* 0..2, maximum QoS granted */
	uint8_t no_local;            /* 0 or 1; MUST be 0 for a shared subscription */
	uint8_t retain_as_published; /* 0 or 1 */
	uint8_t retain_handling;     /* 0..2 */
	uint32_t sub_id;             /* Subscription Identifier, 0 = none */
} rp_sub_opts;

/*
 * Called once per delivery by rp_tree_match(). `shared` is 1 when the
 * subscription is a member of a shared group picked for this message, 0
 * otherwise. `o` is valid only during the call.
 */
typedef void (*rp_tree_visit_fn)(void *ctx, void *subscriber, const rp_sub_opts *o, int shared);

/* Work done by one match, for the complexity proof and for metrics. */
typedef struct rp_tree_stats {
	size_t nodes;   /* tree nodes entered */
	size_t lookups; /* hash-table lookups of a topic level among a node's children */
	size_t probes;  /* slots examined by those lookups (>= lookups) */
	size_t visits;  /* calls of the visitor */
} rp_tree_stats;

/*
 * Creates an empty tree. Filters are checked against `lim` (copied, then
 * clamped to the hard caps of rampart/limits.h); NULL means the defaults.
 * The hash key is drawn from getrandom(2).
 * Returns NULL when memory or randomness cannot be had.
 */
rp_tree *rp_tree_new(rp_budget *b, const rp_mqtt_limits *lim);

/* Frees the tree and every subscription in it. NULL is allowed. */
void rp_tree_free(rp_tree *t);

/*
 * Adds the subscription (subscriber, filter) with options *o, or, when the
 * subscriber already holds that exact filter, replaces its options. A
 * filter "$share/GROUP/F" joins the shared group GROUP of filter F.
 * `existed` MAY be NULL; otherwise it is set to 1 on a replacement, 0 on an
 * addition, and left alone on error.
 * Returns:
 *   RP_OK
 *   RP_E_INVALID_ARG   filter, subscriber or o NULL; an option out of range
 *                      (qos > 2, retain_handling > 2, a flag > 1, sub_id
 *                      above 268435455, no_local on a shared subscription)
 *   RP_E_TOPIC_FILTER, RP_E_UTF8, RP_E_LIMIT
 *                      the filter fails rp_mqtt_topic_filter_check()
 *   RP_E_NOMEM         memory or budget exhausted; nothing changed
 */
rp_status rp_tree_subscribe(rp_tree *t, const uint8_t *filter, size_t len, void *subscriber,
			    const rp_sub_opts *o, int *existed);

/*
 * Removes the subscription (subscriber, filter) if there is one, and prunes
 * the nodes that no longer lead to any subscription. `existed` MAY be NULL;
 * otherwise it is set to 1 if a subscription was removed, else 0.
 * Returns RP_OK (whether or not it existed), RP_E_INVALID_ARG (filter or
 * subscriber NULL), or the status of rp_mqtt_topic_filter_check() for an
 * invalid filter (which cannot be subscribed either).
 */
rp_status rp_tree_unsubscribe(rp_tree *t, const uint8_t *filter, size_t len, void *subscriber,
			      int *existed);

/*
 * Removes every subscription of `subscriber` (session end). Costs
 * O(subscriptions of that subscriber), not O(tree). Never fails.
 */
void rp_tree_unsubscribe_all(rp_tree *t, void *subscriber);

/* Decides whether a subscription stays: 1 keeps it. */
typedef int (*rp_tree_keep_fn)(void *ctx, const uint8_t *filter, size_t len);

/*
 * Removes each subscription of `subscriber` for which keep() returns 0
 * (called with the subscription's filter, "$share/NAME/F" when shared).
 * Used when the ACL changes. Returns the number removed. O(subscriptions
 * of that subscriber x filter length); never allocates.
 */
size_t rp_tree_unsubscribe_if(rp_tree *t, void *subscriber, rp_tree_keep_fn keep, void *ctx);

/*
 * Calls fn for every subscription whose filter matches the topic name
 * topic[0 .. len): each non-shared subscription once (a subscriber with two
 * overlapping filters is visited twice; the broker merges), and each shared
 * group (one GROUP and one F) once, through one member chosen in strict
 * rotation. Filters starting with '+' or '#' do not match topics starting
 * with '$' [MQTT-4.7.2-1]; "a/#" matches "a". Order is unspecified.
 * The topic is expected to have passed rp_mqtt_topic_name_check(); any
 * bytes are safe, an empty or NULL topic matches nothing. fn NULL: no-op.
 * Never allocates; safe concurrently with other readers (see Threads).
 */
void rp_tree_match(rp_tree *t, const uint8_t *topic, size_t len, rp_tree_visit_fn fn, void *ctx);

/* As rp_tree_match(), and fills *st (NULL: not wanted) with the work done. */
void rp_tree_match_stats(rp_tree *t, const uint8_t *topic, size_t len, rp_tree_visit_fn fn,
			 void *ctx, rp_tree_stats *st);

/* Called by rp_tree_subscriptions() for each subscription of one subscriber. */
typedef void (*rp_tree_each_fn)(void *ctx, const uint8_t *filter, size_t len, const rp_sub_opts *o);

/*
 * Calls fn for every subscription of `subscriber`, in the order they were
 * first made (a replacement of the options keeps the place), with its
 * filter ("$share/NAME/F" when shared) and options, both valid only during
 * the call. For persisting a session. fn MUST NOT change the tree. fn NULL
 * only counts. Returns the number of subscriptions. A reader (see
 * Threads); O(subscriptions of that subscriber x filter length); never
 * allocates.
 */
size_t rp_tree_subscriptions(const rp_tree *t, const void *subscriber, rp_tree_each_fn fn,
			     void *ctx);

/* Number of subscriptions held (shared members included). */
size_t rp_tree_count(const rp_tree *t);

/* Number of subscriptions `subscriber` holds (for a per-client limit). */
size_t rp_tree_subscriber_count(const rp_tree *t, const void *subscriber);

/* ------------------------------------------------------------------------
 * Internal: for tests and fuzzing only.
 * ------------------------------------------------------------------------ */

/* As rp_tree_new(), with a fixed hash key: reproducible layouts. */
rp_tree *rp__tree_new_seeded(rp_budget *b, const rp_mqtt_limits *lim, const uint8_t key[16]);

/*
 * Walks the whole tree and checks every invariant (links, counts, hash
 * tables, group indexes, no empty node below the root). Returns 1 when all
 * hold, else 0. O(tree).
 */
int rp__tree_check(const rp_tree *t);

/* Number of nodes, the root included (1 for an empty tree). */
size_t rp__tree_nodes(const rp_tree *t);

#endif /* RP_SERVER_BROKER_TOPIC_TREE_H */
