/*
 * tests/support/testpki.h - a throw-away PKI for tests, made at run time.
 *
 * Every test that needs certificates makes them with this helper instead of
 * keeping PEM files in the repository: nothing expires in the tree, and no
 * private key is ever committed. Keys are EC P-256, signatures ECDSA with
 * SHA-256, certificates X.509 v3 that pass OpenSSL's X509_V_FLAG_X509_STRICT
 * (rampartd verifies with it): basicConstraints (critical), keyUsage
 * (critical), SKI and AKI, extendedKeyUsage on leaves.
 *
 * Conventions
 * - Functions return 0 on success and -1 on failure (with a line on
 *   stderr); a test asserts on that. They are not thread-safe.
 * - Ownership: a testpki_id owns its X509 and EVP_PKEY; free it with
 *   testpki_id_free(). Paths are copied or written into caller buffers.
 * - Files: keys are written with mode 0600 (rampartd refuses a key that
 *   other users can read), certificates and CRLs 0644, all PEM.
 *
 * The standard fleet (testpki_fleet_new) writes into a fresh directory
 * under $TMPDIR (or /tmp):
 *   ca.crt ca.key                 fleet CA (CN "Rampart Test Fleet CA")
 *   server.crt server.key         CN localhost, SAN DNS:localhost, IP:127.0.0.1
 *   dev-0001.crt .key             device, CN dev-0001
 *   dev-0002.crt .key             device, CN dev-0002
 *   svc-ingest.crt .key           service, CN svc-ingest, SAN URI urn:rampart:role:ingest
 *   dev-expired.crt .key          device, CN dev-expired, expired yesterday
 *   dev-revoked.crt .key          device, CN dev-revoked, listed in crl.pem
 *   dev-slash.crt .key            device, CN "dev/0001" (not a usable device id)
 *   other-ca.crt other-ca.key     another CA (CN "Other CA")
 *   dev-other.crt .key            device, CN dev-0001, issued by the other CA
 *   crl.pem                       fleet CA's CRL revoking dev-revoked
 * Broker integration tests hand these files to mosquitto_pub/sub or paho
 * (--cafile ca.crt --cert dev-0001.crt --key dev-0001.key).
 */
#ifndef RP_TESTS_TESTPKI_H
#define RP_TESTS_TESTPKI_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

typedef struct testpki_id {
	X509 *cert;
	EVP_PKEY *key;
} testpki_id;

/* What to issue. Zero-initialise, then set what you need. */
typedef struct testpki_spec {
	const char *cn;       /* subject CN (UTF-8); NULL: no CN */
	size_t cn_len;        /* 0: strlen(cn); else exactly these bytes (NUL tests) */
	const char *extra_cn; /* a second CN entry (ambiguity tests); NULL: none */
	const char *san;      /* OpenSSL syntax, "DNS:x,IP:1.2.3.4,URI:urn:..."; NULL: none */
	long not_before;      /* seconds from now; 0 means one minute ago */
	long not_after;       /* seconds from now; 0 means 30 days */
	int ca;               /* 1: a CA (keyCertSign, cRLSign) */
	int server;           /* leaf: 1 serverAuth, 0 clientAuth */
} testpki_spec;

/* Makes a new key and a certificate for spec, signed by issuer (NULL:
 * self-signed). */
int testpki_issue(testpki_id *out, const testpki_spec *spec, const testpki_id *issuer);

void testpki_id_free(testpki_id *id);

/* Writes n certificates (a chain, leaf first) to path. */
int testpki_write_certs(const char *path, X509 *const *certs, size_t n);

/* Writes key to path, mode 0600, unencrypted PKCS#8 PEM. */
int testpki_write_key(const char *path, EVP_PKEY *key);

/*
 * Writes a CRL of ca revoking the n certificates in revoked (n may be 0),
 * valid from one minute ago for next_update seconds (0: 7 days; negative:
 * an expired CRL). Appends to path if append is 1, else replaces it.
 */
int testpki_write_crl(const char *path, const testpki_id *ca, X509 *const *revoked, size_t n,
		      long next_update, int append);

/* The standard fleet (see above). */
typedef struct testpki_fleet {
	char dir[256];
	testpki_id ca, server, device, device2, service, expired, revoked, bad_cn;
	testpki_id other_ca, other_device;
} testpki_fleet;

/* Makes the directory, the identities and all the files. */
int testpki_fleet_new(testpki_fleet *f);

/* Writes "<dir>/<file>" into buf and returns buf (NULL if it does not fit). */
const char *testpki_path(const testpki_fleet *f, const char *file, char *buf, size_t cap);

/* Issues spec under the fleet CA and writes <stem>.crt and <stem>.key. */
int testpki_fleet_add(testpki_fleet *f, const char *stem, const testpki_spec *spec,
		      const testpki_id *issuer, testpki_id *out);

/* Frees the identities and removes the directory with every file in it. */
void testpki_fleet_free(testpki_fleet *f);

#endif /* RP_TESTS_TESTPKI_H */
