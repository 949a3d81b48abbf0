/*
 * testpki.c - a throw-away PKI for tests (see testpki.h).
 *
 * Certificates are built with the OpenSSL C API: X509_new, the extensions
 * through X509V3_EXT_conf_nid (the same syntax as openssl.cnf), signed
 * with ECDSA-SHA256. Serial numbers are 127 random bits, positive and
 * unique with overwhelming probability.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "testpki.h"

static int fail(const char *what)
{
	fprintf(stderr, "testpki: %s\n", what);
	ERR_print_errors_fp(stderr);
	return -1;
}

void testpki_id_free(testpki_id *id)
{
	if (id != NULL) {
		X509_free(id->cert);
		EVP_PKEY_free(id->key);
		id->cert = NULL;
		id->key = NULL;
	}
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (ext == NULL) {
		return 0;
	}
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

static int random_serial(X509 *x)
{
	BIGNUM *bn = BN_new();
	ASN1_INTEGER *ai = NULL;
	int ok = 0;

	if (bn == NULL || BN_rand(bn, 127, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) != 1) {
		goto out;
	}
	ai = BN_to_ASN1_INTEGER(bn, NULL);
	ok = ai != NULL && X509_set_serialNumber(x, ai) == 1;
out:
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return ok;
}

static int set_subject(X509 *x, const testpki_spec *spec)
{
	X509_NAME *nm = X509_get_subject_name(x);
	int len;

	if (X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_UTF8,
				       (const unsigned char *)"Rampart Test", -1, -1, 0) != 1) {
		return 0;
	}
	if (spec->cn != NULL) {
		len = spec->cn_len != 0 ? (int)spec->cn_len : -1;
		if (X509_NAME_add_entry_by_NID(nm, NID_commonName, MBSTRING_UTF8,
					       (const unsigned char *)spec->cn, len, -1, 0) != 1) {
			return 0;
		}
	}
	if (spec->extra_cn != NULL &&
	    X509_NAME_add_entry_by_NID(nm, NID_commonName, MBSTRING_UTF8,
				       (const unsigned char *)spec->extra_cn, -1, -1, 0) != 1) {
		return 0;
	}
	return 1;
}

int testpki_issue(testpki_id *out, const testpki_spec *spec, const testpki_id *issuer)
{
	testpki_id id = {NULL, NULL};
	X509 *signer_cert;
	EVP_PKEY *signer_key;
	long nb = spec->not_before != 0 ? spec->not_before : -60;
	long na = spec->not_after != 0 ? spec->not_after : 30L * 86400;
	int rc = -1;

	out->cert = NULL;
	out->key = NULL;
	id.key = EVP_EC_gen("P-256");
	id.cert = X509_new();
	if (id.key == NULL || id.cert == NULL) {
		fail("out of memory or no P-256");
		goto out;
	}
	signer_cert = issuer != NULL ? issuer->cert : id.cert;
	signer_key = issuer != NULL ? issuer->key : id.key;
	if (X509_set_version(id.cert, X509_VERSION_3) != 1 || !random_serial(id.cert) ||
	    X509_gmtime_adj(X509_getm_notBefore(id.cert), nb) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(id.cert), na) == NULL ||
	    X509_set_pubkey(id.cert, id.key) != 1 || !set_subject(id.cert, spec) ||
	    X509_set_issuer_name(id.cert, X509_get_subject_name(signer_cert)) != 1) {
		fail("cannot fill the certificate");
		goto out;
	}
	if (!add_ext(id.cert, signer_cert, NID_subject_key_identifier, "hash") ||
	    !add_ext(id.cert, signer_cert, NID_authority_key_identifier, "keyid:always")) {
		fail("cannot add key identifiers");
		goto out;
	}
	if (spec->ca) {
		if (!add_ext(id.cert, signer_cert, NID_basic_constraints, "critical,CA:TRUE") ||
		    !add_ext(id.cert, signer_cert, NID_key_usage,
			     "critical,keyCertSign,cRLSign,digitalSignature")) {
			fail("cannot add CA extensions");
			goto out;
		}
	} else {
		if (!add_ext(id.cert, signer_cert, NID_basic_constraints, "critical,CA:FALSE") ||
		    !add_ext(id.cert, signer_cert, NID_key_usage, "critical,digitalSignature") ||
		    !add_ext(id.cert, signer_cert, NID_ext_key_usage,
			     spec->server ? "serverAuth" : "clientAuth")) {
			fail("cannot add leaf extensions");
			goto out;
		}
	}
	if (spec->san != NULL && !add_ext(id.cert, signer_cert, NID_subject_alt_name, spec->san)) {
		fail("cannot add subjectAltName");
		goto out;
	}
	if (X509_sign(id.cert, signer_key, EVP_sha256()) <= 0) {
		fail("cannot sign");
		goto out;
	}
	*out = id;
	id.cert = NULL;
	id.key = NULL;
	rc = 0;
out:
	testpki_id_free(&id);
	return rc;
}

/* Opens path for writing with the given mode (umask aside). */
static FILE *open_mode(const char *path, mode_t mode, int append)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), mode);
	FILE *f;

	if (fd < 0) {
		return NULL;
	}
	if (fchmod(fd, mode) != 0) {
		close(fd);
		return NULL;
	}
	f = fdopen(fd, append ? "a" : "w");
	if (f == NULL) {
		close(fd);
	}
	return f;
}

