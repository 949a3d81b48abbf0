/*
 * cli.h - internal interfaces of the rampart command line tool.
 *
 * Conventions
 * - Every function here is internal to the CLI (prefix cli_); anything used
 *   by one file only is static in that file.
 * - Exit codes: CLI_EXIT_OK (0) success, CLI_EXIT_FAIL (1) the input was
 *   refused or the work failed (a packet did not decode, a store cannot be
 *   opened, init found an existing fleet), CLI_EXIT_USAGE (2) the command
 *   line or its hex input is wrong. Errors go to stderr, as
 *   "rampart <command>: <what>: <why>".
 * - Secrets (passwords, passphrases, keys) live in buffers the command
 *   owns and wipes (OPENSSL_cleanse) on every path; the only ones ever
 *   printed are those a command makes and shows once (init's root key
 *   passphrase, a generated operator password). Store URLs may hold a
 *   PostgreSQL password and are never printed.
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

#include "config/config.h"
#include "pki/pki.h"
#include "rampart/mqtt.h"
#include "rampart/status.h"
#include "store/store.h"

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
 * args.c: options of the operator commands, and messages
 * ------------------------------------------------------------------------ */

/* An option a command knows: "--name", and whether a value follows it. */
typedef struct cli_opt {
	const char *name;
	int has_value;
} cli_opt;

/* What cli_args_next() returns besides an index into the option table. */
enum { CLI_ARG_END = -1, CLI_ARG_POSITIONAL = -2, CLI_ARG_ERROR = -3 };

typedef struct cli_args {
	const char *cmd; /* "init", "audit verify": the prefix of messages */
	int argc;
	char **argv;
	int i;       /* the next argument */
	int no_more; /* "--" seen: the rest is positional */
} cli_args;

void cli_args_init(cli_args *a, const char *cmd, int argc, char **argv);

/*
 * The next argument. opts ends with {NULL, 0}. Returns the index of the
 * option (`--name VALUE`, `--name=VALUE`, or a flag; -h is --help), with
 * *val its value; CLI_ARG_POSITIONAL with *val the argument; CLI_ARG_END;
 * or CLI_ARG_ERROR after printing a usage error (unknown option, missing
 * value, a value given to a flag).
 */
int cli_args_next(cli_args *a, const cli_opt *opts, const char **val);

/* Prints "rampart CMD: WHAT: WHY" to stderr. Returns CLI_EXIT_FAIL. */
int cli_fail(const char *cmd, const char *what, const char *why);

/* The same, then "Try 'rampart CMD --help'.". Returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *what, const char *why);

/* 1 for --help, -h and help. */
int cli_is_help(const char *arg);

/* ------------------------------------------------------------------------
 * util.c: clock, operator names and roles, passwords from standard input
 * ------------------------------------------------------------------------ */

/* Wall clock, milliseconds since the Unix epoch. */
int64_t cli_now_ms(void);

/* ms as "2024-05-01T12:00:00Z", or "-" for 0 (never). */
void cli_time_text(int64_t ms, char *out, size_t cap);

/* 1 if s is an operator name the REST API accepts (1 to 64 of a-z 0-9 . _ - @,
 * the first a letter or digit), else 0. */
int cli_operator_name_valid(const char *s);

/* "viewer", "operator", "admin", "auditor" and back. Parse returns 0 or -1. */
int cli_role_parse(const char *s, rp_store_role *out);
const char *cli_role_name(rp_store_role r);

/* Room for a password read from standard input: the longest allowed, a
 * CR LF, and the NUL. */
#define CLI_PASSWORD_CAP (RP_LIMIT_PASSWORD_LEN + 3u)

/*
 * Reads standard input to its end (a password; one final LF or CR LF is
 * dropped) into pw[0 .. cap), NUL-terminated, length in *len. Returns 0,
 * or -1 after printing why (a read error, more than cap - 1 bytes); pw is
 * wiped on failure.
 */
int cli_password_read(const char *cmd, char *pw, size_t cap, size_t *len);

/* rp_password_policy_check() for the operator `name`; prints the refusal.
 * Returns 0 or -1. */
int cli_password_check(const char *cmd, const char *pw, size_t len, const char *name);

/* ------------------------------------------------------------------------
 * store.c: finding and opening rampartd's store; operators, audit entries
 * ------------------------------------------------------------------------ */

#define CLI_DEFAULT_CONFIG "/etc/rampart/rampartd.conf"

/* Room for a store URL: a configuration path and the "sqlite:" prefix. */
#define CLI_URL_CAP (RP_LIMIT_CONFIG_PATH_LEN + 32u)

/* Loads rampartd's configuration; every error printed as
 * "rampart CMD: file:line: message". Returns 0 or -1. */
int cli_config_load(const char *cmd, const char *path, rp_config *c);

/* c's store URL: its `store`, else sqlite:<data_dir>/rampart.db. 0 or -1. */
int cli_store_url(const char *cmd, const rp_config *c, char *url, size_t cap);

/* The file of a "sqlite:PATH" URL, or NULL for any other scheme. */
const char *cli_sqlite_path(const char *url);

/*
 * Opens the store named by `store` (a URL; may be NULL) or, without it, by
 * the configuration file `config` (NULL: CLI_DEFAULT_CONFIG), as rampartd
 * does. A SQLite file that does not exist is refused unless `create` is
 * set (a note is printed then; the store makes the file, its directories
 * and the schema). Returns 0 with *out (close with rp_store_close), or -1
 * after printing why.
 */
