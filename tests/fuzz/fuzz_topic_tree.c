/*
 * fuzz_topic_tree.c - libFuzzer target for the broker's subscription tree
 * (server/broker/topic_tree.h), checked against a brute-force model: a
 * plain list of subscriptions matched one by one with rp_mqtt_topic_match().
 *
 * Input: one option byte, then operations until the input ends.
 *   option byte, bit 0: limits: 0 = defaults, 1 = tight (16 bytes, 4 levels)
 *   operation: a code byte C, then its arguments.
 *     C & 7           kind (below)
 *     (C >> 3) & 7    subscriber 0..7
 *     C >> 6          a small count (repeats, options)
 *   kinds
 *     0, 1  subscribe a built filter     args: FILTER, options byte
 *     2     unsubscribe a built filter   args: FILTER
 *     3     match a built topic          args: TOPIC (run 1 + C>>6 times)
 *     4     unsubscribe_all
 *     5     subscribe with failure injection: args: n, FILTER, options byte;
 *           allocation n (0..31) and every later one fails
 *     6     subscribe (C>>6 even) or unsubscribe a raw filter: args: length
 *           byte (0..23), then that many raw bytes
 *     7     match a raw topic: args: length byte (0..23), raw bytes
 *   FILTER: a byte F, then 1 + (F & 3) level bytes; bit 2 prefixes
 *           "$share/gN/" with N = (F >> 3) & 3. Level byte L picks
 *           "a", "b", "+", "#", "$x", "", "ab" or "$share" (L & 7); '#'
 *           anywhere but last makes an invalid filter, on purpose.
 *   TOPIC:  a byte T, then 1 + (T & 3) level bytes from "a", "b", "$x", "",
 *           "ab", "$share", "+" (invalid), "c".
 *   A missing byte reads as 0.
 *
 * Oracles (any failure aborts):
 * - subscribe and unsubscribe return what rp_mqtt_topic_filter_check()
 *   returns for an invalid filter, and RP_OK for a valid one (RP_E_NOMEM
 *   only under failure injection); `existed` agrees with the model.
 * - After RP_E_NOMEM: the tree is consistent, has the same count, and holds
 *   not one byte more memory than before.
 * - match of a valid topic: each matching non-shared subscription visited
 *   exactly once, with its current options; each matching shared group
 *   (group name and filter) exactly once, through one of its members; and
 *   over R repeats, the members of each group are visited evenly (counts
 *   differ by at most one: strict rotation).
 * - After every operation rp__tree_check() holds and the counts agree; at
 *   the end, unsubscribe_all of everyone leaves only the root and gives
 *   every byte back.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/topic_tree.h"
#include "rampart/mqtt.h"
#include "rampart/status.h"
#include "util/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			check_failed(#cond, __LINE__);                                             \
		}                                                                                  \
	} while (0)

#define NWHO       8
#define MODEL_MAX  256
#define STR_MAX    64
#define VISITS_MAX (MODEL_MAX + 8)
#define REPEAT_MAX 4

_Noreturn static void check_failed(const char *what, int line)
{
	fprintf(stderr, "fuzz_topic_tree: invariant failed at line %d: %s\n", line, what);
	abort();
}

static int who[NWHO];

struct entry {
	uint8_t f[STR_MAX]; /* the whole filter, "$share/..." included */
	size_t flen;
	int shared;
	rp_mqtt_str group, inner; /* views into f (inner == f when not shared) */
	int who;
	uint32_t id;
	rp_sub_opts o;
};

struct model {
	struct entry e[MODEL_MAX];
	size_t n;
	uint32_t next_id;
};

struct input {
	const uint8_t *p;
	size_t len;
};

static uint8_t next(struct input *in)
{
	uint8_t b;

	if (in->len == 0) {
		return 0;
	}
	b = *in->p++;
	in->len--;
	return b;
}

/* ------------------------------------------------------------------------
 * Building filters and topics
 * ------------------------------------------------------------------------ */

static size_t append(uint8_t *out, size_t o, const char *s)
{
	size_t n = strlen(s);

	if (o + n <= STR_MAX) {
		memcpy(out + o, s, n);
		o += n;
	}
	return o;
}

