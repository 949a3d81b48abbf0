/*
 * fuzz_mqtt_topic.c - libFuzzer target for the topic and UTF-8 functions of
 * rampart/mqtt.h, checked against small reference versions written here
 * for clarity, not speed.
 *
 * Input: one option byte, then FILTER 0xFF TOPIC. The split is at the first
 * 0xFF (a byte that never occurs in UTF-8, so neither part loses anything
 * that could be valid). Without 0xFF, the whole rest is both filter and
 * topic.
 *
 * Option byte:
 *   bits 0-1  limits: 0 = defaults, 1 = hard caps (through clamp),
 *             2 = tight (16 bytes, 4 levels), 3 = all 1 (zeros, clamped)
 *
 * Oracles (any failure aborts):
 * - rp_mqtt_utf8_valid() agrees with a reference decoder (RFC 3629, and no
 *   U+0000) on the whole input and on each part.
 * - rp_mqtt_topic_name_check() and rp_mqtt_topic_filter_check() return only
 *   their documented statuses; RP_OK exactly when the reference rules say
 *   the string is valid and within the limits; an error only when its
 *   reason is really there (RP_E_UTF8: not UTF-8, RP_E_LIMIT: too long or
 *   too deep, RP_E_TOPIC_*: a syntax rule broken).
 * - rp_mqtt_topic_shared_split() splits "$share/NAME/F" exactly, with views
 *   into the filter, and leaves its outputs alone for any other filter.
 * - rp_mqtt_topic_match() agrees with a level-by-level reference matcher
 *   whenever filter and topic are both valid; a valid topic matches itself;
 *   a filter without wildcards matches only the same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/limits.h"
#include "rampart/mqtt.h"
#include "rampart/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			check_failed(#cond, __LINE__);                                             \
		}                                                                                  \
	} while (0)

#define SPLIT     0xffu
#define SHARE     "$share/"
#define SHARE_LEN 7u

_Noreturn static void check_failed(const char *what, int line)
{
	fprintf(stderr, "fuzz_mqtt_topic: invariant failed at line %d: %s\n", line, what);
	abort();
}

static void pick_limits(uint8_t opt, rp_mqtt_limits *lim)
{
	switch (opt & 3u) {
	case 0:
		rp_mqtt_limits_default(lim);
		break;
	case 1:
		memset(lim, 0xff, sizeof(*lim));
		(void)rp_mqtt_limits_clamp(lim);
		break;
	case 2:
		rp_mqtt_limits_default(lim);
		lim->max_topic_len = 16;
		lim->max_topic_levels = 4;
		break;
	default:
		memset(lim, 0, sizeof(*lim));
		(void)rp_mqtt_limits_clamp(lim);
		break;
	}
}

/* ------------------------------------------------------------------------
 * Reference UTF-8: decode each code point, then judge it.
 * ------------------------------------------------------------------------ */

static int ref_utf8(const uint8_t *s, size_t n)
{
	size_t i = 0;
	size_t k, extra;
	uint32_t cp, min;

	while (i < n) {
		if (s[i] < 0x80) {
			cp = s[i];
			extra = 0;
			min = 0;
		} else if ((s[i] & 0xe0) == 0xc0) {
			cp = s[i] & 0x1fu;
			extra = 1;
			min = 0x80;
		} else if ((s[i] & 0xf0) == 0xe0) {
			cp = s[i] & 0x0fu;
			extra = 2;
			min = 0x800;
		} else if ((s[i] & 0xf8) == 0xf0) {
			cp = s[i] & 0x07u;
			extra = 3;
			min = 0x10000;
		} else {
			return 0; /* continuation byte first, or 0xf8..0xff */
		}
		if (extra > n - i - 1) {
			return 0; /* truncated sequence */
		}
		for (k = 1; k <= extra; k++) {
			if ((s[i + k] & 0xc0) != 0x80) {
				return 0;
			}
			cp = (cp << 6) | (s[i + k] & 0x3fu);
		}
		if (cp < min) {
			return 0; /* overlong */
		}
		if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
			return 0;
		}
		i += 1 + extra;
	}
	return 1;
}

/* ------------------------------------------------------------------------
 * Reference topic rules
 * ------------------------------------------------------------------------ */

/* One level of a topic: s[start .. end). */
struct level {
	size_t start;
	size_t end;
};

/*
 * Gives the level that starts at *pos and moves *pos past it and its '/'.
 * Returns 0 when there is no level left (*pos > n).
 */
static int next_level(const uint8_t *s, size_t n, size_t *pos, struct level *lv)
{
	size_t i;

	if (*pos > n) {
		return 0;
	}
	lv->start = *pos;
	for (i = *pos; i < n && s[i] != '/'; i++) {
	}
	lv->end = i;
	*pos = i + 1; /* past n when this was the last level */
	return 1;
}

