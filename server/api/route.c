/*
 * route.c - the route table of the REST API, its lookup, and the
 * authorization decision.
 *
 * Implementation notes
 * - One table, one row per (method, path): the permission, the flags and
 *   the query parameters each route accepts. docs/api.yaml describes the
 *   same routes; tests/integration/test_api.py (group Spec) compares the
 *   two both ways, parameters and permissions included.
 * - Lookup walks the table (32 rows) segment by segment; no allocation, no
 *   regex. The EST routes (RFC 7030, under /.well-known/est/) are a second
 *   table with its own pipeline (h_est.c), and GET /crl (h_crl.c) is in it
 *   too: the routes outside /api/v1; `--routes` and docs/api.yaml list
 *   both tables. A path that matches a pattern for another method is 405 with
 *   the methods it has; anything else is 404.
 * - Default deny: rp__api_authorize() allows a non-public route only when
 *   rp_role_allows(role, perm) says so; a route with a permission outside
 *   the enum allows nobody.
 * - Attacker: the path (decoded by CivetWeb, dot segments removed) and the
 *   method. Neither is trusted beyond comparison with the table.
 */
#include <string.h>

#include "api/internal.h"

/* ------------------------------------------------------------------------
 * Query parameters of each list
 * ------------------------------------------------------------------------ */

static const char *const status_values[] = {"active", "quarantined", "revoked", "decommissioned",
					    NULL};
static const char *const order_values[] = {"asc", "desc", NULL};
static const char *const severity_values[] = {"info", "warning", "critical", NULL};

#define Q_LIMIT(cap)                                                                               \
	{                                                                                          \
		"limit", RP__API_Q_INT, 1, (cap), NULL                                             \
	}
#define Q_AFTER                                                                                    \
	{                                                                                          \
		"after", RP__API_Q_CURSOR, 0, 0, NULL                                              \
	}
#define Q_TIME(n)                                                                                  \
	{                                                                                          \
		(n), RP__API_Q_INT, 0, RP_LIMIT_STORE_TIME_MAX_MS, NULL                            \
	}
#define Q_END                                                                                      \
	{                                                                                          \
		NULL, RP__API_Q_STR, 0, 0, NULL                                                    \
	}

static const rp__api_qspec q_devices[] = {
	{"status", RP__API_Q_ENUM, 0, 0, status_values},
	{"tag", RP__API_Q_STR, 1, RP_LIMIT_STORE_TAG_LEN, NULL},
	{"model", RP__API_Q_STR, 1, RP_LIMIT_STORE_TEXT_LEN, NULL},
	{"firmware", RP__API_Q_STR, 1, RP_LIMIT_STORE_TEXT_LEN, NULL},
	Q_LIMIT(RP_LIMIT_API_PAGE),
	Q_AFTER,
	Q_END,
};

static const rp__api_qspec q_telemetry[] = {
	{"name", RP__API_Q_STR, 1, RP_LIMIT_STORE_TEXT_LEN, NULL},
	Q_TIME("from"),
	Q_TIME("to"),
	{"order", RP__API_Q_ENUM, 0, 0, order_values},
	Q_LIMIT(RP_LIMIT_API_SERIES),
	Q_AFTER,
	Q_END,
};

static const rp__api_qspec q_aggregate[] = {
	{"name", RP__API_Q_STR, 1, RP_LIMIT_STORE_TEXT_LEN, NULL},
	Q_TIME("from"),
	Q_TIME("to"),
	{"interval", RP__API_Q_INT, 1, RP_LIMIT_STORE_TIME_MAX_MS, NULL},
	Q_END,
};

static const rp__api_qspec q_page[] = {
	Q_LIMIT(RP_LIMIT_API_PAGE),
	Q_AFTER,
	Q_END,
};

static const rp__api_qspec q_alerts[] = {
	{"device", RP__API_Q_STR, 1, RP_LIMIT_STORE_ID_LEN, NULL},
	{"kind", RP__API_Q_STR, 1, RP_LIMIT_STORE_TEXT_LEN, NULL},
	{"severity", RP__API_Q_ENUM, 0, 0, severity_values},
	{"unacked", RP__API_Q_BOOL, 0, 0, NULL},
	Q_LIMIT(RP_LIMIT_API_PAGE),
	Q_AFTER,
	Q_END,
};

static const rp__api_qspec q_audit[] = {
	{"actor", RP__API_Q_STR, 1, RP_LIMIT_STORE_ID_LEN, NULL},
	{"action", RP__API_Q_STR, 1, RP_LIMIT_STORE_TEXT_LEN, NULL},
	{"target", RP__API_Q_STR, 1, RP_LIMIT_STORE_TEXT_LEN, NULL},
	Q_TIME("from"),
	Q_TIME("to"),
	{"order", RP__API_Q_ENUM, 0, 0, order_values},
	Q_LIMIT(RP_LIMIT_API_PAGE),
	Q_AFTER,
	Q_END,
};

