/*
 * server/config/config.h - rampartd's configuration file (rampartd.conf).
 *
 * The manual of every key (default, range, unit, what it protects) is
 * docs/configuration.md; packaging/rampartd.conf.example is a commented
 * example.
 *
 * Format
 * - One setting per line: a key, blanks (spaces or tabs), and a value that
 *   is the rest of the line with blanks trimmed from both ends. A line
 *   whose first non-blank character is '#' is a comment; blank lines are
 *   ignored. There are no end-of-line comments: "loops 4 # four" is the
 *   value "4 # four", refused as not a number.
 * - UTF-8 (a byte order mark at the start is skipped), no NUL bytes. Lines
 *   end with LF or CRLF and hold at most RP_LIMIT_CONFIG_LINE_LEN bytes; the
 *   file at most RP_LIMIT_CONFIG_FILE_SIZE bytes.
 * - Keys are dotted names. Each key may appear once, except listener.mqtts
 *   and listener.mqtt, which may repeat (RP_LIMIT_BROKER_LISTENERS each).
 * - Numbers are unsigned decimal. Sizes take an optional k, m or g suffix
 *   (binary: 1k = 1024 bytes). Durations need a unit: ms, s, m, h or d.
 *   Rates are N/s (messages or connections) or SIZE/s (bytes).
 * - limit.* keys may lower their hard cap in rampart/limits.h, never raise
 *   it; every numeric key also has a documented minimum.
 *
 * Errors
 * - The parser goes on after an error and reports every problem of the
 *   file, each once, through the report callback: (file, line, message).
 *   line is 1-based; 0 means the file as a whole (cannot be opened, too
 *   large). The message reads "key: problem", so a program prints
 *   "file:line: message", for example
 *   "rampartd.conf:12: limit.max_packet: 2000000 is above the hard cap
 *   1048576 (include/rampart/limits.h)".
 * - Values quoted in messages are cut to 64 bytes, and every byte outside
 *   printable ASCII is written as \xNN, so a message is safe for a
 *   terminal or a log line. The file holds no secrets (keys are paths;
 *   the issuing key's passphrase and a token's PIN are in files of their
 *   own).
 *
 * Conventions
 * - rp_config is a plain value with fixed-size fields: nothing is
 *   allocated, nothing needs freeing, and a copy is a complete copy.
 *   It is about 50 KB: keep it static or on the heap in long-lived code.
 * - Parsing starts from the defaults, so the result depends on the file
 *   alone. On RP_E_CONFIG the contents of *c are unspecified and MUST NOT
 *   be used (reload: parse into a new rp_config, swap on RP_OK).
 * - NULL: `c` MUST NOT be NULL (RP_E_INVALID_ARG); `report` may be NULL
 *   (errors are then only counted); `name` may be NULL ("(config)").
 * - Threads: no global state; calls on different rp_config values may run
 *   in parallel. The callback runs on the calling thread, during the call.
 */
#ifndef RP_SERVER_CONFIG_H
#define RP_SERVER_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "rampart/limits.h"
#include "rampart/mqtt.h"
#include "rampart/status.h"

/* Room for a listener as text: "[" IPv6 "]:" port, NUL included. */
#define RP_CONFIG_ADDR_TEXT 48u

/* Address families of a listener (not AF_*, to keep sockets out of here). */
#define RP_CONFIG_IPV4 4u
#define RP_CONFIG_IPV6 6u

/* pki.issuing_keystore: where the issuing CA's key is (server/pki/issuer.h). */
#define RP_CONFIG_KEYSTORE_FILE   0u /* an encrypted key file and its passphrase file */
#define RP_CONFIG_KEYSTORE_PKCS11 1u /* a key pair in a PKCS#11 token */
/* Longest PKCS#11 labels (bytes): a token's label is a 32-byte field; the
 * keystore (rampart/keystore.h) takes key labels of up to 64 bytes. */
#define RP_CONFIG_TOKEN_LABEL_MAX 32u
#define RP_CONFIG_KEY_LABEL_MAX   64u

/* TLS protocol versions, as on the wire (and as OpenSSL's TLS1_x_VERSION). */
#define RP_CONFIG_TLS_1_2 0x0303u
#define RP_CONFIG_TLS_1_3 0x0304u

/*
 * Receives one error: file name, line (0: the whole file), message. The
 * strings are valid only during the call.
 */
typedef void (*rp_config_report_fn)(void *ctx, const char *file, unsigned line, const char *msg);

