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

/*
 * An alert of one kind for one identity is stored at most this often
 * (server/core/alerts.c). Bounds: a cloned credential whose two copies keep
 * taking each other's connection over, or any repeating event, flooding the
 * store and the operators' alert list; later ones are still logged.
 */
#define RP_LIMIT_ALERT_REPEAT_MS 60000u

/* ------------------------------------------------------------------------
 * Range checks: a limit that breaks its protocol bound does not compile.
 * ------------------------------------------------------------------------ */

#define RP_LIMITS_ASSERT_(cond, name) typedef char rp_limits_assert_##name[(cond) ? 1 : -1]

RP_LIMITS_ASSERT_(RP_LIMIT_ALERT_REPEAT_MS >= 1000u && RP_LIMIT_ALERT_REPEAT_MS <= 3600000u,
		  alert_repeat_between_a_second_and_an_hour);

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
 * File descriptors an event loop can watch: those below this number (the
 * loops' watcher table, server/loop/loop.c, is a static directory over
 * them, 32 KiB). Bounds: that directory; a multiple of 1,024 that leaves
 * room above the most connections for listeners, the store and the API.
 */
#define RP_LIMIT_LOOP_FDS (4096u * 1024u)

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
RP_LIMITS_ASSERT_(RP_LIMIT_LOOP_FDS >= 2u * RP_LIMIT_BROKER_CONNECTIONS, loop_fds_hold_connections);
RP_LIMITS_ASSERT_(RP_LIMIT_LOOP_FDS % 1024u == 0u, loop_fds_whole_pages);
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

/* ------------------------------------------------------------------------
 * Telemetry (SenML, RFC 8428): the strict parser of server/telemetry/senml.h
 * (docs/telemetry.md). A payload past any of these is refused whole
 * (MQTT 5: PUBACK 0x99 Payload format invalid); nothing of it is stored.
 * ------------------------------------------------------------------------ */

/*
 * Largest SenML payload (JSON or CBOR) accepted, in bytes. Bounds: parse
 * time and the memory of the decoded tree (JSON grows several-fold when
 * decoded) per message. Checked before any byte is decoded.
 */
#define RP_LIMIT_SENML_PAYLOAD (256u * 1024u)

/*
 * Most records in one pack. Bounds: rows written to the store by one
 * message (one PUBLISH must not stall the storage thread's batch), and the
 * output array allocated from the record count announced up front.
 */
#define RP_LIMIT_SENML_RECORDS 4096u

/*
 * Most fields (known labels and ignored extensions together) in one
 * record. Bounds: CPU of the duplicate-label checks and the hash table
 * memory of a record made of thousands of ignored keys.
 */
#define RP_LIMIT_SENML_FIELDS 32u

/*
 * Longest resolved name (base name + name), in bytes. Bounds: the row size
 * and index memory of the store; a base name repeated on every record
 * cannot blow one payload up into megabytes of names.
 */
#define RP_LIMIT_SENML_NAME_LEN 256u

/*
 * Longest unit (u, bu), in bytes. Bounds: per-row storage of a field that
 * the registry keeps short ("Cel", "%RH", "beat/min").
 */
#define RP_LIMIT_SENML_UNIT_LEN 32u

/*
 * Longest string value (vs, bytes of UTF-8) and data value (vd, bytes after
 * base64url decoding). Bounds: per-row storage; telemetry is not a file
 * transfer channel (firmware and files go over HTTPS).
 */
#define RP_LIMIT_SENML_STRING_LEN 4096u
#define RP_LIMIT_SENML_DATA_LEN   4096u

/*
 * Longest JSON number token, in characters. Bounds: the time strtod()
 * spends on a number of thousands of digits. RFC 8428 section 5 asks for
 * mantissas under 19 and exponents under 5 characters.
 */
#define RP_LIMIT_SENML_NUMBER_LEN 64u

/*
 * Latest resolved time accepted, in milliseconds since the Unix epoch
 * (9999-12-31T23:59:59.999Z); the earliest is the epoch itself. Bounds:
 * integer overflow in time arithmetic and the date functions of the store.
 */
#define RP_LIMIT_SENML_TIME_MAX_MS 253402300799999LL

/* Protocol facts of RFC 8428, not choices. */
/* Highest SenML version (bver) understood; a higher one is refused. */
#define RP_SENML_VERSION 10u
/* Times below 2**28 seconds are relative to "now" (RFC 8428, 4.5.3). */
#define RP_SENML_RELATIVE_TIME_S 268435456.0

/* Range checks of the telemetry limits. */
RP_LIMITS_ASSERT_(RP_LIMIT_SENML_PAYLOAD <= RP_LIMIT_MQTT_PACKET, senml_payload_fits_packet);
RP_LIMITS_ASSERT_(RP_LIMIT_SENML_RECORDS >= 1u, senml_records_min);
/* A JSON record takes at least 3 bytes ("{}," ), a CBOR one at least 1. */
RP_LIMITS_ASSERT_(RP_LIMIT_SENML_RECORDS <= RP_LIMIT_SENML_PAYLOAD, senml_records_le_payload);
/* Room for every label of RFC 8428 (15) in one record. */
RP_LIMITS_ASSERT_(RP_LIMIT_SENML_FIELDS >= 15u && RP_LIMIT_SENML_FIELDS <= 255u, senml_fields);
RP_LIMITS_ASSERT_(RP_LIMIT_SENML_NAME_LEN >= 64u && RP_LIMIT_SENML_NAME_LEN <= 65535u,
		  senml_name_len);
RP_LIMITS_ASSERT_(RP_LIMIT_SENML_UNIT_LEN >= 8u && RP_LIMIT_SENML_UNIT_LEN <= 255u, senml_unit_len);
RP_LIMITS_ASSERT_(RP_LIMIT_SENML_STRING_LEN <= RP_LIMIT_SENML_PAYLOAD, senml_string_le_payload);
RP_LIMITS_ASSERT_(RP_LIMIT_SENML_DATA_LEN <= RP_LIMIT_SENML_PAYLOAD, senml_data_le_payload);
/* Room for any double written out in full ("-1.7976931348623157e308" is 23). */
RP_LIMITS_ASSERT_(RP_LIMIT_SENML_NUMBER_LEN >= 32u && RP_LIMIT_SENML_NUMBER_LEN <= 1024u,
		  senml_number_len);
/* Times stay exact in a double (2**53) and far from int64 overflow. */
RP_LIMITS_ASSERT_(RP_LIMIT_SENML_TIME_MAX_MS < 9007199254740992LL, senml_time_exact_in_double);

