/*
 * h_crl.c - GET /crl: the issuing CA's CRL, for anyone.
 *
 * Implementation notes
 * - Outside /api/v1 and its JSON pipeline (api.c's serve() sends the path
 *   here), like EST: a CRL is public by design (RFC 5280 5: signed, so its
 *   transport needs no protection), read by relying parties and caches
 *   that hold no credential; errors are text/plain. The path is short and
 *   fixed so it can become a CRL distribution point URL later
 *   (https://<server>:8443/crl).
 * - The body comes from opts->crl (rampartd: server/core/crl.h), a copy of
 *   the CRL that rampartd re-signs at every revocation and well before
 *   its nextUpdate. RFC 5280 4.2.1.13 / RFC 2585: DER, application/pkix-crl.
 * - Caching: the cRLNumber is the ETag (If-None-Match answers 304), and
 *   thisUpdate is Last-Modified. max-age is short (a minute, never past
 *   nextUpdate) because a revocation makes a new CRL at once and a cache
 *   must not hide it for long; this is the one response of the listener
 *   that may be cached at all (every other says no-store).
 * - Attacker: anyone on the network. Nothing of the request is used but
 *   the method, the absence of a query and body, and If-None-Match,
 *   compared with a short string of ours.
 */
#include <civetweb.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/internal.h"
#include "util/alloc.h"

#define PKIX_CRL "application/pkix-crl"
/* Longest a cache may keep a CRL without asking again, seconds. */
#define CRL_MAX_AGE_S 60

void rp__api_crl_serve(rp__api_req *r, const struct mg_request_info *ri)
{
	const char *path = ri->local_uri != NULL ? ri->local_uri : "";
	int code;

	if (rp__api_method_parse(ri->request_method, &r->method) != RP_OK) {
		rp__api_header(r, "Allow: GET");
		rp__api_fail_text(r, 405, "the CRL is read with GET");
		return;
	}
	code = rp__api_est_route_find(r->method, path, strlen(path), &r->match);
	if (code != 200) {
		rp__api_header(r, "Allow: GET");
		rp__api_fail_text(r, code == 404 ? 404 : 405, "the CRL is read with GET");
		return;
	}
	if (ri->query_string != NULL && ri->query_string[0] != '\0') {
		rp__api_fail_text(r, 400, "GET /crl takes no query string");
		return;
	}
	if (ri->content_length > 0 || mg_get_header(r->conn, "Transfer-Encoding") != NULL) {
		rp__api_fail_text(r, 400, "GET /crl takes no body");
		return;
	}
	r->match.route->handler(r);
}

/* 1 if the If-None-Match list names etag (or is "*"); weak tags count (RFC 9110 13.1.2). */
static int none_match(const char *hdr, const char *etag)
{
	size_t elen = strlen(etag);

	while (hdr != NULL && *hdr != '\0') {
		const char *end;
		size_t n;

		while (*hdr == ' ' || *hdr == '\t' || *hdr == ',') {
			hdr++;
		}
		end = strchr(hdr, ',');
		n = end != NULL ? (size_t)(end - hdr) : strlen(hdr);
		while (n > 0 && (hdr[n - 1u] == ' ' || hdr[n - 1u] == '\t')) {
			n--;
		}
		if (n == 1 && hdr[0] == '*') {
			return 1;
		}
		if (n >= 2 && hdr[0] == 'W' && hdr[1] == '/') {
			hdr += 2;
			n -= 2;
		}
		if (n == elen && memcmp(hdr, etag, n) == 0) {
			return 1;
		}
		hdr = end;
	}
	return 0;
}

void rp__api_h_crl(rp__api_req *r)
{
	char etag[32], date[64];
	rp_api_crl c;
	struct tm tm;
	time_t t;
	int64_t age;
	rp_status st;

	st = rp__api_crl_get(r, &c);
	if (st == RP_E_NOT_FOUND) {
		rp__api_fail_text(
			r, 503,
			"this server makes no CRL: it has no issuing CA (pki.issuing_cert)");
		return;
	}
	if (st != RP_OK) {
		rp__api_header(r, "Retry-After: 1");
		rp__api_fail_text(r, 503, "no CRL is available now; try again");
		return;
	}
	(void)snprintf(etag, sizeof(etag), "\"%" PRIu64 "\"", c.number);
	t = (time_t)c.this_update;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0) {
		date[0] = '\0';
	}
	age = c.next_update - (int64_t)time(NULL);
	if (age > CRL_MAX_AGE_S) {
		age = CRL_MAX_AGE_S;
	}
	if (age < 0) {
		age = 0;
	}
	rp__api_header(r, "ETag: %s", etag);
	if (date[0] != '\0') {
		rp__api_header(r, "Last-Modified: %s", date);
	}
	rp__api_header(r, "Cache-Control: public, max-age=%lld, no-transform", (long long)age);
	if (none_match(mg_get_header(r->conn, "If-None-Match"), etag)) {
		rp__api_reply_raw(r, 304, NULL, NULL, 0);
	} else {
		rp__api_reply_raw(r, 200, PKIX_CRL, c.der, c.len);
	}
	rp_free(NULL, c.der);
}
