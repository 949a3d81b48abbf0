/*
 * test_senml.c - the strict SenML parser (server/telemetry/senml.h).
 *
 * - Every example of RFC 8428 section 5.1 in JSON, checked against its
 *   resolved form (5.1.3 against the RFC's own resolved 5.1.4).
 * - CBOR: the RFC's section 6 dump byte for byte, and every JSON example
 *   converted to CBOR here (jansson in, libcbor's encoder out) giving the
 *   same records as its JSON form; half, single and double floats.
 * - Every refusal, in both formats, with its status and its reason.
 * - Limits at their edge (cap passes, cap + 1 refused), lowered limits.
 * - Allocation failure at every allocation, in both formats: RP_E_NOMEM
 *   and nothing leaked, until the parse succeeds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cbor.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/senml.h"
#include "util/alloc.h"

#define NOW 1700000000000LL /* 2023-11-14T22:13:20Z */

static char why[256];

static rp_status parse(rp_senml_format f, const void *buf, size_t len, rp_senml_pack *p)
{
	return rp_senml_parse(buf, len, f, NOW, NULL, p, why, sizeof(why));
}

static rp_status pj(const char *json, rp_senml_pack *p)
{
	return parse(RP_SENML_JSON, json, strlen(json), p);
}

/* One expected resolved record. */
struct want {
	const char *name;
	const char *unit; /* NULL: none */
	int64_t time_ms;
	rp_senml_kind kind;
	double number;
	const char *str; /* string, or data bytes (len in str_len) */
	size_t str_len;
	int boolean;
};

static void check_record(const rp_senml_record *r, const struct want *w)
{
	assert_non_null(r->name);
	assert_string_equal(r->name, w->name);
	assert_int_equal(r->name_len, strlen(w->name));
	if (w->unit == NULL) {
		assert_null(r->unit);
		assert_int_equal(r->unit_len, 0);
	} else {
		assert_non_null(r->unit);
		assert_string_equal(r->unit, w->unit);
		assert_int_equal(r->unit_len, strlen(w->unit));
	}
	assert_int_equal(r->time_ms, w->time_ms);
	assert_int_equal(r->kind, w->kind);
	switch (w->kind) {
	case RP_SENML_NUMBER:
		assert_true(r->number == w->number);
		break;
	case RP_SENML_STRING:
		assert_non_null(r->str);
		assert_int_equal(r->str_len, strlen(w->str));
		assert_string_equal(r->str, w->str);
		break;
	case RP_SENML_DATA:
		assert_non_null(r->data);
		assert_int_equal(r->data_len, w->str_len);
		assert_memory_equal(r->data, w->str, w->str_len);
		break;
	case RP_SENML_BOOL:
		assert_int_equal(r->boolean, w->boolean);
		break;
	default:
		break;
	}
}

static void check_pack(const rp_senml_pack *p, const struct want *w, size_t n)
{
	size_t i;

	assert_int_equal(p->count, n);
	for (i = 0; i < n; i++) {
		check_record(&p->records[i], &w[i]);
	}
}

/* Two packs hold the same records. */
static void same_pack(const rp_senml_pack *a, const rp_senml_pack *b)
{
	size_t i;

	assert_int_equal(a->count, b->count);
	assert_int_equal(a->version, b->version);
	for (i = 0; i < a->count; i++) {
		const rp_senml_record *x = &a->records[i], *y = &b->records[i];

		assert_string_equal(x->name, y->name);
		assert_int_equal(x->name_len, y->name_len);
		assert_int_equal(x->unit == NULL, y->unit == NULL);
		if (x->unit != NULL) {
			assert_string_equal(x->unit, y->unit);
		}
		assert_int_equal(x->time_ms, y->time_ms);
		assert_int_equal(x->kind, y->kind);
		assert_true(x->number == y->number);
		assert_int_equal(x->boolean, y->boolean);
		assert_int_equal(x->str_len, y->str_len);
		if (x->str != NULL || y->str != NULL) {
			assert_string_equal(x->str, y->str);
		}
		assert_int_equal(x->data_len, y->data_len);
		assert_int_equal(x->data == NULL, y->data == NULL);
		if (x->data_len > 0) {
			assert_memory_equal(x->data, y->data, x->data_len);
		}
		assert_int_equal(x->has_sum, y->has_sum);
		assert_true(x->sum == y->sum);
		assert_int_equal(x->has_update_time, y->has_update_time);
		assert_true(x->update_time_s == y->update_time_s);
	}
}

static void assert_empty(const rp_senml_pack *p)
{
	assert_null(p->records);
	assert_int_equal(p->count, 0);
	assert_null(p->chunks_);
}

/* ------------------------------------------------------------------------
 * RFC 8428 section 5.1, JSON
 * ------------------------------------------------------------------------ */

static const char rfc_5_1_1[] =
	"[\n"
	"  {\"n\":\"urn:dev:ow:10e2073a01080063\",\"u\":\"Cel\",\"v\":23.1}\n"
	"]\n";

static const char rfc_5_1_2a[] =
	"[\n"
	"  {\"bn\":\"urn:dev:ow:10e2073a01080063:\",\"n\":\"voltage\",\"u\":\"V\",\"v\":120.1},\n"
	"  {\"n\":\"current\",\"u\":\"A\",\"v\":1.2}\n"
	"]\n";

static const char rfc_5_1_2b[] =
	"[\n"
	"  {\"bn\":\"urn:dev:ow:10e2073a0108006:\",\"bt\":1.276020076001e+09,\n"
	"   \"bu\":\"A\",\"bver\":5,\n"
	"   \"n\":\"voltage\",\"u\":\"V\",\"v\":120.1},\n"
	"  {\"n\":\"current\",\"t\":-5,\"v\":1.2},\n"
	"  {\"n\":\"current\",\"t\":-4,\"v\":1.3},\n"
	"  {\"n\":\"current\",\"t\":-3,\"v\":1.4},\n"
	"  {\"n\":\"current\",\"t\":-2,\"v\":1.5},\n"
	"  {\"n\":\"current\",\"t\":-1,\"v\":1.6},\n"
	"  {\"n\":\"current\",\"v\":1.7}\n"
	"]\n";

/* The SensML stream of 5.1.2, cut after its ninth record as the RFC shows it. */
static const char rfc_5_1_2c[] =
	"[\n"
	"  {\"bn\":\"urn:dev:ow:10e2073a01080063\",\"bt\":1.320067464e+09,\n"
	"   \"bu\":\"%RH\",\"v\":21.2},\n"
	"  {\"t\":10,\"v\":21.3},\n"
	"  {\"t\":20,\"v\":21.4},\n"
	"  {\"t\":30,\"v\":21.4},\n"
	"  {\"t\":40,\"v\":21.5},\n"
	"  {\"t\":50,\"v\":21.5},\n"
	"  {\"t\":60,\"v\":21.5},\n"
	"  {\"t\":70,\"v\":21.6},\n"
	"  {\"t\":80,\"v\":21.7}\n"
	"]\n";

static const char rfc_5_1_3[] =
	"[\n"
	"  {\"bn\":\"urn:dev:ow:10e2073a01080063\",\"bt\":1.320067464e+09,\n"
	"   \"bu\":\"%RH\",\"v\":20},\n"
	"  {\"u\":\"lon\",\"v\":24.30621},\n"
	"  {\"u\":\"lat\",\"v\":60.07965},\n"
	"  {\"t\":60,\"v\":20.3},\n"
	"  {\"u\":\"lon\",\"t\":60,\"v\":24.30622},\n"
	"  {\"u\":\"lat\",\"t\":60,\"v\":60.07965},\n"
	"  {\"t\":120,\"v\":20.7},\n"
	"  {\"u\":\"lon\",\"t\":120,\"v\":24.30623},\n"
	"  {\"u\":\"lat\",\"t\":120,\"v\":60.07966},\n"
	"  {\"u\":\"%EL\",\"t\":150,\"v\":98},\n"
	"  {\"t\":180,\"v\":21.2},\n"
	"  {\"u\":\"lon\",\"t\":180,\"v\":24.30628},\n"
	"  {\"u\":\"lat\",\"t\":180,\"v\":60.07967}\n"
	"]\n";

#define OW "\"n\":\"urn:dev:ow:10e2073a01080063\""
static const char rfc_5_1_4[] = "[\n"
				"  {" OW ",\"u\":\"%RH\",\"t\":1.320067464e+09,\"v\":20},\n"
				"  {" OW ",\"u\":\"lon\",\"t\":1.320067464e+09,\"v\":24.30621},\n"
				"  {" OW ",\"u\":\"lat\",\"t\":1.320067464e+09,\"v\":60.07965},\n"
				"  {" OW ",\"u\":\"%RH\",\"t\":1.320067524e+09,\"v\":20.3},\n"
				"  {" OW ",\"u\":\"lon\",\"t\":1.320067524e+09,\"v\":24.30622},\n"
				"  {" OW ",\"u\":\"lat\",\"t\":1.320067524e+09,\"v\":60.07965},\n"
				"  {" OW ",\"u\":\"%RH\",\"t\":1.320067584e+09,\"v\":20.7},\n"
				"  {" OW ",\"u\":\"lon\",\"t\":1.320067584e+09,\"v\":24.30623},\n"
				"  {" OW ",\"u\":\"lat\",\"t\":1.320067584e+09,\"v\":60.07966},\n"
				"  {" OW ",\"u\":\"%EL\",\"t\":1.320067614e+09,\"v\":98},\n"
				"  {" OW ",\"u\":\"%RH\",\"t\":1.320067644e+09,\"v\":21.2},\n"
				"  {" OW ",\"u\":\"lon\",\"t\":1.320067644e+09,\"v\":24.30628},\n"
				"  {" OW ",\"u\":\"lat\",\"t\":1.320067644e+09,\"v\":60.07967}\n"
				"]\n";

static const char rfc_5_1_5[] =
	"[\n"
	"  {\"bn\":\"urn:dev:ow:10e2073a01080063:\",\"n\":\"temp\",\"u\":\"Cel\",\"v\":23.1},\n"
	"  {\"n\":\"label\",\"vs\":\"Machine Room\"},\n"
	"  {\"n\":\"open\",\"vb\":false},\n"
	"  {\"n\":\"nfv-reader\",\"vd\":\"aGkgCg\"}\n"
	"]\n";

static const char rfc_5_1_6[] =
	"[\n"
	"  {\"bn\":\"2001:db8::2/\",\"bt\":1.320078429e+09,\n"
	"   \"n\":\"temperature\",\"u\":\"Cel\",\"v\":25.2},\n"
	"  {\"n\":\"humidity\",\"u\":\"%RH\",\"v\":30},\n"
	"  {\"bn\":\"2001:db8::1/\",\"n\":\"temperature\",\"u\":\"Cel\",\"v\":12.3},\n"
	"  {\"n\":\"humidity\",\"u\":\"%RH\",\"v\":67}\n"
	"]\n";

static const char rfc_5_1_7a[] = "[\n"
				 "  {\"bn\":\"urn:dev:ow:10e2073a01080063:\"},\n"
				 "  {\"n\":\"temp\",\"u\":\"Cel\",\"v\":23.1},\n"
				 "  {\"n\":\"heat\",\"u\":\"/\",\"v\":1},\n"
				 "  {\"n\":\"fan\",\"u\":\"/\",\"v\":0}\n"
				 "]\n";

