/*
 * print.c - readable views of decoded MQTT packets, statuses and reason codes.
 *
 * Every byte taken from a packet is escaped to printable ASCII before it
 * reaches the terminal (a topic can hold ESC or a C1 control character), and
 * long fields are cut at CLI_SHOW_MAX bytes. The CONNECT password and
 * authentication data are secrets: only their length is shown.
 */
#include <stddef.h>
#include <string.h>

#include "cli.h"

/* ------------------------------------------------------------------------
 * Names
 * ------------------------------------------------------------------------ */

static const char *const status_names[RP_STATUS_COUNT_] = {
	[RP_OK] = "RP_OK",
	[RP_NEED_MORE] = "RP_NEED_MORE",
	[RP_E_INVALID_ARG] = "RP_E_INVALID_ARG",
	[RP_E_BUF_TOO_SMALL] = "RP_E_BUF_TOO_SMALL",
	[RP_E_MALFORMED] = "RP_E_MALFORMED",
	[RP_E_REMAINING_LENGTH] = "RP_E_REMAINING_LENGTH",
	[RP_E_PACKET_TYPE] = "RP_E_PACKET_TYPE",
	[RP_E_RESERVED_FLAGS] = "RP_E_RESERVED_FLAGS",
	[RP_E_TOO_LARGE] = "RP_E_TOO_LARGE",
	[RP_E_UTF8] = "RP_E_UTF8",
	[RP_E_TOPIC_NAME] = "RP_E_TOPIC_NAME",
	[RP_E_TOPIC_FILTER] = "RP_E_TOPIC_FILTER",
	[RP_E_QOS] = "RP_E_QOS",
	[RP_E_PROPERTY] = "RP_E_PROPERTY",
	[RP_E_PROPERTY_DUP] = "RP_E_PROPERTY_DUP",
	[RP_E_PROPERTY_VALUE] = "RP_E_PROPERTY_VALUE",
	[RP_E_REASON_CODE] = "RP_E_REASON_CODE",
	[RP_E_TRAILING] = "RP_E_TRAILING",
	[RP_E_PACKET_ID] = "RP_E_PACKET_ID",
	[RP_E_PROTOCOL_VERSION] = "RP_E_PROTOCOL_VERSION",
	[RP_E_PAYLOAD_FORMAT] = "RP_E_PAYLOAD_FORMAT",
	[RP_E_EMPTY] = "RP_E_EMPTY",
	[RP_E_LIMIT] = "RP_E_LIMIT",
	[RP_E_PROTOCOL] = "RP_E_PROTOCOL",
	[RP_E_NOMEM] = "RP_E_NOMEM",
	[RP_E_IO] = "RP_E_IO",
	[RP_E_TIMEOUT] = "RP_E_TIMEOUT",
	[RP_E_CLOSED] = "RP_E_CLOSED",
	[RP_E_CONFIG] = "RP_E_CONFIG",
	[RP_E_AUTH] = "RP_E_AUTH",
	[RP_E_DENIED] = "RP_E_DENIED",
	[RP_E_NOT_FOUND] = "RP_E_NOT_FOUND",
	[RP_E_STATE] = "RP_E_STATE",
	[RP_E_CRYPTO] = "RP_E_CRYPTO",
	[RP_E_INTERNAL] = "RP_E_INTERNAL",
};

const char *cli_status_name(rp_status st)
{
	if ((unsigned)st >= (unsigned)RP_STATUS_COUNT_ || status_names[st] == NULL) {
		return "RP_?";
	}
	return status_names[st];
}

struct code_name {
	uint8_t code;
	const char *name;
};

