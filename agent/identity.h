/*
 * agent/identity.h - the device's key, certificate and TLS context
 * (identity.c).
 */
#ifndef RP_AGENT_IDENTITY_H
#define RP_AGENT_IDENTITY_H

#include "agent.h"

typedef struct agent_identity {
	const agent_config *c;
	rp_keystore *ks;
	X509 *cert;             /* NULL until enrolled */
	STACK_OF(X509) * chain; /* the CA certificates between it and the root */
	char cert_path[AGENT_PATH_MAX + 16];
	int64_t renew_at; /* Unix seconds */
} agent_identity;

/* Opens the keystore, generating the device key in it the first time. */
rp_status agent_identity_open(agent_identity *id, const agent_config *c);

/* A usable certificate: the stored one if it is ours and valid, else one
 * enrolled now with the token. Statuses of rp_est_enroll; RP_E_CONFIG. */
rp_status agent_identity_ready(agent_identity *id);

/* Enrolls (renew 0, with the token) or renews (1, with the certificate). */
rp_status agent_identity_enroll(agent_identity *id, int renew);

/* Sets renew_at: rp_est_renew_at (2/3 of the lifetime, with jitter), or
 * renew.interval after it was obtained if sooner; fresh: obtained now. */
void agent_identity_schedule(agent_identity *id, int fresh);

/* A TLS client context of the root, the certificate and the key. */
rp_status agent_identity_tls(agent_identity *id, rp_tlsc_ctx **out);

/* notAfter of the certificate, Unix seconds (0: none). */
int64_t agent_identity_not_after(const agent_identity *id);

void agent_identity_close(agent_identity *id);

#endif /* RP_AGENT_IDENTITY_H */
