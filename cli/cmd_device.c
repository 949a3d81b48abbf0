/*
 * cmd_device.c - `rampart device revoke|list`: devices straight in the
 * store, as rampartd's own API changes them.
 *
 * revoke marks the device and every certificate of it revoked with
 * rp_crl_revoke_device() (server/core/crl.h: the function the REST API's
 * revoke calls too, audit entry included, actor "cli", source "local"),
 * then tells the running rampartd: the process that holds the write lock
 * of <data_dir>/rampartd.pid gets SIGHUP, and rampartd then bans the
 * device (its MQTT connections close within a second), re-signs its CRL
 * and reloads its TLS contexts. The store is the truth: a rampartd that is
 * not running refuses the device when it starts, so "not running" is said
 * and the command still succeeds.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/crl.h"
#include "util/alloc.h"
#include "util/log.h"

enum { D_HELP, D_CONFIG, D_CONFIG_SHORT, D_STORE, D_REASON, D_STATUS };

static const cli_opt opts[] = {
	[D_HELP] = {"--help", 0},
	[D_CONFIG] = {"--config", 1},
	/* rampartd's own spelling (rampartd -c FILE), accepted here alone. */
	[D_CONFIG_SHORT] = {"-c", 1},
	[D_STORE] = {"--store", 1},
	[D_REASON] = {"--reason", 1},
	[D_STATUS] = {"--status", 1},
	{NULL, 0},
};

static void usage(FILE *out)
{
	fputs("usage: rampart device revoke ID [--reason REASON] [--config FILE]\n"
	      "       rampart device list [--status STATUS] [--config FILE | --store URL]\n"
	      "\n"
	      "revoke  revokes the device and every certificate of it in the store (for good:\n"
	      "        a revoked device comes back only by enrolling under a new id), writes\n"
	      "        the audit entry, and sends SIGHUP to the running rampartd, which closes\n"
	      "        the device's connections, refuses its certificate at the next handshake\n"
	      "        and re-signs its CRL. If rampartd is not running it is said, and the\n"
	      "        revocation stands (rampartd refuses the device when it starts).\n"
	      "        REASON (RFC 5280, in the CRL): unspecified, keyCompromise, cACompromise,\n"
	      "        affiliationChanged, superseded, cessationOfOperation, certificateHold,\n"
	      "        privilegeWithdrawn, aACompromise. Default: none given.\n"
	      "list    prints the devices: id, status, model, last seen, last address.\n"
	      "        STATUS: active, quarantined, revoked or decommissioned.\n"
	      "\n"
	      "Options:\n"
	      "  --config FILE  rampartd's configuration, for its store and data_dir (default\n"
	      "                 " CLI_DEFAULT_CONFIG "); -c FILE is the same\n"
	      "  --store URL    the store itself (list only): sqlite:PATH or postgresql://...\n"
	      "\n"
	      "Exit status: 0 done, 1 refused or failed, 2 usage.\n",
	      out);
}

typedef struct dev_args {
	const char *cmd;
	const char *config, *store, *id, *reason, *status;
} dev_args;

/* Returns -1 to go on, or an exit code. */
static int parse(dev_args *o, int argc, char **argv, int revoke)
{
	const char *v;
	cli_args a;
	int k;

	cli_args_init(&a, o->cmd, argc - 1, argv + 1);
	while ((k = cli_args_next(&a, opts, &v)) != CLI_ARG_END) {
		if (k == CLI_ARG_ERROR) {
			return CLI_EXIT_USAGE;
		}
		if (k == D_HELP) {
			usage(stdout);
			return CLI_EXIT_OK;
		}
		if (k == CLI_ARG_POSITIONAL && revoke && o->id == NULL) {
			o->id = v;
		} else if (k == CLI_ARG_POSITIONAL) {
			return cli_usage_error(o->cmd, v, "unexpected argument");
		} else if (k == D_CONFIG || k == D_CONFIG_SHORT) {
			if (o->config != NULL) {
				return cli_usage_error(o->cmd, "--config", "given twice");
			}
			o->config = v;
		} else if (k == D_STORE && !revoke) {
			o->store = v;
		} else if (k == D_REASON && revoke) {
			o->reason = v;
		} else if (k == D_STATUS && !revoke) {
			o->status = v;
		} else {
			return cli_usage_error(o->cmd, opts[k].name,
					       "not an option of this command");
		}
	}
	if (o->config != NULL && o->store != NULL) {
		return cli_usage_error(o->cmd, "--config", "and --store exclude each other");
	}
	return -1;
}

/* ------------------------------------------------------------------------
 * Telling rampartd
 * ------------------------------------------------------------------------ */

