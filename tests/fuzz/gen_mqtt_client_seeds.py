#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_mqtt_client (tests/fuzz/corpus/mqtt_client/).

Each seed is a script for the target: two option bytes, then operations
(see the top of tests/fuzz/fuzz_mqtt_client.c). The server's packets are made
by the small encoder below, not by Rampart's codec, so that a seed does not
inherit a bug of the code under test. The output is deterministic.

    python3 tests/fuzz/gen_mqtt_client_seeds.py           # (re)writes the seeds
    python3 tests/fuzz/gen_mqtt_client_seeds.py --clean   # also deletes stale ones
"""
import os
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "mqtt_client")

V5, V311 = 5, 4

# ---- a small MQTT encoder (server to client packets) ------------------------


def vbi(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def u16(n):
    return bytes([n >> 8, n & 0xFF])


def u32(n):
    return n.to_bytes(4, "big")


def mstr(s):
    b = s.encode() if isinstance(s, str) else s
    return u16(len(b)) + b


def props(*items):
    body = b"".join(items)
    return vbi(len(body)) + body


def packet(first, body):
    return bytes([first]) + vbi(len(body)) + body


def connack(v, sp=0, rc=0, p=b""):
    body = bytes([sp, rc])
    if v == V5:
        body += p if p else props()
    return packet(0x20, body)


def publish(v, qos, pid, topic, payload, dup=0, retain=0, p=b""):
    body = mstr(topic)
    if qos:
        body += u16(pid)
    if v == V5:
        body += p if p else props()
    body += payload.encode() if isinstance(payload, str) else payload
    return packet(0x30 | (dup << 3) | (qos << 1) | retain, body)


def ack(ptype, pid, rc=0, v=V5):
    first = (ptype << 4) | (2 if ptype == 6 else 0)
    body = u16(pid)
    if v == V5 and rc:
        body += bytes([rc])
    return packet(first, body)


PUBACK, PUBREC, PUBREL, PUBCOMP = 4, 5, 6, 7


def suback(v, pid, codes, ptype=9):
    body = u16(pid)
    if v == V5:
        body += props()
    return packet(ptype << 4, body + bytes(codes))


def unsuback(v, pid, codes):
    if v == V311:
        return packet(0xB0, u16(pid))
    return suback(v, pid, codes, 11)


def pingresp():
    return b"\xd0\x00"


def disconnect(rc, p=b""):
    return packet(0xE0, bytes([rc]) + p)


# ---- the script -------------------------------------------------------------


def opts(v=V5, txcap=3, slots=3, rmax=2, clean=1, max_packet=3, alias=0, keepalive=0, mode=0):
    """Option bytes: indexes into the target's tables (see its header)."""
    o0 = (1 if v == V311 else 0) | (txcap << 1) | (slots << 3) | (rmax << 5) | (clean << 7)
    o1 = max_packet | (alias << 2) | (keepalive << 3) | (mode << 5)
    return bytes([o0, o1])


