/*
 * agent/apps.c - the local applications' socket (docs/agent.md, "The
 * socket").
 *
 * A UNIX stream socket; each line a client writes is one JSON object:
 *   {"n": NAME, "u": UNIT?, "v": NUMBER | "vb": BOOL | "vs": STRING, "t": MS?}
 *                                      a reading (SenML's names)
 *   {"op": "register", "commands": [NAME, ...]}
 *                                      this client answers these commands
 *   {"op": "result", "name": N, "id": ID, "status": "done"|"failed", "result"?: ANY}
 *                                      its answer to a command
 * and the agent writes lines back:
 *   {"op": "command", "name": N, "id": ID, "args": ANY}
 *   {"op": "ok"} after register, {"op": "error", "error": WHY} for a bad line.
 *
 * Who may connect is the socket file's mode (socket.mode, 0660 by default:
 * the agent's user and group): the filesystem is the access control, as
 * for any local daemon. A bad line is answered and skipped; a line longer
 * than APPS_LINE_MAX, or a client that does not read its answers, is
 * disconnected. Nothing a client sends can reach another client.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "apps.h"

static void client_close(agent_apps *a, size_t i);

rp_status agent_apps_open(agent_apps *a, const agent_config *c, rp_device *dev)
{
	struct sockaddr_un sa;
	struct stat sb;
	mode_t old;
	int fd;

	memset(a, 0, sizeof(*a));
	a->listen_fd = -1;
	a->dev = dev;
	for (size_t i = 0; i < APPS_MAX_CLIENTS; i++) {
		a->clients[i].fd = -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(c->socket_path) >= sizeof(sa.sun_path)) {
		agent_log(3, "socket.path %s is too long", c->socket_path);
		return RP_E_CONFIG;
	}
	strcpy(sa.sun_path, c->socket_path);
	/* A socket left by a previous run is replaced; anything else is not. */
	if (lstat(c->socket_path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			agent_log(3, "socket.path %s exists and is not a socket", c->socket_path);
			return RP_E_CONFIG;
		}
		unlink(c->socket_path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		agent_log(3, "socket: %s", strerror(errno));
		return RP_E_IO;
	}
	/* Created with the configured mode from the start: no window in which
	 * others could connect. */
	old = umask((mode_t)(~c->socket_mode & 0777u));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		umask(old);
		agent_log(3, "cannot bind %s: %s", c->socket_path, strerror(errno));
		close(fd);
		return RP_E_IO;
	}
	umask(old);
	if (listen(fd, 16) != 0) {
		agent_log(3, "cannot listen on %s: %s", c->socket_path, strerror(errno));
		close(fd);
		unlink(c->socket_path);
		return RP_E_IO;
	}
	a->listen_fd = fd;
	snprintf(a->path, sizeof(a->path), "%s", c->socket_path);
	return RP_OK;
}

static void reply(agent_apps *a, size_t i, json_t *msg)
{
	agent_app_client *cl = &a->clients[i];
	char *text = json_dumps(msg, JSON_COMPACT);
	size_t n;
	ssize_t w;

	json_decref(msg);
	if (text == NULL) {
		return;
	}
	n = strlen(text);
	text[n] = '\n'; /* replaces the NUL; we write n + 1 bytes */
	w = send(cl->fd, text, n + 1u, MSG_NOSIGNAL | MSG_DONTWAIT);
	free(text);
	/* A client that does not read its answers is not worth buffering for. */
	if (w != (ssize_t)(n + 1u)) {
		agent_log(4, "app client %d: cannot write to it (%s); disconnected", cl->fd,
			  w < 0 ? strerror(errno) : "socket buffer full");
		client_close(a, i);
	}
}

static void reply_error(agent_apps *a, size_t i, const char *why)
{
	reply(a, i, json_pack("{s:s, s:s}", "op", "error", "error", why));
}

