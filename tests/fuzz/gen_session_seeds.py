#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_session (tests/fuzz/corpus/session/).

Input format (see fuzz_session.c): one option byte (bit 0: check the store
key "dev-a"; bits 1-2: limits profile; bit 3: resume after the restore),
then a stored session blob as docs/broker.md ("Persistent sessions across
restarts") describes it. The blobs are built here from that description,
with a small MQTT 5 PUBLISH encoder of their own, not by Rampart's code, so
a seed does not inherit a bug of the code under test. Deterministic.

Run: python3 tests/fuzz/gen_session_seeds.py
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "session")

KEY, TIGHT, NARROW, NO_EXPIRY, RESUME = 1, 1 << 1, 2 << 1, 3 << 1, 8
QUEUED, WAIT_ACK, WAIT_REC, WAIT_COMP = 0, 1, 2, 3


def vbi(n):
    out = b""
    while True:
        d = n % 128
        n //= 128
        out += bytes([d | (0x80 if n else 0)])
        if not n:
            return out


def s16(b):
    return struct.pack(">H", len(b)) + b


def publish(topic, payload, qos=1, retain=0, props=b""):
    """An MQTT 5 PUBLISH; the packet id is 1 (the record holds the delivery's)."""
    body = s16(topic) + (struct.pack(">H", 1) if qos else b"") + vbi(len(props)) + props
    return bytes([0x30 | qos << 1 | retain]) + vbi(len(body) + len(payload)) + body + payload


def text(b):
    return bytes([len(b)]) + b


def head(cid=b"dev-a", ident=None, role=b"device", version=5, expiry=600, next_id=0):
    return (b"RPS\x01" + bytes([version, 0]) + struct.pack(">I", expiry) + text(cid) +
            text(cid if ident is None else ident) + text(role) + struct.pack(">H", next_id))


def subs(*entries):
    """entries: (filter, qos, no_local, retain_as_published, retain_handling, sub_id)"""
    out = struct.pack(">H", len(entries))
    for f, qos, nl, rap, rh, sid in entries:
        out += s16(f) + bytes([qos | nl << 2 | rap << 3 | rh << 4]) + struct.pack(">I", sid)
    return out


def rx(*ids):
    return struct.pack(">H", len(ids)) + b"".join(struct.pack(">H", i) for i in ids)


def msgs(*records):
    """records: (state, granted qos, retain, packet id, sub id, packet)"""
    out = struct.pack(">I", len(records))
    for state, qos, retain, pid, sid, pkt in records:
        out += bytes([state, qos, retain]) + struct.pack(">HII", pid, sid, len(pkt)) + pkt
    return out


# Properties: payload format, message expiry, content type, response topic,
# correlation data, two user properties.
PROPS = (b"\x01\x01" + b"\x02" + struct.pack(">I", 3600) + b"\x03" + s16(b"text/plain") +
         b"\x08" + s16(b"d/dev-a/reply") + b"\x09" + s16(b"corr") +
         b"\x26" + s16(b"k1") + s16(b"v1") + b"\x26" + s16(b"k2") + s16(b"v2"))

P1 = publish(b"d/dev-a/cmd/reboot", b"now", 1)
P2 = publish(b"d/dev-a/cmd/fw", b"1.2.3", 2, 1, PROPS)
P3 = publish(b"d/dev-a/cfg/x", b"{\"a\":1}", 1, 0, b"\x02" + struct.pack(">I", 0))

EVERY_OPTION = subs((b"d/dev-a/cmd/+", 2, 1, 1, 2, 7),
                    (b"d/dev-a/cfg/#", 1, 0, 0, 1, 268435455),
                    (b"d/dev-a/ping", 0, 0, 1, 0, 0))

FULL = (head() + EVERY_OPTION + rx(9, 77) +
        msgs((WAIT_ACK, 1, 0, 5, 7, P1), (WAIT_REC, 2, 0, 6, 7, P2),
             (WAIT_COMP, 2, 0, 7, 0, P2), (QUEUED, 1, 1, 0, 0, P1),
             (QUEUED, 2, 0, 0, 268435455, P2), (QUEUED, 1, 0, 0, 0, P3)))

seeds = {
    "empty_v5": bytes([0]) + head() + subs() + rx() + msgs(),
    "empty_v311_key": bytes([KEY]) + head(version=4) + subs() + rx() + msgs(),
    "every_option": bytes([KEY]) + head() + EVERY_OPTION + rx() + msgs(),
    "full": bytes([KEY]) + FULL,
    "full_resume": bytes([KEY | RESUME]) + FULL,
    "full_tight_resume": bytes([TIGHT | RESUME]) + FULL,
    "full_narrow": bytes([NARROW | RESUME]) + FULL,
    "full_no_expiry": bytes([NO_EXPIRY]) + FULL,
    "v311_inflight_resume": bytes([RESUME]) + head(version=4, next_id=65535) +
    subs((b"d/dev-a/#", 2, 0, 0, 0, 0)) + rx() +
    msgs((WAIT_ACK, 1, 0, 65534, 0, P1), (WAIT_REC, 2, 0, 65535, 0, P2),
         (WAIT_COMP, 2, 0, 1, 0, P2)),
    "shared_service": bytes([RESUME]) + head(b"ingest:2", b"ingest", b"ingest", expiry=900) +
    subs((b"$share/ingest/d/+/telemetry", 1, 0, 0, 0, 3), (b"d/+/telemetry", 0, 0, 0, 0, 0)) +
    rx() + msgs((QUEUED, 1, 0, 0, 3, publish(b"d/dev-b/telemetry", b"[]", 1))),
    "commander_qos2_ids": bytes([RESUME]) + head(b"ops", role=b"commander") +
    subs((b"d/+/cmd/+/result", 2, 0, 0, 0, 0)) + rx(1, 2, 3, 65535) + msgs(),
    "unknown_role": bytes([0]) + head(b"x", role=b"nobody") + subs((b"a/b", 1, 0, 0, 0, 0)) +
    rx() + msgs(),
    # Refused: each exercises one check.
    "bad_truncated": bytes([KEY]) + FULL[:-3],
    "bad_trailing": bytes([0]) + head() + subs() + rx() + msgs() + b"\x00",
    "bad_other_identity": bytes([0]) + head(b"dev-a", b"dev-b") + subs() + rx() + msgs(),
    "bad_duplicate_ids": bytes([0]) + head() + subs() + rx() +
    msgs((WAIT_ACK, 1, 0, 5, 0, P1), (WAIT_ACK, 1, 0, 5, 0, P1)),
    "bad_not_publish": bytes([0]) + head() + subs() + rx() +
    msgs((QUEUED, 1, 0, 0, 0, b"\xc0\x00")),
    "bad_counts": bytes([0]) + head() + b"\xff\xff",
}

os.makedirs(OUT, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"wrote {len(seeds)} seeds to {OUT}")
