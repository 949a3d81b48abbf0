/*
 * Unit tests of server/broker/topic_tree: the examples of MQTT 5.0 section
 * 4.7, '$' topics, shared groups, options, removal and pruning, failure
 * injection, a differential test against rp_mqtt_topic_match(), and the
 * proof that matching does not depend on unrelated subscriptions (by
 * counting the work, not by timing it).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/topic_tree.h"
#include "rampart/mqtt.h"
#include "util/alloc.h"

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

#define NSUBSCRIBERS 16
static int who[NSUBSCRIBERS]; /* subscriber i is &who[i] */

#define S(i)   ((void *)&who[(i)])
#define IDX(p) ((int)((int *)(p)-who))

static const uint8_t key0[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

struct visit {
	int who;
	uint32_t sub_id;
	int shared;
	uint8_t qos;
};

#define MAX_VISITS 8192
struct rec {
	struct visit v[MAX_VISITS];
	size_t n;
};

static void record(void *ctx, void *subscriber, const rp_sub_opts *o, int shared)
{
	struct rec *r = ctx;

	assert_true(r->n < MAX_VISITS);
	r->v[r->n].who = IDX(subscriber);
	r->v[r->n].sub_id = o->sub_id;
	r->v[r->n].shared = shared;
	r->v[r->n].qos = o->qos;
	r->n++;
}

static int visit_cmp(const void *a, const void *b)
{
	const struct visit *x = a, *y = b;

	if (x->who != y->who) {
		return x->who < y->who ? -1 : 1;
	}
	if (x->sub_id != y->sub_id) {
		return x->sub_id < y->sub_id ? -1 : 1;
	}
	if (x->shared != y->shared) {
		return x->shared < y->shared ? -1 : 1;
	}
	return 0;
}

static struct rec *rec_new(void)
{
	struct rec *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	return r;
}

/* Matches topic and leaves the visits sorted in r. */
static void match(rp_tree *t, const char *topic, struct rec *r)
{
	r->n = 0;
	rp_tree_match(t, (const uint8_t *)topic, strlen(topic), record, r);
	qsort(r->v, r->n, sizeof(r->v[0]), visit_cmp);
}

static rp_sub_opts opts(uint32_t id)
{
	rp_sub_opts o = {1, 0, 0, 0, id};

	return o;
}

static rp_status sub(rp_tree *t, const char *f, int i, uint32_t id)
{
	rp_sub_opts o = opts(id);

	return rp_tree_subscribe(t, (const uint8_t *)f, strlen(f), S(i), &o, NULL);
}

static int unsub(rp_tree *t, const char *f, int i)
{
	int existed = -1;

	assert_int_equal(rp_tree_unsubscribe(t, (const uint8_t *)f, strlen(f), S(i), &existed),
			 RP_OK);
	return existed;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The ids of the subscriptions that topic reaches, as "id,id,..." in
 * increasing order. With `shared_as_zero`, a shared delivery counts as id 0,
 * so that the answer does not depend on whose turn it is.
 */
static const char *ids_ex(rp_tree *t, const char *topic, int shared_as_zero)
{
	static char out[512];
	uint32_t v[64];
	struct rec *r = rec_new();
	size_t i, o = 0;

	match(t, topic, r);
	assert_true(r->n <= 64);
	for (i = 0; i < r->n; i++) {
		v[i] = (shared_as_zero && r->v[i].shared) ? 0 : r->v[i].sub_id;
	}
	qsort(v, r->n, sizeof(v[0]), u32_cmp);
	out[0] = '\0';
	for (i = 0; i < r->n; i++) {
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%u", i ? "," : "",
				      (unsigned)v[i]);
	}
	free(r);
	return out;
}

static const char *ids(rp_tree *t, const char *topic)
{
	return ids_ex(t, topic, 0);
}

static rp_tree *tree(void)
{
	rp_tree *t = rp_tree_new(NULL, NULL);

	assert_non_null(t);
	return t;
}

/* ------------------------------------------------------------------------
 * Basics and the examples of MQTT 5.0 section 4.7
 * ------------------------------------------------------------------------ */

static void test_empty(void **state)
{
	size_t base = rp_alloc_in_use();
	rp_tree *t = tree();

	(void)state;
	assert_int_equal(rp_tree_count(t), 0);
	assert_int_equal(rp__tree_nodes(t), 1);
	assert_true(rp__tree_check(t));
	assert_string_equal(ids(t, "a"), "");
	rp_tree_match(t, NULL, 0, record, NULL);
	rp_tree_match(t, (const uint8_t *)"a", 0, record, NULL);
	rp_tree_free(t);
	rp_tree_free(NULL);
	assert_int_equal(rp_alloc_in_use(), base);
}

static void test_spec_multi_level(void **state)
{
	rp_tree *t = tree();

	(void)state;
	/* 4.7.1.2: "sport/tennis/player1/#" */
	assert_int_equal(sub(t, "sport/tennis/player1/#", 0, 1), RP_OK);
	assert_string_equal(ids(t, "sport/tennis/player1"), "1");
	assert_string_equal(ids(t, "sport/tennis/player1/ranking"), "1");
	assert_string_equal(ids(t, "sport/tennis/player1/score/wimbledon"), "1");
	assert_string_equal(ids(t, "sport/tennis/player2"), "");
	assert_string_equal(ids(t, "sport/tennis"), "");
	/* "sport/#" also matches the singular "sport". */
	assert_int_equal(sub(t, "sport/#", 0, 2), RP_OK);
	assert_string_equal(ids(t, "sport"), "2");
	assert_string_equal(ids(t, "sport/tennis/player1"), "1,2");
	/* "#" matches everything (that does not start with '$'). */
	assert_int_equal(sub(t, "#", 0, 3), RP_OK);
	assert_string_equal(ids(t, "sport"), "2,3");
	assert_string_equal(ids(t, "x/y/z"), "3");
	assert_string_equal(ids(t, "/"), "3");
	/* Invalid placements are refused and change nothing. */
	assert_int_equal(sub(t, "sport/tennis#", 0, 9), RP_E_TOPIC_FILTER);
	assert_int_equal(sub(t, "sport/tennis/#/ranking", 0, 9), RP_E_TOPIC_FILTER);
	assert_int_equal(rp_tree_count(t), 3);
	assert_true(rp__tree_check(t));
	rp_tree_free(t);
}

static void test_spec_single_level(void **state)
{
	rp_tree *t = tree();

	(void)state;
	/* 4.7.1.3 */
	assert_int_equal(sub(t, "sport/tennis/+", 0, 1), RP_OK);
	assert_string_equal(ids(t, "sport/tennis/player1"), "1");
	assert_string_equal(ids(t, "sport/tennis/player2"), "1");
	assert_string_equal(ids(t, "sport/tennis/player1/ranking"), "");
	assert_int_equal(sub(t, "sport/+", 0, 2), RP_OK);
	assert_string_equal(ids(t, "sport"), "");
	assert_string_equal(ids(t, "sport/"), "2");
	assert_int_equal(sub(t, "+/+", 0, 3), RP_OK);
	assert_int_equal(sub(t, "/+", 0, 4), RP_OK);
	assert_int_equal(sub(t, "+", 0, 5), RP_OK);
	assert_string_equal(ids(t, "/finance"), "3,4");
	assert_string_equal(ids(t, "finance"), "5");
	assert_int_equal(sub(t, "+/tennis/#", 0, 6), RP_OK);
	assert_string_equal(ids(t, "sport/tennis"), "2,3,6");
	assert_int_equal(sub(t, "sport+", 0, 9), RP_E_TOPIC_FILTER);
	assert_int_equal(sub(t, "", 0, 9), RP_E_TOPIC_FILTER);
	assert_true(rp__tree_check(t));
	rp_tree_free(t);
}

static void test_empty_levels(void **state)
{
	rp_tree *t = tree();

	(void)state;
	assert_int_equal(sub(t, "a//b", 0, 1), RP_OK);
	assert_int_equal(sub(t, "a/+/b", 0, 2), RP_OK);
	assert_int_equal(sub(t, "/", 0, 3), RP_OK);
	assert_int_equal(sub(t, "+/+", 0, 4), RP_OK);
	assert_int_equal(sub(t, "//#", 0, 5), RP_OK);
	assert_string_equal(ids(t, "a//b"), "1,2");
	assert_string_equal(ids(t, "a/x/b"), "2");
	assert_string_equal(ids(t, "/"), "3,4,5");
	assert_string_equal(ids(t, "//"), "5");
	assert_string_equal(ids(t, "a/"), "4");
	assert_true(rp__tree_check(t));
	rp_tree_free(t);
}

static void test_dollar_topics(void **state)
{
	rp_tree *t = tree();

	(void)state;
	assert_int_equal(sub(t, "#", 0, 1), RP_OK);
	assert_int_equal(sub(t, "+/monitor/Clients", 0, 2), RP_OK);
	assert_int_equal(sub(t, "$SYS/#", 0, 3), RP_OK);
	assert_int_equal(sub(t, "$SYS/monitor/+", 0, 4), RP_OK);
	assert_int_equal(sub(t, "$share/g/#", 1, 5), RP_OK);
	assert_int_equal(sub(t, "+", 0, 6), RP_OK);
	assert_int_equal(sub(t, "a/+", 0, 7), RP_OK);
	assert_int_equal(sub(t, "a/#", 0, 8), RP_OK);
	/* [MQTT-4.7.2-1]: first-level wildcards never match a '$' topic. */
	assert_string_equal(ids(t, "$SYS/monitor/Clients"), "3,4");
	assert_string_equal(ids(t, "$SYS"), "3");
	assert_string_equal(ids(t, "$"), "");
	assert_string_equal(ids(t, "$x"), "");
	/* Only the first level: '$' further down is an ordinary character. */
	assert_string_equal(ids(t, "a/$x"), "1,5,7,8");
	assert_string_equal(ids(t, "x/monitor/Clients"), "1,2,5");
	rp_tree_free(t);
}

/* ------------------------------------------------------------------------
 * Options, overlap, existence flags
 * ------------------------------------------------------------------------ */

static void test_overlapping(void **state)
{
	rp_tree *t = tree();
	struct rec *r = rec_new();

	(void)state;
	assert_int_equal(sub(t, "a/b", 0, 1), RP_OK);
	assert_int_equal(sub(t, "a/+", 0, 2), RP_OK);
	assert_int_equal(sub(t, "#", 0, 3), RP_OK);
	assert_int_equal(sub(t, "a/b", 1, 4), RP_OK);
	match(t, "a/b", r);
	/* Subscriber 0 three times (the broker merges), subscriber 1 once. */
	assert_int_equal(r->n, 4);
	assert_int_equal(r->v[0].who, 0);
	assert_int_equal(r->v[1].who, 0);
	assert_int_equal(r->v[2].who, 0);
	assert_int_equal(r->v[3].who, 1);
	assert_int_equal(rp_tree_count(t), 4);
	assert_int_equal(rp_tree_subscriber_count(t, S(0)), 3);
	assert_int_equal(rp_tree_subscriber_count(t, S(1)), 1);
	assert_int_equal(rp_tree_subscriber_count(t, S(2)), 0);
	free(r);
	rp_tree_free(t);
}

static void test_replace_options(void **state)
{
	rp_tree *t = tree();
	struct rec *r = rec_new();
	rp_sub_opts o = {2, 1, 1, 2, 77};
	int existed = -1;

	(void)state;
	assert_int_equal(rp_tree_subscribe(t, (const uint8_t *)"a/+", 3, S(0), &o, &existed),
			 RP_OK);
	assert_int_equal(existed, 0);
	o.qos = 0;
	o.sub_id = 78;
	assert_int_equal(rp_tree_subscribe(t, (const uint8_t *)"a/+", 3, S(0), &o, &existed),
			 RP_OK);
	assert_int_equal(existed, 1);
	assert_int_equal(rp_tree_count(t), 1);
	match(t, "a/b", r);
	assert_int_equal(r->n, 1);
	assert_int_equal(r->v[0].sub_id, 78);
	assert_int_equal(r->v[0].qos, 0);
	/* Shared: same group and filter replaces, another group adds. */
	o.no_local = 0;
	assert_int_equal(
		rp_tree_subscribe(t, (const uint8_t *)"$share/g/a/+", 12, S(0), &o, &existed),
		RP_OK);
	assert_int_equal(existed, 0);
	o.sub_id = 79;
	assert_int_equal(
		rp_tree_subscribe(t, (const uint8_t *)"$share/g/a/+", 12, S(0), &o, &existed),
		RP_OK);
	assert_int_equal(existed, 1);
	assert_int_equal(
		rp_tree_subscribe(t, (const uint8_t *)"$share/h/a/+", 12, S(0), &o, &existed),
		RP_OK);
	assert_int_equal(existed, 0);
	assert_int_equal(rp_tree_count(t), 3);
	assert_string_equal(ids(t, "a/b"), "78,79,79");
	assert_true(rp__tree_check(t));
	free(r);
	rp_tree_free(t);
}

static void test_invalid_args(void **state)
{
	rp_mqtt_limits lim;
	rp_tree *t;
	rp_sub_opts o = opts(1);
	int existed = 5;
	const uint8_t bad_utf8[] = {'a', '/', 0xC0, 0x80};

	(void)state;
	rp_mqtt_limits_default(&lim);
	lim.max_topic_len = 12;
	lim.max_topic_levels = 3;
	t = rp_tree_new(NULL, &lim);
	assert_non_null(t);
	assert_int_equal(rp_tree_subscribe(t, NULL, 1, S(0), &o, NULL), RP_E_INVALID_ARG);
	assert_int_equal(rp_tree_subscribe(t, (const uint8_t *)"a", 1, NULL, &o, NULL),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp_tree_subscribe(t, (const uint8_t *)"a", 1, S(0), NULL, NULL),
			 RP_E_INVALID_ARG);
	o.qos = 3;
	assert_int_equal(rp_tree_subscribe(t, (const uint8_t *)"a", 1, S(0), &o, &existed),
			 RP_E_INVALID_ARG);
	assert_int_equal(existed, 5);
	o = opts(1);
	o.retain_handling = 3;
	assert_int_equal(rp_tree_subscribe(t, (const uint8_t *)"a", 1, S(0), &o, NULL),
			 RP_E_INVALID_ARG);
	o = opts(268435456u);
	assert_int_equal(rp_tree_subscribe(t, (const uint8_t *)"a", 1, S(0), &o, NULL),
			 RP_E_INVALID_ARG);
	/* [MQTT-3.8.3-4]: No Local on a shared subscription. */
	o = opts(1);
	o.no_local = 1;
	assert_int_equal(rp_tree_subscribe(t, (const uint8_t *)"$share/g/a", 10, S(0), &o, NULL),
			 RP_E_INVALID_ARG);
	assert_int_equal(rp_tree_subscribe(t, (const uint8_t *)"a", 1, S(0), &o, NULL), RP_OK);
	/* Limits stored at creation. */
	assert_int_equal(sub(t, "a/b/c/d", 0, 1), RP_E_LIMIT);
	assert_int_equal(sub(t, "abcdefghijklm", 0, 1), RP_E_LIMIT);
	assert_int_equal(sub(t, "a/b/c", 0, 1), RP_OK);
	assert_int_equal(rp_tree_subscribe(t, bad_utf8, sizeof(bad_utf8), S(0), &o, NULL),
			 RP_E_UTF8);
	assert_int_equal(sub(t, "$share//a", 0, 1), RP_E_TOPIC_FILTER);
	assert_int_equal(sub(t, "$share/g", 0, 1), RP_E_TOPIC_FILTER);
	assert_int_equal(sub(t, "$share/g+/a", 0, 1), RP_E_TOPIC_FILTER);
	assert_int_equal(rp_tree_unsubscribe(t, (const uint8_t *)"a#", 2, S(0), &existed),
			 RP_E_TOPIC_FILTER);
	assert_int_equal(rp_tree_unsubscribe(t, NULL, 0, S(0), NULL), RP_E_INVALID_ARG);
	assert_int_equal(rp_tree_count(t), 2);
	assert_true(rp__tree_check(t));
	rp_tree_free(t);
}

static void test_unsubscribe_existed(void **state)
{
	rp_tree *t = tree();

	(void)state;
	assert_int_equal(unsub(t, "a/b", 0), 0);
	assert_int_equal(sub(t, "a/b", 0, 1), RP_OK);
	assert_int_equal(sub(t, "$share/g/a/b", 0, 2), RP_OK);
	assert_int_equal(unsub(t, "a/b", 1), 0);   /* another subscriber */
	assert_int_equal(unsub(t, "a/+", 0), 0);   /* another filter */
	assert_int_equal(unsub(t, "a", 0), 0);     /* a prefix: node exists, no sub */
	assert_int_equal(unsub(t, "a/b/c", 0), 0); /* deeper than the tree */
	assert_int_equal(unsub(t, "$share/h/a/b", 0), 0);
	assert_int_equal(rp_tree_count(t), 2);
	assert_int_equal(unsub(t, "a/b", 0), 1);
	assert_int_equal(unsub(t, "a/b", 0), 0);
	assert_string_equal(ids(t, "a/b"), "2");
	assert_int_equal(unsub(t, "$share/g/a/b", 0), 1);
	assert_int_equal(unsub(t, "$share/g/a/b", 0), 0);
	assert_int_equal(rp_tree_count(t), 0);
	assert_int_equal(rp__tree_nodes(t), 1);
	assert_true(rp__tree_check(t));
	rp_tree_free(t);
}

/* ------------------------------------------------------------------------
 * Shared subscriptions
 * ------------------------------------------------------------------------ */

static void count_by_who(rp_tree *t, const char *topic, int rounds, int *hits, int *nonshared)
{
	struct rec *r = rec_new();
	int k;
	size_t i;

	for (k = 0; k < rounds; k++) {
		match(t, topic, r);
		for (i = 0; i < r->n; i++) {
			if (r->v[i].shared) {
				hits[r->v[i].who]++;
			} else {
				(*nonshared)++;
			}
		}
	}
	free(r);
}

static void test_shared_round_robin(void **state)
{
	rp_tree *t = tree();
	int hits[NSUBSCRIBERS] = {0}, plain = 0, i;
	struct rec *r = rec_new();

	(void)state;
	for (i = 0; i < 3; i++) {
		assert_int_equal(sub(t, "$share/g/d/+/telemetry", i, 100), RP_OK);
	}
	for (i = 3; i < 5; i++) {
		assert_int_equal(sub(t, "$share/h/d/+/telemetry", i, 200), RP_OK);
	}
	/* Same name, another filter: another shared subscription. */
	assert_int_equal(sub(t, "$share/g/d/#", 5, 300), RP_OK);
	assert_int_equal(sub(t, "d/+/telemetry", 6, 1), RP_OK);

	/* One delivery per group per message, plus the non-shared one. */
	match(t, "d/7/telemetry", r);
	assert_int_equal(r->n, 4);
	assert_string_equal(ids(t, "d/7/telemetry"), "1,100,200,300");

	memset(hits, 0, sizeof(hits));
	count_by_who(t, "d/7/telemetry", 300, hits, &plain);
	assert_int_equal(plain, 300);
	/* Strict rotation: exactly equal shares. */
	assert_int_equal(hits[0], 100);
	assert_int_equal(hits[1], 100);
	assert_int_equal(hits[2], 100);
	assert_int_equal(hits[3], 150);
	assert_int_equal(hits[4], 150);
	assert_int_equal(hits[5], 300);

	/* A member leaves: the others share evenly. */
	assert_int_equal(unsub(t, "$share/g/d/+/telemetry", 1), 1);
	memset(hits, 0, sizeof(hits));
	count_by_who(t, "d/7/telemetry", 100, hits, &plain);
	assert_int_equal(hits[0], 50);
	assert_int_equal(hits[1], 0);
	assert_int_equal(hits[2], 50);
	/* Members join: they get their turn at once. */
	for (i = 7; i < 12; i++) {
		assert_int_equal(sub(t, "$share/g/d/+/telemetry", i, 100), RP_OK);
	}
	memset(hits, 0, sizeof(hits));
	count_by_who(t, "d/7/telemetry", 700, hits, &plain);
	assert_int_equal(hits[0], 100);
	assert_int_equal(hits[2], 100);
	for (i = 7; i < 12; i++) {
		assert_int_equal(hits[i], 100);
	}
	/* Within any window of n messages, each member exactly once. */
	memset(hits, 0, sizeof(hits));
	count_by_who(t, "d/8/telemetry", 7, hits, &plain);
	assert_int_equal(hits[0], 1);
	assert_int_equal(hits[11], 1);
	assert_true(rp__tree_check(t));
	free(r);
	rp_tree_free(t);
}

/* ------------------------------------------------------------------------
 * Removal, pruning, memory
 * ------------------------------------------------------------------------ */

static void test_unsubscribe_all(void **state)
{
	char f[64];
	rp_tree *t = tree();
	int i;

	(void)state;
	for (i = 0; i < 50; i++) {
		snprintf(f, sizeof(f), "d/%d/+/x", i);
		assert_int_equal(sub(t, f, 0, (uint32_t)i + 1u), RP_OK);
	}
	assert_int_equal(sub(t, "$share/g/d/#", 0, 99), RP_OK);
	assert_int_equal(sub(t, "$share/g/d/#", 1, 98), RP_OK);
	assert_int_equal(sub(t, "d/3/+/x", 1, 97), RP_OK);
	assert_int_equal(rp_tree_count(t), 53);
	assert_int_equal(rp_tree_subscriber_count(t, S(0)), 51);
	rp_tree_unsubscribe_all(t, S(0));
	rp_tree_unsubscribe_all(t, S(0)); /* nothing left: no-op */
	rp_tree_unsubscribe_all(t, S(5)); /* never subscribed */
	assert_int_equal(rp_tree_count(t), 2);
	assert_int_equal(rp_tree_subscriber_count(t, S(0)), 0);
	assert_true(rp__tree_check(t));
	/* Only d, d/#, d/3, d/3/+, d/3/+/x are left, and the root. */
	assert_int_equal(rp__tree_nodes(t), 6);
	assert_string_equal(ids(t, "d/3/y/x"), "97,98");
	rp_tree_unsubscribe_all(t, S(1));
	assert_int_equal(rp__tree_nodes(t), 1);
	assert_int_equal(rp_tree_count(t), 0);
	rp_tree_free(t);
}

static void test_pruning(void **state)
{
	rp_tree *t = tree();

	(void)state;
	assert_int_equal(sub(t, "a/b/c/d", 0, 1), RP_OK);
	assert_int_equal(sub(t, "a/b", 0, 2), RP_OK);
	assert_int_equal(sub(t, "a/+/#", 0, 3), RP_OK);
	assert_int_equal(rp__tree_nodes(t), 7);
	assert_int_equal(unsub(t, "a/b/c/d", 0), 1);
	/* c and d go; b stays (it holds a subscription). */
	assert_int_equal(rp__tree_nodes(t), 5);
	assert_int_equal(unsub(t, "a/b", 0), 1);
	assert_int_equal(rp__tree_nodes(t), 4);
	assert_int_equal(unsub(t, "a/+/#", 0), 1);
	assert_int_equal(rp__tree_nodes(t), 1);
	assert_true(rp__tree_check(t));
	rp_tree_free(t);
}

static void test_churn_memory(void **state)
{
	char f[64];
	rp_tree *t;
	size_t base;
	int i;

	(void)state;
	t = tree();
	base = rp_alloc_in_use();
	/* One at a time, 100,000 distinct filters and shared groups. */
	for (i = 0; i < 100000; i++) {
		snprintf(f, sizeof(f), (i & 1) ? "d/%d/+/x/#" : "$share/g%d/d/%d", i, i);
		assert_int_equal(sub(t, f, i % NSUBSCRIBERS, 1), RP_OK);
		assert_int_equal(unsub(t, f, i % NSUBSCRIBERS), 1);
	}
	assert_int_equal(rp_alloc_in_use(), base);
	assert_int_equal(rp__tree_nodes(t), 1);
	/* Many at once, then all removed: tables shrink back to nothing. */
	for (i = 0; i < 20000; i++) {
		snprintf(f, sizeof(f), "x/%d/y", i);
		assert_int_equal(sub(t, f, i % NSUBSCRIBERS, 1), RP_OK);
		snprintf(f, sizeof(f), "$share/g/x/%d", i % 100);
		assert_int_equal(sub(t, f, i % NSUBSCRIBERS, 1), RP_OK);
	}
	assert_true(rp__tree_check(t));
	assert_true(rp_alloc_in_use() > base);
	for (i = 0; i < 20000; i++) {
		snprintf(f, sizeof(f), "x/%d/y", i);
		assert_int_equal(unsub(t, f, i % NSUBSCRIBERS), 1);
	}
	for (i = 0; i < NSUBSCRIBERS; i++) {
		rp_tree_unsubscribe_all(t, S(i));
	}
	assert_int_equal(rp_tree_count(t), 0);
	assert_int_equal(rp__tree_nodes(t), 1);
	assert_int_equal(rp_alloc_in_use(), base);
	assert_true(rp__tree_check(t));
	rp_tree_free(t);
}

static void test_budget(void **state)
{
	rp_budget b = {4096, 0};
	char f[64];
	rp_tree *t = rp_tree_new(&b, NULL);
	rp_status st = RP_OK;
	int i;

	(void)state;
	assert_non_null(t);
	for (i = 0; i < 1000 && st == RP_OK; i++) {
		snprintf(f, sizeof(f), "dev/%d/telemetry", i);
		st = sub(t, f, 0, 1);
	}
	/* The budget stops the tree, cleanly. */
	assert_int_equal(st, RP_E_NOMEM);
	assert_true(b.used <= b.cap);
	assert_true(rp__tree_check(t));
	assert_int_equal(rp_tree_count(t), (size_t)i - 1u);
	rp_tree_unsubscribe_all(t, S(0));
	rp_tree_free(t);
	assert_int_equal(b.used, 0);
}

/* ------------------------------------------------------------------------
 * Failure injection
 * ------------------------------------------------------------------------ */

/* Everything observable about t, to compare before and after a failure. */
static void snapshot(rp_tree *t, const char *const *topics, size_t ntopics, char *out, size_t cap)
{
	size_t i, o = 0;

	o += (size_t)snprintf(out + o, cap - o, "count=%zu nodes=%zu s0=%zu;", rp_tree_count(t),
			      rp__tree_nodes(t), rp_tree_subscriber_count(t, S(0)));
	for (i = 0; i < ntopics; i++) {
		o += (size_t)snprintf(out + o, cap - o, "%s:%s;", topics[i],
				      ids_ex(t, topics[i], 1));
	}
}

static void test_nomem_subscribe(void **state)
{
	static const char *const setup[] = {"a/b", "$share/g/a/b", "x/y/z", "a/+/c"};
	static const char *const cases[] = {
		"a/b/c/d/e/f/g/h",  /* a fresh deep path below an existing node */
		"n/+/o/#",          /* a fresh path from the root, with wildcards */
		"$share/g/a/b",     /* an existing group, a second member */
		"$share/new/q/r/+", /* a new group on a new path */
		"a/b",              /* existing node, new subscriber (new owner) */
		"$share/g/a/b",     /* a third member: the member array grows */
	};
	static const char *const topics[] = {"a/b",   "a/b/c/d/e/f/g/h", "n/1/o",
					     "q/r/s", "a/x/c",           "x/y/z"};
	char before[2048], after[2048];
	rp_tree *t = tree();
	size_t i, mem, k;
	long n;
	rp_status st;

	(void)state;
	for (i = 0; i < 4; i++) {
		assert_int_equal(sub(t, setup[i], 0, 7), RP_OK);
	}
	/* Fill the root (8 of 16 slots) so that its table grows for "n". */
	for (i = 0; i < 6; i++) {
		char f[16];

		snprintf(f, sizeof(f), "r%zu", i);
		assert_int_equal(sub(t, f, 0, 7), RP_OK);
	}
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		int who_k = 1 + (int)k;

		for (n = 0;; n++) {
			snapshot(t, topics, 6, before, sizeof(before));
			mem = rp_alloc_in_use();
			rp_alloc_fail_after(n);
			st = sub(t, cases[k], who_k, 50 + (uint32_t)k);
			rp_alloc_fail_after(-1);
			assert_true(rp__tree_check(t));
			if (st == RP_OK) {
				break;
			}
			assert_int_equal(st, RP_E_NOMEM);
			/* Unchanged: same answers, and not a byte more memory. */
			snapshot(t, topics, 6, after, sizeof(after));
			assert_string_equal(before, after);
			assert_int_equal(rp_alloc_in_use(), mem);
		}
		assert_true(n > 0);
		assert_true(rp_tree_subscriber_count(t, S(who_k)) == 1);
	}
	/* Removal under memory pressure still works (shrinking is optional). */
	rp_alloc_fail_after(0);
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		rp_tree_unsubscribe_all(t, S(1 + (int)k));
	}
	rp_tree_unsubscribe_all(t, S(0));
	rp_alloc_fail_after(-1);
	assert_int_equal(rp_tree_count(t), 0);
	assert_int_equal(rp__tree_nodes(t), 1);
	assert_true(rp__tree_check(t));
	rp_tree_free(t);
}

