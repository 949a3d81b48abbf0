/*
 * rampartd - the Rampart server.
 *
 *   rampartd -c FILE            run with the configuration FILE
 *   rampartd --check-config FILE
 *                               report every error of FILE (and of the
 *                               policy file it names) with file, line and
 *                               reason; exit 0 if there is none
 *
 * The REST API (listener.https, on by default) runs on its own threads
 * (server/api/api.h) beside the event loops; it reaches the broker only
 * through rp_broker_publish() under the broker lock.
 *
 * Signals: SIGTERM and SIGINT drain (MQTT 5 clients get DISCONNECT 0x8B)
 * and exit 0; SIGHUP reloads the policy, bans the devices the store now
 * has as revoked (`rampart device revoke` writes the store, then sends
 * SIGHUP), re-signs the CRL, and reloads the CA bundle, the CRLs and the
 * server certificate of both listeners, keeping connections that stay
 * valid and closing the others.
 *
 * Revocation (docs/pki.md, "Revocation"): with an issuing CA configured
 * (pki.issuing_cert), rampartd makes that CA's CRL itself (server/core/
 * crl.h) at start, at every revocation, on SIGHUP and half-way to its
 * nextUpdate; the device listener checks it at every handshake and
 * GET /crl publishes it. The store work runs on a thread of its own, the
 * revocation thread (the event loops never wait for the store); what
 * must happen on loop 0 (swapping the TLS context) is posted there.
 *
 * <data_dir>/rampartd.pid holds the process id under a POSIX write lock
 * for rampartd's whole life, so a second rampartd on the same data
 * refuses to start and the CLI knows whom to send SIGHUP.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "auth/policy.h"
#include "auth/secret.h"
#include "broker/broker.h"
#include "config/config.h"
#include "core/alerts.h"
#include "core/crl.h"
#include "core/ingest.h"
#include "core/retained.h"
#include "core/server.h"
#include "core/sessions.h"
#include "loop/loop.h"
#include "net/tls.h"
#include "pki/issuer.h"
#include "store/store.h"
#include "util/alloc.h"
#include "util/file.h"
#include "util/log.h"

#define DRAIN_MS 5000u
/* The revocation thread wakes at least this often (CRL re-signing time,
 * a failed refresh retried). */
#define REVOKER_TICK_MS 60000u

/* What the revocation thread is asked to do (revoker.want). */
#define W_BANS   1u /* ban the devices the store has as revoked */
#define W_CRL    2u /* re-sign the CRL (then reload the device listener's CRLs) */
#define W_RELOAD 4u /* SIGHUP: then reload the certificates of both listeners too */

/* What loop 0 is asked to do (reload_what). */
#define T_TRUST 1u /* the CA bundle and CRLs of the device listener */
#define T_FULL  2u /* everything: certificates and keys too, HTTPS included */

typedef struct app {
	const char *config_path;
	rp_config cfg;
	rp_policy policy[2]; /* the live one and the one a reload builds */
	int policy_live;
	rp_tls_ctx *tls;
	rp_broker *broker;
	rp_server *server;
	rp_loop *loops[RP_LIMIT_BROKER_LOOPS];
	unsigned nloops;
	rp_loop *loop; /* loops[0]: signals, telemetry retention */
	rp_store *store;
	rp_sessions *sessions; /* persistent sessions in the store */
	rp_telemetry *telemetry;
	rp_alerts *alerts;
	rp_api *api;
	rp_timer retention;
	uint64_t websessions_expired; /* written on the storage thread */
	int sigfd;
	unsigned errors;

	/* The issuing CA and its key (a key file or a PKCS#11 token), loaded
	 * once and shared by the CRL and the API's EST service; closed after
	 * both. NULL: no issuing CA. */
	rp_pki_issuer *issuer;
	rp_crl *crl;    /* NULL: no issuing CA, no CRL of ours */
	int crl_in_tls; /* the device listener checks our CRL (the issuing CA is in tls.ca) */
	char crl_path[RP_LIMIT_CONFIG_PATH_LEN];
	int pidfd;
	char pid_path[RP_LIMIT_CONFIG_PATH_LEN + 16];

	/* The revocation thread and what it is asked (under mu). */
	pthread_t revoker;
	int revoker_started;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	unsigned want;
	int stop;
	int64_t crl_retry_at; /* a failed refresh is retried then (Unix s) */
	/* Loop 0's share: reload_what under mu, run by reload_task. */
	rp_task reload_task;
	unsigned reload_what;
} app;

static void report(void *ctx, const char *file, unsigned line, const char *msg)
{
	app *a = ctx;

	a->errors++;
	if (line > 0) {
		fprintf(stderr, "%s:%u: %s\n", file, line, msg);
	} else {
		fprintf(stderr, "%s: %s\n", file, msg);
	}
}

static rp_status load_policy(app *a, rp_policy *p)
{
	if (a->cfg.policy[0] == '\0') {
		rp_policy_default(p);
		return RP_OK;
	}
	return rp_policy_load(p, a->cfg.policy, report, a);
}