static size_t count_levels(const uint8_t *s, size_t n)
{
	size_t i, levels = 1;

	for (i = 0; i < n; i++) {
		if (s[i] == '/') {
			levels++;
		}
	}
	return levels;
}

static int level_is(const uint8_t *s, const struct level *lv, char c)
{
	return lv->end - lv->start == 1 && s[lv->start] == (uint8_t)c;
}

static int level_has(const uint8_t *s, const struct level *lv, char c)
{
	return memchr(s + lv->start, c, lv->end - lv->start) != NULL;
}

/* Topic name syntax: not empty, no wildcard. */
static int ref_name_syntax(const uint8_t *t, size_t n)
{
	return n > 0 && memchr(t, '+', n) == NULL && memchr(t, '#', n) == NULL;
}

/* Plain filter syntax: not empty, '+' a whole level, '#' the whole last level. */
static int ref_plain_filter_syntax(const uint8_t *f, size_t n)
{
	size_t pos = 0;
	struct level lv;

	if (n == 0) {
		return 0;
	}
	while (next_level(f, n, &pos, &lv)) {
		if (level_has(f, &lv, '#') && (!level_is(f, &lv, '#') || lv.end != n)) {
			return 0;
		}
		if (level_has(f, &lv, '+') && !level_is(f, &lv, '+')) {
			return 0;
		}
	}
	return 1;
}

static int is_shared(const uint8_t *f, size_t n)
{
	return n >= SHARE_LEN && memcmp(f, SHARE, SHARE_LEN) == 0;
}

/*
 * Splits "$share/NAME/F" by hand: *name_len and *rest (offset of F).
 * Returns 0 if there is no '/' after NAME.
 */
static int ref_share_parts(const uint8_t *f, size_t n, size_t *name_len, size_t *rest)
{
	const uint8_t *slash = memchr(f + SHARE_LEN, '/', n - SHARE_LEN);

	if (slash == NULL) {
		return 0;
	}
	*name_len = (size_t)(slash - (f + SHARE_LEN));
	*rest = SHARE_LEN + *name_len + 1;
	return 1;
}

/* Full filter syntax, shared subscriptions included. */
static int ref_filter_syntax(const uint8_t *f, size_t n)
{
	size_t name_len, rest;

	if (!is_shared(f, n)) {
		return ref_plain_filter_syntax(f, n);
	}
	if (!ref_share_parts(f, n, &name_len, &rest) || name_len == 0) {
		return 0;
	}
	if (memchr(f + SHARE_LEN, '+', name_len) || memchr(f + SHARE_LEN, '#', name_len)) {
		return 0;
	}
	return ref_plain_filter_syntax(f + rest, n - rest);
}

/*
 * The reference matcher, level by level. '#' matches its parent level and
 * everything below; '+' exactly one level (possibly empty); a topic
 * starting with '$' is not matched by a first level '+' or '#'.
 */
static int ref_match(const uint8_t *f, size_t fn, const uint8_t *t, size_t tn)
{
	size_t fpos = 0, tpos = 0;
	struct level fl, tl;
	int have_t;

	if (tn > 0 && t[0] == '$' && fn > 0 && (f[0] == '+' || f[0] == '#')) {
		return 0;
	}
	while (next_level(f, fn, &fpos, &fl)) {
		if (level_is(f, &fl, '#')) {
			return 1;
		}
		have_t = next_level(t, tn, &tpos, &tl);
		if (!have_t) {
			return 0;
		}
		if (level_is(f, &fl, '+')) {
			continue;
		}
		if (fl.end - fl.start != tl.end - tl.start ||
		    memcmp(f + fl.start, t + tl.start, fl.end - fl.start) != 0) {
			return 0;
		}
	}
	/* Every filter level used: a match only if the topic is used up too. */
	return !next_level(t, tn, &tpos, &tl);
}

/* ------------------------------------------------------------------------
 * Checks
 * ------------------------------------------------------------------------ */

static void check_utf8(const uint8_t *s, size_t n)
{
	CHECK(rp_mqtt_utf8_valid(s, n) == ref_utf8(s, n));
}

/* Returns 1 if t is a valid topic name under lim (and checks why if not). */
static int check_name(const uint8_t *t, size_t n, const rp_mqtt_limits *lim)
{
	int syntax = ref_name_syntax(t, n);
	int utf8 = ref_utf8(t, n);
	int too_long = n > lim->max_topic_len;
	int too_deep = count_levels(t, n) > lim->max_topic_levels;
	rp_status st = rp_mqtt_topic_name_check(t, n, lim);

	switch (st) {
	case RP_OK:
		CHECK(syntax && utf8 && !too_long && !too_deep);
		return 1;
	case RP_E_TOPIC_NAME:
		CHECK(!syntax);
		break;
	case RP_E_UTF8:
		CHECK(!utf8);
		break;
	case RP_E_LIMIT:
		CHECK(too_long || too_deep);
		break;
	default:
		CHECK(0);
	}
	return 0;
}

