#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_broker (tests/fuzz/corpus/broker/).

Input format (see fuzz_broker.c): byte 0 = version bits, then chunks
[op][len][bytes]; op 0..2 feeds client op, 3 advances the clock len
seconds, 4 closes and reopens client len % 3.
Run: python3 tests/fuzz/gen_broker_seeds.py
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "broker")


def s(b):
    return struct.pack(">H", len(b)) + b


def vbi(n):
    out = b""
    while True:
        d = n % 128
        n //= 128
        out += bytes([d | (0x80 if n else 0)])
        if not n:
            return out


def pkt(t, flags, body):
    return bytes([(t << 4) | flags]) + vbi(len(body)) + body


def sub(pid, flt, opts, v5):
    body = struct.pack(">H", pid) + (b"\x00" if v5 else b"") + s(flt) + bytes([opts])
    return pkt(8, 2, body)


def pub(topic, payload, qos=0, pid=1, retain=0, v5=False, props=b""):
    body = s(topic) + (struct.pack(">H", pid) if qos else b"")
    if v5:
        body += vbi(len(props)) + props
    return pkt(3, (qos << 1) | retain, body + payload)


def ack(t, pid, v5):
    return pkt(t, 2 if t == 6 else 0, struct.pack(">H", pid))


def chunk(op, data):
    out = b""
    while data:
        part, data = data[:255], data[255:]
        out += bytes([op, len(part)]) + part
    return out


seeds = {}
# All 3.1.1: device subscribes, service commands, QoS 1 flow.
seeds["v311_command_qos1"] = bytes([0]) + chunk(0, sub(1, b"d/dev-a/cmd/#", 1, False)) + \
    chunk(2, pub(b"d/dev-a/cmd/reboot", b"now", 1, 5)) + chunk(0, ack(4, 1, False))
# All v5: telemetry, retained, QoS 2 both ways.
seeds["v5_qos2_retained"] = bytes([7]) + chunk(2, sub(2, b"d/+/#", 2, True)) + \
    chunk(0, pub(b"d/dev-a/state", b"on", 2, 9, 1, True)) + chunk(0, ack(6, 9, True)) + \
    chunk(2, ack(5, 1, True)) + chunk(2, ack(7, 1, True))
# Topic alias and user property (v5).
props = b"\x23\x00\x02" + b"\x26" + s(b"k") + s(b"v")
seeds["v5_alias"] = bytes([7]) + chunk(1, sub(3, b"d/dev-b/cmd/#", 0, True)) + \
    chunk(2, pub(b"d/dev-b/cmd/x", b"1", 0, v5=True, props=props)) + \
    chunk(2, pub(b"", b"2", 0, v5=True, props=b"\x23\x00\x02"))
# Keep alive expiry and reconnect with a persistent session.
seeds["mixed_ticks_reconnect"] = bytes([5]) + chunk(0, sub(4, b"d/dev-a/#", 1, True)) + \
    chunk(4, b"\x00") + chunk(2, pub(b"d/dev-a/cmd/q", b"queued", 1, 3)) + \
    chunk(3, b"\x05") + chunk(3, b"\x20")
# Malformed after CONNECT: wildcard in a PUBLISH topic; ACL denial.
seeds["bad_inputs"] = bytes([1]) + chunk(0, pub(b"d/dev-b/cmd/x", b"no", 1, 2, v5=True)) + \
    chunk(1, b"\x30\x06\x00\x03a/#\x00")
# Raw CONNECTs (bit 3): 3.1.1 and 5.
conn311 = pkt(1, 0, s(b"MQTT") + b"\x04\x02\x00\x3c" + s(b"dev-a"))
conn5 = pkt(1, 0, s(b"MQTT") + b"\x05\x02\x00\x3c\x00" + s(b"dev-b"))
seeds["raw_connects"] = bytes([8 | 2]) + chunk(0, conn311) + chunk(1, conn5) + \
    chunk(0, pkt(12, 0, b"")) + chunk(1, pkt(14, 0, b""))

os.makedirs(OUT, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"wrote {len(seeds)} seeds to {OUT}")