int cli_store_open(const char *cmd, const char *config, const char *store, int create,
		   rp_store **out);

/* Appends an audit entry (source "local", time now). 0 or -1 (printed). */
int cli_audit(const char *cmd, rp_store *st, const char *actor, const char *action,
	      const char *target, const char *detail);

/* An operator to create; password[0 .. password_len) belongs to the caller. */
typedef struct cli_new_operator {
	const char *name;
	rp_store_role role;
	const char *password;
	size_t password_len;
} cli_new_operator;

/*
 * Hashes the password (Argon2id, the default parameters), creates the
 * operator and appends "operator.create" by `actor`, detail {"role": ...}.
 * Returns 0, or -1 after printing why (an existing name included).
 */
int cli_operator_create(const char *cmd, rp_store *st, const char *actor,
			const cli_new_operator *op);

/* ------------------------------------------------------------------------
 * files.c: files and directories init creates, and their rollback
 * ------------------------------------------------------------------------ */

#define CLI_JOURNAL_MAX 48u

/* What a command created, in order; removed in reverse by a rollback. */
typedef struct cli_journal {
	const char *cmd;
	char *path[CLI_JOURNAL_MAX]; /* NULL: forgotten (renamed away) */
	unsigned char is_dir[CLI_JOURNAL_MAX];
	size_t n;
} cli_journal;

/* Records a file something else created (a key file, the database). 0 or -1. */
int cli_journal_file(cli_journal *j, const char *path);

/* Removes every path of the journal, newest first (errors are printed). */
void cli_journal_rollback(cli_journal *j);

/* Frees the journal's memory; the files stay. */
void cli_journal_free(cli_journal *j);

/* mkdir -p with mode 0700; records each directory it creates. 0 or -1. */
int cli_mkdirs(cli_journal *j, const char *path);

/* 0 if neither group nor others may access the directory, else -1 (printed). */
int cli_dir_private(const char *cmd, const char *path);

/* A NEW file (O_EXCL, O_NOFOLLOW), mode 0600, holding buf, fsync()ed. 0 or -1. */
int cli_file_create(cli_journal *j, const char *path, const void *buf, size_t len);

/* Gives tmp the name final, never replacing an existing file. 0 or -1. */
int cli_file_publish(cli_journal *j, const char *tmp, const char *final);

/* fsync() of a directory, so that new names in it survive a crash. 0 or -1. */
int cli_dir_sync(const char *cmd, const char *path);

/* out = dir "/" name; -1 (printed) if it does not fit. */
int cli_path_join(const char *cmd, char *out, size_t cap, const char *dir, const char *name);

/* ------------------------------------------------------------------------
 * init_pki.c: the fleet PKI of `rampart init`, in memory
 * ------------------------------------------------------------------------ */

/* A passphrase: base64url of 32 random bytes, 43 characters and a NUL. */
#define CLI_PASS_CAP 44u

/* Writes a new passphrase. 0, or -1 (the generator failed; out wiped). */
int cli_passphrase_new(char out[CLI_PASS_CAP]);

typedef struct cli_pki_request {
	const char *fleet;   /* names the CAs: "Rampart fleet <fleet> root CA" */
	rp_pki_alg root_alg; /* the root's key; the issuing CA and server use P-256 */
	/* Keys held elsewhere (a PKCS#11 token), borrowed; NULL: generated
	 * here, with a passphrase each for their files. */
	EVP_PKEY *root_key, *issuing_key;
	const char *const *dns; /* the server certificate's SAN */
	size_t ndns;
	const char *const *ip;
	size_t nip;
} cli_pki_request;

typedef struct cli_init_pki {
	EVP_PKEY *root_key, *issuing_key, *server_key;
	X509 *root, *issuing, *server;
	char root_pass[CLI_PASS_CAP];    /* shown once, never stored */
	char issuing_pass[CLI_PASS_CAP]; /* written to secrets/issuing-ca.pass */
} cli_init_pki;

/* Keys, passphrases and certificates; 0, or -1 (printed; free *k anyway). */
int cli_init_pki_make(const char *cmd, const cli_pki_request *r, int64_t now, cli_init_pki *k);

/* Frees and wipes everything of k. */
void cli_init_pki_free(cli_init_pki *k);

/* certs[0 .. n) as one PEM text in a new buffer (rp_free). 0 or -1. */
int cli_pem_certs(const char *cmd, X509 *const *certs, size_t n, uint8_t **out, size_t *len);

/* ------------------------------------------------------------------------
 * Commands: each takes argv[0] = its name and returns an exit code
 * ------------------------------------------------------------------------ */

/* `rampart mqtt ...`: argv[0] is "mqtt". Returns an exit code. */
int cli_mqtt_main(int argc, char **argv);

/* `rampart init ...` */
int cli_init_main(int argc, char **argv);

/* `rampart audit verify ...` */
int cli_audit_main(int argc, char **argv);

/* `rampart operator add|list ...` */
int cli_operator_main(int argc, char **argv);

/* `rampart device revoke|list ...` */
int cli_device_main(int argc, char **argv);

/* `rampart mqtt demo`. Returns an exit code. */
int cli_mqtt_demo(FILE *out);

#endif /* RAMPART_CLI_H */
