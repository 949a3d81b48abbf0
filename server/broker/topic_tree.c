/*
 * topic_tree.c - the broker's subscription tree: a trie by topic level.
 *
 * State
 * - A node stands for one filter prefix. Its children are split three ways:
 *   exact levels in a hash table (`kids`), and two dedicated pointers for
 *   the '+' and '#' children. A node holds the non-shared subscriptions of
 *   its filter in a list, and its shared groups in another.
 * - Three tree-wide hash tables index what a writer must find without
 *   scanning: subscriptions by (node, group, subscriber), groups by (node,
 *   name), and owners (one per subscriber, with the list of its
 *   subscriptions) by subscriber.
 * - All tables are open addressing with linear probing and backward-shift
 *   deletion (no tombstones), at most half full. Each slot keeps the full
 *   64-bit hash, so a probe compares a word before touching the entry.
 *
 * Invariants (rp__tree_check() verifies all of them)
 * - Every node but the root leads to at least one subscription: removal
 *   prunes upward, so subscribe/unsubscribe churn cannot grow the tree.
 * - A '#' node has no children. Depth <= RP_LIMIT_MQTT_TOPIC_LEVELS, because
 *   every filter passed rp_mqtt_topic_filter_check(); this bounds the
 *   recursion of match and check.
 * - A group has at least one member; members[i]->gidx == i.
 * - t->count == entries of t->subs == sum of owner counts.
 *
 * Attacker
 * - Filters and topics come from devices. Level hashes are SipHash-1-3
 *   under a per-tree key from getrandom(2), so a peer cannot pick levels
 *   that collide and turn a lookup into a scan of its siblings.
 * - A subscribe either fully happens or changes nothing: every allocation
 *   it needs (new nodes, grown tables, group, subscription, owner) is made
 *   first (plan_make); linking it in (plan_commit) cannot fail.
 * - Removal never allocates except to shrink a table, and a failed shrink
 *   only leaves the table larger.
 * - match touches only nodes on paths that can match: for each level it
 *   does one lookup among the node's exact children and follows '+' and
 *   '#'. Its only write is the atomic rotation counter of a shared group.
 */
#include "broker/topic_tree.h"
#include "util/siphash.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>

#include "rampart/limits.h"

#define MAX_LEVELS RP_LIMIT_MQTT_TOPIC_LEVELS
#define TAB_MIN    2u
#define GROUP_MIN  2u
#define SUB_ID_MAX 268435455u

typedef char topic_tree_levels_fit_mask[(MAX_LEVELS <= 64u) ? 1 : -1];

enum { KIND_ROOT, KIND_EXACT, KIND_PLUS, KIND_HASH };

/* ------------------------------------------------------------------------
 * Structures
 * ------------------------------------------------------------------------ */

struct slot {
	uint64_t h;
	void *p; /* NULL: empty */
};

struct table {
	struct slot *slot; /* NULL when cap == 0 */
	size_t cap;        /* 0 or a power of two */
	size_t n;
};

struct node {
	struct node *parent;
	struct table kids;    /* exact-level children */
	struct node *plus;    /* the '+' child */
	struct node *hash;    /* the '#' child */
	struct sub *subs;     /* non-shared subscriptions of this filter */
	struct group *groups; /* shared groups of this filter */
	uint64_t h;           /* hash of label, the key in parent->kids */
	uint16_t len;
	uint8_t kind;
	uint8_t label[];
};

struct group {
	struct node *node;
	struct group *next, *prev; /* node->groups */
	struct sub **members;
	size_t n, cap;
	atomic_size_t cursor; /* rotation: next message goes to cursor % n */
	uint64_t h;           /* key (node, name) in t->groups */
	uint16_t len;
	uint8_t name[];
};

struct owner {
	void *subscriber;
	struct sub *head;
	size_t n;
	uint64_t h; /* key subscriber in t->owners */
};

struct sub {
	struct node *node;
	struct group *group; /* NULL: not shared */
	void *subscriber;
	struct owner *owner;
	struct sub *next, *prev;   /* node->subs (not shared) */
	struct sub *onext, *oprev; /* owner->head */
	size_t gidx;               /* index in group->members (shared) */
	uint64_t h;                /* key (node, group, subscriber) in t->subs */
	rp_sub_opts opts;
};

struct rp_tree {
	rp_budget *b;
	rp_mqtt_limits lim;
	uint64_t k0, k1;
	struct node *root;
	struct table subs, groups, owners;
	size_t count; /* subscriptions */
	size_t nodes; /* root included */
};

/* One level of a filter. */
struct level {
	const uint8_t *p;
	size_t len;
	uint64_t h;
	int kind;
};

/* ------------------------------------------------------------------------
 * Hashing: SipHash-1-3 keyed per tree (util/siphash.h)
 * ------------------------------------------------------------------------ */

static uint64_t hash_bytes(const rp_tree *t, const uint8_t *p, size_t len)
{
	return rp_siphash13(t->k0, t->k1, p, len);
}

static uint64_t hash_owner(const rp_tree *t, const void *subscriber)
{
	uint8_t buf[sizeof(subscriber)];

	memcpy(buf, &subscriber, sizeof(subscriber));
	return hash_bytes(t, buf, sizeof(buf));
}

static uint64_t hash_sub(const rp_tree *t, const struct node *n, const struct group *g,
			 const void *subscriber)
{
	uint8_t buf[sizeof(n) + sizeof(g) + sizeof(subscriber)];

	memcpy(buf, &n, sizeof(n));
	memcpy(buf + sizeof(n), &g, sizeof(g));
	memcpy(buf + sizeof(n) + sizeof(g), &subscriber, sizeof(subscriber));
	return hash_bytes(t, buf, sizeof(buf));
}

