/*
 * server/api/internal.h - what the files of server/api share: the route
 * table, the request being served, and the pure parsers and checks (query
 * strings, cursors, cookies, CSRF, Origin, JSON bodies) that the unit tests
 * and the fuzz target call without a server.
 *
 * Conventions
 * - rp__api_* is internal to server/api (and its tests).
 * - Parsers take `const char *s, size_t len` (not NUL-terminated) from the
 *   peer and are strict: a value is accepted only in its one canonical
 *   spelling, and every refusal comes with a reason (`why`, a fixed English
 *   text, parameter names quoted but never values: a value may be a secret
 *   pasted in the wrong place).
 * - Nothing here logs.
 */
#ifndef RP_SERVER_API_INTERNAL_H
#define RP_SERVER_API_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "auth/role.h"
#include "auth/secret.h"
#include "rampart/limits.h"
#include "rampart/status.h"

/* Longest reason text, NUL included. */
#define RP__API_WHY_CAP 160u

/* ------------------------------------------------------------------------
 * Methods and routes
 * ------------------------------------------------------------------------ */

typedef enum rp__api_method {
	RP__API_GET = 0,
	RP__API_POST,
	RP__API_PUT,
	RP__API_PATCH,
	RP__API_DELETE,
	RP__API_METHODS_ /* not a method */
} rp__api_method;

/* RP_OK or RP_E_NOT_FOUND (any other method, HEAD and OPTIONS included). */
rp_status rp__api_method_parse(const char *s, rp__api_method *out);
/* "GET", ...; NULL for other values. */
const char *rp__api_method_name(rp__api_method m);
/* 1 for POST, PUT, PATCH, DELETE. */
int rp__api_method_changes(rp__api_method m);

/* Route flags. */
#define RP__API_F_PUBLIC     0x01u /* no authentication: the login only */
#define RP__API_F_BODY       0x02u /* takes a JSON object body (else none allowed) */
#define RP__API_F_RESTRICTED 0x04u /* allowed to a session still owing its TOTP enrolment */
#define RP__API_F_SESSION    0x08u /* needs a web session (a bearer token is refused) */
#define RP__API_F_EST        0x10u /* an EST route (h_est.c): its own pipeline, no JSON */

/* Kinds of query parameters. */
typedef enum rp__api_qkind {
	RP__API_Q_STR,    /* text: [min, max] bytes of UTF-8, no control characters */
	RP__API_Q_INT,    /* decimal integer in [min, max], no sign or leading zero */
	RP__API_Q_ENUM,   /* one of values[]; num is its index */
	RP__API_Q_BOOL,   /* "true" or "false"; num 1 or 0 */
	RP__API_Q_CURSOR, /* an opaque cursor from a previous page (rp__api_cursor_*) */
} rp__api_qkind;

typedef struct rp__api_qspec {
	const char *name; /* NULL ends a list */
	rp__api_qkind kind;
	int64_t min, max;          /* INT: the value; STR: the length in bytes */
	const char *const *values; /* ENUM: NULL-terminated */
} rp__api_qspec;

/* Most query parameters one route declares. */
#define RP__API_MAX_QPARAMS 8u
/* Most parameters in a path ("{device}", "{command}"). */
#define RP__API_MAX_PATH_PARAMS 2u

typedef struct rp__api_req rp__api_req;
typedef void (*rp__api_handler_fn)(rp__api_req *r);

typedef struct rp__api_route {
	rp__api_method method;
	const char *path;           /* "/api/v1/devices/{device}" */
	rp_perm perm;               /* checked unless PUBLIC */
	unsigned flags;             /* RP__API_F_* */
	const rp__api_qspec *query; /* NULL-name terminated; NULL: none allowed */
	rp__api_handler_fn handler;
	const char *summary; /* one line, for the route listing */
} rp__api_route;

/* The route table (every route, in docs/api.yaml order) and its length. */
const rp__api_route *rp__api_routes(size_t *n);

typedef struct rp__api_view {
	const char *p;
	size_t len;
} rp__api_view;

typedef struct rp__api_match {
	const rp__api_route *route;
	rp__api_view param[RP__API_MAX_PATH_PARAMS];
	size_t nparams;
	unsigned allow; /* on 405: bit (1 << method) for each method the path has */
} rp__api_match;

