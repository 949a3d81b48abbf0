#!/usr/bin/python3
"""tests/integration/test_cli.py - the operator commands of `rampart`.

    /usr/bin/python3 test_cli.py --rampart PATH --rampartd PATH [unittest args]

(or RAMPART=PATH and RAMPARTD=PATH in the environment). Needs the openssl
command line and Python's sqlite3; the PostgreSQL group needs the server
binaries (scripts/bootstrap installs them).

Each test runs `rampart init` in a fresh temporary directory (configuration,
data directory and offline directory all inside it), then checks what it
made with tools that are not Rampart's: `openssl verify`, `openssl pkey`,
Python's sqlite3, psql, and rampartd itself started from the configuration
init wrote, with a device certificate issued by `openssl x509` from the
issuing CA init made.

Groups (one CTest test each, see CMakeLists.txt):
  Init        files and modes, certificates, keys and passphrases, the admin
  Refusals    init twice, a store with operators, weak passwords, usage,
              a failure half-way rolled back
  Audit       rampart audit verify: intact, a tampered row named
  Operators   rampart operator add and list
  Rampartd    --check-config, a device connects, the admin logs in (HTTPS)
  Revoke      rampart device revoke on devices enrolled by EST: the live MQTT
              connection closed within a second, the certificate refused at
              the next handshake and at EST renewal, another device kept,
              GET /crl verified by openssl with the serial listed and its
              cRLNumber growing; rampartd not running; the pid file's lock
  PostgreSQL  init and audit verify against a throw-away PostgreSQL
  Pkcs11      init with the root and issuing CA keys generated in SoftHSM2
              tokens (never extractable, no key file anywhere); rampartd with
              the issuing key in its token: EST enrollment, the CRL re-signed
              at a revocation (openssl crl -verify); a wrong PIN, a missing
              token or key refused at start; init's refusals and rollback

On failure the temporary directory is kept (its path is printed);
RP_IT_KEEP=1 keeps it always.
"""

import base64
import hashlib
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import ssl
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import mqtt_raw as R  # noqa: E402

RAMPART = os.environ.get("RAMPART")
RAMPARTD = os.environ.get("RAMPARTD")
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: UndefinedBehaviorSanitizer", "AddressSanitizer:DEADLYSIGNAL")

START_BOUND = 15.0  # seconds for rampartd to log its port (ASan build included)

PKI_FILES = ["issuing-ca.key", "issuing-ca.crt", "server.key", "server.crt", "fleet-ca.crt",
             "device-trust.crt"]
SECRET_FILES = ["issuing-ca.pass", "api.key"]
OFFLINE_FILES = ["root-ca.key", "root-ca.crt"]

# An openssl extension section for a device certificate, as the EST service
# will issue it (docs/pki.md, "Certificate profiles").
DEVICE_EXT = """\
[ device ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


def env():
    e = dict(os.environ)
    e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return e


class Run:
    """The outcome of one command: rc, out, err (text)."""

    def __init__(self, args, p):
        self.args = args
        self.rc = p.returncode
        self.out = p.stdout.decode(errors="replace")
        self.err = p.stderr.decode(errors="replace")

    def __repr__(self):
        return "%s -> %d\n--- stdout\n%s--- stderr\n%s" % (" ".join(self.args), self.rc,
                                                          self.out, self.err)


def rampart(*args, stdin=b"", limit_fsize=None):
    """Runs the CLI; stdin is bytes (empty by default, never a terminal)."""
    def child():
        if limit_fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a signal
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_fsize, limit_fsize))
    args = [RAMPART] + [str(a) for a in args]
    p = subprocess.run(args, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=env(), timeout=60, preexec_fn=child)
    r = Run(args, p)
    for m in SANITIZER_MARKS:
        if m in r.err:
            raise AssertionError("a sanitizer reported an error:\n%r" % r)
    return r


def openssl(*args, check=True, stdin=None):
    p = subprocess.run([OPENSSL] + list(args), input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    if check and p.returncode != 0:
        raise AssertionError("openssl %s failed:\n%s" % (" ".join(args),
                                                         p.stderr.decode(errors="replace")))
    return p


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def tree(root):
    """{relative path: (mode, size, mtime_ns, sha256)} of everything under root."""
    snap = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            digest = None
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            snap[os.path.relpath(p, root)] = (stat.S_IMODE(st.st_mode), st.st_size,
                                              st.st_mtime_ns, digest)
    return snap


def certs_in(path):
    with open(path) as f:
        return f.read().count("-----BEGIN CERTIFICATE-----")


# --------------------------------------------------------------------------
# A fleet made by rampart init in a temporary directory
# --------------------------------------------------------------------------

class Fleet:
    """Paths of one init's output, and the two secrets it printed."""

    def __init__(self, root):
        self.root = root
        self.config = os.path.join(root, "etc", "rampartd.conf")
        self.data = os.path.join(root, "data")
        self.offline = os.path.join(root, "offline")
        self.pki = os.path.join(self.data, "pki")
        self.secrets = os.path.join(self.data, "secrets")
        self.db = os.path.join(self.data, "rampart.db")
        self.run = None
        self.passphrase = None
        self.password = None

    def args(self, *extra, names=("--name", "localhost", "--name", "rampart.example",
                                  "--ip", "127.0.0.1", "--ip", "::1")):
        return (["init", "--config", self.config, "--data-dir", self.data,
                 "--offline", self.offline] + list(names) + list(extra))

    def init(self, *extra, stdin=b"", **kw):
        self.run = rampart(*self.args(*extra, **kw), stdin=stdin)
        if self.run.rc == 0:
            m = re.search(r"^root-ca-passphrase: (\S+)$", self.run.out, re.M)
            self.passphrase = m.group(1) if m else None
            m = re.search(r"^admin-password: (\S+)$", self.run.out, re.M)
            self.password = m.group(1) if m else None
        return self.run

    def p(self, name):
        """A file of pki/, secrets/ or the offline directory, by name."""
        for d in (self.pki, self.secrets, self.offline):
            if os.path.exists(os.path.join(d, name)):
                return os.path.join(d, name)
        return os.path.join(self.pki, name)

    def sql(self, query, args=()):
        c = sqlite3.connect(self.db)
        try:
            rows = c.execute(query, args).fetchall()
            c.commit()
            return rows
        finally:
            c.close()


class CliTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rp-it-cli-%s-" % self._testMethodName[:24])
        self.fleet = Fleet(self.tmp)

    def run(self, result=None):
        before = (len(result.failures) + len(result.errors)) if result is not None else 0
        out = super().run(result)
        failed = result is not None and len(result.failures) + len(result.errors) > before
        if failed:
            sys.stderr.write("kept %s\n" % getattr(self, "tmp", "?"))
        elif not os.environ.get("RP_IT_KEEP") and hasattr(self, "tmp"):
            shutil.rmtree(self.tmp, ignore_errors=True)
        return out

    def init_ok(self, *extra, **kw):
        r = self.fleet.init(*extra, **kw)
        self.assertEqual(r.rc, 0, r)
        return r

    def assertFails(self, r, rc, pattern):
        self.assertEqual(r.rc, rc, r)
        self.assertRegex(r.err, pattern, r)


# --------------------------------------------------------------------------
# 1. What init makes
# --------------------------------------------------------------------------