static uint64_t hash_group(const rp_tree *t, const struct node *n, const uint8_t *name, size_t len)
{
	uint8_t buf[sizeof(n) + 8u];
	uint64_t hn = hash_bytes(t, name, len);

	memcpy(buf, &n, sizeof(n));
	memcpy(buf + sizeof(n), &hn, 8u);
	return hash_bytes(t, buf, sizeof(buf));
}

/* ------------------------------------------------------------------------
 * Hash tables: linear probing, backward-shift deletion, load <= 1/2
 * ------------------------------------------------------------------------ */

/* A table array allocated ahead of a commit; slot NULL: nothing to do. */
struct prep {
	struct slot *slot;
	size_t cap;
};

typedef int (*eq_fn)(const void *entry, const void *key);

static void *tab_find(const struct table *tab, uint64_t h, eq_fn eq, const void *key,
		      size_t *probes)
{
	size_t mask, i;

	if (tab->cap == 0) {
		return NULL;
	}
	mask = tab->cap - 1u;
	for (i = (size_t)h & mask;; i = (i + 1u) & mask) {
		const struct slot *s = &tab->slot[i];

		if (probes != NULL) {
			(*probes)++;
		}
		if (s->p == NULL) {
			return NULL;
		}
		if (s->h == h && eq(s->p, key)) {
			return s->p;
		}
	}
}

/* Inserts without checking capacity: the caller made room (load stays <= 1/2). */
static void tab_put(struct table *tab, uint64_t h, void *p)
{
	size_t mask = tab->cap - 1u, i;

	for (i = (size_t)h & mask; tab->slot[i].p != NULL; i = (i + 1u) & mask) {
	}
	tab->slot[i].h = h;
	tab->slot[i].p = p;
	tab->n++;
}

/* Moves every entry of tab into the fresh array of pr, frees the old one. */
static void tab_install(rp_tree *t, struct table *tab, struct prep *pr)
{
	struct table old = *tab;
	size_t i;

	if (pr->slot == NULL) {
		return;
	}
	tab->slot = pr->slot;
	tab->cap = pr->cap;
	tab->n = 0;
	pr->slot = NULL;
	for (i = 0; i < old.cap; i++) {
		if (old.slot[i].p != NULL) {
			tab_put(tab, old.slot[i].h, old.slot[i].p);
		}
	}
	rp_free(t->b, old.slot);
}

/* Makes ready an array big enough for `want` entries, if tab's is not. */
static rp_status tab_prepare(rp_tree *t, const struct table *tab, size_t want, struct prep *pr)
{
	size_t cap = tab->cap < TAB_MIN ? TAB_MIN : tab->cap;

	pr->slot = NULL;
	if (want <= tab->cap / 2u) {
		return RP_OK;
	}
	if (want > SIZE_MAX / 4u / sizeof(struct slot)) {
		return RP_E_NOMEM;
	}
	while (want > cap / 2u) {
		cap *= 2u;
	}
	pr->slot = rp_calloc(t->b, cap, sizeof(struct slot));
	if (pr->slot == NULL) {
		return RP_E_NOMEM;
	}
	pr->cap = cap;
	return RP_OK;
}

/* Gives memory back after removals. A failed allocation keeps the table as it is. */
static void tab_shrink(rp_tree *t, struct table *tab)
{
	struct prep pr;
	size_t cap;

	if (tab->n == 0) {
		rp_free(t->b, tab->slot);
		tab->slot = NULL;
		tab->cap = 0;
		return;
	}
	if (tab->cap <= TAB_MIN || tab->n > tab->cap / 8u) {
		return;
	}
	for (cap = TAB_MIN; cap < tab->n * 4u; cap *= 2u) {
	}
	pr.slot = rp_calloc(t->b, cap, sizeof(struct slot));
	if (pr.slot == NULL) {
		return;
	}
	pr.cap = cap;
	tab_install(t, tab, &pr);
}

/* Removes entry p (present, with hash h); later entries of its run shift back. */
static void tab_del(rp_tree *t, struct table *tab, uint64_t h, const void *p)
{
	size_t mask = tab->cap - 1u, i, j, home;

	for (i = (size_t)h & mask; tab->slot[i].p != p; i = (i + 1u) & mask) {
	}
	/*
	 * Backward shift: an entry at j may move into the hole at i only if
	 * its home slot is not cyclically in (i, j].
	 */
	for (j = (i + 1u) & mask; tab->slot[j].p != NULL; j = (j + 1u) & mask) {
		home = (size_t)tab->slot[j].h & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			tab->slot[i] = tab->slot[j];
			i = j;
		}
	}
	tab->slot[i].p = NULL;
	tab->slot[i].h = 0;
	tab->n--;
	tab_shrink(t, tab);
}

static void prep_drop(rp_tree *t, struct prep *pr)
{
	rp_free(t->b, pr->slot);
	pr->slot = NULL;
}

/* ------------------------------------------------------------------------
 * Lookups
 * ------------------------------------------------------------------------ */

static int eq_label(const void *entry, const void *key)
{
	const struct node *n = entry;
	const struct level *l = key;

	return n->len == l->len && memcmp(n->label, l->p, l->len) == 0;
}

struct group_key {
	const struct node *node;
	const uint8_t *name;
	size_t len;
};

static int eq_group(const void *entry, const void *key)
{
	const struct group *g = entry;
	const struct group_key *k = key;

	return g->node == k->node && g->len == k->len && memcmp(g->name, k->name, k->len) == 0;
}

