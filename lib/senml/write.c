/*
 * lib/senml/write.c - SenML JSON packs for the device (rampart/senml.h).
 *
 * Implementation notes
 * - State: buf[0 .. len) is the pack so far, "[" and the records, without
 *   the closing "]"; every add keeps one byte free for it, so finish
 *   cannot fail for room.
 * - A record is written in place at len and committed by moving len only
 *   when the whole of it fit; a record that does not fit leaves len (and
 *   the pack) as it was.
 * - Time: the first record with a time carries it as bt (seconds, three
 *   decimals); later ones carry t = their time - bt. A record without a
 *   time after bt is in force carries t = -bt, so that bt + t = 0, which
 *   RFC 8428 reads as "now" (the receiver's clock): the meaning of no time.
 * - The writer is the only producer of what it writes: its names, units and
 *   strings are checked here against the rules of rampartd's parser, so a
 *   pack it makes is never refused for its content.
 */
#include "rampart/senml.h"

#include <string.h>

#include "rampart/limits.h"
#include "rampart/mqtt.h"

/* 2^28 seconds: below it, SenML times are relative (RFC 8428 4.5.3). */
#define ABSOLUTE_MIN_MS (268435456LL * 1000LL)

typedef struct cursor {
	rp_senml_writer *w;
	size_t pos;
	int over;
} cursor;

static void put(cursor *c, const void *p, size_t n)
{
	/* One byte stays free for the closing ']'; pos <= cap - 1 holds. */
	if (c->over || n > c->w->cap - 1u - c->pos) {
		c->over = 1;
		return;
	}
	memcpy(c->w->buf + c->pos, p, n);
	c->pos += n;
}

static void puts_(cursor *c, const char *s)
{
	put(c, s, strlen(s));
}

/* mantissa * 10^exp10 as a JSON number, exactly. */
static void put_decimal(cursor *c, int64_t mantissa, int exp10)
{
	char digits[24], out[64];
	uint64_t u = mantissa < 0 ? (uint64_t)0 - (uint64_t)mantissa : (uint64_t)mantissa;
	size_t nd = 0, n = 0, i;

	do {
		digits[nd++] = (char)('0' + (int)(u % 10u));
		u /= 10u;
	} while (u != 0u);
	if (mantissa < 0) {
		out[n++] = '-';
	}
	if (exp10 >= 0) {
		for (i = nd; i > 0; i--) {
			out[n++] = digits[i - 1u];
		}
		/* 0 stays 0, not 000. */
		for (i = 0; i < (size_t)exp10 && !(nd == 1u && digits[0] == '0'); i++) {
			out[n++] = '0';
		}
	} else {
		size_t frac = (size_t)-exp10;
		if (nd <= frac) {
			out[n++] = '0';
			out[n++] = '.';
			for (i = nd; i < frac; i++) {
				out[n++] = '0';
			}
			for (i = nd; i > 0; i--) {
				out[n++] = digits[i - 1u];
			}
		} else {
			for (i = nd; i > frac; i--) {
				out[n++] = digits[i - 1u];
			}
			out[n++] = '.';
			for (; i > 0; i--) {
				out[n++] = digits[i - 1u];
			}
		}
	}
	/* At most 1 + 19 + 30 + 1 bytes: within out and within
	 * RP_LIMIT_SENML_NUMBER_LEN. */
	put(c, out, n);
}

static int name_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0u, i;

	if (n == 0u || n > RP_LIMIT_SENML_NAME_LEN) {
		return 0;
	}
	for (i = 0; i < n; i++) {
		char ch = s[i];
		int alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			    (ch >= '0' && ch <= '9');
		if (!alnum &&
		    (i == 0u || (ch != '-' && ch != ':' && ch != '.' && ch != '/' && ch != '_'))) {
			return 0;
		}
	}
	return 1;
}

static int unit_ok(const char *s)
{
	size_t n, i;

	if (s == NULL) {
		return 1;
	}
	n = strlen(s);
	if (n == 0u || n > RP_LIMIT_SENML_UNIT_LEN) {
		return 0;
	}
	for (i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '%' || ch == '/' || ch == '.' ||
		      ch == '-' || ch == '_')) {
			return 0;
		}
	}
	return 1;
}

static void put_string(cursor *c, const uint8_t *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;

	put(c, "\"", 1);
	for (i = 0; i < len; i++) {
		uint8_t b = s[i];
		if (b == '"' || b == '\\' || b < 0x20u) {
			char esc[6] = {'\\', 'u', '0', '0', hex[b >> 4], hex[b & 15u]};
			put(c, s + run, i - run);
			if (b == '"' || b == '\\') {
				esc[1] = (char)b;
				put(c, esc, 2);
			} else {
				put(c, esc, 6);
			}
			run = i + 1u;
		}
	}
	put(c, s + run, len - run);
	put(c, "\"", 1);
}

