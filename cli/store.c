/*
 * store.c - where the operator commands find rampartd's store, and the two
 * writes they make to it: an operator, and an audit entry.
 *
 * The store is found as rampartd finds it (server/rampartd/main.c): the
 * `store` key of its configuration file, else sqlite:<data_dir>/rampart.db;
 * `--store URL` overrides both. A store URL may hold a PostgreSQL password,
 * so it is never printed: messages name the SQLite path or "the store".
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "auth/password.h"
#include "cli.h"
#include "util/alloc.h"

struct report_ctx {
	const char *cmd;
};

static void report(void *ctx, const char *file, unsigned line, const char *msg)
{
	const char *cmd = ((struct report_ctx *)ctx)->cmd;

	if (line > 0) {
		fprintf(stderr, "rampart %s: %s:%u: %s\n", cmd, file, line, msg);
	} else {
		fprintf(stderr, "rampart %s: %s: %s\n", cmd, file, msg);
	}
}

int cli_config_load(const char *cmd, const char *path, rp_config *c)
{
	struct report_ctx r = {cmd};

	if (rp_config_load(c, path, report, &r) != RP_OK) {
		fprintf(stderr, "rampart %s: %s: the configuration has errors; nothing was done\n",
			cmd, path);
		return -1;
	}
	return 0;
}

int cli_store_url(const char *cmd, const rp_config *c, char *url, size_t cap)
{
	int n;

	if (c->store[0] != '\0') {
		n = snprintf(url, cap, "%s", c->store);
	} else {
		n = snprintf(url, cap, "sqlite:%s/rampart.db", c->data_dir);
	}
	if (n < 0 || (size_t)n >= cap) {
		cli_fail(cmd, "store", "the path of the database is too long");
		return -1;
	}
	return 0;
}

const char *cli_sqlite_path(const char *url)
{
	return strncmp(url, "sqlite:", 7) == 0 ? url + 7 : NULL;
}

/* The store URL from --store, or from the configuration file. */
static int locate(const char *cmd, const char *config, const char *store, char *url, size_t cap)
{
	rp_config *c;
	int rc = -1;

	if (store != NULL) {
		if (strlen(store) >= cap) {
			cli_fail(cmd, "--store", "the URL is too long");
			return -1;
		}
		memcpy(url, store, strlen(store) + 1);
		return 0;
	}
	c = rp_calloc(NULL, 1, sizeof(*c));
	if (c == NULL) {
		cli_fail(cmd, "configuration", "out of memory");
		return -1;
	}
	if (cli_config_load(cmd, config != NULL ? config : CLI_DEFAULT_CONFIG, c) == 0) {
		rc = cli_store_url(cmd, c, url, cap);
	}
	rp_free(NULL, c);
	return rc;
}

int cli_store_open(const char *cmd, const char *config, const char *store, int create,
		   rp_store **out)
{
	char *url;
	const char *path;
	struct stat sb;
	rp_status st;
	int rc = -1;

	*out = NULL;
	url = rp_alloc(NULL, CLI_URL_CAP);
	if (url == NULL) {
		cli_fail(cmd, "store", "out of memory");
		return -1;
	}
	if (locate(cmd, config, store, url, CLI_URL_CAP) != 0) {
		goto out;
	}
	/* Opening a missing SQLite file creates an empty store: only on purpose. */
	path = cli_sqlite_path(url);
	if (path != NULL && stat(path, &sb) != 0) {
		if (errno != ENOENT || !create) {
			cli_fail(cmd, path,
				 errno == ENOENT ? "no such database (has 'rampart init' run?)"
						 : strerror(errno));
			goto out;
		}
		fprintf(stderr, "rampart %s: %s: no database yet: a new one is made\n", cmd, path);
	}
	st = rp_store_open(url, NULL, out);
	if (st != RP_OK) {
		/* The store logged why; the URL is not repeated (a password?). */
		cli_fail(cmd, path != NULL ? path : "store",
			 st == RP_E_CONFIG ? "refused (see above)" : rp_status_str(st));
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(url, CLI_URL_CAP);
	rp_free(NULL, url);
	return rc;
}

int cli_audit(const char *cmd, rp_store *st, const char *actor, const char *action,
	      const char *target, const char *detail)
{
	rp_store_audit_entry e;
	rp_status s;

	memset(&e, 0, sizeof(e));
	e.time_ms = cli_now_ms();
	e.actor = actor;
	e.action = action;
	e.target = target;
	e.source = "local";
	e.detail = detail;
	s = rp_store_audit_append(st, &e, NULL, NULL, NULL);
	if (s != RP_OK) {
		fprintf(stderr, "rampart %s: audit entry %s on %s: %s\n", cmd, action, target,
			rp_status_str(s));
		return -1;
	}
	return 0;
}

int cli_operator_create(const char *cmd, rp_store *st, const char *actor,
			const cli_new_operator *op)
{
	char phc[RP_PASSWORD_PHC_CAP], detail[64];
	rp_store_operator o;
	rp_status s;
	int rc = -1;

	s = rp_password_hash(NULL, (const uint8_t *)op->password, op->password_len, phc,
			     sizeof(phc), NULL);
	if (s != RP_OK) {
		cli_fail(cmd, "password hash", rp_status_str(s));
		goto out;
	}
	memset(&o, 0, sizeof(o));
	o.name = op->name;
	o.role = op->role;
	o.password_hash = phc;
	o.created_ms = cli_now_ms();
	s = rp_store_operator_create(st, &o, NULL, NULL);
	if (s != RP_OK) {
		cli_fail(cmd, op->name,
			 s == RP_E_EXISTS ? "an operator of this name exists" : rp_status_str(s));
		goto out;
	}
	(void)snprintf(detail, sizeof(detail), "{\"role\":\"%s\"}", cli_role_name(op->role));
	rc = cli_audit(cmd, st, actor, "operator.create", op->name, detail);
out:
	OPENSSL_cleanse(phc, sizeof(phc));
	return rc;
}
