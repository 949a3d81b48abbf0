/*
 * h_admin.c - alerts, the audit log, operators, API tokens and settings.
 *
 * Implementation notes
 * - Operators are listed without their secrets: never the password hash
 *   or the TOTP secret, only whether TOTP is enrolled.
 * - A generated password (operator created without one) and a new API
 *   token are in the 201 response only, once; their buffers are wiped.
 * - An admin cannot disable or demote themselves (409): the last admin
 *   could otherwise lock everybody out of the API.
 * - A token's role must be covered by its creator's (rp_role_covers);
 *   its lifetime is bounded by the configured maximum.
 * - "TOTP required for everyone" is kept in memory (initialised from the
 *   configuration) and, when switched on, also written to every operator
 *   row (totp_required), so it survives a restart for the operators that
 *   exist; the store has no settings table yet (docs/api.md).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api/internal.h"
#include "auth/password.h"
#include "util/alloc.h"
#include "util/log.h"

static json_t *json_text(const char *s)
{
	json_t *j;

	if (s == NULL || s[0] == '\0') {
		return json_null();
	}
	j = json_loads(s, JSON_DECODE_ANY, NULL);
	return j != NULL ? j : json_string(s);
}

static const char *role_name(int store_role)
{
	const char *n = rp_role_name(rp__api_role_from_store(store_role));

	return n != NULL ? n : "none";
}

/* ------------------------------------------------------------------------
 * Alerts
 * ------------------------------------------------------------------------ */

static const char *const severity_names[] = {"any", "info", "warning", "critical"};

static json_t *alert_json(const rp_store_alert *a)
{
	unsigned s = (unsigned)a->severity;

	return json_pack("{s:I, s:s, s:s, s:s, s:o, s:I, s:s, s:I}", "id", (json_int_t)a->id,
			 "device", a->device_id, "kind", a->kind, "severity",
			 s < 4u ? severity_names[s] : "?", "detail", json_text(a->detail),
			 "created_ms", (json_int_t)a->created_ms, "ack_by", a->ack_by, "ack_ms",
			 (json_int_t)a->ack_ms);
}

void rp__api_h_alerts(rp__api_req *r)
{
	rp_store_alert_filter f;
	rp_store_alert *rows = NULL;
	rp__api_cursor c, next;
	const rp__api_qval *v;
	json_t *items;
	size_t n = 0;
	int has;
	rp_status st;

	memset(&f, 0, sizeof(f));
	has = rp__api_after(r, 'a', &c);
	if (has < 0) {
		return;
	}
	if (has && c.a == 0) {
		rp__api_fail(r, 400, "invalid_query",
			     "query parameter 'after' is not a cursor of this list");
		return;
	}
	f.before_id = has ? c.a : 0;
	f.device_id = (v = rp__api_q(r, "device")) != NULL ? v->str : NULL;
	f.kind = (v = rp__api_q(r, "kind")) != NULL ? v->str : NULL;
	f.min_severity = (v = rp__api_q(r, "severity")) != NULL ? (rp_store_severity)(v->num + 1)
								: RP_STORE_SEV_ANY;
	f.unacked_only = (v = rp__api_q(r, "unacked")) != NULL && v->num == 1;
	f.limit = rp__api_limit(r, RP_DEFAULT_API_PAGE);
	st = rp_store_alert_list(rp__api_store(r), &f, &rows, &n, NULL, NULL);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "alert list");
		return;
	}
	items = json_array();
	for (size_t i = 0; i < n && items != NULL; i++) {
		json_array_append_new(items, alert_json(&rows[i]));
	}
	memset(&next, 0, sizeof(next));
	if (n == f.limit && n > 0) {
		next.kind = 'a';
		next.a = rows[n - 1u].id;
	}
	rp__api_reply_page(r, items, next.kind ? &next : NULL);
	rp_store_free(rows);
}

void rp__api_h_alert_ack(rp__api_req *r)
{
	int64_t id = 0;
	char text[24];
	rp_status st;

	(void)rp__api_parse_id(r->match.param[0].p, r->match.param[0].len, &id);
	st = rp_store_alert_ack(rp__api_store(r), id, r->actor, r->now_ms, NULL, NULL);
	if (st == RP_E_STATE) {
		rp__api_fail(r, 409, "conflict", "the alert was already acknowledged");
		return;
	}
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "alert");
		return;
	}
	snprintf(text, sizeof(text), "%" PRId64, id);
	rp__api_audit(r, "alert.ack", text, NULL);
	rp__api_reply(r, 200,
		      json_pack("{s:I, s:s, s:I}", "id", (json_int_t)id, "ack_by", r->actor,
				"ack_ms", (json_int_t)r->now_ms));
}