/* RFC 5280 CRLReason names (server/core/crl.h, rp_crl_reason_parse). */
static const char *const reason_values[] = {"unspecified",     "keyCompromise",
					    "cACompromise",    "affiliationChanged",
					    "superseded",      "cessationOfOperation",
					    "certificateHold", "privilegeWithdrawn",
					    "aACompromise",    NULL};

static const rp__api_qspec q_revoke[] = {
	{"reason", RP__API_Q_ENUM, 0, 0, reason_values},
	Q_END,
};

static const rp__api_qspec q_tokens[] = {
	{"operator", RP__API_Q_STR, 1, RP_LIMIT_OPERATOR_NAME_LEN, NULL},
	Q_LIMIT(RP_LIMIT_API_PAGE),
	Q_AFTER,
	Q_END,
};

/* ------------------------------------------------------------------------
 * The table
 * ------------------------------------------------------------------------ */

#define GET    RP__API_GET
#define POST   RP__API_POST
#define PUT    RP__API_PUT
#define PATCH  RP__API_PATCH
#define DELETE RP__API_DELETE
#define V1     "/api/v1"

static const rp__api_route routes[] = {
	/* Session and own account */
	{POST, V1 "/login", RP_PERM_COUNT_, RP__API_F_PUBLIC | RP__API_F_BODY, NULL,
	 rp__api_h_login, "Log in: session cookie and CSRF token"},
	{POST, V1 "/logout", RP_PERM_SELF, RP__API_F_SESSION | RP__API_F_RESTRICTED, NULL,
	 rp__api_h_logout, "End the web session"},
	{GET, V1 "/session", RP_PERM_SELF, RP__API_F_RESTRICTED, NULL, rp__api_h_session,
	 "Who is calling, and the session's CSRF token"},
	{PUT, V1 "/me/password", RP_PERM_SELF, RP__API_F_SESSION | RP__API_F_BODY, NULL,
	 rp__api_h_me_password, "Change one's own password"},
	{POST, V1 "/me/totp", RP_PERM_SELF,
	 RP__API_F_SESSION | RP__API_F_BODY | RP__API_F_RESTRICTED, NULL, rp__api_h_me_totp,
	 "Start TOTP enrolment: an otpauth URI"},
	{POST, V1 "/me/totp/confirm", RP_PERM_SELF,
	 RP__API_F_SESSION | RP__API_F_BODY | RP__API_F_RESTRICTED, NULL, rp__api_h_me_totp_confirm,
	 "Confirm TOTP enrolment with a first code"},

	/* Devices, telemetry, commands */
	{GET, V1 "/devices", RP_PERM_DEVICE_READ, 0, q_devices, rp__api_h_devices, "List devices"},
	{GET, V1 "/devices/{device}", RP_PERM_DEVICE_READ, 0, NULL, rp__api_h_device, "One device"},
	{PATCH, V1 "/devices/{device}", RP_PERM_DEVICE_WRITE, RP__API_F_BODY, NULL,
	 rp__api_h_device_patch, "Replace a device's tags"},
	{PUT, V1 "/devices/{device}/status", RP_PERM_DEVICE_WRITE, RP__API_F_BODY, NULL,
	 rp__api_h_device_status, "Quarantine or release a device"},
	{POST, V1 "/devices/{device}/revoke", RP_PERM_DEVICE_ADMIN, 0, q_revoke,
	 rp__api_h_device_revoke, "Revoke a device and every certificate of it"},
	{GET, V1 "/devices/{device}/telemetry", RP_PERM_TELEMETRY_READ, 0, q_telemetry,
	 rp__api_h_telemetry, "Points of one series"},
	{GET, V1 "/devices/{device}/telemetry/aggregate", RP_PERM_TELEMETRY_READ, 0, q_aggregate,
	 rp__api_h_telemetry_agg, "Min, max, avg per interval"},
	{POST, V1 "/devices/{device}/commands", RP_PERM_DEVICE_COMMAND, RP__API_F_BODY, NULL,
	 rp__api_h_command_send, "Send a command to a device"},
	{GET, V1 "/devices/{device}/commands", RP_PERM_DEVICE_READ, 0, q_page, rp__api_h_commands,
	 "A device's commands"},
	{GET, V1 "/devices/{device}/commands/{command}", RP_PERM_DEVICE_READ, 0, NULL,
	 rp__api_h_command, "One command and its result"},

	/* Alerts and audit */
	{GET, V1 "/alerts", RP_PERM_ALERT_READ, 0, q_alerts, rp__api_h_alerts,
	 "List alerts, newest first"},
	{POST, V1 "/alerts/{alert}/ack", RP_PERM_ALERT_WRITE, 0, NULL, rp__api_h_alert_ack,
	 "Acknowledge an alert"},
	{GET, V1 "/audit", RP_PERM_AUDIT_READ, 0, q_audit, rp__api_h_audit, "Query the audit log"},
	{GET, V1 "/audit/verify", RP_PERM_AUDIT_READ, 0, NULL, rp__api_h_audit_verify,
	 "Verify the audit chain"},

	/* Operators */
	{GET, V1 "/operators", RP_PERM_OPERATOR_READ, 0, q_page, rp__api_h_operators,
	 "List operators"},
	{POST, V1 "/operators", RP_PERM_OPERATOR_ADMIN, RP__API_F_BODY, NULL,
	 rp__api_h_operator_create, "Create an operator"},
	{GET, V1 "/operators/{operator}", RP_PERM_OPERATOR_READ, 0, NULL, rp__api_h_operator,
	 "One operator"},
	{PATCH, V1 "/operators/{operator}", RP_PERM_OPERATOR_ADMIN, RP__API_F_BODY, NULL,
	 rp__api_h_operator_patch, "Change role, disable, require or reset TOTP"},
	{POST, V1 "/operators/{operator}/unlock", RP_PERM_OPERATOR_ADMIN, 0, NULL,
	 rp__api_h_operator_unlock, "Lift a login lock"},

	/* API tokens */
	{GET, V1 "/tokens", RP_PERM_TOKEN_READ, 0, q_tokens, rp__api_h_tokens,
	 "List an operator's API tokens"},
	{POST, V1 "/tokens", RP_PERM_TOKEN_ADMIN, RP__API_F_BODY, NULL, rp__api_h_token_create,
	 "Create an API token (shown once)"},
	{DELETE, V1 "/tokens/{token}", RP_PERM_TOKEN_ADMIN, 0, NULL, rp__api_h_token_revoke,
	 "Revoke an API token"},

	/* Settings */
	{GET, V1 "/settings", RP_PERM_SETTINGS_READ, 0, NULL, rp__api_h_settings,
	 "Server settings"},
	{PATCH, V1 "/settings", RP_PERM_SETTINGS_WRITE, RP__API_F_BODY, NULL,
	 rp__api_h_settings_patch, "Change settings (TOTP for everyone)"},

	/* Enrollment tokens (EST, docs/est.md) */
	{GET, V1 "/enrollment-tokens", RP_PERM_DEVICE_READ, 0, q_page, rp__api_h_enroll_tokens,
	 "List enrollment tokens"},
	{POST, V1 "/enrollment-tokens", RP_PERM_DEVICE_ADMIN, RP__API_F_BODY, NULL,
	 rp__api_h_enroll_token_create, "Create an enrollment token (shown once)"},
	{DELETE, V1 "/enrollment-tokens/{token}", RP_PERM_DEVICE_ADMIN, 0, NULL,
	 rp__api_h_enroll_token_revoke, "Revoke an enrollment token"},
};

