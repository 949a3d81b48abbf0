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
#define RP_LIMIT_MQTT_TOPIC_LEN   1024u
#define RP_DEFAULT_MQTT_TOPIC_LEN 256u

/*
 * Most levels ('/'-separated) in a topic name or filter. Bounds: recursion
 * and per-level work in the subscription tree (deep trees, '+' fan-out).
 */
#define RP_LIMIT_MQTT_TOPIC_LEVELS   32u
#define RP_DEFAULT_MQTT_TOPIC_LEVELS 16u

/*
 * Most user properties in one packet (MQTT 5). Bounds: CPU spent walking
 * thousands of tiny properties in a packet that is otherwise small.
 */
#define RP_LIMIT_MQTT_USER_PROPS   64u
#define RP_DEFAULT_MQTT_USER_PROPS 16u

/*
 * Most topic filters in one SUBSCRIBE or UNSUBSCRIBE. Bounds: the work one
 * packet can cause in the subscription tree and the size of the SUBACK.
 */
#define RP_LIMIT_MQTT_SUB_ENTRIES   64u
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
 * Sockets
 * ------------------------------------------------------------------------ */

/*
 * Kernel send buffer of each broker connection (the kernel doubles it for
 * its bookkeeping). Bounds: the kernel memory one slow or stalled reader
 * can pin (auto-tuning grows it to megabytes), and makes a stalled reader
 * visible to the write_timeout deadline within that many bytes.
 */
#define RP_LIMIT_SOCKET_SNDBUF (128u * 1024u)

/*
 * Bytes read from one connection per event-loop pass before the other
 * connections get their turn. Bounds: starvation of every other client
 * (and of timers) by one connection that keeps its socket full.
 */
#define RP_LIMIT_READ_BUDGET (64u * 1024u)

/*
 * Output the broker engine buffers for one client before it stops taking
 * queued deliveries for it (they wait in the session queue, which has its
 * own bounds). Bounds: memory per slow reader.
 */
#define RP_LIMIT_CLIENT_OUTPUT (256u * 1024u)

/*
 * Output pending for one client above which the network layer stops
 * reading that client (its own requests would only add to it). Bounds:
 * memory a client can make the broker hold by not reading its answers.
 */
#define RP_LIMIT_CLIENT_OUTPUT_PAUSE (1024u * 1024u)

/*
 * Source addresses and identities with their own state (connection
 * counts, connect-rate buckets, refusal counters). Bounds: memory grown by
 * connections from ever new addresses or with ever new identities; past
 * the cap, new addresses are refused until idle ones are swept, and new
 * identities are counted in the totals only.
 */
#define RP_LIMIT_TRACKED_ADDRESSES  100000u
#define RP_LIMIT_TRACKED_IDENTITIES 100000u

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

/* ------------------------------------------------------------------------
 * Broker (rampartd): sessions, connections, rates, deadlines, and the
 * configuration and policy files. Configured in rampartd.conf
 * (docs/configuration.md); each key may lower its cap, never raise it.
 * Durations are in milliseconds (_MS) or seconds (_S) as named.
 * ------------------------------------------------------------------------ */

/*
 * Most event loops (threads). Bounds: thread and per-loop memory explosion
 * from a typo; a machine with more cores gains nothing past this.
 */
#define RP_LIMIT_BROKER_LOOPS 64u

/*
 * Most listeners of each kind (listener.mqtts, listener.mqtt). Bounds: file
 * descriptors and per-listener setup; a node needs one or two addresses.
 */
#define RP_LIMIT_BROKER_LISTENERS 8u

/*
 * Retained messages held by the broker, in all and per device namespace
 * (topics under d/{id}/). Bounds: memory exhaustion by a device that
 * publishes retained messages to ever new topics of its own namespace; the
 * per-device cap keeps one device from using up everyone's share.
 */
#define RP_LIMIT_BROKER_RETAINED            100000u
#define RP_LIMIT_BROKER_RETAINED_PER_DEVICE 64u

/*
 * Most subscriptions one client holds. Bounds: subscription tree memory and
 * fan-out work that one client (a device or a compromised service) can add.
 */
