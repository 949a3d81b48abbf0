/*
 * test_policy.c - the ACL policy: device isolation, $rampart reserved,
 * wildcard coverage (table driven), crafted identities, shared
 * subscriptions, default deny, and every parse error with its exact
 * message, file and line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/policy.h"
#include "rampart/limits.h"
#include "util/alloc.h"

#define NAME     "policy.conf"
#define CAP      "(include/rampart/limits.h)"
#define MAX_ERRS 80

struct errs {
	unsigned n;
	unsigned line[MAX_ERRS];
	char text[MAX_ERRS][600];
};

static void capture(void *ctx, const char *file, unsigned line, const char *msg)
{
	struct errs *e = ctx;

	assert_non_null(file);
	assert_non_null(msg);
	if (e->n < MAX_ERRS) {
		e->line[e->n] = line;
		if (line != 0) {
			(void)snprintf(e->text[e->n], sizeof(e->text[0]), "%s:%u: %s", file, line,
				       msg);
		} else {
			(void)snprintf(e->text[e->n], sizeof(e->text[0]), "%s: %s", file, msg);
		}
	}
	e->n++;
}

static void print_errs(const struct errs *e)
{
	unsigned i;

	for (i = 0; i < e->n && i < MAX_ERRS; i++) {
		print_message("  reported: %s\n", e->text[i]);
	}
}

static void parse_ok(rp_policy *p, const char *text)
{
	struct errs e;
	rp_status st;

	memset(&e, 0, sizeof(e));
	st = rp_policy_parse(p, NAME, text, strlen(text), capture, &e);
	if (st != RP_OK) {
		print_message("input:\n%s\n", text);
		print_errs(&e);
	}
	assert_int_equal(st, RP_OK);
	assert_int_equal(e.n, 0);
}

/* Exactly one error, this one; the policy is left denying everything. */
static void expect_error(const char *text, const char *want)
{
	struct errs e;
	rp_policy p;
	rp_status st;

	memset(&e, 0, sizeof(e));
	st = rp_policy_parse(&p, NAME, text, strlen(text), capture, &e);
	if (e.n != 1 || strcmp(e.text[0], want) != 0) {
		print_message("input:\n%s\nwant:     %s\n", text, want);
		print_errs(&e);
	}
	assert_int_equal(st, RP_E_CONFIG);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.text[0], want);
	assert_null(p.roles);
	assert_null(p.text);
	assert_int_equal(p.valid, 0);
	assert_false(rp_policy_may_publish(&p, "device", (const uint8_t *)"a", 1,
					   (const uint8_t *)"d/a/x", 5));
	assert_int_equal(rp_alloc_in_use(), 0);
}

/* Checks with C strings (an identity of NULL: none). */
static int pub(const rp_policy *p, const char *role, const char *id, const char *topic)
{
	return rp_policy_may_publish(p, role, (const uint8_t *)id, id ? strlen(id) : 0,
				     (const uint8_t *)topic, strlen(topic));
}

static int sub(const rp_policy *p, const char *role, const char *id, const char *filter)
{
	return rp_policy_may_subscribe(p, role, (const uint8_t *)id, id ? strlen(id) : 0,
				       (const uint8_t *)filter, strlen(filter));
}

/* ------------------------------------------------------------------------
 * Device isolation
 * ------------------------------------------------------------------------ */

static void check_device_isolation(const rp_policy *p)
{
	/* Its own topics. */
	assert_true(pub(p, "device", "A", "d/A/telemetry"));
	assert_true(pub(p, "device", "A", "d/A/event/boot"));
	assert_true(pub(p, "device", "A", "d/A/cmd/1/result"));
	assert_true(pub(p, "device", "A", "d/A"));
	assert_true(sub(p, "device", "A", "d/A/#"));
	assert_true(sub(p, "device", "A", "d/A/cmd/#"));
	assert_true(sub(p, "device", "A", "d/A/cmd/+"));
	assert_true(sub(p, "device", "A", "d/A/+/+"));
	assert_true(sub(p, "device", "A", "d/A/ota/manifest"));
	/* Another device's. */
	assert_false(pub(p, "device", "A", "d/B/telemetry"));
	assert_false(pub(p, "device", "A", "d/AB/telemetry"));
	assert_false(pub(p, "device", "A", "d/a/telemetry"));
	assert_false(pub(p, "device", "AB", "d/A/telemetry"));
	assert_false(sub(p, "device", "A", "d/B/#"));
	assert_false(sub(p, "device", "A", "d/B/cmd/+"));
	/* Anything wider than its own subtree. */
	assert_false(sub(p, "device", "A", "d/+/telemetry"));
	assert_false(sub(p, "device", "A", "d/+/#"));
	assert_false(sub(p, "device", "A", "d/#"));
	assert_false(sub(p, "device", "A", "#"));
	assert_false(sub(p, "device", "A", "+/A/#"));
	assert_false(sub(p, "device", "A", "+/+/+"));
	assert_false(pub(p, "device", "A", "telemetry"));
	assert_false(pub(p, "device", "A", "x/A/telemetry"));
	assert_false(pub(p, "device", "A", "/d/A/telemetry"));
	/* Wildcards are not topic names. */
	assert_false(pub(p, "device", "A", "d/A/#"));
	assert_false(pub(p, "device", "A", "d/A/+"));
}

static void test_default_device_isolation(void **state)
{
	rp_policy p;

	(void)state;
	rp_policy_default(&p);
	check_device_isolation(&p);
	assert_true(rp_policy_has_role(&p, "device"));
	assert_false(rp_policy_has_role(&p, "ingest"));
	rp_policy_free(&p);
	rp_policy_free(NULL);
}