/* agent.h. */
int agent_decimal_of(double v, int64_t *mantissa, int *exp10)
{
	char buf[40], digits[24];
	int p, e = 0, nd = 0, point = -1, neg = 0;
	const char *s;

	if (!isfinite(v)) {
		return 0;
	}
	for (p = 1; p <= 17; p++) {
		snprintf(buf, sizeof(buf), "%.*e", p - 1, v);
		if (strtod(buf, NULL) == v) {
			break;
		}
	}
	/* buf: [-]D[.DDD]e[+-]XX */
	s = buf;
	if (*s == '-') {
		neg = 1;
		s++;
	}
	for (; *s != 'e' && *s != '\0'; s++) {
		if (*s == '.') {
			point = nd;
		} else if (nd < 20) {
			digits[nd++] = *s;
		}
	}
	if (*s == 'e') {
		e = atoi(s + 1);
	}
	if (point < 0) {
		point = nd;
	}
	/* value = 0.DIGITS... scaled: digits with the point after `point`
	 * digits, times 10^e. */
	int64_t m = 0;
	for (int k = 0; k < nd; k++) {
		m = m * 10 + (digits[k] - '0');
	}
	int x = e - (nd - point);
	/* Trailing zeros of the mantissa go into the exponent. */
	while (m != 0 && m % 10 == 0 && x < 30) {
		m /= 10;
		x++;
	}
	if (m == 0) {
		x = 0;
	}
	if (x < -30 || x > 30) {
		return 0;
	}
	*mantissa = neg ? -m : m;
	*exp10 = x;
	return 1;
}

static void on_reading(agent_apps *a, size_t i, json_t *o)
{
	const char *n = json_string_value(json_object_get(o, "n"));
	json_t *u = json_object_get(o, "u"), *v = json_object_get(o, "v");
	json_t *vb = json_object_get(o, "vb"), *vs = json_object_get(o, "vs");
	json_t *t = json_object_get(o, "t");
	const char *unit = json_string_value(u);
	int64_t ms = 0, m;
	int x, values = (v != NULL) + (vb != NULL) + (vs != NULL);
	rp_status st;

	if (n == NULL || (u != NULL && unit == NULL) || values != 1 ||
	    (t != NULL && !json_is_integer(t))) {
		reply_error(a, i,
			    "a reading is {\"n\": NAME, \"u\"?: UNIT, one of \"v\" (number), "
			    "\"vb\" (boolean), \"vs\" (string), \"t\"?: Unix ms}");
		return;
	}
	if (t != NULL) {
		ms = (int64_t)json_integer_value(t);
	}
	if (v != NULL) {
		if (!json_is_number(v)) {
			reply_error(a, i, "\"v\" is not a number");
			return;
		}
		if (json_is_integer(v)) {
			m = (int64_t)json_integer_value(v);
			x = 0;
		} else if (!agent_decimal_of(json_real_value(v), &m, &x)) {
			reply_error(a, i, "\"v\" is out of range (|exponent| <= 30)");
			return;
		}
		st = rp_device_number(a->dev, n, unit, m, x, ms);
	} else if (vb != NULL) {
		if (!json_is_boolean(vb)) {
			reply_error(a, i, "\"vb\" is not a boolean");
			return;
		}
		st = rp_device_bool(a->dev, n, unit, json_is_true(vb), ms);
	} else {
		if (!json_is_string(vs)) {
			reply_error(a, i, "\"vs\" is not a string");
			return;
		}
		st = rp_device_string(a->dev, n, unit, json_string_value(vs), ms);
	}
	if (st == RP_E_INVALID_ARG) {
		reply_error(a, i,
			    "the reading was refused: a name, unit, time or value outside "
			    "SenML's rules (docs/telemetry.md)");
	} else if (st == RP_E_BUSY) {
		reply_error(a, i,
			    "the telemetry queue is full (queue.full stop): reading not kept");
	} else if (st != RP_OK) {
		reply_error(a, i, "the telemetry queue cannot be written: reading not kept");
	} else {
		a->readings++;
	}
}

/* The owner of command name, or -1. */
static int owner_of(const agent_apps *a, const char *name)
{
	for (size_t i = 0; i < APPS_MAX_CLIENTS; i++) {
		const agent_app_client *cl = &a->clients[i];
		if (cl->fd < 0) {
			continue;
		}
		for (size_t k = 0; k < cl->ncommands; k++) {
			if (strcmp(cl->commands[k], name) == 0) {
				return (int)i;
			}
		}
	}
	return -1;
}

