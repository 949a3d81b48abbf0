/*
 * fuzz_policy.c - libFuzzer target for rp_policy_parse() and the checks.
 *
 * Input: POLICY [0xFF ROLE 0xFF IDENTITY 0xFF REQUEST]. 0xFF never occurs
 * in UTF-8, so the policy part loses nothing that could be valid. Without
 * the query part, a few fixed queries are asked.
 *
 * Oracles (any failure aborts):
 * - Status RP_OK exactly when nothing was reported, RP_E_CONFIG exactly
 *   when something was. Reports: the file's name, a line within the input,
 *   a non-empty message of printable ASCII (echoed text is escaped).
 * - A failed parse leaves the policy zeroed: every check denies.
 * - A parsed policy keeps its bounds: at most 64 roles of 64 rules, every
 *   pattern inside the text block.
 * - Differential: for a topic name T, may_publish and may_subscribe agree
 *   with a reference that substitutes %d by hand (only for an identity
 *   the reference itself judges safe) and asks the codec's
 *   rp_mqtt_topic_match() about each non-shared rule.
 * - Device isolation: whatever the policy, a device may publish or
 *   subscribe only to d/{identity} and below, and nothing at all with an
 *   unusable identity.
 * - Nobody publishes to $rampart; an unknown role gets nothing.
 * - Coverage is sound: if filter F is allowed, so is a topic F matches
 *   (F with its wildcards filled in), and so is $share/g/F.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/policy.h"
#include "rampart/limits.h"
#include "rampart/mqtt.h"
#include "util/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			check_failed(#cond, __LINE__);                                             \
		}                                                                                  \
	} while (0)

#define FILE_NAME "fuzz.policy"
#define SEP       0xffu
#define BIG       (64u * 1024u)

_Noreturn static void check_failed(const char *what, int line)
{
	fprintf(stderr, "fuzz_policy: invariant failed at line %d: %s\n", line, what);
	abort();
}

struct seen {
	unsigned reports;
	unsigned max_line;
};

static void report(void *ctx, const char *file, unsigned line, const char *msg)
{
	struct seen *s = ctx;
	size_t i, n;

	CHECK(file != NULL && strcmp(file, FILE_NAME) == 0);
	CHECK(msg != NULL);
	n = strlen(msg);
	CHECK(n > 0);
	for (i = 0; i < n; i++) {
		CHECK(msg[i] >= 0x20 && msg[i] < 0x7f);
	}
	CHECK(line >= 1 && line <= s->max_line);
	s->reports++;
}

/* ------------------------------------------------------------------------
 * Reference
 * ------------------------------------------------------------------------ */

static int ref_identity_ok(const uint8_t *id, size_t n)
{
	return id != NULL && n > 0 && n <= RP_LIMIT_MQTT_TOPIC_LEN && id[0] != '$' &&
	       memchr(id, '/', n) == NULL && memchr(id, '+', n) == NULL &&
	       memchr(id, '#', n) == NULL && rp_mqtt_utf8_valid(id, n);
}

/*
 * Writes pattern p with every whole-level "%d" replaced by id into out.
 * Returns the length, or 0 when the pattern has %d and id is NULL.
 */
static size_t substitute(const uint8_t *p, size_t n, const uint8_t *id, size_t idn, uint8_t *out)
{
	size_t i = 0, o = 0;

	while (i <= n) {
		const uint8_t *slash = i < n ? memchr(p + i, '/', n - i) : NULL;
		size_t e = slash != NULL ? (size_t)(slash - p) : n;

		if (e - i == 2 && p[i] == '%' && p[i + 1] == 'd') {
			if (id == NULL) {
				return 0;
			}
			memcpy(out + o, id, idn);
			o += idn;
		} else {
			memcpy(out + o, p + i, e - i);
			o += e - i;
		}
		if (e == n) {
			break;
		}
		out[o++] = '/';
		i = e + 1;
	}
	return o;
}

static const rp_policy_role *ref_role(const rp_policy *p, const char *name)
{
	unsigned i;

	for (i = 0; i < p->role_count; i++) {
		if (strcmp(p->roles[i].name, name) == 0) {
			return &p->roles[i];
		}
	}
	return NULL;
}

