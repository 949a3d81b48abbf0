/*
 * cmd_init.c - `rampart init`: a new fleet's PKI, secrets, configuration
 * and first administrator, with no default password or key anywhere.
 *
 * Order of the steps, and why:
 *  1. options, then the plan: every path init will create (init.h);
 *  2. checks that change nothing: no file of the plan exists, the admin
 *     password (if typed) passes the policy, the PKI is made in memory;
 *  3. directories, then the store is opened and must hold no operator;
 *  4. every file is written under a temporary name, then published;
 *  5. last, the store: the administrator and the audit entries. A file
 *     can be removed again; a row in PostgreSQL cannot (the store has no
 *     delete for operators), so the store comes after everything that can
 *     still fail.
 * From step 3 on, every path created is in a journal; any failure rolls
 * it back (a new SQLite database included), so a half-made fleet is never
 * left behind. SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGPIPE are held
 * during those steps and take effect afterwards (a closed standard output
 * is then EPIPE: a rollback first). The two secrets a person must keep
 * (the root key's passphrase, a generated admin password) are printed once,
 * at the very end, when everything is in place.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "auth/password.h"
#include "init.h"
#include "util/alloc.h"
#include "util/log.h"

#define CMD "init"

enum {
	O_HELP,
	O_CONFIG,
	O_DATA_DIR,
	O_STORE,
	O_NAME,
	O_IP,
	O_FLEET,
	O_ALG,
	O_OFFLINE,
	O_ROOT_INSIDE,
	O_ADMIN,
	O_PASSWORD_STDIN,
};

static const cli_opt opts[] = {
	[O_HELP] = {"--help", 0},
	[O_CONFIG] = {"--config", 1},
	[O_DATA_DIR] = {"--data-dir", 1},
	[O_STORE] = {"--store", 1},
	[O_NAME] = {"--name", 1},
	[O_IP] = {"--ip", 1},
	[O_FLEET] = {"--fleet", 1},
	[O_ALG] = {"--alg", 1},
	[O_OFFLINE] = {"--offline", 1},
	[O_ROOT_INSIDE] = {"--root-key-inside", 0},
	[O_ADMIN] = {"--admin", 1},
	[O_PASSWORD_STDIN] = {"--password-stdin", 0},
	{NULL, 0},
};

static void usage(FILE *out)
{
	fputs("usage: rampart init --name DNS|--ip ADDR... (--offline DIR | --root-key-inside)\n"
	      "                    [--config FILE] [--data-dir DIR] [--store URL]\n"
	      "                    [--fleet NAME] [--alg p256|p384] [--admin NAME]\n"
	      "                    [--password-stdin]\n"
	      "\n"
	      "Makes a new fleet: its root CA, an issuing CA, rampartd's server certificate,\n"
	      "the secrets rampartd needs, and the first administrator. Nothing is asked;\n"
	      "there is no default password or key. Refuses to run (and changes nothing)\n"
	      "if any of its files exist or the store already has an operator.\n"
	      "\n"
	      "Options:\n"
	      "  --config FILE      rampartd's configuration (default " CLI_DEFAULT_CONFIG ");\n"
	      "                     read for data_dir and store; written if it does not exist\n"
	      "  --data-dir DIR     where rampartd keeps its state (default: the configuration's\n"
	      "                     data_dir, /var/lib/rampart)\n"
	      "  --store URL        sqlite:PATH or postgresql://... (default: the configuration's\n"
	      "                     store, sqlite:DIR/rampart.db)\n"
	      "  --name DNS         a DNS name of the server certificate (repeatable)\n"
	      "  --ip ADDR          an IP address of the server certificate (repeatable);\n"
	      "                     at least one --name or --ip, at most 32 in all\n"
	      "  --fleet NAME       the fleet's name: 1 to 32 of a-z 0-9 - (default rampart)\n"
	      "  --alg p256|p384    the root CA's key (default p256); the others are P-256\n"
	      "  --offline DIR      where the root CA key goes, encrypted (removable media)\n"
	      "  --root-key-inside  keep the root CA key, encrypted, under DIR/pki instead\n"
	      "                     (not recommended: a warning is printed)\n"
	      "  --admin NAME       the first administrator (default admin)\n"
	      "  --password-stdin   read the administrator's password from standard input\n"
	      "                     instead of generating one\n"
	      "\n"
	      "Printed once, never stored: the root CA key's passphrase, and the generated\n"
	      "administrator password. See docs/cli.md and docs/pki.md.\n"
	      "\n"
	      "Exit status: 0 done, 1 refused or failed (nothing left behind), 2 usage.\n",
	      out);
}

/* ---- options -------------------------------------------------------------- */