/* ------------------------------------------------------------------------
 * Operators: passwords, TOTP, tokens, sessions, login throttling
 * (server/auth/{password,totp,secret,throttle,role}; docs/operators.md).
 * Besides caps (RP_LIMIT_) and defaults (RP_DEFAULT_) this section has
 * floors (RP_MIN_): security parameters that configuration may raise but
 * never lower. Fixed formats (never configured) have neither prefix.
 * ------------------------------------------------------------------------ */

/*
 * Longest operator (account) name, in bytes. Bounds: memory of the login
 * throttle's per-account table and the length of log lines, both fed with
 * names that an unauthenticated client chooses.
 */
#define RP_LIMIT_OPERATOR_NAME_LEN 64u

/*
 * Operator-chosen passwords: at least RP_MIN_PASSWORD_CHARS characters
 * (code points), at most RP_LIMIT_PASSWORD_LEN bytes. The floor bounds
 * online and offline guessing; the cap bounds the bytes a login request
 * makes the server copy and hash (no longer password is ever verified).
 */
#define RP_MIN_PASSWORD_CHARS 12u
#define RP_LIMIT_PASSWORD_LEN 256u

/*
 * Length of a generated password (rampart init), from a 56-symbol alphabet
 * without look-alikes: 24 x 5.8 = 139 bits. Bounds: guessing of the first
 * operator's password, which nobody chose.
 */
#define RP_PASSWORD_GENERATED_LEN 24u

/*
 * Argon2id cost: memory in KiB (m), passes (t), lanes (p). The caps are
 * checked on a stored PHC string before Argon2 runs. Bounds: CPU and
 * memory of one verify when the stored hash is corrupt or was written by
 * an attacker (m=4 GiB would otherwise be allocated on every login). The
 * floors bound offline guessing after a leak of the store (OWASP's
 * minimum: m=19 MiB, t=2). Defaults: RFC 9106's second choice (64 MiB,
 * t=3) with one lane, about 150 ms per hash (docs/operators.md).
 */
#define RP_LIMIT_ARGON2_M_KIB   (256u * 1024u)
#define RP_DEFAULT_ARGON2_M_KIB (64u * 1024u)
#define RP_MIN_ARGON2_M_KIB     (19u * 1024u)
#define RP_LIMIT_ARGON2_T       10u
#define RP_DEFAULT_ARGON2_T     3u
#define RP_MIN_ARGON2_T         2u
#define RP_LIMIT_ARGON2_P       4u
#define RP_DEFAULT_ARGON2_P     1u

/*
 * Salt and tag written by rampartd, and the longest accepted when reading
 * a stored hash (with the shortest: 8-byte salts, 16-byte tags). Bounds:
 * the stack buffers of the PHC parser, and weak tags in a doctored store.
 */
#define RP_ARGON2_SALT_LEN       16u
#define RP_ARGON2_HASH_LEN       32u
#define RP_ARGON2_SALT_MIN_LEN   8u
#define RP_ARGON2_HASH_MIN_LEN   16u
#define RP_LIMIT_ARGON2_SALT_LEN 64u
#define RP_LIMIT_ARGON2_HASH_LEN 64u

/*
 * Longest PHC string ("$argon2id$v=19$m=...,t=...,p=...$salt$hash"),
 * terminating NUL excluded. Bounds: the work of the PHC parser on a
 * stored string that is not what it should be.
 */
#define RP_LIMIT_PHC_LEN 256u

/*
 * Argon2 computations running at once in the process (hash and verify).
 * Bounds: memory and CPU under a login flood from many addresses: each
 * takes m KiB (2 x 64 MiB = 128 MiB) and a core; more at once than cores
 * only adds latency. A login past the bound is answered "busy" (503) and
 * does not count as an attempt. Set it to the number of cores.
 */
#define RP_LIMIT_PASSWORD_HASHES   16u
#define RP_DEFAULT_PASSWORD_HASHES 2u

/*
 * TOTP (RFC 6238): length of a generated key (160 bits, RFC 4226's
 * recommendation), longest key accepted, longest step, and the steps of
 * clock skew accepted each side of now. Bounds: the skew is guessing, since
 * every accepted step is one more valid code (3 in 10^6 at +-1); the key
 * cap bounds the HMAC key buffer.
 */
#define RP_TOTP_KEY_LEN        20u
#define RP_LIMIT_TOTP_KEY_LEN  64u
#define RP_LIMIT_TOTP_PERIOD_S 60u
#define RP_LIMIT_TOTP_SKEW     2u
#define RP_DEFAULT_TOTP_SKEW   1u

/*
 * Opaque bearer tokens (API tokens, web sessions, CSRF tokens): random
 * bytes in each. 256 bits make guessing hopeless, which is why a fast hash
 * (SHA-256) is enough to store them (docs/operators.md).
 */
#define RP_TOKEN_RANDOM_LEN 32u

/*
 * Lifetime of an API token; every token has an expiry. Bounds: the window
 * in which a leaked automation token is useful.
 */
#define RP_LIMIT_API_TOKEN_LIFETIME_S   (366u * 24u * 3600u)
#define RP_DEFAULT_API_TOKEN_LIFETIME_S (90u * 24u * 3600u)

/*
 * Web session: idle timeout and absolute lifetime. Bounds: the use of a
 * stolen session cookie or of a console left open.
 */
#define RP_LIMIT_SESSION_IDLE_S       (12u * 3600u)
#define RP_DEFAULT_SESSION_IDLE_S     (30u * 60u)
#define RP_LIMIT_SESSION_LIFETIME_S   (24u * 3600u)
#define RP_DEFAULT_SESSION_LIFETIME_S (12u * 3600u)

/*
 * Login throttle. Entries: accounts, and addresses (IPv6 by /64), each
 * table. Bounds: memory grown by failures for ever new names or from ever
 * new addresses; past the cap the oldest idle entries are evicted.
 */
#define RP_LIMIT_THROTTLE_ENTRIES   100000u
#define RP_DEFAULT_THROTTLE_ENTRIES 10000u

/*
 * Consecutive failures before the first lock, per account and per address
 * (an address is shared by a NAT, so it gets more). Bounds: online
 * password and TOTP guessing: past these, one guess per lock period.
 */
#define RP_LIMIT_THROTTLE_ACCOUNT_FAILURES   10u
#define RP_DEFAULT_THROTTLE_ACCOUNT_FAILURES 5u
#define RP_LIMIT_THROTTLE_ADDRESS_FAILURES   100u
#define RP_DEFAULT_THROTTLE_ADDRESS_FAILURES 20u

