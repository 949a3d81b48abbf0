/*
 * agent/config.c - rampart-agent's configuration file (docs/agent.md).
 *
 * The format is rampartd's (docs/configuration.md): one "key value" per
 * line, '#' comments on their own lines, UTF-8, every key at most once
 * except `collect`. Every problem is reported as "file:line: key:
 * problem", and parsing goes on to report the others; a file with any
 * problem is refused whole. The file names paths, never secrets: the PIN
 * and the enrollment token live in files of their own.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "rampart/limits.h"
#include "rampart/text.h"

#define QUOTE_MAX 64u

typedef struct ps {
	agent_config *c;
	const char *name;
	agent_report_fn report;
	void *ctx;
	unsigned line;
	unsigned errors;
	unsigned *set_at; /* per key: the line that set it, 0 if none */
} ps;

static void say(ps *p, unsigned line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(ps *p, unsigned line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->errors++;
	if (p->report != NULL) {
		p->report(p->ctx, p->name, line, msg);
	}
}

enum kind {
	K_STRING,
	K_PATH,
	K_ID,
	K_PORT,
	K_SIZE,
	K_DURATION,
	K_CHOICE,
	K_MODE,
	K_ARGV,
	K_COLLECT
};

typedef struct key {
	const char *name;
	enum kind kind;
	size_t off;       /* into agent_config */
	size_t cap;       /* string fields */
	const char *opts; /* K_CHOICE: "a|b" */
	int required;
} key;

#define F(field) offsetof(agent_config, field), sizeof(((agent_config *)0)->field)

static const key keys[] = {
	{"device.id", K_ID, F(device_id), NULL, 1},
	{"server.host", K_STRING, F(host), NULL, 1},
	{"server.mqtt_port", K_PORT, F(mqtt_port), NULL, 0},
	{"server.https_port", K_PORT, F(https_port), NULL, 0},
	{"server.name", K_STRING, F(server_name), NULL, 0},
	{"trust.root", K_PATH, F(trust_root), NULL, 1},
	{"state_dir", K_PATH, F(state_dir), NULL, 1},
	{"keystore", K_CHOICE, F(keystore), "soft|pkcs11", 0},
	{"keystore.module", K_PATH, F(ks_module), NULL, 0},
	{"keystore.token", K_STRING, F(ks_token), NULL, 0},
	{"keystore.pin_file", K_PATH, F(ks_pin_file), NULL, 0},
	{"keystore.key_label", K_STRING, F(ks_key_label), NULL, 0},
	{"keystore.key_type", K_CHOICE, F(key_type), "p256|p384", 0},
	{"enroll.token_file", K_PATH, F(token_file), NULL, 0},
	{"renew.interval", K_DURATION, F(renew_interval_ms), NULL, 0},
	{"socket.path", K_PATH, F(socket_path), NULL, 0},
	{"socket.mode", K_MODE, F(socket_mode), NULL, 0},
	{"queue.max_size", K_SIZE, F(queue_max), NULL, 0},
	{"queue.full", K_CHOICE, F(queue_refuse), "drop-oldest|stop", 0},
	{"telemetry.batch", K_DURATION, F(batch_ms), NULL, 0},
	{"collect", K_COLLECT, 0, 0, NULL, 0},
	{"command.reboot", K_ARGV, F(reboot_buf), NULL, 0},
	{"user", K_STRING, F(user), NULL, 0},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static void quote(char *out, size_t cap, const char *s, size_t n)
{
	rp_text_escape(out, cap, (const uint8_t *)s, n, QUOTE_MAX);
}

static void defaults(agent_config *c)
{
	memset(c, 0, sizeof(*c));
	c->mqtt_port = 8883;
	c->https_port = 8443;
	strcpy(c->keystore, "soft");
	strcpy(c->ks_key_label, "rampart-device");
	c->key_type = RP_KEY_EC_P256;
	strcpy(c->socket_path, "/run/rampart-agent/agent.sock");
	c->socket_mode = 0660;
	c->queue_max = 16u * 1024u * 1024u;
	c->batch_ms = 5000;
}

/* Device ids: rampartd's rule (docs/pki.md): 1-64 of A-Z a-z 0-9 - _ . :,
 * starting with a letter or digit. */
static int device_id_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 64) {
		return 0;
	}
	for (i = 0; i < n; i++) {
		char ch = s[i];
		int alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			    (ch >= '0' && ch <= '9');
		if (!alnum && (i == 0 || (ch != '-' && ch != '_' && ch != '.' && ch != ':'))) {
			return 0;
		}
	}
	return 1;
}

