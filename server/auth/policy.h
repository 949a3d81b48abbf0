/*
 * server/auth/policy.h - the ACL policy: which topics a client may publish
 * to and which filters it may subscribe to.
 *
 * Model
 * - Default deny. A client has a role (from its certificate; devices have
 *   the role "device") and an identity (its device id, from the verified
 *   certificate). A role grants topic patterns for publish and for
 *   subscribe; nothing else is allowed.
 * - Built in: role device { publish d/%d/#; subscribe d/%d/# }. A policy
 *   file may restate the device role, but only narrower: every one of its
 *   patterns must lie inside d/%d/#.
 * - Patterns are topic filters in which a level "%d" stands for the
 *   client's identity. "%d" is allowed only as a whole level; any other
 *   '%' is refused, so a pattern never means two things.
 * - Publish: the topic must be matched by a publish pattern. Nobody may
 *   publish to "$rampart" or below (reserved to the server), whatever the
 *   policy says; the parser refuses such patterns too.
 * - Subscribe: the requested filter must be covered by one subscribe
 *   pattern: every topic the filter can match is matched by the pattern.
 *   Per level: pattern '#' covers the rest (and the parent level, as in
 *   MQTT); '+' covers a literal or '+' level but not '#'; a literal (or
 *   %d after substitution) covers only the same literal. A pattern that
 *   starts with a wildcard never covers a '$' topic: "$rampart/..." and
 *   other '$' filters need a pattern that names them.
 * - Shared subscriptions: "$share/G/F" is judged on F by ordinary
 *   patterns. A pattern "$share/PG/PF" covers only shared requests: PG
 *   ('+', %d or a literal) must cover G and PF must cover F.
 * - Identities: an identity that is empty, longer than
 *   RP_LIMIT_MQTT_TOPIC_LEN, not valid UTF-8, or holding '/', '+', '#',
 *   NUL or a leading '$' never matches a %d level: a crafted device id
 *   cannot widen its own ACL (rules without %d still apply).
 *
 * File format (all problems reported, each as file:line: message)
 *     # comment (first non-blank character), blank lines ignored
 *     role NAME                 starts a role; NAME: 1..64 of A-Z a-z 0-9 _ . -
 *       publish   PATTERN       PATTERN: the rest of the line, trimmed
 *       subscribe PATTERN
 *   Lines as in rampartd.conf (UTF-8, at most RP_LIMIT_CONFIG_LINE_LEN
 *   bytes, LF or CRLF, file at most RP_LIMIT_CONFIG_FILE_SIZE bytes);
 *   at most RP_LIMIT_POLICY_ROLES roles of RP_LIMIT_POLICY_RULES rules,
 *   patterns at most RP_LIMIT_MQTT_TOPIC_LEN bytes and
 *   RP_LIMIT_MQTT_TOPIC_LEVELS levels. Indentation is optional.
 *
 * Conventions
 * - Ownership: rp_policy_parse() and rp_policy_load() allocate through
 *   server/util/alloc.h; rp_policy_free() gives it back. rp_policy_default()
 *   allocates nothing. A zeroed rp_policy is valid and denies everything.
 * - Failure: on any error *p is left zeroed (deny everything, nothing to
 *   free), so a reload parses into a new rp_policy and swaps on RP_OK.
 * - NULL: p may be NULL only in rp_policy_free(); in the checks a NULL
 *   policy, role or topic denies. report may be NULL (errors only counted);
 *   name may be NULL ("(policy)").
 * - Threads: the checks read the policy only; any number of threads may
 *   check one policy at once while nobody frees or replaces it.
 * - Cost: a check allocates nothing and is linear in the topic length
 *   times the rules of one role.
 */
#ifndef RP_SERVER_POLICY_H
#define RP_SERVER_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "rampart/limits.h"
#include "rampart/status.h"

/* The role of device certificates. */
#define RP_POLICY_DEVICE_ROLE "device"

/*
 * Receives one error: file name, line (0: the whole file), message. The
 * strings are valid only during the call.
 */
typedef void (*rp_policy_report_fn)(void *ctx, const char *file, unsigned line, const char *msg);

/* One rule. The pattern is text[off .. off + len) of its policy. */
typedef struct rp_policy_rule {
	uint32_t off;
	uint16_t len;
	uint8_t publish; /* 1: publish, 0: subscribe */
	uint8_t shared;  /* a "$share/PG/PF" subscribe pattern */
} rp_policy_rule;

typedef struct rp_policy_role {
	char name[RP_LIMIT_POLICY_ROLE_NAME + 1u];
	unsigned line;
	unsigned rule_count;
	rp_policy_rule rules[RP_LIMIT_POLICY_RULES];
} rp_policy_role;

/* A policy. Fields are read by policy.c only. */
typedef struct rp_policy {
	rp_policy_role *roles; /* role_count roles, or NULL */
	unsigned role_count;
	uint8_t *text; /* every pattern, or NULL */
	size_t text_len;
	int device_role; /* index of a restated device role in roles, -1: built in */
	uint8_t valid;   /* 0: deny everything */
} rp_policy;

/* The built-in policy: the device role only. Allocates nothing. p != NULL. */
void rp_policy_default(rp_policy *p);

/*
 * Parses a policy held in memory, buf[0 .. len) (not NUL-terminated; NULL
 * allowed when len is 0). `name` appears in reports only. A policy without
 * a device role gets the built-in one.
 *
 * Returns RP_OK, RP_E_CONFIG (errors, each reported once), RP_E_NOMEM
 * (reported, line 0) or RP_E_INVALID_ARG (p NULL, or buf NULL with len > 0).
 */
rp_status rp_policy_parse(rp_policy *p, const char *name, const char *buf, size_t len,
			  rp_policy_report_fn report, void *ctx);

/*
 * Reads the regular file at `path` (at most RP_LIMIT_CONFIG_FILE_SIZE
 * bytes) and parses it. Returns as rp_policy_parse(); a file that cannot
 * be read is RP_E_CONFIG, reported with line 0. RP_E_INVALID_ARG if p or
 * path is NULL.
 */
rp_status rp_policy_load(rp_policy *p, const char *path, rp_policy_report_fn report, void *ctx);

/* Frees what p holds and zeroes it (deny everything). NULL is allowed. */
void rp_policy_free(rp_policy *p);

/* 1 if the policy defines `role` (the device role always exists), else 0. */
int rp_policy_has_role(const rp_policy *p, const char *role);

/*
 * 1 if a client of `role` with identity[0 .. id_len) may publish to the
 * topic name topic[0 .. len), else 0. An invalid topic name (as
 * rp_mqtt_topic_name_check() at the hard caps) is denied. identity may be
 * NULL when id_len is 0 (no identity: %d rules never match).
 */
int rp_policy_may_publish(const rp_policy *p, const char *role, const uint8_t *identity,
			  size_t id_len, const uint8_t *topic, size_t len);

/*
 * 1 if a client of `role` with that identity may subscribe to the filter
 * filter[0 .. len) (a shared subscription included), else 0. An invalid
 * filter (as rp_mqtt_topic_filter_check() at the hard caps) is denied.
 */
int rp_policy_may_subscribe(const rp_policy *p, const char *role, const uint8_t *identity,
			    size_t id_len, const uint8_t *filter, size_t len);

#endif /* RP_SERVER_POLICY_H */
