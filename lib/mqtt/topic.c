/*
 * topic.c - UTF-8 validation, topic name and filter rules, topic matching.
 *
 * Used by the decoder on every PUBLISH and SUBSCRIBE, and by the broker's
 * subscription tree, so everything here is one linear pass without
 * recursion. Inputs are attacker-controlled; lengths are the caller's.
 */
#include "wire.h"

#define SHARE_PREFIX     "$share/"
#define SHARE_PREFIX_LEN 7u

int rp__mqtt_utf8_check(const uint8_t *s, size_t len, int allow_nul)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		uint8_t lo = 0x80u, hi = 0xBFu; /* range of the first continuation byte */
		size_t ncont, k;

		if (c < 0x80u) {
			if (c == 0 && !allow_nul) {
				return 0;
			}
			i++;
			continue;
		}
		if (c >= 0xC2u && c <= 0xDFu) {
			ncont = 1;
		} else if (c >= 0xE0u && c <= 0xEFu) {
			ncont = 2;
			if (c == 0xE0u) {
				lo = 0xA0u; /* no overlong three-byte forms */
			} else if (c == 0xEDu) {
				hi = 0x9Fu; /* no surrogates U+D800..U+DFFF */
			}
		} else if (c >= 0xF0u && c <= 0xF4u) {
			ncont = 3;
			if (c == 0xF0u) {
				lo = 0x90u; /* no overlong four-byte forms */
			} else if (c == 0xF4u) {
				hi = 0x8Fu; /* nothing above U+10FFFF */
			}
		} else {
			return 0; /* continuation byte, C0/C1 overlong lead, or F5..FF */
		}
		if (ncont > len - i - 1u) {
			return 0;
		}
		if (s[i + 1u] < lo || s[i + 1u] > hi) {
			return 0;
		}
		for (k = 2; k <= ncont; k++) {
			if ((s[i + k] & 0xC0u) != 0x80u) {
				return 0;
			}
		}
		i += ncont + 1u;
	}
	return 1;
}

int rp_mqtt_utf8_valid(const uint8_t *s, size_t len)
{
	if (s == NULL) {
		return len == 0;
	}
	return rp__mqtt_utf8_check(s, len, 0);
}

rp_status rp__mqtt_str_check(rp_mqtt_str s)
{
	if (s.len > RP_MQTT_STR_MAX || (s.p == NULL && s.len != 0)) {
		return RP_E_INVALID_ARG;
	}
	if (s.len != 0 && !rp__mqtt_utf8_check(s.p, s.len, 0)) {
		return RP_E_UTF8;
	}
	return RP_OK;
}

/* Length and depth limits common to names and filters. */
static rp_status topic_limits(const uint8_t *t, size_t len, const rp_mqtt_limits *lim)
{
	size_t i, levels = 1;

	if (len > lim->max_topic_len) {
		return RP_E_LIMIT;
	}
	for (i = 0; i < len; i++) {
		if (t[i] == '/') {
			levels++;
		}
	}
	if (levels > lim->max_topic_levels) {
		return RP_E_LIMIT;
	}
	return RP_OK;
}

rp_status rp_mqtt_topic_name_check(const uint8_t *t, size_t len, const rp_mqtt_limits *lim)
{
	size_t i;
	rp_status st;

	if (lim == NULL || (t == NULL && len != 0)) {
		return RP_E_INVALID_ARG;
	}
	if (len == 0) {
		return RP_E_TOPIC_NAME;
	}
	for (i = 0; i < len; i++) {
		if (t[i] == '+' || t[i] == '#') {
			return RP_E_TOPIC_NAME;
		}
	}
	st = topic_limits(t, len, lim);
	if (st != RP_OK) {
		return st;
	}
	return rp__mqtt_utf8_check(t, len, 0) ? RP_OK : RP_E_UTF8;
}