/* ------------------------------------------------------------------------
 * Audit
 * ------------------------------------------------------------------------ */

void rp__api_h_audit(rp__api_req *r)
{
	rp_store_audit_filter f;
	rp_store_audit_entry *rows = NULL;
	rp__api_cursor c, next;
	const rp__api_qval *v;
	json_t *items;
	size_t n = 0;
	int has;
	rp_status st;

	memset(&f, 0, sizeof(f));
	has = rp__api_after(r, 'u', &c);
	if (has < 0) {
		return;
	}
	f.after_id = has ? c.a : 0;
	f.actor = (v = rp__api_q(r, "actor")) != NULL ? v->str : NULL;
	f.action = (v = rp__api_q(r, "action")) != NULL ? v->str : NULL;
	f.target = (v = rp__api_q(r, "target")) != NULL ? v->str : NULL;
	f.from_ms = (v = rp__api_q(r, "from")) != NULL ? v->num : 0;
	f.to_ms = (v = rp__api_q(r, "to")) != NULL ? v->num : 0;
	if (f.to_ms != 0 && f.from_ms >= f.to_ms) {
		rp__api_fail(r, 400, "invalid_query", "'from' must be before 'to'");
		return;
	}
	f.descending = (v = rp__api_q(r, "order")) != NULL && v->num == 1;
	f.limit = rp__api_limit(r, RP_DEFAULT_API_PAGE);
	st = rp_store_audit_query(rp__api_store(r), &f, &rows, &n, NULL, NULL);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "audit query");
		return;
	}
	items = json_array();
	for (size_t i = 0; i < n && items != NULL; i++) {
		const rp_store_audit_entry *e = &rows[i];

		json_array_append_new(items,
				      json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:o, s:s}", "id",
						(json_int_t)e->id, "time_ms",
						(json_int_t)e->time_ms, "actor", e->actor, "action",
						e->action, "target", e->target, "source", e->source,
						"detail", json_text(e->detail), "hash", e->hash));
	}
	memset(&next, 0, sizeof(next));
	if (n == f.limit && n > 0) {
		next.kind = 'u';
		next.a = rows[n - 1u].id;
	}
	rp__api_reply_page(r, items, next.kind ? &next : NULL);
	rp_store_free(rows);
}

void rp__api_h_audit_verify(rp__api_req *r)
{
	int64_t bad = 0;
	uint64_t checked = 0;
	rp_status st = rp_store_audit_verify(rp__api_store(r), &bad, &checked, NULL, NULL);

	if (st != RP_OK && st != RP_E_CRYPTO) {
		rp__api_fail_status(r, st, "audit chain");
		return;
	}
	rp__api_reply(r, 200,
		      json_pack("{s:b, s:I, s:I}", "ok", st == RP_OK, "checked",
				(json_int_t)checked, "first_bad", (json_int_t)bad));
}

/* ------------------------------------------------------------------------
 * Operators
 * ------------------------------------------------------------------------ */

static json_t *operator_json(const rp_store_operator *o)
{
	return json_pack("{s:s, s:s, s:b, s:b, s:b, s:I, s:I}", "name", o->name, "role",
			 role_name((int)o->role), "totp_enabled", o->totp_secret_len > 0,
			 "totp_required", o->totp_required != 0, "disabled", o->disabled != 0,
			 "created_ms", (json_int_t)o->created_ms, "last_login_ms",
			 (json_int_t)o->last_login_ms);
}

static int path_operator(rp__api_req *r, char *name, size_t cap)
{
	if (rp__api_param(r, 0, name, cap) == NULL) {
		rp__api_fail(r, 400, "invalid_path", "bad operator name");
		return 0;
	}
	return 1;
}

