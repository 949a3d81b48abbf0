/*
 * agent/builtin.c - the agent's own commands (status, reboot) and its
 * collectors (periodic programs whose output is a reading).
 *
 * Programs are run without a shell (execv of an absolute path with the
 * configured words as arguments), with stdin from /dev/null, their stdout
 * read through a pipe (at most COLLECT_OUT_MAX bytes), stderr inherited
 * (the journal), and a deadline: a collector still running after
 * COLLECT_TIMEOUT_MS is killed and its reading skipped, with a warning.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "builtin.h"

#define COLLECT_TIMEOUT_MS 10000u
#define COLLECT_OUT_MAX    256u
#define REBOOT_DELAY_MS    2000u

/* fork + execv with stdout to a pipe (out_fd) or /dev/null (out_fd NULL). */
static pid_t spawn(char *const argv[], int *out_fd)
{
	int p[2] = {-1, -1};
	pid_t pid;

	if (out_fd != NULL && pipe2(p, O_CLOEXEC) != 0) {
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			if (out_fd == NULL) {
				dup2(null, 1);
			}
		}
		if (out_fd != NULL) {
			dup2(p[1], 1);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	if (out_fd != NULL) {
		close(p[1]);
		if (pid < 0) {
			close(p[0]);
		} else {
			fcntl(p[0], F_SETFL, O_NONBLOCK);
			*out_fd = p[0];
		}
	}
	return pid;
}

/* ---- status and reboot --------------------------------------------------- */

static rp_device_status on_status(void *ctx, rp_device *dev, const rp_device_cmd *cmd, char *result,
				  size_t cap, size_t *result_len)
{
	agent_builtin *b = ctx;
	static const char *const states[] = {"idle", "connecting", "connected", "waiting"};
	rp_device_stats s;
	json_t *o;
	char *text;

	(void)cmd;
	if (rp_device_get_stats(dev, &s) != RP_OK) {
		return RP_DEVICE_FAILED;
	}
	o = json_pack(
		"{s:s, s:s, s:I, s:{s:I, s:I}, s:{s:s, s:I, s:I, s:I},"
		" s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I}, s:{s:I}}",
		"agent", "rampart-agent " AGENT_VERSION, "device", b->c->device_id, "uptime_s",
		(json_int_t)((agent_mono_ms() - b->started_ms) / 1000), "certificate", "not_after",
		(json_int_t)agent_identity_not_after(b->id), "renew_at",
		(json_int_t)b->id->renew_at, "link", "state", states[s.link_state & 3u], "connects",
		(json_int_t)s.link.connects, "failures", (json_int_t)s.link.failures, "resumed",
		(json_int_t)s.link.resumed, "queue", "records", (json_int_t)s.queue.count, "bytes",
		(json_int_t)s.queue.bytes, "dropped", (json_int_t)s.queue.dropped, "lost",
		(json_int_t)s.queue.lost, "telemetry", "values", (json_int_t)s.values, "queued",
		(json_int_t)s.packs_queued, "delivered", (json_int_t)s.packs_delivered, "refused",
		(json_int_t)s.packs_refused, "apps", "readings", (json_int_t)b->apps->readings);
	text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (text == NULL || strlen(text) >= cap) {
		free(text);
		return RP_DEVICE_FAILED;
	}
	*result_len = strlen(text);
	memcpy(result, text, *result_len);
	free(text);
	return RP_DEVICE_DONE;
}

static rp_device_status on_reboot(void *ctx, rp_device *dev, const rp_device_cmd *cmd, char *result,
				  size_t cap, size_t *result_len)
{
	agent_builtin *b = ctx;

	(void)dev;
	if (b->c->reboot_argv[0] == NULL) {
		*result_len = (size_t)snprintf(
			result, cap, "{\"error\":\"this agent has no command.reboot configured\"}");
		return RP_DEVICE_FAILED;
	}
	if (strcmp(cmd->args, "null") != 0 && strcmp(cmd->args, "{}") != 0) {
		*result_len =
			(size_t)snprintf(result, cap, "{\"error\":\"reboot takes no arguments\"}");
		return RP_DEVICE_FAILED;
	}
	/* Run it a little later, so that this result leaves first. */
	b->reboot_at_ms = agent_mono_ms() + REBOOT_DELAY_MS;
	*result_len = (size_t)snprintf(result, cap, "{\"rebooting_in_ms\":%u}", REBOOT_DELAY_MS);
	agent_log(5, "reboot requested by command %s; running %s in %u ms", cmd->id,
		  b->c->reboot_argv[0], REBOOT_DELAY_MS);
	return RP_DEVICE_DONE;
}

rp_status agent_builtin_init(agent_builtin *b, const agent_config *c, agent_identity *id,
			     agent_apps *apps, rp_device *dev)
{
	int64_t now = agent_mono_ms();
	rp_status st;

	memset(b, 0, sizeof(*b));
	b->c = c;
	b->id = id;
	b->apps = apps;
	b->dev = dev;
	b->started_ms = now;
	for (size_t i = 0; i < c->ncollectors; i++) {
		b->runs[i].fd = -1;
		b->runs[i].pid = -1;
		/* The first run after one interval would delay the first reading
		 * of a long interval for nothing: run each once soon after start,
		 * spread over the first seconds. */
		b->runs[i].due_ms = now + 1000 + (int64_t)i * 250;
	}
	st = rp_device_command(dev, "status", on_status, b);
	if (st == RP_OK) {
		st = rp_device_command(dev, "reboot", on_reboot, b);
	}
	return st;
}

/* ---- collectors ---------------------------------------------------------- */

static void collect_finish(agent_builtin *b, size_t i, int killed)
{
	agent_collector_run *r = &b->runs[i];
	const agent_collector *k = &b->c->collectors[i];
	int status = 0;
	char *end;
	double v;
	int64_t m;
	int x;

	if (r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
	}
	if (killed) {
		kill(r->pid, SIGKILL);
	}
	while (waitpid(r->pid, &status, 0) < 0 && errno == EINTR) {
	}
	r->pid = -1;
	if (killed) {
		agent_log(4, "collect %s: still running after %u ms; killed, no reading", k->name,
			  COLLECT_TIMEOUT_MS);
		return;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		agent_log(4, "collect %s: %s exited with status %d; no reading", k->name,
			  k->argv[0], WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return;
	}
	r->out[r->len] = '\0';
	errno = 0;
	v = strtod(r->out, &end);
	while (*end == ' ' || *end == '\n' || *end == '\t' || *end == '\r') {
		end++;
	}
	if (end == r->out || *end != '\0' || errno != 0 || !agent_decimal_of(v, &m, &x)) {
		agent_log(4, "collect %s: the output is not one number; no reading", k->name);
		return;
	}
	if (rp_device_number(b->dev, k->name, k->unit[0] != '\0' ? k->unit : NULL, m, x,
			     agent_wall_ms()) != RP_OK) {
		agent_log(4, "collect %s: the reading was not kept (name, unit or queue)", k->name);
	}
}

size_t agent_builtin_pollfds(const agent_builtin *b, struct pollfd *p, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < b->c->ncollectors && n < cap; i++) {
		if (b->runs[i].fd >= 0) {
			p[n].fd = b->runs[i].fd;
			p[n].events = POLLIN;
			p[n++].revents = 0;
		}
	}
	return n;
}

void agent_builtin_handle(agent_builtin *b, const struct pollfd *p, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		for (size_t i = 0; i < b->c->ncollectors; i++) {
			agent_collector_run *r = &b->runs[i];
			ssize_t got;
			if (r->fd != p[k].fd || p[k].revents == 0) {
				continue;
			}
			got = read(r->fd, r->out + r->len, COLLECT_OUT_MAX - r->len);
			if (got > 0) {
				r->len += (size_t)got;
				if (r->len == COLLECT_OUT_MAX) {
					agent_log(4, "collect %s: more than %u bytes of output",
						  b->c->collectors[i].name, COLLECT_OUT_MAX);
					collect_finish(b, i, 1);
				}
			} else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
				collect_finish(b, i, 0);
			}
		}
	}
}

