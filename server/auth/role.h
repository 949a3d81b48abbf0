/*
 * server/auth/role.h - operator roles and what each may do.
 *
 * Model
 * - Four roles, fixed: viewer, operator, admin, auditor. An operator has
 *   one role; an API token has one role, which its creator's role must
 *   cover (rp_role_covers), so a token never holds more than its maker.
 * - Permissions are coarse verbs on the objects of the REST API. The REST
 *   layer maps every route to exactly one rp_perm and asks
 *   rp_role_allows(); a route without a permission is a bug, not "open".
 * - Default deny: an unknown role or permission value allows nothing.
 * - The matrix (docs/operators.md has the same table):
 *     viewer    read devices, telemetry, alerts; SELF
 *     operator  viewer + device commands, device tags and status
 *               (quarantine included), acknowledge alerts
 *     auditor   every READ permission (audit log included); SELF
 *     admin     everything
 *   SELF is what every signed-in operator may do to their own account:
 *   change their password, enrol or replace their TOTP, list and end their
 *   sessions.
 *
 * Conventions
 * - No allocation, no state: safe from any thread.
 */
#ifndef RP_SERVER_AUTH_ROLE_H
#define RP_SERVER_AUTH_ROLE_H

#include <stddef.h>
#include <stdint.h>

#include "rampart/status.h"

typedef enum rp_role {
	RP_ROLE_VIEWER = 0,
	RP_ROLE_OPERATOR,
	RP_ROLE_ADMIN,
	RP_ROLE_AUDITOR,
	RP_ROLE_COUNT_ /* not a role */
} rp_role;

typedef enum rp_perm {
	RP_PERM_SELF = 0,       /* own password, TOTP, sessions */
	RP_PERM_DEVICE_READ,    /* list and show devices, certificates, tags */
	RP_PERM_TELEMETRY_READ, /* telemetry and metrics */
	RP_PERM_ALERT_READ,     /* alerts */
	RP_PERM_DEVICE_COMMAND, /* send a command to a device */
	RP_PERM_DEVICE_WRITE,   /* device tags and status (quarantine, release) */
	RP_PERM_ALERT_WRITE,    /* acknowledge and close alerts */
	RP_PERM_DEVICE_ADMIN,   /* enrolment tokens, revoke, delete, ban addresses */
	RP_PERM_OTA_READ,       /* artifacts and campaigns */
	RP_PERM_OTA_WRITE,      /* upload artifacts, start and stop campaigns */
	RP_PERM_REPORT_READ,    /* risk assessment and pentest reports */
	RP_PERM_REPORT_RUN,     /* run an assessment or the attack suite */
	RP_PERM_OPERATOR_READ,  /* list operators (never their secrets) */
	RP_PERM_OPERATOR_ADMIN, /* create, change role, reset, unlock, delete operators */
	RP_PERM_TOKEN_READ,     /* list API tokens (never their values) */
	RP_PERM_TOKEN_ADMIN,    /* create and revoke API tokens */
	RP_PERM_AUDIT_READ,     /* the audit log and its verification */
	RP_PERM_SETTINGS_READ,  /* server settings (TOTP required, lifetimes, ...) */
	RP_PERM_SETTINGS_WRITE, /* change them */
	RP_PERM_COUNT_          /* not a permission */
} rp_perm;

/*
 * 1 if `role` holds `perm`, else 0 (also for values outside the enums).
 */
int rp_role_allows(rp_role role, rp_perm perm);

/*
 * 1 if `role` holds every permission of `other` (a role covers itself;
 * admin covers all), else 0. For "may this operator mint a token of that
 * role" and "may this admin grant that role".
 */
int rp_role_covers(rp_role role, rp_role other);

/*
 * Parses a role name, exactly as rp_role_name() prints it (lower case, no
 * spaces). Returns RP_OK or RP_E_NOT_FOUND (*out untouched); RP_E_INVALID_ARG
 * if out is NULL or buf NULL with len > 0.
 */
rp_status rp_role_parse(const uint8_t *buf, size_t len, rp_role *out);

/* "viewer", "operator", "admin", "auditor"; NULL for other values. */
const char *rp_role_name(rp_role role);

/* "device.read" and so on (logs, errors, docs); NULL for other values. */
const char *rp_perm_name(rp_perm perm);

/* True when perm only reads (the auditor's permissions). */
int rp_perm_is_read(rp_perm perm);

#endif /* RP_SERVER_AUTH_ROLE_H */