static const char rfc_5_1_7b[] =
	"[\n"
	"  {\"bt\":1.320078429e+09,\"bu\":\"/\",\"n\":\"2001:db8::3\",\"v\":1},\n"
	"  {\"n\":\"2001:db8::4\",\"v\":1}\n"
	"]\n";

static const char rfc_5_1_7c[] =
	"[\n"
	"  {\"bt\":1.320078429e+09,\"bu\":\"/\",\"n\":\"2001:db8::3\",\"v\":0.5},\n"
	"  {\"n\":\"2001:db8::4\",\"v\":0.5},\n"
	"  {\"n\":\"2001:db8::3\",\"t\":0.1,\"v\":0},\n"
	"  {\"n\":\"2001:db8::4\",\"t\":0.1,\"v\":0}\n"
	"]\n";

static const char *const rfc_examples[] = {
	rfc_5_1_1, rfc_5_1_2a, rfc_5_1_2b, rfc_5_1_2c, rfc_5_1_3,  rfc_5_1_4,
	rfc_5_1_5, rfc_5_1_6,  rfc_5_1_7a, rfc_5_1_7b, rfc_5_1_7c,
};

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define NUM  RP_SENML_NUMBER

static void test_rfc_5_1_1(void **state)
{
	static const struct want w[] = {
		{"urn:dev:ow:10e2073a01080063", "Cel", NOW, NUM, 23.1, NULL, 0, 0},
	};
	rp_senml_pack p = {0};

	(void)state;
	assert_int_equal(pj(rfc_5_1_1, &p), RP_OK);
	assert_string_equal(why, "");
	assert_int_equal(p.version, 10);
	check_pack(&p, w, N(w));
	assert_false(p.records[0].has_sum);
	assert_false(p.records[0].has_update_time);
	rp_senml_pack_free(&p);
	assert_empty(&p);
}

static void test_rfc_5_1_2(void **state)
{
	static const struct want a[] = {
		{"urn:dev:ow:10e2073a01080063:voltage", "V", NOW, NUM, 120.1, NULL, 0, 0},
		{"urn:dev:ow:10e2073a01080063:current", "A", NOW, NUM, 1.2, NULL, 0, 0},
	};
#define CUR "urn:dev:ow:10e2073a0108006:current"
	static const struct want b[] = {
		{"urn:dev:ow:10e2073a0108006:voltage", "V", 1276020076001LL, NUM, 120.1, NULL, 0,
		 0},
		{CUR, "A", 1276020071001LL, NUM, 1.2, NULL, 0, 0},
		{CUR, "A", 1276020072001LL, NUM, 1.3, NULL, 0, 0},
		{CUR, "A", 1276020073001LL, NUM, 1.4, NULL, 0, 0},
		{CUR, "A", 1276020074001LL, NUM, 1.5, NULL, 0, 0},
		{CUR, "A", 1276020075001LL, NUM, 1.6, NULL, 0, 0},
		{CUR, "A", 1276020076001LL, NUM, 1.7, NULL, 0, 0},
	};
#undef CUR
#define RH "urn:dev:ow:10e2073a01080063"
	static const struct want c[] = {
		{RH, "%RH", 1320067464000LL, NUM, 21.2, NULL, 0, 0},
		{RH, "%RH", 1320067474000LL, NUM, 21.3, NULL, 0, 0},
		{RH, "%RH", 1320067484000LL, NUM, 21.4, NULL, 0, 0},
		{RH, "%RH", 1320067494000LL, NUM, 21.4, NULL, 0, 0},
		{RH, "%RH", 1320067504000LL, NUM, 21.5, NULL, 0, 0},
		{RH, "%RH", 1320067514000LL, NUM, 21.5, NULL, 0, 0},
		{RH, "%RH", 1320067524000LL, NUM, 21.5, NULL, 0, 0},
		{RH, "%RH", 1320067534000LL, NUM, 21.6, NULL, 0, 0},
		{RH, "%RH", 1320067544000LL, NUM, 21.7, NULL, 0, 0},
	};
#undef RH
	rp_senml_pack p = {0};

	(void)state;
	assert_int_equal(pj(rfc_5_1_2a, &p), RP_OK);
	check_pack(&p, a, N(a));
	rp_senml_pack_free(&p);

	assert_int_equal(pj(rfc_5_1_2b, &p), RP_OK);
	assert_int_equal(p.version, 5);
	check_pack(&p, b, N(b));
	rp_senml_pack_free(&p);

	assert_int_equal(pj(rfc_5_1_2c, &p), RP_OK);
	check_pack(&p, c, N(c));
	rp_senml_pack_free(&p);
}

/* 5.1.3 resolves to exactly what the RFC prints as 5.1.4. */
static void test_rfc_5_1_3_resolves_to_5_1_4(void **state)
{
	static const struct want first[] = {
		{"urn:dev:ow:10e2073a01080063", "%RH", 1320067464000LL, NUM, 20, NULL, 0, 0},
		{"urn:dev:ow:10e2073a01080063", "lon", 1320067464000LL, NUM, 24.30621, NULL, 0, 0},
	};
	rp_senml_pack p = {0}, q = {0};

	(void)state;
	assert_int_equal(pj(rfc_5_1_3, &p), RP_OK);
	assert_int_equal(pj(rfc_5_1_4, &q), RP_OK);
	assert_int_equal(p.count, 13);
	check_record(&p.records[0], &first[0]);
	check_record(&p.records[1], &first[1]);
	assert_string_equal(p.records[9].unit, "%EL");
	assert_int_equal(p.records[9].time_ms, 1320067614000LL);
	assert_true(p.records[9].number == 98);
	same_pack(&p, &q);
	rp_senml_pack_free(&p);
	rp_senml_pack_free(&q);
}

static void test_rfc_5_1_5(void **state)
{
	static const struct want w[] = {
		{"urn:dev:ow:10e2073a01080063:temp", "Cel", NOW, NUM, 23.1, NULL, 0, 0},
		{"urn:dev:ow:10e2073a01080063:label", NULL, NOW, RP_SENML_STRING, 0, "Machine Room",
		 0, 0},
		{"urn:dev:ow:10e2073a01080063:open", NULL, NOW, RP_SENML_BOOL, 0, NULL, 0, 0},
		{"urn:dev:ow:10e2073a01080063:nfv-reader", NULL, NOW, RP_SENML_DATA, 0, "hi \n", 4,
		 0},
	};
	rp_senml_pack p = {0};

	(void)state;
	assert_int_equal(pj(rfc_5_1_5, &p), RP_OK);
	check_pack(&p, w, N(w));
	assert_null(p.records[0].str);
	assert_null(p.records[0].data);
	assert_null(p.records[1].data);
	assert_null(p.records[3].str);
	rp_senml_pack_free(&p);

	assert_int_equal(pj("[{\"n\":\"a\",\"vb\":true}]", &p), RP_OK);
	assert_int_equal(p.records[0].kind, RP_SENML_BOOL);
	assert_true(p.records[0].boolean);
	rp_senml_pack_free(&p);
}

static void test_rfc_5_1_6(void **state)
{
	static const struct want w[] = {
		{"2001:db8::2/temperature", "Cel", 1320078429000LL, NUM, 25.2, NULL, 0, 0},
		{"2001:db8::2/humidity", "%RH", 1320078429000LL, NUM, 30, NULL, 0, 0},
		{"2001:db8::1/temperature", "Cel", 1320078429000LL, NUM, 12.3, NULL, 0, 0},
		{"2001:db8::1/humidity", "%RH", 1320078429000LL, NUM, 67, NULL, 0, 0},
	};
	rp_senml_pack p = {0};

	(void)state;
	assert_int_equal(pj(rfc_5_1_6, &p), RP_OK);
	check_pack(&p, w, N(w));
	rp_senml_pack_free(&p);
}

static void test_rfc_5_1_7(void **state)
{
	/* The first record holds only bn: context, no row. */
	static const struct want a[] = {
		{"urn:dev:ow:10e2073a01080063:temp", "Cel", NOW, NUM, 23.1, NULL, 0, 0},
		{"urn:dev:ow:10e2073a01080063:heat", "/", NOW, NUM, 1, NULL, 0, 0},
		{"urn:dev:ow:10e2073a01080063:fan", "/", NOW, NUM, 0, NULL, 0, 0},
	};
	static const struct want b[] = {
		{"2001:db8::3", "/", 1320078429000LL, NUM, 1, NULL, 0, 0},
		{"2001:db8::4", "/", 1320078429000LL, NUM, 1, NULL, 0, 0},
	};
	static const struct want c[] = {
		{"2001:db8::3", "/", 1320078429000LL, NUM, 0.5, NULL, 0, 0},
		{"2001:db8::4", "/", 1320078429000LL, NUM, 0.5, NULL, 0, 0},
		{"2001:db8::3", "/", 1320078429100LL, NUM, 0, NULL, 0, 0},
		{"2001:db8::4", "/", 1320078429100LL, NUM, 0, NULL, 0, 0},
	};
	rp_senml_pack p = {0};

	(void)state;
	assert_int_equal(pj(rfc_5_1_7a, &p), RP_OK);
	check_pack(&p, a, N(a));
	rp_senml_pack_free(&p);
	assert_int_equal(pj(rfc_5_1_7b, &p), RP_OK);
	check_pack(&p, b, N(b));
	rp_senml_pack_free(&p);
	assert_int_equal(pj(rfc_5_1_7c, &p), RP_OK);
	check_pack(&p, c, N(c));
	rp_senml_pack_free(&p);
}

/* ------------------------------------------------------------------------
 * CBOR
 * ------------------------------------------------------------------------ */

/* RFC 8428 section 6: the 5.1.2 example as CBOR, from the RFC's dump. */
static const uint8_t rfc_cbor_dump[] = {
	0x87, 0xa7, 0x21, 0x78, 0x1b, 0x75, 0x72, 0x6e, 0x3a, 0x64, 0x65, 0x76, 0x3a, 0x6f, 0x77,
	0x3a, 0x31, 0x30, 0x65, 0x32, 0x30, 0x37, 0x33, 0x61, 0x30, 0x31, 0x30, 0x38, 0x30, 0x30,
	0x36, 0x3a, 0x22, 0xfb, 0x41, 0xd3, 0x03, 0xa1, 0x5b, 0x00, 0x10, 0x62, 0x23, 0x61, 0x41,
	0x20, 0x05, 0x00, 0x67, 0x76, 0x6f, 0x6c, 0x74, 0x61, 0x67, 0x65, 0x01, 0x61, 0x56, 0x02,
	0xfb, 0x40, 0x5e, 0x06, 0x66, 0x66, 0x66, 0x66, 0x66, 0xa3, 0x00, 0x67, 0x63, 0x75, 0x72,
	0x72, 0x65, 0x6e, 0x74, 0x06, 0x24, 0x02, 0xfb, 0x3f, 0xf3, 0x33, 0x33, 0x33, 0x33, 0x33,
	0x33, 0xa3, 0x00, 0x67, 0x63, 0x75, 0x72, 0x72, 0x65, 0x6e, 0x74, 0x06, 0x23, 0x02, 0xfb,
	0x3f, 0xf4, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcd, 0xa3, 0x00, 0x67, 0x63, 0x75, 0x72, 0x72,
	0x65, 0x6e, 0x74, 0x06, 0x22, 0x02, 0xfb, 0x3f, 0xf6, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
	0xa3, 0x00, 0x67, 0x63, 0x75, 0x72, 0x72, 0x65, 0x6e, 0x74, 0x06, 0x21, 0x02, 0xf9, 0x3e,
	0x00, 0xa3, 0x00, 0x67, 0x63, 0x75, 0x72, 0x72, 0x65, 0x6e, 0x74, 0x06, 0x20, 0x02, 0xfb,
	0x3f, 0xf9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a, 0xa3, 0x00, 0x67, 0x63, 0x75, 0x72, 0x72,
	0x65, 0x6e, 0x74, 0x06, 0x00, 0x02, 0xfb, 0x3f, 0xfb, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33,
};