/* A file without a device role keeps the built-in one. */
static void test_file_keeps_builtin_device(void **state)
{
	rp_policy p;

	(void)state;
	parse_ok(&p, "role ingest\n  subscribe d/+/telemetry\n");
	check_device_isolation(&p);
	assert_true(sub(&p, "ingest", NULL, "d/+/telemetry"));
	assert_false(pub(&p, "ingest", NULL, "d/A/telemetry"));
	rp_policy_free(&p);
	assert_int_equal(rp_alloc_in_use(), 0);
}

/* The device role may be restated narrower, never wider. */
static void test_device_restated(void **state)
{
	rp_policy p;

	(void)state;
	parse_ok(&p, "role device\n"
		     "  publish   d/%d/#\n"
		     "  subscribe d/%d/#\n");
	check_device_isolation(&p);
	rp_policy_free(&p);

	parse_ok(&p, "role device\n"
		     "  publish   d/%d/telemetry\n"
		     "  publish   d/%d/event/+\n"
		     "  subscribe d/%d/cmd/#\n"
		     "  publish   d/%d\n");
	assert_true(pub(&p, "device", "A", "d/A/telemetry"));
	assert_true(pub(&p, "device", "A", "d/A/event/boot"));
	assert_true(pub(&p, "device", "A", "d/A"));
	assert_false(pub(&p, "device", "A", "d/A/cmd/x"));
	assert_false(pub(&p, "device", "A", "d/A/event/boot/x"));
	assert_true(sub(&p, "device", "A", "d/A/cmd/#"));
	assert_true(sub(&p, "device", "A", "d/A/cmd/+/x"));
	assert_false(sub(&p, "device", "A", "d/A/#"));
	assert_false(sub(&p, "device", "A", "d/A/telemetry"));
	rp_policy_free(&p);

	/* Restated empty: devices may do nothing. */
	parse_ok(&p, "role device\n");
	assert_false(pub(&p, "device", "A", "d/A/telemetry"));
	assert_false(sub(&p, "device", "A", "d/A/#"));
	rp_policy_free(&p);

	expect_error("role device\n  publish d/+/telemetry\n",
		     NAME ":2: publish: 'd/+/telemetry' is wider than d/%d/#: role device may use "
			  "only the topics below d/{its id}/");
	expect_error("role device\n  subscribe #\n",
		     NAME ":2: subscribe: '#' is wider than d/%d/#: role device may use only the "
			  "topics below d/{its id}/");
	expect_error("role device\n  subscribe d/#\n",
		     NAME ":2: subscribe: 'd/#' is wider than d/%d/#: role device may use only the "
			  "topics below d/{its id}/");
	expect_error("role device\n  subscribe d/fixed/#\n",
		     NAME ":2: subscribe: 'd/fixed/#' is wider than d/%d/#: role device may use "
			  "only the topics below d/{its id}/");
	expect_error("role device\n  subscribe $share/g/d/%d/#\n",
		     NAME ":2: subscribe: '$share/g/d/%d/#' is wider than d/%d/#: role device may "
			  "use only the topics below d/{its id}/");
	expect_error("role device\n  subscribe $rampart/#\n",
		     NAME ":2: subscribe: '$rampart/#' is wider than d/%d/#: role device may use "
			  "only the topics below d/{its id}/");
}

/* ------------------------------------------------------------------------
 * $rampart
 * ------------------------------------------------------------------------ */

static void test_rampart_reserved(void **state)
{
	rp_policy p;

	(void)state;
	parse_ok(&p, "role admin\n"
		     "  publish   #\n"
		     "  subscribe #\n"
		     "  publish   +/#\n"
		     "role monitor\n"
		     "  subscribe $rampart/alerts/#\n"
		     "  subscribe $share/mon/$rampart/metrics/+\n");
	/* Nobody publishes there, whatever the patterns. */
	assert_false(pub(&p, "admin", NULL, "$rampart/alerts/x"));
	assert_false(pub(&p, "admin", NULL, "$rampart"));
	assert_false(pub(&p, "monitor", NULL, "$rampart/alerts/x"));
	assert_false(pub(&p, "device", "A", "$rampart/x"));
	/* '#' does not reach '$' topics; other topics it does. */
	assert_true(pub(&p, "admin", NULL, "d/A/cmd/reboot"));
	assert_true(pub(&p, "admin", NULL, "$rampartx/y") == 0);
	assert_false(sub(&p, "admin", NULL, "$rampart/alerts/#"));
	assert_false(sub(&p, "admin", NULL, "$rampart/#"));
	assert_false(sub(&p, "admin", NULL, "$share/g/$rampart/alerts/x"));
	assert_false(sub(&p, "admin", NULL, "$SYS/#"));
	assert_true(sub(&p, "admin", NULL, "#"));
	assert_true(sub(&p, "admin", NULL, "+/+/telemetry"));
	/* Only the role that names it subscribes to it. */
	assert_true(sub(&p, "monitor", NULL, "$rampart/alerts/#"));
	assert_true(sub(&p, "monitor", NULL, "$rampart/alerts/device/A"));
	assert_true(sub(&p, "monitor", NULL, "$share/g/$rampart/alerts/+"));
	assert_true(sub(&p, "monitor", NULL, "$rampart/alerts"));
	assert_false(sub(&p, "monitor", NULL, "$rampart/#"));
	assert_false(sub(&p, "monitor", NULL, "$rampart/other"));
	assert_false(sub(&p, "monitor", NULL, "$rampart/metrics/cpu"));
	assert_true(sub(&p, "monitor", NULL, "$share/mon/$rampart/metrics/cpu"));
	assert_false(sub(&p, "device", "A", "$rampart/alerts/#"));
	rp_policy_free(&p);

	expect_error("role x\n  publish $rampart/cmd\n",
		     NAME ":2: publish: '$rampart/cmd' is reserved to the server: nobody may "
			  "publish to $rampart");
	expect_error("role x\n  publish $rampart\n",
		     NAME ":2: publish: '$rampart' is reserved to the server: nobody may publish "
			  "to $rampart");
	parse_ok(&p, "role x\n  publish $rampartish/x\n");
	assert_true(pub(&p, "x", NULL, "$rampartish/x"));
	rp_policy_free(&p);

	/*
	 * The check refuses $rampart even for a rule the parser would never
	 * have let through (a policy built by hand, or a future bug).
	 */
	{
		static rp_policy_role role;
		static uint8_t text[] = "$rampart/#$rampart";
		rp_policy hand;

		memset(&hand, 0, sizeof(hand));
		(void)snprintf(role.name, sizeof(role.name), "x");
		role.rule_count = 3;
		role.rules[0] = (rp_policy_rule){0, 10, 1, 0};
		role.rules[1] = (rp_policy_rule){10, 8, 1, 0};
		role.rules[2] = (rp_policy_rule){0, 10, 0, 0};
		hand.roles = &role;
		hand.role_count = 1;
		hand.text = text;
		hand.text_len = sizeof(text) - 1;
		hand.device_role = -1;
		hand.valid = 1;
		assert_false(pub(&hand, "x", NULL, "$rampart/a"));
		assert_false(pub(&hand, "x", NULL, "$rampart"));
		assert_true(sub(&hand, "x", NULL, "$rampart/a"));
	}
}

