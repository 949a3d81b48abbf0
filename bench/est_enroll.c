/*
 * bench/est_enroll.c - rp-est-bench: how many EST enrollments per second
 * rampartd's enrollment path does, below HTTP: the CSR gate
 * (rp_pki_csr_parse: base64, DER, key checks, proof-of-possession
 * signature), the device certificate (rp_pki_device_cert_new: ECDSA P-256
 * signature), its fingerprint and certs-only PKCS#7 in base64, and the
 * store's one-transaction enrollment (rp_store_enroll: token use counted,
 * device row, certificate row), exactly as server/api/h_est.c calls them.
 *
 *   rp-est-bench [--seconds S] [--threads T] [--store URL]
 *
 * Phase 1 ("cpu"): everything but the store, T threads. Phase 2
 * ("enroll"): the same plus rp_store_enroll, T threads (each waits for its
 * commit, as an HTTP worker does; concurrent ones share a group commit).
 * The store defaults to a fresh SQLite file in $TMPDIR (synchronous=FULL:
 * every commit is an fsync). Prints one line per phase, then a JSON line
 * that bench/est-enroll reads. CSRs (P-256, one key each) are made before
 * the clock starts and used round robin; each enrollment gets its own
 * random serial. Nothing is sent over the network: the HTTP and TLS costs
 * are not in these numbers (docs/est.md gives their share).
 */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/secret.h"
#include "pki/pki.h"
#include "store/store.h"
#include "util/log.h"

#define NCSR       256
#define MAX_THREAD 64

typedef struct bench {
	rp_store *st; /* NULL: phase 1 */
	rp_pki_signer *ca;
	uint8_t *csr[NCSR];
	size_t csr_len[NCSR];
	char token_hash[RP_SHA256_HEX_LEN + 1u];
	double until;
	atomic_ulong done;
	atomic_ulong failed;
	atomic_uint next;
} bench;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int die(const char *what)
{
	fprintf(stderr, "rp-est-bench: %s\n", what);
	return 1;
}

/* A P-256 key and a CSR for CN=id, base64 of DER as an EST client sends it. */
static int make_csr(const char *id, uint8_t **out, size_t *len)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509_REQ *req = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	unsigned char *der = NULL;
	int dlen, ok = 0;

	if (k == NULL || req == NULL || n == NULL ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)id, -1, -1,
				       0) != 1 ||
	    X509_REQ_set_subject_name(req, n) != 1 || X509_REQ_set_pubkey(req, k) != 1 ||
	    X509_REQ_sign(req, k, EVP_sha256()) <= 0 || (dlen = i2d_X509_REQ(req, &der)) <= 0) {
		goto out;
	}
	*out = malloc(4u * ((size_t)dlen / 3u + 1u) + 1u);
	if (*out == NULL) {
		goto out;
	}
	*len = (size_t)EVP_EncodeBlock(*out, der, dlen);
	ok = 1;
out:
	OPENSSL_free(der);
	X509_NAME_free(n);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
	return ok;
}

static int64_t not_after_ms(const X509 *x)
{
	ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
	int days = 0, secs = 0;
	int64_t ms = -1;

	if (epoch != NULL && ASN1_TIME_diff(&days, &secs, epoch, X509_get0_notAfter(x)) == 1) {
		ms = ((int64_t)days * 86400 + secs) * 1000;
	}
	ASN1_TIME_free(epoch);
	return ms;
}

/* One enrollment, as h_est.c makes it. */
static int enroll_one(bench *b, unsigned i)
{
	rp_pki_device_profile prof = {"bench", 0};
	char serial[RP_PKI_SERIAL_HEX_SIZE], sha[RP_PKI_SHA256_HEX_SIZE];
	uint8_t p7[4096];
	size_t p7_len = 0;
	rp_pki_csr *csr = NULL;
	X509 *cert = NULL;
	rp_store_enrollment e;
	int64_t now = (int64_t)time(NULL);
	int ok = 0;

	if (rp_pki_csr_parse(b->csr[i % NCSR], b->csr_len[i % NCSR], RP_PKI_CSR_BASE64, NULL, &csr,
			     NULL) != RP_OK ||
	    rp_pki_device_cert_new(b->ca, csr, &prof, now, &cert, NULL) != RP_OK ||
	    rp_pki_cert_serial_hex(cert, serial, sizeof(serial)) != RP_OK ||
	    rp_pki_cert_sha256_hex(cert, sha, sizeof(sha)) != RP_OK ||
	    rp_pki_est_certs_base64(&cert, 1, p7, sizeof(p7), &p7_len) != RP_OK) {
		goto out;
	}
	if (b->st != NULL) {
		memset(&e, 0, sizeof(e));
		e.device_id = rp_pki_csr_device_id(csr);
		e.token_hash = b->token_hash;
		e.cert.serial = serial;
		e.cert.fingerprint = sha;
		e.cert.not_after_ms = not_after_ms(cert);
		e.now_ms = now * 1000;
		if (rp_store_enroll(b->st, &e, NULL, NULL) != RP_OK) {
			goto out;
		}
	}
	ok = 1;
out:
	rp_pki_csr_free(csr);
	X509_free(cert);
	ERR_clear_error();
	return ok;
}

static void *worker(void *arg)
{
	bench *b = arg;

	while (now_s() < b->until) {
		unsigned i = atomic_fetch_add(&b->next, 1u);

		if (enroll_one(b, i)) {
			atomic_fetch_add(&b->done, 1u);
		} else {
			atomic_fetch_add(&b->failed, 1u);
		}
	}
	return NULL;
}

