#!/usr/bin/python3
"""tests/integration/test_est_client.py - the device SDK's EST client against the server.

    /usr/bin/python3 test_est_client.py --driver PATH --client PATH [unittest args]

--driver is test_api_http (its --serve mode is the EST server of
test_est.py: a fleet PKI made by server/pki, enrollment on); --client is
test_est_client, whose --enroll and --renew modes run the SDK's
rp_est_enroll() once (device/est, over libcurl) and print "ok SERIAL
RENEW_AT" or "error STATUS: REASON". What the SDK writes is checked with the
openssl command line, and the server's view through its REST API.

Groups Client and Binding (one CTest test, integration_est_client):
  - a token enrollment: the certificate verifies against the root with the
    chain the client saved, names the device, holds the client's key; the
    device exists; the token's second use is refused with the server's text
  - renewal with the issued certificate, then with a new key
  - a factory certificate enrolls its device
  - a client given another root refuses the server before sending anything:
    the token is still unused afterwards
  - the CSR is bound to its TLS connection (tls-exporter): the server checks
    it and says so in the audit entry; a CSR carrying the binding of another
    connection (curl cannot know this one's) is refused with 403
"""

import base64
import os
import re
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_est  # noqa: E402  (the server driver, and the openssl helpers)
from test_est import EST, OPENSSL, EstTest, make_factory, run  # noqa: E402

CLIENT = os.environ.get("RP_EST_CLIENT")


class SdkTest(EstTest):
    def sdk(self, mode, cn, key, out, *extra, root=None):
        r = subprocess.run([CLIENT, mode, self.srv.url, root or self.srv.root, cn,
                            self.f(key), self.f(out), *extra], capture_output=True,
                           timeout=60)
        line = r.stdout.decode().strip()
        self.assertTrue(line.startswith(("ok ", "error ")),
                        "client said %r, stderr %r" % (line, r.stderr.decode()[-2000:]))
        self.assertNotRegex(r.stderr.decode(), r"ERROR: AddressSanitizer|runtime error:")
        return r.returncode, line

    def verify(self, crt):
        # The file holds the certificate then its chain: enough for openssl
        # to verify it against the root alone.
        out = run([OPENSSL, "verify", "-CAfile", self.srv.root, "-untrusted", self.f(crt),
                   "-purpose", "sslclient", self.f(crt)]).stdout
        self.assertIn(b": OK", out)

    def pubkey(self, cmd, path):
        return run([OPENSSL, cmd, "-in", path, "-pubkey", "-noout"]
                   if cmd == "x509" else [OPENSSL, "pkey", "-in", path, "-pubout"]).stdout


class Client(SdkTest):
    def test_token_enrollment_and_second_use(self):
        t = self.srv.token(device="dev-sdk-01")
        rc, line = self.sdk("--enroll", "dev-sdk-01", "k1.pem", "c1.crt", "--token", t["token"])
        self.assertEqual(rc, 0, line)
        self.verify("c1.crt")
        self.assertIn("CN = dev-sdk-01", self.x509(self.f("c1.crt"), "-subject"))
        self.assertEqual(self.pubkey("x509", self.f("c1.crt")),
                         self.pubkey("pkey", self.f("k1.pem")))
        serial = line.split()[1]
        self.assertEqual(self.x509(self.f("c1.crt"), "-serial").strip().split("=")[1].lower(),
                         serial)
        st, d = self.srv.api("GET", "/api/v1/devices/dev-sdk-01")
        self.assertEqual((st, d["status"]), (200, "active"))
        # The token was for one use: the server's own words come back.
        rc, line = self.sdk("--enroll", "dev-sdk-01", "k1.pem", "c1b.crt", "--token", t["token"])
        self.assertEqual(rc, 1)
        self.assertRegex(line, r"^error authentication failed: .*HTTP 403: the enrollment "
                               r"token has been used")
        self.assertNotIn(t["token"], line)

    def test_renewal_and_rekey(self):
        t = self.srv.token(device="dev-sdk-02")
        rc, line = self.sdk("--enroll", "dev-sdk-02", "k2.pem", "c2.crt", "--token", t["token"])
        self.assertEqual(rc, 0, line)
        first = line.split()[1]
        rc, line = self.sdk("--renew", "dev-sdk-02", "k2.pem", "c2-2.crt",
                            "--cert", self.f("c2.crt"), self.f("k2.pem"))
        self.assertEqual(rc, 0, line)
        self.assertNotEqual(line.split()[1], first)
        self.verify("c2-2.crt")
        e = self.srv.audit("device.reenroll", "dev-sdk-02")[0]
        self.assertEqual(e["detail"]["client_serial"], first)
        # Re-key: a new key, authenticated by the current certificate.
        rc, line = self.sdk("--renew", "dev-sdk-02", "k2-new.pem", "c2-3.crt",
                            "--cert", self.f("c2-2.crt"), self.f("k2.pem"))
        self.assertEqual(rc, 0, line)
        self.assertEqual(self.pubkey("x509", self.f("c2-3.crt")),
                         self.pubkey("pkey", self.f("k2-new.pem")))
        # A token is not a renewal credential.
        rc, line = self.sdk("--renew", "dev-sdk-02", "k2.pem", "c2-4.crt", "--token", "rpe_x")
        self.assertEqual(rc, 1)
        self.assertRegex(line, r"^error invalid argument: renewal authenticates")

    def test_factory_certificate(self):
        fcrt, fkey = make_factory(self, "dev-sdk-03")
        rc, line = self.sdk("--enroll", "dev-sdk-03", "k3.pem", "c3.crt", "--cert", fcrt, fkey)
        self.assertEqual(rc, 0, line)
        self.verify("c3.crt")
        e = self.srv.audit("device.enroll", "dev-sdk-03")[0]
        self.assertEqual(e["detail"]["auth"], "factory")

    def test_foreign_root_refused_before_sending(self):
        t = self.srv.token(device="dev-sdk-04")
        other_key, other = self.f("other-root.key"), self.f("other-root.crt")
        run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", other_key, "-subj", "/CN=Not the fleet root", "-days", "1",
             "-addext", "basicConstraints=critical,CA:TRUE", "-out", other])
        rc, line = self.sdk("--enroll", "dev-sdk-04", "k4.pem", "c4.crt", "--token", t["token"],
                            root=other)
        self.assertEqual(rc, 1)
        self.assertRegex(line, r"^error cryptographic failure: cannot reach the EST server: "
                               r".*(certificate|verify)")
        self.assertFalse(os.path.exists(self.f("c4.crt")))
        # Nothing reached the server: the token is still unused.
        st, j = self.srv.api("GET", "/api/v1/enrollment-tokens?limit=200")
        mine = [i for i in j["items"] if i["id"] == t["id"]]
        self.assertEqual((st, len(mine), mine[0]["used"]), (200, 1, 0), j)
        rc, line = self.sdk("--enroll", "dev-sdk-04", "k4.pem", "c4.crt", "--token", t["token"])
        self.assertEqual(rc, 0, line)


