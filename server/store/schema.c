/*
 * schema.c - the schema and its versioned migrations.
 *
 * Rules (docs/store.md, "Migrations"):
 * - schema_version holds one row: the version of the last migration
 *   applied. Migration N brings version N-1 to N and is never edited once
 *   released; a change is a new migration.
 * - Each migration runs in one transaction with the version update, so a
 *   failed migration leaves the database at the previous version. On
 *   PostgreSQL an advisory lock serialises nodes that start together, and
 *   the version is read again inside the lock (a migration that another
 *   node applied is skipped).
 * - A database at a version above rp_store_code_version() is refused: an
 *   older rampartd must not write to a schema it does not know.
 *
 * The DDL is written once as a macro over the dialect differences: the
 * type of key text (PostgreSQL orders text with COLLATE "C", byte order as
 * SQLite does, so keyset pages are the same on both), blobs (BLOB, BYTEA),
 * and row ids (SQLite's INTEGER PRIMARY KEY; an identity column).
 */
#include "store/internal.h"

#include <stdio.h>
#include <string.h>

#include "util/log.h"

/* Taken by every migration transaction on PostgreSQL ("rampart" as digits). */
#define MIGRATION_LOCK "7267617274"

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

/*
 * Version 1. KEY: text used in keys and keyset order; BLOB: bytes; ROWID:
 * an id the database assigns; ID: an id the store assigns.
 */