class Init(CliTest):

    def test_files_and_modes(self):
        self.init_ok()
        f = self.fleet
        for d in (f.data, f.pki, f.secrets, f.offline, os.path.dirname(f.config)):
            self.assertEqual(mode(d), 0o700, d)
        for path in ([os.path.join(f.pki, n) for n in PKI_FILES] +
                     [os.path.join(f.secrets, n) for n in SECRET_FILES] +
                     [os.path.join(f.offline, n) for n in OFFLINE_FILES] + [f.config, f.db]):
            self.assertTrue(stat.S_ISREG(os.lstat(path).st_mode), path)
            self.assertEqual(mode(path), 0o600, path)
        self.assertEqual(os.path.getsize(os.path.join(f.secrets, "api.key")), 32)
        with open(os.path.join(f.secrets, "issuing-ca.pass")) as fh:
            self.assertRegex(fh.read(), r"^[A-Za-z0-9_-]{43}$")
        # No temporary name is left behind.
        leftovers = [p for p in tree(self.tmp) if ".init-" in p]
        self.assertEqual(leftovers, [])
        # The root key is only in the offline directory.
        self.assertFalse(os.path.exists(os.path.join(f.pki, "root-ca.key")))

    def test_config_names_what_init_made(self):
        self.init_ok()
        f = self.fleet
        with open(f.config) as fh:
            text = fh.read()
        for line in ("data_dir %s" % f.data,
                     "tls.cert %s" % os.path.join(f.pki, "server.crt"),
                     "tls.key %s" % os.path.join(f.pki, "server.key"),
                     "tls.ca %s" % os.path.join(f.pki, "fleet-ca.crt"),
                     "api.secret_key %s" % os.path.join(f.secrets, "api.key"),
                     "pki.root_cert %s" % os.path.join(f.pki, "device-trust.crt"),
                     "pki.issuing_cert %s" % os.path.join(f.pki, "issuing-ca.crt"),
                     "pki.issuing_key %s" % os.path.join(f.pki, "issuing-ca.key"),
                     "pki.issuing_key_pass %s" % os.path.join(f.secrets, "issuing-ca.pass")):
            self.assertIn(line + "\n", text)
        self.assertRegex(text, r"(?m)^pki\.fleet \S+$")
        self.assertNotIn("store ", text)  # the default store: nothing to write

    def test_certificates_verify(self):
        self.init_ok()
        f = self.fleet
        root, trust = f.p("root-ca.crt"), f.p("device-trust.crt")
        issuing, server = f.p("issuing-ca.crt"), f.p("server.crt")
        # device-trust.crt is the root alone; fleet-ca.crt root + issuing;
        # server.crt the leaf, then the issuing CA.
        self.assertEqual(certs_in(trust), 1)
        self.assertEqual(certs_in(f.p("fleet-ca.crt")), 2)
        self.assertEqual(certs_in(server), 2)
        with open(root) as a, open(trust) as b:
            self.assertEqual(a.read(), b.read())
        openssl("verify", "-x509_strict", "-CAfile", root, root)
        openssl("verify", "-x509_strict", "-CAfile", trust, issuing)
        r = openssl("verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", trust,
                    "-untrusted", issuing, server)
        self.assertIn(b"OK", r.stdout)
        # The chain inside server.crt is enough for a device that trusts the root.
        openssl("verify", "-x509_strict", "-CAfile", trust, "-untrusted", server, server)
        # ... and fleet-ca.crt as a bundle (what rampartd's tls.ca holds).
        openssl("verify", "-x509_strict", "-CAfile", f.p("fleet-ca.crt"), server)
        # Not without the issuing CA: the root signed only the issuing CA.
        r = openssl("verify", "-CAfile", trust, server, check=False)
        self.assertNotEqual(r.returncode, 0)
        text = openssl("x509", "-in", server, "-noout", "-text").stdout.decode()
        for name in ("DNS:localhost", "DNS:rampart.example", "IP Address:127.0.0.1",
                     "IP Address:0:0:0:0:0:0:0:1"):
            self.assertIn(name, text)
        self.assertIn("TLS Web Server Authentication", text)
        subj = openssl("x509", "-in", root, "-noout", "-subject", "-issuer").stdout.decode()
        self.assertIn("Rampart fleet rampart root CA", subj)
        self.assertEqual(subj.count("Rampart fleet rampart root CA"), 2)  # self-signed
        text = openssl("x509", "-in", root, "-noout", "-text").stdout.decode()
        self.assertIn("prime256v1", text)  # --alg default p256
        self.assertRegex(text, r"CA:TRUE, pathlen:1")

    def test_root_key_decrypts_with_the_printed_passphrase_only(self):
        r = self.init_ok()
        f = self.fleet
        self.assertIsNotNone(f.passphrase, r)
        self.assertRegex(f.passphrase, r"^[A-Za-z0-9_-]{43}$")
        self.assertIn("it is shown only now", r.out)
        key = f.p("root-ca.key")
        with open(key) as fh:
            self.assertIn("-----BEGIN ENCRYPTED PRIVATE KEY-----", fh.read())
        pub = openssl("pkey", "-in", key, "-passin", "pass:" + f.passphrase, "-pubout").stdout
        cert_pub = openssl("x509", "-in", f.p("root-ca.crt"), "-noout", "-pubkey").stdout
        self.assertEqual(pub, cert_pub)
        for wrong in ("pass:" + f.passphrase[:-1] + ("A" if f.passphrase[-1] != "A" else "B"),
                      "pass:"):
            r2 = openssl("pkey", "-in", key, "-passin", wrong, "-noout", check=False)
            self.assertNotEqual(r2.returncode, 0)

    def test_issuing_key_decrypts_with_its_pass_file(self):
        self.init_ok()
        f = self.fleet
        key = f.p("issuing-ca.key")
        with open(key) as fh:
            self.assertIn("-----BEGIN ENCRYPTED PRIVATE KEY-----", fh.read())
        pub = openssl("pkey", "-in", key, "-passin", "file:" + f.p("issuing-ca.pass"),
                      "-pubout").stdout
        self.assertEqual(pub, openssl("x509", "-in", f.p("issuing-ca.crt"), "-noout",
                                      "-pubkey").stdout)
        r = openssl("pkey", "-in", key, "-passin", "pass:" + "x" * 43, "-noout", check=False)
        self.assertNotEqual(r.returncode, 0)
        # The server key is not encrypted (rampartd reads it unattended) and matches.
        srv = f.p("server.key")
        with open(srv) as fh:
            self.assertIn("-----BEGIN PRIVATE KEY-----", fh.read())
        self.assertEqual(openssl("pkey", "-in", srv, "-pubout").stdout,
                         openssl("x509", "-in", f.p("server.crt"), "-noout", "-pubkey").stdout)

    def test_secrets_shown_once_and_stored_nowhere(self):
        r = self.init_ok()
        f = self.fleet
        out = r.out + r.err
        self.assertEqual(out.count(f.passphrase), 1)
        self.assertEqual(out.count(f.password), 1)
        with open(f.p("issuing-ca.pass")) as fh:
            self.assertNotIn(fh.read(), out)
        with open(f.p("api.key"), "rb") as fh:
            api = fh.read()
        self.assertNotIn(api.hex(), out)
        # Neither printed secret is in any file init wrote (database included).
        for d, _, files in os.walk(self.tmp):
            for n in files:
                with open(os.path.join(d, n), "rb") as fh:
                    blob = fh.read()
                self.assertNotIn(f.passphrase.encode(), blob, n)
                self.assertNotIn(f.password.encode(), blob, n)

    def test_admin_operator_and_audit_entries(self):
        self.init_ok("--admin", "ops-lead")
        f = self.fleet
        self.assertRegex(f.password, r"^\S{24}$")
        rows = f.sql("SELECT name, role, password_hash, disabled FROM operators")
        self.assertEqual(len(rows), 1)
        name, role, phc, disabled = rows[0]
        self.assertEqual((name, role, disabled), ("ops-lead", "admin", 0))
        self.assertTrue(phc.startswith("$argon2id$v=19$m=65536,t=3,p=1$"), phc)
        audit = f.sql("SELECT id, actor, action, target, source FROM audit_log ORDER BY id")
        self.assertIn((2, "cli:init", "operator.create", "ops-lead", "local"), audit)
        self.assertEqual(audit[0][1:3], ("cli:init", "pki.init"))
        lst = rampart("operator", "list", "--config", f.config)
        self.assertEqual(lst.rc, 0, lst)
        self.assertRegex(lst.out, r"(?m)^ops-lead\s+admin\s+no\s+active\s")

    def test_root_key_inside_and_p384(self):
        r = rampart("init", "--config", self.fleet.config, "--data-dir", self.fleet.data,
                    "--name", "localhost", "--root-key-inside", "--alg", "p384",
                    "--fleet", "acme-eu")
        self.assertEqual(r.rc, 0, r)
        self.assertRegex(r.err, r"warning: --root-key-inside")
        key = os.path.join(self.fleet.pki, "root-ca.key")
        self.assertEqual(mode(key), 0o600)
        m = re.search(r"^root-ca-passphrase: (\S+)$", r.out, re.M)
        text = openssl("pkey", "-in", key, "-passin", "pass:" + m.group(1), "-noout",
                       "-text").stdout.decode()
        self.assertIn("secp384r1", text)
        subj = openssl("x509", "-in", os.path.join(self.fleet.pki, "root-ca.crt"), "-noout",
                       "-subject").stdout.decode()
        self.assertIn("Rampart fleet acme-eu root CA", subj)
        # The issuing CA stays P-256 (docs/pki.md, profiles).
        text = openssl("x509", "-in", os.path.join(self.fleet.pki, "issuing-ca.crt"),
                       "-noout", "-text").stdout.decode()
        self.assertIn("prime256v1", text)
        self.assertIn("ecdsa-with-SHA384", text)  # signed by the P-384 root

    def test_existing_config_is_read_not_rewritten(self):
        f = self.fleet
        os.makedirs(os.path.dirname(f.config), mode=0o700)
        with open(f.config, "w") as fh:
            fh.write("# mine\nloops 2\ndata_dir %s\n" % f.data)
        before = tree(os.path.dirname(f.config))
        r = rampart("init", "--config", f.config, "--offline", f.offline, "--ip", "127.0.0.1")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(tree(os.path.dirname(f.config)), before)
        self.assertTrue(os.path.exists(f.db))  # data_dir came from the file
        self.assertIn("tls.cert %s" % os.path.join(f.pki, "server.crt"), r.out)
        self.assertNotIn("  data_dir ", r.out)  # already right: not advised