static int add_san(const char **list, size_t *n, size_t other, const char *v, const char *opt)
{
	if (*n + other >= RP_LIMIT_PKI_SERVER_SANS) {
		return cli_usage_error(CMD, opt, "more than 32 names and addresses");
	}
	if (v[0] == '\0') {
		return cli_usage_error(CMD, opt, "empty value");
	}
	list[(*n)++] = v;
	return CLI_EXIT_OK;
}

static int check_ip(const char *v)
{
	unsigned char buf[16];

	if (inet_pton(AF_INET, v, buf) != 1 && inet_pton(AF_INET6, v, buf) != 1) {
		return cli_usage_error(CMD, v, "not an IPv4 or IPv6 address");
	}
	return CLI_EXIT_OK;
}

static int set_alg(init_opts *o, const char *v)
{
	if (strcmp(v, "p256") == 0) {
		o->alg = RP_PKI_EC_P256;
	} else if (strcmp(v, "p384") == 0) {
		o->alg = RP_PKI_EC_P384;
	} else {
		return cli_usage_error(CMD, "--alg", "must be p256 or p384");
	}
	return CLI_EXIT_OK;
}

/* One option; CLI_EXIT_OK, or the exit code to return (-1: --help done). */
static int take(init_opts *o, int k, const char *v)
{
	switch (k) {
	case O_HELP:
		usage(stdout);
		return -1;
	case O_CONFIG:
		o->config = v;
		return CLI_EXIT_OK;
	case O_DATA_DIR:
		o->data_dir = v;
		return v[0] != '\0' ? CLI_EXIT_OK : cli_usage_error(CMD, "--data-dir", "empty");
	case O_STORE:
		o->store = v;
		return CLI_EXIT_OK;
	case O_NAME:
		return add_san(o->dns, &o->ndns, o->nip, v, "--name");
	case O_IP:
		return check_ip(v) != CLI_EXIT_OK ? CLI_EXIT_USAGE
						  : add_san(o->ip, &o->nip, o->ndns, v, "--ip");
	case O_FLEET:
		o->fleet = v;
		return CLI_EXIT_OK;
	case O_ALG:
		return set_alg(o, v);
	case O_OFFLINE:
		o->offline = v;
		return v[0] != '\0' ? CLI_EXIT_OK : cli_usage_error(CMD, "--offline", "empty");
	case O_ROOT_INSIDE:
		o->root_inside = 1;
		return CLI_EXIT_OK;
	case O_ADMIN:
		o->admin = v;
		return CLI_EXIT_OK;
	default:
		o->password_stdin = 1;
		return CLI_EXIT_OK;
	}
}

/* Rules between options, once all are read. */
static int check_opts(const init_opts *o)
{
	const char *why = NULL;

	if (o->ndns + o->nip == 0) {
		return cli_usage_error(CMD, "--name/--ip", "the server certificate needs a name");
	}
	if (o->offline == NULL && !o->root_inside) {
		return cli_usage_error(
			CMD, "--offline",
			"required: where the root CA key goes (or --root-key-inside)");
	}
	if (o->offline != NULL && o->root_inside) {
		return cli_usage_error(CMD, "--offline",
				       "and --root-key-inside exclude each other");
	}
	if (!rp_pki_fleet_name_valid(o->fleet, strlen(o->fleet), &why)) {
		return cli_usage_error(CMD, "--fleet", why);
	}
	if (!cli_operator_name_valid(o->admin)) {
		return cli_usage_error(
			CMD, "--admin",
			"1 to 64 of a-z 0-9 . _ - @, starting with a letter or digit");
	}
	return CLI_EXIT_OK;
}

/* Returns -1 to go on, or the exit code to return (0 after --help). */
static int parse_opts(int argc, char **argv, init_opts *o)
{
	cli_args a;
	const char *v;
	int k, rc;

	memset(o, 0, sizeof(*o));
	o->config = CLI_DEFAULT_CONFIG;
	o->fleet = "rampart";
	o->admin = "admin";
	o->alg = RP_PKI_EC_P256;
	cli_args_init(&a, CMD, argc - 1, argv + 1);
	while ((k = cli_args_next(&a, opts, &v)) != CLI_ARG_END) {
		if (k == CLI_ARG_ERROR) {
			return CLI_EXIT_USAGE;
		}
		if (k == CLI_ARG_POSITIONAL) {
			return cli_usage_error(CMD, v, "unexpected argument");
		}
		rc = take(o, k, v);
		if (rc != CLI_EXIT_OK) {
			return rc < 0 ? CLI_EXIT_OK : rc; /* -1: --help was printed */
		}
	}
	rc = check_opts(o);
	return rc != CLI_EXIT_OK ? rc : -1;
}