struct sub_key {
	const struct node *node;
	const struct group *group;
	const void *subscriber;
};

static int eq_sub(const void *entry, const void *key)
{
	const struct sub *s = entry;
	const struct sub_key *k = key;

	return s->node == k->node && s->group == k->group && s->subscriber == k->subscriber;
}

static int eq_owner(const void *entry, const void *key)
{
	const struct owner *o = entry;

	return o->subscriber == key;
}

static struct node *child_of(const struct node *n, const struct level *l, size_t *probes)
{
	switch (l->kind) {
	case KIND_PLUS:
		return n->plus;
	case KIND_HASH:
		return n->hash;
	default:
		return tab_find(&n->kids, l->h, eq_label, l, probes);
	}
}

static struct group *find_group(const rp_tree *t, const struct node *n, const uint8_t *name,
				size_t len)
{
	struct group_key k = {n, name, len};

	return tab_find(&t->groups, hash_group(t, n, name, len), eq_group, &k, NULL);
}

static struct sub *find_sub(const rp_tree *t, const struct node *n, const struct group *g,
			    const void *subscriber)
{
	struct sub_key k = {n, g, subscriber};

	return tab_find(&t->subs, hash_sub(t, n, g, subscriber), eq_sub, &k, NULL);
}

static struct owner *find_owner(const rp_tree *t, const void *subscriber)
{
	return tab_find(&t->owners, hash_owner(t, subscriber), eq_owner, subscriber, NULL);
}

/* ------------------------------------------------------------------------
 * Filters
 * ------------------------------------------------------------------------ */

/* Splits a checked (non-shared) filter into levels; returns how many. */
static size_t split_levels(const rp_tree *t, const uint8_t *f, size_t len, struct level *lv)
{
	size_t n = 0, i = 0, start;

	for (;;) {
		start = i;
		while (i < len && f[i] != '/') {
			i++;
		}
		lv[n].p = f + start;
		lv[n].len = i - start;
		lv[n].h = 0;
		if (lv[n].len == 1u && f[start] == '+') {
			lv[n].kind = KIND_PLUS;
		} else if (lv[n].len == 1u && f[start] == '#') {
			lv[n].kind = KIND_HASH;
		} else {
			lv[n].kind = KIND_EXACT;
			lv[n].h = hash_bytes(t, lv[n].p, lv[n].len);
		}
		n++;
		if (i == len || n == MAX_LEVELS) {
			return n;
		}
		i++; /* the '/' */
	}
}

static int opts_ok(const rp_sub_opts *o, int shared)
{
	if (o->qos > 2u || o->retain_handling > 2u || o->no_local > 1u ||
	    o->retain_as_published > 1u || o->sub_id > SUB_ID_MAX) {
		return 0;
	}
	return !(shared && o->no_local); /* [MQTT-3.8.3-4] */
}

/* A filter, checked and taken apart. */
struct parsed {
	int shared;
	const uint8_t *name; /* group name when shared */
	size_t name_len;
	struct level lv[MAX_LEVELS];
	size_t nlev;
};

static rp_status parse_filter(const rp_tree *t, const uint8_t *f, size_t len, struct parsed *pf)
{
	rp_mqtt_str group, inner;
	rp_status st;

	st = rp_mqtt_topic_filter_check(f, len, &t->lim);
	if (st != RP_OK) {
		return st;
	}
	pf->shared = rp_mqtt_topic_shared_split(f, len, &group, &inner);
	if (pf->shared) {
		pf->name = group.p;
		pf->name_len = group.len;
		pf->nlev = split_levels(t, inner.p, inner.len, pf->lv);
	} else {
		pf->name = NULL;
		pf->name_len = 0;
		pf->nlev = split_levels(t, f, len, pf->lv);
	}
	return RP_OK;
}

/* Deepest existing node on the filter's path; *depth levels were found. */
static struct node *walk(const rp_tree *t, const struct parsed *pf, size_t *depth)
{
	struct node *n = t->root, *c;
	size_t d;

	for (d = 0; d < pf->nlev; d++) {
		c = child_of(n, &pf->lv[d], NULL);
		if (c == NULL) {
			break;
		}
		n = c;
	}
	*depth = d;
	return n;
}

/* ------------------------------------------------------------------------
 * Subscribe: plan (allocate everything), then commit (cannot fail)
 * ------------------------------------------------------------------------ */

struct plan {
	struct node *attach;            /* existing node the new path hangs from */
	struct prep attach_kids;        /* growth of attach->kids */
	struct node *nodes[MAX_LEVELS]; /* new nodes, parent first */
	struct prep kids[MAX_LEVELS];   /* kids[i]: first table of nodes[i] */
	size_t nnew;
	struct group *group; /* the group joined (shared) */
	int new_group;
	struct prep groups;
	struct sub **members; /* grown member array, or NULL */
	size_t members_cap;
	struct sub *sub;
	struct prep subs;
	struct owner *owner;
	int new_owner;
	struct prep owners;
};

static struct node *node_new(rp_tree *t, const struct level *l)
{
	size_t len = l->kind == KIND_EXACT ? l->len : 0;
	struct node *n = rp_calloc(t->b, 1, sizeof(*n) + len);

	if (n == NULL) {
		return NULL;
	}
	n->kind = (uint8_t)l->kind;
	n->len = (uint16_t)len;
	n->h = l->h;
	if (len != 0) {
		memcpy(n->label, l->p, len);
	}
	return n;
}

