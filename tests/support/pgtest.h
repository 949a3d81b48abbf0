/*
 * tests/support/pgtest.h - a throw-away PostgreSQL server for tests.
 *
 * pgtest_start() makes a temporary directory, runs initdb into it, starts
 * the server on a free loopback port with its socket in that directory
 * (fsync on: the tests measure a durable store), and creates the database
 * "rampart_test". pgtest_stop() stops the server (pg_ctl stop -m fast)
 * and removes the directory.
 *
 * The cleanup also happens when the test process dies without calling
 * pgtest_stop() (a failed assertion that aborts, a sanitizer report, a
 * kill by ctest's timeout): a guard process, in its own session, waits on
 * a pipe that only this process holds and, when it closes, stops the
 * server (-m immediate) and removes the directory.
 *
 * Binaries: $RP_PG_BINDIR, else the newest /usr/lib/postgresql/N/bin.
 * initdb refuses to run as root, so when the effective uid is 0 the server
 * commands run as the `postgres` user (runuser -u postgres --) and the
 * temporary directory is given to that user.
 *
 * Conventions: returns 0 on success, -1 with a reason in why (the server's
 * log is also copied to stderr). Not thread-safe; call from the main thread
 * before starting others (it forks).
 */
#ifndef RP_TESTS_PGTEST_H
#define RP_TESTS_PGTEST_H

#include <stddef.h>
#include <sys/types.h>

typedef struct pgtest {
	char dir[256];    /* the temporary root */
	char bindir[256]; /* where initdb and pg_ctl are */
	char url[300];    /* libpq URL of the test database */
	int port;
	int as_postgres; /* 1: commands run as the postgres user */
	int running;
	pid_t guard;
	int guard_fd;
} pgtest;

/* Starts a server. 0, or -1 with why (names scripts/bootstrap when PostgreSQL is missing). */
int pgtest_start(pgtest *pg, char *why, size_t why_cap);

/* Stops the server and removes everything. Safe on a pgtest that did not start. */
void pgtest_stop(pgtest *pg);

#endif /* RP_TESTS_PGTEST_H */
