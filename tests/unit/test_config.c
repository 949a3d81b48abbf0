/*
 * test_config.c - rampartd.conf: every key, every error with its exact
 * message (file and line included), the report of every error in a file,
 * hard caps, the loopback-only plain listener, numbers at their edges and
 * past uint64_t, loading from disk, and the example file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "rampart/limits.h"
#include "util/alloc.h"

#define NAME     "rampartd.conf"
#define CAP      "(include/rampart/limits.h)"
#define MAX_ERRS 64

/* Every report, formatted as a program would print it: "file:line: msg". */
struct errs {
	unsigned n;
	unsigned line[MAX_ERRS];
	char text[MAX_ERRS][1024];
	char msg[MAX_ERRS][512]; /* the message alone */
};

static void capture(void *ctx, const char *file, unsigned line, const char *msg)
{
	struct errs *e = ctx;

	assert_non_null(file);
	assert_non_null(msg);
	if (e->n < MAX_ERRS) {
		e->line[e->n] = line;
		(void)snprintf(e->msg[e->n], sizeof(e->msg[0]), "%s", msg);
		if (line != 0) {
			(void)snprintf(e->text[e->n], sizeof(e->text[0]), "%s:%u: %s", file, line,
				       msg);
		} else {
			(void)snprintf(e->text[e->n], sizeof(e->text[0]), "%s: %s", file, msg);
		}
	}
	e->n++;
}

/* The config is large: one per test, static. */
static rp_config cfg;

static rp_status parse_text(const char *text, struct errs *e)
{
	memset(e, 0, sizeof(*e));
	return rp_config_parse(&cfg, NAME, text, strlen(text), capture, e);
}

static void print_errs(const struct errs *e)
{
	unsigned i;

	for (i = 0; i < e->n && i < MAX_ERRS; i++) {
		print_message("  reported: %s\n", e->text[i]);
	}
}

/* The text must parse cleanly. */
static void expect_ok(const char *text)
{
	struct errs e;
	rp_status st = parse_text(text, &e);

	if (st != RP_OK || e.n != 0) {
		print_message("input: %s\n", text);
		print_errs(&e);
	}
	assert_int_equal(st, RP_OK);
	assert_int_equal(e.n, 0);
}

/* The text must give exactly one error, this one. */
static void expect_error(const char *text, const char *want)
{
	struct errs e;
	rp_status st = parse_text(text, &e);

	if (e.n != 1 || strcmp(e.text[0], want) != 0) {
		print_message("input: %s\nwant:     %s\n", text, want);
		print_errs(&e);
	}
	assert_int_equal(st, RP_E_CONFIG);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.text[0], want);
}

/* ------------------------------------------------------------------------ */

static void test_defaults(void **state)
{
	static rp_config d;
	const rp_config_limits *l = &d.limit;

	(void)state;
	rp_config_defaults(&d);
	assert_int_equal(d.loops, 0);
	assert_string_equal(d.data_dir, "/var/lib/rampart");
	assert_int_equal(d.listener_count, 1);
	assert_int_equal(d.listeners[0].tls, 1);
	assert_int_equal(d.listeners[0].family, RP_CONFIG_IPV4);
	assert_int_equal(d.listeners[0].port, 8883);
	assert_string_equal(d.listeners[0].text, "0.0.0.0:8883");
	assert_string_equal(d.tls_cert, "/etc/rampart/tls/server.crt");
	assert_string_equal(d.tls_key, "/etc/rampart/tls/server.key");
	assert_string_equal(d.tls_ca, "/etc/rampart/tls/fleet-ca.crt");
	assert_string_equal(d.tls_crl, "");
	assert_int_equal(d.tls_min_version, RP_CONFIG_TLS_1_3);
	assert_int_equal(d.tls_session_tickets, 1);
	assert_string_equal(d.policy, "");
	assert_int_equal(l->max_packet, RP_DEFAULT_MQTT_PACKET);
	assert_int_equal(l->max_packet_preauth, RP_LIMIT_MQTT_PREAUTH_PACKET);
	assert_int_equal(l->max_topic_len, RP_DEFAULT_MQTT_TOPIC_LEN);
	assert_int_equal(l->max_topic_levels, RP_DEFAULT_MQTT_TOPIC_LEVELS);
	assert_int_equal(l->max_user_props, RP_DEFAULT_MQTT_USER_PROPS);
	assert_int_equal(l->max_sub_entries, RP_DEFAULT_MQTT_SUB_ENTRIES);
	assert_int_equal(l->max_subscriptions, RP_DEFAULT_BROKER_SUBSCRIPTIONS);
	assert_int_equal(l->max_inflight, RP_DEFAULT_BROKER_INFLIGHT);
	assert_int_equal(l->max_queued_messages, RP_DEFAULT_BROKER_QUEUED_MESSAGES);
	assert_int_equal(l->max_queued_bytes, RP_DEFAULT_BROKER_QUEUED_BYTES);
	assert_int_equal(l->max_connections, RP_DEFAULT_BROKER_CONNECTIONS);
	assert_int_equal(l->max_connections_per_address, RP_DEFAULT_BROKER_CONNECTIONS_PER_ADDRESS);
	assert_int_equal(l->connect_rate_per_address, RP_DEFAULT_BROKER_CONNECT_RATE);
	assert_int_equal(l->connect_burst_per_address, RP_DEFAULT_BROKER_CONNECT_BURST);
	assert_int_equal(l->device_msg_rate, RP_DEFAULT_BROKER_MSG_RATE);
	assert_int_equal(l->device_msg_burst, RP_DEFAULT_BROKER_MSG_BURST);
	assert_int_equal(l->device_byte_rate, RP_DEFAULT_BROKER_BYTE_RATE);
	assert_int_equal(l->device_byte_burst, RP_DEFAULT_BROKER_BYTE_BURST);
	assert_int_equal(l->max_handshakes, RP_DEFAULT_BROKER_HANDSHAKES);
	assert_int_equal(l->handshake_timeout_ms, RP_DEFAULT_BROKER_HANDSHAKE_TIMEOUT_MS);
	assert_int_equal(l->connect_timeout_ms, RP_DEFAULT_BROKER_CONNECT_TIMEOUT_MS);
	assert_int_equal(l->keepalive_max_s, RP_DEFAULT_BROKER_KEEPALIVE_S);
	assert_int_equal(l->session_expiry_max_s, RP_DEFAULT_BROKER_SESSION_EXPIRY_S);
	assert_int_equal(l->write_timeout_ms, RP_DEFAULT_BROKER_WRITE_TIMEOUT_MS);
	assert_int_equal(l->max_client_id_len, RP_LIMIT_MQTT_CLIENT_ID_LEN);
	rp_config_defaults(NULL);
}

/* An empty file, or only comments, gives exactly the defaults. */
static void test_empty_is_defaults(void **state)
{
	static rp_config d;
	struct errs e;

	(void)state;
	rp_config_defaults(&d);
	memset(&cfg, 0x5a, sizeof(cfg));
	assert_int_equal(parse_text("", &e), RP_OK);
	assert_memory_equal(&cfg, &d, sizeof(d));
	assert_int_equal(parse_text("# only\n\n   # comments\n\t\n", &e), RP_OK);
	assert_memory_equal(&cfg, &d, sizeof(d));
	assert_int_equal(rp_config_parse(&cfg, NAME, NULL, 0, NULL, NULL), RP_OK);
	assert_memory_equal(&cfg, &d, sizeof(d));
}

/* The REST API's keys: listener.https (an address or off, never one of
 * the MQTT listeners), api.* within their ranges. */
static void test_api_keys(void **state)
{
	(void)state;
	expect_ok("");
	assert_int_equal(cfg.https_on, 1);
	assert_string_equal(cfg.https.text, "0.0.0.0:8443");
	assert_string_equal(cfg.api_secret_key, "");
	assert_int_equal(cfg.api_totp_required, 0);
	assert_int_equal(cfg.api_threads, RP_DEFAULT_API_THREADS);
	assert_int_equal(cfg.api_session_lifetime_s, RP_DEFAULT_SESSION_LIFETIME_S);
	expect_ok("listener.https off\n");
	assert_int_equal(cfg.https_on, 0);
	expect_ok("listener.https [::1]:9443\napi.totp_required on\napi.threads 2\n"
		  "api.session_lifetime 1h\napi.token_lifetime_max 30d\n"
		  "api.secret_key /etc/rampart/api.key\n");
	assert_int_equal(cfg.https_on, 1);
	assert_string_equal(cfg.https.text, "[::1]:9443");
	assert_int_equal(cfg.api_totp_required, 1);
	assert_int_equal(cfg.api_threads, 2);
	assert_int_equal(cfg.api_session_lifetime_s, 3600);
	assert_int_equal(cfg.api_token_lifetime_max_s, 30u * 86400u);
	assert_string_equal(cfg.api_secret_key, "/etc/rampart/api.key");
	expect_error("listener.https localhost:8443\n",
		     "rampartd.conf:1: listener.https: 'localhost:8443' is neither off nor an "
		     "address and port (0.0.0.0:8443 or [::1]:8443; host names are not resolved)");
	expect_error("listener.mqtts 127.0.0.1:8883\nlistener.https 127.0.0.1:8883\n",
		     "rampartd.conf:2: listener.https: 127.0.0.1:8883 is already an MQTT listener "
		     "(line 1)");
	expect_error("api.threads 0\n", "rampartd.conf:1: api.threads: 0 is below the minimum 1");
	expect_error("api.session_lifetime 2d\n",
		     "rampartd.conf:1: api.session_lifetime: 2d is above the hard cap 1d "
		     "(include/rampart/limits.h)");
}