static void tls_opts(const app *a, rp_tls_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->name = "mqtt";
	o->cert_file = a->cfg.tls_cert;
	o->key_file = a->cfg.tls_key;
	o->ca_file = a->cfg.tls_ca;
	o->crl_file = a->cfg.tls_crl[0] != '\0' ? a->cfg.tls_crl : NULL;
	/* Our CRL covers the issuing CA's certificates (the devices). Without
	 * tls.crl there is no CRL of the root (offline), so only the leaf is
	 * checked; with it, the whole chain (tls.crl then holds the root's). */
	o->own_crl_file = a->crl_in_tls ? a->crl_path : NULL;
	o->crl_leaf_only = a->crl_in_tls && a->cfg.tls_crl[0] == '\0';
	o->allow_tls12 = a->cfg.tls_min_version == RP_CONFIG_TLS_1_2;
	o->disable_tickets = !a->cfg.tls_session_tickets;
}

static int needs_tls(const rp_config *c)
{
	for (unsigned i = 0; i < c->listener_count; i++) {
		if (c->listeners[i].tls) {
			return 1;
		}
	}
	return 0;
}

static void broker_limits(const rp_config *c, rp_broker_limits *l)
{
	rp_broker_limits_default(l);
	rp_config_mqtt_limits(c, &l->mqtt);
	l->max_packet_preauth = c->limit.max_packet_preauth;
	l->receive_max = (uint16_t)c->limit.max_inflight;
	l->max_inflight = (uint16_t)c->limit.max_inflight;
	l->keepalive_max = (uint16_t)c->limit.keepalive_max_s;
	l->session_expiry_max = c->limit.session_expiry_max_s;
	l->max_subscriptions = c->limit.max_subscriptions;
	l->max_queued_messages = c->limit.max_queued_messages;
	l->max_queued_bytes = c->limit.max_queued_bytes;
	l->connect_timeout_ms = c->limit.connect_timeout_ms;
	l->device_msg_rate = c->limit.device_msg_rate;
	l->device_msg_burst = c->limit.device_msg_burst;
	l->device_byte_rate = c->limit.device_byte_rate;
	l->device_byte_burst = c->limit.device_byte_burst;
}

static void server_opts(const app *a, rp_server_opts *o)
{
	const rp_config *c = &a->cfg;

	rp_server_opts_default(o);
	for (unsigned i = 0; i < c->listener_count && o->nlisteners < RP_SERVER_MAX_LISTENERS;
	     i++) {
		rp_listen_spec *l = &o->listeners[o->nlisteners++];

		snprintf(l->addr, sizeof(l->addr), "%s", c->listeners[i].text);
		l->tls = c->listeners[i].tls;
	}
	o->tls = a->tls;
	o->max_connections = c->limit.max_connections;
	o->max_connections_per_address = c->limit.max_connections_per_address;
	o->max_handshakes = c->limit.max_handshakes;
	o->handshake_timeout_ms = c->limit.handshake_timeout_ms;
	o->connect_rate_per_address = c->limit.connect_rate_per_address;
	o->connect_burst_per_address = c->limit.connect_burst_per_address;
	o->write_timeout_ms = c->limit.write_timeout_ms;
}

/* `loops`, with 0 meaning one per online core (at most the hard cap). */
static unsigned loop_count(const rp_config *c)
{
	long n = c->loops;

	if (n == 0) {
		n = sysconf(_SC_NPROCESSORS_ONLN);
	}
	if (n < 1) {
		n = 1;
	}
	if (n > (long)RP_LIMIT_BROKER_LOOPS) {
		n = (long)RP_LIMIT_BROKER_LOOPS;
	}
	return (unsigned)n;
}

static int check_config(const char *path)
{
	app a;
	rp_status st;

	memset(&a, 0, sizeof(a));
	st = rp_config_load(&a.cfg, path, report, &a);
	if (st == RP_OK && a.cfg.policy[0] != '\0') {
		if (load_policy(&a, &a.policy[0]) == RP_OK) {
			rp_policy_free(&a.policy[0]);
		}
	}
	if (a.errors > 0) {
		fprintf(stderr, "%s: %u error%s\n", path, a.errors, a.errors == 1 ? "" : "s");
		return 1;
	}
	printf("%s: ok\n", path);
	return 0;
}

/* Asks the revocation thread for `what` (W_*). Any thread. */
static void revoker_ask(app *a, unsigned what)
{
	pthread_mutex_lock(&a->mu);
	a->want |= what;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->mu);
}

/*
 * Loop 0: a new TLS context for the device listener. full: every file
 * again (SIGHUP); if that fails (a certificate and key that do not fit: a
 * rotation gone wrong), or when only the CRL changed, the CA bundle and
 * CRLs alone, keeping the certificate in use, so a revocation never waits
 * for a good certificate. Live connections that no longer verify are
 * closed by rp_server_set_tls().
 */
static void reload_device_tls(app *a, int full)
{
	rp_tls_opts o;
	rp_tls_ctx *fresh = NULL;
	char err[256];

	if (a->tls == NULL) {
		return;
	}
	if (full) {
		tls_opts(a, &o);
		if (rp_tls_ctx_reload(a->tls, &o, &fresh, err, sizeof(err)) != RP_OK) {
			rp_log(RP_LOG_ERROR, "rampartd",
			       "TLS not reloaded (%s): the old context stays", err);
			fresh = NULL;
			full = 0;
		}
	}
	if (fresh == NULL && rp_tls_ctx_reload_trust(a->tls, &fresh, err, sizeof(err)) != RP_OK) {
		rp_log(RP_LOG_ERROR, "rampartd",
		       "TLS CA bundle and CRLs not reloaded (%s): the old ones stay", err);
		return;
	}
	/* Each loop takes the new context at its next pass; a handshake that
	 * loop had already started finishes on the old one (then the broker's
	 * ban refuses a revoked device at CONNECT). */
	rp_server_set_tls(a->server, fresh);
	rp_tls_ctx_unref(a->tls);
	a->tls = fresh;
	rp_log(RP_LOG_INFO, "rampartd", "%s",
	       full ? "TLS reloaded: server certificate, CA bundle and CRLs"
		    : "TLS CA bundle and CRLs reloaded; the server certificate in use stays");
}

