/*
 * config.c - the rampartd.conf parser.
 *
 * Implementation notes
 * - Table driven: keys[] gives each key its kind (how its value is
 *   written), the field it sets and its range. Ranges are in base units
 *   (count, byte, millisecond); the maxima are the caps of
 *   rampart/limits.h, the minima are set here (docs/configuration.md).
 * - Numbers are read into uint64_t and saturate at UINT64_MAX on overflow,
 *   digits or unit multiplication alike, so an absurd value is reported as
 *   "above the hard cap" and never wraps into range.
 * - State of one parse (struct ps): the line being read, the line on which
 *   each key was set (duplicates, and where to report cross-key errors),
 *   which keys were refused (so one bad value does not cause a second,
 *   derived error), and the listeners read so far.
 * - Attacker: the file is written by an operator, but may be damaged or
 *   generated; every length is bounded (file, line, value, path), nothing
 *   read from it is trusted as a length, and echoed text is sanitised.
 */
#include "config/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rampart/text.h"
#include "util/alloc.h"
#include "util/file.h"
#include "util/log.h"

#if defined(__GNUC__) || defined(__clang__)
#define RP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define RP_PRINTF(f, a)
#endif

#define LIMITS_H  "include/rampart/limits.h"
#define QUOTE_MAX 64u /* bytes of a value echoed in a message */

/* How a key's value is written. */
enum kind {
	K_COUNT,       /* 100 */
	K_SIZE,        /* 4096, 256k, 1m */
	K_DURATION_MS, /* 10s, 500ms: stored in milliseconds */
	K_DURATION_S,  /* 10s, 5m: stored in seconds, whole seconds only */
	K_RATE,        /* 100/s */
	K_BYTE_RATE,   /* 1m/s */
	K_PATH,
	K_BOOL, /* on, off */
	K_TLS_VERSION,
	K_LISTENER_TLS,
	K_LISTENER_PLAIN,
	K_STORE,    /* sqlite:PATH, postgresql://... */
	K_HTTPS,    /* an address and port, or off */
	K_FLEET,    /* a fleet name: a-z 0-9 -, 1 .. RP_LIMIT_PKI_FLEET_NAME_LEN */
	K_KEYSTORE, /* file, pkcs11 */
	K_LABEL     /* a PKCS#11 label: 1 .. max bytes, no control character */
};

enum key_id {
	KEY_LOOPS,
	KEY_DATA_DIR,
	KEY_LISTENER_MQTTS,
	KEY_LISTENER_MQTT,
	KEY_TLS_CERT,
	KEY_TLS_KEY,
	KEY_TLS_CA,
	KEY_TLS_CRL,
	KEY_TLS_MIN_VERSION,
	KEY_TLS_SESSION_TICKETS,
	KEY_POLICY,
	KEY_STORE,
	KEY_TELEMETRY_RETENTION,
	KEY_LISTENER_HTTPS,
	KEY_API_SECRET_KEY,
	KEY_API_TOTP_REQUIRED,
	KEY_API_THREADS,
	KEY_API_SESSION_LIFETIME,
	KEY_API_TOKEN_LIFETIME_MAX,
	KEY_PKI_ISSUING_CERT,
	KEY_PKI_ISSUING_KEY,
	KEY_PKI_ISSUING_KEY_PASS,
	KEY_PKI_ISSUING_KEYSTORE,
	KEY_PKI_PKCS11_MODULE,
	KEY_PKI_PKCS11_TOKEN,
	KEY_PKI_PKCS11_PIN_FILE,
	KEY_PKI_ISSUING_KEY_LABEL,
	KEY_PKI_ROOT_CERT,
	KEY_PKI_FLEET,
	KEY_PKI_DEVICE_VALIDITY,
	KEY_PKI_CRL,
	KEY_PKI_CRL_NEXT_UPDATE,
	KEY_EST_MANUFACTURER_CA,
	KEY_MAX_PACKET,
	KEY_MAX_PACKET_PREAUTH,
	KEY_MAX_TOPIC_LEN,
	KEY_MAX_TOPIC_LEVELS,
	KEY_MAX_USER_PROPS,
	KEY_MAX_SUB_ENTRIES,
	KEY_MAX_SUBSCRIPTIONS,
	KEY_MAX_INFLIGHT,
	KEY_MAX_QUEUED_MESSAGES,
	KEY_MAX_QUEUED_BYTES,
	KEY_MAX_CONNECTIONS,
	KEY_MAX_CONNECTIONS_PER_ADDRESS,
	KEY_CONNECT_RATE,
	KEY_CONNECT_BURST,
	KEY_DEVICE_MSG_RATE,
	KEY_DEVICE_MSG_BURST,
	KEY_DEVICE_BYTE_RATE,
	KEY_DEVICE_BYTE_BURST,
	KEY_MAX_HANDSHAKES,
	KEY_HANDSHAKE_TIMEOUT,
	KEY_CONNECT_TIMEOUT,
	KEY_KEEPALIVE_MAX,
	KEY_SESSION_EXPIRY_MAX,
	KEY_WRITE_TIMEOUT,
	KEY_MAX_CLIENT_ID_LEN,
	KEY_COUNT_
};

struct key {
	const char *name;
	enum kind kind;
	size_t off;   /* offset of the field in rp_config */
	uint64_t min; /* base units: count, bytes or milliseconds */
	uint64_t max; /* the hard cap of rampart/limits.h; K_LABEL: bytes */
};

#define OFF(f)  offsetof(rp_config, f)
#define LOFF(f) (offsetof(rp_config, limit) + offsetof(rp_config_limits, f))
#define SEC(x)  ((uint64_t)(x)*1000u)

