/*
 * tests/support/mqttsrv.h - a scripted MQTT 5 server over mutual TLS, in a
 * thread, for the tests of the device's link (test_link.c) and runtime
 * (test_device.c).
 *
 * The test starts it on 127.0.0.1 port 0 with a script; the script runs
 * in the server's thread and plays one side of the conversation with the
 * device under test, which runs in the main thread: it accepts, reads
 * every packet the device sends (decoded with the shared codec, so a
 * malformed packet is a failure), checks them and answers, or drops the
 * connection at a chosen moment. Packets are written with the same codec.
 *
 *   static void script(mqttsrv *s)
 *   {
 *           rp_mqtt_packet p;
 *
 *           mqttsrv_expect_connect(s, 0);
 *           mqttsrv_expect_subscribe(s);
 *           MQTTSRV_CHECK(s, mqttsrv_recv(s, &p, 0) == 0 && p.type == RP_MQTT_PUBLISH);
 *           ...
 *   }
 *   mqttsrv s = {0};
 *   assert_int_equal(mqttsrv_start(&s, &fleet.server, &fleet.ca, script), 0);
 *   ... run the device against port s.port ...
 *   assert_int_equal(mqttsrv_finish(&s), 0);
 *
 * Failures in the script: cmocka is not thread-safe, so a check that
 * fails in the server's thread is recorded (mqttsrv_fail, MQTTSRV_CHECK:
 * the first reason is kept) and reported by mqttsrv_finish() in the main
 * thread once the script has ended.
 *
 * Conventions
 * - Functions that return int return 0 on success and -1 on failure (and
 *   mqttsrv_recv 1 for "nothing within quiet_ms"). A failure of the
 *   device (a malformed packet, a CONNECT that is not the expected one) is
 *   recorded with mqttsrv_fail; EOF and I/O errors are not, the script
 *   decides.
 * - The script's functions (all but start and finish) are called from the
 *   script only. Fields marked "results" may be read by the main thread
 *   while the script runs only where they are atomic.
 * - The device expected by mqttsrv_expect_connect and the subscribe
 *   checks is the tests' device: MQTTSRV_CLIENT_ID with a keep alive of
 *   MQTTSRV_KEEPALIVE and a session expiry of MQTTSRV_SESSION_EXPIRY.
 */
#ifndef RP_TESTS_MQTTSRV_H
#define RP_TESTS_MQTTSRV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "rampart/mqtt.h"
#include "testpki.h"

#define MQTTSRV_CLIENT_ID      "dev-0001"
#define MQTTSRV_COMMAND_FILTER "d/dev-0001/cmd/+"
#define MQTTSRV_KEEPALIVE      30
#define MQTTSRV_SESSION_EXPIRY 3600

typedef struct mqttsrv mqttsrv;
typedef void (*mqttsrv_script)(mqttsrv *s);

struct mqttsrv {
	/* set by the test before mqttsrv_start */
	void *user; /* the script's own state */
	/* set by mqttsrv_start */
	uint16_t port;
	/* results */
	atomic_int finished;          /* the script has ended */
	atomic_int handshakes_failed; /* TLS handshakes refused, all connections */
	atomic_size_t mqtt_bytes;     /* application bytes read, all connections */
	int failed;                   /* a check failed: read after mqttsrv_finish */
	char why[512];                /* the first failure */
	/* internal */
	mqttsrv_script script;
	int lfd;
	pthread_t thread;
	SSL_CTX *ctx;
	int fd; /* the current connection */
	SSL *ssl;
	uint8_t version;
	size_t rx_len;
	uint8_t rx[65536];
	uint8_t pkt[65536];
};

/*
 * Listens on 127.0.0.1 port 0 (s->port) with server's certificate,
 * requiring a client certificate issued by client_ca, and runs script in
 * a new thread. s must be zero-initialised (user aside). Returns 0 or -1.
 */
int mqttsrv_start(mqttsrv *s, const testpki_id *server, const testpki_id *client_ca,
		  mqttsrv_script script);

/* Waits for the script to end and frees the server. Returns 0, or -1 when
 * the script recorded a failure (its reason on stderr and in s->why). */
int mqttsrv_finish(mqttsrv *s);

/* Records a failure of the script; the first reason is kept. */
void mqttsrv_fail(mqttsrv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* In a script (a function returning void): records the failed condition
 * with its place and returns. */
#define MQTTSRV_CHECK(s, cond)                                                                     \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			mqttsrv_fail((s), "%s:%d: %s", __FILE__, __LINE__, #cond);                 \
			return;                                                                    \
		}                                                                                  \
	} while (0)

/* Drops the current connection without a word (a crash: no DISCONNECT). */
void mqttsrv_close(mqttsrv *s);

/* Drops the current connection, waits up to 10 s for the next one and
 * runs the TLS handshake (a refused one counts in handshakes_failed). */
int mqttsrv_accept(mqttsrv *s);

/*
 * The next packet from the device, decoded into p (views into s->pkt,
 * valid until the next call). quiet_ms > 0: returns 1 if nothing came for
 * that long. -1 on EOF, a read timeout, an error, or a malformed packet
 * (recorded).
 */
int mqttsrv_recv(mqttsrv *s, rp_mqtt_packet *p, int quiet_ms);

/* Encodes p (MQTT 5) and writes it. */
int mqttsrv_send(mqttsrv *s, const rp_mqtt_packet *p);

/* A CONNACK; reason (a Reason String) may be NULL, server_keepalive 0:
 * no Server Keep Alive. */
int mqttsrv_connack(mqttsrv *s, uint8_t session_present, uint8_t rc, const char *reason,
		    uint16_t server_keepalive);

/* An acknowledgement of packet pid: PUBACK, PUBREC, ... with reason code
 * rc, or a SUBACK granting QoS 1 to one filter (rc unused). */
int mqttsrv_ack(mqttsrv *s, uint8_t type, uint16_t pid, uint8_t rc);

/* A PUBLISH of a text payload. */
int mqttsrv_publish(mqttsrv *s, const char *topic, const char *payload, uint8_t qos, uint16_t pid);

/* 1 if v holds exactly the text want. */
int mqttsrv_str_is(rp_mqtt_str v, const char *want);

/*
 * Accepts the next connection and checks its CONNECT is the tests'
 * device's: MQTT 5, client id MQTTSRV_CLIENT_ID, clean start 0 (the link
 * always resumes), the keep alive and session expiry above, no will, user
 * name or password. Answers CONNACK 0x00 with session_present.
 */
int mqttsrv_expect_connect(mqttsrv *s, uint8_t session_present);

/* Checks that p is the SUBSCRIBE of the device's command topic (one
 * filter, MQTTSRV_COMMAND_FILTER at QoS 1, Retain Handling 1) and answers
 * its SUBACK. */
int mqttsrv_check_subscribe(mqttsrv *s, const rp_mqtt_packet *p);

/* Reads the next packet and checks it as mqttsrv_check_subscribe. */
int mqttsrv_expect_subscribe(mqttsrv *s);

#endif /* RP_TESTS_MQTTSRV_H */
