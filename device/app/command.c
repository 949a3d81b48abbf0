/*
 * command.c - commands from rampartd and their results (rampart/device.h).
 *
 * Implementation notes
 *
 * The way in: the link delivers every message on the subscribed topics to
 * rp__device_on_message(). Only d/{id}/cmd/{name} with exactly one level
 * for name is a command; anything else is ignored. The payload comes from
 * rampartd, which is authenticated, but it forwards what an operator or a
 * service wrote: it is read like any input from the network. Its size is
 * checked before it is parsed, it must be a JSON object (jansson, duplicate
 * keys refused), its "id" a string of 1 to 64 printable ASCII characters
 * (it goes into log lines and into the result). Without a usable id no
 * result can be matched to the command, so such a message is logged and
 * dropped. Everything else that is wrong is answered "failed" with
 * {"error": why}, without calling any handler.
 *
 * At least once: a QoS 1 command may come twice (a PUBACK lost in a
 * reconnect). The last RP__DEVICE_RECENT (name, id) pairs are remembered,
 * and a command seen again is not run again.
 *
 * State
 * - handlers[]: registered names; grown with realloc.
 * - pending[RP_DEVICE_PENDING_MAX]: a slot is taken before a handler is
 *   called (HANDLER) so that a command answered later always has a place;
 *   it stays (WAIT) when the handler returns PENDING, until
 *   rp_device_answer(). No free slot: the command is answered "failed".
 * - results[RP_DEVICE_RESULTS_MAX]: results from creation to rampartd's
 *   PUBACK, oldest first (seq). WAIT: to publish when the link is
 *   connected (and retry_at is past); INFLIGHT: the link holds a copy and
 *   resends it across reconnects until its done callback. No free slot: a
 *   handler's result is dropped and logged; rp_device_answer() says
 *   RP_E_BUSY and keeps the command pending.
 *
 * Secrets: arguments and results may hold them. They are never logged;
 * the result buffers are wiped before they are freed.
 */
#include "app/device_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "rampart/mqtt.h"

#define LOG_NAME 80u /* a name as a log line shows it: 64 bytes and "..." */

/* ---- names and ids -------------------------------------------------------------------------- */

static int name_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.';
}

static int name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > RP_DEVICE_NAME_MAX) {
		return 0;
	}
	for (i = 0; i < len; i++) {
		if (!name_char((unsigned char)s[i])) {
			return 0;
		}
	}
	return 1;
}

static int id_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > RP_DEVICE_NAME_MAX) {
		return 0;
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) {
			return 0;
		}
	}
	return 1;
}