/* One listening address. */
typedef struct rp_config_listener {
	uint8_t tls;      /* 1: listener.mqtts (mutual TLS); 0: listener.mqtt (loopback only) */
	uint8_t family;   /* RP_CONFIG_IPV4 or RP_CONFIG_IPV6 */
	uint16_t port;    /* host order; 0 lets the kernel choose (tests) */
	uint8_t addr[16]; /* network order; IPv4 uses the first 4 bytes */
	unsigned line;    /* line of the file, 0 for the built-in default */
	char text[RP_CONFIG_ADDR_TEXT]; /* canonical "1.2.3.4:8883" or "[::1]:1883" */
} rp_config_listener;

/*
 * The limits, each within [its documented minimum, its hard cap]. Sizes in
 * bytes, rates per second, durations in milliseconds unless named _s.
 */
typedef struct rp_config_limits {
	uint32_t max_packet;
	uint32_t max_packet_preauth; /* never above max_packet (lowered to it if left default) */
	uint32_t max_topic_len;
	uint32_t max_topic_levels;
	uint32_t max_user_props;
	uint32_t max_sub_entries;
	uint32_t max_subscriptions; /* per client */
	uint32_t max_inflight;      /* QoS 1 and 2, each direction (Receive Maximum) */
	uint32_t max_queued_messages;
	uint32_t max_queued_bytes; /* at least max_packet */
	uint32_t max_connections;
	uint32_t max_connections_per_address;
	uint32_t connect_rate_per_address; /* connections per second (token bucket) */
	uint32_t connect_burst_per_address;
	uint32_t device_msg_rate; /* messages per second (token bucket) */
	uint32_t device_msg_burst;
	uint32_t device_byte_rate;  /* bytes per second (token bucket) */
	uint32_t device_byte_burst; /* at least max_packet */
	uint32_t max_handshakes;
	uint32_t handshake_timeout_ms;
	uint32_t connect_timeout_ms; /* at least handshake_timeout_ms */
	uint32_t keepalive_max_s;
	uint32_t session_expiry_max_s;
	uint32_t write_timeout_ms;
	uint32_t max_client_id_len;
} rp_config_limits;

typedef struct rp_config {
	uint32_t loops; /* event loops; 0 = one per online core */
	char data_dir[RP_LIMIT_CONFIG_PATH_LEN];

	/*
	 * listener.mqtts lines, then listener.mqtt lines, each in file order.
	 * Without any listener.mqtts line the default 0.0.0.0:8883 comes first.
	 */
	rp_config_listener listeners[2u * RP_LIMIT_BROKER_LISTENERS];
	unsigned listener_count;

	/*
	 * Paths: NUL-terminated, never longer than RP_LIMIT_CONFIG_PATH_LEN - 1.
	 * An empty string means "not set" (only tls_crl and policy may be).
	 * rp_config_load() makes a relative path relative to the directory of
	 * the configuration file; rp_config_parse() leaves paths as written.
	 */
	char tls_cert[RP_LIMIT_CONFIG_PATH_LEN];
	char tls_key[RP_LIMIT_CONFIG_PATH_LEN];
	char tls_ca[RP_LIMIT_CONFIG_PATH_LEN];  /* fleet CA bundle for client certificates */
	char tls_crl[RP_LIMIT_CONFIG_PATH_LEN]; /* "" = no revocation list */
	uint32_t tls_min_version;               /* RP_CONFIG_TLS_1_3 or RP_CONFIG_TLS_1_2 */
	uint8_t tls_session_tickets;            /* 1 = on */
	char policy[RP_LIMIT_CONFIG_PATH_LEN];  /* "" = the built-in device-only policy */
	/* "sqlite:PATH" or "postgresql://..."; "" = sqlite:<data_dir>/rampart.db.
	 * May hold a password: never logged. */
	char store[RP_LIMIT_CONFIG_PATH_LEN];
	uint32_t telemetry_retention_s; /* telemetry older than this is deleted; 0 = kept */

	/* The REST API (HTTPS, server/api/api.h). */
	rp_config_listener https; /* listener.https; meaningful if https_on */
	uint8_t https_on;         /* 0: listener.https off */
	uint8_t api_totp_required;
	/* 32-byte key sealing TOTP secrets; "" = <data_dir>/secrets/api.key,
	 * which rampartd creates (0600) if it does not exist. */
	char api_secret_key[RP_LIMIT_CONFIG_PATH_LEN];
	uint32_t api_threads;
	uint32_t api_session_lifetime_s;
	uint32_t api_token_lifetime_max_s;

	/*
	 * Enrollment (EST, docs/est.md): the issuing CA that signs device
	 * certificates. pki_issuing_cert "" = enrollment off (the EST routes
	 * answer 503); once it is set, pki_root_cert (what /cacerts serves as
	 * the devices' trust anchor) and the key are required: with
	 * pki_issuing_keystore RP_CONFIG_KEYSTORE_FILE (the default)
	 * pki_issuing_key and pki_issuing_key_pass (a file holding the key's
	 * passphrase); with RP_CONFIG_KEYSTORE_PKCS11 the pki_pkcs11_* fields
	 * and pki_issuing_key_label, and then no key file (the parser refuses
	 * the keys of the other keystore).
	 */
	char pki_issuing_cert[RP_LIMIT_CONFIG_PATH_LEN];
	char pki_issuing_key[RP_LIMIT_CONFIG_PATH_LEN];
	char pki_issuing_key_pass[RP_LIMIT_CONFIG_PATH_LEN];
	uint8_t pki_issuing_keystore;                     /* RP_CONFIG_KEYSTORE_FILE or _PKCS11 */
	char pki_pkcs11_module[RP_LIMIT_CONFIG_PATH_LEN]; /* the PKCS#11 library */
	char pki_pkcs11_token[RP_CONFIG_TOKEN_LABEL_MAX + 1u];    /* the token's label */
	char pki_pkcs11_pin_file[RP_LIMIT_CONFIG_PATH_LEN];       /* the user PIN, mode 0600 */
	char pki_issuing_key_label[RP_CONFIG_KEY_LABEL_MAX + 1u]; /* CKA_LABEL of the key */
	char pki_root_cert[RP_LIMIT_CONFIG_PATH_LEN];
	/* The fleet's name in device SAN URIs: 1 .. RP_LIMIT_PKI_FLEET_NAME_LEN of
	 * a-z 0-9 -, the first a letter or digit; default "rampart". */
	char pki_fleet[RP_LIMIT_PKI_FLEET_NAME_LEN + 1u];
	uint32_t pki_device_validity_s; /* device certificates' lifetime */
	/* The issuing CA's CRL that rampartd makes and keeps current (PEM,
	 * docs/pki.md "Revocation"); "" = <data_dir>/issuing-ca.crl. */
	char pki_crl[RP_LIMIT_CONFIG_PATH_LEN];
	uint32_t pki_crl_next_update_s; /* its nextUpdate - thisUpdate */
	/* PEM bundle of manufacturer CAs whose factory certificates may
	 * enroll (TLS client certificate on simpleenroll); "" = none. */
	char est_manufacturer_ca[RP_LIMIT_CONFIG_PATH_LEN];

	rp_config_limits limit;
} rp_config;