#define RP_LIMIT_BROKER_SUBSCRIPTIONS   1024u
#define RP_DEFAULT_BROKER_SUBSCRIPTIONS 64u

/*
 * In-flight window (QoS 1 and 2 messages not yet acknowledged), each
 * direction; sent as MQTT 5 Receive Maximum. Bounds: memory held per
 * connection by a peer that never acknowledges.
 */
#define RP_LIMIT_BROKER_INFLIGHT   1024u
#define RP_DEFAULT_BROKER_INFLIGHT 32u

/*
 * Messages and bytes queued for one session (offline, or a slow reader).
 * Bounds: memory and storage taken by a session that never drains, one
 * subscriber made slow on purpose, or a flood aimed at an offline device.
 */
#define RP_LIMIT_BROKER_QUEUED_MESSAGES   100000u
#define RP_DEFAULT_BROKER_QUEUED_MESSAGES 1000u
#define RP_LIMIT_BROKER_QUEUED_BYTES      (64u * 1024u * 1024u)
#define RP_DEFAULT_BROKER_QUEUED_BYTES    (1024u * 1024u)

/*
 * Connections in total and from one source address. Bounds: file
 * descriptor and memory exhaustion (a connection flood), and one address
 * (one attacker, one broken device in a reconnect loop) taking them all.
 * The per-address default leaves room for devices behind one NAT.
 */
#define RP_LIMIT_BROKER_CONNECTIONS               1000000u
#define RP_DEFAULT_BROKER_CONNECTIONS             100000u
#define RP_LIMIT_BROKER_CONNECTIONS_PER_ADDRESS   65536u
#define RP_DEFAULT_BROKER_CONNECTIONS_PER_ADDRESS 256u

/*
 * New connections per second from one address (a token bucket: rate and
 * burst). Bounds: TLS handshake CPU spent on one address (handshake
 * flood), and reconnect storms.
 */
#define RP_LIMIT_BROKER_CONNECT_RATE    1000u
#define RP_DEFAULT_BROKER_CONNECT_RATE  10u
#define RP_LIMIT_BROKER_CONNECT_BURST   10000u
#define RP_DEFAULT_BROKER_CONNECT_BURST 50u

/*
 * Messages and bytes per second one device may publish (token buckets:
 * rate and burst). Bounds: one device (compromised, or stuck in a loop)
 * flooding the broker, the store and every subscriber. Over the limit the
 * device is slowed first, then disconnected with reason 0x96.
 */
#define RP_LIMIT_BROKER_MSG_RATE     100000u
#define RP_DEFAULT_BROKER_MSG_RATE   100u
#define RP_LIMIT_BROKER_MSG_BURST    1000000u
#define RP_DEFAULT_BROKER_MSG_BURST  500u
#define RP_LIMIT_BROKER_BYTE_RATE    (1024u * 1024u * 1024u)
#define RP_DEFAULT_BROKER_BYTE_RATE  (1024u * 1024u)
#define RP_LIMIT_BROKER_BYTE_BURST   (256u * 1024u * 1024u)
#define RP_DEFAULT_BROKER_BYTE_BURST (4u * 1024u * 1024u)

/*
 * TLS handshakes in progress at once (whole process). Bounds: CPU and the
 * memory of half-done handshakes under a handshake flood; connections past
 * the bound wait in the kernel's accept queue.
 */
#define RP_LIMIT_BROKER_HANDSHAKES   65536u
#define RP_DEFAULT_BROKER_HANDSHAKES 1024u

/*
 * Deadlines before authentication: for the TLS handshake, and from TCP
 * accept until CONNECT is accepted. Bounds: slowloris (connections opened
 * and fed a byte at a time to hold memory and descriptors).
 */
#define RP_LIMIT_BROKER_HANDSHAKE_TIMEOUT_MS   60000u
#define RP_DEFAULT_BROKER_HANDSHAKE_TIMEOUT_MS 10000u
#define RP_LIMIT_BROKER_CONNECT_TIMEOUT_MS     120000u
#define RP_DEFAULT_BROKER_CONNECT_TIMEOUT_MS   20000u

/*
 * Largest keep alive the server grants, in seconds (MQTT 5 Server Keep
 * Alive; a 3.1.1 client asking for more, or for 0, is held to it). Bounds:
 * descriptors and sessions held by dead peers whose TCP never closes.
 */
