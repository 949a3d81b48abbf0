#!/usr/bin/python3
"""tests/integration/test_est.py - enrollment (EST, RFC 7030) with curl and openssl.

    /usr/bin/python3 test_est.py --driver PATH [--rampartd PATH] [unittest args]

(or RP_API_DRIVER=PATH, RAMPARTD=PATH). PATH is the test_api_http binary
(tests/unit): with `--serve DIR` it makes a two-tier fleet PKI with
server/pki (root CA, issuing CA whose key is encrypted with a passphrase in
a 0600 file, a server certificate issued by the issuing CA, and a
manufacturer CA), seeds a SQLite store in DIR (operators, API tokens, an
expired and a revoked enrollment token), starts server/api on 127.0.0.1
port 0 with enrollment on, and prints one JSON line (tests/unit/
test_api_http.c). The device side is only the command line tools a device
integrator would use: `openssl req` makes the key and the CSR, `curl` speaks
EST, `base64 -d | openssl pkcs7` reads the answers, `openssl verify` and
`openssl x509` check what was issued. Operators' calls (enrollment tokens,
the audit log, devices) go through the REST API with an admin API token.
Nothing uses -k: the clients trust the fleet root only (what
/.well-known/est/cacerts serves), as a device does.

Every test class starts its own server in a fresh temporary directory and
stops it at the end, checking that it exits 0 and that no sanitizer
complained. RP_IT_KEEP=1 keeps the directory.

Groups (one CTest test each, see CMakeLists.txt):
  Protocol     cacerts and csrattrs as RFC 7030 says (media types, base64),
               401 without credentials, 404/405, query strings, media type
  Token        enroll with an enrollment token (HTTP Basic and Bearer):
               the certificate verifies against the root, its profile (CN,
               SAN URI, EKU clientAuth, 128-bit serial, validity), the
               device row (status, tags, model); the token's second use
               refused; audit entries
  Refusals     expired, revoked, unknown and used-up tokens; a CSR for
               another device; RSA-1024 and RSA-2048 keys; P-521; a
               malformed body; a body too large; a user the token is not
               for; a prefix token and a CN outside it; each with its
               audit entry
  Renewal      simplereenroll with the issued certificate as TLS client
               certificate; a CSR with another subject, a revoked
               certificate, a certificate of another CA, none: refused
  Factory      a factory certificate of the registered manufacturer CA
               enrolls the device it names; another manufacturer's does not
  Race         a token with 3 uses and 8 parallel enrollments: 3 certificates
  Tokens       the REST routes of enrollment tokens: list, state, revoke
  Rampartd     rampartd itself with pki.* keys (when --rampartd is given):
               cacerts served; an unsafe passphrase file refused at start
  CrlRoute     GET /crl beside the EST routes: its own pipeline (GET only, no
               query, no body, text errors), 503 on a server that makes no CRL,
               and on rampartd with the pki.* keys a CRL of the issuing CA
               (openssl crl -verify), an ETag that answers 304
"""

import base64
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
DRIVER = os.environ.get("RP_API_DRIVER")
RAMPARTD = os.environ.get("RAMPARTD")
CURL = shutil.which("curl")
OPENSSL = shutil.which("openssl")

START_BOUND = 30.0
EST = "/.well-known/est"
ROOT_CN = "Rampart fleet test root CA"
ISSUING_CN = "Rampart fleet test issuing CA"


def run(args, check=True, input=None, cwd=None):
    r = subprocess.run(args, capture_output=True, input=input, cwd=cwd)
    if check and r.returncode != 0:
        raise AssertionError("%s exited %d: %s" % (" ".join(args), r.returncode,
                                                  r.stderr.decode(errors="replace")))
    return r


