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
 *
 * With --pkcs11-module/--pkcs11-token/--pkcs11-pin-file the root and the
 * issuing CA keys are generated in PKCS#11 tokens instead (init_token.c):
 * the tokens are opened and the labels checked free in step 2, the keys
 * generated in step 3 (after the store was found empty) and the
 * certificates signed through the tokens; no key file and no passphrase
 * exist, and a rollback destroys the key pairs this init generated.
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
	O_P11_MODULE,
	O_P11_TOKEN,
	O_P11_PIN_FILE,
	O_P11_ROOT_TOKEN,
	O_P11_ROOT_PIN_FILE,
	O_P11_ROOT_LABEL,
	O_P11_ISSUING_LABEL,
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
	[O_P11_MODULE] = {"--pkcs11-module", 1},
	[O_P11_TOKEN] = {"--pkcs11-token", 1},
	[O_P11_PIN_FILE] = {"--pkcs11-pin-file", 1},
	[O_P11_ROOT_TOKEN] = {"--pkcs11-root-token", 1},
	[O_P11_ROOT_PIN_FILE] = {"--pkcs11-root-pin-file", 1},
	[O_P11_ROOT_LABEL] = {"--pkcs11-root-label", 1},
	[O_P11_ISSUING_LABEL] = {"--pkcs11-issuing-label", 1},
	{NULL, 0},
};

static void usage(FILE *out)
{
	fputs("usage: rampart init --name DNS|--ip ADDR... (--offline DIR | --root-key-inside)\n"
	      "                    [--config FILE] [--data-dir DIR] [--store URL]\n"
	      "                    [--fleet NAME] [--alg p256|p384] [--admin NAME]\n"
	      "                    [--password-stdin]\n"
	      "       rampart init --name DNS|--ip ADDR... --pkcs11-module PATH\n"
	      "                    --pkcs11-token LABEL --pkcs11-pin-file FILE\n"
	      "                    [--pkcs11-root-token LABEL [--pkcs11-root-pin-file FILE]]\n"
	      "                    [--pkcs11-root-label L] [--pkcs11-issuing-label L]\n"
	      "                    [--offline DIR] [the other options above]\n"
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
	      "CA keys in PKCS#11 tokens (generated there, never extractable, no key file):\n"
	      "  --pkcs11-module PATH       the tokens' PKCS#11 library\n"
	      "  --pkcs11-token LABEL       the token of the issuing CA key (rampartd's), and of\n"
	      "                             the root CA key unless --pkcs11-root-token\n"
	      "  --pkcs11-pin-file FILE     its user PIN (one line, mode 0600); rampartd reads it\n"
	      "  --pkcs11-root-token LABEL  a token of its own for the root CA key, to remove\n"
	      "                             and keep offline after init (recommended)\n"
	      "  --pkcs11-root-pin-file FILE  that token's PIN (default: --pkcs11-pin-file)\n"
	      "  --pkcs11-root-label L      the root key's label (default FLEET-root-ca)\n"
	      "  --pkcs11-issuing-label L   the issuing key's label (default FLEET-issuing-ca)\n"
	      "  With them --offline is optional (where the root CA certificate goes; default\n"
	      "  the data directory's pki/) and --root-key-inside is refused.\n"
	      "\n"
	      "Printed once, never stored: the root CA key's passphrase (none with a token),\n"
	      "and the generated administrator password. See docs/cli.md and docs/pki.md.\n"
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

/* The --pkcs11-* options; CLI_EXIT_OK or CLI_EXIT_USAGE. */
static int take_pkcs11(init_opts *o, int k, const char *v)
{
	const char **slot[] = {
		[O_P11_MODULE] = &o->p11_module,
		[O_P11_TOKEN] = &o->p11_token,
		[O_P11_PIN_FILE] = &o->p11_pin_file,
		[O_P11_ROOT_TOKEN] = &o->p11_root_token,
		[O_P11_ROOT_PIN_FILE] = &o->p11_root_pin_file,
		[O_P11_ROOT_LABEL] = &o->p11_root_label,
		[O_P11_ISSUING_LABEL] = &o->p11_issuing_label,
	};

	if (k < O_P11_MODULE || k > O_P11_ISSUING_LABEL) {
		return CLI_EXIT_USAGE;
	}
	if (v[0] == '\0') {
		return cli_usage_error(CMD, opts[k].name, "empty value");
	}
	*slot[k] = v;
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
	case O_PASSWORD_STDIN:
		o->password_stdin = 1;
		return CLI_EXIT_OK;
	default:
		return take_pkcs11(o, k, v);
	}
}

/*
 * A PKCS#11 label as rampartd's configuration takes it (config.c): 1 to
 * max bytes, no control character.
 */
static int label_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max) {
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20u || s[i] == 0x7f) {
			return 0;
		}
	}
	return 1;
}