/*
 * Finds the route of (m, path[0 .. len)). A "{name}" segment of a pattern
 * matches one non-empty path segment, captured in param[] (pointing into
 * path). Returns 200 (found: out->route), 404 (no pattern matches the
 * path), or 405 (the path exists for other methods: out->allow).
 */
int rp__api_route_find(rp__api_method m, const char *path, size_t len, rp__api_match *out);

/* What rp__api_authorize() decides. */
typedef enum rp__api_authz {
	RP__API_AUTHZ_OK = 0,
	RP__API_AUTHZ_FORBIDDEN,    /* the role lacks the route's permission */
	RP__API_AUTHZ_TOTP,         /* a restricted session: enrol TOTP first */
	RP__API_AUTHZ_NEED_SESSION, /* a bearer token on a session-only route */
} rp__api_authz;

/*
 * May a caller with `role` (from a session when via_token is 0, else from
 * an API token; restricted: a session owing its TOTP enrolment) use route
 * r? Public routes allow everybody. Fails closed on every unknown value.
 */
rp__api_authz rp__api_authorize(const rp__api_route *r, rp_role role, int restricted,
				int via_token);

/* ------------------------------------------------------------------------
 * Identifiers in paths and bodies
 * ------------------------------------------------------------------------ */

/* Device id: the rules of rp_tls_check_device_id(). RP_OK or RP_E_MALFORMED. */
rp_status rp__api_check_device_id(const char *s, size_t len);
/*
 * Operator name: 1 .. RP_LIMIT_OPERATOR_NAME_LEN bytes of a-z 0-9 . _ - @,
 * starting with a letter or digit. RP_OK or RP_E_MALFORMED.
 */
rp_status rp__api_check_operator_name(const char *s, size_t len);
/* Command id and token id: exactly 32 lowercase hex digits. */
rp_status rp__api_check_hex_id(const char *s, size_t len);
/* Command name: 1 .. RP_LIMIT_API_COMMAND_NAME_LEN of A-Z a-z 0-9 . _ - */
rp_status rp__api_check_command_name(const char *s, size_t len);
/* Tag: 1 .. RP_LIMIT_STORE_TAG_LEN of A-Z a-z 0-9 . _ : = - */
rp_status rp__api_check_tag(const char *s, size_t len);
/* Positive decimal int64 without sign or leading zero (alert ids). */
rp_status rp__api_parse_id(const char *s, size_t len, int64_t *out);
/* Text: [1, max] bytes of UTF-8 without control characters. */
rp_status rp__api_check_text(const char *s, size_t len, size_t max);

/* ------------------------------------------------------------------------
 * Query strings
 * ------------------------------------------------------------------------ */

typedef struct rp__api_qval {
	int present;
	const char *str; /* decoded, NUL-terminated, in the query's buffer */
	size_t len;
	int64_t num; /* INT: value; BOOL: 0/1; ENUM: index */
} rp__api_qval;

typedef struct rp__api_query {
	rp__api_qval v[RP__API_MAX_QPARAMS]; /* in the order of the route's spec */
	char buf[RP_LIMIT_API_QUERY_LEN + RP_LIMIT_API_QUERY_PARAMS];
} rp__api_query;

/*
 * Parses the query string q[0 .. len) (without '?'; NULL or "" for none)
 * against spec (NULL: no parameter allowed): pairs name=value separated by
 * '&', percent-decoding (%XX, '+' is a space) into out->buf. Refused, with
 * a reason naming the parameter: more than RP_LIMIT_API_QUERY_LEN bytes
 * (RP_E_LIMIT: 414), more than RP_LIMIT_API_QUERY_PARAMS pairs, an empty
 * pair, a name not in spec, a name twice, a bad escape, decoded text that
 * is not UTF-8 or holds a control character, and values not of their kind
 * or out of range (RP_E_MALFORMED: 400).
 */
rp_status rp__api_query_parse(const rp__api_qspec *spec, const char *q, size_t len,
			      rp__api_query *out, char *why, size_t why_cap);

/* The value of spec entry `name` (NULL if the spec lacks it or it is absent). */
const rp__api_qval *rp__api_query_get(const rp__api_qspec *spec, const rp__api_query *q,
				      const char *name);

/* ------------------------------------------------------------------------
 * Pagination cursors
 * ------------------------------------------------------------------------ */