/* MQTT 5.0 section 2.4, from 0x80 up (the same meaning in every packet). */
static const struct code_name reason_names[] = {
	{0x10, "No matching subscribers"},
	{0x11, "No subscription existed"},
	{0x18, "Continue authentication"},
	{0x19, "Re-authenticate"},
	{0x80, "Unspecified error"},
	{0x81, "Malformed Packet"},
	{0x82, "Protocol Error"},
	{0x83, "Implementation specific error"},
	{0x84, "Unsupported Protocol Version"},
	{0x85, "Client Identifier not valid"},
	{0x86, "Bad User Name or Password"},
	{0x87, "Not authorized"},
	{0x88, "Server unavailable"},
	{0x89, "Server busy"},
	{0x8A, "Banned"},
	{0x8B, "Server shutting down"},
	{0x8C, "Bad authentication method"},
	{0x8D, "Keep Alive timeout"},
	{0x8E, "Session taken over"},
	{0x8F, "Topic Filter invalid"},
	{0x90, "Topic Name invalid"},
	{0x91, "Packet Identifier in use"},
	{0x92, "Packet Identifier not found"},
	{0x93, "Receive Maximum exceeded"},
	{0x94, "Topic Alias invalid"},
	{0x95, "Packet too large"},
	{0x96, "Message rate too high"},
	{0x97, "Quota exceeded"},
	{0x98, "Administrative action"},
	{0x99, "Payload format invalid"},
	{0x9A, "Retain not supported"},
	{0x9B, "QoS not supported"},
	{0x9C, "Use another server"},
	{0x9D, "Server moved"},
	{0x9E, "Shared Subscriptions not supported"},
	{0x9F, "Connection rate exceeded"},
	{0xA0, "Maximum connect time"},
	{0xA1, "Subscription Identifiers not supported"},
	{0xA2, "Wildcard Subscriptions not supported"},
};

/* MQTT 3.1.1 section 3.2.2.3. */
static const char *const connack311_names[] = {
	"Connection Accepted",
	"Connection Refused, unacceptable protocol version",
	"Connection Refused, identifier rejected",
	"Connection Refused, Server unavailable",
	"Connection Refused, bad user name or password",
	"Connection Refused, not authorized",
};

const char *cli_reason_name(uint8_t type, uint8_t version, uint8_t rc)
{
	size_t i;

	if (version == RP_MQTT_V311 && type == RP_MQTT_CONNACK) {
		return rc < sizeof(connack311_names) / sizeof(connack311_names[0])
			       ? connack311_names[rc]
			       : "unknown return code";
	}
	if (type == RP_MQTT_SUBACK && rc <= 2) {
		return rc == 0 ? "Granted QoS 0" : rc == 1 ? "Granted QoS 1" : "Granted QoS 2";
	}
	if (rc == 0x00) {
		return type == RP_MQTT_DISCONNECT ? "Normal disconnection" : "Success";
	}
	if (rc == 0x04 && type == RP_MQTT_DISCONNECT) {
		return "Disconnect with Will Message";
	}
	for (i = 0; i < sizeof(reason_names) / sizeof(reason_names[0]); i++) {
		if (reason_names[i].code == rc) {
			return reason_names[i].name;
		}
	}
	return "unknown reason code";
}

/* ------------------------------------------------------------------------
 * Fields
 * ------------------------------------------------------------------------ */

void cli_print_hex(FILE *out, const uint8_t *p, size_t n, int indent, size_t per_line)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (i % per_line == 0) {
			fprintf(out, "%*s", indent, "");
		}
		fprintf(out, "%02x", p[i]);
		fputc((i + 1) % per_line == 0 || i + 1 == n ? '\n' : ' ', out);
	}
}

/* One byte of text, escaped: printable ASCII as is, the rest as \xNN. */
static void put_escaped(FILE *out, uint8_t c)
{
	switch (c) {
	case '"':
		fputs("\\\"", out);
		break;
	case '\\':
		fputs("\\\\", out);
		break;
	case '\n':
		fputs("\\n", out);
		break;
	case '\r':
		fputs("\\r", out);
		break;
	case '\t':
		fputs("\\t", out);
		break;
	default:
		if (c >= 0x20 && c < 0x7f) {
			fputc(c, out);
		} else {
			fprintf(out, "\\x%02x", c);
		}
		break;
	}
}