int testpki_write_certs(const char *path, X509 *const *certs, size_t n)
{
	FILE *f = open_mode(path, 0644, 0);
	size_t i;
	int rc = 0;

	if (f == NULL) {
		return fail(path);
	}
	for (i = 0; i < n; i++) {
		if (PEM_write_X509(f, certs[i]) != 1) {
			rc = fail(path);
		}
	}
	if (fclose(f) != 0) {
		rc = fail(path);
	}
	return rc;
}

int testpki_write_key(const char *path, EVP_PKEY *key)
{
	FILE *f = open_mode(path, 0600, 0);
	int rc = 0;

	if (f == NULL) {
		return fail(path);
	}
	if (PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1) {
		rc = fail(path);
	}
	if (fclose(f) != 0) {
		rc = fail(path);
	}
	return rc;
}

int testpki_write_crl(const char *path, const testpki_id *ca, X509 *const *revoked, size_t n,
		      long next_update, int append)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t = NULL;
	FILE *f = NULL;
	size_t i;
	int rc = -1;

	if (next_update == 0) {
		next_update = 7L * 86400;
	}
	t = ASN1_TIME_new();
	if (crl == NULL || t == NULL || X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert)) != 1) {
		fail("cannot make a CRL");
		goto out;
	}
	/* An expired CRL was issued before it ran out. */
	if (X509_gmtime_adj(t, next_update < 0 ? next_update - 3600 : -60) == NULL ||
	    X509_CRL_set1_lastUpdate(crl, t) != 1 || X509_gmtime_adj(t, next_update) == NULL ||
	    X509_CRL_set1_nextUpdate(crl, t) != 1) {
		fail("cannot set CRL dates");
		goto out;
	}
	for (i = 0; i < n; i++) {
		X509_REVOKED *r = X509_REVOKED_new();
		ASN1_INTEGER *sn = ASN1_INTEGER_dup(X509_get0_serialNumber(revoked[i]));
		int ok = r != NULL && sn != NULL && X509_gmtime_adj(t, -30) != NULL &&
			 X509_REVOKED_set_serialNumber(r, sn) == 1 &&
			 X509_REVOKED_set_revocationDate(r, t) == 1;

		ASN1_INTEGER_free(sn);
		if (!ok || X509_CRL_add0_revoked(crl, r) != 1) {
			X509_REVOKED_free(r);
			fail("cannot add a revoked entry");
			goto out;
		}
	}
	if (X509_CRL_sort(crl) != 1 || X509_CRL_sign(crl, ca->key, EVP_sha256()) <= 0) {
		fail("cannot sign the CRL");
		goto out;
	}
	f = open_mode(path, 0644, append);
	if (f == NULL || PEM_write_X509_CRL(f, crl) != 1) {
		fail(path);
		goto out;
	}
	rc = 0;
out:
	if (f != NULL && fclose(f) != 0) {
		rc = fail(path);
	}
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	return rc;
}

const char *testpki_path(const testpki_fleet *f, const char *file, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s/%s", f->dir, file);

	return n < 0 || (size_t)n >= cap ? NULL : buf;
}