void rp__api_h_operators(rp__api_req *r)
{
	rp_store_operator *rows = NULL;
	rp__api_cursor c, next;
	json_t *items;
	size_t n = 0, limit;
	int has;
	rp_status st;

	has = rp__api_after(r, 'o', &c);
	if (has < 0) {
		return;
	}
	limit = rp__api_limit(r, RP_DEFAULT_API_PAGE);
	st = rp_store_operator_list(rp__api_store(r), has ? c.s : NULL, limit, &rows, &n, NULL,
				    NULL);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "operator list");
		return;
	}
	items = json_array();
	for (size_t i = 0; i < n && items != NULL; i++) {
		json_array_append_new(items, operator_json(&rows[i]));
	}
	memset(&next, 0, sizeof(next));
	if (n == limit && n > 0) {
		next.kind = 'o';
		snprintf(next.s, sizeof(next.s), "%s", rows[n - 1u].name);
	}
	rp__api_reply_page(r, items, next.kind ? &next : NULL);
	rp_store_free(rows);
}

static int parse_role(rp__api_req *r, const char *s, size_t len, rp_role *out)
{
	if (rp_role_parse((const uint8_t *)s, len, out) != RP_OK) {
		rp__api_fail(r, 400, "invalid_body",
			     "field 'role' must be viewer, operator, admin or auditor");
		return 0;
	}
	return 1;
}

void rp__api_h_operator_create(rp__api_req *r)
{
	static const char *const allowed[] = {"name", "role", "password", NULL};
	char why[RP__API_WHY_CAP], phc[RP_PASSWORD_PHC_CAP], gen[RP_PASSWORD_GENERATED_CAP];
	const char *name, *role_s, *pw, *reason = NULL;
	size_t nlen, rlen, pwlen = 0;
	rp_store_operator o, *stored = NULL;
	json_t *body;
	rp_role role;
	rp_status st;

	memset(phc, 0, sizeof(phc));
	memset(gen, 0, sizeof(gen));
	if (rp__api_json_only(r->body, allowed, why, sizeof(why)) != RP_OK ||
	    rp__api_json_str(r->body, "name", 1, 1, RP_LIMIT_OPERATOR_NAME_LEN, &name, &nlen, why,
			     sizeof(why)) != RP_OK ||
	    rp__api_json_str(r->body, "role", 1, 1, 16, &role_s, &rlen, why, sizeof(why)) !=
		    RP_OK ||
	    rp__api_json_str(r->body, "password", 0, 1, 4096, &pw, &pwlen, why, sizeof(why)) ==
		    RP_E_MALFORMED) {
		rp__api_fail(r, 400, "invalid_body", "%s", why);
		return;
	}
	if (rp__api_check_operator_name(name, nlen) != RP_OK) {
		rp__api_fail(
			r, 400, "invalid_body",
			"field 'name' must be 1 to %u of a-z 0-9 . _ - @, starting with a letter "
			"or digit",
			RP_LIMIT_OPERATOR_NAME_LEN);
		return;
	}
	if (!parse_role(r, role_s, rlen, &role)) {
		return;
	}
	if (pw != NULL) {
		if (rp_password_policy_check((const uint8_t *)pw, pwlen, (const uint8_t *)name,
					     nlen, &reason) != RP_OK) {
			rp__api_fail(r, 400, "weak_password", "%s",
				     reason != NULL ? reason : "refused");
			return;
		}
	} else {
		if (rp_password_generate(gen, sizeof(gen), &pwlen) != RP_OK) {
			rp__api_fail(r, 500, "internal", "no password could be generated");
			goto out;
		}
		pw = gen;
	}
	st = rp_password_hash(rp__api_pwparams(r), (const uint8_t *)pw, pwlen, phc, sizeof(phc),
			      NULL);
	if (st != RP_OK) {
		rp__api_header(r, "Retry-After: 1");
		rp__api_fail(r, 503, "busy", "the password could not be hashed now; try again");
		goto out;
	}
	memset(&o, 0, sizeof(o));
	o.name = name;
	o.role = (rp_store_role)rp__api_role_to_store(role);
	o.password_hash = phc;
	o.created_ms = r->now_ms;
	st = rp_store_operator_create(rp__api_store(r), &o, NULL, NULL);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "operator");
		goto out;
	}
	rp__api_audit(r, "operator.create", name, json_pack("{s:s}", "role", rp_role_name(role)));
	st = rp_store_operator_get(rp__api_store(r), name, &stored, NULL, NULL);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "operator");
		goto out;
	}
	body = operator_json(stored);
	if (body != NULL && gen[0] != '\0') {
		json_object_set_new(body, "password", json_string(gen));
	}
	rp__api_reply(r, 201, body);
