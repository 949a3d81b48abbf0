#!/usr/bin/python3
"""tests/integration/test_api.py - the REST API over real HTTPS clients.

    /usr/bin/python3 test_api.py --driver PATH [unittest args, e.g. a class name]

(or RP_API_DRIVER=PATH). PATH is the test_api_http binary (tests/unit): with
`--serve DIR` it seeds a SQLite store in DIR (operators of every role, 25
devices, telemetry, alerts, API tokens), starts server/api on 127.0.0.1
port 0 with a fleet PKI made at run time, and prints what the tests need as
one JSON line; with `--routes` it prints the route table. The clients are
Python's http.client and ssl (verifying the server against the test CA
only, host 127.0.0.1) and the curl command line; nothing uses -k or turns
verification off.

Every test class starts its own server in a fresh temporary directory
(setUpClass) and stops it at the end, checking that it exits 0 and that no
sanitizer complained; tests that change shared state make what they need
(their own operators, tokens, devices' tags). On failure the driver's
stderr is printed; RP_IT_KEEP=1 keeps the directory.

Groups (one CTest test each, see CMakeLists.txt):
  Spec        docs/api.yaml and the route table agree, both ways
  Transport   security headers everywhere, TLS 1.2 and plain HTTP refused,
              404/405 JSON, CivetWeb's own errors
  Login       login, wrong password, cookie attributes exactly, logout
  Throttle    429 with Retry-After after the account's free failures,
              lockout logged and audited, admin unlock
  Totp        second factor, replay, TOTP required for everyone, enrolment
  Csrf        synchronizer token on every state-changing session request,
              Origin and Sec-Fetch-Site
  Bearer      API tokens: each role, expired, revoked, malformed, owner
              demoted, cookie and token together
  Roles       every route with every role: allowed or 403, as the matrix
  Lists       pagination limits and cursors, filters, strict parameters
  Errors      malformed JSON, nesting, 413 (Content-Length and chunked),
              415, bodies where none belong
  Commands    send, publish, result from the device, refusals
  Admin       devices' tags and status, operators, tokens, settings,
              password change, audit entries and the chain
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.dont_write_bytecode = True
DRIVER = os.environ.get("RP_API_DRIVER")
CURL = shutil.which("curl")

START_BOUND = 30.0  # seconds for the driver to print its line (ASan)
COOKIE = "__Host-rampart_session"
SECURITY_HEADERS = {
    "Strict-Transport-Security": re.compile(r"^max-age=\d+"),
    "X-Content-Type-Options": re.compile(r"^nosniff$"),
    "Content-Security-Policy": re.compile(r"^default-src 'none'"),
    "Cache-Control": re.compile(r"^no-store$"),
    "Referrer-Policy": re.compile(r"^no-referrer$"),
}

# docs/operators.md, "Roles and permissions": written out here, not read
# from the C table, so the test checks the table against the document.
READS = {"device.read", "telemetry.read", "alert.read", "ota.read", "report.read",
         "operator.read", "token.read", "audit.read", "settings.read"}
MATRIX = {
    "viewer": {"self", "device.read", "telemetry.read", "alert.read"},
    "operator": {"self", "device.read", "telemetry.read", "alert.read", "device.command",
                 "device.write", "alert.write"},
    "auditor": {"self"} | READS,
    "admin": None,  # everything
}
ROLES = ["viewer", "operator", "auditor", "admin"]
PASSWORDS = {n: n + "-Correct-Horse-9" for n in
             ["admin", "oper", "viewer", "auditor", "victim", "victim2", "disabled", "enrol",
              "changer", "totp"]}
ROLE_USER = {"viewer": "viewer", "operator": "oper", "auditor": "auditor", "admin": "admin"}
ROLE_TOKEN = {"viewer": "viewer", "operator": "oper", "auditor": "auditor", "admin": "admin"}


def allowed(role, perm):
    if perm == "public":
        return True
    return MATRIX[role] is None or perm in MATRIX[role]


def totp(secret, offset=0, now=None):
    """RFC 6238 code (SHA1, 6 digits, 30 s) of the step `offset` steps from now."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    counter = int((now if now is not None else time.time()) // 30) + offset
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    o = mac[-1] & 15
    return "%06d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7FFFFFFF) % 1000000)


class Resp:
    def __init__(self, status, headers, data):
        self.status = status
        self.headers = headers
        self.text = data.decode("utf-8", "replace")
        try:
            self.json = json.loads(data) if data else None
        except ValueError:
            self.json = None

    def header(self, name):
        vals = [v for k, v in self.headers if k.lower() == name.lower()]
        return vals[0] if len(vals) == 1 else (vals if vals else None)

    def cookie(self):
        c = self.header("Set-Cookie")
        if c is None:
            return None
        m = re.match(COOKIE + r"=([^;]*)", c)
        return m.group(1) if m else None

    def __repr__(self):
        return "<%d %s>" % (self.status, self.text[:300])