/*
 * SIGHUP to the rampartd that holds <data_dir>/rampartd.pid's lock.
 * Returns 1 (told), 0 (not running: no file, or nobody holds its lock),
 * -1 (running but could not be told: printed).
 */
static int notify_rampartd(const char *cmd, const char *data_dir)
{
	char path[RP_LIMIT_CONFIG_PATH_LEN + 16];
	struct flock l;
	int fd, rc = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/rampartd.pid", data_dir) >= sizeof(path)) {
		cli_fail(cmd, "data_dir", "too long for the pid file's path");
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT) {
			printf("rampartd is not running (no %s): it refuses the device when it "
			       "starts\n",
			       path);
			return 0;
		}
		cli_fail(cmd, path, strerror(errno));
		return -1;
	}
	/* Who holds the write lock is the live rampartd, whatever the file says. */
	memset(&l, 0, sizeof(l));
	l.l_type = F_WRLCK;
	l.l_whence = SEEK_SET;
	if (fcntl(fd, F_GETLK, &l) != 0) {
		cli_fail(cmd, path, strerror(errno));
		rc = -1;
	} else if (l.l_type == F_UNLCK) {
		printf("rampartd is not running (%s is not held): it refuses the device when it "
		       "starts\n",
		       path);
	} else if (l.l_pid <= 0) {
		cli_fail(cmd, path,
			 "held by a rampartd in another PID namespace: send it SIGHUP yourself");
		rc = -1;
	} else if (kill(l.l_pid, SIGHUP) != 0) {
		char why[160];

		(void)snprintf(why, sizeof(why), "cannot send SIGHUP to rampartd (pid %ld): %s",
			       (long)l.l_pid, strerror(errno));
		cli_fail(cmd, path, why);
		rc = -1;
	} else {
		printf("rampartd (pid %ld) told (SIGHUP): the device's connections close now, its "
		       "certificates are refused at the next handshake, the CRL is re-signed\n",
		       (long)l.l_pid);
		rc = 1;
	}
	close(fd);
	return rc;
}

/* ------------------------------------------------------------------------
 * revoke
 * ------------------------------------------------------------------------ */

static const char *status_text(rp_store_device_status s)
{
	switch (s) {
	case RP_STORE_DEVICE_ACTIVE:
		return "active";
	case RP_STORE_DEVICE_QUARANTINED:
		return "quarantined";
	case RP_STORE_DEVICE_REVOKED:
		return "revoked";
	case RP_STORE_DEVICE_DECOMMISSIONED:
		return "decommissioned";
	default:
		return "?";
	}
}

static int revoke_main(int argc, char **argv)
{
	dev_args o = {"device revoke", NULL, NULL, NULL, NULL, NULL};
	const char *config;
	const rp_crl_actor who = {"cli", "local", NULL};
	rp_crl_revocation rev;
	rp_config *c = NULL;
	rp_store *st = NULL;
	char id[RP_LIMIT_STORE_ID_LEN * 4u + 4u];
	int reason = RP_PKI_REASON_NONE, rc;
	rp_status s;

	rc = parse(&o, argc, argv, 1);
	if (rc >= 0) {
		return rc;
	}
	if (o.id == NULL) {
		return cli_usage_error(o.cmd, "ID", "missing");
	}
	if (o.id[0] == '\0' || strlen(o.id) > RP_LIMIT_STORE_ID_LEN) {
		return cli_usage_error(o.cmd, "ID", "not a device id (1 to 128 bytes)");
	}
	if (o.reason != NULL && rp_crl_reason_parse(o.reason, &reason) != RP_OK) {
		return cli_usage_error(o.cmd, "--reason",
				       "not an RFC 5280 reason (keyCompromise, superseded, ...; "
				       "see --help)");
	}
	rp_log_escape(id, sizeof(id), (const uint8_t *)o.id, strlen(o.id));
	rp_log_set_level(RP_LOG_WARN);
	config = o.config != NULL ? o.config : CLI_DEFAULT_CONFIG;
	c = rp_calloc(NULL, 1, sizeof(*c));
	if (c == NULL) {
		return cli_fail(o.cmd, "configuration", "out of memory");
	}
	rc = CLI_EXIT_FAIL;
	/* The configuration twice (cli_store_open reads it too): its data_dir
	 * tells where rampartd's pid file is. */
	if (cli_config_load(o.cmd, config, c) != 0 ||
	    cli_store_open(o.cmd, config, NULL, 0, &st) != 0) {
		goto out;
	}
	s = rp_crl_revoke_device(st, o.id, reason, cli_now_ms(), &who, &rev);
	if (s == RP_E_NOT_FOUND) {
		cli_fail(o.cmd, id, "no such device");
		goto out;
	}
	if (s == RP_E_STATE) {
		cli_fail(o.cmd, id,
			 rev.was == RP_STORE_DEVICE_REVOKED ? "the device is revoked already"
							    : "the device is decommissioned");
		goto out;
	}
	if (s != RP_OK) {
		cli_fail(o.cmd, id, rp_status_str(s));
		goto out;
	}
	printf("device \"%s\" revoked (was %s): %zu certificate%s revoked, reason %s\n", id,
	       status_text(rev.was), rev.certificates, rev.certificates == 1 ? "" : "s",
	       rp_crl_reason_name(reason));
	if (rev.audit != RP_OK) {
		fprintf(stderr, "rampart %s: audit entry device.revoke on %s: %s\n", o.cmd, id,
			rp_status_str(rev.audit));
	}
	/* Committed and closed before rampartd reads it. */
	rp_store_close(st);
	st = NULL;
	rc = notify_rampartd(o.cmd, c->data_dir) < 0 || rev.audit != RP_OK ? CLI_EXIT_FAIL
									   : CLI_EXIT_OK;
	if (fflush(stdout) != 0) {
		rc = CLI_EXIT_FAIL;
	}
out:
	rp_store_close(st);
	rp_free(NULL, c);
	return rc;
}