static void test_cbor_rfc_dump(void **state)
{
	rp_senml_pack p = {0}, q = {0};

	(void)state;
	assert_int_equal(sizeof(rfc_cbor_dump), 0xc3);
	assert_int_equal(parse(RP_SENML_CBOR, rfc_cbor_dump, sizeof(rfc_cbor_dump), &p), RP_OK);
	assert_int_equal(pj(rfc_5_1_2b, &q), RP_OK);
	assert_int_equal(p.version, 5);
	same_pack(&p, &q);
	rp_senml_pack_free(&p);
	rp_senml_pack_free(&q);
}

/* A CBOR writer over libcbor's encoder (an encoder independent of the parser). */
struct cb {
	uint8_t b[1u << 19];
	size_t n;
};

static struct cb cbuf;

static void cb_put(size_t written)
{
	assert_true(written > 0);
	cbuf.n += written;
}

#define CB_ROOM (sizeof(cbuf.b) - cbuf.n)

static void cb_reset(void)
{
	cbuf.n = 0;
}

static void cb_array(size_t n)
{
	cb_put(cbor_encode_array_start(n, cbuf.b + cbuf.n, CB_ROOM));
}

static void cb_map(size_t n)
{
	cb_put(cbor_encode_map_start(n, cbuf.b + cbuf.n, CB_ROOM));
}

static void cb_int(int64_t v)
{
	if (v >= 0) {
		cb_put(cbor_encode_uint((uint64_t)v, cbuf.b + cbuf.n, CB_ROOM));
	} else {
		cb_put(cbor_encode_negint((uint64_t)(-1 - v), cbuf.b + cbuf.n, CB_ROOM));
	}
}

static void cb_textn(const char *s, size_t n)
{
	cb_put(cbor_encode_string_start(n, cbuf.b + cbuf.n, CB_ROOM));
	assert_true(n <= CB_ROOM);
	memcpy(cbuf.b + cbuf.n, s, n);
	cbuf.n += n;
}

static void cb_text(const char *s)
{
	cb_textn(s, strlen(s));
}

static void cb_bytes(const void *p, size_t n)
{
	cb_put(cbor_encode_bytestring_start(n, cbuf.b + cbuf.n, CB_ROOM));
	assert_true(n <= CB_ROOM);
	memcpy(cbuf.b + cbuf.n, p, n);
	cbuf.n += n;
}

static void cb_double(double d)
{
	cb_put(cbor_encode_double(d, cbuf.b + cbuf.n, CB_ROOM));
}

static void cb_bool(int v)
{
	cb_put(cbor_encode_bool(v != 0, cbuf.b + cbuf.n, CB_ROOM));
}

static rp_status pc(rp_senml_pack *p)
{
	return parse(RP_SENML_CBOR, cbuf.b, cbuf.n, p);
}