/*
 * A cursor is base64url (no padding) of "K.A.B.S": K one letter naming the
 * list it belongs to, A and B decimal int64 (>= 0, canonical), S text (the
 * last row's key; may be empty). Opaque to clients; the kind check stops a
 * cursor of one list from being replayed on another.
 */
typedef struct rp__api_cursor {
	char kind;
	int64_t a, b;
	char s[RP_LIMIT_STORE_ID_LEN + 1u];
} rp__api_cursor;

/* Longest encoded cursor, NUL included. */
#define RP__API_CURSOR_CAP (RP_LIMIT_API_CURSOR_LEN + 1u)

/* RP_OK, RP_E_INVALID_ARG (negative number, kind not a-z, s too long), RP_E_BUF_TOO_SMALL. */
rp_status rp__api_cursor_encode(const rp__api_cursor *c, char *out, size_t cap);
/*
 * Decodes s[0 .. len) strictly, expecting `kind`. Returns RP_OK, or
 * RP_E_MALFORMED (not base64url, not canonical, another kind, bad numbers,
 * text not UTF-8 or with controls, too long). encode(decode(s)) == s.
 */
rp_status rp__api_cursor_decode(const char *s, size_t len, char kind, rp__api_cursor *out);

/* The request's query parameter `name` (checked by the pipeline), or NULL. */
const rp__api_qval *rp__api_q(const rp__api_req *r, const char *name);
/* Its "after" cursor of kind k: 1 with *c, 0 with none, -1 after replying 400. */
int rp__api_after(rp__api_req *r, char k, rp__api_cursor *c);

/* ------------------------------------------------------------------------
 * Cookies, CSRF, Origin
 * ------------------------------------------------------------------------ */

#define RP__API_SESSION_COOKIE "__Host-rampart_session"

/*
 * Finds cookie `name` in the Cookie header hdr (NULL: none). Pairs are
 * "name=value" separated by ';' and optional blanks. Returns RP_OK with
 * *val, *len (a view into hdr); RP_E_NOT_FOUND; RP_E_MALFORMED (the name
 * twice: cookie tossing, so neither is used; or no '=').
 */
rp_status rp__api_cookie_get(const char *hdr, const char *name, const char **val, size_t *len);

/*
 * The CSRF token of a session: "rpc_" and base64url of
 * HMAC-SHA256(key = the session token's text, "rampart csrf v1"). Derived,
 * so GET /api/v1/session can give it again; unguessable without the
 * HttpOnly cookie. RP_OK or RP_E_CRYPTO.
 */
rp_status rp__api_csrf_derive(const rp_token *session, rp_token *csrf);

/*
 * The X-CSRF-Token header hdr (NULL: absent) against the session's stored
 * hash (64 hex digits): rp_token_check(). RP_OK or RP_E_AUTH.
 */
rp_status rp__api_csrf_check(const char *hdr, const char *stored_hex);

/*
 * Defence in depth for state-changing requests: refuses (returns 0) an
 * Origin that is not "https://" + host (ASCII case ignored), the opaque
 * origin "null", and, without Origin, Sec-Fetch-Site "cross-site" or
 * "same-site" (a sibling subdomain: SameSite=Strict cookies still go
 * there). Returns 1 to accept. Any argument may be NULL (absent).
 */
int rp__api_origin_ok(const char *origin, const char *sec_fetch_site, const char *host);

/* ------------------------------------------------------------------------
 * JSON
 * ------------------------------------------------------------------------ */

/*
 * Checks that buf[0 .. len) nests arrays and objects at most max_depth
 * deep (strings skipped, escapes honoured). Does not validate JSON.
 * RP_OK or RP_E_LIMIT.
 */
rp_status rp__api_json_depth(const uint8_t *buf, size_t len, unsigned max_depth);

/*
 * Parses a request body: depth first, then jansson (duplicate keys
 * refused); the top level MUST be an object. RP_OK with *out (the caller
 * decrefs); RP_E_LIMIT (too deep); RP_E_MALFORMED (why: line, column and
 * jansson's reason); RP_E_NOMEM.
 */
rp_status rp__api_json_parse(const uint8_t *buf, size_t len, json_t **out, char *why,
			     size_t why_cap);

/*
 * Compact JSON text of v (any value) in a NUL-terminated buffer of ours
 * (rp_free() it), at most max bytes. RP_OK, RP_E_LIMIT, RP_E_NOMEM.
 */
