/*
 * cmd_operator.c - `rampart operator add|list`: operators straight in the
 * store, for tests and for recovery (every administrator locked out, the
 * console down). Run by whoever can open the store, which is the point:
 * it needs the database's credentials, not an account.
 *
 * Each change appends an audit entry by "cli" (source "local"), as the
 * REST API does for its own changes.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "auth/password.h"
#include "cli.h"
#include "util/log.h"

enum { O_HELP, O_CONFIG, O_STORE, O_ROLE, O_PASSWORD_STDIN };

static const cli_opt opts[] = {
	[O_HELP] = {"--help", 0},
	[O_CONFIG] = {"--config", 1},
	[O_STORE] = {"--store", 1},
	[O_ROLE] = {"--role", 1},
	[O_PASSWORD_STDIN] = {"--password-stdin", 0},
	{NULL, 0},
};

static void usage(FILE *out)
{
	fputs("usage: rampart operator add NAME --role ROLE [--password-stdin]\n"
	      "                          [--config FILE | --store URL]\n"
	      "       rampart operator list [--config FILE | --store URL]\n"
	      "\n"
	      "add    creates an operator. ROLE: viewer, operator, admin or auditor. NAME:\n"
	      "       1 to 64 of a-z 0-9 . _ - @, starting with a letter or digit. The\n"
	      "       password is generated and printed once, or read from standard input\n"
	      "       (--password-stdin) and checked against the password policy.\n"
	      "list   prints every operator: name, role, TOTP, state, created, last login.\n"
	      "       Never a password hash or a TOTP secret.\n"
	      "\n"
	      "Options:\n"
	      "  --config FILE  rampartd's configuration, for its store (default\n"
	      "                 " CLI_DEFAULT_CONFIG ")\n"
	      "  --store URL    the store itself: sqlite:PATH or postgresql://...\n"
	      "\n"
	      "Exit status: 0 done, 1 refused or failed, 2 usage.\n",
	      out);
}

typedef struct op_args {
	const char *cmd;
	const char *config, *store, *name, *role;
	int password_stdin;
} op_args;

/* Returns -1 to go on, or an exit code. */
static int parse(op_args *o, int argc, char **argv, int want_name)
{
	const char *v;
	cli_args a;
	int k;

	cli_args_init(&a, o->cmd, argc - 1, argv + 1);
	while ((k = cli_args_next(&a, opts, &v)) != CLI_ARG_END) {
		if (k == CLI_ARG_ERROR) {
			return CLI_EXIT_USAGE;
		}
		if (k == O_HELP) {
			usage(stdout);
			return CLI_EXIT_OK;
		}
		if (k == CLI_ARG_POSITIONAL && want_name && o->name == NULL) {
			o->name = v;
		} else if (k == CLI_ARG_POSITIONAL) {
			return cli_usage_error(o->cmd, v, "unexpected argument");
		} else if (k == O_CONFIG) {
			o->config = v;
		} else if (k == O_STORE) {
			o->store = v;
		} else if (k == O_ROLE && want_name) {
			o->role = v;
		} else if (k == O_PASSWORD_STDIN && want_name) {
			o->password_stdin = 1;
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

static int check_add(const op_args *o, rp_store_role *role)
{
	if (o->name == NULL) {
		return cli_usage_error(o->cmd, "NAME", "missing");
	}
	if (!cli_operator_name_valid(o->name)) {
		return cli_usage_error(o->cmd, o->name,
				       "not an operator name: 1 to 64 of a-z 0-9 . _ - @, starting "
				       "with a letter or digit");
	}
	if (o->role == NULL) {
		return cli_usage_error(o->cmd, "--role", "missing");
	}
	if (cli_role_parse(o->role, role) != 0) {
		return cli_usage_error(o->cmd, "--role",
				       "must be viewer, operator, admin or auditor");
	}
	return -1;
}

static int get_password(const op_args *o, char *pw, size_t cap, size_t *len)
{
	if (!o->password_stdin) {
		if (rp_password_generate(pw, cap, len) != RP_OK) {
			cli_fail(o->cmd, "password", "the random generator failed");
			return -1;
		}
		return 0;
	}
	if (cli_password_read(o->cmd, pw, cap, len) != 0) {
		return -1;
	}
	return cli_password_check(o->cmd, pw, *len, o->name);
}

static int add_main(int argc, char **argv)
{
	op_args o = {"operator add", NULL, NULL, NULL, NULL, 0};
	char pw[CLI_PASSWORD_CAP];
	cli_new_operator op;
	rp_store *st = NULL;
	size_t len = 0;
	int rc;

	rc = parse(&o, argc, argv, 1);
	if (rc < 0) {
		rc = check_add(&o, &op.role);
	}
	if (rc >= 0) {
		return rc;
	}
	memset(pw, 0, sizeof(pw));
	rc = CLI_EXIT_FAIL;
	rp_log_set_level(RP_LOG_WARN);
	if (get_password(&o, pw, sizeof(pw), &len) != 0 ||
	    cli_store_open(o.cmd, o.config, o.store, 1, &st) != 0) {
		goto out;
	}
	op.name = o.name;
	op.password = pw;
	op.password_len = len;
	if (cli_operator_create(o.cmd, st, "cli", &op) != 0) {
		goto out;
	}
	printf("operator \"%s\" created, role %s\n", o.name, cli_role_name(op.role));
	if (!o.password_stdin) {
		printf("Its password. It is shown only now:\npassword: %s\n", pw);
	}
	rc = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
out:
	rp_store_close(st);
	OPENSSL_cleanse(pw, sizeof(pw));
	return rc;
}

static const char *state(const rp_store_operator *op, int64_t now)
{
	if (op->disabled) {
		return "disabled";
	}
	return op->locked_until_ms > now ? "locked" : "active";
}

static void print_row(const rp_store_operator *op, int64_t now)
{
	char name[RP_LIMIT_STORE_ID_LEN * 4u + 4u], created[32], login[32];

	/* Names were checked when made here or by the API; a store written by
	 * other hands could hold anything, so they are escaped anyway. */
	rp_log_escape(name, sizeof(name), (const uint8_t *)op->name, strlen(op->name));
	cli_time_text(op->created_ms, created, sizeof(created));
	cli_time_text(op->last_login_ms, login, sizeof(login));
	printf("%-24s %-9s %-4s %-9s %-21s %s\n", name, cli_role_name(op->role),
	       op->totp_required || op->totp_secret_len > 0 ? "yes" : "no", state(op, now), created,
	       login);
}

/* Every operator, page after page; 0 or -1. */
static int list_all(const char *cmd, rp_store *st)
{
	char after[RP_LIMIT_STORE_ID_LEN + 1u] = "";
	rp_store_operator *rows = NULL;
	int64_t now = cli_now_ms();
	size_t n;
	rp_status s;

	do {
		n = 0;
		s = rp_store_operator_list(st, after[0] != '\0' ? after : NULL, RP_LIMIT_STORE_PAGE,
					   &rows, &n, NULL, NULL);
		if (s != RP_OK) {
			cli_fail(cmd, "store", rp_status_str(s));
			return -1;
		}
		for (size_t i = 0; i < n; i++) {
			print_row(&rows[i], now);
		}
		if (n > 0) {
			(void)snprintf(after, sizeof(after), "%s", rows[n - 1].name);
		}
		rp_store_free(rows);
		rows = NULL;
	} while (n == RP_LIMIT_STORE_PAGE);
	return 0;
}

static int list_main(int argc, char **argv)
{
	op_args o = {"operator list", NULL, NULL, NULL, NULL, 0};
	rp_store *st = NULL;
	int rc;

	rc = parse(&o, argc, argv, 0);
	if (rc >= 0) {
		return rc;
	}
	rp_log_set_level(RP_LOG_WARN);
	if (cli_store_open(o.cmd, o.config, o.store, 0, &st) != 0) {
		return CLI_EXIT_FAIL;
	}
	printf("%-24s %-9s %-4s %-9s %-21s %s\n", "NAME", "ROLE", "TOTP", "STATE", "CREATED",
	       "LAST LOGIN");
	rc = list_all(o.cmd, st) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	rp_store_close(st);
	return rc;
}

int cli_operator_main(int argc, char **argv)
{
	if (argc < 2 || cli_is_help(argv[1])) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "add") == 0) {
		return add_main(argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "list") == 0) {
		return list_main(argc - 1, argv + 1);
	}
	return cli_usage_error("operator", argv[1], "unknown command (want: add or list)");
}