static size_t build_filter(struct input *in, uint8_t *out)
{
	static const char *const levels[8] = {"a", "b", "+", "#", "$x", "", "ab", "$share"};
	static const char *const groups[4] = {"$share/g0/", "$share/g1/", "$share/g2/",
					      "$share/g3/"};
	uint8_t f = next(in);
	size_t n = 1u + (f & 3u), i, o = 0;

	if (f & 4u) {
		o = append(out, o, groups[(f >> 3) & 3u]);
	}
	for (i = 0; i < n; i++) {
		if (i != 0) {
			o = append(out, o, "/");
		}
		o = append(out, o, levels[next(in) & 7u]);
	}
	return o;
}

static size_t build_topic(struct input *in, uint8_t *out)
{
	static const char *const levels[8] = {"a", "b", "$x", "", "ab", "$share", "+", "c"};
	uint8_t f = next(in);
	size_t n = 1u + (f & 3u), i, o = 0;

	for (i = 0; i < n; i++) {
		if (i != 0) {
			o = append(out, o, "/");
		}
		o = append(out, o, levels[next(in) & 7u]);
	}
	return o;
}

static size_t raw_bytes(struct input *in, uint8_t *out)
{
	size_t n = next(in) % 24u, i;

	for (i = 0; i < n; i++) {
		out[i] = next(in);
	}
	return n;
}

static rp_sub_opts build_opts(uint8_t b, int shared)
{
	rp_sub_opts o;

	o.qos = (uint8_t)(b % 3u);
	o.no_local = shared ? 0 : (uint8_t)((b >> 2) & 1u);
	o.retain_as_published = (uint8_t)((b >> 3) & 1u);
	o.retain_handling = (uint8_t)(((b >> 4) & 3u) % 3u);
	o.sub_id = 0;
	return o;
}

/* ------------------------------------------------------------------------
 * The model
 * ------------------------------------------------------------------------ */

static struct entry *model_find(struct model *m, const uint8_t *f, size_t len, int w)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		if (m->e[i].who == w && m->e[i].flen == len && memcmp(m->e[i].f, f, len) == 0) {
			return &m->e[i];
		}
	}
	return NULL;
}

static void model_set(struct entry *e, const uint8_t *f, size_t len, int w, const rp_sub_opts *o)
{
	memmove(e->f, f, len);
	e->flen = len;
	e->who = w;
	e->o = *o;
	e->id = o->sub_id;
	e->shared = rp_mqtt_topic_shared_split(e->f, len, &e->group, &e->inner);
	if (!e->shared) {
		e->inner.p = e->f;
		e->inner.len = (uint32_t)len;
	}
}

static void model_remove(struct model *m, struct entry *e)
{
	*e = m->e[--m->n];
	/* The views pointed into the old place: set them again. */
	if (e != &m->e[m->n]) {
		model_set(e, e->f, e->flen, e->who, &e->o);
	}
}

static int same_group(const struct entry *a, const struct entry *b)
{
	return a->shared && b->shared && a->group.len == b->group.len &&
	       memcmp(a->group.p, b->group.p, a->group.len) == 0 && a->inner.len == b->inner.len &&
	       memcmp(a->inner.p, b->inner.p, a->inner.len) == 0;
}

/* ------------------------------------------------------------------------
 * Operations
 * ------------------------------------------------------------------------ */

struct visits {
	size_t n;
	struct {
		int who;
		int shared;
		rp_sub_opts o;
	} v[VISITS_MAX];
};

static void on_visit(void *ctx, void *subscriber, const rp_sub_opts *o, int shared)
{
	struct visits *vs = ctx;
	int w = (int)((int *)subscriber - who);

	CHECK(w >= 0 && w < NWHO);
	CHECK(vs->n < VISITS_MAX);
	vs->v[vs->n].who = w;
	vs->v[vs->n].o = *o;
	vs->v[vs->n].shared = shared;
	vs->n++;
}