rp_status rp__api_json_dump(const json_t *v, size_t max, char **out, size_t *out_len);

/* {"error": code, "detail": detail}; NULL on allocation failure. */
json_t *rp__api_error_json(const char *code, const char *detail);

/* Fields of a body: allowed names, and typed getters with reasons. */
rp_status rp__api_json_only(const json_t *obj, const char *const *allowed, char *why,
			    size_t why_cap);
/*
 * String field `key`: RP_OK with *s, *len (jansson's; valid UTF-8, no
 * NUL); RP_E_NOT_FOUND if absent and !required (*s NULL); RP_E_MALFORMED
 * (absent and required, not a string, length outside [min, max]).
 */
rp_status rp__api_json_str(const json_t *obj, const char *key, int required, size_t min, size_t max,
			   const char **s, size_t *len, char *why, size_t why_cap);
/* Boolean field: RP_OK (*v 0/1), RP_E_NOT_FOUND (absent, optional), RP_E_MALFORMED. */
rp_status rp__api_json_bool(const json_t *obj, const char *key, int required, int *v, char *why,
			    size_t why_cap);
/* Integer field in [min, max]: as above. */
rp_status rp__api_json_int(const json_t *obj, const char *key, int required, int64_t min,
			   int64_t max, int64_t *v, char *why, size_t why_cap);

/* ------------------------------------------------------------------------
 * Body validators (pure; the fuzz target calls them)
 * ------------------------------------------------------------------------ */

typedef struct rp__api_login {
	char name[RP_LIMIT_OPERATOR_NAME_LEN + 1u]; /* canonical (ASCII lower case) */
	const char *password;                       /* jansson's string: wipe with the body */
	size_t password_len;
	const char *totp; /* NULL if absent */
	size_t totp_len;
} rp__api_login;

/* {"name", "password", "totp"?}. RP_OK or RP_E_MALFORMED. */
rp_status rp__api_login_body(const json_t *body, rp__api_login *out, char *why, size_t why_cap);

typedef struct rp__api_tags {
	const char *tag[RP_LIMIT_STORE_TAGS];
	size_t n;
} rp__api_tags;

/* {"tags": [TAG, ...]}: at most RP_LIMIT_STORE_TAGS, no duplicates. */
rp_status rp__api_tags_body(const json_t *body, rp__api_tags *out, char *why, size_t why_cap);

typedef struct rp__api_command {
	const char *name;
	size_t name_len;
	char *args; /* compact JSON text of "args" ({} if absent), rp_free() it */
	size_t args_len;
} rp__api_command;

/* {"name", "args"?: object}. RP_OK, RP_E_MALFORMED, RP_E_LIMIT (args too long), RP_E_NOMEM. */
rp_status rp__api_command_body(const json_t *body, rp__api_command *out, char *why, size_t why_cap);

typedef struct rp__api_cmd_result {
	char id[33];
	int failed;   /* "status": "failed" */
	char *result; /* compact JSON text ("" if absent), rp_free() it */
} rp__api_cmd_result;

/* The payload of rp_api_command_result(). RP_OK, RP_E_MALFORMED, RP_E_NOMEM. */
rp_status rp__api_cmd_result_parse(const uint8_t *payload, size_t len, rp__api_cmd_result *out);

/* ------------------------------------------------------------------------
 * Enrollment (EST, RFC 7030; docs/est.md): pure parsers (parse.c)
 * ------------------------------------------------------------------------ */

typedef struct rp__api_enroll_req {
	const char *device; /* a device id, or (prefix 1) a prefix of ids; jansson's */
	size_t device_len;
	int prefix;
	int64_t uses;       /* 1 .. RP_LIMIT_EST_TOKEN_USES, default 1 */
	int64_t lifetime_s; /* default RP_DEFAULT_EST_TOKEN_LIFETIME_S */
	const char *model;  /* NULL if absent */
	size_t model_len;
	rp__api_tags tags;
} rp__api_enroll_req;

/*
 * POST /api/v1/enrollment-tokens: {"device": ID} or {"device_prefix":
 * PREFIX} (exactly one), "uses"?, "lifetime_s"?, "model"?, "tags"?. The id
 * follows rp_pki_device_id_valid(); a prefix is 1 .. 63 of [A-Za-z0-9._-]
 * starting with a letter or digit. RP_OK or RP_E_MALFORMED (why names the
 * field).
 */
