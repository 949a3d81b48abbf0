/*
 * args.c - options of the operator commands, and their messages.
 *
 * An option is `--name VALUE` or `--name=VALUE` (or a bare `--flag`); `--`
 * ends the options. There are no short options except -h: a typed command
 * that sets up a fleet is read back later, and long names say what it did.
 */
#include <string.h>

#include "cli.h"

void cli_args_init(cli_args *a, const char *cmd, int argc, char **argv)
{
	a->cmd = cmd;
	a->argc = argc;
	a->argv = argv;
	a->i = 0;
	a->no_more = 0;
}

/* The option of opts[] that arg names ("--name" or "--name=..."), or -1. */
static int find_opt(const cli_opt *opts, const char *arg, const char **inline_val)
{
	for (int k = 0; opts[k].name != NULL; k++) {
		size_t n = strlen(opts[k].name);

		if (strncmp(arg, opts[k].name, n) != 0) {
			continue;
		}
		if (arg[n] == '\0') {
			*inline_val = NULL;
			return k;
		}
		if (arg[n] == '=') {
			*inline_val = arg + n + 1;
			return k;
		}
	}
	return -1;
}

int cli_args_next(cli_args *a, const cli_opt *opts, const char **val)
{
	const char *arg, *inline_val = NULL;
	int k;

	*val = NULL;
	if (a->i >= a->argc) {
		return CLI_ARG_END;
	}
	arg = a->argv[a->i++];
	if (!a->no_more && strcmp(arg, "--") == 0) {
		a->no_more = 1;
		return cli_args_next(a, opts, val);
	}
	if (a->no_more || arg[0] != '-' || arg[1] == '\0') {
		*val = arg;
		return CLI_ARG_POSITIONAL;
	}
	if (strcmp(arg, "-h") == 0) {
		arg = "--help";
	}
	k = find_opt(opts, arg, &inline_val);
	if (k < 0) {
		cli_usage_error(a->cmd, arg, "unknown option");
		return CLI_ARG_ERROR;
	}
	if (!opts[k].has_value) {
		if (inline_val != NULL) {
			cli_usage_error(a->cmd, opts[k].name, "takes no value");
			return CLI_ARG_ERROR;
		}
		return k;
	}
	if (inline_val == NULL) {
		if (a->i >= a->argc) {
			cli_usage_error(a->cmd, opts[k].name, "needs a value");
			return CLI_ARG_ERROR;
		}
		inline_val = a->argv[a->i++];
	}
	*val = inline_val;
	return k;
}

int cli_fail(const char *cmd, const char *what, const char *why)
{
	fprintf(stderr, "rampart %s: %s: %s\n", cmd, what, why);
	return CLI_EXIT_FAIL;
}

int cli_usage_error(const char *cmd, const char *what, const char *why)
{
	fprintf(stderr, "rampart %s: %s: %s\n", cmd, what, why);
	fprintf(stderr, "Try 'rampart %s --help'.\n", cmd);
	return CLI_EXIT_USAGE;
}

int cli_is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0 || strcmp(arg, "help") == 0;
}
