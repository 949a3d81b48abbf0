/*
 * test_mqtt_topic.c - topic names, topic filters, shared subscriptions and
 * matching (MQTT 5.0 section 4.7, 4.8.2; 3.1.1 section 4.7).
 */
#include "mqtt_test_util.h"

#define S(lit) (const uint8_t *)(lit), (sizeof(lit) - 1u)

static rp_status name_check(const char *t, size_t n)
{
	rp_mqtt_limits lim = tu_limits();
	uint8_t *h = tu_heap_copy((const uint8_t *)t, n);
	rp_status st = rp_mqtt_topic_name_check(h, n, &lim);

	free(h);
	return st;
}

static rp_status filter_check(const char *f, size_t n)
{
	rp_mqtt_limits lim = tu_limits();
	uint8_t *h = tu_heap_copy((const uint8_t *)f, n);
	rp_status st = rp_mqtt_topic_filter_check(h, n, &lim);

	free(h);
	return st;
}

#define NAME(lit, want)                                                                            \
	do {                                                                                       \
		rp_status st_ = name_check((lit), sizeof(lit) - 1u);                               \
		if (st_ != (want)) {                                                               \
			print_error("topic name \"%s\"\n", lit);                                   \
		}                                                                                  \
		assert_status(st_, (want));                                                        \
	} while (0)

#define FILTER(lit, want)                                                                          \
	do {                                                                                       \
		rp_status st_ = filter_check((lit), sizeof(lit) - 1u);                             \
		if (st_ != (want)) {                                                               \
			print_error("topic filter \"%s\"\n", lit);                                 \
		}                                                                                  \
		assert_status(st_, (want));                                                        \
	} while (0)

/* ---- topic names ------------------------------------------------------- */

static void test_topic_name_valid(void **state)
{
	(void)state;
	NAME("a", RP_OK);
	NAME("a/b", RP_OK);
	NAME("sport/tennis/player1", RP_OK);
	NAME("/", RP_OK);        /* two empty levels */
	NAME("/finance", RP_OK); /* a leading empty level */
	NAME("a/", RP_OK);
	NAME("a//b", RP_OK);
	NAME("$SYS/broker/load", RP_OK); /* "$" topics are names too */
	NAME("Accounts payable", RP_OK); /* spaces are allowed (4.7.3) */
	NAME("caf\xc3\xa9/\xf0\x9f\x98\x80", RP_OK);
	NAME("$share/g/t", RP_OK); /* only filters are shared */
}

/* [MQTT-4.7.3-1] not empty; [MQTT-4.7.0-1] / [MQTT-3.3.2-2] no wildcards. */
static void test_topic_name_invalid(void **state)
{
	(void)state;
	NAME("", RP_E_TOPIC_NAME);
	NAME("+", RP_E_TOPIC_NAME);
	NAME("#", RP_E_TOPIC_NAME);
	NAME("a/+", RP_E_TOPIC_NAME);
	NAME("a/#", RP_E_TOPIC_NAME);
	NAME("a+b", RP_E_TOPIC_NAME);
	NAME("ab#", RP_E_TOPIC_NAME);
	NAME("+/a", RP_E_TOPIC_NAME);
	NAME("\xc3\x28", RP_E_UTF8);
	NAME("a\x00"
	     "b",
	     RP_E_UTF8);
	NAME("\xed\xa0\x80", RP_E_UTF8);
	NAME("\xf4\x90\x80\x80", RP_E_UTF8);
}

static void test_topic_name_limits(void **state)
{
	char buf[RP_LIMIT_MQTT_TOPIC_LEN + 2];
	rp_mqtt_limits lim = tu_limits();
	size_t i;

	(void)state;
	memset(buf, 'x', sizeof(buf));
	/* Length: at the limit, and one over. */
	assert_status(rp_mqtt_topic_name_check((const uint8_t *)buf, lim.max_topic_len, &lim),
		      RP_OK);
	assert_status(rp_mqtt_topic_name_check((const uint8_t *)buf, lim.max_topic_len + 1u, &lim),
		      RP_E_LIMIT);
	lim.max_topic_len = 3;
	assert_status(rp_mqtt_topic_name_check(S("abc"), &lim), RP_OK);
	assert_status(rp_mqtt_topic_name_check(S("abcd"), &lim), RP_E_LIMIT);

	/* Levels: "x/x/.../x" with max_topic_levels levels, then one more. */
	lim = tu_limits();
	for (i = 1; i < sizeof(buf); i += 2) {
		buf[i] = '/';
	}
	assert_status(rp_mqtt_topic_name_check((const uint8_t *)buf, 2u * lim.max_topic_levels - 1u,
					       &lim),
		      RP_OK);
	assert_status(rp_mqtt_topic_name_check((const uint8_t *)buf, 2u * lim.max_topic_levels + 1u,
					       &lim),
		      RP_E_LIMIT);
	/* Empty levels count: "///" is four levels. */
	lim.max_topic_levels = 3;
	assert_status(rp_mqtt_topic_name_check(S("//"), &lim), RP_OK);
	assert_status(rp_mqtt_topic_name_check(S("///"), &lim), RP_E_LIMIT);
}