/*
 * EST (RFC 7030), served by h_est.c through its own pipeline: no session or
 * bearer token (a device authenticates with an enrollment token or a TLS
 * client certificate, checked by the handler), RFC 7030 media types, text
 * errors. PUBLIC in the sense of the REST API's authorization.
 */
#define EST   "/.well-known/est"
#define EST_F (RP__API_F_PUBLIC | RP__API_F_EST)

static const rp__api_route est_routes[] = {
	{GET, EST "/cacerts", RP_PERM_COUNT_, EST_F, NULL, rp__api_h_est_cacerts,
	 "EST: the CA certificates devices trust (PKCS#7)"},
	{POST, EST "/simpleenroll", RP_PERM_COUNT_, EST_F | RP__API_F_BODY, NULL,
	 rp__api_h_est_simpleenroll, "EST: enroll (token or factory certificate)"},
	{POST, EST "/simplereenroll", RP_PERM_COUNT_, EST_F | RP__API_F_BODY, NULL,
	 rp__api_h_est_simplereenroll, "EST: renew with the current certificate"},
	{GET, EST "/csrattrs", RP_PERM_COUNT_, EST_F, NULL, rp__api_h_est_csrattrs,
	 "EST: what a CSR must hold"},
	/* Not EST, but like it outside /api/v1 with a pipeline of its own (h_crl.c). */
	{GET, RP__API_CRL_PATH, RP_PERM_COUNT_, RP__API_F_PUBLIC, NULL, rp__api_h_crl,
	 "The issuing CA's CRL (DER), re-signed at every revocation"},
};