# --------------------------------------------------------------------------
# 2. What init refuses, and what it leaves behind when it fails: nothing
# --------------------------------------------------------------------------

class Refusals(CliTest):

    def test_init_twice_refuses_and_changes_nothing(self):
        self.init_ok()
        before = tree(self.tmp)
        r = self.fleet.init()
        self.assertFails(r, 1, r"already exists")
        self.assertIn("nothing was changed", r.err)
        self.assertNotIn("passphrase", r.out)
        self.assertEqual(tree(self.tmp), before)

    def test_one_existing_file_is_enough(self):
        os.makedirs(self.fleet.secrets, mode=0o700)
        with open(os.path.join(self.fleet.secrets, "api.key"), "wb") as fh:
            fh.write(b"k" * 32)
        before = tree(self.tmp)
        r = self.fleet.init()
        self.assertFails(r, 1, r"api\.key: already exists")
        self.assertEqual(tree(self.tmp), before)

    def test_store_with_an_operator_refuses(self):
        self.init_ok()
        other = Fleet(os.path.join(self.tmp, "second"))
        db_before = tree(self.fleet.data)
        r = rampart(*other.args("--store", "sqlite:" + self.fleet.db))
        self.assertFails(r, 1, r"store: already has operators")
        self.assertFalse(os.path.exists(other.root), os.listdir(self.tmp))
        self.assertEqual(self.fleet.sql("SELECT count(*) FROM operators"), [(1,)])
        self.assertEqual(self.fleet.sql("SELECT count(*) FROM audit_log"), [(2,)])
        self.assertEqual(tree(self.fleet.data).keys(), db_before.keys())

    def test_weak_password_on_stdin_refused(self):
        for pw, why in ((b"short1\n", r"shorter than 12"),
                        (b"aaaaaaaaaaaaaaaa\n", r"password refused"),
                        (b"tab\tin the middle\n", r"password refused"),
                        (b"", r"password refused")):
            r = self.fleet.init("--password-stdin", stdin=pw)
            self.assertFails(r, 1, why)
            self.assertEqual(os.listdir(self.tmp), [], pw)

    def test_password_on_stdin_accepted_and_not_printed(self):
        pw = "correct horse battery staple"
        r = self.init_ok("--password-stdin", stdin=(pw + "\n").encode())
        self.assertNotIn("admin-password:", r.out)
        self.assertNotIn(pw, r.out + r.err)
        phc = self.fleet.sql("SELECT password_hash FROM operators")[0][0]
        self.assertTrue(phc.startswith("$argon2id$"))

    def test_usage_errors_change_nothing(self):
        f = self.fleet
        base = ["init", "--config", f.config, "--data-dir", f.data]
        cases = [
            (base + ["--offline", f.offline], r"--name/--ip"),
            (base + ["--name", "localhost"], r"--offline: required"),
            (base + ["--name", "localhost", "--offline", f.offline, "--root-key-inside"],
             r"--offline: and --root-key-inside exclude each other"),
            (base + ["--name", "localhost", "--offline", f.offline, "--alg", "p521"],
             r"--alg: must be p256 or p384"),
            (base + ["--name", "localhost", "--offline", f.offline, "--fleet", "Acme"],
             r"--fleet: "),
            (base + ["--name", "localhost", "--offline", f.offline, "--admin", "Root"],
             r"--admin: "),
            (base + ["--ip", "300.1.1.1", "--offline", f.offline], r"300\.1\.1\.1: not an"),
            (base + ["--name", "localhost", "--offline", f.offline, "--frobnicate"],
             r"--frobnicate: unknown option"),
            (base + ["--name"], r"--name: needs a value"),
            (base + ["extra"], r"extra: unexpected argument"),
        ]
        for args, why in cases:
            r = rampart(*args)
            self.assertEqual(r.rc, 2, r)
            self.assertRegex(r.err, r"^rampart init: " + why, r)
            self.assertEqual(os.listdir(self.tmp), [], args)

    def test_failure_half_way_removes_everything(self):
        """Files may not grow past 2 KiB: the database cannot be written, after
        the directories were made and the database file created."""
        r = rampart(*self.fleet.args(), limit_fsize=2048)
        self.assertFails(r, 1, r"everything init had made was removed")
        self.assertNotIn("passphrase", r.out)
        self.assertEqual(os.listdir(self.tmp), [])

    def test_bad_server_name_refused_before_anything(self):
        r = rampart(*self.fleet.args(names=("--name", "bad_name!")))
        self.assertFails(r, 1, r"server certificate")
        self.assertEqual(os.listdir(self.tmp), [])

    def test_help(self):
        for args in (["--help"], ["init", "--help"], ["audit", "verify", "--help"],
                     ["operator", "--help"], ["operator", "add", "--help"]):
            r = rampart(*args)
            self.assertEqual(r.rc, 0, r)
            self.assertTrue(r.out.startswith("usage: rampart"), r)
        for args in (["audit"], ["operator"], ["audit", "check"], ["operator", "remove"]):
            self.assertEqual(rampart(*args).rc, 2, args)


# --------------------------------------------------------------------------
# 3. rampart audit verify
# --------------------------------------------------------------------------

class Audit(CliTest):

    def test_intact_after_init(self):
        self.init_ok()
        r = rampart("audit", "verify", "--config", self.fleet.config)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("audit log: 2 entries checked, chain intact", r.out)
        head = self.fleet.sql("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")[0]
        self.assertIn("head: entry %d, hash %s" % head, r.out)
        r2 = rampart("audit", "verify", "--store", "sqlite:" + self.fleet.db)
        self.assertEqual(r2.out, r.out)

    def test_tampered_row_is_named(self):
        self.init_ok()
        rampart("operator", "add", "viewer1", "--role", "viewer", "--config", self.fleet.config)
        self.assertEqual(self.fleet.sql("SELECT count(*) FROM audit_log"), [(3,)])
        # The triggers refuse the change; an attacker with the file drops them.
        with self.assertRaises(sqlite3.DatabaseError):
            self.fleet.sql("UPDATE audit_log SET target = 'nobody' WHERE id = 2")
        self.fleet.sql("DROP TRIGGER audit_log_no_update")
        self.fleet.sql("UPDATE audit_log SET target = 'nobody' WHERE id = 2")
        r = rampart("audit", "verify", "--config", self.fleet.config)
        self.assertFails(r, 1, r"^rampart audit verify: entry 2: ")
        self.assertIn("1 entry checked, chain broken at entry 2", r.out)
        self.assertNotIn("head:", r.out)

    def test_deleted_tail_is_found(self):
        self.init_ok()
        self.fleet.sql("DROP TRIGGER audit_log_no_delete")
        self.fleet.sql("DELETE FROM audit_log WHERE id = 2")
        r = rampart("audit", "verify", "--config", self.fleet.config)
        self.assertFails(r, 1, r"entry 2: ")

    def test_missing_database_is_not_created(self):
        db = os.path.join(self.tmp, "none.db")
        r = rampart("audit", "verify", "--store", "sqlite:" + db)
        self.assertFails(r, 1, r"none\.db: no such database")
        self.assertFalse(os.path.exists(db))
        r = rampart("audit", "verify", "--config", os.path.join(self.tmp, "none.conf"))
        self.assertFails(r, 1, r"none\.conf")

    def test_usage(self):
        r = rampart("audit", "verify", "--config", "a", "--store", "b")
        self.assertFails(r, 2, r"exclude each other")
        r = rampart("audit", "verify", "--store")
        self.assertFails(r, 2, r"--store: needs a value")


# --------------------------------------------------------------------------
# 4. rampart operator add / list
# --------------------------------------------------------------------------