/* ---- the plan ----------------------------------------------------------------- */

/* path made absolute (from the working directory), into out. */
static int absolute(const char *path, char *out, size_t cap)
{
	char cwd[INIT_PATH_CAP];
	int n;

	if (path[0] == '/') {
		n = snprintf(out, cap, "%s", path);
	} else if (getcwd(cwd, sizeof(cwd)) == NULL) {
		cli_fail(CMD, path, strerror(errno));
		return -1;
	} else {
		n = snprintf(out, cap, "%s/%s", cwd, path);
	}
	if (n < 0 || (size_t)n >= cap) {
		cli_fail(CMD, path, "path is too long");
		return -1;
	}
	/* No trailing '/': paths under it are joined with one. */
	for (size_t len = strlen(out); len > 1 && out[len - 1] == '/'; len--) {
		out[len - 1] = '\0';
	}
	return 0;
}

/* Reads the configuration if there is one (else the defaults). */
static int plan_config(init_plan *p)
{
	const char *slash;
	struct stat sb;

	if (absolute(p->o->config, p->config, sizeof(p->config)) != 0) {
		return -1;
	}
	slash = strrchr(p->config, '/'); /* there is one: the path is absolute */
	if (slash == p->config) {
		memcpy(p->config_dir, "/", 2);
	} else {
		memcpy(p->config_dir, p->config, (size_t)(slash - p->config));
		p->config_dir[slash - p->config] = '\0';
	}
	if (lstat(p->config, &sb) != 0 && errno == ENOENT) {
		p->write_config = 1;
		rp_config_defaults(&p->cfg);
		return 0;
	}
	return cli_config_load(CMD, p->config, &p->cfg);
}

static const struct {
	enum init_file f;
	int dir; /* 0 pki, 1 secrets, 2 the root key's directory */
	const char *name;
} files[] = {
	{INIT_ROOT_KEY, 2, "root-ca.key"},         {INIT_ROOT_CRT, 2, "root-ca.crt"},
	{INIT_ISSUING_KEY, 0, "issuing-ca.key"},   {INIT_ISSUING_CRT, 0, "issuing-ca.crt"},
	{INIT_SERVER_KEY, 0, "server.key"},        {INIT_SERVER_CRT, 0, "server.crt"},
	{INIT_FLEET_CA, 0, "fleet-ca.crt"},        {INIT_DEVICE_TRUST, 0, "device-trust.crt"},
	{INIT_ISSUING_PASS, 1, "issuing-ca.pass"}, {INIT_API_KEY, 1, "api.key"},
};

/* Final and temporary name of each file. */
static int plan_files(init_plan *p)
{
	const char *dirs[3] = {p->pki_dir, p->secrets_dir, p->key_dir};
	const char *slash = strrchr(p->config, '/');
	char tmpname[96];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		(void)snprintf(tmpname, sizeof(tmpname), ".%s.init-%ld", files[i].name,
			       (long)getpid());
		if (cli_path_join(CMD, p->path[files[i].f], INIT_PATH_CAP, dirs[files[i].dir],
				  files[i].name) != 0 ||
		    cli_path_join(CMD, p->tmp[files[i].f], INIT_PATH_CAP, dirs[files[i].dir],
				  tmpname) != 0) {
			return -1;
		}
	}
	memcpy(p->path[INIT_CONFIG], p->config, strlen(p->config) + 1);
	(void)snprintf(tmpname, sizeof(tmpname), ".%.64s.init-%ld", slash + 1, (long)getpid());
	return cli_path_join(CMD, p->tmp[INIT_CONFIG], INIT_PATH_CAP, p->config_dir, tmpname);
}