rp_status rp__api_enroll_token_body(const json_t *body, rp__api_enroll_req *out, char *why,
				    size_t why_cap);

/*
 * 1 if a token bound to `device` (an id, or a prefix when prefix is 1)
 * may enroll id[0 .. id_len), else 0. Exact bytes (ids are ASCII).
 */
int rp__api_enroll_binds(const char *device, int prefix, const char *id, size_t id_len);

/* Decoded bytes of Basic credentials read at most, and the output sizes. */
#define RP__API_BASIC_RAW      256u
#define RP__API_BASIC_USER_CAP (RP_LIMIT_PKI_DEVICE_ID_LEN + 1u)
#define RP__API_BASIC_PASS_CAP 128u

/*
 * An Authorization header of the Basic scheme (RFC 7617, how EST clients
 * send a username and password: RFC 7030 3.2.3): "Basic" in any case, one
 * space, and padded base64 (RFC 4648 section 4, canonical: the one
 * spelling) of "user:password", hdr[0 .. len) (attacker-controlled). The
 * user is what comes before the first ':' (may be empty), the password
 * the rest (not empty); both printable ASCII without blanks. Returns RP_OK
 * with NUL-terminated copies in user[0 .. ucap) and pass[0 .. pcap) (the
 * caller wipes pass), or RP_E_MALFORMED (another scheme, bad base64, no
 * ':', a byte outside 0x21 .. 0x7E, a part too long). The decoded bytes
 * are wiped.
 */
rp_status rp__api_basic_parse(const char *hdr, size_t len, char *user, size_t ucap, char *pass,
			      size_t pcap);

/* 1 if the Content-Type ct is application/pkcs10 (any case; parameters ignored). */
int rp__api_is_pkcs10_type(const char *ct);

/* ------------------------------------------------------------------------
 * The request being served (server side)
 * ------------------------------------------------------------------------ */

struct mg_connection;

#define RP__API_MAX_EXTRA_HEADERS 3u

struct rp__api_req {
	rp_api *api;
	struct mg_connection *conn;
	rp__api_method method;
	rp__api_match match;
	rp__api_query query;
	json_t *body;   /* NULL unless the route takes one */
	int64_t now_ms; /* wall clock, ms since the epoch */
	uint64_t mono_ms;

	/* Who: set by authentication. */
	char actor[RP_LIMIT_OPERATOR_NAME_LEN + 1u]; /* operator name, "" before */
	rp_role role;
	int via_token; /* 1: API token, 0: web session */
	char token_id[33];
	char session_hash[RP_SHA256_HEX_LEN + 1u]; /* web session */
	char csrf_hash[RP_SHA256_HEX_LEN + 1u];    /* its CSRF token's hash */
	int64_t session_created_ms;
	int restricted;                         /* session owes TOTP enrolment */
	char peer[64];                          /* client address, text */
	char addr_key[RP_THROTTLE_ADDRESS_CAP]; /* throttle key of peer */

	/* Response. */
	int status;
	int body_consumed;                      /* 0: close the connection after answering */
	char *extra[RP__API_MAX_EXTRA_HEADERS]; /* "Name: value" lines, rp_alloc'd */
	size_t nextra;
};

/* Path parameter i as a NUL-terminated copy in out (cap bytes); NULL if it does not fit. */
const char *rp__api_param(const rp__api_req *r, size_t i, char *out, size_t cap);

