/*
 * h_session.c - logging in and out, the session, and what an operator
 * does to their own account (password, TOTP enrolment).
 *
 * Implementation notes
 * - The login follows throttle.h's protocol: check (429 and the password
 *   is not looked at), then password and TOTP, then exactly one of
 *   failure, success or cancel. Every failure, whatever failed (unknown
 *   name, disabled account, password, missing, wrong or replayed code),
 *   gets the same 401 and counts in the throttle, so the answer tells
 *   nothing about which part was wrong. An unknown name costs one Argon2
 *   computation like a known one (rp_password_verify_dummy).
 * - Sessions: a fresh rps_ token at every login and privilege change
 *   (TOTP enrolled, password changed), only its SHA-256 stored; the CSRF
 *   token is derived from it (rp__api_csrf_derive), its hash stored in the
 *   session row. Passwords, tokens and TOTP keys live in buffers wiped
 *   before return (jansson's blocks are wiped when freed, json.c).
 * - A session is "restricted" while TOTP is required (for everyone, or for
 *   this operator) and the operator has none: it may only see itself,
 *   enrol TOTP and log out (RP__API_F_RESTRICTED routes).
 */
#include <civetweb.h>
#include <inttypes.h>
#include <string.h>

#include "api/internal.h"
#include "auth/password.h"
#include "auth/totp.h"
#include "util/alloc.h"
#include "util/log.h"

#define GENERIC_401 "invalid name, password or TOTP code"
#define SEALED_CAP  RP_LIMIT_STORE_SECRET_LEN

static int needs_enrolment(rp__api_req *r, const rp_store_operator *op)
{
	return (rp__api_totp_required(r) || op->totp_required) && op->totp_secret_len == 0;
}

/*
 * Makes a session for `name`, sets the cookie on the reply, and puts the
 * CSRF token into body. Returns RP_OK or a store / crypto status.
 */
static rp_status new_session(rp__api_req *r, const char *name, json_t *body)
{
	rp_token tok, csrf;
	char id_hash[RP_SHA256_HEX_LEN + 1u], csrf_hash[RP_SHA256_HEX_LEN + 1u];
	rp_store_websession ws;
	int64_t expires = r->now_ms + (int64_t)rp__api_session_lifetime_s(r) * 1000;
	rp_status st;

	memset(&tok, 0, sizeof(tok));
	memset(&csrf, 0, sizeof(csrf));
	st = rp_token_new(RP_TOKEN_SESSION, &tok);
	if (st == RP_OK) {
		st = rp__api_csrf_derive(&tok, &csrf);
	}
	if (st == RP_OK) {
		st = rp_token_hash_hex((const uint8_t *)tok.text, RP_TOKEN_LEN, RP_TOKEN_SESSION,
				       id_hash);
	}
	if (st == RP_OK) {
		st = rp_token_hash_hex((const uint8_t *)csrf.text, RP_TOKEN_LEN, RP_TOKEN_CSRF,
				       csrf_hash);
	}
	if (st != RP_OK) {
		goto out;
	}
	memset(&ws, 0, sizeof(ws));
	ws.id_hash = id_hash;
	ws.operator_name = name;
	ws.csrf_hash = csrf_hash;
	ws.created_ms = r->now_ms;
	ws.expires_ms = expires;
	st = rp_store_websession_create(rp__api_store(r), &ws, NULL, NULL);
	if (st != RP_OK) {
		goto out;
	}
	st = rp__api_header(r,
			    "Set-Cookie: " RP__API_SESSION_COOKIE
			    "=%s; Path=/; Secure; HttpOnly; SameSite=Strict",
			    tok.text);
	if (st != RP_OK) {
		goto out;
	}
	json_object_set_new(body, "csrf_token", json_string(csrf.text));
	json_object_set_new(body, "expires_ms", json_integer(expires));
out:
	rp_token_wipe(&tok);
	rp_token_wipe(&csrf);
	return st;
}