/* Splits val into argv words (blanks separate; no quoting: no shell). */
static int split_argv(char *buf, size_t cap, const char *val, char **argv, size_t max)
{
	size_t n = 0;
	char *p;

	if (strlen(val) >= cap) {
		return -1;
	}
	strcpy(buf, val);
	for (p = strtok(buf, " \t"); p != NULL; p = strtok(NULL, " \t")) {
		if (n == max) {
			return -1;
		}
		argv[n++] = p;
	}
	argv[n] = NULL;
	return (int)n;
}

/* collect NAME INTERVAL UNIT|- PROGRAM [ARGS...] */
static void set_collect(ps *p, const char *val)
{
	agent_config *c = p->c;
	agent_collector *k;
	char name[AGENT_NAME_MAX + 2u], every[32], unit[40], q[QUOTE_MAX * 4u + 4u];
	int used = 0;

	if (c->ncollectors == AGENT_MAX_COLLECTORS) {
		say(p, p->line, "collect: more than %u collectors", AGENT_MAX_COLLECTORS);
		return;
	}
	k = &c->collectors[c->ncollectors];
	memset(k, 0, sizeof(*k));
	if (sscanf(val, "%257s %31s %39s %n", name, every, unit, &used) != 3 || val[used] == '\0') {
		say(p, p->line,
		    "collect: expected NAME INTERVAL UNIT PROGRAM [ARGS...] (UNIT - for none)");
		return;
	}
	if (strlen(name) > AGENT_NAME_MAX) {
		say(p, p->line, "collect: the name is longer than %u bytes", AGENT_NAME_MAX);
		return;
	}
	if (!rp_text_duration_ms(every, &k->interval_ms) || k->interval_ms < 1000u ||
	    k->interval_ms > 86400000u) {
		quote(q, sizeof(q), every, strlen(every));
		say(p, p->line, "collect: interval '%s' is not a duration from 1s to 1d", q);
		return;
	}
	if (strcmp(unit, "-") != 0) {
		if (strlen(unit) > 32) {
			say(p, p->line, "collect: the unit is longer than 32 bytes");
			return;
		}
		strcpy(k->unit, unit);
	}
	if (split_argv(k->argbuf, sizeof(k->argbuf), val + used, k->argv, AGENT_ARGV_MAX) < 1 ||
	    k->argv[0][0] != '/') {
		say(p, p->line,
		    "collect: the program must be an absolute path, with at most %u "
		    "arguments",
		    AGENT_ARGV_MAX - 1u);
		return;
	}
	strcpy(k->name, name);
	k->line = p->line;
	c->ncollectors++;
}

