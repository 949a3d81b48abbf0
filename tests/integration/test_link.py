#!/usr/bin/python3
"""tests/integration/test_link.py - the device SDK's link against the real rampartd.

    /usr/bin/python3 test_link.py --rampartd PATH --probe PATH [unittest args]

link_probe (link_probe.c, built by CMake) is a device made of the SDK's TLS
client and connection manager (device/tls, device/link); this driver
talks to it over stdin/stdout while it runs against rampartd, started
with the test PKI of pki.py exactly as test_broker.py starts it (class
Rampartd, on 127.0.0.1 port 0, in a fresh temporary directory, stopped
with SIGTERM and checked for a clean exit and sanitizer reports); the
child process, the restart on a given port and the command line are
device_fixture.py's, shared with test_device.py.

Groups (one CTest test each, see CMakeLists.txt):
  Basics     the link connects with dev-0001's certificate, subscribes to
             d/dev-0001/cmd/+, publishes QoS 1 telemetry and gets the PUBACK
             (an ingest service receives it), receives a command published
             by the commander service with mosquitto_pub, and gets 0x87 for a
             topic outside its namespace
  Restart    rampartd stopped under the link: it retries with growing,
             jittered delays inside their ceilings; restarted on the same
             port: the session is resumed and commands reach the device
             again. A QoS 1 message written while rampartd is frozen, then
             killed, is delivered by the next rampartd and acknowledged
  Refusals   the link refuses a server whose certificate comes from another
             CA, and one whose certificate has the wrong name: the reason
             is reported, not one MQTT byte is sent, and it keeps retrying
             with backoff
"""

import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import device_fixture as DF  # noqa: E402  (LineProgram, ProgramTest, main)
import test_broker as TB  # noqa: E402  (Rampartd, BrokerTest, mosquitto helpers)
from pki import _CA  # noqa: E402


class Probe(DF.LineProgram):
    """link_probe as a child process; its stdout collected line by line."""

    PROGRAM = os.environ.get("LINK_PROBE")
    NAME = "probe"
    WAIT = 15.0  # seconds for anything the link should do (ASan build included)
    QUIT_WAIT = 10

    def __init__(self, tc, port, name="localhost", cert="dev-0001", dev_id="dev-0001",
                 base=None, cap=None, stable=None):
        crt, key = tc.pki.pair(cert)
        args = ["--host", "127.0.0.1", "--port", str(port), "--name", name,
                "--ca", tc.pki.ca_crt, "--cert", crt, "--key", key, "--id", dev_id]
        for flag, v in (("--base", base), ("--cap", cap), ("--stable", stable)):
            if v is not None:
                args += [flag, str(v)]
        super().__init__(tc, args)


class LinkTest(DF.ProgramTest):
    def probe(self, **kw):
        p = Probe(self, self.broker.port, **kw)
        self.probes = getattr(self, "probes", []) + [p]
        return p

    def connected(self, p, sp=0, start=0):
        super().connected(p, sp, start)

    def mosq(self, name):
        return self.mosq_args(name, "mqttv5", name)

    def check_backoff(self, p, base, cap, start=0, first_attempt=0):
        """Every DISCONNECTED from `start`: attempts counting up from
        first_attempt, each delay within its ceiling."""
        seen = p.all(r"^DISCONNECTED attempt=(\d+) retry=(\d+) ", start)
        self.assertGreaterEqual(len(seen), 2, p.text())
        for i, m in enumerate(seen):
            attempt, retry = int(m.group(1)), int(m.group(2))
            self.assertEqual(attempt, first_attempt + i, p.text())
            self.assertLessEqual(retry, min(cap, base << attempt), p.text())
        return seen


# --------------------------------------------------------------------------