/* Enrollment's keys: off by default; pki.issuing_cert turns it on and needs
 * the key, its passphrase file and the root; the fleet name and the device
 * validity within their rules. */
static void test_pki_keys(void **state)
{
	(void)state;
	expect_ok("");
	assert_string_equal(cfg.pki_issuing_cert, "");
	assert_string_equal(cfg.pki_issuing_key, "");
	assert_string_equal(cfg.pki_issuing_key_pass, "");
	assert_string_equal(cfg.pki_root_cert, "");
	assert_string_equal(cfg.est_manufacturer_ca, "");
	assert_string_equal(cfg.pki_fleet, "rampart");
	assert_int_equal(cfg.pki_device_validity_s, RP_DEFAULT_PKI_DEVICE_VALIDITY_S);
	expect_ok("pki.issuing_cert /v/pki/issuing-ca.crt\n"
		  "pki.issuing_key /v/pki/issuing-ca.key\n"
		  "pki.issuing_key_pass /run/credentials/rampartd.service/issuing-ca.pass\n"
		  "pki.root_cert /v/pki/device-trust.crt\n"
		  "pki.fleet acme-2\n"
		  "pki.device_validity 7d\n"
		  "est.manufacturer_ca /etc/rampart/manufacturers.pem\n");
	assert_string_equal(cfg.pki_issuing_cert, "/v/pki/issuing-ca.crt");
	assert_string_equal(cfg.pki_issuing_key, "/v/pki/issuing-ca.key");
	assert_string_equal(cfg.pki_issuing_key_pass,
			    "/run/credentials/rampartd.service/issuing-ca.pass");
	assert_string_equal(cfg.pki_root_cert, "/v/pki/device-trust.crt");
	assert_string_equal(cfg.pki_fleet, "acme-2");
	assert_int_equal(cfg.pki_device_validity_s, 7u * 86400u);
	assert_string_equal(cfg.est_manufacturer_ca, "/etc/rampart/manufacturers.pem");
	expect_ok("pki.fleet 0123456789abcdefghijklmnopqrstuv\npki.device_validity 1h\n");
	assert_string_equal(cfg.pki_fleet, "0123456789abcdefghijklmnopqrstuv");
	assert_int_equal(cfg.pki_device_validity_s, 3600);
	expect_ok("pki.device_validity 365d\n");

	/* Half a configuration is an error, named on the line that turned it on. */
	expect_error("\npki.issuing_cert /a.crt\npki.issuing_key /a.key\npki.root_cert /r.crt\n",
		     NAME ":2: pki.issuing_cert: enrollment needs pki.issuing_key_pass as well");
	expect_error("pki.issuing_key /a.key\n",
		     NAME ":1: pki.issuing_key: set without pki.issuing_cert (enrollment is off "
			  "without the issuing CA)");
	expect_error("est.manufacturer_ca /m.pem\n",
		     NAME ":1: est.manufacturer_ca: set without pki.issuing_cert (enrollment is "
			  "off without the issuing CA)");
	/* Fleet names: the rules of rp_pki_fleet_name_valid(). */
	expect_error("pki.fleet Acme\n", NAME ":1: pki.fleet: 'Acme' is not a fleet name (1 to "
					      "32 of a-z 0-9 -, starting with a letter or digit)");
	expect_error("pki.fleet -acme\n", NAME ":1: pki.fleet: '-acme' is not a fleet name (1 to "
					       "32 of a-z 0-9 -, starting with a letter or digit)");
	expect_error("pki.fleet a:b\n", NAME ":1: pki.fleet: 'a:b' is not a fleet name (1 to 32 "
					     "of a-z 0-9 -, starting with a letter or digit)");
	expect_error("pki.fleet 0123456789abcdefghijklmnopqrstuvw\n",
		     NAME ":1: pki.fleet: '0123456789abcdefghijklmnopqrstuvw' is not a fleet name "
			  "(1 to 32 of a-z 0-9 -, starting with a letter or digit)");
	/* Device validity: 1 hour to 365 days, whole seconds. */
	expect_error("pki.device_validity 59m\n",
		     NAME ":1: pki.device_validity: 59m is below the minimum 1h");
	expect_error("pki.device_validity 366d\n", NAME ":1: pki.device_validity: 366d is above "
							"the hard cap 365d " CAP);
	expect_error("pki.device_validity 30\n",
		     NAME ":1: pki.device_validity: '30' is not a duration (a number and a unit: "
			  "ms, s, m, h or d, e.g. 10s)");
	expect_error("pki.fleet a\npki.fleet b\n",
		     NAME ":2: pki.fleet: set twice (first at line 1)");
}

/* The issuing key in a PKCS#11 token (pki.issuing_keystore pkcs11): the
 * module, the token, the PIN file and the key's label, all four needed;
 * exclusive with the key file and its passphrase file; the labels within
 * PKCS#11's sizes; none of it without the issuing CA. */
static void test_pki_pkcs11_keys(void **state)
{
	static const char cert[] = "pki.issuing_cert /v/pki/issuing-ca.crt\n"
				   "pki.root_cert /v/pki/device-trust.crt\n";
	static const char p11[] = "pki.issuing_keystore pkcs11\n"
				  "pki.pkcs11_module /usr/lib/softhsm/libsofthsm2.so\n"
				  "pki.pkcs11_token rampart ca\n"
				  "pki.pkcs11_pin_file /etc/rampart/token.pin\n"
				  "pki.issuing_key_label acme-issuing-ca\n";
	static const char p11_no_token[] = "pki.issuing_keystore pkcs11\n"
					   "pki.pkcs11_module /m.so\n"
					   "pki.pkcs11_pin_file /pin\n"
					   "pki.issuing_key_label k\n";
	static const char p11_no_label[] = "pki.issuing_keystore pkcs11\n"
					   "pki.pkcs11_module /m.so\n"
					   "pki.pkcs11_token t\n"
					   "pki.pkcs11_pin_file /pin\n";
	char text[2048];

	(void)state;
	expect_ok("");
	assert_int_equal(cfg.pki_issuing_keystore, RP_CONFIG_KEYSTORE_FILE);
	assert_string_equal(cfg.pki_pkcs11_module, "");
	assert_string_equal(cfg.pki_pkcs11_token, "");
	assert_string_equal(cfg.pki_pkcs11_pin_file, "");
	assert_string_equal(cfg.pki_issuing_key_label, "");
	snprintf(text, sizeof(text), "%s%s", cert, p11);
	expect_ok(text);
	assert_int_equal(cfg.pki_issuing_keystore, RP_CONFIG_KEYSTORE_PKCS11);
	assert_string_equal(cfg.pki_pkcs11_module, "/usr/lib/softhsm/libsofthsm2.so");
	assert_string_equal(cfg.pki_pkcs11_token, "rampart ca"); /* blanks inside a label */
	assert_string_equal(cfg.pki_pkcs11_pin_file, "/etc/rampart/token.pin");
	assert_string_equal(cfg.pki_issuing_key_label, "acme-issuing-ca");
	assert_string_equal(cfg.pki_issuing_key, "");
	assert_string_equal(cfg.pki_issuing_key_pass, "");
	/* The default keystore, said explicitly. */
	expect_ok("pki.issuing_keystore file\npki.issuing_cert /c\npki.issuing_key /k\n"
		  "pki.issuing_key_pass /p\npki.root_cert /r\n");
	assert_int_equal(cfg.pki_issuing_keystore, RP_CONFIG_KEYSTORE_FILE);
	/* Labels at their longest: 32 bytes (token), 64 bytes (key). */
	snprintf(
		text, sizeof(text),
		"%s%spki.pkcs11_token 0123456789abcdef0123456789abcdef\n"
		"pki.issuing_key_label "
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
		cert,
		"pki.issuing_keystore pkcs11\npki.pkcs11_module /m.so\npki.pkcs11_pin_file /pin\n");
	expect_ok(text);
	assert_int_equal(strlen(cfg.pki_pkcs11_token), 32);
	assert_int_equal(strlen(cfg.pki_issuing_key_label), 64);

	/* One of the four missing: named on the line of pki.issuing_cert. */
	snprintf(text, sizeof(text), "%s%s", cert, p11_no_label);
	expect_error(text, NAME ":1: pki.issuing_cert: enrollment with pki.issuing_keystore "
				"pkcs11 needs pki.issuing_key_label as well");
	snprintf(text, sizeof(text), "%s%s", cert, p11_no_token);
	expect_error(text, NAME ":1: pki.issuing_cert: enrollment with pki.issuing_keystore "
				"pkcs11 needs pki.pkcs11_token as well");
	/* A key file beside the token: the two exclude each other. */
	snprintf(text, sizeof(text), "%s%spki.issuing_key /v/pki/issuing-ca.key\n", cert, p11);
	expect_error(text, NAME ":8: pki.issuing_key: not with pki.issuing_keystore pkcs11 (the "
				"key is in the token; remove this line)");
	snprintf(text, sizeof(text), "%s%spki.issuing_key_pass /v/secrets/issuing-ca.pass\n", cert,
		 p11);
	expect_error(text, NAME ":8: pki.issuing_key_pass: not with pki.issuing_keystore pkcs11 "
				"(the key is in the token; remove this line)");
	/* Token keys with the file keystore (the default). */
	expect_error("pki.issuing_cert /c\npki.issuing_key /k\npki.issuing_key_pass /p\n"
		     "pki.root_cert /r\npki.pkcs11_token t\n",
		     NAME
		     ":5: pki.pkcs11_token: only with pki.issuing_keystore pkcs11 (the issuing "
		     "key is a file here: pki.issuing_key)");
	/* The file keystore still needs its files (the message as before). */
	expect_error("pki.issuing_cert /c\npki.issuing_keystore file\npki.issuing_key_pass /p\n"
		     "pki.root_cert /r\n",
		     NAME ":1: pki.issuing_cert: enrollment needs pki.issuing_key as well");
	/* None of it without the issuing CA. */
	expect_error("pki.issuing_keystore pkcs11\n",
		     NAME ":1: pki.issuing_keystore: set without pki.issuing_cert (enrollment is "
			  "off without the issuing CA)");
	expect_error("pki.pkcs11_module /m.so\n",
		     NAME ":1: pki.pkcs11_module: set without pki.issuing_cert (enrollment is off "
			  "without the issuing CA)");
	expect_error("pki.issuing_key_label k\n",
		     NAME ":1: pki.issuing_key_label: set without pki.issuing_cert (enrollment is "
			  "off without the issuing CA)");
	/* Values. A bad keystore is reported once, without derived errors. */
	snprintf(text, sizeof(text), "%spki.issuing_keystore hsm\n", cert);
	expect_error(text, NAME ":3: pki.issuing_keystore: 'hsm' is not file or pkcs11");
	snprintf(text, sizeof(text), "%s%spki.pkcs11_token 0123456789abcdef0123456789abcdefX\n",
		 cert, p11_no_token);
	expect_error(text, NAME ":7: pki.pkcs11_token: '0123456789abcdef0123456789abcdefX' is "
				"longer than 32 bytes");
	snprintf(text, sizeof(text), "%s%spki.issuing_key_label a\tb\n", cert, p11_no_label);
	expect_error(text, NAME ":7: pki.issuing_key_label: 'a\\x09b' holds a control character");
	snprintf(text, sizeof(text),
		 "%s%spki.issuing_key_label "
		 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdefX\n",
		 cert, p11_no_label);
	expect_error(text,
		     NAME ":7: pki.issuing_key_label: "
			  "'0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef...' "
			  "is longer than 64 bytes"); /* quoted values are cut at 64 bytes */
	snprintf(text, sizeof(text), "%s%spki.pkcs11_token other\n", cert, p11);
	expect_error(text, NAME ":8: pki.pkcs11_token: set twice (first at line 5)");
}

