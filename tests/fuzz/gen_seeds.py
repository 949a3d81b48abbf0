#!/usr/bin/env python3
"""Writes the seed corpora of the MQTT fuzz targets.

    python3 tests/fuzz/gen_seeds.py            # writes into tests/fuzz/corpus/
    python3 tests/fuzz/gen_seeds.py --out DIR  # writes into DIR/mqtt_decode, DIR/mqtt_topic
    python3 tests/fuzz/gen_seeds.py --clean    # also removes files it did not write

The packets are built here by a small independent MQTT encoder (standard
library only), not by Rampart's codec, so a seed does not inherit a bug of the
code under test. Input formats are described in tests/fuzz/README.md and at
the top of each fuzz_*.c. The output is deterministic: running the script
twice gives the same files.
"""

import argparse
import os
import struct
import sys

# ---------------------------------------------------------------------------
# Option bytes (see fuzz_mqtt_decode.c)
# ---------------------------------------------------------------------------

V_NONE, V311, V5 = 0, 1, 2  # bits 0-1 of the option byte
MAX_DEFAULT, MAX_PREAUTH, MAX_HARD, MAX_TINY = 0, 1, 2, 3  # bits 2-3
LIM_DEFAULT, LIM_HARD, LIM_TIGHT, LIM_ONE = 0, 1, 2, 3  # bits 4-5


def opt(version, max_packet=MAX_DEFAULT, limits=LIM_DEFAULT):
    return bytes([version | (max_packet << 2) | (limits << 4)])


# ---------------------------------------------------------------------------
# A minimal MQTT encoder
# ---------------------------------------------------------------------------

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 8, 9, 10, 11
PINGREQ, PINGRESP, DISCONNECT, AUTH = 12, 13, 14, 15


def vbi(n):
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def u16(n):
    return struct.pack(">H", n)


def u32(n):
    return struct.pack(">I", n)