/* The device runtime's handler for commands the applications registered. */
static rp_device_status forward(void *ctx, rp_device *dev, const rp_device_cmd *cmd, char *result,
				size_t cap, size_t *result_len)
{
	agent_apps *a = ctx;
	int i = owner_of(a, cmd->name);
	json_error_t je;
	json_t *args;

	(void)dev;
	if (i < 0) {
		*result_len = (size_t)snprintf(
			result, cap, "{\"error\":\"no application handles this command now\"}");
		return RP_DEVICE_FAILED;
	}
	args = json_loadb(cmd->args, cmd->args_len, JSON_DECODE_ANY, &je);
	reply(a, (size_t)i,
	      json_pack("{s:s, s:s, s:s, s:o}", "op", "command", "name", cmd->name, "id", cmd->id,
			"args", args != NULL ? args : json_null()));
	return RP_DEVICE_PENDING;
}

static void on_register(agent_apps *a, size_t i, json_t *o)
{
	agent_app_client *cl = &a->clients[i];
	json_t *list = json_object_get(o, "commands"), *e;
	size_t k;

	if (!json_is_array(list) || json_array_size(list) == 0 ||
	    json_array_size(list) + cl->ncommands > APPS_MAX_COMMANDS) {
		reply_error(a, i, "register needs \"commands\": a list of 1 to 16 names");
		return;
	}
	json_array_foreach(list, k, e)
	{
		const char *name = json_string_value(e);
		int owner = name != NULL ? owner_of(a, name) : -1;
		if (name == NULL || strlen(name) >= sizeof(cl->commands[0]) ||
		    strcmp(name, "status") == 0 || strcmp(name, "reboot") == 0 ||
		    (owner >= 0 && (size_t)owner != i)) {
			reply_error(a, i,
				    "a command name is not a string of at most 64 bytes, is "
				    "built in (status, reboot), or another application has it");
			return;
		}
	}
	json_array_foreach(list, k, e)
	{
		const char *name = json_string_value(e);
		if (owner_of(a, name) >= 0) {
			continue;
		}
		if (rp_device_command(a->dev, name, forward, a) != RP_OK) {
			reply_error(a, i,
				    "a command name is not valid (1-64 of A-Z a-z 0-9 - _ .)");
			return;
		}
		strcpy(cl->commands[cl->ncommands++], name);
		agent_log(6, "app client %d handles command %s", cl->fd, name);
	}
	reply(a, i, json_pack("{s:s}", "op", "ok"));
}

static void on_result(agent_apps *a, size_t i, json_t *o)
{
	const char *name = json_string_value(json_object_get(o, "name"));
	const char *id = json_string_value(json_object_get(o, "id"));
	const char *status = json_string_value(json_object_get(o, "status"));
	json_t *res = json_object_get(o, "result");
	char *text = NULL;
	rp_status st;

	if (name == NULL || id == NULL || status == NULL ||
	    (strcmp(status, "done") != 0 && strcmp(status, "failed") != 0) ||
	    owner_of(a, name) != (int)i) {
		reply_error(a, i,
			    "a result is {\"op\":\"result\", \"name\", \"id\", \"status\": "
			    "\"done\"|\"failed\", \"result\"?} for a command of yours");
		return;
	}
	if (res != NULL) {
		text = json_dumps(res, JSON_COMPACT | JSON_ENCODE_ANY);
	}
	st = rp_device_answer(a->dev, name, id,
			      strcmp(status, "done") == 0 ? RP_DEVICE_DONE : RP_DEVICE_FAILED, text,
			      text != NULL ? strlen(text) : 0u);
	free(text);
	if (st == RP_E_NOT_FOUND) {
		reply_error(a, i, "no such command is waiting for a result");
	} else if (st == RP_E_BUSY) {
		reply_error(a, i, "too many results wait for the link: send this one again later");
	} else if (st != RP_OK) {
		reply_error(a, i, "the result was refused (not JSON, or over 16 KiB)");
	}
}