/* Loop 0: what the revocation thread posted (reload_what). */
static void on_reload_task(rp_loop *loop, void *arg)
{
	app *a = arg;
	unsigned what;
	char err[256];

	(void)loop;
	pthread_mutex_lock(&a->mu);
	what = a->reload_what;
	a->reload_what = 0;
	pthread_mutex_unlock(&a->mu);
	if (what == 0) {
		return;
	}
	reload_device_tls(a, (what & T_FULL) != 0);
	if ((what & T_FULL) != 0 && a->api != NULL) {
		if (rp_api_reload_cert(a->api, err, sizeof(err)) == RP_OK) {
			rp_log(RP_LOG_INFO, "rampartd", "HTTPS certificate reloaded");
		} else {
			rp_log(RP_LOG_ERROR, "rampartd",
			       "HTTPS certificate not reloaded (%s): the old one stays", err);
		}
	}
}

/* Any thread: posts `what` (T_*) to loop 0. Never fails (an embedded task). */
static void post_reload(app *a, unsigned what)
{
	pthread_mutex_lock(&a->mu);
	a->reload_what |= what;
	pthread_mutex_unlock(&a->mu);
	(void)rp_loop_post_task(a->loop, &a->reload_task);
}

/*
 * SIGHUP on loop 0: the policy now; the rest (store, CRL, files) on the
 * revocation thread, which then posts the TLS reloads back here.
 */
static void reload(app *a)
{
	int next = 1 - a->policy_live;

	rp_log(RP_LOG_INFO, "rampartd",
	       "SIGHUP: reloading policy, revoked devices, CRL and certificates");
	a->errors = 0;
	if (load_policy(a, &a->policy[next]) == RP_OK) {
		rp_server_set_policy(a->server, &a->policy[next]);
		rp_policy_free(&a->policy[a->policy_live]);
		a->policy_live = next;
	} else {
		rp_log(RP_LOG_ERROR, "rampartd", "policy not reloaded: the old one stays");
	}
	revoker_ask(a, W_BANS | W_CRL | W_RELOAD);
}

static void on_signal(rp_loop *loop, int fd, unsigned events, void *arg)
{
	app *a = arg;
	struct signalfd_siginfo si;

	(void)loop;
	(void)events;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			reload(a);
		} else {
			rp_log(RP_LOG_INFO, "rampartd", "signal %u: draining", si.ssi_signo);
			rp_server_drain(a->server, DRAIN_MS);
		}
	}
}

static void on_websessions_expired(void *ctx, rp_status st)
{
	app *a = ctx;

	if (st != RP_OK && st != RP_E_CLOSED) {
		rp_log(RP_LOG_WARN, "rampartd", "expired web sessions not deleted: %s",
		       rp_status_str(st));
	} else if (a->websessions_expired > 0) {
		rp_log(RP_LOG_INFO, "rampartd", "%llu expired web session%s deleted",
		       (unsigned long long)a->websessions_expired,
		       a->websessions_expired == 1 ? "" : "s");
	}
}

/* Once a minute on loop 0: telemetry past its retention and expired web
 * sessions are deleted. */
static void on_retention(rp_loop *loop, void *arg)
{
	app *a = arg;

	rp_telemetry_expire(a->telemetry, rp_clock_wall_ms(),
			    (int64_t)a->cfg.telemetry_retention_s * 1000);
	if (a->api != NULL) {
		a->websessions_expired = 0;
		(void)rp_store_websession_expire(a->store, rp_clock_wall_ms(),
						 &a->websessions_expired, on_websessions_expired,
						 a);
	}
	(void)rp_timer_start(loop, &a->retention, 60000u, on_retention, a);
}

/* Opens the store named by `store`, or sqlite:<data_dir>/rampart.db. */
static int open_store(app *a)
{
	char url[RP_LIMIT_CONFIG_PATH_LEN + 32];
	rp_status st;

	if (a->cfg.store[0] != '\0') {
		(void)snprintf(url, sizeof(url), "%s", a->cfg.store);
	} else {
		(void)snprintf(url, sizeof(url), "sqlite:%s/rampart.db", a->cfg.data_dir);
	}
	st = rp_store_open(url, NULL, &a->store);
	rp_wipe(url, sizeof(url)); /* a PostgreSQL URL may hold a password */
	if (st != RP_OK) {
		/* The store logged why; the URL is not repeated (a password?). */
		fprintf(stderr, "rampartd: the store cannot be opened: %s\n", rp_status_str(st));
		return 0;
	}
	rp_log(RP_LOG_INFO, "rampartd", "store: %s, schema version %lld",
	       rp_store_backend(a->store), (long long)rp_store_schema_version(a->store));
	return 1;
}

/* ------------------------------------------------------------------------
 * The REST API
 * ------------------------------------------------------------------------ */

/* A command from the API to d/{id}/cmd/{name}: QoS 1, from an API worker. */
static rp_status api_publish(void *ctx, const char *topic, const uint8_t *payload, size_t len)
{
	app *a = ctx;
	size_t reached = 0;
	rp_status st;

	rp_server_broker_lock(a->server);
	st = rp_broker_publish(a->broker, (const uint8_t *)topic, strlen(topic), payload, len, 1,
			       &reached);
	rp_server_broker_unlock(a->server);
	return st;
}