static void do_subscribe(rp_tree *t, struct model *m, const uint8_t *f, size_t len, int w,
			 uint8_t ob, long fail_after, const rp_mqtt_limits *lim)
{
	rp_status want = rp_mqtt_topic_filter_check(f, len, lim), st;
	int shared = want == RP_OK && rp_mqtt_topic_shared_split(f, len, NULL, NULL);
	rp_sub_opts o = build_opts(ob, shared);
	struct entry *e = want == RP_OK ? model_find(m, f, len, w) : NULL;
	size_t mem = rp_alloc_in_use(), count = rp_tree_count(t);
	int existed = -1;

	if (want == RP_OK && e == NULL && m->n == MODEL_MAX) {
		return; /* the model is full */
	}
	o.sub_id = ++m->next_id;
	rp_alloc_fail_after(fail_after);
	st = rp_tree_subscribe(t, f, len, &who[w], &o, &existed);
	rp_alloc_fail_after(-1);
	if (st == RP_E_NOMEM) {
		CHECK(fail_after >= 0 && want == RP_OK);
		CHECK(e == NULL); /* a replacement does not allocate */
		CHECK(existed == -1);
		CHECK(rp_tree_count(t) == count);
		CHECK(rp_alloc_in_use() == mem);
		return;
	}
	CHECK(st == want);
	if (st != RP_OK) {
		CHECK(existed == -1);
		return;
	}
	CHECK(existed == (e != NULL));
	if (e == NULL) {
		e = &m->e[m->n++];
	}
	model_set(e, f, len, w, &o);
}

static void do_unsubscribe(rp_tree *t, struct model *m, const uint8_t *f, size_t len, int w,
			   const rp_mqtt_limits *lim)
{
	rp_status want = rp_mqtt_topic_filter_check(f, len, lim);
	struct entry *e = want == RP_OK ? model_find(m, f, len, w) : NULL;
	int existed = -1;

	CHECK(rp_tree_unsubscribe(t, f, len, &who[w], &existed) == want);
	if (want != RP_OK) {
		return;
	}
	CHECK(existed == (e != NULL));
	if (e != NULL) {
		model_remove(m, e);
	}
}

static void do_unsubscribe_all(rp_tree *t, struct model *m, int w)
{
	size_t i;

	rp_tree_unsubscribe_all(t, &who[w]);
	for (i = 0; i < m->n;) {
		if (m->e[i].who == w) {
			model_remove(m, &m->e[i]);
		} else {
			i++;
		}
	}
	CHECK(rp_tree_subscriber_count(t, &who[w]) == 0);
}

static int opts_equal(const rp_sub_opts *a, const rp_sub_opts *b)
{
	return a->qos == b->qos && a->no_local == b->no_local &&
	       a->retain_as_published == b->retain_as_published &&
	       a->retain_handling == b->retain_handling && a->sub_id == b->sub_id;
}