/* The key labels: as given, or "<fleet>-root-ca" and "<fleet>-issuing-ca". */
static void token_labels(const init_opts *o, char root[RP_CONFIG_KEY_LABEL_MAX + 1u],
			 char issuing[RP_CONFIG_KEY_LABEL_MAX + 1u])
{
	/* A fleet name is 1 to 32 bytes: "<fleet>-issuing-ca" fits. */
	if (o->p11_root_label != NULL) {
		(void)snprintf(root, RP_CONFIG_KEY_LABEL_MAX + 1u, "%s", o->p11_root_label);
	} else {
		(void)snprintf(root, RP_CONFIG_KEY_LABEL_MAX + 1u, "%.32s-root-ca", o->fleet);
	}
	if (o->p11_issuing_label != NULL) {
		(void)snprintf(issuing, RP_CONFIG_KEY_LABEL_MAX + 1u, "%s", o->p11_issuing_label);
	} else {
		(void)snprintf(issuing, RP_CONFIG_KEY_LABEL_MAX + 1u, "%.32s-issuing-ca", o->fleet);
	}
}

/* The --pkcs11-* options between themselves and with the others. */
static int check_pkcs11(const init_opts *o)
{
	const char *root_token = o->p11_root_token != NULL ? o->p11_root_token : o->p11_token;
	char root[RP_CONFIG_KEY_LABEL_MAX + 1u], issuing[RP_CONFIG_KEY_LABEL_MAX + 1u];

	if (o->p11_module == NULL && o->p11_token == NULL && o->p11_pin_file == NULL &&
	    o->p11_root_token == NULL && o->p11_root_pin_file == NULL &&
	    o->p11_root_label == NULL && o->p11_issuing_label == NULL) {
		return CLI_EXIT_OK;
	}
	if (o->p11_module == NULL || o->p11_token == NULL || o->p11_pin_file == NULL) {
		return cli_usage_error(CMD,
				       o->p11_module == NULL  ? "--pkcs11-module"
				       : o->p11_token == NULL ? "--pkcs11-token"
							      : "--pkcs11-pin-file",
				       "required with the other --pkcs11-* options (the module, "
				       "the token and its PIN file go together)");
	}
	if (o->p11_root_pin_file != NULL && o->p11_root_token == NULL) {
		return cli_usage_error(CMD, "--pkcs11-root-pin-file",
				       "only with --pkcs11-root-token");
	}
	if (o->root_inside) {
		return cli_usage_error(CMD, "--root-key-inside",
				       "not with --pkcs11-*: the root CA key is in the token");
	}
	if (!label_ok(o->p11_token, RP_CONFIG_TOKEN_LABEL_MAX)) {
		return cli_usage_error(CMD, "--pkcs11-token",
				       "1 to 32 bytes, no control character");
	}
	if (!label_ok(root_token, RP_CONFIG_TOKEN_LABEL_MAX)) {
		return cli_usage_error(CMD, "--pkcs11-root-token",
				       "1 to 32 bytes, no control character");
	}
	if (o->p11_root_label != NULL && !label_ok(o->p11_root_label, RP_CONFIG_KEY_LABEL_MAX)) {
		return cli_usage_error(CMD, "--pkcs11-root-label",
				       "1 to 64 bytes, no control character");
	}
	if (o->p11_issuing_label != NULL &&
	    !label_ok(o->p11_issuing_label, RP_CONFIG_KEY_LABEL_MAX)) {
		return cli_usage_error(CMD, "--pkcs11-issuing-label",
				       "1 to 64 bytes, no control character");
	}
	token_labels(o, root, issuing);
	if (strcmp(o->p11_token, root_token) == 0 && strcmp(root, issuing) == 0) {
		return cli_usage_error(CMD, "--pkcs11-issuing-label",
				       "the root key's label, on the same token");
	}
	return CLI_EXIT_OK;
}

