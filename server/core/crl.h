/*
 * server/core/crl.h - revoking a device, and the CRL of the issuing CA that
 * rampartd keeps current. docs/pki.md ("Revocation") is the long form.
 *
 * Two parts:
 * - rp_crl_revoke_device(): what revoking a device is in the store (every
 *   certificate of it revoked, with a reason, then its status, then one
 *   audit entry). The REST API (POST /api/v1/devices/{id}/revoke) and the
 *   CLI (`rampart device revoke`) both call it; neither has its own copy.
 * - rp_crl: the issuing CA's CRL (pki.issuing_cert), made with
 *   rp_pki_crl_new() from every revoked, unexpired certificate of the
 *   store, with a cRLNumber that the store keeps growing
 *   (rp_store_crl_number_next()), written atomically (temporary file,
 *   fsync, rename, fsync of the directory) as PEM to the file the device
 *   listener loads (rp_tls_opts.own_crl_file), and kept in memory as DER
 *   for GET /crl.
 *
 * Conventions
 * - Threads: rp_crl_revoke_device(), rp_crl_open() and rp_crl_refresh()
 *   call the store synchronously, so they MUST NOT run on an event loop
 *   (start-up, an HTTP worker, rampartd's revocation thread and the CLI
 *   are fine). Refreshes are serialised by the object. rp_crl_current(),
 *   rp_crl_resign_at() and rp_crl_info_get() may be called from any thread
 *   at any time.
 * - Ownership: rp_crl_open() copies the paths it is given; the store is
 *   borrowed and MUST outlive the object. Buffers returned through
 *   `uint8_t **` are the caller's (rp_free(NULL, p)).
 * - The issuing key: from server/pki/issuer.h, the one loader of it (the
 *   same one the EST service uses). rampartd passes the issuer it shares
 *   with the API (rp_crl_opts.issuer: a key file or a PKCS#11 token),
 *   which MUST outlive the rp_crl; without one, rp_crl_open() loads the
 *   key files of the options through that loader and rp_crl_close()
 *   frees them. Nothing secret is logged or written to err.
 * - Time: `now` arguments are Unix seconds (UTC), `now_ms` milliseconds.
 * - Errors: err (if non-NULL and err_cap > 0) receives a reason naming the
 *   file or the key, safe to log.
 */
#ifndef RP_SERVER_CORE_CRL_H
#define RP_SERVER_CORE_CRL_H

#include <stddef.h>
#include <stdint.h>

#include "pki/issuer.h"
#include "pki/pki.h"
#include "rampart/status.h"
#include "store/store.h"

/* ------------------------------------------------------------------------
 * Revocation reasons (RFC 5280 5.3.1 CRLReason)
 * ------------------------------------------------------------------------ */

/*
 * The RFC 5280 name of a reason code ("keyCompromise", "superseded", ...;
 * "none" for RP_PKI_REASON_NONE), or NULL for a value that is no code.
 */
const char *rp_crl_reason_name(int reason);

/*
 * The code of an RFC 5280 reason name, case as the RFC writes it
 * ("unspecified", "keyCompromise", "cACompromise", "affiliationChanged",
 * "superseded", "cessationOfOperation", "certificateHold",
 * "privilegeWithdrawn", "aACompromise"). Returns RP_OK with *reason, or
 * RP_E_INVALID_ARG (any other text; NULL).
 */
rp_status rp_crl_reason_parse(const char *name, int *reason);

/* ------------------------------------------------------------------------
 * Revoking a device
 * ------------------------------------------------------------------------ */

/* Who revokes: the audit entry's actor, source and (optional) API token. */
typedef struct rp_crl_actor {
	const char *actor;  /* operator name, "cli", ...; NULL: "anonymous" */
	const char *source; /* an address, "local"; NULL: "" */
	const char *token;  /* the API token id that authenticated it, or NULL */
} rp_crl_actor;

/* What rp_crl_revoke_device() did. */
typedef struct rp_crl_revocation {
	rp_store_device_status was; /* the device's status before (0 if not found) */
	size_t certificates;        /* certificates of the device, all revoked now */
	rp_status audit;            /* RP_OK, or why the audit entry was not written */
} rp_crl_revocation;