class Basics(LinkTest):
    """Telemetry up at QoS 1, a command down, a refused topic."""

    def test_telemetry_and_command(self):
        self.start_broker()
        ingest = TB.MosqSub(self.mosq("ingest") +
                            ["-t", "d/+/telemetry", "-q", "1", "-C", "1", "-W", "20", "-d",
                             "-F", "MSG> %t %p"])
        self.addCleanup(ingest.kill)
        self.assertTrue(ingest.wait_for("received SUBACK", 5), "\n".join(ingest.lines))

        p = self.probe()
        self.connected(p)

        senml = '[{"n":"temp","v":21.5}]'
        p.send("pub 1 1 d/dev-0001/telemetry %s" % senml)
        self.expect(p, r'^PUB 1 status="ok"$', "publish accepted")
        self.expect(p, r'^DONE 1 status="ok" rc=0x00$', "PUBACK of the telemetry")
        rc, out = ingest.finish()
        self.assertEqual(rc, 0, out)
        self.assertIn("MSG> d/dev-0001/telemetry %s" % senml, out)

        rc, out = TB.mosq_pub(self.mosq("ops") + ["-t", "d/dev-0001/cmd/reboot", "-m", "now",
                                                  "-q", "1"])
        self.assertEqual(rc, 0, out)
        self.expect(p, r"^MSG qos=1 topic=d/dev-0001/cmd/reboot payload=now$",
                    "the command from the commander service")

        p.send("pub 2 0 d/dev-0001/telemetry %s" % senml)
        self.expect(p, r'^PUB 2 status="ok"$', "QoS 0 publish")
        self.expect(p, r'^DONE 2 status="ok" rc=0x00$', "QoS 0 handed to TLS")
        # Outside its namespace: refused by the broker's policy, 0x87.
        p.send("pub 3 1 d/dev-0002/telemetry x")
        self.expect(p, r'^DONE 3 status="not authorised" rc=0x87$', "refused topic")

        st = p.stats()
        self.assertEqual(st["connects"], 1)
        self.assertEqual(st["failures"], 0)
        self.assertEqual(st["acked"], 1)
        self.assertEqual(st["received"], 1)
        self.finish(p)


class Restart(LinkTest):
    """rampartd stopped and started again under a connected device."""

    BASE, CAP = 200, 1600

    def test_restart_resumes_session(self):
        d1 = self.start_broker()
        port = d1.port
        p = self.probe(base=self.BASE, cap=self.CAP)
        self.connected(p, sp=0)

        mark = p.mark()
        rc, secs = d1.stop()
        self.assertEqual(rc, 0, d1.text())
        self.expect(p, r"^DISCONNECTED attempt=0 .*server disconnected: 0x8B server shutting down",
                    "DISCONNECT 0x8B from the stopping server", start=mark)
        # Down for a while: refused connections, delays growing within their
        # ceilings (full jitter: anywhere in [0, min(cap, base * 2^attempt)]).
        self.expect(p, r"^DISCONNECTED attempt=([3-9]|\d\d+) .*cannot connect.*Connection refused",
                    "refused attempts once rampartd is gone", timeout=20, start=mark)
        self.check_backoff(p, self.BASE, self.CAP, start=mark)

        mark = p.mark()
        self.start_on_port(port)
        self.connected(p, sp=1, start=mark)  # the session survived the restart

        rc, out = TB.mosq_pub(self.mosq("ops") + ["-t", "d/dev-0001/cmd/after", "-m", "back",
                                                  "-q", "1"])
        self.assertEqual(rc, 0, out)
        self.expect(p, r"^MSG qos=1 topic=d/dev-0001/cmd/after payload=back$",
                    "a command after the restart", start=mark)
        st = p.stats()
        self.assertEqual(st["connects"], 2)
        self.assertEqual(st["resumed"], 1)
        self.finish(p)

    def test_commands_queued_while_offline(self):
        # The link asks for a session expiry: commands sent while the device
        # is away wait in its session and come when it is back.
        self.start_broker()
        p = self.probe()
        self.connected(p, sp=0)
        self.finish(p)  # DISCONNECT 0x00: the session stays
        for i in range(3):
            rc, out = TB.mosq_pub(self.mosq("ops") + ["-t", "d/dev-0001/cmd/job%d" % i,
                                                      "-m", "job %d" % i, "-q", "1"])
            self.assertEqual(rc, 0, out)
        p2 = self.probe()
        self.connected(p2, sp=1)
        for i in range(3):
            self.expect(p2, r"^MSG qos=1 topic=d/dev-0001/cmd/job%d payload=job %d$" % (i, i),
                        "queued command %d" % i)
        got = [m.group(1) for m in p2.all(r"^MSG qos=1 topic=(\S+) ")]
        self.assertEqual(got, ["d/dev-0001/cmd/job%d" % i for i in range(3)], p2.text())
        self.finish(p2)

    def test_qos1_survives_server_crash(self):
        d1 = self.start_broker()
        port = d1.port
        p = self.probe(base=self.BASE, cap=self.CAP)
        self.connected(p, sp=0)

        # Frozen: the message is written into the connection, no PUBACK comes.
        d1.signal(signal.SIGSTOP)
        p.send("pub 7 1 d/dev-0001/telemetry [{\"n\":\"survivor\",\"v\":1}]")
        self.expect(p, r'^PUB 7 status="ok"$', "publish while the server is frozen")
        self.assertIsNone(p.wait(r"^DONE 7 ", 0.5), "acknowledged by a frozen server?")
        mark = p.mark()
        d1.kill()  # then gone, as in a crash
        self.expect(p, r"^DISCONNECTED attempt=0 ", "the connection lost", start=mark)
        self.assertEqual(p.stats()["inflight"], 1)

        self.start_on_port(port)
        m = self.expect(p, r"^CONNECTED sp=(\d)$", "reconnected", start=mark)
        done = self.expect(p, r'^DONE 7 status="(.*)" rc=0x(..)$', "the message delivered",
                           start=mark)
        self.assertEqual(done.group(1), "ok", p.text())
        self.assertLess(int(done.group(2), 16), 0x80, p.text())
        st = p.stats()
        self.assertEqual(st["acked"], 1)
        self.assertEqual(st["inflight"], 0)
        # Resent by the resumed session, or published again when the server
        # had not written the session before it died: once either way.
        if m.group(1) == "0":
            self.assertEqual(st["republished"], 1)
        else:
            self.assertEqual(st["republished"], 0)
        self.assertEqual(len(p.all(r"^DONE 7 ")), 1)
        self.finish(p)