int testpki_fleet_add(testpki_fleet *f, const char *stem, const testpki_spec *spec,
		      const testpki_id *issuer, testpki_id *out)
{
	char file[64], path[512];

	if (testpki_issue(out, spec, issuer != NULL ? issuer : &f->ca) != 0) {
		return -1;
	}
	snprintf(file, sizeof(file), "%s.crt", stem);
	if (testpki_path(f, file, path, sizeof(path)) == NULL ||
	    testpki_write_certs(path, &out->cert, 1) != 0) {
		return -1;
	}
	snprintf(file, sizeof(file), "%s.key", stem);
	if (testpki_path(f, file, path, sizeof(path)) == NULL ||
	    testpki_write_key(path, out->key) != 0) {
		return -1;
	}
	return 0;
}

int testpki_fleet_new(testpki_fleet *f)
{
	const char *tmp = getenv("TMPDIR");
	testpki_spec ca = {.cn = "Rampart Test Fleet CA", .ca = 1, .not_after = 365L * 86400};
	testpki_spec other = {.cn = "Other CA", .ca = 1, .not_after = 365L * 86400};
	testpki_spec server = {.cn = "localhost", .san = "DNS:localhost,IP:127.0.0.1", .server = 1};
	testpki_spec dev1 = {.cn = "dev-0001"};
	testpki_spec dev2 = {.cn = "dev-0002"};
	testpki_spec svc = {.cn = "svc-ingest", .san = "URI:urn:rampart:role:ingest"};
	testpki_spec expired = {
		.cn = "dev-expired", .not_before = -10L * 86400, .not_after = -86400};
	testpki_spec revoked = {.cn = "dev-revoked"};
	testpki_spec slash = {.cn = "dev/0001"};
	char path[512];

	memset(f, 0, sizeof(*f));
	if (tmp == NULL || tmp[0] == '\0') {
		tmp = "/tmp";
	}
	snprintf(f->dir, sizeof(f->dir), "%s/rp-testpki-XXXXXX", tmp);
	if (mkdtemp(f->dir) == NULL) {
		f->dir[0] = '\0';
		return fail("mkdtemp");
	}
	if (testpki_issue(&f->ca, &ca, NULL) != 0 ||
	    testpki_write_certs(testpki_path(f, "ca.crt", path, sizeof(path)), &f->ca.cert, 1) ||
	    testpki_write_key(testpki_path(f, "ca.key", path, sizeof(path)), f->ca.key) ||
	    testpki_issue(&f->other_ca, &other, NULL) != 0 ||
	    testpki_write_certs(testpki_path(f, "other-ca.crt", path, sizeof(path)),
				&f->other_ca.cert, 1) ||
	    testpki_write_key(testpki_path(f, "other-ca.key", path, sizeof(path)),
			      f->other_ca.key)) {
		return -1;
	}
	if (testpki_fleet_add(f, "server", &server, NULL, &f->server) ||
	    testpki_fleet_add(f, "dev-0001", &dev1, NULL, &f->device) ||
	    testpki_fleet_add(f, "dev-0002", &dev2, NULL, &f->device2) ||
	    testpki_fleet_add(f, "svc-ingest", &svc, NULL, &f->service) ||
	    testpki_fleet_add(f, "dev-expired", &expired, NULL, &f->expired) ||
	    testpki_fleet_add(f, "dev-revoked", &revoked, NULL, &f->revoked) ||
	    testpki_fleet_add(f, "dev-slash", &slash, NULL, &f->bad_cn) ||
	    testpki_fleet_add(f, "dev-other", &dev1, &f->other_ca, &f->other_device)) {
		return -1;
	}
	return testpki_write_crl(testpki_path(f, "crl.pem", path, sizeof(path)), &f->ca,
				 &f->revoked.cert, 1, 0, 0);
}

void testpki_fleet_free(testpki_fleet *f)
{
	testpki_id *all[] = {&f->ca,      &f->server,  &f->device, &f->device2,  &f->service,
			     &f->expired, &f->revoked, &f->bad_cn, &f->other_ca, &f->other_device};
	struct dirent *de;
	char path[512];
	size_t i;
	DIR *d;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		testpki_id_free(all[i]);
	}
	if (f->dir[0] == '\0') {
		return;
	}
	d = opendir(f->dir);
	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
			    testpki_path(f, de->d_name, path, sizeof(path)) != NULL) {
				unlink(path);
			}
		}
		closedir(d);
	}
	rmdir(f->dir);
	f->dir[0] = '\0';
}