/*
 * Lock durations: the first, doubling with each further failure up to the
 * longest. The longest is capped because a lock is also a denial of
 * service against the real operator, whom an attacker can lock out.
 * Failures are forgotten after a quiet time with none (and no lock).
 */
#define RP_DEFAULT_THROTTLE_LOCK_S     60u
#define RP_DEFAULT_THROTTLE_LOCK_MAX_S 3600u
#define RP_LIMIT_THROTTLE_LOCK_MAX_S   (24u * 3600u)
#define RP_DEFAULT_THROTTLE_QUIET_S    (24u * 3600u)
#define RP_LIMIT_THROTTLE_QUIET_S      (30u * 24u * 3600u)

/*
 * Longest address key (text, IPv6 /64 prefix included). Bounds: the key
 * buffers of the throttle and of its log lines.
 */
#define RP_LIMIT_THROTTLE_ADDRESS_LEN 64u

/* Range checks of the operator limits. */
RP_LIMITS_ASSERT_(RP_MIN_PASSWORD_CHARS >= 8u, password_floor_nist);
/* Every character is at least one byte, at most four. */
RP_LIMITS_ASSERT_(RP_LIMIT_PASSWORD_LEN >= 4u * RP_MIN_PASSWORD_CHARS, password_cap_room);
RP_LIMITS_ASSERT_(RP_PASSWORD_GENERATED_LEN >= 20u, generated_password_strength);
RP_LIMITS_ASSERT_(RP_PASSWORD_GENERATED_LEN <= RP_LIMIT_PASSWORD_LEN, generated_password_fits);
RP_LIMITS_ASSERT_(RP_MIN_ARGON2_M_KIB <= RP_DEFAULT_ARGON2_M_KIB, argon2_m_floor);
RP_LIMITS_ASSERT_(RP_DEFAULT_ARGON2_M_KIB <= RP_LIMIT_ARGON2_M_KIB, argon2_m_default);
RP_LIMITS_ASSERT_(RP_MIN_ARGON2_T <= RP_DEFAULT_ARGON2_T, argon2_t_floor);
RP_LIMITS_ASSERT_(RP_DEFAULT_ARGON2_T <= RP_LIMIT_ARGON2_T, argon2_t_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_ARGON2_P >= 1u && RP_DEFAULT_ARGON2_P <= RP_LIMIT_ARGON2_P,
		  argon2_p_default);
/* Argon2 needs 8 KiB per lane at least. */
RP_LIMITS_ASSERT_(RP_MIN_ARGON2_M_KIB >= 8u * RP_LIMIT_ARGON2_P, argon2_m_per_lane);
RP_LIMITS_ASSERT_(RP_ARGON2_SALT_MIN_LEN >= 8u && RP_ARGON2_SALT_MIN_LEN <= RP_ARGON2_SALT_LEN,
		  argon2_salt_min);
RP_LIMITS_ASSERT_(RP_ARGON2_SALT_LEN <= RP_LIMIT_ARGON2_SALT_LEN, argon2_salt_cap);
RP_LIMITS_ASSERT_(RP_ARGON2_HASH_MIN_LEN >= 16u && RP_ARGON2_HASH_MIN_LEN <= RP_ARGON2_HASH_LEN,
		  argon2_hash_min);
RP_LIMITS_ASSERT_(RP_ARGON2_HASH_LEN <= RP_LIMIT_ARGON2_HASH_LEN, argon2_hash_cap);
/* The longest PHC string: 25 bytes of fixed text, three 10-digit numbers, base64 of both. */
RP_LIMITS_ASSERT_(RP_LIMIT_PHC_LEN >= 25u + 30u + (RP_LIMIT_ARGON2_SALT_LEN * 4u + 2u) / 3u +
					      (RP_LIMIT_ARGON2_HASH_LEN * 4u + 2u) / 3u,
		  phc_holds_caps);
RP_LIMITS_ASSERT_(RP_DEFAULT_PASSWORD_HASHES >= 1u &&
			  RP_DEFAULT_PASSWORD_HASHES <= RP_LIMIT_PASSWORD_HASHES,
		  password_hashes_default);
RP_LIMITS_ASSERT_(RP_TOTP_KEY_LEN >= 16u && RP_TOTP_KEY_LEN <= RP_LIMIT_TOTP_KEY_LEN, totp_key);
RP_LIMITS_ASSERT_(RP_DEFAULT_TOTP_SKEW <= RP_LIMIT_TOTP_SKEW, totp_skew_default);
RP_LIMITS_ASSERT_(RP_LIMIT_TOTP_PERIOD_S >= 30u, totp_period_room);
RP_LIMITS_ASSERT_(RP_TOKEN_RANDOM_LEN >= 32u, token_256_bits);
RP_LIMITS_ASSERT_(RP_DEFAULT_API_TOKEN_LIFETIME_S <= RP_LIMIT_API_TOKEN_LIFETIME_S,
		  api_token_lifetime_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_SESSION_IDLE_S <= RP_LIMIT_SESSION_IDLE_S, session_idle_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_SESSION_LIFETIME_S <= RP_LIMIT_SESSION_LIFETIME_S,
		  session_lifetime_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_SESSION_IDLE_S <= RP_DEFAULT_SESSION_LIFETIME_S,
		  session_idle_within_lifetime);
RP_LIMITS_ASSERT_(RP_DEFAULT_THROTTLE_ENTRIES >= 1u &&
			  RP_DEFAULT_THROTTLE_ENTRIES <= RP_LIMIT_THROTTLE_ENTRIES,
		  throttle_entries_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_THROTTLE_ACCOUNT_FAILURES >= 1u &&
			  RP_DEFAULT_THROTTLE_ACCOUNT_FAILURES <=
				  RP_LIMIT_THROTTLE_ACCOUNT_FAILURES,
		  throttle_account_failures_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_THROTTLE_ADDRESS_FAILURES >= 1u &&
			  RP_DEFAULT_THROTTLE_ADDRESS_FAILURES <=
				  RP_LIMIT_THROTTLE_ADDRESS_FAILURES,
		  throttle_address_failures_default);
/* A shared address must not lock before one of its accounts does. */
RP_LIMITS_ASSERT_(RP_DEFAULT_THROTTLE_ADDRESS_FAILURES >= RP_DEFAULT_THROTTLE_ACCOUNT_FAILURES,
		  throttle_address_above_account);
RP_LIMITS_ASSERT_(RP_DEFAULT_THROTTLE_LOCK_S >= 1u &&
			  RP_DEFAULT_THROTTLE_LOCK_S <= RP_DEFAULT_THROTTLE_LOCK_MAX_S,
		  throttle_lock_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_THROTTLE_LOCK_MAX_S <= RP_LIMIT_THROTTLE_LOCK_MAX_S,
		  throttle_lock_max_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_THROTTLE_QUIET_S <= RP_LIMIT_THROTTLE_QUIET_S, throttle_quiet_default);
