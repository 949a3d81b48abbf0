/*
 * policy.c - the ACL policy: parser and checks.
 *
 * Implementation notes
 * - A parsed policy is two allocations: the roles (an array of fixed-size
 *   rp_policy_role) and one text block holding every pattern. Rules point
 *   into the text by offset. The built-in device role is static, so the
 *   default policy allocates nothing.
 * - One function, covers(), decides everything: "pattern P covers filter
 *   R" level by level. A topic name is a filter without wildcards, for
 *   which "covers" is "matches", so publish uses it too; and "the device
 *   role stays inside d/%d/#" is covers("d/%d/#", P) with %d taken
 *   literally. covers() is one pass over both strings, no recursion, no
 *   allocation.
 * - Fail closed: a check starts from deny and says 1 only when a rule
 *   covers the request; a malformed request, an unknown role, a zeroed or
 *   failed policy, and a %d rule with an unusable identity all deny.
 * - Attacker: the topic, the filter and the identity come from a device
 *   (the identity from its certificate, which a compromised enrollment
 *   could make strange). Each is checked before use, and an identity is
 *   only ever compared with a whole level, never spliced into a pattern.
 * - Parse state (struct pp): the policy being built, the role being filled
 *   (or none, or a refused one whose rules are still checked but not
 *   kept), and the error count.
 */
#include "auth/policy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rampart/mqtt.h"
#include "rampart/text.h"
#include "util/alloc.h"
#include "util/file.h"
#include "util/log.h"

#if defined(__GNUC__) || defined(__clang__)
#define RP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define RP_PRINTF(f, a)
#endif

#define LIMITS_H  "include/rampart/limits.h"
#define QUOTE_MAX 64u
#define QUOTE_BUF (QUOTE_MAX * 4u + 4u)

#define SHARE        "$share/"
#define SHARE_LEN    7u
#define RESERVED     "$rampart"
#define RESERVED_LEN 8u

/* The device role when the file does not restate it. */
static const uint8_t builtin_text[] = "d/%d/#";
#define BUILTIN_LEN 6u
static const rp_policy_rule builtin_rules[2] = {
	{0, BUILTIN_LEN, 1, 0},
	{0, BUILTIN_LEN, 0, 0},
};

/* Requests are judged at the hard caps; the codec applied the configured ones. */
static const rp_mqtt_limits hard_caps = {
	RP_LIMIT_MQTT_PACKET,     RP_LIMIT_MQTT_TOPIC_LEN,   RP_LIMIT_MQTT_TOPIC_LEVELS,
	RP_LIMIT_MQTT_USER_PROPS, RP_LIMIT_MQTT_SUB_ENTRIES, RP_LIMIT_MQTT_SUB_IDS,
};

/* The rules of one role and the text they point into. */
struct view {
	const rp_policy_rule *rules;
	unsigned n;
	const uint8_t *text;
};

/* ------------------------------------------------------------------------
 * Coverage
 * ------------------------------------------------------------------------ */

/* End of the level of s[0 .. n) that starts at i. */
static size_t level_end(const uint8_t *s, size_t n, size_t i)
{
	const uint8_t *e;

	if (i >= n) {
		return n;
	}
	e = memchr(s + i, '/', n - i);
	return e != NULL ? (size_t)(e - s) : n;
}

/*
 * 1 if pattern p covers filter r: every topic r can match, p matches.
 * A "%d" level of p stands for id[0 .. idn); with id NULL it covers
 * nothing. Both are assumed syntactically valid (wildcards whole levels,
 * '#' last). Topic names are filters without wildcards.
 */
