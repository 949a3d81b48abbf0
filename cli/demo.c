/*
 * demo.c - `rampart mqtt demo`: a short tour of the MQTT codec.
 *
 * Builds the packets a device sends, encodes and decodes them, then feeds
 * the codec hostile bytes and shows what a broker answers. It is also a
 * smoke test: if the codec fails to build a good packet or accepts a
 * hostile one, the demo says so and exits 1.
 */
#include <string.h>

#include "cli.h"
#include "rampart/limits.h"

#define DEVICE       "dev-0001"
#define HEX_PER_LINE 24u

static rp_mqtt_str str_of(const char *s)
{
	rp_mqtt_str v;

	v.p = (const uint8_t *)s;
	v.len = (uint32_t)strlen(s);
	return v;
}

/* Encodes pkt, prints its bytes, decodes them back and prints the view. */
static int show_packet(FILE *out, const char *title, const rp_mqtt_packet *pkt)
{
	uint8_t buf[256];
	rp_mqtt_limits lim;
	rp_mqtt_packet back;
	size_t len = 0, consumed = 0;
	rp_status st;

	rp_mqtt_limits_default(&lim);
	st = rp_mqtt_encode(pkt, RP_MQTT_V5, &lim, buf, sizeof(buf), &len);
	if (st != RP_OK) {
		fprintf(out, "%s: encoding failed: %s (%s)\n", title, cli_status_name(st),
			rp_status_str(st));
		return -1;
	}
	fprintf(out, "%s, %zu bytes on the wire:\n", title, len);
	cli_print_hex(out, buf, len, 4, HEX_PER_LINE);

	st = rp_mqtt_decode(buf, len, RP_MQTT_V5, &lim, &back, &consumed);
	if (st != RP_OK || consumed != len) {
		fprintf(out, "    decoding it back failed: %s (%s)\n", cli_status_name(st),
			rp_status_str(st));
		return -1;
	}
	cli_print_packet(out, &back, RP_MQTT_V5, consumed, 2);
	return 0;
}

static int tour_device(FILE *out)
{
	static const char senml[] = "[{\"bn\":\"urn:dev:id:" DEVICE ":\",\"n\":\"temp\","
				    "\"u\":\"Cel\",\"v\":21.5}]";
	rp_mqtt_sub_entry sub;
	rp_mqtt_packet pkt;

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = RP_MQTT_CONNECT;
	pkt.u.connect.version = RP_MQTT_V5;
	pkt.u.connect.clean_start = 1;
	pkt.u.connect.keepalive = 60;
	pkt.u.connect.client_id = str_of(DEVICE);
	pkt.u.connect.props.present = RP_MQTT_HAS(RP_MQTT_PROP_SESSION_EXPIRY);
	pkt.u.connect.props.session_expiry = 3600;
	if (show_packet(out, "[1] " DEVICE " connects (no password: TLS client certificate)",
			&pkt) != 0) {
		return -1;
	}

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = RP_MQTT_PUBLISH;
	pkt.u.publish.qos = 1;
	pkt.u.publish.packet_id = 1;
	pkt.u.publish.topic = str_of("d/" DEVICE "/telemetry");
	pkt.u.publish.props.present =
		RP_MQTT_HAS(RP_MQTT_PROP_CONTENT_TYPE) | RP_MQTT_HAS(RP_MQTT_PROP_PAYLOAD_FORMAT);
	pkt.u.publish.props.content_type = str_of("application/senml+json");
	pkt.u.publish.props.payload_format = 1;
	pkt.u.publish.payload = str_of(senml);
	if (show_packet(out, "\n[2] it sends telemetry (SenML, QoS 1)", &pkt) != 0) {
		return -1;
	}

	memset(&sub, 0, sizeof(sub));
	sub.filter = str_of("d/" DEVICE "/cmd/#");
	sub.qos = 1;
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = RP_MQTT_SUBSCRIBE;
	pkt.u.subscribe.packet_id = 2;
	pkt.u.subscribe.count = 1;
	pkt.u.subscribe.entries = &sub;
	return show_packet(out, "\n[3] it subscribes to its commands", &pkt);
}

/* A hostile input and what the codec must answer. */
struct hostile {
	const char *what;
	const uint8_t *bytes;
	size_t len;
	uint8_t version;     /* 0: before CONNECT */
	uint32_t max_packet; /* the limit in force */
	rp_status expect;
};

/* PUBACK whose remaining length (2) takes two bytes: 0x82 0x00. */
static const uint8_t h_vbi[] = {0x40, 0x82, 0x00, 0x00, 0x01};
/* PUBLISH to "d/+/telemetry": a wildcard in a topic name. */
static const uint8_t h_wild[] = {0x30, 0x14, 0x00, 0x0d, 0x64, 0x2f, 0x2b, 0x2f, 0x74, 0x65, 0x6c,
				 0x65, 0x6d, 0x65, 0x74, 0x72, 0x79, 0x00, 0x32, 0x31, 0x2e, 0x35};