/* Unpadded base64url, decoded here independently of the parser. */
static size_t b64url(const char *s, uint8_t *out)
{
	static const char alpha[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;

	for (; *s; s++) {
		const char *c = strchr(alpha, *s);

		assert_non_null(c);
		acc = (acc << 6) | (uint32_t)(c - alpha);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	return o;
}

/* JSON SenML to CBOR SenML (RFC 8428 table 4), into cbuf. */
static void json_to_cbor(const char *text)
{
	static const char *const labels[] = {"bs", "bv", "bu", "bt", "bn", "bver", "n", "u",
					     "v",  "vs", "vb", "s",  "t",  "ut",   "vd"};
	json_error_t err;
	json_t *root = json_loads(text, JSON_DECODE_INT_AS_REAL, &err);
	size_t i;

	assert_non_null(root);
	cb_reset();
	cb_array(json_array_size(root));
	for (i = 0; i < json_array_size(root); i++) {
		json_t *rec = json_array_get(root, i), *val;
		const char *key;

		cb_map(json_object_size(rec));
		json_object_foreach(rec, key, val)
		{
			int64_t label = 99;
			size_t l;

			for (l = 0; l < N(labels); l++) {
				if (strcmp(labels[l], key) == 0) {
					label = (int64_t)l - 6;
				}
			}
			if (label == 99) {
				cb_text(key);
			} else {
				cb_int(label);
			}
			if (label == 8) { /* vd */
				uint8_t d[256];

				cb_bytes(d, b64url(json_string_value(val), d));
			} else if (json_is_string(val)) {
				cb_text(json_string_value(val));
			} else if (json_is_boolean(val)) {
				cb_bool(json_is_true(val));
			} else {
				double d = json_number_value(val);

				/* Integers as integers, the rest as doubles: both paths. */
				if (d > -1e15 && d < 1e15 && d == (double)(int64_t)d) {
					cb_int((int64_t)d);
				} else {
					cb_double(d);
				}
			}
		}
	}
	json_decref(root);
}

static void test_cbor_rfc_examples(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N(rfc_examples); i++) {
		rp_senml_pack p = {0}, q = {0};

		json_to_cbor(rfc_examples[i]);
		assert_int_equal(pc(&p), RP_OK);
		assert_int_equal(pj(rfc_examples[i], &q), RP_OK);
		same_pack(&p, &q);
		rp_senml_pack_free(&p);
		rp_senml_pack_free(&q);
	}
}

/* Half, single and double floats; integers of every width. */
static void test_cbor_numbers(void **state)
{
	static const uint8_t widths[] = {
		0x87,                                                       /* 7 records */
		0xa2, 0x00, 0x61, 0x61, 0x02, 0xf9, 0x3e, 0x00,             /* v: half 1.5 */
		0xa2, 0x00, 0x61, 0x61, 0x02, 0xfa, 0x3f, 0xc0, 0x00, 0x00, /* single 1.5 */
		0xa2, 0x00, 0x61, 0x61, 0x02, 0x18, 0xff,                   /* uint8 255 */
		0xa2, 0x00, 0x61, 0x61, 0x02, 0x39, 0x01, 0x00,             /* -257 */
		0xa2, 0x00, 0x61, 0x61, 0x02, 0x1a, 0x00, 0x01, 0x00, 0x00, /* 65536 */
		0xa2, 0x00, 0x61, 0x61, 0x02, 0x3b, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, /* -2**64 */
		0xa2, 0x00, 0x61, 0x61, 0x02, 0x1b, 0x00, 0x00, 0x00, 0x01,
		0x00, 0x00, 0x00, 0x00, /* 2**32 */
	};
	rp_senml_pack p = {0};

	(void)state;
	assert_int_equal(parse(RP_SENML_CBOR, widths, sizeof(widths), &p), RP_OK);
	assert_int_equal(p.count, 7);
	assert_true(p.records[0].number == 1.5);
	assert_true(p.records[1].number == 1.5);
	assert_true(p.records[2].number == 255);
	assert_true(p.records[3].number == -257);
	assert_true(p.records[4].number == 65536);
	assert_true(p.records[5].number == -18446744073709551616.0);
	assert_true(p.records[6].number == 4294967296.0);
	rp_senml_pack_free(&p);

	/* An empty byte string is data of length 0, with a pointer. */
	cb_reset();
	cb_array(1);
	cb_map(2);
	cb_int(0);
	cb_text("a");
	cb_int(8);
	cb_bytes("", 0);
	assert_int_equal(pc(&p), RP_OK);
	assert_int_equal(p.records[0].kind, RP_SENML_DATA);
	assert_non_null(p.records[0].data);
	assert_int_equal(p.records[0].data_len, 0);
	rp_senml_pack_free(&p);

	/* Ignored extensions may hold any scalar, null and undefined included. */
	{
		static const uint8_t ext[] = {0x81, 0xa6, 0x00, 0x61, 0x61, 0x02, 0x01, 0x61,
					      0x78, 0xf6, 0x61, 0x79, 0xf7, 0x61, 0x7a, 0x41,
					      0x00, 0x62, 0x77, 0x77, 0xf9, 0x7e, 0x00};
		assert_int_equal(parse(RP_SENML_CBOR, ext, sizeof(ext), &p), RP_OK);
		assert_int_equal(p.count, 1);
		rp_senml_pack_free(&p);
	}
}

/* ------------------------------------------------------------------------
 * Resolution details
 * ------------------------------------------------------------------------ */

static void test_resolution(void **state)
{
	rp_senml_pack p = {0};

	(void)state;
	/* bv adds to v; bs to s, and gives a sum to records without s. */
	assert_int_equal(pj("[{\"bn\":\"m\",\"bv\":100,\"bs\":1000,\"v\":1,\"s\":5},"
			    "{\"v\":2},{\"s\":7},{\"vs\":\"x\"},{\"bv\":0.5,\"bs\":0,\"v\":1}]",
			    &p),
			 RP_OK);
	assert_int_equal(p.count, 5);
	assert_true(p.records[0].number == 101);
	assert_true(p.records[0].has_sum && p.records[0].sum == 1005);
	assert_true(p.records[1].number == 102);
	assert_true(p.records[1].has_sum && p.records[1].sum == 1000);
	assert_int_equal(p.records[2].kind, RP_SENML_NONE);
	assert_true(p.records[2].has_sum && p.records[2].sum == 1007);
	assert_int_equal(p.records[3].kind, RP_SENML_STRING);
	assert_true(p.records[3].has_sum && p.records[3].sum == 1000);
	assert_true(p.records[4].number == 1.5);
	assert_true(p.records[4].sum == 0);
	rp_senml_pack_free(&p);

	/* Sum only, no base sum; update time. */
	assert_int_equal(pj("[{\"n\":\"e\",\"s\":3.5,\"ut\":60}]", &p), RP_OK);
	assert_int_equal(p.records[0].kind, RP_SENML_NONE);
	assert_true(p.records[0].has_sum && p.records[0].sum == 3.5);
	assert_true(p.records[0].has_update_time && p.records[0].update_time_s == 60);
	rp_senml_pack_free(&p);

	/* u overrides bu for its record only; a later bu replaces the first. */
	assert_int_equal(pj("[{\"bn\":\"a/\",\"bu\":\"W\",\"n\":\"x\",\"v\":1},"
			    "{\"n\":\"y\",\"u\":\"kW\",\"v\":1},{\"n\":\"z\",\"v\":1},"
			    "{\"bu\":\"Wh\",\"n\":\"w\",\"v\":1}]",
			    &p),
			 RP_OK);
	assert_string_equal(p.records[0].unit, "W");
	assert_string_equal(p.records[1].unit, "kW");
	assert_string_equal(p.records[2].unit, "W");
	assert_string_equal(p.records[3].unit, "Wh");
	assert_string_equal(p.records[3].name, "a/w");
	rp_senml_pack_free(&p);

	/* Relative times: past, future, and milliseconds rounded. */
	assert_int_equal(
		pj("[{\"n\":\"a\",\"t\":-60,\"v\":1},{\"n\":\"a\",\"t\":30,\"v\":1},"
		   "{\"n\":\"a\",\"t\":0.0004,\"v\":1},{\"n\":\"a\",\"t\":-0.0006,\"v\":1}]",
		   &p),
		RP_OK);
	assert_int_equal(p.records[0].time_ms, NOW - 60000);
	assert_int_equal(p.records[1].time_ms, NOW + 30000);
	assert_int_equal(p.records[2].time_ms, NOW);
	assert_int_equal(p.records[3].time_ms, NOW - 1);
	rp_senml_pack_free(&p);

	/* 2**28 is absolute, 2**28 - 1 relative; bt + t decides, not each alone. */
	assert_int_equal(pj("[{\"n\":\"a\",\"t\":268435456,\"v\":1},"
			    "{\"n\":\"a\",\"t\":268435455,\"v\":1},"
			    "{\"bt\":268435400,\"n\":\"a\",\"t\":56,\"v\":1}]",
			    &p),
			 RP_OK);
	assert_int_equal(p.records[0].time_ms, 268435456000LL);
	assert_int_equal(p.records[1].time_ms, NOW + 268435455000LL);
	assert_int_equal(p.records[2].time_ms, 268435456000LL);
	rp_senml_pack_free(&p);

	/* Base-only records in the middle and at the end; bn alone is a name. */
	assert_int_equal(pj("[{\"n\":\"a\",\"v\":1},{\"bn\":\"dev:\"},{\"n\":\"b\",\"v\":2},"
			    "{\"bn\":\"solo\",\"v\":3},{\"bt\":5}]",
			    &p),
			 RP_OK);
	assert_int_equal(p.count, 3);
	assert_string_equal(p.records[1].name, "dev:b");
	assert_string_equal(p.records[2].name, "solo");
	rp_senml_pack_free(&p);

	/* Extensions without '_' are ignored; same version twice is fine. */
	assert_int_equal(pj("[{\"bver\":10,\"n\":\"a\",\"v\":1,\"ct\":\"60\",\"x\":null,\"\":1},"
			    "{\"bver\":10,\"n\":\"b\",\"v\":1}]",
			    &p),
			 RP_OK);
	assert_int_equal(p.version, 10);
	rp_senml_pack_free(&p);

	/* Big JSON integers are doubles, not errors; whitespace after the pack is fine. */
	assert_int_equal(pj("[{\"n\":\"a\",\"v\":123456789012345678901234567890}] \n\t", &p),
			 RP_OK);
	assert_true(p.records[0].number == 123456789012345678901234567890.0);
	rp_senml_pack_free(&p);

	/* Escapes are decoded, in labels, names and values; an escaped bn stays in force. */
	assert_int_equal(pj("[{\"bn\":\"dev\\/1:\",\"\\u006e\":\"\\u0074emp\",\"u\":\"Cel\","
			    "\"vs\":\"a\\\"b\\\\c\\/\\u00e9\\ud83d\\ude00\\b\\f\\n\\r\\t\\u20AC\"},"
			    "{\"n\":\"x\",\"v\":1}]",
			    &p),
			 RP_OK);
	assert_string_equal(p.records[0].name, "dev/1:temp");
	assert_string_equal(p.records[0].str,
			    "a\"b\\c/\xc3\xa9\xf0\x9f\x98\x80\b\f\n\r\t\xe2\x82\xac");
	assert_int_equal(p.records[0].str_len, 20);
	assert_string_equal(p.records[1].name, "dev/1:x");
	rp_senml_pack_free(&p);

	/* Rows share a repeated name and the bu in force; a new bu is a new copy. */
	assert_int_equal(
		pj("[{\"bn\":\"a\",\"bu\":\"A\",\"n\":\"bc\",\"v\":1},"
		   "{\"bn\":\"ab\",\"n\":\"c\",\"v\":2},{\"bu\":\"V\",\"n\":\"c\",\"v\":3},"
		   "{\"bn\":\"\",\"n\":\"abd\",\"v\":4}]",
		   &p),
		RP_OK);
	assert_string_equal(p.records[1].name, "abc");
	assert_ptr_equal(p.records[0].name, p.records[1].name);
	assert_ptr_equal(p.records[1].name, p.records[2].name);
	assert_string_equal(p.records[3].name, "abd");
	assert_ptr_equal(p.records[0].unit, p.records[1].unit);
	assert_string_equal(p.records[1].unit, "A");
	assert_string_equal(p.records[2].unit, "V");
	assert_string_equal(p.records[3].unit, "V");
	rp_senml_pack_free(&p);

	/* Names use the whole RFC alphabet. */
	assert_int_equal(pj("[{\"bn\":\"0A-z:./_\",\"n\":\"_-9\",\"v\":1}]", &p), RP_OK);
	assert_string_equal(p.records[0].name, "0A-z:./__-9");
	rp_senml_pack_free(&p);
}

/* ------------------------------------------------------------------------
 * Refusals
 * ------------------------------------------------------------------------ */

static char big[RP_LIMIT_SENML_PAYLOAD + 64];

/* `count` copies of the JSON record rec, as a pack in big; returns its length. */
static size_t make_pack(size_t count, const char *rec)
{
	size_t i, n = 0;

	big[n++] = '[';
	for (i = 0; i < count; i++) {
		size_t l = strlen(rec);

		assert_true(n + l + 2 < sizeof(big));
		memcpy(big + n, rec, l);
		n += l;
		big[n++] = i + 1 < count ? ',' : ']';
	}
	big[n] = '\0';
	return n;
}

struct reject {
	const char *in;
	rp_status st;
	const char *why; /* a substring of the reason */
};

static void expect(rp_senml_format f, const void *buf, size_t len, rp_status st, const char *w)
{
	rp_senml_pack p;
	rp_status got;

	memset(&p, 0xA5, sizeof(p));
	got = parse(f, buf, len, &p);
	if (got != st || strstr(why, w) == NULL) {
		print_error("input of %zu bytes: got %d \"%s\", want %d \"%s\"\n", len, got, why,
			    st, w);
		fail();
	}
	assert_empty(&p);
	assert_true(rp_senml_rejected(st));
	assert_int_equal(rp_alloc_in_use(), 0);
}

static void test_json_rejects(void **state)
{
	static const struct reject r[] = {
		/* Structure. */
		{"", RP_E_EMPTY, "empty payload"},
		{"[]", RP_E_EMPTY, "empty pack"},
		{"[{\"bn\":\"a\"}]", RP_E_EMPTY, "no measurement"},
		{"{\"n\":\"a\",\"v\":1}", RP_E_MALFORMED, "the pack is not an array"},
		{"\"x\"", RP_E_MALFORMED, "invalid JSON"},
		{"[1]", RP_E_MALFORMED, "record 0: not an object"},
		{"[{\"n\":\"a\",\"v\":1},null]", RP_E_MALFORMED, "record 1: not an object"},
		{"[{}]", RP_E_MALFORMED, "record 0: no SenML field"},
		{"[{\"x\":1}]", RP_E_MALFORMED, "record 0: no SenML field"},
		{"[{\"n\":\"a\",\"v\":1}] x", RP_E_TRAILING,
		 "1 byte(s) after the pack, at byte 18"},
		{"[{\"n\":\"a\",\"v\":1}][]", RP_E_TRAILING, "2 byte(s) after the pack"},
		{"[{\"n\":\"a\",\"v\":1}", RP_E_MALFORMED, "JSON text ends early"},
		{"[{\"n\":\"a\",\"v\":1},]", RP_E_MALFORMED, "invalid JSON"},
		/* Nesting, in every place. */
		{"[[{\"n\":\"a\",\"v\":1}]]", RP_E_MALFORMED, "record 0: not an object"},
		{"[{\"n\":\"a\",\"v\":[1]}]", RP_E_MALFORMED,
		 "record 0: \"v\": SenML does not nest (byte 14)"},
		{"[{\"n\":\"a\",\"v\":1},{\"n\":\"a\",\"x\":{}}]", RP_E_MALFORMED,
		 "record 1: \"x\": SenML does not nest"},
		{"[{\"n\":\"a\",\"v\":1,\"x\":\"[[[{{{\"}]", RP_OK, ""},
		/* Labels. */
		{"[{\"n\":\"a\",\"v\":1,\"foo_\":1}]", RP_E_MALFORMED,
		 "record 0: unknown label \"foo_\" must be understood"},
		{"[{\"n\":\"a\",\"v\":1},{\"n\":\"b\",\"v\":1,\"_\":0}]", RP_E_MALFORMED,
		 "record 1: unknown label \"_\" must be understood"},
		{"[{\"n\":\"a\",\"n\":\"b\",\"v\":1}]", RP_E_MALFORMED,
		 "record 0: duplicate label \"n\""},
		{"[{\"n\":\"a\",\"v\":1,\"v\":2}]", RP_E_MALFORMED, "duplicate label \"v\""},
		{"[{\"n\":\"a\",\"v\":1,\"x\":1,\"x\":2}]", RP_E_MALFORMED,
		 "duplicate label \"x\""},
		{"[{\"n\":\"a\",\"v\":1,\"\\u006e\":\"b\"}]", RP_E_MALFORMED,
		 "duplicate label \"n\""},
		/* Types. */
		{"[{\"n\":1,\"v\":1}]", RP_E_MALFORMED, "record 0: n is not a string"},
		{"[{\"bn\":true,\"v\":1}]", RP_E_MALFORMED, "record 0: bn is not a string"},
		{"[{\"n\":\"a\",\"u\":null,\"v\":1}]", RP_E_MALFORMED,
		 "record 0: u is not a string"},
		{"[{\"n\":\"a\",\"v\":\"1\"}]", RP_E_MALFORMED, "record 0: v is not a number"},
		{"[{\"n\":\"a\",\"v\":1,\"t\":\"now\"}]", RP_E_MALFORMED,
		 "record 0: t is not a number"},
		{"[{\"n\":\"a\",\"vb\":1}]", RP_E_MALFORMED, "record 0: vb is not a boolean"},
		{"[{\"n\":\"a\",\"vd\":5}]", RP_E_MALFORMED, "record 0: vd is not a string"},
		{"[{\"n\":\"a\",\"vs\":false}]", RP_E_MALFORMED, "record 0: vs is not a string"},
		{"[{\"n\":\"a\",\"s\":null}]", RP_E_MALFORMED, "record 0: s is not a number"},
		{"[{\"bver\":\"10\",\"n\":\"a\",\"v\":1}]", RP_E_MALFORMED,
		 "record 0: bver is not a positive integer"},
		{"[{\"bver\":0,\"n\":\"a\",\"v\":1}]", RP_E_MALFORMED, "bver is not a positive"},
		{"[{\"bver\":9.5,\"n\":\"a\",\"v\":1}]", RP_E_MALFORMED, "bver is not a positive"},
		{"[{\"bver\":-10,\"n\":\"a\",\"v\":1}]", RP_E_MALFORMED, "bver is not a positive"},
		/* Version. */
		{"[{\"bver\":11,\"n\":\"a\",\"v\":1}]", RP_E_PROTOCOL_VERSION,
		 "record 0: bver 11 is above 10"},
		{"[{\"bver\":1e9,\"n\":\"a\",\"v\":1}]", RP_E_PROTOCOL_VERSION,
		 "bver 1000000000 is above 10"},
		{"[{\"bver\":5,\"n\":\"a\",\"v\":1},{\"bver\":10,\"n\":\"b\",\"v\":1}]",
		 RP_E_PROTOCOL_VERSION, "record 1: version 10 differs from the pack's 5"},
		{"[{\"n\":\"a\",\"v\":1},{\"bver\":9,\"n\":\"b\",\"v\":1}]", RP_E_PROTOCOL_VERSION,
		 "record 1: version 9 differs from the pack's 10"},
		/* Numbers. */
		{"[{\"n\":\"a\",\"v\":NaN}]", RP_E_MALFORMED, "invalid JSON"},
		{"[{\"n\":\"a\",\"v\":Infinity}]", RP_E_MALFORMED, "invalid JSON"},
		{"[{\"n\":\"a\",\"v\":-Infinity}]", RP_E_MALFORMED, "invalid JSON"},
		{"[{\"n\":\"a\",\"v\":1e999}]", RP_E_MALFORMED,
		 "record 0: number at byte 14 out of range"},
		{"[{\"n\":\"a\",\"v\":1e5}]", RP_OK, ""},
		{"[{\"n\":\"a\",\"v\":1E5}]", RP_E_MALFORMED, "exponent with 'E' at byte 15"},
		{"[{\"bv\":1e308,\"n\":\"a\",\"v\":1e308}]", RP_E_MALFORMED,
		 "record 0: bv + v is not finite"},
		{"[{\"bs\":-1e308,\"n\":\"a\",\"s\":-1e308}]", RP_E_MALFORMED,
		 "record 0: bs + s is not finite"},
		{"[{\"n\":\"a\",\"v\":1,\"ut\":-1}]", RP_E_MALFORMED, "record 0: ut is negative"},
		/* Values. */
		{"[{\"n\":\"a\",\"v\":1,\"vs\":\"x\"}]", RP_E_MALFORMED,
		 "record 0: two values (v and vs)"},
		{"[{\"n\":\"a\",\"v\":1},{\"n\":\"a\",\"vb\":true,\"vd\":\"\"}]", RP_E_MALFORMED,
		 "record 1: two values (vb and vd)"},
		{"[{\"n\":\"a\",\"v\":1,\"vs\":\"\",\"vb\":true,\"vd\":\"\",\"s\":1}]",
		 RP_E_MALFORMED, "record 0: two values (v and vs)"},
		{"[{\"n\":\"a\"}]", RP_E_MALFORMED, "record 0: no value (v, vs, vb, vd or s)"},
		{"[{\"bv\":1,\"n\":\"a\",\"u\":\"W\"}]", RP_E_MALFORMED, "record 0: no value"},
		{"[{\"n\":\"a\",\"t\":5}]", RP_E_MALFORMED, "record 0: no value"},
		{"[{\"n\":\"a\",\"vs\":\"a\\u0000b\"}]", RP_E_MALFORMED, "\\u0000 in a string"},
		{"[{\"n\":\"a\",\"vd\":\"aGk=\"}]", RP_E_MALFORMED,
		 "record 0: vd is not unpadded base64url"},
		{"[{\"n\":\"a\",\"vd\":\"aGkgC\"}]", RP_E_MALFORMED,
		 "vd is not unpadded base64url"},
		{"[{\"n\":\"a\",\"vd\":\"aGl\"}]", RP_E_MALFORMED, "vd is not unpadded base64url"},
		{"[{\"n\":\"a\",\"vd\":\"aG+/\"}]", RP_E_MALFORMED, "vd is not unpadded base64url"},
		{"[{\"n\":\"a\",\"vd\":\"aGk\"}]", RP_OK, ""},
		/* Names. */
		{"[{\"v\":1}]", RP_E_MALFORMED, "record 0: no name (neither bn nor n)"},
		{"[{\"bn\":\"\",\"n\":\"\",\"v\":1}]", RP_E_MALFORMED, "record 0: no name"},
		{"[{\"n\":\"a b\",\"v\":1}]", RP_E_MALFORMED,
		 "record 0: n: byte 1 is not A-Z a-z 0-9 - : . / _"},
		{"[{\"bn\":\"d\\u00e9v\",\"n\":\"a\",\"v\":1}]", RP_E_MALFORMED,
		 "record 0: bn: byte 1 is not"},
		{"[{\"n\":\"-a\",\"v\":1}]", RP_E_MALFORMED,
		 "record 0: name does not start with A-Z a-z 0-9"},
		{"[{\"bn\":\"_x\",\"n\":\"a\",\"v\":1}]", RP_E_MALFORMED, "name does not start"},
		{"[{\"bn\":\"\",\"n\":\"/a\",\"v\":1}]", RP_E_MALFORMED, "name does not start"},
		/* Units. */
		{"[{\"n\":\"a\",\"u\":\"\",\"v\":1}]", RP_E_MALFORMED, "record 0: u is empty"},
		{"[{\"bu\":\"\",\"n\":\"a\",\"v\":1}]", RP_E_MALFORMED, "record 0: bu is empty"},
		{"[{\"n\":\"a\",\"u\":\"\\u00b0C\",\"v\":1}]", RP_E_MALFORMED,
		 "record 0: u: byte 0 is not A-Z a-z 0-9 % / . - _"},
		{"[{\"n\":\"a\",\"u\":\"m s\",\"v\":1}]", RP_E_MALFORMED, "u: byte 1 is not"},
		/* Time. */
		{"[{\"n\":\"a\",\"t\":1e300,\"v\":1}]", RP_E_MALFORMED,
		 "record 0: time 1.0000000000000001e+300 s resolves outside 1970 .. 9999"},
		{"[{\"n\":\"a\",\"t\":-1e12,\"v\":1}]", RP_E_MALFORMED, "resolves outside"},
		{"[{\"n\":\"a\",\"t\":253402300800,\"v\":1}]", RP_E_MALFORMED, "resolves outside"},
		{"[{\"n\":\"a\",\"t\":253402300799.999,\"v\":1}]", RP_OK, ""},
		{"[{\"bt\":1e308,\"n\":\"a\",\"t\":1e308,\"v\":1}]", RP_E_MALFORMED,
		 "record 0: bt + t is not finite"},
		/* Text encoding. */
		{"[{\"n\":\"a\",\"vs\":\"\xc3\x28\"}]", RP_E_UTF8,
		 "record 0: string at byte 15 is not valid UTF-8"},
		{"[{\"n\":\"a\",\"vs\":\"\xed\xa0\x80\"}]", RP_E_UTF8, "is not valid UTF-8"},
		{"\xef\xbb\xbf[{\"n\":\"a\",\"v\":1}]", RP_E_MALFORMED,
		 "invalid JSON at byte 0: expected '['"},
		/* The JSON grammar: strings and escapes. */
		{"[{\"n\":\"a\",\"vs\":\"\\ud800\"}]", RP_E_UTF8,
		 "record 0: unpaired surrogate escape at byte 16"},
		{"[{\"n\":\"a\",\"vs\":\"\\udc00\\ud800\"}]", RP_E_UTF8, "unpaired surrogate"},
		{"[{\"n\":\"a\",\"vs\":\"\\ud800\\u0041\"}]", RP_E_UTF8, "unpaired surrogate"},
		{"[{\"n\":\"a\",\"vs\":\"\\ud800\\\"\"}]", RP_E_UTF8, "unpaired surrogate"},
		{"[{\"n\":\"a\",\"vs\":\"\\u12\"}]", RP_E_MALFORMED,
		 "invalid JSON at byte 16: invalid \\u escape"},
		{"[{\"n\":\"a\",\"vs\":\"\\u12g4\"}]", RP_E_MALFORMED, "invalid \\u escape"},
		{"[{\"n\":\"a\",\"vs\":\"\\x41\"}]", RP_E_MALFORMED,
		 "invalid JSON at byte 16: invalid escape"},
		{"[{\"n\":\"a\",\"vs\":\"\\\xc3\xa9\"}]", RP_E_MALFORMED, "invalid escape"},
		{"[{\"n\":\"a\",\"vs\":\"a\tb\"}]", RP_E_MALFORMED,
		 "invalid JSON at byte 17: control character in a string"},
		{"[{\"n\":\"a\",\"vs\":\"a\nb\"}]", RP_E_MALFORMED, "control character"},
		{"[{\"n\":\"a\",\"vs\":\"abc", RP_E_MALFORMED, "record 0: JSON text ends early"},
		{"[{\"n\":\"a\",\"vs\":\"abc\\", RP_E_MALFORMED, "JSON text ends early"},
		{"[{\"n\":\"a\",\"vs\":\"abc\\\"", RP_E_MALFORMED, "JSON text ends early"},
		/* The JSON grammar: numbers and literals. */
		{"[{\"n\":\"a\",\"v\":01}]", RP_E_MALFORMED,
		 "invalid JSON at byte 15: expected ','"},
		{"[{\"n\":\"a\",\"v\":1.}]", RP_E_MALFORMED,
		 "invalid JSON at byte 16: invalid number"},
		{"[{\"n\":\"a\",\"v\":.5}]", RP_E_MALFORMED,
		 "invalid JSON at byte 14: expected a value"},
		{"[{\"n\":\"a\",\"v\":+1}]", RP_E_MALFORMED, "expected a value"},
		{"[{\"n\":\"a\",\"v\":-}]", RP_E_MALFORMED, "invalid number"},
		{"[{\"n\":\"a\",\"v\":1e}]", RP_E_MALFORMED, "invalid number"},
		{"[{\"n\":\"a\",\"v\":1e+}]", RP_E_MALFORMED, "invalid number"},
		{"[{\"n\":\"a\",\"v\":0x10}]", RP_E_MALFORMED, "expected ','"},
		{"[{\"n\":\"a\",\"v\":1 2}]", RP_E_MALFORMED, "expected ','"},
		{"[{\"n\":\"a\",\"vb\":tru}]", RP_E_MALFORMED,
		 "invalid JSON at byte 15: invalid literal"},
		{"[{\"n\":\"a\",\"vb\":True}]", RP_E_MALFORMED, "expected a value"},
		{"[{\"n\":\"a\",\"vb\":truex}]", RP_E_MALFORMED, "expected ','"},
		{"[{\"n\":\"a\",\"v\":1,\"x\":nul}]", RP_E_MALFORMED, "invalid literal"},
		/* The JSON grammar: structure. */
		{"[{\"n\":\"a\",\"v\":1,}]", RP_E_MALFORMED,
		 "invalid JSON at byte 16: expected a label"},
		{"[{\"n\" \"a\",\"v\":1}]", RP_E_MALFORMED, "expected ':'"},
		{"[{n:\"a\",\"v\":1}]", RP_E_MALFORMED, "expected a label"},
		{"[{'n':\"a\"}]", RP_E_MALFORMED, "expected a label"},
		{"[{\"n\":\"a\",\"v\":1};", RP_E_MALFORMED, "expected ',' or ']'"},
		{"[{\"n\":\"a\" \"v\":1}]", RP_E_MALFORMED, "expected ',' or '}'"},
		{"[", RP_E_MALFORMED, "JSON text ends early"},
		{"[{", RP_E_MALFORMED, "record 0: JSON text ends early"},
		{"[{\"n\"", RP_E_MALFORMED, "JSON text ends early"},
		{"[{\"n\":", RP_E_MALFORMED, "JSON text ends early"},
		{"[{\"n\":\"a\"", RP_E_MALFORMED, "JSON text ends early"},
		{"  ", RP_E_MALFORMED, "JSON text ends early"},
		{"[ ]", RP_E_EMPTY, "empty pack"},
		{"\f[{\"n\":\"a\",\"v\":1}]", RP_E_MALFORMED, "expected '['"},
		{"[{\"n\":\"a\",\"v\":1}]\f", RP_E_TRAILING, "after the pack"},
		{" \t\r\n[ \t\r\n{ \"n\" : \"a\" , \"v\" : 1 } \t\r\n] \t\r\n", RP_OK, ""},
		{"[{\"n\":\"a\",\"v\":-0.0e-0}]", RP_OK, ""},
		{"[{\"n\":\"a\",\"v\":1e-400}]", RP_OK, ""},
	};
	size_t i;

	(void)state;
	for (i = 0; i < N(r); i++) {
		if (r[i].st == RP_OK) {
			rp_senml_pack p = {0};

			if (pj(r[i].in, &p) != RP_OK) {
				print_error("case %zu: %s\n", i, why);
				fail();
			}
			rp_senml_pack_free(&p);
			continue;
		}
		expect(RP_SENML_JSON, r[i].in, strlen(r[i].in), r[i].st, r[i].why);
	}
	/* Commas after the pack are not records: the refusal names the trailing bytes. */
	{
		size_t n = make_pack(1, "{\"n\":\"a\",\"v\":1}");

		big[n++] = '[';
		memset(big + n, ',', RP_LIMIT_SENML_RECORDS + 10);
		n += RP_LIMIT_SENML_RECORDS + 10;
		big[n++] = ']';
		expect(RP_SENML_JSON, big, n, RP_E_TRAILING,
		       "4108 byte(s) after the pack, at byte 17");
	}
	/* A NUL byte in the text itself. */
	expect(RP_SENML_JSON, "\0", 1, RP_E_MALFORMED, "invalid JSON at byte 0: expected '['");
	expect(RP_SENML_JSON, "[{\"n\":\"a\",\"v\":1}]\0", 18, RP_E_TRAILING, "after the pack");
	expect(RP_SENML_JSON, "[{\"n\":\"a\0\",\"v\":1}]", 18, RP_E_MALFORMED, "invalid JSON");
}

struct creject {
	uint8_t in[24];
	size_t len;
	rp_status st;
	const char *why;
};

#define CB(...) {__VA_ARGS__}, sizeof((uint8_t[]){__VA_ARGS__})

static void test_cbor_rejects(void **state)
{
	static const struct creject r[] = {
		/* Structure. */
		{CB(0x80), RP_E_EMPTY, "empty pack"},
		{CB(0x81, 0xa1, 0x21, 0x61, 0x61), RP_E_EMPTY, "no measurement"},
		{CB(0xa2, 0x00, 0x61, 0x61, 0x02, 0x01), RP_E_MALFORMED,
		 "the pack is not an array"},
		{CB(0x81, 0x01), RP_E_MALFORMED, "record 0: not a map"},
		{CB(0x81, 0xa0), RP_E_MALFORMED, "record 0: no SenML field"},
		{CB(0x81, 0xa2, 0x00, 0x61, 0x61, 0x02, 0x01, 0x00), RP_E_TRAILING,
		 "1 byte(s) after the pack"},
		{CB(0x81, 0xa2, 0x00, 0x61, 0x61, 0x02), RP_E_MALFORMED,
		 "record 0: CBOR ends early"},
		{CB(0x81, 0xa2, 0x00, 0x63, 0x61), RP_E_MALFORMED,
		 "record 0: CBOR ends early (item at byte 3)"},
		{CB(0x82, 0xa2, 0x00, 0x61, 0x61, 0x02, 0x01), RP_E_MALFORMED,
		 "record 1: CBOR ends early"},
		{CB(0x99, 0x0f, 0x00, 0xa0), RP_E_MALFORMED,
		 "CBOR ends early (3840 records announced, 1 byte(s) left)"},
		{CB(0x99, 0x10, 0x01), RP_E_LIMIT, "more than 4096 records"},
		{CB(0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), RP_E_LIMIT,
		 "more than 4096 records"},
		{CB(0x81, 0xb8, 0x21), RP_E_LIMIT, "record 0: more than 32 fields"},
		{CB(0x81, 0xa2, 0x00, 0x61, 0x61, 0x02, 0x1c), RP_E_MALFORMED,
		 "record 0: invalid CBOR item at byte 6"},
		{CB(0x81, 0xa2, 0x00, 0x61, 0x61, 0x02, 0xf8, 0x20), RP_E_MALFORMED,
		 "invalid CBOR item at byte 6"},
		{CB(0x81, 0xa2, 0x00, 0x61, 0x61, 0x02, 0xff), RP_E_MALFORMED,
		 "record 0: v: unexpected break"},
		/* Indefinite lengths and tags. */
		{CB(0x9f, 0xa2, 0x00, 0x61, 0x61, 0x02, 0x01, 0xff), RP_E_MALFORMED,
		 "the pack: indefinite-length items are not accepted"},
		{CB(0x81, 0xbf, 0x00, 0x61, 0x61, 0x02, 0x01, 0xff), RP_E_MALFORMED,
		 "record 0: record: indefinite-length items are not accepted"},
		{CB(0x81, 0xa2, 0x00, 0x7f, 0x61, 0x61, 0xff, 0x02, 0x01), RP_E_MALFORMED,
		 "record 0: n: indefinite-length items are not accepted"},
		{CB(0x81, 0xa2, 0x00, 0x61, 0x61, 0x08, 0x5f, 0x41, 0x00, 0xff), RP_E_MALFORMED,
		 "record 0: vd: indefinite-length"},
		{CB(0x81, 0xa2, 0x00, 0x61, 0x61, 0x02, 0xc4, 0x82, 0x21, 0x19, 0x01, 0x00),
		 RP_E_MALFORMED, "record 0: v: CBOR tags are not accepted (tag 4)"},
		{CB(0xd9, 0xd9, 0xf7, 0x81, 0xa2, 0x00, 0x61, 0x61, 0x02, 0x01), RP_E_MALFORMED,
		 "the pack: CBOR tags are not accepted (tag 55799)"},
		{CB(0x81, 0xa2, 0xc1, 0x00, 0x61, 0x61, 0x02, 0x01), RP_E_MALFORMED,
		 "a label: CBOR tags are not accepted (tag 1)"},
		/* Labels. */
		{CB(0x81, 0xa3, 0x00, 0x61, 0x61, 0x02, 0x01, 0x09, 0x01), RP_E_MALFORMED,
		 "record 0: unknown integer label 9 (RFC 8428 table 4 is conclusive)"},
		{CB(0x81, 0xa3, 0x00, 0x61, 0x61, 0x02, 0x01, 0x26, 0x01), RP_E_MALFORMED,
		 "unknown integer label -7"},
		{CB(0x81, 0xa3, 0x00, 0x61, 0x61, 0x02, 0x01, 0x3b, 0xff, 0xff, 0xff, 0xff, 0xff,
		    0xff, 0xff, 0xff, 0x01),
		 RP_E_MALFORMED, "unknown integer label -1-18446744073709551615"},
		{CB(0x81, 0xa2, 0x61, 0x6e, 0x61, 0x61, 0x02, 0x01), RP_E_MALFORMED,
		 "record 0: text label \"n\": CBOR uses integer labels for SenML's own"},
		{CB(0x81, 0xa3, 0x00, 0x61, 0x61, 0x02, 0x01, 0x64, 0x66, 0x6f, 0x6f, 0x5f, 0x01),
		 RP_E_MALFORMED, "record 0: unknown label \"foo_\" must be understood"},
		{CB(0x81, 0xa3, 0x00, 0x61, 0x61, 0x02, 0x01, 0x02, 0x02), RP_E_MALFORMED,
		 "record 0: duplicate label v"},
		{CB(0x81, 0xa4, 0x00, 0x61, 0x61, 0x02, 0x01, 0x61, 0x78, 0x01, 0x61, 0x78, 0x02),
		 RP_E_MALFORMED, "record 0: duplicate label \"x\""},
		{CB(0x81, 0xa2, 0xf9, 0x3c, 0x00, 0x01), RP_E_MALFORMED,
		 "record 0: a label is not an integer or a text string"},
		{CB(0x81, 0xa2, 0x41, 0x00, 0x01), RP_E_MALFORMED,
		 "a label is not an integer or a text string"},
		/* Types. */
		{CB(0x81, 0xa2, 0x00, 0x01, 0x02, 0x01), RP_E_MALFORMED,
		 "record 0: n is not a text string"},
		{CB(0x81, 0xa2, 0x00, 0x41, 0x61, 0x02, 0x01), RP_E_MALFORMED,
		 "n is not a text string"},
		{CB(0x81, 0xa2, 0x00, 0x61, 0x61, 0x02, 0x61, 0x31), RP_E_MALFORMED,
		 "record 0: v is not a number"},
		{CB(0x81, 0xa2, 0x00, 0x61, 0x61, 0x02, 0xf6), RP_E_MALFORMED, "v is not a number"},
		{CB(0x81, 0xa2, 0x00, 0x61, 0x61, 0x02, 0xf5), RP_E_MALFORMED, "v is not a number"},
		{CB(0x81, 0xa2, 0x00, 0x61, 0x61, 0x04, 0x01), RP_E_MALFORMED,
		 "record 0: vb is not a boolean"},
		{CB(0x81, 0xa2, 0x00, 0x61, 0x61, 0x08, 0x61, 0x41), RP_E_MALFORMED,
		 "record 0: vd is not a byte string"},
		{CB(0x81, 0xa3, 0x20, 0xf9, 0x49, 0x00, 0x00, 0x61, 0x61, 0x02, 0x01),
		 RP_E_MALFORMED, "record 0: bver is not a positive integer"},
		{CB(0x81, 0xa3, 0x20, 0x00, 0x00, 0x61, 0x61, 0x02, 0x01), RP_E_MALFORMED,
		 "bver is not a positive integer"},
		{CB(0x81, 0xa3, 0x20, 0x20, 0x00, 0x61, 0x61, 0x02, 0x01), RP_E_MALFORMED,
		 "bver is not a positive integer"},
		{CB(0x81, 0xa3, 0x20, 0x0b, 0x00, 0x61, 0x61, 0x02, 0x01), RP_E_PROTOCOL_VERSION,
		 "record 0: bver 11 is above 10"},
		{CB(0x81, 0xa3, 0x00, 0x61, 0x61, 0x02, 0x01, 0x61, 0x78, 0x80), RP_E_MALFORMED,
		 "record 0: \"x\": SenML does not nest"},
		{CB(0x81, 0xa2, 0x00, 0x61, 0x61, 0x02, 0xa0), RP_E_MALFORMED,
		 "record 0: v: SenML does not nest"},
		{CB(0x81, 0xa3, 0x00, 0x61, 0x61, 0x02, 0x01, 0x61, 0x78, 0xc0, 0x60),
		 RP_E_MALFORMED, "\"x\": CBOR tags are not accepted (tag 0)"},
		/* Numbers. */
		{CB(0x81, 0xa2, 0x00, 0x61, 0x61, 0x02, 0xf9, 0x7e, 0x00), RP_E_MALFORMED,
		 "record 0: v is not finite"},
		{CB(0x81, 0xa2, 0x00, 0x61, 0x61, 0x02, 0xf9, 0x7c, 0x00), RP_E_MALFORMED,
		 "v is not finite"},
		{CB(0x81, 0xa2, 0x00, 0x61, 0x61, 0x02, 0xfa, 0xff, 0x80, 0x00, 0x00),
		 RP_E_MALFORMED, "v is not finite"},
		{CB(0x81, 0xa3, 0x00, 0x61, 0x61, 0x02, 0x01, 0x06, 0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0,
		    1),
		 RP_E_MALFORMED, "record 0: t is not finite"},
		/* Text strings. */
		{CB(0x81, 0xa2, 0x00, 0x62, 0xc3, 0x28, 0x02, 0x01), RP_E_UTF8,
		 "record 0: n: text string is not UTF-8 without U+0000"},
		{CB(0x81, 0xa2, 0x00, 0x61, 0x00, 0x02, 0x01), RP_E_UTF8,
		 "n: text string is not UTF-8"},
		{CB(0x81, 0xa3, 0x00, 0x61, 0x61, 0x02, 0x01, 0x61, 0xff, 0x01), RP_E_UTF8,
		 "record 0: \"\\xff\": text string is not UTF-8"},
		{CB(0x81, 0xa3, 0x00, 0x61, 0x61, 0x02, 0x01, 0x61, 0x78, 0x61, 0xff), RP_E_UTF8,
		 "record 0: \"x\": text string is not UTF-8"},
		{CB(0x81, 0xa2, 0x00, 0x61, 0x61, 0x03, 0x63, 0xed, 0xa0, 0x80), RP_E_UTF8,
		 "vs: text string is not UTF-8"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < N(r); i++) {
		expect(RP_SENML_CBOR, r[i].in, r[i].len, r[i].st, r[i].why);
	}
}

/* ------------------------------------------------------------------------
 * Limits
 * ------------------------------------------------------------------------ */

static void test_limits(void **state)
{
	static char s[RP_LIMIT_SENML_DATA_LEN * 2];
	rp_senml_limits lim = {0};
	rp_senml_pack p = {0};
	size_t n, i;

	(void)state;
	/* Records: the cap passes, one more is refused, in both formats. */
	n = make_pack(RP_LIMIT_SENML_RECORDS, "{\"n\":\"a\",\"v\":1}");
	assert_int_equal(parse(RP_SENML_JSON, big, n, &p), RP_OK);
	assert_int_equal(p.count, RP_LIMIT_SENML_RECORDS);
	rp_senml_pack_free(&p);
	n = make_pack(RP_LIMIT_SENML_RECORDS + 1, "{\"n\":\"a\",\"v\":1}");
	expect(RP_SENML_JSON, big, n, RP_E_LIMIT, "more than 4096 records");
	n = make_pack(RP_LIMIT_SENML_RECORDS + 1, "1");
	expect(RP_SENML_JSON, big, n, RP_E_LIMIT, "more than 4096 records");

	cb_reset();
	cb_array(RP_LIMIT_SENML_RECORDS);
	for (i = 0; i < RP_LIMIT_SENML_RECORDS; i++) {
		cb_map(2);
		cb_int(0);
		cb_text("a");
		cb_int(2);
		cb_int((int64_t)i);
	}
	assert_int_equal(pc(&p), RP_OK);
	assert_int_equal(p.count, RP_LIMIT_SENML_RECORDS);
	assert_true(p.records[4095].number == 4095);
	rp_senml_pack_free(&p);

	/* Lowered by the caller (and never raised). */
	lim.max_records = 2;
	n = make_pack(3, "{\"n\":\"a\",\"v\":1}");
	assert_int_equal(
		rp_senml_parse((uint8_t *)big, n, RP_SENML_JSON, NOW, &lim, &p, why, sizeof(why)),
		RP_E_LIMIT);
	assert_string_equal(why, "more than 2 records");
	n = make_pack(2, "{\"n\":\"a\",\"v\":1}");
	assert_int_equal(
		rp_senml_parse((uint8_t *)big, n, RP_SENML_JSON, NOW, &lim, &p, why, sizeof(why)),
		RP_OK);
	rp_senml_pack_free(&p);
	lim.max_records = 0;
	lim.max_payload = 10;
	assert_int_equal(
		rp_senml_parse((uint8_t *)big, n, RP_SENML_JSON, NOW, &lim, &p, why, sizeof(why)),
		RP_E_TOO_LARGE);
	assert_string_equal(why, "payload of 33 bytes is above 10");
	lim.max_payload = SIZE_MAX;
	lim.max_records = SIZE_MAX;
	memset(big, ' ', sizeof(big));
	assert_int_equal(rp_senml_parse((uint8_t *)big, RP_LIMIT_SENML_PAYLOAD + 1, RP_SENML_JSON,
					NOW, &lim, &p, why, sizeof(why)),
			 RP_E_TOO_LARGE);
	assert_string_equal(why, "payload of 262145 bytes is above 262144");

	/* Payload: a pack of exactly the cap passes (padded with blanks). */
	n = make_pack(1, "{\"n\":\"a\",\"v\":1}");
	memset(big + n, ' ', RP_LIMIT_SENML_PAYLOAD - n);
	assert_int_equal(parse(RP_SENML_JSON, big, RP_LIMIT_SENML_PAYLOAD, &p), RP_OK);
	rp_senml_pack_free(&p);
	expect(RP_SENML_CBOR, big, RP_LIMIT_SENML_PAYLOAD + 1, RP_E_TOO_LARGE, "is above 262144");

	/* Fields per record. */
	{
		char rec[512];

		n = (size_t)snprintf(rec, sizeof(rec), "{\"n\":\"a\",\"v\":1");
		for (i = 2; i < RP_LIMIT_SENML_FIELDS; i++) {
			n += (size_t)snprintf(rec + n, sizeof(rec) - n, ",\"x%zu\":0", i);
		}
		snprintf(rec + n, sizeof(rec) - n, "}");
		n = make_pack(1, rec);
		assert_int_equal(parse(RP_SENML_JSON, big, n, &p), RP_OK);
		rp_senml_pack_free(&p);
		rec[strlen(rec) - 1] = '\0';
		strcat(rec, ",\"y\":1}");
		n = make_pack(2, rec);
		expect(RP_SENML_JSON, big, n, RP_E_LIMIT, "record 0: more than 32 fields");
	}

	/* Name: bn + n of the cap passes, one byte more is refused. */
	memset(s, 'a', RP_LIMIT_SENML_NAME_LEN);
	s[RP_LIMIT_SENML_NAME_LEN] = '\0';
	cb_reset();
	cb_array(3);
	cb_map(3);
	cb_int(-2);
	cb_textn(s, 200);
	cb_int(0);
	cb_textn(s, RP_LIMIT_SENML_NAME_LEN - 200);
	cb_int(2);
	cb_int(1);
	cb_map(2);
	cb_int(-2);
	cb_textn(s, RP_LIMIT_SENML_NAME_LEN);
	cb_int(2);
	cb_int(1);
	cb_map(2);
	cb_int(0);
	cb_textn(s, RP_LIMIT_SENML_NAME_LEN);
	cb_int(2);
	cb_int(1);
	assert_int_equal(pc(&p), RP_E_LIMIT);
	assert_string_equal(why, "record 2: bn + n longer than 256 bytes");
	cbuf.b[0] = 0x82;
	assert_int_equal(pc(&p), RP_E_TRAILING);
	cbuf.n -= 2 + 3 + RP_LIMIT_SENML_NAME_LEN + 2;
	assert_int_equal(pc(&p), RP_OK);
	assert_int_equal(p.records[0].name_len, RP_LIMIT_SENML_NAME_LEN);
	assert_int_equal(p.records[1].name_len, RP_LIMIT_SENML_NAME_LEN);
	rp_senml_pack_free(&p);
	cb_reset();
	cb_array(1);
	cb_map(2);
	cb_int(-2);
	memset(s, 'b', sizeof(s));
	cb_textn(s, RP_LIMIT_SENML_NAME_LEN + 1);
	cb_int(2);
	cb_int(1);
	expect(RP_SENML_CBOR, cbuf.b, cbuf.n, RP_E_LIMIT, "record 0: bn longer than 256 bytes");

	/* Unit. */
	cb_reset();
	cb_array(2);
	cb_map(3);
	cb_int(0);
	cb_text("a");
	cb_int(1);
	cb_textn(s, RP_LIMIT_SENML_UNIT_LEN);
	cb_int(2);
	cb_int(1);
	cb_map(3);
	cb_int(0);
	cb_text("a");
	cb_int(1);
	cb_textn(s, RP_LIMIT_SENML_UNIT_LEN + 1);
	cb_int(2);
	cb_int(1);
	expect(RP_SENML_CBOR, cbuf.b, cbuf.n, RP_E_LIMIT, "record 1: u longer than 32 bytes");
	cbuf.b[0] = 0x81;
	cbuf.n = 1 + 1 + 1 + 2 + 1 + 2 + RP_LIMIT_SENML_UNIT_LEN + 2;
	assert_int_equal(pc(&p), RP_OK);
	assert_int_equal(p.records[0].unit_len, RP_LIMIT_SENML_UNIT_LEN);
	rp_senml_pack_free(&p);

	/* String and data values. */
	for (i = 0; i < 2; i++) {
		size_t cap = i == 0 ? RP_LIMIT_SENML_STRING_LEN : RP_LIMIT_SENML_DATA_LEN;

		cb_reset();
		cb_array(1);
		cb_map(2);
		cb_int(0);
		cb_text("a");
		cb_int(i == 0 ? 3 : 8);
		if (i == 0) {
			cb_textn(s, cap);
		} else {
			cb_bytes(s, cap);
		}
		assert_int_equal(pc(&p), RP_OK);
		rp_senml_pack_free(&p);
		cbuf.n -= cap + 3;
		if (i == 0) {
			cb_textn(s, cap + 1);
		} else {
			cb_bytes(s, cap + 1);
		}
		expect(RP_SENML_CBOR, cbuf.b, cbuf.n, RP_E_LIMIT,
		       i == 0 ? "record 0: vs longer than 4096 bytes"
			      : "record 0: vd longer than 4096 bytes");
	}
	/* vd in JSON: 4096 bytes are 5462 base64url characters. */
	{
		static char rec[sizeof(s) + 32];

		memset(s, 'A', 5462);
		s[5462] = '\0';
		snprintf(rec, sizeof(rec), "{\"n\":\"a\",\"vd\":\"%s\"}", s);
		n = make_pack(1, rec);
		assert_int_equal(parse(RP_SENML_JSON, big, n, &p), RP_OK);
		assert_int_equal(p.records[0].data_len, 4096);
		rp_senml_pack_free(&p);
		memset(s, 'A', 5464);
		s[5464] = '\0';
		snprintf(rec, sizeof(rec), "{\"n\":\"a\",\"vd\":\"%s\"}", s);
		n = make_pack(1, rec);
		expect(RP_SENML_JSON, big, n, RP_E_LIMIT, "record 0: vd longer than 4096 bytes");
	}

	/* JSON numbers: the cap passes, one character more is refused. */
	{
		char rec[200];
		char num[RP_LIMIT_SENML_NUMBER_LEN + 2];

		memset(num, '1', sizeof(num));
		num[0] = '-';
		num[2] = '.';
		num[RP_LIMIT_SENML_NUMBER_LEN] = '\0';
		snprintf(rec, sizeof(rec), "{\"n\":\"a\",\"v\":%s}", num);
		n = make_pack(1, rec);
		assert_int_equal(parse(RP_SENML_JSON, big, n, &p), RP_OK);
		rp_senml_pack_free(&p);
		num[RP_LIMIT_SENML_NUMBER_LEN] = '1';
		num[RP_LIMIT_SENML_NUMBER_LEN + 1] = '\0';
		snprintf(rec, sizeof(rec), "{\"n\":\"a\",\"v\":%s}", num);
		n = make_pack(1, rec);
		expect(RP_SENML_JSON, big, n, RP_E_LIMIT,
		       "record 0: number at byte 14 longer than 64 characters");
	}
}

/* Packs of the largest size, of several shapes, parse. */
static void test_big_packs(void **state)
{
	static const char *const shapes[] = {
		/* Many records of one field each. */
		"{\"n\":\"a\",\"v\":0}",
		/* Records full of tiny ignored fields. */
		"{\"n\":\"a\",\"v\":0,\"a\":0,\"b\":0,\"c\":0,\"d\":0,\"e\":0,\"f\":0,\"g\":0,"
		"\"h\":0,\"i\":0,\"j\":0,\"k\":0,\"l\":0,\"m\":0,\"o\":0,\"p\":0,\"q\":0,\"r\":0,"
		"\"s\":0,\"t\":0,\"w\":0,\"x\":0,\"y\":0,\"z\":0,\"A\":0,\"B\":0,\"C\":0,\"D\":0,"
		"\"E\":0,\"F\":0,\"G\":0}",
		/* Short strings. */
		"{\"n\":\"a\",\"vs\":\"\",\"a\":\"\",\"b\":\"\",\"c\":\"\",\"d\":\"\"}",
	};
	rp_senml_pack p = {0};
	size_t i;

	(void)state;
	for (i = 0; i < N(shapes); i++) {
		size_t rec = strlen(shapes[i]) + 1;
		size_t count = RP_LIMIT_SENML_PAYLOAD / rec;
		size_t n;

		if (count > RP_LIMIT_SENML_RECORDS) {
			count = RP_LIMIT_SENML_RECORDS;
		}
		n = make_pack(count, shapes[i]);
		assert_true(n <= RP_LIMIT_SENML_PAYLOAD);
		if (parse(RP_SENML_JSON, big, n, &p) != RP_OK) {
			print_error("shape %zu (%zu records, %zu bytes): %s\n", i, count, n, why);
			fail();
		}
		rp_senml_pack_free(&p);
	}
}

/* ------------------------------------------------------------------------
 * Reasons, arguments, helpers
 * ------------------------------------------------------------------------ */

static void test_why(void **state)
{
	static const char bad[] = "[{\"n\":\"a\",\"v\":1,\"\\u001b[31m\\\"\\\\x\\u00e9"
				  "0123456789012345678901234567890123456789_\":1}]";
	char small[10];
	rp_senml_pack p = {0};
	size_t i;

	(void)state;
	/* Bytes of the payload are escaped and cut. */
	assert_int_equal(pj(bad, &p), RP_E_MALFORMED);
	assert_string_equal(why, "record 0: unknown label "
				 "\"\\x1b[31m\\x22\\x5cx\\xc3\\xa90123456789012345678901\"..."
				 " must be understood");
	for (i = 0; why[i]; i++) {
		assert_true(why[i] >= 0x20 && why[i] < 0x7f);
	}
	/* Cut to the room given, always terminated. */
	assert_int_equal(rp_senml_parse((const uint8_t *)"[]", 2, RP_SENML_JSON, NOW, NULL, &p,
					small, sizeof(small)),
			 RP_E_EMPTY);
	assert_string_equal(small, "empty pac");
	assert_int_equal(rp_senml_parse((const uint8_t *)"[{\"v\":1}]", 9, RP_SENML_JSON, NOW, NULL,
					&p, small, sizeof(small)),
			 RP_E_MALFORMED);
	assert_string_equal(small, "record 0:");
	assert_int_equal(
		rp_senml_parse((const uint8_t *)"[]", 2, RP_SENML_JSON, NOW, NULL, &p, small, 1),
		RP_E_EMPTY);
	assert_string_equal(small, "");
	/* why may be NULL. */
	assert_int_equal(
		rp_senml_parse((const uint8_t *)"[]", 2, RP_SENML_JSON, NOW, NULL, &p, NULL, 0),
		RP_E_EMPTY);
	assert_int_equal(rp_senml_parse((const uint8_t *)"[{\"n\":\"a\",\"v\":1}]", 17,
					RP_SENML_JSON, NOW, NULL, &p, NULL, 0),
			 RP_OK);
	rp_senml_pack_free(&p);
	/* Cleared on success. */
	strcpy(why, "stale");
	assert_int_equal(pj("[{\"n\":\"a\",\"v\":1}]", &p), RP_OK);
	assert_string_equal(why, "");
	rp_senml_pack_free(&p);
}

static void test_arguments(void **state)
{
	static const uint8_t ok[] = "[{\"n\":\"a\",\"v\":1}]";
	rp_senml_pack p;

	(void)state;
	assert_int_equal(rp_senml_parse(ok, sizeof(ok) - 1, RP_SENML_JSON, NOW, NULL, NULL, why,
					sizeof(why)),
			 RP_E_INVALID_ARG);
	memset(&p, 0x5a, sizeof(p));
	assert_int_equal(rp_senml_parse(NULL, 1, RP_SENML_JSON, NOW, NULL, &p, why, sizeof(why)),
			 RP_E_INVALID_ARG);
	assert_empty(&p);
	assert_int_equal(rp_senml_parse(ok, sizeof(ok) - 1, (rp_senml_format)3, NOW, NULL, &p, why,
					sizeof(why)),
			 RP_E_INVALID_ARG);
	assert_int_equal(
		rp_senml_parse(ok, sizeof(ok) - 1, RP_SENML_JSON, -1, NULL, &p, why, sizeof(why)),
		RP_E_INVALID_ARG);
	assert_int_equal(rp_senml_parse(ok, sizeof(ok) - 1, RP_SENML_JSON,
					RP_LIMIT_SENML_TIME_MAX_MS + 1, NULL, &p, why, sizeof(why)),
			 RP_E_INVALID_ARG);
	assert_false(rp_senml_rejected(RP_E_INVALID_ARG));
	assert_int_equal(rp_senml_parse(NULL, 0, RP_SENML_CBOR, 0, NULL, &p, why, sizeof(why)),
			 RP_E_EMPTY);
	assert_int_equal(
		rp_senml_parse(ok, sizeof(ok) - 1, RP_SENML_JSON, 0, NULL, &p, why, sizeof(why)),
		RP_OK);
	assert_int_equal(p.records[0].time_ms, 0);
	rp_senml_pack_free(&p);
	assert_int_equal(rp_senml_parse(ok, sizeof(ok) - 1, RP_SENML_JSON,
					RP_LIMIT_SENML_TIME_MAX_MS, NULL, &p, why, sizeof(why)),
			 RP_OK);
	assert_int_equal(p.records[0].time_ms, RP_LIMIT_SENML_TIME_MAX_MS);
	rp_senml_pack_free(&p);

	rp_senml_pack_free(NULL);
	memset(&p, 0, sizeof(p));
	rp_senml_pack_free(&p);
}

static void test_rejected(void **state)
{
	(void)state;
	assert_false(rp_senml_rejected(RP_OK));
	assert_false(rp_senml_rejected(RP_E_NOMEM));
	assert_false(rp_senml_rejected(RP_E_INVALID_ARG));
	assert_false(rp_senml_rejected(RP_E_INTERNAL));
	assert_true(rp_senml_rejected(RP_E_MALFORMED));
	assert_true(rp_senml_rejected(RP_E_TOO_LARGE));
	assert_true(rp_senml_rejected(RP_E_EMPTY));
	assert_true(rp_senml_rejected(RP_E_LIMIT));
	assert_true(rp_senml_rejected(RP_E_UTF8));
	assert_true(rp_senml_rejected(RP_E_TRAILING));
	assert_true(rp_senml_rejected(RP_E_PROTOCOL_VERSION));
}

/* ------------------------------------------------------------------------
 * Allocation failures
 * ------------------------------------------------------------------------ */

/* Fails the n-th allocation for n = 0, 1, ... until the parse succeeds. */
static void walk_failures(rp_senml_format f, const void *buf, size_t len)
{
	rp_senml_pack want = {0}, p;
	size_t base;
	long n;
	int done = 0;

	assert_int_equal(parse(f, buf, len, &want), RP_OK);
	base = rp_alloc_in_use();
	for (n = 0; !done; n++) {
		rp_status st;

		assert_true(n < 100000);
		memset(&p, 0x77, sizeof(p));
		rp_alloc_fail_after(n);
		st = parse(f, buf, len, &p);
		rp_alloc_fail_after(-1);
		if (st == RP_OK) {
			same_pack(&p, &want);
			rp_senml_pack_free(&p);
			done = 1;
		} else {
			if (st != RP_E_NOMEM) {
				print_error("failure %ld: status %d, %s\n", n, st, why);
				fail();
			}
			assert_string_equal(why, "out of memory");
			assert_false(rp_senml_rejected(st));
			assert_empty(&p);
		}
		assert_int_equal(rp_alloc_in_use(), base);
	}
	assert_true(n > 1);
	rp_senml_pack_free(&want);
	assert_int_equal(rp_alloc_in_use(), 0);
}

static void test_alloc_failures(void **state)
{
	size_t i, n;

	(void)state;
	for (i = 0; i < N(rfc_examples); i++) {
		walk_failures(RP_SENML_JSON, rfc_examples[i], strlen(rfc_examples[i]));
		json_to_cbor(rfc_examples[i]);
		walk_failures(RP_SENML_CBOR, cbuf.b, cbuf.n);
	}
	/* Strings with escapes need the JSON reader's scratch buffer. */
	{
		static const char esc[] = "[{\"bn\":\"a\\u0062/\",\"n\":\"x\",\"vs\":\"\\u00e9\"},"
					  "{\"\\u006e\":\"y\",\"v\":1}]";

		walk_failures(RP_SENML_JSON, esc, strlen(esc));
	}
	/* Enough strings to need several arenas. */
	n = make_pack(300, "{\"bn\":\"some/longer/base/name/for/the/arena/\",\"n\":\"x\","
			   "\"u\":\"Cel\",\"vs\":\"a string value that takes room\"}");
	walk_failures(RP_SENML_JSON, big, n);
}

/* ------------------------------------------------------------------------ */

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_5_1_1),
		cmocka_unit_test(test_rfc_5_1_2),
		cmocka_unit_test(test_rfc_5_1_3_resolves_to_5_1_4),
		cmocka_unit_test(test_rfc_5_1_5),
		cmocka_unit_test(test_rfc_5_1_6),
		cmocka_unit_test(test_rfc_5_1_7),
		cmocka_unit_test(test_cbor_rfc_dump),
		cmocka_unit_test(test_cbor_rfc_examples),
		cmocka_unit_test(test_cbor_numbers),
		cmocka_unit_test(test_resolution),
		cmocka_unit_test(test_json_rejects),
		cmocka_unit_test(test_cbor_rejects),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_big_packs),
		cmocka_unit_test(test_why),
		cmocka_unit_test(test_arguments),
		cmocka_unit_test(test_rejected),
		cmocka_unit_test(test_alloc_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
