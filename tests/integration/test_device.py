#!/usr/bin/python3
"""tests/integration/test_device.py - the device runtime against the real rampartd.

    /usr/bin/python3 test_device.py --rampartd PATH --device PATH [unittest args]

The device is `test_device --run` (tests/unit/test_device.c, part 3): a
program built on rp_device (device/app) with the SDK's link, TLS client and
store-and-forward queue, driven over stdin/stdout. rampartd is started as
test_broker.py starts it (class Rampartd: the test PKI of pki.py, 127.0.0.1
port 0, a fresh temporary directory that is also its data_dir, so its
SQLite store is <tmp>/rampart.db), with a policy whose commander role may
also read command results (d/+/cmd/+/result). The child process, the
restart on a given port and the command line are device_fixture.py's,
shared with test_link.py.

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
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import device_fixture as DF  # noqa: E402  (LineProgram, ProgramTest, main)
import test_broker as TB  # noqa: E402  (Rampartd, BrokerTest, mosquitto helpers)

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


class Device(DF.LineProgram):
    """`test_device --run` as a child process; its stdout collected line by line."""

    PROGRAM = os.environ.get("RP_TEST_DEVICE")
    NAME = "device"
    WAIT = WAIT
    QUIT_WAIT = 20

    def __init__(self, tc, port, queue, batch_ms=200, batch_records=8):
        crt, key = tc.pki.pair("dev-0001")
        super().__init__(tc, [
            "--run", "--host", "127.0.0.1", "--port", str(port),
            "--name", "localhost", "--ca", tc.pki.ca_crt, "--cert", crt, "--key", key,
            "--id", "dev-0001", "--queue", queue,
            "--storage-key", os.path.join(tc.tmp, "device-data.key"),
            "--batch-ms", str(batch_ms), "--batch-records", str(batch_records),
            "--base", "200", "--cap", "1000"])


class DeviceTest(DF.ProgramTest):
    POLICY = POLICY

    def device(self, **kw):
        return Device(self, self.broker.port, os.path.join(self.tmp, "queue"), **kw)

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
        self.start_broker()
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
        self.start_broker()
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
        self.start_broker()
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
        d1 = self.start_broker()
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
        d1 = self.start_broker()
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

# Module fixtures unittest runs: the test PKI template of test_broker.py.
setUpModule = DF.setUpModule
tearDownModule = DF.tearDownModule


def main():
    return DF.main("test_device.py", "--device", Device,
                   "test_device (--device PATH or RP_TEST_DEVICE=PATH)")


if __name__ == "__main__":
    sys.exit(main())