out:
	rp_wipe(phc, sizeof(phc));
	rp_wipe(gen, sizeof(gen));
	rp_store_free(stored);
}

void rp__api_h_operator(rp__api_req *r)
{
	char name[RP_LIMIT_OPERATOR_NAME_LEN + 1u];
	rp_store_operator *o = NULL;
	rp_status st;

	if (!path_operator(r, name, sizeof(name))) {
		return;
	}
	st = rp_store_operator_get(rp__api_store(r), name, &o, NULL, NULL);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "operator");
		return;
	}
	rp__api_reply(r, 200, operator_json(o));
	rp_store_free(o);
}

void rp__api_h_operator_patch(rp__api_req *r)
{
	static const char *const allowed[] = {"role", "disabled", "totp_required", "totp_reset",
					      NULL};
	char name[RP_LIMIT_OPERATOR_NAME_LEN + 1u], why[RP__API_WHY_CAP];
	rp_store_operator_patch p;
	rp_store_operator *o = NULL;
	const char *role_s;
	size_t rlen;
	int disabled = 0, req = 0, reset = 0;
	rp_role role = RP_ROLE_COUNT_;
	rp_status s1, s2, s3, s4;
	json_t *detail;
	rp_status st;

	if (!path_operator(r, name, sizeof(name))) {
		return;
	}
	if (rp__api_json_only(r->body, allowed, why, sizeof(why)) != RP_OK ||
	    (s1 = rp__api_json_str(r->body, "role", 0, 1, 16, &role_s, &rlen, why, sizeof(why))) ==
		    RP_E_MALFORMED ||
	    (s2 = rp__api_json_bool(r->body, "disabled", 0, &disabled, why, sizeof(why))) ==
		    RP_E_MALFORMED ||
	    (s3 = rp__api_json_bool(r->body, "totp_required", 0, &req, why, sizeof(why))) ==
		    RP_E_MALFORMED ||
	    (s4 = rp__api_json_bool(r->body, "totp_reset", 0, &reset, why, sizeof(why))) ==
		    RP_E_MALFORMED) {
		rp__api_fail(r, 400, "invalid_body", "%s", why);
		return;
	}
	if (s1 != RP_OK && s2 != RP_OK && s3 != RP_OK && s4 != RP_OK) {
		rp__api_fail(r, 400, "invalid_body",
			     "give at least one of role, disabled, totp_required, totp_reset");
		return;
	}
	if (s1 == RP_OK && !parse_role(r, role_s, rlen, &role)) {
		return;
	}
	if (strcmp(name, r->actor) == 0 &&
	    ((s2 == RP_OK && disabled) || (s1 == RP_OK && role != RP_ROLE_ADMIN))) {
		rp__api_fail(r, 409, "conflict", "you cannot disable or demote yourself");
		return;
	}
	memset(&p, 0, sizeof(p));
	detail = json_object();
	if (s1 == RP_OK) {
		p.fields |= RP_STORE_OPF_ROLE;
		p.v.role = (rp_store_role)rp__api_role_to_store(role);
		json_object_set_new(detail, "role", json_string(rp_role_name(role)));
	}
	if (s2 == RP_OK) {
		p.fields |= RP_STORE_OPF_DISABLED;
		p.v.disabled = disabled;
		json_object_set_new(detail, "disabled", json_boolean(disabled));
	}
	if (s3 == RP_OK) {
		p.fields |= RP_STORE_OPF_TOTP_REQUIRED;
		p.v.totp_required = req;
		json_object_set_new(detail, "totp_required", json_boolean(req));
	}
	if (s4 == RP_OK && reset) {
		p.fields |= RP_STORE_OPF_TOTP_SECRET;
		p.v.totp_secret = NULL;
		p.v.totp_secret_len = 0;
		json_object_set_new(detail, "totp_reset", json_true());
	}
	st = p.fields != 0 ? rp_store_operator_update(rp__api_store(r), name, &p, NULL, NULL)
			   : RP_OK;
	if (st != RP_OK) {
		json_decref(detail);
		rp__api_fail_status(r, st, "operator");
		return;
	}
	rp__api_audit(r, "operator.update", name, detail);
	st = rp_store_operator_get(rp__api_store(r), name, &o, NULL, NULL);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "operator");
		return;
	}
	rp__api_reply(r, 200, operator_json(o));
	rp_store_free(o);
}