static void print_cut(FILE *out, uint32_t len)
{
	if (len > CLI_SHOW_MAX) {
		fprintf(out, " (first %u of %u bytes)", CLI_SHOW_MAX, (unsigned)len);
	}
}

static void print_text(FILE *out, rp_mqtt_str s)
{
	uint32_t i, n = s.len < CLI_SHOW_MAX ? s.len : CLI_SHOW_MAX;

	fputc('"', out);
	for (i = 0; i < n; i++) {
		put_escaped(out, s.p[i]);
	}
	fputc('"', out);
	if (s.len > n) {
		fputs("...", out);
	}
	print_cut(out, s.len);
}

static void print_binhex(FILE *out, rp_mqtt_bin b)
{
	uint32_t i, n = b.len < CLI_SHOW_MAX ? b.len : CLI_SHOW_MAX;

	if (b.len == 0) {
		fputs("(empty)", out);
		return;
	}
	for (i = 0; i < n; i++) {
		fprintf(out, "%02x", b.p[i]);
	}
	if (b.len > n) {
		fputs("...", out);
	}
	print_cut(out, b.len);
}

static int is_printable(rp_mqtt_bin b)
{
	uint32_t i;

	for (i = 0; i < b.len; i++) {
		uint8_t c = b.p[i];

		if ((c < 0x20 || c >= 0x7f) && c != '\n' && c != '\r' && c != '\t') {
			return 0;
		}
	}
	return 1;
}

static void print_payload(FILE *out, int ind, const char *what, rp_mqtt_bin b)
{
	if (b.len == 0) {
		fprintf(out, "%*s%s: empty\n", ind, "", what);
	} else if (is_printable(b)) {
		fprintf(out, "%*s%s (%u bytes, text): ", ind, "", what, (unsigned)b.len);
		print_text(out, b);
		fputc('\n', out);
	} else {
		fprintf(out, "%*s%s (%u bytes, hex): ", ind, "", what, (unsigned)b.len);
		print_binhex(out, b);
		fputc('\n', out);
	}
}

static void print_field_str(FILE *out, int ind, const char *name, rp_mqtt_str s)
{
	fprintf(out, "%*s%s: ", ind, "", name);
	print_text(out, s);
	fputc('\n', out);
}

static const char *yes_no(unsigned v)
{
	return v ? "yes" : "no";
}

/* ------------------------------------------------------------------------
 * Properties (MQTT 5)
 * ------------------------------------------------------------------------ */

enum prop_kind { K_U8, K_U16, K_U32, K_SECONDS, K_STR, K_BIN, K_SECRET };

struct prop_desc {
	uint8_t id;
	uint8_t kind;
	size_t off;
	const char *name;
};

#define PROP(id, kind, field, name)                                                                \
	{                                                                                          \
		id, kind, offsetof(rp_mqtt_props, field), name                                     \
	}

