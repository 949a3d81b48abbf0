#!/usr/bin/python3
"""tests/integration/test_device.py - the device runtime against the real rampartd.

    /usr/bin/python3 test_device.py --rampartd PATH --device PATH [unittest args]

The device is `test_device --run` (tests/unit/test_device.c, part 3): a
program built on rp_device (device/app) with the SDK's link, TLS client and
store-and-forward queue, driven over stdin/stdout. rampartd is started as
test_broker.py starts it (class Rampartd: the test PKI of pki.py, 127.0.0.1
port 0, a fresh temporary directory that is also its data_dir, so its
SQLite store is <tmp>/rampart.db), with a policy whose commander role may
also read command results (d/+/cmd/+/result).

Groups (one CTest test each, see CMakeLists.txt):
  Telemetry      numbers, a string and a boolean land in rampartd's SQLite
                 store, one row each, in order; batch_ms closes a pack
                 without a flush
  Commands       a service (mosquitto_pub with the commander certificate)
                 sends commands; the results it reads on d/dev-0001/cmd/+/result
                 (mosquitto_sub): done with the arguments echoed, failed for
                 an unknown command, failed from a handler, done from a
                 PENDING command answered later; a payload without an id is
                 logged and not answered; no argument reaches a log line
  Restart        rampartd stopped under the device: values keep being taken
                 and queued; rampartd restarted on the same port: every
                 value arrives, in order (at least once); then
                 rp_device_set_tls and more values
  DeviceRestart  the device program quits with packs queued while rampartd
                 is down; a new process on the same queue directory and key
                 delivers them all, in order; the queue on disk holds no
                 plaintext
"""

import glob
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import test_broker as TB  # noqa: E402  (Rampartd, BrokerTest, mosquitto helpers)

DEVICE = os.environ.get("RP_TEST_DEVICE")
WAIT = 20.0  # seconds for anything the device should do (ASan build included)

POLICY = """\
# test_device.py: the commander also reads the results of its commands.
role commander
  publish d/+/cmd/#
  subscribe d/+/cmd/+/result
  subscribe d/+/event/#

role ingest
  subscribe d/+/telemetry
  subscribe d/+/event/#
"""


class Device:
    """`test_device --run` as a child process; its stdout collected line by line."""

    def __init__(self, tc, port, queue, batch_ms=200, batch_records=8):
        crt, key = tc.pki.pair("dev-0001")
        args = [DEVICE, "--run", "--host", "127.0.0.1", "--port", str(port),
                "--name", "localhost", "--ca", tc.pki.ca_crt, "--cert", crt, "--key", key,
                "--id", "dev-0001", "--queue", queue,
                "--storage-key", os.path.join(tc.tmp, "device-data.key"),
                "--batch-ms", str(batch_ms), "--batch-records", str(batch_records),
                "--base", "200", "--cap", "1000"]
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env)
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.exit = None
        tc.addCleanup(self.kill)

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if os.environ.get("RP_IT_VERBOSE"):
                sys.stderr.write("[device] %s\n" % line)
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()

    def send(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def mark(self):
        with self.cond:
            return len(self.lines)

    def wait(self, pattern, timeout=WAIT, start=0):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for ln in self.lines[start:]:
                    m = rx.search(ln)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self.reader.is_alive()):
                    return None
                self.cond.wait(min(left, 0.1))

    def all(self, pattern, start=0):
        rx = re.compile(pattern)
        with self.cond:
            return [m for m in (rx.search(ln) for ln in self.lines[start:]) if m]

    def text(self):
        with self.cond:
            return "\n".join(self.lines)

    def stats(self):
        start = self.mark()
        self.send("stats")
        m = self.wait(r"^STATS (.*)$", start=start)
        if m is None:
            raise AssertionError("no STATS from the device:\n" + self.text())
        return {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}

    def do(self, line, answer):
        """Sends a line and returns the answer line matching `answer`."""
        start = self.mark()
        self.send(line)
        m = self.wait(answer, start=start)
        if m is None:
            raise AssertionError("no %r after %r:\n%s" % (answer, line, self.text()))
        return m

    def quit(self):
        self.send("quit")
        try:
            self.exit = self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.exit = "killed"
        self.reader.join(5)
        return self.exit

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(5)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass

    def sanitizer_report(self):
        t = self.text()
        return any(m in t for m in TB.SANITIZER_MARKS)