static void plan_drop(rp_tree *t, struct plan *pl)
{
	size_t i;

	prep_drop(t, &pl->attach_kids);
	for (i = 0; i < pl->nnew; i++) {
		prep_drop(t, &pl->kids[i]);
		rp_free(t->b, pl->nodes[i]);
	}
	if (pl->new_group) {
		rp_free(t->b, pl->group);
	}
	prep_drop(t, &pl->groups);
	rp_free(t->b, pl->members);
	rp_free(t->b, pl->sub);
	prep_drop(t, &pl->subs);
	if (pl->new_owner) {
		rp_free(t->b, pl->owner);
	}
	prep_drop(t, &pl->owners);
}

/*
 * Allocates everything the new subscription needs below `attach` (found at
 * `depth`), and `group` if it exists already. Changes nothing in the tree.
 */
static rp_status plan_make(rp_tree *t, struct plan *pl, const struct parsed *pf,
			   struct node *attach, size_t depth, struct group *group, void *subscriber)
{
	struct node *parent;
	struct prep *pr;
	size_t d, cap;

	pl->attach = attach;
	for (d = depth; d < pf->nlev; d++) {
		pl->nodes[pl->nnew] = node_new(t, &pf->lv[d]);
		if (pl->nodes[pl->nnew] == NULL) {
			return RP_E_NOMEM;
		}
		pl->nnew++;
		if (pf->lv[d].kind != KIND_EXACT) {
			continue;
		}
		/* Room in the table of the node that gets this exact child. */
		parent = d == depth ? attach : pl->nodes[d - depth - 1u];
		pr = d == depth ? &pl->attach_kids : &pl->kids[d - depth - 1u];
		if (tab_prepare(t, &parent->kids, parent->kids.n + 1u, pr) != RP_OK) {
			return RP_E_NOMEM;
		}
	}
	if (pf->shared) {
		pl->group = group;
		if (group == NULL) {
			pl->group = rp_calloc(t->b, 1, sizeof(struct group) + pf->name_len);
			if (pl->group == NULL) {
				return RP_E_NOMEM;
			}
			pl->new_group = 1;
			pl->group->len = (uint16_t)pf->name_len;
			memcpy(pl->group->name, pf->name, pf->name_len);
			atomic_init(&pl->group->cursor, 0);
			if (tab_prepare(t, &t->groups, t->groups.n + 1u, &pl->groups) != RP_OK) {
				return RP_E_NOMEM;
			}
		}
		if (pl->group->n == pl->group->cap) {
			cap = pl->group->cap == 0 ? GROUP_MIN : pl->group->cap * 2u;
			pl->members = rp_calloc(t->b, cap, sizeof(struct sub *));
			if (pl->members == NULL) {
				return RP_E_NOMEM;
			}
			pl->members_cap = cap;
		}
	}
	pl->sub = rp_calloc(t->b, 1, sizeof(struct sub));
	if (pl->sub == NULL) {
		return RP_E_NOMEM;
	}
	if (tab_prepare(t, &t->subs, t->subs.n + 1u, &pl->subs) != RP_OK) {
		return RP_E_NOMEM;
	}
	pl->owner = find_owner(t, subscriber);
	if (pl->owner == NULL) {
		pl->owner = rp_calloc(t->b, 1, sizeof(struct owner));
		if (pl->owner == NULL) {
			return RP_E_NOMEM;
		}
		pl->new_owner = 1;
		pl->owner->subscriber = subscriber;
		pl->owner->h = hash_owner(t, subscriber);
		if (tab_prepare(t, &t->owners, t->owners.n + 1u, &pl->owners) != RP_OK) {
			return RP_E_NOMEM;
		}
	}
	return RP_OK;
}

static void link_child(struct node *parent, struct node *c)
{
	c->parent = parent;
	switch (c->kind) {
	case KIND_PLUS:
		parent->plus = c;
		break;
	case KIND_HASH:
		parent->hash = c;
		break;
	default:
		tab_put(&parent->kids, c->h, c);
		break;
	}
}

static void plan_commit(rp_tree *t, struct plan *pl, void *subscriber, const rp_sub_opts *o)
{
	struct node *n = pl->attach;
	struct group *g = pl->group;
	struct sub *s = pl->sub;
	struct owner *ow = pl->owner;
	size_t i;

	tab_install(t, &n->kids, &pl->attach_kids);
	for (i = 0; i < pl->nnew; i++) {
		tab_install(t, &pl->nodes[i]->kids, &pl->kids[i]);
		link_child(n, pl->nodes[i]);
		n = pl->nodes[i];
	}
	t->nodes += pl->nnew;
	pl->nnew = 0;

	if (g != NULL) {
		if (pl->new_group) {
			g->node = n;
			g->h = hash_group(t, n, g->name, g->len);
			g->next = n->groups;
			if (n->groups != NULL) {
				n->groups->prev = g;
			}
			n->groups = g;
			tab_install(t, &t->groups, &pl->groups);
			tab_put(&t->groups, g->h, g);
			pl->new_group = 0;
		}
		if (pl->members != NULL) {
			if (g->n != 0) {
				memcpy(pl->members, g->members, g->n * sizeof(struct sub *));
			}
			rp_free(t->b, g->members);
			g->members = pl->members;
			g->cap = pl->members_cap;
			pl->members = NULL;
		}
		s->gidx = g->n;
		g->members[g->n++] = s;
	} else {
		s->next = n->subs;
		if (n->subs != NULL) {
			n->subs->prev = s;
		}
		n->subs = s;
	}

	s->node = n;
	s->group = g;
	s->subscriber = subscriber;
	s->opts = *o;
	s->h = hash_sub(t, n, g, subscriber);
	tab_install(t, &t->subs, &pl->subs);
	tab_put(&t->subs, s->h, s);
	pl->sub = NULL;

	if (pl->new_owner) {
		tab_install(t, &t->owners, &pl->owners);
		tab_put(&t->owners, ow->h, ow);
		pl->new_owner = 0;
	}
	s->owner = ow;
	s->onext = ow->head;
	if (ow->head != NULL) {
		ow->head->oprev = s;
	}
	ow->head = s;
	ow->n++;
	t->count++;
}