/* In identifier order, as MQTT 5.0 section 2.2.2.2 lists them. */
static const struct prop_desc prop_descs[] = {
	PROP(RP_MQTT_PROP_PAYLOAD_FORMAT, K_U8, payload_format, "payload format indicator"),
	PROP(RP_MQTT_PROP_MESSAGE_EXPIRY, K_SECONDS, message_expiry, "message expiry interval"),
	PROP(RP_MQTT_PROP_CONTENT_TYPE, K_STR, content_type, "content type"),
	PROP(RP_MQTT_PROP_RESPONSE_TOPIC, K_STR, response_topic, "response topic"),
	PROP(RP_MQTT_PROP_CORRELATION_DATA, K_BIN, correlation_data, "correlation data"),
	PROP(RP_MQTT_PROP_SESSION_EXPIRY, K_SECONDS, session_expiry, "session expiry interval"),
	PROP(RP_MQTT_PROP_ASSIGNED_CLIENT_ID, K_STR, assigned_client_id,
	     "assigned client identifier"),
	PROP(RP_MQTT_PROP_SERVER_KEEPALIVE, K_SECONDS, server_keepalive, "server keep alive"),
	PROP(RP_MQTT_PROP_AUTH_METHOD, K_STR, auth_method, "authentication method"),
	PROP(RP_MQTT_PROP_AUTH_DATA, K_SECRET, auth_data, "authentication data"),
	PROP(RP_MQTT_PROP_REQUEST_PROBLEM_INFO, K_U8, request_problem_info,
	     "request problem information"),
	PROP(RP_MQTT_PROP_WILL_DELAY, K_SECONDS, will_delay, "will delay interval"),
	PROP(RP_MQTT_PROP_REQUEST_RESPONSE_INFO, K_U8, request_response_info,
	     "request response information"),
	PROP(RP_MQTT_PROP_RESPONSE_INFO, K_STR, response_info, "response information"),
	PROP(RP_MQTT_PROP_SERVER_REFERENCE, K_STR, server_reference, "server reference"),
	PROP(RP_MQTT_PROP_REASON_STRING, K_STR, reason_string, "reason string"),
	PROP(RP_MQTT_PROP_RECEIVE_MAX, K_U16, receive_max, "receive maximum"),
	PROP(RP_MQTT_PROP_TOPIC_ALIAS_MAX, K_U16, topic_alias_max, "topic alias maximum"),
	PROP(RP_MQTT_PROP_TOPIC_ALIAS, K_U16, topic_alias, "topic alias"),
	PROP(RP_MQTT_PROP_MAX_QOS, K_U8, max_qos, "maximum QoS"),
	PROP(RP_MQTT_PROP_RETAIN_AVAILABLE, K_U8, retain_available, "retain available"),
	PROP(RP_MQTT_PROP_MAX_PACKET_SIZE, K_U32, max_packet_size, "maximum packet size"),
	PROP(RP_MQTT_PROP_WILDCARD_SUB_AVAILABLE, K_U8, wildcard_sub_available,
	     "wildcard subscription available"),
	PROP(RP_MQTT_PROP_SUB_ID_AVAILABLE, K_U8, sub_id_available,
	     "subscription identifier available"),
	PROP(RP_MQTT_PROP_SHARED_SUB_AVAILABLE, K_U8, shared_sub_available,
	     "shared subscription available"),
};

static void print_prop(FILE *out, int ind, const rp_mqtt_props *pr, const struct prop_desc *d)
{
	const uint8_t *field = (const uint8_t *)pr + d->off;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	rp_mqtt_str s;

	fprintf(out, "%*s%s: ", ind, "", d->name);
	switch (d->kind) {
	case K_U8:
		memcpy(&u8, field, sizeof(u8));
		fprintf(out, "%u", u8);
		if (d->id == RP_MQTT_PROP_PAYLOAD_FORMAT) {
			fputs(u8 ? " (UTF-8 text)" : " (unspecified bytes)", out);
		}
		break;
	case K_U16:
		memcpy(&u16, field, sizeof(u16));
		fprintf(out, "%u", u16);
		break;
	case K_U32:
		memcpy(&u32, field, sizeof(u32));
		fprintf(out, "%lu", (unsigned long)u32);
		break;
	case K_SECONDS:
		if (d->id == RP_MQTT_PROP_SERVER_KEEPALIVE) {
			memcpy(&u16, field, sizeof(u16));
			u32 = u16;
		} else {
			memcpy(&u32, field, sizeof(u32));
		}
		if (d->id == RP_MQTT_PROP_SESSION_EXPIRY && u32 == UINT32_MAX) {
			fputs("never expires", out);
		} else {
			fprintf(out, "%lu s", (unsigned long)u32);
		}
		break;
	case K_STR:
		memcpy(&s, field, sizeof(s));
		print_text(out, s);
		break;
	case K_BIN:
		memcpy(&s, field, sizeof(s));
		print_binhex(out, s);
		break;
	default: /* K_SECRET */
		memcpy(&s, field, sizeof(s));
		fprintf(out, "<%u bytes, not shown>", (unsigned)s.len);
		break;
	}
	fputc('\n', out);
}

