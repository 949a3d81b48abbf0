/*
 * cli.h - internal interfaces of the rampart command line tool.
 *
 * Conventions
 * - Every function here is internal to the CLI (prefix cli_); anything used
 *   by one file only is static in that file.
 * - Exit codes: CLI_EXIT_OK (0) success, CLI_EXIT_FAIL (1) the input was
 *   refused (e.g. a packet did not decode), CLI_EXIT_USAGE (2) the command
 *   line or its hex input is wrong. Usage errors go to stderr.
 * - Everything printed from an input (topics, payloads, properties) is
 *   escaped to printable ASCII, so a hostile packet cannot drive the
 *   terminal; secrets (CONNECT password, authentication data) are never
 *   printed, only their length.
 */
#ifndef RAMPART_CLI_H
#define RAMPART_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rampart/mqtt.h"
#include "rampart/status.h"

enum { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2 };

/* Longest prefix printed of a payload, string or binary field. */
#define CLI_SHOW_MAX 64u

/* ------------------------------------------------------------------------
 * hex.c: a strict parser of hex text (untrusted input)
 * ------------------------------------------------------------------------ */

/*
 * Hex text is pairs of hex digits (either case). Whitespace may separate
 * bytes but not split one; anything else is an error. At most `cap` bytes.
 */
struct cli_hex {
	uint8_t *buf; /* output, cap bytes */
	size_t cap;
	size_t len;  /* bytes written so far */
	int pending; /* a high nibble waits for its low nibble */
	uint8_t high;
	const char *where; /* "argument 2", "standard input": for messages */
	size_t line;       /* 1-based position of the next character */
	size_t col;
};

/* Starts a parser writing into buf[0 .. cap). */
void cli_hex_init(struct cli_hex *h, uint8_t *buf, size_t cap);

/* Feeds one character. Returns 0, or -1 after printing an error to stderr. */
int cli_hex_feed(struct cli_hex *h, int c);

/* Ends a token (argument end, end of input). Returns 0 or -1 as above. */
int cli_hex_end(struct cli_hex *h);

/* ------------------------------------------------------------------------
 * print.c: human-readable views of packets and codes
 * ------------------------------------------------------------------------ */

/* "RP_E_TOPIC_NAME", or "RP_?" outside the enum. */
const char *cli_status_name(rp_status st);

/* Name of a reason code as used in a packet of `type` ("Success", ...). */
const char *cli_reason_name(uint8_t type, uint8_t version, uint8_t rc);

/* Bytes as hex pairs, `per_line` per line, each after `indent` spaces. */
void cli_print_hex(FILE *out, const uint8_t *p, size_t n, int indent, size_t per_line);

/*
 * Every field of a decoded packet. `version`: the connection's version
 * (a CONNECT carries its own); `size`: its encoded size in bytes; `indent`:
 * spaces before each line.
 */
void cli_print_packet(FILE *out, const rp_mqtt_packet *pkt, uint8_t version, size_t size,
		      int indent);

/* ------------------------------------------------------------------------
 * Commands
 * ------------------------------------------------------------------------ */

/* `rampart mqtt ...`: argv[0] is "mqtt". Returns an exit code. */
int cli_mqtt_main(int argc, char **argv);

/* `rampart mqtt demo`. Returns an exit code. */
int cli_mqtt_demo(FILE *out);

#endif /* RAMPART_CLI_H */