/* ------------------------------------------------------------------------
 * list
 * ------------------------------------------------------------------------ */

static int status_parse(const char *s, rp_store_device_status *out)
{
	static const rp_store_device_status all[] = {
		RP_STORE_DEVICE_ACTIVE, RP_STORE_DEVICE_QUARANTINED, RP_STORE_DEVICE_REVOKED,
		RP_STORE_DEVICE_DECOMMISSIONED};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(s, status_text(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	}
	return -1;
}

static void print_row(const rp_store_device *d)
{
	char id[RP_LIMIT_STORE_ID_LEN * 4u + 4u], model[64], addr[64], seen[32];

	/* Ids and models come from devices and enrollment tokens: escaped. */
	rp_log_escape(id, sizeof(id), (const uint8_t *)d->id, strlen(d->id));
	rp_log_escape(model, sizeof(model), (const uint8_t *)d->model, strlen(d->model));
	rp_log_escape(addr, sizeof(addr), (const uint8_t *)d->last_addr, strlen(d->last_addr));
	cli_time_text(d->last_seen_ms, seen, sizeof(seen));
	printf("%-32s %-14s %-16s %-21s %s\n", id, status_text(d->status),
	       model[0] != '\0' ? model : "-", seen, addr[0] != '\0' ? addr : "-");
}

static int list_main(int argc, char **argv)
{
	dev_args o = {"device list", NULL, NULL, NULL, NULL, NULL};
	char after[RP_LIMIT_STORE_ID_LEN + 1u] = "";
	rp_store_device_filter f;
	rp_store_device *rows = NULL;
	rp_store_device_status want = RP_STORE_DEVICE_ANY;
	rp_store *st = NULL;
	size_t n = 0;
	rp_status s;
	int rc;

	rc = parse(&o, argc, argv, 0);
	if (rc >= 0) {
		return rc;
	}
	if (o.status != NULL && status_parse(o.status, &want) != 0) {
		return cli_usage_error(o.cmd, "--status",
				       "must be active, quarantined, revoked or decommissioned");
	}
	rp_log_set_level(RP_LOG_WARN);
	if (cli_store_open(o.cmd, o.config, o.store, 0, &st) != 0) {
		return CLI_EXIT_FAIL;
	}
	printf("%-32s %-14s %-16s %-21s %s\n", "ID", "STATUS", "MODEL", "LAST SEEN", "ADDRESS");
	rc = CLI_EXIT_OK;
	do {
		memset(&f, 0, sizeof(f));
		f.status = want;
		f.after_id = after[0] != '\0' ? after : NULL;
		f.limit = RP_LIMIT_STORE_PAGE;
		s = rp_store_device_list(st, &f, &rows, &n, NULL, NULL);
		if (s != RP_OK) {
			rc = cli_fail(o.cmd, "store", rp_status_str(s));
			break;
		}
		for (size_t i = 0; i < n; i++) {
			print_row(&rows[i]);
		}
		if (n > 0) {
			(void)snprintf(after, sizeof(after), "%s", rows[n - 1u].id);
		}
		rp_store_free(rows);
		rows = NULL;
	} while (n == RP_LIMIT_STORE_PAGE);
	rp_store_close(st);
	if (fflush(stdout) != 0) {
		rc = CLI_EXIT_FAIL;
	}
	return rc;
}

int cli_device_main(int argc, char **argv)
{
	if (argc < 2 || cli_is_help(argv[1])) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "revoke") == 0) {
		return revoke_main(argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "list") == 0) {
		return list_main(argc - 1, argv + 1);
	}
	return cli_usage_error("device", argv[1], "unknown command (want: revoke or list)");
}