static json_t *whoami(const rp__api_req *r, const char *name, rp_role role, int restricted)
{
	json_t *o = json_object();

	if (o == NULL) {
		return NULL;
	}
	json_object_set_new(o, "operator", json_string(name));
	json_object_set_new(o, "role",
			    json_string(rp_role_name(role) != NULL ? rp_role_name(role) : "none"));
	json_object_set_new(o, "auth", json_string(r->via_token ? "token" : "session"));
	json_object_set_new(o, "totp_enrolment_required", json_boolean(restricted));
	return o;
}

static void login_failed(rp__api_req *r, const rp__api_login *in)
{
	uint64_t until = rp_throttle_failure(rp__api_throttle(r), (const uint8_t *)in->name,
					     strlen(in->name), (const uint8_t *)r->addr_key,
					     strlen(r->addr_key), r->mono_ms);

	(void)until;
	rp__api_fail(r, 401, "unauthenticated", GENERIC_401);
}

static void login_cancel(rp__api_req *r, const rp__api_login *in)
{
	rp_throttle_cancel(rp__api_throttle(r), (const uint8_t *)in->name, strlen(in->name),
			   (const uint8_t *)r->addr_key, strlen(r->addr_key), r->mono_ms);
}

/* Checks the TOTP code of op; RP_OK and the step stored, or a status to fail with. */
static rp_status check_totp(rp__api_req *r, const rp_store_operator *op, const rp__api_login *in)
{
	uint8_t key[RP_LIMIT_TOTP_KEY_LEN];
	size_t klen = 0;
	uint64_t step = 0;
	rp_store_operator_patch p;
	rp_status st;

	if (in->totp == NULL) {
		return RP_E_AUTH;
	}
	st = rp__api_totp_open(r, op->name, op->totp_secret, op->totp_secret_len, key, sizeof(key),
			       &klen);
	if (st != RP_OK) {
		rp_log(RP_LOG_ERROR, "api", "operator %s: stored TOTP secret unusable (%s)",
		       op->name, rp_status_str(st));
		return RP_E_INTERNAL;
	}
	st = rp_totp_verify(NULL, key, klen, (const uint8_t *)in->totp, in->totp_len,
			    (uint64_t)(r->now_ms / 1000), (uint64_t)op->totp_last_step, &step);
	rp_wipe(key, sizeof(key));
	if (st == RP_E_STATE) {
		snprintf(r->actor, sizeof(r->actor), "%s", op->name);
		rp__api_audit(r, "auth.totp_replay", op->name, NULL);
		r->actor[0] = '\0';
		return RP_E_AUTH;
	}
	if (st != RP_OK) {
		return RP_E_AUTH;
	}
	/* Compare-and-set of the step: two logins racing with one code, one wins. */
	memset(&p, 0, sizeof(p));
	p.fields = RP_STORE_OPF_TOTP_STEP;
	p.v.totp_last_step = (int64_t)step;
	st = rp_store_operator_update(rp__api_store(r), op->name, &p, NULL, NULL);
	return st == RP_E_DENIED ? RP_E_AUTH : st;
}