static const struct key keys[KEY_COUNT_] = {
	[KEY_LOOPS] = {"loops", K_COUNT, OFF(loops), 0, RP_LIMIT_BROKER_LOOPS},
	[KEY_DATA_DIR] = {"data_dir", K_PATH, OFF(data_dir), 0, 0},
	[KEY_LISTENER_MQTTS] = {"listener.mqtts", K_LISTENER_TLS, 0, 0, 0},
	[KEY_LISTENER_MQTT] = {"listener.mqtt", K_LISTENER_PLAIN, 0, 0, 0},
	[KEY_TLS_CERT] = {"tls.cert", K_PATH, OFF(tls_cert), 0, 0},
	[KEY_TLS_KEY] = {"tls.key", K_PATH, OFF(tls_key), 0, 0},
	[KEY_TLS_CA] = {"tls.ca", K_PATH, OFF(tls_ca), 0, 0},
	[KEY_TLS_CRL] = {"tls.crl", K_PATH, OFF(tls_crl), 0, 0},
	[KEY_TLS_MIN_VERSION] = {"tls.min_version", K_TLS_VERSION, OFF(tls_min_version), 0, 0},
	[KEY_TLS_SESSION_TICKETS] = {"tls.session_tickets", K_BOOL, OFF(tls_session_tickets), 0, 0},
	[KEY_POLICY] = {"policy", K_PATH, OFF(policy), 0, 0},
	[KEY_STORE] = {"store", K_STORE, OFF(store), 0, 0},
	[KEY_TELEMETRY_RETENTION] = {"telemetry.retention", K_DURATION_S,
				     OFF(telemetry_retention_s), 0,
				     SEC(RP_LIMIT_TELEMETRY_RETENTION_S)},
	[KEY_LISTENER_HTTPS] = {"listener.https", K_HTTPS, 0, 0, 0},
	[KEY_API_SECRET_KEY] = {"api.secret_key", K_PATH, OFF(api_secret_key), 0, 0},
	[KEY_API_TOTP_REQUIRED] = {"api.totp_required", K_BOOL, OFF(api_totp_required), 0, 0},
	[KEY_API_THREADS] = {"api.threads", K_COUNT, OFF(api_threads), 1, RP_LIMIT_API_THREADS},
	[KEY_API_SESSION_LIFETIME] = {"api.session_lifetime", K_DURATION_S,
				      OFF(api_session_lifetime_s), SEC(60),
				      SEC(RP_LIMIT_SESSION_LIFETIME_S)},
	[KEY_API_TOKEN_LIFETIME_MAX] = {"api.token_lifetime_max", K_DURATION_S,
					OFF(api_token_lifetime_max_s), SEC(3600),
					SEC(RP_LIMIT_API_TOKEN_LIFETIME_S)},
	[KEY_PKI_ISSUING_CERT] = {"pki.issuing_cert", K_PATH, OFF(pki_issuing_cert), 0, 0},
	[KEY_PKI_ISSUING_KEY] = {"pki.issuing_key", K_PATH, OFF(pki_issuing_key), 0, 0},
	[KEY_PKI_ISSUING_KEY_PASS] = {"pki.issuing_key_pass", K_PATH, OFF(pki_issuing_key_pass), 0,
				      0},
	[KEY_PKI_ISSUING_KEYSTORE] = {"pki.issuing_keystore", K_KEYSTORE, OFF(pki_issuing_keystore),
				      0, 0},
	[KEY_PKI_PKCS11_MODULE] = {"pki.pkcs11_module", K_PATH, OFF(pki_pkcs11_module), 0, 0},
	[KEY_PKI_PKCS11_TOKEN] = {"pki.pkcs11_token", K_LABEL, OFF(pki_pkcs11_token), 1,
				  RP_CONFIG_TOKEN_LABEL_MAX},
	[KEY_PKI_PKCS11_PIN_FILE] = {"pki.pkcs11_pin_file", K_PATH, OFF(pki_pkcs11_pin_file), 0, 0},
	[KEY_PKI_ISSUING_KEY_LABEL] = {"pki.issuing_key_label", K_LABEL, OFF(pki_issuing_key_label),
				       1, RP_CONFIG_KEY_LABEL_MAX},
	[KEY_PKI_ROOT_CERT] = {"pki.root_cert", K_PATH, OFF(pki_root_cert), 0, 0},
	[KEY_PKI_FLEET] = {"pki.fleet", K_FLEET, OFF(pki_fleet), 0, 0},
	[KEY_PKI_DEVICE_VALIDITY] = {"pki.device_validity", K_DURATION_S,
				     OFF(pki_device_validity_s),
				     SEC(RP_LIMIT_PKI_DEVICE_VALIDITY_MIN_S),
				     SEC(RP_LIMIT_PKI_DEVICE_VALIDITY_S)},
	[KEY_PKI_CRL] = {"pki.crl", K_PATH, OFF(pki_crl), 0, 0},
	[KEY_PKI_CRL_NEXT_UPDATE] = {"pki.crl_next_update", K_DURATION_S,
				     OFF(pki_crl_next_update_s),
				     SEC(RP_LIMIT_PKI_CRL_NEXT_UPDATE_MIN_S),
				     SEC(RP_LIMIT_PKI_CRL_NEXT_UPDATE_S)},
	[KEY_EST_MANUFACTURER_CA] = {"est.manufacturer_ca", K_PATH, OFF(est_manufacturer_ca), 0, 0},
	[KEY_MAX_PACKET] = {"limit.max_packet", K_SIZE, LOFF(max_packet), 128,
			    RP_LIMIT_MQTT_PACKET},
	[KEY_MAX_PACKET_PREAUTH] = {"limit.max_packet_preauth", K_SIZE, LOFF(max_packet_preauth),
				    128, RP_LIMIT_MQTT_PREAUTH_PACKET},
	[KEY_MAX_TOPIC_LEN] = {"limit.max_topic_len", K_SIZE, LOFF(max_topic_len), 32,
			       RP_LIMIT_MQTT_TOPIC_LEN},
	[KEY_MAX_TOPIC_LEVELS] = {"limit.max_topic_levels", K_COUNT, LOFF(max_topic_levels), 3,
				  RP_LIMIT_MQTT_TOPIC_LEVELS},
	[KEY_MAX_USER_PROPS] = {"limit.max_user_props", K_COUNT, LOFF(max_user_props), 1,
				RP_LIMIT_MQTT_USER_PROPS},
	[KEY_MAX_SUB_ENTRIES] = {"limit.max_sub_entries", K_COUNT, LOFF(max_sub_entries), 1,
				 RP_LIMIT_MQTT_SUB_ENTRIES},
	[KEY_MAX_SUBSCRIPTIONS] = {"limit.max_subscriptions", K_COUNT, LOFF(max_subscriptions), 1,
				   RP_LIMIT_BROKER_SUBSCRIPTIONS},
	[KEY_MAX_INFLIGHT] = {"limit.max_inflight", K_COUNT, LOFF(max_inflight), 1,
			      RP_LIMIT_BROKER_INFLIGHT},
	[KEY_MAX_QUEUED_MESSAGES] = {"limit.max_queued_messages", K_COUNT,
				     LOFF(max_queued_messages), 1, RP_LIMIT_BROKER_QUEUED_MESSAGES},
	[KEY_MAX_QUEUED_BYTES] = {"limit.max_queued_bytes", K_SIZE, LOFF(max_queued_bytes), 128,
				  RP_LIMIT_BROKER_QUEUED_BYTES},
	[KEY_MAX_CONNECTIONS] = {"limit.max_connections", K_COUNT, LOFF(max_connections), 1,
				 RP_LIMIT_BROKER_CONNECTIONS},
	[KEY_MAX_CONNECTIONS_PER_ADDRESS] = {"limit.max_connections_per_address", K_COUNT,
					     LOFF(max_connections_per_address), 1,
					     RP_LIMIT_BROKER_CONNECTIONS_PER_ADDRESS},
	[KEY_CONNECT_RATE] = {"limit.connect_rate_per_address", K_RATE,
			      LOFF(connect_rate_per_address), 1, RP_LIMIT_BROKER_CONNECT_RATE},
	[KEY_CONNECT_BURST] = {"limit.connect_burst_per_address", K_COUNT,
			       LOFF(connect_burst_per_address), 1, RP_LIMIT_BROKER_CONNECT_BURST},
	[KEY_DEVICE_MSG_RATE] = {"limit.device_msg_rate", K_RATE, LOFF(device_msg_rate), 1,
				 RP_LIMIT_BROKER_MSG_RATE},
	[KEY_DEVICE_MSG_BURST] = {"limit.device_msg_burst", K_COUNT, LOFF(device_msg_burst), 1,
				  RP_LIMIT_BROKER_MSG_BURST},
	[KEY_DEVICE_BYTE_RATE] = {"limit.device_byte_rate", K_BYTE_RATE, LOFF(device_byte_rate),
				  128, RP_LIMIT_BROKER_BYTE_RATE},
	[KEY_DEVICE_BYTE_BURST] = {"limit.device_byte_burst", K_SIZE, LOFF(device_byte_burst), 128,
				   RP_LIMIT_BROKER_BYTE_BURST},
	[KEY_MAX_HANDSHAKES] = {"limit.max_handshakes", K_COUNT, LOFF(max_handshakes), 1,
				RP_LIMIT_BROKER_HANDSHAKES},
	[KEY_HANDSHAKE_TIMEOUT] = {"limit.handshake_timeout", K_DURATION_MS,
				   LOFF(handshake_timeout_ms), 100,
				   RP_LIMIT_BROKER_HANDSHAKE_TIMEOUT_MS},
	[KEY_CONNECT_TIMEOUT] = {"limit.connect_timeout", K_DURATION_MS, LOFF(connect_timeout_ms),
				 100, RP_LIMIT_BROKER_CONNECT_TIMEOUT_MS},
	[KEY_KEEPALIVE_MAX] = {"limit.keepalive_max", K_DURATION_S, LOFF(keepalive_max_s), SEC(1),
			       SEC(RP_LIMIT_BROKER_KEEPALIVE_S)},
	[KEY_SESSION_EXPIRY_MAX] = {"limit.session_expiry_max", K_DURATION_S,
				    LOFF(session_expiry_max_s), 0,
				    SEC(RP_LIMIT_BROKER_SESSION_EXPIRY_S)},
	[KEY_WRITE_TIMEOUT] = {"limit.write_timeout", K_DURATION_MS, LOFF(write_timeout_ms), 100,
			       RP_LIMIT_BROKER_WRITE_TIMEOUT_MS},
	[KEY_MAX_CLIENT_ID_LEN] = {"limit.max_client_id_len", K_COUNT, LOFF(max_client_id_len), 23,
				   RP_LIMIT_MQTT_CLIENT_ID_LEN},
};