rp_status rp_tree_subscribe(rp_tree *t, const uint8_t *filter, size_t len, void *subscriber,
			    const rp_sub_opts *o, int *existed)
{
	struct parsed pf;
	struct plan pl;
	struct node *n;
	struct group *g = NULL;
	struct sub *s;
	size_t depth;
	rp_status st;

	if (t == NULL || filter == NULL || subscriber == NULL || o == NULL) {
		return RP_E_INVALID_ARG;
	}
	st = parse_filter(t, filter, len, &pf);
	if (st != RP_OK) {
		return st;
	}
	if (!opts_ok(o, pf.shared)) {
		return RP_E_INVALID_ARG;
	}
	n = walk(t, &pf, &depth);
	if (depth == pf.nlev) {
		if (pf.shared) {
			g = find_group(t, n, pf.name, pf.name_len);
		}
		s = (!pf.shared || g != NULL) ? find_sub(t, n, g, subscriber) : NULL;
		if (s != NULL) {
			s->opts = *o;
			if (existed != NULL) {
				*existed = 1;
			}
			return RP_OK;
		}
	}
	memset(&pl, 0, sizeof(pl));
	st = plan_make(t, &pl, &pf, n, depth, g, subscriber);
	if (st == RP_OK) {
		plan_commit(t, &pl, subscriber, o);
		if (existed != NULL) {
			*existed = 0;
		}
	}
	plan_drop(t, &pl);
	return st;
}

/* ------------------------------------------------------------------------
 * Removal
 * ------------------------------------------------------------------------ */

static int node_empty(const struct node *n)
{
	return n->subs == NULL && n->groups == NULL && n->kids.n == 0 && n->plus == NULL &&
	       n->hash == NULL;
}

/* Frees n and every ancestor that no longer leads to a subscription. */
static void prune(rp_tree *t, struct node *n)
{
	struct node *parent;

	while (n->kind != KIND_ROOT && node_empty(n)) {
		parent = n->parent;
		switch (n->kind) {
		case KIND_PLUS:
			parent->plus = NULL;
			break;
		case KIND_HASH:
			parent->hash = NULL;
			break;
		default:
			tab_del(t, &parent->kids, n->h, n);
			break;
		}
		rp_free(t->b, n->kids.slot);
		rp_free(t->b, n);
		t->nodes--;
		n = parent;
	}
}

static void group_leave(rp_tree *t, struct group *g, struct sub *s)
{
	struct node *n = g->node;
	struct sub **arr;
	size_t cap;

	g->n--;
	g->members[s->gidx] = g->members[g->n];
	g->members[s->gidx]->gidx = s->gidx;
	g->members[g->n] = NULL;
	if (g->n == 0) {
		if (g->prev != NULL) {
			g->prev->next = g->next;
		} else {
			n->groups = g->next;
		}
		if (g->next != NULL) {
			g->next->prev = g->prev;
		}
		tab_del(t, &t->groups, g->h, g);
		rp_free(t->b, g->members);
		rp_free(t->b, g);
		return;
	}
	if (g->cap > GROUP_MIN && g->n <= g->cap / 4u) {
		cap = g->cap / 2u;
		arr = rp_calloc(t->b, cap, sizeof(struct sub *));
		if (arr != NULL) {
			memcpy(arr, g->members, g->n * sizeof(struct sub *));
			rp_free(t->b, g->members);
			g->members = arr;
			g->cap = cap;
		}
	}
}

static void sub_remove(rp_tree *t, struct sub *s)
{
	struct owner *ow = s->owner;
	struct node *n = s->node;

	tab_del(t, &t->subs, s->h, s);
	if (s->oprev != NULL) {
		s->oprev->onext = s->onext;
	} else {
		ow->head = s->onext;
	}
	if (s->onext != NULL) {
		s->onext->oprev = s->oprev;
	}
	if (--ow->n == 0) {
		tab_del(t, &t->owners, ow->h, ow);
		rp_free(t->b, ow);
	}
	if (s->group != NULL) {
		group_leave(t, s->group, s);
	} else {
		if (s->prev != NULL) {
			s->prev->next = s->next;
		} else {
			n->subs = s->next;
		}
		if (s->next != NULL) {
			s->next->prev = s->prev;
		}
	}
	rp_free(t->b, s);
	t->count--;
	prune(t, n);
}

rp_status rp_tree_unsubscribe(rp_tree *t, const uint8_t *filter, size_t len, void *subscriber,
			      int *existed)
{
	struct parsed pf;
	struct node *n;
	struct group *g = NULL;
	struct sub *s = NULL;
	size_t depth;
	rp_status st;

	if (t == NULL || filter == NULL || subscriber == NULL) {
		return RP_E_INVALID_ARG;
	}
	st = parse_filter(t, filter, len, &pf);
	if (st != RP_OK) {
		return st;
	}
	n = walk(t, &pf, &depth);
	if (depth == pf.nlev) {
		if (pf.shared) {
			g = find_group(t, n, pf.name, pf.name_len);
		}
		if (!pf.shared || g != NULL) {
			s = find_sub(t, n, g, subscriber);
		}
	}
	if (s != NULL) {
		sub_remove(t, s);
	}
	if (existed != NULL) {
		*existed = s != NULL;
	}
	return RP_OK;
}

