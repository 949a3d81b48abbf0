#!/usr/bin/python3
"""tests/integration/test_agent.py - rampart-agent and rampart-sim against rampartd.

    /usr/bin/python3 test_agent.py --rampart PATH --rampartd PATH --agent PATH
                                   --sim PATH [unittest args]

Every test makes a fleet with `rampart init` in a fresh directory, runs rampartd on
its configuration (MQTT and HTTPS on fixed loopback ports, so that it can be
stopped and started again under the agent), logs in as the admin init made, and
makes enrollment tokens and commands through the REST API as an operator would.
The agent's key is generated in a SoftHSM2 token made for the test.

Groups (one CTest test each):
  Agent      enrollment with a token (the token file removed after), telemetry
             from an application on the socket and from a collector landing in
             the store, the built-in status command and an application's
             command answered through the REST API, an unknown command failed
  Buffering  rampartd stopped: readings queued on disk; rampartd started again:
             every one delivered, in order
  Renewal    renew.interval: the agent renews over EST, keeps its key, and
             keeps sending with the new certificate
  Refusals   a fleet root that is not the server's, and a server name its
             certificate does not carry: the agent refuses before sending its
             token (the token stays unused); a bad configuration line names
             file, line and problem
  Sim        rampart-sim 3 devices with a prefix token: each enrolls with its
             own key and sends telemetry; one answers a command
  Example    examples/minimal-device enrolls, sends its temperature, answers
             "blink"
"""

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_cli  # noqa: E402
from test_cli import CliTest, Daemon, SANITIZER_MARKS, env, openssl  # noqa: E402

AGENT = None
SIM = None
EXAMPLE = None
SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
BOUND = 30.0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, bound=BOUND, step=0.1):
    end = time.monotonic() + bound
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


class Proc:
    """A child whose stdout+stderr go to a file we can search."""

    def __init__(self, args, path, environ=None):
        self.path = path
        self.out = open(path, "wb")
        self.p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.out,
                                  stderr=subprocess.STDOUT, env=environ or env())

    def text(self):
        if not self.out.closed:
            self.out.flush()
        with open(self.path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, rx, bound=BOUND):
        return wait_for(lambda: re.search(rx, self.text()), bound)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        if not self.out.closed:
            self.out.close()
        return rc


