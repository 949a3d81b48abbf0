/*
 * rampart/text.h - small text helpers shared by rampartd and the device
 * side: configuration lines, their values, and untrusted bytes made safe
 * for a message.
 *
 * Conventions
 * - Pure functions: no allocation, no I/O, no global state; safe from any
 *   thread.
 * - Inputs are (pointer, length) and need no NUL, except where a
 *   parameter says it is a C string.
 *
 * This header is part of the portable core (C99, no OS, no allocation).
 */
#ifndef RAMPART_TEXT_H
#define RAMPART_TEXT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One line of a configuration-like file, split as "WORD REST". */
typedef struct rp_text_line {
	const char *word; /* first blank-separated word */
	size_t word_len;
	const char *rest; /* the rest, without leading or trailing blanks (may be empty) */
	size_t rest_len;
} rp_text_line;

/*
 * Splits s[0 .. n) (one line, no terminator). Blanks are space and tab; a
 * line whose first non-blank byte is '#' is a comment. Returns 1 with *out
 * for a line with a word, 0 for a blank or comment line, and -1 with *why
 * ("line holds a NUL byte", "line is not valid UTF-8") otherwise.
 */
int rp_text_line_split(const char *s, size_t n, rp_text_line *out, const char **why);

/*
 * Calls fn(ctx, number, s, n) for each line of buf[0 .. len), numbered from
 * 1: lines end with LF or CRLF (the terminator is not in s[0 .. n)), the
 * last one may end without; a UTF-8 byte order mark at the start, as some
 * editors write, is not part of line 1. A configuration file's reader.
 */
typedef void (*rp_text_line_fn)(void *ctx, unsigned number, const char *s, size_t n);
void rp_text_lines(const char *buf, size_t len, rp_text_line_fn fn, void *ctx);

/*
 * Copies untrusted bytes into out as printable ASCII: at most max_in bytes
 * of in[0 .. len), printable ASCII as is, a backslash as \\, anything else
 * as \xHH, and "..." when cut by max_in or by cap. cap MUST be at least 4
 * (smaller: out gets "" if cap > 0). max_in * 4 + 4 bytes always hold the
 * whole. Returns out.
 */
const char *rp_text_escape(char *out, size_t cap, const uint8_t *in, size_t len, size_t max_in);

/*
 * Values of configuration keys, from a C string s (the whole string must
 * match; no blanks, no sign). Each returns 1 with *v (saturating at
 * UINT64_MAX, so a caller's range check refuses an overflow), or 0 if s
 * is malformed.
 * - count: decimal digits;
 * - size: digits and an optional k, m or g (binary, either case), in bytes;
 *   *end (size_at) is what follows, for "SIZE/s";
 * - duration: digits and a unit, ms, s, m, h or d, in milliseconds.
 */
int rp_text_count(const char *s, uint64_t *v);
int rp_text_size(const char *s, uint64_t *v);
int rp_text_size_at(const char *s, uint64_t *v, const char **end);
int rp_text_duration_ms(const char *s, uint64_t *v);

/* The value of one hexadecimal digit (either case), or -1. */
int rp_text_hex_digit(int c);

/*
 * Reads the decimal digits at the start of s; *v saturates at UINT64_MAX.
 * Returns how many digits were read (0: none, *v = 0).
 */
size_t rp_text_digits(const char *s, uint64_t *v);

#ifdef __cplusplus
}
#endif

#endif /* RAMPART_TEXT_H */