void rp_tree_unsubscribe_all(rp_tree *t, void *subscriber)
{
	struct owner *ow;
	struct sub *s, *next;

	if (t == NULL) {
		return;
	}
	ow = find_owner(t, subscriber);
	if (ow == NULL) {
		return;
	}
	/* The last sub_remove() frees ow; `next` is read before each removal. */
	for (s = ow->head; s != NULL; s = next) {
		next = s->onext;
		sub_remove(t, s);
	}
}

/*
 * Rebuilds the filter of s into out[0 .. cap) ("$share/NAME/F" for a
 * shared subscription). Returns its length, or 0 if it does not fit.
 */
static size_t filter_of(const struct sub *s, uint8_t *out, size_t cap)
{
	const struct node *path[MAX_LEVELS + 1u];
	const struct node *n;
	size_t depth = 0, len = 0, i;

	for (n = s->node; n != NULL && n->kind != KIND_ROOT && depth <= MAX_LEVELS; n = n->parent) {
		path[depth++] = n;
	}
	if (s->group != NULL) {
		const struct group *g = s->group;

		if (7u + g->len + 1u > cap) {
			return 0;
		}
		memcpy(out, "$share/", 7);
		memcpy(out + 7, g->name, g->len);
		out[7u + g->len] = '/';
		len = 7u + g->len + 1u;
	}
	for (i = depth; i-- > 0;) {
		const struct node *lv = path[i];
		size_t l = lv->kind == KIND_EXACT ? lv->len : 1u;

		if (len + l + 1u > cap) {
			return 0;
		}
		if (i + 1u < depth) {
			out[len++] = '/';
		}
		if (lv->kind == KIND_PLUS) {
			out[len] = '+';
		} else if (lv->kind == KIND_HASH) {
			out[len] = '#';
		} else if (l != 0) {
			memcpy(out + len, lv->label, l);
		}
		len += l;
	}
	return len;
}

size_t rp_tree_unsubscribe_if(rp_tree *t, void *subscriber, rp_tree_keep_fn keep, void *ctx)
{
	uint8_t filter[RP_LIMIT_MQTT_TOPIC_LEN + 8u];
	struct owner *ow;
	struct sub *s, *next;
	size_t removed = 0, total, len;

	if (t == NULL || keep == NULL) {
		return 0;
	}
	ow = find_owner(t, subscriber);
	if (ow == NULL) {
		return 0;
	}
	total = ow->n;
	/* The last sub_remove() frees ow: stop by count, not by reading ow. */
	for (s = ow->head; s != NULL && total > 0; s = next, total--) {
		next = s->onext;
		len = filter_of(s, filter, sizeof(filter));
		if (len == 0 || !keep(ctx, filter, len)) {
			sub_remove(t, s);
			removed++;
		}
	}
	return removed;
}

size_t rp_tree_subscriptions(const rp_tree *t, const void *subscriber, rp_tree_each_fn fn,
			     void *ctx)
{
	uint8_t filter[RP_LIMIT_MQTT_TOPIC_LEN + 8u];
	const struct owner *ow;
	const struct sub *s;
	size_t len;

	if (t == NULL) {
		return 0;
	}
	ow = find_owner(t, subscriber);
	if (ow == NULL) {
		return 0;
	}
	if (fn == NULL) {
		return ow->n;
	}
	/* New subscriptions are put at the head: walk from the tail, oldest first. */
	for (s = ow->head; s->onext != NULL; s = s->onext) {
	}
	for (; s != NULL; s = s->oprev) {
		len = filter_of(s, filter, sizeof(filter));
		if (len != 0) {
			fn(ctx, filter, len, &s->opts);
		}
	}
	return ow->n;
}

/* ------------------------------------------------------------------------
 * Match
 * ------------------------------------------------------------------------ */

struct mctx {
	const rp_tree *t;
	rp_tree_visit_fn fn;
	void *ctx;
	rp_tree_stats *st;
	int dollar;     /* topic starts with '$': no wildcard at the first level */
	size_t nlev;    /* levels of the topic, MAX_LEVELS + 1 for "more" */
	uint64_t known; /* bit d: lv[d].h is computed */
	struct level lv[MAX_LEVELS];
};

/* Visits the subscriptions held at n: each non-shared one, one member per group. */
static void deliver(struct mctx *m, const struct node *n)
{
	const struct sub *s;
	struct group *g;
	size_t i;

	for (s = n->subs; s != NULL; s = s->next) {
		m->st->visits++;
		m->fn(m->ctx, s->subscriber, &s->opts, 0);
	}
	for (g = n->groups; g != NULL; g = g->next) {
		/*
		 * The one write a reader makes: a relaxed atomic increment, so
		 * that concurrent matches each take their own turn.
		 */
		i = atomic_fetch_add_explicit(&g->cursor, 1, memory_order_relaxed) % g->n;
		m->st->visits++;
		m->fn(m->ctx, g->members[i]->subscriber, &g->members[i]->opts, 1);
	}
}

/*
 * n sits at depth d and its filter prefix matches the topic's first d
 * levels. Recursion depth <= MAX_LEVELS + 1, as the tree's depth.
 */
