"""tests/integration/device_fixture.py - what test_link.py and test_device.py share.

Both run a device program against the real rampartd and drive it line by
line over stdin/stdout: link_probe (tests/integration/link_probe.c, the
SDK's link) and `test_device --run` (tests/unit/test_device.c, the
runtime). rampartd is started as test_broker.py starts it (class Rampartd:
the test PKI of pki.py, 127.0.0.1 port 0, a fresh temporary directory,
stopped with SIGTERM and checked for a clean exit and sanitizer reports).

  LineProgram  the device program as a child process, its stdout collected
               line by line, waited on with regular expressions
  ProgramTest  a BrokerTest that also restarts rampartd on the port the
               device expects, and checks the program's lines and its
               clean exit
  main()       the command line of a test module: --rampartd PATH, the
               program's own option, unittest's arguments
"""

import os
import re
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import test_broker as TB  # noqa: E402  (Rampartd, BrokerTest, mosquitto helpers)


class LineProgram:
    """A device program as a child process; its stdout collected line by line.

    A subclass sets PROGRAM (the path, see main()), NAME (for messages and
    RP_IT_VERBOSE), WAIT (seconds for anything it should do, ASan build
    included) and QUIT_WAIT (seconds to exit after "quit"), and builds
    its own arguments."""

    PROGRAM = None
    NAME = "program"
    WAIT = 15.0
    QUIT_WAIT = 10

    def __init__(self, tc, args):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        self.proc = subprocess.Popen([self.PROGRAM] + args, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
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
                sys.stderr.write("[%s] %s\n" % (self.NAME, line))
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()

    def send(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def mark(self):
        with self.cond:
            return len(self.lines)

    def wait(self, pattern, timeout=None, start=0):
        """The first match of pattern in a line from index start, or None."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + (self.WAIT if timeout is None else timeout)
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
            raise AssertionError("no STATS from the %s:\n%s" % (self.NAME, self.text()))
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
            self.exit = self.proc.wait(self.QUIT_WAIT)
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


class ProgramTest(TB.BrokerTest):
    """rampartd (with POLICY) and device programs (LineProgram) in one test."""

    POLICY = TB.POLICY

    def start_broker(self, **kw):
        kw.setdefault("policy", self.POLICY)
        return super().start_broker(**kw)

    def start_on_port(self, port):
        """rampartd again on a given port (a restart where the devices expect it)."""
        d = TB.Rampartd(self.tmp, self.pki, policy=self.POLICY, tls=False,
                        extra=["listener.mqtts 127.0.0.1:%d" % port])
        d.nlisteners = 1  # wait for the listener given in extra
        self.daemons.append(d)
        self.addCleanup(self._stop_and_check, d)
        d.start()
        self.broker = d
        self.assertEqual(d.port, port)
        return d

    def expect(self, p, pattern, what, timeout=None, start=0):
        m = p.wait(pattern, timeout, start)
        if m is None:
            self.fail("%s: no line matching %r from the %s:\n%s" %
                      (what, pattern, p.NAME, p.text()))
        return m

    def connected(self, p, sp=None, start=0):
        """CONNECTED (session present sp; None: either) and the command
        topic granted at QoS 1."""
        self.expect(p, r"^CONNECTED sp=%s$" % (r"\d" if sp is None else "%d" % sp),
                    "CONNECT accepted", start=start)
        self.expect(p, r"^SUBSCRIBED codes=01$", "command topic granted at QoS 1", start=start)

    def finish(self, p):
        """quit: exit status 0, BYE, no sanitizer report."""
        self.assertEqual(p.quit(), 0, "%s exit status:\n%s" % (p.NAME, p.text()))
        self.assertIsNotNone(p.wait(r"^BYE$", 1), p.text())
        self.assertFalse(p.sanitizer_report(), "a sanitizer reported an error:\n" + p.text())


def setUpModule():
    TB.setUpModule()


def tearDownModule():
    TB.tearDownModule()


def main(script, option, program, what):
    """Runs the tests of the calling module (__main__): --rampartd PATH sets
    rampartd, `option` PATH the device program (program.PROGRAM, a
    LineProgram class; `what` names it when it is missing), the rest goes
    to unittest. Returns the exit status."""
    argv = [sys.argv[0]]
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "--rampartd":
            TB.RAMPARTD = args.pop(0)
        elif a == option:
            program.PROGRAM = args.pop(0)
        else:
            argv.append(a)
    missing = []
    if not TB.RAMPARTD or not os.access(TB.RAMPARTD, os.X_OK):
        missing.append("rampartd (--rampartd PATH)")
    if not program.PROGRAM or not os.access(program.PROGRAM, os.X_OK):
        missing.append(what)
    if not TB.MOSQUITTO_SUB or not TB.MOSQUITTO_PUB:
        missing.append("mosquitto-clients (mosquitto_sub, mosquitto_pub)")
    if missing:
        sys.stderr.write("%s: missing: %s\nrun scripts/bootstrap\n" % (script, "; ".join(missing)))
        return 2
    prog = unittest.main(argv=argv, exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1