static int plan_make(init_plan *p)
{
	const char *dd;

	if (plan_config(p) != 0) {
		return -1;
	}
	dd = p->o->data_dir != NULL ? p->o->data_dir : p->cfg.data_dir;
	if (absolute(dd, p->data_dir, sizeof(p->data_dir)) != 0 ||
	    cli_path_join(CMD, p->pki_dir, INIT_PATH_CAP, p->data_dir, "pki") != 0 ||
	    cli_path_join(CMD, p->secrets_dir, INIT_PATH_CAP, p->data_dir, "secrets") != 0) {
		return -1;
	}
	if (p->o->offline != NULL) {
		if (absolute(p->o->offline, p->key_dir, sizeof(p->key_dir)) != 0) {
			return -1;
		}
	} else {
		memcpy(p->key_dir, p->pki_dir, sizeof(p->key_dir));
	}
	if (p->o->store != NULL) {
		if (strlen(p->o->store) >= sizeof(p->url)) {
			cli_fail(CMD, "--store", "the URL is too long");
			return -1;
		}
		memcpy(p->url, p->o->store, strlen(p->o->store) + 1);
	} else if (p->cfg.store[0] != '\0') {
		memcpy(p->url, p->cfg.store, sizeof(p->cfg.store));
	} else {
		/* url has room for "sqlite:", a path and "/rampart.db" */
		(void)snprintf(p->url, sizeof(p->url), "sqlite:%s/rampart.db", p->data_dir);
	}
	return plan_files(p);
}

/* ---- checks that change nothing ------------------------------------------------ */

/* Every file of the plan that exists is named; any means "refuse". */
static int preflight(init_plan *p)
{
	const char *db = cli_sqlite_path(p->url);
	struct stat sb;
	int found = 0;

	for (int f = 0; f < INIT_FILE_COUNT; f++) {
		if (f == INIT_CONFIG) {
			continue;
		}
		if (lstat(p->path[f], &sb) == 0) {
			cli_fail(CMD, p->path[f], "already exists");
			found = 1;
		} else if (errno != ENOENT) {
			cli_fail(CMD, p->path[f], strerror(errno));
			return -1;
		}
	}
	if (found) {
		cli_fail(CMD, "refused", "a fleet is already set up here; nothing was changed");
		return -1;
	}
	p->db_existed = db != NULL && lstat(db, &sb) == 0;
	return 0;
}

static int admin_password(const init_opts *o, char *pw, size_t cap, size_t *len)
{
	if (!o->password_stdin) {
		if (rp_password_generate(pw, cap, len) != RP_OK) {
			cli_fail(CMD, "admin password", "the random generator failed");
			return -1;
		}
		return 0;
	}
	if (cli_password_read(CMD, pw, cap, len) != 0) {
		return -1;
	}
	return cli_password_check(CMD, pw, *len, o->admin) == 0 ? 0 : -1;
}

/* ---- steps that create --------------------------------------------------------- */

static int make_dirs(const init_plan *p, cli_journal *j)
{
	const char *db = cli_sqlite_path(p->url);
	char parent[INIT_PATH_CAP];
	const char *slash;

	if (cli_mkdirs(j, p->data_dir) != 0 || cli_mkdirs(j, p->pki_dir) != 0 ||
	    cli_mkdirs(j, p->secrets_dir) != 0 || cli_dir_private(CMD, p->secrets_dir) != 0 ||
	    cli_mkdirs(j, p->key_dir) != 0 ||
	    (p->write_config && cli_mkdirs(j, p->config_dir) != 0)) {
		return -1;
	}
	/* The store would make a SQLite file's directories itself, unrecorded. */
	slash = db != NULL ? strrchr(db, '/') : NULL;
	if (slash != NULL && slash != db && (size_t)(slash - db) < sizeof(parent)) {
		memcpy(parent, db, (size_t)(slash - db));
		parent[slash - db] = '\0';
		return cli_mkdirs(j, parent);
	}
	return 0;
}

/* Opens the store; a new SQLite database goes into the journal. */
static int open_store(const init_plan *p, cli_journal *j, rp_store **st)
{
	static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
	const char *db = cli_sqlite_path(p->url);
	char path[INIT_PATH_CAP];
	rp_status s;

	for (size_t i = 0; db != NULL && !p->db_existed && i < 4; i++) {
		(void)snprintf(path, sizeof(path), "%s%s", db, suffix[i]);
		if (cli_journal_file(j, path) != 0) {
			return -1;
		}
	}
	s = rp_store_open(p->url, NULL, st);
	if (s != RP_OK) {
		cli_fail(CMD, db != NULL ? db : "store",
			 s == RP_E_CONFIG ? "refused (see above)" : rp_status_str(s));
		return -1;
	}
	return 0;
}