const rp__api_route *rp__api_est_routes(size_t *n)
{
	if (n != NULL) {
		*n = sizeof(est_routes) / sizeof(est_routes[0]);
	}
	return est_routes;
}

const rp__api_route *rp__api_routes(size_t *n)
{
	if (n != NULL) {
		*n = sizeof(routes) / sizeof(routes[0]);
	}
	return routes;
}

/* ------------------------------------------------------------------------
 * Methods
 * ------------------------------------------------------------------------ */

static const char *const method_names[RP__API_METHODS_] = {"GET", "POST", "PUT", "PATCH", "DELETE"};

rp_status rp__api_method_parse(const char *s, rp__api_method *out)
{
	if (s == NULL || out == NULL) {
		return RP_E_NOT_FOUND;
	}
	for (int i = 0; i < (int)RP__API_METHODS_; i++) {
		if (strcmp(s, method_names[i]) == 0) {
			*out = (rp__api_method)i;
			return RP_OK;
		}
	}
	return RP_E_NOT_FOUND;
}

const char *rp__api_method_name(rp__api_method m)
{
	if ((unsigned)m >= (unsigned)RP__API_METHODS_) {
		return NULL;
	}
	return method_names[m];
}

int rp__api_method_changes(rp__api_method m)
{
	return m == RP__API_POST || m == RP__API_PUT || m == RP__API_PATCH || m == RP__API_DELETE;
}

/* ------------------------------------------------------------------------
 * Lookup
 * ------------------------------------------------------------------------ */

/* Matches path[0 .. len) against pattern; captures "{...}" segments. */
static int match(const char *pattern, const char *path, size_t len, rp__api_match *m)
{
	size_t pi = 0, si = 0, np = 0;
	size_t plen = strlen(pattern);

	while (pi < plen && si < len) {
		if (pattern[pi] == '{') {
			const char *close = strchr(pattern + pi, '}');
			size_t start = si;

			if (close == NULL || np == RP__API_MAX_PATH_PARAMS) {
				return 0;
			}
			while (si < len && path[si] != '/') {
				si++;
			}
			if (si == start) {
				return 0; /* empty segment */
			}
			m->param[np].p = path + start;
			m->param[np].len = si - start;
			np++;
			pi = (size_t)(close - pattern) + 1u;
			continue;
		}
		if (pattern[pi] != path[si]) {
			return 0;
		}
		pi++;
		si++;
	}
	if (pi != plen || si != len) {
		return 0;
	}
	m->nparams = np;
	return 1;
}

static int find_in(const rp__api_route *table, size_t n, rp__api_method m, const char *path,
		   size_t len, rp__api_match *out)
{
	rp__api_match tmp;
	unsigned allow = 0;

	memset(out, 0, sizeof(*out));
	if (path == NULL) {
		return 404;
	}
	for (size_t i = 0; i < n; i++) {
		memset(&tmp, 0, sizeof(tmp));
		if (!match(table[i].path, path, len, &tmp)) {
			continue;
		}
		if (table[i].method == m) {
			*out = tmp;
			out->route = &table[i];
			return 200;
		}
		allow |= 1u << table[i].method;
	}
	if (allow != 0) {
		out->allow = allow;
		return 405;
	}
	return 404;
}

int rp__api_route_find(rp__api_method m, const char *path, size_t len, rp__api_match *out)
{
	return find_in(routes, sizeof(routes) / sizeof(routes[0]), m, path, len, out);
}

int rp__api_est_route_find(rp__api_method m, const char *path, size_t len, rp__api_match *out)
{
	return find_in(est_routes, sizeof(est_routes) / sizeof(est_routes[0]), m, path, len, out);
}

/* ------------------------------------------------------------------------
 * Authorization
 * ------------------------------------------------------------------------ */

rp__api_authz rp__api_authorize(const rp__api_route *r, rp_role role, int restricted, int via_token)
{
	if (r == NULL) {
		return RP__API_AUTHZ_FORBIDDEN;
	}
	if ((r->flags & RP__API_F_PUBLIC) != 0) {
		return RP__API_AUTHZ_OK;
	}
	if (via_token && (r->flags & RP__API_F_SESSION) != 0) {
		return RP__API_AUTHZ_NEED_SESSION;
	}
	if (!via_token && restricted && (r->flags & RP__API_F_RESTRICTED) == 0) {
		return RP__API_AUTHZ_TOTP;
	}
	if (rp_role_allows(role, r->perm) != 1) {
		return RP__API_AUTHZ_FORBIDDEN;
	}
	return RP__API_AUTHZ_OK;
}