/* The issuing CA's CRL (pki.crl, pki.crl_next_update): meaningful only with
 * the issuing CA; the CRL's lifetime within the PKI engine's bounds. */
static void test_pki_crl_keys(void **state)
{
	static const char ca[] = "pki.issuing_cert /v/pki/issuing-ca.crt\n"
				 "pki.issuing_key /v/pki/issuing-ca.key\n"
				 "pki.issuing_key_pass /v/secrets/issuing-ca.pass\n"
				 "pki.root_cert /v/pki/device-trust.crt\n";
	char text[1024];

	(void)state;
	expect_ok("");
	assert_string_equal(cfg.pki_crl, "");
	assert_int_equal(cfg.pki_crl_next_update_s, RP_DEFAULT_PKI_CRL_NEXT_UPDATE_S);
	snprintf(text, sizeof(text), "%spki.crl /srv/www/crl/fleet.crl\npki.crl_next_update 3d\n",
		 ca);
	expect_ok(text);
	assert_string_equal(cfg.pki_crl, "/srv/www/crl/fleet.crl");
	assert_int_equal(cfg.pki_crl_next_update_s, 3u * 86400u);
	snprintf(text, sizeof(text), "%spki.crl_next_update 1h\n", ca);
	expect_ok(text);
	assert_int_equal(cfg.pki_crl_next_update_s, 3600);
	snprintf(text, sizeof(text), "%spki.crl_next_update 31d\n", ca);
	expect_ok(text);
	assert_int_equal(cfg.pki_crl_next_update_s, RP_LIMIT_PKI_CRL_NEXT_UPDATE_S);

	/* Bounds: the PKI engine's (rp_pki_crl_new). */
	snprintf(text, sizeof(text), "%spki.crl_next_update 59m\n", ca);
	expect_error(text, NAME ":5: pki.crl_next_update: 59m is below the minimum 1h");
	snprintf(text, sizeof(text), "%spki.crl_next_update 32d\n", ca);
	expect_error(text, NAME ":5: pki.crl_next_update: 32d is above the hard cap 31d " CAP);
	snprintf(text, sizeof(text), "%spki.crl_next_update 3\n", ca);
	expect_error(text, NAME ":5: pki.crl_next_update: '3' is not a duration (a number and a "
				"unit: ms, s, m, h or d, e.g. 10s)");
	snprintf(text, sizeof(text), "%spki.crl /a.crl\npki.crl /b.crl\n", ca);
	expect_error(text, NAME ":6: pki.crl: set twice (first at line 5)");
	/* Without the issuing CA there is no CRL to make. */
	expect_error("pki.crl /a.crl\n", NAME ":1: pki.crl: set without pki.issuing_cert "
					      "(enrollment is off without the issuing CA)");
	expect_error("pki.crl_next_update 2d\n",
		     NAME ":1: pki.crl_next_update: set without pki.issuing_cert (enrollment is "
			  "off without the issuing CA)");
}

static void test_every_key(void **state)
{
	static const char text[] = "loops 4\n"
				   "data_dir /srv/rampart\n"
				   "listener.mqtts 192.0.2.10:8884\n"
				   "listener.mqtts [::]:8883\n"
				   "listener.mqtt 127.0.0.1:1883\n"
				   "listener.mqtt [::1]:1884\n"
				   "tls.cert /etc/r/server.crt\n"
				   "tls.key /etc/r/server.key\n"
				   "tls.ca /etc/r/fleet.pem\n"
				   "tls.crl /etc/r/fleet.crl\n"
				   "tls.min_version 1.2\n"
				   "tls.session_tickets off\n"
				   "policy /etc/r/policy\n"
				   "limit.max_packet 128k\n"
				   "limit.max_packet_preauth 4k\n"
				   "limit.max_topic_len 200\n"
				   "limit.max_topic_levels 8\n"
				   "limit.max_user_props 4\n"
				   "limit.max_sub_entries 8\n"
				   "limit.max_subscriptions 32\n"
				   "limit.max_inflight 16\n"
				   "limit.max_queued_messages 500\n"
				   "limit.max_queued_bytes 512k\n"
				   "limit.max_connections 5000\n"
				   "limit.max_connections_per_address 20\n"
				   "limit.connect_rate_per_address 5/s\n"
				   "limit.connect_burst_per_address 10\n"
				   "limit.device_msg_rate 50/s\n"
				   "limit.device_msg_burst 100\n"
				   "limit.device_byte_rate 64k/s\n"
				   "limit.device_byte_burst 1m\n"
				   "limit.max_handshakes 256\n"
				   "limit.handshake_timeout 5s\n"
				   "limit.connect_timeout 15000ms\n"
				   "limit.keepalive_max 10m\n"
				   "limit.session_expiry_max 2d\n"
				   "limit.write_timeout 1m\n"
				   "limit.max_client_id_len 64\n";
	const rp_config_limits *l = &cfg.limit;

	(void)state;
	expect_ok(text);
	assert_int_equal(cfg.loops, 4);
	assert_string_equal(cfg.data_dir, "/srv/rampart");
	assert_int_equal(cfg.listener_count, 4);
	assert_string_equal(cfg.listeners[0].text, "192.0.2.10:8884");
	assert_int_equal(cfg.listeners[0].tls, 1);
	assert_int_equal(cfg.listeners[0].family, RP_CONFIG_IPV4);
	assert_int_equal(cfg.listeners[0].port, 8884);
	assert_memory_equal(cfg.listeners[0].addr, "\xc0\x00\x02\x0a", 4);
	assert_int_equal(cfg.listeners[0].line, 3);
	assert_string_equal(cfg.listeners[1].text, "[::]:8883");
	assert_int_equal(cfg.listeners[1].family, RP_CONFIG_IPV6);
	assert_int_equal(cfg.listeners[1].tls, 1);
	assert_string_equal(cfg.listeners[2].text, "127.0.0.1:1883");
	assert_int_equal(cfg.listeners[2].tls, 0);
	assert_string_equal(cfg.listeners[3].text, "[::1]:1884");
	assert_int_equal(cfg.listeners[3].tls, 0);
	assert_int_equal(cfg.listeners[3].addr[15], 1);
	assert_string_equal(cfg.tls_cert, "/etc/r/server.crt");
	assert_string_equal(cfg.tls_key, "/etc/r/server.key");
	assert_string_equal(cfg.tls_ca, "/etc/r/fleet.pem");
	assert_string_equal(cfg.tls_crl, "/etc/r/fleet.crl");
	assert_int_equal(cfg.tls_min_version, RP_CONFIG_TLS_1_2);
	assert_int_equal(cfg.tls_session_tickets, 0);
	assert_string_equal(cfg.policy, "/etc/r/policy");
	assert_int_equal(l->max_packet, 128 * 1024);
	assert_int_equal(l->max_packet_preauth, 4096);
	assert_int_equal(l->max_topic_len, 200);
	assert_int_equal(l->max_topic_levels, 8);
	assert_int_equal(l->max_user_props, 4);
	assert_int_equal(l->max_sub_entries, 8);
	assert_int_equal(l->max_subscriptions, 32);
	assert_int_equal(l->max_inflight, 16);
	assert_int_equal(l->max_queued_messages, 500);
	assert_int_equal(l->max_queued_bytes, 512 * 1024);
	assert_int_equal(l->max_connections, 5000);
	assert_int_equal(l->max_connections_per_address, 20);
	assert_int_equal(l->connect_rate_per_address, 5);
	assert_int_equal(l->connect_burst_per_address, 10);
	assert_int_equal(l->device_msg_rate, 50);
	assert_int_equal(l->device_msg_burst, 100);
	assert_int_equal(l->device_byte_rate, 64 * 1024);
	assert_int_equal(l->device_byte_burst, 1024 * 1024);
	assert_int_equal(l->max_handshakes, 256);
	assert_int_equal(l->handshake_timeout_ms, 5000);
	assert_int_equal(l->connect_timeout_ms, 15000);
	assert_int_equal(l->keepalive_max_s, 600);
	assert_int_equal(l->session_expiry_max_s, 2 * 86400);
	assert_int_equal(l->write_timeout_ms, 60000);
	assert_int_equal(l->max_client_id_len, 64);

	expect_ok("tls.min_version 1.3\ntls.session_tickets on\nloops 0\n");
	assert_int_equal(cfg.tls_min_version, RP_CONFIG_TLS_1_3);
	assert_int_equal(cfg.tls_session_tickets, 1);
}

