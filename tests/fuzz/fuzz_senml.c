/*
 * fuzz_senml.c - libFuzzer target for rp_senml_parse() (server/telemetry/senml.h).
 *
 * Input: the first byte chooses the format (bit 0: 0 JSON, 1 CBOR); the
 * rest is the payload, as a device would publish it.
 *
 * Oracles (any failure aborts):
 * - The status is RP_OK or a payload refusal (rp_senml_rejected()); never
 *   RP_E_NOMEM, RP_E_INVALID_ARG or RP_E_INTERNAL (a broken invariant).
 * - The reason is NUL-terminated printable ASCII: empty on RP_OK, not
 *   empty otherwise; bytes of the payload are escaped. A smaller reason
 *   buffer gives the same status and a prefix of the same reason.
 * - On a refusal the pack is empty. On RP_OK every record has a valid
 *   name (RFC 8428 4.5.1, at most RP_LIMIT_SENML_NAME_LEN bytes, NUL at
 *   name_len), a valid unit or none, a time within 0 ..
 *   RP_LIMIT_SENML_TIME_MAX_MS, exactly one value kind (or a sum alone),
 *   finite numbers, a string that is UTF-8 without NUL, lengths within
 *   their limits; the version is 1 .. 10.
 * - Differential, JSON: what the reader accepts, jansson accepts too (with
 *   duplicate keys refused), as an array of objects, and the names, units,
 *   numbers and strings resolved from jansson's tree are the records'; a
 *   syntax error the reader reports is one jansson reports too (unless the
 *   input holds a NUL byte: jansson 2.14 skips one that follows a number,
 *   regressions/senml/json-nul-after-number-jansson-skips).
 * - Differential, CBOR: what is accepted is one well-formed CBOR item for
 *   libcbor's cbor_load(), taking the whole payload.
 * - Nothing leaks: rp_alloc_in_use() is back where it was.
 */
#include <cbor.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/limits.h"
#include "rampart/mqtt.h"
#include "telemetry/senml.h"
#include "util/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			check_failed(#cond, __LINE__);                                             \
		}                                                                                  \
	} while (0)

#define NOW 1700000000000LL

static char why[256];

_Noreturn static void check_failed(const char *what, int line)
{
	fprintf(stderr, "fuzz_senml: invariant failed at line %d: %s (reason: %s)\n", line, what,
		why);
	abort();
}