static void test_nomem_new(void **state)
{
	rp_tree *t = NULL;
	size_t base = rp_alloc_in_use();
	long n;

	(void)state;
	for (n = 0; t == NULL; n++) {
		rp_alloc_fail_after(n);
		t = rp_tree_new(NULL, NULL);
		rp_alloc_fail_after(-1);
		if (t == NULL) {
			assert_int_equal(rp_alloc_in_use(), base);
		}
	}
	assert_true(n > 1);
	rp_tree_free(t);
	assert_int_equal(rp_alloc_in_use(), base);
}

static void test_match_does_not_allocate(void **state)
{
	rp_tree *t = tree();
	struct rec *r = rec_new();

	(void)state;
	assert_int_equal(sub(t, "a/+/c", 0, 1), RP_OK);
	assert_int_equal(sub(t, "$share/g/a/#", 1, 2), RP_OK);
	rp_alloc_fail_after(0);
	match(t, "a/b/c", r);
	rp_alloc_fail_after(-1);
	assert_int_equal(r->n, 2);
	free(r);
	rp_tree_free(t);
}

static void test_deep_and_long(void **state)
{
	rp_mqtt_limits lim;
	char f[4096];
	rp_tree *t;
	size_t i, o = 0;

	(void)state;
	memset(&lim, 0xff, sizeof(lim));
	(void)rp_mqtt_limits_clamp(&lim); /* the hard caps: 32 levels, 1024 bytes */
	t = rp_tree_new(NULL, &lim);
	assert_non_null(t);
	for (i = 0; i < 31; i++) {
		o += (size_t)snprintf(f + o, sizeof(f) - o, "l/");
	}
	snprintf(f + o, sizeof(f) - o, "+");
	assert_int_equal(sub(t, f, 0, 1), RP_OK); /* 32 levels */
	snprintf(f + o, sizeof(f) - o, "+/#");
	assert_int_equal(sub(t, f, 0, 2), RP_E_LIMIT);
	snprintf(f + o, sizeof(f) - o, "#");
	assert_int_equal(sub(t, f, 0, 3), RP_OK);
	assert_int_equal(sub(t, "#", 0, 4), RP_OK);
	/* A topic of 32 levels, then 33, then 1000. */
	snprintf(f + o, sizeof(f) - o, "z");
	assert_string_equal(ids(t, f), "1,3,4");
	snprintf(f + o, sizeof(f) - o, "z/z");
	assert_string_equal(ids(t, f), "3,4");
	for (i = 0, o = 0; i < 1000; i++) {
		o += (size_t)snprintf(f + o, sizeof(f) - o, "l/");
	}
	f[o - 1u] = '\0';
	assert_string_equal(ids(t, f), "3,4");
	assert_true(rp__tree_check(t));
	rp_tree_free(t);
}