static void do_match(rp_tree *t, struct model *m, const uint8_t *topic, size_t len, int repeats,
		     const rp_mqtt_limits *lim)
{
	static struct visits vs;
	/* rep[i]: the first matching member of i's group (i itself if not shared). */
	size_t rep[MODEL_MAX], i, j, expect = 0;
	int matched[MODEL_MAX], hits[MODEL_MAX], seen[MODEL_MAX];
	int r, lo[MODEL_MAX], hi[MODEL_MAX];

	vs.n = 0;
	if (rp_mqtt_topic_name_check(topic, len, lim) != RP_OK) {
		/* Not a valid name: any bytes must still be safe. */
		rp_tree_match(t, topic, len, on_visit, &vs);
		return;
	}
	for (i = 0; i < m->n; i++) {
		matched[i] = rp_mqtt_topic_match(m->e[i].inner.p, m->e[i].inner.len, topic, len);
		hits[i] = 0;
		rep[i] = i;
		if (matched[i] && m->e[i].shared) {
			for (j = 0; j < i && !(matched[j] && same_group(&m->e[j], &m->e[i])); j++) {
			}
			rep[i] = j < i ? rep[j] : i;
		}
		expect += matched[i] && rep[i] == i;
	}
	for (r = 0; r < repeats; r++) {
		vs.n = 0;
		rp_tree_match(t, topic, len, on_visit, &vs);
		CHECK(vs.n == expect);
		memset(seen, 0, sizeof(seen));
		for (j = 0; j < vs.n; j++) {
			/* A visit is a matching subscription, with its current options... */
			for (i = 0; i < m->n && m->e[i].id != vs.v[j].o.sub_id; i++) {
			}
			CHECK(i < m->n);
			CHECK(matched[i]);
			CHECK(m->e[i].who == vs.v[j].who);
			CHECK(m->e[i].shared == vs.v[j].shared);
			CHECK(opts_equal(&m->e[i].o, &vs.v[j].o));
			/* ... once per subscription, or once per group, per message. */
			CHECK(!seen[rep[i]]);
			seen[rep[i]] = 1;
			hits[i]++;
		}
	}
	/* Strict rotation: over the repeats, members' turns differ by <= 1. */
	for (i = 0; i < m->n; i++) {
		lo[i] = repeats;
		hi[i] = 0;
	}
	for (i = 0; i < m->n; i++) {
		if (matched[i] && m->e[i].shared) {
			lo[rep[i]] = hits[i] < lo[rep[i]] ? hits[i] : lo[rep[i]];
			hi[rep[i]] = hits[i] > hi[rep[i]] ? hits[i] : hi[rep[i]];
		}
	}
	for (i = 0; i < m->n; i++) {
		if (matched[i] && m->e[i].shared && rep[i] == i) {
			CHECK(hi[i] - lo[i] <= 1);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct model m;
	struct input in = {data, size};
	uint8_t buf[STR_MAX], c;
	static const uint8_t key[16] = {'r', 'a', 'm', 'p', 'a', 'r', 't', '-',
					'f', 'u', 'z', 'z', 't', 'r', 'e', 'e'};
	rp_mqtt_limits lim;
	size_t base, len;
	rp_tree *t;
	int w;
	long n;

	rp_mqtt_limits_default(&lim);
	if (next(&in) & 1u) {
		lim.max_topic_len = 16;
		lim.max_topic_levels = 4;
	}
	base = rp_alloc_in_use();
	t = rp__tree_new_seeded(NULL, &lim, key);
	CHECK(t != NULL);
	memset(&m, 0, sizeof(m));

	while (in.len > 0) {
		c = next(&in);
		w = (c >> 3) & 7;
		switch (c & 7u) {
		case 0:
		case 1:
			len = build_filter(&in, buf);
			do_subscribe(t, &m, buf, len, w, next(&in), -1, &lim);
			break;
		case 2:
			len = build_filter(&in, buf);
			do_unsubscribe(t, &m, buf, len, w, &lim);
			break;
		case 3:
			len = build_topic(&in, buf);
			do_match(t, &m, buf, len, 1 + (c >> 6), &lim);
			break;
		case 4:
			do_unsubscribe_all(t, &m, w);
			break;
		case 5:
			n = next(&in) & 31;
			len = build_filter(&in, buf);
			do_subscribe(t, &m, buf, len, w, next(&in), n, &lim);
			break;
		case 6:
			len = raw_bytes(&in, buf);
			if ((c >> 6) % 2u == 0) {
				do_subscribe(t, &m, buf, len, w, c, -1, &lim);
			} else {
				do_unsubscribe(t, &m, buf, len, w, &lim);
			}
			break;
		default:
			len = raw_bytes(&in, buf);
			do_match(t, &m, buf, len, 1 + (c >> 6), &lim);
			break;
		}
		CHECK(rp_tree_count(t) == m.n);
		CHECK(rp__tree_check(t));
	}

	for (w = 0; w < NWHO; w++) {
		do_unsubscribe_all(t, &m, w);
	}
	CHECK(m.n == 0);
	CHECK(rp_tree_count(t) == 0);
	CHECK(rp__tree_nodes(t) == 1);
	CHECK(rp__tree_check(t));
	rp_tree_free(t);
	CHECK(rp_alloc_in_use() == base);
	return 0;
}