class Operators(CliTest):

    def test_add_generated_and_list(self):
        self.init_ok()
        c = ["--config", self.fleet.config]
        r = rampart("operator", "add", "alice", "--role", "auditor", *c)
        self.assertEqual(r.rc, 0, r)
        pw = re.search(r"^password: (\S{24})$", r.out, re.M)
        self.assertIsNotNone(pw, r)
        r = rampart("operator", "add", "bob@example", "--role", "operator", "--password-stdin",
                    *c, stdin=b"a long enough passphrase\r\n")
        self.assertEqual(r.rc, 0, r)
        self.assertNotIn("password:", r.out)
        lst = rampart("operator", "list", *c)
        self.assertEqual(lst.rc, 0, lst)
        names = [ln.split()[:2] for ln in lst.out.splitlines()[1:]]
        self.assertEqual(names, [["admin", "admin"], ["alice", "auditor"],
                                 ["bob@example", "operator"]])
        audit = self.fleet.sql("SELECT actor, action, target, source, detail FROM audit_log "
                               "WHERE actor = 'cli' ORDER BY id")
        self.assertEqual(audit, [("cli", "operator.create", "alice", "local",
                                  '{"role":"auditor"}'),
                                 ("cli", "operator.create", "bob@example", "local",
                                  '{"role":"operator"}')])
        self.assertEqual(rampart("audit", "verify", *c).rc, 0)

    def test_add_makes_a_missing_store_list_does_not(self):
        """For tests that need an operator before rampartd first ran."""
        db = os.path.join(self.tmp, "new", "rampart.db")
        r = rampart("operator", "list", "--store", "sqlite:" + db)
        self.assertFails(r, 1, r"no such database")
        self.assertFalse(os.path.exists(db))
        r = rampart("operator", "add", "first", "--role", "admin", "--store", "sqlite:" + db)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("no database yet: a new one is made", r.err)
        self.assertEqual(mode(db), 0o600)
        lst = rampart("operator", "list", "--store", "sqlite:" + db)
        self.assertRegex(lst.out, r"(?m)^first\s+admin\s")
        r = rampart("audit", "verify", "--store", "sqlite:" + db)
        self.assertIn("1 entry checked, chain intact", r.out)
        # init refuses that store now: it has an operator.
        r = rampart(*self.fleet.args("--store", "sqlite:" + db))
        self.assertFails(r, 1, r"already has operators")

    def test_refusals(self):
        self.init_ok()
        c = ["--config", self.fleet.config]
        r = rampart("operator", "add", "admin", "--role", "viewer", *c)
        self.assertFails(r, 1, r"admin: an operator of this name exists")
        r = rampart("operator", "add", "administrator1", "--role", "viewer",
                    "--password-stdin", *c, stdin=b"administrator1")
        self.assertFails(r, 1, r"password refused")
        for args, why in ((["carol", "--role", "root"], r"--role: must be"),
                          (["Carol", "--role", "viewer"], r"Carol: not an operator name"),
                          (["--role", "viewer"], r"NAME: missing"),
                          (["carol"], r"--role: missing"),
                          (["carol", "dave", "--role", "viewer"], r"dave: unexpected")):
            r = rampart("operator", "add", *args, *c)
            self.assertFails(r, 2, r"^rampart operator add: " + why)
        r = rampart("operator", "list", "--role", "viewer", *c)
        self.assertFails(r, 2, r"not an option of this command")
        self.assertEqual(self.fleet.sql("SELECT count(*) FROM operators"), [(1,)])


# --------------------------------------------------------------------------
# 5. rampartd from the configuration init wrote
# --------------------------------------------------------------------------