/* ------------------------------------------------------------------------
 * Coverage, table driven: one subscribe pattern, one request.
 * ------------------------------------------------------------------------ */

struct cov {
	const char *pattern;
	const char *request;
	int covered;
};

static const struct cov cov_table[] = {
	/* '#' covers the rest and the parent level. */
	{"#", "#", 1},
	{"#", "a", 1},
	{"#", "a/b/c", 1},
	{"#", "+/+", 1},
	{"#", "/", 1},
	{"a/#", "a", 1},
	{"a/#", "a/#", 1},
	{"a/#", "a/b/#", 1},
	{"a/#", "a/+", 1},
	{"a/#", "a/+/c/#", 1},
	{"a/#", "b/#", 0},
	{"a/#", "#", 0},
	{"a/#", "+/#", 0},
	{"a/#", "+", 0},
	{"a/b/#", "a", 0},
	{"a/b/#", "a/#", 0},
	{"a/b/#", "a/+/#", 0},
	/* '+' covers a literal or '+', not '#'. */
	{"+", "a", 1},
	{"+", "+", 1},
	{"+", "#", 0},
	{"+", "a/b", 0},
	{"+", "", 0},
	{"a/+", "a/b", 1},
	{"a/+", "a/+", 1},
	{"a/+", "a/#", 0},
	{"a/+", "a", 0},
	{"a/+", "a/b/c", 0},
	{"a/+", "a/", 1},
	{"+/b", "a/b", 1},
	{"+/b", "+/b", 1},
	{"+/b", "#", 0},
	{"a/+/#", "a/b", 1},
	{"a/+/#", "a/+", 1},
	{"a/+/#", "a/b/c/d", 1},
	{"a/+/#", "a/#", 0},
	{"a/+/#", "a", 0},
	{"a/+/c", "a/+/c", 1},
	{"a/+/c", "a/b/c", 1},
	{"a/+/c", "a/b/#", 0},
	/* A literal covers only itself. */
	{"a/b", "a/b", 1},
	{"a/b", "a/+", 0},
	{"a/b", "a/#", 0},
	{"a/b", "a/b/c", 0},
	{"a/b", "a", 0},
	{"a/b", "a/bc", 0},
	{"a/b", "A/b", 0},
	{"a//b", "a//b", 1},
	{"a//b", "a/+/b", 0},
	{"a/+/b", "a//b", 1},
	{"/a", "/a", 1},
	{"/a", "a", 0},
	{"+/a", "/a", 1},
	/* '$' topics need a pattern that names their first level. */
	{"#", "$SYS/x", 0},
	{"+/x", "$SYS/x", 0},
	{"+/#", "$SYS", 0},
	{"$SYS/#", "$SYS/x", 1},
	{"$SYS/#", "$SYS/#", 1},
	{"$SYS/+", "$SYS/x", 1},
	{"$SYS/#", "#", 0},
	{"$SYS/#", "+/x", 0},
	/* UTF-8 levels compare as bytes. */
	{"d/\xC3\xA9t\xC3\xA9/#", "d/\xC3\xA9t\xC3\xA9/x", 1},
	{"d/\xC3\xA9t\xC3\xA9/#", "d/\xC3\xA9te/x", 0},
	/* Shared requests are judged on their filter by ordinary patterns. */
	{"a/#", "$share/g/a/b", 1},
	{"a/#", "$share/g/a/#", 1},
	{"a/+", "$share/g/a/#", 0},
	{"#", "$share/g/#", 1},
	{"#", "$share/g/$SYS/#", 0},
	{"a/#", "$share/a/b", 0},
	/* Shared patterns cover shared requests only, group and filter. */
	{"$share/g/a/#", "$share/g/a/b", 1},
	{"$share/g/a/#", "$share/h/a/b", 0},
	{"$share/g/a/#", "a/b", 0},
	{"$share/g/a/#", "$share/g/b", 0},
	{"$share/+/a/#", "$share/any/a/b", 1},
	{"$share/+/a/#", "a/b", 0},
	{"$share/g/a/+", "$share/g/a/#", 0},
	{"$share/g/#", "$share/g/$SYS/x", 0},
	/* Invalid requests are denied, whatever the pattern. */
	{"#", "a/#/b", 0},
	{"#", "a+", 0},
	{"#", "a/b#", 0},
	{"#", "$share/g", 0},
	{"#", "$share//a", 0},
	{"#", "$share/g+/a", 0},
	{"#", "", 0},
};