class DeviceTest(TB.BrokerTest):
    def start(self, **kw):
        return self.start_broker(policy=POLICY, **kw)

    def start_on_port(self, port):
        """rampartd again on the port the device expects."""
        d = TB.Rampartd(self.tmp, self.pki, policy=POLICY, tls=False,
                        extra=["listener.mqtts 127.0.0.1:%d" % port])
        d.nlisteners = 1
        self.daemons.append(d)
        self.addCleanup(self._stop_and_check, d)
        d.start()
        self.broker = d
        self.assertEqual(d.port, port)
        return d

    def device(self, **kw):
        return Device(self, self.broker.port, os.path.join(self.tmp, "queue"), **kw)

    def expect(self, dev, pattern, what, timeout=WAIT, start=0):
        m = dev.wait(pattern, timeout, start)
        if m is None:
            self.fail("%s: no line matching %r from the device:\n%s" % (what, pattern, dev.text()))
        return m

    def connected(self, dev, start=0):
        self.expect(dev, r"^CONNECTED sp=\d$", "CONNECT accepted", start=start)
        self.expect(dev, r"^SUBSCRIBED codes=01$", "command topic granted at QoS 1", start=start)

    def until(self, dev, pred, what, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while True:
            st = dev.stats()
            if pred(st):
                return st
            if time.monotonic() > deadline:
                self.fail("%s: stats %r\n%s" % (what, st, dev.text()))
            time.sleep(0.1)

    def delivered_all(self, dev, packs=0, timeout=WAIT):
        """Until the queue is empty and at least every pack this process
        queued (and at least `packs`) was answered by rampartd."""
        return self.until(dev, lambda s: s["queued"] == 0 and
                          s["packs_delivered"] + s["packs_refused"] >=
                          max(s["packs_queued"], packs),
                          "every queued pack delivered", timeout)

    def finish(self, dev):
        self.assertEqual(dev.quit(), 0, "test_device exit status:\n" + dev.text())
        self.assertIsNotNone(dev.wait(r"^BYE$", 1), dev.text())
        self.assertFalse(dev.sanitizer_report(), "a sanitizer reported an error:\n" + dev.text())

    def rows(self, sql, args=()):
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.tmp, "rampart.db"),
                             uri=True, timeout=5)
        try:
            return list(db.execute(sql, args))
        finally:
            db.close()

    def series(self, name):
        return [int(r[0]) for r in self.rows(
            "SELECT v_num FROM telemetry WHERE device_id = 'dev-0001' AND name = ? ORDER BY id",
            (name,))]

    def assert_in_order(self, got, want):
        """Every value of `want` arrived, at least once, and in order: a resent
        pack may repeat values, but the first arrival of each is in order."""
        first = []
        for v in got:
            if v not in first:
                first.append(v)
        self.assertEqual(first, want, "values missing or out of order: %r" % got)
        self.assertEqual(sorted(set(got)), sorted(want), "values nobody sent: %r" % got)
        dups = len(got) - len(want)
        if dups:
            print("\n  %d value(s) delivered twice (at least once)" % dups, file=sys.stderr)


# --------------------------------------------------------------------------

class Telemetry(DeviceTest):
    """Values from rp_device_* to rows in rampartd's store."""

    def test_values_in_store(self):
        self.start()
        dev = self.device(batch_ms=60000, batch_records=8)
        self.connected(dev)
        dev.do("nums seq 1 20", r"^NUMS st=(\S+)")
        dev.do("num temp 215 -1", r"^NUM st=")
        dev.do("str fw 1.2.3", r"^STR st=")
        self.assertEqual(dev.do("flush", r"^FLUSH st=(\S+)").group(1), "ok")
        st = self.delivered_all(dev)
        self.assertEqual(st["values"], 22)
        self.assertEqual(st["packs_queued"], 3)  # 8 + 8 + 6: batch_records
        self.assertEqual(st["packs_refused"], 0)
        # Acknowledged means stored: the rows are there now.
        self.assertEqual(self.series("seq"), list(range(1, 21)))
        self.assertEqual(self.rows("SELECT kind, v_num, unit FROM telemetry WHERE name = 'temp'"),
                         [(0, 21.5, "")])
        self.assertEqual(self.rows("SELECT kind, v_str FROM telemetry WHERE name = 'fw'"),
                         [(1, "1.2.3")])
        self.assertEqual(self.rows("SELECT DISTINCT unit FROM telemetry WHERE name = 'seq'"),
                         [("count",)])
        self.assertEqual(self.rows("SELECT count(*) FROM telemetry")[0][0], 22)
        # Time "when received": rampartd's clock, within the test's minutes.
        t = self.rows("SELECT min(time_ms), max(time_ms) FROM telemetry")[0]
        now = int(time.time() * 1000)
        self.assertTrue(now - 600000 < t[0] <= t[1] <= now + 60000, t)
        self.finish(dev)

    def test_batch_ms_closes_pack(self):
        self.start()
        dev = self.device(batch_ms=300, batch_records=100)
        self.connected(dev)
        t0 = time.monotonic()
        dev.do("nums tick 1 3", r"^NUMS st=ok")
        self.delivered_all(dev, packs=1)
        self.assertEqual(self.series("tick"), [1, 2, 3])
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        st = dev.stats()
        self.assertEqual(st["packs_queued"], 1)
        self.finish(dev)


