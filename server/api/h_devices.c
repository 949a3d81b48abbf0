/*
 * h_devices.c - devices, their telemetry and their commands; and the
 * recording of a command's result when the device answers over MQTT.
 *
 * Implementation notes
 * - Lists page by keyset: the cursor holds the last row's key (device id;
 *   (time, seq) of a point; (created, id) of a command), and a page
 *   shorter than its limit is the last (next is null).
 * - A command is stored (pending) before it is published, so a device
 *   that answers at once finds it; published means "sent", a broker that
 *   refuses it means "failed" and 503. Its arguments are not copied into
 *   the audit entry (they may hold a device secret); the name and id are.
 * - Commands to revoked or decommissioned devices are refused (409): they
 *   cannot connect, and a queued command would wait for nobody.
 * - A result is accepted only for a command of the answering device, with
 *   the name of the topic it came on, and still open.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api/internal.h"
#include "core/crl.h"
#include "util/alloc.h"
#include "util/log.h"

static const char *const status_names[] = {"any", "active", "quarantined", "revoked",
					   "decommissioned"};
static const char *const cmd_status_names[] = {"?", "pending", "sent", "done", "failed", "expired"};

static const char *device_status_name(rp_store_device_status s)
{
	return (unsigned)s < sizeof(status_names) / sizeof(status_names[0]) ? status_names[s] : "?";
}

static json_t *device_json(const rp_store_device *d)
{
	json_t *o = json_object(), *tags = json_array();

	if (o == NULL || tags == NULL) {
		json_decref(o);
		json_decref(tags);
		return NULL;
	}
	for (size_t i = 0; i < d->ntags; i++) {
		json_array_append_new(tags, json_string(d->tags[i]));
	}
	json_object_set_new(o, "id", json_string(d->id));
	json_object_set_new(o, "status", json_string(device_status_name(d->status)));
	json_object_set_new(o, "model", json_string(d->model));
	json_object_set_new(o, "firmware", json_string(d->firmware));
	json_object_set_new(o, "tags", tags);
	json_object_set_new(o, "created_ms", json_integer(d->created_ms));
	json_object_set_new(o, "last_seen_ms", json_integer(d->last_seen_ms));
	json_object_set_new(o, "last_addr", json_string(d->last_addr));
	return o;
}

/* Text that should hold JSON (stored by us or validated when stored): parsed, or null. */
static json_t *json_text(const char *s)
{
	json_t *j;

	if (s == NULL || s[0] == '\0') {
		return json_null();
	}
	j = json_loads(s, JSON_DECODE_ANY, NULL);
	return j != NULL ? j : json_string(s);
}

/* The device of path parameter 0, into *out (caller frees); 0 after replying. */
static int load_device(rp__api_req *r, char *id, size_t cap, rp_store_device **out)
{
	rp_status st;

	*out = NULL;
	if (rp__api_param(r, 0, id, cap) == NULL) {
		rp__api_fail(r, 400, "invalid_path", "the device id is too long");
		return 0;
	}
	st = rp_store_device_get(rp__api_store(r), id, out, NULL, NULL);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "device");
		return 0;
	}
	return 1;
}

/* ------------------------------------------------------------------------
 * Devices
 * ------------------------------------------------------------------------ */

void rp__api_h_devices(rp__api_req *r)
{
	rp_store_device_filter f;
	rp_store_device *rows = NULL;
	rp__api_cursor c, next;
	const rp__api_qval *v;
	json_t *items;
	size_t n = 0;
	int has;
	rp_status st;

	memset(&f, 0, sizeof(f));
	has = rp__api_after(r, 'd', &c);
	if (has < 0) {
		return;
	}
	f.after_id = has ? c.s : NULL;
	if ((v = rp__api_q(r, "status")) != NULL) {
		f.status = (rp_store_device_status)(v->num + 1);
	}
	f.tag = (v = rp__api_q(r, "tag")) != NULL ? v->str : NULL;
	f.model = (v = rp__api_q(r, "model")) != NULL ? v->str : NULL;
	f.firmware = (v = rp__api_q(r, "firmware")) != NULL ? v->str : NULL;
	f.limit = rp__api_limit(r, RP_DEFAULT_API_PAGE);
	st = rp_store_device_list(rp__api_store(r), &f, &rows, &n, NULL, NULL);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "device list");
		return;
	}
	items = json_array();
	for (size_t i = 0; i < n && items != NULL; i++) {
		json_array_append_new(items, device_json(&rows[i]));
	}
	memset(&next, 0, sizeof(next));
	if (n == f.limit && n > 0) {
		next.kind = 'd';
		snprintf(next.s, sizeof(next.s), "%s", rows[n - 1u].id);
	}
	rp__api_reply_page(r, items, next.kind ? &next : NULL);
	rp_store_free(rows);
}