class Binding(SdkTest):
    def test_sdk_csr_is_bound_and_checked(self):
        t = self.srv.token(device="dev-sdk-05")
        rc, line = self.sdk("--enroll", "dev-sdk-05", "k5.pem", "c5.crt", "--token", t["token"])
        self.assertEqual(rc, 0, line)
        e = self.srv.audit("device.enroll", "dev-sdk-05")[0]
        self.assertEqual(e["detail"].get("binding"), "tls-exporter", e)
        # Renewals are bound too.
        rc, line = self.sdk("--renew", "dev-sdk-05", "k5.pem", "c5-2.crt",
                            "--cert", self.f("c5.crt"), self.f("k5.pem"))
        self.assertEqual(rc, 0, line)
        e = self.srv.audit("device.reenroll", "dev-sdk-05")[0]
        self.assertEqual(e["detail"].get("binding"), "tls-exporter", e)

    def test_binding_of_another_connection_refused(self):
        t = self.srv.token(device="dev-sdk-06")
        conf, key, der, b64 = (self.f("bind.cnf"), self.f("bind.key"), self.f("bind.der"),
                               self.f("bind.b64"))
        with open(conf, "w") as out:
            # 44 base64 characters: the shape of a tls-exporter value, of
            # some other connection (a relayed CSR).
            out.write("[req]\nprompt = no\ndistinguished_name = dn\nattributes = at\n"
                      "[dn]\nCN = dev-sdk-06\n"
                      "[at]\nchallengePassword = " + "QUJD" * 10 + "QUI=\n")
        run([OPENSSL, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", key, "-config", conf, "-outform", "DER", "-out", der])
        with open(der, "rb") as fin, open(b64, "wb") as fout:
            fout.write(base64.encodebytes(fin.read()))
        st, _, body = self.srv.curl(EST + "/simpleenroll", data=b64,
                                    user="dev-sdk-06:" + t["token"])
        self.assertRefused(st, body, 403, "channel binding is not this TLS connection")
        self.assertAudited("device.enroll_refused", "dev-sdk-06", "channel binding")
        # The token was not spent: the device's real client enrolls with it.
        rc, line = self.sdk("--enroll", "dev-sdk-06", "k6.pem", "c6.crt", "--token", t["token"])
        self.assertEqual(rc, 0, line)


def main():
    global CLIENT
    args = sys.argv[1:]
    while len(args) >= 2 and args[0] in ("--driver", "--client"):
        if args[0] == "--driver":
            test_est.DRIVER = os.path.abspath(args[1])
        else:
            CLIENT = os.path.abspath(args[1])
        args = args[2:]
    if not test_est.DRIVER or not CLIENT:
        sys.exit("test_est_client.py: --driver PATH and --client PATH are required")
    unittest.main(argv=[sys.argv[0], "-v"] + args)


if __name__ == "__main__":
    main()