class Server:
    """One test_api_http --serve process and its fixtures."""

    def __init__(self, env=None):
        self.dir = tempfile.mkdtemp(prefix="rp-api-it-")
        self.err_path = os.path.join(self.dir, "driver.stderr")
        self.err = open(self.err_path, "wb")
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen([DRIVER, "--serve", self.dir], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.err, env=e)
        line = self._readline(START_BOUND)
        if not line:
            self.proc.kill()
            raise AssertionError("driver did not start:\n" + self.stderr())
        self.info = json.loads(line)
        self.port = self.info["port"]
        self.ca = self.info["ca"]
        self.ctx = ssl.create_default_context(cafile=self.ca)
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
        self.err.close()
        log = self.stderr()
        bad = re.search(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:", log)
        ok = rc == 0 and bad is None
        if ok and not os.environ.get("RP_IT_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        return ok, rc, log

    # -- HTTP -------------------------------------------------------------

    def request(self, method, path, body=None, raw=None, headers=None, cookie=None,
                token=None, csrf=None, ctype="application/json", chunks=None):
        h = {"Host": "127.0.0.1:%d" % self.port}
        if cookie is not None:
            h["Cookie"] = "%s=%s" % (COOKIE, cookie)
        if token is not None:
            h["Authorization"] = "Bearer " + token
        if csrf is not None:
            h["X-CSRF-Token"] = csrf
        data = None
        if body is not None:
            data = json.dumps(body).encode()
        elif raw is not None:
            data = raw if isinstance(raw, bytes) else raw.encode()
        if (data is not None or chunks is not None) and ctype is not None:
            h["Content-Type"] = ctype
        h.update(headers or {})
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=30)
        try:
            if chunks is not None:
                c.request(method, path, body=chunks, headers=h, encode_chunked=True)
            else:
                c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            return Resp(r.status, r.getheaders(), r.read())
        finally:
            c.close()

    def raw(self, data):
        """Sends raw bytes over TLS and parses the one response (the server
        may answer before the body, which is then never sent)."""
        import socket
        buf = b""
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s0:
            with self.ctx.wrap_socket(s0, server_hostname="127.0.0.1") as t:
                try:
                    t.sendall(data)
                except (ssl.SSLError, ConnectionError):
                    pass  # answered and closed early: read what came
                while True:
                    try:
                        chunk = t.recv(65536)
                    except (ssl.SSLError, ConnectionError):
                        break
                    if not chunk:
                        break
                    buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = [tuple(x.split(": ", 1)) for x in lines[1:]]
        return Resp(status, headers, body)

    def head(self, method, path, length, token=None, ctype="application/json"):
        h = "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: %s\r\n" \
            "Content-Length: %d\r\n" % (method, path, self.port, ctype, length)
        if token:
            h += "Authorization: Bearer %s\r\n" % token
        return self.raw((h + "\r\n").encode())

    def login(self, name, password=None, code=None):
        body = {"name": name, "password": password or PASSWORDS[name]}
        if code is not None:
            body["totp"] = code
        r = self.request("POST", "/api/v1/login", body)
        if r.status != 200:
            raise AssertionError("login %s: %r" % (name, r))
        return r.cookie(), r.json["csrf_token"], r

    def token(self, role):
        return self.info["tokens"][ROLE_TOKEN[role]]

    def published(self):
        try:
            with open(self.info["published"]) as f:
                return [json.loads(x) for x in f if x.strip()]
        except FileNotFoundError:
            return []


class ApiTest(unittest.TestCase):
    env = None

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(cls.env)

    @classmethod
    def tearDownClass(cls):
        ok, rc, log = cls.srv.stop()
        if not ok:
            sys.stderr.write("---- driver stderr (%s) ----\n%s\n" % (cls.srv.dir, log[-20000:]))
            raise AssertionError("driver exited %s or a sanitizer complained" % rc)

    def assertError(self, r, status, code=None, detail=None):
        self.assertEqual(r.status, status, r)
        self.assertIsNotNone(r.json, "error body is not JSON: %r" % r)
        self.assertEqual(set(r.json), {"error", "detail"}, r)
        if code is not None:
            self.assertEqual(r.json["error"], code, r)
        if detail is not None:
            self.assertRegex(r.json["detail"], detail)
        self.assertSecurityHeaders(r)

    def assertSecurityHeaders(self, r):
        for name, rx in SECURITY_HEADERS.items():
            v = r.header(name)
            self.assertIsInstance(v, str, "%s missing or repeated in %r" % (name, r.headers))
            self.assertRegex(v, rx)


# ---------------------------------------------------------------------------
# Spec: docs/api.yaml against the route table
# ---------------------------------------------------------------------------

class Spec(unittest.TestCase):
    def test_spec_matches_route_table(self):
        import yaml
        with open(os.path.join(REPO, "docs", "api.yaml")) as f:
            spec = yaml.safe_load(f)
        self.assertTrue(spec["openapi"].startswith("3.0"))
        out = subprocess.run([DRIVER, "--routes"], check=True, capture_output=True).stdout
        table = [json.loads(x) for x in out.decode().splitlines() if x.strip()]
        self.assertGreater(len(table), 20)
        ops = {}
        for path, item in spec["paths"].items():
            for method, op in item.items():
                if method in ("parameters", "summary", "description"):
                    continue
                ops[(method.upper(), path)] = (op, item.get("parameters", []))
        routes = {(r["method"], r["path"]): r for r in table}
        self.assertEqual(sorted(routes), sorted(ops),
                         "routes in the table but not the spec, or the other way round")
        schemes = spec["components"]["securitySchemes"]
        self.assertEqual(schemes["session"]["in"], "cookie")
        self.assertEqual(schemes["session"]["name"], COOKIE)
        self.assertEqual(schemes["bearer"]["scheme"], "bearer")
        for key, r in routes.items():
            op, shared = ops[key]
            with self.subTest(route=key):
                self.assertEqual(op.get("x-rampart-permission"), r["permission"])
                sec = op.get("security", spec.get("security"))
                if r["public"]:
                    self.assertEqual(sec, [])
                elif r["session_only"]:
                    self.assertEqual(sec, [{"session": []}])
                else:
                    self.assertEqual(sorted(map(lambda s: list(s)[0], sec)), ["bearer", "session"])
                params = [self._deref(spec, p) for p in shared + op.get("parameters", [])]
                query = sorted(p["name"] for p in params if p["in"] == "query")
                self.assertEqual(query, sorted(r["query"]))
                names = sorted(p["name"] for p in params if p["in"] == "path")
                self.assertEqual(names, sorted(re.findall(r"{(\w+)}", key[1])))
                self.assertEqual("requestBody" in op, r["body"])
                for code, resp in op["responses"].items():
                    self.assertRegex(str(code), r"^[2-5]\d\d$")
                self.assertTrue(any(str(c).startswith("2") for c in op["responses"]))
                if not r["public"]:
                    self.assertIn("401", [str(c) for c in op["responses"]])
                    self.assertIn("403", [str(c) for c in op["responses"]])

    @staticmethod
    def _deref(spec, p):
        if "$ref" in p:
            name = p["$ref"].split("/")[-1]
            return spec["components"]["parameters"][name]
        return p


# ---------------------------------------------------------------------------
# Transport
# ---------------------------------------------------------------------------

class Transport(ApiTest):
    def curl(self, *args):
        return subprocess.run([CURL, "-sS", "--cacert", self.srv.ca, *args], capture_output=True,
                              timeout=30)

    def test_security_headers_on_every_kind_of_response(self):
        s = self.srv
        self.assertError(s.request("GET", "/api/v1/devices"), 401, "unauthenticated")
        self.assertError(s.request("GET", "/nothing"), 404, "not_found")
        self.assertError(s.request("GET", "/api/v1/devices/x/y/z"), 404, "not_found")
        r = s.request("GET", "/api/v1/devices", token=s.token("viewer"))
        self.assertEqual(r.status, 200, r)
        self.assertSecurityHeaders(r)
        self.assertEqual(r.header("Content-Type"), "application/json")
        r = s.request("DELETE", "/api/v1/devices", token=s.token("admin"))
        self.assertError(r, 405, "method_not_allowed")
        self.assertEqual(r.header("Allow"), "GET")
        r = s.request("HEAD", "/api/v1/devices")
        self.assertEqual(r.status, 405)
        self.assertError(s.request("OPTIONS", "/api/v1/devices"), 405)

    def test_civetweb_errors_are_json_too(self):
        # Headers past max_request_size: CivetWeb answers, through our callback.
        r = self.srv.request("GET", "/api/v1/devices", headers={"X-Big": "a" * 9000})
        self.assertIn(r.status, (400, 413, 431))
        self.assertError(r, r.status)

    def test_tls12_refused_tls13_used(self):
        url = "https://127.0.0.1:%d/api/v1/devices" % self.srv.port
        r = self.curl("--tls-max", "1.2", url)
        self.assertNotEqual(r.returncode, 0, "TLS 1.2 must be refused")
        r = self.curl("-o", "/dev/null", "-w", "%{http_code}", "--tlsv1.3", url)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"401")
        # A client that does not trust the test CA refuses the server.
        r = subprocess.run([CURL, "-sS", url], capture_output=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)

    def test_plain_http_refused(self):
        r = subprocess.run([CURL, "-sS", "-m", "10", "http://127.0.0.1:%d/api/v1/devices"
                            % self.srv.port], capture_output=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)

    def test_python_ssl_negotiates_tls13(self):
        import socket
        ctx = ssl.create_default_context(cafile=self.srv.ca)
        with socket.create_connection(("127.0.0.1", self.srv.port)) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as t:
                self.assertEqual(t.version(), "TLSv1.3")
        ctx12 = ssl.create_default_context(cafile=self.srv.ca)
        ctx12.maximum_version = ssl.TLSVersion.TLSv1_2
        with socket.create_connection(("127.0.0.1", self.srv.port)) as raw:
            with self.assertRaises(ssl.SSLError):
                ctx12.wrap_socket(raw, server_hostname="127.0.0.1")

    def test_keep_alive(self):
        s = self.srv
        c = http.client.HTTPSConnection("127.0.0.1", s.port, context=s.ctx, timeout=30)
        try:
            for path in ["/api/v1/devices", "/api/v1/nothing", "/api/v1/session"]:
                c.request("GET", path, headers={"Authorization": "Bearer " + s.token("viewer")})
                r = c.getresponse()
                r.read()
                self.assertIn(r.status, (200, 404))
                self.assertIsNone(r.getheader("Connection"))
        finally:
            c.close()

    def test_path_parameters_checked(self):
        t = self.srv.token("admin")
        self.assertError(self.srv.request("GET", "/api/v1/devices/dev+1", token=t), 400,
                         "invalid_path", "device id")
        self.assertError(self.srv.request("GET", "/api/v1/devices/dev-0001/commands/xyz",
                                          token=t), 400, "invalid_path", "command id")
        self.assertError(self.srv.request("POST", "/api/v1/alerts/0/ack", token=t), 400,
                         "invalid_path", "alert id")
        self.assertError(self.srv.request("GET", "/api/v1/operators/Admin", token=t), 400,
                         "invalid_path", "operator")
        self.assertError(self.srv.request("GET", "/api/v1/devices/nope", token=t), 404,
                         "not_found")