static void on_line(agent_apps *a, size_t i, const char *line, size_t len)
{
	json_error_t je;
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	const char *op;

	if (!json_is_object(o)) {
		reply_error(a, i, "a line must be one JSON object");
		json_decref(o);
		return;
	}
	op = json_string_value(json_object_get(o, "op"));
	if (op == NULL && json_object_get(o, "n") != NULL) {
		on_reading(a, i, o);
	} else if (op != NULL && strcmp(op, "register") == 0) {
		on_register(a, i, o);
	} else if (op != NULL && strcmp(op, "result") == 0) {
		on_result(a, i, o);
	} else {
		reply_error(a, i,
			    "unknown line: a reading has \"n\"; \"op\" is register or result");
	}
	json_decref(o);
}

static void client_close(agent_apps *a, size_t i)
{
	agent_app_client *cl = &a->clients[i];

	if (cl->fd < 0) {
		return;
	}
	close(cl->fd);
	cl->fd = -1;
	cl->len = 0;
	cl->ncommands = 0; /* its commands are answered "no application" from now on */
}

static void client_read(agent_apps *a, size_t i)
{
	agent_app_client *cl = &a->clients[i];
	ssize_t n = recv(cl->fd, cl->buf + cl->len, sizeof(cl->buf) - cl->len, MSG_DONTWAIT);
	size_t start = 0;

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		client_close(a, i);
		return;
	}
	if (n < 0) {
		return;
	}
	cl->len += (size_t)n;
	for (size_t k = 0; k < cl->len && cl->fd >= 0; k++) {
		if (cl->buf[k] == '\n') {
			on_line(a, i, cl->buf + start, k - start);
			start = k + 1u;
		}
	}
	if (cl->fd < 0) {
		return;
	}
	memmove(cl->buf, cl->buf + start, cl->len - start);
	cl->len -= start;
	if (cl->len == sizeof(cl->buf)) {
		agent_log(4, "app client %d: a line longer than %zu bytes; disconnected", cl->fd,
			  sizeof(cl->buf));
		client_close(a, i);
	}
}

size_t agent_apps_pollfds(const agent_apps *a, struct pollfd *p, size_t cap)
{
	size_t n = 0;

	if (a->listen_fd >= 0 && n < cap) {
		p[n].fd = a->listen_fd;
		p[n].events = POLLIN;
		p[n++].revents = 0;
	}
	for (size_t i = 0; i < APPS_MAX_CLIENTS && n < cap; i++) {
		if (a->clients[i].fd >= 0) {
			p[n].fd = a->clients[i].fd;
			p[n].events = POLLIN;
			p[n++].revents = 0;
		}
	}
	return n;
}

void agent_apps_handle(agent_apps *a, const struct pollfd *p, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		if (p[k].revents == 0) {
			continue;
		}
		if (p[k].fd == a->listen_fd) {
			int fd = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			size_t i;
			if (fd < 0) {
				continue;
			}
			for (i = 0; i < APPS_MAX_CLIENTS && a->clients[i].fd >= 0; i++) {
			}
			if (i == APPS_MAX_CLIENTS) {
				agent_log(4, "app socket: %u clients already; one refused",
					  APPS_MAX_CLIENTS);
				close(fd);
				continue;
			}
			memset(&a->clients[i], 0, sizeof(a->clients[i]));
			a->clients[i].fd = fd;
			continue;
		}
		for (size_t i = 0; i < APPS_MAX_CLIENTS; i++) {
			if (a->clients[i].fd == p[k].fd) {
				client_read(a, i);
				break;
			}
		}
	}
}

void agent_apps_close(agent_apps *a)
{
	if (a->dev == NULL) {
		return; /* never opened */
	}
	for (size_t i = 0; i < APPS_MAX_CLIENTS; i++) {
		client_close(a, i);
	}
	if (a->listen_fd >= 0) {
		close(a->listen_fd);
		unlink(a->path);
		a->listen_fd = -1;
	}
}