#define RP_LIMIT_BROKER_KEEPALIVE_S   65535u
#define RP_DEFAULT_BROKER_KEEPALIVE_S 1200u

/*
 * Longest session expiry the server grants, in seconds. Bounds: memory and
 * storage held by persistent sessions of devices that never come back.
 */
#define RP_LIMIT_BROKER_SESSION_EXPIRY_S   (30u * 24u * 3600u)
#define RP_DEFAULT_BROKER_SESSION_EXPIRY_S (24u * 3600u)

/*
 * How long a socket may refuse to drain before its client is disconnected.
 * Bounds: slow-reader attacks (a subscriber that stops reading so that the
 * broker buffers everything sent to it).
 */
#define RP_LIMIT_BROKER_WRITE_TIMEOUT_MS   600000u
#define RP_DEFAULT_BROKER_WRITE_TIMEOUT_MS 30000u

/*
 * Configuration and policy files (rampartd.conf, the ACL policy): whole
 * file, one line, one path. Bounds: memory and time spent reading a file
 * that is not what it should be (a log, /dev/zero, a huge generated file).
 */
#define RP_LIMIT_CONFIG_FILE_SIZE (1024u * 1024u)
#define RP_LIMIT_CONFIG_LINE_LEN  1024u
#define RP_LIMIT_CONFIG_PATH_LEN  4096u /* terminating NUL included (PATH_MAX) */

/*
 * ACL policy: roles, rules per role, length of a role name. Bounds: the
 * work of one ACL check (linear in the rules of one role) and the policy's
 * memory. Patterns are topic filters: at most RP_LIMIT_MQTT_TOPIC_LEN bytes.
 */
#define RP_LIMIT_POLICY_ROLES     64u
#define RP_LIMIT_POLICY_RULES     64u
#define RP_LIMIT_POLICY_ROLE_NAME 64u

/* Range checks of the broker limits. */
RP_LIMITS_ASSERT_(RP_LIMIT_BROKER_LOOPS >= 1u, loops_min);
RP_LIMITS_ASSERT_(RP_LIMIT_BROKER_LISTENERS >= 1u, listeners_min);
RP_LIMITS_ASSERT_(RP_LIMIT_BROKER_RETAINED_PER_DEVICE <= RP_LIMIT_BROKER_RETAINED, retained_share);
RP_LIMITS_ASSERT_(RP_LIMIT_READ_BUDGET >= 4096u, read_budget_min);
RP_LIMITS_ASSERT_(RP_LIMIT_CLIENT_OUTPUT_PAUSE >= RP_LIMIT_CLIENT_OUTPUT,
		  output_pause_above_engine);
RP_LIMITS_ASSERT_(RP_LIMIT_CLIENT_OUTPUT >= RP_LIMIT_SOCKET_SNDBUF, output_vs_sndbuf);
RP_LIMITS_ASSERT_(RP_DEFAULT_BROKER_SUBSCRIPTIONS <= RP_LIMIT_BROKER_SUBSCRIPTIONS,
		  subscriptions_default);
/* The in-flight window is sent as Receive Maximum, a two-byte integer. */
RP_LIMITS_ASSERT_(RP_LIMIT_BROKER_INFLIGHT <= 65535u, inflight_fits_receive_max);
RP_LIMITS_ASSERT_(RP_DEFAULT_BROKER_INFLIGHT <= RP_LIMIT_BROKER_INFLIGHT, inflight_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_BROKER_QUEUED_MESSAGES <= RP_LIMIT_BROKER_QUEUED_MESSAGES,
		  queued_messages_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_BROKER_QUEUED_BYTES <= RP_LIMIT_BROKER_QUEUED_BYTES,
		  queued_bytes_default);
/* A queue must hold at least one packet of the largest size. */
RP_LIMITS_ASSERT_(RP_DEFAULT_BROKER_QUEUED_BYTES >= RP_LIMIT_MQTT_PACKET, queue_holds_packet);
RP_LIMITS_ASSERT_(RP_DEFAULT_BROKER_CONNECTIONS <= RP_LIMIT_BROKER_CONNECTIONS,
		  connections_default);