/* ------------------------------------------------------------------------
 * Differential test against a brute-force list and rp_mqtt_topic_match()
 * ------------------------------------------------------------------------ */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

static void random_filter(char *out, size_t cap, int topic)
{
	static const char *const levels[] = {"a", "b", "$x", "", "+", "#"};
	size_t n = 1u + rnd(4), i, o = 0;
	const char *l;

	for (i = 0; i < n; i++) {
		l = levels[rnd(topic ? 4u : 6u)];
		if (l[0] == '#' && i + 1u != n) {
			l = "+";
		}
		if (l[0] == '\0' && n == 1u) {
			l = "a"; /* an empty filter or topic is not valid */
		}
		o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "/" : "", l);
	}
}

#define MODEL_MAX 8192
struct model_sub {
	char f[32];
	int who;
	uint32_t id;
};

static void test_differential(void **state)
{
	static struct model_sub model[MODEL_MAX];
	size_t nmodel = 0, i, j, step;
	struct rec *r = rec_new();
	struct visit *want = calloc(MAX_VISITS, sizeof(*want));
	char f[32], topic[32];
	rp_tree *t = tree();
	uint32_t id = 1;
	int w, existed;

	(void)state;
	assert_non_null(want);
	rng_state = 0x9E3779B97F4A7C15ull;
	for (step = 0; step < 60000; step++) {
		uint32_t op = rnd(10);

		random_filter(f, sizeof(f), 0);
		w = (int)rnd(8);
		for (i = 0; i < nmodel; i++) {
			if (model[i].who == w && strcmp(model[i].f, f) == 0) {
				break;
			}
		}
		if (op < 5) {
			rp_sub_opts o = opts(id);

			assert_int_equal(rp_tree_subscribe(t, (const uint8_t *)f, strlen(f), S(w),
							   &o, &existed),
					 RP_OK);
			assert_int_equal(existed, i < nmodel);
			if (i == nmodel) {
				assert_true(nmodel < MODEL_MAX);
				nmodel++;
			}
			snprintf(model[i].f, sizeof(model[i].f), "%s", f);
			model[i].who = w;
			model[i].id = id++;
		} else if (op < 8) {
			assert_int_equal(unsub(t, f, w), i < nmodel);
			if (i < nmodel) {
				model[i] = model[--nmodel];
			}
		} else if (op == 8 && rnd(50) == 0) {
			rp_tree_unsubscribe_all(t, S(w));
			for (i = 0; i < nmodel;) {
				if (model[i].who == w) {
					model[i] = model[--nmodel];
				} else {
					i++;
				}
			}
		} else {
			random_filter(topic, sizeof(topic), 1);
			match(t, topic, r);
			for (i = 0, j = 0; i < nmodel; i++) {
				if (rp_mqtt_topic_match((const uint8_t *)model[i].f,
							strlen(model[i].f), (const uint8_t *)topic,
							strlen(topic))) {
					want[j].who = model[i].who;
					want[j].sub_id = model[i].id;
					want[j].shared = 0;
					j++;
				}
			}
			qsort(want, j, sizeof(want[0]), visit_cmp);
			assert_int_equal(r->n, j);
			for (i = 0; i < j; i++) {
				assert_int_equal(visit_cmp(&r->v[i], &want[i]), 0);
			}
		}
		assert_int_equal(rp_tree_count(t), nmodel);
		if (step % 5000 == 0) {
			assert_true(rp__tree_check(t));
		}
	}
	assert_true(rp__tree_check(t));
	free(want);
	free(r);
	rp_tree_free(t);
}