/* State of one parse. */
struct ps {
	rp_config *c;
	const char *name;
	rp_config_report_fn report;
	void *ctx;
	const char *base; /* directory for relative paths, or NULL */
	size_t base_len;
	unsigned line;
	unsigned errors;
	unsigned set_at[KEY_COUNT_]; /* line that set each key, 0 = not set */
	uint8_t bad[KEY_COUNT_];     /* a line of this key was refused */
	rp_config_listener tls_l[RP_LIMIT_BROKER_LISTENERS];
	rp_config_listener plain_l[RP_LIMIT_BROKER_LISTENERS];
	unsigned n_tls;
	unsigned n_plain;
};

/* ------------------------------------------------------------------------
 * Reporting
 * ------------------------------------------------------------------------ */

static void say(struct ps *ps, unsigned line, const char *fmt, ...) RP_PRINTF(3, 4);

static void say(struct ps *ps, unsigned line, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	ps->errors++;
	if (ps->report == NULL) {
		return;
	}
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ps->report(ps->ctx, ps->name, line, msg);
}

/* A value echoed in a message: at most QUOTE_MAX bytes, escaped (util/log.h). */
static void quote(char *out, const char *s, size_t n)
{
	rp_quote(out, s, n, QUOTE_MAX);
}

#define QUOTE_BUF (QUOTE_MAX * 4u + 4u)

/* A duration in milliseconds, in the largest unit that divides it. */
static void fmt_duration(char *out, size_t cap, uint64_t ms)
{
	static const struct {
		uint64_t ms;
		const char *unit;
	} units[] = {{86400000u, "d"}, {3600000u, "h"}, {60000u, "m"}, {1000u, "s"}};
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (ms != 0 && ms % units[i].ms == 0) {
			(void)snprintf(out, cap, "%llu%s", (unsigned long long)(ms / units[i].ms),
				       units[i].unit);
			return;
		}
	}
	(void)snprintf(out, cap, "%llums", (unsigned long long)ms);
}

/* A value of key k (base units) as a message shows it. */
static void fmt_value(char *out, size_t cap, enum kind kind, uint64_t v)
{
	switch (kind) {
	case K_DURATION_MS:
	case K_DURATION_S:
		fmt_duration(out, cap, v);
		break;
	case K_RATE:
	case K_BYTE_RATE:
		(void)snprintf(out, cap, "%llu/s", (unsigned long long)v);
		break;
	default:
		(void)snprintf(out, cap, "%llu", (unsigned long long)v);
		break;
	}
}

/* ------------------------------------------------------------------------
 * Values
 * ------------------------------------------------------------------------ */

static int is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* A rate: COUNT/s, or SIZE/s when bytes is set. */
static int parse_rate(const char *s, int bytes, uint64_t *v)
{
	const char *end;
	size_t n;

	if (bytes) {
		if (!rp_text_size_at(s, v, &end)) {
			return 0;
		}
	} else {
		n = rp_text_digits(s, v);
		if (n == 0) {
			return 0;
		}
		end = s + n;
	}
	return strcmp(end, "/s") == 0;
}

static const char *malformed_hint(enum kind kind)
{
	switch (kind) {
	case K_COUNT:
		return "is not a number (unsigned decimal, e.g. 100)";
	case K_SIZE:
		return "is not a size (bytes, or a number with k, m or g, e.g. 256k)";
	case K_DURATION_MS:
	case K_DURATION_S:
		return "is not a duration (a number and a unit: ms, s, m, h or d, e.g. 10s)";
	case K_RATE:
		return "is not a rate (a number per second, e.g. 100/s)";
	case K_BYTE_RATE:
		return "is not a byte rate (a size per second, e.g. 1m/s)";
	default:
		return "is malformed";
	}
}

static void set_u32(rp_config *c, size_t off, uint32_t v)
{
	memcpy((char *)c + off, &v, sizeof(v));
}