#define SCHEMA_V1(KEY, BLOB, ROWID, ID)                                                            \
	"CREATE TABLE devices ("                                                                   \
	"id " KEY " PRIMARY KEY,"                                                                  \
	"status TEXT NOT NULL DEFAULT 'active' CHECK (status IN "                                  \
	"('active', 'quarantined', 'revoked', 'decommissioned')),"                                 \
	"model " KEY " NOT NULL DEFAULT '',"                                                       \
	"firmware " KEY " NOT NULL DEFAULT '',"                                                    \
	"created_ms BIGINT NOT NULL,"                                                              \
	"last_seen_ms BIGINT NOT NULL DEFAULT 0,"                                                  \
	"last_addr TEXT NOT NULL DEFAULT '')",                                                     \
		"CREATE INDEX devices_status ON devices (status, id)",                             \
		"CREATE INDEX devices_model ON devices (model, id)",                               \
		"CREATE INDEX devices_firmware ON devices (firmware, id)",                         \
		"CREATE TABLE device_tags ("                                                       \
		"device_id " KEY " NOT NULL REFERENCES devices (id) ON DELETE CASCADE,"            \
		"tag " KEY " NOT NULL,"                                                            \
		"PRIMARY KEY (device_id, tag))",                                                   \
		"CREATE INDEX device_tags_tag ON device_tags (tag, device_id)",                    \
		"CREATE TABLE certificates ("                                                      \
		"serial " KEY " PRIMARY KEY,"                                                      \
		"device_id " KEY " NOT NULL REFERENCES devices (id),"                              \
		"fingerprint TEXT NOT NULL,"                                                       \
		"not_after_ms BIGINT NOT NULL,"                                                    \
		"status TEXT NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'revoked')),"     \
		"revoked_at_ms BIGINT NOT NULL DEFAULT 0)",                                        \
		"CREATE INDEX certificates_device ON certificates (device_id, serial)",            \
		"CREATE INDEX certificates_status ON certificates (status, serial)",               \
		"CREATE TABLE telemetry ("                                                         \
		"id " ROWID ","                                                                    \
		"device_id " KEY " NOT NULL REFERENCES devices (id),"                              \
		"name " KEY " NOT NULL,"                                                           \
		"time_ms BIGINT NOT NULL,"                                                         \
		"kind SMALLINT NOT NULL CHECK (kind BETWEEN 0 AND 3),"                             \
		"v_num DOUBLE PRECISION,"                                                          \
		"v_str TEXT,"                                                                      \
		"v_bool SMALLINT,"                                                                 \
		"v_data " BLOB ","                                                                 \
		"unit TEXT NOT NULL DEFAULT '')",                                                  \
		"CREATE INDEX telemetry_series ON telemetry (device_id, name, time_ms, id)",       \
		"CREATE INDEX telemetry_time ON telemetry (time_ms)",                              \
		"CREATE TABLE commands ("                                                          \
		"id " KEY " PRIMARY KEY,"                                                          \
		"device_id " KEY " NOT NULL REFERENCES devices (id),"                              \
		"name TEXT NOT NULL,"                                                              \
		"args TEXT NOT NULL,"                                                              \
		"status TEXT NOT NULL CHECK (status IN "                                           \
		"('pending', 'sent', 'done', 'failed', 'expired')),"                               \
		"result TEXT NOT NULL DEFAULT '',"                                                 \
		"created_ms BIGINT NOT NULL,"                                                      \
		"answered_ms BIGINT NOT NULL DEFAULT 0)",                                          \
		"CREATE INDEX commands_device ON commands (device_id, created_ms, id)",            \
		"CREATE TABLE retained ("                                                          \
		"topic " KEY " PRIMARY KEY,"                                                       \
		"payload " BLOB " NOT NULL,"                                                       \
		"qos SMALLINT NOT NULL CHECK (qos BETWEEN 0 AND 2),"                               \
		"properties " BLOB " NOT NULL)",                                                   \
		"CREATE TABLE sessions ("                                                          \
		"client_id " KEY " PRIMARY KEY,"                                                   \
		"state " BLOB " NOT NULL,"                                                         \
		"expires_ms BIGINT NOT NULL)",                                                     \
		"CREATE INDEX sessions_expires ON sessions (expires_ms)",                          \
		"CREATE TABLE alerts ("                                                            \
		"id " ROWID ","                                                                    \
		"device_id " KEY " NOT NULL,"                                                      \
		"kind " KEY " NOT NULL,"                                                           \
		"severity SMALLINT NOT NULL CHECK (severity BETWEEN 1 AND 3),"                     \
		"detail TEXT NOT NULL,"                                                            \
		"created_ms BIGINT NOT NULL,"                                                      \
		"ack_by TEXT NOT NULL DEFAULT '',"                                                 \
		"ack_ms BIGINT NOT NULL DEFAULT 0)",                                               \
		"CREATE INDEX alerts_device ON alerts (device_id, id)",                            \
		"CREATE INDEX alerts_open ON alerts (ack_ms, id)",                                 \
		"CREATE TABLE operators ("                                                         \
		"name " KEY " PRIMARY KEY,"                                                        \
		"role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin', 'auditor')),"   \
		"password_hash TEXT NOT NULL,"                                                     \
		"totp_secret " BLOB " NOT NULL,"                                                   \
		"totp_required SMALLINT NOT NULL DEFAULT 0,"                                       \
		"totp_last_step BIGINT NOT NULL DEFAULT 0,"                                        \
		"failed_logins BIGINT NOT NULL DEFAULT 0,"                                         \
		"locked_until_ms BIGINT NOT NULL DEFAULT 0,"                                       \
		"created_ms BIGINT NOT NULL,"                                                      \
		"last_login_ms BIGINT NOT NULL DEFAULT 0,"                                         \
		"disabled SMALLINT NOT NULL DEFAULT 0)",                                           \
		"CREATE TABLE api_tokens ("                                                        \
		"id " KEY " PRIMARY KEY,"                                                          \
		"token_hash TEXT NOT NULL UNIQUE,"                                                 \
		"operator " KEY " NOT NULL REFERENCES operators (name),"                           \
		"role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin', 'auditor')),"   \
		"created_ms BIGINT NOT NULL,"                                                      \
		"expires_ms BIGINT NOT NULL,"                                                      \
		"revoked_ms BIGINT NOT NULL DEFAULT 0)",                                           \
		"CREATE INDEX api_tokens_operator ON api_tokens (operator, id)",                   \
		"CREATE TABLE web_sessions ("                                                      \
		"id_hash TEXT PRIMARY KEY,"                                                        \
		"operator " KEY " NOT NULL REFERENCES operators (name),"                           \
		"csrf_hash TEXT NOT NULL,"                                                         \
		"created_ms BIGINT NOT NULL,"                                                      \
		"expires_ms BIGINT NOT NULL)",                                                     \
		"CREATE INDEX web_sessions_expires ON web_sessions (expires_ms)",                  \
		"CREATE INDEX web_sessions_operator ON web_sessions (operator)",                   \
		"CREATE TABLE audit_log ("                                                         \
		"id " ID ","                                                                       \
		"time_ms BIGINT NOT NULL,"                                                         \
		"actor " KEY " NOT NULL,"                                                          \
		"action " KEY " NOT NULL,"                                                         \
		"target " KEY " NOT NULL,"                                                         \
		"source TEXT NOT NULL,"                                                            \
		"detail TEXT NOT NULL,"                                                            \
		"hash TEXT NOT NULL)",                                                             \
		"CREATE INDEX audit_actor ON audit_log (actor, id)",                               \
		"CREATE INDEX audit_action ON audit_log (action, id)",                             \
		"CREATE INDEX audit_target ON audit_log (target, id)",                             \
		"CREATE INDEX audit_time ON audit_log (time_ms, id)",                              \
		"CREATE TABLE audit_head ("                                                        \
		"one SMALLINT PRIMARY KEY CHECK (one = 1),"                                        \
		"last_id BIGINT NOT NULL,"                                                         \
		"last_hash TEXT NOT NULL)",                                                        \
		"INSERT INTO audit_head (one, last_id, last_hash) VALUES (1, 0, '" ZERO_HASH "')"

