/*
 * util.c - small pieces the operator commands share: the clock, operator
 * names and roles, and passwords typed on standard input.
 *
 * Passwords: read into the caller's buffer and nowhere else (no stdio
 * buffering: read(2) on descriptor 0); the caller wipes it.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "auth/password.h"
#include "cli.h"
#include "rampart/limits.h"

int64_t cli_now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
		return 0;
	}
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cli_time_text(int64_t ms, char *out, size_t cap)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		(void)snprintf(out, cap, "-");
	}
}

/*
 * The rule of the REST API for operator names (server/api/parse.c): 1 to
 * RP_LIMIT_OPERATOR_NAME_LEN of a-z 0-9 . _ - @, the first a letter or a
 * digit. Names end up in URL paths, audit entries and log lines, so the
 * CLI must not create one the console could not address.
 */
int cli_operator_name_valid(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > RP_LIMIT_OPERATOR_NAME_LEN) {
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-' && c != '@'))) {
			return 0;
		}
	}
	return 1;
}

static const struct {
	const char *name;
	rp_store_role role;
} roles[] = {
	{"viewer", RP_STORE_ROLE_VIEWER},
	{"operator", RP_STORE_ROLE_OPERATOR},
	{"admin", RP_STORE_ROLE_ADMIN},
	{"auditor", RP_STORE_ROLE_AUDITOR},
};

int cli_role_parse(const char *s, rp_store_role *out)
{
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		if (strcmp(s, roles[i].name) == 0) {
			*out = roles[i].role;
			return 0;
		}
	}
	return -1;
}

const char *cli_role_name(rp_store_role r)
{
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		if (roles[i].role == r) {
			return roles[i].name;
		}
	}
	return "?";
}

int cli_password_read(const char *cmd, char *pw, size_t cap, size_t *len)
{
	size_t n = 0;
	ssize_t r;

	while (n < cap) {
		r = read(0, pw + n, cap - n);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r < 0) {
			OPENSSL_cleanse(pw, cap);
			cli_fail(cmd, "standard input", strerror(errno));
			return -1;
		}
		if (r == 0) {
			break;
		}
		n += (size_t)r;
	}
	if (n == cap) { /* a full buffer: there may be more; far too long anyway */
		OPENSSL_cleanse(pw, cap);
		cli_fail(cmd, "password refused", "it is too long");
		return -1;
	}
	/* One line: a final "\n" or "\r\n" is not part of the password. */
	if (n > 0 && pw[n - 1] == '\n') {
		n--;
		if (n > 0 && pw[n - 1] == '\r') {
			n--;
		}
	}
	pw[n] = '\0';
	*len = n;
	return 0;
}

int cli_password_check(const char *cmd, const char *pw, size_t len, const char *name)
{
	const char *why = NULL;

	if (memchr(pw, '\0', len) != NULL ||
	    rp_password_policy_check((const uint8_t *)pw, len, (const uint8_t *)name, strlen(name),
				     &why) != RP_OK) {
		cli_fail(cmd, "password refused",
			 why != NULL && why[0] != '\0' ? why : "it holds a NUL byte");
		return -1;
	}
	return 0;
}