/* PUBLISH carrying Session Expiry Interval (0x11), a CONNECT/DISCONNECT property. */
static const uint8_t h_prop[] = {0x30, 0x20, 0x00, 0x14, 0x64, 0x2f, 0x64, 0x65, 0x76,
				 0x2d, 0x30, 0x30, 0x30, 0x31, 0x2f, 0x74, 0x65, 0x6c,
				 0x65, 0x6d, 0x65, 0x74, 0x72, 0x79, 0x05, 0x11, 0x00,
				 0x00, 0x0e, 0x10, 0x32, 0x31, 0x2e, 0x35};
/* The first 4 bytes of a CONNECT announcing 2 MiB (remaining length 2097151). */
static const uint8_t h_big[] = {0x10, 0xff, 0xff, 0x7f};
/* PUBLISH to "d/\xed\xa0\x80/telemetry": U+D800, a surrogate, is not UTF-8. */
static const uint8_t h_utf8[] = {0x30, 0x16, 0x00, 0x0f, 0x64, 0x2f, 0xed, 0xa0,
				 0x80, 0x2f, 0x74, 0x65, 0x6c, 0x65, 0x6d, 0x65,
				 0x74, 0x72, 0x79, 0x00, 0x32, 0x31, 0x2e, 0x35};

static const struct hostile hostile[] = {
	{"remaining length not minimally encoded", h_vbi, sizeof(h_vbi), RP_MQTT_V5,
	 RP_DEFAULT_MQTT_PACKET, RP_E_REMAINING_LENGTH},
	{"PUBLISH to a topic with a wildcard (d/+/telemetry)", h_wild, sizeof(h_wild), RP_MQTT_V5,
	 RP_DEFAULT_MQTT_PACKET, RP_E_TOPIC_NAME},
	{"PUBLISH with a property it may not carry (session expiry)", h_prop, sizeof(h_prop),
	 RP_MQTT_V5, RP_DEFAULT_MQTT_PACKET, RP_E_PROPERTY},
	{"CONNECT announcing 2 MiB before authentication (cap 8 KiB)", h_big, sizeof(h_big), 0,
	 RP_LIMIT_MQTT_PREAUTH_PACKET, RP_E_TOO_LARGE},
	{"topic with a UTF-16 surrogate (ED A0 80) in its UTF-8", h_utf8, sizeof(h_utf8),
	 RP_MQTT_V5, RP_DEFAULT_MQTT_PACKET, RP_E_UTF8},
};

static int tour_hostile(FILE *out)
{
	const struct hostile *h;
	rp_mqtt_limits lim;
	rp_mqtt_packet pkt;
	size_t i, consumed;
	uint8_t rc;
	rp_status st;
	int failed = 0;

	fputs("\nHostile input: each is refused, with the reason code the broker sends.\n", out);
	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		h = &hostile[i];
		rp_mqtt_limits_default(&lim);
		lim.max_packet = h->max_packet;
		st = rp_mqtt_decode(h->bytes, h->len, h->version, &lim, &pkt, &consumed);
		rc = rp_mqtt_reason_for(st);

		fprintf(out, "  [%c] %s\n", (int)('a' + i), h->what);
		cli_print_hex(out, h->bytes, h->len, 6, HEX_PER_LINE);
		if (st == RP_OK || st == RP_NEED_MORE) {
			fprintf(out, "      NOT REFUSED (%s): this is a bug\n",
				cli_status_name(st));
			failed = 1;
			continue;
		}
		fprintf(out, "      -> %s, reason 0x%02x (%s)", cli_status_name(st), rc,
			cli_reason_name(RP_MQTT_DISCONNECT, RP_MQTT_V5, rc));
		if (h->bytes == h_big) {
			fprintf(out, "\n         after %zu bytes: the body is never buffered",
				h->len);
		}
		fputc('\n', out);
		if (st != h->expect) {
			fprintf(out, "      (expected %s)\n", cli_status_name(h->expect));
			failed = 1;
		}
	}
	return failed ? -1 : 0;
}

int cli_mqtt_demo(FILE *out)
{
	int rc = CLI_EXIT_OK;

	fputs("Rampart MQTT codec tour\n"
	      "One codec serves broker and device: bytes in, packets out; no malloc, no I/O.\n"
	      "Each packet below is built, encoded, then decoded back; the decoded strings\n"
	      "are views into the receive buffer, nothing is copied.\n\n",
	      out);
	if (tour_device(out) != 0 || tour_hostile(out) != 0) {
		rc = CLI_EXIT_FAIL;
	}
	fputs("\nWhat next:\n"
	      "  make test                   every check: sanitizers, fuzz smoke runs, coverage\n"
	      "  docs/mqtt-codec.md          how the codec is built, and why\n"
	      "  rampart mqtt decode HEX...  decode any packet, e.g. the bytes above\n"
	      "  tests/fuzz/README.md        how the codec is fuzzed\n",
	      out);
	return rc;
}