void rp__api_h_operator_unlock(rp__api_req *r)
{
	char name[RP_LIMIT_OPERATOR_NAME_LEN + 1u];
	rp_store_operator *o = NULL;
	rp_status st;

	if (!path_operator(r, name, sizeof(name))) {
		return;
	}
	st = rp_store_operator_get(rp__api_store(r), name, &o, NULL, NULL);
	rp_store_free(o);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "operator");
		return;
	}
	rp_throttle_unlock(rp__api_throttle(r), (const uint8_t *)name, strlen(name));
	rp__api_audit(r, "operator.unlock", name, NULL);
	rp__api_reply(r, 204, NULL);
}

/* ------------------------------------------------------------------------
 * API tokens
 * ------------------------------------------------------------------------ */

static json_t *token_json(const rp__api_req *r, const rp_store_token *t)
{
	const char *state = t->revoked_ms != 0           ? "revoked"
			    : t->expires_ms <= r->now_ms ? "expired"
							 : "active";

	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "id", t->id, "operator",
			 t->operator_name, "role", role_name((int)t->role), "state", state,
			 "created_ms", (json_int_t)t->created_ms, "expires_ms",
			 (json_int_t)t->expires_ms, "revoked_ms", (json_int_t)t->revoked_ms);
}

void rp__api_h_tokens(rp__api_req *r)
{
	rp_store_token *rows = NULL;
	rp__api_cursor c, next;
	const rp__api_qval *v = rp__api_q(r, "operator");
	const char *who = v != NULL ? v->str : r->actor;
	json_t *items;
	size_t n = 0, limit;
	int has;
	rp_status st;

	if (rp__api_check_operator_name(who, strlen(who)) != RP_OK) {
		rp__api_fail(r, 400, "invalid_query",
			     "query parameter 'operator' is not an operator name");
		return;
	}
	has = rp__api_after(r, 'k', &c);
	if (has < 0) {
		return;
	}
	limit = rp__api_limit(r, RP_DEFAULT_API_PAGE);
	st = rp_store_token_list(rp__api_store(r), who, has ? c.s : NULL, limit, &rows, &n, NULL,
				 NULL);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "token list");
		return;
	}
	items = json_array();
	for (size_t i = 0; i < n && items != NULL; i++) {
		json_array_append_new(items, token_json(r, &rows[i]));
	}
	memset(&next, 0, sizeof(next));
	if (n == limit && n > 0) {
		next.kind = 'k';
		snprintf(next.s, sizeof(next.s), "%s", rows[n - 1u].id);
	}
	rp__api_reply_page(r, items, next.kind ? &next : NULL);
	rp_store_free(rows);
}

void rp__api_h_token_create(rp__api_req *r)
{
	static const char *const allowed[] = {"role", "lifetime_s", NULL};
	char why[RP__API_WHY_CAP], id[33], hash[RP_SHA256_HEX_LEN + 1u];
	const char *role_s;
	size_t rlen;
	unsigned max_s, def_s = rp__api_token_lifetime_s(r, &max_s);
	int64_t life = def_s;
	rp_store_token t;
	rp_token tok;
	json_t *body;
	rp_role role;
	rp_status st;

	memset(&tok, 0, sizeof(tok));
	if (rp__api_json_only(r->body, allowed, why, sizeof(why)) != RP_OK ||
	    rp__api_json_str(r->body, "role", 1, 1, 16, &role_s, &rlen, why, sizeof(why)) !=
		    RP_OK ||
	    rp__api_json_int(r->body, "lifetime_s", 0, 60, max_s, &life, why, sizeof(why)) ==
		    RP_E_MALFORMED) {
		rp__api_fail(r, 400, "invalid_body", "%s", why);
		return;
	}
	if (!parse_role(r, role_s, rlen, &role)) {
		return;
	}
	if (!rp_role_covers(r->role, role)) {
		rp__api_fail(r, 403, "forbidden",
			     "a token cannot hold more than its creator's role");
		return;
	}
	if (rp__api_new_id(id) != RP_OK || rp_token_new(RP_TOKEN_API, &tok) != RP_OK ||
	    rp_token_hash_hex((const uint8_t *)tok.text, RP_TOKEN_LEN, RP_TOKEN_API, hash) !=
		    RP_OK) {
		rp__api_fail(r, 500, "internal", "no token could be made");
		goto out;
	}
	memset(&t, 0, sizeof(t));
	t.id = id;
	t.token_hash = hash;
	t.operator_name = r->actor;
	t.role = (rp_store_role)rp__api_role_to_store(role);
	t.created_ms = r->now_ms;
	t.expires_ms = r->now_ms + life * 1000;
	st = rp_store_token_create(rp__api_store(r), &t, NULL, NULL);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "token");
		goto out;
	}
	rp__api_audit(r, "token.create", id,
		      json_pack("{s:s, s:I}", "role", rp_role_name(role), "expires_ms",
				(json_int_t)t.expires_ms));
	body = token_json(r, &t);
	if (body != NULL) {
		json_object_set_new(body, "token", json_string(tok.text));
	}
	rp__api_reply(r, 201, body);