class Commands(DeviceTest):
    """Commands from a service, results back to it."""

    def test_commands_and_results(self):
        self.start()
        results = TB.MosqSub(self.mosq_args("ops", "mqttv5", "ops:results") +
                             ["-t", "d/dev-0001/cmd/+/result", "-q", "1", "-C", "4", "-W", "40",
                              "-v", "-d"])
        self.addCleanup(results.kill)
        self.assertTrue(results.wait_for("received SUBACK", 5), "\n".join(results.lines))
        dev = self.device()
        self.connected(dev)

        def command(name, payload):
            rc, out = TB.mosq_pub(self.mosq_args("ops", "mqttv5", "ops:cmd") +
                                  ["-t", "d/dev-0001/cmd/%s" % name, "-m", payload, "-q", "1"])
            self.assertEqual(rc, 0, out)

        command("echo", '{"id":"c-1","args":{"password":"hunter2","n":[1,2]}}')
        self.expect(dev, r"^CMD echo c-1$", "the echo handler called")
        command("nosuch", '{"id":"c-2","args":null}')
        command("fail", '{"id":"c-3"}')
        command("later", '{"id":"c-4","args":{"delay":1}}')
        self.expect(dev, r"^CMD later c-4$", "the pending handler called")
        # Without an id: nothing can be answered; logged.
        command("echo", '{"args":{"password":"hunter2"}}')
        self.expect(dev, r"^LOG 4 command echo: no \"id\" string: dropped \(no id to answer\)$",
                    "a payload without an id")
        self.assertEqual(dev.do('answer later c-4 done {"ok":true}', r"^ANSWER st=(\S+)")
                         .group(1), "ok")
        rc, out = results.finish(timeout=30)
        self.assertEqual(rc, 0, out)
        got = {}
        for line in out.splitlines():
            m = re.match(r"^(d/dev-0001/cmd/\S+/result) (\{.*\})$", line)
            if m:
                got[m.group(1)] = json.loads(m.group(2))
        self.assertEqual(got, {
            "d/dev-0001/cmd/echo/result":
                {"id": "c-1", "status": "done", "result": {"password": "hunter2", "n": [1, 2]}},
            "d/dev-0001/cmd/nosuch/result":
                {"id": "c-2", "status": "failed", "result": {"error": "unknown command"}},
            "d/dev-0001/cmd/fail/result":
                {"id": "c-3", "status": "failed", "result": {"why": "asked"}},
            "d/dev-0001/cmd/later/result": {"id": "c-4", "status": "done", "result": {"ok": True}},
        }, out)
        st = self.until(dev, lambda s: s["results"] == 4, "four results acknowledged")
        self.assertEqual(st["commands"], 5)
        # Every command and every result logged by name and id; arguments and
        # results never.
        for cid, name, status in (("c-1", "echo", "done"), ("c-2", "nosuch", "failed"),
                                  ("c-3", "fail", "failed"), ("c-4", "later", "done")):
            self.assertIsNotNone(dev.wait(r"^LOG 6 command %s id %s received$" % (name, cid), 1),
                                 dev.text())
            self.assertIsNotNone(dev.wait(r"^LOG 6 command %s id %s: result %s sent$" %
                                          (name, cid, status), 1), dev.text())
        for m in dev.all(r"^LOG (.*)$"):
            self.assertNotIn("hunter2", m.group(1))
            self.assertNotIn("delay", m.group(1))
            self.assertNotIn("asked", m.group(1))
        # Answering again: nothing pending any more.
        self.assertEqual(dev.do('answer later c-4 done {"ok":true}', r"^ANSWER st=(.*)$")
                         .group(1), "not found")
        self.finish(dev)