static void test_coverage_table(void **state)
{
	char text[256];
	rp_policy p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cov_table) / sizeof(cov_table[0]); i++) {
		const struct cov *c = &cov_table[i];
		int got;

		(void)snprintf(text, sizeof(text), "role t\nsubscribe %s\n", c->pattern);
		parse_ok(&p, text);
		got = sub(&p, "t", "id", c->request);
		if (got != c->covered) {
			print_message("pattern '%s' request '%s': got %d, want %d\n", c->pattern,
				      c->request, got, c->covered);
		}
		assert_int_equal(got, c->covered);
		/* A publish pattern matches what it covers, for topic names. */
		if (strchr(c->pattern, '$') == NULL || strncmp(c->pattern, "$SYS", 4) == 0) {
			rp_policy q;

			(void)snprintf(text, sizeof(text), "role t\npublish %s\n", c->pattern);
			parse_ok(&q, text);
			if (strpbrk(c->request, "+#") == NULL &&
			    strncmp(c->request, "$share/", 7) != 0 && c->request[0] != '\0') {
				assert_int_equal(pub(&q, "t", "id", c->request), c->covered);
			}
			/* And never allows subscribing. */
			assert_false(sub(&q, "t", "id", c->request));
			rp_policy_free(&q);
		}
		rp_policy_free(&p);
	}
	assert_int_equal(rp_alloc_in_use(), 0);
}

/* %d stands for the identity as one whole level, wherever it is. */
static void test_identity_substitution(void **state)
{
	rp_policy p;

	(void)state;
	parse_ok(&p, "role gw\n"
		     "  publish   gw/%d/up/#\n"
		     "  subscribe gw/%d/+/down\n"
		     "  subscribe %d/#\n"
		     "  subscribe $share/%d/fleet/#\n");
	assert_true(pub(&p, "gw", "g1", "gw/g1/up/x"));
	assert_false(pub(&p, "gw", "g1", "gw/g2/up/x"));
	assert_true(sub(&p, "gw", "g1", "gw/g1/+/down"));
	assert_true(sub(&p, "gw", "g1", "gw/g1/a/down"));
	assert_false(sub(&p, "gw", "g1", "gw/+/a/down"));
	assert_true(sub(&p, "gw", "g1", "g1/#"));
	assert_false(sub(&p, "gw", "g1", "g2/#"));
	assert_false(sub(&p, "gw", "g1", "+/#"));
	assert_true(sub(&p, "gw", "g1", "$share/g1/fleet/x"));
	assert_false(sub(&p, "gw", "g1", "$share/g2/fleet/x"));
	assert_false(sub(&p, "gw", "g1", "fleet/x"));
	/* Without an identity, %d rules never match. */
	assert_false(pub(&p, "gw", NULL, "gw/g1/up/x"));
	assert_false(sub(&p, "gw", NULL, "g1/#"));
	rp_policy_free(&p);

	/* A request holding "%d" literally is not the pattern. */
	rp_policy_default(&p);
	assert_false(sub(&p, "device", "A", "d/%d/#"));
	assert_true(sub(&p, "device", "%d", "d/%d/#"));
	rp_policy_free(&p);
}

/* A crafted identity never widens a %d rule. */
static void test_crafted_identities(void **state)
{
	static char long_id[RP_LIMIT_MQTT_TOPIC_LEN + 2];
	rp_policy p;

	(void)state;
	rp_policy_default(&p);

	/* "a/b" would turn d/%d/# into d/a/b/#. */
	assert_false(pub(&p, "device", "a/b", "d/a/b/telemetry"));
	assert_false(sub(&p, "device", "a/b", "d/a/b/#"));
	assert_false(pub(&p, "device", "a/b", "d/a/telemetry"));
	/* "+" and "#" would be wildcards. */
	assert_false(sub(&p, "device", "+", "d/+/telemetry"));
	assert_false(sub(&p, "device", "+", "d/+/#"));
	assert_false(pub(&p, "device", "+", "d/x/telemetry"));
	assert_false(sub(&p, "device", "#", "d/#"));
	assert_false(sub(&p, "device", "#", "d/#/x"));
	assert_false(pub(&p, "device", "#", "d/x"));
	assert_false(sub(&p, "device", "x+", "d/x+/#"));
	/* Empty would give d//#. */
	assert_false(pub(&p, "device", "", "d//telemetry"));
	assert_false(sub(&p, "device", "", "d//#"));
	/* A leading '$'. */
	assert_false(pub(&p, "device", "$x", "d/$x/telemetry"));
	/* NUL inside, invalid UTF-8. */
	assert_false(rp_policy_may_publish(&p, "device", (const uint8_t *)"a\0b", 3,
					   (const uint8_t *)"d/a/t", 5));
	assert_false(rp_policy_may_publish(&p, "device", (const uint8_t *)"a\0b", 3,
					   (const uint8_t *)"d/a\0b/t", 7));
	assert_false(pub(&p, "device", "\xff", "d/\xff/t"));
	assert_false(pub(&p, "device", "\xC0\xAF", "d/\xC0\xAF/t"));
	assert_false(pub(&p, "device", "\xED\xA0\x80", "d/\xED\xA0\x80/t"));
	/* Too long. */
	memset(long_id, 'a', RP_LIMIT_MQTT_TOPIC_LEN + 1);
	assert_false(rp_policy_may_publish(&p, "device", (const uint8_t *)long_id,
					   RP_LIMIT_MQTT_TOPIC_LEN + 1, (const uint8_t *)"d/a/t",
					   5));
	/* A NULL identity with a length is no identity. */
	assert_false(rp_policy_may_publish(&p, "device", NULL, 3, (const uint8_t *)"d/a/t", 5));
	/* Fine: UTF-8, punctuation that is not a wildcard. */
	assert_true(pub(&p, "device", "\xC3\xA9t\xC3\xA9", "d/\xC3\xA9t\xC3\xA9/t"));
	assert_true(pub(&p, "device", "sn-0042.x_y", "d/sn-0042.x_y/t"));
	assert_true(pub(&p, "device", "a b", "d/a b/t"));
	rp_policy_free(&p);

	/* Rules without %d still apply to a client with a crafted identity. */
	{
		rp_policy q;

		parse_ok(&q, "role svc\n  subscribe d/+/telemetry\n  publish d/%d/x\n");
		assert_true(sub(&q, "svc", "a/b", "d/+/telemetry"));
		assert_false(pub(&q, "svc", "a/b", "d/a/b/x"));
		rp_policy_free(&q);
	}
}