static int covers(const uint8_t *p, size_t pn, const uint8_t *r, size_t rn, const uint8_t *id,
		  size_t idn)
{
	size_t i = 0, j = 0;

	if (pn == 0 || rn == 0) {
		return 0;
	}
	/* [MQTT-4.7.2-1]: a first-level wildcard does not reach '$' topics. */
	if (r[0] == '$' && (p[0] == '+' || p[0] == '#')) {
		return 0;
	}
	for (;;) {
		/* i and j are at the start of a level of p and of r. */
		size_t pe = level_end(p, pn, i);
		size_t re = level_end(r, rn, j);
		size_t pl = pe - i, rl = re - j;

		if (pl == 1 && p[i] == '#') {
			return 1; /* the rest of r, whatever it is */
		}
		if (pl == 1 && p[i] == '+') {
			if (rl == 1 && r[j] == '#') {
				return 0; /* '#' spans levels; '+' is one */
			}
		} else if (pl == 2 && p[i] == '%' && p[i + 1u] == 'd') {
			if (id == NULL || rl != idn || memcmp(r + j, id, idn) != 0) {
				return 0;
			}
		} else if (pl != rl || memcmp(p + i, r + j, pl) != 0) {
			return 0; /* a literal covers only itself (not '+' or '#') */
		}
		i = pe;
		j = re;
		if (i == pn) {
			return j == rn;
		}
		if (j == rn) {
			/* r ended: "x/#" also matches "x", its parent level. */
			return pn - i == 2u && p[i + 1u] == '#';
		}
		i++;
		j++;
	}
}

/*
 * 1 if the identity may stand for %d: not empty, not too long, valid UTF-8
 * without NUL, no '/', '+' or '#' (which would change the levels of the
 * pattern), and no leading '$' (which would reach reserved topics).
 */
static int identity_ok(const uint8_t *id, size_t n)
{
	size_t i;

	if (id == NULL || n == 0 || n > RP_LIMIT_MQTT_TOPIC_LEN || id[0] == '$') {
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (id[i] == '/' || id[i] == '+' || id[i] == '#') {
			return 0;
		}
	}
	return rp_mqtt_utf8_valid(id, n);
}

static int find_role(const rp_policy *p, const char *role, struct view *v)
{
	unsigned i;

	if (p == NULL || role == NULL || !p->valid) {
		return 0;
	}
	for (i = 0; i < p->role_count; i++) {
		if (strcmp(p->roles[i].name, role) == 0) {
			v->rules = p->roles[i].rules;
			v->n = p->roles[i].rule_count;
			v->text = p->text;
			return 1;
		}
	}
	if (strcmp(role, RP_POLICY_DEVICE_ROLE) == 0) {
		v->rules = builtin_rules;
		v->n = 2;
		v->text = builtin_text;
		return 1;
	}
	return 0;
}

/* 1 if the first level of t[0 .. n) is "$rampart". */
static int is_reserved(const uint8_t *t, size_t n)
{
	return n >= RESERVED_LEN && memcmp(t, RESERVED, RESERVED_LEN) == 0 &&
	       (n == RESERVED_LEN || t[RESERVED_LEN] == '/');
}

/* 1 if the group level pattern pg covers the requested group g. */
static int group_covers(rp_mqtt_str pg, rp_mqtt_str g, const uint8_t *id, size_t idn)
{
	if (pg.len == 1 && pg.p[0] == '+') {
		return 1;
	}
	if (pg.len == 2 && pg.p[0] == '%' && pg.p[1] == 'd') {
		return id != NULL && g.len == idn && memcmp(g.p, id, idn) == 0;
	}
	return pg.len == g.len && memcmp(pg.p, g.p, g.len) == 0;
}

int rp_policy_may_publish(const rp_policy *p, const char *role, const uint8_t *identity,
			  size_t id_len, const uint8_t *topic, size_t len)
{
	struct view v;
	const uint8_t *id = NULL;
	unsigned i;

	if (topic == NULL || rp_mqtt_topic_name_check(topic, len, &hard_caps) != RP_OK) {
		return 0;
	}
	if (is_reserved(topic, len) || !find_role(p, role, &v)) {
		return 0;
	}
	if (identity_ok(identity, id_len)) {
		id = identity;
	}
	for (i = 0; i < v.n; i++) {
		const rp_policy_rule *r = &v.rules[i];

		if (r->publish && covers(v.text + r->off, r->len, topic, len, id, id_len)) {
			return 1;
		}
	}
	return 0;
}