/* A name from the wire as a log line may show it: printable ASCII, cut. */
static void log_name(char *out, size_t cap, const char *s, size_t len)
{
	size_t i, n = len < RP_DEVICE_NAME_MAX ? len : RP_DEVICE_NAME_MAX;

	if (n > cap - 4u) {
		n = cap - 4u;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		out[i] = c > 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[n] = '\0';
	if (n < len) {
		memcpy(out + n, "...", 4);
	}
}

/* ---- results ------------------------------------------------------------------------------------
 */

static void result_release(rp__device_result *r)
{
	if (r->msg != NULL) {
		OPENSSL_cleanse(r->msg, r->topic_len + 1u + r->payload_len);
		free(r->msg);
	}
	memset(r, 0, sizeof(*r));
	r->state = RP__RES_FREE;
}

static int permanent_refusal(uint8_t rc)
{
	return rc == RP_MQTT_RC_NOT_AUTHORIZED || rc == RP_MQTT_RC_TOPIC_NAME_INVALID ||
	       rc == RP_MQTT_RC_PACKET_TOO_LARGE || rc == RP_MQTT_RC_PAYLOAD_FORMAT_INVALID;
}

static void result_done(void *ctx, rp_status st, uint8_t rc)
{
	rp__device_result *r = ctx;
	rp_device *d = r->dev;
	uint32_t delay;

	d->blocked = 0;
	if (st == RP_OK) {
		d->stats.results++;
		result_release(r);
		return;
	}
	if (st == RP_E_CLOSED) {
		r->state = RP__RES_WAIT; /* the link was replaced: the next one sends it */
		return;
	}
	if (st == RP_E_TOO_LARGE || (st == RP_E_DENIED && permanent_refusal(rc))) {
		if (st == RP_E_TOO_LARGE) {
			rp__device_log(d, 3,
				       "command %s id %s: result too large for the server: dropped",
				       r->name, r->id);
		} else {
			rp__device_log(
				d, 3,
				"command %s id %s: result refused by rampartd (PUBACK 0x%02X): "
				"dropped",
				r->name, r->id, rc);
		}
		result_release(r);
		return;
	}
	delay = rp__device_retry_delay(r->refusals);
	if (r->refusals < 31u) {
		r->refusals++;
	}
	r->state = RP__RES_WAIT;
	r->retry_at = rp__device_now() + delay;
	rp__device_log(
		d, 4,
		"command %s id %s: result refused by rampartd (PUBACK 0x%02X): again in %u ms",
		r->name, r->id, rc, delay);
}

/* The oldest result waiting, or NULL. */
static rp__device_result *oldest_waiting(rp_device *d, uint64_t now)
{
	rp__device_result *best = NULL;
	size_t i;

	for (i = 0; i < RP_DEVICE_RESULTS_MAX; i++) {
		rp__device_result *r = &d->results[i];

		if (r->state == RP__RES_WAIT && r->retry_at <= now &&
		    (best == NULL || r->seq < best->seq)) {
			best = r;
		}
	}
	return best;
}

void rp__device_results_pump(rp_device *d, uint64_t now)
{
	rp__device_result *r;
	rp_link_message m;
	rp_status st;

	while (rp_link_get_state(d->link) == RP_LINK_CONNECTED &&
	       (r = oldest_waiting(d, now)) != NULL) {
		memset(&m, 0, sizeof(m));
		m.topic = r->msg;
		m.topic_len = r->topic_len;
		m.payload = (const uint8_t *)r->msg + r->topic_len + 1u;
		m.payload_len = r->payload_len;
		m.qos = 1;
		st = rp_link_publish(d->link, &m, result_done, r);
		if (st == RP_OK) {
			r->state = RP__RES_INFLIGHT;
			if (!r->logged) {
				r->logged = 1;
				rp__device_log(d, 6, "command %s id %s: result %s sent", r->name,
					       r->id, r->status);
			}
			continue;
		}
		if (st == RP_E_BUSY || st == RP_E_STATE) {
			d->blocked = 1;
			return;
		}
		if (st == RP_E_TOO_LARGE || st == RP_E_BUF_TOO_SMALL) {
			result_done(r, RP_E_TOO_LARGE, 0);
			continue;
		}
		r->retry_at = now + RP__DEVICE_RETRY_MIN_MS;
		rp__device_log(d, 3, "command %s id %s: result not published (%s)", r->name, r->id,
			       rp_status_str(st));
	}
}

uint64_t rp__device_results_due(const rp_device *d)
{
	uint64_t due = UINT64_MAX;
	size_t i;

	for (i = 0; i < RP_DEVICE_RESULTS_MAX; i++) {
		if (d->results[i].state == RP__RES_WAIT && d->results[i].retry_at < due) {
			due = d->results[i].retry_at;
		}
	}
	return due;
}

/* Appends s[0..len) JSON-escaped (s is printable ASCII: only " and \ need it). */
static size_t put_escaped(char *out, const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\') {
			out[n++] = '\\';
		}
		out[n++] = s[i];
	}
	return n;
}

/*
 * Queues the result {"id", "status", "result"?} of command `name` (raw
 * topic level, name_len bytes) for publication on d/{cid}/cmd/{name}/result.
 * result: JSON text already checked, or NULL. Returns RP_OK, RP_E_BUSY (no
 * free slot), RP_E_NOMEM.
 */