/* A device revoked through the API: its connections end now, on every loop. */
static void api_revoked(void *ctx, const char *device_id)
{
	app *a = ctx;
	size_t kicked = 0;
	rp_status st;
	char id[80];

	rp_server_broker_lock(a->server);
	st = rp_broker_ban(a->broker, device_id, &kicked);
	rp_server_broker_unlock(a->server);
	rp_log(st == RP_OK ? RP_LOG_INFO : RP_LOG_ERROR, "rampartd",
	       "device %s revoked: %zu connection%s closed%s",
	       rp_log_escape(id, sizeof(id), (const uint8_t *)device_id, strlen(device_id)), kicked,
	       kicked == 1 ? "" : "s", st == RP_OK ? "" : "; NOT banned (out of memory)");
	/* The CRL lists the certificates now revoked in the store. */
	if (a->crl != NULL) {
		revoker_ask(a, W_CRL);
	}
}

/* GET /crl: a copy of the current CRL (an HTTP worker). */
static rp_status api_crl(void *ctx, rp_api_crl *out)
{
	app *a = ctx;
	rp_crl_info info;
	rp_status st = rp_crl_current(a->crl, &out->der, &out->len, &info);

	if (st == RP_OK) {
		out->number = info.number;
		out->this_update = info.this_update;
		out->next_update = info.next_update;
	}
	return st;
}

/*
 * Start-up: every device the store has as revoked is banned before the
 * listeners open, so a revoked certificate that still verifies cannot
 * reconnect after a restart either.
 */
static rp_status ban_one(app *a, const char *id, int locked, size_t *n)
{
	size_t kicked = 0;
	rp_status st = RP_OK;
	char esc[80];

	if (locked) {
		rp_server_broker_lock(a->server);
	}
	if (!rp_broker_banned(a->broker, id)) {
		st = rp_broker_ban(a->broker, id, &kicked);
		(*n)++;
	}
	if (locked) {
		rp_server_broker_unlock(a->server);
	}
	if (locked && st == RP_OK && kicked > 0) {
		rp_log(RP_LOG_INFO, "rampartd", "device %s revoked: %zu connection%s closed",
		       rp_log_escape(esc, sizeof(esc), (const uint8_t *)id, strlen(id)), kicked,
		       kicked == 1 ? "" : "s");
	}
	return st;
}

/*
 * Bans every device the store has as revoked and is not banned yet; *n
 * counts the new ones. locked: the broker runs (take its lock, log the
 * connections closed); 0 at start-up, before any loop.
 */
static int ban_revoked_locked(app *a, int locked, size_t *n)
{
	rp_store_device_filter f;
	rp_store_device *rows = NULL;
	char after[RP_LIMIT_STORE_ID_LEN + 1u] = "";
	size_t got = 0;
	rp_status st;

	*n = 0;
	do {
		memset(&f, 0, sizeof(f));
		f.status = RP_STORE_DEVICE_REVOKED;
		f.after_id = after[0] != '\0' ? after : NULL;
		f.limit = RP_LIMIT_STORE_PAGE;
		st = rp_store_device_list(a->store, &f, &rows, &got, NULL, NULL);
		for (size_t i = 0; st == RP_OK && i < got; i++) {
			st = ban_one(a, rows[i].id, locked, n);
		}
		if (st == RP_OK && got > 0) {
			(void)snprintf(after, sizeof(after), "%s", rows[got - 1].id);
		}
		rp_store_free(rows);
		rows = NULL;
	} while (st == RP_OK && got == RP_LIMIT_STORE_PAGE);
	if (st != RP_OK) {
		rp_log(RP_LOG_ERROR, "rampartd", "revoked devices cannot be read: %s",
		       rp_status_str(st));
		return 0;
	}
	return 1;
}

static int ban_revoked(app *a, size_t *n)
{
	return ban_revoked_locked(a, 0, n);
}

/* ------------------------------------------------------------------------
 * The CRL and the revocation thread
 * ------------------------------------------------------------------------ */

/* Re-signs the CRL; 1 if a new one is in the file. */
static int refresh_crl(app *a)
{
	rp_crl_info info;
	char err[512];
	int64_t now = rp_clock_wall_ms() / 1000;

	if (rp_crl_refresh(a->crl, now, err, sizeof(err)) != RP_OK) {
		rp_log(RP_LOG_ERROR, "rampartd", "CRL not re-signed (%s): retried in %u s", err,
		       REVOKER_TICK_MS / 1000u);
		a->crl_retry_at = now + REVOKER_TICK_MS / 1000u;
		return 0;
	}
	a->crl_retry_at = 0;
	rp_crl_info_get(a->crl, &info);
	rp_log(RP_LOG_INFO, "rampartd",
	       "CRL %llu of the issuing CA: %zu revoked certificate%s, "
	       "next update in %lld s, in %s",
	       (unsigned long long)info.number, info.entries, info.entries == 1 ? "" : "s",
	       (long long)(info.next_update - info.this_update), a->crl_path);
	return 1;
}

/* When the CRL must be re-signed next (Unix s), 0: no CRL. */
static int64_t crl_due(app *a)
{
	int64_t at;

	if (a->crl == NULL) {
		return 0;
	}
	/* After a failure, the retry time rules (the re-signing time may be past). */
	if (a->crl_retry_at != 0) {
		return a->crl_retry_at;
	}
	at = rp_crl_resign_at(a->crl);
	return at != 0 ? at : 1;
}