# ---------------------------------------------------------------------------
# Login, cookies, logout
# ---------------------------------------------------------------------------

class Login(ApiTest):
    def test_login_sets_the_cookie_exactly(self):
        r = self.srv.request("POST", "/api/v1/login", {"name": "viewer",
                                                       "password": PASSWORDS["viewer"]})
        self.assertEqual(r.status, 200, r)
        self.assertSecurityHeaders(r)
        c = r.header("Set-Cookie")
        self.assertIsInstance(c, str)
        self.assertRegex(c, r"^__Host-rampart_session=rps_[A-Za-z0-9_-]{43}; Path=/; Secure; "
                            r"HttpOnly; SameSite=Strict$")
        self.assertNotIn("Domain", c)
        self.assertNotIn("Expires", c)
        self.assertNotIn("Max-Age", c)
        self.assertRegex(r.json["csrf_token"], r"^rpc_[A-Za-z0-9_-]{43}$")
        self.assertEqual(r.json["operator"], "viewer")
        self.assertEqual(r.json["role"], "viewer")
        self.assertFalse(r.json["totp_enrolment_required"])
        cookie = r.cookie()
        s = self.srv.request("GET", "/api/v1/session", cookie=cookie)
        self.assertEqual(s.status, 200, s)
        self.assertEqual(s.json["csrf_token"], r.json["csrf_token"])
        self.assertEqual(s.json["auth"], "session")
        self.assertEqual(self.srv.request("GET", "/api/v1/devices", cookie=cookie).status, 200)

    def test_wrong_password_unknown_disabled_all_look_the_same(self):
        answers = []
        for name, pw in [("viewer", "wrong-password-123"), ("nobody", "whatever-password"),
                         ("disabled", PASSWORDS["disabled"])]:
            r = self.srv.request("POST", "/api/v1/login", {"name": name, "password": pw})
            self.assertError(r, 401, "unauthenticated")
            self.assertIsNone(r.header("Set-Cookie"))
            answers.append(r.json)
        self.assertEqual(answers[0], answers[1])
        self.assertEqual(answers[1], answers[2])

    def test_name_is_case_insensitive(self):
        cookie, _, r = self.srv.login("VIEWER", PASSWORDS["viewer"])
        self.assertEqual(r.json["operator"], "viewer")

    def test_logout_ends_the_session_and_clears_the_cookie(self):
        cookie, csrf, _ = self.srv.login("auditor")
        r = self.srv.request("POST", "/api/v1/logout", cookie=cookie, csrf=csrf)
        self.assertEqual(r.status, 204, r)
        self.assertIsNone(r.header("Content-Length"))
        self.assertSecurityHeaders(r)
        self.assertEqual(r.header("Set-Cookie"), "__Host-rampart_session=; Path=/; Secure; "
                                                 "HttpOnly; SameSite=Strict; Max-Age=0")
        self.assertError(self.srv.request("GET", "/api/v1/session", cookie=cookie), 401)

    def test_bad_login_bodies(self):
        s = self.srv
        self.assertError(s.request("POST", "/api/v1/login", raw='{"name": "x", "password": '),
                         400, "malformed_json", "malformed JSON at line 1")
        self.assertError(s.request("POST", "/api/v1/login", {"name": "viewer"}), 400,
                         "invalid_body", "'password' is required")
        self.assertError(s.request("POST", "/api/v1/login",
                                   {"name": "viewer", "password": "x", "extra": 1}), 400,
                         "invalid_body", "unknown field 'extra'")
        self.assertError(s.request("POST", "/api/v1/login", {"name": "a b", "password": "x"}),
                         400, "invalid_body", "not an operator name")
        self.assertError(s.request("POST", "/api/v1/login", raw="[]"), 400, "malformed_json",
                         "must be a JSON object")
        self.assertError(s.request("POST", "/api/v1/login", raw='{"name":"a","name":"b"}'), 400,
                         "malformed_json", "duplicate")
        self.assertError(s.request("POST", "/api/v1/login", raw="name=viewer",
                                   ctype="application/x-www-form-urlencoded"), 415)
        # Before authentication the body cap is 4 KiB.
        self.assertError(s.head("POST", "/api/v1/login", 5000), 413, "too_large", "4096")

    def test_session_cookie_twice_is_refused(self):
        cookie, _, _ = self.srv.login("viewer")
        r = self.srv.request("GET", "/api/v1/session", headers={
            "Cookie": "%s=%s; %s=%s" % (COOKIE, cookie, COOKIE, cookie)})
        self.assertError(r, 400, "bad_request", "twice")

    def test_garbage_cookie(self):
        for v in ["", "rps_short", "rpt_" + "A" * 43, "x" * 100]:
            r = self.srv.request("GET", "/api/v1/session", cookie=v)
            self.assertError(r, 401, "unauthenticated")
        # a well-formed session token nobody issued
        r = self.srv.request("GET", "/api/v1/session", cookie="rps_" + "A" * 43)
        self.assertError(r, 401, "unauthenticated")


# ---------------------------------------------------------------------------
# Throttle
# ---------------------------------------------------------------------------

