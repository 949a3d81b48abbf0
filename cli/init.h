/*
 * init.h - the plan of `rampart init`, shared by cmd_init.c (options,
 * checks, order of the steps) and init_write.c (the files it writes).
 *
 * A plan is every path init will create, decided before anything is
 * created, so that the checks ("does any of it exist?") and the rollback
 * see the same list. It lives on the heap (about 100 KB of paths).
 */
#ifndef RAMPART_CLI_INIT_H
#define RAMPART_CLI_INIT_H

#include "cli.h"
#include "config/config.h"

#define INIT_PATH_CAP RP_LIMIT_CONFIG_PATH_LEN

/* The files of a fleet, in the order they are written and published. */
enum init_file {
	INIT_ROOT_KEY,     /* <offline>/root-ca.key: encrypted with the printed passphrase */
	INIT_ROOT_CRT,     /* <offline>/root-ca.crt */
	INIT_ISSUING_KEY,  /* pki/issuing-ca.key: encrypted with secrets/issuing-ca.pass */
	INIT_ISSUING_CRT,  /* pki/issuing-ca.crt */
	INIT_SERVER_KEY,   /* pki/server.key: not encrypted, rampartd reads it at start */
	INIT_SERVER_CRT,   /* pki/server.crt: server certificate, then the issuing CA */
	INIT_FLEET_CA,     /* pki/fleet-ca.crt: root and issuing CA (rampartd's tls.ca) */
	INIT_DEVICE_TRUST, /* pki/device-trust.crt: the root alone (what devices trust) */
	INIT_ISSUING_PASS, /* secrets/issuing-ca.pass */
	INIT_API_KEY,      /* secrets/api.key: 32 random bytes (api.secret_key) */
	INIT_CONFIG,       /* rampartd.conf, only when it did not exist */
	INIT_FILE_COUNT
};

typedef struct init_opts {
	const char *config;
	const char *data_dir;
	const char *store;
	const char *fleet;
	const char *offline;
	const char *admin;
	const char *dns[RP_LIMIT_PKI_SERVER_SANS];
	size_t ndns;
	const char *ip[RP_LIMIT_PKI_SERVER_SANS];
	size_t nip;
	rp_pki_alg alg;
	int root_inside;
	int password_stdin;
} init_opts;

typedef struct init_plan {
	const init_opts *o;
	rp_config cfg;    /* the existing configuration, or the defaults */
	int write_config; /* the configuration file did not exist */
	char config[INIT_PATH_CAP];
	char config_dir[INIT_PATH_CAP];
	char data_dir[INIT_PATH_CAP];
	char pki_dir[INIT_PATH_CAP];
	char secrets_dir[INIT_PATH_CAP];
	char key_dir[INIT_PATH_CAP]; /* the offline directory, or pki_dir */
	char path[INIT_FILE_COUNT][INIT_PATH_CAP];
	char tmp[INIT_FILE_COUNT][INIT_PATH_CAP];
	char url[CLI_URL_CAP];
	int db_existed; /* SQLite: the database file was there before */
} init_plan;

/*
 * init_write.c. Each prints its own error ("rampart init: what: why") and
 * returns 0 or -1; what they create is in the journal.
 */

/* Writes every file of the plan under its temporary name. */
int init_write_all(const init_plan *p, const cli_init_pki *k, cli_journal *j);

/* Moves every temporary file to its final name (never over an existing one). */
int init_publish_all(const init_plan *p, cli_journal *j);

/* After init into an existing configuration: the lines it should have. */
void init_config_advice(const init_plan *p);

#endif /* RAMPART_CLI_INIT_H */
