/*
 * client_int.h - internal to lib/mqtt: what client.c (the calls of the
 * application, output, time) and client_rx.c (input from the server)
 * share. See the implementation notes at the top of client.c.
 */
#ifndef RP_MQTT_CLIENT_INT_H
#define RP_MQTT_CLIENT_INT_H

#include "rampart/limits.h"
#include "rampart/mqtt_client.h"

/* rp_mqttc_slot.kind */
#define RP__MQTTC_PUB   1u /* a QoS 1 or 2 PUBLISH of ours */
#define RP__MQTTC_SUB   2u /* a SUBSCRIBE waiting for SUBACK */
#define RP__MQTTC_UNSUB 3u /* an UNSUBSCRIBE waiting for UNSUBACK */

/* rp_mqttc_slot.stage of a PUBLISH */
#define RP__MQTTC_WAIT_ACK  0u /* PUBLISH sent (or to send): PUBACK or PUBREC next */
#define RP__MQTTC_WAIT_COMP 1u /* PUBREL sent (or to send): PUBCOMP next (QoS 2) */

/* rp_mqttc_slot.flags */
#define RP__MQTTC_UNSENT 0x01u /* the packet of its stage is still to be written */
#define RP__MQTTC_SENT   0x02u /* the PUBLISH was written once: DUP from now on */
#define RP__MQTTC_RETAIN 0x04u

/* The largest packet the protocol can carry: the server's default maximum. */
#define RP__MQTTC_PROTOCOL_MAX (RP_MQTT_VBI_MAX + RP_MQTT_FIXED_HEADER_MAX)

/*
 * Encodes *pkt at the end of the output. Returns RP_OK; RP_E_BUSY when it
 * does not fit in the room left now (the reserve for an answer excluded);
 * RP_E_BUF_TOO_SMALL when it would not fit even in an empty buffer; or
 * the codec's refusal (RP_E_TOO_LARGE over the server's maximum...).
 */
rp_status rp__mqttc_tx(rp_mqttc *c, const rp_mqtt_packet *pkt);

/* Writes an ack-shaped packet (PUBACK, PUBREC, PUBREL, PUBCOMP). */
rp_status rp__mqttc_tx_ack(rp_mqttc *c, uint8_t type, uint16_t packet_id, uint8_t reason_code);

/* Bytes that may be written now. */
size_t rp__mqttc_room(const rp_mqttc *c);

/*
 * Writes what is owed, in order, as far as the output has room: the
 * client's DISCONNECT (and then nothing else), PINGREQ, then the slots
 * whose packet is still to be written, within the server's Receive
 * Maximum.
 */
void rp__mqttc_pump(rp_mqttc *c);

/*
 * The server broke the protocol: state CLOSED, `st` kept as the error,
 * `reason` as the reason code, and under MQTT 5 a DISCONNECT with it
 * queued. Returns st.
 */
rp_status rp__mqttc_fail(rp_mqttc *c, rp_status st, uint8_t reason);

/* The PUBLISH (stage WAIT_ACK) or PUBREL (WAIT_COMP) of a slot. */
void rp__mqttc_slot_packet(const rp_mqttc *c, const rp_mqttc_slot *s, rp_mqtt_packet *pkt);

/* 1 if the packet of a PUBLISH slot fits the server's Maximum Packet Size. */
int rp__mqttc_slot_fits(const rp_mqttc *c, const rp_mqttc_slot *s);

/* Index of the slot of `kind` (0: any) holding packet_id, or -1. */
long rp__mqttc_slot_find(const rp_mqttc *c, uint16_t packet_id, uint8_t kind);

/* Removes slot i, keeping the others in their order. */
void rp__mqttc_slot_remove(rp_mqttc *c, uint16_t i);

#endif /* RP_MQTT_CLIENT_INT_H */