static int store_empty(rp_store *st)
{
	rp_store_operator *rows = NULL;
	size_t n = 0;
	char name[80];
	rp_status s;

	s = rp_store_operator_list(st, NULL, 1, &rows, &n, NULL, NULL);
	if (s != RP_OK) {
		cli_fail(CMD, "store", rp_status_str(s));
		return -1;
	}
	if (n > 0) {
		rp_log_escape(name, sizeof(name), (const uint8_t *)rows[0].name,
			      strlen(rows[0].name));
		fprintf(stderr,
			"rampart %s: store: already has operators (\"%s\"...): a fleet is set up "
			"there; nothing was changed\n",
			CMD, name);
	}
	rp_store_free(rows);
	return n > 0 ? -1 : 0;
}

/* 1 if a rollback leaves the store as it is (PostgreSQL, an existing file). */
static int store_survives(const init_plan *p)
{
	return cli_sqlite_path(p->url) == NULL || p->db_existed;
}

/* The administrator, and the audit entries of what init did. */
static int store_writes(const init_plan *p, const cli_init_pki *k, rp_store *st, const char *pw,
			size_t pwlen)
{
	cli_new_operator op = {p->o->admin, RP_STORE_ROLE_ADMIN, pw, pwlen};
	char root[RP_PKI_SHA256_HEX_SIZE], iss[RP_PKI_SHA256_HEX_SIZE];
	char srv[RP_PKI_SHA256_HEX_SIZE], detail[320];

	if (rp_pki_cert_sha256_hex(k->root, root, sizeof(root)) != RP_OK ||
	    rp_pki_cert_sha256_hex(k->issuing, iss, sizeof(iss)) != RP_OK ||
	    rp_pki_cert_sha256_hex(k->server, srv, sizeof(srv)) != RP_OK) {
		cli_fail(CMD, "certificates", "cannot compute their fingerprints");
		return -1;
	}
	(void)snprintf(
		detail, sizeof(detail),
		"{\"root_sha256\":\"%s\",\"issuing_sha256\":\"%s\",\"server_sha256\":\"%s\"}", root,
		iss, srv);
	if (cli_audit(CMD, st, "cli:init", "pki.init", p->o->fleet, detail) != 0) {
		return -1;
	}
	if (cli_operator_create(CMD, st, "cli:init", &op) != 0) {
		if (store_survives(p)) {
			cli_fail(CMD, "store",
				 "its audit log keeps the pki.init entry of this attempt");
		}
		return -1;
	}
	return 0;
}

/* ---- the summary ------------------------------------------------------------ */

static void summary(const init_plan *p, const cli_init_pki *k, const char *pw)
{
	const char *db = cli_sqlite_path(p->url);
	char fp[RP_PKI_SHA256_HEX_SIZE] = "";

	(void)rp_pki_cert_sha256_hex(k->root, fp, sizeof(fp));
	printf("rampart init: fleet \"%s\" is set up.\n\n", p->o->fleet);
	printf("  root CA key        %s (encrypted)\n", p->path[INIT_ROOT_KEY]);
	printf("  root CA            %s\n", p->path[INIT_ROOT_CRT]);
	printf("  root CA SHA-256    %s\n", fp);
	printf("  devices trust      %s\n", p->path[INIT_DEVICE_TRUST]);
	printf("  rampartd's CAs     %s\n", p->path[INIT_FLEET_CA]);
	printf("  server certificate %s\n", p->path[INIT_SERVER_CRT]);
	printf("  server key         %s\n", p->path[INIT_SERVER_KEY]);
	printf("  issuing CA key     %s (encrypted)\n", p->path[INIT_ISSUING_KEY]);
	printf("  its passphrase     %s\n", p->path[INIT_ISSUING_PASS]);
	printf("  API secret key     %s\n", p->path[INIT_API_KEY]);
	printf("  store              %s\n", db != NULL ? db : "PostgreSQL");
	printf("  configuration      %s%s\n", p->config, p->write_config ? " (written)" : "");
	if (!p->write_config) {
		init_config_advice(p);
	}
	printf("\nThe root CA key's passphrase. Store this offline; it is shown only now:\n");
	printf("root-ca-passphrase: %s\n", k->root_pass);
	if (pw != NULL) {
		printf("\nThe password of administrator \"%s\". It is shown only now:\n",
		       p->o->admin);
		printf("admin-password: %s\n", pw);
	} else {
		printf("\nAdministrator \"%s\": the password given on standard input.\n",
		       p->o->admin);
	}
}