static const char *const v1_sqlite[] = {
	SCHEMA_V1("TEXT", "BLOB", "INTEGER PRIMARY KEY", "INTEGER PRIMARY KEY"),
	/* Append-only, in the database too (an attacker with the file can
	 * drop these; the hash chain is what detects that). */
	"CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
	"BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
	"CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
	"BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
};

static const char *const v1_pg[] = {
	SCHEMA_V1("TEXT COLLATE \"C\"", "BYTEA",
		  "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "BIGINT PRIMARY KEY"),
	"CREATE FUNCTION rp_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
	"$$BEGIN RAISE EXCEPTION 'audit log is append-only' "
	"USING ERRCODE = 'insufficient_privilege'; END$$",
	"CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
	"FOR EACH ROW EXECUTE PROCEDURE rp_audit_append_only()",
	"CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
	"FOR EACH STATEMENT EXECUTE PROCEDURE rp_audit_append_only()",
};

/*
 * Version 2: enrollment tokens (EST, docs/est.md). Tags are one text
 * column joined by ',' (a tag holds no ','); uses never passes max_uses,
 * in the database too.
 */
#define SCHEMA_V2(KEY)                                                                             \
	"CREATE TABLE enroll_tokens ("                                                             \
	"id " KEY " PRIMARY KEY,"                                                                  \
	"token_hash TEXT NOT NULL UNIQUE,"                                                         \
	"device " KEY " NOT NULL,"                                                                 \
	"prefix SMALLINT NOT NULL CHECK (prefix IN (0, 1)),"                                       \
	"max_uses BIGINT NOT NULL CHECK (max_uses >= 1),"                                          \
	"uses BIGINT NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),"                   \
	"model TEXT NOT NULL DEFAULT '',"                                                          \
	"tags TEXT NOT NULL DEFAULT '',"                                                           \
	"created_by TEXT NOT NULL,"                                                                \
	"created_ms BIGINT NOT NULL,"                                                              \
	"expires_ms BIGINT NOT NULL,"                                                              \
	"revoked_ms BIGINT NOT NULL DEFAULT 0)"

static const char *const v2_sqlite[] = {SCHEMA_V2("TEXT")};
static const char *const v2_pg[] = {SCHEMA_V2("TEXT COLLATE \"C\"")};

/*
 * Version 3: revocation (docs/pki.md, "Revocation"). A revoked
 * certificate keeps its RFC 5280 CRLReason code (-1: none given), which
 * goes into the CRL entry; crl_numbers keeps the last cRLNumber rampartd
 * gave each CRL issuer (the SHA-256 of its DER subject name), so the
 * number only grows, across restarts and across nodes sharing the store.
 */
#define SCHEMA_V3(KEY)                                                                             \
	"ALTER TABLE certificates ADD COLUMN reason SMALLINT NOT NULL DEFAULT -1 "                 \
	"CHECK (reason BETWEEN -1 AND 10 AND reason <> 7)",                                        \
		"CREATE TABLE crl_numbers ("                                                       \
		"issuer " KEY " PRIMARY KEY,"                                                      \
		"number BIGINT NOT NULL CHECK (number >= 1))"

static const char *const v3_sqlite[] = {SCHEMA_V3("TEXT")};
static const char *const v3_pg[] = {SCHEMA_V3("TEXT COLLATE \"C\"")};

/*
 * Version 4 (PostgreSQL only; SQLite is left as it is): telemetry ingest
 * without per-row work that no query needs (docs/store.md, "Telemetry on
 * PostgreSQL"; docs/performance.md has the measurements).
 * - The foreign key telemetry.device_id -> devices.id goes: it ran one
 *   lookup with an executor start and a row lock per inserted row, 40 % of
 *   the server's work per row. The store's bulk INSERT checks its devices
 *   instead, once per statement: it locks their rows FOR KEY SHARE, as the
 *   foreign key did, and fails with the foreign key's 23503 if one is
 *   missing (rp_telemetry_no_device(), telemetry.c). The other half of the foreign key stays in the
 *   database: a device that has telemetry cannot be deleted or have its
 *   id changed (a trigger; the row is locked before it runs, so it waits
 *   for an insert that holds the lock and then sees its rows).
 * - The primary key goes (its index cost 12 % of the work per row): ids
 *   still come from the identity column, now GENERATED ALWAYS, so an
 *   INSERT cannot choose one; retention deletes by ctid, no query looks
 *   rows up by id, and the series index keeps (time_ms, id) ordered. The
 *   sequence hands the storage connection 64 ids at a time (3 % of the
 *   work per row at cache 1): one writer, so ids still follow the order
 *   of insertion; a reconnect skips the rest of a block.
 * Constraints are found by what they are rather than by their names.
 * Dropping them rewrites nothing: instant on a database of any size.
 */
static const char *const v4_pg[] = {
	"CREATE FUNCTION rp_telemetry_no_device(device TEXT) RETURNS boolean LANGUAGE plpgsql "
	"AS $$BEGIN "
	"RAISE EXCEPTION 'telemetry names a device that does not exist' "
	"USING ERRCODE = 'foreign_key_violation', DETAIL = device; "
	"END$$",
	"CREATE FUNCTION rp_devices_telemetry() RETURNS trigger LANGUAGE plpgsql AS $$"
	"BEGIN "
	"IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN RETURN NEW; END IF; "
	"IF EXISTS (SELECT 1 FROM telemetry WHERE device_id = OLD.id) THEN "
	"RAISE EXCEPTION 'a device that has telemetry cannot be deleted or renamed' "
	"USING ERRCODE = 'foreign_key_violation'; "
	"END IF; "
	"IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; "
	"RETURN NEW; "
	"END$$",
	"CREATE TRIGGER devices_telemetry BEFORE DELETE OR UPDATE OF id ON devices "
	"FOR EACH ROW EXECUTE PROCEDURE rp_devices_telemetry()",
	"DO $$DECLARE c name; "
	"BEGIN "
	"FOR c IN SELECT conname FROM pg_constraint WHERE conrelid = 'telemetry'::regclass "
	"AND (contype = 'p' OR (contype = 'f' AND confrelid = 'devices'::regclass)) LOOP "
	"EXECUTE format('ALTER TABLE telemetry DROP CONSTRAINT %I', c); "
	"END LOOP; "
	"END$$",
	"ALTER TABLE telemetry ALTER COLUMN id SET GENERATED ALWAYS",
	"ALTER TABLE telemetry ALTER COLUMN id SET CACHE 64",
};

typedef struct migration {
	int64_t version;
	const char *const *sqlite;
	size_t nsqlite;
	const char *const *pg;
	size_t npg;
} migration;

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const migration migrations[] = {
	{1, v1_sqlite, COUNT(v1_sqlite), v1_pg, COUNT(v1_pg)},
	{2, v2_sqlite, COUNT(v2_sqlite), v2_pg, COUNT(v2_pg)},
	{3, v3_sqlite, COUNT(v3_sqlite), v3_pg, COUNT(v3_pg)},
	{4, NULL, 0, v4_pg, COUNT(v4_pg)},
};

int64_t rp_store_code_version(void)
{
	return migrations[COUNT(migrations) - 1].version;
}

static const rp__store_sql q_version = {RP__SQL_VERSION_GET, "SELECT version FROM schema_version",
					NULL};

static void rollback(rp__store_db *db)
{
	char msg[sizeof(db->msg)];
	rp_status err = db->err;

	memcpy(msg, db->msg, sizeof(msg));
	(void)db->be->exec(db, "ROLLBACK");
	db->err = err;
	memcpy(db->msg, msg, sizeof(msg));
}

/*
 * Opens a migration transaction: lock (PostgreSQL), make sure
 * schema_version exists with its row, read the version.
 */
static rp_status begin_locked(rp__store_db *db, int64_t *version)
{
	rp_status st;
	int r;

	rp__store_db_clear(db);
	st = db->be->exec(db, db->be->begin);
	if (st != RP_OK) {
		return st;
	}
	if (db->pg) {
		st = db->be->exec(db, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK ")");
		if (st != RP_OK) {
			goto out;
		}
	}
	st = db->be->exec(db,
			  "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)");
	if (st != RP_OK) {
		goto out;
	}
	st = db->be->query(db, &q_version, NULL, 0);
	if (st != RP_OK) {
		goto out;
	}
	r = db->be->next(db);
	*version = r == 1 ? db->be->col_int(db, 0) : 0;
	db->be->end(db);
	if (r < 0) {
		st = db->err;
		goto out;
	}
	if (r == 0) {
		st = db->be->exec(db, "INSERT INTO schema_version (version) VALUES (0)");
	}
out:
	if (st != RP_OK) {
		rollback(db);
	}
	return st;
}

static rp_status apply(rp__store_db *db, const migration *m, int64_t *version)
{
	const char *const *sql = db->pg ? m->pg : m->sqlite;
	size_t n = db->pg ? m->npg : m->nsqlite;
	char set[80];
	rp_status st;

	st = begin_locked(db, version);
	if (st != RP_OK) {
		return st;
	}
	if (*version >= m->version) {
		/* Another node applied it while we waited for the lock. */
		return db->be->exec(db, "COMMIT");
	}
	for (size_t i = 0; i < n; i++) {
		st = db->be->exec(db, sql[i]);
		if (st != RP_OK) {
			goto out;
		}
	}
	snprintf(set, sizeof(set), "UPDATE schema_version SET version = %lld",
		 (long long)m->version);
	st = db->be->exec(db, set);
	if (st != RP_OK) {
		goto out;
	}
	st = db->be->exec(db, "COMMIT");
	if (st == RP_OK) {
		*version = m->version;
		rp_log(RP_LOG_INFO, "store", "schema migrated to version %lld",
		       (long long)m->version);
	}
out:
	if (st != RP_OK) {
		rollback(db);
	}
	return st;
}

rp_status rp__store_migrate(rp__store_db *db, int64_t *version)
{
	int64_t v = 0;
	rp_status st;

	st = begin_locked(db, &v);
	if (st == RP_OK) {
		st = db->be->exec(db, "COMMIT");
	}
	if (st != RP_OK) {
		goto out;
	}
	if (v > rp_store_code_version()) {
		rp_log(RP_LOG_ERROR, "store",
		       "the database's schema version %lld is newer than this rampartd knows "
		       "(%lld): upgrade rampartd (the database was not changed)",
		       (long long)v, (long long)rp_store_code_version());
		return RP_E_CONFIG;
	}
	for (size_t i = 0; i < COUNT(migrations) && st == RP_OK; i++) {
		if (migrations[i].version <= v) {
			continue;
		}
		st = apply(db, &migrations[i], &v);
		if (st != RP_OK) {
			rp_log(RP_LOG_ERROR, "store",
			       "migration to version %lld failed (rolled back)",
			       (long long)migrations[i].version);
		}
	}
out:
	if (st != RP_OK) {
		if (db->msg[0] != '\0') {
			rp_log(RP_LOG_ERROR, "store", "schema: %s: %s", rp_status_str(st), db->msg);
		}
		return st == RP_E_NOMEM ? RP_E_NOMEM : RP_E_IO;
	}
	*version = v;
	return RP_OK;
}