class Server:
    """One test_api_http --serve process."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="rp-est-it-")
        self.err_path = os.path.join(self.dir, "driver.stderr")
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen([DRIVER, "--serve", self.dir], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.err)
        line = self._readline(START_BOUND)
        if not line:
            self.proc.kill()
            raise AssertionError("driver did not start:\n" + self.stderr())
        self.info = json.loads(line)
        self.port = self.info["port"]
        self.root = self.info["est"]["root"]
        self.url = "https://127.0.0.1:%d" % self.port
        self.admin = self.info["tokens"]["admin"]
        self.ctx = ssl.create_default_context(cafile=self.root)
        self.lock = threading.Lock()

    def _readline(self, bound):
        out = []
        t = threading.Thread(target=lambda: out.append(self.proc.stdout.readline()))
        t.daemon = True
        t.start()
        t.join(bound)
        return out[0].decode() if out else None

    def stderr(self):
        if not self.err.closed:
            self.err.flush()
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def command(self, line):
        with self.lock:
            self.proc.stdin.write((line + "\n").encode())
            self.proc.stdin.flush()
            return self._readline(20).strip()

    def stop(self):
        try:
            self.proc.stdin.write(b"quit\n")
            self.proc.stdin.close()
        except OSError:
            pass
        rc = self.proc.wait(30)
        self.proc.stdout.close()
        self.err.close()
        log = self.stderr()
        bad = re.search(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:", log)
        ok = rc == 0 and bad is None
        if ok and not os.environ.get("RP_IT_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        return ok, rc, log

    def path(self, name):
        return os.path.join(self.dir, name)

    # -- the operators' side: REST, JSON, an admin API token ---------------

    def api(self, method, path, body=None, token=None):
        h = {"Host": "127.0.0.1:%d" % self.port,
             "Authorization": "Bearer " + (token or self.admin)}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=30)
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
        finally:
            c.close()

    def token(self, **body):
        st, j = self.api("POST", "/api/v1/enrollment-tokens", body)
        if st != 201:
            raise AssertionError("enrollment token: %d %r" % (st, j))
        return j

    def audit(self, action, target=None):
        q = "/api/v1/audit?action=%s&order=desc&limit=100" % action
        if target is not None:
            q += "&target=" + target
        st, j = self.api("GET", q)
        if st != 200:
            raise AssertionError("audit: %d %r" % (st, j))
        return j["items"]

    # -- the device's side: curl --------------------------------------------

    def curl(self, path, data=None, user=None, bearer=None, cert=None, key=None,
             ctype="application/pkcs10", extra=()):
        """Returns (status, headers text, body bytes)."""
        hdr = self.path("curl-%d.h" % threading.get_ident())
        body = self.path("curl-%d.b" % threading.get_ident())
        args = [CURL, "-sS", "--cacert", self.root, "-D", hdr, "-o", body,
                "-w", "%{http_code}"]
        if data is not None:
            args += ["--data-binary", "@" + data, "-H", "Content-Type: " + ctype]
        if user is not None:
            args += ["-u", user]
        if bearer is not None:
            args += ["-H", "Authorization: Bearer " + bearer]
        if cert is not None:
            args += ["--cert", cert, "--key", key]
        args += list(extra)
        args.append(self.url + path)
        r = run(args)
        with open(hdr) as f:
            headers = f.read()
        with open(body, "rb") as f:
            content = f.read()
        return int(r.stdout.decode()), headers, content


def slurp(path):
    with open(path, errors="replace") as f:
        return f.read()


def header(headers, name):
    m = re.search(r"^%s: *(.*?)\r?$" % re.escape(name), headers, re.M | re.I)
    return m.group(1) if m else None


class EstTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server()
        cls.work = tempfile.mkdtemp(prefix="rp-est-dev-", dir=cls.srv.dir)
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        ok, rc, log = cls.srv.stop()
        if not ok:
            sys.stderr.write("---- driver stderr (%s) ----\n%s\n" % (cls.srv.dir, log[-20000:]))
            raise AssertionError("driver exited %s or a sanitizer complained" % rc)

    # -- devices' files, made by openssl ------------------------------------

    def f(self, name):
        return os.path.join(self.work, name)

    def csr(self, cn, newkey=("ec", "-pkeyopt", "ec_paramgen_curve:P-256"), key=None):
        """A key (new unless given) and a CSR with subject CN=cn, base64 of DER as EST
        sends it. Returns (csr.b64 path, key path)."""
        type(self).n += 1
        stem = self.f("d%d" % self.n)
        args = [OPENSSL, "req", "-new", "-subj", "/CN=" + cn, "-outform", "DER",
                "-out", stem + ".der"]
        if key is None:
            key = stem + ".key"
            args += ["-newkey", newkey[0], *newkey[1:], "-nodes", "-keyout", key]
        else:
            args += ["-key", key]
        run(args)
        with open(stem + ".der", "rb") as fin, open(stem + ".b64", "wb") as fout:
            fout.write(base64.encodebytes(fin.read()))
        return stem + ".b64", key

    def certs_of(self, body):
        """The certificates of a base64 certs-only PKCS#7, as PEM, through the
        command line: base64 -d | openssl pkcs7 -inform DER -print_certs."""
        p = self.f("p7-%d.b64" % threading.get_ident())
        with open(p, "wb") as out:
            out.write(body)
        dec = run(["base64", "-d", p]).stdout
        return run([OPENSSL, "pkcs7", "-inform", "DER", "-print_certs"], input=dec).stdout

    def save_cert(self, body, name):
        pem = self.certs_of(body)
        path = self.f(name)
        with open(path, "wb") as out:
            out.write(pem)
        return path

    def x509(self, path, *opts):
        return run([OPENSSL, "x509", "-in", path, "-noout", *opts]).stdout.decode()

    def enroll(self, cn, token, user=None, **kw):
        data, key = self.csr(cn)
        st, h, body = self.srv.curl(EST + "/simpleenroll", data=data,
                                    user="%s:%s" % (user if user is not None else cn, token),
                                    **kw)
        return st, h, body, key

    def assertRefused(self, st, body, status, text):
        self.assertEqual(st, status, body)
        self.assertRegex(body.decode(), text)

    def assertAudited(self, action, target, reason):
        items = self.srv.audit(action, target)
        self.assertTrue(any(re.search(reason, e["detail"].get("reason", ""))
                            for e in items if isinstance(e["detail"], dict)),
                        "no %s entry for %s with reason /%s/ in %r" % (action, target, reason,
                                                                      items[:5]))


# ---------------------------------------------------------------------------
# Protocol
# ---------------------------------------------------------------------------

class Protocol(EstTest):
    def test_cacerts_is_root_and_issuing_ca(self):
        st, h, body = self.srv.curl(EST + "/cacerts")
        self.assertEqual(st, 200)
        self.assertEqual(header(h, "Content-Type"), "application/pkcs7-mime")
        self.assertEqual(header(h, "Content-Transfer-Encoding"), "base64")
        pem = self.certs_of(body).decode()
        self.assertIn("CN = " + ROOT_CN, pem)
        self.assertIn("CN = " + ISSUING_CN, pem)
        # What cacerts serves is what a device then trusts: the same root.
        with open(self.srv.root) as fr:
            root_pem = fr.read().strip()
        self.assertIn(root_pem.splitlines()[1], pem)

    def test_csrattrs(self):
        st, h, body = self.srv.curl(EST + "/csrattrs")
        self.assertEqual(st, 200)
        self.assertEqual(header(h, "Content-Type"), "application/csrattrs")
        self.assertEqual(header(h, "Content-Transfer-Encoding"), "base64")
        der = self.f("attrs.der")
        with open(der, "wb") as out:
            out.write(base64.b64decode(body))
        text = run([OPENSSL, "asn1parse", "-inform", "DER", "-in", der]).stdout.decode()
        for oid in ["id-ecPublicKey", "prime256v1", "ecdsa-with-SHA256"]:
            self.assertIn(oid, text)

    def test_no_credentials_is_401_with_basic_challenge(self):
        data, _ = self.csr("dev-0500")
        st, h, body = self.srv.curl(EST + "/simpleenroll", data=data)
        self.assertEqual(st, 401)
        self.assertRegex(header(h, "WWW-Authenticate"), r'^Basic realm="rampart-est"')
        self.assertEqual(header(h, "Content-Type"), "text/plain; charset=utf-8")
        self.assertRegex(body.decode(), "enrollment token")

    def test_routes_methods_queries(self):
        st, _, body = self.srv.curl(EST + "/serverkeygen")
        self.assertRefused(st, body, 404, "no such EST operation")
        st, _, body = self.srv.curl(EST + "/label/simpleenroll")
        self.assertEqual(st, 404)
        st, h, body = self.srv.curl(EST + "/simpleenroll")  # GET
        self.assertEqual(st, 405)
        self.assertEqual(header(h, "Allow"), "POST")
        st, h, body = self.srv.curl(EST + "/cacerts", extra=["-X", "POST"])
        self.assertEqual(st, 405)
        self.assertEqual(header(h, "Allow"), "GET")
        st, _, body = self.srv.curl(EST + "/cacerts?x=1")
        self.assertRefused(st, body, 400, "no query string")
        # The REST API is unchanged next to it, with or without a client certificate.
        st, j = self.srv.api("GET", "/api/v1/session")
        self.assertEqual(st, 200, j)

    def test_media_type(self):
        tok = self.srv.token(device="dev-0501")["token"]
        data, _ = self.csr("dev-0501")
        st, _, body = self.srv.curl(EST + "/simpleenroll", data=data, user="dev-0501:" + tok,
                                    ctype="application/octet-stream")
        self.assertRefused(st, body, 415, "application/pkcs10")
        # Not spent by a refused request.
        st, _, body = self.srv.curl(EST + "/simpleenroll", data=data, user="dev-0501:" + tok)
        self.assertEqual(st, 200, body)


# ---------------------------------------------------------------------------
# Enrollment with a token
# ---------------------------------------------------------------------------

class Token(EstTest):
    def test_enroll_verify_profile_store_audit(self):
        t = self.srv.token(device="dev-0042", tags=["site=lyon", "line:3"], model="sensor-x",
                           uses=1, lifetime_s=600)
        self.assertTrue(t["token"].startswith("rpe_"))
        t0 = time.time()
        st, h, body, key = self.enroll("dev-0042", t["token"])
        self.assertEqual(st, 200, body)
        self.assertEqual(header(h, "Content-Type"),
                         "application/pkcs7-mime; smime-type=certs-only")
        self.assertEqual(header(h, "Content-Transfer-Encoding"), "base64")
        crt = self.save_cert(body, "dev-0042.crt")

        # Verifies against the root the device got from /cacerts, through the issuing CA.
        st, _, ca_body = self.srv.curl(EST + "/cacerts")
        chain = self.save_cert(ca_body, "cacerts.pem")
        r = run([OPENSSL, "verify", "-x509_strict", "-purpose", "sslclient", "-CAfile",
                 self.srv.root, "-untrusted", chain, crt])
        self.assertIn(b": OK", r.stdout)

        # The profile.
        self.assertEqual(self.x509(crt, "-subject", "-nameopt", "RFC2253").strip(),
                         "subject=CN=dev-0042")
        self.assertIn(ISSUING_CN, self.x509(crt, "-issuer"))
        ext = self.x509(crt, "-ext",
                        "subjectAltName,extendedKeyUsage,keyUsage,basicConstraints")
        self.assertIn("URI:urn:rampart:fleet:test-fleet:device:dev-0042", ext)
        self.assertRegex(ext, r"Extended Key Usage: *\n *TLS Web Client Authentication\s*\n")
        self.assertRegex(ext, r"Key Usage: critical\n *Digital Signature")
        self.assertRegex(ext, r"Basic Constraints: critical\n *CA:FALSE")
        serial = self.x509(crt, "-serial").strip().split("=")[1]
        self.assertLessEqual(len(serial.lstrip("0")), 32)  # 128 bits at most
        self.assertGreater(len(serial.lstrip("0")), 20)    # and random: not a counter
        self.assertLess(int(serial, 16), 1 << 127)          # positive (top bit clear)
        dates = self.x509(crt, "-startdate", "-enddate", "-dateopt", "iso_8601")
        nb = re.search(r"notBefore=(\S+ \S+)", dates).group(1)
        na = re.search(r"notAfter=(\S+ \S+)", dates).group(1)
        to_s = lambda s: time.mktime(time.strptime(s, "%Y-%m-%d %H:%M:%SZ")) - time.timezone
        self.assertAlmostEqual(to_s(nb), t0 - 300, delta=10)
        self.assertAlmostEqual(to_s(na), t0 + self.srv.info["est"]["validity_s"], delta=10)
        # The key in the certificate is the device's own.
        pub1 = run([OPENSSL, "x509", "-in", crt, "-noout", "-pubkey"]).stdout
        pub2 = run([OPENSSL, "pkey", "-in", key, "-pubout"]).stdout
        self.assertEqual(pub1, pub2)

        # The device row: created active, with the token's tags and model.
        st, d = self.srv.api("GET", "/api/v1/devices/dev-0042")
        self.assertEqual(st, 200, d)
        self.assertEqual(d["status"], "active")
        self.assertEqual(d["model"], "sensor-x")
        self.assertEqual(sorted(d["tags"]), ["line:3", "site=lyon"])

        # The second use is refused, and the token says it is used.
        st, _, body, _ = self.enroll("dev-0042", t["token"])
        self.assertRefused(st, body, 403, "has been used")
        st, j = self.srv.api("GET", "/api/v1/enrollment-tokens")
        row = [x for x in j["items"] if x["id"] == t["id"]][0]
        self.assertEqual((row["state"], row["used"], row["uses"]), ("used", 1, 1))

        # Audit: the enrollment (actor the device, the certificate named) and the refusal.
        e = self.srv.audit("device.enroll", "dev-0042")[0]
        self.assertEqual(e["actor"], "device:dev-0042")
        self.assertEqual(e["detail"]["auth"], "token")
        self.assertEqual(e["detail"]["token"], t["id"])
        # The store's serial: lowercase hex of the octets, as openssl prints them.
        self.assertEqual(e["detail"]["serial"], serial.lower())
        fp = run([OPENSSL, "x509", "-in", crt, "-noout", "-fingerprint", "-sha256"]).stdout
        self.assertEqual(e["detail"]["sha256"],
                         fp.decode().split("=")[1].strip().replace(":", "").lower())
        self.assertAudited("device.enroll_refused", "dev-0042", "has been used")
        self.assertNotIn(t["token"], json.dumps(self.srv.audit("device.enroll")))
        self.assertNotIn(t["token"], self.srv.stderr())
        st, v = self.srv.api("GET", "/api/v1/audit/verify")
        self.assertEqual(st, 200, v)

    def test_bearer_and_existing_device_keeps_quarantine(self):
        # dev-0003 exists and is quarantined: enrollment does not lift that.
        t = self.srv.token(device="dev-0003", tags=["re-provisioned"])
        data, _ = self.csr("dev-0003")
        st, _, body = self.srv.curl(EST + "/simpleenroll", data=data, bearer=t["token"])
        self.assertEqual(st, 200, body)
        st, d = self.srv.api("GET", "/api/v1/devices/dev-0003")
        self.assertEqual(d["status"], "quarantined")
        self.assertEqual(d["tags"], ["re-provisioned"])
        self.assertEqual(d["model"], "sensor-a")  # a token without model leaves it

    def test_prefix_token(self):
        t = self.srv.token(device_prefix="line7-", uses=2, model="gw")
        st, _, body, _ = self.enroll("line7-a", t["token"])
        self.assertEqual(st, 200, body)
        # Bearer, no user name: the CSR's CN is checked against the prefix.
        data, _ = self.csr("line7-b")
        st, _, body = self.srv.curl(EST + "/simpleenroll", data=data, bearer=t["token"])
        self.assertEqual(st, 200, body)
        st, d = self.srv.api("GET", "/api/v1/devices/line7-b")
        self.assertEqual((d["status"], d["model"]), ("active", "gw"))


# ---------------------------------------------------------------------------
# Refusals, each audited
# ---------------------------------------------------------------------------

class Refusals(EstTest):
    def test_expired_and_revoked_tokens(self):
        tok = self.srv.info["enroll_tokens"]
        st, _, body, _ = self.enroll("dev-0100", tok["expired"])
        self.assertRefused(st, body, 403, "expired")
        self.assertAudited("device.enroll_refused", "dev-0100", "expired")
        st, _, body, _ = self.enroll("dev-0101", tok["revoked"])
        self.assertRefused(st, body, 403, "revoked")
        self.assertAudited("device.enroll_refused", "dev-0101", "revoked")

    def test_unknown_and_malformed_tokens(self):
        fake = "rpe_" + "A" * 43
        st, h, body, _ = self.enroll("dev-0102", fake)
        self.assertRefused(st, body, 401, "unknown")
        self.assertRegex(header(h, "WWW-Authenticate"), "^Basic ")
        self.assertAudited("device.enroll_refused", "dev-0102", "unknown")
        # An API token is not an enrollment token (each kind hashes with its prefix).
        st, _, body, _ = self.enroll("dev-0102", self.srv.admin)
        self.assertRefused(st, body, 401, "not an enrollment token")
        e = self.srv.audit("device.enroll_refused", "dev-0102")[0]
        self.assertEqual(e["actor"], "anonymous")
        # User and password swapped: refused before the "user" (a token) is used anywhere.
        t = self.srv.token(device="dev-0106")
        data, _ = self.csr("dev-0106")
        st, _, body = self.srv.curl(EST + "/simpleenroll", data=data,
                                    user="%s:dev-0106" % t["token"])
        self.assertRefused(st, body, 400, "the user name is a token")
        self.assertNotIn(t["token"], json.dumps(self.srv.audit("device.enroll_refused")))
        self.assertNotIn(t["token"], self.srv.stderr())
        self.assertNotIn(t["token"], body.decode())

    def test_csr_for_another_device(self):
        t = self.srv.token(device="dev-0103")
        # User name right, CSR for another device.
        data, _ = self.csr("dev-0001")
        st, _, body = self.srv.curl(EST + "/simpleenroll", data=data,
                                    user="dev-0103:" + t["token"])
        self.assertRefused(st, body, 403, "CSR CN differs")
        self.assertAudited("device.enroll_refused", "dev-0103", "CSR CN differs")
        # User name and CSR both another device's.
        st, _, body, _ = self.enroll("dev-0001", t["token"])
        self.assertRefused(st, body, 403, "not for device dev-0001")
        self.assertAudited("device.enroll_refused", "dev-0001", "not for device")
        # Bearer: the token names dev-0103.
        st, _, body = self.srv.curl(EST + "/simpleenroll", data=data, bearer=t["token"])
        self.assertRefused(st, body, 403, "CSR CN differs")
        # None of it spent the token.
        st, _, body, _ = self.enroll("dev-0103", t["token"])
        self.assertEqual(st, 200, body)

    def test_weak_or_wrong_keys(self):
        t = self.srv.token(device="dev-0104", uses=5)
        for newkey, why in [(("rsa:1024",), "not an EC key"), (("rsa:2048",), "not an EC key"),
                            (("ec", "-pkeyopt", "ec_paramgen_curve:P-521"), "not on P-256"),
                            (("ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"), "not on P-256"),
                            (("ed25519",), "not an EC key")]:
            with self.subTest(key=newkey[0]):
                data, _ = self.csr("dev-0104", newkey=newkey)
                st, _, body = self.srv.curl(EST + "/simpleenroll", data=data,
                                            user="dev-0104:" + t["token"])
                self.assertRefused(st, body, 400, why)
                self.assertAudited("device.enroll_refused", "dev-0104", why)
        st, j = self.srv.api("GET", "/api/v1/enrollment-tokens")
        self.assertEqual([x["used"] for x in j["items"] if x["id"] == t["id"]], [0])

    def test_malformed_and_large_bodies(self):
        t = self.srv.token(device="dev-0105", uses=5)
        good, _ = self.csr("dev-0105")
        with open(good, "rb") as fin:
            b64 = fin.read()
        cases = [
            (b"this is not a CSR\n", 400, "not valid base64"),
            (b"MIIB" + b"A" * 100 + b"\n", 400, "not a DER PKCS#10|not valid base64"),
            (b64.replace(b"\n", b" "), 400, "not valid base64"),
            (base64.encodebytes(base64.b64decode(b64)[:-8]), 400, "not a DER PKCS#10"),
            (base64.encodebytes(base64.b64decode(b64) + b"\x00"), 400, "followed by other"),
            (b"", 400, "not"),
        ]
        for i, (raw, status, why) in enumerate(cases):
            with self.subTest(case=i):
                p = self.f("bad%d.b64" % i)
                with open(p, "wb") as out:
                    out.write(raw)
                st, _, body = self.srv.curl(EST + "/simpleenroll", data=p,
                                            user="dev-0105:" + t["token"])
                self.assertRefused(st, body, status, why)
        self.assertAudited("device.enroll_refused", "dev-0105", "not valid base64")
        # A signature that does not verify: one bit of the signature flipped.
        der = bytearray(base64.b64decode(b64))
        der[-3] ^= 1
        p = self.f("badsig.b64")
        with open(p, "wb") as out:
            out.write(base64.encodebytes(bytes(der)))
        st, _, body = self.srv.curl(EST + "/simpleenroll", data=p, user="dev-0105:" + t["token"])
        self.assertRefused(st, body, 400, "signature does not verify|not a DER")
        # Over the cap, refused by Content-Length before it is read.
        p = self.f("huge.b64")
        with open(p, "wb") as out:
            out.write(b"A" * 9000)
        st, _, body = self.srv.curl(EST + "/simpleenroll", data=p, user="dev-0105:" + t["token"])
        self.assertRefused(st, body, 413, "larger than 8192")
        self.assertAudited("device.enroll_refused", "dev-0105", "larger than 8192")
        # Still unspent.
        st, _, body = self.srv.curl(EST + "/simpleenroll", data=good,
                                    user="dev-0105:" + t["token"])
        self.assertEqual(st, 200, body)

    def test_prefix_token_outside_its_prefix(self):
        t = self.srv.token(device_prefix="batch9-", uses=3)
        data, _ = self.csr("other-1")
        st, _, body = self.srv.curl(EST + "/simpleenroll", data=data, bearer=t["token"])
        self.assertRefused(st, body, 403, "not a device id this token may enroll")
        self.assertAudited("device.enroll_refused", "other-1", "may enroll")
        st, _, body, _ = self.enroll("other-1", t["token"])
        self.assertRefused(st, body, 403, "not for device other-1")
        # A reserved or invalid id never enrolls, whatever the token.
        t2 = self.srv.token(device_prefix="s", uses=3)
        data, _ = self.csr("svc-ingest")
        st, _, body = self.srv.curl(EST + "/simpleenroll", data=data, bearer=t2["token"])
        self.assertRefused(st, body, 400, "not a valid device id")

    def test_revoked_device_cannot_enroll(self):
        # dev-0004 is revoked in the seed.
        t = self.srv.token(device="dev-0004")
        st, _, body, _ = self.enroll("dev-0004", t["token"])
        self.assertRefused(st, body, 409, "revoked or decommissioned")
        self.assertAudited("device.enroll_refused", "dev-0004", "revoked or decommissioned")
        st, j = self.srv.api("GET", "/api/v1/enrollment-tokens")
        self.assertEqual([x["used"] for x in j["items"] if x["id"] == t["id"]], [0])


# ---------------------------------------------------------------------------
# Renewal with the current certificate
# ---------------------------------------------------------------------------

class Renewal(EstTest):
    def enrolled(self, cn):
        t = self.srv.token(device=cn)
        st, _, body, key = self.enroll(cn, t["token"])
        self.assertEqual(st, 200, body)
        return self.save_cert(body, cn + ".crt"), key

    def renew(self, cn, crt, key, newkey=False):
        data, k2 = self.csr(cn, key=None if newkey else key)
        st, h, body = self.srv.curl(EST + "/simplereenroll", data=data, cert=crt, key=key)
        return st, body, k2

    def test_renew_then_revoked_refused(self):
        crt, key = self.enrolled("dev-0200")
        old = self.x509(crt, "-serial").strip().split("=")[1].lower()
        st, body, _ = self.renew("dev-0200", crt, key)
        self.assertEqual(st, 200, body)
        new = self.save_cert(body, "dev-0200-2.crt")
        self.assertNotEqual(self.x509(new, "-serial"), self.x509(crt, "-serial"))
        self.assertIn(b": OK", run([OPENSSL, "verify", "-CAfile", self.srv.root, "-untrusted",
                                    self.srv.info["est"]["issuing"], new]).stdout)
        e = self.srv.audit("device.reenroll", "dev-0200")[0]
        self.assertEqual(e["actor"], "device:dev-0200")
        self.assertEqual(e["detail"]["client_serial"], old)
        # A new key is fine too (re-key).
        st, body, k3 = self.renew("dev-0200", new, key, newkey=True)
        self.assertEqual(st, 200, body)
        # The first certificate revoked: renewing with it is refused.
        self.assertEqual(self.srv.command("revoke " + old), "revoke ok")
        st, body, _ = self.renew("dev-0200", crt, key)
        self.assertRefused(st, body, 403, "revoked")
        self.assertAudited("device.reenroll_refused", "dev-0200", "revoked")

    def test_subject_must_stay(self):
        crt, key = self.enrolled("dev-0201")
        data, _ = self.csr("dev-0202", key=key)
        st, _, body = self.srv.curl(EST + "/simplereenroll", data=data, cert=crt, key=key)
        self.assertRefused(st, body, 403, "differs from the current certificate")
        self.assertAudited("device.reenroll_refused", "dev-0201", "differs")

    def test_no_or_foreign_certificate(self):
        data, key = self.csr("dev-0203")
        # None.
        st, _, body = self.srv.curl(EST + "/simplereenroll", data=data)
        self.assertRefused(st, body, 403, "TLS client certificate")
        # Self-signed, and one of another CA with the same name.
        crt = self.f("self.crt")
        run([OPENSSL, "req", "-x509", "-key", key, "-subj", "/CN=dev-0203", "-days", "1",
             "-addext", "extendedKeyUsage=clientAuth", "-out", crt])
        st, _, body = self.srv.curl(EST + "/simplereenroll", data=data, cert=crt, key=key)
        self.assertRefused(st, body, 403, "not one this server issued")
        self.assertAudited("device.reenroll_refused", "dev-0203", "not one this server issued")
        e = self.srv.audit("device.reenroll_refused", "dev-0203")[0]
        self.assertEqual(e["actor"], "anonymous")
        # A factory certificate is not an operational one.
        fcrt, fkey = make_factory(self, "dev-0203")
        st, _, body = self.srv.curl(EST + "/simplereenroll", data=data, cert=fcrt, key=fkey)
        self.assertRefused(st, body, 403, "not one this server issued")

    def test_unknown_to_the_store(self):
        # Issued by the issuing CA (its key, its passphrase) but not through EST,
        # so never recorded: a certificate made with a stolen key looks like that.
        pki = os.path.join(self.srv.dir, "pki")
        data, key = self.csr("dev-0204")
        req, crt, ext = self.f("rogue.csr"), self.f("rogue.crt"), self.f("rogue.ext")
        run([OPENSSL, "req", "-new", "-key", key, "-subj", "/CN=dev-0204", "-out", req])
        with open(ext, "w") as out:
            out.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                      "extendedKeyUsage=clientAuth\nsubjectKeyIdentifier=hash\n"
                      "authorityKeyIdentifier=keyid\n")
        run([OPENSSL, "x509", "-req", "-in", req, "-CA", os.path.join(pki, "issuing.crt"),
             "-CAkey", os.path.join(pki, "issuing.key"), "-passin",
             "file:" + os.path.join(pki, "issuing.pass"), "-set_serial", "0x1234567890abcdef",
             "-days", "1", "-extfile", ext, "-out", crt])
        st, _, body = self.srv.curl(EST + "/simplereenroll", data=data, cert=crt, key=key)
        self.assertRefused(st, body, 403, "unknown to this server")
        self.assertAudited("device.reenroll_refused", "dev-0204", "unknown")


def make_factory(test, cn, ca_crt=None, ca_key=None):
    """A factory (IDevID-like) certificate for cn, issued with openssl by the
    manufacturer CA the driver registered (or another CA)."""
    ca_crt = ca_crt or test.srv.info["est"]["maker_ca"]
    ca_key = ca_key or test.srv.info["est"]["maker_key"]
    stem = test.f("factory-" + cn + "-" + os.path.basename(ca_crt))
    run([OPENSSL, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", stem + ".key", "-subj", "/O=Acme Devices/CN=" + cn,
         "-out", stem + ".csr"])
    ext = stem + ".ext"
    with open(ext, "w") as out:
        out.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                  "extendedKeyUsage=clientAuth\nsubjectKeyIdentifier=hash\n"
                  "authorityKeyIdentifier=keyid\n")
    run([OPENSSL, "x509", "-req", "-in", stem + ".csr", "-CA", ca_crt, "-CAkey", ca_key,
         "-CAcreateserial", "-days", "3650", "-extfile", ext, "-out", stem + ".crt"])
    return stem + ".crt", stem + ".key"


# ---------------------------------------------------------------------------
# Factory certificates
# ---------------------------------------------------------------------------

class Factory(EstTest):
    def test_factory_certificate_enrolls_its_device(self):
        fcrt, fkey = make_factory(self, "dev-factory-01")
        data, key = self.csr("dev-factory-01")
        st, _, body = self.srv.curl(EST + "/simpleenroll", data=data, cert=fcrt, key=fkey)
        self.assertEqual(st, 200, body)
        crt = self.save_cert(body, "dev-factory-01.crt")
        self.assertIn("URI:urn:rampart:fleet:test-fleet:device:dev-factory-01",
                      self.x509(crt, "-ext", "subjectAltName"))
        st, d = self.srv.api("GET", "/api/v1/devices/dev-factory-01")
        self.assertEqual((st, d["status"]), (200, "active"))
        e = self.srv.audit("device.enroll", "dev-factory-01")[0]
        self.assertEqual(e["actor"], "device:dev-factory-01")
        self.assertEqual(e["detail"]["auth"], "factory")
        # The operational certificate then renews.
        data2, _ = self.csr("dev-factory-01", key=key)
        st, _, body = self.srv.curl(EST + "/simplereenroll", data=data2, cert=crt, key=key)
        self.assertEqual(st, 200, body)

    def test_factory_refusals(self):
        fcrt, fkey = make_factory(self, "dev-factory-02")
        data, _ = self.csr("dev-factory-03")
        st, _, body = self.srv.curl(EST + "/simpleenroll", data=data, cert=fcrt, key=fkey)
        self.assertRefused(st, body, 403, "CSR CN differs")
        self.assertAudited("device.enroll_refused", "dev-factory-02", "CSR CN differs")
        # Another manufacturer's CA, not registered.
        other_key, other_crt = self.f("other-ca.key"), self.f("other-ca.crt")
        run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", other_key, "-subj", "/CN=Other Maker CA", "-days", "30",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign", "-out", other_crt])
        ocrt, okey = make_factory(self, "dev-factory-04", other_crt, other_key)
        data, _ = self.csr("dev-factory-04")
        st, _, body = self.srv.curl(EST + "/simpleenroll", data=data, cert=ocrt, key=okey)
        self.assertRefused(st, body, 403, "not from a registered manufacturer CA")
        self.assertAudited("device.enroll_refused", "dev-factory-04", "manufacturer")
        # The device's fleet certificate is not a factory certificate either.
        t = self.srv.token(device="dev-0300")
        st, _, body, key = self.enroll("dev-0300", t["token"])
        crt = self.save_cert(body, "dev-0300.crt")
        data, _ = self.csr("dev-0300", key=key)
        st, _, body = self.srv.curl(EST + "/simpleenroll", data=data, cert=crt, key=key)
        self.assertRefused(st, body, 403, "not from a registered manufacturer CA")


# ---------------------------------------------------------------------------
# A token's uses under concurrency
# ---------------------------------------------------------------------------

class Race(EstTest):
    def test_three_uses_eight_racers(self):
        t = self.srv.token(device_prefix="race-", uses=3)
        csrs = [self.csr("race-%d" % i)[0] for i in range(8)]
        results = [None] * 8

        def go(i):
            results[i] = self.srv.curl(EST + "/simpleenroll", data=csrs[i], bearer=t["token"])

        threads = [threading.Thread(target=go, args=(i,)) for i in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        codes = sorted(r[0] for r in results)
        self.assertEqual(codes.count(200), 3, [(r[0], r[2][:80]) for r in results])
        self.assertEqual(codes.count(403), 5, codes)
        st, j = self.srv.api("GET", "/api/v1/enrollment-tokens")
        row = [x for x in j["items"] if x["id"] == t["id"]][0]
        self.assertEqual((row["used"], row["state"]), (3, "used"))
        st, devs = self.srv.api("GET", "/api/v1/devices?limit=1000")
        self.assertEqual(len([d for d in devs["items"] if d["id"].startswith("race-")]), 3)


# ---------------------------------------------------------------------------
# Enrollment tokens through the REST API
# ---------------------------------------------------------------------------

class Tokens(EstTest):
    def test_create_list_revoke(self):
        t = self.srv.token(device="dev-0400", uses=2, tags=["a"], model="m")
        self.assertEqual((t["device"], t["uses"], t["used"], t["state"]),
                         ("dev-0400", 2, 0, "active"))
        st, j = self.srv.api("GET", "/api/v1/enrollment-tokens")
        row = [x for x in j["items"] if x["id"] == t["id"]][0]
        self.assertNotIn("token", row)
        self.assertEqual(row["tags"], ["a"])
        self.assertEqual(self.srv.api("DELETE", "/api/v1/enrollment-tokens/" + t["id"])[0], 204)
        st, _, body, _ = self.enroll("dev-0400", t["token"])
        self.assertRefused(st, body, 403, "revoked")
        e = self.srv.audit("enroll_token.create", t["id"])[0]
        self.assertEqual(e["actor"], "admin")
        self.assertEqual(len(self.srv.audit("enroll_token.revoke", t["id"])), 1)
        self.assertEqual(self.srv.api("DELETE", "/api/v1/enrollment-tokens/" + "0" * 32)[0], 404)

    def test_bodies_and_roles(self):
        bad = [{}, {"device": "dev-1", "device_prefix": "dev-"}, {"device": "svc-x"},
               {"device": "device"}, {"device": "a/b"}, {"device_prefix": "-x"},
               {"device": "dev-1", "uses": 0}, {"device": "dev-1", "uses": 100001},
               {"device": "dev-1", "lifetime_s": 59}, {"device": "dev-1", "tags": ["a b"]},
               {"device": "dev-1", "tags": ["a", "a"]}, {"device": "dev-1", "x": 1},
               {"device": "dev-1", "model": "\u0001"}]
        for b in bad:
            with self.subTest(body=b):
                st, j = self.srv.api("POST", "/api/v1/enrollment-tokens", b)
                self.assertEqual((st, j["error"]), (400, "invalid_body"), j)
        # Only device.admin (admins) makes them; viewers may list them.
        st, j = self.srv.api("POST", "/api/v1/enrollment-tokens", {"device": "dev-1"},
                             token=self.srv.info["tokens"]["oper"])
        self.assertEqual(st, 403, j)
        st, j = self.srv.api("GET", "/api/v1/enrollment-tokens",
                             token=self.srv.info["tokens"]["viewer"])
        self.assertEqual(st, 200, j)


# ---------------------------------------------------------------------------
# rampartd itself
# ---------------------------------------------------------------------------

class Rampartd(unittest.TestCase):
    """rampartd with the pki.* keys of rampartd.conf: the driver's PKI files
    reused (made by server/pki as rampart init makes them)."""

    @classmethod
    def setUpClass(cls):
        if not RAMPARTD:
            raise unittest.SkipTest("--rampartd not given")
        cls.srv = Server()  # for its PKI files only

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def start(self, extra=""):
        d = tempfile.mkdtemp(prefix="rp-est-rd-", dir=self.srv.dir)
        pki = os.path.join(self.srv.dir, "pki")
        conf = os.path.join(d, "rampartd.conf")
        with open(conf, "w") as out:
            out.write("data_dir %s\nlistener.mqtts 127.0.0.1:0\nlistener.https 127.0.0.1:0\n"
                      "tls.cert %s/server.crt\ntls.key %s/server.key\ntls.ca %s/root.crt\n"
                      "pki.issuing_cert %s/issuing.crt\npki.issuing_key %s/issuing.key\n"
                      "pki.root_cert %s/root.crt\npki.fleet test-fleet\n%s"
                      % (d, pki, pki, pki, pki, pki, pki, extra))
        err = open(os.path.join(d, "stderr"), "wb")
        p = subprocess.Popen([RAMPARTD, "-c", conf], stderr=err, stdout=subprocess.DEVNULL)
        return p, os.path.join(d, "stderr"), err

    def wait_line(self, path, rx, bound=20):
        end = time.time() + bound
        while time.time() < end:
            m = re.search(rx, slurp(path))
            if m:
                return m
            time.sleep(0.1)
        return None

    def test_rampartd_serves_est(self):
        pass_file = os.path.join(self.srv.dir, "pki", "issuing.pass")
        p, log, err = self.start("pki.issuing_key_pass %s\n" % pass_file)
        try:
            m = self.wait_line(log, r"REST API on https://\S+, port (\d+)")
            self.assertIsNotNone(m, slurp(log))
            self.assertIsNotNone(self.wait_line(log, r"enrollment \(EST\) on"))
            port = int(m.group(1))
            r = run([CURL, "-sS", "--cacert", self.srv.root, "-o", "-", "-w", "%{http_code}",
                     "https://127.0.0.1:%d%s/cacerts" % (port, EST)])
            self.assertTrue(r.stdout.endswith(b"200"), r.stdout[-200:])
        finally:
            p.send_signal(signal.SIGTERM)
            rc = p.wait(30)
            err.close()
        self.assertEqual(rc, 0, slurp(log)[-3000:])

    def test_unsafe_passphrase_file_refused(self):
        src = os.path.join(self.srv.dir, "pki", "issuing.pass")
        loose = os.path.join(self.srv.dir, "loose.pass")
        shutil.copy(src, loose)
        os.chmod(loose, 0o644)
        p, log, err = self.start("pki.issuing_key_pass %s\n" % loose)
        rc = p.wait(30)
        err.close()
        self.assertNotEqual(rc, 0)
        self.assertRegex(slurp(log), r"issuing_key_pass .*group or others")
        # And a wrong passphrase: refused, and nothing of it in the log.
        wrong = os.path.join(self.srv.dir, "wrong.pass")
        with open(wrong, "w") as out:
            out.write("not-the-passphrase-of-this-key-at-all")
        os.chmod(wrong, 0o600)
        p, log, err = self.start("pki.issuing_key_pass %s\n" % wrong)
        rc = p.wait(30)
        err.close()
        self.assertNotEqual(rc, 0)
        text = slurp(log)
        self.assertRegex(text, r"not its passphrase")
        self.assertNotIn("not-the-passphrase-of-this-key-at-all", text)


# ---------------------------------------------------------------------------
# GET /crl
# ---------------------------------------------------------------------------

class CrlRoute(EstTest):
    def test_route_without_a_crl_source(self):
        # The driver has the issuing CA for EST but gives the API no CRL.
        st, h, body = self.srv.curl("/crl")
        self.assertRefused(st, body, 503, "makes no CRL")
        self.assertEqual(header(h, "Content-Type"), "text/plain; charset=utf-8")
        self.assertEqual(header(h, "Cache-Control"), "no-store")
        st, h, body = self.srv.curl("/crl", extra=["-X", "POST"])
        self.assertEqual(st, 405)
        self.assertEqual(header(h, "Allow"), "GET")
        st, h, body = self.srv.curl("/crl", extra=["-X", "DELETE"])
        self.assertEqual((st, header(h, "Allow")), (405, "GET"))
        st, _, body = self.srv.curl("/crl?x=1")
        self.assertRefused(st, body, 400, "no query string")
        st, _, body = self.srv.curl("/crl/", extra=[])
        self.assertEqual(st, 404)  # not the CRL: the JSON API's 404

    def test_rampartd_serves_its_crl(self):
        if not RAMPARTD:
            self.skipTest("--rampartd not given")
        pki = os.path.join(self.srv.dir, "pki")
        d = tempfile.mkdtemp(prefix="rp-est-crl-", dir=self.srv.dir)
        bundle = os.path.join(d, "fleet-ca.crt")
        with open(bundle, "w") as out:
            out.write(slurp(os.path.join(pki, "root.crt")) +
                      slurp(os.path.join(pki, "issuing.crt")))
        conf = os.path.join(d, "rampartd.conf")
        with open(conf, "w") as out:
            out.write("data_dir %s\nlistener.mqtts 127.0.0.1:0\nlistener.https 127.0.0.1:0\n"
                      "tls.cert %s/server.crt\ntls.key %s/server.key\ntls.ca %s\n"
                      "pki.issuing_cert %s/issuing.crt\npki.issuing_key %s/issuing.key\n"
                      "pki.issuing_key_pass %s/issuing.pass\npki.root_cert %s/root.crt\n"
                      "pki.fleet test-fleet\npki.crl_next_update 2d\n"
                      % (d, pki, pki, bundle, pki, pki, pki, pki))
        log = os.path.join(d, "stderr")
        err = open(log, "wb")
        p = subprocess.Popen([RAMPARTD, "-c", conf], stderr=err, stdout=subprocess.DEVNULL)
        try:
            end = time.time() + 20
            m = None
            while time.time() < end and m is None and p.poll() is None:
                m = re.search(r"REST API on https://\S+, port (\d+)", slurp(log))
                time.sleep(0.1)
            self.assertIsNotNone(m, slurp(log))
            self.assertRegex(slurp(log), r"CRL 1 of the issuing CA: 0 revoked certificates, "
                                         r"next update in 172800 s, in %s/issuing-ca.crl" %
                             re.escape(d))
            url = "https://127.0.0.1:%s/crl" % m.group(1)
            der = os.path.join(d, "crl.der")
            hdr = os.path.join(d, "crl.h")
            r = run([CURL, "-sS", "--cacert", self.srv.root, "-D", hdr, "-o", der, "-w",
                     "%{http_code}", url])
            self.assertEqual(r.stdout, b"200")
            headers = slurp(hdr)
            self.assertEqual(header(headers, "Content-Type"), "application/pkix-crl")
            self.assertEqual(header(headers, "ETag"), '"1"')
            self.assertRegex(header(headers, "Cache-Control"), r"^public, max-age=\d+")
            v = run([OPENSSL, "crl", "-inform", "DER", "-in", der, "-noout", "-CAfile",
                     bundle, "-verify"], check=False)
            self.assertIn(b"verify OK", v.stdout + v.stderr)
            text = run([OPENSSL, "crl", "-inform", "DER", "-in", der, "-noout", "-issuer",
                        "-crlnumber"]).stdout.decode()
            self.assertIn(ISSUING_CN, text)
            self.assertIn("crlNumber=0x01", text)
            # The same CRL as PEM in the file the device listener loads.
            pem = run([OPENSSL, "crl", "-in", os.path.join(d, "issuing-ca.crl"),
                       "-outform", "DER"]).stdout
            with open(der, "rb") as fh:
                self.assertEqual(fh.read(), pem)
            r = run([CURL, "-sS", "--cacert", self.srv.root, "-o", "/dev/null", "-w",
                     "%{http_code}", "-H", 'If-None-Match: W/"7", "1"', url])
            self.assertEqual(r.stdout, b"304")
            # SIGHUP re-signs: the number grows.
            p.send_signal(signal.SIGHUP)
            end = time.time() + 10
            while time.time() < end and "CRL 2 of the issuing CA" not in slurp(log):
                time.sleep(0.1)
            self.assertIn("CRL 2 of the issuing CA", slurp(log))
            r = run([CURL, "-sS", "--cacert", self.srv.root, "-o", der, "-D", hdr, "-w",
                     "%{http_code}", "-H", 'If-None-Match: "1"', url])
            self.assertEqual(r.stdout, b"200")
            self.assertEqual(header(slurp(hdr), "ETag"), '"2"')
        finally:
            p.send_signal(signal.SIGTERM)
            rc = p.wait(30)
            err.close()
        self.assertEqual(rc, 0, slurp(log)[-3000:])
        self.assertNotRegex(slurp(log), r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:")


def main():
    global DRIVER, RAMPARTD
    args = sys.argv[1:]
    while len(args) >= 2 and args[0] in ("--driver", "--rampartd"):
        if args[0] == "--driver":
            DRIVER = os.path.abspath(args[1])
        else:
            RAMPARTD = os.path.abspath(args[1])
        args = args[2:]
    if not DRIVER or not os.access(DRIVER, os.X_OK):
        sys.exit("test_est.py: --driver PATH (the test_api_http binary) is required")
    if CURL is None or OPENSSL is None:
        sys.exit("test_est.py: curl and openssl are required (scripts/bootstrap)")
    unittest.main(argv=[sys.argv[0], "-v"] + args)


if __name__ == "__main__":
    main()