/* Rules between options, once all are read. */
static int check_opts(const init_opts *o)
{
	const char *why = NULL;
	int rc;

	if (o->ndns + o->nip == 0) {
		return cli_usage_error(CMD, "--name/--ip", "the server certificate needs a name");
	}
	rc = check_pkcs11(o);
	if (rc != CLI_EXIT_OK) {
		return rc;
	}
	if (o->p11_module == NULL && o->offline == NULL && !o->root_inside) {
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

/* With --pkcs11-*: absolute paths, the labels, and the files not made. */
static int plan_token(init_plan *p)
{
	const init_opts *o = p->o;
	init_token_plan *t = &p->tok;

	t->on = 1;
	t->token = o->p11_token;
	t->root_token = o->p11_root_token != NULL ? o->p11_root_token : o->p11_token;
	if (absolute(o->p11_module, t->module, sizeof(t->module)) != 0 ||
	    absolute(o->p11_pin_file, t->pin_file, sizeof(t->pin_file)) != 0 ||
	    absolute(o->p11_root_pin_file != NULL ? o->p11_root_pin_file : o->p11_pin_file,
		     t->root_pin_file, sizeof(t->root_pin_file)) != 0) {
		return -1;
	}
	token_labels(o, t->root_label, t->issuing_label);
	p->unused[INIT_ROOT_KEY] = 1;
	p->unused[INIT_ISSUING_KEY] = 1;
	p->unused[INIT_ISSUING_PASS] = 1;
	return 0;
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
	if (p->o->p11_module != NULL && plan_token(p) != 0) {
		return -1;
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
		if (f == INIT_CONFIG || p->unused[f]) {
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
		"{\"root_sha256\":\"%s\",\"issuing_sha256\":\"%s\",\"server_sha256\":\"%s\"%s}",
		root, iss, srv, p->tok.on ? ",\"ca_keys\":\"pkcs11\"" : "");
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

/* Where the root key is, in token mode, and what to do with its token. */
static void summary_token_root(const init_plan *p)
{
	const init_token_plan *t = &p->tok;

	printf("\nThe root CA key was generated in PKCS#11 token '%s' and cannot leave it;\n"
	       "no file holds it and there is no passphrase.\n",
	       t->root_token);
	if (strcmp(t->root_token, t->token) != 0) {
		printf("Remove token '%s' now and keep it offline, with its PIN: it is needed\n"
		       "only to sign a new issuing CA or a CRL of the root.\n",
		       t->root_token);
	} else {
		printf("It shares the token with the issuing CA key, which rampartd uses: whoever\n"
		       "holds this token and its PIN can sign with the root. For an offline root,\n"
		       "give it a token of its own (--pkcs11-root-token) and remove that token.\n");
	}
}

static void summary(const init_plan *p, const cli_init_pki *k, const char *pw)
{
	const char *db = cli_sqlite_path(p->url);
	const init_token_plan *t = &p->tok;
	char fp[RP_PKI_SHA256_HEX_SIZE] = "";

	(void)rp_pki_cert_sha256_hex(k->root, fp, sizeof(fp));
	printf("rampart init: fleet \"%s\" is set up.\n\n", p->o->fleet);
	if (t->on) {
		printf("  root CA key        PKCS#11 token '%s', key '%s' (never extractable)\n",
		       t->root_token, t->root_label);
	} else {
		printf("  root CA key        %s (encrypted)\n", p->path[INIT_ROOT_KEY]);
	}
	printf("  root CA            %s\n", p->path[INIT_ROOT_CRT]);
	printf("  root CA SHA-256    %s\n", fp);
	printf("  devices trust      %s\n", p->path[INIT_DEVICE_TRUST]);
	printf("  rampartd's CAs     %s\n", p->path[INIT_FLEET_CA]);
	printf("  server certificate %s\n", p->path[INIT_SERVER_CRT]);
	printf("  server key         %s\n", p->path[INIT_SERVER_KEY]);
	if (t->on) {
		printf("  issuing CA key     PKCS#11 token '%s', key '%s' (never extractable)\n",
		       t->token, t->issuing_label);
		printf("  its token's PIN    %s (not made by init; rampartd reads it)\n",
		       t->pin_file);
	} else {
		printf("  issuing CA key     %s (encrypted)\n", p->path[INIT_ISSUING_KEY]);
		printf("  its passphrase     %s\n", p->path[INIT_ISSUING_PASS]);
	}
	printf("  API secret key     %s\n", p->path[INIT_API_KEY]);
	printf("  store              %s\n", db != NULL ? db : "PostgreSQL");
	printf("  configuration      %s%s\n", p->config, p->write_config ? " (written)" : "");
	if (!p->write_config) {
		init_config_advice(p);
	}
	if (t->on) {
		summary_token_root(p);
	} else {
		printf("\nThe root CA key's passphrase. Store this offline; it is shown only "
		       "now:\n");
		printf("root-ca-passphrase: %s\n", k->root_pass);
	}
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

/* Token mode: the CA keys generated in the tokens, then the PKI signed with them. */
static int token_pki(const init_plan *p, const cli_pki_request *req, init_token *t, cli_init_pki *k)
{
	cli_pki_request r = *req;

	if (init_token_generate(p, t) != 0) {
		return -1;
	}
	r.root_key = rp_keystore_pkey(t->root);
	r.issuing_key = rp_keystore_pkey(t->issuing);
	return cli_init_pki_make(CMD, &r, (int64_t)time(NULL), k);
}

/* Steps 3 to 5 (see the top of the file); on failure the caller rolls back. */
static int create(const init_plan *p, const cli_pki_request *req, init_token *t, cli_init_pki *k,
		  cli_journal *j, rp_store **st, const char *pw, size_t pwlen)
{
	if (make_dirs(p, j) != 0 || open_store(p, j, st) != 0 || store_empty(*st) != 0 ||
	    (p->tok.on && token_pki(p, req, t, k) != 0) || init_write_all(p, k, j) != 0 ||
	    init_publish_all(p, j) != 0 || store_writes(p, k, *st, pw, pwlen) != 0) {
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
	init_token t;
	cli_journal j = {CMD, {NULL}, {0}, 0};
	rp_store *st = NULL;
	sigset_t saved;
	int held = 0, rc;

	rc = parse_opts(argc, argv, &o);
	if (rc >= 0) {
		return rc;
	}
	memset(&k, 0, sizeof(k));
	memset(&t, 0, sizeof(t));
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
	req = (cli_pki_request){.fleet = o.fleet,
				.root_alg = o.alg,
				.dns = o.dns,
				.ndns = o.ndns,
				.ip = o.ip,
				.nip = o.nip};
	if (plan_make(p) != 0 || preflight(p) != 0 ||
	    admin_password(&o, pw, sizeof(pw), &pwlen) != 0) {
		goto out;
	}
	/* Keys in files: the whole PKI now, in memory. In tokens: the tokens
	 * opened and the labels found free; the keys come in step 3. */
	if (p->tok.on ? init_token_open(p, &t) != 0
		      : cli_init_pki_make(CMD, &req, (int64_t)time(NULL), &k) != 0) {
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
	if (create(p, &req, &t, &k, &j, &st, pw, pwlen) != 0) {
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
	cli_init_pki_free(&k); /* our references on a token's keys, before the token goes */
	if (rc != CLI_EXIT_OK && (j.n > 0 || t.root_made || t.issuing_made)) {
		cli_journal_rollback(&j);
		cli_fail(CMD, "rollback",
			 p != NULL && init_token_rollback(p, &t) != 0
				 ? "everything else init had made was removed"
				 : "everything init had made was removed");
	}
	init_token_close(&t);
	cli_journal_free(&j);
	OPENSSL_cleanse(pw, sizeof(pw));
	rp_free(NULL, p);
	if (held) {
		(void)sigprocmask(SIG_SETMASK, &saved, NULL);
	}
	return rc;
}
