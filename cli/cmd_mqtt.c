/*
 * cmd_mqtt.c - `rampart mqtt`: look at MQTT packets with Rampart's codec.
 *
 * `decode` takes hex from the arguments or standard input, decodes packet
 * after packet as a broker would (a CONNECT sets the version of what
 * follows) and prints every field. The limits are Rampart's hard caps, so
 * anything Rampart could ever accept decodes here.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "rampart/limits.h"

static void mqtt_usage(FILE *out)
{
	fputs("usage: rampart mqtt <command> [options]\n"
	      "\n"
	      "Commands:\n"
	      "  decode [--v311|--v5] [HEX...]  decode MQTT packets given as hex (arguments,\n"
	      "                                 or standard input if none) and print them\n"
	      "  demo                           a short tour of the MQTT codec\n"
	      "\n"
	      "decode reads one or more packets back to back, as they arrive on a\n"
	      "connection. The version is --v311 or --v5; without either, a CONNECT gives\n"
	      "it, else MQTT 5 is assumed. A CONNECT switches to its own version for the\n"
	      "packets after it. Hex is digit pairs; spaces may separate bytes.\n"
	      "Passwords and authentication data are never printed, only their length.\n"
	      "\n"
	      "Exit status: 0 all packets decoded, 1 a packet was refused (the status\n"
	      "and the MQTT 5 reason code a broker would send are printed), 2 usage or\n"
	      "hex error.\n"
	      "\n"
	      "Example:\n"
	      "  rampart mqtt decode --v5 30 0b 00 03 61 2f 62 00 68 65 6c 6c 6f\n",
	      out);
}

static int usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, "rampart mqtt: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	fputs("Try 'rampart mqtt --help'.\n", stderr);
	return CLI_EXIT_USAGE;
}

static int is_help(const char *a)
{
	return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 || strcmp(a, "help") == 0;
}

/* Reads hex from the arguments, or from stdin when there are none. */
static int read_hex(int argc, char **argv, struct cli_hex *h)
{
	char where[48];
	const char *s;
	int i, c;

	if (argc == 0) {
		h->where = "standard input";
		while ((c = getchar()) != EOF) {
			if (cli_hex_feed(h, c) != 0) {
				return -1;
			}
		}
		return cli_hex_end(h);
	}
	for (i = 0; i < argc; i++) {
		snprintf(where, sizeof(where), "argument %d", i + 1);
		h->where = where;
		h->line = 1;
		h->col = 1;
		for (s = argv[i]; *s; s++) {
			if (cli_hex_feed(h, (unsigned char)*s) != 0) {
				return -1;
			}
		}
		if (cli_hex_end(h) != 0) {
			return -1;
		}
	}
	return 0;
}

static void print_refusal(size_t index, size_t offset, rp_status st)
{
	uint8_t rc = rp_mqtt_reason_for(st);

	printf("packet %zu at offset %zu: refused: %s (%s)\n", index, offset, cli_status_name(st),
	       rp_status_str(st));
	printf("  reason code a broker sends: 0x%02x (%s)\n", rc,
	       cli_reason_name(RP_MQTT_DISCONNECT, RP_MQTT_V5, rc));
}

/* Decodes buf[0 .. len) packet after packet. Returns an exit code. */
static int decode_all(const uint8_t *buf, size_t len, uint8_t version)
{
	rp_mqtt_limits lim;
	rp_mqtt_packet pkt;
	size_t off = 0, consumed, index = 1;
	rp_status st;

	/* Rampart's hard caps: the most any Rampart peer could accept. */
	memset(&lim, 0xff, sizeof(lim));
	(void)rp_mqtt_limits_clamp(&lim);

	for (; off < len; index++) {
		if (version == 0 && (buf[off] >> 4) != RP_MQTT_CONNECT) {
			printf("(no --v311/--v5 and no CONNECT first: decoding as MQTT 5)\n");
			version = RP_MQTT_V5;
		}
		consumed = 0;
		st = rp_mqtt_decode(buf + off, len - off, version, &lim, &pkt, &consumed);
		if (st == RP_NEED_MORE) {
			printf("packet %zu at offset %zu: incomplete: %s (%s)\n", index, off,
			       cli_status_name(st), rp_status_str(st));
			printf("  %zu more byte%s needed%s; a broker would wait for them\n",
			       consumed, consumed == 1 ? "" : "s",
			       consumed == 1 ? " at least" : "");
			return CLI_EXIT_FAIL;
		}
		if (st != RP_OK) {
			print_refusal(index, off, st);
			return CLI_EXIT_FAIL;
		}
		printf("packet %zu at offset %zu: ", index, off);
		cli_print_packet(stdout, &pkt, version, consumed, 0);
		if (pkt.type == RP_MQTT_CONNECT) {
			version = pkt.u.connect.version;
		}
		off += consumed;
	}
	return CLI_EXIT_OK;
}

static int cmd_decode(int argc, char **argv)
{
	struct cli_hex h;
	uint8_t *buf = NULL;
	uint8_t version = 0;
	int i, rc;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (is_help(argv[i])) {
			mqtt_usage(stdout);
			return CLI_EXIT_OK;
		} else if (strcmp(argv[i], "--v311") == 0 || strcmp(argv[i], "--v5") == 0) {
			if (version != 0) {
				return usage_error("give at most one of --v311 and --v5", NULL);
			}
			version = argv[i][3] == '5' ? RP_MQTT_V5 : RP_MQTT_V311;
		} else {
			return usage_error("unknown option", argv[i]);
		}
	}

	buf = malloc(RP_LIMIT_MQTT_PACKET);
	if (buf == NULL) {
		fputs("rampart: out of memory\n", stderr);
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	cli_hex_init(&h, buf, RP_LIMIT_MQTT_PACKET);
	if (read_hex(argc - i, argv + i, &h) != 0) {
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	if (h.len == 0) {
		rc = usage_error("no bytes to decode", NULL);
		goto out;
	}
	rc = decode_all(buf, h.len, version);
out:
	free(buf);
	return rc;
}

int cli_mqtt_main(int argc, char **argv)
{
	if (argc < 2) {
		mqtt_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (is_help(argv[1])) {
		mqtt_usage(stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "decode") == 0) {
		return cmd_decode(argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "demo") == 0) {
		if (argc > 2) {
			return usage_error("demo takes no arguments", argv[2]);
		}
		return cli_mqtt_demo(stdout);
	}
	return usage_error("unknown command", argv[1]);
}