/* The example of the broker issue. */
static void test_issue_example(void **state)
{
	static const char text[] = "# built-in, may be restated but not widened beyond d/%d/#:\n"
				   "role device\n"
				   "  publish   d/%d/#\n"
				   "  subscribe d/%d/#\n"
				   "role ingest\n"
				   "  subscribe $share/ingest/d/+/telemetry\n"
				   "  subscribe d/+/telemetry\n"
				   "role commander\n"
				   "  publish   d/+/cmd/#\n"
				   "  subscribe d/+/cmd/+/result\n";
	rp_policy p;

	(void)state;
	parse_ok(&p, text);
	check_device_isolation(&p);
	assert_true(rp_policy_has_role(&p, "ingest"));
	assert_true(rp_policy_has_role(&p, "commander"));
	assert_true(sub(&p, "ingest", NULL, "$share/ingest/d/+/telemetry"));
	assert_true(sub(&p, "ingest", NULL, "$share/other/d/+/telemetry"));
	assert_true(sub(&p, "ingest", NULL, "d/+/telemetry"));
	assert_true(sub(&p, "ingest", NULL, "d/A/telemetry"));
	assert_false(sub(&p, "ingest", NULL, "d/+/cmd/#"));
	assert_false(sub(&p, "ingest", NULL, "d/#"));
	assert_false(pub(&p, "ingest", NULL, "d/A/telemetry"));
	assert_true(pub(&p, "commander", NULL, "d/A/cmd/reboot"));
	assert_true(pub(&p, "commander", NULL, "d/A/cmd"));
	assert_false(pub(&p, "commander", NULL, "d/A/telemetry"));
	assert_true(sub(&p, "commander", NULL, "d/+/cmd/+/result"));
	assert_true(sub(&p, "commander", NULL, "d/A/cmd/7/result"));
	assert_false(sub(&p, "commander", NULL, "d/+/cmd/#"));
	assert_false(sub(&p, "commander", NULL, "d/A/telemetry"));
	rp_policy_free(&p);

	/* A shared pattern alone does not grant the plain subscription. */
	parse_ok(&p, "role ingest\n  subscribe $share/ingest/d/+/telemetry\n");
	assert_true(sub(&p, "ingest", NULL, "$share/ingest/d/+/telemetry"));
	assert_true(sub(&p, "ingest", NULL, "$share/ingest/d/A/telemetry"));
	assert_false(sub(&p, "ingest", NULL, "$share/other/d/+/telemetry"));
	assert_false(sub(&p, "ingest", NULL, "$share/ingest/d/#"));
	assert_false(sub(&p, "ingest", NULL, "d/+/telemetry"));
	rp_policy_free(&p);
}

/* Unknown roles, NULL arguments and a zeroed policy deny. */
static void test_default_deny(void **state)
{
	rp_policy p, zero;

	(void)state;
	parse_ok(&p, "role ingest\n  subscribe #\n  publish #\n");
	assert_false(sub(&p, "ingester", NULL, "a"));
	assert_false(sub(&p, "Ingest", NULL, "a"));
	assert_false(sub(&p, "", NULL, "a"));
	assert_false(pub(&p, "admin", NULL, "a"));
	assert_false(rp_policy_may_publish(&p, NULL, NULL, 0, (const uint8_t *)"a", 1));
	assert_false(rp_policy_may_subscribe(&p, NULL, NULL, 0, (const uint8_t *)"a", 1));
	assert_false(rp_policy_may_publish(NULL, "ingest", NULL, 0, (const uint8_t *)"a", 1));
	assert_false(rp_policy_may_subscribe(NULL, "ingest", NULL, 0, (const uint8_t *)"a", 1));
	assert_false(rp_policy_may_publish(&p, "ingest", NULL, 0, NULL, 0));
	assert_false(rp_policy_may_subscribe(&p, "ingest", NULL, 0, NULL, 0));
	assert_false(rp_policy_may_publish(&p, "ingest", NULL, 0, NULL, 3));
	assert_true(pub(&p, "ingest", NULL, "a"));
	assert_true(sub(&p, "ingest", NULL, "a"));
	assert_false(rp_policy_has_role(&p, NULL));
	assert_false(rp_policy_has_role(NULL, "device"));
	rp_policy_free(&p);
	/* After free: zeroed, deny. */
	assert_false(pub(&p, "ingest", NULL, "a"));
	assert_false(pub(&p, "device", "A", "d/A/t"));

	memset(&zero, 0, sizeof(zero));
	assert_false(pub(&zero, "device", "A", "d/A/t"));
	assert_false(sub(&zero, "device", "A", "d/A/#"));
	assert_false(rp_policy_has_role(&zero, "device"));
	rp_policy_free(&zero);

	assert_int_equal(rp_policy_parse(NULL, NAME, "", 0, NULL, NULL), RP_E_INVALID_ARG);
	assert_int_equal(rp_policy_parse(&p, NAME, NULL, 1, NULL, NULL), RP_E_INVALID_ARG);
	assert_int_equal(rp_policy_load(NULL, "x", NULL, NULL), RP_E_INVALID_ARG);
	assert_int_equal(rp_policy_load(&p, NULL, NULL, NULL), RP_E_INVALID_ARG);
	/* An empty file: only the built-in device role. */
	assert_int_equal(rp_policy_parse(&p, NAME, NULL, 0, NULL, NULL), RP_OK);
	check_device_isolation(&p);
	rp_policy_free(&p);
	assert_int_equal(rp_alloc_in_use(), 0);
}