int rp_policy_may_subscribe(const rp_policy *p, const char *role, const uint8_t *identity,
			    size_t id_len, const uint8_t *filter, size_t len)
{
	rp_mqtt_str group, inner, pg, pf;
	struct view v;
	const uint8_t *id = NULL;
	int shared;
	unsigned i;

	if (filter == NULL || rp_mqtt_topic_filter_check(filter, len, &hard_caps) != RP_OK) {
		return 0;
	}
	if (!find_role(p, role, &v)) {
		return 0;
	}
	if (identity_ok(identity, id_len)) {
		id = identity;
	}
	shared = rp_mqtt_topic_shared_split(filter, len, &group, &inner);
	if (!shared) {
		inner.p = filter;
		inner.len = (uint32_t)len;
	}
	for (i = 0; i < v.n; i++) {
		const rp_policy_rule *r = &v.rules[i];
		const uint8_t *pat = v.text + r->off;

		if (r->publish) {
			continue;
		}
		if (!r->shared) {
			if (covers(pat, r->len, inner.p, inner.len, id, id_len)) {
				return 1;
			}
			continue;
		}
		/* A $share pattern: only for shared requests; group and filter. */
		if (shared && rp_mqtt_topic_shared_split(pat, r->len, &pg, &pf) &&
		    group_covers(pg, group, id, id_len) &&
		    covers(pf.p, pf.len, inner.p, inner.len, id, id_len)) {
			return 1;
		}
	}
	return 0;
}

int rp_policy_has_role(const rp_policy *p, const char *role)
{
	struct view v;

	return find_role(p, role, &v);
}

/* ------------------------------------------------------------------------
 * Parser
 * ------------------------------------------------------------------------ */

#define ROLE_NONE    (-1) /* no role line yet */
#define ROLE_REFUSED (-2) /* the role line was refused: check rules, keep nothing */

struct pp {
	rp_policy pol;
	size_t text_cap;
	const char *name;
	rp_policy_report_fn report;
	void *ctx;
	unsigned line;
	unsigned errors;
	int cur; /* index of the role being filled, or ROLE_* */
	rp_status fatal;
};

static void say(struct pp *pp, unsigned line, const char *fmt, ...) RP_PRINTF(3, 4);

static void say(struct pp *pp, unsigned line, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	pp->errors++;
	if (pp->report == NULL) {
		return;
	}
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pp->report(pp->ctx, pp->name, line, msg);
}

/* A value echoed in a message: at most QUOTE_MAX bytes, escaped (util/log.h). */
static void quote(char *out, const char *s, size_t n)
{
	rp_quote(out, s, n, QUOTE_MAX);
}

static int word_is(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && memcmp(s, w, n) == 0;
}

/*
 * Checks a pattern without "$share/": wildcards and %d as whole levels,
 * '#' last. Returns NULL if fine, else the problem.
 */
static const char *plain_problem(const uint8_t *s, size_t n)
{
	size_t i = 0, e, l;

	if (n == 0) {
		return "needs a filter after the group ($share/GROUP/FILTER)";
	}
	for (;;) {
		e = level_end(s, n, i);
		l = e - i;
		if (memchr(s + i, '#', l) != NULL && !(l == 1 && e == n)) {
			return "has a '#' that is not the whole last level";
		}
		if (memchr(s + i, '+', l) != NULL && l != 1) {
			return "has a '+' that is not a whole level";
		}
		if (memchr(s + i, '%', l) != NULL && !(l == 2 && s[i + 1u] == 'd')) {
			return "has a '%' that is not a whole %d level";
		}
		if (e == n) {
			return NULL;
		}
		i = e + 1u;
	}
}

