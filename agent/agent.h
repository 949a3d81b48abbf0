/*
 * agent/agent.h - rampart-agent's modules: configuration (config.c), the
 * device's identity (identity.c: keystore, enrollment, renewal), the local
 * applications' socket (apps.c), built-in commands and collectors
 * (builtin.c), and the loop that ties them to the device runtime (main.c).
 *
 * The agent is one thread: everything runs from the poll loop in main.c.
 * The manual for operators is docs/agent.md.
 */
#ifndef RP_AGENT_H
#define RP_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "rampart/device.h"
#include "rampart/est_client.h"
#include "rampart/keystore.h"
#include "rampart/tls_client.h"

#define AGENT_PATH_MAX       512u
#define AGENT_MAX_COLLECTORS 32u
#define AGENT_ARGV_MAX       16u
#define AGENT_NAME_MAX       256u

/* A periodic command whose output (one number) is a reading. */
typedef struct agent_collector {
	char name[AGENT_NAME_MAX + 1u];
	char unit[33];
	uint64_t interval_ms;
	char *argv[AGENT_ARGV_MAX + 1u]; /* into argbuf, NULL-terminated */
	char argbuf[1024];
	unsigned line; /* where it was configured */
} agent_collector;

typedef struct agent_config {
	char path[AGENT_PATH_MAX]; /* the file read */
	char device_id[65];
	char host[256];
	uint16_t mqtt_port;
	uint16_t https_port;
	char server_name[256]; /* "" = host */
	char trust_root[AGENT_PATH_MAX];
	char state_dir[AGENT_PATH_MAX];
	/* keystore */
	char keystore[8]; /* "soft" or "pkcs11" */
	char ks_module[AGENT_PATH_MAX];
	char ks_token[33];
	char ks_pin_file[AGENT_PATH_MAX];
	char ks_key_label[65];
	rp_key_type key_type;
	/* enrollment and renewal */
	char token_file[AGENT_PATH_MAX];
	uint64_t renew_interval_ms; /* 0: at 2/3 of the lifetime (rp_est_renew_at) */
	/* local applications */
	char socket_path[108]; /* sun_path */
	unsigned socket_mode;
	/* telemetry */
	uint64_t queue_max;
	int queue_refuse; /* 1: "stop" (stop sampling), 0: drop the oldest */
	uint64_t batch_ms;
	agent_collector collectors[AGENT_MAX_COLLECTORS];
	size_t ncollectors;
	/* built-in commands */
	char *reboot_argv[AGENT_ARGV_MAX + 1u];
	char reboot_buf[1024];
	/* privileges */
	char user[33]; /* "" = stay who we are */
} agent_config;

/* Reports one problem: "file:line: message" (line 0: the file as a whole). */
typedef void (*agent_report_fn)(void *ctx, const char *file, unsigned line, const char *msg);

/*
 * Reads and checks the configuration file at path into *c (defaults
 * first). Every problem of the file is reported, each once; returns the
 * number of problems (0: *c is usable).
 */
unsigned agent_config_load(agent_config *c, const char *path, agent_report_fn report, void *ctx);

/* The same from a buffer (tests, fuzzing): name is used in reports. */
unsigned agent_config_parse(agent_config *c, const char *name, const char *buf, size_t len,
			    agent_report_fn report, void *ctx);

/*
 * A reading's number as SenML decimal mantissa and exponent: the shortest
 * text that reads back as the same double (21.5 stays 215e-1). 0 if v is
 * not finite or its exponent is beyond +-30 (rampart/senml.h).
 */
int agent_decimal_of(double v, int64_t *mantissa, int *exp10);

/* CLOCK_MONOTONIC and CLOCK_REALTIME in ms, and 32 random bits (util.c). */
int64_t agent_mono_ms(void);
int64_t agent_wall_ms(void);
uint32_t agent_rnd32(void);

/* Logs a line to stderr (the journal under systemd): level as syslog. */
void agent_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* RP_AGENT_H */