out:
	rp_token_wipe(&tok);
}

void rp__api_h_token_revoke(rp__api_req *r)
{
	char id[33];
	rp_status st;

	if (rp__api_param(r, 0, id, sizeof(id)) == NULL) {
		rp__api_fail(r, 400, "invalid_path", "bad token id");
		return;
	}
	st = rp_store_token_revoke(rp__api_store(r), id, r->now_ms, NULL, NULL);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "token");
		return;
	}
	rp__api_audit(r, "token.revoke", id, NULL);
	rp__api_reply(r, 204, NULL);
}

/* ------------------------------------------------------------------------
 * Settings
 * ------------------------------------------------------------------------ */

static json_t *settings_json(rp__api_req *r)
{
	unsigned max_s, def_s = rp__api_token_lifetime_s(r, &max_s);

	return json_pack("{s:b, s:I, s:I, s:I}", "totp_required", rp__api_totp_required(r),
			 "session_lifetime_s", (json_int_t)rp__api_session_lifetime_s(r),
			 "token_lifetime_s", (json_int_t)def_s, "token_lifetime_max_s",
			 (json_int_t)max_s);
}

void rp__api_h_settings(rp__api_req *r)
{
	rp__api_reply(r, 200, settings_json(r));
}

/* Sets totp_required on every operator row, page by page. */
static rp_status require_totp_everywhere(rp__api_req *r)
{
	char after[RP_LIMIT_STORE_ID_LEN + 1u] = "";
	rp_store_operator_patch p;
	rp_store_operator *rows;
	size_t n;
	rp_status st;

	memset(&p, 0, sizeof(p));
	p.fields = RP_STORE_OPF_TOTP_REQUIRED;
	p.v.totp_required = 1;
	do {
		rows = NULL;
		n = 0;
		st = rp_store_operator_list(rp__api_store(r), after[0] ? after : NULL,
					    RP_LIMIT_STORE_PAGE, &rows, &n, NULL, NULL);
		for (size_t i = 0; st == RP_OK && i < n; i++) {
			if (!rows[i].totp_required) {
				st = rp_store_operator_update(rp__api_store(r), rows[i].name, &p,
							      NULL, NULL);
			}
		}
		if (n > 0) {
			snprintf(after, sizeof(after), "%s", rows[n - 1u].name);
		}
		rp_store_free(rows);
	} while (st == RP_OK && n == RP_LIMIT_STORE_PAGE);
	return st;
}

void rp__api_h_settings_patch(rp__api_req *r)
{
	static const char *const allowed[] = {"totp_required", NULL};
	char why[RP__API_WHY_CAP];
	int on = 0;
	rp_status st;

	if (rp__api_json_only(r->body, allowed, why, sizeof(why)) != RP_OK ||
	    rp__api_json_bool(r->body, "totp_required", 1, &on, why, sizeof(why)) != RP_OK) {
		rp__api_fail(r, 400, "invalid_body", "%s", why);
		return;
	}
	if (on) {
		st = require_totp_everywhere(r);
		if (st != RP_OK) {
			rp__api_fail_status(r, st, "operator");
			return;
		}
	}
	rp__api_set_totp_required(r, on);
	rp__api_audit(r, "settings.update", "totp_required",
		      json_pack("{s:b}", "totp_required", on));
	rp__api_reply(r, 200, settings_json(r));
}