/*
 * Checks a pattern. Returns NULL if fine, else the problem, written into
 * why[0 .. cap) when it needs numbers; *shared tells a "$share/PG/PF"
 * pattern.
 */
static const char *pattern_problem(const uint8_t *s, size_t n, int publish, int *shared, char *why,
				   size_t cap)
{
	size_t i, levels = 1;
	const uint8_t *slash;
	size_t glen;

	*shared = 0;
	if (n > RP_LIMIT_MQTT_TOPIC_LEN) {
		(void)snprintf(why, cap, "is longer than %u bytes (" LIMITS_H ")",
			       RP_LIMIT_MQTT_TOPIC_LEN);
		return why;
	}
	for (i = 0; i < n; i++) {
		levels += s[i] == '/';
	}
	if (levels > RP_LIMIT_MQTT_TOPIC_LEVELS) {
		(void)snprintf(why, cap, "has more than %u levels (" LIMITS_H ")",
			       RP_LIMIT_MQTT_TOPIC_LEVELS);
		return why;
	}
	if (n >= SHARE_LEN && memcmp(s, SHARE, SHARE_LEN) == 0) {
		if (publish) {
			return "is a shared subscription: $share/ is for subscribe rules";
		}
		*shared = 1;
		slash = memchr(s + SHARE_LEN, '/', n - SHARE_LEN);
		glen = slash != NULL ? (size_t)(slash - (s + SHARE_LEN)) : n - SHARE_LEN;
		if (slash == NULL || glen == 0) {
			return "needs a group and a filter ($share/GROUP/FILTER)";
		}
		if (!(glen == 1 && s[SHARE_LEN] == '+') &&
		    !(glen == 2 && s[SHARE_LEN] == '%' && s[SHARE_LEN + 1u] == 'd') &&
		    (memchr(s + SHARE_LEN, '+', glen) != NULL ||
		     memchr(s + SHARE_LEN, '#', glen) != NULL ||
		     memchr(s + SHARE_LEN, '%', glen) != NULL)) {
			return "has a group that is not '+', '%d' or a name without wildcards";
		}
		return plain_problem(slash + 1, n - (size_t)(slash + 1 - s));
	}
	if (publish && is_reserved(s, n)) {
		return "is reserved to the server: nobody may publish to $rampart";
	}
	return plain_problem(s, n);
}

static int role_name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > RP_LIMIT_POLICY_ROLE_NAME) {
		return 0;
	}
	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-')) {
			return 0;
		}
	}
	return 1;
}

static void start_role(struct pp *pp, const char *s, size_t n)
{
	rp_policy_role *r;
	char q[QUOTE_BUF];
	unsigned i;

	pp->cur = ROLE_REFUSED;
	if (n == 0) {
		say(pp, pp->line, "role: missing name");
		return;
	}
	quote(q, s, n);
	if (!role_name_ok(s, n)) {
		say(pp, pp->line, "role: '%s' is not a role name (1 to %u of A-Z a-z 0-9 _ . -)", q,
		    RP_LIMIT_POLICY_ROLE_NAME);
		return;
	}
	for (i = 0; i < pp->pol.role_count; i++) {
		if (word_is(s, n, pp->pol.roles[i].name)) {
			say(pp, pp->line, "role %s: already defined (line %u)", q,
			    pp->pol.roles[i].line);
			return;
		}
	}
	if (pp->pol.role_count >= RP_LIMIT_POLICY_ROLES) {
		say(pp, pp->line, "role %s: more than %u roles (" LIMITS_H ")", q,
		    RP_LIMIT_POLICY_ROLES);
		return;
	}
	if (pp->pol.roles == NULL) {
		pp->pol.roles = rp_calloc(NULL, RP_LIMIT_POLICY_ROLES, sizeof(rp_policy_role));
		if (pp->pol.roles == NULL) {
			pp->fatal = RP_E_NOMEM;
			return;
		}
	}
	r = &pp->pol.roles[pp->pol.role_count];
	memcpy(r->name, s, n);
	r->name[n] = '\0';
	r->line = pp->line;
	if (word_is(s, n, RP_POLICY_DEVICE_ROLE)) {
		pp->pol.device_role = (int)pp->pol.role_count;
	}
	pp->cur = (int)pp->pol.role_count++;
}

