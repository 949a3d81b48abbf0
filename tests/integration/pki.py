"""tests/integration/pki.py - a throw-away test PKI made with the openssl CLI.

Everything is made with the `openssl` command line (no Python crypto
library), in a directory the caller owns, so the integration tests exercise
certificates as an operator would make them:

    fleet CA (EC P-256, self-signed), managed with `openssl ca`
      server       CN=localhost, SAN DNS:localhost, IP:127.0.0.1 (serverAuth)
      dev-0001     device certificates (clientAuth)
      dev-0002
      dev-0003     spare devices, for tests that revoke one at run time
      dev-0004
      ops          service: SAN URI urn:rampart:role:commander
      ingest       service: SAN URI urn:rampart:role:ingest
      expired      CN=dev-0005, notBefore/notAfter in 2020
      revoked      CN=dev-0006, revoked, listed in fleet.crl
    other CA (EC P-256), unrelated to the fleet
      foreign      CN=dev-0001 (same name as a real device), clientAuth

Files: <name>.crt and <name>.key (mode 0600) for each leaf; ca.crt, crl.pem
(the fleet CA's CRL: rampartd checks the CRL of every CA in the chain, and
the fleet CA is the only one), other-ca.crt. The fleet CA's `openssl ca`
database lives in ca/, so a test may revoke more and regenerate the CRL
with revoke() and gencrl().

Extensions follow X509_V_FLAG_X509_STRICT (rampartd verifies with it):
critical basicConstraints and keyUsage on CAs, SKI/AKI everywhere.

Make the PKI once with PKI.create(dir), then copy it per test with
PKI.copy_to(dir): cheaper, and a test that revokes a certificate does not
disturb the others.
"""

import os
import shutil
import subprocess

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

CA_CONF = """\
# Minimal `openssl ca` configuration for the test fleet CA.
[ ca ]
default_ca = fleet

[ fleet ]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
crlnumber = $dir/crlnumber
certificate = $dir/ca.crt
private_key = $dir/ca.key
default_md = sha256
default_days = 30
default_crl_days = 7
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no

[ policy_any ]
commonName = supplied

[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = unused

[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:localhost, IP:127.0.0.1

[ device ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ svc_commander ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = URI:urn:rampart:role:commander

[ svc_ingest ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = URI:urn:rampart:role:ingest

[ crl_ext ]
authorityKeyIdentifier = keyid:always
"""


class PKIError(RuntimeError):
    pass


def _run(args, cwd=None):
    p = subprocess.run([OPENSSL] + args, cwd=cwd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if p.returncode != 0:
        raise PKIError("openssl %s failed (%d):\n%s" %
                       (" ".join(args), p.returncode, p.stderr.decode(errors="replace")))
    return p.stdout


class _CA:
    """One CA managed with `openssl ca` in its own directory."""

    def __init__(self, root):
        self.dir = root
        self.conf = os.path.join(root, "openssl.cnf")

    def init(self, cn):
        os.makedirs(os.path.join(self.dir, "newcerts"), exist_ok=True)
        with open(self.conf, "w") as f:
            f.write(CA_CONF.format(dir=self.dir))
        open(os.path.join(self.dir, "index.txt"), "w").close()
        with open(os.path.join(self.dir, "serial"), "w") as f:
            f.write("1000\n")
        with open(os.path.join(self.dir, "crlnumber"), "w") as f:
            f.write("1000\n")
        key = os.path.join(self.dir, "ca.key")
        csr = os.path.join(self.dir, "ca.csr")
        _genkey(key)
        _run(["req", "-new", "-config", self.conf, "-key", key, "-subj", "/CN=" + cn,
              "-out", csr])
        # Backdate by a day: the CA must be valid whatever the clocks say.
        _run(["ca", "-batch", "-config", self.conf, "-selfsign", "-keyfile", key,
              "-in", csr, "-out", os.path.join(self.dir, "ca.crt"), "-notext",
              "-extensions", "v3_ca", "-startdate", _ago_days(1), "-days", "3650"])

    def issue(self, cn, ext, key_out, crt_out, start=None, end=None):
        csr = key_out + ".csr"
        _genkey(key_out)
        _run(["req", "-new", "-config", self.conf, "-key", key_out, "-subj", "/CN=" + cn,
              "-out", csr])
        args = ["ca", "-batch", "-config", self.conf, "-in", csr, "-out", crt_out,
                "-notext", "-extensions", ext]
        if start is not None:
            args += ["-startdate", start, "-enddate", end]
        else:
            args += ["-startdate", _ago_days(1), "-days", "30"]
        _run(args)
        os.unlink(csr)

    def revoke(self, crt):
        _run(["ca", "-batch", "-config", self.conf, "-revoke", crt])

    def gencrl(self, out):
        # lastUpdate a minute in the past: rampartd refuses a CRL "not yet valid".
        tmp = out + ".tmp"
        _run(["ca", "-batch", "-config", self.conf, "-gencrl", "-crlexts", "crl_ext",
              "-crl_lastupdate", _ago_minutes(1), "-crldays", "7", "-out", tmp])
        os.replace(tmp, out)  # atomic: a reload never sees half a file


def _genkey(path):
    # Create the file 0600 before any key byte is written.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    _run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
          "-pkeyopt", "ec_param_enc:named_curve", "-out", path])
    os.chmod(path, 0o600)