class Throttle(ApiTest):
    def test_account_lock_429_logged_audited_unlocked(self):
        s = self.srv
        for i in range(5):
            r = s.request("POST", "/api/v1/login", {"name": "victim", "password": "bad-%d" % i})
            self.assertError(r, 401, "unauthenticated")
        r = s.request("POST", "/api/v1/login", {"name": "victim", "password": PASSWORDS["victim"]})
        self.assertError(r, 429, "throttled")
        ra = int(r.header("Retry-After"))
        self.assertTrue(1 <= ra <= 60, ra)
        # another account from the same address is not locked
        s.login("victim2")
        # the lock is logged once, without the password
        log = s.stderr()
        self.assertRegex(log, r'login lockout: account "victim" locked for 60 s after 5 failures')
        self.assertNotIn("bad-4", log)
        self.assertNotIn(PASSWORDS["victim"], log)
        # and audited
        r = s.request("GET", "/api/v1/audit?action=auth.lockout", token=s.token("auditor"))
        self.assertEqual(r.status, 200, r)
        self.assertTrue(any(e["target"] == "victim" and e["actor"] == "system"
                            for e in r.json["items"]), r)
        # an admin lifts it
        cookie, csrf, _ = s.login("admin")
        r = s.request("POST", "/api/v1/operators/victim/unlock", cookie=cookie, csrf=csrf)
        self.assertEqual(r.status, 204, r)
        s.login("victim")

    def test_bad_bearer_tokens_are_throttled_by_address_only(self):
        s = self.srv
        for _ in range(3):
            self.assertError(s.request("GET", "/api/v1/devices", token="rpt_" + "B" * 43), 401)
        self.assertEqual(s.request("GET", "/api/v1/devices", token=s.token("viewer")).status, 200)


# ---------------------------------------------------------------------------
# TOTP
# ---------------------------------------------------------------------------

class Totp(ApiTest):
    def test_second_factor_and_replay(self):
        s, secret = self.srv, self.srv.info["totp_secret"]
        self.assertError(s.request("POST", "/api/v1/login", {"name": "totp",
                                                             "password": PASSWORDS["totp"]}),
                         401, "unauthenticated")
        self.assertError(s.request("POST", "/api/v1/login",
                                   {"name": "totp", "password": PASSWORDS["totp"],
                                    "totp": "000000" if totp(secret) != "000000" else "111111"}),
                         401, "unauthenticated")
        code = totp(secret)
        s.login("totp", code=code)
        # the same code again: a replay
        self.assertError(s.request("POST", "/api/v1/login", {"name": "totp",
                                                             "password": PASSWORDS["totp"],
                                                             "totp": code}), 401)
        # the next step's code is fresh
        s.login("totp", code=totp(secret, 1))
        r = s.request("GET", "/api/v1/audit?action=auth.totp_replay", token=s.token("admin"))
        self.assertTrue(any(e["target"] == "totp" for e in r.json["items"]), r)

    def test_required_for_everyone_then_enrolment(self):
        s = self.srv
        cookie, csrf, _ = s.login("admin")
        r = s.request("PATCH", "/api/v1/settings", {"totp_required": True}, cookie=cookie,
                      csrf=csrf)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json["totp_required"])
        # "enrol" has no TOTP: a restricted session
        cookie, csrf, r = s.login("enrol")
        self.assertTrue(r.json["totp_enrolment_required"])
        self.assertError(s.request("GET", "/api/v1/devices", cookie=cookie), 403,
                         "totp_enrolment_required")
        self.assertEqual(s.request("GET", "/api/v1/session", cookie=cookie).status, 200)
        r = s.request("POST", "/api/v1/me/totp", {}, cookie=cookie, csrf=csrf)
        self.assertEqual(r.status, 200, r)
        self.assertRegex(r.json["uri"], r"^otpauth://totp/Rampart:enrol\?secret=[A-Z2-7]{32}"
                                        r"&issuer=Rampart$")
        secret = r.json["secret"]
        self.assertIn(secret, r.json["uri"])
        self.assertError(s.request("POST", "/api/v1/me/totp/confirm", {"code": "12345x"},
                                   cookie=cookie, csrf=csrf), 400, "wrong_code")
        r = s.request("POST", "/api/v1/me/totp/confirm", {"code": totp(secret)}, cookie=cookie,
                      csrf=csrf)
        self.assertEqual(r.status, 200, r)
        new_cookie, new_csrf = r.cookie(), r.json["csrf_token"]
        self.assertNotEqual(new_cookie, cookie)
        self.assertError(s.request("GET", "/api/v1/session", cookie=cookie), 401)
        self.assertEqual(s.request("GET", "/api/v1/devices", cookie=new_cookie).status, 200)
        # the secret was sealed (AES-GCM) and opens at the next login
        self.assertError(s.request("POST", "/api/v1/login", {"name": "enrol",
                                                             "password": PASSWORDS["enrol"]}), 401)
        s.login("enrol", code=totp(secret, 1))
        # replacing it takes the password
        self.assertError(s.request("POST", "/api/v1/me/totp", {}, cookie=new_cookie,
                                   csrf=new_csrf), 403, "password_required")
        # every operator row now requires TOTP
        r = s.request("GET", "/api/v1/operators/viewer", token=s.token("admin"))
        self.assertTrue(r.json["totp_required"])
        cookie, csrf, _ = s.login("totp", code=totp(s.info["totp_secret"], -1))
        # switch it back off (the per-operator flags stay; they are per operator)
        r = s.request("PATCH", "/api/v1/settings", {"totp_required": False},
                      token=s.token("admin"))
        self.assertEqual(r.status, 200, r)


# ---------------------------------------------------------------------------
# CSRF and Origin
# ---------------------------------------------------------------------------

class Csrf(ApiTest):
    def test_session_needs_the_token_on_changes(self):
        s = self.srv
        cookie, csrf, _ = s.login("oper")
        body = {"tags": ["a"]}
        self.assertError(s.request("PATCH", "/api/v1/devices/dev-0010", body, cookie=cookie),
                         403, "csrf")
        self.assertError(s.request("PATCH", "/api/v1/devices/dev-0010", body, cookie=cookie,
                                   csrf="rpc_" + "A" * 43), 403, "csrf")
        # another session's token does not fit this one
        _, other, _ = s.login("oper")
        self.assertError(s.request("PATCH", "/api/v1/devices/dev-0010", body, cookie=cookie,
                                   csrf=other), 403, "csrf")
        r = s.request("PATCH", "/api/v1/devices/dev-0010", body, cookie=cookie, csrf=csrf)
        self.assertEqual(r.status, 200, r)
        # reads need none
        self.assertEqual(s.request("GET", "/api/v1/devices/dev-0010", cookie=cookie).status, 200)
        # a bearer token needs none
        r = s.request("PATCH", "/api/v1/devices/dev-0010", body, token=s.token("operator"))
        self.assertEqual(r.status, 200, r)

    def test_cross_origin_refused(self):
        s = self.srv
        cookie, csrf, _ = s.login("oper")
        body = {"tags": ["b"]}
        for hdr in [{"Origin": "https://evil.example"}, {"Origin": "null"},
                    {"Origin": "http://127.0.0.1:%d" % s.port},
                    {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}]:
            r = s.request("PATCH", "/api/v1/devices/dev-0011", body, cookie=cookie, csrf=csrf,
                          headers=hdr)
            self.assertError(r, 403, "cross_origin")
        r = s.request("PATCH", "/api/v1/devices/dev-0011", body, cookie=cookie, csrf=csrf,
                      headers={"Origin": "https://127.0.0.1:%d" % s.port,
                               "Sec-Fetch-Site": "same-origin"})
        self.assertEqual(r.status, 200, r)
        # login CSRF too
        r = s.request("POST", "/api/v1/login", {"name": "viewer", "password": PASSWORDS["viewer"]},
                      headers={"Origin": "https://evil.example"})
        self.assertError(r, 403, "cross_origin")