/* ---- the command -------------------------------------------------------------- */

/* Steps 3 to 5 (see the top of the file); on failure the caller rolls back. */
static int create(const init_plan *p, const cli_init_pki *k, cli_journal *j, rp_store **st,
		  const char *pw, size_t pwlen)
{
	if (make_dirs(p, j) != 0 || open_store(p, j, st) != 0 || store_empty(*st) != 0 ||
	    init_write_all(p, k, j) != 0 || init_publish_all(p, j) != 0 ||
	    store_writes(p, k, *st, pw, pwlen) != 0) {
		return -1;
	}
	return 0;
}

/* Prints the summary; -1 if standard output failed (the secrets were not seen). */
static int show(const init_plan *p, const cli_init_pki *k, const char *pw)
{
	summary(p, k, pw);
	if (fflush(stdout) == 0 && !ferror(stdout)) {
		return 0;
	}
	fprintf(stderr, "rampart %s: standard output: %s: the secrets were not shown\n", CMD,
		strerror(errno));
	if (store_survives(p)) {
		fprintf(stderr, "rampart %s: store: the administrator \"%s\" stays in it\n", CMD,
			p->o->admin);
	}
	return -1;
}

/* From the first creation on, an interruption would leave half a fleet. */
static void hold_signals(sigset_t *saved)
{
	sigset_t hold;

	sigemptyset(&hold);
	sigaddset(&hold, SIGINT);
	sigaddset(&hold, SIGTERM);
	sigaddset(&hold, SIGHUP);
	sigaddset(&hold, SIGQUIT);
	sigaddset(&hold, SIGPIPE); /* a closed stdout: EPIPE, a rollback, then the signal */
	(void)sigprocmask(SIG_BLOCK, &hold, saved);
}

int cli_init_main(int argc, char **argv)
{
	char pw[CLI_PASSWORD_CAP];
	size_t pwlen = 0;
	init_opts o;
	init_plan *p = NULL;
	cli_init_pki k;
	cli_pki_request req;
	cli_journal j = {CMD, {NULL}, {0}, 0};
	rp_store *st = NULL;
	sigset_t saved;
	int held = 0, rc;

	rc = parse_opts(argc, argv, &o);
	if (rc >= 0) {
		return rc;
	}
	memset(&k, 0, sizeof(k));
	memset(pw, 0, sizeof(pw));
	rc = CLI_EXIT_FAIL;
	(void)umask(077);
	rp_log_set_level(RP_LOG_WARN);
	p = rp_calloc(NULL, 1, sizeof(*p));
	if (p == NULL) {
		cli_fail(CMD, "plan", "out of memory");
		goto out;
	}
	p->o = &o;
	req = (cli_pki_request){o.fleet, o.alg, o.dns, o.ndns, o.ip, o.nip};
	if (plan_make(p) != 0 || preflight(p) != 0 ||
	    admin_password(&o, pw, sizeof(pw), &pwlen) != 0 ||
	    cli_init_pki_make(CMD, &req, (int64_t)time(NULL), &k) != 0) {
		goto out;
	}
	if (o.root_inside) {
		fprintf(stderr,
			"rampart %s: warning: --root-key-inside: the root CA key stays on "
			"this machine (encrypted, %s); whoever takes the machine and the "
			"passphrase can issue for the whole fleet. Move it offline.\n",
			CMD, p->path[INIT_ROOT_KEY]);
	}
	hold_signals(&saved);
	held = 1;
	if (create(p, &k, &j, &st, pw, pwlen) != 0) {
		goto out;
	}
	rp_store_close(st); /* everything is committed before anything is shown */
	st = NULL;
	if (show(p, &k, o.password_stdin ? NULL : pw) != 0) {
		goto out;
	}
	rc = CLI_EXIT_OK;
out:
	rp_store_close(st);
	if (rc != CLI_EXIT_OK && j.n > 0) {
		cli_journal_rollback(&j);
		cli_fail(CMD, "rollback", "everything init had made was removed");
	}
	cli_journal_free(&j);
	cli_init_pki_free(&k);
	OPENSSL_cleanse(pw, sizeof(pw));
	rp_free(NULL, p);
	if (held) {
		(void)sigprocmask(SIG_SETMASK, &saved, NULL);
	}
	return rc;
}