/*
 * Revokes device `id` at now_ms for `reason` (RP_PKI_REASON_*, NONE
 * allowed), in this order: every certificate of the device (already
 * revoked ones keep their first time and reason), then the device's
 * status; so a failure half-way leaves revoked certificates of a device
 * that is not marked revoked yet, never a "revoked" device with a valid
 * certificate. Revocation is terminal. Then appends the audit entry
 * "device.revoke" (target id, detail {"from": old status, "certificates":
 * N, "reason": name if given, "token": id if given}); its outcome is in
 * out->audit and does not change the return value (the revocation
 * committed). Telling rampartd (bans, CRL) is the caller's part.
 * Returns RP_OK; RP_E_INVALID_ARG (NULL, reason); RP_E_NOT_FOUND (no such
 * device); RP_E_STATE (the device is revoked or decommissioned already:
 * out->was says which; nothing changed); or the store's error.
 */
rp_status rp_crl_revoke_device(rp_store *st, const char *id, int reason, int64_t now_ms,
			       const rp_crl_actor *who, rp_crl_revocation *out);

/* ------------------------------------------------------------------------
 * The issuing CA's CRL
 * ------------------------------------------------------------------------ */

typedef struct rp_crl rp_crl;

typedef struct rp_crl_opts {
	/* The issuing CA and its key, loaded by the caller (borrowed: close it
	 * after rp_crl_close()); its certificate must have cRLSign. NULL: the
	 * three files below are loaded (rp_pki_issuer_open(), a key file). */
	const rp_pki_issuer *issuer;
	const char *issuing_cert;     /* PEM, the first certificate: a CA with cRLSign */
	const char *issuing_key;      /* encrypted PKCS#8 (rp_pki_key_load) */
	const char *issuing_key_pass; /* a file holding its passphrase (mode 0600) */
	const char *path;             /* the CRL file (PEM) to maintain */
	/* nextUpdate - thisUpdate, seconds; 0: RP_DEFAULT_PKI_CRL_NEXT_UPDATE_S.
	 * Within [RP_LIMIT_PKI_CRL_NEXT_UPDATE_MIN_S, RP_LIMIT_PKI_CRL_NEXT_UPDATE_S]. */
	int64_t next_update_s;
	/* tls.crl, or NULL: refused if it holds a CRL of the issuing CA (two
	 * CRLs of one issuer: OpenSSL would use either). */
	const char *other_crl_file;
} rp_crl_opts;

/*
 * Takes the issuer (or loads the issuing CA and its key: the same loader
 * and rules as the EST service), and reads the CRL file if there is one: a CRL of this issuer
 * there raises the floor of the next cRLNumber to its number plus one (a
 * store restored from an older backup cannot make numbers go back).
 * Makes no CRL: call rp_crl_refresh(). Returns RP_OK and *out;
 * RP_E_INVALID_ARG (NULL, neither issuer nor the three files, next_update_s
 * out of range); RP_E_CONFIG (a file missing or unusable, the key not the
 * certificate's, a CA without cRLSign, other_crl_file holding this
 * issuer's CRL); RP_E_AUTH (wrong passphrase); RP_E_NOMEM.
 */
rp_status rp_crl_open(const rp_crl_opts *o, rp_store *store, rp_crl **out, char *err,
		      size_t err_cap);

/* Frees everything (the key included). NULL is allowed. */
void rp_crl_close(rp_crl *c);

/*
 * Makes a new CRL at now: every revoked certificate of the store whose
 * notAfter has not passed (expired ones leave the list), the next
 * cRLNumber, thisUpdate now, nextUpdate now + next_update_s. Writes it to
 * the file (PEM, mode 0644, atomically: readers see the old file or the
 * new one, never a part) and makes it the current one. On failure the
 * current CRL and the file stay as they were. Returns RP_OK; RP_E_IO
 * (the file); RP_E_LIMIT (more than RP_LIMIT_PKI_CRL_ENTRIES revoked
 * certificates); RP_E_STATE (the issuing CA is not valid at now); the
 * store's error; RP_E_CRYPTO; RP_E_NOMEM.
 */