/* Wildcard placement in a plain (not shared) filter. */
static int filter_syntax_ok(const uint8_t *f, size_t len)
{
	size_t i;

	if (len == 0) {
		return 0;
	}
	for (i = 0; i < len; i++) {
		int level_start = (i == 0 || f[i - 1u] == '/');
		int level_end = (i + 1u == len || f[i + 1u] == '/');

		if (f[i] == '+' && !(level_start && level_end)) {
			return 0;
		}
		if (f[i] == '#' && !(level_start && i + 1u == len)) {
			return 0;
		}
	}
	return 1;
}

int rp_mqtt_topic_shared_split(const uint8_t *f, size_t len, rp_mqtt_str *group,
			       rp_mqtt_str *filter)
{
	size_t i;

	if (f == NULL || len < SHARE_PREFIX_LEN) {
		return 0;
	}
	for (i = 0; i < SHARE_PREFIX_LEN; i++) {
		if (f[i] != (uint8_t)SHARE_PREFIX[i]) {
			return 0;
		}
	}
	for (i = SHARE_PREFIX_LEN; i < len && f[i] != '/'; i++) {
	}
	if (group != NULL) {
		group->p = f + SHARE_PREFIX_LEN;
		group->len = (uint32_t)(i - SHARE_PREFIX_LEN);
	}
	if (filter != NULL) {
		filter->p = i < len ? f + i + 1u : f + len;
		filter->len = i < len ? (uint32_t)(len - i - 1u) : 0u;
	}
	return 1;
}

rp_status rp_mqtt_topic_filter_check(const uint8_t *f, size_t len, const rp_mqtt_limits *lim)
{
	rp_mqtt_str group, inner;
	rp_status st;
	size_t i;

	if (lim == NULL || (f == NULL && len != 0)) {
		return RP_E_INVALID_ARG;
	}
	if (len == 0) {
		return RP_E_TOPIC_FILTER;
	}
	if (rp_mqtt_topic_shared_split(f, len, &group, &inner)) {
		/*
		 * $share/{ShareName}/{filter}: a non-empty name without wildcards,
		 * then '/' and a non-empty valid filter (inner is empty when the
		 * '/' is missing).
		 */
		if (group.len == 0 || inner.len == 0) {
			return RP_E_TOPIC_FILTER;
		}
		for (i = 0; i < group.len; i++) {
			if (group.p[i] == '+' || group.p[i] == '#') {
				return RP_E_TOPIC_FILTER;
			}
		}
		if (!filter_syntax_ok(inner.p, inner.len)) {
			return RP_E_TOPIC_FILTER;
		}
	} else if (!filter_syntax_ok(f, len)) {
		return RP_E_TOPIC_FILTER;
	}
	st = topic_limits(f, len, lim);
	if (st != RP_OK) {
		return st;
	}
	return rp__mqtt_utf8_check(f, len, 0) ? RP_OK : RP_E_UTF8;
}

int rp_mqtt_topic_match(const uint8_t *f, size_t flen, const uint8_t *t, size_t tlen)
{
	size_t i = 0, j = 0;

	if (f == NULL || t == NULL || flen == 0 || tlen == 0) {
		return 0;
	}
	/* [MQTT-4.7.2-1]: wildcards at the first level do not match "$" topics. */
	if (t[0] == '$' && (f[0] == '+' || f[0] == '#')) {
		return 0;
	}
	for (;;) {
		/* Here i and j are at the start of a level in f and t. */
		if (i < flen && f[i] == '#') {
			return 1;
		}
		if (i < flen && f[i] == '+') {
			i++;
			while (j < tlen && t[j] != '/') {
				j++;
			}
		} else {
			while (i < flen && f[i] != '/' && j < tlen && t[j] != '/') {
				if (f[i] != t[j]) {
					return 0;
				}
				i++;
				j++;
			}
			if ((i < flen && f[i] != '/') || (j < tlen && t[j] != '/')) {
				return 0;
			}
		}
		/* Both at a '/' or at the end. */
		if (i == flen) {
			return j == tlen;
		}
		if (j == tlen) {
			/* "a/#" also matches "a": the parent level. */
			return flen - i == 2u && f[i + 1u] == '#';
		}
		i++;
		j++;
	}
}
