/* file.c - bounded whole-file reads for configuration and policy files. */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/alloc.h"

/* "what: strerror(err)", or just "what" when err is 0. */
static void say(char *why, size_t cap, const char *what, int err)
{
	char text[128];

	if (err == 0) {
		(void)snprintf(why, cap, "%s", what);
		return;
	}
	if (strerror_r(err, text, sizeof(text)) != 0) {
		(void)snprintf(text, sizeof(text), "error %d", err);
	}
	(void)snprintf(why, cap, "%s: %s", what, text);
}

rp_status rp_file_read_private(const char *path, void *buf, size_t cap, size_t *out_len, char *why,
			       size_t why_cap)
{
	uint8_t *p = buf;
	struct stat st;
	size_t len = 0;
	ssize_t got;
	rp_status ret = RP_E_CONFIG;
	int fd;

	*out_len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0) {
		say(why, why_cap, "cannot open", errno);
		return RP_E_CONFIG;
	}
	if (fstat(fd, &st) != 0) {
		say(why, why_cap, "cannot stat", errno);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		say(why, why_cap, "is not a regular file", 0);
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		(void)snprintf(why, why_cap, "group or others may access it (mode %03o; chmod 600)",
			       (unsigned)(st.st_mode & 0777));
		goto out;
	}
	if ((uint64_t)st.st_size > cap) {
		(void)snprintf(why, why_cap, "file is larger than %zu bytes", cap);
		goto out;
	}
	while (len < cap) {
		got = read(fd, p + len, cap - len);
		if (got < 0 && errno == EINTR) {
			continue;
		}
		if (got < 0) {
			say(why, why_cap, "cannot read", errno);
			goto out;
		}
		if (got == 0) {
			break;
		}
		len += (size_t)got;
	}
	*out_len = len;
	ret = RP_OK;
out:
	if (ret != RP_OK) {
		rp_wipe(buf, cap);
	}
	(void)close(fd);
	return ret;
}

rp_status rp_file_read_bounded(const char *path, size_t cap, char **out, size_t *out_len, char *why,
			       size_t why_cap)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t got;
	rp_status ret = RP_E_CONFIG;
	int fd;

	/* O_NONBLOCK: opening a FIFO must not hang; it is refused below. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		say(why, why_cap, "cannot open", errno);
		return RP_E_CONFIG;
	}
	if (fstat(fd, &st) != 0) {
		say(why, why_cap, "cannot stat", errno);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		say(why, why_cap, "is not a regular file", 0);
		goto out;
	}
	/* One byte more than allowed, to tell "exactly cap" from "larger". */
	buf = rp_alloc(NULL, cap + 1u);
	if (buf == NULL) {
		say(why, why_cap, "out of memory reading the file", 0);
		ret = RP_E_NOMEM;
		goto out;
	}
	while (len < cap + 1u) {
		got = read(fd, buf + len, cap + 1u - len);
		if (got < 0 && errno == EINTR) {
			continue;
		}
		if (got < 0) {
			say(why, why_cap, "cannot read", errno);
			goto out;
		}
		if (got == 0) {
			break;
		}
		len += (size_t)got;
	}
	if (len > cap) {
		(void)snprintf(why, why_cap, "file is larger than %zu bytes", cap);
		goto out;
	}
	*out = buf;
	*out_len = len;
	buf = NULL;
	ret = RP_OK;
out:
	rp_free(NULL, buf);
	(void)close(fd);
	return ret;
}