/* ------------------------------------------------------------------------
 * The complexity claim: count the work, do not time it
 * ------------------------------------------------------------------------ */

static void ignore(void *ctx, void *subscriber, const rp_sub_opts *o, int shared)
{
	(void)ctx;
	(void)subscriber;
	(void)o;
	(void)shared;
}

/* The subscriptions that match "d/dev42/telemetry", and unrelated ones. */
static rp_tree *complexity_tree(int unrelated, rp_tree_stats *st)
{
	static const char *const relevant[] = {
		"d/dev42/telemetry",        "d/+/telemetry", "d/dev42/#", "#",
		"$share/svc/d/+/telemetry", "+/+/+"};
	rp_tree *t = rp__tree_new_seeded(NULL, NULL, key0);
	char f[64];
	int i;

	assert_non_null(t);
	for (i = 0; i < 6; i++) {
		assert_int_equal(sub(t, relevant[i], i, 1), RP_OK);
	}
	/*
	 * Unrelated, in the worst places: siblings of every node on the
	 * matching paths (other devices, other subtopics under '+', other
	 * first levels), so they share the very tables the match looks in.
	 */
	for (i = 0; i < unrelated; i++) {
		switch (i % 4) {
		case 0:
			snprintf(f, sizeof(f), "d/dev%d/telemetry", 1000 + i);
			break;
		case 1:
			snprintf(f, sizeof(f), "d/+/cmd%d", i);
			break;
		case 2:
			snprintf(f, sizeof(f), "top%d/#", i);
			break;
		default:
			snprintf(f, sizeof(f), "d/dev42/x%d/+", i);
			break;
		}
		assert_int_equal(sub(t, f, i % NSUBSCRIBERS, 2), RP_OK);
	}
	rp_tree_match_stats(t, (const uint8_t *)"d/dev42/telemetry", 17, ignore, NULL, st);
	return t;
}