/* Requests too long or too deep for the hard caps are denied. */
static void test_request_limits(void **state)
{
	static char topic[RP_LIMIT_MQTT_TOPIC_LEN + 8];
	rp_policy p;
	size_t i;

	(void)state;
	parse_ok(&p, "role t\n  subscribe #\n  publish #\n");
	memset(topic, 'a', sizeof(topic));
	assert_true(rp_policy_may_publish(&p, "t", NULL, 0, (const uint8_t *)topic,
					  RP_LIMIT_MQTT_TOPIC_LEN));
	assert_false(rp_policy_may_publish(&p, "t", NULL, 0, (const uint8_t *)topic,
					   RP_LIMIT_MQTT_TOPIC_LEN + 1));
	for (i = 0; i < RP_LIMIT_MQTT_TOPIC_LEVELS; i++) {
		topic[2 * i] = 'x';
		topic[2 * i + 1] = '/';
	}
	/* 32 levels ("x/" * 31 + "x") is fine; 33 is not. */
	assert_true(rp_policy_may_publish(&p, "t", NULL, 0, (const uint8_t *)topic,
					  2 * RP_LIMIT_MQTT_TOPIC_LEVELS - 1));
	assert_false(rp_policy_may_subscribe(&p, "t", NULL, 0, (const uint8_t *)topic,
					     2 * RP_LIMIT_MQTT_TOPIC_LEVELS + 1));
	rp_policy_free(&p);
}

/* ------------------------------------------------------------------------
 * Parse errors
 * ------------------------------------------------------------------------ */

static void test_parse_errors(void **state)
{
	(void)state;
	expect_error("allow d/#\n", NAME ":1: unknown directive 'allow' (expected role, publish "
					 "or subscribe)");
	expect_error("Role x\n", NAME ":1: unknown directive 'Role' (expected role, publish or "
				      "subscribe)");
	expect_error("\n\nrole\n", NAME ":3: role: missing name");
	expect_error("role a b\n", NAME ":1: role: 'a b' is not a role name (1 to 64 of A-Z a-z "
					"0-9 _ . -)");
	expect_error("role a/b\n", NAME ":1: role: 'a/b' is not a role name (1 to 64 of A-Z a-z "
					"0-9 _ . -)");
	expect_error("role x\nrole y\nrole x\n", NAME ":3: role x: already defined (line 1)");
	expect_error("publish d/#\n", NAME ":1: publish: rule outside a role (start one with "
					   "'role NAME')");
	expect_error("  subscribe d/#\nrole x\n", NAME ":1: subscribe: rule outside a role (start "
						       "one with 'role NAME')");
	expect_error("role x\n  publish\n", NAME ":2: publish: missing pattern");
	expect_error("role x\n  subscribe \t \n", NAME ":2: subscribe: missing pattern");
	expect_error("role x\n  subscribe a/#/b\n",
		     NAME ":2: subscribe: 'a/#/b' has a '#' that is not the whole last level");
	expect_error("role x\n  subscribe a#\n",
		     NAME ":2: subscribe: 'a#' has a '#' that is not the whole last level");
	expect_error("role x\n  publish a/b+\n",
		     NAME ":2: publish: 'a/b+' has a '+' that is not a whole level");
	expect_error("role x\n  publish d/%u/#\n",
		     NAME ":2: publish: 'd/%u/#' has a '%' that is not a whole %d level");
	expect_error("role x\n  publish d/x%d/#\n",
		     NAME ":2: publish: 'd/x%d/#' has a '%' that is not a whole %d level");
	expect_error("role x\n  publish d/%/#\n",
		     NAME ":2: publish: 'd/%/#' has a '%' that is not a whole %d level");
	expect_error("role x\n  subscribe $share/g\n",
		     NAME ":2: subscribe: '$share/g' needs a group and a filter "
			  "($share/GROUP/FILTER)");
	expect_error("role x\n  subscribe $share//a\n",
		     NAME ":2: subscribe: '$share//a' needs a group and a filter "
			  "($share/GROUP/FILTER)");
	expect_error("role x\n  subscribe $share/g/\n",
		     NAME ":2: subscribe: '$share/g/' needs a filter after the group "
			  "($share/GROUP/FILTER)");
	expect_error("role x\n  subscribe $share/g#/a\n",
		     NAME ":2: subscribe: '$share/g#/a' has a group that is not '+', '%d' or a "
			  "name without wildcards");
	expect_error("role x\n  subscribe $share/%dx/a\n",
		     NAME ":2: subscribe: '$share/%dx/a' has a group that is not '+', '%d' or a "
			  "name without wildcards");
	expect_error("role x\n  subscribe $share/g/a+\n",
		     NAME ":2: subscribe: '$share/g/a+' has a '+' that is not a whole level");
	expect_error("role x\n  publish $share/g/a\n",
		     NAME ":2: publish: '$share/g/a' is a shared subscription: $share/ is for "
			  "subscribe rules");
	expect_error("role x\n  subscribe a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/"
		     "1/2/3/4/5/6/7\n",
		     NAME ":2: subscribe: 'a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/1/2/"
			  "3/4/5/6/...' has more than 32 levels " CAP);
	expect_error("role x\n  subscribe \x1b[31m\xC0\n", NAME ":2: line is not valid UTF-8");
	/* Echoed patterns cannot inject control sequences. */
	expect_error("role x\n  subscribe a/\x1b[31m/#/b\n",
		     NAME ":2: subscribe: 'a/\\x1b[31m/#/b' has a '#' that is not the whole last "
			  "level");
}