class Restart(DeviceTest):
    """rampartd goes away under the device and comes back."""

    def test_buffered_while_server_down(self):
        d1 = self.start()
        port = d1.port
        dev = self.device(batch_ms=200, batch_records=8)
        self.connected(dev)
        dev.do("nums seq 1 10", r"^NUMS st=ok")
        dev.do("flush", r"^FLUSH st=ok")
        st = self.delivered_all(dev)
        self.assertEqual(self.series("seq"), list(range(1, 11)))

        mark = dev.mark()
        rc, _ = d1.stop()
        self.assertEqual(rc, 0, d1.text())
        self.expect(dev, r"^DISCONNECTED ", "the connection lost", start=mark)
        # Taken and queued while rampartd is away: several packs.
        for lo in range(11, 61, 10):
            dev.do("nums seq %d %d" % (lo, lo + 9), r"^NUMS st=ok")
            time.sleep(0.1)
        dev.do("flush", r"^FLUSH st=ok")
        st = dev.stats()
        self.assertGreaterEqual(st["queued"], 6, st)
        before = st["packs_delivered"]
        time.sleep(1.0)
        st = dev.stats()
        self.assertEqual(st["packs_delivered"], before)
        self.assertEqual(self.series("seq"), list(range(1, 11)))  # nothing while down

        mark = dev.mark()
        self.start_on_port(port)
        self.connected(dev, start=mark)
        self.delivered_all(dev, packs=st["packs_queued"], timeout=30)
        self.assert_in_order(self.series("seq"), list(range(1, 61)))

        # A new TLS context (what a certificate renewal does): the link is
        # made again, the queue goes on.
        mark = dev.mark()
        self.assertEqual(dev.do("settls", r"^SETTLS st=(\S+)").group(1), "ok")
        self.connected(dev, start=mark)
        dev.do("nums seq 61 70", r"^NUMS st=ok")
        dev.do("flush", r"^FLUSH st=ok")
        self.delivered_all(dev)
        self.assert_in_order(self.series("seq"), list(range(1, 71)))
        self.assertEqual(dev.stats()["packs_refused"], 0)
        self.finish(dev)


class DeviceRestart(DeviceTest):
    """The device program itself stops with packs queued, and a new one sends them."""

    def test_queue_survives_process(self):
        d1 = self.start()
        port = d1.port
        dev = self.device(batch_ms=60000, batch_records=5)
        self.connected(dev)
        rc, _ = d1.stop()
        self.assertEqual(rc, 0, d1.text())
        self.expect(dev, r"^DISCONNECTED ", "the connection lost")
        dev.do("nums secret-seq 1 23", r"^NUMS st=ok")  # 4 packs, 3 values in memory
        st = dev.stats()
        self.assertEqual(st["queued"], 4, st)
        self.finish(dev)  # rp_device_free: the last pack is queued too

        # On disk: encrypted, no name or value in the clear.
        seg = glob.glob(os.path.join(self.tmp, "queue", "*.seg"))
        self.assertTrue(seg, os.listdir(os.path.join(self.tmp, "queue")))
        for path in seg:
            with open(path, "rb") as f:
                data = f.read()
            self.assertNotIn(b"secret-seq", data)
            self.assertNotIn(b'"n":', data)

        self.start_on_port(port)
        dev2 = self.device(batch_ms=60000, batch_records=5)
        st = dev2.stats()  # what the first process left (some may be on the way already)
        self.assertEqual(st["queued"] + st["packs_delivered"], 5, st)
        self.connected(dev2)
        self.delivered_all(dev2, packs=5)
        self.assert_in_order(self.series("secret-seq"), list(range(1, 24)))
        self.assertEqual(dev2.stats()["packs_delivered"], 5)
        self.finish(dev2)


# --------------------------------------------------------------------------

def setUpModule():
    TB.setUpModule()


def tearDownModule():
    TB.tearDownModule()


def main():
    global DEVICE
    argv = [sys.argv[0]]
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "--rampartd":
            TB.RAMPARTD = args.pop(0)
        elif a == "--device":
            DEVICE = args.pop(0)
        else:
            argv.append(a)
    missing = []
    if not TB.RAMPARTD or not os.access(TB.RAMPARTD, os.X_OK):
        missing.append("rampartd (--rampartd PATH)")
    if not DEVICE or not os.access(DEVICE, os.X_OK):
        missing.append("test_device (--device PATH or RP_TEST_DEVICE=PATH)")
    if not TB.MOSQUITTO_SUB or not TB.MOSQUITTO_PUB:
        missing.append("mosquitto-clients (mosquitto_sub, mosquitto_pub)")
    if missing:
        sys.stderr.write("test_device.py: missing: %s\nrun scripts/bootstrap\n" % "; ".join(missing))
        return 2
    prog = unittest.main(argv=argv, exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