static void test_complexity_independent_of_unrelated(void **state)
{
	rp_tree_stats small, big;
	rp_tree *a, *b;
	int i;

	(void)state;
	a = complexity_tree(10, &small);
	b = complexity_tree(100000, &big);
	assert_int_equal(rp_tree_count(b), 100006);
	print_message("match d/dev42/telemetry: %zu unrelated: nodes %zu lookups %zu probes %zu "
		      "visits %zu\n",
		      (size_t)10, small.nodes, small.lookups, small.probes, small.visits);
	print_message("match d/dev42/telemetry: %zu unrelated: nodes %zu lookups %zu probes %zu "
		      "visits %zu\n",
		      (size_t)100000, big.nodes, big.lookups, big.probes, big.visits);
	assert_int_equal(small.visits, 6);
	assert_int_equal(big.visits, small.visits);
	assert_int_equal(big.nodes, small.nodes);
	assert_int_equal(big.lookups, small.lookups);
	/*
	 * Probes: each lookup examines its home slot plus the run of
	 * neighbours before a hole; with keyed hashing and load <= 1/2 the run
	 * is short whatever the table size (the key is fixed here, so the
	 * numbers are reproducible).
	 */
	assert_true(big.probes <= big.lookups * 4u);
	/*
	 * Averaged over 1000 devices spread over the 25,000 entries of the
	 * table of "d" (early entries sit at their home slot more often).
	 */
	memset(&small, 0, sizeof(small));
	for (i = 0; i < 1000; i++) {
		char topic[64];

		snprintf(topic, sizeof(topic), "d/dev%d/telemetry", 1000 + 100 * i);
		rp_tree_match_stats(b, (const uint8_t *)topic, strlen(topic), ignore, NULL, &big);
		assert_int_equal(big.lookups, 4); /* in root, d, d/devN and d/+ */
		small.lookups += big.lookups;
		small.probes += big.probes;
	}
	print_message("1000 other devices in the 100,000 tree: %zu lookups, %zu probes\n",
		      small.lookups, small.probes);
	assert_true(small.probes * 2u <= small.lookups * 3u); /* < 1.5 probes per lookup */
	rp_tree_free(a);
	rp_tree_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_spec_multi_level),
		cmocka_unit_test(test_spec_single_level),
		cmocka_unit_test(test_empty_levels),
		cmocka_unit_test(test_dollar_topics),
		cmocka_unit_test(test_overlapping),
		cmocka_unit_test(test_replace_options),
		cmocka_unit_test(test_invalid_args),
		cmocka_unit_test(test_unsubscribe_existed),
		cmocka_unit_test(test_shared_round_robin),
		cmocka_unit_test(test_unsubscribe_all),
		cmocka_unit_test(test_pruning),
		cmocka_unit_test(test_churn_memory),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_nomem_subscribe),
		cmocka_unit_test(test_nomem_new),
		cmocka_unit_test(test_match_does_not_allocate),
		cmocka_unit_test(test_deep_and_long),
		cmocka_unit_test(test_differential),
		cmocka_unit_test(test_complexity_independent_of_unrelated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