class AgentTest(CliTest):
    def setUp(self):
        super().setUp()
        self.init_ok()
        self.mqtt, self.https = free_port(), free_port()
        self.run_conf = os.path.join(self.tmp, "run.conf")
        with open(self.fleet.config) as src, open(self.run_conf, "w") as dst:
            dst.write(src.read() + "loops 1\nlistener.mqtts 127.0.0.1:%d\n"
                      "listener.https 127.0.0.1:%d\n" % (self.mqtt, self.https))
        self.trust = self.fleet.p("device-trust.crt")
        self.ctx = ssl.create_default_context(cafile=self.trust)
        self.d = None
        self.start_rampartd()
        self.cookie = self.csrf = None
        self.login()

    def tearDown(self):
        if self.d is not None:
            self.stop_rampartd()

    # -- rampartd ---------------------------------------------------------------

    def start_rampartd(self):
        self.d = Daemon(self.run_conf)
        if self.d.wait(Daemon.API_RE) is None:
            raise AssertionError("rampartd did not start:\n" + self.d.text())

    def stop_rampartd(self):
        d, self.d = self.d, None
        rc = d.stop()
        text = d.text()
        self.assertFalse(any(m in text for m in SANITIZER_MARKS), text)
        self.assertEqual(rc, 0, text)

    # -- the operator: REST with init's admin ------------------------------------

    api = test_cli.Revoke.api

    def login(self):
        st, body = self.api("POST", "/api/v1/login",
                            {"name": "admin", "password": self.fleet.password})
        self.assertEqual(st, 200, body)
        self.csrf = body["csrf_token"]

    def token(self, **body):
        st, tok = self.api("POST", "/api/v1/enrollment-tokens", body)
        self.assertEqual(st, 201, tok)
        return tok

    def command(self, device, name, args=None, bound=BOUND):
        body = {"name": name}
        if args is not None:
            body["args"] = args
        st, c = self.api("POST", "/api/v1/devices/%s/commands" % device, body)
        self.assertEqual(st, 201, c)
        path = "/api/v1/devices/%s/commands/%s" % (device, c["id"])

        def answered():
            st, j = self.api("GET", path)
            return j if st == 200 and j.get("status") in ("done", "failed") else None
        j = wait_for(answered, bound, 0.2)
        self.assertIsNotNone(j, "no answer to %s on %s; rampartd:\n%s" % (
            name, device, self.d.text()[-4000:] if self.d else ""))
        return j

    def rows(self, device, name=None):
        q = "SELECT name, v_num, v_str, unit, time_ms FROM telemetry WHERE device_id = ?"
        a = [device]
        if name is not None:
            q += " AND name = ?"
            a.append(name)
        c = sqlite3.connect(self.fleet.db, timeout=10)
        try:
            return c.execute(q + " ORDER BY id", a).fetchall()
        finally:
            c.close()

    # -- the device: a SoftHSM2 token, the agent's configuration ------------------

    def softhsm(self):
        d = os.path.join(self.tmp, "softhsm")
        os.makedirs(os.path.join(d, "tokens"))
        conf = os.path.join(d, "softhsm2.conf")
        with open(conf, "w") as f:
            f.write("directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
                    "log.level = ERROR\n" % d)
        self.hsm_env = env()
        self.hsm_env["SOFTHSM2_CONF"] = conf
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "rampart",
                        "--pin", "246810", "--so-pin", "13579111"], env=self.hsm_env,
                       check=True, capture_output=True)
        pin = os.path.join(d, "user.pin")
        with open(os.open(pin, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write("246810\n")
        return pin

    def agent_conf(self, device, token=None, extra="", trust=None, keystore="pkcs11"):
        self.agent_dir = os.path.join(self.tmp, "agent")
        os.makedirs(self.agent_dir, mode=0o700, exist_ok=True)
        self.state = os.path.join(self.agent_dir, "state")
        self.sock = os.path.join(self.agent_dir, "agent.sock")
        lines = ["device.id %s" % device, "server.host 127.0.0.1",
                 "server.mqtt_port %d" % self.mqtt, "server.https_port %d" % self.https,
                 "trust.root %s" % (trust or self.trust), "state_dir %s" % self.state,
                 "socket.path %s" % self.sock, "telemetry.batch 200ms"]
        if keystore == "pkcs11":
            pin = self.softhsm()
            lines += ["keystore pkcs11", "keystore.module %s" % SOFTHSM_MODULE,
                      "keystore.token rampart", "keystore.pin_file %s" % pin]
        if token is not None:
            self.token_file = os.path.join(self.agent_dir, "token")
            with open(os.open(self.token_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                f.write(token + "\n")
            lines.append("enroll.token_file %s" % self.token_file)
        conf = os.path.join(self.agent_dir, "agent.conf")
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n" + extra)
        return conf

    def start_agent(self, conf):
        args = [AGENT, "-c", conf]
        if os.geteuid() == 0:
            args.append("--allow-root")
        a = Proc(args, os.path.join(self.agent_dir, "agent.log"),
                 getattr(self, "hsm_env", None))
        self.addCleanup(self.stop_agent, a)
        return a

    def stop_agent(self, a):
        rc = a.stop()
        text = a.text()
        self.assertFalse(any(m in text for m in SANITIZER_MARKS), text)
        return rc

    def app(self):
        s = wait_for(lambda: self._connect(), 10)
        self.assertIsNotNone(s, "the agent's socket never appeared")
        self.addCleanup(s.close)
        return s, s.makefile("r")

    def _connect(self):
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.sock)
            return s
        except OSError:
            return None

    def send(self, s, obj):
        s.sendall((json.dumps(obj) + "\n").encode())


class Agent(AgentTest):
    def test_enroll_telemetry_commands(self):
        tok = self.token(device="gw-0001", model="gw-x")
        conf = self.agent_conf("gw-0001", tok["token"],
                               "collect uptime 1s s /usr/bin/cut -d. -f1 /proc/uptime\n")
        a = self.start_agent(conf)
        self.assertIsNotNone(a.wait_log(r"connected to rampartd"), a.text())
        # Enrolled: the certificate is the token's device, its key on the token.
        crt = os.path.join(self.state, "device.crt")
        subj = openssl("x509", "-in", crt, "-noout", "-subject").stdout.decode()
        self.assertIn("CN = gw-0001", subj)
        self.assertFalse(os.path.exists(self.token_file), "the used token file was kept")
        self.assertFalse(os.path.exists(os.path.join(self.state, "key.pem")))
        st, dev = self.api("GET", "/api/v1/devices/gw-0001")
        self.assertEqual((st, dev["model"]), (200, "gw-x"))
        e = self.api("GET", "/api/v1/audit?action=device.enroll&target=gw-0001")[1]["items"]
        self.assertEqual(e[0]["detail"].get("binding"), "tls-exporter", e)

        # An application's readings land in the store, exactly.
        s, r = self.app()
        self.send(s, {"n": "temp", "u": "Cel", "v": 21.5})
        self.send(s, {"n": "door", "vb": True})
        self.send(s, {"n": "fw", "vs": "1.2.3"})
        self.send(s, {"n": "bad name!", "v": 1})
        self.assertEqual(json.loads(r.readline())["op"], "error")
        self.assertTrue(wait_for(lambda: len(self.rows("gw-0001", "temp")) == 1))
        self.assertEqual(self.rows("gw-0001", "temp")[0][1:4], (21.5, None, "Cel"))
        self.assertTrue(wait_for(lambda: self.rows("gw-0001", "fw")))
        self.assertEqual(self.rows("gw-0001", "fw")[0][2], "1.2.3")
        # And the collector's.
        self.assertTrue(wait_for(lambda: self.rows("gw-0001", "uptime")), a.text())

        # Built-in status.
        j = self.command("gw-0001", "status")
        self.assertEqual(j["status"], "done", j)
        self.assertEqual(j["result"]["device"], "gw-0001")
        self.assertEqual(j["result"]["link"]["state"], "connected")
        # An application's command, answered by the application.
        self.send(s, {"op": "register", "commands": ["restart-app"]})
        self.assertEqual(json.loads(r.readline())["op"], "ok")
        st, c = self.api("POST", "/api/v1/devices/gw-0001/commands",
                         {"name": "restart-app", "args": {"grace_s": 3}})
        self.assertEqual(st, 201, c)
        cmd = json.loads(r.readline())
        self.assertEqual((cmd["op"], cmd["name"], cmd["args"]),
                         ("command", "restart-app", {"grace_s": 3}))
        self.send(s, {"op": "result", "name": "restart-app", "id": cmd["id"],
                      "status": "done", "result": {"restarted": True}})
        path = "/api/v1/devices/gw-0001/commands/" + c["id"]
        j = wait_for(lambda: (lambda x: x if x.get("status") == "done" else None)(
            self.api("GET", path)[1]))
        self.assertEqual(j["result"], {"restarted": True}, j)
        # Unknown and refused commands are answered "failed".
        j = self.command("gw-0001", "self-destruct")
        self.assertEqual(j["status"], "failed", j)
        j = self.command("gw-0001", "reboot")
        self.assertEqual(j["status"], "failed", j)  # no command.reboot configured
        # Every command is in the device's log, never its arguments.
        log = a.text()
        self.assertIn("restart-app", log)
        self.assertNotIn("grace_s", log)

        # SIGTERM: a clean stop.
        rc = a.stop()
        self.assertEqual(rc, 0, a.text())


class Buffering(AgentTest):
    def test_offline_readings_delivered_in_order(self):
        tok = self.token(device="gw-0002")
        a = self.start_agent(self.agent_conf("gw-0002", tok["token"]))
        self.assertIsNotNone(a.wait_log(r"connected to rampartd"), a.text())
        s, r = self.app()
        self.send(s, {"n": "seq", "v": 0})
        self.assertTrue(wait_for(lambda: self.rows("gw-0002", "seq")))
        self.stop_rampartd()
        self.assertIsNotNone(a.wait_log(r"link down"), a.text())
        base = int(time.time() * 1000)
        for i in range(1, 41):
            self.send(s, {"n": "seq", "v": i, "t": base + i})
            time.sleep(0.02)
        time.sleep(1.0)  # packs closed and queued on disk while offline
        self.start_rampartd()
        self.assertTrue(wait_for(lambda: len(self.rows("gw-0002", "seq")) >= 41, 60),
                        a.text())
        vals = [int(row[1]) for row in self.rows("gw-0002", "seq")]
        # At least once, in order: every value, none out of order.
        self.assertEqual(sorted(set(vals)), list(range(41)))
        firsts = [v for i, v in enumerate(vals) if v not in vals[:i]]
        self.assertEqual(firsts, list(range(41)))


class Renewal(AgentTest):
    def test_renews_and_keeps_sending(self):
        tok = self.token(device="gw-0003")
        a = self.start_agent(self.agent_conf("gw-0003", tok["token"], "renew.interval 10s\n"))
        self.assertIsNotNone(a.wait_log(r"connected to rampartd"), a.text())
        crt = os.path.join(self.state, "device.crt")
        first = openssl("x509", "-in", crt, "-noout", "-serial").stdout
        key1 = openssl("x509", "-in", crt, "-noout", "-pubkey").stdout
        self.assertIsNotNone(a.wait_log(r"renewal: certificate for gw-0003 stored", 40),
                             a.text())
        second = openssl("x509", "-in", crt, "-noout", "-serial").stdout
        self.assertNotEqual(first, second)
        self.assertEqual(openssl("x509", "-in", crt, "-noout", "-pubkey").stdout, key1)
        e = self.api("GET", "/api/v1/audit?action=device.reenroll&target=gw-0003")[1]["items"]
        self.assertTrue(e, "no device.reenroll audit entry")
        # The link reconnected with the new certificate, and telemetry goes on.
        s, r = self.app()
        self.send(s, {"n": "after", "v": 1})
        self.assertTrue(wait_for(lambda: self.rows("gw-0003", "after")), a.text())


class Refusals(AgentTest):
    def test_foreign_root_and_wrong_name(self):
        tok = self.token(device="gw-0004")
        other = test_cli.Fleet(os.path.join(self.tmp, "other"))
        self.assertEqual(other.init().rc, 0)
        conf = self.agent_conf("gw-0004", tok["token"], trust=other.p("device-trust.crt"),
                               keystore="soft")
        a = self.start_agent(conf)
        self.assertEqual(a.p.wait(60), 1, a.text())
        self.assertRegex(a.text(), r"cannot reach the EST server: .*(certificate|verify)")
        # The wrong name: the server's certificate is for localhost and 127.0.0.1.
        shutil.rmtree(self.agent_dir)
        conf = self.agent_conf("gw-0004", tok["token"], "server.name wrong.example\n",
                               keystore="soft")
        a = self.start_agent(conf)
        self.assertEqual(a.p.wait(60), 1, a.text())
        self.assertRegex(a.text(), r"(?i)cannot reach the EST server: .*(name|match)")
        # Nothing was sent either time: the token is unused.
        st, j = self.api("GET", "/api/v1/enrollment-tokens?limit=100")
        mine = [t for t in j["items"] if t["id"] == tok["id"]]
        self.assertEqual(mine[0]["used"], 0, mine)

    def test_bad_configuration_line(self):
        conf = os.path.join(self.tmp, "bad.conf")
        with open(conf, "w") as f:
            f.write("device.id gw-0005\nserver.host h\ntrust.root relative.crt\n"
                    "state_dir /s\nsocket.mode 0666\n")
        p = subprocess.run([AGENT, "--check-config", conf], capture_output=True, env=env())
        self.assertEqual(p.returncode, 1)
        err = p.stderr.decode()
        self.assertIn("%s:3: trust.root: 'relative.crt' is not an absolute path" % conf, err)
        self.assertIn("%s:5: socket.mode:" % conf, err)


class Sim(AgentTest):
    def test_three_devices(self):
        tok = self.token(device_prefix="sim-", uses=3)
        d = os.path.join(self.tmp, "sim")
        os.makedirs(d, mode=0o700)
        tf = os.path.join(d, "token")
        with open(os.open(tf, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(tok["token"])
        self.agent_dir = d
        p = Proc([SIM, "-n", "3", "--host", "127.0.0.1", "--root", self.trust,
                  "--state", os.path.join(d, "state"), "--token-file", tf,
                  "--mqtt-port", str(self.mqtt), "--https-port", str(self.https),
                  "--interval", "1s"], os.path.join(d, "sim.log"))
        self.addCleanup(self.stop_agent, p)
        self.assertIsNotNone(p.wait_log(r"3 devices"), p.text())
        for n in ("sim-0001", "sim-0002", "sim-0003"):
            self.assertTrue(wait_for(lambda n=n: self.rows(n, "temperature")), p.text())
        # Each device has its own key.
        keys = {openssl("x509", "-in", os.path.join(d, "state", n, "device.crt"), "-noout",
                        "-pubkey").stdout for n in ("sim-0001", "sim-0002", "sim-0003")}
        self.assertEqual(len(keys), 3)
        j = self.command("sim-0002", "blink", {"times": 2})
        self.assertEqual((j["status"], j["result"]), ("done", {"blinked": 2}), j)
        j = self.command("sim-0002", "blink", {"times": 99})
        self.assertEqual(j["status"], "failed", j)


class Example(AgentTest):
    def test_minimal_device(self):
        if not EXAMPLE:
            self.skipTest("--example not given")
        tok = self.token(device="ex-0001")
        d = os.path.join(self.tmp, "example")
        os.makedirs(d, mode=0o700)
        tf = os.path.join(d, "token")
        with open(os.open(tf, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(tok["token"] + "\n")
        self.agent_dir = d
        p = Proc([EXAMPLE, "127.0.0.1", str(self.mqtt), str(self.https), self.trust, "ex-0001",
                  os.path.join(d, "state"), tf], os.path.join(d, "example.log"))
        self.addCleanup(self.stop_agent, p)
        self.assertIsNotNone(p.wait_log(r"enrolled as ex-0001"), p.text())
        self.assertTrue(wait_for(lambda: self.rows("ex-0001", "temperature")), p.text())
        j = self.command("ex-0001", "blink")
        self.assertEqual((j["status"], j["result"]), ("done", {"blinked": True}), j)
        self.assertIn("blink!", p.text())
        self.assertEqual(p.stop(), 0, p.text())


def main():
    global AGENT, SIM, EXAMPLE
    argv = [sys.argv[0]]
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "--rampart":
            test_cli.RAMPART = args.pop(0)
        elif a == "--rampartd":
            test_cli.RAMPARTD = args.pop(0)
        elif a == "--agent":
            AGENT = args.pop(0)
        elif a == "--sim":
            SIM = args.pop(0)
        elif a == "--example":
            EXAMPLE = args.pop(0)
        else:
            argv.append(a)
    for name, path in (("rampart", test_cli.RAMPART), ("rampartd", test_cli.RAMPARTD),
                       ("agent", AGENT), ("sim", SIM)):
        if not path or not os.access(path, os.X_OK):
            sys.stderr.write("test_agent.py: --%s PATH is required\n" % name)
            return 2
    prog = unittest.main(argv=argv, exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