static void add_rule(struct pp *pp, int publish, const char *s, size_t n, size_t buf_len)
{
	const char *what = publish ? "publish" : "subscribe";
	const char *problem;
	rp_policy_role *r;
	char q[QUOTE_BUF], why[128];
	int shared;

	if (pp->cur == ROLE_NONE) {
		say(pp, pp->line, "%s: rule outside a role (start one with 'role NAME')", what);
		return;
	}
	if (n == 0) {
		say(pp, pp->line, "%s: missing pattern", what);
		return;
	}
	quote(q, s, n);
	problem = pattern_problem((const uint8_t *)s, n, publish, &shared, why, sizeof(why));
	if (problem != NULL) {
		say(pp, pp->line, "%s: '%s' %s", what, q, problem);
		return;
	}
	if (pp->cur == ROLE_REFUSED) {
		return;
	}
	r = &pp->pol.roles[pp->cur];
	if (pp->cur == pp->pol.device_role &&
	    !covers(builtin_text, BUILTIN_LEN, (const uint8_t *)s, n, (const uint8_t *)"%d", 2)) {
		say(pp, pp->line,
		    "%s: '%s' is wider than d/%%d/#: role " RP_POLICY_DEVICE_ROLE
		    " may use only the topics below d/{its id}/",
		    what, q);
		return;
	}
	if (r->rule_count >= RP_LIMIT_POLICY_RULES) {
		say(pp, pp->line, "%s: role %s has more than %u rules (" LIMITS_H ")", what,
		    r->name, RP_LIMIT_POLICY_RULES);
		return;
	}
	if (pp->pol.text == NULL) {
		/* Every pattern is a part of the file: its length bounds them all. */
		pp->pol.text = rp_alloc(NULL, buf_len);
		if (pp->pol.text == NULL) {
			pp->fatal = RP_E_NOMEM;
			return;
		}
		pp->text_cap = buf_len;
	}
	if (n > pp->text_cap - pp->pol.text_len) {
		pp->fatal = RP_E_INTERNAL; /* cannot happen: patterns are disjoint parts of buf */
		return;
	}
	memcpy(pp->pol.text + pp->pol.text_len, s, n);
	r->rules[r->rule_count].off = (uint32_t)pp->pol.text_len;
	r->rules[r->rule_count].len = (uint16_t)n;
	r->rules[r->rule_count].publish = (uint8_t)publish;
	r->rules[r->rule_count].shared = (uint8_t)shared;
	r->rule_count++;
	pp->pol.text_len += n;
}

static void parse_line(struct pp *pp, const char *s, size_t n, size_t buf_len)
{
	char q[QUOTE_BUF];
	const char *why;
	rp_text_line l;
	int r = rp_text_line_split(s, n, &l, &why);

	if (r < 0) {
		say(pp, pp->line, "%s", why);
		return;
	}
	if (r == 0) {
		return;
	}
	if (word_is(l.word, l.word_len, "role")) {
		start_role(pp, l.rest, l.rest_len);
	} else if (word_is(l.word, l.word_len, "publish")) {
		add_rule(pp, 1, l.rest, l.rest_len, buf_len);
	} else if (word_is(l.word, l.word_len, "subscribe")) {
		add_rule(pp, 0, l.rest, l.rest_len, buf_len);
	} else {
		quote(q, l.word, l.word_len);
		say(pp, pp->line, "unknown directive '%s' (expected role, publish or subscribe)",
		    q);
	}
}