/* Blanks, tabs, CRLF, a byte order mark, no final newline. */
static void test_layout(void **state)
{
	(void)state;
	expect_ok(
		"\xEF\xBB\xBFloops 2\r\n  \tdata_dir \t /a b/c  \t\r\n# c\r\nlimit.max_inflight 3");
	assert_int_equal(cfg.loops, 2);
	assert_string_equal(cfg.data_dir, "/a b/c");
	assert_int_equal(cfg.limit.max_inflight, 3);
	/* The value is the rest of the line: no end-of-line comments. */
	expect_error("loops 4 # four\n",
		     NAME ":1: loops: '4 # four' is not a number (unsigned decimal, e.g. 100)");
	expect_ok("data_dir /x#y\n");
	assert_string_equal(cfg.data_dir, "/x#y");
	/* A BOM is only skipped at the very start. */
	expect_error("loops 1\n\xEF\xBB\xBFloops 2\n",
		     NAME ":2: unknown key '\\xef\\xbb\\xbfloops'");
}

static void test_unknown_duplicate_missing(void **state)
{
	(void)state;
	expect_error("\n\nloop 4\n", NAME ":3: unknown key 'loop'");
	expect_error("Loops 4\n", NAME ":1: unknown key 'Loops'");
	expect_error("limit.max_packet\n", NAME ":1: limit.max_packet: missing value");
	expect_error("tls.cert   \t \n", NAME ":1: tls.cert: missing value");
	expect_error("loops 1\nloops 1\n", NAME ":2: loops: set twice (first at line 1)");
	expect_error("tls.ca /a\n#\ntls.ca /a\n", NAME ":3: tls.ca: set twice (first at line 1)");
	/* A refused first line still counts as set. */
	{
		struct errs e;

		assert_int_equal(parse_text("loops x\nloops 2\n", &e), RP_E_CONFIG);
		assert_int_equal(e.n, 2);
		assert_string_equal(e.text[1], NAME ":2: loops: set twice (first at line 1)");
	}
}

static void test_malformed_values(void **state)
{
	(void)state;
	expect_error("loops -1\n",
		     NAME ":1: loops: '-1' is not a number (unsigned decimal, e.g. 100)");
	expect_error("loops +1\n",
		     NAME ":1: loops: '+1' is not a number (unsigned decimal, e.g. 100)");
	expect_error("loops 0x10\n",
		     NAME ":1: loops: '0x10' is not a number (unsigned decimal, e.g. 100)");
	expect_error("loops 4k\n",
		     NAME ":1: loops: '4k' is not a number (unsigned decimal, e.g. 100)");
	expect_error("loops 1 2\n",
		     NAME ":1: loops: '1 2' is not a number (unsigned decimal, e.g. 100)");
	expect_error("limit.max_packet 1kb\n",
		     NAME ":1: limit.max_packet: '1kb' is not a size (bytes, or a number with k, m "
			  "or g, e.g. 256k)");
	expect_error("limit.max_packet k\n",
		     NAME ":1: limit.max_packet: 'k' is not a size (bytes, or a number with k, m "
			  "or g, e.g. 256k)");
	expect_error("limit.max_packet 1.5k\n",
		     NAME ":1: limit.max_packet: '1.5k' is not a size (bytes, or a number with k, "
			  "m or g, e.g. 256k)");
	expect_error("limit.handshake_timeout 10\n",
		     NAME ":1: limit.handshake_timeout: '10' is not a duration (a number and a "
			  "unit: ms, s, m, h or d, e.g. 10s)");
	expect_error("limit.handshake_timeout 10sec\n",
		     NAME ":1: limit.handshake_timeout: '10sec' is not a duration (a number and a "
			  "unit: ms, s, m, h or d, e.g. 10s)");
	expect_error("limit.handshake_timeout 1.5s\n",
		     NAME ":1: limit.handshake_timeout: '1.5s' is not a duration (a number and a "
			  "unit: ms, s, m, h or d, e.g. 10s)");
	expect_error("limit.handshake_timeout 10 s\n",
		     NAME ":1: limit.handshake_timeout: '10 s' is not a duration (a number and a "
			  "unit: ms, s, m, h or d, e.g. 10s)");
	expect_error("limit.handshake_timeout s\n",
		     NAME ":1: limit.handshake_timeout: 's' is not a duration (a number and a "
			  "unit: ms, s, m, h or d, e.g. 10s)");
	expect_error("limit.device_msg_rate 10\n",
		     NAME ":1: limit.device_msg_rate: '10' is not a rate (a number per second, "
			  "e.g. 100/s)");
	expect_error("limit.device_msg_rate 10/m\n",
		     NAME ":1: limit.device_msg_rate: '10/m' is not a rate (a number per second, "
			  "e.g. 100/s)");
	expect_error("limit.device_msg_rate 1k/s\n",
		     NAME ":1: limit.device_msg_rate: '1k/s' is not a rate (a number per second, "
			  "e.g. 100/s)");
	expect_error("limit.connect_rate_per_address /s\n",
		     NAME ":1: limit.connect_rate_per_address: '/s' is not a rate (a number per "
			  "second, e.g. 100/s)");
	expect_error("limit.device_byte_rate 1m\n",
		     NAME ":1: limit.device_byte_rate: '1m' is not a byte rate (a size per second, "
			  "e.g. 1m/s)");
	expect_error("limit.device_byte_rate 1m/s/s\n",
		     NAME ":1: limit.device_byte_rate: '1m/s/s' is not a byte rate (a size per "
			  "second, e.g. 1m/s)");
	expect_error("tls.session_tickets yes\n",
		     NAME ":1: tls.session_tickets: 'yes' is not on or off");
	expect_error("tls.session_tickets ON\n",
		     NAME ":1: tls.session_tickets: 'ON' is not on or off");
	expect_error("tls.min_version 1.1\n",
		     NAME ":1: tls.min_version: '1.1' is not a TLS version Rampart allows (1.3 or "
			  "1.2)");
	expect_error("tls.min_version 1.3.0\n",
		     NAME ":1: tls.min_version: '1.3.0' is not a TLS version Rampart allows (1.3 "
			  "or 1.2)");
}