void rp__api_h_login(rp__api_req *r)
{
	const rp_password_params *pw = rp__api_pwparams(r);
	rp_throttle *t = rp__api_throttle(r);
	rp_store_operator *op = NULL;
	rp__api_login in;
	char why[RP__API_WHY_CAP];
	uint64_t until = 0;
	json_t *body = NULL;
	rp_store_operator_patch p;
	char phc[RP_PASSWORD_PHC_CAP];
	rp_status st;
	int restricted;

	if (rp__api_login_body(r->body, &in, why, sizeof(why)) != RP_OK) {
		rp__api_fail(r, 400, "invalid_body", "%s", why);
		return;
	}
	st = rp_throttle_check(t, (const uint8_t *)in.name, strlen(in.name),
			       (const uint8_t *)r->addr_key, strlen(r->addr_key), r->mono_ms,
			       &until);
	if (st == RP_E_DENIED) {
		uint64_t s = until > r->mono_ms ? (until - r->mono_ms + 999u) / 1000u : 1u;

		rp__api_header(r, "Retry-After: %" PRIu64, s);
		rp__api_fail(
			r, 429, "throttled",
			"too many failed logins for this account or address; try again in %" PRIu64
			" s",
			s);
		return;
	}
	if (st != RP_OK) {
		rp__api_fail(r, 503, "busy", "login is not possible now; try again");
		return;
	}
	st = rp_store_operator_get(rp__api_store(r), in.name, &op, NULL, NULL);
	if (st == RP_E_NOT_FOUND) {
		st = rp_password_verify_dummy(pw, (const uint8_t *)in.password, in.password_len);
		if (st == RP_E_NOMEM) {
			goto busy;
		}
		login_failed(r, &in);
		goto out;
	}
	if (st != RP_OK) {
		login_cancel(r, &in);
		rp__api_fail_status(r, st, "operator");
		goto out;
	}
	st = rp_password_verify(pw, op->password_hash, strlen(op->password_hash),
				(const uint8_t *)in.password, in.password_len);
	if (st == RP_E_NOMEM) {
		goto busy;
	}
	if (st != RP_OK || op->disabled) {
		login_failed(r, &in);
		goto out;
	}
	if (op->totp_secret_len > 0) {
		st = check_totp(r, op, &in);
		if (st == RP_E_AUTH) {
			login_failed(r, &in);
			goto out;
		}
		if (st != RP_OK) {
			login_cancel(r, &in);
			rp__api_fail_status(r, st, "operator");
			goto out;
		}
	}
	rp_throttle_success(t, (const uint8_t *)in.name, strlen(in.name),
			    (const uint8_t *)r->addr_key, strlen(r->addr_key), r->mono_ms);
	snprintf(r->actor, sizeof(r->actor), "%s", op->name);

	/* Last login, and a new hash if the configured cost changed (best effort). */
	memset(&p, 0, sizeof(p));
	p.fields = RP_STORE_OPF_LAST_LOGIN;
	p.v.last_login_ms = r->now_ms;
	if (rp_password_needs_rehash(pw, op->password_hash, strlen(op->password_hash)) &&
	    rp_password_hash(pw, (const uint8_t *)in.password, in.password_len, phc, sizeof(phc),
			     NULL) == RP_OK) {
		p.fields |= RP_STORE_OPF_PASSWORD;
		p.v.password_hash = phc;
	}
	(void)rp_store_operator_update(rp__api_store(r), op->name, &p, NULL, NULL);

	restricted = needs_enrolment(r, op);
	body = whoami(r, op->name, rp__api_role_from_store((int)op->role), restricted);
	if (body == NULL) {
		rp__api_fail(r, 503, "busy", "out of memory");
		goto out;
	}
	st = new_session(r, op->name, body);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "session");
		goto out;
	}
	rp__api_audit(r, "session.login", op->name, NULL);
	rp__api_reply(r, 200, body);
	body = NULL;
	goto out;
busy:
	login_cancel(r, &in);
	rp__api_header(r, "Retry-After: 1");
	rp__api_fail(r, 503, "busy", "too many logins at once; try again");
out:
	rp_wipe(phc, sizeof(phc));
	json_decref(body);
	rp_store_free(op);
}