static rp_status result_queue(rp_device *d, const char *name, size_t name_len, const char *id,
			      int failed, const char *result, size_t result_len)
{
	static const char sep[] = "/cmd/";
	rp__device_result *r = NULL;
	const char *status = failed ? "failed" : "done";
	size_t i, cid = strlen(d->client_id), idlen = strlen(id), cap, n;
	char *p;

	for (i = 0; i < RP_DEVICE_RESULTS_MAX && r == NULL; i++) {
		if (d->results[i].state == RP__RES_FREE) {
			r = &d->results[i];
		}
	}
	if (r == NULL) {
		return RP_E_BUSY;
	}
	/* topic NUL {"id":"...","status":"failed","result":...} NUL */
	cap = 2u + cid + sizeof(sep) + name_len + sizeof("/result") + 64u + 2u * idlen + result_len;
	p = malloc(cap);
	if (p == NULL) {
		return RP_E_NOMEM;
	}
	n = (size_t)snprintf(p, cap, "d/%s%s", d->client_id, sep);
	memcpy(p + n, name, name_len);
	n += name_len;
	memcpy(p + n, "/result", sizeof("/result"));
	r->topic_len = n + sizeof("/result") - 1u;
	n = r->topic_len + 1u;
	memcpy(p + n, "{\"id\":\"", 7);
	n += 7;
	n += put_escaped(p + n, id, idlen);
	n += (size_t)snprintf(p + n, cap - n, "\",\"status\":\"%s\"", status);
	if (result != NULL && result_len != 0) {
		memcpy(p + n, ",\"result\":", 10);
		n += 10;
		memcpy(p + n, result, result_len);
		n += result_len;
	}
	p[n++] = '}';
	p[n] = '\0';
	r->payload_len = n - r->topic_len - 1u;
	r->msg = p;
	r->dev = d;
	log_name(r->name, sizeof(r->name), name, name_len);
	(void)snprintf(r->id, sizeof(r->id), "%s", id);
	r->status = status;
	r->seq = ++d->result_seq;
	r->retry_at = 0;
	r->refusals = 0;
	r->logged = 0;
	r->state = RP__RES_WAIT;
	return RP_OK;
}

/* A result the runtime makes itself: {"error": why}. */
static void answer_error(rp_device *d, const char *name, size_t name_len, const char *id,
			 const char *why)
{
	char text[160], lname[LOG_NAME];
	int n = snprintf(text, sizeof(text), "{\"error\":\"%s\"}", why);

	log_name(lname, sizeof(lname), name, name_len);
	rp__device_log(d, 4, "command %s id %s: %s: answered failed", lname, id, why);
	if (result_queue(d, name, name_len, id, 1, text, (size_t)n) != RP_OK) {
		rp__device_log(d, 3,
			       "command %s id %s: result failed dropped: %u results already wait "
			       "for rampartd",
			       lname, id, RP_DEVICE_RESULTS_MAX);
	}
}

/* 1 when text[0..len) is one JSON value. */
static int json_text_ok(const char *text, size_t len)
{
	json_error_t err;
	json_t *j = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);

	if (j == NULL) {
		return 0;
	}
	json_decref(j);
	return 1;
}

/* ---- the way in ---------------------------------------------------------------------------------
 */

static int recent_has(const rp_device *d, const char *name, const char *id)
{
	size_t i;

	for (i = 0; i < RP__DEVICE_RECENT; i++) {
		if (strcmp(d->recent[i].id, id) == 0 && strcmp(d->recent[i].name, name) == 0) {
			return 1;
		}
	}
	return 0;
}

static void recent_add(rp_device *d, const char *name, const char *id)
{
	(void)snprintf(d->recent[d->recent_next].name, RP__DEVICE_WORD, "%s", name);
	(void)snprintf(d->recent[d->recent_next].id, RP__DEVICE_WORD, "%s", id);
	d->recent_next = (d->recent_next + 1u) % RP__DEVICE_RECENT;
}