/* Failures must outlive the longest lock, or a lock would forget its own cause. */
RP_LIMITS_ASSERT_(RP_DEFAULT_THROTTLE_QUIET_S >= RP_DEFAULT_THROTTLE_LOCK_MAX_S,
		  throttle_quiet_outlives_lock);
/* INET6_ADDRSTRLEN (46) and "/64". */
RP_LIMITS_ASSERT_(RP_LIMIT_THROTTLE_ADDRESS_LEN >= 49u, throttle_address_room);

/* ------------------------------------------------------------------------
 * PKI (server/pki): CSRs, certificate lifetimes, CRLs, EST responses.
 * Durations in seconds. The engine refuses values outside these bounds
 * (RP_E_INVALID_ARG); configuration and the CLI may choose within them.
 * ------------------------------------------------------------------------ */

/*
 * Largest CSR accepted, checked before anything is decoded or allocated:
 * the DER, and its text forms (base64 with line breaks as EST sends it,
 * PEM). Bounds: memory and ASN.1 parsing work one enrollment request can
 * cost (a request stuffed with extensions or attributes). An EC CSR is
 * 250 to 500 bytes of DER.
 */
#define RP_LIMIT_PKI_CSR_DER     4096u
#define RP_LIMIT_PKI_CSR_ENCODED 8192u

/*
 * Longest device id and fleet name, in bytes (ASCII). Bounds: the size of
 * the CN (X.520 ub-common-name is 64), of the SAN URI, of the topic level
 * d/{id}/ and of the file and store keys made from them.
 */
#define RP_LIMIT_PKI_DEVICE_ID_LEN  64u
#define RP_LIMIT_PKI_FLEET_NAME_LEN 32u

/*
 * Device certificate lifetime. The cap bounds how long a stolen device key
 * keeps working where a revocation is not seen (a relying party without
 * the CRL); renewal is automatic, so short is cheap. The minimum bounds
 * renewal load: every device re-enrolling every few minutes costs issuing
 * CPU, store writes and CRL growth.
 */
#define RP_LIMIT_PKI_DEVICE_VALIDITY_S     (365u * 86400u)
#define RP_DEFAULT_PKI_DEVICE_VALIDITY_S   (30u * 86400u)
#define RP_LIMIT_PKI_DEVICE_VALIDITY_MIN_S 3600u

/*
 * Server (TLS listener) certificate lifetime. Bounds: the exposure of a
 * server key that leaked; 398 days is the public Web PKI's bound.
 */
#define RP_LIMIT_PKI_SERVER_VALIDITY_S   (398u * 86400u)
#define RP_DEFAULT_PKI_SERVER_VALIDITY_S (365u * 86400u)

/*
 * Issuing CA lifetime. Bounds: how long one online signing key (it lives
 * on the server) is used before it must be rotated.
 */
#define RP_LIMIT_PKI_ISSUING_VALIDITY_S   (10u * 365u * 86400u)
#define RP_DEFAULT_PKI_ISSUING_VALIDITY_S (5u * 365u * 86400u)

/*
 * Fleet root lifetime. Bounds: the life of a key that cannot be revoked,
 * only replaced on every device; it stays offline.
 */
#define RP_LIMIT_PKI_ROOT_VALIDITY_S   (30u * 365u * 86400u)
#define RP_DEFAULT_PKI_ROOT_VALIDITY_S (20u * 365u * 86400u)

/*
 * CRL nextUpdate, from thisUpdate. The cap bounds how long a CRL that
 * misses a revocation stays acceptable to whoever caches it. The minimum
 * bounds the refresh load and the outage risk: rampartd refuses every
 * handshake once its CRL has expired (fail closed).
 */
#define RP_LIMIT_PKI_CRL_NEXT_UPDATE_S     (31u * 86400u)
#define RP_DEFAULT_PKI_CRL_NEXT_UPDATE_S   (7u * 86400u)
#define RP_LIMIT_PKI_CRL_NEXT_UPDATE_MIN_S 3600u

/*
 * Entries of one CRL. Bounds: the CRL every node loads and searches at
 * each handshake (about 40 bytes an entry). Device certificates live 30
 * days and leave the list once expired, so a fleet needs far less.
 */
#define RP_LIMIT_PKI_CRL_ENTRIES 1000000u

/*
 * subjectAltName entries of the server certificate, and certificates in one
 * EST certs-only response. Bounds: the size of the certificate sent in
 * every handshake, and of an EST response.
 */
#define RP_LIMIT_PKI_SERVER_SANS 32u
#define RP_LIMIT_PKI_P7_CERTS    8u

/* Range checks of the PKI limits. */
RP_LIMITS_ASSERT_(RP_LIMIT_PKI_CSR_DER <= RP_LIMIT_PKI_CSR_ENCODED, csr_encoded_ge_der);
/* The base64 of a CSR of the DER cap, with line breaks, fits the text cap. */
RP_LIMITS_ASSERT_((RP_LIMIT_PKI_CSR_DER + 2u) / 3u * 4u * 66u / 64u <= RP_LIMIT_PKI_CSR_ENCODED,
		  csr_encoded_holds_der);
/* A device id is a client id and a CN: both bounds apply. */
RP_LIMITS_ASSERT_(RP_LIMIT_PKI_DEVICE_ID_LEN <= RP_LIMIT_MQTT_CLIENT_ID_LEN,
		  device_id_is_client_id);
RP_LIMITS_ASSERT_(RP_LIMIT_PKI_DEVICE_ID_LEN <= 64u, device_id_fits_cn);
RP_LIMITS_ASSERT_(RP_LIMIT_PKI_FLEET_NAME_LEN >= 1u, fleet_name_min);
RP_LIMITS_ASSERT_(RP_LIMIT_PKI_DEVICE_VALIDITY_MIN_S <= RP_DEFAULT_PKI_DEVICE_VALIDITY_S &&
			  RP_DEFAULT_PKI_DEVICE_VALIDITY_S <= RP_LIMIT_PKI_DEVICE_VALIDITY_S,
		  device_validity_default);
