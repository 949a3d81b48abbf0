/*
 * softhsm.c - a throw-away SoftHSM2 token for tests (see softhsm.h).
 *
 * The token store is SoftHSM2's file back end in <dir>/tokens; tokens are
 * made by the real softhsm2-util, run with fork/execvp (never a shell, so
 * labels and PINs need no quoting).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "softhsm.h"

static int fail(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (why != NULL && cap > 0) {
		va_start(ap, fmt);
		vsnprintf(why, cap, fmt, ap);
		va_end(ap);
	}
	return -1;
}

const char *softhsm_path(const softhsm *h, const char *name, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s/%s", h->dir, name);

	return n < 0 || (size_t)n >= cap ? NULL : buf;
}

int softhsm_write_file(const softhsm *h, const char *name, const char *text, mode_t mode)
{
	char path[512];
	size_t len = strlen(text), off = 0;
	int fd, rc = 0;

	if (softhsm_path(h, name, path, sizeof(path)) == NULL) {
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		return -1;
	}
	if (fchmod(fd, mode) != 0) {
		rc = -1;
	}
	while (rc == 0 && off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			rc = -1;
			break;
		}
		off += (size_t)w;
	}
	if (close(fd) != 0) {
		rc = -1;
	}
	return rc;
}

int softhsm_run(char *const argv[], char *out, size_t cap)
{
	size_t n = 0;
	int fds[2], status;
	pid_t pid;

	if (cap > 0) {
		out[0] = '\0';
	}
	if (pipe(fds) != 0) {
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
		}
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		char chunk[512];
		ssize_t r = read(fds[0], chunk, sizeof(chunk));

		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			break;
		}
		if (cap > 0 && n < cap - 1) {
			size_t take = (size_t)r < cap - 1 - n ? (size_t)r : cap - 1 - n;

			memcpy(out + n, chunk, take);
			n += take;
		}
	}
	close(fds[0]);
	if (cap > 0) {
		out[n] = '\0';
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			return -1;
		}
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int find_module(softhsm *h)
{
	static const char *const paths[] = {
		"/usr/lib/softhsm/libsofthsm2.so",
		"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
		"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
		"/usr/lib/arm-linux-gnueabihf/softhsm/libsofthsm2.so",
		"/usr/lib64/pkcs11/libsofthsm2.so",
		"/usr/local/lib/softhsm/libsofthsm2.so",
	};
	const char *env = getenv("RP_SOFTHSM_MODULE");
	size_t i;

	if (env != NULL && env[0] != '\0') {
		snprintf(h->module, sizeof(h->module), "%s", env);
		return access(h->module, R_OK) == 0 ? 0 : -1;
	}
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		if (access(paths[i], R_OK) == 0) {
			snprintf(h->module, sizeof(h->module), "%s", paths[i]);
			return 0;
		}
	}
	return -1;
}

int softhsm_add_token(softhsm *h, const char *label, const char *pin, char *why, size_t why_cap)
{
	char out[2048];
	char *argv[] = {"softhsm2-util",
			"--init-token",
			"--free",
			"--label",
			(char *)(uintptr_t)label,
			"--pin",
			(char *)(uintptr_t)pin,
			"--so-pin",
			h->so_pin,
			NULL};
	int st;

	st = softhsm_run(argv, out, sizeof(out));
	if (st == 127) {
		return fail(why, why_cap, "softhsm2-util not found (run scripts/bootstrap)");
	}
	if (st != 0) {
		return fail(why, why_cap, "softhsm2-util --init-token --label %s failed (%d): %s",
			    label, st, out);
	}
	return 0;
}

int softhsm_start(softhsm *h, const char *label, const char *pin, char *why, size_t why_cap)
{
	const char *tmp = getenv("TMPDIR");
	const char *old = getenv("SOFTHSM2_CONF");
	char path[512], conf[1024], line[128];

	memset(h, 0, sizeof(*h));
	if (tmp == NULL || tmp[0] == '\0') {
		tmp = "/tmp";
	}
	if (strlen(label) >= sizeof(h->label) || strlen(pin) >= sizeof(h->pin)) {
		return fail(why, why_cap, "token label or PIN too long");
	}
	if (find_module(h) != 0) {
		return fail(why, why_cap,
			    "the SoftHSM2 PKCS#11 module was not found (run scripts/bootstrap, "
			    "or set RP_SOFTHSM_MODULE)");
	}
	snprintf(h->label, sizeof(h->label), "%s", label);
	snprintf(h->pin, sizeof(h->pin), "%s", pin);
	snprintf(h->so_pin, sizeof(h->so_pin), "so-%s", pin);
	snprintf(h->dir, sizeof(h->dir), "%s/rp-softhsm-XXXXXX", tmp);
	if (mkdtemp(h->dir) == NULL) {
		h->dir[0] = '\0';
		return fail(why, why_cap, "mkdtemp under %s: %s", tmp, strerror(errno));
	}
	if (old != NULL) {
		h->saved_conf = strdup(old);
	}
	h->started = 1;
	if (softhsm_path(h, "tokens", path, sizeof(path)) == NULL || mkdir(path, 0700) != 0) {
		softhsm_stop(h);
		return fail(why, why_cap, "cannot make the token directory");
	}
	snprintf(conf, sizeof(conf),
		 "directories.tokendir = %s\n"
		 "objectstore.backend = file\n"
		 "log.level = ERROR\n"
		 "slots.removable = false\n",
		 path);
	if (softhsm_write_file(h, "softhsm2.conf", conf, 0600) != 0 ||
	    softhsm_path(h, "softhsm2.conf", h->conf, sizeof(h->conf)) == NULL ||
	    setenv("SOFTHSM2_CONF", h->conf, 1) != 0) {
		softhsm_stop(h);
		return fail(why, why_cap, "cannot write softhsm2.conf");
	}
	if (softhsm_add_token(h, label, pin, why, why_cap) != 0) {
		softhsm_stop(h);
		return -1;
	}
	snprintf(line, sizeof(line), "%s\n", pin);
	if (softhsm_write_file(h, "user.pin", line, 0600) != 0 ||
	    softhsm_path(h, "user.pin", h->pin_file, sizeof(h->pin_file)) == NULL) {
		softhsm_stop(h);
		return fail(why, why_cap, "cannot write the PIN file");
	}
	return 0;
}

/* Removes path and, if it is a directory, everything under it. */
static void remove_tree(const char *path)
{
	struct dirent *de;
	struct stat st;
	char sub[1024];
	DIR *d;

	if (lstat(path, &st) != 0) {
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		unlink(path);
		return;
	}
	d = opendir(path);
	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
				continue;
			}
			if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) <
			    sizeof(sub)) {
				remove_tree(sub);
			}
		}
		closedir(d);
	}
	rmdir(path);
}

void softhsm_stop(softhsm *h)
{
	if (!h->started) {
		return;
	}
	if (h->dir[0] != '\0') {
		remove_tree(h->dir);
	}
	if (h->saved_conf != NULL) {
		setenv("SOFTHSM2_CONF", h->saved_conf, 1);
		free(h->saved_conf);
	} else {
		unsetenv("SOFTHSM2_CONF");
	}
	memset(h, 0, sizeof(*h));
}