static void test_topic_name_args(void **state)
{
	rp_mqtt_limits lim = tu_limits();

	(void)state;
	assert_status(rp_mqtt_topic_name_check(S("a"), NULL), RP_E_INVALID_ARG);
	assert_status(rp_mqtt_topic_name_check(NULL, 3, &lim), RP_E_INVALID_ARG);
	assert_status(rp_mqtt_topic_filter_check(S("a"), NULL), RP_E_INVALID_ARG);
	assert_status(rp_mqtt_topic_filter_check(NULL, 3, &lim), RP_E_INVALID_ARG);
}

/* ---- topic filters ----------------------------------------------------- */

static void test_topic_filter_valid(void **state)
{
	(void)state;
	FILTER("#", RP_OK);
	FILTER("+", RP_OK);
	FILTER("+/+", RP_OK);
	FILTER("/+", RP_OK);
	FILTER("+/", RP_OK);
	FILTER("a/#", RP_OK);
	FILTER("/#", RP_OK);
	FILTER("sport/tennis/#", RP_OK);
	FILTER("sport/+/player1", RP_OK);
	FILTER("+/tennis/#", RP_OK);
	FILTER("a//b", RP_OK);
	FILTER("$SYS/#", RP_OK);
	FILTER("$SYS/monitor/+", RP_OK);
	/* Shared subscriptions (4.8.2). */
	FILTER("$share/g/t", RP_OK);
	FILTER("$share/g/#", RP_OK);
	FILTER("$share/consumer1/sport/tennis/+", RP_OK);
	FILTER("$share/g/+/x", RP_OK);
	FILTER("$share/g//", RP_OK);
	FILTER("$share/g/$SYS/#", RP_OK);
	/* Not shared subscriptions: ordinary filters. */
	FILTER("$share", RP_OK);
	FILTER("$shared/x", RP_OK);
	FILTER("a/$share/g/t", RP_OK);
}

/* [MQTT-4.7.1-1] '#' last and alone; [MQTT-4.7.1-2] '+' a whole level. */
static void test_topic_filter_wildcards(void **state)
{
	(void)state;
	FILTER("", RP_E_TOPIC_FILTER);
	FILTER("sport/tennis#", RP_E_TOPIC_FILTER);
	FILTER("sport/tennis/#/ranking", RP_E_TOPIC_FILTER);
	FILTER("#/", RP_E_TOPIC_FILTER);
	FILTER("##", RP_E_TOPIC_FILTER);
	FILTER("#+", RP_E_TOPIC_FILTER);
	FILTER("sport+", RP_E_TOPIC_FILTER);
	FILTER("sport/+player1", RP_E_TOPIC_FILTER);
	FILTER("+a", RP_E_TOPIC_FILTER);
	FILTER("a+/b", RP_E_TOPIC_FILTER);
	FILTER("++", RP_E_TOPIC_FILTER);
	FILTER("+#", RP_E_TOPIC_FILTER);
}

/* 4.8.2: "$share/{ShareName}/{filter}", ShareName non-empty, no '/', '+', '#'. */
static void test_topic_filter_shared(void **state)
{
	(void)state;
	FILTER("$share/", RP_E_TOPIC_FILTER);
	FILTER("$share//t", RP_E_TOPIC_FILTER);  /* empty share name */
	FILTER("$share/g", RP_E_TOPIC_FILTER);   /* no filter */
	FILTER("$share/g/", RP_E_TOPIC_FILTER);  /* empty filter */
	FILTER("$share/+/t", RP_E_TOPIC_FILTER); /* wildcard as share name */
	FILTER("$share/#/t", RP_E_TOPIC_FILTER);
	FILTER("$share/g+/t", RP_E_TOPIC_FILTER);
	FILTER("$share/g#/t", RP_E_TOPIC_FILTER);
	FILTER("$share/g/t#", RP_E_TOPIC_FILTER); /* the filter's own rules */
	FILTER("$share/g/#/t", RP_E_TOPIC_FILTER);
	FILTER("$share/g/a+", RP_E_TOPIC_FILTER);
}