/* notBefore is backdated 5 minutes: the shortest certificate must outlast it. */
RP_LIMITS_ASSERT_(RP_LIMIT_PKI_DEVICE_VALIDITY_MIN_S > 300u, device_validity_min);
RP_LIMITS_ASSERT_(RP_DEFAULT_PKI_SERVER_VALIDITY_S <= RP_LIMIT_PKI_SERVER_VALIDITY_S,
		  server_validity_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_PKI_ISSUING_VALIDITY_S <= RP_LIMIT_PKI_ISSUING_VALIDITY_S,
		  issuing_validity_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_PKI_ROOT_VALIDITY_S <= RP_LIMIT_PKI_ROOT_VALIDITY_S,
		  root_validity_default);
/* A CA must be able to outlive what it issues. */
RP_LIMITS_ASSERT_(RP_LIMIT_PKI_DEVICE_VALIDITY_S < RP_DEFAULT_PKI_ISSUING_VALIDITY_S &&
			  RP_LIMIT_PKI_SERVER_VALIDITY_S < RP_DEFAULT_PKI_ISSUING_VALIDITY_S &&
			  RP_DEFAULT_PKI_ISSUING_VALIDITY_S < RP_DEFAULT_PKI_ROOT_VALIDITY_S,
		  ca_outlives_leaves);
RP_LIMITS_ASSERT_(RP_LIMIT_PKI_CRL_NEXT_UPDATE_MIN_S <= RP_DEFAULT_PKI_CRL_NEXT_UPDATE_S &&
			  RP_DEFAULT_PKI_CRL_NEXT_UPDATE_S <= RP_LIMIT_PKI_CRL_NEXT_UPDATE_S,
		  crl_next_update_default);
RP_LIMITS_ASSERT_(RP_LIMIT_PKI_SERVER_SANS >= 1u && RP_LIMIT_PKI_P7_CERTS >= 2u, pki_lists_min);

/* ------------------------------------------------------------------------
 * Store (server/store/store.h; docs/store.md): the storage thread's queue,
 * its transactions, and the size of everything one row may hold. A value
 * past a text or blob cap is refused at submission (RP_E_LIMIT); nothing
 * of the operation is queued.
 * ------------------------------------------------------------------------ */

/*
 * Operations and bytes waiting for, or inside, the storage thread. Bounds:
 * memory when the database is slower than the fleet (a telemetry flood, a
 * stalled PostgreSQL). Past either bound a submission is refused at once
 * with RP_E_BUSY (back pressure): an event loop never blocks on the store.
 */
#define RP_LIMIT_STORE_QUEUE_OPS     65536u
#define RP_DEFAULT_STORE_QUEUE_OPS   8192u
#define RP_LIMIT_STORE_QUEUE_BYTES   (256u * 1024u * 1024u)
#define RP_DEFAULT_STORE_QUEUE_BYTES (64u * 1024u * 1024u)

/*
 * Operations committed in one transaction (group commit), and how long the
 * storage thread lingers for more when it is busy. Bounds: the latency of
 * every operation of a batch (one slow batch delays all its callbacks) and
 * the work redone when a batch has to be split.
 */
#define RP_LIMIT_STORE_BATCH_OPS     1024u
#define RP_DEFAULT_STORE_BATCH_OPS   256u
#define RP_LIMIT_STORE_BATCH_WAIT_MS 20u
/* No linger by default: what arrives while a transaction commits (fsync) is
 * the next batch by itself. Lingering for a batch that cannot fill (the
 * producers wait for their acknowledgements: a QoS 1 window) only adds its
 * wait to every round; telemetry at QoS 1 went from 43,000 to 65,000
 * points/s on SQLite when it went from 2 ms to 0 (docs/performance.md). */
#define RP_DEFAULT_STORE_BATCH_WAIT_MS 0u

/*
 * Transient failures (a locked SQLite file, a lost PostgreSQL connection):
 * retries of one transaction, the first back-off (doubling), the longest
 * back-off, and how long one lock wait may last. Bounds: the time the
 * storage thread spends on a database that is gone, while the queue fills
 * and producers get RP_E_BUSY.
 */
#define RP_LIMIT_STORE_RETRIES           10u
#define RP_DEFAULT_STORE_RETRIES         5u
#define RP_DEFAULT_STORE_RETRY_MS        10u
#define RP_LIMIT_STORE_RETRY_MAX_MS      2000u
#define RP_LIMIT_STORE_BUSY_TIMEOUT_MS   60000u
#define RP_DEFAULT_STORE_BUSY_TIMEOUT_MS 5000u

/*
 * Longest a PostgreSQL statement may run (statement_timeout). Bounds: one
 * query (an aggregate over years of data) holding the storage thread, and
 * with it every device's acknowledgements.
 */
#define RP_LIMIT_STORE_STATEMENT_MS   600000u
#define RP_DEFAULT_STORE_STATEMENT_MS 30000u

/*
 * Rows in one page of a list (devices, certificates, commands, alerts,
 * operators, tokens, audit entries), one telemetry series query, and one
 * aggregate. Bounds: the memory and time of one API request; a client
 * pages with the keyset cursor for more.
 */
#define RP_LIMIT_STORE_PAGE        1000u
#define RP_LIMIT_STORE_SERIES_ROWS 10000u
#define RP_LIMIT_STORE_BUCKETS     10000u

/*
 * Telemetry rows deleted per retention transaction. Bounds: how long
 * retention holds the write lock; ingest waits at most one chunk.
 */
#define RP_LIMIT_STORE_RETENTION_CHUNK   50000u
#define RP_DEFAULT_STORE_RETENTION_CHUNK 5000u

/*
 * Telemetry records in one insert operation. Bounds: the length of one
 * operation inside a group commit (one message must not stall its batch).
 */
#define RP_LIMIT_STORE_RECORDS 4096u

/*
 * Identifiers (device, command, API token, MQTT client id, operator name),
 * short text (model, firmware version, telemetry name and unit, alert
 * kind, audit actor, action, target, password hash), addresses, tags,
 * certificate serials (hex). Bounds: row and index size, and the memory of
 * every list page that carries them.
 */
#define RP_LIMIT_STORE_ID_LEN     128u
#define RP_LIMIT_STORE_TEXT_LEN   256u
#define RP_LIMIT_STORE_ADDR_LEN   64u
#define RP_LIMIT_STORE_TAGS       16u
#define RP_LIMIT_STORE_TAG_LEN    64u
#define RP_LIMIT_STORE_SERIAL_LEN 64u

/*
 * Larger values: a telemetry string or data value; a JSON document
 * (command arguments and result, alert and audit detail); a TOTP secret;
 * a retained message's payload and properties; a serialised persistent
 * session. Bounds: memory per queued operation and per row read back.
 */