void rp__api_h_device(rp__api_req *r)
{
	char id[RP_LIMIT_STORE_ID_LEN + 1u];
	rp_store_device *d;

	if (!load_device(r, id, sizeof(id), &d)) {
		return;
	}
	rp__api_reply(r, 200, device_json(d));
	rp_store_free(d);
}

void rp__api_h_device_patch(rp__api_req *r)
{
	char id[RP_LIMIT_STORE_ID_LEN + 1u], why[RP__API_WHY_CAP];
	rp__api_tags tags;
	rp_store_device *d = NULL;
	json_t *detail;
	rp_status st;

	if (rp__api_tags_body(r->body, &tags, why, sizeof(why)) != RP_OK) {
		rp__api_fail(r, 400, "invalid_body", "%s", why);
		return;
	}
	if (rp__api_param(r, 0, id, sizeof(id)) == NULL) {
		rp__api_fail(r, 400, "invalid_path", "the device id is too long");
		return;
	}
	st = rp_store_device_set_tags(rp__api_store(r), id, tags.tag, tags.n, NULL, NULL);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "device");
		return;
	}
	detail = json_object();
	if (detail != NULL) {
		json_object_set(detail, "tags", json_object_get(r->body, "tags"));
	}
	rp__api_audit(r, "device.tags", id, detail);
	if (!load_device(r, id, sizeof(id), &d)) {
		return;
	}
	rp__api_reply(r, 200, device_json(d));
	rp_store_free(d);
}

void rp__api_h_device_status(rp__api_req *r)
{
	static const char *const allowed[] = {"status", NULL};
	char id[RP_LIMIT_STORE_ID_LEN + 1u], why[RP__API_WHY_CAP];
	rp_store_device *d = NULL;
	rp_store_device_status to;
	const char *s;
	size_t len;
	json_t *detail;
	rp_status st;

	if (rp__api_json_only(r->body, allowed, why, sizeof(why)) != RP_OK ||
	    rp__api_json_str(r->body, "status", 1, 1, 32, &s, &len, why, sizeof(why)) != RP_OK) {
		rp__api_fail(r, 400, "invalid_body", "%s", why);
		return;
	}
	if (strcmp(s, "active") == 0) {
		to = RP_STORE_DEVICE_ACTIVE;
	} else if (strcmp(s, "quarantined") == 0) {
		to = RP_STORE_DEVICE_QUARANTINED;
	} else {
		rp__api_fail(r, 400, "invalid_body",
			     "field 'status' must be active or quarantined (revocation is not done "
			     "through this route)");
		return;
	}
	if (!load_device(r, id, sizeof(id), &d)) {
		return;
	}
	if (d->status == RP_STORE_DEVICE_REVOKED || d->status == RP_STORE_DEVICE_DECOMMISSIONED) {
		rp__api_fail(r, 409, "conflict", "the device is %s", device_status_name(d->status));
		goto out;
	}
	st = rp_store_device_set_status(rp__api_store(r), id, to, NULL, NULL);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "device");
		goto out;
	}
	detail = json_pack("{s:s, s:s}", "from", device_status_name(d->status), "to",
			   device_status_name(to));
	rp__api_audit(r, to == RP_STORE_DEVICE_QUARANTINED ? "device.quarantine" : "device.release",
		      id, detail);
	d->status = to;
	rp__api_reply(r, 200, device_json(d));
out:
	rp_store_free(d);
}

/*
 * Revocation, as rp_crl_revoke_device() does it for the CLI too (every
 * certificate of the device, then its status, then the audit entry), then
 * rampartd is told (its connections end now, its next CONNECT is refused,
 * the CRL is re-signed). Terminal: a revoked device comes back only by a
 * new enrollment of a new id. ?reason= is an RFC 5280 CRLReason name,
 * carried by the CRL entries.
 */
