/*
 * server/api/binding.h - tls-exporter channel bindings of the HTTPS
 * listener's connections, for EST (binding.c has the implementation notes).
 *
 * Conventions
 * - One table per listener: made with rp__api_binding_new(), installed on
 *   its SSL_CTX before it accepts (rp__api_binding_install), freed after
 *   the listener stopped. Thread-safe: handshakes file entries and handlers
 *   check them from any worker thread.
 */
#ifndef RP_SERVER_API_BINDING_H
#define RP_SERVER_API_BINDING_H

#include <stddef.h>
#include <stdint.h>

/* RFC 9266: 32 bytes of the TLS 1.3 exporter "EXPORTER-Channel-Binding". */
#define RP__API_BINDING_LEN 32u
/* Connection objects remembered; CivetWeb has one per worker thread. */
#define RP__API_BINDING_SLOTS 1024u

typedef struct rp__api_binding rp__api_binding;

/* NULL when out of memory. */
rp__api_binding *rp__api_binding_new(void);

/* Files every TLS 1.3 connection's exporter once its handshake is done,
 * keeping CivetWeb's own info callback. 1 on success, 0 on failure. */
int rp__api_binding_install(rp__api_binding *b, void *ssl_ctx);

/*
 * Compares text[0 .. len) (a CSR's challengePassword) with the base64 of
 * the exporter of the connection conn (the handler's mg_connection) from
 * the client port port, in constant time. Returns 1 (the same), 0 (not the
 * same), -1 (no exporter for that connection: TLS 1.2, or the table was
 * full: unverifiable).
 */
int rp__api_binding_check(rp__api_binding *b, const void *conn, uint16_t port, const char *text,
			  size_t len);

/* Wipes and frees. NULL: nothing. */
void rp__api_binding_free(rp__api_binding *b);

#endif /* RP_SERVER_API_BINDING_H */
