/*
 * agent/main.c - rampart-agent: the reference device daemon for Linux
 * gateways (docs/agent.md).
 *
 *   rampart-agent -c FILE            run
 *   rampart-agent --check-config FILE
 *                                    report every problem of FILE, exit 0 or 1
 *
 * Start-up, in order: the configuration (refused whole on any problem);
 * privileges (as root it switches to `user`, and refuses to run as root
 * without one); the keystore (the device key is generated in it the first
 * time); the certificate (the stored one if it is ours and valid, else
 * enrollment with the one-time token, retried with backoff while the
 * server cannot be reached); the telemetry queue and the link; the local
 * socket; the collectors. Then one poll loop: the link, the socket, the
 * collectors, renewal at its time, and signals (SIGTERM and SIGINT stop it
 * cleanly: the current pack is queued, the queue synced).
 *
 * Exit status: 0 after a signal; 1 for a configuration or start-up problem
 * an operator must fix (the log line says which); 2 for bad arguments.
 */
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "agent.h"
#include "apps.h"
#include "builtin.h"
#include "identity.h"
#include "rampart/sealed.h"

#define MAX_POLL 64u

static void report(void *ctx, const char *file, unsigned line, const char *msg)
{
	(void)ctx;
	if (line == 0) {
		fprintf(stderr, "%s: %s\n", file, msg);
	} else {
		fprintf(stderr, "%s:%u: %s\n", file, line, msg);
	}
}

/* As root: become `user` (its groups too), or refuse. */
static int drop_privileges(const agent_config *c, int allow_root)
{
	struct passwd *pw;

	if (geteuid() != 0) {
		return 1;
	}
	if (c->user[0] == '\0') {
		if (allow_root) {
			agent_log(4, "running as root (--allow-root): the device key and the queue "
				     "are then root's");
			return 1;
		}
		agent_log(3,
			  "refusing to run as root: set `user` in %s (the agent switches to it) "
			  "or start it as an unprivileged user (packaging/rampart-agent.service)",
			  c->path);
		return 0;
	}
	pw = getpwnam(c->user);
	if (pw == NULL || pw->pw_uid == 0) {
		agent_log(3, "user %s: no such user, or it is root", c->user);
		return 0;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0 || setuid(0) == 0) {
		agent_log(3, "cannot switch to user %s: %s", c->user, strerror(errno));
		return 0;
	}
	return 1;
}

/* The state directory: ours, 0700. */
static int state_dir_ok(const agent_config *c)
{
	struct stat sb;

	if (mkdir(c->state_dir, 0700) != 0 && errno != EEXIST) {
		agent_log(3, "state_dir %s: %s", c->state_dir, strerror(errno));
		return 0;
	}
	if (stat(c->state_dir, &sb) != 0 || !S_ISDIR(sb.st_mode) || sb.st_uid != geteuid() ||
	    (sb.st_mode & 077) != 0) {
		agent_log(3, "state_dir %s must be a directory of ours with mode 0700",
			  c->state_dir);
		return 0;
	}
	return 1;
}

static int sigfd_make(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* 1 if a stop signal came (SIGHUP is logged: a restart reloads). */
static int sigfd_stop(int fd)
{
	struct signalfd_siginfo si;
	int stop = 0;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			agent_log(6,
				  "SIGHUP: the configuration is read at start; restart the agent "
				  "to apply changes");
		} else {
			stop = 1;
		}
	}
	return stop;
}

/* Waits ms, or less if a stop signal comes. Returns 1 on a stop signal. */
static int wait_or_stop(int sfd, int64_t ms)
{
	struct pollfd p = {sfd, POLLIN, 0};

	if (poll(&p, 1, ms > 600000 ? 600000 : (int)ms) > 0) {
		return sigfd_stop(sfd);
	}
	return 0;
}

static void on_link_event(void *ctx, const rp_link_event *ev)
{
	(void)ctx;
	if (ev->type == RP_LINK_EV_CONNECTED) {
		agent_log(6, "connected to rampartd (session %s)",
			  ev->session_present ? "resumed" : "new");
	} else if (ev->type == RP_LINK_EV_DISCONNECTED) {
		agent_log(4, "link down: %s; next attempt in %u ms", ev->why, ev->retry_in_ms);
	}
}

