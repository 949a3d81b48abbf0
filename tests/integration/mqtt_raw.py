"""tests/integration/mqtt_raw.py - hand-built MQTT packets over a TLS socket.

Independent of the code under test: written from the MQTT 3.1.1 and 5.0
specifications, so that the raw-packet tests send exactly the bytes they
mean (malformed ones included) and read exactly what rampartd answered.
"""

import socket
import ssl
import struct
import time

V311 = 4
V5 = 5

# Packet types (high nibble of the first byte).
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14
AUTH = 15

NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL",
         7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK",
         12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT", 15: "AUTH"}

# MQTT 5 property identifiers and their types (section 2.2.2.2).
_PROP_TYPES = {
    0x01: "byte", 0x02: "u32", 0x03: "str", 0x08: "str", 0x09: "bin", 0x0B: "vbi",
    0x11: "u32", 0x12: "str", 0x13: "u16", 0x15: "str", 0x16: "bin", 0x17: "byte",
    0x18: "u32", 0x19: "byte", 0x1A: "str", 0x1C: "str", 0x1F: "str", 0x21: "u16",
    0x22: "u16", 0x23: "u16", 0x24: "byte", 0x25: "byte", 0x26: "pair", 0x27: "u32",
    0x28: "byte", 0x29: "byte", 0x2A: "byte",
}
PROP_SESSION_EXPIRY = 0x11
PROP_ASSIGNED_CLIENT_ID = 0x12
PROP_SERVER_KEEPALIVE = 0x13
PROP_REASON_STRING = 0x1F
PROP_RECEIVE_MAX = 0x21
PROP_MAX_PACKET_SIZE = 0x27


def vbi(n):
    """Variable byte integer, minimal encoding."""
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            b |= 0x80
        out.append(b)
        if not n:
            return bytes(out)


def mstr(s):
    b = s.encode() if isinstance(s, str) else bytes(s)
    return struct.pack("!H", len(b)) + b


def packet(first, body):
    return bytes([first]) + vbi(len(body)) + body


def props(*pairs):
    """MQTT 5 properties from (id, value) pairs, with the length prefix."""
    out = b""
    for pid, val in pairs:
        t = _PROP_TYPES[pid]
        out += vbi(pid)
        if t == "byte":
            out += bytes([val])
        elif t == "u16":
            out += struct.pack("!H", val)
        elif t == "u32":
            out += struct.pack("!I", val)
        elif t == "vbi":
            out += vbi(val)
        elif t in ("str", "bin"):
            out += mstr(val)
        elif t == "pair":
            out += mstr(val[0]) + mstr(val[1])
    return vbi(len(out)) + out


def connect(client_id, version=V5, keepalive=30, clean=True, properties=b"", level=None,
            name="MQTT", will=None):
    """will: (topic, payload, qos, retain) or None."""
    flags = 0x02 if clean else 0x00
    if will is not None:
        flags |= 0x04 | (will[2] << 3) | (0x20 if will[3] else 0)
    if level is None:
        level = 5 if version == V5 else 4
    vh = mstr(name) + bytes([level, flags]) + struct.pack("!H", keepalive)
    if version == V5:
        vh += properties if properties else b"\x00"
    pl = mstr(client_id)
    if will is not None:
        if version == V5:
            pl += b"\x00"
        pl += mstr(will[0]) + mstr(will[1])
    return packet(0x10, vh + pl)


def subscribe(pid, filters, version=V5):
    """filters: list of (filter, options byte)."""
    body = struct.pack("!H", pid)
    if version == V5:
        body += b"\x00"
    for f, opt in filters:
        body += mstr(f) + bytes([opt])
    return packet(0x82, body)


def publish(topic, payload, qos=0, pid=1, version=V5, retain=False, dup=False):
    first = 0x30 | (qos << 1) | (0x01 if retain else 0) | (0x08 if dup and qos else 0)
    body = mstr(topic)
    if qos:
        body += struct.pack("!H", pid)
    if version == V5:
        body += b"\x00"
    body += payload if isinstance(payload, bytes) else payload.encode()
    return packet(first, body)


def ack(ptype, pid):
    """PUBACK/PUBREC/PUBCOMP (flags 0) or PUBREL (flags 2), reason omitted."""
    first = (ptype << 4) | (0x02 if ptype == PUBREL else 0)
    return bytes([first, 2]) + struct.pack("!H", pid)


PINGREQ_BYTES = b"\xc0\x00"
DISCONNECT_BYTES = b"\xe0\x00"


def parse_props(b, off):
    """Returns (dict id -> value or list, offset after)."""
    n, off = read_vbi(b, off)
    end = off + n
    out = {}
    while off < end:
        pid, off = read_vbi(b, off)
        t = _PROP_TYPES.get(pid)
        if t == "byte":
            v = b[off]
            off += 1
        elif t == "u16":
            v = struct.unpack_from("!H", b, off)[0]
            off += 2
        elif t == "u32":
            v = struct.unpack_from("!I", b, off)[0]
            off += 4
        elif t == "vbi":
            v, off = read_vbi(b, off)
        elif t in ("str", "bin"):
            ln = struct.unpack_from("!H", b, off)[0]
            v = bytes(b[off + 2:off + 2 + ln])
            off += 2 + ln
            if t == "str":
                v = v.decode()
        elif t == "pair":
            ln = struct.unpack_from("!H", b, off)[0]
            k = bytes(b[off + 2:off + 2 + ln]).decode()
            off += 2 + ln
            ln = struct.unpack_from("!H", b, off)[0]
            v = (k, bytes(b[off + 2:off + 2 + ln]).decode())
            off += 2 + ln
        else:
            raise ValueError("unknown property 0x%02x" % pid)
        out.setdefault(pid, []).append(v) if t == "pair" else out.__setitem__(pid, v)
    return out, end


