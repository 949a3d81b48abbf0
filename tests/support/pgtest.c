/*
 * pgtest.c - a throw-away PostgreSQL server (pgtest.h).
 *
 * Commands run through fork + execv (no shell, no quoting), with stdin
 * from /dev/null, output appended to a log in the temporary directory,
 * and that directory as the working directory (the postgres user may not
 * be able to enter the test's own). The guard is the one shell: it reads
 * its stdin until the pipe closes, then stops whatever is left.
 */
#include "pgtest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#define GUARD_SCRIPT                                                                               \
	"read -r _; if [ -f \"$2/postmaster.pid\" ]; then $4 \"$1/pg_ctl\" -D \"$2\" -m "          \
	"immediate "                                                                               \
	"-w stop; fi; rm -rf \"$3\""

static void say(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
}

/* The newest /usr/lib/postgresql/N/bin holding initdb, or $RP_PG_BINDIR. */
static int find_bindir(char *out, size_t cap)
{
	const char *env = getenv("RP_PG_BINDIR");
	char path[512];
	struct dirent *e;
	DIR *d;
	long best = -1;

	if (env != NULL && *env != '\0') {
		snprintf(path, sizeof(path), "%s/initdb", env);
		if (access(path, X_OK) != 0) {
			return -1;
		}
		snprintf(out, cap, "%s", env);
		return 0;
	}
	d = opendir("/usr/lib/postgresql");
	if (d == NULL) {
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		char *end;
		long v = strtol(e->d_name, &end, 10);

		if (end == e->d_name || *end != '\0' || v <= best) {
			continue;
		}
		snprintf(path, sizeof(path), "/usr/lib/postgresql/%ld/bin/initdb", v);
		if (access(path, X_OK) == 0) {
			best = v;
		}
	}
	closedir(d);
	if (best < 0) {
		return -1;
	}
	snprintf(out, cap, "/usr/lib/postgresql/%ld/bin", best);
	return 0;
}

/*
 * Runs argv (argv[0] a path) and waits; as the postgres user if as_pg.
 * Output is appended to log (NULL: /dev/null). Returns the exit status, or
 * -1 if it could not run or was killed.
 */
static int run(const pgtest *pg, int as_pg, const char *log, const char *const *argv)
{
	const char *full[24];
	size_t n = 0, i;
	pid_t pid;
	int status;

	if (as_pg) {
		full[n++] = "/usr/sbin/runuser";
		full[n++] = "-u";
		full[n++] = "postgres";
		full[n++] = "--";
	}
	for (i = 0; argv[i] != NULL && n < 23; i++) {
		full[n++] = argv[i];
	}
	full[n] = NULL;
	pid = fork();
	if (pid < 0) {
		return -1;
	}
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int out = log != NULL ? open(log, O_WRONLY | O_CREAT | O_APPEND, 0644)
				      : open("/dev/null", O_WRONLY);

		if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0 ||
		    chdir(pg->dir) != 0) {
			_exit(126);
		}
		/* execv's argv is not const for historical reasons; it is not written. */
		execv(full[0], (char *const *)(void *)full);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			return -1;
		}
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Copies a log file to stderr, for the reader of a failed test. */
static void dump(const char *path)
{
	char buf[4096];
	size_t n;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		return;
	}
	fprintf(stderr, "---- %s ----\n", path);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		fwrite(buf, 1, n, stderr);
	}
	fclose(f);
}

static int free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int port = -1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0) {
		return -1;
	}
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0) {
		port = ntohs(a.sin_port);
	}
	close(fd);
	return port;
}