static void print_props(FILE *out, int ind, const char *title, const rp_mqtt_props *pr,
			uint8_t version)
{
	int sub = ind + 2;
	size_t i;
	uint32_t cursor = 0;
	uint32_t sub_id;
	rp_mqtt_str name, value;

	if (version != RP_MQTT_V5) {
		return;
	}
	if (pr->present == 0 && pr->user_prop_count == 0 && pr->sub_id_count == 0) {
		fprintf(out, "%*s%s: none\n", ind, "", title);
		return;
	}
	fprintf(out, "%*s%s:\n", ind, "", title);
	for (i = 0; i < sizeof(prop_descs) / sizeof(prop_descs[0]); i++) {
		if (pr->present & RP_MQTT_HAS(prop_descs[i].id)) {
			print_prop(out, sub, pr, &prop_descs[i]);
		}
	}
	while (rp_mqtt_props_next(pr, RP_MQTT_PROP_SUBSCRIPTION_ID, &cursor, NULL, NULL, &sub_id)) {
		fprintf(out, "%*ssubscription identifier: %lu\n", sub, "", (unsigned long)sub_id);
	}
	cursor = 0;
	while (rp_mqtt_props_next(pr, RP_MQTT_PROP_USER, &cursor, &name, &value, NULL) == 1) {
		fprintf(out, "%*suser property: ", sub, "");
		print_text(out, name);
		fputs(" = ", out);
		print_text(out, value);
		fputc('\n', out);
	}
}

/* ------------------------------------------------------------------------
 * Packets
 * ------------------------------------------------------------------------ */

static void print_reason(FILE *out, int ind, uint8_t type, uint8_t version, uint8_t rc)
{
	fprintf(out, "%*s%s: 0x%02x (%s)\n", ind, "",
		version == RP_MQTT_V311 && type == RP_MQTT_CONNACK ? "return code" : "reason code",
		rc, cli_reason_name(type, version, rc));
}

static void print_connect(FILE *out, int ind, const rp_mqtt_connect *k)
{
	int sub = ind + 2;

	fprintf(out, "%*sclean start: %s, keepalive: ", ind, "", yes_no(k->clean_start));
	if (k->keepalive) {
		fprintf(out, "%u s\n", k->keepalive);
	} else {
		fputs("off\n", out);
	}
	print_field_str(out, ind, "client id", k->client_id);
	print_props(out, ind, "properties", &k->props, k->version);
	if (k->will_flag) {
		fprintf(out, "%*swill: qos %u, retain %s\n", ind, "", k->will_qos,
			yes_no(k->will_retain));
		print_field_str(out, sub, "topic", k->will_topic);
		print_props(out, sub, "properties", &k->will_props, k->version);
		print_payload(out, sub, "payload", k->will_payload);
	} else {
		fprintf(out, "%*swill: none\n", ind, "");
	}
	if (k->has_username) {
		print_field_str(out, ind, "username", k->username);
	}
	if (k->has_password) {
		/* A secret: its length only. */
		fprintf(out, "%*spassword: <%u bytes, not shown>\n", ind, "",
			(unsigned)k->password.len);
	}
}

static void print_publish(FILE *out, int ind, const rp_mqtt_publish *p, uint8_t version)
{
	fprintf(out, "%*sqos: %u, retain: %s, dup: %s\n", ind, "", p->qos, yes_no(p->retain),
		yes_no(p->dup));
	if (p->qos) {
		fprintf(out, "%*spacket id: %u\n", ind, "", p->packet_id);
	}
	if (p->topic.len) {
		print_field_str(out, ind, "topic", p->topic);
	} else {
		fprintf(out, "%*stopic: (empty: given by the topic alias)\n", ind, "");
	}
	print_props(out, ind, "properties", &p->props, version);
	print_payload(out, ind, "payload", p->payload);
}

