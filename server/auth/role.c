/*
 * role.c - the role / permission matrix as one bit mask per role.
 *
 * Implementation notes
 * - Every check is a table lookup after a range check, so a value from a
 *   corrupted store or a cast integer denies instead of reading past the
 *   table. The masks are built from named permissions, and the auditor's
 *   mask is derived from rp_perm_is_read(), so a new READ permission
 *   reaches the auditor without anyone remembering to add it.
 */
#include "auth/role.h"

#include <string.h>

#define BIT(p) (UINT32_C(1) << (p))

typedef char perms_fit_mask[RP_PERM_COUNT_ <= 32 ? 1 : -1];

static const char *const role_names[RP_ROLE_COUNT_] = {
	[RP_ROLE_VIEWER] = "viewer",
	[RP_ROLE_OPERATOR] = "operator",
	[RP_ROLE_ADMIN] = "admin",
	[RP_ROLE_AUDITOR] = "auditor",
};

static const char *const perm_names[RP_PERM_COUNT_] = {
	[RP_PERM_SELF] = "self",
	[RP_PERM_DEVICE_READ] = "device.read",
	[RP_PERM_TELEMETRY_READ] = "telemetry.read",
	[RP_PERM_ALERT_READ] = "alert.read",
	[RP_PERM_DEVICE_COMMAND] = "device.command",
	[RP_PERM_DEVICE_WRITE] = "device.write",
	[RP_PERM_ALERT_WRITE] = "alert.write",
	[RP_PERM_DEVICE_ADMIN] = "device.admin",
	[RP_PERM_OTA_READ] = "ota.read",
	[RP_PERM_OTA_WRITE] = "ota.write",
	[RP_PERM_REPORT_READ] = "report.read",
	[RP_PERM_REPORT_RUN] = "report.run",
	[RP_PERM_OPERATOR_READ] = "operator.read",
	[RP_PERM_OPERATOR_ADMIN] = "operator.admin",
	[RP_PERM_TOKEN_READ] = "token.read",
	[RP_PERM_TOKEN_ADMIN] = "token.admin",
	[RP_PERM_AUDIT_READ] = "audit.read",
	[RP_PERM_SETTINGS_READ] = "settings.read",
	[RP_PERM_SETTINGS_WRITE] = "settings.write",
};

#define VIEWER_MASK                                                                                \
	(BIT(RP_PERM_SELF) | BIT(RP_PERM_DEVICE_READ) | BIT(RP_PERM_TELEMETRY_READ) |              \
	 BIT(RP_PERM_ALERT_READ))
#define OPERATOR_MASK                                                                              \
	(VIEWER_MASK | BIT(RP_PERM_DEVICE_COMMAND) | BIT(RP_PERM_DEVICE_WRITE) |                   \
	 BIT(RP_PERM_ALERT_WRITE))
#define ALL_MASK ((RP_PERM_COUNT_ == 32 ? 0u : BIT(RP_PERM_COUNT_)) - 1u)

int rp_perm_is_read(rp_perm perm)
{
	switch (perm) {
	case RP_PERM_DEVICE_READ:
	case RP_PERM_TELEMETRY_READ:
	case RP_PERM_ALERT_READ:
	case RP_PERM_OTA_READ:
	case RP_PERM_REPORT_READ:
	case RP_PERM_OPERATOR_READ:
	case RP_PERM_TOKEN_READ:
	case RP_PERM_AUDIT_READ:
	case RP_PERM_SETTINGS_READ:
		return 1;
	default:
		return 0;
	}
}

static uint32_t role_mask(rp_role role)
{
	uint32_t m = 0;
	unsigned p;

	switch (role) {
	case RP_ROLE_VIEWER:
		return VIEWER_MASK;
	case RP_ROLE_OPERATOR:
		return OPERATOR_MASK;
	case RP_ROLE_ADMIN:
		return ALL_MASK;
	case RP_ROLE_AUDITOR:
		m = BIT(RP_PERM_SELF);
		for (p = 0; p < RP_PERM_COUNT_; p++) {
			if (rp_perm_is_read((rp_perm)p)) {
				m |= BIT(p);
			}
		}
		return m;
	default:
		return 0;
	}
}

int rp_role_allows(rp_role role, rp_perm perm)
{
	if ((unsigned)perm >= (unsigned)RP_PERM_COUNT_) {
		return 0;
	}
	return (role_mask(role) & BIT(perm)) != 0;
}

int rp_role_covers(rp_role role, rp_role other)
{
	uint32_t mine = role_mask(role), theirs = role_mask(other);

	if ((unsigned)role >= (unsigned)RP_ROLE_COUNT_ ||
	    (unsigned)other >= (unsigned)RP_ROLE_COUNT_) {
		return 0;
	}
	return (theirs & ~mine) == 0;
}

rp_status rp_role_parse(const uint8_t *buf, size_t len, rp_role *out)
{
	unsigned r;

	if (out == NULL || (buf == NULL && len > 0)) {
		return RP_E_INVALID_ARG;
	}
	for (r = 0; r < RP_ROLE_COUNT_; r++) {
		if (strlen(role_names[r]) == len && memcmp(role_names[r], buf, len) == 0) {
			*out = (rp_role)r;
			return RP_OK;
		}
	}
	return RP_E_NOT_FOUND;
}

const char *rp_role_name(rp_role role)
{
	if ((unsigned)role >= (unsigned)RP_ROLE_COUNT_) {
		return NULL;
	}
	return role_names[role];
}

const char *rp_perm_name(rp_perm perm)
{
	if ((unsigned)perm >= (unsigned)RP_PERM_COUNT_) {
		return NULL;
	}
	return perm_names[perm];
}