static void test_parse_limits(void **state)
{
	char *text;
	size_t off = 0, cap = 256 * 1024;
	struct errs e;
	rp_policy p;
	unsigned i;

	(void)state;
	text = malloc(cap);
	assert_non_null(text);

	/* 64 roles of 64 rules are fine. */
	for (i = 0; i < RP_LIMIT_POLICY_ROLES; i++) {
		unsigned k;

		off += (size_t)snprintf(text + off, cap - off, "role r%u\n", i);
		for (k = 0; k < RP_LIMIT_POLICY_RULES; k++) {
			off += (size_t)snprintf(text + off, cap - off, " %s x/%u/%u\n",
						k % 2 ? "publish" : "subscribe", i, k);
		}
	}
	parse_ok(&p, text);
	assert_int_equal(p.role_count, RP_LIMIT_POLICY_ROLES);
	assert_true(sub(&p, "r63", NULL, "x/63/62"));
	assert_false(sub(&p, "r63", NULL, "x/63/63"));
	assert_true(pub(&p, "r63", NULL, "x/63/63"));
	assert_true(pub(&p, "r0", NULL, "x/0/1"));
	check_device_isolation(&p);
	rp_policy_free(&p);

	/* One rule more, one role more: both reported, with their lines. */
	off += (size_t)snprintf(text + off, cap - off, " publish too/many\nrole r64\n");
	memset(&e, 0, sizeof(e));
	assert_int_equal(rp_policy_parse(&p, NAME, text, off, capture, &e), RP_E_CONFIG);
	assert_int_equal(e.n, 2);
	(void)snprintf(text, cap, NAME ":%u: publish: role r63 has more than 64 rules " CAP,
		       RP_LIMIT_POLICY_ROLES * (RP_LIMIT_POLICY_RULES + 1) + 1);
	assert_string_equal(e.text[0], text);
	(void)snprintf(text, cap, NAME ":%u: role r64: more than 64 roles " CAP,
		       RP_LIMIT_POLICY_ROLES * (RP_LIMIT_POLICY_RULES + 1) + 2);
	assert_string_equal(e.text[1], text);
	assert_int_equal(rp_alloc_in_use(), 0);

	/* A role name of 64 characters is fine, 65 is not. */
	(void)snprintf(text, cap, "role %064d\n", 1);
	parse_ok(&p, text);
	rp_policy_free(&p);
	(void)snprintf(text, cap, "role %065d\n", 1);
	memset(&e, 0, sizeof(e));
	assert_int_equal(rp_policy_parse(&p, NAME, text, strlen(text), capture, &e), RP_E_CONFIG);
	assert_int_equal(e.n, 1);

	/* Lines over 1024 bytes; NUL bytes; a file over 1 MiB. */
	memset(text, 'a', 2000);
	memcpy(text, "role x\npublish ", 15);
	text[7 + 1025] = '\n';
	text[7 + 1026] = '\0';
	expect_error(text, NAME ":2: line is longer than 1024 bytes");
	text[7 + 1024] = '\n';
	text[7 + 1025] = '\0';
	parse_ok(&p, text);
	rp_policy_free(&p);
	memset(&e, 0, sizeof(e));
	assert_int_equal(rp_policy_parse(&p, NAME, "role x\nrole\0y\n", 14, capture, &e),
			 RP_E_CONFIG);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.text[0], NAME ":2: line holds a NUL byte");
	free(text);

	text = malloc(RP_LIMIT_CONFIG_FILE_SIZE + 1u);
	assert_non_null(text);
	memset(text, '\n', RP_LIMIT_CONFIG_FILE_SIZE + 1u);
	memset(&e, 0, sizeof(e));
	assert_int_equal(
		rp_policy_parse(&p, NAME, text, RP_LIMIT_CONFIG_FILE_SIZE + 1u, capture, &e),
		RP_E_CONFIG);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.text[0], NAME ": file is larger than 1048576 bytes");
	assert_int_equal(rp_policy_parse(&p, NAME, text, RP_LIMIT_CONFIG_FILE_SIZE, NULL, NULL),
			 RP_OK);
	rp_policy_free(&p);
	free(text);
}