static double phase(bench *b, unsigned threads, double seconds, unsigned long *failed)
{
	pthread_t th[MAX_THREAD];
	double t0 = now_s(), t1;

	atomic_store(&b->done, 0);
	atomic_store(&b->failed, 0);
	b->until = t0 + seconds;
	for (unsigned i = 0; i < threads; i++) {
		pthread_create(&th[i], NULL, worker, b);
	}
	for (unsigned i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
	}
	t1 = now_s();
	*failed = atomic_load(&b->failed);
	return (double)atomic_load(&b->done) / (t1 - t0);
}

int main(int argc, char **argv)
{
	rp_pki_ca_profile rootp = {"bench root", NULL, 0}, issp = {"bench issuing", NULL, 0};
	const char *url = NULL, *tmp = getenv("TMPDIR");
	char dir[256] = "", urlbuf[320], id[32];
	double seconds = 5.0, cpu, full;
	unsigned threads = 2;
	unsigned long f1 = 0, f2 = 0;
	EVP_PKEY *rk = NULL, *ik = NULL;
	X509 *root = NULL, *iss = NULL;
	rp_pki_signer *rs = NULL;
	rp_store_enroll_token t;
	rp_token tok;
	static bench b;
	int64_t now = (int64_t)time(NULL);

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--seconds") == 0) {
			seconds = atof(argv[i + 1]);
		} else if (strcmp(argv[i], "--threads") == 0) {
			threads = (unsigned)atoi(argv[i + 1]);
		} else if (strcmp(argv[i], "--store") == 0) {
			url = argv[i + 1];
		} else {
			return die("usage: rp-est-bench [--seconds S] [--threads T] [--store URL]");
		}
	}
	if (threads < 1 || threads > MAX_THREAD || seconds <= 0) {
		return die("--threads 1..64, --seconds > 0");
	}
	rp_log_set_level(RP_LOG_WARN);
	if (url == NULL) {
		snprintf(dir, sizeof(dir), "%s/rp-est-bench-XXXXXX", tmp != NULL ? tmp : "/tmp");
		if (mkdtemp(dir) == NULL) {
			return die("mkdtemp");
		}
		snprintf(urlbuf, sizeof(urlbuf), "sqlite:%s/bench.db", dir);
		url = urlbuf;
	}
	if (rp_pki_key_generate(RP_PKI_EC_P256, &rk) != RP_OK ||
	    rp_pki_key_generate(RP_PKI_EC_P256, &ik) != RP_OK ||
	    rp_pki_root_ca_new(rk, &rootp, now, &root, NULL) != RP_OK ||
	    rp_pki_signer_new(root, rk, &rs, NULL) != RP_OK ||
	    rp_pki_issuing_ca_new(rs, ik, &issp, now, &iss, NULL) != RP_OK ||
	    rp_pki_signer_new(iss, ik, &b.ca, NULL) != RP_OK) {
		return die("cannot make the CAs");
	}
	for (int i = 0; i < NCSR; i++) {
		snprintf(id, sizeof(id), "bench-%04d", i);
		if (!make_csr(id, &b.csr[i], &b.csr_len[i])) {
			return die("cannot make the CSRs");
		}
	}
	if (rp_store_open(url, NULL, &b.st) != RP_OK ||
	    rp_token_new(RP_TOKEN_ENROLL, &tok) != RP_OK ||
	    rp_token_hash_hex((const uint8_t *)tok.text, RP_TOKEN_LEN, RP_TOKEN_ENROLL,
			      b.token_hash) != RP_OK) {
		return die("cannot open the store");
	}
	memset(&t, 0, sizeof(t));
	t.id = "bench";
	t.token_hash = b.token_hash;
	t.device = "bench-";
	t.prefix = 1;
	t.max_uses = RP_LIMIT_EST_TOKEN_USES;
	t.model = "";
	t.created_by = "bench";
	t.created_ms = now * 1000;
	t.expires_ms = (now + 86400) * 1000;
	if (rp_store_enroll_token_create(b.st, &t, NULL, NULL) != RP_OK) {
		return die("cannot make the token");
	}

	{
		rp_store *st = b.st;

		b.st = NULL;
		cpu = phase(&b, threads, seconds, &f1);
		b.st = st;
	}
	printf("cpu     %8.0f enrollments/s (%u threads: CSR gate, certificate, PKCS#7)\n", cpu,
	       threads);
	full = phase(&b, threads, seconds, &f2);
	printf("enroll  %8.0f enrollments/s (%u threads: the same and the store, %s)\n", full,
	       threads, rp_store_backend(b.st));
	printf("{\"cpu_per_s\": %.1f, \"enroll_per_s\": %.1f, \"threads\": %u, \"store\": \"%s\", "
	       "\"failed\": %lu}\n",
	       cpu, full, threads, rp_store_backend(b.st), f1 + f2);
	rp_store_close(b.st);
	rp_token_wipe(&tok);
	rp_pki_signer_free(b.ca);
	rp_pki_signer_free(rs);
	X509_free(root);
	X509_free(iss);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(ik);
	for (int i = 0; i < NCSR; i++) {
		free(b.csr[i]);
	}
	if (dir[0] != '\0') {
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0) {
			fprintf(stderr, "rp-est-bench: could not remove %s\n", dir);
		}
	}
	return f1 + f2 == 0 ? 0 : 1;
}