#define RP_LIMIT_STORE_VALUE_LEN   16384u
#define RP_LIMIT_STORE_JSON_LEN    (64u * 1024u)
#define RP_LIMIT_STORE_SECRET_LEN  64u
#define RP_LIMIT_STORE_BLOB_LEN    RP_LIMIT_MQTT_PACKET
#define RP_LIMIT_STORE_SESSION_LEN (4u * 1024u * 1024u)

/*
 * Latest time stored, in ms since the Unix epoch (9999-12-31T23:59:59.999Z);
 * times before the epoch are refused. Bounds: overflow in time arithmetic
 * (aggregate buckets) on either back end.
 */
#define RP_LIMIT_STORE_TIME_MAX_MS 253402300799999LL

/* Range checks of the store limits. */
RP_LIMITS_ASSERT_(RP_DEFAULT_STORE_QUEUE_OPS >= 1u &&
			  RP_DEFAULT_STORE_QUEUE_OPS <= RP_LIMIT_STORE_QUEUE_OPS,
		  store_queue_ops_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_STORE_QUEUE_BYTES <= RP_LIMIT_STORE_QUEUE_BYTES,
		  store_queue_bytes_default);
/* The queue must hold the largest single operation (a session or a batch). */
RP_LIMITS_ASSERT_(RP_DEFAULT_STORE_QUEUE_BYTES >= 4u * RP_LIMIT_STORE_SESSION_LEN,
		  store_queue_holds_op);
RP_LIMITS_ASSERT_(RP_DEFAULT_STORE_BATCH_OPS >= 1u &&
			  RP_DEFAULT_STORE_BATCH_OPS <= RP_LIMIT_STORE_BATCH_OPS,
		  store_batch_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_STORE_BATCH_WAIT_MS <= RP_LIMIT_STORE_BATCH_WAIT_MS,
		  store_batch_wait_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_STORE_RETRIES <= RP_LIMIT_STORE_RETRIES, store_retries_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_STORE_RETRY_MS <= RP_LIMIT_STORE_RETRY_MAX_MS, store_retry_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_STORE_BUSY_TIMEOUT_MS <= RP_LIMIT_STORE_BUSY_TIMEOUT_MS,
		  store_busy_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_STORE_STATEMENT_MS <= RP_LIMIT_STORE_STATEMENT_MS,
		  store_statement_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_STORE_RETENTION_CHUNK >= 1u &&
			  RP_DEFAULT_STORE_RETENTION_CHUNK <= RP_LIMIT_STORE_RETENTION_CHUNK,
		  store_retention_default);
/* The store holds whatever the broker and the SenML parser hand it. */
RP_LIMITS_ASSERT_(RP_LIMIT_STORE_ID_LEN >= RP_LIMIT_MQTT_CLIENT_ID_LEN, store_id_holds_client_id);
RP_LIMITS_ASSERT_(RP_LIMIT_STORE_RECORDS >= RP_LIMIT_SENML_RECORDS, store_records_hold_pack);
RP_LIMITS_ASSERT_(RP_LIMIT_STORE_TEXT_LEN >= RP_LIMIT_SENML_NAME_LEN, store_text_holds_name);
RP_LIMITS_ASSERT_(RP_LIMIT_STORE_TEXT_LEN >= RP_LIMIT_SENML_UNIT_LEN, store_text_holds_unit);
RP_LIMITS_ASSERT_(RP_LIMIT_STORE_VALUE_LEN >= RP_LIMIT_SENML_STRING_LEN &&
			  RP_LIMIT_STORE_VALUE_LEN >= RP_LIMIT_SENML_DATA_LEN,
		  store_value_holds_senml);
RP_LIMITS_ASSERT_(RP_LIMIT_STORE_TIME_MAX_MS >= RP_LIMIT_SENML_TIME_MAX_MS, store_time_holds_senml);
RP_LIMITS_ASSERT_(RP_LIMIT_STORE_ID_LEN >= RP_LIMIT_OPERATOR_NAME_LEN, store_id_holds_operator);
RP_LIMITS_ASSERT_(RP_LIMIT_STORE_TEXT_LEN >= RP_LIMIT_PHC_LEN, store_text_holds_phc);
RP_LIMITS_ASSERT_(RP_LIMIT_STORE_SECRET_LEN >= RP_LIMIT_TOTP_KEY_LEN, store_secret_holds_totp);
RP_LIMITS_ASSERT_(RP_LIMIT_STORE_ADDR_LEN >= 48u, store_addr_holds_ipv6_port);
RP_LIMITS_ASSERT_(RP_LIMIT_STORE_SERIAL_LEN >= 40u, store_serial_holds_20_octets);
/*
 * Longest telemetry retention a configuration may set (telemetry.retention),
 * in seconds: 100 years. Bounds nothing an attacker controls; it keeps the
 * cut-off time (now - retention) far from any overflow.
 */
#define RP_LIMIT_TELEMETRY_RETENTION_S 3155760000u

/* Times stay exact in a double and (to - from) never overflows an int64. */
RP_LIMITS_ASSERT_(RP_LIMIT_STORE_TIME_MAX_MS < 9007199254740992LL, store_time_exact_in_double);

/* ------------------------------------------------------------------------
 * REST API (server/api/api.h; docs/api.md): the HTTPS listener of the
 * console and of automation. CivetWeb serves it with one worker thread per
 * connection, so threads, queue and timeouts bound what idle or slow peers
 * can hold; sizes are checked before a byte of a body is read, and stricter
 * before authentication.
 * ------------------------------------------------------------------------ */

/*
 * Worker threads, and accepted connections waiting for one. Bounds: the
 * threads and stacks of the process, and how many connections one client
 * (or many) can make it hold; each worker serves one connection at a time.
 */
#define RP_LIMIT_API_THREADS   64u
#define RP_DEFAULT_API_THREADS 8u
#define RP_LIMIT_API_QUEUE     1024u
#define RP_DEFAULT_API_QUEUE   64u

/*
 * Request line and headers together, in bytes (CivetWeb's read buffer;
 * CivetWeb also stops at 64 header lines). Bounds: the memory one
 * connection makes the server hold before anything is authenticated, and
 * the work of parsing huge cookies or URIs.
 */
#define RP_LIMIT_API_HEADER_BYTES   16384u
#define RP_DEFAULT_API_HEADER_BYTES 8192u

/*
 * Request body of an authenticated request, and of an unauthenticated one
 * (the login), in bytes; checked against Content-Length before reading, and
 * while reading a chunked body. Bounds: memory and JSON parsing work per
 * request (a parsed JSON tree is several times its text); the login cap
 * keeps what a stranger can send to a few KiB.
 */