class Refusals(LinkTest):
    """Servers the device must not talk to."""

    BASE, CAP = 300, 600

    def _refused(self, p, needle):
        m = self.expect(p, r'^DISCONNECTED attempt=0 retry=\d+ status="authentication failed" '
                        r'why=(.*)$', "refusal")
        self.assertIn(needle, m.group(1))
        # It keeps trying, with backoff, and keeps refusing.
        self.expect(p, r'^DISCONNECTED attempt=1 retry=\d+ status="authentication failed" ',
                    "second refusal")
        self.check_backoff(p, self.BASE, self.CAP)
        self.assertEqual(p.all(r"^CONNECTED"), [], p.text())
        st = p.stats()
        self.assertEqual(st["bytes_out"], 0, "MQTT bytes sent to a refused server")
        self.assertEqual(st["connects"], 0)
        # rampartd saw the handshake fail, and no MQTT at all.
        self.assertIsNotNone(self.broker.wait_log(r"handshake with 127\.0\.0\.1.* refused", 5),
                             self.broker.text())
        self.assertEqual(self.broker.count(r"dev-0001"), 0, self.broker.text())
        self.finish(p)

    def test_wrong_name(self):
        self.start_broker()  # its certificate: DNS:localhost, IP:127.0.0.1
        p = self.probe(name="rampart.example.com", base=self.BASE, cap=self.CAP)
        self._refused(p, "server name mismatch: the server's certificate is not for "
                         "rampart.example.com")

    def test_wrong_ip(self):
        self.start_broker()
        p = self.probe(name="127.0.0.2", base=self.BASE, cap=self.CAP)
        self._refused(p, "server name mismatch")

    def test_other_ca(self):
        # rampartd with a server certificate for the right name, issued by
        # a CA that is not the fleet's.
        other = _CA(self.pki.other_ca_dir)
        other.issue("localhost", "server", self.pki.key("server"), self.pki.crt("server"))
        self.start_broker()
        p = self.probe(base=self.BASE, cap=self.CAP)
        self._refused(p, "server certificate does not chain to the fleet root")

    def test_server_refuses_device(self):
        # The other way round: rampartd refuses a device certificate from
        # another CA (and a revoked one); the operator reads why.
        self.start_broker()
        for cert in ("foreign", "revoked"):
            dev_id = "dev-0001" if cert == "foreign" else "dev-0006"
            p = self.probe(cert=cert, dev_id=dev_id, base=self.BASE, cap=self.CAP)
            m = self.expect(p, r'^DISCONNECTED attempt=0 retry=\d+ status="(.*?)" why=(.*)$',
                            "refused by rampartd (%s)" % cert)
            # TLS 1.3: rampartd's alert comes after the device sent its
            # CONNECT, and its close then often arrives as a reset that
            # swallows the alert; either way the operator is told.
            if m.group(1) == "not authorised":
                self.assertIn("server refused the client certificate", m.group(2))
            else:
                self.assertIn(m.group(1), ("input/output error", "connection closed"))
                self.assertIn("closed before any answer to CONNECT: the server may have "
                              "refused the client certificate", m.group(2))
            self.assertEqual(p.all(r"^CONNECTED"), [], p.text())
            self.finish(p)

    def test_control_same_server_accepted(self):
        # The positive control of the refusals above: the same probe, the
        # fleet's server certificate and the right name.
        self.start_broker()
        p = self.probe(base=self.BASE, cap=self.CAP)
        self.connected(p)
        self.assertGreater(p.stats()["bytes_out"], 0)
        self.finish(p)


# --------------------------------------------------------------------------

# Module fixtures unittest runs: the test PKI template of test_broker.py.
setUpModule = DF.setUpModule
tearDownModule = DF.tearDownModule


def main():
    return DF.main("test_link.py", "--probe", Probe, "link_probe (--probe PATH or LINK_PROBE=PATH)")


if __name__ == "__main__":
    sys.exit(main())