void rp__api_h_device_revoke(rp__api_req *r)
{
	char id[RP_LIMIT_STORE_ID_LEN + 1u];
	const rp__api_qval *v = rp__api_q(r, "reason");
	rp_crl_actor who = {r->actor, r->peer, r->via_token ? r->token_id : NULL};
	rp_store_device *d = NULL;
	rp_crl_revocation rev;
	int reason = RP_PKI_REASON_NONE;
	rp_status st;

	if (rp__api_param(r, 0, id, sizeof(id)) == NULL) {
		rp__api_fail(r, 400, "invalid_path", "the device id is too long");
		return;
	}
	if (v != NULL && rp_crl_reason_parse(v->str, &reason) != RP_OK) {
		rp__api_fail(r, 400, "invalid_query", "reason is not an RFC 5280 reason name");
		return;
	}
	st = rp_crl_revoke_device(rp__api_store(r), id, reason, r->now_ms, &who, &rev);
	if (st == RP_E_STATE) {
		rp__api_fail(r, 409, "conflict", "the device is %s", device_status_name(rev.was));
		return;
	}
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "device");
		return;
	}
	rp__api_revoked(r, id);
	if (rev.audit != RP_OK) {
		rp_log(RP_LOG_ERROR, "api", "audit entry device.revoke of %s not written: %s", id,
		       rp_status_str(rev.audit));
	}
	st = rp_store_device_get(rp__api_store(r), id, &d, NULL, NULL);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "device");
		return;
	}
	rp__api_reply(r, 200, device_json(d));
	rp_store_free(d);
}

/* ------------------------------------------------------------------------
 * Telemetry
 * ------------------------------------------------------------------------ */

static json_t *point_json(const rp_store_point *p)
{
	json_t *o = json_object();
	char *b64 = NULL;
	size_t cap;

	if (o == NULL) {
		return NULL;
	}
	json_object_set_new(o, "time_ms", json_integer(p->time_ms));
	switch (p->kind) {
	case RP_STORE_NUM:
		json_object_set_new(o, "kind", json_string("num"));
		json_object_set_new(o, "value", json_real(p->num));
		break;
	case RP_STORE_STR:
		json_object_set_new(o, "kind", json_string("str"));
		json_object_set_new(o, "value", json_string(p->str != NULL ? p->str : ""));
		break;
	case RP_STORE_BOOL:
		json_object_set_new(o, "kind", json_string("bool"));
		json_object_set_new(o, "value", json_boolean(p->boolean));
		break;
	case RP_STORE_DATA:
		json_object_set_new(o, "kind", json_string("data"));
		cap = RP_B64_LEN(p->data_len) + 1u;
		b64 = rp_alloc(NULL, cap);
		if (b64 != NULL && rp_secret_b64_encode(RP_B64_URL, p->data, p->data_len, b64, cap,
							NULL) == RP_OK) {
			json_object_set_new(o, "value", json_string(b64));
		}
		rp_free(NULL, b64);
		break;
	}
	if (p->unit != NULL && p->unit[0] != '\0') {
		json_object_set_new(o, "unit", json_string(p->unit));
	}
	return o;
}

/* name (required), from, to with from < to; 0 after replying. */
static int series_args(rp__api_req *r, const char **name, int64_t *from, int64_t *to)
{
	const rp__api_qval *v = rp__api_q(r, "name");

	if (v == NULL) {
		rp__api_fail(r, 400, "invalid_query", "query parameter 'name' is required");
		return 0;
	}
	*name = v->str;
	*from = (v = rp__api_q(r, "from")) != NULL ? v->num : 0;
	*to = (v = rp__api_q(r, "to")) != NULL ? v->num : RP_LIMIT_STORE_TIME_MAX_MS;
	if (*from >= *to) {
		rp__api_fail(r, 400, "invalid_query", "'from' must be before 'to'");
		return 0;
	}
	return 1;
}