#define RP_LIMIT_API_BODY         (256u * 1024u)
#define RP_DEFAULT_API_BODY       (64u * 1024u)
#define RP_LIMIT_API_PREAUTH_BODY 4096u

/*
 * Nesting of arrays and objects in a JSON body, checked by a scan before
 * the parser runs. Bounds: the recursion (stack) of the JSON parser on
 * "[[[[...", which would otherwise go 2048 levels deep.
 */
#define RP_LIMIT_API_JSON_DEPTH 16u

/*
 * Query string bytes (before decoding) and parameters in it. Bounds: the
 * decoding buffer of a request and the work of matching parameters; no
 * route takes more than 8.
 */
#define RP_LIMIT_API_QUERY_LEN    2048u
#define RP_LIMIT_API_QUERY_PARAMS 16u

/*
 * Longest opaque pagination cursor (the "after" parameter), in characters.
 * Bounds: the decoding work and buffer of a cursor sent back by a client.
 */
#define RP_LIMIT_API_CURSOR_LEN 512u

/*
 * Items in one page of a list, telemetry points in one page of a series,
 * and buckets in one aggregate. Bounds: the memory and time of one request
 * and the size of its response; a client pages with the cursor for more.
 */
#define RP_LIMIT_API_PAGE     1000u
#define RP_DEFAULT_API_PAGE   50u
#define RP_LIMIT_API_SERIES   10000u
#define RP_DEFAULT_API_SERIES 1000u
#define RP_LIMIT_API_BUCKETS  5000u

/*
 * Network read or write that makes no progress, and an idle keep-alive
 * connection, in milliseconds. Bounds: slowloris and idle connections,
 * each of which holds a worker thread (CivetWeb's deadline is per read or
 * write, not per request: the worker count is the real bound). The
 * keep-alive default is also how long a revoked device's idle HTTPS
 * connection can outlive the revocation (a request on it is refused at
 * once): CivetWeb cannot close one connection from outside.
 */
#define RP_LIMIT_API_REQUEST_TIMEOUT_MS   60000u
#define RP_DEFAULT_API_REQUEST_TIMEOUT_MS 10000u
#define RP_LIMIT_API_KEEPALIVE_MS         30000u
#define RP_DEFAULT_API_KEEPALIVE_MS       1000u

/*
 * Command name (a topic level of d/{id}/cmd/{name}) and its JSON arguments
 * as published, in bytes. Bounds: the MQTT message one API call makes the
 * broker route to a device (a constrained device has a small buffer) and
 * the row stored with it.
 */
#define RP_LIMIT_API_COMMAND_NAME_LEN 64u
#define RP_LIMIT_API_COMMAND_ARGS     (16u * 1024u)

/*
 * Lifetime of a TOTP enrolment that was started but not confirmed, in
 * seconds. Bounds: how long a pending key (a secret, in memory) lives.
 */
#define RP_LIMIT_API_TOTP_PENDING_S 600u

/* Range checks of the API limits. */
RP_LIMITS_ASSERT_(RP_DEFAULT_API_THREADS >= 1u && RP_DEFAULT_API_THREADS <= RP_LIMIT_API_THREADS,
		  api_threads_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_API_QUEUE >= 1u && RP_DEFAULT_API_QUEUE <= RP_LIMIT_API_QUEUE,
		  api_queue_default);
/* A request line with a full query and a session cookie must fit. */
RP_LIMITS_ASSERT_(RP_DEFAULT_API_HEADER_BYTES >= 2u * RP_LIMIT_API_QUERY_LEN &&
			  RP_DEFAULT_API_HEADER_BYTES <= RP_LIMIT_API_HEADER_BYTES,
		  api_header_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_API_BODY <= RP_LIMIT_API_BODY, api_body_default);
/* A login body: name and password, each character escaped as \uXXXX, and a code. */
RP_LIMITS_ASSERT_(RP_LIMIT_API_PREAUTH_BODY >=
			  6u * (RP_LIMIT_PASSWORD_LEN + RP_LIMIT_OPERATOR_NAME_LEN) + 128u,
		  api_preauth_body_holds_login);
RP_LIMITS_ASSERT_(RP_LIMIT_API_PREAUTH_BODY <= RP_DEFAULT_API_BODY, api_preauth_le_body);
/* A command's arguments, escaped at worst 6 times, fit the default body. */
RP_LIMITS_ASSERT_(6u * RP_LIMIT_API_COMMAND_ARGS <= RP_LIMIT_API_BODY, api_body_holds_command);
RP_LIMITS_ASSERT_(RP_LIMIT_API_JSON_DEPTH >= 4u && RP_LIMIT_API_JSON_DEPTH <= 64u, api_json_depth);
RP_LIMITS_ASSERT_(RP_LIMIT_API_QUERY_PARAMS >= 8u, api_query_params_room);
/* A cursor holds the base64 of a store id, a time and a sequence number. */
RP_LIMITS_ASSERT_(RP_LIMIT_API_CURSOR_LEN >= (RP_LIMIT_STORE_ID_LEN + 48u) * 4u / 3u + 4u &&
			  RP_LIMIT_API_CURSOR_LEN <= RP_LIMIT_API_QUERY_LEN,
		  api_cursor_len);
RP_LIMITS_ASSERT_(RP_DEFAULT_API_PAGE >= 1u && RP_DEFAULT_API_PAGE <= RP_LIMIT_API_PAGE,
		  api_page_default);
RP_LIMITS_ASSERT_(RP_LIMIT_API_PAGE <= RP_LIMIT_STORE_PAGE, api_page_le_store);
RP_LIMITS_ASSERT_(RP_DEFAULT_API_SERIES >= 1u && RP_DEFAULT_API_SERIES <= RP_LIMIT_API_SERIES,
		  api_series_default);
RP_LIMITS_ASSERT_(RP_LIMIT_API_SERIES <= RP_LIMIT_STORE_SERIES_ROWS, api_series_le_store);
RP_LIMITS_ASSERT_(RP_LIMIT_API_BUCKETS <= RP_LIMIT_STORE_BUCKETS, api_buckets_le_store);
RP_LIMITS_ASSERT_(RP_DEFAULT_API_REQUEST_TIMEOUT_MS >= 1000u &&
			  RP_DEFAULT_API_REQUEST_TIMEOUT_MS <= RP_LIMIT_API_REQUEST_TIMEOUT_MS,
		  api_request_timeout_default);