/* Units of sizes, durations and rates. */
static void test_units(void **state)
{
	(void)state;
	expect_ok("limit.max_packet 1m\nlimit.max_packet_preauth 8k\nlimit.max_queued_bytes 2M\n"
		  "limit.device_byte_burst 256M\nlimit.device_byte_rate 1g/s\n");
	assert_int_equal(cfg.limit.max_packet, 1048576);
	assert_int_equal(cfg.limit.max_packet_preauth, 8192);
	assert_int_equal(cfg.limit.max_queued_bytes, 2 * 1048576);
	assert_int_equal(cfg.limit.device_byte_burst, 268435456u);
	assert_int_equal(cfg.limit.device_byte_rate, 1073741824u);
	expect_ok("limit.device_byte_rate 1G/s\nlimit.max_queued_bytes 1K\nlimit.max_packet 1k\n");
	assert_int_equal(cfg.limit.max_queued_bytes, 1024);
	expect_error("limit.max_packet 1m\nlimit.max_queued_bytes 1g\n",
		     NAME ":2: limit.max_queued_bytes: 1g is above the hard cap 67108864 " CAP);

	expect_ok("limit.handshake_timeout 500ms\nlimit.connect_timeout 1m\n"
		  "limit.write_timeout 10m\nlimit.session_expiry_max 30d\n"
		  "limit.keepalive_max 65535s\n");
	assert_int_equal(cfg.limit.handshake_timeout_ms, 500);
	assert_int_equal(cfg.limit.connect_timeout_ms, 60000);
	assert_int_equal(cfg.limit.write_timeout_ms, 600000);
	assert_int_equal(cfg.limit.session_expiry_max_s, 30u * 86400u);
	assert_int_equal(cfg.limit.keepalive_max_s, 65535);
	expect_ok("limit.session_expiry_max 0s\nlimit.keepalive_max 2000ms\n");
	assert_int_equal(cfg.limit.session_expiry_max_s, 0);
	assert_int_equal(cfg.limit.keepalive_max_s, 2);
	expect_error("limit.keepalive_max 1500ms\n",
		     NAME ":1: limit.keepalive_max: 1500ms is not a whole number of seconds");
	expect_error("limit.session_expiry_max 1ms\n",
		     NAME ":1: limit.session_expiry_max: 1ms is not a whole number of seconds");
	expect_error("limit.keepalive_max 0s\n",
		     NAME ":1: limit.keepalive_max: 0s is below the minimum 1s");
	expect_error("limit.write_timeout 2h\n",
		     NAME ":1: limit.write_timeout: 2h is above the hard cap 10m " CAP);
	expect_error("limit.handshake_timeout 99ms\n",
		     NAME ":1: limit.handshake_timeout: 99ms is below the minimum 100ms");
	expect_error("limit.connect_rate_per_address 0/s\n",
		     NAME ":1: limit.connect_rate_per_address: 0/s is below the minimum 1/s");
	expect_error(
		"limit.connect_rate_per_address 1001/s\n", NAME
		":1: limit.connect_rate_per_address: 1001/s is above the hard cap 1000/s " CAP);
	/* Leading zeros are decimal, not octal. */
	expect_ok("loops 010\n");
	assert_int_equal(cfg.loops, 10);
}

/* Numbers past uint32_t and uint64_t never wrap into range. */
static void test_overflow(void **state)
{
	(void)state;
	expect_error("loops 4294967297\n",
		     NAME ":1: loops: 4294967297 is above the hard cap 64 " CAP);
	expect_error("loops 18446744073709551615\n",
		     NAME ":1: loops: 18446744073709551615 is above the hard cap 64 " CAP);
	expect_error("loops 18446744073709551616\n",
		     NAME ":1: loops: 18446744073709551616 is above the hard cap 64 " CAP);
	expect_error("loops 99999999999999999999999999999999\n", NAME
		     ":1: loops: 99999999999999999999999999999999 is above the hard cap 64 " CAP);
	/* 2^54 * 1024 = 2^64 wraps to 0 in unsaturated arithmetic. */
	expect_error("limit.max_packet 18014398509481984k\n", NAME
		     ":1: limit.max_packet: 18014398509481984k is above the hard cap 1048576 " CAP);
	expect_error("limit.max_packet 17179869184g\n",
		     NAME ":1: limit.max_packet: 17179869184g is above the hard cap 1048576 " CAP);
	/* 2^32 + 256k would be 256k in a uint32_t. */
	expect_error("limit.max_packet 4295229440\n",
		     NAME ":1: limit.max_packet: 4295229440 is above the hard cap 1048576 " CAP);
	expect_error("limit.handshake_timeout 213503982335d\n", NAME
		     ":1: limit.handshake_timeout: 213503982335d is above the hard cap 1m " CAP);
	expect_error("limit.handshake_timeout 18446744073709551615ms\n",
		     NAME ":1: limit.handshake_timeout: 18446744073709551615ms is above the hard "
			  "cap 1m " CAP);
	expect_error("limit.device_msg_rate 18446744073709551617/s\n",
		     NAME ":1: limit.device_msg_rate: 18446744073709551617/s is above the hard cap "
			  "100000/s " CAP);
	expect_error("limit.device_byte_rate 18014398509481984k/s\n",
		     NAME ":1: limit.device_byte_rate: 18014398509481984k/s is above the hard cap "
			  "1073741824/s " CAP);
}

struct cap_case {
	const char *key;
	const char *at_cap;  /* accepted */
	const char *over;    /* refused */
	const char *message; /* the refusal, after "rampartd.conf:1: " */
};

/* Each limit may be set to its hard cap and never one above it. */
static void test_hard_caps(void **state)
{
	static const struct cap_case cases[] = {
		{"loops", "64", "65", "loops: 65 is above the hard cap 64 " CAP},
		{"limit.max_packet", "1048576", "1048577",
		 "limit.max_packet: 1048577 is above the hard cap 1048576 " CAP},
		{"limit.max_packet", "1m", "2000000",
		 "limit.max_packet: 2000000 is above the hard cap 1048576 " CAP},
		{"limit.max_packet_preauth", "8k", "8193",
		 "limit.max_packet_preauth: 8193 is above the hard cap 8192 " CAP},
		{"limit.max_topic_len", "1024", "1025",
		 "limit.max_topic_len: 1025 is above the hard cap 1024 " CAP},
		{"limit.max_topic_levels", "32", "33",
		 "limit.max_topic_levels: 33 is above the hard cap 32 " CAP},
		{"limit.max_user_props", "64", "65",
		 "limit.max_user_props: 65 is above the hard cap 64 " CAP},
		{"limit.max_sub_entries", "64", "65",
		 "limit.max_sub_entries: 65 is above the hard cap 64 " CAP},
		{"limit.max_subscriptions", "1024", "1025",
		 "limit.max_subscriptions: 1025 is above the hard cap 1024 " CAP},
		{"limit.max_inflight", "1024", "1025",
		 "limit.max_inflight: 1025 is above the hard cap 1024 " CAP},
		{"limit.max_queued_messages", "100000", "100001",
		 "limit.max_queued_messages: 100001 is above the hard cap 100000 " CAP},
		{"limit.max_queued_bytes", "64m", "67108865",
		 "limit.max_queued_bytes: 67108865 is above the hard cap 67108864 " CAP},
		{"limit.max_connections", "1000000", "1000001",
		 "limit.max_connections: 1000001 is above the hard cap 1000000 " CAP},
		{"limit.max_connections_per_address", "65536", "65537",
		 "limit.max_connections_per_address: 65537 is above the hard cap 65536 " CAP},
		{"limit.connect_rate_per_address", "1000/s", "1001/s",
		 "limit.connect_rate_per_address: 1001/s is above the hard cap 1000/s " CAP},
		{"limit.connect_burst_per_address", "10000", "10001",
		 "limit.connect_burst_per_address: 10001 is above the hard cap 10000 " CAP},
		{"limit.device_msg_rate", "100000/s", "100001/s",
		 "limit.device_msg_rate: 100001/s is above the hard cap 100000/s " CAP},
		{"limit.device_msg_burst", "1000000", "1000001",
		 "limit.device_msg_burst: 1000001 is above the hard cap 1000000 " CAP},
		{"limit.device_byte_rate", "1g/s", "1073741825/s",
		 "limit.device_byte_rate: 1073741825/s is above the hard cap 1073741824/s " CAP},
		{"limit.device_byte_burst", "256m", "257m",
		 "limit.device_byte_burst: 257m is above the hard cap 268435456 " CAP},
		{"limit.max_handshakes", "65536", "65537",
		 "limit.max_handshakes: 65537 is above the hard cap 65536 " CAP},
		{"limit.handshake_timeout", "60s", "60001ms",
		 "limit.handshake_timeout: 60001ms is above the hard cap 1m " CAP},
		{"limit.connect_timeout", "2m", "121s",
		 "limit.connect_timeout: 121s is above the hard cap 2m " CAP},
		{"limit.keepalive_max", "65535s", "65536s",
		 "limit.keepalive_max: 65536s is above the hard cap 65535s " CAP},
		{"limit.session_expiry_max", "30d", "721h",
		 "limit.session_expiry_max: 721h is above the hard cap 30d " CAP},
		{"limit.write_timeout", "600s", "601s",
		 "limit.write_timeout: 601s is above the hard cap 10m " CAP},
		{"limit.max_client_id_len", "128", "129",
		 "limit.max_client_id_len: 129 is above the hard cap 128 " CAP},
	};
	char text[256], want[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* connect_timeout may not be shorter than handshake_timeout. */
		const char *extra = "";

		if (strcmp(cases[i].key, "limit.handshake_timeout") == 0) {
			extra = "limit.connect_timeout 2m\n";
		}
		(void)snprintf(text, sizeof(text), "%s %s\n%s", cases[i].key, cases[i].at_cap,
			       extra);
		expect_ok(text);
		(void)snprintf(text, sizeof(text), "%s %s\n", cases[i].key, cases[i].over);
		(void)snprintf(want, sizeof(want), NAME ":1: %s", cases[i].message);
		expect_error(text, want);
	}
}

