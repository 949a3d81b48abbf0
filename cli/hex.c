/*
 * hex.c - strict hex text to bytes.
 *
 * The text comes from a user or a file and is untrusted: every character is
 * checked, the output is bounded by the caller's capacity (never grown), and
 * an error names the position and the offending character (escaped, so a
 * control character cannot reach the terminal raw).
 */
#include <string.h>

#include "cli.h"
#include "rampart/text.h"

void cli_hex_init(struct cli_hex *h, uint8_t *buf, size_t cap)
{
	memset(h, 0, sizeof(*h));
	h->buf = buf;
	h->cap = cap;
	h->where = "input";
	h->line = 1;
	h->col = 1;
}

static int is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void where(const struct cli_hex *h)
{
	if (h->line > 1) {
		fprintf(stderr, "%s, line %zu, column %zu", h->where, h->line, h->col);
	} else {
		fprintf(stderr, "%s, character %zu", h->where, h->col);
	}
}

static int odd_digits(const struct cli_hex *h)
{
	fprintf(stderr, "rampart: hex: a byte with one hex digit, just before ");
	where(h);
	fprintf(stderr, " (each byte is two digits, e.g. 0c)\n");
	return -1;
}

int cli_hex_end(struct cli_hex *h)
{
	if (h->pending) {
		return odd_digits(h);
	}
	return 0;
}

int cli_hex_feed(struct cli_hex *h, int c)
{
	int v = rp_text_hex_digit(c);
	int rc = 0;

	if (is_space(c)) {
		rc = cli_hex_end(h);
	} else if (v < 0) {
		fprintf(stderr, "rampart: hex: invalid character ");
		if (c > 0x20 && c < 0x7f) {
			fprintf(stderr, "'%c'", c);
		} else {
			fprintf(stderr, "\\x%02x", (unsigned)c & 0xffu);
		}
		fprintf(stderr, " at ");
		where(h);
		fprintf(stderr, " (only hex digits and spaces are allowed)\n");
		rc = -1;
	} else if (!h->pending) {
		h->high = (uint8_t)v;
		h->pending = 1;
	} else if (h->len >= h->cap) {
		fprintf(stderr, "rampart: hex: input longer than %zu bytes, refused\n", h->cap);
		rc = -1;
	} else {
		h->buf[h->len++] = (uint8_t)((h->high << 4) | v);
		h->pending = 0;
	}

	if (c == '\n') {
		h->line++;
		h->col = 1;
	} else {
		h->col++;
	}
	return rc;
}
