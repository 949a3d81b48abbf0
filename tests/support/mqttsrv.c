/*
 * mqttsrv.c - a scripted MQTT 5 server over mutual TLS (see mqttsrv.h).
 *
 * One thread per server: the script, then the close of whatever
 * connection it left open. The connection is read into s->rx and each
 * complete frame moved to s->pkt before it is decoded, so the views of a
 * packet stay valid while the script reads the next bytes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <poll.h>

#include <openssl/err.h>

#include "mqttsrv.h"
#include "tlssrv.h"

/* In a function returning int: records the failed condition, returns -1. */
#define CHECK(s, cond)                                                                             \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			mqttsrv_fail((s), "%s:%d: %s", __FILE__, __LINE__, #cond);                 \
			return -1;                                                                 \
		}                                                                                  \
	} while (0)

void mqttsrv_fail(mqttsrv *s, const char *fmt, ...)
{
	va_list ap;

	if (s->failed) {
		return; /* keep the first reason */
	}
	s->failed = 1;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

void mqttsrv_close(mqttsrv *s)
{
	SSL_free(s->ssl);
	s->ssl = NULL;
	if (s->fd >= 0) {
		close(s->fd);
	}
	s->fd = -1;
	s->rx_len = 0;
	s->version = 0;
}

int mqttsrv_accept(mqttsrv *s)
{
	mqttsrv_close(s);
	s->fd = tlssrv_accept(s->lfd, 10000);
	if (s->fd < 0) {
		return -1;
	}
	s->ssl = tlssrv_handshake(s->ctx, s->fd);
	if (s->ssl == NULL) {
		atomic_fetch_add(&s->handshakes_failed, 1);
		mqttsrv_close(s);
		return -1;
	}
	return 0;
}

int mqttsrv_recv(mqttsrv *s, rp_mqtt_packet *pkt, int quiet_ms)
{
	rp_mqtt_limits lim;

	rp_mqtt_limits_default(&lim);
	for (;;) {
		rp_mqtt_frame fr;
		size_t need = 0, n = 0;
		rp_status st = RP_NEED_MORE;

		if (s->rx_len > 0) {
			st = rp_mqtt_frame_parse(s->rx, s->rx_len, s->version, sizeof(s->pkt), &fr,
						 &need);
		}
		if (st == RP_OK) {
			memcpy(s->pkt, s->rx, fr.total);
			memmove(s->rx, s->rx + fr.total, s->rx_len - fr.total);
			s->rx_len -= fr.total;
			st = rp_mqtt_decode(s->pkt, fr.total, s->version, &lim, pkt, NULL);
			if (st != RP_OK) {
				mqttsrv_fail(s, "the device sent an invalid packet: %s",
					     rp_status_str(st));
				return -1;
			}
			if (pkt->type == RP_MQTT_CONNECT) {
				s->version = pkt->u.connect.version;
			}
			return 0;
		}
		if (st != RP_NEED_MORE) {
			mqttsrv_fail(s, "the device sent a bad frame: %s", rp_status_str(st));
			return -1;
		}
		if (s->ssl == NULL) {
			return -1;
		}
		if (quiet_ms > 0 && SSL_pending(s->ssl) == 0) {
			struct pollfd p = {.fd = s->fd, .events = POLLIN};

			if (poll(&p, 1, quiet_ms) == 0) {
				return 1;
			}
		}
		if (SSL_read_ex(s->ssl, s->rx + s->rx_len, sizeof(s->rx) - s->rx_len, &n) != 1) {
			ERR_clear_error();
			return -1;
		}
		s->rx_len += n;
		atomic_fetch_add(&s->mqtt_bytes, n);
	}
}

int mqttsrv_send(mqttsrv *s, const rp_mqtt_packet *pkt)
{
	rp_mqtt_limits lim;
	uint8_t buf[4096];
	size_t n = 0, w = 0;

	rp_mqtt_limits_default(&lim);
	if (rp_mqtt_encode(pkt, RP_MQTT_V5, &lim, buf, sizeof(buf), &n) != RP_OK) {
		mqttsrv_fail(s, "test bug: cannot encode a packet of type %u", pkt->type);
		return -1;
	}
	return s->ssl != NULL && SSL_write_ex(s->ssl, buf, n, &w) == 1 && w == n ? 0 : -1;
}

int mqttsrv_connack(mqttsrv *s, uint8_t session_present, uint8_t rc, const char *reason,
		    uint16_t server_keepalive)
{
	rp_mqtt_packet p;

	memset(&p, 0, sizeof(p));
	p.type = RP_MQTT_CONNACK;
	p.u.connack.session_present = session_present;
	p.u.connack.reason_code = rc;
	if (reason != NULL) {
		p.u.connack.props.present |= RP_MQTT_HAS(RP_MQTT_PROP_REASON_STRING);
		p.u.connack.props.reason_string.p = (const uint8_t *)reason;
		p.u.connack.props.reason_string.len = (uint32_t)strlen(reason);
	}
	if (server_keepalive != 0) {
		p.u.connack.props.present |= RP_MQTT_HAS(RP_MQTT_PROP_SERVER_KEEPALIVE);
		p.u.connack.props.server_keepalive = server_keepalive;
	}
	return mqttsrv_send(s, &p);
}

int mqttsrv_ack(mqttsrv *s, uint8_t type, uint16_t pid, uint8_t rc)
{
	static const uint8_t granted[1] = {1};
	rp_mqtt_packet p;

	memset(&p, 0, sizeof(p));
	p.type = type;
	if (type == RP_MQTT_SUBACK) {
		p.u.suback.packet_id = pid;
		p.u.suback.count = 1;
		p.u.suback.reason_codes = granted;
	} else {
		p.u.ack.packet_id = pid;
		p.u.ack.reason_code = rc;
	}
	return mqttsrv_send(s, &p);
}

int mqttsrv_publish(mqttsrv *s, const char *topic, const char *payload, uint8_t qos, uint16_t pid)
{
	rp_mqtt_packet p;

	memset(&p, 0, sizeof(p));
	p.type = RP_MQTT_PUBLISH;
	p.u.publish.qos = qos;
	p.u.publish.packet_id = pid;
	p.u.publish.topic.p = (const uint8_t *)topic;
	p.u.publish.topic.len = (uint32_t)strlen(topic);
	p.u.publish.payload.p = (const uint8_t *)payload;
	p.u.publish.payload.len = (uint32_t)strlen(payload);
	return mqttsrv_send(s, &p);
}

int mqttsrv_str_is(rp_mqtt_str v, const char *want)
{
	return v.len == strlen(want) && memcmp(v.p, want, v.len) == 0;
}

int mqttsrv_expect_connect(mqttsrv *s, uint8_t session_present)
{
	rp_mqtt_packet p;
	const rp_mqtt_connect *c = &p.u.connect;

	CHECK(s, mqttsrv_accept(s) == 0);
	CHECK(s, mqttsrv_recv(s, &p, 0) == 0);
	CHECK(s, p.type == RP_MQTT_CONNECT);
	CHECK(s, c->version == RP_MQTT_V5);
	CHECK(s, c->clean_start == 0); /* always resume */
	CHECK(s, c->keepalive == MQTTSRV_KEEPALIVE);
	CHECK(s, mqttsrv_str_is(c->client_id, MQTTSRV_CLIENT_ID));
	CHECK(s, (c->props.present & RP_MQTT_HAS(RP_MQTT_PROP_SESSION_EXPIRY)) != 0);
	CHECK(s, c->props.session_expiry == MQTTSRV_SESSION_EXPIRY);
	CHECK(s, !c->will_flag && !c->has_username && !c->has_password);
	CHECK(s, mqttsrv_connack(s, session_present, 0, NULL, 0) == 0);
	return 0;
}

int mqttsrv_check_subscribe(mqttsrv *s, const rp_mqtt_packet *p)
{
	rp_mqtt_sub_entry e;
	uint32_t cur = 0;

	CHECK(s, p->type == RP_MQTT_SUBSCRIBE);
	CHECK(s, p->u.subscribe.count == 1);
	CHECK(s, rp_mqtt_sub_next(&p->u.subscribe, 1, &cur, &e) == 1);
	CHECK(s, mqttsrv_str_is(e.filter, MQTTSRV_COMMAND_FILTER));
	CHECK(s, e.qos == 1);
	CHECK(s, e.retain_handling == 1);
	CHECK(s, mqttsrv_ack(s, RP_MQTT_SUBACK, p->u.subscribe.packet_id, 0) == 0);
	return 0;
}

int mqttsrv_expect_subscribe(mqttsrv *s)
{
	rp_mqtt_packet p;

	CHECK(s, mqttsrv_recv(s, &p, 0) == 0);
	return mqttsrv_check_subscribe(s, &p);
}

static void *server_main(void *arg)
{
	mqttsrv *s = arg;

	tlssrv_block_sigpipe(); /* EPIPE here, not a signal */
	s->script(s);
	mqttsrv_close(s);
	atomic_store(&s->finished, 1);
	return NULL;
}

int mqttsrv_start(mqttsrv *s, const testpki_id *server, const testpki_id *client_ca,
		  mqttsrv_script script)
{
	s->script = script;
	s->fd = -1;
	s->ctx = tlssrv_ctx(server, client_ca);
	if (s->ctx == NULL) {
		return -1;
	}
	s->lfd = tlssrv_listen(&s->port);
	if (s->lfd < 0) {
		SSL_CTX_free(s->ctx);
		return -1;
	}
	if (pthread_create(&s->thread, NULL, server_main, s) != 0) {
		fprintf(stderr, "mqttsrv: pthread_create failed\n");
		close(s->lfd);
		SSL_CTX_free(s->ctx);
		return -1;
	}
	return 0;
}

int mqttsrv_finish(mqttsrv *s)
{
	int joined = pthread_join(s->thread, NULL) == 0;

	close(s->lfd);
	SSL_CTX_free(s->ctx);
	if (!joined) {
		mqttsrv_fail(s, "pthread_join failed");
	}
	if (s->failed) {
		fprintf(stderr, "server script: %s\n", s->why);
		return -1;
	}
	return 0;
}