/* Every error of a file, in order; rules of a refused role are still checked. */
static void test_multi_error(void **state)
{
	static const char text[] = "# policy with mistakes\n"
				   "role ingest\n"
				   "  subscribe d/+/telemetry\n"
				   "  subscribe d/+telemetry\n"
				   "role bad name\n"
				   "  publish   x/#/y\n"
				   "  publish   ok/#\n"
				   "role device\n"
				   "  publish   d/+/x\n"
				   "  subscribe d/%d/#\n"
				   "grant everything\n"
				   "role ingest\n";
	static const char *const want[] = {
		NAME ":4: subscribe: 'd/+telemetry' has a '+' that is not a whole level",
		NAME ":5: role: 'bad name' is not a role name (1 to 64 of A-Z a-z 0-9 _ . -)",
		NAME ":6: publish: 'x/#/y' has a '#' that is not the whole last level",
		NAME ":9: publish: 'd/+/x' is wider than d/%d/#: role device may use only the "
		     "topics below d/{its id}/",
		NAME ":11: unknown directive 'grant' (expected role, publish or subscribe)",
		NAME ":12: role ingest: already defined (line 2)",
	};
	struct errs e;
	rp_policy p;
	size_t i;

	(void)state;
	memset(&e, 0, sizeof(e));
	assert_int_equal(rp_policy_parse(&p, NAME, text, strlen(text), capture, &e), RP_E_CONFIG);
	if (e.n != sizeof(want) / sizeof(want[0])) {
		print_errs(&e);
	}
	assert_int_equal(e.n, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < e.n; i++) {
		assert_string_equal(e.text[i], want[i]);
	}
	assert_int_equal(p.valid, 0);
	assert_int_equal(rp_alloc_in_use(), 0);
	/* A NULL name is "(policy)"; a NULL callback still counts. */
	memset(&e, 0, sizeof(e));
	assert_int_equal(rp_policy_parse(&p, NULL, "x", 1, capture, &e), RP_E_CONFIG);
	assert_string_equal(e.text[0], "(policy):1: unknown directive 'x' (expected role, publish "
				       "or subscribe)");
	assert_int_equal(rp_policy_parse(&p, NULL, text, strlen(text), NULL, NULL), RP_E_CONFIG);
}

/* Layout: CRLF, BOM, tabs, comments, no final newline, spaces in patterns. */
static void test_layout(void **state)
{
	rp_policy p;

	(void)state;
	parse_ok(&p, "\xEF\xBB\xBFrole svc\r\n\t# comment\r\n\tpublish\tbuilding 7/floor 2/#\t \r\n"
		     "subscribe   a/b");
	assert_true(pub(&p, "svc", NULL, "building 7/floor 2/room"));
	assert_false(pub(&p, "svc", NULL, "building 7/floor 3/room"));
	assert_true(sub(&p, "svc", NULL, "a/b"));
	rp_policy_free(&p);
}

/* Every allocation failure is reported and leaks nothing. */
static void test_alloc_failures(void **state)
{
	static const char text[] = "role a\n subscribe x/#\nrole b\n publish y/#\n";
	struct errs e;
	rp_policy p;
	long n;
	int ok = 0;

	(void)state;
	for (n = 0; n < 16 && !ok; n++) {
		rp_status st;

		memset(&e, 0, sizeof(e));
		rp_alloc_fail_after(n);
		st = rp_policy_parse(&p, NAME, text, strlen(text), capture, &e);
		rp_alloc_fail_after(-1);
		if (st == RP_OK) {
			assert_true(sub(&p, "a", NULL, "x/1"));
			assert_true(pub(&p, "b", NULL, "y/1"));
			rp_policy_free(&p);
			ok = 1;
		} else {
			assert_int_equal(st, RP_E_NOMEM);
			assert_int_equal(e.n, 1);
			assert_string_equal(e.text[0], NAME ": out of memory");
			assert_int_equal(p.valid, 0);
		}
		assert_int_equal(rp_alloc_in_use(), 0);
	}
	assert_true(ok);
	assert_true(n >= 2);
}

static void test_load(void **state)
{
	char dir[] = "/tmp/rp_test_policy.XXXXXX";
	char path[128], want[256];
	static const char text[] = "role ingest\n  subscribe d/+/telemetry\n";
	struct errs e;
	rp_policy p;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	(void)snprintf(path, sizeof(path), "%s/policy.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);

	memset(&e, 0, sizeof(e));
	assert_int_equal(rp_policy_load(&p, path, capture, &e), RP_OK);
	assert_true(sub(&p, "ingest", NULL, "d/+/telemetry"));
	rp_policy_free(&p);

	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs("role x\n publish $rampart/x\n", f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(rp_policy_load(&p, path, capture, &e), RP_E_CONFIG);
	assert_int_equal(e.n, 1);
	(void)snprintf(want, sizeof(want),
		       "%s:2: publish: '$rampart/x' is reserved to the server: nobody may publish "
		       "to $rampart",
		       path);
	assert_string_equal(e.text[0], want);
	assert_int_equal(unlink(path), 0);

	memset(&e, 0, sizeof(e));
	assert_int_equal(rp_policy_load(&p, path, capture, &e), RP_E_CONFIG);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.line[0], 0);
	(void)snprintf(want, sizeof(want), "%s: cannot open: %s", path, strerror(ENOENT));
	assert_string_equal(e.text[0], want);

	memset(&e, 0, sizeof(e));
	assert_int_equal(rp_policy_load(&p, dir, capture, &e), RP_E_CONFIG);
	(void)snprintf(want, sizeof(want), "%s: is not a regular file", dir);
	assert_string_equal(e.text[0], want);
	assert_int_equal(p.valid, 0);
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(rp_alloc_in_use(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_device_isolation),
		cmocka_unit_test(test_file_keeps_builtin_device),
		cmocka_unit_test(test_device_restated),
		cmocka_unit_test(test_rampart_reserved),
		cmocka_unit_test(test_coverage_table),
		cmocka_unit_test(test_identity_substitution),
		cmocka_unit_test(test_crafted_identities),
		cmocka_unit_test(test_issue_example),
		cmocka_unit_test(test_default_deny),
		cmocka_unit_test(test_request_limits),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_multi_error),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_alloc_failures),
		cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