class Daemon:
    """rampartd -c CONF, its output collected; the ports it logs."""

    LISTEN_RE = re.compile(r"listening on \S+ \((.*?)\), port (\d+)")
    API_RE = re.compile(r"REST API on \S+, port (\d+)")

    def __init__(self, conf):
        self.proc = subprocess.Popen([RAMPARTD, "-c", conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=env())
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()

    def text(self):
        with self.cond:
            return "\n".join(self.lines)

    def wait(self, rx, timeout=START_BOUND):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for ln in self.lines:
                    m = rx.search(ln)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return None
                self.cond.wait(min(left, 0.1))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.reader.join(5)
        self.proc.stdout.close()
        return rc


class Rampartd(CliTest):

    def accepts(self, text):
        path = os.path.join(self.tmp, "probe.conf")
        with open(path, "w") as fh:
            fh.write(text)
        p = subprocess.run([RAMPARTD, "--check-config", path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=env(), timeout=20)
        os.unlink(path)
        return p.returncode == 0

    def start(self):
        """rampartd with init's configuration, on 127.0.0.1 port 0."""
        run_conf = os.path.join(self.tmp, "run.conf")
        extra = "loops 1\nlistener.mqtts 127.0.0.1:0\n"
        if self.accepts("listener.https 127.0.0.1:0\n"):
            extra += "listener.https 127.0.0.1:0\n"  # this rampartd has a REST API
        with open(self.fleet.config) as src, open(run_conf, "w") as dst:
            dst.write(src.read() + extra)
        d = Daemon(run_conf)
        self.addCleanup(self.stop_and_check, d)
        m = d.wait(Daemon.LISTEN_RE)
        if m is None:
            raise AssertionError("rampartd did not start:\n" + d.text())
        return d, int(m.group(2))

    def stop_and_check(self, d):
        rc = d.stop()
        text = d.text()
        self.assertFalse(any(m in text for m in SANITIZER_MARKS), text)
        self.assertEqual(rc, 0, text)

    def device_cert(self, cn):
        """A device key and certificate from init's issuing CA, by openssl."""
        f = self.fleet
        key = os.path.join(self.tmp, cn + ".key")
        csr = os.path.join(self.tmp, cn + ".csr")
        crt = os.path.join(self.tmp, cn + ".crt")
        ext = os.path.join(self.tmp, "device.ext")
        with open(ext, "w") as fh:
            fh.write(DEVICE_EXT)
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", key)
        os.chmod(key, 0o600)
        openssl("req", "-new", "-key", key, "-subj", "/CN=" + cn, "-out", csr)
        openssl("x509", "-req", "-in", csr, "-CA", f.p("issuing-ca.crt"), "-CAkey",
                f.p("issuing-ca.key"), "-passin", "file:" + f.p("issuing-ca.pass"),
                "-CAcreateserial", "-days", "1", "-extfile", ext, "-extensions", "device",
                "-out", crt)
        return crt, key

    def test_check_config_accepts_what_init_wrote(self):
        self.init_ok()
        p = subprocess.run([RAMPARTD, "--check-config", self.fleet.config],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env(),
                           timeout=20)
        self.assertEqual(p.returncode, 0, p.stdout.decode())

    def test_device_connects_over_mutual_tls(self):
        self.init_ok()
        d, port = self.start()
        crt, key = self.device_cert("dev-0001")
        # The device trusts the fleet root only; the server's chain comes with
        # its certificate (server.crt), and its name is in the SAN.
        c = R.TLSClient(port, self.fleet.p("device-trust.crt"), crt, key)
        try:
            ack = c.connect("dev-0001")
            self.assertEqual(ack.reason, 0, ack)
        finally:
            c.close()
        # A certificate from another CA is refused (tls.ca is the fleet's only).
        other = Fleet(os.path.join(self.tmp, "other"))
        r = rampart(*other.args())
        self.assertEqual(r.rc, 0, r)
        self.fleet, mine = other, self.fleet
        crt2, key2 = self.device_cert("dev-0002")
        self.fleet = mine
        with self.assertRaises((ssl.SSLError, R.Closed, ConnectionError, socket.timeout)):
            c2 = R.TLSClient(port, self.fleet.p("device-trust.crt"), crt2, key2)
            try:
                c2.connect("dev-0002")
            finally:
                c2.close()

    def test_admin_logs_in_with_the_printed_password(self):
        self.init_ok()
        d, _ = self.start()
        m = d.wait(Daemon.API_RE, timeout=5)
        if m is None:
            self.skipTest("this rampartd has no REST API (listener.https)")
        ctx = ssl.create_default_context(cafile=self.fleet.p("device-trust.crt"))

        def login(pw):
            conn = http.client.HTTPSConnection("localhost", int(m.group(1)), context=ctx,
                                               timeout=10)
            try:
                conn.request("POST", "/api/v1/login",
                             body=json.dumps({"name": "admin", "password": pw}),
                             headers={"Content-Type": "application/json"})
                return conn.getresponse().status
            finally:
                conn.close()
        self.assertEqual(login(self.fleet.password), 200)
        self.assertEqual(login(self.fleet.password + "x"), 401)


# --------------------------------------------------------------------------
# 6. Revocation from the command line (rampart device revoke)
# --------------------------------------------------------------------------

class Revoke(CliTest):
    """rampart init's fleet, rampartd running it (its CRL made by itself, the
    device listener checking it), devices enrolled by EST as a device
    integrator would (openssl req, curl), then `rampart device revoke`."""

    # rampartd started as group Rampartd starts it (not its tests).
    accepts = Rampartd.accepts
    start = Rampartd.start
    stop_and_check = Rampartd.stop_and_check

    def setUp(self):
        super().setUp()
        self.init_ok()
        self.d, self.mqtt = self.start()
        m = self.d.wait(Daemon.API_RE, timeout=5)
        if m is None:
            self.skipTest("this rampartd has no REST API (listener.https)")
        self.https = int(m.group(1))
        self.run_conf = os.path.join(self.tmp, "run.conf")
        self.trust = self.fleet.p("device-trust.crt")
        self.ctx = ssl.create_default_context(cafile=self.trust)
        self.cookie = self.csrf = None

    # -- the operator's side: the REST API with the admin init made ----------

    def api(self, method, path, body=None):
        h = {"Origin": "https://localhost:%d" % self.https}
        if self.cookie is not None:
            h["Cookie"] = "__Host-rampart_session=" + self.cookie
            h["X-CSRF-Token"] = self.csrf
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        conn = http.client.HTTPSConnection("localhost", self.https, context=self.ctx,
                                           timeout=10)
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            raw = r.read()
            cookie = r.getheader("Set-Cookie")
        finally:
            conn.close()
        if cookie:
            m = re.match(r"__Host-rampart_session=([^;]*)", cookie)
            if m:
                self.cookie = m.group(1) or None
        return r.status, (json.loads(raw) if raw else None)

    def login(self):
        st, body = self.api("POST", "/api/v1/login",
                            {"name": "admin", "password": self.fleet.password})
        self.assertEqual(st, 200, body)
        self.csrf = body["csrf_token"]

    # -- the device's side: openssl and curl, trusting the fleet root --------

    def curl(self, path, *args):
        out = os.path.join(self.tmp, "curl.out")
        if os.path.exists(out):
            os.unlink(out)  # a 304 writes nothing: no stale body
        p = subprocess.run(["curl", "-sS", "--cacert", self.trust, "-o", out, "-w",
                            "%{http_code}", *args, "https://localhost:%d%s" % (self.https, path)],
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        if not os.path.exists(out):
            return int(p.stdout), b""
        with open(out, "rb") as fh:
            return int(p.stdout), fh.read()

    def enroll(self, cn):
        """A key, a CSR, a token, simpleenroll: the certificate and key paths."""
        st, tok = self.api("POST", "/api/v1/enrollment-tokens", {"device": cn})
        self.assertEqual(st, 201, tok)
        key = os.path.join(self.tmp, cn + ".key")
        der = os.path.join(self.tmp, cn + ".csr.der")
        b64 = os.path.join(self.tmp, cn + ".csr.b64")
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", key, "-subj", "/CN=" + cn, "-outform", "DER", "-out", der)
        with open(der, "rb") as fin, open(b64, "wb") as fout:
            fout.write(base64.encodebytes(fin.read()))
        st, body = self.curl("/.well-known/est/simpleenroll", "--data-binary", "@" + b64,
                             "-H", "Content-Type: application/pkcs10", "-u",
                             "%s:%s" % (cn, tok["token"]))
        self.assertEqual(st, 200, body)
        pem = openssl("pkcs7", "-inform", "DER", "-print_certs",
                      stdin=base64.b64decode(body)).stdout
        crt = os.path.join(self.tmp, cn + ".crt")
        with open(crt, "wb") as fh:
            fh.write(pem)
        serial = openssl("x509", "-in", crt, "-noout", "-serial").stdout.decode()
        return crt, key, serial.strip().split("=")[1].upper()

    def connected(self, crt, key, cn):
        c = R.TLSClient(self.mqtt, self.trust, crt, key)
        self.addCleanup(c.close)
        self.assertEqual(c.connect(cn).reason, 0)
        return c

    def crl(self):
        """GET /crl: (headers, DER path, `openssl crl -text`, cRLNumber)."""
        hdr = os.path.join(self.tmp, "crl.h")
        st, der = self.curl("/crl", "-D", hdr)
        self.assertEqual(st, 200, der)
        with open(hdr) as fh:
            headers = fh.read()
        path = os.path.join(self.tmp, "crl.der")
        with open(path, "wb") as fh:
            fh.write(der)
        # Signed by the issuing CA: verified with the fleet's CA certificates.
        v = openssl("crl", "-inform", "DER", "-in", path, "-noout", "-CAfile",
                    self.fleet.p("fleet-ca.crt"), "-verify", check=False)
        self.assertEqual(v.returncode, 0, v.stderr)
        self.assertIn(b"verify OK", v.stdout + v.stderr)
        text = openssl("crl", "-inform", "DER", "-in", path, "-noout", "-text").stdout.decode()
        num = openssl("crl", "-inform", "DER", "-in", path, "-noout",
                      "-crlnumber").stdout.decode()
        return headers, path, text, int(num.strip().split("=")[1], 16)

    def revoke(self, cn, *extra):
        return rampart("device", "revoke", cn, "--config", self.run_conf, *extra)

    def test_revoke_closes_refuses_and_publishes(self):
        self.login()
        crt1, key1, serial1 = self.enroll("dev-0001")
        crt2, key2, serial2 = self.enroll("dev-0002")
        c1 = self.connected(crt1, key1, "dev-0001")
        c2 = self.connected(crt2, key2, "dev-0002")
        _, _, text, n0 = self.crl()
        self.assertNotIn(serial1, text.upper())

        t0 = time.monotonic()
        r = self.revoke("dev-0001", "--reason", "keyCompromise")
        cli_s = time.monotonic() - t0
        self.assertEqual(r.rc, 0, r)
        self.assertRegex(r.out, r'device "dev-0001" revoked \(was active\): 1 certificate '
                                r"revoked, reason keyCompromise")
        self.assertRegex(r.out, r"rampartd \(pid %d\) told \(SIGHUP\)" % self.d.proc.pid)
        # The live MQTT connection closes within a second of the command.
        got, why, secs = c1.until_closed(3)
        print("\n  dev-0001 closed %.0f ms after the CLI returned (the CLI took %.0f ms)" %
              (secs * 1000, cli_s * 1000), file=sys.stderr)
        self.assertIsNotNone(why, "dev-0001 still connected 3 s after the revocation")
        self.assertLess(secs, 1.0)
        # The other device stays, and works.
        c2.ping()
        # The certificate is refused at the next handshake: by TLS (the CRL
        # now lists it), not only by the broker's ban at CONNECT.
        self.assertIsNotNone(self.d.wait(re.compile(r"CRL \d+ of the issuing CA: 1 revoked")))
        self.assertIsNotNone(self.d.wait(re.compile(r"HTTPS certificate reloaded")))
        # Logged once the new context is posted to the loops; each takes it at
        # its next pass (a handshake accepted in the same pass would finish on
        # the old one, and be refused at CONNECT by the ban).
        time.sleep(0.2)
        with self.assertRaises((ssl.SSLError, R.Closed, ConnectionError, socket.timeout)):
            c = R.TLSClient(self.mqtt, self.trust, crt1, key1)
            try:
                c.connect("dev-0001")
            finally:
                c.close()
        self.assertIsNotNone(self.d.wait(re.compile(r"handshake with .* refused.*revoked")),
                             self.d.text())
        # GET /crl: signed by the issuing CA, the serial with its reason, a larger number.
        headers, _, text, n1 = self.crl()
        self.assertRegex(headers, r"(?mi)^Content-Type: application/pkix-crl\r?$")
        self.assertRegex(headers, r"(?mi)^Cache-Control: public, max-age=\d+")
        self.assertRegex(headers, r'(?mi)^ETag: "%d"\r?$' % n1)
        self.assertIn("SERIAL NUMBER: " + serial1, text.upper())
        self.assertIn("Key Compromise", text)
        self.assertNotIn(serial2, text.upper())
        self.assertGreater(n1, n0)
        # A cache revalidates with the ETag: 304, no body.
        st, body = self.curl("/crl", "-H", 'If-None-Match: "%d"' % n1)
        self.assertEqual((st, body), (304, b""))
        # EST renewal with the revoked certificate is refused (HTTPS listener).
        b64 = os.path.join(self.tmp, "dev-0001.csr.b64")
        st, body = self.curl("/.well-known/est/simplereenroll", "--data-binary", "@" + b64,
                             "-H", "Content-Type: application/pkcs10", "--cert", crt1,
                             "--key", key1)
        self.assertEqual(st, 403, body)
        self.assertIn(b"revoked", body)
        # A second revocation: the number grows again, both serials listed.
        r = self.revoke("dev-0002")
        self.assertEqual(r.rc, 0, r)
        got, why, secs = c2.until_closed(3)
        self.assertIsNotNone(why, "dev-0002 still connected 3 s after the revocation")
        deadline = time.monotonic() + 5
        while True:
            _, _, text, n2 = self.crl()
            if n2 > n1 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertGreater(n2, n1)
        self.assertIn(serial1, text.upper())
        self.assertIn(serial2, text.upper())
        # Again: refused, nothing changed; the audit log has both, the chain intact.
        r = self.revoke("dev-0001")
        self.assertFails(r, 1, r"revoked already")
        r = rampart("device", "list", "--status", "revoked", "--config", self.run_conf)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(re.findall(r"(?m)^(dev-\d+) +revoked", r.out), ["dev-0001", "dev-0002"])
        self.assertEqual(len(self.fleet.sql(
            "SELECT id FROM audit_log WHERE action = 'device.revoke' AND actor = 'cli'")), 2)
        r = rampart("audit", "verify", "--config", self.run_conf)
        self.assertEqual(r.rc, 0, r)

    def test_not_running_pid_file_and_usage(self):
        self.login()
        self.enroll("dev-0003")
        pid_file = os.path.join(self.fleet.data, "rampartd.pid")
        with open(pid_file) as fh:
            self.assertEqual(int(fh.read()), self.d.proc.pid)
        # A second rampartd on the same data refuses to start.
        second = subprocess.run([RAMPARTD, "-c", self.run_conf], capture_output=True,
                                text=True, env=env(), timeout=30)
        self.assertNotEqual(second.returncode, 0)
        self.assertIn("another rampartd (pid %d) runs" % self.d.proc.pid, second.stderr)
        # Usage errors change nothing.
        self.assertFails(self.revoke("dev-0003", "--reason", "because"), 2, r"--reason")
        self.assertFails(rampart("device", "revoke", "--config", self.run_conf), 2, r"ID")
        self.assertFails(self.revoke("nobody"), 1, r"no such device")
        # rampartd stopped: its pid file goes; the revocation stands and is said.
        self.assertEqual(self.d.stop(), 0, self.d.text())
        self.assertFalse(os.path.exists(pid_file))
        r = self.revoke("dev-0003", "--reason", "superseded")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("rampartd is not running", r.out)
        self.assertEqual(self.fleet.sql("SELECT status FROM devices WHERE id = 'dev-0003'"),
                         [("revoked",)])
        self.assertEqual(self.fleet.sql("SELECT reason FROM certificates WHERE device_id = "
                                        "'dev-0003'"), [(4,)])


# --------------------------------------------------------------------------
# 7. PostgreSQL
# --------------------------------------------------------------------------

class PostgreSQL(CliTest):

    def setUp(self):
        super().setUp()
        from test_broker import PostgreSQL as Server  # the helper of the broker tests
        self.pg = Server(self.tmp)
        self.addCleanup(self.pg.stop)
        self.url = self.pg.start()
        # The fleet lives beside the server's directory.
        self.fleet = Fleet(os.path.join(self.tmp, "fleet"))

    def test_init_and_audit_verify(self):
        r = self.fleet.init("--store", self.url)
        self.assertEqual(r.rc, 0, r)
        self.assertRegex(r.out, r"(?m)^  store +PostgreSQL$")
        self.assertNotIn(self.url, r.out + r.err)  # a URL may hold a password
        self.assertFalse(os.path.exists(self.fleet.db))
        with open(self.fleet.config) as fh:
            self.assertIn("store %s\n" % self.url, fh.read())
        self.assertEqual(self.pg.query("SELECT name, role FROM operators"), [("admin", "admin")])
        c = ["--config", self.fleet.config]
        r = rampart("audit", "verify", *c)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("2 entries checked, chain intact", r.out)
        p = subprocess.run([RAMPARTD, "--check-config", self.fleet.config],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env(),
                           timeout=20)
        self.assertEqual(p.returncode, 0, p.stdout.decode())
        # A second init on the same database refuses.
        again = Fleet(os.path.join(self.tmp, "again"))
        r = rampart(*again.args("--store", self.url))
        self.assertFails(r, 1, r"already has operators")
        self.assertFalse(os.path.exists(again.root))
        # Tampering is named, as with SQLite.
        self.pg.query("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only; "
                      "UPDATE audit_log SET actor = 'someone' WHERE id = 1")
        r = rampart("audit", "verify", "--store", self.url)
        self.assertFails(r, 1, r"entry 1: ")


# --------------------------------------------------------------------------
# 8. The CA keys in PKCS#11 tokens (rampart init --pkcs11-*)
# --------------------------------------------------------------------------

SOFTHSM_MODULES = ("/usr/lib/softhsm/libsofthsm2.so",
                   "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                   "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so")
SO_PIN = "13579111"


class SoftHSM:
    """SoftHSM2 tokens in a directory of their own: softhsm2.conf with
    directories.tokendir there, SOFTHSM2_CONF pointing at it (for rampart,
    rampartd and the tools, through env()), a PIN file (0600) per token."""

    def __init__(self, root):
        self.dir = os.path.join(root, "hsm")
        os.makedirs(os.path.join(self.dir, "tokens"), mode=0o700)
        self.conf = os.path.join(self.dir, "softhsm2.conf")
        with open(self.conf, "w") as fh:
            fh.write("directories.tokendir = %s\nobjectstore.backend = file\n"
                     % os.path.join(self.dir, "tokens"))
        self.saved = os.environ.get("SOFTHSM2_CONF")
        os.environ["SOFTHSM2_CONF"] = self.conf
        self.module = os.environ.get("RP_SOFTHSM_MODULE") or next(
            (m for m in SOFTHSM_MODULES if os.path.exists(m)), None)
        missing = [t for t in ("softhsm2-util", "pkcs11-tool") if not shutil.which(t)]
        if self.module is None or missing:
            raise AssertionError("SoftHSM2 and OpenSC are needed (scripts/bootstrap): "
                                 "module %r, missing %r" % (self.module, missing))
        self.pins = {}

    def restore(self):
        if self.saved is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = self.saved

    def token(self, label, pin):
        """A new token; the path of its PIN file (mode 0600)."""
        p = subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label,
                            "--pin", pin, "--so-pin", SO_PIN], capture_output=True,
                           timeout=30, env=env())
        if p.returncode != 0:
            raise AssertionError("softhsm2-util: %s" % p.stderr.decode(errors="replace"))
        self.pins[label] = pin
        return self.pin_file(label + ".pin", pin)

    def pin_file(self, name, pin, mode=0o600):
        path = os.path.join(self.dir, name)
        with open(path, "w") as fh:
            fh.write(pin + "\n")
        os.chmod(path, mode)
        return path

    def objects(self, label, kind=None):
        """pkcs11-tool --list-objects on a token, logged in (another program
        than Rampart asking the token)."""
        args = ["pkcs11-tool", "--module", self.module, "--token-label", label, "--login",
                "--pin", self.pins[label], "--list-objects"]
        if kind:
            args += ["--type", kind]
        p = subprocess.run(args, capture_output=True, timeout=30, env=env())
        if p.returncode != 0:
            raise AssertionError("pkcs11-tool: %s" % p.stderr.decode(errors="replace"))
        return p.stdout.decode(errors="replace")


def ec_point_of(cert):
    """The certificate's public EC point, uncompressed, as hex."""
    der = openssl("x509", "-in", cert, "-noout", "-pubkey").stdout
    spki = openssl("pkey", "-pubin", "-outform", "DER", stdin=der).stdout
    n = 97 if len(spki) > 100 else 65  # P-384 or P-256: 04 || X || Y
    return spki[-n:].hex()


class Pkcs11(CliTest):
    """rampart init with the root and issuing CA keys generated in SoftHSM2
    tokens, then rampartd signing with the issuing key in its token:
    device certificates (EST) and the CRL."""

    # rampartd started, and devices enrolled, as groups Rampartd and Revoke do.
    accepts = Rampartd.accepts
    start = Rampartd.start
    stop_and_check = Rampartd.stop_and_check
    api = Revoke.api
    login = Revoke.login
    curl = Revoke.curl
    enroll = Revoke.enroll
    connected = Revoke.connected
    crl = Revoke.crl
    revoke = Revoke.revoke

    FLEET_PIN = "24681357"
    ROOT_PIN = "97531864"

    def setUp(self):
        super().setUp()
        self.hsm = SoftHSM(self.tmp)
        self.addCleanup(self.hsm.restore)
        self.fleet_pin = self.hsm.token("rp-fleet", self.FLEET_PIN)
        self.cookie = self.csrf = None

    def p11(self, *extra, root_token=True):
        args = ["--pkcs11-module", self.hsm.module, "--pkcs11-token", "rp-fleet",
                "--pkcs11-pin-file", self.fleet_pin]
        if root_token:
            root_pin = self.hsm.token("rp-root", self.ROOT_PIN)
            args += ["--pkcs11-root-token", "rp-root", "--pkcs11-root-pin-file", root_pin]
        return args + list(extra)

    def private_keys(self, root):
        """Files under root holding a private key, as paths relative to root."""
        found = []
        for d, _, files in os.walk(root):
            for n in files:
                with open(os.path.join(d, n), "rb") as fh:
                    if b"PRIVATE KEY-----" in fh.read():
                        found.append(os.path.relpath(os.path.join(d, n), root))
        return sorted(found)

    def assert_key_in_token(self, token, label, cert):
        priv = self.hsm.objects(token, "privkey")
        self.assertEqual(priv.count("Private Key Object"), 1, priv)
        self.assertRegex(priv, r"label:\s+%s\n" % re.escape(label))
        self.assertRegex(priv, r"Access:\s+sensitive, always sensitive, never extractable")
        self.assertRegex(priv, r"Usage:\s+sign\n")
        # The token's public key is the certificate's.
        pub = self.hsm.objects(token, "pubkey")
        m = re.search(r"EC_POINT:\s+([0-9a-f]+)", pub)
        self.assertIsNotNone(m, pub)
        self.assertTrue(m.group(1).endswith(ec_point_of(cert)), (m.group(1), pub))

    def test_keys_in_tokens_rampartd_issues_and_signs_the_crl(self):
        f = self.fleet
        r = self.init_ok(*self.p11("--alg", "p384"))
        # Printed: where the keys are, no passphrase, what to do with the root's token.
        self.assertRegex(r.out, r"root CA key +PKCS#11 token 'rp-root', key 'rampart-root-ca'")
        self.assertRegex(r.out, r"issuing CA key +PKCS#11 token 'rp-fleet', key "
                                r"'rampart-issuing-ca'")
        self.assertIn("Remove token 'rp-root' now and keep it offline", r.out)
        self.assertNotIn("root-ca-passphrase", r.out)
        self.assertNotIn(self.FLEET_PIN, r.out + r.err)
        self.assertNotIn(self.ROOT_PIN, r.out + r.err)
        # No CA key on disk: not in the data directory, not in the offline one
        # (the server's TLS key is the one key file, as without a token).
        self.assertEqual(self.private_keys(f.data), ["pki/server.key"])
        self.assertEqual(self.private_keys(f.offline), [])
        self.assertEqual(os.listdir(f.offline), ["root-ca.crt"])
        for gone in ("root-ca.key", "issuing-ca.key", "issuing-ca.pass"):
            for d in (f.pki, f.secrets, f.offline):
                self.assertFalse(os.path.exists(os.path.join(d, gone)), gone)
        # Each key in its token: never extractable, the certificate's key; the
        # root's token holds the root key only, rampartd's the issuing key only.
        self.assert_key_in_token("rp-root", "rampart-root-ca", f.p("root-ca.crt"))
        self.assert_key_in_token("rp-fleet", "rampart-issuing-ca", f.p("issuing-ca.crt"))
        # The certificates the tokens signed verify; the root is P-384.
        trust, issuing = f.p("device-trust.crt"), f.p("issuing-ca.crt")
        openssl("verify", "-x509_strict", "-CAfile", trust, issuing)
        openssl("verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", trust,
                "-untrusted", issuing, f.p("server.crt"))
        text = openssl("x509", "-in", issuing, "-noout", "-text").stdout.decode()
        self.assertIn("ecdsa-with-SHA384", text)  # signed by the P-384 root in its token
        # The configuration names the key in the token, no key file.
        with open(f.config) as fh:
            conf = fh.read()
        for line in ("pki.issuing_keystore pkcs11", "pki.pkcs11_module " + self.hsm.module,
                     "pki.pkcs11_token rp-fleet", "pki.pkcs11_pin_file " + self.fleet_pin,
                     "pki.issuing_key_label rampart-issuing-ca"):
            self.assertIn(line + "\n", conf)
        self.assertNotIn("pki.issuing_key ", conf)
        self.assertNotIn("pki.issuing_key_pass", conf)
        audit = f.sql("SELECT detail FROM audit_log WHERE action = 'pki.init'")
        self.assertIn('"ca_keys":"pkcs11"', audit[0][0])
        # rampartd accepts it, and starts with the root's token gone (offline).
        p = subprocess.run([RAMPARTD, "--check-config", f.config], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=env(), timeout=20)
        self.assertEqual(p.returncode, 0, p.stdout.decode())
        root_dir = self.token_dir("rp-root")
        shutil.move(root_dir, os.path.join(self.hsm.dir, "removed-root-token"))
        self.d, self.mqtt = self.start()
        self.assertIsNotNone(self.d.wait(re.compile(
            r"issuing CA key: PKCS#11 token 'rp-fleet', key 'rampart-issuing-ca'")),
            self.d.text())
        m = self.d.wait(Daemon.API_RE, timeout=5)
        self.assertIsNotNone(m, "this rampartd has no REST API:\n" + self.d.text())
        self.https = int(m.group(1))
        self.run_conf = os.path.join(self.tmp, "run.conf")
        self.trust = trust
        self.ctx = ssl.create_default_context(cafile=trust)
        # A device enrolls over EST (openssl, curl); its certificate, signed in
        # the token, verifies against the root; it connects over mutual TLS.
        self.login()
        crt, key, serial = self.enroll("dev-p11")
        r = openssl("verify", "-x509_strict", "-purpose", "sslclient", "-CAfile", trust,
                    "-untrusted", issuing, crt)
        self.assertIn(b"OK", r.stdout)
        c = self.connected(crt, key, "dev-p11")
        # The first CRL (made at start) is the token's signature too.
        _, _, text, n0 = self.crl()
        self.assertNotIn(serial, text.upper())
        # Revoked: rampartd re-signs the CRL with the token's key.
        r = self.revoke("dev-p11", "--reason", "keyCompromise")
        self.assertEqual(r.rc, 0, r)
        self.assertIsNotNone(c.until_closed(3)[1], "dev-p11 still connected")
        deadline = time.monotonic() + 5
        while True:
            _, path, text, n1 = self.crl()  # verified against fleet-ca.crt inside
            if n1 > n0 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertGreater(n1, n0)
        self.assertIn("SERIAL NUMBER: " + serial, text.upper())
        # And with `openssl crl -verify` against the issuing CA alone.
        v = openssl("crl", "-inform", "DER", "-in", path, "-noout", "-CAfile", issuing,
                    "-verify", check=False)
        self.assertIn(b"verify OK", v.stdout + v.stderr)
        # The CRL file rampartd keeps on disk: the same signature.
        v = openssl("crl", "-in", os.path.join(f.data, "issuing-ca.crl"), "-noout",
                    "-CAfile", issuing, "-verify", check=False)
        self.assertIn(b"verify OK", v.stdout + v.stderr)
        self.assertEqual(self.d.stop(), 0, self.d.text())
        self.assertNotIn(self.FLEET_PIN, self.d.text())

    def token_dir(self, label):
        """The directory of a SoftHSM2 token, found by its label."""
        tokens = os.path.join(self.hsm.dir, "tokens")
        for d in os.listdir(tokens):
            with open(os.path.join(tokens, d, "token.object"), "rb") as fh:
                if label.encode().ljust(32, b" ") in fh.read():
                    return os.path.join(tokens, d)
        raise AssertionError("no token %s in %s" % (label, tokens))

    def test_one_token_for_both_keys(self):
        r = self.init_ok(*self.p11(root_token=False))
        self.assertIn("It shares the token with the issuing CA key", r.out)
        priv = self.hsm.objects("rp-fleet", "privkey")
        self.assertEqual(priv.count("Private Key Object"), 2, priv)
        self.assertEqual(priv.count("never extractable"), 2, priv)
        self.assertEqual(self.private_keys(self.fleet.data), ["pki/server.key"])
        text = openssl("x509", "-in", self.fleet.p("root-ca.crt"), "-noout",
                       "-text").stdout.decode()
        self.assertIn("prime256v1", text)  # --alg's default
        d, _ = self.start()
        self.assertIsNotNone(d.wait(re.compile(r"issuing CA key: PKCS#11 token")), d.text())
        self.assertIsNotNone(d.wait(re.compile(r"CRL \d+ of the issuing CA")), d.text())

    def start_refused(self, conf_text):
        """rampartd with conf_text: it must refuse to start; its output."""
        path = os.path.join(self.tmp, "bad.conf")
        with open(path, "w") as fh:
            fh.write(conf_text + "loops 1\nlistener.mqtts 127.0.0.1:0\n"
                     "listener.https 127.0.0.1:0\n")
        p = subprocess.run([RAMPARTD, "-c", path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=env(), timeout=60)
        out = p.stdout.decode(errors="replace")
        self.assertNotEqual(p.returncode, 0, out)
        self.assertFalse(any(m in out for m in SANITIZER_MARKS), out)
        self.assertNotIn("listening on", out)
        return out

    def test_wrong_pin_missing_token_missing_key_refused_at_start(self):
        self.init_ok(*self.p11(root_token=False))
        with open(self.fleet.config) as fh:
            conf = fh.read()
        # A wrong PIN: the token refuses it; the message names the file, not the PIN.
        wrong = self.hsm.pin_file("wrong.pin", "11112222")
        out = self.start_refused(conf.replace(self.fleet_pin, wrong))
        self.assertRegex(out, r"rampartd: issuing CA: .*token 'rp-fleet' refused the PIN "
                              r"in %s \(wrong PIN\)" % re.escape(wrong))
        self.assertNotIn("11112222", out)
        # A PIN file others may read.
        loose = self.hsm.pin_file("loose.pin", self.FLEET_PIN, mode=0o644)
        out = self.start_refused(conf.replace(self.fleet_pin, loose))
        self.assertRegex(out, r"rampartd: issuing CA: .*%s.*group or others" % re.escape(loose))
        # A token that is not there: another label, then the token itself gone.
        out = self.start_refused(conf.replace("pki.pkcs11_token rp-fleet",
                                              "pki.pkcs11_token rp-elsewhere"))
        self.assertRegex(out, r"rampartd: issuing CA: .*no token labelled 'rp-elsewhere'")
        # A key that is not on the token: never generated by rampartd.
        out = self.start_refused(conf.replace("pki.issuing_key_label rampart-issuing-ca",
                                              "pki.issuing_key_label nothing-here"))
        self.assertRegex(out, r"rampartd: issuing CA: pki.issuing_key_label: no key "
                              r"'nothing-here' on token 'rp-fleet'")
        self.assertEqual(self.hsm.objects("rp-fleet", "privkey").count("Private Key"), 2)
        shutil.move(self.token_dir("rp-fleet"), os.path.join(self.hsm.dir, "removed"))
        out = self.start_refused(conf)
        self.assertRegex(out, r"rampartd: issuing CA: .*no token labelled 'rp-fleet'")
        # --check-config reads the file only: it still accepts it.
        p = subprocess.run([RAMPARTD, "--check-config", self.fleet.config],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env(),
                           timeout=20)
        self.assertEqual(p.returncode, 0, p.stdout.decode())

    def test_init_refusals_change_nothing(self):
        f = self.fleet

        def fleet_files():
            return sorted(n for n in os.listdir(self.tmp) if n != "hsm")
        # Usage: the three go together; no --root-key-inside; one label twice.
        base = ["init", "--config", f.config, "--data-dir", f.data, "--name", "localhost"]
        m = ["--pkcs11-module", self.hsm.module]
        for args, why in (
                (m + ["--pkcs11-token", "rp-fleet"], r"--pkcs11-pin-file: required"),
                (m + ["--pkcs11-pin-file", self.fleet_pin], r"--pkcs11-token: required"),
                (m + ["--pkcs11-token", "rp-fleet", "--pkcs11-pin-file", self.fleet_pin,
                      "--root-key-inside"], r"--root-key-inside: not with --pkcs11"),
                (m + ["--pkcs11-token", "rp-fleet", "--pkcs11-pin-file", self.fleet_pin,
                      "--pkcs11-root-label", "ca", "--pkcs11-issuing-label", "ca"],
                 r"--pkcs11-issuing-label: the root key's label"),
                (m + ["--pkcs11-token", "x" * 33, "--pkcs11-pin-file", self.fleet_pin],
                 r"--pkcs11-token: 1 to 32 bytes"),
                (["--pkcs11-root-label", "r"], r"--pkcs11-module: required")):
            r = rampart(*(base + args))
            self.assertEqual(r.rc, 2, r)
            self.assertRegex(r.err, r"^rampart init: " + why, r)
            self.assertEqual(fleet_files(), [], args)
        # A wrong PIN: refused before anything is made; the token untouched.
        wrong = self.hsm.pin_file("wrong.pin", "11112222")
        r = rampart(*(base + m + ["--pkcs11-token", "rp-fleet", "--pkcs11-pin-file", wrong]))
        self.assertFails(r, 1, r"token 'rp-fleet' refused the PIN")
        self.assertNotIn("11112222", r.out + r.err)
        self.assertEqual(fleet_files(), [])
        self.assertNotIn("Private Key", self.hsm.objects("rp-fleet"))
        # No such token.
        r = rampart(*(base + m + ["--pkcs11-token", "rp-none", "--pkcs11-pin-file",
                                  self.fleet_pin]))
        self.assertFails(r, 1, r"no token labelled 'rp-none'")
        self.assertEqual(fleet_files(), [])
        # A label in use on the token: refused, nothing made, the key kept.
        self.init_ok(*self.p11(root_token=False))
        before = self.hsm.objects("rp-fleet")
        again = Fleet(os.path.join(self.tmp, "again"))
        r = rampart(*again.args(*self.p11(root_token=False)))
        self.assertFails(r, 1, r"a key labelled 'rampart-root-ca' is there already; "
                               r"nothing was changed")
        self.assertFalse(os.path.exists(again.root))
        self.assertEqual(self.hsm.objects("rp-fleet"), before)

    def test_rollback_destroys_the_keys_it_generated(self):
        """Standard output full at the very end: init rolls back, the key pairs
        it generated in the token included; the same init then succeeds."""
        with open("/dev/full", "w") as full:
            p = subprocess.run([RAMPART] + self.fleet.args(*self.p11()), stdout=full,
                               stderr=subprocess.PIPE, env=env(), timeout=60)
        err = p.stderr.decode(errors="replace")
        self.assertFalse(any(m in err for m in SANITIZER_MARKS), err)
        self.assertEqual(p.returncode, 1, err)
        self.assertIn("rollback: everything init had made was removed", err)
        self.assertEqual(sorted(n for n in os.listdir(self.tmp) if n != "hsm"), [])
        for token in ("rp-fleet", "rp-root"):
            objs = self.hsm.objects(token)
            self.assertNotIn("Private Key", objs, token)
            self.assertNotIn("Public Key", objs, token)
        r = rampart(*self.fleet.args("--pkcs11-module", self.hsm.module, "--pkcs11-token",
                                     "rp-fleet", "--pkcs11-pin-file", self.fleet_pin,
                                     "--pkcs11-root-token", "rp-root",
                                     "--pkcs11-root-pin-file",
                                     os.path.join(self.hsm.dir, "rp-root.pin")))
        self.assertEqual(r.rc, 0, r)


def main():
    global RAMPART, RAMPARTD
    argv = [sys.argv[0]]
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "--rampart":
            RAMPART = args.pop(0)
        elif a == "--rampartd":
            RAMPARTD = args.pop(0)
        else:
            argv.append(a)
    missing = []
    for name, path in (("rampart", RAMPART), ("rampartd", RAMPARTD)):
        if not path or not os.access(path, os.X_OK):
            missing.append("%s (--%s PATH or %s=PATH): %r" % (name, name, name.upper(), path))
    if not shutil.which("openssl"):
        missing.append("openssl")
    if missing:
        sys.stderr.write("test_cli.py: missing: %s\n" % "; ".join(missing))
        return 2
    prog = unittest.main(argv=argv, exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