static void match_node(struct mctx *m, const struct node *n, size_t d)
{
	int wild = !(d == 0 && m->dollar);
	struct level *l;
	const struct node *c;

	m->st->nodes++;
	if (d == m->nlev) {
		/* The whole topic is consumed: this filter, and "filter/#". */
		deliver(m, n);
		if (n->hash != NULL) {
			m->st->nodes++;
			deliver(m, n->hash);
		}
		return;
	}
	if (n->hash != NULL && wild) {
		m->st->nodes++;
		deliver(m, n->hash);
	}
	if (d >= MAX_LEVELS) {
		return; /* no node is deeper than MAX_LEVELS */
	}
	if (n->kids.n != 0) {
		l = &m->lv[d];
		if (!(m->known & ((uint64_t)1 << d))) {
			l->h = hash_bytes(m->t, l->p, l->len);
			m->known |= (uint64_t)1 << d;
		}
		m->st->lookups++;
		c = tab_find(&n->kids, l->h, eq_label, l, &m->st->probes);
		if (c != NULL) {
			match_node(m, c, d + 1u);
		}
	}
	if (n->plus != NULL && wild) {
		match_node(m, n->plus, d + 1u);
	}
}

void rp_tree_match_stats(rp_tree *t, const uint8_t *topic, size_t len, rp_tree_visit_fn fn,
			 void *ctx, rp_tree_stats *st)
{
	struct mctx m;
	rp_tree_stats ignored;
	size_t i = 0, start;

	if (st == NULL) {
		st = &ignored;
	}
	memset(st, 0, sizeof(*st));
	if (t == NULL || topic == NULL || len == 0 || fn == NULL) {
		return;
	}
	m.t = t;
	m.fn = fn;
	m.ctx = ctx;
	m.st = st;
	m.dollar = topic[0] == '$';
	m.known = 0;
	/* Split at most MAX_LEVELS levels: deeper ones cannot meet any node. */
	for (m.nlev = 0;; m.nlev++) {
		if (m.nlev == MAX_LEVELS) {
			m.nlev = MAX_LEVELS + 1u;
			break;
		}
		start = i;
		while (i < len && topic[i] != '/') {
			i++;
		}
		m.lv[m.nlev].p = topic + start;
		m.lv[m.nlev].len = i - start;
		m.lv[m.nlev].kind = KIND_EXACT;
		if (i == len) {
			m.nlev++;
			break;
		}
		i++; /* the '/' */
	}
	match_node(&m, t->root, 0);
}

void rp_tree_match(rp_tree *t, const uint8_t *topic, size_t len, rp_tree_visit_fn fn, void *ctx)
{
	rp_tree_match_stats(t, topic, len, fn, ctx, NULL);
}

/* ------------------------------------------------------------------------
 * Life cycle and counts
 * ------------------------------------------------------------------------ */

rp_tree *rp__tree_new_seeded(rp_budget *b, const rp_mqtt_limits *lim, const uint8_t key[16])
{
	rp_tree *t = rp_calloc(b, 1, sizeof(*t));

	if (t == NULL) {
		return NULL;
	}
	t->root = rp_calloc(b, 1, sizeof(struct node));
	if (t->root == NULL) {
		rp_free(b, t);
		return NULL;
	}
	t->root->kind = KIND_ROOT;
	t->b = b;
	if (lim != NULL) {
		t->lim = *lim;
	} else {
		rp_mqtt_limits_default(&t->lim);
	}
	(void)rp_mqtt_limits_clamp(&t->lim);
	t->k0 = rp_le64(key);
	t->k1 = rp_le64(key + 8);
	t->nodes = 1;
	return t;
}

rp_tree *rp_tree_new(rp_budget *b, const rp_mqtt_limits *lim)
{
	uint8_t key[16];
	size_t got = 0;
	ssize_t r;
	rp_tree *t = NULL;

	while (got < sizeof(key)) {
		r = getrandom(key + got, sizeof(key) - got, 0);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			goto out; /* fail closed: no tree with a guessable key */
		}
		got += (size_t)r;
	}
	t = rp__tree_new_seeded(b, lim, key);
out:
	rp_wipe(key, sizeof(key));
	return t;
}

/* Frees n's subtree: subscriptions and groups first, then nodes. */
static void free_subtree(rp_tree *t, struct node *n)
{
	struct sub *s, *sn;
	struct group *g, *gn;
	size_t i;

	for (s = n->subs; s != NULL; s = sn) {
		sn = s->next;
		rp_free(t->b, s);
	}
	for (g = n->groups; g != NULL; g = gn) {
		gn = g->next;
		for (i = 0; i < g->n; i++) {
			rp_free(t->b, g->members[i]);
		}
		rp_free(t->b, g->members);
		rp_free(t->b, g);
	}
	for (i = 0; i < n->kids.cap; i++) {
		if (n->kids.slot[i].p != NULL) {
			free_subtree(t, n->kids.slot[i].p);
		}
	}
	if (n->plus != NULL) {
		free_subtree(t, n->plus);
	}
	if (n->hash != NULL) {
		free_subtree(t, n->hash);
	}
	rp_free(t->b, n->kids.slot);
	rp_free(t->b, n);
}

void rp_tree_free(rp_tree *t)
{
	size_t i;

	if (t == NULL) {
		return;
	}
	free_subtree(t, t->root);
	for (i = 0; i < t->owners.cap; i++) {
		rp_free(t->b, t->owners.slot[i].p);
	}
	rp_free(t->b, t->owners.slot);
	rp_free(t->b, t->subs.slot);
	rp_free(t->b, t->groups.slot);
	rp_free(t->b, t);
}

size_t rp_tree_count(const rp_tree *t)
{
	return t == NULL ? 0 : t->count;
}

size_t rp_tree_subscriber_count(const rp_tree *t, const void *subscriber)
{
	const struct owner *ow;

	if (t == NULL) {
		return 0;
	}
	ow = find_owner(t, subscriber);
	return ow == NULL ? 0 : ow->n;
}