void rp__api_h_logout(rp__api_req *r)
{
	rp_status st = rp_store_websession_delete(rp__api_store(r), r->session_hash, NULL, NULL);

	if (st != RP_OK && st != RP_E_NOT_FOUND) {
		rp__api_fail_status(r, st, "session");
		return;
	}
	rp__api_header(r, "Set-Cookie: " RP__API_SESSION_COOKIE
			  "=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
	rp__api_audit(r, "session.logout", r->actor, NULL);
	rp__api_reply(r, 204, NULL);
}

void rp__api_h_session(rp__api_req *r)
{
	json_t *o = whoami(r, r->actor, r->role, r->restricted);
	const char *val;
	size_t len;
	rp_token tok, csrf;

	if (o == NULL) {
		rp__api_fail(r, 503, "busy", "out of memory");
		return;
	}
	if (r->via_token) {
		json_object_set_new(o, "token_id", json_string(r->token_id));
		rp__api_reply(r, 200, o);
		return;
	}
	memset(&tok, 0, sizeof(tok));
	memset(&csrf, 0, sizeof(csrf));
	/* The cookie was checked by authentication: it is a session token. */
	if (rp__api_cookie_get(mg_get_header(r->conn, "Cookie"), RP__API_SESSION_COOKIE, &val,
			       &len) == RP_OK &&
	    len == RP_TOKEN_LEN) {
		memcpy(tok.text, val, len);
		if (rp__api_csrf_derive(&tok, &csrf) == RP_OK) {
			json_object_set_new(o, "csrf_token", json_string(csrf.text));
		}
	}
	rp_token_wipe(&tok);
	rp_token_wipe(&csrf);
	rp__api_reply(r, 200, o);
}

/* Verifies the caller's own password (throttled like a login). RP_OK or replied. */
static rp_status own_password(rp__api_req *r, const rp_store_operator *op, const char *pw,
			      size_t len)
{
	rp_throttle *t = rp__api_throttle(r);
	const uint8_t *a = (const uint8_t *)r->addr_key;
	size_t alen = strlen(r->addr_key);
	uint64_t until = 0;
	rp_status st;

	st = rp_throttle_check(t, (const uint8_t *)op->name, strlen(op->name), a, alen, r->mono_ms,
			       &until);
	if (st != RP_OK) {
		rp__api_header(r, "Retry-After: %" PRIu64,
			       until > r->mono_ms ? (until - r->mono_ms + 999u) / 1000u : 1u);
		rp__api_fail(r, 429, "throttled", "too many failed password checks; try later");
		return RP_E_DENIED;
	}
	st = rp_password_verify(rp__api_pwparams(r), op->password_hash, strlen(op->password_hash),
				(const uint8_t *)pw, len);
	if (st == RP_E_NOMEM) {
		rp_throttle_cancel(t, (const uint8_t *)op->name, strlen(op->name), a, alen,
				   r->mono_ms);
		rp__api_header(r, "Retry-After: 1");
		rp__api_fail(r, 503, "busy", "too many password checks at once; try again");
		return st;
	}
	if (st != RP_OK) {
		(void)rp_throttle_failure(t, (const uint8_t *)op->name, strlen(op->name), a, alen,
					  r->mono_ms);
		rp__api_fail(r, 403, "wrong_password", "the current password is wrong");
		return RP_E_AUTH;
	}
	rp_throttle_success(t, (const uint8_t *)op->name, strlen(op->name), a, alen, r->mono_ms);
	return RP_OK;
}

static rp_store_operator *get_self(rp__api_req *r)
{
	rp_store_operator *op = NULL;
	rp_status st = rp_store_operator_get(rp__api_store(r), r->actor, &op, NULL, NULL);

	if (st != RP_OK) {
		rp__api_fail_status(r, st, "operator");
		return NULL;
	}
	return op;
}

/* Replaces the caller's session by a new one (privilege change), body gets its CSRF token. */
static int renew_session(rp__api_req *r, json_t *body)
{
	rp_status st;

	(void)rp_store_websession_delete(rp__api_store(r), r->session_hash, NULL, NULL);
	st = new_session(r, r->actor, body);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "session");
		return 0;
	}
	return 1;
}