static void set_value(ps *p, const key *k, const char *val)
{
	agent_config *c = p->c;
	char *field = (char *)c + k->off;
	char q[QUOTE_MAX * 4u + 4u];
	uint64_t v;

	quote(q, sizeof(q), val, strlen(val));
	switch (k->kind) {
	case K_STRING:
	case K_PATH:
	case K_ID:
		if (strlen(val) >= k->cap) {
			say(p, p->line, "%s: longer than %zu bytes", k->name, k->cap - 1u);
			return;
		}
		if (k->kind == K_PATH && val[0] != '/') {
			say(p, p->line, "%s: '%s' is not an absolute path", k->name, q);
			return;
		}
		if (k->kind == K_ID && !device_id_ok(val)) {
			say(p, p->line, "%s: '%s' is not a device id (1-64 of A-Z a-z 0-9 - _ . :)",
			    k->name, q);
			return;
		}
		strcpy(field, val);
		return;
	case K_PORT:
		if (!rp_text_count(val, &v) || v == 0 || v > 65535) {
			say(p, p->line, "%s: '%s' is not a port (1-65535)", k->name, q);
			return;
		}
		*(uint16_t *)(void *)field = (uint16_t)v;
		return;
	case K_SIZE:
		if (!rp_text_size(val, &v) || v < 64u * 1024u || v > 1024u * 1024u * 1024u) {
			say(p, p->line, "%s: '%s' is not a size from 64k to 1g", k->name, q);
			return;
		}
		*(uint64_t *)(void *)field = v;
		return;
	case K_DURATION: {
		/* telemetry.batch: 100 ms to 1 h; renew.interval: 10 s to 365 d. */
		int renew = strcmp(k->name, "renew.interval") == 0;
		uint64_t lo = renew ? 10000u : 100u;
		uint64_t hi = renew ? 365u * 86400000u : 3600000u;
		if (!rp_text_duration_ms(val, &v) || v < lo || v > hi) {
			say(p, p->line, "%s: '%s' is not a duration from %s", k->name, q,
			    renew ? "10s to 365d" : "100ms to 1h");
			return;
		}
		*(uint64_t *)(void *)field = v;
		return;
	}
	case K_MODE:
		if (strlen(val) != 4 || val[0] != '0' || strspn(val, "01234567") != 4 ||
		    (strtoul(val, NULL, 8) & 0007u) != 0) {
			say(p, p->line,
			    "%s: '%s' is not an octal mode without access for others "
			    "(0600, 0660)",
			    k->name, q);
			return;
		}
		*(unsigned *)(void *)field = (unsigned)strtoul(val, NULL, 8);
		return;
	case K_CHOICE: {
		if (strcmp(k->name, "keystore") == 0 &&
		    (strcmp(val, "soft") == 0 || strcmp(val, "pkcs11") == 0)) {
			strcpy(c->keystore, val);
		} else if (strcmp(k->name, "keystore.key_type") == 0 &&
			   (strcmp(val, "p256") == 0 || strcmp(val, "p384") == 0)) {
			c->key_type = strcmp(val, "p256") == 0 ? RP_KEY_EC_P256 : RP_KEY_EC_P384;
		} else if (strcmp(k->name, "queue.full") == 0 &&
			   (strcmp(val, "drop-oldest") == 0 || strcmp(val, "stop") == 0)) {
			c->queue_refuse = strcmp(val, "stop") == 0;
		} else {
			say(p, p->line, "%s: '%s' is not one of %s", k->name, q, k->opts);
		}
		return;
	}
	case K_ARGV:
		if (split_argv(c->reboot_buf, sizeof(c->reboot_buf), val, c->reboot_argv,
			       AGENT_ARGV_MAX) < 1 ||
		    c->reboot_argv[0][0] != '/') {
			c->reboot_argv[0] = NULL;
			say(p, p->line,
			    "%s: the program must be an absolute path, with at most %u "
			    "arguments",
			    k->name, AGENT_ARGV_MAX - 1u);
		}
		return;
	case K_COLLECT:
		set_collect(p, val);
		return;
	}
}

static void parse_line(ps *p, const char *s, size_t n, unsigned *set_at)
{
	char val[RP_LIMIT_CONFIG_LINE_LEN + 1u], q[QUOTE_MAX * 4u + 4u];
	const char *why;
	rp_text_line l;
	size_t i;
	int r = rp_text_line_split(s, n, &l, &why);

	if (r < 0) {
		say(p, p->line, "%s", why);
		return;
	}
	if (r == 0) {
		return;
	}
	for (i = 0; i < NKEYS; i++) {
		if (strlen(keys[i].name) == l.word_len &&
		    memcmp(keys[i].name, l.word, l.word_len) == 0) {
			break;
		}
	}
	if (i == NKEYS) {
		quote(q, sizeof(q), l.word, l.word_len);
		say(p, p->line, "unknown key '%s'", q);
		return;
	}
	if (l.rest_len == 0) {
		say(p, p->line, "%s: missing value", keys[i].name);
		set_at[i] = p->line;
		return;
	}
	if (set_at[i] != 0 && keys[i].kind != K_COLLECT) {
		say(p, p->line, "%s: set twice (first at line %u)", keys[i].name, set_at[i]);
		return;
	}
	set_at[i] = p->line;
	memcpy(val, l.rest, l.rest_len);
	val[l.rest_len] = '\0';
	set_value(p, &keys[i], val);
}