void rp__api_h_telemetry(rp__api_req *r)
{
	char id[RP_LIMIT_STORE_ID_LEN + 1u];
	rp_store_series_query sq;
	rp_store_device *d = NULL;
	rp_store_point *rows = NULL;
	rp__api_cursor c, next;
	const rp__api_qval *v;
	json_t *items;
	size_t n = 0;
	int has;
	rp_status st;

	memset(&sq, 0, sizeof(sq));
	if (!series_args(r, &sq.name, &sq.from_ms, &sq.to_ms)) {
		return;
	}
	has = rp__api_after(r, 't', &c);
	if (has < 0 || !load_device(r, id, sizeof(id), &d)) {
		return;
	}
	sq.device = id;
	sq.limit = rp__api_limit(r, RP_DEFAULT_API_SERIES);
	sq.descending = (v = rp__api_q(r, "order")) != NULL && v->num == 1;
	sq.has_cursor = has;
	sq.after_time_ms = has ? c.a : 0;
	sq.after_seq = has ? c.b : 0;
	st = rp_store_telemetry_query(rp__api_store(r), &sq, &rows, &n, NULL, NULL);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "series");
		goto out;
	}
	items = json_array();
	for (size_t i = 0; i < n && items != NULL; i++) {
		json_array_append_new(items, point_json(&rows[i]));
	}
	memset(&next, 0, sizeof(next));
	if (n == sq.limit && n > 0) {
		next.kind = 't';
		next.a = rows[n - 1u].time_ms;
		next.b = rows[n - 1u].seq;
	}
	rp__api_reply_page(r, items, next.kind ? &next : NULL);
out:
	rp_store_free(rows);
	rp_store_free(d);
}

void rp__api_h_telemetry_agg(rp__api_req *r)
{
	char id[RP_LIMIT_STORE_ID_LEN + 1u];
	rp_store_agg_query aq;
	rp_store_device *d = NULL;
	rp_store_agg_row *rows = NULL;
	const rp__api_qval *v;
	json_t *items;
	size_t n = 0;
	rp_status st;

	memset(&aq, 0, sizeof(aq));
	if (!series_args(r, &aq.name, &aq.from_ms, &aq.to_ms)) {
		return;
	}
	if ((v = rp__api_q(r, "interval")) == NULL) {
		rp__api_fail(r, 400, "invalid_query",
			     "query parameter 'interval' is required (ms)");
		return;
	}
	aq.interval_ms = v->num;
	if ((aq.to_ms - aq.from_ms - 1) / aq.interval_ms + 1 > (int64_t)RP_LIMIT_API_BUCKETS) {
		rp__api_fail(r, 400, "invalid_query",
			     "at most %u intervals per query: narrow from..to or widen 'interval'",
			     RP_LIMIT_API_BUCKETS);
		return;
	}
	if (!load_device(r, id, sizeof(id), &d)) {
		return;
	}
	aq.device = id;
	st = rp_store_telemetry_aggregate(rp__api_store(r), &aq, &rows, &n, NULL, NULL);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "aggregate");
		goto out;
	}
	items = json_array();
	for (size_t i = 0; i < n && items != NULL; i++) {
		json_array_append_new(items,
				      json_pack("{s:I, s:f, s:f, s:f, s:I}", "start_ms",
						(json_int_t)rows[i].start_ms, "min", rows[i].min,
						"max", rows[i].max, "avg", rows[i].avg, "count",
						(json_int_t)rows[i].count));
	}
	rp__api_reply_page(r, items, NULL);
out:
	rp_store_free(rows);
	rp_store_free(d);
}

/* ------------------------------------------------------------------------
 * Commands
 * ------------------------------------------------------------------------ */

static json_t *command_json(const rp_store_command *c)
{
	unsigned s = (unsigned)c->status;

	return json_pack("{s:s, s:s, s:s, s:o, s:s, s:o, s:I, s:I}", "id", c->id, "device",
			 c->device_id, "name", c->name, "args", json_text(c->args), "status",
			 s < sizeof(cmd_status_names) / sizeof(cmd_status_names[0])
				 ? cmd_status_names[s]
				 : "?",
			 "result", json_text(c->result), "created_ms", (json_int_t)c->created_ms,
			 "answered_ms", (json_int_t)c->answered_ms);
}