static void print_subscribe(FILE *out, int ind, const rp_mqtt_subscribe *s, int is_sub,
			    uint8_t version)
{
	uint32_t cursor = 0;
	rp_mqtt_sub_entry e;

	fprintf(out, "%*spacket id: %u\n", ind, "", s->packet_id);
	print_props(out, ind, "properties", &s->props, version);
	fprintf(out, "%*s%s (%u):\n", ind, "", is_sub ? "subscriptions" : "filters", s->count);
	while (rp_mqtt_sub_next(s, is_sub, &cursor, &e) == 1) {
		fprintf(out, "%*s  ", ind, "");
		print_text(out, e.filter);
		if (is_sub) {
			fprintf(out, " qos %u", e.qos);
			if (version == RP_MQTT_V5) {
				fprintf(out,
					" (no local: %s, retain as published: %s, "
					"retain handling: %u)",
					yes_no(e.no_local), yes_no(e.retain_as_published),
					e.retain_handling);
			}
		}
		fputc('\n', out);
	}
}

static void print_suback(FILE *out, int ind, const rp_mqtt_suback *s, uint8_t type, uint8_t version)
{
	uint16_t i;

	fprintf(out, "%*spacket id: %u\n", ind, "", s->packet_id);
	print_props(out, ind, "properties", &s->props, version);
	if (s->count == 0) {
		return;
	}
	fprintf(out, "%*sreason codes (%u):\n", ind, "", s->count);
	for (i = 0; i < s->count; i++) {
		fprintf(out, "%*s  0x%02x (%s)\n", ind, "", s->reason_codes[i],
			cli_reason_name(type, version, s->reason_codes[i]));
	}
}

void cli_print_packet(FILE *out, const rp_mqtt_packet *pkt, uint8_t version, size_t size,
		      int indent)
{
	int ind;

	if (pkt->type == RP_MQTT_CONNECT) {
		version = pkt->u.connect.version;
	}
	fprintf(out, "%*s%s, MQTT %s, %zu bytes\n", indent, "", rp_mqtt_type_str(pkt->type),
		version == RP_MQTT_V5 ? "5" : "3.1.1", size);
	ind = indent + 2;

	switch (pkt->type) {
	case RP_MQTT_CONNECT:
		print_connect(out, ind, &pkt->u.connect);
		break;
	case RP_MQTT_CONNACK:
		fprintf(out, "%*ssession present: %s\n", ind, "",
			yes_no(pkt->u.connack.session_present));
		print_reason(out, ind, pkt->type, version, pkt->u.connack.reason_code);
		print_props(out, ind, "properties", &pkt->u.connack.props, version);
		break;
	case RP_MQTT_PUBLISH:
		print_publish(out, ind, &pkt->u.publish, version);
		break;
	case RP_MQTT_PUBACK:
	case RP_MQTT_PUBREC:
	case RP_MQTT_PUBREL:
	case RP_MQTT_PUBCOMP:
		fprintf(out, "%*spacket id: %u\n", ind, "", pkt->u.ack.packet_id);
		if (version == RP_MQTT_V5) {
			print_reason(out, ind, pkt->type, version, pkt->u.ack.reason_code);
		}
		print_props(out, ind, "properties", &pkt->u.ack.props, version);
		break;
	case RP_MQTT_SUBSCRIBE:
	case RP_MQTT_UNSUBSCRIBE:
		print_subscribe(out, ind, &pkt->u.subscribe, pkt->type == RP_MQTT_SUBSCRIBE,
				version);
		break;
	case RP_MQTT_SUBACK:
	case RP_MQTT_UNSUBACK:
		print_suback(out, ind, &pkt->u.suback, pkt->type, version);
		break;
	case RP_MQTT_DISCONNECT:
	case RP_MQTT_AUTH:
		if (version == RP_MQTT_V5) {
			print_reason(out, ind, pkt->type, version, pkt->u.disconnect.reason_code);
			print_props(out, ind, "properties", &pkt->u.disconnect.props, version);
		}
		break;
	default: /* PINGREQ, PINGRESP: nothing but the fixed header */
		break;
	}
}