/* A numeric key: parse, check the range, store. */
static void set_number(struct ps *ps, enum key_id id, const char *val)
{
	const struct key *k = &keys[id];
	char q[QUOTE_BUF], lim[48];
	uint64_t v = 0;
	int ok;

	switch (k->kind) {
	case K_COUNT:
		ok = rp_text_count(val, &v);
		break;
	case K_SIZE:
		ok = rp_text_size(val, &v);
		break;
	case K_DURATION_MS:
	case K_DURATION_S:
		ok = rp_text_duration_ms(val, &v);
		break;
	case K_RATE:
		ok = parse_rate(val, 0, &v);
		break;
	default:
		ok = parse_rate(val, 1, &v);
		break;
	}
	quote(q, val, strlen(val));
	if (!ok) {
		say(ps, ps->line, "%s: '%s' %s", k->name, q, malformed_hint(k->kind));
		goto bad;
	}
	if (v > k->max) {
		fmt_value(lim, sizeof(lim), k->kind, k->max);
		say(ps, ps->line, "%s: %s is above the hard cap %s (" LIMITS_H ")", k->name, q,
		    lim);
		goto bad;
	}
	if (v < k->min) {
		fmt_value(lim, sizeof(lim), k->kind, k->min);
		say(ps, ps->line, "%s: %s is below the minimum %s", k->name, q, lim);
		goto bad;
	}
	if (k->kind == K_DURATION_S) {
		if (v % 1000u != 0) {
			say(ps, ps->line, "%s: %s is not a whole number of seconds", k->name, q);
			goto bad;
		}
		v /= 1000u;
	}
	set_u32(ps->c, k->off, (uint32_t)v);
	return;
bad:
	ps->bad[id] = 1;
}

/* A path: stored as written, or under ps->base when relative. */
static void set_path(struct ps *ps, enum key_id id, const char *val)
{
	const struct key *k = &keys[id];
	char *dst = (char *)ps->c + k->off;
	size_t n = strlen(val);

	if (ps->base != NULL && val[0] != '/') {
		if (ps->base_len + 1u + n >= RP_LIMIT_CONFIG_PATH_LEN) {
			say(ps, ps->line,
			    "%s: path is longer than %u bytes once made relative to the directory "
			    "of the configuration file",
			    k->name, RP_LIMIT_CONFIG_PATH_LEN - 1u);
			ps->bad[id] = 1;
			return;
		}
		memcpy(dst, ps->base, ps->base_len);
		dst[ps->base_len] = '/';
		memcpy(dst + ps->base_len + 1u, val, n + 1u);
		return;
	}
	if (n >= RP_LIMIT_CONFIG_PATH_LEN) {
		say(ps, ps->line, "%s: path is longer than %u bytes", k->name,
		    RP_LIMIT_CONFIG_PATH_LEN - 1u);
		ps->bad[id] = 1;
		return;
	}
	memcpy(dst, val, n + 1u);
}

/*
 * store: "sqlite:PATH" (a relative PATH is taken from the configuration
 * file's directory, as other paths) or a PostgreSQL URL, kept as written.
 * The value is never repeated in a message: a URL may hold a password.
 */
static void set_store(struct ps *ps, enum key_id id, const char *val)
{
	char *dst = (char *)ps->c + keys[id].off;
	size_t n = strlen(val);

	if (strncmp(val, "sqlite:", 7) == 0 && val[7] != '\0') {
		const char *path = val + 7;
		size_t pn = n - 7u;

		if (ps->base != NULL && path[0] != '/') {
			if (7u + ps->base_len + 1u + pn >= RP_LIMIT_CONFIG_PATH_LEN) {
				say(ps, ps->line, "store: longer than %u bytes once made relative",
				    RP_LIMIT_CONFIG_PATH_LEN - 1u);
				ps->bad[id] = 1;
				return;
			}
			memcpy(dst, "sqlite:", 7);
			memcpy(dst + 7, ps->base, ps->base_len);
			dst[7 + ps->base_len] = '/';
			memcpy(dst + 7 + ps->base_len + 1u, path, pn + 1u);
			return;
		}
	} else if (strncmp(val, "postgresql://", 13) != 0 && strncmp(val, "postgres://", 11) != 0) {
		say(ps, ps->line, "store: expected sqlite:PATH or a postgresql:// URL");
		ps->bad[id] = 1;
		return;
	}
	if (n >= RP_LIMIT_CONFIG_PATH_LEN) {
		say(ps, ps->line, "store: longer than %u bytes", RP_LIMIT_CONFIG_PATH_LEN - 1u);
		ps->bad[id] = 1;
		return;
	}
	memcpy(dst, val, n + 1u);
}

static void set_bool(struct ps *ps, enum key_id id, const char *val)
{
	char q[QUOTE_BUF];
	uint8_t v;

	if (strcmp(val, "on") == 0) {
		v = 1;
	} else if (strcmp(val, "off") == 0) {
		v = 0;
	} else {
		quote(q, val, strlen(val));
		say(ps, ps->line, "%s: '%s' is not on or off", keys[id].name, q);
		ps->bad[id] = 1;
		return;
	}
	memcpy((char *)ps->c + keys[id].off, &v, 1);
}

static void set_tls_version(struct ps *ps, enum key_id id, const char *val)
{
	char q[QUOTE_BUF];

	if (strcmp(val, "1.3") == 0) {
		ps->c->tls_min_version = RP_CONFIG_TLS_1_3;
	} else if (strcmp(val, "1.2") == 0) {
		ps->c->tls_min_version = RP_CONFIG_TLS_1_2;
	} else {
		quote(q, val, strlen(val));
		say(ps, ps->line, "%s: '%s' is not a TLS version Rampart allows (1.3 or 1.2)",
		    keys[id].name, q);
		ps->bad[id] = 1;
	}
}

/*
 * pki.fleet: the rules of rp_pki_fleet_name_valid() (server/pki), written
 * out here so the parser stays free of OpenSSL: 1 to
 * RP_LIMIT_PKI_FLEET_NAME_LEN of a-z 0-9 -, the first a letter or digit
 * (the name is a field of a URN: urn:rampart:fleet:NAME:device:ID).
 */
static void set_fleet(struct ps *ps, enum key_id id, const char *val)
{
	size_t n = strlen(val);
	char q[QUOTE_BUF];
	int ok = n >= 1u && n <= RP_LIMIT_PKI_FLEET_NAME_LEN && val[0] != '-';

	for (size_t i = 0; ok && i < n; i++) {
		char ch = val[i];

		ok = (ch >= 'a' && ch <= 'z') || is_digit(ch) || ch == '-';
	}
	if (!ok) {
		quote(q, val, n);
		say(ps, ps->line,
		    "%s: '%s' is not a fleet name (1 to %u of a-z 0-9 -, starting with a letter "
		    "or digit)",
		    keys[id].name, q, RP_LIMIT_PKI_FLEET_NAME_LEN);
		ps->bad[id] = 1;
		return;
	}
	memcpy((char *)ps->c + keys[id].off, val, n + 1u);
}