static int is_alnum(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static void check_reason(const char *w, size_t cap, int empty)
{
	size_t n = strnlen(w, cap);
	size_t i;

	CHECK(n < cap);
	CHECK(empty ? n == 0 : n > 0);
	for (i = 0; i < n; i++) {
		CHECK(w[i] >= 0x20 && w[i] < 0x7f);
	}
}

static void check_record(const rp_senml_record *r)
{
	size_t i;

	CHECK(r->name != NULL);
	CHECK(r->name_len >= 1 && r->name_len <= RP_LIMIT_SENML_NAME_LEN);
	CHECK(strlen(r->name) == r->name_len);
	CHECK(is_alnum((unsigned char)r->name[0]));
	for (i = 0; i < r->name_len; i++) {
		CHECK(is_alnum((unsigned char)r->name[i]) || strchr("-:./_", r->name[i]) != NULL);
	}
	if (r->unit == NULL) {
		CHECK(r->unit_len == 0);
	} else {
		CHECK(r->unit_len >= 1 && r->unit_len <= RP_LIMIT_SENML_UNIT_LEN);
		CHECK(strlen(r->unit) == r->unit_len);
		for (i = 0; i < r->unit_len; i++) {
			CHECK(is_alnum((unsigned char)r->unit[i]) ||
			      strchr("%/.-_", r->unit[i]) != NULL);
		}
	}
	CHECK(r->time_ms >= 0 && r->time_ms <= RP_LIMIT_SENML_TIME_MAX_MS);
	switch (r->kind) {
	case RP_SENML_NONE:
		CHECK(r->has_sum);
		CHECK(r->str == NULL && r->data == NULL && r->number == 0 && !r->boolean);
		break;
	case RP_SENML_NUMBER:
		CHECK(isfinite(r->number));
		CHECK(r->str == NULL && r->data == NULL && !r->boolean);
		break;
	case RP_SENML_STRING:
		CHECK(r->str != NULL && r->data == NULL && r->number == 0 && !r->boolean);
		CHECK(r->str_len <= RP_LIMIT_SENML_STRING_LEN);
		CHECK(strlen(r->str) == r->str_len);
		CHECK(rp_mqtt_utf8_valid((const uint8_t *)r->str, r->str_len));
		break;
	case RP_SENML_BOOL:
		CHECK(r->str == NULL && r->data == NULL && r->number == 0);
		break;
	case RP_SENML_DATA:
		CHECK(r->data != NULL && r->str == NULL && r->number == 0 && !r->boolean);
		CHECK(r->data_len <= RP_LIMIT_SENML_DATA_LEN);
		break;
	default:
		CHECK(0);
	}
	if (r->kind != RP_SENML_STRING) {
		CHECK(r->str_len == 0);
	}
	if (r->kind != RP_SENML_DATA) {
		CHECK(r->data_len == 0);
	}
	CHECK(r->has_sum ? isfinite(r->sum) : r->sum == 0);
	CHECK(r->has_update_time ? isfinite(r->update_time_s) && r->update_time_s >= 0
				 : r->update_time_s == 0);
}

static const char *const regular[] = {"n", "u", "v", "vs", "vb", "s", "t", "ut", "vd"};

/* jansson agrees with an accepted JSON pack: shape, names, string values. */
static void json_agrees(const uint8_t *buf, size_t len, const rp_senml_pack *p)
{
	json_error_t err;
	json_t *root = json_loadb((const char *)buf, len,
				  JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &err);
	const char *bn = "", *bu = NULL;
	size_t bn_len = 0, i, row = 0;
	double bv = 0;

	CHECK(root != NULL);
	CHECK(json_is_array(root));
	for (i = 0; i < json_array_size(root); i++) {
		json_t *rec = json_array_get(root, i), *v;
		size_t k, has_regular = 0;

		CHECK(json_is_object(rec));
		v = json_object_get(rec, "bn");
		if (v != NULL) {
			bn = json_string_value(v);
			bn_len = json_string_length(v);
		}
		v = json_object_get(rec, "bu");
		if (v != NULL) {
			bu = json_string_value(v);
		}
		v = json_object_get(rec, "bv");
		if (v != NULL) {
			bv = json_number_value(v);
		}
		for (k = 0; k < sizeof(regular) / sizeof(regular[0]); k++) {
			has_regular |= json_object_get(rec, regular[k]) != NULL;
		}
		if (!has_regular) {
			continue; /* base fields only: no row */
		}
		CHECK(row < p->count);
		{
			const rp_senml_record *r = &p->records[row++];
			json_t *n = json_object_get(rec, "n");
			size_t n_len = n != NULL ? json_string_length(n) : 0;

			CHECK(r->name_len == bn_len + n_len);
			CHECK(memcmp(r->name, bn, bn_len) == 0);
			CHECK(n_len == 0 ||
			      memcmp(r->name + bn_len, json_string_value(n), n_len) == 0);
			v = json_object_get(rec, "vs");
			if (v != NULL) {
				CHECK(r->kind == RP_SENML_STRING);
				CHECK(r->str_len == json_string_length(v));
				CHECK(memcmp(r->str, json_string_value(v), r->str_len) == 0);
			}
			v = json_object_get(rec, "v");
			if (v != NULL) {
				CHECK(r->kind == RP_SENML_NUMBER);
				CHECK(r->number == json_number_value(v) + bv);
			}
			v = json_object_get(rec, "u");
			if (v != NULL) {
				CHECK(r->unit != NULL &&
				      strcmp(r->unit, json_string_value(v)) == 0);
			} else if (bu != NULL) {
				CHECK(r->unit != NULL && strcmp(r->unit, bu) == 0);
			} else {
				CHECK(r->unit == NULL);
			}
		}
	}
	CHECK(row == p->count);
	json_decref(root);
}

/*
 * 1 if the reason is one of the JSON reader's syntax errors. Matched at the
 * start (after "record N: "), never anywhere: a quoted label may spell one.
 */
static int json_syntax_error(const char *w)
{
	static const char *const kinds[] = {"invalid JSON at byte ", "JSON text ends early",
					    "string at byte ", "unpaired surrogate escape",
					    "\\u0000 in a string"};
	size_t k;

	if (strncmp(w, "record ", 7) == 0) {
		w += 7;
		while (*w >= '0' && *w <= '9') {
			w++;
		}
		if (strncmp(w, ": ", 2) != 0) {
			return 0;
		}
		w += 2;
	}
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		if (strncmp(w, kinds[k], strlen(kinds[k])) == 0) {
			return 1;
		}
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rp_senml_format fmt;
	rp_senml_pack p, q;
	char small[12];
	const uint8_t *buf;
	size_t len, base, i;
	rp_status st, st2;

	if (size == 0) {
		return 0;
	}
	fmt = (data[0] & 1) ? RP_SENML_CBOR : RP_SENML_JSON;
	buf = data + 1;
	len = size - 1;
	base = rp_alloc_in_use();

	memset(&p, 0xA5, sizeof(p));
	st = rp_senml_parse(buf, len, fmt, NOW, NULL, &p, why, sizeof(why));
	CHECK(st == RP_OK || rp_senml_rejected(st));
	check_reason(why, sizeof(why), st == RP_OK);

	/* Deterministic, and a short reason buffer only cuts the reason. */
	st2 = rp_senml_parse(buf, len, fmt, NOW, NULL, &q, small, sizeof(small));
	CHECK(st2 == st);
	check_reason(small, sizeof(small), st == RP_OK);
	CHECK(strncmp(small, why, strlen(small)) == 0);
	rp_senml_pack_free(&q);

	if (st != RP_OK) {
		CHECK(p.records == NULL && p.count == 0 && p.chunks_ == NULL);
		/* jansson skips a NUL byte after a number: leave those inputs out. */
		if (fmt == RP_SENML_JSON && memchr(buf, 0, len) == NULL && json_syntax_error(why)) {
			json_error_t err;
			json_t *root =
				json_loadb((const char *)buf, len, JSON_DECODE_INT_AS_REAL, &err);

			CHECK(root == NULL);
		}
	} else {
		CHECK(p.count >= 1 && p.records != NULL);
		CHECK(p.version >= 1 && p.version <= RP_SENML_VERSION);
		for (i = 0; i < p.count; i++) {
			check_record(&p.records[i]);
		}
		if (fmt == RP_SENML_JSON) {
			json_agrees(buf, len, &p);
		} else {
			struct cbor_load_result res;
			cbor_item_t *item = cbor_load(buf, len, &res);

			CHECK(item != NULL);
			CHECK(res.error.code == CBOR_ERR_NONE && res.read == len);
			CHECK(cbor_isa_array(item) && cbor_array_is_definite(item));
			cbor_decref(&item);
		}
	}
	rp_senml_pack_free(&p);
	CHECK(p.records == NULL && p.count == 0 && p.chunks_ == NULL);
	CHECK(rp_alloc_in_use() == base);
	return 0;
}