/*
 * The revocation thread: waits for work (revoker_ask) or the CRL's
 * re-signing time; bans newly revoked devices, re-signs the CRL, and posts
 * the TLS reloads to loop 0. Synchronous store calls are fine here.
 */
static void *revoker_main(void *arg)
{
	app *a = arg;
	unsigned what;
	size_t n;

	pthread_mutex_lock(&a->mu);
	while (!a->stop) {
		int64_t due = crl_due(a), now = rp_clock_wall_ms() / 1000;

		if (a->want == 0 && (due == 0 || now < due)) {
			struct timespec ts;
			int64_t wait_ms = REVOKER_TICK_MS;

			if (due != 0 && (due - now) * 1000 < wait_ms) {
				wait_ms = (due - now) * 1000;
			}
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (time_t)(wait_ms / 1000);
			ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			(void)pthread_cond_timedwait(&a->cond, &a->mu, &ts);
			continue;
		}
		what = a->want;
		a->want = 0;
		if (due != 0 && now >= due) {
			what |= W_CRL;
		}
		pthread_mutex_unlock(&a->mu);
		if ((what & W_BANS) != 0 && ban_revoked_locked(a, 1, &n) && n > 0) {
			rp_log(RP_LOG_INFO, "rampartd", "%zu newly revoked device%s banned", n,
			       n == 1 ? "" : "s");
		}
		if ((what & W_CRL) != 0 && a->crl != NULL && refresh_crl(a) && a->crl_in_tls &&
		    (what & W_RELOAD) == 0) {
			post_reload(a, T_TRUST);
		}
		if ((what & W_RELOAD) != 0) {
			post_reload(a, T_FULL);
		}
		pthread_mutex_lock(&a->mu);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

/* The lock and condition of the revocation thread, made before anything
 * can ask it for work (the API, at start). */
static int revoker_init(app *a)
{
	pthread_condattr_t ca;
	int ok;

	if (pthread_mutex_init(&a->mu, NULL) != 0) {
		return 0;
	}
	if (pthread_condattr_init(&ca) != 0) {
		pthread_mutex_destroy(&a->mu);
		return 0;
	}
	ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
	     pthread_cond_init(&a->cond, &ca) == 0;
	pthread_condattr_destroy(&ca);
	if (!ok) {
		pthread_mutex_destroy(&a->mu);
		return 0;
	}
	a->reload_task.fn = on_reload_task;
	a->reload_task.arg = a;
	return 1;
}

static int revoker_start(app *a)
{
	if (pthread_create(&a->revoker, NULL, revoker_main, a) != 0) {
		return 0;
	}
	a->revoker_started = 1;
	return 1;
}

static void revoker_stop(app *a)
{
	if (!a->revoker_started) {
		return;
	}
	pthread_mutex_lock(&a->mu);
	a->stop = 1;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->revoker, NULL);
	a->revoker_started = 0;
}

/*
 * The issuing CA and its key, from a key file or a PKCS#11 token
 * (pki.issuing_keystore): the one load of the key, for the CRL and EST.
 * Off without pki.issuing_cert.
 */
static int start_issuer(app *a)
{
	const rp_config *c = &a->cfg;
	rp_pki_issuer_opts o;
	char err[512];
	rp_status st;

	if (c->pki_issuing_cert[0] == '\0') {
		return 1;
	}
	memset(&o, 0, sizeof(o));
	o.cert = c->pki_issuing_cert;
	if (c->pki_issuing_keystore == RP_CONFIG_KEYSTORE_PKCS11) {
		o.keystore = RP_PKI_ISSUER_PKCS11;
		o.module = c->pki_pkcs11_module;
		o.token_label = c->pki_pkcs11_token;
		o.pin_file = c->pki_pkcs11_pin_file;
		o.key_label = c->pki_issuing_key_label;
	} else {
		o.keystore = RP_PKI_ISSUER_FILE;
		o.key_file = c->pki_issuing_key;
		o.pass_file = c->pki_issuing_key_pass;
	}
	st = rp_pki_issuer_open(&o, &a->issuer, err, sizeof(err));
	if (st != RP_OK) {
		fprintf(stderr, "rampartd: issuing CA: %s\n", err);
		return 0;
	}
	rp_log(RP_LOG_INFO, "rampartd", "issuing CA key: %s", rp_pki_issuer_where(a->issuer));
	return 1;
}

/*
 * The issuing CA's CRL: opened and made before the device listener's TLS
 * context, which loads it. Off without pki.issuing_cert.
 */
static int start_crl(app *a)
{
	rp_crl_opts o;
	char err[512];
	rp_status st;

	if (a->cfg.pki_issuing_cert[0] == '\0') {
		return 1;
	}
	if (a->cfg.pki_crl[0] != '\0') {
		(void)snprintf(a->crl_path, sizeof(a->crl_path), "%s", a->cfg.pki_crl);
	} else if ((size_t)snprintf(a->crl_path, sizeof(a->crl_path), "%s/issuing-ca.crl",
				    a->cfg.data_dir) >= sizeof(a->crl_path)) {
		fprintf(stderr, "rampartd: data_dir is too long for the CRL file's path\n");
		return 0;
	}
	memset(&o, 0, sizeof(o));
	o.issuer = a->issuer;
	o.issuing_cert = a->cfg.pki_issuing_cert; /* for messages */
	o.path = a->crl_path;
	o.next_update_s = (int64_t)a->cfg.pki_crl_next_update_s;
	o.other_crl_file = a->cfg.tls_crl;
	st = rp_crl_open(&o, a->store, &a->crl, err, sizeof(err));
	if (st != RP_OK) {
		fprintf(stderr, "rampartd: CRL: %s\n", err);
		return 0;
	}
	if (!refresh_crl(a)) {
		fprintf(stderr, "rampartd: the first CRL could not be made (see above)\n");
		return 0;
	}
	a->crl_in_tls = needs_tls(&a->cfg) && rp_crl_issuer_in_bundle(a->crl, a->cfg.tls_ca);
	if (needs_tls(&a->cfg) && !a->crl_in_tls) {
		rp_log(RP_LOG_WARN, "rampartd",
		       "the issuing CA (pki.issuing_cert) is not in tls.ca: the MQTT listener "
		       "cannot check its CRL, and revoked devices are refused at CONNECT only; "
		       "put the issuing CA in tls.ca (rampart init does)");
	}
	return 1;
}

/* ------------------------------------------------------------------------
 * The pid file
 * ------------------------------------------------------------------------ */

/*
 * <data_dir>/rampartd.pid, write-locked (POSIX record lock) for the life
 * of the process: a second rampartd on the same data_dir finds the lock
 * and refuses to start; the CLI asks the lock who holds it (F_GETLK) and
 * signals that process. A file left by a crash holds no lock: taken over.
 */
static int pid_file_take(app *a)
{
	struct flock l;
	char text[32];
	int fd, n;

	if ((size_t)snprintf(a->pid_path, sizeof(a->pid_path), "%s/rampartd.pid",
			     a->cfg.data_dir) >= sizeof(a->pid_path)) {
		fprintf(stderr, "rampartd: data_dir is too long for the pid file's path\n");
		return 0;
	}
	if (mkdir(a->cfg.data_dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "rampartd: data_dir %s: %s\n", a->cfg.data_dir, strerror(errno));
		return 0;
	}
	fd = open(a->pid_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		fprintf(stderr, "rampartd: %s: %s\n", a->pid_path, strerror(errno));
		return 0;
	}
	memset(&l, 0, sizeof(l));
	l.l_type = F_WRLCK;
	l.l_whence = SEEK_SET;
	if (fcntl(fd, F_SETLK, &l) != 0) {
		int busy = errno == EACCES || errno == EAGAIN;

		memset(&l, 0, sizeof(l));
		l.l_type = F_WRLCK;
		l.l_whence = SEEK_SET;
		if (busy && fcntl(fd, F_GETLK, &l) == 0 && l.l_type != F_UNLCK) {
			fprintf(stderr,
				"rampartd: another rampartd (pid %ld) runs with data_dir %s: not "
				"starting a second one\n",
				(long)l.l_pid, a->cfg.data_dir);
		} else {
			fprintf(stderr, "rampartd: %s: cannot lock: %s\n", a->pid_path,
				strerror(errno));
		}
		close(fd);
		return 0;
	}
	n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || write(fd, text, (size_t)n) != n || fsync(fd) != 0) {
		fprintf(stderr, "rampartd: %s: cannot write: %s\n", a->pid_path, strerror(errno));
		(void)unlink(a->pid_path);
		close(fd);
		return 0;
	}
	a->pidfd = fd;
	return 1;
}

