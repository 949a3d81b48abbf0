/*
 * rampart/limits.h - every hard limit of Rampart, in one place.
 *
 * Conventions
 * - Each limit is a hard cap: configuration may lower it, never raise it.
 *   A limit that is configurable has an RP_LIMIT_<NAME> cap and, where a
 *   lower default makes sense, an RP_DEFAULT_<NAME>.
 * - Each comment names the attack the limit bounds, so that nobody raises it
 *   without knowing what opens up.
 * - The range checks at the end of this header are compile-time: a cap that
 *   breaks a protocol bound or another cap does not build.
 *
 * This header is part of the portable core (C99, no OS, no allocation).
 */
#ifndef RAMPART_LIMITS_H
#define RAMPART_LIMITS_H

/* ------------------------------------------------------------------------
 * MQTT packets (codec and broker)
 * ------------------------------------------------------------------------ */

/*
 * Largest MQTT packet, fixed header included, that Rampart accepts at all.
 * Bounds: memory exhaustion by one connection announcing a huge remaining
 * length (the protocol allows 256 MiB). 1 MiB holds any telemetry batch or
 * command a device has reason to send; firmware images go over HTTPS.
 */
#define RP_LIMIT_MQTT_PACKET (1u << 20)
/* Default for the above: large SenML batches, small memory per connection. */
#define RP_DEFAULT_MQTT_PACKET (256u * 1024u)

/*
 * Largest packet accepted before CONNECT has been accepted (the CONNECT
 * itself, will message included). Bounds: pre-authentication memory; an
 * unauthenticated peer must not make the server buffer much.
 */
#define RP_LIMIT_MQTT_PREAUTH_PACKET (8u * 1024u)

/*
 * Longest topic name or filter, in bytes. Bounds: CPU and memory of the
 * subscription tree and ACL checks fed with long topics. The protocol allows
 * 65535; Rampart's namespace needs well under 256.
 */
#define RP_LIMIT_MQTT_TOPIC_LEN 1024u
#define RP_DEFAULT_MQTT_TOPIC_LEN 256u

/*
 * Most levels ('/'-separated) in a topic name or filter. Bounds: recursion
 * and per-level work in the subscription tree (deep trees, '+' fan-out).
 */
#define RP_LIMIT_MQTT_TOPIC_LEVELS 32u
#define RP_DEFAULT_MQTT_TOPIC_LEVELS 16u

/*
 * Most user properties in one packet (MQTT 5). Bounds: CPU spent walking
 * thousands of tiny properties in a packet that is otherwise small.
 */
#define RP_LIMIT_MQTT_USER_PROPS 64u
#define RP_DEFAULT_MQTT_USER_PROPS 16u

/*
 * Most topic filters in one SUBSCRIBE or UNSUBSCRIBE. Bounds: the work one
 * packet can cause in the subscription tree and the size of the SUBACK.
 */
#define RP_LIMIT_MQTT_SUB_ENTRIES 64u
#define RP_DEFAULT_MQTT_SUB_ENTRIES 16u

/*
 * Most subscription identifiers carried in one PUBLISH (MQTT 5, server to
 * client, one per matching subscription). Bounds: the size of an outgoing
 * PUBLISH when a client holds many overlapping subscriptions.
 */
#define RP_LIMIT_MQTT_SUB_IDS 32u

/*
 * Longest client identifier the broker keeps. Bounds: memory per session
 * and the session index. Device ids are far shorter.
 */
#define RP_LIMIT_MQTT_CLIENT_ID_LEN 128u

/* ------------------------------------------------------------------------
 * Protocol bounds (facts of the MQTT specifications, not choices)
 * ------------------------------------------------------------------------ */

/* Largest value of a variable byte integer: 4 bytes of 7 bits. */
#define RP_MQTT_VBI_MAX 268435455u
/* Longest UTF-8 string or binary field: a two-byte length. */
#define RP_MQTT_STR_MAX 65535u
/* Fixed header: one type byte and at most four length bytes. */
#define RP_MQTT_FIXED_HEADER_MAX 5u

/* ------------------------------------------------------------------------
 * Range checks: a limit that breaks its protocol bound does not compile.
 * ------------------------------------------------------------------------ */

#define RP_LIMITS_ASSERT_(cond, name) typedef char rp_limits_assert_##name[(cond) ? 1 : -1]

RP_LIMITS_ASSERT_(RP_LIMIT_MQTT_PACKET <= RP_MQTT_VBI_MAX + RP_MQTT_FIXED_HEADER_MAX,
		  packet_fits_vbi);
RP_LIMITS_ASSERT_(RP_DEFAULT_MQTT_PACKET <= RP_LIMIT_MQTT_PACKET, packet_default);
RP_LIMITS_ASSERT_(RP_LIMIT_MQTT_PREAUTH_PACKET <= RP_LIMIT_MQTT_PACKET, preauth_le_packet);
RP_LIMITS_ASSERT_(RP_LIMIT_MQTT_PREAUTH_PACKET >= 128u, preauth_holds_connect);
RP_LIMITS_ASSERT_(RP_LIMIT_MQTT_TOPIC_LEN <= RP_MQTT_STR_MAX, topic_fits_string);
RP_LIMITS_ASSERT_(RP_DEFAULT_MQTT_TOPIC_LEN <= RP_LIMIT_MQTT_TOPIC_LEN, topic_default);
RP_LIMITS_ASSERT_(RP_LIMIT_MQTT_TOPIC_LEVELS <= RP_LIMIT_MQTT_TOPIC_LEN, levels_le_len);
RP_LIMITS_ASSERT_(RP_DEFAULT_MQTT_TOPIC_LEVELS <= RP_LIMIT_MQTT_TOPIC_LEVELS, levels_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_MQTT_USER_PROPS <= RP_LIMIT_MQTT_USER_PROPS, props_default);
RP_LIMITS_ASSERT_(RP_LIMIT_MQTT_USER_PROPS <= 65535u, props_fit_u16);
RP_LIMITS_ASSERT_(RP_DEFAULT_MQTT_SUB_ENTRIES <= RP_LIMIT_MQTT_SUB_ENTRIES, subs_default);
RP_LIMITS_ASSERT_(RP_LIMIT_MQTT_SUB_ENTRIES <= 65535u, subs_fit_u16);
RP_LIMITS_ASSERT_(RP_LIMIT_MQTT_SUB_IDS <= 65535u, subids_fit_u16);
RP_LIMITS_ASSERT_(RP_LIMIT_MQTT_CLIENT_ID_LEN <= RP_MQTT_STR_MAX, client_id_fits_string);

#endif /* RAMPART_LIMITS_H */