/* pki.issuing_keystore: where the issuing CA's key is. */
static void set_keystore(struct ps *ps, enum key_id id, const char *val)
{
	char q[QUOTE_BUF];

	if (strcmp(val, "file") == 0) {
		ps->c->pki_issuing_keystore = RP_CONFIG_KEYSTORE_FILE;
	} else if (strcmp(val, "pkcs11") == 0) {
		ps->c->pki_issuing_keystore = RP_CONFIG_KEYSTORE_PKCS11;
	} else {
		quote(q, val, strlen(val));
		say(ps, ps->line, "%s: '%s' is not file or pkcs11", keys[id].name, q);
		ps->bad[id] = 1;
	}
}

/*
 * A PKCS#11 label (a token's, a key's): kept as written, 1 to keys[id].max
 * bytes (the token label field is 32 bytes; the keystore takes key labels
 * of up to 64), no control character (it is shown in logs and messages).
 * The line is valid UTF-8 already (rp_text_line_split).
 */
static void set_label(struct ps *ps, enum key_id id, const char *val)
{
	size_t n = strlen(val);
	char q[QUOTE_BUF];

	if (n > keys[id].max) {
		quote(q, val, n);
		say(ps, ps->line, "%s: '%s' is longer than %u bytes", keys[id].name, q,
		    (unsigned)keys[id].max);
		ps->bad[id] = 1;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)val[i];

		if (ch < 0x20u || ch == 0x7fu) {
			quote(q, val, n);
			say(ps, ps->line, "%s: '%s' holds a control character", keys[id].name, q);
			ps->bad[id] = 1;
			return;
		}
	}
	memcpy((char *)ps->c + keys[id].off, val, n + 1u);
}

/* ------------------------------------------------------------------------
 * Listeners
 * ------------------------------------------------------------------------ */

/*
 * Parses "1.2.3.4:PORT" or "[v6]:PORT" into *l (address, port, text).
 * Returns 0 if malformed.
 */
static int parse_address(const char *val, rp_config_listener *l)
{
	char host[64], addr[64];
	const char *colon, *p;
	size_t hlen;
	uint64_t port;
	int v6 = val[0] == '[';

	if (v6) {
		p = strchr(val, ']');
		if (p == NULL || p[1] != ':') {
			return 0;
		}
		hlen = (size_t)(p - (val + 1));
		colon = p + 1;
		val++;
	} else {
		colon = strrchr(val, ':');
		if (colon == NULL) {
			return 0;
		}
		hlen = (size_t)(colon - val);
	}
	if (hlen == 0 || hlen >= sizeof(host)) {
		return 0;
	}
	memcpy(host, val, hlen);
	host[hlen] = '\0';
	p = colon + 1;
	if (strlen(p) > 5 || !rp_text_count(p, &port) || port > 65535u) {
		return 0;
	}
	memset(l->addr, 0, sizeof(l->addr));
	if (inet_pton(v6 ? AF_INET6 : AF_INET, host, l->addr) != 1) {
		return 0;
	}
	if (inet_ntop(v6 ? AF_INET6 : AF_INET, l->addr, addr, sizeof(addr)) == NULL) {
		return 0;
	}
	l->family = v6 ? RP_CONFIG_IPV6 : RP_CONFIG_IPV4;
	l->port = (uint16_t)port;
	(void)snprintf(l->text, sizeof(l->text), v6 ? "[%s]:%u" : "%s:%u", addr, (unsigned)l->port);
	return 1;
}

static int is_loopback(const rp_config_listener *l)
{
	static const uint8_t v6_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

	if (l->family == RP_CONFIG_IPV4) {
		return l->addr[0] == 127u;
	}
	return memcmp(l->addr, v6_loopback, sizeof(v6_loopback)) == 0;
}

/* Another listener on the same address and port (port 0 never clashes). */
static const rp_config_listener *find_listener(const struct ps *ps, const rp_config_listener *l)
{
	const rp_config_listener *lists[2] = {ps->tls_l, ps->plain_l};
	unsigned counts[2] = {ps->n_tls, ps->n_plain};
	unsigned i, j;

	if (l->port == 0) {
		return NULL;
	}
	for (i = 0; i < 2u; i++) {
		for (j = 0; j < counts[i]; j++) {
			const rp_config_listener *o = &lists[i][j];

			if (o->family == l->family && o->port == l->port &&
			    memcmp(o->addr, l->addr, sizeof(o->addr)) == 0) {
				return o;
			}
		}
	}
	return NULL;
}

static void add_listener(struct ps *ps, enum key_id id, const char *val)
{
	const char *name = keys[id].name;
	int tls = id == KEY_LISTENER_MQTTS;
	unsigned *count = tls ? &ps->n_tls : &ps->n_plain;
	rp_config_listener l;
	const rp_config_listener *dup;
	char q[QUOTE_BUF];

	memset(&l, 0, sizeof(l));
	if (!parse_address(val, &l)) {
		quote(q, val, strlen(val));
		say(ps, ps->line,
		    "%s: '%s' is not an address and port (1.2.3.4:8883 or [::1]:8883; host "
		    "names are not resolved)",
		    name, q);
		goto bad;
	}
	l.tls = (uint8_t)tls;
	l.line = ps->line;
	if (!tls && !is_loopback(&l)) {
		say(ps, ps->line,
		    "%s: %s is not a loopback address; plain MQTT has neither TLS nor client "
		    "certificates, so it is allowed only on 127.0.0.0/8 or [::1] "
		    "(use listener.mqtts)",
		    name, l.text);
		goto bad;
	}
	dup = find_listener(ps, &l);
	if (dup != NULL) {
		say(ps, ps->line, "%s: %s is already a listener (line %u)", name, l.text,
		    dup->line);
		goto bad;
	}
	if (*count >= RP_LIMIT_BROKER_LISTENERS) {
		say(ps, ps->line, "%s: more than %u listeners (" LIMITS_H ")", name,
		    RP_LIMIT_BROKER_LISTENERS);
		goto bad;
	}
	(tls ? ps->tls_l : ps->plain_l)[(*count)++] = l;
	return;
bad:
	ps->bad[id] = 1;
}