/* Gives back the unused tail of the two allocations. */
static void shrink(rp_policy *p)
{
	void *n;

	if (p->roles != NULL && p->role_count == 0) {
		rp_free(NULL, p->roles);
		p->roles = NULL;
	} else if (p->roles != NULL && p->role_count < RP_LIMIT_POLICY_ROLES) {
		n = rp_realloc(NULL, p->roles, p->role_count * sizeof(rp_policy_role));
		if (n != NULL) {
			p->roles = n;
		}
	}
	if (p->text != NULL && p->text_len == 0) {
		rp_free(NULL, p->text);
		p->text = NULL;
	} else if (p->text != NULL) {
		n = rp_realloc(NULL, p->text, p->text_len);
		if (n != NULL) {
			p->text = n;
		}
	}
}

rp_status rp_policy_parse(rp_policy *p, const char *name, const char *buf, size_t len,
			  rp_policy_report_fn report, void *ctx)
{
	struct pp pp;
	size_t pos = 0;
	rp_status ret;

	if (p == NULL || (buf == NULL && len != 0)) {
		return RP_E_INVALID_ARG;
	}
	memset(p, 0, sizeof(*p));
	memset(&pp, 0, sizeof(pp));
	pp.pol.device_role = -1;
	pp.name = name != NULL ? name : "(policy)";
	pp.report = report;
	pp.ctx = ctx;
	pp.cur = ROLE_NONE;

	if (len > RP_LIMIT_CONFIG_FILE_SIZE) {
		say(&pp, 0, "file is larger than %u bytes", RP_LIMIT_CONFIG_FILE_SIZE);
		ret = RP_E_CONFIG;
		goto out;
	}
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
		pos = 3;
	}
	while (pos < len && pp.fatal == RP_OK) {
		const char *s = buf + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - s) : len - pos;

		pos += n + (nl != NULL ? 1u : 0u);
		pp.line++;
		if (n > 0 && s[n - 1u] == '\r') {
			n--;
		}
		if (n > RP_LIMIT_CONFIG_LINE_LEN) {
			say(&pp, pp.line, "line is longer than %u bytes", RP_LIMIT_CONFIG_LINE_LEN);
			continue;
		}
		parse_line(&pp, s, n, len);
	}
	if (pp.fatal != RP_OK) {
		say(&pp, 0, "%s", pp.fatal == RP_E_NOMEM ? "out of memory" : "internal error");
		ret = pp.fatal;
		goto out;
	}
	if (pp.errors != 0) {
		ret = RP_E_CONFIG;
		goto out;
	}
	shrink(&pp.pol);
	pp.pol.valid = 1;
	*p = pp.pol;
	return RP_OK;
out:
	rp_policy_free(&pp.pol);
	return ret;
}

void rp_policy_default(rp_policy *p)
{
	if (p == NULL) {
		return;
	}
	memset(p, 0, sizeof(*p));
	p->device_role = -1;
	p->valid = 1;
}

void rp_policy_free(rp_policy *p)
{
	if (p == NULL) {
		return;
	}
	rp_free(NULL, p->roles);
	rp_free(NULL, p->text);
	memset(p, 0, sizeof(*p));
}

/* ------------------------------------------------------------------------
 * Loading
 * ------------------------------------------------------------------------ */

rp_status rp_policy_load(rp_policy *p, const char *path, rp_policy_report_fn report, void *ctx)
{
	char why[192];
	char *buf = NULL;
	size_t len = 0;
	rp_status st;

	if (p == NULL || path == NULL) {
		return RP_E_INVALID_ARG;
	}
	memset(p, 0, sizeof(*p));
	st = rp_file_read_bounded(path, RP_LIMIT_CONFIG_FILE_SIZE, &buf, &len, why, sizeof(why));
	if (st != RP_OK && report != NULL) {
		report(ctx, path, 0, why);
	}
	if (st != RP_OK) {
		return st;
	}
	st = rp_policy_parse(p, path, buf, len, report, ctx);
	rp_free(NULL, buf);
	return st;
}
