/*
 * files.c - files and directories `rampart init` creates, and the journal
 * that removes them again when a later step fails.
 *
 * Invariants
 * - Nothing that existed before is ever changed: files are created with
 *   O_CREAT|O_EXCL|O_NOFOLLOW, and a temporary file reaches its final name
 *   with link(2), which fails if the name exists (rename(2) would replace
 *   it). Only on a file system without hard links (EPERM, ENOTSUP: some
 *   network and FUSE file systems) is rename(2) used, after checking that
 *   the final name is free.
 * - Every path created is in the journal, in creation order; a rollback
 *   removes them in the reverse order, so directories are empty when their
 *   turn comes. Directories that existed are not in it.
 * - Files are 0600 and directories 0700 whatever the umask (fchmod after
 *   create), and data reaches the disk (fsync) before a file is published.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "util/alloc.h"

static int journal_add(cli_journal *j, const char *path, int is_dir)
{
	size_t n = strlen(path) + 1;
	char *copy;

	if (j->n >= CLI_JOURNAL_MAX) {
		cli_fail(j->cmd, path, "too many files (internal limit)");
		return -1;
	}
	copy = rp_alloc(NULL, n);
	if (copy == NULL) {
		cli_fail(j->cmd, path, "out of memory");
		return -1;
	}
	memcpy(copy, path, n);
	j->path[j->n] = copy;
	j->is_dir[j->n] = (unsigned char)is_dir;
	j->n++;
	return 0;
}

int cli_journal_file(cli_journal *j, const char *path)
{
	return journal_add(j, path, 0);
}

/* Forgets path (it was renamed away); it stays where it is. */
static void journal_forget(cli_journal *j, const char *path)
{
	for (size_t i = j->n; i-- > 0;) {
		if (j->path[i] != NULL && strcmp(j->path[i], path) == 0) {
			rp_free(NULL, j->path[i]);
			j->path[i] = NULL;
			return;
		}
	}
}

void cli_journal_rollback(cli_journal *j)
{
	for (size_t i = j->n; i-- > 0;) {
		const char *p = j->path[i];

		if (p == NULL) {
			continue;
		}
		if ((j->is_dir[i] ? rmdir(p) : unlink(p)) != 0 && errno != ENOENT) {
			fprintf(stderr, "rampart %s: %s: cannot remove: %s\n", j->cmd, p,
				strerror(errno));
		}
	}
}

void cli_journal_free(cli_journal *j)
{
	for (size_t i = 0; i < j->n; i++) {
		rp_free(NULL, j->path[i]);
		j->path[i] = NULL;
	}
	j->n = 0;
}

/* Creates one directory that does not exist; 1 created, 0 existed, -1 error. */
static int mkdir_one(cli_journal *j, const char *path)
{
	struct stat sb;

	if (mkdir(path, 0700) == 0) {
		if (journal_add(j, path, 1) != 0) {
			(void)rmdir(path);
			return -1;
		}
		if (chmod(path, 0700) != 0) {
			cli_fail(j->cmd, path, strerror(errno));
			return -1;
		}
		return 1;
	}
	if (errno == EEXIST && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		return 0;
	}
	cli_fail(j->cmd, path, errno == EEXIST ? "exists and is not a directory" : strerror(errno));
	return -1;
}

int cli_mkdirs(cli_journal *j, const char *path)
{
	char buf[RP_LIMIT_CONFIG_PATH_LEN];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf)) {
		cli_fail(j->cmd, path, "path is empty or too long");
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0') {
			continue;
		}
		buf[i] = '\0';
		if (mkdir_one(j, buf) < 0) {
			return -1;
		}
		buf[i] = i < n ? '/' : '\0';
	}
	return 0;
}

int cli_dir_private(const char *cmd, const char *path)
{
	struct stat sb;

	if (stat(path, &sb) != 0) {
		cli_fail(cmd, path, strerror(errno));
		return -1;
	}
	if ((sb.st_mode & 077) != 0) {
		cli_fail(cmd, path, "group or others may access it; make it 0700 (chmod 700)");
		return -1;
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int cli_file_create(cli_journal *j, const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	int err;

	if (fd < 0) {
		cli_fail(j->cmd, path, strerror(errno));
		return -1;
	}
	if (journal_add(j, path, 0) != 0) {
		(void)close(fd);
		(void)unlink(path);
		return -1;
	}
	if (fchmod(fd, 0600) != 0 || write_all(fd, buf, len) != 0 || fsync(fd) != 0) {
		err = errno;
		(void)close(fd);
		cli_fail(j->cmd, path, strerror(err));
		return -1;
	}
	if (close(fd) != 0) {
		cli_fail(j->cmd, path, strerror(errno));
		return -1;
	}
	return 0;
}

/* rename(2) to a free name, for file systems without hard links. */
static int rename_if_free(const char *tmp, const char *final)
{
	struct stat sb;

	if (lstat(final, &sb) == 0) {
		errno = EEXIST;
		return -1;
	}
	if (errno != ENOENT) {
		return -1;
	}
	return rename(tmp, final);
}

int cli_file_publish(cli_journal *j, const char *tmp, const char *final)
{
	int r = link(tmp, final);

	if (r != 0 &&
	    (errno == EPERM || errno == ENOTSUP || errno == EOPNOTSUPP || errno == ENOSYS)) {
		if (rename_if_free(tmp, final) != 0) {
			cli_fail(j->cmd, final, strerror(errno));
			return -1;
		}
		journal_forget(j, tmp);
		return journal_add(j, final, 0);
	}
	if (r != 0) {
		cli_fail(j->cmd, final, errno == EEXIST ? "already exists" : strerror(errno));
		return -1;
	}
	if (journal_add(j, final, 0) != 0) {
		(void)unlink(final);
		return -1;
	}
	if (unlink(tmp) != 0) {
		cli_fail(j->cmd, tmp, strerror(errno));
		return -1;
	}
	journal_forget(j, tmp);
	return 0;
}

int cli_dir_sync(const char *cmd, const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0) {
		cli_fail(cmd, path, strerror(errno));
		return -1;
	}
	/* Some file systems refuse fsync on a directory (EINVAL): nothing to do there. */
	if (fsync(fd) != 0 && errno != EINVAL) {
		cli_fail(cmd, path, strerror(errno));
		rc = -1;
	}
	(void)close(fd);
	return rc;
}

int cli_path_join(const char *cmd, char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= cap) {
		cli_fail(cmd, dir, "path is too long");
		return -1;
	}
	return 0;
}