static void test_topic_filter_utf8_and_limits(void **state)
{
	rp_mqtt_limits lim = tu_limits();

	(void)state;
	FILTER("\xc3\x28/#", RP_E_UTF8);
	FILTER("a/\x00", RP_E_UTF8);
	FILTER("$share/\xff/t", RP_E_UTF8);
	lim.max_topic_len = 5;
	assert_status(rp_mqtt_topic_filter_check(S("a/b/#"), &lim), RP_OK);
	assert_status(rp_mqtt_topic_filter_check(S("a/b/c#"), &lim), RP_E_TOPIC_FILTER);
	assert_status(rp_mqtt_topic_filter_check(S("a/bc/#"), &lim), RP_E_LIMIT);
	lim = tu_limits();
	lim.max_topic_levels = 3;
	assert_status(rp_mqtt_topic_filter_check(S("+/+/#"), &lim), RP_OK);
	assert_status(rp_mqtt_topic_filter_check(S("+/+/+/#"), &lim), RP_E_LIMIT);
}

/* ---- shared split ------------------------------------------------------ */

static void test_shared_split(void **state)
{
	static const uint8_t f1[] = "$share/g/t";
	static const uint8_t f2[] = "$share/consumer1/sport/tennis/+";
	static const uint8_t f3[] = "$share/g/#";
	rp_mqtt_str group = {NULL, 99}, filter = {NULL, 99};

	(void)state;
	assert_true(rp_mqtt_topic_shared_split(f1, sizeof(f1) - 1u, &group, &filter));
	assert_str(group, "g");
	assert_str(filter, "t");
	assert_ptr_equal(group.p, f1 + 7);
	assert_ptr_equal(filter.p, f1 + 9);

	assert_true(rp_mqtt_topic_shared_split(f2, sizeof(f2) - 1u, &group, &filter));
	assert_str(group, "consumer1");
	assert_str(filter, "sport/tennis/+");

	assert_true(rp_mqtt_topic_shared_split(f3, sizeof(f3) - 1u, &group, &filter));
	assert_str(group, "g");
	assert_str(filter, "#");

	/* Not shared: 0, outputs untouched. */
	group.p = NULL;
	group.len = 99;
	filter.p = NULL;
	filter.len = 99;
	assert_false(rp_mqtt_topic_shared_split(S("sport/#"), &group, &filter));
	assert_false(rp_mqtt_topic_shared_split(S("$share"), &group, &filter));
	assert_false(rp_mqtt_topic_shared_split(S("$sharex/g/t"), &group, &filter));
	assert_false(rp_mqtt_topic_shared_split(S("$SHARE/g/t"), &group, &filter));
	assert_false(rp_mqtt_topic_shared_split(S("a/$share/g/t"), &group, &filter));
	assert_null(group.p);
	assert_int_equal(group.len, 99);
	assert_null(filter.p);
	assert_int_equal(filter.len, 99);
}

/* ---- matching ---------------------------------------------------------- */

static int match(const char *f, const char *t)
{
	size_t fl = strlen(f), tl = strlen(t);
	uint8_t *hf = tu_heap_copy((const uint8_t *)f, fl);
	uint8_t *ht = tu_heap_copy((const uint8_t *)t, tl);
	int m = rp_mqtt_topic_match(hf, fl, ht, tl);

	free(hf);
	free(ht);
	return m;
}

#define MATCH(f, t, want)                                                                          \
	do {                                                                                       \
		int m_ = match((f), (t));                                                          \
		if (m_ != (want)) {                                                                \
			print_error("filter \"%s\" topic \"%s\": %d, expected %d\n", f, t, m_,     \
				    want);                                                         \
			fail();                                                                    \
		}                                                                                  \
	} while (0)

/* 4.7.1.2: the multi-level wildcard. */
static void test_match_hash(void **state)
{
	(void)state;
	MATCH("sport/tennis/player1/#", "sport/tennis/player1", 1);
	MATCH("sport/tennis/player1/#", "sport/tennis/player1/ranking", 1);
	MATCH("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", 1);
	MATCH("sport/tennis/player1/#", "sport/tennis/player2", 0);
	MATCH("sport/tennis/player1/#", "sport/tennis", 0);
	MATCH("sport/#", "sport", 1); /* the parent level */
	MATCH("sport/#", "sport/", 1);
	MATCH("sport/#", "sports", 0);
	MATCH("sport/#", "sport2/x", 0);
	MATCH("#", "sport", 1);
	MATCH("#", "sport/tennis/player1", 1);
	MATCH("#", "/", 1);
	MATCH("#", "/finance", 1);
	MATCH("/#", "/finance", 1);
	MATCH("/#", "finance", 0);
}