/* listener.https: the REST API's address, or off. */
static void set_https(struct ps *ps, enum key_id id, const char *val)
{
	rp_config_listener l;
	const rp_config_listener *dup;
	char q[QUOTE_BUF];

	if (strcmp(val, "off") == 0) {
		ps->c->https_on = 0;
		return;
	}
	memset(&l, 0, sizeof(l));
	if (!parse_address(val, &l)) {
		quote(q, val, strlen(val));
		say(ps, ps->line,
		    "%s: '%s' is neither off nor an address and port (0.0.0.0:8443 or "
		    "[::1]:8443; host names are not resolved)",
		    keys[id].name, q);
		ps->bad[id] = 1;
		return;
	}
	l.tls = 1;
	l.line = ps->line;
	dup = find_listener(ps, &l);
	if (dup != NULL) {
		say(ps, ps->line, "%s: %s is already an MQTT listener (line %u)", keys[id].name,
		    l.text, dup->line);
		ps->bad[id] = 1;
		return;
	}
	ps->c->https = l;
	ps->c->https_on = 1;
}

/* ------------------------------------------------------------------------
 * Lines
 * ------------------------------------------------------------------------ */

static int find_key(const char *s, size_t n)
{
	int i;

	for (i = 0; i < KEY_COUNT_; i++) {
		if (strlen(keys[i].name) == n && memcmp(keys[i].name, s, n) == 0) {
			return i;
		}
	}
	return -1;
}

/* One line without its terminator: s[0 .. n), n <= RP_LIMIT_CONFIG_LINE_LEN. */
static void parse_line(struct ps *ps, const char *s, size_t n)
{
	char val[RP_LIMIT_CONFIG_LINE_LEN + 1u];
	char q[QUOTE_BUF];
	const char *why;
	enum key_id id;
	rp_text_line l;
	int found, r = rp_text_line_split(s, n, &l, &why);

	if (r < 0) {
		say(ps, ps->line, "%s", why);
		return;
	}
	if (r == 0) {
		return;
	}
	found = find_key(l.word, l.word_len);
	if (found < 0) {
		quote(q, l.word, l.word_len);
		say(ps, ps->line, "unknown key '%s'", q);
		return;
	}
	id = (enum key_id)found;
	if (l.rest_len == 0) {
		say(ps, ps->line, "%s: missing value", keys[id].name);
		ps->bad[id] = 1;
		return;
	}
	if (ps->set_at[id] != 0 && keys[id].kind != K_LISTENER_TLS &&
	    keys[id].kind != K_LISTENER_PLAIN) {
		say(ps, ps->line, "%s: set twice (first at line %u)", keys[id].name,
		    ps->set_at[id]);
		return;
	}
	ps->set_at[id] = ps->line;
	memcpy(val, l.rest, l.rest_len);
	val[l.rest_len] = '\0';

	switch (keys[id].kind) {
	case K_PATH:
		set_path(ps, id, val);
		break;
	case K_STORE:
		set_store(ps, id, val);
		break;
	case K_HTTPS:
		set_https(ps, id, val);
		break;
	case K_FLEET:
		set_fleet(ps, id, val);
		break;
	case K_KEYSTORE:
		set_keystore(ps, id, val);
		break;
	case K_LABEL:
		set_label(ps, id, val);
		break;
	case K_BOOL:
		set_bool(ps, id, val);
		break;
	case K_TLS_VERSION:
		set_tls_version(ps, id, val);
		break;
	case K_LISTENER_TLS:
	case K_LISTENER_PLAIN:
		add_listener(ps, id, val);
		break;
	default:
		set_number(ps, id, val);
		break;
	}
}

/* rp_text_lines' callback: one line, its length checked first. */
static void on_line(void *ctx, unsigned number, const char *s, size_t n)
{
	struct ps *ps = ctx;

	ps->line = number;
	if (n > RP_LIMIT_CONFIG_LINE_LEN) {
		say(ps, ps->line, "line is longer than %u bytes", RP_LIMIT_CONFIG_LINE_LEN);
		return;
	}
	parse_line(ps, s, n);
}

/* Line on which to report a problem between keys a and b: a's, else b's. */
static unsigned pair_line(const struct ps *ps, enum key_id a, enum key_id b)
{
	return ps->set_at[a] != 0 ? ps->set_at[a] : ps->set_at[b];
}

/* Checks between keys, once every line has been read. */
static void check_pairs(struct ps *ps)
{
	rp_config_limits *l = &ps->c->limit;
	char a[32], b[32];

	if (ps->bad[KEY_MAX_PACKET]) {
		return;
	}
	if (!ps->bad[KEY_MAX_PACKET_PREAUTH] && l->max_packet_preauth > l->max_packet) {
		if (ps->set_at[KEY_MAX_PACKET_PREAUTH] != 0) {
			say(ps, ps->set_at[KEY_MAX_PACKET_PREAUTH], "%s: %u is above %s (%u)",
			    keys[KEY_MAX_PACKET_PREAUTH].name, (unsigned)l->max_packet_preauth,
			    keys[KEY_MAX_PACKET].name, (unsigned)l->max_packet);
		} else {
			l->max_packet_preauth = l->max_packet;
		}
	}
	if (!ps->bad[KEY_MAX_QUEUED_BYTES] && l->max_queued_bytes < l->max_packet) {
		say(ps, pair_line(ps, KEY_MAX_QUEUED_BYTES, KEY_MAX_PACKET),
		    "%s: %u is below %s (%u); a queue must hold the largest packet",
		    keys[KEY_MAX_QUEUED_BYTES].name, (unsigned)l->max_queued_bytes,
		    keys[KEY_MAX_PACKET].name, (unsigned)l->max_packet);
	}
	if (!ps->bad[KEY_DEVICE_BYTE_BURST] && l->device_byte_burst < l->max_packet) {
		say(ps, pair_line(ps, KEY_DEVICE_BYTE_BURST, KEY_MAX_PACKET),
		    "%s: %u is below %s (%u); a packet that large could never pass",
		    keys[KEY_DEVICE_BYTE_BURST].name, (unsigned)l->device_byte_burst,
		    keys[KEY_MAX_PACKET].name, (unsigned)l->max_packet);
	}
	if (!ps->bad[KEY_HANDSHAKE_TIMEOUT] && !ps->bad[KEY_CONNECT_TIMEOUT] &&
	    l->connect_timeout_ms < l->handshake_timeout_ms) {
		fmt_duration(a, sizeof(a), l->connect_timeout_ms);
		fmt_duration(b, sizeof(b), l->handshake_timeout_ms);
		say(ps, pair_line(ps, KEY_CONNECT_TIMEOUT, KEY_HANDSHAKE_TIMEOUT),
		    "%s: %s is shorter than %s (%s); the handshake is part of the time to "
		    "CONNECT",
		    keys[KEY_CONNECT_TIMEOUT].name, a, keys[KEY_HANDSHAKE_TIMEOUT].name, b);
	}
}

