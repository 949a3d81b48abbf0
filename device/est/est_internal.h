/*
 * device/est/est_internal.h - the EST client's pure parts, for its tests
 * and its fuzz target (tests/fuzz/fuzz_est_response.c).
 */
#ifndef RP_DEVICE_EST_INTERNAL_H
#define RP_DEVICE_EST_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "rampart/status.h"

/* RFC 9266: the tls-exporter channel binding of TLS 1.3. */
#define RP__EST_EXPORTER_LABEL "EXPORTER-Channel-Binding"
#define RP__EST_EXPORTER_LEN   32u

/*
 * An EST certs-only response body (RFC 7030 4.1.3, 4.2.3): base64 (lines
 * of any length, LF or CRLF, surrounding white space allowed) of a DER
 * PKCS#7 SignedData, every byte of it attacker-controlled. *out gets its
 * certificates, in order, at least one. Nothing is verified here. Returns
 * RP_OK; RP_E_MALFORMED (not base64, not one DER PKCS#7 SignedData,
 * trailing bytes, no certificate); RP_E_TOO_LARGE (len over
 * RP_EST_MAX_RESPONSE); RP_E_NOMEM.
 */
rp_status rp__est_parse_certs(const uint8_t *body, size_t len, STACK_OF(X509) * *out);

/* The value of challengePassword for an exporter value: its base64, NUL
 * terminated, in out (at least 45 bytes). */
void rp__est_binding_text(const uint8_t exporter[RP__EST_EXPORTER_LEN], char out[45]);

#endif /* RP_DEVICE_EST_INTERNAL_H */