void rp__api_h_me_password(rp__api_req *r)
{
	static const char *const allowed[] = {"current", "new", NULL};
	const char *cur, *nw, *reason = NULL;
	size_t clen, nlen;
	char why[RP__API_WHY_CAP], phc[RP_PASSWORD_PHC_CAP];
	rp_store_operator *op = NULL;
	rp_store_operator_patch p;
	json_t *body = NULL;
	rp_status st;

	memset(phc, 0, sizeof(phc));
	if (rp__api_json_only(r->body, allowed, why, sizeof(why)) != RP_OK ||
	    rp__api_json_str(r->body, "current", 1, 1, RP_LIMIT_PASSWORD_LEN, &cur, &clen, why,
			     sizeof(why)) != RP_OK ||
	    rp__api_json_str(r->body, "new", 1, 1, 4096, &nw, &nlen, why, sizeof(why)) != RP_OK) {
		rp__api_fail(r, 400, "invalid_body", "%s", why);
		return;
	}
	op = get_self(r);
	if (op == NULL) {
		return;
	}
	if (own_password(r, op, cur, clen) != RP_OK) {
		goto out;
	}
	st = rp_password_policy_check((const uint8_t *)nw, nlen, (const uint8_t *)op->name,
				      strlen(op->name), &reason);
	if (st != RP_OK) {
		rp__api_fail(r, 400, "weak_password", "%s", reason != NULL ? reason : "refused");
		goto out;
	}
	st = rp_password_hash(rp__api_pwparams(r), (const uint8_t *)nw, nlen, phc, sizeof(phc),
			      NULL);
	if (st != RP_OK) {
		rp__api_header(r, "Retry-After: 1");
		rp__api_fail(r, 503, "busy", "the password could not be hashed now; try again");
		goto out;
	}
	memset(&p, 0, sizeof(p));
	p.fields = RP_STORE_OPF_PASSWORD;
	p.v.password_hash = phc;
	st = rp_store_operator_update(rp__api_store(r), op->name, &p, NULL, NULL);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "operator");
		goto out;
	}
	/* Every other session of this operator ends; the caller gets a new one. */
	(void)rp__api_void_sessions(r, op->name, r->now_ms);
	rp__api_audit(r, "operator.password", op->name, NULL);
	body = whoami(r, op->name, r->role, 0);
	if (body == NULL || !renew_session(r, body)) {
		if (r->status == 0) {
			rp__api_fail(r, 503, "busy", "out of memory");
		}
		goto out;
	}
	rp__api_reply(r, 200, body);
	body = NULL;
out:
	rp_wipe(phc, sizeof(phc));
	json_decref(body);
	rp_store_free(op);
}

void rp__api_h_me_totp(rp__api_req *r)
{
	static const char *const allowed[] = {"password", NULL};
	uint8_t key[RP_TOTP_KEY_LEN];
	char uri[RP_TOTP_URI_CAP], secret[RP_B32_LEN(RP_TOTP_KEY_LEN) + 1u], why[RP__API_WHY_CAP];
	rp_store_operator *op = NULL;
	const char *pw = NULL;
	size_t pwlen = 0;
	json_t *o;
	rp_status st;

	memset(uri, 0, sizeof(uri));
	memset(secret, 0, sizeof(secret));
	if (rp__api_json_only(r->body, allowed, why, sizeof(why)) != RP_OK ||
	    (st = rp__api_json_str(r->body, "password", 0, 1, RP_LIMIT_PASSWORD_LEN, &pw, &pwlen,
				   why, sizeof(why))) == RP_E_MALFORMED) {
		rp__api_fail(r, 400, "invalid_body", "%s", why);
		return;
	}
	op = get_self(r);
	if (op == NULL) {
		return;
	}
	/* Replacing a working second factor takes the password: a stolen session alone cannot. */
	if (op->totp_secret_len > 0) {
		if (pw == NULL) {
			rp__api_fail(
				r, 403, "password_required",
				"TOTP is already enrolled: send {\"password\": ...} to replace it");
			goto out;
		}
		if (own_password(r, op, pw, pwlen) != RP_OK) {
			goto out;
		}
	}
	if (rp_totp_key_new(key) != RP_OK ||
	    rp_totp_uri(NULL, (const uint8_t *)op->name, strlen(op->name), key, sizeof(key), uri,
			sizeof(uri), NULL) != RP_OK ||
	    rp_secret_b32_encode(key, sizeof(key), secret, sizeof(secret), NULL) != RP_OK) {
		rp__api_fail(r, 500, "internal", "no TOTP key could be made");
		goto out;
	}
	st = rp__api_totp_pending_put(r, op->name, key, sizeof(key));
	if (st != RP_OK) {
		rp__api_fail(r, 503, "busy", "out of memory");
		goto out;
	}
	o = json_object();
	if (o == NULL) {
		rp__api_fail(r, 503, "busy", "out of memory");
		goto out;
	}
	json_object_set_new(o, "uri", json_string(uri));
	json_object_set_new(o, "secret", json_string(secret));
	json_object_set_new(o, "expires_s", json_integer(RP_LIMIT_API_TOTP_PENDING_S));
	rp__api_reply(r, 200, o);
out:
	rp_wipe(key, sizeof(key));
	rp_wipe(uri, sizeof(uri));
	rp_wipe(secret, sizeof(secret));
	rp_store_free(op);
}