/* Sends status with body (stolen; NULL for no body, 204). Sets r->status. */
void rp__api_reply(rp__api_req *r, int status, json_t *body);
/* Sends {"error": code, "detail": printf(fmt, ...)}. */
void rp__api_fail(rp__api_req *r, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Maps a store or auth status to a reply ("not_found" 404, "busy" 503, ...). */
void rp__api_fail_status(rp__api_req *r, rp_status st, const char *what);
/* Adds a header line to the coming reply ("Set-Cookie: ..."). RP_OK or RP_E_NOMEM. */
rp_status rp__api_header(rp__api_req *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The API's shared state, for the handlers. */
rp_store *rp__api_store(const rp__api_req *r);
const rp_password_params *rp__api_pwparams(const rp__api_req *r);
rp_throttle *rp__api_throttle(const rp__api_req *r);

/*
 * Appends an audit entry for r: actor (operator; with a token, the detail
 * names it), action, target, the peer's address, detail (a JSON object,
 * stolen, may be NULL). After the change committed; a failure is logged
 * at ERROR with the entry, the reply is not changed.
 */
void rp__api_audit(rp__api_req *r, const char *action, const char *target, json_t *detail);

/* Lists: {"items": items, "next": cursor or null}; items stolen. */
void rp__api_reply_page(rp__api_req *r, json_t *items, const rp__api_cursor *next);
/* The "limit" query parameter, or def. */
size_t rp__api_limit(const rp__api_req *r, size_t def);

/* Settings and per-operator state kept by the API (api.c). */
int rp__api_totp_required(const rp__api_req *r);
void rp__api_set_totp_required(rp__api_req *r, int on);
/* Sessions of `name` created before this time are void (password change). */
int64_t rp__api_sessions_valid_from(const rp__api_req *r, const char *name);
rp_status rp__api_void_sessions(rp__api_req *r, const char *name, int64_t from_ms);
/* Pending TOTP enrolment: put (key copied), take (removes; RP_E_NOT_FOUND if none or expired). */
rp_status rp__api_totp_pending_put(rp__api_req *r, const char *name, const uint8_t *key,
				   size_t key_len);
rp_status rp__api_totp_pending_take(rp__api_req *r, const char *name, uint8_t *key, size_t cap,
				    size_t *key_len);
/* TOTP secret sealing for the store (AES-256-GCM, or clear without a key). */
rp_status rp__api_totp_seal(const rp__api_req *r, const char *name, const uint8_t *key,
			    size_t key_len, uint8_t *out, size_t cap, size_t *out_len);
rp_status rp__api_totp_open(const rp__api_req *r, const char *name, const uint8_t *sealed,
			    size_t sealed_len, uint8_t *key, size_t cap, size_t *key_len);
/* Token and session lifetimes. */
unsigned rp__api_session_lifetime_s(const rp__api_req *r);
unsigned rp__api_token_lifetime_s(const rp__api_req *r, unsigned *max_s);
/* opts->publish; RP_E_STATE if none. */
rp_status rp__api_publish(const rp__api_req *r, const char *topic, const uint8_t *payload,
			  size_t len);
/* opts->revoked, if set. */
void rp__api_revoked(const rp__api_req *r, const char *device_id);

/*
 * Reads the request's body (Content-Length or chunked) into a new buffer
 * of at most cap bytes: RP_OK with *out (rp_free_secret() it) and *len;
 * otherwise the reply is sent (400 unreadable or short, 413 over cap, 503
 * no memory) and RP_E_MALFORMED is returned.
 */
struct mg_request_info;
rp_status rp__api_read_body(rp__api_req *r, const struct mg_request_info *ri, size_t cap,
			    uint8_t **out, size_t *len);

/*
 * A reply with a body of another media type than JSON: status, ctype
 * ("text/plain; charset=utf-8", "application/pkcs7-mime; ..."), the
 * request's extra headers, body[0 .. len). Sets r->status.
 */
void rp__api_reply_raw(rp__api_req *r, int status, const char *ctype, const void *body, size_t len);
/* A text/plain error (EST clients show text): printf(fmt, ...) and a newline. */
void rp__api_fail_text(rp__api_req *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------------
 * Enrollment: the EST service (est.c, h_est.c)
 * ------------------------------------------------------------------------ */

/* The issuing CA, the trust stores and the canned responses. Immutable after load. */
typedef struct rp__api_est rp__api_est;

/*
 * Loads what EST needs from o->est_* (api.h): NULL *out and RP_OK when
 * enrollment is off (no issuing certificate configured). RP_E_CONFIG with
 * the reason in err (never key material) when a file is missing, unsafe
 * (a key or passphrase file others may read), unusable, or when the
 * certificates do not fit together; RP_E_NOMEM; RP_E_AUTH (wrong
 * passphrase). The passphrase is wiped on every path.
 */
rp_status rp__api_est_load(const rp_api_opts *o, rp__api_est **out, char *err, size_t err_cap);
void rp__api_est_free(rp__api_est *e);

/*
 * On the listener's SSL_CTX (ssl_ctx): request a client certificate
 * without requiring one, name the fleet and manufacturer CAs as
 * acceptable issuers, and leave verification to the EST handlers (a REST
 * client with or without a certificate is not affected). 1 done, 0
 * failed (err set).
 */
int rp__api_est_tls(const rp__api_est *e, void *ssl_ctx, char *err, size_t err_cap);

/* The API's EST state (NULL when enrollment is off). */
const rp__api_est *rp__api_est_of(const rp__api_req *r);

/* EST routes: a table of their own under /.well-known/est/ (docs/api.yaml lists them too),
 * with GET /crl, the other route outside /api/v1 that has its own pipeline. */
#define RP__API_EST_PREFIX "/.well-known/est/"
const rp__api_route *rp__api_est_routes(size_t *n);
/* As rp__api_route_find(), in the EST table. */
int rp__api_est_route_find(rp__api_method m, const char *path, size_t len, rp__api_match *out);

/* Serves a request whose path starts with RP__API_EST_PREFIX: text errors, RFC 7030 bodies. */
void rp__api_est_serve(rp__api_req *r, const struct mg_request_info *ri);

/* ------------------------------------------------------------------------
 * The CRL (h_crl.c)
 * ------------------------------------------------------------------------ */

/*
 * GET /crl: the issuing CA's CRL, public, DER (application/pkix-crl), with
 * an ETag (its cRLNumber), Last-Modified (thisUpdate) and a short
 * max-age. Outside /api/v1 and its JSON pipeline; its row is in the table
 * of rp__api_est_routes() (routes with their own pipeline).
 */
#define RP__API_CRL_PATH "/crl"
void rp__api_crl_serve(rp__api_req *r, const struct mg_request_info *ri);
/* opts->crl: RP_E_NOT_FOUND without one, else what it returns. */
rp_status rp__api_crl_get(const rp__api_req *r, rp_api_crl *out);

/* Roles: store <-> auth. */
rp_role rp__api_role_from_store(int store_role);
int rp__api_role_to_store(rp_role role);

/* A fresh random id: 32 lowercase hex digits (command and token ids). */
rp_status rp__api_new_id(char out[33]);

/* Handlers (one per route; the table in route.c names them). */
void rp__api_h_login(rp__api_req *r);
void rp__api_h_logout(rp__api_req *r);
void rp__api_h_session(rp__api_req *r);
void rp__api_h_me_password(rp__api_req *r);
void rp__api_h_me_totp(rp__api_req *r);
void rp__api_h_me_totp_confirm(rp__api_req *r);
void rp__api_h_devices(rp__api_req *r);
void rp__api_h_device(rp__api_req *r);
void rp__api_h_device_patch(rp__api_req *r);
void rp__api_h_device_status(rp__api_req *r);
void rp__api_h_device_revoke(rp__api_req *r);
void rp__api_h_telemetry(rp__api_req *r);
void rp__api_h_telemetry_agg(rp__api_req *r);
void rp__api_h_command_send(rp__api_req *r);
void rp__api_h_commands(rp__api_req *r);
void rp__api_h_command(rp__api_req *r);
void rp__api_h_alerts(rp__api_req *r);
void rp__api_h_alert_ack(rp__api_req *r);
void rp__api_h_audit(rp__api_req *r);
void rp__api_h_audit_verify(rp__api_req *r);
void rp__api_h_operators(rp__api_req *r);
void rp__api_h_operator_create(rp__api_req *r);
void rp__api_h_operator(rp__api_req *r);
void rp__api_h_operator_patch(rp__api_req *r);
void rp__api_h_operator_unlock(rp__api_req *r);
void rp__api_h_tokens(rp__api_req *r);
void rp__api_h_token_create(rp__api_req *r);
void rp__api_h_token_revoke(rp__api_req *r);
void rp__api_h_settings(rp__api_req *r);
void rp__api_h_settings_patch(rp__api_req *r);
void rp__api_h_enroll_tokens(rp__api_req *r);
void rp__api_h_enroll_token_create(rp__api_req *r);
void rp__api_h_enroll_token_revoke(rp__api_req *r);
void rp__api_h_est_cacerts(rp__api_req *r);
void rp__api_h_est_simpleenroll(rp__api_req *r);
void rp__api_h_est_simplereenroll(rp__api_req *r);
void rp__api_h_est_csrattrs(rp__api_req *r);
void rp__api_h_crl(rp__api_req *r);

/* civetweb_fix.c: repairs Debian's CivetWeb for OpenSSL 3 (see there). */
rp_status rp__api_civetweb_tls_init(char *err, size_t err_cap);

#endif /* RP_SERVER_API_INTERNAL_H */