/* 4.7.1.3: the single-level wildcard. */
static void test_match_plus(void **state)
{
	(void)state;
	MATCH("sport/tennis/+", "sport/tennis/player1", 1);
	MATCH("sport/tennis/+", "sport/tennis/player2", 1);
	MATCH("sport/tennis/+", "sport/tennis/player1/ranking", 0);
	MATCH("sport/+", "sport", 0);
	MATCH("sport/+", "sport/", 1); /* '+' matches an empty level */
	MATCH("+", "sport", 1);
	MATCH("+", "/finance", 0);
	MATCH("+/+", "/finance", 1);
	MATCH("/+", "/finance", 1);
	MATCH("+/+", "/", 1);
	MATCH("+", "/", 0);
	MATCH("a/+/c", "a//c", 1);
	MATCH("a/+/c", "a/b/c", 1);
	MATCH("a/+/c", "a/b/d", 0);
	MATCH("a/+/c", "a/b/c/d", 0);
	MATCH("+/tennis/#", "sport/tennis/player1", 1);
	MATCH("+/tennis/#", "sport/tennis", 1);
	MATCH("+/tennis/#", "sport/golf", 0);
	MATCH("+/+/+", "a/b", 0);
	MATCH("+/#", "a", 1);
}

/* 4.7.2: topics starting with '$'. */
static void test_match_dollar(void **state)
{
	(void)state;
	MATCH("#", "$SYS/monitor/Clients", 0); /* [MQTT-4.7.2-1] */
	MATCH("+/monitor/Clients", "$SYS/monitor/Clients", 0);
	MATCH("$SYS/#", "$SYS/monitor/Clients", 1);
	MATCH("$SYS/monitor/+", "$SYS/monitor/Clients", 1);
	MATCH("$SYS/#", "$SYS", 1);
	MATCH("#", "$SYS", 0);
	MATCH("+", "$SYS", 0);
	MATCH("+/#", "$x/y", 0);
	/* Only the first level is special. */
	MATCH("a/+", "a/$SYS", 1);
	MATCH("a/#", "a/$SYS/x", 1);
}

/* 4.7.3: exact, case-sensitive, level by level. */
static void test_match_literal(void **state)
{
	(void)state;
	MATCH("ACCOUNTS", "Accounts", 0);
	MATCH("Accounts payable", "Accounts payable", 1);
	MATCH("finance", "/finance", 0);
	MATCH("/finance", "finance", 0);
	MATCH("/finance", "/finance", 1);
	MATCH("sport/tennis", "sport/tennis", 1);
	MATCH("sport/ten", "sport/tennis", 0);
	MATCH("sport/tennis", "sport/ten", 0);
	MATCH("sport/tennis", "sport/tennis/", 0);
	MATCH("sport/tennis/", "sport/tennis", 0);
	MATCH("a/b", "a/b/c", 0);
	MATCH("a/b/c", "a/b", 0);
	MATCH("caf\xc3\xa9", "caf\xc3\xa9", 1);
	MATCH("caf\xc3\xa9", "cafe", 0);
}

/* Splitting a shared filter, then matching its inner filter. */
static void test_match_after_shared_split(void **state)
{
	static const uint8_t f[] = "$share/g/sport/+";
	static const uint8_t t[] = "sport/tennis";
	rp_mqtt_str group, inner;

	(void)state;
	assert_true(rp_mqtt_topic_shared_split(f, sizeof(f) - 1u, &group, &inner));
	assert_true(rp_mqtt_topic_match(inner.p, inner.len, t, sizeof(t) - 1u));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_topic_name_valid),
		cmocka_unit_test(test_topic_name_invalid),
		cmocka_unit_test(test_topic_name_limits),
		cmocka_unit_test(test_topic_name_args),
		cmocka_unit_test(test_topic_filter_valid),
		cmocka_unit_test(test_topic_filter_wildcards),
		cmocka_unit_test(test_topic_filter_shared),
		cmocka_unit_test(test_topic_filter_utf8_and_limits),
		cmocka_unit_test(test_shared_split),
		cmocka_unit_test(test_match_hash),
		cmocka_unit_test(test_match_plus),
		cmocka_unit_test(test_match_dollar),
		cmocka_unit_test(test_match_literal),
		cmocka_unit_test(test_match_after_shared_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