static void pid_file_release(app *a)
{
	if (a->pidfd < 0) {
		return;
	}
	/* Removed while still locked: nobody can mistake it for a live one. */
	(void)unlink(a->pid_path);
	close(a->pidfd);
	a->pidfd = -1;
}

/*
 * The key sealing TOTP secrets: exactly 32 bytes in a file nobody else may
 * read. The default file, <data_dir>/secrets/api.key, is made on first
 * start (keys are made where they are used); a configured one must exist.
 */
static int api_secret_key(const app *a, uint8_t key[32])
{
	char path[RP_LIMIT_CONFIG_PATH_LEN + 32], dir[RP_LIMIT_CONFIG_PATH_LEN + 16];
	int configured = a->cfg.api_secret_key[0] != '\0';
	char why[160];
	size_t len = 0;
	int fd;

	if (configured) {
		(void)snprintf(path, sizeof(path), "%s", a->cfg.api_secret_key);
	} else {
		(void)snprintf(dir, sizeof(dir), "%s/secrets", a->cfg.data_dir);
		(void)snprintf(path, sizeof(path), "%s/api.key", dir);
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			fprintf(stderr, "rampartd: %s: %s\n", dir, strerror(errno));
			return 0;
		}
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			int wrote = rp_secret_random(key, 32) == RP_OK &&
				    write(fd, key, 32) == 32 && fsync(fd) == 0;

			rp_wipe(key, 32);
			if (close(fd) != 0 || !wrote) {
				fprintf(stderr, "rampartd: %s: cannot write a new key\n", path);
				(void)unlink(path);
				return 0;
			}
			rp_log(RP_LOG_INFO, "rampartd", "made a new API secret key: %s", path);
		} else if (errno != EEXIST) {
			fprintf(stderr, "rampartd: %s: %s\n", path, strerror(errno));
			return 0;
		}
	}
	if (rp_file_read_private(path, key, 32, &len, why, sizeof(why)) != RP_OK) {
		fprintf(stderr, "rampartd: api.secret_key %s: %s\n", path, why);
		return 0;
	}
	if (len != 32) {
		rp_wipe(key, 32);
		fprintf(stderr, "rampartd: api.secret_key %s: not exactly 32 bytes\n", path);
		return 0;
	}
	return 1;
}