def bin_(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return u16(len(data)) + data


str_ = bin_

# Property identifiers and their wire types.
BYTE, U16, U32, VBI, STR, BIN, PAIR = range(7)
PROPS = {
    "payload_format": (0x01, BYTE),
    "message_expiry": (0x02, U32),
    "content_type": (0x03, STR),
    "response_topic": (0x08, STR),
    "correlation_data": (0x09, BIN),
    "sub_id": (0x0B, VBI),
    "session_expiry": (0x11, U32),
    "assigned_client_id": (0x12, STR),
    "server_keepalive": (0x13, U16),
    "auth_method": (0x15, STR),
    "auth_data": (0x16, BIN),
    "request_problem_info": (0x17, BYTE),
    "will_delay": (0x18, U32),
    "request_response_info": (0x19, BYTE),
    "response_info": (0x1A, STR),
    "server_reference": (0x1C, STR),
    "reason_string": (0x1F, STR),
    "receive_max": (0x21, U16),
    "topic_alias_max": (0x22, U16),
    "topic_alias": (0x23, U16),
    "max_qos": (0x24, BYTE),
    "retain_available": (0x25, BYTE),
    "user": (0x26, PAIR),
    "max_packet_size": (0x27, U32),
    "wildcard_sub_available": (0x28, BYTE),
    "sub_id_available": (0x29, BYTE),
    "shared_sub_available": (0x2A, BYTE),
}


def prop(name, value):
    pid, kind = PROPS[name]
    if kind == BYTE:
        body = bytes([value])
    elif kind == U16:
        body = u16(value)
    elif kind == U32:
        body = u32(value)
    elif kind == VBI:
        body = vbi(value)
    elif kind in (STR, BIN):
        body = bin_(value)
    else:
        body = str_(value[0]) + str_(value[1])
    return vbi(pid) + body


def props(*items):
    """props(("content_type", "x"), ("user", ("k", "v")), ...) -> length-prefixed block."""
    block = b"".join(prop(n, v) for n, v in items)
    return vbi(len(block)) + block


def fixed(ptype, flags, body):
    return bytes([(ptype << 4) | flags]) + vbi(len(body)) + body


def connect(v5, client_id, keepalive=60, clean=True, cprops=(), will=None,
            username=None, password=None, level=None, name="MQTT", reserved=False):
    flags = 0x02 if clean else 0
    if reserved:
        flags |= 0x01
    payload = str_(client_id)
    if will is not None:
        flags |= 0x04 | (will.get("qos", 0) << 3) | (0x20 if will.get("retain") else 0)
        if v5:
            payload += props(*will.get("props", ()))
        payload += str_(will["topic"]) + bin_(will["payload"])
    if username is not None:
        flags |= 0x80
        payload += str_(username)
    if password is not None:
        flags |= 0x40
        payload += bin_(password)
    if level is None:
        level = 5 if v5 else 4
    var = str_(name) + bytes([level, flags]) + u16(keepalive)
    if v5:
        var += props(*cprops)
    return fixed(CONNECT, 0, var + payload)


def connack(v5, rc=0, session_present=False, cprops=()):
    body = bytes([1 if session_present else 0, rc])
    if v5:
        body += props(*cprops)
    return fixed(CONNACK, 0, body)


def publish(v5, topic, payload=b"", qos=0, pid=1, retain=False, dup=False, pprops=()):
    flags = (qos << 1) | (1 if retain else 0) | (0x08 if dup else 0)
    body = str_(topic)
    if qos:
        body += u16(pid)
    if v5:
        body += props(*pprops)
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    return fixed(PUBLISH, flags, body + payload)


def ack(ptype, v5, pid, rc=None, aprops=None):
    """PUBACK..PUBCOMP. Under v5, rc=None and aprops=None give the short form."""
    flags = 0x02 if ptype == PUBREL else 0
    body = u16(pid)
    if v5 and (rc is not None or aprops is not None):
        body += bytes([rc or 0])
        if aprops is not None:
            body += props(*aprops)
    return fixed(ptype, flags, body)


def subopts(qos=0, no_local=False, rap=False, rh=0):
    return qos | (0x04 if no_local else 0) | (0x08 if rap else 0) | (rh << 4)


def subscribe(v5, pid, entries, sprops=()):
    body = u16(pid)
    if v5:
        body += props(*sprops)
    for flt, options in entries:
        body += str_(flt) + bytes([options])
    return fixed(SUBSCRIBE, 0x02, body)


def suback(v5, pid, codes, sprops=()):
    body = u16(pid)
    if v5:
        body += props(*sprops)
    return fixed(SUBACK, 0, body + bytes(codes))


def unsubscribe(v5, pid, filters, uprops=()):
    body = u16(pid)
    if v5:
        body += props(*uprops)
    for flt in filters:
        body += str_(flt)
    return fixed(UNSUBSCRIBE, 0x02, body)


def unsuback(v5, pid, codes=(), uprops=()):
    body = u16(pid)
    if v5:
        body += props(*uprops) + bytes(codes)
    return fixed(UNSUBACK, 0, body)


def pingreq():
    return fixed(PINGREQ, 0, b"")


def pingresp():
    return fixed(PINGRESP, 0, b"")


def disconnect(v5, rc=None, dprops=None):
    body = b""
    if v5 and (rc is not None or dprops is not None):
        body = bytes([rc or 0])
        if dprops is not None:
            body += props(*dprops)
    return fixed(DISCONNECT, 0, body)


def auth(rc=None, aprops=None):
    body = b""
    if rc is not None or aprops is not None:
        body = bytes([rc or 0])
        if aprops is not None:
            body += props(*aprops)
    return fixed(AUTH, 0, body)


# ---------------------------------------------------------------------------
# Realistic content
# ---------------------------------------------------------------------------

DEV = "dev-0001"
SENML = b'[{"bn":"urn:dev:id:dev-0001:","n":"temp","u":"Cel","v":21.5},{"n":"hum","u":"%RH","v":48}]'
TELEMETRY = "d/%s/telemetry" % DEV
CMD = "d/%s/cmd/reboot" % DEV
UPROP = ("user", ("fw", "1.4.2"))


def decode_seeds():
    s = {}

    # CONNECT, both versions, with and without will, credentials, properties.
    s["connect_v311_min"] = opt(V_NONE) + connect(False, DEV)
    s["connect_v311_empty_id"] = opt(V_NONE) + connect(False, "", keepalive=0)
    s["connect_v311_will_auth"] = opt(V_NONE) + connect(
        False, DEV, keepalive=30,
        will={"topic": "d/dev-0001/event/offline", "payload": b"gone", "qos": 1, "retain": True},
        username="dev-0001", password=b"\x00s3cret\xff")
    s["connect_v5_min"] = opt(V_NONE) + connect(True, DEV)
    s["connect_v5_session"] = opt(V_NONE) + connect(
        True, DEV, keepalive=60, clean=False,
        cprops=[("session_expiry", 3600), ("receive_max", 20), ("max_packet_size", 262144),
                ("topic_alias_max", 10), ("request_problem_info", 1),
                ("request_response_info", 1), UPROP])
    s["connect_v5_will"] = opt(V_NONE) + connect(
        True, DEV, keepalive=60,
        cprops=[("session_expiry", 300)],
        will={"topic": "d/dev-0001/event/offline", "payload": '{"state":"offline"}',
              "qos": 1, "retain": True,
              "props": [("will_delay", 10), ("payload_format", 1),
                        ("message_expiry", 86400), ("content_type", "application/json"),
                        ("response_topic", "d/dev-0001/event/ack"),
                        ("correlation_data", b"\x01\x02\x03\x04"), UPROP]})
    s["connect_v5_auth_method"] = opt(V_NONE) + connect(
        True, DEV, cprops=[("auth_method", "SCRAM-SHA-256"), ("auth_data", b"n,,n=dev,r=abc")],
        username="dev-0001", password=b"token")
    s["connect_v5_password_only"] = opt(V_NONE) + connect(True, DEV, password=b"pw")
    s["connect_v5_preauth_limit"] = opt(V_NONE, MAX_PREAUTH) + connect(
        True, DEV, cprops=[("user", ("k" * 20, "v" * 200))] * 4)

    # CONNACK.
    s["connack_v311_accepted"] = opt(V311) + connack(False, 0, True)
    s["connack_v311_refused"] = opt(V311) + connack(False, 5)
    s["connack_v5_props"] = opt(V5) + connack(
        True, 0, False,
        [("session_expiry", 3600), ("receive_max", 100), ("max_qos", 1),
         ("retain_available", 1), ("max_packet_size", 262144),
         ("assigned_client_id", "auto-7f3a"), ("topic_alias_max", 10),
         ("reason_string", "welcome"), ("wildcard_sub_available", 1),
         ("sub_id_available", 1), ("shared_sub_available", 0),
         ("server_keepalive", 120), ("response_info", "d/dev-0001/resp"),
         ("server_reference", "broker2.example.com"),
         ("auth_method", "SCRAM-SHA-256"), ("auth_data", b"server-final"), UPROP])
    s["connack_v5_refused"] = opt(V5) + connack(True, 0x87, False,
                                                [("reason_string", "not authorized")])

    # PUBLISH.
    s["publish_v311_qos0"] = opt(V311) + publish(False, TELEMETRY, SENML)
    s["publish_v311_qos1"] = opt(V311) + publish(False, TELEMETRY, SENML, qos=1, pid=7)
    s["publish_v311_qos2_retain_dup"] = opt(V311) + publish(
        False, "d/dev-0001/event/boot", b"\x01\x02", qos=2, pid=65535, retain=True, dup=True)
    s["publish_v311_empty_payload"] = opt(V311) + publish(False, "d/dev-0001/state", b"",
                                                           retain=True)
    s["publish_v5_telemetry"] = opt(V5) + publish(
        True, TELEMETRY, SENML, qos=1, pid=1,
        pprops=[("content_type", "application/senml+json"), ("payload_format", 1)])
    s["publish_v5_all_props"] = opt(V5) + publish(
        True, CMD, b'{"delay":5}', qos=2, pid=42,
        pprops=[("payload_format", 1), ("message_expiry", 60),
                ("content_type", "application/json"),
                ("response_topic", "d/dev-0001/cmd/reboot/resp"),
                ("correlation_data", b"\xde\xad\xbe\xef"), ("sub_id", 1),
                ("sub_id", 268435455), ("topic_alias", 3), UPROP,
                ("user", ("trace", "00-4bf92f35-01"))])
    s["publish_v5_topic_alias_only"] = opt(V5) + publish(
        True, "", b"21.6", pprops=[("topic_alias", 3)])
    s["publish_v5_binary_payload"] = opt(V5) + publish(
        True, TELEMETRY, bytes(range(256)), qos=1, pid=2,
        pprops=[("content_type", "application/senml+cbor")])
    s["publish_v5_utf8_topic"] = opt(V5) + publish(
        True, "d/dev-0001/capteur/température/ü€𝄞", "22,5", pprops=[])

    # The four acknowledgements.
    for name, ptype in (("puback", PUBACK), ("pubrec", PUBREC), ("pubrel", PUBREL),
                        ("pubcomp", PUBCOMP)):
        s["%s_v311" % name] = opt(V311) + ack(ptype, False, 7)
        s["%s_v5_short" % name] = opt(V5) + ack(ptype, True, 7)
        s["%s_v5_reason_only" % name] = opt(V5) + ack(ptype, True, 7, rc=0)
        s["%s_v5_props" % name] = opt(V5) + ack(
            ptype, True, 7,
            rc={PUBACK: 0x10, PUBREC: 0x80, PUBREL: 0x92, PUBCOMP: 0x92}[ptype],
            aprops=[("reason_string", "no subscribers" if ptype == PUBACK else "unknown id"),
                    UPROP])

    # SUBSCRIBE / SUBACK / UNSUBSCRIBE / UNSUBACK.
    s["subscribe_v311"] = opt(V311) + subscribe(
        False, 1, [("d/dev-0001/cmd/#", 1), ("d/dev-0001/ota/+", 0), ("$SYS/broker/load", 2)])
    s["subscribe_v5_options"] = opt(V5) + subscribe(
        True, 2,
        [("d/dev-0001/cmd/#", subopts(1, no_local=True, rap=True, rh=1)),
         ("d/+/event/+", subopts(2, rh=2)), ("#", subopts(0))],
        [("sub_id", 17), UPROP])
    s["subscribe_v5_shared"] = opt(V5) + subscribe(
        True, 3, [("$share/ingest/d/+/telemetry", subopts(1)), ("$share/g/#", subopts(0))])
    s["suback_v311"] = opt(V311) + suback(False, 1, [0x01, 0x00, 0x80])
    s["suback_v5"] = opt(V5) + suback(True, 2, [0x01, 0x02, 0x00, 0x87, 0x8F, 0xA2],
                                      [("reason_string", "partly granted"), UPROP])
    s["unsubscribe_v311"] = opt(V311) + unsubscribe(False, 4, ["d/dev-0001/cmd/#", "a/b"])
    s["unsubscribe_v5"] = opt(V5) + unsubscribe(True, 5, ["d/dev-0001/cmd/#",
                                                          "$share/ingest/d/+/telemetry"],
                                                [UPROP])
    s["unsuback_v311"] = opt(V311) + unsuback(False, 4)
    s["unsuback_v5"] = opt(V5) + unsuback(True, 5, [0x00, 0x11],
                                          [("reason_string", "one was not there")])

    # PING, DISCONNECT, AUTH.
    s["pingreq"] = opt(V5) + pingreq()
    s["pingresp_v311"] = opt(V311) + pingresp()
    s["disconnect_v311"] = opt(V311) + disconnect(False)
    s["disconnect_v5_short"] = opt(V5) + disconnect(True)
    s["disconnect_v5_will"] = opt(V5) + disconnect(True, 0x04, [])
    s["disconnect_v5_props"] = opt(V5) + disconnect(
        True, 0x9C, [("session_expiry", 0), ("reason_string", "moving you"),
                     ("server_reference", "broker2.example.com:8883"), UPROP])
    s["auth_v5_continue"] = opt(V5) + auth(0x18, [("auth_method", "SCRAM-SHA-256"),
                                                  ("auth_data", b"c=biws,r=abc"),
                                                  ("reason_string", "step 2")])
    s["auth_v5_short"] = opt(V5) + auth()

    # Streams: a whole session as a broker reads it, and one cut short.
    s["stream_v5_session"] = opt(V_NONE, MAX_PREAUTH) + b"".join([
        connect(True, DEV, cprops=[("session_expiry", 3600), ("receive_max", 20)]),
        subscribe(True, 1, [("d/dev-0001/cmd/#", subopts(1))]),
        publish(True, TELEMETRY, SENML, qos=1, pid=2,
                pprops=[("content_type", "application/senml+json"), ("topic_alias", 1)]),
        publish(True, "", b'[{"n":"temp","v":21.6}]', qos=1, pid=3,
                pprops=[("topic_alias", 1)]),
        ack(PUBACK, True, 9), ack(PUBREC, True, 10), ack(PUBCOMP, True, 10),
        pingreq(), unsubscribe(True, 4, ["d/dev-0001/cmd/#"]),
        disconnect(True, 0, [("session_expiry", 0)])])
    s["stream_v311_session"] = opt(V_NONE) + b"".join([
        connect(False, DEV, username="dev-0001", password=b"x"),
        subscribe(False, 1, [("d/dev-0001/cmd/#", 1)]),
        publish(False, TELEMETRY, SENML, qos=1, pid=2),
        publish(False, TELEMETRY, SENML, qos=2, pid=3),
        ack(PUBREL, False, 3), pingreq(), unsubscribe(False, 4, ["d/dev-0001/cmd/#"]),
        disconnect(False)])
    s["stream_server_to_client_v5"] = opt(V5) + b"".join([
        connack(True, 0, False, [("topic_alias_max", 5)]), suback(True, 1, [1]),
        publish(True, CMD, b"{}", qos=1, pid=5, pprops=[("sub_id", 17)]),
        ack(PUBACK, True, 2), pingresp(), unsuback(True, 4, [0])])
    s["stream_truncated"] = opt(V5) + pingreq() + publish(True, TELEMETRY, SENML, qos=1)[:20]
    s["stream_version_switch"] = opt(V311) + connect(True, DEV) + ack(PUBACK, True, 1, 0x10, [])

    # Limits profiles.
    s["limits_tight_subscribe"] = opt(V5, MAX_DEFAULT, LIM_TIGHT) + subscribe(
        True, 1, [("a/b/c/d/e", 0), ("x", 0), ("y", 0)])
    s["limits_tiny_packet"] = opt(V5, MAX_TINY) + publish(True, TELEMETRY, SENML)
    s["limits_one_user_prop"] = opt(V5, MAX_DEFAULT, LIM_ONE) + publish(
        True, "t", b"", pprops=[UPROP, UPROP])
    s["limits_hard_caps"] = opt(V5, MAX_HARD, LIM_HARD) + publish(
        True, "/".join(["l"] * 32), b"x" * 1000)

    # Classic malformed cases.
    s["mal_remaining_length_not_minimal"] = opt(V5) + b"\x30\x80\x00"
    s["mal_remaining_length_5_bytes"] = opt(V5) + b"\x30\xff\xff\xff\xff\x7f"
    s["mal_too_large_from_header"] = opt(V5) + b"\x30\xff\xff\x7f"
    s["mal_preauth_connect_too_large"] = opt(V_NONE, MAX_PREAUTH) + b"\x10\x80\x40"
    s["mal_packet_type_0"] = opt(V5) + b"\x00\x00"
    s["mal_auth_in_v311"] = opt(V311) + b"\xf0\x00"
    s["mal_reserved_flags_subscribe"] = opt(V5) + b"\x80" + subscribe(
        True, 1, [("a", 0)])[1:]
    s["mal_publish_qos3"] = opt(V5) + b"\x36" + publish(True, "a", b"", qos=1)[1:]
    s["mal_publish_dup_qos0"] = opt(V5) + b"\x38" + publish(True, "a", b"")[1:]
    s["mal_publish_wildcard_topic"] = opt(V5) + publish(True, "d/+/telemetry", b"x")
    s["mal_publish_surrogate_topic"] = opt(V5) + fixed(
        PUBLISH, 0, bin_(b"d/\xed\xa0\x80") + props())
    s["mal_publish_overlong_utf8"] = opt(V311) + fixed(PUBLISH, 0, bin_(b"d/\xc0\xaf") + b"x")
    s["mal_publish_nul_topic"] = opt(V311) + fixed(PUBLISH, 0, bin_(b"d/\x00") + b"x")
    s["mal_publish_packet_id_0"] = opt(V5) + publish(True, "a", b"", qos=1, pid=0)
    s["mal_publish_topic_runs_past"] = opt(V311) + fixed(PUBLISH, 0, u16(50) + b"abc")
    s["mal_publish_payload_format_bad"] = opt(V5) + publish(
        True, "a", b"\xff\xfe", pprops=[("payload_format", 1)])
    s["mal_prop_not_allowed"] = opt(V5) + publish(True, "a", b"", pprops=[("session_expiry", 1)])
    s["mal_prop_duplicate"] = opt(V5) + publish(
        True, "a", b"", pprops=[("message_expiry", 1), ("message_expiry", 2)])
    s["mal_prop_value"] = opt(V5) + connect(True, DEV, cprops=[("receive_max", 0)])
    s["mal_prop_unknown_id"] = opt(V5) + fixed(PUBLISH, 0, str_("a") + b"\x02\x7f\x00")
    s["mal_prop_length_past_end"] = opt(V5) + fixed(PUBLISH, 0, str_("a") + b"\x10\x01")
    s["mal_topic_alias_zero"] = opt(V5) + publish(True, "a", b"", pprops=[("topic_alias", 0)])
    s["mal_subscribe_empty"] = opt(V5) + fixed(SUBSCRIBE, 2, u16(1) + props())
    s["mal_subscribe_bad_filter"] = opt(V311) + subscribe(False, 1, [("a/#/b", 0)])
    s["mal_subscribe_bad_options"] = opt(V311) + subscribe(False, 1, [("a", 0x04)])
    s["mal_subscribe_shared_no_local"] = opt(V5) + subscribe(
        True, 1, [("$share/g/a", subopts(0, no_local=True))])
    s["mal_subscribe_bad_share"] = opt(V5) + subscribe(True, 1, [("$share//a", 0)])
    s["mal_connect_protocol_name"] = opt(V_NONE) + connect(True, DEV, name="MQIsdp", level=3)
    s["mal_connect_level_6"] = opt(V_NONE) + connect(True, DEV, level=6)
    s["mal_connect_reserved_flag"] = opt(V_NONE) + connect(False, DEV, reserved=True)
    s["mal_connect_will_qos3"] = opt(V_NONE) + connect(
        False, DEV, will={"topic": "a", "payload": b"", "qos": 3})
    s["mal_connect_v311_password_only"] = opt(V_NONE) + connect(False, DEV, password=b"pw")
    s["mal_connect_auth_data_no_method"] = opt(V_NONE) + connect(
        True, DEV, cprops=[("auth_data", b"x")])
    s["mal_connack_bad_code"] = opt(V311) + connack(False, 6)
    s["mal_trailing_bytes"] = opt(V311) + fixed(PUBACK, 0, u16(1) + b"\x00")
    s["mal_pingreq_with_body"] = opt(V5) + fixed(PINGREQ, 0, b"\x00")
    s["mal_before_connect"] = opt(V_NONE) + publish(True, "a", b"x")
    return s


def topic_seed(limits, flt, topic=None):
    """Option byte, FILTER, then 0xFF TOPIC (no 0xFF: the rest is both)."""
    def enc(x):
        return x.encode("utf-8") if isinstance(x, str) else x
    out = bytes([limits]) + enc(flt)
    if topic is not None:
        out += b"\xff" + enc(topic)
    return out


def topic_seeds():
    L_DEF, L_HARD, L_TIGHT, L_ONE = 0, 1, 2, 3
    s = {}
    s["exact"] = topic_seed(L_DEF, TELEMETRY, TELEMETRY)
    s["self"] = topic_seed(L_DEF, "d/dev-0001/cmd/reboot")
    s["plus_one_level"] = topic_seed(L_DEF, "d/+/telemetry", TELEMETRY)
    s["plus_empty_level"] = topic_seed(L_DEF, "a/+/c", "a//c")
    s["plus_no_match_deeper"] = topic_seed(L_DEF, "d/+", TELEMETRY)
    s["hash_all"] = topic_seed(L_DEF, "#", TELEMETRY)
    s["hash_parent_level"] = topic_seed(L_DEF, "d/dev-0001/cmd/#", "d/dev-0001/cmd")
    s["hash_below"] = topic_seed(L_DEF, "d/dev-0001/cmd/#", CMD)
    s["hash_slash_root"] = topic_seed(L_DEF, "/#", "/")
    s["dollar_not_hash"] = topic_seed(L_DEF, "#", "$SYS/broker/load")
    s["dollar_not_plus"] = topic_seed(L_DEF, "+/broker/load", "$SYS/broker/load")
    s["dollar_explicit"] = topic_seed(L_DEF, "$SYS/#", "$SYS/broker/load")
    s["shared"] = topic_seed(L_DEF, "$share/ingest/d/+/telemetry", TELEMETRY)
    s["shared_hash"] = topic_seed(L_DEF, "$share/g/#", "a/b")
    s["shared_empty_name"] = topic_seed(L_DEF, "$share//a", "a")
    s["shared_no_filter"] = topic_seed(L_DEF, "$share/g", "g")
    s["shared_empty_filter"] = topic_seed(L_DEF, "$share/g/", "g")
    s["shared_wildcard_name"] = topic_seed(L_DEF, "$share/g+/a", "a")
    s["shared_nested"] = topic_seed(L_DEF, "$share/g/$share/h/a", "$share/h/a")
    s["not_shared_prefix"] = topic_seed(L_DEF, "$shared/g/a", "$shared/g/a")
    s["empty_levels"] = topic_seed(L_DEF, "//", "//")
    s["leading_slash"] = topic_seed(L_DEF, "/a", "a")
    s["trailing_slash"] = topic_seed(L_DEF, "a/", "a")
    s["bad_hash_middle"] = topic_seed(L_DEF, "a/#/b", "a/x/b")
    s["bad_hash_glued"] = topic_seed(L_DEF, "a/b#", "a/b#")
    s["bad_plus_glued"] = topic_seed(L_DEF, "a+/b", "a+/b")
    s["empty"] = topic_seed(L_DEF, "", "")
    s["utf8_multibyte"] = topic_seed(L_DEF, "capteur/+/ü€𝄞", "capteur/température/ü€𝄞")
    s["utf8_surrogate"] = topic_seed(L_DEF, b"a/\xed\xa0\x80", b"a/\xed\xa0\x80")
    s["utf8_overlong_slash"] = topic_seed(L_DEF, b"a\xc0\xaf+", b"a/b")
    s["utf8_overlong_3byte"] = topic_seed(L_DEF, b"\xe0\x80\xaf", b"x")
    s["utf8_above_max"] = topic_seed(L_DEF, b"\xf4\x90\x80\x80", b"x")
    s["utf8_max"] = topic_seed(L_DEF, b"\xf4\x8f\xbf\xbf", b"\xf4\x8f\xbf\xbf")
    s["utf8_truncated"] = topic_seed(L_DEF, b"a/\xe2\x82", b"a/\xe2\x82\xac")
    s["utf8_nul"] = topic_seed(L_DEF, b"a/\x00", b"a/\x00")
    s["utf8_lone_continuation"] = topic_seed(L_DEF, b"\x80", b"\xbf")
    s["deep_default"] = topic_seed(L_DEF, "/".join(["+"] * 16), "/".join("abcdefghijklmnop"))
    s["deep_too_deep"] = topic_seed(L_DEF, "/".join(["+"] * 17), "/".join("abcdefghijklmnopq"))
    s["long_hard_cap"] = topic_seed(L_HARD, "a" * 1024, "a" * 1025)
    s["tight_limits"] = topic_seed(L_TIGHT, "a/b/c/#", "a/b/c/d/e")
    s["tight_shared_depth"] = topic_seed(L_TIGHT, "$share/g/a/b/c/d", "a/b/c/d")
    s["limits_one"] = topic_seed(L_ONE, "#", "a")
    return s


def write(dirpath, seeds, clean):
    os.makedirs(dirpath, exist_ok=True)
    if clean:
        for name in os.listdir(dirpath):
            if name not in seeds and not name.startswith("."):
                os.remove(os.path.join(dirpath, name))
    for name, data in sorted(seeds.items()):
        with open(os.path.join(dirpath, name), "wb") as f:
            f.write(data)
    return len(seeds)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(here, "corpus"),
                    help="corpus root (default: tests/fuzz/corpus)")
    ap.add_argument("--clean", action="store_true",
                    help="remove files in the corpus directories that this script does not write")
    args = ap.parse_args()
    n = write(os.path.join(args.out, "mqtt_decode"), decode_seeds(), args.clean)
    m = write(os.path.join(args.out, "mqtt_topic"), topic_seeds(), args.clean)
    print("wrote %d mqtt_decode and %d mqtt_topic seeds under %s" % (n, m, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
