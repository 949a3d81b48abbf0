/*
 * lib/util/text.c - configuration lines and values, and escaping of
 * untrusted bytes (rampart/text.h). Used by rampartd's configuration and
 * policy files, its logs, and the device agent's configuration.
 */
#include "rampart/text.h"

#include <string.h>

#include "rampart/mqtt.h"

static int blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

int rp_text_line_split(const char *s, size_t n, rp_text_line *out, const char **why)
{
	size_t i = 0, w;

	if (memchr(s, '\0', n) != NULL) {
		*why = "line holds a NUL byte";
		return -1;
	}
	if (!rp_mqtt_utf8_valid((const uint8_t *)s, n)) {
		*why = "line is not valid UTF-8";
		return -1;
	}
	while (i < n && blank(s[i])) {
		i++;
	}
	if (i == n || s[i] == '#') {
		return 0;
	}
	w = i;
	while (i < n && !blank(s[i])) {
		i++;
	}
	out->word = s + w;
	out->word_len = i - w;
	while (i < n && blank(s[i])) {
		i++;
	}
	while (n > i && blank(s[n - 1u])) {
		n--;
	}
	out->rest = s + i;
	out->rest_len = n - i;
	return 1;
}

void rp_text_lines(const char *buf, size_t len, rp_text_line_fn fn, void *ctx)
{
	size_t pos = 0;
	unsigned number = 0;

	if (len >= 3u && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
		pos = 3;
	}
	while (pos < len) {
		const char *s = buf + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - s) : len - pos;

		pos += n + (nl != NULL ? 1u : 0u);
		if (n > 0u && s[n - 1u] == '\r') {
			n--;
		}
		fn(ctx, ++number, s, n);
	}
}

const char *rp_text_escape(char *out, size_t cap, const uint8_t *in, size_t len, size_t max_in)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	if (cap < 4u) {
		if (cap > 0u) {
			out[0] = '\0';
		}
		return out;
	}
	for (i = 0; i < len && i < max_in; i++) {
		uint8_t ch = in[i];
		size_t need = (ch >= 0x20u && ch < 0x7Fu) ? (ch == '\\' ? 2u : 1u) : 4u;

		/* Room stays for "..." and the NUL: o + need <= cap - 4. */
		if (need > cap - 4u - o) {
			break;
		}
		if (need == 1u) {
			out[o++] = (char)ch;
		} else if (need == 2u) {
			out[o++] = '\\';
			out[o++] = '\\';
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15u];
		}
	}
	if (i < len) {
		out[o++] = '.';
		out[o++] = '.';
		out[o++] = '.';
	}
	out[o] = '\0';
	return out;
}

/* v * m, saturating at UINT64_MAX. */
static uint64_t mul_sat(uint64_t v, uint64_t m)
{
	if (m != 0u && v > UINT64_MAX / m) {
		return UINT64_MAX;
	}
	return v * m;
}

int rp_text_hex_digit(int c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

size_t rp_text_digits(const char *s, uint64_t *v)
{
	size_t i = 0;
	uint64_t x = 0;

	while (s[i] >= '0' && s[i] <= '9') {
		unsigned d = (unsigned)(s[i] - '0');

		if (x > (UINT64_MAX - d) / 10u) {
			x = UINT64_MAX;
		} else if (x != UINT64_MAX) {
			x = x * 10u + d;
		}
		i++;
	}
	*v = x;
	return i;
}

int rp_text_count(const char *s, uint64_t *v)
{
	size_t n = rp_text_digits(s, v);

	return n > 0u && s[n] == '\0';
}

int rp_text_size_at(const char *s, uint64_t *v, const char **end)
{
	size_t n = rp_text_digits(s, v);
	uint64_t mult = 1;

	if (n == 0u) {
		return 0;
	}
	switch (s[n]) {
	case 'k':
	case 'K':
		mult = 1024u;
		n++;
		break;
	case 'm':
	case 'M':
		mult = 1024u * 1024u;
		n++;
		break;
	case 'g':
	case 'G':
		mult = 1024u * 1024u * 1024u;
		n++;
		break;
	default:
		break;
	}
	*v = mul_sat(*v, mult);
	*end = s + n;
	return 1;
}

int rp_text_size(const char *s, uint64_t *v)
{
	const char *end;

	return rp_text_size_at(s, v, &end) && *end == '\0';
}

int rp_text_duration_ms(const char *s, uint64_t *v)
{
	size_t n = rp_text_digits(s, v);
	const char *u = s + n;
	uint64_t mult;

	if (n == 0u) {
		return 0;
	}
	if (strcmp(u, "ms") == 0) {
		mult = 1u;
	} else if (strcmp(u, "s") == 0) {
		mult = 1000u;
	} else if (strcmp(u, "m") == 0) {
		mult = 60000u;
	} else if (strcmp(u, "h") == 0) {
		mult = 3600000u;
	} else if (strcmp(u, "d") == 0) {
		mult = 86400000u;
	} else {
		return 0;
	}
	*v = mul_sat(*v, mult);
	return 1;
}