/* Returns 1 if f is a valid topic filter under lim (and checks why if not). */
static int check_filter(const uint8_t *f, size_t n, const rp_mqtt_limits *lim)
{
	int syntax = ref_filter_syntax(f, n);
	int utf8 = ref_utf8(f, n);
	int too_long = n > lim->max_topic_len;
	size_t levels = count_levels(f, n);
	size_t f_levels = levels;
	size_t name_len = 0, rest = 0;
	rp_status st = rp_mqtt_topic_filter_check(f, n, lim);

	/* The depth limit may be applied to F of a shared filter (the tree holds F). */
	if (is_shared(f, n) && ref_share_parts(f, n, &name_len, &rest)) {
		f_levels = count_levels(f + rest, n - rest);
	}

	switch (st) {
	case RP_OK:
		CHECK(syntax && utf8 && !too_long && f_levels <= lim->max_topic_levels);
		return 1;
	case RP_E_TOPIC_FILTER:
		CHECK(!syntax);
		break;
	case RP_E_UTF8:
		CHECK(!utf8);
		break;
	case RP_E_LIMIT:
		CHECK(too_long || levels > lim->max_topic_levels);
		break;
	default:
		CHECK(0);
	}
	/*
	 * Valid by every rule and every reading of the limits: must be accepted.
	 * Not judged when F itself starts with "$share/": whether F is then read
	 * as a plain filter or as a nested share is not fixed by the contract.
	 */
	if (!(is_shared(f, n) && is_shared(f + rest, n - rest))) {
		CHECK(!(syntax && utf8 && !too_long && levels <= lim->max_topic_levels));
	}
	return 0;
}

/* Splits a valid filter; returns F (the filter itself if not shared). */
static rp_mqtt_str check_split(const uint8_t *f, size_t n)
{
	static const uint8_t sentinel[1] = {0x5a};
	rp_mqtt_str group = {sentinel, 4242};
	rp_mqtt_str filter = {sentinel, 4343};
	rp_mqtt_str whole = {f, (uint32_t)n};
	size_t name_len = 0, rest = 0;
	int r = rp_mqtt_topic_shared_split(f, n, &group, &filter);

	if (!is_shared(f, n)) {
		CHECK(r == 0);
		CHECK(group.p == sentinel && group.len == 4242);
		CHECK(filter.p == sentinel && filter.len == 4343);
		return whole;
	}
	CHECK(r == 1);
	CHECK(ref_share_parts(f, n, &name_len, &rest));
	CHECK(group.p == f + SHARE_LEN && group.len == name_len && group.len > 0);
	CHECK(filter.p == f + rest && filter.len == n - rest && filter.len > 0);
	return filter;
}

static void check_match(rp_mqtt_str f, const uint8_t *t, size_t tn)
{
	int m = rp_mqtt_topic_match(f.p, f.len, t, tn);

	CHECK(m == 0 || m == 1);
	CHECK(m == ref_match(f.p, f.len, t, tn));
	if (memchr(f.p, '+', f.len) == NULL && memchr(f.p, '#', f.len) == NULL) {
		CHECK(m == (f.len == tn && memcmp(f.p, t, tn) == 0));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t hash[1] = {'#'};
	rp_mqtt_limits lim;
	const uint8_t *rest, *f, *t, *split;
	size_t rest_len, fn, tn;
	int f_ok, t_ok;
	rp_mqtt_str ff, tf, all = {hash, 1};

	if (size < 1) {
		return 0;
	}
	pick_limits(data[0], &lim);
	rest = data + 1;
	rest_len = size - 1;

	split = memchr(rest, SPLIT, rest_len);
	f = rest;
	if (split) {
		fn = (size_t)(split - rest);
		t = split + 1;
		tn = rest_len - fn - 1;
	} else {
		fn = rest_len;
		t = rest;
		tn = rest_len;
	}

	check_utf8(rest, rest_len);
	check_utf8(f, fn);
	check_utf8(t, tn);

	f_ok = check_filter(f, fn, &lim);
	t_ok = check_name(t, tn, &lim);
	(void)check_name(f, fn, &lim);
	(void)check_filter(t, tn, &lim);

	if (t_ok) {
		/* A topic name is also a plain filter that matches itself. */
		tf.p = t;
		tf.len = (uint32_t)tn;
		check_match(tf, t, tn);
		CHECK(rp_mqtt_topic_match(t, tn, t, tn) == 1);
		CHECK(rp_mqtt_topic_match(hash, 1, t, tn) == (t[0] != '$'));
		check_match(all, t, tn);
	}
	if (f_ok) {
		ff = check_split(f, fn);
		if (t_ok) {
			check_match(ff, t, tn);
		}
	}
	return 0;
}