static void on_device_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	agent_log(level, "%s", msg);
}

typedef struct agent {
	agent_config cfg;
	agent_identity id;
	rp_tlsc_ctx *tls;
	rp_device *dev;
	agent_apps apps;
	agent_builtin builtin;
	int sfd;
	uint32_t renew_attempt;
} agent;

/* Enrollment at start: retried with backoff while it is worth it. */
static int enroll_until_ready(agent *a)
{
	rp_link_backoff bo = {RP_LINK_BACKOFF_BASE_MS, RP_LINK_BACKOFF_CAP_MS,
			      RP_LINK_BACKOFF_STABLE_MS};
	uint32_t attempt = 0;

	for (;;) {
		rp_status st = agent_identity_ready(&a->id);
		uint32_t delay;
		if (st == RP_OK) {
			return 1;
		}
		if (st != RP_E_IO && st != RP_E_TIMEOUT && st != RP_E_BUSY) {
			return 0;
		}
		delay = rp_link_backoff_delay(&bo, attempt++, agent_rnd32());
		agent_log(6, "enrollment: next attempt in %u ms", delay);
		if (wait_or_stop(a->sfd, delay)) {
			return 0;
		}
	}
}

static int device_start(agent *a)
{
	rp_device_config dc;
	uint8_t key[RP_STORAGE_KEY_LEN];
	char kpath[AGENT_PATH_MAX + 16], qdir[AGENT_PATH_MAX + 16];
	rp_status st;

	snprintf(kpath, sizeof(kpath), "%s/storage.key", a->cfg.state_dir);
	snprintf(qdir, sizeof(qdir), "%s/queue", a->cfg.state_dir);
	st = rp_storage_key_load_or_create(kpath, key);
	if (st != RP_OK) {
		agent_log(3, "storage key %s: %s", kpath, rp_status_str(st));
		return 0;
	}
	rp_device_config_default(&dc);
	dc.link.tls = a->tls;
	dc.link.host = a->cfg.host;
	dc.link.port = a->cfg.mqtt_port;
	dc.link.server_name = a->cfg.server_name[0] != '\0' ? a->cfg.server_name : NULL;
	dc.link.client_id = a->cfg.device_id;
	dc.queue_dir = qdir;
	dc.storage_key = key;
	dc.queue.max_bytes = a->cfg.queue_max;
	dc.queue.policy = a->cfg.queue_refuse ? RP_SFQ_REFUSE : RP_SFQ_DROP_OLDEST;
	dc.batch_ms = (uint32_t)a->cfg.batch_ms;
	dc.log_fn = on_device_log;
	dc.event_fn = on_link_event;
	dc.ctx = a;
	st = rp_device_new(&dc, &a->dev);
	OPENSSL_cleanse(key, sizeof(key));
	if (st != RP_OK) {
		agent_log(3, "device runtime (queue %s): %s", qdir, rp_status_str(st));
		return 0;
	}
	return 1;
}

/* Renewal, when due: a new certificate, then a new TLS context for the
 * link. A failure is retried with backoff; the old certificate is used
 * meanwhile, until it expires. */
static void renew_if_due(agent *a)
{
	rp_link_backoff bo = {RP_LINK_BACKOFF_BASE_MS, RP_LINK_BACKOFF_CAP_MS,
			      RP_LINK_BACKOFF_STABLE_MS};
	int64_t now = (int64_t)time(NULL);
	rp_tlsc_ctx *fresh = NULL;

	if (a->id.renew_at == 0 || now < a->id.renew_at) {
		return;
	}
	if (agent_identity_enroll(&a->id, 1) != RP_OK) {
		uint32_t delay = rp_link_backoff_delay(&bo, a->renew_attempt++, agent_rnd32());
		a->id.renew_at = now + 1 + (int64_t)delay / 1000;
		return;
	}
	a->renew_attempt = 0;
	if (agent_identity_tls(&a->id, &fresh) != RP_OK) {
		return;
	}
	if (rp_device_set_tls(a->dev, fresh) != RP_OK) {
		agent_log(3, "renewal: the link keeps the old certificate (out of memory)");
		rp_tlsc_ctx_free(fresh);
		return;
	}
	rp_tlsc_ctx_free(a->tls);
	a->tls = fresh;
}