/* Fills *c with every default (docs/configuration.md). NULL is ignored. */
void rp_config_defaults(rp_config *c);

/*
 * Parses a configuration held in memory: buf[0 .. len), which need not be
 * NUL-terminated (buf may be NULL when len is 0). `name` is used only in
 * reports. *c receives the defaults, then every setting of the file.
 *
 * Returns:
 * - RP_OK: *c is complete and every value is within its range.
 * - RP_E_CONFIG: at least one error, each reported once.
 * - RP_E_INVALID_ARG: c is NULL, or buf is NULL with len > 0 (no report).
 */
rp_status rp_config_parse(rp_config *c, const char *name, const char *buf, size_t len,
			  rp_config_report_fn report, void *ctx);

/*
 * Reads the file at `path` (a regular file of at most
 * RP_LIMIT_CONFIG_FILE_SIZE bytes) and parses it as rp_config_parse(),
 * with `path` as the name in reports; then makes relative paths relative
 * to the file's directory.
 *
 * Returns RP_OK, RP_E_CONFIG (including a file that cannot be opened or
 * read, is not a regular file or is too large: reported with line 0),
 * RP_E_NOMEM (the read buffer; reported too), or RP_E_INVALID_ARG
 * (c or path NULL).
 */
rp_status rp_config_load(rp_config *c, const char *path, rp_config_report_fn report, void *ctx);

/*
 * The codec limits for an authenticated connection: max_packet, topic
 * length and depth, user properties and entries per SUBSCRIBE from *c;
 * max_sub_ids the smaller of max_subscriptions and RP_LIMIT_MQTT_SUB_IDS.
 * The result is already within rp_mqtt_limits_clamp()'s bounds.
 */
void rp_config_mqtt_limits(const rp_config *c, rp_mqtt_limits *out);

/*
 * The same, for a connection whose CONNECT has not been accepted yet:
 * max_packet is limit.max_packet_preauth.
 */
void rp_config_mqtt_limits_preauth(const rp_config *c, rp_mqtt_limits *out);

#endif /* RP_SERVER_CONFIG_H */