/* Reports each key of ids[0 .. n) that is set (and was not refused): why. */
static void refuse_set(struct ps *ps, const enum key_id *ids, size_t n, const char *why)
{
	for (size_t i = 0; i < n; i++) {
		if (ps->set_at[ids[i]] != 0 && !ps->bad[ids[i]]) {
			say(ps, ps->set_at[ids[i]], "%s: %s", keys[ids[i]].name, why);
		}
	}
}

/* Reports each key of ids[0 .. n) that is not set, on the line of `on`. */
static void need_set(struct ps *ps, enum key_id on, const enum key_id *ids, size_t n,
		     const char *why)
{
	for (size_t i = 0; i < n; i++) {
		if (ps->set_at[ids[i]] == 0) {
			say(ps, ps->set_at[on], "%s: %s needs %s as well", keys[on].name, why,
			    keys[ids[i]].name);
		}
	}
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Enrollment: pki.issuing_cert turns it on, and then the root and the key
 * are needed: by default (pki.issuing_keystore file) the key file and its
 * passphrase file; with pki.issuing_keystore pkcs11 the module, the token,
 * the PIN file and the key's label, and then no key file (the two ways
 * exclude each other: a key file left in the configuration of a server
 * whose key is in a token would be a key on disk nobody meant to keep).
 * The other pki.* and est.* keys mean nothing without pki.issuing_cert (a
 * half-configured issuing CA is a mistake worth stopping for, not a
 * silent "enrollment off").
 */
static void check_pki(struct ps *ps)
{
	static const enum key_id file_keys[] = {KEY_PKI_ISSUING_KEY, KEY_PKI_ISSUING_KEY_PASS};
	static const enum key_id p11_keys[] = {KEY_PKI_PKCS11_MODULE, KEY_PKI_PKCS11_TOKEN,
					       KEY_PKI_PKCS11_PIN_FILE, KEY_PKI_ISSUING_KEY_LABEL};
	static const enum key_id root[] = {KEY_PKI_ROOT_CERT};
	static const enum key_id others[] = {KEY_PKI_ISSUING_KEY,       KEY_PKI_ISSUING_KEY_PASS,
					     KEY_PKI_ISSUING_KEYSTORE,  KEY_PKI_PKCS11_MODULE,
					     KEY_PKI_PKCS11_TOKEN,      KEY_PKI_PKCS11_PIN_FILE,
					     KEY_PKI_ISSUING_KEY_LABEL, KEY_PKI_ROOT_CERT,
					     KEY_EST_MANUFACTURER_CA,   KEY_PKI_CRL,
					     KEY_PKI_CRL_NEXT_UPDATE};
	int p11 = ps->c->pki_issuing_keystore == RP_CONFIG_KEYSTORE_PKCS11;

	if (ps->bad[KEY_PKI_ISSUING_CERT]) {
		return;
	}
	if (ps->set_at[KEY_PKI_ISSUING_CERT] == 0) {
		refuse_set(ps, others, COUNT(others),
			   "set without pki.issuing_cert (enrollment is off without the issuing "
			   "CA)");
		return;
	}
	if (ps->bad[KEY_PKI_ISSUING_KEYSTORE]) {
		return; /* which keys it needs is unknown: reported once already */
	}
	if (p11) {
		need_set(ps, KEY_PKI_ISSUING_CERT, p11_keys, COUNT(p11_keys),
			 "enrollment with pki.issuing_keystore pkcs11");
		refuse_set(ps, file_keys, COUNT(file_keys),
			   "not with pki.issuing_keystore pkcs11 (the key is in the token; "
			   "remove this line)");
	} else {
		need_set(ps, KEY_PKI_ISSUING_CERT, file_keys, COUNT(file_keys), "enrollment");
		refuse_set(ps, p11_keys, COUNT(p11_keys),
			   "only with pki.issuing_keystore pkcs11 (the issuing key is a file "
			   "here: pki.issuing_key)");
	}
	need_set(ps, KEY_PKI_ISSUING_CERT, root, COUNT(root), "enrollment");
}

/* The listeners: TLS ones (or the default), then plain ones. */
static void merge_listeners(struct ps *ps)
{
	rp_config *c = ps->c;
	unsigned i;

	if (ps->n_tls == 0 && !ps->bad[KEY_LISTENER_MQTTS]) {
		/* The default from rp_config_defaults() is listeners[0]. */
		c->listener_count = 1;
	} else {
		c->listener_count = 0;
		for (i = 0; i < ps->n_tls; i++) {
			c->listeners[c->listener_count++] = ps->tls_l[i];
		}
	}
	for (i = 0; i < ps->n_plain; i++) {
		c->listeners[c->listener_count++] = ps->plain_l[i];
	}
}

static rp_status parse(rp_config *c, const char *name, const char *buf, size_t len,
		       const char *base, rp_config_report_fn report, void *ctx)
{
	struct ps ps;

	if (c == NULL || (buf == NULL && len != 0)) {
		return RP_E_INVALID_ARG;
	}
	memset(&ps, 0, sizeof(ps));
	ps.c = c;
	ps.name = name != NULL ? name : "(config)";
	ps.report = report;
	ps.ctx = ctx;
	ps.base = base;
	ps.base_len = base != NULL ? strlen(base) : 0;
	rp_config_defaults(c);

	if (len > RP_LIMIT_CONFIG_FILE_SIZE) {
		say(&ps, 0, "file is larger than %u bytes", RP_LIMIT_CONFIG_FILE_SIZE);
		return RP_E_CONFIG;
	}
	rp_text_lines(buf, len, on_line, &ps);
	check_pairs(&ps);
	check_pki(&ps);
	merge_listeners(&ps);
	return ps.errors == 0 ? RP_OK : RP_E_CONFIG;
}

/* ------------------------------------------------------------------------
 * Public functions
 * ------------------------------------------------------------------------ */