RP_LIMITS_ASSERT_(RP_DEFAULT_API_KEEPALIVE_MS <= RP_LIMIT_API_KEEPALIVE_MS, api_keepalive_default);
/* The command name is one topic level below d/{id}/cmd/; the payload fits a packet. */
RP_LIMITS_ASSERT_(RP_LIMIT_API_COMMAND_NAME_LEN + RP_LIMIT_MQTT_CLIENT_ID_LEN + 16u <=
			  RP_DEFAULT_MQTT_TOPIC_LEN,
		  api_command_topic_fits);
RP_LIMITS_ASSERT_(RP_LIMIT_API_COMMAND_ARGS + 256u <= RP_DEFAULT_MQTT_PACKET &&
			  RP_LIMIT_API_COMMAND_ARGS <= RP_LIMIT_STORE_JSON_LEN,
		  api_command_args_fit);
RP_LIMITS_ASSERT_(RP_LIMIT_API_TOTP_PENDING_S >= 60u, api_totp_pending_room);

/* ------------------------------------------------------------------------
 * Enrollment (EST, RFC 7030; server/api/h_est.c, docs/est.md): the
 * one-time tokens operators make for devices, and the EST requests.
 * ------------------------------------------------------------------------ */

/*
 * Devices one enrollment token may enroll. Bounds: what one leaked token
 * (a batch token for a production line) lets its holder enroll before an
 * operator notices; a single device's token has 1.
 */
#define RP_LIMIT_EST_TOKEN_USES 100000u

/*
 * Lifetime of an enrollment token, in seconds: the default when the
 * request names none, and the longest granted. Bounds: how long a token
 * written on a label or in a provisioning script stays a credential.
 */
#define RP_DEFAULT_EST_TOKEN_LIFETIME_S   (24u * 3600u)
#define RP_LIMIT_EST_TOKEN_LIFETIME_S     (30u * 86400u)
#define RP_LIMIT_EST_TOKEN_LIFETIME_MIN_S 60u

/*
 * Body of a simpleenroll / simplereenroll request (a CSR, base64 or PEM),
 * checked against Content-Length before reading and while reading a
 * chunked body. Bounds: what an EST client, authenticated or not, makes
 * the server read and decode; the CSR gate has the same cap.
 */
#define RP_LIMIT_EST_BODY RP_LIMIT_PKI_CSR_ENCODED

/*
 * Certificates in the est.manufacturer_ca bundle. Bounds: the trust store
 * built at start and the CA name list sent in every TLS handshake of the
 * HTTPS listener (CertificateRequest).
 */
#define RP_LIMIT_EST_MANUFACTURER_CAS 64u

/* Range checks of the EST limits. */
RP_LIMITS_ASSERT_(RP_LIMIT_EST_TOKEN_LIFETIME_MIN_S <= RP_DEFAULT_EST_TOKEN_LIFETIME_S &&
			  RP_DEFAULT_EST_TOKEN_LIFETIME_S <= RP_LIMIT_EST_TOKEN_LIFETIME_S,
		  est_token_lifetime_default);
RP_LIMITS_ASSERT_(RP_LIMIT_EST_TOKEN_USES >= 1u && RP_LIMIT_EST_TOKEN_USES <= 1000000000u,
		  est_token_uses);
RP_LIMITS_ASSERT_(RP_LIMIT_EST_BODY <= RP_LIMIT_API_BODY, est_body_le_api_body);
RP_LIMITS_ASSERT_(RP_LIMIT_EST_MANUFACTURER_CAS >= 1u, est_manufacturer_cas_min);

/* ------------------------------------------------------------------------
 * Device storage (device/storage/, docs/storage.md): the store-and-forward
 * queue of rampart/sfq.h and the sealed files of rampart/sealed.h. Every
 * length read back from the device's disk is attacker-controlled (anyone
 * who can write the flash); these caps bound what reading it can cost.
 * ------------------------------------------------------------------------ */

/*
 * Payload of one queued record, in bytes: the cap, and the default of what
 * rp_sfq_push() accepts. Bounds: the length field of a record read from
 * disk (the bytes recovery verifies and a reader must be offered), and what
 * one push writes. A record leaves as one MQTT PUBLISH, so it never needs
 * more than the default packet size.
 */
#define RP_LIMIT_SFQ_RECORD   RP_DEFAULT_MQTT_PACKET
#define RP_DEFAULT_SFQ_RECORD (16u * 1024u)

/*
 * One segment file of the queue, in bytes: the cap and the default.
 * Bounds: the bytes recovery reads and searches in one file; a larger
 * file is damaged past this size.
 */
#define RP_LIMIT_SFQ_SEGMENT   (16u * 1024u * 1024u)
#define RP_DEFAULT_SFQ_SEGMENT (64u * 1024u)

/*
 * Segment files in one queue directory. Bounds: the index that opening a
 * queue builds in memory and the files it reads (a directory stuffed with
 * files). A queue's size may be at most half this many segments.
 */
#define RP_LIMIT_SFQ_SEGMENTS 65536u

/*
 * Plaintext of one sealed file, in bytes, and the length of its name.
 * Bounds: the buffer and the work of reading a file that anyone who can
 * write the flash may have replaced. Sealed storage is for keys and
 * settings, not bulk data; a name is one short file name.
 */
#define RP_LIMIT_SEALED_LEN      (64u * 1024u)
#define RP_LIMIT_SEALED_NAME_LEN 64u

/* Range checks of the device storage limits. */
RP_LIMITS_ASSERT_(RP_DEFAULT_SFQ_RECORD <= RP_LIMIT_SFQ_RECORD, sfq_record_default);
RP_LIMITS_ASSERT_(RP_LIMIT_SFQ_RECORD <= RP_LIMIT_MQTT_PACKET, sfq_record_fits_packet);
/* A record of each cap fits a segment of the same kind, with room to spare. */
RP_LIMITS_ASSERT_(RP_LIMIT_SFQ_SEGMENT >= 2u * RP_LIMIT_SFQ_RECORD, sfq_segment_holds_record);
RP_LIMITS_ASSERT_(RP_DEFAULT_SFQ_SEGMENT >= 2u * RP_DEFAULT_SFQ_RECORD &&
			  RP_DEFAULT_SFQ_SEGMENT <= RP_LIMIT_SFQ_SEGMENT,
		  sfq_segment_default);
RP_LIMITS_ASSERT_(RP_LIMIT_SFQ_SEGMENTS >= 16u, sfq_segments_min);
RP_LIMITS_ASSERT_(RP_LIMIT_SEALED_LEN >= 4096u, sealed_len_holds_a_key);
RP_LIMITS_ASSERT_(RP_LIMIT_SEALED_NAME_LEN >= 16u && RP_LIMIT_SEALED_NAME_LEN <= 255u,
		  sealed_name_len);

#endif /* RAMPART_LIMITS_H */