rp_status rp_crl_refresh(rp_crl *c, int64_t now, char *err, size_t err_cap);

/* The current CRL, as GET /crl and the logs describe it. */
typedef struct rp_crl_info {
	uint64_t number;     /* cRLNumber; 0: no CRL made yet */
	int64_t this_update; /* Unix seconds */
	int64_t next_update;
	size_t entries;
} rp_crl_info;

/*
 * A copy of the current CRL, DER, in a new buffer (*der, rp_free) of *len
 * bytes, and its info (may be NULL). Returns RP_OK; RP_E_STATE (no CRL
 * made yet); RP_E_NOMEM.
 */
rp_status rp_crl_current(rp_crl *c, uint8_t **der, size_t *len, rp_crl_info *info);

/* The current CRL's info (all zero before the first refresh). */
void rp_crl_info_get(rp_crl *c, rp_crl_info *info);

/*
 * When the current CRL should be re-signed, Unix seconds: half-way from
 * thisUpdate to nextUpdate, so a CRL never gets near its expiry (every
 * handshake fails once it has expired: fail closed). 0 before the first
 * refresh (re-sign now).
 */
int64_t rp_crl_resign_at(rp_crl *c);

/* The CRL file's path (as given). */
const char *rp_crl_path(const rp_crl *c);

/*
 * 1 if the PEM bundle at ca_file holds the issuing CA certificate (the
 * device listener can then check the CRL: its issuer must be in tls.ca),
 * else 0 (also when the file cannot be read).
 */
int rp_crl_issuer_in_bundle(const rp_crl *c, const char *ca_file);

/* ------------------------------------------------------------------------
 * Building blocks, exposed for the unit tests
 * ------------------------------------------------------------------------ */

/*
 * A serial as the store keeps it (1 .. 40 hex digits, either case, maybe
 * odd-length or with leading zero octets when another tool recorded it)
 * into the canonical form rp_pki_crl_new() takes: lower case, even
 * length, no leading 00 octet. out needs RP_PKI_SERIAL_HEX_SIZE bytes.
 * Returns RP_OK; RP_E_MALFORMED (empty, not hex, too long, or zero: no
 * certificate has it, so no CRL can list it).
 */
rp_status rp__crl_serial_canon(const char *in, char out[RP_PKI_SERIAL_HEX_SIZE]);

/*
 * A list of CRL entries built from store rows: the entries and the
 * canonical serials they point to. Zero-initialise; free with
 * rp__crl_list_free().
 */
typedef struct rp__crl_list {
	rp_pki_revoked *v;
	char (*serials)[RP_PKI_SERIAL_HEX_SIZE];
	size_t n, cap;
	size_t skipped; /* rows whose serial no CRL can hold (rp__crl_serial_canon) */
} rp__crl_list;

/*
 * Appends rows[0 .. n) (revoked certificates) at now (Unix seconds): the
 * revocation time in seconds, never after now (a clock ahead elsewhere
 * must not make the whole CRL invalid) nor 0 (now then), the reason as
 * stored (an unknown one becomes NONE). Returns RP_OK; RP_E_LIMIT (the
 * list would pass RP_LIMIT_PKI_CRL_ENTRIES); RP_E_NOMEM.
 */
rp_status rp__crl_list_add(rp__crl_list *l, const rp_store_cert *rows, size_t n, int64_t now);

void rp__crl_list_free(rp__crl_list *l);

/*
 * Writes buf[0 .. len) to path atomically: path.tmp (mode `mode`, not
 * following a link), fsync, rename over path, fsync of the directory.
 * Returns RP_OK or RP_E_IO (err set; the temporary file removed).
 */
rp_status rp__crl_write_atomic(const char *path, const void *buf, size_t len, unsigned mode,
			       char *err, size_t err_cap);

#endif /* RP_SERVER_CORE_CRL_H */