# ---------------------------------------------------------------------------
# Bearer tokens
# ---------------------------------------------------------------------------

class Bearer(ApiTest):
    def test_tokens(self):
        s = self.srv
        for role in ROLES:
            r = s.request("GET", "/api/v1/session", token=s.token(role))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["role"], role)
            self.assertEqual(r.json["auth"], "token")
            self.assertNotIn("csrf_token", r.json)
        for kind in ["expired", "revoked", "overreach"]:
            r = s.request("GET", "/api/v1/devices", token=s.info["tokens"][kind])
            self.assertError(r, 401, "unauthenticated")
            self.assertIsNotNone(r.header("WWW-Authenticate"))
        for bad in ["rpt_short", "rps_" + "A" * 43, "rpt_" + "A" * 42 + "B", "Zm9v"]:
            self.assertError(s.request("GET", "/api/v1/devices", token=bad), 401)
        r = s.request("GET", "/api/v1/devices", headers={"Authorization": "Basic Zm9vOmJhcg=="})
        self.assertError(r, 401, "unauthenticated", "Bearer")
        self.assertError(s.request("GET", "/api/v1/devices"), 401, "unauthenticated")

    def test_cookie_and_token_together_refused(self):
        s = self.srv
        cookie, _, _ = s.login("viewer")
        r = s.request("GET", "/api/v1/devices", cookie=cookie, token=s.token("viewer"))
        self.assertError(r, 400, "bad_request", "not both")

    def test_session_only_routes_refuse_tokens(self):
        s = self.srv
        for path in ["/api/v1/logout", "/api/v1/me/totp", "/api/v1/me/totp/confirm"]:
            r = s.request("POST", path, None if path.endswith("logout") else {},
                          token=s.token("admin"))
            self.assertError(r, 403, "session_required")


# ---------------------------------------------------------------------------
# Every route with every role
# ---------------------------------------------------------------------------

def concrete(path):
    return (path.replace("{device}", "dev-0020").replace("{command}", "f" * 32)
            .replace("{operator}", "nobody").replace("{token}", "e" * 32)
            .replace("{alert}", "999999"))


class Roles(ApiTest):
    """Each route is called with an invalid (empty) body or an unknown
    target, so an allowed call ends in 400/404 (or 200 for reads) and
    changes nothing, while a refused one is 403 before the handler runs."""

    def routes(self):
        out = subprocess.run([DRIVER, "--routes"], check=True, capture_output=True).stdout
        return [json.loads(x) for x in out.decode().splitlines() if x.strip()]

    def call(self, rt, **auth):
        path = concrete(rt["path"])
        if rt["path"].endswith("/telemetry") or rt["path"].endswith("/aggregate"):
            path += "?name=temp&from=0&to=1000&interval=1000" if "aggregate" in path \
                else "?name=temp"
        body = {} if rt["body"] else None
        return self.srv.request(rt["method"], path, body, **auth)

    def check(self, rt, role, r):
        perm = rt["permission"]
        if allowed(role, perm):
            self.assertNotIn(r.status, (401, 403), "%s %s as %s: %r" % (rt["method"], rt["path"],
                                                                      role, r))
        else:
            self.assertError(r, 403, "forbidden", perm)

    def test_every_route_every_role_with_tokens(self):
        for rt in self.routes():
            if rt["public"] or rt["session_only"]:
                continue
            for role in ROLES:
                with self.subTest(route=(rt["method"], rt["path"]), role=role):
                    self.check(rt, role, self.call(rt, token=self.srv.token(role)))

    def test_every_route_every_role_with_sessions(self):
        sessions = {role: self.srv.login(ROLE_USER[role])[:2] for role in ROLES}
        for rt in self.routes():
            if rt["public"] or rt["path"] == "/api/v1/logout":
                continue
            for role in ROLES:
                cookie, csrf = sessions[role]
                with self.subTest(route=(rt["method"], rt["path"]), role=role):
                    self.check(rt, role, self.call(rt, cookie=cookie, csrf=csrf))
        for role in ROLES:
            cookie, csrf = sessions[role]
            r = self.srv.request("POST", "/api/v1/logout", cookie=cookie, csrf=csrf)
            self.assertEqual(r.status, 204, r)

    def test_public_route(self):
        r = self.srv.request("POST", "/api/v1/login", {})
        self.assertError(r, 400, "invalid_body")


# ---------------------------------------------------------------------------
# Lists: pagination and strict parameters
# ---------------------------------------------------------------------------