/* The guard: a shell in its own session that cleans up when our pipe closes. */
static int start_guard(pgtest *pg, const char *datadir)
{
	int fds[2];
	pid_t pid;

	if (pipe(fds) != 0) {
		return -1;
	}
	/* No child but the guard may hold the write end, or it never closes. */
	if (fcntl(fds[1], F_SETFD, FD_CLOEXEC) != 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		setsid();
		if (dup2(fds[0], 0) < 0 || null < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 ||
		    chdir("/") != 0) {
			_exit(126);
		}
		close(fds[1]);
		execl("/bin/sh", "sh", "-c", GUARD_SCRIPT, "rp-pgtest-guard", pg->bindir, datadir,
		      pg->dir, pg->as_postgres ? "/usr/sbin/runuser -u postgres --" : "",
		      (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	pg->guard = pid;
	pg->guard_fd = fds[1];
	return 0;
}

int pgtest_start(pgtest *pg, char *why, size_t why_cap)
{
	char datadir[300], sockdir[300], initlog[300], serverlog[300], tool[300], opts[400];
	char port_s[16];
	const char *tmp = getenv("TMPDIR");
	struct passwd *pw = NULL;
	int attempt, rc;

	memset(pg, 0, sizeof(*pg));
	pg->guard = -1;
	pg->guard_fd = -1;
	if (find_bindir(pg->bindir, sizeof(pg->bindir)) != 0) {
		say(why, why_cap,
		    "PostgreSQL server binaries (initdb, pg_ctl) not found in $RP_PG_BINDIR or "
		    "/usr/lib/postgresql/*/bin: run scripts/bootstrap, which installs postgresql");
		return -1;
	}
	pg->as_postgres = geteuid() == 0;
	if (pg->as_postgres &&
	    ((pw = getpwnam("postgres")) == NULL || access("/usr/sbin/runuser", X_OK) != 0)) {
		say(why, why_cap,
		    "running as root needs the postgres user and runuser: run scripts/bootstrap, "
		    "which installs postgresql");
		return -1;
	}
	snprintf(pg->dir, sizeof(pg->dir), "%s/rp-pgtest-XXXXXX",
		 tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(pg->dir) == NULL) {
		say(why, why_cap, "mkdtemp %s: %s", pg->dir, strerror(errno));
		pg->dir[0] = '\0';
		return -1;
	}
	snprintf(datadir, sizeof(datadir), "%s/data", pg->dir);
	snprintf(sockdir, sizeof(sockdir), "%s/sock", pg->dir);
	snprintf(initlog, sizeof(initlog), "%s/initdb.log", pg->dir);
	snprintf(serverlog, sizeof(serverlog), "%s/server.log", pg->dir);
	if (mkdir(sockdir, 0700) != 0 ||
	    (pw != NULL && (chown(pg->dir, pw->pw_uid, pw->pw_gid) != 0 ||
			    chown(sockdir, pw->pw_uid, pw->pw_gid) != 0))) {
		say(why, why_cap, "preparing %s: %s", pg->dir, strerror(errno));
		goto fail;
	}
	if (start_guard(pg, datadir) != 0) {
		say(why, why_cap, "cannot start the cleanup guard: %s", strerror(errno));
		goto fail;
	}
	snprintf(tool, sizeof(tool), "%s/initdb", pg->bindir);
	rc = run(pg, pg->as_postgres, initlog,
		 (const char *const[]){tool, "-D", datadir, "-U", "rampart", "-A", "trust", "-E",
				       "UTF8", "--locale=C", "-N", NULL});
	if (rc != 0) {
		dump(initlog);
		say(why, why_cap, "initdb failed (exit %d), log above", rc);
		goto fail;
	}
	snprintf(tool, sizeof(tool), "%s/pg_ctl", pg->bindir);
	for (attempt = 0; attempt < 3; attempt++) {
		pg->port = free_port();
		snprintf(opts, sizeof(opts),
			 "-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=on", pg->port,
			 sockdir);
		rc = run(pg, pg->as_postgres, NULL,
			 (const char *const[]){tool, "-D", datadir, "-l", serverlog, "-w", "-t",
					       "30", "-o", opts, "start", NULL});
		if (rc == 0) {
			break;
		}
	}
	if (rc != 0) {
		dump(serverlog);
		say(why, why_cap, "pg_ctl start failed (exit %d), log above", rc);
		goto fail;
	}
	pg->running = 1;
	snprintf(port_s, sizeof(port_s), "%d", pg->port);
	snprintf(tool, sizeof(tool), "%s/createdb", pg->bindir);
	rc = run(pg, 0, initlog,
		 (const char *const[]){tool, "-h", "127.0.0.1", "-p", port_s, "-U", "rampart",
				       "rampart_test", NULL});
	if (rc != 0) {
		dump(initlog);
		say(why, why_cap, "createdb failed (exit %d), log above", rc);
		goto fail;
	}
	snprintf(pg->url, sizeof(pg->url), "postgresql://rampart@127.0.0.1:%d/rampart_test",
		 pg->port);
	return 0;
fail:
	pgtest_stop(pg);
	return -1;
}

void pgtest_stop(pgtest *pg)
{
	char datadir[300], tool[300];
	struct stat sb;

	if (pg->running) {
		snprintf(datadir, sizeof(datadir), "%s/data", pg->dir);
		snprintf(tool, sizeof(tool), "%s/pg_ctl", pg->bindir);
		(void)run(pg, pg->as_postgres, NULL,
			  (const char *const[]){tool, "-D", datadir, "-m", "fast", "-w", "stop",
						NULL});
		pg->running = 0;
	}
	if (pg->guard_fd >= 0) {
		close(pg->guard_fd); /* the guard wakes, finds no server, removes the directory */
		pg->guard_fd = -1;
	}
	if (pg->guard > 0) {
		while (waitpid(pg->guard, NULL, 0) < 0 && errno == EINTR) {
		}
		pg->guard = -1;
	}
	if (pg->dir[0] != '\0' && stat(pg->dir, &sb) == 0) {
		const char *const rm[] = {"/bin/rm", "-rf", pg->dir, NULL};
		pgtest tmp = *pg;

		/* run() enters the directory it is removing: do it from /. */
		snprintf(tmp.dir, sizeof(tmp.dir), "/");
		(void)run(&tmp, 0, NULL, rm);
	}
	pg->dir[0] = '\0';
}
