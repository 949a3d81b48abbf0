/*
 * server/util/file.h - reading small configuration-like files safely.
 */
#ifndef RP_SERVER_FILE_H
#define RP_SERVER_FILE_H

#include <stddef.h>

#include "rampart/status.h"

/*
 * Reads the whole regular file at `path`, of at most `cap` bytes, into a
 * new buffer (free it with rp_free(NULL, *out)). FIFOs and devices are
 * refused without blocking.
 *
 * Returns RP_OK with *out and *out_len; RP_E_CONFIG (cannot open, stat or
 * read; not a regular file; larger than cap) or RP_E_NOMEM, with the
 * reason written to why[0 .. why_cap): "cannot open: No such file or
 * directory", "is not a regular file", "file is larger than N bytes".
 */
rp_status rp_file_read_bounded(const char *path, size_t cap, char **out, size_t *out_len, char *why,
			       size_t why_cap);

/*
 * Reads a secret file (a key, a passphrase) into the caller's buffer,
 * which the caller wipes: the whole regular file at `path` (not a symbolic
 * link), of at most `cap` bytes, that group and others may not access.
 * Nothing is allocated, so the secret exists in buf alone.
 *
 * Returns RP_OK with *out_len; RP_E_CONFIG with the reason in
 * why[0 .. why_cap) ("cannot open: ...", "is not a regular file", "group
 * or others may access it (mode 644; chmod 600)", "file is larger than N
 * bytes", "cannot read: ..."). On failure buf holds nothing of the file.
 */
rp_status rp_file_read_private(const char *path, void *buf, size_t cap, size_t *out_len, char *why,
			       size_t why_cap);

#endif /* RP_SERVER_FILE_H */
