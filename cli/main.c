/*
 * main.c - `rampart`, the operator's command line tool.
 *
 * Dispatches to a command; each command parses its own options. Usage
 * errors go to stderr with exit status 2.
 */
#include <string.h>

#include "cli.h"

static void usage(FILE *out)
{
	fputs("usage: rampart <command> [arguments]\n"
	      "\n"
	      "Rampart: a security-by-design IoT platform.\n"
	      "\n"
	      "Commands:\n"
	      "  init --name DNS --offline DIR ...  set up a new fleet: PKI, secrets,\n"
	      "                                     configuration, first administrator\n"
	      "  audit verify                       check the audit log's hash chain\n"
	      "  operator add NAME --role ROLE      create an operator\n"
	      "  operator list                      list the operators\n"
	      "  device revoke ID [--reason R]      revoke a device; rampartd is told (SIGHUP)\n"
	      "  device list                        list the devices\n"
	      "  mqtt decode [--v311|--v5] HEX...   decode and print MQTT packets\n"
	      "  mqtt demo                          a short tour of the MQTT codec\n"
	      "\n"
	      "Run 'rampart <command> --help' for more about a command.\n",
	      out);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "mqtt") == 0) {
		return cli_mqtt_main(argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "init") == 0) {
		return cli_init_main(argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "audit") == 0) {
		return cli_audit_main(argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "operator") == 0) {
		return cli_operator_main(argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "device") == 0) {
		return cli_device_main(argc - 1, argv + 1);
	}
	fprintf(stderr, "rampart: unknown command '%s'\n", argv[1]);
	fputs("Try 'rampart --help'.\n", stderr);
	return CLI_EXIT_USAGE;
}