/* Below each documented minimum. */
static void test_minimums(void **state)
{
	(void)state;
	expect_error("limit.max_packet 127\n",
		     NAME ":1: limit.max_packet: 127 is below the minimum 128");
	expect_error("limit.max_packet_preauth 0\n",
		     NAME ":1: limit.max_packet_preauth: 0 is below the minimum 128");
	expect_error("limit.max_topic_len 31\n",
		     NAME ":1: limit.max_topic_len: 31 is below the minimum 32");
	expect_error("limit.max_topic_levels 2\n",
		     NAME ":1: limit.max_topic_levels: 2 is below the minimum 3");
	expect_error("limit.max_user_props 0\n",
		     NAME ":1: limit.max_user_props: 0 is below the minimum 1");
	expect_error("limit.max_inflight 0\n",
		     NAME ":1: limit.max_inflight: 0 is below the minimum 1");
	expect_error("limit.max_connections 0\n",
		     NAME ":1: limit.max_connections: 0 is below the minimum 1");
	expect_error("limit.device_msg_burst 0\n",
		     NAME ":1: limit.device_msg_burst: 0 is below the minimum 1");
	expect_error("limit.max_client_id_len 22\n",
		     NAME ":1: limit.max_client_id_len: 22 is below the minimum 23");
	expect_ok("limit.max_client_id_len 23\nloops 0\n");
}

static void test_pairs(void **state)
{
	(void)state;
	/* Preauth follows a lowered max_packet unless set above it. */
	expect_ok("limit.max_packet 4k\n");
	assert_int_equal(cfg.limit.max_packet_preauth, 4096);
	expect_ok("limit.max_packet 4k\nlimit.max_packet_preauth 1k\n");
	assert_int_equal(cfg.limit.max_packet_preauth, 1024);
	expect_error("limit.max_packet_preauth 8k\nlimit.max_packet 4k\n",
		     NAME ":1: limit.max_packet_preauth: 8192 is above limit.max_packet (4096)");
	expect_error("limit.max_queued_bytes 128k\n", NAME
		     ":1: limit.max_queued_bytes: 131072 is below limit.max_packet (262144); a "
		     "queue must hold the largest packet");
	expect_error("limit.device_byte_burst 100000\n",
		     NAME ":1: limit.device_byte_burst: 100000 is below limit.max_packet (262144); "
			  "a packet that large could never pass");
	expect_ok("limit.device_byte_burst 100000\nlimit.max_packet 100000\n"
		  "limit.max_queued_bytes 100000\n");
	expect_error("limit.connect_timeout 5s\n",
		     NAME ":1: limit.connect_timeout: 5s is shorter than limit.handshake_timeout "
			  "(10s); the handshake is part of the time to CONNECT");
	expect_error("\nlimit.handshake_timeout 30s\n",
		     NAME ":2: limit.connect_timeout: 20s is shorter than limit.handshake_timeout "
			  "(30s); the handshake is part of the time to CONNECT");
	/* A refused value does not cause a second, derived error. */
	expect_error("limit.max_packet 2m\nlimit.device_byte_burst 200000\n",
		     NAME ":1: limit.max_packet: 2m is above the hard cap 1048576 " CAP);
	expect_error("limit.connect_timeout 5\n",
		     NAME ":1: limit.connect_timeout: '5' is not a duration (a number and a unit: "
			  "ms, s, m, h or d, e.g. 10s)");
}

static void test_listeners(void **state)
{
	static const char *const malformed[] = {
		"8883",
		"0.0.0.0",
		"0.0.0.0:",
		":8883",
		"0.0.0.0:http",
		"0.0.0.0:65536",
		"0.0.0.0:-1",
		"0.0.0.0:+1",
		"localhost:8883",
		"::1:8883",
		"[::1]8883",
		"[::1]",
		"[]:8883",
		"[127.0.0.1]:8883",
		"1.2.3:8883",
		"1.2.3.4.5:8883",
		"256.0.0.1:8883",
		"0.0.0.0:000008883",
		"[fe80::1%eth0]:8883",
		"[::1]:88 83",
	};
	char text[128], want[512];
	size_t i;

	(void)state;
	/* Without listener.mqtts the default stays, first; plain ones follow. */
	expect_ok("listener.mqtt 127.0.0.1:1883\n");
	assert_int_equal(cfg.listener_count, 2);
	assert_string_equal(cfg.listeners[0].text, "0.0.0.0:8883");
	assert_int_equal(cfg.listeners[0].line, 0);
	assert_string_equal(cfg.listeners[1].text, "127.0.0.1:1883");
	/* A listener.mqtts line replaces the default. */
	expect_ok("listener.mqtts [::]:8883\n");
	assert_int_equal(cfg.listener_count, 1);
	assert_string_equal(cfg.listeners[0].text, "[::]:8883");
	/* Canonical text, port 0, port 65535. */
	expect_ok("listener.mqtts [0:0::0:1]:0\nlistener.mqtts 10.0.0.1:65535\n"
		  "listener.mqtts [0::1]:0\n");
	assert_string_equal(cfg.listeners[0].text, "[::1]:0");
	assert_int_equal(cfg.listeners[1].port, 65535);

	for (i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		char q[64];

		(void)snprintf(q, sizeof(q), "%s", malformed[i]);
		(void)snprintf(text, sizeof(text), "listener.mqtts %s\n", malformed[i]);
		(void)snprintf(want, sizeof(want),
			       NAME ":1: listener.mqtts: '%s' is not an address and port "
				    "(1.2.3.4:8883 or [::1]:8883; host names are not resolved)",
			       q);
		expect_error(text, want);
	}

	/* Up to 8 of each kind. */
	{
		char many[1024] = "";
		size_t off = 0;

		for (i = 0; i < 9; i++) {
			off += (size_t)snprintf(many + off, sizeof(many) - off,
						"listener.mqtts 0.0.0.0:%zu\n", 8000 + i);
		}
		expect_error(many, NAME ":9: listener.mqtts: more than 8 listeners " CAP);
		many[0] = '\0';
		off = 0;
		for (i = 0; i < 8; i++) {
			off += (size_t)snprintf(many + off, sizeof(many) - off,
						"listener.mqtts 0.0.0.0:%zu\n"
						"listener.mqtt 127.0.0.1:%zu\n",
						8000 + i, 1000 + i);
		}
		expect_ok(many);
		assert_int_equal(cfg.listener_count, 16);
		assert_int_equal(cfg.listeners[7].tls, 1);
		assert_int_equal(cfg.listeners[8].tls, 0);
		assert_int_equal(cfg.listeners[8].line, 2);
	}
	/* The same address and port twice, whatever the kind. */
	expect_error("listener.mqtts 127.0.0.1:8883\nlistener.mqtt 127.0.0.1:8883\n",
		     NAME ":2: listener.mqtt: 127.0.0.1:8883 is already a listener (line 1)");
	expect_error("listener.mqtts [::]:8883\nlistener.mqtts [0::0]:8883\n",
		     NAME ":2: listener.mqtts: [::]:8883 is already a listener (line 1)");
	expect_ok("listener.mqtts 0.0.0.0:8883\nlistener.mqtts [::]:8883\n");
}

/* The plain listener is for loopback development only. */
static void test_plain_listener_loopback_only(void **state)
{
	static const char *const refused[] = {
		"0.0.0.0:1883", "10.0.0.1:1883", "128.0.0.1:1883",          "126.255.255.255:1883",
		"[::]:1883",    "[::2]:1883",    "[::ffff:127.0.0.1]:1883", "[fe80::1]:1883",
	};
	static const char *const canon[] = {
		"0.0.0.0:1883", "10.0.0.1:1883", "128.0.0.1:1883",          "126.255.255.255:1883",
		"[::]:1883",    "[::2]:1883",    "[::ffff:127.0.0.1]:1883", "[fe80::1]:1883",
	};
	char text[128], want[512];
	size_t i;

	(void)state;
	expect_ok("listener.mqtt 127.0.0.1:1883\nlistener.mqtt 127.255.0.9:1883\n"
		  "listener.mqtt [::1]:1883\n");
	assert_int_equal(cfg.listener_count, 4);
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		(void)snprintf(text, sizeof(text), "# dev\nlistener.mqtt %s\n", refused[i]);
		(void)snprintf(want, sizeof(want),
			       NAME
			       ":2: listener.mqtt: %s is not a loopback address; plain MQTT "
			       "has neither TLS nor client certificates, so it is allowed only "
			       "on 127.0.0.0/8 or [::1] (use listener.mqtts)",
			       canon[i]);
		expect_error(text, want);
	}
}

