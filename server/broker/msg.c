/*
 * msg.c - published messages: one copy, shared by reference.
 *
 * The publisher's topic, payload and property block are copied into one
 * allocation; the decoded views are rebased onto the copy, so queues and
 * the retained store never point into a connection's receive buffer.
 */
#include <string.h>

#include "broker/internal.h"

/* Moves a view that pointed into [from, from + n) to the same place in to. */
static void rebase(rp_mqtt_str *s, const uint8_t *from, uint32_t n, const uint8_t *to)
{
	if (s->p != NULL && s->p >= from && s->p < from + n) {
		s->p = to + (s->p - from);
	}
}

rp_msg *rp__msg_new(const rp_mqtt_publish *pub, const rp_mqtt_str *topic, uint64_t now_ms)
{
	const rp_mqtt_props *pp = &pub->props;
	size_t size = sizeof(rp_msg) + (size_t)topic->len + pub->payload.len + pp->raw_len;
	rp_msg *m = rp_alloc(NULL, size);
	uint8_t *w;

	if (m == NULL) {
		return NULL;
	}
	m->refs = 1;
	m->created_ms = now_ms;
	m->size = size;
	m->pub = *pub;
	w = m->data;
	if (topic->len != 0) {
		memcpy(w, topic->p, topic->len);
	}
	m->pub.topic.p = w;
	m->pub.topic.len = topic->len;
	w += topic->len;
	if (pub->payload.len != 0) {
		memcpy(w, pub->payload.p, pub->payload.len);
	}
	m->pub.payload.p = pub->payload.len != 0 ? w : NULL;
	w += pub->payload.len;
	if (pp->raw_len != 0) {
		rp_mqtt_props *np = &m->pub.props;

		memcpy(w, pp->raw, pp->raw_len);
		np->raw = w;
		rebase(&np->content_type, pp->raw, pp->raw_len, w);
		rebase(&np->response_topic, pp->raw, pp->raw_len, w);
		rebase(&np->correlation_data, pp->raw, pp->raw_len, w);
	}
	/* A topic alias belongs to the publisher's connection only. */
	m->pub.props.present &= ~RP_MQTT_HAS(RP_MQTT_PROP_TOPIC_ALIAS);
	m->pub.props.topic_alias = 0;
	m->pub.dup = 0;
	m->pub.packet_id = 0;
	return m;
}

void rp__msg_ref(rp_msg *m)
{
	m->refs++;
}

void rp__msg_unref(rp_msg *m)
{
	if (m != NULL && --m->refs == 0) {
		rp_free(NULL, m);
	}
}

int rp__msg_expired(const rp_msg *m, uint64_t now_ms)
{
	const rp_mqtt_props *p = &m->pub.props;

	if (!(p->present & RP_MQTT_HAS(RP_MQTT_PROP_MESSAGE_EXPIRY))) {
		return 0;
	}
	return now_ms - m->created_ms >= (uint64_t)p->message_expiry * 1000u;
}