/* The reference answer for a topic name t: publish (1) or subscribe (0). */
static int ref_allows(const rp_policy *p, const char *role, const uint8_t *id, size_t idn,
		      const uint8_t *t, size_t tn, int publish)
{
	static uint8_t sub[BIG];
	static const uint8_t builtin[] = "d/%d/#";
	const rp_policy_role *r = ref_role(p, role);
	const uint8_t *use_id = ref_identity_ok(id, idn) ? id : NULL;
	unsigned i;

	if (publish && tn >= 8 && memcmp(t, "$rampart", 8) == 0 && (tn == 8 || t[8] == '/')) {
		return 0;
	}
	if (r == NULL) {
		size_t n;

		if (strcmp(role, "device") != 0) {
			return 0;
		}
		n = substitute(builtin, 6, use_id, idn, sub);
		return n != 0 && rp_mqtt_topic_match(sub, n, t, tn);
	}
	for (i = 0; i < r->rule_count; i++) {
		const rp_policy_rule *rule = &r->rules[i];
		size_t n;

		if (rule->publish != publish || rule->shared) {
			continue;
		}
		n = substitute(p->text + rule->off, rule->len, use_id, idn, sub);
		if (n != 0 && rp_mqtt_topic_match(sub, n, t, tn)) {
			return 1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * Checks
 * ------------------------------------------------------------------------ */

static int is_topic_name(const uint8_t *t, size_t n)
{
	static rp_mqtt_limits hard;

	memset(&hard, 0xff, sizeof(hard));
	(void)rp_mqtt_limits_clamp(&hard);
	return rp_mqtt_topic_name_check(t, n, &hard) == RP_OK;
}

static int is_filter(const uint8_t *t, size_t n)
{
	static rp_mqtt_limits hard;

	memset(&hard, 0xff, sizeof(hard));
	(void)rp_mqtt_limits_clamp(&hard);
	return rp_mqtt_topic_filter_check(t, n, &hard) == RP_OK;
}

/* t is d/{id} or below it. */
static int in_device_tree(const uint8_t *id, size_t idn, const uint8_t *t, size_t tn)
{
	return tn >= 2 + idn && memcmp(t, "d/", 2) == 0 && memcmp(t + 2, id, idn) == 0 &&
	       (tn == 2 + idn || t[2 + idn] == '/');
}

/*
 * A topic that filter f matches. kind 0: '+' becomes "w" and '#' two
 * levels "w/w"; kind 1: '+' becomes "w" and a final "/#" is dropped ('#'
 * also matches its parent level). Returns 0 when there is none.
 */
static size_t witness(const uint8_t *f, size_t n, int kind, uint8_t *out)
{
	size_t i, o = 0;

	if (kind == 1) {
		if (n < 2 || f[n - 1] != '#') {
			return 0;
		}
		n -= 2; /* "x/#" -> "x" */
		if (n == 0) {
			return 0;
		}
	}
	for (i = 0; i < n; i++) {
		if (f[i] == '#') {
			memcpy(out + o, "w/w", 3);
			o += 3;
		} else {
			out[o++] = f[i] == '+' ? 'w' : f[i];
		}
	}
	return o;
}

static void check_query(const rp_policy *p, const char *role, const uint8_t *id, size_t idn,
			const uint8_t *r, size_t rn)
{
	static uint8_t buf[BIG];
	int pub = rp_policy_may_publish(p, role, id, idn, r, rn);
	int sub = rp_policy_may_subscribe(p, role, id, idn, r, rn);
	rp_mqtt_str group, inner;

	CHECK(pub == 0 || pub == 1);
	CHECK(sub == 0 || sub == 1);
	if (!p->valid) {
		CHECK(!pub && !sub);
		return;
	}
	if (!is_topic_name(r, rn)) {
		CHECK(!pub);
	}
	if (!is_filter(r, rn)) {
		CHECK(!sub);
		return;
	}
	/* Differential, on topic names that are not shared-looking. */
	if (is_topic_name(r, rn) && !rp_mqtt_topic_shared_split(r, rn, NULL, NULL)) {
		CHECK(pub == ref_allows(p, role, id, idn, r, rn, 1));
		CHECK(sub == ref_allows(p, role, id, idn, r, rn, 0));
	}
	if (!rp_mqtt_topic_shared_split(r, rn, &group, &inner)) {
		inner.p = r;
		inner.len = (uint32_t)rn;
	}
	/* Device isolation. */
	if (strcmp(role, "device") == 0) {
		if (!ref_identity_ok(id, idn)) {
			CHECK(!pub && !sub);
		} else {
			CHECK(!pub || in_device_tree(id, idn, r, rn));
			CHECK(!sub || in_device_tree(id, idn, inner.p, inner.len));
		}
	}
	if (rn >= 8 && memcmp(r, "$rampart", 8) == 0 && (rn == 8 || r[8] == '/')) {
		CHECK(!pub);
	}
	/* Soundness: a topic the allowed filter matches is allowed too. */
	if (sub) {
		int shared = inner.p != r;
		size_t pre = (size_t)(inner.p - r); /* "$share/G/" when shared */
		int kind;

		for (kind = 0; kind < 2; kind++) {
			size_t wn = witness(inner.p, inner.len, kind, buf + pre);

			if (wn == 0 || !is_topic_name(buf + pre, wn) ||
			    !rp_mqtt_topic_match(inner.p, inner.len, buf + pre, wn)) {
				continue;
			}
			memcpy(buf, r, pre);
			CHECK(rp_policy_may_subscribe(p, role, id, idn, buf, pre + wn));
		}
		if (!shared && rn + 9 <= BIG) {
			memcpy(buf, "$share/g/", 9);
			memcpy(buf + 9, r, rn);
			if (is_filter(buf, rn + 9)) {
				CHECK(rp_policy_may_subscribe(p, role, id, idn, buf, rn + 9));
			}
		}
	}
	/* An unknown role (a name the parser can never accept) gets nothing. */
	CHECK(!rp_policy_may_publish(p, "no such role", id, idn, r, rn));
	CHECK(!rp_policy_may_subscribe(p, "no such role", id, idn, r, rn));
}

static void check_shape(const rp_policy *p)
{
	unsigned i, k;

	if (!p->valid) {
		CHECK(p->roles == NULL && p->text == NULL && p->role_count == 0);
		return;
	}
	CHECK(p->role_count <= RP_LIMIT_POLICY_ROLES);
	CHECK(p->device_role < (int)p->role_count);
	for (i = 0; i < p->role_count; i++) {
		const rp_policy_role *r = &p->roles[i];

		CHECK(memchr(r->name, '\0', sizeof(r->name)) != NULL && r->name[0] != '\0');
		CHECK(r->rule_count <= RP_LIMIT_POLICY_RULES);
		for (k = 0; k < r->rule_count; k++) {
			CHECK(r->rules[k].len > 0);
			CHECK(r->rules[k].off + (size_t)r->rules[k].len <= p->text_len);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const fixed_roles[] = {"device", "ingest", "commander", "a"};
	static const char *const fixed_requests[] = {
		"d/A/telemetry", "d/A/#",          "d/+/telemetry", "#",
		"$rampart/x",    "$share/g/d/A/x", "d/B/cmd/x",     "$share/ingest/d/+/telemetry",
	};
	const uint8_t *s1, *s2, *s3;
	size_t policy_len;
	struct seen seen;
	rp_policy p;
	rp_status st;
	size_t i, k;

	s1 = memchr(data, SEP, size);
	policy_len = s1 != NULL ? (size_t)(s1 - data) : size;

	memset(&seen, 0, sizeof(seen));
	seen.max_line = 1;
	for (i = 0; i < policy_len; i++) {
		seen.max_line += data[i] == '\n';
	}
	st = rp_policy_parse(&p, FILE_NAME, (const char *)data, policy_len, report, &seen);
	CHECK(st == RP_OK || st == RP_E_CONFIG);
	CHECK((st == RP_OK) == (seen.reports == 0));
	CHECK((st == RP_OK) == (p.valid == 1));
	check_shape(&p);

	s2 = s1 != NULL ? memchr(s1 + 1, SEP, size - policy_len - 1) : NULL;
	s3 = s2 != NULL ? memchr(s2 + 1, SEP, size - (size_t)(s2 + 1 - data)) : NULL;
	if (s3 != NULL) {
		char role[RP_LIMIT_POLICY_ROLE_NAME + 8];
		size_t rl = (size_t)(s2 - s1 - 1);

		if (rl >= sizeof(role)) {
			rl = sizeof(role) - 1;
		}
		memcpy(role, s1 + 1, rl);
		role[rl] = '\0';
		check_query(&p, role, s2 + 1, (size_t)(s3 - s2 - 1), s3 + 1,
			    size - (size_t)(s3 + 1 - data));
		check_query(&p, "device", s2 + 1, (size_t)(s3 - s2 - 1), s3 + 1,
			    size - (size_t)(s3 + 1 - data));
	} else {
		for (i = 0; i < sizeof(fixed_roles) / sizeof(fixed_roles[0]); i++) {
			for (k = 0; k < sizeof(fixed_requests) / sizeof(fixed_requests[0]); k++) {
				check_query(&p, fixed_roles[i], (const uint8_t *)"A", 1,
					    (const uint8_t *)fixed_requests[k],
					    strlen(fixed_requests[k]));
			}
		}
	}
	rp_policy_free(&p);
	CHECK(p.valid == 0 && p.roles == NULL);
	CHECK(rp_alloc_in_use() == 0);
	return 0;
}