void rp__api_h_me_totp_confirm(rp__api_req *r)
{
	static const char *const allowed[] = {"code", NULL};
	uint8_t key[RP_LIMIT_TOTP_KEY_LEN], sealed[SEALED_CAP];
	size_t klen = 0, slen = 0;
	char why[RP__API_WHY_CAP];
	const char *code;
	size_t code_len;
	uint64_t step = 0;
	rp_store_operator_patch p;
	json_t *body = NULL;
	rp_status st;

	memset(key, 0, sizeof(key));
	memset(sealed, 0, sizeof(sealed));
	if (rp__api_json_only(r->body, allowed, why, sizeof(why)) != RP_OK ||
	    rp__api_json_str(r->body, "code", 1, 1, 16, &code, &code_len, why, sizeof(why)) !=
		    RP_OK) {
		rp__api_fail(r, 400, "invalid_body", "%s", why);
		return;
	}
	if (rp__api_totp_pending_take(r, r->actor, key, sizeof(key), &klen) != RP_OK) {
		rp__api_fail(
			r, 409, "no_enrolment",
			"no TOTP enrolment in progress (POST /api/v1/me/totp first; it lasts %u s)",
			RP_LIMIT_API_TOTP_PENDING_S);
		goto out;
	}
	st = rp_totp_verify(NULL, key, klen, (const uint8_t *)code, code_len,
			    (uint64_t)(r->now_ms / 1000), 0, &step);
	if (st != RP_OK) {
		(void)rp__api_totp_pending_put(r, r->actor, key, klen); /* try again */
		rp__api_fail(r, 400, "wrong_code", "the code does not match the new key");
		goto out;
	}
	st = rp__api_totp_seal(r, r->actor, key, klen, sealed, sizeof(sealed), &slen);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "TOTP secret");
		goto out;
	}
	memset(&p, 0, sizeof(p));
	p.fields = RP_STORE_OPF_TOTP_SECRET | RP_STORE_OPF_TOTP_STEP;
	p.v.totp_secret = sealed;
	p.v.totp_secret_len = slen;
	p.v.totp_last_step = (int64_t)step;
	st = rp_store_operator_update(rp__api_store(r), r->actor, &p, NULL, NULL);
	if (st == RP_E_DENIED) {
		(void)rp__api_totp_pending_put(r, r->actor, key, klen);
		rp__api_fail(r, 409, "code_used",
			     "this code was already used; wait for the next one");
		goto out;
	}
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "operator");
		goto out;
	}
	rp__api_audit(r, "operator.totp_enrol", r->actor, NULL);
	body = whoami(r, r->actor, r->role, 0);
	if (body == NULL || !renew_session(r, body)) {
		if (r->status == 0) {
			rp__api_fail(r, 503, "busy", "out of memory");
		}
		goto out;
	}
	rp__api_reply(r, 200, body);
	body = NULL;
out:
	json_decref(body);
	rp_wipe(key, sizeof(key));
	rp_wipe(sealed, sizeof(sealed));
}