size_t rp__tree_nodes(const rp_tree *t)
{
	return t->nodes;
}

/* ------------------------------------------------------------------------
 * Consistency check (tests and fuzzing)
 * ------------------------------------------------------------------------ */

struct census {
	size_t nodes, subs, groups;
};

/* The table is well formed and every entry can be found from its home slot. */
static int table_ok(const struct table *tab)
{
	size_t i, j, n = 0, mask;

	if (tab->cap == 0) {
		return tab->slot == NULL && tab->n == 0;
	}
	if ((tab->cap & (tab->cap - 1u)) != 0 || tab->n * 2u > tab->cap || tab->n == 0) {
		return 0;
	}
	mask = tab->cap - 1u;
	for (i = 0; i < tab->cap; i++) {
		if (tab->slot[i].p == NULL) {
			continue;
		}
		n++;
		for (j = (size_t)tab->slot[i].h & mask; j != i; j = (j + 1u) & mask) {
			if (tab->slot[j].p == NULL) {
				return 0; /* a gap between home and place: unreachable */
			}
		}
	}
	return n == tab->n;
}

static int sub_ok(const rp_tree *t, const struct sub *s, const struct node *n,
		  const struct group *g)
{
	if (s->node != n || s->group != g || s->owner == NULL ||
	    s->owner->subscriber != s->subscriber || !opts_ok(&s->opts, g != NULL)) {
		return 0;
	}
	if (s->h != hash_sub(t, n, g, s->subscriber)) {
		return 0;
	}
	return find_sub(t, n, g, s->subscriber) == s && find_owner(t, s->subscriber) == s->owner;
}

static int node_ok(const rp_tree *t, const struct node *n, size_t depth, struct census *c)
{
	const struct sub *s;
	const struct group *g;
	const struct node *k;
	struct level l;
	size_t i;

	c->nodes++;
	if (depth > MAX_LEVELS || (n->kind != KIND_ROOT && node_empty(n)) || !table_ok(&n->kids)) {
		return 0;
	}
	if (n->kind == KIND_HASH && (n->kids.n != 0 || n->plus != NULL || n->hash != NULL)) {
		return 0;
	}
	for (s = n->subs; s != NULL; s = s->next) {
		if ((s->next != NULL && s->next->prev != s) || (s == n->subs && s->prev != NULL) ||
		    !sub_ok(t, s, n, NULL)) {
			return 0;
		}
		c->subs++;
	}
	for (g = n->groups; g != NULL; g = g->next) {
		if ((g->next != NULL && g->next->prev != g) ||
		    (g == n->groups && g->prev != NULL) || g->node != n || g->n == 0 ||
		    g->n > g->cap || g->h != hash_group(t, n, g->name, g->len) ||
		    find_group(t, n, g->name, g->len) != g) {
			return 0;
		}
		for (i = 0; i < g->n; i++) {
			if (g->members[i]->gidx != i || !sub_ok(t, g->members[i], n, g)) {
				return 0;
			}
		}
		c->groups++;
		c->subs += g->n;
	}
	for (i = 0; i < n->kids.cap; i++) {
		k = n->kids.slot[i].p;
		if (k == NULL) {
			continue;
		}
		l.p = k->label;
		l.len = k->len;
		l.kind = KIND_EXACT;
		l.h = hash_bytes(t, k->label, k->len);
		if (k->kind != KIND_EXACT || k->parent != n || k->h != l.h ||
		    n->kids.slot[i].h != l.h || child_of(n, &l, NULL) != k ||
		    (k->len == 1u && (k->label[0] == '+' || k->label[0] == '#')) ||
		    !node_ok(t, k, depth + 1u, c)) {
			return 0;
		}
	}
	if (n->plus != NULL && (n->plus->kind != KIND_PLUS || n->plus->parent != n ||
				!node_ok(t, n->plus, depth + 1u, c))) {
		return 0;
	}
	if (n->hash != NULL && (n->hash->kind != KIND_HASH || n->hash->parent != n ||
				!node_ok(t, n->hash, depth + 1u, c))) {
		return 0;
	}
	return 1;
}

static int owners_ok(const rp_tree *t)
{
	const struct owner *ow;
	const struct sub *s;
	size_t i, n, total = 0;

	for (i = 0; i < t->owners.cap; i++) {
		ow = t->owners.slot[i].p;
		if (ow == NULL) {
			continue;
		}
		if (ow->n == 0 || ow->h != hash_owner(t, ow->subscriber) || ow->head == NULL ||
		    ow->head->oprev != NULL) {
			return 0;
		}
		n = 0;
		for (s = ow->head; s != NULL; s = s->onext) {
			if (s->owner != ow || (s->onext != NULL && s->onext->oprev != s) ||
			    find_sub(t, s->node, s->group, s->subscriber) != s) {
				return 0;
			}
			n++;
		}
		if (n != ow->n) {
			return 0;
		}
		total += n;
	}
	return total == t->count;
}

int rp__tree_check(const rp_tree *t)
{
	struct census c = {0, 0, 0};

	if (t == NULL || t->root == NULL || t->root->kind != KIND_ROOT || t->root->parent != NULL ||
	    t->root->subs != NULL || t->root->groups != NULL) {
		return 0;
	}
	if (!table_ok(&t->subs) || !table_ok(&t->groups) || !table_ok(&t->owners)) {
		return 0;
	}
	if (!node_ok(t, t->root, 0, &c)) {
		return 0;
	}
	return c.nodes == t->nodes && c.subs == t->count && c.subs == t->subs.n &&
	       c.groups == t->groups.n && owners_ok(t);
}