def _gmt(t):
    import time
    return time.strftime("%Y%m%d%H%M%SZ", time.gmtime(t))


def _ago_days(n):
    import time
    return _gmt(time.time() - n * 86400)


def _ago_minutes(n):
    import time
    return _gmt(time.time() - n * 60)


DEVICES = ("dev-0001", "dev-0002", "dev-0003", "dev-0004")


class PKI:
    """Paths of a test PKI rooted at `root`."""

    def __init__(self, root):
        self.root = root
        self.ca_dir = os.path.join(root, "ca")
        self.ca = _CA(self.ca_dir)
        self.ca_crt = os.path.join(self.ca_dir, "ca.crt")
        self.crl = os.path.join(root, "crl.pem")
        self.other_ca_dir = os.path.join(root, "other-ca")
        self.other_ca_crt = os.path.join(self.other_ca_dir, "ca.crt")

    def crt(self, name):
        return os.path.join(self.root, name + ".crt")

    def key(self, name):
        return os.path.join(self.root, name + ".key")

    def pair(self, name):
        return self.crt(name), self.key(name)

    @classmethod
    def create(cls, root):
        os.makedirs(root, exist_ok=True)
        p = cls(root)
        p.ca.init("Rampart Test Fleet CA")
        p.ca.issue("localhost", "server", p.key("server"), p.crt("server"))
        for d in DEVICES:
            p.ca.issue(d, "device", p.key(d), p.crt(d))
        p.ca.issue("ops", "svc_commander", p.key("ops"), p.crt("ops"))
        p.ca.issue("ingest", "svc_ingest", p.key("ingest"), p.crt("ingest"))
        p.ca.issue("dev-0005", "device", p.key("expired"), p.crt("expired"),
                   start="20200101000000Z", end="20200201000000Z")
        p.ca.issue("dev-0006", "device", p.key("revoked"), p.crt("revoked"))
        p.ca.revoke(p.crt("revoked"))
        p.ca.gencrl(p.crl)
        other = _CA(p.other_ca_dir)
        other.init("Some Other CA")
        other.issue("dev-0001", "device", p.key("foreign"), p.crt("foreign"))
        return p

    def copy_to(self, root):
        """A complete copy (CA database included) under root; returns it."""
        shutil.copytree(self.root, root, symlinks=False, dirs_exist_ok=True)
        q = PKI(root)
        # The `openssl ca` configuration names its directory: rewrite it.
        for ca in (q.ca_dir, q.other_ca_dir):
            with open(os.path.join(ca, "openssl.cnf"), "w") as f:
                f.write(CA_CONF.format(dir=ca))
        return q

    def revoke(self, name):
        """Revokes <name>.crt and rewrites crl.pem (atomically)."""
        self.ca.revoke(self.crt(name))
        self.ca.gencrl(self.crl)


if __name__ == "__main__":
    import sys
    import tempfile
    d = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="rp-pki-")
    PKI.create(d)
    print(d)