static int run(agent *a)
{
	struct pollfd p[MAX_POLL];

	for (;;) {
		size_t n = 0, n_apps, n_coll;
		int timeout = 1000, t;
		int64_t renew_in;

		p[n].fd = a->sfd;
		p[n].events = POLLIN;
		p[n++].revents = 0;
		p[n].fd = -1;
		p[n].events = 0;
		p[n].revents = 0;
		rp_device_wants(a->dev, &p[n], &t);
		n++;
		if (t >= 0 && t < timeout) {
			timeout = t;
		}
		n_apps = agent_apps_pollfds(&a->apps, p + n, MAX_POLL - n);
		n += n_apps;
		n_coll = agent_builtin_pollfds(&a->builtin, p + n, MAX_POLL - n);
		n += n_coll;
		t = agent_builtin_tick(&a->builtin);
		if (t < timeout) {
			timeout = t;
		}
		renew_in =
			a->id.renew_at != 0 ? (a->id.renew_at - (int64_t)time(NULL)) * 1000 : 60000;
		if (renew_in < timeout) {
			timeout = renew_in < 0 ? 0 : (int)renew_in;
		}
		if (poll(p, n, timeout) < 0 && errno != EINTR) {
			agent_log(3, "poll: %s", strerror(errno));
			return 1;
		}
		if ((p[0].revents & POLLIN) != 0 && sigfd_stop(a->sfd)) {
			agent_log(6, "stopping");
			return 0;
		}
		if (rp_device_run(a->dev, 0) == RP_E_IO) {
			agent_log(3, "the device loop failed");
			return 1;
		}
		agent_apps_handle(&a->apps, p + 2, n_apps);
		agent_builtin_handle(&a->builtin, p + 2 + n_apps, n_coll);
		renew_if_due(a);
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: rampart-agent -c FILE [--allow-root]\n"
			"       rampart-agent --check-config FILE\n");
}

int main(int argc, char **argv)
{
	static agent a;
	const char *path = NULL;
	int check = 0, allow_root = 0, rc = 1;

	for (int i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--check-config") == 0) &&
		    i + 1 < argc) {
			check = strcmp(argv[i], "--check-config") == 0;
			path = argv[++i];
		} else if (strcmp(argv[i], "--allow-root") == 0) {
			allow_root = 1;
		} else {
			usage();
			return 2;
		}
	}
	if (path == NULL) {
		usage();
		return 2;
	}
	if (agent_config_load(&a.cfg, path, report, NULL) != 0) {
		fprintf(stderr, "%s: not used (fix the lines above)\n", path);
		return 1;
	}
	if (check) {
		printf("%s: OK\n", path);
		return 0;
	}
	a.sfd = sigfd_make();
	if (a.sfd < 0 || !drop_privileges(&a.cfg, allow_root) || !state_dir_ok(&a.cfg) ||
	    rp_est_global_init() != RP_OK) {
		return 1;
	}
	if (agent_identity_open(&a.id, &a.cfg) != RP_OK) {
		goto out;
	}
	if (!enroll_until_ready(&a) || agent_identity_tls(&a.id, &a.tls) != RP_OK ||
	    !device_start(&a)) {
		goto out;
	}
	if (agent_apps_open(&a.apps, &a.cfg, a.dev) != RP_OK ||
	    agent_builtin_init(&a.builtin, &a.cfg, &a.id, &a.apps, a.dev) != RP_OK) {
		goto out;
	}
	agent_log(6, "device %s: telemetry to %s:%u, applications on %s", a.cfg.device_id,
		  a.cfg.host, (unsigned)a.cfg.mqtt_port, a.cfg.socket_path);
	rc = run(&a);
out:
	agent_builtin_close(&a.builtin);
	agent_apps_close(&a.apps);
	rp_device_free(a.dev);
	rp_tlsc_ctx_free(a.tls);
	agent_identity_close(&a.id);
	return rc;
}