static const rp__device_handler *handler_find(const rp_device *d, const char *name)
{
	size_t i;

	for (i = 0; i < d->nhandlers; i++) {
		if (strcmp(d->handlers[i].name, name) == 0) {
			return &d->handlers[i];
		}
	}
	return NULL;
}

/*
 * Reads the payload: *id (copied) and *args (a JSON value, borrowed from
 * *root; NULL when absent). Returns NULL on success, else why there is no
 * usable id (the message cannot be answered).
 */
static const char *read_payload(const rp_link_message *m, json_t **root, char id[RP__DEVICE_WORD],
				json_t **args)
{
	json_error_t err;
	const json_t *jid;
	size_t len;

	*root = NULL;
	*args = NULL;
	if (m->payload_len > RP_DEVICE_COMMAND_MAX + RP_DEVICE_ENVELOPE) {
		return "payload too large";
	}
	*root = json_loadb((const char *)m->payload, m->payload_len, JSON_REJECT_DUPLICATES, &err);
	if (*root == NULL || !json_is_object(*root)) {
		return "payload is not a JSON object";
	}
	jid = json_object_get(*root, "id");
	if (jid == NULL || !json_is_string(jid)) {
		return "no \"id\" string";
	}
	len = json_string_length(jid);
	if (!id_ok(json_string_value(jid), len) || strlen(json_string_value(jid)) != len) {
		return "\"id\" is not 1 to 64 printable ASCII characters";
	}
	memcpy(id, json_string_value(jid), len + 1u);
	*args = json_object_get(*root, "args");
	return NULL;
}

/* Takes a pending slot for a command about to be handled, or NULL. */
static rp__device_pending *pending_take(rp_device *d, const char *name, const char *id)
{
	size_t i;

	for (i = 0; i < RP_DEVICE_PENDING_MAX; i++) {
		rp__device_pending *p = &d->pending[i];

		if (p->state == RP__PEND_FREE) {
			(void)snprintf(p->name, sizeof(p->name), "%s", name);
			(void)snprintf(p->id, sizeof(p->id), "%s", id);
			p->state = RP__PEND_HANDLER;
			return p;
		}
	}
	return NULL;
}