/* The record's opening, name, unit and time; the value follows. */
static rp_status begin(rp_senml_writer *w, cursor *c, const char *name, const char *unit,
		       int64_t t_ms)
{
	if (w == NULL || w->buf == NULL || !name_ok(name) || !unit_ok(unit) || t_ms < 0 ||
	    (t_ms != 0 && t_ms < ABSOLUTE_MIN_MS) || t_ms > RP_LIMIT_SENML_TIME_MAX_MS) {
		return RP_E_INVALID_ARG;
	}
	if (w->records >= RP_LIMIT_SENML_RECORDS) {
		return RP_E_LIMIT;
	}
	c->w = w;
	c->pos = w->len;
	c->over = w->cap == 0u;
	put(c, w->records == 0u ? "[{" : ",{", 2);
	if (t_ms != 0 && !w->has_base) {
		puts_(c, "\"bt\":");
		put_decimal(c, t_ms, -3);
		put(c, ",", 1);
	} else if (w->has_base) {
		puts_(c, "\"t\":");
		put_decimal(c, t_ms != 0 ? t_ms - w->base_ms : -w->base_ms, -3);
		put(c, ",", 1);
	}
	puts_(c, "\"n\":");
	put_string(c, (const uint8_t *)name, strlen(name));
	if (unit != NULL) {
		puts_(c, ",\"u\":");
		put_string(c, (const uint8_t *)unit, strlen(unit));
	}
	return RP_OK;
}

static rp_status commit(cursor *c, int64_t t_ms)
{
	rp_senml_writer *w = c->w;

	put(c, "}", 1);
	if (c->over) {
		return RP_E_BUF_TOO_SMALL;
	}
	if (t_ms != 0 && !w->has_base) {
		w->has_base = 1;
		w->base_ms = t_ms;
	}
	w->len = c->pos;
	w->records++;
	return RP_OK;
}

void rp_senml_init(rp_senml_writer *w, uint8_t *buf, size_t cap)
{
	if (w == NULL) {
		return;
	}
	memset(w, 0, sizeof(*w));
	w->buf = buf;
	w->cap = buf != NULL ? cap : 0u;
}

rp_status rp_senml_number(rp_senml_writer *w, const char *name, const char *unit, int64_t mantissa,
			  int exp10, int64_t t_ms)
{
	cursor c;
	rp_status st;

	if (exp10 < -30 || exp10 > 30) {
		return RP_E_INVALID_ARG;
	}
	st = begin(w, &c, name, unit, t_ms);
	if (st != RP_OK) {
		return st;
	}
	puts_(&c, ",\"v\":");
	put_decimal(&c, mantissa, exp10);
	return commit(&c, t_ms);
}

rp_status rp_senml_bool(rp_senml_writer *w, const char *name, const char *unit, int value,
			int64_t t_ms)
{
	cursor c;
	rp_status st;

	if (value != 0 && value != 1) {
		return RP_E_INVALID_ARG;
	}
	st = begin(w, &c, name, unit, t_ms);
	if (st != RP_OK) {
		return st;
	}
	puts_(&c, value ? ",\"vb\":true" : ",\"vb\":false");
	return commit(&c, t_ms);
}

rp_status rp_senml_string(rp_senml_writer *w, const char *name, const char *unit, const uint8_t *s,
			  size_t len, int64_t t_ms)
{
	cursor c;
	rp_status st;

	if ((s == NULL && len != 0u) || len > RP_LIMIT_SENML_STRING_LEN ||
	    (len != 0u && !rp_mqtt_utf8_valid(s, len))) {
		return RP_E_INVALID_ARG;
	}
	st = begin(w, &c, name, unit, t_ms);
	if (st != RP_OK) {
		return st;
	}
	puts_(&c, ",\"vs\":");
	put_string(&c, s != NULL ? s : (const uint8_t *)"", len);
	return commit(&c, t_ms);
}

size_t rp_senml_count(const rp_senml_writer *w)
{
	return w != NULL ? w->records : 0u;
}

rp_status rp_senml_finish(rp_senml_writer *w, size_t *len)
{
	if (w == NULL || len == NULL) {
		return RP_E_INVALID_ARG;
	}
	if (w->records == 0u) {
		return RP_E_EMPTY;
	}
	/* Room kept by put(): len <= cap - 1. */
	w->buf[w->len] = ']';
	*len = w->len + 1u;
	return RP_OK;
}