static int start_api(app *a)
{
	rp_api_opts ao;
	uint8_t key[32];
	char err[1024];
	rp_status st;

	if (!a->cfg.https_on) {
		rp_log(RP_LOG_INFO, "rampartd", "REST API off (listener.https off)%s",
		       a->cfg.pki_issuing_cert[0] != '\0' ? "; enrollment (EST) is off with it"
							  : "");
		return 1;
	}
	if (!api_secret_key(a, key)) {
		return 0;
	}
	memset(&ao, 0, sizeof(ao));
	ao.address = a->cfg.https.text;
	ao.cert_file = a->cfg.tls_cert;
	ao.key_file = a->cfg.tls_key;
	ao.allow_tls12 = a->cfg.tls_min_version == RP_CONFIG_TLS_1_2;
	ao.threads = a->cfg.api_threads;
	ao.session_lifetime_s = a->cfg.api_session_lifetime_s;
	ao.token_lifetime_max_s = a->cfg.api_token_lifetime_max_s;
	if (ao.token_lifetime_max_s < RP_DEFAULT_API_TOKEN_LIFETIME_S) {
		ao.token_lifetime_s = ao.token_lifetime_max_s;
	}
	ao.totp_required = a->cfg.api_totp_required;
	ao.secret_key = key;
	ao.publish = api_publish;
	ao.publish_ctx = a;
	ao.revoked = api_revoked;
	ao.revoked_ctx = a;
	if (a->crl != NULL) {
		ao.crl = api_crl;
		ao.crl_ctx = a;
	}
	/* Enrollment (EST): the issuing CA start_issuer() loaded (NULL = off). */
	ao.est_issuer = a->issuer;
	ao.est_root_cert = a->cfg.pki_root_cert;
	ao.est_manufacturer_ca = a->cfg.est_manufacturer_ca;
	ao.est_fleet = a->cfg.pki_fleet;
	ao.est_device_validity_s = a->cfg.pki_device_validity_s;
	st = rp_api_start(&ao, a->store, &a->api, err, sizeof(err));
	rp_wipe(key, sizeof(key)); /* rp_api_start() copied it */
	if (st != RP_OK) {
		fprintf(stderr, "rampartd: REST API on %s: %s\n", a->cfg.https.text, err);
		return 0;
	}
	rp_log(RP_LOG_INFO, "rampartd", "REST API on https://%s/api/v1/, port %u",
	       a->cfg.https.text, (unsigned)rp_api_port(a->api));
	return 1;
}

/* The signals rampartd reads from its signalfd. */
static void handled_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
}

/*
 * Blocked before any thread starts (the storage thread, the loops): a
 * thread that left them unblocked would take SIGTERM's default action.
 */
static int block_signals(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	handled_signals(&set);
	return sigprocmask(SIG_BLOCK, &set, NULL) == 0;
}

static int setup_signals(app *a)
{
	sigset_t set;

	handled_signals(&set);
	a->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return a->sigfd >= 0 &&
	       rp_loop_watch(a->loop, a->sigfd, RP_LOOP_READ, on_signal, a) == RP_OK;
}