RP_LIMITS_ASSERT_(RP_LIMIT_BROKER_CONNECTIONS_PER_ADDRESS <= RP_LIMIT_BROKER_CONNECTIONS,
		  per_address_le_total);
RP_LIMITS_ASSERT_(RP_DEFAULT_BROKER_CONNECTIONS_PER_ADDRESS <=
			  RP_LIMIT_BROKER_CONNECTIONS_PER_ADDRESS,
		  per_address_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_BROKER_CONNECT_RATE <= RP_LIMIT_BROKER_CONNECT_RATE,
		  connect_rate_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_BROKER_CONNECT_BURST <= RP_LIMIT_BROKER_CONNECT_BURST,
		  connect_burst_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_BROKER_MSG_RATE <= RP_LIMIT_BROKER_MSG_RATE, msg_rate_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_BROKER_MSG_BURST <= RP_LIMIT_BROKER_MSG_BURST, msg_burst_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_BROKER_BYTE_RATE <= RP_LIMIT_BROKER_BYTE_RATE, byte_rate_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_BROKER_BYTE_BURST <= RP_LIMIT_BROKER_BYTE_BURST, byte_burst_default);
/* A byte bucket smaller than a packet would never let that packet through. */
RP_LIMITS_ASSERT_(RP_DEFAULT_BROKER_BYTE_BURST >= RP_LIMIT_MQTT_PACKET, byte_burst_holds_packet);
RP_LIMITS_ASSERT_(RP_DEFAULT_BROKER_HANDSHAKES <= RP_LIMIT_BROKER_HANDSHAKES, handshakes_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_BROKER_HANDSHAKE_TIMEOUT_MS <= RP_LIMIT_BROKER_HANDSHAKE_TIMEOUT_MS,
		  handshake_timeout_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_BROKER_CONNECT_TIMEOUT_MS <= RP_LIMIT_BROKER_CONNECT_TIMEOUT_MS,
		  connect_timeout_default);
/* The handshake is part of the time from accept to CONNECT. */
RP_LIMITS_ASSERT_(RP_DEFAULT_BROKER_CONNECT_TIMEOUT_MS >= RP_DEFAULT_BROKER_HANDSHAKE_TIMEOUT_MS,
		  connect_covers_handshake);
/* Keep alive is a two-byte number of seconds in CONNECT and CONNACK. */
RP_LIMITS_ASSERT_(RP_LIMIT_BROKER_KEEPALIVE_S <= 65535u, keepalive_fits_u16);
RP_LIMITS_ASSERT_(RP_DEFAULT_BROKER_KEEPALIVE_S <= RP_LIMIT_BROKER_KEEPALIVE_S, keepalive_default);
/* 0xFFFFFFFF means "never expires" in MQTT 5: the cap must stay below it. */
RP_LIMITS_ASSERT_(RP_LIMIT_BROKER_SESSION_EXPIRY_S < 0xFFFFFFFFu, session_expiry_not_never);
RP_LIMITS_ASSERT_(RP_DEFAULT_BROKER_SESSION_EXPIRY_S <= RP_LIMIT_BROKER_SESSION_EXPIRY_S,
		  session_expiry_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_BROKER_WRITE_TIMEOUT_MS <= RP_LIMIT_BROKER_WRITE_TIMEOUT_MS,
		  write_timeout_default);
RP_LIMITS_ASSERT_(RP_LIMIT_CONFIG_LINE_LEN <= RP_LIMIT_CONFIG_FILE_SIZE, line_le_file);
RP_LIMITS_ASSERT_(RP_LIMIT_CONFIG_PATH_LEN >= 256u, path_room);
RP_LIMITS_ASSERT_(RP_LIMIT_POLICY_ROLES >= 1u && RP_LIMIT_POLICY_RULES >= 1u, policy_min);
RP_LIMITS_ASSERT_(RP_LIMIT_POLICY_RULES <= 65535u, policy_rules_fit_u16);
RP_LIMITS_ASSERT_(RP_LIMIT_POLICY_ROLE_NAME >= 8u, policy_role_name_room);

#endif /* RAMPART_LIMITS_H */