/* Runs the handler of a well-formed command and queues what it answered. */
static void run_handler(rp_device *d, const rp__device_handler *h, const char *name, const char *id,
			const json_t *args)
{
	rp_device_handler_fn fn = h->fn;
	void *hctx = h->ctx;
	rp__device_pending *p;
	rp_device_cmd cmd;
	rp_device_status s;
	char *text = NULL;
	size_t rlen = 0;
	const char *result;
	int failed;

	text = args != NULL ? json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	if (args != NULL && text == NULL) {
		answer_error(d, name, strlen(name), id, "out of memory");
		goto out;
	}
	if (text != NULL && strlen(text) > RP_DEVICE_COMMAND_MAX) {
		answer_error(d, name, strlen(name), id, "arguments too large");
		goto out;
	}
	p = pending_take(d, name, id);
	if (p == NULL) {
		answer_error(d, name, strlen(name), id, "too many commands pending");
		goto out;
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.name = p->name;
	cmd.id = p->id;
	cmd.args = text != NULL ? text : "null";
	cmd.args_len = strlen(cmd.args);
	s = fn(hctx, d, &cmd, d->answer, RP_DEVICE_COMMAND_MAX, &rlen);
	if (s == RP_DEVICE_PENDING) {
		p->state = RP__PEND_WAIT;
		goto out;
	}
	memset(p, 0, sizeof(*p));
	if ((s != RP_DEVICE_DONE && s != RP_DEVICE_FAILED) || rlen > RP_DEVICE_COMMAND_MAX ||
	    (rlen != 0 && !json_text_ok(d->answer, rlen))) {
		rp__device_log(d, 3,
			       "command %s id %s: the handler returned no valid status or result",
			       name, id);
		answer_error(d, name, strlen(name), id, "the handler failed");
		goto out;
	}
	failed = s == RP_DEVICE_FAILED;
	result = rlen != 0 ? d->answer : NULL;
	if (result_queue(d, name, strlen(name), id, failed, result, rlen) != RP_OK) {
		rp__device_log(d, 3,
			       "command %s id %s: result %s dropped: %u results already wait for "
			       "rampartd",
			       name, id, failed ? "failed" : "done", RP_DEVICE_RESULTS_MAX);
	}
out:
	OPENSSL_cleanse(d->answer, RP_DEVICE_COMMAND_MAX);
	if (text != NULL) {
		OPENSSL_cleanse(text, strlen(text));
		free(text);
	}
}

uint8_t rp__device_on_message(void *ctx, const rp_link_message *m)
{
	rp_device *d = ctx;
	size_t plen = 2u + strlen(d->client_id) + 5u, nlen;
	char id[RP__DEVICE_WORD], name[RP__DEVICE_WORD], lname[LOG_NAME];
	const rp__device_handler *h;
	const char *raw, *why;
	json_t *root = NULL, *args = NULL;

	/* d/{cid}/cmd/{name}: exactly one level after cmd/. */
	if (m->topic_len <= plen || m->topic[0] != 'd' || m->topic[1] != '/' ||
	    memcmp(m->topic + 2, d->client_id, plen - 7u) != 0 ||
	    memcmp(m->topic + plen - 5u, "/cmd/", 5) != 0 ||
	    memchr(m->topic + plen, '/', m->topic_len - plen) != NULL) {
		return 0;
	}
	raw = m->topic + plen;
	nlen = m->topic_len - plen;
	d->stats.commands++;
	log_name(lname, sizeof(lname), raw, nlen);
	if (m->retain) {
		rp__device_log(d, 4, "command %s: a retained message is not a command: ignored",
			       lname);
		return 0;
	}
	why = read_payload(m, &root, id, &args);
	if (why != NULL) {
		rp__device_log(d, 4, "command %s: %s: dropped (no id to answer)", lname, why);
		goto out;
	}
	if (!name_ok(raw, nlen)) {
		rp__device_log(d, 6, "command %s id %s received", lname, id);
		answer_error(d, raw, nlen, id, "unknown command");
		goto out;
	}
	memcpy(name, raw, nlen);
	name[nlen] = '\0';
	if (recent_has(d, name, id)) {
		rp__device_log(d, 6, "command %s id %s received again: not run again", name, id);
		goto out;
	}
	recent_add(d, name, id);
	rp__device_log(d, 6, "command %s id %s received", name, id);
	h = handler_find(d, name);
	if (h == NULL) {
		answer_error(d, raw, nlen, id, "unknown command");
		goto out;
	}
	run_handler(d, h, name, id, args);
out:
	json_decref(root);
	return 0;
}

/* ---- public
 * --------------------------------------------------------------------------------------- */

rp_status rp_device_command(rp_device *dev, const char *name, rp_device_handler_fn handler,
			    void *ctx)
{
	rp__device_handler *hs;
	size_t i;

	if (dev == NULL || name == NULL || handler == NULL || !name_ok(name, strlen(name))) {
		return RP_E_INVALID_ARG;
	}
	for (i = 0; i < dev->nhandlers; i++) {
		if (strcmp(dev->handlers[i].name, name) == 0) {
			dev->handlers[i].fn = handler;
			dev->handlers[i].ctx = ctx;
			return RP_OK;
		}
	}
	hs = realloc(dev->handlers, (dev->nhandlers + 1u) * sizeof(*hs));
	if (hs == NULL) {
		return RP_E_NOMEM;
	}
	dev->handlers = hs;
	memset(&hs[dev->nhandlers], 0, sizeof(hs[0]));
	(void)snprintf(hs[dev->nhandlers].name, RP__DEVICE_WORD, "%s", name);
	hs[dev->nhandlers].fn = handler;
	hs[dev->nhandlers].ctx = ctx;
	dev->nhandlers++;
	return RP_OK;
}

rp_status rp_device_answer(rp_device *dev, const char *name, const char *id,
			   rp_device_status status, const char *result, size_t result_len)
{
	rp__device_pending *p = NULL;
	size_t i;
	rp_status st;

	if (dev == NULL || name == NULL || id == NULL || (result == NULL && result_len != 0)) {
		return RP_E_INVALID_ARG;
	}
	for (i = 0; i < RP_DEVICE_PENDING_MAX && p == NULL; i++) {
		if (dev->pending[i].state == RP__PEND_WAIT &&
		    strcmp(dev->pending[i].name, name) == 0 &&
		    strcmp(dev->pending[i].id, id) == 0) {
			p = &dev->pending[i];
		}
	}
	if (p == NULL) {
		return RP_E_NOT_FOUND;
	}
	if ((status != RP_DEVICE_DONE && status != RP_DEVICE_FAILED) ||
	    result_len > RP_DEVICE_COMMAND_MAX ||
	    (result_len != 0 && !json_text_ok(result, result_len))) {
		return RP_E_INVALID_ARG;
	}
	st = result_queue(dev, p->name, strlen(p->name), p->id, status == RP_DEVICE_FAILED, result,
			  result_len);
	if (st != RP_OK) {
		return st; /* still pending: the caller may answer again */
	}
	memset(p, 0, sizeof(*p));
	return RP_OK;
}

void rp__device_commands_free(rp_device *d)
{
	size_t i, lost = 0;

	for (i = 0; i < RP_DEVICE_RESULTS_MAX; i++) {
		if (d->results[i].state != RP__RES_FREE) {
			lost++;
		}
		result_release(&d->results[i]);
	}
	if (lost != 0) {
		rp__device_log(d, 4, "%zu command result(s) not acknowledged by rampartd: dropped",
			       lost);
	}
	for (i = 0; i < RP_DEVICE_PENDING_MAX; i++) {
		if (d->pending[i].state == RP__PEND_WAIT) {
			rp__device_log(d, 4, "command %s id %s: never answered", d->pending[i].name,
				       d->pending[i].id);
		}
	}
	free(d->handlers);
	d->handlers = NULL;
	d->nhandlers = 0;
}

/* ---- test hooks
 * ------------------------------------------------------------------------------------ */

uint8_t rp__device_deliver(rp_device *d, const char *topic, const void *payload, size_t len,
			   int retain)
{
	rp_link_message m;

	memset(&m, 0, sizeof(m));
	m.topic = topic;
	m.topic_len = strlen(topic);
	m.payload = payload;
	m.payload_len = len;
	m.qos = 1;
	m.retain = (uint8_t)(retain != 0);
	return rp__device_on_message(d, &m);
}

rp_status rp__device_result_at(const rp_device *d, size_t i, const char **topic,
			       const char **payload)
{
	const rp__device_result *order[RP_DEVICE_RESULTS_MAX];
	size_t n = 0, a, b;

	for (a = 0; a < RP_DEVICE_RESULTS_MAX; a++) {
		if (d->results[a].state != RP__RES_FREE) {
			order[n++] = &d->results[a];
		}
	}
	for (a = 1; a < n; a++) { /* insertion sort by seq */
		const rp__device_result *x = order[a];

		for (b = a; b > 0 && order[b - 1]->seq > x->seq; b--) {
			order[b] = order[b - 1];
		}
		order[b] = x;
	}
	if (i >= n) {
		return RP_E_NOT_FOUND;
	}
	*topic = order[i]->msg;
	*payload = order[i]->msg + order[i]->topic_len + 1u;
	return RP_OK;
}

size_t rp__device_pending_count(const rp_device *d)
{
	size_t i, n = 0;

	for (i = 0; i < RP_DEVICE_PENDING_MAX; i++) {
		n += d->pending[i].state != RP__PEND_FREE;
	}
	return n;
}