static int run(const char *path)
{
	app a;
	rp_broker_limits bl;
	rp_server_opts so;
	const char *why = NULL;
	char err[256];
	int rc = 1;

	memset(&a, 0, sizeof(a));
	a.sigfd = -1;
	a.pidfd = -1;
	a.config_path = path;
	if (rp_config_load(&a.cfg, path, report, &a) != RP_OK) {
		fprintf(stderr, "rampartd: %s has errors (see above)\n", path);
		return 1;
	}
	if (load_policy(&a, &a.policy[0]) != RP_OK) {
		fprintf(stderr, "rampartd: the policy file has errors (see above)\n");
		return 1;
	}
	if (!revoker_init(&a)) {
		fprintf(stderr, "rampartd: out of memory\n");
		rp_policy_free(&a.policy[0]);
		return 1;
	}
	a.nloops = loop_count(&a.cfg);
	if (!block_signals()) {
		fprintf(stderr, "rampartd: cannot block signals\n");
		goto out;
	}
	if (!pid_file_take(&a) || !open_store(&a) || !start_issuer(&a) || !start_crl(&a)) {
		goto out;
	}
	if (needs_tls(&a.cfg)) {
		rp_tls_opts o;

		tls_opts(&a, &o);
		if (rp_tls_ctx_new(&o, &a.tls, err, sizeof(err)) != RP_OK) {
			fprintf(stderr, "rampartd: TLS: %s\n", err);
			goto out;
		}
	}
	broker_limits(&a.cfg, &bl);
	a.broker = rp_broker_new(&bl, &a.policy[0]);
	if (a.broker == NULL) {
		fprintf(stderr, "rampartd: out of memory\n");
		goto out;
	}
	{
		size_t n = 0;
		rp_status st;

		/* The broker's clock first: a retained message's expiry counts
		 * from now, not from the clock's zero. */
		rp_broker_tick(a.broker, rp_clock_ms());
		st = rp_retained_load(a.store, a.broker, &n);

		if (st != RP_OK) {
			fprintf(stderr, "rampartd: retained messages cannot be read: %s\n",
				rp_status_str(st));
			goto out;
		}
		rp_log(RP_LOG_INFO, "rampartd", "%zu retained message%s restored", n,
		       n == 1 ? "" : "s");
		rp_broker_set_retain_hook(a.broker, rp_retained_to_store, a.store);
	}
	{
		size_t n = 0;

		if (!ban_revoked(&a, &n)) {
			fprintf(stderr, "rampartd: revoked devices cannot be read\n");
			goto out;
		}
		if (n > 0) {
			rp_log(RP_LOG_INFO, "rampartd", "%zu revoked device%s refused at CONNECT",
			       n, n == 1 ? "" : "s");
		}
	}
	{
		size_t n = 0, bad = 0;
		rp_status st =
			rp_sessions_open(a.store, a.broker, rp_clock_ms(), &a.sessions, &n, &bad);

		if (st != RP_OK) {
			fprintf(stderr, "rampartd: persistent sessions cannot be read: %s\n",
				rp_status_str(st));
			goto out;
		}
		rp_log(RP_LOG_INFO, "rampartd", "%zu persistent session%s restored (%zu refused)",
		       n, n == 1 ? "" : "s", bad);
	}
	for (unsigned i = 0; i < a.nloops; i++) {
		a.loops[i] = rp_loop_new(i);
		if (a.loops[i] == NULL) {
			fprintf(stderr, "rampartd: cannot create event loop %u\n", i);
			goto out;
		}
	}
	a.loop = a.loops[0];
	server_opts(&a, &so);
	a.server = rp_server_new(a.loops, a.nloops, a.broker, &so, &why);
	if (a.server == NULL) {
		fprintf(stderr, "rampartd: listeners: %s\n", why);
		goto out;
	}
	a.telemetry = rp_telemetry_new(a.server, a.store);
	if (a.telemetry == NULL ||
	    rp_timer_start(a.loop, &a.retention, 1000u, on_retention, &a) != RP_OK) {
		fprintf(stderr, "rampartd: out of memory\n");
		goto out;
	}
	rp_broker_set_ingest(a.broker, rp_telemetry_ingest, a.telemetry);
	a.alerts = rp_alerts_new(a.store);
	if (a.alerts == NULL) {
		fprintf(stderr, "rampartd: out of memory\n");
		goto out;
	}
	rp_broker_set_alert_hook(a.broker, rp_alerts_hook, a.alerts);
	if (rp_sessions_start(a.sessions, a.loop, a.server) != RP_OK) {
		fprintf(stderr, "rampartd: out of memory\n");
		goto out;
	}
	if (!setup_signals(&a)) {
		fprintf(stderr, "rampartd: cannot set up signal handling\n");
		goto out;
	}
	for (unsigned i = 0; i < so.nlisteners; i++) {
		rp_log(RP_LOG_INFO, "rampartd", "listening on %s (%s), port %u",
		       so.listeners[i].addr,
		       so.listeners[i].tls ? "MQTT over mutual TLS" : "plain MQTT, loopback only",
		       rp_server_port(a.server, i));
	}
	if (!start_api(&a)) {
		goto out;
	}
	if (!revoker_start(&a)) {
		fprintf(stderr, "rampartd: cannot start the revocation thread\n");
		goto out;
	}
	rp_log(RP_LOG_INFO, "rampartd", "%u event loop%s", a.nloops, a.nloops == 1 ? "" : "s");
	rc = rp_server_run(a.server) == RP_OK ? 0 : 1;
	rp_log(RP_LOG_INFO, "rampartd", "stopped");
out:
	/* Before what it uses (store, broker, API) goes. */
	revoker_stop(&a);
	if (a.loop != NULL) {
		rp_timer_stop(a.loop, &a.retention);
	}
	/* The API's requests in progress finish (they use the store and the
	 * broker); then every queued write is committed and answered (the
	 * clients are still there to take their PUBACKs) before anything else
	 * goes. */
	rp_api_stop(a.api);
	/* Every dirty session is queued before the store commits and closes;
	 * the hooks go with it (clients freed below must not reach it). */
	rp_sessions_stop(a.sessions, rp_clock_ms());
	if (a.broker != NULL) {
		rp_broker_set_retain_hook(a.broker, NULL, NULL);
		rp_broker_set_alert_hook(a.broker, NULL, NULL);
	}
	rp_store_close(a.store);
	rp_crl_close(a.crl);
	/* After everything that signs with it (the API, the CRL): a token's key
	 * must not outlive its keystore. */
	rp_pki_issuer_close(a.issuer);
	rp_sessions_free(a.sessions);
	rp_server_free(a.server);
	rp_telemetry_free(a.telemetry);
	rp_alerts_free(a.alerts);
	if (a.sigfd >= 0) {
		rp_loop_unwatch(a.loops[0], a.sigfd);
		close(a.sigfd);
	}
	rp_broker_free(a.broker);
	for (unsigned i = 0; i < a.nloops; i++) {
		rp_loop_free(a.loops[i]);
	}
	rp_tls_ctx_unref(a.tls);
	rp_policy_free(&a.policy[a.policy_live]);
	pid_file_release(&a);
	pthread_cond_destroy(&a.cond);
	pthread_mutex_destroy(&a.mu);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: rampartd -c FILE\n"
		   "       rampartd --check-config FILE\n"
		   "See docs/configuration.md for the settings.\n");
}

int main(int argc, char **argv)
{
	rp_api_json_init(); /* before anything makes a JSON object */
	if (argc == 3 && strcmp(argv[1], "--check-config") == 0) {
		return check_config(argv[2]);
	}
	if (argc == 3 && strcmp(argv[1], "-c") == 0) {
		return run(argv[2]);
	}
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