int agent_builtin_tick(agent_builtin *b)
{
	int64_t now = agent_mono_ms(), next = now + 60000;

	for (size_t i = 0; i < b->c->ncollectors; i++) {
		agent_collector_run *r = &b->runs[i];
		const agent_collector *k = &b->c->collectors[i];
		if (r->pid > 0 && now >= r->started_ms + COLLECT_TIMEOUT_MS) {
			collect_finish(b, i, 1);
		}
		if (r->pid < 0 && now >= r->due_ms) {
			r->len = 0;
			r->pid = spawn(k->argv, &r->fd);
			r->started_ms = now;
			r->due_ms = now + (int64_t)k->interval_ms;
			if (r->pid < 0) {
				agent_log(4, "collect %s: cannot run %s: %s", k->name, k->argv[0],
					  strerror(errno));
			}
		}
		if (r->pid > 0 && r->started_ms + COLLECT_TIMEOUT_MS < next) {
			next = r->started_ms + COLLECT_TIMEOUT_MS;
		}
		if (r->due_ms < next) {
			next = r->due_ms;
		}
	}
	if (b->reboot_at_ms != 0) {
		if (now >= b->reboot_at_ms) {
			pid_t pid = spawn(b->c->reboot_argv, NULL);
			b->reboot_at_ms = 0;
			if (pid < 0) {
				agent_log(3, "reboot: cannot run %s: %s", b->c->reboot_argv[0],
					  strerror(errno));
			} else {
				b->reboot_pid = pid;
			}
		} else if (b->reboot_at_ms < next) {
			next = b->reboot_at_ms;
		}
	}
	if (b->reboot_pid > 0 && waitpid(b->reboot_pid, NULL, WNOHANG) == b->reboot_pid) {
		b->reboot_pid = 0;
	}
	return next <= now ? 0 : (int)(next - now);
}

void agent_builtin_close(agent_builtin *b)
{
	if (b->c == NULL) {
		return; /* never initialised */
	}
	for (size_t i = 0; i < b->c->ncollectors; i++) {
		if (b->runs[i].pid > 0) {
			collect_finish(b, i, 1);
		}
	}
}