static void test_paths(void **state)
{
	char text[RP_LIMIT_CONFIG_PATH_LEN + 64];
	size_t n;

	(void)state;
	/* A path of 4095 bytes fits; 4096 does not. Lines cap it first. */
	n = (size_t)snprintf(text, sizeof(text), "tls.crl /");
	memset(text + n, 'a', 1000);
	text[n + 1000] = '\0';
	expect_ok(text);
	assert_int_equal(strlen(cfg.tls_crl), 1001);
	/* parse() leaves relative paths as written. */
	expect_ok("policy policy.conf\n");
	assert_string_equal(cfg.policy, "policy.conf");
}

/* store: sqlite:PATH or a PostgreSQL URL; the value is never echoed (a
 * URL may hold a password). telemetry.retention: a duration. */
static void test_store_and_retention(void **state)
{
	(void)state;
	expect_ok("");
	assert_string_equal(cfg.store, "");
	assert_int_equal(cfg.telemetry_retention_s, 0);
	expect_ok("store sqlite:state/rampart.db\n");
	assert_string_equal(cfg.store, "sqlite:state/rampart.db");
	expect_ok("store postgresql://rampart@db.example:5432/rampart\n");
	assert_string_equal(cfg.store, "postgresql://rampart@db.example:5432/rampart");
	expect_ok("store postgres://u@h/d\ntelemetry.retention 30d\n");
	assert_int_equal(cfg.telemetry_retention_s, 30u * 86400u);
	expect_error("store mysql://root:hunter2@db/x\n",
		     "rampartd.conf:1: store: expected sqlite:PATH or a postgresql:// URL");
	expect_error("store sqlite:\n",
		     "rampartd.conf:1: store: expected sqlite:PATH or a postgresql:// URL");
}

static void test_line_rules(void **state)
{
	char *big;
	struct errs e;
	size_t i;

	(void)state;
	/* A line of exactly 1024 bytes is fine; 1025 is not. */
	big = calloc(1, 4096);
	assert_non_null(big);
	memcpy(big, "data_dir /", 10);
	memset(big + 10, 'x', 1024 - 10);
	big[1024] = '\n';
	expect_ok(big);
	memcpy(big, "data_dir /", 10);
	memset(big + 10, 'x', 1025 - 10);
	big[1025] = '\r';
	big[1026] = '\n';
	big[1027] = '\0';
	expect_error(big, NAME ":1: line is longer than 1024 bytes");
	free(big);

	/* NUL bytes and invalid UTF-8. */
	memset(&e, 0, sizeof(e));
	assert_int_equal(rp_config_parse(&cfg, NAME, "loops 1\nloops\0 2\n",
					 sizeof("loops 1\nloops\0 2\n") - 1u, capture, &e),
			 RP_E_CONFIG);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.text[0], NAME ":2: line holds a NUL byte");
	expect_error("# \xC0\xAF\n", NAME ":1: line is not valid UTF-8");
	expect_error("loops 1\ndata_dir /\xED\xA0\x80\n", NAME ":2: line is not valid UTF-8");
	expect_ok("data_dir /donn\xC3\xA9\x65s\n");

	/* A file over 1 MiB is refused whole, at line 0. */
	big = malloc(RP_LIMIT_CONFIG_FILE_SIZE + 1u);
	assert_non_null(big);
	for (i = 0; i < RP_LIMIT_CONFIG_FILE_SIZE + 1u; i++) {
		big[i] = (i % 64 == 63) ? '\n' : '#';
	}
	memset(&e, 0, sizeof(e));
	assert_int_equal(
		rp_config_parse(&cfg, NAME, big, RP_LIMIT_CONFIG_FILE_SIZE + 1u, capture, &e),
		RP_E_CONFIG);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.line[0], 0);
	assert_string_equal(e.text[0], NAME ": file is larger than 1048576 bytes");
	memset(&e, 0, sizeof(e));
	assert_int_equal(rp_config_parse(&cfg, NAME, big, RP_LIMIT_CONFIG_FILE_SIZE, capture, &e),
			 RP_OK);
	free(big);
}

/* Echoed values cannot inject control sequences, and are cut. */
static void test_quoting(void **state)
{
	char text[256], want[512];

	(void)state;
	expect_error("loops \x1b[2J\\\x7f\n", NAME ":1: loops: '\\x1b[2J\\\\\\x7f' is not a number "
						   "(unsigned decimal, e.g. 100)");
	expect_error("lo\xC3\xA9ps 1\n", NAME ":1: unknown key 'lo\\xc3\\xa9ps'");
	(void)snprintf(text, sizeof(text), "loops %070d\n", 7);
	expect_ok(text);
	(void)snprintf(text, sizeof(text), "loops %070dx\n", 7);
	(void)snprintf(want, sizeof(want),
		       NAME ":1: loops: '%064d...' is not a number (unsigned decimal, e.g. 100)",
		       0);
	expect_error(text, want);
}

/* Every error of a file is reported, in order, each once. */
static void test_multi_error(void **state)
{
	static const char text[] = "# rampartd.conf with five mistakes\n"
				   "loops 100\n"
				   "data_dir /var/lib/rampart\n"
				   "listener.mqtt 0.0.0.0:1883\n"
				   "limit.max_packet 2000000\n"
				   "\n"
				   "tls.min_version 1.0\n"
				   "limit.max_inflight 8\n"
				   "frobnicate yes\n"
				   "loops 2\n";
	static const char *const want[] = {
		NAME ":2: loops: 100 is above the hard cap 64 " CAP,
		NAME ":4: listener.mqtt: 0.0.0.0:1883 is not a loopback address; plain MQTT has "
		     "neither TLS nor client certificates, so it is allowed only on 127.0.0.0/8 "
		     "or [::1] (use listener.mqtts)",
		NAME ":5: limit.max_packet: 2000000 is above the hard cap 1048576 " CAP,
		NAME ":7: tls.min_version: '1.0' is not a TLS version Rampart allows (1.3 or "
		     "1.2)",
		NAME ":9: unknown key 'frobnicate'",
		NAME ":10: loops: set twice (first at line 2)",
	};
	struct errs e;
	size_t i;

	(void)state;
	assert_int_equal(parse_text(text, &e), RP_E_CONFIG);
	assert_int_equal(e.n, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < e.n; i++) {
		assert_string_equal(e.text[i], want[i]);
	}
	/* Without a callback the status is the same. */
	assert_int_equal(rp_config_parse(&cfg, NULL, text, strlen(text), NULL, NULL), RP_E_CONFIG);
	/* A NULL name is "(config)". */
	memset(&e, 0, sizeof(e));
	assert_int_equal(rp_config_parse(&cfg, NULL, "x 1", 3, capture, &e), RP_E_CONFIG);
	assert_string_equal(e.text[0], "(config):1: unknown key 'x'");
}

static void test_bad_args(void **state)
{
	(void)state;
	assert_int_equal(rp_config_parse(NULL, NAME, "", 0, NULL, NULL), RP_E_INVALID_ARG);
	assert_int_equal(rp_config_parse(&cfg, NAME, NULL, 1, NULL, NULL), RP_E_INVALID_ARG);
	assert_int_equal(rp_config_load(NULL, "x", NULL, NULL), RP_E_INVALID_ARG);
	assert_int_equal(rp_config_load(&cfg, NULL, NULL, NULL), RP_E_INVALID_ARG);
	rp_config_mqtt_limits(NULL, NULL);
	rp_config_mqtt_limits_preauth(NULL, NULL);
}

static void test_mqtt_limits(void **state)
{
	rp_mqtt_limits lim, def;

	(void)state;
	rp_config_defaults(&cfg);
	rp_config_mqtt_limits(&cfg, &lim);
	rp_mqtt_limits_default(&def);
	assert_int_equal(lim.max_packet, def.max_packet);
	assert_int_equal(lim.max_topic_len, def.max_topic_len);
	assert_int_equal(lim.max_topic_levels, def.max_topic_levels);
	assert_int_equal(lim.max_user_props, def.max_user_props);
	assert_int_equal(lim.max_sub_entries, def.max_sub_entries);
	assert_int_equal(lim.max_sub_ids, RP_LIMIT_MQTT_SUB_IDS);
	assert_int_equal(rp_mqtt_limits_clamp(&lim), 0);

	expect_ok("limit.max_packet 64k\nlimit.max_packet_preauth 2k\nlimit.max_topic_len 100\n"
		  "limit.max_topic_levels 5\nlimit.max_user_props 2\nlimit.max_sub_entries 3\n"
		  "limit.max_subscriptions 4\n");
	rp_config_mqtt_limits(&cfg, &lim);
	assert_int_equal(lim.max_packet, 65536);
	assert_int_equal(lim.max_topic_len, 100);
	assert_int_equal(lim.max_topic_levels, 5);
	assert_int_equal(lim.max_user_props, 2);
	assert_int_equal(lim.max_sub_entries, 3);
	assert_int_equal(lim.max_sub_ids, 4);
	assert_int_equal(rp_mqtt_limits_clamp(&lim), 0);
	rp_config_mqtt_limits_preauth(&cfg, &lim);
	assert_int_equal(lim.max_packet, 2048);
	assert_int_equal(lim.max_topic_len, 100);
	assert_int_equal(rp_mqtt_limits_clamp(&lim), 0);

	/* At every hard cap the codec has nothing to clamp either. */
	expect_ok("limit.max_packet 1m\nlimit.max_topic_len 1024\nlimit.max_topic_levels 32\n"
		  "limit.max_user_props 64\nlimit.max_sub_entries 64\n"
		  "limit.max_subscriptions 1024\n");
	rp_config_mqtt_limits(&cfg, &lim);
	assert_int_equal(lim.max_sub_ids, RP_LIMIT_MQTT_SUB_IDS);
	assert_int_equal(rp_mqtt_limits_clamp(&lim), 0);
}