def feed(data, chunk=None):
    """Server bytes, as FEED operations (at most `chunk` bytes each)."""
    out = bytearray()
    while data:
        n = len(data)
        if chunk is not None:
            n = min(n, chunk)
        if n >= 64 and chunk is None:
            k = min(8, n // 64)
            out.append(0x00 | (23 + k))
            out += data[: k * 64]
            data = data[k * 64 :]
            continue
        n = min(n, 24)
        out.append(0x00 | (n - 1))
        out += data[:n]
        data = data[n:]
    return bytes(out)


def pub(qos, retain=0, size=1):
    return bytes([0x20 | qos | (retain << 2) | (size << 3)])


def sub(count, subscribe=1):
    return bytes([0x40 | subscribe | ((count - 1) << 1)])


def tick(step):
    return bytes([0x60 | step])


def drain(n=31):
    return bytes([0x80 | n])


def reconnect(clean):
    return bytes([0xA0 | clean])


def client_disconnect(idx=0):
    return bytes([0xC0 | idx])


def mode(m):
    return bytes([0xE0 | m])


# ---- seeds ------------------------------------------------------------------

P_RMAX1 = props(b"\x21" + u16(1))
P_MAXPKT = lambda n: props(b"\x27" + u32(n))  # noqa: E731


def seeds():
    s = {}
    ok5 = connack(V5)
    s["connack_v5_ok"] = opts() + drain() + feed(ok5)
    s["connack_v5_refused"] = opts() + feed(connack(V5, 0, 0x86))
    s["connack_v311_refused"] = opts(V311) + feed(connack(V311, 0, 5))
    s["connack_v5_limits"] = (
        opts()
        + feed(
            connack(
                V5,
                p=props(
                    b"\x21" + u16(2),
                    b"\x27" + u32(100),
                    b"\x13" + u16(5),
                    b"\x24\x01",
                    b"\x25\x00",
                    b"\x12" + mstr("assigned"),
                ),
            )
        )
        + pub(2)
        + pub(1, retain=1)
        + pub(1, size=2)
        + pub(1)
        + drain()
    )
    s["pub_q1_out_acked"] = opts() + feed(ok5) + pub(1) + drain() + feed(ack(PUBACK, 1))
    s["pub_q2_out_flow"] = (
        opts()
        + feed(ok5)
        + pub(2)
        + drain()
        + feed(ack(PUBREC, 1))
        + drain()
        + feed(ack(PUBREC, 1))
        + feed(ack(PUBCOMP, 1))
        + drain()
    )
    s["pub_q2_out_refused"] = opts() + feed(ok5) + pub(2) + drain() + feed(ack(PUBREC, 1, 0x87))
    s["pub_in_all_qos"] = (
        opts()
        + feed(ok5)
        + feed(publish(V5, 0, 0, "c/0", "zero"))
        + feed(publish(V5, 1, 5, "c/1", "one"))
        + feed(publish(V5, 2, 6, "c/2", "two"))
        + feed(publish(V5, 2, 6, "c/2", "two", dup=1))
        + drain()
        + feed(ack(PUBREL, 6))
        + feed(ack(PUBREL, 6))
        + feed(publish(V5, 2, 6, "c/2", "again"))
        + drain()
    )
    s["pub_in_refused"] = (
        opts()
        + feed(ok5)
        + mode(4)
        + feed(publish(V5, 1, 1, "c", "x") + publish(V5, 2, 2, "c", "y"))
        + mode(7)
        + feed(publish(V5, 2, 3, "c", "z"))
        + drain()
        + feed(ack(PUBREL, 2))
        + drain()
    )
    resume = (
        opts(clean=0)
        + feed(ok5)
        + pub(1)
        + pub(2)
        + pub(2)
        + drain()
        + feed(ack(PUBREC, 3))
        + feed(publish(V5, 2, 40, "c", "in"))
        + sub(1)
        + drain()
        + reconnect(0)
    )
    s["resume_present"] = (
        resume
        + feed(connack(V5, 1))
        + drain()
        + feed(publish(V5, 2, 40, "c", "in", dup=1) + ack(PUBREL, 40))
        + feed(ack(PUBACK, 1) + ack(PUBREC, 2) + ack(PUBCOMP, 3))
        + drain()
        + feed(ack(PUBCOMP, 2))
        + drain()
    )
    s["resume_lost"] = resume + mode(8) + feed(connack(V5, 0)) + drain()
    s["resume_smaller"] = resume + feed(connack(V5, 1, p=P_RMAX1)) + drain() + feed(ack(PUBACK, 1)) + drain()
    s["resume_clean_but_present"] = opts() + feed(connack(V5, 1))
    s["subscribe"] = (
        opts()
        + feed(ok5)
        + sub(2)
        + sub(1, 0)
        + drain()
        + feed(suback(V5, 1, [0, 0x80]))
        + feed(unsuback(V5, 2, [0x11]))
        + sub(3)
        + drain()
        + feed(suback(V5, 3, [1]))
    )
    s["keepalive"] = (
        opts(keepalive=2)
        + feed(ok5)
        + tick(4)
        + drain()
        + tick(2)
        + feed(pingresp())
        + tick(4)
        + drain()
        + tick(4)
        + tick(4)
        + drain()
    )
    s["keepalive_server"] = opts(keepalive=3) + feed(connack(V5, p=props(b"\x13" + u16(1)))) + tick(2) + drain() + tick(4)
    s["connack_timeout"] = opts() + tick(2) + tick(4) + tick(3)
    s["server_disconnect"] = opts() + feed(ok5) + feed(disconnect(0x8B, props(b"\x1f" + mstr("bye"))))
    s["client_disconnect"] = opts() + feed(ok5) + client_disconnect(1) + drain() + reconnect(1) + feed(ok5)
    s["topic_alias"] = (
        opts(alias=1)
        + feed(ok5)
        + feed(publish(V5, 0, 0, "d/1/cmd/x", "1", p=props(b"\x23" + u16(2))))
        + feed(publish(V5, 1, 1, "", "2", p=props(b"\x23" + u16(2))))
        + feed(publish(V5, 0, 0, "", "3", p=props(b"\x23" + u16(3))))
    )
    s["receive_max_in"] = opts(rmax=0) + feed(ok5) + feed(publish(V5, 2, 1, "c", "a") + publish(V5, 2, 2, "c", "b"))
    s["receive_max_out"] = (
        opts()
        + feed(connack(V5, p=P_RMAX1))
        + pub(1)
        + pub(1)
        + drain()
        + feed(ack(PUBACK, 1))
        + pub(1)
        + drain()
    )
    s["backpressure"] = (
        opts(txcap=1)
        + feed(ok5)
        + pub(0, size=1)
        + pub(0, size=1)
        + feed(publish(V5, 1, 1, "c", "x") * 6)
        + pub(1)
        + drain(4)
        + drain()
        + feed(b"")
        + drain()
    )
    s["oversize_in"] = opts(max_packet=0) + feed(ok5) + feed(publish(V5, 0, 0, "c", "p" * 100))
    s["malformed_after_connack"] = opts() + feed(ok5) + feed(b"\x41\x02\x00\x01") + drain()
    s["split_bytes"] = (
        opts()
        + feed(ok5 + publish(V5, 1, 7, "c/1", "payload") + pingresp(), chunk=1)
        + drain()
    )
    s["callback_publish"] = opts(mode=1) + feed(ok5) + feed(publish(V5, 1, 9, "c", "x")) + drain()
    s["callback_disconnect"] = opts(mode=3) + feed(ok5) + drain()
    s["v311_flow"] = (
        opts(V311, clean=0)
        + feed(connack(V311))
        + pub(1)
        + pub(2)
        + sub(1)
        + drain()
        + feed(ack(PUBACK, 1, v=V311) + ack(PUBREC, 2, v=V311))
        + feed(suback(V311, 3, [0x80]))
        + feed(publish(V311, 2, 4, "c", "x") + ack(PUBREL, 4, v=V311))
        + sub(1, 0)
        + drain()
        + feed(unsuback(V311, 4, []))
        + reconnect(0)
        + feed(connack(V311, 1))
        + drain()
    )
    s["v311_violation"] = opts(V311) + feed(connack(V311)) + feed(b"\xe0\x00")
    s["connack_tiny_max_packet"] = opts() + feed(connack(V5, p=P_MAXPKT(4))) + drain()
    s["alias_above_max"] = (
        opts(alias=1) + feed(ok5) + feed(publish(V5, 0, 0, "a", "x", p=props(b"\x23" + u16(9)))) + drain()
    )
    s["pubrec_not_ours"] = opts() + feed(ok5) + feed(ack(PUBREC, 77)) + drain()
    s["puback_for_qos2"] = opts() + feed(ok5) + pub(2) + drain() + feed(ack(PUBACK, 1)) + drain()
    s["pubrec_for_qos1"] = opts() + feed(ok5) + pub(1) + drain() + feed(ack(PUBREC, 1)) + drain()
    s["pubcomp_not_ours"] = opts() + feed(ok5) + feed(ack(PUBCOMP, 5)) + drain()
    s["pubcomp_before_pubrec"] = opts() + feed(ok5) + pub(2) + drain() + feed(ack(PUBCOMP, 1)) + drain()
    s["suback_wrong_count"] = opts() + feed(ok5) + sub(2) + drain() + feed(suback(V5, 1, [0])) + drain()
    s["pingreq_from_server"] = opts() + feed(ok5) + feed(b"\xc0\x00") + drain()
    s["connect_from_server"] = (
        opts() + feed(ok5) + feed(packet(0x10, mstr("MQTT") + bytes([6, 2]) + u16(0) + props() + mstr(""))) + drain()
    )
    s["before_connack"] = opts() + pub(1) + sub(1) + feed(publish(V5, 0, 0, "c", "x")) + drain()
    s["subscribe_too_large"] = (
        opts(txcap=1) + feed(connack(V5, p=P_MAXPKT(12))) + sub(4) + pub(0, size=2) + pub(1, size=1) + drain()
    )
    s["no_slot_left"] = opts(slots=0) + feed(ok5) + pub(1) + pub(1) + sub(1) + drain()
    s["partial_drains"] = opts(txcap=1) + feed(ok5) + pub(0) + pub(0) + drain(3) + pub(0) + drain(2) + pub(1) + drain()
    s["disconnect_bad_reason"] = opts() + feed(ok5) + client_disconnect(3) + client_disconnect(0) + drain()
    s["keepalive_deadlines"] = opts(keepalive=2) + feed(ok5) + tick(2) + tick(2) + drain() + tick(1) + feed(pingresp())
    s["qos0_in_disconnect_callback"] = opts(mode=3) + feed(ok5 + publish(V5, 0, 0, "c", "x")) + drain()
    s["v311_tiny_txbuf"] = opts(V311, txcap=0) + feed(connack(V311)) + pub(1) + pub(0) + drain()
    s["v5_connect_too_large"] = opts(txcap=0)
    return s


def main():
    os.makedirs(OUT, exist_ok=True)
    written = set()
    for name, data in sorted(seeds().items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        written.add(name)
    if "--clean" in sys.argv[1:]:
        for name in os.listdir(OUT):
            if name not in written:
                os.remove(os.path.join(OUT, name))
    print(f"gen_mqtt_client_seeds: {len(written)} seeds in {OUT}")


if __name__ == "__main__":
    main()