def read_vbi(b, off):
    mult, val = 1, 0
    for i in range(4):
        byte = b[off + i]
        val += (byte & 0x7F) * mult
        if not byte & 0x80:
            return val, off + i + 1
        mult *= 128
    raise ValueError("malformed variable byte integer")


class Packet:
    """One received packet: type, flags, body; parsed fields for the usual ones."""

    def __init__(self, first, body, version):
        self.first = first
        self.type = first >> 4
        self.flags = first & 0x0F
        self.body = body
        self.version = version
        self.props = {}
        self.reason = None
        self.pid = None
        if self.type == CONNACK:
            self.session_present = body[0] & 1
            self.reason = body[1]
            if version == V5 and len(body) > 2:
                self.props, _ = parse_props(body, 2)
        elif self.type == SUBACK:
            self.pid = struct.unpack_from("!H", body, 0)[0]
            off = 2
            if version == V5:
                self.props, off = parse_props(body, off)
            self.codes = list(body[off:])
        elif self.type in (PUBACK, PUBREC, PUBREL, PUBCOMP):
            self.pid = struct.unpack_from("!H", body, 0)[0]
            self.reason = body[2] if len(body) > 2 else 0
        elif self.type == DISCONNECT:
            self.reason = body[0] if len(body) > 0 else 0
            if len(body) > 1:
                self.props, _ = parse_props(body, 1)
        elif self.type == PUBLISH:
            self.qos = (first >> 1) & 3
            self.retain = first & 1
            self.dup = (first >> 3) & 1
            ln = struct.unpack_from("!H", body, 0)[0]
            self.topic = bytes(body[2:2 + ln]).decode()
            off = 2 + ln
            if self.qos:
                self.pid = struct.unpack_from("!H", body, off)[0]
                off += 2
            if version == V5:
                self.props, off = parse_props(body, off)
            self.payload = bytes(body[off:])

    def __repr__(self):
        r = "%s" % NAMES.get(self.type, self.type)
        if self.reason is not None:
            r += " reason=0x%02x" % self.reason
        if self.type == SUBACK:
            r += " codes=%s" % ["0x%02x" % c for c in self.codes]
        if self.type == PUBLISH:
            r += " %s qos=%d %r" % (self.topic, self.qos, self.payload[:40])
        return "<%s>" % r


class Closed(Exception):
    """The server closed the connection. .data holds bytes read but not parsed."""

    def __init__(self, why, data=b""):
        super().__init__(why)
        self.why = why
        self.data = data


class TLSClient:
    """A blocking TLS connection to rampartd speaking hand-built MQTT."""

    def __init__(self, port, ca, cert=None, key=None, version=V5, timeout=5.0, context=None,
                 session=None, source=None):
        self.version = version
        if context is None:
            context = make_context(ca, cert, key)
        self.context = context
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                       source_address=(source, 0) if source else None)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.sock = context.wrap_socket(raw, server_hostname="localhost", session=session)
        except BaseException:
            raw.close()
            raise
        self.buf = bytearray()
        self.closed = None

    # -- sending -----------------------------------------------------------

    def send(self, data):
        self.sock.sendall(data)

    def connect(self, client_id, **kw):
        """Sends CONNECT and returns the CONNACK packet."""
        kw.setdefault("version", self.version)
        self.send(connect(client_id, **kw))
        p = self.recv(timeout=5.0)
        if p.type != CONNACK:
            raise AssertionError("expected CONNACK, got %r" % p)
        return p

    # -- receiving ---------------------------------------------------------

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("timed out")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise
        except (ssl.SSLError, OSError) as e:
            self.closed = "%s: %s" % (type(e).__name__, e)
            raise Closed(self.closed, bytes(self.buf))
        if not chunk:
            self.closed = "EOF"
            raise Closed("EOF", bytes(self.buf))
        self.buf += chunk

    def recv(self, timeout=5.0):
        """The next packet; socket.timeout if none within timeout; Closed on EOF."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 2:
                try:
                    n, off = read_vbi(self.buf, 1)
                except IndexError:
                    n = None
                if n is not None and len(self.buf) >= off + n:
                    first = self.buf[0]
                    body = bytes(self.buf[off:off + n])
                    del self.buf[:off + n]
                    return Packet(first, body, self.version)
            self._fill(deadline)

    def recv_type(self, ptype, timeout=5.0):
        """Skips other packets until one of ptype arrives."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.recv(max(0.0, deadline - time.monotonic()))
            if p.type == ptype:
                return p

    def until_closed(self, timeout=5.0):
        """Reads packets until the server closes. Returns (packets, why, seconds);
        why is None if still open at the deadline."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        got = []
        while True:
            try:
                got.append(self.recv(max(0.001, deadline - time.monotonic())))
            except Closed as e:
                if e.data:
                    got.append(("unparsed", e.data))
                return got, e.why, time.monotonic() - t0
            except socket.timeout:
                return got, None, time.monotonic() - t0

    def is_open(self, wait=0.2):
        """True if nothing but silence comes within `wait` seconds."""
        try:
            p = self.recv(wait)
        except socket.timeout:
            return True
        except Closed:
            return False
        raise AssertionError("unexpected packet %r" % p)

    def ping(self, timeout=5.0):
        self.send(PINGREQ_BYTES)
        return self.recv_type(PINGRESP, timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def make_context(ca, cert=None, key=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    if cert is not None:
        ctx.load_cert_chain(cert, key)
    return ctx