/* ------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------ */

static char tmpdir[64];

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static int make_tmpdir(void **state)
{
	(void)state;
	(void)snprintf(tmpdir, sizeof(tmpdir), "/tmp/rp_test_config.XXXXXX");
	return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
	char cmd[128];

	(void)state;
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_load(void **state)
{
	static const char text[] = "tls.cert tls/server.crt\ntls.key /abs/server.key\n"
				   "policy ../policy.conf\n";
	char path[128], want[600], *big;
	struct errs e;
	size_t i;

	(void)state;
	(void)snprintf(path, sizeof(path), "%s/rampartd.conf", tmpdir);
	write_file(path, text, strlen(text));
	memset(&e, 0, sizeof(e));
	assert_int_equal(rp_config_load(&cfg, path, capture, &e), RP_OK);
	/* Relative paths are taken from the file's directory. */
	(void)snprintf(want, sizeof(want), "%s/tls/server.crt", tmpdir);
	assert_string_equal(cfg.tls_cert, want);
	assert_string_equal(cfg.tls_key, "/abs/server.key");
	(void)snprintf(want, sizeof(want), "%s/../policy.conf", tmpdir);
	assert_string_equal(cfg.policy, want);
	assert_string_equal(cfg.tls_ca, "/etc/rampart/tls/fleet-ca.crt");

	/* A relative name of the file itself: made absolute from the cwd. */
	{
		char cwd[512], old[512];

		assert_non_null(getcwd(old, sizeof(old)));
		assert_int_equal(chdir(tmpdir), 0);
		assert_non_null(getcwd(cwd, sizeof(cwd)));
		assert_int_equal(rp_config_load(&cfg, "rampartd.conf", capture, &e), RP_OK);
		(void)snprintf(want, sizeof(want), "%s/tls/server.crt", cwd);
		assert_string_equal(cfg.tls_cert, want);
		assert_int_equal(chdir(old), 0);
	}

	/* Errors name the path given. */
	write_file(path, "data_dir /x\nloops 65\n", strlen("data_dir /x\nloops 65\n"));
	memset(&e, 0, sizeof(e));
	assert_int_equal(rp_config_load(&cfg, path, capture, &e), RP_E_CONFIG);
	assert_int_equal(e.n, 1);
	(void)snprintf(want, sizeof(want), "%s:2: loops: 65 is above the hard cap 64 " CAP, path);
	assert_string_equal(e.text[0], want);

	/* Missing file, a directory, a file too large. */
	(void)snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
	memset(&e, 0, sizeof(e));
	assert_int_equal(rp_config_load(&cfg, path, capture, &e), RP_E_CONFIG);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.line[0], 0);
	(void)snprintf(want, sizeof(want), "%s: cannot open: %s", path, strerror(ENOENT));
	assert_string_equal(e.text[0], want);

	memset(&e, 0, sizeof(e));
	assert_int_equal(rp_config_load(&cfg, tmpdir, capture, &e), RP_E_CONFIG);
	assert_int_equal(e.n, 1);
	(void)snprintf(want, sizeof(want), "%s: is not a regular file", tmpdir);
	assert_string_equal(e.text[0], want);

	big = malloc(RP_LIMIT_CONFIG_FILE_SIZE + 1u);
	assert_non_null(big);
	for (i = 0; i < RP_LIMIT_CONFIG_FILE_SIZE + 1u; i++) {
		big[i] = (i % 64 == 63) ? '\n' : '#';
	}
	(void)snprintf(path, sizeof(path), "%s/big.conf", tmpdir);
	write_file(path, big, RP_LIMIT_CONFIG_FILE_SIZE + 1u);
	memset(&e, 0, sizeof(e));
	assert_int_equal(rp_config_load(&cfg, path, capture, &e), RP_E_CONFIG);
	assert_int_equal(e.n, 1);
	(void)snprintf(want, sizeof(want), "%s: file is larger than 1048576 bytes", path);
	assert_string_equal(e.text[0], want);
	write_file(path, big, RP_LIMIT_CONFIG_FILE_SIZE);
	assert_int_equal(rp_config_load(&cfg, path, NULL, NULL), RP_OK);
	free(big);

	/* A path that fits as written but not once under the directory. */
	{
		static char deep[RP_LIMIT_CONFIG_PATH_LEN];
		char line[1100];
		size_t n = (size_t)snprintf(deep, sizeof(deep), "%s", tmpdir);
		size_t k;

		for (k = 0; k < 14; k++) {
			deep[n++] = '/';
			memset(deep + n, 'd', 250);
			n += 250;
			deep[n] = '\0';
			assert_int_equal(mkdir(deep, 0700), 0);
		}
		n = (size_t)snprintf(line, sizeof(line), "\n\ndata_dir ");
		memset(line + n, 'p', 1000);
		line[n + 1000] = '\n';
		line[n + 1001] = '\0';
		assert_true(strlen(deep) + 20 < sizeof(deep));
		strcat(deep, "/rampartd.conf");
		write_file(deep, line, strlen(line));
		memset(&e, 0, sizeof(e));
		assert_int_equal(rp_config_load(&cfg, deep, capture, &e), RP_E_CONFIG);
		assert_int_equal(e.n, 1);
		assert_int_equal(e.line[0], 3);
		assert_string_equal(e.msg[0],
				    "data_dir: path is longer than 4095 bytes once made "
				    "relative to the directory of the configuration file");
		/* Written absolute, the same value is fine. */
		line[n] = '/';
		write_file(deep, line, strlen(line));
		assert_int_equal(rp_config_load(&cfg, deep, NULL, NULL), RP_OK);
		assert_int_equal(strlen(cfg.data_dir), 1000);
	}
	assert_int_equal(rp_alloc_in_use(), 0);
}

/* The allocation of the read buffer may fail: reported, no leak. */
static void test_load_nomem(void **state)
{
	char path[128];
	struct errs e;

	(void)state;
	(void)snprintf(path, sizeof(path), "%s/nomem.conf", tmpdir);
	write_file(path, "loops 1\n", 8);
	memset(&e, 0, sizeof(e));
	rp_alloc_fail_after(0);
	assert_int_equal(rp_config_load(&cfg, path, capture, &e), RP_E_NOMEM);
	rp_alloc_fail_after(-1);
	assert_int_equal(e.n, 1);
	assert_int_equal(rp_alloc_in_use(), 0);
}

/*
 * The repository's root, from this file's own path: CMake compiles it by
 * its absolute path; a build by hand from the root gives a relative one
 * (root ""). RP_SOURCE_DIR, if defined, wins.
 */
static void source_path(char *out, size_t cap, const char *rel)
{
#ifdef RP_SOURCE_DIR
	(void)snprintf(out, cap, "%s/%s", RP_SOURCE_DIR, rel);
#else
	static const char self[] = "tests/unit/test_config.c";
	const char *f = __FILE__;
	size_t n = strlen(f);
	size_t root = n >= sizeof(self) - 1 ? n - (sizeof(self) - 1) : 0;

	assert_string_equal(f + root, self);
	(void)snprintf(out, cap, "%.*s%s", (int)root, f, rel);
#endif
}

/* packaging/rampartd.conf.example parses cleanly, and says what it shows. */
static void test_example_file(void **state)
{
	char path[1024];
	struct errs e;

	(void)state;
	source_path(path, sizeof(path), "packaging/rampartd.conf.example");
	memset(&e, 0, sizeof(e));
	assert_int_equal(rp_config_load(&cfg, path, capture, &e), RP_OK);
	print_errs(&e);
	assert_int_equal(e.n, 0);
	assert_true(cfg.listener_count >= 1);
	assert_int_equal(cfg.listeners[0].tls, 1);
	assert_int_equal(cfg.tls_min_version, RP_CONFIG_TLS_1_3);
	assert_string_equal(cfg.tls_ca, "/etc/rampart/tls/fleet-ca.crt");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_empty_is_defaults),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_unknown_duplicate_missing),
		cmocka_unit_test(test_malformed_values),
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_hard_caps),
		cmocka_unit_test(test_minimums),
		cmocka_unit_test(test_pairs),
		cmocka_unit_test(test_listeners),
		cmocka_unit_test(test_plain_listener_loopback_only),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_store_and_retention),
		cmocka_unit_test(test_api_keys),
		cmocka_unit_test(test_pki_keys),
		cmocka_unit_test(test_pki_crl_keys),
		cmocka_unit_test(test_pki_pkcs11_keys),
		cmocka_unit_test(test_line_rules),
		cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_multi_error),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_mqtt_limits),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_load_nomem),
		cmocka_unit_test(test_example_file),
	};

	return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