/* rp_text_lines' callback: one line, its length checked first. */
static void on_line(void *ctx, unsigned number, const char *s, size_t n)
{
	ps *p = ctx;

	p->line = number;
	if (n > RP_LIMIT_CONFIG_LINE_LEN) {
		say(p, p->line, "line is longer than %u bytes", RP_LIMIT_CONFIG_LINE_LEN);
		return;
	}
	parse_line(p, s, n, p->set_at);
}

/* Rules between keys, once the file is read. */
static void check(ps *p, const unsigned *set_at)
{
	agent_config *c = p->c;
	size_t i;
	int pkcs11 = strcmp(c->keystore, "pkcs11") == 0;

	for (i = 0; i < NKEYS; i++) {
		if (keys[i].required && set_at[i] == 0) {
			say(p, 0, "%s: required", keys[i].name);
		}
	}
	if (pkcs11 &&
	    (c->ks_module[0] == '\0' || c->ks_token[0] == '\0' || c->ks_pin_file[0] == '\0')) {
		say(p, 0,
		    "keystore pkcs11 needs keystore.module, keystore.token and "
		    "keystore.pin_file");
	}
	if (!pkcs11 &&
	    (c->ks_module[0] != '\0' || c->ks_token[0] != '\0' || c->ks_pin_file[0] != '\0')) {
		say(p, 0,
		    "keystore.module, keystore.token and keystore.pin_file are for keystore "
		    "pkcs11 (the keystore is soft)");
	}
}

unsigned agent_config_parse(agent_config *c, const char *name, const char *buf, size_t len,
			    agent_report_fn report, void *ctx)
{
	unsigned set_at[NKEYS];
	ps p;

	memset(&p, 0, sizeof(p));
	memset(set_at, 0, sizeof(set_at));
	p.c = c;
	p.name = name != NULL ? name : "(config)";
	p.report = report;
	p.ctx = ctx;
	defaults(c);
	if (len > RP_LIMIT_CONFIG_FILE_SIZE) {
		say(&p, 0, "file is larger than %u bytes", RP_LIMIT_CONFIG_FILE_SIZE);
		return p.errors;
	}
	p.set_at = set_at;
	rp_text_lines(buf, len, on_line, &p);
	check(&p, set_at);
	return p.errors;
}

unsigned agent_config_load(agent_config *c, const char *path, agent_report_fn report, void *ctx)
{
	char *buf = NULL;
	size_t len = 0;
	unsigned errors;
	FILE *f = fopen(path, "rb");

	if (f == NULL) {
		char msg[300];
		snprintf(msg, sizeof(msg), "cannot open: %s", strerror(errno));
		if (report != NULL) {
			report(ctx, path, 0, msg);
		}
		return 1;
	}
	buf = malloc(RP_LIMIT_CONFIG_FILE_SIZE + 1u);
	if (buf != NULL) {
		len = fread(buf, 1, RP_LIMIT_CONFIG_FILE_SIZE + 1u, f);
	}
	if (buf == NULL || ferror(f)) {
		fclose(f);
		free(buf);
		if (report != NULL) {
			report(ctx, path, 0, "cannot read the file");
		}
		return 1;
	}
	fclose(f);
	errors = agent_config_parse(c, path, buf, len, report, ctx);
	if (strlen(path) < sizeof(c->path)) {
		strcpy(c->path, path);
	}
	free(buf);
	return errors;
}