void rp_config_defaults(rp_config *c)
{
	rp_config_limits *l;
	rp_config_listener *d;

	if (c == NULL) {
		return;
	}
	memset(c, 0, sizeof(*c));
	c->loops = 0;
	(void)snprintf(c->data_dir, sizeof(c->data_dir), "%s", "/var/lib/rampart");
	d = &c->listeners[0];
	d->tls = 1;
	d->family = RP_CONFIG_IPV4;
	d->port = 8883;
	(void)snprintf(d->text, sizeof(d->text), "%s", "0.0.0.0:8883");
	c->listener_count = 1;
	(void)snprintf(c->tls_cert, sizeof(c->tls_cert), "%s", "/etc/rampart/tls/server.crt");
	(void)snprintf(c->tls_key, sizeof(c->tls_key), "%s", "/etc/rampart/tls/server.key");
	(void)snprintf(c->tls_ca, sizeof(c->tls_ca), "%s", "/etc/rampart/tls/fleet-ca.crt");
	c->tls_min_version = RP_CONFIG_TLS_1_3;
	c->tls_session_tickets = 1;
	d = &c->https;
	d->tls = 1;
	d->family = RP_CONFIG_IPV4;
	d->port = 8443;
	(void)snprintf(d->text, sizeof(d->text), "%s", "0.0.0.0:8443");
	c->https_on = 1;
	c->api_threads = RP_DEFAULT_API_THREADS;
	c->api_session_lifetime_s = RP_DEFAULT_SESSION_LIFETIME_S;
	c->api_token_lifetime_max_s = RP_LIMIT_API_TOKEN_LIFETIME_S;
	(void)snprintf(c->pki_fleet, sizeof(c->pki_fleet), "%s", "rampart");
	c->pki_device_validity_s = RP_DEFAULT_PKI_DEVICE_VALIDITY_S;
	c->pki_crl_next_update_s = RP_DEFAULT_PKI_CRL_NEXT_UPDATE_S;

	l = &c->limit;
	l->max_packet = RP_DEFAULT_MQTT_PACKET;
	l->max_packet_preauth = RP_LIMIT_MQTT_PREAUTH_PACKET;
	l->max_topic_len = RP_DEFAULT_MQTT_TOPIC_LEN;
	l->max_topic_levels = RP_DEFAULT_MQTT_TOPIC_LEVELS;
	l->max_user_props = RP_DEFAULT_MQTT_USER_PROPS;
	l->max_sub_entries = RP_DEFAULT_MQTT_SUB_ENTRIES;
	l->max_subscriptions = RP_DEFAULT_BROKER_SUBSCRIPTIONS;
	l->max_inflight = RP_DEFAULT_BROKER_INFLIGHT;
	l->max_queued_messages = RP_DEFAULT_BROKER_QUEUED_MESSAGES;
	l->max_queued_bytes = RP_DEFAULT_BROKER_QUEUED_BYTES;
	l->max_connections = RP_DEFAULT_BROKER_CONNECTIONS;
	l->max_connections_per_address = RP_DEFAULT_BROKER_CONNECTIONS_PER_ADDRESS;
	l->connect_rate_per_address = RP_DEFAULT_BROKER_CONNECT_RATE;
	l->connect_burst_per_address = RP_DEFAULT_BROKER_CONNECT_BURST;
	l->device_msg_rate = RP_DEFAULT_BROKER_MSG_RATE;
	l->device_msg_burst = RP_DEFAULT_BROKER_MSG_BURST;
	l->device_byte_rate = RP_DEFAULT_BROKER_BYTE_RATE;
	l->device_byte_burst = RP_DEFAULT_BROKER_BYTE_BURST;
	l->max_handshakes = RP_DEFAULT_BROKER_HANDSHAKES;
	l->handshake_timeout_ms = RP_DEFAULT_BROKER_HANDSHAKE_TIMEOUT_MS;
	l->connect_timeout_ms = RP_DEFAULT_BROKER_CONNECT_TIMEOUT_MS;
	l->keepalive_max_s = RP_DEFAULT_BROKER_KEEPALIVE_S;
	l->session_expiry_max_s = RP_DEFAULT_BROKER_SESSION_EXPIRY_S;
	l->write_timeout_ms = RP_DEFAULT_BROKER_WRITE_TIMEOUT_MS;
	l->max_client_id_len = RP_LIMIT_MQTT_CLIENT_ID_LEN;
}

rp_status rp_config_parse(rp_config *c, const char *name, const char *buf, size_t len,
			  rp_config_report_fn report, void *ctx)
{
	return parse(c, name, buf, len, NULL, report, ctx);
}

static void report_plain(rp_config_report_fn report, void *ctx, const char *path, const char *msg)
{
	if (report != NULL) {
		report(ctx, path, 0, msg);
	}
}

/*
 * The absolute directory of `path` into dir[0 .. cap): the part before the
 * last '/', under the working directory when path is relative. Returns 0
 * if it does not fit or the working directory is unknown.
 */
static int dir_of(const char *path, char *dir, size_t cap)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash != NULL ? (size_t)(slash - path) : 0;
	size_t used = 0;

	if (path[0] != '/') {
		if (getcwd(dir, cap) == NULL) {
			return 0;
		}
		used = strlen(dir);
		if (slash == NULL) {
			return 1;
		}
		if (used + 1u >= cap) {
			return 0;
		}
		dir[used++] = '/';
	}
	if (used + n >= cap) {
		return 0;
	}
	memcpy(dir + used, path, n);
	dir[used + n] = '\0';
	return 1;
}

rp_status rp_config_load(rp_config *c, const char *path, rp_config_report_fn report, void *ctx)
{
	char dir[RP_LIMIT_CONFIG_PATH_LEN];
	char why[192];
	char *buf = NULL;
	size_t len = 0;
	rp_status st;

	if (c == NULL || path == NULL) {
		return RP_E_INVALID_ARG;
	}
	st = rp_file_read_bounded(path, RP_LIMIT_CONFIG_FILE_SIZE, &buf, &len, why, sizeof(why));
	if (st != RP_OK && report != NULL) {
		report(ctx, path, 0, why);
	}
	if (st != RP_OK) {
		rp_config_defaults(c);
		return st;
	}
	/*
	 * Relative paths in the file are relative to the file's directory, made
	 * absolute here so that they mean the same after rampartd changes its
	 * working directory. A file in "/" gives base "", so "x" becomes "/x".
	 */
	if (!dir_of(path, dir, sizeof(dir))) {
		report_plain(report, ctx, path, "cannot tell the directory of the file");
		st = RP_E_CONFIG;
		goto out;
	}
	st = parse(c, path, buf, len, dir, report, ctx);
out:
	rp_free(NULL, buf);
	return st;
}

void rp_config_mqtt_limits(const rp_config *c, rp_mqtt_limits *out)
{
	const rp_config_limits *l;

	if (c == NULL || out == NULL) {
		return;
	}
	l = &c->limit;
	out->max_packet = l->max_packet;
	out->max_topic_len = (uint16_t)l->max_topic_len;
	out->max_topic_levels = (uint16_t)l->max_topic_levels;
	out->max_user_props = (uint16_t)l->max_user_props;
	out->max_sub_entries = (uint16_t)l->max_sub_entries;
	out->max_sub_ids =
		(uint16_t)(l->max_subscriptions < RP_LIMIT_MQTT_SUB_IDS ? l->max_subscriptions
									: RP_LIMIT_MQTT_SUB_IDS);
	/* Values are in range already; this only guards a hand-edited struct. */
	(void)rp_mqtt_limits_clamp(out);
}

void rp_config_mqtt_limits_preauth(const rp_config *c, rp_mqtt_limits *out)
{
	if (c == NULL || out == NULL) {
		return;
	}
	rp_config_mqtt_limits(c, out);
	out->max_packet = c->limit.max_packet_preauth;
	(void)rp_mqtt_limits_clamp(out);
}