void rp__api_h_command_send(rp__api_req *r)
{
	char id[RP_LIMIT_STORE_ID_LEN + 1u], cid[33], why[RP__API_WHY_CAP];
	char topic[RP_LIMIT_STORE_ID_LEN + RP_LIMIT_API_COMMAND_NAME_LEN + 16u];
	rp__api_command cmd;
	rp_store_device *d = NULL;
	rp_store_command sc, *stored = NULL;
	char *payload = NULL;
	size_t plen;
	rp_status st;

	st = rp__api_command_body(r->body, &cmd, why, sizeof(why));
	if (st == RP_E_NOMEM) {
		rp__api_fail(r, 503, "busy", "out of memory");
		return;
	}
	if (st != RP_OK) {
		rp__api_fail(r, 400, "invalid_body", "%s", why);
		return;
	}
	if (!load_device(r, id, sizeof(id), &d)) {
		goto out;
	}
	if (d->status == RP_STORE_DEVICE_REVOKED || d->status == RP_STORE_DEVICE_DECOMMISSIONED) {
		rp__api_fail(r, 409, "conflict", "the device is %s", device_status_name(d->status));
		goto out;
	}
	if (rp__api_new_id(cid) != RP_OK) {
		rp__api_fail(r, 500, "internal", "no random id");
		goto out;
	}
	memset(&sc, 0, sizeof(sc));
	sc.id = cid;
	sc.device_id = id;
	sc.name = cmd.name;
	sc.args = cmd.args;
	sc.result = "";
	sc.created_ms = r->now_ms;
	st = rp_store_command_create(rp__api_store(r), &sc, NULL, NULL);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "command");
		goto out;
	}
	plen = cmd.args_len + 64u;
	payload = rp_alloc(NULL, plen);
	if (payload == NULL) {
		rp__api_fail(r, 503, "busy", "out of memory");
		goto out;
	}
	plen = (size_t)snprintf(payload, plen, "{\"id\":\"%s\",\"args\":%s}", cid, cmd.args);
	snprintf(topic, sizeof(topic), "d/%s/cmd/%s", id, cmd.name);
	st = rp__api_publish(r, topic, (const uint8_t *)payload, plen);
	(void)rp_store_command_set_status(rp__api_store(r), cid,
					  st == RP_OK ? RP_STORE_CMD_SENT : RP_STORE_CMD_FAILED,
					  NULL, NULL);
	rp__api_audit(
		r, "device.command", id,
		json_pack("{s:s, s:s, s:b}", "command", cmd.name, "id", cid, "sent", st == RP_OK));
	if (st != RP_OK) {
		rp__api_header(r, "Retry-After: 5");
		rp__api_fail(r, 503, "publish_failed",
			     "the broker did not take the command (%s); it is recorded as failed "
			     "(id %s)",
			     st == RP_E_STATE ? "no broker" : rp_status_str(st), cid);
		goto out;
	}
	st = rp_store_command_get(rp__api_store(r), cid, &stored, NULL, NULL);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "command");
		goto out;
	}
	rp__api_header(r, "Location: /api/v1/devices/%s/commands/%s", id, cid);
	rp__api_reply(r, 201, command_json(stored));
out:
	rp_free(NULL, payload);
	rp_free(NULL, cmd.args);
	rp_store_free(stored);
	rp_store_free(d);
}

void rp__api_h_commands(rp__api_req *r)
{
	char id[RP_LIMIT_STORE_ID_LEN + 1u];
	rp_store_device *d = NULL;
	rp_store_command *rows = NULL;
	rp__api_cursor c, next;
	json_t *items;
	size_t n = 0, limit;
	int has;
	rp_status st;

	has = rp__api_after(r, 'c', &c);
	if (has < 0 || !load_device(r, id, sizeof(id), &d)) {
		return;
	}
	limit = rp__api_limit(r, RP_DEFAULT_API_PAGE);
	st = rp_store_command_list(rp__api_store(r), id, has ? c.a : 0, has ? c.s : NULL, limit,
				   &rows, &n, NULL, NULL);
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "command list");
		goto out;
	}
	items = json_array();
	for (size_t i = 0; i < n && items != NULL; i++) {
		json_array_append_new(items, command_json(&rows[i]));
	}
	memset(&next, 0, sizeof(next));
	if (n == limit && n > 0) {
		next.kind = 'c';
		next.a = rows[n - 1u].created_ms;
		snprintf(next.s, sizeof(next.s), "%s", rows[n - 1u].id);
	}
	rp__api_reply_page(r, items, next.kind ? &next : NULL);