class Lists(ApiTest):
    def get(self, path, role="viewer"):
        return self.srv.request("GET", path, token=self.srv.token(role))

    def test_device_pages(self):
        seen, url, pages = [], "/api/v1/devices?limit=10", 0
        while url:
            r = self.get(url)
            self.assertEqual(r.status, 200, r)
            self.assertLessEqual(len(r.json["items"]), 10)
            seen += [d["id"] for d in r.json["items"]]
            pages += 1
            nxt = r.json["next"]
            url = "/api/v1/devices?limit=10&after=" + nxt if nxt else None
        self.assertEqual(seen, ["dev-%04d" % i for i in range(1, 26)])
        self.assertEqual(pages, 3)
        r = self.get("/api/v1/devices")
        self.assertEqual(len(r.json["items"]), 25)
        self.assertIsNone(r.json["next"])

    def test_filters(self):
        self.assertEqual([d["id"] for d in self.get("/api/v1/devices?status=quarantined")
                          .json["items"]], ["dev-0003"])
        self.assertEqual(len(self.get("/api/v1/devices?tag=odd&limit=100").json["items"]), 13)
        self.assertEqual(len(self.get("/api/v1/devices?model=sensor-a").json["items"]), 10)
        r = self.get("/api/v1/devices?model=sensor-b&firmware=1.0.0")
        self.assertTrue(all(d["model"] == "sensor-b" and d["firmware"] == "1.0.0"
                            for d in r.json["items"]))
        self.assertEqual(self.get("/api/v1/devices?tag=site%3Dparis&limit=1").json["items"][0]
                         ["tags"], ["odd", "site=paris"])

    def test_strict_parameters(self):
        for q, detail in [("limit=0", "from 1 to 1000"), ("limit=1001", "from 1 to 1000"),
                          ("limit=01", "integer"), ("limit=-1", "integer"),
                          ("limit=1e3", "integer"), ("limit=", "integer"),
                          ("limit=99999999999999999999", "integer"),
                          ("bogus=1", "unknown query parameter 'bogus'"),
                          ("limit=1&limit=2", "given twice"), ("status=lost", "one of: active"),
                          ("after=%%%%", "percent-encoding"), ("after=!!", "cursor"),
                          ("after=" + base64.urlsafe_b64encode(b"t.1.2.").decode().rstrip("="),
                           "cursor of this list"), ("limit", "no value"), ("&", "empty"),
                          ("model=%00", "NUL"), ("model=%ff", "UTF-8"),
                          ("model=" + "m" * 300, "1 to 256")]:
            with self.subTest(q=q):
                self.assertError(self.get("/api/v1/devices?" + q), 400, "invalid_query", detail)
        r = self.get("/api/v1/devices?model=" + "a" * 3000)
        self.assertError(r, 414, "invalid_query", "2048")

    def test_telemetry_pages_and_aggregate(self):
        base = "/api/v1/devices/dev-0001/telemetry?name=temp&limit=50"
        times, url = [], base
        while url:
            r = self.get(url)
            self.assertEqual(r.status, 200, r)
            times += [p["time_ms"] for p in r.json["items"]]
            url = base + "&after=" + r.json["next"] if r.json["next"] else None
        self.assertEqual(len(times), 119)
        self.assertEqual(times, sorted(times))
        p = self.get(base).json["items"][0]
        self.assertEqual((p["kind"], p["unit"]), ("num", "Cel"))
        r = self.get("/api/v1/devices/dev-0001/telemetry?name=temp&order=desc&limit=3")
        ts = [x["time_ms"] for x in r.json["items"]]
        self.assertEqual(ts, sorted(ts, reverse=True))
        r = self.get("/api/v1/devices/dev-0001/telemetry?name=state")
        self.assertEqual(r.json["items"][0]["value"], "ok")
        t0 = self.srv.info["t0"]
        r = self.get("/api/v1/devices/dev-0001/telemetry/aggregate?name=temp&from=%d&to=%d"
                     "&interval=10000" % (t0 - 120000, t0))
        self.assertEqual(r.status, 200, r)
        b = r.json["items"]
        self.assertEqual(sum(x["count"] for x in b), 119)
        self.assertTrue(all(x["min"] <= x["avg"] <= x["max"] for x in b))
        self.assertError(self.get("/api/v1/devices/dev-0001/telemetry/aggregate?name=temp&from=0"
                                  "&to=100000000&interval=1"), 400, "invalid_query", "intervals")
        self.assertError(self.get("/api/v1/devices/dev-0001/telemetry"), 400, "invalid_query",
                         "'name' is required")
        self.assertError(self.get("/api/v1/devices/dev-0001/telemetry?name=t&from=5&to=5"), 400,
                         "invalid_query", "before")
        self.assertError(self.get("/api/v1/devices/dev-0001/telemetry?name=temp&limit=10001"),
                         400, "invalid_query", "10000")
        self.assertError(self.get("/api/v1/devices/dev-0099/telemetry?name=temp"), 404)

    def test_alerts_audit_operators_pages(self):
        r = self.get("/api/v1/alerts?limit=2")
        self.assertEqual(len(r.json["items"]), 2)
        ids = [a["id"] for a in r.json["items"]]
        r = self.get("/api/v1/alerts?limit=2&after=" + r.json["next"])
        ids += [a["id"] for a in r.json["items"]]
        self.assertEqual(ids, sorted(ids, reverse=True))
        self.assertEqual(len(ids), 3)
        self.assertEqual(len(self.get("/api/v1/alerts?severity=critical").json["items"]), 1)
        self.assertEqual(len(self.get("/api/v1/alerts?unacked=true").json["items"]), 3)
        self.assertError(self.get("/api/v1/alerts?unacked=1"), 400, "invalid_query",
                         "true or false")
        names, url = [], "/api/v1/operators?limit=4"
        while url:
            r = self.get(url, "auditor")
            self.assertEqual(r.status, 200, r)
            for o in r.json["items"]:
                self.assertNotIn("password_hash", o)
                self.assertNotIn("totp_secret", o)
            names += [o["name"] for o in r.json["items"]]
            url = "/api/v1/operators?limit=4&after=" + r.json["next"] if r.json["next"] else None
        self.assertEqual(names, sorted(names))
        self.assertIn("admin", names)


# ---------------------------------------------------------------------------
# Bodies and other errors
# ---------------------------------------------------------------------------

class Errors(ApiTest):
    def test_bodies(self):
        s, t = self.srv, self.srv.token("operator")
        url = "/api/v1/devices/dev-0012"
        self.assertError(s.request("PATCH", url, raw="{", token=t), 400, "malformed_json",
                         "line 1")
        self.assertError(s.request("PATCH", url, raw='{"tags": ["a",]}', token=t), 400,
                         "malformed_json")
        self.assertError(s.request("PATCH", url, raw="[" * 40 + "]" * 40, token=t), 400,
                         "malformed_json", "deeper than 16")
        self.assertError(s.request("PATCH", url, {"tags": "a"}, token=t), 400, "invalid_body",
                         "array")
        self.assertError(s.request("PATCH", url, {"tags": ["a b"]}, token=t), 400,
                         "invalid_body", "tag 0")
        self.assertError(s.request("PATCH", url, {"tags": ["a", "a"]}, token=t), 400,
                         "invalid_body", "twice")
        self.assertError(s.request("PATCH", url, {"tags": ["t%d" % i for i in range(17)]},
                                   token=t), 400, "invalid_body", "at most 16")
        self.assertError(s.request("PATCH", url, raw=b'{"tags": ["\xff"]}', token=t), 400,
                         "malformed_json")
        self.assertError(s.request("PATCH", url, {"tags": []}, token=t, ctype="text/plain"), 415)
        self.assertError(s.request("PATCH", url, {"tags": []}, token=t, ctype=None), 415)
        self.assertError(s.request("GET", "/api/v1/devices", raw="{}", token=t), 400,
                         "bad_request", "no body")

    def test_too_large(self):
        s, t = self.srv, self.srv.token("operator")
        # Refused on Content-Length alone: the body is never sent.
        r = s.head("PATCH", "/api/v1/devices/dev-0012", 70000, token=t)
        self.assertError(r, 413, "too_large", "65536")
        self.assertEqual(r.header("Connection"), "close")
        # Chunked past the cap: refused while reading. Sent in one write, so
        # the server's early answer and close cannot race the client's last
        # chunk (http.client would send it after the server has closed).
        req = ("PATCH /api/v1/devices/dev-0012 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
               "Content-Type: application/json\r\nAuthorization: Bearer %s\r\n"
               "Transfer-Encoding: chunked\r\n\r\n" % (s.port, t)).encode()
        req += b"2000\r\n" + b"x" * 8192 + b"\r\n"
        req = req + (b"2000\r\n" + b"x" * 8192 + b"\r\n") * 9 + b"0\r\n\r\n"
        self.assertError(s.raw(req), 413, "too_large")
        # a small chunked body is fine
        r = s.request("PATCH", "/api/v1/devices/dev-0012", token=t,
                      chunks=iter([b'{"tags": ', b'["chunked"]}']))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["tags"], ["chunked"])
        # unauthenticated: refused by size before authentication
        self.assertError(s.head("PATCH", "/api/v1/devices/dev-0012", 70000), 413)
        # the login's cap is 4 KiB
        self.assertError(s.head("POST", "/api/v1/login", 4097), 413, "too_large", "4096")

    def test_unknown_routes(self):
        t = self.srv.token("admin")
        for path in ["/", "/api", "/api/v1", "/api/v2/devices", "/api/v1/devices/", "/index.html",
                     "/api/v1/../../etc/passwd"]:
            with self.subTest(path=path):
                self.assertError(self.srv.request("GET", path, token=t), 404, "not_found")


# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------

class Commands(ApiTest):
    def test_send_publish_result(self):
        s, t = self.srv, self.srv.token("operator")
        r = s.request("POST", "/api/v1/devices/dev-0005/commands",
                      {"name": "reboot", "args": {"delay_s": 5}}, token=t)
        self.assertEqual(r.status, 201, r)
        cid = r.json["id"]
        self.assertRegex(cid, r"^[0-9a-f]{32}$")
        self.assertEqual(r.json["status"], "sent")
        self.assertEqual(r.json["args"], {"delay_s": 5})
        self.assertEqual(r.header("Location"), "/api/v1/devices/dev-0005/commands/" + cid)
        pub = [p for p in s.published() if p["topic"] == "d/dev-0005/cmd/reboot"]
        self.assertEqual(len(pub), 1)
        self.assertEqual(json.loads(pub[0]["payload"]), {"id": cid, "args": {"delay_s": 5}})
        # a result from another device, or on another name, is not taken
        payload = json.dumps({"id": cid, "status": "done", "result": {"uptime": 1}})
        self.assertEqual(s.command("result dev-0006 reboot " + payload), "result not found")
        self.assertEqual(s.command("result dev-0005 other " + payload), "result not found")
        self.assertEqual(s.command("result dev-0005 reboot {bad"), "result malformed packet")
        self.assertEqual(s.command("result dev-0005 reboot " + payload), "result ok")
        self.assertNotEqual(s.command("result dev-0005 reboot " + payload), "result ok")
        r = s.request("GET", "/api/v1/devices/dev-0005/commands/" + cid, token=s.token("viewer"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "done")
        self.assertEqual(r.json["result"], {"uptime": 1})
        self.assertGreater(r.json["answered_ms"], 0)
        # not visible under another device
        self.assertError(s.request("GET", "/api/v1/devices/dev-0006/commands/" + cid, token=t),
                         404)
        # the audit entry names the command, not its arguments
        r = s.request("GET", "/api/v1/audit?action=device.command&target=dev-0005",
                      token=s.token("auditor"))
        e = r.json["items"][-1]
        self.assertEqual((e["actor"], e["source"]), ("admin", "127.0.0.1"))
        self.assertEqual(e["detail"]["id"], cid)
        self.assertNotIn("delay_s", json.dumps(e["detail"]))

    def test_refusals_and_list(self):
        s, t = self.srv, self.srv.token("operator")
        url = "/api/v1/devices/dev-0007/commands"
        self.assertError(s.request("POST", url, {"name": "a/b"}, token=t), 400, "invalid_body")
        self.assertError(s.request("POST", url, {"name": "x", "args": [1]}, token=t), 400,
                         "invalid_body", "object")
        self.assertError(s.request("POST", url, {"name": "x", "args": {"v": "y" * 17000}},
                                   token=t), 400, "invalid_body", "16384")
        self.assertError(s.request("POST", "/api/v1/devices/dev-0004/commands", {"name": "x"},
                                   token=t), 409, "conflict", "revoked")
        self.assertError(s.request("POST", "/api/v1/devices/dev-0098/commands", {"name": "x"},
                                   token=t), 404)
        r = s.request("POST", url, {"name": "refuse"}, token=t)
        self.assertError(r, 503, "publish_failed")
        cid = re.search(r"id ([0-9a-f]{32})", r.json["detail"]).group(1)
        r = s.request("GET", url + "/" + cid, token=t)
        self.assertEqual(r.json["status"], "failed")
        for i in range(5):
            self.assertEqual(s.request("POST", url, {"name": "n%d" % i}, token=t).status, 201)
        ids, nxt = [], None
        while True:
            r = s.request("GET", url + "?limit=2" + ("&after=" + nxt if nxt else ""), token=t)
            ids += [c["id"] for c in r.json["items"]]
            nxt = r.json["next"]
            if not nxt:
                break
        self.assertEqual(len(ids), 6)
        self.assertEqual(len(set(ids)), 6)
        self.assertError(s.request("POST", url, {"name": "x"}, token=s.token("viewer")), 403)


# ---------------------------------------------------------------------------
# Devices, operators, tokens, settings, password, audit
# ---------------------------------------------------------------------------

class Admin(ApiTest):
    def audit(self, **q):
        r = self.srv.request("GET", "/api/v1/audit?" + urllib.parse.urlencode(q),
                             token=self.srv.token("auditor"))
        self.assertEqual(r.status, 200, r)
        return r.json["items"]

    def test_device_tags_and_status(self):
        s = self.srv
        cookie, csrf, _ = s.login("oper")
        r = s.request("PATCH", "/api/v1/devices/dev-0013", {"tags": ["b", "a"]}, cookie=cookie,
                      csrf=csrf)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["tags"], ["a", "b"])
        e = self.audit(action="device.tags", target="dev-0013")[-1]
        self.assertEqual((e["actor"], e["source"]), ("oper", "127.0.0.1"))
        self.assertEqual(e["detail"], {"tags": ["b", "a"]})
        r = s.request("PUT", "/api/v1/devices/dev-0013/status", {"status": "quarantined"},
                      cookie=cookie, csrf=csrf)
        self.assertEqual(r.json["status"], "quarantined")
        r = s.request("PUT", "/api/v1/devices/dev-0013/status", {"status": "active"},
                      cookie=cookie, csrf=csrf)
        self.assertEqual(r.json["status"], "active")
        self.assertEqual(len(self.audit(action="device.quarantine", target="dev-0013")), 1)
        self.assertEqual(len(self.audit(action="device.release", target="dev-0013")), 1)
        self.assertError(s.request("PUT", "/api/v1/devices/dev-0013/status",
                                   {"status": "revoked"}, cookie=cookie, csrf=csrf), 400)
        self.assertError(s.request("PUT", "/api/v1/devices/dev-0004/status",
                                   {"status": "active"}, cookie=cookie, csrf=csrf), 409)
        self.assertError(s.request("PATCH", "/api/v1/devices/dev-0097", {"tags": []},
                                   cookie=cookie, csrf=csrf), 404)

    def test_alert_ack(self):
        s = self.srv
        a = s.request("GET", "/api/v1/alerts", token=s.token("viewer")).json["items"][0]
        r = s.request("POST", "/api/v1/alerts/%d/ack" % a["id"], token=s.token("operator"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["ack_by"], "admin")  # the token's owner
        self.assertError(s.request("POST", "/api/v1/alerts/%d/ack" % a["id"],
                                   token=s.token("operator")), 409)
        self.assertError(s.request("POST", "/api/v1/alerts/999999/ack",
                                   token=s.token("operator")), 404)

    def test_operators(self):
        s = self.srv
        cookie, csrf, _ = s.login("admin")
        r = s.request("POST", "/api/v1/operators", {"name": "carol", "role": "operator"},
                      cookie=cookie, csrf=csrf)
        self.assertEqual(r.status, 201, r)
        pw = r.json["password"]
        self.assertEqual(len(pw), 24)
        self.assertNotIn(pw, s.stderr())
        self.assertNotIn("password", s.request("GET", "/api/v1/operators/carol",
                                               cookie=cookie).json)
        c2, csrf2, _ = s.login("carol", pw)
        self.assertEqual(s.request("GET", "/api/v1/devices", cookie=c2).status, 200)
        self.assertError(s.request("POST", "/api/v1/operators", {"name": "carol", "role": "viewer",
                                                                 "password": "Another-good-pw-1"},
                                   cookie=cookie, csrf=csrf), 409, "exists")
        self.assertError(s.request("POST", "/api/v1/operators",
                                   {"name": "dave", "role": "viewer", "password": "short"},
                                   cookie=cookie, csrf=csrf), 400, "weak_password")
        self.assertError(s.request("POST", "/api/v1/operators",
                                   {"name": "dave", "role": "root"}, cookie=cookie, csrf=csrf),
                         400, "invalid_body", "role")
        r = s.request("POST", "/api/v1/operators", {"name": "dave", "role": "viewer",
                                                    "password": "dave-Chosen-password-1"},
                      cookie=cookie, csrf=csrf)
        self.assertEqual(r.status, 201, r)
        self.assertNotIn("password", r.json)
        # demoted at once: carol's session now has the viewer's rights
        r = s.request("PATCH", "/api/v1/operators/carol", {"role": "viewer"}, cookie=cookie,
                      csrf=csrf)
        self.assertEqual(r.json["role"], "viewer")
        self.assertError(s.request("PATCH", "/api/v1/devices/dev-0014", {"tags": []}, cookie=c2,
                                   csrf=csrf2), 403, "forbidden")
        # disabled: her session ends
        s.request("PATCH", "/api/v1/operators/carol", {"disabled": True}, cookie=cookie, csrf=csrf)
        self.assertError(s.request("GET", "/api/v1/devices", cookie=c2), 401)
        self.assertError(s.request("POST", "/api/v1/login", {"name": "carol", "password": pw}),
                         401)
        # an admin cannot lock themselves out
        self.assertError(s.request("PATCH", "/api/v1/operators/admin", {"disabled": True},
                                   cookie=cookie, csrf=csrf), 409)
        self.assertError(s.request("PATCH", "/api/v1/operators/admin", {"role": "viewer"},
                                   cookie=cookie, csrf=csrf), 409)
        self.assertError(s.request("PATCH", "/api/v1/operators/carol", {}, cookie=cookie,
                                   csrf=csrf), 400)
        self.assertEqual(len(self.audit(action="operator.create")), 2)
        self.assertEqual(len(self.audit(action="operator.update", target="carol")), 2)

    def test_tokens(self):
        s = self.srv
        cookie, csrf, _ = s.login("admin")
        r = s.request("POST", "/api/v1/tokens", {"role": "viewer", "lifetime_s": 3600},
                      cookie=cookie, csrf=csrf)
        self.assertEqual(r.status, 201, r)
        tok, tid = r.json["token"], r.json["id"]
        self.assertRegex(tok, r"^rpt_[A-Za-z0-9_-]{43}$")
        self.assertNotIn(tok, s.stderr())
        self.assertEqual(s.request("GET", "/api/v1/session", token=tok).json["role"], "viewer")
        lst = s.request("GET", "/api/v1/tokens?operator=admin&limit=1000", cookie=cookie).json
        self.assertTrue(any(x["id"] == tid and x["state"] == "active" for x in lst["items"]))
        self.assertNotIn(tok, json.dumps(lst))
        self.assertError(s.request("POST", "/api/v1/tokens", {"role": "viewer",
                                                              "lifetime_s": 400 * 86400},
                                   cookie=cookie, csrf=csrf), 400, "invalid_body", "lifetime_s")
        r = s.request("DELETE", "/api/v1/tokens/" + tid, cookie=cookie, csrf=csrf)
        self.assertEqual(r.status, 204, r)
        self.assertError(s.request("GET", "/api/v1/session", token=tok), 401)
        self.assertError(s.request("DELETE", "/api/v1/tokens/" + "0" * 32, cookie=cookie,
                                   csrf=csrf), 404)
        self.assertError(s.request("POST", "/api/v1/tokens", {"role": "viewer"},
                                   token=s.token("operator")), 403)
        self.assertEqual(len(self.audit(action="token.create", target=tid)), 1)
        self.assertEqual(len(self.audit(action="token.revoke", target=tid)), 1)

    def test_password_change(self):
        s = self.srv
        c1, csrf1, _ = s.login("changer")
        c2, _, _ = s.login("changer")
        url = "/api/v1/me/password"
        self.assertError(s.request("PUT", url, {"current": "wrong-password-x", "new": "x" * 20},
                                   cookie=c1, csrf=csrf1), 403, "wrong_password")
        self.assertError(s.request("PUT", url, {"current": PASSWORDS["changer"],
                                                "new": "changer"}, cookie=c1, csrf=csrf1), 400,
                         "weak_password")
        r = s.request("PUT", url, {"current": PASSWORDS["changer"], "new": "a-New-long-pw-2024"},
                      cookie=c1, csrf=csrf1)
        self.assertEqual(r.status, 200, r)
        c3 = r.cookie()
        self.assertError(s.request("GET", "/api/v1/session", cookie=c1), 401)
        self.assertError(s.request("GET", "/api/v1/session", cookie=c2), 401)
        self.assertEqual(s.request("GET", "/api/v1/session", cookie=c3).status, 200)
        s.login("changer", "a-New-long-pw-2024")
        self.assertError(s.request("POST", "/api/v1/login", {"name": "changer",
                                                             "password": PASSWORDS["changer"]}),
                         401)

    def test_settings_and_audit_chain(self):
        s = self.srv
        r = s.request("GET", "/api/v1/settings", token=s.token("auditor"))
        self.assertEqual(r.status, 200, r)
        self.assertFalse(r.json["totp_required"])
        r = s.request("GET", "/api/v1/audit/verify", token=s.token("auditor"))
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json["ok"], r)
        self.assertGreater(r.json["checked"], 0)
        r = s.request("GET", "/api/v1/audit?order=desc&limit=5", token=s.token("auditor"))
        ids = [e["id"] for e in r.json["items"]]
        self.assertEqual(ids, sorted(ids, reverse=True))
        for e in r.json["items"]:
            self.assertRegex(e["hash"], r"^[0-9a-f]{64}$")


def main():
    global DRIVER
    args = sys.argv[1:]
    if len(args) >= 2 and args[0] == "--driver":
        DRIVER = os.path.abspath(args[1])
        args = args[2:]
    if not DRIVER or not os.access(DRIVER, os.X_OK):
        sys.exit("test_api.py: --driver PATH (the test_api_http binary) is required")
    if CURL is None:
        sys.exit("test_api.py: curl is required (scripts/bootstrap)")
    unittest.main(argv=[sys.argv[0], "-v"] + args)


if __name__ == "__main__":
    main()