out:
	rp_store_free(rows);
	rp_store_free(d);
}

void rp__api_h_command(rp__api_req *r)
{
	char id[RP_LIMIT_STORE_ID_LEN + 1u], cid[33];
	rp_store_command *c = NULL;
	rp_status st;

	if (rp__api_param(r, 0, id, sizeof(id)) == NULL ||
	    rp__api_param(r, 1, cid, sizeof(cid)) == NULL) {
		rp__api_fail(r, 400, "invalid_path", "bad device or command id");
		return;
	}
	st = rp_store_command_get(rp__api_store(r), cid, &c, NULL, NULL);
	if (st == RP_OK && strcmp(c->device_id, id) != 0) {
		st = RP_E_NOT_FOUND; /* another device's command */
	}
	if (st != RP_OK) {
		rp__api_fail_status(r, st, "command");
	} else {
		rp__api_reply(r, 200, command_json(c));
	}
	rp_store_free(c);
}

/* ------------------------------------------------------------------------
 * Command results, from the broker (asynchronous, two store operations)
 * ------------------------------------------------------------------------ */

typedef struct result_job {
	rp_store *st;
	rp_store_command *cmd; /* filled by the get */
	char device[RP_LIMIT_STORE_ID_LEN + 1u];
	char name[RP_LIMIT_API_COMMAND_NAME_LEN + 1u];
	rp__api_cmd_result res;
	int64_t now_ms;
	rp_store_done_fn done;
	void *ctx;
} result_job;

static void job_end(result_job *j, rp_status st)
{
	rp_store_done_fn done = j->done;
	void *ctx = j->ctx;

	rp_store_free(j->cmd);
	rp_free(NULL, j->res.result);
	rp_free(NULL, j);
	if (done != NULL) {
		done(ctx, st);
	}
}

static void job_set(void *ctx, rp_status st)
{
	job_end(ctx, st);
}

/* On the storage thread: the command was read; check it, then record. */
static void job_got(void *ctx, rp_status st)
{
	result_job *j = ctx;
	const rp_store_command *c = j->cmd;

	if (st == RP_OK &&
	    (strcmp(c->device_id, j->device) != 0 || strcmp(c->name, j->name) != 0)) {
		st = RP_E_NOT_FOUND;
	}
	if (st == RP_OK && c->status != RP_STORE_CMD_PENDING && c->status != RP_STORE_CMD_SENT) {
		st = RP_E_STATE;
	}
	if (st == RP_OK) {
		st = rp_store_command_set_result(
			j->st, j->res.id, j->res.failed ? RP_STORE_CMD_FAILED : RP_STORE_CMD_DONE,
			j->res.result, j->now_ms, job_set, j);
		if (st == RP_OK) {
			return;
		}
	}
	job_end(j, st);
}

rp_status rp_api_command_result(rp_store *store, const char *device_id, const char *name,
				const uint8_t *payload, size_t len, int64_t now_ms,
				rp_store_done_fn done, void *ctx)
{
	result_job *j;
	rp_status st;

	if (store == NULL || device_id == NULL || name == NULL ||
	    rp__api_check_device_id(device_id, strlen(device_id)) != RP_OK ||
	    rp__api_check_command_name(name, strlen(name)) != RP_OK) {
		return RP_E_MALFORMED;
	}
	j = rp_calloc(NULL, 1, sizeof(*j));
	if (j == NULL) {
		return RP_E_NOMEM;
	}
	st = rp__api_cmd_result_parse(payload, len, &j->res);
	if (st != RP_OK) {
		rp_free(NULL, j);
		return st;
	}
	j->st = store;
	snprintf(j->device, sizeof(j->device), "%s", device_id);
	snprintf(j->name, sizeof(j->name), "%s", name);
	j->now_ms = now_ms;
	j->done = done;
	j->ctx = ctx;
	st = rp_store_command_get(store, j->res.id, &j->cmd, job_got, j);
	if (st != RP_OK) {
		rp_free(NULL, j->res.result);
		rp_free(NULL, j);
	}
	return st;
}
